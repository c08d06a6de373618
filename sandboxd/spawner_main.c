/* sandboxd-spawner: the process sandboxd's sandboxes are forked from.
 *
 * sandboxd forks and execs it before starting any thread, with the control
 * socket on fd 3 (spawn_frame.h). It is a static program apart from the daemon
 * because every run forks it: a copy of a static process with a few mappings
 * costs a fraction of a copy of the daemon, whose dozens of shared libraries
 * each bring mappings that fork copies and exit tears down. Per run it forks a
 * worker that reads the spec, runs the sandbox (runtime/sandbox.h) and streams
 * its output and result back over the run's socket. */
#include <errno.h>
#include <jansson.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cgroup.h"
#include "devdir.h"
#include "mountns.h"
#include "profile.h"
#include "sandbox.h"
#include "spawn_frame.h"
#include "spec_json.h"

static rt_profile **profiles;  /* loaded at start and on every reload */
static size_t n_profiles;

/* ---- the worker: one run, then exit ---- */

static void worker_output(void *ctx, int stream, const char *data, size_t len)
{
    sd_send_frame(*(int *)ctx, stream == 1 ? SD_FRAME_STDOUT : SD_FRAME_STDERR, data, len);
}

static _Noreturn void worker_send_result(int fd, rt_result *res)
{
    json_t *j = rt_result_to_json(res);
    char *s = j ? json_dumps(j, JSON_COMPACT | JSON_REAL_PRECISION(17)) : NULL;
    if (s)
        sd_send_frame(fd, SD_FRAME_RESULT, s, strlen(s));
    _exit(0);
}

static _Noreturn void worker_fail(int fd, const char *msg)
{
    rt_result res;
    rt_result_init(&res, 0);
    rt_result_set_error(&res, msg);
    worker_send_result(fd, &res);
}

/* The spec, with the profile's filter and capabilities (its limits, mounts and
 * network are already in the spec the daemon resolved). */
static int worker_spec(int fd, rt_spec *spec, rt_error *err)
{
    unsigned char head[SD_FRAME_HEAD];
    uint32_t n;
    if (sd_read_all(fd, head, sizeof head) < 0 || head[0] != SD_FRAME_SPEC)
        return rt_error_set(err, 0, "no spec from the daemon");
    memcpy(&n, head + 1, sizeof n);
    char *text = n <= SD_FRAME_MAX ? malloc(n ? n : 1) : NULL;
    if (!text || sd_read_all(fd, text, n) < 0) {
        free(text);
        return rt_error_set(err, errno, "reading the spec");
    }
    json_error_t je;
    json_t *obj = json_loadb(text, n, JSON_ALLOW_NUL, &je);
    free(text);
    if (!obj)
        return rt_error_set(err, 0, "spec: %s", je.text);
    int rc = rt_spec_from_json(obj, spec, err);
    json_decref(obj);
    if (rc < 0)
        return -1;
    if (!spec->profile)        /* no profile would mean no filter: fail closed */
        return rt_error_set(err, 0, "the spec names no profile");
    for (size_t i = 0; i < n_profiles; i++)
        if (strcmp(profiles[i]->name, spec->profile) == 0) {
            spec->seccomp = rt_seccomp_ref(profiles[i]->base.seccomp);
            spec->keep_caps = profiles[i]->base.keep_caps;
            return 0;
        }
    return rt_error_set(err, 0, "profile %s: not loaded by the spawner", spec->profile);
}

static bool cancel_asked(int fd)
{
    struct pollfd p = {.fd = fd, .events = POLLIN | POLLRDHUP};
    return poll(&p, 1, 0) > 0;   /* the cancel byte, or the daemon gone */
}

static _Noreturn void worker_main(int fd)
{
    prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
    signal(SIGCHLD, SIG_DFL);  /* the runtime waits for its own children */
    rt_spec spec;
    rt_error err;
    rt_error_clear(&err);
    rt_supervisor *sup = NULL;
    rt_sandbox *sb = NULL;
    rt_callbacks cb = {worker_output, &fd};
    if (worker_spec(fd, &spec, &err) < 0 || !(sup = rt_supervisor_new(&err)) ||
        rt_sandbox_start(sup, &spec, &cb, &sb, &err) < 0)
        worker_fail(fd, err.msg);
    bool cancelled = false;
    for (;;) {
        if (!cancelled && cancel_asked(fd)) {
            rt_sandbox_kill(sb, RT_STATUS_CANCELLED);
            cancelled = true;
        }
        if (rt_supervisor_poll(sup, 100, &err) < 0 && !cancelled) {
            rt_sandbox_kill(sb, RT_STATUS_ERROR);
            cancelled = true;
        }
        rt_sandbox *done = rt_supervisor_take_done(sup);
        if (done) {
            rt_result res;
            rt_sandbox_finish(done, &res);
            worker_send_result(fd, &res);
        }
    }
}

