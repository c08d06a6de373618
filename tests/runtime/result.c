/* Tests runtime/result.c: status names, the capped buffer, result ownership. */
#include <stdio.h>
#include <string.h>

#include "result.h"
#include "tap.h"

static const char *const names[] = {
    "ok", "exit_nonzero", "signaled", "timeout", "cpu_limit", "memory_limit",
    "output_limit", "seccomp", "cancelled", "error",
};

static void test_status_names(void)
{
    rt_status s;

    for (int i = 0; i <= RT_STATUS_ERROR; i++) {
        s = RT_STATUS_OK;
        is_str(rt_status_name((rt_status)i), names[i], names[i]);
        ok(rt_status_from_name(names[i], &s) == 0 && s == (rt_status)i, "%s reads back",
           names[i]);
    }
    is_str(rt_status_name((rt_status)(RT_STATUS_ERROR + 1)), "unknown", "value past the enum");
    is_str(rt_status_name((rt_status)-1), "unknown", "negative value");
    s = RT_STATUS_TIMEOUT;
    ok(rt_status_from_name("OK", &s) == -1 && s == RT_STATUS_TIMEOUT, "names are exact");
    ok(rt_status_from_name("unknown", &s) == -1, "\"unknown\" does not read back");
    ok(rt_status_from_name("", &s) == -1, "empty name refused");
    ok(rt_status_from_name(NULL, &s) == -1, "NULL name refused");
}

static void test_buf_exact_cap(void)
{
    rt_buf b;

    rt_buf_init(&b, 10);
    ok(b.data == NULL && b.len == 0 && !b.truncated && b.limit == 10, "init is empty");
    is_int(rt_buf_append(&b, "hello", 5), 0, "5 of 10 bytes fit");
    is_str(b.data, "hello", "data is NUL-terminated");
    is_int(rt_buf_append(&b, "world", 5), 0, "exactly the limit fits");
    ok(b.len == 10 && !b.truncated, "full but not truncated");
    ok(b.data[10] == '\0' && b.cap >= 11, "NUL kept past the limit");
    is_int(rt_buf_append(&b, "", 0), 0, "appending nothing to a full buffer");
    ok(!b.truncated, "an empty append does not truncate");
    is_int(rt_buf_append(&b, "!", 1), 1, "one byte past the limit is dropped");
    ok(b.truncated && b.len == 10, "truncated set, length unchanged");
    is_str(b.data, "helloworld", "content intact");
    is_int(rt_buf_append(&b, "more", 4), 4, "later appends report every byte dropped");
    rt_buf_free(&b);
    ok(b.data == NULL && b.len == 0 && b.cap == 0 && !b.truncated, "free resets");
    rt_buf_free(&b);
    ok(1, "a second free is harmless");
}

static void test_buf_split(void)
{
    rt_buf b;

    rt_buf_init(&b, 5);
    is_int(rt_buf_append(&b, "abcdefgh", 8), 3, "one append across the limit keeps 5 of 8");
    ok(b.truncated && b.len == 5, "truncated at exactly the limit");
    is_str(b.data, "abcde", "kept the first bytes");
    ok(b.cap <= 6, "never allocates past limit + 1 (cap %zu)", b.cap);
    rt_buf_free(&b);

    rt_buf_init(&b, 0);
    is_int(rt_buf_append(&b, "abc", 3), 3, "limit 0 drops everything");
    ok(b.truncated && b.data == NULL, "limit 0 allocates nothing");
    rt_buf_free(&b);

    rt_buf_init(&b, 100);
    is_int(rt_buf_append(&b, "a\0b", 3), 0, "bytes with a NUL");
    ok(b.len == 3 && memcmp(b.data, "a\0b", 4) == 0, "NULs kept, terminator after them");
    rt_buf_free(&b);
}

/* Many small appends: growth must be geometric and the total exact. */
static void test_buf_growth(void)
{
    rt_buf b;
    size_t reallocs = 0, last_cap = 0;
    long dropped = 0;
    char chunk[7] = "0123456";

    rt_buf_init(&b, 100000);
    for (int i = 0; i < 20000; i++) {
        long r = rt_buf_append(&b, chunk, sizeof chunk);
        if (r < 0)
            break;
        dropped += r;
        if (b.cap != last_cap) {
            reallocs++;
            last_cap = b.cap;
        }
    }
    is_int(b.len, 100000, "filled to the limit");
    is_int(dropped, 20000 * 7 - 100000, "every dropped byte counted");
    ok(reallocs <= 12, "geometric growth (%zu reallocations)", reallocs);
    ok(b.cap == 100001, "last growth stops at limit + 1 (cap %zu)", b.cap);
    ok(memcmp(b.data + 99995, "01234", 5) == 0 && b.data[100000] == '\0',
       "tail bytes and terminator right");
    rt_buf_free(&b);
}

static void test_result(void)
{
    rt_result r;
    char msg[] = "creating cgroup: Permission denied";

    memset(&r, 0x5a, sizeof r);
    rt_result_init(&r, 4096);
    is_int(r.status, RT_STATUS_ERROR, "a fresh result says error until the run sets it");
    ok(r.exit_code == -1 && r.signal == 0, "no exit code, no signal");
    ok(r.out.limit == 4096 && r.err.limit == 4096, "output limit applied to both streams");
    ok(r.error == NULL && r.syscall == NULL && r.setup_ms == 0 && r.usage.pids_peak == 0 &&
           !r.enforced.memory,
       "everything else zero");
    r.status = RT_STATUS_OK;
    rt_result_set_error(&r, msg);
    msg[0] = 'X';
    is_int(r.status, RT_STATUS_ERROR, "set_error sets status error");
    is_str(r.error, "creating cgroup: Permission denied", "set_error copies the message");
    rt_result_set_error(&r, "second");
    is_str(r.error, "second", "set_error replaces the message");
    if (rt_buf_append(&r.out, "out", 3) < 0)
        diag("out of memory");
    rt_result_free(&r);
    ok(r.error == NULL && r.out.data == NULL, "free empties the result");
    rt_result_free(&r);
    ok(1, "a second free is harmless");
}

int main(void)
{
    tap_plan(62);
    test_status_names();
    test_buf_exact_cap();
    test_buf_split();
    test_buf_growth();
    test_result();
    return tap_done();
}
