/* test_sql.c: the SQL engine over a temporary warehouse: catalog commands, SELECT with
 * joins and aggregates, ds pruning (files scanned), projection, Spark functions against
 * hand-computed values, errors (table, namespace, column, syntax with position); the
 * StagingQuery pieces: macros, partitions to compute (spec/compute.md sections 5 and 7
 * worked examples), and a backfill run with holes, step-days and a failing chunk. */
#include "cn_test.h"

#include <dirent.h>
#include <math.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/str.h"
#include "sql/sql.h"
#include "table/table.h"

typedef struct Env {
    char dir[256], wh[300], cat[320];
    CnIceCatalog *c;
    CnSql *s;
    CnErr err;
} Env;

/* Table ns.name (user_id int64, amount float64, ds string) with n_per_ds rows in each of
 * the n_ds days from 2024-01-01: user_id = i, amount = i + day. One commit per day, so
 * one file per partition. */
static void make_table(Env *e, const char *ns, const char *name, int n_ds, int n_per_ds) {
    CnSchema *s = NULL;
    CnErr err = CN_ERR_INIT;
    assert_int_equal(cn_col_schema_new(&s), 0);
    ASSERT_OK(cn_col_schema_add(s, "user_id", cn_col_type_prim(CN_COL_INT64), true, -1, &err), &err);
    ASSERT_OK(cn_col_schema_add(s, "amount", cn_col_type_prim(CN_COL_FLOAT64), true, -1, &err), &err);
    ASSERT_OK(cn_col_schema_add(s, "ds", cn_col_type_prim(CN_COL_STRING), true, -1, &err), &err);
    ASSERT_OK(cn_ice_table_create(e->c, ns, name, s, NULL, 0, &err), &err);
    cn_col_schema_free(s);
    for (int d = 0; d < n_ds; d++) {
        CnIceWrite *w = NULL;
        ASSERT_OK(cn_ice_write_begin(e->c, ns, name, CN_ICE_APPEND, &w, &err), &err);
        CnBatch *b = NULL;
        ASSERT_OK(cn_col_batch_new(cn_ice_write_schema(w), &b, &err), &err);
        char ds[32];
        snprintf(ds, sizeof ds, "2024-01-%02d", (d + 1) % 100);
        for (int i = 0; i < n_per_ds; i++) {
            cn_col_vec_append_i64(&b->cols[0], i);
            cn_col_vec_append_f64(&b->cols[1], i + d + 1);
            cn_col_vec_append_str(&b->cols[2], ds, 10);
        }
        ASSERT_OK(cn_col_batch_sync_rows(b, &err), &err);
        ASSERT_OK(cn_ice_write_batch(w, b, &err), &err);
        ASSERT_OK(cn_ice_write_commit(w, NULL, &err), &err);
        cn_col_batch_free(b);
        cn_ice_write_free(w);
    }
}

static void env_open(Env *e) {
    memset(e, 0, sizeof *e);
    const char *t = getenv("TMPDIR");
    snprintf(e->dir, sizeof e->dir, "%s/cn_sql_XXXXXX", t && *t ? t : "/tmp");
    assert_non_null(mkdtemp(e->dir));
    snprintf(e->wh, sizeof e->wh, "%s/wh", e->dir);
    snprintf(e->cat, sizeof e->cat, "sqlite:%s/catalog.db", e->dir);
    ASSERT_OK(cn_ice_catalog_open(e->wh, e->cat, &e->c, &e->err), &e->err);
    make_table(e, "data", "events", 5, 4);
    make_table(e, "data", "users", 1, 3);
    ASSERT_OK(cn_sql_open(e->c, &e->s, &e->err), &e->err);
}

static void env_close(Env *e) {
    cn_sql_close(e->s);
    cn_ice_catalog_close(e->c);
    cn_test_rm_rf(e->dir);
}

/* Collects results as "col|col\n" lines, header first; NULL prints as \N. */
typedef struct Cap {
    CnBuf b;
} Cap;

static int cap_begin(void *ud, uint32_t n, const char *const *names) {
    Cap *c = ud;
    for (uint32_t i = 0; i < n; i++) cn_buf_printf(&c->b, "%s%s", i ? "|" : "", names[i]);
    cn_buf_putc(&c->b, '\n');
    return 0;
}
static int cap_row(void *ud, uint32_t n, const char *const *v, const CnSqlKind *k) {
    (void)k;
    Cap *c = ud;
    for (uint32_t i = 0; i < n; i++) cn_buf_printf(&c->b, "%s%s", i ? "|" : "", v[i] ? v[i] : "\\N");
    cn_buf_putc(&c->b, '\n');
    return 0;
}

/* Runs text; returns the captured output (static buffer) or fails the test. */
static const char *q(Env *e, const char *text) {
    static char out[16384];
    Cap c = {CN_BUF_INIT};
    CnSqlSink sink = {&c, cap_begin, cap_row, NULL};
    CnErr err = CN_ERR_INIT;
    int rc = cn_sql_exec(e->s, text, &sink, &err);
    if (rc) fail_msg("%s: %s", text, cn_err_msg(&err));
    snprintf(out, sizeof out, "%s", c.b.data ? c.b.data : "");
    cn_buf_fini(&c.b);
    return out;
}

/* Runs text expecting error code; returns the message. */
static const char *q_err(Env *e, const char *text, int code) {
    static char msg[2048];
    CnErr err = CN_ERR_INIT;
    int rc = cn_sql_exec(e->s, text, NULL, &err);
    ASSERT_ERR(rc, code, &err);
    snprintf(msg, sizeof msg, "%s", cn_err_msg(&err));
    return msg;
}

/* ---------------------------------------------------------------- tests */

