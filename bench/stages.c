/* Stage breakdown of a sandbox start, measured in-process: where do the
 * milliseconds of `sbx run -- /bin/true` go?
 *
 *   a   fork + execve(/bin/true) + waitpid                       (the floor)
 *   a0  the same through clone3 with no flags and b's sync pipe    (b's floor)
 *   b   clone3 into user+pid+mount+net+uts+ipc namespaces, parent writes the
 *       id maps, child execs /bin/true, parent waits              (namespaces)
 *   b.* the same with one namespace at a time                     (which one costs)
 *   c1  rt_cgroup_create + rt_cgroup_destroy                      (cgroup, empty)
 *   c2  create + attach a sleeping child (v1: it moves itself in, as pid 1 does)
 *       + kill + wait + read usage + destroy
 *   c0  fork a sleeping child + kill + wait                       (c2's baseline)
 *   d   rt_run() of /bin/true with the default spec, no filter    (the runtime)
 *   p.* rt_run() of /bin/true with the default and strict profiles (+ seccomp)
 *   k0  fork + _exit + waitpid                                     (k's floor)
 *   k1  the same, the child dropping every capability first (securebits, the
 *       bounding set, cap_set_proc, no_new_privs)                  (capability drop)
 *   k2  the same, the child installing the default profile's filter (seccomp load)
 *   pc  loading and compiling the default profile                  (once per profile)
 *   f.* bwrap ... -- /bin/true and sbx run -- /bin/true, fork+exec+wait
 *   x   rt_cgroup_detect() in a fresh process                     (paid once per sbx)
 *
 * The stages run interleaved, one of each per round in a shuffled order, so
 * that a noisy neighbour slows all of them alike and the differences stay
 * meaningful. Every number is
 * the median over the rounds, in microseconds.
 *
 * usage: stages [-n ROUNDS] [-j FILE.json] [-s STAGES] [-S SBX]  (see usage_exit)
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/sched.h>
#include <linux/seccomp.h>
#include <linux/securebits.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/capability.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cgroup.h"
#include "profile.h"
#include "result.h"
#include "sandbox.h"
#include "spec.h"

#define WARMUP 10

static char *const true_argv[] = {"/bin/true", NULL};
static char *const true_envp[] = {"PATH=/usr/bin:/bin", NULL};

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static _Noreturn void die(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static _Noreturn void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "stages: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    exit(1);
}

static _Noreturn void die_errno(const char *what)
{
    die("%s: %s", what, strerror(errno));
}

/* ---- samples ---------------------------------------------------------------- */

typedef struct series {
    const char *key;           /* JSON key */
    double *v;                 /* microseconds */
    size_t n;
} series;

static size_t g_rounds = 300;
static const char *g_only = "abncdfpkx";

/* Is stage `c` selected (-s)? */
static bool want(char c)
{
    return strchr(g_only, c) != NULL;
}

static void series_init(series *s, const char *key)
{
    s->key = key;
    s->n = 0;
    s->v = calloc(g_rounds + WARMUP, sizeof *s->v);
    if (!s->v)
        die_errno("out of memory");
}

static void add(series *s, bool warm, double us)
{
    if (!warm)
        s->v[s->n++] = us;
}

static double us_since(uint64_t t0)
{
    return (double)(now_ns() - t0) / 1e3;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(series *s)
{
    if (!s->n)
        return 0;
    qsort(s->v, s->n, sizeof *s->v, cmp_double);
    return s->n % 2 ? s->v[s->n / 2] : (s->v[s->n / 2 - 1] + s->v[s->n / 2]) / 2;
}

static void wait_ok(pid_t pid, const char *what)
{
    int st;
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR)
            die("waitpid (%s): %s", what, strerror(errno));
    if (WIFEXITED(st) && WEXITSTATUS(st) == 127) {
        fprintf(stderr, "stages: %s: exit status 127: it could not be executed\n", what);
        exit(1);
    }
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        fprintf(stderr, "stages: %s: child ended with wait status 0x%x\n", what, st);
        exit(1);
    }
}

/* ---- a: the floor ------------------------------------------------------------- */

