/* attack: hostile programs for tests/security, one static binary with subcommands.
 *
 * It is bound read-only at /attack in a sandbox and run as `/attack NAME [ARGS]`.
 * Every subcommand prints one line per attempt and exits 0 when every attempt was
 * stopped (or, for the positive controls, worked), 1 otherwise, so that the .t
 * files can assert on both. Attempt lines read
 *
 *     NAME: DENIED errno=EPERM           the call failed with that errno
 *     NAME: KILLED signal=SIGSYS         the process making it was killed
 *     NAME: ALLOWED ...                  it worked, or reached the kernel
 *
 * `syscalls [NAME...]` probes the system-call filter. Each check runs in a child
 * process (so that a seccomp kill ends only that check) which stacks a filter of
 * its own on top of the sandbox's: SECCOMP_RET_USER_NOTIF for the one system call
 * under test, handled by a helper process. The kernel runs every filter and keeps
 * the strictest answer, so
 *   - if the sandbox's filter denies or kills the call, that answer wins and the
 *     call fails (or the child dies) without the helper hearing of it;
 *   - if the sandbox's filter lets it through, our notification wins, the helper
 *     hears of it and answers with an error: the call never reaches the kernel.
 * The probe thus tells "stopped by the filter" from "refused by the kernel for
 * want of a capability", and is harmless even with no filter at all (reboot,
 * swapoff, settimeofday never run). Arguments are still chosen so that a call
 * that did reach the kernel would fail harmlessly and, where possible, with an
 * errno other than EPERM.
 *
 * A filter with a listener cannot be stacked on one that has one already (the
 * sandbox's init listens when its profile has kill rules): the probe then uses
 * SECCOMP_RET_TRACE, which with no tracer attached fails the call with ENOSYS
 * without running it; checks whose safe answer may itself be ENOSYS (clone3,
 * the 32-bit and x32 entry points) are then made directly. When no probe filter
 * can be stacked at all, every check makes its call directly. A `# method:`
 * line says which.
 *
 * `call NAME` makes one check's call directly in this process: a seccomp kill
 * then ends the whole run (status "seccomp").
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/bpf.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/if_ether.h>
#include <linux/io_uring.h>
#include <linux/keyctl.h>
#include <linux/netlink.h>
#include <linux/perf_event.h>
#include <linux/reboot.h>
#include <linux/seccomp.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/timex.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <time.h>
#include <unistd.h>

#ifndef UFFD_USER_MODE_ONLY
#define UFFD_USER_MODE_ONLY 1
#endif
#define X32_BIT 0x40000000L

static const char *errname(int e)
{
    switch (e) {
#define E(x) case x: return #x;
    E(EPERM) E(ENOENT) E(ESRCH) E(EINTR) E(EIO) E(ENXIO) E(E2BIG) E(ENOEXEC) E(EBADF)
    E(ECHILD) E(EAGAIN) E(ENOMEM) E(EACCES) E(EFAULT) E(EBUSY) E(EEXIST) E(EXDEV)
    E(ENODEV) E(ENOTDIR) E(EISDIR) E(EINVAL) E(ENFILE) E(EMFILE) E(ENOTTY) E(ETXTBSY)
    E(EFBIG) E(ENOSPC) E(ESPIPE) E(EROFS) E(EMLINK) E(EPIPE) E(ERANGE) E(ENOSYS)
    E(ELOOP) E(ENAMETOOLONG) E(ENOKEY) E(EKEYREVOKED) E(ENOTSUP) E(EAFNOSUPPORT)
    E(EPROTONOSUPPORT) E(ESOCKTNOSUPPORT) E(ECONNREFUSED) E(ENETUNREACH) E(EHOSTUNREACH)
    E(ETIMEDOUT) E(EADDRNOTAVAIL) E(ENOTSOCK) E(ENOTRECOVERABLE) E(EOWNERDEAD)
    E(ENOPKG) E(ENOTCONN) E(ECONNRESET) E(EDQUOT)
#undef E
    default: return NULL;
    }
}

static const char *errstr(int e)
{
    static char buf[32];
    const char *n = errname(e);
    if (n)
        return n;
    snprintf(buf, sizeof buf, "%d", e);
    return buf;
}

static const char *signame(int s)
{
    static char buf[16];
    switch (s) {
    case SIGSYS: return "SIGSYS";
    case SIGKILL: return "SIGKILL";
    case SIGSEGV: return "SIGSEGV";
    case SIGBUS: return "SIGBUS";
    case SIGILL: return "SIGILL";
    case SIGABRT: return "SIGABRT";
    case SIGXFSZ: return "SIGXFSZ";
    }
    snprintf(buf, sizeof buf, "%d", s);
    return buf;
}

static const char *kind_of(mode_t m, dev_t rdev)
{
    static char buf[48];
    if (S_ISREG(m))
        return "reg";
    if (S_ISDIR(m))
        return "dir";
    if (S_ISLNK(m))
        return "lnk";
    if (S_ISFIFO(m))
        return "fifo";
    if (S_ISSOCK(m))
        return "sock";
    snprintf(buf, sizeof buf, "%s(%u,%u)", S_ISCHR(m) ? "chr" : "blk", major(rdev), minor(rdev));
    return buf;
}

/* ---------------------------------------------------------------- checks */

/* What a check's preparation leaves for its attack. */
struct ctx {
    pid_t victim;
    int fd;
    int fd2;
    char buf[256];
};

enum expect { EXPECT_DENY, EXPECT_ALLOW };

struct check {
    const char *name;
    long nr;                      /* the system call the attack makes (probe target) */
    const char *sysname;          /* its name, as a seccomp kill would report it */
    enum expect expect;
    int deny[3];                  /* errnos that mean "stopped" in direct mode; 0 ends */
    int (*prepare)(struct ctx *); /* before the probe filter: may fork, open... */
    long (*attack)(struct ctx *); /* returns the call's result, errno set when < 0 */
};

static volatile uint64_t victim_secret = 0x5ec2e7;

/* A child to trace or read: killed with us. */
static int prep_victim(struct ctx *c)
{
    int p[2];
    if (pipe(p) < 0)
        return -1;
    c->victim = fork();
    if (c->victim < 0)
        return -1;
    if (c->victim == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
        close(p[0]);
        close(p[1]);
        for (;;)
            pause();
    }
    close(p[1]);
    close(p[0]);
    return 0;
}

