#pragma once
#include <malloc.h>

/// mallopt(M_ARENA_MAX, n), which Swift's Glibc module does not import: caps how many malloc arenas glibc creates
/// (by default one per allocating thread, up to 8 per core). Returns mallopt's result (1 on success).
static inline int mk_limit_malloc_arenas(int n) { return mallopt(M_ARENA_MAX, n); }

/// malloc_trim(0): returns the free pages of every arena to the kernel (not only the top of the main heap, which glibc
/// trims on its own). Returns 1 if memory was released.
static inline int mk_malloc_trim(void) { return malloc_trim(0); }
