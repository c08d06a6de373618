#include "spec_json.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "parse.h"

/* Room for a JSON path in a message, e.g. "mounts[12].target". */
#define JPATH 96

static const char b64_chars[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

enum unit_kind { SIZE, DURATION, COUNT };

static const char *const unit_forms[] = {
    [SIZE] = "an integer number of bytes or a string such as \"256m\"",
    [DURATION] = "an integer number of milliseconds or a string such as \"10s\"",
    [COUNT] = "a positive integer",
};

struct limit_field {
    const char *key;
    enum unit_kind kind;
    size_t offset;
    uint64_t max;
};

static const struct limit_field limit_fields[] = {
    {"timeout", DURATION, offsetof(rt_limits, wall_ms), RT_MAX_WALL_MS},
    {"cpu_time", DURATION, offsetof(rt_limits, cpu_ms), RT_MAX_WALL_MS},
    {"memory", SIZE, offsetof(rt_limits, memory_bytes), RT_MAX_BYTES},
    {"pids", COUNT, offsetof(rt_limits, pids), RT_MAX_PIDS},
    {"output", SIZE, offsetof(rt_limits, output_bytes), RT_MAX_BYTES},
    {"file_size", SIZE, offsetof(rt_limits, file_bytes), RT_MAX_BYTES},
    {"open_files", COUNT, offsetof(rt_limits, open_files), RT_MAX_OPEN_FILES},
    {"tmpfs", SIZE, offsetof(rt_limits, tmpfs_bytes), RT_MAX_BYTES},
};

#define N_LIMIT_FIELDS (sizeof limit_fields / sizeof limit_fields[0])

static const char *const spec_keys[] = {
    "command", "env", "cwd", "stdin", "stdin_encoding", "image", "workspace", "files",
    "mounts", "fixed_mounts", "network", "limits", "profile", NULL,
};
static const char *const file_keys[] = {"content", "encoding", "executable", NULL};
static const char *const mount_keys[] = {"type", "source", "target", "size", NULL};
static const char *const limit_keys[] = {
    "timeout", "cpu_time", "memory", "pids", "output", "file_size", "open_files",
    "tmpfs", "cpus", NULL,
};

static const char *const mount_types[] = {
    [RT_MOUNT_BIND] = "bind",
    [RT_MOUNT_RO_BIND] = "ro-bind",
    [RT_MOUNT_TMPFS] = "tmpfs",
};

/* ---- base64 (RFC 4648, padded): output that is not UTF-8 travels this way ---- */

char *rt_base64_encode(const void *data, size_t n)
{
    const unsigned char *p = data;
    size_t len = (n + 2) / 3 * 4, o = 0;
    char *s = malloc(len + 1);

    if (!s)
        return NULL;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16;
        if (i + 1 < n)
            v |= (uint32_t)p[i + 1] << 8;
        if (i + 2 < n)
            v |= p[i + 2];
        s[o++] = b64_chars[v >> 18 & 63];
        s[o++] = b64_chars[v >> 12 & 63];
        s[o++] = i + 1 < n ? b64_chars[v >> 6 & 63] : '=';
        s[o++] = i + 2 < n ? b64_chars[v & 63] : '=';
    }
    s[o] = '\0';
    return s;
}

static json_t *base64_json(const void *data, size_t n)
{
    char *s = rt_base64_encode(data, n);
    json_t *j = s ? json_string(s) : NULL;

    free(s);
    return j;
}

static int b64_digit(char c)
{
    const char *p = c ? strchr(b64_chars, c) : NULL;

    return p ? (int)(p - b64_chars) : -1;
}

int rt_base64_decode(const char *s, size_t len, void *dst, size_t *out_len)
{
    unsigned char *out = dst;
    size_t o = 0;

    if (len % 4)
        return -1;
    for (size_t i = 0; i < len; i += 4) {
        int pad = (s[i + 3] == '=') + (s[i + 3] == '=' && s[i + 2] == '=');
        uint32_t v = 0;
        if (pad && i + 4 != len)
            return -1;
        for (int j = 0; j < 4 - pad; j++) {
            int d = b64_digit(s[i + (size_t)j]);
            if (d < 0)
                return -1;
            v = v << 6 | (uint32_t)d;
        }
        v <<= 6 * pad;
        out[o++] = (unsigned char)(v >> 16);
        if (pad < 2)
            out[o++] = (unsigned char)(v >> 8);
        if (pad < 1)
            out[o++] = (unsigned char)v;
    }
    *out_len = o;
    return 0;
}

/* ---- decoding helpers ---- */

static int no_memory(const char *path, rt_error *err)
{
    return rt_error_set(err, ENOMEM, "%s", path);
}

