#include "spec.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cleanup.h"
#include "parse.h"

/* Bytes of a file's path quoted in a message: escaped (6 bytes each at most)
 * and framed, they fit RT_FILE_LABEL_MAX. */
#define LABEL_PATH_BYTES 80
_Static_assert(LABEL_PATH_BYTES * 6 + sizeof "files[\"...\"]" <= RT_FILE_LABEL_MAX,
               "a label fits RT_FILE_LABEL_MAX");

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
    for (size_t i = 0; i < spec->n_files; i++) {
        free(spec->files[i].path);
        free(spec->files[i].data);
    }
    free(spec->files);
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
    if (v)
        spec->mounts = v;      /* the old array is gone even when a copy failed */
    if ((src && !m.src) || (dst && !m.dst) || !v) {
        free(m.src);
        free(m.dst);
        return rt_error_set(err, ENOMEM, "adding mount %s", dst ? dst : "(none)");
    }
    spec->mounts[spec->n_mounts++] = m;
    return 0;
}

int rt_spec_add_file(rt_spec *spec, const char *path, const void *data, size_t len,
                     bool executable, rt_error *err)
{
    if (!path)
        return rt_error_set(err, EINVAL, "files: a file needs a path");
    rt_file f = {.path = strdup(path), .data = malloc(len + 1), .len = len,
                 .executable = executable};
    rt_file *v = reallocarray(spec->files, spec->n_files + 1, sizeof *v);

    if (v)
        spec->files = v;
    if (!f.path || !f.data || !v) {
        char label[RT_FILE_LABEL_MAX];
        free(f.path);
        free(f.data);
        return rt_error_set(err, ENOMEM, "adding %s", rt_file_label(path, label, sizeof label));
    }
    if (len)
        memcpy(f.data, data, len);
    f.data[len] = '\0';
    spec->files[spec->n_files++] = f;
    return 0;
}

/* JSON's escapes, so that the label reads as the key a client sent. */
static size_t escape_byte(unsigned char c, char *out)
{
    static const char hex[] = "0123456789abcdef";

    if (c == '"' || c == '\\') {
        out[0] = '\\';
        out[1] = (char)c;
        return 2;
    }
    if (c >= 0x20 && c != 0x7f) {
        out[0] = (char)c;
        return 1;
    }
    memcpy(out, "\\u00", 4);
    out[4] = hex[c >> 4];
    out[5] = hex[c & 15];
    return 6;
}

const char *rt_file_label(const char *path, char *buf, size_t size)
{
    char esc[LABEL_PATH_BYTES * 6 + 1];
    size_t len = path ? strlen(path) : 0, n = len, o = 0;

    if (n > LABEL_PATH_BYTES) {
        n = LABEL_PATH_BYTES;
        while (n && ((unsigned char)path[n] & 0xc0) == 0x80)
            n--;               /* not inside a UTF-8 sequence */
    }
    for (size_t i = 0; i < n; i++)
        o += escape_byte((unsigned char)path[i], esc + o);
    esc[o] = '\0';
    snprintf(buf, size, "files[\"%s%s\"]", esc, n < len ? "..." : "");
    return buf;
}

/* execve refuses any one argument or environment string longer than 32 pages,
 * its NUL included (MAX_ARG_STRLEN): a spec holding one could never run. */
static int check_arg_len(const char *s, const char *field, size_t i, rt_error *err)
{
    size_t max = (size_t)sysconf(_SC_PAGESIZE) * 32 - 1, len = strlen(s);

    if (len <= max)
        return 0;
    return rt_error_set(err, 0, "%s[%zu]: %zu bytes, more than the kernel takes in one "
                        "string (%zu)", field, i, len, max);
}

static int check_argv(char *const *argv, rt_error *err)
{
    if (!argv || !argv[0])
        return rt_error_set(err, 0, "command: must not be empty");
    if (!argv[0][0])
        return rt_error_set(err, 0, "command[0]: must not be an empty string");
    for (size_t i = 0; argv[i]; i++)
        if (check_arg_len(argv[i], "command", i, err) < 0)
            return -1;
    return 0;
}

