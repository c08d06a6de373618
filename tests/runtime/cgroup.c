/* Tests of runtime/cgroup.c against the real kernel (needs root).
 *
 * The host is cgroup v1 (see DESIGN.md): the main process checks the v1 code
 * path. The v2 path runs in a re-executed child with its own mount and cgroup
 * namespaces and a fresh cgroup2 mount on /sys/fs/cgroup; v2's controllers
 * are bound to v1 here, so there it checks everything but the limits. */
#include "cgroup.h"
#include "tap.h"
#include "cgchild.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define V2_STEPS 10
#define UNIFIED "/sys/fs/cgroup/unified"

#ifndef CLONE_INTO_CGROUP
#define CLONE_INTO_CGROUP 0x200000000ULL
#endif

static const rt_cgroup_info *info;
static char group[4][700];          /* directories of the group under test */
static int result_fd = -1;          /* where fork_loop reports */

/* ---- helpers ------------------------------------------------------------- */

/* Is a distinct hierarchy at slot s (v1 cpu and cpuacct may share one)? */
static bool distinct(int s)
{
    if (!info->parent[s][0])
        return false;
    for (int j = 0; j < s; j++)
        if (strcmp(info->parent[j], info->parent[s]) == 0)
            return false;
    return true;
}

/* Finds our newest group in parent[0] and fills group[] with its paths. */
static bool find_group(void)
{
    char prefix[32], name[256] = "";
    unsigned long best = 0;
    snprintf(prefix, sizeof prefix, "sbx-%d-", (int)getpid());
    DIR *d = opendir(info->parent[0]);
    if (!d)
        return false;
    for (struct dirent *de; (de = readdir(d));) {
        unsigned long n = strtoul(de->d_name + strlen(prefix), NULL, 10);
        if (strncmp(de->d_name, prefix, strlen(prefix)) == 0 && n > best) {
            best = n;
            snprintf(name, sizeof name, "%s", de->d_name);
        }
    }
    closedir(d);
    for (int s = 0; s < 4; s++)
        snprintf(group[s], sizeof group[s], "%s/%s", info->parent[s], name);
    return best > 0;
}

static int count_ours(void)
{
    char prefix[32];
    int n = 0;
    snprintf(prefix, sizeof prefix, "sbx-%d-", (int)getpid());
    DIR *d = opendir(info->parent[0]);
    for (struct dirent *de; d && (de = readdir(d));)
        n += strncmp(de->d_name, prefix, strlen(prefix)) == 0;
    if (d)
        closedir(d);
    return n;
}

static bool all_gone(void)
{
    struct stat st;
    for (int s = 0; s < 4; s++)
        if (info->parent[s][0] && (stat(group[s], &st) == 0 || errno != ENOENT))
            return false;
    return true;
}

static void body_fork_loop(void)
{
    int n = 0, eagain = 0;
    for (int i = 0; i < 20; i++) {
        pid_t pid = fork();
        if (pid == 0)
            body_sleep();
        if (pid > 0)
            n++;
        else if (errno == EAGAIN)
            eagain++;
    }
    int msg[2] = {n, eagain};
    if (write(result_fd, msg, sizeof msg) != sizeof msg)
        _exit(3);
    body_sleep();
}

static void *detect_thread(void *arg)
{
    return (void *)rt_cgroup_detect();
}

/* ---- v1, in this process ----------------------------------------------------- */