static int prep_userns_fd(struct ctx *c)
{
    c->fd = open("/proc/self/ns/user", O_RDONLY | O_CLOEXEC);
    return c->fd < 0 ? -1 : 0;
}

static int prep_root_fd(struct ctx *c)
{
    c->fd = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    return c->fd < 0 ? -1 : 0;
}

/* A pty of our own, made our controlling terminal, so that TIOCSTI would work
 * if it reached the kernel. */
static int prep_pty(struct ctx *c)
{
    c->fd2 = posix_openpt(O_RDWR | O_NOCTTY);
    if (c->fd2 < 0 || grantpt(c->fd2) < 0 || unlockpt(c->fd2) < 0)
        return -1;
    const char *name = ptsname(c->fd2);
    if (!name)
        return -1;
    setsid();
    c->fd = open(name, O_RDWR);
    return c->fd < 0 ? -1 : 0;
}

/* An attack: makes its one call and returns what it returned, errno set. */
#define ATTACK(name) static long name(struct ctx *c __attribute__((unused)))

/* After a clone that worked: the copy leaves at once. */
static long reap_clone(long r)
{
    if (r == 0)
        _exit(0);
    if (r > 0)
        waitpid((pid_t)r, NULL, __WALL);
    return r;
}

ATTACK(a_mount)
{
    /* a missing target: ENOENT if the kernel saw it */
    return syscall(SYS_mount, "none", "/nonexistent-sbx", "tmpfs", 0L, NULL);
}
ATTACK(a_umount2) { return syscall(SYS_umount2, "/nonexistent-sbx", MNT_DETACH); }
ATTACK(a_pivot_root) { return syscall(SYS_pivot_root, "/nonexistent-sbx", "/nonexistent-sbx"); }
ATTACK(a_unshare_user) { return syscall(SYS_unshare, CLONE_NEWUSER); }
ATTACK(a_unshare_ns) { return syscall(SYS_unshare, CLONE_NEWNS); }
ATTACK(a_unshare_user_ns) { return syscall(SYS_unshare, CLONE_NEWUSER | CLONE_NEWNS); }
ATTACK(a_setns) { return syscall(SYS_setns, c->fd, CLONE_NEWUSER); } /* own userns: EINVAL */
ATTACK(a_clone_user)
{
    return reap_clone(syscall(SYS_clone, CLONE_NEWUSER | SIGCHLD, 0L, NULL, NULL, 0L));
}
ATTACK(a_clone_net)
{
    long flags = CLONE_NEWUSER | CLONE_NEWNET | SIGCHLD;
    return reap_clone(syscall(SYS_clone, flags, 0L, NULL, NULL, 0L));
}

struct sbx_clone_args {
    uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls;
};
ATTACK(a_clone3)
{
    struct sbx_clone_args ca = {.flags = CLONE_NEWUSER, .exit_signal = SIGCHLD};
    return reap_clone(syscall(SYS_clone3, &ca, sizeof ca));
}
ATTACK(a_ptrace_traceme) { return syscall(SYS_ptrace, 0L /* PTRACE_TRACEME */, 0L, NULL, NULL); }
ATTACK(a_ptrace_attach)
{
    return syscall(SYS_ptrace, 16L /* PTRACE_ATTACH */, (long)c->victim, NULL, NULL);
}
ATTACK(a_vm_readv)
{
    uint64_t v = 0;
    struct iovec l = {&v, sizeof v}, r = {(void *)&victim_secret, sizeof v};
    return syscall(SYS_process_vm_readv, (long)c->victim, &l, 1L, &r, 1L, 0L);
}
ATTACK(a_vm_writev)
{
    uint64_t v = 0xbad;
    struct iovec l = {&v, sizeof v}, r = {(void *)&victim_secret, sizeof v};
    return syscall(SYS_process_vm_writev, (long)c->victim, &l, 1L, &r, 1L, 0L);
}
ATTACK(a_kexec_load) { return syscall(SYS_kexec_load, 0L, 0L, NULL, 0xdead0000L); }
ATTACK(a_kexec_file_load) { return syscall(SYS_kexec_file_load, -1L, -1L, 0L, "", 0L); }
ATTACK(a_init_module) { return syscall(SYS_init_module, NULL, 0L, ""); }
ATTACK(a_finit_module) { return syscall(SYS_finit_module, -1L, "", 0L); }
ATTACK(a_delete_module)
{
    return syscall(SYS_delete_module, "sbx_no_such_module", (long)O_NONBLOCK);
}
ATTACK(a_bpf)
{
    union bpf_attr at;
    memset(&at, 0, sizeof at);
    at.map_type = BPF_MAP_TYPE_ARRAY;
    at.key_size = 4;
    at.value_size = 4;
    at.max_entries = 1;
    return syscall(SYS_bpf, (long)BPF_MAP_CREATE, &at, (long)sizeof at);
}
ATTACK(a_perf_event_open)
{
    struct perf_event_attr pa;
    memset(&pa, 0, sizeof pa);
    pa.size = sizeof pa;
    pa.type = PERF_TYPE_SOFTWARE;
    pa.config = PERF_COUNT_SW_TASK_CLOCK;
    pa.exclude_kernel = 1;
    pa.exclude_hv = 1;
    return syscall(SYS_perf_event_open, &pa, 0L, -1L, -1L, 0L);
}
ATTACK(a_keyctl)
{
    return syscall(SYS_keyctl, (long)KEYCTL_GET_KEYRING_ID, (long)KEY_SPEC_SESSION_KEYRING, 0L);
}
ATTACK(a_add_key)
{
    return syscall(SYS_add_key, "user", "sbx-attack", "x", 1L, (long)KEY_SPEC_PROCESS_KEYRING);
}
ATTACK(a_request_key) { return syscall(SYS_request_key, "user", "sbx-no-such-key", NULL, 0L); }
ATTACK(a_userfaultfd) { return syscall(SYS_userfaultfd, (long)(O_CLOEXEC | UFFD_USER_MODE_ONLY)); }
ATTACK(a_open_by_handle_at)
{
    /* "shocker": inode 2, the root of the file system under / */
    struct { unsigned int bytes; int type; unsigned char h[8]; } fh = {8, 1, {2}};
    return syscall(SYS_open_by_handle_at, (long)c->fd, &fh, (long)O_RDONLY);
}
ATTACK(a_name_to_handle_at)
{
    struct { unsigned int bytes; int type; unsigned char h[128]; } fh = {128, 0, {0}};
    int mount_id;
    return syscall(SYS_name_to_handle_at, (long)AT_FDCWD, "/usr", &fh, &mount_id, 0L);
}
/* A wrong second magic number: EINVAL if the kernel ever saw it. */
ATTACK(a_reboot)
{
    return syscall(SYS_reboot, (long)LINUX_REBOOT_MAGIC1, 0L, (long)LINUX_REBOOT_CMD_RESTART, NULL);
}
ATTACK(a_swapon) { return syscall(SYS_swapon, "/nonexistent-sbx", 0L); }
ATTACK(a_swapoff) { return syscall(SYS_swapoff, "/nonexistent-sbx"); }
ATTACK(a_syslog) { return syscall(SYS_syslog, 3L /* READ_ALL */, c->buf, (long)sizeof c->buf); }
ATTACK(a_acct) { return syscall(SYS_acct, NULL); }
/* Out-of-range microseconds/nanoseconds: EINVAL if the kernel ever saw them. */
ATTACK(a_settimeofday)
{
    struct timeval tv = {0, 2000000};
    return syscall(SYS_settimeofday, &tv, NULL);
}
ATTACK(a_clock_settime)
{
    struct timespec ts = {0, 2000000000L};
    return syscall(SYS_clock_settime, (long)CLOCK_REALTIME, &ts);
}
ATTACK(a_adjtimex)
{
    struct timex tx;
    memset(&tx, 0, sizeof tx);
    return syscall(SYS_adjtimex, &tx);
}
ATTACK(a_iopl) { return syscall(SYS_iopl, 3L); }
ATTACK(a_ioperm)
{
    return syscall(SYS_ioperm, 0x10000L, 1L, 1L); } /* out of range: EINVAL */
