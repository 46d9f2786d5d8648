#pragma once
#include <spawn.h>

/// posix_spawn_file_actions_addclosefrom_np (glibc >= 2.34), which Swift's Glibc module does not import:
/// the spawned program starts with only the descriptors below `from`. Returns 0 or an errno value.
int mk_spawn_file_actions_closefrom(posix_spawn_file_actions_t *actions, int from);
