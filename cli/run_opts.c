#include "run_opts.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "parse.h"
#include "profile.h"

const char sbx_run_usage[] =
    "usage: sbx run [OPTIONS] -- CMD [ARG...]\n"
    "\n"
    "Runs CMD in a fresh sandbox and behaves like it: output passes through, the exit\n"
    "code is CMD's (128+N when killed by signal N, 124 on timeout, 125 when the\n"
    "sandbox itself failed, 2 for bad options).\n"
    "\n"
    "Security:\n"
    "  --profile NAME|FILE  sandbox profile: seccomp policy, capabilities kept, limits,\n"
    "                       mounts and network (see sbx profile list) [default]\n"
    "  --seccomp FILE|unconfined\n"
    "                       a Docker/OCI seccomp policy instead of the profile's\n"
    "Limits (always on; explicit values override the profile's; the default\n"
    "profile's in brackets):\n"
    "  --timeout DUR        wall-clock time [30s]\n"
    "  --cpu-time DUR       CPU time of the whole process tree [10s]\n"
    "  --memory SIZE        memory, no swap beyond it [256m]\n"
    "  --pids N             processes and threads at once [64]\n"
    "  --cpus N             CPU share in cores, e.g. 0.5 [1]\n"
    "  --output-limit SIZE  each of stdout and stderr; beyond it the run ends [1m]\n"
    "  --file-size SIZE     largest file a process may write [64m]\n"
    "  --open-files N       open files per process [256]\n"
    "  --tmpfs-size SIZE    size of /tmp and /dev/shm [64m]\n"
    "Filesystem:\n"
    "  --image DIR|host     root filesystem: a rootfs directory, or the host's /usr,\n"
    "                       /bin, /lib... and a few /etc files [host]; read-only\n"
    "  --workspace DIR      bind DIR read-write at /workspace (the default workdir)\n"
    "  --bind SRC:DST       bind host SRC read-write at DST\n"
    "  --ro-bind SRC:DST    bind host SRC read-only at DST\n"
    "  --tmpfs DST[:SIZE]   a fresh tmpfs at DST [--tmpfs-size]\n"
    "Process:\n"
    "  --env K=V            set a variable (the caller's environment is not passed)\n"
    "  --workdir DIR        working directory inside the sandbox\n"
    "  --stdin FILE|-       feed FILE (or sbx's own stdin) to stdin [empty]\n"
    "Output:\n"
    "  --json               print the result object instead of passing output through\n"
    "  -h, --help           this text\n"
    "\n"
    "SIZE: bytes with an optional k, m or g suffix (1k = 1024). DUR: a number with\n"
    "ms, s or m (a bare number is seconds).\n";

enum {
    OPT_MEMORY = 256, OPT_PIDS, OPT_TIMEOUT, OPT_CPU_TIME, OPT_OUTPUT, OPT_TMPFS_SIZE,
    OPT_FILE_SIZE, OPT_OPEN_FILES, OPT_CPUS, OPT_IMAGE, OPT_BIND, OPT_RO_BIND, OPT_TMPFS,
    OPT_WORKSPACE, OPT_ENV, OPT_WORKDIR, OPT_STDIN, OPT_JSON, OPT_PROFILE, OPT_SECCOMP,
};

