/* Tests cli/exec_answer.c: reading the daemon's answer, streamed or whole,
 * its error bodies, and how sbx exec ends on a result. */
#include <stdlib.h>
#include <string.h>

#include "capture.h"
#include "exec_answer.h"
#include "tap.h"

/* What the chunks said, as "1:hello|2:oops|" (NULs kept). */
static char seen[4096];
static size_t seen_len;

static void collect(void *ctx, int fd, const char *data, size_t len)
{
    (void)ctx;
    if (seen_len + len + 3 > sizeof seen)
        return;
    seen[seen_len++] = (char)('0' + fd);
    seen[seen_len++] = ':';
    memcpy(seen + seen_len, data, len);
    seen_len += len;
    seen[seen_len++] = '|';
}

static const char events[] =
    "{\"type\":\"stdout\",\"data\":\"hello\\n\"}\n"
    "{\"type\":\"stderr\",\"data\":\"b29wcw==\",\"encoding\":\"base64\"}\r\n"
    "\n"
    "{\"type\":\"progress\",\"phase\":\"running\"}\n"
    "{\"type\":\"stdout\",\"data\":\"a\\u0000b\"}\n"
    "{\"type\":\"result\",\"result\":{\"status\":\"exit_nonzero\",\"exit_code\":3}}\n";

/* Feeds text in chunks of `step` bytes; returns the message, or "" with the
 * result's status in *status. */
static const char *stream(const char *text, size_t len, size_t step, const char **status)
{
    static rt_error err;
    sbx_answer a;
    rt_error_clear(&err);
    seen_len = 0;
    sbx_answer_init(&a, collect, NULL);
    a.stream = true;
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < len; i += step)
        rc = sbx_answer_feed(&a, text + i, len - i < step ? len - i : step, &err);
    if (rc == 0)
        rc = sbx_answer_finish(&a, &err);
    static char st[32];
    snprintf(st, sizeof st, "%s",
             rc == 0 ? json_string_value(json_object_get(a.result, "status")) : "");
    *status = st;
    sbx_answer_free(&a);
    return rc == 0 ? "" : err.msg;
}

static const char *stream_str(const char *text)
{
    const char *status;
    return stream(text, strlen(text), 4096, &status);
}

static void test_stream(void)
{
    const char *status;
    is_str(stream(events, sizeof events - 1, 4096, &status), "", "a stream in one piece");
    is_str(status, "exit_nonzero", "ends with its result");
    ok(seen_len == 22 && memcmp(seen, "1:hello\n|2:oops|1:a\0b|", 22) == 0,
       "chunks in order, base64 decoded, NULs kept, other events skipped");
    char whole[sizeof seen];
    memcpy(whole, seen, sizeof seen);
    is_str(stream(events, sizeof events - 1, 1, &status), "", "the same stream a byte at a time");
    ok(seen_len == 22 && memcmp(whole, seen, 22) == 0 && strcmp(status, "exit_nonzero") == 0,
       "gives the same chunks and result");
    is_str(stream(events, sizeof events - 2, 7, &status), "",
           "a last line without its newline");
    is_str(stream_str("{\"type\":\"stdout\",\"data\":\"x\"}\n"), "stream: ended without a result",
           "a stream without a result");
    is_str(stream_str("{\"type\":\"stdout\",\"data\":\"x\"\n"),
           "stream: a line is not a JSON object: '}' expected near end of file",
           "a line that is not JSON");
    is_str(stream_str("[1]\n"), "stream: a line is not a JSON object",
           "a line that is not an object");
    is_str(stream_str("{\"data\":\"x\"}\n"), "stream: an event without a \"type\" string",
           "an event without a type");
    is_str(stream_str("{\"type\":\"stdout\"}\n"), "stream: stdout event without a \"data\" string",
           "an output event without data");
    is_str(stream_str("{\"type\":\"stderr\",\"data\":\"%%%\",\"encoding\":\"base64\"}\n"),
           "stream: an output chunk is not valid base64", "bad base64");
    is_str(stream_str("{\"type\":\"stderr\",\"data\":\"x\",\"encoding\":\"rot13\"}\n"),
           "stream: unknown encoding of an output chunk (want base64)", "an unknown encoding");
    is_str(stream_str("{\"type\":\"result\",\"result\":7}\n"),
           "stream: a result event without a \"result\" object", "a result that is not an object");
    is_str(stream_str("{\"type\":\"result\",\"result\":{\"status\":\"ok\"}}\n"
                      "{\"type\":\"stdout\",\"data\":\"late\"}\n"),
           "stream: a \"stdout\" event after the result", "an event after the result");

    size_t big = SBX_ANSWER_MAX_LINE + 1;
    char *line = malloc(big);
    memset(line, 'x', big);
    is_str(stream(line, big, 1 << 20, &status), "stream: a line longer than 64 MiB",
           "a line beyond the cap");
    memset(line, ' ', big - 1);
    line[big - 1] = '\n';
    const char *result = "{\"type\":\"result\",\"result\":{\"status\":\"ok\"}}";
    memcpy(line, result, strlen(result));
    is_str(stream(line, big, 1 << 20, &status), "", "a line of exactly the cap");
    free(line);
}

