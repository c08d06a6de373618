#include "spawner.h"

#include <errno.h>
#include <jansson.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "profile.h"
#include "spec_json.h"

/* Frames on a run's socket: a type byte, a 32-bit length, the payload. The
 * daemon sends one FRAME_SPEC and maybe a cancel byte; the worker answers with
 * output frames and one FRAME_RESULT. */
enum { FRAME_SPEC = 'S', FRAME_STDOUT = '1', FRAME_STDERR = '2', FRAME_RESULT = 'R' };
#define CANCEL_BYTE 'K'
#define FRAME_MAX (256u << 20)

static int ctl_fd = -1;        /* daemon side of the spawner's control socket */

/* Control messages: a run (one byte and the run's socket), or the names of the
 * profiles to load, so that workers find them loaded and compiled (a worker is
 * a fork of the spawner and inherits its memory). */
#define CTL_RUN 'F'
#define CTL_PROFILES 'P'
#define CTL_MAX 65536

static rt_profile **profiles;  /* spawner side: loaded at start and on reload */
static size_t n_profiles;

struct sd_run {
    int fd;
    char *buf;                 /* bytes read, not yet a whole frame */
    size_t len, cap;
    bool cancelled;
};

static int write_all(int fd, const void *p, size_t n)
{
    const char *c = p;
    while (n) {
        ssize_t w = write(fd, c, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        c += w;
        n -= (size_t)w;
    }
    return 0;
}

static int send_frame(int fd, char type, const void *data, size_t len)
{
    unsigned char head[5] = {(unsigned char)type};
    uint32_t n = (uint32_t)len;
    memcpy(head + 1, &n, sizeof n);
    return write_all(fd, head, sizeof head) < 0 || write_all(fd, data, len) < 0 ? -1 : 0;
}

/* ---- the worker: one run, then exit ---- */

static void worker_output(void *ctx, int stream, const char *data, size_t len)
{
    send_frame(*(int *)ctx, stream == 1 ? FRAME_STDOUT : FRAME_STDERR, data, len);
}

static _Noreturn void worker_send_result(int fd, rt_result *res)
{
    json_t *j = rt_result_to_json(res);
    char *s = j ? json_dumps(j, JSON_COMPACT | JSON_REAL_PRECISION(17)) : NULL;
    if (s)
        send_frame(fd, FRAME_RESULT, s, strlen(s));
    _exit(0);
}

static _Noreturn void worker_fail(int fd, const char *msg)
{
    rt_result res;
    rt_result_init(&res, 0);
    rt_result_set_error(&res, msg);
    worker_send_result(fd, &res);
}

static int read_all(int fd, void *p, size_t n)
{
    char *c = p;
    while (n) {
        ssize_t r = read(fd, c, n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return -1;
        c += r;
        n -= (size_t)r;
    }
    return 0;
}

/* The spec, with the profile's filter and capabilities (its limits, mounts and
 * network are already in the spec the daemon resolved). */
static int worker_spec(int fd, rt_spec *spec, rt_error *err)
{
    unsigned char head[5];
    uint32_t n;
    if (read_all(fd, head, sizeof head) < 0 || head[0] != FRAME_SPEC)
        return rt_error_set(err, 0, "no spec from the daemon");
    memcpy(&n, head + 1, sizeof n);
    char *text = n <= FRAME_MAX ? malloc(n ? n : 1) : NULL;
    if (!text || read_all(fd, text, n) < 0) {
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

static _Noreturn void spawner_main(int ctl, pid_t daemon)
{
    prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
    if (getppid() != daemon)
        _exit(0);
    prctl(PR_SET_NAME, "sandboxd-spawn", 0, 0, 0);
    /* The daemon decides when runs end: a terminal's ^C reaches it, not us. */
    signal(SIGINT, SIG_IGN);
    signal(SIGTERM, SIG_IGN);
    signal(SIGHUP, SIG_IGN);
    signal(SIGPIPE, SIG_IGN);
    struct sigaction sa = {.sa_handler = SIG_IGN, .sa_flags = SA_NOCLDWAIT};
    sigaction(SIGCHLD, &sa, NULL);   /* workers are reaped by the kernel */
    static char msg[CTL_MAX + 1];
    for (;;) {
        int fd;
        ssize_t n = recv_ctl(ctl, msg, CTL_MAX, &fd);
        if (n == 0)
            _exit(0);          /* the daemon closed its end */
        msg[n] = '\0';
        if (msg[0] == CTL_PROFILES)
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

int sd_spawner_profiles(char *const *names, size_t n, rt_error *err)
{
    char msg[CTL_MAX] = {CTL_PROFILES};
    size_t len = 1;
    for (size_t i = 0; i < n; i++) {
        size_t l = strlen(names[i]);
        if (len + l + 1 >= sizeof msg)
            return rt_error_set(err, 0, "profile names: more than %d bytes", CTL_MAX);
        if (i)
            msg[len++] = ',';
        memcpy(msg + len, names[i], l);
        len += l;
    }
    if (send(ctl_fd, msg, len, MSG_NOSIGNAL) != (ssize_t)len)
        return rt_error_set(err, errno, "telling the spawner the profiles");
    return 0;
}

int sd_spawner_start(rt_error *err)
{
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
    if (pid == 0) {
        close(sv[0]);
        spawner_main(sv[1], daemon);
    }
    close(sv[1]);
    ctl_fd = sv[0];
    return 0;
}

/* ---- the daemon's side of a run ---- */

static int send_fd(int sock, int fd)
{
    char byte = CTL_RUN;
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
        if (send_frame(r->fd, FRAME_SPEC, text, strlen(text)) < 0)
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
    char k = CANCEL_BYTE;
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
    while (!done && r->len - off >= 5) {
        uint32_t n;
        memcpy(&n, r->buf + off + 1, sizeof n);
        if (r->len - off - 5 < n)
            break;
        char type = r->buf[off];
        const char *data = r->buf + off + 5;
        if ((type == FRAME_STDOUT || type == FRAME_STDERR) && cb && cb->on_output) {
            cb->on_output(cb->ctx, type == FRAME_STDOUT ? 1 : 2, data, n);
        } else if (type == FRAME_RESULT) {
            json_error_t je;
            rt_error err;
            json_t *j = json_loadb(data, n, JSON_ALLOW_NUL, &je);
            done = 1;
            if (!j || rt_result_from_json(j, res, &err) < 0)
                lost(res, "the sandbox worker sent a result that does not decode");
            json_decref(j);
        }
        off += 5 + n;
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
        char *b = cap <= FRAME_MAX + 5 ? realloc(r->buf, cap) : NULL;
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
