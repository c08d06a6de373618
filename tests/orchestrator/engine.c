/* Tests orchestrator/engine.c with real sandboxes (the local executor) and a
 * real SQLite file: order, parallelism, fan-out, conditions, retries and
 * backoff, timeouts, cancel, budgets, approvals, outputs, recovery after a
 * stop, retry of a failed workflow, idempotency and deletion. Documents use `
 * for ". */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <time.h>
#include <unistd.h>

#include "engine.h"
#include "leaks.h"
#include "local.h"
#include "stepio.h"
#include "store.h"
#include "sandbox.h"
#include "backtick.h"
#include "tap.h"

static char state_dir[] = "/tmp/sbx-engine-XXXXXX";
static char db_path[PATH_MAX];
static orch_store *store;
static orch_engine *eng;
static orch_local local;

static char *const sh_command[] = {"sh", "main.sh", NULL};

/* sh, and nested: sh with its file in a directory (which steps refuse). */
static int sh_language(void *ctx, const char *name, orch_language *out, rt_error *err)
{
    (void)ctx;
    if (strcmp(name, "sh") != 0 && strcmp(name, "nested") != 0)
        return rt_error_set(err, 0, "language: \"%s\" is not defined here", name);
    out->file = strcmp(name, "sh") == 0 ? "main.sh" : "src/main.sh";
    out->command = sh_command;
    out->limits = NULL;
    return 0;
}

static void start_engine(unsigned max_running)
{
    rt_error err;
    orch_engine_config cfg = {
        .state_dir = state_dir,
        .store = store,
        .exec = orch_local_executor(&local),
        .max_running = max_running,
        .workspace_bytes = 32u << 20,
    };
    orch_prices_default(&cfg.prices);
    if (orch_engine_start(&cfg, &eng, &err) < 0) {
        diag("engine: %s", err.msg);
        exit(1);
    }
}

static double mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* Submits {"workflow": doc, "inputs": inputs}; the id, or "" with problems
 * written to diag. */
static const char *submit(const char *doc, const char *inputs, const char *key)
{
    static char id[ORCH_STORE_ID_MAX];
    json_t *body = json_pack("{s:o}", "workflow", load(doc));
    orch_problems pr;
    orch_submit out;
    rt_error err;
    if (inputs)
        json_object_set_new(body, "inputs", load(inputs));
    id[0] = '\0';
    if (orch_engine_submit(eng, body, key, &out, &pr, &err) == 0) {
        snprintf(id, sizeof id, "%s", out.id);
    } else {
        for (size_t i = 0; i < pr.n; i++)
            diag("problem: %s: %s", pr.v[i].path, pr.v[i].message);
        if (!pr.n)
            diag("submit: %s", err.msg);
    }
    orch_problems_free(&pr);
    json_decref(body);
    return id;
}

/* Every problem of a submission as "path: message | ...". */
static const char *problems_of(const char *doc, const char *inputs)
{
    static char buf[4096];
    json_t *body = json_pack("{s:o}", "workflow", load(doc));
    orch_problems pr;
    orch_submit out;
    rt_error err;
    size_t o = 0;
    if (inputs)
        json_object_set_new(body, "inputs", load(inputs));
    buf[0] = '\0';
    if (orch_engine_submit(eng, body, NULL, &out, &pr, &err) == 0) {
        snprintf(buf, sizeof buf, "accepted");
    } else {
        for (size_t i = 0; i < pr.n && o < sizeof buf; i++)
            o += (size_t)snprintf(buf + o, sizeof buf - o, "%s%s: %s", i ? " | " : "",
                                  pr.v[i].path, pr.v[i].message);
    }
    orch_problems_free(&pr);
    json_decref(body);
    return buf;
}

/* Polls the result, as an API client does: nothing here may take the
 * engine's lock (a transaction left open by the engine must show). */
static json_t *wait_done(const char *id, double timeout_ms)
{
    double t0 = mono_ms();
    rt_error err;
    json_t *res;
    for (;;) {
        if (!(res = orch_engine_get(eng, id, &err))) {
            diag("get %s: %s", id, err.msg);
            return NULL;
        }
        if (orch_workflow_status_final(json_string_value(json_object_get(res, "status"))) ||
            mono_ms() - t0 >= timeout_ms)
            return res;
        json_decref(res);
        usleep(20 * 1000);
    }
}

static json_t *run_wf(const char *doc, const char *inputs)
{
    const char *id = submit(doc, inputs, NULL);
    return id[0] ? wait_done(id, 60000) : NULL;
}

/* The string at a selector, or its compact JSON, or "(none)". */
static const char *at(const json_t *doc, const char *sel)
{
    static char bufs[8][512];
    static int next;
    char *b = bufs[next++ % 8];
    rt_error err;
    json_t *v = doc ? orch_json_select(doc, sel, &err) : NULL;
    if (!v) {
        snprintf(b, 512, "(none)");
    } else if (json_is_string(v)) {
        snprintf(b, 512, "%s", json_string_value(v));
    } else {
        char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
        snprintf(b, 512, "%s", s ? s : "?");
        free(s);
    }
    json_decref(v);
    return b;
}

static double num_at(const json_t *doc, const char *sel)
{
    rt_error err;
    json_t *v = doc ? orch_json_select(doc, sel, &err) : NULL;
    double d = json_number_value(v);
    json_decref(v);
    return d;
}

/* The result once the string at sel is want, or after 5 s as it is then. */
static json_t *wait_for(const char *id, const char *sel, const char *want)
{
    rt_error err;
    json_t *r = NULL;
    for (int i = 0; i < 250; i++) {
        json_decref(r);
        r = orch_engine_get(eng, id, &err);
        if (strcmp(at(r, sel), want) == 0)
            break;
        usleep(20 * 1000);
    }
    return r;
}

