/* sbx workflow run: the engine in this process, with the runtime as executor
 * (orchestrator/local.h), a store in the state directory, and the progress of
 * the one workflow it was given. Also status, list, logs and delete with
 * --state-dir: what such runs kept (--keep). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine.h"
#include "languages.h"
#include "local.h"
#include "store.h"
#include "workflow_cmds.h"
#include "workflow_doc.h"
#include "workflow_show.h"

#define PROG "sbx workflow run"
#define WORKSPACE_BYTES (256u << 20)
#define STOP_GRACE_MS 5000
#define EVENTS_PAGE 200

static volatile sig_atomic_t got_signal;

static void on_signal(int sig)
{
    if (!got_signal)
        got_signal = sig;
}

/* languages.json, as sandboxd reads it; a file that cannot be read only
 * matters to code steps, which then fail with the reason. */
struct langs {
    sd_languages set;
    bool loaded;
    rt_error why;
};

static int find_language(void *ctx, const char *name, orch_language *out, rt_error *err)
{
    const struct langs *ls = ctx;
    if (!ls->loaded)
        return rt_error_set(err, 0, "language: no languages here (%s)", ls->why.msg);
    const sd_language *l = sd_languages_find(&ls->set, name);
    if (!l) {
        char known[512] = "";
        for (size_t i = 0, n = 0; i < ls->set.n && n < sizeof known; i++, n = strlen(known))
            snprintf(known + n, sizeof known - n, "%s%s", n ? ", " : "", ls->set.v[i].name);
        return rt_error_set(err, 0, "language: \"%s\" is not defined in %s (known: %s)", name,
                            ls->set.path, known);
    }
    if (!l->available)
        return rt_error_set(err, 0, "language: %s needs %s, which is not installed here", name,
                            l->requires);
    *out = (orch_language){.file = l->file, .command = l->command, .limits = l->limits};
    return 0;
}

/* Everything one run holds, undone by teardown in the reverse order. */
struct local_run {
    const sbx_wf_opts *o;
    char dir[PATH_MAX];
    int lock_fd;
    orch_store *store;
    struct langs langs;
    orch_local local;
    bool local_init;
    orch_engine *engine;
    char id[ORCH_STORE_ID_MAX];
    sbx_wf_progress progress;
};

/* mkdir -p, each missing directory 0700. */
static int make_dirs(char *path, rt_error *err)
{
    for (char *p = path + 1;; p++) {
        if (*p != '/' && *p)
            continue;
        char c = *p;
        *p = '\0';
        int rc = mkdir(path, 0700);
        *p = c;
        if (rc < 0 && errno != EEXIST) {
            *p = '\0';
            rt_error_set(err, errno, "creating %s", path);
            *p = c;
            return -1;
        }
        if (!c)
            return 0;
    }
}

/* --state-dir, $SBX_STATE_DIR, ${XDG_STATE_HOME:-$HOME/.local/state}/sbx. */
static int state_dir(const sbx_wf_opts *o, char *out, size_t len, rt_error *err)
{
    const char *env = getenv("SBX_STATE_DIR"), *xdg = getenv("XDG_STATE_HOME"),
               *home = getenv("HOME");
    char want[PATH_MAX];
    if (o->state_dir)
        snprintf(want, sizeof want, "%s", o->state_dir);
    else if (env && *env)
        snprintf(want, sizeof want, "%s", env);
    else if (xdg && *xdg == '/')
        snprintf(want, sizeof want, "%s/sbx", xdg);
    else if (home && *home == '/')
        snprintf(want, sizeof want, "%s/.local/state/sbx", home);
    else
        return rt_error_set(err, 0, "no state directory: $HOME is not set (give --state-dir)");
    if (make_dirs(want, err) < 0)
        return -1;
    if (!realpath(want, out) || strlen(out) >= len - 1)
        return rt_error_set(err, errno, "%s", want);
    return 0;
}

/* One run at a time per state directory: a second engine would resume the
 * first one's workflow as its own. */
