/* /v1/workflows: the workflow engine (orchestrator/engine.h) behind the HTTP
 * API, its SQLite store in the state directory, and an executor that runs
 * each attempt in the spawner under the daemon's admission control, so that
 * workflow steps and POST /v1/exec share the same sandbox slots.
 *
 * Answers are transport-neutral (sd_wf_answer); server.c turns them into
 * libmicrohttpd responses. */
#ifndef SBX_SANDBOXD_WORKFLOWS_H
#define SBX_SANDBOXD_WORKFLOWS_H

#include <jansson.h>
#include <stddef.h>
#include <sys/types.h>

#include "admission.h"
#include "error.h"
#include "snapshot.h"

typedef struct sd_workflows sd_workflows;

/* A new reference to the snapshot requests see now. */
typedef sd_snapshot *sd_snapshot_fn(void *ctx);

/* Opens <state_dir>/workflows.db and starts the engine, which resumes what
 * was queued or running when the daemon last stopped. */
int sd_workflows_start(const sd_config *cfg, sd_admission *adm, sd_snapshot_fn *snapshot,
                       void *snapshot_ctx, sd_workflows **out, rt_error *err);
/* Ends event streams, gives running attempts grace_ms, then stops them
 * (interrupted: a later start resumes them) and frees w. */
void sd_workflows_stop(sd_workflows *w, long grace_ms);

typedef struct sd_wf_stream sd_wf_stream;

typedef struct sd_wf_answer {
    unsigned status;            /* HTTP status */
    json_t *body;               /* the JSON answer, or NULL with fd or stream */
    char location[160];         /* a Location header, or "" */
    int fd;                     /* >= 0: a file to send (the workspace tar) */
    off_t fd_size;
    sd_wf_stream *stream;       /* JSON lines to send as they come */
} sd_wf_answer;

/* Looks a query parameter up; NULL when absent. */
typedef const char *sd_query_fn(void *ctx, const char *key);

/* One request under /v1/workflows. path is the URL's path, idem_key the
 * Idempotency-Key header (or NULL). Always fills out. */
void sd_workflows_handle(sd_workflows *w, const char *method, const char *path,
                         sd_query_fn *query, void *query_ctx, const char *idem_key,
                         const char *body, size_t len, sd_wf_answer *out);

/* The next bytes of an event stream, waiting for them; 0 at the end. */
ssize_t sd_wf_stream_read(sd_wf_stream *s, char *buf, size_t max);
void sd_wf_stream_free(sd_wf_stream *s);

/* Workflows queued or running. */
unsigned sd_workflows_active(sd_workflows *w);

/* Which methods a workflow path takes (for 405's Allow), or NULL for none. */
const char *sd_workflows_allow(const char *path);

#endif