static int check_env(char *const *env, rt_error *err)
{
    for (size_t i = 0; env && env[i]; i++) {
        const char *eq = strchr(env[i], '=');
        if (!eq || eq == env[i])
            return rt_error_set(err, 0, "env[%zu]: must have the form NAME=VALUE", i);
        if (check_arg_len(env[i], "env", i, err) < 0)
            return -1;
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

static int refuse_file(const char *path, rt_error *err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int refuse_file(const char *path, rt_error *err, const char *fmt, ...)
{
    char label[RT_FILE_LABEL_MAX], msg[RT_ERROR_MAX];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return rt_error_set(err, 0, "%s: %s", rt_file_label(path, label, sizeof label), msg);
}

static int check_file_path(const char *path, rt_error *err)
{
    size_t len = path ? strlen(path) : 0;

    if (len == 0)
        return refuse_file(path, err, "the path must not be empty");
    if (path[0] == '/')
        return refuse_file(path, err, "the path must be relative (to /workspace)");
    if (len > RT_MAX_FILE_PATH)
        return refuse_file(path, err, "the path is %zu bytes long (at most %d)", len,
                           RT_MAX_FILE_PATH);
    for (const char *p = path;; p++) {
        size_t n = strcspn(p, "/");
        if (n == 0)
            return refuse_file(path, err, "the path has an empty component");
        if ((n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
            return refuse_file(path, err, "the path has a \"%.*s\" component", (int)n, p);
        if (n > RT_MAX_FILE_NAME)
            return refuse_file(path, err, "the path has a component of %zu bytes (at most %d)",
                               n, RT_MAX_FILE_NAME);
        p += n;
        if (!*p)
            return 0;
    }
}

static int cmp_file_path(const void *a, const void *b)
{
    return strcmp((*(const rt_file *const *)a)->path, (*(const rt_file *const *)b)->path);
}

/* The first n bytes of a path, ordered as if they were a string of their own. */
struct path_prefix {
    const char *p;
    size_t n;
};

static int cmp_prefix(const void *key, const void *elem)
{
    const struct path_prefix *k = key;
    const char *s = (*(const rt_file *const *)elem)->path;
    int c = strncmp(k->p, s, k->n);

    return c ? c : -(s[k->n] != '\0');
}

/* A file that is also the directory of another ("a" and "a/b") cannot be written. */
static int check_parents(const char *path, const rt_file *const *sorted, size_t n,
                         rt_error *err)
{
    char dir[RT_MAX_FILE_PATH + 1], label[RT_FILE_LABEL_MAX];

    for (const char *s = strchr(path, '/'); s; s = strchr(s + 1, '/')) {
        struct path_prefix k = {path, (size_t)(s - path)};
        if (!bsearch(&k, sorted, n, sizeof *sorted, cmp_prefix))
            continue;
        memcpy(dir, path, k.n);
        dir[k.n] = '\0';
        return refuse_file(path, err, "its directory is also given as a file, %s",
                           rt_file_label(dir, label, sizeof label));
    }
    return 0;
}

/* Sorted, a path given twice sits next to its twin and each parent directory
 * is one binary search. */
static int check_file_set(const rt_file *files, size_t n, rt_error *err)
{
    cleanup_free const rt_file **v = malloc(n * sizeof *v);

    if (!v)
        return rt_error_set(err, ENOMEM, "files: checking the paths");
    for (size_t i = 0; i < n; i++)
        v[i] = &files[i];
    qsort(v, n, sizeof *v, cmp_file_path);
    for (size_t i = 0; i < n; i++) {
        if (i && strcmp(v[i - 1]->path, v[i]->path) == 0)
            return refuse_file(v[i]->path, err, "given twice");
        if (check_parents(v[i]->path, v, n, err) < 0)
            return -1;
    }
    return 0;
}

static int check_files(const rt_spec *spec, rt_error *err)
{
    if (spec->workspace && spec->workspace_tmpfs)
        return rt_error_set(err, 0, "workspace: either a host directory or a tmpfs, not both");
    if (!spec->n_files)
        return 0;
    if (spec->workspace)
        return rt_error_set(err, 0, "files: files need a tmpfs workspace, not the host "
                            "directory \"%s\"", spec->workspace);
    if (spec->n_files > RT_MAX_FILES)
        return rt_error_set(err, 0, "files: %zu files, at most %d", spec->n_files, RT_MAX_FILES);
    for (size_t i = 0; i < spec->n_files; i++) {
        const rt_file *f = &spec->files[i];
        if (check_file_path(f->path, err) < 0)
            return -1;
        if (!f->data && f->len)
            return refuse_file(f->path, err, "no data for its %zu bytes", f->len);
    }
    return check_file_set(spec->files, spec->n_files, err);
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
    if (check_files(spec, err) < 0)
        return -1;
    return check_limits(&spec->limits, err);
}