static double run_exec(char *const *argv, char *const *envp)
{
    uint64_t t0 = now_ns();
    pid_t pid = fork();
    if (pid < 0)
        die_errno("fork");
    if (pid == 0) {
        int null = open("/dev/null", O_RDWR | O_CLOEXEC);
        if (null >= 0) {
            dup2(null, 1);
            dup2(null, 2);
        }
        execve(argv[0], argv, envp);
        _exit(127);
    }
    wait_ok(pid, argv[0]);
    return us_since(t0);
}

/* Resolves a program name through PATH once, so no lookup is timed. */
static bool find_in_path(const char *name, char *out, size_t cap)
{
    const char *path = getenv("PATH");
    for (const char *p = path ? path : "/usr/bin:/bin"; *p;) {
        size_t len = strcspn(p, ":");
        if (len && (size_t)snprintf(out, cap, "%.*s/%s", (int)len, p, name) < cap &&
            access(out, X_OK) == 0)
            return true;
        p += len;
        if (*p == ':')
            p++;
    }
    return false;
}

static double run_fork_exec(void)
{
    return run_exec(true_argv, true_envp);
}

/* ---- b: namespaces ------------------------------------------------------------ */

static void write_proc(pid_t pid, const char *file, const char *data)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/%s", (int)pid, file);
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        die("opening %s: %s", path, strerror(errno));
    size_t len = strlen(data);
    if (write(fd, data, len) != (ssize_t)len)
        die("writing %s: %s", path, strerror(errno));
    close(fd);
}

/* clone3 into `flags`; the child waits for the id maps (when it has a user
 * namespace) and then execs /bin/true, as pid 1 when CLONE_NEWPID is set. */
static double run_clone(uint64_t flags)
{
    int sync[2];
    uint64_t t0 = now_ns();
    if (pipe2(sync, O_CLOEXEC) < 0)
        die_errno("pipe2");
    struct clone_args args = {.flags = flags, .exit_signal = SIGCHLD};
    pid_t pid = (pid_t)syscall(SYS_clone3, &args, sizeof args);
    if (pid < 0)
        die("clone3: %s", strerror(errno));
    if (pid == 0) {
        char c;
        close(sync[1]);
        if (read(sync[0], &c, 1) != 1)
            _exit(126);
        execve(true_argv[0], true_argv, true_envp);
        _exit(127);
    }
    close(sync[0]);
    if (flags & CLONE_NEWUSER) {
        write_proc(pid, "uid_map", "0 100000 1\n");
        write_proc(pid, "gid_map", "0 100000 1\n");
    }
    if (write(sync[1], "g", 1) != 1)
        die_errno("writing the sync pipe");
    close(sync[1]);
    wait_ok(pid, "clone3+exec");
    return us_since(t0);
}

static const struct {
    const char *label, *key;
    uint64_t flag;
} one_ns[] = {
    {"b.user  only CLONE_NEWUSER (+ id maps)", "b_user_us", CLONE_NEWUSER},
    {"b.pid   only CLONE_NEWPID", "b_pid_us", CLONE_NEWPID},
    {"b.mnt   only CLONE_NEWNS", "b_mount_us", CLONE_NEWNS},
    {"b.net   only CLONE_NEWNET", "b_net_us", CLONE_NEWNET},
    {"b.uts   only CLONE_NEWUTS", "b_uts_us", CLONE_NEWUTS},
    {"b.ipc   only CLONE_NEWIPC", "b_ipc_us", CLONE_NEWIPC},
};
#define N_ONE_NS (sizeof one_ns / sizeof *one_ns)

/* ---- c: cgroups --------------------------------------------------------------- */

static pid_t fork_sleeper(void)
{
    pid_t pid = fork();
    if (pid < 0)
        die_errno("fork");
    if (pid == 0)
        for (;;)
            pause();
    return pid;
}

static void reap_killed(pid_t pid)
{
    int st;
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR)
            die_errno("waitpid (sleeper)");
    if (!WIFSIGNALED(st) || WTERMSIG(st) != SIGKILL) {
        fprintf(stderr, "stages: the sleeping child was not killed (0x%x)\n", st);
        exit(1);
    }
}

