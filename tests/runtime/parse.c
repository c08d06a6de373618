/* Tests runtime/parse.c: the unit parsers and formatters. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "parse.h"
#include "spec.h"
#include "tap.h"

#define SIZE_FORM "(use a whole number with an optional k, m, g or t suffix)"
#define DUR_FORM "(use a number with an optional ms, s, m or h suffix, e.g. 250ms or 1.5s)"

static void size_is(const char *s, uint64_t want)
{
    uint64_t v = 0;
    rt_error err = {0};
    int rc = rt_parse_size(s, RT_MAX_BYTES, "--memory", &v, &err);

    if (!ok(rc == 0 && v == want, "size \"%s\" = %llu", s, (unsigned long long)want))
        diag("rc %d, value %llu, error: %s", rc, (unsigned long long)v, err.msg);
}

/* The message, or "(accepted)" so that a wrong acceptance shows in the diff. */
static const char *size_err(const char *s, uint64_t max)
{
    static rt_error err;
    uint64_t v = 0;

    rt_error_clear(&err);
    return rt_parse_size(s, max, "--memory", &v, &err) < 0 ? err.msg : "(accepted)";
}

static void size_refused(const char *s, const char *want)
{
    char name[128];

    snprintf(name, sizeof name, "size \"%s\" refused", s);
    is_str(size_err(s, RT_MAX_BYTES), want, name);
}

static void dur_is(const char *s, uint64_t want)
{
    uint64_t v = 0;
    rt_error err = {0};
    int rc = rt_parse_duration_ms(s, RT_MAX_WALL_MS, "--timeout", &v, &err);

    if (!ok(rc == 0 && v == want, "duration \"%s\" = %llu ms", s, (unsigned long long)want))
        diag("rc %d, value %llu, error: %s", rc, (unsigned long long)v, err.msg);
}

static void dur_refused(const char *s, const char *want)
{
    rt_error err = {0};
    uint64_t v = 0;
    char name[128];
    int rc = rt_parse_duration_ms(s, RT_MAX_WALL_MS, "--timeout", &v, &err);

    snprintf(name, sizeof name, "duration \"%s\" refused", s);
    is_str(rc < 0 ? err.msg : "(accepted)", want, name);
}

static void count_is(const char *s, uint64_t want)
{
    uint64_t v = 0;
    rt_error err = {0};
    int rc = rt_parse_count(s, RT_MAX_PIDS, "--pids", &v, &err);

    if (!ok(rc == 0 && v == want, "count \"%s\" = %llu", s, (unsigned long long)want))
        diag("rc %d, error: %s", rc, err.msg);
}

static void count_refused(const char *s, const char *want)
{
    rt_error err = {0};
    uint64_t v = 0;
    char name[128];
    int rc = rt_parse_count(s, RT_MAX_PIDS, "--pids", &v, &err);

    snprintf(name, sizeof name, "count \"%s\" refused", s);
    is_str(rc < 0 ? err.msg : "(accepted)", want, name);
}

static void real_is(const char *s, double want)
{
    double v = -1;
    rt_error err = {0};
    int rc = rt_parse_positive_double(s, RT_MAX_CPUS, "--cpus", &v, &err);

    if (!ok(rc == 0 && v == want, "number \"%s\" = %g", s, want))
        diag("rc %d, value %.17g, error: %s", rc, v, err.msg);
}

static void real_refused(const char *s, const char *want)
{
    rt_error err = {0};
    double v = 0;
    char name[128];
    int rc = rt_parse_positive_double(s, RT_MAX_CPUS, "--cpus", &v, &err);

    snprintf(name, sizeof name, "number \"%s\" refused", s);
    is_str(rc < 0 ? err.msg : "(accepted)", want, name);
}

static void test_sizes(void)
{
    size_is("1", 1);
    size_is("512", 512);
    size_is("007", 7);
    size_is("512b", 512);
    size_is("64k", 64 << 10);
    size_is("64K", 64 << 10);
    size_is("64kb", 64 << 10);
    size_is("64KiB", 64 << 10);
    size_is("256m", 256ull << 20);
    size_is("256MB", 256ull << 20);
    size_is("1g", 1ull << 30);
    size_is("3t", 3ull << 40);
    size_is("1024t", RT_MAX_BYTES);
    size_is("1125899906842624", RT_MAX_BYTES);
}

