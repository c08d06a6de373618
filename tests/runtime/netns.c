/* The namespaces sbx run makes ahead of its sandbox (netns.h): what a run gets,
 * and that nothing of the making is left running when it takes them. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/nsfs.h>
#include <net/if.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "netns.h"
#include "tap.h"

static int count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    int n = 0;
    if (!d)
        return -1;
    for (struct dirent *e; (e = readdir(d));)
        n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

static ino_t ino_of_fd(int fd)
{
    struct stat st;
    return fstat(fd, &st) < 0 ? 0 : st.st_ino;
}

static ino_t ino_of(const char *path)
{
    struct stat st;
    return stat(path, &st) < 0 ? 0 : st.st_ino;
}

/* In a child: enters both namespaces and writes back lo's flags and the uid
 * map as it reads there. */
static void look_inside(int net, int user, char *out, size_t size)
{
    int p[2];
    if (pipe(p) < 0) {
        snprintf(out, size, "pipe: %s", strerror(errno));
        return;
    }
    pid_t pid = fork();
    if (pid == 0) {
        char buf[512] = "";
        struct ifreq ifr = {0};
        memcpy(ifr.ifr_name, "lo", 3);
        int s = -1, fd;
        ssize_t n = 0;
        if (setns(net, CLONE_NEWNET) < 0 || (s = socket(AF_INET, SOCK_DGRAM, 0)) < 0 ||
            ioctl(s, SIOCGIFFLAGS, &ifr) < 0 || setns(user, CLONE_NEWUSER) < 0 ||
            (fd = open("/proc/self/uid_map", O_RDONLY)) < 0 ||
            (n = read(fd, buf, sizeof buf - 1)) < 0)
            snprintf(buf, sizeof buf, "failed: %s", strerror(errno));
        else
            buf[n] = '\0';
        dprintf(p[1], "lo %s\n%s", (ifr.ifr_flags & IFF_UP) ? "up" : "down", buf);
        _exit(0);
    }
    close(p[1]);
    ssize_t n = read(p[0], out, size - 1);
    out[n > 0 ? n : 0] = '\0';
    close(p[0]);
    waitpid(pid, NULL, 0);
}

/* The uid map, its columns' padding squeezed. */
static void squeeze(char *s)
{
    char *w = s;
    for (char *r = s; *r; r++)
        if (*r != ' ' || (w > s && w[-1] != ' ' && w[-1] != '\n'))
            *w++ = *r;
    *w = '\0';
    for (char *c = s; *c; c++)
        if (*c == ' ' && (c[1] == '\n' || c[1] == '\0'))
            memmove(c, c + 1, strlen(c));
}

static void test_take(void)
{
    rt_error err;
    int net = -1, user = -1;
    int fds_before = count_entries("/proc/self/fd");
    rt_netns_prestart();
    ok(rt_netns_pending(), "prestarted namespaces are pending");
    is_int(rt_netns_take(&net, &user, &err), 0, "taken");
    /* What the thread did after the clone would be copy-on-write faults, each
     * a TLB flush on the CPU it runs on: take waits for it to end. */
    is_int(count_entries("/proc/self/task"), 1, "the thread that made them has ended");
    errno = 0;
    ok(waitpid(-1, NULL, __WALL | WNOHANG) < 0 && errno == ECHILD,
       "the helper that held the user namespace is gone and reaped");
    ok(!rt_netns_pending(), "nothing is pending after the take");
    ok(net >= 0 && ino_of_fd(net) != ino_of("/proc/self/ns/net"), "a network namespace of its own");
    ok(user >= 0 && ino_of_fd(user) != ino_of("/proc/self/ns/user"), "a user namespace of its own");
    int owner = ioctl(net, NS_GET_USERNS);
    ok(owner >= 0 && ino_of_fd(owner) == ino_of("/proc/self/ns/user"),
       "the network namespace belongs to our user namespace, not the sandbox's");
    if (owner >= 0)
        close(owner);
    char got[600];
    look_inside(net, user, got, sizeof got);
    squeeze(got);
    is_str(got, "lo up\n0 100000 1\n1000 101000 1\n", "lo is up; the sandbox's ids are mapped");
    close(net);
    close(user);
    ok(rt_netns_take(&net, &user, &err) < 0 && net < 0 && user < 0 && err.msg[0],
       "a second take gets nothing, with a reason");
    diag("%s", err.msg);
    is_int(count_entries("/proc/self/fd"), fds_before, "no fd left over");
}

static void test_end_without_take(void)
{
    int fds_before = count_entries("/proc/self/fd");
    rt_netns_prestart();
    rt_netns_prestart_end();
    is_int(count_entries("/proc/self/fd"), fds_before, "namespaces nobody took are closed");
    errno = 0;
    ok(waitpid(-1, NULL, __WALL | WNOHANG) < 0 && errno == ECHILD, "no helper left");
    is_int(count_entries("/proc/self/task"), 1, "no thread left");
}

static int write_text(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t n = write(fd, text, strlen(text));
    close(fd);
    return n == (ssize_t)strlen(text) ? 0 : -1;
}

/* A thread that failed leaves the run failing with its reason whenever it
 * failed: pending until taken. It once counted as not pending when it had
 * failed before a run looked, and as pending when after, so whether the run
 * failed depended on timing. Here it fails at once: in a user namespace of
 * our own that may not have another. */
static void test_failed_thread(void)
{
    int p[2];
    if (pipe(p) < 0)
        abort();
    pid_t pid = fork();
    if (pid == 0) {
        char out[600] = "setup failed";
        rt_error err;
        int net, user;
        if (unshare(CLONE_NEWUSER) == 0 && write_text("/proc/self/setgroups", "deny") == 0 &&
            write_text("/proc/self/uid_map", "0 0 1") == 0 &&
            write_text("/proc/self/gid_map", "0 0 1") == 0 &&
            write_text("/proc/sys/user/max_user_namespaces", "0") == 0) {
            rt_netns_prestart();
            usleep(100 * 1000);
            bool pending = rt_netns_pending();
            int rc = rt_netns_take(&net, &user, &err);
            snprintf(out, sizeof out, "%d %d %s", pending, rc, err.msg);
        }
        dprintf(p[1], "%s", out);
        _exit(0);
    }
    close(p[1]);
    char got[600];
    ssize_t n = read(p[0], got, sizeof got - 1);
    got[n > 0 ? n : 0] = '\0';
    close(p[0]);
    waitpid(pid, NULL, 0);
    diag("%s", got);
    ok(strncmp(got, "1 -1 creating a user namespace", 30) == 0,
       "a thread that failed is still pending, and the take says why");
}

int main(void)
{
    if (geteuid() != 0) {
        tap_plan(1);
        skip(1, "needs root");
        return tap_done();
    }
    tap_plan(15);
    test_take();
    test_end_without_take();
    test_failed_thread();
    return tap_done();
}
