/* Tests orchestrator/expr.c: the expression language and `${{ … }}` templates. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "expr.h"
#include "tap.h"

static json_t *ctx;

/* What text gives against c: compact JSON, "parse: MSG" or "eval: MSG". */
static const char *run(const json_t *c, const char *text)
{
    static char buf[2048];
    orch_expr *e = NULL;
    json_t *v = NULL;
    rt_error err = {0};

    if (orch_expr_parse(text, &e, &err) < 0) {
        snprintf(buf, sizeof buf, "parse: %s", err.msg);
        return buf;
    }
    if (orch_expr_eval(e, c, &v, &err) < 0) {
        snprintf(buf, sizeof buf, "eval: %s", err.msg);
    } else {
        char *s = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
        snprintf(buf, sizeof buf, "%s", s);
        free(s);
        json_decref(v);
    }
    orch_expr_free(e);
    return buf;
}

/* The same for a template. */
static const char *render(const json_t *c, const char *tmpl)
{
    static char buf[2048];
    orch_template *t = NULL;
    json_t *v = NULL;
    rt_error err = {0};

    if (orch_template_parse(tmpl, &t, &err) < 0) {
        snprintf(buf, sizeof buf, "parse: %s", err.msg);
        return buf;
    }
    if (orch_template_render(t, c, &v, &err) < 0) {
        snprintf(buf, sizeof buf, "render: %s", err.msg);
    } else {
        char *s = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
        snprintf(buf, sizeof buf, "%s", s);
        free(s);
        json_decref(v);
    }
    orch_template_free(t);
    return buf;
}

#define EV(text, want) is_str(run(ctx, text), want, text)
#define TPL(tmpl, want) is_str(render(ctx, tmpl), want, "template " tmpl)

static json_t *load(const char *text)
{
    json_error_t je;
    json_t *v = json_loads(text, 0, &je);

    if (!v)
        diag("bad test JSON: %s", je.text);
    return v;
}

static const char *const CTX =
    "{\"inputs\": {\"count\": 3, \"name\": \"world\", \"ratio\": 0.5, \"tenth\": 0.1,"
    "  \"flag\": true, \"list\": [1, 2, 3], \"obj\": {\"a\": 1, \"b\": [1, 2]},"
    "  \"obj2\": {\"b\": [1, 2], \"a\": 1}, \"empty\": \"\", \"nothing\": null, \"_x\": 7},"
    " \"steps\": {\"gen\": {\"status\": \"ok\", \"outputs\": {\"numbers\": [1, 2, 3],"
    "              \"meta\": {\"path\": \"/x\", \"n\": 2}, \"text\": \"hi\"}},"
    "            \"bad\": {\"status\": \"failed\", \"outputs\": {}},"
    "            \"my-step\": {\"status\": \"skipped\", \"outputs\": {\"v\": \"x\"}},"
    "            \"bare\": {}},"
    " \"item\": {\"path\": \"/tmp/a\", \"size\": 10, \"tags\": [\"x\", \"y\"]},"
    " \"index\": 2, \"needs\": {\"gen\": \"ok\"}}";

#define INPUTS "count, name, ratio, tenth, flag, list, obj, obj2, empty, nothing, _x"

static void test_literals(void)
{
    EV("1", "1");
    EV("-5", "-5");
    EV("007", "7");
    EV("1.5", "1.5");
    EV("-0.25", "-0.25");
    EV("9223372036854775807", "9223372036854775807");
    EV("-9223372036854775808", "-9223372036854775808");
    EV("'a'", "\"a\"");
    EV("\"a\"", "\"a\"");
    EV("''", "\"\"");
    EV("true", "true");
    EV("false", "false");
    EV("null", "null");
    EV("'it\\'s'", "\"it's\"");
    EV("\"say \\\"hi\\\"\"", "\"say \\\"hi\\\"\"");
    EV("'a\\\\b'", "\"a\\\\b\"");
    EV("'\\n\\t\\r'", "\"\\n\\t\\r\"");
    EV("'\"'", "\"\\\"\"");
    EV("\"'\"", "\"'\"");
    EV("'h\xc3\xa9'", "\"h\xc3\xa9\"");
    EV("'}}'", "\"}}\"");
    is_str(run(ctx, " \t1\n"), "1", "whitespace around a literal");
}