static void test_size_refusals(void)
{
    size_refused("", "--memory: \"\" is not a size " SIZE_FORM);
    size_refused("12x", "--memory: \"12x\" is not a size " SIZE_FORM);
    size_refused("-1", "--memory: \"-1\" is not a size " SIZE_FORM);
    size_refused("+1", "--memory: \"+1\" is not a size " SIZE_FORM);
    size_refused(" 1", "--memory: \" 1\" is not a size " SIZE_FORM);
    size_refused("1 ", "--memory: \"1 \" is not a size " SIZE_FORM);
    size_refused("1 k", "--memory: \"1 k\" is not a size " SIZE_FORM);
    size_refused("1.5k", "--memory: \"1.5k\" is not a size " SIZE_FORM);
    size_refused("k", "--memory: \"k\" is not a size " SIZE_FORM);
    size_refused("0x10", "--memory: \"0x10\" is not a size " SIZE_FORM);
    size_refused("1e3", "--memory: \"1e3\" is not a size " SIZE_FORM);
    size_refused("1kk", "--memory: \"1kk\" is not a size " SIZE_FORM);
    size_refused("1ib", "--memory: \"1ib\" is not a size " SIZE_FORM);
    size_refused(".5", "--memory: \".5\" is not a size " SIZE_FORM);
    size_refused("0", "--memory: must be greater than zero");
    size_refused("0k", "--memory: must be greater than zero");
    size_refused("000", "--memory: must be greater than zero");
    size_refused("1125899906842625", "--memory: 1125899906842625 is too large (maximum 1024t)");
    size_refused("1025t", "--memory: 1025t is too large (maximum 1024t)");
    size_refused("99999999g", "--memory: 99999999g is too large (maximum 1024t)");
    /* 2^64 itself, the largest uint64, and a product that wraps to exactly 0. */
    size_refused("18446744073709551616",
                 "--memory: 18446744073709551616 is too large (maximum 1024t)");
    size_refused("18446744073709551615",
                 "--memory: 18446744073709551615 is too large (maximum 1024t)");
    size_refused("17179869184g", "--memory: 17179869184g is too large (maximum 1024t)");
    size_refused("99999999999999999999999999999999x",
                 "--memory: \"99999999999999999999999999999999x\" is not a size " SIZE_FORM);
}

static void test_size_details(void)
{
    rt_error err = {0};
    uint64_t v = 77;

    is_str(size_err("2k", 1024), "--memory: 2k is too large (maximum 1k)", "maximum shown in k");
    is_str(size_err("2000", 1000), "--memory: 2000 is too large (maximum 1000)",
           "maximum shown in bytes when no unit divides it");
    is_str(size_err("1k", 1024), "(accepted)", "exactly the maximum is accepted");
    is_str(size_err(NULL, 1024), "--memory: \"\" is not a size " SIZE_FORM, "NULL is refused");
    is_str(size_err("\x1b[31m", 1024), "--memory: \"?[31m\" is not a size " SIZE_FORM,
           "control bytes are not echoed");
    is_str(size_err("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", 1024),
           "--memory: \"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa...\" is not a size " SIZE_FORM,
           "long text is cut");
    ok(rt_parse_size("x", 10, "--memory", &v, &err) == -1 && v == 77,
       "a refusal leaves the output alone");
    is_int(err.code, 0, "a parse error carries no errno");
}

static void test_durations(void)
{
    dur_is("250ms", 250);
    dur_is("250MS", 250);
    dur_is("10s", 10000);
    dur_is("10S", 10000);
    dur_is("10", 10000);
    dur_is("1.5", 1500);
    dur_is("1.5s", 1500);
    dur_is("0.001s", 1);
    dur_is("1.0000000000000s", 1000);
    dur_is("5m", 300000);
    dur_is("1.25m", 75000);
    dur_is("1h", 3600000);
    dur_is("0.0000025h", 9);
    dur_is("168h", RT_MAX_WALL_MS);
}

