/* How sbx workflow shows workflows: live progress from the engine's events,
 * the summary line, the status table, listings and log lines. The events and
 * documents are the same whether they come from the engine in this process or
 * from sandboxd (docs/workflows.md). */
#ifndef SBX_CLI_WORKFLOW_SHOW_H
#define SBX_CLI_WORKFLOW_SHOW_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

/* "12ms", "0.35s", "42.1s", "3m05s", "2h10m". */
void sbx_wf_fmt_duration(double ms, char *buf, size_t len);
/* "$0.0000012", "$0.0123", "$12.34". */
void sbx_wf_fmt_usd(double usd, char *buf, size_t len);

/* Progress on a stream (stderr): one line per step state change. On a
 * terminal, status words are coloured (unless $NO_COLOR is set) and a last
 * line, rewritten in place, shows the running steps and the time spent; on
 * anything else, plain lines only. */
typedef struct sbx_wf_progress {
    FILE *f;
    bool tty;                   /* a terminal: colours and the live line */
    int width;                  /* of the step column */
    const char *approve_hint;   /* after "waiting for approval"; its "%s" is the step */
    json_t *steps;              /* id -> {"status", "items", "ok"} */
    json_t *items;              /* "id[index]" -> the last attempt's status */
    double t0;                  /* monotonic ms at init */
    bool live_shown;            /* the live line is on the screen */
} sbx_wf_progress;

void sbx_wf_progress_init(sbx_wf_progress *p, FILE *f, int width, const char *approve_hint);
/* One event: {"type": "workflow"|"step"|"attempt"|"approval", ...}. */
void sbx_wf_progress_event(sbx_wf_progress *p, const json_t *ev);
/* Redraws the live line (a terminal only). */
void sbx_wf_progress_tick(sbx_wf_progress *p);
/* A line of its own, under the step lines. */
void sbx_wf_progress_note(sbx_wf_progress *p, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Clears the live line and frees p. */
void sbx_wf_progress_free(sbx_wf_progress *p);

/* "squares: succeeded in 0.31s, $0.0000012 (wf_...)" and the workflow's error. */
void sbx_wf_print_summary(FILE *f, const json_t *doc);
/* The workflow's line, then a table of its steps. */
void sbx_wf_print_status(FILE *f, const json_t *doc);
/* A page of GET /v1/workflows as a table, and the next cursor. */
void sbx_wf_print_list(FILE *f, const json_t *page);
/* One event (with "seq" and "time_ms") as a log line. */
void sbx_wf_print_event(FILE *f, const json_t *ev);
/* Each {"path", "message"} of problems as "  path: message". */
void sbx_wf_print_problems(FILE *f, const json_t *problems);
/* v, indented, on stdout. -1 when it cannot be encoded or written. */
int sbx_wf_print_json(const json_t *v);
/* Shows a document and frees it: as JSON (json), else with print, on stdout.
 * The exit status: 0, or 1 when it cannot be encoded. */
int sbx_wf_show(json_t *doc, bool json, void (*print)(FILE *f, const json_t *doc));

/* 0 for a workflow that succeeded, 1 for any other. */
int sbx_wf_exit_status(const json_t *doc);

#endif