static void test_equality(void)
{
    EV("1 == 1", "true");
    EV("1 == 2", "false");
    EV("1 == 1.0", "true");
    EV("1.5 != 1", "true");
    EV("1 != 1", "false");
    EV("'a' == 'a'", "true");
    EV("'a' == 'b'", "false");
    EV("'a' != 'A'", "true");
    EV("null == null", "true");
    EV("true == true", "true");
    EV("true == 1", "false");
    EV("1 == '1'", "false");
    EV("null == false", "false");
    EV("'' == null", "false");
    EV("steps.gen.outputs.numbers == inputs.list", "true");
    EV("inputs.obj == inputs.obj2", "true");
    EV("inputs.obj == steps.gen.outputs.meta", "false");
    EV("inputs.list != inputs.obj", "true");
    EV("inputs.obj.b == steps.gen.outputs.numbers", "false");
    is_str(run(ctx, "\t1\n==\r1 "), "true", "tabs, newlines and returns between tokens");
    EV("1==1", "true");
}

static void test_ordering(void)
{
    EV("1 < 2", "true");
    EV("2 < 1", "false");
    EV("1 < 1", "false");
    EV("1 <= 1", "true");
    EV("2 <= 1", "false");
    EV("2 > 1", "true");
    EV("1 > 1", "false");
    EV("1 >= 1", "true");
    EV("1 >= 2", "false");
    EV("1 < 1.5", "true");
    EV("2.5 > 2", "true");
    EV("-1 < 0", "true");
    EV("index>-1", "true");
    EV("9223372036854775807 > 9223372036854775806", "true");
    EV("'a' < 'b'", "true");
    EV("'ab' > 'a'", "true");
    EV("'B' < 'a'", "true");
    EV("'' < 'a'", "true");
    EV("'a' <= 'a'", "true");
    EV("'b' >= 'c'", "false");
    EV("'\xc3\xa9' > 'z'", "true");
    EV("inputs.count >= 3", "true");
    EV("1 < 'a'", "eval: at 2: cannot compare an integer with a string using '<'");
    EV("null >= 1", "eval: at 5: cannot compare null with an integer using '>='");
    EV("inputs.list > 1", "eval: at 12: cannot compare an array with an integer using '>'");
    EV("item <= 'a'", "eval: at 5: cannot compare an object with a string using '<='");
    EV("true < false", "eval: at 5: cannot compare a boolean with a boolean using '<'");
}

static void test_logic(void)
{
    EV("!true", "false");
    EV("!false", "true");
    EV("!0", "true");
    EV("!0.0", "true");
    EV("!1", "false");
    EV("!''", "true");
    EV("!'a'", "false");
    EV("!null", "true");
    EV("!inputs.list", "false");
    EV("!steps.bad.outputs.x", "eval: steps.bad.outputs.x: no such output (outputs: none)");
    EV("!!1", "true");
    EV("! ! ! 1", "false");
    EV("true && true", "true");
    EV("true && false", "false");
    EV("false || true", "true");
    EV("false || false", "false");
    EV("1 && 'a'", "true");
    EV("0 || ''", "false");
    EV("'x' || 0", "true");
    EV("inputs.name && inputs.count", "true");
    EV("inputs.empty || inputs.nothing", "false");
}

static void test_short_circuit(void)
{
    EV("false && inputs.missing", "false");
    EV("true || steps.nope.status", "true");
    EV("0 && 1 < 'a'", "false");
    EV("1 || item.nope.deeper", "true");
    EV("true && inputs.missing",
       "eval: inputs.missing: no such input (inputs: " INPUTS ")");
    EV("false || steps.nope.status",
       "eval: steps.nope: no such step (steps: gen, bad, my-step, bare)");
}

