#include "engine.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "index.h"
#include "parse.h"
#include "spec_json.h"
#include "timers.h"

#define MAX_ITEMS 10000               /* elements of one fan-out */
#define ACCEPT_FIRST_MS 50            /* at most this long a queued run waits for submissions */
#define SBX_DIR "/run/sbx"            /* the attempt's own directory, in the sandbox */

/* An item is one run of a step: the step itself, or one element of its fan-out. */
enum item_state { IT_WAIT, IT_BACKOFF, IT_RUNNING, IT_OK, IT_FAILED, IT_CANCELLED };
static const char *const item_names[] = {"pending", "backoff", "running", "ok", "failed",
                                         "cancelled"};

enum step_state { ST_PENDING, ST_RUNNING, ST_OK, ST_FAILED, ST_SKIPPED, ST_CANCELLED };
static const char *const step_names[] = {"pending", "running", "ok", "failed", "skipped",
                                         "cancelled"};

enum approval { AP_NONE, AP_WAITING, AP_APPROVED, AP_REJECTED, AP_TIMED_OUT };
static const char *const approval_names[] = {"none", "waiting", "approved", "rejected",
                                             "timed_out"};

/* Why a workflow is being stopped before its steps are done. */
enum stop_reason { STOP_NONE, STOP_CANCEL, STOP_TIMEOUT, STOP_BUDGET, STOP_ERROR };
/* What an attempt's stop flag asks for. */
enum { HALT_NONE, HALT_CANCEL, HALT_SHUTDOWN };

struct attempt;

struct item {
    enum item_state st;
    json_t *value;              /* the fan-out element, or NULL */
    unsigned attempts;          /* started so far */
    int64_t next_at;            /* IT_BACKOFF: when to start again (wall ms) */
    char *sandbox_status;       /* of the last attempt */
    char *error;
    json_t *outputs;            /* object, once ok */
    double usd, cpu_s;
    struct attempt *run;
};

struct step {
    enum step_state st;
    bool expanded;              /* items made: when and for_each evaluated */
    bool fan_out;
    struct item *items;
    size_t n_items;
    char *sandbox_status, *error;
    int64_t started_ms, finished_ms;
    json_t *outputs;
    enum approval approval;
    int64_t approval_deadline;
    char *approval_comment;
    double usd, cpu_s;
    unsigned attempt_base;      /* attempts numbered before the latest retry */
    bool dirty;                 /* changed since it was last written */
};

struct run {                    /* a workflow that has not ended */
    /* What a scheduler pass reads of the runs it looks at (see take_due), together
     * at the start: a line or two of each, not a page. */
    struct run *next, *prev;    /* e->runs, oldest first */
    const char *status;         /* status_queued, or another literal */
    bool moved;                 /* something happened to it since */
    bool wants_slot;            /* it could start an attempt but for max_running */
    bool watched;               /* on e->watch */
    bool due;                   /* on the list of the pass under way */
    orch_timer timer;           /* its next timer (timer.at); in e->timers between passes
                                 * unless never or out of memory */
    uint64_t seq;               /* adopted after every run of a lower one */
    struct run *watch_next, *watch_prev, *due_next;
    char id[ORCH_STORE_ID_MAX];
    orch_index_entry by_id;     /* in e->by_id, when indexed */
    bool indexed;
    char *name;
    orch_workflow *wf;
    enum stop_reason stopping;
    int64_t created_ms, started_ms, finished_ms, deadline;
    struct step *steps;
    unsigned running;           /* attempts */
    double usd, cpu_s;          /* every attempt ever */
    double base_usd, base_cpu_s; /* spent before the latest retry: the budget is per run */
    unsigned runs;              /* 1 + retries */
    char *error;
    int64_t last_seq;           /* of its latest event */
    json_t *ctx;                /* template context: inputs, steps */
    char *dir;                  /* <state>/workflows/<id> (a PATH_MAX array here
                                 * would put every run on pages of its own) */
    bool state_dirty;           /* its row changed since it was last written */
    bool listed_dirty;          /* on the engine's dirty list */
    struct run *next_dirty;
};

/* The one "queued" a run's status points to, so that a pass compares pointers. */
static const char status_queued[] = "queued";

struct attempt {
    orch_engine *e;
    struct run *r;
    size_t step, item;
    unsigned no;
    rt_spec spec;
    char dir[PATH_MAX];
    atomic_int stop;
    rt_result res;
    int rc;
    rt_error err;
    /* What the step left in its directory ($SBX_OUTPUT, $SBX_COSTS), read by
     * the attempt's thread; problem: why they could not be read. */
    json_t *values, *reported;
    double reported_usd;
    char *problem;
    int64_t started_ms;
    pthread_t thread;
    struct attempt *next_done;
};

/* A follower of one workflow's events (GET .../events), waiting in
 * orch_engine_wait_workflow: an event wakes only its own followers, once its
 * transaction has committed (wake_followers). */
struct watcher {
    struct run *r;              /* NULL once the workflow has ended */
    int64_t after;              /* the last event it has */
    pthread_cond_t cond;
    struct watcher *next;
};

struct orch_engine {
    orch_engine_config cfg;
    pthread_mutex_t lock;
    int wake_fd;                /* eventfd: the scheduler has work to do */
    pthread_mutex_t inbox_lock; /* guards inbox */
    struct run *inbox;          /* submitted, not yet taken by the scheduler */
    atomic_uint accepting;      /* submissions in orch_engine_submit */
    bool tx_open;               /* a store transaction of the thread holding lock */
    pthread_cond_t idle;        /* no attempt running */
    pthread_cond_t events;      /* an event was stored */
    uint64_t event_gen;
    unsigned gen_waiters;       /* in orch_engine_wait_event */
    bool announced;             /* events since followers were last woken */
    struct watcher *watchers;
    struct run *runs, *runs_last; /* active, oldest first */
    struct run *watch;          /* runs the next pass looks at whatever their timer */
    orch_timers timers;         /* the other runs are looked at when theirs is due */
    orch_index by_id;           /* the active runs */
    unsigned unindexed;         /* active runs that could not be indexed (ENOMEM) */
    uint64_t adopt_seq;         /* the latest run's seq */
    struct run *dirty;          /* runs with rows to write before the commit */
    struct attempt *done;
    unsigned running;
    bool stopping;
    pthread_t thread;
    char wf_dir[PATH_MAX];      /* <state>/workflows */
};

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void cond_init_mono(pthread_cond_t *c)
{
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(c, &attr);
    pthread_condattr_destroy(&attr);
}

static void wait_ms(pthread_cond_t *c, pthread_mutex_t *m, int64_t ms)
{
    struct timespec dl;
    clock_gettime(CLOCK_MONOTONIC, &dl);
    if (ms > 24 * 3600 * 1000LL)
        ms = 24 * 3600 * 1000LL;
    dl.tv_sec += ms / 1000;
    dl.tv_nsec += (ms % 1000) * 1000000L;
    if (dl.tv_nsec >= 1000000000L) {
        dl.tv_sec++;
        dl.tv_nsec -= 1000000000L;
    }
    pthread_cond_timedwait(c, m, &dl);
}

bool orch_workflow_status_final(const char *s)
{
    if (!s)
        return false;
    static const char *const final[] = {"succeeded", "failed", "cancelled", "timed_out",
                                        "budget_exceeded"};
    for (size_t i = 0; i < sizeof final / sizeof *final; i++)
        if (strcmp(s, final[i]) == 0)
            return true;
    return false;
}

static void log_store_error(const char *what, const rt_error *err)
{
    fprintf(stderr, "%s: workflow store: %s: %s\n", program_invocation_short_name, what, err->msg);
}

/* The store's writes of one pass of the scheduler (the attempts that ended,
 * then every workflow moved on) go in one transaction, opened at the first
 * write and committed before the engine's lock is released: one commit per
 * pass. A step's or a workflow's row is written once per transaction, when it
 * commits, however often it changed in it (save_step and save_run mark it).
 * The file work of a step is kept out of transactions (its attempt's
 * directory is made, read and removed by the attempt's thread, the workspace
 * is made between two transactions), so that submissions, which wait for the
 * store, wait for little file system work. */
static void tx_need(orch_engine *e)
{
    rt_error err;
    if (e->tx_open)
        return;
    if (orch_store_begin(e->cfg.store, &err) == 0)
        e->tx_open = true;
    else
        log_store_error("starting a transaction", &err);
}

static void flush_dirty(orch_engine *e);
static void wake_followers(orch_engine *e);

/* Commits what the piece of work wrote, then wakes whoever waits for its
 * events. Called before the engine's lock is released. */
static void tx_end(orch_engine *e)
{
    rt_error err;
    flush_dirty(e);
    if (e->tx_open) {
        e->tx_open = false;
        if (orch_store_commit(e->cfg.store, &err) < 0)
            log_store_error("committing", &err);
    }
    wake_followers(e);
}


static void wake(orch_engine *e)
{
    uint64_t one = 1;
    while (write(e->wake_fd, &one, sizeof one) < 0 && errno == EINTR)
        ;
}

/* Puts r on the watch list: the next pass looks at it. */
static void watch(orch_engine *e, struct run *r)
{
    if (r->watched)
        return;
    r->watched = true;
    r->watch_prev = NULL;
    r->watch_next = e->watch;
    if (e->watch)
        e->watch->watch_prev = r;
    e->watch = r;
}

static void unwatch(orch_engine *e, struct run *r)
{
    if (!r->watched)
        return;
    r->watched = false;
    *(r->watch_prev ? &r->watch_prev->watch_next : &e->watch) = r->watch_next;
    if (r->watch_next)
        r->watch_next->watch_prev = r->watch_prev;
}

/* Something happened to r that the next pass must act on. */
static void mark_moved(orch_engine *e, struct run *r)
{
    r->moved = true;
    watch(e, r);
}

static void replace_str(char **slot, const char *s)
{
    free(*slot);
    *slot = s ? strdup(s) : NULL;
}

/* ---- persistence: every change is stored, then announced ---- */

static json_t *cost_json(double usd, double cpu_s)
{
    return json_pack("{s:f,s:f}", "usd", usd, "cpu_seconds", cpu_s);
}

static json_t *item_state_json(const struct step *s, const struct item *it, size_t index)
{
    json_t *j = json_pack("{s:I,s:s,s:I,s:o,s:o}", "index", (json_int_t)index, "status",
                          item_names[it->st], "attempts", (json_int_t)it->attempts, "cost",
                          cost_json(it->usd, it->cpu_s), "outputs",
                          it->outputs ? json_incref(it->outputs) : json_null());
    if (!j)
        return NULL;
    if (s->fan_out)
        json_object_set(j, "item", it->value ? it->value : json_null());
    json_object_set_new(j, "sandbox_status",
                        it->sandbox_status ? json_string(it->sandbox_status) : json_null());
    json_object_set_new(j, "error", it->error ? json_string(it->error) : json_null());
    if (it->st == IT_BACKOFF)
        json_object_set_new(j, "next_attempt_ms", json_integer(it->next_at));
    return j;
}

static json_t *step_state_json(const struct run *r, size_t i)
{
    const struct step *s = &r->steps[i];
    json_t *items = json_array();
    json_t *j = json_pack("{s:s,s:s,s:b,s:o,s:o}", "id", r->wf->steps[i].id, "status",
                          step_names[s->st], "fan_out", s->fan_out, "cost",
                          cost_json(s->usd, s->cpu_s), "items", items);
    if (!j)
        return NULL;
    for (size_t k = 0; k < s->n_items; k++)
        json_array_append_new(items, item_state_json(s, &s->items[k], k));
    json_object_set_new(j, "sandbox_status",
                        s->sandbox_status ? json_string(s->sandbox_status) : json_null());
    json_object_set_new(j, "error", s->error ? json_string(s->error) : json_null());
    json_object_set_new(j, "started_ms", s->started_ms ? json_integer(s->started_ms) : json_null());
    json_object_set_new(j, "finished_ms",
                        s->finished_ms ? json_integer(s->finished_ms) : json_null());
    json_object_set(j, "outputs", s->outputs ? s->outputs : json_null());
    if (r->wf->steps[i].continue_on_error)
        json_object_set_new(j, "continue_on_error", json_true());
    if (s->attempt_base)
        json_object_set_new(j, "attempt_base", json_integer(s->attempt_base));
    if (s->approval != AP_NONE) {
        json_t *a = json_pack("{s:s,s:I}", "state", approval_names[s->approval], "deadline_ms",
                              (json_int_t)s->approval_deadline);
        if (a && s->approval_comment)
            json_object_set_new(a, "comment", json_string(s->approval_comment));
        json_object_set_new(j, "approval", a);
    }
    return j;
}

