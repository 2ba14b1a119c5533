/* cmd_sql.c: `chronon sql` (the spark-sql role: SHOW TABLES, DESCRIBE EXTENDED, SELECT
 * over every warehouse table) and the StagingQuery backfill behind
 * `chronon run --mode backfill --conf production/staging_queries/...`.
 * Both find the warehouse and catalog as DESIGN.md says: flag > environment
 * (CHRONON_WAREHOUSE, CHRONON_CATALOG) > teams.json (run only) > <root>/warehouse and
 * sqlite:<warehouse>/catalog.db. docs/sql.md is the user documentation. */
#include "base/compat.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/str.h"
#include "cli/cli.h"
#include "cli/run.h"
#include "conf/conf.h"
#include "sql/sql.h"
#include "table/table.h"

typedef CnCliWhere Where;

/* wh/cat: flag or teams.json values (NULL when not given); env wins over teams.json
 * but not over flags, so callers pass teams.json values as *_fallback. */
static int resolve_where(const char *repo, const char *wh_flag, const char *cat_flag, const char *wh_fallback,
                         const char *cat_fallback, Where *w, CnErr *err) {
    return cn_cli_where(repo, wh_flag, cat_flag, wh_fallback, cat_fallback, w, err);
}

/* ------------------------------------------------------------------ output */

typedef enum Fmt { FMT_TABLE, FMT_CSV, FMT_JSON } Fmt;

typedef struct Printer {
    Fmt fmt;
    FILE *out;
    uint32_t n_cols;
    char **names;          /* OWNED */
    /* table format buffers the result to size the columns */
    char **cells;          /* OWNED strings, NULL = SQL NULL; rows * n_cols */
    size_t n_rows, cap_rows;
    size_t n_results;
    bool oom;
} Printer;

static size_t u8width(const char *s) {
    size_t n = 0;
    for (; *s; s++) n += ((unsigned char)*s & 0xc0) != 0x80;
    return n;
}

static void pr_free_result(Printer *p) {
    for (size_t i = 0; i < p->n_rows * p->n_cols; i++) cn_free(p->cells[i]);
    cn_free(p->cells);
    p->cells = NULL;
    p->n_rows = p->cap_rows = 0;
    for (uint32_t i = 0; i < p->n_cols; i++) cn_free(p->names[i]);
    cn_free(p->names);
    p->names = NULL;
    p->n_cols = 0;
}

static void csv_cell(FILE *f, const char *v) {
    if (!v) return;
    if (!strpbrk(v, ",\"\n\r")) {
        fputs(v, f);
        return;
    }
    fputc('"', f);
    for (; *v; v++) {
        if (*v == '"') fputc('"', f);
        fputc(*v, f);
    }
    fputc('"', f);
}

static void json_string(FILE *f, const char *v) {
    fputc('"', f);
    for (; *v; v++) {
        unsigned char c = (unsigned char)*v;
        if (c == '"' || c == '\\') fprintf(f, "\\%c", c);
        else if (c == '\n') fputs("\\n", f);
        else if (c == '\t') fputs("\\t", f);
        else if (c < 0x20) fprintf(f, "\\u%04x", c);
        else fputc(c, f);
    }
    fputc('"', f);
}

static int pr_begin(void *ud, uint32_t n, const char *const *names) {
    Printer *p = ud;
    p->n_cols = n;
    p->names = cn_calloc(n ? n : 1, sizeof *p->names);
    if (!p->names) return CN_ENOMEM;
    for (uint32_t i = 0; i < n; i++)
        if (!(p->names[i] = cn_strdup(names[i] ? names[i] : ""))) return CN_ENOMEM;
    if (p->n_results++ && p->fmt != FMT_JSON) fputc('\n', p->out);
    if (p->fmt == FMT_CSV) {
        for (uint32_t i = 0; i < n; i++) {
            if (i) fputc(',', p->out);
            csv_cell(p->out, names[i]);
        }
        fputc('\n', p->out);
    }
    return 0;
}

