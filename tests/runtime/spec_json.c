/* Tests runtime/spec_json.c: the spec and result JSON codecs. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spec_json.h"
#include "tap.h"

#define SIZE_FORM "(use a whole number with an optional k, m, g or t suffix)"
#define SPEC_KEYS \
    "command, env, cwd, stdin, stdin_encoding, image, workspace, files, mounts, fixed_mounts, " \
    "network, limits, profile"
#define LIMIT_KEYS "timeout, cpu_time, memory, pids, output, file_size, open_files, tmpfs, cpus"

/* Test JSON is written with single quotes for readability. */
static json_t *load(const char *text)
{
    char *buf = strdup(text);
    json_error_t e;

    if (!buf)
        abort();
    for (char *p = buf; *p; p++)
        if (*p == '\'')
            *p = '"';
    json_t *j = json_loads(buf, JSON_ALLOW_NUL, &e);
    if (!j)
        diag("test JSON does not parse: %s: %s", e.text, buf);
    free(buf);
    return j;
}

/* The message, "(accepted)", or "(spec not emptied)" when a failure leaves data. */
static const char *spec_err_json(const json_t *j)
{
    static rt_error err;
    rt_spec s;

    rt_error_clear(&err);
    if (rt_spec_from_json(j, &s, &err) == 0) {
        rt_spec_free(&s);
        return "(accepted)";
    }
    if (s.argv || s.env || s.cwd || s.stdin_data || s.mounts || s.n_mounts || s.files ||
        s.n_files || s.workspace || s.workspace_tmpfs)
        return "(spec not emptied)";
    return err.msg;
}

static const char *spec_err(const char *text)
{
    json_t *j = load(text);
    const char *msg = spec_err_json(j);

    json_decref(j);
    return msg;
}

static void refused(const char *text, const char *want)
{
    char name[160];

    snprintf(name, sizeof name, "refused: %.140s", text);
    is_str(spec_err(text), want, name);
}

static int from_text(const char *text, rt_spec *s)
{
    rt_error err = {0};
    json_t *j = load(text);
    int rc = rt_spec_from_json(j, s, &err);

    if (rc < 0)
        diag("%s", err.msg);
    json_decref(j);
    return rc;
}

static const char *full_spec =
    "{'command':['python3','-c','print(1)'],"
    " 'env':{'LANG':'C.UTF-8','EMPTY':''},"
    " 'cwd':'/workspace','stdin':'hello\\u0000world','image':'/srv/rootfs','workspace':'/tmp/ws',"
    " 'mounts':[{'type':'bind','source':'/srv/a','target':'/a'},"
    "           {'type':'ro-bind','source':'/usr','target':'/usr'},"
    "           {'type':'tmpfs','target':'/scratch','size':'16m'},"
    "           {'type':'tmpfs','target':'/t2','size':4096}],"
    " 'network':'none',"
    " 'limits':{'timeout':'10s','cpu_time':5000,'memory':'256m','pids':64,'output':'1m',"
    "           'file_size':1048576,'open_files':'128','tmpfs':'32m','cpus':0.5}}";

static void test_full_spec(void)
{
    rt_spec s;

    if (!ok(from_text(full_spec, &s) == 0, "full spec parses")) {
        skip(12, "no spec");
        return;
    }
    ok(s.argv[0] && s.argv[1] && s.argv[2] && !s.argv[3] && !strcmp(s.argv[2], "print(1)"),
       "command");
    ok(s.env && !strcmp(s.env[0], "LANG=C.UTF-8") && !strcmp(s.env[1], "EMPTY=") && !s.env[2],
       "env in order, as NAME=VALUE");
    is_str(s.cwd, "/workspace", "cwd");
    ok(s.stdin_len == 11 && memcmp(s.stdin_data, "hello\0world", 12) == 0,
       "stdin keeps an embedded NUL");
    is_str(s.image, "/srv/rootfs", "image");
    is_str(s.workspace, "/tmp/ws", "workspace");
    ok(s.n_mounts == 4 && s.mounts[0].kind == RT_MOUNT_BIND && !strcmp(s.mounts[0].src, "/srv/a") &&
           s.mounts[1].kind == RT_MOUNT_RO_BIND && !strcmp(s.mounts[1].dst, "/usr") &&
           s.mounts[2].kind == RT_MOUNT_TMPFS && !s.mounts[2].src,
       "mounts");
    ok(s.mounts[2].size_bytes == 16 << 20 && s.mounts[3].size_bytes == 4096,
       "tmpfs sizes from a string and an integer");
    ok(s.limits.wall_ms == 10000 && s.limits.cpu_ms == 5000, "durations from \"10s\" and ms");
    ok(s.limits.memory_bytes == 256 << 20 && s.limits.output_bytes == 1 << 20 &&
           s.limits.file_bytes == 1048576 && s.limits.tmpfs_bytes == 32 << 20,
       "sizes");
    ok(s.limits.pids == 64 && s.limits.open_files == 128, "counts from an integer and a string");
    ok(s.limits.cpus == 0.5, "cpus");
    rt_spec_free(&s);
}

