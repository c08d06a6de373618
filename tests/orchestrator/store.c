/* Tests orchestrator/store.c on real SQLite files in a temporary directory:
 * through the API, and through a second SQLite connection where the API
 * cannot show it (schema, journal mode, rows left after a delete, what other
 * connections see of an open transaction). Documents are written with ` for ". */
#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "store.h"
#include "backtick.h"
#include "tap.h"

#define CURSOR_MSG "cursor: not a cursor from a previous page"

static char dir[64];

/* dir/name; a few calls' results stay valid at once. */
static const char *file(const char *name)
{
    static char ring[4][128];
    static int next;
    char *p = ring[next++ % 4];

    snprintf(p, sizeof ring[0], "%s/%s", dir, name);
    return p;
}

static char *dump(const json_t *v)
{
    return v ? json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY | JSON_SORT_KEYS) : strdup("NULL");
}

/* is_str on JSON: got (any value or NULL) against want (test JSON text). */
static void is_json(const json_t *got, const char *want, const char *name)
{
    json_t *w = load(want);
    char *g = dump(got), *ws = dump(w);

    is_str(g, ws, name);
    free(g);
    free(ws);
    json_decref(w);
}

static int64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static orch_store *open_store(const char *name)
{
    orch_store *s = NULL;
    rt_error err = {0};

    if (orch_store_open(file(name), &s, &err) < 0)
        diag("opening %s: %s", name, err.msg);
    return s;
}

static json_t *wf_row(const char *id, const char *status, json_int_t created)
{
    return json_pack("{s:s, s:s, s:s, s:I, s:{s:s, s:[]}, s:{s:i}}", "id", id, "name", "test",
                     "status", status, "created_ms", created, "doc", "name", "test", "steps",
                     "inputs", "n", 1);
}

/* Inserts a small workflow: what orch_store_workflow_insert returns. */
static int insert(orch_store *s, const char *id, const char *status, const char *key,
                  char existing[ORCH_STORE_ID_MAX], rt_error *err)
{
    json_t *row = wf_row(id, status, 1000);
    int rc = orch_store_workflow_insert(s, row, key, existing, err);

    json_decref(row);
    return rc;
}

/* ---- a second connection --------------------------------------------------- */

static sqlite3 *raw_open(const char *path)
{
    sqlite3 *db = NULL;

    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK) {
        diag("raw open %s: %s", path, db ? sqlite3_errmsg(db) : "out of memory");
        sqlite3_close(db);
        return NULL;
    }
    return db;
}

/* The first column of sql's first row as text, or "ERROR: ...". */
static const char *raw_text(const char *path, const char *sql)
{
    static char out[256];
    sqlite3 *db = raw_open(path);
    sqlite3_stmt *q = NULL;

    snprintf(out, sizeof out, "ERROR");
    if (db && sqlite3_prepare_v2(db, sql, -1, &q, NULL) == SQLITE_OK &&
        sqlite3_step(q) == SQLITE_ROW)
        snprintf(out, sizeof out, "%s", (const char *)sqlite3_column_text(q, 0));
    else if (db)
        snprintf(out, sizeof out, "ERROR: %s", sqlite3_errmsg(db));
    sqlite3_finalize(q);
    sqlite3_close(db);
    return out;
}

static long long raw_int(const char *path, const char *sql)
{
    const char *t = raw_text(path, sql);

    if (strncmp(t, "ERROR", 5) == 0) {
        diag("%s: %s", sql, t);
        return -1;
    }
    return atoll(t);
}

static int raw_exec(const char *path, const char *sql)
{
    sqlite3 *db = raw_open(path);
    int rc = db ? sqlite3_exec(db, sql, NULL, NULL, NULL) : SQLITE_CANTOPEN;

    if (rc != SQLITE_OK)
        diag("%s: %s", sql, db ? sqlite3_errmsg(db) : "cannot open");
    sqlite3_close(db);
    return rc;
}

static int mode_of(const char *path)
{
    struct stat st;

    return stat(path, &st) < 0 ? -1 : (int)(st.st_mode & 07777);
}

/* ---- tests --------------------------------------------------------------------- */

static void test_schema(void)
{
    const char *path = file("schema.db");
    char wal[160];
    orch_store *s = open_store("schema.db");
    rt_error err = {0};

    snprintf(wal, sizeof wal, "%s-wal", path);
    ok(s != NULL, "opens a new file");
    if (!s)
        return;
    is_int(mode_of(path), 0600, "the file is 0600 (umask 0)");
    is_int(raw_int(path, "PRAGMA user_version"), 1, "user_version is 1");
    is_int(raw_int(path, "SELECT count(*) FROM sqlite_master WHERE name IN ('workflows', "
                         "'steps', 'attempts', 'events', 'workflows_status')"),
           5, "the four tables and the status index exist");
    is_str(raw_text(path, "PRAGMA journal_mode"), "wal", "another connection sees WAL mode");
    is_int(insert(s, "wf_a", "queued", NULL, NULL, &err), 0, "a first insert");
    ok(access(wal, F_OK) == 0, "the -wal file exists after a write");
    is_int(mode_of(wal), 0600, "the -wal file is 0600 too");
    orch_store_close(s);

    s = open_store("schema.db");
    ok(s != NULL, "reopens");
    json_t *row = s ? orch_store_workflow_get(s, "wf_a", &err) : NULL;
    is_str(json_string_value(json_object_get(row, "id")), "wf_a", "the workflow is still there");
    is_int(raw_int(path, "PRAGMA user_version"), 1, "user_version still 1 after reopening");
    json_decref(row);
    orch_store_close(s);
}

