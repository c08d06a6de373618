/* sbx-exec: `sbx exec`, the client of sandboxd. A program of its own because
 * it links libcurl, which Debian ships only as a shared library, while sbx is
 * static for a fast `sbx run`; sbx execs this (exec_cmd.c). */
#include <curl/curl.h>
#include <signal.h>
#include <stdio.h>

#include "exec_http.h"
#include "exec_opts.h"
#include "outcome.h"

int main(int argc, char **argv)
{
    sbx_exec_opts o;
    rt_error err;
    int rc;
    signal(SIGPIPE, SIG_IGN);
    rt_error_clear(&err);
    if (sbx_exec_parse(argc, argv, &o, &err) < 0) {
        fprintf(stderr, "sbx exec: %s\n", err.msg);
        rc = SBX_EXIT_USAGE;
    } else if (o.help) {
        fputs(sbx_exec_usage, stdout);
        rc = 0;
    } else if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        fprintf(stderr, "sbx exec: cannot initialise libcurl\n");
        rc = SBX_EXIT_SANDBOX;
    } else {
        rc = sbx_exec_send(&o);
        curl_global_cleanup();
    }
    sbx_exec_opts_free(&o);
    return rc;
}
