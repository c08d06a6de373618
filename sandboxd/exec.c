#include "exec.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "metrics.h"
#include "sandbox.h"
#include "spawner.h"
#include "spec_json.h"

struct pending {                /* JSON lines not yet handed to the connection */
    char *p;
    size_t len, off, cap;
};

struct sd_exec {
    rt_spec spec;
    char id[32];
    char *language;
    bool stream;
    sd_exec_env env;
    bool slot_held, killed, done, final_sent, client_left;
    int client_fd;              /* the connection, watched for a client that left */
    double t_admitted, t_started, t_done, queued_ms;
    sd_run *run;                /* the sandbox, in a worker of the spawner */
    rt_result result;
    struct pending out;         /* streaming: guarded by lock */
    pthread_t streamer;         /* streaming: supervises, whether or not the client reads */
    bool streamer_running, stop;
    pthread_mutex_t lock;
    pthread_cond_t more;        /* out grew or the stream ended */
    unsigned char carry[3][4];  /* per stream: an incomplete UTF-8 sequence */
    size_t carry_len[3];
};

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

int sd_problem_set(sd_problem *p, unsigned http, const char *code, const rt_error *err)
{
    p->http = http;
    p->code = code;
    p->field[0] = '\0';
    if (err != &p->err)
        p->err = *err;
    const char *colon = strstr(p->err.msg, ": ");
    size_t n = colon ? (size_t)(colon - p->err.msg) : 0;
    if (n > 0 && n < sizeof p->field && !memchr(p->err.msg, ' ', n)) {
        memcpy(p->field, p->err.msg, n);
        p->field[n] = '\0';
    }
    return -1;
}

__attribute__((format(printf, 2, 3))) static int bad_request(sd_problem *p, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->err.msg, sizeof p->err.msg, fmt, ap);
    va_end(ap);
    p->err.code = 0;
    return sd_problem_set(p, 400, "bad_request", &p->err);
}

static void make_id(char *out, size_t len)
{
    unsigned char r[10];
    if (getrandom(r, sizeof r, 0) != (ssize_t)sizeof r) {
        static atomic_ulong fallback;  /* getrandom cannot fail after boot; stay unique */
        snprintf(out, len, "ex_%020lu", atomic_fetch_add(&fallback, 1));
        return;
    }
    snprintf(out, len, "ex_");
    for (size_t i = 0; i < sizeof r; i++)
        snprintf(out + 3 + 2 * i, len - 3 - 2 * i, "%02x", r[i]);
}

/* Takes a daemon-only key out of the request (the spec decoder refuses keys it
 * does not know). Returns a new reference or NULL. */
static json_t *take(json_t *req, const char *key)
{
    json_t *v = json_incref(json_object_get(req, key));
    json_object_del(req, key);
    return v;
}

/* "encoding": "base64" applies to every file given as a plain string. */
static int apply_files_encoding(json_t *req, const json_t *enc, sd_problem *p)
{
    if (!enc)
        return 0;
    const char *e = json_string_value(enc);
    if (!e || (strcmp(e, "base64") != 0 && strcmp(e, "utf-8") != 0))
        return bad_request(p, "encoding: must be \"utf-8\" or \"base64\"");
    json_t *files = json_object_get(req, "files");
    const char *name;
    json_t *v;
    json_object_foreach(files, name, v)
        if (json_is_string(v))
            json_object_set_new(files, name, json_pack("{s:O, s:s}", "content", v, "encoding", e));
    return 0;
}

/* code + language: the code becomes the language's file in /workspace and the
 * language's command runs it. */
static int apply_language(const sd_snapshot *snap, json_t *req, json_t *code,
                          json_t *lang, const sd_language **out, sd_problem *p)
{
    *out = NULL;
    if (!code && !lang)
        return 0;
    if (!code)
        return bad_request(p, "code: required with language");
    if (!json_is_string(code))
        return bad_request(p, "code: must be a string");
    if (!lang)
        return bad_request(p, "language: required with code (see GET /v1/languages)");
    if (!json_is_string(lang))
        return bad_request(p, "language: must be a string");
    if (json_object_get(req, "command"))
        return bad_request(p, "command: give either command or code with language, not "
                              "both");
    const sd_language *l = sd_languages_find(&snap->languages, json_string_value(lang));
    if (!l)
        return bad_request(p, "language: \"%.60s\" is not defined here (see GET "
                              "/v1/languages)", json_string_value(lang));
    if (!l->available)
        return bad_request(p, "language: %s is not installed on this server", l->name);
    json_t *files = json_object_get(req, "files");
    if (!files) {
        files = json_object();
        json_object_set_new(req, "files", files);
    } else if (!json_is_object(files)) {
        return bad_request(p, "files: must be an object of name: content");
    }
    if (json_object_get(files, l->file))
        return bad_request(p, "files: \"%s\" is where the code goes; rename the file", l->file);
    json_t *cmd = json_array();
    for (size_t i = 0; l->command[i]; i++)
        json_array_append_new(cmd, json_string(l->command[i]));
    json_object_set(files, l->file, code);
    json_object_set_new(req, "command", cmd);
    *out = l;
    return 0;
}

