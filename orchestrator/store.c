/* The orchestrator's state store (store.h): one SQLite connection, its
 * statements prepared once at open, guarded by one recursive mutex.
 *
 * Durability: WAL with synchronous=NORMAL. A commit is in the WAL (in the page
 * cache) before the call returns, so the daemon may be killed at any moment
 * and lose nothing it was told is saved. A power loss or an OS crash may lose
 * the last commits since the WAL was last synced (at checkpoints), never
 * corrupt the file: FULL would fsync on every commit, a price every step
 * would pay for a failure the daemon survives anyway by re-running steps.
 *
 * The connection is opened without SQLite's own mutex (NOMUTEX): the store's
 * mutex already serialises every use of it, and must, because a transaction
 * spans several calls. */
#include "store.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <semaphore.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "cleanup.h"

#define SCHEMA_VERSION 1
#define BUSY_TIMEOUT_MS 5000
#define WHAT 512 /* "saving step 3 of wf_x" and the like */

/* seq is the rowid, AUTOINCREMENT: never reused, even after the newest
 * workflow is deleted, so a listing cursor ("before seq N") always means the
 * same place. id is UNIQUE rather than the primary key for that reason; the
 * rows carry whole documents, which suit a rowid table.
 * The other tables are read and written only by workflow, in key order:
 * WITHOUT ROWID keeps a workflow's rows together in one b-tree (no second
 * index for the primary key). Their rows go with their workflow's (ON DELETE
 * CASCADE, foreign_keys is on), so a delete is one statement, atomic on its
 * own and inside a caller's transaction alike. */
static const char schema_sql[] =
    "CREATE TABLE workflows ("
    " seq INTEGER PRIMARY KEY AUTOINCREMENT,"
    " id TEXT NOT NULL UNIQUE,"
    " idempotency_key TEXT UNIQUE,"
    " name TEXT NOT NULL,"
    " status TEXT NOT NULL,"
    " created_ms INTEGER NOT NULL,"
    " updated_ms INTEGER NOT NULL,"
    " doc TEXT NOT NULL,"
    " inputs TEXT NOT NULL,"
    " state TEXT);"
    "CREATE INDEX workflows_status ON workflows (status, seq);"
    "CREATE TABLE steps ("
    " wf TEXT NOT NULL REFERENCES workflows (id) ON DELETE CASCADE,"
    " idx INTEGER NOT NULL,"
    " state TEXT NOT NULL,"
    " PRIMARY KEY (wf, idx)) WITHOUT ROWID;"
    "CREATE TABLE attempts ("
    " wf TEXT NOT NULL REFERENCES workflows (id) ON DELETE CASCADE,"
    " step INTEGER NOT NULL,"
    " item INTEGER NOT NULL,"
    " attempt INTEGER NOT NULL,"
    " status TEXT NOT NULL,"
    " started_ms INTEGER NOT NULL,"
    " finished_ms INTEGER,"
    " result TEXT,"
    " PRIMARY KEY (wf, step, item, attempt)) WITHOUT ROWID;"
    "CREATE TABLE events ("
    " wf TEXT NOT NULL REFERENCES workflows (id) ON DELETE CASCADE,"
    " seq INTEGER NOT NULL,"
    " time_ms INTEGER NOT NULL,"
    " event TEXT NOT NULL,"
    " PRIMARY KEY (wf, seq)) WITHOUT ROWID;";

enum q {
    Q_BEGIN,
    Q_COMMIT,
    Q_ROLLBACK,
    Q_WF_BY_KEY,
    Q_WF_INSERT,
    Q_WF_UPDATE,
    Q_WF_GET,
    Q_WF_STATUS,
    Q_WF_LIST,
    Q_WF_LIST_STATUS,
    Q_WF_IDS,
    Q_WF_COUNTS,
    Q_WF_DELETE,
    Q_STEP_PUT,
    Q_STEPS,
    Q_ATTEMPT_PUT,
    Q_ATTEMPTS,
    Q_ATTEMPTS_INTERRUPT,
    Q_EVENT_LAST,
    Q_EVENT_INSERT,
    Q_EVENTS,
    Q_COUNT
};

/* Each statement with how to read its columns into JSON (row_value): t text,
 * i integer, j a JSON document, - not returned. Keys are the column names. */
static const struct {
    const char *sql;
    const char *cols;
} queries[Q_COUNT] = {
    [Q_BEGIN] = {"BEGIN IMMEDIATE", ""},
    [Q_COMMIT] = {"COMMIT", ""},
    [Q_ROLLBACK] = {"ROLLBACK", ""},
    [Q_WF_BY_KEY] = {"SELECT id FROM workflows WHERE idempotency_key = ?1", "t"},
    [Q_WF_INSERT] = {"INSERT INTO workflows (id, idempotency_key, name, status, created_ms,"
                     " updated_ms, doc, inputs) VALUES (?1, ?2, ?3, ?4, ?5, ?5, ?6, ?7)",
                     ""},
    /* NULL keeps the status or the state as it is. */
    [Q_WF_UPDATE] = {"UPDATE workflows SET status = coalesce(?2, status), updated_ms = ?3,"
                     " state = coalesce(?4, state) WHERE id = ?1",
                     ""},
    [Q_WF_GET] = {"SELECT id, name, status, created_ms, updated_ms, doc, inputs, state,"
                  " idempotency_key FROM workflows WHERE id = ?1",
                  "tttiijjjt"},
    [Q_WF_STATUS] = {"SELECT status FROM workflows WHERE id = ?1", "t"},
    [Q_WF_LIST] = {"SELECT seq, id, name, status, created_ms, updated_ms FROM workflows"
                   " WHERE seq < ?1 ORDER BY seq DESC LIMIT ?2",
                   "-tttii"},
    [Q_WF_LIST_STATUS] = {"SELECT seq, id, name, status, created_ms, updated_ms FROM workflows"
                          " WHERE status = ?3 AND seq < ?1 ORDER BY seq DESC LIMIT ?2",
                          "-tttii"},
    /* The statuses come as one JSON array: one statement for any number of them. */
    [Q_WF_IDS] = {"SELECT id FROM workflows WHERE status IN (SELECT value FROM json_each(?1))"
                  " ORDER BY seq",
                  "t"},
    [Q_WF_COUNTS] = {"SELECT status, count(*) FROM workflows GROUP BY status ORDER BY status",
                     "ti"},
    [Q_WF_DELETE] = {"DELETE FROM workflows WHERE id = ?1", ""},
    [Q_STEP_PUT] = {"INSERT INTO steps (wf, idx, state) VALUES (?1, ?2, ?3)"
                    " ON CONFLICT (wf, idx) DO UPDATE SET state = excluded.state",
                    ""},
    [Q_STEPS] = {"SELECT idx, state FROM steps WHERE wf = ?1 ORDER BY idx", "tj"},
    [Q_ATTEMPT_PUT] = {"INSERT INTO attempts (wf, step, item, attempt, status, started_ms,"
                       " finished_ms, result) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"
                       " ON CONFLICT (wf, step, item, attempt) DO UPDATE SET"
                       " status = excluded.status, started_ms = excluded.started_ms,"
                       " finished_ms = excluded.finished_ms, result = excluded.result",
                       ""},
    [Q_ATTEMPTS] = {"SELECT step, item, attempt, status, started_ms, finished_ms, result"
                    " FROM attempts WHERE wf = ?1 ORDER BY step, item, attempt",
                    "iiitiij"},
    [Q_ATTEMPTS_INTERRUPT] = {"UPDATE attempts SET status = 'interrupted', finished_ms = ?2"
                              " WHERE wf = ?1 AND status = 'running'",
                              ""},
    /* An event's number is the last one + 1, looked up and used under the
     * store's lock: no two events of a workflow get the same one. Two plain
     * statements: one INSERT ... SELECT from the same table (or RETURNING)
     * makes SQLite build a temporary table on every call. A new workflow's
     * first event is 1, with nothing to look up. */
    [Q_EVENT_LAST] = {"SELECT coalesce(max(seq), 0) FROM events WHERE wf = ?1", "i"},
    [Q_EVENT_INSERT] = {"INSERT INTO events (wf, seq, time_ms, event) VALUES (?1, ?2, ?3, ?4)",
                        ""},
    [Q_EVENTS] = {"SELECT seq, time_ms, event FROM events WHERE wf = ?1 AND seq > ?2"
                  " ORDER BY seq LIMIT ?3",
                  "iij"},
};

