/* cmd_load.c: `chronon load` (a CSV or Parquet file into an Iceberg table) and
 * `chronon gc` (orphan files of tables). Both find the warehouse and the catalog the
 * same way: flag > environment (CHRONON_WAREHOUSE, CHRONON_CATALOG) > default under
 * the chronon root (--repo, else the current directory). docs/tables.md has more. */
#include "base/compat.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/date.h"
#include "base/str.h"
#include "cli/cli.h"
#include "col/col.h"
#include "io/csv/csv.h"
#include "io/parquet/pq.h"
#include "table/table.h"

typedef CnCliWhere Settings;

static int resolve_settings(const char *repo, const char *wh_flag, const char *cat_flag,
                            Settings *s, CnErr *err) {
    return cn_cli_where(repo, wh_flag, cat_flag, NULL, NULL, s, err);
}

/* ------------------------------------------------------------------- load */

static void load_usage(FILE *f) {
    fprintf(f,
            "usage: chronon load FILE NS.TABLE [--partition-from COL | --ds YYYY-MM-DD]\n"
            "                    [--schema name:type,...] [--mode append|overwrite]\n"
            "                    [--sort-by COL,...]\n"
            "                    [--warehouse URI] [--catalog URI] [--repo DIR]\n"
            "\n"
            "Loads a CSV (.csv) or Parquet (.parquet) file into the Iceberg table NS.TABLE\n"
            "(a bare TABLE means namespace \"default\"), creating the table on first use. The\n"
            "table is partitioned by the string column ds:\n"
            "  - a ds column in the file is used as it is;\n"
            "  - --partition-from COL derives ds from COL, epoch milliseconds (UTC);\n"
            "  - --ds D puts every row in partition D.\n"
            "CSV column types are inferred (integers int64, ts int64 milliseconds, ds string)\n"
            "unless --schema names them (types: bool int32 int64 float32 float64 date\n"
            "timestamp string binary). Into an existing table, file columns must exist in it\n"
            "with the same types; table columns the file lacks are null.\n"
            "\n"
            "options:\n"
            "  --mode append      add the rows (default)\n"
            "  --mode overwrite   replace the ds partitions the file has rows for\n"
            "  --sort-by COL,...  write each partition's rows sorted by these columns\n"
            "                     (ascending, nulls first; int32, int64, date, timestamp\n"
            "                     or string) and record that order as the table's Iceberg\n"
            "                     sort order (its own commit, before the data's, when\n"
            "                     it differs from the recorded one); a table with a\n"
            "                     recorded order gets later loads sorted by it.\n"
            "                     Joins merge events sorted by (key, ts) instead of\n"
            "                     sorting them.\n"
            "                     The file is held in memory to sort it.\n"
            "  --warehouse URI    local directory or s3://bucket/prefix\n"
            "                     (default $CHRONON_WAREHOUSE, else <root>/warehouse)\n"
            "  --catalog URI      sqlite:PATH or postgresql://user@host:port/db\n"
            "                     (default $CHRONON_CATALOG, else sqlite:<warehouse>/catalog.db)\n"
            "  --repo DIR         chronon root (default: the current directory)\n"
            "The data is one commit: on any error no row is visible in the table. A first\n"
            "load of a CSV without data rows creates the (empty) table only with --schema.\n");
}

typedef struct LoadIn {
    CnCsvReader *csv;
    CnPqReader *pq;
    const CnSchema *schema;
    CnBatch *peeked; /* a CSV's first batch, read ahead to see whether it has rows */
} LoadIn;

static int in_next(LoadIn *in, const CnBatch **b, CnErr *err) {
    if (in->peeked) {
        *b = in->peeked;
        in->peeked = NULL;
        return 0;
    }
    if (in->csv) {
        CnBatch *cb = NULL;
        int rc = cn_csv_reader_next(in->csv, &cb, err);
        *b = cb;
        return rc;
    }
    return cn_pq_reader_next(in->pq, 0, b, err);
}

static const char *list_cols(const CnSchema *s, char *buf, size_t len) {
    size_t o = 0;
    buf[0] = 0;
    for (uint32_t i = 0; i < s->n_fields && o + 2 < len; i++)
        o += (size_t)snprintf(buf + o, len - o, "%s%s", i ? ", " : "", s->fields[i].name);
    return buf;
}

/* ------------------------------------------------------------- sort-by */

#define MAX_SORT 8