static void test_round_trip(orch_store *s)
{
    rt_error err = {0};
    json_t *row = wf_row("wf_rt", "queued", 1234);
    json_t *doc = load("{`name`: `r\\u00e9sum\\u00e9 \\u2713`, `nested`: {`a`: [1, 2.5, true, "
                       "null, {}], `big`: 9007199254740993, `tenth`: 0.1}, `nul`: `a\\u0000b`}");

    json_object_set_new(row, "doc", doc);
    json_object_set_new(row, "inputs", load("[1, `x`, null]"));
    is_int(orch_store_workflow_insert(s, row, NULL, NULL, &err), 0, "insert");

    json_t *got = orch_store_workflow_get(s, "wf_rt", &err);
    ok(got != NULL, "get");
    is_str(json_string_value(json_object_get(got, "name")), "test", "name");
    is_str(json_string_value(json_object_get(got, "status")), "queued", "status");
    is_int(json_integer_value(json_object_get(got, "created_ms")), 1234, "created_ms");
    is_int(json_integer_value(json_object_get(got, "updated_ms")), 1234,
           "updated_ms is created_ms until an update");
    ok(json_equal(json_object_get(got, "doc"), doc), "doc comes back equal (unicode, NUL, "
                                                     "big integer, real)");
    is_json(json_object_get(got, "inputs"), "[1, `x`, null]", "inputs (not an object)");
    ok(json_is_null(json_object_get(got, "state")), "state null until the first update");
    ok(json_is_null(json_object_get(got, "idempotency_key")), "idempotency_key null");
    is_int(json_object_size(got), 9, "nine keys");
    is_str(raw_text(file("main.db"), "SELECT inputs FROM workflows WHERE id = 'wf_rt'"),
           "[1,\"x\",null]", "stored as compact JSON text");
    json_decref(got);

    is_int(orch_store_workflow_insert(s, row, NULL, NULL, &err), -1, "the same id again fails");
    is_int(err.code, EEXIST, "with EEXIST");
    json_decref(row);

    rt_error_clear(&err);
    ok(orch_store_workflow_get(s, "wf_none", &err) == NULL, "get of an unknown id");
    is_int(err.code, ENOENT, "is ENOENT");
    is_str(err.msg, "reading workflow wf_none: no such workflow", "and says so");

    row = load("{`id`: `wf_bad`, `status`: `queued`, `created_ms`: 1, `doc`: {}, `inputs`: {}}");
    is_int(orch_store_workflow_insert(s, row, NULL, NULL, &err), -1, "a row without a name");
    is_int(err.code, EINVAL, "is EINVAL");
    is_str(err.msg, "saving a workflow: \"name\" is missing", "naming the key");
    json_object_set_new(row, "name", json_string("n"));
    json_object_set_new(row, "created_ms", json_string("1"));
    is_int(orch_store_workflow_insert(s, row, NULL, NULL, &err), -1,
           "created_ms not an integer");
    is_str(err.msg, "saving a workflow: \"created_ms\" has the wrong type", "says so");
    json_object_set_new(row, "created_ms", json_integer(1));
    char id[ORCH_STORE_ID_MAX + 1];
    memset(id, 'w', ORCH_STORE_ID_MAX);
    id[ORCH_STORE_ID_MAX] = '\0';
    json_object_set_new(row, "id", json_string(id));
    is_int(orch_store_workflow_insert(s, row, NULL, NULL, &err), -1, "a 64-byte id");
    is_int(err.code, EINVAL, "is EINVAL");
    id[ORCH_STORE_ID_MAX - 1] = '\0';
    json_object_set_new(row, "id", json_string(id));
    char existing[ORCH_STORE_ID_MAX];
    ok(orch_store_workflow_insert(s, row, "key-long", NULL, &err) == 0 &&
           orch_store_workflow_insert(s, row, "key-long", existing, &err) == 1 &&
           strcmp(existing, id) == 0,
       "a 63-byte id is fine, and fits existing");
    json_decref(row);
}

static void test_idempotency(orch_store *s)
{
    rt_error err = {0};
    char existing[ORCH_STORE_ID_MAX] = "";

    is_int(insert(s, "wf_k1", "queued", "key-1", existing, &err), 0, "a key, the first time");
    is_str(existing, "", "existing untouched");
    is_int(insert(s, "wf_k2", "queued", "key-1", existing, &err), 1, "the same key again: 1");
    is_str(existing, "wf_k1", "with the id of the first");
    json_t *got = orch_store_workflow_get(s, "wf_k2", &err);
    ok(got == NULL && err.code == ENOENT, "and nothing inserted");
    json_decref(got);
    got = orch_store_workflow_get(s, "wf_k1", &err);
    is_str(json_string_value(json_object_get(got, "idempotency_key")), "key-1",
           "get gives the key");
    json_decref(got);
    is_int(insert(s, "wf_k3", "queued", "key-2", existing, &err), 0, "another key");

    int zeros = 0;
    for (int i = 0; i < 3; i++) {
        char id[32];
        snprintf(id, sizeof id, "wf_nokey%d", i);
        zeros += insert(s, id, "queued", NULL, NULL, &err) == 0;
    }
    is_int(zeros, 3, "no key: three inserts, all new");
    is_int(raw_int(file("main.db"), "SELECT count(*) FROM workflows WHERE id LIKE 'wf_nokey%'"),
           3, "three rows");
}

static void test_update(orch_store *s)
{
    rt_error err = {0};
    json_t *state = load("{`step`: 1, `items`: [`a`]}");
    int64_t t0 = now_ms();

    is_int(insert(s, "wf_up", "queued", NULL, NULL, &err), 0, "insert");
    is_int(orch_store_workflow_update(s, "wf_up", "running", state, &err), 0, "update");
    json_t *got = orch_store_workflow_get(s, "wf_up", &err);
    is_str(json_string_value(json_object_get(got, "status")), "running", "status set");
    ok(json_equal(json_object_get(got, "state"), state), "state set");
    ok(json_integer_value(json_object_get(got, "updated_ms")) >= t0, "updated_ms is now");
    is_int(json_integer_value(json_object_get(got, "created_ms")), 1000, "created_ms kept");
    json_decref(got);

    is_int(orch_store_workflow_update(s, "wf_up", "succeeded", NULL, &err), 0,
           "update with no state");
    got = orch_store_workflow_get(s, "wf_up", &err);
    is_str(json_string_value(json_object_get(got, "status")), "succeeded", "status set");
    ok(json_equal(json_object_get(got, "state"), state), "state kept");
    json_decref(got);

    rt_error_clear(&err);
    is_int(orch_store_workflow_update(s, "wf_nope", "running", state, &err), -1,
           "update of an unknown id");
    is_int(err.code, ENOENT, "is ENOENT");
    is_str(err.msg, "updating workflow wf_nope: no such workflow", "and says so");
    json_decref(state);
}

