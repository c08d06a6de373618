#include "metrics.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* HTTP codes we answer with; anything else lands in the last slot ("other"). */
static const unsigned codes[] = {200, 400, 401, 404, 405, 413, 415, 429, 499, 500, 503};
#define N_CODES (sizeof codes / sizeof *codes)
#define N_STATUS (RT_STATUS_ERROR + 1)

static const double run_buckets[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30,
                                     60, 300};
static const double setup_buckets[] = {0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                       1};
#define N_RUN (sizeof run_buckets / sizeof *run_buckets)
#define N_SETUP (sizeof setup_buckets / sizeof *setup_buckets)

struct histogram {
    uint64_t counts[16];       /* per bucket, not cumulative; the last is +Inf */
    uint64_t n;
    double sum;
};

static const char *const wf_statuses[] = {"succeeded", "failed", "cancelled", "timed_out",
                                          "budget_exceeded"};
static const char *const step_statuses[] = {"ok", "failed", "skipped", "cancelled"};
#define N_WF (sizeof wf_statuses / sizeof *wf_statuses)
#define N_STEP (sizeof step_statuses / sizeof *step_statuses)
static const double wf_buckets[] = {0.01, 0.05, 0.1, 0.5, 1, 5, 10, 60, 300, 1800, 3600, 86400};
#define N_WF_B (sizeof wf_buckets / sizeof *wf_buckets)

static struct {
    pthread_mutex_t lock;
    uint64_t requests[SD_ROUTE_COUNT][N_CODES + 1];
    uint64_t executions[N_STATUS];
    struct histogram run, setup;
    uint64_t workflows[N_WF], steps[N_STEP];
    struct histogram wf_duration, step_duration;
    double cost_usd;
    unsigned wf_active;
} m = {.lock = PTHREAD_MUTEX_INITIALIZER};

static const char *const route_names[] = {"/v1/health", "/v1/info", "/v1/languages", "/v1/exec",
                                          "/metrics", "/v1/workflows", "other"};

const char *sd_route_name(sd_route r)
{
    return route_names[r];
}

void sd_metrics_request(sd_route route, unsigned http_status)
{
    size_t i = 0;
    while (i < N_CODES && codes[i] != http_status)
        i++;
    pthread_mutex_lock(&m.lock);
    m.requests[route][i]++;
    pthread_mutex_unlock(&m.lock);
}

static void observe(struct histogram *h, const double *bounds, size_t n, double v)
{
    size_t i = 0;
    while (i < n && v > bounds[i])
        i++;
    h->counts[i]++;
    h->n++;
    h->sum += v;
}

void sd_metrics_execution(rt_status status, double run_ms, double setup_ms)
{
    pthread_mutex_lock(&m.lock);
    m.executions[status]++;
    observe(&m.run, run_buckets, N_RUN, run_ms / 1e3);
    observe(&m.setup, setup_buckets, N_SETUP, setup_ms / 1e3);
    pthread_mutex_unlock(&m.lock);
}

static size_t name_slot(const char *const *names, size_t n, const char *s)
{
    size_t i = 0;
    while (i < n && strcmp(names[i], s) != 0)
        i++;
    return i;
}

void sd_metrics_workflow(const char *status, double duration_ms, double usd)
{
    size_t i = name_slot(wf_statuses, N_WF, status);
    pthread_mutex_lock(&m.lock);
    if (i < N_WF)
        m.workflows[i]++;
    observe(&m.wf_duration, wf_buckets, N_WF_B, duration_ms / 1e3);
    m.cost_usd += usd;
    pthread_mutex_unlock(&m.lock);
}

void sd_metrics_step(const char *status, double duration_ms)
{
    size_t i = name_slot(step_statuses, N_STEP, status);
    pthread_mutex_lock(&m.lock);
    if (i < N_STEP)
        m.steps[i]++;
    observe(&m.step_duration, wf_buckets, N_WF_B, duration_ms / 1e3);
    pthread_mutex_unlock(&m.lock);
}

void sd_metrics_workflows_active(unsigned n)
{
    pthread_mutex_lock(&m.lock);
    m.wf_active = n;
    pthread_mutex_unlock(&m.lock);
}

/* A growing text buffer; on allocation failure it stays NULL and render says so. */
struct text {
    char *p;
    size_t len, cap;
};

__attribute__((format(printf, 2, 3))) static void add(struct text *t, const char *fmt, ...)
{
    if (!t->p && t->cap)
        return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(t->p ? t->p + t->len : NULL, t->p ? t->cap - t->len : 0, fmt, ap);
        va_end(ap);
        if (n < 0)
            return;
        if (t->p && t->len + (size_t)n < t->cap) {
            t->len += (size_t)n;
            return;
        }
        size_t cap = (t->cap ? t->cap * 2 : 8192) + (size_t)n;
        char *p = realloc(t->p, cap);
        if (!p) {
            free(t->p);
            *t = (struct text){.cap = 1};
            return;
        }
        t->p = p;
        t->cap = cap;
    }
}