static void test_defaults(void)
{
    rt_spec s;
    rt_limits d;

    rt_limits_default(&d);
    if (ok(from_text("{'command':['true'],'image':'host'}", &s) == 0, "minimal spec parses")) {
        ok(memcmp(&s.limits, &d, sizeof d) == 0, "limits default");
        ok(!s.env && !s.cwd && !s.image && !s.stdin_data && !s.n_mounts,
           "unset fields stay NULL; image host is NULL");
        rt_spec_free(&s);
    } else {
        skip(2, "no spec");
    }
    if (ok(from_text("{'command':['x'],'limits':{'cpus':2,'timeout':'1.5s','memory':'64KiB'}}",
                     &s) == 0, "integer cpus, fractional seconds")) {
        ok(s.limits.cpus == 2.0 && s.limits.wall_ms == 1500 && s.limits.memory_bytes == 65536,
           "values as expected");
        rt_spec_free(&s);
    } else {
        skip(1, "no spec");
    }
    if (ok(from_text("{'command':['x'],'env':{},'limits':{'cpus':'0.25'},"
                     "'stdin':'aGk=','stdin_encoding':'base64'}", &s) == 0,
           "cpus as a string, base64 stdin")) {
        ok(s.limits.cpus == 0.25 && s.env && !s.env[0], "cpus 0.25, empty env kept as empty");
        ok(s.stdin_len == 2 && !strcmp(s.stdin_data, "hi"), "stdin decoded from base64");
        rt_spec_free(&s);
    } else {
        skip(2, "no spec");
    }
}

static void test_unknown_keys(void)
{
    refused("{'command':['x'],'bogus':1}", "bogus: unknown key (use " SPEC_KEYS ")");
    refused("{'command':['x'],'limits':{'memroy':1}}",
            "limits.memroy: unknown key (use " LIMIT_KEYS ")");
    refused("{'command':['x'],'mounts':[{'type':'tmpfs','target':'/t','src':'/'}]}",
            "mounts[0].src: unknown key (use type, source, target, size)");
    json_t *j = load("{'command':['x']}");
    json_object_setn_new(j, "cwd\0x", 5, json_string("/"));
    is_str(spec_err_json(j), "cwd: unknown key (use " SPEC_KEYS ")", "a key with a NUL");
    json_decref(j);
    refused("[1]", "spec: must be a JSON object");
    is_str(spec_err_json(NULL), "spec: must be a JSON object", "NULL refused");
}

static void test_command_env(void)
{
    refused("{}", "command: must not be empty");
    refused("{'command':['x'],'fixed_mounts':1}", "fixed_mounts: must be true or false");
    refused("{'command':'ls'}", "command: must be an array of strings");
    refused("{'command':null}", "command: must be an array of strings");
    refused("{'command':[]}", "command: must not be empty");
    refused("{'command':['ls',1]}", "command[1]: must be a string");
    refused("{'command':['']}", "command[0]: must not be an empty string");
    refused("{'command':['a\\u0000b']}", "command[0]: must not contain a NUL character");
    refused("{'command':['x'],'env':['A=1']}", "env: must be an object of strings");
    refused("{'command':['x'],'env':{'A':1}}", "env.A: must be a string");
    refused("{'command':['x'],'env':{'':'x'}}",
            "env.: a name must be non-empty, without '=' or NUL");
    refused("{'command':['x'],'env':{'A=B':'x'}}",
            "env.A=B: a name must be non-empty, without '=' or NUL");
    json_t *j = load("{'command':['x'],'env':{}}");
    json_object_setn_new(json_object_get(j, "env"), "A\0B", 3, json_string("x"));
    is_str(spec_err_json(j), "env.A: a name must be non-empty, without '=' or NUL",
           "an env name with a NUL");
    json_decref(j);
    refused("{'command':['x'],'env':{'A':'x\\u0000y'}}", "env.A: must not contain a NUL character");
}

static void test_paths_stdin(void)
{
    refused("{'command':['x'],'cwd':'rel'}", "cwd: must be an absolute path");
    refused("{'command':['x'],'cwd':5}", "cwd: must be a string");
    refused("{'command':['x'],'cwd':'/a\\u0000b'}", "cwd: must not contain a NUL character");
    refused("{'command':['x'],'workspace':['x']}", "workspace: must be a string");
    refused("{'command':['x'],'image':5}", "image: must be a string");
    refused("{'command':['x'],'image':'/x\\u0000'}", "image: must not contain a NUL character");
    refused("{'command':['x'],'network':'host'}", "network: unknown network mode \"host\" (use none)");
    refused("{'command':['x'],'stdin':5}", "stdin: must be a string");
    refused("{'command':['x'],'stdin_encoding':'base64'}", "stdin_encoding: given without stdin");
    refused("{'command':['x'],'stdin':'x','stdin_encoding':'rot13'}",
            "stdin_encoding: unknown encoding \"rot13\" (use utf-8 or base64)");
    refused("{'command':['x'],'stdin':'abc','stdin_encoding':'base64'}", "stdin: not valid base64");
    refused("{'command':['x'],'stdin':'ab=c','stdin_encoding':'base64'}", "stdin: not valid base64");
    refused("{'command':['x'],'stdin':'YQ==YQ==','stdin_encoding':'base64'}",
            "stdin: not valid base64");
    refused("{'command':['x'],'stdin':'Y\\u0000==','stdin_encoding':'base64'}",
            "stdin: not valid base64");
    refused("{'command':['x'],'stdin':'x','stdin_encoding':'utf-8'}", "(accepted)");
}

