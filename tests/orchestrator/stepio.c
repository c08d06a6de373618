/* Tests orchestrator/stepio.c: what a step hands back ($SBX_OUTPUT, $SBX_COSTS,
 * stdout selectors, files in the workspace) and what its usage costs. The file
 * tests build trees under mkdtemp directories in /tmp with the hostile things
 * sandboxed code could leave: symlinks out, FIFOs, deep trees, mounts. */
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <math.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "stepio.h"
#include "tap.h"

/* ---- helpers --------------------------------------------------------------- */

static char *tmpdir(void)
{
    char *d = strdup("/tmp/stepio-test-XXXXXX");

    if (!d || !mkdtemp(d)) {
        diag("mkdtemp: %s", strerror(errno));
        exit(1);
    }
    return d;
}

/* rm -rf by a tool other than the one under test. */
static void rmrf(char *dir)
{
    char cmd[512];

    snprintf(cmd, sizeof cmd, "rm -rf -- '%s'", dir);
    if (system(cmd) != 0)
        diag("could not remove %s", dir);
    free(dir);
}

static void put(const char *dir, const char *rel, const char *data, size_t len)
{
    char p[1024];

    snprintf(p, sizeof p, "%s/%s", dir, rel);
    FILE *f = fopen(p, "w");
    if (!f || fwrite(data, 1, len, f) != len || fclose(f) != 0) {
        diag("writing %s: %s", p, strerror(errno));
        exit(1);
    }
}

static void must(int rc, const char *what)
{
    if (rc < 0) {
        diag("%s: %s", what, strerror(errno));
        exit(1);
    }
}

static void dir_at(const char *dir, const char *rel)
{
    char p[1024];

    snprintf(p, sizeof p, "%s/%s", dir, rel);
    must(mkdir(p, 0755), p);
}

static void link_at(const char *dir, const char *rel, const char *target)
{
    char p[1024];

    snprintf(p, sizeof p, "%s/%s", dir, rel);
    must(symlink(target, p), p);
}

static void fifo_at(const char *dir, const char *rel)
{
    char p[1024];

    snprintf(p, sizeof p, "%s/%s", dir, rel);
    must(mkfifo(p, 0644), p);
}

static bool exists(const char *dir, const char *rel)
{
    char p[1024];
    struct stat st;

    snprintf(p, sizeof p, "%s/%s", dir, rel);
    return lstat(p, &st) == 0;
}

/* A chain of n directories d/d/d/... with a file at the bottom. */
static void deep(const char *dir, const char *rel, int n)
{
    char p[1024];

    snprintf(p, sizeof p, "%s/%s", dir, rel);
    int fd = open(p, O_RDONLY | O_DIRECTORY);
    must(fd, p);
    for (int i = 0; i < n; i++) {
        must(mkdirat(fd, "d", 0755), "mkdirat");
        int c = openat(fd, "d", O_RDONLY | O_DIRECTORY);
        must(c, "openat");
        close(fd);
        fd = c;
    }
    int f = openat(fd, "bottom", O_WRONLY | O_CREAT, 0644);
    must(f, "bottom");
    close(f);
    close(fd);
}

/* Mounts a tmpfs at dir/rel holding a file "keep"; false when not allowed. */
static bool mount_at(const char *dir, const char *rel)
{
    char p[1024];

    snprintf(p, sizeof p, "%s/%s", dir, rel);
    if (mount("stepio-test", p, "tmpfs", 0, "size=1m") < 0)
        return false;
    put(p, "keep", "k", 1);
    return true;
}

static void unmount_at(const char *dir, const char *rel)
{
    char p[1024];

    snprintf(p, sizeof p, "%s/%s", dir, rel);
    if (umount2(p, MNT_DETACH) < 0)
        diag("umount %s: %s", p, strerror(errno));
}

/* ---- $SBX_OUTPUT ----------------------------------------------------------- */

/* The object as compact JSON, or "error: message". */
static const char *outn(const char *data, size_t len)
{
    static char buf[2048];
    json_t *o = NULL;
    rt_error err = {0};

    if (orch_output_file_parse(data, len, &o, &err) < 0) {
        snprintf(buf, sizeof buf, "error: %s%s", err.msg, o ? " (and an object)" : "");
        return buf;
    }
    char *s = json_dumps(o, JSON_COMPACT | JSON_ENSURE_ASCII);
    snprintf(buf, sizeof buf, "%s", s ? s : "(dump failed)");
    free(s);
    json_decref(o);
    return buf;
}

static const char *out(const char *data)
{
    return outn(data, strlen(data));
}

#define OUT(data, want) is_str(out(data), want, want)

