#include "local.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "sandbox.h"
#include "spec_json.h"

void orch_local_init(orch_local *l)
{
    memset(l, 0, sizeof *l);
    pthread_mutex_init(&l->lock, NULL);
}

void orch_local_free(orch_local *l)
{
    for (size_t i = 0; i < l->n_profiles; i++)
        rt_profile_free(l->profiles[i]);
    free(l->profiles);
    pthread_mutex_destroy(&l->lock);
}

static const rt_profile *profile(orch_local *l, const char *name, rt_error *err)
{
    const rt_profile *found = NULL;
    pthread_mutex_lock(&l->lock);
    for (size_t i = 0; i < l->n_profiles && !found; i++)
        if (strcmp(l->profiles[i]->name, name) == 0)
            found = l->profiles[i];
    if (!found) {
        rt_profile *p = NULL, **v;
        if (rt_profile_load(name, &p, err) < 0) {
            rt_error_wrap(err, "profile");
        } else if (!(v = realloc(l->profiles, (l->n_profiles + 1) * sizeof *v))) {
            rt_profile_free(p);
            rt_error_set(err, ENOMEM, "profile");
        } else {
            l->profiles = v;
            v[l->n_profiles++] = p;
            found = p;
        }
    }
    pthread_mutex_unlock(&l->lock);
    return found;
}

/* A code request becomes a command and a file, as the daemon does it. */
static int apply_language(orch_local *l, json_t *req, const json_t **limits, rt_error *err)
{
    json_t *code = json_object_get(req, "code"), *lang = json_object_get(req, "language");
    orch_language lg;
    *limits = NULL;
    if (!code && !lang)
        return 0;
    if (!json_is_string(code) || !json_is_string(lang))
        return rt_error_set(err, 0, "language: code and language must be strings");
    if (!l->language)
        return rt_error_set(err, 0, "language: no languages are defined here");
    if (l->language(l->language_ctx, json_string_value(lang), &lg, err) < 0)
        return -1;
    json_t *cmd = json_array(), *files = json_object();
    for (size_t i = 0; cmd && lg.command[i]; i++)
        json_array_append_new(cmd, json_string(lg.command[i]));
    if (!cmd || !files) {
        json_decref(cmd);
        json_decref(files);
        return rt_error_set(err, ENOMEM, "language");
    }
    json_object_set(files, lg.file, code);
    json_object_set_new(req, "command", cmd);
    json_object_set_new(req, "files", files);
    json_object_del(req, "code");
    json_object_del(req, "language");
    *limits = lg.limits;
    return 0;
}

static int local_build(void *ctx, json_t *req, rt_spec *spec, rt_error *err)
{
    orch_local *l = ctx;
    const json_t *pv = json_object_get(req, "profile"), *image = json_object_get(req, "image");
    const char *pname = json_is_string(pv) ? json_string_value(pv)
                        : l->default_profile   ? l->default_profile
                                               : "default";
    const json_t *lang_limits;
    if (pv && !json_is_string(pv))
        return rt_error_set(err, 0, "profile: must be a string");
    const rt_profile *p = profile(l, pname, err);
    if (!p || apply_language(l, req, &lang_limits, err) < 0)
        return -1;
    json_t *limits = json_object_get(req, "limits");
    json_incref(limits);
    json_object_del(req, "limits");
    json_object_del(req, "profile");
    if (image && json_is_string(image) && strcmp(json_string_value(image), "host") == 0)
        json_object_del(req, "image");
    int rc = rt_spec_from_json(req, spec, err);
    if (rc == 0)
        rc = rt_profile_apply(p, spec, err);
    if (rc == 0 && lang_limits) {
        json_t *o = json_pack("{s:O}", "limits", lang_limits);
        rc = o ? rt_spec_settings_from_json(o, spec, err) : rt_error_set(err, ENOMEM, "limits");
        json_decref(o);
    }
    if (rc == 0 && limits) {
        json_t *o = json_pack("{s:O}", "limits", limits);
        rc = o ? rt_spec_settings_from_json(o, spec, err) : rt_error_set(err, ENOMEM, "limits");
        json_decref(o);
    }
    json_decref(limits);
    return rc < 0 ? -1 : rt_spec_validate(spec, err);
}

static int local_run(void *ctx, const rt_spec *spec, const atomic_int *stop, rt_result *res,
                     rt_error *err)
{
    rt_supervisor *sup = rt_supervisor_new(err);
    rt_sandbox *sb = NULL, *done = NULL;
    bool killed = false;

    (void)ctx;
    if (!sup || rt_sandbox_start(sup, spec, NULL, &sb, err) < 0)
        goto fail;
    while (!(done = rt_supervisor_take_done(sup))) {
        if (!killed && atomic_load(stop)) {
            killed = true;
            rt_sandbox_kill(sb, RT_STATUS_CANCELLED);
        }
        if (rt_supervisor_poll(sup, 50, err) < 0)
            goto fail;
    }
    rt_sandbox_finish(done, res);
    rt_supervisor_free(sup);
    return 0;
fail:
    rt_supervisor_free(sup);
    rt_result_init(res, spec->limits.output_bytes);
    rt_result_set_error(res, err->msg);
    return -1;
}

orch_executor orch_local_executor(orch_local *l)
{
    return (orch_executor){.build = local_build, .run = local_run, .ctx = l};
}
