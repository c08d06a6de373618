/* Expressions and templates: a hand-written lexer and recursive-descent parser
 * into a small tree, and an evaluator over a JSON context. Positions kept in
 * the tree are byte offsets into the text the caller gave (the whole template
 * for an expression inside one), so every message points at the source. */
#include "expr.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "spec_json.h"

/* ---- the tree ---------------------------------------------------------- */

enum kind { N_LIT, N_REF, N_CALL, N_NOT, N_AND, N_OR, N_EQ, N_NE, N_LT, N_GT, N_LE, N_GE };
enum root { ROOT_INPUT, ROOT_STEP, ROOT_ITEM, ROOT_INDEX };
enum func { FN_ALWAYS, FN_SUCCESS, FN_FAILURE };

struct access {
    char *key;           /* NULL for an array index */
    json_int_t index;
    bool bracket;        /* written ['key']: shown that way in messages */
};

struct node {
    enum kind kind;
    size_t pos;
    json_t *lit;                /* N_LIT */
    struct node *lhs, *rhs;     /* operators; N_NOT uses lhs */
    enum func func;             /* N_CALL */
    enum root root;             /* N_REF */
    char *name;                 /* input name or step id */
    char *field;                /* "status" or "outputs.NAME" */
    struct access *acc;
    size_t nacc;
};

struct orch_expr {
    struct node *root;
};

static void node_free(struct node *n)
{
    if (!n)
        return;
    json_decref(n->lit);
    node_free(n->lhs);
    node_free(n->rhs);
    free(n->name);
    free(n->field);
    for (size_t i = 0; i < n->nacc; i++)
        free(n->acc[i].key);
    free(n->acc);
    free(n);
}

/* ---- messages ---------------------------------------------------------- */

/* Copies text for a message: control bytes become '?', long text is cut. */
static void quote(char *buf, size_t size, const char *s, size_t len)
{
    const size_t max = 40;
    size_t n = len > max ? max : len;

    if (n >= size)
        n = size - 1;
    for (size_t i = 0; i < n; i++)
        buf[i] = (unsigned char)s[i] < 0x20 || s[i] == 0x7f ? '?' : s[i];
    buf[n] = '\0';
    if (len > n && n + 4 <= size - 1)
        memcpy(buf + n, "...", 4);
}

/* "a, b, c" or "none", cut to fit. */
static void list_keys(const json_t *obj, char *buf, size_t size)
{
    const char *key;
    json_t *v;
    size_t len = 0;

    snprintf(buf, size, "none");
    json_object_foreach((json_t *)obj, key, v) {
        int n = snprintf(buf + len, size - len, "%s%s", len ? ", " : "", key);
        if (n < 0 || (size_t)n >= size - len) {
            snprintf(buf + (len < size - 5 ? len : size - 5), 5, "...");
            return;
        }
        len += (size_t)n;
    }
}

/* ---- lexer ------------------------------------------------------------- */

enum tok {
    T_END, T_NUM, T_STR, T_IDENT, T_LPAREN, T_RPAREN, T_LBRACK, T_RBRACK, T_DOT,
    T_NOT, T_EQ, T_NE, T_LT, T_GT, T_LE, T_GE, T_AND, T_OR
};

struct parser {
    const char *s;   /* the expression text, not NUL-terminated in a template */
    size_t len;
    size_t base;     /* offset of s in what the caller gave, for messages */
    size_t pos;      /* next byte to lex */
    int depth;
    rt_error *err;
    enum tok tok;    /* the current token, s[start, end) */
    size_t start, end;
    json_t *lit;     /* value of a T_NUM or T_STR, owned until taken */
};