static void test_detect(void)
{
    pthread_t t[8];
    void *got[8];
    bool same = true;
    for (int i = 0; i < 8; i++)
        same &= pthread_create(&t[i], NULL, detect_thread, NULL) == 0;
    for (int i = 0; i < 8; i++)
        same &= pthread_join(t[i], &got[i]) == 0 && got[i] == got[0];
    info = rt_cgroup_detect();
    ok(same && got[0] == info, "detect: 8 racing threads get the one result");
    is_int(info->version, RT_CGROUP_V1, "detect: cgroup v1 on this host");
    ok(info->memory && info->pids && info->cpu && info->cpuacct,
       "detect: memory, pids, cpu, cpuacct usable (reason: %s)", info->reason);
    char want[64];
    struct stat st;
    snprintf(want, sizeof want, "/sandboxd-test-%d", (int)getpid());
    bool dirs = info->writable;
    for (int s = 0; s < 4; s++)
        dirs &= strstr(info->parent[s], want) && stat(info->parent[s], &st) == 0 &&
                S_ISDIR(st.st_mode);
    ok(dirs, "detect: SBX_CGROUP_PARENT honoured, parents made (%s)", info->parent[0]);
}

static void test_limits(rt_cgroup *cg, int rc, rt_enforced e)
{
    ok(rc == 0 && e.memory && e.pids && e.cpus && e.cpu_time && find_group(),
       "create: 64 MiB group, every limit enforced");
    is_int(read_num(group[0], "memory.limit_in_bytes"), 64 * MiB,
           "create: memory.limit_in_bytes holds 64 MiB");
    if (info->memory_swap)
        is_int(read_num(group[0], "memory.memsw.limit_in_bytes"), 64 * MiB,
               "create: memory.memsw.limit_in_bytes holds 64 MiB (no swap beyond)");
    else
        is_int(read_num(group[0], "memory.swappiness"), 0, "create: swappiness 0");
    is_int(read_num(group[1], "pids.max"), 16, "create: pids.max holds 16");
    is_int(read_num(group[2], "cpu.cfs_period_us"), 100000, "create: cfs_period_us 100000");
    is_int(read_num(group[2], "cpu.cfs_quota_us"), 100000, "create: cfs_quota_us 100000");
    is_int(rt_cgroup_dirfd(cg), -1, "dirfd: -1 on v1");
}

static void test_attach_cpu(rt_cgroup *cg)
{
    rt_error err = {0};
    child c = spawn(body_burn);
    uint64_t u0 = 0, s0 = 0, u1 = 0, s1 = 0;
    bool in_all = true, has;
    is_int(rt_cgroup_attach(cg, c.pid, &err), 0, "attach: returns 0");
    for (int s = 0; s < 4; s++)
        in_all &= procs(group[s], c.pid, &has) >= 1 && has;
    ok(in_all, "attach: child listed in memory, pids, cpu and cpuacct cgroup.procs");
    int rc = rt_cgroup_cpu_ns(cg, &u0, &s0);
    release(&c);
    wait_status(c.pid);
    rc |= rt_cgroup_cpu_ns(cg, &u1, &s1);
    ok(rc == 0 && (u1 + s1) - (u0 + s0) >= 200000000ull,
       "cpu_ns: grows by >= 200 ms after the child burns 300 ms (%.1f ms)",
       ((u1 + s1) - (u0 + s0)) / 1e6);
    rt_usage usage = {0};
    bool oom = true;
    rc = rt_cgroup_read_usage(cg, &usage, &oom);
    ok(rc == 0 && usage.cpu_user_ms >= 200 && !oom,
       "read_usage: cpu_user_ms %.1f, no OOM yet (rc %d)", usage.cpu_user_ms, rc);
}

static void test_oom(rt_cgroup *cg)
{
    rt_error err = {0};
    child c = spawn(body_hog);
    int rc = rt_cgroup_attach(cg, c.pid, &err);
    release(&c);
    int st = wait_status(c.pid);
    ok(rc == 0 && killed(st), "oom: touching 200 MiB in a 64 MiB group gets SIGKILL");
    rt_usage usage = {0};
    bool oom = false;
    rc = rt_cgroup_read_usage(cg, &usage, &oom);
    ok(rc == 0 && oom, "read_usage: oom reported");
    ok(usage.memory_peak_bytes >= 56 * MiB && usage.memory_peak_bytes <= 64 * MiB,
       "read_usage: memory peak near the limit (%.1f MiB)", usage.memory_peak_bytes / (double)MiB);
}

