#include "result.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

/* First allocation; small enough for "hello", large enough for a traceback. */
#define BUF_FIRST_CAP 256

static const char *const status_names[] = {
    [RT_STATUS_OK] = "ok",
    [RT_STATUS_EXIT_NONZERO] = "exit_nonzero",
    [RT_STATUS_SIGNALED] = "signaled",
    [RT_STATUS_TIMEOUT] = "timeout",
    [RT_STATUS_CPU_LIMIT] = "cpu_limit",
    [RT_STATUS_MEMORY_LIMIT] = "memory_limit",
    [RT_STATUS_OUTPUT_LIMIT] = "output_limit",
    [RT_STATUS_SECCOMP] = "seccomp",
    [RT_STATUS_CANCELLED] = "cancelled",
    [RT_STATUS_ERROR] = "error",
};

#define N_STATUS (sizeof status_names / sizeof status_names[0])

/* "unknown" for a value outside the enum: rt_status_from_name refuses it, so a
 * bad value cannot pass silently through JSON. */
const char *rt_status_name(rt_status s)
{
    return (unsigned)s < N_STATUS ? status_names[s] : "unknown";
}

int rt_status_from_name(const char *name, rt_status *out)
{
    for (size_t i = 0; name && i < N_STATUS; i++) {
        if (strcmp(name, status_names[i]) == 0) {
            *out = (rt_status)i;
            return 0;
        }
    }
    return -1;
}

void rt_buf_init(rt_buf *b, size_t limit)
{
    *b = (rt_buf){.limit = limit};
}

/* Makes room for need bytes and the NUL: doubling, but never past limit + 1. */
static int reserve(rt_buf *b, size_t need)
{
    if (need < b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : BUF_FIRST_CAP;
    while (cap <= need)
        cap = cap > SIZE_MAX / 2 ? SIZE_MAX : cap * 2;
    if (b->limit < SIZE_MAX && cap > b->limit + 1)
        cap = b->limit + 1;
    char *p = realloc(b->data, cap);
    if (!p)
        return -1;
    b->data = p;
    b->cap = cap;
    return 0;
}

long rt_buf_append(rt_buf *b, const void *p, size_t n)
{
    size_t room = b->len < b->limit ? b->limit - b->len : 0;
    size_t fit = n < room ? n : room;

    if (fit) {
        if (reserve(b, b->len + fit) < 0)
            return -1;
        memcpy(b->data + b->len, p, fit);
        b->len += fit;
        b->data[b->len] = '\0';
    }
    if (fit < n)
        b->truncated = true;
    return n - fit > LONG_MAX ? LONG_MAX : (long)(n - fit);
}

void rt_buf_free(rt_buf *b)
{
    free(b->data);
    rt_buf_init(b, b->limit);
}

void rt_result_init(rt_result *r, size_t output_limit)
{
    memset(r, 0, sizeof *r);
    r->status = RT_STATUS_ERROR;
    r->exit_code = -1;
    rt_buf_init(&r->out, output_limit);
    rt_buf_init(&r->err, output_limit);
}

void rt_result_free(rt_result *r)
{
    rt_buf_free(&r->out);
    rt_buf_free(&r->err);
    free(r->error);
    free(r->syscall);
    r->error = NULL;
    r->syscall = NULL;
}

void rt_result_set_error(rt_result *r, const char *msg)
{
    free(r->error);
    /* Out of memory leaves error NULL; the status still says what happened. */
    r->error = msg ? strdup(msg) : NULL;
    r->status = RT_STATUS_ERROR;
}
