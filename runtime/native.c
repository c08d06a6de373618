/* The native backend, parent side: clone into fresh namespaces, write the id maps,
 * put the child in its cgroup while it builds its root (or, with namespaces
 * made ahead, hand it everything at once), then supervise. */
#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/sched.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/capability.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/pidfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cgroup.h"
#include "child.h"
#include "cleanup.h"
#include "idmap.h"
#include "mountns.h"
#include "netns.h"
#include "sandbox-internal.h"
#include "sys.h"

enum { W_STDOUT, W_STDERR, W_MSG, W_PIDFD, W_STDIN, W_COUNT };

static const char *const default_env[] = {
    "PATH=/usr/local/bin:/usr/bin:/bin:/usr/local/sbin:/usr/sbin:/sbin",
    "HOME=/tmp",
    "LANG=C.UTF-8",
    "USER=sandbox",
    NULL,
};

struct native {
    /* What pid 1 reads, ours until it is reaped: with CLONE_VM it reads it
     * here, while we go on (see start_child). */
    struct child_args ca;
    void *stacks;              /* pid 1's and the command's, with guard pages */
    char **argv;               /* the spec's, copied */
    struct sock_fprog prog;    /* the spec's filter, copied */
    bool shares_memory;        /* pid 1 is cloned with CLONE_VM */
    rt_mount_plan plan;
    int *src_fds;
    bool sources_open;         /* src_fds are ours (opened for the bare namespace) */
    char **envp;               /* owned copies when the spec gives env */
    pid_t pid;
    struct rt_watch w[W_COUNT];
    bool open[W_COUNT];
    char *stdin_data;
    size_t stdin_len, stdin_off;
    int sync_fd;               /* held open for the whole run (see child.c) */
    rt_cgroup *cg;
    rt_usage group_usage;      /* the cgroup's figures, once read */
    bool group_read, group_oom;
    rt_limits limits;
    uint64_t start_ns;
    uint64_t wall_deadline_ns, cpu_check_ns;
    rt_status kill_reason;
    bool killed, exec_ok, have_exit, reaped;
    int exit_status, init_status;
    struct rusage ru;
    char *error;               /* the first failure reported by the child */
    char *start_error;         /* ours; second to the child's, which is the cause */
    char syscall[64];          /* named by a seccomp notification */
};

static struct native *impl(rt_sandbox *sb)
{
    return sb->impl;
}

static void set_error(struct native *n, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void set_error(struct native *n, const char *fmt, ...)
{
    if (n->error)
        return;
    va_list ap;
    va_start(ap, fmt);
    if (vasprintf(&n->error, fmt, ap) < 0)
        n->error = NULL;
    va_end(ap);
}

static void add_rlimit(struct child_args *ca, int res, uint64_t soft, uint64_t hard, int only_if)
{
    ca->rlimits[ca->n_rlimits++] = (struct child_rlimit){res, {soft, hard}, only_if};
}

/* RLIMIT_CPU backs up the whole-tree accounting per process; the others have no
 * cgroup equivalent, or stand in when the cgroup cannot take a limit. */
static void plan_rlimits(struct child_args *ca, const rt_limits *l)
{
    uint64_t cpu_s = (l->cpu_ms + 999) / 1000;
    add_rlimit(ca, RLIMIT_CPU, cpu_s, cpu_s + 1, 0);
    add_rlimit(ca, RLIMIT_FSIZE, l->file_bytes, l->file_bytes, 0);
    add_rlimit(ca, RLIMIT_NOFILE, l->open_files, l->open_files, 0);
    add_rlimit(ca, RLIMIT_CORE, 0, 0, 0);
    add_rlimit(ca, RLIMIT_NPROC, l->pids, l->pids, CHILD_FALLBACK_PIDS);
    add_rlimit(ca, RLIMIT_AS, l->memory_bytes, l->memory_bytes, CHILD_FALLBACK_MEMORY);
}

static bool same_key(const char *a, const char *b)
{
    size_t ka = strcspn(a, "="), kb = strcspn(b, "=");
    return ka == kb && strncmp(a, b, ka) == 0;
}

/* The sandbox never sees the caller's environment: defaults, then the spec's
 * entries, a later one replacing an earlier one of the same name. */
static int build_env(struct native *n, const rt_spec *spec, const char **path, rt_error *err)
{
    size_t nd = sizeof default_env / sizeof *default_env - 1, ns = 0, count = 0;
    while (spec->env && spec->env[ns])
        ns++;
    n->envp = calloc(nd + ns + 1, sizeof *n->envp);
    if (!n->envp)
        return rt_error_set(err, errno, "copying the environment");
    for (size_t i = 0; i < nd + ns; i++) {
        const char *e = i < nd ? default_env[i] : spec->env[i - nd];
        size_t j = 0;
        while (j < count && !same_key(n->envp[j], e))
            j++;
        char *copy = strdup(e);
        if (!copy)
            return rt_error_set(err, errno, "copying the environment");
        if (j < count)
            free(n->envp[j]);
        n->envp[j] = copy;
        if (j == count)
            count++;
    }
    *path = "";
    for (size_t i = 0; i < count; i++)
        if (strncmp(n->envp[i], "PATH=", 5) == 0)
            *path = n->envp[i] + 5;
    return 0;
}

static int set_nonblock(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    return fl < 0 ? -1 : fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

static int open_stdin(struct native *n, const rt_spec *spec, int *child_end, rt_error *err)
{
    if (spec->stdin_file) {
        *child_end = open(spec->stdin_file, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (*child_end < 0)
            return rt_error_set(err, errno, "stdin file \"%s\"", spec->stdin_file);
        return 0;
    }
    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0)
        return rt_error_set(err, errno, "creating the stdin pipe");
    *child_end = p[0];
    if (!spec->stdin_len) {
        close(p[1]);
        return 0;
    }
    n->stdin_data = malloc(spec->stdin_len);
    if (!n->stdin_data || set_nonblock(p[1]) < 0) {
        close(p[1]);
        return rt_error_set(err, errno, "preparing stdin");
    }
    memcpy(n->stdin_data, spec->stdin_data, spec->stdin_len);
    n->stdin_len = spec->stdin_len;
    n->w[W_STDIN].fd = p[1];
    return 0;
}

/* One stage's byte to the child, with fds (SCM_RIGHTS) when there are any. A
 * child that failed its setup is gone: EPIPE, and no SIGPIPE for the caller. */
static int send_stage(int sync, unsigned char c, const int *fds, int n_fds, rt_error *err)
{
    union {
        char buf[CMSG_SPACE(sizeof(int) * CHILD_GO_MAX_FDS)];
        struct cmsghdr align;
    } u;
    struct iovec iov = {.iov_base = &c, .iov_len = 1};
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
    if (n_fds > 0) {
        mh.msg_control = u.buf;
        mh.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)n_fds);
        struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
        cm->cmsg_level = SOL_SOCKET;
        cm->cmsg_type = SCM_RIGHTS;
        cm->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)n_fds);
        memcpy(CMSG_DATA(cm), fds, sizeof(int) * (size_t)n_fds);
    }
    if (sendmsg(sync, &mh, MSG_NOSIGNAL) != 1)
        return rt_error_set(err, errno, "signalling the sandbox");
    return 0;
}