/* The ids of a listing page, comma-separated, and its next_cursor. */
static const char *page_ids(json_t *page, const char **next)
{
    static char buf[1024];
    size_t i, o = 0;
    json_t *w;

    buf[0] = '\0';
    json_array_foreach(json_object_get(page, "workflows"), i, w)
        o += (size_t)snprintf(buf + o, sizeof buf - o, "%s%s", i ? "," : "",
                              json_string_value(json_object_get(w, "id")));
    *next = json_string_value(json_object_get(page, "next_cursor"));
    return buf;
}

/* Every page of a listing joined with "|" between pages. */
static const char *all_pages(orch_store *s, const char *status, unsigned limit, int *pages)
{
    static char out[4096];
    char cursor[64];
    const char *next = NULL;
    size_t o = 0;
    rt_error err = {0};

    out[0] = '\0';
    *pages = 0;
    do {
        json_t *page = orch_store_workflow_list(s, status, limit, next ? cursor : NULL, &err);
        if (!page) {
            diag("listing: %s", err.msg);
            break;
        }
        o += (size_t)snprintf(out + o, sizeof out - o, "%s%s", *pages ? "|" : "",
                              page_ids(page, &next));
        if (next)
            snprintf(cursor, sizeof cursor, "%s", next);
        (*pages)++;
        json_decref(page);
    } while (next && *pages < 100);
    return out;
}

static void test_listing(void)
{
    static const char *const statuses[] = {"queued", "running", "succeeded"};
    static const char *const bad[] = {"zzz", "c", "c0", "c-1", "c12x", "", "c 5",
                                      "c99999999999999999999"};
    orch_store *s = open_store("list.db");
    rt_error err = {0};
    const char *next;
    int pages;

    if (!s) {
        ok(0, "opening list.db");
        return;
    }
    for (int i = 0; i < 7; i++) {
        char id[8];
        snprintf(id, sizeof id, "w%d", i);
        if (insert(s, id, statuses[i % 3], NULL, NULL, &err) < 0)
            diag("insert %s: %s", id, err.msg);
    }
    json_t *page = orch_store_workflow_list(s, NULL, 100, NULL, &err);
    is_str(page_ids(page, &next), "w6,w5,w4,w3,w2,w1,w0", "newest first");
    ok(next == NULL && json_is_null(json_object_get(page, "next_cursor")),
       "next_cursor null on the last page");
    json_t *first = json_array_get(json_object_get(page, "workflows"), 0);
    is_int(json_object_size(first), 5, "a summary has five keys");
    ok(json_object_get(first, "updated_ms") && !json_object_get(first, "doc"),
       "updated_ms, not the document");
    json_decref(page);

    page = orch_store_workflow_list(s, "queued", 100, NULL, &err);
    is_str(page_ids(page, &next), "w6,w3,w0", "status filter");
    json_decref(page);

    is_str(all_pages(s, NULL, 3, &pages), "w6,w5,w4|w3,w2,w1|w0", "pages of 3");
    is_int(pages, 3, "until next_cursor is null");
    is_str(all_pages(s, "queued", 2, &pages), "w6,w3|w0", "pages of 2 of one status");
    is_str(all_pages(s, NULL, 7, &pages), "w6,w5,w4,w3,w2,w1,w0", "a full page");
    is_int(pages, 1, "has no empty page after it");

    page = orch_store_workflow_list(s, NULL, 2, NULL, &err);
    page_ids(page, &next);
    char cursor[64];
    snprintf(cursor, sizeof cursor, "%s", next ? next : "");
    json_decref(page);
    insert(s, "w7", "queued", NULL, NULL, &err);
    page = orch_store_workflow_list(s, NULL, 2, cursor, &err);
    is_str(page_ids(page, &next), "w4,w3", "a cursor continues where it was, whatever came since");
    json_decref(page);

    int refused = 0;
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        rt_error_clear(&err);
        page = orch_store_workflow_list(s, NULL, 10, bad[i], &err);
        if (!page && err.code == EINVAL && strcmp(err.msg, CURSOR_MSG) == 0)
            refused++;
        else
            diag("cursor \"%s\": %s", bad[i], page ? "accepted" : err.msg);
        json_decref(page);
    }
    is_int(refused, (int)(sizeof bad / sizeof *bad), "bad cursors: EINVAL, " CURSOR_MSG);
    ok(!orch_store_workflow_list(s, NULL, 0, NULL, &err) && err.code == EINVAL, "limit 0");
    ok(!orch_store_workflow_list(s, NULL, ORCH_STORE_LIST_MAX + 1, NULL, &err) &&
           err.code == EINVAL, "limit over the maximum");

    const char *const resume[] = {"queued", "running", NULL};
    json_t *ids = orch_store_workflow_ids(s, resume, &err);
    is_json(ids, "[`w0`, `w1`, `w3`, `w4`, `w6`, `w7`]", "ids by statuses, oldest first");
    json_decref(ids);
    const char *const none[] = {"cancelled", NULL};
    ids = orch_store_workflow_ids(s, none, &err);
    is_json(ids, "[]", "ids of a status nobody has");
    json_decref(ids);

    json_t *counts = orch_store_workflow_counts(s, &err);
    is_json(counts, "{`queued`: 4, `running`: 2, `succeeded`: 2}", "counts by status");
    json_decref(counts);
    orch_store_close(s);
}