/* One orch_store_workflow_submit waiting for its group's commit. */
struct submission {
    const struct new_row *row;
    char *existing;
    int64_t *seq;
    rt_error *err;
    int rc;
    sem_t wake;                /* posted when rc is set */
    struct submission *next;
};

struct orch_store {
    sqlite3 *db;
    char *path;
    pthread_mutex_t lock;
    bool lock_ready;
    bool in_tx; /* between begin and commit/rollback, which hold the lock */
    atomic_uint_fast64_t commits;
    sqlite3_stmt *q[Q_COUNT];
    /* Checkpoints (which fsync) run on a connection and thread of their own, so
     * that a commit never waits for one while holding the lock. */
    sqlite3 *ckpt_db;
    pthread_t ckpt_thread;
    bool ckpt_running;
    pthread_mutex_t ckpt_lock;
    pthread_cond_t ckpt_cond;
    bool ckpt_stop;
    /* Submissions wait in a list for the committer thread, which commits
     * what has arrived in one transaction, and whatever arrived meanwhile in
     * the next. The list takes no lock (see committer_main). */
    _Atomic(struct submission *) pending;   /* newest first */
    atomic_bool committer_idle; /* about to wait, or waiting, for committer_wake */
    sem_t committer_wake;
    bool committer_ready;
    atomic_bool committer_stop;
    bool committer_running;
    pthread_t committer;
};

#define CHECKPOINT_EVERY_MS 1000

/* ---- errors ---------------------------------------------------------------- */

static int errno_of(int rc)
{
    switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        return EBUSY;
    case SQLITE_NOMEM:
        return ENOMEM;
    case SQLITE_FULL:
        return ENOSPC;
    case SQLITE_READONLY:
    case SQLITE_PERM:
    case SQLITE_AUTH:
        return EACCES;
    case SQLITE_CONSTRAINT:
        return EEXIST;
    case SQLITE_NOTADB:
        return EINVAL;
    default:
        return EIO;
    }
}

/* "what: SQLite's message (the file)", e.g. "saving step 3 of wf_x: database
 * is locked (/var/lib/sandboxd/store.db)". rc is the failing call's result:
 * the connection's message is used only when it is about that failure (a bind
 * may fail without setting it). Call with the lock held. */
static __attribute__((format(printf, 4, 5))) int db_fail(orch_store *s, rt_error *err, int rc,
                                                         const char *fmt, ...)
{
    char what[RT_ERROR_MAX];
    const char *msg = sqlite3_errstr(rc);
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    if (rc == SQLITE_ROW || rc == SQLITE_DONE)
        msg = rc == SQLITE_ROW ? "unexpected row" : "no row";
    else if ((sqlite3_extended_errcode(s->db) & 0xff) == (rc & 0xff))
        msg = sqlite3_errmsg(s->db);
    return rt_error_coded(err, errno_of(rc), "%s: %s (%s)", what, msg, s->path);
}

static int no_workflow(rt_error *err, const char *what)
{
    return rt_error_coded(err, ENOENT, "%s: no such workflow", what);
}

/* ---- locking and statements ------------------------------------------------- */

static orch_store *lock(orch_store *s)
{
    pthread_mutex_lock(&s->lock);
    return s;
}

static void unlockp(orch_store **s)
{
    pthread_mutex_unlock(&(*s)->lock);
}

/* Holds the store's lock until the end of the scope. */
#define LOCKED(s) __attribute__((cleanup(unlockp), unused)) orch_store *locked_ = lock(s)

/* A statement is reset and its bindings cleared at the end of the scope that
 * uses it: a statement left mid-way would keep a read snapshot open (and the
 * WAL from being checkpointed). reset's result is the last step's, reported
 * already. */
static void resetp(sqlite3_stmt **q)
{
    (void)sqlite3_reset(*q);
    (void)sqlite3_clear_bindings(*q);
}

#define STMT __attribute__((cleanup(resetp))) sqlite3_stmt *

/* Binders return SQLite's result (0 when fine), so that a chain of them reads
 * rc = bind_text(..) ?: bind_int(..) ?: step_done(q). */
static int bind_text(sqlite3_stmt *q, int i, const char *v)
{
    return v ? sqlite3_bind_text(q, i, v, -1, SQLITE_TRANSIENT) : sqlite3_bind_null(q, i);
}

static int bind_int(sqlite3_stmt *q, int i, int64_t v)
{
    return sqlite3_bind_int64(q, i, v);
}

