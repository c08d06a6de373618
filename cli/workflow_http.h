/* sbx workflow's requests to sandboxd (libcurl): JSON answers kept whole,
 * streams (events, a tar) handed over as they come. */
#ifndef SBX_CLI_WORKFLOW_HTTP_H
#define SBX_CLI_WORKFLOW_HTTP_H

#include <stdbool.h>
#include <stddef.h>

#include "daemon_http.h"
#include "result.h"

/* Largest answer kept in memory (a result document of 1000 steps with their
 * last results is well below it). */
#define SBX_WF_MAX_ANSWER (256u << 20)

typedef struct sbx_wf_call {
    const char *method;         /* "GET", "POST", "DELETE" */
    const char *path;           /* "/v1/workflows/ID/..." with its query */
    const char *body;           /* JSON text, or NULL */
    const char *idem_key;       /* an Idempotency-Key header, or NULL */
    /* A 2xx answer's body as it comes (NULL: kept in the reply); -1 ends the
     * transfer. Other answers are always kept, for their error. */
    int (*on_data)(void *ctx, const char *p, size_t n);
    /* Asked about once a second while the answer comes; true ends it. */
    bool (*stop)(void *ctx);
    void *ctx;
} sbx_wf_call;

typedef struct sbx_wf_reply {
    long status;                /* the HTTP status */
    rt_buf body;                /* the answer, unless on_data took it */
    bool stopped;               /* on_data or stop ended the transfer */
} sbx_wf_reply;

/* Sends the request and reads the answer (any status) into *reply. -1 with a
 * message on stderr (naming the daemon, with a hint when it cannot be
 * reached) when there is no complete answer. Free the reply with
 * sbx_wf_reply_free either way. Needs curl_global_init. */
int sbx_wf_http(const sbx_daemon *d, const sbx_wf_call *c, sbx_wf_reply *reply);
void sbx_wf_reply_free(sbx_wf_reply *r);

/* Escapes s for a URL's query; NULL when out of memory. free() it. */
char *sbx_wf_escape(const char *s);

#endif
