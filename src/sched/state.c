/* state.c: the scheduler's run state (DAG runs, task instances, paused DAGs) in SQLite
 * or PostgreSQL. Every statement is written once, with $1..$n parameters bound as text:
 * SQLite takes "$1" as a named parameter, PostgreSQL as a positional one, and both infer
 * the column types, so the dialect layer is only "prepare/bind/step" vs "PQexecParams".
 * Concurrency rests on single-statement compare-and-swap updates (the WHERE clause names
 * the state, try number and owner the caller read): two schedulers on one database cannot
 * both win the claim of a task instance. docs/scheduler.md has the schema. */
#include "sched/sched.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>
#include <sqlite3.h>

#include "base/alloc.h"
#include "base/fs.h"

#define SCHEMA_VERSION 1
#define BUSY_TIMEOUT_MS 30000

static const char *const create_sql[] = {
    "CREATE TABLE IF NOT EXISTS sched_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS dag_runs (dag_id TEXT NOT NULL, ds TEXT NOT NULL, "
    "state TEXT NOT NULL, run_type TEXT NOT NULL, created_ms BIGINT NOT NULL, "
    "start_ms BIGINT, end_ms BIGINT, PRIMARY KEY (dag_id, ds))",
    "CREATE TABLE IF NOT EXISTS task_instances (dag_id TEXT NOT NULL, task_id TEXT NOT NULL, "
    "ds TEXT NOT NULL, state TEXT NOT NULL, try_number BIGINT NOT NULL, pid BIGINT, "
    "pid_start BIGINT, host TEXT, owner TEXT, start_ms BIGINT, end_ms BIGINT, next_ms BIGINT, "
    "first_ms BIGINT, try_base BIGINT NOT NULL DEFAULT 0, log_path TEXT, reason TEXT, PRIMARY KEY (dag_id, task_id, ds))",
    "CREATE TABLE IF NOT EXISTS paused_dags (dag_id TEXT PRIMARY KEY, paused_ms BIGINT NOT NULL)",
    /* one row per scheduler process ever started, its last sign of life (lease) */
    "CREATE TABLE IF NOT EXISTS schedulers (owner TEXT PRIMARY KEY, host TEXT NOT NULL, beat_ms BIGINT NOT NULL)",
};

struct CnSchedDb {
    bool pg;
    sqlite3 *sq;
    PGconn *conn;
    char *safe_uri;       /* the URI without its password, for messages */
    CnArena rows;         /* cells of the last query; reset by the next one */
};

/* Result of one query: n_rows x n_cols cells, NULL for SQL NULL. BORROWED from db->rows
 * until the next query. */
typedef struct Rows {
    size_t n_rows, n_cols;
    char **cell;
} Rows;

static const char *const state_names[] = {"none", "scheduled", "queued", "running", "success",
                                          "failed", "up_for_retry", "upstream_failed", "skipped"};

const char *cn_sched_ti_state_name(CnSchedTiState s) {
    return (size_t)s < CN_ARRAY_LEN(state_names) ? state_names[s] : "?";
}

int cn_sched_ti_state_parse(const char *s) {
    for (size_t i = 0; s && i < CN_ARRAY_LEN(state_names); i++)
        if (!strcmp(s, state_names[i])) return (int)i;
    return -1;
}

bool cn_sched_ti_state_finished(CnSchedTiState s) {
    return s == CN_SCHED_TI_SUCCESS || s == CN_SCHED_TI_FAILED || s == CN_SCHED_TI_UPSTREAM_FAILED ||
           s == CN_SCHED_TI_SKIPPED;
}

/* ------------------------------------------------------------ the two dialects */

