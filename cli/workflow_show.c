#include "workflow_show.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "outcome.h"

#define STATUS_W 9             /* "cancelled", "retrying", "succeeded" */

static double mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

void sbx_wf_fmt_duration(double ms, char *buf, size_t len)
{
    if (ms < 0)
        ms = 0;
    if (ms < 100)
        snprintf(buf, len, "%.0fms", ms);
    else if (ms < 10000)
        snprintf(buf, len, "%.2fs", ms / 1000);
    else if (ms < 60000)
        snprintf(buf, len, "%.1fs", ms / 1000);
    else if (ms < 3600000)
        snprintf(buf, len, "%dm%02ds", (int)(ms / 60000), (int)(ms / 1000) % 60);
    else
        snprintf(buf, len, "%dh%02dm", (int)(ms / 3600000), (int)(ms / 60000) % 60);
}

void sbx_wf_fmt_usd(double usd, char *buf, size_t len)
{
    snprintf(buf, len, usd < 0.01 ? "$%.7f" : usd < 100 ? "$%.4f" : "$%.2f", usd);
}

static const char *str(const json_t *o, const char *key)
{
    return json_string_value(json_object_get(o, key));
}

static bool colours(FILE *f)
{
    const char *term = getenv("TERM"), *no = getenv("NO_COLOR");
    return isatty(fileno(f)) && !(no && *no) && !(term && strcmp(term, "dumb") == 0);
}

/* The SGR colour of a status word. */
static const char *sgr(const char *status)
{
    static const struct { const char *word, *code; } map[] = {
        {"ok", "32"}, {"succeeded", "32"}, {"approved", "32"},
        {"failed", "31"}, {"timed_out", "31"}, {"budget_exceeded", "31"}, {"rejected", "31"},
        {"cancelled", "33"}, {"waiting", "33"}, {"retrying", "33"},
        {"running", "36"}, {"skipped", "2"},
    };
    for (size_t i = 0; i < sizeof map / sizeof *map; i++)
        if (strcmp(status, map[i].word) == 0)
            return map[i].code;
    return NULL;
}

/* status padded to width, coloured when colour is on. */
static void put_status(FILE *f, bool colour, const char *status, int width)
{
    const char *c = colour ? sgr(status) : NULL;
    int pad = width - (int)strlen(status);
    fprintf(f, "%s%s%s%s", c ? "\033[" : "", c ? c : "", c ? "m" : "", status);
    fprintf(f, "%s%*s", c ? "\033[0m" : "", pad > 0 ? pad : 0, "");
}

/* s on one line: control characters (newlines of an error) become spaces. */
static void put_line_text(FILE *f, const char *s)
{
    for (; s && *s; s++)
        fputc((unsigned char)*s < 0x20 || *s == 0x7f ? ' ' : *s, f);
}