static void test_pipeline(void)
{
    json_t *r = run_wf(
        "{`name`: `pipe`, `inputs`: {`who`: {`type`: `string`, `default`: `world`}},"
        " `steps`: ["
        "  {`id`: `a`, `run`: `echo hello ${{ inputs.who }}; echo greeting=hi >> $SBX_OUTPUT;"
        "    printf 'long<<EOF\\nx\\ny\\nEOF\\n' >> $SBX_OUTPUT; echo data > /workspace/f.txt`,"
        "   `outputs`: {`out`: {`from`: `stdout`}, `greeting`: {`from`: `output`},"
        "               `long`: {`from`: `output`}, `file`: {`from`: `file`, `path`: `f.txt`}}},"
        "  {`id`: `b`, `needs`: [`a`], `command`: [`sh`, `-c`, `echo \\\"$1\\\"`, `x`,"
        "    `${{ steps.a.outputs.greeting }}-${{ steps.a.outputs.file }}`],"
        "   `outputs`: {`j`: {`from`: `stdout`}}},"
        "  {`id`: `c`, `needs`: [`b`], `run`: `echo '{\\\"k\\\": [1, {\\\"v\\\": 42}]}'`,"
        "   `outputs`: {`v`: {`from`: `stdout_json`, `path`: `k[1].v`}}}"
        "]}",
        NULL);
    is_str(at(r, "status"), "succeeded", "a three-step pipeline succeeds");
    is_str(at(r, "steps.a.outputs.out"), "hello world\n", "stdout output with the input");
    is_str(at(r, "steps.a.outputs.greeting"), "hi", "$SBX_OUTPUT key=value");
    is_str(at(r, "steps.a.outputs.long"), "x\ny", "$SBX_OUTPUT multi-line value");
    is_str(at(r, "steps.a.outputs.file"), "data\n", "output from a workspace file");
    is_str(at(r, "steps.b.result.stdout"), "hi-data\n\n", "a template in argv reads outputs");
    is_str(at(r, "steps.c.outputs.v"), "42", "stdout_json with a path");
    ok(num_at(r, "steps.b.started_ms") >= num_at(r, "steps.a.finished_ms"),
       "b started after a finished");
    ok(num_at(r, "cost.usd") > 0, "the workflow has a cost (%s)", at(r, "cost"));
    is_str(at(r, "steps.a.attempts"), "1", "one attempt");
    is_str(at(r, "steps.a.result.status"), "ok", "the step's result is there");
    json_decref(r);
}

static void test_fan_out(void)
{
    json_t *r = run_wf(
        "{`name`: `squares`, `inputs`: {`count`: {`type`: `integer`, `default`: 3}},"
        " `max_parallel`: 4, `steps`: ["
        "  {`id`: `gen`, `run`: `seq 1 ${{ inputs.count }} | paste -sd, | sed 's/.*/[&]/'`,"
        "   `outputs`: {`numbers`: {`from`: `stdout_json`}}},"
        "  {`id`: `square`, `needs`: [`gen`], `for_each`: `${{ steps.gen.outputs.numbers }}`,"
        "   `run`: `echo $((N * N)) > /workspace/sq_$N; echo $((N * N))`, `env`: {`N`: `${{ item }}`},"
        "   `outputs`: {`sq`: {`from`: `stdout`}}},"
        "  {`id`: `sum`, `needs`: [`square`], `when`: `${{ steps.square.status == 'ok' }}`,"
        "   `run`: `cat /workspace/sq_* | paste -sd+ | bc`, `outputs`: {`total`: {`from`: `stdout`}}}"
        "]}",
        "{`count`: 4}");
    is_str(at(r, "status"), "succeeded", "fan-out workflow succeeds");
    is_str(at(r, "steps.square.outputs.sq"), "[\"1\\n\",\"4\\n\",\"9\\n\",\"16\\n\"]",
           "fan-out outputs are arrays in item order");
    is_str(at(r, "steps.sum.outputs.total"), "30\n", "the steps share the workspace");
    is_str(at(r, "steps.square.items[2].item"), "3", "each item keeps its value");
    is_str(at(r, "steps.square.items[3].result.status"), "ok", "each item has its result");
    json_decref(r);

    r = run_wf("{`name`: `empty`, `steps`: [{`id`: `a`, `for_each`: `${{ inputs.l }}`,"
               " `run`: `true`, `outputs`: {`o`: {`from`: `stdout`}}}],"
               " `inputs`: {`l`: {`type`: `array`, `default`: []}}}",
               NULL);
    is_str(at(r, "steps.a.status"), "ok", "fan-out over an empty list is ok");
    is_str(at(r, "steps.a.outputs.o"), "[]", "... with empty output lists");
    json_decref(r);

    r = run_wf("{`name`: `notlist`, `steps`: [{`id`: `a`, `for_each`: `${{ inputs.l }}`,"
               " `run`: `true`}], `inputs`: {`l`: {`type`: `string`, `default`: `x`}}}",
               NULL);
    is_str(at(r, "steps.a.status"), "failed", "for_each over a string fails the step");
    is_str(at(r, "steps.a.error"), "for_each: gave a string, not an array", "... saying why");
    json_decref(r);
}

/* The store's cost of a chain of ten steps: each step's end and the next
 * one's start are written in one transaction (one commit), not one per row. */
