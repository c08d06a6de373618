/* Tests orchestrator/workflow.c: parsing and validating workflow documents.
 * Documents are written with ` for " to keep them readable. */
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "result.h"
#include "backtick.h"
#include "tap.h"
#include "workflow.h"

/* Every problem as "path: message" lines joined by " | ", or "OK". */
static const char *check_v(json_t *doc, json_t *inputs)
{
    static char buf[1 << 16];
    orch_workflow *wf = NULL;
    orch_problems pr;
    size_t o = 0;

    if (orch_workflow_parse(doc, inputs, &wf, &pr) == 0) {
        orch_workflow_free(wf);
        snprintf(buf, sizeof buf, "OK");
        return buf;
    }
    buf[0] = '\0';
    for (size_t i = 0; i < pr.n && o < sizeof buf; i++)
        o += (size_t)snprintf(buf + o, sizeof buf - o, "%s%s: %s", i ? " | " : "",
                              pr.v[i].path, pr.v[i].message);
    orch_problems_free(&pr);
    return buf;
}

static const char *check(const char *doc, const char *inputs)
{
    json_t *d = load(doc), *in = inputs ? load(inputs) : NULL;
    const char *r = check_v(d, in);

    json_decref(d);
    json_decref(in);
    return r;
}

/* A workflow around the given steps. */
static const char *steps(const char *steps_json)
{
    static char doc[1 << 14];

    snprintf(doc, sizeof doc, "{`name`: `t`, `inputs`: {`n`: {`type`: `integer`, "
             "`default`: 1}}, `steps`: [%s]}", steps_json);
    return check(doc, NULL);
}

#define PROBLEM(steps_json, want) is_str(steps(steps_json), want, want)

static const char *const EXAMPLE =
    "{`name`: `squares`,"
    " `inputs`: {`count`: {`type`: `integer`, `default`: 3}},"
    " `defaults`: {`profile`: `default`, `limits`: {`timeout`: `30s`, `memory`: `256m`}},"
    " `budget`: {`usd`: 0.01},"
    " `max_parallel`: 4,"
    " `timeout`: `10m`,"
    " `steps`: ["
    "  {`id`: `gen`, `code`: `import json; print(json.dumps(list(range(1, ${{ inputs.count }}"
    " + 1))))`, `language`: `python`, `outputs`: {`numbers`: {`from`: `stdout_json`}}},"
    "  {`id`: `square`, `needs`: [`gen`], `for_each`: `${{ steps.gen.outputs.numbers }}`,"
    "   `run`: `echo $((N * N)) > /workspace/sq_$N`, `env`: {`N`: `${{ item }}`},"
    "   `retry`: {`max_attempts`: 3, `backoff`: `200ms`, `on`: [`exit_nonzero`, `timeout`]}},"
    "  {`id`: `sum`, `needs`: [`square`], `when`: `${{ steps.square.status == 'ok' }}`,"
    "   `run`: `cat /workspace/sq_* | paste -sd+ | bc`}"
    " ]}";

static const char *render(const orch_template *t, const char *ctx_json)
{
    static char buf[256];
    json_t *ctx = load(ctx_json), *v = NULL;
    rt_error err = {0};

    if (orch_template_render(t, ctx, &v, &err) < 0) {
        snprintf(buf, sizeof buf, "error: %s", err.msg);
    } else {
        char *s = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
        snprintf(buf, sizeof buf, "%s", s);
        free(s);
    }
    json_decref(v);
    json_decref(ctx);
    return buf;
}