/* The go-ahead's fds: the cgroup's, then with late_userns the namespaces made
 * ahead (see child.h). */
struct go {
    int fds[CHILD_GO_MAX_FDS];
    int n_fds, n_join;
    bool self_moves;           /* pid 1 moves itself (cgroup v1) */
    bool command_joins;        /* the last of the n_join is the command's */
};

static void close_go(struct go *go)
{
    for (int i = 0; i < go->n_fds; i++)
        close(go->fds[i]);
    go->n_fds = 0;
}

/* The namespaces made ahead (sbx run's thread), taken after the clone, once
 * the group is made (the thread finishes while the child builds its root):
 * pid 1 gets them with its go-ahead, and no round trip for its id maps. */
static int take_namespaces(struct go *go, rt_error *err)
{
    int net, user;
    if (rt_netns_take(&net, &user, err) < 0)
        return rt_error_wrap(err, "namespaces made ahead");
    go->fds[go->n_fds++] = net;
    go->fds[go->n_fds++] = user;
    return 0;
}

/* The group with the spec's limits (what it could not take named in
 * `enforced`) and, on cgroup v1, the fds pid 1 joins it and later leaves it
 * with (no global lock, see cgroup.h); on v2 the caller moves pid 1 in. A pid
 * 1 that shares our memory stays out of the memory controller's group, which
 * the command joins before its exec (see PID1_SHARES_MEMORY). */
static int make_group(struct native *n, rt_enforced *enforced, struct go *go, rt_error *err)
{
    *enforced = (rt_enforced){0};
    int version = rt_cgroup_detect()->version;
    if (version == RT_CGROUP_NONE)
        return 0;
    if (rt_cgroup_create(&n->limits, &n->cg, enforced, err) < 0)
        return rt_error_wrap(err, "cgroup");
    go->self_moves = version == RT_CGROUP_V1;
    int *fds = go->fds + go->n_fds;
    int n_join = rt_cgroup_self_join_fds(n->cg, n->shares_memory, fds, err);
    if (n_join < 0)
        return rt_error_wrap(err, "cgroup");
    go->n_fds += n_join;
    int got = n->shares_memory ? rt_cgroup_memory_join_fd(n->cg, fds + n_join, err) : 0;
    if (got < 0)
        return rt_error_wrap(err, "cgroup");
    go->n_fds += got;
    go->command_joins = got > 0;
    int n_leave = n_join > 0 ? rt_cgroup_self_leave_fds(n->shares_memory, fds + n_join + got, err)
                             : 0;
    if (n_leave < 0)
        return rt_error_wrap(err, "cgroup");
    go->n_fds += n_leave;
    go->n_join = n_join + got;
    return 0;
}

struct pipes {
    int sync[2], msg[2], out[2], err[2], in;
};

static void close_pipes(struct pipes *p)
{
    int *fds[] = {&p->sync[0], &p->sync[1], &p->msg[0], &p->msg[1], &p->out[0],
                  &p->out[1], &p->err[0], &p->err[1], &p->in};
    for (size_t i = 0; i < sizeof fds / sizeof *fds; i++)
        if (*fds[i] >= 0) {
            close(*fds[i]);
            *fds[i] = -1;
        }
}

static int make_pipes(struct native *n, const rt_spec *spec, struct pipes *p, rt_error *err)
{
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, p->sync) < 0 ||
        pipe2(p->msg, O_CLOEXEC) < 0 ||
        pipe2(p->out, O_CLOEXEC) < 0 || pipe2(p->err, O_CLOEXEC) < 0)
        return rt_error_set(err, errno, "creating pipes");
    if (set_nonblock(p->out[0]) < 0 || set_nonblock(p->err[0]) < 0 || set_nonblock(p->msg[0]) < 0)
        return rt_error_set(err, errno, "setting pipes non-blocking");
    return open_stdin(n, spec, &p->in, err);
}

