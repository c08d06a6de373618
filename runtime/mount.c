#include "mount.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "cleanup.h"
#include "devdir.h"
#include "roottpl.h"
#include "sys.h"

/* What the host image exposes, all read-only. */
static const char *const host_dirs[] = {"usr", "bin", "sbin", "lib", "lib64", "lib32", "libx32"};
static const char *const host_etc[] = {
    "etc/hosts", "etc/nsswitch.conf", "etc/ld.so.cache", "etc/ld.so.conf",
    "etc/localtime", "etc/alternatives", "etc/ssl/certs", "etc/ssl/openssl.cnf",
};
/* Top-level names of an image that the sandbox provides itself. */
static const char *const image_skip[] = {".", "..", "proc", "dev", "tmp", "workspace", "sys"};

static const char passwd_content[] =
    "root:x:0:0:root:/tmp:/bin/sh\n"
    "sandbox:x:1000:1000:sandbox:/tmp:/bin/sh\n"
    "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n";
static const char group_content[] =
    "root:x:0:\n"
    "sandbox:x:1000:\n"
    "nogroup:x:65534:\n";

static int add_op(rt_mount_plan *plan, enum mount_op_kind kind, unsigned flags, const char *src,
                  size_t len, const char *dst, const char *data, rt_error *err)
{
    if (plan->n == plan->cap) {
        size_t cap = plan->cap ? plan->cap * 2 : 32;
        struct mount_op *ops = realloc(plan->ops, cap * sizeof *ops);
        if (!ops)
            return rt_error_set(err, ENOMEM, "building the mount plan");
        plan->ops = ops;
        plan->cap = cap;
    }
    while (*dst == '/')
        dst++;
    struct mount_op *op = &plan->ops[plan->n];
    *op = (struct mount_op){.kind = kind, .flags = flags, .len = len};
    op->dst = strdup(dst);
    op->src = src ? (len ? malloc(len) : strdup(src)) : NULL;
    op->data = data ? strdup(data) : NULL;
    plan->n++;
    if (!op->dst || (src && !op->src) || (data && !op->data))
        return rt_error_set(err, ENOMEM, "building the mount plan");
    if (len)
        memcpy(op->src, src, len);
    return 0;
}

static int add_dir(rt_mount_plan *plan, const char *dst, rt_error *err)
{
    return add_op(plan, MOP_DIR, 0, NULL, 0, dst, NULL, err);
}

/* Binds host path `host` (absolute) at `dst`; a symlink is recreated as a symlink.
 * A missing optional path is skipped. */
static int add_host_path(rt_mount_plan *plan, const char *host, const char *dst, unsigned flags,
                         bool optional, rt_error *err)
{
    struct stat st;
    if (lstat(host, &st) < 0) {
        if (optional && errno == ENOENT)
            return 0;
        return rt_error_set(err, errno, "mount source \"%s\"", host);
    }
    if (S_ISLNK(st.st_mode)) {
        char target[PATH_MAX];
        ssize_t n = readlink(host, target, sizeof target - 1);
        if (n < 0)
            return rt_error_set(err, errno, "reading link \"%s\"", host);
        target[n] = '\0';
        return add_op(plan, MOP_SYMLINK, 0, target, 0, dst, NULL, err);
    }
    if (!S_ISDIR(st.st_mode))
        flags |= MOPF_ISFILE;
    return add_op(plan, MOP_BIND, flags, host, 0, dst, NULL, err);
}

/* Small regular files are copied into the new root: a write costs far less than a
 * bind mount. Returns 1 when `host` is something else (or missing: skipped). */
static int add_copy(rt_mount_plan *plan, const char *host, const char *dst, rt_error *err)
{
    cleanup_close int fd = open(host, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size > (1 << 20))
        return 1;
    cleanup_free char *data = malloc((size_t)st.st_size + 1);
    if (!data)
        return rt_error_set(err, ENOMEM, "copying \"%s\"", host);
    ssize_t n = read(fd, data, (size_t)st.st_size + 1);
    if (n < 0 || n > st.st_size)
        return 1;
    if (n == 0)
        return add_op(plan, MOP_FILE, 0, "", 0, dst, NULL, err);
    return add_op(plan, MOP_FILE, 0, data, (size_t)n, dst, NULL, err);
}

static int add_host_image(rt_mount_plan *plan, rt_error *err)
{
    const unsigned ro = MOPF_RDONLY | MOPF_NOSUID | MOPF_NODEV;
    char host[64];
    for (size_t i = 0; i < sizeof host_dirs / sizeof *host_dirs; i++) {
        snprintf(host, sizeof host, "/%s", host_dirs[i]);
        if (add_host_path(plan, host, host_dirs[i], ro, true, err) < 0)
            return -1;
    }
    if (add_op(plan, MOP_FILE, 0, passwd_content, sizeof passwd_content - 1, "etc/passwd", NULL,
               err) < 0 ||
        add_op(plan, MOP_FILE, 0, group_content, sizeof group_content - 1, "etc/group", NULL,
               err) < 0)
        return -1;
    for (size_t i = 0; i < sizeof host_etc / sizeof *host_etc; i++) {
        snprintf(host, sizeof host, "/%s", host_etc[i]);
        int rc = add_copy(plan, host, host_etc[i], err);
        if (rc == 0)
            continue;
        if (rc < 0 || add_host_path(plan, host, host_etc[i], ro, true, err) < 0)
            return -1;
    }
    return 0;
}

static bool skipped_in_image(const char *name)
{
    for (size_t i = 0; i < sizeof image_skip / sizeof *image_skip; i++)
        if (strcmp(name, image_skip[i]) == 0)
            return true;
    return false;
}

