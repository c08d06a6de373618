/* The seccomp compiler: every refusal names its JSON path, unknown names are
 * skipped with a warning, includes/excludes and archMap follow Docker, and a
 * compiled policy really filters a sandbox (errno, kill with the syscall named,
 * the 32-bit ABI) and is reused by threads at once. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/capability.h>

#include "sandbox.h"
#include "seccomp_policy.h"
#include "tap.h"

static rt_seccomp *compile_str(const char *text, uint64_t caps, rt_error *err)
{
    json_error_t je;
    json_t *j = json_loads(text, 0, &je);
    if (!j) {
        diag("bad test JSON: %s", je.text);
        return NULL;
    }
    rt_seccomp *sc = NULL;
    rt_error_clear(err);
    rt_seccomp_compile(j, "p.json", caps, &sc, err);
    json_decref(j);
    return sc;
}

/* Refused, with a message containing `want`. */
static void refused(const char *text, const char *want, const char *name)
{
    rt_error err;
    rt_seccomp *sc = compile_str(text, 0, &err);
    ok(!sc && strstr(err.msg, want), "refused: %s", name);
    if (sc || !strstr(err.msg, want))
        diag("got \"%s\", want \"%s\"", sc ? "(compiled)" : err.msg, want);
    rt_seccomp_unref(sc);
}

static bool has_warning(const rt_seccomp *sc, const char *part)
{
    for (size_t i = 0; i < rt_seccomp_n_warnings(sc); i++)
        if (strstr(rt_seccomp_warning(sc, i), part))
            return true;
    return false;
}

static void test_refusals(void)
{
    refused("[]", "p.json: (top): must be an object", "not an object");
    refused("{}", "defaultAction: missing", "no defaultAction");
    refused("{\"defaultAction\":\"SCMP_ACT_NOPE\"}", "defaultAction: unknown action", "bad action");
    refused("{\"defaultAction\":\"SCMP_ACT_NOTIFY\"}", "seccomp agent", "notify needs an agent");
    refused("{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"bogus\":1}", "unknown key \"bogus\"",
            "unknown top-level key");
    refused("{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"syscalls\":[{\"names\":[\"read\"],"
            "\"action\":\"SCMP_ACT_ERRNO\",\"args\":[{\"index\":0,\"value\":1,\"op\":\"SCMP_CMP_XX\"}]}]}",
            "syscalls[0].args[0].op: unknown operator", "bad operator with its path");
    refused("{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"syscalls\":[{\"names\":[\"read\"],"
            "\"action\":\"SCMP_ACT_ERRNO\",\"args\":[{\"index\":6,\"value\":1,\"op\":\"SCMP_CMP_EQ\"}]}]}",
            "syscalls[0].args[0].index: 6 is out of range", "argument index out of range");
    refused("{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"syscalls\":[{\"names\":\"read\","
            "\"action\":\"SCMP_ACT_ERRNO\"}]}", "syscalls[0].names: must be an array",
            "names of the wrong type");
    refused("{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"syscalls\":[{\"names\":[\"read\"],"
            "\"action\":\"SCMP_ACT_ERRNO\",\"errnoRet\":-1}]}", "syscalls[0].errnoRet",
            "negative errnoRet");
    refused("{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"architectures\":[\"SCMP_ARCH_Z80\"]}",
            "architectures[0]: unknown architecture", "unknown architecture");
    refused("{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"syscalls\":[{\"names\":[\"read\"],"
            "\"action\":\"SCMP_ACT_ALLOW\",\"includes\":{\"caps\":[\"CAP_NOPE\"]}}]}",
            "syscalls[0].includes.caps[0]: unknown capability", "unknown capability");
    refused("{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"syscalls\":[{\"names\":[\"read\"],"
            "\"action\":\"SCMP_ACT_ALLOW\",\"includes\":{\"minKernel\":\"new\"}}]}",
            "syscalls[0].includes.minKernel", "bad minKernel");
    refused("{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"listenerPath\":\"/run/agent.sock\"}",
            "listenerPath", "listener path");
    refused("{\"defaultAction\":\"SCMP_ACT_KILL_PROCESS\",\"syscalls\":[{\"names\":[\"read\"],"
            "\"action\":\"SCMP_ACT_ALLOW\"}]}", "kills execve", "a policy that kills execve");
    refused("{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"flags\":[\"SECCOMP_FILTER_FLAG_NOPE\"]}",
            "flags[0]: unknown flag", "unknown flag");
}