static int pr_row(void *ud, uint32_t n, const char *const *vals, const CnSqlKind *kinds) {
    Printer *p = ud;
    if (p->fmt == FMT_CSV) {
        for (uint32_t i = 0; i < n; i++) {
            if (i) fputc(',', p->out);
            csv_cell(p->out, vals[i]);
        }
        fputc('\n', p->out);
        return 0;
    }
    if (p->fmt == FMT_JSON) {
        fputc('{', p->out);
        for (uint32_t i = 0; i < n; i++) {
            if (i) fputc(',', p->out);
            json_string(p->out, p->names[i]);
            fputc(':', p->out);
            bool num = kinds[i] == CN_SQL_INT ||
                       (kinds[i] == CN_SQL_REAL && vals[i] && (vals[i][0] == '-' || (vals[i][0] >= '0' && vals[i][0] <= '9')) &&
                        !strstr(vals[i], "Infinity"));
            if (!vals[i] || (kinds[i] == CN_SQL_REAL && !num)) fputs("null", p->out);
            else if (num) fputs(vals[i], p->out);
            else json_string(p->out, vals[i]);
        }
        fputs("}\n", p->out);
        return 0;
    }
    if (p->n_rows == p->cap_rows) {
        size_t ncap = p->cap_rows ? p->cap_rows * 2 : 64;
        char **nc = cn_realloc(p->cells, ncap * n * sizeof *nc);
        if (!nc) return CN_ENOMEM;
        p->cells = nc;
        p->cap_rows = ncap;
    }
    for (uint32_t i = 0; i < n; i++) {
        char **c = &p->cells[p->n_rows * n + i];
        *c = vals[i] ? cn_strdup(vals[i]) : NULL;
        if (vals[i] && !*c) {
            for (uint32_t k = 0; k < i; k++) cn_free(p->cells[p->n_rows * n + k]);
            return CN_ENOMEM;
        }
    }
    p->n_rows++;
    return 0;
}

static int pr_end(void *ud) {
    Printer *p = ud;
    if (p->fmt == FMT_TABLE && p->n_cols) {
        size_t *w = cn_calloc(p->n_cols, sizeof *w);
        if (!w) return CN_ENOMEM;
        for (uint32_t i = 0; i < p->n_cols; i++) w[i] = u8width(p->names[i]);
        for (size_t r = 0; r < p->n_rows; r++)
            for (uint32_t i = 0; i < p->n_cols; i++) {
                const char *v = p->cells[r * p->n_cols + i];
                size_t x = v ? u8width(v) : 4;
                if (x > w[i]) w[i] = x;
            }
        for (int line = 0; line < 2; line++) {
            for (uint32_t i = 0; i < p->n_cols; i++) {
                if (i) fputs("  ", p->out);
                if (line == 0) fprintf(p->out, "%s%*s", p->names[i], i + 1 < p->n_cols ? (int)(w[i] - u8width(p->names[i])) : 0, "");
                else for (size_t k = 0; k < w[i]; k++) fputc('-', p->out);
            }
            fputc('\n', p->out);
        }
        for (size_t r = 0; r < p->n_rows; r++) {
            for (uint32_t i = 0; i < p->n_cols; i++) {
                const char *v = p->cells[r * p->n_cols + i];
                if (!v) v = "NULL";
                if (i) fputs("  ", p->out);
                fprintf(p->out, "%s%*s", v, i + 1 < p->n_cols ? (int)(w[i] - u8width(v)) : 0, "");
            }
            fputc('\n', p->out);
        }
        cn_free(w);
    }
    pr_free_result(p);
    fflush(p->out);
    return 0;
}

/* ------------------------------------------------------------------- sql */