static void test_destroy(rt_cgroup *cg, const char *what)
{
    rt_error err = {0};
    int rc = rt_cgroup_destroy(cg, &err);
    ok(rc == 0 && all_gone(), "destroy %s: every directory gone (%s)", what, err.msg);
}

static void test_pids_kill(void)
{
    rt_limits l = {.memory_bytes = 256 * MiB, .pids = 8, .cpus = 0.5};
    rt_enforced e;
    rt_error err = {0};
    rt_cgroup *cg = NULL;
    int rc = rt_cgroup_create(&l, &cg, &e, &err);
    ok(rc == 0 && find_group() && read_num(group[2], "cpu.cfs_quota_us") == 50000,
       "create: pids.max 8 group, 0.5 CPU is a 50000 us quota");
    if (rc < 0) {
        skip(6, err.msg);
        return;
    }
    int p[2] = {-1, -1}, msg[2] = {-1, -1};
    if (pipe2(p, O_CLOEXEC) < 0)
        diag("pipe: %s", strerror(errno));
    result_fd = p[1];
    child c = spawn(body_fork_loop);
    rc |= rt_cgroup_attach(cg, c.pid, &err);
    release(&c);
    if (read(p[0], msg, sizeof msg) != sizeof msg)
        diag("reading fork loop result: %s", strerror(errno));
    is_int(msg[0], 7, "pids: fork loop held at 7 children (8 tasks)");
    ok(msg[1] > 0, "pids: fork failed with EAGAIN");
    rt_usage usage = {0};
    bool oom;
    int urc = rt_cgroup_read_usage(cg, &usage, &oom);
    ok(urc == 0 && usage.pids_peak == 8, "read_usage: pids_peak 8 (got %llu)",
       (unsigned long long)usage.pids_peak);
    rt_cgroup_kill(cg);
    bool empty = true;
    for (int s = 0; s < 4; s++)
        empty &= procs(group[s], 0, NULL) == 0;
    ok(rc == 0 && empty, "kill: every controller's cgroup.procs is empty");
    ok(killed(wait_dying(c.pid)), "kill: the child died of SIGKILL");
    reap_all();
    close(p[0]);
    close(p[1]);
    test_destroy(cg, "after kill");
}

static void test_destroy_busy(void)
{
    rt_limits l = {.memory_bytes = 64 * MiB, .pids = 8, .cpus = 1};
    rt_enforced e;
    rt_error err = {0};
    rt_cgroup *cg = NULL;
    child c = spawn(body_sleep);
    int rc = rt_cgroup_create(&l, &cg, &e, &err);
    if (rc < 0) {
        skip(2, err.msg);
        close(c.go);
        wait_status(c.pid);
        return;
    }
    rc = rt_cgroup_attach(cg, c.pid, &err);
    bool found = find_group();
    double t0 = now_ms();
    int drc = rt_cgroup_destroy(cg, &err);
    double waited = now_ms() - t0;
    ok(rc == 0 && found && drc == -1 && err.code == EBUSY &&
       strstr(err.msg, strrchr(group[0], '/')) && strstr(err.msg, "/sys/fs/cgroup/") &&
       strstr(err.msg, "busy"), "destroy: a live process makes it fail naming the path: %s", err.msg);
    ok(waited >= 900 && waited < 3000, "destroy: retried for about 1 s (%.0f ms)", waited);
    close(c.go);                    /* the child exits on EOF */
    wait_status(c.pid);
    for (int s = 3; s >= 0; s--)
        if (distinct(s) && rmdir(group[s]) < 0)
            diag("rmdir %s: %s", group[s], strerror(errno));
}

static int n_move_fds;          /* body_join_leave's join fds, and as many leave fds */

