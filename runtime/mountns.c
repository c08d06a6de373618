#include "mountns.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static int bare_fd = -1, own_fd = -1;     /* the bare namespace, ours */
static atomic_bool unusable;               /* our threads share the fs context */

enum step {
    DONE = -1, DIED = -2,
    S_UNSHARE = 0, S_PRIVATE, S_TMPFS, S_DIRS, S_PROC, S_ENTER, S_PIVOT, S_DETACH, S_READONLY,
    P_OWN, P_CHROOT, P_JOIN, P_COPY, P_MOUNT,
};
static const char *const steps[] = {
    [S_UNSHARE] = "creating a mount namespace",
    [S_PRIVATE] = "making mount propagation private",
    [S_TMPFS] = "mounting a tmpfs on /tmp",
    [S_DIRS] = "creating /tmp and /proc in it",
    [S_PROC] = "mounting proc in it",
    [S_ENTER] = "entering it",
    [S_PIVOT] = "pivot_root",
    [S_DETACH] = "detaching the old root",
    [S_READONLY] = "making the root read-only",
    /* the probe */
    [P_OWN] = "returning to the caller's mount namespace",
    [P_CHROOT] = "the caller's root is not its mount namespace's (chroot)",
    [P_JOIN] = "joining it",
    [P_COPY] = "copying it",
    [P_MOUNT] = "mounting a tmpfs on the copy's /tmp",
};

/* A helper's word to the parent: the step that failed and errno, or DONE;
 * then it waits to be killed. */
static _Noreturn void report(int ready, enum step step)
{
    int msg[2] = {(int)step, errno};
    if (write(ready, msg, sizeof msg) != sizeof msg)
        _exit(1);
    for (;;)
        pause();
}

/* Waits while the parent opens the namespace. */
static _Noreturn void build_bare(int ready, int unused)
{
    (void)unused;
    if (unshare(CLONE_NEWNS) < 0)
        report(ready, S_UNSHARE);
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
        report(ready, S_PRIVATE);
    if (mount("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC,
              "size=16k,nr_inodes=8,mode=0755") < 0)
        report(ready, S_TMPFS);
    if (mkdir("/tmp/tmp", 0755) < 0 || mkdir("/tmp/proc", 0555) < 0)
        report(ready, S_DIRS);
    if (mount("proc", "/tmp/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
        report(ready, S_PROC);
    if (chdir("/tmp") < 0)
        report(ready, S_ENTER);
    if (syscall(SYS_pivot_root, ".", ".") < 0)
        report(ready, S_PIVOT);
    if (umount2(".", MNT_DETACH) < 0)
        report(ready, S_DETACH);
    if (mount(NULL, "/", NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC,
              NULL) < 0)
        report(ready, S_READONLY);
    report(ready, DONE);
}

/* Most of what the caller and each sandbox do with it (rt_mountns_enter_bare,
 * rt_mountns_leave_bare, build_root), as the host's root, so that a system
 * that forbids it (a security module, say) is found once, here. What a child
 * in a user namespace of its own does in its copy is not tried: a failure
 * there is that run's error. */
static struct stat caller_root;

static _Noreturn void probe_bare(int ready, int fd)
{
    char path[32];
    struct stat st;
    if (setns(own_fd, CLONE_NEWNS) < 0 || stat("/", &st) < 0)
        report(ready, P_OWN);
    if (st.st_dev != caller_root.st_dev || st.st_ino != caller_root.st_ino) {
        errno = 0;
        report(ready, P_CHROOT);
    }
    if (setns(fd, CLONE_NEWNS) < 0)
        report(ready, P_JOIN);
    if (unshare(CLONE_NEWNS) < 0)
        report(ready, P_COPY);
    int tmp = open("/tmp", O_PATH | O_DIRECTORY | O_CLOEXEC);
    snprintf(path, sizeof path, "/proc/self/fd/%d", tmp);
    if (tmp < 0 || mount("tmpfs", path, "tmpfs", 0, "size=4k") < 0)
        report(ready, P_MOUNT);
    report(ready, DONE);
}

/* Runs body(ready, arg) in a child; 0 with its pid and its word in msg. */
static int start_helper(void (*body)(int, int), int arg, pid_t *pid, int msg[2],
                        rt_error *err)
{
    int pipefd[2];
    if (pipe2(pipefd, O_CLOEXEC) < 0)
        return rt_error_set(err, errno, "the bare mount namespace: a pipe");
    *pid = fork();
    if (*pid < 0) {
        int e = errno;
        close(pipefd[0]);
        close(pipefd[1]);
        return rt_error_set(err, e, "the bare mount namespace: fork");
    }
    if (*pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
        body(pipefd[1], arg);
        _exit(1);
    }
    close(pipefd[1]);
    ssize_t got;
    while ((got = read(pipefd[0], msg, 2 * sizeof *msg)) < 0 && errno == EINTR)
        ;
    close(pipefd[0]);
    if (got != 2 * sizeof *msg)
        msg[0] = DIED;
    if (msg[0] == DONE)
        return 0;
    if (msg[0] == DIED)
        return rt_error_set(err, 0, "the bare mount namespace: a helper ended before it was done");
    return rt_error_set(err, msg[1], "the bare mount namespace: %s",
                        msg[0] >= 0 && msg[0] < (int)(sizeof steps / sizeof *steps)
                            ? steps[msg[0]] : "an unknown step");
}

static void end_helper(pid_t pid)
{
    if (pid <= 0)
        return;
    kill(pid, SIGKILL);
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
        ;
}

int rt_mountns_bare_init(rt_error *err)
{
    if (bare_fd >= 0)
        return 0;
    if (stat("/", &caller_root) < 0)
        return rt_error_set(err, errno, "the bare mount namespace: stat /");
    if (own_fd < 0 && (own_fd = open("/proc/self/ns/mnt", O_RDONLY | O_CLOEXEC)) < 0)
        return rt_error_set(err, errno, "the bare mount namespace: opening /proc/self/ns/mnt");
    pid_t builder = -1, prober = -1;
    int msg[2], fd = -1;
    char path[48];
    int rc = start_helper(build_bare, 0, &builder, msg, err);
    if (rc == 0) {
        snprintf(path, sizeof path, "/proc/%ld/ns/mnt", (long)builder);
        if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
            rc = rt_error_set(err, errno, "the bare mount namespace: opening %s", path);
    }
    end_helper(builder);
    if (rc == 0)
        rc = start_helper(probe_bare, fd, &prober, msg, err);
    end_helper(prober);
    if (rc < 0) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    bare_fd = fd;
    return 0;
}

int rt_mountns_bare(void)
{
    return atomic_load(&unusable) ? -1 : bare_fd;
}

int rt_mountns_enter_bare(int *cwd)
{
    *cwd = open(".", O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (*cwd < 0)
        return -1;
    if (setns(bare_fd, CLONE_NEWNS) < 0) {
        int e = errno;
        close(*cwd);
        *cwd = -1;
        atomic_store(&unusable, true);   /* EINVAL: threads share our fs context */
        errno = e;
        return -1;
    }
    return 0;
}

int rt_mountns_leave_bare(int cwd)
{
    int rc = setns(own_fd, CLONE_NEWNS);
    if (rc < 0)
        atomic_store(&unusable, true);
    else
        rc = fchdir(cwd);
    int e = errno;
    close(cwd);
    errno = e;
    return rc;
}