/* A string usable as a C string: no embedded NUL. */
static int want_cstr(const json_t *v, const char *path, const char **out, rt_error *err)
{
    *out = NULL;
    if (!json_is_string(v))
        return rt_error_set(err, 0, "%s: must be a string", path);
    if (strlen(json_string_value(v)) != json_string_length(v))
        return rt_error_set(err, 0, "%s: must not contain a NUL character", path);
    *out = json_string_value(v);
    return 0;
}

static int dup_cstr(const json_t *v, const char *path, char **out, rt_error *err)
{
    const char *s;

    if (want_cstr(v, path, &s, err) < 0)
        return -1;
    if (!(*out = strdup(s)))
        return no_memory(path, err);
    return 0;
}

static bool in_list(const char *key, const char *const *list)
{
    for (; *list; list++)
        if (strcmp(key, *list) == 0)
            return true;
    return false;
}

static int unknown_key(const char *path, const char *key, const char *const *allowed,
                       rt_error *err)
{
    char hint[256];
    size_t n = 0;

    hint[0] = '\0';
    for (; *allowed && n < sizeof hint; allowed++)
        n += (size_t)snprintf(hint + n, sizeof hint - n, "%s%s", n ? ", " : "", *allowed);
    return rt_error_set(err, 0, "%s%s%.40s: unknown key (use %s)", path ? path : "",
                        path ? "." : "", key, hint);
}

/* Refuses keys outside allowed; path is NULL at the top level. */
static int check_keys(const json_t *obj, const char *path, const char *const *allowed,
                      rt_error *err)
{
    const char *key;
    size_t klen;
    json_t *v;

    /* jansson's iterators take a non-const object; they do not modify it. */
    json_object_keylen_foreach((json_t *)obj, key, klen, v) {
        (void)v;
        if (klen != strlen(key) || !in_list(key, allowed))
            return unknown_key(path, key, allowed, err);
    }
    return 0;
}

/* A JSON string holding bytes, raw or base64 as enc (at epath) says; *out is
 * NUL-terminated for convenience. */
static int data_from_json(const json_t *v, const json_t *enc, const char *path,
                          const char *epath, char **out, size_t *out_len, rt_error *err)
{
    const char *e = "utf-8";

    if (!json_is_string(v))
        return rt_error_set(err, 0, "%s: must be a string", path);
    if (enc && want_cstr(enc, epath, &e, err) < 0)
        return -1;
    bool b64 = strcmp(e, "base64") == 0;
    if (!b64 && strcmp(e, "utf-8") != 0)
        return rt_error_set(err, 0, "%s: unknown encoding \"%.40s\" (use utf-8 or base64)",
                            epath, e);
    size_t len = json_string_length(v);
    char *p = malloc(len + 1);
    if (!p)
        return no_memory(path, err);
    if (!b64)
        memcpy(p, json_string_value(v), len);
    else if (rt_base64_decode(json_string_value(v), len, p, &len) < 0) {
        free(p);
        return rt_error_set(err, 0, "%s: not valid base64", path);
    }
    p[len] = '\0';
    *out = p;
    *out_len = len;
    return 0;
}

/* ---- spec from JSON ---- */

/* The array is stored in *out at once so that rt_spec_free finds a partial one. */
static int argv_from_json(const json_t *v, char ***out, rt_error *err)
{
    char path[JPATH];

    if (!json_is_array(v))
        return rt_error_set(err, 0, "command: must be an array of strings");
    size_t n = json_array_size(v);
    char **sv = calloc(n + 1, sizeof *sv);
    if (!sv)
        return no_memory("command", err);
    *out = sv;
    for (size_t i = 0; i < n; i++) {
        snprintf(path, sizeof path, "command[%zu]", i);
        if (dup_cstr(json_array_get(v, i), path, &sv[i], err) < 0)
            return -1;
    }
    return 0;
}

static int env_entry(const char *key, size_t klen, const json_t *val, char **out,
                     rt_error *err)
{
    char path[JPATH];
    const char *s;

    snprintf(path, sizeof path, "env.%.40s", key);
    if (klen == 0 || klen != strlen(key) || strchr(key, '='))
        return rt_error_set(err, 0, "%s: a name must be non-empty, without '=' or NUL", path);
    if (want_cstr(val, path, &s, err) < 0)
        return -1;
    size_t n = klen + strlen(s) + 2;
    if (!(*out = malloc(n)))
        return no_memory(path, err);
    snprintf(*out, n, "%s=%s", key, s);
    return 0;
}

static int env_from_json(const json_t *v, char ***out, rt_error *err)
{
    const char *key;
    size_t klen, i = 0;
    json_t *val;

    if (!json_is_object(v))
        return rt_error_set(err, 0, "env: must be an object of strings");
    char **sv = calloc(json_object_size(v) + 1, sizeof *sv);
    if (!sv)
        return no_memory("env", err);
    *out = sv;
    json_object_keylen_foreach((json_t *)v, key, klen, val) {
        if (env_entry(key, klen, val, &sv[i++], err) < 0)
            return -1;
    }
    return 0;
}

