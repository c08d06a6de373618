#include "exec_answer.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "outcome.h"
#include "spec_json.h"

void sbx_answer_init(sbx_answer *a, sbx_output_fn on_output, void *ctx)
{
    *a = (sbx_answer){.on_output = on_output, .ctx = ctx};
    rt_buf_init(&a->buf, SBX_ANSWER_MAX_BODY);
}

void sbx_answer_free(sbx_answer *a)
{
    rt_buf_free(&a->buf);
    json_decref(a->result);
    a->result = NULL;
}

/* {"type": "stdout"|"stderr", "data": "...", "encoding": "base64"?} */
static int output_event(sbx_answer *a, const json_t *ev, int fd, rt_error *err)
{
    const json_t *data = json_object_get(ev, "data");
    const json_t *enc = json_object_get(ev, "encoding");
    if (!json_is_string(data))
        return rt_error_set(err, 0, "stream: %s event without a \"data\" string",
                            fd == 1 ? "stdout" : "stderr");
    const char *s = json_string_value(data);
    size_t len = json_string_length(data);
    if (!enc || json_is_null(enc)) {
        if (a->on_output)
            a->on_output(a->ctx, fd, s, len);
        return 0;
    }
    if (!json_is_string(enc) || strcmp(json_string_value(enc), "base64") != 0)
        return rt_error_set(err, 0, "stream: unknown encoding of an output chunk (want base64)");
    cleanup_free char *bytes = malloc(len / 4 * 3 + 1);
    size_t n;
    if (!bytes)
        return rt_error_set(err, ENOMEM, "stream");
    if (rt_base64_decode(s, len, bytes, &n) < 0)
        return rt_error_set(err, 0, "stream: an output chunk is not valid base64");
    if (a->on_output)
        a->on_output(a->ctx, fd, bytes, n);
    return 0;
}

static int stream_event(sbx_answer *a, const json_t *ev, rt_error *err)
{
    const char *type = json_string_value(json_object_get(ev, "type"));
    if (!type)
        return rt_error_set(err, 0, "stream: an event without a \"type\" string");
    if (a->result)
        return rt_error_set(err, 0, "stream: a \"%.40s\" event after the result", type);
    if (strcmp(type, "stdout") == 0 || strcmp(type, "stderr") == 0)
        return output_event(a, ev, type[3] == 'o' ? 1 : 2, err);
    if (strcmp(type, "result") != 0)
        return 0;              /* a newer kind of event, not ours to show */
    json_t *r = json_object_get(ev, "result");
    if (!json_is_object(r))
        return rt_error_set(err, 0, "stream: a result event without a \"result\" object");
    a->result = json_incref(r);
    return 0;
}

static int stream_line(sbx_answer *a, const char *line, size_t len, rt_error *err)
{
    json_error_t je;
    if (len && line[len - 1] == '\r')
        len--;
    if (!len)
        return 0;              /* blank lines may keep a quiet connection alive */
    json_t *ev = json_loadb(line, len, JSON_ALLOW_NUL, &je);
    if (!json_is_object(ev)) {
        json_decref(ev);
        return rt_error_set(err, 0, "stream: a line is not a JSON object%s%s",
                            ev ? "" : ": ", ev ? "" : je.text);
    }
    int rc = stream_event(a, ev, err);
    json_decref(ev);
    return rc;
}

static int stream_feed(sbx_answer *a, const char *p, size_t n, rt_error *err)
{
    while (n) {
        const char *nl = memchr(p, '\n', n);
        size_t take = nl ? (size_t)(nl - p) : n;
        if (a->buf.len + take > SBX_ANSWER_MAX_LINE)
            return rt_error_set(err, 0, "stream: a line longer than %u MiB",
                                SBX_ANSWER_MAX_LINE >> 20);
        if (rt_buf_append(&a->buf, p, take) < 0)
            return rt_error_set(err, ENOMEM, "stream");
        if (!nl)
            return 0;
        if (stream_line(a, a->buf.data, a->buf.len, err) < 0)
            return -1;
        a->buf.len = 0;        /* the next line reuses the memory */
        p = nl + 1;
        n -= take + 1;
    }
    return 0;
}

