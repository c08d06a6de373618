/* load: a closed-loop load generator for sandboxd's POST /v1/exec.
 *
 * Each client is a thread with its own libcurl easy handle, so its HTTP/1.1
 * connection is kept alive and reused from one request to the next. Every
 * client sends a request, waits for the whole answer, and sends the next one.
 * Every request's latency is taken on the monotonic clock around
 * curl_easy_perform(). A request counts as a success only when the answer is
 * HTTP 200 and its JSON "status" is "ok" (and, with --expect-stdout, its
 * "stdout" is exactly that text).
 *
 * The output is one JSON object on stdout (see usage). The exit status is 0
 * when every request got an HTTP answer, 1 when some request failed at the
 * transport level (connection refused or reset, timeout: HTTP code 0), and 2
 * on a usage or setup error. Failures inside an answer (a 4xx/5xx code, a
 * status other than "ok") are counted in "failures" and do not change the exit
 * status: the caller decides what they mean.
 */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>

#include "client_util.h"

const char *const bench_program = "load";

#define MAX_CODE 600           /* HTTP codes 0..599; 0 is "no answer" */

static const char usage[] =
    "usage: load (--socket PATH | --url URL) --clients N (--duration SEC | --requests N)\n"
    "            (--body JSON | --body-file FILE) [OPTIONS]\n"
    "\n"
    "Sends POST requests with the given JSON body from N concurrent clients (one\n"
    "thread and one kept-alive connection each) and prints one JSON object:\n"
    "clients, requests, failures, throughput_rps, p50_ms, p90_ms, p99_ms, max_ms,\n"
    "codes (HTTP code -> count; \"0\" is a transport failure), statuses (result\n"
    "status -> count) and the server's own queued/setup/run medians.\n"
    "\n"
    "  --socket PATH        the daemon's Unix socket\n"
    "  --url URL            where to send [http://localhost/v1/exec]; with a TCP\n"
    "                       URL, use --token\n"
    "  --token T            sent as \"Authorization: Bearer T\" [$SANDBOXD_TOKEN]\n"
    "  --clients N          concurrent clients [1]\n"
    "  --duration SEC       send for this long (seconds, may be fractional)\n"
    "  --requests N         or send this many requests in all\n"
    "  --warmup N           untimed requests per client before the timed part [0]\n"
    "  --body JSON          the request body\n"
    "  --body-file FILE     the request body, from a file\n"
    "  --expect-stdout S    a 200 answer whose \"stdout\" is not S is a failure\n"
    "  --timeout SEC        per-request timeout [60]\n"
    "  -h, --help           this text\n"
    "\n"
    "Exit status: 0 every request was answered, 1 some request failed at the\n"
    "transport level, 2 usage or setup error.\n";

struct opts {
    const char *socket;
    const char *url;
    const char *token;
    const char *expect_stdout;
    char *body;
    long clients;
    double duration_s;         /* > 0: duration mode */
    long requests;             /* > 0: count mode */
    long warmup;
    long timeout_s;
};

/* Server-reported times of one request, from the answer. */
struct server_times {
    double queued, setup, run;
};

struct client {
    pthread_t thread;
    int index;
    const struct opts *o;
    CURL *h;
    struct curl_slist *headers;
    struct buf answer;
    char errbuf[CURL_ERROR_SIZE];
    /* results of the timed part */
    double *lat_ms;
    struct server_times *srv;
    size_t n, cap;
    size_t n_srv;
    long codes[MAX_CODE];
    long connects;             /* new connections opened in the timed part */
    long failures;
    long transport_errors;
    json_t *statuses;          /* status word -> count */
    char first_error[512];
    int setup_failed;
};

/* Shared between clients: the start line, and the stop condition. */
static pthread_barrier_t ready;
static double t_start_ms, deadline_ms;
static atomic_long remaining;  /* count mode: requests not yet claimed */
static atomic_bool setup_failed;

static long parse_count(const char *s, const char *what, long min)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < min)
        die("%s: \"%s\" is not a whole number of at least %ld", what, s, min);
    return v;
}

static char *read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        die("--body-file %s: %s", path, strerror(errno));
    struct buf b = {0};
    char chunk[8192];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        if (on_body(chunk, 1, n, &b) != n)
            die("--body-file %s: out of memory", path);
    if (ferror(f))
        die("--body-file %s: %s", path, strerror(errno));
    fclose(f);
    return b.p ? b.p : strdup("");
}