/* pid 1's stack (the mount plan's path buffers, a few deep), then the
 * command's until it execs (exec_command's path buffer), each above a guard
 * page. */
#define PID1_STACK_SIZE (128 * 1024)
#define COMMAND_STACK_SIZE (64 * 1024)
#define GUARD_SIZE 4096
#define STACKS_SIZE (GUARD_SIZE + PID1_STACK_SIZE + GUARD_SIZE + COMMAND_STACK_SIZE)

static int map_stacks(struct native *n, rt_error *err)
{
    void *m = mmap(NULL, STACKS_SIZE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
    if (m == MAP_FAILED)
        return rt_error_set(err, errno, "mapping the sandbox's stacks");
    n->stacks = m;
    char *p = m;
    if (mprotect(p + GUARD_SIZE, PID1_STACK_SIZE, PROT_READ | PROT_WRITE) < 0 ||
        mprotect(p + 2 * GUARD_SIZE + PID1_STACK_SIZE, COMMAND_STACK_SIZE,
                 PROT_READ | PROT_WRITE) < 0)
        return rt_error_set(err, errno, "mapping the sandbox's stacks");
    return 0;
}

static void *pid1_stack_top(const struct native *n)
{
    return (char *)n->stacks + GUARD_SIZE + PID1_STACK_SIZE;
}

static void *command_stack_top(const struct native *n)
{
    return (char *)n->stacks + STACKS_SIZE;
}

static int pid1_main(void *ca)
{
    rt_child_main(ca);
}

/* A privileged caller's pid 1 shares its memory (CLONE_VM): no page tables to
 * copy, no copy-on-write faults on either side, nor the TLB shootdowns they
 * cost while our threads run. It reads n->ca in place, on a stack of its own,
 * and runs on raw system calls (sys.h); it makes our memory map non-dumpable
 * (child.c), so that only the host's root may read it, as it does its copy
 * otherwise. Processes that share a memory map are one unit for the OOM
 * killer, scored by that map's size (ours): pid 1 stays out of the sandbox's
 * memory cgroup, which the command joins itself until its exec, when the
 * kernel never picks a vfork child sharing its parent's memory. Not shared:
 * - an unprivileged caller's: we write its id maps (idmap.h), and a
 *   non-dumpable process's /proc files would refuse them to a caller that is
 *   not root;
 * - AddressSanitizer's: its bookkeeping (shadow memory, the thread's stack
 *   bounds) would be the caller's;
 * - on cgroup v2, where a process leaves a group only for another, and pid 1
 *   would have none but the caller's to stay in;
 * - when the sandboxes' memory parent group has a limit: an OOM there scans
 *   every sandbox, and may come while a command is past the point where the
 *   OOM killer spares it (its exec swapping memory maps, a failed exec's exit);
 * - with vm.oom_kill_allocating_task = 1, which kills whoever allocates;
 * - with fs.suid_dumpable = 1: every pid 1's uid change makes the shared
 *   map dumpable again, while another's command may already run;
 * - for a profile that keeps capabilities: pid 1 blanks its copy of our
 *   arguments, where the sandbox could mount a /proc without hidepid. */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__) || \
    defined(__SANITIZE_HWADDRESS__)
#define PID1_SHARES_MEMORY false
#else
#define PID1_SHARES_MEMORY true
#endif

/* A sysctl's first digit; -1 when unreadable. */
static int read_sysctl_digit(const char *path)
{
    char c = '?';
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t r = read(fd, &c, 1);
    close(fd);
    return r == 1 && c >= '0' && c <= '9' ? c - '0' : -1;
}

static bool pid1_shares_memory(const rt_spec *spec, bool privileged)
{
    const rt_cgroup_info *cg = rt_cgroup_detect();
    return PID1_SHARES_MEMORY && privileged && !spec->keep_caps &&
           cg->version != RT_CGROUP_V2 && !cg->memory_parent_limited &&
           read_sysctl_digit("/proc/sys/fs/suid_dumpable") == 0 &&
           read_sysctl_digit("/proc/sys/vm/oom_kill_allocating_task") == 0;
}

/* late_userns: the child enters the user and network namespaces made ahead
 * after its root (see rt_child_main). */
static pid_t clone_child(struct native *n, int *pidfd, bool late_userns)
{
    int flags = CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_PIDFD |
                (late_userns ? 0 : CLONE_NEWUSER | CLONE_NEWNET);
    if (n->shares_memory) {
        /* Until pid 1 resets them, our handlers would run there, on our memory:
         * every signal blocked, glibc's own too (sigfillset leaves them out). */
        uint64_t all = ~0ull, old;
        rt_sys(SYS_rt_sigprocmask, SIG_SETMASK, &all, &old, sizeof all);
        pid_t pid = clone(pid1_main, pid1_stack_top(n), flags | CLONE_VM | SIGCHLD, &n->ca, pidfd);
        int e = errno;
        rt_sys(SYS_rt_sigprocmask, SIG_SETMASK, &old, NULL, sizeof old);
        errno = e;
        return pid;
    }
    struct clone_args args = {.flags = (uint64_t)flags, .pidfd = (uint64_t)(uintptr_t)pidfd,
                              .exit_signal = SIGCHLD};
    pid_t pid = (pid_t)syscall(SYS_clone3, &args, sizeof args);
    if (pid == 0)
        rt_child_main(&n->ca);
    return pid;
}