static void test_output(void)
{
    static const char bad_key[] =
        " (letters, digits, _ and -, starting with a letter or _, at most 64 bytes)";
    char key[200], line[256], want[512];

    OUT("", "{}");
    is_str(outn(NULL, 0), "{}", "no data at all");
    OUT("a=1\nb=two words\n", "{\"a\":\"1\",\"b\":\"two words\"}");
    OUT("a=\n", "{\"a\":\"\"}");
    OUT("a==b\n", "{\"a\":\"=b\"}");
    OUT("a=1\nb=2", "{\"a\":\"1\",\"b\":\"2\"}");
    OUT("\n\na=1\n\n\nb=2\n\n", "{\"a\":\"1\",\"b\":\"2\"}");
    OUT("a=1\nb=x\na=3\n", "{\"a\":\"3\",\"b\":\"x\"}");
    OUT("a=1\r\n", "{\"a\":\"1\\r\"}");
    OUT("_x-y=ok\n", "{\"_x-y\":\"ok\"}");
    OUT("body<<EOF\nline 1\n\nline 3\nEOF\nx=y\n",
        "{\"body\":\"line 1\\n\\nline 3\",\"x\":\"y\"}");
    OUT("e<<EOF\nEOF\n", "{\"e\":\"\"}");
    OUT("one<<END\nonly\nEND", "{\"one\":\"only\"}");
    OUT("m<<EOF\na=b\nEOFX\nEOF\n", "{\"m\":\"a=b\\nEOFX\"}");
    OUT("m<<EOF\nfirst\nEOF\nm=second\n", "{\"m\":\"second\"}");
    OUT("a=b<<c\n", "{\"a\":\"b<<c\"}");
    OUT("a<<E=F\nx\nE=F\n", "{\"a\":\"x\"}");
    OUT("u=caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\n",
        "{\"u\":\"caf\\u00E9 \\u20AC \\uD83D\\uDE00\"}");

    OUT("a=1\n\nbody<<EOF\nx\nEOF \n",
        "error: line 3: no line \"EOF\" ends the value of \"body\"");
    OUT("a=1\nbody<<EOF\nx\n", "error: line 2: no line \"EOF\" ends the value of \"body\"");
    OUT("body<<EOF", "error: line 1: no line \"EOF\" ends the value of \"body\"");
    OUT("k<<\nx\n\n", "error: line 1: no delimiter after \"<<\"");
    OUT("a=1\njunk\n", "error: line 2: neither key=value nor key<<DELIMITER");
    OUT(" \n", "error: line 1: neither key=value nor key<<DELIMITER");
    OUT("=x\n", "error: line 1: no key before \"=\"");
    OUT("<<EOF\nEOF\n", "error: line 1: no key before \"<<\"");
    snprintf(want, sizeof want, "error: line 2: bad key \"1a\"%s", bad_key);
    OUT("ok=1\n1a=x\n", want);
    snprintf(want, sizeof want, "error: line 1: bad key \"a b\"%s", bad_key);
    OUT("a b=x\n", want);
    snprintf(want, sizeof want, "error: line 1: bad key \"-a\"%s", bad_key);
    OUT("-a<<E\nE\n", want);
    snprintf(want, sizeof want, "error: line 1: bad key \"a\\\"?\"%s", bad_key);
    OUT("a\"\t=x\n", want);

    memset(key, 'k', 64);
    snprintf(line, sizeof line, "%.64s=v", key);
    snprintf(want, sizeof want, "{\"%.64s\":\"v\"}", key);
    is_str(out(line), want, "a key of 64 bytes");
    memset(key, 'k', 65);
    snprintf(line, sizeof line, "%.65s=v", key);
    snprintf(want, sizeof want, "error: line 1: bad key \"%.40s...\"%s", key, bad_key);
    is_str(out(line), want, "a key of 65 bytes");

    is_str(outn("a=1\nb=x\0y\n", 10), "error: line 2: a NUL byte", "a NUL byte in a value");
    is_str(outn("a=1\n\n\0", 6), "error: line 3: a NUL byte", "a NUL byte alone");
    is_str(outn("m<<E\nx\0\nE\n", 10), "error: line 2: a NUL byte", "a NUL byte in a heredoc");
    OUT("a=\xff\n", "error: line 1: the value is not UTF-8");
    OUT("a=ok\nb=caf\xc3\n", "error: line 2: the value is not UTF-8");
    OUT("a=\xc0\xaf\n", "error: line 1: the value is not UTF-8");          /* overlong "/" */
    OUT("a=\xed\xa0\x80\n", "error: line 1: the value is not UTF-8");      /* a surrogate */
    OUT("a=\xf4\x90\x80\x80\n", "error: line 1: the value is not UTF-8");  /* > U+10FFFF */
    OUT("m<<E\nok\n\xc3\x28\nE\n", "error: line 3: the value is not UTF-8");
}

/* ---- $SBX_COSTS ------------------------------------------------------------ */

static const char *costsn(const char *data, size_t len)
{
    static char buf[4096];
    json_t *items = NULL;
    double usd = -1;
    rt_error err = {0};

    if (orch_costs_parse(data, len, &items, &usd, &err) < 0) {
        snprintf(buf, sizeof buf, "error: %s%s", err.msg, items ? " (and items)" : "");
        return buf;
    }
    char *s = json_dumps(items, JSON_COMPACT);
    snprintf(buf, sizeof buf, "%g %s", usd, s ? s : "(dump failed)");
    free(s);
    json_decref(items);
    return buf;
}

static const char *costs(const char *data)
{
    return costsn(data, strlen(data));
}

#define COSTS(data, want) is_str(costs(data), want, want)

/* n lines of {"item":"x","usd":1}, and blank lines between them. */
static char *cost_lines(int n)
{
    static const char line[] = "{\"item\":\"x\",\"usd\":1}\n\n";
    size_t len = sizeof line - 1;
    char *s = malloc(len * (size_t)n + 1);

    for (int i = 0; i < n; i++)
        memcpy(s + len * (size_t)i, line, len);
    s[len * (size_t)n] = '\0';
    return s;
}

