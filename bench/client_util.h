/* What the benchmark's HTTP clients (load.c, chains.c) share: the clock, the
 * usage-error exit, and the buffer libcurl writes an answer into. */
#ifndef SBX_BENCH_CLIENT_UTIL_H
#define SBX_BENCH_CLIENT_UTIL_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* The program's name in messages: each client defines it. */
extern const char *const bench_program;

struct buf {
    char *p;
    size_t len, cap;
};

static inline double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* A usage or setup error: the message, exit status 2. */
static inline __attribute__((format(printf, 1, 2), noreturn)) void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "%s: ", bench_program);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(2);
}

/* libcurl's write callback (chains' reader calls it too): appends to the
 * struct buf in userdata, kept NUL-terminated. */
static inline size_t on_body(char *data, size_t size, size_t nmemb, void *userdata)
{
    struct buf *b = userdata;
    size_t n = size * nmemb;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p)
            return 0;          /* curl reports CURLE_WRITE_ERROR */
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, data, n);
    b->len += n;
    b->p[b->len] = '\0';
    return n;
}

#endif