/* Appends "  text" to buf (at *n). */
static void add(char *buf, size_t len, size_t *n, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void add(char *buf, size_t len, size_t *n, const char *fmt, ...)
{
    va_list ap;
    if (*n >= len)
        return;
    if (*n) {
        snprintf(buf + *n, len - *n, "  ");
        *n = strlen(buf);
    }
    va_start(ap, fmt);
    vsnprintf(buf + *n, len - *n, fmt, ap);
    va_end(ap);
    *n = strlen(buf);
}

/* Appends the duration and the cost, each when it is a number. */
static void add_duration_usd(char *buf, size_t len, size_t *n, const json_t *ms,
                             const json_t *usd)
{
    char text[32];
    if (json_is_number(ms)) {
        sbx_wf_fmt_duration(json_number_value(ms), text, sizeof text);
        add(buf, len, n, "%s", text);
    }
    if (json_is_number(usd)) {
        sbx_wf_fmt_usd(json_number_value(usd), text, sizeof text);
        add(buf, len, n, "%s", text);
    }
}

/* ---- progress ---- */

void sbx_wf_progress_init(sbx_wf_progress *p, FILE *f, int width, const char *approve_hint)
{
    *p = (sbx_wf_progress){.f = f, .width = width, .approve_hint = approve_hint};
    p->tty = colours(f);
    p->steps = json_object();
    p->items = json_object();
    p->t0 = mono_ms();
}

static void clear_live(sbx_wf_progress *p)
{
    if (p->live_shown)
        fputs("\r\033[K", p->f);
    p->live_shown = false;
}

static void line(sbx_wf_progress *p, const char *who, const char *status, const char *detail)
{
    clear_live(p);
    fprintf(p->f, "%-*s  ", p->width, who);
    put_status(p->f, p->tty, status, detail && *detail ? STATUS_W : 0);
    if (detail && *detail) {
        fputs("  ", p->f);
        put_line_text(p->f, detail);
    }
    fputc('\n', p->f);
    fflush(p->f);
}

void sbx_wf_progress_note(sbx_wf_progress *p, const char *fmt, ...)
{
    va_list ap;
    clear_live(p);
    va_start(ap, fmt);
    vfprintf(p->f, fmt, ap);
    va_end(ap);
    fputc('\n', p->f);
    fflush(p->f);
}

/* The tracked state of a step: {"status", "items" (-1: no fan-out), "ok"}. */
static json_t *tracked(sbx_wf_progress *p, const char *id)
{
    json_t *t = json_object_get(p->steps, id);
    if (!t && (t = json_pack("{s:s,s:i,s:i}", "status", "pending", "items", -1, "ok", 0)) &&
        json_object_set_new(p->steps, id, t) < 0)
        t = NULL;
    return t;
}

static json_int_t tracked_int(const json_t *t, const char *key)
{
    return json_integer_value(json_object_get(t, key));
}

static void step_event(sbx_wf_progress *p, const json_t *ev)
{
    const char *id = str(ev, "step"), *status = str(ev, "status");
    json_t *t = id && status ? tracked(p, id) : NULL;
    char detail[1536] = "";
    size_t n = 0;
    if (!t)
        return;
    if (json_is_integer(json_object_get(ev, "items")))
        json_object_set(t, "items", json_object_get(ev, "items"));
    if (strcmp(status, "running") == 0 && strcmp(str(t, "status"), "running") != 0)
        json_object_set_new(t, "ok", json_integer(0));   /* (re)started */
    json_object_set_new(t, "status", json_string(status));
    if (strcmp(status, "pending") == 0) {
        if (strcmp(str(ev, "approval") ?: "", "waiting") == 0) {
            /* The hint's "%s" is the step's id. */
            const char *h = p->approve_hint ? p->approve_hint : "";
            const char *at = strstr(h, "%s");
            int before = at ? (int)(at - h) : (int)strlen(h);
            snprintf(detail, sizeof detail, "for approval%s%.*s%s%s", *h ? " " : "", before, h,
                     at ? id : "", at ? at + 2 : "");
            line(p, id, "waiting", detail);
        }
        return;
    }
    if (tracked_int(t, "items") >= 0)
        add(detail, sizeof detail, &n, "%lld/%lld", (long long)tracked_int(t, "ok"),
            (long long)tracked_int(t, "items"));
    /* A step that never ran has no duration and costs nothing: neither is shown. */
    const json_t *ms = json_object_get(ev, "duration_ms"),
                 *usd = json_object_get(json_object_get(ev, "cost"), "usd");
    if (strcmp(status, "skipped") != 0 && (ms || json_number_value(usd) > 0))
        add_duration_usd(detail, sizeof detail, &n, ms, usd);
    if (str(ev, "error"))
        add(detail, sizeof detail, &n, "%s", str(ev, "error"));
    line(p, id, status, detail);
}

static void attempt_event(sbx_wf_progress *p, const json_t *ev)
{
    const char *id = str(ev, "step"), *status = str(ev, "status");
    const json_t *index = json_object_get(ev, "index");
    json_int_t no = json_integer_value(json_object_get(ev, "attempt"));
    char who[128], detail[256];
    if (!id || !status)
        return;
    if (json_is_integer(index))
        snprintf(who, sizeof who, "%s[%lld]", id, (long long)json_integer_value(index));
    else
        snprintf(who, sizeof who, "%s", id);
    if (strcmp(status, "running") == 0) {
        const char *before = str(p->items, who);
        if (no > 1 && before) {
            snprintf(detail, sizeof detail, "attempt %lld, after %s", (long long)no, before);
            line(p, who, "retrying", detail);
        }
        return;
    }
    json_object_set_new(p->items, who, json_string(status));
    json_t *t = tracked(p, id);
    if (t && strcmp(status, "ok") == 0 && !json_object_get(ev, "error"))
        json_object_set_new(t, "ok", json_integer(tracked_int(t, "ok") + 1));
}

void sbx_wf_progress_event(sbx_wf_progress *p, const json_t *ev)
{
    const char *type = str(ev, "type");
    if (!type)
        return;
    if (strcmp(type, "step") == 0) {
        step_event(p, ev);
    } else if (strcmp(type, "attempt") == 0) {
        attempt_event(p, ev);
    } else if (strcmp(type, "approval") == 0 && str(ev, "step") && str(ev, "decision")) {
        line(p, str(ev, "step"), str(ev, "decision"), str(ev, "comment"));
    } else if (strcmp(type, "workflow") == 0 && json_object_get(ev, "run") &&
               strcmp(str(ev, "status") ?: "", "queued") == 0) {
        sbx_wf_progress_note(p, "queued again (run %lld)",
                             (long long)json_integer_value(json_object_get(ev, "run")));
    }
    sbx_wf_progress_tick(p);
}

static int term_width(FILE *f)
{
    struct winsize ws;
    if (ioctl(fileno(f), TIOCGWINSZ, &ws) == 0 && ws.ws_col > 20)
        return ws.ws_col;
    return 80;
}

void sbx_wf_progress_tick(sbx_wf_progress *p)
{
    char text[1024], d[32];
    size_t n;
    const char *id;
    json_t *t;
    if (!p->tty)
        return;
    sbx_wf_fmt_duration(mono_ms() - p->t0, d, sizeof d);
    snprintf(text, sizeof text, "[%s]", d);
    n = strlen(text);
    const char *sep = " running: ";
    json_object_foreach(p->steps, id, t) {
        if (strcmp(str(t, "status"), "running") != 0 || n >= sizeof text)
            continue;
        if (tracked_int(t, "items") >= 0)
            snprintf(text + n, sizeof text - n, "%s%s %lld/%lld", sep, id,
                     (long long)tracked_int(t, "ok"), (long long)tracked_int(t, "items"));
        else
            snprintf(text + n, sizeof text - n, "%s%s", sep, id);
        n = strlen(text);
        sep = ", ";
    }
    int w = term_width(p->f) - 1;
    if ((int)n > w)
        snprintf(text + w - 3, sizeof text - (size_t)(w - 3), "...");
    fprintf(p->f, "\r\033[K\033[2m%s\033[0m", text);
    fflush(p->f);
    p->live_shown = true;
}

void sbx_wf_progress_free(sbx_wf_progress *p)
{
    clear_live(p);
    fflush(p->f);
    json_decref(p->steps);
    json_decref(p->items);
    p->steps = p->items = NULL;
}

/* ---- documents ---- */

int sbx_wf_exit_status(const json_t *doc)
{
    return strcmp(str(doc, "status") ?: "", "succeeded") == 0 ? 0 : 1;
}

void sbx_wf_print_summary(FILE *f, const json_t *doc)
{
    char d[32] = "", usd[32] = "";
    const char *error = str(doc, "error");
    const json_t *ms = json_object_get(doc, "duration_ms"),
                 *cost = json_object_get(json_object_get(doc, "cost"), "usd");
    if (json_is_number(ms))
        sbx_wf_fmt_duration(json_number_value(ms), d, sizeof d);
    if (json_is_number(cost))
        sbx_wf_fmt_usd(json_number_value(cost), usd, sizeof usd);
    fprintf(f, "%s: ", str(doc, "name") ?: "workflow");
    put_status(f, colours(f), str(doc, "status") ?: "?", 0);
    fprintf(f, "%s%s%s%s (%s)", *d ? " in " : "", d, *usd ? ", " : "", usd,
            str(doc, "id") ?: "?");
    if (error) {
        fputs(": ", f);
        put_line_text(f, error);
    }
    fputc('\n', f);
    fflush(f);
}

/* A step's status for the table: "ok 3/4" for fan-out, "waiting" for approval. */
static void step_status(const json_t *st, char *buf, size_t len, json_int_t *attempts)
{
    const json_t *items = json_object_get(st, "items");
    const char *status = str(st, "status") ?: "?";
    if (strcmp(str(json_object_get(st, "approval"), "state") ?: "", "waiting") == 0 &&
        strcmp(status, "pending") == 0)
        status = "waiting";
    *attempts = json_integer_value(json_object_get(st, "attempts"));
    if (!json_is_true(json_object_get(st, "fan_out"))) {
        snprintf(buf, len, "%s", status);
        return;
    }
    size_t i, ok = 0;
    json_t *it;
    json_array_foreach(items, i, it) {
        ok += strcmp(str(it, "status") ?: "", "ok") == 0;
        *attempts += json_integer_value(json_object_get(it, "attempts"));
    }
    snprintf(buf, len, "%s %zu/%zu", status, ok, json_array_size(items));
}

static void step_row(FILE *f, bool colour, int width, const char *id, const json_t *st)
{
    char status[64], dur[32] = "", usd[32] = "";
    json_int_t attempts;
    step_status(st, status, sizeof status, &attempts);
    const json_t *s0 = json_object_get(st, "started_ms"), *s1 = json_object_get(st, "finished_ms");
    if (json_is_integer(s0) && json_is_integer(s1))
        sbx_wf_fmt_duration((double)(json_integer_value(s1) - json_integer_value(s0)), dur,
                            sizeof dur);
    const json_t *cost = json_object_get(json_object_get(st, "cost"), "usd");
    if (json_is_number(cost) && attempts > 0)
        sbx_wf_fmt_usd(json_number_value(cost), usd, sizeof usd);
    /* The word is coloured, the count after it is not. */
    size_t word = strcspn(status, " ");
    char w[32];
    snprintf(w, sizeof w, "%.*s", (int)word, status);
    fprintf(f, "%-*s  ", width, id);
    put_status(f, colour, w, 0);
    const char *error = str(st, "error");
    fprintf(f, "%-*s  %-8lld  %-8s  %-*s", 14 - (int)word, status + word, (long long)attempts,
            dur, error ? 10 : 0, usd);
    if (error) {
        fputs("  ", f);
        put_line_text(f, error);
    }
    fputc('\n', f);
}

void sbx_wf_print_status(FILE *f, const json_t *doc)
{
    bool colour = colours(f);
    const json_t *steps = json_object_get(doc, "steps");
    const char *id;
    json_t *st;
    int width = 4;
    json_object_foreach((json_t *)steps, id, st) {
        int n = (int)strlen(id);
        width = n > width ? n : width;
    }
    fprintf(f, "%s  %s  ", str(doc, "id") ?: "?", str(doc, "name") ?: "?");
    put_status(f, colour, str(doc, "status") ?: "?", 0);
    char detail[128] = "";
    size_t n = 0;
    add_duration_usd(detail, sizeof detail, &n, json_object_get(doc, "duration_ms"),
                     json_object_get(json_object_get(doc, "cost"), "usd"));
    fprintf(f, "%s%s\n", *detail ? "  " : "", detail);
    if (str(doc, "error")) {
        fputs("error: ", f);
        put_line_text(f, str(doc, "error"));
        fputc('\n', f);
    }
    fprintf(f, "%-*s  %-14s  %-8s  %-8s  %-10s  %s\n", width, "STEP", "STATUS", "ATTEMPTS",
            "DURATION", "COST", "ERROR");
    json_object_foreach((json_t *)steps, id, st)
        step_row(f, colour, width, id, st);
}

static void fmt_time(json_int_t ms, char *buf, size_t len, bool with_date)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    if (!localtime_r(&t, &tm)) {
        snprintf(buf, len, "?");
        return;
    }
    if (with_date)
        strftime(buf, len, "%Y-%m-%d %H:%M:%S", &tm);
    else
        snprintf(buf, len, "%02d:%02d:%02d.%03d", tm.tm_hour, tm.tm_min, tm.tm_sec,
                 (int)(ms % 1000));
}