static void test_example(void)
{
    json_t *doc = load(EXAMPLE);
    orch_workflow *wf = NULL;
    orch_problems pr;

    ok(orch_workflow_parse(doc, NULL, &wf, &pr) == 0, "the issue's example parses");
    if (!wf) {
        for (size_t i = 0; i < pr.n; i++)
            diag("%s: %s", pr.v[i].path, pr.v[i].message);
        orch_problems_free(&pr);
        json_decref(doc);
        return;
    }
    is_str(wf->name, "squares", "name");
    is_int(wf->max_parallel, 4, "max_parallel");
    is_int(wf->timeout_ms, 600000, "timeout 10m");
    ok(wf->budget_usd == 0.01 && wf->budget_cpu_seconds == 0, "budget");
    is_int(wf->n_inputs, 1, "one input");
    is_int(wf->inputs[0].type, ORCH_TYPE_INTEGER, "integer input");
    ok(!wf->inputs[0].required, "an input with a default is optional");
    is_int(json_integer_value(json_object_get(wf->input_values, "count")), 3,
           "input value from its default");
    is_str(wf->defaults.profile, "default", "defaults.profile");
    is_str(json_string_value(json_object_get(wf->defaults.limits, "memory")), "256m",
           "defaults.limits kept as JSON");
    is_int(wf->n_steps, 3, "three steps");
    is_str(wf->steps[wf->order[0]].id, "gen", "order: gen first");
    is_str(wf->steps[wf->order[1]].id, "square", "then square");
    is_str(wf->steps[wf->order[2]].id, "sum", "then sum");

    const orch_step *gen = &wf->steps[0], *sq = &wf->steps[1], *sum = &wf->steps[2];
    is_int(gen->kind, ORCH_STEP_CODE, "gen runs code");
    is_str(gen->language, "python", "in python");
    is_str(render(gen->code, "{`inputs`: {`count`: 2}}"),
           "\"import json; print(json.dumps(list(range(1, 2 + 1))))\"", "code is a template");
    is_int(gen->n_outputs, 1, "gen has one output");
    is_str(gen->outputs[0].name, "numbers", "named numbers");
    is_int(gen->outputs[0].from, ORCH_OUTPUT_STDOUT_JSON, "from stdout_json");
    is_int(gen->outputs[0].max_bytes, 256 * 1024, "default cap 256 KiB");
    ok(gen->outputs[0].path == NULL, "no path");
    is_int(gen->retry.max_attempts, 1, "default: one attempt");
    is_int(gen->n_needs, 0, "gen needs nothing");

    is_int(sq->kind, ORCH_STEP_RUN, "square runs a shell string");
    is_int(sq->n_needs, 1, "square needs one step");
    is_int(sq->needs[0], 0, "gen");
    ok(sq->for_each != NULL, "square fans out");
    is_int(sq->retry.max_attempts, 3, "retry.max_attempts");
    is_int(sq->retry.backoff_ms, 200, "retry.backoff");
    ok(sq->retry.factor == 2.0, "retry.factor default 2");
    is_int(sq->retry.max_backoff_ms, 60000, "retry.max_backoff default 1m");
    is_int(sq->retry.on, 1u << RT_STATUS_EXIT_NONZERO | 1u << RT_STATUS_TIMEOUT, "retry.on");
    is_int(sq->n_env, 1, "one env var");
    is_str(sq->env[0].name, "N", "N");
    is_str(render(sq->env[0].value, "{`item`: 4}"), "4", "env value is a template");
    ok(!sq->continue_on_error && !sq->approval, "no continue_on_error, no approval");

    is_int(sum->n_needs, 1, "sum needs square");
    is_int(sum->needs[0], 1, "by index");
    json_t *ctx = load("{`steps`: {`square`: {`status`: `ok`}}}"), *v = NULL;
    rt_error err = {0};
    ok(sum->when && orch_expr_eval(sum->when, ctx, &v, &err) == 0 && json_is_true(v),
       "when is an expression");
    json_decref(v);
    json_decref(ctx);
    is_int(orch_workflow_step(wf, "sum"), 2, "lookup by id");
    is_int(orch_workflow_step(wf, "nope"), -1, "lookup of an unknown id");
    orch_workflow_free(wf);

    json_t *in = load("{`count`: 5}");
    ok(orch_workflow_parse(doc, in, &wf, &pr) == 0, "the example with inputs");
    is_int(json_integer_value(json_object_get(wf->input_values, "count")), 5,
           "the given value wins over the default");
    orch_workflow_free(wf);
    json_decref(in);
    json_decref(doc);
}