static int opt_path(const json_t *obj, const char *key, char **out, rt_error *err)
{
    const json_t *v = json_object_get(obj, key);

    return v ? dup_cstr(v, key, out, err) : 0;
}

/* "host" is the default image and is stored as NULL. */
static int image_from_json(const json_t *obj, char **out, rt_error *err)
{
    const json_t *v = json_object_get(obj, "image");
    const char *s;

    if (!v)
        return 0;
    if (want_cstr(v, "image", &s, err) < 0)
        return -1;
    if (strcmp(s, "host") == 0)
        return 0;
    return dup_cstr(v, "image", out, err);
}

static int stdin_from_json(const json_t *obj, rt_spec *spec, rt_error *err)
{
    const json_t *v = json_object_get(obj, "stdin");
    const json_t *enc = json_object_get(obj, "stdin_encoding");

    if (!v && enc)
        return rt_error_set(err, 0, "stdin_encoding: given without stdin");
    if (!v)
        return 0;
    return data_from_json(v, enc, "stdin", "stdin_encoding", &spec->stdin_data,
                          &spec->stdin_len, err);
}

/* "tmpfs" asks for a fresh /workspace; any other string names a host directory. */
static int workspace_from_json(const json_t *obj, rt_spec *spec, rt_error *err)
{
    const json_t *v = json_object_get(obj, "workspace");
    const char *s;

    if (!v)
        return 0;
    if (want_cstr(v, "workspace", &s, err) < 0)
        return -1;
    if (strcmp(s, "tmpfs") == 0) {
        spec->workspace_tmpfs = true;
        return 0;
    }
    if (s[0] != '/')
        return rt_error_set(err, 0, "workspace: must be \"tmpfs\" or an absolute host "
                            "directory");
    return dup_cstr(v, "workspace", &spec->workspace, err);
}

/* A value is the text itself, or {"content", "encoding", "executable"}. */
static int file_from_json(const char *key, size_t klen, const json_t *v, rt_spec *spec,
                          rt_error *err)
{
    char base[RT_FILE_LABEL_MAX], path[RT_FILE_LABEL_MAX + 16], epath[RT_FILE_LABEL_MAX + 16];
    const json_t *content = v, *enc = NULL, *exec = NULL;
    char *data;
    size_t len;

    rt_file_label(key, base, sizeof base);
    snprintf(path, sizeof path, "%s", base);
    snprintf(epath, sizeof epath, "%s.encoding", base);
    if (klen != strlen(key))
        return rt_error_set(err, 0, "%s: the path must not contain a NUL character", base);
    if (json_is_object(v)) {
        if (check_keys(v, base, file_keys, err) < 0)
            return -1;
        snprintf(path, sizeof path, "%s.content", base);
        if (!(content = json_object_get(v, "content")))
            return rt_error_set(err, 0, "%s: required", path);
        enc = json_object_get(v, "encoding");
        exec = json_object_get(v, "executable");
        if (exec && !json_is_boolean(exec))
            return rt_error_set(err, 0, "%s.executable: must be true or false", base);
    } else if (!json_is_string(v)) {
        return rt_error_set(err, 0, "%s: must be a string or an object with \"content\"", base);
    }
    if (data_from_json(content, enc, path, epath, &data, &len, err) < 0)
        return -1;
    int rc = rt_spec_add_file(spec, key, data, len, json_is_true(exec), err);
    free(data);
    return rc;
}

static int files_from_json(const json_t *v, rt_spec *spec, rt_error *err)
{
    const char *key;
    size_t klen;
    json_t *val;

    if (!json_is_object(v))
        return rt_error_set(err, 0, "files: must be an object of path: content");
    /* before copying what validation would refuse anyway */
    if (json_object_size(v) > RT_MAX_FILES)
        return rt_error_set(err, 0, "files: %zu files, at most %d", json_object_size(v),
                            RT_MAX_FILES);
    json_object_keylen_foreach((json_t *)v, key, klen, val) {
        if (file_from_json(key, klen, val, spec, err) < 0)
            return -1;
    }
    return 0;
}

static int network_from_json(const json_t *obj, rt_network *out, rt_error *err)
{
    const json_t *v = json_object_get(obj, "network");
    const char *s;

    if (!v)
        return 0;
    if (want_cstr(v, "network", &s, err) < 0)
        return -1;
    if (strcmp(s, "none") != 0)
        return rt_error_set(err, 0, "network: unknown network mode \"%.40s\" (use none)", s);
    *out = RT_NET_NONE;
    return 0;
}

/* An integer (bytes, ms or a count) or a string in the CLI's units; integers go
 * through the same parser so that both forms get the same checks and messages. */
