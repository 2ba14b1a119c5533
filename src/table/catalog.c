/* catalog.c: the catalog, Iceberg's JDBC catalog tables in SQLite or PostgreSQL.
 *   iceberg_tables(catalog_name, table_namespace, table_name, metadata_location,
 *                  previous_metadata_location, iceberg_type)  PK (catalog, ns, name)
 * iceberg_type is Iceberg's JDBC schema V1 column: 'TABLE' or 'VIEW' (NULL, in rows of
 * catalogs made before views existed, means TABLE); a table and a view share one name
 * space. Opening a catalog without the column adds it (ALTER TABLE), as Iceberg's
 * migration does.
 *   iceberg_namespace_properties(catalog_name, namespace, property_key, property_value)
 * A namespace exists when it has a row (Iceberg writes property "exists" = "true").
 * A commit is one UPDATE ... WHERE metadata_location = <old>: the row count says whether
 * we won. SQLite waits on a busy database (busy timeout) instead of failing. */
#include "base/compat.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>
#include <sqlite3.h>

#include "base/alloc.h"
#include "base/fs.h"
#include "table/ice_int.h"

#define BUSY_TIMEOUT_MS 30000

static const char *const create_sql[] = {
    "CREATE TABLE IF NOT EXISTS iceberg_tables ("
    "catalog_name VARCHAR(255) NOT NULL, table_namespace VARCHAR(255) NOT NULL, "
    "table_name VARCHAR(255) NOT NULL, metadata_location VARCHAR(1000), "
    "previous_metadata_location VARCHAR(1000), iceberg_type VARCHAR(5), "
    "PRIMARY KEY (catalog_name, table_namespace, table_name))",
    "CREATE TABLE IF NOT EXISTS iceberg_namespace_properties ("
    "catalog_name VARCHAR(255) NOT NULL, namespace VARCHAR(255) NOT NULL, "
    "property_key VARCHAR(255), property_value VARCHAR(1000), "
    "PRIMARY KEY (catalog_name, namespace, property_key))",
};

/* ------------------------------------------------------------------ SQLite */

static sqlite3 *sq(CnIceCatalog *c) { return (sqlite3 *)c->db; }

static int sq_fail(CnIceCatalog *c, int rc, const char *what, CnErr *err) {
    return cn_err_set(err, rc == SQLITE_BUSY ? CN_ECONFLICT : CN_EIO, "catalog %s: %s: %s",
                      c->safe_uri, what, sqlite3_errmsg(sq(c)));
}

static int sq_prepare(CnIceCatalog *c, const char *sql, sqlite3_stmt **st, CnErr *err) {
    int rc = sqlite3_prepare_v2(sq(c), sql, -1, st, NULL);
    return rc == SQLITE_OK ? 0 : sq_fail(c, rc, "prepare", err);
}

static int sq_get(CnIceCatalog *c, const char *type, const char *ns, const char *name, char **loc,
                  CnErr *err) {
    sqlite3_stmt *st = NULL;
    int rc = sq_prepare(c,
                        "SELECT metadata_location FROM iceberg_tables WHERE catalog_name = ?1 "
                        "AND table_namespace = ?2 AND table_name = ?3 AND (iceberg_type = ?9 OR (iceberg_type IS NULL AND ?9 = 'TABLE'))",
                        &st, err);
    if (rc < 0) return rc;
    sqlite3_bind_text(st, 9, type, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 1, CN_ICE__CATALOG_NAME, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, ns, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, name, -1, SQLITE_STATIC);
    int s = sqlite3_step(st);
    if (s == SQLITE_ROW) {
        const char *v = (const char *)sqlite3_column_text(st, 0);
        *loc = cn_strdup(v ? v : "");
        rc = *loc ? 0 : CN_ENOMEM;
    } else if (s == SQLITE_DONE) {
        rc = CN_ENOTFOUND;
    } else {
        rc = sq_fail(c, s, "read iceberg_tables", err);
    }
    sqlite3_finalize(st);
    return rc;
}

