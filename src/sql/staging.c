/* staging.c: StagingQuery backfill (spec/compute.md section 7) on the SQL engine.
 * Partitions to compute follow section 5 with every day having input: the days of
 * [start, endDs] missing from the output, from its earliest partition on (the first
 * hole is skipped unless --run-first-hole), as holes of consecutive days, each split
 * into --step-days chunks. Each chunk renders the macros, runs the query and writes the
 * rows into the output table by their own ds: one overwrite commit per chunk, which
 * replaces exactly the ds partitions the chunk produced (dynamic partition overwrite).
 * Result columns get their Iceberg type from the source column's declared type when
 * the query selects a column as is, else from the values of the first batch (integers
 * bigint, reals double, text string, blobs binary; a column with only nulls string).
 * createView=true (Chronon's createStagingQueryView): no date ranges; the query, with
 * {{ start_date }} and {{ end_date }} refused and the other macros rendered, becomes the
 * catalog view <outputNamespace>.<cleanName> (CREATE OR REPLACE: a new view version),
 * and a row (created_at, ds=endDs, table_name) replaces that view's row of partition
 * endDs in <outputNamespace>.chronon_signal_partitions, the table partition sensors
 * watch (Chronon partitions it by ds and table_name; ours by ds, so the other views'
 * rows of that ds are carried over by the overwrite). */
#include "sql/sql_int.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "base/alloc.h"
#include "base/date.h"
#include "base/log.h"

#define BATCH_ROWS 65536

/* -------------------------------------------------------------- partitions */

/* From the snapshot's manifests (cn_ice_table_partition_list): no data file is read. A
 * partition whose files hold no record is not listed (a scan would see no ds there). */
int cn_sql__partitions(CnIceCatalog *c, const CnIceTable *t, const char *lo, const char *hi, char ***out, size_t *n,
                       CnErr *err) {
    *out = NULL;
    *n = 0;
    CnIcePartition *ps = NULL;
    uint32_t np = 0;
    int rc = cn_ice_table_partition_list(c, t, 0, lo, hi, &ps, &np, err);
    if (rc < 0) return rc;
    /* one block: pointers, then the strings */
    char **ptrs = cn_malloc((np ? np : 1) * (sizeof(char *) + 11));
    if (!ptrs) {
        cn_free(ps);
        return cn_err_set(err, CN_ENOMEM, "out of memory");
    }
    char *str = (char *)(ptrs + (np ? np : 1));
    size_t k = 0;
    for (uint32_t i = 0; i < np; i++) {
        if (ps[i].records <= 0 || strlen(ps[i].ds) != 10) continue;
        ptrs[k] = str + 11 * k;
        memcpy(ptrs[k], ps[i].ds, 11);
        k++;
    }
    cn_free(ps);
    *out = ptrs;
    *n = k;
    return 0;
}

int cn_sql_table_partitions(CnIceCatalog *c, const char *ns, const char *name, char ***out, size_t *n,
                            CnErr *err) {
    *out = NULL;
    *n = 0;
    CnIceTable *t = NULL;
    int rc = cn_ice_table_load(c, ns, name, &t, err);
    if (rc == 0) rc = cn_sql__partitions(c, t, NULL, NULL, out, n, err);
    cn_ice_table_free(t);
    return rc;
}

/* ------------------------------------------------------------------ macros */

static const char *const macro_names[] = {"start_date", "end_date", "latest_date", "max_date"};

static const char *skip_ws(const char *p) {
    while (*p && isspace((unsigned char)*p)) p++;
    return p;
}

/* Value of argument key in "k=v, k2=v2" (trimmed), into buf; NULL when absent. */
static const char *macro_arg(const char *args, size_t len, const char *key, char *buf, size_t cap) {
    size_t i = 0;
    while (i < len) {
        size_t j = i;
        while (j < len && args[j] != ',') j++;
        const char *eq = memchr(args + i, '=', j - i);
        if (eq) {
            const char *k0 = args + i, *k1 = eq;
            while (k0 < k1 && isspace((unsigned char)*k0)) k0++;
            while (k1 > k0 && isspace((unsigned char)k1[-1])) k1--;
            if ((size_t)(k1 - k0) == strlen(key) && !strncmp(k0, key, (size_t)(k1 - k0))) {
                const char *v0 = eq + 1, *v1 = args + j;
                while (v0 < v1 && isspace((unsigned char)*v0)) v0++;
                while (v1 > v0 && isspace((unsigned char)v1[-1])) v1--;
                snprintf(buf, cap, "%.*s", (int)(v1 - v0), v0);
                return buf;
            }
        }
        i = j + 1;
    }
    return NULL;
}

static int max_date(CnIceCatalog *c, const char *table, CnBuf *out, CnErr *err) {
    char ns[129], name[129];
    int rc = cn_ice_name_parse(table, ns, name, err);
    if (rc < 0) return cn_err_ctx(err, rc, "{{ max_date(table=%s) }}", table);
    if (!c) return cn_err_set(err, CN_EINVAL, "{{ max_date(table=%s) }}: no catalog to look in", table);
    char **parts = NULL;
    size_t n = 0;
    if ((rc = cn_sql_table_partitions(c, ns, name, &parts, &n, err)) < 0)
        return cn_err_ctx(err, rc, "{{ max_date(table=%s) }}", table);
    if (n == 0) rc = cn_err_set(err, CN_ENOTFOUND, "{{ max_date(table=%s) }}: table %s.%s has no partitions", table, ns, name);
    else cn_buf_puts(out, parts[n - 1]);
    cn_free(parts);
    return rc;
}

