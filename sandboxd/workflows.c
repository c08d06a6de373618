#include "workflows.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "engine.h"
#include "exec.h"
#include "metrics.h"
#include "spawner.h"
#include "store.h"

#define EVENTS_PAGE 200
#define HEARTBEAT_MS 15000     /* a blank line on a quiet event stream */
#define CHECKED_MAX 8

struct sd_workflows {
    orch_store *store;
    orch_engine *engine;
    sd_admission *admission;
    sd_snapshot_fn *snapshot;
    void *snapshot_ctx;
    char *state_dir;
    pthread_mutex_t lock;
    unsigned streams;           /* event streams open */
    atomic_bool closing;
    /* Step requests that built a spec under checked_snap (held), newest
     * replacing oldest: the check at submission, repeated for every workflow
     * of a kind, was a tenth of a submission's CPU. Under lock. */
    sd_snapshot *checked_snap;
    char *checked[CHECKED_MAX];
    unsigned checked_next;
};

struct sd_wf_stream {
    sd_workflows *w;
    char id[ORCH_STORE_ID_MAX];
    int64_t after;              /* the last sequence number sent */
    bool follow;                /* wait for new events until the end */
    char *buf;
    size_t len, off, cap;
    bool ended;
    bool drained;               /* the last read got every event there was */
};

static double mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* ---- the executor: the daemon's spec rules, the spawner, admission ---- */

static int daemon_build(void *ctx, json_t *req, rt_spec *spec, rt_error *err)
{
    sd_workflows *w = ctx;
    sd_snapshot *snap = w->snapshot(w->snapshot_ctx);
    int rc = sd_exec_build_spec(snap, req, spec, err);
    sd_snapshot_unref(snap);
    return rc;
}

static bool checked_before(sd_workflows *w, const sd_snapshot *snap, const char *text)
{
    bool hit = false;
    pthread_mutex_lock(&w->lock);
    for (unsigned i = 0; i < CHECKED_MAX && w->checked_snap == snap && !hit; i++)
        hit = w->checked[i] && strcmp(w->checked[i], text) == 0;
    pthread_mutex_unlock(&w->lock);
    return hit;
}

static void checked_clear(sd_workflows *w)
{
    for (unsigned i = 0; i < CHECKED_MAX; i++) {
        free(w->checked[i]);
        w->checked[i] = NULL;
    }
    sd_snapshot_unref(w->checked_snap);
    w->checked_snap = NULL;
}

/* Takes text. The entries of an earlier snapshot (before a reload) go. */
static void checked_add(sd_workflows *w, sd_snapshot *snap, char *text)
{
    pthread_mutex_lock(&w->lock);
    if (w->checked_snap != snap) {
        checked_clear(w);
        w->checked_snap = sd_snapshot_ref(snap);
    }
    free(w->checked[w->checked_next]);
    w->checked[w->checked_next] = text;
    w->checked_next = (w->checked_next + 1) % CHECKED_MAX;
    pthread_mutex_unlock(&w->lock);
}

static int daemon_check(void *ctx, json_t *req, rt_error *err)
{
    sd_workflows *w = ctx;
    sd_snapshot *snap = w->snapshot(w->snapshot_ctx);
    char *text = json_dumps(req, JSON_COMPACT | JSON_SORT_KEYS);
    int rc = 0;
    if (!text || !checked_before(w, snap, text)) {
        rt_spec spec;
        rt_spec_init(&spec);
        rc = sd_exec_build_spec(snap, req, &spec, err);
        rt_spec_free(&spec);
        if (rc == 0 && text) {
            checked_add(w, snap, text);
            text = NULL;
        }
    }
    free(text);
    sd_snapshot_unref(snap);
    return rc;
}

