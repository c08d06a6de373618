/* Tests cli/outcome.c: exit codes and status explanations shared by sbx run and sbx exec. */
#include <string.h>

#include "capture.h"
#include "outcome.h"
#include "tap.h"

static rt_result result(rt_status status, int exit_code, int sig)
{
    rt_result r;
    rt_result_init(&r, 0);
    r.status = status;
    r.exit_code = exit_code;
    r.signal = sig;
    return r;
}

static const char *explained(const rt_result *r, const rt_limits *l)
{
    static capture c;
    c = capture_begin(2);
    sbx_explain("sbx", r, l);
    return capture_end(&c);
}

int main(void)
{
    tap_plan(20);

    rt_result r = result(RT_STATUS_OK, 0, 0);
    is_int(sbx_exit_code(&r), 0, "ok: 0");
    r = result(RT_STATUS_EXIT_NONZERO, 7, 0);
    is_int(sbx_exit_code(&r), 7, "exit_nonzero: the command's code");
    r = result(RT_STATUS_SIGNALED, -1, 15);
    is_int(sbx_exit_code(&r), 143, "signaled: 128+N");
    r = result(RT_STATUS_TIMEOUT, -1, 9);
    is_int(sbx_exit_code(&r), 124, "timeout: 124, whatever the signal");
    r = result(RT_STATUS_MEMORY_LIMIT, -1, 9);
    is_int(sbx_exit_code(&r), 137, "memory_limit: the killing signal");
    r = result(RT_STATUS_CANCELLED, -1, 0);
    is_int(sbx_exit_code(&r), 125, "killed without a signal: 125");
    r = result(RT_STATUS_ERROR, -1, 0);
    is_int(sbx_exit_code(&r), 125, "error: 125");

    rt_limits l;
    rt_limits_default(&l);
    l.wall_ms = 200;
    r = result(RT_STATUS_TIMEOUT, -1, 9);
    is_str(explained(&r, &l), "sbx: timeout: killed after the 200 ms wall-clock limit\n",
           "timeout with its limit");
    is_str(explained(&r, NULL), "sbx: timeout: killed after the wall-clock limit\n",
           "timeout when the limit is not known");
    r = result(RT_STATUS_CPU_LIMIT, -1, 9);
    is_str(explained(&r, &l), "sbx: cpu_limit: killed after 10000 ms of CPU time\n",
           "cpu_limit with its limit");
    is_str(explained(&r, NULL), "sbx: cpu_limit: killed after the CPU-time limit\n",
           "cpu_limit when not known");
    r = result(RT_STATUS_MEMORY_LIMIT, -1, 9);
    is_str(explained(&r, &l), "sbx: memory_limit: out of memory at the 268435456-byte limit\n",
           "memory_limit with its limit");
    is_str(explained(&r, NULL), "sbx: memory_limit: out of memory at the memory limit\n",
           "memory_limit when not known");
    r = result(RT_STATUS_OUTPUT_LIMIT, -1, 9);
    is_str(explained(&r, &l), "sbx: output_limit: output beyond 1048576 bytes; run stopped\n",
           "output_limit with its limit");
    l.output_bytes = 0;
    is_str(explained(&r, &l), "sbx: output_limit: output beyond the output limit; run stopped\n",
           "a limit of 0 counts as not known");
    r = result(RT_STATUS_SECCOMP, -1, 31);
    r.syscall = strdup("unshare");
    is_str(explained(&r, NULL), "sbx: seccomp: killed by the syscall filter at unshare\n",
           "seccomp names the syscall");
    rt_result_free(&r);
    r = result(RT_STATUS_ERROR, -1, 0);
    rt_result_set_error(&r, "executing \"x\": No such file or directory");
    capture c = capture_begin(2);
    sbx_explain("sbx exec", &r, NULL);
    is_str(capture_end(&c), "sbx exec: sandbox error: executing \"x\": No such file or directory\n",
           "error: the cause, after the program's name");
    rt_result_free(&r);
    r = result(RT_STATUS_EXIT_NONZERO, 1, 0);
    is_str(explained(&r, NULL), "", "exit_nonzero needs no explanation");

    c = capture_begin(1);
    sbx_write_all(1, "a\0b", 3);
    capture_end(&c);
    ok(c.len == 3 && memcmp(c.text, "a\0b", 3) == 0, "sbx_write_all writes NUL bytes too");
    c = capture_begin(1);
    sbx_write_all(1, NULL, 0);
    is_str(capture_end(&c), "", "and nothing for an empty buffer");
    return tap_done();
}