int cn_sql_render_macros(CnIceCatalog *c, const char *query, const char *start, const char *end,
                         const char *latest, char **out, CnErr *err) {
    *out = NULL;
    CnBuf b = CN_BUF_INIT;
    int rc = 0;
    const char *p = query;
    while (*p) {
        const char *open = strstr(p, "{{");
        if (!open) {
            cn_buf_puts(&b, p);
            break;
        }
        cn_buf_append(&b, p, (size_t)(open - p));
        const char *q = skip_ws(open + 2);
        const char *id = q;
        while (isalnum((unsigned char)*q) || *q == '_') q++;
        size_t idlen = (size_t)(q - id);
        int which = -1;
        for (int k = 0; k < 4; k++)
            if (strlen(macro_names[k]) == idlen && !strncmp(id, macro_names[k], idlen)) which = k;
        /* optional (args) of [\s0-9A-Za-z_.,=] */
        const char *args = NULL;
        size_t args_len = 0;
        if (which >= 0 && *q == '(') {
            const char *a = q + 1;
            while (*a && (isalnum((unsigned char)*a) || isspace((unsigned char)*a) || strchr("_.,=", *a))) a++;
            if (*a == ')') {
                args = q + 1;
                args_len = (size_t)(a - args);
                q = a + 1;
            } else {
                which = -1;
            }
        }
        q = skip_ws(q);
        if (which < 0 || strncmp(q, "}}", 2) != 0) {
            /* not one of ours: keep it, the unresolved check below names it */
            cn_buf_puts(&b, "{{");
            p = open + 2;
            continue;
        }
        switch (which) {
        case 0: cn_buf_puts(&b, start ? start : "null"); break;
        case 1: cn_buf_puts(&b, end ? end : "null"); break;
        case 2: cn_buf_puts(&b, latest ? latest : "null"); break;
        default: {
            char table[300];
            if (!args || !macro_arg(args, args_len, "table", table, sizeof table)) {
                rc = cn_err_set(err, CN_ECONFIG, "{{ max_date }} needs a table argument: {{ max_date(table=namespace.table) }}");
                goto done;
            }
            if ((rc = max_date(c, table, &b, err)) < 0) goto done;
        }
        }
        p = q + 2;
    }
    if (b.oom) { rc = cn_err_set(err, CN_ENOMEM, "out of memory"); goto done; }
    /* anything left that looks like {{ word ... }} is an error */
    const char *r = b.data ? b.data : "";
    CnBuf left = CN_BUF_INIT;
    for (const char *o = strstr(r, "{{"); o; o = strstr(o + 2, "{{")) {
        const char *w = skip_ws(o + 2);
        if (!(isalnum((unsigned char)*w) || *w == '_')) continue;
        const char *cl = strstr(w, "}}");
        if (!cl) continue;
        cn_buf_printf(&left, "%s%.*s", left.len ? ", " : "", (int)(cl + 2 - o), o);
    }
    if (left.len) {
        rc = cn_err_set(err, CN_ECONFIG,
                        "unresolved macro(s) after substitution: %s (supported: start_date, end_date, latest_date, max_date(table=...))",
                        left.data);
        cn_buf_fini(&left);
        goto done;
    }
    cn_buf_fini(&left);
    if (!b.data) cn_buf_puts(&b, "");
    *out = cn_buf_take(&b);
done:
    cn_buf_fini(&b);
    return rc;
}

/* ------------------------------------------------------------------ ranges */

int cn_sql_staging_ranges(const char *start, const char *end, const char *const *existing, size_t n_existing,
                          int step_days, bool run_first_hole, CnSqlRange **out, size_t **hole_of, size_t *n,
                          CnErr *err) {
    *out = NULL;
    *hole_of = NULL;
    *n = 0;
    int64_t s, e;
    if (cn_ds_parse(start, &s)) return cn_err_set(err, CN_EINVAL, "start partition '%s' is not a date (expected YYYY-MM-DD)", start);
    if (cn_ds_parse(end, &e)) return cn_err_set(err, CN_EINVAL, "end partition '%s' is not a date (expected YYYY-MM-DD)", end);
    if (s > e) return cn_err_set(err, CN_EINVAL, "start partition %s is after the end partition %s", start, end);
    if (step_days <= 0) step_days = 30;
    int64_t ndays = e - s + 1;
    bool *have = cn_calloc((size_t)ndays, 1);
    if (!have) return cn_err_set(err, CN_ENOMEM, "out of memory");
    int64_t min_existing = INT64_MAX;
    for (size_t i = 0; i < n_existing; i++) {
        int64_t d;
        if (cn_ds_parse(existing[i], &d)) continue;
        if (d < min_existing) min_existing = d;
        if (d >= s && d <= e) have[d - s] = true;
    }
    int64_t cutoff = s;
    if (!run_first_hole && min_existing != INT64_MAX && min_existing > s) cutoff = min_existing;
    CnSqlRange *r = NULL;
    size_t *h = NULL, nr = 0, cap = 0, hole = 0;
    int rc = 0;
    for (int64_t d = cutoff; d <= e;) {
        if (have[d - s]) { d++; continue; }
        int64_t h0 = d;
        while (d <= e && !have[d - s]) d++;
        for (int64_t c0 = h0; c0 < d; c0 += step_days) {
            int64_t c1 = c0 + step_days - 1 < d - 1 ? c0 + step_days - 1 : d - 1;
            if (nr == cap) {
                cap = cap ? cap * 2 : 16;
                CnSqlRange *nrr = cn_realloc(r, cap * sizeof *r);
                size_t *nh = nrr ? cn_realloc(h, cap * sizeof *h) : NULL;
                if (nrr) r = nrr;
                if (nh) h = nh;
                if (!nrr || !nh) { rc = cn_err_set(err, CN_ENOMEM, "out of memory"); goto done; }
            }
            cn_ds_format(c0, r[nr].start);
            cn_ds_format(c1, r[nr].end);
            h[nr++] = hole;
        }
        hole++;
    }
done:
    cn_free(have);
    if (rc < 0) {
        cn_free(r);
        cn_free(h);
        return rc;
    }
    *out = r;
    *hole_of = h;
    *n = nr;
    return 0;
}