/* Columns rows are ordered by: ds first (each partition's file gets a sorted run), then
 * the sort columns. */
typedef struct SortBy {
    const CnBatch *b;
    int col[MAX_SORT + 1];
    uint32_t n;
} SortBy;

static int row_cmp(const SortBy *s, uint32_t a, uint32_t b) {
    for (uint32_t i = 0; i < s->n; i++) {
        int c = cn_col_vec_cmp_asc(&s->b->cols[s->col[i]], a, &s->b->cols[s->col[i]], b);
        if (c) return c;
    }
    return 0;
}

/* Stable merge sort of perm[0..n) (tmp: n entries of scratch). */
static void sort_perm(const SortBy *s, uint32_t *perm, uint32_t *tmp, uint32_t n) {
    if (n < 2) return;
    uint32_t h = n / 2;
    sort_perm(s, perm, tmp, h);
    sort_perm(s, perm + h, tmp, n - h);
    if (row_cmp(s, perm[h - 1], perm[h]) <= 0) return; /* already in order */
    uint32_t i = 0, j = h, o = 0;
    while (i < h && j < n) tmp[o++] = row_cmp(s, perm[j], perm[i]) < 0 ? perm[j++] : perm[i++];
    while (i < h) tmp[o++] = perm[i++];
    while (j < n) tmp[o++] = perm[j++];
    memcpy(perm, tmp, (size_t)n * sizeof *perm);
}

/* Splits "a,b,c" into names[0..*n) (pointers into buf, a copy of list). */
static int sort_cols_parse(const char *list, char *buf, size_t len, const char **names, uint32_t *n, CnErr *err) {
    if (strlen(list) >= len) return cn_err_set(err, CN_EINVAL, "--sort-by \"%.40s...\": too long", list);
    snprintf(buf, len, "%s", list);
    *n = 0;
    for (char *tok = buf, *next; tok; tok = next) {
        next = strchr(tok, ',');
        if (next) *next++ = 0;
        if (!*tok) return cn_err_set(err, CN_EINVAL, "--sort-by \"%s\": an empty column name", list);
        if (*n == MAX_SORT)
            return cn_err_set(err, CN_EINVAL, "--sort-by \"%s\": at most %d columns", list, MAX_SORT);
        names[(*n)++] = tok;
    }
    return 0;
}

/* Every ds value of the n rows of v (rows first+1.. of file) is a YYYY-MM-DD date. */
static int check_ds(const char *file, uint64_t first, const CnVec *v, uint32_t n, CnErr *err) {
    for (uint32_t r = 0; r < n; r++) {
        uint32_t len = 0;
        const char *s = cn_col_vec_is_valid(v, r) ? cn_col_vec_str(v, r, &len) : NULL;
        char d[11];
        int64_t day;
        if (!s)
            return cn_err_set(err, CN_EINVAL, "%s: row %llu: ds is empty (the partition column needs a YYYY-MM-DD date)",
                              file, (unsigned long long)(first + r + 1));
        if (cn_ds_parse_n(s, len, d, &day) < 0)
            return cn_err_set(err, CN_EINVAL, "%s: row %llu: ds \"%.*s\" is not a YYYY-MM-DD date", file,
                              (unsigned long long)(first + r + 1), (int)(len < 40 ? len : 40), s);
    }
    return 0;
}

/* Writes the rows of all to w in SortBy order, 65536 rows per batch. */
static int write_sorted(CnIceWrite *w, const CnBatch *all, const SortBy *sb, CnErr *err) {
    uint32_t n = all->n_rows, *perm = cn_malloc(((size_t)n + 1) * sizeof *perm);
    uint32_t *tmp = cn_malloc(((size_t)n + 1) * sizeof *tmp);
    CnBatch *chunk = NULL;
    int rc = perm && tmp ? 0 : cn_err_set(err, CN_ENOMEM, "sorting %u rows: out of memory", n);
    if (rc == 0) {
        for (uint32_t i = 0; i < n; i++) perm[i] = i;
        sort_perm(sb, perm, tmp, n);
        rc = cn_col_batch_new(all->schema, &chunk, err);
    }
    for (uint32_t i = 0; rc == 0 && i < n; i += 65536) {
        uint32_t m = n - i < 65536 ? n - i : 65536;
        cn_col_batch_reset(chunk);
        rc = cn_col_batch_append_rows(chunk, all, perm + i, m, err);
        if (rc == 0) rc = cn_ice_write_batch(w, chunk, err);
    }
    cn_col_batch_free(chunk);
    cn_free(perm);
    cn_free(tmp);
    return rc;
}