/* realpath that follows only symlinks owned by root or by us: a sandbox can leave
 * symlinks in its workspace (owned by its host uid), and a later run's bind of a
 * path through them must not reach wherever they point on the host. The result
 * holds no symlink, so the child opens it with RESOLVE_NO_SYMLINKS and a link
 * swapped in meanwhile makes the open fail instead of being followed. */
static int resolve_trusted(const char *path, char out[PATH_MAX], const char *what,
                           rt_error *err)
{
    char todo[2 * PATH_MAX], link[PATH_MAX];
    size_t len = 0;
    int hops = 0;
    if (!*path)
        return rt_error_set(err, ENOENT, "%s \"\"", what);
    if (path[0] == '/') {
        out[0] = '\0';
    } else if (!getcwd(out, PATH_MAX)) {
        return rt_error_set(err, errno, "%s \"%s\": the working directory", what, path);
    }
    len = strlen(out);
    if (len == 1)
        len = out[0] = 0;      /* "/" is the empty prefix */
    if (snprintf(todo, sizeof todo, "%s", path) >= (int)sizeof todo)
        return rt_error_set(err, ENAMETOOLONG, "%s \"%s\"", what, path);
    char *rest = todo;
    while (*rest) {
        while (*rest == '/')
            rest++;
        if (!*rest)
            break;
        char *end = strchr(rest, '/');
        size_t n = end ? (size_t)(end - rest) : strlen(rest);
        if (n == 1 && rest[0] == '.') {
            rest += n;
            continue;
        }
        if (n == 2 && rest[0] == '.' && rest[1] == '.') {
            while (len && out[len - 1] != '/')
                len--;
            if (len)
                len--;
            out[len] = '\0';
            rest += n;
            continue;
        }
        if (len + 1 + n >= PATH_MAX)
            return rt_error_set(err, ENAMETOOLONG, "%s \"%s\"", what, path);
        out[len] = '/';
        memcpy(out + len + 1, rest, n);
        out[len + 1 + n] = '\0';
        rest += n;
        struct stat st;
        if (lstat(out, &st) < 0)
            return rt_error_set(err, errno, "%s \"%s\"", what, path);
        if (!S_ISLNK(st.st_mode)) {
            len += 1 + n;
            continue;
        }
        if (st.st_uid != 0 && st.st_uid != geteuid())
            return rt_error_set(err, EPERM, "%s \"%s\": %s is a symlink owned by uid %u; only "
                                "root's and the caller's symlinks are followed", what, path,
                                out, (unsigned)st.st_uid);
        ssize_t l = readlink(out, link, sizeof link - 1);
        if (l < 0)
            return rt_error_set(err, errno, "%s \"%s\"", what, path);
        if (++hops > 40)
            return rt_error_set(err, ELOOP, "%s \"%s\"", what, path);
        link[l] = '\0';
        /* the link's target, then what was left of the path */
        char next[sizeof todo];
        if (snprintf(next, sizeof next, "%s/%s", link, rest) >= (int)sizeof next)
            return rt_error_set(err, ENAMETOOLONG, "%s \"%s\"", what, path);
        memcpy(todo, next, strlen(next) + 1);
        rest = todo;
        if (link[0] == '/')
            len = 0;
        out[len] = '\0';
    }
    if (!len)
        memcpy(out, "/", 2);
    return 0;
}

/* An image directory: each top-level entry bound read-only on a fresh root, so the
 * sandbox can still add its own /proc, /dev, /tmp and /workspace. */
static int add_dir_image(rt_mount_plan *plan, const char *image, rt_error *err)
{
    char root[PATH_MAX];
    if (resolve_trusted(image, root, "image", err) < 0)
        return -1;
    cleanup_dir DIR *d = opendir(root);
    if (!d)
        return rt_error_set(err, errno, "image \"%s\"", root);
    struct dirent *de;
    while ((errno = 0, de = readdir(d))) {
        if (skipped_in_image(de->d_name))
            continue;
        char host[PATH_MAX];
        if ((size_t)snprintf(host, sizeof host, "%s/%s", root, de->d_name) >= sizeof host)
            return rt_error_set(err, ENAMETOOLONG, "image entry \"%s\"", de->d_name);
        if (add_host_path(plan, host, de->d_name, MOPF_RDONLY | MOPF_NOSUID | MOPF_NODEV, false,
                          err) < 0)
            return -1;
    }
    if (errno)
        return rt_error_set(err, errno, "reading image \"%s\"", root);
    return 0;
}

static int add_dev_nodes(rt_mount_plan *plan, rt_error *err);

/* /dev: the prepared directory in one read-only bind (devices allowed), or a
 * small tmpfs with a bind per node; then a private devpts. /dev/shm is /tmp. */
static int add_dev(rt_mount_plan *plan, rt_error *err)
{
    const char *prepared = rt_devdir_get();
    if (add_dir(plan, "dev", err) < 0)
        return -1;
    if (prepared) {
        if (add_op(plan, MOP_BIND, MOPF_RDONLY | MOPF_NOSUID | MOPF_NOEXEC, prepared, 0, "dev",
                   NULL, err) < 0)
            return -1;
    } else if (add_dev_nodes(plan, err) < 0) {
        return -1;
    }
    return add_op(plan, MOP_DEVPTS, MOPF_NOSUID | MOPF_NOEXEC, NULL, 0, "dev/pts", NULL, err);
}

