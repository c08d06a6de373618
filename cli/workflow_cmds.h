/* The subcommands of sbx workflow (cli/workflow_main.c dispatches). Each
 * returns the exit status (workflow_opts.h) and prints its own messages. */
#ifndef SBX_CLI_WORKFLOW_CMDS_H
#define SBX_CLI_WORKFLOW_CMDS_H

#include "workflow_opts.h"

/* run: the engine in this process (workflow_run.c). */
int sbx_wf_run(const sbx_wf_opts *o);

/* status, list, logs and delete with --state-dir: the workflows run kept
 * there (workflow_run.c). */
int sbx_wf_local(const sbx_wf_opts *o);

/* Every other subcommand: a request to sandboxd (workflow_client.c). */
int sbx_wf_client(const sbx_wf_opts *o);

#endif