/* The order a load writes in: --sort-by, else the table's recorded sort order. */
typedef struct SortLoad {
    const char *names[MAX_SORT];
    uint32_t n;
    char list[512];  /* "a,b" for the message */
    SortBy by;
} SortLoad;

static bool sortable(CnTypeId t) {
    return t == CN_COL_INT32 || t == CN_COL_INT64 || t == CN_COL_DATE || t == CN_COL_TIMESTAMP || t == CN_COL_STRING;
}

/* Fills sl for table ns.name (existing): --sort-by `flag` (checked against the table's
 * columns and types, then recorded as the table's sort order when it differs; a table
 * this load created gets *created_at moved to the new metadata), else the recorded
 * order when every column of it can be sorted here. */
static int load_sort_cols(CnIceCatalog *c, const char *ns, const char *name, const char *flag, SortLoad *sl,
                          char *buf, size_t len, char **created_at, CnErr *err) {
    CnIceTable *t = NULL;
    const char *declared[MAX_SORT];
    uint32_t n_decl = 0;
    int rc = cn_ice_table_load(c, ns, name, &t, err);
    if (rc < 0) return rc;
    const CnSchema *ts = cn_ice_table_schema(t);
    cn_ice_table_sort_order(t, declared, MAX_SORT, &n_decl);
    if (flag) rc = sort_cols_parse(flag, buf, len, sl->names, &sl->n, err);
    for (uint32_t i = 0; flag && rc == 0 && i < sl->n; i++) {
        int k = cn_col_schema_find(ts, sl->names[i]);
        char cols[1024];
        if (k < 0) {
            rc = cn_err_set(err, CN_ENOTFOUND, "--sort-by %s: table %s.%s has no column \"%s\" (columns: %s)", flag,
                            ns, name, sl->names[i], list_cols(ts, cols, sizeof cols));
            break;
        }
        CnTypeId ty = ts->fields[k].type->id;
        if (!sortable(ty))
            rc = cn_err_set(err, CN_ETYPE, "--sort-by %s: column \"%s\" is %s, expected int32, int64, date, "
                            "timestamp or string", flag, sl->names[i], cn_col_type_id_name(ty));
    }
    bool same = flag && rc == 0 && n_decl == sl->n;
    for (uint32_t i = 0; same && i < sl->n; i++) same = !strcmp(declared[i], sl->names[i]);
    if (flag && rc == 0 && !same) {
        rc = cn_ice_table_set_sort_order(c, ns, name, sl->names, sl->n, err);
        if (rc == 0 && *created_at) { /* undoing this load still drops the table it made */
            CnIceTable *t2 = NULL;
            rc = cn_ice_table_load(c, ns, name, &t2, err);
            if (rc == 0) {
                cn_free(*created_at);
                *created_at = cn_strdup(cn_ice_table_metadata_location(t2));
            }
            cn_ice_table_free(t2);
        }
    }
    if (!flag && rc == 0) { /* names borrowed from t: copy them into buf */
        size_t o = 0;
        for (uint32_t i = 0; i < n_decl; i++) {
            int k = cn_col_schema_find(ts, declared[i]);
            size_t l = strlen(declared[i]) + 1;
            if (k < 0 || !sortable(ts->fields[k].type->id) || o + l > len) {
                sl->n = 0;
                break;
            }
            memcpy(buf + o, declared[i], l);
            sl->names[sl->n++] = buf + o;
            o += l;
        }
    }
    size_t o = 0;
    sl->list[0] = 0;
    for (uint32_t i = 0; rc == 0 && i < sl->n && o + 2 < sizeof sl->list; i++)
        o += (size_t)snprintf(sl->list + o, sizeof sl->list - o, "%s%s", i ? "," : "", sl->names[i]);
    cn_ice_table_free(t);
    return rc;
}

