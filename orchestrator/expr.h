/* The template and expression language of workflows: `${{ … }}` inside JSON strings.
 *
 * Expressions: literals (integers, decimals with an optional leading '-',
 * 'single' and "double" quoted strings with \\ \' \" \n \t \r escapes, true,
 * false, null), references (inputs.NAME, steps.ID.outputs.NAME, steps.ID.status,
 * item, index) followed by any number of `.name`, `[integer]` or `['key']`
 * accesses, the operators ! < > <= >= == != && || (binding in that order, tightest
 * first), parentheses, and the functions always(), success() and failure().
 * Identifiers are [A-Za-z_][A-Za-z0-9_-]*.
 *
 * Evaluation reads a context object:
 *   {"inputs": {...}, "steps": {"<id>": {"status": "...", "outputs": {...}}},
 *    "item": any, "index": n, "needs": {"<id>": "<status>", ...}}
 * success() is true when every status in needs is "ok" (or there are none),
 * failure() when any is "failed". && and || short-circuit and give booleans.
 * == and != compare numbers numerically and other values by deep equality;
 * < > <= >= take two numbers or two strings (compared by bytes).
 *
 * Errors follow runtime/error.h: -1 and a message. Parse errors start with
 * "at OFFSET:" (a byte offset into the text given, or into the whole template);
 * a failed reference names its path ("steps.gen.outputs.nums: no such output
 * (outputs: numbers)"). */
#ifndef SBX_ORCHESTRATOR_EXPR_H
#define SBX_ORCHESTRATOR_EXPR_H

#include <jansson.h>
#include <stdbool.h>

#include "error.h"

#define ORCH_EXPR_MAX_BYTES 4096
#define ORCH_EXPR_MAX_DEPTH 64 /* nested parentheses and '!' */
#define ORCH_TEMPLATE_MAX_BYTES (1024 * 1024)
#define ORCH_RENDER_MAX_BYTES (16 * 1024 * 1024) /* a rendered string, values inserted */

typedef struct orch_expr orch_expr;
typedef struct orch_template orch_template;

/* Called once per reference, in source order. kind is "input" (name = the input),
 * "step" (name = the step id, field = "status" or "outputs.NAME"), "item" or
 * "index" (name and field NULL). */
typedef void orch_ref_fn(void *ctx, const char *kind, const char *name, const char *field);

/* Parses the text between `${{` and `}}`. */
int orch_expr_parse(const char *text, orch_expr **out, rt_error *err);

/* Evaluates to a new value owned by the caller (a copy: it shares nothing with ctx). */
int orch_expr_eval(const orch_expr *e, const json_t *ctx, json_t **out, rt_error *err);

/* Returns the number of references reported. */
int orch_expr_refs(const orch_expr *e, orch_ref_fn *fn, void *ctx);

void orch_expr_free(orch_expr *e);

/* false, null, 0, 0.0, "", [] and {} are false; everything else is true. */
bool orch_truthy(const json_t *v);

/* Splits s into literal text and `${{ expr }}` parts, parsing each expression. */
int orch_template_parse(const char *s, orch_template **out, rt_error *err);

/* A template that is one `${{ … }}` (whitespace around it allowed) gives the
 * expression's value unchanged; any other gives a string in which strings are
 * inserted raw, null as nothing, and numbers, booleans, arrays and objects as
 * compact JSON. */
int orch_template_render(const orch_template *t, const json_t *ctx, json_t **out,
                         rt_error *err);

/* True when the template holds no expression. */
bool orch_template_is_literal(const orch_template *t);

/* orch_expr_refs over every expression of the template. */
int orch_template_refs(const orch_template *t, orch_ref_fn *fn, void *ctx);

void orch_template_free(orch_template *t);

#endif