static int perr(struct parser *p, size_t at, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int perr(struct parser *p, size_t at, const char *fmt, ...)
{
    char msg[RT_ERROR_MAX];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return rt_error_set(p->err, 0, "at %zu: %s", p->base + at, msg);
}

static bool is_ident_start(char c)
{
    return isalpha((unsigned char)c) || c == '_';
}

static bool is_ident_char(char c)
{
    return isalnum((unsigned char)c) || c == '_' || c == '-';
}

static int lex_number(struct parser *p)
{
    const char *s = p->s;
    size_t i = p->start + (s[p->start] == '-');
    bool real = false;
    char text[ORCH_EXPR_MAX_BYTES + 1];
    char shown[48];

    while (i < p->len && isdigit((unsigned char)s[i]))
        i++;
    if (i < p->len && s[i] == '.') {
        real = true;
        if (++i >= p->len || !isdigit((unsigned char)s[i]))
            return perr(p, i, "expected a digit after '.'");
        while (i < p->len && isdigit((unsigned char)s[i]))
            i++;
    }
    p->end = i;
    memcpy(text, s + p->start, i - p->start);
    text[i - p->start] = '\0';
    quote(shown, sizeof shown, text, i - p->start);
    errno = 0;
    if (real) {
        double d = strtod(text, NULL);
        if (!isfinite(d))
            return perr(p, p->start, "number %s is out of range", shown);
        p->lit = json_real(d);
    } else {
        long long v = strtoll(text, NULL, 10);
        if (errno == ERANGE)
            return perr(p, p->start, "number %s is out of range", shown);
        p->lit = json_integer(v);
    }
    if (!p->lit)
        return rt_error_set(p->err, ENOMEM, "number literal");
    p->tok = T_NUM;
    return 0;
}

static int unescape(struct parser *p, size_t at, char c, char *out)
{
    switch (c) {
    case '\\':
    case '\'':
    case '"':
        *out = c;
        return 0;
    case 'n':
        *out = '\n';
        return 0;
    case 't':
        *out = '\t';
        return 0;
    case 'r':
        *out = '\r';
        return 0;
    default:
        return perr(p, at, "unknown escape '\\%c' (use \\\\, \\', \\\", \\n, \\t or \\r)",
                    (unsigned char)c < 0x20 || c == 0x7f ? '?' : c);
    }
}

static int lex_string(struct parser *p)
{
    char q = p->s[p->start];
    cleanup_free char *buf = malloc(p->len - p->start);
    size_t n = 0, i = p->start + 1;

    if (!buf)
        return rt_error_set(p->err, ENOMEM, "string literal");
    for (; i < p->len && p->s[i] != q; i++) {
        if (p->s[i] == '\\') {
            if (++i >= p->len)
                break;
            if (unescape(p, i - 1, p->s[i], &buf[n++]) < 0)
                return -1;
        } else {
            buf[n++] = p->s[i];
        }
    }
    if (i >= p->len)
        return perr(p, p->start, "unterminated string");
    p->end = i + 1;
    p->lit = json_stringn(buf, n);
    if (!p->lit)
        return perr(p, p->start, "string is not valid UTF-8");
    p->tok = T_STR;
    return 0;
}

/* Two-byte operators first, then one-byte ones; '=', '&' and '|' alone are
 * refused with a hint since they are the likely typos. */
static int lex_punct(struct parser *p)
{
    static const struct {
        const char *text;
        enum tok tok;
    } ops[] = {
        {"==", T_EQ}, {"!=", T_NE}, {"<=", T_LE}, {">=", T_GE}, {"&&", T_AND}, {"||", T_OR},
        {"(", T_LPAREN}, {")", T_RPAREN}, {"[", T_LBRACK}, {"]", T_RBRACK}, {".", T_DOT},
        {"!", T_NOT}, {"<", T_LT}, {">", T_GT},
    };
    const char *s = p->s + p->start;
    size_t left = p->len - p->start;

    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++) {
        size_t n = strlen(ops[i].text);
        if (n <= left && memcmp(s, ops[i].text, n) == 0) {
            p->tok = ops[i].tok;
            p->end = p->start + n;
            return 0;
        }
    }
    if (*s == '=' || *s == '&' || *s == '|')
        return perr(p, p->start, "unexpected '%c' (did you mean '%c%c'?)", *s, *s, *s);
    if ((unsigned char)*s < 0x20 || (unsigned char)*s >= 0x7f)
        return perr(p, p->start, "unexpected byte 0x%02x", (unsigned char)*s);
    return perr(p, p->start, "unexpected character '%c'", *s);
}

static int next(struct parser *p)
{
    const char *s = p->s;

    json_decref(p->lit);
    p->lit = NULL;
    while (p->pos < p->len && (s[p->pos] == ' ' || s[p->pos] == '\t' || s[p->pos] == '\n' ||
                               s[p->pos] == '\r'))
        p->pos++;
    p->start = p->end = p->pos;
    int rc;
    if (p->pos >= p->len) {
        p->tok = T_END;
        rc = 0;
    } else if (isdigit((unsigned char)s[p->pos]) ||
               (s[p->pos] == '-' && p->pos + 1 < p->len &&
                isdigit((unsigned char)s[p->pos + 1]))) {
        rc = lex_number(p);
    } else if (s[p->pos] == '\'' || s[p->pos] == '"') {
        rc = lex_string(p);
    } else if (is_ident_start(s[p->pos])) {
        p->end = p->pos + 1;
        while (p->end < p->len && is_ident_char(s[p->end]))
            p->end++;
        p->tok = T_IDENT;
        rc = 0;
    } else {
        rc = lex_punct(p);
    }
    p->pos = p->end;
    return rc;
}

/* ---- parser ------------------------------------------------------------ */

static bool tok_is(const struct parser *p, const char *word)
{
    size_t n = p->end - p->start;
    return p->tok == T_IDENT && strlen(word) == n && memcmp(p->s + p->start, word, n) == 0;
}

