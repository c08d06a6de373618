#include "exec_http.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "exec_answer.h"
#include "outcome.h"

/* One POST /v1/exec and everything it owns (freed by call_free). */
struct call {
    const sbx_exec_opts *o;
    CURL *h;
    struct curl_slist *headers;
    char *url;
    char *auth;                /* "Authorization: Bearer T" */
    char *body;
    sbx_answer answer;
    long status;               /* 0 until the answer's headers are in */
    bool answer_bad;           /* feeding the body failed: err says why */
    rt_error err;
    char errbuf[CURL_ERROR_SIZE];
};

static void call_free(struct call *c)
{
    curl_easy_cleanup(c->h);
    curl_slist_free_all(c->headers);
    free(c->url);
    free(c->auth);
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
    curl_easy_getinfo(c->h, CURLINFO_RESPONSE_CODE, &c->status);
    curl_easy_getinfo(c->h, CURLINFO_CONTENT_TYPE, &type);
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

static int add_header(struct call *c, const char *line)
{
    struct curl_slist *l = curl_slist_append(c->headers, line);
    if (!l)
        return -1;
    c->headers = l;
    return 0;
}

static int set_headers(struct call *c)
{
    const sbx_exec_opts *o = c->o;
    if (o->token && asprintf(&c->auth, "Authorization: Bearer %s", o->token) < 0) {
        c->auth = NULL;
        return -1;
    }
    /* "Expect:" off: curl would wait for a 100 Continue before a large body. */
    if (add_header(c, "Content-Type: application/json") < 0 || add_header(c, "Expect:") < 0 ||
        add_header(c, o->stream ? "Accept: application/x-ndjson, application/json"
                                : "Accept: application/json") < 0 ||
        (c->auth && add_header(c, c->auth) < 0))
        return -1;
    return curl_easy_setopt(c->h, CURLOPT_HTTPHEADER, c->headers) == CURLE_OK ? 0 : -1;
}

/* Over a Unix socket the host name is only a placeholder. */
static int set_target(struct call *c)
{
    const char *base = c->o->url ? c->o->url : "http://localhost";
    int len = (int)strlen(base);
    while (len && base[len - 1] == '/')
        len--;
    if (asprintf(&c->url, "%.*s/v1/exec", len, base) < 0) {
        c->url = NULL;
        return -1;
    }
    if (c->o->socket && curl_easy_setopt(c->h, CURLOPT_UNIX_SOCKET_PATH, c->o->socket))
        return -1;
    return curl_easy_setopt(c->h, CURLOPT_URL, c->url) == CURLE_OK ? 0 : -1;
}

static int setup(struct call *c)
{
    if (!(c->h = curl_easy_init()) || !(c->body = json_dumps(c->o->request, JSON_COMPACT)))
        return -1;
    int bad = set_target(c) < 0 || set_headers(c) < 0;
    bad |= curl_easy_setopt(c->h, CURLOPT_POSTFIELDS, c->body) != CURLE_OK;
    bad |= curl_easy_setopt(c->h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(c->body)) !=
           CURLE_OK;
    bad |= curl_easy_setopt(c->h, CURLOPT_WRITEFUNCTION, on_body) != CURLE_OK;
    bad |= curl_easy_setopt(c->h, CURLOPT_WRITEDATA, c) != CURLE_OK;
    bad |= curl_easy_setopt(c->h, CURLOPT_ERRORBUFFER, c->errbuf) != CURLE_OK;
    bad |= curl_easy_setopt(c->h, CURLOPT_USERAGENT, "sbx-exec") != CURLE_OK;
    bad |= curl_easy_setopt(c->h, CURLOPT_NOSIGNAL, 1L) != CURLE_OK;
    /* A run may be quiet for its whole timeout: only the connection is bounded. */
    bad |= curl_easy_setopt(c->h, CURLOPT_CONNECTTIMEOUT, 10L) != CURLE_OK;
    bad |= curl_easy_setopt(c->h, CURLOPT_TCP_KEEPALIVE, 1L) != CURLE_OK;
    return bad ? -1 : 0;
}

static int transport_error(struct call *c, CURLcode res)
{
    char where[4200];
    long os_errno = 0;
    snprintf(where, sizeof where, "%s%s", c->o->socket ? "socket " : "",
             c->o->socket ? c->o->socket : c->o->url);
    const char *why = c->errbuf[0] ? c->errbuf : curl_easy_strerror(res);
    curl_easy_getinfo(c->h, CURLINFO_OS_ERRNO, &os_errno);
    if (res == CURLE_COULDNT_CONNECT)
        fprintf(stderr, "sbx exec: cannot connect to sandboxd at %s: %s; %s\n", where,
                os_errno ? strerror((int)os_errno) : why, sbx_daemon_connect_hint(os_errno));
    else
        fprintf(stderr, "sbx exec: sandboxd at %s: %s\n", where, why);
    return SBX_EXIT_SANDBOX;
}

static int http_error(struct call *c)
{
    char msg[2048];
    struct curl_header *retry = NULL;
    if (curl_easy_header(c->h, "Retry-After", 0, CURLH_HEADER, -1, &retry) != CURLHE_OK)
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
    CURLcode res = curl_easy_perform(c->h);
    if (res == CURLE_OK && !c->status)
        start_answer(c);       /* an answer without a body */
    if (c->answer_bad)
        return malformed(c);
    if (res != CURLE_OK)
        return transport_error(c, res);
    if (c->status / 100 != 2)
        return http_error(c);
    if (sbx_answer_finish(&c->answer, &c->err) < 0)
        return malformed(c);
    return sbx_answer_report(c->answer.result, c->o->json, !c->answer.stream, &c->o->asked);
}

int sbx_exec_send(const sbx_exec_opts *o)
{
    struct call c = {.o = o};
    rt_error_clear(&c.err);
    sbx_answer_init(&c.answer, o->json ? NULL : pass_through, NULL);
    int rc = call_run(&c);
    call_free(&c);
    return rc;
}
