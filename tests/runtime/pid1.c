/* A privileged caller's pid 1 shares the caller's memory (CLONE_VM) and the
 * starting thread's errno: it must write neither, and the caller's memory map
 * must be out of the sandbox's reach. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "sandbox.h"
#include "tap.h"
#include "shrun.h"

static size_t read_cmdline(char *buf, size_t size)
{
    int fd = open("/proc/self/cmdline", O_RDONLY | O_CLOEXEC);
    ssize_t n = fd < 0 ? -1 : read(fd, buf, size);
    if (fd >= 0)
        close(fd);
    return n < 0 ? 0 : (size_t)n;
}

struct handoff {
    rt_supervisor *sup;
    rt_sandbox *sb, *done_sb;
    atomic_bool done;
};

static void *supervise(void *arg)
{
    struct handoff *h = arg;
    while (!(h->done_sb = rt_supervisor_take_done(h->sup)))
        if (rt_supervisor_poll(h->sup, -1, NULL) < 0)
            break;
    atomic_store(&h->done, true);
    return NULL;
}

/* The thread that started the sandbox (whose thread-local storage pid 1
 * shares) stays off every call that could set errno while another thread
 * supervises: pid 1's reaping (a nonblocking read until EAGAIN, a wait) runs
 * after the command's sleep, and none of it may show in our errno. */
static void test_errno_untouched(void)
{
    rt_error err;
    rt_error_clear(&err);
    struct handoff h = {.sup = rt_supervisor_new(&err)};
    rt_spec spec;
    rt_spec_init(&spec);
    set_sh(&spec, "sleep 0.3; exit 3");
    if (!h.sup || rt_sandbox_start(h.sup, &spec, NULL, &h.sb, &err) < 0) {
        ok(0, "starting a sandbox: %s", err.msg);
        ok(0, "the run ends as expected");
        return;
    }
    rt_spec_free(&spec);
    errno = 0;
    pthread_t t;
    int rc = pthread_create(&t, NULL, supervise, &h);
    while (rc == 0 && !atomic_load(&h.done))
        sched_yield();
    int seen = errno;
    if (rc == 0)
        pthread_join(t, NULL);
    is_int(seen, 0, "the starting thread's errno is untouched by pid 1 and the command's clone");
    rt_result res = {.status = RT_STATUS_ERROR};
    if (h.done_sb)
        rt_sandbox_finish(h.done_sb, &res);
    ok(res.status == RT_STATUS_EXIT_NONZERO && res.exit_code == 3,
       "the run ends as expected (%s, exit %d)", rt_status_name(res.status), res.exit_code);
    rt_result_free(&res);
    rt_supervisor_free(h.sup);
}

/* pid 1 used to blank its copy of the argument area; in the caller's memory
 * that would blank the caller's argv. */
static void test_caller_memory(void)
{
    char before[4096], after[4096];
    size_t nb = read_cmdline(before, sizeof before);
    rt_spec spec;
    rt_spec_init(&spec);
    set_sh(&spec, "cat /proc/1/cmdline");
    rt_result res;
    rt_status st = run(&spec, &res);
    size_t na = read_cmdline(after, sizeof after);
    ok(nb > 0 && na == nb && memcmp(before, after, nb) == 0,
       "the caller's argument area is as it was after a run");
    ok(st == RT_STATUS_EXIT_NONZERO && strstr(res.err.data, "No such file"),
       "pid 1 is not listed in the sandbox's /proc (%s)", rt_status_name(st));
    rt_result_free(&res);
    is_int(prctl(PR_GET_DUMPABLE, 0, 0, 0, 0), 0,
           "the caller's memory map, which pid 1 shares, is not dumpable");
}

/* Processes that share a memory map are one unit for the OOM killer, scored
 * by its size. With pid 1 in the sandbox's memory cgroup, an OOM there would
 * pick pid 1 (our size) over the sandbox's smaller processes and kill every
 * process sharing our memory: us. So we grow bigger than any of them, and
 * fill the group's limit with several. */
static void test_oom_spares_caller(void)
{
    size_t big = 256u << 20;
    volatile char *ballast = malloc(big);
    if (!ballast) {
        ok(0, "allocating the caller's ballast");
        return;
    }
    for (size_t i = 0; i < big; i += 4096)
        ballast[i] = 1;
    long pages = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    long size;
    if (!f || fscanf(f, "%ld %ld", &size, &pages) != 2)
        pages = 0;
    if (f)
        fclose(f);
    diag("caller's resident size: %ld MiB", pages / 256);
    rt_spec spec;
    rt_spec_init(&spec);
    spec.limits.memory_bytes = 64u << 20;
    set_sh(&spec, "for i in 1 2 3 4 5 6 7 8 9 10; do"
                  " python3 -c 'b = bytearray(12 << 20); import time; time.sleep(2)' &"
                  " pids=\"$pids $!\"; done; for p in $pids; do wait $p || exit 1; done");
    rt_result res;
    rt_status st = run(&spec, &res);
    ok(st == RT_STATUS_MEMORY_LIMIT,
       "an OOM in the sandbox's group takes a process of the sandbox, not us (%s)",
       rt_status_name(st));
    rt_result_free(&res);
    ok(ballast[big - 4096] == 1, "the caller is alive, its memory intact");
    free((void *)ballast);
}

/* A sysctl's first digit; -1 when unreadable. */
static int sysctl_digit(const char *path)
{
    char c = '?';
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    ssize_t n = fd < 0 ? -1 : read(fd, &c, 1);
    if (fd >= 0)
        close(fd);
    return n == 1 && c >= '0' && c <= '9' ? c - '0' : -1;
}

int main(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    if (geteuid() != 0) {
        tap_plan(0);
        diag("skip: pid 1 shares the caller's memory only for a privileged caller");
        return tap_done();
    }
    if (sysctl_digit("/proc/sys/fs/suid_dumpable") != 0 ||
        sysctl_digit("/proc/sys/vm/oom_kill_allocating_task") != 0) {
        tap_plan(0);
        diag("skip: pid 1 is a copy here (fs.suid_dumpable or vm.oom_kill_allocating_task"
             " is not 0; tests/integration/pid1_memory.t covers that)");
        return tap_done();
    }
    tap_plan(7);
    test_errno_untouched();
    test_caller_memory();
    test_oom_spares_caller();
    return tap_done();
}