static int sq_query(CnSchedDb *db, const char *sql, int n, const char *const *p, Rows *out,
                    long *changed, CnErr *err) {
    sqlite3_stmt *st = NULL;
    int rc = 0, s = sqlite3_prepare_v2(db->sq, sql, -1, &st, NULL);
    if (s != SQLITE_OK) goto fail;
    for (int i = 0; i < n; i++) {
        char name[16];
        snprintf(name, sizeof name, "$%d", i + 1);
        int idx = sqlite3_bind_parameter_index(st, name);
        if (idx == 0) continue; /* a parameter the statement does not use */
        s = p[i] ? sqlite3_bind_text(st, idx, p[i], -1, SQLITE_STATIC) : sqlite3_bind_null(st, idx);
        if (s != SQLITE_OK) goto fail;
    }
    CnBuf cells = CN_BUF_INIT;
    while ((s = sqlite3_step(st)) == SQLITE_ROW) {
        if (!out) continue;
        size_t nc = (size_t)sqlite3_column_count(st);
        out->n_cols = nc;
        for (size_t c = 0; c < nc; c++) {
            const char *v = (const char *)sqlite3_column_text(st, (int)c);
            char *copy = v ? cn_arena_strdup(&db->rows, v) : NULL;
            if ((v && !copy) || cn_buf_append(&cells, &copy, sizeof copy)) {
                cn_buf_fini(&cells);
                sqlite3_finalize(st);
                return cn_err_set(err, CN_ENOMEM, "state %s: out of memory reading rows", db->safe_uri);
            }
        }
        out->n_rows++;
    }
    if (out && cells.len) {
        out->cell = cn_arena_alloc(&db->rows, cells.len);
        if (!out->cell) rc = cn_err_set(err, CN_ENOMEM, "state %s: out of memory reading rows", db->safe_uri);
        else memcpy(out->cell, cells.data, cells.len);
    }
    cn_buf_fini(&cells);
    if (s != SQLITE_DONE) goto fail;
    if (changed) *changed = sqlite3_changes(db->sq);
    sqlite3_finalize(st);
    return rc;
fail:
    rc = cn_err_set(err, s == SQLITE_BUSY ? CN_ECONFLICT : CN_EIO, "state %s: %s (in: %.60s...)", db->safe_uri,
                    sqlite3_errmsg(db->sq), sql);
    sqlite3_finalize(st);
    return rc;
}

/* libpq messages span lines; keep one. */
static void one_line(const char *msg, char *out, size_t cap) {
    size_t o = 0;
    for (const char *c = msg ? msg : ""; *c && o + 3 < cap; c++) {
        if (*c == '\n') {
            if (c[1] == 0) break;
            out[o++] = ';';
            out[o++] = ' ';
            while (c[1] == '\t' || c[1] == ' ') c++;
        } else {
            out[o++] = *c;
        }
    }
    out[o] = 0;
}

static int pg_query(CnSchedDb *db, const char *sql, int n, const char *const *p, Rows *out,
                    long *changed, CnErr *err) {
    PGresult *r = PQexecParams(db->conn, sql, n, NULL, p, NULL, NULL, 0);
    ExecStatusType st = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
    int rc = 0;
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        char line[600];
        one_line(r ? PQresultErrorMessage(r) : PQerrorMessage(db->conn), line, sizeof line);
        rc = cn_err_set(err, PQstatus(db->conn) == CONNECTION_OK ? CN_EREMOTE : CN_EIO, "state %s: %s",
                        db->safe_uri, *line ? line : "no answer");
        goto done;
    }
    if (changed) *changed = atol(PQcmdTuples(r));
    if (out && PQntuples(r) > 0) {
        out->n_rows = (size_t)PQntuples(r);
        out->n_cols = (size_t)PQnfields(r);
        out->cell = cn_arena_alloc(&db->rows, out->n_rows * out->n_cols * sizeof *out->cell);
        if (!out->cell) {
            rc = cn_err_set(err, CN_ENOMEM, "state %s: out of memory reading rows", db->safe_uri);
            goto done;
        }
        for (size_t i = 0; i < out->n_rows; i++)
            for (size_t c = 0; c < out->n_cols; c++) {
                char **slot = &out->cell[i * out->n_cols + c];
                *slot = PQgetisnull(r, (int)i, (int)c) ? NULL
                                                        : cn_arena_strdup(&db->rows, PQgetvalue(r, (int)i, (int)c));
                if (!PQgetisnull(r, (int)i, (int)c) && !*slot) {
                    rc = cn_err_set(err, CN_ENOMEM, "state %s: out of memory reading rows", db->safe_uri);
                    goto done;
                }
            }
    }
done:
    PQclear(r);
    return rc;
}

static int query(CnSchedDb *db, const char *sql, int n, const char *const *p, Rows *out, long *changed,
                 CnErr *err) {
    cn_arena_reset(&db->rows);
    if (out) memset(out, 0, sizeof *out);
    if (changed) *changed = 0;
    return db->pg ? pg_query(db, sql, n, p, out, changed, err) : sq_query(db, sql, n, p, out, changed, err);
}

static const char *cell(const Rows *r, size_t row, size_t col) { return r->cell[row * r->n_cols + col]; }

static int64_t cell_i64(const Rows *r, size_t row, size_t col) {
    const char *v = cell(r, row, col);
    return v ? strtoll(v, NULL, 10) : 0;
}

