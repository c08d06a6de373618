/* chains: the two sides of the workflow benchmark (bench/workflows.py), in C so
 * that the client's own cost stays out of what is measured.
 *
 * N clients, each a thread with one kept-alive connection that is made (GET
 * /v1/health) before the start line; then all start at once and each runs a
 * chain of S trivial steps:
 *
 *   --mode exec       S times POST /v1/exec {"command":["true"]}, one after the
 *                     other; each answer must be 200 with status "ok";
 *   --mode workflows  POST /v1/workflows with a workflow of S steps, each
 *                     {"command": ["true"]} (the sandbox the exec side runs,
 *                     not "run": "true", which adds a shell) and each
 *                     needing the one before (timed: the submission latency;
 *                     201 expected), then GET .../events, which ends with the
 *                     workflow, then GET the workflow (it must have succeeded)
 *                     and DELETE it.
 *
 * The clients speak HTTP/1.1 over the socket themselves: a request is one
 * sendmsg, an answer a few reads. libcurl, which the first version used, spent
 * about as much CPU per submission as sandboxd's connection thread, and on a
 * machine of two CPUs that CPU is taken from the daemon being measured.
 *
 * Prints one JSON object: wall_s (start line to the last client's end),
 * submit_ms (workflows: each submission's latency), failures, first_failure.
 * Exit status 0 when every chain ran as expected, 1 when some did not, 2 on a
 * usage or setup error.
 */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "client_util.h"

const char *const bench_program = "chains";

static const char usage[] =
    "usage: chains --socket PATH --mode exec|workflows [--clients N] [--steps S]\n"
    "\n"
    "N clients [100] at once, each running a chain of S [10] trivial steps through\n"
    "POST /v1/exec or as one workflow; prints wall_s, submit_ms (workflows),\n"
    "failures and first_failure as JSON. Exit status 0 all ran, 1 some failed,\n"
    "2 usage or setup error.\n";

struct opts {
    const char *socket;
    bool workflows;
    long clients, steps;
    char *workflow_body;       /* the chain, as a POST /v1/workflows body */
};

struct client {
    const struct opts *o;
    pthread_t thread;
    int fd;
    char in[16384];            /* read from the socket, not yet parsed */
    size_t in_len, in_off;
    struct buf answer;
    double submit_ms;
    bool failed;
    char failure[512];
};

static pthread_barrier_t start_line;

static void fail(struct client *cl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fail(struct client *cl, const char *fmt, ...)
{
    if (cl->failed)
        return;
    cl->failed = true;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cl->failure, sizeof cl->failure, fmt, ap);
    va_end(ap);
}

/* Makes sure unparsed bytes of the answer are in cl->in: false when the
 * connection ended or failed first. */
static bool fill(struct client *cl)
{
    if (cl->in_off < cl->in_len)
        return true;
    ssize_t n;
    do
        n = read(cl->fd, cl->in, sizeof cl->in);
    while (n < 0 && errno == EINTR);
    if (n <= 0)
        return false;
    cl->in_len = (size_t)n;
    cl->in_off = 0;
    return true;
}

/* The next byte of the answer, or -1 when the connection ends or fails. */
static int next_byte(struct client *cl)
{
    return fill(cl) ? (unsigned char)cl->in[cl->in_off++] : -1;
}

/* One line of the answer's head or chunk framing, without its CRLF. */
static bool read_line(struct client *cl, char *line, size_t size)
{
    size_t n = 0;
    for (int c; (c = next_byte(cl)) != '\n';) {
        if (c < 0 || n + 1 == size)
            return false;
        line[n++] = (char)c;
    }
    if (n && line[n - 1] == '\r')
        n--;
    line[n] = '\0';
    return true;
}

static bool append_body(struct client *cl, size_t n)
{
    while (n) {
        if (!fill(cl))
            return false;
        size_t take = cl->in_len - cl->in_off < n ? cl->in_len - cl->in_off : n;
        if (on_body(cl->in + cl->in_off, 1, take, &cl->answer) != take)
            return false;
        cl->in_off += take;
        n -= take;
    }
    return true;
}

/* The body after the head: Content-Length bytes, or chunks. */
static bool read_body(struct client *cl, bool chunked, long long length)
{
    if (!chunked)
        return append_body(cl, (size_t)length);
    char line[256];
    for (;;) {
        if (!read_line(cl, line, sizeof line) || !isxdigit((unsigned char)line[0]))
            return false;
        unsigned long long n = strtoull(line, NULL, 16);
        if (n == 0)
            break;
        if (!append_body(cl, (size_t)n) || !read_line(cl, line, sizeof line) || line[0])
            return false;
    }
    do                          /* the trailer, up to its empty line */
        if (!read_line(cl, line, sizeof line))
            return false;
    while (line[0]);
    return true;
}

/* Writes the whole of iov, however the socket takes it; a daemon that closed
 * the connection is an error here, not a SIGPIPE. */