static int add_dev_nodes(rt_mount_plan *plan, rt_error *err)
{
    if (add_op(plan, MOP_TMPFS, MOPF_NOSUID | MOPF_NOEXEC, NULL, 0, "dev", "size=64k,mode=0755",
               err) < 0)
        return -1;
    for (size_t i = 0; rt_dev_nodes[i]; i++) {
        char host[32], dst[32];
        snprintf(host, sizeof host, "/dev/%s", rt_dev_nodes[i]);
        snprintf(dst, sizeof dst, "dev/%s", rt_dev_nodes[i]);
        if (add_host_path(plan, host, dst, MOPF_NOSUID | MOPF_NOEXEC, false, err) < 0)
            return -1;
    }
    for (size_t i = 0; rt_dev_links[i][0]; i++) {
        char dst[32];
        snprintf(dst, sizeof dst, "dev/%s", rt_dev_links[i][0]);
        if (add_op(plan, MOP_SYMLINK, 0, rt_dev_links[i][1], 0, dst, NULL, err) < 0)
            return -1;
    }
    if (add_dir(plan, "dev/pts", err) < 0)
        return -1;
    return add_op(plan, MOP_READONLY, 0, NULL, 0, "dev", NULL, err);
}

static int add_bind(rt_mount_plan *plan, const char *src, const char *dst, unsigned flags,
                    rt_error *err)
{
    char real[PATH_MAX];
    if (resolve_trusted(src, real, "mount source", err) < 0)
        return -1;
    struct stat st;
    if (stat(real, &st) < 0)
        return rt_error_set(err, errno, "mount source \"%s\"", real);
    if (S_ISDIR(st.st_mode) && add_dir(plan, dst, err) < 0)
        return -1;
    return add_host_path(plan, real, dst, flags, false, err);
}

static int add_tmpfs(rt_mount_plan *plan, const char *dst, uint64_t size, rt_error *err)
{
    char opts[64];
    snprintf(opts, sizeof opts, "size=%llu,mode=1777", (unsigned long long)size);
    if (add_dir(plan, dst, err) < 0)
        return -1;
    return add_op(plan, MOP_TMPFS, MOPF_NOSUID | MOPF_NODEV, NULL, 0, dst, opts, err);
}

/* The id the command runs as: native.c switches to the sandbox user only when we
 * are root; otherwise ns root is the one id mapped, and so the one that can own.
 * A plan run by the host's root names it by its host id. */
static uid_t sandbox_owner(const rt_mount_plan *plan)
{
    if (plan->host_ids)
        return RT_HOST_USER_UID;
    return geteuid() == 0 ? RT_SANDBOX_UID : 0;
}

static int add_owned_file(rt_mount_plan *plan, const rt_file *f, uid_t owner, rt_error *err)
{
    char dst[sizeof "workspace/" + RT_MAX_FILE_PATH], label[RT_FILE_LABEL_MAX];
    if ((size_t)snprintf(dst, sizeof dst, "workspace/%s", f->path) >= sizeof dst)
        return rt_error_set(err, ENAMETOOLONG, "%s", rt_file_label(f->path, label, sizeof label));
    if (add_op(plan, MOP_OWNED_FILE, 0, f->len ? f->data : "", f->len, dst, NULL, err) < 0)
        return -1;
    plan->ops[plan->n - 1].mode = f->executable ? 0755 : 0644;
    plan->ops[plan->n - 1].owner = owner;
    return 0;
}

/* A fresh tmpfs of the sandbox user (its uid= is read in the user namespace of
 * pid 1, which mounts it), then the spec's files. Programs may run from it. */
static int add_workspace_tmpfs(rt_mount_plan *plan, const rt_spec *spec, rt_error *err)
{
    uid_t owner = sandbox_owner(plan);
    char opts[96];
    snprintf(opts, sizeof opts, "size=%llu,mode=0755,uid=%u,gid=%u",
             (unsigned long long)spec->limits.tmpfs_bytes, (unsigned)owner, (unsigned)owner);
    if (add_dir(plan, "workspace", err) < 0 ||
        add_op(plan, MOP_TMPFS, MOPF_NOSUID | MOPF_NODEV, NULL, 0, "workspace", opts, err) < 0)
        return -1;
    for (size_t i = 0; i < spec->n_files; i++)
        if (add_owned_file(plan, &spec->files[i], owner, err) < 0)
            return -1;
    return 0;
}

static int add_user_mounts(rt_mount_plan *plan, const rt_spec *spec, rt_error *err)
{
    for (size_t i = 0; i < spec->n_mounts; i++) {
        const rt_mount *m = &spec->mounts[i];
        int rc;
        if (m->kind == RT_MOUNT_TMPFS)
            rc = add_tmpfs(plan, m->dst, m->size_bytes ? m->size_bytes : spec->limits.tmpfs_bytes,
                           err);
        else
            rc = add_bind(plan, m->src, m->dst,
                          MOPF_NOSUID | MOPF_NODEV | (m->kind == RT_MOUNT_RO_BIND ? MOPF_RDONLY : 0),
                          err);
        if (rc < 0)
            return rt_error_wrap(err, "mounts[%zu]", i);
    }
    return 0;
}

static bool is_mount(enum mount_op_kind kind)
{
    return kind == MOP_BIND || kind == MOP_TMPFS || kind == MOP_PROC || kind == MOP_DEVPTS;
}

/* Whether op i lands inside a mount that an earlier op makes. */
static bool under_mount(const rt_mount_plan *plan, size_t i)
{
    const char *dst = plan->ops[i].dst;
    for (size_t j = 0; j < i; j++) {
        size_t len = strlen(plan->ops[j].dst);
        if (is_mount(plan->ops[j].kind) && strncmp(dst, plan->ops[j].dst, len) == 0 &&
            dst[len] == '/')
            return true;
    }
    return false;
}