static json_t *run_state_json(const struct run *r)
{
    json_t *j = json_pack("{s:I,s:o,s:I,s:f,s:f,s:I}", "created_ms", (json_int_t)r->created_ms,
                          "cost", cost_json(r->usd, r->cpu_s), "runs", (json_int_t)r->runs,
                          "base_usd", r->base_usd, "base_cpu_seconds", r->base_cpu_s,
                          "deadline_ms", (json_int_t)r->deadline);
    if (!j)
        return NULL;
    json_object_set_new(j, "started_ms", r->started_ms ? json_integer(r->started_ms) : json_null());
    json_object_set_new(j, "finished_ms",
                        r->finished_ms ? json_integer(r->finished_ms) : json_null());
    json_object_set_new(j, "error", r->error ? json_string(r->error) : json_null());
    json_object_set(j, "inputs", r->wf->input_values);
    return j;
}

static void list_dirty(orch_engine *e, struct run *r)
{
    if (r->listed_dirty)
        return;
    r->listed_dirty = true;
    r->next_dirty = e->dirty;
    e->dirty = r;
}

/* Step i's row is written when the transaction commits (tx_end). */
static void save_step(orch_engine *e, struct run *r, size_t i)
{
    r->steps[i].dirty = true;
    list_dirty(e, r);
}

static void save_run(orch_engine *e, struct run *r)
{
    r->state_dirty = true;
    list_dirty(e, r);
}

/* Writes r's changed rows and takes it off the dirty list. */
static void flush_run(orch_engine *e, struct run *r)
{
    rt_error err;
    if (!r->listed_dirty)
        return;
    tx_need(e);
    for (size_t i = 0; i < r->wf->n_steps; i++) {
        if (!r->steps[i].dirty)
            continue;
        r->steps[i].dirty = false;
        json_t *st = step_state_json(r, i);
        if (!st || orch_store_step_put(e->cfg.store, r->id, (unsigned)i, st, &err) < 0)
            log_store_error("saving a step", st ? &err : &(rt_error){ENOMEM, "out of memory"});
        json_decref(st);
    }
    if (r->state_dirty) {
        r->state_dirty = false;
        json_t *st = run_state_json(r);
        if (!st || orch_store_workflow_update(e->cfg.store, r->id, r->status, st, &err) < 0)
            log_store_error("saving a workflow", st ? &err : &(rt_error){ENOMEM, "out of memory"});
        json_decref(st);
    }
    for (struct run **p = &e->dirty; *p; p = &(*p)->next_dirty)
        if (*p == r) {
            *p = r->next_dirty;
            break;
        }
    r->listed_dirty = false;
}

static void flush_dirty(orch_engine *e)
{
    while (e->dirty)
        flush_run(e, e->dirty);
}

/* Tells of an event stored as seq: the caller's hook, the run's latest, and
 * whoever follows the workflow's events. */
static void announce(orch_engine *e, struct run *r, int64_t seq, const json_t *ev)
{
    if (e->cfg.on_event)
        e->cfg.on_event(e->cfg.on_event_ctx, r->id, seq, ev);
    if (seq > r->last_seq)
        r->last_seq = seq;
    e->event_gen++;
    e->announced = true;
}

/* Wakes those who wait for the events announced since the last call, after
 * the commit that makes them readable: woken before it, a follower would only
 * wait again, for the store. Once per transaction, not once per event. */
static void wake_followers(orch_engine *e)
{
    if (!e->announced)
        return;
    e->announced = false;
    if (e->gen_waiters)
        pthread_cond_broadcast(&e->events);
    for (struct watcher *w = e->watchers; w; w = w->next)
        if (!w->r || w->r->last_seq > w->after)
            pthread_cond_signal(&w->cond);
}

/* Stores ev (stolen), an event of r, and announces it. */
static void emit(orch_engine *e, struct run *r, json_t *ev)
{
    rt_error err;
    int64_t seq = 0;
    if (!ev)
        return;
    tx_need(e);
    if (orch_store_event_append(e->cfg.store, r->id, ev, &seq, &err) < 0)
        log_store_error("appending an event", &err);
    else
        announce(e, r, seq, ev);
    json_decref(ev);
}

static void step_event(orch_engine *e, struct run *r, size_t i)
{
    const struct step *s = &r->steps[i];
    json_t *ev = json_pack("{s:s,s:s,s:s}", "type", "step", "step", r->wf->steps[i].id,
                           "status", step_names[s->st]);
    if (!ev)
        return;
    if (s->sandbox_status)
        json_object_set_new(ev, "sandbox_status", json_string(s->sandbox_status));
    if (s->error)
        json_object_set_new(ev, "error", json_string(s->error));
    if (s->fan_out)
        json_object_set_new(ev, "items", json_integer((json_int_t)s->n_items));
    if (s->finished_ms && s->started_ms)
        json_object_set_new(ev, "duration_ms", json_integer(s->finished_ms - s->started_ms));
    if (s->st >= ST_OK)
        json_object_set_new(ev, "cost", cost_json(s->usd, s->cpu_s));
    if (s->approval == AP_WAITING)
        json_object_set_new(ev, "approval", json_string("waiting"));
    emit(e, r, ev);
}

static json_t *run_event_json(const struct run *r)
{
    json_t *ev = json_pack("{s:s,s:s}", "type", "workflow", "status", r->status);
    if (!ev)
        return NULL;
    if (r->error)
        json_object_set_new(ev, "error", json_string(r->error));
    if (orch_workflow_status_final(r->status)) {
        json_object_set_new(ev, "cost", cost_json(r->usd, r->cpu_s));
        if (r->started_ms && r->finished_ms)
            json_object_set_new(ev, "duration_ms", json_integer(r->finished_ms - r->started_ms));
    }
    return ev;
}

static void run_event(orch_engine *e, struct run *r)
{
    emit(e, r, run_event_json(r));
}

static void step_changed(orch_engine *e, struct run *r, size_t i)
{
    save_step(e, r, i);
    step_event(e, r, i);
}

static void run_changed(orch_engine *e, struct run *r)
{
    save_run(e, r);
    run_event(e, r);
}

/* ---- templates ---- */

/* The text a value stands for in argv, env and stdin. */
static char *value_text(const json_t *v)
{
    if (json_is_string(v))
        return strndup(json_string_value(v), json_string_length(v));
    if (json_is_null(v))
        return strdup("");
    return json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
}

static json_t *render_text(const orch_template *t, const json_t *ctx, rt_error *err)
{
    json_t *v = NULL;
    if (orch_template_render(t, ctx, &v, err) < 0)
        return NULL;
    char *s = value_text(v);
    json_decref(v);
    if (!s) {
        rt_error_set(err, ENOMEM, "rendering");
        return NULL;
    }
    json_t *out = json_string(s);
    free(s);
    if (!out)
        rt_error_set(err, 0, "the value is not UTF-8 text");
    return out;
}

/* needs: what each needed step concluded; continue_on_error turns a failure into
 * "ok" for the steps after it. */
static void set_needs(const struct run *r, size_t i)
{
    const orch_step *st = &r->wf->steps[i];
    json_t *needs = json_object();
    for (size_t k = 0; k < st->n_needs; k++) {
        size_t n = st->needs[k];
        const struct step *d = &r->steps[n];
        const char *c = d->st == ST_FAILED && r->wf->steps[n].continue_on_error
                            ? "ok"
                            : step_names[d->st];
        json_object_set_new(needs, r->wf->steps[n].id, json_string(c));
    }
    json_object_set_new(r->ctx, "needs", needs);
}

static void set_item(const struct run *r, const struct step *s, size_t k)
{
    if (s->fan_out) {
        json_object_set(r->ctx, "item", s->items[k].value);
        json_object_set_new(r->ctx, "index", json_integer((json_int_t)k));
    } else {
        json_object_del(r->ctx, "item");
        json_object_del(r->ctx, "index");
    }
}

/* Every declared output is readable once the step has ended: null when the
 * step did not give it (skipped, failed, cancelled). */
static void publish_step(struct run *r, size_t i)
{
    const struct step *s = &r->steps[i];
    const orch_step *st = &r->wf->steps[i];
    json_t *steps = json_object_get(r->ctx, "steps"), *outputs = json_object();
    for (size_t n = 0; outputs && n < st->n_outputs; n++) {
        json_t *v = json_object_get(s->outputs, st->outputs[n].name);
        json_object_set(outputs, st->outputs[n].name, v ? v : json_null());
    }
    json_object_set_new(steps, st->id,
                        json_pack("{s:s,s:o}", "status", step_names[s->st], "outputs",
                                  outputs ? outputs : json_object()));
}

/* ---- directories: <state>/workflows/<id>/{workspace,runs/<attempt>} ---- */

/* As root the workflow's directory is a tmpfs of its own, so that the
 * workspace and the attempts' files are bounded in size; it stays mounted
 * across a restart of the daemon (the workspace survives a kill -9). */
static int make_run_dirs(orch_engine *e, struct run *r, rt_error *err)
{
    char p[PATH_MAX + 32];
    struct stat st, parent;
    bool root = geteuid() == 0;

    if (mkdir(r->dir, 0711) < 0 && errno != EEXIST)
        return rt_error_set(err, errno, "creating %s", r->dir);
    if (root && stat(r->dir, &st) == 0 && stat(e->wf_dir, &parent) == 0 &&
        st.st_dev == parent.st_dev) {
        char opts[96];
        snprintf(opts, sizeof opts, "size=%" PRIu64 ",mode=0711,nr_inodes=100000",
                 e->cfg.workspace_bytes + (16u << 20));
        if (mount("tmpfs", r->dir, "tmpfs", MS_NOSUID | MS_NODEV, opts) < 0)
            return rt_error_set(err, errno, "mounting the workspace tmpfs on %s", r->dir);
    }
    snprintf(p, sizeof p, "%s/workspace", r->dir);
    if (mkdir(p, 0755) < 0 && errno != EEXIST)
        return rt_error_set(err, errno, "creating %s", p);
    if (root && chown(p, RT_HOST_USER_UID, RT_HOST_USER_UID) < 0)
        return rt_error_set(err, errno, "chown %s", p);
    snprintf(p, sizeof p, "%s/runs", r->dir);
    if (mkdir(p, 0711) < 0 && errno != EEXIST)
        return rt_error_set(err, errno, "creating %s", p);
    return 0;
}

/* As root <state>/workflows is a tmpfs too, holding only the workflows'
 * directories (their mount points): on ext4 a workflow's mkdir took 0.3 ms
 * when workflows come and go at a high rate (the inode allocator skips
 * recently deleted inodes one by one). Mounted when the directory is empty, so
 * that directories of an older version stay reachable; left mounted while it
 * holds workflows, which outlive the daemon; unmounted by a stop that leaves
 * it empty. */
static bool is_mount_point(const char *dir, const char *parent)
{
    struct stat a, b;
    return stat(dir, &a) == 0 && stat(parent, &b) == 0 && a.st_dev != b.st_dev;
}

static bool dir_empty(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    bool empty = d != NULL;
    while (d && empty && (de = readdir(d)))
        empty = strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0;
    if (d)
        closedir(d);
    return empty;
}

