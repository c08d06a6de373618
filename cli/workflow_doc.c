#include "workflow_doc.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>

static json_t *load(const char *path, rt_error *err)
{
    json_error_t je;
    bool is_stdin = strcmp(path, "-") == 0;
    const char *name = is_stdin ? "stdin" : path;
    json_t *v = is_stdin ? json_loadfd(0, JSON_REJECT_DUPLICATES, &je)
                         : json_load_file(path, JSON_REJECT_DUPLICATES, &je);
    if (!v) {
        if (je.line < 1)        /* not a syntax error: opening or reading */
            rt_error_set(err, 0, "%s: %s", name, je.text);
        else
            rt_error_set(err, 0, "%s:%d:%d: %s", name, je.line, je.column, je.text);
        return NULL;
    }
    if (!json_is_object(v)) {
        json_decref(v);
        rt_error_set(err, 0, "%s: must hold a JSON object (a workflow document, or "
                             "{\"workflow\": {...}, \"inputs\": {...}})", name);
        return NULL;
    }
    return v;
}

json_t *sbx_wf_load_body(const char *path, const json_t *inputs, rt_error *err)
{
    json_t *v = load(path, err), *body;
    if (!v)
        return NULL;
    if (json_object_get(v, "workflow")) {
        body = v;
    } else {
        body = json_pack("{s:o}", "workflow", v);
        if (!body) {
            rt_error_set(err, ENOMEM, "%s", path);
            return NULL;
        }
    }
    if (!inputs || !json_object_size(inputs))
        return body;
    json_t *given = json_object_get(body, "inputs");
    if (given && !json_is_object(given))
        return body;   /* the engine names the problem: inputs must be an object */
    if (!given) {
        given = json_object();
        if (json_object_set_new(body, "inputs", given) < 0)
            given = NULL;
    }
    if (!given || json_object_update(given, (json_t *)inputs) < 0) {
        json_decref(body);
        rt_error_set(err, ENOMEM, "--input");
        return NULL;
    }
    return body;
}

int sbx_wf_step_width(const json_t *body)
{
    const json_t *steps = json_object_get(json_object_get(body, "workflow"), "steps");
    size_t i, w = 6;
    json_t *s;
    json_array_foreach(steps, i, s) {
        size_t n = strlen(json_string_value(json_object_get(s, "id")) ?: "");
        w = n > w ? n : w;
    }
    return w > 24 ? 24 : (int)w;
}