/* What the prepared root holds for op i, if anything; false when the op needs
 * a writable root (the plan then keeps its tmpfs). */
static bool template_entry(const struct mount_op *op, struct rt_tpl_entry *e, bool *absorbed)
{
    *absorbed = op->kind == MOP_DIR || op->kind == MOP_SYMLINK || op->kind == MOP_FILE;
    switch (op->kind) {
    case MOP_DIR:
        *e = (struct rt_tpl_entry){RT_TPL_DIR, op->dst, NULL, 0};
        return true;
    case MOP_SYMLINK:
        *e = (struct rt_tpl_entry){RT_TPL_SYMLINK, op->dst, op->src, 0};
        return true;
    case MOP_FILE:
        *e = (struct rt_tpl_entry){RT_TPL_FILE, op->dst, op->src, op->len};
        return true;
    case MOP_BIND:
        if (op->flags & MOPF_ISFILE)
            *e = (struct rt_tpl_entry){RT_TPL_FILE, op->dst, "", 0};
        else
            *e = (struct rt_tpl_entry){RT_TPL_DIR, op->dst, NULL, 0};
        return true;
    case MOP_TMPFS: case MOP_PROC: case MOP_DEVPTS: case MOP_READONLY:
        *e = (struct rt_tpl_entry){RT_TPL_DIR, op->dst, NULL, 0};
        return true;
    case MOP_OWNED_FILE: case MOP_ROOT:
        break;
    }
    return false;
}

/* The part of the tree outside the plan's mounts goes to a prepared root (see
 * roottpl.h): the plan then starts with MOP_ROOT and keeps only its mounts and
 * what lands inside them. Nothing changes when there is no template to be had. */
static int use_template(rt_mount_plan *plan, rt_error *err)
{
    struct rt_tpl_entry *entries = calloc(plan->n ? plan->n : 1, sizeof *entries);
    bool *absorbed = calloc(plan->n ? plan->n : 1, sizeof *absorbed);
    size_t n = 0;
    char path[sizeof RT_ROOTTPL_PARENT + 64];
    int rc = -1;
    if (!entries || !absorbed) {
        rt_error_set(err, ENOMEM, "building the mount plan");
        goto out;
    }
    for (size_t i = 0; i < plan->n; i++) {
        if (under_mount(plan, i))
            continue;
        if (!template_entry(&plan->ops[i], &entries[n++], &absorbed[i])) {
            rc = 0;
            goto out;
        }
    }
    if (rt_root_template(entries, n, path, sizeof path) < 0) {
        rc = 0;
        goto out;
    }
    if (add_op(plan, MOP_ROOT, 0, path, 0, "", NULL, err) < 0)
        goto out;
    struct mount_op root = plan->ops[--plan->n];
    for (size_t i = 0; i < plan->n; i++)
        if (plan->ops[i].kind == MOP_BIND && !under_mount(plan, i))
            plan->ops[i].flags |= MOPF_PREPARED;
    size_t kept = 0;
    for (size_t i = 0; i < plan->n; i++) {
        struct mount_op *op = &plan->ops[i];
        if (absorbed[i]) {
            free(op->src);
            free(op->dst);
            free(op->data);
            continue;
        }
        plan->ops[kept++] = *op;
    }
    memmove(plan->ops + 1, plan->ops, kept * sizeof *plan->ops);
    plan->ops[0] = root;
    plan->n = kept + 1;
    rc = 0;
out:
    free(entries);
    free(absorbed);
    return rc;
}

int rt_mount_plan_build(const rt_spec *spec, bool host_ids, rt_mount_plan *plan, rt_error *err)
{
    *plan = (rt_mount_plan){.host_ids = host_ids};
    bool host = !spec->image || strcmp(spec->image, "host") == 0;
    if ((host ? add_host_image(plan, err) : add_dir_image(plan, spec->image, err)) < 0)
        goto fail;
    if (add_dir(plan, "proc", err) < 0 ||
        add_op(plan, MOP_PROC, MOPF_NOSUID | MOPF_NODEV | MOPF_NOEXEC, NULL, 0, "proc", NULL,
               err) < 0 ||
        add_dev(plan, err) < 0 ||
        add_tmpfs(plan, "tmp", spec->limits.tmpfs_bytes, err) < 0)
        goto fail;
    bool ws_tmpfs = spec->workspace_tmpfs || spec->n_files;
    if (spec->workspace &&
        add_bind(plan, spec->workspace, "workspace", MOPF_NOSUID | MOPF_NODEV, err) < 0) {
        rt_error_wrap(err, "workspace");
        goto fail;
    }
    if (ws_tmpfs && add_workspace_tmpfs(plan, spec, err) < 0)
        goto fail;
    if (add_user_mounts(plan, spec, err) < 0)
        goto fail;
    /* As root, for the host image alone: a sandbox that keeps capabilities
     * could remount a bound root writable, and a template is shared. */
    if (host && (!spec->n_mounts || spec->fixed_mounts) && !spec->keep_caps && geteuid() == 0 &&
        use_template(plan, err) < 0)
        goto fail;
    const char *cwd = spec->cwd ? spec->cwd : spec->workspace || ws_tmpfs ? "/workspace" : "/";
    plan->cwd = strdup(cwd);
    if (!plan->cwd) {
        rt_error_set(err, ENOMEM, "building the mount plan");
        goto fail;
    }
    return 0;
fail:
    rt_mount_plan_free(plan);
    return -1;
}