static void body_join_leave(void)
{
    char c;
    /* fds 3.. are the join fds, then the leave fds; go byte on stdin */
    if (read(0, &c, 1) != 1)
        _exit(2);
    for (int fd = 3; fd < 3 + n_move_fds; fd++)
        if (write(fd, "0", 1) != 1)
            _exit(3);
    if (write(1, "j", 1) != 1 || read(0, &c, 1) != 1)
        _exit(4);
    for (int fd = 3 + n_move_fds; fd < 3 + 2 * n_move_fds; fd++)
        if (write(fd, "0", 1) != 1)
            _exit(5);
    if (write(1, "l", 1) != 1 || read(0, &c, 1) != 1)
        _exit(6);
    _exit(0);
}

/* A process moves itself in with the join fds and back out with the leave fds
 * (v1: "0" to `tasks`); the empty group is then removed while it lives, and a
 * group with a process inside stays for rt_cgroup_destroy. */
static void test_self_move(void)
{
    rt_limits l = {.memory_bytes = 64 * MiB, .pids = 8, .cpus = 1};
    rt_enforced e;
    rt_error err = {0};
    rt_cgroup *cg = NULL;
    int fds[2 * RT_CGROUP_MAX_FDS], n_join = -1, n_leave = -1;
    int rc = rt_cgroup_create(&l, &cg, &e, &err);
    if (rc == 0) {
        n_join = rt_cgroup_self_join_fds(cg, false, fds, &err);
        n_leave = rt_cgroup_self_leave_fds(false, fds + (n_join > 0 ? n_join : 0), &err);
    }
    int hier = 0;
    for (int s = 0; s < 4; s++)
        hier += distinct(s);
    ok(rc == 0 && find_group() && n_join == hier && n_leave == hier,
       "self move: a join and a leave fd per hierarchy (%d, %d of %d)", n_join, n_leave, hier);
    if (rc < 0 || n_join != hier || n_leave != hier) {
        skip(4, err.msg);
        return;
    }
    int in[2], out[2];
    if (pipe(in) < 0 || pipe(out) < 0)
        diag("pipe: %s", strerror(errno));
    n_move_fds = n_join;
    pid_t pid = fork();
    if (pid == 0) {
        dup2(in[0], 0);
        dup2(out[1], 1);
        for (int i = 0; i < n_join + n_leave; i++)
            dup2(fds[i], 3 + i);
        body_join_leave();
    }
    for (int i = 0; i < n_join + n_leave; i++)
        close(fds[i]);
    close(in[0]);
    close(out[1]);
    char c = 0;
    bool joined = true, left = true, has;
    if (write(in[1], "g", 1) != 1 || read(out[0], &c, 1) != 1 || c != 'j')
        diag("the child did not join (%c)", c);
    for (int s = 0; s < 4; s++)
        if (distinct(s))
            joined &= procs(group[s], pid, &has) == 1 && has;
    ok(joined, "self move: the process is in the group in every hierarchy");
    ok(rt_cgroup_try_remove(cg) == -1 && !all_gone(), "try_remove: a busy group stays");
    if (write(in[1], "g", 1) != 1 || read(out[0], &c, 1) != 1 || c != 'l')
        diag("the child did not leave (%c)", c);
    for (int s = 0; s < 4; s++)
        if (distinct(s))
            left &= procs(info->parent[s], pid, &has) >= 1 && has;
    ok(left && rt_cgroup_try_remove(cg) == 0 && all_gone() && kill(pid, 0) == 0,
       "self move: out again, and the group is removed while the process lives");
    ok(rt_cgroup_destroy(cg, &err) == 0, "destroy afterwards has nothing to do (%s)", err.msg);
    if (write(in[1], "g", 1) != 1)
        diag("ending the child: %s", strerror(errno));
    wait_status(pid);
    close(in[1]);
    close(out[0]);
}

/* A pid 1 that shares its caller's memory joins every hierarchy but the
 * memory controller's; the command joins that one with its own fd. */
