#include "child.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/keyctl.h>
#include <linux/seccomp.h>
#include <linux/securebits.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cgroup.h"
#include "netns.h"

/* glibc applies set*id calls to every thread it believes the process has; after
 * a raw clone of a threaded caller those threads do not exist and it would wait
 * for them forever. The system calls change just this one thread: all there is. */
static int set_ids(uid_t uid, gid_t gid)
{
    if (syscall(SYS_setresgid, gid, gid, gid) < 0)
        return -1;
    return (int)syscall(SYS_setresuid, uid, uid, uid);
}

static void copy_str(char *dst, size_t size, const char *src)
{
    size_t i = 0;
    for (; src && src[i] && i + 1 < size; i++)
        dst[i] = src[i];
    dst[i] = '\0';
}

static void send_msg(int fd, int type, int err, int status, const char *step, const char *path)
{
    struct child_msg m = {.type = type, .err = err, .status = status};
    copy_str(m.step, sizeof m.step, step);
    copy_str(m.path, sizeof m.path, path);
    while (write(fd, &m, sizeof m) < 0 && errno == EINTR)
        ;
}

static _Noreturn void fail(const struct child_args *a, const char *step, const char *path)
{
    send_msg(a->msg_fd, CHILD_MSG_SETUP_ERROR, errno, 0, step, path);
    _exit(127);
}

/* The parent's byte for the next stage and the fds sent with it (at most max,
 * close-on-exec); EOF means the parent is gone. */
static int recv_stage(const struct child_args *a, int *fds, int max, int *n_fds)
{
    unsigned char c;
    union {
        char buf[CMSG_SPACE(sizeof(int) * CHILD_GO_MAX_FDS)];
        struct cmsghdr align;
    } u;
    struct iovec iov = {.iov_base = &c, .iov_len = 1};
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf,
                        .msg_controllen = sizeof u.buf};
    ssize_t n;
    while ((n = recvmsg(a->sync_fd, &mh, MSG_CMSG_CLOEXEC)) < 0 && errno == EINTR)
        ;
    if (n != 1)
        _exit(127);
    *n_fds = 0;
    errno = EPROTO;
    if (mh.msg_flags & MSG_CTRUNC)
        fail(a, "receiving the parent's file descriptors", NULL);
    struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
    if (cm && cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS) {
        int got = (int)((cm->cmsg_len - CMSG_LEN(0)) / sizeof(int));
        if (got > max)
            fail(a, "receiving the parent's file descriptors", NULL);
        memcpy(fds, CMSG_DATA(cm), sizeof(int) * (size_t)got);
        *n_fds = got;
    }
    return c;
}

/* pid 1's way back to the parent group (cgroup v1), kept until the command ends. */
static int leave_fds[RT_CGROUP_MAX_FDS];
static int n_leave;

/* The go-ahead's byte says CHILD_FALLBACK_* bits, and how many of the cgroup
 * fds that come with it are the group's `tasks` files we move ourselves into
 * (cgroup v1); the others take pid 1 back out when the command has ended. */
static int join_group(const struct child_args *a, int c, const int *fds, int n)
{
    int n_join = c >> CHILD_GO_JOIN_SHIFT;
    errno = EPROTO;
    if (n_join > n || n - n_join > RT_CGROUP_MAX_FDS)
        fail(a, "receiving the cgroup's files", NULL);
    for (int i = 0; i < n_join; i++) {
        if (write(fds[i], "0", 1) != 1)
            fail(a, "joining the cgroup", NULL);
        close(fds[i]);
    }
    for (int i = n_join; i < n; i++)
        leave_fds[n_leave++] = fds[i];
    return c & CHILD_FALLBACK_MASK;
}

/* Blocks for the parent's next go-ahead; EOF means the parent is gone. */
static int await_parent(const struct child_args *a)
{
    unsigned char c;
    ssize_t n;
    while ((n = read(a->sync_fd, &c, 1)) < 0 && errno == EINTR)
        ;
    if (n != 1)
        _exit(127);
    return c;
}

/* The parent keeps its end of the sync pipe for the whole run: a hangup after the
 * death signal was armed means it died before, and nobody would kill us. */
static void parent_alive_or_exit(const struct child_args *a)
{
    struct pollfd p = {.fd = a->sync_fd, .events = POLLIN};
    if (poll(&p, 1, 0) < 0 || (p.revents & (POLLHUP | POLLERR)))
        _exit(127);
}

static void reset_signals(void)
{
    struct sigaction sa = {.sa_handler = SIG_DFL};
    for (int sig = 1; sig < NSIG; sig++)
        sigaction(sig, &sa, NULL);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
}