static void test_precedence(void)
{
    EV("true || false && false", "true");
    EV("(true || false) && false", "false");
    EV("false && false || true", "true");
    EV("false && (false || true)", "false");
    EV("!1 == false", "true");
    EV("!(1 == 2)", "true");
    EV("1 < 2 == true", "true");
    EV("1 == 2 == false", "true");
    EV("'a' == 'a' < 'b'", "false");
    EV("1 == 1 && 2 == 2", "true");
    EV("1 != 1 || 2 >= 2", "true");
    EV("!false && !false", "true");
    EV("((((1))))", "1");
    EV("(1 < 2) < 3", "eval: at 8: cannot compare a boolean with an integer using '<'");
    EV("1 < 2 < 3", "eval: at 6: cannot compare a boolean with an integer using '<'");
}

static void test_references(void)
{
    EV("inputs.count", "3");
    EV("inputs.name", "\"world\"");
    EV("inputs.nothing", "null");
    EV("inputs._x", "7");
    EV("inputs.list[1]", "2");
    EV("inputs.obj.b[0]", "1");
    EV("inputs.obj['a']", "1");
    EV("inputs.obj[\"b\"][1]", "2");
    EV("inputs . count", "3");
    EV("steps.gen.status", "\"ok\"");
    EV("steps.bad.status", "\"failed\"");
    EV("steps.gen.outputs.numbers", "[1,2,3]");
    EV("steps.gen.outputs.numbers[0]", "1");
    EV("steps.gen.outputs.meta.path", "\"/x\"");
    EV("steps.my-step.outputs.v", "\"x\"");
    EV("steps.my-step.status == 'skipped'", "true");
    EV("item", "{\"path\":\"/tmp/a\",\"size\":10,\"tags\":[\"x\",\"y\"]}");
    EV("item.path", "\"/tmp/a\"");
    EV("item['size']", "10");
    EV("item.tags[1]", "\"y\"");
    EV("index", "2");
    EV("index == 2", "true");
}

static void test_reference_errors(void)
{
    EV("inputs.nope", "eval: inputs.nope: no such input (inputs: " INPUTS ")");
    EV("steps.nope.status", "eval: steps.nope: no such step (steps: gen, bad, my-step, bare)");
    EV("steps.gen.outputs.nums",
       "eval: steps.gen.outputs.nums: no such output (outputs: numbers, meta, text)");
    EV("steps.bare.outputs.x", "eval: steps.bare.outputs.x: no such output (outputs: none)");
    EV("steps.bare.status", "eval: steps.bare.status: the step has no status");
    EV("steps.gen.outputs.numbers[3]",
       "eval: steps.gen.outputs.numbers[3]: index out of range (length 3)");
    EV("steps.gen.outputs.numbers[-1]",
       "eval: steps.gen.outputs.numbers[-1]: index out of range (length 3)");
    EV("item.nope", "eval: item.nope: no such key (keys: path, size, tags)");
    EV("item['no pe']", "eval: item['no pe']: no such key (keys: path, size, tags)");
    EV("item.path.x", "eval: item.path.x: item.path is a string, not an object");
    EV("item.path[0]", "eval: item.path[0]: item.path is a string, not an array");
    EV("item.tags.x", "eval: item.tags.x: item.tags is an array, not an object");
    EV("index.x", "eval: index.x: index is an integer, not an object");
    EV("inputs.nothing[0]", "eval: inputs.nothing[0]: inputs.nothing is null, not an array");
    EV("inputs.flag.x", "eval: inputs.flag.x: inputs.flag is a boolean, not an object");
    EV("steps.gen.status.x", "eval: steps.gen.status.x: steps.gen.status is a string, not an "
                             "object");

    json_t *empty = json_object();
    is_str(run(empty, "item"), "eval: item: not set (only inside a for_each step)",
           "item outside for_each");
    is_str(run(empty, "index"), "eval: index: not set (only inside a for_each step)",
           "index outside for_each");
    is_str(run(empty, "inputs.a"), "eval: inputs.a: no such input (inputs: none)",
           "no inputs at all");
    is_str(run(NULL, "steps.a.status"), "eval: steps.a: no such step (steps: none)",
           "a NULL context");
    is_str(run(NULL, "1 == 1"), "true", "a NULL context is fine without references");
    json_decref(empty);

    json_t *many = json_object();
    char key[32];
    for (int i = 0; i < 100; i++) {
        snprintf(key, sizeof key, "input_number_%d", i);
        json_object_set_new(many, key, json_integer(i));
    }
    json_t *c = json_pack("{s:o}", "inputs", many);
    const char *msg = run(c, "inputs.x");
    ok(strlen(msg) < 300 && strstr(msg, "input_number_0, ") && strstr(msg, "...)"),
       "a long key list is cut: %s", msg);
    json_decref(c);
}