int cn_cli_load(int argc, char **argv) {
    const char *file = NULL, *table = NULL, *part_from = NULL, *ds = NULL, *schema = NULL;
    const char *mode = "append", *wh = NULL, *cat = NULL, *repo = NULL, *sort_by = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (cn_cli_is_help(a)) {
            load_usage(stdout);
            return 0;
        }
        const char **slot = !strcmp(a, "--partition-from") ? &part_from
                            : !strcmp(a, "--ds")           ? &ds
                            : !strcmp(a, "--schema")       ? &schema
                            : !strcmp(a, "--mode")         ? &mode
                            : !strcmp(a, "--warehouse")    ? &wh
                            : !strcmp(a, "--catalog")      ? &cat
                            : !strcmp(a, "--repo")         ? &repo
                            : !strcmp(a, "--sort-by")      ? &sort_by
                                                           : NULL;
        if (slot) {
            if (i + 1 >= argc) {
                fprintf(stderr, "chronon load: %s needs a value\n", a);
                return 2;
            }
            *slot = argv[++i];
        } else if (a[0] == '-' && a[1]) {
            fprintf(stderr, "chronon load: unknown option %s (see chronon load --help)\n", a);
            return 2;
        } else if (!file) {
            file = a;
        } else if (!table) {
            table = a;
        } else {
            fprintf(stderr, "chronon load: unexpected argument \"%s\" (see chronon load --help)\n", a);
            return 2;
        }
    }
    if (!file || !table) {
        fprintf(stderr, "chronon load: needs FILE and NS.TABLE (see chronon load --help)\n");
        return 2;
    }
    CnErr err = CN_ERR_INIT;
    int rc = 0;
    char ns[129], name[129];
    LoadIn in = {0};
    CnIceCatalog *c = NULL;
    CnIceWrite *w = NULL;
    CnSchema *create = NULL;
    CnBatch *out = NULL;
    int *map = NULL;
    Settings st;
    char *created_at = NULL; /* metadata of the table this load created, for undoing it */
    bool no_rows = false;    /* a CSV without --schema and without data rows */
    SortLoad sb = {0};
    CnBatch *all = NULL; /* sorting: every row of the file */
    char sort_buf[1024];
    bool overwrite = false;
    if (!strcmp(mode, "overwrite"))
        overwrite = true;
    else if (strcmp(mode, "append")) {
        rc = cn_err_set(&err, CN_EINVAL, "--mode \"%s\": expected append or overwrite", mode);
        goto done;
    }
    if (part_from && ds) {
        rc = cn_err_set(&err, CN_EINVAL, "--partition-from and --ds exclude each other");
        goto done;
    }
    int64_t day = 0;
    if (ds && cn_ds_parse(ds, &day) < 0) {
        rc = cn_err_set(&err, CN_EINVAL, "--ds \"%s\": expected a date YYYY-MM-DD", ds);
        goto done;
    }
    rc = cn_ice_name_parse(table, ns, name, &err);
    if (rc < 0) goto done;
    if (cn_str_ends_with(file, ".csv") || cn_str_ends_with(file, ".CSV")) {
        CnCsvOptions o = {.schema = schema};
        rc = cn_csv_reader_open(file, &o, &in.csv, &err);
        if (rc == 0) in.schema = cn_csv_reader_schema(in.csv);
        /* without --schema a header alone types every column string: with no rows there
         * is nothing to type, create or check (below) */
        if (rc == 0 && !schema) rc = cn_csv_reader_next(in.csv, &in.peeked, &err);
        no_rows = rc == 0 && !schema && !in.peeked;
    } else if (cn_str_ends_with(file, ".parquet")) {
        if (schema) {
            rc = cn_err_set(&err, CN_EINVAL, "--schema applies to CSV files only (%s is Parquet)", file);
            goto done;
        }
        rc = cn_pq_reader_open(file, &in.pq, &err);
        if (rc == 0) in.schema = cn_pq_reader_schema(in.pq);
    } else {
        rc = cn_err_set(&err, CN_EINVAL, "%s: expected a .csv or .parquet file", file);
    }
    if (rc < 0) goto done;
    char cols[1024];
    int in_ds = cn_col_schema_find(in.schema, CN_ICE_DS);
    int in_ts = -1;
    if (in_ds >= 0) {
        if (part_from || ds) {
            rc = cn_err_set(&err, CN_EINVAL, "%s already has a ds column; drop %s", file,
                            part_from ? "--partition-from" : "--ds");
            goto done;
        }
        if (in.schema->fields[in_ds].type->id != CN_COL_STRING) {
            rc = cn_err_set(&err, CN_ETYPE, "%s: column ds is %s, expected string YYYY-MM-DD", file,
                            cn_col_type_id_name(in.schema->fields[in_ds].type->id));
            goto done;
        }
    } else if (part_from) {
        in_ts = cn_col_schema_find(in.schema, part_from);
        if (in_ts < 0) {
            rc = cn_err_set(&err, CN_ENOTFOUND, "--partition-from %s: %s has no column \"%s\" (columns: %s)",
                            part_from, file, part_from, list_cols(in.schema, cols, sizeof cols));
            goto done;
        }
        CnTypeId t = in.schema->fields[in_ts].type->id;
        if (t != CN_COL_INT64 && t != CN_COL_TIMESTAMP) {
            rc = cn_err_set(&err, CN_ETYPE,
                            "--partition-from %s: column is %s, expected epoch milliseconds (int64 or timestamp)",
                            part_from, cn_col_type_id_name(t));
            goto done;
        }
    } else if (!ds) {
        rc = cn_err_set(&err, CN_EINVAL,
                        "%s has no ds column: pass --partition-from <millisecond timestamp column> or --ds YYYY-MM-DD (columns: %s)",
                        file, list_cols(in.schema, cols, sizeof cols));
        goto done;
    }
    rc = resolve_settings(repo, wh, cat, &st, &err);
    if (rc == 0) rc = cn_ice_catalog_open(st.warehouse, st.catalog, &c, &err);
    if (rc < 0) goto done;
    if (no_rows) {
        printf("%s.%s: %s has no rows; nothing committed%s\n", ns, name, file,
               cn_ice_table_exists(c, ns, name) ? ""
                                                 : " and no table created (a CSV header gives no column types; "
                                                   "--schema sets them)");
        goto done;
    }
    if (!cn_ice_table_exists(c, ns, name)) {
        rc = cn_col_schema_copy(in.schema, &create, &err);
        if (rc == 0 && in_ds < 0)
            rc = cn_col_schema_add(create, CN_ICE_DS, cn_col_type_prim(CN_COL_STRING), true, CN_COL_NO_ID, &err);
        if (rc == 0) rc = cn_ice_table_create(c, ns, name, create, NULL, 0, &err);
        if (rc == CN_EEXISTS) { /* another loader created it first: append to it */
            cn_err_clear(&err);
            rc = 0;
        } else if (rc == 0) {
            CnIceTable *t = NULL;
            rc = cn_ice_table_load(c, ns, name, &t, &err);
            created_at = rc == 0 ? cn_strdup(cn_ice_table_metadata_location(t)) : NULL;
            cn_ice_table_free(t);
        }
        if (rc < 0) goto done;
    }
    rc = load_sort_cols(c, ns, name, sort_by, &sb, sort_buf, sizeof sort_buf, &created_at, &err);
    if (rc < 0) goto done;
    rc = cn_ice_write_begin(c, ns, name, overwrite ? CN_ICE_OVERWRITE : CN_ICE_APPEND, &w, &err);
    if (rc < 0) goto done;
    const CnSchema *ts = cn_ice_write_schema(w);
    /* map table columns to file columns; -2 is the derived ds */
    map = cn_calloc(ts->n_fields + 1, sizeof *map);
    if (!map) {
        rc = cn_err_set(&err, CN_ENOMEM, "out of memory");
        goto done;
    }
    for (uint32_t i = 0; i < in.schema->n_fields; i++) {
        const CnField *f = &in.schema->fields[i];
        int k = cn_col_schema_find(ts, f->name);
        if (k < 0) {
            rc = cn_err_set(&err, CN_ENOTFOUND, "%s: column \"%s\" is not in table %s.%s (table columns: %s)",
                            file, f->name, ns, name, list_cols(ts, cols, sizeof cols));
            goto done;
        }
        if (!cn_col_type_equal(f->type, ts->fields[k].type)) {
            char t1[64], t2[64];
            rc = cn_err_set(&err, CN_ETYPE, "%s: column \"%s\" is %s, table %s.%s has it as %s%s", file,
                            f->name, cn_col_type_name(f->type, t1, sizeof t1), ns, name,
                            cn_col_type_name(ts->fields[k].type, t2, sizeof t2),
                            in.csv ? " (use --schema to set the CSV type)" : "");
            goto done;
        }
    }
    for (uint32_t k = 0; k < ts->n_fields; k++) {
        int i = cn_col_schema_find(in.schema, ts->fields[k].name);
        map[k] = i >= 0 ? i : (!strcmp(ts->fields[k].name, CN_ICE_DS) ? -2 : -1);
    }
    rc = cn_col_batch_new(ts, &out, &err);
    if (rc == 0 && sb.n) {
        rc = cn_col_batch_new(ts, &all, &err);
        sb.by.b = all;
        sb.by.n = sb.n + 1;
        sb.by.col[0] = cn_col_schema_find(ts, CN_ICE_DS);
        for (uint32_t i = 0; i < sb.n; i++) sb.by.col[i + 1] = cn_col_schema_find(ts, sb.names[i]);
    }
    uint64_t n_rows = 0;
    const CnBatch *b = NULL;
    int ds_col = cn_col_schema_find(ts, CN_ICE_DS);
    while (rc == 0 && (rc = in_next(&in, &b, &err)) == 0 && b) {
        cn_col_batch_reset(out);
        for (uint32_t k = 0; k < ts->n_fields && rc == 0; k++) {
            CnVec *v = &out->cols[k];
            if (map[k] >= 0) {
                rc = cn_col_vec_append_range(v, &b->cols[map[k]], 0, b->n_rows);
                /* the partition column from the file: a bad value is named with the file
                 * and its row here (the table writer knows neither) */
                if (rc == 0 && (int)k == ds_col) rc = check_ds(file, n_rows, &b->cols[map[k]], b->n_rows, &err);
            } else if (map[k] == -2) {
                for (uint32_t r = 0; r < b->n_rows && rc == 0; r++) {
                    char d[11];
                    if (ds) {
                        rc = cn_col_vec_append_str(v, ds, 10);
                        continue;
                    }
                    const CnVec *tv = &b->cols[in_ts];
                    if (!cn_col_vec_is_valid(tv, r)) {
                        rc = cn_err_set(&err, CN_EINVAL, "%s: row %llu: %s is null, cannot derive ds",
                                        file, (unsigned long long)(n_rows + r + 1), part_from);
                        break;
                    }
                    cn_ms_to_ds(((const int64_t *)tv->values)[r], d);
                    rc = cn_col_vec_append_str(v, d, 10);
                }
            } else {
                for (uint32_t r = 0; r < b->n_rows && rc == 0; r++) rc = cn_col_vec_append_null(v);
            }
        }
        if (rc == 0) rc = cn_col_batch_sync_rows(out, &err);
        if (rc == 0) rc = all ? cn_col_batch_append_rows(all, out, NULL, 0, &err) : cn_ice_write_batch(w, out, &err);
        n_rows += b->n_rows;
    }
    if (rc == 0 && all) rc = write_sorted(w, all, &sb.by, &err);
    if (rc < 0) goto done;
    int64_t snap = -1;
    rc = cn_ice_write_commit(w, &snap, &err);
    if (rc < 0) goto done;
    if (snap < 0)
        printf("%s.%s: %s has no rows; nothing committed\n", ns, name, file);
    else
        printf("%s.%s: %s %llu rows from %s%s%s (snapshot %lld)\n", ns, name,
               overwrite ? "overwrote partitions with" : "appended", (unsigned long long)n_rows, file,
               sb.n ? ", sorted by " : "", sb.n ? sb.list : "", (long long)snap);