static int sq_exec(CnIceCatalog *c, const char *sql, CnErr *err) {
    char *msg = NULL;
    int rc = sqlite3_exec(sq(c), sql, NULL, NULL, &msg);
    if (rc != SQLITE_OK) {
        cn_err_set(err, rc == SQLITE_BUSY ? CN_ECONFLICT : CN_EIO, "catalog %s: %s",
                   c->safe_uri, msg ? msg : sqlite3_errstr(rc));
        sqlite3_free(msg);
        return rc == SQLITE_BUSY ? CN_ECONFLICT : CN_EIO;
    }
    return 0;
}

static int sq_ensure_ns(CnIceCatalog *c, const char *ns, CnErr *err) {
    sqlite3_stmt *st = NULL;
    int rc = sq_prepare(c,
                        "INSERT OR IGNORE INTO iceberg_namespace_properties (catalog_name, "
                        "namespace, property_key, property_value) VALUES (?1, ?2, 'exists', 'true')",
                        &st, err);
    if (rc < 0) return rc;
    sqlite3_bind_text(st, 1, CN_ICE__CATALOG_NAME, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, ns, -1, SQLITE_STATIC);
    int s = sqlite3_step(st);
    if (s != SQLITE_DONE) rc = sq_fail(c, s, "create namespace", err);
    sqlite3_finalize(st);
    return rc;
}

static int sq_insert(CnIceCatalog *c, const char *type, const char *ns, const char *name,
                     const char *loc, CnErr *err) {
    sqlite3_stmt *st = NULL;
    int rc = sq_prepare(c,
                        "INSERT INTO iceberg_tables (catalog_name, table_namespace, table_name, "
                        "metadata_location, previous_metadata_location, iceberg_type) "
                        "VALUES (?1, ?2, ?3, ?4, NULL, ?5)",
                        &st, err);
    if (rc < 0) return rc;
    sqlite3_bind_text(st, 5, type, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 1, CN_ICE__CATALOG_NAME, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, ns, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, name, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, loc, -1, SQLITE_STATIC);
    int s = sqlite3_step(st);
    if (s == SQLITE_CONSTRAINT)
        rc = CN_EEXISTS;
    else if (s != SQLITE_DONE)
        rc = sq_fail(c, s, "insert into iceberg_tables", err);
    sqlite3_finalize(st);
    return rc;
}

static int sq_cas(CnIceCatalog *c, const char *ns, const char *name, const char *old_loc,
                  const char *new_loc, CnErr *err) {
    sqlite3_stmt *st = NULL;
    int rc = sq_prepare(c,
                        "UPDATE iceberg_tables SET metadata_location = ?4, "
                        "previous_metadata_location = ?5 WHERE catalog_name = ?1 AND "
                        "table_namespace = ?2 AND table_name = ?3 AND metadata_location = ?5",
                        &st, err);
    if (rc < 0) return rc;
    sqlite3_bind_text(st, 1, CN_ICE__CATALOG_NAME, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, ns, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, name, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, new_loc, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 5, old_loc, -1, SQLITE_STATIC);
    int s = sqlite3_step(st);
    if (s != SQLITE_DONE)
        rc = sq_fail(c, s, "update iceberg_tables", err);
    else if (sqlite3_changes(sq(c)) != 1)
        rc = CN_ECONFLICT;
    sqlite3_finalize(st);
    return rc;
}

static int sq_drop(CnIceCatalog *c, const char *ns, const char *name, const char *loc, CnErr *err) {
    sqlite3_stmt *st = NULL;
    int rc = sq_prepare(c,
                        "DELETE FROM iceberg_tables WHERE catalog_name = ?1 AND table_namespace = ?2 "
                        "AND table_name = ?3 AND metadata_location = ?4",
                        &st, err);
    if (rc < 0) return rc;
    sqlite3_bind_text(st, 1, CN_ICE__CATALOG_NAME, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, ns, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, name, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, loc, -1, SQLITE_STATIC);
    int s = sqlite3_step(st);
    if (s != SQLITE_DONE)
        rc = sq_fail(c, s, "delete from iceberg_tables", err);
    else if (sqlite3_changes(sq(c)) != 1)
        rc = CN_ECONFLICT;
    sqlite3_finalize(st);
    return rc;
}