int sbx_answer_feed(sbx_answer *a, const char *p, size_t n, rt_error *err)
{
    if (a->stream)
        return stream_feed(a, p, n, err);
    long over = rt_buf_append(&a->buf, p, n);
    if (over < 0)
        return rt_error_set(err, ENOMEM, "answer");
    if (over > 0)
        return rt_error_set(err, 0, "an answer larger than %u MiB", SBX_ANSWER_MAX_BODY >> 20);
    return 0;
}

int sbx_answer_finish(sbx_answer *a, rt_error *err)
{
    if (a->stream) {
        /* The last line may come without its newline. */
        if (a->buf.len && stream_line(a, a->buf.data, a->buf.len, err) < 0)
            return -1;
        a->buf.len = 0;
        return a->result ? 0 : rt_error_set(err, 0, "stream: ended without a result");
    }
    json_error_t je;
    json_t *r = json_loadb(a->buf.data ? a->buf.data : "", a->buf.len, JSON_ALLOW_NUL, &je);
    if (!json_is_object(r)) {
        json_decref(r);
        return rt_error_set(err, 0, "the answer is not a JSON object%s%s", r ? "" : ": ",
                            r ? "" : je.text);
    }
    a->result = r;
    return 0;
}

/* The body's first line, printable ASCII only, for an error that is not ours. */
static void first_line(const char *body, size_t len, char *out, size_t size)
{
    size_t n = 0;
    for (size_t i = 0; i < len && body[i] != '\n' && n + 1 < size && n < 200; i++)
        out[n++] = body[i] >= 0x20 && body[i] < 0x7f ? body[i] : '?';
    out[n] = '\0';
}

void sbx_answer_http_error(long status, const char *body, size_t len, const char *retry_after,
                           char *msg, size_t size)
{
    char retry[64] = "", line[256];
    json_t *j = len ? json_loadb(body, len, JSON_ALLOW_NUL, NULL) : NULL;
    const json_t *e = json_object_get(j, "error");
    const char *code = json_string_value(json_object_get(e, "code"));
    const char *text = json_string_value(json_object_get(e, "message"));
    if (retry_after)
        snprintf(retry, sizeof retry, " (retry after %.20s s)", retry_after);
    if (code && text)
        snprintf(msg, size, "HTTP %ld %s: %s%s", status, code, text, retry);
    else if (len) {
        first_line(body, len, line, sizeof line);
        snprintf(msg, size, "HTTP %ld: %s%s", status, line, retry);
    } else
        snprintf(msg, size, "HTTP %ld with no explanation%s", status, retry);
    json_decref(j);
}

static int print_json(const json_t *result)
{
    cleanup_free char *s = json_dumps(result, JSON_INDENT(2) | JSON_REAL_PRECISION(9));
    if (!s)
        return -1;
    sbx_write_all(1, s, strlen(s));
    sbx_write_all(1, "\n", 1);
    return 0;
}

int sbx_answer_report(const json_t *result, bool json, bool print_output,
                      const rt_limits *asked)
{
    rt_result r;
    rt_error err;
    rt_error_clear(&err);
    if (rt_result_from_json(result, &r, &err) < 0) {
        fprintf(stderr, "sbx exec: the daemon's result is malformed: %s\n", err.msg);
        return SBX_EXIT_SANDBOX;
    }
    int rc = sbx_exit_code(&r);
    if (json) {
        if (print_json(result) < 0) {
            fprintf(stderr, "sbx exec: cannot encode the result\n");
            rc = SBX_EXIT_SANDBOX;
        }
    } else {
        if (print_output) {
            sbx_write_all(1, r.out.data, r.out.len);
            sbx_write_all(2, r.err.data, r.err.len);
        }
        sbx_explain("sbx exec", &r, asked);
    }
    rt_result_free(&r);
    return rc;
}
