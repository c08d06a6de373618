#include "daemon_http.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "exec_opts.h"

int sbx_http_header(sbx_http *c, const char *line)
{
    struct curl_slist *l = curl_slist_append(c->headers, line);
    if (!l)
        return -1;
    c->headers = l;
    return 0;
}

/* Over a Unix socket the host name is only a placeholder. */
static int set_target(sbx_http *c, const sbx_daemon *d, const char *path)
{
    const char *base = d->url ? d->url : "http://localhost";
    int len = (int)strlen(base);
    while (len && base[len - 1] == '/')
        len--;
    if (asprintf(&c->url, "%.*s%s", len, base, path) < 0) {
        c->url = NULL;
        return -1;
    }
    if (d->socket && curl_easy_setopt(c->h, CURLOPT_UNIX_SOCKET_PATH, d->socket) != CURLE_OK)
        return -1;
    return curl_easy_setopt(c->h, CURLOPT_URL, c->url) == CURLE_OK ? 0 : -1;
}

static int set_method(sbx_http *c, const sbx_http_request *rq)
{
    const char *body = rq->body ? rq->body : "";
    int bad = 0;
    if (rq->body || strcmp(rq->method, "POST") == 0) {
        bad |= curl_easy_setopt(c->h, CURLOPT_POSTFIELDS, body) != CURLE_OK;
        bad |= curl_easy_setopt(c->h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(body)) !=
               CURLE_OK;
    }
    if (strcmp(rq->method, "GET") != 0 && strcmp(rq->method, "POST") != 0)
        bad |= curl_easy_setopt(c->h, CURLOPT_CUSTOMREQUEST, rq->method) != CURLE_OK;
    return bad ? -1 : 0;
}

/* "Expect:" off: curl would wait for a 100 Continue before a large body. */
static int set_headers(sbx_http *c, const sbx_daemon *d, const sbx_http_request *rq)
{
    if (d->token && asprintf(&c->auth, "Authorization: Bearer %s", d->token) < 0) {
        c->auth = NULL;
        return -1;
    }
    if ((rq->body && sbx_http_header(c, "Content-Type: application/json") < 0) ||
        sbx_http_header(c, "Expect:") < 0 || (c->auth && sbx_http_header(c, c->auth) < 0))
        return -1;
    return 0;
}

int sbx_http_init(sbx_http *c, const sbx_daemon *d, const sbx_http_request *rq)
{
    *c = (sbx_http){0};
    if (!(c->h = curl_easy_init()))
        return -1;
    int bad = set_target(c, d, rq->path) < 0 || set_method(c, rq) < 0 ||
              set_headers(c, d, rq) < 0;
    bad |= curl_easy_setopt(c->h, CURLOPT_WRITEFUNCTION, rq->on_body) != CURLE_OK;
    bad |= curl_easy_setopt(c->h, CURLOPT_WRITEDATA, rq->ctx) != CURLE_OK;
    bad |= curl_easy_setopt(c->h, CURLOPT_ERRORBUFFER, c->errbuf) != CURLE_OK;
    bad |= curl_easy_setopt(c->h, CURLOPT_USERAGENT, rq->agent) != CURLE_OK;
    bad |= curl_easy_setopt(c->h, CURLOPT_NOSIGNAL, 1L) != CURLE_OK;
    bad |= curl_easy_setopt(c->h, CURLOPT_CONNECTTIMEOUT, 10L) != CURLE_OK;
    bad |= curl_easy_setopt(c->h, CURLOPT_TCP_KEEPALIVE, 1L) != CURLE_OK;
    return bad ? -1 : 0;
}

CURLcode sbx_http_perform(sbx_http *c)
{
    CURLcode res = curl_easy_setopt(c->h, CURLOPT_HTTPHEADER, c->headers);
    return res == CURLE_OK ? curl_easy_perform(c->h) : res;
}

long sbx_http_status(const sbx_http *c)
{
    long status = 0;
    if (curl_easy_getinfo(c->h, CURLINFO_RESPONSE_CODE, &status) != CURLE_OK)
        return 0;
    return status;
}

void sbx_http_report(const sbx_http *c, const sbx_daemon *d, CURLcode res)
{
    char where[4200];
    long os_errno = 0;
    snprintf(where, sizeof where, "%s%s", d->socket ? "socket " : "",
             d->socket ? d->socket : d->url);
    const char *why = c->errbuf[0] ? c->errbuf : curl_easy_strerror(res);
    if (curl_easy_getinfo(c->h, CURLINFO_OS_ERRNO, &os_errno) != CURLE_OK)
        os_errno = 0;
    if (res == CURLE_COULDNT_CONNECT)
        fprintf(stderr, "%s: cannot connect to sandboxd at %s: %s; %s\n", d->prog, where,
                os_errno ? strerror((int)os_errno) : why, sbx_daemon_connect_hint(os_errno));
    else
        fprintf(stderr, "%s: sandboxd at %s: %s\n", d->prog, where, why);
}

void sbx_http_free(sbx_http *c)
{
    curl_easy_cleanup(c->h);
    curl_slist_free_all(c->headers);
    free(c->url);
    free(c->auth);
    *c = (sbx_http){0};
}