/* "'a == b'": the source from `from` up to the current token, for messages. */
static const char *before(const struct parser *p, size_t from, char *buf, size_t size)
{
    size_t to = p->start;

    while (from < to && isspace((unsigned char)p->s[from]))
        from++;
    while (to > from && isspace((unsigned char)p->s[to - 1]))
        to--;
    /* The end of the text matters most in a long one: show its last bytes. */
    if (to - from > 40)
        from = to - 40;
    quote(buf, size, p->s + from, to - from);
    return buf;
}

static const char *tok_text(const struct parser *p, char *buf, size_t size)
{
    if (p->tok == T_END)
        return "the end of the expression";
    buf[0] = '\'';
    quote(buf + 1, size - 2, p->s + p->start, p->end - p->start);
    strncat(buf, "'", size - strlen(buf) - 1);
    return buf;
}

static int expected(struct parser *p, const char *what, size_t from)
{
    char b[64], t[64];

    if (!*before(p, from, b, sizeof b))
        return perr(p, p->start, "expected %s, found %s", what, tok_text(p, t, sizeof t));
    return perr(p, p->start, "expected %s after '%s', found %s", what, b,
                tok_text(p, t, sizeof t));
}

static struct node *node_new(struct parser *p, enum kind kind, size_t pos)
{
    struct node *n = calloc(1, sizeof *n);

    if (!n)
        rt_error_set(p->err, ENOMEM, "expression node");
    else {
        n->kind = kind;
        n->pos = p->base + pos;
    }
    return n;
}

static char *tok_dup(struct parser *p)
{
    char *s = strndup(p->s + p->start, p->end - p->start);

    if (!s)
        rt_error_set(p->err, ENOMEM, "expression name");
    return s;
}

static int parse_binary(struct parser *p, int level, size_t from, struct node **out);

static int push_access(struct parser *p, struct node *n, char *key, json_int_t index, bool br)
{
    struct access *a = realloc(n->acc, (n->nacc + 1) * sizeof *a);

    if (!a) {
        free(key);
        return rt_error_set(p->err, ENOMEM, "reference");
    }
    n->acc = a;
    n->acc[n->nacc++] = (struct access){.key = key, .index = index, .bracket = br};
    return 0;
}

/* `[0]` or `['key']`, the current token being '['. */
static int parse_bracket(struct parser *p, struct node *n, size_t from)
{
    if (next(p) < 0)
        return -1;
    char *key = NULL;
    json_int_t index = 0;
    if (p->tok == T_STR) {
        key = strdup(json_string_value(p->lit));
        if (!key)
            return rt_error_set(p->err, ENOMEM, "reference");
    } else if (p->tok == T_NUM && json_is_integer(p->lit)) {
        index = json_integer_value(p->lit);
    } else {
        return expected(p, "an integer or a quoted key", from);
    }
    if (push_access(p, n, key, index, true) < 0 || next(p) < 0)
        return -1;
    if (p->tok != T_RBRACK)
        return expected(p, "']'", from);
    return next(p);
}

/* The `.name`, `[0]` and `['key']` accesses after a reference. */
static int parse_accesses(struct parser *p, struct node *n, size_t from)
{
    while (p->tok == T_DOT || p->tok == T_LBRACK) {
        if (p->tok == T_LBRACK) {
            if (parse_bracket(p, n, from) < 0)
                return -1;
            continue;
        }
        if (next(p) < 0)
            return -1;
        if (p->tok != T_IDENT)
            return expected(p, "a name", from);
        char *key = tok_dup(p);
        if (!key || push_access(p, n, key, 0, false) < 0 || next(p) < 0)
            return -1;
    }
    return 0;
}

/* Expects '.' then a name, returned in *name and its offset in *at. */
static int dot_name(struct parser *p, size_t from, const char *what, char **name, size_t *at)
{
    if (p->tok != T_DOT)
        return expected(p, "'.'", from);
    if (next(p) < 0)
        return -1;
    if (p->tok != T_IDENT)
        return expected(p, what, from);
    *at = p->start;
    *name = tok_dup(p);
    return *name && next(p) == 0 ? 0 : -1;
}

/* steps.ID.status or steps.ID.outputs.NAME, after "steps". */
static int parse_step_ref(struct parser *p, struct node *n, size_t from)
{
    cleanup_free char *field = NULL;
    cleanup_free char *output = NULL;
    size_t at;

    if (dot_name(p, from, "a step id", &n->name, &at) < 0 ||
        dot_name(p, from, "'outputs' or 'status'", &field, &at) < 0)
        return -1;
    if (strcmp(field, "status") == 0) {
        n->field = steal_pointer(&field);
        return 0;
    }
    if (strcmp(field, "outputs") != 0)
        return perr(p, at, "expected 'outputs' or 'status' after "
                    "'steps.%s.', found '%s'", n->name, field);
    if (dot_name(p, from, "an output name", &output, &at) < 0)
        return -1;
    if (asprintf(&n->field, "outputs.%s", output) < 0) {
        n->field = NULL;
        return rt_error_set(p->err, ENOMEM, "reference");
    }
    return 0;
}

