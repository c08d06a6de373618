/* `sbx workflow` options: one table of subcommands, each with the options it
 * takes, its words and its --help text. No I/O beyond the usage texts. */
#ifndef SBX_CLI_WORKFLOW_OPTS_H
#define SBX_CLI_WORKFLOW_OPTS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "error.h"

/* Exit statuses of sbx workflow. */
enum { SBX_WF_OK = 0, SBX_WF_FAILED = 1, SBX_WF_USAGE = 2 };

enum sbx_wf_cmd {
    SBX_WF_RUN, SBX_WF_SUBMIT, SBX_WF_STATUS, SBX_WF_LIST, SBX_WF_LOGS, SBX_WF_CANCEL,
    SBX_WF_RETRY, SBX_WF_APPROVE, SBX_WF_REJECT, SBX_WF_DELETE, SBX_WF_WORKSPACE,
};

typedef struct sbx_wf_opts {
    enum sbx_wf_cmd cmd;
    const char *name;           /* "run", "submit", ... */
    char **args;                /* the words after the options (FILE, ID, STEP) */
    int n_args;
    json_t *inputs;             /* --input NAME=VALUE as an object; NULL when none */
    const char *socket, *url, *token;   /* as given; resolved by sbx_daemon_resolve */
    const char *state_dir;      /* run: NULL = the default */
    unsigned max_running;       /* run: 0 = the number of cores */
    const char **approve;       /* run: --approve STEP, n_approve of them */
    size_t n_approve;
    const char *idem_key;       /* submit */
    const char *status, *cursor; /* list */
    unsigned limit;             /* list: 0 = the daemon's */
    const char *comment;        /* approve, reject */
    const char *output;         /* workspace: -o FILE */
    bool keep, wait, json, follow, help;
} sbx_wf_opts;

/* argv[0] is the subcommand. Returns 0, or -1 with a message that names the
 * option (the caller exits 2). o is filled either way; free it with
 * sbx_wf_opts_free. With o->help set, nothing else was checked. */
int sbx_wf_parse(int argc, char **argv, sbx_wf_opts *o, rt_error *err);
void sbx_wf_opts_free(sbx_wf_opts *o);

/* The --help text of a subcommand, and of sbx workflow itself. */
const char *sbx_wf_cmd_usage(enum sbx_wf_cmd cmd);
extern const char sbx_wf_usage[];

/* Parses "NAME=VALUE" into inputs: VALUE as JSON when it is JSON, else as a
 * string. A name given twice is refused. */
int sbx_wf_add_input(json_t *inputs, const char *arg, rt_error *err);

#endif