ATTACK(a_personality_bsd) { return syscall(SYS_personality, (long)PER_BSD); }
ATTACK(a_personality_rie) { return syscall(SYS_personality, (long)READ_IMPLIES_EXEC); }
ATTACK(a_personality_query) { return syscall(SYS_personality, 0xffffffffL); }
ATTACK(a_personality_linux) { return syscall(SYS_personality, (long)PER_LINUX); }
ATTACK(a_io_uring_setup)
{
    struct io_uring_params p;
    memset(&p, 0, sizeof p);
    return syscall(SYS_io_uring_setup, 1L, &p);
}
static long a_sock(int dom, int type, int proto)
{
    return syscall(SYS_socket, (long)dom, (long)type, (long)proto);
}
ATTACK(a_socket_packet) { return a_sock(AF_PACKET, SOCK_RAW, htons(ETH_P_ALL)); }
ATTACK(a_socket_raw) { return a_sock(AF_INET, SOCK_RAW, IPPROTO_ICMP); }
ATTACK(a_netlink_audit) { return a_sock(AF_NETLINK, SOCK_RAW, NETLINK_AUDIT); }
ATTACK(a_netlink_sock_diag) { return a_sock(AF_NETLINK, SOCK_RAW, NETLINK_SOCK_DIAG); }
ATTACK(a_netlink_uevent) { return a_sock(AF_NETLINK, SOCK_RAW, NETLINK_KOBJECT_UEVENT); }
ATTACK(a_netlink_route) { return a_sock(AF_NETLINK, SOCK_RAW, NETLINK_ROUTE); }
ATTACK(a_socket_inet) { return a_sock(AF_INET, SOCK_STREAM, 0); }
ATTACK(a_socket_inet6) { return a_sock(AF_INET6, SOCK_DGRAM, 0); }
ATTACK(a_socket_unix) { return a_sock(AF_UNIX, SOCK_STREAM, 0); }
ATTACK(a_tiocsti) { char ch = 'x'; return syscall(SYS_ioctl, (long)c->fd, (long)TIOCSTI, &ch); }
/* The kernel takes the command as 32 bits: a filter comparing all 64 misses it. */
ATTACK(a_tiocsti_hi) { char ch = 'x'; return syscall(SYS_ioctl, (long)c->fd, 0x100005412L, &ch); }
ATTACK(a_tioclinux)
{
    char sub = 11 /* TIOCL_GETSHIFTSTATE */;
    return syscall(SYS_ioctl, (long)c->fd, (long)TIOCLINUX, &sub);
}
ATTACK(a_fsopen) { return syscall(SYS_fsopen, "tmpfs", 0L); }
ATTACK(a_fsmount)
{
    return syscall(SYS_fsmount, -1L, 0L, 0L); } /* EBADF */
ATTACK(a_fspick) { return syscall(SYS_fspick, (long)AT_FDCWD, "/nonexistent-sbx", 0L); }
ATTACK(a_open_tree)
{
    return syscall(SYS_open_tree, (long)AT_FDCWD, "/nonexistent-sbx", 1L /* OPEN_TREE_CLONE */);
}
ATTACK(a_move_mount)
{
    return syscall(SYS_move_mount, -1L, "", (long)AT_FDCWD, "/nonexistent-sbx",
                   4L /* MOVE_MOUNT_F_EMPTY_PATH */);
}
ATTACK(a_mount_setattr)
{
    return syscall(SYS_mount_setattr, (long)AT_FDCWD, "/nonexistent-sbx", 0L, NULL, 0L);
}

/* getpid through the 32-bit entry point of a 64-bit process. */
ATTACK(a_int80)
{
    long ret;
    __asm__ volatile("int $0x80" : "=a"(ret) : "a"(20L) : "memory", "cc", "r8", "r9", "r10", "r11");
    if (ret < 0 && ret > -4096) {
        errno = (int)-ret;
        return -1;
    }
    return ret;
}
ATTACK(a_x32) { return syscall(X32_BIT | SYS_getpid); }