static double run_cgroup_empty(const rt_limits *lim, double *create_us, double *destroy_us)
{
    rt_cgroup *cg;
    rt_enforced enf;
    rt_error err;
    rt_error_clear(&err);
    uint64_t t0 = now_ns();
    if (rt_cgroup_create(lim, &cg, &enf, &err) < 0)
        die("rt_cgroup_create: %s", err.msg);
    uint64_t t1 = now_ns();
    if (rt_cgroup_destroy(cg, &err) < 0)
        die("rt_cgroup_destroy: %s", err.msg);
    uint64_t t2 = now_ns();
    *create_us = (double)(t1 - t0) / 1e3;
    *destroy_us = (double)(t2 - t1) / 1e3;
    return (double)(t2 - t0) / 1e3;
}

struct cg_parts {
    double create, attach, killwait, usage, destroy, total;
};

/* A sleeping child that moves itself into the group with fds[n] (cgroup v1, as
 * the runtime's pid 1 does) when it reads a byte from go, then answers on done. */
static pid_t fork_joiner(const int *fds, int n, int go, int done)
{
    pid_t pid = fork();
    if (pid < 0)
        die_errno("fork");
    if (pid == 0) {
        char c;
        if (read(go, &c, 1) != 1)
            _exit(2);
        for (int i = 0; i < n; i++)
            if (write(fds[i], "0", 1) != 1)
                _exit(3);
        if (write(done, "j", 1) != 1)
            _exit(4);
        for (;;)
            pause();
    }
    return pid;
}

/* Attach: the child moving itself in (v1), or the parent moving it (v2), as the
 * runtime does. */
static void run_cgroup_member(const rt_limits *lim, struct cg_parts *p)
{
    rt_cgroup *cg;
    rt_enforced enf;
    rt_error err;
    rt_usage usage = {0};
    bool oom;
    int fds[RT_CGROUP_MAX_FDS], go[2], done[2];
    rt_error_clear(&err);
    if (pipe(go) < 0 || pipe(done) < 0)
        die_errno("pipe");
    uint64_t t0 = now_ns();
    if (rt_cgroup_create(lim, &cg, &enf, &err) < 0)
        die("rt_cgroup_create: %s", err.msg);
    uint64_t t1 = now_ns();
    int n = rt_cgroup_self_join_fds(cg, false, fds, &err);
    if (n < 0)
        die("rt_cgroup_self_join_fds: %s", err.msg);
    pid_t pid = n > 0 ? fork_joiner(fds, n, go[0], done[1]) : fork_sleeper();
    for (int i = 0; i < n; i++)
        close(fds[i]);
    uint64_t t1b = now_ns();
    char c;
    if (n > 0 && (write(go[1], "g", 1) != 1 || read(done[0], &c, 1) != 1))
        die("the child did not join its cgroup");
    if (n == 0 && rt_cgroup_attach(cg, pid, &err) < 0)
        die("rt_cgroup_attach: %s", err.msg);
    uint64_t t2 = now_ns();
    for (int i = 0; i < 2; i++) {
        close(go[i]);
        close(done[i]);
    }
    rt_cgroup_kill(cg);
    reap_killed(pid);
    uint64_t t3 = now_ns();
    rt_cgroup_read_usage(cg, &usage, &oom);
    uint64_t t4 = now_ns();
    if (rt_cgroup_destroy(cg, &err) < 0)
        die("rt_cgroup_destroy: %s", err.msg);
    uint64_t t5 = now_ns();
    p->create = (double)(t1 - t0) / 1e3;
    p->attach = (double)(t2 - t1b) / 1e3;
    p->killwait = (double)(t3 - t2) / 1e3;
    p->usage = (double)(t4 - t3) / 1e3;
    p->destroy = (double)(t5 - t4) / 1e3;
    p->total = (double)(t5 - t0 - (t1b - t1)) / 1e3;
}

static double run_kill_baseline(void)
{
    pid_t pid = fork_sleeper();
    uint64_t t0 = now_ns();
    kill(pid, SIGKILL);
    reap_killed(pid);
    return us_since(t0);
}

/* rt_cgroup_detect() caches per process: measure it in a fresh child that has
 * not detected yet (call this before anything in the parent detects). */
