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
            "  --warehouse URI    local directory or s3://bucket/prefix\n"
            "                     (default $CHRONON_WAREHOUSE, else <root>/warehouse)\n"
            "  --catalog URI      sqlite:PATH or postgresql://user@host:port/db\n"
            "                     (default $CHRONON_CATALOG, else sqlite:<warehouse>/catalog.db)\n"
            "  --repo DIR         chronon root (default: the current directory)\n"
            "The load is one commit: on any error nothing is visible in the table.\n");
}

typedef struct LoadIn {
    CnCsvReader *csv;
    CnPqReader *pq;
    const CnSchema *schema;
} LoadIn;

static int in_next(LoadIn *in, const CnBatch **b, CnErr *err) {
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

int cn_cli_load(int argc, char **argv) {
    const char *file = NULL, *table = NULL, *part_from = NULL, *ds = NULL, *schema = NULL;
    const char *mode = "append", *wh = NULL, *cat = NULL, *repo = NULL;
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
    uint64_t n_rows = 0;
    const CnBatch *b = NULL;
    while (rc == 0 && (rc = in_next(&in, &b, &err)) == 0 && b) {
        cn_col_batch_reset(out);
        for (uint32_t k = 0; k < ts->n_fields && rc == 0; k++) {
            CnVec *v = &out->cols[k];
            if (map[k] >= 0) {
                rc = cn_col_vec_append_range(v, &b->cols[map[k]], 0, b->n_rows);
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
        if (rc == 0) rc = cn_ice_write_batch(w, out, &err);
        n_rows += b->n_rows;
    }
    if (rc < 0) goto done;
    int64_t snap = -1;
    rc = cn_ice_write_commit(w, &snap, &err);
    if (rc < 0) goto done;
    if (snap < 0)
        printf("%s.%s: %s has no rows; nothing committed\n", ns, name, file);
    else
        printf("%s.%s: %s %llu rows from %s (snapshot %lld)\n", ns, name,
               overwrite ? "overwrote partitions with" : "appended", (unsigned long long)n_rows, file,
               (long long)snap);
done:
    cn_col_batch_free(out);
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
