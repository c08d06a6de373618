#include "devdir.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "cleanup.h"

#define DEVDIR_PARENT "/var/lib/sandboxd"

const char *const rt_dev_nodes[] = {"null", "zero", "full", "random", "urandom", "tty", NULL};
const char *const rt_dev_links[][2] = {
    {"ptmx", "pts/ptmx"}, {"fd", "/proc/self/fd"}, {"stdin", "/proc/self/fd/0"},
    {"stdout", "/proc/self/fd/1"}, {"stderr", "/proc/self/fd/2"}, {"shm", "/tmp"},
    {NULL, NULL},
};

static pthread_once_t once = PTHREAD_ONCE_INIT;
static const char *answer;

static bool root_owned_private(const struct stat *st)
{
    return st->st_uid == 0 && !(st->st_mode & (S_IWGRP | S_IWOTH));
}

static bool valid(int dfd)
{
    struct stat st, host;
    struct statvfs vfs;
    if (fstat(dfd, &st) < 0 || !S_ISDIR(st.st_mode) || !root_owned_private(&st) ||
        fstatvfs(dfd, &vfs) < 0 || (vfs.f_flag & ST_NODEV))
        return false;
    for (size_t i = 0; rt_dev_nodes[i]; i++) {
        char path[32];
        snprintf(path, sizeof path, "/dev/%s", rt_dev_nodes[i]);
        if (stat(path, &host) < 0 || fstatat(dfd, rt_dev_nodes[i], &st, AT_SYMLINK_NOFOLLOW) < 0 ||
            !S_ISCHR(st.st_mode) || st.st_rdev != host.st_rdev || st.st_uid != 0)
            return false;
    }
    return fstatat(dfd, "pts", &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode);
}

static bool fill(int dfd)
{
    for (size_t i = 0; rt_dev_nodes[i]; i++) {
        char path[32];
        struct stat host;
        snprintf(path, sizeof path, "/dev/%s", rt_dev_nodes[i]);
        if (stat(path, &host) < 0 || !S_ISCHR(host.st_mode) ||
            mknodat(dfd, rt_dev_nodes[i], S_IFCHR | 0666, host.st_rdev) < 0 ||
            fchmodat(dfd, rt_dev_nodes[i], 0666, 0) < 0)
            return false;
    }
    for (size_t i = 0; rt_dev_links[i][0]; i++)
        if (symlinkat(rt_dev_links[i][1], dfd, rt_dev_links[i][0]) < 0)
            return false;
    return mkdirat(dfd, "pts", 0755) == 0;
}

static void remove_tree(const char *dir)
{
    cleanup_dir DIR *d = opendir(dir);
    struct dirent *de;
    while (d && (de = readdir(d)))
        if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
            unlinkat(dirfd(d), de->d_name, strcmp(de->d_name, "pts") ? 0 : AT_REMOVEDIR);
    rmdir(dir);
}

/* Built under a temporary name and renamed into place, so that a concurrent
 * process sees either nothing or a complete directory. */
static void create(void)
{
    char tmp[] = DEVDIR_PARENT "/dev.XXXXXX";
    if ((mkdir(DEVDIR_PARENT, 0755) < 0 && errno != EEXIST) || !mkdtemp(tmp))
        return;
    cleanup_close int dfd = open(tmp, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0 || !fill(dfd) || fchmod(dfd, 0755) < 0 || rename(tmp, RT_DEVDIR_PATH) < 0)
        remove_tree(tmp);
}

static bool check(void)
{
    cleanup_close int parent = open(DEVDIR_PARENT, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
    struct stat st;
    if (parent < 0 || fstat(parent, &st) < 0 || !root_owned_private(&st))
        return false;
    cleanup_close int dfd = openat(parent, "dev", O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
    return dfd >= 0 && valid(dfd);
}

static void decide(void)
{
    if (geteuid() != 0)
        return;
    bool ok = check();
    if (!ok) {
        create();
        ok = check();
    }
    if (ok)
        answer = RT_DEVDIR_PATH;
}

const char *rt_devdir_get(void)
{
    pthread_once(&once, decide);
    return answer;
}
