/* A prepared /dev: one directory holding the few device nodes a sandbox gets and
 * its symlinks, made once (as root) and bound read-only into every sandbox. One
 * bind instead of a tmpfs and a bind per node makes setup and teardown cheaper. */
#ifndef SBX_RUNTIME_DEVDIR_H
#define SBX_RUNTIME_DEVDIR_H

#define RT_DEVDIR_PATH "/var/lib/sandboxd/dev"

/* The device nodes (named as under /dev) and the symlinks every /dev gets. */
extern const char *const rt_dev_nodes[];
extern const char *const rt_dev_links[][2];   /* {name, target}, ends with {NULL} */

/* The prepared directory, verified (root-owned, not writable by others, on a
 * filesystem that allows devices, nodes matching the host's), made when missing
 * and we are root; NULL when it cannot be had: callers bind node by node. The
 * answer is computed once per process. */
const char *rt_devdir_get(void);

#endif
