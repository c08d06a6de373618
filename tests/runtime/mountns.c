/* The bare mount namespace (runtime/mountns.h) and sandboxes that copy it: what
 * it holds, its error as a user that cannot make it, and real sandboxes whose
 * bind sources are shared mounts of the caller's namespace, which must reach the
 * sandbox whole and must not carry the sandbox's own mounts back. The test runs
 * in a mount namespace of its own, with shared propagation as on a systemd host. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "mountns.h"
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
 * a tmpfs inside the workspace. */
static void test_shared_sources(const char *dir)
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
    ok(is_mount_point(ws), "the workspace is a mount of the caller's namespace");

    rt_spec s;
    rt_result res;
    rt_spec_init(&s);
    s.workspace = strdup(ws);
    if (!s.workspace || rt_spec_add_mount(&s, RT_MOUNT_RO_BIND, ro, "/ro", 0, &err) < 0 ||
        rt_spec_add_mount(&s, RT_MOUNT_TMPFS, NULL, "/workspace/sub", 0, &err) < 0)
        abort();
    set_sh(&s, "echo hi > /workspace/f && echo s > /workspace/sub/g && cat /ro/r &&"
               " { touch /ro/x 2>/dev/null && echo ro writable || echo ro refused; }");
    is_str(rt_status_name(run(&s, &res)), "ok", "a sandbox with shared mounts as sources runs");
    is_str(res.out.data ? res.out.data : "", "ro\nro refused\n",
           "it reads the read-only bind and cannot write it");
    rt_result_free(&res);
    snprintf(path, sizeof path, "%s/f", ws);
    is_str(read_text(path), "hi\n", "what it wrote to /workspace is in the caller's mount");
    ok(!is_mount_point(sub), "the tmpfs it had on /workspace/sub did not show up on the caller's "
                             "side (its copy of the workspace is private)");
    snprintf(path, sizeof path, "%s/g", sub);
    is_str(read_text(path), "(missing)", "nor did the file written into that tmpfs");

    rt_spec_init(&s);
    set_sh(&s, "echo caps");
    s.keep_caps = 1ull << 10;   /* CAP_NET_BIND_SERVICE: the way without the bare namespace */
    is_str(rt_status_name(run(&s, &res)), "ok", "a profile that keeps a capability still runs");
    rt_result_free(&res);
    umount2(ws, MNT_DETACH);
    umount2(ro, MNT_DETACH);
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

static char mount_max_saved[32];

static void write_mount_max(const char *value)
{
    int fd = open("/proc/sys/fs/mount-max", O_WRONLY | O_CLOEXEC);
    if (fd < 0 || write(fd, value, strlen(value)) < 0)
        diag("setting fs.mount-max to %s: %s", value, strerror(errno));
    if (fd >= 0)
        close(fd);
}

static void restore_mount_max(void)
{
    if (*mount_max_saved)
        write_mount_max(mount_max_saved);
}

/* fs.mount-max caps the mounts of each namespace: with ours just below it, a
 * copy of ours plus the sandbox's own mounts would be refused (ENOSPC); a
 * copy of the bare one is far from it. The limit is the system's, so it is
 * lowered only for this run and put back on the way out. */
static void test_crowded_namespace(const char *dir)
{
    char path[PATH_MAX];
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
    ssize_t n = fd < 0 ? -1 : read(fd, mount_max_saved, sizeof mount_max_saved - 1);
    if (fd >= 0)
        close(fd);
    if (n <= 0) {
        skip(2, "fs.mount-max cannot be read");
        umount2(path, MNT_DETACH);
        return;
    }
    mount_max_saved[n] = '\0';
    atexit(restore_mount_max);
    int ours = count_mounts();
    char limit[32];
    snprintf(limit, sizeof limit, "%d", ours + 5);
    write_mount_max(limit);

    rt_spec s;
    rt_result res;
    rt_spec_init(&s);
    set_sh(&s, "echo started");
    is_str(rt_status_name(run(&s, &res)), "ok",
           "a sandbox starts beside a namespace at fs.mount-max");
    is_str(res.out.data ? res.out.data : "", "started\n", "... and runs its command");
    rt_result_free(&res);
    restore_mount_max();
    diag("%d mounts in the caller's namespace, fs.mount-max %s for the run", ours, limit);
    umount2(path, MNT_DETACH);
}

int main(void)
{
    if (geteuid() != 0) {
        tap_plan(1);
        skip(1, "needs root");
        return tap_done();
    }
    tap_plan(13);
    char dir[] = "/tmp/sbx-mountns-XXXXXX";
    if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_SHARED, NULL) < 0 ||
        !mkdtemp(dir)) {
        diag("a namespace for the test: %s", strerror(errno));
        abort();
    }
    test_unprivileged();
    test_content();
    test_shared_sources(dir);
    test_crowded_namespace(dir);
    char many[sizeof dir + 8];
    snprintf(many, sizeof many, "%s/many", dir);
    rmdir(many);
    rmdir(dir);
    return tap_done();
}