static void test_memory_apart(void)
{
    rt_limits l = {.memory_bytes = 64 * MiB, .pids = 8, .cpus = 1};
    rt_enforced e;
    rt_error err = {0};
    rt_cgroup *cg = NULL;
    int fds[2 * RT_CGROUP_MAX_FDS], mfd = -1, n_join = -1, n_leave = -1, n_mem = -1;
    int rc = rt_cgroup_create(&l, &cg, &e, &err);
    if (rc == 0) {
        n_join = rt_cgroup_self_join_fds(cg, true, fds, &err);
        n_leave = rt_cgroup_self_leave_fds(true, fds + (n_join > 0 ? n_join : 0), &err);
        n_mem = rt_cgroup_memory_join_fd(cg, &mfd, &err);
    }
    int hier = 0;
    for (int s = 1; s < 4; s++)
        hier += distinct(s) && strcmp(info->parent[s], info->parent[0]) != 0;
    ok(rc == 0 && find_group() && n_join == hier && n_leave == hier && n_mem == 1 && mfd >= 0,
       "memory apart: join and leave fds for the %d other hierarchies (%d, %d), one for memory",
       hier, n_join, n_leave);
    for (int i = 0; i < n_join + n_leave; i++)
        close(fds[i]);
    int sync[2] = {-1, -1};
    pid_t pid = rc == 0 && n_mem == 1 && pipe(sync) == 0 ? fork() : -1;
    if (pid == 0) {
        char c;
        close(sync[1]);
        _exit(write(mfd, "0", 1) == 1 && read(sync[0], &c, 1) == 0 ? 0 : 1);
    }
    bool in_memory = false, elsewhere = false, has = false;
    for (int tries = 0; pid > 0 && !has && tries < 1000; tries++) {
        if (procs(group[0], pid, &has) < 0)
            break;
        if (!has)
            usleep(1000);
    }
    in_memory = has;
    for (int s = 1; s < 4; s++)
        if (pid > 0 && distinct(s) && strcmp(info->parent[s], info->parent[0]) != 0)
            elsewhere |= procs(group[s], pid, &has) != 0 || has;
    ok(in_memory, "memory apart: a process joins the memory group with its fd");
    ok(pid > 0 && !elsewhere, "memory apart: and no other group");
    if (sync[1] >= 0)
        close(sync[1]);
    if (sync[0] >= 0)
        close(sync[0]);
    if (pid > 0)
        wait_status(pid);
    if (mfd >= 0)
        close(mfd);
    ok(rc == 0 && rt_cgroup_destroy(cg, &err) == 0, "memory apart: destroyed (%s)", err.msg);
}

static void test_create_fails(void)
{
    rt_limits l = {.memory_bytes = 64 * MiB, .pids = 1ull << 23, .cpus = 1};
    rt_enforced e = {.memory = true};
    rt_error err = {0};
    rt_cgroup *cg = (rt_cgroup *)&err;
    int rc = rt_cgroup_create(&l, &cg, &e, &err);
    ok(rc == -1 && err.code == EINVAL && strstr(err.msg, "pids.max") && strstr(err.msg, "/sbx-"),
       "create: a refused pids.max fails naming the file: %s", err.msg);
    ok(!cg && !e.memory && count_ours() == 0, "create: failure leaves no directory behind");
}

static void test_sweep(void)
{
    pid_t dead = fork();
    if (dead == 0)
        _exit(0);
    wait_status(dead);
    child c = spawn(body_sleep);
    char stale[4][700], pid[16];
    bool made = true, gone = true;
    snprintf(pid, sizeof pid, "%d", (int)c.pid);
    for (int s = 0; s < 4; s++) {
        snprintf(stale[s], sizeof stale[s], "%s/sbx-%d-1", info->parent[s], (int)dead);
        if (!distinct(s))
            continue;
        char procs_path[800];
        snprintf(procs_path, sizeof procs_path, "%s/cgroup.procs", stale[s]);
        int fd = -1;
        made &= mkdir(stale[s], 0755) == 0 && (fd = open(procs_path, O_WRONLY)) >= 0 &&
                write(fd, pid, strlen(pid)) > 0;
        if (fd >= 0)
            close(fd);
    }
    rt_limits l = {.memory_bytes = 64 * MiB, .pids = 8, .cpus = 1};
    rt_enforced e;
    rt_error err = {0};
    rt_cgroup *live = NULL;
    int rc = rt_cgroup_create(&l, &live, &e, &err);
    rt_cgroup_sweep();
    struct stat st;
    for (int s = 0; s < 4; s++)
        gone &= stat(stale[s], &st) < 0 && errno == ENOENT;
    ok(made && gone, "sweep: removes sbx-%d-1 (dead pid) in every hierarchy", (int)dead);
    ok(killed(wait_dying(c.pid)), "sweep: kills what was left inside it");
    close(c.go);
    ok(rc == 0 && find_group() && stat(group[0], &st) == 0, "sweep: keeps our own live group");
    rt_cgroup_destroy(live, &err);
}