static void show_and_use(void **state) {
    (void)state;
    Env e;
    env_open(&e);
    assert_string_equal(q(&e, "SHOW NAMESPACES"), "namespace\ndata\ndefault\n");
    assert_string_equal(q(&e, "SHOW DATABASES LIKE 'd*'"), "namespace\ndata\ndefault\n");
    assert_string_equal(q(&e, "SHOW SCHEMAS LIKE 'def*'"), "namespace\ndefault\n");
    assert_string_equal(q(&e, "SHOW TABLES IN data"),
                        "namespace|tableName|isTemporary\ndata|events|false\ndata|users|false\n");
    assert_string_equal(q(&e, "show tables in data like '*user*'"),
                        "namespace|tableName|isTemporary\ndata|users|false\n");
    assert_string_equal(q(&e, "SHOW TABLES IN data LIKE 'ev*|nothing'"),
                        "namespace|tableName|isTemporary\ndata|events|false\n");
    /* current namespace: default has no tables; USE switches bare names */
    assert_string_equal(q(&e, "SHOW TABLES"), "namespace|tableName|isTemporary\n");
    assert_string_equal(q(&e, "USE data; SELECT count(*) AS n FROM users"), "n\n3\n");
    assert_string_equal(cn_sql_namespace(e.s), "data");
    assert_string_equal(q(&e, "SHOW PARTITIONS events"),
                        "partition\nds=2024-01-01\nds=2024-01-02\nds=2024-01-03\nds=2024-01-04\nds=2024-01-05\n");
    env_close(&e);
}

static void describe_extended(void **state) {
    (void)state;
    Env e;
    env_open(&e);
    const char *d = q(&e, "DESCRIBE EXTENDED data.events");
    ASSERT_CONTAINS(d, "col_name|data_type|comment\nuser_id|bigint|\namount|double|\nds|string|\n");
    ASSERT_CONTAINS(d, "# Partitioning||\nPart 0|ds|\n");
    ASSERT_CONTAINS(d, "Table Type|ICEBERG|\n");
    ASSERT_CONTAINS(d, "Provider|iceberg|\n");
    ASSERT_CONTAINS(d, "Name|data.events|\n");
    ASSERT_CONTAINS(d, "/data.db/events|\n");
    /* plain DESCRIBE has no detailed section */
    const char *p = q(&e, "DESC data.events");
    assert_null(strstr(p, "ICEBERG"));
    env_close(&e);
}

static void select_join_aggregate(void **state) {
    (void)state;
    Env e;
    env_open(&e);
    /* events: day d (1..5) has users 0..3 with amount i + d */
    assert_string_equal(q(&e, "SELECT ds, count(*) AS n, sum(amount) AS s FROM data.events GROUP BY ds ORDER BY ds"),
                        "ds|n|s\n2024-01-01|4|10.0\n2024-01-02|4|14.0\n2024-01-03|4|18.0\n2024-01-04|4|22.0\n"
                        "2024-01-05|4|26.0\n");
    /* users exist only for 0..2 on 2024-01-01 */
    assert_string_equal(q(&e, "SELECT u.user_id, sum(e.amount) AS s FROM data.events e JOIN data.users u "
                              "ON e.user_id = u.user_id GROUP BY u.user_id ORDER BY 1"),
                        "user_id|s\n0|15.0\n1|20.0\n2|25.0\n");
    /* several statements, backquotes, default namespace quoting */
    assert_string_equal(q(&e, "SELECT max(`user_id`) AS m FROM `data`.`events`; SELECT 1 AS one"), "m\n3\none\n1\n");
    assert_string_equal(q(&e, "SELECT count(*) AS n FROM spark_catalog.data.users"), "n\n3\n");
    env_close(&e);
}

/* One scan line from verbose mode, for the pruning assertions. */
static const char *scan_line(Env *e, const char *text, char *buf, size_t len) {
    FILE *log = tmpfile();
    assert_non_null(log);
    cn_sql_set_verbose(e->s, true, log);
    q(e, text);
    cn_sql_set_verbose(e->s, false, NULL);
    rewind(log);
    size_t n = fread(buf, 1, len - 1, log);
    buf[n] = 0;
    fclose(log);
    return buf;
}

static void ds_pruning_and_projection(void **state) {
    (void)state;
    Env e;
    env_open(&e);
    cn_sql_set_vectorized(e.s, false); /* the virtual table's own pruning and ordering */
    char line[1024];
    ASSERT_CONTAINS(scan_line(&e, "SELECT count(*) FROM data.events", line, sizeof line), "5 of 5 files, 20 rows");
    ASSERT_CONTAINS(scan_line(&e, "SELECT sum(amount) FROM data.events WHERE ds = '2024-01-03'", line, sizeof line),
                    "ds [2024-01-03, 2024-01-03]: 1 of 5 files, 4 rows; columns: amount ds\n");
    ASSERT_CONTAINS(scan_line(&e, "SELECT user_id FROM data.events WHERE ds >= '2024-01-02' AND ds < '2024-01-04'", line,
                              sizeof line),
                    "ds [2024-01-02, 2024-01-04]: 3 of 5 files");
    ASSERT_CONTAINS(scan_line(&e, "SELECT * FROM data.events WHERE ds IN ('2024-01-01', '2024-01-05')", line,
                              sizeof line),
                    "1 of 5 files");
    ASSERT_CONTAINS(scan_line(&e, "SELECT * FROM data.events WHERE ds = '2023-01-01'", line, sizeof line),
                    "0 of 5 files");
    /* GROUP BY / ORDER BY ds read one partition at a time in order (no sort) */
    ASSERT_CONTAINS(scan_line(&e, "SELECT ds, count(*) FROM data.events WHERE ds <= '2024-01-03' GROUP BY ds", line,
                              sizeof line),
                    "in ds order, one partition at a time (3 partitions)");
    assert_string_equal(q(&e, "SELECT ds, min(user_id) AS m FROM data.events WHERE ds >= '2024-01-04' GROUP BY ds "
                              "ORDER BY ds DESC"),
                        "ds|m\n2024-01-05|0\n2024-01-04|0\n");
    assert_string_equal(q(&e, "SELECT DISTINCT ds FROM data.events ORDER BY ds DESC LIMIT 2"),
                        "ds\n2024-01-05\n2024-01-04\n");
    /* the pruned result is still exact */
    assert_string_equal(q(&e, "SELECT count(*) AS n FROM data.events WHERE ds > '2024-01-02' AND ds <= '2024-01-04'"),
                        "n\n8\n");
    env_close(&e);
}