static void parse_args(int argc, char **argv, struct opts *o)
{
    enum { O_SOCKET = 256, O_URL, O_TOKEN, O_CLIENTS, O_DURATION, O_REQUESTS, O_WARMUP,
           O_BODY, O_BODY_FILE, O_EXPECT, O_TIMEOUT };
    static const struct option longopts[] = {
        {"socket", required_argument, NULL, O_SOCKET},
        {"url", required_argument, NULL, O_URL},
        {"token", required_argument, NULL, O_TOKEN},
        {"clients", required_argument, NULL, O_CLIENTS},
        {"duration", required_argument, NULL, O_DURATION},
        {"requests", required_argument, NULL, O_REQUESTS},
        {"warmup", required_argument, NULL, O_WARMUP},
        {"body", required_argument, NULL, O_BODY},
        {"body-file", required_argument, NULL, O_BODY_FILE},
        {"expect-stdout", required_argument, NULL, O_EXPECT},
        {"timeout", required_argument, NULL, O_TIMEOUT},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    *o = (struct opts){.clients = 1, .timeout_s = 60};
    int c;
    char *end;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (c) {
        case O_SOCKET: o->socket = optarg; break;
        case O_URL: o->url = optarg; break;
        case O_TOKEN: o->token = optarg; break;
        case O_CLIENTS: o->clients = parse_count(optarg, "--clients", 1); break;
        case O_REQUESTS: o->requests = parse_count(optarg, "--requests", 1); break;
        case O_WARMUP: o->warmup = parse_count(optarg, "--warmup", 0); break;
        case O_TIMEOUT: o->timeout_s = parse_count(optarg, "--timeout", 1); break;
        case O_EXPECT: o->expect_stdout = optarg; break;
        case O_DURATION:
            errno = 0;
            o->duration_s = strtod(optarg, &end);
            if (errno || end == optarg || *end || !(o->duration_s > 0))
                die("--duration: \"%s\" is not a positive number of seconds", optarg);
            break;
        case O_BODY:
            free(o->body);
            if (!(o->body = strdup(optarg)))
                die("--body: out of memory");
            break;
        case O_BODY_FILE:
            free(o->body);
            o->body = read_file(optarg);
            break;
        case 'h':
            fputs(usage, stdout);
            exit(0);
        default:
            fputs(usage, stderr);
            exit(2);
        }
    }
    if (optind < argc)
        die("unexpected argument \"%s\" (see --help)", argv[optind]);
    if (!o->body)
        die("--body or --body-file is required (see --help)");
    if ((o->duration_s > 0) == (o->requests > 0))
        die("give exactly one of --duration and --requests (see --help)");
    if (o->clients > 4096)
        die("--clients: at most 4096");
    if (!o->url)
        o->url = o->socket ? "http://localhost/v1/exec" : NULL;
    if (!o->url)
        die("--socket or --url is required (see --help)");
    if (!o->token) {
        const char *t = getenv("SANDBOXD_TOKEN");
        o->token = t && *t ? t : NULL;
    }
}

static int client_setup(struct client *cl)
{
    const struct opts *o = cl->o;
    if (!(cl->h = curl_easy_init())) {
        snprintf(cl->first_error, sizeof cl->first_error, "curl_easy_init failed");
        return -1;
    }
    char auth[1024];
    cl->headers = curl_slist_append(NULL, "Content-Type: application/json");
    /* A body of any size goes at once: no "Expect: 100-continue" round trip. */
    cl->headers = curl_slist_append(cl->headers, "Expect:");
    if (o->token) {
        snprintf(auth, sizeof auth, "Authorization: Bearer %s", o->token);
        cl->headers = curl_slist_append(cl->headers, auth);
    }
    if (!cl->headers) {
        snprintf(cl->first_error, sizeof cl->first_error, "building the headers: out of memory");
        return -1;
    }
    CURLcode rc = CURLE_OK;
#define SET(opt, val) \
    do { if (rc == CURLE_OK) rc = curl_easy_setopt(cl->h, opt, val); } while (0)
    SET(CURLOPT_URL, o->url);
    if (o->socket)
        SET(CURLOPT_UNIX_SOCKET_PATH, o->socket);
    SET(CURLOPT_HTTPHEADER, cl->headers);
    SET(CURLOPT_POSTFIELDS, o->body);
    SET(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(o->body));
    SET(CURLOPT_WRITEFUNCTION, on_body);
    SET(CURLOPT_WRITEDATA, &cl->answer);
    SET(CURLOPT_ERRORBUFFER, cl->errbuf);
    SET(CURLOPT_NOSIGNAL, 1L);
    SET(CURLOPT_TIMEOUT, o->timeout_s);
    SET(CURLOPT_CONNECTTIMEOUT, 10L);
    SET(CURLOPT_TCP_NODELAY, 1L);
    SET(CURLOPT_USERAGENT, "sandboxd-bench-load");
#undef SET
    if (rc != CURLE_OK) {
        snprintf(cl->first_error, sizeof cl->first_error, "setting up curl: %s",
                 curl_easy_strerror(rc));
        return -1;
    }
    if (!(cl->statuses = json_object())) {
        snprintf(cl->first_error, sizeof cl->first_error, "out of memory");
        return -1;
    }
    return 0;
}

