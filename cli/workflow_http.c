#include "workflow_http.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "exec_opts.h"

/* One request and what it owns (freed by transfer_free). */
struct transfer {
    const sbx_wf_daemon *d;
    const sbx_wf_call *c;
    sbx_wf_reply *reply;
    CURL *h;
    struct curl_slist *headers;
    char *url, *auth, *idem;
    bool failed_memory;
    char errbuf[CURL_ERROR_SIZE];
};

static void transfer_free(struct transfer *t)
{
    curl_easy_cleanup(t->h);
    curl_slist_free_all(t->headers);
    free(t->url);
    free(t->auth);
    free(t->idem);
}

static size_t on_body(char *p, size_t size, size_t n, void *userdata)
{
    struct transfer *t = userdata;
    (void)size;                /* always 1 */
    if (!t->reply->status)
        curl_easy_getinfo(t->h, CURLINFO_RESPONSE_CODE, &t->reply->status);
    if (t->reply->status / 100 == 2 && t->c->on_data) {
        if (t->c->on_data(t->c->ctx, p, n) == 0)
            return n;
        t->reply->stopped = true;
        return 0;              /* ends the transfer */
    }
    if (rt_buf_append(&t->reply->body, p, n) != 0) {
        t->failed_memory = true;   /* out of memory, or beyond the cap */
        return 0;
    }
    return n;
}

static int on_progress(void *userdata, curl_off_t a, curl_off_t b, curl_off_t c, curl_off_t d)
{
    struct transfer *t = userdata;
    (void)a, (void)b, (void)c, (void)d;
    if (t->c->stop && t->c->stop(t->c->ctx)) {
        t->reply->stopped = true;
        return 1;
    }
    return 0;
}

static int add_header(struct transfer *t, const char *line)
{
    struct curl_slist *l = curl_slist_append(t->headers, line);
    if (!l)
        return -1;
    t->headers = l;
    return 0;
}

static int set_headers(struct transfer *t)
{
    if (t->d->token && asprintf(&t->auth, "Authorization: Bearer %s", t->d->token) < 0) {
        t->auth = NULL;
        return -1;
    }
    if (t->c->idem_key && asprintf(&t->idem, "Idempotency-Key: %s", t->c->idem_key) < 0) {
        t->idem = NULL;
        return -1;
    }
    if ((t->c->body && add_header(t, "Content-Type: application/json") < 0) ||
        add_header(t, "Expect:") < 0 || (t->auth && add_header(t, t->auth) < 0) ||
        (t->idem && add_header(t, t->idem) < 0))
        return -1;
    return curl_easy_setopt(t->h, CURLOPT_HTTPHEADER, t->headers) == CURLE_OK ? 0 : -1;
}

/* Over a Unix socket the host name is only a placeholder. */
static int set_target(struct transfer *t)
{
    const char *base = t->d->url ? t->d->url : "http://localhost";
    int len = (int)strlen(base);
    while (len && base[len - 1] == '/')
        len--;
    if (asprintf(&t->url, "%.*s%s", len, base, t->c->path) < 0) {
        t->url = NULL;
        return -1;
    }
    if (t->d->socket && curl_easy_setopt(t->h, CURLOPT_UNIX_SOCKET_PATH, t->d->socket))
        return -1;
    return curl_easy_setopt(t->h, CURLOPT_URL, t->url) == CURLE_OK ? 0 : -1;
}

static int set_method(struct transfer *t)
{
    const sbx_wf_call *c = t->c;
    int bad = 0;
    if (c->body) {
        bad |= curl_easy_setopt(t->h, CURLOPT_POSTFIELDS, c->body) != CURLE_OK;
        bad |= curl_easy_setopt(t->h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(c->body)) !=
               CURLE_OK;
    } else if (strcmp(c->method, "POST") == 0) {
        bad |= curl_easy_setopt(t->h, CURLOPT_POSTFIELDS, "") != CURLE_OK;
        bad |= curl_easy_setopt(t->h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)0) != CURLE_OK;
    }
    if (strcmp(c->method, "GET") != 0 && strcmp(c->method, "POST") != 0)
        bad |= curl_easy_setopt(t->h, CURLOPT_CUSTOMREQUEST, c->method) != CURLE_OK;
    return bad ? -1 : 0;
}

