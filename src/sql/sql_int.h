/* sql_int.h: private to src/sql. The session, the token lexer shared by the statement
 * layer and the macro renderer, the virtual table module and the Spark function bridge.
 *
 * Value mapping between Iceberg columns and SQLite values:
 *   | column type        | SQLite value                               | declared type   |
 *   |--------------------|--------------------------------------------|-----------------|
 *   | bool               | INTEGER 0/1                                | BOOL_INT        |
 *   | int32, int64       | INTEGER                                    | INT, BIGINT     |
 *   | float32, float64   | REAL                                       | FLOAT, DOUBLE   |
 *   | date               | TEXT yyyy-MM-dd                            | DATE_TEXT       |
 *   | timestamp          | TEXT as Spark casts it to string           | TIMESTAMP_TEXT  |
 *   | string             | TEXT                                       | TEXT            |
 *   | binary             | BLOB                                       | BLOB            |
 *   | list, map, struct  | TEXT holding JSON, subtype 'J' (as json()) | *_JSON_TEXT     |
 * The declared types carry SQLite's affinity (INT, TEXT, REAL, BLOB substrings) and let
 * a StagingQuery map a result column back to its Iceberg type. */
#ifndef CN_SQL_INT_H
#define CN_SQL_INT_H

#include <sqlite3.h>

#include "base/arena.h"
#include "base/str.h"
#include "sql/sql.h"

/* SQLite's own subtype for JSON text, so json_each() & co. take our arrays. */
#define CN_SQL__SUBTYPE_JSON 74

typedef struct CnSqlFnCache CnSqlFnCache;

/* A catalog table name, as listed. */
typedef struct CnSqlName {
    char *ns, *name;
} CnSqlName;

struct CnSql {
    sqlite3 *db;
    CnIceCatalog *cat;           /* BORROWED */
    char ns[129];                /* current namespace */
    uint64_t gen;                /* bumped per statement: tables reload their snapshot */
    bool verbose;
    FILE *log;
    /* catalog listing, refreshed per statement (in list_arena) */
    CnArena list_arena;
    CnSqlName *tables;
    size_t n_tables;
    CnSqlName *views;            /* catalog views (expanded as subqueries) */
    size_t n_views;
    /* namespaces ATTACHed, in attach order (OWNED strings) */
    char **attached;
    size_t n_attached;
    /* virtual tables created in main for bare names of the current namespace */
    char **main_vtabs;
    size_t n_main_vtabs;
    CnSqlFnCache *fn;
    CnErr *stmt_err;             /* the running statement's err (vtab errors land here) */
    bool no_fast;                /* every SELECT through SQLite (fast.c off) */
};

/* ---- lexer ---- */
typedef enum CnSqlTokKind {
    CN_SQL__TK_WS = 0,
    CN_SQL__TK_COMMENT,
    CN_SQL__TK_IDENT,
    CN_SQL__TK_QIDENT,   /* "x", `x`, [x] */
    CN_SQL__TK_STRING,   /* 'x' */
    CN_SQL__TK_NUMBER,
    CN_SQL__TK_PUNCT,
    CN_SQL__TK_SEMI,
} CnSqlTokKind;

typedef struct CnSqlTok {
    CnSqlTokKind k;
    uint32_t off, len;
} CnSqlTok;

/* Tokens of s[0..n). OWNED: *out, cn_free. CN_ENOMEM only (unterminated quotes end at
 * the end of the text; SQLite reports them). */
int cn_sql__lex(const char *s, size_t n, CnSqlTok **out, size_t *n_out);
/* Case-insensitive comparison of an identifier token with word. */
bool cn_sql__tok_is(const char *s, const CnSqlTok *t, const char *word);
/* Unquoted text of an identifier or string token into buf (truncated to len). */
const char *cn_sql__tok_text(const char *s, const CnSqlTok *t, char *buf, size_t len);

/* ---- session helpers (exec.c) ---- */
/* Rewrites, attaches what the statement references and prepares it. *out is NULL for
 * an empty statement. Errors as cn_sql_exec. */
int cn_sql__prepare(CnSql *s, const char *sql, sqlite3_stmt **out, CnErr *err);
/* Refreshes the catalog listing (once per statement). */
int cn_sql__refresh(CnSql *s, CnErr *err);

/* Distinct ds partitions of t within [lo, hi] (NULL: unbounded), ascending, read from
 * the ds column of the pruned files. OWNED: *out, one block, cn_free. */
int cn_sql__partitions(CnIceCatalog *c, const CnIceTable *t, const char *lo, const char *hi, char ***out, size_t *n,
                       CnErr *err);

/* ---- vectorised aggregates (fast.c) ---- */
/* Runs text (one statement) on column batches when it is a plain aggregate over one
 * table (fast.c lists the shape), feeding sink like cn_sql_exec. *handled false: not
 * that shape (or a case it leaves to SQLite), nothing was sent, run it through SQLite.
 * Errors only when *handled (storage errors, or the sink's code). */
int cn_sql__fast_run(CnSql *s, const char *text, const CnSqlSink *sink, bool *handled, CnErr *err);

/* ---- virtual table module (vtab.c) ---- */
int cn_sql__vtab_register(CnSql *s, CnErr *err);
/* Declared SQLite type of a column type (table above). */
const char *cn_sql__decl_type(const CnType *t);

/* ---- Spark function bridge (func.c) ---- */
int cn_sql__funcs_register(CnSql *s, CnErr *err);
void cn_sql__funcs_free(CnSql *s);
/* Entry i of v as a SQLite result (mapping above); strings are copied. */
void cn_sql__result_vec(CnSql *s, sqlite3_context *ctx, const CnVec *v, uint32_t i);
/* Spark's text of a double ("1.0", "1.0E20") into buf. */
const char *cn_sql__double_text(CnSql *s, double x, char *buf, size_t len);
/* JSON of entry i of a nested (or any) vector, appended to b. */
void cn_sql__json_vec(CnSql *s, CnBuf *b, const CnVec *v, uint32_t i);

#endif /* CN_SQL_INT_H */
