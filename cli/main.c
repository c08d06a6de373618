/* sbx: run commands in sandboxes from the shell. */
#include <errno.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cgroup.h"
#include "info.h"
#include "profile_cmd.h"
#include "run_opts.h"
#include "sandbox.h"
#include "spec_json.h"

#define SBX_VERSION "0.1.0"

enum { EXIT_USAGE = 2, EXIT_TIMEOUT = 124, EXIT_SANDBOX = 125 };

static const char usage[] =
    "usage: sbx COMMAND [ARGS]\n"
    "\n"
    "Commands:\n"
    "  run [OPTIONS] -- CMD [ARG...]   run CMD in a sandbox (sbx run --help)\n"
    "  profile list|show|check         sandbox profiles and seccomp policies\n"
    "  info [--json]                   kernel, cgroups and isolation features here\n"
    "  version                         print the version\n"
    "  help                            this text\n";

static void write_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return;            /* our own stdout is gone: drop, like a closed pipe */
        p += w;
        n -= (size_t)w;
    }
}

static void pass_through(void *ctx, int stream, const char *data, size_t len)
{
    (void)ctx;
    write_all(stream, data, len);
}

static void explain(const rt_result *r, const rt_limits *l)
{
    switch (r->status) {
    case RT_STATUS_TIMEOUT:
        fprintf(stderr, "sbx: timeout: killed after the %llu ms wall-clock limit\n",
                (unsigned long long)l->wall_ms);
        break;
    case RT_STATUS_CPU_LIMIT:
        fprintf(stderr, "sbx: cpu_limit: killed after %llu ms of CPU time\n",
                (unsigned long long)l->cpu_ms);
        break;
    case RT_STATUS_MEMORY_LIMIT:
        fprintf(stderr, "sbx: memory_limit: out of memory at the %llu-byte limit\n",
                (unsigned long long)l->memory_bytes);
        break;
    case RT_STATUS_OUTPUT_LIMIT:
        fprintf(stderr, "sbx: output_limit: output beyond %llu bytes; run stopped\n",
                (unsigned long long)l->output_bytes);
        break;
    case RT_STATUS_SECCOMP:
        fprintf(stderr, "sbx: seccomp: killed by the syscall filter%s%s\n",
                r->syscall ? " at " : "", r->syscall ? r->syscall : "");
        break;
    case RT_STATUS_ERROR:
        fprintf(stderr, "sbx: sandbox error: %s\n", r->error ? r->error : "unknown");
        break;
    default:
        break;
    }
}

static int exit_code_for(const rt_result *r)
{
    switch (r->status) {
    case RT_STATUS_OK:
    case RT_STATUS_EXIT_NONZERO:
        return r->exit_code;
    case RT_STATUS_TIMEOUT:
        return EXIT_TIMEOUT;
    case RT_STATUS_ERROR:
        return EXIT_SANDBOX;
    default:
        return r->signal ? 128 + r->signal : EXIT_SANDBOX;
    }
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
    write_all(1, s, strlen(s));
    write_all(1, "\n", 1);
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

static int cmd_run(int argc, char **argv)
{
    sbx_run_opts o;
    rt_error err;
    rt_error_clear(&err);
    if (sbx_run_parse(argc, argv, &o, &err) < 0) {
        fprintf(stderr, "sbx run: %s\n", err.msg);
        sbx_run_opts_free(&o);
        return EXIT_USAGE;
    }
    if (o.help) {
        fputs(sbx_run_usage, stdout);
        sbx_run_opts_free(&o);
        return 0;
    }
    if (prepare_workspace(o.spec.workspace) < 0) {
        sbx_run_opts_free(&o);
        return EXIT_SANDBOX;
    }
    rt_callbacks cb = {.on_output = o.json ? NULL : pass_through};
    rt_result res;
    int rc;
    if (rt_run(&o.spec, &cb, &res, &err) < 0) {
        fprintf(stderr, "sbx run: %s\n", err.msg);
        rc = EXIT_SANDBOX;
    } else {
        if (o.json)
            rc = print_json(&res) < 0 ? EXIT_SANDBOX : exit_code_for(&res);
        else {
            explain(&res, &o.spec.limits);
            rc = exit_code_for(&res);
        }
        rt_result_free(&res);
    }
    /* Groups of earlier sbx processes that were killed before cleaning up. */
    rt_cgroup_sweep();
    sbx_run_opts_free(&o);
    return rc;
}

int main(int argc, char **argv)
{
    signal(SIGPIPE, SIG_IGN);
    if (argc < 2) {
        fputs(usage, stderr);
        return EXIT_USAGE;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "run") == 0)
        return cmd_run(argc - 1, argv + 1);
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
    return EXIT_USAGE;
}