/* ------------------------------------------------------------------ open */

static char *redact(const char *uri) {
    char *s = cn_strdup(uri);
    char *p = s ? strstr(s, "://") : NULL;
    char *at = p ? strchr(p + 3, '@') : NULL;
    char *colon = p ? strchr(p + 3, ':') : NULL;
    if (at && colon && colon < at) {
        memcpy(colon + 1, "***", 3);
        memmove(colon + 4, at, strlen(at) + 1);
    }
    return s;
}

int cn_sched_db_open(const char *uri, bool create, CnSchedDb **out, CnErr *err) {
    *out = NULL;
    CnSchedDb *db = cn_calloc(1, sizeof *db);
    if (!db) return cn_err_set(err, CN_ENOMEM, "out of memory");
    cn_arena_init(&db->rows, 0);
    int rc = 0;
    Rows r;
    if (!(db->safe_uri = redact(uri))) {
        rc = cn_err_set(err, CN_ENOMEM, "out of memory");
        goto done;
    }
    if (cn_str_starts_with(uri, "sqlite:")) {
        const char *path = uri + 7;
        if (cn_str_starts_with(path, "//")) path += 2;
        if (!*path) {
            rc = cn_err_set(err, CN_EINVAL, "scheduler DB \"%s\": no file after sqlite: (expected sqlite:<path>)", uri);
            goto done;
        }
        if (!create && !cn_fs_exists(path)) {
            rc = cn_err_set(err, CN_ENOTFOUND, "scheduler DB %s does not exist yet (no scheduler has run)", path);
            goto done;
        }
        if (create) {
            char dir[4096];
            snprintf(dir, sizeof dir, "%s", path);
            char *slash = strrchr(dir, '/');
            if (slash && slash != dir) {
                *slash = 0;
                if ((rc = cn_fs_mkdirs(dir, err))) goto done;
            }
        }
        int s = sqlite3_open_v2(path, &db->sq, SQLITE_OPEN_READWRITE | (create ? SQLITE_OPEN_CREATE : 0), NULL);
        if (s != SQLITE_OK) {
            rc = cn_err_set(err, CN_EIO, "scheduler DB %s: cannot open: %s", path,
                            db->sq ? sqlite3_errmsg(db->sq) : sqlite3_errstr(s));
            goto done;
        }
        sqlite3_busy_timeout(db->sq, BUSY_TIMEOUT_MS);
        /* WAL: readers (dags state, the web UI) never block the scheduler's writes */
        if ((rc = query(db, "PRAGMA journal_mode=WAL", 0, NULL, NULL, NULL, err))) goto done;
    } else if (cn_str_starts_with(uri, "postgresql://") || cn_str_starts_with(uri, "postgres://")) {
        db->pg = true;
        db->conn = PQconnectdb(uri);
        if (!db->conn) {
            rc = cn_err_set(err, CN_ENOMEM, "out of memory");
            goto done;
        }
        if (PQstatus(db->conn) != CONNECTION_OK) {
            char line[600];
            one_line(PQerrorMessage(db->conn), line, sizeof line);
            rc = cn_err_set(err, CN_EIO, "scheduler DB %s: cannot connect: %s", db->safe_uri, line);
            goto done;
        }
        PQclear(PQexec(db->conn, "SET client_min_messages = warning"));
    } else {
        rc = cn_err_set(err, CN_EINVAL,
                        "scheduler DB \"%s\": unsupported URI (expected sqlite:<path> or postgresql://user@host:port/db)",
                        db->safe_uri);
        goto done;
    }
    for (size_t i = 0; i < CN_ARRAY_LEN(create_sql); i++) {
        /* Two schedulers creating the tables at once may collide in PostgreSQL's
         * catalog; the loser finds them on the next try. */
        for (int attempt = 0; attempt < 3; attempt++) {
            CnErr e2 = CN_ERR_INIT;
            rc = query(db, create_sql[i], 0, NULL, NULL, NULL, &e2);
            if (!rc) break;
            if (attempt == 2) {
                cn_err_set(err, rc, "%s", cn_err_msg(&e2));
                goto done;
            }
        }
    }
    char ver[16];
    snprintf(ver, sizeof ver, "%d", SCHEMA_VERSION);
    const char *pv[] = {ver};
    if ((rc = query(db, "INSERT INTO sched_meta (key, value) VALUES ('schema_version', $1) ON CONFLICT DO NOTHING",
                    1, pv, NULL, NULL, err)))
        goto done;
    if ((rc = query(db, "SELECT value FROM sched_meta WHERE key = 'schema_version'", 0, NULL, &r, NULL, err)))
        goto done;
    if (r.n_rows != 1 || atoi(cell(&r, 0, 0) ? cell(&r, 0, 0) : "0") != SCHEMA_VERSION) {
        rc = cn_err_set(err, CN_EUNSUPPORTED,
                        "scheduler DB %s: schema_version %s, this chronon reads version %d (use the chronon "
                        "that wrote it, or a new CHRONON_SCHEDULER_DB)",
                        db->safe_uri, r.n_rows ? cell(&r, 0, 0) : "(missing)", SCHEMA_VERSION);
        goto done;
    }
done:
    if (rc) cn_sched_db_close(db);
    else *out = db;
    return rc;
}