static void apply_rlimits(const struct child_args *a, int fallbacks)
{
    for (int i = 0; i < a->n_rlimits; i++) {
        const struct child_rlimit *r = &a->rlimits[i];
        if ((!r->only_if || (r->only_if & fallbacks)) && setrlimit(r->resource, &r->value) < 0)
            fail(a, "setting resource limits", NULL);
    }
}

static void setup_stdio(const struct child_args *a)
{
    for (int i = 0; i < 3; i++)
        if (dup2(a->stdio[i], i) < 0)
            fail(a, "setting up stdio", NULL);
}

/* Every capability the profile does not keep goes from every set; securebits
 * are locked so nothing comes back through a uid change or exec; no_new_privs
 * makes setuid binaries inert. Kept capabilities reach the command through the
 * ambient set, which needs CAP_SETPCAP until the ambient lock is set. */
static void drop_privileges(const struct child_args *a)
{
    const int bits = SECBIT_NOROOT | SECBIT_NOROOT_LOCKED | SECBIT_NO_SETUID_FIXUP |
                     SECBIT_NO_SETUID_FIXUP_LOCKED | SECBIT_KEEP_CAPS_LOCKED;
    if (prctl(PR_SET_SECUREBITS, bits, 0, 0, 0) < 0)
        fail(a, "locking securebits", NULL);
    /* Up to the first number this kernel does not know (EINVAL): no table of
     * capabilities that a newer kernel could outgrow. */
    for (int cap = 0;; cap++) {
        if (cap < 64 && (a->keep_caps >> cap & 1))
            continue;
        if (cap_drop_bound((cap_value_t)cap) == 0)
            continue;
        if (errno == EINVAL && cap > 0)
            break;
        fail(a, "dropping the capability bounding set", NULL);
    }
    /* one call (libcap's cap_reset_ambient first asks about each capability) */
    if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0)
        fail(a, "clearing ambient capabilities", NULL);
    /* the caller's session keyring is not the sandbox's to read */
    if (syscall(SYS_keyctl, KEYCTL_JOIN_SESSION_KEYRING, NULL) < 0 && errno != ENOSYS)
        fail(a, "joining a new session keyring", NULL);
    if (a->switch_user) {
        if (syscall(SYS_setgroups, 0, NULL) < 0)
            fail(a, "dropping supplementary groups", NULL);
        if (set_ids(RT_SANDBOX_UID, RT_SANDBOX_UID) < 0)
            fail(a, "switching to the sandbox user", NULL);
    }
    if (cap_set_proc(a->caps_setup) < 0)
        fail(a, "setting capabilities", NULL);
    for (int cap = 0; cap < 64; cap++)
        if ((a->keep_caps >> cap & 1) &&
            prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap, 0, 0) < 0)
            fail(a, "raising an ambient capability", NULL);
    if (prctl(PR_SET_SECUREBITS, bits | SECBIT_NO_CAP_AMBIENT_RAISE |
                                     SECBIT_NO_CAP_AMBIENT_RAISE_LOCKED, 0, 0, 0) < 0)
        fail(a, "locking securebits", NULL);
    if (cap_set_proc(a->caps_final) < 0)
        fail(a, "clearing capabilities", NULL);
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
        fail(a, "setting no_new_privs", NULL);
    /* pid 1 is a copy of the caller's memory: the command must not read it. */
    if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
        fail(a, "clearing the dumpable flag", NULL);
}

/* pid 1 is a copy of the caller, argv included, and /proc/1/cmdline is readable
 * by anyone in the pid namespace: `sbx run --env TOKEN=...` must not show there.
 * Blank the argument area in place (its bounds are fields 48 and 49 of stat). */