/* --------------------------------------------------------------- writing */

/* Iceberg type of a result column: declared type of a selected column, else values. */
static const CnType *infer_type(const char *decl, sqlite3_value **vals, size_t n_rows, size_t n_cols, size_t col) {
    if (decl) {
        static const struct { const char *d; CnTypeId t; } m[] = {
            {"BOOL_INT", CN_COL_BOOL}, {"INT", CN_COL_INT32}, {"BIGINT", CN_COL_INT64},
            {"FLOAT", CN_COL_FLOAT32}, {"DOUBLE", CN_COL_FLOAT64}, {"DATE_TEXT", CN_COL_DATE},
            {"TIMESTAMP_TEXT", CN_COL_STRING}, {"TEXT", CN_COL_STRING}, {"BLOB", CN_COL_BINARY},
            {"ARRAY_JSON_TEXT", CN_COL_STRING}, {"MAP_JSON_TEXT", CN_COL_STRING},
            {"STRUCT_JSON_TEXT", CN_COL_STRING},
        };
        for (size_t i = 0; i < CN_ARRAY_LEN(m); i++)
            if (!strcmp(decl, m[i].d)) return cn_col_type_prim(m[i].t);
    }
    bool any_int = false, any_real = false, any_text = false, any_blob = false;
    for (size_t r = 0; r < n_rows; r++) {
        switch (sqlite3_value_type(vals[r * n_cols + col])) {
        case SQLITE_INTEGER: any_int = true; break;
        case SQLITE_FLOAT: any_real = true; break;
        case SQLITE_TEXT: any_text = true; break;
        case SQLITE_BLOB: any_blob = true; break;
        default: break;
        }
    }
    if (any_text || (any_blob && (any_int || any_real))) return cn_col_type_prim(CN_COL_STRING);
    if (any_blob) return cn_col_type_prim(CN_COL_BINARY);
    if (any_real) return cn_col_type_prim(CN_COL_FLOAT64);
    if (any_int) return cn_col_type_prim(CN_COL_INT64);
    return cn_col_type_prim(CN_COL_STRING);
}

/* "YYYY-MM-DD HH:MM:SS[.fff]" -> epoch ms. */
static bool parse_ts(const char *t, int64_t *ms) {
    int64_t d;
    char ds[11];
    if (strlen(t) < 10) return false;
    memcpy(ds, t, 10);
    ds[10] = 0;
    if (cn_ds_parse(ds, &d)) return false;
    int hh = 0, mi = 0, ss = 0, frac = 0, nf = 0;
    const char *p = t + 10;
    if (*p == ' ' || *p == 'T') {
        if (sscanf(p + 1, "%2d:%2d:%2d", &hh, &mi, &ss) != 3) return false;
        p += 9;
        if (*p == '.') {
            p++;
            while (isdigit((unsigned char)*p)) {
                if (nf < 3) { frac = frac * 10 + (*p - '0'); nf++; }
                p++;
            }
            while (nf < 3) { frac *= 10; nf++; }
        }
    }
    if (*p) return false;
    *ms = d * 86400000 + (int64_t)hh * 3600000 + mi * 60000 + ss * 1000 + frac;
    return true;
}