/* Limits: the profile's, then the language's, then the request's; then the
 * server's maxima (refused, not clamped). */
static int apply_settings(const sd_snapshot *snap, const rt_profile *prof, const sd_language *l,
                          json_t *req, rt_spec *spec, sd_problem *p)
{
    rt_error err;
    if (rt_profile_apply(prof, spec, &err) < 0)
        return sd_problem_set(p, 500, "internal", &err);
    json_t *lang = l && l->limits ? json_pack("{s:O}", "limits", l->limits) : NULL;
    int rc = lang ? rt_spec_settings_from_json(lang, spec, &err) : 0;
    json_decref(lang);
    if (rc < 0)
        return sd_problem_set(p, 500, "internal", &err);
    json_t *mine = json_object();
    if (json_object_get(req, "limits"))
        json_object_set(mine, "limits", json_object_get(req, "limits"));
    if (json_object_get(req, "network"))
        json_object_set(mine, "network", json_object_get(req, "network"));
    rc = rt_spec_settings_from_json(mine, spec, &err);
    json_decref(mine);
    if (rc < 0 || sd_limits_check_max(&spec->limits, &snap->config.max_limits, &err) < 0)
        return sd_problem_set(p, 400, "bad_request", &err);
    return 0;
}

/* The request's keys: the spec's (less those naming host paths) and the daemon's. */
static int check_keys(const json_t *req, sd_problem *p)
{
    static const char *const known[] = {
        "command", "code", "language", "stdin", "stdin_encoding", "env", "cwd", "files",
        "encoding", "limits", "profile", "image", "network", "stream",
    };
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)req, key, v) {
        size_t i = 0;
        while (i < sizeof known / sizeof *known && strcmp(key, known[i]) != 0)
            i++;
        if (strcmp(key, "workspace") == 0 || strcmp(key, "mounts") == 0)
            return bad_request(p, "%s: host paths cannot be named through the API (send "
                                  "files instead)", key);
        if (i == sizeof known / sizeof *known)
            return bad_request(p, "%.60s: unknown key (use command or code and language, "
                                  "stdin, stdin_encoding, env, cwd, files, encoding, limits, "
                                  "profile, image, network, stream)", key);
    }
    return 0;
}

/* Names are matched against the operator's lists; one with a NUL in it would
 * match on its first part only. */
static int check_names(const json_t *req, sd_problem *p)
{
    static const char *const names[] = {"profile", "image", "language"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        const json_t *v = json_object_get(req, names[i]);
        if (json_is_string(v) && strlen(json_string_value(v)) != json_string_length(v))
            return bad_request(p, "%s: a NUL byte in a name", names[i]);
    }
    return 0;
}

static int build(const sd_snapshot *snap, json_t *req, rt_spec *spec, bool *streaming,
                 char **language, sd_problem *p)
{
    if (check_keys(req, p) < 0 || check_names(req, p) < 0)
        return -1;
    json_t *stream = take(req, "stream"), *code = take(req, "code"),
           *lang = take(req, "language"), *prof = take(req, "profile"),
           *image = take(req, "image"), *enc = take(req, "encoding");
    const sd_language *l = NULL;
    const sd_image *im = NULL;
    const rt_profile *profile = NULL;
    const char *pname = prof ? json_string_value(prof) : snap->config.default_profile;
    int rc = -1;
    if (stream && !json_is_boolean(stream)) {
        bad_request(p, "stream: must be true or false");
        goto out;
    }
    *streaming = json_is_true(stream);
    if (!pname) {
        bad_request(p, "profile: must be a string");
        goto out;
    }
    if (!(profile = sd_snapshot_profile(snap, pname))) {
        bad_request(p, "profile: \"%.60s\" is not offered here (see GET /v1/info)", pname);
        goto out;
    }
    if (image && (!json_is_string(image) ||
                  !(im = sd_config_image(&snap->config, json_string_value(image))))) {
        bad_request(p, "image: \"%.60s\" is not offered here (see GET /v1/info)",
                    json_is_string(image) ? json_string_value(image) : "(not a string)");
        goto out;
    }
    if (apply_files_encoding(req, enc, p) < 0 || apply_language(snap, req, code, lang, &l, p) < 0)
        goto out;
    json_object_set_new(req, "workspace", json_string("tmpfs"));
    if (rt_spec_from_json(req, spec, &p->err) < 0) {
        sd_problem_set(p, 400, "bad_request", &p->err);
        goto out;
    }
    if (apply_settings(snap, profile, l, req, spec, p) < 0)
        goto out;
    if (im && im->path && !(spec->image = strdup(im->path))) {
        rt_error_set(&p->err, ENOMEM, "image");
        sd_problem_set(p, 500, "internal", &p->err);
        goto out;
    }
    if (l && !(*language = strdup(l->name))) {
        rt_error_set(&p->err, ENOMEM, "language");
        sd_problem_set(p, 500, "internal", &p->err);
        goto out;
    }
    rc = 0;
out:
    json_decref(stream);
    json_decref(code);
    json_decref(lang);
    json_decref(prof);
    json_decref(image);
    json_decref(enc);
    return rc;
}