static int sq_lines(CnIceCatalog *c, const char *sql, const char *arg, const char *type, CnBuf *out,
                    CnErr *err) {
    sqlite3_stmt *st = NULL;
    int rc = sq_prepare(c, sql, &st, err);
    if (rc < 0) return rc;
    sqlite3_bind_text(st, 1, CN_ICE__CATALOG_NAME, -1, SQLITE_STATIC);
    if (arg) sqlite3_bind_text(st, 2, arg, -1, SQLITE_STATIC);
    if (type) sqlite3_bind_text(st, 9, type, -1, SQLITE_STATIC);
    int s;
    while ((s = sqlite3_step(st)) == SQLITE_ROW) {
        int nc = sqlite3_column_count(st);
        for (int i = 0; i < nc; i++) {
            const char *v = (const char *)sqlite3_column_text(st, i);
            cn_buf_puts(out, v ? v : "");
            cn_buf_putc(out, i + 1 < nc ? '\t' : '\n');
        }
    }
    if (s != SQLITE_DONE) rc = sq_fail(c, s, "list", err);
    sqlite3_finalize(st);
    if (!rc && out->oom) rc = CN_ENOMEM;
    return rc;
}

static int sq_list(CnIceCatalog *c, const char *type, const char *ns, CnBuf *out, CnErr *err) {
    if (ns)
        return sq_lines(c,
                        "SELECT table_namespace, table_name FROM iceberg_tables WHERE "
                        "catalog_name = ?1 AND table_namespace = ?2 AND (iceberg_type = ?9 OR (iceberg_type IS NULL AND ?9 = 'TABLE')) ORDER BY 1, 2",
                        ns, type, out, err);
    return sq_lines(c,
                    "SELECT table_namespace, table_name FROM iceberg_tables WHERE "
                    "catalog_name = ?1 AND (iceberg_type = ?9 OR (iceberg_type IS NULL AND ?9 = 'TABLE')) ORDER BY 1, 2",
                    NULL, type, out, err);
}

static int sq_list_ns(CnIceCatalog *c, CnBuf *out, CnErr *err) {
    return sq_lines(c,
                    "SELECT namespace FROM iceberg_namespace_properties WHERE catalog_name = ?1 "
                    "UNION SELECT table_namespace FROM iceberg_tables WHERE catalog_name = ?1 "
                    "ORDER BY 1",
                    NULL, NULL, out, err);
}

static void sq_close(CnIceCatalog *c) { sqlite3_close(sq(c)); }

static const CnIceCatOps sqlite_ops = {sq_get, sq_insert, sq_cas, sq_ensure_ns, sq_drop,
                                       sq_list, sq_list_ns, sq_close};

