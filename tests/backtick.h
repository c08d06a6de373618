/* JSON written with ` for " in C test strings, to keep them readable. */
#ifndef SANDBOXD_TESTS_BACKTICK_H
#define SANDBOXD_TESTS_BACKTICK_H

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "tap.h"

static inline json_t *load(const char *text)
{
    char *s = strdup(text);
    json_error_t je;

    if (!s)
        return NULL;
    for (char *p = s; *p; p++)
        if (*p == '`')
            *p = '"';
    json_t *v = json_loads(s, JSON_DECODE_ANY | JSON_ALLOW_NUL, &je);
    if (!v)
        diag("bad test JSON: %s: %s", je.text, s);
    free(s);
    return v;
}

#endif