static void test_functions(void)
{
    const struct {
        const char *needs, *success, *failure;
    } cases[] = {
        {"{}", "true", "false"},
        {"{\"a\": \"ok\"}", "true", "false"},
        {"{\"a\": \"ok\", \"b\": \"ok\"}", "true", "false"},
        {"{\"a\": \"ok\", \"b\": \"failed\"}", "false", "true"},
        {"{\"a\": \"failed\"}", "false", "true"},
        {"{\"a\": \"skipped\"}", "false", "false"},
        {"{\"a\": \"cancelled\", \"b\": \"ok\"}", "false", "false"},
        {"{\"a\": 1}", "false", "false"},
    };
    char text[128];

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        snprintf(text, sizeof text, "{\"needs\": %s}", cases[i].needs);
        json_t *c = load(text);
        snprintf(text, sizeof text, "success() with needs %s", cases[i].needs);
        is_str(run(c, "success()"), cases[i].success, text);
        snprintf(text, sizeof text, "failure() with needs %s", cases[i].needs);
        is_str(run(c, "failure()"), cases[i].failure, text);
        snprintf(text, sizeof text, "always() with needs %s", cases[i].needs);
        is_str(run(c, "always()"), "true", text);
        json_decref(c);
    }
    json_t *none = json_object();
    is_str(run(none, "success()"), "true", "success() with no needs key");
    is_str(run(none, "failure()"), "false", "failure() with no needs key");
    json_decref(none);
    EV("always ( )", "true");
    EV("!success()", "false");
    EV("failure() || steps.gen.status == 'ok'", "true");
    EV("success(1)", "parse: at 8: success() takes no arguments");
    EV("always(", "parse: at 7: always() takes no arguments");
    EV("foo()", "parse: at 0: unknown function 'foo' (functions: always, success, failure)");
}

