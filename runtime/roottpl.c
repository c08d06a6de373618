#include "roottpl.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "cleanup.h"
#include "hash.h"
#include "spec.h"

/* Bumped when what a template holds changes meaning. */
#define TEMPLATE_FORMAT "sbx-root-1"
/* A template is touched on use at most this often, and removed once unused for
 * longer than the longest run plus that: no run can still be using it then. */
#define TOUCH_EVERY_S 3600
#define UNUSED_FOR_S ((time_t)(RT_MAX_WALL_MS / 1000) + 2 * TOUCH_EVERY_S)

/* The content is the host's and ours, not a sandbox's (see hash.h). */
static void template_name(const struct rt_tpl_entry *e, size_t n, char out[33])
{
    rt_hash h;
    rt_hash_init(&h);
    rt_hash_update(&h, TEMPLATE_FORMAT, sizeof TEMPLATE_FORMAT);
    for (size_t i = 0; i < n; i++) {
        size_t len = e[i].kind == RT_TPL_FILE ? e[i].len : e[i].data ? strlen(e[i].data) : 0;
        unsigned char kind = (unsigned char)e[i].kind;
        rt_hash_update(&h, &kind, 1);
        rt_hash_update(&h, e[i].path, strlen(e[i].path));
        rt_hash_update(&h, e[i].data, len);
    }
    rt_hash_hex(&h, out);
}

/* Only root may enter it (its templates belong to the sandbox root's host id,
 * which must not reach them from outside a sandbox). */
static int open_parent(void)
{
    /* The sandbox's child opens the template by this path without following
     * symlinks: one on the way here would make every run fail. */
    struct open_how how = {.flags = O_RDONLY | O_DIRECTORY | O_CLOEXEC,
                           .resolve = RESOLVE_NO_SYMLINKS};
    int fd = (int)syscall(SYS_openat2, AT_FDCWD, RT_ROOTTPL_PARENT, &how, sizeof how);
    if (fd < 0 && errno == ENOENT) {
        if ((mkdir("/var/lib/sandboxd", 0755) < 0 && errno != EEXIST) ||
            (mkdir(RT_ROOTTPL_PARENT, 0700) < 0 && errno != EEXIST))
            return -1;
        fd = (int)syscall(SYS_openat2, AT_FDCWD, RT_ROOTTPL_PARENT, &how, sizeof how);
    }
    /* Made 0700 by us: anything else means someone else could have put a
     * template there, and none is used. */
    struct stat st;
    if (fd >= 0 && (fstat(fd, &st) < 0 || st.st_uid != 0 || (st.st_mode & 077))) {
        close(fd);
        return -1;
    }
    return fd;
}

static bool usable(int pfd, const char *name, time_t now)
{
    cleanup_close int fd = openat(pfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0 || st.st_uid != RT_HOST_ROOT_UID ||
        (st.st_mode & 07777) != 0755)
        return false;
    if (now - st.st_mtime > TOUCH_EVERY_S)
        futimens(fd, NULL);
    return true;
}

static void remove_tree(int dfd, const char *name)
{
    int fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    if (!d) {
        if (fd >= 0)
            close(fd);
        unlinkat(dfd, name, 0);
        return;
    }
    struct dirent *de;
    while ((de = readdir(d)))
        if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
            remove_tree(fd, de->d_name);
    closedir(d);
    unlinkat(dfd, name, AT_REMOVEDIR);
}

/* Templates unused for longer than any run lasts, and half-made ones. */
static void collect_garbage(int pfd, const char *keep, time_t now)
{
    cleanup_dir DIR *d = fdopendir(dup(pfd));
    struct dirent *de;
    struct stat st;
    while (d && (de = readdir(d))) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..") || !strcmp(de->d_name, keep) ||
            fstatat(pfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
            continue;
        bool partial = !strncmp(de->d_name, "tmp.", 4);
        if (now - st.st_mtime > (partial ? TOUCH_EVERY_S : UNUSED_FOR_S))
            remove_tree(pfd, de->d_name);
    }
}

static int own(int dfd, const char *path)
{
    return fchownat(dfd, path, RT_HOST_ROOT_UID, RT_HOST_ROOT_UID, AT_SYMLINK_NOFOLLOW);
}

/* mkdir -p of path's parents (all of it with whole), 0755 and owned. */
static int make_dirs(int dfd, const char *path, bool whole)
{
    char buf[4096];
    size_t len = strlen(path);
    if (len >= sizeof buf)
        return -1;
    memcpy(buf, path, len + 1);
    for (size_t i = 1; i <= len; i++) {
        if (buf[i] != '/' && !(whole && buf[i] == '\0'))
            continue;
        char c = buf[i];
        buf[i] = '\0';
        if (mkdirat(dfd, buf, 0755) == 0) {
            if (fchmodat(dfd, buf, 0755, 0) < 0 || own(dfd, buf) < 0)
                return -1;
        } else if (errno != EEXIST) {
            return -1;
        }
        buf[i] = c;
    }
    return 0;
}

static int write_file(int dfd, const struct rt_tpl_entry *e)
{
    cleanup_close int fd = openat(dfd, e->path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                                  0644);
    if (fd < 0 || fchmod(fd, 0644) < 0)
        return -1;
    for (size_t off = 0; off < e->len;) {
        ssize_t w = write(fd, e->data + off, e->len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        off += (size_t)w;
    }
    return fsync(fd);
}

static int fill(int dfd, const struct rt_tpl_entry *e, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (make_dirs(dfd, e[i].path, e[i].kind == RT_TPL_DIR) < 0)
            return -1;
        if (e[i].kind == RT_TPL_FILE && write_file(dfd, &e[i]) < 0)
            return -1;
        if (e[i].kind == RT_TPL_SYMLINK && symlinkat(e[i].data, dfd, e[i].path) < 0)
            return -1;
        if (e[i].kind != RT_TPL_DIR && own(dfd, e[i].path) < 0)
            return -1;
    }
    if (fchmod(dfd, 0755) < 0 || fchown(dfd, RT_HOST_ROOT_UID, RT_HOST_ROOT_UID) < 0)
        return -1;
    return fsync(dfd);
}

/* Written under a temporary name and renamed into place complete; when another
 * process got there first, its template is as good as ours. */
static int create(int pfd, const char *name, const struct rt_tpl_entry *e, size_t n)
{
    char tmp[] = RT_ROOTTPL_PARENT "/tmp.XXXXXX";
    if (!mkdtemp(tmp))
        return -1;
    const char *base = tmp + sizeof RT_ROOTTPL_PARENT;
    cleanup_close int dfd = open(tmp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (dfd < 0 || fill(dfd, e, n) < 0 || renameat(pfd, base, pfd, name) < 0) {
        remove_tree(pfd, base);
        return -1;
    }
    return fsync(pfd);
}

int rt_root_template(const struct rt_tpl_entry *entries, size_t n, char *out, size_t size)
{
    if (geteuid() != 0)
        return -1;
    char name[33];
    template_name(entries, n, name);
    cleanup_close int pfd = open_parent();
    if (pfd < 0)
        return -1;
    time_t now = time(NULL);
    if (!usable(pfd, name, now)) {
        if (create(pfd, name, entries, n) == 0)
            collect_garbage(pfd, name, now);
        if (!usable(pfd, name, now))
            return -1;
    }
    if ((size_t)snprintf(out, size, "%s/%s", RT_ROOTTPL_PARENT, name) >= size)
        return -1;
    return 0;
}
