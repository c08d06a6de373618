/* The body of a workflow submission, {"workflow": {...}, "inputs": {...}},
 * from a file that holds a workflow document or such a body, and --input. */
#ifndef SBX_CLI_WORKFLOW_DOC_H
#define SBX_CLI_WORKFLOW_DOC_H

#include <jansson.h>

#include "error.h"

/* Reads path ("-": stdin). A JSON object with a "workflow" key is a body, any
 * other object the workflow document itself; inputs (may be NULL) go over
 * the body's "inputs". NULL with a message naming the file (and the line and
 * column of a JSON error). The document is validated by the engine or the
 * daemon, not here. */
json_t *sbx_wf_load_body(const char *path, const json_t *inputs, rt_error *err);

/* The length of the longest step id in the body's workflow, for aligned
 * progress lines: at least 6, at most 24. */
int sbx_wf_step_width(const json_t *body);

#endif