done:
    cn_col_batch_free(out);
    cn_col_batch_free(all);
    cn_free(map);
    cn_ice_write_free(w);
    if (rc < 0 && created_at) { /* a failed first load leaves no empty table behind */
        CnErr e2 = CN_ERR_INIT;
        cn_ice_table_drop_unused(c, ns, name, created_at, &e2);
    }
    cn_free(created_at);
    cn_col_schema_free(create);
    cn_csv_reader_close(in.csv);
    cn_pq_reader_close(in.pq);
    cn_ice_catalog_close(c);
    if (rc < 0) {
        if (!err.code) cn_err_set(&err, rc, "%s", chronon_strerror(rc));
        return cn_cli_fail("load", &err);
    }
    return 0;
}

/* --------------------------------------------------------------------- gc */

static void gc_usage(FILE *f) {
    fprintf(f,
            "usage: chronon gc [--older-than DURATION] (NS.TABLE ... | --all)\n"
            "                  [--warehouse URI] [--catalog URI] [--repo DIR]\n"
            "\n"
            "Removes orphan files: files under a table's directory that no snapshot of the\n"
            "table references (left by crashed or conflicting writers), once they are older\n"
            "than DURATION (default 3d, so writes in flight are safe). Prints each removed file.\n"
            "DURATION is a number with a unit s, m, h or d (e.g. 0s, 90m, 2d).\n"
            "--warehouse, --catalog and --repo work as for chronon load.\n");
}