static int mount_workflows_dir(orch_engine *e, rt_error *err)
{
    if (geteuid() != 0 || is_mount_point(e->wf_dir, e->cfg.state_dir) || !dir_empty(e->wf_dir))
        return 0;
    if (mount("tmpfs", e->wf_dir, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0711,size=1m") < 0)
        return rt_error_set(err, errno, "mounting a tmpfs on %s", e->wf_dir);
    return 0;
}

static void unmount_workflows_dir(orch_engine *e)
{
    if (is_mount_point(e->wf_dir, e->cfg.state_dir) && dir_empty(e->wf_dir) &&
        umount2(e->wf_dir, 0) < 0)
        fprintf(stderr, "%s: unmounting %s: %s\n", program_invocation_short_name, e->wf_dir,
                strerror(errno));
}

static int remove_run_dirs(const char *dir, rt_error *err)
{
    if (umount2(dir, MNT_DETACH) < 0 && errno != EINVAL && errno != ENOENT && errno != EPERM)
        return rt_error_set(err, errno, "unmounting %s", dir);
    return orch_remove_tree(dir, err);
}

/* The attempt's own directory (a->dir), bound at /run/sbx: $SBX_OUTPUT,
 * $SBX_COSTS and a code step's source. Owned by the sandbox user. */
static int make_attempt_dir(struct attempt *a, rt_error *err)
{
    if (orch_remove_tree(a->dir, err) < 0)
        return -1;
    if (mkdir(a->dir, 0700) < 0)
        return rt_error_set(err, errno, "creating %s", a->dir);
    if (geteuid() == 0 && chown(a->dir, RT_HOST_USER_UID, RT_HOST_USER_UID) < 0)
        return rt_error_set(err, errno, "chown %s", a->dir);
    return 0;
}

/* A code step's source goes into the attempt's directory (the workspace is
 * shared), and the language's command names it there. */
static int move_code(struct attempt *a, rt_error *err)
{
    rt_spec *sp = &a->spec;
    for (size_t i = 0; i < sp->n_files; i++) {
        const rt_file *f = &sp->files[i];
        char path[PATH_MAX + 300], inside[sizeof SBX_DIR + RT_MAX_FILE_PATH + 2];
        if (strchr(f->path, '/'))
            return rt_error_set(err, 0, "language: its file \"%s\" is in a directory, which "
                                        "workflow steps do not support", f->path);
        snprintf(path, sizeof path, "%s/%s", a->dir, f->path);
        int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                      f->executable ? 0755 : 0644);
        if (fd < 0)
            return rt_error_set(err, errno, "writing the code to %s", path);
        size_t off = 0;
        while (off < f->len) {
            ssize_t n = write(fd, f->data + off, f->len - off);
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0) {
                int saved = n < 0 ? errno : ENOSPC;
                close(fd);
                return rt_error_set(err, saved, "writing the code to %s", path);
            }
            off += (size_t)n;
        }
        if ((geteuid() == 0 && fchown(fd, RT_HOST_USER_UID, RT_HOST_USER_UID) < 0) ||
            close(fd) < 0)
            return rt_error_set(err, errno, "writing the code to %s", path);
        snprintf(inside, sizeof inside, SBX_DIR "/%s", f->path);
        for (char **arg = sp->argv; *arg; arg++) {
            if (strcmp(*arg, f->path) != 0)
                continue;
            char *s = strdup(inside);
            if (!s)
                return rt_error_set(err, ENOMEM, "argv");
            free(*arg);
            *arg = s;
        }
    }
    for (size_t i = 0; i < sp->n_files; i++) {
        free(sp->files[i].path);
        free(sp->files[i].data);
    }
    free(sp->files);
    sp->files = NULL;
    sp->n_files = 0;
    sp->workspace_tmpfs = false;
    return 0;
}

/* ---- attempts ---- */

static json_t *merged_limits(const orch_workflow *wf, const orch_step *st)
{
    json_t *l = wf->defaults.limits ? json_deep_copy(wf->defaults.limits) : json_object();
    if (l && st->limits)
        json_object_update(l, st->limits);
    if (l && st->timeout_ms)
        json_object_set_new(l, "timeout", json_integer((json_int_t)st->timeout_ms));
    return l;
}

static int render_env(json_t *env, const orch_env *v, size_t n, const json_t *ctx,
                      const char *where, rt_error *err)
{
    for (size_t i = 0; i < n; i++) {
        json_t *s = render_text(v[i].value, ctx, err);
        if (!s)
            return rt_error_wrap(err, "%s.%s", where, v[i].name);
        json_object_set_new(env, v[i].name, s);
    }
    return 0;
}

/* The exec request of item k of step i: templates rendered. */
static json_t *attempt_request(const struct run *r, size_t i, size_t k, unsigned no,
                               rt_error *err)
{
    const orch_step *st = &r->wf->steps[i];
    const json_t *ctx = r->ctx;
    char where[96];
    json_t *req = json_object(), *v, *env = json_object(), *limits = merged_limits(r->wf, st);
    if (!req || !env || !limits) {
        json_decref(req);
        json_decref(env);
        json_decref(limits);
        rt_error_set(err, ENOMEM, "building the request");
        return NULL;
    }
    json_object_set_new(req, "env", env);
    json_object_set_new(req, "limits", limits);
    snprintf(where, sizeof where, "steps[%zu]", i);
    switch (st->kind) {
    case ORCH_STEP_RUN:
        if (!(v = render_text(st->run, ctx, err))) {
            rt_error_wrap(err, "%s.run", where);
            goto fail;
        }
        json_object_set_new(req, "command", json_pack("[s,s,o]", "sh", "-c", v));
        break;
    case ORCH_STEP_COMMAND: {
        json_t *argv = json_array();
        json_object_set_new(req, "command", argv);
        for (size_t n = 0; n < st->n_command; n++) {
            if (!(v = render_text(st->command[n], ctx, err))) {
                rt_error_wrap(err, "%s.command[%zu]", where, n);
                goto fail;
            }
            json_array_append_new(argv, v);
        }
        break;
    }
    case ORCH_STEP_CODE:
        if (!(v = render_text(st->code, ctx, err))) {
            rt_error_wrap(err, "%s.code", where);
            goto fail;
        }
        json_object_set_new(req, "code", v);
        json_object_set_new(req, "language", json_string(st->language));
        break;
    }
    snprintf(where, sizeof where, "steps[%zu].env", i);
    if (render_env(env, r->wf->defaults.env, r->wf->defaults.n_env, ctx, "defaults.env", err) < 0 ||
        render_env(env, st->env, st->n_env, ctx, where, err) < 0)
        goto fail;
    char num[32];
    json_object_set_new(env, "SBX_OUTPUT", json_string(SBX_DIR "/output"));
    json_object_set_new(env, "SBX_COSTS", json_string(SBX_DIR "/costs"));
    json_object_set_new(env, "SBX_WORKFLOW_ID", json_string(r->id));
    json_object_set_new(env, "SBX_STEP", json_string(st->id));
    snprintf(num, sizeof num, "%u", no);
    json_object_set_new(env, "SBX_ATTEMPT", json_string(num));
    if (r->steps[i].fan_out) {
        snprintf(num, sizeof num, "%zu", k);
        json_object_set_new(env, "SBX_INDEX", json_string(num));
    }
    if (st->stdin_text) {
        if (!(v = render_text(st->stdin_text, ctx, err))) {
            rt_error_wrap(err, "steps[%zu].stdin", i);
            goto fail;
        }
        json_object_set_new(req, "stdin", v);
    }
    const char *profile = st->profile ? st->profile : r->wf->defaults.profile;
    const char *image = st->image ? st->image : r->wf->defaults.image;
    if (profile)
        json_object_set_new(req, "profile", json_string(profile));
    if (image)
        json_object_set_new(req, "image", json_string(image));
    return req;
fail:
    json_decref(req);
    return NULL;
}

static int read_step_files(const struct attempt *a, json_t **values, json_t **costs,
                           double *usd, rt_error *err);

/* The attempt's thread: its directory's file work (made, read, removed) is
 * done here, not by the scheduler, which holds the engine's lock. */
static void *attempt_main(void *arg)
{
    struct attempt *a = arg;
    orch_engine *e = a->e;
    rt_error err;
    (void)prctl(PR_SET_NAME, "sbx-step", 0, 0, 0);
    if (make_attempt_dir(a, &a->err) < 0 || move_code(a, &a->err) < 0) {
        rt_result_init(&a->res, a->spec.limits.output_bytes);
        a->rc = -1;
    } else {
        a->rc = e->cfg.exec.run(e->cfg.exec.ctx, &a->spec, &a->stop, &a->res, &a->err);
        if (read_step_files(a, &a->values, &a->reported, &a->reported_usd, &err) < 0)
            a->problem = strdup(err.msg);
    }
    orch_remove_tree(a->dir, &err);
    pthread_mutex_lock(&e->lock);
    a->next_done = e->done;
    e->done = a;
    pthread_mutex_unlock(&e->lock);
    wake(e);
    return NULL;
}

static void attempt_free(struct attempt *a)
{
    rt_spec_free(&a->spec);
    rt_result_free(&a->res);
    json_decref(a->values);
    json_decref(a->reported);
    free(a->problem);
    free(a);
}

static json_t *attempt_event(const struct run *r, size_t i, size_t k, unsigned no,
                             const char *status)
{
    json_t *ev = json_pack("{s:s,s:s,s:I,s:s}", "type", "attempt", "step", r->wf->steps[i].id,
                           "attempt", (json_int_t)no, "status", status);
    if (ev && r->steps[i].fan_out)
        json_object_set_new(ev, "index", json_integer((json_int_t)k));
    return ev;
}

static void item_fail(struct item *it, const char *sandbox_status, const char *msg)
{
    it->st = IT_FAILED;
    replace_str(&it->sandbox_status, sandbox_status);
    replace_str(&it->error, msg);
}

/* Budgets in CPU seconds also bound each attempt's CPU time, so that one
 * runaway step cannot spend far past them. */
static void cap_cpu(const struct run *r, rt_spec *sp)
{
    double left = r->wf->budget_cpu_seconds - (r->cpu_s - r->base_cpu_s);
    if (r->wf->budget_cpu_seconds <= 0)
        return;
    uint64_t ms = left > 0 ? (uint64_t)ceil(left * 1000) : 1;
    if (ms < sp->limits.cpu_ms)
        sp->limits.cpu_ms = ms ? ms : 1;
}

static void start_attempt(orch_engine *e, struct run *r, size_t i, size_t k)
{
    struct step *s = &r->steps[i];
    struct item *it = &s->items[k];
    struct attempt *a = calloc(1, sizeof *a);
    rt_error err;
    json_t *req = NULL;

    if (!a) {
        item_fail(it, "error", "out of memory");
        return;
    }
    rt_spec_init(&a->spec);
    a->e = e;
    a->r = r;
    a->step = i;
    a->item = k;
    a->no = s->attempt_base + ++it->attempts;
    snprintf(a->dir, sizeof a->dir, "%s/runs/%zu.%zu.%u", r->dir, i, k, a->no);
    set_item(r, s, k);
    if (!(req = attempt_request(r, i, k, a->no, &err)) ||
        e->cfg.exec.build(e->cfg.exec.ctx, req, &a->spec, &err) < 0) {
        item_fail(it, req ? "error" : NULL, err.msg);
        goto fail;
    }
    char ws[PATH_MAX + 16];
    snprintf(ws, sizeof ws, "%s/workspace", r->dir);
    free(a->spec.workspace);
    if (!(a->spec.workspace = strdup(ws)) ||
        rt_spec_add_mount(&a->spec, RT_MOUNT_BIND, a->dir, SBX_DIR, 0, &err) < 0) {
        item_fail(it, "error", "out of memory");
        goto fail;
    }
    /* /run/sbx is the same in every attempt: the root can be a prepared one. */
    a->spec.fixed_mounts = true;
    cap_cpu(r, &a->spec);
    a->started_ms = now_ms();
    json_t *row = json_pack("{s:s,s:I,s:n,s:n}", "status", "running", "started_ms",
                            (json_int_t)a->started_ms, "finished_ms", "result");
    tx_need(e);
    if (!row || orch_store_attempt_put(e->cfg.store, r->id, (unsigned)i, (unsigned)k, a->no, row,
                                       &err) < 0) {
        json_decref(row);
        item_fail(it, "error", row ? err.msg : "out of memory");
        goto fail;
    }
    json_decref(row);
    int rc = pthread_create(&a->thread, NULL, attempt_main, a);
    if (rc != 0) {
        rt_error_set(&err, rc, "starting a thread for the attempt");
        item_fail(it, "error", err.msg);
        goto fail;
    }
    json_decref(req);
    it->st = IT_RUNNING;
    it->run = a;
    r->running++;
    e->running++;
    save_step(e, r, i);
    emit(e, r, attempt_event(r, i, k, a->no, "running"));
    return;
fail:
    json_decref(req);
    attempt_free(a);
    save_step(e, r, i);
}

/* ---- what an attempt hands back ---- */

static json_t *text_value(const char *data, size_t len, const char *what, rt_error *err)
{
    json_t *v = json_stringn(data ? data : "", len);
    if (!v)
        rt_error_set(err, 0, "%s: not UTF-8 text", what);
    return v;
}

static int too_big(const char *what, size_t len, uint64_t max, rt_error *err)
{
    return rt_error_set(err, 0, "%s: %zu bytes, above the cap of %" PRIu64 " bytes", what, len,
                        max);
}