static void count_status(struct client *cl, const char *status)
{
    json_t *v = json_object_get(cl->statuses, status);
    json_object_set_new(cl->statuses, status,
                        json_integer((v ? json_integer_value(v) : 0) + 1));
}

static void note_error(struct client *cl, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void note_error(struct client *cl, const char *fmt, ...)
{
    if (cl->first_error[0])
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cl->first_error, sizeof cl->first_error, fmt, ap);
    va_end(ap);
}

static double num(const json_t *o, const char *key)
{
    const json_t *v = json_object_get(o, key);
    return json_is_number(v) ? json_number_value(v) : -1;
}

/* Judges one answer. Returns whether it was a success. */
static bool judge(struct client *cl, long code, bool timed)
{
    if (code != 200) {
        if (timed)
            count_status(cl, "(no result)");
        note_error(cl, "HTTP %ld: %.300s", code, cl->answer.p ? cl->answer.p : "");
        return false;
    }
    json_error_t je;
    json_t *j = json_loadb(cl->answer.p ? cl->answer.p : "", cl->answer.len, 0, &je);
    const char *status = json_string_value(json_object_get(j, "status"));
    bool ok = status && strcmp(status, "ok") == 0;
    if (timed) {
        count_status(cl, status ? status : "(no status)");
        if (j && cl->n_srv < cl->cap) {
            cl->srv[cl->n_srv++] = (struct server_times){
                num(j, "queued_ms"), num(j, "setup_ms"), num(j, "run_ms")};
        }
    }
    if (!j) {
        note_error(cl, "a 200 answer that is not JSON (%s): %.200s", je.text,
                   cl->answer.p ? cl->answer.p : "");
    } else if (!ok) {
        const char *msg = json_string_value(json_object_get(j, "error"));
        note_error(cl, "status \"%s\"%s%s", status ? status : "(none)", msg ? ": " : "",
                   msg ? msg : "");
    } else if (cl->o->expect_stdout) {
        const char *out = json_string_value(json_object_get(j, "stdout"));
        if (!out || strcmp(out, cl->o->expect_stdout) != 0) {
            note_error(cl, "stdout was \"%.100s\", expected \"%.100s\"", out ? out : "(none)",
                       cl->o->expect_stdout);
            ok = false;
        }
    }
    json_decref(j);
    return ok;
}

/* One request. Returns its latency in ms; *code is 0 on a transport failure. */
static double one(struct client *cl, long *code, bool timed)
{
    cl->answer.len = 0;
    cl->errbuf[0] = '\0';
    double t0 = now_ms();
    CURLcode rc = curl_easy_perform(cl->h);
    double dt = now_ms() - t0;
    *code = 0;
    if (rc != CURLE_OK) {
        note_error(cl, "transport: %s%s%s", curl_easy_strerror(rc), cl->errbuf[0] ? ": " : "",
                   cl->errbuf);
        return dt;
    }
    curl_easy_getinfo(cl->h, CURLINFO_RESPONSE_CODE, code);
    if (timed) {
        long nc = 0;
        curl_easy_getinfo(cl->h, CURLINFO_NUM_CONNECTS, &nc);
        cl->connects += nc;
    }
    if (*code < 0 || *code >= MAX_CODE)
        *code = MAX_CODE - 1;
    return dt;
}

