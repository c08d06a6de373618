/* sbx exec's HTTP side (libcurl): sends the request to the daemon and reads
 * its answer, streamed or not. */
#ifndef SBX_CLI_EXEC_HTTP_H
#define SBX_CLI_EXEC_HTTP_H

#include "exec_opts.h"

/* Runs o's request and ends like sbx run: returns the command's exit code (or
 * 124, 128+N, 125), having passed its output through and explained its
 * status; 125 with a message naming the daemon when it cannot be reached or
 * answers with an error or a malformed body. Needs curl_global_init. */
int sbx_exec_send(const sbx_exec_opts *o);

#endif