static void test_steps(orch_store *s)
{
    rt_error err = {0};
    json_t *a = load("{`a`: 0}"), *b = load("{`a`: 1}"), *c = load("{`a`: 2}");
    json_t *b2 = load("{`a`: `new`, `outputs`: [1]}");
    int fails = 0;

    insert(s, "wf_st", "running", NULL, NULL, &err);
    fails += orch_store_step_put(s, "wf_st", 0, a, &err) < 0;
    fails += orch_store_step_put(s, "wf_st", 2, c, &err) < 0;
    fails += orch_store_step_put(s, "wf_st", 1, b, &err) < 0;
    fails += orch_store_step_put(s, "wf_st", 1, b2, &err) < 0;
    is_int(fails, 0, "four puts");
    json_t *steps = orch_store_steps(s, "wf_st", &err);
    is_json(steps, "{`0`: {`a`: 0}, `1`: {`a`: `new`, `outputs`: [1]}, `2`: {`a`: 2}}",
            "steps by index, the replaced one new");
    json_decref(steps);
    steps = orch_store_steps(s, "wf_rt", &err);
    is_json(steps, "{}", "a workflow without steps: {}");
    json_decref(steps);
    rt_error_clear(&err);
    is_int(orch_store_step_put(s, "wf_none", 0, a, &err), -1, "a step of an unknown workflow");
    is_int(err.code, ENOENT, "is ENOENT");
    is_str(err.msg, "saving step 0 of wf_none: no such workflow", "and says so");
    json_decref(a);
    json_decref(b);
    json_decref(c);
    json_decref(b2);
}

static int put_attempt(orch_store *s, unsigned step, unsigned item, unsigned attempt,
                       const char *row)
{
    rt_error err = {0};
    json_t *r = load(row);
    int rc = orch_store_attempt_put(s, "wf_at", step, item, attempt, r, &err);

    if (rc < 0)
        diag("attempt_put: %s", err.msg);
    json_decref(r);
    return rc;
}

static void test_attempts(orch_store *s)
{
    rt_error err = {0};
    int fails = 0;
    int64_t t0 = now_ms();

    insert(s, "wf_at", "running", NULL, NULL, &err);
    fails += put_attempt(s, 1, 0, 1, "{`status`: `running`, `started_ms`: 10}") < 0;
    fails += put_attempt(s, 0, 1, 1, "{`status`: `succeeded`, `started_ms`: 4, "
                                     "`finished_ms`: 5, `result`: {`exit`: 0}}") < 0;
    fails += put_attempt(s, 0, 0, 2, "{`status`: `running`, `started_ms`: 6, "
                                     "`finished_ms`: null, `result`: null}") < 0;
    fails += put_attempt(s, 0, 0, 1, "{`status`: `running`, `started_ms`: 1}") < 0;
    fails += put_attempt(s, 0, 0, 1, "{`status`: `failed`, `started_ms`: 1, `finished_ms`: 3,"
                                     " `result`: `boom`}") < 0;
    is_int(fails, 0, "five puts");

    json_t *all = orch_store_attempts(s, "wf_at", &err);
    is_json(all,
            "[{`step`: 0, `item`: 0, `attempt`: 1, `status`: `failed`, `started_ms`: 1, "
            "  `finished_ms`: 3, `result`: `boom`},"
            " {`step`: 0, `item`: 0, `attempt`: 2, `status`: `running`, `started_ms`: 6, "
            "  `finished_ms`: null, `result`: null},"
            " {`step`: 0, `item`: 1, `attempt`: 1, `status`: `succeeded`, `started_ms`: 4, "
            "  `finished_ms`: 5, `result`: {`exit`: 0}},"
            " {`step`: 1, `item`: 0, `attempt`: 1, `status`: `running`, `started_ms`: 10, "
            "  `finished_ms`: null, `result`: null}]",
            "by step, item, attempt; the replaced one new");
    json_decref(all);

    is_int(orch_store_attempts_interrupt(s, "wf_at", &err), 2, "interrupt: the two running");
    all = orch_store_attempts(s, "wf_at", &err);
    char statuses[128] = "";
    int stamped = 0;
    size_t i;
    json_t *a;
    json_array_foreach(all, i, a) {
        snprintf(statuses + strlen(statuses), sizeof statuses - strlen(statuses), "%s%s",
                 i ? "," : "", json_string_value(json_object_get(a, "status")));
        stamped += strcmp(json_string_value(json_object_get(a, "status")), "interrupted") == 0 &&
                   json_integer_value(json_object_get(a, "finished_ms")) >= t0;
    }
    is_str(statuses, "failed,interrupted,succeeded,interrupted", "only the running changed");
    is_int(stamped, 2, "their finished_ms is now");
    json_decref(all);
    is_int(orch_store_attempts_interrupt(s, "wf_at", &err), 0, "again: none");

    json_t *r = load("{`status`: `running`, `started_ms`: 1}");
    rt_error_clear(&err);
    is_int(orch_store_attempt_put(s, "wf_none", 0, 0, 1, r, &err), -1,
           "an attempt of an unknown workflow");
    is_int(err.code, ENOENT, "is ENOENT");
    json_object_del(r, "status");
    is_int(orch_store_attempt_put(s, "wf_at", 0, 0, 1, r, &err), -1, "a row without status");
    is_int(err.code, EINVAL, "is EINVAL");
    json_decref(r);
}

/* Collects event texts as "seq:text|...", stopping after `stop` of them. */
struct texts {
    char buf[512];
    int stop;
};

static int take_text(void *ctx, int64_t seq, int64_t time_ms, const char *text, size_t len)
{
    struct texts *t = ctx;
    size_t o = strlen(t->buf);
    (void)time_ms;
    snprintf(t->buf + o, sizeof t->buf - o, "%lld:%.*s|", (long long)seq, (int)len, text);
    return --t->stop > 0 ? 0 : 1;
}

static void test_event_texts(orch_store *s)
{
    rt_error err = {0};
    struct texts t = {.stop = 100};
    is_int(orch_store_event_texts(s, "wf_ev1", 1, 100, take_text, &t, &err), 2,
           "event texts after 1: two");
    is_str(t.buf, "2:{\"type\":\"step\",\"n\":2}|3:{\"type\":\"step\",\"n\":4}|",
           "... as stored, compact, with their seq");
    t = (struct texts){.stop = 1};
    is_int(orch_store_event_texts(s, "wf_ev1", 0, 100, take_text, &t, &err), 0,
           "a callback that stops takes none more");
    is_str(t.buf, "1:{\"type\":\"step\",\"n\":0}|", "... after the one it stopped at");
    json_t *e = json_pack("{s:f}", "usd", 1.2345678901234567e-06);
    int64_t seq = 0;
    orch_store_event_append(s, "wf_ev2", e, &seq, &err);
    json_decref(e);
    t = (struct texts){.stop = 100};
    orch_store_event_texts(s, "wf_ev2", seq - 1, 100, take_text, &t, &err);
    is_str(t.buf, "3:{\"usd\":1.23456789e-6}|", "reals are stored to 9 digits, as answered");
    ok(orch_store_event_texts(s, "wf_ev1", 0, 0, take_text, &t, &err) < 0 && err.code == EINVAL,
       "texts limit 0");
}

