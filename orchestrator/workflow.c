/* The workflow model: one pass over the document that builds the structures
 * and reports what is wrong as it goes, then the DAG (needs, order, cycles)
 * and the references of every template, which need all the steps first.
 * Any problem discards the half-built workflow through orch_workflow_free, so
 * the builders never undo anything themselves. */
#include "workflow.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "parse.h"
#include "result.h"
#include "spec.h"
#include "spec_json.h"

#define PATH sizeof(((orch_problem *)0)->path)
#define LIST 400 /* room for a list of names in a message */
#define NAME_MAX_BYTES 128
#define PLAIN_MAX_BYTES 4096

struct ctx {
    orch_problems *pr;
    bool failed;
    size_t reported;          /* problem() calls, to tell whether a part added one */
    size_t dropped;           /* problems beyond ORCH_MAX_PROBLEMS */
    size_t template_bytes;
    bool over_templates;      /* reported once */
    orch_workflow *wf;
    const json_t *input_decls; /* the document's "inputs", for references */
    const json_t *steps_json;
    json_t *ids;              /* step id -> index of its first step */
    size_t n_ordered;         /* steps placed in wf->order (all but cycles) */
    bool in_values;           /* checking the caller's input values */
};

static const char *const top_keys[] = {
    "name", "description", "inputs", "defaults", "budget", "max_parallel", "timeout",
    "steps", NULL,
};
static const char *const input_keys[] = {"type", "default", "required", "description", NULL};
static const char *const defaults_keys[] = {"profile", "limits", "image", "backend", "env",
                                            NULL};
static const char *const budget_keys[] = {"usd", "cpu_seconds", NULL};
static const char *const step_keys[] = {
    "id", "run", "command", "code", "language", "image", "profile", "backend", "limits",
    "env", "stdin", "timeout", "needs", "when", "for_each", "retry", "continue_on_error",
    "outputs", "approval", NULL,
};
static const char *const retry_keys[] = {"max_attempts", "backoff", "factor", "max_backoff",
                                         "on", NULL};
static const char *const output_keys[] = {"from", "path", "max_bytes", NULL};
static const char *const approval_keys[] = {"timeout", NULL};

static const char *const type_names[] = {
    [ORCH_TYPE_STRING] = "string", [ORCH_TYPE_INTEGER] = "integer",
    [ORCH_TYPE_NUMBER] = "number", [ORCH_TYPE_BOOLEAN] = "boolean",
    [ORCH_TYPE_ARRAY] = "array",   [ORCH_TYPE_OBJECT] = "object",
};
static const char *const output_froms[] = {
    [ORCH_OUTPUT_OUTPUT] = "output", [ORCH_OUTPUT_STDOUT] = "stdout",
    [ORCH_OUTPUT_STDOUT_JSON] = "stdout_json", [ORCH_OUTPUT_FILE] = "file",
};
static const char *const backends[] = {"native", "docker", NULL};

/* ---- problems ------------------------------------------------------------ */

static __attribute__((format(printf, 3, 4))) void problem(struct ctx *c, const char *path,
                                                          const char *fmt, ...)
{
    orch_problems *p = c->pr;
    va_list ap;

    c->failed = true;
    c->reported++;
    /* Allocated whole at the first problem: no failure mid-way. */
    if (!p->v && !(p->v = calloc(ORCH_MAX_PROBLEMS + 1, sizeof *p->v)))
        return;
    if (p->n == ORCH_MAX_PROBLEMS) {
        c->dropped++;
        return;
    }
    orch_problem *q = &p->v[p->n];
    snprintf(q->path, sizeof q->path, "%s", path);
    q->given = c->in_values;
    va_start(ap, fmt);
    vsnprintf(q->message, sizeof q->message, fmt, ap);
    va_end(ap);
    /* The same reference twice in one template is one problem. */
    if (p->n && strcmp(q->path, q[-1].path) == 0 && strcmp(q->message, q[-1].message) == 0)
        return;
    p->n++;
}

/* err's message, less a leading "path: " since the problem carries the path. */
static void problem_err(struct ctx *c, const char *path, const rt_error *err)
{
    size_t n = strlen(path);
    const char *m = err->msg;

    if (n && strncmp(m, path, n) == 0 && strncmp(m + n, ": ", 2) == 0)
        m += n + 2;
    problem(c, path, "%s", m);
}

/* err's message "sub.path: text" from a decoder that names paths from its own
 * root, re-rooted at base. */
static void problem_under(struct ctx *c, const char *base, const rt_error *err)
{
    const char *sep = strstr(err->msg, ": ");
    char p[PATH];

    if (!sep) {
        problem(c, base, "%s", err->msg);
        return;
    }
    snprintf(p, sizeof p, "%s%s%.*s", base, *base ? "." : "", (int)(sep - err->msg), err->msg);
    problem(c, p, "%s", sep + 2);
}

void orch_problems_free(orch_problems *p)
{
    free(p->v);
    p->v = NULL;
    p->n = 0;
}

/* ---- names, paths, suggestions ------------------------------------------- */

static bool in_list(const char *s, const char *const *list)
{
    for (; *list; list++)
        if (strcmp(s, *list) == 0)
            return true;
    return false;
}

static bool is_alpha(char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || ch == '_';
}

static bool is_digit(char ch)
{
    return ch >= '0' && ch <= '9';
}

/* [A-Za-z_][A-Za-z0-9_-]*, the expression language's identifiers. */
static bool is_ident(const char *s)
{
    size_t n = strlen(s);

    if (n == 0 || n > ORCH_ID_MAX || !is_alpha(s[0]))
        return false;
    return strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") == n;
}

/* base.key, or base["key"] (escaped, shortened) when key is not an identifier. */
static const char *pkey(char *out, const char *base, const char *key)
{
    char q[64];
    size_t o = 0;

    if (is_ident(key)) {       /* most paths: joined without snprintf, on every key */
        size_t b = strnlen(base, PATH - 1), k = strlen(key);
        memmove(out, base, b);
        if (b && b < PATH - 1)
            out[b++] = '.';
        if (k > PATH - 1 - b)
            k = PATH - 1 - b;
        memcpy(out + b, key, k);
        out[b + k] = '\0';
        return out;
    }
    for (const char *s = key; *s && o < 40; s++) {
        if (*s == '"' || *s == '\\')
            q[o++] = '\\';
        q[o++] = (unsigned char)*s < 0x20 ? '?' : *s;
    }
    q[o] = '\0';
    snprintf(out, PATH, "%s[\"%s%s\"]", base, q, strlen(key) > 40 ? "..." : "");
    return out;
}

static const char *pidx(char *out, const char *base, size_t i)
{
    char num[24], *p = num + sizeof num;
    size_t b = strnlen(base, PATH - 1);

    *--p = '\0';
    *--p = ']';
    do
        *--p = (char)('0' + i % 10);
    while ((i /= 10) && p > num + 1);
    *--p = '[';
    size_t n = strlen(p);
    if (n > PATH - 1 - b)
        n = PATH - 1 - b;
    memmove(out, base, b);
    memcpy(out + b, p, n);
    out[b + n] = '\0';
    return out;
}

