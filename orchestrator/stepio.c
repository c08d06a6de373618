/* What a step hands back, read from files that sandboxed code wrote. Every
 * reader here takes the bytes as hostile: sizes are capped before anything is
 * allocated for them, paths are resolved by the kernel under RESOLVE_BENEATH
 * with no symlinks, and the tree walkers hold a bounded number of directories
 * open, so a deep tree can neither blow the stack nor run us out of fds. */
#include "stepio.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>

#include "cleanup.h"
#include "spec_json.h"

#define OUTPUT_KEY_MAX 64
#define COST_ITEM_MAX 64
#define COST_UNIT_MAX 32
/* Directories held open at once by orch_remove_tree; deeper ones are moved up. */
#define RM_DEPTH 64
/* Directories held open at once by orch_tar_write; deeper trees are refused. */
#define TAR_DEPTH 128
#define TAR_CHUNK (64 * 1024)

static const char key_chars[] =
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-";

/* ---- messages ------------------------------------------------------------ */

/* s as a short quoted string for a message: at most 40 bytes, control and
 * non-ASCII bytes as '?', quotes and backslashes escaped. */
static const char *shown(char out[96], const char *s, size_t n)
{
    size_t o = 0;

    out[o++] = '"';
    for (size_t i = 0; i < n && i < 40; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch == '"' || ch == '\\')
            out[o++] = '\\';
        out[o++] = ch < 0x20 || ch >= 0x7f ? '?' : (char)ch;
    }
    if (n > 40) {
        memcpy(out + o, "...", 3);
        o += 3;
    }
    out[o++] = '"';
    out[o] = '\0';
    return out;
}

/* ---- lines --------------------------------------------------------------- */

struct lines {
    const char *p, *end;
    size_t no;                /* of the line last returned, from 1 */
};

static void lines_init(struct lines *l, const char *data, size_t len)
{
    /* data may be NULL when len is 0: no arithmetic on it then. */
    l->p = len ? data : "";
    l->end = len ? data + len : l->p;
    l->no = 0;
}

/* The next line without its "\n" (the last may lack one); false at the end. */
static bool next_line(struct lines *l, const char **s, size_t *n)
{
    if (l->p == l->end)
        return false;
    const char *nl = memchr(l->p, '\n', (size_t)(l->end - l->p));
    *s = l->p;
    *n = (size_t)((nl ? nl : l->end) - l->p);
    l->p = nl ? nl + 1 : l->end;
    l->no++;
    return true;
}

/* The line number of the byte at offset off. */
static size_t line_of(const char *data, size_t off)
{
    size_t no = 1;

    for (const char *p = data; (p = memchr(p, '\n', off - (size_t)(p - data))); p++)
        no++;
    return no;
}