static bool record(struct client *cl, double ms, long code)
{
    if (cl->n == cl->cap) {
        size_t cap = cl->cap ? cl->cap * 2 : 1024;
        double *l = realloc(cl->lat_ms, cap * sizeof *l);
        if (l)
            cl->lat_ms = l;
        struct server_times *s = realloc(cl->srv, cap * sizeof *s);
        if (s)
            cl->srv = s;
        if (!l || !s) {
            note_error(cl, "out of memory for %zu latencies", cap);
            return false;
        }
        cl->cap = cap;
    }
    cl->lat_ms[cl->n++] = ms;
    cl->codes[code]++;
    if (code == 0)
        cl->transport_errors++;
    bool ok = code != 0 && judge(cl, code, true);
    if (code == 0)
        count_status(cl, "(no answer)");
    if (!ok)
        cl->failures++;
    return true;
}

static void *client_main(void *arg)
{
    struct client *cl = arg;
    const struct opts *o = cl->o;
    if (client_setup(cl) < 0) {
        cl->setup_failed = 1;
        atomic_store(&setup_failed, true);
    }
    long code;
    for (long i = 0; i < o->warmup && !cl->setup_failed; i++) {
        one(cl, &code, false);
        if (code == 0 || !judge(cl, code, false)) {
            /* A warm-up that fails says the server is not usable: stop early. */
            cl->setup_failed = 1;
            atomic_store(&setup_failed, true);
        }
    }
    pthread_barrier_wait(&ready);   /* the main thread sets the start time */
    pthread_barrier_wait(&ready);
    if (atomic_load(&setup_failed))
        return NULL;
    for (;;) {
        if (o->requests > 0) {
            if (atomic_fetch_sub(&remaining, 1) <= 0)
                break;
        } else if (now_ms() >= deadline_ms) {
            break;
        }
        double ms = one(cl, &code, true);
        if (!record(cl, ms, code))
            break;
    }
    return NULL;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Nearest-rank percentile of a sorted array. */
static double pct(const double *v, size_t n, double p)
{
    if (!n)
        return 0;
    size_t rank = (size_t)(p / 100.0 * (double)n + 0.999999999);
    if (rank < 1)
        rank = 1;
    if (rank > n)
        rank = n;
    return v[rank - 1];
}

static double median_of(double *v, size_t n)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (v[i] >= 0)
            v[k++] = v[i];
    qsort(v, k, sizeof *v, cmp_double);
    return pct(v, k, 50);
}

static json_t *round3(double v)
{
    return json_real((double)(long long)(v * 1000 + 0.5) / 1000);
}

/* The median of the server's numbers, or null when no answer carried them. */
static json_t *server_median(double *v, size_t n)
{
    size_t have = 0;
    for (size_t i = 0; i < n; i++)
        have += v[i] >= 0;
    return have ? round3(median_of(v, n)) : json_null();
}