/* Runs a statement that returns no rows: 0, or SQLite's error. */
static int step_done(sqlite3_stmt *q)
{
    int rc = sqlite3_step(q);

    return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

static int64_t now_ms(void)
{
    struct timespec ts;

    /* Cannot fail for CLOCK_REALTIME with a valid pointer. */
    if (clock_gettime(CLOCK_REALTIME, &ts) < 0)
        return 0;
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- JSON in and out --------------------------------------------------------- */

static void json_releasep(json_t **v)
{
    json_decref(*v);
}

#define cleanup_json __attribute__((cleanup(json_releasep)))

/* Compact text of any JSON value; NULL when out of memory. */
static char *encode(const json_t *v)
{
    return json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
}

/* Column i of the current row as kind (see queries); SQL NULL is JSON null.
 * NULL with err set when the stored text does not parse or memory runs out. */
static json_t *column(sqlite3_stmt *q, int i, char kind, rt_error *err)
{
    const char *text = NULL;
    json_error_t je;
    json_t *v;

    if (sqlite3_column_type(q, i) == SQLITE_NULL)
        return json_null();
    if (kind == 'i')
        v = json_integer(sqlite3_column_int64(q, i));
    else if (!(text = (const char *)sqlite3_column_text(q, i)))
        v = NULL;
    else if (kind == 't')
        v = json_stringn(text, (size_t)sqlite3_column_bytes(q, i));
    else /* ALLOW_NUL: a string with \u0000 was stored as such and must come back. */
        v = json_loadb(text, (size_t)sqlite3_column_bytes(q, i),
                       JSON_DECODE_ANY | JSON_ALLOW_NUL, &je);
    if (v)
        return v;
    if (kind == 'j' && text)
        rt_error_coded(err, EIO, "column %s: stored JSON does not parse: %s", sqlite3_column_name(q, i),
             je.text);
    else
        rt_error_set(err, ENOMEM, "column %s", sqlite3_column_name(q, i));
    return NULL;
}

/* The current row as an object keyed by column names. */
static json_t *row_object(sqlite3_stmt *q, const char *cols, rt_error *err)
{
    cleanup_json json_t *o = json_object();

    if (!o) {
        rt_error_set(err, ENOMEM, "reading a row");
        return NULL;
    }
    for (int i = 0; cols[i]; i++) {
        if (cols[i] == '-')
            continue;
        json_t *v = column(q, i, cols[i], err);
        if (!v)
            return NULL;
        if (json_object_set_new(o, sqlite3_column_name(q, i), v) < 0) {
            rt_error_set(err, ENOMEM, "reading a row");
            return NULL;
        }
    }
    return steal_pointer(&o);
}

enum shape {
    ROWS,   /* an array of objects */
    VALUES, /* an array of column 0's values */
    MAP,    /* an object: column 0 (as text) to column 1 */
};

/* Every remaining row of q (read as cols says) in the given shape. */
static json_t *collect(orch_store *s, sqlite3_stmt *q, const char *cols, enum shape shape,
                       const char *what, rt_error *err)
{
    cleanup_json json_t *all = shape == MAP ? json_object() : json_array();
    int rc;

    if (!all) {
        rt_error_set(err, ENOMEM, "%s", what);
        return NULL;
    }
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        json_t *v = shape == ROWS     ? row_object(q, cols, err)
                    : shape == VALUES ? column(q, 0, cols[0], err)
                                      : column(q, 1, cols[1], err);
        if (!v) {
            rt_error_wrap(err, "%s", what);
            return NULL;
        }
        if ((shape == MAP ? json_object_set_new(all, (const char *)sqlite3_column_text(q, 0), v)
                          : json_array_append_new(all, v)) < 0) {
            rt_error_set(err, ENOMEM, "%s", what);
            return NULL;
        }
    }
    if (rc != SQLITE_DONE) {
        db_fail(s, err, rc, "%s", what);
        return NULL;
    }
    return steal_pointer(&all);
}

/* The rows of query qi for its one text parameter, in the given shape. */
static json_t *collect_for(orch_store *s, enum q qi, const char *param, enum shape shape,
                           const char *what, rt_error *err)
{
    LOCKED(s);
    STMT q = s->q[qi];
    int rc = bind_text(q, 1, param);
    if (rc != SQLITE_OK) {
        db_fail(s, err, rc, "%s", what);
        return NULL;
    }
    return collect(s, q, queries[qi].cols, shape, what, err);
}

/* The row's field key, of JSON type `type` (-1: any value). */
static const json_t *field(const json_t *row, const char *key, int type, const char *what,
                           rt_error *err)
{
    const json_t *v = json_object_get(row, key);

    if (v && (type < 0 || (int)json_typeof(v) == type))
        return v;
    rt_error_coded(err, EINVAL, "%s: \"%s\" %s", what, key, v ? "has the wrong type" : "is missing");
    return NULL;
}

/* ---- open and close ------------------------------------------------------------- */

/* Creates the file before SQLite does, so that it is 0600 from its first
 * moment: it holds workflow inputs. SQLite gives its -wal and -shm files the
 * mode of the database file. An existing file keeps its mode. */
static int create_file(const char *path, rt_error *err)
{
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);

    if (fd < 0)
        return rt_error_set(err, errno, "opening the store %s", path);
    if (close(fd) < 0)
        return rt_error_set(err, errno, "opening the store %s", path);
    return 0;
}

/* Runs SQL (one or more statements, no rows wanted). */
static int exec(orch_store *s, const char *sql, rt_error *err)
{
    int rc = sqlite3_exec(s->db, sql, NULL, NULL, NULL);

    return rc == SQLITE_OK ? 0 : db_fail(s, err, rc, "opening the store");
}

/* The first column of the first row of sql as text into out (empty when the
 * query gives no row). */
static int query_text(orch_store *s, const char *sql, char *out, size_t size, rt_error *err)
{
    sqlite3_stmt *q = NULL;
    int rc = sqlite3_prepare_v2(s->db, sql, -1, &q, NULL);

    if (rc == SQLITE_OK)
        rc = sqlite3_step(q);
    out[0] = '\0';
    if (rc == SQLITE_ROW) {
        const unsigned char *t = sqlite3_column_text(q, 0);
        snprintf(out, size, "%s", t ? (const char *)t : "");
        rc = SQLITE_OK;
    } else if (rc == SQLITE_DONE) {
        rc = SQLITE_OK;
    }
    if (rc != SQLITE_OK)
        db_fail(s, err, rc, "opening the store: %s", sql);
    /* finalize repeats the step's error, handled above. */
    (void)sqlite3_finalize(q);
    return rc == SQLITE_OK ? 0 : -1;
}

/* Runs a pragma and checks what it reports: journal_mode answers with the mode
 * it could set, which is not WAL on every filesystem. */
static int pragma(orch_store *s, const char *set, const char *get, const char *want,
                  rt_error *err)
{
    char got[32];

    if (exec(s, set, err) < 0 || query_text(s, get, got, sizeof got, err) < 0)
        return -1;
    if (strcmp(got, want) != 0)
        return rt_error_coded(err, ENOTSUP, "opening the store: %s left it at \"%s\", not \"%s\" (%s)",
                    set, got, want, s->path);
    return 0;
}

static int count_commit(void *arg)
{
    orch_store *s = arg;
    atomic_fetch_add(&s->commits, 1);
    return 0; /* 0 lets the commit go on */
}

uint64_t orch_store_commits(orch_store *s)
{
    return atomic_load(&s->commits);
}