static void test_mounts(void)
{
    refused("{'command':['x'],'mounts':{}}", "mounts: must be an array");
    refused("{'command':['x'],'mounts':['x']}", "mounts[0]: must be an object");
    refused("{'command':['x'],'mounts':[{'target':'/a'}]}", "mounts[0].type: required");
    refused("{'command':['x'],'mounts':[{'type':'x','target':'/a'}]}",
            "mounts[0].type: unknown mount type \"x\" (use bind, ro-bind or tmpfs)");
    refused("{'command':['x'],'mounts':[{'type':5,'target':'/a'}]}",
            "mounts[0].type: must be a string");
    refused("{'command':['x'],'mounts':[{'type':'tmpfs'}]}", "mounts[0].target: required");
    refused("{'command':['x'],'mounts':[{'type':'tmpfs','target':'/a'},"
            "{'type':'bind','source':'/a','target':'b'}]}",
            "mounts[1].target: must be an absolute path without ..");
    refused("{'command':['x'],'mounts':[{'type':'bind','target':'/b'}]}",
            "mounts[0].source: required for a bind mount");
    refused("{'command':['x'],'mounts':[{'type':'bind','source':7,'target':'/b'}]}",
            "mounts[0].source: must be a string");
    refused("{'command':['x'],'mounts':[{'type':'tmpfs','source':'/x','target':'/b'}]}",
            "mounts[0].source: not used by tmpfs");
    refused("{'command':['x'],'mounts':[{'type':'bind','source':'/x','target':'/b','size':'1m'}]}",
            "mounts[0].size: only for tmpfs");
    refused("{'command':['x'],'mounts':[{'type':'tmpfs','target':'/b','size':0}]}",
            "mounts[0].size: must be greater than zero");
    refused("{'command':['x'],'mounts':[{'type':'tmpfs','target':'/b','size':'2000t'}]}",
            "mounts[0].size: 2000t is too large (maximum 1024t)");
}

static void test_limit_values(void)
{
    const char *size_type = "must be an integer number of bytes or a string such as \"256m\"";
    char want[160];

    refused("{'command':['x'],'limits':[]}", "limits: must be an object");
    refused("{'command':['x'],'limits':{'memory':'12x'}}",
            "limits.memory: \"12x\" is not a size " SIZE_FORM);
    refused("{'command':['x'],'limits':{'memory':'1.5k'}}",
            "limits.memory: \"1.5k\" is not a size " SIZE_FORM);
    refused("{'command':['x'],'limits':{'memory':0}}", "limits.memory: must be greater than zero");
    refused("{'command':['x'],'limits':{'memory':-5}}", "limits.memory: must be greater than zero");
    refused("{'command':['x'],'limits':{'memory':4611686018427387904}}",
            "limits.memory: 4611686018427387904 is too large (maximum 1024t)");
    refused("{'command':['x'],'limits':{'memory':9223372036854775807}}",
            "limits.memory: 9223372036854775807 is too large (maximum 1024t)");
    const char *wrong[] = {"1.5", "1e300", "true", "null", "{}", "[1]"};
    for (size_t i = 0; i < sizeof wrong / sizeof wrong[0]; i++) {
        char text[128];
        snprintf(text, sizeof text, "{'command':['x'],'limits':{'memory':%s}}", wrong[i]);
        snprintf(want, sizeof want, "limits.memory: %s", size_type);
        refused(text, want);
    }
    refused("{'command':['x'],'limits':{'timeout':'0.0001s'}}",
            "limits.timeout: \"0.0001s\" is not a whole number of milliseconds");
    refused("{'command':['x'],'limits':{'timeout':604800001}}",
            "limits.timeout: 604800001ms is too large (maximum 168h)");
    refused("{'command':['x'],'limits':{'timeout':1.5}}",
            "limits.timeout: must be an integer number of milliseconds or a string such as \"10s\"");
    refused("{'command':['x'],'limits':{'pids':'64k'}}",
            "limits.pids: \"64k\" is not a whole number (use a whole number such as 64)");
    refused("{'command':['x'],'limits':{'pids':4194305}}",
            "limits.pids: 4194305 is too large (maximum 4194304)");
    refused("{'command':['x'],'limits':{'pids':1.0}}", "limits.pids: must be a positive integer");
    refused("{'command':['x'],'limits':{'open_files':0}}",
            "limits.open_files: must be greater than zero");
    refused("{'command':['x'],'limits':{'output':'a\\u0000'}}",
            "limits.output: must not contain a NUL character");
}

static void test_cpus(void)
{
    refused("{'command':['x'],'limits':{'cpus':0}}", "limits.cpus: must be greater than zero");
    refused("{'command':['x'],'limits':{'cpus':-0.5}}", "limits.cpus: must be greater than zero");
    refused("{'command':['x'],'limits':{'cpus':2000}}",
            "limits.cpus: 2000 is too large (maximum 1024)");
    refused("{'command':['x'],'limits':{'cpus':'abc'}}",
            "limits.cpus: \"abc\" is not a number (use a decimal number such as 0.5)");
    refused("{'command':['x'],'limits':{'cpus':true}}", "limits.cpus: must be a number such as 0.5");
}

/* Big integers: jansson refuses them unless asked to read them as reals,
 * and a real is not a size. */