/* Joins: the inner table is materialised once and probed by key, whatever the key's
 * spelling; results equal a nested-loop reference computed by hand. */
static void joins_use_lookups(void **state) {
    (void)state;
    Env e;
    env_open(&e);
    char line[4096];
    const char *l = scan_line(&e, "SELECT count(*) FROM data.events e JOIN data.users u ON e.user_id = u.user_id", line,
                              sizeof line);
    ASSERT_CONTAINS(l, "scan data.users: ds [-inf, +inf]: 1 files, 3 rows in memory for lookups on user_id\n");
    assert_null(strstr(strstr(l, "in memory") + 1, "in memory")); /* built once, not per outer row */
    /* events: users 0..3 on 5 days; users: 0..2 */
    assert_string_equal(q(&e, "SELECT count(*) AS n FROM data.events e JOIN data.users u ON e.user_id = u.user_id"),
                        "n\n15\n");
    assert_string_equal(q(&e, "SELECT count(*) AS n, count(u.user_id) AS m FROM data.events e LEFT JOIN data.users u "
                              "ON e.user_id = u.user_id"),
                        "n|m\n20|15\n");
    /* a text key against an integer column, and a key equal to a computed value */
    assert_string_equal(q(&e, "SELECT count(*) AS n FROM data.events e JOIN data.users u "
                              "ON u.user_id = CAST(e.user_id AS STRING)"),
                        "n\n15\n");
    assert_string_equal(q(&e, "SELECT count(*) AS n FROM data.events e JOIN data.users u ON u.user_id = e.user_id - 1"),
                        "n\n15\n");
    /* self join on the ds partition and the key: 4 users x 5 days */
    assert_string_equal(q(&e, "SELECT count(*) AS n FROM data.events a JOIN data.events b "
                              "ON a.ds = b.ds AND a.user_id = b.user_id"),
                        "n\n20\n");
    /* string keys and a filter constant (not a lookup) */
    assert_string_equal(q(&e, "SELECT count(*) AS n FROM data.events a JOIN data.events b ON a.ds = b.ds"), "n\n80\n");
    l = scan_line(&e, "SELECT count(*) FROM data.events WHERE user_id = 2", line, sizeof line);
    assert_null(strstr(l, "in memory"));
    env_close(&e);
}

/* Each Spark function once, against values worked out by hand from Spark's docs. */
static void spark_functions(void **state) {
    (void)state;
    Env e;
    env_open(&e);
    static const struct { const char *expr, *want; } cases[] = {
        {"date_format('2023-12-01 10:11:12', 'yyyy/MM/dd HH')", "2023/12/01 10"},
        {"from_unixtime(86400)", "1970-01-02 00:00:00"},
        {"from_unixtime(0, 'yyyy-MM-dd')", "1970-01-01"},
        {"unix_timestamp('2023-12-01 00:00:00')", "1701388800"},
        {"unix_timestamp('2023-12-01', 'yyyy-MM-dd')", "1701388800"},
        {"to_date('2023-12-01 10:00:00')", "2023-12-01"},
        {"to_date('01/02/2023', 'MM/dd/yyyy')", "2023-01-02"},
        {"date_add('2023-12-31', 1)", "2024-01-01"},
        {"date_sub('2024-03-01', 1)", "2024-02-29"},
        {"datediff('2023-12-31', '2023-12-01')", "30"},
        {"add_months('2024-01-31', 1)", "2024-02-29"},
        {"year('2023-12-01')", "2023"},
        {"dayofweek('2023-12-03')", "1"},
        {"concat('a', 1, 'b')", "a1b"},
        {"concat('a', NULL)", "\\N"},
        {"concat_ws('-', 'a', NULL, 'b')", "a-b"},
        {"coalesce(NULL, 2)", "2"},
        {"nvl(NULL, 'z')", "z"},
        {"nvl2(1, 'a', 'b')", "a"},
        {"if(1 > 2, 'y', 'n')", "n"},
        {"if(NULL, 'y', 'n')", "n"},
        {"substr('hello', 0, 2)", "he"},
        {"substr('hello', -3)", "llo"},
        {"substring('hello', 2)", "ello"},
        {"lower('AbC')", "abc"},
        {"upper('abc')", "ABC"},
        {"length('héllo')", "5"},
        {"trim('  x  ')", "x"},
        {"lpad('7', 3, '0')", "007"},
        {"replace('a.b.c', '.', '/')", "a/b/c"},
        {"split('a,b,,c', ',')", "[\"a\",\"b\",\"\",\"c\"]"},
        {"size(split('a,b', ','))", "2"},
        {"element_at(split('x,y', ','), 2)", "y"},
        {"array_contains(split('x,y', ','), 'y')", "1"},
        {"regexp_extract('ab12cd', '([0-9]+)', 1)", "12"},
        {"regexp_replace('a1b22', '[0-9]+', '#')", "a#b#"},
        {"CAST('12.7' AS INT)", "12"},
        {"CAST('x' AS INT)", "\\N"},
        {"CAST(1.5 AS STRING)", "1.5"},
        {"CAST('2023-01-05' AS DATE)", "2023-01-05"},
        {"CAST(CAST(7 AS DOUBLE) AS STRING)", "7.0"},
        {"round(2.675, 2)", "2.68"},
        {"round(2.5)", "3.0"},
        {"floor(-1.5)", "-2"},
        {"pmod(-7, 3)", "2"},
        {"greatest(1, 5, 3)", "5"},
        {"abs(-4)", "4"},
        {"1.0E20 * 1", "1.0E20"},
        {"'abc' REGEXP '^a'", "1"},
        {"'Abc' LIKE 'a%'", "0"},
        {"isnull(NULL)", "1"},
        {"datediff(DATE '2024-03-01', DATE '2024-02-01')", "29"},
        {"'a1' RLIKE '[0-9]$'", "1"},
        {"NULL <=> NULL", "1"},
        {"1 <=> NULL", "0"},
    };
    for (size_t i = 0; i < CN_ARRAY_LEN(cases); i++) {
        char text[512], want[600];
        snprintf(text, sizeof text, "SELECT %s AS r", cases[i].expr);
        snprintf(want, sizeof want, "r\n%s\n", cases[i].want);
        const char *got = q(&e, text);
        if (strcmp(got, want)) fail_msg("%s: got %s, want %s", cases[i].expr, got, want);
    }
    /* functions over table columns (one binding per signature, many rows) */
    assert_string_equal(q(&e, "SELECT date_format(ds, 'MM/dd') AS d, concat_ws(':', user_id, amount) AS c "
                              "FROM data.events WHERE ds = '2024-01-02' AND user_id = 3"),
                        "d|c\n01/02|3:5.0\n");
    env_close(&e);
}

