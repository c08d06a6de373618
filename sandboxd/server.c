#include "server.h"

#include <errno.h>
#include <jansson.h>
#include <microhttpd.h>
#include <netdb.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "admission.h"
#include "cgroup.h"
#include "exec.h"
#include "metrics.h"
#include "spec_json.h"
#include "version.h"
#include "workflows.h"

struct listener {
    sd_server *srv;
    bool tcp;                  /* bearer token required */
    int fd;
    struct MHD_Daemon *d;
};

struct sd_server {
    pthread_mutex_t lock;      /* guards snap */
    sd_snapshot *snap;
    sd_admission *admission;
    atomic_bool draining;      /* stopping: new work is refused */
    atomic_bool kill_all;      /* grace period over */
    struct listener unix_l, tcp_l;
    char *socket_path;         /* the file we created, removed at stop */
    bool stopped;
    sd_workflows *workflows;
    atomic_int workflows_users; /* requests inside the workflows module */
};

struct request {
    atomic_int refs;           /* the connection, and a stream while it runs */
    sd_server *srv;
    sd_snapshot *snap;
    bool tcp;
    double t0;
    char id[72];
    char method[16];
    char path[256];
    sd_route route;
    const char *allow;         /* the methods the path takes */
    unsigned status;
    const char *sandbox_status;
    bool answered;
    char *body;
    size_t len, cap;
    size_t declared;           /* Content-Length, 0 when none was given */
    bool too_large;
};

/* Requests not yet logged: shutdown waits for them, so that a result computed
 * in the grace period reaches its client before the connections close. */
static atomic_int in_flight;

struct stream {                /* owned by the MHD response */
    struct request *req;
    sd_exec *exec;
};

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void utc_now(char *buf, size_t len)
{
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    size_t n = strftime(buf, len, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf + n, len - n, ".%03ldZ", ts.tv_nsec / 1000000);
}

/* Client-supplied or truncated text may not be UTF-8: such bytes become '?'
 * rather than losing the whole answer or log line. */
static json_t *safe_string(const char *s)
{
    json_t *j = json_string(s);
    if (j)
        return j;
    char *copy = strdup(s);
    if (!copy)
        return json_string("(out of memory)");
    for (char *p = copy; *p; p++)
        if ((unsigned char)*p >= 0x80 || (unsigned char)*p < 0x20)
            *p = '?';
    j = json_string(copy);
    free(copy);
    return j;
}

/* One write per line, so lines from different threads never interleave. */
static void log_json(json_t *line)
{
    char *s = line ? json_dumps(line, JSON_COMPACT | JSON_REAL_PRECISION(6)) : NULL;
    json_decref(line);
    if (!s)
        return;
    size_t n = strlen(s);
    s[n] = '\n';               /* json_dumps' NUL becomes the newline */
    ssize_t w = write(2, s, n + 1);
    (void)w;
    free(s);
}

void sd_log(const char *level, const char *msg, const char *key, const char *value)
{
    char t[40];
    utc_now(t, sizeof t);
    json_t *line = json_pack("{s:s, s:s, s:s}", "time", t, "level", level, "msg", msg);
    if (line && key)
        json_object_set_new(line, key, value ? json_string(value) : json_null());
    log_json(line);
}

static void mhd_logger(void *cls, const char *fmt, va_list ap)
{
    char msg[512];
    vsnprintf(msg, sizeof msg, fmt, ap);
    size_t n = strlen(msg);
    while (n && msg[n - 1] == '\n')
        msg[--n] = '\0';
    sd_log("warning", msg, "source", "libmicrohttpd");
}

/* ---- requests ---- */

static sd_snapshot *current_snapshot(sd_server *s)
{
    pthread_mutex_lock(&s->lock);
    sd_snapshot *snap = sd_snapshot_ref(s->snap);
    pthread_mutex_unlock(&s->lock);
    return snap;
}

static bool id_ok(const char *v)
{
    size_t n = v ? strlen(v) : 0;
    if (n == 0 || n > 64)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!(v[i] == '-' || v[i] == '_' || v[i] == '.' || (v[i] >= '0' && v[i] <= '9') ||
              ((v[i] | 0x20) >= 'a' && (v[i] | 0x20) <= 'z')))
            return false;
    return true;
}