static void test_huge_numbers(void)
{
    const char *text = "{\"command\":[\"x\"],\"limits\":{\"memory\":99999999999999999999}}";
    json_error_t e;
    json_t *j = json_loads(text, 0, &e);

    ok(j == NULL, "jansson refuses an integer above 2^63");
    json_decref(j);
    j = json_loads(text, JSON_DECODE_INT_AS_REAL, &e);
    is_str(spec_err_json(j), "limits.memory: must be an integer number of bytes or a string "
                             "such as \"256m\"", "the same integer read as a real is refused");
    json_decref(j);
    refused("{'command':['x'],'limits':{'memory':'18446744073709551616'}}",
            "limits.memory: 18446744073709551616 is too large (maximum 1024t)");
}

/* n nested arrays around a string. */
static char *nested(size_t n, const char *prefix, const char *suffix)
{
    size_t len = strlen(prefix) + 2 * n + 3 + strlen(suffix) + 1;
    char *s = malloc(len), *p = s;

    if (!s)
        abort();
    p += snprintf(p, len, "%s", prefix);
    memset(p, '[', n);
    p += n;
    p += snprintf(p, 4, "\"a\"");
    memset(p, ']', n);
    snprintf(p + n, strlen(suffix) + 1, "%s", suffix);
    return s;
}

static void test_deep(void)
{
    char *t = nested(1000, "{\"command\":[", "]}");
    json_t *j = json_loads(t, 0, NULL);

    is_str(spec_err_json(j), "command[0]: must be a string", "1000-deep array in command");
    json_decref(j);
    free(t);
    t = nested(500, "{\"command\":[\"x\"],\"limits\":{\"memory\":", "}}");
    j = json_loads(t, 0, NULL);
    is_str(spec_err_json(j),
           "limits.memory: must be an integer number of bytes or a string such as \"256m\"",
           "500-deep array as a limit");
    json_decref(j);
    free(t);
    t = nested(200, "{\"command\":[\"x\"],\"mounts\":[{\"type\":\"tmpfs\",\"target\":", "}]}");
    j = json_loads(t, 0, NULL);
    is_str(spec_err_json(j), "mounts[0].target: must be a string", "deep array as a target");
    json_decref(j);
    free(t);
}

static void test_long_command(void)
{
    json_t *cmd = json_array(), *o = json_object();
    rt_spec s;
    rt_error err = {0};
    char arg[32];

    for (int i = 0; i < 10000; i++) {
        snprintf(arg, sizeof arg, "arg%d", i);
        json_array_append_new(cmd, json_string(arg));
    }
    json_object_set_new(o, "command", cmd);
    if (ok(rt_spec_from_json(o, &s, &err) == 0, "10000 arguments")) {
        ok(!strcmp(s.argv[9999], "arg9999") && !s.argv[10000], "last argument and terminator");
        rt_spec_free(&s);
    } else {
        skip(1, err.msg);
    }
    json_decref(o);
}

static bool same_strv(char **a, char **b)
{
    size_t i;

    for (i = 0; a && b && a[i] && b[i]; i++)
        if (strcmp(a[i], b[i]))
            return false;
    return (!a && !b) || (a && b && !a[i] && !b[i]);
}

static bool same_files(const rt_spec *a, const rt_spec *b)
{
    if (a->workspace_tmpfs != b->workspace_tmpfs || a->n_files != b->n_files)
        return false;
    for (size_t i = 0; i < a->n_files; i++) {
        const rt_file *x = &a->files[i], *y = &b->files[i];
        if (strcmp(x->path, y->path) || x->len != y->len || x->executable != y->executable ||
            memcmp(x->data, y->data, x->len))
            return false;
    }
    return true;
}

static bool same_spec(const rt_spec *a, const rt_spec *b)
{
    if (!same_strv(a->argv, b->argv) || !same_strv(a->env, b->env) || !same_files(a, b) ||
        a->stdin_len != b->stdin_len ||
        (a->stdin_len && memcmp(a->stdin_data, b->stdin_data, a->stdin_len)) ||
        a->n_mounts != b->n_mounts || a->fixed_mounts != b->fixed_mounts ||
        memcmp(&a->limits, &b->limits, sizeof a->limits))
        return false;
    for (size_t i = 0; i < a->n_mounts; i++) {
        const rt_mount *x = &a->mounts[i], *y = &b->mounts[i];
        if (x->kind != y->kind || x->size_bytes != y->size_bytes || strcmp(x->dst, y->dst) ||
            (x->src ? !y->src || strcmp(x->src, y->src) : y->src != NULL))
            return false;
    }
    return true;
}

/* spec -> JSON -> spec -> JSON: both JSON texts equal and both specs equal. */
static void round_trip(const rt_spec *a, const char *name)
{
    rt_spec b;
    rt_error err = {0};
    json_t *j1 = rt_spec_to_json(a), *j2 = NULL;
    int rc = j1 ? rt_spec_from_json(j1, &b, &err) : -1;

    if (rc == 0)
        j2 = rt_spec_to_json(&b);
    ok(rc == 0 && j2 && json_equal(j1, j2), "%s: JSON round trip", name);
    if (rc < 0)
        diag("%s", j1 ? err.msg : "rt_spec_to_json failed");
    ok(rc == 0 && same_spec(a, &b), "%s: spec round trip", name);
    if (rc == 0)
        rt_spec_free(&b);
    json_decref(j1);
    json_decref(j2);
}

