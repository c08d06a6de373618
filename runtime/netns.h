/* A network namespace with loopback up, made ahead of a sandbox's clone. */
#ifndef SBX_RUNTIME_NETNS_H
#define SBX_RUNTIME_NETNS_H

#include <stdbool.h>

/* For a program that runs one sandbox (sbx run): as root, a thread makes the
 * namespace while the caller starts up; the next run takes it. The namespace
 * belongs to the caller's user namespace, not the sandbox's, so the sandbox's
 * root cannot reconfigure it. rt_netns_prestart_end waits for the thread and
 * closes the namespace if no run took it. */
void rt_netns_prestart(void);
void rt_netns_prestart_end(void);

/* Whether a prestarted namespace is coming (or made and not taken). */
bool rt_netns_pending(void);

/* The prestarted namespace's fd (the caller owns it), or -1 when there is none;
 * waits for the thread. */
int rt_netns_take(void);

/* Brings up lo in the calling thread's network namespace; only system calls, so
 * the sandbox's pid 1 may call it. -1 with errno on failure. */
int rt_netns_loopback_up(void);

#endif