static void request_id(struct MHD_Connection *c, char *out, size_t len)
{
    const char *given = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-Request-Id");
    if (id_ok(given)) {
        snprintf(out, len, "%s", given);
        return;
    }
    unsigned char r[12] = {0};
    if (getrandom(r, sizeof r, 0) < 0)
        memset(r, 0, sizeof r);
    for (size_t i = 0; i < sizeof r && 2 * i + 2 < len; i++)
        snprintf(out + 2 * i, len - 2 * i, "%02x", r[i]);
}

/* Printable ASCII but for the two characters JSON escapes. */
static bool json_plain(const char *s)
{
    for (; *s; s++)
        if (*s < 0x20 || *s > 0x7e || *s == '"' || *s == '\\')
            return false;
    return true;
}

/* The access log line; formatted directly in the common case (the request id
 * is made of [-_.0-9A-Za-z], the sandbox status is ours), which costs a
 * fraction of building and dumping a JSON object on every request. */
static void log_request(const struct request *req)
{
    char t[40], line[sizeof req->id + sizeof req->method + sizeof req->path + 256];
    double ms = now_ms() - req->t0;
    utc_now(t, sizeof t);
    if (json_plain(req->method) && json_plain(req->path)) {
        int n = snprintf(line, sizeof line,
                         "{\"time\":\"%s\",\"level\":\"info\",\"request_id\":\"%s\","
                         "\"method\":\"%s\",\"path\":\"%s\",\"status\":%u,"
                         "\"duration_ms\":%.6g,\"sandbox_status\":%s%s%s,\"via\":\"%s\"}\n",
                         t, req->id, req->method, req->path, req->status, ms,
                         req->sandbox_status ? "\"" : "",
                         req->sandbox_status ? req->sandbox_status : "null",
                         req->sandbox_status ? "\"" : "", req->tcp ? "tcp" : "unix");
        if (n > 0 && (size_t)n < sizeof line) {
            ssize_t w = write(2, line, (size_t)n);
            (void)w;
            return;
        }
    }
    log_json(json_pack("{s:s, s:s, s:s, s:o, s:o, s:i, s:f, s:s?, s:s}", "time", t, "level",
                       "info", "request_id", req->id, "method", safe_string(req->method), "path",
                       safe_string(req->path), "status", (int)req->status, "duration_ms", ms,
                       "sandbox_status", req->sandbox_status, "via", req->tcp ? "tcp" : "unix"));
}

static void request_unref(struct request *req)
{
    if (atomic_fetch_sub(&req->refs, 1) != 1)
        return;
    log_request(req);
    sd_metrics_request(req->route, req->status);
    sd_snapshot_unref(req->snap);
    free(req->body);
    free(req);
    atomic_fetch_sub(&in_flight, 1);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    struct request *req = *con_cls;
    if (!req)
        return;
    if (!req->answered)
        req->status = 499;     /* the client went away before an answer (nginx's code) */
    *con_cls = NULL;
    request_unref(req);
}

/* ---- answers ---- */

static enum MHD_Result queue(struct MHD_Connection *c, struct request *req, unsigned status,
                             struct MHD_Response *r, const char *type)
{
    if (!r)
        return MHD_NO;
    MHD_add_response_header(r, "Content-Type", type);
    MHD_add_response_header(r, "X-Request-Id", req->id);
    if (status == 401)
        MHD_add_response_header(r, "WWW-Authenticate", "Bearer realm=\"sandboxd\"");
    if (status == 429 || status == 503)
        MHD_add_response_header(r, "Retry-After", "1");
    if (status == 405)
        MHD_add_response_header(r, "Allow", req->allow);
    enum MHD_Result rc = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    req->status = status;
    req->answered = true;
    return rc;
}

static enum MHD_Result reply_text(struct MHD_Connection *c, struct request *req,
                                  unsigned status, char *text, const char *type)
{
    if (!text)
        return MHD_NO;
    struct MHD_Response *r =
        MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE);
    if (!r)
        free(text);
    return queue(c, req, status, r, type);
}