void sbx_wf_print_list(FILE *f, const json_t *page)
{
    const json_t *list = json_object_get(page, "workflows");
    bool colour = colours(f);
    size_t i;
    json_t *w;
    int idw = 2, namew = 4;
    json_array_foreach(list, i, w) {
        int a = (int)strlen(str(w, "id") ?: ""), b = (int)strlen(str(w, "name") ?: "");
        idw = a > idw ? a : idw;
        namew = b > namew ? b : namew;
    }
    if (!json_array_size(list)) {
        fputs("no workflows\n", f);
    } else {
        fprintf(f, "%-*s  %-*s  %-15s  %s\n", idw, "ID", namew, "NAME", "STATUS", "CREATED");
        json_array_foreach(list, i, w) {
            char created[32];
            fmt_time(json_integer_value(json_object_get(w, "created_ms")), created,
                     sizeof created, true);
            fprintf(f, "%-*s  %-*s  ", idw, str(w, "id") ?: "?", namew, str(w, "name") ?: "?");
            put_status(f, colour, str(w, "status") ?: "?", 15);
            fprintf(f, "  %s\n", created);
        }
    }
    if (str(page, "next_cursor"))
        fprintf(f, "more: sbx workflow list --cursor %s\n", str(page, "next_cursor"));
}