int cn_ice__sqlite_open(CnIceCatalog *c, const char *path, CnErr *err) {
    sqlite3 *db = NULL;
    c->ops = &sqlite_ops;
    int s = sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);
    c->db = db;
    if (s != SQLITE_OK)
        return cn_err_set(err, CN_EIO, "catalog %s: cannot open: %s (does the directory exist?)",
                          c->safe_uri, db ? sqlite3_errmsg(db) : sqlite3_errstr(s));
    sqlite3_busy_timeout(db, BUSY_TIMEOUT_MS);
    /* WAL lets readers run during a commit; the busy timeout serialises writers. */
    int rc = sq_exec(c, "PRAGMA journal_mode=WAL", err);
    for (size_t i = 0; rc == 0 && i < CN_ARRAY_LEN(create_sql); i++) rc = sq_exec(c, create_sql[i], err);
    if (rc == 0) { /* a catalog from before views: add iceberg_type (JDBC schema V1) */
        sqlite3_stmt *st = NULL;
        bool has = false;
        if ((rc = sq_prepare(c, "SELECT 1 FROM pragma_table_info('iceberg_tables') WHERE name = 'iceberg_type'", &st,
                             err)) < 0)
            return rc;
        has = sqlite3_step(st) == SQLITE_ROW;
        sqlite3_finalize(st);
        CnErr e2 = CN_ERR_INIT;
        /* two processes may race to add it: the loser's "duplicate column" is fine */
        if (!has && sq_exec(c, "ALTER TABLE iceberg_tables ADD COLUMN iceberg_type VARCHAR(5)", &e2) < 0 &&
            !strstr(cn_err_msg(&e2), "duplicate column"))
            rc = cn_err_set(err, e2.code, "%s", cn_err_msg(&e2));
    }
    return rc;
}

/* -------------------------------------------------------------- PostgreSQL */

static PGconn *pg(CnIceCatalog *c) { return (PGconn *)c->db; }

static int pg_fail(CnIceCatalog *c, PGresult *r, const char *what, CnErr *err) {
    const char *msg = r ? PQresultErrorMessage(r) : PQerrorMessage(pg(c));
    char clean[512];
    snprintf(clean, sizeof clean, "%s", msg && *msg ? msg : "no answer");
    size_t l = strlen(clean);
    while (l && (clean[l - 1] == '\n' || clean[l - 1] == ' ')) clean[--l] = 0;
    /* libpq's messages span lines ("...\n\tIs the server running..."): keep one line */
    char line[600];
    size_t o = 0;
    for (size_t i = 0; i < l && o + 3 < sizeof line; i++) {
        if (clean[i] == '\n') {
            line[o++] = ';';
            line[o++] = ' ';
            while (i + 1 < l && (clean[i + 1] == '\t' || clean[i + 1] == ' ')) i++;
        } else {
            line[o++] = clean[i];
        }
    }
    line[o] = 0;
    int code = PQstatus(pg(c)) == CONNECTION_OK ? CN_EREMOTE : CN_EIO;
    return cn_err_set(err, code, "catalog %s: %s: %s", c->safe_uri, what, line);
}

/* Runs a parameterised statement; *res OWNED by the caller (PQclear) on success. */
static int pg_exec(CnIceCatalog *c, const char *sql, int n, const char *const *params,
                   PGresult **res, const char **sqlstate, CnErr *err) {
    PGresult *r = PQexecParams(pg(c), sql, n, NULL, params, NULL, NULL, 0);
    ExecStatusType st = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
        if (sqlstate) *sqlstate = state && !strcmp(state, "23505") ? "23505" : "";
        if (sqlstate && !strcmp(*sqlstate, "23505")) {
            PQclear(r);
            return CN_EEXISTS;
        }
        int rc = pg_fail(c, r, "query", err);
        PQclear(r);
        return rc;
    }
    *res = r;
    return 0;
}

static int pg_get(CnIceCatalog *c, const char *type, const char *ns, const char *name, char **loc,
                  CnErr *err) {
    const char *p[] = {CN_ICE__CATALOG_NAME, ns, name, type};
    PGresult *r = NULL;
    int rc = pg_exec(c,
                     "SELECT metadata_location FROM iceberg_tables WHERE catalog_name = $1 AND "
                     "table_namespace = $2 AND table_name = $3 AND "
                     "(iceberg_type = $4 OR (iceberg_type IS NULL AND $4 = 'TABLE'))",
                     4, p, &r, NULL, err);
    if (rc < 0) return rc;
    if (PQntuples(r) == 0) {
        rc = CN_ENOTFOUND;
    } else {
        *loc = cn_strdup(PQgetvalue(r, 0, 0));
        rc = *loc ? 0 : CN_ENOMEM;
    }
    PQclear(r);
    return rc;
}