static int copy_argv(struct native *n, char *const *argv, rt_error *err)
{
    size_t count = 0;
    while (argv[count])
        count++;
    if (!(n->argv = calloc(count + 1, sizeof *n->argv)))
        return rt_error_set(err, errno, "copying the command");
    for (size_t i = 0; i < count; i++)
        if (!(n->argv[i] = strdup(argv[i])))
            return rt_error_set(err, errno, "copying the command");
    return 0;
}

static int copy_program(struct native *n, const struct sock_fprog *prog, rt_error *err)
{
    size_t bytes = prog->len * sizeof *prog->filter;
    struct sock_filter *f = malloc(bytes ? bytes : 1);
    if (!f)
        return rt_error_set(err, errno, "copying the seccomp filter");
    memcpy(f, prog->filter, bytes);
    n->prog = (struct sock_fprog){.len = prog->len, .filter = f};
    return 0;
}

/* capset(2)'s sets: `caps` in the permitted and effective sets and `inh` in
 * the inheritable one (which cannot gain what the bounding set lost), built
 * with libcap, which knows the kernel's capabilities. */
static int make_caps(uint64_t caps, uint64_t inh,
                     struct __user_cap_data_struct out[_LINUX_CAPABILITY_U32S_3], rt_error *err)
{
    cap_t c = cap_init();
    if (!c)
        return rt_error_set(err, errno, "cap_init");
    for (int cap = 0; cap < 64; cap++) {
        cap_value_t v = cap;
        if (!(caps >> cap & 1))
            continue;
        if (cap_set_flag(c, CAP_PERMITTED, 1, &v, CAP_SET) < 0 ||
            cap_set_flag(c, CAP_EFFECTIVE, 1, &v, CAP_SET) < 0 ||
            ((inh >> cap & 1) && cap_set_flag(c, CAP_INHERITABLE, 1, &v, CAP_SET) < 0)) {
            cap_free(c);
            return rt_error_set(err, errno, "capability %d", cap);
        }
    }
    static const cap_flag_t sets[] = {CAP_EFFECTIVE, CAP_PERMITTED, CAP_INHERITABLE};
    memset(out, 0, sizeof *out * _LINUX_CAPABILITY_U32S_3);
    for (int cap = 0; cap < 64; cap++) {
        for (int s = 0; s < 3; s++) {
            cap_flag_value_t v = CAP_CLEAR;
            if (((caps | inh) >> cap & 1) && cap_get_flag(c, (cap_value_t)cap, sets[s], &v) < 0) {
                cap_free(c);
                return rt_error_set(err, errno, "capability %d", cap);
            }
            __u32 *word = s == 0   ? &out[cap / 32].effective
                          : s == 1 ? &out[cap / 32].permitted
                                   : &out[cap / 32].inheritable;
            if (v == CAP_SET)
                *word |= 1u << (cap % 32);
        }
    }
    cap_free(c);
    return 0;
}

/* Everything that may allocate happens here, before clone. */
static int prepare(struct native *n, const rt_spec *spec, bool privileged, bool late_userns,
                   rt_error *err)
{
    struct child_args *ca = &n->ca;
    if (rt_mount_plan_build(spec, late_userns, &n->plan, err) < 0)
        return -1;
    n->src_fds = calloc(n->plan.n ? n->plan.n : 1, sizeof *n->src_fds);
    if (!n->src_fds)
        return rt_error_set(err, errno, "allocating");
    const char *path = "";
    if (build_env(n, spec, &path, err) < 0)
        return -1;
    if (copy_argv(n, spec->argv, err) < 0 || map_stacks(n, err) < 0 ||
        (spec->seccomp && copy_program(n, rt_seccomp_program(spec->seccomp), err) < 0))
        return -1;
    *ca = (struct child_args){
        .plan = &n->plan,
        .src_fds = n->src_fds,
        .argv = n->argv,
        .envp = n->envp,
        .path = path,
        .switch_user = privileged,
        .blank_cmdline = !n->shares_memory,
        .late_userns = late_userns,
        .keep_caps = spec->keep_caps,
        .stack = command_stack_top(n),
    };
    if (spec->seccomp) {
        ca->seccomp = &n->prog;
        ca->seccomp_flags = rt_seccomp_flags(spec->seccomp);
    }
    if (make_caps(spec->keep_caps | 1ull << CAP_SETPCAP, spec->keep_caps, ca->caps_setup, err) < 0 ||
        make_caps(spec->keep_caps, spec->keep_caps, ca->caps_final, err) < 0)
        return -1;
    plan_rlimits(ca, &spec->limits);
    return 0;
}

/* The clone from the bare mount namespace (mountns.h): the bind sources are
 * opened here, in ours, where they are; the child's namespace is then a copy
 * of two mounts where ours may hold thousands. */
static int open_sources(struct native *n, rt_error *err)
{
    struct mount_failure mf;
    n->sources_open = true;
    if (rt_mount_open_sources(&n->plan, true, n->src_fds, &mf) < 0)
        return rt_error_set(err, mf.err, "%s \"%s\"", mf.step, mf.path);
    return 0;
}

/* Ours: the child has its own copies. The numbers stay: pid 1 may be reading
 * them, in our memory. */