/* Appends "sep s" to the list in buf, ending it with "..." once full. */
static void append(char *buf, size_t size, const char *sep, const char *s)
{
    size_t len = strlen(buf), need = (len ? strlen(sep) : 0) + strlen(s);

    if (len >= 3 && strcmp(buf + len - 3, "...") == 0)
        return;
    if (len + need + 5 > size) {
        snprintf(buf + len, size - len, "%s...", len ? sep : "");
        return;
    }
    snprintf(buf + len, size - len, "%s%s", len ? sep : "", s);
}

/* Levenshtein distance, for "did you mean"; long words are never close. */
static size_t distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b), row[ORCH_ID_MAX + 1];

    if (la > ORCH_ID_MAX || lb > ORCH_ID_MAX)
        return SIZE_MAX;
    for (size_t j = 0; j <= lb; j++)
        row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j], best = diag + (a[i - 1] != b[j - 1]);
            if (up + 1 < best)
                best = up + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            diag = up;
            row[j] = best;
        }
    }
    return row[lb];
}

/* Keeps cand in *best when it is the closest so far and close enough to be a typo. */
static void consider(const char *word, const char *cand, const char **best, size_t *best_d)
{
    size_t d = distance(word, cand);

    if (d <= 2 && d < strlen(word) && d < *best_d) {
        *best = cand;
        *best_d = d;
    }
}

static void check_keys(struct ctx *c, const json_t *obj, const char *path,
                       const char *const *allowed)
{
    const char *key;
    size_t klen;
    json_t *v;
    char p[PATH];

    /* jansson's iterators take a non-const object; they do not modify it. */
    json_object_keylen_foreach((json_t *)obj, key, klen, v) {
        const char *best = NULL;
        size_t best_d = SIZE_MAX;
        char list[LIST] = "";
        (void)v;
        if (klen == strlen(key) && in_list(key, allowed))
            continue;
        for (const char *const *a = allowed; *a; a++) {
            consider(key, *a, &best, &best_d);
            append(list, sizeof list, ", ", *a);
        }
        if (best)
            problem(c, pkey(p, path, key), "unknown key (did you mean %s?)", best);
        else
            problem(c, pkey(p, path, key), "unknown key (use %s)", list);
    }
}

/* ---- typed values ---------------------------------------------------------- */

static const char *want_string(struct ctx *c, const json_t *v, const char *path)
{
    if (!json_is_string(v)) {
        problem(c, path, "must be a string");
        return NULL;
    }
    if (strlen(json_string_value(v)) != json_string_length(v)) {
        problem(c, path, "must not contain a NUL character");
        return NULL;
    }
    return json_string_value(v);
}

static char *dup_or_report(struct ctx *c, const char *s, const char *path)
{
    char *d = s ? strdup(s) : NULL;

    if (s && !d)
        problem(c, path, "out of memory");
    return d;
}

/* A non-empty string that is not a template: names, images, paths. */
static char *plain(struct ctx *c, const json_t *v, const char *path, size_t max)
{
    const char *s = want_string(c, v, path);

    if (!s)
        return NULL;
    if (!*s || strlen(s) > max) {
        problem(c, path, "must be 1 to %zu bytes", max);
        return NULL;
    }
    if (strstr(s, "${{")) {
        problem(c, path, "templates are expanded only in run, command, code, stdin and env");
        return NULL;
    }
    return dup_or_report(c, s, path);
}

static bool want_bool(struct ctx *c, const json_t *v, const char *path, bool *out)
{
    if (!json_is_boolean(v)) {
        problem(c, path, "must be true or false");
        return false;
    }
    *out = json_is_true(v);
    return true;
}

static bool int_in(struct ctx *c, const json_t *v, const char *path, json_int_t lo,
                   json_int_t hi, json_int_t *out)
{
    if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi) {
        problem(c, path, "must be an integer from %" JSON_INTEGER_FORMAT
                " to %" JSON_INTEGER_FORMAT, lo, hi);
        return false;
    }
    *out = json_integer_value(v);
    return true;
}

static bool number_in(struct ctx *c, const json_t *v, const char *path, double lo, double hi,
                      double *out)
{
    if (!json_is_number(v) || !(json_number_value(v) >= lo && json_number_value(v) <= hi)) {
        problem(c, path, "must be a number from %g to %g", lo, hi);
        return false;
    }
    *out = json_number_value(v);
    return true;
}

/* A duration or a size as the spec takes them: an integer (ms or bytes) or a
 * string with a unit, through runtime/parse.h for the same checks and messages. */
static bool unit(struct ctx *c, const json_t *v, const char *path, bool size, uint64_t max,
                 uint64_t *out)
{
    char text[32];
    const char *s = text;
    rt_error err = {0};

    if (json_is_integer(v)) {
        if (json_integer_value(v) <= 0) {
            problem(c, path, "must be greater than zero");
            return false;
        }
        snprintf(text, sizeof text, "%" JSON_INTEGER_FORMAT "%s", json_integer_value(v),
                 size ? "" : "ms");
    } else if (!json_is_string(v)) {
        problem(c, path, "must be an integer number of %s or a string such as \"%s\"",
                size ? "bytes" : "milliseconds", size ? "256k" : "10s");
        return false;
    } else if (!(s = want_string(c, v, path))) {
        return false;
    }
    int rc = size ? rt_parse_size(s, max, path, out, &err)
                  : rt_parse_duration_ms(s, max, path, out, &err);
    if (rc < 0)
        problem_err(c, path, &err);
    return rc == 0;
}

static bool duration(struct ctx *c, const json_t *v, const char *path, uint64_t max,
                     uint64_t *out)
{
    return unit(c, v, path, false, max, out);
}

/* Counts the text of every template and expression against the total. */
static bool count_template(struct ctx *c, const char *path, size_t len)
{
    c->template_bytes += len + 1;
    if (c->template_bytes <= ORCH_MAX_TEMPLATE_TOTAL)
        return true;
    if (!c->over_templates)
        problem(c, path, "the templates of this workflow total more than %d bytes",
                ORCH_MAX_TEMPLATE_TOTAL);
    c->over_templates = true;
    return false;
}

static orch_template *template(struct ctx *c, const json_t *v, const char *path)
{
    const char *s = want_string(c, v, path);
    orch_template *t = NULL;
    rt_error err = {0};

    if (!s || !count_template(c, path, strlen(s)))
        return NULL;
    if (orch_template_parse(s, &t, &err) < 0)
        problem_err(c, path, &err);
    return t;
}

/* One `${{ expr }}` (whitespace around it allowed) or, when bare_ok, a bare
 * expression. The template parse comes first for its messages; an inside that
 * then fails as one expression means several `${{ }}` or text around them. */