static int connect_db(orch_store *s, rt_error *err)
{
    int rc = sqlite3_open_v2(s->path, &s->db,
                             SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                             NULL);

    if (!s->db)
        return rt_error_set(err, ENOMEM, "opening the store %s", s->path);
    if (rc == SQLITE_OK)
        rc = sqlite3_extended_result_codes(s->db, 1);
    if (rc == SQLITE_OK)
        rc = sqlite3_busy_timeout(s->db, BUSY_TIMEOUT_MS);
    if (rc != SQLITE_OK)
        return db_fail(s, err, rc, "opening the store");
    sqlite3_commit_hook(s->db, count_commit, s);
    /* The first to read the file: a file that is not SQLite fails here, with
     * "file is not a database" and the path. */
    if (pragma(s, "PRAGMA journal_mode=WAL", "PRAGMA journal_mode", "wal", err) < 0 ||
        pragma(s, "PRAGMA synchronous=NORMAL", "PRAGMA synchronous", "1", err) < 0 ||
        pragma(s, "PRAGMA foreign_keys=ON", "PRAGMA foreign_keys", "1", err) < 0 ||
        pragma(s, "PRAGMA wal_autocheckpoint=0", "PRAGMA wal_autocheckpoint", "0", err) < 0)
        return -1;
    return 0;
}

/* Copies the WAL back into the file every second, without blocking writers
 * (PASSIVE), until the store closes. */
static void *checkpoint_main(void *arg)
{
    orch_store *s = arg;
    (void)prctl(PR_SET_NAME, "sbx-checkpoint", 0, 0, 0);
    pthread_mutex_lock(&s->ckpt_lock);
    while (!s->ckpt_stop) {
        struct timespec dl;
        clock_gettime(CLOCK_REALTIME, &dl);
        dl.tv_sec += CHECKPOINT_EVERY_MS / 1000;
        pthread_cond_timedwait(&s->ckpt_cond, &s->ckpt_lock, &dl);
        if (s->ckpt_stop)
            break;
        pthread_mutex_unlock(&s->ckpt_lock);
        int rc = sqlite3_wal_checkpoint_v2(s->ckpt_db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL,
                                           NULL);
        if (rc != SQLITE_OK && rc != SQLITE_BUSY)
            fprintf(stderr, "%s: workflow store: checkpoint of %s: %s\n",
                    program_invocation_short_name, s->path, sqlite3_errmsg(s->ckpt_db));
        pthread_mutex_lock(&s->ckpt_lock);
    }
    pthread_mutex_unlock(&s->ckpt_lock);
    return NULL;
}

