#include "spec.h"

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "parse.h"

void rt_limits_default(rt_limits *l)
{
    *l = (rt_limits){
        .wall_ms = RT_DEFAULT_WALL_MS,
        .cpu_ms = RT_DEFAULT_CPU_MS,
        .memory_bytes = RT_DEFAULT_MEMORY_BYTES,
        .pids = RT_DEFAULT_PIDS,
        .output_bytes = RT_DEFAULT_OUTPUT_BYTES,
        .file_bytes = RT_DEFAULT_FILE_BYTES,
        .open_files = RT_DEFAULT_OPEN_FILES,
        .tmpfs_bytes = RT_DEFAULT_TMPFS_BYTES,
        .cpus = RT_DEFAULT_CPUS,
    };
}

void rt_spec_init(rt_spec *spec)
{
    memset(spec, 0, sizeof *spec);
    spec->network = RT_NET_NONE;
    rt_limits_default(&spec->limits);
}

static void free_strv(char **v)
{
    for (size_t i = 0; v && v[i]; i++)
        free(v[i]);
    free(v);
}

/* Leaves the spec as rt_spec_init does, so a second free is harmless. */
void rt_spec_free(rt_spec *spec)
{
    free_strv(spec->argv);
    free_strv(spec->env);
    free(spec->cwd);
    free(spec->stdin_data);
    free(spec->stdin_file);
    free(spec->image);
    free(spec->workspace);
    for (size_t i = 0; i < spec->n_mounts; i++) {
        free(spec->mounts[i].src);
        free(spec->mounts[i].dst);
    }
    free(spec->mounts);
    free(spec->profile);
    rt_seccomp_unref(spec->seccomp);
    rt_spec_init(spec);
}

int rt_spec_add_mount(rt_spec *spec, rt_mount_kind kind, const char *src, const char *dst,
                      uint64_t size_bytes, rt_error *err)
{
    rt_mount m = {.kind = kind, .size_bytes = size_bytes};

    m.src = src ? strdup(src) : NULL;
    m.dst = dst ? strdup(dst) : NULL;
    rt_mount *v = reallocarray(spec->mounts, spec->n_mounts + 1, sizeof *v);
    if ((src && !m.src) || (dst && !m.dst) || !v) {
        free(m.src);
        free(m.dst);
        return rt_error_set(err, ENOMEM, "adding mount %s", dst ? dst : "(none)");
    }
    spec->mounts = v;
    spec->mounts[spec->n_mounts++] = m;
    return 0;
}

static int check_argv(char *const *argv, rt_error *err)
{
    if (!argv || !argv[0])
        return rt_error_set(err, 0, "command: must not be empty");
    if (!argv[0][0])
        return rt_error_set(err, 0, "command[0]: must not be an empty string");
    return 0;
}

static int check_env(char *const *env, rt_error *err)
{
    for (size_t i = 0; env && env[i]; i++) {
        const char *eq = strchr(env[i], '=');
        if (!eq || eq == env[i])
            return rt_error_set(err, 0, "env[%zu]: must have the form NAME=VALUE", i);
    }
    return 0;
}

/* No ".." component, so a target cannot climb out of the new root. */
static bool has_dotdot(const char *path)
{
    for (const char *p = path; (p = strstr(p, "..")); p += 2) {
        bool starts = p == path || p[-1] == '/';
        bool ends = p[2] == '\0' || p[2] == '/';
        if (starts && ends)
            return true;
    }
    return false;
}

static int check_mount(const rt_mount *m, size_t i, rt_error *err)
{
    char maxs[32];

    if (!m->dst || m->dst[0] != '/' || has_dotdot(m->dst))
        return rt_error_set(err, 0, "mounts[%zu].target: must be an absolute path without ..",
                            i);
    if (m->dst[strspn(m->dst, "/")] == '\0')
        return rt_error_set(err, 0, "mounts[%zu].target: cannot be /", i);
    if (m->kind == RT_MOUNT_TMPFS) {
        if (m->src)
            return rt_error_set(err, 0, "mounts[%zu].source: not used by tmpfs", i);
        if (m->size_bytes > RT_MAX_BYTES) {
            rt_format_size(RT_MAX_BYTES, maxs, sizeof maxs);
            return rt_error_set(err, 0, "mounts[%zu].size: too large (maximum %s)", i, maxs);
        }
        return 0;
    }
    if (m->kind != RT_MOUNT_BIND && m->kind != RT_MOUNT_RO_BIND)
        return rt_error_set(err, 0, "mounts[%zu].type: unknown mount type %d", i, (int)m->kind);
    if (!m->src || !m->src[0])
        return rt_error_set(err, 0, "mounts[%zu].source: required for a bind mount", i);
    if (m->size_bytes)
        return rt_error_set(err, 0, "mounts[%zu].size: only for tmpfs", i);
    return 0;
}

