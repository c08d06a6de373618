/* `sbx run` options: parsed into a spec, kept apart from main so tests can drive it. */
#ifndef SBX_CLI_RUN_OPTS_H
#define SBX_CLI_RUN_OPTS_H

#include <stdbool.h>

#include "error.h"
#include "spec.h"

typedef struct sbx_run_opts {
    rt_spec spec;
    bool json;
    bool help;
} sbx_run_opts;

/* Parses argv (argv[0] is "run"). Returns 0, or -1 with a message naming the
 * option; the caller exits 2 then. */
int sbx_run_parse(int argc, char **argv, sbx_run_opts *o, rt_error *err);
void sbx_run_opts_free(sbx_run_opts *o);

extern const char sbx_run_usage[];

#endif
