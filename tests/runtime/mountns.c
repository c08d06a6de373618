/* The bare mount namespace (runtime/mountns.h) and sandboxes that copy it: what
 * it holds, its error as a user that cannot make it, and real sandboxes whose
 * bind sources are shared mounts of the caller's namespace, which must reach the
 * sandbox whole and must not carry the sandbox's own mounts back. The test runs
 * in a mount namespace of its own, with shared propagation as on a systemd host. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "mountns.h"
#include "netns.h"
#include "sandbox.h"
#include "tap.h"
#include "shrun.h"

/* Runs fn in a child; what it writes to its pipe comes back in buf. */
static void in_child(void (*fn)(int out), char *buf, size_t size)
{
    int p[2];
    if (pipe(p) < 0)
        abort();
    pid_t pid = fork();
    if (pid < 0)
        abort();
    if (pid == 0) {
        close(p[0]);
        fn(p[1]);
        _exit(0);
    }
    close(p[1]);
    size_t len = 0;
    ssize_t n;
    while (len + 1 < size && (n = read(p[0], buf + len, size - 1 - len)) > 0)
        len += (size_t)n;
    buf[len] = '\0';
    close(p[0]);
    waitpid(pid, NULL, 0);
}

static void say(int out, const char *s)
{
    if (write(out, s, strlen(s)) < 0)
        _exit(1);
}

static void init_as_nobody(int out)
{
    rt_error err;
    if (setresgid(65534, 65534, 65534) < 0 || setresuid(65534, 65534, 65534) < 0)
        say(out, "cannot become nobody");
    else if (rt_mountns_bare_init(&err) == 0)
        say(out, "made");
    else
        say(out, rt_mountns_bare() < 0 ? err.msg : "a descriptor after an error");
}

static void test_unprivileged(void)
{
    char msg[512];
    in_child(init_as_nobody, msg, sizeof msg);
    is_str(msg, "the bare mount namespace: creating a mount namespace: Operation not permitted",
           "an unprivileged caller gets the step and errno, and no namespace");
}

/* The entries of dir, sorted, space-separated. */
static void list(const char *dir, char *buf, size_t size)
{
    struct dirent **names;
    int n = scandir(dir, &names, NULL, alphasort);
    size_t len = 0;
    buf[0] = '\0';
    for (int i = 0; i < n; i++) {
        if (strcmp(names[i]->d_name, ".") && strcmp(names[i]->d_name, ".."))
            len += (size_t)snprintf(buf + len, size - len, "%s%s", len ? " " : "",
                                    names[i]->d_name);
        free(names[i]);
    }
    if (n < 0)
        snprintf(buf, size, "(%s)", strerror(errno));
    free(names);
}

static void look_inside(int out)
{
    char root[256], tmp[256], line[700];
    if (setns(rt_mountns_bare(), CLONE_NEWNS) < 0) {
        say(out, strerror(errno));
        return;
    }
    list("/", root, sizeof root);
    list("/tmp", tmp, sizeof tmp);
    int mk = mkdir("/x", 0755) < 0 ? errno : 0;
    int mk_tmp = mkdir("/tmp/x", 0755) < 0 ? errno : 0;
    snprintf(line, sizeof line, "/: %s; /tmp: %s; mkdir /x: %s; mkdir /tmp/x: %s; /proc/self: %s",
             root, *tmp ? tmp : "empty", strerror(mk), strerror(mk_tmp),
             access("/proc/self/fd", F_OK) == 0 ? "there" : strerror(errno));
    say(out, line);
}

static void test_content(void)
{
    rt_error err;
    int rc = rt_mountns_bare_init(&err);
    ok(rc == 0 && rt_mountns_bare() >= 0, "root makes the bare namespace%s%s", rc ? ": " : "",
       rc ? err.msg : "");
    int fd = rt_mountns_bare();
    ok(rt_mountns_bare_init(&err) == 0 && rt_mountns_bare() == fd, "once: a second call keeps it");
    char what[1024];
    in_child(look_inside, what, sizeof what);
    is_str(what,
           "/: proc tmp; /tmp: empty; mkdir /x: Read-only file system; mkdir /tmp/x: Read-only "
           "file system; /proc/self: there",
           "it holds an empty /tmp and a /proc, read-only");
}

static bool is_mount_point(const char *path)
{
    FILE *f = fopen("/proc/self/mountinfo", "r");
    char line[4096], target[PATH_MAX];
    bool found = false;
    while (f && !found && fgets(line, sizeof line, f))
        found = sscanf(line, "%*s %*s %*s %*s %4095s", target) == 1 && strcmp(target, path) == 0;
    if (f)
        fclose(f);
    return found;
}

