#ifndef COEVO_CSPAWN_SHIM_H
#define COEVO_CSPAWN_SHIM_H
#include <spawn.h>

/* A GNU extension of glibc (2.34 and later) that Swift's Glibc module does not show:
 * the child closes every descriptor from `from` up, after the file actions before it. */
extern int posix_spawn_file_actions_addclosefrom_np(posix_spawn_file_actions_t *actions, int from);
#endif