static void test_commits_per_step(void)
{
    char doc[2048];
    size_t o = (size_t)snprintf(doc, sizeof doc, "{`name`: `chain`, `steps`: [");
    for (int i = 0; i < 10; i++) {
        char needs[32] = "";
        if (i)
            snprintf(needs, sizeof needs, ", `needs`: [`s%d`]", i - 1);
        o += (size_t)snprintf(doc + o, sizeof doc - o, "%s{`id`: `s%d`, `run`: `true`%s}",
                              i ? ", " : "", i, needs);
    }
    snprintf(doc + o, sizeof doc - o, "]}");
    uint64_t before = orch_store_commits(store);
    json_t *r = run_wf(doc, NULL);
    uint64_t commits = orch_store_commits(store) - before;
    is_str(at(r, "status"), "succeeded", "a chain of ten steps succeeds");
    ok(commits >= 10 && commits <= 14, "... in 10 to 14 commits, about one per step (%llu)",
       (unsigned long long)commits);
    json_decref(r);
}

/* Four 0.4 s items with max_parallel 2 take two rounds. */
static void test_parallel_limit(void)
{
    double t0 = mono_ms();
    json_t *r = run_wf("{`name`: `par`, `max_parallel`: 2, `steps`: [{`id`: `s`,"
                       " `for_each`: `${{ inputs.l }}`, `run`: `sleep 0.4`}],"
                       " `inputs`: {`l`: {`type`: `array`, `default`: [1, 2, 3, 4]}}}",
                       NULL);
    double dt = mono_ms() - t0;
    is_str(at(r, "status"), "succeeded", "parallel workflow succeeds");
    ok(dt >= 800, "max_parallel 2 runs 4 × 0.4 s in two rounds (%.0f ms)", dt);
    ok(dt < 4000, "... but in parallel (%.0f ms)", dt);
    json_decref(r);

    t0 = mono_ms();
    r = run_wf("{`name`: `par2`, `max_parallel`: 4, `steps`: ["
               " {`id`: `a`, `run`: `sleep 0.5`}, {`id`: `b`, `run`: `sleep 0.5`},"
               " {`id`: `c`, `needs`: [`a`, `b`], `run`: `true`}]}",
               NULL);
    dt = mono_ms() - t0;
    ok(dt < 1000, "independent steps run at once (%.0f ms)", dt);
    json_decref(r);
}

/* With every slot taken, a new workflow waits queued (no workspace made, its
 * timeout not running) and starts when a slot frees. */
static void test_queued_until_room(void)
{
    char a[ORCH_STORE_ID_MAX], b[ORCH_STORE_ID_MAX];
    rt_error err;
    snprintf(a, sizeof a, "%s",
             submit("{`name`: `full`, `max_parallel`: 4, `steps`: [{`id`: `s`,"
                    " `for_each`: `${{ inputs.l }}`, `run`: `sleep 2`}],"
                    " `inputs`: {`l`: {`type`: `array`, `default`: [1, 2, 3, 4]}}}",
                    NULL, NULL));
    usleep(600 * 1000);
    snprintf(b, sizeof b, "%s",
             submit("{`name`: `waits`, `timeout`: `1s`, `steps`: [{`id`: `t`, `run`: `true`}]}",
                    NULL, NULL));
    usleep(300 * 1000);
    json_t *r = orch_engine_get(eng, b, &err);
    is_str(at(r, "status"), "queued", "every slot busy: a new workflow stays queued");
    char ws[PATH_MAX];
    snprintf(ws, sizeof ws, "%s/workflows/%s", state_dir, b);
    ok(access(ws, F_OK) < 0, "and has no workspace yet");
    json_decref(r);
    r = wait_done(b, 60000);
    is_str(at(r, "status"), "succeeded",
           "it runs when a slot frees (its 1 s timeout counted from then, not while queued)");
    json_decref(r);
    r = wait_done(a, 60000);
    is_str(at(r, "status"), "succeeded", "the workflow that held the slots succeeds");
    json_decref(r);
}

static void test_conditions(void)
{
    json_t *r = run_wf(
        "{`name`: `cond`, `steps`: ["
        "  {`id`: `bad`, `run`: `exit 3`},"
        "  {`id`: `after`, `needs`: [`bad`], `run`: `true`},"
        "  {`id`: `after2`, `needs`: [`after`], `run`: `true`},"
        "  {`id`: `always`, `needs`: [`bad`], `when`: `always()`, `run`: `true`},"
        "  {`id`: `onfail`, `needs`: [`bad`], `when`: `failure()`, `run`: `true`},"
        "  {`id`: `no`, `when`: `1 > 2`, `run`: `true`},"
        "  {`id`: `soft`, `run`: `false`, `continue_on_error`: true},"
        "  {`id`: `aftersoft`, `needs`: [`soft`], `run`: `true`}"
        "]}",
        NULL);
    is_str(at(r, "status"), "failed", "a failed step fails the workflow");
    is_str(at(r, "error"), "step bad failed", "... naming it");
    is_str(at(r, "steps.bad.sandbox_status"), "exit_nonzero", "the sandbox status is kept");
    is_str(at(r, "steps.bad.error"), "exit code 3", "... with the exit code");
    is_str(at(r, "steps.after.status"), "skipped", "a dependant of a failure is skipped");
    is_str(at(r, "steps.after2.status"), "skipped", "... and its dependants too");
    is_str(at(r, "steps.always.status"), "ok", "always() runs anyway");
    is_str(at(r, "steps.onfail.status"), "ok", "failure() runs after a failure");
    is_str(at(r, "steps.no.status"), "skipped", "a false when skips");
    is_str(at(r, "steps.soft.status"), "failed", "continue_on_error still reports failed");
    is_str(at(r, "steps.aftersoft.status"), "ok", "... but its dependants run");
    json_decref(r);

    r = run_wf("{`name`: `skipout`, `steps`: ["
               "  {`id`: `a`, `when`: `false`, `run`: `echo x`, `outputs`: {`o`: {`from`: `stdout`}}},"
               "  {`id`: `b`, `needs`: [`a`], `when`: `always()`,"
               "   `command`: [`echo`, `[${{ steps.a.outputs.o }}]`]}],"
               " `inputs`: {`n`: {`type`: `integer`, `default`: 7}}}",
               NULL);
    is_str(at(r, "steps.b.result.stdout"), "[]\n", "a skipped step's outputs read as null");
    is_str(at(r, "inputs.n"), "7", "the result's inputs are the values used, defaults too");
    json_decref(r);

    r = run_wf("{`name`: `soft`, `steps`: [{`id`: `a`, `run`: `false`, `continue_on_error`: true}]}",
               NULL);
    is_str(at(r, "status"), "succeeded", "continue_on_error does not fail the workflow");
    json_decref(r);
}

