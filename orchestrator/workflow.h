/* The workflow model: a workflow JSON document (docs/workflows.md), parsed and
 * validated into the structures the scheduler runs.
 *
 * Validation collects every problem with the JSON path it is about (the
 * document itself is the empty path), so that the API's 400 answer lists them
 * all at once: "steps[1].retri: unknown key (did you mean retry?)",
 * "steps: cycle gen -> square -> gen". Templated fields stay parsed templates
 * (orchestrator/expr.h): the scheduler renders them when the step starts. */
#ifndef SBX_ORCHESTRATOR_WORKFLOW_H
#define SBX_ORCHESTRATOR_WORKFLOW_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "expr.h"

/* Limits against hostile documents. */
#define ORCH_MAX_STEPS 1000
#define ORCH_MAX_NEEDS 100                    /* per step */
#define ORCH_MAX_INPUTS 100
#define ORCH_MAX_OUTPUTS 100                  /* per step */
#define ORCH_MAX_TEMPLATE_TOTAL (1024 * 1024) /* bytes of every template and
                                                 expression, one more per string */
#define ORCH_MAX_PROBLEMS 100                 /* then one "N more" problem */

#define ORCH_ID_MAX 64                        /* step ids, input and output names */
#define ORCH_DEFAULT_MAX_PARALLEL 4
#define ORCH_MAX_PARALLEL 256
#define ORCH_DEFAULT_TIMEOUT_MS (3600ull * 1000)        /* a workflow: 1h */
#define ORCH_MAX_TIMEOUT_MS (7ull * 24 * 3600 * 1000)   /* any duration: 7 days */
#define ORCH_DEFAULT_APPROVAL_MS (24ull * 3600 * 1000)
#define ORCH_DEFAULT_OUTPUT_BYTES (256u * 1024)
#define ORCH_MAX_OUTPUT_BYTES (16u * 1024 * 1024)
#define ORCH_MAX_ATTEMPTS 100
#define ORCH_DEFAULT_BACKOFF_MS 1000ull
#define ORCH_DEFAULT_BACKOFF_FACTOR 2.0
#define ORCH_MAX_BACKOFF_FACTOR 10.0
#define ORCH_DEFAULT_MAX_BACKOFF_MS (60ull * 1000)
#define ORCH_MAX_BACKOFF_MS (3600ull * 1000)

typedef struct orch_problem {
    char path[256];     /* "steps[1].retry.backoff"; "" for the document */
    char message[512];
    bool given;         /* about the caller's input values, not the document */
} orch_problem;

typedef struct orch_problems {
    orch_problem *v;
    size_t n;
} orch_problems;

void orch_problems_free(orch_problems *p);

typedef enum orch_type {
    ORCH_TYPE_STRING,
    ORCH_TYPE_INTEGER,
    ORCH_TYPE_NUMBER,
    ORCH_TYPE_BOOLEAN,
    ORCH_TYPE_ARRAY,
    ORCH_TYPE_OBJECT,
} orch_type;

typedef struct orch_input {
    char *name;
    orch_type type;
    json_t *default_value;  /* NULL when none */
    bool required;          /* true unless a default is given or "required": false */
    char *description;      /* NULL when none */
} orch_input;

/* An environment variable; the value is a template. */
typedef struct orch_env {
    char *name;
    orch_template *value;
} orch_env;

typedef struct orch_defaults {
    char *profile;          /* NULL: each step's own or the daemon's default */
    json_t *limits;         /* a validated spec "limits" object, or NULL */
    char *image;
    char *backend;          /* "native" or "docker"; NULL = native */
    orch_env *env;          /* templates that may read inputs only */
    size_t n_env;
} orch_defaults;

typedef enum orch_step_kind {
    ORCH_STEP_RUN,          /* argv ["sh", "-c", run] */
    ORCH_STEP_COMMAND,      /* argv = command */
    ORCH_STEP_CODE,         /* code in language */
} orch_step_kind;

typedef enum orch_output_from {
    ORCH_OUTPUT_OUTPUT,      /* the key of the same name in $SBX_OUTPUT */
    ORCH_OUTPUT_STDOUT,
    ORCH_OUTPUT_STDOUT_JSON, /* stdout parsed as JSON, optionally path into it */
    ORCH_OUTPUT_FILE,        /* the file at path in /workspace */
} orch_output_from;

typedef struct orch_output {
    char *name;
    orch_output_from from;
    char *path;             /* FILE: relative to /workspace (a leading
                               "/workspace/" removed); STDOUT_JSON: keys and
                               [n] indexes such as "items[0].name", or NULL */
    uint64_t max_bytes;
} orch_output;

typedef struct orch_retry {
    unsigned max_attempts;  /* every attempt: 1 = no retry */
    uint64_t backoff_ms;    /* before the second attempt */
    double factor;          /* each further wait is the previous times factor */
    uint64_t max_backoff_ms;
    unsigned on;            /* 1u << rt_status for each status retried */
} orch_retry;

typedef struct orch_step {
    char *id;
    orch_step_kind kind;
    orch_template *run;      /* RUN */
    orch_template **command; /* COMMAND: n_command elements */
    size_t n_command;
    orch_template *code;     /* CODE */
    char *language;          /* CODE */
    char *image;             /* NULL: defaults.image, else the host */
    char *profile;           /* NULL: defaults.profile */
    char *backend;           /* NULL: defaults.backend */
    json_t *limits;          /* over defaults.limits; NULL when none */
    orch_env *env;           /* over defaults.env */
    size_t n_env;
    orch_template *stdin_text; /* NULL: no stdin */
    uint64_t timeout_ms;     /* each attempt's wall clock (wins over
                                limits.timeout); 0 when not given */
    size_t *needs;           /* indexes into orch_workflow.steps */
    size_t n_needs;
    orch_expr *when;         /* NULL: success() */
    orch_expr *for_each;     /* NULL: one run; else the list to fan out over */
    orch_retry retry;
    bool continue_on_error;
    orch_output *outputs;
    size_t n_outputs;
    bool approval;           /* wait for approve/reject before starting */
    uint64_t approval_timeout_ms;
} orch_step;

typedef struct orch_workflow {
    char *name;
    char *description;       /* NULL when none */
    orch_input *inputs;
    size_t n_inputs;
    json_t *input_values;    /* object: every declared input, given or default
                                (null for an optional input without either) */
    orch_defaults defaults;
    double budget_usd;       /* 0 = none */
    double budget_cpu_seconds; /* 0 = none */
    unsigned max_parallel;
    uint64_t timeout_ms;
    orch_step *steps;        /* in document order */
    size_t n_steps;
    size_t *order;           /* n_steps indexes: each step after its needs */
} orch_workflow;

/* Parses and validates doc (the workflow object) with the caller's input
 * values (an object, or NULL for none). Returns 0 and a workflow to free with
 * orch_workflow_free, or -1 with every problem in problems (which it
 * initializes; free it with orch_problems_free). problems->n is 0 after -1
 * only when out of memory. */
int orch_workflow_parse(const json_t *doc, const json_t *inputs, orch_workflow **out,
                        orch_problems *problems);

void orch_workflow_free(orch_workflow *wf);

/* The step's index by id, or -1. */
long orch_workflow_step(const orch_workflow *wf, const char *id);

#endif