/* A parsed JSON value costs jansson far more than its text (an empty object in
 * three bytes of "{}," is about a hundred): bodies are refused by their number of
 * values before parsing, and few parse at once, so that the memory a request can
 * make the daemon allocate stays near its size. */
#define MAX_JSON_VALUES 100000

static size_t count_values(const char *b, size_t n)
{
    size_t values = 1;
    bool in_string = false;
    for (size_t i = 0; i < n; i++) {
        char c = b[i];
        if (in_string) {
            if (c == '\\')
                i++;
            else if (c == '"')
                in_string = false;
        } else if (c == '"') {
            in_string = true;
        } else if (c == ',' || c == '[' || c == '{') {
            values++;
        }
    }
    return values;
}

static sem_t parsing;

static void parsing_init(void)
{
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    sem_init(&parsing, 0, cores > 1 ? (unsigned)cores * 2 : 2);
}

static json_t *parse_body(const char *body, size_t len, sd_problem *p)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    size_t values = count_values(body, len);
    if (values > MAX_JSON_VALUES) {
        rt_error_set(&p->err, 0, "the body holds about %zu JSON values; at most %d are taken",
                     values, MAX_JSON_VALUES);
        sd_problem_set(p, 400, "invalid_json", &p->err);
        return NULL;
    }
    pthread_once(&once, parsing_init);
    while (sem_wait(&parsing) < 0)
        ;
    json_error_t je;
    json_t *req = json_loadb(body, len, JSON_ALLOW_NUL | JSON_REJECT_DUPLICATES, &je);
    sem_post(&parsing);
    if (!req) {
        rt_error_set(&p->err, 0, "invalid JSON at line %d, column %d: %s", je.line, je.column,
                     je.text);
        sd_problem_set(p, 400, "invalid_json", &p->err);
    }
    return req;
}

int sd_exec_prepare(const sd_snapshot *snap, const char *body, size_t len, sd_exec **out,
                    sd_problem *p)
{
    *out = NULL;
    json_t *req = parse_body(body, len, p);
    if (!req)
        return -1;
    if (!json_is_object(req)) {
        json_decref(req);
        return bad_request(p, "the body must be a JSON object");
    }
    sd_exec *x = calloc(1, sizeof *x);
    if (!x) {
        json_decref(req);
        rt_error_set(&p->err, ENOMEM, "request");
        return sd_problem_set(p, 500, "internal", &p->err);
    }
    x->client_fd = -1;
    pthread_mutex_init(&x->lock, NULL);
    pthread_cond_init(&x->more, NULL);
    rt_spec_init(&x->spec);
    rt_result_init(&x->result, 0);
    make_id(x->id, sizeof x->id);
    int rc = build(snap, req, &x->spec, &x->stream, &x->language, p);
    json_decref(req);
    if (rc < 0) {
        sd_exec_free(x);
        return -1;
    }
    *out = x;
    return 0;
}

int sd_exec_build_spec(const sd_snapshot *snap, json_t *req, rt_spec *spec, rt_error *err)
{
    sd_problem p = {0};
    bool streaming = false;
    char *language = NULL;
    int rc = build(snap, req, spec, &streaming, &language, &p);
    free(language);
    if (rc < 0)
        *err = p.err;
    return rc;
}

void sd_exec_watch_client(sd_exec *x, int fd)
{
    x->client_fd = fd;
}