#define DENY_EPERM {EPERM, 0, 0}
/* #nr + 4: "SYS_mount" without "SYS_" */
#define D(n, nr, fn) {n, nr, #nr + 4, EXPECT_DENY, DENY_EPERM, NULL, fn}
#define DP(n, nr, prep, fn) {n, nr, #nr + 4, EXPECT_DENY, DENY_EPERM, prep, fn}
#define A(n, nr, fn) {n, nr, #nr + 4, EXPECT_ALLOW, {0, 0, 0}, NULL, fn}
/* New user namespaces: a zero limit on them (ENOSPC) stops them as well. */
#define DU(n, nr, fn) {n, nr, #nr + 4, EXPECT_DENY, {EPERM, ENOSPC, 0}, NULL, fn}
static const struct check checks[] = {
    D("mount", SYS_mount, a_mount),
    D("umount2", SYS_umount2, a_umount2),
    D("pivot_root", SYS_pivot_root, a_pivot_root),
    DU("unshare_newuser", SYS_unshare, a_unshare_user),
    D("unshare_newns", SYS_unshare, a_unshare_ns),
    DU("unshare_newuser_newns", SYS_unshare, a_unshare_user_ns),
    DP("setns", SYS_setns, prep_userns_fd, a_setns),
    DU("clone_newuser", SYS_clone, a_clone_user),
    DU("clone_newnet", SYS_clone, a_clone_net),
    {"clone3", SYS_clone3, "clone3", EXPECT_DENY, {ENOSYS, EPERM, ENOSPC}, NULL, a_clone3},
    D("ptrace_traceme", SYS_ptrace, a_ptrace_traceme),
    DP("ptrace_attach", SYS_ptrace, prep_victim, a_ptrace_attach),
    DP("process_vm_readv", SYS_process_vm_readv, prep_victim, a_vm_readv),
    DP("process_vm_writev", SYS_process_vm_writev, prep_victim, a_vm_writev),
    D("kexec_load", SYS_kexec_load, a_kexec_load),
    D("kexec_file_load", SYS_kexec_file_load, a_kexec_file_load),
    D("init_module", SYS_init_module, a_init_module),
    D("finit_module", SYS_finit_module, a_finit_module),
    D("delete_module", SYS_delete_module, a_delete_module),
    D("bpf", SYS_bpf, a_bpf),
    D("perf_event_open", SYS_perf_event_open, a_perf_event_open),
    D("keyctl", SYS_keyctl, a_keyctl),
    D("add_key", SYS_add_key, a_add_key),
    D("request_key", SYS_request_key, a_request_key),
    D("userfaultfd", SYS_userfaultfd, a_userfaultfd),
    DP("open_by_handle_at", SYS_open_by_handle_at, prep_root_fd, a_open_by_handle_at),
    D("name_to_handle_at", SYS_name_to_handle_at, a_name_to_handle_at),
    D("reboot", SYS_reboot, a_reboot),
    D("swapon", SYS_swapon, a_swapon),
    D("swapoff", SYS_swapoff, a_swapoff),
    D("syslog", SYS_syslog, a_syslog),
    D("acct", SYS_acct, a_acct),
    D("settimeofday", SYS_settimeofday, a_settimeofday),
    D("clock_settime", SYS_clock_settime, a_clock_settime),
    D("adjtimex", SYS_adjtimex, a_adjtimex),
    D("iopl", SYS_iopl, a_iopl),
    D("ioperm", SYS_ioperm, a_ioperm),
    D("personality_bsd", SYS_personality, a_personality_bsd),
    D("personality_read_implies_exec", SYS_personality, a_personality_rie),
    D("io_uring_setup", SYS_io_uring_setup, a_io_uring_setup),
    D("socket_packet", SYS_socket, a_socket_packet),
    D("socket_raw", SYS_socket, a_socket_raw),
    D("netlink_audit", SYS_socket, a_netlink_audit),
    D("netlink_sock_diag", SYS_socket, a_netlink_sock_diag),
    D("netlink_kobject_uevent", SYS_socket, a_netlink_uevent),
    DP("tiocsti", SYS_ioctl, prep_pty, a_tiocsti),
    DP("tiocsti_high_bits", SYS_ioctl, prep_pty, a_tiocsti_hi),
    DP("tioclinux", SYS_ioctl, prep_pty, a_tioclinux),
    D("fsopen", SYS_fsopen, a_fsopen),
    D("fsmount", SYS_fsmount, a_fsmount),
    D("fspick", SYS_fspick, a_fspick),
    D("open_tree", SYS_open_tree, a_open_tree),
    D("move_mount", SYS_move_mount, a_move_mount),
    D("mount_setattr", SYS_mount_setattr, a_mount_setattr),
    {"int80_getpid", -1, "-", EXPECT_DENY, {EPERM, ENOSYS, 0}, NULL, a_int80},
    {"x32_getpid", X32_BIT | SYS_getpid, "-", EXPECT_DENY, {EPERM, ENOSYS, 0}, NULL, a_x32},
    /* What must keep working. */
    A("personality_query", SYS_personality, a_personality_query),
    A("personality_linux", SYS_personality, a_personality_linux),
    A("netlink_route", SYS_socket, a_netlink_route),
    A("socket_inet", SYS_socket, a_socket_inet),
    A("socket_inet6", SYS_socket, a_socket_inet6),
    A("socket_unix", SYS_socket, a_socket_unix),
};
#define N_CHECKS (sizeof checks / sizeof checks[0])

static const struct check *find_check(const char *name)
{
    for (size_t i = 0; i < N_CHECKS; i++)
        if (strcmp(checks[i].name, name) == 0)
            return &checks[i];
    return NULL;
}

static int in_deny_set(const struct check *k, int e)
{
    for (int i = 0; i < 3 && k->deny[i]; i++)
        if (k->deny[i] == e)
            return 1;
    return 0;
}

/* ------------------------------------------------------ the probe filter */

enum method { DIRECT, PROBE_NOTIFY, PROBE_TRACE };
static const char *const method_names[] = {
    [DIRECT] = "direct calls (no probe filter could be stacked)",
    [PROBE_NOTIFY] = "seccomp user-notification probe",
    [PROBE_TRACE] = "seccomp trace probe (checks that a filter may answer with ENOSYS: "
                    "direct calls)",
};

/* `action` (USER_NOTIF or TRACE) for system call `nr`, for any other architecture
 * (the 32-bit entry point) and for any x32 number; everything else allowed. With
 * USER_NOTIF the kernel hands back a listener. */