static void test_summary(void)
{
    rt_error err;
    rt_seccomp *sc = compile_str(
        "{\"defaultAction\":\"SCMP_ACT_ERRNO\",\"defaultErrnoRet\":1,"
        " \"archMap\":[{\"architecture\":\"SCMP_ARCH_X86_64\",\"subArchitectures\":[\"SCMP_ARCH_X86\"]},"
        "              {\"architecture\":\"SCMP_ARCH_AARCH64\",\"subArchitectures\":[\"SCMP_ARCH_ARM\"]}],"
        " \"syscalls\":[{\"names\":[\"read\",\"write\",\"execve\",\"exit_group\",\"no_such_call\"],"
        "               \"action\":\"SCMP_ACT_ALLOW\"},"
        "  {\"names\":[\"mount\"],\"action\":\"SCMP_ACT_ERRNO\",\"errnoRet\":1,\"comment\":\"same as default\"},"
        "  {\"names\":[\"ioctl\"],\"action\":\"SCMP_ACT_ALLOW\"},"
        "  {\"names\":[\"ioctl\"],\"action\":\"SCMP_ACT_ERRNO\",\"errnoRet\":13,"
        "   \"args\":[{\"index\":1,\"value\":21522,\"op\":\"SCMP_CMP_EQ\"}]},"
        "  {\"names\":[\"ptrace\"],\"action\":\"SCMP_ACT_ALLOW\",\"includes\":{\"caps\":[\"CAP_SYS_PTRACE\"]}},"
        "  {\"names\":[\"getpid\"],\"action\":\"SCMP_ACT_LOG\",\"excludes\":{\"arches\":[\"amd64\"]}},"
        "  {\"names\":[\"getppid\"],\"action\":\"SCMP_ACT_TRAP\",\"includes\":{\"arches\":[\"amd64\"],\"minKernel\":\"3.0\"}},"
        "  {\"names\":[\"gettid\"],\"action\":\"SCMP_ACT_TRAP\",\"includes\":{\"minKernel\":\"99.0\"}}]}",
        0, &err);
    ok(sc != NULL, "a Docker-style policy compiles");
    if (!sc) {
        diag("%s", err.msg);
        return;
    }
    is_int((int)rt_seccomp_n_skipped(sc), 1, "one name skipped");
    ok(rt_seccomp_n_skipped(sc) && !strcmp(rt_seccomp_skipped(sc, 0), "no_such_call"),
       "the unknown name is the one skipped");
    ok(has_warning(sc, "syscalls[0].names[4]"), "the warning names its JSON path");
    ok(has_warning(sc, "syscalls[3]: the rule with arguments for \"ioctl\" never applies"),
       "a conditional rule that an unconditional one overrides is pointed out");
    is_int((int)rt_seccomp_rule_count(sc, RT_SECCOMP_ALLOW), 5,
           "allow rules: 4 names + ioctl (ptrace needs CAP_SYS_PTRACE)");
    is_int((int)rt_seccomp_rule_count(sc, RT_SECCOMP_ERRNO), 1,
           "the errno rule equal to the default is not added; the ioctl one is");
    is_int((int)rt_seccomp_rule_count(sc, RT_SECCOMP_LOG), 0, "excludes.arches amd64 skips the rule");
    is_int((int)rt_seccomp_rule_count(sc, RT_SECCOMP_TRAP), 1,
           "includes.arches + minKernel 3.0 apply, minKernel 99.0 does not");
    is_int((int)rt_seccomp_n_arches(sc), 2, "archMap: the native entry and its sub-architecture");
    ok(rt_seccomp_n_instructions(sc) > 0, "a BPF program (%zu instructions)",
       rt_seccomp_n_instructions(sc));
    rt_seccomp_unref(sc);

    sc = compile_str("{\"defaultAction\":\"SCMP_ACT_ERRNO\",\"syscalls\":[{\"names\":[\"read\","
                     "\"write\",\"execve\",\"exit_group\",\"ptrace\"],\"action\":\"SCMP_ACT_ALLOW\","
                     "\"includes\":{\"caps\":[\"CAP_SYS_PTRACE\"]}}]}",
                     1ull << CAP_SYS_PTRACE, &err);
    ok(sc && rt_seccomp_rule_count(sc, RT_SECCOMP_ALLOW) == 5,
       "includes.caps applies when the sandbox keeps the capability");
    rt_seccomp_unref(sc);
}

