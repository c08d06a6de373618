/* Errors that carry their cause up: a failing function returns -1 and fills an
 * rt_error; each layer may prefix context with rt_error_wrap. */
#ifndef SBX_RUNTIME_ERROR_H
#define SBX_RUNTIME_ERROR_H

#include <stddef.h>

#define RT_ERROR_MAX 1024

typedef struct rt_error {
    int code;              /* errno of the root cause, 0 when none */
    char msg[RT_ERROR_MAX];
} rt_error;

/* Sets the message (and errnum when not 0, whose text is appended). Returns -1. */
int rt_error_set(rt_error *err, int errnum, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Sets the message and the code without strerror's text: for conditions an
 * errno names only roughly ("no such workflow" is ENOENT). Returns -1. */
int rt_error_coded(rt_error *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Prefixes the current message with context: "ctx: old message". Returns -1. */
int rt_error_wrap(rt_error *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

void rt_error_clear(rt_error *err);

#endif