static void sql_usage(FILE *f) {
    fprintf(f,
            "usage: chronon sql [\"STATEMENTS\"] [-e STATEMENTS] [-f FILE] [--format table|csv|json]\n"
            "                   [--verbose] [--warehouse URI] [--catalog URI] [--repo DIR]\n"
            "\n"
            "Runs SQL over the warehouse's Iceberg tables (SQLite with Spark's functions).\n"
            "Statements are separated by ';'. Without statements it reads them from standard\n"
            "input (a prompt on a terminal; 'quit' or 'exit' ends).\n"
            "  SHOW TABLES [IN ns] [LIKE '*pattern*']    SHOW NAMESPACES | SHOW DATABASES\n"
            "  USE ns                                    DESCRIBE [EXTENDED] ns.table\n"
            "  SHOW PARTITIONS ns.table                  SHOW TBLPROPERTIES ns.table\n"
            "  SELECT ... FROM ns.table [JOIN ...] WHERE ds = '2023-12-01' GROUP BY ...\n"
            "A bare table name is looked up in the current namespace (default: \"default\").\n"
            "\n"
            "options:\n"
            "  -e STATEMENTS      statements to run (same as the positional argument)\n"
            "  -f FILE            read the statements from FILE\n"
            "  --format F         table (default), csv or json (one object per row)\n"
            "  --verbose          print one line per table scan on stderr: ds range, files\n"
            "                     and rows read after partition pruning, columns read\n"
            "  --warehouse URI    local directory or s3://bucket/prefix\n"
            "                     (default $CHRONON_WAREHOUSE, else <root>/warehouse)\n"
            "  --catalog URI      sqlite:PATH or postgresql://... (default $CHRONON_CATALOG,\n"
            "                     else sqlite:<warehouse>/catalog.db)\n"
            "  --repo DIR         chronon root (default: the current directory)\n"
            "An error prints one line on stderr and exits 1. docs/sql.md lists the functions.\n");
}

static bool is_quit(const char *line) {
    while (*line == ' ' || *line == '\t') line++;
    size_t n = strlen(line);
    while (n && (line[n - 1] == '\n' || line[n - 1] == '\r' || line[n - 1] == ' ' || line[n - 1] == ';')) n--;
    return (n == 4 && !strncasecmp(line, "quit", 4)) || (n == 4 && !strncasecmp(line, "exit", 4));
}

static bool blank(const char *s) {
    for (; *s; s++)
        if (*s != ' ' && *s != '\t' && *s != '\n' && *s != '\r' && *s != ';') return false;
    return true;
}

static int run_text(CnSql *s, const char *text, const CnSqlSink *sink) {
    CnErr err = CN_ERR_INIT;
    int rc = cn_sql_exec(s, text, sink, &err);
    if (rc) {
        pr_end(sink->ud); /* drop a partial result */
        if (rc < 0 || err.code) return cn_cli_fail("sql", &err);
        fprintf(stderr, "chronon sql: out of memory\n");
        return 1;
    }
    return 0;
}

static int interactive(CnSql *s, const CnSqlSink *sink, FILE *in) {
    bool tty = isatty(fileno(in)) && isatty(fileno(stdout));
    CnBuf buf = CN_BUF_INIT;
    char line[8192];
    int code = 0;
    for (;;) {
        if (tty) {
            fputs(buf.len ? "          > " : "chronon-sql> ", stdout);
            fflush(stdout);
        }
        if (!fgets(line, sizeof line, in)) break;
        if (!buf.len && is_quit(line)) break;
        cn_buf_puts(&buf, line);
        if (buf.oom) {
            fprintf(stderr, "chronon sql: out of memory\n");
            code = 1;
            break;
        }
        if (cn_sql_is_complete(buf.data)) {
            if (run_text(s, buf.data, sink)) code = 1;
            cn_buf_reset(&buf);
        }
    }
    if (buf.len && !blank(buf.data) && run_text(s, buf.data, sink)) code = 1;
    cn_buf_fini(&buf);
    return code;
}

