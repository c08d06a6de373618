/* Runtime tests' sandboxes: a shell script as the command, one run to its
 * result. Include after tap.h. */
#ifndef SANDBOXD_TESTS_SHRUN_H
#define SANDBOXD_TESTS_SHRUN_H

#include <stdlib.h>
#include <string.h>

#include "sandbox.h"

static inline void set_sh(rt_spec *s, const char *script)
{
    s->argv = calloc(4, sizeof *s->argv);
    if (!s->argv || !(s->argv[0] = strdup("/bin/sh")) || !(s->argv[1] = strdup("-c")) ||
        !(s->argv[2] = strdup(script)))
        abort();
}

/* Runs and frees the spec; the result is always one to free. A run that does
 * not end ok says why in a diagnostic. */
static inline rt_status run(rt_spec *s, rt_result *res)
{
    rt_error err;
    if (rt_run(s, NULL, res, &err) < 0) {
        diag("rt_run: %s", err.msg);
        rt_result_init(res, 0);
        res->status = RT_STATUS_ERROR;
    }
    rt_spec_free(s);
    if (res->status != RT_STATUS_OK)
        diag("status %s: %s; stderr: %s", rt_status_name(res->status),
             res->error ? res->error : "", res->err.data ? res->err.data : "");
    return res->status;
}

#endif