static int lock_dir(struct local_run *r, rt_error *err)
{
    char path[PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/workflows.lock", r->dir);
    r->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (r->lock_fd < 0)
        return rt_error_set(err, errno, "%s", path);
    if (flock(r->lock_fd, LOCK_EX | LOCK_NB) == 0)
        return 0;
    if (errno == EWOULDBLOCK)
        return rt_error_set(err, 0, "another sbx workflow run is using %s; wait for it to end or "
                                    "give another --state-dir", r->dir);
    return rt_error_set(err, errno, "locking %s", path);
}

/* Workflows an earlier run left unfinished (it was killed): the engine resumes
 * them at start, but nobody follows them any more, so they are cancelled. */
static void cancel_orphans(struct local_run *r, const json_t *ids)
{
    size_t i;
    json_t *id;
    rt_error err;
    json_array_foreach(ids, i, id) {
        const char *s = json_string_value(id);
        fprintf(stderr, PROG ": note: cancelling workflow %s, left unfinished in %s by an "
                        "earlier run that was killed (it stays there)\n", s, r->dir);
        if (orch_engine_cancel(r->engine, s, &err) < 0 && err.code != EBUSY)
            fprintf(stderr, PROG ": cancelling %s: %s\n", s, err.msg);
    }
}

static long cores(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? n : 1;
}

static int setup(struct local_run *r, rt_error *err)
{
    static const char *const unfinished[] = {"queued", "running", NULL};
    char db[PATH_MAX + 32];
    if (state_dir(r->o, r->dir, sizeof r->dir, err) < 0 || lock_dir(r, err) < 0)
        return -1;
    snprintf(db, sizeof db, "%s/workflows.db", r->dir);
    if (orch_store_open(db, &r->store, err) < 0)
        return -1;
    json_t *orphans = orch_store_workflow_ids(r->store, unfinished, err);
    if (!orphans)
        return -1;
    r->langs.loaded = sd_languages_load(NULL, &r->langs.set, &r->langs.why) == 0;
    orch_local_init(&r->local);
    r->local_init = true;
    r->local.language = find_language;
    r->local.language_ctx = &r->langs;
    orch_engine_config cfg = {
        .state_dir = r->dir,
        .store = r->store,
        .exec = orch_local_executor(&r->local),
        .max_running = r->o->max_running ? r->o->max_running : (unsigned)cores(),
        .workspace_bytes = WORKSPACE_BYTES,
    };
    orch_prices_default(&cfg.prices);
    int rc = orch_engine_start(&cfg, &r->engine, err);
    if (rc == 0)
        cancel_orphans(r, orphans);
    json_decref(orphans);
    return rc;
}

static void teardown(struct local_run *r)
{
    orch_engine_stop(r->engine, STOP_GRACE_MS);
    if (r->local_init)
        orch_local_free(&r->local);
    if (r->langs.loaded)
        sd_languages_free(&r->langs.set);
    orch_store_close(r->store);
    if (r->lock_fd >= 0)
        close(r->lock_fd);
}

/* Each --approve STEP must name a step of the workflow. */
static int check_approvals(const sbx_wf_opts *o, const json_t *body, rt_error *err)
{
    const json_t *steps = json_object_get(json_object_get(body, "workflow"), "steps");
    for (size_t k = 0; k < o->n_approve; k++) {
        bool found = false;
        size_t i;
        json_t *s;
        json_array_foreach(steps, i, s)
            found |= strcmp(json_string_value(json_object_get(s, "id")) ?: "", o->approve[k]) == 0;
        if (!found)
            return rt_error_set(err, 0, "--approve %s: no such step in the workflow", o->approve[k]);
    }
    return 0;
}

static int submit(struct local_run *r, const json_t *body)
{
    orch_problems pr;
    orch_submit sub;
    rt_error err;
    rt_error_clear(&err);
    if (orch_engine_submit(r->engine, body, NULL, &sub, &pr, &err) == 0) {
        orch_problems_free(&pr);
        snprintf(r->id, sizeof r->id, "%s", sub.id);
        return 0;
    }
    if (!pr.n) {
        fprintf(stderr, PROG ": %s\n", err.msg);
        return SBX_WF_FAILED;
    }
    fprintf(stderr, PROG ": %s: invalid workflow (%zu problem%s):\n", r->o->args[0], pr.n,
            pr.n == 1 ? "" : "s");
    for (size_t i = 0; i < pr.n; i++)
        fprintf(stderr, "  %s: %s\n", pr.v[i].path[0] ? pr.v[i].path : "(the document)",
                pr.v[i].message);
    orch_problems_free(&pr);
    return SBX_WF_USAGE;
}

/* A step that waits for approval and was named by --approve is approved. */
static void auto_approve(struct local_run *r, const json_t *ev)
{
    const char *type = json_string_value(json_object_get(ev, "type")),
               *step = json_string_value(json_object_get(ev, "step")),
               *approval = json_string_value(json_object_get(ev, "approval"));
    rt_error err;
    if (!type || strcmp(type, "step") != 0 || !step || !approval || strcmp(approval, "waiting"))
        return;
    for (size_t k = 0; k < r->o->n_approve; k++)
        if (strcmp(r->o->approve[k], step) == 0 &&
            orch_engine_approve(r->engine, r->id, step, true, "--approve", &err) < 0)
            sbx_wf_progress_note(&r->progress, PROG ": approving %s: %s", step, err.msg);
}

/* Shows the events after *after; -1 when the store fails. */
static int show_events(struct local_run *r, int64_t *after, size_t *count)
{
    rt_error err;
    json_t *page = orch_store_events(r->store, r->id, *after, EVENTS_PAGE, &err);
    size_t i;
    json_t *e;
    if (!page) {
        sbx_wf_progress_note(&r->progress, PROG ": reading events: %s", err.msg);
        return -1;
    }
    json_array_foreach(page, i, e) {
        *after = json_integer_value(json_object_get(e, "seq"));
        sbx_wf_progress_event(&r->progress, json_object_get(e, "event"));
        auto_approve(r, json_object_get(e, "event"));
    }
    *count = json_array_size(page);
    json_decref(page);
    return 0;
}

/* Follows the workflow until it ends; a signal cancels it first. */
static void follow(struct local_run *r)
{
    uint64_t gen = 0;
    int64_t after = 0;
    bool cancelling = false;
    rt_error err;
    for (;;) {
        /* Read the flag before the events, so that the last ones are shown. */
        bool done = orch_engine_finished(r->engine, r->id);
        size_t n = 0;
        if (show_events(r, &after, &n) < 0 && done)
            return;
        if (n == EVENTS_PAGE)
            continue;
        if (done)
            return;
        if (got_signal && !cancelling) {
            cancelling = true;
            sbx_wf_progress_note(&r->progress, "%s: cancelling the workflow",
                                 got_signal == SIGINT ? "SIGINT" : "SIGTERM");
            if (orch_engine_cancel(r->engine, r->id, &err) < 0 && err.code != EBUSY)
                sbx_wf_progress_note(&r->progress, PROG ": cancelling: %s", err.msg);
        }
        orch_engine_wait_event(r->engine, &gen, 250);
        sbx_wf_progress_tick(&r->progress);
    }
}

/* The result, and what is left of the workflow: deleted, or kept and shown. */
static int finish(struct local_run *r)
{
    rt_error err;
    json_t *doc = orch_engine_get(r->engine, r->id, &err);
    int rc = SBX_WF_FAILED;
    if (!doc) {
        fprintf(stderr, PROG ": reading the result of %s: %s\n", r->id, err.msg);
    } else {
        sbx_wf_print_summary(stderr, doc);
        rc = sbx_wf_exit_status(doc);
        if (r->o->json && sbx_wf_print_json(doc) < 0) {
            fprintf(stderr, PROG ": cannot encode the result\n");
            rc = SBX_WF_FAILED;
        }
        json_decref(doc);
    }
    if (r->o->keep)
        fprintf(stderr, PROG ": kept workflow %s in %s (store %s/workflows.db, workspace "
                        "%s/workflows/%s/workspace)\n",
                r->id, r->dir, r->dir, r->dir, r->id);
    else if (orch_engine_delete(r->engine, r->id, &err) < 0)
        fprintf(stderr, PROG ": deleting workflow %s from %s: %s\n", r->id, r->dir, err.msg);
    return rc;
}

static void catch_signals(void)
{
    struct sigaction sa = {.sa_handler = on_signal};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

int sbx_wf_run(const sbx_wf_opts *o)
{
    struct local_run r = {.o = o, .lock_fd = -1};
    rt_error err;
    rt_error_clear(&err);
    json_t *body = sbx_wf_load_body(o->args[0], o->inputs, &err);
    if (!body || check_approvals(o, body, &err) < 0) {
        fprintf(stderr, PROG ": %s\n", err.msg);
        json_decref(body);
        return SBX_WF_USAGE;
    }
    catch_signals();
    int rc;
    if (setup(&r, &err) < 0) {
        fprintf(stderr, PROG ": %s\n", err.msg);
        rc = SBX_WF_FAILED;
    } else if ((rc = submit(&r, body)) == 0) {
        sbx_wf_progress_init(&r.progress, stderr, sbx_wf_step_width(body),
                             "(only --approve %s approves it here)");
        follow(&r);
        sbx_wf_progress_free(&r.progress);
        rc = finish(&r);
        if (got_signal)
            rc = 128 + got_signal;
    }
    teardown(&r);
    json_decref(body);
    return rc;
}

/* ---- what runs kept: status, list, logs, delete with --state-dir ---- */

static int local_status(struct local_run *r)
{
    rt_error err;
    json_t *doc = orch_engine_get(r->engine, r->o->args[0], &err);
    if (!doc) {
        fprintf(stderr, "sbx workflow status: %s in %s: %s\n", r->o->args[0], r->dir,
                err.code == ENOENT ? "no such workflow" : err.msg);
        return SBX_WF_FAILED;
    }
    return sbx_wf_show(doc, r->o->json, sbx_wf_print_status);
}

static int local_list(struct local_run *r)
{
    rt_error err;
    const sbx_wf_opts *o = r->o;
    json_t *page = orch_store_workflow_list(r->store, o->status, o->limit ? o->limit : 50,
                                            o->cursor, &err);
    if (!page) {
        fprintf(stderr, "sbx workflow list: %s\n", err.msg);
        return err.code == EINVAL ? SBX_WF_USAGE : SBX_WF_FAILED;
    }
    return sbx_wf_show(page, o->json, sbx_wf_print_list);
}

/* Every stored event, as the daemon streams them: the event with its seq and time. */
static int local_logs(struct local_run *r)
{
    rt_error err;
    int64_t after = 0;
    json_t *row = orch_store_workflow_get(r->store, r->o->args[0], &err);
    if (!row) {
        fprintf(stderr, "sbx workflow logs: %s in %s: %s\n", r->o->args[0], r->dir,
                err.code == ENOENT ? "no such workflow" : err.msg);
        return SBX_WF_FAILED;
    }
    json_decref(row);
    for (;;) {
        json_t *page = orch_store_events(r->store, r->o->args[0], after, EVENTS_PAGE, &err);
        size_t i, n;
        json_t *e;
        if (!page) {
            fprintf(stderr, "sbx workflow logs: %s\n", err.msg);
            return SBX_WF_FAILED;
        }
        json_array_foreach(page, i, e) {
            json_t *ev = json_deep_copy(json_object_get(e, "event"));
            after = json_integer_value(json_object_get(e, "seq"));
            if (!json_is_object(ev)) {
                json_decref(ev);
                continue;
            }
            json_object_set(ev, "seq", json_object_get(e, "seq"));
            json_object_set(ev, "time_ms", json_object_get(e, "time_ms"));
            if (!r->o->json)
                sbx_wf_print_event(stdout, ev);
            else if (json_dumpf(ev, stdout, JSON_COMPACT | JSON_REAL_PRECISION(9)) == 0)
                fputc('\n', stdout);
            json_decref(ev);
        }
        n = json_array_size(page);
        json_decref(page);
        if (n < EVENTS_PAGE)
            return 0;
    }
}

static int local_delete(struct local_run *r)
{
    rt_error err;
    if (orch_engine_delete(r->engine, r->o->args[0], &err) < 0) {
        fprintf(stderr, "sbx workflow delete: %s in %s: %s\n", r->o->args[0], r->dir,
                err.code == ENOENT ? "no such workflow" : err.msg);
        return SBX_WF_FAILED;
    }
    if (!r->o->json) {
        printf("%s: deleted\n", r->o->args[0]);
        return 0;
    }
    json_t *answer = json_pack("{s:s,s:b}", "id", r->o->args[0], "deleted", 1);
    int rc = answer && sbx_wf_print_json(answer) == 0 ? 0 : SBX_WF_FAILED;
    json_decref(answer);
    return rc;
}

int sbx_wf_local(const sbx_wf_opts *o)
{
    struct local_run r = {.o = o, .lock_fd = -1};
    rt_error err;
    int rc;
    rt_error_clear(&err);
    if (setup(&r, &err) < 0) {
        fprintf(stderr, "sbx workflow %s: %s\n", o->name, err.msg);
        rc = SBX_WF_FAILED;
    } else {
        rc = o->cmd == SBX_WF_STATUS ? local_status(&r)
           : o->cmd == SBX_WF_LIST   ? local_list(&r)
           : o->cmd == SBX_WF_LOGS   ? local_logs(&r)
                                     : local_delete(&r);
    }
    teardown(&r);
    return rc;
}
