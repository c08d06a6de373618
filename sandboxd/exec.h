/* POST /v1/exec: a request body becomes a spec (profile, language, image and
 * limits resolved and checked against the server's maxima), then one sandbox
 * runs it, either to a single result object or as a stream of JSON lines. */
#ifndef SBX_SANDBOXD_EXEC_H
#define SBX_SANDBOXD_EXEC_H

#include <jansson.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "admission.h"
#include "error.h"
#include "snapshot.h"

/* An answer other than 200: HTTP status, error code and the JSON path at fault. */
typedef struct sd_problem {
    unsigned http;
    const char *code;          /* "bad_request", "queue_full", ... */
    char field[128];           /* "" when the whole request is at fault */
    rt_error err;
} sd_problem;

/* What a run shares with the rest of the daemon. */
typedef struct sd_exec_env {
    sd_admission *admission;
    atomic_bool *kill_all;     /* set when the shutdown grace period is over */
} sd_exec_env;

typedef struct sd_exec sd_exec;

/* Parses and resolves a request body. On failure fills p (400 with the field). */
int sd_exec_prepare(const sd_snapshot *snap, const char *body, size_t len, sd_exec **out,
                    sd_problem *p);
/* For workflow steps: a request object (the body's shape, parsed) to a spec
 * resolved as POST /v1/exec resolves it; the message names the field. */
int sd_exec_build_spec(const sd_snapshot *snap, json_t *req, rt_spec *spec, rt_error *err);
bool sd_exec_streaming(const sd_exec *x);
/* While it runs, a client that closes this connection cancels the sandbox. */
void sd_exec_watch_client(sd_exec *x, int fd);
/* The sandbox was cancelled because the client left: no one to answer. */
bool sd_exec_client_left(const sd_exec *x);
/* Waits for a slot and starts the sandbox. On failure fills p (429, 503, 500). */
int sd_exec_start(sd_exec *x, const sd_exec_env *env, sd_problem *p);
/* After start: supervises to the end and returns the result object (with id
 * and timings), or NULL when out of memory. */
json_t *sd_exec_wait(sd_exec *x);
/* After start, streaming: the next bytes of the JSON-lines body, blocking until
 * some are ready; 0 at the end. */
ssize_t sd_exec_read(sd_exec *x, char *buf, size_t max);
/* The result's status once finished (for logs), else NULL. */
const char *sd_exec_status(const sd_exec *x);
/* Kills a sandbox still running (client gone), releases the slot, frees. */
void sd_exec_free(sd_exec *x);

/* Fills p for a status and message; the field is taken from a message that
 * starts with a JSON path ("limits.memory: ..."). Returns -1. */
int sd_problem_set(sd_problem *p, unsigned http, const char *code, const rt_error *err);

#endif
