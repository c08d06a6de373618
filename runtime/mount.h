/* The sandbox's filesystem as data: the parent compiles a spec into an ordered
 * list of operations (all strings prepared, all host paths checked), and the child
 * runs them in one loop with nothing but system calls. */
#ifndef SBX_RUNTIME_MOUNT_H
#define SBX_RUNTIME_MOUNT_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "error.h"
#include "spec.h"

enum mount_op_kind {
    MOP_DIR,                   /* mkdir -p dst */
    MOP_BIND,                  /* bind host path src on dst */
    MOP_SYMLINK,               /* dst -> src */
    MOP_TMPFS,                 /* tmpfs with options `data` */
    MOP_PROC,
    MOP_DEVPTS,
    MOP_FILE,                  /* write src (len bytes) to a new file dst */
    MOP_OWNED_FILE,            /* the same with `mode`, the file and the directories
                                  made for it owned by `owner` */
    MOP_READONLY,              /* make the mount at dst read-only (after its content) */
    MOP_ROOT,                  /* first op only: bind the prepared root src (see
                                  roottpl.h) read-only as the new root, instead
                                  of a tmpfs */
};

#define MOPF_RDONLY  0x1u
#define MOPF_NOSUID  0x2u
#define MOPF_NODEV   0x4u
#define MOPF_NOEXEC  0x8u
#define MOPF_ISFILE  0x10u     /* bind target is a file, not a directory */
#define MOPF_PREPARED 0x20u    /* the mount point is in the prepared root */

struct mount_op {
    enum mount_op_kind kind;
    unsigned flags;
    char *src;
    size_t len;
    char *dst;                 /* relative to the new root, no leading '/' */
    char *data;
    mode_t mode;
    uid_t owner;
};

typedef struct rt_mount_plan {
    struct mount_op *ops;
    size_t n, cap;
    char *cwd;                 /* absolute, inside the sandbox */
    bool host_ids;             /* run by the host's root before the sandbox's user
                                  namespace exists: owners are host ids, and what
                                  the plan makes belongs to RT_HOST_ROOT_UID */
} rt_mount_plan;

/* host_ids: see rt_mount_plan.host_ids; otherwise the plan runs as root of the
 * sandbox's user namespace. */
int rt_mount_plan_build(const rt_spec *spec, bool host_ids, rt_mount_plan *plan, rt_error *err);
void rt_mount_plan_free(rt_mount_plan *plan);

/* Child side: which step failed, on which path, and errno. */
struct mount_failure {
    const char *step;
    const char *path;
    int err;
};

/* Copies the mounts of every bind source as they are now (detached trees)
 * into fds[plan->n] (-1 elsewhere). Either the child, first thing after clone
 * while it still has the caller's access to host paths, in its copy of the
 * caller's namespace, whose propagation it makes private first; or the caller
 * before a clone from the bare namespace (mountns.h), in_caller_ns, which makes
 * each copy private instead. */
int rt_mount_open_sources(const rt_mount_plan *plan, bool in_caller_ns, int *fds,
                          struct mount_failure *fail);

/* Child side: builds the root from the plan (moving in the copies made above,
 * then closing their fds), pivots into it, drops the old
 * root and makes / read-only. Only system calls. With host_ids it works with
 * RT_HOST_ROOT_UID's filesystem ids (and so its file access), back to 0 after. */
int rt_mount_setup_root(const rt_mount_plan *plan, const int *fds, struct mount_failure *fail);

#endif