static void blank_cmdline(const struct child_args *a)
{
    char buf[1024];
    int fd = open("/proc/self/stat", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        fail(a, "reading /proc/self/stat", NULL);
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        fail(a, "reading /proc/self/stat", NULL);
    buf[n] = '\0';
    char *p = strrchr(buf, ')');
    unsigned long long start = 0, end = 0;
    /* after ")": field 3 onwards; arg_start is field 48 */
    for (int field = 2; p && field < 49; field++) {
        p = strchr(p + 1, ' ');
        unsigned long long v = 0;
        for (const char *d = p ? p + 1 : ""; *d >= '0' && *d <= '9'; d++)
            v = v * 10 + (unsigned)(*d - '0');
        if (field + 1 == 48)
            start = v;
        if (field + 1 == 49)
            end = v;
    }
    if (!start || end <= start) {
        errno = EINVAL;
        fail(a, "finding the argument area", NULL);
    }
    memset((void *)(uintptr_t)start, 0, (size_t)(end - start));
}

/* Every fd but stdio, the message pipe and the way out of the group. */
static void close_other_fds(const struct child_args *a)
{
    int keep[1 + RT_CGROUP_MAX_FDS], n = 0;
    keep[n++] = a->msg_fd;
    for (int i = 0; i < n_leave; i++)
        keep[n++] = leave_fds[i];
    for (int i = 1; i < n; i++)          /* a handful: insertion sort */
        for (int j = i; j > 0 && keep[j - 1] > keep[j]; j--) {
            int t = keep[j];
            keep[j] = keep[j - 1];
            keep[j - 1] = t;
        }
    unsigned from = 3;
    for (int i = 0; i <= n; i++) {
        unsigned to = i < n ? (unsigned)keep[i] : ~0u;
        if (to > from && close_range(from, i < n ? to - 1 : to, 0) < 0)
            fail(a, "closing inherited file descriptors", NULL);
        if (i < n && (unsigned)keep[i] + 1 > from)
            from = (unsigned)keep[i] + 1;
    }
}

/* execvpe without allocation: argv[0] with a slash runs as is, otherwise each
 * PATH entry is tried; EACCES wins over ENOENT, as the shell reports it. */
static void exec_command(const struct child_args *a)
{
    const char *name = a->argv[0];
    if (strchr(name, '/')) {
        execve(name, a->argv, a->envp);
        return;
    }
    int best = ENOENT;
    char buf[4096];
    size_t nlen = strlen(name);
    for (const char *p = a->path; p && *p;) {
        const char *end = strchr(p, ':');
        size_t dlen = end ? (size_t)(end - p) : strlen(p);
        if (dlen && dlen + 1 + nlen < sizeof buf) {
            memcpy(buf, p, dlen);
            buf[dlen] = '/';
            memcpy(buf + dlen + 1, name, nlen + 1);
            execve(buf, a->argv, a->envp);
            if (errno == EACCES)
                best = EACCES;
            else if (errno != ENOENT && errno != ENOTDIR)
                return;
        }
        p = end ? end + 1 : NULL;
    }
    errno = best;
}

/* Shared with the command's clone until it execs (CLONE_VM): an exec failure is
 * left here instead of written anywhere, so that nothing but execve runs under
 * the filter before the command does. */
struct launch {
    const struct child_args *a;
    int listener;              /* seccomp notifications, in pid 1's fd table */
    int err;
    const char *step;
};

static int launch_command(void *arg)
{
    struct launch *l = arg;
    const struct child_args *a = l->a;
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    if (a->seccomp) {
        long fd = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, a->seccomp_flags, a->seccomp);
        if (fd < 0) {
            l->err = errno;
            l->step = "installing the seccomp filter";
            _exit(127);
        }
        if (a->seccomp_flags & SECCOMP_FILTER_FLAG_NEW_LISTENER)
            l->listener = (int)fd;
    }
    exec_command(a);
    l->err = errno;
    l->step = "executing";
    _exit(127);
}

/* A kill rule fired: name the syscall, then end every process of the sandbox
 * (the kernel kills what is left when pid 1 exits). */
static _Noreturn void seccomp_violation(const struct child_args *a, int listener)
{
    struct seccomp_notif n;
    memset(&n, 0, sizeof n);
    if (ioctl(listener, SECCOMP_IOCTL_NOTIF_RECV, &n) < 0)
        n = (struct seccomp_notif){.data.nr = -1};
    send_msg(a->msg_fd, CHILD_MSG_SECCOMP, (int)n.data.arch, n.data.nr, NULL, NULL);
    kill(-1, SIGKILL);
    _exit(0);
}

/* Reaps every child until the command ends; its wait status goes to the parent. */
static _Noreturn void reap(const struct child_args *a, pid_t cmd, int sigfd, int listener)
{
    struct pollfd p[2] = {{.fd = sigfd, .events = POLLIN}, {.fd = listener, .events = POLLIN}};
    for (;;) {
        if (poll(p, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            _exit(127);
        }
        if (p[1].revents & POLLIN)
            seccomp_violation(a, listener);
        if (p[1].revents & (POLLHUP | POLLERR | POLLNVAL))
            p[1].fd = -1;      /* no process left under the filter */
        struct signalfd_siginfo si;
        while (read(sigfd, &si, sizeof si) > 0)
            ;
        int status;
        pid_t pid;
        while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
            if (pid == cmd) {
                /* out of the group, so that it can go while we exit; a failed
                 * move only leaves the removal until we are reaped */
                for (int i = 0; i < n_leave; i++)
                    if (write(leave_fds[i], "0", 1) != 1)
                        break;
                send_msg(a->msg_fd, CHILD_MSG_EXIT, 0, status, NULL, NULL);
                _exit(0);
            }
        }
        if (pid < 0 && errno == ECHILD)
            _exit(127);
    }
}