static int pg_insert(CnIceCatalog *c, const char *type, const char *ns, const char *name,
                     const char *loc, CnErr *err) {
    const char *p[] = {CN_ICE__CATALOG_NAME, ns, name, loc, type};
    PGresult *r = NULL;
    const char *state = NULL;
    int rc = pg_exec(c,
                     "INSERT INTO iceberg_tables (catalog_name, table_namespace, table_name, "
                     "metadata_location, previous_metadata_location, iceberg_type) "
                     "VALUES ($1, $2, $3, $4, NULL, $5)",
                     5, p, &r, &state, err);
    if (rc == 0) PQclear(r);
    return rc;
}

static int pg_cas(CnIceCatalog *c, const char *ns, const char *name, const char *old_loc,
                  const char *new_loc, CnErr *err) {
    const char *p[] = {CN_ICE__CATALOG_NAME, ns, name, new_loc, old_loc};
    PGresult *r = NULL;
    int rc = pg_exec(c,
                     "UPDATE iceberg_tables SET metadata_location = $4, "
                     "previous_metadata_location = $5 WHERE catalog_name = $1 AND "
                     "table_namespace = $2 AND table_name = $3 AND metadata_location = $5",
                     5, p, &r, NULL, err);
    if (rc < 0) return rc;
    if (strcmp(PQcmdTuples(r), "1") != 0) rc = CN_ECONFLICT;
    PQclear(r);
    return rc;
}

static int pg_ensure_ns(CnIceCatalog *c, const char *ns, CnErr *err) {
    const char *p[] = {CN_ICE__CATALOG_NAME, ns};
    PGresult *r = NULL;
    int rc = pg_exec(c,
                     "INSERT INTO iceberg_namespace_properties (catalog_name, namespace, "
                     "property_key, property_value) VALUES ($1, $2, 'exists', 'true') "
                     "ON CONFLICT DO NOTHING",
                     2, p, &r, NULL, err);
    if (rc == 0) PQclear(r);
    return rc;
}

static int pg_drop(CnIceCatalog *c, const char *ns, const char *name, const char *loc, CnErr *err) {
    const char *p[] = {CN_ICE__CATALOG_NAME, ns, name, loc};
    PGresult *r = NULL;
    int rc = pg_exec(c,
                     "DELETE FROM iceberg_tables WHERE catalog_name = $1 AND table_namespace = $2 "
                     "AND table_name = $3 AND metadata_location = $4",
                     4, p, &r, NULL, err);
    if (rc < 0) return rc;
    if (strcmp(PQcmdTuples(r), "1") != 0) rc = CN_ECONFLICT;
    PQclear(r);
    return rc;
}

static int pg_lines(CnIceCatalog *c, const char *sql, int n, const char *const *p, CnBuf *out,
                    CnErr *err) {
    PGresult *r = NULL;
    int rc = pg_exec(c, sql, n, p, &r, NULL, err);
    if (rc < 0) return rc;
    int nc = PQnfields(r);
    for (int i = 0; i < PQntuples(r); i++)
        for (int j = 0; j < nc; j++) {
            cn_buf_puts(out, PQgetvalue(r, i, j));
            cn_buf_putc(out, j + 1 < nc ? '\t' : '\n');
        }
    PQclear(r);
    return out->oom ? CN_ENOMEM : 0;
}

static int pg_list(CnIceCatalog *c, const char *type, const char *ns, CnBuf *out, CnErr *err) {
    const char *p[] = {CN_ICE__CATALOG_NAME, type, ns};
    if (ns)
        return pg_lines(c,
                        "SELECT table_namespace, table_name FROM iceberg_tables WHERE "
                        "catalog_name = $1 AND table_namespace = $3 AND "
                        "(iceberg_type = $2 OR (iceberg_type IS NULL AND $2 = 'TABLE')) ORDER BY 1, 2",
                        3, p, out, err);
    return pg_lines(c,
                    "SELECT table_namespace, table_name FROM iceberg_tables WHERE "
                    "catalog_name = $1 AND (iceberg_type = $2 OR (iceberg_type IS NULL AND $2 = 'TABLE')) "
                    "ORDER BY 1, 2",
                    2, p, out, err);
}