static void errors_name_things(void **state) {
    (void)state;
    Env e;
    env_open(&e);
    const char *m = q_err(&e, "SELECT * FROM data.eventz", CN_ENOTFOUND);
    ASSERT_CONTAINS(m, "data.eventz");
    ASSERT_CONTAINS(m, "data.events");
    m = q_err(&e, "SELECT * FROM nons.events", CN_ENOTFOUND);
    ASSERT_CONTAINS(m, "namespace 'nons' not found");
    ASSERT_CONTAINS(m, "data");
    m = q_err(&e, "SELECT amout FROM data.events", CN_ENOTFOUND);
    ASSERT_CONTAINS(m, "column amout not found at line 1, column 8");
    ASSERT_CONTAINS(m, "data.events has user_id, amount, ds");
    m = q_err(&e, "SELECT 1;\nSELECT *\n  FORM data.events", CN_EINVAL);
    ASSERT_CONTAINS(m, "syntax error at line 3, column 3");
    ASSERT_CONTAINS(m, "FORM");
    m = q_err(&e, "SELECT nofn(1)", CN_ENOTFOUND);
    ASSERT_CONTAINS(m, "unknown function nofn");
    m = q_err(&e, "DESCRIBE data.userz", CN_ENOTFOUND);
    ASSERT_CONTAINS(m, "data.users");
    m = q_err(&e, "USE nope", CN_ENOTFOUND);
    ASSERT_CONTAINS(m, "namespace 'nope' not found");
    m = q_err(&e, "SELECT date_add(1.5)", CN_EINVAL);
    ASSERT_CONTAINS(m, "date_add(double)");
    m = q_err(&e, "CREATE TEMPORARY FUNCTION f AS 'x.Y'", CN_EUNSUPPORTED);
    ASSERT_CONTAINS(m, "UDF");
    /* statements after an error do not run; earlier ones did */
    q_err(&e, "CREATE TEMP VIEW ok AS SELECT 1 AS x; SELECT * FROM missing_table; CREATE TEMP VIEW never AS SELECT 2",
          CN_ENOTFOUND);
    assert_string_equal(q(&e, "SELECT * FROM ok"), "x\n1\n");
    q_err(&e, "SELECT * FROM never", CN_ENOTFOUND);
    env_close(&e);
}

static void views_and_complete(void **state) {
    (void)state;
    Env e;
    env_open(&e);
    q(&e, "CREATE OR REPLACE TEMPORARY VIEW v AS SELECT 1 AS a; CREATE OR REPLACE TEMP VIEW v AS SELECT 2 AS a");
    assert_string_equal(q(&e, "SELECT a FROM v"), "a\n2\n");
    assert_true(cn_sql_is_complete("SELECT 1;"));
    assert_true(cn_sql_is_complete("SELECT 1; -- done\n"));
    assert_false(cn_sql_is_complete("SELECT ';'"));
    assert_false(cn_sql_is_complete("SELECT 1"));
    assert_false(cn_sql_is_complete("SELECT 'x;"));
    assert_true(cn_sql_like_match("*user_purchase*", "my_team_user_purchase_features_v1"));
    assert_true(cn_sql_like_match("*USER*", "my_user"));
    assert_false(cn_sql_like_match("user*", "my_user"));
    assert_true(cn_sql_like_match("a*|my*", "my_user"));
    env_close(&e);
}

/* ------------------------------------------------------- StagingQuery parts */