void cn_sched_db_close(CnSchedDb *db) {
    if (!db) return;
    if (db->sq) sqlite3_close(db->sq);
    if (db->conn) PQfinish(db->conn);
    cn_arena_fini(&db->rows);
    cn_free(db->safe_uri);
    cn_free(db);
}

const char *cn_sched_db_uri(const CnSchedDb *db) { return db->safe_uri; }

/* ------------------------------------------------------------- task instances */

#define TI_COLS                                                                                    \
    "dag_id, task_id, ds, state, try_number, pid, pid_start, host, owner, start_ms, end_ms, next_ms, " \
    "first_ms, log_path, reason, try_base"

static void copy(char *dst, size_t cap, const char *src) { snprintf(dst, cap, "%s", src ? src : ""); }

static void ti_from_row(const Rows *r, size_t i, CnSchedTi *t) {
    memset(t, 0, sizeof *t);
    copy(t->dag_id, sizeof t->dag_id, cell(r, i, 0));
    copy(t->task_id, sizeof t->task_id, cell(r, i, 1));
    copy(t->ds, sizeof t->ds, cell(r, i, 2));
    int s = cn_sched_ti_state_parse(cell(r, i, 3));
    t->state = s < 0 ? CN_SCHED_TI_NONE : (CnSchedTiState)s;
    t->try_number = (int)cell_i64(r, i, 4);
    t->pid = cell_i64(r, i, 5);
    t->pid_start = cell_i64(r, i, 6);
    copy(t->host, sizeof t->host, cell(r, i, 7));
    copy(t->owner, sizeof t->owner, cell(r, i, 8));
    t->start_ms = cell_i64(r, i, 9);
    t->end_ms = cell_i64(r, i, 10);
    t->next_ms = cell_i64(r, i, 11);
    t->first_ms = cell_i64(r, i, 12);
    copy(t->log_path, sizeof t->log_path, cell(r, i, 13));
    copy(t->reason, sizeof t->reason, cell(r, i, 14));
    t->try_base = (int)cell_i64(r, i, 15);
}

int cn_sched_db_ti_ensure(CnSchedDb *db, const char *dag, const char *task, const char *ds, CnErr *err) {
    const char *p[] = {dag, task, ds};
    return query(db,
                 "INSERT INTO task_instances (dag_id, task_id, ds, state, try_number) VALUES ($1, $2, $3, "
                 "'none', 0) ON CONFLICT DO NOTHING",
                 3, p, NULL, NULL, err);
}

int cn_sched_db_ti_get(CnSchedDb *db, const char *dag, const char *task, const char *ds, CnSchedTi *out,
                       CnErr *err) {
    const char *p[] = {dag, task, ds};
    Rows r;
    int rc = query(db, "SELECT " TI_COLS " FROM task_instances WHERE dag_id = $1 AND task_id = $2 AND ds = $3", 3,
                   p, &r, NULL, err);
    if (rc) return rc;
    if (!r.n_rows) return CN_ENOTFOUND;
    ti_from_row(&r, 0, out);
    return 0;
}

int cn_sched_db_ti_list(CnSchedDb *db, const char *dag, const char *ds, bool active_only, CnSchedTi **out,
                        size_t *n, CnErr *err) {
    *out = NULL;
    *n = 0;
    const char *p[] = {dag, ds};
    Rows r;
    int rc = query(db,
                   active_only ? "SELECT " TI_COLS " FROM task_instances WHERE state IN ('running', 'queued') "
                                 "ORDER BY ds, dag_id, task_id"
                               : "SELECT " TI_COLS " FROM task_instances WHERE (CAST($1 AS TEXT) IS NULL OR dag_id = $1) AND "
                                 "(CAST($2 AS TEXT) IS NULL OR ds = $2) ORDER BY ds, dag_id, task_id",
                   active_only ? 0 : 2, p, &r, NULL, err);
    if (rc) return rc;
    if (!r.n_rows) return 0;
    CnSchedTi *a = cn_calloc(r.n_rows, sizeof *a);
    if (!a) return cn_err_set(err, CN_ENOMEM, "out of memory listing task instances");
    for (size_t i = 0; i < r.n_rows; i++) ti_from_row(&r, i, &a[i]);
    *out = a;
    *n = r.n_rows;
    return 0;
}

