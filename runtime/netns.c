/* Network namespaces made ahead of the clone. Making one is most of what a
 * clone with six new namespaces costs (the kernel registers every per-net
 * sysctl and device), so a program that runs one sandbox makes it on a thread
 * of its own while it reads options and builds its plan. */
#include "netns.h"

#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <sched.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cleanup.h"
#include "prestart.h"

int rt_netns_loopback_up(void)
{
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    struct ifreq ifr = {0};
    memcpy(ifr.ifr_name, "lo", sizeof "lo");
    int rc = ioctl(fd, SIOCGIFFLAGS, &ifr);
    if (rc == 0) {
        ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
        rc = ioctl(fd, SIOCSIFFLAGS, &ifr);
    }
    int saved = errno;
    close(fd);
    errno = saved;
    return rc;
}

/* Runs on a thread that ends afterwards: its own network namespace changes. */
static int make_on_this_thread(void)
{
    if (unshare(CLONE_NEWNET) < 0)
        return -1;
    int fd = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
    if (fd >= 0 && rt_netns_loopback_up() < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* The thread's piece: the fd, in a place of its own while nobody has taken it. */
static int made_fd = -1;

static void *make_prestarted(void)
{
    made_fd = make_on_this_thread();
    return made_fd < 0 ? NULL : &made_fd;
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

int rt_netns_take(void)
{
    int *fd = rt_prestart_take(&pre);
    return fd ? steal_fd(fd) : -1;
}

void rt_netns_prestart_end(void)
{
    int *fd = rt_prestart_end(&pre);
    if (fd)
        close(steal_fd(fd));
}