static enum MHD_Result reply_json(struct MHD_Connection *c, struct request *req,
                                  unsigned status, json_t *j)
{
    char *s = j ? json_dumps(j, JSON_COMPACT | JSON_REAL_PRECISION(9)) : NULL;
    json_decref(j);
    if (!s)
        return MHD_NO;
    size_t n = strlen(s);
    char *t = realloc(s, n + 2);   /* a trailing newline, for curl users */
    if (!t) {
        free(s);
        return MHD_NO;
    }
    t[n] = '\n';
    t[n + 1] = '\0';
    return reply_text(c, req, status, t, "application/json");
}

static enum MHD_Result reply_problem(struct MHD_Connection *c, struct request *req,
                                     const sd_problem *p)
{
    json_t *err = json_pack("{s:s, s:o, s:o}", "code", p->code, "message",
                            safe_string(p->err.msg), "field",
                            p->field[0] ? safe_string(p->field) : json_null());
    return reply_json(c, req, p->http, json_pack("{s:o}", "error", err));
}

__attribute__((format(printf, 5, 6))) static enum MHD_Result
reply_error(struct MHD_Connection *c, struct request *req, unsigned status, const char *code,
            const char *fmt, ...)
{
    sd_problem p = {0};
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p.err.msg, sizeof p.err.msg, fmt, ap);
    va_end(ap);
    sd_problem_set(&p, status, code, &p.err);
    p.field[0] = '\0';
    return reply_problem(c, req, &p);
}

/* ---- routes ---- */

static json_t *limits_json(const rt_limits *l)
{
    static char *const argv[] = {"true", NULL};
    rt_spec tmp = {.argv = (char **)argv, .limits = *l};
    json_t *spec = rt_spec_to_json(&tmp);
    json_t *lim = json_incref(json_object_get(spec, "limits"));
    json_decref(spec);
    return lim;
}

static json_t *info_json(const sd_snapshot *snap)
{
    const sd_config *c = &snap->config;
    json_t *profiles = json_array(), *images = json_array(), *langs = json_array();
    for (size_t i = 0; i < c->n_profiles; i++)
        json_array_append_new(profiles, json_string(c->profiles[i]));
    json_array_append_new(images, json_string("host"));
    for (size_t i = 0; i < c->n_images; i++)
        json_array_append_new(images, json_string(c->images[i].name));
    for (size_t i = 0; i < snap->languages.n; i++)
        if (snap->languages.v[i].available)
            json_array_append_new(langs, json_string(snap->languages.v[i].name));
    const rt_profile *def = sd_snapshot_profile(snap, c->default_profile);
    return json_pack("{s:s, s:[s], s:o, s:o, s:s, s:o, s:o, s:{s:o, s:o}, s:i, s:i, s:I}",
                     "version", SBX_VERSION, "backends", "native", "cgroup",
                     rt_cgroup_info_to_json(rt_cgroup_detect()), "profiles", profiles,
                     "default_profile", c->default_profile, "images", images, "languages",
                     langs, "limits", "default",
                     limits_json(&def->base.limits), "max", limits_json(&c->max_limits),
                     "max_running", (int)c->max_running, "max_queue", (int)c->max_queue,
                     "max_body_bytes", (json_int_t)c->max_body_bytes);
}

static void stream_free(void *cls)
{
    struct stream *st = cls;
    const char *status = sd_exec_status(st->exec);
    st->req->sandbox_status = status ? status : "cancelled";  /* freeing cancels it */
    sd_exec_free(st->exec);
    request_unref(st->req);
    free(st);
}

static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    struct stream *st = cls;
    ssize_t n = sd_exec_read(st->exec, buf, max);
    if (n == 0) {
        st->req->sandbox_status = sd_exec_status(st->exec);
        return MHD_CONTENT_READER_END_OF_STREAM;
    }
    return n;
}

