#include <stdio.h>
int main(void) { puts("minirun-shim: not built yet"); return 1; }