static void add_histogram(struct text *t, const char *name, const char *help,
                          const struct histogram *h, const double *bounds, size_t n)
{
    add(t, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name);
    uint64_t cum = 0;
    for (size_t i = 0; i < n; i++) {
        cum += h->counts[i];
        add(t, "%s_bucket{le=\"%g\"} %llu\n", name, bounds[i], (unsigned long long)cum);
    }
    add(t, "%s_bucket{le=\"+Inf\"} %llu\n%s_sum %.6f\n%s_count %llu\n", name,
        (unsigned long long)h->n, name, h->sum, name, (unsigned long long)h->n);
}

char *sd_metrics_render(unsigned running, unsigned queued, unsigned max_running,
                        unsigned max_queue)
{
    struct text t = {0};
    pthread_mutex_lock(&m.lock);
    add(&t, "# HELP sandboxd_http_requests_total HTTP requests answered, by route and status "
            "code.\n# TYPE sandboxd_http_requests_total counter\n");
    for (size_t r = 0; r < SD_ROUTE_COUNT; r++)
        for (size_t c = 0; c <= N_CODES; c++)
            if (m.requests[r][c]) {
                char code[16] = "other";
                if (c < N_CODES)
                    snprintf(code, sizeof code, "%u", codes[c]);
                add(&t, "sandboxd_http_requests_total{route=\"%s\",code=\"%s\"} %llu\n",
                    route_names[r], code, (unsigned long long)m.requests[r][c]);
            }
    add(&t, "# HELP sandboxd_executions_total Sandboxes run, by result status.\n"
            "# TYPE sandboxd_executions_total counter\n");
    for (int s = 0; s < (int)N_STATUS; s++)
        add(&t, "sandboxd_executions_total{status=\"%s\"} %llu\n", rt_status_name((rt_status)s),
            (unsigned long long)m.executions[s]);
    add_histogram(&t, "sandboxd_execution_duration_seconds",
                  "Time from sandbox start to result (setup and run).", &m.run, run_buckets,
                  N_RUN);
    add_histogram(&t, "sandboxd_setup_duration_seconds",
                  "Time from an admitted request to the command's exec.", &m.setup,
                  setup_buckets, N_SETUP);
    add(&t, "# HELP sandboxd_workflows_total Workflows ended, by status.\n"
            "# TYPE sandboxd_workflows_total counter\n");
    for (size_t i = 0; i < N_WF; i++)
        add(&t, "sandboxd_workflows_total{status=\"%s\"} %llu\n", wf_statuses[i],
            (unsigned long long)m.workflows[i]);
    add(&t, "# HELP sandboxd_workflows_active Workflows queued or running.\n"
            "# TYPE sandboxd_workflows_active gauge\nsandboxd_workflows_active %u\n",
        m.wf_active);
    add(&t, "# HELP sandboxd_workflow_steps_total Workflow steps ended, by status.\n"
            "# TYPE sandboxd_workflow_steps_total counter\n");
    for (size_t i = 0; i < N_STEP; i++)
        add(&t, "sandboxd_workflow_steps_total{status=\"%s\"} %llu\n", step_statuses[i],
            (unsigned long long)m.steps[i]);
    add_histogram(&t, "sandboxd_workflow_duration_seconds", "Workflow wall time, start to end.",
                  &m.wf_duration, wf_buckets, N_WF_B);
    add_histogram(&t, "sandboxd_workflow_step_duration_seconds",
                  "Workflow step wall time, start to end (retries included).",
                  &m.step_duration, wf_buckets, N_WF_B);
    add(&t, "# HELP sandboxd_workflow_cost_usd_total Cost of the workflows ended, in USD.\n"
            "# TYPE sandboxd_workflow_cost_usd_total counter\n"
            "sandboxd_workflow_cost_usd_total %.9f\n", m.cost_usd);
    pthread_mutex_unlock(&m.lock);
    add(&t, "# HELP sandboxd_sandboxes_running Sandboxes running now.\n"
            "# TYPE sandboxd_sandboxes_running gauge\nsandboxd_sandboxes_running %u\n"
            "# HELP sandboxd_queue_depth Requests waiting for a sandbox slot.\n"
            "# TYPE sandboxd_queue_depth gauge\nsandboxd_queue_depth %u\n"
            "# HELP sandboxd_max_running Configured sandbox slots.\n"
            "# TYPE sandboxd_max_running gauge\nsandboxd_max_running %u\n"
            "# HELP sandboxd_max_queue Configured queue length.\n"
            "# TYPE sandboxd_max_queue gauge\nsandboxd_max_queue %u\n",
        running, queued, max_running, max_queue);
    return t.p;
}