static _Noreturn void run_init(const struct child_args *a)
{
    sigset_t chld;
    sigemptyset(&chld);
    sigaddset(&chld, SIGCHLD);
    if (sigprocmask(SIG_BLOCK, &chld, NULL) < 0)
        fail(a, "blocking SIGCHLD", NULL);
    int sigfd = signalfd(-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK);
    if (sigfd < 0)
        fail(a, "creating a signalfd", NULL);
    /* Like vfork (no page-table copy; we sleep until the exec), on a stack of
     * its own, sharing the fd table so that the filter's listener lands here. */
    struct launch l = {.a = a, .listener = -1};
    pid_t cmd = clone(launch_command, (char *)a->stack + a->stack_size,
                      CLONE_VM | CLONE_VFORK | CLONE_FILES | SIGCHLD, &l);
    if (cmd < 0)
        fail(a, "starting the command", NULL);
    if (l.err) {
        errno = l.err;
        fail(a, l.step, strcmp(l.step, "executing") ? NULL : a->argv[0]);
    }
    send_msg(a->msg_fd, CHILD_MSG_EXEC_OK, 0, 0, NULL, NULL);
    for (int i = 0; i < 3; i++)
        close(i);
    reap(a, cmd, sigfd, l.listener);
}

static _Noreturn void mount_failed(const struct child_args *a, const struct mount_failure *mf)
{
    errno = mf->err;
    fail(a, mf->step, mf->path);
}

/* Cloned with a new user namespace (and network): root in it once the parent
 * mapped our ids, then the root and lo; then the go-ahead. */
static int setup_in_user_namespace(const struct child_args *a)
{
    struct mount_failure mf;
    await_parent(a);           /* id maps written */
    if (set_ids(0, 0) < 0)
        fail(a, "becoming root of the user namespace", NULL);
    if (sethostname("sandbox", 7) < 0)
        fail(a, "setting the hostname", NULL);
    if (rt_mount_setup_root(a->plan, a->src_fds, &mf) < 0)
        mount_failed(a, &mf);
    if (rt_netns_loopback_up() < 0)
        fail(a, "bringing up the loopback interface", "lo");
    int fds[CHILD_GO_MAX_FDS], n;
    int c = recv_stage(a, fds, CHILD_GO_MAX_FDS, &n);
    return join_group(a, c, fds, n);
}

/* Cloned in the host's user namespace: the hostname and the root are made as
 * the host's root, so the mount, pid, uts and ipc namespaces belong to the
 * host's user namespace (nothing in the sandbox can ever remount or rename
 * them); then the network and user namespaces the parent made ahead, which come
 * with the go-ahead (the parent sends it once its thread has ended, usually
 * before the root is built), the user namespace's ids already mapped. */
static int setup_then_user_namespace(const struct child_args *a)
{
    struct mount_failure mf;
    if (sethostname("sandbox", 7) < 0)
        fail(a, "setting the hostname", NULL);
    if (rt_mount_setup_root(a->plan, a->src_fds, &mf) < 0)
        mount_failed(a, &mf);
    int fds[CHILD_GO_MAX_FDS], n;
    int c = recv_stage(a, fds, CHILD_GO_MAX_FDS, &n);
    errno = EPROTO;
    if (n < 2)
        fail(a, "receiving the namespaces made ahead", NULL);
    if (setns(fds[n - 2], CLONE_NEWNET) < 0)
        fail(a, "joining the network namespace", NULL);
    if (setns(fds[n - 1], CLONE_NEWUSER) < 0)
        fail(a, "joining the user namespace", NULL);
    close(fds[n - 2]);
    close(fds[n - 1]);
    if (set_ids(0, 0) < 0)
        fail(a, "becoming root of the user namespace", NULL);
    return join_group(a, c, fds, n - 2);
}

/* The stages on the sync socket: a byte once our ids are mapped (not with
 * late_userns), then the go-ahead with the cgroup's fds (and late_userns's
 * namespaces). */
_Noreturn void rt_child_main(const struct child_args *a)
{
    struct mount_failure mf;
    close(a->sync_peer_fd);
    reset_signals();
    if (!a->sources_open && rt_mount_open_sources(a->plan, false, a->src_fds, &mf) < 0)
        mount_failed(a, &mf);
    /* the cgroup joined, or the fallbacks named */
    int fallbacks = a->late_userns ? setup_then_user_namespace(a) : setup_in_user_namespace(a);
    blank_cmdline(a);
    setup_stdio(a);
    apply_rlimits(a, fallbacks);
    if (unshare(CLONE_NEWCGROUP) < 0)
        fail(a, "creating the cgroup namespace", NULL);
    drop_privileges(a);
    /* No controlling terminal: TIOCSTI on the caller's tty is out of reach. */
    if (setsid() < 0)
        fail(a, "starting a new session", NULL);
    if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0)
        fail(a, "setting the parent-death signal", NULL);
    parent_alive_or_exit(a);
    close_other_fds(a);
    run_init(a);
}
