#include "workflow_http.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One request and what it owns (freed by transfer_free). */
struct transfer {
    const sbx_daemon *d;
    const sbx_wf_call *c;
    sbx_wf_reply *reply;
    sbx_http http;
    char *idem;
    bool failed_memory;
};

static void transfer_free(struct transfer *t)
{
    sbx_http_free(&t->http);
    free(t->idem);
}

static size_t on_body(char *p, size_t size, size_t n, void *userdata)
{
    struct transfer *t = userdata;
    (void)size;                /* always 1 */
    if (!t->reply->status)
        t->reply->status = sbx_http_status(&t->http);
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

static int setup(struct transfer *t)
{
    const sbx_wf_call *c = t->c;
    sbx_http_request rq = {.method = c->method, .path = c->path, .body = c->body,
                           .agent = "sbx-workflow", .on_body = on_body, .ctx = t};
    if (sbx_http_init(&t->http, t->d, &rq) < 0)
        return -1;
    if (c->idem_key && asprintf(&t->idem, "Idempotency-Key: %s", c->idem_key) < 0) {
        t->idem = NULL;
        return -1;
    }
    int bad = t->idem && sbx_http_header(&t->http, t->idem) < 0;
    bad |= curl_easy_setopt(t->http.h, CURLOPT_XFERINFOFUNCTION, on_progress) != CURLE_OK;
    bad |= curl_easy_setopt(t->http.h, CURLOPT_XFERINFODATA, t) != CURLE_OK;
    bad |= curl_easy_setopt(t->http.h, CURLOPT_NOPROGRESS, 0L) != CURLE_OK;
    return bad ? -1 : 0;
}

int sbx_wf_http(const sbx_daemon *d, const sbx_wf_call *c, sbx_wf_reply *reply)
{
    struct transfer t = {.d = d, .c = c, .reply = reply};
    *reply = (sbx_wf_reply){0};
    rt_buf_init(&reply->body, SBX_WF_MAX_ANSWER);
    int rc = 0;
    if (setup(&t) < 0) {
        fprintf(stderr, "%s: cannot set up the request: out of memory\n", d->prog);
        rc = -1;
    } else {
        CURLcode res = sbx_http_perform(&t.http);
        if (!reply->status)
            reply->status = sbx_http_status(&t.http);
        if (t.failed_memory) {
            fprintf(stderr, "%s: the answer of sandboxd is larger than %u MiB\n", d->prog,
                    SBX_WF_MAX_ANSWER >> 20);
            rc = -1;
        } else if (res != CURLE_OK && !reply->stopped) {
            sbx_http_report(&t.http, d, res);
            rc = -1;
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