static void test_events(orch_store *s)
{
    rt_error err = {0};
    int64_t seq, t0 = now_ms();
    char seqs[64] = "";

    insert(s, "wf_ev1", "running", NULL, NULL, &err);
    insert(s, "wf_ev2", "running", NULL, NULL, &err);
    for (int i = 0; i < 5; i++) {
        json_t *e = json_pack("{s:s, s:i}", "type", "step", "n", i);
        seq = -1;
        if (orch_store_event_append(s, i % 2 ? "wf_ev2" : "wf_ev1", e, &seq, &err) < 0)
            diag("append: %s", err.msg);
        snprintf(seqs + strlen(seqs), sizeof seqs - strlen(seqs), "%s%lld", i ? "," : "",
                 (long long)seq);
        json_decref(e);
    }
    is_str(seqs, "1,1,2,2,3", "seq counts per workflow");

    json_t *ev = orch_store_events(s, "wf_ev1", 0, 100, &err);
    is_int(json_array_size(ev), 3, "three events of wf_ev1");
    json_t *e2 = json_array_get(ev, 1);
    is_json(json_object_get(e2, "event"), "{`type`: `step`, `n`: 2}", "the event as appended");
    is_int(json_integer_value(json_object_get(e2, "seq")), 2, "its seq");
    int64_t t = json_integer_value(json_object_get(e2, "time_ms"));
    ok(t >= t0 && t <= now_ms(), "time_ms is when it was appended");
    json_decref(ev);

    ev = orch_store_events(s, "wf_ev1", 1, 100, &err);
    is_int(json_array_size(ev), 2, "after 1: two");
    is_int(json_integer_value(json_object_get(json_array_get(ev, 0), "seq")), 2, "from seq 2");
    json_decref(ev);
    ev = orch_store_events(s, "wf_ev1", 1, 1, &err);
    is_int(json_array_size(ev), 1, "limit 1: one");
    json_decref(ev);
    ev = orch_store_events(s, "wf_ev2", 0, 100, &err);
    is_int(json_array_size(ev), 2, "two events of wf_ev2");
    json_decref(ev);

    json_t *not_object = json_string("x");
    is_int(orch_store_event_append(s, "wf_ev1", not_object, &seq, &err), -1,
           "an event that is not an object");
    is_int(err.code, EINVAL, "is EINVAL");
    json_decref(not_object);
    json_t *e = load("{`type`: `x`}");
    rt_error_clear(&err);
    is_int(orch_store_event_append(s, "wf_none", e, &seq, &err), -1,
           "an event of an unknown workflow");
    is_int(err.code, ENOENT, "is ENOENT");
    json_decref(e);
    ok(!orch_store_events(s, "wf_ev1", 0, 0, &err) && err.code == EINVAL, "events limit 0");
    test_event_texts(s);
}

/* Rows of wf in each table, "steps,attempts,events", by another connection. */
static const char *rows_of(const char *wf)
{
    static char out[64];
    char sql[256];

    snprintf(sql, sizeof sql,
             "SELECT (SELECT count(*) FROM steps WHERE wf = '%s') || ',' || "
             "(SELECT count(*) FROM attempts WHERE wf = '%s') || ',' || "
             "(SELECT count(*) FROM events WHERE wf = '%s')",
             wf, wf, wf);
    snprintf(out, sizeof out, "%s", raw_text(file("main.db"), sql));
    return out;
}

static void fill(orch_store *s, const char *wf)
{
    rt_error err = {0};
    json_t *state = load("{}"), *att = load("{`status`: `running`, `started_ms`: 1}");
    json_t *ev = load("{`type`: `x`}");
    int fails = insert(s, wf, "running", NULL, NULL, &err) < 0;

    for (unsigned i = 0; i < 2; i++) {
        fails += orch_store_step_put(s, wf, i, state, &err) < 0;
        fails += orch_store_attempt_put(s, wf, i, 0, 1, att, &err) < 0;
        fails += orch_store_event_append(s, wf, ev, NULL, &err) < 0;
    }
    if (fails)
        diag("filling %s: %s", wf, err.msg);
    json_decref(state);
    json_decref(att);
    json_decref(ev);
}

static void test_delete(orch_store *s)
{
    rt_error err = {0};

    fill(s, "wf_del");
    fill(s, "wf_keep");
    is_str(rows_of("wf_del"), "2,2,2", "a workflow with steps, attempts and events");
    is_int(orch_store_workflow_delete(s, "wf_del", &err), 0, "delete");
    json_t *got = orch_store_workflow_get(s, "wf_del", &err);
    ok(!got && err.code == ENOENT, "get: ENOENT after");
    json_decref(got);
    is_str(rows_of("wf_del"), "0,0,0", "its steps, attempts and events are gone");
    is_str(rows_of("wf_keep"), "2,2,2", "another workflow's are not");
    rt_error_clear(&err);
    is_int(orch_store_workflow_delete(s, "wf_del", &err), -1, "delete again");
    is_int(err.code, ENOENT, "is ENOENT");

    fill(s, "wf_del2");
    ok(orch_store_begin(s, &err) == 0 && orch_store_workflow_delete(s, "wf_del2", &err) == 0,
       "delete inside a transaction");
    orch_store_rollback(s);
    is_str(rows_of("wf_del2"), "2,2,2", "rolled back: all its rows are back");
    got = orch_store_workflow_get(s, "wf_del2", &err);
    ok(got != NULL, "and the workflow");
    json_decref(got);
}

struct racer {
    orch_store *s;
    const char *id;
    atomic_bool done;
    int rc;
};