static int start_checkpointer(orch_store *s, rt_error *err)
{
    int rc = sqlite3_open_v2(s->path, &s->ckpt_db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX,
                             NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_busy_timeout(s->ckpt_db, BUSY_TIMEOUT_MS);
    if (rc != SQLITE_OK)
        return rt_error_coded(err, EIO, "opening the store's checkpoint connection: %s (%s)",
                    s->ckpt_db ? sqlite3_errmsg(s->ckpt_db) : "out of memory", s->path);
    pthread_mutex_init(&s->ckpt_lock, NULL);
    pthread_cond_init(&s->ckpt_cond, NULL);
    int e = pthread_create(&s->ckpt_thread, NULL, checkpoint_main, s);
    if (e) {
        pthread_mutex_destroy(&s->ckpt_lock);
        pthread_cond_destroy(&s->ckpt_cond);
        return rt_error_set(err, e, "opening the store: the checkpoint thread");
    }
    s->ckpt_running = true;
    return 0;
}

/* Creates the schema in a new file, or checks the version of an existing one.
 * In a write transaction, so that two daemons opening a new file at once do
 * not both create it. */
static int setup_schema(orch_store *s, rt_error *err)
{
    char version[32], objects[32];

    if (exec(s, "BEGIN IMMEDIATE", err) < 0)
        return -1;
    if (query_text(s, "PRAGMA user_version", version, sizeof version, err) < 0 ||
        query_text(s, "SELECT count(*) FROM sqlite_master", objects, sizeof objects, err) < 0)
        goto fail;
    if (strcmp(version, "0") == 0 && strcmp(objects, "0") != 0) {
        rt_error_coded(err, ENOTSUP, "opening the store: %s holds other tables, not a workflow store",
             s->path);
        goto fail;
    }
    if (strcmp(version, "0") == 0 &&
        (exec(s, schema_sql, err) < 0 || exec(s, "PRAGMA user_version = 1", err) < 0))
        goto fail;
    if (strcmp(version, "0") != 0 && atoi(version) != SCHEMA_VERSION) {
        rt_error_coded(err, ENOTSUP, "opening the store: %s has schema version %s, this build reads %d",
             s->path, version, SCHEMA_VERSION);
        goto fail;
    }
    return exec(s, "COMMIT", err);
fail:
    /* Nothing to undo but the transaction; its failure changes nothing. */
    (void)sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    return -1;
}

static int prepare_all(orch_store *s, rt_error *err)
{
    for (int i = 0; i < Q_COUNT; i++) {
        int rc = sqlite3_prepare_v3(s->db, queries[i].sql, -1, SQLITE_PREPARE_PERSISTENT,
                                    &s->q[i], NULL);
        if (rc != SQLITE_OK)
            return db_fail(s, err, rc, "opening the store: preparing \"%s\"", queries[i].sql);
    }
    return 0;
}

static int init_lock(orch_store *s, rt_error *err)
{
    pthread_mutexattr_t a;
    int e = pthread_mutexattr_init(&a);

    /* Recursive: begin holds the lock and the calls in the transaction take it again. */
    if (!e)
        e = pthread_mutexattr_settype(&a, PTHREAD_MUTEX_RECURSIVE);
    if (!e)
        e = pthread_mutex_init(&s->lock, &a);
    (void)pthread_mutexattr_destroy(&a);
    if (e)
        return rt_error_set(err, e, "opening the store: mutex");
    s->lock_ready = true;
    return 0;
}

static int init_committer(orch_store *s, rt_error *err)
{
    if (sem_init(&s->committer_wake, 0, 0) < 0)
        return rt_error_set(err, errno, "opening the store: semaphore");
    s->committer_ready = true;
    return 0;
}

static void *committer_main(void *arg);

static int start_committer(orch_store *s, rt_error *err)
{
    int e = pthread_create(&s->committer, NULL, committer_main, s);
    if (e)
        return rt_error_set(err, e, "opening the store: the committer thread");
    s->committer_running = true;
    return 0;
}

static void stop_committer(orch_store *s)
{
    if (!s->committer_running)
        return;
    atomic_store(&s->committer_stop, true);
    sem_post(&s->committer_wake);   /* taken now, or at its next wait */
    pthread_join(s->committer, NULL);
    s->committer_running = false;
    /* One that passed the check in orch_store_workflow_submit just before stop
     * was set, and pushed after the committer's last look, is answered here. */
    for (struct submission *u = atomic_exchange(&s->pending, NULL), *n; u; u = n) {
        n = u->next;
        u->rc = rt_error_coded(u->err, ESHUTDOWN, "the store is closing");
        sem_post(&u->wake);
    }
}

int orch_store_open(const char *path, orch_store **out, rt_error *err)
{
    orch_store *s = calloc(1, sizeof *s);

    *out = NULL;
    if (!s || !(s->path = strdup(path))) {
        free(s);
        return rt_error_set(err, ENOMEM, "opening the store %s", path);
    }
    if (init_lock(s, err) < 0 || init_committer(s, err) < 0 || create_file(path, err) < 0 ||
        connect_db(s, err) < 0 || setup_schema(s, err) < 0 || prepare_all(s, err) < 0 ||
        start_checkpointer(s, err) < 0 || start_committer(s, err) < 0) {
        orch_store_close(s);
        return -1;
    }
    *out = s;
    return 0;
}

void orch_store_close(orch_store *s)
{
    if (!s)
        return;
    stop_committer(s);
    if (s->in_tx)
        orch_store_rollback(s);
    if (s->ckpt_running) {
        pthread_mutex_lock(&s->ckpt_lock);
        s->ckpt_stop = true;
        pthread_cond_signal(&s->ckpt_cond);
        pthread_mutex_unlock(&s->ckpt_lock);
        pthread_join(s->ckpt_thread, NULL);
        pthread_mutex_destroy(&s->ckpt_lock);
        pthread_cond_destroy(&s->ckpt_cond);
    }
    if (s->ckpt_db)
        (void)sqlite3_close_v2(s->ckpt_db);
    /* finalize repeats a statement's last error, reported when it happened. */
    for (int i = 0; i < Q_COUNT; i++)
        (void)sqlite3_finalize(s->q[i]);
    /* With every statement finalized, closing only fails on a misuse; the WAL
     * is checkpointed and removed if this is the last connection. */
    if (s->db && sqlite3_close(s->db) != SQLITE_OK)
        (void)sqlite3_close_v2(s->db);
    if (s->lock_ready)
        pthread_mutex_destroy(&s->lock);
    if (s->committer_ready)
        sem_destroy(&s->committer_wake);
    free(s->path);
    free(s);
}

/* ---- transactions ------------------------------------------------------------- */

/* BEGIN, COMMIT or ROLLBACK, with the lock held: 0 or -1. */
static int tx_statement(orch_store *s, enum q which, const char *what, rt_error *err)
{
    STMT q = s->q[which];
    int rc = step_done(q);

    return rc == SQLITE_OK ? 0 : db_fail(s, err, rc, "%s", what);
}

int orch_store_begin(orch_store *s, rt_error *err)
{
    pthread_mutex_lock(&s->lock);
    if (s->in_tx) {
        pthread_mutex_unlock(&s->lock);
        return rt_error_coded(err, EINVAL, "beginning a transaction: one is open already (not nested)");
    }
    if (tx_statement(s, Q_BEGIN, "beginning a transaction", err) < 0) {
        pthread_mutex_unlock(&s->lock);
        return -1;
    }
    /* Keeps the lock: other threads wait for commit or rollback. */
    s->in_tx = true;
    return 0;
}

/* Rolls back an open transaction, with the lock held. A failed statement may
 * have rolled it back already (SQLITE_FULL, SQLITE_IOERR...): ROLLBACK then has
 * nothing to do. It fails only while a write is pending, and none is: each call
 * resets its statements before it returns. */
static void rollback(orch_store *s)
{
    if (!sqlite3_get_autocommit(s->db))
        (void)tx_statement(s, Q_ROLLBACK, "rolling back", &(rt_error){0});
}

/* Ends the transaction that begin opened: rolls it back unless committed, and
 * releases begin's hold on the lock. Call with the lock held. */
static void end_tx(orch_store *s)
{
    rollback(s);
    s->in_tx = false;
    pthread_mutex_unlock(&s->lock);
}

/* A commit that fails has rolled back: the transaction is over either way. */
int orch_store_commit(orch_store *s, rt_error *err)
{
    LOCKED(s);
    int rc;

    if (!s->in_tx)
        return rt_error_coded(err, EINVAL, "committing: no transaction is open");
    if (sqlite3_get_autocommit(s->db)) {
        rt_error_coded(err, EIO, "committing: an earlier error rolled the transaction back (%s)",
             s->path);
        end_tx(s);
        return -1;
    }
    rc = tx_statement(s, Q_COMMIT, "committing", err);
    end_tx(s);
    return rc;
}

void orch_store_rollback(orch_store *s)
{
    LOCKED(s);

    if (s->in_tx)
        end_tx(s);
}

/* ---- workflows ------------------------------------------------------------------ */

/* 1 with the id when a workflow holds the key, 0 when none does, or -1. */
static int find_key(orch_store *s, const char *key, char existing[ORCH_STORE_ID_MAX],
                    rt_error *err)
{
    STMT q = s->q[Q_WF_BY_KEY];
    int rc = bind_text(q, 1, key);

    if (rc == SQLITE_OK)
        rc = sqlite3_step(q);
    if (rc == SQLITE_DONE)
        return 0;
    const char *id = rc == SQLITE_ROW ? (const char *)sqlite3_column_text(q, 0) : NULL;
    if (!id)
        return db_fail(s, err, rc == SQLITE_ROW ? SQLITE_NOMEM : rc,
                       "looking up an idempotency key");
    if (existing)
        snprintf(existing, ORCH_STORE_ID_MAX, "%s", id);
    return 1;
}

/* A write's failure; the foreign key fails when there is no such workflow. */
static int write_fail(orch_store *s, rt_error *err, int rc, const char *what)
{
    if (rc == SQLITE_CONSTRAINT_FOREIGNKEY)
        return no_workflow(err, what);
    return db_fail(s, err, rc, "%s", what);
}

/* Inserts event number seq of wf (text: its JSON), with the lock held. */
static int insert_event(orch_store *s, const char *wf, int64_t seq, const char *text,
                        const char *what, rt_error *err)
{
    STMT q = s->q[Q_EVENT_INSERT];
    int rc = bind_text(q, 1, wf) ?: bind_int(q, 2, seq) ?: bind_int(q, 3, now_ms()) ?:
             bind_text(q, 4, text) ?: step_done(q);
    return rc == SQLITE_OK ? 0 : write_fail(s, err, rc, what);
}

/* A workflow's row as it is inserted: checked and its documents encoded
 * before the lock is taken. The strings point into the caller's row. */
struct new_row {
    const char *id, *key, *name, *status;
    int64_t created_ms;
    char *doc, *inputs;
    char *event;                /* the first event, or NULL */
};

static void new_row_free(struct new_row *w)
{
    free(w->doc);
    free(w->inputs);
    free(w->event);
}

static int new_row_make(const json_t *row, const char *key, const json_t *event,
                        struct new_row *w, rt_error *err)
{
    const char *what = "saving a workflow";
    const json_t *id = field(row, "id", JSON_STRING, what, err), *name, *status, *created;
    const json_t *doc, *inputs;

    memset(w, 0, sizeof *w);
    if (!id || !(name = field(row, "name", JSON_STRING, what, err)) ||
        !(status = field(row, "status", JSON_STRING, what, err)) ||
        !(created = field(row, "created_ms", JSON_INTEGER, what, err)) ||
        !(doc = field(row, "doc", -1, what, err)) ||
        !(inputs = field(row, "inputs", -1, what, err)))
        return -1;
    size_t id_len = json_string_length(id);
    if (id_len == 0 || id_len >= ORCH_STORE_ID_MAX || strlen(json_string_value(id)) != id_len)
        return rt_error_coded(err, EINVAL, "%s: \"id\" must be 1 to %d bytes", what, ORCH_STORE_ID_MAX - 1);
    if (event && !json_is_object(event))
        return rt_error_coded(err, EINVAL, "%s: an event is a JSON object", what);
    *w = (struct new_row){json_string_value(id), key, json_string_value(name),
                          json_string_value(status), json_integer_value(created), encode(doc),
                          encode(inputs), event ? encode(event) : NULL};
    if (w->doc && w->inputs && (w->event || !event))
        return 0;
    new_row_free(w);
    return rt_error_set(err, ENOMEM, "saving workflow %s", json_string_value(id));
}

/* Inserts the row and its first event, with the lock held: 0, 1 when the key
 * is taken (its workflow's id in existing), or -1. */
static int insert_row(orch_store *s, const struct new_row *w, char existing[ORCH_STORE_ID_MAX],
                      int64_t *seq, rt_error *err)
{
    if (w->key) {
        int found = find_key(s, w->key, existing, err);
        if (found != 0)
            return found;
    }
    STMT q = s->q[Q_WF_INSERT];
    int rc = bind_text(q, 1, w->id) ?: bind_text(q, 2, w->key) ?: bind_text(q, 3, w->name) ?:
             bind_text(q, 4, w->status) ?: bind_int(q, 5, w->created_ms) ?:
             bind_text(q, 6, w->doc) ?: bind_text(q, 7, w->inputs) ?: step_done(q);
    if (rc != SQLITE_OK)
        return db_fail(s, err, rc, "saving workflow %s", w->id);
    if (!w->event)
        return 0;
    char what[WHAT];
    snprintf(what, sizeof what, "saving the first event of %s", w->id);
    if (insert_event(s, w->id, 1, w->event, what, err) < 0)
        return -1;
    if (seq)
        *seq = 1;
    return 0;
}

int orch_store_workflow_insert(orch_store *s, const json_t *row, const char *key,
                               char existing[ORCH_STORE_ID_MAX], rt_error *err)
{
    struct new_row w;

    if (new_row_make(row, key, NULL, &w, err) < 0)
        return -1;
    LOCKED(s);
    int rc = insert_row(s, &w, existing, NULL, err);
    new_row_free(&w);
    return rc;
}

/* A submission on its own: 0, 1 (the key is taken) or -1. */
static int commit_one(orch_store *s, struct submission *u)
{
    if (tx_statement(s, Q_BEGIN, "beginning a transaction", u->err) < 0)
        return -1;
    int rc = insert_row(s, u->row, u->existing, u->seq, u->err);
    if (rc == 0 && tx_statement(s, Q_COMMIT, "committing", u->err) == 0)
        return 0;
    rollback(s);
    return rc == 1 ? 1 : -1;
}

/* One transaction for the whole group; when it fails, one per submission, so
 * that each gets its own answer. */
static void commit_group(orch_store *s, struct submission *group)
{
    rt_error err;
    bool ok;
    LOCKED(s);

    if (group->next) {
        ok = tx_statement(s, Q_BEGIN, "beginning a transaction", &err) == 0;
        for (struct submission *u = group; u && ok; u = u->next)
            ok = (u->rc = insert_row(s, u->row, u->existing, u->seq, u->err)) >= 0;
        if (ok && tx_statement(s, Q_COMMIT, "committing", &err) == 0)
            return;
        rollback(s);
    }
    for (struct submission *u = group; u; u = u->next)
        u->rc = commit_one(s, u);
}

/* The committer thread: takes the submissions that wait, commits them,
 * posts each its answer. It runs at a higher priority (nice -10, when the
 * daemon may raise it) and takes no lock a submission holds: a burst of
 * submissions makes a hundred threads runnable at once; as one of them the
 * committer, through which all must pass, got a hundredth of the CPU, and
 * behind a mutex it waited for whichever of them had been preempted holding
 * it. Either way a group that needs a few hundred microseconds took
 * milliseconds. */
static void *committer_main(void *arg)
{
    orch_store *s = arg;

    (void)prctl(PR_SET_NAME, "sbx-store", 0, 0, 0);   /* for top -H and perf */
    /* Ten steps above the thread that opened the store (an operator who runs
     * the daemon at nice 19 keeps it low); fails without CAP_SYS_NICE: the
     * same work then, only less promptly. */
    errno = 0;
    int nice = getpriority(PRIO_PROCESS, 0);
    if (errno == 0)
        (void)setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), nice > -10 ? nice - 10 : -20);
    for (;;) {
        struct submission *list = atomic_exchange(&s->pending, NULL), *group = NULL;
        if (!list) {
            if (atomic_load(&s->committer_stop))
                break;
            /* Idle, then look again: a submission pushed meanwhile either is
             * seen here or sees committer_idle (both sequentially
             * consistent), so none is left waiting. */
            atomic_store(&s->committer_idle, true);
            if (!atomic_load(&s->pending))
                while (sem_wait(&s->committer_wake) < 0)   /* EINTR only */
                    ;
            atomic_store(&s->committer_idle, false);
            continue;
        }
        while (list) {         /* oldest first */
            struct submission *n = list->next;
            list->next = group;
            group = list;
            list = n;
        }
        commit_group(s, group);
        /* A waiter may return (and its submission go) as soon as it is posted. */
        for (struct submission *u = group, *n; u; u = n) {
            n = u->next;
            sem_post(&u->wake);
        }
    }
    return NULL;
}

