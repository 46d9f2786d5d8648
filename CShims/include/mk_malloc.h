#pragma once
#include <malloc.h>

/// mallopt(M_ARENA_MAX, n), which Swift's Glibc module does not import: caps how many malloc arenas glibc creates
/// (by default one per allocating thread, up to 8 per core). Returns mallopt's result (1 on success).
static inline int mk_limit_malloc_arenas(int n) { return mallopt(M_ARENA_MAX, n); }