static void test_retry(void)
{
    double t0 = mono_ms();
    json_t *r = run_wf(
        "{`name`: `flaky`, `steps`: [{`id`: `f`,"
        "  `run`: `n=$(cat /workspace/n 2>/dev/null || echo 0); echo $((n+1)) > /workspace/n;"
        "          [ $n -ge 2 ]`,"
        "  `retry`: {`max_attempts`: 3, `backoff`: `200ms`, `factor`: 2}}]}",
        NULL);
    double dt = mono_ms() - t0;
    is_str(at(r, "status"), "succeeded", "a flaky step succeeds on its third attempt");
    is_str(at(r, "steps.f.attempts"), "3", "three attempts");
    is_str(at(r, "steps.f.history[0].status"), "exit_nonzero", "the history keeps attempt 1");
    is_str(at(r, "steps.f.history[2].status"), "ok", "... and attempt 3");
    ok(dt >= 600, "backoff 200 ms then 400 ms (%.0f ms in all)", dt);
    json_decref(r);

    r = run_wf("{`name`: `exhaust`, `steps`: [{`id`: `f`, `run`: `exit 1`,"
               " `retry`: {`max_attempts`: 2, `backoff`: `10ms`}}]}",
               NULL);
    is_str(at(r, "steps.f.status"), "failed", "retries run out");
    is_str(at(r, "steps.f.attempts"), "2", "max_attempts counts every attempt");
    json_decref(r);

    r = run_wf("{`name`: `noretry`, `steps`: [{`id`: `f`, `run`: `kill -9 $$`,"
               " `retry`: {`max_attempts`: 3, `backoff`: `10ms`, `on`: [`timeout`]}}]}",
               NULL);
    is_str(at(r, "steps.f.sandbox_status"), "signaled", "a status not in on ...");
    is_str(at(r, "steps.f.attempts"), "1", "... is not retried");
    json_decref(r);

    r = run_wf("{`name`: `tretry`, `steps`: [{`id`: `f`, `run`: `sleep 5`, `timeout`: `200ms`,"
               " `retry`: {`max_attempts`: 2, `backoff`: `10ms`, `on`: [`timeout`]}}]}",
               NULL);
    is_str(at(r, "steps.f.sandbox_status"), "timeout", "a step timeout ends timeout");
    is_str(at(r, "steps.f.attempts"), "2", "... and is retried when on says so");
    json_decref(r);
}

static void test_timeouts_and_cancel(void)
{
    double t0 = mono_ms();
    json_t *r = run_wf("{`name`: `wto`, `timeout`: `600ms`, `steps`: ["
                       " {`id`: `a`, `run`: `sleep 20`}, {`id`: `b`, `needs`: [`a`], `run`: `true`}]}",
                       NULL);
    double dt = mono_ms() - t0;
    is_str(at(r, "status"), "timed_out", "the workflow's timeout ends it timed_out");
    is_str(at(r, "steps.a.status"), "cancelled", "the running step is stopped");
    is_str(at(r, "steps.b.status"), "cancelled", "the pending step is marked");
    ok(dt < 3000, "... at once (%.0f ms)", dt);
    json_decref(r);

    const char *id = submit("{`name`: `cancel`, `steps`: [{`id`: `a`, `run`: `sleep 30`},"
                            " {`id`: `b`, `for_each`: `${{ inputs.l }}`, `run`: `sleep 30`}],"
                            " `inputs`: {`l`: {`type`: `array`, `default`: [1, 2, 3]}}}",
                            NULL, NULL);
    char saved[ORCH_STORE_ID_MAX];
    snprintf(saved, sizeof saved, "%s", id);
    usleep(500 * 1000);
    rt_error err;
    t0 = mono_ms();
    is_int(orch_engine_cancel(eng, saved, &err), 0, "cancel a running workflow");
    r = wait_done(saved, 10000);
    dt = mono_ms() - t0;
    is_str(at(r, "status"), "cancelled", "it ends cancelled");
    is_str(at(r, "steps.a.status"), "cancelled", "its steps too");
    is_str(at(r, "steps.b.items[2].status"), "cancelled", "every fan-out item too");
    ok(dt < 3000, "within moments (%.0f ms)", dt);
    is_int(orch_engine_cancel(eng, saved, &err), -1, "cancelling it again is refused");
    ok(err.code == EBUSY, "... as a conflict (%s)", err.msg);
    is_int(orch_engine_cancel(eng, "wf_nope", &err), -1, "an unknown id ...");
    is_int(err.code, ENOENT, "... is not found");
    json_decref(r);
}

