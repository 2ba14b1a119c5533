/* sql.h: SQLite as the SQL engine over warehouse tables (`chronon sql`, StagingQuery).
 * Every Iceberg table of the catalog is queryable as `ns.table`; a bare name resolves in
 * the current namespace ("default" until `USE ns`). Spark SQL functions that configs use
 * are registered as SQLite functions and evaluated by src/expr (one implementation of
 * each Spark function); Spark commands (SHOW TABLES, DESCRIBE EXTENDED, SHOW PARTITIONS,
 * USE, ...) are answered from the catalog. docs/sql.md lists what is supported.
 * DESIGN: one in-memory SQLite connection. A namespace referenced by a statement is
 *   ATTACHed as an in-memory database of that name, and each referenced table becomes a
 *   virtual table over Iceberg scans in it (created lazily, before the statement is
 *   prepared); bare names get a virtual table in `main`, which SQLite searches first.
 *   The virtual table turns `ds` constraints into partition pruning and SQLite's
 *   colUsed into column projection. A few Spark spellings are rewritten on the token
 *   stream first: `default.` (a SQLite keyword) is quoted, `CAST(x AS t)` goes through
 *   Spark's cast rules. Catalog views named after FROM/JOIN are expanded into
 *   subqueries first. A plain aggregate over one table (fast.c) skips SQLite's row
 *   loop and runs on the scan's column batches, with the same results.
 * THREADS: a CnSql has one owner thread at a time. */
#ifndef CN_SQL_H
#define CN_SQL_H

#include <stdio.h>

#include "base/compat.h"
#include "base/err.h"
#include "conf/conf.h"
#include "table/table.h"

typedef struct CnSql CnSql;

/* Opens a session over catalog c (BORROWED: must outlive the session). OWNED: *out,
 * cn_sql_close. CN_ENOMEM, CN_EINTERNAL (SQLite could not start). */
int cn_sql_open(CnIceCatalog *c, CnSql **out, CnErr *err);
void cn_sql_close(CnSql *s); /* NULL-safe */

/* verbose: one line per table scan on log (how many data files and rows the ds pruning
 * left). log NULL: stderr. */
void cn_sql_set_verbose(CnSql *s, bool verbose, FILE *log);
/* Vectorised aggregates (on by default; the environment variable CN_SQL_VECTORIZED=0
 * turns them off at open): a plain count/sum/total/avg/min/max over one table, grouped
 * by columns and filtered on ds, runs on column batches instead of SQLite's row loop,
 * with the same results. Off: every SELECT goes through SQLite. */
void cn_sql_set_vectorized(CnSql *s, bool on);
/* Current namespace. BORROWED until the next USE. */
const char *cn_sql_namespace(const CnSql *s);
/* USE ns. CN_ENOTFOUND lists the namespaces. */
int cn_sql_use(CnSql *s, const char *ns, CnErr *err);

/* Value kinds of result cells. */
typedef enum CnSqlKind {
    CN_SQL_NULL = 0,
    CN_SQL_INT = 1,
    CN_SQL_REAL = 2,
    CN_SQL_TEXT = 3,
    CN_SQL_BLOB = 4,
} CnSqlKind;

/* Receives the results of the statements, one result set at a time: begin (column
 * names), rows, end. Any callback may be NULL. A non-zero return stops execution with
 * that code (the callback sets err itself if it wants a message).
 * values[i] is NULL for SQL NULL; text of REAL cells is printed like Spark (shortest
 * round trip, "1.0", "1.0E20"); BLOB cells are hex. BORROWED: valid during the call. */
typedef struct CnSqlSink {
    void *ud;
    int (*begin)(void *ud, uint32_t n_cols, const char *const *names);
    int (*row)(void *ud, uint32_t n_cols, const char *const *values, const CnSqlKind *kinds);
    int (*end)(void *ud);
} CnSqlSink;

/* Runs text: one or more statements separated by ';'. Statements run in order; the
 * first error stops the rest. Errors: CN_ENOTFOUND (table, namespace or column: the
 * message names it and lists similar names), CN_EINVAL (SQL syntax: the message gives
 * line and column in text), CN_EUNSUPPORTED, and any table/storage error. */
int cn_sql_exec(CnSql *s, const char *text, const CnSqlSink *sink, CnErr *err);

/* True when text holds at least one complete statement: a ';' outside quotes and
 * comments, ignoring trailing blanks and comments (used by the interactive prompt). */
bool cn_sql_is_complete(const char *text);

/* Spark's SHOW TABLES LIKE pattern: '*' matches any characters, '|' separates
 * alternatives, case-insensitive. */
bool cn_sql_like_match(const char *pattern, const char *name);

/* ------------------------------------------------------------ StagingQuery */

/* Distinct ds partitions of ns.name, ascending. OWNED: *out (one cn_malloc'd block
 * holding the array and the strings; cn_free it). CN_ENOTFOUND names the table. */
int cn_sql_table_partitions(CnIceCatalog *c, const char *ns, const char *name, char ***out,
                            size_t *n, CnErr *err);

/* Renders a StagingQuery's macros: {{ start_date }}, {{ end_date }}, {{ latest_date }},
 * {{ max_date(table=ns.t) }} (whitespace tolerant, spec/compute.md section 7). A NULL
 * date renders as the text null (Chronon's behaviour without startPartition). c may
 * be NULL when the query uses no max_date. Errors: CN_ECONFIG for a macro left
 * unrendered (named), CN_ENOTFOUND for max_date of a table without partitions (named).
 * OWNED: *out, cn_free. */
int cn_sql_render_macros(CnIceCatalog *c, const char *query, const char *start,
                         const char *end, const char *latest, char **out, CnErr *err);

typedef struct CnSqlRange {
    char start[11], end[11];
} CnSqlRange;

/* Partitions to compute (spec/compute.md section 5, StagingQuery: every day has input):
 * the days of [start, end] missing from existing (sorted or not), from the earliest
 * existing partition on unless run_first_hole, as holes of consecutive days, each
 * split into step_days chunks (step_days <= 0: 30). hole_of[i] (OWNED with *out) gives
 * the hole index of chunk i. OWNED: *out and *hole_of, cn_free. CN_EINVAL for bad
 * dates or start > end. */
int cn_sql_staging_ranges(const char *start, const char *end, const char *const *existing,
                          size_t n_existing, int step_days, bool run_first_hole,
                          CnSqlRange **out, size_t **hole_of, size_t *n, CnErr *err);

typedef struct CnSqlStagingOpts {
    const char *end_ds;        /* job endDs (required) */
    const char *start_ds;      /* --start-ds override, or NULL */
    int step_days;             /* 0: 30 */
    bool run_first_hole;
    FILE *progress;            /* one line per chunk; NULL: stderr */
} CnSqlStagingOpts;

/* Backfills a StagingQuery into its output table <outputNamespace>.<cleanName>
 * (created on first write, partitioned by ds, new query columns appended): setups
 * first, then each chunk of the partitions to compute, rendered and run through the
 * SQL engine, each chunk one overwrite commit of the ds values it produced. A failed
 * hole does not stop the others; the first error is returned at the end, with the
 * number of failed holes. createView=true instead creates or replaces the view
 * <outputNamespace>.<cleanName> in the catalog from the rendered query ({{ start_date }}
 * and {{ end_date }} are refused, CN_ECONFIG) and records the partition endDs of that
 * view in <outputNamespace>.chronon_signal_partitions (staging.c). */
int cn_sql_staging_run(CnIceCatalog *c, const CnStagingQuery *sq, const CnSqlStagingOpts *o,
                       CnErr *err);

#endif /* CN_SQL_H */
