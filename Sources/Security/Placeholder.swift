// Capabilities and seccomp.
