#include "parse.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#define SIZE_FORM  "use a whole number with an optional k, m, g or t suffix"
#define DUR_FORM   "use a number with an optional ms, s, m or h suffix, e.g. 250ms or 1.5s"
#define COUNT_FORM "use a whole number such as 64"
#define REAL_FORM  "use a decimal number such as 0.5"

/* Longest piece of user text echoed in a message, before "...". */
#define SHOWN_MAX 40

struct unit {
    const char *name;
    uint64_t mult;
};

static const struct unit size_units[] = {
    {"", 1},
    {"b", 1},
    {"k", 1ull << 10}, {"kb", 1ull << 10}, {"kib", 1ull << 10},
    {"m", 1ull << 20}, {"mb", 1ull << 20}, {"mib", 1ull << 20},
    {"g", 1ull << 30}, {"gb", 1ull << 30}, {"gib", 1ull << 30},
    {"t", 1ull << 40}, {"tb", 1ull << 40}, {"tib", 1ull << 40},
    {NULL, 0},
};

/* A bare number is seconds, as in timeout(1) and sleep(1). */
static const struct unit duration_units[] = {
    {"", 1000}, {"ms", 1}, {"s", 1000}, {"m", 60 * 1000}, {"h", 3600 * 1000}, {NULL, 0},
};

/* Largest first, for formatting. */
static const struct unit duration_shown[] = {
    {"h", 3600 * 1000}, {"m", 60 * 1000}, {"s", 1000}, {"ms", 1}, {NULL, 0},
};

/* A number as written: digits[.digits]suffix. */
struct number {
    uint64_t whole;
    bool overflow;             /* the whole part does not fit in 64 bits */
    const char *frac;          /* digits after the point, NULL when none */
    size_t frac_len;
    const char *suffix;
};

static size_t scan_digits(const char *s, uint64_t *v, bool *overflow)
{
    size_t i;

    for (i = 0; s[i] >= '0' && s[i] <= '9'; i++) {
        if (__builtin_mul_overflow(*v, 10, v) ||
            __builtin_add_overflow(*v, (uint64_t)(s[i] - '0'), v))
            *overflow = true;
    }
    return i;
}

/* Fails when no digit comes first or no digit follows a point. */
static int scan_number(const char *s, struct number *n)
{
    memset(n, 0, sizeof *n);
    size_t i = scan_digits(s, &n->whole, &n->overflow);
    if (i == 0)
        return -1;
    if (s[i] == '.') {
        n->frac = s + i + 1;
        n->frac_len = strspn(n->frac, "0123456789");
        if (n->frac_len == 0)
            return -1;
        i += 1 + n->frac_len;
    }
    n->suffix = s + i;
    return 0;
}

static const struct unit *find_unit(const struct unit *u, const char *suffix)
{
    for (; u->name; u++)
        if (strcasecmp(u->name, suffix) == 0)
            return u;
    return NULL;
}

/* User text for a message: cut to fit buf with "...", and non-printable bytes shown as '?' so
 * that a message cannot carry terminal escapes. */
static const char *shown(const char *s, char *buf, size_t len)
{
    size_t i;

    for (i = 0; s[i] && i + 4 < len; i++)
        buf[i] = (s[i] >= 0x20 && s[i] < 0x7f) ? s[i] : '?';
    buf[i] = '\0';
    if (s[i])
        snprintf(buf + i, len - i, "...");
    return buf;
}

static int not_a(const char *what, const char *s, const char *kind, const char *form,
                 rt_error *err)
{
    char b[SHOWN_MAX + 4];

    return rt_error_set(err, 0, "%s: \"%s\" is not %s (%s)", what, shown(s, b, sizeof b),
                        kind, form);
}

static int too_large(const char *what, const char *s, const char *max, rt_error *err)
{
    char b[SHOWN_MAX + 4];

    return rt_error_set(err, 0, "%s: %s is too large (maximum %s)", what,
                        shown(s, b, sizeof b), max);
}

static int not_positive(const char *what, rt_error *err)
{
    return rt_error_set(err, 0, "%s: must be greater than zero", what);
}

int rt_parse_size(const char *s, uint64_t max, const char *what, uint64_t *out, rt_error *err)
{
    struct number n;
    const struct unit *u;
    uint64_t v = 0;
    char maxs[32];

    s = s ? s : "";
    if (scan_number(s, &n) < 0 || n.frac || !(u = find_unit(size_units, n.suffix)))
        return not_a(what, s, "a size", SIZE_FORM, err);
    bool big = n.overflow || __builtin_mul_overflow(n.whole, u->mult, &v);
    if (!big && v == 0)
        return not_positive(what, err);
    if (big || v > max) {
        rt_format_size(max, maxs, sizeof maxs);
        return too_large(what, s, maxs, err);
    }
    *out = v;
    return 0;
}