/* An event's words after the time. */
static void event_text(const json_t *ev, char *buf, size_t len)
{
    const char *type = str(ev, "type") ?: "?", *status = str(ev, "status");
    const json_t *index = json_object_get(ev, "index");
    size_t n = 0;
    buf[0] = '\0';
    if (strcmp(type, "attempt") == 0) {
        char who[160] = "";
        if (json_is_integer(index))
            snprintf(who, sizeof who, "[%lld]", (long long)json_integer_value(index));
        add(buf, len, &n, "attempt %s%s #%lld %s", str(ev, "step") ?: "?", who,
            (long long)json_integer_value(json_object_get(ev, "attempt")), status ?: "?");
        add_duration_usd(buf, len, &n, json_object_get(ev, "duration_ms"),
                         json_object_get(ev, "usd"));
    } else if (strcmp(type, "approval") == 0) {
        add(buf, len, &n, "approval %s %s", str(ev, "step") ?: "?", str(ev, "decision") ?: "?");
        if (str(ev, "comment"))
            add(buf, len, &n, "%s", str(ev, "comment"));
    } else if (strcmp(type, "step") == 0 || strcmp(type, "workflow") == 0) {
        bool step = type[0] == 's';
        add(buf, len, &n, "%s%s%s %s", type, step ? " " : "", step ? str(ev, "step") ?: "?" : "",
            status ?: "?");
        if (json_is_integer(json_object_get(ev, "items")))
            add(buf, len, &n, "%lld items",
                (long long)json_integer_value(json_object_get(ev, "items")));
        if (strcmp(str(ev, "approval") ?: "", "waiting") == 0)
            add(buf, len, &n, "waiting for approval");
        if (json_is_integer(json_object_get(ev, "run")))
            add(buf, len, &n, "run %lld", (long long)json_integer_value(json_object_get(ev, "run")));
        add_duration_usd(buf, len, &n, json_object_get(ev, "duration_ms"),
                         json_object_get(json_object_get(ev, "cost"), "usd"));
    } else {
        char *s = json_dumps(ev, JSON_COMPACT);
        add(buf, len, &n, "%s", s ? s : "?");
        free(s);
        return;
    }
    if (str(ev, "error"))
        add(buf, len, &n, "%s", str(ev, "error"));
}