static void close_sources(struct native *n)
{
    for (size_t i = 0; n->sources_open && i < n->plan.n; i++)
        if (n->src_fds[i] >= 0)
            close(n->src_fds[i]);
    n->sources_open = false;
}

static int watch(rt_sandbox *sb, int slot, int fd, uint32_t events, rt_error *err)
{
    struct native *n = impl(sb);
    n->w[slot] = (struct rt_watch){.sb = sb, .fd = fd, .tag = slot};
    if (rt_supervisor_watch(sb->sup, &n->w[slot], events, err) < 0)
        return -1;
    n->open[slot] = true;
    return 0;
}

static void unwatch(rt_sandbox *sb, int slot)
{
    struct native *n = impl(sb);
    if (!n->open[slot])
        return;
    rt_supervisor_unwatch(sb->sup, &n->w[slot]);
    close(n->w[slot].fd);
    n->w[slot].fd = -1;
    n->open[slot] = false;
}

/* A command that shares pid 1's memory until its exec is spared by the OOM
 * killer only while pid 1 lives (in_vfork): it goes first, and, killed, the
 * kernel charges its memory rather than look for a victim. */
static void kill_tree(struct native *n)
{
    if (n->shares_memory && n->cg && !n->reaped)
        rt_cgroup_kill(n->cg);
    if (n->w[W_PIDFD].fd >= 0 && !n->reaped)
        pidfd_send_signal(n->w[W_PIDFD].fd, SIGKILL, NULL, 0);
}

static void update_deadline(rt_sandbox *sb)
{
    struct native *n = impl(sb);
    sb->deadline_ns = n->wall_deadline_ns;
    if (n->cpu_check_ns && n->cpu_check_ns < sb->deadline_ns)
        sb->deadline_ns = n->cpu_check_ns;
}

static int watch_child(rt_sandbox *sb, struct pipes *p, rt_error *err)
{
    struct native *n = impl(sb);
    if (watch(sb, W_PIDFD, n->w[W_PIDFD].fd, EPOLLIN, err) < 0)
        return -1;
    if (watch(sb, W_STDOUT, steal_fd(&p->out[0]), EPOLLIN, err) < 0 ||
        watch(sb, W_STDERR, steal_fd(&p->err[0]), EPOLLIN, err) < 0 ||
        watch(sb, W_MSG, steal_fd(&p->msg[0]), EPOLLIN, err) < 0)
        return -1;
    if (n->stdin_len && watch(sb, W_STDIN, n->w[W_STDIN].fd, EPOLLOUT, err) < 0)
        return -1;
    return 0;
}

/* The group with its limits (and with late_userns the namespaces made ahead),
 * sent with the go-ahead; the fds gathered stay in go for the caller to close. */
static int send_go_ahead(rt_sandbox *sb, struct pipes *p, bool late_userns, struct go *go,
                         rt_error *err)
{
    struct native *n = impl(sb);
    rt_enforced *enf = &sb->result.enforced;
    if (make_group(n, enf, go, err) < 0 || (late_userns && take_namespaces(go, err) < 0))
        return -1;
    if (n->cg && !go->self_moves && rt_cgroup_attach(n->cg, n->pid, err) < 0)
        return rt_error_wrap(err, "cgroup");
    unsigned char byte = (enf->memory ? 0 : CHILD_FALLBACK_MEMORY) |
                         (enf->pids ? 0 : CHILD_FALLBACK_PIDS) |
                         (go->command_joins ? CHILD_GO_COMMAND_JOINS : 0) |
                         (unsigned char)(go->n_join << CHILD_GO_JOIN_SHIFT);
    if (send_stage(p->sync[1], byte, go->fds, go->n_fds, err) < 0)
        return -1;
    n->sync_fd = steal_fd(&p->sync[1]);
    return 0;
}

/* The parent's half of the stages of rt_child_main, while the child builds its
 * root: without late_userns the id maps first; then the go-ahead. */
static int start_parent_side(rt_sandbox *sb, struct pipes *p, bool privileged, bool late_userns,
                             rt_error *err)
{
    if (!late_userns && (rt_idmap_write(impl(sb)->pid, privileged, err) < 0 ||
                         send_stage(p->sync[1], 0, NULL, 0, err) < 0))
        return -1;
    struct go go = {.n_fds = 0};
    int rc = send_go_ahead(sb, p, late_userns, &go, err);
    close_go(&go);
    return rc;
}

static void schedule(rt_sandbox *sb)
{
    struct native *n = impl(sb);
    n->wall_deadline_ns = n->start_ns + n->limits.wall_ms * 1000000ull;
    if (sb->result.enforced.cpu_time) {
        /* The tree cannot burn more than `cpus` cores, so the first check can wait. */
        double ms = (double)n->limits.cpu_ms / n->limits.cpus;
        n->cpu_check_ns = n->start_ns + (uint64_t)(ms * 1e6);
    }
    update_deadline(sb);
}

/* A failure before the child runs: the sandbox finishes at once with status error. */
static void finish_early(rt_sandbox *sb, const rt_error *why)
{
    sb->result.enforced = (rt_enforced){0};    /* a group may have been made */
    set_error(impl(sb), "%s", why->msg);
    rt_result_set_error(&sb->result, why->msg);
    rt_sandbox_mark_done(sb);
}

