#include "spawner.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "helper_path.h"
#include "spawn_frame.h"
#include "spec_json.h"

static int ctl_fd = -1;        /* the daemon's end of the spawner's control socket */

struct sd_run {
    int fd;
    char *buf;                 /* bytes read, not yet a whole frame */
    size_t len, cap;
    bool cancelled;
};

int sd_spawner_profiles(char *const *names, size_t n, rt_error *err)
{
    char msg[SD_CTL_MAX] = {SD_CTL_PROFILES};
    size_t len = 1;
    for (size_t i = 0; i < n; i++) {
        size_t l = strlen(names[i]);
        if (len + l + 1 >= sizeof msg)
            return rt_error_set(err, 0, "profile names: more than %d bytes", SD_CTL_MAX);
        if (i)
            msg[len++] = ',';
        memcpy(msg + len, names[i], l);
        len += l;
    }
    if (send(ctl_fd, msg, len, MSG_NOSIGNAL) != (ssize_t)len)
        return rt_error_set(err, errno, "telling the spawner the profiles");
    return 0;
}

/* In the forked child: the control socket on its fixed descriptor, nothing
 * else open but stdio, then the program. */
static _Noreturn void exec_spawner(const char *path, int sock, pid_t daemon)
{
    prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
    if (sock == SD_SPAWNER_CTL_FD ? fcntl(sock, F_SETFD, 0) < 0
                                  : dup2(sock, SD_SPAWNER_CTL_FD) < 0)
        _exit(127);
    close_range(SD_SPAWNER_CTL_FD + 1, ~0u, 0);
    char pid[24];
    snprintf(pid, sizeof pid, "%ld", (long)daemon);
    execl(path, "sandboxd-spawner", pid, (char *)NULL);
    fprintf(stderr, "sandboxd: cannot run %s: %s\n", path, strerror(errno));
    _exit(127);
}

int sd_spawner_start(rt_error *err)
{
    char path[PATH_MAX + 96];
    const char *env = getenv("SANDBOXD_SPAWNER");
    if (env && *env) {
        if (env[0] != '/' || access(env, X_OK) < 0)
            return rt_error_set(err, env[0] != '/' ? 0 : errno,
                                "SANDBOXD_SPAWNER: \"%.200s\" is not %s", env,
                                env[0] != '/' ? "an absolute path" : "an executable program");
        snprintf(path, sizeof path, "%s", env);
    } else if (rt_helper_path("sandboxd-spawner", path, sizeof path, err) < 0) {
        return -1;
    }
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
        return rt_error_set(err, errno, "spawner socket");
    pid_t daemon = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        close(sv[0]);
        close(sv[1]);
        return rt_error_set(err, errno, "forking the spawner");
    }
    if (pid == 0)
        exec_spawner(path, sv[1], daemon);
    close(sv[1]);
    /* Its ready byte, so that a spawner that cannot start is said here rather
     * than as a failed run later. */
    struct pollfd p = {.fd = sv[0], .events = POLLIN};
    char ready = 0;
    int n = poll(&p, 1, 10000);
    if (n <= 0 || recv(sv[0], &ready, 1, 0) != 1 || ready != SD_CTL_RUN) {
        int e = n < 0 ? errno : 0;
        close(sv[0]);
        kill(pid, SIGKILL);
        return rt_error_set(err, e, "the spawner %s did not start%s", path,
                            n == 0 ? " within 10 s" : "");
    }
    ctl_fd = sv[0];
    return 0;
}

/* ---- the daemon's side of a run ---- */

static int send_fd(int sock, int fd)
{
    char byte = SD_CTL_RUN;
    char ctl[CMSG_SPACE(sizeof(int))] = {0};
    struct iovec iov = {&byte, 1};
    struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl,
                       .msg_controllen = sizeof ctl};
    struct cmsghdr *c = CMSG_FIRSTHDR(&m);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &fd, sizeof fd);
    ssize_t r;
    while ((r = sendmsg(sock, &m, MSG_NOSIGNAL)) < 0 && errno == EINTR)
        ;
    return r == 1 ? 0 : -1;
}