static int install_probe(enum method m, long nr)
{
    const uint32_t action = m == PROBE_NOTIFY ? SECCOMP_RET_USER_NOTIF : SECCOMP_RET_TRACE;
    struct sock_filter f[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0),
        BPF_STMT(BPF_RET | BPF_K, action),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, (uint32_t)X32_BIT, 2, 0),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (uint32_t)nr, 1, 0),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        BPF_STMT(BPF_RET | BPF_K, action),
    };
    struct sock_fprog prog = {.len = sizeof f / sizeof f[0], .filter = f};
    unsigned long flags = m == PROBE_NOTIFY ? SECCOMP_FILTER_FLAG_NEW_LISTENER : 0UL;
    long r = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, flags, &prog);
    /* A sandbox has set no_new_privs; outside one (trying the program on the
     * host) we set it ourselves. */
    if (r < 0 && errno == EACCES && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0)
        r = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, flags, &prog);
    return (int)r;
}

static int send_fd(int sock, int fd)
{
    char c = 'L';
    struct iovec iov = {&c, 1};
    union { struct cmsghdr h; char b[CMSG_SPACE(sizeof(int))]; } u;
    memset(&u, 0, sizeof u);
    struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1,
                       .msg_control = u.b, .msg_controllen = sizeof u.b};
    struct cmsghdr *cm = CMSG_FIRSTHDR(&m);
    cm->cmsg_level = SOL_SOCKET;
    cm->cmsg_type = SCM_RIGHTS;
    cm->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(cm), &fd, sizeof fd);
    return sendmsg(sock, &m, 0) == 1 ? 0 : -1;
}

static int recv_fd(int sock)
{
    char c;
    struct iovec iov = {&c, 1};
    union { struct cmsghdr h; char b[CMSG_SPACE(sizeof(int))]; } u;
    struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1,
                       .msg_control = u.b, .msg_controllen = sizeof u.b};
    if (recvmsg(sock, &m, 0) != 1)
        return -1;
    struct cmsghdr *cm = CMSG_FIRSTHDR(&m);
    if (!cm || cm->cmsg_type != SCM_RIGHTS)
        return -1;
    int fd;
    memcpy(&fd, CMSG_DATA(cm), sizeof fd);
    return fd;
}

/* The helper: takes the listener, and at the first notification says so on
 * `notified` and fails the call with ENOTRECOVERABLE. */
static _Noreturn void notify_helper(int sock, int notified, int res_w)
{
    prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
    close(res_w);
    struct pollfd p = {.fd = sock, .events = POLLIN};
    if (poll(&p, 1, 10000) <= 0)
        _exit(0);
    int l = recv_fd(sock);
    if (l < 0)
        _exit(0);
    struct seccomp_notif req;
    struct seccomp_notif_resp resp;
    for (;;) {
        p.fd = l;
        if (poll(&p, 1, 10000) <= 0 || (p.revents & (POLLHUP | POLLERR)))
            _exit(0);
        memset(&req, 0, sizeof req);
        if (ioctl(l, SECCOMP_IOCTL_NOTIF_RECV, &req) < 0)
            continue;
        if (write(notified, "N", 1) < 0)
            _exit(1);
        memset(&resp, 0, sizeof resp);
        resp.id = req.id;
        resp.error = -ENOTRECOVERABLE;
        ioctl(l, SECCOMP_IOCTL_NOTIF_SEND, &resp);
    }
}

struct outcome {
    long ret;
    int err;
    int probed;       /* 1: the probe filter was in place */
    int setup_errno;  /* preparation failed */
};

static int wait_timeout(pid_t pid, int *status, int ms)
{
    for (int i = 0; i < ms; i += 5) {
        pid_t r = waitpid(pid, status, WNOHANG);
        if (r == pid)
            return 0;
        if (r < 0 && errno != EINTR)
            return -1;
        usleep(5000);
    }
    kill(pid, SIGKILL);
    waitpid(pid, status, 0);
    return 1;
}

/* Runs one check in a child; prints its line; returns 1 when it went as wanted. */
static int run_check(const struct check *k, enum method probe)
{
    int res[2], note[2], sv[2];
    if (pipe2(res, O_CLOEXEC | O_NONBLOCK) < 0 || pipe2(note, O_CLOEXEC | O_NONBLOCK) < 0 ||
        socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, sv) < 0) {
        printf("%s: SETUP_FAILED pipes errno=%s\n", k->name, errstr(errno));
        return 0;
    }
    fflush(stdout);
    pid_t helper = -1;
    if (probe == PROBE_NOTIFY) {
        helper = fork();
        if (helper == 0)
            notify_helper(sv[1], note[1], res[1]);
    }
    pid_t child = fork();
    if (child == 0) {
        struct outcome o = {0};
        struct ctx c = {.victim = -1, .fd = -1, .fd2 = -1};
        if (k->prepare && k->prepare(&c) < 0) {
            o.setup_errno = errno ? errno : EINVAL;
        } else {
            if (probe) {
                int l = install_probe(probe, k->nr);
                if (l >= 0 && probe == PROBE_NOTIFY) {
                    o.probed = send_fd(sv[0], l) == 0;
                    close(l);
                } else {
                    o.probed = l >= 0;
                }
            }
            errno = 0;
            o.ret = k->attack(&c);
            o.err = o.ret < 0 ? errno : 0;
        }
        if (write(res[1], &o, sizeof o) < 0)
            _exit(1);
        _exit(0);
    }
    close(res[1]);
    int status = 0;
    int hung = wait_timeout(child, &status, 5000);
    struct outcome o;
    ssize_t got = read(res[0], &o, sizeof o);
    char n;
    int notified = read(note[0], &n, 1) == 1;
    if (helper > 0) {
        kill(helper, SIGKILL);
        waitpid(helper, NULL, 0);
    }
    close(res[0]);
    close(note[0]);
    close(note[1]);
    close(sv[0]);
    close(sv[1]);

    int good;
    if (hung) {
        printf("%s: HUNG\n", k->name);
        good = 0;
    } else if (got != (ssize_t)sizeof o) {
        if (WIFSIGNALED(status)) {
            printf("%s: KILLED signal=%s\n", k->name, signame(WTERMSIG(status)));
            good = k->expect == EXPECT_DENY;
        } else {
            printf("%s: LOST status=%#x\n", k->name, status);
            good = 0;
        }
    } else if (o.setup_errno) {
        printf("%s: SETUP_FAILED errno=%s\n", k->name, errstr(o.setup_errno));
        good = 0;
    } else {
        if (notified || (probe == PROBE_TRACE && o.probed && o.ret < 0 && o.err == ENOSYS)) {
            printf("%s: ALLOWED passed the seccomp filter\n", k->name);
            good = 0;
        } else if (o.probed && o.ret < 0) {
            /* Whatever the answer, it was the sandbox's filter that gave it. */
            printf("%s: DENIED errno=%s\n", k->name, errstr(o.err));
            good = k->expect == EXPECT_DENY;
        } else if (o.ret < 0 && in_deny_set(k, o.err)) {
            printf("%s: DENIED errno=%s\n", k->name, errstr(o.err));
            good = k->expect == EXPECT_DENY;
        } else if (o.ret < 0 && k->expect == EXPECT_ALLOW) {
            printf("%s: DENIED errno=%s\n", k->name, errstr(o.err));
            good = 0;
        } else if (o.ret < 0) {
            printf("%s: ALLOWED errno=%s (reached the kernel)\n", k->name, errstr(o.err));
            good = 0;
        } else {
            printf("%s: ALLOWED ret=%ld\n", k->name, o.ret);
            good = k->expect == EXPECT_ALLOW;
        }
    }
    fflush(stdout);
    return good;
}