/* A reference, the current token being its first name. */
static int parse_ref(struct parser *p, struct node *n)
{
    size_t from = p->start, at;
    char t[64];

    n->kind = N_REF;
    if (tok_is(p, "inputs")) {
        n->root = ROOT_INPUT;
        if (next(p) < 0 || dot_name(p, from, "an input name", &n->name, &at) < 0)
            return -1;
    } else if (tok_is(p, "steps")) {
        n->root = ROOT_STEP;
        if (next(p) < 0 || parse_step_ref(p, n, from) < 0)
            return -1;
    } else if (tok_is(p, "item") || tok_is(p, "index")) {
        n->root = tok_is(p, "item") ? ROOT_ITEM : ROOT_INDEX;
        if (next(p) < 0)
            return -1;
    } else {
        return perr(p, p->start, "unknown name %s (expected inputs, steps, item, index, "
                    "true, false, null or a function)", tok_text(p, t, sizeof t));
    }
    return parse_accesses(p, n, from);
}

/* name() with no arguments, the current token being the name and the next '('. */
static int parse_call(struct parser *p, struct node *n)
{
    static const char *const names[] = {"always", "success", "failure"};
    char t[64];
    size_t i;

    for (i = 0; i < sizeof names / sizeof names[0] && !tok_is(p, names[i]); i++)
        ;
    if (i == sizeof names / sizeof names[0])
        return perr(p, p->start, "unknown function %s (functions: always, success, failure)",
                    tok_text(p, t, sizeof t));
    n->kind = N_CALL;
    n->func = (enum func)i;
    if (next(p) < 0 || next(p) < 0)
        return -1;
    if (p->tok != T_RPAREN)
        return perr(p, p->start, "%s() takes no arguments", names[i]);
    return next(p);
}

static int parse_ident(struct parser *p, struct node *n)
{
    static const char *const words[] = {"true", "false", "null"};

    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++) {
        if (tok_is(p, words[i])) {
            n->kind = N_LIT;
            n->lit = i == 0 ? json_true() : i == 1 ? json_false() : json_null();
            return next(p);
        }
    }
    /* Peek: a name directly followed by '(' is a call. */
    size_t i = p->end;
    while (i < p->len && isspace((unsigned char)p->s[i]))
        i++;
    if (i < p->len && p->s[i] == '(')
        return parse_call(p, n);
    return parse_ref(p, n);
}

static int nest(struct parser *p)
{
    if (++p->depth > ORCH_EXPR_MAX_DEPTH)
        return perr(p, p->start, "nesting deeper than %d levels", ORCH_EXPR_MAX_DEPTH);
    return 0;
}

static int parse_group(struct parser *p, struct node **out)
{
    size_t from;

    if (nest(p) < 0 || next(p) < 0)
        return -1;
    from = p->start;
    if (parse_binary(p, 0, from, out) < 0)
        return -1;
    if (p->tok != T_RPAREN)
        return expected(p, "')'", from);
    p->depth--;
    return next(p);
}

static int parse_primary(struct parser *p, size_t from, struct node **out)
{
    if (p->tok == T_LPAREN)
        return parse_group(p, out);
    if (p->tok != T_NUM && p->tok != T_STR && p->tok != T_IDENT)
        return expected(p, "a value", from);
    struct node *n = node_new(p, N_LIT, p->start);
    if (!n)
        return -1;
    *out = n;
    if (p->tok == T_IDENT)
        return parse_ident(p, n);
    n->lit = steal_pointer(&p->lit);
    return next(p);
}

static int parse_unary(struct parser *p, size_t from, struct node **out)
{
    if (p->tok != T_NOT)
        return parse_primary(p, from, out);
    struct node *n = node_new(p, N_NOT, p->start);
    if (!n)
        return -1;
    *out = n;
    if (nest(p) < 0 || next(p) < 0 || parse_unary(p, from, &n->lhs) < 0)
        return -1;
    p->depth--;
    return 0;
}

/* Precedence levels, loosest first; below the last comes unary '!'. Unused
 * slots are zero, that is T_END, which ends a level's list. */
static const struct {
    enum tok tok;
    enum kind kind;
} levels[][4] = {
    {{T_OR, N_OR}},
    {{T_AND, N_AND}},
    {{T_EQ, N_EQ}, {T_NE, N_NE}},
    {{T_LT, N_LT}, {T_GT, N_GT}, {T_LE, N_LE}, {T_GE, N_GE}},
};
#define NLEVELS ((int)(sizeof levels / sizeof levels[0]))