static orch_expr *single_expr(struct ctx *c, const json_t *v, const char *path, bool bare_ok)
{
    const char *s = want_string(c, v, path), *b;
    orch_template *t = NULL;
    orch_expr *e = NULL;
    rt_error err = {0};
    size_t len;

    if (!s || !count_template(c, path, strlen(s)))
        return NULL;
    b = s + strspn(s, " \t\r\n");
    for (len = strlen(b); len && strchr(" \t\r\n", b[len - 1]); len--)
        ;
    bool wrapped = len >= 5 && strncmp(b, "${{", 3) == 0 && strncmp(b + len - 2, "}}", 2) == 0;
    if (!wrapped && !bare_ok) {
        problem(c, path, "must be one ${{ expression }}");
        return NULL;
    }
    if (!wrapped) {
        if (orch_expr_parse(s, &e, &err) < 0)
            problem_err(c, path, &err);
        return e;
    }
    if (orch_template_parse(s, &t, &err) < 0) {
        problem_err(c, path, &err);
        return NULL;
    }
    orch_template_free(t);
    char *inner = strndup(b + 3, len - 5);
    if (!inner || orch_expr_parse(inner, &e, &err) < 0)
        problem(c, path, "%s", inner ? "must be one ${{ expression }}, with no text or other "
                                       "expression around it" : "out of memory");
    free(inner);
    return e;
}

/* Checked with the spec's own decoder on a scratch spec, so sizes and
 * durations get its rules and messages; kept as JSON for the scheduler to
 * merge (profile, then defaults, then the step). */
static json_t *limits(struct ctx *c, const json_t *v, const char *base)
{
    json_t *wrap = json_object();
    rt_error err = {0};
    char p[PATH], lp[PATH];
    rt_spec tmp;
    int rc;

    rt_spec_init(&tmp);
    if (!wrap || json_object_set(wrap, "limits", (json_t *)v) < 0)
        rc = rt_error_set(&err, ENOMEM, "limits");
    else
        rc = rt_spec_settings_from_json(wrap, &tmp, &err);
    double cpus = tmp.limits.cpus;
    rt_spec_free(&tmp);
    json_decref(wrap);
    if (rc < 0) {
        problem_under(c, base, &err);
        return NULL;
    }
    /* rt_spec_validate checks a number's range, and it needs a whole spec. */
    if (!(cpus > 0 && cpus <= RT_MAX_CPUS)) {
        problem(c, pkey(p, pkey(lp, base, "limits"), "cpus"), "must be above 0 and at most %g",
                RT_MAX_CPUS);
        return NULL;
    }
    json_t *copy = json_deep_copy(v);
    if (!copy)
        problem(c, pkey(p, base, "limits"), "out of memory");
    return copy;
}

static bool env_name_ok(const char *s)
{
    if (!is_alpha(s[0]))
        return false;
    for (; *s; s++)
        if (!is_alpha(*s) && !is_digit(*s))
            return false;
    return true;
}

static void env(struct ctx *c, const json_t *v, const char *path, orch_env **out, size_t *n)
{
    const char *key;
    size_t klen;
    json_t *val;
    char p[PATH];

    if (!json_is_object(v)) {
        problem(c, path, "must be an object of strings");
        return;
    }
    if (!(*out = calloc(json_object_size(v) + 1, sizeof **out))) {
        problem(c, path, "out of memory");
        return;
    }
    json_object_keylen_foreach((json_t *)v, key, klen, val) {
        pkey(p, path, key);
        if (klen != strlen(key) || !env_name_ok(key)) {
            problem(c, p, "not a variable name (letters, digits and _, not starting with a "
                    "digit)");
            continue;
        }
        orch_env *e = &(*out)[(*n)++];
        e->name = dup_or_report(c, key, p);
        e->value = template(c, val, p);
    }
}

static char *backend(struct ctx *c, const json_t *v, const char *path)
{
    const char *s = want_string(c, v, path);

    if (s && !in_list(s, backends)) {
        problem(c, path, "unknown backend \"%.40s\" (use native or docker)", s);
        return NULL;
    }
    return s ? dup_or_report(c, s, path) : NULL;
}

/* ---- inputs --------------------------------------------------------------- */

static bool type_ok(orch_type t, const json_t *v)
{
    switch (t) {
    case ORCH_TYPE_STRING: return json_is_string(v);
    case ORCH_TYPE_INTEGER: return json_is_integer(v);
    case ORCH_TYPE_NUMBER: return json_is_number(v);
    case ORCH_TYPE_BOOLEAN: return json_is_boolean(v);
    case ORCH_TYPE_ARRAY: return json_is_array(v);
    case ORCH_TYPE_OBJECT: return json_is_object(v);
    }
    return false;
}

static void input_clear(orch_input *in)
{
    free(in->name);
    json_decref(in->default_value);
    free(in->description);
    *in = (orch_input){0};
}

static void input_decl(struct ctx *c, const char *name, const json_t *v, const char *path,
                       orch_input *in)
{
    const json_t *type = json_object_get(v, "type"), *def = json_object_get(v, "default"),
                 *req = json_object_get(v, "required"), *desc = json_object_get(v, "description");
    char p[PATH];
    size_t t;

    in->name = dup_or_report(c, name, path);
    if (!json_is_object(v)) {
        problem(c, path, "must be an object such as {\"type\": \"string\"}");
        return;
    }
    check_keys(c, v, path, input_keys);
    if (!type)
        problem(c, pkey(p, path, "type"), "required (integer, number, string, boolean, array "
                "or object)");
    for (t = 0; type && t < sizeof type_names / sizeof *type_names; t++)
        if (json_is_string(type) && strcmp(json_string_value(type), type_names[t]) == 0)
            break;
    if (type && t == sizeof type_names / sizeof *type_names) {
        problem(c, pkey(p, path, "type"), "must be integer, number, string, boolean, array or "
                "object");
        type = NULL;
    }
    in->type = type ? (orch_type)t : ORCH_TYPE_STRING;
    in->required = !def;
    if (req && want_bool(c, req, pkey(p, path, "required"), &in->required) && in->required &&
        def)
        problem(c, p, "a required input takes no default");
    if (desc)
        in->description = dup_or_report(c, want_string(c, desc, pkey(p, path, "description")), p);
    if (def && type && !type_ok(in->type, def))
        problem(c, pkey(p, path, "default"), "must be of the input's type, %s, not %s",
                type_names[in->type], rt_json_type_name(def));
    else if (def && !(in->default_value = json_deep_copy(def)))
        problem(c, path, "out of memory");
}