static void *insert_thread(void *arg)
{
    struct racer *r = arg;
    rt_error err = {0};

    r->rc = insert(r->s, r->id, "queued", NULL, NULL, &err);
    atomic_store(&r->done, true);
    return NULL;
}

/* Joins within a few seconds rather than hang when a lock was left held. */
static bool join_soon(pthread_t t)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += 10;
    return pthread_timedjoin_np(t, NULL, &ts) == 0;
}

static void test_transactions(orch_store *s)
{
    const char *path = file("main.db");
    rt_error err = {0};
    json_t *state = load("{`x`: 1}");
    json_t *got;

    uint64_t commits = orch_store_commits(s);
    is_int(orch_store_begin(s, &err), 0, "begin");
    is_int(insert(s, "wf_tx1", "queued", NULL, NULL, &err), 0, "insert in it");
    is_int(orch_store_step_put(s, "wf_tx1", 0, state, &err), 0, "step in it");
    is_int(raw_int(path, "SELECT count(*) FROM workflows WHERE id = 'wf_tx1'"), 0,
           "another connection does not see it yet");
    is_int(orch_store_commit(s, &err), 0, "commit");
    is_int((long long)(orch_store_commits(s) - commits), 1, "one commit counted for the two rows");
    is_str(rows_of("wf_tx1"), "1,0,0", "now it sees the step");
    is_int(raw_int(path, "SELECT count(*) FROM workflows WHERE id = 'wf_tx1'"), 1,
           "and the workflow");
    orch_store_workflow_update(s, "wf_tx1", "queued", NULL, &err);
    is_int((long long)(orch_store_commits(s) - commits), 2, "a write outside one counts too");

    is_int(orch_store_begin(s, &err), 0, "begin");
    insert(s, "wf_tx2", "queued", NULL, NULL, &err);
    orch_store_workflow_update(s, "wf_tx1", "running", NULL, &err);
    orch_store_rollback(s);
    got = orch_store_workflow_get(s, "wf_tx2", &err);
    ok(!got && err.code == ENOENT, "rollback: the insert is gone");
    json_decref(got);
    got = orch_store_workflow_get(s, "wf_tx1", &err);
    is_str(json_string_value(json_object_get(got, "status")), "queued",
           "and the update undone");
    json_decref(got);

    is_int(orch_store_begin(s, &err), 0, "begin");
    rt_error_clear(&err);
    is_int(orch_store_begin(s, &err), -1, "begin again: not nested");
    is_int(err.code, EINVAL, "is EINVAL");
    orch_store_rollback(s);
    rt_error_clear(&err);
    is_int(orch_store_commit(s, &err), -1, "commit without begin");
    is_int(err.code, EINVAL, "is EINVAL");
    orch_store_rollback(s); /* without begin: nothing */

    /* A transaction holds the store: another thread's call waits for commit. */
    struct racer r = {.s = s, .id = "wf_tx_thread"};
    pthread_t t;
    is_int(orch_store_begin(s, &err), 0, "begin");
    if (pthread_create(&t, NULL, insert_thread, &r) != 0) {
        ok(0, "pthread_create");
        orch_store_rollback(s);
        json_decref(state);
        return;
    }
    usleep(200 * 1000);
    ok(!atomic_load(&r.done), "another thread waits while the transaction is open");
    is_int(insert(s, "wf_tx3", "queued", NULL, NULL, &err), 0, "this thread goes on");
    is_int(orch_store_commit(s, &err), 0, "commit");
    ok(join_soon(t) && atomic_load(&r.done) && r.rc == 0, "then the other thread's insert runs");

    /* After begin, commit, rollback in every order the lock is free again. */
    struct racer r2 = {.s = s, .id = "wf_tx_after"};
    ok(pthread_create(&t, NULL, insert_thread, &r2) == 0 && join_soon(t) && r2.rc == 0,
       "no lock left held");
    json_decref(state);
}

/* A second connection holds the write lock for a while: the store waits
 * (busy_timeout) instead of failing at once. */
