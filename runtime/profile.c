#include "profile.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cleanup.h"
#include "spec_json.h"

#ifndef SBX_DATADIR
#define SBX_DATADIR "/usr/local/share/sandboxd"
#endif

#define MAX_DIRS 16

static struct {
    pthread_once_t once;
    char buf[4096];
    char exe_dir[PATH_MAX];
    char rel[2][PATH_MAX];
    const char *dirs[MAX_DIRS];
    size_t n;
} search = {.once = PTHREAD_ONCE_INIT};

static void search_init(void)
{
    const char *env = getenv("SBX_PROFILE_PATH");
    if (env && *env) {
        snprintf(search.buf, sizeof search.buf, "%s", env);
        for (char *save = NULL, *d = strtok_r(search.buf, ":", &save);
             d && search.n < MAX_DIRS; d = strtok_r(NULL, ":", &save))
            search.dirs[search.n++] = d;
        return;
    }
    search.dirs[search.n++] = "/etc/sandboxd/profiles";
    ssize_t len = readlink("/proc/self/exe", search.exe_dir, sizeof search.exe_dir - 1);
    if (len > 0) {
        search.exe_dir[len] = '\0';
        char *slash = strrchr(search.exe_dir, '/');
        if (slash) {
            *slash = '\0';
            snprintf(search.rel[0], sizeof search.rel[0], "%s/../profiles", search.exe_dir);
            snprintf(search.rel[1], sizeof search.rel[1], "%s/../share/sandboxd/profiles",
                     search.exe_dir);
            search.dirs[search.n++] = search.rel[0];
            search.dirs[search.n++] = search.rel[1];
        }
    }
    search.dirs[search.n++] = SBX_DATADIR "/profiles";
}

size_t rt_profile_search_path(const char **dirs, size_t max)
{
    pthread_once(&search.once, search_init);
    size_t n = search.n < max ? search.n : max;
    memcpy(dirs, search.dirs, n * sizeof *dirs);
    return search.n;
}

/* Names reach us from API clients: no path, nothing hidden. */
static bool valid_name(const char *s)
{
    if (!*s || *s == '.' || strlen(s) > 64)
        return false;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              *s == '-' || *s == '_' || *s == '.'))
            return false;
    return true;
}

static bool is_path(const char *s)
{
    size_t n = strlen(s);
    return strchr(s, '/') || (n > 5 && strcmp(s + n - 5, ".json") == 0);
}

int rt_profile_load(const char *name, rt_profile **out, rt_error *err)
{
    *out = NULL;
    if (is_path(name))
        return rt_profile_load_file(name, out, err);
    if (!valid_name(name))
        return rt_error_set(err, 0, "profile \"%.64s\": a name is letters, digits, '-', '_' "
                                    "and '.' (or give a file path)", name);
    const char *dirs[MAX_DIRS];
    size_t n = rt_profile_search_path(dirs, MAX_DIRS);
    char path[PATH_MAX], tried[1024] = "";
    size_t used = 0;
    for (size_t i = 0; i < n && i < MAX_DIRS; i++) {
        snprintf(path, sizeof path, "%s/%s.json", dirs[i], name);
        if (access(path, F_OK) == 0)
            return rt_profile_load_file(path, out, err);
        if (used < sizeof tried)
            used += (size_t)snprintf(tried + used, sizeof tried - used, "%s%s", used ? ":" : "",
                                     dirs[i]);
    }
    return rt_error_set(err, ENOENT, "profile \"%s\" not found in %s (set SBX_PROFILE_PATH or "
                                     "give a file)", name, tried);
}

static int parse_caps(const json_t *v, const char *file, uint64_t *caps, rt_error *err)
{
    if (!json_is_array(v))
        return rt_error_set(err, 0, "%s: capabilities: must be an array of names", file);
    size_t i;
    json_t *c;
    json_array_foreach(v, i, c) {
        int cap;
        if (!json_is_string(c))
            return rt_error_set(err, 0, "%s: capabilities[%zu]: must be a capability name", file,
                                i);
        if (rt_capability_from_name(json_string_value(c), &cap) < 0)
            return rt_error_set(err, 0, "%s: capabilities[%zu]: unknown capability \"%.40s\"",
                                file, i, json_string_value(c));
        *caps |= 1ull << cap;
    }
    return 0;
}

/* A policy file's path is relative to the profile's directory. */
static int load_seccomp(rt_profile *p, const json_t *v, rt_error *err)
{
    if (json_is_object(v)) {
        char where[PATH_MAX + 16];
        snprintf(where, sizeof where, "%s: seccomp", p->path);
        p->seccomp_source = strdup("inline");
        cleanup_free char *text = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS);
        if (!p->seccomp_source || !text)
            return rt_error_set(err, ENOMEM, "%s", p->path);
        return rt_seccomp_compile_text(text, strlen(text), where, p->base.keep_caps,
                                       &p->base.seccomp, err);
    }
    if (!json_is_string(v) || !*json_string_value(v))
        return rt_error_set(err, 0, "%s: seccomp: must be a policy file name, an inline policy "
                                    "or \"unconfined\"", p->path);
    const char *s = json_string_value(v);
    if (strcmp(s, "unconfined") == 0) {
        p->seccomp_source = strdup(s);
        return p->seccomp_source ? 0 : rt_error_set(err, ENOMEM, "%s", p->path);
    }
    const char *slash = strrchr(p->path, '/');
    int rc = s[0] == '/' ? asprintf(&p->seccomp_source, "%s", s)
             : slash     ? asprintf(&p->seccomp_source, "%.*s/%s", (int)(slash - p->path),
                                    p->path, s)
                         : asprintf(&p->seccomp_source, "%s", s);
    if (rc < 0) {
        p->seccomp_source = NULL;
        return rt_error_set(err, ENOMEM, "%s", p->path);
    }
    if (rt_seccomp_compile_file(p->seccomp_source, p->base.keep_caps, &p->base.seccomp, err) < 0)
        return rt_error_wrap(err, "%s: seccomp", p->path);
    return 0;
}