static void test_budget(void)
{
    json_t *r = run_wf(
        "{`name`: `budget`, `budget`: {`usd`: 0.01}, `steps`: ["
        "  {`id`: `llm`, `run`: `echo '{\\\"item\\\": \\\"llm_tokens\\\", \\\"quantity\\\": 1530,"
        " \\\"unit\\\": \\\"tokens\\\", \\\"usd\\\": 0.02}' >> $SBX_COSTS`},"
        "  {`id`: `next`, `needs`: [`llm`], `run`: `true`}]}",
        NULL);
    is_str(at(r, "status"), "budget_exceeded", "a spent budget ends the workflow");
    is_str(at(r, "steps.next.status"), "cancelled", "nothing new starts");
    ok(num_at(r, "cost.usd") >= 0.02, "reported costs count (%s)", at(r, "cost.usd"));
    is_str(at(r, "steps.llm.result.cost.items[3].item"), "llm_tokens",
           "the reported item is in the step's cost");
    json_decref(r);

    r = run_wf("{`name`: `cpubudget`, `budget`: {`cpu_seconds`: 0.3}, `steps`: ["
               "  {`id`: `burn`, `run`: `while :; do :; done`}, {`id`: `b`, `needs`: [`burn`],"
               "   `run`: `true`, `when`: `always()`}]}",
               NULL);
    is_str(at(r, "status"), "budget_exceeded", "a CPU budget stops a runaway step");
    is_str(at(r, "steps.burn.sandbox_status"), "cpu_limit", "... through its CPU limit");
    ok(num_at(r, "cost.cpu_seconds") < 1.5, "... near the budget (%s)", at(r, "cost.cpu_seconds"));
    json_decref(r);

    r = run_wf("{`name`: `badcosts`, `steps`: [{`id`: `a`, `run`: `echo nope >> $SBX_COSTS`}]}",
               NULL);
    is_str(at(r, "steps.a.status"), "failed", "a malformed $SBX_COSTS fails the step");
    ok(strstr(at(r, "steps.a.error"), "$SBX_COSTS") != NULL, "... naming it (%s)",
       at(r, "steps.a.error"));
    json_decref(r);
}

static void test_approval(void)
{
    rt_error err;
    const char *id = submit("{`name`: `gate`, `steps`: [{`id`: `a`, `run`: `true`},"
                            " {`id`: `deploy`, `needs`: [`a`], `approval`: {`timeout`: `1h`},"
                            "  `run`: `echo deployed`, `outputs`: {`o`: {`from`: `stdout`}}}]}",
                            NULL, NULL);
    char saved[ORCH_STORE_ID_MAX];
    snprintf(saved, sizeof saved, "%s", id);
    is_int(orch_engine_approve(eng, saved, "nope", true, NULL, &err), -1, "an unknown step ...");
    is_int(err.code, ENOENT, "... is not found");
    json_t *r = wait_for(saved, "steps.deploy.approval.state", "waiting");
    is_str(at(r, "steps.deploy.approval.state"), "waiting", "the step waits for approval");
    is_str(at(r, "steps.deploy.status"), "pending", "... pending");
    json_decref(r);
    is_int(orch_engine_approve(eng, saved, "a", true, NULL, &err), -1,
           "a step that does not wait cannot be approved");
    is_int(orch_engine_approve(eng, saved, "deploy", true, "go", &err), 0, "approve it");
    r = wait_done(saved, 10000);
    is_str(at(r, "status"), "succeeded", "the approved step runs");
    is_str(at(r, "steps.deploy.outputs.o"), "deployed\n", "... to the end");
    json_decref(r);

    id = submit("{`name`: `gate2`, `steps`: [{`id`: `deploy`, `approval`: {}, `run`: `true`},"
                " {`id`: `after`, `needs`: [`deploy`], `run`: `true`}]}",
                NULL, NULL);
    snprintf(saved, sizeof saved, "%s", id);
    for (int i = 0; i < 100; i++) {
        if (orch_engine_approve(eng, saved, "deploy", false, "not today", &err) == 0)
            break;
        usleep(50 * 1000);
    }
    r = wait_done(saved, 10000);
    is_str(at(r, "steps.deploy.status"), "failed", "a rejected step fails");
    is_str(at(r, "steps.deploy.error"), "approval: rejected: not today", "... with the comment");
    is_str(at(r, "steps.after.status"), "skipped", "its dependants are skipped");
    json_decref(r);

    r = run_wf("{`name`: `gate3`, `steps`: [{`id`: `d`, `approval`: {`timeout`: `300ms`},"
               " `run`: `true`}]}",
               NULL);
    is_str(at(r, "steps.d.status"), "failed", "an unanswered approval times out");
    is_str(at(r, "steps.d.error"), "approval: no answer within 300ms", "... saying so");
    json_decref(r);
}

/* Workflows that wait on their own timers (here approvals' deadlines, given in
 * the opposite order of submission) end when each is due, the earliest first:
 * the scheduler takes them from its heap of timers, not by walking every run. */
static void test_timers_in_deadline_order(void)
{
    enum { N = 8 };
    char ids[N][ORCH_STORE_ID_MAX];
    for (int i = 0; i < N; i++) {
        char doc[256];
        snprintf(doc, sizeof doc,
                 "{`name`: `t%d`, `steps`: [{`id`: `d`, `approval`: {`timeout`: `%dms`},"
                 " `run`: `true`}]}",
                 i, 300 + 150 * (N - 1 - i));
        snprintf(ids[i], sizeof ids[i], "%s", submit(doc, NULL, NULL));
    }
    bool timed_out = true, in_order = true;
    double prev = 0;
    for (int i = N - 1; i >= 0; i--) {
        json_t *r = wait_done(ids[i], 30000);
        char want[64];
        snprintf(want, sizeof want, "approval: no answer within %dms", 300 + 150 * (N - 1 - i));
        if (strcmp(at(r, "steps.d.error"), want) != 0) {
            diag("%s: %s", ids[i], at(r, "steps.d.error"));
            timed_out = false;
        }
        double end = num_at(r, "finished_ms");
        if (end < prev) {
            diag("%s ended at %.0f, before the one due earlier (%.0f)", ids[i], end, prev);
            in_order = false;
        }
        prev = end;
        json_decref(r);
    }
    ok(timed_out, "%d approvals' deadlines each end their own workflow", N);
    ok(in_order, "... the earliest deadline first, whatever the order of submission");
}

