/* Tests of the cgroup pool of runtime/cgroup.c (cgroup v1, needs root): memory,
 * cpu and cpuacct groups reused across sandboxes, a fresh pids group each
 * time, counters and OOM kills that start from zero for every holder, limits
 * rewritten both ways, a holder that died with a process inside, a full pool,
 * and a busy group never handed on. The holder of another process is this
 * program re-executed with --hold. */
#include "cgroup.h"
#include "tap.h"
#include "cgchild.h"

#include <dirent.h>
#include <linux/close_range.h>
#include <stdint.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/stat.h>

static const rt_cgroup_info *info;

enum { MEM, PIDS, CPU, CPUACCT };

/* The last component of pid's group in the hierarchy of controller ctl. */
static bool group_of(pid_t pid, const char *ctl, char *out, size_t cap)
{
    char path[64], buf[4096];
    snprintf(path, sizeof path, "/proc/%d", (int)pid);
    if (!read_text(path, "cgroup", buf, sizeof buf))
        return false;
    for (char *save, *line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char *ctls = strchr(line, ':'), *dir = ctls ? strchr(ctls + 1, ':') : NULL;
        if (!dir)
            continue;
        *dir = '\0';
        for (char *s2, *c = strtok_r(ctls + 1, ",", &s2); c; c = strtok_r(NULL, ",", &s2))
            if (strcmp(c, ctl) == 0) {
                snprintf(out, cap, "%s", strrchr(dir + 1, '/') + 1);
                return true;
            }
    }
    return false;
}

/* Where a group serves its memory, cpu and pids controllers, seen from a
 * sleeping child put into it; the child is returned to end later. */
typedef struct seen {
    child c;
    char mem[64], cpu[64], pids[64];
} seen;

/* A sandbox closes the fds it inherits, and with them the locks of pooled
 * directories: so does this sleeper. */
static void body_sleep_closed(void)
{
    close_range(3, ~0u, 0);
    body_sleep();
}

static bool look(rt_cgroup *cg, seen *w)
{
    rt_error err = {0};
    w->c = spawn(body_sleep_closed);
    if (rt_cgroup_attach(cg, w->c.pid, &err) < 0) {
        diag("attach: %s", err.msg);
        return false;
    }
    release(&w->c);                 /* it sleeps until killed */
    return group_of(w->c.pid, "memory", w->mem, sizeof w->mem) &&
           group_of(w->c.pid, "cpu", w->cpu, sizeof w->cpu) &&
           group_of(w->c.pid, "pids", w->pids, sizeof w->pids);
}

static void end_child(seen *w)
{
    kill(w->c.pid, SIGKILL);
    wait_status(w->c.pid);
}

static bool fresh_name(const char *name, pid_t owner)
{
    char prefix[32];
    snprintf(prefix, sizeof prefix, "sbx-%d-", (int)owner);
    return strncmp(name, prefix, strlen(prefix)) == 0;
}

static rt_cgroup *create(uint64_t memory, uint64_t pids, double cpus, rt_enforced *e)
{
    rt_limits l = {.memory_bytes = memory, .pids = pids, .cpus = cpus};
    rt_enforced ignored;
    rt_error err = {0};
    rt_cgroup *cg = NULL;
    if (rt_cgroup_create(&l, &cg, e ? e : &ignored, &err) < 0)
        diag("create: %s", err.msg);
    return cg;
}

static bool destroyed(rt_cgroup *cg)
{
    rt_error err = {0};
    if (rt_cgroup_destroy(cg, &err) == 0)
        return true;
    diag("destroy: %s", err.msg);
    return false;
}

static void pool_dir(int slot, int k, char *out, size_t cap)
{
    snprintf(out, cap, "%s/pool-%d", info->parent[slot], k);
}

static bool exists(const char *parent, const char *name)
{
    char path[800];
    struct stat st;
    snprintf(path, sizeof path, "%s/%s", parent, name);
    return stat(path, &st) == 0;
}

/* ---- another process holding pool-0 ----------------------------------------- */

/* --hold: takes a group, puts a sleeping child in, says its pid, and waits to
 * be killed. */
static int hold_main(void)
{
    rt_cgroup *cg = create(64 * MiB, 16, 1, NULL);
    seen w;
    if (!cg || !look(cg, &w))
        return 1;
    printf("%d %s\n", (int)w.c.pid, w.mem);
    fflush(stdout);
    char c;
    while (read(0, &c, 1) > 0)
        ;
    return 0;
}