static int daemon_run(void *ctx, const rt_spec *spec, const atomic_int *stop, rt_result *res,
                      rt_error *err)
{
    sd_workflows *w = ctx;
    double queued, t0;
    sd_run *run = NULL;
    bool cancelled = false;

    if (sd_admission_enter_until(w->admission, stop, &queued) != SD_ADMIT_OK) {
        rt_result_init(res, spec->limits.output_bytes);
        res->status = RT_STATUS_CANCELLED;
        return 0;
    }
    t0 = mono_ms();
    if (sd_run_start(spec, &run, err) < 0) {
        sd_admission_leave(w->admission);
        rt_result_init(res, spec->limits.output_bytes);
        rt_result_set_error(res, err->msg);
        return -1;
    }
    while (!sd_run_poll(run, 50, NULL, res))
        if (!cancelled && atomic_load(stop)) {
            cancelled = true;
            sd_run_cancel(run);
        }
    sd_run_free(run);
    sd_admission_leave(w->admission);
    sd_metrics_execution(res->status, mono_ms() - t0, res->setup_ms);
    return 0;
}

static void on_event(void *ctx, const char *wf, int64_t seq, const json_t *ev)
{
    const char *type = json_string_value(json_object_get(ev, "type"));
    const char *status = json_string_value(json_object_get(ev, "status"));
    (void)ctx;
    (void)wf;
    (void)seq;
    if (!type || !status)
        return;
    double ms = json_number_value(json_object_get(ev, "duration_ms"));
    if (strcmp(type, "workflow") == 0 && orch_workflow_status_final(status))
        sd_metrics_workflow(status, ms,
                            json_number_value(json_object_get(json_object_get(ev, "cost"), "usd")));
    else if (strcmp(type, "step") == 0 && strcmp(status, "running") != 0 &&
             strcmp(status, "pending") != 0)
        sd_metrics_step(status, ms);
}

int sd_workflows_start(const sd_config *cfg, sd_admission *adm, sd_snapshot_fn *snapshot,
                       void *snapshot_ctx, sd_workflows **out, rt_error *err)
{
    sd_workflows *w = calloc(1, sizeof *w);
    char db[PATH_MAX];

    if (!w || !(w->state_dir = strdup(cfg->state_dir))) {
        free(w);
        return rt_error_set(err, ENOMEM, "workflows");
    }
    w->admission = adm;
    w->snapshot = snapshot;
    w->snapshot_ctx = snapshot_ctx;
    pthread_mutex_init(&w->lock, NULL);
    snprintf(db, sizeof db, "%s/workflows.db", cfg->state_dir);
    if (orch_store_open(db, &w->store, err) < 0)
        goto fail;
    orch_engine_config ec = {
        .state_dir = cfg->state_dir,
        .store = w->store,
        .exec = {.build = daemon_build, .check = daemon_check, .run = daemon_run, .ctx = w},
        .prices = {cfg->usd_per_cpu_second, cfg->usd_per_gb_second, cfg->usd_per_run},
        .max_running = cfg->max_running,
        .workspace_bytes = cfg->workspace_bytes,
        .on_event = on_event,
    };
    if (orch_engine_start(&ec, &w->engine, err) < 0) {
        orch_store_close(w->store);
        goto fail;
    }
    *out = w;
    return 0;
fail:
    pthread_mutex_destroy(&w->lock);
    free(w->state_dir);
    free(w);
    return -1;
}

static unsigned stream_count(sd_workflows *w)
{
    pthread_mutex_lock(&w->lock);
    unsigned n = w->streams;
    pthread_mutex_unlock(&w->lock);
    return n;
}

void sd_workflows_stop(sd_workflows *w, long grace_ms)
{
    if (!w)
        return;
    atomic_store(&w->closing, true);
    /* Streams see closing within a second (their longest wait): at most 5 s. */
    for (int i = 0; i < 50 && stream_count(w) > 0; i++)
        usleep(100 * 1000);
    orch_engine_stop(w->engine, grace_ms);
    orch_store_close(w->store);
    checked_clear(w);
    pthread_mutex_destroy(&w->lock);
    free(w->state_dir);
    free(w);
}

/* ---- answers ---- */

static void answer_json(sd_wf_answer *out, unsigned status, json_t *body)
{
    out->status = body ? status : 500;
    out->body = body ? body
                     : json_pack("{s:{s:s,s:s,s:n}}", "error", "code", "internal", "message",
                                 "out of memory", "field");
}