int orch_store_workflow_submit(orch_store *s, const json_t *row, const char *key,
                               const json_t *event, int64_t *seq,
                               char existing[ORCH_STORE_ID_MAX], rt_error *err)
{
    struct new_row w;

    if (new_row_make(row, key, event, &w, err) < 0)
        return -1;
    struct submission me = {.row = &w, .existing = existing, .seq = seq, .err = err};
    if (atomic_load(&s->committer_stop)) {
        new_row_free(&w);
        return rt_error_coded(err, ESHUTDOWN, "the store is closing");
    }
    sem_init(&me.wake, 0, 0);
    struct submission *head = atomic_load(&s->pending);
    do
        me.next = head;
    while (!atomic_compare_exchange_weak(&s->pending, &head, &me));
    /* Every submission that finds the committer idle posts, not only the
     * first: the first may be preempted between its push and its post, and
     * then the committer slept through a burst for as long as that thread
     * waited for the CPU (5 ms once). Extra posts cost the committer an
     * empty turn each. */
    if (atomic_load(&s->committer_idle))
        sem_post(&s->committer_wake);
    while (sem_wait(&me.wake) < 0)   /* EINTR only */
        ;
    sem_destroy(&me.wake);
    new_row_free(&w);
    return me.rc;
}

int orch_store_workflow_status(orch_store *s, const char *id, char *buf, size_t len,
                               rt_error *err)
{
    LOCKED(s);
    STMT q = s->q[Q_WF_STATUS];
    int rc = bind_text(q, 1, id);
    char what[WHAT];

    snprintf(what, sizeof what, "reading the status of workflow %s", id);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(q);
    if (rc == SQLITE_DONE)
        return no_workflow(err, what);
    const char *status = rc == SQLITE_ROW ? (const char *)sqlite3_column_text(q, 0) : NULL;
    if (!status)
        return db_fail(s, err, rc == SQLITE_ROW ? SQLITE_NOMEM : rc, "%s", what);
    snprintf(buf, len, "%s", status);
    return 0;
}