/* Stale group of a dead process, in every hierarchy; false if not made. */
static bool make_stale(char stale[4][700])
{
    pid_t dead = fork();
    if (dead == 0)
        _exit(0);
    wait_status(dead);
    bool made = true;
    for (int s = 0; s < 4; s++) {
        snprintf(stale[s], sizeof stale[0], "%s/sbx-%d-1", info->parent[s], (int)dead);
        made &= !distinct(s) || mkdir(stale[s], 0755) == 0;
    }
    return made;
}

static void test_prestart(void)
{
    char stale[4][700];
    bool made = make_stale(stale);
    rt_cgroup_prestart();
    rt_limits l = {.memory_bytes = 64 * MiB, .pids = 12, .cpus = 1};
    rt_enforced e;
    rt_error err = {0};
    rt_cgroup *cg = NULL;
    int rc = rt_cgroup_create(&l, &cg, &e, &err);
    ok(rc == 0 && e.pids && find_group() && read_num(group[1], "pids.max") == 12 &&
           count_ours() == 1,
       "prestart: create takes the prestarted group and writes its limits");
    rt_cgroup_destroy(cg, &err);
    rt_cgroup_prestart_end();
    struct stat st;
    bool gone = true;
    for (int s = 0; s < 4; s++)
        gone &= stat(stale[s], &st) < 0 && errno == ENOENT;
    ok(made && gone && count_ours() == 0,
       "prestart: its thread swept the stale group; nothing of ours is left");
    rt_cgroup_prestart();
    rt_cgroup_prestart_end();
    is_int(count_ours(), 0, "prestart: a group nobody took is removed by prestart_end");
}

static void bench_create_destroy(void)
{
    enum { N = 200 };
    static double t[N];
    rt_limits l = {.memory_bytes = 256 * MiB, .pids = 64, .cpus = 1};
    for (int i = 0; i < N; i++) {
        rt_cgroup *cg;
        rt_enforced e;
        rt_error err;
        double t0 = now_ms();
        if (rt_cgroup_create(&l, &cg, &e, &err) < 0 || rt_cgroup_destroy(cg, &err) < 0) {
            diag("bench: %s", err.msg);
            return;
        }
        t[i] = now_ms() - t0;
    }
    for (int i = 1; i < N; i++)         /* insertion sort: N is small */
        for (int j = i; j > 0 && t[j - 1] > t[j]; j--) {
            double x = t[j];
            t[j] = t[j - 1];
            t[j - 1] = x;
        }
    diag("create+destroy: median %.0f us, p90 %.0f us over %d", t[N / 2] * 1e3,
         t[N * 9 / 10] * 1e3, N);
}

/* ---- v2, in a re-executed child ----------------------------------------------- */

static pid_t clone_into(int cgfd)
{
    struct {
        uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls,
            set_tid, set_tid_size, cgroup;
    } args = {.flags = CLONE_INTO_CGROUP, .exit_signal = SIGCHLD, .cgroup = (uint64_t)cgfd};
    pid_t pid = (pid_t)syscall(SYS_clone3, &args, sizeof args);
    if (pid == 0)
        body_sleep();
    return pid;
}