static int parse_duration(const char *s, int64_t *ms) {
    char *end = NULL;
    long long v = strtoll(s, &end, 10);
    if (end == s || v < 0) return -1;
    int64_t unit = !strcmp(end, "s") ? 1000
                   : !strcmp(end, "m") ? 60000
                   : !strcmp(end, "h") ? 3600000
                   : !strcmp(end, "d") ? 86400000
                                       : 0;
    if (!unit) return -1;
    *ms = (int64_t)v * unit;
    return 0;
}

static int gc_print(void *ud, const char *uri, uint64_t size) {
    (void)ud;
    printf("removed %s (%llu bytes)\n", uri, (unsigned long long)size);
    return 0;
}

typedef struct GcAll {
    char (*names)[260];
    size_t n, cap;
} GcAll;

static int gc_add(GcAll *g, const char *full) {
    if (g->n == g->cap) {
        size_t cap = g->cap ? g->cap * 2 : 32;
        void *p = cn_realloc(g->names, sizeof *g->names * cap);
        if (!p) return CN_ENOMEM;
        g->names = p;
        g->cap = cap;
    }
    snprintf(g->names[g->n++], 260, "%s", full);
    return 0;
}

static int gc_collect(void *ud, const char *ns, const char *name) {
    char full[260];
    snprintf(full, sizeof full, "%s.%s", ns, name);
    return gc_add(ud, full);
}