/* Appends v to column vec of type t; CN_ETYPE names the column and value. */
static int append_value(CnSql *s, CnVec *vec, sqlite3_value *v, const char *col, CnErr *err) {
    int vt = sqlite3_value_type(v);
    if (vt == SQLITE_NULL) return cn_col_vec_append_null(vec);
    const char *txt = vt == SQLITE_BLOB ? NULL : (const char *)sqlite3_value_text(v);
    char *end = NULL;
    switch (vec->type->id) {
    case CN_COL_BOOL:
        if (vt == SQLITE_INTEGER) return cn_col_vec_append_bool(vec, sqlite3_value_int64(v) != 0);
        if (txt && (!strcasecmp(txt, "true") || !strcasecmp(txt, "false")))
            return cn_col_vec_append_bool(vec, !strcasecmp(txt, "true"));
        break;
    case CN_COL_INT32:
    case CN_COL_INT64: {
        int64_t x;
        if (vt == SQLITE_INTEGER) x = sqlite3_value_int64(v);
        else if (vt == SQLITE_FLOAT && sqlite3_value_double(v) == (double)(int64_t)sqlite3_value_double(v))
            x = (int64_t)sqlite3_value_double(v);
        else if (txt && *txt && (x = strtoll(txt, &end, 10), !*end)) { /* parsed */ }
        else break;
        if (vec->type->id == CN_COL_INT64) return cn_col_vec_append_i64(vec, x);
        if (x < INT32_MIN || x > INT32_MAX) break;
        return cn_col_vec_append_i32(vec, (int32_t)x);
    }
    case CN_COL_FLOAT32:
    case CN_COL_FLOAT64: {
        double x;
        if (vt == SQLITE_INTEGER || vt == SQLITE_FLOAT) x = sqlite3_value_double(v);
        else if (txt && *txt && (x = strtod(txt, &end), !*end)) { /* parsed */ }
        else break;
        return vec->type->id == CN_COL_FLOAT64 ? cn_col_vec_append_f64(vec, x) : cn_col_vec_append_f32(vec, (float)x);
    }
    case CN_COL_DATE: {
        int64_t d;
        if (txt && strlen(txt) == 10 && !cn_ds_parse(txt, &d)) return cn_col_vec_append_i32(vec, (int32_t)d);
        break;
    }
    case CN_COL_TIMESTAMP: {
        int64_t ms;
        if (vt == SQLITE_INTEGER) return cn_col_vec_append_i64(vec, sqlite3_value_int64(v));
        if (txt && parse_ts(txt, &ms)) return cn_col_vec_append_i64(vec, ms);
        break;
    }
    case CN_COL_STRING:
        if (vt == SQLITE_FLOAT) {
            char num[48];
            cn_sql__double_text(s, sqlite3_value_double(v), num, sizeof num);
            return cn_col_vec_append_str(vec, num, strlen(num));
        }
        return cn_col_vec_append_str(vec, txt ? txt : (const char *)sqlite3_value_blob(v), (size_t)sqlite3_value_bytes(v));
    case CN_COL_BINARY: {
        const void *p = vt == SQLITE_BLOB ? sqlite3_value_blob(v) : (const void *)txt;
        return cn_col_vec_append_str(vec, p ? p : "", (size_t)sqlite3_value_bytes(v));
    }
    default:
        return cn_err_set(err, CN_EUNSUPPORTED, "column %s: writing %s columns from SQL is not supported", col,
                          cn_col_type_id_name(vec->type->id));
    }
    char tn[64];
    return cn_err_set(err, CN_ETYPE, "column %s: value '%s' does not fit the table's %s column", col,
                      txt ? txt : "(blob)", cn_col_type_name(vec->type, tn, sizeof tn));
}

typedef struct ChunkStats {
    int64_t rows;
    int64_t snapshot;
} ChunkStats;