static enum MHD_Result handle_exec(struct MHD_Connection *c, struct request *req)
{
    sd_server *s = req->srv;
    if (req->too_large)
        return reply_error(c, req, 413, "payload_too_large",
                           "the body is over this server's maximum of %llu bytes",
                           (unsigned long long)req->snap->config.max_body_bytes);
    sd_problem p = {0};
    sd_exec *x;
    if (sd_exec_prepare(req->snap, req->body ? req->body : "", req->len, &x, &p) < 0)
        return reply_problem(c, req, &p);
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
    if (ci)
        sd_exec_watch_client(x, ci->connect_fd);
    sd_exec_env env = {s->admission, &s->kill_all};
    if (sd_exec_start(x, &env, &p) < 0) {
        sd_exec_free(x);
        return reply_problem(c, req, &p);
    }
    if (!sd_exec_streaming(x)) {
        json_t *res = sd_exec_wait(x);
        req->sandbox_status = sd_exec_status(x);
        bool gone = sd_exec_client_left(x);
        sd_exec_free(x);
        if (gone) {            /* nobody to answer: logged as 499 */
            json_decref(res);
            return MHD_NO;
        }
        return res ? reply_json(c, req, 200, res) : MHD_NO;
    }
    struct stream *st = malloc(sizeof *st);
    if (!st) {
        sd_exec_free(x);
        return MHD_NO;
    }
    *st = (struct stream){req, x};
    atomic_fetch_add(&req->refs, 1);
    struct MHD_Response *r =
        MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 64 * 1024, stream_read, st,
                                          stream_free);
    if (!r) {
        stream_free(st);
        return MHD_NO;
    }
    return queue(c, req, 200, r, "application/x-ndjson");
}

static const char *query_arg(void *ctx, const char *key)
{
    return MHD_lookup_connection_value(ctx, MHD_GET_ARGUMENT_KIND, key);
}

static ssize_t wf_stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    ssize_t n = sd_wf_stream_read(cls, buf, max);
    return n > 0 ? n : MHD_CONTENT_READER_END_OF_STREAM;
}

static void wf_stream_free(void *cls)
{
    sd_wf_stream_free(cls);
}

/* The workflows module for a request, or NULL once the server is stopping: a
 * request let in before (its body still on its way) may come here after
 * sd_server_stop began, which waits for the users it counted before it stops
 * the module. */
static sd_workflows *workflows_enter(sd_server *s)
{
    atomic_fetch_add(&s->workflows_users, 1);
    if (!atomic_load(&s->draining))
        return s->workflows;
    atomic_fetch_sub(&s->workflows_users, 1);
    return NULL;
}

static void workflows_leave(sd_server *s)
{
    atomic_fetch_sub(&s->workflows_users, 1);
}

static enum MHD_Result handle_workflows(struct MHD_Connection *c, struct request *req)
{
    if (req->too_large)
        return reply_error(c, req, 413, "payload_too_large",
                           "the body is over this server's maximum of %llu bytes",
                           (unsigned long long)req->snap->config.max_body_bytes);
    sd_workflows *w = workflows_enter(req->srv);
    if (!w)
        return reply_error(c, req, 503, "shutting_down", "the server is shutting down");
    sd_wf_answer a;
    sd_workflows_handle(w, req->method, req->path, query_arg, c,
                        MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Idempotency-Key"),
                        req->body, req->len, &a);
    workflows_leave(req->srv);
    struct MHD_Response *r;
    const char *type = "application/json";
    if (a.stream) {
        r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16 * 1024, wf_stream_read,
                                              a.stream, wf_stream_free);
        if (!r)
            sd_wf_stream_free(a.stream);
        type = "application/x-ndjson";
    } else if (a.fd >= 0) {
        r = MHD_create_response_from_fd((uint64_t)a.fd_size, a.fd);
        if (!r)
            close(a.fd);
        type = "application/x-tar";
    } else {
        char *text = json_dumps(a.body, JSON_COMPACT | JSON_REAL_PRECISION(9));
        json_decref(a.body);
        size_t n = text ? strlen(text) : 0;
        char *t = text ? realloc(text, n + 2) : NULL;
        if (!t) {
            free(text);
            return MHD_NO;
        }
        t[n] = '\n';
        t[n + 1] = '\0';
        r = MHD_create_response_from_buffer(n + 1, t, MHD_RESPMEM_MUST_FREE);
        if (!r)
            free(t);
    }
    if (r && a.location[0])
        MHD_add_response_header(r, "Location", a.location);
    return queue(c, req, a.status, r, type);
}