static bool level_kind(enum tok tok, int level, enum kind *kind)
{
    for (int i = 0; i < 4 && levels[level][i].tok != T_END; i++) {
        if (levels[level][i].tok == tok) {
            *kind = levels[level][i].kind;
            return true;
        }
    }
    return false;
}

/* Left-associative operators of one level; `from` is where the enclosing
 * expression starts, quoted in messages. On failure *out holds whatever was
 * built, for the caller to free. */
static int parse_binary(struct parser *p, int level, size_t from, struct node **out)
{
    enum kind kind;

    if (level == NLEVELS)
        return parse_unary(p, from, out);
    if (parse_binary(p, level + 1, from, out) < 0)
        return -1;
    while (level_kind(p->tok, level, &kind)) {
        struct node *n = node_new(p, kind, p->start);
        if (!n)
            return -1;
        n->lhs = *out;
        *out = n;
        if (next(p) < 0 || parse_binary(p, level + 1, from, &n->rhs) < 0)
            return -1;
    }
    return 0;
}

/* Parses s[0, len), which sits at offset base of what the caller gave. */
static int parse_span(const char *s, size_t len, size_t base, orch_expr **out, rt_error *err)
{
    struct parser p = {.s = s, .len = len, .base = base, .err = err};
    struct node *root = NULL;

    if (len > ORCH_EXPR_MAX_BYTES)
        return rt_error_set(err, 0, "at %zu: expression is %zu bytes, above the limit of %d",
                            base, len, ORCH_EXPR_MAX_BYTES);
    int rc = next(&p);
    if (rc == 0)
        rc = parse_binary(&p, 0, 0, &root);
    if (rc == 0 && p.tok != T_END)
        rc = expected(&p, "an operator or the end", 0);
    json_decref(p.lit);
    orch_expr *e = rc == 0 ? malloc(sizeof *e) : NULL;
    if (!e) {
        node_free(root);
        return rc < 0 ? -1 : rt_error_set(err, ENOMEM, "expression");
    }
    e->root = root;
    *out = e;
    return 0;
}

int orch_expr_parse(const char *text, orch_expr **out, rt_error *err)
{
    return parse_span(text ? text : "", text ? strlen(text) : 0, 0, out, err);
}

void orch_expr_free(orch_expr *e)
{
    if (e)
        node_free(e->root);
    free(e);
}

/* ---- evaluation -------------------------------------------------------- */

bool orch_truthy(const json_t *v)
{
    if (!v)
        return false;
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return json_object_size(v) > 0;
    case JSON_ARRAY:
        return json_array_size(v) > 0;
    case JSON_STRING:
        return json_string_length(v) > 0;
    case JSON_INTEGER:
        return json_integer_value(v) != 0;
    case JSON_REAL:
        return json_real_value(v) != 0.0;
    case JSON_TRUE:
        return true;
    default:
        return false;
    }
}

#define PATH_BYTES 256

