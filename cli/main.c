/* sbx: run commands in sandboxes from the shell. */
#include <errno.h>
#include <jansson.h>
#include <malloc.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cgroup.h"
#include "exec_cmd.h"
#include "netns.h"
#include "info.h"
#include "outcome.h"
#include "profile_cmd.h"
#include "run_opts.h"
#include "sandbox.h"
#include "spec_json.h"
#include "version.h"

static const char usage[] =
    "usage: sbx COMMAND [ARGS]\n"
    "\n"
    "Commands:\n"
    "  run [OPTIONS] -- CMD [ARG...]   run CMD in a sandbox (sbx run --help)\n"
    "  exec [OPTIONS] -- CMD [ARG...]  run CMD in a sandbox of the sandboxd daemon\n"
    "                                  (sbx exec --help)\n"
    "  workflow run|submit|status|...  run workflows here or on sandboxd\n"
    "                                  (sbx workflow --help)\n"
    "  profile list|show|check         sandbox profiles and seccomp policies\n"
    "  info [--json]                   kernel, cgroups and isolation features here\n"
    "  version                         print the version\n"
    "  help                            this text\n";

static void pass_through(void *ctx, int stream, const char *data, size_t len)
{
    (void)ctx;
    sbx_write_all(stream, data, len);
}

static int print_json(const rt_result *r)
{
    json_t *j = rt_result_to_json(r);
    char *s = j ? json_dumps(j, JSON_INDENT(2) | JSON_REAL_PRECISION(9)) : NULL;
    json_decref(j);
    if (!s) {
        fprintf(stderr, "sbx: cannot encode the result\n");
        return -1;
    }
    sbx_write_all(1, s, strlen(s));
    sbx_write_all(1, "\n", 1);
    free(s);
    return 0;
}

/* The sandbox user writes the workspace as host uid RT_HOST_USER_UID (when we are
 * root): a missing workspace is made for it; one it cannot write gets a hint. */
static int prepare_workspace(const char *dir)
{
    if (!dir || geteuid() != 0)
        return 0;
    struct stat st;
    if (stat(dir, &st) < 0) {
        if (errno != ENOENT || mkdir(dir, 0755) < 0 ||
            chown(dir, RT_HOST_USER_UID, RT_HOST_USER_UID) < 0) {
            fprintf(stderr, "sbx run: --workspace %s: %s\n", dir, strerror(errno));
            return -1;
        }
        return 0;
    }
    bool writable = st.st_uid == RT_HOST_USER_UID ? (st.st_mode & S_IWUSR)
                  : st.st_gid == RT_HOST_USER_UID ? (st.st_mode & S_IWGRP)
                                                  : (st.st_mode & S_IWOTH);
    if (S_ISDIR(st.st_mode) && !writable)
        fprintf(stderr, "sbx: note: %s is not writable by the sandbox user (host uid %d); "
                        "chown %d:%d it to let the sandbox write there\n",
                dir, RT_HOST_USER_UID, RT_HOST_USER_UID, RT_HOST_USER_UID);
    return 0;
}

static int run_parsed(sbx_run_opts *o)
{
    rt_error err;
    rt_error_clear(&err);
    if (o->help) {
        fputs(sbx_run_usage, stdout);
        return 0;
    }
    if (prepare_workspace(o->spec.workspace) < 0)
        return SBX_EXIT_SANDBOX;
    rt_callbacks cb = {.on_output = o->json ? NULL : pass_through};
    rt_result res;
    if (rt_run(&o->spec, &cb, &res, &err) < 0) {
        fprintf(stderr, "sbx run: %s\n", err.msg);
        return SBX_EXIT_SANDBOX;
    }
    int rc;
    if (o->json)
        rc = print_json(&res) < 0 ? SBX_EXIT_SANDBOX : sbx_exit_code(&res);
    else {
        sbx_explain("sbx", &res, &o->spec.limits);
        rc = sbx_exit_code(&res);
    }
    rt_result_free(&res);
    return rc;
}

/* Whether the options (before "--") ask for help: nothing is made ahead then. A
 * value that reads "-h" only costs the head start. */
static bool asks_for_help(int argc, char **argv)
{
    for (int i = 1; i < argc && strcmp(argv[i], "--") != 0; i++)
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help"))
            return true;
    return false;
}

static int cmd_run(int argc, char **argv)
{
    /* The setup threads allocate little: one arena for all, not one each (each
     * is a 64 MiB mapping made, faulted in and torn down again). Best effort:
     * without it they only cost more. */
    (void)mallopt(M_ARENA_MAX, 1);
    /* The cgroup is made (and groups of killed earlier runs swept) while the
     * options and the profile are read and the sandbox starts. */
    if (!asks_for_help(argc, argv)) {
        rt_cgroup_prestart();
        rt_netns_prestart();
    }
    sbx_run_opts o;
    rt_error err;
    rt_error_clear(&err);
    int rc;
    if (sbx_run_parse(argc, argv, &o, &err) < 0) {
        fprintf(stderr, "sbx run: %s\n", err.msg);
        rc = SBX_EXIT_USAGE;
    } else {
        rc = run_parsed(&o);
    }
    sbx_run_opts_free(&o);
    rt_netns_prestart_end();
    rt_cgroup_prestart_end();
    return rc;
}

int main(int argc, char **argv)
{
    signal(SIGPIPE, SIG_IGN);
    if (argc < 2) {
        fputs(usage, stderr);
        return SBX_EXIT_USAGE;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "run") == 0)
        return cmd_run(argc - 1, argv + 1);
    if (strcmp(cmd, "exec") == 0)
        return sbx_exec_helper("sbx-exec", "sbx exec", argv + 1);
    if (strcmp(cmd, "workflow") == 0)
        return sbx_exec_helper("sbx-workflow", "sbx workflow", argv + 1);
    if (strcmp(cmd, "profile") == 0)
        return sbx_profile_main(argc - 1, argv + 1);
    if (strcmp(cmd, "info") == 0)
        return sbx_info_main(argc - 1, argv + 1);
    if (strcmp(cmd, "version") == 0 || strcmp(cmd, "--version") == 0) {
        puts("sbx " SBX_VERSION);
        return 0;
    }
    if (strcmp(cmd, "help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "--help") == 0) {
        fputs(usage, stdout);
        return 0;
    }
    fprintf(stderr, "sbx: unknown command \"%s\"\n%s", cmd, usage);
    return SBX_EXIT_USAGE;
}
