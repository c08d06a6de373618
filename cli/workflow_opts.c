#include "workflow_opts.h"

#include <errno.h>
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "parse.h"

const char sbx_wf_usage[] =
    "usage: sbx workflow COMMAND [ARGS] [OPTIONS]\n"
    "\n"
    "Runs workflows (docs/workflows.md): here, in this process, or on sandboxd.\n"
    "\n"
    "Here:\n"
    "  run FILE [--input NAME=VALUE]...    run a workflow to its end, with its progress\n"
    "On the daemon (--socket PATH, or --url URL [--token T], as for sbx exec):\n"
    "  submit FILE [--input NAME=VALUE]... submit a workflow; prints its id (--wait\n"
    "                                      follows it to its end)\n"
    "  status ID                           its steps: status, attempts, duration, cost\n"
    "  list                                workflows, newest first\n"
    "  logs ID [--follow]                  its events\n"
    "  cancel ID | retry ID | delete ID    stop it; re-run what failed; forget it\n"
    "  approve ID STEP | reject ID STEP    answer a step that waits for approval\n"
    "  workspace ID -o FILE                its /workspace as a tar\n"
    "\n"
    "sbx workflow COMMAND --help tells more. Exit status: 0 when done (for run and\n"
    "submit --wait: when the workflow succeeded), 1 when the workflow ended otherwise\n"
    "or a request failed, 2 for bad options or an invalid workflow, 130/143 when\n"
    "interrupted by SIGINT/SIGTERM.\n";

#define DAEMON_HELP                                                                    \
    "Daemon:\n"                                                                        \
    "  --socket PATH        its Unix socket [$SANDBOXD_SOCKET, else\n"                 \
    "                       /run/sandboxd/sandboxd.sock for root, else\n"              \
    "                       $XDG_RUNTIME_DIR/sandboxd.sock]\n"                         \
    "  --url URL            a daemon on TCP, e.g. http://127.0.0.1:8080 [$SANDBOXD_URL]\n" \
    "  --token T            sent as \"Authorization: Bearer T\" [$SANDBOXD_TOKEN]\n"
#define INPUT_HELP                                                                     \
    "  --input NAME=VALUE   an input's value: JSON when VALUE is JSON (3, true, [1,2],\n" \
    "                       \"x\"), else the text as written; wins over the file's\n" \
    "                       \"inputs\"\n"
#define LOCAL_HELP                                                                     \
    "  --state-dir DIR      the workflows that sbx workflow run --keep left in DIR,\n" \
    "                       instead of the daemon's\n"
#define FILE_HELP                                                                      \
    "FILE holds a workflow document, or a request body {\"workflow\": {...},\n"       \
    "\"inputs\": {...}}; - reads it from stdin.\n"

static const char run_usage[] =
    "usage: sbx workflow run FILE|- [OPTIONS]\n"
    "\n"
    "Runs the workflow in this process, one sandbox per attempt of a step, shows each\n"
    "step's progress on stderr and a summary (status, duration, cost) at the end.\n"
    "Needs what sbx run needs (root for cgroup limits and the workspace tmpfs).\n"
    "Code steps use the languages of languages.json, as sandboxd does.\n"
    FILE_HELP
    "\n"
    INPUT_HELP
    "  --json               print the result document on stdout at the end\n"
    "  --state-dir DIR      where the store (workflows.db) and the workspaces live\n"
    "                       [$SBX_STATE_DIR, else ${XDG_STATE_HOME:-~/.local/state}/sbx]\n"
    "  --max-running N      attempts running at once [the number of cores]\n"
    "  --approve STEP       approve STEP when it waits for approval (nobody else can\n"
    "                       approve a workflow run here); repeatable\n"
    "  --keep               keep the workflow (its rows and workspace) and print where\n"
    "                       it is; by default it is deleted at the end\n"
    "  -h, --help           this text\n"
    "\n"
    "Exit status: 0 when the workflow succeeded, 1 when it ended otherwise or could not\n"
    "run, 2 for bad options or an invalid workflow (every problem is printed as\n"
    "\"path: message\"), 130/143 on SIGINT/SIGTERM, which cancel the workflow first.\n";

