#include "snapshot.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "parse.h"
#include "spec_json.h"

static void free_snapshot(sd_snapshot *s)
{
    for (size_t i = 0; s->profiles && i < s->config.n_profiles; i++)
        rt_profile_free(s->profiles[i]);
    free(s->profiles);
    sd_languages_free(&s->languages);
    sd_config_free(&s->config);
    free(s);
}

int sd_limits_check_max(const rt_limits *l, const rt_limits *max, rt_error *err)
{
    char have[32], most[32];
#define SIZE_LIMIT(field, name)                                                                 \
    if (l->field > max->field) {                                                                \
        rt_format_size(l->field, have, sizeof have);                                            \
        rt_format_size(max->field, most, sizeof most);                                          \
        return rt_error_set(err, 0, "limits." name ": %s is above this server's maximum %s",   \
                            have, most);                                                        \
    }
#define TIME_LIMIT(field, name)                                                                 \
    if (l->field > max->field) {                                                                \
        rt_format_duration_ms(l->field, have, sizeof have);                                     \
        rt_format_duration_ms(max->field, most, sizeof most);                                   \
        return rt_error_set(err, 0, "limits." name ": %s is above this server's maximum %s",   \
                            have, most);                                                        \
    }
    TIME_LIMIT(wall_ms, "timeout")
    TIME_LIMIT(cpu_ms, "cpu_time")
    SIZE_LIMIT(memory_bytes, "memory")
    SIZE_LIMIT(output_bytes, "output")
    SIZE_LIMIT(file_bytes, "file_size")
    SIZE_LIMIT(tmpfs_bytes, "tmpfs")
#undef SIZE_LIMIT
#undef TIME_LIMIT
    if (l->pids > max->pids)
        return rt_error_set(err, 0, "limits.pids: %llu is above this server's maximum %llu",
                            (unsigned long long)l->pids, (unsigned long long)max->pids);
    if (l->open_files > max->open_files)
        return rt_error_set(err, 0, "limits.open_files: %llu is above this server's maximum "
                                    "%llu", (unsigned long long)l->open_files,
                            (unsigned long long)max->open_files);
    if (l->cpus > max->cpus)
        return rt_error_set(err, 0, "limits.cpus: %g is above this server's maximum %g", l->cpus,
                            max->cpus);
    return 0;
}

/* A language's limits over the default profile's must fit, or every request
 * for it would be refused. */
static int check_languages(const sd_snapshot *s, rt_error *err)
{
    const rt_profile *def = sd_snapshot_profile(s, s->config.default_profile);
    for (size_t i = 0; i < s->languages.n; i++) {
        const sd_language *l = &s->languages.v[i];
        rt_spec tmp;
        rt_spec_init(&tmp);
        tmp.limits = def->base.limits;
        json_t *wrap = l->limits ? json_pack("{s:O}", "limits", l->limits) : json_object();
        int rc = rt_spec_settings_from_json(wrap, &tmp, err);
        json_decref(wrap);
        if (rc == 0)
            rc = sd_limits_check_max(&tmp.limits, &s->config.max_limits, err);
        rt_spec_free(&tmp);
        if (rc < 0)
            return rt_error_wrap(err, "%s: language %s", s->languages.path, l->name);
    }
    return 0;
}

static int load_parts(sd_snapshot *s, rt_error *err)
{
    sd_config *c = &s->config;
    s->profiles = calloc(c->n_profiles, sizeof *s->profiles);
    if (!s->profiles)
        return rt_error_set(err, ENOMEM, "profiles");
    for (size_t i = 0; i < c->n_profiles; i++) {
        if (rt_profile_load(c->profiles[i], &s->profiles[i], err) < 0)
            return rt_error_wrap(err, "profile %s", c->profiles[i]);
        if (sd_limits_check_max(&s->profiles[i]->base.limits, &c->max_limits, err) < 0)
            return rt_error_wrap(err, "profile %s (raise limits.max or the profile's limits)",
                                 c->profiles[i]);
    }
    for (size_t i = 0; i < c->n_images; i++) {
        struct stat st;
        if (stat(c->images[i].path, &st) < 0 || !S_ISDIR(st.st_mode))
            return rt_error_set(err, errno ? errno : ENOTDIR, "images.%s: %s", c->images[i].name,
                                c->images[i].path);
    }
    if (sd_languages_load(c->languages_file, &s->languages, err) < 0)
        return -1;
    return check_languages(s, err);
}

int sd_snapshot_load(int argc, char **argv, sd_snapshot **out, bool *check_only, bool *help,
                     bool *version, rt_error *err)
{
    *out = NULL;
    sd_snapshot *s = calloc(1, sizeof *s);
    if (!s)
        return rt_error_set(err, ENOMEM, "loading the configuration");
    atomic_init(&s->refs, 1);
    if (sd_config_load(&s->config, argc, argv, check_only, help, version, err) < 0) {
        free(s);
        return -1;
    }
    if (!*help && !*version && load_parts(s, err) < 0) {
        free_snapshot(s);
        return -1;
    }
    *out = s;
    return 0;
}

sd_snapshot *sd_snapshot_ref(sd_snapshot *s)
{
    atomic_fetch_add(&s->refs, 1);
    return s;
}

void sd_snapshot_unref(sd_snapshot *s)
{
    if (s && atomic_fetch_sub(&s->refs, 1) == 1)
        free_snapshot(s);
}

const rt_profile *sd_snapshot_profile(const sd_snapshot *s, const char *name)
{
    for (size_t i = 0; i < s->config.n_profiles; i++)
        if (strcmp(s->config.profiles[i], name) == 0)
            return s->profiles[i];
    return NULL;
}