static int native_start(rt_sandbox *sb, const rt_spec *spec, rt_error *err)
{
    struct native *n = calloc(1, sizeof *n);
    if (!n)
        return rt_error_set(err, errno, "allocating a sandbox");
    sb->impl = n;
    n->limits = spec->limits;
    n->sync_fd = -1;
    for (int i = 0; i < W_COUNT; i++)
        n->w[i].fd = -1;
    bool privileged = geteuid() == 0;
    /* With namespaces made ahead (sbx run), the child builds its root before
     * it enters them, which needs the host's root: a profile that keeps
     * capabilities needs the namespaces to be its own, and so the first way. */
    bool late_userns = privileged && !spec->keep_caps && rt_netns_pending();
    struct pipes p = {{-1, -1}, {-1, -1}, {-1, -1}, {-1, -1}, -1};
    struct child_args *ca = &n->ca;
    rt_error local;
    rt_error_clear(&local);
    n->start_ns = rt_now_ns();
    /* A profile that keeps capabilities copies ours as before: mounts copied
     * into a namespace of its user namespace are locked (their flags, and
     * submounts over what they hide), and the detached copies made here
     * would not be. */
    bool bare = rt_mountns_bare() >= 0 && !spec->keep_caps;
    n->shares_memory = pid1_shares_memory(spec, privileged);
    if (prepare(n, spec, privileged, late_userns, &local) < 0 ||
        make_pipes(n, spec, &p, &local) < 0 || (bare && open_sources(n, &local) < 0)) {
        close_sources(n);
        close_pipes(&p);
        finish_early(sb, &local);
        return 0;
    }
    ca->sync_fd = p.sync[0];
    ca->sync_peer_fd = p.sync[1];
    ca->msg_fd = p.msg[1];
    ca->stdio[0] = p.in;
    ca->stdio[1] = p.out[1];
    ca->stdio[2] = p.err[1];
    int pidfd = -1, cwd = -1;
    /* The cgroup thread (sbx run) ends here: it wrote to memory the clone would
     * share (see prestart.c), and shares our file system context. Its group is
     * taken, and its limits written, while the child builds its root. */
    rt_cgroup_prestart_join();
    /* Where the bare namespace cannot be entered (threads share our file
     * system context) the child copies ours and opens its sources itself,
     * its copy made private first. */
    bool entered = bare && rt_mountns_enter_bare(&cwd) == 0;
    if (bare && !entered)
        close_sources(n);
    ca->sources_open = n->sources_open;
    n->pid = clone_child(n, &pidfd, late_userns);
    int clone_err = errno;
    bool back = !entered || rt_mountns_leave_bare(cwd) == 0;
    if (!back)
        rt_error_set(&local, errno, "returning from the bare mount namespace");
    close_sources(n);
    if (n->pid < 0 || !back) {
        if (n->pid < 0) {
            rt_error_set(&local, clone_err, "starting the sandbox's init (clone)");
        } else {
            pidfd_send_signal(pidfd, SIGKILL, NULL, 0);
            waitpid(n->pid, NULL, 0);
            n->reaped = true;
            close(pidfd);
        }
        close_pipes(&p);
        finish_early(sb, &local);
        return 0;
    }
    n->w[W_PIDFD].fd = pidfd;
    int *child_ends[] = {&p.sync[0], &p.msg[1], &p.in, &p.out[1], &p.err[1]};
    for (size_t i = 0; i < sizeof child_ends / sizeof *child_ends; i++) {
        close(*child_ends[i]);
        *child_ends[i] = -1;
    }
    if (watch_child(sb, &p, &local) < 0) {
        /* Without the watches nobody would notice the end: finish here. */
        pidfd_send_signal(pidfd, SIGKILL, NULL, 0);
        waitpid(n->pid, NULL, 0);
        n->reaped = true;
        close_pipes(&p);
        finish_early(sb, &local);
        return 0;
    }
    if (start_parent_side(sb, &p, privileged, late_userns, &local) < 0) {
        sb->result.enforced = (rt_enforced){0};    /* the command never ran */
        n->start_error = strdup(local.msg);
        kill_tree(n);
    }
    close_pipes(&p);
    schedule(sb);
    return 0;
}

/* ---- supervision ---- */

static void handle_output(rt_sandbox *sb, int slot)
{
    struct native *n = impl(sb);
    rt_buf *buf = slot == W_STDOUT ? &sb->result.out : &sb->result.err;
    char chunk[65536];
    for (;;) {
        ssize_t r = read(n->w[slot].fd, chunk, sizeof chunk);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0 && errno == EAGAIN)
            return;
        if (r <= 0) {
            unwatch(sb, slot);
            return;
        }
        size_t before = buf->len;
        long over = rt_buf_append(buf, chunk, (size_t)r);
        if (sb->cb.on_output && buf->len > before)
            sb->cb.on_output(sb->cb.ctx, slot == W_STDOUT ? 1 : 2, buf->data + before,
                             buf->len - before);
        if (over != 0 && !n->killed) {
            if (over < 0)
                set_error(n, "out of memory capturing output");
            rt_sandbox_kill(sb, RT_STATUS_OUTPUT_LIMIT);
        }
    }
}

/* Read as soon as pid 1 reports the command's end, while pid 1 exits (the tree
 * is done by then), or else at the reap. */
static void read_group(struct native *n)
{
    if (!n->cg || n->group_read)
        return;
    n->group_usage = (rt_usage){.cpu_user_ms = -1};
    rt_cgroup_read_usage(n->cg, &n->group_usage, &n->group_oom);
    n->group_read = true;
}