static bool v2_step(int *passed, bool cond, const char *what)
{
    if (cond)
        (*passed)++;
    else
        diag("v2 step %d failed: %s (%s)", *passed + 1, what, strerror(errno));
    return cond;
}

/* The sweep step: a stale v2 group with a process inside is killed (via
 * cgroup.kill) and removed. */
static bool v2_sweep(void)
{
    char stale[600], path[700], pid[16];
    pid_t dead = fork();
    if (dead == 0)
        _exit(0);
    wait_status(dead);
    child c = spawn(body_sleep);
    snprintf(stale, sizeof stale, "%s/sbx-%d-1", info->parent[0], (int)dead);
    snprintf(path, sizeof path, "%s/cgroup.procs", stale);
    snprintf(pid, sizeof pid, "%d", (int)c.pid);
    int fd = mkdir(stale, 0755) == 0 ? open(path, O_WRONLY) : -1;
    bool moved = fd >= 0 && write(fd, pid, strlen(pid)) > 0;
    if (fd >= 0)
        close(fd);
    rt_cgroup_sweep();
    struct stat st;
    return moved && killed(wait_dying(c.pid)) && stat(stale, &st) < 0 && errno == ENOENT;
}

static int v2_child(void)
{
    int passed = 0;
    char avail[256] = "";
    info = rt_cgroup_detect();
    read_text("/sys/fs/cgroup", "cgroup.controllers", avail, sizeof avail);
    if (!v2_step(&passed, info->version == RT_CGROUP_V2 && info->writable &&
                 strcmp(info->parent[0], "/sys/fs/cgroup/sandboxd") == 0, "detect") ||
        !v2_step(&passed, info->memory == (strstr(avail, "memory") != NULL) &&
                 info->pids == (strstr(avail, "pids") != NULL) && info->cpuacct &&
                 (info->memory || info->reason[0]), "controllers"))
        return passed;
    rt_limits l = {.memory_bytes = 64 * MiB, .pids = 8, .cpus = 1};
    rt_enforced e;
    rt_error err = {0};
    rt_cgroup *cg = NULL;
    if (!v2_step(&passed, rt_cgroup_create(&l, &cg, &e, &err) == 0 && e.cpu_time &&
                 e.memory == info->memory && e.pids == info->pids && find_group(), err.msg))
        return passed;
    struct statfs sfs;
    int fd = rt_cgroup_dirfd(cg);
    pid_t pid = fd >= 0 ? clone_into(fd) : -1;
    uint64_t u, s;
    bool has = false;
    if (!v2_step(&passed, fd >= 0 && fstatfs(fd, &sfs) == 0 && sfs.f_type == CGROUP2_SUPER_MAGIC,
                 "dirfd") ||
        !v2_step(&passed, pid > 0 && procs(group[0], pid, &has) == 1 && has, "clone3 into") ||
        !v2_step(&passed, rt_cgroup_cpu_ns(cg, &u, &s) == 0, "cpu_ns")) {
        wait_dying(pid);
        return passed;
    }
    rt_cgroup_kill(cg);
    if (!v2_step(&passed, procs(group[0], 0, NULL) == 0 && killed(wait_dying(pid)), "kill") ||
        !v2_step(&passed, rt_cgroup_destroy(cg, &err) == 0 && all_gone(), err.msg) ||
        !v2_step(&passed, v2_sweep(), "sweep"))
        return passed;
    v2_step(&passed, rmdir(info->parent[0]) == 0, "rmdir parent");
    return passed;
}

/* Runs v2_child in new mount and cgroup namespaces over a fresh cgroup2
 * mount; the namespace root is a group of our own under the unified mount. */
