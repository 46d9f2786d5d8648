// Spawn helpers for the agent (not part of the container init stage).
#define _GNU_SOURCE
#include "mk_spawn.h"

int mk_spawn_file_actions_closefrom(posix_spawn_file_actions_t *actions, int from) {
    return posix_spawn_file_actions_addclosefrom_np(actions, from);
}