int main(int argc, char **argv)
{
    struct opts o;
    parse_args(argc, argv, &o);
    CURLcode grc = curl_global_init(CURL_GLOBAL_DEFAULT);
    if (grc != CURLE_OK)
        die("curl_global_init: %s", curl_easy_strerror(grc));

    struct client *cls = calloc((size_t)o.clients, sizeof *cls);
    if (!cls)
        die("out of memory for %ld clients", o.clients);
    int err = pthread_barrier_init(&ready, NULL, (unsigned)o.clients + 1);
    if (err)
        die("pthread_barrier_init: %s", strerror(err));
    atomic_init(&remaining, o.requests);
    atomic_init(&setup_failed, false);
    for (long i = 0; i < o.clients; i++) {
        cls[i].index = (int)i;
        cls[i].o = &o;
        if ((err = pthread_create(&cls[i].thread, NULL, client_main, &cls[i])))
            die("starting client %ld: %s", i, strerror(err));
    }
    pthread_barrier_wait(&ready);   /* every client has warmed up */
    t_start_ms = now_ms();
    deadline_ms = t_start_ms + o.duration_s * 1e3;
    pthread_barrier_wait(&ready);
    for (long i = 0; i < o.clients; i++)
        pthread_join(cls[i].thread, NULL);
    double elapsed_ms = now_ms() - t_start_ms;

    for (long i = 0; i < o.clients; i++)
        if (cls[i].setup_failed)
            die("client %ld failed before the timed part: %s", i,
                cls[i].first_error[0] ? cls[i].first_error : "(no detail)");

    size_t total = 0, total_srv = 0;
    long failures = 0, transport = 0, connects = 0, codes[MAX_CODE] = {0};
    for (long i = 0; i < o.clients; i++) {
        total += cls[i].n;
        total_srv += cls[i].n_srv;
        failures += cls[i].failures;
        transport += cls[i].transport_errors;
        connects += cls[i].connects;
        for (int c = 0; c < MAX_CODE; c++)
            codes[c] += cls[i].codes[c];
    }
    double *lat = malloc((total ? total : 1) * sizeof *lat);
    double *sq = malloc((total_srv ? total_srv : 1) * sizeof *sq);
    double *ss = malloc((total_srv ? total_srv : 1) * sizeof *ss);
    double *sr = malloc((total_srv ? total_srv : 1) * sizeof *sr);
    json_t *statuses = json_object(), *jcodes = json_object();
    if (!lat || !sq || !ss || !sr || !statuses || !jcodes)
        die("out of memory for %zu latencies", total);
    size_t k = 0, ks = 0;
    double sum = 0;
    for (long i = 0; i < o.clients; i++) {
        for (size_t j = 0; j < cls[i].n; j++) {
            lat[k++] = cls[i].lat_ms[j];
            sum += cls[i].lat_ms[j];
        }
        for (size_t j = 0; j < cls[i].n_srv; j++, ks++) {
            sq[ks] = cls[i].srv[j].queued;
            ss[ks] = cls[i].srv[j].setup;
            sr[ks] = cls[i].srv[j].run;
        }
        const char *key;
        json_t *v;
        json_object_foreach(cls[i].statuses, key, v) {
            json_t *have = json_object_get(statuses, key);
            json_object_set_new(statuses, key, json_integer(json_integer_value(v) +
                                                            (have ? json_integer_value(have) : 0)));
        }
    }
    qsort(lat, total, sizeof *lat, cmp_double);
    for (int c = 0; c < MAX_CODE; c++) {
        if (codes[c]) {
            char key[16];
            snprintf(key, sizeof key, "%d", c);
            json_object_set_new(jcodes, key, json_integer(codes[c]));
        }
    }
    json_t *out = json_pack(
        "{s:I, s:I, s:I, s:I, s:I, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:I, s:o, s:o,"
        " s:{s:o, s:o, s:o}}",
        "clients", (json_int_t)o.clients, "requests", (json_int_t)total,
        "failures", (json_int_t)failures, "transport_errors", (json_int_t)transport,
        "connections", (json_int_t)connects,
        "duration_s", round3(elapsed_ms / 1e3),
        "throughput_rps", round3(elapsed_ms > 0 ? (double)total / (elapsed_ms / 1e3) : 0),
        "p50_ms", round3(pct(lat, total, 50)), "p90_ms", round3(pct(lat, total, 90)),
        "p99_ms", round3(pct(lat, total, 99)), "max_ms", round3(total ? lat[total - 1] : 0),
        "min_ms", round3(total ? lat[0] : 0), "mean_ms", round3(total ? sum / (double)total : 0),
        "warmup_per_client", (json_int_t)o.warmup, "codes", jcodes, "statuses", statuses,
        "server_p50_ms", "queued", server_median(sq, total_srv),
        "setup", server_median(ss, total_srv), "run", server_median(sr, total_srv));
    if (!out)
        die("building the output JSON failed");
    json_dumpf(out, stdout, JSON_COMPACT | JSON_REAL_PRECISION(10));
    fputc('\n', stdout);
    fflush(stdout);
    json_decref(out);

    /* One line per distinct first error, so a failing run says why. */
    for (long i = 0; i < o.clients; i++) {
        if (!cls[i].first_error[0])
            continue;
        bool seen = false;
        for (long j = 0; j < i && !seen; j++)
            seen = strcmp(cls[j].first_error, cls[i].first_error) == 0;
        if (!seen)
            fprintf(stderr, "load: client %ld: first failure: %s\n", i, cls[i].first_error);
    }
    for (long i = 0; i < o.clients; i++) {
        curl_easy_cleanup(cls[i].h);
        curl_slist_free_all(cls[i].headers);
        json_decref(cls[i].statuses);
        free(cls[i].answer.p);
        free(cls[i].lat_ms);
        free(cls[i].srv);
    }
    free(cls);
    free(lat);
    free(sq);
    free(ss);
    free(sr);
    free(o.body);
    pthread_barrier_destroy(&ready);
    curl_global_cleanup();
    if (transport) {
        fprintf(stderr, "load: %ld of %zu requests failed at the transport level\n", transport,
                total);
        return 1;
    }
    return 0;
}