static int pg_list_ns(CnIceCatalog *c, CnBuf *out, CnErr *err) {
    const char *p[] = {CN_ICE__CATALOG_NAME};
    return pg_lines(c,
                    "SELECT namespace FROM iceberg_namespace_properties WHERE catalog_name = $1 "
                    "UNION SELECT table_namespace FROM iceberg_tables WHERE catalog_name = $1 "
                    "ORDER BY 1",
                    1, p, out, err);
}

static void pg_close(CnIceCatalog *c) { PQfinish(pg(c)); }

static const CnIceCatOps pg_ops = {pg_get, pg_insert, pg_cas, pg_ensure_ns, pg_drop,
                                   pg_list, pg_list_ns, pg_close};

int cn_ice__pg_open(CnIceCatalog *c, const char *conninfo, CnErr *err) {
    c->ops = &pg_ops;
    PGconn *conn = PQconnectdb(conninfo);
    c->db = conn;
    if (!conn) return cn_err_set(err, CN_ENOMEM, "catalog %s: out of memory", c->safe_uri);
    if (PQstatus(conn) != CONNECTION_OK) return pg_fail(c, NULL, "cannot connect", err);
    PGresult *r = PQexec(conn, "SET client_min_messages = warning");
    PQclear(r);
    for (size_t i = 0; i < CN_ARRAY_LEN(create_sql); i++) {
        /* Two processes creating the tables at once may collide in pg_type; the loser
         * finds them on the second try. */
        int rc = 0;
        for (int attempt = 0; attempt < 3; attempt++) {
            CnErr e2 = CN_ERR_INIT;
            r = NULL;
            rc = pg_exec(c, create_sql[i], 0, NULL, &r, NULL, &e2);
            if (rc == 0) {
                PQclear(r);
                break;
            }
            if (attempt == 2) {
                cn_err_set(err, rc, "%s", cn_err_msg(&e2));
                return rc == CN_EEXISTS ? CN_EREMOTE : rc;
            }
        }
    }
    /* a catalog from before views: add iceberg_type (JDBC schema V1) */
    r = NULL;
    int rc = pg_exec(c, "ALTER TABLE iceberg_tables ADD COLUMN IF NOT EXISTS iceberg_type VARCHAR(5)", 0, NULL, &r,
                     NULL, err);
    if (rc == 0) PQclear(r);
    return rc;
}

/* -------------------------------------------------------------- the facade */

static char *redact(const char *uri) {
    /* scheme://user:password@host -> scheme://user:***@host */
    char *s = cn_strdup(uri);
    if (!s) return NULL;
    char *p = strstr(s, "://");
    if (!p) return s;
    char *at = strchr(p + 3, '@');
    char *colon = strchr(p + 3, ':');
    if (at && colon && colon < at) {
        size_t tail = strlen(at);
        memcpy(colon + 1, "***", 3);
        memmove(colon + 4, at, tail + 1);
    }
    return s;
}