/* Runs query and writes its rows to ns.name (created if missing) in one overwrite commit. */
static int run_chunk(CnSql *s, CnIceCatalog *c, const char *ns, const char *name, const char *query,
                     const char *const *props, uint32_t n_props, ChunkStats *st, CnErr *err) {
    sqlite3_stmt *q = NULL;
    sqlite3_value **buf = NULL;
    size_t n_buf = 0;
    CnIceWrite *w = NULL;
    CnBatch *batch = NULL;
    CnSchema *schema = NULL;
    int *col_of = NULL; /* write-schema column -> result column, -1 null */
    int rc = cn_sql__prepare(s, query, &q, err);
    if (rc < 0) goto done;
    if (!q) { rc = cn_err_set(err, CN_ECONFIG, "the query is empty"); goto done; }
    int nc = sqlite3_column_count(q);
    int i_ds = -1;
    for (int i = 0; i < nc; i++) {
        const char *cn = sqlite3_column_name(q, i);
        for (int k = 0; k < i; k++)
            if (!strcasecmp(cn, sqlite3_column_name(q, k))) {
                rc = cn_err_set(err, CN_ECONFIG, "the query returns column %s twice (alias one of them)", cn);
                goto done;
            }
        if (!strcasecmp(cn, CN_ICE_DS)) i_ds = i;
    }
    if (i_ds < 0) {
        rc = cn_err_set(err, CN_ECONFIG, "the query returns no ds column (a StagingQuery must select the partition column ds)");
        goto done;
    }
    /* first batch of rows, to infer types */
    CnErr serr = CN_ERR_INIT;
    s->stmt_err = &serr;
    buf = cn_malloc((size_t)BATCH_ROWS * (size_t)nc * sizeof *buf);
    if (!buf) { rc = cn_err_set(err, CN_ENOMEM, "out of memory"); goto done; }
    int step = SQLITE_DONE;
    while (n_buf < BATCH_ROWS && (step = sqlite3_step(q)) == SQLITE_ROW) {
        for (int i = 0; i < nc; i++) {
            buf[n_buf * (size_t)nc + (size_t)i] = sqlite3_value_dup(sqlite3_column_value(q, i));
            if (!buf[n_buf * (size_t)nc + (size_t)i]) {
                for (int k = 0; k < i; k++) sqlite3_value_free(buf[n_buf * (size_t)nc + (size_t)k]);
                rc = cn_err_set(err, CN_ENOMEM, "out of memory");
                goto done;
            }
        }
        n_buf++;
    }
    if (step != SQLITE_ROW && step != SQLITE_DONE) goto step_error;
    /* the table: create it, or add the columns it lacks */
    if (!cn_ice_table_exists(c, ns, name)) {
        if ((rc = cn_col_schema_new(&schema)) < 0) { cn_err_set(err, rc, "out of memory"); goto done; }
        for (int i = 0; i < nc; i++) {
            const CnType *t = i == i_ds ? cn_col_type_prim(CN_COL_STRING)
                                        : infer_type(sqlite3_column_decltype(q, i), buf, n_buf, (size_t)nc, (size_t)i);
            if ((rc = cn_col_schema_add(schema, i == i_ds ? CN_ICE_DS : sqlite3_column_name(q, i), t, true, -1, err)) < 0)
                goto done;
        }
        if ((rc = cn_ice_table_create(c, ns, name, schema, props, n_props, err)) < 0 && rc != CN_EEXISTS) goto done;
        cn_err_clear(err);
        rc = 0;
        cn_col_schema_free(schema);
        schema = NULL;
    } else {
        CnIceTable *t = NULL;
        if ((rc = cn_ice_table_load(c, ns, name, &t, err)) < 0) goto done;
        const CnSchema *ts = cn_ice_table_schema(t);
        for (int i = 0; i < nc && rc == 0; i++) {
            const char *cn = i == i_ds ? CN_ICE_DS : sqlite3_column_name(q, i);
            if (cn_col_schema_find(ts, cn) >= 0) continue;
            const CnType *ty = infer_type(sqlite3_column_decltype(q, i), buf, n_buf, (size_t)nc, (size_t)i);
            rc = cn_ice_table_add_column(c, ns, name, cn, ty, err);
        }
        cn_ice_table_free(t);
        if (rc < 0) goto done;
    }
    if ((rc = cn_ice_write_begin(c, ns, name, CN_ICE_OVERWRITE, &w, err)) < 0) goto done;
    const CnSchema *ws = cn_ice_write_schema(w);
    col_of = cn_malloc((ws->n_fields ? ws->n_fields : 1) * sizeof *col_of);
    if (!col_of) { rc = cn_err_set(err, CN_ENOMEM, "out of memory"); goto done; }
    for (uint32_t f = 0; f < ws->n_fields; f++) {
        col_of[f] = -1;
        for (int i = 0; i < nc; i++)
            if (!strcmp(ws->fields[f].name, i == i_ds ? CN_ICE_DS : sqlite3_column_name(q, i))) col_of[f] = i;
    }
    if ((rc = cn_col_batch_new(ws, &batch, err)) < 0) goto done;
    size_t n_in_batch = 0;
    /* buffered rows first, then the rest of the statement */
    for (size_t r = 0;; r++) {
        bool from_buf = r < n_buf;
        if (!from_buf) {
            if (step != SQLITE_ROW) break;
            step = sqlite3_step(q);
            if (step == SQLITE_DONE) break;
            if (step != SQLITE_ROW) goto step_error;
        }
        for (uint32_t f = 0; f < ws->n_fields && rc == 0; f++) {
            CnVec *vec = &batch->cols[f];
            if (col_of[f] < 0) {
                rc = cn_col_vec_append_null(vec);
                continue;
            }
            sqlite3_value *v = from_buf ? buf[r * (size_t)nc + (size_t)col_of[f]] : sqlite3_column_value(q, col_of[f]);
            rc = append_value(s, vec, v, ws->fields[f].name, err);
        }
        if (rc < 0) goto done;
        st->rows++;
        if (++n_in_batch == BATCH_ROWS) {
            if ((rc = cn_col_batch_sync_rows(batch, err)) < 0 || (rc = cn_ice_write_batch(w, batch, err)) < 0) goto done;
            cn_col_batch_reset(batch);
            n_in_batch = 0;
        }
    }
    if (n_in_batch && ((rc = cn_col_batch_sync_rows(batch, err)) < 0 || (rc = cn_ice_write_batch(w, batch, err)) < 0))
        goto done;
    rc = cn_ice_write_commit(w, &st->snapshot, err);
    goto done;
step_error:
    if (serr.code) rc = cn_err_set(err, serr.code, "%s", cn_err_msg(&serr));
    else rc = cn_err_set(err, CN_EINVAL, "%s", sqlite3_errmsg(s->db));
done:
    s->stmt_err = NULL;
    if (buf)
        for (size_t k = 0; k < n_buf * (size_t)(q ? sqlite3_column_count(q) : 0); k++) sqlite3_value_free(buf[k]);
    cn_free(buf);
    cn_free(col_of);
    cn_col_batch_free(batch);
    cn_col_schema_free(schema);
    cn_ice_write_free(w);
    sqlite3_finalize(q);
    return rc;
}

/* ------------------------------------------------------------- createView */

/* True when query holds {{ word }} (any blanks inside the braces). */
static bool has_macro(const char *query, const char *word) {
    size_t wl = strlen(word);
    for (const char *p = strstr(query, "{{"); p; p = strstr(p + 2, "{{")) {
        const char *q = p + 2;
        while (isspace((unsigned char)*q)) q++;
        if (strncmp(q, word, wl)) continue;
        q += wl;
        while (isspace((unsigned char)*q)) q++;
        if (q[0] == '}' && q[1] == '}') return true;
    }
    return false;
}