static void fmt_i64(char *buf, size_t cap, int64_t v, const char **slot, bool null_if_zero) {
    snprintf(buf, cap, "%lld", (long long)v);
    *slot = null_if_zero && v == 0 ? NULL : buf;
}

int cn_sched_db_ti_cas(CnSchedDb *db, const CnSchedTi *old, const CnSchedTi *neu, bool *won, CnErr *err) {
    char b[10][24];
    const char *p[19];
    p[0] = cn_sched_ti_state_name(neu->state);
    fmt_i64(b[0], sizeof b[0], neu->try_number, &p[1], false);
    fmt_i64(b[1], sizeof b[1], neu->pid, &p[2], true);
    fmt_i64(b[2], sizeof b[2], neu->pid_start, &p[3], true);
    p[4] = *neu->host ? neu->host : NULL;
    p[5] = *neu->owner ? neu->owner : NULL;
    fmt_i64(b[3], sizeof b[3], neu->start_ms, &p[6], true);
    fmt_i64(b[4], sizeof b[4], neu->end_ms, &p[7], true);
    fmt_i64(b[5], sizeof b[5], neu->next_ms, &p[8], true);
    fmt_i64(b[6], sizeof b[6], neu->first_ms, &p[9], true);
    p[10] = *neu->log_path ? neu->log_path : NULL;
    p[11] = *neu->reason ? neu->reason : NULL;
    p[12] = old->dag_id;
    p[13] = old->task_id;
    p[14] = old->ds;
    p[15] = cn_sched_ti_state_name(old->state);
    fmt_i64(b[7], sizeof b[7], old->try_number, &p[16], false);
    p[17] = old->owner;
    fmt_i64(b[8], sizeof b[8], neu->try_base, &p[18], false);
    long changed = 0;
    int rc = query(db,
                   "UPDATE task_instances SET state = $1, try_number = $2, pid = $3, pid_start = $4, host = $5, "
                   "owner = $6, start_ms = $7, end_ms = $8, next_ms = $9, first_ms = $10, log_path = $11, "
                   "reason = $12, try_base = $19 WHERE dag_id = $13 AND task_id = $14 AND ds = $15 AND state = $16 AND "
                   "try_number = $17 AND COALESCE(owner, '') = $18",
                   19, p, NULL, &changed, err);
    *won = rc == 0 && changed == 1;
    return rc;
}

/* ------------------------------------------------------------------ DAG runs */

static const char *const run_state_names[] = {"queued", "running", "success", "failed"};

const char *cn_sched_run_state_name(CnSchedRunState s) {
    return (size_t)s < CN_ARRAY_LEN(run_state_names) ? run_state_names[s] : "?";
}

#define RUN_COLS "dag_id, ds, state, run_type, created_ms, start_ms, end_ms"

static void run_from_row(const Rows *r, size_t i, CnSchedRun *o) {
    memset(o, 0, sizeof *o);
    copy(o->dag_id, sizeof o->dag_id, cell(r, i, 0));
    copy(o->ds, sizeof o->ds, cell(r, i, 1));
    o->state = CN_SCHED_RUN_QUEUED;
    for (size_t k = 0; k < CN_ARRAY_LEN(run_state_names); k++)
        if (cell(r, i, 2) && !strcmp(cell(r, i, 2), run_state_names[k])) o->state = (CnSchedRunState)k;
    copy(o->run_type, sizeof o->run_type, cell(r, i, 3));
    o->created_ms = cell_i64(r, i, 4);
    o->start_ms = cell_i64(r, i, 5);
    o->end_ms = cell_i64(r, i, 6);
}

