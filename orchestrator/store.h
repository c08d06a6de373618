/* The orchestrator's state store: workflows, steps, attempts and an event log in
 * one SQLite file (WAL), so that nothing accepted is lost when the daemon is
 * killed. Rows carry JSON documents the engine defines; the store only keeps
 * them, indexes them and hands them back.
 *
 * One connection guarded by a recursive mutex: any thread may call; a
 * transaction (orch_store_begin .. commit) holds the mutex, so other threads
 * wait for it instead of seeing half of it. Errors follow runtime/error.h and
 * name the SQLite error and the file. */
#ifndef SBX_ORCHESTRATOR_STORE_H
#define SBX_ORCHESTRATOR_STORE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"

#define ORCH_STORE_ID_MAX 64          /* workflow ids, with the NUL */
#define ORCH_STORE_LIST_MAX 1000      /* rows per listing page */

typedef struct orch_store orch_store;

/* Opens or creates the file (mode 0600), sets WAL, creates or checks the
 * schema. A file of another schema version is refused with a message. */
int orch_store_open(const char *path, orch_store **out, rt_error *err);
void orch_store_close(orch_store *s);

/* Transactions committed on the store's connection so far, explicit or not
 * (each is a write to the WAL): what a piece of work costs the store. */
uint64_t orch_store_commits(orch_store *s);

/* Groups the calls between them into one transaction (one commit, one write
 * to the WAL). Not nested. rollback is for error paths and cannot fail. */
int orch_store_begin(orch_store *s, rt_error *err);
int orch_store_commit(orch_store *s, rt_error *err);
void orch_store_rollback(orch_store *s);

/* Inserts a workflow. row: {"id", "name", "status", "created_ms", "doc",
 * "inputs"} (doc and inputs are JSON values). With key non-NULL and a workflow
 * that already holds that idempotency key: returns 1 and copies its id into
 * existing (ORCH_STORE_ID_MAX bytes), inserting nothing. Else 0, or -1. */
int orch_store_workflow_insert(orch_store *s, const json_t *row, const char *key,
                               char existing[ORCH_STORE_ID_MAX], rt_error *err);

/* A new workflow as orch_store_workflow_insert takes it, with its first event
 * (its seq into *seq), committed before the call returns: in one transaction
 * with whatever other submissions arrive while one is committing (a group
 * commit: a burst of submissions writes the WAL a few times, not once each).
 * 0, 1 (the key is taken: nothing stored, the holder's id in existing) or -1.
 * Not from a thread that holds a transaction open. */
int orch_store_workflow_submit(orch_store *s, const json_t *row, const char *key,
                               const json_t *event, int64_t *seq,
                               char existing[ORCH_STORE_ID_MAX], rt_error *err);

/* Sets the status, updated_ms (now) and the engine's state document. -1 with
 * err->code ENOENT when there is no such workflow. */
int orch_store_workflow_update(orch_store *s, const char *id, const char *status,
                               const json_t *state, rt_error *err);

/* {"id", "name", "status", "created_ms", "updated_ms", "doc", "inputs",
 * "state" (null until the first update), "idempotency_key" (or null)}, or
 * NULL with err->code ENOENT when there is none. */
json_t *orch_store_workflow_get(orch_store *s, const char *id, rt_error *err);

/* The workflow's status into buf (len bytes), or -1 with err->code ENOENT
 * when there is none: a cheaper look than orch_store_workflow_get. */
int orch_store_workflow_status(orch_store *s, const char *id, char *buf, size_t len,
                               rt_error *err);

/* A page of workflows, newest first: {"workflows": [{"id", "name", "status",
 * "created_ms", "updated_ms"}...], "next_cursor": string or null}. status NULL
 * = any; limit 1..ORCH_STORE_LIST_MAX; cursor NULL = from the newest, else the
 * next_cursor of the page before (an unreadable cursor: -1 with EINVAL and a
 * message that names it). */
json_t *orch_store_workflow_list(orch_store *s, const char *status, unsigned limit,
                                 const char *cursor, rt_error *err);

/* Ids (strings) of workflows whose status is one of statuses (NULL-terminated),
 * oldest first: the daemon resumes these at start. */
json_t *orch_store_workflow_ids(orch_store *s, const char *const *statuses, rt_error *err);

/* Counts by status: {"queued": 2, "succeeded": 10, ...} (metrics at start). */
json_t *orch_store_workflow_counts(orch_store *s, rt_error *err);

/* Deletes the workflow with its steps, attempts and events. -1 with ENOENT when
 * there is none. */
int orch_store_workflow_delete(orch_store *s, const char *id, rt_error *err);

/* Inserts or replaces the state document of step `index` of a workflow. */
int orch_store_step_put(orch_store *s, const char *wf, unsigned index, const json_t *state,
                        rt_error *err);
/* Every step's state: an object {"<index>": state, ...} (empty when none). */
json_t *orch_store_steps(orch_store *s, const char *wf, rt_error *err);

/* Inserts or replaces an attempt. row: {"status" (string), "started_ms",
 * "finished_ms" (integer or null), "result" (any JSON or null)}. */
int orch_store_attempt_put(orch_store *s, const char *wf, unsigned step, unsigned item,
                           unsigned attempt, const json_t *row, rt_error *err);
/* Every attempt of a workflow, ordered by step, item, attempt: [{"step", "item",
 * "attempt", "status", "started_ms", "finished_ms", "result"}...]. */
json_t *orch_store_attempts(orch_store *s, const char *wf, rt_error *err);
/* Marks every attempt of wf whose status is "running" as "interrupted" with
 * finished_ms now; returns how many, or -1. */
int orch_store_attempts_interrupt(orch_store *s, const char *wf, rt_error *err);

/* Appends an event (a JSON object) with the next sequence number of the
 * workflow (1, 2, ...) and the time; *seq gets the number. It is stored as
 * compact JSON with reals to 9 significant digits, as the daemon answers, so
 * that a stream can send the stored text as it is (orch_store_event_texts). */
int orch_store_event_append(orch_store *s, const char *wf, const json_t *event, int64_t *seq,
                            rt_error *err);
/* Events with seq > after, oldest first, at most limit: [{"seq", "time_ms",
 * "event"}...]. */
json_t *orch_store_events(orch_store *s, const char *wf, int64_t after, unsigned limit,
                          rt_error *err);

/* The same events as their stored text, each handed to fn, without parsing
 * them; fn returns 0 to go on, else the reading stops there. Returns how many
 * fn took, or -1. */
typedef int orch_event_text_fn(void *ctx, int64_t seq, int64_t time_ms, const char *text,
                               size_t len);
int orch_store_event_texts(orch_store *s, const char *wf, int64_t after, unsigned limit,
                           orch_event_text_fn *fn, void *ctx, rt_error *err);

#endif
