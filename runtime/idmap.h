/* The id maps of a sandbox's user namespace. */
#ifndef SBX_RUNTIME_IDMAP_H
#define SBX_RUNTIME_IDMAP_H

#include <stdbool.h>
#include <sys/types.h>

#include "error.h"

/* Writes the maps of the user namespace process `pid` is in. As root
 * (privileged): ns root -> RT_HOST_ROOT_UID and the sandbox user ->
 * RT_HOST_USER_UID, for uids and gids alike. Otherwise the only id we may map
 * is our own, as ns root, with setgroups denied. */
int rt_idmap_write(pid_t pid, bool privileged, rt_error *err);

#endif