int cn_cli_sql(int argc, char **argv) {
    const char *text = NULL, *file = NULL, *format = "table", *wh = NULL, *cat = NULL, *repo = NULL;
    bool verbose = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (cn_cli_is_help(a)) {
            sql_usage(stdout);
            return 0;
        }
        const char **slot = !strcmp(a, "-e")            ? &text
                            : !strcmp(a, "-f")          ? &file
                            : !strcmp(a, "--format")    ? &format
                            : !strcmp(a, "--warehouse") ? &wh
                            : !strcmp(a, "--catalog")   ? &cat
                            : !strcmp(a, "--repo")      ? &repo
                                                        : NULL;
        if (slot) {
            if (i + 1 >= argc) {
                fprintf(stderr, "chronon sql: %s needs a value\n", a);
                return 2;
            }
            *slot = argv[++i];
        } else if (!strcmp(a, "--verbose") || !strcmp(a, "-v")) {
            verbose = true;
        } else if (a[0] == '-' && a[1]) {
            fprintf(stderr, "chronon sql: unknown option %s (see chronon sql --help)\n", a);
            return 2;
        } else if (!text) {
            text = a;
        } else {
            fprintf(stderr, "chronon sql: more than one query given; separate statements with ';' in one argument\n");
            return 2;
        }
    }
    Fmt fmt;
    if (!strcmp(format, "table")) fmt = FMT_TABLE;
    else if (!strcmp(format, "csv")) fmt = FMT_CSV;
    else if (!strcmp(format, "json")) fmt = FMT_JSON;
    else {
        fprintf(stderr, "chronon sql: --format: unknown format '%s' (expected table, csv or json)\n", format);
        return 2;
    }
    if (text && file) {
        fprintf(stderr, "chronon sql: give statements or -f FILE, not both\n");
        return 2;
    }
    CnErr err = CN_ERR_INIT;
    Where w;
    CnIceCatalog *c = NULL;
    CnSql *s = NULL;
    int code = 0;
    if (resolve_where(repo, wh, cat, NULL, NULL, &w, &err) < 0 || cn_ice_catalog_open(w.warehouse, w.catalog, &c, &err) < 0 ||
        cn_sql_open(c, &s, &err) < 0) {
        code = cn_cli_fail("sql", &err);
        goto done;
    }
    cn_sql_set_verbose(s, verbose, stderr);
    Printer p;
    memset(&p, 0, sizeof p);
    p.fmt = fmt;
    p.out = stdout;
    CnSqlSink sink = {&p, pr_begin, pr_row, pr_end};
    if (text) {
        code = run_text(s, text, &sink);
    } else if (file) {
        FILE *f = fopen(file, "r");
        if (!f) {
            fprintf(stderr, "chronon sql: -f %s: cannot open the file\n", file);
            code = 1;
            goto done;
        }
        code = interactive(s, &sink, f);
        fclose(f);
    } else {
        code = interactive(s, &sink, stdin);
    }
    pr_free_result(&p);
done:
    cn_sql_close(s);
    cn_ice_catalog_close(c);
    return code;
}

/* ------------------------------------------------- StagingQuery backfill */

int cn_run_staging_query_backfill(const CnRunArgs *a, CnErr *err) {
    CnConf *conf = NULL;
    CnTeams *teams = NULL;
    CnIceCatalog *c = NULL;
    int rc = cn_conf_load(a->conf_path, &conf, err);
    if (rc < 0) goto done;
    if (conf->kind != CN_CONF_STAGING_QUERY) {
        rc = cn_err_set(err, CN_ECONFIG, "%s: expected a StagingQuery, found a %s", a->conf, cn_conf_kind_name(conf->kind));
        goto done;
    }
    /* teams.json env (CHRONON_WAREHOUSE / CHRONON_CATALOG), when the repo has one */
    char tpath[PATH_MAX + 16];
    snprintf(tpath, sizeof tpath, "%s/teams.json", a->repo);
    const char *t_wh = NULL, *t_cat = NULL;
    if (access(tpath, R_OK) == 0) {
        if ((rc = cn_conf_teams_load(tpath, &teams, err)) < 0) goto done;
        t_wh = cn_conf_teams_env(teams, a->team, a->env, a->mode, "CHRONON_WAREHOUSE");
        t_cat = cn_conf_teams_env(teams, a->team, a->env, a->mode, "CHRONON_CATALOG");
    }
    Where w;
    if ((rc = resolve_where(a->repo, cn_run_extra(a, "--warehouse", NULL), cn_run_extra(a, "--catalog", NULL), t_wh,
                            t_cat, &w, err)) < 0)
        goto done;
    if ((rc = cn_ice_catalog_open(w.warehouse, w.catalog, &c, err)) < 0) goto done;
    CnSqlStagingOpts o = {0};
    o.end_ds = a->ds;
    o.start_ds = a->has_start ? a->start_ds : NULL;
    o.step_days = a->step_days;
    o.run_first_hole = cn_run_has_flag(a, "--run-first-hole");
    o.progress = stderr;
    rc = cn_sql_staging_run(c, conf->staging_query, &o, err);
done:
    cn_ice_catalog_close(c);
    cn_conf_teams_free(teams);
    cn_conf_free(conf);
    return rc;
}