static const struct option long_opts[] = {
    {"memory", required_argument, NULL, OPT_MEMORY},
    {"pids", required_argument, NULL, OPT_PIDS},
    {"timeout", required_argument, NULL, OPT_TIMEOUT},
    {"cpu-time", required_argument, NULL, OPT_CPU_TIME},
    {"output-limit", required_argument, NULL, OPT_OUTPUT},
    {"tmpfs-size", required_argument, NULL, OPT_TMPFS_SIZE},
    {"file-size", required_argument, NULL, OPT_FILE_SIZE},
    {"open-files", required_argument, NULL, OPT_OPEN_FILES},
    {"cpus", required_argument, NULL, OPT_CPUS},
    {"image", required_argument, NULL, OPT_IMAGE},
    {"bind", required_argument, NULL, OPT_BIND},
    {"ro-bind", required_argument, NULL, OPT_RO_BIND},
    {"tmpfs", required_argument, NULL, OPT_TMPFS},
    {"workspace", required_argument, NULL, OPT_WORKSPACE},
    {"env", required_argument, NULL, OPT_ENV},
    {"workdir", required_argument, NULL, OPT_WORKDIR},
    {"stdin", required_argument, NULL, OPT_STDIN},
    {"json", no_argument, NULL, OPT_JSON},
    {"profile", required_argument, NULL, OPT_PROFILE},
    {"seccomp", required_argument, NULL, OPT_SECCOMP},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

static int set_string(char **dst, const char *val, const char *opt, rt_error *err)
{
    if (!*val)
        return rt_error_set(err, 0, "%s: must not be empty", opt);
    char *copy = strdup(val);
    if (!copy)
        return rt_error_set(err, errno, "%s", opt);
    free(*dst);
    *dst = copy;
    return 0;
}

static int push_env(rt_spec *spec, const char *kv, rt_error *err)
{
    const char *eq = strchr(kv, '=');
    if (!eq || eq == kv)
        return rt_error_set(err, 0, "--env: \"%s\" is not K=V", kv);
    size_t n = 0;
    while (spec->env && spec->env[n])
        n++;
    char **env = realloc(spec->env, (n + 2) * sizeof *env);
    if (!env)
        return rt_error_set(err, errno, "--env");
    spec->env = env;
    env[n] = strdup(kv);
    env[n + 1] = NULL;
    return env[n] ? 0 : rt_error_set(err, errno, "--env");
}

/* SRC:DST for binds; DST[:SIZE] for tmpfs. */
static int push_mount(rt_spec *spec, rt_mount_kind kind, const char *arg, const char *opt,
                      rt_error *err)
{
    char *copy = strdup(arg);
    if (!copy)
        return rt_error_set(err, errno, "%s", opt);
    char *colon = strchr(copy, ':');
    if (colon)
        *colon = '\0';
    const char *second = colon ? colon + 1 : NULL;
    int rc;
    if (kind == RT_MOUNT_TMPFS) {
        uint64_t size = 0;
        rc = second ? rt_parse_size(second, RT_MAX_BYTES, opt, &size, err) : 0;
        if (rc == 0)
            rc = rt_spec_add_mount(spec, kind, NULL, copy, size, err);
    } else if (!second || !*copy || !*second) {
        rc = rt_error_set(err, 0, "%s: \"%s\" is not SRC:DST", opt, arg);
    } else {
        rc = rt_spec_add_mount(spec, kind, copy, second, 0, err);
    }
    free(copy);
    return rc;
}

static int parse_one(sbx_run_opts *o, int c, const char *val, rt_error *err)
{
    rt_limits *l = &o->spec.limits;
    switch (c) {
    case OPT_MEMORY: return rt_parse_size(val, RT_MAX_BYTES, "--memory", &l->memory_bytes, err);
    case OPT_PIDS: return rt_parse_count(val, RT_MAX_PIDS, "--pids", &l->pids, err);
    case OPT_TIMEOUT: return rt_parse_duration_ms(val, RT_MAX_WALL_MS, "--timeout", &l->wall_ms, err);
    case OPT_CPU_TIME: return rt_parse_duration_ms(val, RT_MAX_WALL_MS, "--cpu-time", &l->cpu_ms, err);
    case OPT_OUTPUT: return rt_parse_size(val, RT_MAX_BYTES, "--output-limit", &l->output_bytes, err);
    case OPT_TMPFS_SIZE: return rt_parse_size(val, RT_MAX_BYTES, "--tmpfs-size", &l->tmpfs_bytes, err);
    case OPT_FILE_SIZE: return rt_parse_size(val, RT_MAX_BYTES, "--file-size", &l->file_bytes, err);
    case OPT_OPEN_FILES: return rt_parse_count(val, RT_MAX_OPEN_FILES, "--open-files", &l->open_files, err);
    case OPT_CPUS: return rt_parse_positive_double(val, RT_MAX_CPUS, "--cpus", &l->cpus, err);
    case OPT_IMAGE: return set_string(&o->spec.image, val, "--image", err);
    case OPT_WORKSPACE: return set_string(&o->spec.workspace, val, "--workspace", err);
    case OPT_WORKDIR: return set_string(&o->spec.cwd, val, "--workdir", err);
    case OPT_STDIN: return set_string(&o->spec.stdin_file, val, "--stdin", err);
    case OPT_ENV: return push_env(&o->spec, val, err);
    case OPT_BIND: return push_mount(&o->spec, RT_MOUNT_BIND, val, "--bind", err);
    case OPT_RO_BIND: return push_mount(&o->spec, RT_MOUNT_RO_BIND, val, "--ro-bind", err);
    case OPT_TMPFS: return push_mount(&o->spec, RT_MOUNT_TMPFS, val, "--tmpfs", err);
    case OPT_JSON: o->json = true; return 0;
    case OPT_PROFILE:
    case OPT_SECCOMP: return 0;   /* applied first, under everything else */
    case 'h': o->help = true; return 0;
    }
    return rt_error_set(err, 0, "unknown option (see sbx run --help)");
}

static int take_command(sbx_run_opts *o, int argc, char **argv, rt_error *err)
{
    if (optind >= argc)
        return rt_error_set(err, 0, "no command given (usage: sbx run [OPTIONS] -- CMD [ARG...])");
    size_t n = (size_t)(argc - optind);
    o->spec.argv = calloc(n + 1, sizeof *o->spec.argv);
    if (!o->spec.argv)
        return rt_error_set(err, errno, "command");
    for (size_t i = 0; i < n; i++)
        if (!(o->spec.argv[i] = strdup(argv[optind + (int)i])))
            return rt_error_set(err, errno, "command");
    return 0;
}

static void print_warnings(const rt_seccomp *sc)
{
    for (size_t i = 0; sc && i < rt_seccomp_n_warnings(sc); i++)
        fprintf(stderr, "sbx: warning: %s\n", rt_seccomp_warning(sc, i));
}

/* The profile goes in first so that every explicit option lands on top of it;
 * --seccomp replaces its policy, compiled for the capabilities it keeps. */
static int apply_profile(sbx_run_opts *o, const char *name, const char *seccomp, rt_error *err)
{
    rt_profile *p;
    if (rt_profile_load(name, &p, err) < 0)
        return rt_error_wrap(err, "--profile");
    int rc = rt_profile_apply(p, &o->spec, err);
    rt_profile_free(p);
    if (rc < 0)
        return -1;
    print_warnings(o->spec.seccomp);
    if (!seccomp)
        return 0;
    rt_seccomp *sc = NULL;
    if (strcmp(seccomp, "unconfined") != 0 &&
        rt_seccomp_compile_file(seccomp, o->spec.keep_caps, &sc, err) < 0)
        return rt_error_wrap(err, "--seccomp");
    print_warnings(sc);
    rt_seccomp_unref(o->spec.seccomp);
    o->spec.seccomp = sc;
    return 0;
}

static int scan(int argc, char **argv, sbx_run_opts *o, bool first, rt_error *err)
{
    optind = 0;                /* GNU: start over */
    opterr = 0;
    const char *profile = "default", *seccomp = NULL;
    int c;
    while ((c = getopt_long(argc, argv, "+h", long_opts, NULL)) != -1) {
        if (c == '?' || c == ':')
            return rt_error_set(err, 0, "%s: unknown option or missing value (see sbx run --help)",
                                argv[optind - 1]);
        if (c == OPT_PROFILE)
            profile = optarg;
        else if (c == OPT_SECCOMP)
            seccomp = optarg;
        else if (c == 'h')
            o->help = true;
        else if (!first && parse_one(o, c, optarg, err) < 0)
            return -1;
    }
    if (first && !o->help)
        return apply_profile(o, profile, seccomp, err);
    return 0;
}

int sbx_run_parse(int argc, char **argv, sbx_run_opts *o, rt_error *err)
{
    *o = (sbx_run_opts){0};
    rt_spec_init(&o->spec);
    if (scan(argc, argv, o, true, err) < 0 || o->help)
        return o->help ? 0 : -1;
    if (scan(argc, argv, o, false, err) < 0)
        return -1;
    if (take_command(o, argc, argv, err) < 0)
        return -1;
    if (o->spec.stdin_file && strcmp(o->spec.stdin_file, "-") == 0 &&
        set_string(&o->spec.stdin_file, "/dev/stdin", "--stdin", err) < 0)
        return -1;
    return rt_spec_validate(&o->spec, err);
}

void sbx_run_opts_free(sbx_run_opts *o)
{
    rt_spec_free(&o->spec);
}
