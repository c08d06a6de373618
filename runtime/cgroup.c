/* cgroups v1 and v2 behind one interface.
 *
 * Detection runs once per process: it picks the version, finds our own group
 * in each hierarchy (/proc/self/mountinfo + /proc/self/cgroup, each read and
 * split once), creates the parent of sandbox groups under it and keeps an fd
 * of each parent open. The hot path (create, write limits, destroy) is then a
 * handful of *at() calls on short names: no stdio, no path walks from /. */
#include "cgroup.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/magic.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <time.h>
#include <unistd.h>

#include "cleanup.h"
#include "prestart.h"

/* One slot per controller we use; on v1 each may be its own hierarchy (cpu and
 * cpuacct are often co-mounted and then share a directory), on v2 all share
 * slot 0. */
enum { SLOT_MEMORY, SLOT_PIDS, SLOT_CPU, SLOT_CPUACCT, NSLOTS };

static const char *const slot_ctl[NSLOTS] = {"memory", "pids", "cpu", "cpuacct"};

#define DEFAULT_PARENT "sandboxd"
#define CPU_PERIOD_US 100000
#define CPU_MIN_QUOTA_US 1000       /* the kernel refuses less */
#define RMDIR_WAIT_US 1000000L      /* per destroy, over all its directories */
#define KILL_ROUNDS 100             /* ~1 s with the back-off below */
#define POOL_DEFAULT 64             /* reusable groups per parent (SBX_CGROUP_POOL) */
#define POOL_LIMIT 1024

/* Written once by detect_once, read-only after. */
static struct {
    pthread_once_t once;
    rt_cgroup_info info;
    int pfd[NSLOTS];                /* parents of sandbox groups (aliases share) */
    int owner[NSLOTS];              /* slot whose directory this slot uses; -1 */
    bool pooled[NSLOTS];            /* owner slots whose directories are reused */
} g = {.once = PTHREAD_ONCE_INIT};

static atomic_ulong counter;
static atomic_long live_groups;     /* ours: counted once made, uncounted before removal */

struct rt_cgroup {
    int dfd[NSLOTS];                /* group directories, at owner slots */
    int lock[NSLOTS];               /* pooled slots: the locked `tasks` file */
    char name[48];                  /* sbx-<pid>-<n>: the directories made for it */
    int pool;                       /* pool-<pool> in the pooled slots; -1: none */
    char pool_name[16];
    uint64_t oom_base;              /* the pooled memory group's OOM kills before */
    bool removed;                   /* made directories removed by rt_cgroup_try_remove */
};

static bool is_owner(int slot)
{
    return g.owner[slot] == slot;
}

/* One fd per hierarchy, and their count fits the child's go-ahead byte. */
_Static_assert(NSLOTS <= RT_CGROUP_MAX_FDS && RT_CGROUP_MAX_FDS < 16, "fds per group");

/* ---- small file helpers ------------------------------------------------ */

