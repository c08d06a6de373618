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
#include "sys.h"

/* Direct system calls change just this one thread, all there is after a raw
 * clone of a threaded caller: glibc's would signal threads it believes we
 * have, and wait for them forever. */
static long set_ids(uid_t uid, gid_t gid)
{
    long rc = rt_sys(SYS_setresgid, gid, gid, gid);
    return rc < 0 ? rc : rt_sys(SYS_setresuid, uid, uid, uid);
}

static _Noreturn void die(int code)
{
    for (;;)
        rt_sys(SYS_exit_group, code);
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
    while (rt_sys(SYS_write, fd, &m, sizeof m) == -EINTR)
        ;
}

/* err: a system call's -errno */
static _Noreturn void fail(const struct child_args *a, long err, const char *step,
                           const char *path)
{
    send_msg(a->msg_fd, CHILD_MSG_SETUP_ERROR, (int)-err, 0, step, path);
    die(127);
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
    long n;
    while ((n = rt_sys(SYS_recvmsg, a->sync_fd, &mh, MSG_CMSG_CLOEXEC)) == -EINTR)
        ;
    if (n != 1)
        die(127);
    *n_fds = 0;
    if (mh.msg_flags & MSG_CTRUNC)
        fail(a, -EPROTO, "receiving the parent's file descriptors", NULL);
    struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
    if (cm && cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS) {
        int got = (int)((cm->cmsg_len - CMSG_LEN(0)) / sizeof(int));
        if (got > max)
            fail(a, -EPROTO, "receiving the parent's file descriptors", NULL);
        memcpy(fds, CMSG_DATA(cm), sizeof(int) * (size_t)got);
        *n_fds = got;
    }
    return c;
}

/* pid 1's way back to the parent group (cgroup v1), kept until the command
 * ends; and the memory controller's group for the command to join, kept until
 * it does (-1: none). */
struct leave {
    int fds[RT_CGROUP_MAX_FDS];
    int n;
    int command_join;
};

/* The go-ahead's byte says CHILD_FALLBACK_* bits, and how many of the cgroup
 * fds that come with it are the group's `tasks` files we move ourselves into
 * (cgroup v1); the others take pid 1 back out when the command has ended. */
static int join_group(const struct child_args *a, int c, const int *fds, int n,
                      struct leave *leave)
{
    int n_join = c >> CHILD_GO_JOIN_SHIFT;
    if (n_join > n || n - n_join > RT_CGROUP_MAX_FDS ||
        ((c & CHILD_GO_COMMAND_JOINS) && n_join == 0))
        fail(a, -EPROTO, "receiving the cgroup's files", NULL);
    if (c & CHILD_GO_COMMAND_JOINS)
        leave->command_join = fds[--n_join];
    for (int i = 0; i < n_join; i++) {
        long rc = rt_sys(SYS_write, fds[i], "0", 1);
        if (rc != 1)
            fail(a, rc < 0 ? rc : -EIO, "joining the cgroup", NULL);
        rt_sys(SYS_close, fds[i]);
    }
    for (int i = n_join + (leave->command_join >= 0); i < n; i++)
        leave->fds[leave->n++] = fds[i];
    return c & CHILD_FALLBACK_MASK;
}

/* Blocks for the parent's next go-ahead; EOF means the parent is gone. */
static int await_parent(const struct child_args *a)
{
    unsigned char c;
    long n;
    while ((n = rt_sys(SYS_read, a->sync_fd, &c, 1)) == -EINTR)
        ;
    if (n != 1)
        die(127);
    return c;
}

/* The parent keeps its end of the sync pipe for the whole run: a hangup after the
 * death signal was armed means it died before, and nobody would kill us. */
static void parent_alive_or_exit(const struct child_args *a)
{
    struct pollfd p = {.fd = a->sync_fd, .events = POLLIN};
    if (rt_sys(SYS_poll, &p, 1, 0) < 0 || (p.revents & (POLLHUP | POLLERR)))
        die(127);
}

/* The kernel's sigset: 64 signals. */
static long set_sigmask(uint64_t mask)
{
    return rt_sys(SYS_rt_sigprocmask, SIG_SETMASK, &mask, NULL, sizeof mask);
}

static void reset_signals(void)
{
    struct {
        void (*handler)(int);
        unsigned long flags;
        void (*restorer)(void);
        uint64_t mask;
    } dfl = {.handler = SIG_DFL};
    for (int sig = 1; sig <= 64; sig++)
        rt_sys(SYS_rt_sigaction, sig, &dfl, NULL, sizeof dfl.mask);
    set_sigmask(0);
}