static void test_costs(void)
{
    COSTS("", "0 []");
    COSTS("\n \n\t\r\n", "0 []");
    COSTS("{\"item\":\"api\",\"usd\":0.5}\n\n{\"usd\":2,\"item\":\"gpu\",\"quantity\":3,"
          "\"unit\":\"hours\"}\r\n{\"item\":\"free\",\"usd\":0,\"quantity\":0,\"unit\":\"\"}",
          "2.5 [{\"item\":\"api\",\"usd\":0.5},{\"usd\":2,\"item\":\"gpu\",\"quantity\":3,"
          "\"unit\":\"hours\"},{\"item\":\"free\",\"usd\":0,\"quantity\":0,\"unit\":\"\"}]");

    COSTS("{\"item\":\"a\",\"usd\":1}\n{\"item\":\"b\",\"usd\":1\n",
          "error: line 2: '}' expected near end of file");
    COSTS("nope\n", "error: line 1: invalid token near 'nope'");
    COSTS("{\"item\":\"a\",\"usd\":1,\x01\xff}\n",
          "error: line 1: string or '}' expected near '?'");
    COSTS("{\"item\":\"a\",\"usd\":1} {}\n", "error: line 1: end of file expected near '{'");
    COSTS("[1]\n", "error: line 1: must be an object, not an array");
    COSTS("\"x\"\n", "error: line 1: must be an object, not a string");
    COSTS("{\"item\":\"a\",\"usd\":1,\"usd\":2}\n",
          "error: line 1: duplicate object key near '\"usd\"'");
    COSTS("{\"item\":\"a\",\"usd\":1,\"price\":2}\n",
          "error: line 1: unknown key \"price\" (item, usd, quantity, unit)");
    COSTS("{\"usd\":1}\n", "error: line 1: \"item\" is required");
    COSTS("{\"item\":7,\"usd\":1}\n", "error: line 1: \"item\" must be a string, not an integer");
    COSTS("{\"item\":\"\",\"usd\":1}\n", "error: line 1: \"item\" must be 1 to 64 bytes, not 0");
    COSTS("{\"item\":\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\","
          "\"usd\":1}\n",
          "error: line 1: \"item\" must be 1 to 64 bytes, not 65");
    COSTS("{\"item\":\"a\"}\n", "error: line 1: \"usd\" is required");
    COSTS("{\"item\":\"a\",\"usd\":\"1\"}\n",
          "error: line 1: \"usd\" must be a number, not a string");
    COSTS("{\"item\":\"a\",\"usd\":null}\n", "error: line 1: \"usd\" must be a number, not null");
    COSTS("{\"item\":\"a\",\"usd\":true}\n",
          "error: line 1: \"usd\" must be a number, not a boolean");
    COSTS("{\"item\":\"a\",\"usd\":-0.01}\n",
          "error: line 1: \"usd\" must be a number >= 0, not -0.01");
    COSTS("{\"item\":\"a\",\"usd\":-1}\n", "error: line 1: \"usd\" must be a number >= 0, not -1");
    COSTS("{\"item\":\"a\",\"usd\":1,\"quantity\":-2}\n",
          "error: line 1: \"quantity\" must be a number >= 0, not -2");
    COSTS("{\"item\":\"a\",\"usd\":1,\"quantity\":[]}\n",
          "error: line 1: \"quantity\" must be a number, not an array");
    COSTS("{\"item\":\"a\",\"usd\":1,\"unit\":{}}\n",
          "error: line 1: \"unit\" must be a string, not an object");
    COSTS("{\"item\":\"a\",\"usd\":1,\"unit\":\"123456789012345678901234567890123\"}\n",
          "error: line 1: \"unit\" must be 0 to 32 bytes, not 33");
    COSTS("{\"item\":\"a\",\"usd\":1e999}\n", "error: line 1: real number overflow near '1e999'");
    COSTS("{\"item\":\"a\",\"usd\":1e308}\n{\"item\":\"b\",\"usd\":1e308}\n",
          "error: line 2: the usd total overflows");
    is_str(costsn("{\"item\":\"a\",\0\"usd\":1}\n", 22), "error: line 1: a NUL byte",
           "a NUL byte in a line");
    is_str(costsn("\n{\"item\":\"a\",\"usd\":1}\0junk\n", 27), "error: line 2: a NUL byte",
           "a NUL byte after the object");
    COSTS("{\"item\":\"a\\u0000b\",\"usd\":1}\n",
          "error: line 1: \\u0000 is not allowed");

    char *many = cost_lines(ORCH_COSTS_MAX_LINES);
    const char *r = costs(many);
    ok(strncmp(r, "1000 [", 6) == 0, "1000 lines are allowed (blank lines not counted)");
    free(many);
    many = cost_lines(ORCH_COSTS_MAX_LINES + 1);
    is_str(costs(many), "error: line 2001: more than 1000 lines of costs", "1001 lines are not");
    free(many);

    size_t big = ORCH_COSTS_MAX_BYTES + 1;
    char *pad = malloc(big);
    memset(pad, ' ', big);
    is_str(costsn(pad, big), "error: 262145 bytes, above the cap of 262144",
           "more than ORCH_COSTS_MAX_BYTES");
    is_str(costsn(pad, big - 1), "0 []", "ORCH_COSTS_MAX_BYTES of blanks");
    free(pad);
}

/* ---- prices ---------------------------------------------------------------- */

static bool near(double a, double b)
{
    return fabs(a - b) <= 1e-12 * (fabs(b) > 1 ? fabs(b) : 1);
}