static const char submit_usage[] =
    "usage: sbx workflow submit FILE|- [OPTIONS]\n"
    "\n"
    "Submits the workflow to sandboxd (POST /v1/workflows) and prints its id.\n"
    FILE_HELP
    "\n"
    INPUT_HELP
    "  --idempotency-key K  the same key names the same workflow: a second submit\n"
    "                       with it gives the first one's id\n"
    "  --wait               follow the workflow's progress on stderr until it ends and\n"
    "                       exit like sbx workflow run (SIGINT stops following; the\n"
    "                       workflow goes on)\n"
    "  --json               print the result document instead of the id\n"
    "  -h, --help           this text\n"
    DAEMON_HELP;

static const char status_usage[] =
    "usage: sbx workflow status ID [--json]\n"
    "\n"
    "Shows a workflow of sandboxd: its status, duration and cost, then one line per\n"
    "step with its status, attempts, duration, cost and error.\n"
    "\n"
    "  --json               print the result document (GET /v1/workflows/ID)\n"
    LOCAL_HELP
    "  -h, --help           this text\n"
    DAEMON_HELP;

static const char list_usage[] =
    "usage: sbx workflow list [OPTIONS]\n"
    "\n"
    "Lists the workflows of sandboxd, newest first, a page at a time.\n"
    "\n"
    "  --status S           only those in status S (queued, running, succeeded,\n"
    "                       failed, cancelled, timed_out, budget_exceeded)\n"
    "  --limit N            at most N of them [50]\n"
    "  --cursor C           the page after the one that printed C\n"
    "  --json               print the page as JSON\n"
    LOCAL_HELP
    "  -h, --help           this text\n"
    DAEMON_HELP;

static const char logs_usage[] =
    "usage: sbx workflow logs ID [--follow] [--json]\n"
    "\n"
    "Prints the events of a workflow of sandboxd, one a line: the workflow's, steps'\n"
    "and attempts' status changes and approvals.\n"
    "\n"
    "  --follow             go on printing events until the workflow ends\n"
    "  --json               print the events as the daemon sends them (NDJSON)\n"
    LOCAL_HELP
    "  -h, --help           this text\n"
    DAEMON_HELP;

static const char cancel_usage[] =
    "usage: sbx workflow cancel ID [--json]\n"
    "\n"
    "Cancels a workflow of sandboxd: running sandboxes are stopped, steps that did\n"
    "not start are cancelled.\n"
    "\n"
    "  --json               print the result document\n"
    "  -h, --help           this text\n"
    DAEMON_HELP;

static const char retry_usage[] =
    "usage: sbx workflow retry ID [--json]\n"
    "\n"
    "Runs a failed, cancelled, timed out or over-budget workflow of sandboxd again\n"
    "from the steps that did not end ok.\n"
    "\n"
    "  --json               print the result document\n"
    "  -h, --help           this text\n"
    DAEMON_HELP;

static const char approve_usage[] =
    "usage: sbx workflow approve|reject ID STEP [--comment TEXT]\n"
    "\n"
    "Answers a step of a workflow of sandboxd that waits for approval: approve lets\n"
    "it run, reject fails it.\n"
    "\n"
    "  --comment TEXT       kept with the decision (at most 1000 bytes)\n"
    "  --json               print the daemon's answer\n"
    "  -h, --help           this text\n"
    DAEMON_HELP;

static const char delete_usage[] =
    "usage: sbx workflow delete ID\n"
    "\n"
    "Deletes a workflow of sandboxd that has ended: its records and its workspace.\n"
    "\n"
    "  --json               print the daemon's answer\n"
    LOCAL_HELP
    "  -h, --help           this text\n"
    DAEMON_HELP;