static void answer_error(sd_wf_answer *out, unsigned status, const char *code, const char *field,
                         const char *msg)
{
    json_t *m = json_string(msg);
    if (!m)   /* a message that is not UTF-8 (it quotes the request) */
        m = json_string("(the message is not valid UTF-8)");
    answer_json(out, status, json_pack("{s:{s:s,s:o,s:s?}}", "error", "code", code, "message", m,
                                       "field", field));
}

/* An engine error: ENOENT is 404, EBUSY 409, anything else ours. */
static void answer_engine_error(sd_wf_answer *out, const rt_error *err)
{
    if (err->code == ENOENT)
        answer_error(out, 404, "not_found", NULL, err->msg);
    else if (err->code == EBUSY)
        answer_error(out, 409, "conflict", NULL, err->msg);
    else
        answer_error(out, 500, "internal", NULL, err->msg);
}

static void answer_problems(sd_wf_answer *out, const orch_problems *p)
{
    json_t *list = json_array();
    for (size_t i = 0; list && i < p->n; i++) {
        json_t *m = json_string(p->v[i].message);
        json_array_append_new(list, json_pack("{s:s,s:o}", "path", p->v[i].path, "message",
                                              m ? m : json_string("(not UTF-8)")));
    }
    char msg[700];
    snprintf(msg, sizeof msg, "%s%s%s", p->v[0].message, p->n > 1 ? " (and more: see " : "",
             p->n > 1 ? "problems)" : "");
    json_t *m = json_string(msg);
    json_t *body = json_pack("{s:{s:s,s:o,s:s,s:o}}", "error", "code", "invalid_workflow",
                             "message", m ? m : json_string("(not UTF-8)"), "field",
                             p->v[0].path, "problems", list ? list : json_array());
    answer_json(out, 400, body);
}

static json_t *parse_body(const char *body, size_t len, sd_wf_answer *out, bool required)
{
    json_error_t je;
    if (len == 0 && !required)
        return json_object();
    json_t *v = json_loadb(body ? body : "", len, JSON_REJECT_DUPLICATES, &je);
    if (!v) {
        char msg[300];
        snprintf(msg, sizeof msg, "the body is not JSON: line %d column %d: %s", je.line,
                 je.column, je.text);
        answer_error(out, 400, "invalid_json", NULL, msg);
        return NULL;
    }
    if (!json_is_object(v)) {
        json_decref(v);
        answer_error(out, 400, "bad_request", NULL, "the body must be a JSON object");
        return NULL;
    }
    return v;
}