static void test_defaults(void)
{
    json_t *doc = load("{`name`: `d`, `steps`: [{`id`: `a`, `command`: [`echo`, `${{ 1 }}`],"
                       " `approval`: {}, `outputs`: {`f`: {`from`: `file`, `path`: "
                       "`/workspace/out/x.txt`}, `j`: {`from`: `stdout_json`, `path`: "
                       "`items[0].name`, `max_bytes`: `1m`}}}]}");
    orch_workflow *wf = NULL;
    orch_problems pr;

    ok(orch_workflow_parse(doc, NULL, &wf, &pr) == 0, "a small workflow parses");
    if (!wf) {
        orch_problems_free(&pr);
        json_decref(doc);
        return;
    }
    is_int(wf->max_parallel, 4, "max_parallel defaults to 4");
    is_int(wf->timeout_ms, 3600 * 1000, "timeout defaults to 1h");
    ok(json_is_object(wf->input_values) && json_object_size(wf->input_values) == 0,
       "no inputs: an empty object");
    const orch_step *s = &wf->steps[0];
    is_int(s->kind, ORCH_STEP_COMMAND, "command");
    is_int(s->n_command, 2, "two elements");
    is_str(render(s->command[1], "{}"), "1", "command elements are templates");
    is_int(s->retry.backoff_ms, 1000, "backoff defaults to 1s");
    ok(s->approval && s->approval_timeout_ms == 24 * 3600 * 1000,
       "approval with the default timeout of 24h");
    is_str(s->outputs[0].path, "out/x.txt", "a file path loses its /workspace/");
    is_str(s->outputs[1].path, "items[0].name", "a stdout_json path");
    is_int(s->outputs[1].max_bytes, 1 << 20, "max_bytes");
    ok(s->when == NULL && s->for_each == NULL, "no when, no for_each");
    orch_workflow_free(wf);
    json_decref(doc);
}

static void test_unknown_keys(void)
{
    is_str(check("{`nmae`: `x`, `steps`: [{`id`: `a`, `run`: `true`}]}", NULL),
           "nmae: unknown key (did you mean name?) | name: required",
           "a misspelt top-level key and the missing name");
    PROBLEM("{`id`: `a`, `run`: `true`}, {`id`: `b`, `run`: `true`, `retri`: {}}",
            "steps[1].retri: unknown key (did you mean retry?)");
    PROBLEM("{`id`: `a`, `run`: `true`, `retry`: {`bakoff`: `1s`}}",
            "steps[0].retry.bakoff: unknown key (did you mean backoff?)");
    PROBLEM("{`id`: `a`, `run`: `true`, `outputs`: {`x`: {`form`: `stdout`}}}",
            "steps[0].outputs.x.form: unknown key (did you mean from?) | "
            "steps[0].outputs.x.from: required (output, stdout, stdout_json or file)");
    PROBLEM("{`id`: `a`, `run`: `true`, `approval`: {`zzzzzz`: 1}}",
            "steps[0].approval.zzzzzz: unknown key (use timeout)");
    PROBLEM("{`id`: `a`, `run`: `true`, `limits`: {`memroy`: `1m`}}",
            "steps[0].limits.memroy: unknown key (use timeout, cpu_time, memory, pids, output, "
            "file_size, open_files, tmpfs, cpus)");
    is_str(check("{`name`: `x`, `budget`: {`eur`: 1}, `steps`: [{`id`: `a`, `run`: `true`}]}",
                 NULL),
           "budget.eur: unknown key (use usd, cpu_seconds)", "budget keys");
    PROBLEM("{`id`: `a`, `run`: `true`, `env`: {`A.B`: `x`}}",
            "steps[0].env[\"A.B\"]: not a variable name (letters, digits and _, not starting "
            "with a digit)");
}