static void path_add(char *path, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void path_add(char *path, const char *fmt, ...)
{
    size_t len = strlen(path);
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(path + len, PATH_BYTES - len, fmt, ap);
    va_end(ap);
}

/* Follows the accesses from *v, a value inside ctx. */
static int walk(const struct node *n, char *path, const json_t **v, rt_error *err)
{
    char keys[256];

    for (size_t i = 0; i < n->nacc; i++) {
        const struct access *a = &n->acc[i];
        const json_t *cur = *v;
        char was[PATH_BYTES];

        snprintf(was, sizeof was, "%s", path);
        if (!a->key) {
            path_add(path, "[%" JSON_INTEGER_FORMAT "]", a->index);
            if (!json_is_array(cur))
                return rt_error_set(err, 0, "%s: %s is %s, not an array", path, was,
                                    rt_json_type_name(cur));
            if (a->index < 0 || (size_t)a->index >= json_array_size(cur))
                return rt_error_set(err, 0, "%s: index out of range (length %zu)", path,
                                    json_array_size(cur));
            *v = json_array_get(cur, (size_t)a->index);
            continue;
        }
        path_add(path, a->bracket ? "['%s']" : ".%s", a->key);
        if (!json_is_object(cur))
            return rt_error_set(err, 0, "%s: %s is %s, not an object", path, was,
                                rt_json_type_name(cur));
        *v = json_object_get(cur, a->key);
        if (!*v) {
            list_keys(cur, keys, sizeof keys);
            return rt_error_set(err, 0, "%s: no such key (keys: %s)", path, keys);
        }
    }
    return 0;
}

static int lookup_step(const struct node *n, const json_t *ctx, char *path, const json_t **v,
                       rt_error *err)
{
    const json_t *steps = json_object_get(ctx, "steps");
    const json_t *step = json_object_get(steps, n->name);
    char keys[256];

    path_add(path, "steps.%s", n->name);
    if (!step) {
        list_keys(steps, keys, sizeof keys);
        return rt_error_set(err, 0, "%s: no such step (steps: %s)", path, keys);
    }
    path_add(path, ".%s", n->field);
    if (strcmp(n->field, "status") == 0) {
        *v = json_object_get(step, "status");
        return *v ? 0 : rt_error_set(err, 0, "%s: the step has no status", path);
    }
    const char *name = n->field + strlen("outputs.");
    const json_t *outputs = json_object_get(step, "outputs");
    *v = json_object_get(outputs, name);
    if (!*v) {
        list_keys(outputs, keys, sizeof keys);
        return rt_error_set(err, 0, "%s: no such output (outputs: %s)", path, keys);
    }
    return 0;
}

/* *out is a new reference into ctx. */
static int eval_ref(const struct node *n, const json_t *ctx, json_t **out, rt_error *err)
{
    char path[PATH_BYTES] = "";
    char keys[256];
    const json_t *v = NULL;

    switch (n->root) {
    case ROOT_INPUT: {
        const json_t *inputs = json_object_get(ctx, "inputs");
        path_add(path, "inputs.%s", n->name);
        v = json_object_get(inputs, n->name);
        if (!v) {
            list_keys(inputs, keys, sizeof keys);
            return rt_error_set(err, 0, "%s: no such input (inputs: %s)", path, keys);
        }
        break;
    }
    case ROOT_STEP:
        if (lookup_step(n, ctx, path, &v, err) < 0)
            return -1;
        break;
    case ROOT_ITEM:
    case ROOT_INDEX:
        path_add(path, n->root == ROOT_ITEM ? "item" : "index");
        v = json_object_get(ctx, path);
        if (!v)
            return rt_error_set(err, 0, "%s: not set (only inside a for_each step)", path);
        break;
    }
    if (walk(n, path, &v, err) < 0)
        return -1;
    *out = json_incref((json_t *)v);
    return 0;
}

static bool call(enum func f, const json_t *ctx)
{
    const json_t *needs = json_object_get(ctx, "needs");
    const char *id;
    json_t *status;

    if (f == FN_ALWAYS)
        return true;
    json_object_foreach((json_t *)needs, id, status) {
        const char *s = json_string_value(status);
        if (f == FN_SUCCESS && !(s && strcmp(s, "ok") == 0))
            return false;
        if (f == FN_FAILURE && s && strcmp(s, "failed") == 0)
            return true;
    }
    return f == FN_SUCCESS;
}

/* Integers compare exactly; a real on either side compares as doubles. */
static int num_cmp(const json_t *a, const json_t *b)
{
    if (json_is_integer(a) && json_is_integer(b)) {
        json_int_t x = json_integer_value(a), y = json_integer_value(b);
        return (x > y) - (x < y);
    }
    double x = json_number_value(a), y = json_number_value(b);
    return (x > y) - (x < y);
}

static bool equal(const json_t *a, const json_t *b)
{
    if (json_is_number(a) && json_is_number(b))
        return num_cmp(a, b) == 0;
    return json_equal(a, b);
}

static const char *op_text(enum kind k)
{
    return k == N_LT ? "<" : k == N_GT ? ">" : k == N_LE ? "<=" : ">=";
}

static int order(const struct node *n, const json_t *a, const json_t *b, bool *res,
                 rt_error *err)
{
    int c;

    if (json_is_number(a) && json_is_number(b)) {
        c = num_cmp(a, b);
    } else if (json_is_string(a) && json_is_string(b)) {
        size_t la = json_string_length(a), lb = json_string_length(b);
        c = memcmp(json_string_value(a), json_string_value(b), la < lb ? la : lb);
        if (c == 0)
            c = (la > lb) - (la < lb);
    } else {
        return rt_error_set(err, 0, "at %zu: cannot compare %s with %s using '%s'", n->pos,
                            rt_json_type_name(a), rt_json_type_name(b), op_text(n->kind));
    }
    *res = n->kind == N_LT ? c < 0 : n->kind == N_GT ? c > 0 : n->kind == N_LE ? c <= 0 : c >= 0;
    return 0;
}

static int eval(const struct node *n, const json_t *ctx, json_t **out, rt_error *err);

/* An operand's truth, for ! && ||. */
static int eval_truth(const struct node *n, const json_t *ctx, bool *res, rt_error *err)
{
    json_t *v;

    if (eval(n, ctx, &v, err) < 0)
        return -1;
    *res = orch_truthy(v);
    json_decref(v);
    return 0;
}

static int eval_binary(const struct node *n, const json_t *ctx, bool *res, rt_error *err)
{
    json_t *a, *b;

    if (n->kind == N_AND || n->kind == N_OR) {
        if (eval_truth(n->lhs, ctx, res, err) < 0)
            return -1;
        /* Short circuit: the right side is not evaluated, so its errors don't count. */
        if (*res == (n->kind == N_OR))
            return 0;
        return eval_truth(n->rhs, ctx, res, err);
    }
    if (eval(n->lhs, ctx, &a, err) < 0)
        return -1;
    if (eval(n->rhs, ctx, &b, err) < 0) {
        json_decref(a);
        return -1;
    }
    int rc = 0;
    if (n->kind == N_EQ || n->kind == N_NE)
        *res = equal(a, b) == (n->kind == N_EQ);
    else
        rc = order(n, a, b, res, err);
    json_decref(a);
    json_decref(b);
    return rc;
}

/* *out is a new reference, possibly into ctx. */
static int eval(const struct node *n, const json_t *ctx, json_t **out, rt_error *err)
{
    bool res;

    switch (n->kind) {
    case N_LIT:
        *out = json_incref(n->lit);
        return 0;
    case N_REF:
        return eval_ref(n, ctx, out, err);
    case N_CALL:
        *out = json_boolean(call(n->func, ctx));
        return 0;
    case N_NOT:
        if (eval_truth(n->lhs, ctx, &res, err) < 0)
            return -1;
        *out = json_boolean(!res);
        return 0;
    default:
        if (eval_binary(n, ctx, &res, err) < 0)
            return -1;
        *out = json_boolean(res);
        return 0;
    }
}

int orch_expr_eval(const orch_expr *e, const json_t *ctx, json_t **out, rt_error *err)
{
    json_t *v;

    if (eval(e->root, ctx, &v, err) < 0)
        return -1;
    /* A copy, so that the caller may change or keep it without touching ctx. */
    *out = json_deep_copy(v);
    json_decref(v);
    return *out ? 0 : rt_error_set(err, ENOMEM, "expression value");
}

static int node_refs(const struct node *n, orch_ref_fn *fn, void *ctx)
{
    static const char *const kinds[] = {"input", "step", "item", "index"};

    if (!n)
        return 0;
    if (n->kind == N_REF) {
        fn(ctx, kinds[n->root], n->name, n->field);
        return 1;
    }
    int a = node_refs(n->lhs, fn, ctx);
    return a + node_refs(n->rhs, fn, ctx);
}

int orch_expr_refs(const orch_expr *e, orch_ref_fn *fn, void *ctx)
{
    return node_refs(e->root, fn, ctx);
}

/* ---- templates --------------------------------------------------------- */

struct part {
    char *text;       /* literal text, or NULL for an expression */
    size_t len;
    orch_expr *expr;
};

struct orch_template {
    struct part *parts;
    size_t n;
    bool single;      /* one expression with only whitespace around it */
};

void orch_template_free(orch_template *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < t->n; i++) {
        free(t->parts[i].text);
        orch_expr_free(t->parts[i].expr);
    }
    free(t->parts);
    free(t);
}

