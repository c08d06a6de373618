/* How a run ends for the shell, shared by `sbx run` and `sbx exec` so that both
 * behave like the command: its exit code (128+N for signal N, 124 on timeout,
 * 125 when the sandbox failed) and a line on stderr naming a limit that ended it. */
#ifndef SBX_CLI_OUTCOME_H
#define SBX_CLI_OUTCOME_H

#include <stddef.h>

#include "result.h"
#include "spec.h"

enum { SBX_EXIT_USAGE = 2, SBX_EXIT_TIMEOUT = 124, SBX_EXIT_SANDBOX = 125 };

int sbx_exit_code(const rt_result *r);

/* Explains a status other than ok, exit_nonzero and signaled on stderr as
 * "PROG: STATUS: ...". l gives the numbers in the message; when l is NULL or
 * a field is 0 (a client that does not know the daemon's limits) the message
 * names the limit without its value. */
void sbx_explain(const char *prog, const rt_result *r, const rt_limits *l);

/* Writes everything, retrying on EINTR; drops the rest when fd is gone (a
 * closed pipe), as the command's own write would have failed. */
void sbx_write_all(int fd, const void *p, size_t n);

#endif
