// Container lifecycle.