static void handle_msg(rt_sandbox *sb)
{
    struct native *n = impl(sb);
    struct child_msg m;
    for (;;) {
        ssize_t r = read(n->w[W_MSG].fd, &m, sizeof m);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0 && errno == EAGAIN)
            return;
        if (r != (ssize_t)sizeof m) {
            unwatch(sb, W_MSG);
            return;
        }
        m.step[sizeof m.step - 1] = m.path[sizeof m.path - 1] = '\0';
        if (m.type == CHILD_MSG_EXEC_OK) {
            n->exec_ok = true;
            sb->result.setup_ms = (double)(rt_now_ns() - n->start_ns) / 1e6;
        } else if (m.type == CHILD_MSG_EXIT) {
            n->have_exit = true;
            n->exit_status = m.status;
            read_group(n);
            /* pid 1 has left the group (v1) and exits: the group's removal
             * overlaps its namespaces' teardown */
            if (n->cg)
                rt_cgroup_try_remove(n->cg);
        } else if (m.type == CHILD_MSG_SECCOMP) {
            /* pid 1 ended the sandbox for the command: a kill rule's SIGSYS */
            n->have_exit = true;
            n->exit_status = SIGSYS;
            if (m.status >= 0)
                rt_seccomp_syscall_name((uint32_t)m.err, m.status, n->syscall, sizeof n->syscall);
        } else if (m.path[0]) {
            set_error(n, "%s \"%s\": %s", m.step, m.path, strerror(m.err));
        } else {
            set_error(n, "%s: %s", m.step, strerror(m.err));
        }
    }
}

/* write(2) to a pipe whose reader may be gone, without the SIGPIPE that would
 * end a caller that does not ignore it: blocked for the call, and taken back
 * if this write raised it. */
