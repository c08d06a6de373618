#include "exec_http.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>

#include "daemon_http.h"
#include "exec_answer.h"
#include "outcome.h"

/* One POST /v1/exec and everything it owns (freed by call_free). */
struct call {
    const sbx_exec_opts *o;
    sbx_daemon d;
    sbx_http http;
    char *body;
    sbx_answer answer;
    long status;               /* 0 until the answer's headers are in */
    bool answer_bad;           /* feeding the body failed: err says why */
    rt_error err;
};

static void call_free(struct call *c)
{
    sbx_http_free(&c->http);
    free(c->body);
    sbx_answer_free(&c->answer);
}

static void pass_through(void *ctx, int fd, const char *data, size_t len)
{
    (void)ctx;
    sbx_write_all(fd, data, len);
}

/* Known once the headers are in: an error or a plain result is one JSON body,
 * a stream is NDJSON (whatever was asked, the answer's type decides). */
static void start_answer(struct call *c)
{
    char *type = NULL;
    c->status = sbx_http_status(&c->http);
    if (curl_easy_getinfo(c->http.h, CURLINFO_CONTENT_TYPE, &type) != CURLE_OK)
        type = NULL;
    c->answer.stream = c->status / 100 == 2 && type &&
                       strncasecmp(type, "application/x-ndjson", 20) == 0;
}

static size_t on_body(char *p, size_t size, size_t n, void *userdata)
{
    struct call *c = userdata;
    (void)size;                /* always 1 */
    if (!c->status)
        start_answer(c);
    if (sbx_answer_feed(&c->answer, p, n, &c->err) < 0) {
        c->answer_bad = true;
        return 0;              /* ends the transfer */
    }
    return n;
}

static int setup(struct call *c)
{
    if (!(c->body = json_dumps(c->o->request, JSON_COMPACT)))
        return -1;
    sbx_http_request rq = {.method = "POST", .path = "/v1/exec", .body = c->body,
                           .agent = "sbx-exec", .on_body = on_body, .ctx = c};
    if (sbx_http_init(&c->http, &c->d, &rq) < 0)
        return -1;
    return sbx_http_header(&c->http, c->o->stream
                                         ? "Accept: application/x-ndjson, application/json"
                                         : "Accept: application/json");
}

static int http_error(struct call *c)
{
    char msg[2048];
    struct curl_header *retry = NULL;
    if (curl_easy_header(c->http.h, "Retry-After", 0, CURLH_HEADER, -1, &retry) != CURLHE_OK)
        retry = NULL;
    sbx_answer_http_error(c->status, c->answer.buf.data, c->answer.buf.len,
                          retry ? retry->value : NULL, msg, sizeof msg);
    fprintf(stderr, "sbx exec: %s\n", msg);
    return SBX_EXIT_SANDBOX;
}

static int malformed(const struct call *c)
{
    fprintf(stderr, "sbx exec: malformed answer from sandboxd: %s\n", c->err.msg);
    return SBX_EXIT_SANDBOX;
}

static int call_run(struct call *c)
{
    if (setup(c) < 0) {
        fprintf(stderr, "sbx exec: cannot set up the request: out of memory\n");
        return SBX_EXIT_SANDBOX;
    }
    CURLcode res = sbx_http_perform(&c->http);
    if (res == CURLE_OK && !c->status)
        start_answer(c);       /* an answer without a body */
    if (c->answer_bad)
        return malformed(c);
    if (res != CURLE_OK) {
        sbx_http_report(&c->http, &c->d, res);
        return SBX_EXIT_SANDBOX;
    }
    if (c->status / 100 != 2)
        return http_error(c);
    if (sbx_answer_finish(&c->answer, &c->err) < 0)
        return malformed(c);
    return sbx_answer_report(c->answer.result, c->o->json, !c->answer.stream, &c->o->asked);
}

int sbx_exec_send(const sbx_exec_opts *o)
{
    struct call c = {.o = o,
                     .d = {.socket = o->socket, .url = o->url, .token = o->token,
                           .prog = "sbx exec"}};
    rt_error_clear(&c.err);
    sbx_answer_init(&c.answer, o->json ? NULL : pass_through, NULL);
    int rc = call_run(&c);
    call_free(&c);
    return rc;
}
