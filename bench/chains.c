/* chains: the two sides of the workflow benchmark (bench/workflows.py), in C so
 * that the client's own cost stays out of what is measured.
 *
 * N clients, each a thread with one kept-alive libcurl connection that is made
 * (GET /v1/health) before the start line; then all start at once and each runs
 * a chain of S trivial steps:
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
 * Prints one JSON object: wall_s (start line to the last client's end),
 * submit_ms (workflows: each submission's latency), failures, first_failure.
 * Exit status 0 when every chain ran as expected, 1 when some did not, 2 on a
 * usage or setup error.
 */
#include <getopt.h>
#include <jansson.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>

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
    CURL *h;
    struct curl_slist *headers;
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

/* One request on the client's connection; the answer's code, 0 when none came. */
static long request(struct client *cl, const char *method, const char *path, const char *body)
{
    char url[256];
    snprintf(url, sizeof url, "http://sandboxd%s", path);
    cl->answer.len = 0;
    if (cl->answer.p)
        cl->answer.p[0] = '\0';
    curl_easy_setopt(cl->h, CURLOPT_URL, url);
    if (body) {
        curl_easy_setopt(cl->h, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(cl->h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(body));
    } else {
        curl_easy_setopt(cl->h, CURLOPT_HTTPGET, 1L);
    }
    curl_easy_setopt(cl->h, CURLOPT_CUSTOMREQUEST, method);
    CURLcode rc = curl_easy_perform(cl->h);
    long code = 0;
    if (rc != CURLE_OK) {
        fail(cl, "%s %s: %s", method, path, curl_easy_strerror(rc));
        return 0;
    }
    curl_easy_getinfo(cl->h, CURLINFO_RESPONSE_CODE, &code);
    return code;
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
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        die("curl_global_init failed");
    struct client *cls = calloc((size_t)o.clients, sizeof *cls);
    if (!cls)
        die("out of memory");
    if (pthread_barrier_init(&start_line, NULL, (unsigned)o.clients + 1))
        die("pthread_barrier_init failed");
    for (long i = 0; i < o.clients; i++) {
        struct client *cl = &cls[i];
        cl->o = &o;
        cl->headers = curl_slist_append(NULL, "Content-Type: application/json");
        cl->headers = curl_slist_append(cl->headers, "Expect:");
        if (!(cl->h = curl_easy_init()) || !cl->headers)
            die("setting up curl: out of memory");
        curl_easy_setopt(cl->h, CURLOPT_UNIX_SOCKET_PATH, o.socket);
        curl_easy_setopt(cl->h, CURLOPT_HTTPHEADER, cl->headers);
        curl_easy_setopt(cl->h, CURLOPT_WRITEFUNCTION, on_body);
        curl_easy_setopt(cl->h, CURLOPT_WRITEDATA, &cl->answer);
        curl_easy_setopt(cl->h, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(cl->h, CURLOPT_TIMEOUT, 600L);
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
        curl_easy_cleanup(cl->h);
        curl_slist_free_all(cl->headers);
        free(cl->answer.p);
    }
    json_object_set_new(out, "failures", json_integer(failures));
    json_dumpf(out, stdout, JSON_COMPACT);
    putchar('\n');
    json_decref(out);
    free(cls);
    free(o.workflow_body);
    pthread_barrier_destroy(&start_line);
    curl_global_cleanup();
    return failures ? 1 : 0;
}