static void test_types(void)
{
    is_str(check("[1]", NULL), ": a workflow must be a JSON object", "not an object");
    is_str(check("{`name`: `x`, `steps`: `a`}", NULL),
           "steps: must be a non-empty array of steps", "steps not an array");
    is_str(check("{`name`: `x`, `steps`: []}", NULL),
           "steps: must be a non-empty array of steps", "no steps");
    is_str(check("{`name`: `x`}", NULL), "steps: required", "steps missing");
    is_str(check("{`name`: 5, `max_parallel`: 0, `timeout`: true, `steps`: [{`id`: `a`, "
                 "`run`: `true`}]}", NULL),
           "name: must be a string | max_parallel: must be an integer from 1 to 256 | "
           "timeout: must be an integer number of milliseconds or a string such as \"10s\"",
           "wrong types at the top");
    is_str(check("{`name`: `x`, `max_parallel`: 257, `budget`: {`usd`: -1}, "
                 "`steps`: [{`id`: `a`, `run`: `true`}]}", NULL),
           "budget.usd: must be a number from 0 to 1e+09 | max_parallel: must be an integer "
           "from 1 to 256", "out of range");
    PROBLEM("5", "steps[0]: must be an object with an id");
    PROBLEM("{`run`: `true`}", "steps[0].id: required");
    PROBLEM("{`id`: `a b`, `run`: `true`}",
            "steps[0].id: must be 1 to 64 letters, digits, _ and -");
    PROBLEM("{`id`: `a`, `run`: `true`, `continue_on_error`: `yes`}",
            "steps[0].continue_on_error: must be true or false");
    PROBLEM("{`id`: `a`, `run`: `true`, `env`: {`X`: 1}}", "steps[0].env.X: must be a string");
    PROBLEM("{`id`: `a`, `run`: `true`, `env`: [1]}", "steps[0].env: must be an object of strings");
    PROBLEM("{`id`: `a`, `command`: []}", "steps[0].command: must be a non-empty array of strings");
    PROBLEM("{`id`: `a`, `command`: [`a`, 2]}", "steps[0].command[1]: must be a string");
    PROBLEM("{`id`: `a`, `run`: `true`, `needs`: `b`}",
            "steps[0].needs: must be an array of step ids");
    PROBLEM("{`id`: `a`, `run`: `true`, `backend`: `vm`}",
            "steps[0].backend: unknown backend \"vm\" (use native or docker)");
    PROBLEM("{`id`: `a`, `run`: `true`, `image`: `${{ inputs.n }}`}",
            "steps[0].image: templates are expanded only in run, command, code, stdin and env");
    PROBLEM("{`id`: `a`, `run`: `a\\u0000b`}", "steps[0].run: must not contain a NUL character");
}

static void test_actions(void)
{
    PROBLEM("{`id`: `a`}", "steps[0]: needs one of run, command or code");
    PROBLEM("{`id`: `a`, `run`: `x`, `command`: [`y`]}",
            "steps[0]: give only one of run, command and code");
    PROBLEM("{`id`: `a`, `code`: `print(1)`}", "steps[0].language: required with code");
    PROBLEM("{`id`: `a`, `run`: `x`, `language`: `python`}", "steps[0].language: only with code");
    PROBLEM("{`id`: `a`, `run`: `x`, `outputs`: {`o`: {`from`: `file`}}}",
            "steps[0].outputs.o.path: required with from file");
    PROBLEM("{`id`: `a`, `run`: `x`, `outputs`: {`o`: {`from`: `stderr`}}}",
            "steps[0].outputs.o.from: must be output, stdout, stdout_json or file");
    PROBLEM("{`id`: `a`, `run`: `x`, `outputs`: {`o`: {`from`: `file`, `path`: `/etc/passwd`},"
            " `p`: {`from`: `file`, `path`: `a/../../x`}, `q`: {`from`: `stdout`, `path`: `a`},"
            " `r`: {`from`: `stdout_json`, `path`: `a..b`}, `9x`: {`from`: `stdout`}}}",
            "steps[0].outputs.o.path: must be a path inside /workspace, such as "
            "\"out/result.json\" | steps[0].outputs.p.path: must be a path inside /workspace, "
            "such as \"out/result.json\" | steps[0].outputs.q.path: only with from file or "
            "stdout_json | steps[0].outputs.r.path: must be keys and [n] indexes, such as "
            "\"items[0].name\" | steps[0].outputs[\"9x\"]: output names are letters, digits, _ "
            "and -, start with a letter or _, and are at most 64 bytes");
}

static void test_needs(void)
{
    PROBLEM("{`id`: `gen`, `run`: `x`}, {`id`: `b`, `run`: `x`, `needs`: [`gne`]}",
            "steps[1].needs[0]: unknown step \"gne\" (did you mean gen?)");
    PROBLEM("{`id`: `gen`, `run`: `x`}, {`id`: `b`, `run`: `x`, `needs`: [`zzzzzz`]}",
            "steps[1].needs[0]: unknown step \"zzzzzz\"");
    PROBLEM("{`id`: `gen`, `run`: `x`}, {`id`: `b`, `run`: `x`, `needs`: [`gen`, `gen`]}",
            "steps[1].needs[1]: \"gen\" is listed twice");
    PROBLEM("{`id`: `a`, `run`: `x`}, {`id`: `a`, `run`: `y`}",
            "steps[1].id: duplicate id \"a\" (also steps[0])");
}