static void test_v2(void)
{
    static const char *names[V2_STEPS] = {
        "detect: v2 from a cgroup2 mount at /sys/fs/cgroup, parent made",
        "detect: controllers bound to v1 reported unusable, cpu.stat usable",
        "create: group made, enforced matches the controllers",
        "dirfd: a cgroup2 directory fd",
        "dirfd: clone3(CLONE_INTO_CGROUP) starts a child inside the group",
        "cpu_ns: reads cpu.stat",
        "kill: the child dies of SIGKILL, the group empties",
        "destroy: the group is gone",
        "sweep: a stale group's process is killed and the group removed",
        "the parent is empty at the end",
    };
    char ns_root[256], procs_path[300], pid[16];
    struct statfs sfs;
    if (statfs(UNIFIED, &sfs) < 0 || sfs.f_type != CGROUP2_SUPER_MAGIC) {
        skip(V2_STEPS + 1, "no cgroup2 mount at " UNIFIED);
        return;
    }
    snprintf(ns_root, sizeof ns_root, UNIFIED "/sandboxd-v2test-%d", (int)getpid());
    snprintf(procs_path, sizeof procs_path, "%s/cgroup.procs", ns_root);
    bool made = mkdir(ns_root, 0755) == 0;
    pid_t c = fork();
    if (c == 0) {
        snprintf(pid, sizeof pid, "%d", (int)getpid());
        int fd = open(procs_path, O_WRONLY);
        if (fd < 0 || write(fd, pid, strlen(pid)) < 0 || unshare(CLONE_NEWNS | CLONE_NEWCGROUP) < 0 ||
            mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
            mount("cgroup2", "/sys/fs/cgroup", "cgroup2", 0, NULL) < 0 ||
            unsetenv("SBX_CGROUP_PARENT") < 0)
            _exit(100);
        execl("/proc/self/exe", "cgroup-v2", "--v2-child", (char *)NULL);
        _exit(101);
    }
    int st = wait_status(c);
    int passed = WIFEXITED(st) && WEXITSTATUS(st) <= V2_STEPS ? WEXITSTATUS(st) : 0;
    if (!made || !WIFEXITED(st) || WEXITSTATUS(st) > V2_STEPS)
        diag("v2 setup failed (mkdir %d, status 0x%x)", made, st);
    for (int k = 0; k < V2_STEPS; k++)
        ok(passed > k, "v2: %s", names[k]);
    ok(made && rmdir(ns_root) == 0, "v2: nothing left in the unified hierarchy");
}

static void remove_parents(void)
{
    bool removed = true;
    for (int s = 3; s >= 0; s--)
        if (distinct(s) && rmdir(info->parent[s]) < 0) {
            diag("rmdir %s: %s", info->parent[s], strerror(errno));
            removed = false;
        }
    ok(removed, "nothing left behind: every parent directory empty and removed");
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "--v2-child") == 0)
        return v2_child();
    if (geteuid() != 0) {
        printf("1..0 # skip needs root\n");
        return 0;
    }
    char parent[64];
    snprintf(parent, sizeof parent, "sandboxd-test-%d", (int)getpid());
    setenv("SBX_CGROUP_PARENT", parent, 1);
    setenv("SBX_CGROUP_POOL", "0", 1);      /* groups made and removed: cgroup_pool.t has the pool */
    prctl(PR_SET_CHILD_SUBREAPER, 1);
    tap_plan(57);
    test_detect();
    if (info->version != RT_CGROUP_V1) {
        skip(42, "not cgroup v1");
    } else {
        rt_limits l = {.memory_bytes = 64 * MiB, .pids = 16, .cpus = 1};
        rt_enforced e = {0};
        rt_error err = {0};
        rt_cgroup *cg = NULL;
        int rc = rt_cgroup_create(&l, &cg, &e, &err);
        test_limits(cg, rc, e);
        if (rc < 0) {
            skip(8, err.msg);
        } else {
            test_attach_cpu(cg);
            test_oom(cg);
            test_destroy(cg, "64 MiB group");
        }
        test_pids_kill();
        test_destroy_busy();
        test_self_move();
        test_memory_apart();
        test_create_fails();
        test_sweep();
        test_prestart();
        bench_create_destroy();
        remove_parents();
    }
    test_v2();
    return tap_done();
}