int cn_ice_catalog_open(const char *warehouse, const char *catalog, CnIceCatalog **out,
                        CnErr *err) {
    *out = NULL;
    CnIceCatalog *c = cn_calloc(1, sizeof *c);
    if (!c) return cn_err_set(err, CN_ENOMEM, "out of memory");
    int rc = 0;
    c->uri = cn_strdup(catalog);
    c->safe_uri = redact(catalog);
    if (!c->uri || !c->safe_uri) {
        rc = cn_err_set(err, CN_ENOMEM, "out of memory");
        goto done;
    }
    const char *local = cn_str_starts_with(warehouse, "file://") ? warehouse + 7 : warehouse;
    if (local[0] == '/' && !cn_fs_is_dir(local)) {
        rc = cn_fs_mkdirs(local, err);
        if (rc < 0) goto done;
    }
    rc = cn_obj_open(warehouse, NULL, &c->store, err);
    if (rc < 0) {
        cn_err_ctx(err, rc, "warehouse %s", warehouse);
        goto done;
    }
    c->warehouse = cn_strdup(cn_obj_root(c->store));
    if (!c->warehouse) {
        rc = cn_err_set(err, CN_ENOMEM, "out of memory");
        goto done;
    }
    if (cn_str_starts_with(catalog, "sqlite:")) {
        const char *path = catalog + 7;
        if (cn_str_starts_with(path, "//")) path += 2; /* sqlite:///abs */
        if (!*path) {
            rc = cn_err_set(err, CN_EINVAL, "catalog \"%s\": no database path after sqlite:", catalog);
            goto done;
        }
        rc = cn_ice__sqlite_open(c, path, err);
    } else if (cn_str_starts_with(catalog, "postgresql://") || cn_str_starts_with(catalog, "postgres://")) {
        rc = cn_ice__pg_open(c, catalog, err);
    } else {
        rc = cn_err_set(err, CN_EINVAL,
                        "catalog \"%s\": unsupported URI (expected sqlite:<path> or "
                        "postgresql://user@host:port/db)",
                        c->safe_uri);
    }
done:
    if (rc < 0) {
        cn_ice_catalog_close(c);
        return rc;
    }
    *out = c;
    return 0;
}

void cn_ice_catalog_close(CnIceCatalog *c) {
    if (!c) return;
    if (c->ops && c->db) c->ops->close(c);
    cn_obj_close(c->store);
    cn_free(c->uri);
    cn_free(c->safe_uri);
    cn_free(c->warehouse);
    cn_free(c);
}

const char *cn_ice_catalog_warehouse(const CnIceCatalog *c) { return c->warehouse; }
const char *cn_ice_catalog_uri(const CnIceCatalog *c) { return c->uri; }

static bool valid_part(const char *s, size_t n) {
    if (n == 0 || n > 128 || s[0] == '-') return false;
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == '_' || ch == '-'))
            return false;
    }
    return true;
}

int cn_ice_name_parse(const char *full, char ns[129], char name[129], CnErr *err) {
    const char *dot = strchr(full, '.');
    const char *n_ns = dot ? full : "default";
    size_t l_ns = dot ? (size_t)(dot - full) : 7;
    const char *n_t = dot ? dot + 1 : full;
    size_t l_t = strlen(n_t);
    if (!valid_part(n_ns, l_ns))
        return cn_err_set(err, CN_EINVAL,
                          "table name \"%s\": bad namespace \"%.*s\" (expected 1-128 of "
                          "[A-Za-z0-9_-], not starting with '-')",
                          full, (int)CN_MIN(l_ns, 200), n_ns);
    if (!valid_part(n_t, l_t))
        return cn_err_set(err, CN_EINVAL,
                          "table name \"%s\": bad table name \"%.*s\" (expected ns.name, each "
                          "1-128 of [A-Za-z0-9_-], not starting with '-')",
                          full, (int)CN_MIN(l_t, 200), n_t);
    memcpy(ns, n_ns, l_ns);
    ns[l_ns] = 0;
    memcpy(name, n_t, l_t);
    name[l_t] = 0;
    return 0;
}

int cn_ice_catalog_list(CnIceCatalog *c, const char *ns, CnIceNameFn fn, void *ud, CnErr *err) {
    CnBuf b = CN_BUF_INIT;
    int rc = c->ops->list(c, "TABLE", ns, &b, err);
    for (char *line = b.data; rc == 0 && line && *line;) {
        char *nl = strchr(line, '\n');
        if (!nl) break;
        *nl = 0;
        char *tab = strchr(line, '\t');
        if (tab) {
            *tab = 0;
            rc = fn(ud, line, tab + 1);
        }
        line = nl + 1;
    }
    cn_buf_fini(&b);
    return rc;
}