static void test_parse_errors(void)
{
    EV("", "parse: at 0: expected a value, found the end of the expression");
    EV("   ", "parse: at 3: expected a value, found the end of the expression");
    EV("(1 == 2", "parse: at 7: expected ')' after '1 == 2', found the end of the expression");
    EV("(1 == 2 3)", "parse: at 8: expected ')' after '1 == 2', found '3'");
    EV("1 ==", "parse: at 4: expected a value after '1 ==', found the end of the expression");
    EV("1 == )", "parse: at 5: expected a value after '1 ==', found ')'");
    EV("1 2", "parse: at 2: expected an operator or the end after '1', found '2'");
    EV("1 ) ", "parse: at 2: expected an operator or the end after '1', found ')'");
    EV(")", "parse: at 0: expected a value, found ')'");
    EV("!", "parse: at 1: expected a value after '!', found the end of the expression");
    EV("1 = 2", "parse: at 2: unexpected '=' (did you mean '=='?)");
    EV("1 & 2", "parse: at 2: unexpected '&' (did you mean '&&'?)");
    EV("1 | 2", "parse: at 2: unexpected '|' (did you mean '||'?)");
    is_str(run(ctx, "1 # 2"), "parse: at 2: unexpected character '#'", "a stray '#'");
    is_str(run(ctx, "1 \x01"), "parse: at 2: unexpected byte 0x01", "a control byte");
    is_str(run(ctx, "1 \xff"), "parse: at 2: unexpected byte 0xff", "a high byte");
    EV("1 - 2", "parse: at 2: unexpected character '-'");
    EV("'abc", "parse: at 0: unterminated string");
    EV("1 == \"abc\\\"", "parse: at 5: unterminated string");
    EV("'abc\\", "parse: at 0: unterminated string");
    EV("'a\\qb'", "parse: at 2: unknown escape '\\q' (use \\\\, \\', \\\", \\n, \\t or \\r)");
    is_str(run(ctx, "'\xff'"), "parse: at 0: string is not valid UTF-8", "bad UTF-8 in a string");
    EV("1.", "parse: at 2: expected a digit after '.'");
    EV("1.x", "parse: at 2: expected a digit after '.'");
    EV("1e5", "parse: at 1: expected an operator or the end after '1', found 'e5'");
    EV("99999999999999999999", "parse: at 0: number 99999999999999999999 is out of range");
    EV("-9223372036854775809", "parse: at 0: number -9223372036854775809 is out of range");
    EV("foo", "parse: at 0: unknown name 'foo' (expected inputs, steps, item, index, true, "
              "false, null or a function)");
    EV("true()", "parse: at 4: expected an operator or the end after 'true', found '('");
    EV("inputs", "parse: at 6: expected '.' after 'inputs', found the end of the expression");
    EV("inputs.", "parse: at 7: expected an input name after 'inputs.', found the end of the "
                  "expression");
    EV("inputs.1", "parse: at 7: expected an input name after 'inputs.', found '1'");
    EV("steps", "parse: at 5: expected '.' after 'steps', found the end of the expression");
    EV("steps.'x'", "parse: at 6: expected a step id after 'steps.', found ''x''");
    EV("steps.gen", "parse: at 9: expected '.' after 'steps.gen', found the end of the "
                    "expression");
    EV("steps.gen.foo",
       "parse: at 10: expected 'outputs' or 'status' after 'steps.gen.', found 'foo'");
    EV("steps.gen.outputs", "parse: at 17: expected '.' after 'steps.gen.outputs', found the "
                            "end of the expression");
    EV("steps.gen.outputs.", "parse: at 18: expected an output name after "
                             "'steps.gen.outputs.', found the end of the expression");
    EV("item.", "parse: at 5: expected a name after 'item.', found the end of the expression");
    EV("item[", "parse: at 5: expected an integer or a quoted key after 'item[', found the end "
                "of the expression");
    EV("item[1.5]", "parse: at 5: expected an integer or a quoted key after 'item[', found "
                    "'1.5'");
    EV("item[index]", "parse: at 5: expected an integer or a quoted key after 'item[', found "
                      "'index'");
    EV("item[0", "parse: at 6: expected ']' after 'item[0', found the end of the expression");
    EV("item[0 == 1]", "parse: at 7: expected ']' after 'item[0', found '=='");
    EV("'a'.b", "parse: at 3: expected an operator or the end after ''a'', found '.'");
}

/* A string of n copies of s between prefix and suffix. */
static char *repeat(const char *prefix, const char *s, int n, const char *suffix)
{
    size_t ls = strlen(s), lp = strlen(prefix), lx = strlen(suffix);
    char *buf = malloc(lp + ls * (size_t)n + lx + 1);

    memcpy(buf, prefix, lp);
    for (int i = 0; i < n; i++)
        memcpy(buf + lp + ls * (size_t)i, s, ls);
    memcpy(buf + lp + ls * (size_t)n, suffix, lx + 1);
    return buf;
}

static void hostile_is(char *text, const char *want, const char *name)
{
    is_str(run(ctx, text), want, name);
    free(text);
}

