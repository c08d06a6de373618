/* Network and user namespaces made ahead of the clone. Making the network
 * namespace is most of what a clone with six new namespaces costs (the kernel
 * registers every per-net sysctl and device), so a program that runs one
 * sandbox makes it on a thread of its own while it reads options and builds its
 * plan; the user namespace, its ids mapped, spares pid 1 a round trip to us. */
#include "netns.h"

#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cleanup.h"
#include "idmap.h"
#include "prestart.h"
#include "sys.h"

int rt_netns_loopback_up(void)
{
    long fd = rt_sys(SYS_socket, AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return (int)fd;
    struct ifreq ifr = {0};
    memcpy(ifr.ifr_name, "lo", sizeof "lo");
    long rc = rt_sys(SYS_ioctl, fd, SIOCGIFFLAGS, &ifr);
    if (rc == 0) {
        ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
        rc = rt_sys(SYS_ioctl, fd, SIOCSIFFLAGS, &ifr);
    }
    rt_sys(SYS_close, fd);
    return (int)rc;
}

/* Runs on a thread that ends afterwards: its own network namespace changes. */
static int make_network_namespace(void)
{
    if (unshare(CLONE_NEWNET) < 0)
        return -1;
    int fd = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
    int rc;
    if (fd >= 0 && (rc = rt_netns_loopback_up()) < 0) {
        close(fd);
        errno = -rc;
        return -1;
    }
    return fd;
}

/* The holder of a new user namespace until we have its maps written and an fd
 * of it. It shares our memory and the creating thread's TLS, so it must touch
 * neither: every signal is blocked (no handler runs, pause never returns and
 * errno is never set) until SIGKILL. */
static _Noreturn int hold_namespace(void *unused)
{
    (void)unused;
    for (;;)
        syscall(SYS_pause);
}

/* A thread cannot unshare a user namespace, so a helper is cloned into one:
 * with CLONE_VM, which copies no page tables. It is killed once we hold the
 * namespace, and reaped (*helper) when the namespaces are taken: by then it is
 * long dead, where waiting here would wait for a CPU to run its exit. */
static int make_user_namespace(pid_t *helper, rt_error *err)
{
    /* Not on our stack: SIGKILL may leave the helper a few instructions in user
     * mode after kill returns, and our frames move on. One helper at a time:
     * it is reaped when its namespace is taken, before another can be made. */
    static _Alignas(16) char stack[16384];
    sigset_t all, old;
    sigfillset(&all);
    int e = pthread_sigmask(SIG_SETMASK, &all, &old);
    if (e != 0)
        return rt_error_set(err, e, "blocking signals");
    int fd = -1;
    pid_t pid = clone(hold_namespace, stack + sizeof stack, CLONE_VM | CLONE_NEWUSER, NULL);
    if (pid < 0) {
        rt_error_set(err, errno, "creating a user namespace");
    } else {
        char path[64];
        snprintf(path, sizeof path, "/proc/%d/ns/user", (int)pid);
        if (rt_idmap_write(pid, true, err) == 0 && (fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
            rt_error_set(err, errno, "opening %s", path);
        kill(pid, SIGKILL);
        *helper = pid;
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return fd;
}

/* The thread's piece, in a place of its own while nobody has taken it; and
 * why there is none. */
static struct made {
    int net, user;
    pid_t helper;
    rt_error err;
} made = {-1, -1, -1, {0}};

static void reap_helper(void)
{
    if (made.helper > 0)
        while (waitpid(made.helper, NULL, __WALL) < 0 && errno == EINTR)
            ;
    made.helper = -1;
}

static void *make_prestarted(void)
{
    rt_error_clear(&made.err);
    made.user = make_user_namespace(&made.helper, &made.err);
    if (made.user < 0)
        return NULL;
    made.net = make_network_namespace();
    if (made.net >= 0)
        return &made;
    rt_error_set(&made.err, errno, "creating the network namespace");
    close(steal_fd(&made.user));
    return NULL;
}

static rt_prestart pre = RT_PRESTART_INIT(make_prestarted, NULL);

void rt_netns_prestart(void)
{
    if (geteuid() == 0)
        rt_prestart_start(&pre);
}

bool rt_netns_pending(void)
{
    return rt_prestart_pending(&pre);
}

int rt_netns_take(int *net, int *user, rt_error *err)
{
    struct made *m = rt_prestart_take(&pre);
    reap_helper();
    *net = *user = -1;
    if (!m) {
        *err = made.err;
        if (!err->msg[0])
            rt_error_set(err, 0, "no namespaces were made ahead");
        return -1;
    }
    *net = steal_fd(&m->net);
    *user = steal_fd(&m->user);
    return 0;
}

void rt_netns_prestart_end(void)
{
    struct made *m = rt_prestart_take(&pre);
    reap_helper();
    if (m) {
        close(steal_fd(&m->net));
        close(steal_fd(&m->user));
    }
}
