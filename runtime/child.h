/* The sandbox's pid 1: the setup checklist between clone and exec, then a tiny
 * init that reaps. Raw system calls only (sys.h): the caller may be threaded,
 * and a privileged caller's pid 1 shares its memory and errno (CLONE_VM). */
#ifndef SBX_RUNTIME_CHILD_H
#define SBX_RUNTIME_CHILD_H

#include <stdbool.h>
#include <linux/capability.h>
#include <sys/resource.h>

#include "cgroup.h"
#include "mount.h"

/* Messages from pid 1 to the parent, one write each (< PIPE_BUF). */
enum child_msg_type {
    CHILD_MSG_SETUP_ERROR = 1, /* a step failed; pid 1 exits */
    CHILD_MSG_EXEC_OK,         /* the command is running */
    CHILD_MSG_EXIT,            /* the command ended; wait status in `status` */
    CHILD_MSG_SECCOMP,         /* a kill rule hit: syscall `status` of AUDIT_ARCH `err`;
                                  pid 1 then ends the sandbox */
};

struct child_msg {
    int type;
    int err;
    int status;
    char step[64];
    char path[256];
};

/* Rlimits that stand in for a cgroup limit apply only when the parent says, with
 * the go-ahead byte, that the group could not take it. The byte's high bits
 * count the fds sent with it that move pid 1 into its group (cgroup v1); the
 * rest of them move it back out when the command has ended. With
 * CHILD_GO_COMMAND_JOINS the last of the counted ones is the command's: the
 * memory controller's group, which a pid 1 sharing the caller's memory stays
 * out of (see native.c). */
#define CHILD_FALLBACK_MEMORY 0x1
#define CHILD_FALLBACK_PIDS   0x2
#define CHILD_FALLBACK_MASK   0x07
#define CHILD_GO_COMMAND_JOINS 0x08
#define CHILD_GO_JOIN_SHIFT   4

/* With late_userns the go-ahead's fds end with the network and the user
 * namespace made ahead (netns.h), after the cgroup's. */
#define CHILD_GO_MAX_FDS (2 + 2 * RT_CGROUP_MAX_FDS)

struct child_rlimit {
    int resource;
    struct rlimit value;
    int only_if;               /* 0: always; else CHILD_FALLBACK_* */
};

struct child_args {
    const rt_mount_plan *plan;
    int *src_fds;              /* plan->n slots */
    bool sources_open;         /* src_fds filled by the caller (cloned from the
                                  bare mount namespace, mountns.h) */
    char *const *argv;
    char *const *envp;
    const char *path;          /* PATH to search argv[0] in */
    int sync_fd;               /* with the parent (a stream socket): one byte per
                                  stage, see rt_child_main; the last carries
                                  CHILD_FALLBACK_* bits; a hangup means the
                                  parent is gone */
    int sync_peer_fd;          /* the parent's end, closed first thing: our
                                  copy would hide the parent's death */
    int msg_fd;                /* child -> parent: struct child_msg */
    int stdio[3];
    bool late_userns;          /* cloned in the host's user namespace, without a
                                  network namespace; enters the ones made ahead,
                                  sent with the go-ahead: see rt_child_main */
    bool switch_user;          /* run the command as RT_SANDBOX_UID */
    bool blank_cmdline;        /* our memory is a copy of the caller's: blank
                                  its argument area */
    struct child_rlimit rlimits[8];
    int n_rlimits;
    uint64_t keep_caps;        /* 1 << CAP_* the command keeps; all others go */
    /* capset(2)'s sets, built with libcap by the caller */
    struct __user_cap_data_struct caps_setup[_LINUX_CAPABILITY_U32S_3];
                               /* keep_caps + CAP_SETPCAP in P, E; keep_caps in I */
    struct __user_cap_data_struct caps_final[_LINUX_CAPABILITY_U32S_3];
                               /* keep_caps in P, E, I */
    const void *seccomp;       /* struct sock_fprog installed just before exec, or NULL */
    unsigned seccomp_flags;    /* with SECCOMP_FILTER_FLAG_NEW_LISTENER, pid 1
                                  handles the notifications of kill rules */
    void *stack;               /* prepared: the top of the stack the command's
                                  clone runs on until exec */
};

_Noreturn void rt_child_main(const struct child_args *a);

#endif
