/* A request to sandboxd over libcurl, shared by sbx exec (exec_http.c) and
 * sbx workflow (workflow_http.c): where the daemon is, the handle set up for
 * it, and the message when no answer came. */
#ifndef SBX_CLI_DAEMON_HTTP_H
#define SBX_CLI_DAEMON_HTTP_H

#include <curl/curl.h>
#include <stddef.h>

/* Where sandboxd is (sbx_daemon_resolve in exec_opts.h) and who asks. */
typedef struct sbx_daemon {
    char *socket;               /* the Unix socket, or NULL when url is set */
    char *url;                  /* base URL on TCP */
    char *token;                /* bearer token, or NULL */
    const char *prog;           /* "sbx exec", "sbx workflow status": for messages */
} sbx_daemon;

typedef struct sbx_http_request {
    const char *method;         /* "GET", "POST", "DELETE" */
    const char *path;           /* "/v1/..." with its query */
    const char *body;           /* JSON text, sent as application/json; or NULL */
    const char *agent;          /* the User-Agent */
    /* The answer's body as it comes (curl's write callback, called with ctx). */
    size_t (*on_body)(char *p, size_t size, size_t n, void *ctx);
    void *ctx;
} sbx_http_request;

/* One request and what it owns (freed by sbx_http_free). */
typedef struct sbx_http {
    CURL *h;
    struct curl_slist *headers;
    char *url;
    char *auth;                 /* "Authorization: Bearer T" */
    char errbuf[CURL_ERROR_SIZE];
} sbx_http;

/* Sets c up for rq to d: the URL (through d's socket when it has one), the
 * method and body, the token, the write callback. Only connecting is bounded
 * in time: an answer may be quiet for as long as a sandbox runs. -1 when out
 * of memory; free c with sbx_http_free either way. Needs curl_global_init. */
int sbx_http_init(sbx_http *c, const sbx_daemon *d, const sbx_http_request *rq);
/* Adds a header line, "Name: value". */
int sbx_http_header(sbx_http *c, const char *line);
/* Sends the request with its headers and reads the answer. */
CURLcode sbx_http_perform(sbx_http *c);
/* The answer's HTTP status; 0 until its headers are in. */
long sbx_http_status(const sbx_http *c);
/* Why the transfer ended with res, on stderr: naming the daemon, with a
 * hint when it could not be reached. */
void sbx_http_report(const sbx_http *c, const sbx_daemon *d, CURLcode res);
void sbx_http_free(sbx_http *c);

#endif
