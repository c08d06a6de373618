/* sbx workflow's subcommands that talk to sandboxd: the workflow API
 * (docs/api.md) over libcurl, with the documents shown by workflow_show.c. */
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine.h"
#include "exec_answer.h"
#include "exec_opts.h"
#include "outcome.h"
#include "workflow_cmds.h"
#include "workflow_doc.h"
#include "workflow_http.h"
#include "workflow_show.h"

#define RECONNECTS 3           /* event streams cut before the workflow ended */

static volatile sig_atomic_t got_signal;

static void on_signal(int sig)
{
    if (!got_signal)
        got_signal = sig;
}

static void catch_signals(void)
{
    struct sigaction sa = {.sa_handler = on_signal};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

/* Ids and step ids go into the path as they are: the daemon's alphabet only. */
static bool id_ok(const char *s)
{
    size_t n = strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-");
    return n > 0 && n <= 64 && !s[n];
}

/* ---- answers ---- */

/* A non-2xx answer: {"error": {"code", "message", "field", "problems"}} with
 * each problem on a line of its own; 2 for a request the daemon found
 * invalid (400), else 1. */
static int http_error(const sbx_daemon *d, const sbx_wf_reply *r)
{
    json_t *body = json_loadb(r->body.data ? r->body.data : "", r->body.len, 0, NULL);
    const json_t *e = json_object_get(body, "error");
    const char *code = json_string_value(json_object_get(e, "code")),
               *msg = json_string_value(json_object_get(e, "message"));
    const json_t *problems = json_object_get(e, "problems");
    if (json_array_size(problems)) {
        fprintf(stderr, "%s: %s (HTTP %ld, %zu problem%s):\n", d->prog,
                code && strcmp(code, "invalid_workflow") == 0 ? "invalid workflow" : code,
                r->status, json_array_size(problems), json_array_size(problems) == 1 ? "" : "s");
        sbx_wf_print_problems(stderr, problems);
    } else if (code && msg) {
        fprintf(stderr, "%s: HTTP %ld %s: %s\n", d->prog, r->status, code, msg);
    } else {
        char line[2048];
        sbx_answer_http_error(r->status, r->body.data, r->body.len, NULL, line, sizeof line);
        fprintf(stderr, "%s: %s\n", d->prog, line);
    }
    json_decref(body);
    return r->status == 400 ? SBX_WF_USAGE : SBX_WF_FAILED;
}

/* One request whose 2xx answer is a JSON object: returned, or NULL with the
 * exit status in *rc and a message printed. */
static json_t *call_json(const sbx_daemon *d, const sbx_wf_call *c, int *rc, long *status)
{
    sbx_wf_reply r;
    json_t *v = NULL;
    json_error_t je;
    *rc = SBX_WF_FAILED;
    if (sbx_wf_http(d, c, &r) < 0) {
        sbx_wf_reply_free(&r);
        return NULL;
    }
    if (status)
        *status = r.status;
    if (r.status / 100 != 2)
        *rc = http_error(d, &r);
    else if (!(v = json_loadb(r.body.data ? r.body.data : "", r.body.len, 0, &je)) ||
             !json_is_object(v))
        fprintf(stderr, "%s: malformed answer from sandboxd: %s\n", d->prog,
                v ? "not a JSON object" : je.text);
    else
        *rc = 0;
    if (*rc) {
        json_decref(v);
        v = NULL;
    }
    sbx_wf_reply_free(&r);
    return v;
}

static bool doc_final(const json_t *doc)
{
    const char *status = json_string_value(json_object_get(doc, "status"));
    return status && orch_workflow_status_final(status);
}

static json_t *get_doc(const sbx_daemon *d, const char *id, int *rc)
{
    char path[128];
    snprintf(path, sizeof path, "/v1/workflows/%s", id);
    return call_json(d, &(sbx_wf_call){.method = "GET", .path = path}, rc, NULL);
}

/* ---- events ---- */

/* An NDJSON stream read line by line. */
struct events {
    rt_buf line;
    bool raw;                   /* print each line as it is (--json) */
    bool follow;                /* until the workflow ends, else the events so far */
    sbx_wf_progress *progress;  /* NULL: print log lines */
    int64_t after;              /* the last seq seen */
};

static void event_line(struct events *s, const char *p, size_t n)
{
    if (n == 0)
        return;                /* the daemon's heartbeat */
    json_t *ev = json_loadb(p, n, 0, NULL);
    if (json_is_integer(json_object_get(ev, "seq")))
        s->after = json_integer_value(json_object_get(ev, "seq"));
    if (s->raw) {
        sbx_write_all(1, p, n);
        sbx_write_all(1, "\n", 1);
    } else if (ev && s->progress) {
        sbx_wf_progress_event(s->progress, ev);
    } else if (ev) {
        sbx_wf_print_event(stdout, ev);
        fflush(stdout);
    }
    json_decref(ev);
}

static int on_events(void *ctx, const char *p, size_t n)
{
    struct events *s = ctx;
    while (n) {
        const char *nl = memchr(p, '\n', n);
        size_t len = nl ? (size_t)(nl - p) : n;
        if (rt_buf_append(&s->line, p, len) != 0)
            return -1;
        if (!nl)
            return 0;
        event_line(s, s->line.data ? s->line.data : "", s->line.len);
        s->line.len = 0;
        p += len + 1;
        n -= len + 1;
    }
    return 0;
}

static bool events_stop(void *ctx)
{
    struct events *s = ctx;
    if (s->progress)
        sbx_wf_progress_tick(s->progress);
    return got_signal;
}

/* Reads the events after s->after until the stream ends: with the workflow,
 * or without s->follow once the events so far are in (or when stopped by a
 * signal). 0, or the exit status of a failed request. */
static int read_events(const sbx_daemon *d, const char *id, struct events *s)
{
    char path[160];
    sbx_wf_reply r;
    snprintf(path, sizeof path, "/v1/workflows/%s/events?after=%lld%s", id, (long long)s->after,
             s->follow ? "" : "&follow=false");
    s->line.len = 0;           /* what a cut stream left of a line */
    sbx_wf_call c = {.method = "GET", .path = path, .on_data = on_events, .stop = events_stop,
                     .ctx = s};
    int rc = sbx_wf_http(d, &c, &r) < 0 ? SBX_WF_FAILED : 0;
    if (rc == 0 && r.status / 100 != 2)
        rc = http_error(d, &r);
    sbx_wf_reply_free(&r);
    return rc;
}

/* Follows a workflow's progress to its end; its document, or NULL with *rc. */
static json_t *follow(const sbx_daemon *d, const char *id, int width, int *rc)
{
    struct events s = {.follow = true};
    sbx_wf_progress p;
    json_t *doc = NULL;
    char hint[160];
    snprintf(hint, sizeof hint, "(sbx workflow approve %s %%s)", id);
    rt_buf_init(&s.line, SBX_WF_MAX_ANSWER);
    sbx_wf_progress_init(&p, stderr, width, hint);
    s.progress = &p;
    /* The stream ends with the workflow; one cut before (a daemon restarting)
     * is taken up again after the last event seen. */
    for (int tries = 0; !got_signal; tries++) {
        json_decref(doc);
        doc = NULL;
        if ((*rc = read_events(d, id, &s)) != 0 || got_signal || !(doc = get_doc(d, id, rc)) ||
            doc_final(doc))
            break;
        if (tries == RECONNECTS) {
            fprintf(stderr, "%s: the event stream of %s keeps ending before the workflow\n",
                    d->prog, id);
            *rc = SBX_WF_FAILED;
            json_decref(doc);
            doc = NULL;
            break;
        }
        sleep(1);
    }
    sbx_wf_progress_free(&p);
    rt_buf_free(&s.line);
    if (got_signal) {
        fprintf(stderr, "%s: stopped following; workflow %s goes on (sbx workflow cancel %s "
                        "stops it)\n", d->prog, id, id);
        *rc = 128 + got_signal;
        json_decref(doc);
        return NULL;
    }
    return doc;
}

/* ---- the subcommands ---- */

/* The document (--json) or its id, then --wait: the end, like sbx workflow run. */
static int submit(const sbx_wf_opts *o, const sbx_daemon *d)
{
    rt_error err;
    int rc;
    long status = 0;
    json_t *body = sbx_wf_load_body(o->args[0], o->inputs, &err);
    if (!body) {
        fprintf(stderr, "%s: %s\n", d->prog, err.msg);
        return SBX_WF_USAGE;
    }
    if (o->idem_key && strpbrk(o->idem_key, "\r\n")) {
        json_decref(body);
        fprintf(stderr, "%s: --idempotency-key: holds a line break\n", d->prog);
        return SBX_WF_USAGE;
    }
    int width = sbx_wf_step_width(body);
    char *text = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    if (!text) {
        fprintf(stderr, "%s: cannot encode the request\n", d->prog);
        return SBX_WF_FAILED;
    }
    sbx_wf_call c = {.method = "POST", .path = "/v1/workflows", .body = text,
                     .idem_key = o->idem_key};
    json_t *doc = call_json(d, &c, &rc, &status);
    free(text);
    if (!doc)
        return rc;
    const char *id = json_string_value(json_object_get(doc, "id"));
    if (!id || !id_ok(id)) {
        fprintf(stderr, "%s: malformed answer from sandboxd: no workflow id\n", d->prog);
        json_decref(doc);
        return SBX_WF_FAILED;
    }
    if (status == 200)
        fprintf(stderr, "%s: the idempotency key names workflow %s, submitted before\n",
                d->prog, id);
    if (o->wait) {
        char own[80];
        snprintf(own, sizeof own, "%s", id);
        json_decref(doc);
        catch_signals();
        if (!(doc = follow(d, own, width, &rc)))
            return rc;
        sbx_wf_print_summary(stderr, doc);
        rc = sbx_wf_exit_status(doc);
    } else if (!o->json) {
        printf("%s\n", id);
    }
    if (o->json && sbx_wf_print_json(doc) < 0)
        rc = SBX_WF_FAILED;
    json_decref(doc);
    return rc;
}

static int status(const sbx_wf_opts *o, const sbx_daemon *d)
{
    int rc;
    json_t *doc = get_doc(d, o->args[0], &rc);
    return doc ? sbx_wf_show(doc, o->json, sbx_wf_print_status) : rc;
}

/* "&key=value" (escaped) onto the query in buf. */
static int add_query(char *buf, size_t len, const char *key, const char *value)
{
    char *e = value ? sbx_wf_escape(value) : NULL;
    size_t n = strlen(buf);
    if (value && !e)
        return -1;
    if (e)
        snprintf(buf + n, len - n, "%s%s=%s", strchr(buf, '?') ? "&" : "?", key, e);
    free(e);
    return 0;
}

static int list(const sbx_wf_opts *o, const sbx_daemon *d)
{
    char path[2048] = "/v1/workflows", limit[16];
    int rc;
    snprintf(limit, sizeof limit, "%u", o->limit);
    if (add_query(path, sizeof path, "status", o->status) < 0 ||
        add_query(path, sizeof path, "limit", o->limit ? limit : NULL) < 0 ||
        add_query(path, sizeof path, "cursor", o->cursor) < 0 ||
        strlen(path) >= sizeof path - 1) {
        fprintf(stderr, "%s: --cursor: too long\n", d->prog);
        return SBX_WF_USAGE;
    }
    json_t *page = call_json(d, &(sbx_wf_call){.method = "GET", .path = path}, &rc, NULL);
    return page ? sbx_wf_show(page, o->json, sbx_wf_print_list) : rc;
}

static int logs(const sbx_wf_opts *o, const sbx_daemon *d)
{
    struct events s = {.raw = o->json, .follow = o->follow};
    rt_buf_init(&s.line, SBX_WF_MAX_ANSWER);
    catch_signals();
    int rc = read_events(d, o->args[0], &s);
    if (rc == 0 && s.line.len)
        event_line(&s, s.line.data, s.line.len);   /* a last line without its newline */
    rt_buf_free(&s.line);
    return got_signal ? 128 + got_signal : rc;
}

/* cancel, retry, approve, reject, delete: one request and a line. */
static int act(const sbx_wf_opts *o, const sbx_daemon *d)
{
    const char *id = o->args[0], *step = o->n_args > 1 ? o->args[1] : NULL;
    char path[256];
    char *body = NULL;
    int rc;
    bool post = true;
    switch (o->cmd) {
    case SBX_WF_CANCEL: snprintf(path, sizeof path, "/v1/workflows/%s/cancel", id); break;
    case SBX_WF_RETRY: snprintf(path, sizeof path, "/v1/workflows/%s/retry", id); break;
    case SBX_WF_DELETE: snprintf(path, sizeof path, "/v1/workflows/%s", id); post = false; break;
    default:
        snprintf(path, sizeof path, "/v1/workflows/%s/steps/%s/%s", id, step, o->name);
        json_t *j = o->comment ? json_pack("{s:s}", "comment", o->comment) : NULL;
        body = j ? json_dumps(j, JSON_COMPACT) : NULL;
        json_decref(j);
        if (o->comment && !body) {
            fprintf(stderr, "%s: --comment: not valid UTF-8\n", d->prog);
            return SBX_WF_USAGE;
        }
    }
    sbx_wf_call c = {.method = post ? "POST" : "DELETE", .path = path, .body = body};
    json_t *answer = call_json(d, &c, &rc, NULL);
    free(body);
    if (!answer)
        return rc;
    if (o->json)
        rc = sbx_wf_print_json(answer) < 0 ? SBX_WF_FAILED : 0;
    else if (o->cmd == SBX_WF_CANCEL || o->cmd == SBX_WF_RETRY)
        printf("%s: %s (%s)\n", id, o->cmd == SBX_WF_CANCEL ? "cancel requested" : "retrying",
               json_string_value(json_object_get(answer, "status")) ?: "?");
    else if (o->cmd == SBX_WF_DELETE)
        printf("%s: deleted\n", id);
    else
        printf("%s: step %s %s\n", id, step, o->cmd == SBX_WF_APPROVE ? "approved" : "rejected");
    json_decref(answer);
    return rc;
}

/* The tar goes to a file made only once the daemon answered 200. */
struct tar_out {
    const char *path;
    int fd;
    int err;                   /* errno of a failed open or write */
};

static int on_tar(void *ctx, const char *p, size_t n)
{
    struct tar_out *t = ctx;
    if (t->fd < 0) {
        t->fd = strcmp(t->path, "-") == 0
                    ? dup(1)
                    : open(t->path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (t->fd < 0) {
            t->err = errno;
            return -1;
        }
    }
    while (n) {
        ssize_t w = write(t->fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            t->err = w < 0 ? errno : EIO;
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static int workspace(const sbx_wf_opts *o, const sbx_daemon *d)
{
    char path[160];
    struct tar_out t = {.path = o->output, .fd = -1};
    sbx_wf_reply r;
    snprintf(path, sizeof path, "/v1/workflows/%s/workspace", o->args[0]);
    sbx_wf_call c = {.method = "GET", .path = path, .on_data = on_tar, .ctx = &t};
    int rc = sbx_wf_http(d, &c, &r) < 0 ? SBX_WF_FAILED : 0;
    if (rc == 0 && r.status / 100 != 2)
        rc = http_error(d, &r);
    else if (rc == 0 && !t.err && t.fd < 0)
        on_tar(&t, "", 0);     /* an empty answer: an empty file */
    if (t.err) {
        fprintf(stderr, "%s: %s: %s\n", d->prog, t.path, strerror(t.err));
        rc = SBX_WF_FAILED;
    }
    if (t.fd >= 0 && close(t.fd) < 0 && !rc) {
        fprintf(stderr, "%s: %s: %s\n", d->prog, t.path, strerror(errno));
        rc = SBX_WF_FAILED;
    }
    sbx_wf_reply_free(&r);
    return rc;
}

static int dispatch(const sbx_wf_opts *o, const sbx_daemon *d)
{
    for (int i = o->cmd == SBX_WF_SUBMIT ? o->n_args : 0; i < o->n_args; i++)
        if (!id_ok(o->args[i])) {
            fprintf(stderr, "%s: \"%s\" is not a %s (letters, digits, _ and -)\n", d->prog,
                    o->args[i], i ? "step id" : "workflow id");
            return SBX_WF_USAGE;
        }
    switch (o->cmd) {
    case SBX_WF_SUBMIT: return submit(o, d);
    case SBX_WF_STATUS: return status(o, d);
    case SBX_WF_LIST: return list(o, d);
    case SBX_WF_LOGS: return logs(o, d);
    case SBX_WF_WORKSPACE: return workspace(o, d);
    default: return act(o, d);
    }
}

int sbx_wf_client(const sbx_wf_opts *o)
{
    char prog[64];
    rt_error err;
    snprintf(prog, sizeof prog, "sbx workflow %s", o->name);
    sbx_daemon d = {.prog = prog};
    int rc;
    rt_error_clear(&err);
    if (sbx_daemon_resolve(o->socket, o->url, o->token, &d.socket, &d.url, &d.token, &err) < 0) {
        fprintf(stderr, "%s: %s\n", prog, err.msg);
        rc = SBX_WF_USAGE;
    } else if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        fprintf(stderr, "%s: cannot initialise libcurl\n", prog);
        rc = SBX_WF_FAILED;
    } else {
        rc = dispatch(o, &d);
        curl_global_cleanup();
    }
    free(d.socket);
    free(d.url);
    free(d.token);
    return rc;
}
