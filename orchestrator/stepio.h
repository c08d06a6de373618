/* What a step hands back besides its result: the $SBX_OUTPUT and $SBX_COSTS
 * files, stdout as JSON, files in the workspace; and what its usage costs.
 * Everything here reads data that sandboxed code wrote: sizes are capped,
 * symlinks are never followed, and errors name the line or the path. */
#ifndef SBX_ORCHESTRATOR_STEPIO_H
#define SBX_ORCHESTRATOR_STEPIO_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "result.h"

#define ORCH_COSTS_MAX_LINES 1000
#define ORCH_COSTS_MAX_BYTES (256u * 1024)

/* $SBX_OUTPUT: lines "key=value", or "key<<DELIM", the value's lines, then a
 * line that is exactly DELIM (a multi-line value, joined with "\n", no final
 * newline). Blank lines are skipped; a key given again replaces the earlier
 * value. Keys are [A-Za-z_][A-Za-z0-9_-]* of at most 64 bytes. A value must be
 * UTF-8. Gives an object of strings; errors start with "line N: ". */
int orch_output_file_parse(const char *data, size_t len, json_t **out, rt_error *err);

/* $SBX_COSTS: one JSON object per line, {"item": string (1-64 bytes,
 * required), "usd": number >= 0 (required), "quantity": number >= 0,
 * "unit": string (at most 32 bytes)}, no other keys; blank lines skipped; at
 * most ORCH_COSTS_MAX_LINES lines. Gives the array of objects as given and
 * their usd total; errors start with "line N: " and name the key. */
int orch_costs_parse(const char *data, size_t len, json_t **items, double *usd, rt_error *err);

/* The default prices: AWS Fargate (Linux/x86, us-east-1, on demand) $0.04048
 * per vCPU-hour and $0.004445 per GB-hour; AWS Lambda $0.20 per million
 * requests. */
#define ORCH_PRICE_CPU_SECOND (0.04048 / 3600)
#define ORCH_PRICE_GB_SECOND (0.004445 / 3600)
#define ORCH_PRICE_RUN (0.20 / 1e6)

/* What usage costs. */
typedef struct orch_prices {
    double usd_per_cpu_second;
    double usd_per_gb_second;      /* peak memory (GB = 1e9 bytes) times wall seconds */
    double usd_per_run;
} orch_prices;

/* The defaults, documented with their source in docs/workflows.md. */
void orch_prices_default(orch_prices *p);

/* The cost items of one attempt: [{"item": "cpu", "quantity": cpu seconds,
 * "unit": "cpu-seconds", "usd"}, {"item": "memory", "quantity": GB-seconds,
 * "unit": "GB-seconds", "usd"}, {"item": "run", "quantity": 1, "unit": "runs",
 * "usd"}], and their total in *usd. NULL when out of memory. */
json_t *orch_prices_apply(const orch_prices *p, const rt_usage *u, double *usd);

/* The value at selector ("items[0].name", "a.b", "[2]"; the syntax workflow.c
 * accepts) in doc: a new reference, or NULL with a message naming the part
 * that is missing ("items[0].name: no key \"name\""). */
json_t *orch_json_select(const json_t *doc, const char *selector, rt_error *err);

/* Reads the regular file at rel (a relative path) beneath the directory dirfd,
 * never following a symlink or leaving the directory's filesystem (openat2
 * with RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS |
 * RESOLVE_NO_XDEV). Returns 0 with *data (malloc'd, NUL-terminated) and *len;
 * 1 when there is no such file; -1 otherwise: not a regular file, a symlink on
 * the way, or larger than max bytes (the message gives the size and max, and
 * *len is set to the size). */
int orch_read_beneath(int dirfd, const char *rel, size_t max, char **data, size_t *len,
                      rt_error *err);

/* Removes path and everything below it without following symlinks and
 * without crossing into another filesystem mounted below it (those are left
 * and reported). A missing path is not an error. */
int orch_remove_tree(const char *path, rt_error *err);

/* Writes a POSIX (pax) tar of the tree under dir to fd, names relative to
 * dir: directories, regular files and symlinks (as symlinks, never
 * followed); other types are skipped. With libarchive. */
int orch_tar_write(const char *dir, int fd, rt_error *err);

#endif