/* The fraction's share in ms; fails unless it comes to a whole number. */
static int fraction_ms(const struct number *n, uint64_t mult, uint64_t *ms)
{
    size_t len = n->frac_len;
    uint64_t f = 0, scale = 1;

    while (len > 0 && n->frac[len - 1] == '0')
        len--;
    /* mult is at most 3.6e6 = 2^7 * 3^2 * 5^5, so a whole result needs at
     * most 7 significant decimals; 9 keeps f * mult far from overflow. */
    if (len > 9)
        return -1;
    for (size_t i = 0; i < len; i++) {
        f = f * 10 + (uint64_t)(n->frac[i] - '0');
        scale *= 10;
    }
    if (f * mult % scale)
        return -1;
    *ms = f * mult / scale;
    return 0;
}

int rt_parse_duration_ms(const char *s, uint64_t max_ms, const char *what, uint64_t *out,
                         rt_error *err)
{
    struct number n;
    const struct unit *u;
    uint64_t v = 0, part = 0;
    char maxs[32], b[SHOWN_MAX + 4];

    s = s ? s : "";
    if (scan_number(s, &n) < 0 || !(u = find_unit(duration_units, n.suffix)))
        return not_a(what, s, "a duration", DUR_FORM, err);
    if (n.frac && fraction_ms(&n, u->mult, &part) < 0)
        return rt_error_set(err, 0, "%s: \"%s\" is not a whole number of milliseconds", what,
                            shown(s, b, sizeof b));
    bool big = n.overflow || __builtin_mul_overflow(n.whole, u->mult, &v) ||
               __builtin_add_overflow(v, part, &v);
    if (!big && v == 0)
        return not_positive(what, err);
    if (big || v > max_ms) {
        rt_format_duration_ms(max_ms, maxs, sizeof maxs);
        return too_large(what, s, maxs, err);
    }
    *out = v;
    return 0;
}

int rt_parse_count(const char *s, uint64_t max, const char *what, uint64_t *out, rt_error *err)
{
    struct number n;
    char maxs[32];

    s = s ? s : "";
    if (scan_number(s, &n) < 0 || n.frac || *n.suffix)
        return not_a(what, s, "a whole number", COUNT_FORM, err);
    if (!n.overflow && n.whole == 0)
        return not_positive(what, err);
    if (n.overflow || n.whole > max) {
        snprintf(maxs, sizeof maxs, "%" PRIu64, max);
        return too_large(what, s, maxs, err);
    }
    *out = n.whole;
    return 0;
}

/* Fraction digits past 18 are below a double's precision; they are dropped so
 * that the scaled integer cannot overflow. */
static double fraction_value(const struct number *n)
{
    uint64_t f = 0;
    double scale = 1;

    for (size_t i = 0; i < n->frac_len && i < 18; i++) {
        f = f * 10 + (uint64_t)(n->frac[i] - '0');
        scale *= 10;
    }
    return (double)f / scale;
}

int rt_parse_positive_double(const char *s, double max, const char *what, double *out,
                             rt_error *err)
{
    struct number n;
    char maxs[32];

    s = s ? s : "";
    if (scan_number(s, &n) < 0 || *n.suffix)
        return not_a(what, s, "a number", REAL_FORM, err);
    double v = (double)n.whole + (n.frac ? fraction_value(&n) : 0);
    if (!n.overflow && v == 0)
        return not_positive(what, err);
    if (n.overflow || v > max) {
        snprintf(maxs, sizeof maxs, "%g", max);
        return too_large(what, s, maxs, err);
    }
    *out = v;
    return 0;
}

void rt_format_size(uint64_t bytes, char *buf, size_t len)
{
    static const char units[] = "tgmk";

    for (int i = 0; units[i]; i++) {
        unsigned shift = 40 - 10 * (unsigned)i;
        if (bytes && bytes % (1ull << shift) == 0) {
            snprintf(buf, len, "%" PRIu64 "%c", bytes >> shift, units[i]);
            return;
        }
    }
    snprintf(buf, len, "%" PRIu64, bytes);
}

void rt_format_duration_ms(uint64_t ms, char *buf, size_t len)
{
    const struct unit *u = duration_shown;

    /* Zero is shown in ms; the table ends with ms, which divides everything. */
    while (ms == 0 ? u->mult != 1 : ms % u->mult != 0)
        u++;
    snprintf(buf, len, "%" PRIu64 "%s", ms / u->mult, u->name);
}