static const char workspace_usage[] =
    "usage: sbx workflow workspace ID -o FILE\n"
    "\n"
    "Writes the /workspace of a workflow of sandboxd to FILE as a tar (- for stdout).\n"
    "\n"
    "  -o, --output FILE    where the tar goes (required)\n"
    "  -h, --help           this text\n"
    DAEMON_HELP;

/* Option bits: which subcommand takes which option. */
enum {
    O_INPUT = 1 << 0, O_JSON = 1 << 1, O_STATE_DIR = 1 << 2, O_MAX_RUNNING = 1 << 3,
    O_KEEP = 1 << 4, O_APPROVE = 1 << 5, O_DAEMON = 1 << 6, O_IDEM = 1 << 7, O_WAIT = 1 << 8,
    O_STATUS = 1 << 9, O_LIMIT = 1 << 10, O_CURSOR = 1 << 11, O_COMMENT = 1 << 12,
    O_FOLLOW = 1 << 13, O_OUTPUT = 1 << 14,
};

static const struct wf_cmd {
    const char *name;
    enum sbx_wf_cmd cmd;
    const char *words;          /* what the words are, for messages */
    int n_words;
    unsigned opts;
    const char *usage;
} cmds[] = {
    {"run", SBX_WF_RUN, "FILE", 1,
     O_INPUT | O_JSON | O_STATE_DIR | O_MAX_RUNNING | O_KEEP | O_APPROVE, run_usage},
    {"submit", SBX_WF_SUBMIT, "FILE", 1, O_INPUT | O_JSON | O_DAEMON | O_IDEM | O_WAIT,
     submit_usage},
    {"status", SBX_WF_STATUS, "ID", 1, O_JSON | O_DAEMON | O_STATE_DIR, status_usage},
    {"list", SBX_WF_LIST, "", 0,
     O_JSON | O_DAEMON | O_STATE_DIR | O_STATUS | O_LIMIT | O_CURSOR, list_usage},
    {"logs", SBX_WF_LOGS, "ID", 1, O_JSON | O_DAEMON | O_STATE_DIR | O_FOLLOW, logs_usage},
    {"cancel", SBX_WF_CANCEL, "ID", 1, O_JSON | O_DAEMON, cancel_usage},
    {"retry", SBX_WF_RETRY, "ID", 1, O_JSON | O_DAEMON, retry_usage},
    {"approve", SBX_WF_APPROVE, "ID STEP", 2, O_JSON | O_DAEMON | O_COMMENT, approve_usage},
    {"reject", SBX_WF_REJECT, "ID STEP", 2, O_JSON | O_DAEMON | O_COMMENT, approve_usage},
    {"delete", SBX_WF_DELETE, "ID", 1, O_JSON | O_DAEMON | O_STATE_DIR, delete_usage},
    {"workspace", SBX_WF_WORKSPACE, "ID", 1, O_DAEMON | O_OUTPUT, workspace_usage},
};
#define N_CMDS (sizeof cmds / sizeof cmds[0])

enum {
    OPT_INPUT = 256, OPT_JSON, OPT_STATE_DIR, OPT_MAX_RUNNING, OPT_KEEP, OPT_APPROVE,
    OPT_SOCKET, OPT_URL, OPT_TOKEN, OPT_IDEM, OPT_WAIT, OPT_STATUS, OPT_LIMIT, OPT_CURSOR,
    OPT_COMMENT, OPT_FOLLOW,
};