static bool item_is(const json_t *items, size_t i, const char *item, double quantity,
                    const char *unit, double usd)
{
    const json_t *o = json_array_get(items, i);
    bool good = o && json_object_size(o) == 4 &&
                strcmp(json_string_value(json_object_get(o, "item")), item) == 0 &&
                near(json_number_value(json_object_get(o, "quantity")), quantity) &&
                strcmp(json_string_value(json_object_get(o, "unit")), unit) == 0 &&
                near(json_number_value(json_object_get(o, "usd")), usd);

    if (!good) {
        char *s = json_dumps(o, JSON_COMPACT);
        diag("item %zu: %s", i, s ? s : "NULL");
        free(s);
    }
    return good;
}

static void test_prices(void)
{
    orch_prices p;
    double usd = -1;

    orch_prices_default(&p);
    ok(fabs(p.usd_per_cpu_second - 0.0000112444) < 1e-10,
       "default per CPU-second: $0.04048 per vCPU-hour");
    ok(fabs(p.usd_per_gb_second - 0.00000123472) < 1e-11,
       "default per GB-second: $0.004445 per GB-hour");
    ok(near(p.usd_per_run, 0.0000002), "default per run: $0.20 per million");

    /* 2 s of CPU, 0.5 GB for 2 s: 1 GB-second. */
    rt_usage u = {.wall_ms = 2000, .cpu_user_ms = 1500, .cpu_sys_ms = 500,
                  .memory_peak_bytes = 500000000};
    json_t *items = orch_prices_apply(&p, &u, &usd);
    double want = 2 * 0.04048 / 3600 + 0.004445 / 3600 + 0.20 / 1e6;
    ok(items && json_array_size(items) == 3, "three cost items");
    ok(item_is(items, 0, "cpu", 2, "cpu-seconds", 2 * 0.04048 / 3600), "cpu item");
    ok(item_is(items, 1, "memory", 1, "GB-seconds", 0.004445 / 3600), "memory item");
    ok(item_is(items, 2, "run", 1, "runs", 0.20 / 1e6), "run item");
    ok(near(usd, want), "total %.10g (want %.10g)", usd, want);
    json_decref(items);

    orch_prices mine = {.usd_per_cpu_second = 1, .usd_per_gb_second = 10, .usd_per_run = 100};
    rt_usage v = {.wall_ms = 500, .cpu_user_ms = 250, .cpu_sys_ms = 0,
                  .memory_peak_bytes = 2000000000};
    items = orch_prices_apply(&mine, &v, &usd);
    ok(near(usd, 0.25 + 10 + 100), "operator's prices: total %g", usd);
    ok(item_is(items, 1, "memory", 1, "GB-seconds", 10), "2 GB for half a second");
    json_decref(items);

    rt_usage zero = {0};
    items = orch_prices_apply(&p, &zero, &usd);
    ok(near(usd, 0.20 / 1e6), "no usage: the run alone");
    json_decref(items);
}

/* ---- selectors ------------------------------------------------------------- */

static const char *sel_in(const char *doc_text, const char *selector)
{
    static char buf[1024];
    json_t *doc = json_loads(doc_text, JSON_DECODE_ANY, NULL);
    rt_error err = {0};
    json_t *v = orch_json_select(doc, selector, &err);

    if (!v) {
        snprintf(buf, sizeof buf, "error: %s", err.msg);
    } else {
        char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
        snprintf(buf, sizeof buf, "%s", s ? s : "(dump failed)");
        free(s);
    }
    json_decref(v);
    json_decref(doc);
    return buf;
}

static const char DOC[] =
    "{\"items\": [{\"name\": \"a\"}, {\"name\": \"b\", \"tags\": [\"x\", [\"y\", \"z\"]]}],"
    " \"a\": {\"b\": [1, [2, 3]], \"one\": [0], \"none\": []}, \"n\": null, \"s\": \"str\","
    " \"with-dash_2\": {\"k\": true}}";

#define SEL(selector, want) is_str(sel_in(DOC, selector), want, selector " -> " want)