static void macros(void **state) {
    (void)state;
    Env e;
    env_open(&e);
    char *out = NULL;
    CnErr err = CN_ERR_INIT;
    /* spec/compute.md section 7, chunk 2 of the example */
    ASSERT_OK(cn_sql_render_macros(NULL, "ds BETWEEN '{{ start_date }}' AND '{{end_date}}' AND s='{{ latest_date }}'",
                                   "2025-02-01", "2025-03-03", "2025-03-05", &out, &err),
              &err);
    assert_string_equal(out, "ds BETWEEN '2025-02-01' AND '2025-03-03' AND s='2025-03-05'");
    cn_free(out);
    /* no startPartition: date macros render null */
    ASSERT_OK(cn_sql_render_macros(NULL, "{{start_date}}/{{  end_date  }}/{{latest_date}}", NULL, NULL, "2025-01-01",
                                   &out, &err),
              &err);
    assert_string_equal(out, "null/null/2025-01-01");
    cn_free(out);
    ASSERT_OK(cn_sql_render_macros(e.c, "x = '{{ max_date(table=data.events) }}' AND {{max_date( table = data.users )}}",
                                   NULL, NULL, "2025-01-01", &out, &err),
              &err);
    assert_string_equal(out, "x = '2024-01-05' AND 2024-01-01");
    cn_free(out);
    /* unresolved macros are named */
    assert_int_equal(cn_sql_render_macros(NULL, "a {{ start_dat }} b {{ ds }}", "2025-01-01", "2025-01-01",
                                          "2025-01-01", &out, &err),
                     CN_ECONFIG);
    ASSERT_CONTAINS(cn_err_msg(&err), "{{ start_dat }}, {{ ds }}");
    assert_null(out);
    cn_err_clear(&err);
    /* max_date of a table without partitions names it */
    CnSchema *s = NULL;
    cn_col_schema_new(&s);
    cn_col_schema_add(s, "ds", cn_col_type_prim(CN_COL_STRING), true, -1, &err);
    ASSERT_OK(cn_ice_table_create(e.c, "data", "empty", s, NULL, 0, &err), &err);
    cn_col_schema_free(s);
    assert_int_equal(cn_sql_render_macros(e.c, "{{ max_date(table=data.empty) }}", NULL, NULL, "2025-01-01", &out, &err),
                     CN_ENOTFOUND);
    ASSERT_CONTAINS(cn_err_msg(&err), "data.empty has no partitions");
    cn_err_clear(&err);
    assert_int_equal(cn_sql_render_macros(e.c, "{{ max_date }}", NULL, NULL, "2025-01-01", &out, &err), CN_ECONFIG);
    env_close(&e);
}

static const char *ranges_text(const char *start, const char *end, const char *const *ex, size_t n_ex, int step,
                               bool first_hole) {
    static char buf[2048];
    CnSqlRange *r = NULL;
    size_t *h = NULL, n = 0;
    CnErr err = CN_ERR_INIT;
    ASSERT_OK(cn_sql_staging_ranges(start, end, ex, n_ex, step, first_hole, &r, &h, &n, &err), &err);
    size_t o = 0;
    buf[0] = 0;
    for (size_t i = 0; i < n; i++)
        o += (size_t)snprintf(buf + o, sizeof buf - o, "%s%zu:%s..%s", i ? " " : "", h[i], r[i].start, r[i].end);
    cn_free(r);
    cn_free(h);
    return buf;
}

static void partitions_to_compute(void **state) {
    (void)state;
    /* section 7 example: empty output, step 31 */
    assert_string_equal(ranges_text("2025-01-01", "2025-03-05", NULL, 0, 31, false),
                        "0:2025-01-01..2025-01-31 0:2025-02-01..2025-03-03 0:2025-03-04..2025-03-05");
    /* section 5 example; a StagingQuery has no input tables, so 03-05 is a candidate */
    const char *ex[] = {"2025-03-06", "2025-03-02", "2025-03-03"};
    assert_string_equal(ranges_text("2025-03-01", "2025-03-08", ex, 3, 30, false),
                        "0:2025-03-04..2025-03-05 1:2025-03-07..2025-03-08");
    assert_string_equal(ranges_text("2025-03-01", "2025-03-08", ex, 3, 30, true),
                        "0:2025-03-01..2025-03-01 1:2025-03-04..2025-03-05 2:2025-03-07..2025-03-08");
    /* step-days splits each hole; default 30 */
    assert_string_equal(ranges_text("2025-03-01", "2025-03-08", ex, 3, 1, false),
                        "0:2025-03-04..2025-03-04 0:2025-03-05..2025-03-05 1:2025-03-07..2025-03-07 "
                        "1:2025-03-08..2025-03-08");
    assert_string_equal(ranges_text("2025-01-01", "2025-03-01", NULL, 0, 0, false),
                        "0:2025-01-01..2025-01-30 0:2025-01-31..2025-03-01");
    /* everything present: nothing to do; an existing partition before the range does not cut it */
    const char *all[] = {"2025-03-01", "2025-03-02"};
    assert_string_equal(ranges_text("2025-03-01", "2025-03-02", all, 2, 30, false), "");
    const char *old[] = {"2020-01-01"};
    assert_string_equal(ranges_text("2025-03-01", "2025-03-02", old, 1, 30, false), "0:2025-03-01..2025-03-02");
    CnSqlRange *r = NULL;
    size_t *h = NULL, n = 0;
    CnErr err = CN_ERR_INIT;
    assert_int_equal(cn_sql_staging_ranges("2025-03-02", "2025-03-01", NULL, 0, 1, false, &r, &h, &n, &err), CN_EINVAL);
}