static enum MHD_Result handle_get(struct MHD_Connection *c, struct request *req)
{
    sd_server *s = req->srv;
    unsigned running, queued;
    switch (req->route) {
    case SD_ROUTE_HEALTH:
        if (atomic_load(&s->draining))
            return reply_json(c, req, 503, json_pack("{s:s}", "status", "stopping"));
        return reply_json(c, req, 200, json_pack("{s:s}", "status", "ok"));
    case SD_ROUTE_INFO:
        return reply_json(c, req, 200, info_json(req->snap));
    case SD_ROUTE_LANGUAGES:
        return reply_json(c, req, 200,
                          json_pack("{s:o}", "languages", sd_languages_json(&req->snap->languages)));
    case SD_ROUTE_METRICS: {
        sd_admission_counts(s->admission, &running, &queued);
        sd_workflows *w = workflows_enter(s);
        if (w) {
            sd_metrics_workflows_active(sd_workflows_active(w));
            workflows_leave(s);
        }
        return reply_text(c, req, 200,
                          sd_metrics_render(running, queued, req->snap->config.max_running,
                                            req->snap->config.max_queue),
                          "text/plain; version=0.0.4; charset=utf-8");
    }
    default:
        return reply_error(c, req, 500, "internal", "no handler for this route");
    }
}

static sd_route route_of(const char *url)
{
    static const struct { const char *path; sd_route route; } routes[] = {
        {"/v1/health", SD_ROUTE_HEALTH}, {"/v1/info", SD_ROUTE_INFO},
        {"/v1/languages", SD_ROUTE_LANGUAGES}, {"/v1/exec", SD_ROUTE_EXEC},
        {"/metrics", SD_ROUTE_METRICS},
    };
    for (size_t i = 0; i < sizeof routes / sizeof *routes; i++)
        if (strcmp(url, routes[i].path) == 0)
            return routes[i].route;
    if (strncmp(url, "/v1/workflows", 13) == 0 && (url[13] == '\0' || url[13] == '/'))
        return SD_ROUTE_WORKFLOWS;
    return SD_ROUTE_OTHER;
}

/* Compares against every token without stopping early, each byte of each token,
 * so the time taken says nothing about how much of a guess was right. */
static bool token_ok(const sd_config *c, const char *header)
{
    static const char prefix[] = "Bearer ";
    if (!header || strncasecmp(header, prefix, sizeof prefix - 1) != 0)
        return false;
    const char *given = header + sizeof prefix - 1;
    size_t glen = strlen(given);
    unsigned match = 0;
    for (size_t t = 0; t < c->n_tokens; t++) {
        const char *tok = c->tokens[t];
        size_t tlen = strlen(tok);
        unsigned diff = (unsigned)(glen != tlen);
        for (size_t i = 0; i < tlen; i++)
            diff |= (unsigned char)tok[i] ^ (unsigned char)(i < glen ? given[i] : 0);
        match |= (unsigned)(diff == 0);
    }
    return match != 0;
}

static bool json_type_ok(struct MHD_Connection *c)
{
    const char *t = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Type");
    if (!t)
        return false;
    size_t n = strcspn(t, ";");
    while (n && t[n - 1] == ' ')
        n--;
    return n == 16 && strncasecmp(t, "application/json", 16) == 0;
}