int cn_sched_db_run_insert(CnSchedDb *db, const char *dag, const char *ds, const char *run_type, int64_t now_ms,
                           bool *inserted, CnErr *err) {
    char now[24];
    snprintf(now, sizeof now, "%lld", (long long)now_ms);
    const char *p[] = {dag, ds, run_type, now};
    long changed = 0;
    int rc = query(db,
                   "INSERT INTO dag_runs (dag_id, ds, state, run_type, created_ms) VALUES ($1, $2, 'queued', $3, $4) "
                   "ON CONFLICT DO NOTHING",
                   4, p, NULL, &changed, err);
    if (inserted) *inserted = changed == 1;
    return rc;
}

int cn_sched_db_run_list(CnSchedDb *db, const char *dag, const char *ds, CnSchedRun **out, size_t *n, CnErr *err) {
    *out = NULL;
    *n = 0;
    const char *p[] = {dag, ds};
    Rows r;
    int rc = query(db,
                   "SELECT " RUN_COLS " FROM dag_runs WHERE (CAST($1 AS TEXT) IS NULL OR dag_id = $1) AND (CAST($2 AS TEXT) IS NULL OR ds = $2) "
                   "ORDER BY ds, dag_id",
                   2, p, &r, NULL, err);
    if (rc || !r.n_rows) return rc;
    CnSchedRun *a = cn_calloc(r.n_rows, sizeof *a);
    if (!a) return cn_err_set(err, CN_ENOMEM, "out of memory listing DAG runs");
    for (size_t i = 0; i < r.n_rows; i++) run_from_row(&r, i, &a[i]);
    *out = a;
    *n = r.n_rows;
    return 0;
}

int cn_sched_db_run_last(CnSchedDb *db, const char *dag, CnSchedRun *out, CnErr *err) {
    const char *p[] = {dag};
    Rows r;
    int rc = query(db, "SELECT " RUN_COLS " FROM dag_runs WHERE dag_id = $1 ORDER BY ds DESC LIMIT 1", 1, p, &r,
                   NULL, err);
    if (rc) return rc;
    if (!r.n_rows) return CN_ENOTFOUND;
    run_from_row(&r, 0, out);
    return 0;
}

int cn_sched_db_run_set(CnSchedDb *db, const CnSchedRun *run, CnErr *err) {
    char b[3][24];
    const char *p[6] = {run->dag_id, run->ds, cn_sched_run_state_name(run->state)};
    fmt_i64(b[0], sizeof b[0], run->start_ms, &p[3], true);
    fmt_i64(b[1], sizeof b[1], run->end_ms, &p[4], true);
    (void)b[2];
    return query(db, "UPDATE dag_runs SET state = $3, start_ms = $4, end_ms = $5 WHERE dag_id = $1 AND ds = $2", 5,
                 p, NULL, NULL, err);
}

/* ------------------------------------------------------------------ pausing */

int cn_sched_db_pause(CnSchedDb *db, const char *dag, bool paused, int64_t now_ms, CnErr *err) {
    char now[24];
    snprintf(now, sizeof now, "%lld", (long long)now_ms);
    const char *p[] = {dag, now};
    return paused ? query(db, "INSERT INTO paused_dags (dag_id, paused_ms) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                          2, p, NULL, NULL, err)
                  : query(db, "DELETE FROM paused_dags WHERE dag_id = $1", 1, p, NULL, NULL, err);
}

int cn_sched_db_is_paused(CnSchedDb *db, const char *dag, bool *paused, CnErr *err) {
    const char *p[] = {dag};
    Rows r;
    int rc = query(db, "SELECT dag_id FROM paused_dags WHERE dag_id = $1", 1, p, &r, NULL, err);
    *paused = rc == 0 && r.n_rows > 0;
    return rc;
}

int cn_sched_db_heartbeat(CnSchedDb *db, const char *owner, const char *host, int64_t now_ms, CnErr *err) {
    char now[24];
    snprintf(now, sizeof now, "%lld", (long long)now_ms);
    const char *p[] = {owner, host, now};
    return query(db, "INSERT INTO schedulers (owner, host, beat_ms) VALUES ($1, $2, $3) "
                     "ON CONFLICT (owner) DO UPDATE SET beat_ms = excluded.beat_ms",
                 3, p, NULL, NULL, err);
}

int cn_sched_db_heartbeat_get(CnSchedDb *db, const char *owner, int64_t *beat_ms, CnErr *err) {
    const char *p[] = {owner};
    Rows r;
    int rc = query(db, "SELECT beat_ms FROM schedulers WHERE owner = $1", 1, p, &r, NULL, err);
    if (rc) return rc;
    if (r.n_rows == 0) return CN_ENOTFOUND;
    *beat_ms = cell_i64(&r, 0, 0);
    return 0;
}