static void test_cycles(void)
{
    PROBLEM("{`id`: `a`, `run`: `x`, `needs`: [`a`]}", "steps: cycle a -> a");
    PROBLEM("{`id`: `gen`, `run`: `x`, `needs`: [`square`]},"
            "{`id`: `square`, `run`: `x`, `needs`: [`gen`]}",
            "steps: cycle gen -> square -> gen");
    /* c needs b, b needs a, a needs c: work would flow a -> b -> c -> a. */
    PROBLEM("{`id`: `x`, `run`: `x`}, {`id`: `c`, `run`: `x`, `needs`: [`b`]},"
            "{`id`: `a`, `run`: `x`, `needs`: [`c`, `x`]}, {`id`: `b`, `run`: `x`, `needs`: [`a`]}",
            "steps: cycle c -> a -> b -> c");
    /* Two cycles, and a step behind one that is not itself on a cycle. */
    PROBLEM("{`id`: `a`, `run`: `x`, `needs`: [`b`]}, {`id`: `b`, `run`: `x`, `needs`: [`a`]},"
            "{`id`: `c`, `run`: `x`, `needs`: [`a`]}, {`id`: `d`, `run`: `x`, `needs`: [`d`]}",
            "steps: cycle a -> b -> a | steps: cycle d -> d");
}

static void test_units(void)
{
    is_str(check("{`name`: `x`, `timeout`: `10x`, `steps`: [{`id`: `a`, `run`: `x`}]}", NULL),
           "timeout: \"10x\" is not a duration (use a number with an optional ms, s, m or h "
           "suffix, e.g. 250ms or 1.5s)",
           "a bad duration");
    is_str(check("{`name`: `x`, `timeout`: `8d`, `defaults`: {`limits`: {`memory`: `lots`}},"
                 " `steps`: [{`id`: `a`, `run`: `x`}]}", NULL),
           "defaults.limits.memory: \"lots\" is not a size (use a whole number with an optional "
           "k, m, g or t suffix) | timeout: \"8d\" is not a duration (use a number with an "
           "optional ms, s, m or h suffix, e.g. 250ms or 1.5s)",
           "bad sizes through the spec's decoder, with the path");
    PROBLEM("{`id`: `a`, `run`: `x`, `limits`: {`timeout`: 0}}",
            "steps[0].limits.timeout: must be greater than zero");
    PROBLEM("{`id`: `a`, `run`: `x`, `limits`: {`cpus`: 0}}",
            "steps[0].limits.cpus: must be above 0 and at most 1024");
    PROBLEM("{`id`: `a`, `run`: `x`, `limits`: 5}", "steps[0].limits: must be an object");
    PROBLEM("{`id`: `a`, `run`: `x`, `timeout`: `200h`}",
            "steps[0].timeout: 200h is too large (maximum 168h)");
    PROBLEM("{`id`: `a`, `run`: `x`, `outputs`: {`o`: {`from`: `stdout`, `max_bytes`: `1g`}}}",
            "steps[0].outputs.o.max_bytes: 1g is too large (maximum 16m)");
    PROBLEM("{`id`: `a`, `run`: `x`, `approval`: {`timeout`: `soon`}}",
            "steps[0].approval.timeout: \"soon\" is not a duration (use a number with an "
            "optional ms, s, m or h suffix, e.g. 250ms or 1.5s)");
}

static void test_retry(void)
{
    PROBLEM("{`id`: `a`, `run`: `x`, `retry`: {`max_attempts`: 0, `factor`: 11}}",
            "steps[0].retry.max_attempts: must be an integer from 1 to 100 | "
            "steps[0].retry.factor: must be a number from 1 to 10");
    PROBLEM("{`id`: `a`, `run`: `x`, `retry`: {`backoff`: `10s`, `max_backoff`: `5s`}}",
            "steps[0].retry.max_backoff: must not be shorter than backoff");
    PROBLEM("{`id`: `a`, `run`: `x`, `retry`: {`on`: [`ok`, `cancelled`, `bogus`, `error`]}}",
            "steps[0].retry.on[0]: \"ok\" is not a status that can be retried (use "
            "exit_nonzero, signaled, timeout, cpu_limit, memory_limit, output_limit, seccomp, "
            "error) | steps[0].retry.on[1]: \"cancelled\" is not a status that can be retried "
            "(use exit_nonzero, signaled, timeout, cpu_limit, memory_limit, output_limit, "
            "seccomp, error) | steps[0].retry.on[2]: \"bogus\" is not a status that can be "
            "retried (use exit_nonzero, signaled, timeout, cpu_limit, memory_limit, "
            "output_limit, seccomp, error)");
    PROBLEM("{`id`: `a`, `run`: `x`, `retry`: {`on`: []}}",
            "steps[0].retry.on: must be a non-empty array of statuses (exit_nonzero, signaled, "
            "timeout, cpu_limit, memory_limit, output_limit, seccomp, error)");
    PROBLEM("{`id`: `a`, `run`: `x`, `retry`: 3}",
            "steps[0].retry: must be an object such as {\"max_attempts\": 3}");
}