static bool send_all(int fd, struct iovec *iov, size_t count)
{
    while (count) {
        struct msghdr m = {.msg_iov = iov, .msg_iovlen = count};
        ssize_t w = sendmsg(fd, &m, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return false;
        for (; count && (size_t)w >= iov->iov_len; iov++, count--)
            w -= (ssize_t)iov->iov_len;
        if (count) {
            iov->iov_base = (char *)iov->iov_base + w;
            iov->iov_len -= (size_t)w;
        }
    }
    return true;
}

/* One request on the client's connection; the answer's code, 0 when none came. */
static long request(struct client *cl, const char *method, const char *path, const char *body)
{
    char head[512];
    size_t body_len = body ? strlen(body) : 0;
    int n = body ? snprintf(head, sizeof head,
                            "%s %s HTTP/1.1\r\nHost: sandboxd\r\n"
                            "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n",
                            method, path, body_len)
                 : snprintf(head, sizeof head, "%s %s HTTP/1.1\r\nHost: sandboxd\r\n\r\n",
                            method, path);
    if (n < 0 || (size_t)n >= sizeof head) {
        fail(cl, "%s %.100s...: the path is too long", method, path);
        return 0;
    }
    cl->answer.len = 0;
    if (cl->answer.p)
        cl->answer.p[0] = '\0';
    struct iovec iov[2] = {{head, (size_t)n}, {(void *)body, body_len}};
    errno = 0;
    if (!send_all(cl->fd, iov, body ? 2 : 1)) {
        fail(cl, "%s %s: writing: %s", method, path,
             errno ? strerror(errno) : "the connection is closed");
        return 0;
    }
    errno = 0;                  /* what a failed read leaves tells a timeout */
    char line[1024];
    long code = 0;
    long long length = 0;
    bool chunked = false, head_ok;
    if (!read_line(cl, line, sizeof line) || sscanf(line, "HTTP/1.%*d %ld", &code) != 1)
        goto broken;
    while ((head_ok = read_line(cl, line, sizeof line)) && line[0]) {
        if (strncasecmp(line, "Content-Length:", 15) == 0)
            length = strtoll(line + 15, NULL, 10);
        else if (strncasecmp(line, "Transfer-Encoding:", 18) == 0)
            chunked = strstr(line + 18, "chunked") != NULL;
    }
    if (!head_ok || length < 0 || !read_body(cl, chunked, length))
        goto broken;
    return code;
broken:
    fail(cl, "%s %s: the answer was cut or is not HTTP/1.1%s%s", method, path,
         errno == EAGAIN || errno == EWOULDBLOCK ? ": " : "",
         errno == EAGAIN || errno == EWOULDBLOCK ? "none within 600 s" : "");
    return 0;
}

/* The answer's string member, or NULL. */
static const char *answer_string(struct client *cl, const char *key, char *out, size_t size)
{
    json_t *j = json_loadb(cl->answer.p ? cl->answer.p : "", cl->answer.len, 0, NULL);
    const char *v = json_string_value(json_object_get(j, key));
    if (v)
        snprintf(out, size, "%s", v);
    json_decref(j);
    return v ? out : NULL;
}

static void run_exec_chain(struct client *cl)
{
    char status[64];
    for (long i = 0; i < cl->o->steps && !cl->failed; i++) {
        long code = request(cl, "POST", "/v1/exec", "{\"command\":[\"true\"]}");
        if (!code)
            return;
        if (code != 200 || !answer_string(cl, "status", status, sizeof status) ||
            strcmp(status, "ok") != 0)
            fail(cl, "POST /v1/exec: %ld %.200s", code, cl->answer.p ? cl->answer.p : "");
    }
}

static void run_workflow(struct client *cl)
{
    char id[128], status[64], path[256];
    double t = now_ms();
    long code = request(cl, "POST", "/v1/workflows", cl->o->workflow_body);
    cl->submit_ms = now_ms() - t;
    if (!code)
        return;
    if (code != 201 || !answer_string(cl, "id", id, sizeof id)) {
        fail(cl, "POST /v1/workflows: %ld %.200s", code, cl->answer.p ? cl->answer.p : "");
        return;
    }
    snprintf(path, sizeof path, "/v1/workflows/%s/events", id);
    if ((code = request(cl, "GET", path, NULL)) != 200) {
        if (code)
            fail(cl, "GET %s: %ld", path, code);
        return;
    }
    snprintf(path, sizeof path, "/v1/workflows/%s", id);
    if ((code = request(cl, "GET", path, NULL)) != 200 ||
        !answer_string(cl, "status", status, sizeof status) || strcmp(status, "succeeded") != 0) {
        fail(cl, "GET %s: %ld %.200s", path, code, cl->answer.p ? cl->answer.p : "");
        return;
    }
    if ((code = request(cl, "DELETE", path, NULL)) < 200 || code > 299)
        fail(cl, "DELETE %s: %ld", path, code);
}

static void *client_main(void *arg)
{
    struct client *cl = arg;
    /* The connection is made before the start line. */
    long code = request(cl, "GET", "/v1/health", NULL);
    if (code != 200)
        fail(cl, "GET /v1/health: %ld", code);
    pthread_barrier_wait(&start_line);
    if (!cl->failed) {
        if (cl->o->workflows)
            run_workflow(cl);
        else
            run_exec_chain(cl);
    }
    return NULL;
}

static char *chain_body(long steps)
{
    json_t *list = json_array();
    for (long i = 0; i < steps; i++) {
        char id[32], prev[32];
        snprintf(id, sizeof id, "s%ld", i);
        snprintf(prev, sizeof prev, "s%ld", i - 1);
        json_t *step = json_pack("{s:s, s:[s]}", "id", id, "command", "true");
        if (i)
            json_object_set_new(step, "needs", json_pack("[s]", prev));
        json_array_append_new(list, step);
    }
    json_t *body = json_pack("{s:{s:s, s:o}}", "workflow", "name", "chain", "steps", list);
    char *s = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    if (!s)
        die("building the workflow: out of memory");
    return s;
}

static long parse_count(const char *s, const char *what)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (*s == '\0' || *end || v < 1 || v > 10000)
        die("%s: \"%s\" is not a number from 1 to 10000", what, s);
    return v;
}