/* Strict UTF-8: no overlong forms, no surrogates, nothing above U+10FFFF. */
static bool utf8_valid(const char *str, size_t n)
{
    const unsigned char *s = (const unsigned char *)str;

    for (size_t i = 0; i < n;) {
        unsigned c = s[i], cp, min;
        size_t k;
        if (c < 0x80) {
            i++;
            continue;
        }
        if (c >= 0xc2 && c <= 0xdf) {
            k = 1, cp = c & 0x1f, min = 0x80;
        } else if ((c & 0xf0) == 0xe0) {
            k = 2, cp = c & 0x0f, min = 0x800;
        } else if (c >= 0xf0 && c <= 0xf4) {
            k = 3, cp = c & 0x07, min = 0x10000;
        } else {
            return false;
        }
        if (n - i <= k)
            return false;
        for (size_t j = 1; j <= k; j++) {
            if ((s[i + j] & 0xc0) != 0x80)
                return false;
            cp = cp << 6 | (s[i + j] & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return false;
        i += k + 1;
    }
    return true;
}

/* Makes err's message fit for JSON and logs when it may quote bytes from a
 * hostile source (file names, jansson's "near '...'"): control characters
 * and bytes that are not UTF-8 become '?'. */
static void msg_clean(rt_error *err)
{
    if (!err)
        return;
    char *m = err->msg;
    size_t n = strlen(m);
    for (size_t i = 0; i < n;) {
        unsigned char c = (unsigned char)m[i];
        size_t k = c < 0x80 ? 1 : c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : 2;
        if (c < 0x20 || c == 0x7f)
            m[i++] = '?';
        else if (c < 0x80 || (k <= n - i && utf8_valid(m + i, k)))
            i += k;
        else
            m[i++] = '?';
    }
}

/* ---- $SBX_OUTPUT ----------------------------------------------------------- */

/* [A-Za-z_][A-Za-z0-9_-]*, at most OUTPUT_KEY_MAX bytes (s is not NUL-terminated). */
static bool output_key_ok(const char *s, size_t n)
{
    if (n == 0 || n > OUTPUT_KEY_MAX || (s[0] >= '0' && s[0] <= '9') || s[0] == '-')
        return false;
    for (size_t i = 0; i < n; i++)
        if (!s[i] || !strchr(key_chars, s[i]))
            return false;
    return true;
}

/* The value of key<<DELIM that started on l's current line: the lines up to
 * one that is exactly DELIM, joined with "\n", which is how they lie in data. */
static json_t *heredoc(struct lines *l, const char *key, size_t klen, const char *delim,
                       size_t dlen, rt_error *err)
{
    size_t started = l->no;
    const char *start = l->p, *end = l->p, *s;
    size_t n;
    char k[96], d[96];

    while (next_line(l, &s, &n)) {
        if (n == dlen && memcmp(s, delim, n) == 0) {
            json_t *v = json_stringn(start, (size_t)(end - start));
            if (!v)
                rt_error_set(err, ENOMEM, "line %zu", started);
            return v;
        }
        if (!utf8_valid(s, n)) {
            rt_error_set(err, 0, "line %zu: the value is not UTF-8", l->no);
            return NULL;
        }
        end = s + n;
    }
    rt_error_set(err, 0, "line %zu: no line %s ends the value of %s", started,
                 shown(d, delim, dlen), shown(k, key, klen));
    return NULL;
}

/* One non-blank line: key=value, or key<<DELIM and the lines after it. The
 * first of "=" and "<<" decides, as on GitHub ("a=b<<c" is a value). */
static int output_line(struct lines *l, const char *s, size_t n, json_t *o, rt_error *err)
{
    const char *eq = memchr(s, '=', n), *hd = memmem(s, n, "<<", 2);
    size_t no = l->no;
    char k[96];
    json_t *v;

    if (!eq && !hd)
        return rt_error_set(err, 0, "line %zu: neither key=value nor key<<DELIMITER", no);
    bool multi = hd && (!eq || hd < eq);
    const char *sep = multi ? hd : eq;
    size_t klen = (size_t)(sep - s), vlen = n - klen - (multi ? 2 : 1);
    if (klen == 0)
        return rt_error_set(err, 0, "line %zu: no key before \"%s\"", no, multi ? "<<" : "=");
    if (!output_key_ok(s, klen))
        return rt_error_set(err, 0, "line %zu: bad key %s (letters, digits, _ and -, "
                            "starting with a letter or _, at most %d bytes)",
                            no, shown(k, s, klen), OUTPUT_KEY_MAX);
    if (multi && vlen == 0)
        return rt_error_set(err, 0, "line %zu: no delimiter after \"<<\"", no);
    if (multi) {
        v = heredoc(l, s, klen, hd + 2, vlen, err);
        if (!v)
            return -1;
    } else {
        if (!utf8_valid(eq + 1, vlen))
            return rt_error_set(err, 0, "line %zu: the value is not UTF-8", no);
        if (!(v = json_stringn(eq + 1, vlen)))
            return rt_error_set(err, ENOMEM, "line %zu", no);
    }
    /* A key given again replaces the value (and keeps its place). */
    if (json_object_setn_new(o, s, klen, v) < 0)
        return rt_error_set(err, ENOMEM, "line %zu", no);
    return 0;
}

int orch_output_file_parse(const char *data, size_t len, json_t **out, rt_error *err)
{
    struct lines l;
    const char *s, *nul = len ? memchr(data, '\0', len) : NULL;
    size_t n;

    *out = NULL;
    if (nul)
        return rt_error_set(err, 0, "line %zu: a NUL byte", line_of(data, (size_t)(nul - data)));
    json_t *o = json_object();
    if (!o)
        return rt_error_set(err, ENOMEM, "output file");
    lines_init(&l, data, len);
    while (next_line(&l, &s, &n)) {
        if (n == 0)
            continue;
        if (output_line(&l, s, n, o, err) < 0) {
            json_decref(o);
            return -1;
        }
    }
    *out = o;
    return 0;
}

/* ---- $SBX_COSTS ------------------------------------------------------------ */

/* Only JSON's whitespace, which a writer's "\r\n" leaves too. */
static bool blank(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r')
            return false;
    return true;
}

static int cost_string(const json_t *o, const char *key, size_t min, size_t max, size_t no,
                       rt_error *err)
{
    const json_t *v = json_object_get(o, key);

    if (!v && min == 0)
        return 0;
    if (!v)
        return rt_error_set(err, 0, "line %zu: \"%s\" is required", no, key);
    if (!json_is_string(v))
        return rt_error_set(err, 0, "line %zu: \"%s\" must be a string, not %s", no, key,
                            rt_json_type_name(v));
    size_t n = json_string_length(v);
    if (n < min || n > max)
        return rt_error_set(err, 0, "line %zu: \"%s\" must be %zu to %zu bytes, not %zu", no,
                            key, min, max, n);
    return 0;
}

static int cost_number(const json_t *o, const char *key, bool required, size_t no,
                       rt_error *err)
{
    const json_t *v = json_object_get(o, key);

    if (!v && !required)
        return 0;
    if (!v)
        return rt_error_set(err, 0, "line %zu: \"%s\" is required", no, key);
    if (!json_is_number(v))
        return rt_error_set(err, 0, "line %zu: \"%s\" must be a number, not %s", no, key,
                            rt_json_type_name(v));
    /* jansson refuses reals that overflow, but say it here rather than rely on it. */
    double d = json_number_value(v);
    if (!isfinite(d) || d < 0)
        return rt_error_set(err, 0, "line %zu: \"%s\" must be a number >= 0, not %g", no, key,
                            d);
    return 0;
}

/* One line: a new object, or NULL with the message. */
static json_t *cost_line(const char *s, size_t n, size_t no, rt_error *err)
{
    static const char *const keys[] = {"item", "usd", "quantity", "unit", NULL};
    json_error_t je;
    const char *key;
    size_t klen;
    json_t *v, *o = json_loadb(s, n, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &je);
    char k[96];

    if (!o) {
        /* jansson's own text, less the name of its flag. */
        if (strstr(je.text, "JSON_ALLOW_NUL"))
            rt_error_set(err, 0, "line %zu: \\u0000 is not allowed", no);
        else
            rt_error_set(err, 0, "line %zu: %s", no, je.text);
        msg_clean(err);
        return NULL;
    }
    if (!json_is_object(o)) {
        rt_error_set(err, 0, "line %zu: must be an object, not %s", no, rt_json_type_name(o));
        json_decref(o);
        return NULL;
    }
    json_object_keylen_foreach(o, key, klen, v) {
        const char *const *p = keys;
        while (*p && !(strlen(*p) == klen && memcmp(*p, key, klen) == 0))
            p++;
        (void)v;
        if (!*p) {
            rt_error_set(err, 0, "line %zu: unknown key %s (item, usd, quantity, unit)", no,
                         shown(k, key, klen));
            json_decref(o);
            return NULL;
        }
    }
    if (cost_string(o, "item", 1, COST_ITEM_MAX, no, err) < 0 ||
        cost_number(o, "usd", true, no, err) < 0 ||
        cost_number(o, "quantity", false, no, err) < 0 ||
        cost_string(o, "unit", 0, COST_UNIT_MAX, no, err) < 0) {
        json_decref(o);
        return NULL;
    }
    return o;
}

static int cost_add(json_t *a, const char *s, size_t n, size_t no, double *total,
                    rt_error *err)
{
    json_t *o = cost_line(s, n, no, err);

    if (!o)
        return -1;
    *total += json_number_value(json_object_get(o, "usd"));
    if (!isfinite(*total)) {
        json_decref(o);
        return rt_error_set(err, 0, "line %zu: the usd total overflows", no);
    }
    /* Takes o even when it fails. */
    if (json_array_append_new(a, o) < 0)
        return rt_error_set(err, ENOMEM, "line %zu", no);
    return 0;
}

int orch_costs_parse(const char *data, size_t len, json_t **items, double *usd, rt_error *err)
{
    struct lines l;
    const char *s, *nul = len ? memchr(data, '\0', len) : NULL;
    size_t n, count = 0;
    double total = 0;

    *items = NULL;
    *usd = 0;
    if (len > ORCH_COSTS_MAX_BYTES)
        return rt_error_set(err, 0, "%zu bytes, above the cap of %u", len,
                            ORCH_COSTS_MAX_BYTES);
    /* jansson would take it for the end of the text: say what it is. */
    if (nul)
        return rt_error_set(err, 0, "line %zu: a NUL byte", line_of(data, (size_t)(nul - data)));
    json_t *a = json_array();
    if (!a)
        return rt_error_set(err, ENOMEM, "costs");
    lines_init(&l, data, len);
    while (next_line(&l, &s, &n)) {
        if (blank(s, n))
            continue;
        if (++count > ORCH_COSTS_MAX_LINES)
            rt_error_set(err, 0, "line %zu: more than %d lines of costs", l.no,
                         ORCH_COSTS_MAX_LINES);
        else if (cost_add(a, s, n, l.no, &total, err) == 0)
            continue;
        json_decref(a);
        return -1;
    }
    *items = a;
    *usd = total;
    return 0;
}

/* ---- prices ---------------------------------------------------------------- */

void orch_prices_default(orch_prices *p)
{
    /* The operator sets their own in the daemon's config (docs/workflows.md). */
    p->usd_per_cpu_second = ORCH_PRICE_CPU_SECOND;
    p->usd_per_gb_second = ORCH_PRICE_GB_SECOND;
    p->usd_per_run = ORCH_PRICE_RUN;
}

/* Usage is measured, so never negative; NaN counts as nothing too. */
static double nonneg(double x)
{
    return x > 0 ? x : 0;
}

json_t *orch_prices_apply(const orch_prices *p, const rt_usage *u, double *usd)
{
    double cpu = nonneg(u->cpu_user_ms) / 1000 + nonneg(u->cpu_sys_ms) / 1000;
    double gb = (double)u->memory_peak_bytes / 1e9 * (nonneg(u->wall_ms) / 1000);
    double cpu_usd = cpu * p->usd_per_cpu_second, gb_usd = gb * p->usd_per_gb_second;

    if (usd)
        *usd = cpu_usd + gb_usd + p->usd_per_run;
    return json_pack("[{s:s, s:f, s:s, s:f}, {s:s, s:f, s:s, s:f}, {s:s, s:i, s:s, s:f}]",
                     "item", "cpu", "quantity", cpu, "unit", "cpu-seconds", "usd", cpu_usd,
                     "item", "memory", "quantity", gb, "unit", "GB-seconds", "usd", gb_usd,
                     "item", "run", "quantity", 1, "unit", "runs", "usd", p->usd_per_run);
}

/* ---- selectors ------------------------------------------------------------- */

static int width(size_t n)
{
    return n > INT_MAX ? INT_MAX : (int)n;
}

/* The value at s[0..at) (the document when at is 0) is not of the type wanted. */
static const json_t *not_a(rt_error *err, const char *s, size_t at, const char *want,
                           const json_t *got)
{
    if (at == 0)
        rt_error_set(err, 0, "the document: not %s (%s)", want, rt_json_type_name(got));
    else
        rt_error_set(err, 0, "%.*s: not %s (%s)", width(at), s, want, rt_json_type_name(got));
    return NULL;
}

/* One part of a selector: a key (after a "." unless it comes first) or [n]. */
struct part {
    bool index;
    size_t idx;               /* saturated: an index too large is past any end */
    size_t key, klen;         /* the key's offset and length */
    size_t end;               /* offset after the part, or of the error */
};

static bool next_part(const char *s, size_t i, struct part *p)
{
    *p = (struct part){.end = i};
    if (s[i] == '[') {
        size_t d = strspn(s + i + 1, "0123456789");
        if (d == 0 || s[i + 1 + d] != ']')
            return false;
        p->index = true;
        for (size_t j = i + 1; j <= i + d; j++)
            p->idx = p->idx > (SIZE_MAX - 9) / 10 ? SIZE_MAX : p->idx * 10 + (size_t)(s[j] - '0');
        p->end = i + d + 2;
        return true;
    }
    if (i > 0 && s[i++] != '.')
        return false;
    p->key = i;
    p->klen = strspn(s + i, key_chars);
    p->end = i + p->klen;
    return p->klen > 0;
}

/* The value the part at s + at selects in cur, or NULL with the message,
 * which names the selector up to the part that failed. */
static const json_t *select_part(const json_t *cur, const char *s, size_t at,
                                 const struct part *p, rt_error *err)
{
    if (p->index && !json_is_array(cur))
        return not_a(err, s, at, "an array", cur);
    if (p->index && p->idx >= json_array_size(cur)) {
        size_t n = json_array_size(cur);
        rt_error_set(err, 0, "%.*s: the array has %zu element%s", width(p->end), s, n,
                     n == 1 ? "" : "s");
        return NULL;
    }
    if (p->index)
        return json_array_get(cur, p->idx);
    if (!json_is_object(cur))
        return not_a(err, s, at, "an object", cur);
    const json_t *v = json_object_getn(cur, s + p->key, p->klen);
    if (!v)
        rt_error_set(err, 0, "%.*s: no key \"%.*s\"", width(p->end), s, width(p->klen),
                     s + p->key);
    return v;
}

/* Keys and [n] indexes, the syntax workflow.c's selector_ok accepts, checked
 * whole first so that a bad selector is told as such whatever the document. */
json_t *orch_json_select(const json_t *doc, const char *selector, rt_error *err)
{
    const char *s = selector ? selector : "";
    const json_t *cur = doc;
    struct part p;
    char q[96];

    for (size_t i = 0; s[i]; i = p.end) {
        if (!next_part(s, i, &p)) {
            rt_error_set(err, 0, "selector %s: expected a key or [n] at byte %zu",
                         shown(q, s, strlen(s)), p.end);
            return NULL;
        }
    }
    if (!doc) {
        rt_error_set(err, EINVAL, "selecting %s", shown(q, s, strlen(s)));
        return NULL;
    }
    for (size_t i = 0; s[i] && cur; i = p.end)
        if (next_part(s, i, &p)) /* always: checked above */
            cur = select_part(cur, s, i, &p, err);
    /* A new reference to a value inside doc; jansson's counts are not const. */
    return cur ? json_incref((json_t *)cur) : NULL;
}

/* ---- reading a file beneath a directory ------------------------------------ */

/* Whether rel climbs out of the directory by its ".." components. Symlinks
 * are refused anyway, so the names alone tell; the kernel checks again. */
static bool climbs_out(const char *rel)
{
    long depth = 0;

    for (const char *c = rel; *c;) {
        size_t n = strcspn(c, "/");
        if (n == 2 && c[0] == '.' && c[1] == '.') {
            if (--depth < 0)
                return true;
        } else if (n > 0 && !(n == 1 && c[0] == '.')) {
            depth++;
        }
        c += n + (c[n] == '/');
    }
    return false;
}

static int open_beneath(int dirfd, const char *rel, rt_error *err)
{
    /* O_NONBLOCK: a FIFO planted in place of the file opens at once instead of
     * waiting for a writer, and the fstat after refuses it. */
    struct open_how how = {
        .flags = O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK,
        .resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS |
                   RESOLVE_NO_XDEV,
    };
    long fd;
    int tries = 0;

    if (*rel == '/')
        return rt_error_set(err, EINVAL, "%s: not a relative path", rel);
    if (climbs_out(rel))
        return rt_error_set(err, EXDEV, "%s: leaves the directory", rel);
    /* EAGAIN: a rename raced with a ".." lookup and the kernel asks us to
     * retry; a few times, as code in a sandbox may keep renaming. */
    do
        fd = syscall(SYS_openat2, dirfd, rel, &how, sizeof how);
    while (fd < 0 && (errno == EAGAIN || errno == EINTR) && ++tries < 64);
    if (fd >= 0)
        return (int)fd;
    if (errno == ENOENT)
        return -2;
    if (errno == ELOOP)
        return rt_error_set(err, ELOOP, "%s: a symlink on the way", rel);
    if (errno == EXDEV)
        return rt_error_set(err, EXDEV, "%s: crosses a mount", rel);
    return rt_error_set(err, errno, "%s", rel);
}

static int too_big(int fd, const char *rel, size_t max, size_t seen, size_t *len,
                   rt_error *err)
{
    struct stat st;

    /* It grew while we read, or its size was not told (st_size 0): give the
     * size when fstat knows it now, else what we read. */
    if (fstat(fd, &st) == 0 && (uint64_t)st.st_size > seen) {
        *len = (size_t)st.st_size;
        return rt_error_set(err, EFBIG, "%s: %zu bytes, above the cap of %zu", rel, *len, max);
    }
    *len = seen;
    return rt_error_set(err, EFBIG, "%s: at least %zu bytes, above the cap of %zu", rel, seen,
                        max);
}

/* Reads to the end but never more than max + 1 bytes: one more than the cap
 * tells a file that grew past it. */
static int read_capped(int fd, const char *rel, size_t max, size_t hint, char **data,
                       size_t *len, rt_error *err)
{
    size_t cap = (hint < max ? hint : max) + 2, n = 0; /* + the extra byte and the NUL */
    cleanup_free char *buf = malloc(cap);

    if (!buf)
        return rt_error_set(err, ENOMEM, "%s", rel);
    for (;;) {
        if (n == cap - 1) {
            if (n > max)
                return too_big(fd, rel, max, n, len, err);
            size_t ncap = cap > (max + 2) / 2 ? max + 2 : cap * 2;
            char *p = realloc(buf, ncap);
            if (!p)
                return rt_error_set(err, ENOMEM, "%s", rel);
            buf = p;
            cap = ncap;
        }
        ssize_t r = read(fd, buf + n, cap - 1 - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return rt_error_set(err, errno, "reading %s", rel);
        if (r == 0)
            break;
        n += (size_t)r;
    }
    if (n > max)
        return too_big(fd, rel, max, n, len, err);
    buf[n] = '\0';
    *data = steal_pointer(&buf);
    *len = n;
    return 0;
}

int orch_read_beneath(int dirfd, const char *rel, size_t max, char **data, size_t *len,
                      rt_error *err)
{
    struct stat st;

    *data = NULL;
    *len = 0;
    /* Room for max + 2 bytes must not overflow; no cap is near this anyway. */
    if (max > SIZE_MAX / 4)
        max = SIZE_MAX / 4;
    cleanup_close int fd = open_beneath(dirfd, rel, err);
    if (fd == -2)
        return 1;
    if (fd < 0)
        return -1;
    if (fstat(fd, &st) < 0)
        return rt_error_set(err, errno, "%s", rel);
    if (!S_ISREG(st.st_mode))
        return rt_error_set(err, 0, "%s: not a regular file%s", rel,
                            S_ISDIR(st.st_mode) ? " (a directory)" : "");
    if ((uint64_t)st.st_size > max) {
        *len = (size_t)st.st_size;
        return rt_error_set(err, EFBIG, "%s: %zu bytes, above the cap of %zu", rel,
                            (size_t)st.st_size, max);
    }
    return read_capped(fd, rel, max, (size_t)st.st_size, data, len, err);
}

/* ---- walking trees ----------------------------------------------------------- */

/* Whether the open fd is the root of a mount: a bind mount from our own
 * filesystem has our st_dev, and only statx tells it (Linux 5.8; before
 * that, st_dev alone decides). */
static bool mount_root(int fd)
{
    struct statx stx;

    if (statx(fd, "", AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW, 0, &stx) < 0)
        return false;
    return stx.stx_attributes_mask & stx.stx_attributes & STATX_ATTR_MOUNT_ROOT;
}

/* ---- removing a tree ------------------------------------------------------- */

/* Opens the directory name under fd without following a symlink. Code in the
 * sandbox that ran as our uid may have taken our permissions on it away: the
 * files are ours, so we give them back. */
static int open_dir_at(int fd, const char *name)
{
    int c = openat(fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

    if (c < 0 && errno == EACCES && fchmodat(fd, name, S_IRWXU, AT_SYMLINK_NOFOLLOW) == 0)
        c = openat(fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    return c;
}

/* unlinkat, after giving ourselves write permission on the directory if needed. */
static int unlink_in(int fd, const char *name, int flags)
{
    struct stat st;

    if (unlinkat(fd, name, flags) == 0 || errno == ENOENT)
        return 0;
    if (errno != EACCES)
        return -1;
    if (fstat(fd, &st) < 0 || fchmod(fd, (st.st_mode | S_IRWXU) & 07777) < 0) {
        errno = EACCES;
        return -1;
    }
    return unlinkat(fd, name, flags) == 0 || errno == ENOENT ? 0 : -1;
}

struct rm_frame {
    DIR *d;
    char *name;               /* in the parent; NULL for the top */
    bool kept;                /* something below stays: do not rmdir */
    bool removed;             /* something went in this scan: scan again */
};

struct rm {
    const char *path;
    dev_t dev;
    struct rm_frame st[RM_DEPTH];
    size_t depth;
    unsigned next_name;       /* for directories moved up */
    bool failed;
    rt_error *err;
};

/* path/a/b/name, for a message. */
static const char *rm_where(const struct rm *r, const char *name, char *buf, size_t size)
{
    size_t o = (size_t)snprintf(buf, size, "%s", r->path);

    for (size_t i = 1; i < r->depth && o < size; i++)
        o += (size_t)snprintf(buf + o, size - o, "/%s", r->st[i].name);
    if (o < size)
        snprintf(buf + o, size - o, "/%s", name);
    return buf;
}

/* Leaves name in the current directory: the first problem is the message. */
static __attribute__((format(printf, 4, 5))) void rm_keep(struct rm *r, int errnum,
                                                          const char *name, const char *fmt,
                                                          ...)
{
    char where[RT_ERROR_MAX / 2], what[RT_ERROR_MAX / 2];
    va_list ap;

    r->st[r->depth - 1].kept = true;
    if (r->failed)
        return;
    r->failed = true;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    rt_error_set(r->err, errnum, "%s: %s", rm_where(r, name, where, sizeof where), what);
}

/* A directory below the depth we hold open moves up into the top directory
 * under a new name, where a later scan of the top finds it. */
static void rm_hoist(struct rm *r, const char *name)
{
    struct rm_frame *f = &r->st[r->depth - 1];
    char to[32];

    for (;;) {
        snprintf(to, sizeof to, ".orch-rm-%u", r->next_name++);
        if (renameat2(dirfd(f->d), name, dirfd(r->st[0].d), to, RENAME_NOREPLACE) == 0)
            break;
        if (errno != EEXIST) {
            rm_keep(r, errno, name, "moving it up to remove it");
            return;
        }
    }
    f->removed = true;
    r->st[0].removed = true;
}

static void rm_push(struct rm *r, const char *name)
{
    struct rm_frame *f = &r->st[r->depth - 1];
    struct stat st;
    int c = open_dir_at(dirfd(f->d), name);

    if (c < 0) {
        if (errno != ENOENT)
            rm_keep(r, errno, name, "opening");
        return;
    }
    if (fstat(c, &st) < 0) {
        int e = errno;
        close(c);
        rm_keep(r, e, name, "stat");
        return;
    }
    /* Checked again on the open directory: a mount may have appeared since. */
    if (st.st_dev != r->dev || mount_root(c)) {
        close(c);
        rm_keep(r, 0, name, "a mount point, left in place");
        return;
    }
    char *copy = strdup(name);
    DIR *d = copy ? fdopendir(c) : NULL;
    if (!d) {
        close(c);
        free(copy);
        rm_keep(r, ENOMEM, name, "opening");
        return;
    }
    r->st[r->depth++] = (struct rm_frame){.d = d, .name = copy};
}

static void rm_entry(struct rm *r, const char *name)
{
    struct rm_frame *f = &r->st[r->depth - 1];
    struct stat st;

    if (fstatat(dirfd(f->d), name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
        if (errno != ENOENT)
            rm_keep(r, errno, name, "stat");
        return;
    }
    if (st.st_dev != r->dev)
        rm_keep(r, 0, name, "a mount point, left in place");
    else if (!S_ISDIR(st.st_mode) && unlink_in(dirfd(f->d), name, 0) < 0)
        rm_keep(r, errno, name, "removing");
    else if (!S_ISDIR(st.st_mode))
        f->removed = true;
    else if (r->depth == RM_DEPTH)
        rm_hoist(r, name);
    else
        rm_push(r, name);
}

/* Done with a scan of the current directory. When the scan removed entries
 * (or moved one up into it), it is scanned again: readdir need not return
 * entries that moved during a scan. Then rmdir it from its parent unless
 * something in it stays. Each new scan follows one that removed something,
 * so this ends. */
static void rm_pop(struct rm *r)
{
    struct rm_frame *f = &r->st[r->depth - 1];

    if (f->removed) {
        f->removed = false;
        rewinddir(f->d);
        return;
    }
    closedir(f->d);
    r->depth--;
    if (r->depth > 0) {
        struct rm_frame *parent = &r->st[r->depth - 1];
        if (f->kept)
            parent->kept = true;
        else if (unlink_in(dirfd(parent->d), f->name, AT_REMOVEDIR) < 0)
            rm_keep(r, errno, f->name, "removing");
        else
            parent->removed = true;
    }
    free(f->name);
}

/* Iterative, with at most RM_DEPTH directories open: deeper ones are moved up
 * (rm_hoist), so no tree is too deep to remove. Meant for a tree nothing
 * writes to any more (the sandboxes that wrote it are gone): a writer that
 * keeps adding entries keeps the rescans going. */
static void rm_walk(struct rm *r)
{
    while (r->depth > 0) {
        struct rm_frame *f = &r->st[r->depth - 1];
        errno = 0;
        struct dirent *e = readdir(f->d);
        if (!e && errno) {
            f->removed = false;
            rm_keep(r, errno, ".", "reading the directory");
        }
        if (!e) {
            rm_pop(r);
            continue;
        }
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
            rm_entry(r, e->d_name);
    }
}

int orch_remove_tree(const char *path, rt_error *err)
{
    struct stat st;
    struct rm r = {.path = path, .err = err};

    if (lstat(path, &st) < 0)
        return errno == ENOENT ? 0 : rt_error_set(err, errno, "%s", path);
    if (!S_ISDIR(st.st_mode))
        return unlink(path) < 0 && errno != ENOENT ? rt_error_set(err, errno, "%s", path) : 0;
    int fd = open_dir_at(AT_FDCWD, path);
    if (fd < 0)
        return rt_error_set(err, errno, "%s", path);
    if (fstat(fd, &st) < 0) {
        rt_error_set(err, errno, "%s", path);
        close(fd);
        return -1;
    }
    r.dev = st.st_dev;
    if (!(r.st[0].d = fdopendir(fd))) {
        rt_error_set(err, errno, "%s", path);
        close(fd);
        return -1;
    }
    r.depth = 1;
    rm_walk(&r);
    if (r.failed) {
        msg_clean(err);
        return -1;
    }
    if (rmdir(path) < 0 && errno != ENOENT)
        return rt_error_set(err, errno, "%s", path);
    return 0;
}

/* ---- tar ------------------------------------------------------------------- */

struct tar_frame {
    int fd;
    char **names;             /* sorted, for an archive that does not depend on readdir */
    size_t n, i;
    size_t plen;              /* of its path in tar->path, with the "/" */
};

struct tar {
    struct archive *a;
    struct archive_entry *e;
    dev_t dev;
    char *path;               /* of the current entry, relative to dir */
    size_t path_cap;
    struct tar_frame st[TAR_DEPTH];
    size_t depth;
    rt_error *err;
};

static int names_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void names_free(char **names, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
}

/* The names in the directory fd, sorted, without "." and "..". */
static int list_dir(int fd, const char *path, struct tar_frame *f, rt_error *err)
{
    int c = openat(fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR *d = c < 0 ? NULL : fdopendir(c);
    size_t cap = 0;
    struct dirent *e;

    if (!d) {
        int saved = errno;
        if (c >= 0)
            close(c);
        return rt_error_set(err, saved, "%s", *path ? path : ".");
    }
    for (errno = 0; (e = readdir(d)); errno = 0) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        if (f->n == cap) {
            char **p = reallocarray(f->names, cap = cap ? cap * 2 : 16, sizeof *p);
            if (!p)
                break;
            f->names = p;
        }
        if (!(f->names[f->n] = strdup(e->d_name)))
            break;
        f->n++;
    }
    int saved = e ? ENOMEM : errno;
    closedir(d);
    if (e || saved)
        return rt_error_set(err, saved, "reading %s", *path ? path : ".");
    if (f->n)
        qsort(f->names, f->n, sizeof *f->names, names_cmp);
    return 0;
}

/* Makes tar->path the current directory's path followed by name. */
static int tar_path(struct tar *t, size_t plen, const char *name)
{
    size_t n = strlen(name), need = plen + n + 2;

    if (need > t->path_cap) {
        char *p = realloc(t->path, need * 2);
        if (!p)
            return rt_error_set(t->err, ENOMEM, "%.*s%s", width(plen), t->path, name);
        t->path = p;
        t->path_cap = need * 2;
    }
    memcpy(t->path + plen, name, n + 1);
    return 0;
}

/* "where: what: libarchive's message", which carries the cause; its errno
 * is the code. */
static int archive_fail(struct archive *a, rt_error *err, const char *where, const char *what)
{
    const char *m = archive_error_string(a);

    rt_error_set(err, 0, "%s: %s%s%s", where, what, *what ? ": " : "",
                 m ? m : "unknown error");
    if (err)
        err->code = archive_errno(a) > 0 ? archive_errno(a) : 0;
    return -1;
}

static int tar_fail(struct tar *t, const char *what)
{
    return archive_fail(t->a, t->err, t->path, what);
}

/* The header for t->path from st. ARCHIVE_WARN is a header written with a
 * note (a name that is not UTF-8 goes in as bytes): not a failure. */
static int tar_header(struct tar *t, const struct stat *st, const char *link)
{
    archive_entry_clear(t->e);
    archive_entry_copy_pathname(t->e, t->path);
    archive_entry_copy_stat(t->e, st);
    if (!S_ISREG(st->st_mode))
        archive_entry_set_size(t->e, 0);
    if (link)
        archive_entry_copy_symlink(t->e, link);
    if (archive_write_header(t->a, t->e) < ARCHIVE_WARN)
        return tar_fail(t, "writing the header");
    return 0;
}

static int tar_data(struct tar *t, int fd, const struct stat *st)
{
    cleanup_free char *buf = malloc(TAR_CHUNK);
    uint64_t left = (uint64_t)st->st_size;

    if (!buf)
        return rt_error_set(t->err, ENOMEM, "%s", t->path);
    /* Only the size in the header: a file that grows is cut, one that shrinks
     * is padded with zeros by archive_write_finish_entry. */
    while (left > 0) {
        ssize_t r = read(fd, buf, left < TAR_CHUNK ? (size_t)left : TAR_CHUNK);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return rt_error_set(t->err, errno, "reading %s", t->path);
        if (r == 0)
            break;
        if (archive_write_data(t->a, buf, (size_t)r) != r)
            return tar_fail(t, "writing");
        left -= (uint64_t)r;
    }
    if (archive_write_finish_entry(t->a) < ARCHIVE_WARN)
        return tar_fail(t, "writing");
    return 0;
}

static int tar_file(struct tar *t, int dirfd, const char *name)
{
    struct stat st;
    /* O_NONBLOCK: should a FIFO take the file's place, the open does not wait. */
    cleanup_close int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);

    if (fd < 0 && errno == ENOENT)
        return 0;
    if (fd < 0)
        return rt_error_set(t->err, errno, "%s", t->path);
    if (fstat(fd, &st) < 0)
        return rt_error_set(t->err, errno, "%s", t->path);
    if (!S_ISREG(st.st_mode) || st.st_dev != t->dev || mount_root(fd))
        return 0;
    if (tar_header(t, &st, NULL) < 0)
        return -1;
    return tar_data(t, fd, &st);
}

static int tar_link(struct tar *t, int dirfd, const char *name, const struct stat *st)
{
    char target[PATH_MAX + 1];
    ssize_t n = readlinkat(dirfd, name, target, sizeof target);

    if (n < 0 && errno == ENOENT)
        return 0;
    if (n < 0)
        return rt_error_set(t->err, errno, "%s", t->path);
    if ((size_t)n >= sizeof target)
        return rt_error_set(t->err, ENAMETOOLONG, "%s", t->path);
    target[n] = '\0';
    return tar_header(t, st, target);
}

static int tar_dir(struct tar *t, int dirfd, const char *name)
{
    struct stat st;
    struct tar_frame f = {.fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
                                                        O_CLOEXEC)};

    if (f.fd < 0 && errno == ENOENT)
        return 0;
    if (f.fd < 0)
        return rt_error_set(t->err, errno, "%s", t->path);
    if (fstat(f.fd, &st) < 0) {
        rt_error_set(t->err, errno, "%s", t->path);
        close(f.fd);
        return -1;
    }
    /* Checked again on the open directory: a mount may have appeared since. */
    if (st.st_dev != t->dev || mount_root(f.fd)) {
        close(f.fd);
        return 0;
    }
    if (t->depth == TAR_DEPTH) {
        close(f.fd);
        return rt_error_set(t->err, 0, "%s: more than %d directories deep", t->path,
                            TAR_DEPTH);
    }
    f.plen = strlen(t->path) + 1;
    if (tar_header(t, &st, NULL) < 0 || list_dir(f.fd, t->path, &f, t->err) < 0 ||
        tar_path(t, f.plen - 1, "/") < 0) {
        close(f.fd);
        names_free(f.names, f.n);
        return -1;
    }
    t->st[t->depth++] = f;
    return 0;
}

/* One entry of the current directory: directories, regular files and symlinks
 * of our filesystem; other types, and mounts, are left out. */
static int tar_entry(struct tar *t, struct tar_frame *f, const char *name)
{
    struct stat st;

    if (tar_path(t, f->plen, name) < 0)
        return -1;
    if (fstatat(f->fd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
        return errno == ENOENT ? 0 : rt_error_set(t->err, errno, "%s", t->path);
    if (st.st_dev != t->dev)
        return 0;
    if (S_ISDIR(st.st_mode))
        return tar_dir(t, f->fd, name);
    if (S_ISREG(st.st_mode))
        return tar_file(t, f->fd, name);
    if (S_ISLNK(st.st_mode))
        return tar_link(t, f->fd, name, &st);
    return 0;
}

/* Iterative, at most TAR_DEPTH directories open. */
static int tar_walk(struct tar *t)
{
    int rc = 0;

    while (t->depth > 0) {
        struct tar_frame *f = &t->st[t->depth - 1];
        if (rc == 0 && f->i < f->n) {
            rc = tar_entry(t, f, f->names[f->i++]);
            continue;
        }
        close(f->fd);
        names_free(f->names, f->n);
        t->depth--;
    }
    return rc;
}

static int tar_tree(struct tar *t, const char *dir)
{
    struct stat st;
    struct tar_frame f = {.fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)};

    if (f.fd < 0)
        return rt_error_set(t->err, errno, "%s", dir);
    if (fstat(f.fd, &st) < 0) {
        rt_error_set(t->err, errno, "%s", dir);
        close(f.fd);
        return -1;
    }
    if (tar_path(t, 0, "") < 0 || list_dir(f.fd, "", &f, t->err) < 0) {
        close(f.fd);
        names_free(f.names, f.n);
        return -1;
    }
    t->dev = st.st_dev;
    t->st[t->depth++] = f;
    return tar_walk(t);
}

/* Where the archive goes: fd, until a failure, after which nothing more is
 * written, the end-of-archive blocks included. Our own callback rather than
 * archive_write_open_fd: libarchive before 3.8 leaks its block buffer when an
 * archive is abandoned with archive_write_fail (libarchive#1568), and
 * archive_write_close, which frees it, would end the archive as if whole. */
struct sink {
    int fd;
    bool failed;
};

static la_ssize_t sink_write(struct archive *a, void *data, const void *buf, size_t n)
{
    struct sink *s = data;

    if (s->failed) {
        archive_set_error(a, ECANCELED, "not written after an error");
        return -1;
    }
    for (size_t done = 0; done < n;) {
        ssize_t w = write(s->fd, (const char *)buf + done, n - done);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            int e = w < 0 ? errno : EIO;
            archive_set_error(a, e, "writing the archive: %s", strerror(e));
            s->failed = true;
            return -1;
        }
        done += (size_t)w;
    }
    return (la_ssize_t)n;
}

int orch_tar_write(const char *dir, int fd, rt_error *err)
{
    struct tar t = {.a = archive_write_new(), .e = archive_entry_new(), .err = err};
    struct sink sink = {.fd = fd};
    char where[512];
    int rc;

    snprintf(where, sizeof where, "tar of %s", dir);
    if (!t.a || !t.e)
        rc = rt_error_set(err, ENOMEM, "%s", where);
    else if (archive_write_set_format_pax_restricted(t.a) != ARCHIVE_OK ||
             archive_write_open2(t.a, &sink, NULL, sink_write, NULL, NULL) != ARCHIVE_OK)
        rc = archive_fail(t.a, err, where, "");
    else if ((rc = tar_tree(&t, dir)) < 0)
        rt_error_wrap(err, "%s", where);
    if (rc < 0)
        msg_clean(err);
    sink.failed |= rc < 0;
    /* Writes the end of the archive (refused by the sink after a failure) and
     * frees libarchive's buffers either way. */
    if (t.a && archive_write_close(t.a) != ARCHIVE_OK && rc == 0)
        rc = archive_fail(t.a, err, where, "");
    if (t.a && archive_write_free(t.a) != ARCHIVE_OK && rc == 0)
        rc = rt_error_set(err, 0, "%s: freeing the archive", where);
    archive_entry_free(t.e);
    free(t.path);
    return rc;
}