/* A workflow whose step is ready while every sandbox slot is another's, and
 * which nothing else happens to, starts when the other frees a slot (not at
 * its next timer: the scheduler skips workflows that wait on their own). */
static void test_waits_for_a_slot(void)
{
    rt_error err;
    char b[ORCH_STORE_ID_MAX], a[ORCH_STORE_ID_MAX];
    snprintf(b, sizeof b, "%s",
             submit("{`name`: `b`, `timeout`: `20s`, `steps`: [{`id`: `gate`, `approval`: {},"
                    " `run`: `true`}]}",
                    NULL, NULL));
    json_decref(wait_for(b, "steps.gate.approval.state", "waiting"));
    snprintf(a, sizeof a, "%s",
             submit("{`name`: `a`, `steps`: [{`id`: `s`, `for_each`: `${{ inputs.l }}`,"
                    " `run`: `sleep 1`}], `inputs`: {`l`: {`type`: `array`,"
                    " `default`: [1, 2, 3, 4]}}}",
                    NULL, NULL));
    json_decref(wait_for(a, "steps.s.status", "running"));   /* a holds every slot */
    is_int(orch_engine_approve(eng, b, "gate", true, NULL, &err), 0,
           "approved while another workflow holds every slot");
    json_t *r = wait_done(b, 30000);
    is_str(at(r, "status"), "succeeded", "... it runs once a slot is free, not at its timeout");
    json_decref(r);
    json_decref(wait_done(a, 30000));
}

static void test_outputs_hostile(void)
{
    json_t *r = run_wf("{`name`: `big`, `steps`: [{`id`: `a`, `run`: `head -c 3000 /dev/zero | tr '\\\\0' x`,"
                       " `outputs`: {`o`: {`from`: `stdout`, `max_bytes`: 1000}}}]}",
                       NULL);
    is_str(at(r, "steps.a.status"), "failed", "an output above its cap fails the step");
    is_str(at(r, "steps.a.error"), "outputs.o: 3000 bytes, above the cap of 1000 bytes",
           "... giving the size and the cap");
    json_decref(r);

    r = run_wf("{`name`: `link`, `steps`: [{`id`: `a`, `run`: `ln -s /etc/shadow /workspace/s`,"
               " `outputs`: {`o`: {`from`: `file`, `path`: `s`}}}]}",
               NULL);
    is_str(at(r, "steps.a.status"), "failed", "a symlinked output file is refused");
    ok(strstr(at(r, "steps.a.error"), "symlink") != NULL, "... as a symlink (%s)",
       at(r, "steps.a.error"));
    json_decref(r);

    r = run_wf("{`name`: `link2`, `steps`: [{`id`: `a`,"
               " `run`: `ln -sf /etc/shadow $SBX_OUTPUT`, `outputs`: {`o`: {`from`: `output`}}}]}",
               NULL);
    is_str(at(r, "steps.a.status"), "failed", "$SBX_OUTPUT as a symlink is refused");
    json_decref(r);

    r = run_wf("{`name`: `json`, `steps`: [{`id`: `a`, `run`: `echo not json`,"
               " `outputs`: {`o`: {`from`: `stdout_json`}}}]}",
               NULL);
    ok(strncmp(at(r, "steps.a.error"), "outputs.o: stdout is not JSON", 29) == 0,
       "stdout that is not JSON fails stdout_json (%s)", at(r, "steps.a.error"));
    json_decref(r);

    /* The engine's workspace is 32 MiB here; the file-size rlimit is 64 MiB. */
    r = run_wf("{`name`: `full`, `steps`: [{`id`: `a`,"
               " `run`: `head -c 60000000 /dev/zero > /workspace/big`}]}",
               NULL);
    is_str(at(r, "steps.a.sandbox_status"), "exit_nonzero", "the workspace is size-limited");
    ok(strstr(at(r, "steps.a.result.stderr"), "No space left") != NULL, "... the write fails (%s)",
       at(r, "steps.a.result.stderr"));
    json_decref(r);

    r = run_wf("{`name`: `code`, `steps`: [{`id`: `a`, `language`: `sh`,"
               " `code`: `echo from code; pwd`, `outputs`: {`o`: {`from`: `stdout`}}}]}",
               NULL);
    is_str(at(r, "steps.a.outputs.o"), "from code\n/workspace\n",
           "a code step runs in /workspace");
    json_decref(r);

    /* /run/sbx is the engine's fixed mount: the root is still a prepared one. */
    r = run_wf("{`name`: `root`, `steps`: [{`id`: `a`,"
               " `run`: `awk '$5 == \\\"/\\\" { print $4 }' /proc/self/mountinfo`,"
               " `outputs`: {`o`: {`from`: `stdout`}}}]}",
               NULL);
    ok(strncmp(at(r, "steps.a.outputs.o"), "/var/lib/sandboxd/root/", 23) == 0,
       "a step's root is a prepared template (%s)", at(r, "steps.a.outputs.o"));
    json_decref(r);

    /* The attempt's directory is made by its thread: a failure there is the
     * attempt's error, in its history. */
    r = run_wf("{`name`: `nested`, `steps`: [{`id`: `a`, `language`: `nested`,"
               " `code`: `true`}]}",
               NULL);
    is_str(at(r, "steps.a.sandbox_status"), "error", "a code file the step cannot place");
    ok(strstr(at(r, "steps.a.error"), "is in a directory") != NULL, "... says why (%s)",
       at(r, "steps.a.error"));
    is_str(at(r, "steps.a.history[0].status"), "error", "... as its attempt's status");
    json_decref(r);
}