void rt_mount_plan_free(rt_mount_plan *plan)
{
    for (size_t i = 0; i < plan->n; i++) {
        free(plan->ops[i].src);
        free(plan->ops[i].dst);
        free(plan->ops[i].data);
    }
    free(plan->ops);
    free(plan->cwd);
    *plan = (rt_mount_plan){0};
}

/* ---- child side: system calls only from here on ----
 *
 * Raw ones (sys.h), which return -errno and leave errno alone: pid 1 may share
 * the caller's memory and errno. Each function here returns a result or
 * -errno, and keeps nothing in static storage: pid 1s of concurrent sandboxes
 * would share it. */

static int fail_at(struct mount_failure *fail, const char *step, const char *path, long err)
{
    fail->step = step;
    fail->path = path;
    fail->err = (int)-err;
    return -1;
}

/* setfsuid reports no error: the id it answers to an invalid one is the id set. */
static long set_fs_ids(uid_t id)
{
    rt_sys(SYS_setfsgid, id);
    rt_sys(SYS_setfsuid, id);
    if (rt_sys(SYS_setfsgid, -1) != (long)id || rt_sys(SYS_setfsuid, -1) != (long)id)
        return -EPERM;
    return 0;
}

/* The root being built, while it is: every path of the plan is resolved in it
 * as the sandbox will see it (RESOLVE_IN_ROOT), so that a symlink on the way
 * (one a sandbox left in a workspace, say) cannot lead a mount or a new file
 * out to the host's tree, which is still our root until pivot_root. */
struct build {
    int stage_fd;
    /* Set while the root is built with the sandbox root's host ids (late user
     * namespace): those ids carry no capability, where the sandbox's root,
     * building it in its own user namespace, could override the permissions
     * of directories of the sandbox's ids (CAP_DAC_OVERRIDE over them). */
    bool as_host;
};

static long open_in_root(const struct build *b, const char *path, int flags)
{
    struct open_how how = {.flags = (uint64_t)(flags | O_CLOEXEC),
                           .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS};
    return rt_sys(SYS_openat2, b->stage_fd, *path ? path : ".", &how, sizeof how);
}

/* The directory that holds path's last component (O_PATH), and that name. */
static long open_parent_in_root(const struct build *b, const char *path, const char **name)
{
    const char *slash = strrchr(path, '/');
    char buf[PATH_MAX];
    size_t n = slash ? (size_t)(slash - path) : 0;
    if (n >= sizeof buf)
        return -ENAMETOOLONG;
    memcpy(buf, path, n);
    buf[n] = '\0';
    *name = slash ? slash + 1 : path;
    return open_in_root(b, buf, O_PATH | O_DIRECTORY);
}

/* mount(2) takes a path: the fd's own, through /proc (the host's, or the bare
 * namespace's, until pivot). */
static const char *fd_path(int fd, char buf[32])
{
    static const char prefix[] = "/proc/self/fd/";
    char digits[12];
    int n = 0;
    unsigned v = (unsigned)fd;
    do
        digits[n++] = (char)('0' + v % 10);
    while ((v /= 10) && n < (int)sizeof digits);
    memcpy(buf, prefix, sizeof prefix - 1);
    for (int i = 0; i < n; i++)
        buf[sizeof prefix - 1 + (size_t)i] = digits[n - 1 - i];
    buf[sizeof prefix - 1 + (size_t)n] = '\0';
    return buf;
}

static bool sandbox_ids(const struct stat *st)
{
    bool uid = st->st_uid == RT_HOST_ROOT_UID || st->st_uid == RT_HOST_USER_UID;
    bool gid = st->st_gid == RT_HOST_ROOT_UID || st->st_gid == RT_HOST_USER_UID;
    return uid && gid;
}

/* After EACCES with the sandbox root's host ids: what the sandbox's root may do
 * in a directory of the sandbox's ids (a bound workspace), done as the host's
 * root in directory pfd (resolved in the root being built, and checked), and
 * the new entry given to the sandbox's root through its own fd, which is
 * returned (a file's open for writing). */
static long create_in_sandbox_dir(const struct build *b, int pfd, const char *name, bool dir,
                                  mode_t mode)
{
    struct stat st;
    long rc = rt_sys(SYS_fstat, pfd, &st);
    if (rc < 0)
        return rc;
    if (!b->as_host || !sandbox_ids(&st))
        return -EACCES;
    uid_t was = (uid_t)rt_sys(SYS_setfsuid, -1);
    if ((rc = set_fs_ids(0)) < 0)
        return rc;
    long fd;
    if (!dir)
        fd = rt_sys(SYS_openat, pfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                    mode);
    else if ((fd = rt_sys(SYS_mkdirat, pfd, name, mode)) == 0)
        fd = rt_sys(SYS_openat, pfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd >= 0 && (rc = rt_sys(SYS_fchown, fd, RT_HOST_ROOT_UID, RT_HOST_ROOT_UID)) < 0) {
        rt_sys(SYS_close, fd);
        fd = rc;
    }
    if ((rc = set_fs_ids(was)) < 0) {
        if (fd >= 0)
            rt_sys(SYS_close, fd);
        return rc;
    }
    return fd;
}

/* mkdir -p in the root being built. */
static long make_dirs(const struct build *b, const char *path, mode_t mode)
{
    char buf[PATH_MAX];
    size_t n = strlen(path);
    if (n >= sizeof buf)
        return -ENAMETOOLONG;
    memcpy(buf, path, n + 1);
    for (char *p = buf + 1; ; p++) {
        if (*p != '/' && *p != '\0')
            continue;
        char c = *p;
        *p = '\0';
        const char *name;
        cleanup_sys_close int pfd = (int)open_parent_in_root(b, buf, &name);
        if (pfd < 0)
            return pfd;
        long rc = rt_sys(SYS_mkdirat, pfd, name, mode);
        if (rc == -EACCES)
            rc = create_in_sandbox_dir(b, pfd, name, true, mode);
        if (rc < 0 && rc != -EEXIST)
            return rc;
        if (rc > 0)
            rt_sys(SYS_close, rc);
        if (!c)
            return 0;
        *p = c;
    }
}