static void input_decls(struct ctx *c, const json_t *v)
{
    orch_workflow *wf = c->wf;
    const char *key;
    json_t *val;
    char p[PATH];

    if (!json_is_object(v)) {
        problem(c, "inputs", "must be an object of input declarations");
        return;
    }
    if (json_object_size(v) > ORCH_MAX_INPUTS) {
        problem(c, "inputs", "%zu inputs, above the limit of %d", json_object_size(v),
                ORCH_MAX_INPUTS);
        return;
    }
    c->input_decls = v;
    if (!(wf->inputs = calloc(json_object_size(v) + 1, sizeof *wf->inputs))) {
        problem(c, "inputs", "out of memory");
        return;
    }
    json_object_foreach((json_t *)v, key, val) {
        if (!is_ident(key)) {
            problem(c, pkey(p, "inputs", key), "input names are letters, digits, _ and -, "
                    "start with a letter or _, and are at most %d bytes", ORCH_ID_MAX);
            continue;
        }
        /* A broken declaration is dropped, so values are not checked against it. */
        orch_input *in = &wf->inputs[wf->n_inputs];
        size_t before = c->reported;
        input_decl(c, key, val, pkey(p, "inputs", key), in);
        if (c->reported == before)
            wf->n_inputs++;
        else
            input_clear(in);
    }
}

static void declared_names(const orch_workflow *wf, char *buf, size_t size)
{
    buf[0] = '\0';
    for (size_t i = 0; i < wf->n_inputs; i++)
        append(buf, size, ", ", wf->inputs[i].name ? wf->inputs[i].name : "?");
    if (!buf[0])
        snprintf(buf, size, "none declared");
}

/* The caller's values over the defaults; every declared input gets a value. */
static void input_values(struct ctx *c, const json_t *given)
{
    orch_workflow *wf = c->wf;
    const char *key;
    json_t *val;
    char p[PATH], names[LIST];

    c->in_values = true;
    if (!(wf->input_values = json_object())) {
        problem(c, "inputs", "out of memory");
        c->in_values = false;
        return;
    }
    if (given && !json_is_object(given)) {
        problem(c, "inputs", "the input values must be an object");
        given = NULL;
    }
    declared_names(wf, names, sizeof names);
    json_object_foreach((json_t *)given, key, val) {
        if (!json_object_get(c->input_decls, key))
            problem(c, pkey(p, "inputs", key), "not an input of this workflow (inputs: %s)",
                    names);
    }
    for (size_t i = 0; i < wf->n_inputs; i++) {
        const orch_input *in = &wf->inputs[i];
        const json_t *v = in->name ? json_object_get(given, in->name) : NULL;
        pkey(p, "inputs", in->name ? in->name : "?");
        if (v && !type_ok(in->type, v))
            problem(c, p, "must be %s (its declared type), not %s", type_names[in->type],
                    rt_json_type_name(v));
        else if (!v && in->required)
            problem(c, p, "required: no value given and no default");
        v = v ? v : in->default_value;
        if (in->name && json_object_set_new(wf->input_values, in->name,
                                            v ? json_deep_copy(v) : json_null()) < 0)
            problem(c, p, "out of memory");
    }
    c->in_values = false;
}

/* ---- workflow-level settings ---------------------------------------------- */

static void defaults(struct ctx *c, const json_t *v)
{
    orch_defaults *d = &c->wf->defaults;
    const json_t *x;
    char p[PATH];

    if (!json_is_object(v)) {
        problem(c, "defaults", "must be an object");
        return;
    }
    check_keys(c, v, "defaults", defaults_keys);
    if ((x = json_object_get(v, "profile")))
        d->profile = plain(c, x, "defaults.profile", NAME_MAX_BYTES);
    if ((x = json_object_get(v, "image")))
        d->image = plain(c, x, "defaults.image", PLAIN_MAX_BYTES);
    if ((x = json_object_get(v, "backend")))
        d->backend = backend(c, x, "defaults.backend");
    if ((x = json_object_get(v, "limits")))
        d->limits = limits(c, x, "defaults");
    if ((x = json_object_get(v, "env")))
        env(c, x, pkey(p, "defaults", "env"), &d->env, &d->n_env);
}

static void budget(struct ctx *c, const json_t *v)
{
    const json_t *x;

    if (!json_is_object(v)) {
        problem(c, "budget", "must be an object such as {\"usd\": 0.5}");
        return;
    }
    check_keys(c, v, "budget", budget_keys);
    if ((x = json_object_get(v, "usd")))
        number_in(c, x, "budget.usd", 0, 1e9, &c->wf->budget_usd);
    if ((x = json_object_get(v, "cpu_seconds")))
        number_in(c, x, "budget.cpu_seconds", 0, 1e12, &c->wf->budget_cpu_seconds);
}

/* ---- steps ------------------------------------------------------------------ */

/* What the step runs: exactly one of run, command and code (+ language). */
static void action(struct ctx *c, orch_step *s, const json_t *v, const char *base)
{
    const json_t *run = json_object_get(v, "run"), *cmd = json_object_get(v, "command"),
                 *code = json_object_get(v, "code"), *lang = json_object_get(v, "language");
    char p[PATH], e[PATH];
    int n = !!run + !!cmd + !!code;

    if (n != 1)
        problem(c, base, "%s", n ? "give only one of run, command and code"
                                 : "needs one of run, command or code");
    s->kind = run ? ORCH_STEP_RUN : cmd ? ORCH_STEP_COMMAND : ORCH_STEP_CODE;
    if (run)
        s->run = template(c, run, pkey(p, base, "run"));
    if (code)
        s->code = template(c, code, pkey(p, base, "code"));
    if (code && !lang)
        problem(c, pkey(p, base, "language"), "required with code");
    if (lang && !code)
        problem(c, pkey(p, base, "language"), "only with code");
    if (lang && code)
        s->language = plain(c, lang, pkey(p, base, "language"), NAME_MAX_BYTES);
    if (!cmd)
        return;
    pkey(p, base, "command");
    if (!json_is_array(cmd) || json_array_size(cmd) == 0) {
        problem(c, p, "must be a non-empty array of strings");
        return;
    }
    if (!(s->command = calloc(json_array_size(cmd), sizeof *s->command))) {
        problem(c, p, "out of memory");
        return;
    }
    for (size_t i = 0; i < json_array_size(cmd); i++)
        s->command[s->n_command++] = template(c, json_array_get(cmd, i), pidx(e, p, i));
}

/* The statuses a retry may follow: every failure but a cancel. */
static bool retryable(rt_status st)
{
    return st != RT_STATUS_OK && st != RT_STATUS_CANCELLED;
}

static void retry_on(struct ctx *c, const json_t *v, const char *path, unsigned *on)
{
    char p[PATH], list[LIST] = "";
    rt_status st;

    for (st = RT_STATUS_OK; st <= RT_STATUS_ERROR; st++)
        if (retryable(st))
            append(list, sizeof list, ", ", rt_status_name(st));
    if (!json_is_array(v) || json_array_size(v) == 0) {
        problem(c, path, "must be a non-empty array of statuses (%s)", list);
        return;
    }
    *on = 0;
    for (size_t i = 0; i < json_array_size(v); i++) {
        const char *s = want_string(c, json_array_get(v, i), pidx(p, path, i));
        if (!s)
            continue;
        if (rt_status_from_name(s, &st) < 0 || !retryable(st))
            problem(c, p, "\"%.40s\" is not a status that can be retried (use %s)", s, list);
        else
            *on |= 1u << st;
    }
}