static int setup(struct transfer *t)
{
    if (!(t->h = curl_easy_init()))
        return -1;
    int bad = set_target(t) < 0 || set_headers(t) < 0 || set_method(t) < 0;
    bad |= curl_easy_setopt(t->h, CURLOPT_WRITEFUNCTION, on_body) != CURLE_OK;
    bad |= curl_easy_setopt(t->h, CURLOPT_WRITEDATA, t) != CURLE_OK;
    bad |= curl_easy_setopt(t->h, CURLOPT_XFERINFOFUNCTION, on_progress) != CURLE_OK;
    bad |= curl_easy_setopt(t->h, CURLOPT_XFERINFODATA, t) != CURLE_OK;
    bad |= curl_easy_setopt(t->h, CURLOPT_NOPROGRESS, 0L) != CURLE_OK;
    bad |= curl_easy_setopt(t->h, CURLOPT_ERRORBUFFER, t->errbuf) != CURLE_OK;
    bad |= curl_easy_setopt(t->h, CURLOPT_USERAGENT, "sbx-workflow") != CURLE_OK;
    bad |= curl_easy_setopt(t->h, CURLOPT_NOSIGNAL, 1L) != CURLE_OK;
    /* An event stream is quiet for as long as a step runs: only the
     * connection is bounded. */
    bad |= curl_easy_setopt(t->h, CURLOPT_CONNECTTIMEOUT, 10L) != CURLE_OK;
    bad |= curl_easy_setopt(t->h, CURLOPT_TCP_KEEPALIVE, 1L) != CURLE_OK;
    return bad ? -1 : 0;
}

static int transport_error(struct transfer *t, CURLcode res)
{
    char where[4200];
    long os_errno = 0;
    snprintf(where, sizeof where, "%s%s", t->d->socket ? "socket " : "",
             t->d->socket ? t->d->socket : t->d->url);
    const char *why = t->errbuf[0] ? t->errbuf : curl_easy_strerror(res);
    curl_easy_getinfo(t->h, CURLINFO_OS_ERRNO, &os_errno);
    if (res == CURLE_COULDNT_CONNECT)
        fprintf(stderr, "%s: cannot connect to sandboxd at %s: %s; %s\n", t->d->prog, where,
                os_errno ? strerror((int)os_errno) : why, sbx_daemon_connect_hint(os_errno));
    else
        fprintf(stderr, "%s: sandboxd at %s: %s\n", t->d->prog, where, why);
    return -1;
}

int sbx_wf_http(const sbx_wf_daemon *d, const sbx_wf_call *c, sbx_wf_reply *reply)
{
    struct transfer t = {.d = d, .c = c, .reply = reply};
    *reply = (sbx_wf_reply){0};
    rt_buf_init(&reply->body, SBX_WF_MAX_ANSWER);
    int rc = 0;
    if (setup(&t) < 0) {
        fprintf(stderr, "%s: cannot set up the request: out of memory\n", d->prog);
        rc = -1;
    } else {
        CURLcode res = curl_easy_perform(t.h);
        if (!reply->status)
            curl_easy_getinfo(t.h, CURLINFO_RESPONSE_CODE, &reply->status);
        if (t.failed_memory) {
            fprintf(stderr, "%s: the answer of sandboxd is larger than %u MiB\n", d->prog,
                    SBX_WF_MAX_ANSWER >> 20);
            rc = -1;
        } else if (res != CURLE_OK && !reply->stopped) {
            rc = transport_error(&t, res);
        }
    }
    transfer_free(&t);
    return rc;
}

void sbx_wf_reply_free(sbx_wf_reply *r)
{
    rt_buf_free(&r->body);
}

char *sbx_wf_escape(const char *s)
{
    char *e = curl_easy_escape(NULL, s, 0);
    char *out = e ? strdup(e) : NULL;
    curl_free(e);
    return out;
}