int cn_cli_gc(int argc, char **argv) {
    const char *wh = NULL, *cat = NULL, *repo = NULL, *older = "3d";
    bool all = false;
    GcAll tables = {0};
    CnErr err = CN_ERR_INIT;
    CnIceCatalog *c = NULL;
    int rc = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (cn_cli_is_help(a)) {
            gc_usage(stdout);
            cn_free(tables.names);
            return 0;
        }
        const char **slot = !strcmp(a, "--older-than") ? &older
                            : !strcmp(a, "--warehouse") ? &wh
                            : !strcmp(a, "--catalog")   ? &cat
                            : !strcmp(a, "--repo")      ? &repo
                                                        : NULL;
        if (slot) {
            if (i + 1 >= argc) {
                fprintf(stderr, "chronon gc: %s needs a value\n", a);
                cn_free(tables.names);
                return 2;
            }
            *slot = argv[++i];
        } else if (!strcmp(a, "--all")) {
            all = true;
        } else if (a[0] == '-') {
            fprintf(stderr, "chronon gc: unknown option %s (see chronon gc --help)\n", a);
            cn_free(tables.names);
            return 2;
        } else if (gc_add(&tables, a) < 0) {
            rc = cn_err_set(&err, CN_ENOMEM, "out of memory");
            goto done;
        }
    }
    if (all == (tables.n > 0)) {
        fprintf(stderr, "chronon gc: name tables or pass --all (see chronon gc --help)\n");
        cn_free(tables.names);
        return 2;
    }
    int64_t older_ms = 0;
    if (parse_duration(older, &older_ms) < 0) {
        rc = cn_err_set(&err, CN_EINVAL, "--older-than \"%s\": expected a number and a unit s, m, h or d", older);
        goto done;
    }
    Settings st;
    rc = resolve_settings(repo, wh, cat, &st, &err);
    if (rc == 0) rc = cn_ice_catalog_open(st.warehouse, st.catalog, &c, &err);
    if (rc == 0 && all) rc = cn_ice_catalog_list(c, NULL, gc_collect, &tables, &err);
    for (size_t i = 0; rc == 0 && i < tables.n; i++) {
        char ns[129], name[129];
        rc = cn_ice_name_parse(tables.names[i], ns, name, &err);
        uint64_t n = 0;
        if (rc == 0) rc = cn_ice_gc(c, ns, name, older_ms, gc_print, NULL, &n, &err);
        if (rc == 0) printf("%s.%s: removed %llu orphan files\n", ns, name, (unsigned long long)n);
    }
done:
    cn_ice_catalog_close(c);
    cn_free(tables.names);
    if (rc < 0) {
        if (!err.code) cn_err_set(&err, rc, "%s", chronon_strerror(rc));
        return cn_cli_fail("gc", &err);
    }
    return 0;
}