typedef struct holder {
    pid_t pid, sleeper;
    char mem[64];
} holder;

static holder start_holder(void)
{
    holder h = {-1, -1, ""};
    int in[2], out[2];
    if (pipe2(in, O_CLOEXEC) < 0 || pipe2(out, O_CLOEXEC) < 0)
        return h;
    h.pid = fork();
    if (h.pid == 0) {
        dup2(in[0], 0);
        dup2(out[1], 1);
        execl("/proc/self/exe", "cgroup-pool", "--hold", (char *)NULL);
        _exit(127);
    }
    close(in[0]);
    close(out[1]);
    char buf[128] = "";
    ssize_t n = read(out[0], buf, sizeof buf - 1);
    close(out[0]);
    int pid = -1;
    if (n > 0 && sscanf(buf, "%d %63s", &pid, h.mem) == 2)
        h.sleeper = pid;
    return h;                       /* in[1] stays open: the holder waits on it */
}

/* ---- tests ---------------------------------------------------------------------- */

static void test_bad_value(void)
{
    pid_t pid = fork();
    if (pid == 0) {
        setenv("SBX_CGROUP_POOL", "64k", 1);
        const rt_cgroup_info *ci = rt_cgroup_detect();
        _exit(ci->version != RT_CGROUP_NONE && ci->pool == 0 &&
              strstr(ci->reason, "SBX_CGROUP_POOL \"64k\"") ? 0 : 1);
    }
    int st = wait_status(pid);
    ok(WIFEXITED(st) && WEXITSTATUS(st) == 0,
       "detect: SBX_CGROUP_POOL=64k turns the pool off, not cgroups, and the note says why");
}

/* Another process's pool-0, held and then left behind with a process inside. */
static void test_other_holder(void)
{
    holder h = start_holder();
    ok(h.sleeper > 0 && strcmp(h.mem, "pool-0") == 0,
       "another process holds pool-0 (its sandbox sleeps in %s)", h.mem);
    rt_cgroup *a = create(64 * MiB, 16, 1, NULL), *b = create(64 * MiB, 16, 1, NULL);
    seen wa, wb;
    ok(a && look(a, &wa) && strcmp(wa.mem, "pool-1") == 0 && strcmp(wa.cpu, "pool-1") == 0 &&
           fresh_name(wa.pids, getpid()),
       "create: pool-0 is skipped, pool-1 serves memory and cpu, pids is made (%s, %s, %s)",
       wa.mem, wa.cpu, wa.pids);
    ok(b && look(b, &wb) && fresh_name(wb.mem, getpid()) && fresh_name(wb.cpu, getpid()),
       "create: with both of the 2 pooled groups held, a group of its own (%s)", wb.mem);
    end_child(&wb);
    ok(destroyed(b) && !exists(info->parent[MEM], wb.mem) && !exists(info->parent[PIDS], wb.pids),
       "destroy: that group's directories are removed");

    kill(h.pid, SIGKILL);
    wait_status(h.pid);
    char pool0[800];
    pool_dir(MEM, 0, pool0, sizeof pool0);
    ok(procs(pool0, h.sleeper, NULL) == 1, "the holder was killed; its sandbox is left in pool-0");
    rt_cgroup *c = create(64 * MiB, 16, 1, NULL);
    seen wc;
    ok(c && look(c, &wc) && fresh_name(wc.mem, getpid()),
       "create: a pool-0 with a process inside is not taken (got %s)", wc.mem);
    ok(killed(wait_dying(h.sleeper)), "create: the process left in pool-0 was killed");
    end_child(&wc);
    destroyed(c);
    char stale[64];
    snprintf(stale, sizeof stale, "sbx-%d-1", (int)h.pid);
    bool was = exists(info->parent[PIDS], stale);
    rt_cgroup_sweep();
    ok(was && !exists(info->parent[PIDS], stale),
       "sweep: the dead holder's pids group %s is removed", stale);
    rt_cgroup *d = create(64 * MiB, 16, 1, NULL);
    seen wd;
    ok(d && look(d, &wd) && strcmp(wd.mem, "pool-0") == 0, "create: the emptied pool-0 is taken again");
    end_child(&wd);
    end_child(&wa);
    ok(destroyed(d) && destroyed(a) && exists(info->parent[MEM], "pool-0") &&
           exists(info->parent[CPUACCT], "pool-1") && !exists(info->parent[PIDS], wa.pids),
       "destroy: pooled directories stay, the pids groups go");
}