static int u64_from_json(const json_t *v, const char *path, enum unit_kind kind, uint64_t max,
                         uint64_t *out, rt_error *err)
{
    char text[32];
    const char *s = text;

    if (json_is_integer(v)) {
        json_int_t n = json_integer_value(v);
        if (n <= 0)
            return rt_error_set(err, 0, "%s: must be greater than zero", path);
        snprintf(text, sizeof text, "%" JSON_INTEGER_FORMAT "%s", n,
                 kind == DURATION ? "ms" : "");
    } else if (!json_is_string(v)) {
        return rt_error_set(err, 0, "%s: must be %s", path, unit_forms[kind]);
    } else if (want_cstr(v, path, &s, err) < 0) {
        return -1;
    }
    if (kind == SIZE)
        return rt_parse_size(s, max, path, out, err);
    if (kind == DURATION)
        return rt_parse_duration_ms(s, max, path, out, err);
    return rt_parse_count(s, max, path, out, err);
}

/* A number is range-checked by rt_spec_validate, with the same message. */
static int cpus_from_json(const json_t *v, double *out, rt_error *err)
{
    const char *s;

    if (json_is_number(v)) {
        *out = json_number_value(v);
        return 0;
    }
    if (!json_is_string(v))
        return rt_error_set(err, 0, "limits.cpus: must be a number such as 0.5");
    if (want_cstr(v, "limits.cpus", &s, err) < 0)
        return -1;
    return rt_parse_positive_double(s, RT_MAX_CPUS, "limits.cpus", out, err);
}

static int limits_from_json(const json_t *v, rt_limits *l, rt_error *err)
{
    char path[JPATH];
    uint64_t n;

    if (!json_is_object(v))
        return rt_error_set(err, 0, "limits: must be an object");
    if (check_keys(v, "limits", limit_keys, err) < 0)
        return -1;
    for (size_t i = 0; i < N_LIMIT_FIELDS; i++) {
        const struct limit_field *f = &limit_fields[i];
        const json_t *x = json_object_get(v, f->key);
        if (!x)
            continue;
        snprintf(path, sizeof path, "limits.%s", f->key);
        if (u64_from_json(x, path, f->kind, f->max, &n, err) < 0)
            return -1;
        memcpy((char *)l + f->offset, &n, sizeof n);
    }
    const json_t *cpus = json_object_get(v, "cpus");
    return cpus ? cpus_from_json(cpus, &l->cpus, err) : 0;
}

static int mount_kind_from_json(const json_t *v, const char *path, rt_mount_kind *out,
                                rt_error *err)
{
    const char *s;

    if (!v)
        return rt_error_set(err, 0, "%s: required", path);
    if (want_cstr(v, path, &s, err) < 0)
        return -1;
    for (size_t k = 0; k < sizeof mount_types / sizeof mount_types[0]; k++) {
        if (strcmp(s, mount_types[k]) == 0) {
            *out = (rt_mount_kind)k;
            return 0;
        }
    }
    return rt_error_set(err, 0, "%s: unknown mount type \"%.40s\" (use bind, ro-bind or tmpfs)",
                        path, s);
}

static int mount_from_json(const json_t *m, size_t i, rt_spec *spec, rt_error *err)
{
    char base[JPATH], path[JPATH + 16];
    const char *src = NULL, *dst = NULL;
    const json_t *v;
    rt_mount_kind kind = RT_MOUNT_BIND;
    uint64_t size = 0;

    snprintf(base, sizeof base, "mounts[%zu]", i);
    if (!json_is_object(m))
        return rt_error_set(err, 0, "%s: must be an object", base);
    if (check_keys(m, base, mount_keys, err) < 0)
        return -1;
    snprintf(path, sizeof path, "%s.type", base);
    if (mount_kind_from_json(json_object_get(m, "type"), path, &kind, err) < 0)
        return -1;
    snprintf(path, sizeof path, "%s.source", base);
    if ((v = json_object_get(m, "source")) && want_cstr(v, path, &src, err) < 0)
        return -1;
    snprintf(path, sizeof path, "%s.target", base);
    if (!(v = json_object_get(m, "target")))
        return rt_error_set(err, 0, "%s: required", path);
    if (want_cstr(v, path, &dst, err) < 0)
        return -1;
    snprintf(path, sizeof path, "%s.size", base);
    v = json_object_get(m, "size");
    if (v && u64_from_json(v, path, SIZE, RT_MAX_BYTES, &size, err) < 0)
        return -1;
    return rt_spec_add_mount(spec, kind, src, dst, size, err);
}

static int mounts_from_json(const json_t *v, rt_spec *spec, rt_error *err)
{
    if (!json_is_array(v))
        return rt_error_set(err, 0, "mounts: must be an array");
    for (size_t i = 0; i < json_array_size(v); i++)
        if (mount_from_json(json_array_get(v, i), i, spec, err) < 0)
            return -1;
    return 0;
}