static void test_select(void)
{
    SEL("items[0].name", "\"a\"");
    SEL("items[1].tags[1][0]", "\"y\"");
    SEL("items[1].tags", "[\"x\",[\"y\",\"z\"]]");
    SEL("a.b[1][1]", "3");
    SEL("a.b[0]", "1");
    SEL("n", "null");
    SEL("with-dash_2.k", "true");
    is_str(sel_in("[10, 20, 30]", "[2]"), "30", "[2] into a list");
    is_str(sel_in("[[1], [2, [3]]]", "[1][1][0]"), "3", "indexes only");
    is_str(sel_in("\"x\"", ""), "\"x\"", "the empty selector gives the document");

    SEL("items[3]", "error: items[3]: the array has 2 elements");
    SEL("a.one[1]", "error: a.one[1]: the array has 1 element");
    SEL("a.none[0]", "error: a.none[0]: the array has 0 elements");
    SEL("items[99999999999999999999999]",
        "error: items[99999999999999999999999]: the array has 2 elements");
    SEL("a.c", "error: a.c: no key \"c\"");
    SEL("nope", "error: nope: no key \"nope\"");
    SEL("items[0].title", "error: items[0].title: no key \"title\"");
    SEL("items.name", "error: items: not an object (an array)");
    SEL("a[0]", "error: a: not an array (an object)");
    SEL("s.x", "error: s: not an object (a string)");
    SEL("n[0]", "error: n: not an array (null)");
    SEL("a.b[0].x", "error: a.b[0]: not an object (an integer)");
    SEL("items[1].tags[0].k", "error: items[1].tags[0]: not an object (a string)");
    SEL("with-dash_2.k.z", "error: with-dash_2.k: not an object (a boolean)");
    SEL("[0]", "error: the document: not an array (an object)");
    is_str(sel_in("[1]", "a"), "error: the document: not an object (an array)",
           "a key into a list document");
    SEL("a..b", "error: selector \"a..b\": expected a key or [n] at byte 2");
    SEL(".a", "error: selector \".a\": expected a key or [n] at byte 0");
    SEL("a.", "error: selector \"a.\": expected a key or [n] at byte 2");
    SEL("a[x]", "error: selector \"a[x]\": expected a key or [n] at byte 1");
    SEL("a[]", "error: selector \"a[]\": expected a key or [n] at byte 1");
    SEL("a[0", "error: selector \"a[0\": expected a key or [n] at byte 1");
    SEL("a[0]b", "error: selector \"a[0]b\": expected a key or [n] at byte 4");
    SEL("a b", "error: selector \"a b\": expected a key or [n] at byte 1");

    /* A new reference into the document. */
    json_t *doc = json_loads(DOC, 0, NULL);
    rt_error err = {0};
    json_t *v = orch_json_select(doc, "items[1]", &err);
    ok(v && v == json_array_get(json_object_get(doc, "items"), 1) && v->refcount == 2,
       "the value itself, with one more reference");
    json_decref(doc);
    ok(v && json_is_object(v) && strcmp(json_string_value(json_object_get(v, "name")), "b") == 0,
       "and it outlives the document");
    json_decref(v);
}

/* ---- reading beneath a directory --------------------------------------------- */

static const char *readb(int dirfd, const char *rel, size_t max, size_t *len)
{
    static char buf[2048];
    char *data = NULL;
    rt_error err = {0};
    size_t n = 12345;
    int rc = orch_read_beneath(dirfd, rel, max, &data, &n, &err);

    if (len)
        *len = n;
    if (rc == 0)
        snprintf(buf, sizeof buf, "%s%s", data, data[n] == '\0' ? "" : " (no NUL after it)");
    else if (rc == 1)
        snprintf(buf, sizeof buf, "missing%s", data ? " (and data)" : "");
    else
        snprintf(buf, sizeof buf, "error: %s%s", err.msg, data ? " (and data)" : "");
    free(data);
    return buf;
}

static void on_alarm(int sig)
{
    static const char msg[] = "not ok - timed out: a FIFO hung the reader\n";

    (void)sig;
    if (write(1, msg, sizeof msg - 1) < 0)
        _exit(2);
    _exit(1);
}