static long make_parent_dirs(const struct build *b, const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash)
        return 0;
    char buf[PATH_MAX];
    size_t n = (size_t)(slash - path);
    if (n >= sizeof buf)
        return -ENAMETOOLONG;
    memcpy(buf, path, n);
    buf[n] = '\0';
    return make_dirs(b, buf, 0755);
}

/* Creates path's last component as a file (for the plan's files and file mount
 * points) in the root being built; an fd to write. */
static long create_in_root(const struct build *b, const char *path, int flags, mode_t mode)
{
    const char *name;
    long rc = make_parent_dirs(b, path);
    if (rc < 0)
        return rc;
    cleanup_sys_close int pfd = (int)open_parent_in_root(b, path, &name);
    if (pfd < 0)
        return pfd;
    long fd = rt_sys(SYS_openat, pfd, name, flags | O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC,
                     mode);
    return fd == -EACCES ? create_in_sandbox_dir(b, pfd, name, false, mode) : fd;
}

static unsigned long attr_bits(unsigned flags)
{
    return (flags & MOPF_RDONLY ? MOUNT_ATTR_RDONLY : 0) |
           (flags & MOPF_NOSUID ? MOUNT_ATTR_NOSUID : 0) |
           (flags & MOPF_NODEV ? MOUNT_ATTR_NODEV : 0) |
           (flags & MOPF_NOEXEC ? MOUNT_ATTR_NOEXEC : 0);
}

static unsigned long ms_flags(unsigned flags)
{
    return (flags & MOPF_NOSUID ? MS_NOSUID : 0) | (flags & MOPF_NODEV ? MS_NODEV : 0) |
           (flags & MOPF_NOEXEC ? MS_NOEXEC : 0);
}

/* mount_setattr(2) on fd itself (path ""), or on path from dfd. */
static long set_attrs(int dfd, const char *path, unsigned at_flags, const struct mount_attr *attr)
{
    return rt_sys(SYS_mount_setattr, dfd, path, (*path ? 0 : AT_EMPTY_PATH) | at_flags, attr,
                  sizeof *attr);
}

static long move_tree(int from, int to_dfd, const char *to, unsigned flags)
{
    return rt_sys(SYS_move_mount, from, "", to_dfd, to, MOVE_MOUNT_F_EMPTY_PATH | flags);
}

static int apply_bind(const struct build *b, const struct mount_op *op, int tree,
                      struct mount_failure *fail)
{
    long rc = 0;
    if (op->flags & MOPF_PREPARED) {
        /* the read-only prepared root has the mount point */
    } else if (op->flags & MOPF_ISFILE) {
        if ((rc = create_in_root(b, op->dst, 0, 0444)) >= 0)
            rt_sys(SYS_close, rc);
    } else {
        rc = make_dirs(b, op->dst, 0755);
    }
    if (rc < 0)
        return fail_at(fail, "creating the mount point", op->dst, rc);
    struct mount_attr attr = {.attr_set = attr_bits(op->flags)};
    if (attr.attr_set && (rc = set_attrs(tree, "", AT_RECURSIVE, &attr)) < 0)
        return fail_at(fail, "setting mount flags", op->dst, rc);
    cleanup_sys_close int target = (int)open_in_root(b, op->dst, O_PATH);
    if (target < 0)
        return fail_at(fail, "bind mount", op->dst, target);
    if ((rc = move_tree(tree, target, "", MOVE_MOUNT_T_EMPTY_PATH)) < 0)
        return fail_at(fail, "bind mount", op->dst, rc);
    return 0;
}

/* A new file system instance on op->dst, resolved in the root being built. */
static int mount_new(const struct build *b, const struct mount_op *op, const char *type,
                     const char *data, const char *step, struct mount_failure *fail)
{
    char path[32];
    cleanup_sys_close int target = (int)open_in_root(b, op->dst, O_PATH | O_DIRECTORY);
    long rc = target;
    if (target < 0 || (rc = rt_sys(SYS_mount, type, fd_path(target, path), type,
                                   ms_flags(op->flags), data)) < 0)
        return fail_at(fail, step, op->dst, rc);
    return 0;
}

/* The prepared root, read-only from the start: it is shared by every sandbox. */
static int bind_root(const struct mount_op *op, int tree, const char *staging,
                     struct mount_failure *fail)
{
    struct mount_attr attr = {.attr_set = attr_bits(MOPF_RDONLY | MOPF_NOSUID | MOPF_NODEV)};
    long rc = set_attrs(tree, "", 0, &attr);
    if (rc < 0)
        return fail_at(fail, "setting mount flags", op->src, rc);
    if ((rc = move_tree(tree, AT_FDCWD, staging, 0)) < 0)
        return fail_at(fail, "bind mount", staging, rc);
    return 0;
}

/* Every byte, so that a full file system shows as ENOSPC. Closes fd. */
static long write_all(int fd, const char *data, size_t len)
{
    for (size_t off = 0; off < len;) {
        long n = rt_sys(SYS_write, fd, data + off, len - off);
        if (n == -EINTR)
            continue;
        if (n <= 0) {
            rt_sys(SYS_close, fd);
            return n == 0 ? -EIO : n;
        }
        off += (size_t)n;
    }
    return rt_sys(SYS_close, fd);
}