static void body_burn_40m(void);

/* What one holder leaves must not reach the next: counters, OOM kills, limits. */
static void test_reuse(void)
{
    char mem[800], cpu[800];
    pool_dir(MEM, 1, mem, sizeof mem);
    pool_dir(CPU, 1, cpu, sizeof cpu);
    rt_cgroup *a = create(64 * MiB, 16, 1, NULL);
    rt_error err = {0};
    child c = spawn(body_burn_40m);
    int rc = a ? rt_cgroup_attach(a, c.pid, &err) : -1;
    release(&c);
    wait_status(c.pid);
    rt_usage u = {0};
    bool oom = true;
    rt_cgroup_read_usage(a, &u, &oom);
    ok(rc == 0 && u.cpu_user_ms >= 200 && u.memory_peak_bytes >= 40 * MiB &&
           read_num(mem, "memory.limit_in_bytes") == (long long)(64 * MiB),
       "pool-1 (this process's last released) serves the next group: 64 MiB, %.0f ms of CPU "
       "and %.0f MiB used", u.cpu_user_ms, u.memory_peak_bytes / (double)MiB);
    ok(destroyed(a), "destroy: returns 0");

    rt_enforced e;
    rt_cgroup *b = create(32 * MiB, 8, 0.5, &e);
    u = (rt_usage){0};
    oom = true;
    rt_cgroup_read_usage(b, &u, &oom);
    ok(b && u.cpu_user_ms + u.cpu_sys_ms < 10 && u.memory_peak_bytes < 8 * MiB && !oom,
       "reused: CPU %.1f ms, memory peak %.1f MiB: counters start from zero",
       u.cpu_user_ms + u.cpu_sys_ms, u.memory_peak_bytes / (double)MiB);
    ok(read_num(mem, "memory.limit_in_bytes") == (long long)(32 * MiB) &&
           (!info->memory_swap || read_num(mem, "memory.memsw.limit_in_bytes") == (long long)(32 * MiB)) &&
           read_num(cpu, "cpu.cfs_quota_us") == 50000 && e.memory && e.cpus,
       "reused: the lower limits are written (32 MiB, 50000 us quota)");
    c = spawn(body_hog);
    rc = rt_cgroup_attach(b, c.pid, &err);
    release(&c);
    int st = wait_status(c.pid);
    rt_cgroup_read_usage(b, &u, &oom);
    ok(rc == 0 && killed(st) && oom, "reused: a 200 MiB hog is OOM-killed and reported");
    destroyed(b);

    b = create(256 * MiB, 16, 1, &e);
    oom = true;
    rt_cgroup_read_usage(b, &u, &oom);
    ok(b && !oom, "reused after an OOM kill: the next holder sees none");
    ok(read_num(mem, "memory.limit_in_bytes") == (long long)(256 * MiB) &&
           (!info->memory_swap || read_num(mem, "memory.memsw.limit_in_bytes") == (long long)(256 * MiB)) &&
           read_num(cpu, "cpu.cfs_quota_us") == 100000,
       "reused: higher limits are written (256 MiB: memsw raised before the limit)");
    destroyed(b);

    b = create(0, 16, 0, &e);
    ok(b && read_num(mem, "memory.limit_in_bytes") > (long long)(1ull << 40) &&
           read_num(cpu, "cpu.cfs_quota_us") == -1 && !e.memory && !e.cpus && e.pids,
       "reused: no memory or CPU limit asked lifts the earlier ones (not reported enforced)");
    destroyed(b);
}

/* 40 MiB touched, then 300 ms of CPU. */
static void body_burn_40m(void)
{
    size_t len = 40 * MiB;
    char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    for (size_t i = 0; p != MAP_FAILED && i < len; i += 4096)
        p[i] = 1;
    body_burn();
}

