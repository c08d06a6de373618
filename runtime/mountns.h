/* The bare mount namespace that sandboxes' own are copied from.
 *
 * A sandbox's mount namespace starts as a copy of its creator's, and making
 * the copy, making it private and dropping it again after the pivot each take
 * a step per mount, under a lock that every mount in the system shares. A
 * daemon with a tmpfs per live workflow has thousands: 1,000 sandboxes took
 * 1.97 s beside 22 mounts and 9.35 s beside 3,022. A root process that starts
 * many sandboxes from one thread (sandboxd's spawner) makes this namespace
 * once: its root is a read-only tmpfs holding an empty /tmp and a /proc of the
 * caller's pid namespace (the setup names descriptors through /proc/self/fd
 * until its pivot). Each sandbox's bind sources are then opened in the
 * caller's namespace, and its clone is made from inside this one. */
#ifndef SBX_RUNTIME_MOUNTNS_H
#define SBX_RUNTIME_MOUNTNS_H

#include "error.h"

/* Makes the namespace (once per process; as root, not under chroot: leaving
 * it again puts a process at its namespace's root). It forks helpers that
 * build it and try it: call it before SIGCHLD is ignored. */
int rt_mountns_bare_init(rt_error *err);

/* Its descriptor, or -1 when it was not made (or this process cannot enter it). */
int rt_mountns_bare(void);

/* Around a clone: moves the calling process into the bare namespace, then
 * back to its own and its working directory (*cwd, kept by enter). Enter
 * fails (-1, nothing changed) in a process whose threads share its file system
 * context (sbx run's, with its network thread); after a failure of either the
 * namespace is not used again. */
int rt_mountns_enter_bare(int *cwd);
int rt_mountns_leave_bare(int cwd);

#endif