/* Column names and types of query's result, from its first rows (as run_chunk). */
static int query_schema(CnSql *s, const char *query, CnSchema **out, CnErr *err) {
    sqlite3_stmt *q = NULL;
    sqlite3_value **buf = NULL;
    size_t n_buf = 0, cap = 100;
    CnSchema *schema = NULL;
    int rc = cn_sql__prepare(s, query, &q, err);
    if (rc < 0) return rc;
    if (!q) return cn_err_set(err, CN_ECONFIG, "the query is empty");
    int nc = sqlite3_column_count(q);
    if (nc == 0) { rc = cn_err_set(err, CN_ECONFIG, "the query returns no columns"); goto done; }
    buf = cn_calloc(cap * (size_t)nc, sizeof *buf);
    if (!buf) { rc = cn_err_set(err, CN_ENOMEM, "out of memory"); goto done; }
    CnErr serr = CN_ERR_INIT;
    s->stmt_err = &serr;
    int step = SQLITE_DONE;
    while (n_buf < cap && (step = sqlite3_step(q)) == SQLITE_ROW) {
        for (int i = 0; i < nc; i++) buf[n_buf * (size_t)nc + (size_t)i] = sqlite3_value_dup(sqlite3_column_value(q, i));
        n_buf++;
    }
    s->stmt_err = NULL;
    if (step != SQLITE_ROW && step != SQLITE_DONE) {
        rc = serr.code ? cn_err_set(err, serr.code, "%s", cn_err_msg(&serr))
                       : cn_err_set(err, CN_EINVAL, "%s", sqlite3_errmsg(s->db));
        goto done;
    }
    if ((rc = cn_col_schema_new(&schema)) < 0) { rc = cn_err_set(err, CN_ENOMEM, "out of memory"); goto done; }
    for (int i = 0; i < nc && rc == 0; i++) {
        const char *cn = sqlite3_column_name(q, i);
        for (int k = 0; k < i && rc == 0; k++)
            if (!strcasecmp(cn, sqlite3_column_name(q, k)))
                rc = cn_err_set(err, CN_ECONFIG, "the query returns column %s twice (alias one of them)", cn);
        if (rc == 0)
            rc = cn_col_schema_add(schema, cn, infer_type(sqlite3_column_decltype(q, i), buf, n_buf, (size_t)nc, (size_t)i),
                                   true, -1, err);
    }
done:
    for (size_t i = 0; buf && i < n_buf * (size_t)nc; i++) sqlite3_value_free(buf[i]);
    cn_free(buf);
    sqlite3_finalize(q);
    if (rc < 0) {
        cn_col_schema_free(schema);
        return rc;
    }
    *out = schema;
    return 0;
}

/* Replaces the row of view `full` in partition ds of ns.chronon_signal_partitions. */
static int signal_partition(CnIceCatalog *c, const char *ns, const char *full, const char *ds,
                            const char *const *props, uint32_t n_props, CnErr *err) {
    static const char *const tname = "chronon_signal_partitions";
    int rc = 0;
    if (!cn_ice_table_exists(c, ns, tname)) {
        CnSchema *sc = NULL;
        if (cn_col_schema_new(&sc) < 0) return cn_err_set(err, CN_ENOMEM, "out of memory");
        static const char *const cols[] = {"created_at", "ds", "table_name"};
        for (int i = 0; i < 3 && rc == 0; i++) rc = cn_col_schema_add(sc, cols[i], cn_col_type_prim(CN_COL_STRING), false, -1, err);
        if (rc == 0) rc = cn_ice_table_create(c, ns, tname, sc, props, n_props, err);
        cn_col_schema_free(sc);
        if (rc == CN_EEXISTS) { cn_err_clear(err); rc = 0; } /* created meanwhile */
        if (rc < 0) return rc;
    }
    char created[96];
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    snprintf(created, sizeof created, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (ts.tv_nsec / 1000000) % 1000);
    for (int attempt = 0; attempt < 5; attempt++) {
        CnIceWrite *w = NULL;
        CnBatch *b = NULL;
        CnIceTable *t = NULL;
        CnIceScan *scan = NULL;
        if ((rc = cn_ice_write_begin(c, ns, tname, CN_ICE_OVERWRITE, &w, err)) < 0) goto next;
        const CnSchema *ws = cn_ice_write_schema(w);
        int i_c = cn_col_schema_find(ws, "created_at"), i_d = cn_col_schema_find(ws, CN_ICE_DS),
            i_t = cn_col_schema_find(ws, "table_name");
        if (i_c < 0 || i_d < 0 || i_t < 0) {
            rc = cn_err_set(err, CN_ECONFIG, "table %s.%s: expected columns created_at, ds, table_name", ns, tname);
            goto next;
        }
        if ((rc = cn_col_batch_new(ws, &b, err)) < 0) goto next;
        /* the other views' rows of this ds stay */
        if ((rc = cn_ice_table_load(c, ns, tname, &t, err)) < 0) goto next;
        const char *cols[] = {"created_at", "table_name"};
        CnIceScanOpts o = {0};
        o.ds_lo = o.ds_hi = ds;
        o.columns = cols;
        o.n_columns = 2;
        if ((rc = cn_ice_scan_open(c, t, &o, &scan, err)) < 0) goto next;
        for (;;) {
            const CnBatch *sb = NULL;
            if ((rc = cn_ice_scan_next(scan, &sb, err)) < 0) goto next;
            if (!sb) break;
            for (uint32_t r = 0; r < sb->n_rows; r++) {
                uint32_t lc = 0, lt = 0;
                if (!cn_col_vec_is_valid(&sb->cols[1], r)) continue;
                const char *pt = cn_col_vec_str(&sb->cols[1], r, &lt);
                if (lt == strlen(full) && !memcmp(pt, full, lt)) continue;
                for (uint32_t f = 0; f < ws->n_fields; f++) {
                    CnVec *v = &b->cols[f];
                    if ((int)f == i_d) cn_col_vec_append_str(v, ds, 10);
                    else if ((int)f == i_t) cn_col_vec_append_str(v, pt, lt);
                    else if ((int)f == i_c && cn_col_vec_is_valid(&sb->cols[0], r)) {
                        const char *pc = cn_col_vec_str(&sb->cols[0], r, &lc);
                        cn_col_vec_append_str(v, pc, lc);
                    } else cn_col_vec_append_null(v);
                }
            }
        }
        for (uint32_t f = 0; f < ws->n_fields; f++) {
            CnVec *v = &b->cols[f];
            if ((int)f == i_d) cn_col_vec_append_str(v, ds, 10);
            else if ((int)f == i_t) cn_col_vec_append_str(v, full, (uint32_t)strlen(full));
            else if ((int)f == i_c) cn_col_vec_append_str(v, created, (uint32_t)strlen(created));
            else cn_col_vec_append_null(v);
        }
        if ((rc = cn_col_batch_sync_rows(b, err)) < 0) goto next;
        if ((rc = cn_ice_write_batch(w, b, err)) < 0) goto next;
        rc = cn_ice_write_commit(w, NULL, err);
    next:
        cn_ice_scan_close(scan);
        cn_ice_table_free(t);
        cn_col_batch_free(b);
        cn_ice_write_free(w);
        if (rc != CN_ECONFLICT) break;
        cn_err_clear(err);
    }
    return rc;
}