static bool id_ok(const char *s, size_t n)
{
    if (n == 0 || n >= ORCH_STORE_ID_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!(s[i] == '_' || s[i] == '-' || (s[i] >= '0' && s[i] <= '9') ||
              (s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z')))
            return false;
    return true;
}

/* ---- routes ---- */

static void submit(sd_workflows *w, const char *idem, const char *body, size_t len,
                   sd_wf_answer *out)
{
    json_t *req = parse_body(body, len, out, true);
    orch_problems pr;
    orch_submit sub;
    rt_error err;

    if (!req)
        return;
    if (idem && (strlen(idem) == 0 || strlen(idem) > 255)) {
        json_decref(req);
        answer_error(out, 400, "bad_request", "Idempotency-Key",
                     "the Idempotency-Key header must be 1 to 255 bytes");
        return;
    }
    int rc = orch_engine_submit(w->engine, req, idem, &sub, &pr, &err);
    if (rc < 0) {
        if (pr.n)
            answer_problems(out, &pr);
        else
            answer_error(out, 500, "internal", NULL, err.msg);
        orch_problems_free(&pr);
        json_decref(req);
        return;
    }
    orch_problems_free(&pr);
    snprintf(out->location, sizeof out->location, "/v1/workflows/%s", sub.id);
    if (sub.existed) {         /* the earlier workflow, as it is now */
        json_t *doc = orch_engine_get(w->engine, sub.id, &err);
        json_decref(req);
        if (doc)
            answer_json(out, 200, doc);
        else
            answer_error(out, 500, "internal", NULL, err.msg);
        return;
    }
    /* A new one: what it is, without reading it back (submissions come in bursts). */
    answer_json(out, 201, json_pack("{s:s,s:O,s:s}", "id", sub.id, "name",
                                    json_object_get(json_object_get(req, "workflow"), "name"),
                                    "status", "queued"));
    json_decref(req);
}

static void list(sd_workflows *w, sd_query_fn *query, void *qctx, sd_wf_answer *out)
{
    const char *status = query(qctx, "status"), *limit = query(qctx, "limit"),
               *cursor = query(qctx, "cursor");
    unsigned n = 50;
    rt_error err;
    if (limit) {
        char *end;
        unsigned long v = strtoul(limit, &end, 10);
        if (!*limit || *end || v < 1 || v > ORCH_STORE_LIST_MAX) {
            char msg[96];
            snprintf(msg, sizeof msg, "limit: must be an integer from 1 to %d",
                     ORCH_STORE_LIST_MAX);
            answer_error(out, 400, "bad_request", "limit", msg);
            return;
        }
        n = (unsigned)v;
    }
    static const char *const statuses[] = {"queued", "running", "succeeded", "failed",
                                           "cancelled", "timed_out", "budget_exceeded"};
    if (status) {
        size_t i = 0;
        while (i < sizeof statuses / sizeof *statuses && strcmp(statuses[i], status) != 0)
            i++;
        if (i == sizeof statuses / sizeof *statuses) {
            answer_error(out, 400, "bad_request", "status",
                         "status: one of queued, running, succeeded, failed, cancelled, "
                         "timed_out, budget_exceeded");
            return;
        }
    }
    json_t *page = orch_store_workflow_list(w->store, status, n, cursor, &err);
    if (!page) {
        if (err.code == EINVAL)
            answer_error(out, 400, "bad_request", "cursor", err.msg);
        else
            answer_error(out, 500, "internal", NULL, err.msg);
        return;
    }
    answer_json(out, 200, page);
}

static void workspace_tar(sd_workflows *w, const char *id, sd_wf_answer *out)
{
    char dir[PATH_MAX];
    rt_error err;
    if (orch_engine_workspace(w->engine, id, dir, sizeof dir, &err) < 0) {
        answer_engine_error(out, &err);
        return;
    }
    int fd = open(w->state_dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    if (fd < 0) {
        rt_error_set(&err, errno, "a temporary file in %s", w->state_dir);
        answer_error(out, 500, "internal", NULL, err.msg);
        return;
    }
    struct stat st;
    if (orch_tar_write(dir, fd, &err) < 0 || fstat(fd, &st) < 0 || lseek(fd, 0, SEEK_SET) < 0) {
        close(fd);
        answer_error(out, 500, "internal", NULL, err.msg);
        return;
    }
    out->status = 200;
    out->fd = fd;
    out->fd_size = st.st_size;
}

static void events(sd_workflows *w, const char *id, sd_query_fn *query, void *qctx,
                   sd_wf_answer *out)
{
    const char *after = query(qctx, "after"), *follow = query(qctx, "follow");
    char status[32];
    rt_error err;
    if (orch_store_workflow_status(w->store, id, status, sizeof status, &err) < 0) {
        answer_engine_error(out, &err);
        return;
    }
    sd_wf_stream *s = calloc(1, sizeof *s);
    if (!s) {
        answer_error(out, 500, "internal", NULL, "out of memory");
        return;
    }
    if (after) {
        char *end;
        long long v = strtoll(after, &end, 10);
        if (!*after || *end || v < 0) {
            free(s);
            answer_error(out, 400, "bad_request", "after",
                         "after: must be an event's seq (an integer >= 0)");
            return;
        }
        s->after = v;
    }
    if (follow && strcmp(follow, "true") != 0 && strcmp(follow, "false") != 0) {
        free(s);
        answer_error(out, 400, "bad_request", "follow", "follow: true or false");
        return;
    }
    s->follow = !follow || strcmp(follow, "true") == 0;
    s->w = w;
    snprintf(s->id, sizeof s->id, "%s", id);
    pthread_mutex_lock(&w->lock);
    w->streams++;
    pthread_mutex_unlock(&w->lock);
    out->status = 200;
    out->stream = s;
}

static void approve(sd_workflows *w, const char *id, const char *step, bool yes,
                    const char *body, size_t len, sd_wf_answer *out)
{
    json_t *req = parse_body(body, len, out, false);
    rt_error err;
    if (!req)
        return;
    const json_t *c = json_object_get(req, "comment");
    const char *k;
    json_t *v;
    json_object_foreach(req, k, v) {
        if (strcmp(k, "comment") != 0) {
            answer_error(out, 400, "bad_request", k, "unknown key (the body takes a comment)");
            json_decref(req);
            return;
        }
    }
    if (c && (!json_is_string(c) || json_string_length(c) > 1000)) {
        json_decref(req);
        answer_error(out, 400, "bad_request", "comment", "comment: a string of at most 1000 bytes");
        return;
    }
    if (orch_engine_approve(w->engine, id, step, yes, json_string_value(c), &err) < 0)
        answer_engine_error(out, &err);
    else
        answer_json(out, 200, json_pack("{s:s,s:s,s:s}", "id", id, "step", step, "decision",
                                        yes ? "approved" : "rejected"));
    json_decref(req);
}

/* Splits "/v1/workflows/ID/rest..." into at most 4 segments after the prefix. */
static size_t segments(const char *path, const char *seg[4], size_t len[4])
{
    const char *p = path + strlen("/v1/workflows");
    size_t n = 0;
    while (*p == '/' && n < 4) {
        p++;
        const char *e = strchr(p, '/');
        size_t l = e ? (size_t)(e - p) : strlen(p);
        if (l == 0)
            return 99;
        seg[n] = p;
        len[n++] = l;
        p += l;
    }
    return *p ? 99 : n;
}

static bool seg_is(const char *s, size_t n, const char *word)
{
    return strlen(word) == n && strncmp(s, word, n) == 0;
}

const char *sd_workflows_allow(const char *path)
{
    const char *seg[4];
    size_t len[4];
    switch (segments(path, seg, len)) {
    case 0:
        return "GET, HEAD, POST";
    case 1:
        return "GET, HEAD, DELETE";
    case 2:
        if (seg_is(seg[1], len[1], "cancel") || seg_is(seg[1], len[1], "retry"))
            return "POST";
        if (seg_is(seg[1], len[1], "events") || seg_is(seg[1], len[1], "workspace"))
            return "GET, HEAD";
        return NULL;
    case 4:
        if (seg_is(seg[1], len[1], "steps") &&
            (seg_is(seg[3], len[3], "approve") || seg_is(seg[3], len[3], "reject")))
            return "POST";
        return NULL;
    default:
        return NULL;
    }
}

void sd_workflows_handle(sd_workflows *w, const char *method, const char *path,
                         sd_query_fn *query, void *qctx, const char *idem, const char *body,
                         size_t len, sd_wf_answer *out)
{
    const char *seg[4];
    size_t len_[4], n = segments(path, seg, len_);
    bool get = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
    bool post = strcmp(method, "POST") == 0, del = strcmp(method, "DELETE") == 0;
    char id[ORCH_STORE_ID_MAX], step[ORCH_ID_MAX + 1];
    rt_error err;

    memset(out, 0, sizeof *out);
    out->fd = -1;
    if (n == 0) {
        if (post)
            submit(w, idem, body, len, out);
        else
            list(w, query, qctx, out);
        return;
    }
    if (!id_ok(seg[0], len_[0])) {
        answer_error(out, 404, "not_found", NULL, "no such workflow");
        return;
    }
    snprintf(id, sizeof id, "%.*s", (int)len_[0], seg[0]);
    if (n == 1 && get) {
        json_t *doc = orch_engine_get(w->engine, id, &err);
        if (doc)
            answer_json(out, 200, doc);
        else
            answer_engine_error(out, &err);
    } else if (n == 1 && del) {
        if (orch_engine_delete(w->engine, id, &err) < 0)
            answer_engine_error(out, &err);
        else
            answer_json(out, 200, json_pack("{s:s,s:b}", "id", id, "deleted", 1));
    } else if (n == 2 && post && (seg_is(seg[1], len_[1], "cancel") ||
                                  seg_is(seg[1], len_[1], "retry"))) {
        bool cancel = seg_is(seg[1], len_[1], "cancel");
        int rc = cancel ? orch_engine_cancel(w->engine, id, &err)
                        : orch_engine_retry(w->engine, id, &err);
        if (rc < 0) {
            answer_engine_error(out, &err);
            return;
        }
        json_t *doc = orch_engine_get(w->engine, id, &err);
        if (doc)
            answer_json(out, 202, doc);
        else
            answer_engine_error(out, &err);
    } else if (n == 2 && get && seg_is(seg[1], len_[1], "events")) {
        events(w, id, query, qctx, out);
    } else if (n == 2 && get && seg_is(seg[1], len_[1], "workspace")) {
        workspace_tar(w, id, out);
    } else if (n == 4 && post) {
        if (len_[2] > ORCH_ID_MAX) {
            answer_error(out, 404, "not_found", NULL, "no such step");
            return;
        }
        snprintf(step, sizeof step, "%.*s", (int)len_[2], seg[2]);
        approve(w, id, step, seg_is(seg[3], len_[3], "approve"), body, len, out);
    } else {
        answer_error(out, 404, "not_found", NULL, "no such endpoint");
    }
}

unsigned sd_workflows_active(sd_workflows *w)
{
    return orch_engine_active(w->engine);
}

/* ---- event streams ---- */

/* One event's line: its stored text (a compact object, reals to 9 digits, as
 * every answer) with "seq" and "time_ms" added at its end, as text: a stream
 * parses and encodes nothing. */
static int add_line(void *ctx, int64_t seq, int64_t time_ms, const char *text, size_t len)
{
    sd_wf_stream *s = ctx;
    char tail[64];
    if (len < 2 || text[0] != '{' || text[len - 1] != '}') {
        s->after = seq;   /* not an object: passed over, not sent */
        return 0;
    }
    int n = snprintf(tail, sizeof tail, "%s\"seq\":%" PRId64 ",\"time_ms\":%" PRId64 "}\n",
                     len > 2 ? "," : "", seq, time_ms);
    size_t need = s->len + len - 1 + (size_t)n;
    if (need > s->cap) {
        char *b = realloc(s->buf, need * 2);
        if (!b)
            return -1;   /* the rest at the next read */
        s->buf = b;
        s->cap = need * 2;
    }
    memcpy(s->buf + s->len, text, len - 1);
    memcpy(s->buf + s->len + len - 1, tail, (size_t)n);
    s->len = need;
    s->after = seq;
    return 0;
}

static int fill(sd_wf_stream *s)
{
    rt_error err;
    s->len = s->off = 0;
    int n = orch_store_event_texts(s->w->store, s->id, s->after, EVENTS_PAGE, add_line, s, &err);
    if (n < 0)
        return -1;
    s->drained = n < EVENTS_PAGE;
    return 0;
}

ssize_t sd_wf_stream_read(sd_wf_stream *s, char *buf, size_t max)
{
    double quiet_since = mono_ms();
    for (;;) {
        if (s->off < s->len) {
            size_t n = s->len - s->off < max ? s->len - s->off : max;
            memcpy(buf, s->buf + s->off, n);
            s->off += n;
            return (ssize_t)n;
        }
        if (s->ended || atomic_load(&s->w->closing))
            return 0;
        /* What was read is sent: wait for more (at once when there is more)
         * rather than read the store again for nothing. */
        if (s->drained && s->follow && s->len) {
            s->len = s->off = 0;
            orch_engine_wait_workflow(s->w->engine, s->id, s->after, 1000);
        }
        /* Read the finished flag before the events, so the last ones are sent. */
        bool finished = orch_engine_finished(s->w->engine, s->id);
        if (fill(s) < 0)
            return 0;
        if (s->len)
            continue;
        if (finished || !s->follow) {
            s->ended = true;
            return 0;
        }
        if (mono_ms() - quiet_since >= HEARTBEAT_MS) {
            buf[0] = '\n';
            return 1;
        }
        orch_engine_wait_workflow(s->w->engine, s->id, s->after, 1000);
    }
}

void sd_wf_stream_free(sd_wf_stream *s)
{
    if (!s)
        return;
    sd_workflows *w = s->w;
    pthread_mutex_lock(&w->lock);
    w->streams--;
    pthread_mutex_unlock(&w->lock);
    free(s->buf);
    free(s);
}