static void test_hostile(void)
{
    char *close = repeat("", ")", 64, "");
    char *deep = repeat("", "(", 64, "");
    char *text = repeat(deep, "", 0, "1");
    free(deep);
    hostile_is(repeat(text, "", 0, close), "1", "64 nested parentheses");
    free(text);
    free(close);
    hostile_is(repeat("", "(", 65, "1"), "parse: at 64: nesting deeper than 64 levels",
               "65 nested parentheses are refused");
    hostile_is(repeat("", "(", 4000, "1"), "parse: at 64: nesting deeper than 64 levels",
               "4000 '(' are refused");
    hostile_is(repeat("", "!", 64, "1"), "true", "64 '!'");
    hostile_is(repeat("", "!", 63, "1"), "false", "63 '!'");
    hostile_is(repeat("", "!", 65, "1"), "parse: at 64: nesting deeper than 64 levels",
               "65 '!' are refused");
    hostile_is(repeat("", "!(", 33, "1"), "parse: at 64: nesting deeper than 64 levels",
               "'!(' mixed count together");
    hostile_is(repeat("", "!", 5000, "1"),
               "parse: at 0: expression is 5001 bytes, above the limit of 4096",
               "5000 '!' are refused by size");
    hostile_is(repeat("1", " == 1", 800, ""), "false", "a long flat chain parses");
    hostile_is(repeat("true", " && true", 500, ""), "true", "500 '&&' evaluate");
    hostile_is(repeat("1", "0", 400, ".5"),
               "parse: at 0: number 1000000000000000000000000000000000000000... is out of "
               "range",
               "a 400-digit decimal is refused, its text cut");
    char *edge = repeat("'", "a", 4094, "'");
    ok(strncmp(run(ctx, edge), "\"aaaa", 5) == 0, "an expression of exactly 4096 bytes");
    free(edge);
    hostile_is(repeat("'", "a", 4095, "'"),
               "parse: at 0: expression is 4097 bytes, above the limit of 4096",
               "one byte more is refused");
    hostile_is(repeat("item", "[0]", 1300, ""), "eval: item[0]: item is an object, not an array",
               "1300 accesses");
    hostile_is(repeat("", "[[[[", 100, ""), "parse: at 0: expected a value, found '['",
               "bracket garbage");

    /* Random text over the language's own bytes: never a crash (ASan watches),
     * always a value or a message that names a position or a path. */
    static const char alphabet[] = "()[]!=<>&|.'\"\\ 0123456789-_abcinputsemtdxlo";
    char buf[64];
    int bad = 0;
    srand(12345);
    for (int i = 0; i < 20000; i++) {
        size_t n = (size_t)(rand() % 40);
        for (size_t j = 0; j < n; j++)
            buf[j] = alphabet[rand() % (int)(sizeof alphabet - 1)];
        buf[n] = '\0';
        const char *r = run(ctx, buf);
        if (r[0] == '\0' || (strncmp(r, "parse: ", 7) == 0 && strncmp(r, "parse: at ", 10) != 0))
            bad++;
    }
    is_int(bad, 0, "20000 random expressions end in a value or a message");
}

static void test_truthy(void)
{
    const char *falsy[] = {"false", "null", "0", "0.0", "\"\"", "[]", "{}"};
    const char *truthy[] = {"true", "1", "-1", "0.5", "\"0\"", "\"false\"", "[0]", "{\"a\":0}"};

    for (size_t i = 0; i < sizeof falsy / sizeof falsy[0]; i++) {
        json_t *v = json_loads(falsy[i], JSON_DECODE_ANY, NULL);
        ok(!orch_truthy(v), "%s is falsy", falsy[i]);
        json_decref(v);
    }
    for (size_t i = 0; i < sizeof truthy / sizeof truthy[0]; i++) {
        json_t *v = json_loads(truthy[i], JSON_DECODE_ANY, NULL);
        ok(orch_truthy(v), "%s is truthy", truthy[i]);
        json_decref(v);
    }
    ok(!orch_truthy(NULL), "NULL is falsy");
}