static void test_templates(void)
{
    PROBLEM("{`id`: `a`, `run`: `echo ${{ foo }}`}",
            "steps[0].run: at 9: unknown name 'foo' (expected inputs, steps, item, index, true, "
            "false, null or a function)");
    PROBLEM("{`id`: `a`, `run`: `x`, `env`: {`E`: `${{ inputs.n`}}",
            "steps[0].env.E: at 0: '${{' is not closed by '}}'");
    PROBLEM("{`id`: `a`, `run`: `x`, `when`: `inputs.n == 1`}, "
            "{`id`: `b`, `run`: `x`, `when`: ` ${{ inputs.n == 1 }} `}", "OK");
    PROBLEM("{`id`: `a`, `run`: `x`, `when`: `${{ inputs.n }} == ${{ 1 }}`}",
            "steps[0].when: must be one ${{ expression }}, with no text or other expression "
            "around it");
    PROBLEM("{`id`: `a`, `run`: `x`, `when`: `inputs.n ==`}",
            "steps[0].when: at 11: expected a value after 'inputs.n ==', found the end of the "
            "expression");
    PROBLEM("{`id`: `a`, `run`: `x`, `for_each`: `inputs.n`}",
            "steps[0].for_each: must be one ${{ expression }}");
    PROBLEM("{`id`: `a`, `run`: `x`, `for_each`: `x ${{ inputs.n }}`}",
            "steps[0].for_each: must be one ${{ expression }}");
}

static void test_references(void)
{
    const char *chain = "{`id`: `a`, `run`: `x`, `outputs`: {`o`: {`from`: `stdout`}}},"
                        "{`id`: `b`, `run`: `x`, `needs`: [`a`]},";
    char buf[1024];

    snprintf(buf, sizeof buf, "%s{`id`: `c`, `needs`: [`b`], `run`: "
             "`${{ steps.a.outputs.o }} ${{ steps.b.status }}`}", chain);
    PROBLEM(buf, "OK");
    snprintf(buf, sizeof buf, "%s{`id`: `c`, `run`: `${{ steps.b.status }}`}", chain);
    PROBLEM(buf, "steps[2].run: steps.b: not among this step's needs, direct or indirect (add "
            "\"b\" to needs)");
    snprintf(buf, sizeof buf, "%s{`id`: `c`, `needs`: [`b`], `run`: `x`,"
             " `when`: `steps.a.outputs.p == 1`, `stdin`: `${{ steps.zz.status }}`}", chain);
    PROBLEM(buf, "steps[2].stdin: steps.zz: no such step | steps[2].when: steps.a.outputs.p: no "
            "such output (outputs: o)");
    PROBLEM("{`id`: `a`, `run`: `${{ steps.a.status }}`}",
            "steps[0].run: steps.a: a step cannot read its own status or outputs");
    PROBLEM("{`id`: `a`, `run`: `${{ inputs.m }}`}",
            "steps[0].run: inputs.m: no such input (inputs: n)");
    PROBLEM("{`id`: `a`, `run`: `${{ item }}`, `env`: {`I`: `${{ index }}`}}",
            "steps[0].run: item: only inside a for_each step | "
            "steps[0].env.I: index: only inside a for_each step");
    PROBLEM("{`id`: `a`, `for_each`: `${{ [1] }}`, `run`: `x`}",
            "steps[0].for_each: at 4: expected a value, found '['");
    PROBLEM("{`id`: `a`, `for_each`: `${{ inputs.n }}`, `run`: `${{ item }} ${{ index }}`,"
            " `when`: `index == 0`}",
            "steps[0].when: index: when is evaluated once, before the fan-out");
    PROBLEM("{`id`: `a`, `for_each`: `${{ item }}`, `run`: `x`}",
            "steps[0].for_each: item: for_each cannot read its own items");
    is_str(check("{`name`: `x`, `defaults`: {`env`: {`A`: `${{ steps.s.status }}`, "
                 "`B`: `${{ inputs.q }}`}}, `steps`: [{`id`: `s`, `run`: `x`}]}", NULL),
           "defaults.env.A: steps: defaults can read only inputs | "
           "defaults.env.B: inputs.q: no such input (inputs: none declared)",
           "defaults read only inputs");
}