static const char *read_text(const char *path)
{
    static char buf[256];
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    ssize_t n = fd < 0 ? -1 : read(fd, buf, sizeof buf - 1);
    if (fd >= 0)
        close(fd);
    if (n < 0)
        return "(missing)";
    buf[n] = '\0';
    return buf;
}

/* The workspace and a read-only bind are shared mounts here; the plan mounts
 * a tmpfs inside the workspace. The sandbox must see the caller's mounts and
 * must not show its own on the caller's side. */
static void shared_sources_run(const char *dir, const char *how)
{
    char ws[PATH_MAX], ro[PATH_MAX], sub[PATH_MAX + 8], path[PATH_MAX + 8];
    snprintf(ws, sizeof ws, "%s/ws", dir);
    snprintf(ro, sizeof ro, "%s/ro", dir);
    snprintf(sub, sizeof sub, "%s/sub", ws);
    snprintf(path, sizeof path, "%s/r", ro);
    rt_error err;
    if (mkdir(ws, 0777) < 0 || mkdir(ro, 0755) < 0 ||
        mount("tmpfs", ws, "tmpfs", 0, "size=1m,mode=0777") < 0 ||
        mount("tmpfs", ro, "tmpfs", 0, "size=1m,mode=0755") < 0 || mkdir(sub, 0777) < 0) {
        diag("setting up %s: %s", dir, strerror(errno));
        abort();
    }
    int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0 || write(fd, "ro\n", 3) != 3 || close(fd) < 0)
        abort();

    rt_spec s;
    rt_result res;
    rt_spec_init(&s);
    s.workspace = strdup(ws);
    if (!s.workspace || rt_spec_add_mount(&s, RT_MOUNT_RO_BIND, ro, "/ro", 0, &err) < 0 ||
        rt_spec_add_mount(&s, RT_MOUNT_TMPFS, NULL, "/workspace/sub", 0, &err) < 0)
        abort();
    set_sh(&s, "echo hi > /workspace/f && echo s > /workspace/sub/g && cat /ro/r &&"
               " { touch /ro/x 2>/dev/null && echo ro writable || echo ro refused; }");
    char name[200];
    snprintf(name, sizeof name, "%s: a sandbox with shared mounts as sources runs", how);
    is_str(rt_status_name(run(&s, &res)), "ok", name);
    snprintf(name, sizeof name, "%s: it reads the read-only bind and cannot write it", how);
    is_str(res.out.data ? res.out.data : "", "ro\nro refused\n", name);
    rt_result_free(&res);
    snprintf(path, sizeof path, "%s/f", ws);
    snprintf(name, sizeof name, "%s: what it wrote to /workspace is in the caller's mount", how);
    is_str(read_text(path), "hi\n", name);
    ok(!is_mount_point(sub), "%s: the tmpfs it had on /workspace/sub did not show up on the "
                             "caller's side (its copy of the workspace is private)", how);
    snprintf(path, sizeof path, "%s/g", sub);
    snprintf(name, sizeof name, "%s: nor did the file written into that tmpfs", how);
    is_str(read_text(path), "(missing)", name);
    if (umount2(ws, MNT_DETACH) < 0 || umount2(ro, MNT_DETACH) < 0 || rmdir(ws) < 0 ||
        rmdir(ro) < 0)
        diag("cleaning up %s: %s", dir, strerror(errno));
}

static int count_mounts(void)
{
    FILE *f = fopen("/proc/self/mountinfo", "r");
    char line[4096];
    int n = 0;
    while (f && fgets(line, sizeof line, f))
        n++;
    if (f)
        fclose(f);
    return n;
}

static int write_mount_max(const char *value)
{
    int fd = open("/proc/sys/fs/mount-max", O_WRONLY | O_CLOEXEC);
    int rc = fd < 0 || write(fd, value, strlen(value)) < 0 ? -1 : 0;
    if (rc < 0)
        diag("setting fs.mount-max to %s: %s", value, strerror(errno));
    if (fd >= 0)
        close(fd);
    return rc;
}

/* One sandbox in a child process with fs.mount-max at limit: its status and
 * stdout. The parent puts the limit back however the child ends. */