static void *release_later(void *arg)
{
    sqlite3 *db = arg;

    usleep(300 * 1000);
    if (sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
        diag("COMMIT: %s", sqlite3_errmsg(db));
    return NULL;
}

static void test_busy(orch_store *s)
{
    sqlite3 *db = raw_open(file("main.db"));
    rt_error err = {0};
    pthread_t t;

    if (!db || sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK ||
        pthread_create(&t, NULL, release_later, db) != 0) {
        ok(0, "setting up a second writer");
        sqlite3_close(db);
        return;
    }
    int64_t t0 = now_ms();
    int rc = insert(s, "wf_busy", "queued", NULL, NULL, &err);
    int64_t waited = now_ms() - t0;
    if (rc < 0)
        diag("insert: %s", err.msg);
    is_int(rc, 0, "an insert while another connection writes succeeds");
    ok(waited >= 250, "after waiting for it (%lld ms)", (long long)waited);
    ok(join_soon(t), "joined");
    sqlite3_close(db);
}

static void test_refusals(void)
{
    const char *path = file("notdb");
    char text[4096], back[4096];
    orch_store *s = NULL;
    rt_error err = {0};
    FILE *f = fopen(path, "w");

    for (size_t i = 0; i < sizeof text; i++)
        text[i] = "this is not a database\n"[i % 23];
    if (!f || fwrite(text, 1, sizeof text, f) != sizeof text || fclose(f) != 0)
        diag("writing %s", path);
    is_int(orch_store_open(path, &s, &err), -1, "a file that is not SQLite is refused");
    ok(s == NULL, "no store");
    ok(strstr(err.msg, path) && strstr(err.msg, "not a database"), "naming it: %s", err.msg);
    f = fopen(path, "r");
    ok(f && fread(back, 1, sizeof back, f) == sizeof back && memcmp(back, text, sizeof text) == 0,
       "and leaving it as it was");
    if (f)
        fclose(f);

    path = file("v7.db");
    sqlite3 *db = NULL;
    if (sqlite3_open(path, &db) != SQLITE_OK ||
        sqlite3_exec(db, "CREATE TABLE workflows (id TEXT); PRAGMA user_version = 7", NULL, NULL,
                     NULL) != SQLITE_OK)
        diag("making v7.db: %s", sqlite3_errmsg(db));
    sqlite3_close(db);
    is_int(orch_store_open(path, &s, &err), -1, "another schema version is refused");
    ok(strstr(err.msg, "schema version 7, this build reads 1") && strstr(err.msg, path),
       "saying which: %s", err.msg);

    path = file("other.db");
    if (sqlite3_open(path, &db) != SQLITE_OK ||
        sqlite3_exec(db, "CREATE TABLE t (x)", NULL, NULL, NULL) != SQLITE_OK)
        diag("making other.db: %s", sqlite3_errmsg(db));
    sqlite3_close(db);
    is_int(orch_store_open(path, &s, &err), -1, "another program's database is refused");
    ok(strstr(err.msg, "holds other tables") != NULL, "saying so: %s", err.msg);
    is_int(raw_int(path, "SELECT count(*) FROM sqlite_master"), 1, "and left as it was");

    is_int(orch_store_open(dir, &s, &err), -1, "a directory is refused");
    is_int(err.code, EISDIR, "EISDIR");
}

/* SQLite's own errors name what was being done and SQLite's message. */
static void test_db_error(void)
{
    const char *path = file("broken.db");
    orch_store *s = open_store("broken.db");
    rt_error err = {0};
    char want[256];

    if (!s) {
        ok(0, "opening broken.db");
        return;
    }
    insert(s, "wf_x", "running", NULL, NULL, &err);
    raw_exec(path, "DROP TABLE steps");
    json_t *state = load("{}");
    is_int(orch_store_step_put(s, "wf_x", 3, state, &err), -1, "a step_put that SQLite refuses");
    snprintf(want, sizeof want, "saving step 3 of wf_x: no such table: steps (%s)", path);
    is_str(err.msg, want, "what, SQLite's message, the file");
    json_decref(state);
    orch_store_close(s);
}

#define PER_THREAD 200

struct writer {
    orch_store *s;
    int n;
    int failed;
};

static void *writer_thread(void *arg)
{
    struct writer *w = arg;
    json_t *ev = load("{`type`: `t`}");
    rt_error err = {0};

    for (int i = 0; i < PER_THREAD; i++) {
        char id[32];
        snprintf(id, sizeof id, "t%d-%d", w->n, i);
        if (insert(w->s, id, "queued", NULL, NULL, &err) < 0 ||
            orch_store_event_append(w->s, "shared", ev, NULL, &err) < 0) {
            if (!w->failed++)
                diag("thread %d: %s", w->n, err.msg);
        }
    }
    json_decref(ev);
    return NULL;
}

static void test_threads(void)
{
    orch_store *s = open_store("threads.db");
    struct writer w[2];
    pthread_t t[2];
    rt_error err = {0};
    int started = 0;

    if (!s) {
        ok(0, "opening threads.db");
        return;
    }
    insert(s, "shared", "running", NULL, NULL, &err);
    for (int i = 0; i < 2; i++) {
        w[i] = (struct writer){.s = s, .n = i};
        started += pthread_create(&t[i], NULL, writer_thread, &w[i]) == 0;
    }
    is_int(started, 2, "two threads");
    for (int i = 0; i < started; i++)
        join_soon(t[i]);
    is_int(w[0].failed + w[1].failed, 0, "2 x 200 inserts and events, no failure");
    json_t *counts = orch_store_workflow_counts(s, &err);
    is_int(json_integer_value(json_object_get(counts, "queued")), 2 * PER_THREAD,
           "all 400 inserts landed");
    json_decref(counts);
    json_t *ev = orch_store_events(s, "shared", 0, ORCH_STORE_LIST_MAX, &err);
    size_t i, in_order = 0;
    json_t *e;
    json_array_foreach(ev, i, e)
        in_order += json_integer_value(json_object_get(e, "seq")) == (json_int_t)i + 1;
    is_int(json_array_size(ev), 2 * PER_THREAD, "400 events");
    is_int(in_order, 2 * PER_THREAD, "numbered 1 to 400, none twice");
    json_decref(ev);
    orch_store_close(s);
}

#define SUBMITTERS 8
#define PER_SUBMITTER 25

struct submitter {
    orch_store *s;
    pthread_barrier_t *start;
    int n;
    int failed;                 /* of the submissions with their own id */
    int key_rc, dup_rc;         /* the shared key's, the shared id's */
    char key_holder[ORCH_STORE_ID_MAX];
};

static int submit(orch_store *s, const char *id, const char *key, int64_t *seq,
                  char existing[ORCH_STORE_ID_MAX], rt_error *err)
{
    json_t *row = wf_row(id, "queued", 1000), *ev = load("{`type`: `workflow`, `status`: `queued`}");
    int rc = orch_store_workflow_submit(s, row, key, ev, seq, existing, err);

    json_decref(row);
    json_decref(ev);
    return rc;
}

static void *submitter_thread(void *arg)
{
    struct submitter *u = arg;
    rt_error err = {0};
    char id[32];
    int64_t seq = 0;

    pthread_barrier_wait(u->start);
    for (int i = 0; i < PER_SUBMITTER; i++) {
        snprintf(id, sizeof id, "g%d-%d", u->n, i);
        seq = 0;
        if ((submit(u->s, id, NULL, &seq, NULL, &err) != 0 || seq != 1) && !u->failed++)
            diag("submitter %d: %s", u->n, err.msg);
        if (i == PER_SUBMITTER / 2) {
            snprintf(id, sizeof id, "k%d", u->n);
            u->key_rc = submit(u->s, id, "one-key", &seq, u->key_holder, &err);
            if (u->key_rc == 0)
                snprintf(u->key_holder, sizeof u->key_holder, "%s", id);
            u->dup_rc = submit(u->s, "dup", NULL, &seq, NULL, &err);
        }
    }
    return NULL;
}

/* Submissions from many threads at once commit in groups: each gets its own
 * answer, a row that fails fails alone, a key is held once. */
static void test_submit_groups(void)
{
    orch_store *s = open_store("submit.db");
    struct submitter u[SUBMITTERS];
    pthread_t t[SUBMITTERS];
    pthread_barrier_t start;
    rt_error err = {0};
    int started = 0, failed = 0, key_won = 0, key_same = 0, dup_won = 0, dup_failed = 0;
    char status[32];

    if (!s) {
        ok(0, "opening submit.db");
        return;
    }
    pthread_barrier_init(&start, NULL, SUBMITTERS);
    for (int i = 0; i < SUBMITTERS; i++) {
        u[i] = (struct submitter){.s = s, .start = &start, .n = i};
        started += pthread_create(&t[i], NULL, submitter_thread, &u[i]) == 0;
    }
    is_int(started, SUBMITTERS, "8 submitting threads");
    for (int i = 0; i < started; i++)
        join_soon(t[i]);
    pthread_barrier_destroy(&start);
    for (int i = 0; i < SUBMITTERS; i++) {
        failed += u[i].failed;
        key_won += u[i].key_rc == 0;
        dup_won += u[i].dup_rc == 0;
        dup_failed += u[i].dup_rc == -1;
    }
    for (int i = 0; i < SUBMITTERS; i++)
        for (int j = 0; j < SUBMITTERS; j++)
            key_same += u[i].key_rc == 1 && u[j].key_rc == 0 &&
                        strcmp(u[i].key_holder, u[j].key_holder) == 0;
    is_int(failed, 0, "200 submissions with their own ids: each stored, its event seq 1");
    is_int(key_won, 1, "one key in 8 submissions at once: one is stored");
    is_int(key_same, SUBMITTERS - 1, "the other 7 get 1 and the stored one's id");
    ok(dup_won == 1 && dup_failed == SUBMITTERS - 1, "one id in 8 submissions: one stored, 7 fail");
    json_t *counts = orch_store_workflow_counts(s, &err);
    is_int(json_integer_value(json_object_get(counts, "queued")),
           SUBMITTERS * PER_SUBMITTER + 2, "every row stored is in the table");
    json_decref(counts);
    json_t *ev = orch_store_events(s, "g3-7", 0, 10, &err);
    json_object_del(json_array_get(ev, 0), "time_ms");
    is_json(ev, "[{`seq`: 1, `event`: {`type`: `workflow`, `status`: `queued`}}]",
            "a submission's first event");
    json_decref(ev);
    is_int(orch_store_workflow_status(s, "g3-7", status, sizeof status, &err), 0, "status");
    is_str(status, "queued", "the stored status");
    ok(orch_store_workflow_status(s, "nope", status, sizeof status, &err) == -1 &&
           err.code == ENOENT, "status of no workflow: ENOENT");
    json_t *row = wf_row("g-bad", "queued", 1000), *bad = json_string("x");
    ok(orch_store_workflow_submit(s, row, NULL, bad, NULL, NULL, &err) == -1 && err.code == EINVAL,
       "an event that is not an object is refused");
    json_decref(row);
    json_decref(bad);
    orch_store_close(s);
}

/* The nice value of this process's thread named name, or 100 when none is. */
static int thread_nice(const char *name)
{
    DIR *d = opendir("/proc/self/task");
    struct dirent *de;
    int nice = 100;

    while (d && nice == 100 && (de = readdir(d))) {
        char path[64], comm[32] = "", stat[1024];
        FILE *f;
        snprintf(path, sizeof path, "/proc/self/task/%.20s/comm", de->d_name);
        if ((f = fopen(path, "r"))) {
            if (!fgets(comm, sizeof comm, f))
                comm[0] = '\0';
            fclose(f);
        }
        comm[strcspn(comm, "\n")] = '\0';
        if (strcmp(comm, name) != 0)
            continue;
        snprintf(path, sizeof path, "/proc/self/task/%.20s/stat", de->d_name);
        if ((f = fopen(path, "r"))) {
            /* after "(comm) ": state is field 3, nice field 19 */
            const char *p = fgets(stat, sizeof stat, f) ? strrchr(stat, ')') : NULL;
            int field = 2;
            for (; p && *p && field < 19; p++)
                field += *p == ' ';
            if (p && field == 19)
                nice = atoi(p);
            fclose(f);
        }
    }
    if (d)
        closedir(d);
    return nice;
}

/* Submissions are committed by a thread of the store's own, above the
 * priority of the threads that submit (a burst of them otherwise starved it). */
static void test_committer_priority(void)
{
    orch_store *s = open_store("prio.db");
    if (!s) {
        ok(0, "opening prio.db");
        return;
    }
    int nice = 100;
    for (int i = 0; i < 100 && nice == 100; i++) {   /* the thread names itself */
        nice = thread_nice("sbx-store");
        if (nice == 100)
            usleep(10000);
    }
    /* Ten above this thread's, where this process may raise a priority. */
    int base = getpriority(PRIO_PROCESS, 0), want = base;
    if (setpriority(PRIO_PROCESS, 0, base > -10 ? base - 10 : -20) == 0) {
        want = base > -10 ? base - 10 : -20;
        (void)setpriority(PRIO_PROCESS, 0, base);
    }
    is_int(nice, want, "the committer thread (sbx-store) runs ten steps above its opener, "
                       "where it may");
    orch_store_close(s);
    is_int(thread_nice("sbx-store"), 100, "closing the store ends the committer thread");
}

static void remove_dir(void)
{
    DIR *d = opendir(dir);
    struct dirent *de;

    while (d && (de = readdir(d)))
        if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
            unlink(file(de->d_name));
    if (d)
        closedir(d);
    rmdir(dir);
}

int main(void)
{
    snprintf(dir, sizeof dir, "/tmp/store-test-XXXXXX");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    /* So that the mode test sees the mode the store asks for, not the umask's. */
    umask(0);

    test_schema();
    orch_store *s = open_store("main.db");
    if (s) {
        test_round_trip(s);
        test_idempotency(s);
        test_update(s);
        test_steps(s);
        test_attempts(s);
        test_events(s);
        test_delete(s);
        test_transactions(s);
        test_busy(s);
        orch_store_close(s);
    } else {
        ok(0, "opening main.db");
    }
    test_listing();
    test_refusals();
    test_db_error();
    test_threads();
    test_submit_groups();
    test_committer_priority();
    remove_dir();
    return tap_done();
}