static void test_validation(void)
{
    is_str(problems_of("{`name`: `v`, `steps`: [{`id`: `a`, `rnu`: `x`}]}", NULL),
           "workflow.steps[0].rnu: unknown key (did you mean run?) | workflow.steps[0]: needs "
           "one of run, command or code",
           "document problems carry their path from the body");
    is_str(problems_of("{`name`: `v`, `inputs`: {`n`: {`type`: `integer`}},"
                       " `steps`: [{`id`: `a`, `run`: `x`}]}",
                       "{`n`: `three`}"),
           "inputs.n: must be integer (its declared type), not a string",
           "input values are checked at inputs.NAME");
    ok(strncmp(problems_of("{`name`: `v`, `steps`: [{`id`: `a`, `run`: `x`, `profile`: `nope`}]}",
                           NULL),
               "workflow.steps[0].profile: profile \"nope\" not found", 51) == 0,
       "the executor checks each step's profile at submission");
    const char *like = problems_of("{`name`: `v`, `steps`: [{`id`: `a`, `run`: `x`},"
                                   " {`id`: `b`, `run`: `y`},"
                                   " {`id`: `c`, `run`: `x`, `profile`: `nope`},"
                                   " {`id`: `d`, `run`: `x`, `profile`: `nope`}]}", NULL);
    ok(!strstr(like, "steps[0]") && !strstr(like, "steps[1]") &&
           strstr(like, "workflow.steps[2].profile") && strstr(like, "workflow.steps[3].profile"),
       "of like steps, those like one that passed pass, those like one that failed fail");
    is_str(problems_of("{`name`: `v`, `defaults`: {`backend`: `docker`},"
                       " `steps`: [{`id`: `a`, `run`: `x`}]}", NULL),
           "workflow.steps[0].backend: the docker backend is not available on this server "
           "(steps run on native)",
           "a backend that is not there is refused, not run elsewhere");
}

static void test_idempotency_and_delete(void)
{
    rt_error err;
    char a[ORCH_STORE_ID_MAX], b[ORCH_STORE_ID_MAX];
    snprintf(a, sizeof a, "%s", submit("{`name`: `idem`, `steps`: [{`id`: `a`, `run`: `true`}]}",
                                       NULL, "key-1"));
    snprintf(b, sizeof b, "%s", submit("{`name`: `idem`, `steps`: [{`id`: `a`, `run`: `true`}]}",
                                       NULL, "key-1"));
    ok(a[0] && strcmp(a, b) == 0, "the same Idempotency-Key gives the same workflow");
    json_t *r = wait_done(a, 10000);
    is_str(at(r, "status"), "succeeded", "... which runs once");
    json_decref(r);

    char ws[PATH_MAX];
    is_int(orch_engine_workspace(eng, a, ws, sizeof ws, &err), 0, "its workspace is there");
    is_int(orch_engine_delete(eng, a, &err), 0, "delete it");
    ok(access(ws, F_OK) < 0, "the workspace is gone");
    ok(orch_engine_get(eng, a, &err) == NULL && err.code == ENOENT, "get says not found");
    is_int(orch_engine_delete(eng, a, &err), -1, "a second delete ...");
    is_int(err.code, ENOENT, "... is not found");
}

static void test_retry_workflow(void)
{
    rt_error err;
    json_t *r = run_wf("{`name`: `redo`, `steps`: ["
                       " {`id`: `one`, `run`: `echo 1 >> /workspace/ones`},"
                       " {`id`: `two`, `needs`: [`one`], `run`: `[ -e /workspace/flag ] ||"
                       "   { touch /workspace/flag; exit 1; }`}]}",
                       NULL);
    is_str(at(r, "status"), "failed", "the first run fails");
    char id[ORCH_STORE_ID_MAX];
    snprintf(id, sizeof id, "%s", at(r, "id"));
    json_decref(r);
    is_int(orch_engine_retry(eng, id, &err), 0, "retry the failed workflow");
    r = wait_done(id, 10000);
    is_str(at(r, "status"), "succeeded", "the retry succeeds");
    is_str(at(r, "steps.one.attempts"), "1", "the step that succeeded did not run again");
    is_str(at(r, "steps.two.history[1].attempt"), "2", "the attempt history goes on");
    is_str(at(r, "runs"), "2", "two runs");
    is_int(orch_engine_retry(eng, id, &err), -1, "a succeeded workflow cannot be retried");
    is_int(err.code, EBUSY, "... a conflict");
    json_decref(r);
}

static bool is_tmpfs(const char *path)
{
    struct statfs fs;
    return statfs(path, &fs) == 0 && fs.f_type == TMPFS_MAGIC;
}

/* <state>/workflows is a tmpfs of its own while the engine runs, and a stop
 * that leaves no workflow in it unmounts it. */
static void test_workflows_dir(void)
{
    char dir[PATH_MAX], path[PATH_MAX + 32];
    orch_store *st2 = NULL;
    orch_engine *e2 = NULL;
    rt_error err;
    snprintf(dir, sizeof dir, "%s/second", state_dir);
    snprintf(path, sizeof path, "%s/state.db", dir);
    orch_engine_config cfg = {
        .state_dir = dir,
        .exec = orch_local_executor(&local),
        .max_running = 1,
        .workspace_bytes = 1u << 20,
    };
    if (mkdir(dir, 0700) < 0 || orch_store_open(path, &st2, &err) < 0 ||
        (cfg.store = st2, orch_engine_start(&cfg, &e2, &err) < 0)) {
        diag("second engine: %s", err.msg);
        orch_store_close(st2);
        return;
    }
    snprintf(path, sizeof path, "%s/workflows", dir);
    ok(is_tmpfs(path), "the workflows' directory is a tmpfs");
    orch_engine_stop(e2, 1000);
    orch_store_close(st2);
    ok(!is_tmpfs(path), "a stop that leaves it empty unmounts it");
}