static double run_detect_fresh(void)
{
    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0)
        die_errno("pipe2");
    pid_t pid = fork();
    if (pid < 0)
        die_errno("fork");
    if (pid == 0) {
        uint64_t t0 = now_ns();
        rt_cgroup_detect();
        double us = us_since(t0);
        _exit(write(p[1], &us, sizeof us) == (ssize_t)sizeof us ? 0 : 1);
    }
    close(p[1]);
    double us = -1;
    if (read(p[0], &us, sizeof us) != (ssize_t)sizeof us)
        die("reading the detect time: %s", strerror(errno));
    close(p[0]);
    wait_ok(pid, "detect");
    return us;
}

/* ---- d: the runtime ----------------------------------------------------------- */

static void run_runtime(double *wall_us, double *setup_us, double *usage_wall_us)
{
    rt_spec spec;
    rt_result res;
    rt_error err;
    rt_spec_init(&spec);
    spec.argv = (char **)true_argv;
    rt_error_clear(&err);
    uint64_t t0 = now_ns();
    if (rt_run(&spec, NULL, &res, &err) < 0)
        die("rt_run: %s", err.msg);
    *wall_us = us_since(t0);
    if (res.status != RT_STATUS_OK) {
        fprintf(stderr, "stages: rt_run(/bin/true): status %s: %s\n",
                rt_status_name(res.status), res.error ? res.error : "(no message)");
        exit(1);
    }
    *setup_us = res.setup_ms * 1e3;
    *usage_wall_us = res.usage.wall_ms * 1e3;
    rt_result_free(&res);
    /* spec.argv points at static storage; the rest of the spec owns nothing. */
}

/* ---- p, k: profiles, the capability drop and the filter on their own ----------- */

static rt_profile *load_profile(const char *name)
{
    rt_profile *p;
    rt_error err;
    rt_error_clear(&err);
    if (rt_profile_load(name, &p, &err) < 0)
        die("profile %s: %s (set SBX_PROFILE_PATH or leave p and k out of -s)", name, err.msg);
    return p;
}

static double run_profile_compile(void)
{
    uint64_t t0 = now_ns();
    rt_profile *p = load_profile("default");
    double us = us_since(t0);
    rt_profile_free(p);
    return us;
}

static double run_with_profile(const rt_profile *p)
{
    rt_spec spec;
    rt_result res;
    rt_error err;
    rt_spec_init(&spec);
    rt_error_clear(&err);
    if (rt_profile_apply(p, &spec, &err) < 0)
        die("applying profile %s: %s", p->name, err.msg);
    spec.argv = (char **)true_argv;
    uint64_t t0 = now_ns();
    if (rt_run(&spec, NULL, &res, &err) < 0)
        die("rt_run: %s", err.msg);
    double us = us_since(t0);
    if (res.status != RT_STATUS_OK)
        die("rt_run(/bin/true) with profile %s: status %s: %s", p->name,
            rt_status_name(res.status), res.error ? res.error : "(no message)");
    rt_result_free(&res);
    spec.argv = NULL;          /* static storage */
    rt_spec_free(&spec);
    return us;
}

enum { K_NOTHING, K_DROP_CAPS, K_SECCOMP };

static void drop_caps_child(void)
{
    if (prctl(PR_SET_SECUREBITS, SECBIT_NOROOT | SECBIT_NOROOT_LOCKED | SECBIT_NO_SETUID_FIXUP |
                                     SECBIT_NO_SETUID_FIXUP_LOCKED | SECBIT_KEEP_CAPS_LOCKED,
              0, 0, 0) < 0)
        _exit(1);
    for (int cap = 0; cap_drop_bound((cap_value_t)cap) == 0; cap++)
        ;
    cap_t none = cap_init();
    if (!none || cap_set_proc(none) < 0 || prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
        _exit(1);
}

static double run_fork_child(int what, const rt_seccomp *sc)
{
    uint64_t t0 = now_ns();
    pid_t pid = fork();
    if (pid < 0)
        die_errno("fork");
    if (pid == 0) {
        if (what == K_DROP_CAPS)
            drop_caps_child();
        if (what == K_SECCOMP && (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ||
                                  syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER,
                                          rt_seccomp_flags(sc), rt_seccomp_program(sc)) < 0))
            _exit(1);
        _exit(0);
    }
    wait_ok(pid, what == K_DROP_CAPS ? "capability drop" : "seccomp load");
    return us_since(t0);
}