/* The checks that need no body: route, method, auth, media type, size. */
static enum MHD_Result first_call(struct MHD_Connection *c, struct request *req,
                                  const char *method)
{
    const sd_config *cfg = &req->snap->config;
    bool post = strcmp(method, "POST") == 0;
    /* On TCP nothing but health is told to a caller without a token, not even
     * which routes exist. */
    if (req->tcp && req->route != SD_ROUTE_HEALTH &&
        !token_ok(cfg, MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization")))
        return reply_error(c, req, 401, "unauthorized",
                           "a valid \"Authorization: Bearer TOKEN\" header is required");
    req->allow = req->route == SD_ROUTE_EXEC        ? "POST"
                 : req->route == SD_ROUTE_WORKFLOWS ? sd_workflows_allow(req->path)
                                                    : "GET, HEAD";
    if (req->route == SD_ROUTE_OTHER || !req->allow)
        return reply_error(c, req, 404, "not_found", "no such endpoint: %.100s %.100s", method,
                           req->path);
    size_t mlen = strlen(method);
    const char *hit = strstr(req->allow, method);
    if (mlen == 0 || !hit || (hit[mlen] != '\0' && hit[mlen] != ','))
        return reply_error(c, req, 405, "method_not_allowed", "%.100s does not take %.16s",
                           req->path, method);
    if (!post)
        return MHD_YES;        /* answered on the final call: an answer queued now
                                  would close the connection (libmicrohttpd) */
    const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
    bool has_body = (cl && strtoull(cl, NULL, 10) > 0) ||
                    MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Transfer-Encoding");
    if ((req->route == SD_ROUTE_EXEC || has_body) && !json_type_ok(c))
        return reply_error(c, req, 415, "unsupported_media_type",
                           "send the body as Content-Type: application/json");
    unsigned long long declared = cl ? strtoull(cl, NULL, 10) : 0;
    if (declared > cfg->max_body_bytes)
        return reply_error(c, req, 413, "payload_too_large",
                           "the body (%.20s bytes) is over this server's maximum of %llu bytes",
                           cl, (unsigned long long)cfg->max_body_bytes);
    req->declared = (size_t)declared;
    if (atomic_load(&req->srv->draining))
        return reply_error(c, req, 503, "shutting_down", "the server is shutting down");
    return MHD_YES;
}

static void take_body(struct request *req, const char *data, size_t n)
{
    if (req->too_large)
        return;
    if (req->len + n > req->snap->config.max_body_bytes) {
        req->too_large = true;
        free(req->body);
        req->body = NULL;
        req->len = req->cap = 0;
        return;
    }
    if (req->len + n + 1 > req->cap) {
        /* Sized by Content-Length: a body under 1 KiB then stays a small
         * allocation, which does not make malloc consolidate its free lists
         * on every request. At most 64 KiB at first: a client that declares
         * megabytes and sends a byte holds no more. */
        size_t cap = req->cap;
        if (!cap)
            cap = req->declared < n ? 4096 : req->declared < 65536 ? req->declared + 1 : 65536;
        while (cap < req->len + n + 1)
            cap *= 2;
        char *b = realloc(req->body, cap);
        if (!b) {
            req->too_large = true;   /* cannot hold it: refuse like an oversized one */
            return;
        }
        req->body = b;
        req->cap = cap;
    }
    memcpy(req->body + req->len, data, n);
    req->len += n;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_data_size,
                                  void **con_cls)
{
    struct listener *l = cls;
    struct request *req = *con_cls;
    if (!req) {
        if (!(req = calloc(1, sizeof *req)))
            return MHD_NO;
        atomic_init(&req->refs, 1);
        atomic_fetch_add(&in_flight, 1);
        req->srv = l->srv;
        req->tcp = l->tcp;
        req->t0 = now_ms();
        req->snap = current_snapshot(l->srv);
        req->route = route_of(url);
        snprintf(req->method, sizeof req->method, "%s", method);
        snprintf(req->path, sizeof req->path, "%s", url);
        request_id(c, req->id, sizeof req->id);
        *con_cls = req;
        return first_call(c, req, method);
    }
    if (req->answered) {       /* refused early: drop whatever body follows */
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (*upload_data_size) {
        if (req->route == SD_ROUTE_EXEC || req->route == SD_ROUTE_WORKFLOWS)
            take_body(req, upload_data, *upload_data_size);   /* others: dropped */
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (req->route == SD_ROUTE_WORKFLOWS)
        return handle_workflows(c, req);
    return req->route == SD_ROUTE_EXEC ? handle_exec(c, req) : handle_get(c, req);
}

/* ---- listeners ---- */

static int make_parent(const char *path, rt_error *err)
{
    char dir[sizeof(((struct sockaddr_un *)0)->sun_path)];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (!slash || slash == dir)
        return 0;
    *slash = '\0';
    if (mkdir(dir, 0700) < 0 && errno != EEXIST)
        return rt_error_set(err, errno, "creating the socket's directory %s", dir);
    return 0;
}

/* A socket file left by a daemon that died is replaced; a live one is not. */
static int clear_stale(const char *path, const struct sockaddr_un *sa, rt_error *err)
{
    struct stat st;
    if (lstat(path, &st) < 0)
        return errno == ENOENT ? 0 : rt_error_set(err, errno, "socket %s", path);
    if (!S_ISSOCK(st.st_mode))
        return rt_error_set(err, 0, "socket %s: exists and is not a socket", path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return rt_error_set(err, errno, "socket");
    int rc = connect(fd, (const struct sockaddr *)sa, sizeof *sa);
    close(fd);
    if (rc == 0)
        return rt_error_set(err, 0, "socket %s: another sandboxd is serving it", path);
    if (unlink(path) < 0)
        return rt_error_set(err, errno, "removing the stale socket %s", path);
    return 0;
}

static int listen_unix(const char *path, rt_error *err)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof sa.sun_path)
        return rt_error_set(err, 0, "socket %s: path longer than %zu bytes", path,
                            sizeof sa.sun_path - 1);
    memcpy(sa.sun_path, path, strlen(path) + 1);
    if (make_parent(path, err) < 0 || clear_stale(path, &sa, err) < 0)
        return -1;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return rt_error_set(err, errno, "socket");
    mode_t old = umask(0177);  /* owner-only from the first moment */
    int rc = bind(fd, (struct sockaddr *)&sa, sizeof sa);
    umask(old);
    if (rc < 0 || chmod(path, 0600) < 0 || listen(fd, 1024) < 0) {
        rt_error_set(err, errno, "socket %s", path);
        close(fd);
        return -1;
    }
    return fd;
}

static int listen_tcp(const char *addr, rt_error *err)
{
    char host[256];
    snprintf(host, sizeof host, "%s", addr);
    char *colon = strrchr(host, ':');
    if (!colon)
        return rt_error_set(err, 0, "listen %.80s: not HOST:PORT", addr);
    *colon = '\0';
    const char *port = colon + 1, *h = host;
    if (host[0] == '[' && colon[-1] == ']') {
        colon[-1] = '\0';
        h = host + 1;
    }
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *res;
    int rc = getaddrinfo(h, port, &hints, &res);
    if (rc != 0)
        return rt_error_set(err, 0, "listen %s: %s", addr, gai_strerror(rc));
    int fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
        bind(fd, res->ai_addr, res->ai_addrlen) < 0 || listen(fd, 1024) < 0) {
        rt_error_set(err, errno, "listen %s", addr);
        if (fd >= 0)
            close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    return fd;
}

static int start_mhd(struct listener *l, const sd_config *c, rt_error *err)
{
    unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
                     MHD_USE_POLL | MHD_USE_ITC | MHD_USE_ERROR_LOG;
    l->d = MHD_start_daemon(flags, 0, NULL, NULL, on_request, l,
                            MHD_OPTION_EXTERNAL_LOGGER, mhd_logger, NULL,
                            MHD_OPTION_LISTEN_SOCKET, l->fd,
                            MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL,
                            MHD_OPTION_CONNECTION_LIMIT, c->max_connections,
                            MHD_OPTION_PER_IP_CONNECTION_LIMIT, l->tcp ? 32u : 0u,
                            MHD_OPTION_CONNECTION_TIMEOUT, 60u,
                            MHD_OPTION_THREAD_STACK_SIZE, (size_t)(1 << 20),
                            MHD_OPTION_END);
    if (!l->d)
        return rt_error_set(err, errno, "starting the HTTP server");
    return 0;
}

sd_server *sd_server_new(sd_snapshot *snap, rt_error *err)
{
    sd_server *s = calloc(1, sizeof *s);
    if (!s || !(s->admission = sd_admission_new(snap->config.max_running,
                                                snap->config.max_queue))) {
        free(s);
        rt_error_set(err, ENOMEM, "starting");
        return NULL;
    }
    pthread_mutex_init(&s->lock, NULL);
    s->snap = snap;
    s->unix_l = (struct listener){s, false, -1, NULL};
    s->tcp_l = (struct listener){s, true, -1, NULL};
    atomic_init(&s->draining, false);
    atomic_init(&s->kill_all, false);
    atomic_init(&s->workflows_users, 0);
    return s;
}

static sd_snapshot *snapshot_of(void *ctx)
{
    return current_snapshot(ctx);
}

int sd_server_start(sd_server *s, rt_error *err)
{
    const sd_config *c = &s->snap->config;
    if (sd_workflows_start(c, s->admission, snapshot_of, s, &s->workflows, err) < 0)
        return rt_error_wrap(err, "workflows");
    if (c->socket_path[0]) {
        if ((s->unix_l.fd = listen_unix(c->socket_path, err)) < 0)
            return -1;
        if (!(s->socket_path = strdup(c->socket_path)))
            return rt_error_set(err, ENOMEM, "socket path");
        if (start_mhd(&s->unix_l, c, err) < 0)
            return -1;
        sd_log("info", "serving", "socket", c->socket_path);
    }
    if (c->listen) {
        if ((s->tcp_l.fd = listen_tcp(c->listen, err)) < 0 || start_mhd(&s->tcp_l, c, err) < 0)
            return -1;
        sd_log("info", "serving", "listen", c->listen);
    }
    return 0;
}

static bool same(const char *a, const char *b)
{
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

void sd_server_reload(sd_server *s, sd_snapshot *snap)
{
    pthread_mutex_lock(&s->lock);
    sd_snapshot *old = s->snap;
    const sd_config *o = &old->config, *n = &snap->config;
    if (!same(o->socket_path, n->socket_path) || !same(o->listen, n->listen) ||
        !same(o->state_dir, n->state_dir) || o->max_connections != n->max_connections)
        sd_log("warning", "socket, listen, state_dir and max_connections change only on "
                          "restart; the running values stay", NULL, NULL);
    s->snap = snap;
    pthread_mutex_unlock(&s->lock);
    sd_admission_resize(s->admission, n->max_running, n->max_queue);
    sd_snapshot_unref(old);
    sd_log("info", "reloaded", "config", n->config_file);
}

static void quiesce(struct listener *l)
{
    if (!l->d)
        return;
    MHD_socket fd = MHD_quiesce_daemon(l->d);
    if (fd != MHD_INVALID_SOCKET)
        close(fd);
    l->fd = -1;
}

void sd_server_stop(sd_server *s)
{
    if (s->stopped)
        return;
    s->stopped = true;
    atomic_store(&s->draining, true);
    quiesce(&s->unix_l);
    quiesce(&s->tcp_l);
    if (s->socket_path && unlink(s->socket_path) < 0 && errno != ENOENT)
        sd_log("warning", "could not remove the socket", "socket", s->socket_path);
    long grace = (long)s->snap->config.grace_ms;
    /* Workflow attempts first, while admission still lets them finish: those
     * still running after the grace are recorded as interrupted, and resume at
     * the next start. */
    while (atomic_load(&s->workflows_users) > 0)
        usleep(1000);          /* their calls are short: streams are the module's own */
    sd_workflows_stop(s->workflows, grace);
    s->workflows = NULL;
    sd_admission_close(s->admission);   /* queued requests get 503 */
    if (!sd_admission_drain(s->admission, grace)) {
        sd_log("warning", "grace period over: killing running sandboxes", NULL, NULL);
        atomic_store(&s->kill_all, true);
        sd_admission_drain(s->admission, 30 * 1000);
    }
    for (int i = 0; i < 500 && atomic_load(&in_flight) > 0; i++)
        usleep(10 * 1000);     /* answers being written; at most 5 s */
    if (s->unix_l.d)
        MHD_stop_daemon(s->unix_l.d);
    if (s->tcp_l.d)
        MHD_stop_daemon(s->tcp_l.d);
    s->unix_l.d = s->tcp_l.d = NULL;
}

void sd_server_free(sd_server *s)
{
    if (!s)
        return;
    sd_server_stop(s);
    struct listener *ls[] = {&s->unix_l, &s->tcp_l};
    for (size_t i = 0; i < 2; i++)
        if (ls[i]->fd >= 0 && !ls[i]->d)
            close(ls[i]->fd);     /* a daemon that started owns and closes its socket */
    sd_admission_free(s->admission);
    sd_snapshot_unref(s->snap);
    pthread_mutex_destroy(&s->lock);
    free(s->socket_path);
    free(s);
}
