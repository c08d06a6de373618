/* Tiny header-only TAP (Test Anything Protocol) emitter for unit tests.
 *
 *   tap_plan(3);
 *   ok(x == 1, "x is %d", 1);
 *   is_int(f(), 42, "f returns 42");
 *   is_str(name, "ok", "status name");
 *   return tap_done();
 *
 * Everything goes to stdout so that prove sees diagnostics in order. */
#ifndef SANDBOXD_TESTS_TAP_H
#define SANDBOXD_TESTS_TAP_H

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static int tap_planned = -1;
static int tap_run;
static int tap_failed;

static inline void tap_plan(int n)
{
    tap_planned = n;
    printf("1..%d\n", n);
    fflush(stdout);
}

static inline __attribute__((format(printf, 1, 2))) void diag(const char *fmt, ...)
{
    va_list ap;

    fputs("# ", stdout);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    fputc('\n', stdout);
    fflush(stdout);
}

static inline __attribute__((format(printf, 4, 0))) void
tap_vok(int cond, const char *file, int line, const char *fmt, va_list ap)
{
    tap_run++;
    if (!cond)
        tap_failed++;
    printf("%sok %d - ", cond ? "" : "not ", tap_run);
    vprintf(fmt, ap);
    fputc('\n', stdout);
    if (!cond)
        printf("#   Failed test at %s line %d.\n", file, line);
    fflush(stdout);
}

static inline __attribute__((format(printf, 4, 5))) int
tap_ok_at(int cond, const char *file, int line, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    tap_vok(cond, file, line, fmt, ap);
    va_end(ap);
    return cond;
}

static inline int tap_is_int_at(long long got, long long want, const char *file,
                                int line, const char *name)
{
    int cond = got == want;

    tap_ok_at(cond, file, line, "%s", name ? name : "");
    if (!cond)
        diag("       got: %lld\n#   expected: %lld", got, want);
    return cond;
}

static inline int tap_is_str_at(const char *got, const char *want, const char *file,
                                int line, const char *name)
{
    int cond = (got == NULL || want == NULL) ? got == want : strcmp(got, want) == 0;

    tap_ok_at(cond, file, line, "%s", name ? name : "");
    if (!cond)
        diag("       got: %s%s%s\n#   expected: %s%s%s", got ? "\"" : "",
             got ? got : "NULL", got ? "\"" : "", want ? "\"" : "",
             want ? want : "NULL", want ? "\"" : "");
    return cond;
}

static inline void skip(int n, const char *reason)
{
    for (int i = 0; i < n; i++)
        printf("ok %d # skip %s\n", ++tap_run, reason);
    fflush(stdout);
}

/* Returns the process exit code: 0 only if every test passed and the count
 * matches the plan. */
static inline int tap_done(void)
{
    if (tap_planned < 0) {
        printf("1..%d\n", tap_run);
        tap_planned = tap_run;
    }
    if (tap_run != tap_planned)
        diag("planned %d tests but ran %d", tap_planned, tap_run);
    if (tap_failed)
        diag("failed %d of %d tests", tap_failed, tap_run);
    fflush(stdout);
    return tap_failed == 0 && tap_run == tap_planned ? 0 : 1;
}

#define ok(cond, ...) tap_ok_at(!!(cond), __FILE__, __LINE__, __VA_ARGS__)
#define is_int(got, want, name)                                                  \
    tap_is_int_at((long long)(got), (long long)(want), __FILE__, __LINE__, (name))
#define is_str(got, want, name) tap_is_str_at((got), (want), __FILE__, __LINE__, (name))

#endif