/* A group that still has a process when destroyed is not handed on. */
static void test_busy(void)
{
    rt_cgroup *a = create(64 * MiB, 16, 1, NULL);
    seen w;
    bool in = a && look(a, &w);
    rt_error err = {0};
    double t0 = now_ms();
    int rc = rt_cgroup_destroy(a, &err);
    double waited = now_ms() - t0;
    ok(in && rc == -1 && err.code == EBUSY && waited >= 900,
       "destroy: a process inside fails after %.0f ms: %s", waited, err.msg);
    rt_cgroup *b = create(64 * MiB, 16, 1, NULL), *c = create(64 * MiB, 16, 1, NULL);
    seen wb, wc;
    ok(b && c && look(b, &wb) && look(c, &wc) && strcmp(wb.mem, w.mem) != 0 &&
           strcmp(wc.mem, w.mem) != 0,
       "create: the busy %s is given to neither of the next two (%s, %s)", w.mem, wb.mem, wc.mem);
    int dst = wait_dying(w.c.pid);
    ok(killed(dst), "create: the process left in it was killed (status 0x%x)", dst);
    char pids_dir[800];
    snprintf(pids_dir, sizeof pids_dir, "%s/%s", info->parent[PIDS], w.pids);
    if (rmdir(pids_dir) < 0)
        diag("rmdir %s: %s", pids_dir, strerror(errno));
    end_child(&wb);
    end_child(&wc);
    ok(destroyed(b) && destroyed(c), "destroy: both return 0");
}

static int count_pooled(void)
{
    int n = 0;
    DIR *d = opendir(info->parent[MEM]);
    for (struct dirent *de; d && (de = readdir(d));)
        n += strncmp(de->d_name, "pool-", 5) == 0;
    if (d)
        closedir(d);
    return n;
}

static void test_one_after_another(void)
{
    char first[64] = "";
    bool same = true;
    for (int i = 0; i < 20; i++) {
        rt_cgroup *a = create(64 * MiB, 16, 1, NULL);
        seen w;
        same &= a && look(a, &w) && strncmp(w.mem, "pool-", 5) == 0 &&
                (!first[0] || strcmp(first, w.mem) == 0);
        snprintf(first, sizeof first, "%s", w.mem);
        end_child(&w);
        same &= destroyed(a);
    }
    ok(same && count_pooled() == 2, "20 groups one after another: each in %s, 2 pooled directories",
       first);
}

/* A group whose limit is refused is removed, not handed on to fail again. */
static void test_refused(void)
{
    int before = count_pooled();
    rt_error err = {0};
    rt_limits l = {.memory_bytes = 64 * MiB, .pids = 1ull << 23, .cpus = 1};
    rt_enforced e;
    rt_cgroup *cg = NULL;
    int rc = rt_cgroup_create(&l, &cg, &e, &err);
    ok(rc == -1 && !cg && strstr(err.msg, "pids.max") && count_pooled() == before - 1,
       "create: a refused limit fails (%s) and the pooled group it had is removed", err.msg);
}

/* A file a sandbox leaves in a tmpfs that outlives it stays charged to its
 * memory group: that group is removed, and the next gets a clean one. */