/* The declared outputs of an attempt that ended ok. */
static json_t *collect_outputs(const struct run *r, size_t i, const struct attempt *a,
                               const json_t *file_values, rt_error *err)
{
    const orch_step *st = &r->wf->steps[i];
    const rt_buf *out = &a->res.out;
    json_t *outputs = json_object();
    char what[ORCH_ID_MAX + 16], ws[PATH_MAX + 16];
    int wsfd = -1;

    if (!outputs) {
        rt_error_set(err, ENOMEM, "outputs");
        return NULL;
    }
    for (size_t n = 0; n < st->n_outputs; n++) {
        const orch_output *o = &st->outputs[n];
        json_t *v = NULL, *doc;
        char *data = NULL;
        size_t len = 0;
        int rc;
        snprintf(what, sizeof what, "outputs.%s", o->name);
        switch (o->from) {
        case ORCH_OUTPUT_OUTPUT:
            v = json_object_get(file_values, o->name);
            if (v && json_string_length(v) > o->max_bytes) {
                too_big(what, json_string_length(v), o->max_bytes, err);
                goto fail;
            }
            v = v ? json_incref(v) : json_null();
            break;
        case ORCH_OUTPUT_STDOUT:
        case ORCH_OUTPUT_STDOUT_JSON:
            if (out->truncated) {
                rt_error_set(err, 0, "%s: stdout was cut at the output limit of %zu bytes", what,
                             out->limit);
                goto fail;
            }
            if (out->len > o->max_bytes) {
                too_big(what, out->len, o->max_bytes, err);
                goto fail;
            }
            if (o->from == ORCH_OUTPUT_STDOUT) {
                if (!(v = text_value(out->data, out->len, what, err)))
                    goto fail;
                break;
            }
            json_error_t jerr;
            if (!(doc = json_loadb(out->data ? out->data : "", out->len, JSON_DECODE_ANY, &jerr))) {
                rt_error_set(err, 0, "%s: stdout is not JSON: line %d: %s", what, jerr.line,
                             jerr.text);
                goto fail;
            }
            v = o->path ? orch_json_select(doc, o->path, err) : json_incref(doc);
            json_decref(doc);
            if (!v) {
                rt_error_wrap(err, "%s: in stdout", what);
                goto fail;
            }
            break;
        case ORCH_OUTPUT_FILE:
            if (wsfd < 0) {
                snprintf(ws, sizeof ws, "%s/workspace", r->dir);
                if ((wsfd = open(ws, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
                    rt_error_set(err, errno, "%s: opening %s", what, ws);
                    goto fail;
                }
            }
            rc = orch_read_beneath(wsfd, o->path, o->max_bytes, &data, &len, err);
            if (rc < 0) {
                rt_error_wrap(err, "%s: /workspace/%s", what, o->path);
                goto fail;
            }
            v = rc == 1 ? json_null() : text_value(data, len, what, err);
            free(data);
            if (!v)
                goto fail;
            break;
        }
        json_object_set_new(outputs, o->name, v);
    }
    if (wsfd >= 0)
        close(wsfd);
    return outputs;
fail:
    if (wsfd >= 0)
        close(wsfd);
    json_decref(outputs);
    return NULL;
}

/* Reads $SBX_OUTPUT and $SBX_COSTS from the attempt's directory. */
static int read_step_files(const struct attempt *a, json_t **values, json_t **costs,
                           double *usd, rt_error *err)
{
    int dfd = open(a->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
    char *data = NULL;
    size_t len = 0;
    int rc;

    *values = NULL;
    *costs = NULL;
    *usd = 0;
    if (dfd < 0)
        return rt_error_set(err, errno, "opening %s", a->dir);
    rc = orch_read_beneath(dfd, "output", ORCH_MAX_OUTPUT_BYTES, &data, &len, err);
    if (rc == 0)
        rc = orch_output_file_parse(data, len, values, err);
    free(data);
    if (rc < 0) {
        close(dfd);
        return rt_error_wrap(err, "$SBX_OUTPUT");
    }
    data = NULL;
    rc = orch_read_beneath(dfd, "costs", ORCH_COSTS_MAX_BYTES, &data, &len, err);
    if (rc == 0)
        rc = orch_costs_parse(data, len, costs, usd, err);
    free(data);
    close(dfd);
    if (rc < 0)
        return rt_error_wrap(err, "$SBX_COSTS");
    return 0;
}

static bool all_items_done(const struct step *s)
{
    for (size_t k = 0; k < s->n_items; k++)
        if (s->items[k].st < IT_OK)
            return false;
    return true;
}

static void finish_step(orch_engine *e, struct run *r, size_t i)
{
    struct step *s = &r->steps[i];
    const orch_step *st = &r->wf->steps[i];
    bool failed = false, cancelled = false;

    for (size_t k = 0; k < s->n_items; k++) {
        const struct item *it = &s->items[k];
        if (it->st == IT_FAILED && !failed) {
            failed = true;
            replace_str(&s->sandbox_status, it->sandbox_status);
            if (s->fan_out && it->error) {
                char msg[RT_ERROR_MAX + 32];
                snprintf(msg, sizeof msg, "item %zu: %s", k, it->error);
                replace_str(&s->error, msg);
            } else {
                replace_str(&s->error, it->error);
            }
        }
        cancelled |= it->st == IT_CANCELLED;
    }
    s->st = failed ? ST_FAILED : cancelled ? ST_CANCELLED : ST_OK;
    if (!failed && !s->fan_out && s->n_items == 1)
        replace_str(&s->sandbox_status, s->items[0].sandbox_status);
    json_decref(s->outputs);
    s->outputs = json_object();
    for (size_t n = 0; n < st->n_outputs && s->outputs; n++) {
        const char *name = st->outputs[n].name;
        if (!s->fan_out) {
            json_t *v = s->n_items ? json_object_get(s->items[0].outputs, name) : NULL;
            json_object_set(s->outputs, name, v ? v : json_null());
            continue;
        }
        json_t *list = json_array();
        for (size_t k = 0; k < s->n_items; k++) {
            json_t *v = json_object_get(s->items[k].outputs, name);
            json_array_append(list, v ? v : json_null());
        }
        json_object_set_new(s->outputs, name, list);
    }
    s->finished_ms = now_ms();
    publish_step(r, i);
    step_changed(e, r, i);
}

static void begin_stop(orch_engine *e, struct run *r, enum stop_reason why, const char *msg);

static bool over_budget(const struct run *r)
{
    const orch_workflow *wf = r->wf;
    return (wf->budget_usd > 0 && r->usd - r->base_usd >= wf->budget_usd) ||
           (wf->budget_cpu_seconds > 0 && r->cpu_s - r->base_cpu_s >= wf->budget_cpu_seconds);
}

static uint64_t backoff_ms(const orch_retry *rt, unsigned attempts)
{
    double ms = (double)rt->backoff_ms;
    for (unsigned n = 1; n < attempts && ms < (double)rt->max_backoff_ms; n++)
        ms *= rt->factor;
    return ms > (double)rt->max_backoff_ms ? rt->max_backoff_ms : (uint64_t)ms;
}

static void handle_done(orch_engine *e, struct attempt *a)
{
    struct run *r = a->r;
    struct step *s = &r->steps[a->step];
    struct item *it = &s->items[a->item];
    const orch_step *st = &r->wf->steps[a->step];
    rt_error err;
    json_t *outputs = NULL;
    double usd = 0;
    char *problem = a->problem;   /* the thread's, or ours from here on */

    a->problem = NULL;
    pthread_join(a->thread, NULL);
    r->running--;
    mark_moved(e, r);
    e->running--;
    if (e->running == 0)
        pthread_cond_broadcast(&e->idle);
    it->run = NULL;
    int64_t end = now_ms();
    if (a->rc < 0)
        rt_result_set_error(&a->res, a->err.msg);
    json_t *row = json_pack("{s:s,s:I,s:I}", "status", "interrupted", "started_ms",
                            (json_int_t)a->started_ms, "finished_ms", (json_int_t)end);
    tx_need(e);
    if (atomic_load(&a->stop) == HALT_SHUTDOWN) {
        /* The item stays running in the store: the next start resumes it. */
        if (row && orch_store_attempt_put(e->cfg.store, r->id, (unsigned)a->step,
                                          (unsigned)a->item, a->no, row, &err) < 0)
            log_store_error("saving an attempt", &err);
        json_decref(row);
        free(problem);
        attempt_free(a);
        return;
    }
    json_t *result = rt_result_to_json(&a->res);
    json_t *priced = orch_prices_apply(&e->cfg.prices, &a->res.usage, &usd);
    double cpu_s = (a->res.usage.cpu_user_ms + a->res.usage.cpu_sys_ms) / 1000.0;
    usd += a->reported_usd;
    if (priced && a->reported)
        json_array_extend(priced, a->reported);
    if (result)
        json_object_set_new(result, "cost", json_pack("{s:f,s:o}", "usd", usd, "items",
                                                      priced ? priced : json_array()));
    it->usd += usd;
    it->cpu_s += cpu_s;
    s->usd += usd;
    s->cpu_s += cpu_s;
    r->usd += usd;
    r->cpu_s += cpu_s;

    rt_status status = a->res.status;
    if (status == RT_STATUS_OK && !problem &&
        !(outputs = collect_outputs(r, a->step, a, a->values, &err)))
        problem = strdup(err.msg);
    if (problem && result)
        json_object_set_new(result, "step_error", json_string(problem));
    if (row) {
        json_object_set_new(row, "status", json_string(rt_status_name(status)));
        json_object_set(row, "result", result ? result : json_null());
        if (orch_store_attempt_put(e->cfg.store, r->id, (unsigned)a->step, (unsigned)a->item,
                                   a->no, row, &err) < 0)
            log_store_error("saving an attempt", &err);
    }
    json_t *ev = attempt_event(r, a->step, a->item, a->no, rt_status_name(status));
    if (ev) {
        json_object_set_new(ev, "duration_ms", json_integer(end - a->started_ms));
        json_object_set_new(ev, "usd", json_real(usd));
        if (problem)
            json_object_set_new(ev, "error", json_string(problem));
    }

    replace_str(&it->sandbox_status, rt_status_name(status));
    if (status == RT_STATUS_OK && !problem) {
        it->st = IT_OK;
        replace_str(&it->error, NULL);
        json_decref(it->outputs);
        it->outputs = outputs;
        outputs = NULL;
    } else if (status == RT_STATUS_CANCELLED) {
        it->st = IT_CANCELLED;
        replace_str(&it->error, r->error ? r->error : "cancelled");
    } else {
        const char *msg = problem ? problem : a->res.error;
        char buf[256];
        if (!msg) {
            if (status == RT_STATUS_EXIT_NONZERO)
                snprintf(buf, sizeof buf, "exit code %d", a->res.exit_code);
            else if (status == RT_STATUS_SECCOMP && a->res.syscall)
                snprintf(buf, sizeof buf, "killed by the seccomp filter (%s)", a->res.syscall);
            else
                snprintf(buf, sizeof buf, "%s", rt_status_name(status));
            msg = buf;
        }
        replace_str(&it->error, msg);
        if (!problem && !r->stopping && it->attempts < st->retry.max_attempts &&
            (st->retry.on & (1u << status))) {
            uint64_t wait = backoff_ms(&st->retry, it->attempts);
            it->st = IT_BACKOFF;
            it->next_at = now_ms() + (int64_t)wait;
            if (ev)
                json_object_set_new(ev, "retry_in_ms", json_integer((json_int_t)wait));
        } else {
            it->st = IT_FAILED;
        }
    }
    emit(e, r, ev);
    json_decref(outputs);
    json_decref(result);
    json_decref(row);
    free(problem);
    attempt_free(a);
    save_step(e, r, (size_t)(s - r->steps));
    if (all_items_done(s) && s->st == ST_RUNNING)
        finish_step(e, r, (size_t)(s - r->steps));
    if (!r->stopping && over_budget(r)) {
        char msg[128];
        if (r->wf->budget_usd > 0 && r->usd - r->base_usd >= r->wf->budget_usd)
            snprintf(msg, sizeof msg, "the budget of %g USD is spent (%.6f USD)",
                     r->wf->budget_usd, r->usd - r->base_usd);
        else
            snprintf(msg, sizeof msg, "the budget of %g CPU-seconds is spent (%.3f)",
                     r->wf->budget_cpu_seconds, r->cpu_s - r->base_cpu_s);
        begin_stop(e, r, STOP_BUDGET, msg);
    }
}

/* ---- the scheduler ---- */

static void begin_stop(orch_engine *e, struct run *r, enum stop_reason why, const char *msg)
{
    r->stopping = why;
    mark_moved(e, r);
    replace_str(&r->error, msg);
    for (size_t i = 0; i < r->wf->n_steps; i++) {
        struct step *s = &r->steps[i];
        if (s->st == ST_PENDING) {
            s->st = ST_CANCELLED;
            s->approval = s->approval == AP_WAITING ? AP_NONE : s->approval;
            replace_str(&s->error, msg);
            s->finished_ms = now_ms();
            publish_step(r, i);
            step_changed(e, r, i);
            continue;
        }
        if (s->st != ST_RUNNING)
            continue;
        for (size_t k = 0; k < s->n_items; k++) {
            struct item *it = &s->items[k];
            if (it->st == IT_WAIT || it->st == IT_BACKOFF) {
                it->st = IT_CANCELLED;
                replace_str(&it->error, msg);
            } else if (it->st == IT_RUNNING) {
                atomic_store(&it->run->stop, HALT_CANCEL);
            }
        }
        save_step(e, r, i);
        if (all_items_done(s))
            finish_step(e, r, i);
    }
}

static void step_clear(struct step *s)
{
    for (size_t k = 0; k < s->n_items; k++) {
        json_decref(s->items[k].value);
        json_decref(s->items[k].outputs);
        free(s->items[k].sandbox_status);
        free(s->items[k].error);
    }
    free(s->items);
    free(s->sandbox_status);
    free(s->error);
    free(s->approval_comment);
    json_decref(s->outputs);
    memset(s, 0, sizeof *s);
}

static void run_free(struct run *r)
{
    if (!r)
        return;
    for (size_t i = 0; r->steps && r->wf && i < r->wf->n_steps; i++)
        step_clear(&r->steps[i]);
    free(r->steps);
    orch_workflow_free(r->wf);
    json_decref(r->ctx);
    free(r->name);
    free(r->error);
    free(r->dir);
    free(r);
}

static char *run_dir(const orch_engine *e, const char *id)
{
    char *s;
    return asprintf(&s, "%s/%s", e->wf_dir, id) < 0 ? NULL : s;
}

static void finish_run(orch_engine *e, struct run *r)
{
    bool failed = false;
    for (size_t i = 0; i < r->wf->n_steps; i++)
        if (r->steps[i].st == ST_FAILED && !r->wf->steps[i].continue_on_error) {
            if (!failed && !r->error) {
                char msg[ORCH_ID_MAX + 32];
                snprintf(msg, sizeof msg, "step %s failed", r->wf->steps[i].id);
                replace_str(&r->error, msg);
            }
            failed = true;
        }
    static const char *const by_reason[] = {
        [STOP_CANCEL] = "cancelled", [STOP_TIMEOUT] = "timed_out",
        [STOP_BUDGET] = "budget_exceeded", [STOP_ERROR] = "failed",
    };
    r->status = r->stopping ? by_reason[r->stopping] : failed ? "failed" : "succeeded";
    r->finished_ms = now_ms();
    run_changed(e, r);
    flush_run(e, r);   /* its rows are written before it is freed */
    for (struct watcher *w = e->watchers; w; w = w->next)
        if (w->r == r)
            w->r = NULL;   /* woken at the commit, it finds the workflow ended */
    *(r->prev ? &r->prev->next : &e->runs) = r->next;
    *(r->next ? &r->next->prev : &e->runs_last) = r->prev;
    unwatch(e, r);
    orch_timers_remove(&e->timers, &r->timer);
    if (r->indexed)
        orch_index_remove(&e->by_id, &r->by_id);
    else
        e->unindexed--;
    run_free(r);
}

/* Evaluates when, and for_each into items. */
static void expand_step(orch_engine *e, struct run *r, size_t i)
{
    struct step *s = &r->steps[i];
    const orch_step *st = &r->wf->steps[i];
    rt_error err;
    json_t *v = NULL;

    set_needs(r, i);
    set_item(r, s, 0);
    s->started_ms = now_ms();
    if (st->when) {
        if (orch_expr_eval(st->when, r->ctx, &v, &err) < 0) {
            s->st = ST_FAILED;
            rt_error_wrap(&err, "when");
            replace_str(&s->error, err.msg);
            goto done;
        }
        bool run = orch_truthy(v);
        json_decref(v);
        if (!run) {
            s->st = ST_SKIPPED;
            goto done;
        }
    } else {
        json_t *needs = json_object_get(r->ctx, "needs");
        const char *k;
        json_t *c;
        json_object_foreach(needs, k, c) {
            if (strcmp(json_string_value(c), "ok") != 0) {
                s->st = ST_SKIPPED;
                goto done;
            }
        }
    }
    if (st->approval && s->approval == AP_NONE) {
        s->approval = AP_WAITING;
        s->approval_deadline = now_ms() + (int64_t)st->approval_timeout_ms;
        step_changed(e, r, i);
        return;
    }
    if (st->for_each) {
        if (orch_expr_eval(st->for_each, r->ctx, &v, &err) < 0) {
            s->st = ST_FAILED;
            rt_error_wrap(&err, "for_each");
            replace_str(&s->error, err.msg);
            goto done;
        }
        if (!json_is_array(v) || json_array_size(v) > MAX_ITEMS) {
            char msg[160];
            if (!json_is_array(v))
                snprintf(msg, sizeof msg, "for_each: gave %s, not an array", rt_json_type_name(v));
            else
                snprintf(msg, sizeof msg, "for_each: %zu elements, above the limit of %d",
                         json_array_size(v), MAX_ITEMS);
            json_decref(v);
            s->st = ST_FAILED;
            replace_str(&s->error, msg);
            goto done;
        }
        s->fan_out = true;
        s->n_items = json_array_size(v);
    } else {
        s->n_items = 1;
    }
    s->items = calloc(s->n_items ? s->n_items : 1, sizeof *s->items);
    if (!s->items) {
        json_decref(v);
        s->n_items = 0;
        s->st = ST_FAILED;
        replace_str(&s->error, "out of memory");
        goto done;
    }
    for (size_t k = 0; s->fan_out && k < s->n_items; k++)
        s->items[k].value = json_incref(json_array_get(v, k));
    json_decref(v);
    s->expanded = true;
    s->st = ST_RUNNING;
    step_changed(e, r, i);
    if (s->n_items == 0)
        finish_step(e, r, i);
    return;
done:
    s->finished_ms = now_ms();
    publish_step(r, i);
    step_changed(e, r, i);
}

static bool needs_done(const struct run *r, size_t i)
{
    const orch_step *st = &r->wf->steps[i];
    for (size_t k = 0; k < st->n_needs; k++)
        if (r->steps[st->needs[k]].st < ST_OK)
            return false;
    return true;
}

static int64_t min64(int64_t a, int64_t b)
{
    return a < b ? a : b;
}

/* Submissions being accepted go first: a queued run starts (its workspace is
 * mounted, its first sandbox forked) once none is, or ACCEPT_FIRST_MS after
 * its own, so that a burst of submissions is answered before its runs take
 * the CPU. The last submission of a burst wakes the scheduler. */
static bool accept_first(orch_engine *e, const struct run *r, int64_t now, int64_t *next)
{
    int64_t until = r->created_ms + ACCEPT_FIRST_MS;
    if (atomic_load(&e->accepting) == 0 || now >= until)
        return false;
    *next = min64(*next, until);
    return true;
}

/* Moves one workflow on as far as it can go; *next gets the time of its next
 * timer (backoff, approval deadline, timeout). True when it ended (and is
 * freed). */
static bool advance(orch_engine *e, struct run *r, int64_t now, int64_t *next)
{
    if (r->status == status_queued) {
        /* A run starts (its workspace is made, its status turns running, its
         * timeout runs) once the engine has room for a sandbox: a burst of
         * submissions waits here at no cost instead of making every
         * workspace while more submissions arrive. */
        if (!r->stopping && (e->running >= e->cfg.max_running || accept_first(e, r, now, next)))
            return false;
        char err_dirs[RT_ERROR_MAX];
        rt_error err;
        tx_end(e);   /* the workspace is made outside a transaction */
        int dirs = make_run_dirs(e, r, &err);
        r->status = "running";
        r->started_ms = now;
        r->deadline = now + (int64_t)r->wf->timeout_ms;
        run_changed(e, r);
        if (dirs < 0) {
            snprintf(err_dirs, sizeof err_dirs, "workspace: %s", err.msg);
            begin_stop(e, r, STOP_ERROR, err_dirs);
        }
    }
    if (!r->stopping && now >= r->deadline) {
        char msg[96], d[32];
        rt_format_duration_ms(r->wf->timeout_ms, d, sizeof d);
        snprintf(msg, sizeof msg, "the workflow's timeout of %s passed", d);
        begin_stop(e, r, STOP_TIMEOUT, msg);
    }
    if (!r->stopping)
        *next = min64(*next, r->deadline);
    for (size_t o = 0; o < r->wf->n_steps && !r->stopping; o++) {
        size_t i = r->wf->order[o];
        struct step *s = &r->steps[i];
        if (s->st == ST_PENDING && needs_done(r, i)) {
            if (s->approval == AP_WAITING) {
                if (now < s->approval_deadline) {
                    *next = min64(*next, s->approval_deadline);
                    continue;
                }
                char msg[96], d[32];
                rt_format_duration_ms(r->wf->steps[i].approval_timeout_ms, d, sizeof d);
                snprintf(msg, sizeof msg, "approval: no answer within %s", d);
                s->approval = AP_TIMED_OUT;
                s->st = ST_FAILED;
                replace_str(&s->error, msg);
                s->finished_ms = now;
                publish_step(r, i);
                step_changed(e, r, i);
                continue;
            }
            expand_step(e, r, i);
            if (s->approval == AP_WAITING)
                *next = min64(*next, s->approval_deadline);
        }
        if (s->st != ST_RUNNING)
            continue;
        for (size_t k = 0; k < s->n_items; k++) {
            struct item *it = &s->items[k];
            if (it->st == IT_BACKOFF) {
                if (now < it->next_at) {
                    *next = min64(*next, it->next_at);
                    continue;
                }
                it->st = IT_WAIT;
            }
            if (it->st == IT_WAIT && r->running < r->wf->max_parallel) {
                if (e->running < e->cfg.max_running)
                    start_attempt(e, r, i, k);
                else
                    r->wants_slot = true;
            }
        }
        if (all_items_done(s))
            finish_step(e, r, i);
    }
    bool all = true;
    for (size_t i = 0; i < r->wf->n_steps && all; i++)
        all = r->steps[i].st >= ST_OK;
    if (all && r->running == 0) {
        finish_run(e, r);
        return true;
    }
    return false;
}

/* Whether a pass must act on r: a workflow waiting on its own (an approval, a
 * backoff, its attempts) is left alone until something happens to it or its
 * next timer is due. Queued ones are looked at every time (they wait for room
 * and for the submissions of a burst), and so are those that wait for a
 * sandbox slot while one is free. */
static bool needs_pass(const orch_engine *e, const struct run *r, int64_t now)
{
    return r->moved || now >= r->timer.at || r->status == status_queued ||
           (r->wants_slot && e->running < e->cfg.max_running);
}

static struct run *run_of_timer(orch_timer *t)
{
    return (struct run *)((char *)t - offsetof(struct run, timer));
}

/* Merges two due lists sorted by seq. */
static struct run *merge_due(struct run *a, struct run *b)
{
    struct run *out = NULL, **tail = &out;
    while (a && b) {
        struct run **from = a->seq < b->seq ? &a : &b;
        *tail = *from;
        tail = &(*from)->due_next;
        *from = (*from)->due_next;
    }
    *tail = a ? a : b;
    return out;
}

/* Cuts the ascending stretch at the head of *list off and returns it. */
static struct run *cut_ascending(struct run **list)
{
    struct run *head = *list, *r = head;
    while (r->due_next && r->due_next->seq > r->seq)
        r = r->due_next;
    *list = r->due_next;
    r->due_next = NULL;
    return head;
}

/* Sorts a due list by seq, oldest first: a natural merge sort, so a list that
 * is mostly in order (the runs a pass watches again come in order) costs a
 * walk or two, not n log n; no allocation. */
static struct run *sort_due(struct run *list)
{
    for (;;) {
        struct run *out = NULL, **tail = &out;
        bool merged = false;
        while (list) {
            struct run *a = cut_ascending(&list), *b = list ? cut_ascending(&list) : NULL;
            merged = merged || b;
            for (*tail = merge_due(a, b); *tail; tail = &(*tail)->due_next)
                ;
        }
        if (!merged)
            return out;
        list = out;
    }
}

/* The runs a pass looks at, oldest first: the watch list (taken whole) and the
 * runs whose timer is due (taken out of the heap). The others, thousands of
 * workflows waiting for approvals among them, cost a pass nothing (a walk of
 * every run made the engine's CPU per submission grow with them: 110 us with
 * none waiting, 220-280 us with 10,000). */
static struct run *take_due(orch_engine *e, int64_t now)
{
    struct run *due = NULL;
    for (struct run *r = e->watch; r; r = r->watch_next) {
        r->watched = false;
        r->due = true;
        r->due_next = due;
        due = r;
    }
    e->watch = NULL;
    for (orch_timer *t; (t = orch_timers_first(&e->timers)) && t->at <= now;) {
        struct run *r = run_of_timer(t);
        orch_timers_remove(&e->timers, t);
        if (!r->due) {
            r->due = true;
            r->due_next = due;
            due = r;
        }
    }
    return sort_due(due);
}

static void pass_run(orch_engine *e, struct run *r, int64_t now, int64_t *next)
{
    r->due = false;
    if (needs_pass(e, r, now)) {
        int64_t own = ORCH_TIMER_NEVER;
        r->moved = r->wants_slot = false;
        if (advance(e, r, now_ms(), &own))   /* the time of its turn, not the pass's */
            return;
        r->timer.at = own;
    }
    *next = min64(*next, r->timer.at);
    if (r->moved || r->wants_slot || r->status == status_queued)
        watch(e, r);
    if (orch_timers_set(&e->timers, &r->timer, r->timer.at) < 0)
        watch(e, r);   /* no room in the heap: looked at every pass instead */
}

static void adopt_inbox(orch_engine *e);

static void *scheduler_main(void *arg)
{
    orch_engine *e = arg;
    (void)prctl(PR_SET_NAME, "sbx-engine", 0, 0, 0);   /* for top -H and perf */
    pthread_mutex_lock(&e->lock);
    for (;;) {
        adopt_inbox(e);
        while (e->done) {
            struct attempt *a = e->done;
            e->done = a->next_done;
            handle_done(e, a);
        }
        int64_t next = INT64_MAX, now = now_ms();
        if (!e->stopping)
            for (struct run *r = take_due(e, now), *n; r; r = n) {
                n = r->due_next;
                pass_run(e, r, now, &next);
            }
        orch_timer *first = e->stopping ? NULL : orch_timers_first(&e->timers);
        if (first)   /* not while stopping: no pass would take it, the loop would spin */
            next = min64(next, first->at);
        tx_end(e);
        if (e->stopping && e->running == 0 && !e->done)
            break;
        if (e->done)
            continue;
        now = now_ms();
        int ms = next == INT64_MAX ? 60000 : next > now ? (int)min64(next - now, 60000) : 0;
        struct pollfd pfd = {.fd = e->wake_fd, .events = POLLIN};
        uint64_t count;
        pthread_mutex_unlock(&e->lock);
        if (poll(&pfd, 1, ms) > 0 && read(e->wake_fd, &count, sizeof count) < 0 &&
            errno != EAGAIN)
            fprintf(stderr, "%s: workflow scheduler: reading its eventfd: %s\n",
                    program_invocation_short_name, strerror(errno));
        pthread_mutex_lock(&e->lock);
    }
    pthread_cond_broadcast(&e->idle);
    pthread_mutex_unlock(&e->lock);
    return NULL;
}

/* ---- loading a workflow back from the store (restart, retry) ---- */

static int name_index(const char *const *names, size_t n, const json_t *v)
{
    const char *s = json_string_value(v);
    for (size_t i = 0; s && i < n; i++)
        if (strcmp(s, names[i]) == 0)
            return (int)i;
    return -1;
}

static char *dup_json_str(const json_t *v)
{
    return json_is_string(v) ? strdup(json_string_value(v)) : NULL;
}

static int64_t int_or_zero(const json_t *v)
{
    return json_is_integer(v) ? (int64_t)json_integer_value(v) : 0;
}

static void load_cost(const json_t *c, double *usd, double *cpu_s)
{
    *usd = json_number_value(json_object_get(c, "usd"));
    *cpu_s = json_number_value(json_object_get(c, "cpu_seconds"));
}

static int load_step(struct run *r, size_t i, const json_t *st, rt_error *err)
{
    struct step *s = &r->steps[i];
    int n = name_index(step_names, sizeof step_names / sizeof *step_names,
                       json_object_get(st, "status"));
    if (n < 0)
        return rt_error_set(err, 0, "step %zu: unreadable state", i);
    s->st = (enum step_state)n;
    s->fan_out = json_is_true(json_object_get(st, "fan_out"));
    s->sandbox_status = dup_json_str(json_object_get(st, "sandbox_status"));
    s->error = dup_json_str(json_object_get(st, "error"));
    s->started_ms = int_or_zero(json_object_get(st, "started_ms"));
    s->finished_ms = int_or_zero(json_object_get(st, "finished_ms"));
    json_t *o = json_object_get(st, "outputs");
    s->outputs = json_is_object(o) ? json_incref(o) : NULL;
    load_cost(json_object_get(st, "cost"), &s->usd, &s->cpu_s);
    s->attempt_base = (unsigned)int_or_zero(json_object_get(st, "attempt_base"));
    const json_t *ap = json_object_get(st, "approval");
    if (ap) {
        int a = name_index(approval_names, sizeof approval_names / sizeof *approval_names,
                           json_object_get(ap, "state"));
        s->approval = a < 0 ? AP_NONE : (enum approval)a;
        s->approval_deadline = int_or_zero(json_object_get(ap, "deadline_ms"));
        s->approval_comment = dup_json_str(json_object_get(ap, "comment"));
    }
    const json_t *items = json_object_get(st, "items");
    s->n_items = json_array_size(items);
    s->expanded = s->st != ST_PENDING && s->n_items > 0;
    if (s->n_items && !(s->items = calloc(s->n_items, sizeof *s->items)))
        return rt_error_set(err, ENOMEM, "loading step %zu", i);
    for (size_t k = 0; k < s->n_items; k++) {
        const json_t *j = json_array_get(items, k);
        struct item *it = &s->items[k];
        int m = name_index(item_names, sizeof item_names / sizeof *item_names,
                           json_object_get(j, "status"));
        if (m < 0)
            return rt_error_set(err, 0, "step %zu item %zu: unreadable state", i, k);
        it->st = (enum item_state)m;
        json_t *v = json_object_get(j, "item");
        it->value = s->fan_out && v ? json_incref(v) : NULL;
        it->attempts = (unsigned)int_or_zero(json_object_get(j, "attempts"));
        it->next_at = int_or_zero(json_object_get(j, "next_attempt_ms"));
        it->sandbox_status = dup_json_str(json_object_get(j, "sandbox_status"));
        it->error = dup_json_str(json_object_get(j, "error"));
        o = json_object_get(j, "outputs");
        it->outputs = json_is_object(o) ? json_incref(o) : NULL;
        load_cost(json_object_get(j, "cost"), &it->usd, &it->cpu_s);
    }
    return 0;
}

/* An attempt that was running when the process died: retried when attempts
 * remain, else the item fails. */
static void resume_item(orch_engine *e, struct run *r, size_t i, size_t k)
{
    struct item *it = &r->steps[i].items[k];
    char msg[160];
    if (it->attempts < r->wf->steps[i].retry.max_attempts) {
        it->st = IT_WAIT;
        snprintf(msg, sizeof msg, "attempt %u was interrupted (the daemon stopped); retrying",
                 it->attempts);
    } else {
        snprintf(msg, sizeof msg, "attempt %u was interrupted (the daemon stopped) and no "
                                  "attempts remain", it->attempts);
        item_fail(it, "interrupted", msg);
    }
    json_t *ev = attempt_event(r, i, k, r->steps[i].attempt_base + it->attempts, "interrupted");
    if (ev)
        json_object_set_new(ev, "error", json_string(msg));
    emit(e, r, ev);
}

/* Steps that did not end ok start over; ok ones keep their results. */
static void reset_for_retry(struct run *r)
{
    for (size_t i = 0; i < r->wf->n_steps; i++) {
        struct step *s = &r->steps[i];
        if (s->st == ST_OK)
            continue;
        unsigned base = s->attempt_base;
        for (size_t k = 0; k < s->n_items; k++)
            if (s->attempt_base + s->items[k].attempts > base)
                base = s->attempt_base + s->items[k].attempts;
        step_clear(s);
        s->attempt_base = base;
    }
}

static struct run *load_run(orch_engine *e, const char *id, bool retry, rt_error *err)
{
    json_t *row = orch_store_workflow_get(e->cfg.store, id, err), *steps = NULL;
    struct run *r = calloc(1, sizeof *r);
    orch_problems problems = {0};

    if (!row)
        goto fail;
    if (!r || !(r->dir = run_dir(e, id))) {
        rt_error_set(err, ENOMEM, "loading workflow %s", id);
        goto fail;
    }
    snprintf(r->id, sizeof r->id, "%s", id);
    r->name = dup_json_str(json_object_get(row, "name"));
    if (orch_workflow_parse(json_object_get(row, "doc"), json_object_get(row, "inputs"), &r->wf,
                            &problems) < 0) {
        rt_error_set(err, 0, "workflow %s no longer validates: %s%s%s", id,
                     problems.n ? problems.v[0].path : "", problems.n ? ": " : "",
                     problems.n ? problems.v[0].message : "out of memory");
        goto fail;
    }
    r->steps = calloc(r->wf->n_steps, sizeof *r->steps);
    r->ctx = json_pack("{s:O,s:{}}", "inputs", r->wf->input_values, "steps");
    if (!r->steps || !r->ctx || orch_store_attempts_interrupt(e->cfg.store, id, err) < 0 ||
        !(steps = orch_store_steps(e->cfg.store, id, err)))
        goto fail;
    const json_t *state = json_object_get(row, "state");
    r->status = retry ? status_queued
                      : strcmp(json_string_value(json_object_get(row, "status")), "running") == 0
                          ? "running"
                          : status_queued;
    r->created_ms = int_or_zero(json_object_get(row, "created_ms"));
    r->started_ms = int_or_zero(json_object_get(state, "started_ms"));
    r->deadline = int_or_zero(json_object_get(state, "deadline_ms"));
    r->runs = (unsigned)int_or_zero(json_object_get(state, "runs"));
    r->base_usd = json_number_value(json_object_get(state, "base_usd"));
    r->base_cpu_s = json_number_value(json_object_get(state, "base_cpu_seconds"));
    load_cost(json_object_get(state, "cost"), &r->usd, &r->cpu_s);
    r->error = retry ? NULL : dup_json_str(json_object_get(state, "error"));
    for (size_t i = 0; i < r->wf->n_steps; i++) {
        char key[24];
        snprintf(key, sizeof key, "%zu", i);
        const json_t *st = json_object_get(steps, key);
        if (st && load_step(r, i, st, err) < 0)
            goto fail;
    }
    if (retry) {
        reset_for_retry(r);
        r->runs++;
        r->base_usd = r->usd;
        r->base_cpu_s = r->cpu_s;
        r->started_ms = 0;
    } else if (strcmp(r->status, "running") == 0 && make_run_dirs(e, r, err) < 0) {
        goto fail;
    }
    for (size_t i = 0; i < r->wf->n_steps; i++) {
        struct step *s = &r->steps[i];
        if (s->st >= ST_OK)
            publish_step(r, i);
        for (size_t k = 0; s->st == ST_RUNNING && k < s->n_items; k++)
            if (s->items[k].st == IT_RUNNING)
                resume_item(e, r, i, k);
        if (retry || s->st == ST_RUNNING)
            save_step(e, r, i);
    }
    json_decref(row);
    json_decref(steps);
    return r;
fail:
    orch_problems_free(&problems);
    json_decref(row);
    json_decref(steps);
    run_free(r);
    return NULL;
}

/* Appends r and the runs linked after it, oldest first. */
static void add_run(orch_engine *e, struct run *r)
{
    *(e->runs_last ? &e->runs_last->next : &e->runs) = r;
    for (; r; r = r->next) {
        r->prev = e->runs_last;
        e->runs_last = r;
        r->seq = ++e->adopt_seq;
        mark_moved(e, r);
        if (orch_index_add(&e->by_id, &r->by_id, r->id) == 0)
            r->indexed = true;
        else
            e->unindexed++;   /* find_run walks the list for it */
    }
    wake(e);
}

/* A submission hands its run over without the engine's lock, which a
 * scheduling round may hold for a while. */
static void post_run(orch_engine *e, struct run *r)
{
    pthread_mutex_lock(&e->inbox_lock);
    r->next = e->inbox;   /* newest first: adopt_inbox turns it round */
    e->inbox = r;
    pthread_mutex_unlock(&e->inbox_lock);
    wake(e);
}

static void adopt_inbox(orch_engine *e)
{
    pthread_mutex_lock(&e->inbox_lock);
    struct run *newest = e->inbox, *r = NULL;
    e->inbox = NULL;
    pthread_mutex_unlock(&e->inbox_lock);
    while (newest) {
        struct run *n = newest->next;
        newest->next = r;
        r = newest;
        newest = n;
    }
    if (!r)
        return;
    /* The submission stored the run and its queued event: adopting it writes
     * nothing, so a burst of submissions never waits for the scheduler. */
    add_run(e, r);
    for (; r; r = r->next) {
        json_t *ev = run_event_json(r);
        if (ev)
            announce(e, r, r->last_seq, ev);
        json_decref(ev);
    }
}

static struct run *find_run(orch_engine *e, const char *id)
{
    orch_index_entry *x = orch_index_find(&e->by_id, id);
    if (x)
        return (struct run *)((char *)x - offsetof(struct run, by_id));
    for (struct run *r = e->runs; e->unindexed && r; r = r->next)
        if (!r->indexed && strcmp(r->id, id) == 0)
            return r;
    pthread_mutex_lock(&e->inbox_lock);
    struct run *found = NULL;
    for (struct run *r = e->inbox; r && !found; r = r->next)
        if (strcmp(r->id, id) == 0)
            found = r;
    pthread_mutex_unlock(&e->inbox_lock);
    return found;
}

/* ---- the API ---- */

/* Frees what start made (runs not yet adopted too). */
static void engine_free(orch_engine *e)
{
    for (struct run *r = e->inbox, *n; r; r = n) {
        n = r->next;
        run_free(r);
    }
    close(e->wake_fd);
    orch_timers_free(&e->timers);
    orch_index_free(&e->by_id);
    pthread_mutex_destroy(&e->lock);
    pthread_mutex_destroy(&e->inbox_lock);
    pthread_cond_destroy(&e->idle);
    pthread_cond_destroy(&e->events);
    free(e);
}

int orch_engine_start(const orch_engine_config *cfg, orch_engine **out, rt_error *err)
{
    orch_engine *e = calloc(1, sizeof *e);
    static const char *const unfinished[] = {"queued", "running", NULL};
    json_t *ids = NULL;

    if (!e)
        return rt_error_set(err, ENOMEM, "engine");
    if ((e->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) < 0) {
        rt_error_set(err, errno, "eventfd");
        free(e);
        return -1;
    }
    e->cfg = *cfg;
    if (!e->cfg.max_running)
        e->cfg.max_running = 1;
    pthread_mutex_init(&e->lock, NULL);
    pthread_mutex_init(&e->inbox_lock, NULL);
    cond_init_mono(&e->idle);
    cond_init_mono(&e->events);
    snprintf(e->wf_dir, sizeof e->wf_dir, "%s/workflows", cfg->state_dir);
    if (mkdir(e->wf_dir, 0711) < 0 && errno != EEXIST) {
        rt_error_set(err, errno, "creating %s", e->wf_dir);
        goto fail;
    }
    if (mount_workflows_dir(e, err) < 0 ||
        !(ids = orch_store_workflow_ids(cfg->store, unfinished, err)))
        goto fail;
    size_t i;
    json_t *id;
    json_array_foreach(ids, i, id) {
        struct run *r = load_run(e, json_string_value(id), false, err);
        if (!r) {
            rt_error_wrap(err, "resuming workflow %s", json_string_value(id));
            goto fail;
        }
        add_run(e, r);
        tx_end(e);
    }
    json_decref(ids);
    ids = NULL;
    int rc = pthread_create(&e->thread, NULL, scheduler_main, e);
    if (rc != 0) {
        rt_error_set(err, rc, "starting the scheduler thread");
        goto fail;
    }
    *out = e;
    return 0;
fail:
    tx_end(e);
    json_decref(ids);
    for (struct run *r = e->runs, *n; r; r = n) {
        n = r->next;
        run_free(r);
    }
    unmount_workflows_dir(e);
    engine_free(e);
    return -1;
}

void orch_engine_stop(orch_engine *e, long grace_ms)
{
    if (!e)
        return;
    struct timespec t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    pthread_mutex_lock(&e->lock);
    e->stopping = true;
    wake(e);
    for (;;) {
        clock_gettime(CLOCK_MONOTONIC, &t);
        long spent = (t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000;
        if (e->running == 0 || spent >= grace_ms)
            break;
        wait_ms(&e->idle, &e->lock, grace_ms - spent);
    }
    for (struct run *r = e->runs; r; r = r->next)
        for (size_t i = 0; i < r->wf->n_steps; i++)
            for (size_t k = 0; k < r->steps[i].n_items; k++)
                if (r->steps[i].items[k].run)
                    atomic_store(&r->steps[i].items[k].run->stop, HALT_SHUTDOWN);
    pthread_cond_broadcast(&e->events);
    for (struct watcher *w = e->watchers; w; w = w->next)
        pthread_cond_signal(&w->cond);
    pthread_mutex_unlock(&e->lock);
    pthread_join(e->thread, NULL);
    for (struct run *r = e->runs, *n; r; r = n) {
        n = r->next;
        run_free(r);
    }
    e->runs = e->runs_last = NULL;
    unmount_workflows_dir(e);
    engine_free(e);
}

static void make_id(char *out, size_t len)
{
    unsigned char b[12];
    if (getrandom(b, sizeof b, 0) != (ssize_t)sizeof b) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        for (size_t i = 0; i < sizeof b; i++)
            b[i] = (unsigned char)(ts.tv_nsec >> (i % 4 * 8)) ^ (unsigned char)rand();
    }
    size_t o = (size_t)snprintf(out, len, "wf_");
    for (size_t i = 0; i < sizeof b && o + 2 < len; i++, o += 2)
        snprintf(out + o, len - o, "%02x", b[i]);
}

static orch_problem *add_problem(orch_problems *p)
{
    orch_problem *v = realloc(p->v, (p->n + 1) * sizeof *v);
    if (!v)
        return NULL;
    p->v = v;
    memset(&v[p->n], 0, sizeof *v);
    return &v[p->n++];
}

/* Checks each step's profile, language, image and limits with the executor.
 * A step that asks for the same as the last one that passed is not checked
 * again: a chain of like steps costs one check. */
static void probe_steps(orch_engine *e, const orch_workflow *wf, orch_problems *problems)
{
    json_t *passed = NULL;
    for (size_t i = 0; i < wf->n_steps; i++) {
        const orch_step *st = &wf->steps[i];
        const char *profile = st->profile ? st->profile : wf->defaults.profile;
        const char *image = st->image ? st->image : wf->defaults.image;
        const char *backend = st->backend ? st->backend : wf->defaults.backend;
        json_t *req = json_pack("{s:o}", "limits", merged_limits(wf, st));
        rt_spec spec;
        rt_error err;
        if (!req)
            continue;
        if (backend && strcmp(backend, "native") != 0) {
            orch_problem *q = add_problem(problems);
            if (q) {
                snprintf(q->path, sizeof q->path, "workflow.steps[%zu].backend", i);
                snprintf(q->message, sizeof q->message, "the %s backend is not available on "
                         "this server (steps run on native)", backend);
            }
            json_decref(req);
            continue;
        }
        if (st->kind == ORCH_STEP_CODE) {
            json_object_set_new(req, "code", json_string(""));
            json_object_set_new(req, "language", json_string(st->language));
        } else {
            json_object_set_new(req, "command", json_pack("[s]", "true"));
        }
        if (profile)
            json_object_set_new(req, "profile", json_string(profile));
        if (image)
            json_object_set_new(req, "image", json_string(image));
        if (json_equal(req, passed)) {
            json_decref(req);
            continue;
        }
        rt_spec_init(&spec);
        int rc = e->cfg.exec.check ? e->cfg.exec.check(e->cfg.exec.ctx, req, &err)
                                   : e->cfg.exec.build(e->cfg.exec.ctx, req, &spec, &err);
        if (rc == 0) {
            json_decref(passed);
            passed = json_incref(req);
        } else {
            orch_problem *q = add_problem(problems);
            const char *colon = strstr(err.msg, ": ");
            size_t n = colon ? (size_t)(colon - err.msg) : 0;
            if (q && n && n < 64 && !memchr(err.msg, ' ', n)) {
                snprintf(q->path, sizeof q->path, "workflow.steps[%zu].%.*s", i, (int)n, err.msg);
                snprintf(q->message, sizeof q->message, "%s", colon + 2);
            } else if (q) {
                snprintf(q->path, sizeof q->path, "workflow.steps[%zu]", i);
                snprintf(q->message, sizeof q->message, "%s", err.msg);
            }
        }
        rt_spec_free(&spec);
        json_decref(req);
    }
    json_decref(passed);
}

/* Paths of the document's problems are given from the body: workflow.steps[0]. */
static void root_problems(orch_problems *p)
{
    for (size_t i = 0; i < p->n; i++) {
        orch_problem *q = &p->v[i];
        char path[sizeof q->path];
        if (q->given)
            continue;
        snprintf(path, sizeof path, "workflow%s%s", q->path[0] ? "." : "", q->path);
        memcpy(q->path, path, sizeof path);
    }
}

static int accept_run(orch_engine *e, const json_t *body, const char *key, orch_submit *out,
                      orch_problems *problems, rt_error *err)
{
    const json_t *doc = json_object_get(body, "workflow"), *inputs = json_object_get(body, "inputs");
    orch_workflow *wf = NULL;
    struct run *r = NULL;
    json_t *row = NULL;
    const char *k;
    json_t *v;
    orch_problem *q;

    if (!json_is_object(body) || !json_is_object(doc)) {
        if ((q = add_problem(problems))) {
            snprintf(q->path, sizeof q->path, "%s", json_is_object(body) ? "workflow" : "");
            snprintf(q->message, sizeof q->message, "%s",
                     json_is_object(body) ? "required: the workflow document (an object)"
                                          : "must be an object {\"workflow\": {...}, "
                                            "\"inputs\": {...}}");
        }
        return -1;
    }
    json_object_foreach((json_t *)body, k, v) {
        if (strcmp(k, "workflow") != 0 && strcmp(k, "inputs") != 0 && (q = add_problem(problems))) {
            snprintf(q->path, sizeof q->path, "%.200s", k);
            snprintf(q->message, sizeof q->message, "unknown key (use workflow and inputs)");
        }
    }
    if (problems->n)
        return -1;
    if (orch_workflow_parse(doc, inputs, &wf, problems) < 0) {
        if (!problems->n)
            return rt_error_set(err, ENOMEM, "validating the workflow");
        root_problems(problems);
        return -1;
    }
    probe_steps(e, wf, problems);
    if (problems->n)
        goto fail;
    make_id(out->id, sizeof out->id);
    row = json_pack("{s:s,s:s,s:s,s:I,s:O,s:o}", "id", out->id, "name", wf->name, "status",
                    "queued", "created_ms", (json_int_t)now_ms(), "doc", doc, "inputs",
                    inputs ? json_incref((json_t *)inputs) : json_object());
    r = calloc(1, sizeof *r);
    if (!row || !r || !(r->dir = run_dir(e, out->id)) ||
        !(r->steps = calloc(wf->n_steps, sizeof *r->steps)) ||
        !(r->ctx = json_pack("{s:O,s:{}}", "inputs", wf->input_values, "steps"))) {
        rt_error_set(err, ENOMEM, "accepting the workflow");
        goto fail;
    }
    r->wf = wf;
    wf = NULL;
    snprintf(r->id, sizeof r->id, "%s", out->id);
    r->status = status_queued;
    r->created_ms = json_integer_value(json_object_get(row, "created_ms"));
    r->runs = 1;
    /* One row and the queued event (steps are stored as they change: a step
     * without a row is pending), committed with the submissions that arrive
     * meanwhile, so that a burst of them stays cheap; adopting the run then
     * writes nothing. */
    json_t *ev = run_event_json(r);
    int rc = ev ? orch_store_workflow_submit(e->cfg.store, row, key, ev, &r->last_seq, out->id,
                                             err)
                : rt_error_set(err, ENOMEM, "accepting the workflow");
    json_decref(ev);
    if (rc < 0)
        goto fail;
    if (rc == 1) {
        out->existed = true;
        run_free(r);
        json_decref(row);
        return 0;
    }
    json_decref(row);
    post_run(e, r);
    return 0;
fail:
    orch_workflow_free(wf);
    run_free(r);
    json_decref(row);
    return -1;
}

int orch_engine_submit(orch_engine *e, const json_t *body, const char *key, orch_submit *out,
                       orch_problems *problems, rt_error *err)
{
    memset(problems, 0, sizeof *problems);
    memset(out, 0, sizeof *out);
    atomic_fetch_add(&e->accepting, 1);
    int rc = accept_run(e, body, key, out, problems, err);
    if (atomic_fetch_sub(&e->accepting, 1) == 1)
        wake(e);   /* queued runs may start (accept_first) */
    return rc;
}

/* Attaches each attempt's summary (history) and the last result to its item. */
static void attach_attempts(const json_t *by_index, const json_t *attempts)
{
    size_t n;
    json_t *a;
    json_array_foreach(attempts, n, a) {
        char key[24];
        snprintf(key, sizeof key, "%" JSON_INTEGER_FORMAT,
                 json_integer_value(json_object_get(a, "step")));
        json_t *st = json_object_get(by_index, key);
        json_t *items = json_object_get(st, "items");
        json_t *it = json_array_get(items, (size_t)json_integer_value(json_object_get(a, "item")));
        if (!it)
            continue;
        json_t *hist = json_object_get(it, "history");
        if (!hist) {
            hist = json_array();
            json_object_set_new(it, "history", hist);
        }
        json_int_t s0 = json_integer_value(json_object_get(a, "started_ms")),
                   s1 = json_integer_value(json_object_get(a, "finished_ms"));
        json_t *h = json_pack("{s:O,s:O,s:I}", "attempt", json_object_get(a, "attempt"),
                              "status", json_object_get(a, "status"), "started_ms", s0);
        if (h && s1)
            json_object_set_new(h, "duration_ms", json_integer(s1 - s0));
        json_array_append_new(hist, h);
        json_t *res = json_object_get(a, "result");
        if (json_is_object(res))
            json_object_set(it, "result", res);
    }
}

json_t *orch_engine_get(orch_engine *e, const char *id, rt_error *err)
{
    json_t *row = orch_store_workflow_get(e->cfg.store, id, err), *steps = NULL, *att = NULL;
    json_t *out = NULL;

    if (!row || !(steps = orch_store_steps(e->cfg.store, id, err)) ||
        !(att = orch_store_attempts(e->cfg.store, id, err)))
        goto done;
    const json_t *state = json_object_get(row, "state");
    attach_attempts(steps, att);
    json_t *list = json_object();
    /* The values the run used (defaults filled in) once it has state. */
    const json_t *inputs = json_object_get(state, "inputs");
    out = json_pack("{s:O,s:O,s:O,s:O,s:O,s:o}", "id", json_object_get(row, "id"), "name",
                    json_object_get(row, "name"), "status", json_object_get(row, "status"),
                    "created_ms", json_object_get(row, "created_ms"), "inputs",
                    inputs ? inputs : json_object_get(row, "inputs"), "steps", list);
    if (!out) {
        rt_error_set(err, ENOMEM, "the workflow's result");
        goto done;
    }
    static const char *const copied[] = {"started_ms", "finished_ms", "error", "cost", "runs"};
    for (size_t i = 0; i < sizeof copied / sizeof *copied; i++) {
        json_t *v = json_object_get(state, copied[i]);
        json_object_set(out, copied[i], v ? v : json_null());
    }
    json_int_t s0 = json_integer_value(json_object_get(state, "started_ms")),
               s1 = json_integer_value(json_object_get(state, "finished_ms"));
    json_object_set_new(out, "duration_ms", s0 && s1 ? json_integer(s1 - s0) : json_null());
    json_t *budget = json_object_get(json_object_get(row, "doc"), "budget");
    if (budget)
        json_object_set(out, "budget", budget);
    const json_t *doc_steps = json_object_get(json_object_get(row, "doc"), "steps");
    for (size_t i = 0; i < json_array_size(doc_steps); i++) {
        char key[24];
        snprintf(key, sizeof key, "%zu", i);
        json_t *st = json_object_get(steps, key);
        json_t *copy = st ? json_deep_copy(st)
                          : json_pack("{s:O,s:s,s:b,s:o,s:[],s:n,s:n,s:n,s:n,s:n}", "id",
                                      json_object_get(json_array_get(doc_steps, i), "id"),
                                      "status", "pending", "fan_out", 0, "cost",
                                      cost_json(0, 0), "items", "sandbox_status", "error",
                                      "started_ms", "finished_ms", "outputs");
        if (!copy)
            continue;
        if (!json_is_true(json_object_get(copy, "fan_out"))) {
            json_t *it = json_array_get(json_object_get(copy, "items"), 0);
            static const char *const lifted[] = {"attempts", "result", "history"};
            for (size_t n = 0; n < sizeof lifted / sizeof *lifted; n++) {
                json_t *v = json_object_get(it, lifted[n]);
                json_object_set(copy, lifted[n], v ? v : json_null());
            }
            json_object_del(copy, "items");
        }
        json_object_del(copy, "attempt_base");
        json_object_set_new(list, json_string_value(json_object_get(copy, "id")), copy);
    }
done:
    json_decref(row);
    json_decref(steps);
    json_decref(att);
    return out;
}

int orch_engine_cancel(orch_engine *e, const char *id, rt_error *err)
{
    char status[32];
    pthread_mutex_lock(&e->lock);
    adopt_inbox(e);
    struct run *r = find_run(e, id);
    if (r && !r->stopping) {
        begin_stop(e, r, STOP_CANCEL, "cancelled on request");
        wake(e);
    }
    tx_end(e);
    pthread_mutex_unlock(&e->lock);
    if (r)
        return 0;
    if (orch_store_workflow_status(e->cfg.store, id, status, sizeof status, err) < 0)
        return -1;
    return rt_error_coded(err, EBUSY, "the workflow has already ended (%s)", status);
}

int orch_engine_retry(orch_engine *e, const char *id, rt_error *err)
{
    char status[32];
    int rc = -1;
    pthread_mutex_lock(&e->lock);
    adopt_inbox(e);
    if (find_run(e, id)) {
        rt_error_coded(err, EBUSY, "the workflow is still running");
    } else if (orch_store_workflow_status(e->cfg.store, id, status, sizeof status, err) == 0) {
        if (strcmp(status, "succeeded") == 0 || !orch_workflow_status_final(status)) {
            rt_error_coded(err, EBUSY, "only a failed, cancelled, timed out or over-budget "
                                       "workflow can be retried (this one is %s)", status);
        } else {
            struct run *r = load_run(e, id, true, err);
            if (r) {
                save_run(e, r);
                json_t *ev = json_pack("{s:s,s:s,s:I}", "type", "workflow", "status", "queued",
                                       "run", (json_int_t)r->runs);
                emit(e, r, ev);
                add_run(e, r);
                rc = 0;
            }
        }
    }
    tx_end(e);
    pthread_mutex_unlock(&e->lock);
    return rc;
}

int orch_engine_approve(orch_engine *e, const char *id, const char *step, bool approve,
                        const char *comment, rt_error *err)
{
    char status[32];
    int rc = -1;
    pthread_mutex_lock(&e->lock);
    adopt_inbox(e);
    struct run *r = find_run(e, id);
    long i = r ? orch_workflow_step(r->wf, step) : -1;
    if (!r) {
        if (orch_store_workflow_status(e->cfg.store, id, status, sizeof status, err) == 0)
            rt_error_coded(err, EBUSY, "the workflow has already ended (%s)", status);
    } else if (i < 0) {
        rt_error_coded(err, ENOENT, "no step \"%.64s\" in this workflow", step);
    } else if (r->steps[i].approval != AP_WAITING || r->steps[i].st != ST_PENDING) {
        rt_error_coded(err, EBUSY, "step %s is not waiting for approval (it is %s)", step,
                     step_names[r->steps[i].st]);
    } else {
        struct step *s = &r->steps[i];
        replace_str(&s->approval_comment, comment);
        if (approve) {
            s->approval = AP_APPROVED;
            save_step(e, r, (size_t)i);
        } else {
            char msg[600];
            snprintf(msg, sizeof msg, "approval: rejected%s%.500s", comment ? ": " : "",
                     comment ? comment : "");
            s->approval = AP_REJECTED;
            s->st = ST_FAILED;
            replace_str(&s->error, msg);
            s->finished_ms = now_ms();
            publish_step(r, (size_t)i);
            save_step(e, r, (size_t)i);
        }
        json_t *ev = json_pack("{s:s,s:s,s:s}", "type", "approval", "step", step, "decision",
                               approve ? "approved" : "rejected");
        if (ev && comment)
            json_object_set_new(ev, "comment", json_string(comment));
        emit(e, r, ev);
        if (!approve)
            step_event(e, r, (size_t)i);
        mark_moved(e, r);
        wake(e);
        rc = 0;
    }
    tx_end(e);
    pthread_mutex_unlock(&e->lock);
    return rc;
}

int orch_engine_delete(orch_engine *e, const char *id, rt_error *err)
{
    char dir[PATH_MAX + ORCH_STORE_ID_MAX];
    int rc = -1;
    pthread_mutex_lock(&e->lock);
    adopt_inbox(e);
    if (find_run(e, id)) {
        rt_error_coded(err, EBUSY, "the workflow is running: cancel it first");
    } else if (orch_store_workflow_delete(e->cfg.store, id, err) == 0) {
        snprintf(dir, sizeof dir, "%s/%s", e->wf_dir, id);
        rc = remove_run_dirs(dir, err);
    }
    tx_end(e);
    pthread_mutex_unlock(&e->lock);
    return rc;
}

int orch_engine_workspace(orch_engine *e, const char *id, char *buf, size_t len, rt_error *err)
{
    char status[32];
    if (orch_store_workflow_status(e->cfg.store, id, status, sizeof status, err) < 0)
        return -1;
    snprintf(buf, len, "%s/%s/workspace", e->wf_dir, id);
    if (access(buf, F_OK) < 0)
        return rt_error_coded(err, ENOENT, "the workflow has no workspace yet (it is %s)", status);
    return 0;
}

bool orch_engine_finished(orch_engine *e, const char *id)
{
    pthread_mutex_lock(&e->lock);
    adopt_inbox(e);
    bool active = find_run(e, id) != NULL;
    tx_end(e);
    pthread_mutex_unlock(&e->lock);
    return !active;
}

void orch_engine_wait_event(orch_engine *e, uint64_t *gen, long timeout_ms)
{
    pthread_mutex_lock(&e->lock);
    if (*gen == e->event_gen && !e->stopping) {
        e->gen_waiters++;
        wait_ms(&e->events, &e->lock, timeout_ms);
        e->gen_waiters--;
    }
    *gen = e->event_gen;
    pthread_mutex_unlock(&e->lock);
}

void orch_engine_wait_workflow(orch_engine *e, const char *id, int64_t after, long timeout_ms)
{
    pthread_mutex_lock(&e->lock);
    struct run *r = find_run(e, id);
    if (r && r->last_seq <= after && !e->stopping) {
        struct watcher w = {.r = r, .after = after, .next = e->watchers};
        cond_init_mono(&w.cond);
        e->watchers = &w;
        wait_ms(&w.cond, &e->lock, timeout_ms);
        for (struct watcher **p = &e->watchers; *p; p = &(*p)->next)
            if (*p == &w) {
                *p = w.next;
                break;
            }
        pthread_cond_destroy(&w.cond);
    }
    pthread_mutex_unlock(&e->lock);
}

unsigned orch_engine_active(orch_engine *e)
{
    unsigned n = 0;
    pthread_mutex_lock(&e->lock);
    adopt_inbox(e);
    for (struct run *r = e->runs; r; r = r->next)
        n++;
    tx_end(e);
    pthread_mutex_unlock(&e->lock);
    return n;
}