static void run_at_limit(const char *limit, const char *saved, uint64_t keep_caps, char *out,
                         size_t size)
{
    int p[2];
    if (pipe(p) < 0 || write_mount_max(limit) < 0)
        abort();
    pid_t pid = fork();
    if (pid == 0) {
        close(p[0]);
        rt_spec s;
        rt_result res;
        rt_spec_init(&s);
        set_sh(&s, "echo started");
        s.keep_caps = keep_caps;
        rt_status st = run(&s, &res);
        dprintf(p[1], "%s %s", rt_status_name(st), res.out.data ? res.out.data : "");
        _exit(0);
    }
    close(p[1]);
    size_t len = 0;
    ssize_t n;
    while (pid > 0 && len + 1 < size && (n = read(p[0], out + len, size - 1 - len)) > 0)
        len += (size_t)n;
    out[len] = '\0';
    close(p[0]);
    if (pid > 0)
        waitpid(pid, NULL, 0);
    write_mount_max(saved);
}

/* fs.mount-max caps the mounts of each namespace (system-wide, so it is
 * lowered only while one sandbox starts): with ours five below it, a sandbox
 * whose namespace is a copy of ours plus its own mounts is refused (ENOSPC);
 * a copy of the bare one is far from it. A profile that keeps capabilities
 * copies ours still: its mounts must be locked. */
static void test_crowded_namespace(const char *dir)
{
    char path[PATH_MAX], saved[32], limit[32], out[256];
    snprintf(path, sizeof path, "%s/many", dir);
    if (mkdir(path, 0755) < 0 || mount("tmpfs", path, "tmpfs", 0, "size=64k") < 0)
        abort();
    for (int i = 0; i < 300; i++) {
        char sub[PATH_MAX + 16];
        snprintf(sub, sizeof sub, "%s/%d", path, i);
        if (mkdir(sub, 0755) < 0 || mount("tmpfs", sub, "tmpfs", 0, "size=4k") < 0)
            abort();
    }
    int fd = open("/proc/sys/fs/mount-max", O_RDONLY | O_CLOEXEC);
    ssize_t n = fd < 0 ? -1 : read(fd, saved, sizeof saved - 1);
    if (fd >= 0)
        close(fd);
    if (n > 0) {
        saved[n] = '\0';
        int ours = count_mounts();
        snprintf(limit, sizeof limit, "%d", ours + 5);
        run_at_limit(limit, saved, 0, out, sizeof out);
        char name[160];
        snprintf(name, sizeof name,
                 "a sandbox starts beside a namespace of %d mounts, fs.mount-max %s", ours, limit);
        is_str(out, "ok started\n", name);
        run_at_limit(limit, saved, 1ull << 10, out, sizeof out);
        is_str(out, "error ", "one that keeps a capability (CAP_NET_BIND_SERVICE) copies that "
                              "namespace: over the cap");
    } else {
        skip(2, "fs.mount-max cannot be read");
    }
    if (umount2(path, MNT_DETACH) < 0 || rmdir(path) < 0)
        diag("cleaning up %s: %s", path, strerror(errno));
}

static void *wait_on(void *fd)
{
    char c;
    return read(*(int *)fd, &c, 1) < 0 ? NULL : fd;
}

/* A caller with a second thread cannot enter the bare namespace (its threads
 * share the file system context): the child copies the caller's namespace and
 * must make it private itself, the way it does without a bare namespace. With
 * a network namespace made ahead (sbx run's way) the child stays in the host's
 * user namespace, where a copy that is not private would carry its mounts,
 * /tmp's staging root first, back to the caller's. */
static void test_threaded_caller(const char *dir)
{
    int p[2];
    pthread_t t;
    if (pipe(p) < 0 || pthread_create(&t, NULL, wait_on, &p[0]) != 0)
        abort();
    rt_netns_prestart();
    shared_sources_run(dir, "with a second thread");
    is_int(rt_mountns_bare(), -1, "that caller does not try the bare namespace again");
    close(p[1]);
    pthread_join(t, NULL);
    close(p[0]);
}

int main(void)
{
    if (geteuid() != 0) {
        tap_plan(1);
        skip(1, "needs root");
        return tap_done();
    }
    tap_plan(17);
    char dir[] = "/tmp/sbx-mountns-XXXXXX";
    /* Private first: shared alone would keep our mounts peers of the host's. */
    if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
        mount(NULL, "/", NULL, MS_REC | MS_SHARED, NULL) < 0 || !mkdtemp(dir)) {
        diag("a namespace for the test: %s", strerror(errno));
        abort();
    }
    test_unprivileged();
    test_content();
    shared_sources_run(dir, "from the bare namespace");
    test_crowded_namespace(dir);
    test_threaded_caller(dir);
    if (rmdir(dir) < 0)
        diag("removing %s: %s", dir, strerror(errno));
    return tap_done();
}