static int parse_profile(rt_profile *p, const json_t *root, rt_error *err)
{
    static const char *const keys[] = {"description", "seccomp", "capabilities", "network",
                                       "limits", "mounts", NULL};
    if (!json_is_object(root))
        return rt_error_set(err, 0, "%s: must be a JSON object", p->path);
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)root, key, v) {
        const char *const *k = keys;
        while (*k && strcmp(*k, key))
            k++;
        if (!*k)
            return rt_error_set(err, 0, "%s: unknown key \"%.60s\" (known: description, seccomp, "
                                        "capabilities, network, limits, mounts)", p->path, key);
    }
    if ((v = json_object_get(root, "description"))) {
        if (!json_is_string(v))
            return rt_error_set(err, 0, "%s: description: must be a string", p->path);
        if (!(p->description = strdup(json_string_value(v))))
            return rt_error_set(err, ENOMEM, "%s", p->path);
    }
    if ((v = json_object_get(root, "capabilities")) &&
        parse_caps(v, p->path, &p->base.keep_caps, err) < 0)
        return -1;
    if (!(v = json_object_get(root, "seccomp")))
        return rt_error_set(err, 0, "%s: seccomp: required (a policy file, an inline policy or "
                                    "\"unconfined\")", p->path);
    if (load_seccomp(p, v, err) < 0)
        return -1;
    if (rt_spec_settings_from_json(root, &p->base, err) < 0)
        return rt_error_wrap(err, "%s", p->path);
    return 0;
}

int rt_profile_load_file(const char *path, rt_profile **out, rt_error *err)
{
    *out = NULL;
    rt_profile *p = calloc(1, sizeof *p);
    if (!p)
        return rt_error_set(err, ENOMEM, "%s", path);
    rt_spec_init(&p->base);
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    size_t blen = strlen(base);
    if (blen > 5 && strcmp(base + blen - 5, ".json") == 0)
        blen -= 5;
    p->path = strdup(path);
    p->name = strndup(base, blen);
    p->base.profile = strndup(base, blen);
    if (!p->path || !p->name || !p->base.profile) {
        rt_profile_free(p);
        return rt_error_set(err, ENOMEM, "%s", path);
    }
    json_error_t je;
    json_t *root = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
    if (!root) {
        if (je.line < 0 || access(path, R_OK) < 0)
            rt_error_set(err, errno, "profile %s", path);
        else
            rt_error_set(err, 0, "%s:%d:%d: %s", path, je.line, je.column, je.text);
        rt_profile_free(p);
        return -1;
    }
    int rc = parse_profile(p, root, err);
    json_decref(root);
    if (rc < 0) {
        rt_profile_free(p);
        return -1;
    }
    *out = p;
    return 0;
}

void rt_profile_free(rt_profile *p)
{
    if (!p)
        return;
    free(p->name);
    free(p->path);
    free(p->description);
    free(p->seccomp_source);
    rt_spec_free(&p->base);
    free(p);
}

int rt_profile_apply(const rt_profile *p, rt_spec *spec, rt_error *err)
{
    char *name = strdup(p->name);
    if (!name)
        return rt_error_set(err, ENOMEM, "applying profile %s", p->name);
    for (size_t i = 0; i < p->base.n_mounts; i++) {
        const rt_mount *m = &p->base.mounts[i];
        if (rt_spec_add_mount(spec, m->kind, m->src, m->dst, m->size_bytes, err) < 0) {
            free(name);
            return -1;
        }
    }
    free(spec->profile);
    spec->profile = name;
    spec->limits = p->base.limits;
    spec->network = p->base.network;
    spec->keep_caps = p->base.keep_caps;
    rt_seccomp_unref(spec->seccomp);
    spec->seccomp = rt_seccomp_ref(p->base.seccomp);
    return 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int rt_profile_list(char ***names, size_t *count, rt_error *err)
{
    const char *dirs[MAX_DIRS];
    size_t nd = rt_profile_search_path(dirs, MAX_DIRS);
    char **v = NULL;
    size_t n = 0;
    for (size_t i = 0; i < nd && i < MAX_DIRS; i++) {
        DIR *d = opendir(dirs[i]);
        if (!d)
            continue;
        struct dirent *e;
        while ((e = readdir(d))) {
            size_t len = strlen(e->d_name);
            if (len <= 5 || strcmp(e->d_name + len - 5, ".json") || e->d_name[0] == '.')
                continue;
            bool dup = false;
            for (size_t k = 0; k < n && !dup; k++)
                dup = strncmp(v[k], e->d_name, len - 5) == 0 && v[k][len - 5] == '\0';
            if (dup)
                continue;
            char **nv = realloc(v, (n + 1) * sizeof *nv);
            char *s = strndup(e->d_name, len - 5);
            if (!nv || !s) {
                free(s);
                closedir(d);
                if (nv)
                    v = nv;
                for (size_t k = 0; k < n; k++)
                    free(v[k]);
                free(v);
                return rt_error_set(err, ENOMEM, "listing profiles");
            }
            v = nv;
            v[n++] = s;
        }
        closedir(d);
    }
    if (n)
        qsort(v, n, sizeof *v, cmp_str);
    *names = v;
    *count = n;
    return 0;
}