int rt_spec_settings_from_json(const json_t *obj, rt_spec *spec, rt_error *err)
{
    const json_t *v;

    if (network_from_json(obj, &spec->network, err) < 0)
        return -1;
    if ((v = json_object_get(obj, "mounts")) && mounts_from_json(v, spec, err) < 0)
        return -1;
    if ((v = json_object_get(obj, "limits")) && limits_from_json(v, &spec->limits, err) < 0)
        return -1;
    return 0;
}

static int spec_fields(const json_t *obj, rt_spec *spec, rt_error *err)
{
    const json_t *v;

    if (!json_is_object(obj))
        return rt_error_set(err, 0, "spec: must be a JSON object");
    if (check_keys(obj, NULL, spec_keys, err) < 0)
        return -1;
    if ((v = json_object_get(obj, "command")) && argv_from_json(v, &spec->argv, err) < 0)
        return -1;
    if ((v = json_object_get(obj, "env")) && env_from_json(v, &spec->env, err) < 0)
        return -1;
    if (opt_path(obj, "cwd", &spec->cwd, err) < 0 || stdin_from_json(obj, spec, err) < 0 ||
        image_from_json(obj, &spec->image, err) < 0 || workspace_from_json(obj, spec, err) < 0)
        return -1;
    if ((v = json_object_get(obj, "files")) && files_from_json(v, spec, err) < 0)
        return -1;
    if ((v = json_object_get(obj, "profile")) && dup_cstr(v, "profile", &spec->profile, err) < 0)
        return -1;
    if ((v = json_object_get(obj, "fixed_mounts")) && !json_is_boolean(v))
        return rt_error_set(err, 0, "fixed_mounts: must be true or false");
    spec->fixed_mounts = json_is_true(v);
    return rt_spec_settings_from_json(obj, spec, err);
}

int rt_spec_from_json(const json_t *obj, rt_spec *spec, rt_error *err)
{
    rt_spec_init(spec);
    if (spec_fields(obj, spec, err) < 0 || rt_spec_validate(spec, err) < 0) {
        rt_spec_free(spec);
        return -1;
    }
    return 0;
}

/* ---- spec to JSON ---- */
/* jansson's setters and appenders take a NULL value as failure (and free
 * nothing), so a failed constructor inside them needs no check of its own. */

static json_t *argv_json(char *const *argv)
{
    json_t *a = json_array();

    for (size_t i = 0; a && argv && argv[i]; i++) {
        if (json_array_append_new(a, json_string(argv[i])) < 0) {
            json_decref(a);
            return NULL;
        }
    }
    return a;
}

static json_t *env_json(char *const *env)
{
    json_t *o = json_object();

    for (size_t i = 0; o && env[i]; i++) {
        const char *eq = strchr(env[i], '=');
        size_t klen = eq ? (size_t)(eq - env[i]) : strlen(env[i]);
        if (json_object_setn_new(o, env[i], klen, json_string(eq ? eq + 1 : "")) < 0) {
            json_decref(o);
            return NULL;
        }
    }
    return o;
}

static json_t *mount_json(const rt_mount *m)
{
    json_t *o = json_object();
    int rc = !o;

    if (o && m->kind < sizeof mount_types / sizeof mount_types[0])
        rc |= json_object_set_new(o, "type", json_string(mount_types[m->kind]));
    if (o && m->src)
        rc |= json_object_set_new(o, "source", json_string(m->src));
    if (o && m->dst)
        rc |= json_object_set_new(o, "target", json_string(m->dst));
    if (o && m->size_bytes)
        rc |= json_object_set_new(o, "size", json_integer((json_int_t)m->size_bytes));
    if (rc) {
        json_decref(o);
        return NULL;
    }
    return o;
}

static json_t *mounts_json(const rt_spec *spec)
{
    json_t *a = json_array();

    for (size_t i = 0; a && i < spec->n_mounts; i++) {
        if (json_array_append_new(a, mount_json(&spec->mounts[i])) < 0) {
            json_decref(a);
            return NULL;
        }
    }
    return a;
}

static json_t *limits_json(const rt_limits *l)
{
    json_t *o = json_object();
    int rc = !o;
    uint64_t n;

    for (size_t i = 0; o && i < N_LIMIT_FIELDS; i++) {
        memcpy(&n, (const char *)l + limit_fields[i].offset, sizeof n);
        rc |= json_object_set_new(o, limit_fields[i].key, json_integer((json_int_t)n));
    }
    if (o)
        rc |= json_object_set_new(o, "cpus", json_real(l->cpus));
    if (rc) {
        json_decref(o);
        return NULL;
    }
    return o;
}

static int set_stdin(json_t *o, const rt_spec *spec)
{
    json_t *s = json_stringn(spec->stdin_data, spec->stdin_len);

    if (s)
        return json_object_set_new(o, "stdin", s);
    return json_object_set_new(o, "stdin", base64_json(spec->stdin_data, spec->stdin_len)) |
           json_object_set_new(o, "stdin_encoding", json_string("base64"));
}