static const struct option long_opts[] = {
    {"input", required_argument, NULL, OPT_INPUT},
    {"json", no_argument, NULL, OPT_JSON},
    {"state-dir", required_argument, NULL, OPT_STATE_DIR},
    {"max-running", required_argument, NULL, OPT_MAX_RUNNING},
    {"keep", no_argument, NULL, OPT_KEEP},
    {"approve", required_argument, NULL, OPT_APPROVE},
    {"socket", required_argument, NULL, OPT_SOCKET},
    {"url", required_argument, NULL, OPT_URL},
    {"token", required_argument, NULL, OPT_TOKEN},
    {"idempotency-key", required_argument, NULL, OPT_IDEM},
    {"wait", no_argument, NULL, OPT_WAIT},
    {"status", required_argument, NULL, OPT_STATUS},
    {"limit", required_argument, NULL, OPT_LIMIT},
    {"cursor", required_argument, NULL, OPT_CURSOR},
    {"comment", required_argument, NULL, OPT_COMMENT},
    {"follow", no_argument, NULL, OPT_FOLLOW},
    {"output", required_argument, NULL, 'o'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

/* The bit of each option, for the check against the subcommand's set. */
static unsigned opt_bit(int c)
{
    switch (c) {
    case OPT_INPUT: return O_INPUT;
    case OPT_JSON: return O_JSON;
    case OPT_STATE_DIR: return O_STATE_DIR;
    case OPT_MAX_RUNNING: return O_MAX_RUNNING;
    case OPT_KEEP: return O_KEEP;
    case OPT_APPROVE: return O_APPROVE;
    case OPT_SOCKET: case OPT_URL: case OPT_TOKEN: return O_DAEMON;
    case OPT_IDEM: return O_IDEM;
    case OPT_WAIT: return O_WAIT;
    case OPT_STATUS: return O_STATUS;
    case OPT_LIMIT: return O_LIMIT;
    case OPT_CURSOR: return O_CURSOR;
    case OPT_COMMENT: return O_COMMENT;
    case OPT_FOLLOW: return O_FOLLOW;
    case 'o': return O_OUTPUT;
    }
    return 0;
}

const char *sbx_wf_cmd_usage(enum sbx_wf_cmd cmd)
{
    for (size_t i = 0; i < N_CMDS; i++)
        if (cmds[i].cmd == cmd)
            return cmds[i].usage;
    return sbx_wf_usage;
}

int sbx_wf_add_input(json_t *inputs, const char *arg, rt_error *err)
{
    const char *eq = strchr(arg, '=');
    if (!eq || eq == arg)
        return rt_error_set(err, 0, "--input: \"%s\" is not NAME=VALUE", arg);
    char *name = strndup(arg, (size_t)(eq - arg));
    if (!name)
        return rt_error_set(err, errno, "--input");
    int rc = 0;
    json_t *v = json_loads(eq + 1, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, NULL);
    json_t *key = json_string(name);   /* NULL when not UTF-8 */
    if (!v)
        v = json_string(eq + 1);
    if (json_object_get(inputs, name))
        rc = rt_error_set(err, 0, "--input: %s given twice", name);
    else if (!v || !key)
        rc = rt_error_set(err, 0, "--input: \"%s\" is not valid UTF-8", arg);
    else if (json_object_set(inputs, name, v) < 0)
        rc = rt_error_set(err, ENOMEM, "--input");
    json_decref(v);
    json_decref(key);
    free(name);
    return rc;
}

static int parse_uint(const char *val, uint64_t max, const char *what, unsigned *out,
                      rt_error *err)
{
    uint64_t n;
    if (rt_parse_count(val, max, what, &n, err) < 0)
        return -1;
    *out = (unsigned)n;
    return 0;
}

/* Options that keep their value as it is. */
static const char **string_slot(sbx_wf_opts *o, int c)
{
    switch (c) {
    case OPT_STATE_DIR: return &o->state_dir;
    case OPT_SOCKET: return &o->socket;
    case OPT_URL: return &o->url;
    case OPT_TOKEN: return &o->token;
    case OPT_IDEM: return &o->idem_key;
    case OPT_STATUS: return &o->status;
    case OPT_CURSOR: return &o->cursor;
    case OPT_COMMENT: return &o->comment;
    case 'o': return &o->output;
    }
    return NULL;
}

static int parse_one(sbx_wf_opts *o, int c, const char *val, const char *opt, rt_error *err)
{
    const char **slot = string_slot(o, c);
    if (slot) {
        *slot = val;
        return *val || c == OPT_COMMENT ? 0 : rt_error_set(err, 0, "%s: must not be empty", opt);
    }
    switch (c) {
    case OPT_INPUT:
        if (!o->inputs && !(o->inputs = json_object()))
            return rt_error_set(err, ENOMEM, "--input");
        return sbx_wf_add_input(o->inputs, val, err);
    case OPT_MAX_RUNNING: return parse_uint(val, 4096, opt, &o->max_running, err);
    case OPT_LIMIT: return parse_uint(val, 1000, opt, &o->limit, err);
    case OPT_APPROVE: o->approve[o->n_approve++] = val; return 0;
    case OPT_JSON: o->json = true; return 0;
    case OPT_KEEP: o->keep = true; return 0;
    case OPT_WAIT: o->wait = true; return 0;
    case OPT_FOLLOW: o->follow = true; return 0;
    }
    return rt_error_set(err, 0, "%s: unknown option or missing value (see sbx workflow %s --help)",
                        opt, o->name);
}

static int scan(int argc, char **argv, const struct wf_cmd *cmd, sbx_wf_opts *o, rt_error *err)
{
    optind = 0;                /* GNU: start over, also when called again */
    opterr = 0;
    int c, idx;
    while ((c = getopt_long(argc, argv, "ho:", long_opts, &idx)) != -1) {
        if (c == 'h') {
            o->help = true;    /* the usage is all that is wanted */
            return 0;
        }
        char opt[128];
        if (c == '?' && optopt > 0 && optopt < 256)
            snprintf(opt, sizeof opt, "-%c", optopt);
        else if (c == '?')
            snprintf(opt, sizeof opt, "%.100s", argv[optind - 1]);
        else if (c == 'o')
            snprintf(opt, sizeof opt, "-o");
        else
            snprintf(opt, sizeof opt, "--%s", long_opts[idx].name);
        if (c != '?' && !(cmd->opts & opt_bit(c)))
            return rt_error_set(err, 0, "%s: not an option of sbx workflow %s (see its --help)",
                                opt, cmd->name);
        if (parse_one(o, c, optarg, opt, err) < 0)
            return -1;
    }
    o->args = argv + optind;
    o->n_args = argc - optind;
    return 0;
}

int sbx_wf_parse(int argc, char **argv, sbx_wf_opts *o, rt_error *err)
{
    *o = (sbx_wf_opts){0};
    const struct wf_cmd *cmd = NULL;
    for (size_t i = 0; i < N_CMDS && !cmd; i++)
        if (strcmp(argv[0], cmds[i].name) == 0)
            cmd = &cmds[i];
    if (!cmd)
        return rt_error_set(err, 0, "unknown command \"%s\" (see sbx workflow --help)", argv[0]);
    o->cmd = cmd->cmd;
    o->name = cmd->name;
    if (!(o->approve = calloc((size_t)argc, sizeof *o->approve)))
        return rt_error_set(err, ENOMEM, "options");
    if (scan(argc, argv, cmd, o, err) < 0 || o->help)
        return o->help ? 0 : -1;
    int usage_len = (int)strcspn(cmd->usage, "\n");
    if (o->n_args < cmd->n_words)
        return rt_error_set(err, 0, "missing %s (%.*s)", cmd->words, usage_len, cmd->usage);
    if (o->n_args > cmd->n_words)
        return rt_error_set(err, 0, "unexpected \"%s\" (%.*s)", o->args[cmd->n_words],
                            usage_len, cmd->usage);
    if (o->cmd != SBX_WF_RUN && o->state_dir && (o->socket || o->url || o->token))
        return rt_error_set(err, 0, "--state-dir: a local store, not a daemon: give either it "
                                    "or --socket/--url/--token");
    if (o->state_dir && o->follow)
        return rt_error_set(err, 0, "--follow: only for a daemon's workflows (a run's are over "
                                    "when it ends)");
    if (o->cmd == SBX_WF_WORKSPACE && !o->output)
        return rt_error_set(err, 0, "-o FILE: required (where the tar goes; - for stdout)");
    return 0;
}

void sbx_wf_opts_free(sbx_wf_opts *o)
{
    json_decref(o->inputs);
    free(o->approve);
    *o = (sbx_wf_opts){0};
}