void sbx_wf_print_event(FILE *f, const json_t *ev)
{
    char when[32], text[2048];
    fmt_time(json_integer_value(json_object_get(ev, "time_ms")), when, sizeof when, false);
    event_text(ev, text, sizeof text);
    fprintf(f, "%s  ", when);
    put_line_text(f, text);
    fputc('\n', f);
}

void sbx_wf_print_problems(FILE *f, const json_t *problems)
{
    size_t i;
    json_t *q;
    json_array_foreach(problems, i, q) {
        const char *path = str(q, "path");
        fprintf(f, "  %s: ", path && *path ? path : "(the document)");
        put_line_text(f, str(q, "message") ?: "?");
        fputc('\n', f);
    }
}

int sbx_wf_print_json(const json_t *v)
{
    char *s = json_dumps(v, JSON_INDENT(2) | JSON_REAL_PRECISION(9));
    if (!s)
        return -1;
    sbx_write_all(1, s, strlen(s));
    sbx_write_all(1, "\n", 1);
    free(s);
    return 0;
}

int sbx_wf_show(json_t *doc, bool json, void (*print)(FILE *f, const json_t *doc))
{
    int rc = 0;
    if (json)
        rc = sbx_wf_print_json(doc) < 0 ? 1 : 0;
    else
        print(stdout, doc);
    json_decref(doc);
    return rc;
}
