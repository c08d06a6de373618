#include "languages.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "spec.h"
#include "spec_json.h"

/* The host image's PATH (sandboxes see the host's /usr and /bin). */
static const char *const image_path[] = {"/usr/local/bin", "/usr/bin", "/bin"};

static bool installed(const char *prog)
{
    char buf[PATH_MAX];
    for (size_t i = 0; i < sizeof image_path / sizeof *image_path; i++) {
        snprintf(buf, sizeof buf, "%s/%s", image_path[i], prog);
        if (access(buf, X_OK) == 0)
            return true;
    }
    return false;
}

static int find_file(char *out, size_t len, rt_error *err)
{
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    exe[n > 0 ? n : 0] = '\0';
    char *slash = strrchr(exe, '/');
    if (slash)
        *slash = '\0';
    const char *dirs[][2] = {
        {"/etc/sandboxd", ""}, {exe, "/../sandboxd"}, {exe, "/../share/sandboxd"},
        {SBX_DATADIR, ""},
    };
    for (size_t i = 0; i < sizeof dirs / sizeof *dirs; i++) {
        snprintf(out, len, "%s%s/languages.json", dirs[i][0], dirs[i][1]);
        if (access(out, R_OK) == 0)
            return 0;
    }
    return rt_error_set(err, 0, "no languages.json in /etc/sandboxd, next to %s or in %s "
                                "(set languages in the config)", exe, SBX_DATADIR);
}

static int copy_argv(const json_t *arr, char ***out, rt_error *err)
{
    size_t n = json_array_size(arr);
    if (!json_is_array(arr) || n == 0)
        return rt_error_set(err, 0, "command: must be a non-empty array of strings");
    char **argv = calloc(n + 1, sizeof *argv);
    if (!argv)
        return rt_error_set(err, ENOMEM, "command");
    *out = argv;
    for (size_t i = 0; i < n; i++) {
        const char *s = json_string_value(json_array_get(arr, i));
        if (!s)
            return rt_error_set(err, 0, "command[%zu]: must be a string", i);
        if (!(argv[i] = strdup(s)))
            return rt_error_set(err, ENOMEM, "command");
    }
    return 0;
}

static int check_limits(const json_t *limits, rt_error *err)
{
    rt_spec tmp;
    rt_spec_init(&tmp);
    json_t *wrap = json_pack("{s:O}", "limits", limits);
    int rc = rt_spec_settings_from_json(wrap, &tmp, err);
    json_decref(wrap);
    rt_spec_free(&tmp);
    return rc;
}

static int load_one(const char *name, const json_t *obj, sd_language *l, rt_error *err)
{
    l->name = strdup(name);
    if (!l->name)
        return rt_error_set(err, ENOMEM, "copying");
    if (!json_is_object(obj))
        return rt_error_set(err, 0, "must be an object");
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)obj, key, v) {
        char **dst = strcmp(key, "description") == 0 ? &l->description
                   : strcmp(key, "file") == 0        ? &l->file
                   : strcmp(key, "requires") == 0    ? &l->requires
                                                     : NULL;
        if (dst) {
            if (!json_is_string(v))
                return rt_error_set(err, 0, "%s: must be a string", key);
            if (!(*dst = strdup(json_string_value(v))))
                return rt_error_set(err, ENOMEM, "copying");
        } else if (strcmp(key, "command") == 0) {
            if (copy_argv(v, &l->command, err) < 0)
                return -1;
        } else if (strcmp(key, "limits") == 0) {
            if (check_limits(v, err) < 0)
                return -1;
            l->limits = json_incref(v);
        } else {
            return rt_error_set(err, 0, "%s: unknown key", key);
        }
    }
    if (!l->file || !l->command)
        return rt_error_set(err, 0, "\"file\" and \"command\" are required");
    if (l->file[0] == '/' || strstr(l->file, ".."))
        return rt_error_set(err, 0, "file: must be a plain path relative to /workspace");
    l->available = !l->requires || installed(l->requires);
    return 0;
}

int sd_languages_load(const char *path, sd_languages *out, rt_error *err)
{
    *out = (sd_languages){0};
    char found[PATH_MAX];
    if (!path) {
        if (find_file(found, sizeof found, err) < 0)
            return -1;
        path = found;
    }
    json_error_t je;
    json_t *root = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
    if (!root)
        return rt_error_set(err, 0, "%s:%d:%d: %s", path, je.line, je.column, je.text);
    int rc = -1;
    if (!json_is_object(root)) {
        rt_error_set(err, 0, "%s: the top level must be an object of languages", path);
        goto out;
    }
    out->path = strdup(path);
    out->v = calloc(json_object_size(root) + 1, sizeof *out->v);
    if (!out->path || !out->v) {
        rt_error_set(err, ENOMEM, "%s", path);
        goto out;
    }
    const char *name;
    json_t *v;
    json_object_foreach(root, name, v) {
        if (load_one(name, v, &out->v[out->n++], err) < 0) {
            rt_error_wrap(err, "%s: %s", path, name);
            goto out;
        }
    }
    rc = 0;
out:
    json_decref(root);
    if (rc < 0)
        sd_languages_free(out);
    return rc;
}

void sd_languages_free(sd_languages *l)
{
    for (size_t i = 0; i < l->n; i++) {
        sd_language *x = &l->v[i];
        free(x->name);
        free(x->description);
        free(x->file);
        free(x->requires);
        for (size_t j = 0; x->command && x->command[j]; j++)
            free(x->command[j]);
        free(x->command);
        json_decref(x->limits);
    }
    free(l->v);
    free(l->path);
    *l = (sd_languages){0};
}

const sd_language *sd_languages_find(const sd_languages *l, const char *name)
{
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->v[i].name, name) == 0)
            return &l->v[i];
    return NULL;
}

json_t *sd_languages_json(const sd_languages *l)
{
    json_t *arr = json_array();
    for (size_t i = 0; arr && i < l->n; i++) {
        const sd_language *x = &l->v[i];
        json_t *cmd = json_array();
        for (size_t j = 0; x->command[j]; j++)
            json_array_append_new(cmd, json_string(x->command[j]));
        json_array_append_new(
            arr, json_pack("{s:s, s:s?, s:s, s:o, s:b, s:O?}", "name", x->name, "description",
                           x->description, "file", x->file, "command", cmd, "available",
                           x->available, "limits", x->limits));
    }
    return arr;
}