/* ---- report ------------------------------------------------------------------- */

static FILE *g_json;
static bool g_json_first = true;

static void jnum(const char *key, double v)
{
    if (!g_json)
        return;
    fprintf(g_json, "%s\n  \"%s\": %.3f", g_json_first ? "{" : ",", key, v);
    g_json_first = false;
}

#define SELF_FLOOR (-2.0)

/* One line: label, median and, when floor_us > 0, the difference to it. */
static void row(const char *label, double us, double floor_us)
{
    if (floor_us > 0)
        printf("  %-56s %9.1f %+10.1f\n", label, us, us - floor_us);
    else
        printf("  %-56s %9.1f %10s\n", label, us, "");
}

/* Prints a stage's median (when it ran) and records it in the JSON. */
static double show(const char *label, series *s, double floor_us)
{
    if (!s->n)
        return 0;
    double m = median(s);
    row(label, m, floor_us == SELF_FLOOR ? m : floor_us);
    jnum(s->key, m);
    return m;
}

static void usage_exit(void)
{
    fprintf(stderr, "usage: stages [-n ROUNDS] [-j FILE.json] [-s STAGES] [-S SBX]\n"
                    "  STAGES: letters of the stages to run, default abncdfpkx\n"
                    "  (a = a+a0, b, n = b.*, c = c0+c1+c2, d, f = f.bwrap+f.sbx, x)\n"
                    "  SBX: the sbx binary for f.sbx, default build/sbx\n");
    exit(2);
}

