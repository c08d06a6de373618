/* The workflow engine: accepts workflows, persists them (orchestrator/store.h),
 * and runs their steps on an executor, one sandbox per attempt: needs, when,
 * fan-out, retries with backoff, approvals, outputs, costs, budgets, cancel,
 * timeouts, and recovery of what was running when the process died.
 *
 * One scheduler thread owns every decision; each running attempt has a thread
 * of its own that only runs the sandbox. A submission is committed before it
 * is answered; every later state change is written in the transaction of the
 * piece of work that made it, which readers of the store cannot see into, so
 * a kill -9 loses nothing accepted and no follower reads a half-made change. */
#ifndef SBX_ORCHESTRATOR_ENGINE_H
#define SBX_ORCHESTRATOR_ENGINE_H

#include <jansson.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "error.h"
#include "result.h"
#include "spec.h"
#include "stepio.h"
#include "store.h"
#include "workflow.h"

/* Where attempts run: the daemon's spawner, or the runtime in-process. */
typedef struct orch_executor {
    /* Turns an exec request (the POST /v1/exec shape: "command", or "code" and
     * "language"; "env", "stdin", "limits", "profile", "image") into a spec.
     * A code request's source comes back as the spec's one file. Messages
     * start with the key at fault ("profile: ..."). Also called at submission
     * with "command": ["true"] to check each step's settings. */
    int (*build)(void *ctx, json_t *request, rt_spec *spec, rt_error *err);
    /* Optional: build's verdict on a request without the spec, for that check
     * at submission; it may remember requests that passed. NULL: build is
     * called and its spec freed. */
    int (*check)(void *ctx, json_t *request, rt_error *err);
    /* Runs spec to its end in the calling thread and initializes *res. Once
     * *stop is non-zero the sandbox is killed and the result says cancelled.
     * -1 when nothing could start (res then says error, with the cause). */
    int (*run)(void *ctx, const rt_spec *spec, const atomic_int *stop, rt_result *res,
               rt_error *err);
    void *ctx;
} orch_executor;

typedef struct orch_engine_config {
    const char *state_dir;      /* workspaces/ and runs/ go below it */
    orch_store *store;          /* not owned */
    orch_executor exec;
    orch_prices prices;
    unsigned max_running;       /* attempts at once over every workflow */
    uint64_t workspace_bytes;   /* each workflow's /workspace (a tmpfs as root) */
    /* Every event, after it is stored, from the scheduler thread. May be NULL. */
    void (*on_event)(void *ctx, const char *wf, int64_t seq, const json_t *event);
    void *on_event_ctx;
} orch_engine_config;

typedef struct orch_engine orch_engine;

/* Starts the scheduler and resumes every workflow the store holds as queued
 * or running: attempts that were running are marked interrupted and retried
 * when their retry policy allows. */
int orch_engine_start(const orch_engine_config *cfg, orch_engine **out, rt_error *err);

/* Starts nothing new; running attempts get grace_ms to end, then are stopped
 * and recorded as interrupted (a later start resumes them). Frees the engine. */
void orch_engine_stop(orch_engine *e, long grace_ms);

/* What a submission gave. */
typedef struct orch_submit {
    char id[ORCH_STORE_ID_MAX];
    bool existed;               /* the idempotency key named an earlier workflow */
} orch_submit;

/* Validates body ({"workflow": {...}, "inputs": {...}}), stores it and
 * schedules it. Returns 0; or -1 with problems->n > 0 for a document at fault
 * (each with its JSON path from the body), else an error in err. key may be
 * NULL; the same key gives the same workflow. */
int orch_engine_submit(orch_engine *e, const json_t *body, const char *key, orch_submit *out,
                       orch_problems *problems, rt_error *err);

/* The whole result document (docs/workflows.md), from the store. NULL with
 * err->code ENOENT when there is no such workflow. */
json_t *orch_engine_get(orch_engine *e, const char *id, rt_error *err);

/* These return -1 with err->code ENOENT (no such workflow or step) or EBUSY
 * (not in a state that allows it; the message says which state). */
int orch_engine_cancel(orch_engine *e, const char *id, rt_error *err);
/* Re-runs a failed, cancelled, timed out or over-budget workflow from the
 * steps that did not end ok; their results stay in the attempt history. */
int orch_engine_retry(orch_engine *e, const char *id, rt_error *err);
/* Answers a step that waits for approval; comment may be NULL. */
int orch_engine_approve(orch_engine *e, const char *id, const char *step, bool approve,
                        const char *comment, rt_error *err);
/* Deletes a finished workflow: rows, workspace. */
int orch_engine_delete(orch_engine *e, const char *id, rt_error *err);

/* The workspace directory of a workflow (for a tar), into buf. */
int orch_engine_workspace(orch_engine *e, const char *id, char *buf, size_t len, rt_error *err);

/* True when the workflow has ended (or does not exist): no more events. */
bool orch_engine_finished(orch_engine *e, const char *id);

/* Waits up to timeout_ms for an event of any workflow after the one counted
 * *gen (a counter the engine bumps per event); updates *gen. */
void orch_engine_wait_event(orch_engine *e, uint64_t *gen, long timeout_ms);

/* Waits up to timeout_ms for an event of workflow id numbered above after;
 * returns at once when the workflow is not running. Wakes only for that
 * workflow's events, so many followers cost nothing to the others. */
void orch_engine_wait_workflow(orch_engine *e, const char *id, int64_t after, long timeout_ms);

/* Workflows queued or running (for metrics). */
unsigned orch_engine_active(orch_engine *e);

/* True for the statuses a workflow ends with. */
bool orch_workflow_status_final(const char *status);

#endif