static void test_spec_round_trip(void)
{
    rt_spec s;
    char *argv[] = {"cat", NULL};
    char *bad_argv[] = {"\xff", NULL};

    if (from_text(full_spec, &s) == 0) {
        round_trip(&s, "full spec");
        rt_spec_free(&s);
    } else {
        skip(2, "full spec does not parse");
    }
    rt_spec_init(&s);
    s.argv = argv;
    s.stdin_data = "\xff\x00\x01" "abc";
    s.stdin_len = 6;
    round_trip(&s, "binary stdin");
    s.fixed_mounts = true;
    round_trip(&s, "fixed mounts");
    s.fixed_mounts = false;
    json_t *j = rt_spec_to_json(&s);
    is_str(json_string_value(json_object_get(j, "stdin")), "/wABYWJj", "binary stdin as base64");
    is_str(json_string_value(json_object_get(j, "stdin_encoding")), "base64",
           "stdin_encoding says base64");
    json_decref(j);
    s.stdin_data = NULL;
    s.stdin_len = 0;
    char *text = json_dumps(j = rt_spec_to_json(&s), JSON_COMPACT);
    is_str(text,
           "{\"command\":[\"cat\"],\"mounts\":[],\"network\":\"none\",\"limits\":{\"timeout\":30000,"
           "\"cpu_time\":10000,\"memory\":268435456,\"pids\":64,\"output\":1048576,\"file_size\":"
           "67108864,\"open_files\":256,\"tmpfs\":67108864,\"cpus\":1.0}}",
           "default spec as JSON: limits as integers");
    free(text);
    json_decref(j);
    s.argv = bad_argv;
    ok(rt_spec_to_json(&s) == NULL, "an argument that is not UTF-8 has no JSON form");
}

static void test_files(void)
{
    rt_spec s;

    if (!ok(from_text("{'command':['x'],'workspace':'tmpfs','files':{"
                      "'main.py':'print(1)\\n','a/b.txt':'nul\\u0000in text',"
                      "'data.bin':{'content':'AAEC/w==','encoding':'base64'},"
                      "'run.sh':{'content':'#!/bin/sh','executable':true},"
                      "'plain':{'content':'p','encoding':'utf-8','executable':false},"
                      "'empty':''}}",
                      &s) == 0,
            "files in both forms parse")) {
        skip(6, "no spec");
        return;
    }
    ok(s.workspace_tmpfs && !s.workspace, "\"workspace\": \"tmpfs\" sets workspace_tmpfs");
    ok(s.n_files == 6 && !strcmp(s.files[0].path, "main.py") && s.files[0].len == 9 &&
           !strcmp(s.files[0].data, "print(1)\n") && !s.files[0].executable,
       "a string is the file's text");
    ok(s.files[1].len == 11 && !memcmp(s.files[1].data, "nul\0in text", 12),
       "text may hold a NUL");
    ok(!strcmp(s.files[2].path, "data.bin") && s.files[2].len == 4 &&
           !memcmp(s.files[2].data, "\0\1\2\xff", 4),
       "base64 content decoded");
    ok(s.files[3].executable && !strcmp(s.files[3].data, "#!/bin/sh") &&
           !s.files[4].executable && !strcmp(s.files[4].data, "p"),
       "executable true and false");
    ok(!strcmp(s.files[5].path, "empty") && s.files[5].len == 0, "an empty file");
    rt_spec_free(&s);
}

static void test_file_refusals(void)
{
    char many[RT_MAX_FILES * 12 + 64];
    size_t n = (size_t)snprintf(many, sizeof many, "{'command':['x'],'files':{");

    refused("{'command':['x'],'workspace':'tmp'}",
            "workspace: must be \"tmpfs\" or an absolute host directory");
    refused("{'command':['x'],'workspace':'/srv/ws','files':{'a':'x'}}",
            "files: files need a tmpfs workspace, not the host directory \"/srv/ws\"");
    refused("{'command':['x'],'files':['a']}", "files: must be an object of path: content");
    refused("{'command':['x'],'files':{'a':1}}",
            "files[\"a\"]: must be a string or an object with \"content\"");
    refused("{'command':['x'],'files':{'a/../b':'x'}}",
            "files[\"a/../b\"]: the path has a \"..\" component");
    refused("{'command':['x'],'files':{'/etc/x':'x'}}",
            "files[\"/etc/x\"]: the path must be relative (to /workspace)");
    refused("{'command':['x'],'files':{'a':{}}}", "files[\"a\"].content: required");
    refused("{'command':['x'],'files':{'a':{'content':5}}}",
            "files[\"a\"].content: must be a string");
    refused("{'command':['x'],'files':{'a':{'content':'x','mode':'0755'}}}",
            "files[\"a\"].mode: unknown key (use content, encoding, executable)");
    refused("{'command':['x'],'files':{'a':{'content':'x','encoding':'hex'}}}",
            "files[\"a\"].encoding: unknown encoding \"hex\" (use utf-8 or base64)");
    refused("{'command':['x'],'files':{'a':{'content':'x','encoding':5}}}",
            "files[\"a\"].encoding: must be a string");
    refused("{'command':['x'],'files':{'a':{'content':'abc','encoding':'base64'}}}",
            "files[\"a\"].content: not valid base64");
    refused("{'command':['x'],'files':{'a':{'content':'x','executable':1}}}",
            "files[\"a\"].executable: must be true or false");
    json_t *j = load("{'command':['x'],'files':{}}");
    json_object_setn_new(json_object_get(j, "files"), "a\0b", 3, json_string("x"));
    is_str(spec_err_json(j), "files[\"a\"]: the path must not contain a NUL character",
           "a path with a NUL");
    json_decref(j);
    for (int i = 0; i <= RT_MAX_FILES; i++)
        n += (size_t)snprintf(many + n, sizeof many - n, "%s'f%d':''", i ? "," : "", i);
    snprintf(many + n, sizeof many - n, "}}");
    is_str(spec_err(many), "files: 1001 files, at most 1000", "1001 files");
}