static void test_inputs(void)
{
    const char *doc = "{`name`: `x`, `inputs`: {`n`: {`type`: `integer`}, "
                      "`s`: {`type`: `string`, `default`: `hi`}, `o`: {`type`: `object`, "
                      "`required`: false}, `f`: {`type`: `number`, `default`: 1}},"
                      " `steps`: [{`id`: `a`, `run`: `${{ inputs.n }}`}]}";
    json_t *d = load(doc), *in = load("{`n`: 2}");
    orch_workflow *wf = NULL;
    orch_problems pr;

    ok(orch_workflow_parse(d, in, &wf, &pr) == 0, "inputs resolve");
    char *vals = wf ? json_dumps(wf->input_values, JSON_COMPACT) : NULL;
    is_str(vals, "{\"n\":2,\"s\":\"hi\",\"o\":null,\"f\":1}",
           "given, defaults, null for an optional input, an integer is a number");
    ok(wf && wf->inputs[0].required && !wf->inputs[2].required, "required by default without "
       "a default value");
    free(vals);
    orch_workflow_free(wf);
    json_decref(in);
    json_decref(d);

    is_str(check(doc, NULL), "inputs.n: required: no value given and no default",
           "a required input missing");
    is_str(check(doc, "{`n`: `2`, `s`: 1, `zz`: 1}"),
           "inputs.zz: not an input of this workflow (inputs: n, s, o, f) | "
           "inputs.n: must be integer (its declared type), not a string | "
           "inputs.s: must be string (its declared type), not an integer",
           "wrong types and an unknown input");
    is_str(check(doc, "[1]"), "inputs: the input values must be an object | "
                              "inputs.n: required: no value given and no default",
           "input values not an object");
    is_str(check("{`name`: `x`, `inputs`: {`a`: {`type`: `int`}, `b`: {`type`: `integer`, "
                 "`default`: 1.5}, `c`: {`type`: `array`, `required`: true, `default`: []}, "
                 "`d`: {}, `e f`: {`type`: `string`}, `g`: 1}, "
                 "`steps`: [{`id`: `a`, `run`: `x`}]}", "{`a`: 1, `d`: 1}"),
           "inputs.a.type: must be integer, number, string, boolean, array or object | "
           "inputs.b.default: must be of the input's type, integer, not a number | "
           "inputs.c.required: a required input takes no default | "
           "inputs.d.type: required (integer, number, string, boolean, array or object) | "
           "inputs[\"e f\"]: input names are letters, digits, _ and -, start with a letter or "
           "_, and are at most 64 bytes | "
           "inputs.g: must be an object such as {\"type\": \"string\"}",
           "bad declarations");
}

static void test_many_problems(void)
{
    is_str(check("{`name`: `x`, `max_parallel`: 0, `steps`: [{`id`: `a`, `run`: `${{ item }}`,"
                 " `needs`: [`b`]}, {`id`: `b`, `needs`: [`a`], `command`: [1],"
                 " `retry`: {`on`: [`ok`]}}]}", NULL),
           "max_parallel: must be an integer from 1 to 256 | steps[1].command[0]: must be a "
           "string | steps[1].retry.on[0]: \"ok\" is not a status that can be retried (use "
           "exit_nonzero, signaled, timeout, cpu_limit, memory_limit, output_limit, seccomp, "
           "error) | steps: cycle a -> b -> a | steps[0].run: item: only inside a for_each step",
           "several problems at once, each with its path");
}

/* A document of n steps s0, s1, ... running x, each with extra keys. */
static json_t *many_steps(size_t n, const char *extra)
{
    json_t *doc = load("{`name`: `big`}"), *arr = json_array();
    char buf[256];

    for (size_t i = 0; i < n; i++) {
        snprintf(buf, sizeof buf, "{`id`: `s%zu`, `run`: `x`%s}", i, extra);
        json_array_append_new(arr, load(buf));
    }
    json_object_set_new(doc, "steps", arr);
    return doc;
}

