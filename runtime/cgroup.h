/* cgroups, v1 and v2 behind one interface; the version is detected once. */
#ifndef SBX_RUNTIME_CGROUP_H
#define SBX_RUNTIME_CGROUP_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "error.h"
#include "result.h"
#include "spec.h"

typedef enum rt_cgroup_version {
    RT_CGROUP_NONE,            /* nothing usable: rlimit fallbacks only */
    RT_CGROUP_V1,
    RT_CGROUP_V2,
} rt_cgroup_version;

typedef struct rt_cgroup_info {
    rt_cgroup_version version;
    bool memory, memory_swap, pids, cpu, cpuacct;  /* usable controllers/files */
    bool writable;             /* we can create sandbox groups */
    bool memory_parent_limited; /* v1: the sandboxes' memory parent has a limit of
                                * its own (or it could not be read), seen at
                                * detection: an OOM there scans every sandbox */
    int pool;                  /* v1: memory, cpu and cpuacct groups kept for reuse
                                * (SBX_CGROUP_POOL, default 64); 0: each made and removed */
    char parent[4][512];       /* v1: memory, pids, cpu, cpuacct parents; v2: [0] */
    char reason[256];          /* why a controller or the whole thing is unusable */
} rt_cgroup_info;

/* Detects once per process (thread-safe) and returns the same object after. */
const rt_cgroup_info *rt_cgroup_detect(void);

typedef struct rt_cgroup rt_cgroup;

/* Creates a fresh group for one sandbox and writes its limits. `enforced` says
 * which limits it could apply. Fails when rt_cgroup_detect() says NONE. */
int rt_cgroup_create(const rt_limits *limits, rt_cgroup **out, rt_enforced *enforced,
                     rt_error *err);

/* For a program that runs one sandbox and exits (sbx run): detection, the
 * making of one group's directories and the sweep run on a thread of their
 * own, overlapping the caller's start-up and the sandbox's; the next
 * rt_cgroup_create takes that group. rt_cgroup_prestart_join waits for the
 * thread to end, the group kept for rt_cgroup_create (a caller about to clone
 * ends the thread, whose writes would be copy-on-write faults once the clone
 * shares its memory). rt_cgroup_prestart_end waits for the thread and removes
 * the group if nobody took it. After rt_cgroup_prestart the process keeps no
 * released group for a next sandbox (rt_cgroup_destroy hands it back at once). */
void rt_cgroup_prestart(void);
void rt_cgroup_prestart_join(void);
void rt_cgroup_prestart_end(void);

/* v2: an O_DIRECTORY fd of the group, for clone3(CLONE_INTO_CGROUP); it stays
 * owned by cg (do not close it). -1 on v1. */
int rt_cgroup_dirfd(rt_cgroup *cg);

/* Moves a process into the group (every controller on v1). */
int rt_cgroup_attach(rt_cgroup *cg, pid_t pid, rt_error *err);

/* Total CPU time of the group so far. */
int rt_cgroup_cpu_ns(rt_cgroup *cg, uint64_t *user_ns, uint64_t *sys_ns);

/* Fills cpu, memory peak and pids peak where the host tells; sets *oom when the
 * kernel OOM-killed a process in the group. */
int rt_cgroup_read_usage(rt_cgroup *cg, rt_usage *usage, bool *oom);

/* SIGKILLs every process in the group (cgroup.kill where present). */
void rt_cgroup_kill(rt_cgroup *cg);

/* cgroup v1: a process moves itself into the group by writing "0" to each of
 * these (the group's `tasks` files, opened here with our credentials), and
 * back to the parent group with the second set. Moving oneself takes no global
 * lock; moving another process (rt_cgroup_attach, and every write to
 * cgroup.procs) takes cgroup_threadgroup_rwsem for writing, which waits for an
 * RCU grace period (8 to 16 ms here) unless another move happened just before:
 * most of a lone sandbox's start. Both return how many fds they opened: 0 on
 * v2, where only cgroup.procs moves a process (use rt_cgroup_attach).
 * With but_memory, the memory controller's hierarchy is left out: a process
 * that shares its caller's memory must stay out of the group's memory
 * controller (the OOM killer would take the caller with it); another process
 * joins that one with rt_cgroup_memory_join_fd's fd (1 opened, or 0 when the
 * group has no memory controller of its own). */
#define RT_CGROUP_MAX_FDS 4
int rt_cgroup_self_join_fds(rt_cgroup *cg, bool but_memory, int fds[RT_CGROUP_MAX_FDS],
                            rt_error *err);
int rt_cgroup_self_leave_fds(bool but_memory, int fds[RT_CGROUP_MAX_FDS], rt_error *err);
int rt_cgroup_memory_join_fd(rt_cgroup *cg, int *fd, rt_error *err);

/* Removes the group's directories if it is empty now (its processes left or
 * ended); -1 when one is busy: rt_cgroup_destroy removes what is left. */
int rt_cgroup_try_remove(rt_cgroup *cg);

/* Removes the group (waits briefly for it to empty) and frees cg. */
int rt_cgroup_destroy(rt_cgroup *cg, rt_error *err);

/* Groups given back by rt_cgroup_destroy stay on this process's idle list,
 * their pooled directories open and locked, for its next sandboxes; this
 * closes them, for a program done with sandboxes. */
void rt_cgroup_pool_close(void);

/* Removes leftover groups of processes that no longer exist. */
void rt_cgroup_sweep(void);

#endif