static void test_value_is_a_copy(void)
{
    orch_expr *e = NULL;
    json_t *v = NULL;
    rt_error err = {0};

    ok(orch_expr_parse("inputs.list", &e, &err) == 0 && orch_expr_eval(e, ctx, &v, &err) == 0,
       "evaluate a list");
    json_array_append_new(v, json_integer(4));
    is_str(run(ctx, "inputs.list"), "[1,2,3]", "changing the value leaves the context alone");
    json_decref(v);
    orch_expr_free(e);
    orch_expr_free(NULL);
    orch_template_free(NULL);
}

static void test_templates(void)
{
    TPL("hello", "\"hello\"");
    TPL("", "\"\"");
    TPL("${{ inputs.count }}", "3");
    is_str(render(ctx, "  ${{ steps.gen.outputs.numbers }}\n"), "[1,2,3]",
           "one expression with whitespace around gives its value");
    TPL("${{inputs.nothing}}", "null");
    TPL("${{ item }}", "{\"path\":\"/tmp/a\",\"size\":10,\"tags\":[\"x\",\"y\"]}");
    TPL("${{ 'a}}b' }}", "\"a}}b\"");
    TPL("n=${{ inputs.count }}", "\"n=3\"");
    TPL("hi ${{ inputs.name }}!", "\"hi world!\"");
    TPL("${{ inputs.ratio }}x", "\"0.5x\"");
    TPL("${{ inputs.tenth }}s", "\"0.1s\"");
    TPL("-${{ 2.0 }}", "\"-2.0\"");
    TPL("${{ true }}/${{ false }}", "\"true/false\"");
    TPL("[${{ null }}]", "\"[]\"");
    TPL("${{ inputs.list }};", "\"[1,2,3];\"");
    TPL("o=${{ inputs.obj }}", "\"o={\\\"a\\\":1,\\\"b\\\":[1,2]}\"");
    TPL("${{ 1 }}${{ 2 }}", "\"12\"");
    TPL("${{ 1 }} ${{ 2 }}", "\"1 2\"");
    TPL("a${{ 'x}}y' }}b", "\"ax}}yb\"");
    TPL("${{ \"q\\\"}}\" }}", "\"q\\\"}}\"");
    TPL("sq_${{ item.path }}_${{ index }}", "\"sq_/tmp/a_2\"");
    TPL("${{ steps.gen.status == 'ok' }}", "true");
    TPL("}} $ { ${ {{", "\"}} $ { ${ {{\"");
    TPL("x ${{ 1 ", "parse: at 2: '${{' is not closed by '}}'");
    TPL("${{ 1 }} ${{", "parse: at 9: '${{' is not closed by '}}'");
    TPL("${{ }}", "parse: at 0: empty expression in '${{ }}'");
    TPL("x${{}}", "parse: at 1: empty expression in '${{ }}'");
    TPL("${{ 'abc }}", "parse: at 4: unterminated string in the '${{' at 0");
    TPL("abc ${{ 1 == }}", "parse: at 13: expected a value after '1 ==', found the end of the "
                           "expression");
    TPL("abc ${{ (1 }}", "parse: at 11: expected ')' after '1', found the end of the expression");
    TPL("x ${{ 1 < 'a' }}", "render: at 8: cannot compare an integer with a string using '<'");
    TPL("x ${{ inputs.nope }}", "render: inputs.nope: no such input (inputs: " INPUTS ")");
    is_str(render(ctx, "\xff ${{ 1 }}"), "render: rendered template is not valid UTF-8",
           "bad UTF-8 in the literal text");

    orch_template *t = NULL;
    rt_error err = {0};
    ok(orch_template_parse("plain text", &t, &err) == 0 && orch_template_is_literal(t),
       "plain text is literal");
    orch_template_free(t);
    ok(orch_template_parse("a ${{ 1 }}", &t, &err) == 0 && !orch_template_is_literal(t),
       "a template with an expression is not literal");
    orch_template_free(t);
}

