#include "cshims.h"
int mk_placeholder(void) { return 0; }
