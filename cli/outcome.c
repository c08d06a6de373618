#include "outcome.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <unistd.h>

int sbx_exit_code(const rt_result *r)
{
    switch (r->status) {
    case RT_STATUS_OK:
    case RT_STATUS_EXIT_NONZERO:
        return r->exit_code;
    case RT_STATUS_TIMEOUT:
        return SBX_EXIT_TIMEOUT;
    case RT_STATUS_ERROR:
        return SBX_EXIT_SANDBOX;
    default:
        return r->signal ? 128 + r->signal : SBX_EXIT_SANDBOX;
    }
}

/* The limit with its value when known ("the 200 ms wall-clock limit"), else
 * the words for it alone. */
static __attribute__((format(printf, 5, 6))) const char *
limit_phrase(char *buf, size_t len, unsigned long long known, const char *unknown,
             const char *fmt, ...)
{
    if (!known)
        return unknown;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, len, fmt, ap);
    va_end(ap);
    return buf;
}

void sbx_explain(const char *prog, const rt_result *r, const rt_limits *l)
{
    static const rt_limits none;
    char b[96];
    if (!l)
        l = &none;
    switch (r->status) {
    case RT_STATUS_TIMEOUT:
        fprintf(stderr, "%s: timeout: killed after %s\n", prog,
                limit_phrase(b, sizeof b, l->wall_ms, "the wall-clock limit",
                             "the %llu ms wall-clock limit", (unsigned long long)l->wall_ms));
        break;
    case RT_STATUS_CPU_LIMIT:
        fprintf(stderr, "%s: cpu_limit: killed after %s\n", prog,
                limit_phrase(b, sizeof b, l->cpu_ms, "the CPU-time limit",
                             "%llu ms of CPU time", (unsigned long long)l->cpu_ms));
        break;
    case RT_STATUS_MEMORY_LIMIT:
        fprintf(stderr, "%s: memory_limit: out of memory at the %s limit\n", prog,
                limit_phrase(b, sizeof b, l->memory_bytes, "memory", "%llu-byte",
                             (unsigned long long)l->memory_bytes));
        break;
    case RT_STATUS_OUTPUT_LIMIT:
        fprintf(stderr, "%s: output_limit: output beyond %s; run stopped\n", prog,
                limit_phrase(b, sizeof b, l->output_bytes, "the output limit", "%llu bytes",
                             (unsigned long long)l->output_bytes));
        break;
    case RT_STATUS_SECCOMP:
        fprintf(stderr, "%s: seccomp: killed by the syscall filter%s%s\n", prog,
                r->syscall ? " at " : "", r->syscall ? r->syscall : "");
        break;
    case RT_STATUS_ERROR:
        fprintf(stderr, "%s: sandbox error: %s\n", prog, r->error ? r->error : "unknown");
        break;
    default:
        break;
    }
}

void sbx_write_all(int fd, const void *p, size_t n)
{
    const char *c = p;
    while (n) {
        ssize_t w = write(fd, c, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return;
        c += w;
        n -= (size_t)w;
    }
}