static int set_opt_string(json_t *o, const char *key, const char *s)
{
    return s ? json_object_set_new(o, key, json_string(s)) : 0;
}

/* Text when the bytes are UTF-8 without NUL, base64 otherwise; the object form
 * when there is more to say than the text. */
static json_t *file_json(const rt_file *f)
{
    bool nul = f->len && memchr(f->data, '\0', f->len);
    json_t *text = nul ? NULL : json_stringn(f->data ? f->data : "", f->len);

    if (text && !f->executable)
        return text;
    json_t *o = json_object();
    int rc = json_object_set_new(o, "content", text ? text : base64_json(f->data, f->len));
    if (!text)
        rc |= json_object_set_new(o, "encoding", json_string("base64"));
    if (f->executable)
        rc |= json_object_set_new(o, "executable", json_true());
    if (rc) {
        json_decref(o);
        return NULL;
    }
    return o;
}

static json_t *files_json(const rt_spec *spec)
{
    json_t *o = json_object();

    for (size_t i = 0; o && i < spec->n_files; i++) {
        if (json_object_set_new(o, spec->files[i].path, file_json(&spec->files[i])) < 0) {
            json_decref(o);
            return NULL;
        }
    }
    return o;
}

json_t *rt_spec_to_json(const rt_spec *spec)
{
    json_t *o = json_object();

    if (!o)
        return NULL;
    int rc = json_object_set_new(o, "command", argv_json(spec->argv));
    if (spec->env)
        rc |= json_object_set_new(o, "env", env_json(spec->env));
    rc |= set_opt_string(o, "cwd", spec->cwd);
    if (spec->stdin_data)
        rc |= set_stdin(o, spec);
    rc |= set_opt_string(o, "image", spec->image);
    rc |= set_opt_string(o, "workspace",
                         spec->workspace ? spec->workspace
                                         : spec->workspace_tmpfs ? "tmpfs" : NULL);
    if (spec->n_files)
        rc |= json_object_set_new(o, "files", files_json(spec));
    rc |= set_opt_string(o, "profile", spec->profile);
    rc |= json_object_set_new(o, "mounts", mounts_json(spec));
    if (spec->fixed_mounts)
        rc |= json_object_set_new(o, "fixed_mounts", json_true());
    rc |= json_object_set_new(o, "network", json_string("none"));
    rc |= json_object_set_new(o, "limits", limits_json(&spec->limits));
    if (rc) {
        json_decref(o);
        return NULL;
    }
    return o;
}

/* ---- result to JSON ---- */

/* Messages may quote host paths that are not UTF-8; such bytes become '?'
 * rather than losing the whole message. */
static json_t *text_json(const char *s)
{
    json_t *j = json_string(s);

    if (j || !s)
        return j;
    char *copy = strdup(s);
    if (!copy)
        return NULL;
    for (char *p = copy; *p; p++)
        if ((unsigned char)*p >= 0x80)
            *p = '?';
    j = json_string(copy);
    free(copy);
    return j;
}

static json_t *signal_name_json(int sig)
{
    char name[32];
    const char *abbrev = sigabbrev_np(sig);

    if (sig == 0)
        return json_null();
    if (abbrev)
        snprintf(name, sizeof name, "SIG%s", abbrev);
    else if (sig >= SIGRTMIN && sig <= SIGRTMAX)
        snprintf(name, sizeof name, "SIGRTMIN+%d", sig - SIGRTMIN);
    else
        snprintf(name, sizeof name, "SIG%d", sig);
    return json_string(name);
}

/* Bytes of JSON text the escaped string takes: control bytes cost 6 (\u0001). */
static size_t escaped_len(const char *data, size_t n)
{
    size_t len = 0;

    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)data[i];
        len += c == '"' || c == '\\' || c == '\n' || c == '\t' || c == '\r' || c == '\b' ||
                       c == '\f'
                   ? 2
               : c < 0x20 ? 6
                          : 1;
    }
    return len;
}

const char *rt_json_type_name(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT: return "an object";
    case JSON_ARRAY: return "an array";
    case JSON_STRING: return "a string";
    case JSON_INTEGER: return "an integer";
    case JSON_REAL: return "a number";
    case JSON_TRUE:
    case JSON_FALSE: return "a boolean";
    default: return "null";
    }
}

json_t *rt_bytes_to_json(const char *data, size_t n, bool *base64)
{
    /* Text mostly of control bytes would grow up to 6 times: base64 caps it at 4/3. */
    json_t *s = escaped_len(data, n) <= (n + 2) / 3 * 4 + 16 ? json_stringn(data ? data : "", n)
                                                             : NULL;

    *base64 = !s;
    return s ? s : base64_json(data, n);
}

static int set_output(json_t *o, const char *key, const rt_buf *b)
{
    char enc[32];
    bool b64;
    json_t *s = rt_bytes_to_json(b->data, b->len, &b64);

    if (!b64)
        return json_object_set_new(o, key, s);
    snprintf(enc, sizeof enc, "%s_encoding", key);
    return json_object_set_new(o, key, s) | json_object_set_new(o, enc, json_string("base64"));
}