static ssize_t write_no_sigpipe(int fd, const void *buf, size_t len)
{
    sigset_t pipe_only, old, pending;
    sigemptyset(&pipe_only);
    sigaddset(&pipe_only, SIGPIPE);
    int e = pthread_sigmask(SIG_BLOCK, &pipe_only, &old);
    if (e != 0) {
        errno = e;
        return -1;
    }
    bool was_pending = sigpending(&pending) == 0 && sigismember(&pending, SIGPIPE);
    ssize_t w = write(fd, buf, len);
    int saved = errno;
    if (w < 0 && errno == EPIPE && !was_pending) {
        const struct timespec zero = {0, 0};
        while (sigtimedwait(&pipe_only, NULL, &zero) < 0 && errno == EINTR)
            ;
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    errno = saved;
    return w;
}

static void handle_stdin(rt_sandbox *sb)
{
    struct native *n = impl(sb);
    while (n->stdin_off < n->stdin_len) {
        ssize_t w = write_no_sigpipe(n->w[W_STDIN].fd, n->stdin_data + n->stdin_off,
                                     n->stdin_len - n->stdin_off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && errno == EAGAIN)
            return;
        if (w < 0)
            break;             /* EPIPE: the command stopped reading */
        n->stdin_off += (size_t)w;
    }
    unwatch(sb, W_STDIN);
}

static void handle_exit(rt_sandbox *sb)
{
    struct native *n = impl(sb);
    pid_t r = wait4(n->pid, &n->init_status, WNOHANG, &n->ru);
    if (r == 0)
        return;
    n->reaped = true;
    unwatch(sb, W_PIDFD);
}

static double tv_ms(struct timeval tv)
{
    return (double)tv.tv_sec * 1e3 + (double)tv.tv_usec / 1e3;
}

static void collect_usage(rt_sandbox *sb, bool *oom)
{
    struct native *n = impl(sb);
    rt_usage *u = &sb->result.usage;
    u->wall_ms = (double)(rt_now_ns() - n->start_ns) / 1e6;
    u->cpu_user_ms = tv_ms(n->ru.ru_utime);
    u->cpu_sys_ms = tv_ms(n->ru.ru_stime);
    u->memory_peak_bytes = (uint64_t)n->ru.ru_maxrss * 1024;
    *oom = false;
    if (!n->cg)
        return;
    /* rusage is exact when pid 1 reaped the tree, the cgroup (tick-sampled on v1)
     * also counts what a kill took down: keep whichever saw more. */
    read_group(n);
    const rt_usage *g = &n->group_usage;
    if (g->cpu_user_ms >= 0 && g->cpu_user_ms + g->cpu_sys_ms > u->cpu_user_ms + u->cpu_sys_ms) {
        u->cpu_user_ms = g->cpu_user_ms;
        u->cpu_sys_ms = g->cpu_sys_ms;
    }
    if (g->memory_peak_bytes)
        u->memory_peak_bytes = g->memory_peak_bytes;
    u->pids_peak = g->pids_peak;
    *oom = n->group_oom;
    rt_error err;
    rt_error_clear(&err);
    if (rt_cgroup_destroy(n->cg, &err) < 0)
        set_error(n, "%s", err.msg);
    n->cg = NULL;
}

static rt_status status_from_signal(const struct native *n, int sig, const rt_usage *u)
{
    if (sig == SIGXCPU)
        return RT_STATUS_CPU_LIMIT;
    if (sig == SIGSYS)
        return RT_STATUS_SECCOMP;
    if (sig == SIGKILL && u->cpu_user_ms + u->cpu_sys_ms >= (double)n->limits.cpu_ms)
        return RT_STATUS_CPU_LIMIT;
    return RT_STATUS_SIGNALED;
}

static void decide_status(rt_sandbox *sb, bool oom)
{
    struct native *n = impl(sb);
    rt_result *r = &sb->result;
    r->exit_code = -1;
    if (n->have_exit && WIFEXITED(n->exit_status)) {
        r->exit_code = WEXITSTATUS(n->exit_status);
        r->status = r->exit_code ? RT_STATUS_EXIT_NONZERO : RT_STATUS_OK;
    } else if (n->have_exit && WIFSIGNALED(n->exit_status)) {
        r->signal = WTERMSIG(n->exit_status);
        r->status = status_from_signal(n, r->signal, &r->usage);
    }
    if (n->error || n->start_error) {
        rt_result_set_error(r, n->error ? n->error : n->start_error);
    } else if (n->killed) {
        r->status = n->kill_reason;
        r->signal = SIGKILL;
        r->exit_code = -1;
    } else if (!n->have_exit) {
        set_error(n, "sandbox init ended before the command (wait status 0x%x)", n->init_status);
        rt_result_set_error(r, n->error);
    } else if (oom && r->status != RT_STATUS_OK) {
        r->status = RT_STATUS_MEMORY_LIMIT;
    }
    if (r->status == RT_STATUS_SECCOMP && n->syscall[0] && !(r->syscall = strdup(n->syscall)))
        rt_result_set_error(r, "out of memory");
}

static void check_done(rt_sandbox *sb)
{
    struct native *n = impl(sb);
    if (!n->reaped || n->open[W_STDOUT] || n->open[W_STDERR] || n->open[W_MSG])
        return;
    unwatch(sb, W_STDIN);
    bool oom;
    collect_usage(sb, &oom);
    decide_status(sb, oom);
    sb->deadline_ns = 0;
    rt_sandbox_mark_done(sb);
}

static void native_event(rt_sandbox *sb, int tag, uint32_t events)
{
    switch (tag) {
    case W_STDOUT:
    case W_STDERR:
        handle_output(sb, tag);
        break;
    case W_MSG:
        handle_msg(sb);
        break;
    case W_STDIN:
        handle_stdin(sb);
        break;
    case W_PIDFD:
        handle_exit(sb);
        break;
    }
    check_done(sb);
}

static void native_kill(rt_sandbox *sb, rt_status reason)
{
    struct native *n = impl(sb);
    if (n->killed || n->reaped)
        return;
    n->killed = true;
    n->kill_reason = reason;
    kill_tree(n);
    sb->deadline_ns = 0;
}

/* Whole-tree CPU time from the cgroup, checked no sooner than the tree could have
 * used up what is left. */
static void check_cpu(rt_sandbox *sb, uint64_t now)
{
    struct native *n = impl(sb);
    uint64_t user = 0, sys = 0;
    if (!n->cg || rt_cgroup_cpu_ns(n->cg, &user, &sys) < 0) {
        n->cpu_check_ns = 0;
        return;
    }
    uint64_t used_ms = (user + sys) / 1000000, limit = n->limits.cpu_ms;
    if (used_ms >= limit) {
        native_kill(sb, RT_STATUS_CPU_LIMIT);
        return;
    }
    double wait_ms = (double)(limit - used_ms) / n->limits.cpus;
    n->cpu_check_ns = now + (uint64_t)(wait_ms < 1 ? 1e6 : wait_ms * 1e6);
}

static void native_deadline(rt_sandbox *sb, uint64_t now)
{
    struct native *n = impl(sb);
    if (now >= n->wall_deadline_ns) {
        native_kill(sb, RT_STATUS_TIMEOUT);
        return;
    }
    if (n->cpu_check_ns && now >= n->cpu_check_ns)
        check_cpu(sb, now);
    if (!n->killed)
        update_deadline(sb);
}

static void native_release(rt_sandbox *sb)
{
    struct native *n = impl(sb);
    if (!n)
        return;
    for (int i = 0; i < W_COUNT; i++) {
        unwatch(sb, i);
        if (n->w[i].fd >= 0)
            close(n->w[i].fd);
    }
    if (n->sync_fd >= 0)
        close(n->sync_fd);
    /* Normally reaped by now; not after a failed poll in rt_supervisor_free.
     * Its memory may be ours (CLONE_VM): it must be gone before we free it. */
    if (n->pid > 0 && !n->reaped) {
        if (n->shares_memory && n->cg)
            rt_cgroup_kill(n->cg);     /* first: see kill_tree */
        kill(n->pid, SIGKILL);
        while (waitpid(n->pid, NULL, 0) < 0 && errno == EINTR)
            ;
    }
    if (n->cg)
        rt_cgroup_destroy(n->cg, NULL);
    rt_mount_plan_free(&n->plan);
    free(n->src_fds);
    for (size_t i = 0; n->envp && n->envp[i]; i++)
        free(n->envp[i]);
    free(n->envp);
    for (size_t i = 0; n->argv && n->argv[i]; i++)
        free(n->argv[i]);
    free(n->argv);
    free(n->prog.filter);
    if (n->stacks)
        munmap(n->stacks, STACKS_SIZE);
    free(n->stdin_data);
    free(n->error);
    free(n->start_error);
    free(n);
    sb->impl = NULL;
}

const rt_backend_ops rt_native_backend = {
    .name = "native",
    .start = native_start,
    .event = native_event,
    .deadline = native_deadline,
    .kill = native_kill,
    .release = native_release,
};