static void test_duration_refusals(void)
{
    dur_refused("0.0001s", "--timeout: \"0.0001s\" is not a whole number of milliseconds");
    dur_refused("1.5ms", "--timeout: \"1.5ms\" is not a whole number of milliseconds");
    dur_refused("0.1234567891s",
                "--timeout: \"0.1234567891s\" is not a whole number of milliseconds");
    /* 10^64 wraps to 0 in 64 bits: the digit cap keeps the division sound. */
    dur_refused("0.0000000000000000000000000000000000000000000000000000000000000001s",
                "--timeout: \"0.00000000000000000000000000000000000000...\" is not a whole "
                "number of milliseconds");
    dur_refused("0", "--timeout: must be greater than zero");
    dur_refused("0.0s", "--timeout: must be greater than zero");
    dur_refused("0ms", "--timeout: must be greater than zero");
    dur_refused("", "--timeout: \"\" is not a duration " DUR_FORM);
    dur_refused("s", "--timeout: \"s\" is not a duration " DUR_FORM);
    dur_refused("-1s", "--timeout: \"-1s\" is not a duration " DUR_FORM);
    dur_refused("1d", "--timeout: \"1d\" is not a duration " DUR_FORM);
    dur_refused("1.s", "--timeout: \"1.s\" is not a duration " DUR_FORM);
    dur_refused("1s ", "--timeout: \"1s \" is not a duration " DUR_FORM);
    dur_refused("169h", "--timeout: 169h is too large (maximum 168h)");
    dur_refused("604800001ms", "--timeout: 604800001ms is too large (maximum 168h)");
    dur_refused("18446744073709551615s",
                "--timeout: 18446744073709551615s is too large (maximum 168h)");
    dur_refused("18446744073709551616ms",
                "--timeout: 18446744073709551616ms is too large (maximum 168h)");
}

static void test_counts(void)
{
    count_is("1", 1);
    count_is("64", 64);
    count_is("4194304", RT_MAX_PIDS);
    count_refused("4194305", "--pids: 4194305 is too large (maximum 4194304)");
    count_refused("99999999999999999999",
                  "--pids: 99999999999999999999 is too large (maximum 4194304)");
    count_refused("0", "--pids: must be greater than zero");
    count_refused("-1", "--pids: \"-1\" is not a whole number (use a whole number such as 64)");
    count_refused("1.0", "--pids: \"1.0\" is not a whole number (use a whole number such as 64)");
    count_refused("64k", "--pids: \"64k\" is not a whole number (use a whole number such as 64)");
    count_refused("", "--pids: \"\" is not a whole number (use a whole number such as 64)");
}

static void test_reals(void)
{
    const char *form = " is not a number (use a decimal number such as 0.5)";
    char want[128];

    real_is("0.5", 0.5);
    real_is("0.25", 0.25);
    real_is("2", 2);
    real_is("1024", RT_MAX_CPUS);
    real_is("0.1", 0.1);
    real_refused("1024.5", "--cpus: 1024.5 is too large (maximum 1024)");
    real_refused("99999999999999999999", "--cpus: 99999999999999999999 is too large (maximum 1024)");
    real_refused("0", "--cpus: must be greater than zero");
    real_refused("0.000", "--cpus: must be greater than zero");
    const char *bad[] = {"-1", ".5", "1e3", "nan", "inf", "0x1", "1,5", "", "1."};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snprintf(want, sizeof want, "--cpus: \"%s\"%s", bad[i], form);
        real_refused(bad[i], want);
    }
}

static void test_format(void)
{
    char b[32];
    uint64_t v = 0;
    rt_error err = {0};

    rt_format_size(RT_MAX_BYTES, b, sizeof b);
    is_str(b, "1024t", "format 2^50 bytes");
    rt_format_size(64ull << 20, b, sizeof b);
    is_str(b, "64m", "format 64 MiB");
    rt_format_size(1536, b, sizeof b);
    is_str(b, "1536", "format 1.5 KiB as bytes");
    rt_format_size(0, b, sizeof b);
    is_str(b, "0", "format 0 bytes");
    rt_format_duration_ms(RT_MAX_WALL_MS, b, sizeof b);
    is_str(b, "168h", "format a week");
    rt_format_duration_ms(90000, b, sizeof b);
    is_str(b, "90s", "format 90 s");
    rt_format_duration_ms(120000, b, sizeof b);
    is_str(b, "2m", "format 2 min");
    rt_format_duration_ms(250, b, sizeof b);
    is_str(b, "250ms", "format 250 ms");
    rt_format_duration_ms(0, b, sizeof b);
    is_str(b, "0ms", "format 0 ms");
    rt_format_size(3ull << 30, b, sizeof b);
    ok(rt_parse_size(b, RT_MAX_BYTES, "x", &v, &err) == 0 && v == 3ull << 30,
       "formatted size parses back");
    rt_format_duration_ms(61001, b, sizeof b);
    ok(rt_parse_duration_ms(b, RT_MAX_WALL_MS, "x", &v, &err) == 0 && v == 61001,
       "formatted duration parses back (%s)", b);
}

int main(void)
{
    tap_plan(116);
    test_sizes();
    test_size_refusals();
    test_size_details();
    test_durations();
    test_duration_refusals();
    test_counts();
    test_reals();
    test_format();
    return tap_done();
}