static rt_status run_filtered(rt_seccomp *sc, const char *script, rt_result *res)
{
    rt_spec spec;
    rt_spec_init(&spec);
    spec.argv = calloc(4, sizeof *spec.argv);
    spec.argv[0] = strdup("/bin/sh");
    spec.argv[1] = strdup("-c");
    spec.argv[2] = strdup(script);
    spec.seccomp = rt_seccomp_ref(sc);
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

struct thread_run {
    rt_seccomp *sc;
    rt_status status;
};

static void *thread_main(void *arg)
{
    struct thread_run *t = arg;
    rt_result res;
    t->status = run_filtered(t->sc, "mkdir /tmp/x", &res);
    rt_result_free(&res);
    return NULL;
}

static void test_runs(void)
{
    rt_error err;
    rt_seccomp *sc = compile_str(
        "{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"syscalls\":["
        " {\"names\":[\"mkdir\",\"mkdirat\"],\"action\":\"SCMP_ACT_KILL_PROCESS\"},"
        " {\"names\":[\"rmdir\"],\"action\":\"SCMP_ACT_ERRNO\",\"errnoRet\":13},"
        " {\"names\":[\"getpriority\"],\"action\":\"SCMP_ACT_ERRNO\"}]}", 0, &err);
    ok(sc != NULL, "a kill/errno policy compiles");
    if (!sc) {
        diag("%s", err.msg);
        return;
    }
    rt_result res;
    rt_status st = run_filtered(sc, "echo before; mkdir /tmp/x; echo after", &res);
    is_str(rt_status_name(st), "seccomp", "a kill rule ends the run with status seccomp");
    is_str(res.syscall ? res.syscall : "(null)", "mkdir", "and names the syscall");
    is_str(res.out.data ? res.out.data : "", "before\n", "output before the kill is kept");
    rt_result_free(&res);

    st = run_filtered(sc, "rmdir /tmp 2>&1; nice -n 1 true 2>&1; echo $?", &res);
    is_str(rt_status_name(st), "ok", "errno rules do not end the run");
    ok(res.out.data && strstr(res.out.data, "Permission denied"),
       "errnoRet 13 reaches the program as EACCES");
    rt_result_free(&res);

    st = run_filtered(sc, "grep -E '^(Seccomp|NoNewPrivs):' /proc/self/status | tr -d '\\t'",
                      &res);
    is_str(res.out.data ? res.out.data : "", "NoNewPrivs:1\nSeccomp:2\n",
           "the command runs in filter mode with no_new_privs");
    rt_result_free(&res);

    /* One compiled program, four sandboxes at once from four threads. */
    struct thread_run t[4];
    pthread_t th[4];
    for (int i = 0; i < 4; i++) {
        t[i] = (struct thread_run){.sc = sc};
        pthread_create(&th[i], NULL, thread_main, &t[i]);
    }
    int n_seccomp = 0;
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        n_seccomp += t[i].status == RT_STATUS_SECCOMP;
    }
    is_int(n_seccomp, 4, "the same filter serves concurrent runs");
    rt_seccomp_unref(sc);

    /* An allowlist with only x86_64 in the filter still runs a shell. */
    sc = compile_str("{\"defaultAction\":\"SCMP_ACT_ERRNO\",\"defaultErrnoRet\":1,"
                     "\"architectures\":[\"SCMP_ARCH_X86_64\"],\"syscalls\":[{\"names\":[\"execve\","
                     "\"exit_group\",\"brk\",\"arch_prctl\",\"mmap\",\"munmap\",\"mprotect\","
                     "\"openat\",\"read\",\"write\",\"close\",\"newfstatat\",\"fstat\",\"pread64\","
                     "\"access\",\"set_tid_address\",\"set_robust_list\",\"rseq\",\"prlimit64\","
                     "\"getrandom\",\"getuid\",\"getgid\",\"geteuid\",\"getegid\",\"getpid\","
                     "\"getppid\",\"rt_sigaction\",\"rt_sigprocmask\",\"uname\",\"fcntl\","
                     "\"ioctl\",\"lseek\",\"getcwd\",\"wait4\",\"clone\",\"vfork\",\"dup2\","
                     "\"exit\",\"rt_sigreturn\",\"faccessat2\",\"stat\",\"getpgrp\",\"futex\","
                     "\"statx\",\"pipe2\",\"fstatfs\",\"getdents64\"],\"action\":\"SCMP_ACT_ALLOW\"}]}",
                     0, &err);
    ok(sc != NULL, "an x86_64-only allowlist compiles");
    if (sc) {
        st = run_filtered(sc, "echo allowed", &res);
        is_str(res.out.data ? res.out.data : "", "allowed\n", "the allowlist runs a shell");
        rt_result_free(&res);
    } else {
        diag("%s", err.msg);
        ok(0, "the allowlist runs a shell");
    }
    rt_seccomp_unref(sc);
}

int main(void)
{
    tap_plan(15 + 12 + 10);
    test_refusals();
    test_summary();
    test_runs();
    return tap_done();
}