/* Stopping the engine mid-attempt and starting another on the same store. */
/* A stop waits up to its grace for running attempts; a timer that falls due
 * meanwhile (here an approval's deadline) must not make the scheduler spin:
 * no pass takes it while stopping. */
static void test_stop_waits_idle(void)
{
    const char *id =
        submit("{`name`: `grace`, `steps`: [{`id`: `a`, `run`: `sleep 3`},"
               " {`id`: `d`, `approval`: {`timeout`: `600ms`}, `run`: `true`}]}",
               NULL, NULL);
    char saved[ORCH_STORE_ID_MAX];
    snprintf(saved, sizeof saved, "%s", id);
    json_decref(wait_for(saved, "steps.a.status", "running"));
    struct timespec c0, c1;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &c0);
    double t0 = mono_ms();
    orch_engine_stop(eng, 2500);
    double wall = mono_ms() - t0;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &c1);
    double cpu = (double)(c1.tv_sec - c0.tv_sec) * 1e3 + (double)(c1.tv_nsec - c0.tv_nsec) / 1e6;
    eng = NULL;
    ok(wall >= 2000 && cpu < 500,
       "stopping waits out its grace for a running attempt without spinning "
       "(%.0f ms, %.0f ms of CPU)", wall, cpu);
    start_engine(4);
    json_decref(wait_done(saved, 20000));
}

static void test_recovery(void)
{
    rt_error err;
    char a[ORCH_STORE_ID_MAX], b[ORCH_STORE_ID_MAX];
    snprintf(a, sizeof a, "%s",
             submit("{`name`: `resume`, `steps`: [{`id`: `s`, `run`: `[ -e /workspace/x ] ||"
                    " { touch /workspace/x; sleep 30; }`, `retry`: {`max_attempts`: 2}},"
                    " {`id`: `t`, `needs`: [`s`], `run`: `echo after`}]}",
                    NULL, NULL));
    snprintf(b, sizeof b, "%s",
             submit("{`name`: `once`, `steps`: [{`id`: `s`, `run`: `sleep 30`}]}", NULL, NULL));
    usleep(800 * 1000);
    orch_engine_stop(eng, 0);
    eng = NULL;
    start_engine(4);
    json_t *r = wait_done(a, 20000);
    is_str(at(r, "status"), "succeeded", "an interrupted attempt with attempts left is retried");
    is_str(at(r, "steps.s.history[0].status"), "interrupted", "... the first is interrupted");
    is_str(at(r, "steps.t.status"), "ok", "... and the workflow carries on to the end");
    json_decref(r);
    r = wait_done(b, 20000);
    is_str(at(r, "status"), "failed", "without attempts left it fails");
    is_str(at(r, "steps.s.sandbox_status"), "interrupted", "... as interrupted");
    json_decref(r);
    (void)err;
}

int main(void)
{
    rt_error err;
    int fds;

    if (geteuid() != 0) {
        printf("1..0 # SKIP needs root for sandboxes\n");
        return 0;
    }
    setenv("SBX_PROFILE_PATH", "profiles", 0);
    if (!mkdtemp(state_dir)) {
        perror("mkdtemp");
        return 1;
    }
    snprintf(db_path, sizeof db_path, "%s/state.db", state_dir);
    /* The runtime keeps its cgroup parents open after the first sandbox. */
    rt_spec warm;
    rt_result wr;
    char *warm_argv[] = {"true", NULL};
    rt_spec_init(&warm);
    warm.argv = warm_argv;
    if (rt_run(&warm, NULL, &wr, &err) == 0)
        rt_result_free(&wr);
    warm.argv = NULL;
    rt_spec_free(&warm);
    rt_cgroup_pool_close();
    fds = count_fds();
    if (orch_store_open(db_path, &store, &err) < 0) {
        diag("store: %s", err.msg);
        return 1;
    }
    orch_local_init(&local);
    local.language = sh_language;
    start_engine(4);

    test_pipeline();
    test_fan_out();
    test_commits_per_step();
    test_parallel_limit();
    test_queued_until_room();
    test_waits_for_a_slot();
    test_conditions();
    test_retry();
    test_timeouts_and_cancel();
    test_budget();
    test_approval();
    test_timers_in_deadline_order();
    test_outputs_hostile();
    test_validation();
    test_idempotency_and_delete();
    test_retry_workflow();
    test_stop_waits_idle();
    test_recovery();
    test_workflows_dir();

    orch_engine_stop(eng, 1000);
    orch_store_close(store);
    rt_cgroup_pool_close();         /* the groups kept for reuse, with their fds */
    is_int(count_fds(), fds, "no fd left behind");
    is_int(count_groups(), 0, "no cgroup left behind");
    orch_local_free(&local);
    char cmd[PATH_MAX + 64];
    snprintf(cmd, sizeof cmd, "awk -v t=%s/ 'index($2, t) == 1 {print $2}' /proc/mounts | "
             "sort -r | xargs -r umount -l; rm -rf %s", state_dir, state_dir);
    if (system(cmd) != 0)
        diag("cleanup failed");
    snprintf(cmd, sizeof cmd, "grep -q ' %s/' /proc/mounts", state_dir);
    ok(system(cmd) != 0, "no workspace mount left behind");
    return tap_done();
}