/* Can a child stack a probe filter of this kind? Asked once, in a child of its
 * own: a sandbox that kills seccomp(2) would otherwise kill every probe, and every
 * check would look stopped. A listener cannot be had when the sandbox's filter
 * has one already (EBUSY): then SECCOMP_RET_TRACE, which with no tracer attached
 * fails the call with ENOSYS without running it. */
static int probe_works(enum method m)
{
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        _exit(install_probe(m, -1) >= 0 ? 0 : 1);
    }
    int status;
    if (pid < 0 || waitpid(pid, &status, 0) != pid)
        return 0;
    return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

static int cmd_syscalls(int argc, char **argv)
{
    int bad = 0;
    int ran = 0;
    enum method method = probe_works(PROBE_NOTIFY) ? PROBE_NOTIFY
                       : probe_works(PROBE_TRACE)  ? PROBE_TRACE
                                                   : DIRECT;
    printf("# method: %s\n", method_names[method]);
    for (size_t i = 0; i < N_CHECKS; i++) {
        const struct check *k = &checks[i];
        if (argc > 0) {
            int want = 0;
            for (int j = 0; j < argc; j++)
                want |= strcmp(argv[j], k->name) == 0;
            if (!want)
                continue;
        }
        /* The positive controls are plain calls: no filter of ours in the way.
         * Under the trace probe, ENOSYS means "passed": a check for which the
         * sandbox may answer ENOSYS itself is made directly. */
        enum method m = k->expect == EXPECT_ALLOW                         ? DIRECT
                      : method == PROBE_TRACE && in_deny_set(k, ENOSYS) ? DIRECT
                                                                          : method;
        bad += !run_check(k, m);
        ran++;
    }
    if (!ran) {
        fprintf(stderr, "attack syscalls: no such check\n");
        return 2;
    }
    return bad ? 1 : 0;
}

/* One check's call made right here: a seccomp kill ends the run. */
static int cmd_call(const char *name)
{
    const struct check *k = find_check(name);
    if (!k) {
        fprintf(stderr, "attack call: no check %s\n", name);
        return 2;
    }
    struct ctx c = {.victim = -1, .fd = -1, .fd2 = -1};
    if (k->prepare && k->prepare(&c) < 0) {
        printf("%s: SETUP_FAILED errno=%s\n", name, errstr(errno));
        return 1;
    }
    fflush(stdout);
    errno = 0;
    long r = k->attack(&c);
    int e = errno;
    if (r < 0 && in_deny_set(k, e)) {
        printf("%s: DENIED errno=%s\n", name, errstr(e));
        return k->expect == EXPECT_DENY ? 0 : 1;
    }
    if (r < 0 && k->expect == EXPECT_ALLOW) {
        printf("%s: DENIED errno=%s\n", name, errstr(e));
        return 1;
    }
    if (r < 0) {
        printf("%s: ALLOWED errno=%s (reached the kernel)\n", name, errstr(e));
        return 1;
    }
    printf("%s: ALLOWED ret=%ld\n", name, r);
    return k->expect == EXPECT_ALLOW ? 0 : 1;
}

/* ------------------------------------------------------ file system */

/* open MODE:PATH...: r w rw creat path dir readlink exec stat */
static int cmd_open(int argc, char **argv)
{
    int bad = 0;
    for (int i = 0; i < argc; i++) {
        char *spec = argv[i];
        char *colon = strchr(spec, ':');
        if (!colon) {
            fprintf(stderr, "attack open: MODE:PATH expected, got %s\n", spec);
            return 2;
        }
        *colon = '\0';
        const char *mode = spec, *path = colon + 1;
        int fd = -1, e = 0;
        struct stat st;
        char what[300] = "";
        if (strcmp(mode, "dir") == 0) {
            DIR *d = opendir(path);
            if (!d) {
                e = errno;
            } else {
                int n = 0;
                struct dirent *de;
                while ((de = readdir(d)))
                    n += de->d_name[0] != '.';
                closedir(d);
                snprintf(what, sizeof what, "entries=%d", n);
            }
        } else if (strcmp(mode, "readlink") == 0) {
            char t[256];
            ssize_t n = readlink(path, t, sizeof t - 1);
            if (n < 0) {
                e = errno;
            } else {
                t[n] = '\0';
                snprintf(what, sizeof what, "target=%s", t);
            }
        } else if (strcmp(mode, "stat") == 0) {
            if (lstat(path, &st) < 0)
                e = errno;
            else
                snprintf(what, sizeof what, "kind=%s", kind_of(st.st_mode, st.st_rdev));
        } else if (strcmp(mode, "exec") == 0) {
            int p[2];
            if (pipe2(p, O_CLOEXEC) < 0)
                return 2;
            fflush(stdout);
            pid_t pid = fork();
            if (pid == 0) {
                int null = open("/dev/null", O_RDWR);
                if (null >= 0) {
                    dup2(null, 0);
                    dup2(null, 1);
                    dup2(null, 2);
                }
                char *av[] = {(char *)path, "--help", NULL};
                char *ev[] = {NULL};
                execve(path, av, ev);
                int x = errno;
                if (write(p[1], &x, sizeof x) < 0)
                    _exit(126);
                _exit(127);
            }
            close(p[1]);
            if (read(p[0], &e, sizeof e) != (ssize_t)sizeof e)
                e = 0;
            close(p[0]);
            waitpid(pid, NULL, 0);
            if (!e)
                snprintf(what, sizeof what, "executed");
        } else {
            int flags = O_CLOEXEC | O_NOCTTY | O_NONBLOCK;
            if (strcmp(mode, "r") == 0)
                flags |= O_RDONLY;
            else if (strcmp(mode, "w") == 0)
                flags |= O_WRONLY;
            else if (strcmp(mode, "rw") == 0)
                flags |= O_RDWR;
            else if (strcmp(mode, "creat") == 0)
                flags |= O_WRONLY | O_CREAT | O_EXCL;
            else if (strcmp(mode, "path") == 0)
                flags = O_PATH | O_CLOEXEC;
            else {
                fprintf(stderr, "attack open: unknown mode %s\n", mode);
                return 2;
            }
            fd = open(path, flags, 0644);
            if (fd < 0) {
                e = errno;
            } else {
                /* Opened: say what it is, read a little when reading; never write. */
                if (fstat(fd, &st) == 0)
                    snprintf(what, sizeof what, "kind=%s", kind_of(st.st_mode, st.st_rdev));
                if (strcmp(mode, "r") == 0 && S_ISREG(st.st_mode)) {
                    char b[32];
                    ssize_t n = read(fd, b, sizeof b);
                    if (n < 0)
                        snprintf(what + strlen(what), sizeof what - strlen(what),
                                 " read-errno=%s", errstr(errno));
                    else
                        snprintf(what + strlen(what), sizeof what - strlen(what), " read=%zd", n);
                }
                close(fd);
                if (flags & O_CREAT)
                    unlink(path);
            }
        }
        if (e)
            printf("%s:%s: DENIED errno=%s\n", mode, path, errstr(e));
        else
            printf("%s:%s: ALLOWED %s\n", mode, path, what);
        bad += !e;
    }
    return bad ? 1 : 0;
}