static void staging_backfill(void **state) {
    (void)state;
    Env e;
    env_open(&e);
    CnStagingQuery sq;
    memset(&sq, 0, sizeof sq);
    sq.meta.name = "team.sq.v1";
    sq.meta.output_namespace = "out";
    sq.meta.historical_backfill = CN_CONF_UNSET;
    sq.query = "SELECT user_id, sum(amount) AS total, '{{ start_date }}' AS chunk_start, ds FROM data.events "
               "WHERE ds BETWEEN '{{ start_date }}' AND '{{ end_date }}' GROUP BY user_id, ds";
    sq.start_partition = "2024-01-01";
    const char *setups[] = {"SET spark.sql.shuffle.partitions=1", "CREATE TEMP VIEW unused AS SELECT 1"};
    sq.setups.items = setups;
    sq.setups.n = 2;
    CnSqlStagingOpts o = {0};
    o.end_ds = "2024-01-05";
    o.step_days = 2;
    FILE *log = tmpfile();
    o.progress = log;
    CnErr err = CN_ERR_INIT;
    ASSERT_OK(cn_sql_staging_run(e.c, &sq, &o, &err), &err);
    /* chunks of 2 days: the chunk start tells which chunk wrote each partition */
    assert_string_equal(q(&e, "SELECT ds, chunk_start, count(*) AS n, sum(total) AS t FROM out.team_sq_v1 GROUP BY 1, 2 ORDER BY 1"),
                        "ds|chunk_start|n|t\n2024-01-01|2024-01-01|4|10.0\n2024-01-02|2024-01-01|4|14.0\n"
                        "2024-01-03|2024-01-03|4|18.0\n2024-01-04|2024-01-03|4|22.0\n2024-01-05|2024-01-05|4|26.0\n");
    ASSERT_CONTAINS(q(&e, "DESCRIBE out.team_sq_v1"), "user_id|bigint|\ntotal|double|\nchunk_start|string|\nds|string|\n");
    ASSERT_CONTAINS(q(&e, "SHOW TBLPROPERTIES out.team_sq_v1"), "chronon_table_type|staging_query");
    /* a second run has nothing to do; a later end computes only the new day (there is
     * no 01-06 data, so that partition stays absent) */
    ASSERT_OK(cn_sql_staging_run(e.c, &sq, &o, &err), &err);
    o.end_ds = "2024-01-06";
    ASSERT_OK(cn_sql_staging_run(e.c, &sq, &o, &err), &err);
    rewind(log);
    char text[4096];
    size_t n = fread(text, 1, sizeof text - 1, log);
    text[n] = 0;
    fclose(log);
    ASSERT_CONTAINS(text, "chunk 1/3 [2024-01-01, 2024-01-02]: 8 rows, 2 partitions");
    ASSERT_CONTAINS(text, "chunk 3/3 [2024-01-05, 2024-01-05]: 4 rows, 1 partitions");
    ASSERT_CONTAINS(text, "nothing to compute");
    ASSERT_CONTAINS(text, "chunk 1/1 [2024-01-06, 2024-01-06]: 0 rows");
    /* historicalBackfill false: only the end partition */
    sq.meta.name = "team.latest_only.v1";
    sq.meta.historical_backfill = 0;
    o.end_ds = "2024-01-04";
    o.progress = tmpfile();
    ASSERT_OK(cn_sql_staging_run(e.c, &sq, &o, &err), &err);
    fclose(o.progress);
    assert_string_equal(q(&e, "SELECT ds, count(*) AS n FROM out.team_latest_only_v1 GROUP BY ds"),
                        "ds|n\n2024-01-04|4\n");
    sq.meta.historical_backfill = CN_CONF_UNSET;
    /* a failing query: the error names the chunk */
    sq.meta.name = "team.bad.v1";
    sq.query = "SELECT nocol, ds FROM data.events WHERE ds = '{{ start_date }}'";
    o.progress = tmpfile();
    assert_int_equal(cn_sql_staging_run(e.c, &sq, &o, &err), CN_ENOTFOUND);
    ASSERT_CONTAINS(cn_err_msg(&err), "1 of 1 holes failed");
    ASSERT_CONTAINS(cn_err_msg(&err), "column nocol not found");
    fclose(o.progress);
    cn_err_clear(&err);
    /* a query without ds */
    sq.query = "SELECT user_id FROM data.events WHERE ds = '{{ start_date }}'";
    o.progress = tmpfile();
    assert_int_equal(cn_sql_staging_run(e.c, &sq, &o, &err), CN_ECONFIG);
    ASSERT_CONTAINS(cn_err_msg(&err), "no ds column");
    fclose(o.progress);
    cn_err_clear(&err);
    /* createView: a catalog view of the rendered query, queryable by name, replaced by
     * each run, with one signal row per (ds, view) */
    sq.meta.name = "team.view.v1";
    sq.query = "SELECT user_id, sum(amount) AS total, ds FROM data.events WHERE ds <= '{{ latest_date }}' "
               "GROUP BY user_id, ds";
    sq.create_view = 1;
    o.end_ds = "2024-01-02";
    o.progress = tmpfile();
    ASSERT_OK(cn_sql_staging_run(e.c, &sq, &o, &err), &err);
    assert_string_equal(q(&e, "SELECT count(*) AS n, sum(total) AS s FROM out.team_view_v1"), "n|s\n8|24.0\n");
    ASSERT_CONTAINS(q(&e, "SHOW TABLES IN out"), "out|team_view_v1|false\n");
    assert_string_equal(q(&e, "SELECT ds, table_name FROM out.chronon_signal_partitions"),
                        "ds|table_name\n2024-01-02|out.team_view_v1\n");
    o.end_ds = "2024-01-03";
    ASSERT_OK(cn_sql_staging_run(e.c, &sq, &o, &err), &err);
    ASSERT_OK(cn_sql_staging_run(e.c, &sq, &o, &err), &err); /* same day again: replaced, not added */
    fclose(o.progress);
    assert_string_equal(q(&e, "USE out; SELECT v.ds, count(*) AS n FROM team_view_v1 v WHERE v.ds >= '2024-01-02' "
                              "GROUP BY v.ds ORDER BY v.ds"),
                        "ds|n\n2024-01-02|4\n2024-01-03|4\n");
    assert_string_equal(q(&e, "SELECT ds, table_name FROM out.chronon_signal_partitions ORDER BY ds"),
                        "ds|table_name\n2024-01-02|out.team_view_v1\n2024-01-03|out.team_view_v1\n");
    /* a view over a view, joined with a table */
    char *vsql = NULL;
    CnSchema *vs = NULL;
    assert_int_equal(cn_col_schema_new(&vs), 0);
    ASSERT_OK(cn_col_schema_add(vs, "n", cn_col_type_prim(CN_COL_INT64), true, -1, &err), &err);
    ASSERT_OK(cn_ice_view_replace(e.c, "out", "per_day", "SELECT ds, count(*) AS n FROM out.team_view_v1 GROUP BY ds;",
                                  vs, NULL, 0, &err), &err);
    cn_col_schema_free(vs);
    ASSERT_OK(cn_ice_view_get(e.c, "out", "per_day", &vsql, NULL, &err), &err);
    ASSERT_CONTAINS(vsql, "FROM out.team_view_v1");
    cn_free(vsql);
    assert_string_equal(q(&e, "SELECT p.ds, p.n, u.user_id FROM out.per_day AS p JOIN data.users u ON u.user_id = 2 "
                              "WHERE p.ds = '2024-01-03'"),
                        "ds|n|user_id\n2024-01-03|4|2\n");
    /* date templates are refused for a view; a table's name cannot become a view */
    sq.query = "SELECT * FROM data.events WHERE ds = '{{  start_date }}'";
    assert_int_equal(cn_sql_staging_run(e.c, &sq, &o, &err), CN_ECONFIG);
    ASSERT_CONTAINS(cn_err_msg(&err), "createView cannot be used with a query containing {{ start_date }}");
    cn_err_clear(&err);
    sq.meta.name = "team.sq.v1";
    sq.query = "SELECT * FROM data.events";
    o.progress = tmpfile();
    assert_int_equal(cn_sql_staging_run(e.c, &sq, &o, &err), CN_EEXISTS);
    ASSERT_CONTAINS(cn_err_msg(&err), "out.team_sq_v1: a table of that name exists");
    fclose(o.progress);
    env_close(&e);
}