static void retry(struct ctx *c, const json_t *v, const char *path, orch_retry *r)
{
    const json_t *x;
    json_int_t n;
    char p[PATH];

    if (!json_is_object(v)) {
        problem(c, path, "must be an object such as {\"max_attempts\": 3}");
        return;
    }
    check_keys(c, v, path, retry_keys);
    if ((x = json_object_get(v, "max_attempts")) &&
        int_in(c, x, pkey(p, path, "max_attempts"), 1, ORCH_MAX_ATTEMPTS, &n))
        r->max_attempts = (unsigned)n;
    bool backoff_ok = !(x = json_object_get(v, "backoff")) ||
              duration(c, x, pkey(p, path, "backoff"), ORCH_MAX_BACKOFF_MS, &r->backoff_ms);
    if ((x = json_object_get(v, "factor")))
        number_in(c, x, pkey(p, path, "factor"), 1, ORCH_MAX_BACKOFF_FACTOR, &r->factor);
    if ((x = json_object_get(v, "max_backoff")) &&
        duration(c, x, pkey(p, path, "max_backoff"), ORCH_MAX_BACKOFF_MS, &r->max_backoff_ms) &&
        backoff_ok && r->max_backoff_ms < r->backoff_ms)
        problem(c, p, "must not be shorter than backoff");
    if ((x = json_object_get(v, "on")))
        retry_on(c, x, pkey(p, path, "on"), &r->on);
}

/* keys and [n] indexes: "items[0].name", "[2]". */
static bool selector_ok(const char *s)
{
    static const char key_chars[] =
        "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-";

    for (bool first = true; *s; first = false) {
        if (*s == '[') {
            size_t d = strspn(s + 1, "0123456789");
            if (d == 0 || s[d + 1] != ']')
                return false;
            s += d + 2;
            continue;
        }
        if (!first && *s++ != '.')
            return false;
        size_t n = strspn(s, key_chars);
        if (n == 0)
            return false;
        s += n;
    }
    return true;
}

/* Relative to /workspace ("/workspace/" in front allowed), never out of it. */
static bool workspace_path_ok(const char *s)
{
    if (strncmp(s, "/workspace/", 11) == 0)
        s += 11;
    if (!*s || *s == '/' || strlen(s) > RT_MAX_FILE_PATH)
        return false;
    for (const char *comp = s; comp; comp = strchr(comp, '/') ? strchr(comp, '/') + 1 : NULL)
        if (strncmp(comp, "..", 2) == 0 && (comp[2] == '/' || comp[2] == '\0'))
            return false;
    return true;
}

static void output_path(struct ctx *c, orch_output *o, const json_t *v, const char *path)
{
    const char *s = want_string(c, v, path);

    if (!s)
        return;
    if (o->from == ORCH_OUTPUT_FILE && !workspace_path_ok(s))
        problem(c, path, "must be a path inside /workspace, such as \"out/result.json\"");
    else if (o->from == ORCH_OUTPUT_STDOUT_JSON && !selector_ok(s))
        problem(c, path, "must be keys and [n] indexes, such as \"items[0].name\"");
    else if (o->from != ORCH_OUTPUT_FILE && o->from != ORCH_OUTPUT_STDOUT_JSON)
        problem(c, path, "only with from file or stdout_json");
    else
        o->path = dup_or_report(c, strncmp(s, "/workspace/", 11) == 0 ? s + 11 : s, path);
}

static void output(struct ctx *c, orch_output *o, const json_t *v, const char *path)
{
    const json_t *from, *x;
    const char *s = NULL;
    char p[PATH];
    size_t f;

    o->max_bytes = ORCH_DEFAULT_OUTPUT_BYTES;
    if (!json_is_object(v)) {
        problem(c, path, "must be an object such as {\"from\": \"stdout\"}");
        return;
    }
    check_keys(c, v, path, output_keys);
    if (!(from = json_object_get(v, "from"))) {
        problem(c, pkey(p, path, "from"), "required (output, stdout, stdout_json or file)");
        return;
    }
    if ((s = want_string(c, from, pkey(p, path, "from"))) == NULL)
        return;
    for (f = 0; f < sizeof output_froms / sizeof *output_froms; f++)
        if (strcmp(s, output_froms[f]) == 0)
            break;
    if (f == sizeof output_froms / sizeof *output_froms) {
        problem(c, p, "must be output, stdout, stdout_json or file");
        return;
    }
    o->from = (orch_output_from)f;
    if ((x = json_object_get(v, "path")))
        output_path(c, o, x, pkey(p, path, "path"));
    else if (o->from == ORCH_OUTPUT_FILE)
        problem(c, pkey(p, path, "path"), "required with from file");
    if ((x = json_object_get(v, "max_bytes")))
        unit(c, x, pkey(p, path, "max_bytes"), true, ORCH_MAX_OUTPUT_BYTES, &o->max_bytes);
}

static void outputs(struct ctx *c, orch_step *s, const json_t *v, const char *path)
{
    const char *key;
    json_t *val;
    char p[PATH];

    if (!json_is_object(v)) {
        problem(c, path, "must be an object of outputs such as {\"n\": {\"from\": \"stdout\"}}");
        return;
    }
    if (json_object_size(v) > ORCH_MAX_OUTPUTS) {
        problem(c, path, "%zu outputs, above the limit of %d", json_object_size(v),
                ORCH_MAX_OUTPUTS);
        return;
    }
    if (!(s->outputs = calloc(json_object_size(v) + 1, sizeof *s->outputs))) {
        problem(c, path, "out of memory");
        return;
    }
    json_object_foreach((json_t *)v, key, val) {
        pkey(p, path, key);
        if (!is_ident(key)) {
            problem(c, p, "output names are letters, digits, _ and -, start with a letter "
                    "or _, and are at most %d bytes", ORCH_ID_MAX);
            continue;
        }
        orch_output *o = &s->outputs[s->n_outputs++];
        o->name = dup_or_report(c, key, p);
        output(c, o, val, p);
    }
}

static void approval(struct ctx *c, orch_step *s, const json_t *v, const char *path)
{
    const json_t *t;
    char p[PATH];

    s->approval = true;
    s->approval_timeout_ms = ORCH_DEFAULT_APPROVAL_MS;
    if (!json_is_object(v)) {
        problem(c, path, "must be an object such as {\"timeout\": \"24h\"}");
        return;
    }
    check_keys(c, v, path, approval_keys);
    if ((t = json_object_get(v, "timeout")))
        duration(c, t, pkey(p, path, "timeout"), ORCH_MAX_TIMEOUT_MS, &s->approval_timeout_ms);
}