/* createView=true: the view and its signal partition. */
static int staging_view(CnSql *s, CnIceCatalog *c, const CnStagingQuery *sq, const char *qname, const char *ns,
                        const char *name, const CnSqlStagingOpts *o, const char *const *props, uint32_t n_props,
                        FILE *pr, CnErr *err) {
    char *rendered = NULL;
    CnSchema *schema = NULL;
    int rc = 0;
    if (has_macro(sq->query, "start_date") || has_macro(sq->query, "end_date"))
        return cn_err_set(err, CN_ECONFIG,
                          "staging query %s: createView cannot be used with a query containing {{ start_date }} or "
                          "{{ end_date }} (a view has no date range; set createView=False to backfill a table)",
                          qname);
    for (size_t i = 0; i < sq->setups.n; i++)
        if ((rc = cn_sql_exec(s, sq->setups.items[i], NULL, err)) < 0)
            return cn_err_ctx(err, rc, "staging query %s: setups[%zu]", qname, i);
    if ((rc = cn_sql_render_macros(c, sq->query, NULL, NULL, o->end_ds, &rendered, err)) < 0) {
        cn_err_ctx(err, rc, "staging query %s: query", qname);
        goto done;
    }
    if ((rc = query_schema(s, rendered, &schema, err)) < 0) {
        cn_err_ctx(err, rc, "staging query %s: view %s.%s", qname, ns, name);
        goto done;
    }
    if ((rc = cn_ice_view_replace(c, ns, name, rendered, schema, props, n_props, err)) < 0) {
        cn_err_ctx(err, rc, "staging query %s", qname);
        goto done;
    }
    char full[260];
    snprintf(full, sizeof full, "%s.%s", ns, name);
    if ((rc = signal_partition(c, ns, full, o->end_ds, props, n_props, err)) < 0) {
        cn_err_ctx(err, rc, "staging query %s: view %s created, but its signal partition was not written", qname, full);
        goto done;
    }
    fprintf(pr, "staging query %s: view %s created (%u columns); signal partition ds=%s in %s.chronon_signal_partitions\n",
            qname, full, schema->n_fields, o->end_ds, ns);
done:
    cn_free(rendered);
    cn_col_schema_free(schema);
    return rc;
}

/* Number of distinct ds partitions written by snapshot: the partitions of the table
 * between the chunk bounds is what the progress line reports. */
static size_t count_parts_in(CnIceCatalog *c, const char *ns, const char *name, const char *lo, const char *hi) {
    char **parts = NULL;
    size_t n = 0, k = 0;
    CnErr e = CN_ERR_INIT;
    if (cn_sql_table_partitions(c, ns, name, &parts, &n, &e) < 0) return 0;
    for (size_t i = 0; i < n; i++)
        if ((!lo || strcmp(parts[i], lo) >= 0) && (!hi || strcmp(parts[i], hi) <= 0)) k++;
    cn_free(parts);
    return k;
}