int main(int argc, char **argv)
{
    const char *json_path = NULL;
    int opt;
    const char *sbx_path = "build/sbx";
    while ((opt = getopt(argc, argv, "n:j:s:S:")) != -1) {
        if (opt == 'n') {
            char *end;
            long n = strtol(optarg, &end, 10);
            if (*end || n < 1 || n > 100000)
                usage_exit();
            g_rounds = (size_t)n;
        } else if (opt == 'S') {
            sbx_path = optarg;
        } else if (opt == 's') {
            g_only = optarg;
        } else if (opt == 'j') {
            json_path = optarg;
        } else {
            usage_exit();
        }
    }
    setvbuf(stdout, NULL, _IOLBF, 0);

    series det;
    series_init(&det, "x_detect_us");
    for (size_t i = 0; want('x') && i < g_rounds / 3 + WARMUP; i++)
        add(&det, i < WARMUP, run_detect_fresh());

    const rt_cgroup_info *cgi = rt_cgroup_detect();
    bool have_cg = cgi->version != RT_CGROUP_NONE;
    rt_limits lim;
    rt_limits_default(&lim);

    series a, a0, b, bn[N_ONE_NS], c1, c1_create, c1_destroy, c2, c2_create, c2_attach,
        c2_killwait, c2_usage, c2_destroy, c0, d_wall, d_setup, d_uwall;
    series_init(&a, "a_floor_us");
    series_init(&a0, "a0_clone3_us");
    series_init(&b, "b_namespaces_us");
    for (size_t k = 0; k < N_ONE_NS; k++)
        series_init(&bn[k], one_ns[k].key);
    series_init(&c1, "c1_cgroup_empty_us");
    series_init(&c1_create, "c1_create_us");
    series_init(&c1_destroy, "c1_destroy_us");
    series_init(&c2, "c2_cgroup_member_us");
    series_init(&c2_create, "c2_create_us");
    series_init(&c2_attach, "c2_attach_us");
    series_init(&c2_killwait, "c2_kill_wait_us");
    series_init(&c2_usage, "c2_read_usage_us");
    series_init(&c2_destroy, "c2_destroy_us");
    series_init(&c0, "c0_kill_wait_baseline_us");
    series_init(&d_wall, "d_rt_run_wall_us");
    series_init(&d_setup, "d_rt_run_setup_us");
    series_init(&d_uwall, "d_rt_run_usage_wall_us");
    series f_bwrap, f_sbx, f_sbxu, p_def, p_strict, p_compile, k0, k1, k2;
    series_init(&f_bwrap, "f_bwrap_us");
    series_init(&f_sbx, "f_sbx_us");
    series_init(&f_sbxu, "f_sbx_unconfined_us");
    series_init(&p_def, "p_rt_run_default_profile_us");
    series_init(&p_strict, "p_rt_run_strict_profile_us");
    series_init(&p_compile, "pc_profile_compile_us");
    series_init(&k0, "k0_fork_exit_us");
    series_init(&k1, "k1_fork_drop_caps_us");
    series_init(&k2, "k2_fork_seccomp_load_us");
    rt_profile *prof_default = want('p') || want('k') ? load_profile("default") : NULL;
    rt_profile *prof_strict = want('p') ? load_profile("strict") : NULL;
    char *sbx_argv[] = {(char *)sbx_path, "run", "--profile", "default", "--", "/bin/true", NULL};
    char *sbxu_argv[] = {(char *)sbx_path, "run", "--seccomp", "unconfined", "--", "/bin/true",
                         NULL};
    char bwrap_path[4096];
    if (want('f') && !find_in_path("bwrap", bwrap_path, sizeof bwrap_path))
        die("bwrap is not in PATH (leave f out of -s)");
    char *bwrap_argv[] = {bwrap_path, "--unshare-all", "--ro-bind", "/usr", "/usr",
                          "--symlink", "usr/lib", "/lib", "--symlink", "usr/lib64", "/lib64",
                          "--symlink", "usr/bin", "/bin", "--symlink", "usr/sbin", "/sbin",
                          "--", "/bin/true", NULL};
    if (want('f') && access(sbx_path, X_OK) < 0)
        die("%s: %s (use -S or leave f out of -s)", sbx_path, strerror(errno));

    const uint64_t all_ns = CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWNET |
                            CLONE_NEWUTS | CLONE_NEWIPC;
    /* One job per stage; every round runs each selected job once, in an order
     * shuffled per round, so that a stage never always follows the same one (a
     * sandbox's network namespace, say, is torn down asynchronously and would
     * otherwise always slow down the same successor). */
    enum { J_A, J_A0, J_B, J_C, J_F_BWRAP, J_F_SBX, J_F_SBXU, J_D, J_P_DEF, J_P_STRICT, J_P_COMPILE,
           J_K0, J_K1, J_K2, J_NS };
    int jobs[J_NS + N_ONE_NS], n_jobs = 0;
    const char job_stage[J_NS] = {'a', 'a', 'b', 'c', 'f', 'f', 'f', 'd',
                                  'p', 'p', 'p', 'k', 'k', 'k'};
    for (int jb = 0; jb < J_NS; jb++)
        if (want(job_stage[jb]) && (jb != J_C || have_cg))
            jobs[n_jobs++] = jb;
    for (size_t k = 0; want('n') && k < N_ONE_NS; k++)
        jobs[n_jobs++] = J_NS + (int)k;
    uint64_t rng = 0x9e3779b97f4a7c15ull;

    uint64_t t_start = now_ns();
    for (size_t i = 0; i < g_rounds + WARMUP; i++) {
        bool warm = i < WARMUP;
        for (int k = n_jobs - 1; k > 0; k--) {
            rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
            int r = (int)(rng % (uint64_t)(k + 1)), t = jobs[k];
            jobs[k] = jobs[r], jobs[r] = t;
        }
        for (int k = 0; k < n_jobs; k++) {
            switch (jobs[k]) {
            case J_A:
                add(&a, warm, run_fork_exec());
                break;
            case J_A0:
                add(&a0, warm, run_clone(0));
                break;
            case J_B:
                add(&b, warm, run_clone(all_ns));
                break;
            case J_C: {
                double cr, de;
                add(&c1, warm, run_cgroup_empty(&lim, &cr, &de));
                add(&c1_create, warm, cr);
                add(&c1_destroy, warm, de);
                struct cg_parts p;
                run_cgroup_member(&lim, &p);
                add(&c2, warm, p.total);
                add(&c2_create, warm, p.create);
                add(&c2_attach, warm, p.attach);
                add(&c2_killwait, warm, p.killwait);
                add(&c2_usage, warm, p.usage);
                add(&c2_destroy, warm, p.destroy);
                add(&c0, warm, run_kill_baseline());
                break;
            }
            case J_F_BWRAP:
                add(&f_bwrap, warm, run_exec(bwrap_argv, environ));
                break;
            case J_F_SBX:
                add(&f_sbx, warm, run_exec(sbx_argv, environ));
                break;
            case J_F_SBXU:
                add(&f_sbxu, warm, run_exec(sbxu_argv, environ));
                break;
            case J_P_DEF:
                add(&p_def, warm, run_with_profile(prof_default));
                break;
            case J_P_STRICT:
                add(&p_strict, warm, run_with_profile(prof_strict));
                break;
            case J_P_COMPILE:
                add(&p_compile, warm, run_profile_compile());
                break;
            case J_K0:
                add(&k0, warm, run_fork_child(K_NOTHING, NULL));
                break;
            case J_K1:
                add(&k1, warm, run_fork_child(K_DROP_CAPS, NULL));
                break;
            case J_K2:
                add(&k2, warm, run_fork_child(K_SECCOMP, prof_default->base.seccomp));
                break;
            case J_D: {
                double w, st, uw;
                run_runtime(&w, &st, &uw);
                add(&d_wall, warm, w);
                add(&d_setup, warm, st);
                add(&d_uwall, warm, uw);
                break;
            }
            default:
                add(&bn[jobs[k] - J_NS], warm, run_clone(one_ns[jobs[k] - J_NS].flag));
            }
        }
    }
    double elapsed_s = (double)(now_ns() - t_start) / 1e9;

    if (json_path && !(g_json = fopen(json_path, "we")))
        die("cannot write %s: %s", json_path, strerror(errno));

    printf("stage breakdown: median of %zu shuffled, interleaved rounds (+%d warm-up), us;"
           " %.1f s\n",
           g_rounds, WARMUP, elapsed_s);
    printf("cgroups: %s\n\n",
           cgi->version == RT_CGROUP_V2   ? "v2"
           : cgi->version == RT_CGROUP_V1 ? "v1"
                                          : "none (cgroup stages skipped)");
    printf("  %-56s %9s %10s\n", "stage", "median", "vs floor");
    double A = show("a   fork + execve(/bin/true) + waitpid  [floor]", &a, SELF_FLOOR);
    double A0 = show("a0  clone3 (no new namespace) + sync pipe + exec + wait", &a0, A);
    double B = show("b   clone3 user+pid+mnt+net+uts+ipc + maps + exec", &b, A);
    for (size_t k = 0; k < N_ONE_NS; k++)
        show(one_ns[k].label, &bn[k], A);
    double C2c = 0, C2a = 0, C2u = 0, C2d = 0, C2 = 0, C0 = 0;
    show("c1  rt_cgroup_create + rt_cgroup_destroy (empty)", &c1, -1);
    show("      create (mkdir + limits)", &c1_create, -1);
    show("      destroy (rmdir)", &c1_destroy, -1);
    C2 = show("c2  create + attach + kill + wait + usage + destroy", &c2, -1);
    C2c = show("      create", &c2_create, -1);
    C2a = show("      attach a sleeping child", &c2_attach, -1);
    show("      rt_cgroup_kill + waitpid", &c2_killwait, -1);
    C2u = show("      rt_cgroup_read_usage", &c2_usage, -1);
    C2d = show("      destroy (rmdir after the member died)", &c2_destroy, -1);
    C0 = show("c0  kill + waitpid of a sleeping child (no cgroup)", &c0, -1);
    if (c2.n && c0.n)
        row("c2 - c0  cgroup cost with one member", C2 - C0, -1);
    double D = show("d   rt_run(/bin/true), default spec: wall", &d_wall, A);
    double DS = show("      result.setup_ms (start to exec reported)", &d_setup, -1);
    show("      result.usage.wall_ms", &d_uwall, -1);
    if (d_wall.n)
        row("      wall - setup (exec, exit, reap, usage, cleanup)", D - DS, -1);
    double PD = show("p.default  rt_run(/bin/true), profile default", &p_def, A);
    double PS = show("p.strict   rt_run(/bin/true), profile strict", &p_strict, A);
    show("pc  load + compile the default profile (once per profile)", &p_compile, -1);
    double K0 = show("k0  fork + _exit + waitpid", &k0, -1);
    double K1 = show("k1  ... + drop every capability in the child", &k1, -1);
    double K2 = show("k2  ... + load the default filter in the child", &k2, -1);
    double FB = show("f.bwrap  bwrap ... -- /bin/true (fork+exec+wait)", &f_bwrap, A);
    double FS = show("f.sbx    sbx run --profile default -- /bin/true", &f_sbx, A);
    double FU = show("f.sbxu   sbx run --seccomp unconfined -- /bin/true", &f_sbxu, A);
    double X = show("x   rt_cgroup_detect() in a fresh process", &det, -1);

    printf("\nderived (differences of medians, rough):\n");
    if (k0.n && k1.n) {
        row("capability drop = k1 - k0", K1 - K0, -1);
        jnum("k_drop_caps_cost_us", K1 - K0);
    }
    if (k0.n && k2.n) {
        row("seccomp filter load = k2 - k0", K2 - K0, -1);
        jnum("k_seccomp_load_cost_us", K2 - K0);
    }
    if (p_def.n && d_wall.n) {
        row("default profile on rt_run = p.default - d", PD - D, -1);
        jnum("p_default_minus_d_us", PD - D);
    }
    if (p_strict.n && d_wall.n)
        row("strict profile on rt_run = p.strict - d", PS - D, -1);
    if (f_sbx.n && f_sbxu.n) {
        row("filter on sbx run = f.sbx - f.sbxu", FS - FU, -1);
        jnum("f_sbx_minus_unconfined_us", FS - FU);
    }
    if (a0.n && b.n)
        row("namespaces + id maps = b - a0", B - A0, -1);
    if (b.n && d_wall.n)
        row("runtime beyond namespaces = d - b", D - B, -1);
    if (b.n && d_wall.n && c2.n) {
        /* The parent creates and attaches the cgroup while the child builds its
         * mounts, so create+attach hides behind the mounts as far as they take
         * as long; reading usage and removing the group come after the exit and
         * are always on the critical path. */
        double cg_min = C2u + C2d, cg_max = C2c + C2a + C2u + C2d;
        row("cgroup on the critical path, at least (usage+destroy)", cg_min, -1);
        row("cgroup on the critical path, at most (+create+attach)", cg_max, -1);
        row("mounts+caps+rest = d - b - cgroup, from", D - B - cg_max, -1);
        row("mounts+caps+rest = d - b - cgroup, to", D - B - cg_min, -1);
        jnum("e_cgroup_critical_min_us", cg_min);
        jnum("e_cgroup_critical_max_us", cg_max);
        printf("  (\"rest\" includes pid 1 forking the command, the pipes, the epoll\n"
               "   supervisor and the exec report; b execs /bin/true directly as pid 1)\n");
    } else if (b.n && d_wall.n && !have_cg) {
        row("mounts+caps+rest = d - b (no cgroup on this host)", D - B, -1);
    }
    if (f_sbx.n && d_wall.n) {
        row("sbx process start-up and exit = f.sbx - d", FS - D, -1);
        jnum("f_sbx_minus_d_us", FS - D);
    }
    if (f_sbx.n && det.n)
        printf("  (of which cgroup detection, once per sbx process: %.1f)\n", X);
    if (f_sbx.n && f_bwrap.n) {
        printf("  %-56s %9.2f\n", "interleaved sbx/bwrap median ratio (true) = f.sbx/f.bwrap",
               FS / FB);
        jnum("f_sbx_over_bwrap", FS / FB);
    }
    rt_profile_free(prof_default);
    rt_profile_free(prof_strict);
    jnum("rounds", (double)g_rounds);
    if (g_json) {
        fprintf(g_json, "%s\n}\n", g_json_first ? "{" : "");
        if (fclose(g_json) != 0)
            die("writing %s: %s", json_path, strerror(errno));
    }
    return 0;
}