static json_t *usage_json(const rt_usage *u)
{
    return json_pack("{s:f, s:f, s:f, s:I, s:o}", "wall_ms", u->wall_ms, "cpu_user_ms",
                     u->cpu_user_ms, "cpu_sys_ms", u->cpu_sys_ms, "memory_peak_bytes",
                     (json_int_t)u->memory_peak_bytes, "pids_peak",
                     u->pids_peak ? json_integer((json_int_t)u->pids_peak) : json_null());
}

static json_t *enforced_json(const rt_enforced *e)
{
    return json_pack("{s:b, s:b, s:b, s:b}", "memory", e->memory, "pids", e->pids, "cpus",
                     e->cpus, "cpu_time", e->cpu_time);
}

json_t *rt_cgroup_info_to_json(const rt_cgroup_info *ci)
{
    static const char *const versions[] = {"none", "v1", "v2"};
    const struct { bool on; const char *name; } controllers[] = {
        {ci->memory, "memory"}, {ci->pids, "pids"}, {ci->cpu, "cpu"}, {ci->cpuacct, "cpuacct"}};
    json_t *list = json_array();
    for (size_t i = 0; list && i < sizeof controllers / sizeof *controllers; i++)
        if (controllers[i].on &&
            json_array_append_new(list, json_string(controllers[i].name)) < 0) {
            json_decref(list);
            list = NULL;
        }
    json_t *text = json_string(ci->reason);
    if (!text) {
        /* The note quotes the operator's settings and paths, which need not be
         * UTF-8 (and it may be cut inside a character): such bytes become '?'. */
        char note[sizeof ci->reason];
        size_t n = 0;
        for (; n < sizeof note - 1 && ci->reason[n]; n++)
            note[n] = (unsigned char)ci->reason[n] < 0x80 ? ci->reason[n] : '?';
        note[n] = '\0';
        text = json_string(note);
    }
    if (!list || !text) {
        json_decref(list);
        json_decref(text);
        return NULL;
    }
    return json_pack("{s:s, s:o, s:b, s:b, s:i, s:o}", "version", versions[ci->version],
                     "controllers", list, "swap_limit", ci->memory_swap, "writable",
                     ci->writable, "pool", ci->pool, "note", text);
}

json_t *rt_result_to_json(const rt_result *r)
{
    json_t *o = json_object();

    if (!o)
        return NULL;
    int rc = json_object_set_new(o, "status", json_string(rt_status_name(r->status)));
    rc |= json_object_set_new(o, "exit_code",
                              r->exit_code == -1 ? json_null() : json_integer(r->exit_code));
    rc |= json_object_set_new(o, "signal", r->signal ? json_integer(r->signal) : json_null());
    rc |= json_object_set_new(o, "signal_name", signal_name_json(r->signal));
    rc |= set_output(o, "stdout", &r->out);
    rc |= set_output(o, "stderr", &r->err);
    rc |= json_object_set_new(o, "stdout_truncated", json_boolean(r->out.truncated));
    rc |= json_object_set_new(o, "stderr_truncated", json_boolean(r->err.truncated));
    rc |= json_object_set_new(o, "usage", usage_json(&r->usage));
    rc |= json_object_set_new(o, "limits_enforced", enforced_json(&r->enforced));
    rc |= json_object_set_new(o, "setup_ms", json_real(r->setup_ms));
    rc |= json_object_set_new(o, "error", r->error ? text_json(r->error) : json_null());
    if (r->syscall)
        rc |= json_object_set_new(o, "syscall", text_json(r->syscall));
    if (rc) {
        json_decref(o);
        return NULL;
    }
    return o;
}

/* ---- result from JSON ---- */

static int status_from_json(const json_t *v, rt_status *out, rt_error *err)
{
    const char *s;

    if (!v)
        return rt_error_set(err, 0, "status: required");
    if (want_cstr(v, "status", &s, err) < 0)
        return -1;
    if (rt_status_from_name(s, out) < 0)
        return rt_error_set(err, 0, "status: unknown status \"%.40s\"", s);
    return 0;
}

/* Absent or null leaves *out as rt_result_init set it. */
static int nullable_int(const json_t *obj, const char *key, int *out, rt_error *err)
{
    const json_t *v = json_object_get(obj, key);

    if (!v || json_is_null(v))
        return 0;
    if (!json_is_integer(v) || json_integer_value(v) < INT_MIN ||
        json_integer_value(v) > INT_MAX)
        return rt_error_set(err, 0, "%s: must be an integer or null", key);
    *out = (int)json_integer_value(v);
    return 0;
}