static void test_files_to_json(void)
{
    rt_spec s;
    rt_error err = {0};
    char *argv[] = {"sh", NULL};

    rt_spec_init(&s);
    s.argv = argv;
    s.workspace_tmpfs = true;
    round_trip(&s, "tmpfs workspace");
    json_t *j = rt_spec_to_json(&s);
    is_str(json_string_value(json_object_get(j, "workspace")), "tmpfs", "workspace as \"tmpfs\"");
    json_decref(j);
    s.workspace_tmpfs = false;
    ok(rt_spec_add_file(&s, "main.py", "print(1)", 8, false, &err) == 0 &&
           rt_spec_add_file(&s, "bin/x", "\0\1\2\xff", 4, true, &err) == 0 &&
           rt_spec_add_file(&s, "run.sh", "#!/bin/sh\n", 10, true, &err) == 0 &&
           rt_spec_add_file(&s, "latin1", "caf\xe9", 4, false, &err) == 0 &&
           rt_spec_add_file(&s, "nul", "a\0b", 3, false, &err) == 0 &&
           rt_spec_add_file(&s, "empty", "", 0, false, &err) == 0,
       "six files added");
    round_trip(&s, "files");
    char *text = json_dumps(j = rt_spec_to_json(&s), JSON_COMPACT);
    const char *want = "\"files\":{\"main.py\":\"print(1)\","
                       "\"bin/x\":{\"content\":\"AAEC/w==\",\"encoding\":\"base64\","
                       "\"executable\":true},"
                       "\"run.sh\":{\"content\":\"#!/bin/sh\\n\",\"executable\":true},"
                       "\"latin1\":{\"content\":\"Y2Fm6Q==\",\"encoding\":\"base64\"},"
                       "\"nul\":{\"content\":\"YQBi\",\"encoding\":\"base64\"},"
                       "\"empty\":\"\"}";
    ok(text && strstr(text, want), "text as a string; binary, non-UTF-8 and NUL-holding content "
       "as base64; executable in the object form");
    if (text && !strstr(text, want))
        diag("%s", text);
    ok(text && !strstr(text, "workspace"), "files alone add no workspace key");
    free(text);
    json_decref(j);
    s.argv = NULL;
    rt_spec_free(&s);
}

static void test_result_shape(void)
{
    rt_result r;

    rt_result_init(&r, 100);
    r.status = RT_STATUS_OK;
    r.exit_code = 0;
    if (rt_buf_append(&r.out, "hi\n", 3) != 0)
        diag("append failed");
    r.usage = (rt_usage){3.5, 1.25, 0.5, 1843200, 1};
    r.enforced = (rt_enforced){true, true, false, true};
    r.setup_ms = 2.5;
    json_t *j = rt_result_to_json(&r);
    char *text = json_dumps(j, JSON_COMPACT);
    is_str(text,
           "{\"status\":\"ok\",\"exit_code\":0,\"signal\":null,\"signal_name\":null,"
           "\"stdout\":\"hi\\n\",\"stderr\":\"\",\"stdout_truncated\":false,"
           "\"stderr_truncated\":false,\"usage\":{\"wall_ms\":3.5,\"cpu_user_ms\":1.25,"
           "\"cpu_sys_ms\":0.5,\"memory_peak_bytes\":1843200,\"pids_peak\":1},"
           "\"limits_enforced\":{\"memory\":true,\"pids\":true,\"cpus\":false,\"cpu_time\":true},"
           "\"setup_ms\":2.5,\"error\":null}",
           "result JSON has exactly the documented shape");
    free(text);
    json_decref(j);
    rt_result_free(&r);
}

static json_t *result_with(int status, int exit_code, int sig)
{
    rt_result r;

    rt_result_init(&r, 10);
    r.status = (rt_status)status;
    r.exit_code = exit_code;
    r.signal = sig;
    json_t *j = rt_result_to_json(&r);
    rt_result_free(&r);
    return j;
}

static void test_result_signals(void)
{
    json_t *j = result_with(RT_STATUS_SIGNALED, -1, SIGKILL);
    char rt2[32];

    ok(json_is_null(json_object_get(j, "exit_code")), "exit_code -1 is null");
    is_int(json_integer_value(json_object_get(j, "signal")), 9, "signal number");
    is_str(json_string_value(json_object_get(j, "signal_name")), "SIGKILL", "signal name");
    ok(json_is_null(json_object_get(json_object_get(j, "usage"), "pids_peak")),
       "pids_peak 0 is null");
    json_decref(j);
    j = result_with(RT_STATUS_SECCOMP, -1, SIGSYS);
    is_str(json_string_value(json_object_get(j, "signal_name")), "SIGSYS", "SIGSYS");
    json_decref(j);
    j = result_with(RT_STATUS_SIGNALED, -1, SIGRTMIN + 2);
    snprintf(rt2, sizeof rt2, "SIGRTMIN+2");
    is_str(json_string_value(json_object_get(j, "signal_name")), rt2, "real-time signal");
    json_decref(j);
    j = result_with(RT_STATUS_SIGNALED, -1, 200);
    is_str(json_string_value(json_object_get(j, "signal_name")), "SIG200", "unknown signal");
    json_decref(j);
    j = result_with(RT_STATUS_EXIT_NONZERO, 3, 0);
    is_int(json_integer_value(json_object_get(j, "exit_code")), 3, "exit code 3");
    is_str(json_string_value(json_object_get(j, "status")), "exit_nonzero", "status name");
    json_decref(j);
    j = result_with(42, 0, 0);
    is_str(json_string_value(json_object_get(j, "status")), "unknown", "bad status shows");
    json_decref(j);
}