/* Table data.mixed: every column kind the vectorised path folds, with NULLs, NaN
 * (NULL in SQLite), order-sensitive double sums (1e16 + 1 - 1e16), negative and
 * equal values; 2024-01-02 has two files (two commits); data.empty has no snapshot. */
static void make_mixed(Env *e) {
    CnSchema *s = NULL;
    CnErr err = CN_ERR_INIT;
    assert_int_equal(cn_col_schema_new(&s), 0);
    ASSERT_OK(cn_col_schema_add(s, "k", cn_col_type_prim(CN_COL_INT32), true, -1, &err), &err);
    ASSERT_OK(cn_col_schema_add(s, "name", cn_col_type_prim(CN_COL_STRING), true, -1, &err), &err);
    ASSERT_OK(cn_col_schema_add(s, "flag", cn_col_type_prim(CN_COL_BOOL), true, -1, &err), &err);
    ASSERT_OK(cn_col_schema_add(s, "v", cn_col_type_prim(CN_COL_INT64), true, -1, &err), &err);
    ASSERT_OK(cn_col_schema_add(s, "x", cn_col_type_prim(CN_COL_FLOAT64), true, -1, &err), &err);
    ASSERT_OK(cn_col_schema_add(s, "f", cn_col_type_prim(CN_COL_FLOAT32), true, -1, &err), &err);
    ASSERT_OK(cn_col_schema_add(s, "ds", cn_col_type_prim(CN_COL_STRING), true, -1, &err), &err);
    ASSERT_OK(cn_ice_table_create(e->c, "data", "mixed", s, NULL, 0, &err), &err);
    ASSERT_OK(cn_ice_table_create(e->c, "data", "empty", s, NULL, 0, &err), &err);
    cn_col_schema_free(s);
    static const char *const days[] = {"2024-01-01", "2024-01-02", "2024-01-02", "2024-01-03"};
    static const double xs[] = {1e16, 1, -1e16, 0.1, 0.2, 0.3, -0.0, 2.5};
    static const char *const names[] = {"b", "a", "ab", "", "b", "zz", "a"};
    for (int c = 0; c < 4; c++) {
        CnIceWrite *w = NULL;
        ASSERT_OK(cn_ice_write_begin(e->c, "data", "mixed", CN_ICE_APPEND, &w, &err), &err);
        CnBatch *b = NULL;
        ASSERT_OK(cn_col_batch_new(cn_ice_write_schema(w), &b, &err), &err);
        for (int i = 0; i < 23; i++) {
            int r = c * 23 + i;
            if (r % 7 == 3) cn_col_vec_append_null(&b->cols[0]);
            else cn_col_vec_append_i32(&b->cols[0], (r * 5) % 4 - 1);
            if (r % 9 == 4) cn_col_vec_append_null(&b->cols[1]);
            else cn_col_vec_append_str(&b->cols[1], names[r % 7], (uint32_t)strlen(names[r % 7]));
            cn_col_vec_append_bool(&b->cols[2], r % 3 == 0);
            if (r % 5 == 2) cn_col_vec_append_null(&b->cols[3]);
            else cn_col_vec_append_i64(&b->cols[3], (int64_t)r * 1000003 - 40000000);
            if (r % 11 == 5) cn_col_vec_append_null(&b->cols[4]);
            else cn_col_vec_append_f64(&b->cols[4], r % 13 == 6 ? NAN : xs[r % 8]);
            cn_col_vec_append_f32(&b->cols[5], (float)r / 3.0f);
            cn_col_vec_append_str(&b->cols[6], days[c], 10);
        }
        ASSERT_OK(cn_col_batch_sync_rows(b, &err), &err);
        ASSERT_OK(cn_ice_write_batch(w, b, &err), &err);
        ASSERT_OK(cn_ice_write_commit(w, NULL, &err), &err);
        cn_col_batch_free(b);
        cn_ice_write_free(w);
    }
}

/* Output of text with the vectorised path on and off: both must be equal, and
 * vectorised says whether the fast path is expected to have run it. */