static int add_part(orch_template *t, char *text, size_t len, orch_expr *expr, rt_error *err)
{
    struct part *parts = realloc(t->parts, (t->n + 1) * sizeof *parts);

    if (!parts) {
        free(text);
        orch_expr_free(expr);
        return rt_error_set(err, ENOMEM, "template");
    }
    t->parts = parts;
    t->parts[t->n++] = (struct part){.text = text, .len = len, .expr = expr};
    return 0;
}

static int add_text(orch_template *t, const char *s, size_t len, rt_error *err)
{
    if (len == 0)
        return 0;
    char *text = strndup(s, len);
    if (!text)
        return rt_error_set(err, ENOMEM, "template");
    return add_part(t, text, len, NULL, err);
}

/* The offset of the "}}" closing the "${{" at open, skipping quoted strings so
 * that '}}' may appear inside one. */
static int find_close(const char *s, size_t len, size_t open, size_t *close, rt_error *err)
{
    char q = 0;
    size_t qpos = 0;

    for (size_t i = open + 3; i < len; i++) {
        if (q) {
            if (s[i] == '\\')
                i++;
            else if (s[i] == q)
                q = 0;
        } else if (s[i] == '\'' || s[i] == '"') {
            q = s[i];
            qpos = i;
        } else if (s[i] == '}' && i + 1 < len && s[i + 1] == '}') {
            *close = i;
            return 0;
        }
    }
    if (q)
        return rt_error_set(err, 0, "at %zu: unterminated string in the '${{' at %zu", qpos,
                            open);
    return rt_error_set(err, 0, "at %zu: '${{' is not closed by '}}'", open);
}

static bool blank(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (!isspace((unsigned char)s[i]))
            return false;
    return true;
}