static long write_file(const struct build *b, const struct mount_op *op)
{
    long fd = create_in_root(b, op->dst, O_EXCL, 0644);
    return fd < 0 ? fd : write_all((int)fd, op->src, op->len);
}

/* Opens directory `name` of dfd, made first (owned by `owner`) when missing;
 * O_NOFOLLOW, so that nothing but a real directory is entered. Closes dfd. */
static long enter_dir(int dfd, const char *name, uid_t owner)
{
    long made = rt_sys(SYS_mkdirat, dfd, name, 0755);
    long fd = made == 0 || made == -EEXIST
                  ? rt_sys(SYS_openat, dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
                  : made;
    rt_sys(SYS_close, dfd);
    long rc;
    if (fd >= 0 && made == 0 && (rc = rt_sys(SYS_fchown, fd, owner, owner)) < 0) {
        rt_sys(SYS_close, fd);
        return rc;
    }
    return fd;
}

/* Walks op->dst from the current directory one component at a time: an fd of
 * the file's directory, and *name points at the file's own name. */
static long open_owned_parent(const struct mount_op *op, const char **name)
{
    long dfd = rt_sys(SYS_openat, AT_FDCWD, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    const char *p = op->dst;
    for (const char *slash; dfd >= 0 && (slash = strchr(p, '/')); p = slash + 1) {
        char comp[NAME_MAX + 1];
        size_t n = (size_t)(slash - p);
        if (n > NAME_MAX) {
            rt_sys(SYS_close, dfd);
            return -ENAMETOOLONG;
        }
        memcpy(comp, p, n);
        comp[n] = '\0';
        dfd = enter_dir((int)dfd, comp, op->owner);
    }
    *name = p;
    return dfd;
}

static long write_owned_file(const struct mount_op *op)
{
    const char *name;
    long dfd = open_owned_parent(op, &name);
    if (dfd < 0)
        return dfd;
    long fd = rt_sys(SYS_openat, dfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                     op->mode);
    rt_sys(SYS_close, dfd);
    if (fd < 0)
        return fd;
    long rc = rt_sys(SYS_fchown, fd, op->owner, op->owner);
    if (rc < 0) {
        rt_sys(SYS_close, fd);
        return rc;
    }
    return write_all((int)fd, op->src, op->len);
}

static int apply_op(const struct build *b, const struct mount_op *op, int src_fd,
                    struct mount_failure *fail)
{
    long rc;
    switch (op->kind) {
    case MOP_DIR:
        rc = make_dirs(b, op->dst, 0755);
        return rc < 0 ? fail_at(fail, "creating directory", op->dst, rc) : 0;
    case MOP_BIND:
        return apply_bind(b, op, src_fd, fail);
    case MOP_SYMLINK: {
        const char *name;
        cleanup_sys_close int pfd = -1;
        if ((rc = make_parent_dirs(b, op->dst)) >= 0 &&
            (rc = pfd = (int)open_parent_in_root(b, op->dst, &name)) >= 0)
            rc = rt_sys(SYS_symlinkat, op->src, pfd, name);
        return rc < 0 ? fail_at(fail, "creating symlink", op->dst, rc) : 0;
    }
    case MOP_TMPFS:
        return mount_new(b, op, "tmpfs", op->data, "mounting tmpfs", fail);
    case MOP_PROC:
        /* pid 1 (not dumpable: its memory is ours, or a copy) is not even
         * listed: not its cmdline, which anyone who sees it may read */
        return mount_new(b, op, "proc", "hidepid=invisible", "mounting proc", fail);
    case MOP_DEVPTS:
        return mount_new(b, op, "devpts", "newinstance,ptmxmode=0666,mode=0620",
                         "mounting devpts", fail);
    case MOP_FILE:
        rc = write_file(b, op);
        return rc < 0 ? fail_at(fail, "writing file", op->dst, rc) : 0;
    case MOP_OWNED_FILE:
        rc = write_owned_file(op);
        return rc < 0 ? fail_at(fail, "writing file", op->dst, rc) : 0;
    case MOP_READONLY: {
        struct mount_attr attr = {.attr_set = attr_bits(MOPF_RDONLY)};
        cleanup_sys_close int target = (int)open_in_root(b, op->dst, O_PATH);
        if ((rc = target) < 0 || (rc = set_attrs(target, "", 0, &attr)) < 0)
            return fail_at(fail, "remounting read-only", op->dst, rc);
        return 0;
    }
    case MOP_ROOT:
        break;
    }
    return fail_at(fail, "unknown mount operation", op->dst, -EINVAL);
}

/* A copy of the source's mounts as they are now, detached: the staging root
 * mounted later on /tmp is not part of it even when the source is /tmp or /. */
static long clone_source(const struct mount_op *op)
{
    struct open_how how = {.flags = O_PATH | O_CLOEXEC, .resolve = RESOLVE_NO_SYMLINKS};
    long fd = rt_sys(SYS_openat2, AT_FDCWD, op->src, &how, sizeof how);
    if (fd < 0)
        return fd;
    long tree = rt_sys(SYS_open_tree, fd, "", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_EMPTY_PATH |
                                                   (op->kind == MOP_BIND ? AT_RECURSIVE : 0));
    rt_sys(SYS_close, fd);
    return tree;
}

int rt_mount_open_sources(const rt_mount_plan *plan, bool in_caller_ns, int *fds,
                          struct mount_failure *fail)
{
    for (size_t i = 0; i < plan->n; i++)
        fds[i] = -1;
    /* before the copies: a copy of a shared mount would be its peer */
    long rc;
    if (!in_caller_ns && (rc = rt_sys(SYS_mount, NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL)) < 0)
        return fail_at(fail, "making mount propagation private", "/", rc);
    for (size_t i = 0; i < plan->n; i++) {
        const struct mount_op *op = &plan->ops[i];
        if (op->kind != MOP_BIND && op->kind != MOP_ROOT)
            continue;
        if ((rc = clone_source(op)) < 0)
            return fail_at(fail, "opening mount source", op->src, rc);
        fds[i] = (int)rc;
        /* A copy made in the caller's namespace is a peer of a shared source:
         * a mount the plan makes inside it would show up on the host. */
        struct mount_attr attr = {.propagation = MS_PRIVATE};
        if (in_caller_ns &&
            (rc = set_attrs(fds[i], "", op->kind == MOP_BIND ? AT_RECURSIVE : 0, &attr)) < 0)
            return fail_at(fail, "making mount propagation private", op->src, rc);
    }
    return 0;
}

/* The new root is a tmpfs over /tmp (host paths are reached through the copies
 * made before, so covering /tmp hides nothing we need); pivot_root(".", ".") stacks the
 * old root on top of it, and a lazy unmount drops it. */
static int enter_root(const char *staging, struct mount_failure *fail)
{
    struct mount_attr attr = {.attr_set = attr_bits(MOPF_RDONLY | MOPF_NOSUID | MOPF_NODEV)};
    long rc;
    if ((rc = rt_sys(SYS_chdir, staging)) < 0)
        return fail_at(fail, "entering the new root", staging, rc);
    if ((rc = rt_sys(SYS_pivot_root, ".", ".")) < 0)
        return fail_at(fail, "pivot_root", staging, rc);
    if ((rc = rt_sys(SYS_umount2, ".", MNT_DETACH)) < 0)
        return fail_at(fail, "detaching the old root", "/", rc);
    if ((rc = rt_sys(SYS_chdir, "/")) < 0)
        return fail_at(fail, "entering the new root", "/", rc);
    if ((rc = set_attrs(AT_FDCWD, "/", 0, &attr)) < 0)
        return fail_at(fail, "making the root read-only", "/", rc);
    return 0;
}

static int build_root(struct build *b, const rt_mount_plan *plan, const int *fds,
                      struct mount_failure *fail);

int rt_mount_setup_root(const rt_mount_plan *plan, const int *fds, struct mount_failure *fail)
{
    /* The root's files and the tmpfs roots are owned by the fs uid that makes
     * them: ns root's host id, as when the sandbox's root builds it. */
    long rc;
    if (plan->host_ids && (rc = set_fs_ids(RT_HOST_ROOT_UID)) < 0)
        return fail_at(fail, "taking the sandbox root's file system ids", "/", rc);
    struct build b = {.stage_fd = -1, .as_host = plan->host_ids};
    int built = build_root(&b, plan, fds, fail);
    rt_sys_closep(&b.stage_fd);
    if (plan->host_ids && (rc = set_fs_ids(0)) < 0 && built == 0)
        return fail_at(fail, "restoring the file system ids", "/", rc);
    return built;
}

static int build_root(struct build *b, const rt_mount_plan *plan, const int *fds,
                      struct mount_failure *fail)
{
    static const char staging[] = "/tmp";
    size_t first = 0;
    long rc;
    if (plan->n && plan->ops[0].kind == MOP_ROOT) {
        if (bind_root(&plan->ops[0], fds[0], staging, fail) < 0)
            return -1;
        first = 1;
    } else if ((rc = rt_sys(SYS_mount, "tmpfs", staging, "tmpfs", MS_NOSUID | MS_NODEV,
                            "size=1m,mode=0755")) < 0) {
        return fail_at(fail, "mounting the root tmpfs", staging, rc);
    }
    if ((rc = rt_sys(SYS_chdir, staging)) < 0 ||
        (rc = b->stage_fd = (int)rt_sys(SYS_openat, AT_FDCWD, ".",
                                        O_PATH | O_DIRECTORY | O_CLOEXEC)) < 0)
        return fail_at(fail, "entering the new root", staging, rc);
    /* The plan's modes are exact: the caller's umask is for the command only. */
    mode_t umask_saved = (mode_t)rt_sys(SYS_umask, 0);
    for (size_t i = first; i < plan->n; i++) {
        /* a workspace file is given to its owner: that takes CAP_CHOWN, which
         * the host's root has only with fs uid 0 */
        bool chown = plan->host_ids && plan->ops[i].kind == MOP_OWNED_FILE;
        if (chown && (rc = set_fs_ids(0)) < 0)
            return fail_at(fail, "restoring the file system ids", plan->ops[i].dst, rc);
        if (apply_op(b, &plan->ops[i], fds[i], fail) < 0)
            return -1;
        if (chown && (rc = set_fs_ids(RT_HOST_ROOT_UID)) < 0)
            return fail_at(fail, "taking the sandbox root's file system ids", plan->ops[i].dst,
                           rc);
    }
    rt_sys(SYS_umask, umask_saved);
    for (size_t i = 0; i < plan->n; i++)
        if (fds[i] >= 0)
            rt_sys(SYS_close, fds[i]);
    rt_sys(SYS_close, b->stage_fd);
    b->stage_fd = -1;
    if (enter_root(staging, fail) < 0)
        return -1;
    if ((rc = rt_sys(SYS_chdir, plan->cwd)) < 0)
        return fail_at(fail, "changing to the working directory", plan->cwd, rc);
    return 0;
}