/* mknod PATH...: a character node like /dev/mem (1,1) at each path. */
static int cmd_mknod(int argc, char **argv)
{
    int bad = 0;
    for (int i = 0; i < argc; i++) {
        if (mknod(argv[i], S_IFCHR | 0666, makedev(1, 1)) < 0) {
            printf("mknod:%s: DENIED errno=%s\n", argv[i], errstr(errno));
        } else {
            printf("mknod:%s: ALLOWED\n", argv[i]);
            unlink(argv[i]);
            bad++;
        }
    }
    return bad ? 1 : 0;
}

/* ------------------------------------------------------ processes, ids */

/* fds: the open descriptors but the one listing them, then what 0-2 are. */
static int cmd_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    if (!d) {
        printf("fds: ERROR errno=%s\n", errstr(errno));
        return 2;
    }
    int self = dirfd(d);
    int fds[64], n = 0;
    struct dirent *de;
    while ((de = readdir(d)))
        if (de->d_name[0] != '.' && atoi(de->d_name) != self && n < 64)
            fds[n++] = atoi(de->d_name);
    closedir(d);
    for (int i = 1; i < n; i++)
        for (int j = i; j > 0 && fds[j - 1] > fds[j]; j--) {
            int t = fds[j];
            fds[j] = fds[j - 1];
            fds[j - 1] = t;
        }
    printf("fds:");
    for (int i = 0; i < n; i++)
        printf(" %d", fds[i]);
    printf("\nstdio:");
    for (int i = 0; i < 3; i++) {
        char p[32], t[128];
        snprintf(p, sizeof p, "/proc/self/fd/%d", i);
        ssize_t k = readlink(p, t, sizeof t - 1);
        t[k < 0 ? 0 : k] = '\0';
        char *br = strchr(t, '[');
        if (br)
            *br = '\0';
        printf(" %d=%s", i, k < 0 ? "closed" : t);
    }
    printf("\n");
    return n == 3 && fds[0] == 0 && fds[1] == 1 && fds[2] == 2 ? 0 : 1;
}

/* writefd N...: write to descriptors the caller may have leaked. */
static int cmd_writefd(int argc, char **argv)
{
    int bad = 0;
    for (int i = 0; i < argc; i++) {
        int fd = atoi(argv[i]);
        if (write(fd, "LEAKED\n", 7) < 0) {
            printf("writefd:%d: DENIED errno=%s\n", fd, errstr(errno));
        } else {
            printf("writefd:%d: ALLOWED\n", fd);
            bad++;
        }
    }
    return bad ? 1 : 0;
}

static int read_status(const char *key, char *out, size_t size)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    size_t kl = strlen(key);
    out[0] = '\0';
    if (!f)
        return -1;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, key, kl) == 0 && line[kl] == ':') {
            char *v = line + kl + 1;
            while (*v == ' ' || *v == '\t')
                v++;
            v[strcspn(v, "\n")] = '\0';
            snprintf(out, size, "%s", v);
            break;
        }
    fclose(f);
    return 0;
}

/* ids: who we are, after whatever exec brought us here (a setuid copy...). */
static int cmd_ids(void)
{
    uid_t r, e, s;
    gid_t gr, ge, gs;
    getresuid(&r, &e, &s);
    getresgid(&gr, &ge, &gs);
    char eff[32], prm[32], nnp[8];
    read_status("CapEff", eff, sizeof eff);
    read_status("CapPrm", prm, sizeof prm);
    read_status("NoNewPrivs", nnp, sizeof nnp);
    printf("ids: uid=%u,%u,%u gid=%u,%u,%u capeff=%s capprm=%s nnp=%s\n", r, e, s, gr, ge, gs,
           eff, prm, nnp);
    return e == 0 || strcmp(eff, "0000000000000000") != 0 ? 1 : 0;
}

/* setid: ways back to root or to capabilities. */
static int cmd_setid(void)
{
    int bad = 0;
    struct { const char *name; long r; } t[7];
    int n = 0;
    errno = 0;
#define TRY(label, expr)                                         \
    do {                                                         \
        long rr = (expr);                                        \
        t[n].name = label;                                       \
        t[n].r = rr < 0 ? -errno : rr;                           \
        n++;                                                     \
    } while (0)
    TRY("setuid0", syscall(SYS_setuid, 0L));
    TRY("setresuid0", syscall(SYS_setresuid, 0L, 0L, 0L));
    TRY("setgid0", syscall(SYS_setgid, 0L));
    TRY("setgroups0", syscall(SYS_setgroups, 1L, (gid_t[]){0}));
    {
        struct __user_cap_header_struct h = {_LINUX_CAPABILITY_VERSION_3, 0};
        struct __user_cap_data_struct d[2];
        memset(d, 0xff, sizeof d);
        TRY("capset_all", syscall(SYS_capset, &h, d));
    }
    TRY("ambient_raise", prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, 21L /* SYS_ADMIN */, 0L, 0L));
    TRY("securebits_clear", prctl(PR_SET_SECUREBITS, 0L, 0L, 0L, 0L));
