/* The daemon's answer to POST /v1/exec, fed as it arrives: one result object,
 * or (streaming) NDJSON events ending in {"type": "result", "result": {...}},
 * or an error object. No HTTP here: exec_http.c feeds the body. */
#ifndef SBX_CLI_EXEC_ANSWER_H
#define SBX_CLI_EXEC_ANSWER_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "error.h"
#include "result.h"
#include "spec.h"

/* One streamed event. Output chunks are small, but the last event carries the
 * result with stdout and stderr again: at the daemon's default maximum output
 * (16 MiB each) that is up to 43 MiB once base64 encoded. */
#define SBX_ANSWER_MAX_LINE (64u << 20)
/* A whole answer that is not streamed: the result and both outputs. */
#define SBX_ANSWER_MAX_BODY (256u << 20)

/* Receives the decoded bytes of a chunk; fd is 1 (stdout) or 2 (stderr). */
typedef void (*sbx_output_fn)(void *ctx, int fd, const char *data, size_t len);

typedef struct sbx_answer {
    bool stream;               /* NDJSON events; set before the first feed */
    sbx_output_fn on_output;   /* NULL drops the chunks (the result has them too) */
    void *ctx;
    rt_buf buf;                /* the body, or the streamed line being read */
    json_t *result;            /* the result object once read; owned */
} sbx_answer;

void sbx_answer_init(sbx_answer *a, sbx_output_fn on_output, void *ctx);
/* Takes the next bytes of the body. -1 with a message when a streamed line is
 * not a valid event or a line or the body is beyond its cap. */
int sbx_answer_feed(sbx_answer *a, const char *p, size_t n, rt_error *err);
/* At the end of the body: reads what is left and checks that a result came. */
int sbx_answer_finish(sbx_answer *a, rt_error *err);
void sbx_answer_free(sbx_answer *a);

/* The line for a non-2xx answer: "HTTP 400 bad_request: limits.memory: ...",
 * from the body {"error": {"code", "message"}} or, when the body is not that,
 * from its first line. retry_after (a Retry-After header) may be NULL. */
void sbx_answer_http_error(long status, const char *body, size_t len, const char *retry_after,
                           char *msg, size_t size);

/* Ends the run as sbx run would: prints the result object (json), or its
 * outputs when they were not streamed (print_output) and the explanation of
 * its status, on stdout/stderr. Returns the exit code; 125 with a message when
 * the object is not a result. asked: the limits the options gave, for the
 * explanation's numbers. */
int sbx_answer_report(const json_t *result, bool json, bool print_output,
                      const rt_limits *asked);

#endif