int orch_store_workflow_update(orch_store *s, const char *id, const char *status,
                               const json_t *state, rt_error *err)
{
    cleanup_free char *text = state ? encode(state) : NULL;

    if (state && !text)
        return rt_error_set(err, ENOMEM, "updating workflow %s", id);
    LOCKED(s);
    STMT q = s->q[Q_WF_UPDATE];
    int rc = bind_text(q, 1, id) ?: bind_text(q, 2, status) ?: bind_int(q, 3, now_ms()) ?:
             bind_text(q, 4, text) ?: step_done(q);
    char what[WHAT];

    snprintf(what, sizeof what, "updating workflow %s", id);
    if (rc != SQLITE_OK)
        return db_fail(s, err, rc, "%s", what);
    return sqlite3_changes(s->db) ? 0 : no_workflow(err, what);
}

json_t *orch_store_workflow_get(orch_store *s, const char *id, rt_error *err)
{
    LOCKED(s);
    STMT q = s->q[Q_WF_GET];
    int rc = bind_text(q, 1, id);
    char what[WHAT];
    json_t *row;

    snprintf(what, sizeof what, "reading workflow %s", id);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(q);
    if (rc == SQLITE_DONE) {
        no_workflow(err, what);
        return NULL;
    }
    if (rc != SQLITE_ROW) {
        db_fail(s, err, rc, "%s", what);
        return NULL;
    }
    if (!(row = row_object(q, queries[Q_WF_GET].cols, err)))
        rt_error_wrap(err, "%s", what);
    return row;
}

/* "c" and the seq of the last workflow of the page before: the next page is
 * the workflows before it, whatever was added since. Opaque to clients. */
static int parse_cursor(const char *c, int64_t *seq)
{
    char *end;
    long long v;

    if (c[0] != 'c' || c[1] < '1' || c[1] > '9')
        return -1;
    errno = 0;
    v = strtoll(c + 1, &end, 10);
    if (errno || *end)
        return -1;
    *seq = v;
    return 0;
}

json_t *orch_store_workflow_list(orch_store *s, const char *status, unsigned limit,
                                 const char *cursor, rt_error *err)
{
    const char *what = "listing workflows";
    int64_t before = INT64_MAX, last = 0;
    unsigned n = 0;
    int rc;

    if (limit < 1 || limit > ORCH_STORE_LIST_MAX) {
        rt_error_coded(err, EINVAL, "limit: must be 1 to %d", ORCH_STORE_LIST_MAX);
        return NULL;
    }
    if (cursor && parse_cursor(cursor, &before) < 0) {
        rt_error_coded(err, EINVAL, "cursor: not a cursor from a previous page");
        return NULL;
    }
    cleanup_json json_t *list = json_array();
    if (!list) {
        rt_error_set(err, ENOMEM, "%s", what);
        return NULL;
    }

    LOCKED(s);
    enum q which = status ? Q_WF_LIST_STATUS : Q_WF_LIST;
    STMT q = s->q[which];
    /* One row more than the page: whether there is a next page. */
    rc = bind_int(q, 1, before) ?: bind_int(q, 2, (int64_t)limit + 1) ?:
         (status ? bind_text(q, 3, status) : SQLITE_OK);
    while (rc == SQLITE_OK && (rc = sqlite3_step(q)) == SQLITE_ROW && n < limit) {
        json_t *row = row_object(q, queries[which].cols, err);
        if (!row) {
            rt_error_wrap(err, "%s", what);
            return NULL;
        }
        if (json_array_append_new(list, row) < 0) {
            rt_error_set(err, ENOMEM, "%s", what);
            return NULL;
        }
        last = sqlite3_column_int64(q, 0);
        n++;
        rc = SQLITE_OK;
    }
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        db_fail(s, err, rc, "%s", what);
        return NULL;
    }

    char next[32];
    snprintf(next, sizeof next, "c%lld", (long long)last);
    json_t *page = json_pack("{s:O, s:s?}", "workflows", list, "next_cursor",
                             rc == SQLITE_ROW ? next : NULL);
    if (!page)
        rt_error_set(err, ENOMEM, "%s", what);
    return page;
}

json_t *orch_store_workflow_ids(orch_store *s, const char *const *statuses, rt_error *err)
{
    const char *what = "listing workflows by status";
    cleanup_json json_t *set = json_array();

    for (; set && statuses && *statuses; statuses++) {
        if (json_array_append_new(set, json_string(*statuses)) < 0) {
            rt_error_coded(err, EINVAL, "%s: a status is not UTF-8", what);
            return NULL;
        }
    }
    cleanup_free char *text = set ? encode(set) : NULL;
    if (!text) {
        rt_error_set(err, ENOMEM, "%s", what);
        return NULL;
    }

    return collect_for(s, Q_WF_IDS, text, VALUES, what, err);
}

json_t *orch_store_workflow_counts(orch_store *s, rt_error *err)
{
    LOCKED(s);
    STMT q = s->q[Q_WF_COUNTS];

    return collect(s, q, queries[Q_WF_COUNTS].cols, MAP, "counting workflows", err);
}

int orch_store_workflow_delete(orch_store *s, const char *id, rt_error *err)
{
    LOCKED(s);
    STMT q = s->q[Q_WF_DELETE];
    /* One statement: the steps, attempts and events go with it (ON DELETE
     * CASCADE), all or nothing, inside a transaction or not. */
    int rc = bind_text(q, 1, id) ?: step_done(q);
    char what[WHAT];

    snprintf(what, sizeof what, "deleting workflow %s", id);
    if (rc != SQLITE_OK)
        return db_fail(s, err, rc, "%s", what);
    return sqlite3_changes(s->db) ? 0 : no_workflow(err, what);
}