static void test_read_beneath(void)
{
    char *d = tmpdir(), *outside = tmpdir();
    size_t len = 0;

    put(d, "f.txt", "hello", 5);
    put(d, "empty", "", 0);
    dir_at(d, "sub");
    put(d, "sub/g.txt", "inner", 5);
    link_at(d, "passwd", "/etc/passwd");
    link_at(d, "link", "sub");
    link_at(d, "sub/up", "..");
    put(outside, "secret", "secret", 6);
    char target[600];
    snprintf(target, sizeof target, "%s/secret", outside);
    link_at(d, "sub/out", target);
    fifo_at(d, "pipe");
    char *big = malloc(300000);
    memset(big, 'b', 300000);
    put(d, "big", big, 300000);
    put(d, "cap", big, 262144);
    free(big);

    int fd = open(d, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    must(fd, d);
    is_str(readb(fd, "f.txt", 100, &len), "hello", "a file");
    is_int(len, 5, "its length");
    is_str(readb(fd, "sub/g.txt", 100, NULL), "inner", "a file in a directory");
    is_str(readb(fd, "sub/../f.txt", 100, NULL), "hello", "\"..\" that stays inside");
    is_str(readb(fd, "./sub//g.txt", 100, NULL), "inner", "\".\" and \"//\"");
    is_str(readb(fd, "empty", 100, &len), "", "an empty file");
    is_int(len, 0, "of length 0");
    is_str(readb(fd, "missing", 100, NULL), "missing", "no such file: 1");
    is_str(readb(fd, "sub/missing", 100, NULL), "missing", "no such file in a directory: 1");
    is_str(readb(fd, "nodir/x", 100, NULL), "missing", "no such directory: 1");
    is_str(readb(fd, "passwd", 100, NULL), "error: passwd: a symlink on the way: "
           "Too many levels of symbolic links", "a symlink to /etc/passwd is refused");
    is_str(readb(fd, "link/g.txt", 100, NULL), "error: link/g.txt: a symlink on the way: "
           "Too many levels of symbolic links", "a symlink to a directory on the way is refused");
    is_str(readb(fd, "sub/up/f.txt", 100, NULL), "error: sub/up/f.txt: a symlink on the way: "
           "Too many levels of symbolic links", "a symlink to \"..\" is refused");
    is_str(readb(fd, "sub/out", 100, NULL), "error: sub/out: a symlink on the way: "
           "Too many levels of symbolic links", "a symlink to a file outside is refused");
    is_str(readb(fd, "../x", 100, NULL), "error: ../x: leaves the directory: "
           "Invalid cross-device link", "\"../\" is refused");
    is_str(readb(fd, "sub/../../x", 100, NULL), "error: sub/../../x: leaves the directory: "
           "Invalid cross-device link", "\"sub/../../\" is refused");
    is_str(readb(fd, "/etc/passwd", 100, NULL), "error: /etc/passwd: not a relative path: "
           "Invalid argument", "an absolute path is refused");
    is_str(readb(fd, "sub", 100, NULL), "error: sub: not a regular file (a directory)",
           "a directory is refused");

    signal(SIGALRM, on_alarm);
    alarm(10);
    is_str(readb(fd, "pipe", 100, NULL), "error: pipe: not a regular file",
           "a FIFO is refused without waiting for a writer");
    alarm(0);
    signal(SIGALRM, SIG_DFL);

    is_str(readb(fd, "big", 262144, &len),
           "error: big: 300000 bytes, above the cap of 262144: File too large",
           "a file over the cap is refused with its size");
    is_int(len, 300000, "and *len is its size");
    readb(fd, "cap", 262144, &len);
    is_int(len, 262144, "a file of exactly the cap is read whole");
    is_str(readb(fd, "f.txt", 4, &len),
           "error: f.txt: 5 bytes, above the cap of 4: File too large", "a cap of 4");
    is_str(readb(fd, "f.txt", 5, &len), "hello", "a cap of 5");

    if (mount_at(d, "sub")) {
        is_str(readb(fd, "sub/keep", 100, NULL), "error: sub/keep: crosses a mount: "
               "Invalid cross-device link", "a mount on the way is refused");
        unmount_at(d, "sub");
    } else {
        skip(1, "cannot mount a tmpfs here");
    }
    close(fd);
    is_str(readb(-1, "f.txt", 100, NULL), "error: f.txt: Bad file descriptor", "a bad dirfd");

    /* /proc's files say size 0: the buffer grows as the reads go. */
    fd = open("/proc/self", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        ok(strncmp(readb(fd, "status", 1 << 20, &len), "Name:", 5) == 0 && len > 100,
           "a file whose size is not told is read whole (%zu bytes)", len);
        is_str(readb(fd, "status", 100, &len),
               "error: status: at least 101 bytes, above the cap of 100: File too large",
               "and refused past the cap, after reading one byte more");
        is_int(len, 101, "*len is what was read");
        close(fd);
    } else {
        skip(3, "no /proc");
    }
    rmrf(d);
    rmrf(outside);
}

/* ---- removing a tree ------------------------------------------------------- */

static int remove_tree(const char *dir, const char *rel, char *msg, size_t size)
{
    char p[1024];
    rt_error err = {0};

    snprintf(p, sizeof p, "%s%s%s", dir, *rel ? "/" : "", rel);
    int rc = orch_remove_tree(p, &err);
    snprintf(msg, size, "%s", err.msg);
    if (rc < 0)
        diag("orch_remove_tree: %s", err.msg);
    return rc;
}

/* Built as nobody, with directories it made unreadable and unwritable: the
 * sandbox's code running as our uid may do that. Needs root to switch. */
static void test_remove_permissions(const char *base)
{
    char p[1024], msg[RT_ERROR_MAX];

    if (geteuid() != 0 || chown(base, 65534, 65534) < 0) {
        skip(1, "needs root to become nobody");
        return;
    }
    pid_t pid = fork();
    if (pid == 0) {
        if (setgid(65534) < 0 || setuid(65534) < 0)
            _exit(3);
        dir_at(base, "p");
        dir_at(base, "p/a");
        dir_at(base, "p/a/b");
        put(base, "p/a/b/f", "x", 1);
        dir_at(base, "p/c");
        put(base, "p/c/f", "x", 1);
        snprintf(p, sizeof p, "%s/p/a/b", base);
        must(chmod(p, 0), p);
        snprintf(p, sizeof p, "%s/p/a", base);
        must(chmod(p, 0500), p);
        snprintf(p, sizeof p, "%s/p/c", base);
        must(chmod(p, 0), p);
        _exit(remove_tree(base, "p", msg, sizeof msg) == 0 && !exists(base, "p") ? 0 : 1);
    }
    int status = -1;
    waitpid(pid, &status, 0);
    ok(WIFEXITED(status) && WEXITSTATUS(status) == 0,
       "directories made 000 and 0500 by their owner are removed");
}

static void test_remove_tree(void)
{
    char *d = tmpdir(), *outside = tmpdir();
    char target[600], msg[RT_ERROR_MAX];

    put(outside, "precious", "keep me", 7);
    dir_at(outside, "dir");
    put(outside, "dir/inside", "keep me too", 11);
    dir_at(d, "t");
    dir_at(d, "t/a");
    dir_at(d, "t/a/b");
    dir_at(d, "t/a/b/c");
    put(d, "t/a/b/c/file", "x", 1);
    put(d, "t/top", "y", 1);
    snprintf(target, sizeof target, "%s/precious", outside);
    link_at(d, "t/a/to-file", target);
    snprintf(target, sizeof target, "%s/dir", outside);
    link_at(d, "t/a/b/to-dir", target);
    link_at(d, "t/a/dangling", "/nonexistent/x");
    link_at(d, "t/a/loop", "loop");
    fifo_at(d, "t/a/b/pipe");
    dir_at(d, "t/empty");

    is_int(remove_tree(d, "t", msg, sizeof msg), 0, "a tree with symlinks out is removed");
    ok(!exists(d, "t"), "all of it");
    ok(exists(outside, "precious") && exists(outside, "dir/inside"),
       "what the symlinks point at is still there");
    is_int(remove_tree(d, "t", msg, sizeof msg), 0, "a missing path is not an error");
    is_int(remove_tree(d, "nodir/t", msg, sizeof msg), 0, "nor one under a missing directory");

    snprintf(target, sizeof target, "%s/dir", outside);
    link_at(d, "symlink-top", target);
    is_int(remove_tree(d, "symlink-top", msg, sizeof msg), 0, "a symlink as the path");
    ok(!exists(d, "symlink-top") && exists(outside, "dir/inside"),
       "the symlink goes, its target stays");
    put(d, "plain", "p", 1);
    is_int(remove_tree(d, "plain", msg, sizeof msg), 0, "a file as the path");
    ok(!exists(d, "plain"), "is removed");

    dir_at(d, "deep");
    deep(d, "deep", 300);
    is_int(remove_tree(d, "deep", msg, sizeof msg), 0, "a tree 300 directories deep");
    ok(!exists(d, "deep"), "is removed whole");

    dir_at(d, "m");
    dir_at(d, "m/x");
    dir_at(d, "m/x/mn\xff\x01t");
    put(d, "m/x/f", "f", 1);
    put(d, "m/g", "g", 1);
    if (mount_at(d, "m/x/mn\xff\x01t")) {
        int rc = remove_tree(d, "m", msg, sizeof msg);
        char want[1200];
        snprintf(want, sizeof want, "%s/m/x/mn??t: a mount point, left in place",
                 d);
        ok(rc == -1, "a mount below: -1");
        is_str(msg, want, "which names it, odd bytes as ?");
        ok(exists(d, "m/x/mn\xff\x01t/keep"), "the mounted filesystem is untouched");
        ok(!exists(d, "m/x/f") && !exists(d, "m/g"), "the rest is removed");
        unmount_at(d, "m/x/mn\xff\x01t");
    } else {
        skip(4, "cannot mount a tmpfs here");
    }
    dir_at(d, "b");
    dir_at(d, "b/bind");
    put(d, "b/f", "f", 1);
    snprintf(target, sizeof target, "%s/dir", outside);
    char bind[1200];
    snprintf(bind, sizeof bind, "%s/b/bind", d);
    if (mount(target, bind, NULL, MS_BIND, NULL) == 0) {
        ok(remove_tree(d, "b", msg, sizeof msg) == -1 && strstr(msg, "/b/bind: a mount point"),
           "a bind mount from the same filesystem below: -1");
        ok(exists(outside, "dir/inside"), "what it shows is untouched");
        ok(!exists(d, "b/f"), "the rest is removed");
        unmount_at(d, "b/bind");
    } else {
        skip(3, "cannot bind-mount here");
    }
    test_remove_permissions(d);
    rmrf(d);
    rmrf(outside);
}

/* ---- tar ------------------------------------------------------------------- */

/* The archive's entries as "name type size [-> target | :content]" lines. */
static char *tar_list(int fd)
{
    static char buf[8192];
    struct archive *a = archive_read_new();
    struct archive_entry *e;
    size_t o = 0;
    int r;

    buf[0] = '\0';
    if (lseek(fd, 0, SEEK_SET) < 0 || archive_read_support_format_tar(a) != ARCHIVE_OK ||
        archive_read_open_fd(a, fd, 10240) != ARCHIVE_OK) {
        snprintf(buf, sizeof buf, "cannot read: %s", archive_error_string(a));
        archive_read_free(a);
        return buf;
    }
    while ((r = archive_read_next_header(a, &e)) == ARCHIVE_OK && o < sizeof buf) {
        mode_t type = archive_entry_filetype(e);
        char data[64] = "";
        la_ssize_t n = archive_read_data(a, data, sizeof data - 1);
        if (n < 0)
            n = 0;
        data[n] = '\0';
        o += (size_t)snprintf(buf + o, sizeof buf - o, "%s %s %lld", archive_entry_pathname(e),
                              type == AE_IFDIR ? "dir" : type == AE_IFREG ? "file"
                              : type == AE_IFLNK ? "symlink" : "other",
                              (long long)archive_entry_size(e));
        if (type == AE_IFLNK)
            o += (size_t)snprintf(buf + o, sizeof buf - o, " -> %s", archive_entry_symlink(e));
        else if (n > 0)
            o += (size_t)snprintf(buf + o, sizeof buf - o, " :%.*s", n > 10 ? 10 : (int)n, data);
        o += (size_t)snprintf(buf + o, sizeof buf - o, "\n");
    }
    if (r != ARCHIVE_EOF)
        snprintf(buf + o, sizeof buf - o, "read error: %s", archive_error_string(a));
    archive_read_free(a);
    return buf;
}

static int tar(const char *dir, int fd, char *msg, size_t size)
{
    rt_error err = {0};

    if (ftruncate(fd, 0) < 0 || lseek(fd, 0, SEEK_SET) < 0)
        return -2;
    int rc = orch_tar_write(dir, fd, &err);
    snprintf(msg, size, "%s", err.msg);
    return rc;
}

static void test_tar(void)
{
    char *d = tmpdir(), *t = tmpdir(), p[1024], msg[RT_ERROR_MAX], want[1200];

    put(d, "file.txt", "hello\n", 6);
    dir_at(d, "sub");
    put(d, "sub/inner.txt", "inner", 5);
    dir_at(d, "sub/empty");
    link_at(d, "passwd", "/etc/passwd");
    link_at(d, "sub/up", "..");
    fifo_at(d, "fifo");
    put(d, "caf\xc3\xa9", "utf-8 name", 10);
    put(d, "bad\xffname", "x", 1);
    char *big = malloc(200000);
    for (int i = 0; i < 200000; i++)
        big[i] = (char)('a' + i % 26);
    put(d, "big.bin", big, 200000);
    free(big);

    snprintf(p, sizeof p, "%s/out.tar", t);
    int fd = open(p, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    must(fd, p);
    is_int(tar(d, fd, msg, sizeof msg), 0, "a tree is written");
    is_str(tar_list(fd),
           "bad\xffname file 1 :x\n"
           "big.bin file 200000 :abcdefghij\n"
           "caf\xc3\xa9 file 10 :utf-8 name\n"
           "file.txt file 6 :hello\n\n"
           "passwd symlink 0 -> /etc/passwd\n"
           "sub/ dir 0\n"
           "sub/empty/ dir 0\n"
           "sub/inner.txt file 5 :inner\n"
           "sub/up symlink 0 -> ..\n",
           "entries, types, sizes, contents; names as bytes; symlinks as symlinks; no FIFO");

    struct stat st = {0};
    bool got = fstat(fd, &st) == 0;
    ok(got && st.st_size % 10240 == 0 && st.st_size > 200000, "whole tar blocks (%lld bytes)",
       (long long)st.st_size);

    /* The big file read back whole. */
    struct archive *a = archive_read_new();
    struct archive_entry *e;
    bool same = false;
    if (lseek(fd, 0, SEEK_SET) == 0 && archive_read_support_format_tar(a) == ARCHIVE_OK &&
        archive_read_open_fd(a, fd, 10240) == ARCHIVE_OK &&
        archive_read_next_header(a, &e) == ARCHIVE_OK &&
        archive_read_next_header(a, &e) == ARCHIVE_OK &&
        strcmp(archive_entry_pathname(e), "big.bin") == 0) {
        char *back = malloc(200001);
        la_ssize_t n = archive_read_data(a, back, 200001);
        same = n == 200000;
        for (la_ssize_t i = 0; same && i < n; i++)
            same = back[i] == (char)('a' + i % 26);
        free(back);
    }
    archive_read_free(a);
    ok(same, "a file larger than a read chunk comes back the same");

    dir_at(d, "mnt");
    if (mount_at(d, "mnt")) {
        is_int(tar(d, fd, msg, sizeof msg), 0, "a tree with a mount below");
        ok(!strstr(tar_list(fd), "mnt"), "leaves the mount out");
        unmount_at(d, "mnt");
    } else {
        skip(2, "cannot mount a tmpfs here");
    }

    dir_at(d, "bind");
    char bind[1200];
    snprintf(bind, sizeof bind, "%s/bind", d);
    if (mount(t, bind, NULL, MS_BIND, NULL) == 0) {
        is_int(tar(d, fd, msg, sizeof msg), 0, "a tree with a bind mount below");
        ok(!strstr(tar_list(fd), "bind") && !strstr(tar_list(fd), "out.tar"),
           "leaves the bind mount out");
        unmount_at(d, "bind");
    } else {
        skip(2, "cannot bind-mount here");
    }

    dir_at(t, "deep");
    deep(t, "deep", 200);
    snprintf(p, sizeof p, "%s/deep", t);
    is_int(tar(p, fd, msg, sizeof msg), -1, "a tree too deep");
    ok(strstr(msg, ": more than 128 directories deep") != NULL, "says so: %.80s...", msg);
    /* What was written before the failure stays, but not the end-of-archive
     * blocks (zeros) that would make it look whole. */
    char tail[1024], zeros[1024] = {0};
    off_t size = lseek(fd, 0, SEEK_END);
    ok(size >= 1024 && pread(fd, tail, sizeof tail, size - 1024) == 1024 &&
       memcmp(tail, zeros, sizeof tail) != 0, "a failed archive is not ended (%lld bytes)",
       (long long)size);
    rt_error err = {0};
    ok(orch_remove_tree(p, &err) == 0, "(removed)");

    snprintf(p, sizeof p, "%s/missing", t);
    is_int(tar(p, fd, msg, sizeof msg), -1, "a missing directory");
    snprintf(want, sizeof want, "tar of %s: %s: No such file or directory", p, p);
    is_str(msg, want, "names it");

    snprintf(p, sizeof p, "%s/passwd", d);
    is_int(tar(p, fd, msg, sizeof msg), -1, "a symlink as the directory is refused");

    int devnull = open("/dev/full", O_WRONLY | O_CLOEXEC);
    if (devnull >= 0) {
        rt_error e2 = {0};
        ok(orch_tar_write(d, devnull, &e2) == -1 && strstr(e2.msg, "tar of "),
           "a write error is reported: %s", e2.msg);
        close(devnull);
    } else {
        skip(1, "no /dev/full");
    }
    close(fd);
    rmrf(d);
    rmrf(t);
}

int main(void)
{
    test_output();
    test_costs();
    test_prices();
    test_select();
    test_read_beneath();
    test_remove_tree();
    test_tar();
    return tap_done();
}