static int opt_u64(const json_t *obj, const char *key, const char *path, uint64_t *out,
                   rt_error *err)
{
    const json_t *v = json_object_get(obj, key);

    if (!v || json_is_null(v))
        return 0;
    if (!json_is_integer(v) || json_integer_value(v) < 0)
        return rt_error_set(err, 0, "%s: must be a non-negative integer", path);
    *out = (uint64_t)json_integer_value(v);
    return 0;
}

static int opt_number(const json_t *obj, const char *key, const char *path, double *out,
                      rt_error *err)
{
    const json_t *v = json_object_get(obj, key);

    if (!v)
        return 0;
    if (!json_is_number(v))
        return rt_error_set(err, 0, "%s: must be a number", path);
    *out = json_number_value(v);
    return 0;
}

static int opt_bool(const json_t *obj, const char *key, const char *path, bool *out,
                    rt_error *err)
{
    const json_t *v = json_object_get(obj, key);

    if (!v)
        return 0;
    if (!json_is_boolean(v))
        return rt_error_set(err, 0, "%s: must be true or false", path);
    *out = json_is_true(v);
    return 0;
}

static int nullable_string(const json_t *obj, const char *key, char **out, rt_error *err)
{
    const json_t *v = json_object_get(obj, key);

    if (!v || json_is_null(v))
        return 0;
    return dup_cstr(v, key, out, err);
}

/* The buffer takes the decoded bytes as they are; its limit is their length. */
static int output_from_json(const json_t *obj, const char *key, rt_buf *b, rt_error *err)
{
    char enc[32], trunc[32];
    const json_t *v = json_object_get(obj, key);
    char *data;
    size_t len;

    snprintf(enc, sizeof enc, "%s_encoding", key);
    snprintf(trunc, sizeof trunc, "%s_truncated", key);
    if (opt_bool(obj, trunc, trunc, &b->truncated, err) < 0)
        return -1;
    if (!v)
        return 0;
    if (data_from_json(v, json_object_get(obj, enc), key, enc, &data, &len, err) < 0)
        return -1;
    b->data = data;
    b->len = len;
    b->cap = len + 1;
    b->limit = len;
    return 0;
}

static int usage_from_json(const json_t *v, rt_usage *u, rt_error *err)
{
    if (!v)
        return 0;
    if (!json_is_object(v))
        return rt_error_set(err, 0, "usage: must be an object");
    if (opt_number(v, "wall_ms", "usage.wall_ms", &u->wall_ms, err) < 0 ||
        opt_number(v, "cpu_user_ms", "usage.cpu_user_ms", &u->cpu_user_ms, err) < 0 ||
        opt_number(v, "cpu_sys_ms", "usage.cpu_sys_ms", &u->cpu_sys_ms, err) < 0 ||
        opt_u64(v, "memory_peak_bytes", "usage.memory_peak_bytes", &u->memory_peak_bytes,
                err) < 0 ||
        opt_u64(v, "pids_peak", "usage.pids_peak", &u->pids_peak, err) < 0)
        return -1;
    return 0;
}

static int enforced_from_json(const json_t *v, rt_enforced *e, rt_error *err)
{
    if (!v)
        return 0;
    if (!json_is_object(v))
        return rt_error_set(err, 0, "limits_enforced: must be an object");
    if (opt_bool(v, "memory", "limits_enforced.memory", &e->memory, err) < 0 ||
        opt_bool(v, "pids", "limits_enforced.pids", &e->pids, err) < 0 ||
        opt_bool(v, "cpus", "limits_enforced.cpus", &e->cpus, err) < 0 ||
        opt_bool(v, "cpu_time", "limits_enforced.cpu_time", &e->cpu_time, err) < 0)
        return -1;
    return 0;
}

static int result_fields(const json_t *obj, rt_result *r, rt_error *err)
{
    if (!json_is_object(obj))
        return rt_error_set(err, 0, "result: must be a JSON object");
    if (status_from_json(json_object_get(obj, "status"), &r->status, err) < 0 ||
        nullable_int(obj, "exit_code", &r->exit_code, err) < 0 ||
        nullable_int(obj, "signal", &r->signal, err) < 0 ||
        output_from_json(obj, "stdout", &r->out, err) < 0 ||
        output_from_json(obj, "stderr", &r->err, err) < 0 ||
        usage_from_json(json_object_get(obj, "usage"), &r->usage, err) < 0 ||
        enforced_from_json(json_object_get(obj, "limits_enforced"), &r->enforced, err) < 0 ||
        opt_number(obj, "setup_ms", "setup_ms", &r->setup_ms, err) < 0 ||
        nullable_string(obj, "error", &r->error, err) < 0 ||
        nullable_string(obj, "syscall", &r->syscall, err) < 0)
        return -1;
    return 0;
}

int rt_result_from_json(const json_t *obj, rt_result *r, rt_error *err)
{
    rt_result_init(r, 0);
    if (result_fields(obj, r, err) < 0) {
        rt_result_free(r);
        return -1;
    }
    return 0;
}