static void test_template_limits(void)
{
    orch_template *t = NULL;
    rt_error err = {0};
    char *big = repeat("", "a", ORCH_TEMPLATE_MAX_BYTES, "");

    ok(orch_template_parse(big, &t, &err) == 0, "a 1 MiB template is accepted");
    orch_template_free(t);
    free(big);
    big = repeat("", "a", ORCH_TEMPLATE_MAX_BYTES + 1, "");
    is_str(orch_template_parse(big, &t, &err) < 0 ? err.msg : "(accepted)",
           "template is 1048577 bytes, above the limit of 1048576", "a bigger one is refused");
    free(big);

    char *inner = repeat("'", "a", 4100, "'");
    char *tmpl = repeat("xy ${{ ", inner, 1, " }}");
    is_str(orch_template_parse(tmpl, &t, &err) < 0 ? err.msg : "(accepted)",
           "at 6: expression is 4104 bytes, above the limit of 4096",
           "an expression above 4096 bytes in a template");
    free(inner);
    free(tmpl);

    /* 1 MiB inserted 20 times: the rendered string stops at its cap. */
    char *mib = repeat("", "z", 1024 * 1024, "");
    json_t *c = json_pack("{s:{s:s}}", "inputs", "big", mib);
    free(mib);
    tmpl = repeat("", "${{ inputs.big }},", 20, "");
    is_str(render(c, tmpl), "render: rendered template is above the limit of 16777216 bytes",
           "the rendered size is capped");
    free(tmpl);
    is_int(strlen(render(c, "${{ inputs.big }},")) > 0, 1, "one copy renders");
    json_decref(c);
}

struct seen {
    char text[512];
};

static void collect(void *p, const char *kind, const char *name, const char *field)
{
    struct seen *s = p;
    size_t len = strlen(s->text);

    snprintf(s->text + len, sizeof s->text - len, "%s%s%s%s%s%s", len ? " " : "", kind,
             name ? ":" : "", name ? name : "", field ? ":" : "", field ? field : "");
}

static void test_refs(void)
{
    orch_template *t = NULL;
    orch_expr *e = NULL;
    rt_error err = {0};
    struct seen s = {{0}};

    ok(orch_template_parse("${{ inputs.a }} ${{ steps.gen.outputs.numbers[0] == "
                           "steps.x.status && item.k || index }} ${{ always() }} ${{ 1 }}",
                           &t, &err) == 0,
       "parse a template with references");
    is_int(orch_template_refs(t, collect, &s), 5, "five references");
    is_str(s.text, "input:a step:gen:outputs.numbers step:x:status item index",
           "each reference with its kind, name and field");
    orch_template_free(t);

    s.text[0] = '\0';
    ok(orch_expr_parse("!(steps.my-step.outputs.v == inputs.b) || false && inputs.c['d']", &e,
                       &err) == 0,
       "parse an expression with references");
    is_int(orch_expr_refs(e, collect, &s), 3, "three references");
    is_str(s.text, "step:my-step:outputs.v input:b input:c", "in source order");
    orch_expr_free(e);

    s.text[0] = '\0';
    ok(orch_template_parse("no refs here", &t, &err) == 0, "parse a literal");
    is_int(orch_template_refs(t, collect, &s), 0, "a literal has no references");
    is_str(s.text, "", "and reports none");
    orch_template_free(t);
}

int main(void)
{
    ctx = load(CTX);
    test_literals();
    test_equality();
    test_ordering();
    test_logic();
    test_short_circuit();
    test_precedence();
    test_references();
    test_reference_errors();
    test_functions();
    test_parse_errors();
    test_hostile();
    test_truthy();
    test_value_is_a_copy();
    test_templates();
    test_template_limits();
    test_refs();
    json_decref(ctx);
    return tap_done();
}
