/* The result: what happened. */
#ifndef SBX_RUNTIME_RESULT_H
#define SBX_RUNTIME_RESULT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum rt_status {
    RT_STATUS_OK,
    RT_STATUS_EXIT_NONZERO,
    RT_STATUS_SIGNALED,
    RT_STATUS_TIMEOUT,
    RT_STATUS_CPU_LIMIT,
    RT_STATUS_MEMORY_LIMIT,
    RT_STATUS_OUTPUT_LIMIT,
    RT_STATUS_SECCOMP,
    RT_STATUS_CANCELLED,
    RT_STATUS_ERROR,
} rt_status;

const char *rt_status_name(rt_status s);
/* Returns -1 when the name is unknown. */
int rt_status_from_name(const char *name, rt_status *out);

/* Growable capture buffer with a hard cap and a "too big" flag. */
typedef struct rt_buf {
    char *data;                /* NUL-terminated for convenience; may hold NULs;
                                  NULL until the first byte is stored */
    size_t len;
    size_t cap;                /* allocated */
    size_t limit;              /* hard cap on len */
    bool truncated;
} rt_buf;

void rt_buf_init(rt_buf *b, size_t limit);
/* Appends up to the limit; returns the number of bytes that did not fit (and
 * sets truncated) or -1 on allocation failure. */
long rt_buf_append(rt_buf *b, const void *p, size_t n);
void rt_buf_free(rt_buf *b);

typedef struct rt_usage {
    double wall_ms;
    double cpu_user_ms;
    double cpu_sys_ms;
    uint64_t memory_peak_bytes;
    uint64_t pids_peak;        /* 0 when the host cannot tell */
} rt_usage;

/* Which limits were enforced by the kernel mechanism meant for them. */
typedef struct rt_enforced {
    bool memory;               /* cgroup memory (+swap) limit */
    bool pids;                 /* cgroup pids limit */
    bool cpus;                 /* cgroup CPU quota */
    bool cpu_time;             /* whole-tree CPU accounting */
} rt_enforced;

typedef struct rt_result {
    rt_status status;
    int exit_code;             /* -1 when the process did not exit normally */
    int signal;                /* 0 when not killed by a signal */
    rt_buf out;
    rt_buf err;
    rt_usage usage;
    rt_enforced enforced;
    double setup_ms;           /* clone to exec */
    char *error;               /* set when status is error (or a note of the cause) */
    char *syscall;             /* seccomp: the offending syscall, when known */
} rt_result;

/* Status starts as error (fail closed) and exit_code as -1 until the run sets them. */
void rt_result_init(rt_result *r, size_t output_limit);
/* Frees owned memory; a second call is harmless. */
void rt_result_free(rt_result *r);
/* Sets status error with a copy of msg. */
void rt_result_set_error(rt_result *r, const char *msg);

#endif