static void step_id(struct ctx *c, orch_step *s, const json_t *v, const char *base, size_t i)
{
    const json_t *id = json_object_get(v, "id");
    char p[PATH];
    const char *str;

    pkey(p, base, "id");
    if (!id) {
        problem(c, p, "required");
        return;
    }
    if (!(str = want_string(c, id, p)))
        return;
    size_t n = strlen(str);
    if (n == 0 || n > ORCH_ID_MAX ||
        strspn(str, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") != n) {
        problem(c, p, "must be 1 to %d letters, digits, _ and -", ORCH_ID_MAX);
        return;
    }
    const json_t *first = json_object_get(c->ids, str);
    if (first)
        problem(c, p, "duplicate id \"%s\" (also steps[%" JSON_INTEGER_FORMAT "])", str,
                json_integer_value(first));
    else if (json_object_set_new(c->ids, str, json_integer((json_int_t)i)) < 0)
        problem(c, p, "out of memory");
    s->id = dup_or_report(c, str, p);
}

/* Image, profile, backend, limits, env, stdin and timeout. */
static void sandbox_settings(struct ctx *c, orch_step *s, const json_t *v, const char *base)
{
    const json_t *x;
    char p[PATH];

    if ((x = json_object_get(v, "image")))
        s->image = plain(c, x, pkey(p, base, "image"), PLAIN_MAX_BYTES);
    if ((x = json_object_get(v, "profile")))
        s->profile = plain(c, x, pkey(p, base, "profile"), NAME_MAX_BYTES);
    if ((x = json_object_get(v, "backend")))
        s->backend = backend(c, x, pkey(p, base, "backend"));
    if ((x = json_object_get(v, "limits")))
        s->limits = limits(c, x, base);
    if ((x = json_object_get(v, "env")))
        env(c, x, pkey(p, base, "env"), &s->env, &s->n_env);
    if ((x = json_object_get(v, "stdin")))
        s->stdin_text = template(c, x, pkey(p, base, "stdin"));
    if ((x = json_object_get(v, "timeout")))
        duration(c, x, pkey(p, base, "timeout"), RT_MAX_WALL_MS, &s->timeout_ms);
}

static void step(struct ctx *c, orch_step *s, const json_t *v, size_t i)
{
    const json_t *x;
    char base[PATH], p[PATH];

    pidx(base, "steps", i);
    s->retry = (orch_retry){
        .max_attempts = 1,
        .backoff_ms = ORCH_DEFAULT_BACKOFF_MS,
        .factor = ORCH_DEFAULT_BACKOFF_FACTOR,
        .max_backoff_ms = ORCH_DEFAULT_MAX_BACKOFF_MS,
        .on = 1u << RT_STATUS_EXIT_NONZERO | 1u << RT_STATUS_TIMEOUT,
    };
    if (!json_is_object(v)) {
        problem(c, base, "must be an object with an id");
        return;
    }
    check_keys(c, v, base, step_keys);
    step_id(c, s, v, base, i);
    action(c, s, v, base);
    sandbox_settings(c, s, v, base);
    if ((x = json_object_get(v, "when")))
        s->when = single_expr(c, x, pkey(p, base, "when"), true);
    if ((x = json_object_get(v, "for_each")))
        s->for_each = single_expr(c, x, pkey(p, base, "for_each"), false);
    if ((x = json_object_get(v, "retry")))
        retry(c, x, pkey(p, base, "retry"), &s->retry);
    if ((x = json_object_get(v, "continue_on_error")))
        want_bool(c, x, pkey(p, base, "continue_on_error"), &s->continue_on_error);
    if ((x = json_object_get(v, "outputs")))
        outputs(c, s, x, pkey(p, base, "outputs"));
    if ((x = json_object_get(v, "approval")))
        approval(c, s, x, pkey(p, base, "approval"));
}

/* ---- the DAG ------------------------------------------------------------------ */

static long step_index(const struct ctx *c, const char *id)
{
    const json_t *v = json_object_get(c->ids, id);

    return v ? (long)json_integer_value(v) : -1;
}

static void unknown_step(struct ctx *c, const char *path, const char *id)
{
    const char *best = NULL;
    size_t best_d = SIZE_MAX;

    for (size_t i = 0; i < c->wf->n_steps; i++)
        if (c->wf->steps[i].id)
            consider(id, c->wf->steps[i].id, &best, &best_d);
    if (best)
        problem(c, path, "unknown step \"%.64s\" (did you mean %s?)", id, best);
    else
        problem(c, path, "unknown step \"%.64s\"", id);
}

static void needs(struct ctx *c, orch_step *s, const json_t *v, const char *base)
{
    char path[PATH], p[PATH];
    const char *id;

    pkey(path, base, "needs");
    if (!json_is_array(v)) {
        problem(c, path, "must be an array of step ids");
        return;
    }
    if (json_array_size(v) > ORCH_MAX_NEEDS) {
        problem(c, path, "%zu needs, above the limit of %d", json_array_size(v), ORCH_MAX_NEEDS);
        return;
    }
    if (!(s->needs = calloc(json_array_size(v) + 1, sizeof *s->needs))) {
        problem(c, path, "out of memory");
        return;
    }
    for (size_t k = 0; k < json_array_size(v); k++) {
        if (!(id = want_string(c, json_array_get(v, k), pidx(p, path, k))))
            continue;
        long j = step_index(c, id);
        bool dup = false;
        for (size_t m = 0; j >= 0 && m < s->n_needs; m++)
            dup = dup || s->needs[m] == (size_t)j;
        if (j < 0)
            unknown_step(c, p, id);
        else if (dup)
            problem(c, p, "\"%s\" is listed twice", id);
        else
            s->needs[s->n_needs++] = (size_t)j;
    }
}


static const char *step_label(const orch_workflow *wf, size_t i, char *buf, size_t size)
{
    if (wf->steps[i].id)
        return wf->steps[i].id;
    snprintf(buf, size, "steps[%zu]", i);
    return buf;
}

/* The cycle path[from..len) (each there needs the next, the last needs
 * path[from]) in the order work flows: t = 0 is path[from], then backwards. */
static size_t flow_at(const size_t *path, size_t from, size_t len, size_t t)
{
    return t == 0 ? path[from] : path[len - t];
}

/* "cycle a -> b -> a" (b needs a), from the step of the cycle declared first. */
static void report_cycle(struct ctx *c, const size_t *path, size_t from, size_t len)
{
    size_t m = len - from, r = 0;
    char msg[sizeof c->pr->v->message - 8] = "", label[32];

    for (size_t t = 1; t < m; t++)
        if (flow_at(path, from, len, t) < flow_at(path, from, len, r))
            r = t;
    for (size_t t = 0; t <= m; t++) {
        size_t node = flow_at(path, from, len, (r + t) % m);
        append(msg, sizeof msg, " -> ", step_label(c->wf, node, label, sizeof label));
    }
    problem(c, "steps", "cycle %s", msg);
}

/* Walks needs among the steps left unplaced, reporting each cycle once. */
static void find_cycles(struct ctx *c, const bool *placed)
{
    orch_workflow *wf = c->wf;
    cleanup_free unsigned char *mark = calloc(wf->n_steps, 1); /* 1: this walk, 2: done */
    cleanup_free size_t *path = calloc(wf->n_steps, sizeof *path);

    if (!mark || !path) {
        problem(c, "steps", "out of memory");
        return;
    }
    for (size_t i = 0; i < wf->n_steps; i++) {
        size_t len = 0, x = i, k;
        while (!placed[x] && mark[x] == 0) {
            mark[x] = 1;
            path[len++] = x;
            /* An unplaced step always has an unplaced need. */
            for (k = 0; placed[wf->steps[x].needs[k]]; k++)
                ;
            x = wf->steps[x].needs[k];
        }
        if (!placed[x] && mark[x] == 1) {
            size_t from = 0;
            while (path[from] != x)
                from++;
            report_cycle(c, path, from, len);
        }
        for (k = 0; k < len; k++)
            mark[path[k]] = 2;
    }
}

/* Kahn's algorithm, ties in document order; what is left sits on or behind a cycle. */
static void order(struct ctx *c)
{
    orch_workflow *wf = c->wf;
    size_t n = wf->n_steps, edges = 0, head = 0, tail = 0;

    for (size_t i = 0; i < n; i++)
        edges += wf->steps[i].n_needs;
    cleanup_free size_t *left = calloc(n, sizeof *left);
    cleanup_free size_t *start = calloc(n + 1, sizeof *start); /* dependants of j: */
    cleanup_free size_t *fill = calloc(n, sizeof *fill);       /* dep[start[j]..start[j+1]) */
    cleanup_free size_t *dep = calloc(edges + 1, sizeof *dep);
    cleanup_free bool *placed = calloc(n, sizeof *placed);
    wf->order = calloc(n, sizeof *wf->order);
    if (!left || !start || !fill || !dep || !placed || !wf->order) {
        problem(c, "steps", "out of memory");
        return;
    }
    for (size_t i = 0; i < n; i++)
        for (size_t k = 0; k < wf->steps[i].n_needs; k++)
            start[wf->steps[i].needs[k] + 1]++;
    for (size_t j = 0; j < n; j++)
        start[j + 1] += start[j];
    for (size_t i = 0; i < n; i++) {
        for (size_t k = 0; k < wf->steps[i].n_needs; k++) {
            size_t j = wf->steps[i].needs[k];
            dep[start[j] + fill[j]++] = i;
        }
        if ((left[i] = wf->steps[i].n_needs) == 0)
            wf->order[tail++] = i;
    }
    while (head < tail) {
        size_t x = wf->order[head++];
        placed[x] = true;
        for (size_t e = start[x]; e < start[x + 1]; e++)
            if (--left[dep[e]] == 0)
                wf->order[tail++] = dep[e];
    }
    c->n_ordered = tail;
    if (tail < n)
        find_cycles(c, placed);
}

/* ---- references in templates ----------------------------------------------------- */

enum scope { IN_DEFAULTS, IN_BODY, IN_WHEN, IN_FOR_EACH };

struct refs {
    struct ctx *c;
    char path[PATH];       /* of the template being checked */
    enum scope scope;
    size_t step;           /* the referencing step */
    bool fan_out;          /* it has for_each */
    const uint64_t *anc;   /* its ancestors as bits; NULL when unknown (a cycle) */
};

static void output_names(const json_t *outs, char *buf, size_t size)
{
    const char *key;
    json_t *v;

    buf[0] = '\0';
    json_object_foreach((json_t *)outs, key, v) {
        (void)v;
        append(buf, size, ", ", key);
    }
    if (!buf[0])
        snprintf(buf, size, "none declared");
}

/* A value of a step that is not an ancestor may not exist yet when this one runs. */
static void step_ref(struct refs *r, const char *id, const char *field)
{
    struct ctx *c = r->c;
    long j = step_index(c, id);
    char names[LIST];

    if (j < 0) {
        problem(c, r->path, "steps.%.64s: no such step", id);
    } else if ((size_t)j == r->step) {
        problem(c, r->path, "steps.%.64s: a step cannot read its own status or outputs", id);
    } else if (r->anc && !(r->anc[j / 64] >> (j % 64) & 1)) {
        problem(c, r->path, "steps.%.64s: not among this step's needs, direct or indirect "
                "(add \"%.64s\" to needs)", id, id);
    } else if (strncmp(field, "outputs.", 8) == 0) {
        const json_t *outs = json_object_get(json_array_get(c->steps_json, (size_t)j), "outputs");
        if (json_object_get(outs, field + 8))
            return;
        output_names(outs, names, sizeof names);
        problem(c, r->path, "steps.%.64s.%.80s: no such output (outputs: %s)", id, field, names);
    }
}

static void check_ref(void *arg, const char *kind, const char *name, const char *field)
{
    struct refs *r = arg;
    struct ctx *c = r->c;
    char names[LIST];

    if (strcmp(kind, "input") == 0) {
        if (json_object_get(c->input_decls, name))
            return;
        declared_names(c->wf, names, sizeof names);
        problem(c, r->path, "inputs.%.64s: no such input (inputs: %s)", name, names);
    } else if (r->scope == IN_DEFAULTS) {
        problem(c, r->path, "%s: defaults can read only inputs",
                strcmp(kind, "step") == 0 ? "steps" : kind);
    } else if (strcmp(kind, "step") == 0) {
        step_ref(r, name, field);
    } else if (r->scope == IN_FOR_EACH) {
        problem(c, r->path, "%s: for_each cannot read its own items", kind);
    } else if (r->scope == IN_WHEN) {
        problem(c, r->path, "%s: when is evaluated once, before the fan-out", kind);
    } else if (!r->fan_out) {
        problem(c, r->path, "%s: only inside a for_each step", kind);
    }
}

static void env_refs(struct refs *r, const orch_env *env, size_t n, const char *base)
{
    char path[PATH];

    pkey(path, base, "env");
    for (size_t i = 0; i < n; i++) {
        if (!env[i].name || !env[i].value)
            continue;
        pkey(r->path, path, env[i].name);
        orch_template_refs(env[i].value, check_ref, r);
    }
}

static void template_refs(struct refs *r, const orch_template *t, const char *base,
                          const char *key)
{
    if (!t)
        return;
    pkey(r->path, base, key);
    orch_template_refs(t, check_ref, r);
}

static void step_refs(struct ctx *c, size_t i, const uint64_t *anc)
{
    const orch_step *s = &c->wf->steps[i];
    char base[PATH], cmd[PATH];
    struct refs r = {
        .c = c, .scope = IN_BODY, .step = i, .anc = anc,
        .fan_out = json_object_get(json_array_get(c->steps_json, i), "for_each") != NULL,
    };

    pidx(base, "steps", i);
    template_refs(&r, s->run, base, "run");
    template_refs(&r, s->code, base, "code");
    template_refs(&r, s->stdin_text, base, "stdin");
    pkey(cmd, base, "command");
    for (size_t k = 0; k < s->n_command; k++) {
        pidx(r.path, cmd, k);
        if (s->command[k])
            orch_template_refs(s->command[k], check_ref, &r);
    }
    env_refs(&r, s->env, s->n_env, base);
    r.scope = IN_WHEN;
    pkey(r.path, base, "when");
    if (s->when)
        orch_expr_refs(s->when, check_ref, &r);
    r.scope = IN_FOR_EACH;
    pkey(r.path, base, "for_each");
    if (s->for_each)
        orch_expr_refs(s->for_each, check_ref, &r);
}

/* Ancestors as bitsets built in topological order: a step's are its needs
 * and theirs. */
static void references(struct ctx *c)
{
    orch_workflow *wf = c->wf;
    size_t n = wf->n_steps, words = (n + 63) / 64;
    cleanup_free uint64_t *anc = calloc(n * words, sizeof *anc);
    cleanup_free bool *known = calloc(n, sizeof *known);

    if (!anc || !known) {
        problem(c, "steps", "out of memory");
        return;
    }
    for (size_t t = 0; t < c->n_ordered; t++) {
        size_t x = wf->order[t];
        uint64_t *ax = anc + x * words;
        for (size_t k = 0; k < wf->steps[x].n_needs; k++) {
            size_t j = wf->steps[x].needs[k];
            for (size_t w = 0; w < words; w++)
                ax[w] |= anc[j * words + w];
            ax[j / 64] |= 1ull << (j % 64);
        }
        known[x] = true;
    }
    for (size_t i = 0; i < n; i++)
        step_refs(c, i, known[i] ? anc + i * words : NULL);
}

/* ---- the document ------------------------------------------------------------------ */

static void steps(struct ctx *c, const json_t *v)
{
    orch_workflow *wf = c->wf;
    char base[PATH];
    const json_t *x;

    if (!v) {
        problem(c, "steps", "required");
        return;
    }
    if (!json_is_array(v) || json_array_size(v) == 0) {
        problem(c, "steps", "must be a non-empty array of steps");
        return;
    }
    if (json_array_size(v) > ORCH_MAX_STEPS) {
        problem(c, "steps", "%zu steps, above the limit of %d", json_array_size(v),
                ORCH_MAX_STEPS);
        return;
    }
    c->steps_json = v;
    if (!(wf->steps = calloc(json_array_size(v), sizeof *wf->steps))) {
        problem(c, "steps", "out of memory");
        return;
    }
    wf->n_steps = json_array_size(v);
    for (size_t i = 0; i < wf->n_steps; i++)
        step(c, &wf->steps[i], json_array_get(v, i), i);
    /* Needs resolve once every id is known. */
    for (size_t i = 0; i < wf->n_steps; i++)
        if ((x = json_object_get(json_array_get(v, i), "needs")))
            needs(c, &wf->steps[i], x, pidx(base, "steps", i));
    order(c);
    references(c);
}

static void document(struct ctx *c, const json_t *doc, const json_t *given)
{
    orch_workflow *wf = c->wf;
    const json_t *x;
    json_int_t n;

    wf->max_parallel = ORCH_DEFAULT_MAX_PARALLEL;
    wf->timeout_ms = ORCH_DEFAULT_TIMEOUT_MS;
    if (!json_is_object(doc)) {
        problem(c, "", "a workflow must be a JSON object");
        return;
    }
    check_keys(c, doc, "", top_keys);
    if (!(x = json_object_get(doc, "name")))
        problem(c, "name", "required");
    else
        wf->name = plain(c, x, "name", NAME_MAX_BYTES);
    if ((x = json_object_get(doc, "description")))
        wf->description = dup_or_report(c, want_string(c, x, "description"), "description");
    if ((x = json_object_get(doc, "inputs")))
        input_decls(c, x);
    input_values(c, given);
    if ((x = json_object_get(doc, "defaults")))
        defaults(c, x);
    if ((x = json_object_get(doc, "budget")))
        budget(c, x);
    if ((x = json_object_get(doc, "max_parallel")) &&
        int_in(c, x, "max_parallel", 1, ORCH_MAX_PARALLEL, &n))
        wf->max_parallel = (unsigned)n;
    if ((x = json_object_get(doc, "timeout")))
        duration(c, x, "timeout", ORCH_MAX_TIMEOUT_MS, &wf->timeout_ms);
    steps(c, json_object_get(doc, "steps"));
    struct refs r = {.c = c, .scope = IN_DEFAULTS};
    env_refs(&r, wf->defaults.env, wf->defaults.n_env, "defaults");
}

int orch_workflow_parse(const json_t *doc, const json_t *inputs, orch_workflow **out,
                        orch_problems *problems)
{
    struct ctx c = {.pr = problems};

    *problems = (orch_problems){0};
    *out = NULL;
    c.wf = calloc(1, sizeof *c.wf);
    c.ids = json_object();
    if (c.wf && c.ids)
        document(&c, doc, inputs);
    else
        problem(&c, "", "out of memory");
    json_decref(c.ids);
    if (c.dropped) {
        /* problem() keeps the last slot for this. */
        orch_problem *q = &problems->v[problems->n++];
        snprintf(q->path, sizeof q->path, "%s", "");
        snprintf(q->message, sizeof q->message, "%zu more problems not shown", c.dropped);
    }
    if (c.failed) {
        orch_workflow_free(c.wf);
        return -1;
    }
    *out = c.wf;
    return 0;
}

/* ---- freeing and lookup ------------------------------------------------------------- */

static void env_free(orch_env *env, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(env[i].name);
        orch_template_free(env[i].value);
    }
    free(env);
}