static void test_tmpfs_charge(const char *tmpfs)
{
    char file[300], cmd[400];
    snprintf(file, sizeof file, "%s/left", tmpfs);
    rt_cgroup *a = create(64 * MiB, 16, 1, NULL);
    seen w;
    bool in = a && look(a, &w);
    end_child(&w);
    pid_t pid = fork();
    if (pid == 0) {
        rt_error err = {0};
        if (rt_cgroup_attach(a, getpid(), &err) < 0)
            _exit(1);
        snprintf(cmd, sizeof cmd, "head -c 8388608 /dev/zero > %s", file);
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    int st = wait_status(pid);
    char dir[800];
    snprintf(dir, sizeof dir, "%s/%s", info->parent[MEM], w.mem);
    long long charged = read_num(dir, "memory.usage_in_bytes");
    ok(in && WIFEXITED(st) && WEXITSTATUS(st) == 0 && charged >= (long long)(8 * MiB),
       "8 MiB written to a tmpfs from %s stay charged to it (%.1f MiB)", w.mem,
       charged / (double)MiB);
    ok(destroyed(a) && !exists(info->parent[MEM], w.mem),
       "destroy: the group is removed, not handed on");
    rt_cgroup *b = create(64 * MiB, 16, 1, NULL);
    seen wb;
    bool took = b && look(b, &wb);
    snprintf(dir, sizeof dir, "%s/%s", info->parent[MEM], wb.mem);
    struct stat fst;
    ok(took && read_num(dir, "memory.usage_in_bytes") < (long long)(2 * MiB) &&
           stat(file, &fst) == 0 && fst.st_size == (off_t)(8 * MiB),
       "the next group (%s) starts with nothing charged; the file is still there", wb.mem);
    end_child(&wb);
    destroyed(b);
    unlink(file);
}

/* pid 1 joins through copies of the locked files: a sandbox whose caller died
 * keeps its group from being handed on. */
static void test_join_keeps_lock(void)
{
    rt_cgroup_pool_close();
    int out[2];
    if (pipe2(out, O_CLOEXEC) < 0)
        return;
    pid_t p = fork();
    if (p == 0) {
        int fds[RT_CGROUP_MAX_FDS];
        rt_error err = {0};
        rt_cgroup *cg = create(64 * MiB, 16, 1, NULL);
        int n = cg ? rt_cgroup_self_join_fds(cg, false, fds, &err) : -1;
        pid_t keeper = n > 0 ? fork() : -1;
        if (keeper == 0) {          /* only the join fds and the pipe stay open */
            for (int fd = 3; fd < 1024; fd++) {
                bool keep = fd == out[1];
                for (int i = 0; i < n; i++)
                    keep |= fd == fds[i];
                if (!keep)
                    close(fd);
            }
            pid_t me = getpid();
            if (write(out[1], &me, sizeof me) != sizeof me)
                _exit(1);
            body_sleep();
        }
        _exit(keeper > 0 ? 0 : 1);   /* the caller dies, its own fds with it */
    }
    close(out[1]);
    pid_t keeper = -1;
    bool ready = read(out[0], &keeper, sizeof keeper) == sizeof keeper;
    close(out[0]);
    int st = wait_status(p);
    rt_cgroup *a = create(64 * MiB, 16, 1, NULL);
    seen w;
    ok(ready && WIFEXITED(st) && WEXITSTATUS(st) == 0 && a && look(a, &w) &&
           strcmp(w.mem, "pool-0") != 0,
       "a dead caller's pool-0 stays held by the process with its join fds (got %s)", w.mem);
    end_child(&w);
    destroyed(a);
    if (ready && keeper > 0) {
        kill(keeper, SIGKILL);      /* our orphan now (subreaper): reaped here, its lock gone */
        wait_status(keeper);
    }
}

static void test_sweep_fresh(void)
{
    pid_t dead = fork();
    if (dead == 0)
        _exit(0);
    wait_status(dead);
    char name[64];
    snprintf(name, sizeof name, "sbx-%d-1", (int)dead);
    bool made = true, gone = true;
    for (int s = 0; s < 4; s++) {
        char dir[800];
        snprintf(dir, sizeof dir, "%s/%s", info->parent[s], name);
        made &= mkdir(dir, 0755) == 0 || errno == EEXIST;
    }
    rt_cgroup_sweep();
    for (int s = 0; s < 4; s++)
        gone &= !exists(info->parent[s], name);
    ok(made && gone, "sweep: a dead caller's own groups go from every hierarchy, found by pids");
}

/* Whether another open file of pool-k's memory `tasks` can take its lock. */
static bool pool_unlocked(int k)
{
    char dir[800], path[820];
    pool_dir(MEM, k, dir, sizeof dir);
    snprintf(path, sizeof path, "%s/tasks", dir);
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    bool free_ = fd >= 0 && flock(fd, LOCK_EX | LOCK_NB) == 0;
    if (fd >= 0)
        close(fd);
    return free_;
}

/* Our threads, once an ended one has left /proc/self/task (it is listed a
 * little past the join). */
static int count_tasks(void)
{
    int n = 0;
    for (int tries = 0; tries < 200; tries++, usleep(1000)) {
        DIR *d = opendir("/proc/self/task");
        n = 0;
        for (struct dirent *e; d && (e = readdir(d));)
            n += e->d_name[0] != '.';
        if (d)
            closedir(d);
        if (n == 1)
            break;
    }
    return n;
}

/* The pool-k serving cg's memory group, seen from a sleeper put in it; -1: none. */
static int pool_of(rt_cgroup *cg)
{
    seen w;
    bool in = look(cg, &w);
    end_child(&w);
    int k = -1;
    if (in && sscanf(w.mem, "pool-%d", &k) != 1)
        k = -1;
    return k;
}

/* A program that runs one sandbox (rt_cgroup_prestart) keeps no idle group:
 * its pooled group goes back unlocked at once, for the next process to check
 * and take. Another program keeps it locked for its next sandbox. */
static void test_one_sandbox(void)
{
    rt_cgroup_pool_close();
    pid_t pid = fork();
    if (pid == 0) {
        rt_cgroup_prestart();
        rt_cgroup_prestart_join();
        int tasks = count_tasks();
        rt_cgroup *cg = create(64 * MiB, 16, 1, NULL);
        int ours = 0;
        DIR *d = opendir(info->parent[PIDS]);
        for (struct dirent *e; d && (e = readdir(d));)
            ours += fresh_name(e->d_name, getpid());
        if (d)
            closedir(d);
        if (ours != 1)
            tasks = 0;              /* create made a group besides the thread's */
        int k = cg ? pool_of(cg) : -1;
        bool held = k >= 0 && !pool_unlocked(k);
        bool released = cg && destroyed(cg) && k >= 0 && pool_unlocked(k);
        rt_cgroup_prestart_end();
        _exit((tasks == 1 ? 0 : 1) | (held ? 0 : 2) | (released ? 0 : 4));
    }
    int st = wait_status(pid);
    ok(WIFEXITED(st) && !(WEXITSTATUS(st) & 1),
       "prestart_join: the thread has ended, its group kept for create");
    ok(WIFEXITED(st) && WEXITSTATUS(st) == 0,
       "one sandbox: the pooled group it took is unlocked once destroyed (status 0x%x)", st);
    rt_cgroup *cg = create(64 * MiB, 16, 1, NULL);
    int k = cg ? pool_of(cg) : -1;
    ok(k >= 0 && destroyed(cg) && !pool_unlocked(k),
       "another program keeps its released group (pool-%d) locked for its next sandbox", k);
}

static void remove_all(void)
{
    bool removed = true;
    for (int s = 3; s >= 0; s--) {
        bool dup = false;
        for (int j = 0; j < s; j++)
            dup |= strcmp(info->parent[j], info->parent[s]) == 0;
        if (dup || !info->parent[s][0])
            continue;
        for (int k = 0; k < 2; k++) {
            char dir[800];
            pool_dir(s, k, dir, sizeof dir);
            if (rmdir(dir) < 0 && errno != ENOENT)
                removed = false;
        }
        if (rmdir(info->parent[s]) < 0) {
            diag("rmdir %s: %s", info->parent[s], strerror(errno));
            removed = false;
        }
    }
    ok(removed, "nothing left behind: pooled directories and parents removed");
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "--hold") == 0)
        return hold_main();
    if (geteuid() != 0) {
        printf("1..0 # skip needs root\n");
        return 0;
    }
    char parent[64];
    snprintf(parent, sizeof parent, "sandboxd-pooltest-%d", (int)getpid());
    setenv("SBX_CGROUP_PARENT", parent, 1);
    setenv("SBX_CGROUP_POOL", "2", 1);
    prctl(PR_SET_CHILD_SUBREAPER, 1);
    /* a tmpfs that outlives the sandboxes that write to it, in a namespace of our own */
    char tmpl[] = "/tmp/cgpool.XXXXXX", *tmpfs = NULL;
    if (unshare(CLONE_NEWNS) == 0 && mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) == 0 &&
        mkdtemp(tmpl) && mount("tmpfs", tmpl, "tmpfs", 0, "size=16m") == 0)
        tmpfs = tmpl;
    tap_plan(35);
    test_bad_value();
    info = rt_cgroup_detect();
    if (info->version != RT_CGROUP_V1 || info->pool != 2) {
        ok(info->version != RT_CGROUP_V1, "detect: SBX_CGROUP_POOL=2 honoured on v1");
        skip(33, "the pool is for cgroup v1 only");
        return tap_done();
    }
    ok(info->pool == 2, "detect: SBX_CGROUP_POOL=2 honoured");
    test_other_holder();
    test_reuse();
    test_busy();
    test_one_after_another();
    test_refused();
    if (tmpfs)
        test_tmpfs_charge(tmpfs);
    else
        skip(3, "no tmpfs of our own");
    test_join_keeps_lock();
    test_sweep_fresh();
    test_one_sandbox();
    if (tmpfs && (umount(tmpfs) < 0 || rmdir(tmpfs) < 0))
        diag("removing %s: %s", tmpfs, strerror(errno));
    remove_all();
    return tap_done();
}