/* stdout of the given bytes, as base64 when not UTF-8. */
static void output_is(const char *bytes, size_t n, const char *want, const char *enc)
{
    rt_result r;

    rt_result_init(&r, 100);
    if (rt_buf_append(&r.out, bytes, n) != 0)
        diag("append failed");
    json_t *j = rt_result_to_json(&r);
    const json_t *e = json_object_get(j, "stdout_encoding");
    json_t *s = json_object_get(j, "stdout");
    ok(json_is_string(s) && json_string_length(s) == strlen(want) &&
           !strcmp(json_string_value(s), want) && (enc ? e && !strcmp(json_string_value(e), enc)
                                                      : e == NULL),
       "stdout \"%s\"%s%s", want, enc ? " as " : "", enc ? enc : "");
    json_decref(j);
    rt_result_free(&r);
}

static void test_result_output(void)
{
    rt_result r;

    output_is("\xff", 1, "/w==", "base64");
    output_is("\xff\xfe", 2, "//4=", "base64");
    output_is("\xff\xfe\xfd", 3, "//79", "base64");
    output_is("\xff" "foobar", 7, "/2Zvb2Jhcg==", "base64");
    output_is("caf\xc3\xa9", 5, "caf\xc3\xa9", NULL);
    output_is("\xc3", 1, "ww==", "base64");
    output_is("", 0, "", NULL);
    rt_result_init(&r, 100);
    r.out.truncated = true;
    rt_result_set_error(&r, "bad \xff path");
    r.syscall = strdup("ptrace");
    json_t *j = rt_result_to_json(&r);
    is_str(json_string_value(json_object_get(j, "error")), "bad ? path",
           "error bytes that are not UTF-8 become ?");
    is_str(json_string_value(json_object_get(j, "syscall")), "ptrace", "syscall when set");
    ok(json_is_true(json_object_get(j, "stdout_truncated")) &&
           json_is_false(json_object_get(j, "stderr_truncated")),
       "truncated flags");
    ok(!json_object_get(j, "stderr_encoding"), "no encoding key for UTF-8 output");
    json_decref(j);
    rt_result_free(&r);
}

static void test_result_round_trip(void)
{
    rt_result a, b;
    rt_error err = {0};

    rt_result_init(&a, 100);
    a.status = RT_STATUS_MEMORY_LIMIT;
    a.signal = SIGKILL;
    if (rt_buf_append(&a.out, "a\0\xff\xfe", 4) != 0 || rt_buf_append(&a.err, "oom\n", 4) != 0)
        diag("append failed");
    a.err.truncated = true;
    a.usage = (rt_usage){10.5, 2, 3, 1 << 30, 7};
    a.enforced = (rt_enforced){true, false, true, false};
    a.setup_ms = 1.75;
    rt_result_set_error(&a, "memory limit hit");
    a.status = RT_STATUS_MEMORY_LIMIT;
    a.syscall = strdup("mmap");
    json_t *j1 = rt_result_to_json(&a), *j2 = NULL;
    int rc = rt_result_from_json(j1, &b, &err);
    if (rc == 0)
        j2 = rt_result_to_json(&b);
    ok(rc == 0 && json_equal(j1, j2), "result JSON round trip");
    if (rc < 0) {
        diag("%s", err.msg);
        skip(4, "no result");
    } else {
        ok(b.status == a.status && b.exit_code == -1 && b.signal == SIGKILL, "status and signal");
        ok(b.out.len == 4 && !memcmp(b.out.data, "a\0\xff\xfe", 4) && !b.out.truncated &&
               b.err.truncated && !strcmp(b.err.data, "oom\n"),
           "binary stdout and flags");
        ok(!memcmp(&a.usage, &b.usage, sizeof a.usage) &&
               !memcmp(&a.enforced, &b.enforced, sizeof a.enforced) && b.setup_ms == 1.75,
           "usage, enforcement, setup time");
        ok(!strcmp(b.error, "memory limit hit") && !strcmp(b.syscall, "mmap"), "error, syscall");
        rt_result_free(&b);
    }
    json_decref(j1);
    json_decref(j2);
    rt_result_free(&a);
}

/* The message, "(accepted)", or "(result not emptied)". */
static const char *result_err(const char *text)
{
    static rt_error err;
    rt_result r;
    json_t *j = load(text);
    int rc = rt_result_from_json(j, &r, &err);

    json_decref(j);
    if (rc == 0) {
        rt_result_free(&r);
        return "(accepted)";
    }
    return r.out.data || r.err.data || r.error ? "(result not emptied)" : err.msg;
}