int sd_run_start(const rt_spec *spec, sd_run **out, rt_error *err)
{
    *out = NULL;
    if (ctl_fd < 0)
        return rt_error_set(err, 0, "the spawner is not running");
    json_t *j = rt_spec_to_json(spec);
    char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    if (!text)
        return rt_error_set(err, ENOMEM, "encoding the spec");
    int sv[2] = {-1, -1};
    sd_run *r = calloc(1, sizeof *r);
    int rc = -1;
    if (r)
        r->fd = -1;
    if (!r || socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
        rt_error_set(err, errno, "a socket for the run");
    } else if (send_fd(ctl_fd, sv[1]) < 0) {
        rt_error_set(err, errno, "handing the run to the spawner");
    } else {
        close(sv[1]);
        sv[1] = -1;
        r->fd = sv[0];
        sv[0] = -1;
        /* MSG_NOSIGNAL matters little here: SIGPIPE is blocked in the daemon. */
        if (sd_send_frame(r->fd, SD_FRAME_SPEC, text, strlen(text)) < 0)
            rt_error_set(err, errno, "sending the spec to the worker");
        else
            rc = 0;
    }
    free(text);
    for (int i = 0; i < 2; i++)
        if (sv[i] >= 0)
            close(sv[i]);
    if (rc < 0) {
        sd_run_free(r);
        return -1;
    }
    *out = r;
    return 0;
}

void sd_run_cancel(sd_run *r)
{
    if (r->cancelled)
        return;
    r->cancelled = true;
    char k = SD_CANCEL_BYTE;
    if (write(r->fd, &k, 1) < 0) {
        /* the worker is gone already: its EOF ends the run */
    }
}

static int lost(rt_result *res, const char *why)
{
    rt_result_init(res, 0);
    rt_result_set_error(res, why);
    return 1;
}

/* Hands on every whole frame in the buffer; 1 once the result is in. */
static int take_frames(sd_run *r, const rt_callbacks *cb, rt_result *res)
{
    size_t off = 0;
    int done = 0;
    while (!done && r->len - off >= SD_FRAME_HEAD) {
        uint32_t n;
        memcpy(&n, r->buf + off + 1, sizeof n);
        if (r->len - off - SD_FRAME_HEAD < n)
            break;
        char type = r->buf[off];
        const char *data = r->buf + off + SD_FRAME_HEAD;
        if ((type == SD_FRAME_STDOUT || type == SD_FRAME_STDERR) && cb && cb->on_output) {
            cb->on_output(cb->ctx, type == SD_FRAME_STDOUT ? 1 : 2, data, n);
        } else if (type == SD_FRAME_RESULT) {
            json_error_t je;
            rt_error err;
            json_t *j = json_loadb(data, n, JSON_ALLOW_NUL, &je);
            done = 1;
            if (!j || rt_result_from_json(j, res, &err) < 0)
                lost(res, "the sandbox worker sent a result that does not decode");
            json_decref(j);
        }
        off += SD_FRAME_HEAD + n;
    }
    memmove(r->buf, r->buf + off, r->len - off);
    r->len -= off;
    return done;
}

int sd_run_poll(sd_run *r, int timeout_ms, const rt_callbacks *cb, rt_result *res)
{
    struct pollfd p = {.fd = r->fd, .events = POLLIN};
    int n = poll(&p, 1, timeout_ms);
    if (n <= 0)
        return 0;
    if (r->cap - r->len < 65536) {
        size_t cap = r->cap ? r->cap * 2 : 131072;
        char *b = cap <= SD_FRAME_MAX + SD_FRAME_HEAD ? realloc(r->buf, cap) : NULL;
        if (!b)
            return lost(res, "out of memory reading the sandbox's output");
        r->buf = b;
        r->cap = cap;
    }
    ssize_t got = read(r->fd, r->buf + r->len, r->cap - r->len);
    if (got < 0)
        return errno == EINTR || errno == EAGAIN ? 0 : lost(res, "reading from the sandbox worker");
    if (got == 0)
        return lost(res, "the sandbox worker ended without a result");
    r->len += (size_t)got;
    return take_frames(r, cb, res);
}

void sd_run_free(sd_run *r)
{
    if (!r)
        return;
    if (r->fd >= 0)
        close(r->fd);
    free(r->buf);
    free(r);
}