static void apply_rlimits(const struct child_args *a, int fallbacks)
{
    for (int i = 0; i < a->n_rlimits; i++) {
        const struct child_rlimit *r = &a->rlimits[i];
        long rc;
        if ((!r->only_if || (r->only_if & fallbacks)) &&
            (rc = rt_sys(SYS_prlimit64, 0, r->resource, &r->value, NULL)) < 0)
            fail(a, rc, "setting resource limits", NULL);
    }
}

static void setup_stdio(const struct child_args *a)
{
    for (int i = 0; i < 3; i++) {
        long rc = rt_sys(SYS_dup2, a->stdio[i], i);
        if (rc < 0)
            fail(a, rc, "setting up stdio", NULL);
    }
}

static void set_caps(const struct child_args *a, const struct __user_cap_data_struct *data,
                     const char *step)
{
    struct __user_cap_header_struct head = {.version = _LINUX_CAPABILITY_VERSION_3};
    long rc = rt_sys(SYS_capset, &head, data);
    if (rc < 0)
        fail(a, rc, step, NULL);
}

static void checked_prctl(const struct child_args *a, int option, unsigned long arg2,
                          unsigned long arg3, const char *step)
{
    long rc = rt_sys(SYS_prctl, option, arg2, arg3, 0, 0);
    if (rc < 0)
        fail(a, rc, step, NULL);
}

/* Every capability the profile does not keep goes from every set; securebits
 * are locked so nothing comes back through a uid change or exec; no_new_privs
 * makes setuid binaries inert. Kept capabilities reach the command through the
 * ambient set, which needs CAP_SETPCAP until the ambient lock is set. */
static void drop_privileges(const struct child_args *a)
{
    const int bits = SECBIT_NOROOT | SECBIT_NOROOT_LOCKED | SECBIT_NO_SETUID_FIXUP |
                     SECBIT_NO_SETUID_FIXUP_LOCKED | SECBIT_KEEP_CAPS_LOCKED;
    long rc;
    checked_prctl(a, PR_SET_SECUREBITS, bits, 0, "locking securebits");
    /* Up to the first number this kernel does not know (EINVAL): no table of
     * capabilities that a newer kernel could outgrow. */
    for (int cap = 0;; cap++) {
        if (cap < 64 && (a->keep_caps >> cap & 1))
            continue;
        if ((rc = rt_sys(SYS_prctl, PR_CAPBSET_DROP, cap, 0, 0, 0)) == 0)
            continue;
        if (rc == -EINVAL && cap > 0)
            break;
        fail(a, rc, "dropping the capability bounding set", NULL);
    }
    checked_prctl(a, PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, "clearing ambient capabilities");
    /* the caller's session keyring is not the sandbox's to read */
    if ((rc = rt_sys(SYS_keyctl, KEYCTL_JOIN_SESSION_KEYRING, NULL)) < 0 && rc != -ENOSYS)
        fail(a, rc, "joining a new session keyring", NULL);
    if (a->switch_user) {
        if ((rc = rt_sys(SYS_setgroups, 0, NULL)) < 0)
            fail(a, rc, "dropping supplementary groups", NULL);
        if ((rc = set_ids(RT_SANDBOX_UID, RT_SANDBOX_UID)) < 0)
            fail(a, rc, "switching to the sandbox user", NULL);
    }
    set_caps(a, a->caps_setup, "setting capabilities");
    for (int cap = 0; cap < 64; cap++)
        if (a->keep_caps >> cap & 1)
            checked_prctl(a, PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, (unsigned long)cap,
                          "raising an ambient capability");
    checked_prctl(a, PR_SET_SECUREBITS, bits | SECBIT_NO_CAP_AMBIENT_RAISE |
                                            SECBIT_NO_CAP_AMBIENT_RAISE_LOCKED, 0,
                  "locking securebits");
    set_caps(a, a->caps_final, "clearing capabilities");
    checked_prctl(a, PR_SET_NO_NEW_PRIVS, 1, 0, "setting no_new_privs");
    /* Our memory is the caller's, or a copy of it: the command must not read
     * it. Per memory map: with CLONE_VM, this is the caller's flag too. */
    checked_prctl(a, PR_SET_DUMPABLE, 0, 0, "clearing the dumpable flag");
}

/* A pid 1 that is a copy of the caller has its arguments (`sbx run --env
 * TOKEN=...`), and /proc/1/cmdline is readable by whoever sees pid 1: hidepid
 * hides it, but a profile that keeps CAP_SYS_ADMIN could mount a /proc
 * without. Blank the area in place (its bounds are fields 48 and 49 of stat). */