int main(int argc, char **argv)
{
    struct opts o = {.clients = 100, .steps = 10};
    const char *mode = NULL;
    static const struct option longopts[] = {
        {"socket", required_argument, NULL, 's'}, {"mode", required_argument, NULL, 'm'},
        {"clients", required_argument, NULL, 'c'}, {"steps", required_argument, NULL, 'n'},
        {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0},
    };
    int c;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (c) {
        case 's': o.socket = optarg; break;
        case 'm': mode = optarg; break;
        case 'c': o.clients = parse_count(optarg, "--clients"); break;
        case 'n': o.steps = parse_count(optarg, "--steps"); break;
        case 'h': fputs(usage, stdout); return 0;
        default: fputs(usage, stderr); return 2;
        }
    }
    if (!o.socket || !mode || optind != argc)
        die("--socket and --mode are needed (see --help)");
    if (strcmp(mode, "workflows") == 0)
        o.workflows = true;
    else if (strcmp(mode, "exec") != 0)
        die("--mode: \"%s\" is neither exec nor workflows", mode);
    o.workflow_body = chain_body(o.steps);
    struct client *cls = calloc((size_t)o.clients, sizeof *cls);
    if (!cls)
        die("out of memory");
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    if (strlen(o.socket) >= sizeof addr.sun_path)
        die("--socket: \"%s\" is longer than a socket path can be", o.socket);
    memcpy(addr.sun_path, o.socket, strlen(o.socket) + 1);
    if (pthread_barrier_init(&start_line, NULL, (unsigned)o.clients + 1))
        die("pthread_barrier_init failed");
    for (long i = 0; i < o.clients; i++) {
        struct client *cl = &cls[i];
        cl->o = &o;
        cl->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (cl->fd < 0 || connect(cl->fd, (struct sockaddr *)&addr, sizeof addr) < 0)
            die("connecting to %s: %s", o.socket, strerror(errno));
        /* A daemon that stops answering fails the chain instead of hanging it. */
        struct timeval answer_timeout = {.tv_sec = 600};
        if (setsockopt(cl->fd, SOL_SOCKET, SO_RCVTIMEO, &answer_timeout, sizeof answer_timeout))
            die("setting the answer timeout: %s", strerror(errno));
        if (pthread_create(&cl->thread, NULL, client_main, cl))
            die("starting client %ld: pthread_create failed", i);
    }
    pthread_barrier_wait(&start_line);
    double t0 = now_ms();
    for (long i = 0; i < o.clients; i++)
        pthread_join(cls[i].thread, NULL);
    double wall = (now_ms() - t0) / 1e3;

    json_t *out = json_pack("{s:f, s:[], s:i, s:n}", "wall_s", wall, "submit_ms", "failures",
                            0, "first_failure");
    long failures = 0;
    for (long i = 0; i < o.clients; i++) {
        struct client *cl = &cls[i];
        if (o.workflows && cl->submit_ms > 0)
            json_array_append_new(json_object_get(out, "submit_ms"), json_real(cl->submit_ms));
        if (cl->failed && failures++ == 0)
            json_object_set_new(out, "first_failure", json_string(cl->failure));
        close(cl->fd);
        free(cl->answer.p);
    }
    json_object_set_new(out, "failures", json_integer(failures));
    json_dumpf(out, stdout, JSON_COMPACT);
    putchar('\n');
    json_decref(out);
    free(cls);
    free(o.workflow_body);
    pthread_barrier_destroy(&start_line);
    return failures ? 1 : 0;
}