static void test_hostile(void)
{
    json_t *doc = many_steps(1000, "");
    is_str(check_v(doc, NULL), "OK", "1000 steps are fine");
    json_decref(doc);

    doc = many_steps(1001, "");
    is_str(check_v(doc, NULL), "steps: 1001 steps, above the limit of 1000", "1001 are not");
    json_decref(doc);

    /* A chain of 1000: each needs the one before (and its ancestors read). */
    doc = many_steps(1000, "");
    json_t *arr = json_object_get(doc, "steps");
    char id[32];
    for (size_t i = 1; i < 1000; i++) {
        json_t *s = json_array_get(arr, i);
        snprintf(id, sizeof id, "s%zu", i - 1);
        json_object_set_new(s, "needs", json_pack("[s]", id));
        json_object_set_new(s, "run", json_string("${{ steps.s0.status }}"));
    }
    is_str(check_v(doc, NULL), "OK", "a chain of 1000 steps reading the first");
    json_decref(doc);

    doc = many_steps(102, "");
    arr = json_object_get(doc, "steps");
    json_t *needs = json_array();
    for (size_t i = 0; i < 101; i++) {
        snprintf(id, sizeof id, "s%zu", i);
        json_array_append_new(needs, json_string(id));
    }
    json_object_set_new(json_array_get(arr, 101), "needs", needs);
    is_str(check_v(doc, NULL), "steps[101].needs: 101 needs, above the limit of 100",
           "101 needs");
    json_decref(doc);

    /* 3 x 400 KB of templates: the third goes over the 1 MiB total. */
    doc = many_steps(3, "");
    arr = json_object_get(doc, "steps");
    char *big = malloc(400 * 1024 + 1);
    memset(big, 'x', 400 * 1024);
    big[400 * 1024] = '\0';
    for (size_t i = 0; i < 3; i++)
        json_object_set_new(json_array_get(arr, i), "run", json_string(big));
    free(big);
    is_str(check_v(doc, NULL),
           "steps[2].run: the templates of this workflow total more than 1048576 bytes",
           "templates above 1 MiB in total");
    json_decref(doc);

    /* 300 problems: the first 100, then a count of the rest. */
    doc = many_steps(300, ", `bad`: 1");
    orch_workflow *wf = NULL;
    orch_problems pr;
    ok(orch_workflow_parse(doc, NULL, &wf, &pr) < 0, "300 problems");
    is_int(pr.n, 101, "100 kept, and one more");
    is_str(pr.v[99].path, "steps[99].bad", "the 100th");
    is_str(pr.v[100].message, "200 more problems not shown", "then how many were left out");
    orch_problems_free(&pr);
    json_decref(doc);

    doc = load("{`name`: `x`, `steps`: [{`id`: `aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
               "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa`, `run`: `x`}]}");
    is_str(check_v(doc, NULL), "steps[0].id: must be 1 to 64 letters, digits, _ and -",
           "a long id");
    json_decref(doc);
}

/* Every ```json block of docs/workflows.md with "steps" is a workflow that validates. */
static void test_docs(void)
{
    FILE *f = fopen("docs/workflows.md", "r");
    char line[1024], block[1 << 14];
    size_t len = 0, n = 0;
    bool in = false;

    if (!f) {
        skip(1, "docs/workflows.md not found (run from the source tree)");
        return;
    }
    while (fgets(line, sizeof line, f)) {
        if (!in) {
            in = strcmp(line, "```json\n") == 0;
            len = 0;
            continue;
        }
        if (strcmp(line, "```\n") != 0) {
            len += (size_t)snprintf(block + len, sizeof block - len, "%s", line);
            continue;
        }
        in = false;
        json_t *doc = json_loads(block, 0, NULL);
        if (json_object_get(doc, "steps")) {
            const char *r = check_v(doc, NULL);
            n++;
            if (strcmp(r, "OK") != 0)
                diag("docs/workflows.md example %zu: %s", n, r);
            ok(strcmp(r, "OK") == 0, "docs example %zu validates", n);
        }
        json_decref(doc);
    }
    fclose(f);
    ok(n > 0, "docs/workflows.md has %zu workflow examples", n);
}

int main(void)
{
    test_example();
    test_defaults();
    test_unknown_keys();
    test_types();
    test_actions();
    test_needs();
    test_cycles();
    test_units();
    test_retry();
    test_templates();
    test_references();
    test_inputs();
    test_many_problems();
    test_hostile();
    test_docs();
    return tap_done();
}