static void sleep_us(long us)
{
    struct timespec ts = {.tv_sec = us / 1000000, .tv_nsec = us % 1000000 * 1000};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

/* Writes val to dir/file in one write(); -1 with errno on failure. */
static int write_at(int dfd, const char *file, const char *val)
{
    cleanup_close int fd = openat(dfd, file, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    size_t len = strlen(val);
    ssize_t n = write(fd, val, len);
    if (n < 0)
        return -1;
    if ((size_t)n != len) {
        errno = EIO;
        return -1;
    }
    return 0;
}

/* Reads up to cap-1 bytes of dir/file and NUL-terminates; -1 with errno. */
static ssize_t read_at(int dfd, const char *file, char *buf, size_t cap)
{
    cleanup_close int fd = openat(dfd, file, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    size_t len = 0;
    ssize_t n = 0;
    while (len + 1 < cap && (n = read(fd, buf + len, cap - 1 - len)) > 0)
        len += (size_t)n;
    if (n < 0)
        return -1;
    buf[len] = '\0';
    return (ssize_t)len;
}

static bool parse_u64(const char *s, uint64_t *out)
{
    char *end;
    if (!isdigit((unsigned char)*s))
        return false;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || (*end && !isspace((unsigned char)*end)))
        return false;
    *out = v;
    return true;
}

static int read_u64(int dfd, const char *file, uint64_t *out)
{
    char buf[32];
    if (read_at(dfd, file, buf, sizeof buf) < 0)
        return -1;
    if (!parse_u64(buf, out)) {
        errno = EINVAL;
        return -1;
    }
    return 0;
}

/* Like read_u64, but a file this kernel lacks leaves *out alone. */
static int read_optional(int dfd, const char *file, uint64_t *out)
{
    return read_u64(dfd, file, out) < 0 && errno != ENOENT ? -1 : 0;
}

/* Finds "key value" at the start of a line of a flat-keyed file. */
static bool key_u64(const char *buf, const char *key, uint64_t *out)
{
    size_t n = strlen(key);
    for (const char *p = buf; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
        if (strncmp(p, key, n) == 0 && p[n] == ' ')
            return parse_u64(p + n + 1, out);
    return false;
}

/* Is tok one of the sep-separated words of list? */
static bool has_token(const char *list, const char *tok, char sep)
{
    size_t n = strlen(tok);
    for (const char *p = list; p; p = strchr(p, sep) ? strchr(p, sep) + 1 : NULL)
        if (strncmp(p, tok, n) == 0 && (p[n] == sep || p[n] == '\0' || p[n] == '\n'))
            return true;
    return false;
}

static bool join(char *out, size_t cap, const char *dir, const char *name)
{
    size_t len = strlen(dir);
    const char *sep = len && dir[len - 1] == '/' ? "" : "/";
    int n = snprintf(out, cap, "%s%s%s", dir, sep, name);
    return n >= 0 && (size_t)n < cap;
}

/* ---- detection ------------------------------------------------------------ */

static void note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void note(const char *fmt, ...)
{
    char *r = g.info.reason;
    size_t len = strlen(r);
    if (len && len + 3 < sizeof g.info.reason) {
        memcpy(r + len, "; ", 3);
        len += 2;
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r + len, sizeof g.info.reason - len, fmt, ap);
    va_end(ap);
}

/* What detection reads from /proc, each file read and split once: the cgroup
 * mounts of mountinfo and the lines of /proc/self/cgroup, pointing into the
 * files' text. */
#define MAX_PROC_ROWS 128

typedef struct mount_entry {
    char *root, *mnt, *fstype, *opts;
} mount_entry;

typedef struct proc_view {
    char *mountinfo, *cgroup;
    mount_entry mounts[MAX_PROC_ROWS];
    size_t n_mounts;
    struct {
        char *ctls, *path;          /* "memory", "cpu,cpuacct"; "" for v2 */
    } groups[MAX_PROC_ROWS];
    size_t n_groups;
} proc_view;

/* The whole of a /proc file (its size is not known before reading). */
static char *read_whole(const char *path)
{
    cleanup_close int fd = open(path, O_RDONLY | O_CLOEXEC);
    size_t len = 0, cap = 8192;
    char *buf = fd >= 0 ? malloc(cap) : NULL;
    ssize_t n;
    while (buf && (n = read(fd, buf + len, cap - 1 - len)) != 0) {
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            free(buf);
            return NULL;
        }
        len += (size_t)n;
        if (len + 1 == cap) {
            char *bigger = cap < (1u << 24) ? realloc(buf, cap *= 2) : NULL;
            if (!bigger)
                free(buf);
            buf = bigger;
        }
    }
    if (buf)
        buf[len] = '\0';
    return buf;
}

/* Undoes the octal escapes (\040) mountinfo uses for blanks. */
static void unescape(char *s)
{
    char *w = s;
    for (const char *r = s; *r; r++, w++) {
        if (r[0] == '\\' && r[1] >= '0' && r[1] <= '3' && r[2] >= '0' && r[2] <= '7' &&
            r[3] >= '0' && r[3] <= '7') {
            *w = (char)((r[1] - '0') * 64 + (r[2] - '0') * 8 + (r[3] - '0'));
            r += 3;
        } else {
            *w = *r;
        }
    }
    *w = '\0';
}

/* "id parent dev root mnt opts [optional...] - fstype source superopts" */
static bool split_mountinfo(char *line, mount_entry *m)
{
    char *save, *f[5];
    char *tok = strtok_r(line, " ", &save);
    for (int i = 0; i < 5; i++, tok = strtok_r(NULL, " ", &save)) {
        if (!tok)
            return false;
        f[i] = tok;
    }
    while (tok && strcmp(tok, "-") != 0)
        tok = strtok_r(NULL, " ", &save);
    m->fstype = strtok_r(NULL, " ", &save);
    char *source = strtok_r(NULL, " ", &save);
    m->opts = source ? strtok_r(NULL, " ", &save) : NULL;
    if (!tok || !m->fstype || !m->opts)
        return false;
    m->root = f[3];
    m->mnt = f[4];
    unescape(m->root);
    unescape(m->mnt);
    return true;
}

/* Keeps the cgroup and cgroup2 mounts, in mountinfo's order. */
static void parse_mounts(proc_view *v)
{
    char *save;
    for (char *line = strtok_r(v->mountinfo, "\n", &save); line;
         line = strtok_r(NULL, "\n", &save)) {
        /* cheap test first: most mounts are not cgroups */
        if (!strstr(line, " - cgroup"))
            continue;
        mount_entry m;
        if (!split_mountinfo(line, &m) ||
            (strcmp(m.fstype, "cgroup") != 0 && strcmp(m.fstype, "cgroup2") != 0))
            continue;
        if (v->n_mounts == MAX_PROC_ROWS) {
            note("more than %d cgroup mounts: the later ones are not looked at", MAX_PROC_ROWS);
            return;
        }
        v->mounts[v->n_mounts++] = m;
    }
}

/* "hierarchy-id:controllers:path" */
static void parse_groups(proc_view *v)
{
    char *save;
    for (char *line = strtok_r(v->cgroup, "\n", &save); line && v->n_groups < MAX_PROC_ROWS;
         line = strtok_r(NULL, "\n", &save)) {
        char *ctls = strchr(line, ':');
        char *path = ctls ? strchr(ctls + 1, ':') : NULL;
        if (!path)
            continue;
        *path++ = '\0';
        v->groups[v->n_groups].ctls = ctls + 1;
        v->groups[v->n_groups++].path = path;
    }
}

static bool proc_view_read(proc_view *v)
{
    *v = (proc_view){0};
    v->mountinfo = read_whole("/proc/self/mountinfo");
    v->cgroup = read_whole("/proc/self/cgroup");
    if (!v->mountinfo || !v->cgroup) {
        note("reading /proc/self/%s: %s", v->mountinfo ? "cgroup" : "mountinfo",
             strerror(errno));
        return false;
    }
    parse_mounts(v);
    parse_groups(v);
    return true;
}

static void proc_view_free(proc_view *v)
{
    free(v->mountinfo);
    free(v->cgroup);
}

static bool mount_matches(const mount_entry *m, const char *ctl)
{
    if (!ctl)
        return strcmp(m->fstype, "cgroup2") == 0;
    return strcmp(m->fstype, "cgroup") == 0 && has_token(m->opts, ctl, ',');
}

/* Finds the mount of ctl's v1 hierarchy (ctl NULL: the cgroup2 one). v1: the
 * first listed. v2: one at /sys/fs/cgroup wins, the last listed there being
 * the one visible. */
static const mount_entry *find_mount(const proc_view *v, const char *ctl)
{
    const mount_entry *found = NULL;
    for (size_t i = 0; i < v->n_mounts; i++) {
        const mount_entry *m = &v->mounts[i];
        if (!mount_matches(m, ctl) || (found && (ctl || strcmp(m->mnt, "/sys/fs/cgroup") != 0)))
            continue;
        found = m;
    }
    return found;
}

/* Our own group's path in ctl's hierarchy (ctl NULL: the v2 "0::" line). */
static const char *own_path(const proc_view *v, const char *ctl)
{
    for (size_t i = 0; i < v->n_groups; i++)
        if (ctl ? has_token(v->groups[i].ctls, ctl, ',') : *v->groups[i].ctls == '\0')
            return v->groups[i].path;
    return NULL;
}

/* The directory of our own group: mount point + our path below its root. */
static bool own_dir(const proc_view *v, const char *ctl, char *out, size_t cap)
{
    const mount_entry *m = find_mount(v, ctl);
    const char *path = own_path(v, ctl);
    if (!m || !path)
        return false;
    size_t rl = strcmp(m->root, "/") == 0 ? 0 : strlen(m->root);
    if (strncmp(path, m->root, rl) != 0 || (path[rl] != '/' && path[rl] != '\0'))
        return false;
    const char *rel = strcmp(path + rl, "/") == 0 ? "" : path + rl;
    int len = snprintf(out, cap, "%s%s", m->mnt, rel);
    return len >= 0 && (size_t)len < cap;
}

/* Creates (if needed) and opens info.parent[slot]; a slot of the same
 * hierarchy as an earlier one (co-mounted cpu,cpuacct) shares its fd. */
static bool open_parent(int slot)
{
    const char *path = g.info.parent[slot];
    for (int j = 0; j < slot; j++) {
        if (g.owner[j] == j && strcmp(g.info.parent[j], path) == 0) {
            g.owner[slot] = j;
            g.pfd[slot] = g.pfd[j];
            return true;
        }
    }
    /* Opened first: it exists on every run but the first. */
    g.pfd[slot] = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (g.pfd[slot] < 0 && errno == ENOENT) {
        if (mkdir(path, 0755) < 0 && errno != EEXIST) {
            note("mkdir %s: %s", path, strerror(errno));
            return false;
        }
        g.pfd[slot] = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    }
    if (g.pfd[slot] < 0 || faccessat(g.pfd[slot], ".", W_OK | X_OK, AT_EACCESS) < 0) {
        note("%s %s: %s", g.pfd[slot] < 0 ? "opening" : "creating groups in", path,
             strerror(errno));
        cleanup_closep(&g.pfd[slot]);
        g.pfd[slot] = -1;
        return false;
    }
    g.owner[slot] = slot;
    return true;
}

/* Does the v1 memory parent of sandbox groups have a limit (a page counter
 * below the kernel's "unlimited", which is about 2^63 bytes)? */
static bool parent_memory_limited(void)
{
    uint64_t mem, memsw = UINT64_MAX;
    if (read_u64(g.pfd[SLOT_MEMORY], "memory.limit_in_bytes", &mem) < 0 ||
        (g.info.memory_swap &&
         read_u64(g.pfd[SLOT_MEMORY], "memory.memsw.limit_in_bytes", &memsw) < 0))
        return true;
    return mem < (1ull << 62) || memsw < (1ull << 62);
}

static void setup_v1(const proc_view *v, const char *name)
{
    rt_cgroup_info *info = &g.info;
    bool *usable[NSLOTS] = {&info->memory, &info->pids, &info->cpu, &info->cpuacct};
    for (int s = 0; s < NSLOTS; s++) {
        char own[512];
        if (!own_dir(v, slot_ctl[s], own, sizeof own))
            note("no v1 %s hierarchy holding our process is mounted", slot_ctl[s]);
        else if (!join(info->parent[s], sizeof info->parent[s], own, name))
            note("path of the %s parent is too long", slot_ctl[s]);
        else
            *usable[s] = open_parent(s);
        info->writable |= *usable[s];
    }
    info->memory_swap = info->memory &&
        faccessat(g.pfd[SLOT_MEMORY], "memory.memsw.limit_in_bytes", F_OK, 0) == 0;
    if (info->memory && !info->memory_swap)
        note("no memory.memsw (swap accounting off): swappiness 0 instead");
    info->memory_parent_limited = info->memory && parent_memory_limited();
    info->version = info->writable ? RT_CGROUP_V1 : RT_CGROUP_NONE;
}

/* Enables our controllers in dir/cgroup.subtree_control. */
static bool enable_controllers(const char *dir)
{
    char list[32], path[560];
    int n = snprintf(list, sizeof list, "%s%s%s", g.info.memory ? "+memory " : "",
                     g.info.pids ? "+pids " : "", g.info.cpu ? "+cpu" : "");
    if (n == 0)
        return true;
    if (!join(path, sizeof path, dir, "cgroup.subtree_control")) {
        note("path of %s is too long", dir);
        return false;
    }
    if (write_at(AT_FDCWD, path, list) == 0)
        return true;
    note("enabling \"%s\" in %s: %s%s", list, path, strerror(errno),
         errno == EBUSY ? " (our group holds processes; cgroup v2 forbids that in a "
                          "group that hands controllers down)" : "");
    return false;
}

/* Reads the controllers our v2 group can hand down. */
static bool v2_controllers(const char *own, char *avail, size_t cap)
{
    char path[560];
    if (!join(path, sizeof path, own, "cgroup.controllers") ||
        read_at(AT_FDCWD, path, avail, cap) < 0) {
        note("reading %s/cgroup.controllers: %s", own, strerror(errno));
        return false;
    }
    return true;
}

static void setup_v2(const proc_view *v, const char *name)
{
    rt_cgroup_info *info = &g.info;
    char own[512], avail[256];
    if (!own_dir(v, NULL, own, sizeof own)) {
        note("no cgroup file system holding our process is mounted");
        return;
    }
    if (!v2_controllers(own, avail, sizeof avail))
        return;
    info->memory = has_token(avail, "memory", ' ');
    info->pids = has_token(avail, "pids", ' ');
    info->cpu = has_token(avail, "cpu", ' ');
    info->cpuacct = true;           /* cpu.stat is there without any controller */
    int len = (int)strcspn(avail, "\n");
    if (!info->memory || !info->pids || !info->cpu)
        note("cgroup2 %s lacks memory, pids or cpu (has: %.*s)", own, len ? len : 4,
             len ? avail : "none");
    if (!join(info->parent[0], sizeof info->parent[0], own, name)) {
        note("path of the parent is too long");
        return;
    }
    if (!enable_controllers(own) || !open_parent(0) || !enable_controllers(info->parent[0]))
        return;
    for (int s = 1; s < NSLOTS; s++) {
        g.owner[s] = 0;
        g.pfd[s] = g.pfd[0];
    }
    info->memory_swap = info->memory && faccessat(g.pfd[0], "memory.swap.max", F_OK, 0) == 0;
    info->writable = true;
    info->version = RT_CGROUP_V2;
}

/* v2 wins when it is the main mount or has memory and pids for us. */
static bool v2_preferred(const proc_view *v)
{
    struct statfs st;
    char own[512], path[560], avail[256];
    if (statfs("/sys/fs/cgroup", &st) == 0 && st.f_type == CGROUP2_SUPER_MAGIC)
        return true;
    return own_dir(v, NULL, own, sizeof own) &&
           join(path, sizeof path, own, "cgroup.controllers") &&
           read_at(AT_FDCWD, path, avail, sizeof avail) >= 0 &&
           has_token(avail, "memory", ' ') && has_token(avail, "pids", ' ');
}

static bool v1_mounted(const proc_view *v)
{
    for (int s = 0; s < NSLOTS; s++)
        if (find_mount(v, slot_ctl[s]))
            return true;
    return false;
}

static bool parse_pool_size(const char *s, int *out)
{
    uint64_t v;
    if (!parse_u64(s, &v) || v > POOL_LIMIT || strspn(s, "0123456789") != strlen(s))
        return false;
    *out = (int)v;
    return true;
}

/* v1 only: there a group's counters can be reset and its OOM kills counted from
 * a base, and the pids group, which must be fresh (pids.peak cannot be reset),
 * is a hierarchy of its own. */
static void setup_pool(void)
{
    rt_cgroup_info *info = &g.info;
    if (info->version != RT_CGROUP_V1 || !is_owner(SLOT_PIDS)) {
        info->pool = 0;
        return;
    }
    for (int s = 0; s < NSLOTS; s++)
        g.pooled[s] = info->pool > 0 && s != SLOT_PIDS && is_owner(s);
}

static void detect_once(void)
{
    static proc_view v;             /* once per process: off the (thread's) stack */
    rt_cgroup_info *info = &g.info;
    for (int s = 0; s < NSLOTS; s++)
        g.pfd[s] = g.owner[s] = -1;
    info->pool = POOL_DEFAULT;
    const char *name = getenv("SBX_CGROUP_PARENT"), *pool = getenv("SBX_CGROUP_POOL");
    if (!name || !*name)
        name = DEFAULT_PARENT;
    if (strchr(name, '/') || strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
        note("SBX_CGROUP_PARENT \"%s\" is not a plain directory name", name);
    else if (proc_view_read(&v)) {
        if (pool && *pool && !parse_pool_size(pool, &info->pool)) {
            note("SBX_CGROUP_POOL \"%s\" is not a number from 0 to %d: no pool", pool,
                 POOL_LIMIT);
            info->pool = 0;
        }
        if (v2_preferred(&v))
            setup_v2(&v, name);
        else if (v1_mounted(&v))
            setup_v1(&v, name);
        else
            setup_v2(&v, name);     /* a cgroup2 mount without controllers */
    }
    proc_view_free(&v);
    if (info->version != RT_CGROUP_NONE) {
        setup_pool();
        return;
    }
    info->pool = 0;
    info->memory = info->memory_swap = info->pids = info->cpu = info->cpuacct =
        info->writable = false;
    for (int s = 0; s < NSLOTS; s++)
        g.owner[s] = -1;            /* nothing to create in, nothing to sweep */
}

const rt_cgroup_info *rt_cgroup_detect(void)
{
    pthread_once(&g.once, detect_once);
    return &g.info;
}

/* ---- one group ---------------------------------------------------------------- */

/* The group directory that serves a slot's controller. */
static int slot_dfd(const rt_cgroup *cg, int slot)
{
    return g.owner[slot] < 0 ? -1 : cg->dfd[g.owner[slot]];
}

/* Is the owner slot s served by the group's pooled directory (else by one made
 * for it)? */
static bool in_pool(const rt_cgroup *cg, int s)
{
    return cg->pool >= 0 && g.pooled[s];
}

static bool slot_pooled(const rt_cgroup *cg, int slot)
{
    return g.owner[slot] >= 0 && in_pool(cg, g.owner[slot]);
}

static const char *dir_name(const rt_cgroup *cg, int s)
{
    return in_pool(cg, s) ? cg->pool_name : cg->name;
}

static int value_error(const rt_cgroup *cg, int slot, const char *file, const char *val,
                       rt_error *err)
{
    int s = g.owner[slot];
    return rt_error_set(err, errno, "writing \"%s\" to %s/%s/%s", val, g.info.parent[s],
                        dir_name(cg, s), file);
}

static int set_value(rt_cgroup *cg, int slot, const char *file, const char *val,
                     rt_error *err)
{
    if (write_at(slot_dfd(cg, slot), file, val) == 0)
        return 0;
    return value_error(cg, slot, file, val, err);
}

static int set_u64(rt_cgroup *cg, int slot, const char *file, uint64_t v, rt_error *err)
{
    char val[24];
    snprintf(val, sizeof val, "%llu", (unsigned long long)v);
    return set_value(cg, slot, file, val, err);
}

/* One wait of a back-off from 100 us for a group's processes to exit, out of
 * *budget_us; false once that is spent. */
static bool wait_exits(long *delay, long *budget_us)
{
    if (*budget_us <= 0)
        return false;
    sleep_us(*delay < *budget_us ? *delay : *budget_us);
    *budget_us -= *delay;
    *delay = *delay < 100000 ? *delay * 2 : *delay;
    return true;
}

/* Removes rmdir-ably; while processes are still exiting (EBUSY) it retries as
 * long as *budget_us lasts. */
static int rmdir_retry(int pfd, const char *name, long *budget_us)
{
    for (long delay = 100;;) {
        if (unlinkat(pfd, name, AT_REMOVEDIR) == 0 || errno == ENOENT)
            return 0;
        if (errno != EBUSY || !wait_exits(&delay, budget_us))
            return -1;
    }
}

/* The pids directory is made first and removed last: a stale group always
 * still has it, and with a pool the sweep looks for stale groups there only. */
static const int make_order[NSLOTS] = {SLOT_PIDS, SLOT_MEMORY, SLOT_CPU, SLOT_CPUACCT};

/* The slot of the i-th directory to remove. */
static int remove_slot(int i)
{
    return make_order[NSLOTS - 1 - i];
}

/* Removes the directories made for the group. */
static int remove_dirs(rt_cgroup *cg, long *budget, rt_error *err)
{
    int rc = 0;
    for (int i = 0; i < NSLOTS; i++) {
        int s = remove_slot(i);
        if (!is_owner(s) || in_pool(cg, s) || cg->dfd[s] < 0)
            continue;
        /* the pids directory stays while another does: the sweep finds it */
        if (s == SLOT_PIDS && rc < 0)
            continue;
        close(cg->dfd[s]);
        cg->dfd[s] = -1;
        if (rmdir_retry(g.pfd[s], cg->name, budget) < 0 && rc == 0)
            rc = rt_error_set(err, errno, "removing cgroup %s/%s", g.info.parent[s], cg->name);
    }
    return rc;
}

/* Makes the group's directory in each hierarchy its pooled ones do not serve,
 * and opens it. */
static int make_dirs(rt_cgroup *cg, rt_error *err)
{
    for (int i = 0; i < NSLOTS; i++) {
        int s = make_order[i];
        if (!is_owner(s) || in_pool(cg, s))
            continue;
        if (mkdirat(g.pfd[s], cg->name, 0755) < 0)
            return rt_error_set(err, errno, "creating cgroup %s/%s", g.info.parent[s],
                                cg->name);
        cg->dfd[s] = openat(g.pfd[s], cg->name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (cg->dfd[s] < 0) {
            int e = errno;
            unlinkat(g.pfd[s], cg->name, AT_REMOVEDIR);
            return rt_error_set(err, e, "opening cgroup %s/%s", g.info.parent[s], cg->name);
        }
    }
    return 0;
}

/* RAM limit and no swap beyond it; 0 (v1 only, for a pooled group) lifts the
 * limit an earlier sandbox left. */
static int set_memory(rt_cgroup *cg, uint64_t bytes, rt_error *err)
{
    static const char limit[] = "memory.limit_in_bytes", memsw[] = "memory.memsw.limit_in_bytes";
    char val[24] = "-1";
    if (bytes)
        snprintf(val, sizeof val, "%llu", (unsigned long long)bytes);
    if (g.info.version == RT_CGROUP_V2) {
        if (set_value(cg, SLOT_MEMORY, "memory.max", val, err) < 0)
            return -1;
        return g.info.memory_swap ? set_value(cg, SLOT_MEMORY, "memory.swap.max", "0", err) : 0;
    }
    if (!g.info.memory_swap)
        return set_value(cg, SLOT_MEMORY, limit, val, err) < 0 ? -1
               : set_value(cg, SLOT_MEMORY, "memory.swappiness", "0", err);
    if (write_at(slot_dfd(cg, SLOT_MEMORY), limit, val) == 0)
        return set_value(cg, SLOT_MEMORY, memsw, val, err);
    /* memsw may not be below the limit: a pooled group's lower one is raised first */
    if (errno != EINVAL || !slot_pooled(cg, SLOT_MEMORY))
        return value_error(cg, SLOT_MEMORY, limit, val, err);
    return set_value(cg, SLOT_MEMORY, memsw, val, err) < 0 ? -1
           : set_value(cg, SLOT_MEMORY, limit, val, err);
}

static int set_cpus(rt_cgroup *cg, double cpus, rt_error *err)
{
    if (cpus <= 0)                  /* a pooled v1 group: lift an earlier quota */
        return set_value(cg, SLOT_CPU, "cpu.cfs_quota_us", "-1", err);
    unsigned long long quota = (unsigned long long)(cpus * CPU_PERIOD_US + 0.5);
    if (quota < CPU_MIN_QUOTA_US)
        quota = CPU_MIN_QUOTA_US;
    if (g.info.version == RT_CGROUP_V2) {
        char val[48];
        snprintf(val, sizeof val, "%llu %d", quota, CPU_PERIOD_US);
        return set_value(cg, SLOT_CPU, "cpu.max", val, err);
    }
    /* A new v1 group starts with the 100 ms period: only the quota is written
     * (each write walks every task group to check the bandwidth). */
    return set_u64(cg, SLOT_CPU, "cpu.cfs_quota_us", quota, err);
}

/* Writes each limit the host can enforce; a limit of 0 is left unlimited (in a
 * pooled group it is written as unlimited). */
static int write_limits(rt_cgroup *cg, const rt_limits *l, rt_enforced *e, rt_error *err)
{
    if (g.info.memory && (l->memory_bytes || slot_pooled(cg, SLOT_MEMORY))) {
        if (set_memory(cg, l->memory_bytes, err) < 0)
            return -1;
        e->memory = l->memory_bytes != 0;
    }
    if (g.info.pids && l->pids) {
        if (set_u64(cg, SLOT_PIDS, "pids.max", l->pids, err) < 0)
            return -1;
        e->pids = true;
    }
    if (g.info.cpu && (l->cpus > 0 || slot_pooled(cg, SLOT_CPU))) {
        if (set_cpus(cg, l->cpus, err) < 0)
            return -1;
        e->cpus = l->cpus > 0;
    }
    e->cpu_time = g.info.cpuacct;
    return 0;
}

/* ---- the pool ------------------------------------------------------------------ */

/* Making and removing a v1 memory group costs about 250 us of CPU (its removal
 * is mostly kernel work after the rmdir), cpu and cpuacct 40 us each: so those
 * directories are reused, as pool-<k> under each parent. A process holds one
 * by an flock on its `tasks` file, in each hierarchy (the parents of two
 * callers may differ in one hierarchy and be the same in another). pid 1 joins
 * through a dup of that open file, so the lock lasts while either holds it.
 * Released groups stay locked on this process's idle list for its next
 * sandbox. A group is handed on only empty, and with nothing charged to it
 * that the next sandbox could not reclaim (a file left in a tmpfs that
 * outlives the sandbox, such as a workflow's workspace, stays charged to the
 * group that wrote it): such a group is removed instead, as a fresh one would
 * be. */
#define POOL_KMEM_MAX (1u << 20)    /* kernel memory a group may hand on */

static int scan_listed(int dfd, bool and_kill);

typedef struct pool_fds {
    int dfd[NSLOTS], lock[NSLOTS];
} pool_fds;

static struct {
    pthread_mutex_t lock;
    int n;
    struct idle_group {
        int k;
        pool_fds fds;
    } groups[POOL_LIMIT];
} idle = {.lock = PTHREAD_MUTEX_INITIALIZER};

static void pool_close(pool_fds *f)
{
    for (int s = 0; s < NSLOTS; s++) {
        if (!g.pooled[s])
            continue;
        cleanup_closep(&f->dfd[s]);
        cleanup_closep(&f->lock[s]);
        f->dfd[s] = f->lock[s] = -1;
    }
}

/* Opens (making it if need be) and locks pool-k in every pooled hierarchy:
 * 0, 1 when another holder has one of them, -1 on an error. */
static int pool_lock(int k, pool_fds *f)
{
    char name[16];
    snprintf(name, sizeof name, "pool-%d", k);
    for (int s = 0; s < NSLOTS; s++)
        f->dfd[s] = f->lock[s] = -1;
    for (int s = 0; s < NSLOTS; s++) {
        if (!g.pooled[s])
            continue;
        int fd = openat(g.pfd[s], name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0 && errno == ENOENT && (mkdirat(g.pfd[s], name, 0755) == 0 || errno == EEXIST))
            fd = openat(g.pfd[s], name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        f->dfd[s] = fd;
        f->lock[s] = fd < 0 ? -1 : openat(fd, "tasks", O_WRONLY | O_CLOEXEC);
        if (f->lock[s] < 0 || flock(f->lock[s], LOCK_EX | LOCK_NB) < 0) {
            int busy = f->lock[s] >= 0 && errno == EWOULDBLOCK;
            pool_close(f);
            return busy ? 1 : -1;
        }
    }
    return 0;
}

static void pool_take(rt_cgroup *cg, int k, const pool_fds *f)
{
    cg->pool = k;
    snprintf(cg->pool_name, sizeof cg->pool_name, "pool-%d", k);
    for (int s = 0; s < NSLOTS; s++)
        if (g.pooled[s]) {
            cg->dfd[s] = f->dfd[s];
            cg->lock[s] = f->lock[s];
        }
}

static pool_fds pool_give(rt_cgroup *cg)
{
    pool_fds f;
    for (int s = 0; s < NSLOTS; s++) {
        f.dfd[s] = g.pooled[s] ? cg->dfd[s] : -1;
        f.lock[s] = g.pooled[s] ? cg->lock[s] : -1;
        if (g.pooled[s])
            cg->dfd[s] = cg->lock[s] = -1;
    }
    cg->pool = -1;
    cg->pool_name[0] = '\0';
    return f;
}

static void pool_drop(rt_cgroup *cg)
{
    pool_fds f = pool_give(cg);
    pool_close(&f);
}

/* Removes the group's pooled directories (it holds them, empty) and drops
 * them: what was charged to them goes to the parent, as for a fresh group. */
static void pool_remove(rt_cgroup *cg)
{
    for (int s = 0; s < NSLOTS; s++)
        if (g.pooled[s])
            unlinkat(g.pfd[s], cg->pool_name, AT_REMOVEDIR);
    pool_drop(cg);
}

/* Nothing charged to the memory group that the next holder could not reclaim:
 * no anonymous, shared-memory (tmpfs) or swapped pages, little kernel memory. */
static bool pool_clean(const rt_cgroup *cg)
{
    char buf[4096];
    uint64_t v = 0;
    if (!g.info.memory || !slot_pooled(cg, SLOT_MEMORY))
        return true;
    int dfd = slot_dfd(cg, SLOT_MEMORY);
    if (read_at(dfd, "memory.stat", buf, sizeof buf) < 0)
        return false;
    static const char *const held[] = {"rss", "shmem", "swap", "unevictable"};
    for (size_t i = 0; i < sizeof held / sizeof *held; i++)
        if (key_u64(buf, held[i], &v) && v > 0)
            return false;
    if (read_u64(dfd, "memory.kmem.usage_in_bytes", &v) < 0)
        return errno == ENOENT;     /* a kernel without the file: nothing to check */
    return v <= POOL_KMEM_MAX;
}

/* Counters from zero for the next sandbox, and the OOM kills so far as its base. */
static int pool_reset(rt_cgroup *cg)
{
    char buf[512];
    if (g.info.cpuacct && slot_pooled(cg, SLOT_CPUACCT) &&
        write_at(slot_dfd(cg, SLOT_CPUACCT), "cpuacct.usage", "0") < 0)
        return -1;
    if (!g.info.memory || !slot_pooled(cg, SLOT_MEMORY))
        return 0;
    int dfd = slot_dfd(cg, SLOT_MEMORY);
    cg->oom_base = 0;
    if (write_at(dfd, "memory.max_usage_in_bytes", "0") < 0 ||
        read_at(dfd, "memory.oom_control", buf, sizeof buf) < 0)
        return -1;
    key_u64(buf, "oom_kill", &cg->oom_base);
    return 0;
}

/* A forked child must not share the idle groups' locks (flock cannot tell the
 * two processes apart): it closes its copies. */
static void idle_prefork(void)
{
    pthread_mutex_lock(&idle.lock);
}

static void idle_postfork_parent(void)
{
    pthread_mutex_unlock(&idle.lock);
}

static void idle_postfork_child(void)
{
    while (idle.n > 0)
        pool_close(&idle.groups[--idle.n].fds);
    pthread_mutex_unlock(&idle.lock);
}

static void register_atfork(void)
{
    pthread_atfork(idle_prefork, idle_postfork_parent, idle_postfork_child);
}

/* Serves the group's pooled slots from this process's idle list or the first
 * free pool-k, reset; with none, the group gets its own directories. */
static void pool_claim(rt_cgroup *cg)
{
    static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;
    pthread_once(&atfork_once, register_atfork);
    pthread_mutex_lock(&idle.lock);
    if (idle.n > 0) {
        struct idle_group *ig = &idle.groups[--idle.n];
        pool_take(cg, ig->k, &ig->fds);
    }
    pthread_mutex_unlock(&idle.lock);
    if (cg->pool >= 0 && pool_reset(cg) == 0)
        return;
    pool_drop(cg);
    for (int k = 0; k < g.info.pool; k++) {
        pool_fds f;
        int rc = pool_lock(k, &f);
        if (rc < 0)
            return;
        if (rc > 0)
            continue;
        pool_take(cg, k, &f);
        /* An earlier holder died with a sandbox inside: kill what is left, and
         * take the next one (these die within moments). */
        bool empty = true;
        for (int s = 0; s < NSLOTS; s++)
            empty &= !g.pooled[s] || scan_listed(cg->dfd[s], true) == 0;
        if (!empty) {
            pool_drop(cg);
        } else if (!pool_clean(cg)) {
            pool_remove(cg);
        } else if (pool_reset(cg) < 0) {
            pool_drop(cg);
        } else {
            return;
        }
    }
}

/* Set by rt_cgroup_prestart: a program that runs one sandbox has no next one
 * to keep a group for. */
static atomic_bool one_sandbox;

/* Back on the idle list once no process is left in it (waiting as long as
 * *budget_us lasts) and nothing is charged to it that the next sandbox could
 * not reclaim; a busy one is let go, for a later holder to kill. A program
 * that runs one sandbox lets it go unchecked (its processes died with pid 1's
 * namespace): whoever locks it next checks it anyway, as after a holder that
 * died, so checking here too only delays the caller's exit. */
static int pool_release(rt_cgroup *cg, long *budget_us, rt_error *err)
{
    if (cg->pool < 0)
        return 0;
    if (atomic_load(&one_sandbox)) {
        pool_drop(cg);
        return 0;
    }
    for (int s = 0; s < NSLOTS; s++) {
        int n;
        for (long delay = 100; g.pooled[s] && (n = scan_listed(cg->dfd[s], false)) != 0;) {
            if (n < 0 || !wait_exits(&delay, budget_us)) {
                rt_error_set(err, n < 0 ? errno : EBUSY, "cgroup %s/%s: %s", g.info.parent[s],
                             cg->pool_name, n < 0 ? "listing its processes" : "still has processes");
                pool_drop(cg);
                return -1;
            }
        }
    }
    if (!pool_clean(cg)) {
        pool_remove(cg);
        return 0;
    }
    pthread_mutex_lock(&idle.lock);
    if (idle.n < POOL_LIMIT) {       /* always: it holds distinct k below the pool's size */
        idle.groups[idle.n].k = cg->pool;
        idle.groups[idle.n++].fds = pool_give(cg);
    }
    pthread_mutex_unlock(&idle.lock);
    if (cg->pool >= 0)
        pool_drop(cg);
    return 0;
}

void rt_cgroup_pool_close(void)
{
    pthread_mutex_lock(&idle.lock);
    while (idle.n > 0)
        pool_close(&idle.groups[--idle.n].fds);
    pthread_mutex_unlock(&idle.lock);
}

/* ---- making and removing ---------------------------------------------------------- */

/* Removes what was made for the group, gives its pooled directories back, and
 * frees it. */
static int discard(rt_cgroup *cg, rt_error *err)
{
    long budget = RMDIR_WAIT_US;
    int rc = remove_dirs(cg, &budget, err);
    if (pool_release(cg, &budget, rc == 0 ? err : NULL) < 0)
        rc = -1;
    free(cg);
    return rc;
}

/* A group with its directories made or taken from the pool, and no limits yet. */
static rt_cgroup *new_group(bool use_pool, rt_error *err)
{
    rt_cgroup *cg = malloc(sizeof *cg);
    if (!cg) {
        rt_error_set(err, ENOMEM, "allocating a cgroup");
        return NULL;
    }
    for (int s = 0; s < NSLOTS; s++)
        cg->dfd[s] = cg->lock[s] = -1;
    cg->removed = false;
    cg->pool = -1;
    cg->pool_name[0] = '\0';
    cg->oom_base = 0;
    snprintf(cg->name, sizeof cg->name, "sbx-%ld-%lu", (long)getpid(),
             atomic_fetch_add(&counter, 1) + 1);
    if (use_pool && g.info.pool > 0)
        pool_claim(cg);
    if (make_dirs(cg, err) < 0) {
        discard(cg, NULL);
        return NULL;
    }
    atomic_fetch_add(&live_groups, 1);
    return cg;
}

static void *make_prestarted(void)
{
    return rt_cgroup_detect()->version != RT_CGROUP_NONE ? new_group(true, NULL) : NULL;
}

/* The thread makes the group rt_cgroup_create takes, then sweeps. */
static rt_prestart pre = RT_PRESTART_INIT(make_prestarted, rt_cgroup_sweep);

void rt_cgroup_prestart(void)
{
    atomic_store(&one_sandbox, true);
    rt_prestart_start(&pre);
}

void rt_cgroup_prestart_join(void)
{
    rt_prestart_join(&pre);
}

void rt_cgroup_prestart_end(void)
{
    rt_cgroup_destroy(rt_prestart_take(&pre), NULL);
}

int rt_cgroup_create(const rt_limits *limits, rt_cgroup **out, rt_enforced *enforced,
                     rt_error *err)
{
    const rt_cgroup_info *info = rt_cgroup_detect();
    *out = NULL;
    *enforced = (rt_enforced){0};
    if (info->version == RT_CGROUP_NONE)
        return rt_error_set(err, 0, "cgroups unusable: %s", info->reason);
    /* The prestarted group, or NULL (none, or it failed: we make one and say why). */
    rt_cgroup *cg = rt_prestart_take(&pre);
    if (!cg && !(cg = new_group(true, err)))
        return -1;
    /* A pooled memory group can refuse a lower limit than it holds charged
     * (EBUSY): a group of its own is tried before failing. */
    while (write_limits(cg, limits, enforced, err) < 0) {
        bool pooled = cg->pool >= 0;
        if (pooled)
            pool_remove(cg);        /* never handed on: it would refuse again */
        rt_cgroup_destroy(cg, NULL);
        *enforced = (rt_enforced){0};
        if (!pooled || !(cg = new_group(false, err)))
            return -1;
    }
    *out = cg;
    return 0;
}

int rt_cgroup_dirfd(rt_cgroup *cg)
{
    return g.info.version == RT_CGROUP_V2 ? cg->dfd[0] : -1;
}

int rt_cgroup_attach(rt_cgroup *cg, pid_t pid, rt_error *err)
{
    char val[24];
    snprintf(val, sizeof val, "%ld", (long)pid);
    for (int s = 0; s < NSLOTS; s++)
        if (is_owner(s) && set_value(cg, s, "cgroup.procs", val, err) < 0)
            return -1;
    return 0;
}

int rt_cgroup_cpu_ns(rt_cgroup *cg, uint64_t *user_ns, uint64_t *sys_ns)
{
    int dfd = slot_dfd(cg, SLOT_CPUACCT);
    char buf[1024];
    uint64_t user, sys;
    if (!g.info.cpuacct) {
        errno = ENOTSUP;
        return -1;
    }
    if (g.info.version == RT_CGROUP_V1)
        return read_u64(dfd, "cpuacct.usage_user", user_ns) < 0 ||
               read_u64(dfd, "cpuacct.usage_sys", sys_ns) < 0 ? -1 : 0;
    if (read_at(dfd, "cpu.stat", buf, sizeof buf) < 0)
        return -1;
    if (!key_u64(buf, "user_usec", &user) || !key_u64(buf, "system_usec", &sys)) {
        errno = EINVAL;
        return -1;
    }
    *user_ns = user * 1000;
    *sys_ns = sys * 1000;
    return 0;
}

static int read_memory(rt_cgroup *cg, rt_usage *usage, bool *oom)
{
    int dfd = slot_dfd(cg, SLOT_MEMORY);
    bool v1 = g.info.version == RT_CGROUP_V1;
    char buf[512];
    uint64_t kills = 0;
    if (read_optional(dfd, v1 ? "memory.max_usage_in_bytes" : "memory.peak",
                      &usage->memory_peak_bytes) < 0)
        return -1;
    if (read_at(dfd, v1 ? "memory.oom_control" : "memory.events", buf, sizeof buf) < 0)
        return -1;
    *oom = key_u64(buf, "oom_kill", &kills) && kills > cg->oom_base;
    return 0;
}

int rt_cgroup_read_usage(rt_cgroup *cg, rt_usage *usage, bool *oom)
{
    uint64_t user, sys;
    int rc = 0;
    *oom = false;
    if (g.info.cpuacct) {
        if (rt_cgroup_cpu_ns(cg, &user, &sys) == 0) {
            usage->cpu_user_ms = (double)user / 1e6;
            usage->cpu_sys_ms = (double)sys / 1e6;
        } else {
            rc = -1;
        }
    }
    if (g.info.memory && read_memory(cg, usage, oom) < 0)
        rc = -1;
    if (g.info.pids && read_optional(slot_dfd(cg, SLOT_PIDS), "pids.peak", &usage->pids_peak) < 0)
        rc = -1;
    return rc;
}

/* How many pids dir/cgroup.procs lists (0: empty), each SIGKILLed when
 * and_kill is set; -1 when the list cannot be read. */
static int scan_listed(int dfd, bool and_kill)
{
    cleanup_close int fd = openat(dfd, "cgroup.procs", O_RDONLY | O_CLOEXEC);
    char buf[4096];
    ssize_t len;
    long pid = 0;
    int n = 0;
    if (fd < 0)
        return -1;
    while ((len = read(fd, buf, sizeof buf)) > 0) {
        for (ssize_t i = 0; i < len; i++) {
            if (isdigit((unsigned char)buf[i])) {
                pid = pid * 10 + (buf[i] - '0');
            } else if (pid > 0) {
                if (and_kill)
                    kill((pid_t)pid, SIGKILL);
                n++;
                pid = 0;
            }
        }
    }
    if (pid > 0 && and_kill)
        kill((pid_t)pid, SIGKILL);
    n += pid > 0;
    return len < 0 ? -1 : n;
}

/* Kills everything in one group directory and waits (bounded) until it is
 * empty. SIGKILL cannot be caught and a process it is pending for cannot fork
 * any more, so the rounds converge without the freezer. */
static void kill_dir(int dfd)
{
    /* cgroup.kill (v2, Linux 5.14+) kills at once and the rounds only wait;
     * where it is absent or fails the rounds do the killing. */
    if (g.info.version == RT_CGROUP_V2)
        write_at(dfd, "cgroup.kill", "1");
    long delay = 50;
    for (int round = 0; round < KILL_ROUNDS && scan_listed(dfd, true) > 0; round++) {
        sleep_us(delay);
        delay = delay < 10000 ? delay * 2 : delay;
    }
}

void rt_cgroup_kill(rt_cgroup *cg)
{
    for (int s = 0; s < NSLOTS; s++)
        if (is_owner(s) && cg->dfd[s] >= 0)
            kill_dir(cg->dfd[s]);
}

/* The slot whose directory holds the memory controller's group; -1 without. */
static int memory_slot(void)
{
    return g.info.version == RT_CGROUP_V1 && g.info.memory ? g.owner[SLOT_MEMORY] : -1;
}

/* Opens the `tasks` file in dirs[s] of each hierarchy (of `only` with only >=
 * 0; but `skip`), for writing; fds[] gets them. A pooled slot of cg gets a
 * copy of its locked one, so that pid 1 holds the lock too until it closes
 * its fds. */
static int open_tasks(const rt_cgroup *cg, const int *dirs, int only, int skip, int *fds,
                      rt_error *err)
{
    int n = 0;
    for (int s = 0; s < NSLOTS; s++) {
        if (!is_owner(s) || s == skip || (only >= 0 && s != only))
            continue;
        if (cg && in_pool(cg, s))
            fds[n] = fcntl(cg->lock[s], F_DUPFD_CLOEXEC, 0);
        else
            fds[n] = openat(dirs[s], "tasks", O_WRONLY | O_CLOEXEC);
        if (fds[n] < 0) {
            int e = errno;
            while (n > 0)
                close(fds[--n]);
            return rt_error_set(err, e, "opening %s/%s/tasks", g.info.parent[s],
                                cg ? dir_name(cg, s) : ".");
        }
        n++;
    }
    return n;
}

int rt_cgroup_self_join_fds(rt_cgroup *cg, bool but_memory, int fds[RT_CGROUP_MAX_FDS],
                            rt_error *err)
{
    if (g.info.version != RT_CGROUP_V1)
        return 0;
    return open_tasks(cg, cg->dfd, -1, but_memory ? memory_slot() : -1, fds, err);
}

int rt_cgroup_self_leave_fds(bool but_memory, int fds[RT_CGROUP_MAX_FDS], rt_error *err)
{
    if (g.info.version != RT_CGROUP_V1)
        return 0;
    return open_tasks(NULL, g.pfd, -1, but_memory ? memory_slot() : -1, fds, err);
}

int rt_cgroup_memory_join_fd(rt_cgroup *cg, int *fd, rt_error *err)
{
    int s = memory_slot();
    if (s < 0)
        return 0;
    return open_tasks(cg, cg->dfd, s, -1, fd, err);
}

int rt_cgroup_try_remove(rt_cgroup *cg)
{
    /* on v2 pid 1 is still inside (nothing moves it out) */
    if (g.info.version != RT_CGROUP_V1 || cg->removed)
        return cg->removed ? 0 : -1;
    /* uncounted before its directories go, as in rt_cgroup_destroy */
    atomic_fetch_sub(&live_groups, 1);
    for (int i = 0; i < NSLOTS; i++) {
        int s = remove_slot(i);
        if (!is_owner(s) || in_pool(cg, s) || cg->dfd[s] < 0)
            continue;
        if (unlinkat(g.pfd[s], cg->name, AT_REMOVEDIR) < 0 && errno != ENOENT) {
            atomic_fetch_add(&live_groups, 1);
            return -1;
        }
        close(cg->dfd[s]);
        cg->dfd[s] = -1;
    }
    cg->removed = true;
    return 0;
}

int rt_cgroup_destroy(rt_cgroup *cg, rt_error *err)
{
    if (!cg)
        return 0;
    /* never counted while its directories are gone (the sweep would skip a
     * stale one): uncounted first, then removed */
    if (!cg->removed)
        atomic_fetch_sub(&live_groups, 1);
    return discard(cg, err);
}

/* ---- sweep ---------------------------------------------------------------------- */

/* Is name "sbx-<pid>-<n>" with a pid that no longer exists? */
static bool is_stale(const char *name)
{
    char *end;
    if (strncmp(name, "sbx-", 4) != 0 || !isdigit((unsigned char)name[4]))
        return false;
    errno = 0;
    long pid = strtol(name + 4, &end, 10);
    if (errno || *end != '-' || !isdigit((unsigned char)end[1]) || pid <= 0 || pid > INT_MAX)
        return false;
    return kill((pid_t)pid, 0) < 0 && errno == ESRCH;
}

/* Best effort: a group that stays busy is tried again by the next sweep. */
static void remove_stale(int slot, const char *name)
{
    cleanup_close int dfd = openat(g.pfd[slot], name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    long budget = RMDIR_WAIT_US;
    if (dfd >= 0)
        kill_dir(dfd);
    rmdir_retry(g.pfd[slot], name, &budget);
}

/* Sweeps the parent of one slot; with a pool only the pids parent, which has
 * no pooled directories, and a stale name found there goes in every hierarchy. */
static void sweep_parent(int slot)
{
    /* A cgroup directory's link count is 2 + its subdirectories: when they are
     * all ours, there is nothing to read. */
    struct stat st;
    if (fstat(g.pfd[slot], &st) == 0 && st.st_nlink <= 2 + (nlink_t)atomic_load(&live_groups))
        return;
    int fd = openat(g.pfd[slot], ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return;
    cleanup_dir DIR *d = fdopendir(fd);
    if (!d) {
        close(fd);
        return;
    }
    for (struct dirent *de; (de = readdir(d));) {
        if (de->d_type != DT_DIR || !is_stale(de->d_name))
            continue;
        for (int i = 0; i < NSLOTS; i++) {
            int s = remove_slot(i);
            if (g.info.pool > 0 ? is_owner(s) : s == slot)
                remove_stale(s, de->d_name);
        }
    }
}

void rt_cgroup_sweep(void)
{
    rt_cgroup_detect();
    for (int s = 0; s < NSLOTS; s++)
        if (is_owner(s) && (g.info.pool == 0 || s == SLOT_PIDS))
            sweep_parent(s);
}