bool sd_exec_client_left(const sd_exec *x)
{
    return x->client_left;
}

bool sd_exec_streaming(const sd_exec *x)
{
    return x->stream;
}

/* ---- streaming: output chunks become JSON lines ---- */

static void push(struct pending *o, const char *s, size_t n)
{
    if (o->len + n > o->cap) {
        size_t cap = o->cap ? o->cap : 4096;
        while (cap < o->len + n)
            cap *= 2;
        char *q = realloc(o->p, cap);
        if (!q)
            return;            /* dropped: the final result still carries the output */
        o->p = q;
        o->cap = cap;
    }
    memcpy(o->p + o->len, s, n);
    o->len += n;
}

static void push_json(struct pending *o, json_t *j)
{
    char *s = j ? json_dumps(j, JSON_COMPACT | JSON_REAL_PRECISION(9)) : NULL;
    if (s) {
        push(o, s, strlen(s));
        push(o, "\n", 1);
    }
    free(s);
    json_decref(j);
}

/* Bytes at the end that begin a UTF-8 sequence the next chunk completes. */
static size_t incomplete_tail(const unsigned char *s, size_t n)
{
    for (size_t back = 1; back <= 3 && back <= n; back++) {
        unsigned char c = s[n - back];
        if ((c & 0xc0) == 0x80)
            continue;
        size_t need = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 1;
        return need > back ? back : 0;
    }
    return 0;
}

static void emit_chunk(sd_exec *x, int stream, const unsigned char *data, size_t len)
{
    if (!len)
        return;
    bool b64 = false;
    json_t *v = rt_bytes_to_json((const char *)data, len, &b64);
    json_t *line = json_pack("{s:s, s:o}", "type", stream == 1 ? "stdout" : "stderr", "data", v);
    if (line && b64)
        json_object_set_new(line, "encoding", json_string("base64"));
    push_json(&x->out, line);
}

static void on_output(void *ctx, int stream, const char *data, size_t len)
{
    sd_exec *x = ctx;
    if (stream != 1 && stream != 2)
        return;
    pthread_mutex_lock(&x->lock);
    size_t have = x->carry_len[stream], total = have + len;
    unsigned char *buf = malloc(total);
    if (!buf) {
        pthread_mutex_unlock(&x->lock);
        return;
    }
    memcpy(buf, x->carry[stream], have);
    memcpy(buf + have, data, len);
    size_t tail = incomplete_tail(buf, total);
    emit_chunk(x, stream, buf, total - tail);
    memcpy(x->carry[stream], buf + total - tail, tail);
    x->carry_len[stream] = tail;
    free(buf);
    pthread_cond_broadcast(&x->more);
    pthread_mutex_unlock(&x->lock);
}

/* ---- running ---- */

static void release_slot(sd_exec *x)
{
    if (x->slot_held) {
        sd_admission_leave(x->env.admission);
        x->slot_held = false;
    }
}

static void finish(sd_exec *x)
{
    x->done = true;
    x->t_done = now_ms();
    sd_run_free(x->run);
    x->run = NULL;
    release_slot(x);
    double setup = x->t_started - x->t_admitted + x->result.setup_ms;
    sd_metrics_execution(x->result.status, x->t_done - x->t_admitted, setup);
}

/* A peer that closed its side will never read the answer. */
static bool client_gone(int fd)
{
    struct pollfd p = {.fd = fd, .events = POLLRDHUP};
    return fd >= 0 && poll(&p, 1, 0) > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR));
}

static void supervise(sd_exec *x, int timeout_ms)
{
    if (!x->killed && (atomic_load(x->env.kill_all) ||
                       (x->client_left = client_gone(x->client_fd)))) {
        sd_run_cancel(x->run);
        x->killed = true;
    }
    rt_callbacks cb = {x->stream ? on_output : NULL, x};
    rt_result res;
    if (sd_run_poll(x->run, timeout_ms, &cb, &res)) {
        rt_result_free(&x->result);
        x->result = res;
        finish(x);
    }
}

static json_t *result_json(const sd_exec *x);

/* The streamer: supervises to the end on its own thread, so deadlines, limits,
 * a client that left and shutdown act even while the client does not read. */