static void blank_cmdline(const struct child_args *a)
{
    char buf[1024];
    long fd = rt_sys(SYS_open, "/proc/self/stat", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        fail(a, fd, "reading /proc/self/stat", NULL);
    long n = rt_sys(SYS_read, fd, buf, sizeof buf - 1);
    rt_sys(SYS_close, fd);
    if (n <= 0)
        fail(a, n < 0 ? n : -EIO, "reading /proc/self/stat", NULL);
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
    if (!start || end <= start)
        fail(a, -EINVAL, "finding the argument area", NULL);
    memset((void *)(uintptr_t)start, 0, (size_t)(end - start));
}

/* Every fd but stdio, the message pipe and the ways into and out of groups. */
static void close_other_fds(const struct child_args *a, const struct leave *leave)
{
    int keep[2 + RT_CGROUP_MAX_FDS], n = 0;
    keep[n++] = a->msg_fd;
    if (leave->command_join >= 0)
        keep[n++] = leave->command_join;
    for (int i = 0; i < leave->n; i++)
        keep[n++] = leave->fds[i];
    for (int i = 1; i < n; i++)          /* a handful: insertion sort */
        for (int j = i; j > 0 && keep[j - 1] > keep[j]; j--) {
            int t = keep[j];
            keep[j] = keep[j - 1];
            keep[j - 1] = t;
        }
    unsigned from = 3;
    for (int i = 0; i <= n; i++) {
        unsigned to = i < n ? (unsigned)keep[i] : ~0u;
        long rc;
        if (to > from && (rc = rt_sys(SYS_close_range, from, i < n ? to - 1 : to, 0)) < 0)
            fail(a, rc, "closing inherited file descriptors", NULL);
        if (i < n && (unsigned)keep[i] + 1 > from)
            from = (unsigned)keep[i] + 1;
    }
}

/* execvpe without allocation: argv[0] with a slash runs as is, otherwise each
 * PATH entry is tried; EACCES wins over ENOENT, as the shell reports it.
 * Returns -errno. */
static long exec_command(const struct child_args *a)
{
    const char *name = a->argv[0];
    if (strchr(name, '/'))
        return rt_sys(SYS_execve, name, a->argv, a->envp);
    long best = -ENOENT;
    char buf[4096];
    size_t nlen = strlen(name);
    for (const char *p = a->path; p && *p;) {
        const char *end = strchr(p, ':');
        size_t dlen = end ? (size_t)(end - p) : strlen(p);
        if (dlen && dlen + 1 + nlen < sizeof buf) {
            memcpy(buf, p, dlen);
            buf[dlen] = '/';
            memcpy(buf + dlen + 1, name, nlen + 1);
            long rc = rt_sys(SYS_execve, buf, a->argv, a->envp);
            if (rc == -EACCES)
                best = rc;
            else if (rc != -ENOENT && rc != -ENOTDIR)
                return rc;
        }
        p = end ? end + 1 : NULL;
    }
    return best;
}

/* Shared with the command's clone until it execs (CLONE_VM): an exec failure is
 * left here instead of written anywhere, so that nothing but execve runs under
 * the filter before the command does. */
struct launch {
    const struct child_args *a;
    int join_fd;               /* the memory controller's group, or -1 */
    int listener;              /* seccomp notifications, in pid 1's fd table */
    long err;
    const char *step;
};

static int launch_command(void *arg)
{
    struct launch *l = arg;
    const struct child_args *a = l->a;
    set_sigmask(0);
    /* Only now: until its exec this process shares pid 1's memory, the
     * caller's, but the OOM killer never picks a vfork child that shares its
     * parent's (in_vfork), and after the exec the memory is its own. */
    long rc;
    if (l->join_fd >= 0 && (rc = rt_sys(SYS_write, l->join_fd, "0", 1)) != 1) {
        l->err = rc < 0 ? rc : -EIO;
        l->step = "joining the memory cgroup";
        die(127);
    }
    if (a->seccomp) {
        long fd = rt_sys(SYS_seccomp, SECCOMP_SET_MODE_FILTER, a->seccomp_flags, a->seccomp);
        if (fd < 0) {
            l->err = fd;
            l->step = "installing the seccomp filter";
            die(127);
        }
        if (a->seccomp_flags & SECCOMP_FILTER_FLAG_NEW_LISTENER)
            l->listener = (int)fd;
    }
    l->err = exec_command(a);
    l->step = "executing";
    die(127);
}

/* clone(2) running fn(arg) on the stack whose top is stack_top, never back in
 * our frames (fn ends with exit); the child's id, or -errno. glibc's clone
 * would set errno on failure, which may be the caller's (see sys.h). */
static long clone_on_stack(unsigned long flags, void *stack_top, int (*fn)(void *), void *arg)
{
    register long r10 __asm__("r10") = 0;
    register long r8 __asm__("r8") = 0;
    register int (*r9)(void *) __asm__("r9") = fn;
    register void *r12 __asm__("r12") = arg;
    long ret;
    __asm__ volatile("syscall\n\t"
                     "test %%rax, %%rax\n\t"
                     "jnz 1f\n\t"
                     "xor %%ebp, %%ebp\n\t"
                     "mov %%r12, %%rdi\n\t"
                     "call *%%r9\n\t"
                     "mov %%eax, %%edi\n\t"
                     "mov %[exit], %%eax\n\t"
                     "syscall\n\t"
                     "hlt\n"
                     "1:"
                     : "=a"(ret)
                     : "a"((long)SYS_clone), "D"(flags), "S"(stack_top), "d"(0L), "r"(r10),
                       "r"(r8), "r"(r9), "r"(r12), [exit] "i"(SYS_exit)
                     : "rcx", "r11", "memory");
    return ret;
}

/* A kill rule fired: name the syscall, then end every process of the sandbox
 * (the kernel kills what is left when pid 1 exits). */
static _Noreturn void seccomp_violation(const struct child_args *a, int listener)
{
    struct seccomp_notif n;
    memset(&n, 0, sizeof n);
    if (rt_sys(SYS_ioctl, listener, SECCOMP_IOCTL_NOTIF_RECV, &n) < 0)
        n = (struct seccomp_notif){.data.nr = -1};
    send_msg(a->msg_fd, CHILD_MSG_SECCOMP, (int)n.data.arch, n.data.nr, NULL, NULL);
    rt_sys(SYS_kill, -1, SIGKILL);
    die(0);
}

/* Reaps every child until the command ends; its wait status goes to the parent. */
static _Noreturn void reap(const struct child_args *a, const struct leave *leave, long cmd,
                           int sigfd, int listener)
{
    struct pollfd p[2] = {{.fd = sigfd, .events = POLLIN}, {.fd = listener, .events = POLLIN}};
    for (;;) {
        long rc = rt_sys(SYS_poll, p, 2, -1);
        if (rc == -EINTR)
            continue;
        if (rc < 0)
            die(127);
        if (p[1].revents & POLLIN)
            seccomp_violation(a, listener);
        if (p[1].revents & (POLLHUP | POLLERR | POLLNVAL))
            p[1].fd = -1;      /* no process left under the filter */
        struct signalfd_siginfo si;
        while (rt_sys(SYS_read, sigfd, &si, sizeof si) > 0)
            ;
        int status;
        long pid;
        while ((pid = rt_sys(SYS_wait4, -1, &status, WNOHANG, NULL)) > 0) {
            if (pid == cmd) {
                /* out of the group, so that it can go while we exit; a failed
                 * move only leaves the removal until we are reaped */
                for (int i = 0; i < leave->n; i++)
                    if (rt_sys(SYS_write, leave->fds[i], "0", 1) != 1)
                        break;
                send_msg(a->msg_fd, CHILD_MSG_EXIT, 0, status, NULL, NULL);
                die(0);
            }
        }
        if (pid == -ECHILD)
            die(127);
    }
}

static _Noreturn void run_init(const struct child_args *a, const struct leave *leave)
{
    uint64_t chld = 1ull << (SIGCHLD - 1);
    long rc = set_sigmask(chld);
    if (rc < 0)
        fail(a, rc, "blocking SIGCHLD", NULL);
    long sigfd = rt_sys(SYS_signalfd4, -1, &chld, sizeof chld, SFD_CLOEXEC | SFD_NONBLOCK);
    if (sigfd < 0)
        fail(a, sigfd, "creating a signalfd", NULL);
    /* Like vfork (no page-table copy; we sleep until the exec), on a stack of
     * its own, sharing the fd table so that the filter's listener lands here. */
    struct launch l = {.a = a, .join_fd = leave->command_join, .listener = -1};
    long cmd = clone_on_stack(CLONE_VM | CLONE_VFORK | CLONE_FILES | SIGCHLD, a->stack,
                              launch_command, &l);
    if (leave->command_join >= 0)
        rt_sys(SYS_close, leave->command_join);    /* joined, or never will */
    if (cmd < 0)
        fail(a, cmd, "starting the command", NULL);
    if (l.err)
        fail(a, l.err, l.step, strcmp(l.step, "executing") ? NULL : a->argv[0]);
    send_msg(a->msg_fd, CHILD_MSG_EXEC_OK, 0, 0, NULL, NULL);
    for (int i = 0; i < 3; i++)
        rt_sys(SYS_close, i);
    reap(a, leave, cmd, (int)sigfd, l.listener);
}

static _Noreturn void mount_failed(const struct child_args *a, const struct mount_failure *mf)
{
    fail(a, -(long)mf->err, mf->step, mf->path);
}

/* Cloned with a new user namespace (and network): root in it once the parent
 * mapped our ids, then the root and lo; then the go-ahead. */
static int setup_in_user_namespace(const struct child_args *a, struct leave *leave)
{
    struct mount_failure mf;
    long rc;
    await_parent(a);           /* id maps written */
    if ((rc = set_ids(0, 0)) < 0)
        fail(a, rc, "becoming root of the user namespace", NULL);
    if ((rc = rt_sys(SYS_sethostname, "sandbox", 7)) < 0)
        fail(a, rc, "setting the hostname", NULL);
    if (rt_mount_setup_root(a->plan, a->src_fds, &mf) < 0)
        mount_failed(a, &mf);
    if ((rc = rt_netns_loopback_up()) < 0)
        fail(a, rc, "bringing up the loopback interface", "lo");
    int fds[CHILD_GO_MAX_FDS], n;
    int c = recv_stage(a, fds, CHILD_GO_MAX_FDS, &n);
    return join_group(a, c, fds, n, leave);
}

/* Cloned in the host's user namespace: the hostname and the root are made as
 * the host's root, so the mount, pid, uts and ipc namespaces belong to the
 * host's user namespace (nothing in the sandbox can ever remount or rename
 * them); then the network and user namespaces the parent made ahead, which come
 * with the go-ahead (the parent sends it once its thread has ended, usually
 * before the root is built), the user namespace's ids already mapped. */
static int setup_then_user_namespace(const struct child_args *a, struct leave *leave)
{
    struct mount_failure mf;
    long rc;
    if ((rc = rt_sys(SYS_sethostname, "sandbox", 7)) < 0)
        fail(a, rc, "setting the hostname", NULL);
    if (rt_mount_setup_root(a->plan, a->src_fds, &mf) < 0)
        mount_failed(a, &mf);
    int fds[CHILD_GO_MAX_FDS], n;
    int c = recv_stage(a, fds, CHILD_GO_MAX_FDS, &n);
    if (n < 2)
        fail(a, -EPROTO, "receiving the namespaces made ahead", NULL);
    if ((rc = rt_sys(SYS_setns, fds[n - 2], CLONE_NEWNET)) < 0)
        fail(a, rc, "joining the network namespace", NULL);
    if ((rc = rt_sys(SYS_setns, fds[n - 1], CLONE_NEWUSER)) < 0)
        fail(a, rc, "joining the user namespace", NULL);
    rt_sys(SYS_close, fds[n - 2]);
    rt_sys(SYS_close, fds[n - 1]);
    if ((rc = set_ids(0, 0)) < 0)
        fail(a, rc, "becoming root of the user namespace", NULL);
    return join_group(a, c, fds, n - 2, leave);
}

/* The stages on the sync socket: a byte once our ids are mapped (not with
 * late_userns), then the go-ahead with the cgroup's fds (and late_userns's
 * namespaces). */
_Noreturn void rt_child_main(const struct child_args *a)
{
    struct mount_failure mf;
    struct leave leave = {.n = 0, .command_join = -1};
    long rc;
    rt_sys(SYS_close, a->sync_peer_fd);
    reset_signals();
    if (!a->sources_open && rt_mount_open_sources(a->plan, false, a->src_fds, &mf) < 0)
        mount_failed(a, &mf);
    /* the cgroup joined, or the fallbacks named */
    int fallbacks = a->late_userns ? setup_then_user_namespace(a, &leave)
                                   : setup_in_user_namespace(a, &leave);
    if (a->blank_cmdline)
        blank_cmdline(a);
    setup_stdio(a);
    apply_rlimits(a, fallbacks);
    if ((rc = rt_sys(SYS_unshare, CLONE_NEWCGROUP)) < 0)
        fail(a, rc, "creating the cgroup namespace", NULL);
    drop_privileges(a);
    /* No controlling terminal: TIOCSTI on the caller's tty is out of reach. */
    if ((rc = rt_sys(SYS_setsid)) < 0)
        fail(a, rc, "starting a new session", NULL);
    checked_prctl(a, PR_SET_PDEATHSIG, SIGKILL, 0, "setting the parent-death signal");
    parent_alive_or_exit(a);
    close_other_fds(a, &leave);
    run_init(a, &leave);
}