static void test_result_from_json(void)
{
    rt_result r;
    rt_error err = {0};
    json_t *j = load("{'status':'ok','exit_code':0,'signal':null,'stdout':'hi','stderr':'',"
                     "'stdout_truncated':false,'stderr_truncated':false,"
                     "'usage':{'wall_ms':3.1,'cpu_user_ms':0.9,'cpu_sys_ms':1.2,"
                     "'memory_peak_bytes':1843200,'pids_peak':1},"
                     "'cost':{'usd':0.0000012,'items':[]},'error':null}");

    if (ok(rt_result_from_json(j, &r, &err) == 0, "the DESIGN example reads, cost ignored")) {
        ok(r.status == RT_STATUS_OK && r.exit_code == 0 && r.signal == 0 && r.usage.wall_ms == 3.1 &&
               r.usage.memory_peak_bytes == 1843200 && !strcmp(r.out.data, "hi") && !r.error,
           "values read");
        rt_result_free(&r);
    } else {
        skip(1, err.msg);
    }
    json_decref(j);
}

static void test_result_refusals(void)
{
    is_str(result_err("[]"), "result: must be a JSON object", "array refused");
    is_str(result_err("{}"), "status: required", "status required");
    is_str(result_err("{'status':'fine'}"), "status: unknown status \"fine\"", "unknown status");
    is_str(result_err("{'status':1}"), "status: must be a string", "status type");
    is_str(result_err("{'status':'ok','exit_code':'0'}"), "exit_code: must be an integer or null",
           "exit_code as a string");
    is_str(result_err("{'status':'ok','exit_code':4294967296}"),
           "exit_code: must be an integer or null", "exit_code out of int range");
    is_str(result_err("{'status':'ok','signal':1.5}"), "signal: must be an integer or null",
           "signal as a real");
    is_str(result_err("{'status':'ok','stdout':5}"), "stdout: must be a string", "stdout type");
    is_str(result_err("{'status':'ok','stdout':'ab','stdout_encoding':'hex'}"),
           "stdout_encoding: unknown encoding \"hex\" (use utf-8 or base64)", "encoding");
    is_str(result_err("{'status':'ok','stdout':'abc','stdout_encoding':'base64'}"),
           "stdout: not valid base64", "bad base64");
    is_str(result_err("{'status':'ok','stdout':'YQ==','stderr':'x','stderr_truncated':'no'}"),
           "stderr_truncated: must be true or false", "flag type; earlier stdout freed");
    is_str(result_err("{'status':'ok','usage':[]}"), "usage: must be an object", "usage type");
    is_str(result_err("{'status':'ok','usage':{'wall_ms':'x'}}"), "usage.wall_ms: must be a number",
           "usage field type");
    is_str(result_err("{'status':'ok','usage':{'memory_peak_bytes':-1}}"),
           "usage.memory_peak_bytes: must be a non-negative integer", "negative memory");
    is_str(result_err("{'status':'ok','limits_enforced':{'memory':1}}"),
           "limits_enforced.memory: must be true or false", "enforced type");
    is_str(result_err("{'status':'ok','stdout':'x','error':5}"), "error: must be a string",
           "error type");
    is_str(result_err("{'status':'error','error':'boom','syscall':null,'extra':[1]}"), "(accepted)",
           "unknown keys and null syscall accepted");
}

/* The same object for sbx info and GET /v1/info: each controller named only
 * when found, the note carried. */
static void test_cgroup_info(void)
{
    rt_cgroup_info ci = {.version = RT_CGROUP_V1, .memory = true, .cpuacct = true,
                         .memory_swap = false, .writable = true, .pool = 7};
    snprintf(ci.reason, sizeof ci.reason, "pids: not mounted");
    json_t *j = rt_cgroup_info_to_json(&ci);
    char *s = j ? json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    is_str(s, "{\"controllers\":[\"memory\",\"cpuacct\"],\"note\":\"pids: not mounted\","
              "\"pool\":7,\"swap_limit\":false,\"version\":\"v1\",\"writable\":true}",
           "cgroup info: found controllers only, pool and note");
    free(s);
    json_decref(j);
    /* An operator's setting that is not UTF-8 still gives an object (jansson
     * refuses such a string, and GET /v1/info answered nothing). */
    snprintf(ci.reason, sizeof ci.reason, "SBX_CGROUP_POOL \"\xe9\": not a number");
    j = rt_cgroup_info_to_json(&ci);
    is_str(json_string_value(json_object_get(j, "note")), "SBX_CGROUP_POOL \"?\": not a number",
           "cgroup info: a note that is not UTF-8");
    json_decref(j);
    ci = (rt_cgroup_info){.version = RT_CGROUP_NONE};
    j = rt_cgroup_info_to_json(&ci);
    s = j ? json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    is_str(s, "{\"controllers\":[],\"note\":\"\",\"pool\":0,\"swap_limit\":false,"
              "\"version\":\"none\",\"writable\":false}", "cgroup info: none");
    free(s);
    json_decref(j);
}

int main(void)
{
    tap_plan(192);
    test_full_spec();
    test_defaults();
    test_unknown_keys();
    test_command_env();
    test_paths_stdin();
    test_mounts();
    test_limit_values();
    test_cpus();
    test_huge_numbers();
    test_deep();
    test_long_command();
    test_spec_round_trip();
    test_files();
    test_file_refusals();
    test_files_to_json();
    test_result_shape();
    test_result_signals();
    test_result_output();
    test_result_round_trip();
    test_result_from_json();
    test_result_refusals();
    test_cgroup_info();
    return tap_done();
}
