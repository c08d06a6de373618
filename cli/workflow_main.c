/* sbx-workflow: `sbx workflow`, which sbx execs (exec_cmd.c). A program of its
 * own because it links the orchestrator (SQLite, libarchive) and libcurl,
 * while sbx is static for a fast `sbx run`. */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "workflow_cmds.h"
#include "workflow_opts.h"

int main(int argc, char **argv)
{
    sbx_wf_opts o;
    rt_error err;
    int rc;
    signal(SIGPIPE, SIG_IGN);
    if (argc < 2) {
        fputs(sbx_wf_usage, stderr);
        return SBX_WF_USAGE;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "--help") == 0) {
        fputs(sbx_wf_usage, stdout);
        return 0;
    }
    rt_error_clear(&err);
    if (sbx_wf_parse(argc - 1, argv + 1, &o, &err) < 0) {
        fprintf(stderr, "sbx workflow%s%s: %s\n", o.name ? " " : "", o.name ? o.name : "",
                err.msg);
        rc = SBX_WF_USAGE;
    } else if (o.help) {
        fputs(sbx_wf_cmd_usage(o.cmd), stdout);
        rc = 0;
    } else {
        rc = o.cmd == SBX_WF_RUN ? sbx_wf_run(&o)
           : o.state_dir         ? sbx_wf_local(&o)
                                 : sbx_wf_client(&o);
    }
    sbx_wf_opts_free(&o);
    return rc;
}
