/* The runtime through its C API: one run, many at once in one supervisor, kill,
 * stdin bytes, streaming, and 1,000 runs that leave no fd, process or cgroup. */
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cgroup.h"
#include "sandbox.h"
#include "leaks.h"
#include "tap.h"

static char **argv_of(const char *a, const char *b, const char *c)
{
    char **v = calloc(4, sizeof *v);
    v[0] = strdup(a);
    v[1] = b ? strdup(b) : NULL;
    v[2] = c ? strdup(c) : NULL;
    return v;
}

static rt_status run_sh(const char *script, rt_result *res)
{
    rt_spec spec;
    rt_spec_init(&spec);
    spec.argv = argv_of("/bin/sh", "-c", script);
    rt_error err;
    rt_error_clear(&err);
    int rc = rt_run(&spec, NULL, res, &err);
    rt_spec_free(&spec);
    if (rc < 0) {
        diag("rt_run: %s", err.msg);
        return RT_STATUS_ERROR;
    }
    return res->status;
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void test_one_run(void)
{
    rt_result res;
    is_str(rt_status_name(run_sh("echo out; echo err >&2", &res)), "ok", "a run ends ok");
    is_str(res.out.data, "out\n", "stdout captured");
    is_str(res.err.data, "err\n", "stderr captured separately");
    ok(res.usage.wall_ms > 0 && res.setup_ms > 0 && res.setup_ms <= res.usage.wall_ms,
       "wall %.2f ms, setup %.2f ms", res.usage.wall_ms, res.setup_ms);
    rt_result_free(&res);
}

static void test_stdin_bytes(void)
{
    rt_spec spec;
    rt_spec_init(&spec);
    spec.argv = argv_of("/bin/sh", "-c", "wc -c; head -c 100000 /dev/zero | wc -c");
    size_t len = 3 << 20;      /* larger than any pipe buffer, both ways at once */
    spec.stdin_data = calloc(1, len);
    spec.stdin_len = len;
    spec.stdin_data[1] = 'x';
    rt_result res;
    rt_error err;
    int rc = rt_run(&spec, NULL, &res, &err);
    ok(rc == 0 && res.status == RT_STATUS_OK, "3 MiB of stdin with NULs while output flows");
    is_str(rc == 0 ? res.out.data : "", "3145728\n100000\n", "every stdin byte arrived");
    if (rc == 0)
        rt_result_free(&res);
    rt_spec_free(&spec);
}

/* The runtime writes to pipes whose reader may be gone: the command's stdin and
 * the go-ahead to a child that failed its setup. This program leaves SIGPIPE at
 * its default, which ends it on the first such write that raises one. */
static void test_no_sigpipe(void)
{
    rt_spec spec;
    rt_result res;
    rt_error err;
    int bad = 0;
    for (int i = 0; i < 20; i++) {
        rt_spec_init(&spec);
        spec.argv = argv_of("/bin/sh", "-c", "exec 0<&-; exit 0");
        spec.stdin_len = 1 << 20;
        spec.stdin_data = calloc(1, spec.stdin_len);
        bad += rt_run(&spec, NULL, &res, &err) < 0 || res.status != RT_STATUS_OK;
        rt_result_free(&res);
        rt_spec_free(&spec);
    }
    is_int(bad, 0, "20 runs whose command closes 1 MiB of unread stdin end ok, "
                   "and the caller (SIGPIPE at its default) lives");
    size_t len = 2 << 20;
    char *big = calloc(1, len);
    bad = 0;
    for (int i = 0; i < 50; i++) {
        rt_spec_init(&spec);
        spec.argv = argv_of("/bin/true", NULL, NULL);
        spec.limits.tmpfs_bytes = 1 << 20;
        if (!big || rt_spec_add_file(&spec, "big.bin", big, len, false, &err) < 0)
            abort();
        bad += rt_run(&spec, NULL, &res, &err) < 0 || res.status != RT_STATUS_ERROR;
        rt_result_free(&res);
        rt_spec_free(&spec);
    }
    free(big);
    is_int(bad, 0, "50 runs that fail their setup while the parent signals them end "
                   "as errors, and the caller lives");
}

struct seen {
    size_t bytes[3];
};

static void on_output(void *ctx, int stream, const char *data, size_t len)
{
    (void)data;
    ((struct seen *)ctx)->bytes[stream] += len;
}

static void test_streaming(void)
{
    rt_spec spec;
    rt_spec_init(&spec);
    spec.argv = argv_of("/bin/sh", "-c", "echo 12345; echo 678 >&2");
    struct seen seen = {{0}};
    rt_callbacks cb = {.on_output = on_output, .ctx = &seen};
    rt_result res;
    rt_error err;
    if (rt_run(&spec, &cb, &res, &err) == 0)
        rt_result_free(&res);
    ok(seen.bytes[1] == 6 && seen.bytes[2] == 4, "the output callback sees %zu + %zu bytes",
       seen.bytes[1], seen.bytes[2]);
    rt_spec_free(&spec);
}

/* Eight sleepers at once in one supervisor finish in about the time of one. */
static void test_many_at_once(void)
{
    rt_error err;
    rt_supervisor *sup = rt_supervisor_new(&err);
    rt_spec spec;
    rt_spec_init(&spec);
    spec.argv = argv_of("/bin/sleep", "0.5", NULL);
    double t0 = now_ms();
    int started = 0;
    for (int i = 0; i < 8; i++) {
        rt_sandbox *sb;
        started += rt_sandbox_start(sup, &spec, NULL, &sb, &err) == 0;
    }
    int ok_count = 0, finished = 0;
    while (finished < started) {
        if (rt_supervisor_poll(sup, 1000, &err) < 0)
            break;
        rt_sandbox *sb;
        while ((sb = rt_supervisor_take_done(sup))) {
            rt_result res;
            rt_sandbox_finish(sb, &res);
            ok_count += res.status == RT_STATUS_OK;
            finished++;
            rt_result_free(&res);
        }
    }
    double took = now_ms() - t0;
    is_int(ok_count, 8, "eight sandboxes in one supervisor all end ok");
    ok(took < 2000, "concurrently: %.0f ms for 8 x 500 ms", took);
    rt_supervisor_free(sup);
    rt_spec_free(&spec);
}

static void test_kill(void)
{
    rt_error err;
    rt_supervisor *sup = rt_supervisor_new(&err);
    rt_spec spec;
    rt_spec_init(&spec);
    spec.argv = argv_of("/bin/sh", "-c", "sleep 30 & sleep 30");
    rt_sandbox *sb;
    int rc = rt_sandbox_start(sup, &spec, NULL, &sb, &err);
    rt_supervisor_poll(sup, 100, &err);
    rt_sandbox_kill(sb, RT_STATUS_CANCELLED);
    while (rc == 0 && !rt_supervisor_take_done(sup) && rt_supervisor_poll(sup, 1000, &err) >= 0)
        ;
    rt_result res;
    if (rc == 0)
        rt_sandbox_finish(sb, &res);
    ok(rc == 0 && res.status == RT_STATUS_CANCELLED, "a killed sandbox ends cancelled");
    if (rc == 0)
        rt_result_free(&res);
    rt_supervisor_free(sup);
    rt_spec_free(&spec);
}

static void *blocked_thread(void *arg)
{
    char c;
    return (void *)(long)read(*(int *)arg, &c, 1);
}

/* A threaded caller: glibc's set*id would wait for threads the child does not
 * have (it hung before the child used the raw system calls). */
static void test_threaded_caller(void)
{
    int p[2];
    pthread_t t;
    if (pipe(p) < 0 || pthread_create(&t, NULL, blocked_thread, &p[0]) != 0) {
        skip(2, "no thread");
        return;
    }
    rt_spec spec;
    rt_spec_init(&spec);
    spec.argv = argv_of("/usr/bin/id", "-u", NULL);
    spec.limits.wall_ms = 3000;
    rt_result res;
    rt_error err;
    int rc = rt_run(&spec, NULL, &res, &err);
    ok(rc == 0 && res.status == RT_STATUS_OK, "a run from a threaded caller ends ok (%s)",
       rc == 0 ? rt_status_name(res.status) : err.msg);
    is_str(rc == 0 ? res.out.data : "", "1000\n", "and the command ran as the sandbox user");
    if (rc == 0)
        rt_result_free(&res);
    rt_spec_free(&spec);
    if (write(p[1], "x", 1) == 1)
        pthread_join(t, NULL);
    close(p[0]);
    close(p[1]);
}

static void test_no_leaks(void)
{
    rt_result res;
    if (run_sh("true", &res) != RT_STATUS_ERROR)
        rt_result_free(&res);
    rt_cgroup_pool_close();         /* the groups kept for reuse hold fds: none now */
    int fds = count_fds(), bad = 0;
    for (int i = 0; i < 1000; i++) {
        bad += run_sh(i % 10 == 9 ? "exit 3" : "true", &res) != (i % 10 == 9 ? RT_STATUS_EXIT_NONZERO : RT_STATUS_OK);
        rt_result_free(&res);
    }
    is_int(bad, 0, "1,000 runs in a loop all end as expected");
    rt_cgroup_pool_close();
    is_int(count_fds(), fds, "the parent has the same number of fds after them");
    is_int(count_groups(), 0, "and no cgroup directory left");
    errno = 0;
    ok(waitpid(-1, NULL, WNOHANG) < 0 && errno == ECHILD, "and no child process");
}

int main(void)
{
    tap_plan(18);
    test_one_run();
    test_stdin_bytes();
    test_no_sigpipe();
    test_streaming();
    test_many_at_once();
    test_kill();
    test_threaded_caller();
    test_no_leaks();
    return tap_done();
}