/* ---- the spawner: forks a worker per run ---- */

/* One control message into buf; *fd is the run's socket or -1. Returns its
 * length, 0 when the daemon closed its end. */
static ssize_t recv_ctl(int sock, char *buf, size_t len, int *fd)
{
    char ctl[CMSG_SPACE(sizeof(int))];
    struct iovec iov = {buf, len};
    struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl,
                       .msg_controllen = sizeof ctl};
    ssize_t r;
    while ((r = recvmsg(sock, &m, MSG_CMSG_CLOEXEC)) < 0 && errno == EINTR)
        ;
    *fd = -1;
    struct cmsghdr *c = r > 0 ? CMSG_FIRSTHDR(&m) : NULL;
    if (c && c->cmsg_type == SCM_RIGHTS)
        memcpy(fd, CMSG_DATA(c), sizeof *fd);
    return r < 0 ? 0 : r;
}

/* Replaces the table with the profiles named in "a,b,c"; one that fails to
 * load is left out (the daemon loaded the same files and refused bad ones). */
static void load_profiles(char *names)
{
    for (size_t i = 0; i < n_profiles; i++)
        rt_profile_free(profiles[i]);
    n_profiles = 0;
    size_t n = 1;
    for (char *c = names; *c; c++)
        n += *c == ',';
    rt_profile **table = realloc(profiles, n * sizeof *table);
    if (!table)
        return;
    profiles = table;
    char *save = NULL;
    for (char *name = strtok_r(names, ",", &save); name; name = strtok_r(NULL, ",", &save)) {
        rt_error err;
        if (rt_profile_load(name, &profiles[n_profiles], &err) == 0)
            n_profiles++;
    }
}

static bool is_control_socket(int fd)
{
    int type;
    socklen_t len = sizeof type;
    return getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) == 0 && type == SOCK_SEQPACKET;
}

int main(int argc, char **argv)
{
    const int ctl = SD_SPAWNER_CTL_FD;
    char *end = NULL;
    long daemon = argc == 2 ? strtol(argv[1], &end, 10) : 0;
    if (argc != 2 || *end || daemon <= 0 || !is_control_socket(ctl)) {
        fprintf(stderr, "usage: sandboxd-spawner DAEMON-PID (with its control socket on fd %d)\n"
                        "sandboxd starts this program; it is not run by hand.\n", ctl);
        return 2;
    }
    prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
    if (getppid() != (pid_t)daemon)
        return 0;              /* the daemon died before the death signal was set */
    prctl(PR_SET_NAME, "sandboxd-spawn", 0, 0, 0);
    /* The daemon decides when runs end: a terminal's ^C reaches it, not us. */
    signal(SIGINT, SIG_IGN);
    signal(SIGTERM, SIG_IGN);
    signal(SIGHUP, SIG_IGN);
    signal(SIGPIPE, SIG_IGN);
    /* Sandboxes copy a bare mount namespace rather than the daemon's, which
     * holds a tmpfs per live workflow. Without it they still run, slower. */
    rt_error err;
    if (geteuid() == 0 && rt_mountns_bare_init(&err) < 0)
        fprintf(stderr, "sandboxd-spawner: %s; sandboxes copy the daemon's mount namespace\n",
                err.msg);
    struct sigaction sa = {.sa_handler = SIG_IGN, .sa_flags = SA_NOCLDWAIT};
    sigaction(SIGCHLD, &sa, NULL);   /* workers are reaped by the kernel */
    /* Answers computed once per process, here rather than in every worker:
     * the cgroup mounts (a read of mountinfo) and the prepared /dev. */
    rt_cgroup_detect();
    rt_devdir_get();
    static char msg[SD_CTL_MAX + 1];
    msg[0] = SD_CTL_RUN;           /* ready: the daemon waits for this */
    if (send(ctl, msg, 1, MSG_NOSIGNAL) != 1)
        return 1;
    for (;;) {
        int fd;
        ssize_t n = recv_ctl(ctl, msg, SD_CTL_MAX, &fd);
        if (n == 0)
            return 0;          /* the daemon closed its end */
        msg[n] = '\0';
        if (msg[0] == SD_CTL_PROFILES)
            load_profiles(msg + 1);
        if (fd < 0)
            continue;
        pid_t w = fork();
        if (w == 0) {
            close(ctl);
            worker_main(fd);
        }
        close(fd);             /* a failed fork: the daemon sees EOF, an error result */
    }
}