#undef TRY
    for (int i = 0; i < n; i++) {
        if (t[i].r < 0) {
            printf("%s: DENIED errno=%s\n", t[i].name, errstr((int)-t[i].r));
        } else {
            printf("%s: ALLOWED ret=%ld\n", t[i].name, t[i].r);
            bad++;
        }
    }
    return bad ? 1 : 0;
}

/* keyring: the session keyring we inherited, and every key in it. */
static int cmd_keyring(void)
{
    int32_t ids[64];
    long n = syscall(SYS_keyctl, (long)KEYCTL_READ, (long)KEY_SPEC_SESSION_KEYRING, ids,
                     (long)sizeof ids);
    if (n < 0) {
        printf("keyring: DENIED errno=%s\n", errstr(errno));
        return 0;
    }
    int leaked = 0;
    printf("keyring: ALLOWED %ld keys\n", n / 4);
    for (long i = 0; i < n / 4 && i < 64; i++) {
        char desc[256], data[256];
        long d = syscall(SYS_keyctl, (long)KEYCTL_DESCRIBE, (long)ids[i], desc,
                         (long)sizeof desc - 1);
        desc[d < 0 ? 0 : (d < (long)sizeof desc ? d : (long)sizeof desc - 1)] = '\0';
        long r = syscall(SYS_keyctl, (long)KEYCTL_READ, (long)ids[i], data, (long)sizeof data - 1);
        if (r >= 0) {
            data[r < (long)sizeof data ? r : (long)sizeof data - 1] = '\0';
            for (char *p = data; *p; p++)
                if (*p < ' ' || *p > '~')
                    *p = '.';
            printf("key %d: %s data=%s\n", ids[i], desc, data);
            leaked++;
        } else {
            printf("key %d: %s read-errno=%s\n", ids[i], desc, errstr(errno));
        }
    }
    return leaked ? 1 : 0;
}

/* tty [TEXT]: open the controlling terminal; with TEXT, push it into its input. */
static int cmd_tty(int argc, char **argv)
{
    int fd = open("/dev/tty", O_RDWR | O_CLOEXEC);
    if (fd < 0) {
        printf("tty: DENIED errno=%s\n", errstr(errno));
        return 0;
    }
    printf("tty: ALLOWED opened the controlling terminal\n");
    if (argc > 0) {
        int pushed = 0;
        for (const char *p = argv[0]; *p; p++)
            pushed += syscall(SYS_ioctl, (long)fd, (long)TIOCSTI, p) == 0;
        char nl = '\n';
        pushed += syscall(SYS_ioctl, (long)fd, (long)TIOCSTI, &nl) == 0;
        printf("tiocsti: %s %d bytes\n", pushed ? "INJECTED" : "DENIED", pushed);
    }
    return 1;
}

/* connect ADDR PORT: TCP, two seconds. ADDR @NAME: abstract unix socket. */
static int cmd_connect(const char *addr, const char *port)
{
    int fd;
    long r;
    if (addr[0] == '@') {
        struct sockaddr_un su = {.sun_family = AF_UNIX};
        size_t len = strlen(addr);
        if (len > sizeof su.sun_path)
            return 2;
        memcpy(su.sun_path + 1, addr + 1, len - 1); /* sun_path[0] = 0: abstract */
        fd = socket(AF_UNIX, SOCK_STREAM, 0);
        r = connect(fd, (struct sockaddr *)&su,
                    (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len));
    } else {
        struct sockaddr_in si = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(port))};
        if (inet_pton(AF_INET, addr, &si.sin_addr) != 1)
            return 2;
        fd = socket(AF_INET, SOCK_STREAM, 0);
        struct timeval tv = {2, 0};
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
        r = connect(fd, (struct sockaddr *)&si, sizeof si);
    }
    if (fd < 0 || r < 0) {
        printf("connect:%s: DENIED errno=%s\n", addr, errstr(errno));
        return 0;
    }
    printf("connect:%s: ALLOWED connected\n", addr);
    return 1;
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc < 2) {
        fprintf(stderr, "usage: attack hello|syscalls [NAME...]|call NAME|open MODE:PATH...|"
                        "mknod PATH...|fds|writefd N...|ids|setid|keyring|tty [TEXT]|"
                        "connect ADDR PORT|list\n");
        return 2;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "hello") == 0) {
        printf("hello\n");
        return 0;
    }
    if (strcmp(cmd, "list") == 0) {
        for (size_t i = 0; i < N_CHECKS; i++)
            printf("%s %s %s\n", checks[i].name, checks[i].expect == EXPECT_DENY ? "deny" : "allow",
                   checks[i].sysname);
        return 0;
    }
    if (strcmp(cmd, "syscalls") == 0)
        return cmd_syscalls(argc - 2, argv + 2);
    if (strcmp(cmd, "call") == 0 && argc == 3)
        return cmd_call(argv[2]);
    if (strcmp(cmd, "open") == 0)
        return cmd_open(argc - 2, argv + 2);
    if (strcmp(cmd, "mknod") == 0)
        return cmd_mknod(argc - 2, argv + 2);
    if (strcmp(cmd, "fds") == 0)
        return cmd_fds();
    if (strcmp(cmd, "writefd") == 0)
        return cmd_writefd(argc - 2, argv + 2);
    if (strcmp(cmd, "ids") == 0)
        return cmd_ids();
    if (strcmp(cmd, "setid") == 0)
        return cmd_setid();
    if (strcmp(cmd, "keyring") == 0)
        return cmd_keyring();
    if (strcmp(cmd, "tty") == 0)
        return cmd_tty(argc - 2, argv + 2);
    if (strcmp(cmd, "connect") == 0 && argc == 4)
        return cmd_connect(argv[2], argv[3]);
    fprintf(stderr, "attack: unknown command %s\n", cmd);
    return 2;
}