/* ---- steps, attempts, events --------------------------------------------------- */

int orch_store_step_put(orch_store *s, const char *wf, unsigned index, const json_t *state,
                        rt_error *err)
{
    cleanup_free char *text = encode(state ? state : json_null());
    char what[WHAT];

    snprintf(what, sizeof what, "saving step %u of %s", index, wf);
    if (!text)
        return rt_error_set(err, ENOMEM, "%s", what);
    LOCKED(s);
    STMT q = s->q[Q_STEP_PUT];
    int rc = bind_text(q, 1, wf) ?: bind_int(q, 2, index) ?: bind_text(q, 3, text) ?:
             step_done(q);
    return rc == SQLITE_OK ? 0 : write_fail(s, err, rc, what);
}

json_t *orch_store_steps(orch_store *s, const char *wf, rt_error *err)
{
    char what[WHAT];

    snprintf(what, sizeof what, "reading the steps of %s", wf);
    return collect_for(s, Q_STEPS, wf, MAP, what, err);
}

int orch_store_attempt_put(orch_store *s, const char *wf, unsigned step, unsigned item,
                           unsigned attempt, const json_t *row, rt_error *err)
{
    const json_t *status, *started, *finished = json_object_get(row, "finished_ms");
    const json_t *result = json_object_get(row, "result");
    char what[WHAT];

    snprintf(what, sizeof what, "saving attempt %u of item %u of step %u of %s", attempt, item,
             step, wf);
    if (!(status = field(row, "status", JSON_STRING, what, err)) ||
        !(started = field(row, "started_ms", JSON_INTEGER, what, err)))
        return -1;
    if (finished && !json_is_integer(finished) && !json_is_null(finished))
        return rt_error_coded(err, EINVAL, "%s: \"finished_ms\" has the wrong type", what);
    /* A missing or null result is SQL NULL, read back as null. */
    cleanup_free char *text = result && !json_is_null(result) ? encode(result) : NULL;
    if (result && !json_is_null(result) && !text)
        return rt_error_set(err, ENOMEM, "%s", what);

    LOCKED(s);
    STMT q = s->q[Q_ATTEMPT_PUT];
    int rc = bind_text(q, 1, wf) ?: bind_int(q, 2, step) ?: bind_int(q, 3, item) ?:
             bind_int(q, 4, attempt) ?: bind_text(q, 5, json_string_value(status)) ?:
             bind_int(q, 6, json_integer_value(started)) ?:
             (json_is_integer(finished) ? bind_int(q, 7, json_integer_value(finished))
                                        : sqlite3_bind_null(q, 7)) ?:
             bind_text(q, 8, text) ?: step_done(q);
    return rc == SQLITE_OK ? 0 : write_fail(s, err, rc, what);
}

json_t *orch_store_attempts(orch_store *s, const char *wf, rt_error *err)
{
    char what[WHAT];

    snprintf(what, sizeof what, "reading the attempts of %s", wf);
    return collect_for(s, Q_ATTEMPTS, wf, ROWS, what, err);
}

int orch_store_attempts_interrupt(orch_store *s, const char *wf, rt_error *err)
{
    LOCKED(s);
    STMT q = s->q[Q_ATTEMPTS_INTERRUPT];
    int rc = bind_text(q, 1, wf) ?: bind_int(q, 2, now_ms()) ?: step_done(q);

    if (rc != SQLITE_OK)
        return db_fail(s, err, rc, "interrupting the attempts of %s", wf);
    return sqlite3_changes(s->db);
}

/* The number of wf's last event (0 when none) into *seq, with the lock held;
 * the statement is reset before the insert that follows, so that outside a
 * transaction the insert commits on its own. */
static int last_event(orch_store *s, const char *wf, int64_t *seq, const char *what,
                      rt_error *err)
{
    STMT q = s->q[Q_EVENT_LAST];
    int rc = bind_text(q, 1, wf);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(q);
    if (rc != SQLITE_ROW)
        return db_fail(s, err, rc, "%s", what);
    *seq = sqlite3_column_int64(q, 0);
    return 0;
}

int orch_store_event_append(orch_store *s, const char *wf, const json_t *event, int64_t *seq,
                            rt_error *err)
{
    char what[WHAT];

    snprintf(what, sizeof what, "saving an event of %s", wf);
    if (!json_is_object(event))
        return rt_error_coded(err, EINVAL, "%s: an event is a JSON object", what);
    cleanup_free char *text = json_dumps(event, JSON_COMPACT | JSON_REAL_PRECISION(9));
    if (!text)
        return rt_error_set(err, ENOMEM, "%s", what);

    LOCKED(s);
    int64_t n = 0;
    if (last_event(s, wf, &n, what, err) < 0 || insert_event(s, wf, n + 1, text, what, err) < 0)
        return -1;
    if (seq)
        *seq = n + 1;
    return 0;
}

/* Binds a page of wf's events to Q_EVENTS, with the lock held: 0 or -1. */
static int events_query(orch_store *s, const char *wf, int64_t after, unsigned limit,
                        const char *what, rt_error *err)
{
    if (limit < 1 || limit > ORCH_STORE_LIST_MAX)
        return rt_error_coded(err, EINVAL, "limit: must be 1 to %d", ORCH_STORE_LIST_MAX);
    sqlite3_stmt *q = s->q[Q_EVENTS];
    int rc = bind_text(q, 1, wf) ?: bind_int(q, 2, after) ?: bind_int(q, 3, limit);
    return rc == SQLITE_OK ? 0 : db_fail(s, err, rc, "%s", what);
}

json_t *orch_store_events(orch_store *s, const char *wf, int64_t after, unsigned limit,
                          rt_error *err)
{
    char what[WHAT];

    snprintf(what, sizeof what, "reading the events of %s", wf);
    LOCKED(s);
    STMT q = s->q[Q_EVENTS];
    if (events_query(s, wf, after, limit, what, err) < 0)
        return NULL;
    return collect(s, q, queries[Q_EVENTS].cols, ROWS, what, err);
}

int orch_store_event_texts(orch_store *s, const char *wf, int64_t after, unsigned limit,
                           orch_event_text_fn *fn, void *ctx, rt_error *err)
{
    char what[WHAT];
    int n = 0, rc;

    snprintf(what, sizeof what, "reading the events of %s", wf);
    LOCKED(s);
    STMT q = s->q[Q_EVENTS];
    if (events_query(s, wf, after, limit, what, err) < 0)
        return -1;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        const char *text = (const char *)sqlite3_column_text(q, 2);
        if (!text)
            return rt_error_set(err, ENOMEM, "%s", what);
        if (fn(ctx, sqlite3_column_int64(q, 0), sqlite3_column_int64(q, 1), text,
               (size_t)sqlite3_column_bytes(q, 2)) != 0)
            break;
        n++;
    }
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return db_fail(s, err, rc, "%s", what);
    return n;
}