static void *stream_main(void *arg)
{
    sd_exec *x = arg;
    while (!x->done) {          /* done already when the start failed */
        pthread_mutex_lock(&x->lock);
        bool stop = x->stop;
        pthread_mutex_unlock(&x->lock);
        if (stop && !x->killed) {
            sd_run_cancel(x->run);
            x->killed = true;
        }
        supervise(x, 250);
    }
    pthread_mutex_lock(&x->lock);
    for (int s = 1; s <= 2; s++)   /* a sequence the program never finished */
        emit_chunk(x, s, x->carry[s], x->carry_len[s]);
    x->carry_len[1] = x->carry_len[2] = 0;
    push_json(&x->out, json_pack("{s:s, s:o}", "type", "result", "result", result_json(x)));
    x->final_sent = true;
    pthread_cond_broadcast(&x->more);
    pthread_mutex_unlock(&x->lock);
    return NULL;
}

int sd_exec_start(sd_exec *x, const sd_exec_env *env, sd_problem *p)
{
    x->env = *env;
    switch (sd_admission_enter(env->admission, &x->queued_ms)) {
    case SD_ADMIT_FULL:
        rt_error_set(&p->err, 0, "every sandbox slot is busy and the queue is full; retry "
                                 "later");
        return sd_problem_set(p, 429, "queue_full", &p->err);
    case SD_ADMIT_CLOSED:
        rt_error_set(&p->err, 0, "the server is shutting down");
        return sd_problem_set(p, 503, "shutting_down", &p->err);
    case SD_ADMIT_OK:
        break;
    }
    x->slot_held = true;
    x->t_admitted = now_ms();
    rt_error err;
    x->t_started = now_ms();   /* result.setup_ms counts from the worker's start call */
    if (sd_run_start(&x->spec, &x->run, &err) < 0) {
        /* Nothing started (no cgroup, no fds): the result says why, as for a
         * setup failure inside the sandbox. */
        rt_result_set_error(&x->result, err.msg);
        finish(x);
    }
    if (x->stream) {
        int e = pthread_create(&x->streamer, NULL, stream_main, x);
        if (e != 0) {
            rt_error_set(&p->err, e, "starting the stream");
            return sd_problem_set(p, 500, "internal", &p->err);
        }
        x->streamer_running = true;
    }
    return 0;
}

static json_t *result_json(const sd_exec *x)
{
    json_t *res = rt_result_to_json(&x->result);
    double setup = x->t_started - x->t_admitted + x->result.setup_ms;
    double run = x->t_done - x->t_admitted - setup;
    json_t *j = json_pack("{s:s, s:s, s:s?}", "id", x->id, "profile",
                          x->spec.profile ? x->spec.profile : "", "language", x->language);
    if (!res || !j || json_object_update(j, res) < 0) {
        json_decref(res);
        json_decref(j);
        return NULL;
    }
    json_decref(res);
    json_object_set_new(j, "queued_ms", json_real(x->queued_ms));
    json_object_set_new(j, "setup_ms", json_real(setup));
    json_object_set_new(j, "run_ms", json_real(run > 0 ? run : 0));
    return j;
}

json_t *sd_exec_wait(sd_exec *x)
{
    while (!x->done)
        supervise(x, 250);
    return result_json(x);
}

ssize_t sd_exec_read(sd_exec *x, char *buf, size_t max)
{
    ssize_t n = 0;
    pthread_mutex_lock(&x->lock);
    struct pending *o = &x->out;
    while (o->off == o->len && !x->final_sent)
        pthread_cond_wait(&x->more, &x->lock);
    if (o->off < o->len) {
        n = (ssize_t)(o->len - o->off < max ? o->len - o->off : max);
        memcpy(buf, o->p + o->off, (size_t)n);
        o->off += (size_t)n;
        if (o->off == o->len)
            o->off = o->len = 0;
    }
    pthread_mutex_unlock(&x->lock);
    return n;
}

const char *sd_exec_status(const sd_exec *x)
{
    return x->done ? rt_status_name(x->result.status) : NULL;
}

void sd_exec_free(sd_exec *x)
{
    if (!x)
        return;
    if (x->streamer_running) {
        pthread_mutex_lock(&x->lock);
        x->stop = true;
        pthread_mutex_unlock(&x->lock);
        pthread_join(x->streamer, NULL);
    } else if (x->run && !x->done) {
        sd_run_cancel(x->run);
        x->killed = true;
        for (int i = 0; i < 40 && !x->done; i++)
            supervise(x, 250);
    }
    sd_run_free(x->run);   /* the worker sees EOF and stops its sandbox */
    release_slot(x);
    rt_spec_free(&x->spec);
    rt_result_free(&x->result);
    free(x->language);
    free(x->out.p);
    pthread_mutex_destroy(&x->lock);
    pthread_cond_destroy(&x->more);
    free(x);
}