static void step_free(orch_step *s)
{
    free(s->id);
    orch_template_free(s->run);
    for (size_t i = 0; i < s->n_command; i++)
        orch_template_free(s->command[i]);
    free(s->command);
    orch_template_free(s->code);
    free(s->language);
    free(s->image);
    free(s->profile);
    free(s->backend);
    json_decref(s->limits);
    env_free(s->env, s->n_env);
    orch_template_free(s->stdin_text);
    free(s->needs);
    orch_expr_free(s->when);
    orch_expr_free(s->for_each);
    for (size_t i = 0; i < s->n_outputs; i++) {
        free(s->outputs[i].name);
        free(s->outputs[i].path);
    }
    free(s->outputs);
}

void orch_workflow_free(orch_workflow *wf)
{
    if (!wf)
        return;
    free(wf->name);
    free(wf->description);
    for (size_t i = 0; i < wf->n_inputs; i++)
        input_clear(&wf->inputs[i]);
    free(wf->inputs);
    json_decref(wf->input_values);
    free(wf->defaults.profile);
    json_decref(wf->defaults.limits);
    free(wf->defaults.image);
    free(wf->defaults.backend);
    env_free(wf->defaults.env, wf->defaults.n_env);
    for (size_t i = 0; i < wf->n_steps; i++)
        step_free(&wf->steps[i]);
    free(wf->steps);
    free(wf->order);
    free(wf);
}

long orch_workflow_step(const orch_workflow *wf, const char *id)
{
    for (size_t i = 0; i < wf->n_steps; i++)
        if (wf->steps[i].id && strcmp(wf->steps[i].id, id) == 0)
            return (long)i;
    return -1;
}