static const char *body(const char *text, const char **status)
{
    static rt_error err;
    static char st[32];
    sbx_answer a;
    sbx_answer_init(&a, collect, NULL);
    int rc = sbx_answer_feed(&a, text, strlen(text) / 2, &err);
    if (rc == 0)
        rc = sbx_answer_feed(&a, text + strlen(text) / 2, strlen(text) - strlen(text) / 2, &err);
    if (rc == 0)
        rc = sbx_answer_finish(&a, &err);
    snprintf(st, sizeof st, "%s",
             rc == 0 ? json_string_value(json_object_get(a.result, "status")) : "");
    *status = st;
    sbx_answer_free(&a);
    return rc == 0 ? "" : err.msg;
}

static void test_body(void)
{
    const char *status;
    is_str(body("{\"status\":\"timeout\",\"id\":\"r1\",\"stdout\":\"x\"}", &status), "",
           "a whole answer");
    is_str(status, "timeout", "is read at the end");
    is_str(body("", &status),
           "the answer is not a JSON object: '[' or '{' expected near end of file",
           "an empty answer");
    is_str(body("[\"ok\"]", &status), "the answer is not a JSON object",
           "an answer that is not an object");
}

static const char *http_error(long status, const char *text, const char *retry)
{
    static char msg[512];
    sbx_answer_http_error(status, text, strlen(text), retry, msg, sizeof msg);
    return msg;
}

static void test_http_errors(void)
{
    is_str(http_error(400, "{\"error\":{\"code\":\"bad_request\",\"message\":\"limits.memory: "
                           "too big\",\"field\":\"limits.memory\"}}", NULL),
           "HTTP 400 bad_request: limits.memory: too big", "an error object");
    is_str(http_error(429, "{\"error\":{\"code\":\"queue_full\",\"message\":\"the queue is full\","
                           "\"field\":null}}", "2"),
           "HTTP 429 queue_full: the queue is full (retry after 2 s)", "with Retry-After");
    is_str(http_error(502, "<html>Bad\tgateway</html>\nmore", NULL),
           "HTTP 502: <html>Bad?gateway</html>",
           "a body that is not ours: its first line, printable");
    is_str(http_error(404, "", NULL), "HTTP 404 with no explanation", "no body");
    is_str(http_error(401, "{\"error\":\"nope\"}", NULL), "HTTP 401: {\"error\":\"nope\"}",
           "an error of another shape: shown as it is");
}

static capture out, err;

/* sbx_answer_report on a result given as JSON text; out and err get what it printed. */
static int report(const char *text, bool json, bool print_output, const rt_limits *asked)
{
    json_t *r = json_loads(text, JSON_ALLOW_NUL, NULL);
    if (!r)
        diag("test JSON does not parse: %s", text);
    out = capture_begin(1);
    err = capture_begin(2);
    int rc = sbx_answer_report(r, json, print_output, asked);
    capture_end(&err);
    capture_end(&out);
    json_decref(r);
    return rc;
}

static void test_report(void)
{
    static const char ok_result[] =
        "{\"status\":\"ok\",\"exit_code\":0,\"stdout\":\"hi\\n\",\"stderr\":\"warn\\n\"}";
    rt_limits asked = {.wall_ms = 200};

    is_int(report(ok_result, false, true, NULL), 0, "ok: exit 0");
    ok(strcmp(out.text, "hi\n") == 0 && strcmp(err.text, "warn\n") == 0,
       "outputs not streamed are printed at the end");
    report(ok_result, false, false, NULL);
    ok(!out.len && !err.len, "streamed outputs are not printed again");
    report("{\"status\":\"ok\",\"exit_code\":0,\"stdout\":\"/wA=\",\"stdout_encoding\":\"base64\"}",
           false, true, NULL);
    ok(out.len == 2 && memcmp(out.text, "\xff\0", 2) == 0, "base64 output is decoded");
    is_int(report("{\"status\":\"exit_nonzero\",\"exit_code\":3}", false, true, NULL), 3,
           "exit_nonzero: the command's code");
    is_int(report("{\"status\":\"signaled\",\"signal\":15}", false, true, NULL), 143,
           "signaled: 128+N");
    is_int(report("{\"status\":\"timeout\",\"signal\":9}", false, true, &asked), 124,
           "timeout: 124");
    is_str(err.text, "sbx exec: timeout: killed after the 200 ms wall-clock limit\n",
           "explained with the limit asked for");
    report("{\"status\":\"timeout\",\"signal\":9}", false, true, NULL);
    is_str(err.text, "sbx exec: timeout: killed after the wall-clock limit\n",
           "or without a number when the daemon's profile set it");
    is_int(report("{\"status\":\"error\",\"error\":\"no image \\\"x\\\"\"}", false, true, NULL),
           125, "error: 125");
    is_str(err.text, "sbx exec: sandbox error: no image \"x\"\n", "with its cause");
    is_int(report("{\"status\":\"exit_nonzero\",\"exit_code\":3,\"id\":\"r1\",\"queued_ms\":1.5}",
                  true, false, NULL),
           3, "--json: the command's code");
    is_str(out.text,
           "{\n  \"status\": \"exit_nonzero\",\n  \"exit_code\": 3,\n  \"id\": \"r1\",\n"
           "  \"queued_ms\": 1.5\n}\n",
           "and the result as the daemon sent it, id and timings included");
    is_str(err.text, "", "nothing on stderr");
    is_int(report("{\"status\":\"bogus\"}", false, true, NULL), 125, "a malformed result: 125");
    is_str(err.text,
           "sbx exec: the daemon's result is malformed: status: unknown status \"bogus\"\n",
           "with the reason");
}

int main(void)
{
    tap_plan(42);
    test_stream();
    test_body();
    test_http_errors();
    test_report();
    return tap_done();
}