int cn_sql_staging_run(CnIceCatalog *c, const CnStagingQuery *sq, const CnSqlStagingOpts *o, CnErr *err) {
    FILE *pr = o->progress ? o->progress : stderr;
    const char *qname = sq->meta.name ? sq->meta.name : "(unnamed)";
    CnArena a;
    cn_arena_init(&a, 0);
    CnSql *s = NULL;
    CnSqlRange *ranges = NULL;
    size_t *hole_of = NULL, n_ranges = 0;
    char **existing = NULL;
    size_t n_existing = 0;
    const char **props = NULL;
    char *rendered = NULL;
    int rc = 0;
    if (!sq->query || !*sq->query) {
        rc = cn_err_set(err, CN_ECONFIG, "staging query %s: query is empty", qname);
        goto done;
    }
    char *full = cn_conf_output_table(&a, &sq->meta, err);
    if (!full) { rc = err->code ? err->code : CN_ENOMEM; goto done; }
    char ns[129], name[129];
    if ((rc = cn_ice_name_parse(full, ns, name, err)) < 0) goto done;
    /* table properties: the config's, plus Chronon's markers */
    size_t np = sq->meta.table_properties.n + 2;
    props = cn_arena_alloc(&a, 2 * np * sizeof *props);
    if (!props) { rc = cn_err_set(err, CN_ENOMEM, "out of memory"); goto done; }
    for (size_t i = 0; i < sq->meta.table_properties.n; i++) {
        props[2 * i] = sq->meta.table_properties.keys[i];
        props[2 * i + 1] = sq->meta.table_properties.vals[i];
    }
    props[2 * (np - 2)] = "chronon_generated";
    props[2 * (np - 2) + 1] = "true";
    props[2 * (np - 1)] = "chronon_table_type";
    props[2 * (np - 1) + 1] = "staging_query";

    if ((rc = cn_sql_open(c, &s, err)) < 0) goto done;
    if (sq->create_view == 1) {
        rc = staging_view(s, c, sq, qname, ns, name, o, props, (uint32_t)np, pr, err);
        goto done;
    }
    for (size_t i = 0; i < sq->setups.n; i++) {
        if ((rc = cn_sql_exec(s, sq->setups.items[i], NULL, err)) < 0) {
            cn_err_ctx(err, rc, "staging query %s: setups[%zu]", qname, i);
            goto done;
        }
    }
    if (!sq->start_partition) {
        /* no startPartition: one run, date macros render null */
        if ((rc = cn_sql_render_macros(c, sq->query, NULL, NULL, o->end_ds, &rendered, err)) < 0) {
            cn_err_ctx(err, rc, "staging query %s: query", qname);
            goto done;
        }
        ChunkStats cs = {0};
        double t0 = cn_clock_s(CLOCK_MONOTONIC);
        if ((rc = run_chunk(s, c, ns, name, rendered, props, (uint32_t)np, &cs, err)) < 0) {
            cn_err_ctx(err, rc, "staging query %s (no startPartition: one run)", qname);
            goto done;
        }
        fprintf(pr, "staging query %s: %s.%s: one run (no startPartition): %lld rows, %.2fs\n", qname, ns, name,
                (long long)cs.rows, cn_clock_s(CLOCK_MONOTONIC) - t0);
        goto done;
    }
    bool historical = sq->meta.historical_backfill != 0;
    const char *start = !historical ? o->end_ds : o->start_ds ? o->start_ds : sq->start_partition;
    if (strcmp(start, o->end_ds) > 0) {
        fprintf(pr, "staging query %s: nothing to compute: start %s is after the end %s\n", qname, start, o->end_ds);
        goto done;
    }
    if (cn_ice_table_exists(c, ns, name) &&
        (rc = cn_sql_table_partitions(c, ns, name, &existing, &n_existing, err)) < 0)
        goto done;
    if ((rc = cn_sql_staging_ranges(start, o->end_ds, (const char *const *)existing, n_existing, o->step_days,
                                    o->run_first_hole, &ranges, &hole_of, &n_ranges, err)) < 0) {
        cn_err_ctx(err, rc, "staging query %s", qname);
        goto done;
    }
    if (n_ranges == 0) {
        fprintf(pr, "staging query %s: nothing to compute: %s.%s has every partition of [%s, %s]\n", qname, ns, name,
                start, o->end_ds);
        goto done;
    }
    size_t n_holes = hole_of[n_ranges - 1] + 1, failed = 0;
    CnErr first = CN_ERR_INIT;
    for (size_t i = 0; i < n_ranges; i++) {
        CnErr e = CN_ERR_INIT;
        cn_free(rendered);
        rendered = NULL;
        ChunkStats cs = {0};
        double t0 = cn_clock_s(CLOCK_MONOTONIC);
        int crc = cn_sql_render_macros(c, sq->query, ranges[i].start, ranges[i].end, o->end_ds, &rendered, &e);
        if (crc == 0) crc = run_chunk(s, c, ns, name, rendered, props, (uint32_t)np, &cs, &e);
        if (crc < 0) {
            fprintf(pr, "staging query %s: chunk %zu/%zu [%s, %s] failed: %s\n", qname, i + 1, n_ranges,
                    ranges[i].start, ranges[i].end, cn_err_msg(&e));
            if (!first.code) cn_err_set(&first, crc, "chunk [%s, %s]: %s", ranges[i].start, ranges[i].end, cn_err_msg(&e));
            failed++;
            /* the rest of this hole is skipped; other holes still run */
            size_t h = hole_of[i];
            while (i + 1 < n_ranges && hole_of[i + 1] == h) i++;
            continue;
        }
        fprintf(pr, "staging query %s: chunk %zu/%zu [%s, %s]: %lld rows, %zu partitions, %.2fs\n", qname, i + 1,
                n_ranges, ranges[i].start, ranges[i].end, (long long)cs.rows,
                cs.rows ? count_parts_in(c, ns, name, ranges[i].start, ranges[i].end) : 0, cn_clock_s(CLOCK_MONOTONIC) - t0);
    }
    if (failed)
        rc = cn_err_set(err, first.code, "staging query %s: %zu of %zu holes failed; first: %s", qname, failed, n_holes,
                        cn_err_msg(&first));
done:
    cn_free(rendered);
    cn_free(ranges);
    cn_free(hole_of);
    cn_free(existing);
    cn_sql_close(s);
    cn_arena_fini(&a);
    return rc;
}