enum limit_unit { BYTES, MS, COUNT };

struct limit_check {
    const char *name;          /* as in the JSON spec */
    size_t offset;
    uint64_t max;
    enum limit_unit unit;
};

static const struct limit_check limit_checks[] = {
    {"timeout", offsetof(rt_limits, wall_ms), RT_MAX_WALL_MS, MS},
    {"cpu_time", offsetof(rt_limits, cpu_ms), RT_MAX_WALL_MS, MS},
    {"memory", offsetof(rt_limits, memory_bytes), RT_MAX_BYTES, BYTES},
    {"pids", offsetof(rt_limits, pids), RT_MAX_PIDS, COUNT},
    {"output", offsetof(rt_limits, output_bytes), RT_MAX_BYTES, BYTES},
    {"file_size", offsetof(rt_limits, file_bytes), RT_MAX_BYTES, BYTES},
    {"open_files", offsetof(rt_limits, open_files), RT_MAX_OPEN_FILES, COUNT},
    {"tmpfs", offsetof(rt_limits, tmpfs_bytes), RT_MAX_BYTES, BYTES},
};

/* Unit suffixes as rt_parse_* reads them: a bare size is bytes, but a bare
 * duration would be seconds, so ms is spelled out. */
static const char *const unit_suffix[] = {[BYTES] = "", [MS] = "ms", [COUNT] = ""};
static const char *const unit_word[] = {[BYTES] = " byte", [MS] = " ms", [COUNT] = ""};

static int check_limit(const rt_limits *l, const struct limit_check *c, rt_error *err)
{
    uint64_t v;
    char maxs[32];

    memcpy(&v, (const char *)l + c->offset, sizeof v);
    if (v == 0)
        return rt_error_set(err, 0, "limits.%s: must be at least 1%s", c->name,
                            unit_word[c->unit]);
    if (v <= c->max)
        return 0;
    if (c->unit == BYTES)
        rt_format_size(c->max, maxs, sizeof maxs);
    else if (c->unit == MS)
        rt_format_duration_ms(c->max, maxs, sizeof maxs);
    else
        snprintf(maxs, sizeof maxs, "%" PRIu64, c->max);
    return rt_error_set(err, 0, "limits.%s: %" PRIu64 "%s is too large (maximum %s)", c->name,
                        v, unit_suffix[c->unit], maxs);
}

static int check_limits(const rt_limits *l, rt_error *err)
{
    for (size_t i = 0; i < sizeof limit_checks / sizeof limit_checks[0]; i++)
        if (check_limit(l, &limit_checks[i], err) < 0)
            return -1;
    /* Written so that NaN fails too. */
    if (!(l->cpus > 0))
        return rt_error_set(err, 0, "limits.cpus: must be greater than zero");
    if (!(l->cpus <= RT_MAX_CPUS))
        return rt_error_set(err, 0, "limits.cpus: %g is too large (maximum %g)", l->cpus,
                            RT_MAX_CPUS);
    return 0;
}

int rt_spec_validate(const rt_spec *spec, rt_error *err)
{
    if (check_argv(spec->argv, err) < 0 || check_env(spec->env, err) < 0)
        return -1;
    if (spec->cwd && spec->cwd[0] != '/')
        return rt_error_set(err, 0, "cwd: must be an absolute path");
    if (spec->stdin_data && spec->stdin_file)
        return rt_error_set(err, 0, "stdin: give either data or a file, not both");
    for (size_t i = 0; i < spec->n_mounts; i++)
        if (check_mount(&spec->mounts[i], i, err) < 0)
            return -1;
    return check_limits(&spec->limits, err);
}