static int add_expr(orch_template *t, const char *s, size_t open, size_t close, rt_error *err)
{
    orch_expr *e;

    if (blank(s + open + 3, close - open - 3))
        return rt_error_set(err, 0, "at %zu: empty expression in '${{ }}'", open);
    if (parse_span(s + open + 3, close - open - 3, open + 3, &e, err) < 0)
        return -1;
    return add_part(t, NULL, 0, e, err);
}

static int split(orch_template *t, const char *s, size_t len, rt_error *err)
{
    size_t at = 0, exprs = 0;
    bool blank_text = true;

    for (;;) {
        const char *open = memmem(s + at, len - at, "${{", 3);
        size_t o = open ? (size_t)(open - s) : len, c = 0;
        blank_text = blank_text && blank(s + at, o - at);
        if (add_text(t, s + at, o - at, err) < 0)
            return -1;
        if (!open)
            break;
        if (find_close(s, len, o, &c, err) < 0 || add_expr(t, s, o, c, err) < 0)
            return -1;
        exprs++;
        at = c + 2;
    }
    t->single = exprs == 1 && blank_text;
    return 0;
}

int orch_template_parse(const char *s, orch_template **out, rt_error *err)
{
    size_t len = s ? strlen(s) : 0;

    if (len > ORCH_TEMPLATE_MAX_BYTES)
        return rt_error_set(err, 0, "template is %zu bytes, above the limit of %d", len,
                            ORCH_TEMPLATE_MAX_BYTES);
    orch_template *t = calloc(1, sizeof *t);
    if (!t)
        return rt_error_set(err, ENOMEM, "template");
    if (split(t, s ? s : "", len, err) < 0) {
        orch_template_free(t);
        return -1;
    }
    *out = t;
    return 0;
}

bool orch_template_is_literal(const orch_template *t)
{
    for (size_t i = 0; i < t->n; i++)
        if (t->parts[i].expr)
            return false;
    return true;
}

int orch_template_refs(const orch_template *t, orch_ref_fn *fn, void *ctx)
{
    int n = 0;

    for (size_t i = 0; i < t->n; i++)
        if (t->parts[i].expr)
            n += orch_expr_refs(t->parts[i].expr, fn, ctx);
    return n;
}

/* The rendered string, capped at ORCH_RENDER_MAX_BYTES. */
struct buf {
    char *p;
    size_t len, cap;
};

static int buf_add(struct buf *b, const char *s, size_t len, rt_error *err)
{
    if (len > ORCH_RENDER_MAX_BYTES - b->len)
        return rt_error_set(err, 0, "rendered template is above the limit of %d bytes",
                            ORCH_RENDER_MAX_BYTES);
    if (b->len + len > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + len)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p)
            return rt_error_set(err, ENOMEM, "rendering template");
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, len);
    b->len += len;
    return 0;
}

/* Strings raw, null as nothing, the rest as compact JSON (15 digits, so that
 * 0.1 reads "0.1" and not "0.10000000000000001"). */
static int buf_add_value(struct buf *b, const json_t *v, rt_error *err)
{
    if (json_is_string(v))
        return buf_add(b, json_string_value(v), json_string_length(v), err);
    if (json_is_null(v))
        return 0;
    cleanup_free char *text =
        json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT | JSON_REAL_PRECISION(15));
    if (!text)
        return rt_error_set(err, ENOMEM, "rendering template");
    return buf_add(b, text, strlen(text), err);
}

static int render_parts(const orch_template *t, const json_t *ctx, struct buf *b,
                        rt_error *err)
{
    for (size_t i = 0; i < t->n; i++) {
        const struct part *pt = &t->parts[i];
        json_t *v;
        if (!pt->expr) {
            if (buf_add(b, pt->text, pt->len, err) < 0)
                return -1;
            continue;
        }
        if (eval(pt->expr->root, ctx, &v, err) < 0)
            return -1;
        int rc = buf_add_value(b, v, err);
        json_decref(v);
        if (rc < 0)
            return -1;
    }
    return 0;
}

int orch_template_render(const orch_template *t, const json_t *ctx, json_t **out,
                         rt_error *err)
{
    if (t->single) {
        for (size_t i = 0; i < t->n; i++)
            if (t->parts[i].expr)
                return orch_expr_eval(t->parts[i].expr, ctx, out, err);
    }
    struct buf b = {0};
    int rc = render_parts(t, ctx, &b, err);
    if (rc == 0) {
        /* json_stringn copies; literal text from a non-JSON caller may be bad UTF-8. */
        *out = json_stringn(b.p ? b.p : "", b.len);
        if (!*out)
            rc = rt_error_set(err, 0, "rendered template is not valid UTF-8");
    }
    free(b.p);
    return rc;
}
