/* The network and user namespaces of a sandbox, made ahead of its clone. */
#ifndef SBX_RUNTIME_NETNS_H
#define SBX_RUNTIME_NETNS_H

#include <stdbool.h>

#include "error.h"

/* For a program that runs one sandbox (sbx run): as root, a thread makes a
 * network namespace with loopback up and a user namespace with the sandbox's
 * id maps (idmap.h) while the caller starts up; the next run takes both. The
 * network namespace belongs to the caller's user namespace, not the sandbox's,
 * so the sandbox's root cannot reconfigure it. rt_netns_prestart_end waits
 * for the thread and closes what no run took. */
void rt_netns_prestart(void);
void rt_netns_prestart_end(void);

/* Whether namespaces were started ahead and not taken yet: made, coming, or
 * failed (a run then fails with the thread's reason, whenever it failed: the
 * clone without them would fail the same way). */
bool rt_netns_pending(void);

/* Waits for the thread and takes the namespaces' fds (the caller owns both);
 * -1 with the reason when there are none or the thread failed. */
int rt_netns_take(int *net, int *user, rt_error *err);

/* Brings up lo in the calling thread's network namespace; only raw system calls
 * (sys.h), so the sandbox's pid 1 may call it. 0, or -errno. */
int rt_netns_loopback_up(void);

#endif