static void same_both_ways(Env *e, const char *text, bool vectorised) {
    char fast[16384], line[4096];
    cn_sql_set_vectorized(e->s, true);
    const char *l = scan_line(e, text, line, sizeof line);
    bool used = strstr(l, "vectorised aggregate") != NULL;
    if (used != vectorised) fail_msg("%s: vectorised path %s", text, used ? "used" : "not used");
    snprintf(fast, sizeof fast, "%s", q(e, text));
    cn_sql_set_vectorized(e->s, false);
    const char *slow = q(e, text);
    if (strcmp(fast, slow)) fail_msg("%s:\nvectorised:\n%s\nSQLite:\n%s", text, fast, slow);
    cn_sql_set_vectorized(e->s, true);
}

/* The vectorised aggregate path gives SQLite's results exactly, and leaves every other
 * shape to SQLite. */
static void vectorised_matches_sqlite(void **state) {
    (void)state;
    Env e;
    env_open(&e);
    make_mixed(&e);
    static const char *const fast[] = {
        "SELECT ds, count(*), sum(amount) FROM data.events GROUP BY ds",
        "SELECT ds, count(*), sum(x), total(x), avg(x), min(x), max(x), count(x) FROM data.mixed GROUP BY ds",
        "SELECT count(*), sum(v), avg(v), min(v), max(v), count(v), total(v) FROM data.mixed",
        "SELECT k, count(*) AS n, sum(f), min(f), max(f), min(name), max(name) FROM data.mixed GROUP BY k",
        "SELECT name, ds, count(k), sum(k), avg(k) FROM data.mixed GROUP BY name, ds",
        "SELECT flag, k, count(*), sum(flag), min(flag) FROM data.mixed GROUP BY flag, k",
        "SELECT ds, k, sum(x) FROM data.mixed WHERE ds >= '2024-01-02' GROUP BY k, ds ORDER BY ds DESC, k",
        "SELECT count(*) n, sum(x) FROM data.mixed WHERE ds = '2024-01-02'",
        "SELECT count(*), sum(x) FROM data.mixed WHERE ds = '2030-01-01'",
        "SELECT count(*), sum(x) FROM data.mixed WHERE ds > '2024-01-03' AND ds < '2024-01-02'",
        "SELECT ds, count(*) FROM data.mixed WHERE ds BETWEEN '2024-01-01' AND '2024-01-02' GROUP BY ds",
        "SELECT ds, count(*) FROM data.mixed WHERE ds IN ('2024-01-01', '2024-01-03', 'x') GROUP BY ds",
        "SELECT ds, count(*) FROM data.mixed WHERE '2024-01-02' <= ds AND ds <> '2024-01-03' GROUP BY ds",
        "SELECT ds, count(*) FROM data.mixed WHERE ds != '2024-01-02' GROUP BY ds ORDER BY 1 DESC LIMIT 1",
        "SELECT m.k, max(m.v) AS top FROM data.mixed AS m GROUP BY m.k ORDER BY k DESC",
        "SELECT ds FROM data.mixed GROUP BY ds",
        "SELECT count(*), sum(x), min(name), max(v) FROM data.empty",
        "SELECT ds, count(*), sum(x) FROM data.empty GROUP BY ds",
        "SELECT name, count(*) FROM data.mixed WHERE ds = 'nope' GROUP BY name",
    };
    for (size_t i = 0; i < sizeof fast / sizeof fast[0]; i++) same_both_ways(&e, fast[i], true);
    /* other shapes run through SQLite (and still agree, trivially) */
    static const char *const slow[] = {
        "SELECT ds, count(*) FROM data.mixed GROUP BY ds HAVING count(*) > 30",
        "SELECT ds, count(DISTINCT k) FROM data.mixed GROUP BY ds",
        "SELECT ds, sum(x + 1) FROM data.mixed GROUP BY ds",
        "SELECT k, count(*) FROM data.mixed WHERE k > 0 GROUP BY k",
        "SELECT ds, count(*) FROM data.mixed GROUP BY ds ORDER BY count(*) DESC, ds",
        "SELECT k, ds, count(*) FROM data.mixed GROUP BY k, ds ORDER BY ds",
        "SELECT x, count(*) FROM data.mixed GROUP BY x",
        "SELECT k AS ds, count(*) FROM data.mixed GROUP BY ds",
        "SELECT name, v FROM data.mixed GROUP BY name",
        "SELECT ds, count(*) FROM data.mixed GROUP BY 1",
        "SELECT ds, count(*) FROM data.mixed WHERE ds > 20240101 GROUP BY ds",
    };
    for (size_t i = 0; i < sizeof slow / sizeof slow[0]; i++) same_both_ways(&e, slow[i], false);
    /* a SQLite table of the same bare name hides the catalog's: SQLite answers */
    q(&e, "USE data; CREATE TEMP TABLE mixed AS SELECT 1 AS k, 'x' AS ds");
    same_both_ways(&e, "SELECT ds, count(*) FROM mixed GROUP BY ds", false);
    assert_string_equal(q(&e, "SELECT ds, count(*) AS n FROM mixed GROUP BY ds"), "ds|n\nx|1\n");
    /* SQL errors are SQLite's, from either path */
    cn_sql_set_vectorized(e.s, true);
    ASSERT_CONTAINS(q_err(&e, "SELECT nope, count(*) FROM data.mixed GROUP BY nope", CN_ENOTFOUND), "nope");
    env_close(&e);
}

CN_TEST_MAIN(cmocka_unit_test(show_and_use), cmocka_unit_test(describe_extended),
             cmocka_unit_test(select_join_aggregate), cmocka_unit_test(ds_pruning_and_projection),
             cmocka_unit_test(joins_use_lookups), cmocka_unit_test(vectorised_matches_sqlite),
             cmocka_unit_test(spark_functions), cmocka_unit_test(errors_name_things),
             cmocka_unit_test(views_and_complete), cmocka_unit_test(macros), cmocka_unit_test(partitions_to_compute),
             cmocka_unit_test(staging_backfill))
