/* join.c: Join backfill (compute.md section 6): every left row exactly once, with the
 * point-in-time value of every JoinPart, then derivations, written per ds partition.
 * PER CHUNK: the left rows of the chunk's days are loaded in one batch (query applied,
 *   hidden __cn_ds column keeps the storage partition P). Each part is then evaluated
 *   for all rows at once:
 *   - snapshot parts (entities left: snapshot of P; events left with a SNAPSHOT or
 *     no-aggregation part: snapshot of day(q)-1) run the GroupBy's snapshot computation
 *     once over the span of needed days and keep the rows of the needed days in a hash
 *     (day, key) -> row;
 *   - TEMPORAL event parts: each left row's value over its key's rows with ts in
 *     [floor(q-W,H), q) stored in partitions <= P (D27: a late event is seen from its
 *     storage day on), by one sorted sweep per key (sweep.c).
 *   - TEMPORAL entity parts do the same over the rows of snapshot X-1 as a batch IR
 *     with B = epoch(X) (D1), then apply day X's mutations before q (mutate.c,
 *     section 5 "Mutations", D7, D8).
 *   A null in any key of a part, or no data, gives that part null features. A part's
 *   GroupBy derivations then run over (keys, values, ds = the day of the value).
 * MEMORY: a chunk whose left rows or GroupBy rows need more than --max-memory (default
 *   half the physical memory) is computed in halves, down to single days, else refused.
 * RE-RUNS: only left days without output are computed (section 5 holes) unless
 *   --force, or unless the output's chronon.join.semantic_hash property differs from
 *   the join's (then every day in range is recomputed).
 * NAMES: features are <fullPrefix>_<col>; a feature equal to a left column name is
 *   coalesce(left, feature); two parts producing the same name is a config error.
 * BOOTSTRAP (bootstrap.c, apply_bootstrap) and online-only external parts (ext_columns)
 *   fill or replace features before derivations; see docs/joins.md.
 * PARTITION RANGE (D29): the value for day X reads partitions from X - 1d - maxWindow,
 *   per day, whatever the chunk (early_fix, the per-day snapshot path). */
#include "engine/eng_int.h"
#include "engine/jscan.h"
#include "engine/sweep.h"
#include "engine/bootstrap.h"
#include "engine/rowmap.h"
#include "engine/djoin.h"
#include "engine/jsplit.h"
#include "engine/mutate.h"
#include "engine/extpart.h"
#include "engine/label.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/date.h"
#include "base/hash.h"
#include "base/log.h"
#include "base/pool.h"
#include "expr/expr.h"

#define LDS "__cn_ds"

static int32_t to_days(const char *ds, int32_t fallback) {
    int64_t d;
    if (!ds || cn_ds_parse(ds, &d)) return fallback;
    return (int32_t)d;
}

/* The last ds parsed: rows of a partition share it, so most rows need no copy and no
 * parse (a million left rows took about 0.1 s of CPU through snprintf and the parser). */
typedef struct DayMemo {
    char ds[10];
    int32_t day;
    bool set;
} DayMemo;

static int32_t vec_day(const CnVec *v, uint32_t r, DayMemo *m) {
    if (!cn_col_vec_is_valid(v, r)) return INT32_MIN;
    uint32_t len;
    const char *p = cn_col_vec_str(v, r, &len);
    if (len == 10 && m->set && !memcmp(m->ds, p, 10)) return m->day;
    char b[11];
    if (len > 10) len = 10;
    memcpy(b, p, len);
    b[len] = 0;
    int32_t d = to_days(b, INT32_MIN);
    if (len == 10) memcpy(m->ds, p, 10), m->day = d, m->set = true;
    return d;
}

/* Threads for a pass over n left rows: DAY_PAR_MIN rows each at least. */
#define DAY_PAR_MIN 65536
static uint32_t day_threads(uint32_t n) {
    uint32_t nt = cn_pool_threads(), most = n / DAY_PAR_MIN;
    return most < 1 ? 1 : most < nt ? most : nt;
}

/* Storage days of rows [cut(t), cut(t + 1)) of v on thread t (day_threads). */
typedef struct DayJob {
    const CnVec *v;
    int32_t *day;
    uint32_t n, nt;
} DayJob;

static void day_step(void *ud, uint32_t t) {
    const DayJob *j = ud;
    DayMemo memo = {0};
    uint32_t r = (uint32_t)((uint64_t)j->n * t / j->nt), e = (uint32_t)((uint64_t)j->n * (t + 1) / j->nt);
    for (; r < e; r++) j->day[r] = vec_day(j->v, r, &memo);
}

/* Days of the left rows' ts (rows [cut(t), cut(t + 1)) on thread t), with per thread
 * their range, the latest storage day and the first row without a ts (n: none). */
#define TSDAY_MAX_THREADS 64
typedef struct TsDayJob {
    const CnVec *ts;
    const int32_t *pday;
    int32_t *day;
    uint32_t n, nt;
    int32_t qmin[TSDAY_MAX_THREADS], qmax[TSDAY_MAX_THREADS], pmax[TSDAY_MAX_THREADS];
    uint32_t null_row[TSDAY_MAX_THREADS];
} TsDayJob;

static void tsday_step(void *ud, uint32_t t) {
    TsDayJob *j = ud;
    int32_t qmin = INT32_MAX, qmax = INT32_MIN, pmax = INT32_MIN;
    uint32_t r = (uint32_t)((uint64_t)j->n * t / j->nt), e = (uint32_t)((uint64_t)j->n * (t + 1) / j->nt);
    const int64_t *tv = j->ts->values;
    j->null_row[t] = j->n;
    for (; r < e; r++) {
        if (!cn_col_vec_is_valid(j->ts, r)) {
            j->null_row[t] = r;
            break;
        }
        int32_t d = j->day[r] = (int32_t)cn_ms_to_days(tv[r]);
        qmin = d < qmin ? d : qmin;
        qmax = d > qmax ? d : qmax;
        pmax = j->pday[r] > pmax ? j->pday[r] : pmax;
    }
    j->qmin[t] = qmin, j->qmax[t] = qmax, j->pmax[t] = pmax;
}

static int cmp_i32(const void *a, const void *b) {
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

/* day + encoded key columns; false when a key column is null (null features). */
static bool encode_day_key(const CnBatch *b, const int *cols, uint32_t n, uint32_t r, int32_t day, CnBuf *out) {
    for (uint32_t k = 0; k < n; k++)
        if (!cn_col_vec_is_valid(&b->cols[cols[k]], r)) return false;
    cn_eng__key_encode(b, cols, n, r, out);
    cn_buf_append(out, &day, sizeof day);
    return true;
}

/* ------------------------------------------------------------------ left side */

typedef struct Left {
    CnArena *arena;
    const char *table;
    CnExprQuery *q;        /* bound on the scan projection */
    CnBatch *rows;         /* query output: left columns (+ ts), __cn_ds */
    int32_t *pday;         /* per row */
    int i_ds, i_ts;        /* in rows */
    int *order;            /* left output columns, Chronon order (indexes into rows) */
    uint32_t n_order;
    bool events;
} Left;

static void left_fini(Left *l) {
    cn_expr_query_free(l->q);
    cn_col_batch_free(l->rows);
    cn_free(l->pday);
    memset(l, 0, sizeof *l);
}

/* Selected column names in the order the output lists them. */
typedef struct LeftSpec {
    const char **names, **exprs;
    uint32_t n;
} LeftSpec;

static int left_spec(CnArena *a, const CnSource *s, const CnSchema *ts, LeftSpec *sp, CnErr *err) {
    const CnQuery *q = &s->query;
    uint32_t n = q->has_selects ? (uint32_t)q->selects.n : ts->n_fields;
    sp->names = cn_arena_alloc(a, (n + 2) * sizeof *sp->names);
    sp->exprs = cn_arena_alloc(a, (n + 2) * sizeof *sp->exprs);
    if (!sp->names || !sp->exprs) return cn_err_set(err, CN_ENOMEM, "out of memory");
    sp->n = 0;
    for (uint32_t i = 0; i < n; i++) {
        const char *name = q->has_selects ? q->selects.keys[i] : ts->fields[i].name;
        const char *ex = q->has_selects ? q->selects.vals[i] : cn_arena_printf(a, "`%s`", name);
        if (!strcmp(name, CN_ICE_DS)) continue;                 /* ds is the partition */
        if (q->time_column && !strcmp(name, "ts")) continue;    /* ts comes from timeColumn */
        sp->names[sp->n] = name;
        sp->exprs[sp->n++] = ex;
    }
    sp->names[sp->n] = LDS;
    sp->exprs[sp->n++] = "`" CN_ICE_DS "`";
    return 0;
}

static int left_bind(const CnSchema *schema, const LeftSpec *sp, const CnQuery *q, CnExprQuery **out, CnErr *err) {
    CnExprQuerySpec spec = {sp->names, sp->exprs, sp->n, q->wheres.items, (uint32_t)q->wheres.n, q->time_column};
    return cn_expr_query_bind(schema, &spec, out, err);
}

/* Split mode: the left columns of a _bootstrap table, as written (jsplit.h). */
static int left_spec_cached(CnArena *a, const CnIceTable *t, LeftSpec *sp, CnErr *err) {
    const CnSchema *ts = cn_ice_table_schema(t);
    const char *prop = cn_ice_table_property(t, CN_ENG_SPLIT_LEFT_PROP);
    uint32_t n = prop ? (uint32_t)strtoul(prop, NULL, 10) : UINT32_MAX;
    if (n >= ts->n_fields)
        return cn_err_set(err, CN_ECORRUPT, "table %s: property %s is %s, expected fewer than %u columns",
                          cn_ice_table_name(t), CN_ENG_SPLIT_LEFT_PROP, prop ? prop : "missing", ts->n_fields);
    sp->names = cn_arena_alloc(a, (n + 1) * sizeof *sp->names);
    sp->exprs = cn_arena_alloc(a, (n + 1) * sizeof *sp->exprs);
    if (!sp->names || !sp->exprs) return cn_err_set(err, CN_ENOMEM, "out of memory");
    for (sp->n = 0; sp->n < n; sp->n++) {
        sp->names[sp->n] = ts->fields[sp->n].name;
        sp->exprs[sp->n] = cn_arena_printf(a, "`%s`", ts->fields[sp->n].name);
    }
    sp->names[sp->n] = LDS;
    sp->exprs[sp->n++] = "`" CN_ICE_DS "`";
    return 0;
}

/* Left rows from which the reserved columns are faulted in on another thread. */
#define LEFT_PREFAULT_MIN 262144

/* Loads the left rows of partitions [lo, hi]: the left query's output, or (cached, split
 * mode) the left columns of the _bootstrap table `cached`, written from that output. */
static int left_load(CnIceCatalog *cat, const CnJoin *j, const char *cached, CnArena *a, int32_t lo, int32_t hi,
                     Left *l, CnErr *err) {
    static const CnQuery no_query;
    const CnSource *s = &j->left;
    const CnQuery *sq = cached ? &no_query : &s->query;
    CnIceTable *t = NULL;
    CnExprQuery *q1 = NULL;
    CnIceScan *scan = NULL;
    char ns[129], name[129];
    memset(l, 0, sizeof *l);
    l->arena = a;
    l->events = s->kind == CN_CONF_SRC_EVENTS;
    l->table = cached ? cached : cn_conf_source_table(a, s);
    int rc = cn_ice_name_parse(l->table, ns, name, err);
    if (rc == 0) rc = cn_ice_table_load(cat, ns, name, &t, err);
    if (rc) return cn_err_ctx(err, rc, "left table %s", l->table);
    const CnSchema *tschema = cn_ice_table_schema(t);
    LeftSpec sp = {0};
    rc = cached ? left_spec_cached(a, t, &sp, err) : left_spec(a, s, tschema, &sp, err);
    if (rc == 0) rc = left_bind(tschema, &sp, sq, &q1, err);
    if (rc) {
        rc = cn_err_ctx(err, rc, "left query on %s", l->table);
        goto done;
    }
    int32_t qlo = to_days(sq->start_partition, INT32_MIN), qhi = to_days(sq->end_partition, INT32_MAX);
    if (qlo > lo) lo = qlo;
    if (qhi < hi) hi = qhi;
    rc = cn_eng__query_scan_open(cat, t, q1, lo, hi, &scan, err);
    if (rc == 0) rc = left_bind(cn_ice_scan_schema(scan), &sp, sq, &l->q, err);
    if (rc == 0) rc = cn_col_batch_new(cn_expr_query_schema(l->q), &l->rows, err);
    if (rc) {
        rc = cn_err_ctx(err, rc, "left table %s", l->table);
        goto done;
    }
    /* room for every row read, so the columns are not copied as they grow */
    int64_t n_rec = cn_ice_scan_n_records(scan);
    for (uint32_t c = 0; n_rec > 0 && n_rec < UINT32_MAX && c < l->rows->n_cols; c++)
        (void)cn_col_vec_reserve(&l->rows->cols[c], (uint32_t)n_rec); /* only advice: appends grow it */
    bool first = true;
    CnPrefault *pf = NULL;
    CnPoolJob *pre = NULL;
    while (rc == 0 && lo <= hi) {
        const CnBatch *in = NULL;
        rc = cn_ice_scan_next(scan, &in, err);
        if (rc || !in) break;
        rc = cn_expr_query_run(l->q, in, l->rows, err);
        if (rc) rc = cn_err_ctx(err, rc, "left table %s", l->table);
        /* string bytes as the first batch has them per row, for every row to come */
        for (uint32_t c = 0; rc == 0 && first && l->rows->n_rows && n_rec > 0 && c < l->rows->n_cols; c++) {
            const CnVec *v = &l->rows->cols[c];
            if (!v->offsets || v->n_child || !v->n) continue;
            uint64_t per = v->offsets[v->n] / v->n + 1, more = (uint64_t)(n_rec - v->n) * per;
            if (n_rec > v->n && more < (UINT64_C(1) << 32)) (void)cn_col_vec_reserve_bytes(&l->rows->cols[c], more);
        }
        if (rc == 0 && first && n_rec >= LEFT_PREFAULT_MIN && cn_pool_threads() > 1 && (pf = cn_calloc(1, sizeof *pf))) {
            /* the rest of the reserved columns faulted in on another core while this one
             * decodes and copies (from the first batch on: see load.c's prefault_plan) */
            for (uint32_t c = 0; c < l->rows->n_cols; c++) {
                CnVec *v = &l->rows->cols[c];
                size_t w = cn_col_type_width(v->type->id);
                if (v->n_child) continue;
                if (w) cn_prefault_add(pf, v->b_values.ptr, (size_t)v->n * w, v->b_values.cap);
                if (v->offsets) cn_prefault_add(pf, v->b_offsets.ptr, ((size_t)v->n + 1) * 4, v->b_offsets.cap);
                if (v->offsets) cn_prefault_add(pf, v->b_bytes.ptr, v->offsets[v->n], v->b_bytes.cap);
            }
            if (cn_pool_start(1, cn_prefault_run, pf, &pre, err)) cn_err_clear(err), pre = NULL; /* only help */
        }
        first = false;
    }
    cn_pool_join(pre);
    cn_free(pf);
    if (rc) goto done;
    const CnSchema *os = cn_expr_query_schema(l->q);
    l->i_ds = cn_col_schema_find(os, LDS);
    l->i_ts = cn_col_schema_find(os, "ts");
    l->pday = cn_malloc(((size_t)l->rows->n_rows + 1) * sizeof *l->pday);
    l->order = cn_arena_alloc(a, (os->n_fields + 1) * sizeof *l->order);
    if (!l->pday || !l->order) {
        rc = cn_err_set(err, CN_ENOMEM, "out of memory");
        goto done;
    }
    DayJob dj = {.v = &l->rows->cols[l->i_ds], .day = l->pday, .n = l->rows->n_rows,
                 .nt = day_threads(l->rows->n_rows)};
    cn_pool_run(dj.nt, day_step, &dj);
    /* output order: selects (with ts where it was selected), then ts when not selected;
     * a _bootstrap table has them in that order */
    const CnQuery *q = sq;
    bool ts_placed = cached != NULL;
    for (uint32_t i = 0; cached && i + 1 < sp.n; i++) l->order[l->n_order++] = cn_col_schema_find(os, sp.names[i]);
    for (uint32_t i = 0; q->has_selects && i < q->selects.n; i++) {
        const char *nm = q->selects.keys[i];
        if (!strcmp(nm, CN_ICE_DS)) continue;
        int c = cn_col_schema_find(os, nm);
        if (c < 0) continue;
        if (!strcmp(nm, "ts")) ts_placed = true;
        l->order[l->n_order++] = c;
    }
    for (uint32_t i = 0; !cached && !q->has_selects && i < tschema->n_fields; i++) {
        /* all columns: table order, ts where the table has it */
        const char *nm = tschema->fields[i].name;
        int c = cn_col_schema_find(os, nm);
        if (!strcmp(nm, CN_ICE_DS) || c < 0) continue;
        if (c == l->i_ts) ts_placed = true;
        l->order[l->n_order++] = c;
    }
    if (!ts_placed && l->i_ts >= 0) l->order[l->n_order++] = l->i_ts;
done:
    cn_expr_query_free(q1);
    cn_ice_scan_close(scan);
    cn_ice_table_free(t);
    return rc;
}

/* Drops rows whose value in a skewKeys column is listed (compared as text). */
static int left_drop_skew(const CnJoin *j, Left *l, CnErr *err) {
    if (!j->n_skew_keys || !l->rows->n_rows) return 0;
    uint32_t n = l->rows->n_rows, k = 0;
    uint32_t *keep = cn_malloc((size_t)n * sizeof *keep);
    if (!keep) return cn_err_set(err, CN_ENOMEM, "out of memory");
    const CnSchema *os = l->rows->schema;
    for (uint32_t r = 0; r < n; r++) {
        bool skew = false;
        for (size_t s = 0; s < j->n_skew_keys && !skew; s++) {
            int c = cn_col_schema_find(os, j->skew_key_names[s]);
            if (c < 0 || !cn_col_vec_is_valid(&l->rows->cols[c], r)) continue;
            char buf[64];
            const char *p = buf;
            size_t len;
            CnScalar v;
            cn_col_vec_get(&l->rows->cols[c], r, &v);
            if (v.type == CN_COL_STRING) p = v.v.s.p, len = v.v.s.len;
            else if (v.type == CN_COL_INT32) len = (size_t)snprintf(buf, sizeof buf, "%d", v.v.i32);
            else if (v.type == CN_COL_INT64) len = (size_t)snprintf(buf, sizeof buf, "%lld", (long long)v.v.i64);
            else continue;
            const CnStrList *vals = &j->skew_key_values[s];
            for (size_t i = 0; i < vals->n && !skew; i++) {
                const char *x = vals->items[i];
                size_t xl = strlen(x);
                if (xl >= 2 && (x[0] == '\'' || x[0] == '"') && x[xl - 1] == x[0]) x++, xl -= 2;
                skew = xl == len && !memcmp(x, p, len);
            }
        }
        if (!skew) keep[k++] = r;
    }
    int rc = 0;
    if (k < n) {
        CnBatch *nb = NULL;
        rc = cn_col_batch_new(l->rows->schema, &nb, err);
        if (rc == 0) rc = cn_col_batch_append_rows(nb, l->rows, keep, k, err);
        if (rc == 0) {
            for (uint32_t i = 0; i < k; i++) l->pday[i] = l->pday[keep[i]];
            cn_col_batch_free(l->rows);
            l->rows = nb;
        } else {
            cn_col_batch_free(nb);
        }
    }
    cn_free(keep);
    return rc;
}

/* Sorted distinct partitions of the left table in [lo, hi]. */
static int left_days(CnIceCatalog *cat, const char *table, int32_t lo, int32_t hi, int32_t **days, uint32_t *n,
                     CnErr *err) {
    char ns[129], name[129];
    CnIceTable *t = NULL;
    CnIceScan *scan = NULL;
    *days = NULL;
    *n = 0;
    uint32_t cap = 0;
    int rc = cn_ice_name_parse(table, ns, name, err);
    if (rc == 0) rc = cn_ice_table_load(cat, ns, name, &t, err);
    const char *col = CN_ICE_DS;
    CnIceScanOpts so = {0};
    char a[11], b[11];
    if (lo != INT32_MIN) cn_ds_format(lo, a), so.ds_lo = a;
    if (hi != INT32_MAX) cn_ds_format(hi, b), so.ds_hi = b;
    so.columns = &col;
    so.n_columns = 1;
    if (rc == 0) rc = cn_ice_scan_open(cat, t, &so, &scan, err);
    int32_t last = INT32_MIN;
    DayMemo memo = {0};
    while (rc == 0) {
        const CnBatch *bt = NULL;
        rc = cn_ice_scan_next(scan, &bt, err);
        if (rc || !bt) break;
        for (uint32_t r = 0; r < bt->n_rows; r++) {
            int32_t d = vec_day(&bt->cols[0], r, &memo);
            if (d == INT32_MIN || d == last) continue;
            last = d;
            if (*n == cap) {
                cap = cap ? cap * 2 : 64;
                int32_t *nd = cn_realloc(*days, cap * sizeof *nd);
                if (!nd) {
                    rc = cn_err_set(err, CN_ENOMEM, "out of memory");
                    break;
                }
                *days = nd;
            }
            (*days)[(*n)++] = d;
        }
    }
    cn_ice_scan_close(scan);
    cn_ice_table_free(t);
    if (rc) {
        cn_free(*days);
        *days = NULL;
        *n = 0;
        return cn_err_ctx(err, rc, "left table %s", table);
    }
    if (*n > 1) qsort(*days, *n, sizeof **days, cmp_i32);
    uint32_t k = 0;
    for (uint32_t i = 0; i < *n; i++)
        if (!k || (*days)[k - 1] != (*days)[i]) (*days)[k++] = (*days)[i];
    *n = k;
    return 0;
}

/* ------------------------------------------------------------------ parts */

typedef enum PartMode { MODE_SNAP_P = 0, MODE_SNAP_PREV, MODE_TEMPORAL, MODE_TEMPORAL_ENT } PartMode;

typedef struct Part {
    const CnJoinPart *jp;
    const char *prefix;       /* fullPrefix */
    const char **lkeys;       /* left column per GroupBy key */
    int *lcol;                /* rows column per GroupBy key */
    uint32_t n_keys;
    PartMode mode;
    CnEngGroupBy *g;
    CnBatch *vals;            /* value schema, one row per left row */
    int32_t *day;             /* per left row: the day the value is of (ds of GroupBy derivations) */
    uint8_t *hit;             /* per left row: the part has a value (GroupBy derivations apply) */
    CnSchema *vschema;        /* owned schema of vals after GroupBy derivations */
} Part;

static void part_fini(Part *p) {
    cn_eng_gb_free(p->g);
    cn_col_batch_free(p->vals);
    cn_col_schema_free(p->vschema);
    cn_free(p->day);
    cn_free(p->hit);
    memset(p, 0, sizeof *p);
}

/* Longest window of a GroupBy in ms; *unbounded when some part (or no aggregation)
 * needs all history. */
static int64_t max_window(const CnGroupBy *gb, bool *unbounded) {
    int64_t max_w = 0;
    *unbounded = !gb->has_aggregations;
    for (size_t i = 0; gb->has_aggregations && i < gb->n_aggs; i++) {
        const CnAggregation *a = &gb->aggs[i];
        if (!a->has_windows || !a->n_windows) *unbounded = true;
        for (size_t k = 0; k < a->n_windows; k++) {
            int64_t w = 0;
            CnErr e2 = CN_ERR_INIT;
            if (cn_agg_window_ms(a->windows[k].length, (int32_t)a->windows[k].unit, "window", &w, &e2) == 0) {
                if (w == CN_AGG_UNWINDOWED) *unbounded = true;
                else if (w > max_w) max_w = w;
            }
        }
    }
    return max_w;
}

/* First partition the events of a GroupBy must be read from so that day d (a snapshot
 * of d, or a value at a time on day d) sees every event of its windows. */
static int32_t scan_lo_for(const CnGroupBy *gb, int32_t d) {
    bool unb;
    int64_t w = max_window(gb, &unb);
    if (unb) return INT32_MIN;
    return (int32_t)cn_ms_to_days((int64_t)d * CN_MS_PER_DAY - CN_MS_PER_DAY - w);
}

/* First partition the value for day x (a TEMPORAL query on day x, or the snapshot of
 * day x) reads: x - 1d - maxWindow, INT32_MIN when a part is unwindowed. Chronon
 * scans from the first day of the run's range by this rule, so its result for a row
 * stored days before its ts depends on how the range is split; applying it per day
 * makes backfill, upload and fetch agree whatever the range (docs/joins.md). */
int32_t cn_eng__value_scan_lo(const CnGroupBy *gb, int32_t x) { return scan_lo_for(gb, x); }

/* Whether a loaded row is stored so long before its ts day (3 days or more) that the
 * snapshot of some day in the span could see it through the span's earlier scan start
 * though its own (cn_eng__value_scan_lo) excludes it: a row in the window of the snapshot of D
 * has day(ts) >= cn_eng__value_scan_lo(D) + 2. */
static bool has_early_rows(const CnEngGroupBy *g, const CnGroupBy *gb) {
    bool unb;
    max_window(gb, &unb);
    for (uint32_t r = 0; !unb && r < g->n_rows; r++)
        if (g->ts_ok[r] && g->pday[r] + 2 < (int32_t)cn_ms_to_days(g->ts[r])) return true;
    return false;
}

static bool has_day(const int32_t *days, uint32_t n, int32_t d) {
    return n && bsearch(&d, days, n, sizeof *days, cmp_i32) != NULL;
}

/* Makes every day of [d0, d1] count as a source day of g. */
static int cover_days(CnEngGroupBy *g, int32_t d0, int32_t d1, CnErr *err) {
    uint32_t n = 0;
    int32_t *days = cn_malloc(((size_t)g->n_src_days + (size_t)(d1 - d0) + 2) * sizeof *days);
    if (!days) return cn_err_set(err, CN_ENOMEM, "out of memory");
    for (uint32_t i = 0; i < g->n_src_days && g->src_days[i] < d0; i++) days[n++] = g->src_days[i];
    for (int32_t d = d0; d <= d1; d++) days[n++] = d;
    for (uint32_t i = 0; i < g->n_src_days; i++)
        if (g->src_days[i] > d1) days[n++] = g->src_days[i];
    cn_free(g->src_days);
    g->src_days = days;
    g->n_src_days = n;
    return 0;
}

typedef struct SnapCtx {
    Part *p;
    const uint8_t *need;   /* per day offset from d0 */
    int32_t d0;
    CnBatch *rows;         /* keys + values of needed days */
    CnEngRowMap map;
    CnBuf kb;
    int *kcols;
    const char *table;
} SnapCtx;

static int snap_emit(void *ud, int32_t day, CnBatch *b, CnErr *err) {
    SnapCtx *c = ud;
    if (!c->need[day - c->d0]) return 0;
    uint32_t n = b->sel ? b->n_sel : b->n_rows;
    for (uint32_t i = 0; i < n; i++) {
        uint32_t r = b->sel ? b->sel[i] : i;
        if (!encode_day_key(b, c->kcols, c->p->n_keys, r, day, &c->kb)) continue; /* never matched */
        if (c->kb.oom) return cn_err_set(err, CN_ENOMEM, "out of memory");
        uint64_t h = cn_hash_bytes(c->kb.data, c->kb.len, 0x6a6f696e);
        if (cn_eng__rowmap_find(&c->map, c->kb.data, c->kb.len, h) != UINT32_MAX) {
            /* D10: a no-aggregation part must be unique per (key, ds) */
            char ds[11], kbuf[128];
            cn_ds_format(day, ds);
            size_t off = 0;
            kbuf[0] = 0;
            for (uint32_t k = 0; k < c->p->n_keys && off + 2 < sizeof kbuf; k++) {
                CnScalar v;
                cn_col_vec_get(&b->cols[k], r, &v);
                if (v.type == CN_COL_STRING)
                    off += (size_t)snprintf(kbuf + off, sizeof kbuf - off, "%s%.*s", k ? "," : "", (int)v.v.s.len, v.v.s.p);
                else if (v.type == CN_COL_INT64)
                    off += (size_t)snprintf(kbuf + off, sizeof kbuf - off, "%s%lld", k ? "," : "", (long long)v.v.i64);
                else if (v.type == CN_COL_INT32)
                    off += (size_t)snprintf(kbuf + off, sizeof kbuf - off, "%s%d", k ? "," : "", v.v.i32);
            }
            return cn_err_set(err, CN_ECONFIG,
                              "part %s: right table %s has more than one row for key (%s) in ds %s; a GroupBy "
                              "without aggregations must have one row per key and day",
                              c->p->prefix, c->table, kbuf, ds);
        }
        if (!cn_eng__rowmap_add(&c->map, c->kb.data, c->kb.len, h)) return cn_err_set(err, CN_ENOMEM, "out of memory");
        for (uint32_t col = 0; col < c->rows->n_cols; col++) cn_col_vec_append_from(&c->rows->cols[col], &b->cols[col], r);
    }
    return cn_col_batch_sync_rows(c->rows, err);
}

/* Snapshot parts: day per left row is P (entities left) or day(q)-1. */
static int eval_snapshot(CnIceCatalog *cat, Part *p, const Left *l, const CnEngOpts *o, CnErr *err) {
    const CnGroupBy *gb = p->jp->group_by;
    uint32_t n = l->rows->n_rows;
    int32_t *day = p->day = cn_malloc(((size_t)n + 1) * sizeof *day);
    p->hit = cn_calloc((size_t)n + 1, 1);
    SnapCtx c;
    memset(&c, 0, sizeof c);
    uint8_t *need = NULL;
    CnSchema *rs = NULL;
    CnBuf kb = CN_BUF_INIT;
    int rc = 0;
    if (!day || !p->hit) return cn_err_set(err, CN_ENOMEM, "out of memory");
    int32_t dmin = INT32_MAX, dmax = INT32_MIN;
    const CnVec *tsv = l->i_ts >= 0 ? &l->rows->cols[l->i_ts] : NULL;
    for (uint32_t r = 0; r < n; r++) {
        if (p->mode == MODE_SNAP_P) {
            day[r] = l->pday[r];
        } else if (tsv && cn_col_vec_is_valid(tsv, r)) {
            day[r] = (int32_t)cn_ms_to_days(((const int64_t *)tsv->values)[r]) - 1;
        } else {
            day[r] = INT32_MIN; /* no ts: null features */
        }
        if (day[r] == INT32_MIN) continue;
        if (day[r] < dmin) dmin = day[r];
        if (day[r] > dmax) dmax = day[r];
    }
    if (o->shard && (rc = cn_eng__shard_range(o->shard, &dmin, &dmax, err)) != 0) /* distributed hook: same days */
        return rc;
    bool entities = gb->n_sources && cn_conf_source_model(&gb->sources[0]) == CN_CONF_ENTITIES;
    if (dmin <= dmax) {
        int32_t lo = entities ? dmin : scan_lo_for(gb, dmin);
        rc = cn_eng__open(cat, gb, lo, dmax, o, NULL, NULL, &p->g, err);
        if (rc) goto done;
    } else {
        rc = cn_eng__open(cat, gb, 1, 0, o, NULL, NULL, &p->g, err);
        if (rc) goto done;
    }
    rc = cn_col_batch_new(cn_eng_gb_value_schema(p->g), &p->vals, err);
    if (rc) goto done;
    const CnSchema *ks = cn_eng_gb_key_schema(p->g), *vs = cn_eng_gb_value_schema(p->g);
    for (uint32_t k = 0; k < p->n_keys; k++) {
        const CnType *lt = l->rows->schema->fields[p->lcol[k]].type, *rt = ks->fields[k].type;
        if (!cn_col_type_equal(lt, rt)) {
            char a[64], b[64];
            rc = cn_err_set(err, CN_ECONFIG,
                            "part %s: left column %s is %s but GroupBy %s key %s is %s (key types must match exactly)",
                            p->prefix, p->lkeys[k], cn_col_type_name(lt, a, sizeof a), gb->meta.name,
                            ks->fields[k].name, cn_col_type_name(rt, b, sizeof b));
            goto done;
        }
    }
    if (dmin <= dmax) {
        rc = cn_col_schema_new(&rs);
        for (uint32_t k = 0; k < ks->n_fields && rc == 0; k++)
            rc = cn_col_schema_add(rs, ks->fields[k].name, ks->fields[k].type, true, CN_COL_NO_ID, err);
        for (uint32_t k = 0; k < vs->n_fields && rc == 0; k++)
            rc = cn_col_schema_add(rs, vs->fields[k].name, vs->fields[k].type, true, CN_COL_NO_ID, err);
        if (rc == 0) rc = cn_col_batch_new(rs, &c.rows, err);
        need = cn_calloc((size_t)(dmax - dmin) + 1, 1);
        c.kcols = cn_malloc((p->n_keys + 1) * sizeof *c.kcols);
        if (rc == 0 && (!need || !c.kcols)) rc = cn_err_set(err, CN_ENOMEM, "out of memory");
        if (rc) goto done;
        for (uint32_t k = 0; k < p->n_keys; k++) c.kcols[k] = (int)k;
        for (uint32_t r = 0; r < n; r++)
            if (day[r] != INT32_MIN) need[day[r] - dmin] = 1;
        if (o->shard) rc = cn_eng__shard_or(o->shard, need, (size_t)(dmax - dmin) + 1, err); /* distributed hook */
        if (rc) goto done;
        if (!entities) {
            /* a SNAPSHOT part is evaluated on every needed day, also on days without a
             * source partition (the GroupBy backfill skips those, D22) */
            rc = cover_days(p->g, dmin, dmax, err);
            if (rc) goto done;
        }
        c.p = p;
        c.need = need;
        c.d0 = dmin;
        CnArena ta;
        cn_arena_init(&ta, 0);
        c.table = gb->n_sources ? cn_conf_source_table(&ta, &gb->sources[0]) : "?";
        /* with rows stored days before their ts, each needed day is computed from its
         * own scan start (cn_eng__value_scan_lo), so the result does not depend on the range */
        uint8_t per_day = !entities && dmin < dmax && has_early_rows(p->g, gb);
        if (o->shard) rc = cn_eng__shard_or(o->shard, &per_day, 1, err); /* distributed hook: one path */
        if (rc == 0 && !per_day) rc = cn_eng__compute(p->g, dmin, dmax, NULL, snap_emit, &c, err);
        for (int32_t d = dmin; per_day && d <= dmax && rc == 0; d++) {
            if (!need[d - dmin]) continue;
            CnEngGroupBy *gd = NULL;
            rc = cn_eng__open(cat, gb, cn_eng__value_scan_lo(gb, d), d, o, NULL, NULL, &gd, err);
            if (rc == 0) rc = cover_days(gd, d, d, err);
            if (rc == 0) rc = cn_eng__compute(gd, d, d, NULL, snap_emit, &c, err);
            cn_eng_gb_free(gd);
        }
        if (rc == 0) {
            uint32_t nk = p->n_keys;
            for (uint32_t r = 0; r < n && rc == 0; r++) {
                uint32_t hit = UINT32_MAX;
                if (day[r] != INT32_MIN && encode_day_key(l->rows, p->lcol, nk, r, day[r], &kb)) {
                    if (kb.oom) rc = cn_err_set(err, CN_ENOMEM, "out of memory");
                    hit = cn_eng__rowmap_find(&c.map, kb.data, kb.len, cn_hash_bytes(kb.data, kb.len, 0x6a6f696e));
                }
                p->hit[r] = hit != UINT32_MAX;
                for (uint32_t v = 0; v < p->vals->n_cols; v++) {
                    if (hit == UINT32_MAX) cn_col_vec_append_null(&p->vals->cols[v]);
                    else cn_col_vec_append_from(&p->vals->cols[v], &c.rows->cols[nk + v], hit);
                }
            }
        }
        cn_arena_fini(&ta);
    } else {
        for (uint32_t r = 0; r < n; r++)
            for (uint32_t v = 0; v < p->vals->n_cols; v++) cn_col_vec_append_null(&p->vals->cols[v]);
    }
    if (rc == 0) rc = cn_col_batch_sync_rows(p->vals, err);
done:
    cn_free(need);
    cn_free(c.kcols);
    cn_col_batch_free(c.rows);
    cn_col_schema_free(rs);
    cn_eng__rowmap_fini(&c.map);
    cn_buf_fini(&c.kb);
    cn_buf_fini(&kb);
    return rc;
}

/* Key id in g of left row r under the part's key columns; UINT32_MAX when a key is
 * null or the GroupBy has no such key. */
static uint32_t left_key_id(const Part *p, const Left *l, uint32_t r, CnBuf *kb) {
    const CnEngKeys *ks = &p->g->keys;
    for (uint32_t k = 0; k < p->n_keys; k++)
        if (!cn_col_vec_is_valid(&l->rows->cols[p->lcol[k]], r)) return UINT32_MAX;
    if (!ks->cap || !cn_eng__key_encode(l->rows, p->lcol, p->n_keys, r, kb)) return UINT32_MAX;
    return cn_eng__keys_find(ks, kb->data, kb->len);
}

/* Rows stored before their ts day that a query's own lower bound excludes while the
 * chunk's load (from the earliest query's bound) kept them: such queries are
 * recomputed by a scan of their key's rows into fresh ids of res (ids[r] redirected). */
static int early_fix(Part *p, const Left *l, const CnVec *tsv, const CnVec *gts, CnAggState **res, uint32_t *ids,
                     const uint32_t *qid, CnErr *err) {
    CnEngGroupBy *g = p->g;
    const CnGroupBy *gb = p->jp->group_by;
    bool unb;
    max_window(gb, &unb);
    if (unb) return 0;
    uint32_t n = l->rows->n_rows, nk = g->keys.n;
    int32_t *early_lo = NULL; /* per key: smallest partition of a row stored before its ts day */
    uint32_t *start = NULL, *byk = NULL, *kid = NULL, *sel = NULL;
    int rc = 0;
    for (uint32_t r = 0; r < g->n_rows; r++) {
        if (!g->ts_ok[r] || g->pday[r] >= (int32_t)cn_ms_to_days(g->ts[r])) continue;
        if (!early_lo) {
            early_lo = cn_malloc(((size_t)nk + 1) * sizeof *early_lo);
            if (!early_lo) return cn_err_set(err, CN_ENOMEM, "out of memory");
            for (uint32_t k = 0; k < nk; k++) early_lo[k] = INT32_MAX;
        }
        if (g->pday[r] < early_lo[g->key_id[r]]) early_lo[g->key_id[r]] = g->pday[r];
    }
    if (!early_lo) return 0;
    const int64_t *qts = (const int64_t *)tsv->values;
    uint32_t n_fix = 0, base = 0;
    for (uint32_t r = 0; r < n; r++)
        if (qid[r] != UINT32_MAX && early_lo[qid[r]] < cn_eng__value_scan_lo(gb, (int32_t)cn_ms_to_days(qts[r]))) n_fix++;
    for (uint32_t q = 0; q < g->n_parts; q++)
        if (cn_agg_state_n_ids(res[q]) > base) base = cn_agg_state_n_ids(res[q]);
    if (!n_fix) goto done;
    start = cn_calloc((size_t)nk + 2, sizeof *start);
    byk = cn_malloc(((size_t)g->n_rows + 1) * sizeof *byk);
    kid = cn_calloc((size_t)g->n_rows + 1, sizeof *kid);
    sel = cn_malloc(((size_t)g->n_rows + 1) * sizeof *sel);
    if (!start || !byk || !kid || !sel) {
        rc = cn_err_set(err, CN_ENOMEM, "out of memory");
        goto done;
    }
    for (uint32_t r = 0; r < g->n_rows; r++) start[g->key_id[r] + 2]++;
    for (uint32_t k = 0; k < nk; k++) start[k + 2] += start[k + 1];
    for (uint32_t r = 0; r < g->n_rows; r++) byk[start[g->key_id[r] + 1]++] = r;
    for (uint32_t q = 0; q < g->n_parts && rc == 0; q++) rc = cn_agg_state_reserve(res[q], base + n_fix, err);
    uint32_t id = base;
    for (uint32_t r = 0; r < n && rc == 0; r++) {
        uint32_t k = qid[r];
        int64_t t = qts[r];
        if (k == UINT32_MAX) continue;
        int32_t lo = cn_eng__value_scan_lo(gb, (int32_t)cn_ms_to_days(t));
        if (early_lo[k] >= lo) continue;
        for (uint32_t q = 0; q < g->n_parts && rc == 0; q++) {
            const CnEngPart *pt = &g->parts[q];
            const CnEngBase *b = &g->bases[pt->i_base];
            int64_t w0 = pt->w_ms ? cn_agg_temporal_start(t, pt->w_ms) : INT64_MIN;
            uint32_t m = 0;
            for (uint32_t i = start[k]; i < start[k + 1]; i++) {
                uint32_t row = byk[i];
                if (g->pday[row] < lo || g->pday[row] > l->pday[r] || !g->ts_ok[row]) continue;
                if (g->ts[row] < t && g->ts[row] >= w0) sel[m++] = row, kid[row] = id;
            }
            rc = cn_agg_state_update(res[q], kid, sel, m, &g->rows->cols[b->i_input], gts,
                                     b->i_bucket >= 0 ? &g->rows->cols[b->i_bucket] : NULL, err);
        }
        ids[r] = id++;
    }
done:
    cn_free(early_lo);
    cn_free(start);
    cn_free(byk);
    cn_free(kid);
    cn_free(sel);
    return rc;
}

/* TEMPORAL events part: every left row's value by the sorted sweep of sweep.c, then
 * early_fix for rows stored before their ts day. */
static int temporal_sweep(Part *p, const Left *l, const CnVec *tsv, const CnVec *gts, CnErr *err) {
    CnEngGroupBy *g = p->g;
    uint32_t n = l->rows->n_rows;
    uint32_t *qid = cn_malloc(((size_t)n + 1) * sizeof *qid), *ids = cn_malloc(((size_t)n + 1) * sizeof *ids);
    CnAggState **res = cn_calloc(g->n_parts + 1, sizeof *res);
    CnBuf kb = CN_BUF_INIT;
    int rc = 0;
    if (!qid || !ids || !res) {
        rc = cn_err_set(err, CN_ENOMEM, "out of memory");
        goto done;
    }
    for (uint32_t r = 0; r < n; r++) {
        qid[r] = left_key_id(p, l, r, &kb);
        p->hit[r] = 1;
        for (uint32_t k = 0; k < p->n_keys; k++)
            if (!cn_col_vec_is_valid(&l->rows->cols[p->lcol[k]], r)) p->hit[r] = 0;
    }
    if (kb.oom) rc = cn_err_set(err, CN_ENOMEM, "out of memory");
    for (uint32_t q = 0; q < g->n_parts && rc == 0; q++) rc = cn_agg_state_new(g->bases[g->parts[q].i_base].spec, &res[q], err);
    if (rc == 0) rc = cn_eng__sweep_temporal(g, n, qid, (const int64_t *)tsv->values, l->pday, res, ids, err);
    if (rc == 0) rc = early_fix(p, l, tsv, gts, res, ids, qid, err);
    for (uint32_t q = 0; q < g->n_parts && rc == 0; q++) rc = cn_agg_state_finalize(res[q], ids, n, &p->vals->cols[q], err);
    if (rc == 0) rc = cn_col_batch_sync_rows(p->vals, err);
done:
    for (uint32_t q = 0; res && q < g->n_parts; q++) cn_agg_state_free(res[q]);
    cn_free(res);
    cn_free(qid);
    cn_free(ids);
    cn_buf_fini(&kb);
    return rc;
}

/* TEMPORAL parts. Events: value at q over the rows of partitions <= P. Entities: the
 * batch IR of snapshot X-1 with B = epoch(X) (rows of partition X-1 with ts < B and,
 * per windowed part, ts >= B-W (D1) and ts >= floor(q-W, H); rows without ts count
 * only for unwindowed parts), then day X's mutations before q (mutate.h). */
static int eval_temporal(CnIceCatalog *cat, Part *p, const Left *l, const CnEngOpts *o, CnErr *err) {
    const CnGroupBy *gb = p->jp->group_by;
    uint32_t n = l->rows->n_rows;
    const CnVec *tsv = l->i_ts >= 0 ? &l->rows->cols[l->i_ts] : NULL;
    if (!tsv || tsv->type->id != CN_COL_INT64)
        return cn_err_set(err, CN_ECONFIG, "part %s is TEMPORAL: the left needs a long ts column (set timeColumn)",
                          p->prefix);
    bool ent = p->mode == MODE_TEMPORAL_ENT;
    p->day = cn_malloc(((size_t)n + 1) * sizeof *p->day);
    p->hit = cn_calloc((size_t)n + 1, 1);
    if (!p->day || !p->hit) return cn_err_set(err, CN_ENOMEM, "out of memory");
    TsDayJob *tj = cn_malloc(sizeof *tj);
    if (!tj) return cn_err_set(err, CN_ENOMEM, "out of memory");
    *tj = (TsDayJob){.ts = tsv, .pday = l->pday, .day = p->day, .n = n, .nt = day_threads(n)};
    if (tj->nt > TSDAY_MAX_THREADS) tj->nt = TSDAY_MAX_THREADS;
    cn_pool_run(tj->nt, tsday_step, tj);
    int32_t qmin = INT32_MAX, qmax = INT32_MIN, pmax = INT32_MIN;
    uint32_t null_row = n;
    for (uint32_t t = 0; t < tj->nt; t++) {
        qmin = tj->qmin[t] < qmin ? tj->qmin[t] : qmin;
        qmax = tj->qmax[t] > qmax ? tj->qmax[t] : qmax;
        pmax = tj->pmax[t] > pmax ? tj->pmax[t] : pmax;
        null_row = tj->null_row[t] < null_row ? tj->null_row[t] : null_row;
    }
    cn_free(tj);
    if (null_row < n) {
        char ds[11];
        cn_ds_format(l->pday[null_row], ds);
        return cn_err_set(err, CN_EINVAL,
                          "part %s is TEMPORAL but left table %s has a row with a null ts in ds %s (every left "
                          "row needs a ts)",
                          p->prefix, l->table, ds);
    }
    int rc = 0, plo = pmax;
    if (o->shard) { /* distributed hook: every rank loads the same days (djoin.h) */
        rc = cn_eng__shard_range(o->shard, &qmin, &qmax, err);
        if (rc == 0) rc = cn_eng__shard_range(o->shard, &plo, &pmax, err);
        if (rc) return rc;
    }
    if (qmin <= qmax && !ent) { /* flat arrays when the part allows (jscan.c), else the generic load and sweep */
        bool taken = false;
        rc = cn_eng__jscan_temporal(cat, gb, scan_lo_for(gb, qmin), pmax, o, l->rows, p->lcol, p->n_keys,
                                    (const int64_t *)tsv->values, l->pday, &p->g, &p->vals, p->hit, &taken, err);
        if (rc || taken) return rc;
    }
    if (qmin <= qmax && ent) rc = cn_eng__open(cat, gb, qmin - 1, qmax - 1, o, NULL, NULL, &p->g, err);
    else if (qmin <= qmax) rc = cn_eng__open(cat, gb, scan_lo_for(gb, qmin), pmax, o, NULL, NULL, &p->g, err);
    else rc = cn_eng__open(cat, gb, 1, 0, o, NULL, NULL, &p->g, err);
    if (rc) return rc;
    CnEngGroupBy *g = p->g;
    rc = cn_col_batch_new(g->value_schema, &p->vals, err);
    if (rc) return rc;
    for (uint32_t k = 0; k < p->n_keys; k++) {
        const CnType *lt = l->rows->schema->fields[p->lcol[k]].type, *rt = g->key_schema->fields[k].type;
        if (!cn_col_type_equal(lt, rt)) {
            char a[64], b[64];
            return cn_err_set(err, CN_ECONFIG,
                              "part %s: left column %s is %s but GroupBy %s key %s is %s (key types must match exactly)",
                              p->prefix, p->lkeys[k], cn_col_type_name(lt, a, sizeof a), gb->meta.name,
                              g->key_schema->fields[k].name, cn_col_type_name(rt, b, sizeof b));
        }
    }
    /* GroupBy rows by key id (CSR), each key's rows in load order */
    uint32_t n_ids = g->keys.n;
    uint32_t *start = cn_calloc((size_t)n_ids + 2, sizeof *start);
    uint32_t *byk = cn_malloc(((size_t)g->n_rows + 1) * sizeof *byk);
    uint32_t *fill = cn_calloc((size_t)n_ids + 1, sizeof *fill);
    uint32_t *sel = cn_malloc(((size_t)g->n_rows + 1) * sizeof *sel);
    uint32_t *zero = cn_calloc((size_t)g->n_rows + 1, sizeof *zero);
    uint64_t *valid = cn_calloc(((size_t)g->n_rows + 63) / 64 + 1, sizeof *valid);
    CnAggState **st = cn_calloc(g->n_parts + 1, sizeof *st);
    CnEngMut *mut = NULL;
    CnBuf kb = CN_BUF_INIT;
    if (!start || !byk || !fill || !sel || !zero || !valid || !st) {
        rc = cn_err_set(err, CN_ENOMEM, "out of memory");
        goto done;
    }
    for (uint32_t r = 0; r < g->n_rows; r++) start[g->key_id[r] + 1]++;
    for (uint32_t i = 0; i < n_ids; i++) start[i + 1] += start[i];
    for (uint32_t r = 0; r < g->n_rows; r++) byk[start[g->key_id[r]] + fill[g->key_id[r]]++] = r;
    CnVec gts;
    memset(&gts, 0, sizeof gts);
    gts.type = cn_col_type_prim(CN_COL_INT64);
    gts.n = g->n_rows;
    gts.values = g->ts;
    for (uint32_t r = 0; r < g->n_rows; r++)
        if (g->ts_ok[r]) valid[r >> 6] |= UINT64_C(1) << (r & 63);
        else gts.n_null++;
    gts.valid = valid;
    for (uint32_t q = 0; q < g->n_parts && rc == 0; q++) {
        rc = cn_agg_state_new(g->bases[g->parts[q].i_base].spec, &st[q], err);
        if (rc == 0) rc = cn_agg_state_reserve(st[q], 1, err);
    }
    uint32_t zero_id = 0;
    if (!ent) {
        rc = temporal_sweep(p, l, tsv, &gts, err);
        goto done;
    }
    /* day X's mutations of the days queried (section 5 "Mutations") */
    if (qmin <= qmax && cn_eng__mut_has(gb)) rc = cn_eng__mut_open(cat, gb, g, qmin, qmax, o, &mut, err);
    for (uint32_t r = 0; r < n && rc == 0; r++) {
        uint32_t id = UINT32_MAX, mid = UINT32_MAX;
        int64_t t = ((const int64_t *)tsv->values)[r];
        bool all = true;
        for (uint32_t k = 0; k < p->n_keys; k++) all = all && cn_col_vec_is_valid(&l->rows->cols[p->lcol[k]], r);
        p->hit[r] = all;
        if (all && cn_eng__key_encode(l->rows, p->lcol, p->n_keys, r, &kb)) {
            id = cn_eng__keys_find(&g->keys, kb.data, kb.len);
            if (mut) mid = cn_eng__keys_find(cn_eng__mut_keys(mut), kb.data, kb.len);
        }
        for (uint32_t q = 0; q < g->n_parts && rc == 0; q++) {
            const CnEngPart *pt = &g->parts[q];
            const CnEngBase *b = &g->bases[pt->i_base];
            cn_agg_state_clear(st[q], 0);
            uint32_t m = 0;
            if (id != UINT32_MAX) {
                int32_t x = (int32_t)cn_ms_to_days(t);
                int64_t b0 = (int64_t)x * CN_MS_PER_DAY, lo = INT64_MIN;
                if (pt->w_ms) {
                    lo = cn_agg_temporal_start(t, pt->w_ms);
                    if (b0 - pt->w_ms > lo) lo = b0 - pt->w_ms;
                }
                for (uint32_t i = start[id]; i < start[id + 1]; i++) {
                    uint32_t row = byk[i];
                    if (g->pday[row] != x - 1) continue;
                    if (g->ts_ok[row] ? (g->ts[row] < b0 && g->ts[row] >= lo) : !pt->w_ms) sel[m++] = row;
                }
            }
            rc = cn_agg_state_update(st[q], zero, sel, m, &g->rows->cols[b->i_input], &gts,
                                     b->i_bucket >= 0 ? &g->rows->cols[b->i_bucket] : NULL, err);
            if (rc == 0 && mut) rc = cn_eng__mut_apply(mut, mid, (int32_t)cn_ms_to_days(t), t, q, st[q], err);
            if (rc == 0) rc = cn_agg_state_finalize(st[q], &zero_id, 1, &p->vals->cols[q], err);
        }
    }
    if (rc == 0) rc = cn_col_batch_sync_rows(p->vals, err);
done:
    for (uint32_t q = 0; st && q < g->n_parts; q++) cn_agg_state_free(st[q]);
    cn_free(st);
    cn_eng__mut_free(mut);
    cn_free(start);
    cn_free(byk);
    cn_free(fill);
    cn_free(sel);
    cn_free(zero);
    cn_free(valid);
    cn_buf_fini(&kb);
    return rc;
}

/* ------------------------------------------------------------------ assembly */

/* One output column: copy of base column `src` or derived vector `der`; coalesce
 * (base column `co` first, then the derived value) when co >= 0. */
typedef struct OutCol {
    const char *name;
    int src, der, co;
} OutCol;

static int out_set(OutCol *cols, uint32_t *n, const char *name, int src, int der, int co) {
    for (uint32_t i = 0; i < *n; i++)
        if (!strcmp(cols[i].name, name)) {
            cols[i] = (OutCol){name, src, der, co};
            return 0;
        }
    cols[(*n)++] = (OutCol){name, src, der, co};
    return 0;
}

static bool verbatim_used(const CnDerivation *ders, size_t nd, const char *col) {
    for (size_t i = 0; i < nd; i++) {
        const CnDerivation *d = &ders[i];
        if (!strcmp(d->name, "*") || !d->expression) continue;
        const char *e = d->expression;
        size_t len = strlen(e);
        while (len && (*e == ' ' || *e == '\t' || *e == '\n')) e++, len--;
        while (len && (e[len - 1] == ' ' || e[len - 1] == '\t' || e[len - 1] == '\n')) len--;
        if (strlen(col) == len && !memcmp(e, col, len)) return true;
    }
    return false;
}

/* Derivations over base (keep columns [0, n_keep), base features up to n_star_end,
 * other columns, ds last): the keep columns, then each derivation in order (`*` stands
 * for the base features no other derivation uses verbatim), then ds; a derived name equal to a keep or base column is
 * coalesce(existing, expression) and stays where that column stands. */
static int apply_derivations(const CnDerivation *ders, size_t nd, uint32_t n_keep, uint32_t n_star_end,
                             const CnBatch *base, CnArena *a, CnSchema **out_schema, CnBatch **out, CnErr *err) {
    const CnSchema *bs = base->schema;
    uint32_t n = base->n_rows;
    CnSchema *ds_schema = NULL, *fs = NULL;
    CnBatch *der = NULL, *fin = NULL;
    CnExpr **ex = NULL;
    int rc = 0;
    ex = cn_calloc(nd + 1, sizeof *ex);
    OutCol *oc = cn_arena_alloc(a, (bs->n_fields + nd + 2) * sizeof *oc);
    if (!ex || !oc) {
        rc = cn_err_set(err, CN_ENOMEM, "out of memory");
        goto done;
    }
    rc = cn_col_schema_new(&ds_schema);
    for (size_t i = 0; i < nd && rc == 0; i++) {
        const CnDerivation *d = &ders[i];
        if (!strcmp(d->name, "*")) continue;
        rc = cn_expr_bind(d->expression ? d->expression : "", bs, &ex[i], err);
        if (rc) {
            rc = cn_err_ctx(err, rc, "derivations[%zu] (%s)", i, d->name);
            break;
        }
        rc = cn_col_schema_add(ds_schema, cn_arena_printf(a, "__d%zu", i), cn_expr_type(ex[i]), true, CN_COL_NO_ID,
                               err);
    }
    if (rc == 0) rc = cn_col_batch_new(ds_schema, &der, err);
    if (rc) goto done;
    uint32_t n_oc = 0;
    for (uint32_t i = 0; i < n_keep; i++) out_set(oc, &n_oc, bs->fields[i].name, (int)i, -1, -1);
    for (size_t i = 0; i < nd && rc == 0; i++) {
        const CnDerivation *d = &ders[i];
        if (!strcmp(d->name, "*")) {
            for (uint32_t c = n_keep; c < n_star_end; c++)
                if (!verbatim_used(ders, nd, bs->fields[c].name)) out_set(oc, &n_oc, bs->fields[c].name, (int)c, -1, -1);
            continue;
        }
        int dc = cn_col_schema_find(ds_schema, cn_arena_printf(a, "__d%zu", i));
        rc = cn_expr_eval(ex[i], base, NULL, 0, &der->cols[dc], err);
        if (rc || !strcmp(d->name, CN_ICE_DS)) continue;
        int existing = cn_col_schema_find(bs, d->name);
        if (existing == (int)bs->n_fields - 1) existing = -1;
        if (existing >= 0 && !cn_col_type_equal(bs->fields[existing].type, cn_expr_type(ex[i]))) {
            char t1[64], t2[64];
            rc = cn_err_set(err, CN_ETYPE,
                            "derivations[%zu] (%s): the expression is %s but the column it replaces is %s", i, d->name,
                            cn_col_type_name(cn_expr_type(ex[i]), t1, sizeof t1),
                            cn_col_type_name(bs->fields[existing].type, t2, sizeof t2));
            break;
        }
        out_set(oc, &n_oc, d->name, -1, dc, existing);
    }
    if (rc == 0) rc = cn_col_batch_sync_rows(der, err);
    out_set(oc, &n_oc, CN_ICE_DS, (int)bs->n_fields - 1, -1, -1);
    if (rc == 0) rc = cn_col_schema_new(&fs);
    for (uint32_t i = 0; i < n_oc && rc == 0; i++) {
        const CnType *t = oc[i].src >= 0 ? bs->fields[oc[i].src].type : ds_schema->fields[oc[i].der].type;
        const CnType *tc = cn_col_type_copy(&fs->arena, t);
        rc = tc ? cn_col_schema_add(fs, oc[i].name, tc, true, CN_COL_NO_ID, err) : cn_err_set(err, CN_ENOMEM, "out of memory");
    }
    if (rc == 0) rc = cn_col_batch_new(fs, &fin, err);
    if (rc) goto done;
    for (uint32_t i = 0; i < n_oc; i++) {
        if (oc[i].src >= 0) {
            cn_col_vec_append_range(&fin->cols[i], &base->cols[oc[i].src], 0, n);
        } else if (oc[i].co < 0) {
            cn_col_vec_append_range(&fin->cols[i], &der->cols[oc[i].der], 0, n);
        } else {
            const CnVec *bv = &base->cols[oc[i].co], *dv = &der->cols[oc[i].der];
            for (uint32_t r = 0; r < n; r++) cn_col_vec_append_from(&fin->cols[i], cn_col_vec_is_valid(bv, r) ? bv : dv, r);
        }
    }
    rc = cn_col_batch_sync_rows(fin, err);
    if (rc) goto done;
    *out_schema = fs;
    *out = fin;
    fs = NULL;
    fin = NULL;
done:
    for (size_t i = 0; ex && i < nd; i++) cn_expr_free(ex[i]);
    cn_free(ex);
    cn_col_batch_free(der);
    cn_col_batch_free(fin);
    cn_col_schema_free(ds_schema);
    cn_col_schema_free(fs);
    return rc;
}

/* GroupBy derivations of a part: over (keys, values, ds = the day of the value) for
 * rows that have a value; other rows keep null features. */
static int derive_part(Part *p, const Left *l, CnArena *a, CnErr *err) {
    const CnGroupBy *gb = p->jp->group_by;
    if (!gb->n_derivations) return 0;
    uint32_t n = l->rows->n_rows, nk = p->n_keys;
    const CnSchema *ks = cn_eng_gb_key_schema(p->g), *vs = p->vals->schema;
    CnSchema *ps = NULL, *os = NULL, *nvs = NULL;
    CnBatch *pb = NULL, *ob = NULL, *nv = NULL;
    int rc = cn_col_schema_new(&ps);
    for (uint32_t k = 0; k < nk && rc == 0; k++)
        rc = cn_col_schema_add(ps, ks->fields[k].name, l->rows->schema->fields[p->lcol[k]].type, true, CN_COL_NO_ID, err);
    for (uint32_t v = 0; v < vs->n_fields && rc == 0; v++)
        rc = cn_col_schema_add(ps, vs->fields[v].name, vs->fields[v].type, true, CN_COL_NO_ID, err);
    if (rc == 0) rc = cn_col_schema_add(ps, CN_ICE_DS, cn_col_type_prim(CN_COL_STRING), true, CN_COL_NO_ID, err);
    if (rc == 0) rc = cn_col_batch_new(ps, &pb, err);
    if (rc) goto done;
    for (uint32_t k = 0; k < nk; k++)
        cn_col_vec_append_range(&pb->cols[k], &l->rows->cols[p->lcol[k]], 0, n);
    for (uint32_t v = 0; v < vs->n_fields; v++) cn_col_vec_append_range(&pb->cols[nk + v], &p->vals->cols[v], 0, n);
    for (uint32_t r = 0; r < n; r++) {
        char ds[11];
        if (p->day[r] == INT32_MIN) {
            cn_col_vec_append_null(&pb->cols[ps->n_fields - 1]);
            continue;
        }
        cn_ds_format(p->day[r], ds);
        cn_col_vec_append_str(&pb->cols[ps->n_fields - 1], ds, 10);
    }
    rc = cn_col_batch_sync_rows(pb, err);
    if (rc == 0) rc = apply_derivations(gb->derivations, gb->n_derivations, nk, ps->n_fields - 1, pb, a, &os, &ob, err);
    if (rc) {
        rc = cn_err_ctx(err, rc, "GroupBy %s", gb->meta.name);
        goto done;
    }
    rc = cn_col_schema_new(&nvs);
    for (uint32_t c = nk; c + 1 < os->n_fields && rc == 0; c++) {
        const CnType *t = cn_col_type_copy(&nvs->arena, os->fields[c].type);
        rc = t ? cn_col_schema_add(nvs, os->fields[c].name, t, true, CN_COL_NO_ID, err)
               : cn_err_set(err, CN_ENOMEM, "out of memory");
    }
    if (rc == 0) rc = cn_col_batch_new(nvs, &nv, err);
    if (rc) goto done;
    for (uint32_t c = 0; c < nvs->n_fields; c++)
        for (uint32_t r = 0; r < n; r++) {
            if (p->hit[r]) cn_col_vec_append_from(&nv->cols[c], &ob->cols[nk + c], r);
            else cn_col_vec_append_null(&nv->cols[c]);
        }
    rc = cn_col_batch_sync_rows(nv, err);
    if (rc) goto done;
    cn_col_batch_free(p->vals);
    cn_col_schema_free(p->vschema);
    p->vals = nv;
    p->vschema = nvs;
    nv = NULL;
    nvs = NULL;
done:
    cn_col_batch_free(pb);
    cn_col_batch_free(ob);
    cn_col_batch_free(nv);
    cn_col_schema_free(ps);
    cn_col_schema_free(os);
    cn_col_schema_free(nvs);
    return rc;
}

/* Builds the joined batch (left columns, features, the extra columns xc[0..nx) of xb,
 * ds) and applies derivations; `*` stands for features only (extra columns are
 * bootstrapped derivation outputs, which coalesce into their derivations). */
/* Puts src's n rows into the empty dst. Copying the left columns and features into the
 * joined batch cost a pass over them and as many fresh pages; src is not read again
 * (the joined batch replaces it), so a flat vector trades its storage with dst instead
 * (dst gets src's buffers, src dst's empty ones; each keeps its own type). Nested
 * vectors (children in their batch's arena) and short ones are copied. */
static void vec_take(CnVec *dst, CnVec *src, uint32_t n) {
    if (src->n_child || dst->n_child || dst->n || src->n != n || src->oom) {
        cn_col_vec_append_range(dst, src, 0, n);
        return;
    }
    CnVec was = *dst;
    const CnType *src_type = src->type;
    *dst = *src;
    dst->type = was.type;
    *src = was;
    src->type = src_type;
}

static int assemble(const CnJoin *j, const Left *l, Part *parts, size_t n_parts, const CnBatch *eb,
                    const CnBatch *xb, const int *xc, uint32_t nx, CnArena *a, CnSchema **out_schema, CnBatch **out,
                    CnErr *err) {
    CnSchema *bs = NULL;
    CnBatch *base = NULL;
    const CnSchema *ls = l->rows->schema;
    uint32_t n = l->rows->n_rows;
    int rc = cn_col_schema_new(&bs);
    /* base columns: left (order), then part features; a feature named like a left
     * column coalesces into it */
    size_t n_feat = 0;
    for (size_t p = 0; p < n_parts; p++) n_feat += parts[p].vals->n_cols;
    int *feat_left = cn_arena_alloc(a, (n_feat + 1) * sizeof *feat_left); /* left col or -1 */
    const char **feat_name = cn_arena_alloc(a, (n_feat + 1) * sizeof *feat_name);
    if (!feat_left || !feat_name) rc = cn_err_set(err, CN_ENOMEM, "out of memory");
    for (uint32_t i = 0; i < l->n_order && rc == 0; i++)
        rc = cn_col_schema_add(bs, ls->fields[l->order[i]].name, ls->fields[l->order[i]].type, true, CN_COL_NO_ID, err);
    size_t f = 0;
    for (size_t p = 0; p < n_parts && rc == 0; p++) {
        const CnSchema *vs = parts[p].vals->schema;
        for (uint32_t v = 0; v < vs->n_fields && rc == 0; v++, f++) {
            const char *nm = cn_arena_printf(a, "%s_%s", parts[p].prefix, vs->fields[v].name);
            feat_name[f] = nm;
            feat_left[f] = -1;
            for (uint32_t i = 0; i < l->n_order; i++)
                if (!strcmp(ls->fields[l->order[i]].name, nm)) feat_left[f] = (int)i;
            if (feat_left[f] >= 0) {
                if (!cn_col_type_equal(bs->fields[feat_left[f]].type, vs->fields[v].type))
                    rc = cn_err_set(err, CN_ECONFIG, "column %s is on the left and in part %s with different types",
                                    nm, parts[p].prefix);
                continue;
            }
            if (cn_col_schema_find(bs, nm) >= 0) {
                rc = cn_err_set(err, CN_ECONFIG,
                                "two join parts produce the column %s (the second is part %s); give one of them a "
                                "prefix",
                                nm, parts[p].prefix);
                break;
            }
            rc = cn_col_schema_add(bs, nm, vs->fields[v].type, true, CN_COL_NO_ID, err);
        }
    }
    uint32_t n_ext0 = bs->n_fields;
    for (uint32_t i = 0; eb && i < eb->n_cols && rc == 0; i++)
        rc = cn_col_schema_add(bs, eb->schema->fields[i].name, eb->schema->fields[i].type, true, CN_COL_NO_ID, err);
    uint32_t n_feat_end = bs->n_fields; /* `*` covers features and external values */
    for (uint32_t i = 0; i < nx && rc == 0; i++)
        rc = cn_col_schema_add(bs, xb->schema->fields[xc[i]].name, xb->schema->fields[xc[i]].type, true, CN_COL_NO_ID,
                               err);
    if (rc == 0) rc = cn_col_schema_add(bs, CN_ICE_DS, cn_col_type_prim(CN_COL_STRING), true, CN_COL_NO_ID, err);
    if (rc == 0) rc = cn_col_batch_new(bs, &base, err);
    if (rc) goto done;
    /* fill the base batch */
    for (uint32_t i = 0; i < l->n_order; i++) {
        int fi = -1;
        size_t ff = 0;
        for (size_t p = 0; p < n_parts && fi < 0; p++)
            for (uint32_t v = 0; v < parts[p].vals->n_cols; v++, ff++)
                if (feat_left[ff] == (int)i) {
                    fi = (int)ff;
                    break;
                }
        const CnVec *lv = &l->rows->cols[l->order[i]];
        if (fi < 0) {
            uint32_t picks = 0;
            for (uint32_t k = 0; k < l->n_order; k++) picks += l->order[k] == l->order[i];
            if (picks == 1 && l->order[i] != l->i_ds) vec_take(&base->cols[i], &l->rows->cols[l->order[i]], n);
            else cn_col_vec_append_range(&base->cols[i], lv, 0, n);
            continue;
        }
        const CnVec *rv = NULL;
        size_t k = 0;
        for (size_t p = 0; p < n_parts && !rv; p++)
            for (uint32_t v = 0; v < parts[p].vals->n_cols; v++, k++)
                if ((int)k == fi) rv = &parts[p].vals->cols[v];
        for (uint32_t r = 0; r < n; r++)
            cn_col_vec_append_from(&base->cols[i], cn_col_vec_is_valid(lv, r) ? lv : rv, r);
    }
    f = 0;
    for (size_t p = 0; p < n_parts; p++)
        for (uint32_t v = 0; v < parts[p].vals->n_cols; v++, f++)
            if (feat_left[f] < 0) vec_take(&base->cols[cn_col_schema_find(bs, feat_name[f])], &parts[p].vals->cols[v], n);
    for (uint32_t i = 0; eb && i < eb->n_cols; i++) cn_col_vec_append_range(&base->cols[n_ext0 + i], &eb->cols[i], 0, n);
    for (uint32_t i = 0; i < nx; i++) cn_col_vec_append_range(&base->cols[n_feat_end + i], &xb->cols[xc[i]], 0, n);
    cn_col_vec_append_range(&base->cols[bs->n_fields - 1], &l->rows->cols[l->i_ds], 0, n);
    rc = cn_col_batch_sync_rows(base, err);
    if (rc) goto done;
    if (!j->n_derivations) {
        *out_schema = bs;
        *out = base;
        bs = NULL;
        base = NULL;
        goto done;
    }

    rc = apply_derivations(j->derivations, j->n_derivations, l->n_order, n_feat_end, base, a, out_schema, out, err);
done:
    cn_col_batch_free(base);
    cn_col_schema_free(bs);
    return rc;
}

/* ------------------------------------------------------------------ external parts */

/* Column type of a declared external field; NULL for kinds not held offline here. */
static const CnType *ext_type(const CnDataType *t) {
    switch (t ? t->kind : CN_CONF_N_DATA_KINDS) {
    case CN_CONF_DK_BOOLEAN: return cn_col_type_prim(CN_COL_BOOL);
    case CN_CONF_DK_BYTE:
    case CN_CONF_DK_SHORT:
    case CN_CONF_DK_INT: return cn_col_type_prim(CN_COL_INT32);
    case CN_CONF_DK_LONG: return cn_col_type_prim(CN_COL_INT64);
    case CN_CONF_DK_FLOAT: return cn_col_type_prim(CN_COL_FLOAT32);
    case CN_CONF_DK_DOUBLE: return cn_col_type_prim(CN_COL_FLOAT64);
    case CN_CONF_DK_STRING: return cn_col_type_prim(CN_COL_STRING);
    case CN_CONF_DK_BINARY: return cn_col_type_prim(CN_COL_BINARY);
    case CN_CONF_DK_DATE: return cn_col_type_prim(CN_COL_DATE);
    case CN_CONF_DK_TIMESTAMP: return cn_col_type_prim(CN_COL_TIMESTAMP);
    default: return NULL;
    }
}

/* Whether name is a value column of some external part (a bootstrap may fill it). */
static bool is_ext_column(const CnJoin *j, CnArena *a, const char *name) {
    for (size_t i = 0; i < j->n_externals; i++) {
        const CnDataType *vs = j->externals[i].source.value_schema;
        const char *px = cn_conf_external_prefix(a, &j->externals[i]);
        for (size_t f = 0; px && vs && f < vs->n_params; f++)
            if (!strcmp(cn_arena_printf(a, "%s_%s", px, vs->params[f].name), name)) return true;
    }
    return false;
}

/* Offline values of onlineExternalParts (Chronon's padExternalFields): the column
 * <ext prefix>_<field> of each value field is null unless a bootstrap part provides it;
 * a contextual part's (source "contextual") is coalesce(the left's key column, the
 * bootstrapped value), the request context the row was logged with. OWNED: *out_s,
 * *out (one row per left row). CN_ECONFIG names the part and field on an unsupported
 * type, a type mismatch or a duplicate column. */
static int ext_columns(const CnJoin *j, const Left *l, const CnEngBoot *b, CnArena *a, CnSchema **out_s,
                       CnBatch **out, CnErr *err) {
    CnSchema *es = NULL;
    CnBatch *eb = NULL;
    const CnVec **src = NULL, **ctx = NULL;
    size_t n_max = 0;
    for (size_t i = 0; i < j->n_externals; i++)
        n_max += j->externals[i].source.value_schema ? j->externals[i].source.value_schema->n_params : 0;
    src = cn_arena_alloc(a, (n_max + 1) * sizeof *src);
    ctx = cn_arena_alloc(a, (n_max + 1) * sizeof *ctx);
    int rc = src && ctx ? cn_col_schema_new(&es) : cn_err_set(err, CN_ENOMEM, "out of memory");
    const char *jn = j->meta.name;
    for (size_t i = 0; i < j->n_externals && rc == 0; i++) {
        const CnExternalPart *ep = &j->externals[i];
        const CnDataType *vs = ep->source.value_schema;
        const char *px = cn_conf_external_prefix(a, ep);
        bool contextual = ep->source.meta.name && !strcmp(ep->source.meta.name, "contextual");
        for (size_t f = 0; vs && f < vs->n_params && rc == 0; f++) {
            const char *fn = vs->params[f].name, *name = cn_arena_printf(a, "%s_%s", px, fn);
            const CnType *t = ext_type(vs->params[f].type);
            if (!t) {
                rc = cn_err_set(err, CN_EUNSUPPORTED,
                                "join %s: onlineExternalParts[%zu] (%s): field %s has a nested type, which the "
                                "backfill does not hold (use a primitive type or bootstrap a derivation)",
                                jn, i, ep->source.meta.name, fn);
                break;
            }
            if (cn_col_schema_find(es, name) >= 0 || cn_col_schema_find(l->rows->schema, name) >= 0) {
                rc = cn_err_set(err, CN_ECONFIG, "join %s: onlineExternalParts[%zu]: the column %s is produced twice",
                                jn, i, name);
                break;
            }
            uint32_t k = es->n_fields;
            int bc = b ? cn_col_schema_find(b->schema, name) : -1;
            src[k] = bc >= 0 ? &b->vals->cols[bc] : NULL;
            ctx[k] = NULL;
            if (contextual) { /* the left column the context key maps to */
                const char *ln = fn;
                for (size_t m = 0; m < ep->key_mapping.n; m++)
                    if (!strcmp(ep->key_mapping.vals[m], fn)) ln = ep->key_mapping.keys[m];
                int lc = cn_col_schema_find(l->rows->schema, ln);
                if (lc >= 0 && strcmp(ln, LDS)) ctx[k] = &l->rows->cols[lc];
            }
            const CnVec *chk[2] = {src[k], ctx[k]};
            for (int c = 0; c < 2 && rc == 0; c++)
                if (chk[c] && !cn_col_type_equal(chk[c]->type, t)) {
                    char t1[64], t2[64];
                    rc = cn_err_set(err, CN_ECONFIG,
                                    "join %s: onlineExternalParts[%zu] (%s): field %s is declared %s but the %s column "
                                    "is %s",
                                    jn, i, ep->source.meta.name, fn, cn_col_type_name(t, t1, sizeof t1),
                                    c ? "left" : "bootstrap", cn_col_type_name(chk[c]->type, t2, sizeof t2));
                }
            if (rc == 0) rc = cn_col_schema_add(es, name, t, true, CN_COL_NO_ID, err);
        }
    }
    if (rc == 0) rc = cn_col_batch_new(es, &eb, err);
    for (uint32_t c = 0; rc == 0 && c < es->n_fields; c++)
        for (uint32_t r = 0; r < l->rows->n_rows; r++) {
            if (ctx[c] && cn_col_vec_is_valid(ctx[c], r)) cn_col_vec_append_from(&eb->cols[c], ctx[c], r);
            else if (src[c] && cn_col_vec_is_valid(src[c], r)) cn_col_vec_append_from(&eb->cols[c], src[c], r);
            else cn_col_vec_append_null(&eb->cols[c]);
        }
    if (rc == 0) {
        eb->n_rows = l->rows->n_rows; /* also with no columns */
        rc = cn_col_batch_sync_rows(eb, err);
    }
    if (rc) {
        cn_col_batch_free(eb);
        cn_col_schema_free(es);
        return rc;
    }
    *out_s = es;
    *out = eb;
    return 0;
}

/* ------------------------------------------------------------------ bootstrap */

/* True when identifier `id` (Chronon's [a-zA-Z_][a-zA-Z0-9_]*) occurs in expression e,
 * matched as raw text like Chronon's dependency scan (string literals included). */
static bool expr_mentions(const char *e, const char *id) {
    size_t n = strlen(id);
    for (const char *p = e; p && *p;) {
        if (!(*p == '_' || ((*p | 32) >= 'a' && (*p | 32) <= 'z'))) {
            p++;
            continue;
        }
        const char *q = p;
        while (*q == '_' || ((*q | 32) >= 'a' && (*q | 32) <= 'z') || (*q >= '0' && *q <= '9')) q++;
        if ((size_t)(q - p) == n && !memcmp(p, id, n)) return true;
        p = q;
    }
    return false;
}

/* The table of the first bootstrap part that provides column c (messages). */
static const char *boot_table(const CnEngBoot *b, int c) {
    for (uint32_t i = 0; i < b->n_parts; i++)
        if (b->provides[c] & (UINT64_C(1) << i)) return b->tables[i];
    return "?";
}

/* Whether bootstrap column `c` (index in b, -1 absent) is provided under mask. */
static bool boot_has(const CnEngBoot *b, int c, uint64_t mask) { return c >= 0 && (b->provides[c] & mask); }

/* Applies bootstrap values to the parts' features (compute.md section 6 "Bootstrap",
 * Chronon's BootstrapInfo and covering sets). A row is covered for a part when the
 * columns of the bootstrap parts it matched satisfy every dependency of the part: with
 * no derivations each feature itself; else for each derivation (`*` standing for the
 * features) whose expression names features of the part, the derived column or all of
 * those features. A covered row takes the bootstrap values only (the computed ones are
 * dropped, missing ones are null); any other row gets coalesce(bootstrap, computed).
 * Bootstrap columns named like a derivation are returned in xc (indexes in b->vals) to
 * coalesce into it. Any other bootstrap column is an error naming it and its table. */
static int apply_bootstrap(const CnJoin *j, const Left *l, Part *parts, size_t n_parts, const CnEngBoot *b,
                           CnArena *a, int **xc, uint32_t *nx, CnErr *err) {
    const CnSchema *bs = b->schema;
    uint32_t n = l->rows->n_rows;
    int *x = cn_arena_alloc(a, (bs->n_fields + 1) * sizeof *x);
    uint8_t *is_feat = cn_arena_alloc(a, bs->n_fields + 1);
    if (!x || !is_feat) return cn_err_set(err, CN_ENOMEM, "out of memory");
    memset(is_feat, 0, bs->n_fields + 1);
    *nx = 0;
    for (size_t p = 0; p < n_parts; p++) {
        const CnSchema *vs = parts[p].vals->schema;
        for (uint32_t v = 0; v < vs->n_fields; v++) {
            int c = cn_col_schema_find(bs, cn_arena_printf(a, "%s_%s", parts[p].prefix, vs->fields[v].name));
            if (c < 0) continue;
            if (!cn_col_type_equal(bs->fields[c].type, vs->fields[v].type)) {
                char t1[64], t2[64];
                return cn_err_set(err, CN_ECONFIG,
                                  "join %s: bootstrap table %s: column %s is %s but part %s produces it as %s (types "
                                  "must match exactly)",
                                  j->meta.name, boot_table(b, c), bs->fields[c].name,
                                  cn_col_type_name(bs->fields[c].type, t1, sizeof t1),
                                  parts[p].prefix, cn_col_type_name(vs->fields[v].type, t2, sizeof t2));
            }
            is_feat[c] = 1;
        }
    }
    for (uint32_t c = 0; c < bs->n_fields; c++) {
        if (is_feat[c] || is_ext_column(j, a, bs->fields[c].name)) continue; /* ext: ext_columns */
        bool der = false;
        for (size_t i = 0; i < j->n_derivations && !der; i++) der = !strcmp(j->derivations[i].name, bs->fields[c].name);
        if (der) {
            x[(*nx)++] = (int)c;
            continue;
        }
        return cn_err_set(err, CN_ECONFIG,
                          "join %s: bootstrap table %s has the column %s, which the join does not produce (expected "
                          "a join part feature, an external part field or a derivation name)",
                          j->meta.name, boot_table(b, (int)c), bs->fields[c].name);
    }
    *xc = x;
    uint8_t *covered = cn_malloc((size_t)n + 1);
    int rc = covered ? 0 : cn_err_set(err, CN_ENOMEM, "out of memory");
    for (size_t p = 0; p < n_parts && rc == 0; p++) {
        Part *pt = &parts[p];
        const CnSchema *vs = pt->vals->schema;
        uint32_t nv = vs->n_fields;
        int *fc = cn_arena_alloc(a, (nv + 1) * sizeof *fc); /* bootstrap column per feature */
        const char **fname = cn_arena_alloc(a, (nv + 1) * sizeof *fname);
        /* dependencies: derived column (bootstrap index) -> features (mask over nv) */
        size_t nd_max = j->n_derivations + nv + 1;
        int *dcol = cn_arena_alloc(a, nd_max * sizeof *dcol);
        uint8_t *dneed = cn_arena_alloc(a, nd_max * (nv + 1));
        if (!fc || !fname || !dcol || !dneed) {
            rc = cn_err_set(err, CN_ENOMEM, "out of memory");
            break;
        }
        memset(dneed, 0, nd_max * (nv + 1));
        size_t nd = 0;
        for (uint32_t v = 0; v < nv; v++) {
            fname[v] = cn_arena_printf(a, "%s_%s", pt->prefix, vs->fields[v].name);
            fc[v] = cn_col_schema_find(bs, fname[v]);
        }
        if (!j->n_derivations) {
            for (uint32_t v = 0; v < nv; v++, nd++) dcol[nd] = fc[v], dneed[nd * (nv + 1) + v] = 1;
        } else {
            for (size_t i = 0; i < j->n_derivations; i++) {
                const CnDerivation *d = &j->derivations[i];
                if (!strcmp(d->name, "*")) {
                    for (uint32_t v = 0; v < nv; v++)
                        if (!verbatim_used(j->derivations, j->n_derivations, fname[v]))
                            dcol[nd] = fc[v], dneed[nd++ * (nv + 1) + v] = 1;
                    continue;
                }
                bool any = false;
                for (uint32_t v = 0; v < nv; v++)
                    if (d->expression && expr_mentions(d->expression, fname[v])) dneed[nd * (nv + 1) + v] = 1, any = true;
                if (any) dcol[nd++] = cn_col_schema_find(bs, d->name);
            }
        }
        bool any_cov = false;
        for (uint32_t r = 0; r < n; r++) {
            uint64_t m = b->matched[r];
            bool cov = true;
            for (size_t k = 0; k < nd && cov; k++) {
                if (boot_has(b, dcol[k], m)) continue;
                for (uint32_t v = 0; v < nv && cov; v++)
                    if (dneed[k * (nv + 1) + v] && !boot_has(b, fc[v], m)) cov = false;
            }
            covered[r] = cov;
            any_cov = any_cov || cov;
        }
        bool touch = any_cov;
        for (uint32_t v = 0; v < nv; v++) touch = touch || fc[v] >= 0;
        if (!touch) continue;
        CnBatch *nb = NULL;
        rc = cn_col_batch_new(vs, &nb, err);
        for (uint32_t v = 0; v < nv && rc == 0; v++) {
            const CnVec *cv = &pt->vals->cols[v], *bv = fc[v] >= 0 ? &b->vals->cols[fc[v]] : NULL;
            for (uint32_t r = 0; r < n; r++) {
                if (bv && cn_col_vec_is_valid(bv, r)) cn_col_vec_append_from(&nb->cols[v], bv, r);
                else if (covered[r]) cn_col_vec_append_null(&nb->cols[v]);
                else cn_col_vec_append_from(&nb->cols[v], cv, r);
            }
        }
        if (rc == 0) rc = cn_col_batch_sync_rows(nb, err);
        if (rc) {
            cn_col_batch_free(nb);
            break;
        }
        cn_col_batch_free(pt->vals);
        pt->vals = nb;
    }
    cn_free(covered);
    return rc;
}

/* ------------------------------------------------------------------ config checks */

static int check_join(const CnJoin *j, CnErr *err) {
    const char *jn = j->meta.name ? j->meta.name : "?";
    if (j->left.kind != CN_CONF_SRC_EVENTS && j->left.kind != CN_CONF_SRC_ENTITIES)
        return cn_err_set(err, CN_EUNSUPPORTED, "join %s: a %s left source is not supported (use events or entities)",
                          jn, cn_conf_source_kind_name(j->left.kind));
    if (j->left.kind == CN_CONF_SRC_EVENTS && j->left.is_cumulative == 1)
        return cn_err_set(err, CN_ECONFIG, "join %s: left: a cumulative events source cannot be a join's left", jn);
    if (!j->n_parts) return cn_err_set(err, CN_ECONFIG, "join %s: joinParts: at least one part is needed", jn);
    for (size_t i = 0; i < j->n_parts; i++) {
        const CnGroupBy *gb = j->parts[i].group_by;
        if (!gb) return cn_err_set(err, CN_ECONFIG, "join %s: joinParts[%zu] has no groupBy", jn, i);
    }
    return 0;
}

/* Label joins (label.c): the left rows of days [lo, hi] as the backfill reads them. */
int cn_eng__join_left_rows(CnIceCatalog *cat, const CnJoin *j, CnArena *a, int32_t lo, int32_t hi, CnExprQuery **q,
                           CnBatch **rows, int32_t **pday, const int **order, uint32_t *n_order, CnErr *err) {
    Left l;
    int rc = left_load(cat, j, NULL, a, lo, hi, &l, err);
    if (rc == 0) rc = left_drop_skew(j, &l, err);
    if (rc) {
        left_fini(&l);
        return rc;
    }
    *q = l.q, *rows = l.rows, *pday = l.pday, *order = l.order, *n_order = l.n_order; /* rows use q's schema */
    return 0;
}

/* ------------------------------------------------------------------ semantic hash */

#define HASH_PROP "chronon.join.semantic_hash"

static uint64_t hs(uint64_t h, const char *s) { return cn_hash_bytes(s ? s : "\x01", s ? strlen(s) + 1 : 1, h); }
static uint64_t hi64(uint64_t h, int64_t v) { return cn_hash_bytes(&v, sizeof v, h); }

static uint64_t hash_query(uint64_t h, const CnQuery *q) {
    h = hi64(h, q->has_selects);
    for (size_t i = 0; i < q->selects.n; i++) h = hs(hs(h, q->selects.keys[i]), q->selects.vals[i]);
    for (size_t i = 0; i < q->wheres.n; i++) h = hs(h, q->wheres.items[i]);
    h = hs(hs(hs(h, q->start_partition), q->end_partition), q->time_column);
    return hs(hs(hs(h, q->mutation_time_column), q->reversal_column), q->partition_column);
}

static uint64_t hash_source(uint64_t h, const CnSource *s) {
    h = hi64(h, s->kind);
    h = hs(hs(hs(h, s->table), s->topic), s->mutation_table);
    h = hi64(h, s->is_cumulative);
    if (s->join) h = hs(h, s->join->meta.name);
    return hash_query(h, &s->query);
}

/* What part jp contributes to a hash: prefix, GroupBy sources, keys, aggregations,
 * accuracy, key mapping and GroupBy derivations. */
static uint64_t hash_part(uint64_t h, const CnJoinPart *jp) {
    const CnGroupBy *gb = jp->group_by;
    h = hs(hs(h, jp->prefix), gb->meta.name);
    for (size_t k = 0; k < jp->key_mapping.n; k++) h = hs(hs(h, jp->key_mapping.keys[k]), jp->key_mapping.vals[k]);
    for (size_t k = 0; k < gb->n_sources; k++) h = hash_source(h, &gb->sources[k]);
    for (size_t k = 0; k < gb->key_columns.n; k++) h = hs(h, gb->key_columns.items[k]);
    h = hi64(hi64(h, cn_conf_groupby_accuracy(gb)), gb->has_aggregations);
    for (size_t a = 0; a < gb->n_aggs; a++) {
        const CnAggregation *ag = &gb->aggs[a];
        h = hi64(hs(h, ag->input_column), ag->op);
        for (size_t k = 0; k < ag->arg_map.n; k++) h = hs(hs(h, ag->arg_map.keys[k]), ag->arg_map.vals[k]);
        h = hi64(h, ag->has_windows);
        for (size_t k = 0; k < ag->n_windows; k++) h = hi64(hi64(h, ag->windows[k].length), ag->windows[k].unit);
        for (size_t k = 0; k < ag->buckets.n; k++) h = hs(h, ag->buckets.items[k]);
        h = hi64(h, ag->element_wise);
    }
    for (size_t k = 0; k < gb->n_derivations; k++)
        h = hs(hs(h, gb->derivations[k].name), gb->derivations[k].expression);
    return h;
}

static uint64_t hash_skew(uint64_t h, const CnJoin *j) {
    for (size_t i = 0; i < j->n_skew_keys; i++) {
        h = hs(h, j->skew_key_names[i]);
        for (size_t k = 0; k < j->skew_key_values[i].n; k++) h = hs(h, j->skew_key_values[i].items[k]);
    }
    return h;
}

/* Split mode: what the left rows of _bootstrap depend on (left, skew keys, rowIds,
 * bootstrap parts), and what part table i depends on (left, skew keys, the part). */
static uint64_t left_hash(const CnJoin *j) {
    uint64_t h = hash_skew(hash_source(0x6c656674, &j->left), j);
    for (size_t i = 0; i < j->row_ids.n; i++) h = hs(h, j->row_ids.items[i]);
    for (size_t i = 0; i < j->n_bootstraps; i++) h = hi64(h, (int64_t)cn_eng__boot_part_hash(j, i));
    return h;
}

static uint64_t part_hash(const CnJoin *j, size_t i) {
    return hash_part(hash_skew(hash_source(0x70617274, &j->left), j), &j->parts[i]);
}

/* Everything the output depends on: left, parts (GroupBy sources, keys, aggregations,
 * accuracy, key mapping, prefix), skew keys and derivations. Not metadata such as
 * online/production flags, team or schedule. */
static uint64_t semantic_hash(const CnJoin *j) {
    uint64_t h = hash_source(0x6a6f696e, &j->left);
    for (size_t i = 0; i < j->n_parts; i++) h = hash_part(h, &j->parts[i]);
    h = hash_skew(h, j);
    for (size_t i = 0; i < j->n_derivations; i++) h = hs(hs(h, j->derivations[i].name), j->derivations[i].expression);
    for (size_t i = 0; i < j->row_ids.n; i++) h = hs(h, j->row_ids.items[i]);
    for (size_t i = 0; i < j->n_externals; i++) {
        const CnExternalPart *ep = &j->externals[i];
        h = hs(hs(h, ep->prefix), ep->source.meta.name);
        for (size_t k = 0; k < ep->key_mapping.n; k++) h = hs(hs(h, ep->key_mapping.keys[k]), ep->key_mapping.vals[k]);
        for (size_t f = 0; ep->source.value_schema && f < ep->source.value_schema->n_params; f++)
            h = hi64(hs(h, ep->source.value_schema->params[f].name), ep->source.value_schema->params[f].type->kind);
    }
    for (size_t i = 0; i < j->n_bootstraps; i++) h = hi64(h, (int64_t)cn_eng__boot_part_hash(j, i));
    return h;
}

/* ------------------------------------------------------------------ chunk */

/* Bytes the left rows hold: values, string bytes and offsets, validity (what a chunk
 * keeps for its whole run, and every part's features add about as much again). */
static uint64_t left_mem(const CnBatch *b) {
    uint64_t m = 0;
    for (uint32_t c = 0; c < b->n_cols; c++) {
        const CnVec *v = &b->cols[c];
        m += (uint64_t)v->n * cn_col_type_width(v->type->id) + ((uint64_t)v->n + 63) / 64 * 8;
        if (v->offsets) m += (uint64_t)v->offsets[v->n] + (uint64_t)(v->n + 1) * 4;
    }
    return m;
}

/* Split mode (o->split, jsplit.h): LEFT writes the left rows with their bootstrap columns
 * to out_table (_bootstrap); PARTS computes only part `only` and writes its table
 * out_table; FINAL reads the left rows from _bootstrap and every part's values from its
 * table, then goes on as the whole join does. */
static int split_left(CnIceCatalog *cat, const CnJoin *j, const char *out_table, const char *hash_hex, const Left *l,
                      const int32_t *days, uint32_t n_days, CnEngStats *st, CnErr *err) {
    CnEngBoot *boot = NULL;
    CnSchema *os = NULL;
    CnBatch *ob = NULL;
    int rc = j->n_bootstraps ? cn_eng__boot_join(cat, j, l->rows, l->pday, days[0], days[n_days - 1], &boot, err) : 0;
    if (rc == 0) rc = cn_eng__jsplit_left_batch(l->rows, l->order, l->n_order, l->pday, boot ? boot->vals : NULL, &os, &ob, err);
    if (rc == 0) rc = cn_eng__jsplit_write(cat, out_table, hash_hex, (int)l->n_order, ob, days, n_days, err);
    if (rc == 0) st->rows_written += ob->n_rows, st->days_written += n_days;
    cn_col_batch_free(ob);
    cn_col_schema_free(os);
    cn_eng__boot_free(boot);
    return rc;
}

/* Writes ob (one row per left row of l, in its order) to w. When every partition's rows
 * are one run, partitions ascending (as a scan of the left table gives them), each run is
 * written and its partition sealed before the next: one partition's buffers at a time,
 * reused from file to file, instead of every partition's at once; without nested
 * columns, straight from a view of the run's rows (no copy). Else one write. */
static int write_days(CnIceWrite *w, const CnBatch *ob, const Left *l, CnErr *err) {
    uint32_t n = ob->n_rows;
    bool runs = n && n == l->rows->n_rows && l->i_ds >= 0;
    for (uint32_t r = 0; r < n && runs; r++) runs = l->pday[r] != INT32_MIN && (!r || l->pday[r] >= l->pday[r - 1]);
    if (!runs) return cn_ice_write_batch(w, ob, err);
    bool flat = !ob->sel; /* a run of flat columns is written from a view of its rows, not copied */
    for (uint32_t c = 0; c < ob->n_cols && flat; c++) flat = !cn_col_type_is_nested(ob->cols[c].type->id);
    uint32_t *sel = flat ? NULL : cn_malloc(((size_t)n + 1) * sizeof *sel); /* else the runs' rows, selected */
    if (!flat && !sel) return cn_ice_write_batch(w, ob, err);
    int rc = 0;
    for (uint32_t r = 0; r < n && sel; r++) sel[r] = r;
    uint32_t n_runs = 0;
    for (uint32_t r = 0; r < n; r++) n_runs += !r || l->pday[r] != l->pday[r - 1];
    /* flat: every run's view, written at once (files on several threads) */
    CnBatch **views = flat ? cn_calloc((size_t)n_runs + 1, sizeof *views) : NULL;
    char (*dss)[11] = flat ? cn_malloc(((size_t)n_runs + 1) * sizeof *dss) : NULL;
    const char **dsp = flat ? cn_malloc(((size_t)n_runs + 1) * sizeof *dsp) : NULL;
    if (flat && (!views || !dss || !dsp)) rc = cn_err_set(err, CN_ENOMEM, "out of memory");
    uint32_t k = 0;
    for (uint32_t a = 0, b; a < n && rc == 0; a = b, k++) {
        for (b = a + 1; b < n && l->pday[b] == l->pday[a];) b++;
        uint32_t len;
        const char *ds = cn_col_vec_str(&l->rows->cols[l->i_ds], a, &len);
        char d[11];
        snprintf(d, sizeof d, "%.*s", (int)(len < 10 ? len : 10), ds);
        if (flat) {
            memcpy(dss[k], d, sizeof d);
            dsp[k] = dss[k];
            rc = cn_col_batch_view(ob, a, b - a, &views[k], err);
            continue;
        }
        CnBatch view = *ob; /* shallow: the run's rows selected */
        view.sel = sel + a, view.n_sel = b - a;
        rc = cn_ice_write_batch(w, &view, err);
        if (rc == 0) rc = cn_ice_write_seal_partition(w, d, err);
    }
    if (rc == 0 && flat) rc = cn_ice_write_batches_sealed(w, (const CnBatch *const *)views, dsp, n_runs, err);
    for (uint32_t i = 0; views && i < n_runs; i++) cn_col_batch_free(views[i]);
    cn_free(views);
    cn_free(dss);
    cn_free(dsp);
    cn_free(sel);
    return rc;
}

static int run_chunk(CnIceCatalog *cat, const CnJoin *j, const CnEngOpts *o, const char *out_table, int only,
                     const char *hash_hex, const int32_t *days, uint32_t n_days, CnEngStats *st, CnErr *err) {
    const CnEngSplit *sp = o->split;
    CnArena a;
    cn_arena_init(&a, 0);
    Left l;
    memset(&l, 0, sizeof l);
    Part *parts = cn_calloc(j->n_parts + 1, sizeof *parts);
    CnSchema *os = NULL;
    CnBatch *ob = NULL;
    CnIceWrite *w = NULL;
    CnEngBoot *boot = NULL;
    CnEngDjoin *dj = NULL; /* distributed: the chunk's left rows (djoin.h) */
    char ns[129], name[129];
    int rc = parts ? 0 : cn_err_set(err, CN_ENOMEM, "out of memory");
    if (rc == 0) rc = cn_ice_name_parse(out_table, ns, name, err);
    const char *jt = sp ? cn_conf_output_table(&a, &j->meta, err) : NULL;
    if (sp && !jt) rc = err->code ? err->code : CN_ENOMEM;
    const char *cached =
        sp && (sp->mode == CN_ENG_SPLIT_FINAL || sp->use_cached_left) ? cn_eng__jsplit_boot_table(&a, jt) : NULL;
    if (rc == 0 && cached && sp->mode == CN_ENG_SPLIT_PARTS) { /* FINAL checked every table up front */
        char hex[17];
        snprintf(hex, sizeof hex, "%016llx", (unsigned long long)left_hash(j));
        rc = cn_eng__jsplit_check(cat, cached, hex, days, n_days, "run --mode backfill-left", err);
    }
    double tw[6] = {cn_clock_s(CLOCK_MONOTONIC)};
    if (rc == 0) rc = left_load(cat, j, cached, &a, days[0], days[n_days - 1], &l, err);
    if (rc == 0 && !cached) rc = left_drop_skew(j, &l, err);
    tw[1] = cn_clock_s(CLOCK_MONOTONIC);
    if (rc == 0 && o->shard) rc = cn_eng__djoin_own(o->shard, j, &l.rows, &l.pday, &dj, err); /* distributed hook */
    if (rc == 0 && o->max_memory) {
        uint64_t need = left_mem(l.rows);
        if (need > o->max_memory) {
            char d0[11], d1[11];
            cn_ds_format(days[0], d0);
            cn_ds_format(days[n_days - 1], d1);
            rc = cn_err_set(err, CN_ELIMIT,
                            "the %u left rows of %s partitions %s..%s need about %llu MiB, more than --max-memory "
                            "%llu MiB allows; raise --max-memory",
                            l.rows->n_rows, l.table, d0, d1, (unsigned long long)(need >> 20),
                            (unsigned long long)(o->max_memory >> 20));
        }
    }
    if (rc == 0 && sp && sp->mode == CN_ENG_SPLIT_LEFT) rc = split_left(cat, j, out_table, hash_hex, &l, days, n_days, st, err);
    if (rc || (sp && sp->mode == CN_ENG_SPLIT_LEFT)) goto done;
    st->rows_scanned += l.rows->n_rows;
    for (size_t i = 0; i < j->n_parts && rc == 0; i++) {
        if (sp && sp->mode == CN_ENG_SPLIT_PARTS && (int)i != only) continue;
        Part *p = &parts[i];
        p->jp = &j->parts[i];
        const CnGroupBy *gb = p->jp->group_by;
        p->prefix = cn_conf_join_part_prefix(&a, p->jp);
        p->lkeys = cn_conf_join_part_left_keys(&a, p->jp);
        p->n_keys = (uint32_t)gb->key_columns.n;
        p->lcol = cn_arena_alloc(&a, (p->n_keys + 1) * sizeof *p->lcol);
        if (!p->prefix || !p->lkeys || !p->lcol) {
            rc = cn_err_set(err, CN_ENOMEM, "out of memory");
            break;
        }
        for (uint32_t k = 0; k < p->n_keys; k++) {
            p->lcol[k] = cn_col_schema_find(l.rows->schema, p->lkeys[k]);
            if (p->lcol[k] < 0 || p->lcol[k] == l.i_ds) {
                rc = cn_err_set(err, CN_ECONFIG,
                                "join %s: part %s: GroupBy %s key %s needs the left column %s, which the left query "
                                "on %s does not produce (add it to the left selects or set keyMapping)",
                                j->meta.name, p->prefix, gb->meta.name, gb->key_columns.items[k], p->lkeys[k], l.table);
                break;
            }
        }
        if (rc) break;
        bool temporal = gb->has_aggregations && cn_conf_groupby_accuracy(gb) == CN_CONF_TEMPORAL;
        bool right_entities = gb->n_sources && cn_conf_source_model(&gb->sources[0]) == CN_CONF_ENTITIES;
        if (!l.events) p->mode = MODE_SNAP_P;
        else if (!temporal) p->mode = MODE_SNAP_PREV;
        else if (right_entities) p->mode = MODE_TEMPORAL_ENT;
        else p->mode = MODE_TEMPORAL;
        CnEngSplitKeys sk = {l.rows, l.pday, p->lcol, (const char *const *)gb->key_columns.items, p->n_keys,
                             l.events ? l.i_ts : -1};
        Left pl = l, *el = &l; /* distributed hook: a part on another key than the home rows' */
        if (dj && cn_eng__djoin_foreign(dj, p->lcol, p->n_keys)) {
            pl.rows = NULL, pl.pday = NULL, el = &pl;
            rc = cn_eng__djoin_part_rows(dj, p->lcol, p->n_keys, &pl.rows, &pl.pday, err);
        }
        if (sp && sp->mode == CN_ENG_SPLIT_FINAL)
            rc = cn_eng__jsplit_part_read(cat, cn_eng__jsplit_part_table(&a, jt, p->prefix), &sk, days[0],
                                          days[n_days - 1], &p->vschema, &p->vals, err);
        else if (rc == 0)
            rc = p->mode >= MODE_TEMPORAL ? eval_temporal(cat, p, el, o, err) : eval_snapshot(cat, p, el, o, err);
        if (rc == 0 && !(sp && sp->mode == CN_ENG_SPLIT_FINAL)) rc = derive_part(p, el, &a, err);
        if (el == &pl) { /* the values go back to the home ranks of their rows */
            if (rc == 0) rc = cn_eng__djoin_part_back(dj, &p->vals, &p->day, &p->hit, err);
            cn_col_batch_free(pl.rows);
            cn_free(pl.pday);
        }
        if (rc == 0 && sp && sp->mode == CN_ENG_SPLIT_PARTS) {
            rc = cn_eng__jsplit_part_batch(&sk, p->vals, &os, &ob, err);
            if (rc == 0) rc = cn_eng__jsplit_write(cat, out_table, hash_hex, -1, ob, days, n_days, err);
            if (rc == 0) st->rows_written += ob->n_rows, st->days_written += n_days;
        }
        if (p->g) st->rows_scanned += p->g->stats.rows_scanned;
        if (rc) rc = cn_err_ctx(err, rc, "part %s", p->prefix);
    }
    if (rc || (sp && sp->mode == CN_ENG_SPLIT_PARTS)) goto done;
    tw[2] = cn_clock_s(CLOCK_MONOTONIC);
    int *xc = NULL;
    uint32_t nx = 0;
    if (rc == 0 && j->n_bootstraps) {
        rc = cn_eng__boot_join(cat, j, l.rows, l.pday, days[0], days[n_days - 1], &boot, err);
        if (rc == 0) rc = apply_bootstrap(j, &l, parts, j->n_parts, boot, &a, &xc, &nx, err);
    }
    CnSchema *es = NULL;
    CnBatch *eb = NULL;
    if (rc == 0 && j->n_externals) rc = ext_columns(j, &l, boot, &a, &es, &eb, err);
    if (rc == 0) rc = assemble(j, &l, parts, j->n_parts, eb, boot ? boot->vals : NULL, xc, nx, &a, &os, &ob, err);
    cn_col_batch_free(eb);
    cn_col_schema_free(es);
    if (rc) goto done;
    tw[3] = cn_clock_s(CLOCK_MONOTONIC);
    if (!o->shard || o->shard->rank == 0) {
        rc = cn_eng__output_create(cat, ns, name, os, err);
        if (rc) goto done;
    }
    if (o->shard) rc = o->shard->sync(o->shard->ud, err); /* distributed hook: rank 0 created it */
    if (rc) goto done;
    rc = cn_ice_write_begin(cat, ns, name, CN_ICE_OVERWRITE, &w, err);
    if (rc == 0) {
        /* a changed join that produces other columns cannot go into the old table */
        const CnSchema *ts = cn_ice_write_schema(w);
        bool same = ts->n_fields == os->n_fields;
        for (uint32_t i = 0; same && i < os->n_fields; i++)
            same = !strcmp(ts->fields[i].name, os->fields[i].name) && cn_col_type_equal(ts->fields[i].type, os->fields[i].type);
        if (!same)
            rc = cn_err_set(err, CN_ECONFIG,
                            "output table %s has other columns (%u) than join %s now produces (%u): drop or rename "
                            "the table to recompute it with the new columns",
                            out_table, ts->n_fields, j->meta.name, os->n_fields);
    }
    if (rc == 0) rc = cn_ice_write_set_property(w, HASH_PROP, hash_hex, err);
    for (uint32_t i = 0; i < n_days && rc == 0; i++) {
        char ds[11];
        cn_ds_format(days[i], ds);
        rc = cn_ice_write_touch_partition(w, ds, err);
    }
    if (rc == 0) rc = write_days(w, ob, &l, err);
    tw[4] = cn_clock_s(CLOCK_MONOTONIC); /* phases for CHRONON_LOG=debug */
    if (rc == 0) /* distributed hook: rank 0 commits every rank's files */
        rc = o->shard ? o->shard->commit(o->shard->ud, w, err) : cn_ice_write_commit(w, NULL, err);
    if (rc == 0) {
        tw[5] = cn_clock_s(CLOCK_MONOTONIC);
        cn_log(CN_LOG_DEBUG, "join chunk: %u left rows read in %.3fs, parts %.3fs, assembled %.3fs, written %.3fs, "
               "committed %.3fs", l.rows->n_rows, tw[1] - tw[0], tw[2] - tw[1], tw[3] - tw[2], tw[4] - tw[3],
               tw[5] - tw[4]);
        st->rows_written += ob->n_rows;
        st->days_written += n_days;
    }
done:
    if (o->verbose) {
        char d0[11], d1[11];
        cn_ds_format(days[0], d0);
        cn_ds_format(days[n_days - 1], d1);
        fprintf(stderr, "join chunk %s..%s: %u left rows, %lld rows written%s\n", d0, d1, l.rows ? l.rows->n_rows : 0,
                rc ? 0LL : (long long)(ob ? ob->n_rows : 0), rc ? " (failed)" : "");
    }
    cn_ice_write_free(w); /* first: an uncommitted write removes its files before a distributed job ends */
    if (rc && o->shard) o->shard->fail(o->shard->ud, err); /* distributed hook: aborts the job */
    cn_eng__boot_free(boot);
    cn_eng__djoin_free(dj);
    cn_col_batch_free(ob);
    cn_col_schema_free(os);
    for (size_t i = 0; parts && i < j->n_parts; i++) part_fini(&parts[i]);
    cn_free(parts);
    left_fini(&l);
    cn_arena_fini(&a);
    return rc;
}

/* Runs a chunk; when it needs more memory than --max-memory allows and has more than
 * one day, runs its halves instead (each commits on its own), down to single days. */
static int run_chunk_fit(CnIceCatalog *cat, const CnJoin *j, const CnEngOpts *o, const char *out_table, int only,
                         const char *hash_hex, const int32_t *days, uint32_t n_days, CnEngStats *st, CnErr *err) {
    CnErr cerr = CN_ERR_INIT;
    int rc = run_chunk(cat, j, o, out_table, only, hash_hex, days, n_days, st, &cerr);
    if (rc != CN_ELIMIT || n_days < 2) {
        if (rc) cn_err_set(err, rc, "%s", cn_err_msg(&cerr));
        return rc;
    }
    if (o->verbose) {
        char d0[11], d1[11];
        cn_ds_format(days[0], d0);
        cn_ds_format(days[n_days - 1], d1);
        fprintf(stderr, "join chunk %s..%s does not fit in --max-memory: computing it in two halves\n", d0, d1);
    }
    uint32_t h = n_days / 2;
    rc = run_chunk_fit(cat, j, o, out_table, only, hash_hex, days, h, st, err);
    if (rc == 0) rc = run_chunk_fit(cat, j, o, out_table, only, hash_hex, days + h, n_days - h, st, err);
    return rc;
}

/* Split mode, FINAL: _bootstrap and every part table exist, hold what this version of
 * the join writes and have the left days days[0..n) (errors say which run fills them). */
static int split_final_check(CnIceCatalog *cat, const CnJoin *j, const char *out_table, const int32_t *days,
                             uint32_t n, CnErr *err) {
    CnArena a;
    cn_arena_init(&a, 0);
    char hex[17];
    snprintf(hex, sizeof hex, "%016llx", (unsigned long long)left_hash(j));
    int rc = cn_eng__jsplit_check(cat, cn_eng__jsplit_boot_table(&a, out_table), hex, days, n,
                                  "run --mode backfill-left", err);
    for (size_t i = 0; i < j->n_parts && rc == 0; i++) {
        const char *pre = cn_conf_join_part_prefix(&a, &j->parts[i]);
        snprintf(hex, sizeof hex, "%016llx", (unsigned long long)part_hash(j, i));
        rc = cn_eng__jsplit_check(cat, cn_eng__jsplit_part_table(&a, out_table, pre), hex, days, n,
                                  cn_arena_printf(&a, "run --mode backfill --selected-join-parts %s", pre), err);
    }
    cn_arena_fini(&a);
    return rc;
}

/* Computes the left days of days[0..n_days) that out_table (written with semantic hash
 * `hash`) lacks, in chunks; `only` as run_chunk. The first failure is returned after the
 * later chunks ran. */
static int fill_table(CnIceCatalog *cat, const CnJoin *j, const CnEngOpts *opts, const char *out_table, int only,
                      uint64_t hash, const int32_t *days, uint32_t n_days, CnEngStats *stats, CnErr *err) {
    const CnEngOpts o = *opts;
    CnEngStats st = *stats;
    int32_t *out_days = NULL, *need = NULL;
    uint32_t n_out = 0, n_need = 0;
    int rc = 0, first_rc = 0;
    /* partitions to compute (section 5 "Partitions to compute", over left days): days
     * without output, on or after the earliest output partition; all of them with
     * --force or when the join's semantic hash differs from the one the output was
     * written with */
    char hash_hex[17];
    snprintf(hash_hex, sizeof hash_hex, "%016llx", (unsigned long long)hash);
    {
        char ons[129], oname[129];
        rc = cn_ice_name_parse(out_table, ons, oname, err);
        if (rc) goto done;
        if (cn_ice_table_exists(cat, ons, oname) && !o.force) {
            CnIceTable *ot = NULL;
            rc = cn_ice_table_load(cat, ons, oname, &ot, err);
            if (rc) goto done;
            const char *prop = cn_ice_table_property(ot, HASH_PROP);
            bool same = prop && !strcmp(prop, hash_hex);
            if (!same) {
                cn_log(CN_LOG_WARN, "%s was written by another version of join %s: recomputing every partition "
                       "from the left side's first day in range",
                       out_table, j->meta.name);
            } else if (o.split && o.split->mode != CN_ENG_SPLIT_FINAL) {
                rc = cn_eng__jsplit_days(ot, &out_days, &n_out, err); /* split tables: the days computed */
            } else {
                rc = left_days(cat, out_table, INT32_MIN, INT32_MAX, &out_days, &n_out, err);
            }
            cn_ice_table_free(ot);
            if (rc) goto done;
        }
    }
    int32_t earliest = n_out && !o.run_first_hole ? out_days[0] : INT32_MIN;
    if (o.split && o.split->mode == CN_ENG_SPLIT_FINAL) {
        /* every table the output days read must be complete before any day is written */
        need = cn_malloc(((size_t)n_days + 1) * sizeof *need);
        if (!need) {
            rc = cn_err_set(err, CN_ENOMEM, "out of memory");
            goto done;
        }
        for (uint32_t i = 0; i < n_days; i++)
            if (days[i] >= earliest && !has_day(out_days, n_out, days[i])) need[n_need++] = days[i];
        if (n_need) rc = split_final_check(cat, j, out_table, need, n_need, err);
        if (rc) goto done;
    }
    for (uint32_t i = 0; i < n_days;) {
        int32_t d = days[i];
        bool cand = d >= earliest && !has_day(out_days, n_out, d);
        if (!cand) {
            i++;
            continue;
        }
        /* a hole: consecutive candidate left days (calendar-consecutive), cut by step_days */
        uint32_t k = i;
        while (k + 1 < n_days && days[k + 1] == days[k] + 1 && days[k + 1] - days[i] < o.step_days &&
               !has_day(out_days, n_out, days[k + 1]))
            k++;
        st.chunks++;
        CnErr cerr = CN_ERR_INIT;
        int crc = run_chunk_fit(cat, j, &o, out_table, only, hash_hex, days + i, k - i + 1, &st, &cerr);
        if (crc) {
            st.chunks_failed++;
            char a0[11], a1[11];
            cn_ds_format(days[i], a0);
            cn_ds_format(days[k], a1);
            if (!first_rc) {
                first_rc = crc;
                cn_err_set(err, crc, "%s (partitions %s..%s)", cn_err_msg(&cerr), a0, a1);
            } else {
                fprintf(stderr, "chronon: partitions %s..%s failed: %s\n", a0, a1, cn_err_msg(&cerr));
            }
        }
        i = k + 1;
    }
    if (st.chunks == 0 && o.verbose)
        fprintf(stderr, "%s: every left partition in range already has output; nothing to compute (--force recomputes)\n",
                out_table);
    rc = first_rc;
done:
    *stats = st;
    cn_free(out_days);
    cn_free(need);
    return rc;
}

int cn_eng_join_backfill(CnIceCatalog *cat, const CnJoin *j, const CnEngOpts *opts, CnEngStats *stats, CnErr *err) {
    CnEngOpts o = *opts;
    CnEngStats st;
    memset(&st, 0, sizeof st);
    CnArena a;
    cn_arena_init(&a, 0);
    int32_t *days = NULL;
    uint32_t n_days = 0;
    const CnJoin *j0 = j; /* j becomes j0 with its offline-capable external parts as join parts */
    int rc = cn_eng__extpart_expand(j0, &a, &j, err);
    if (rc == 0) rc = check_join(j, err);
    if (rc) goto done;
    if (!o.step_days) o.step_days = 30;
    if (!o.max_memory) {
        /* as the GroupBy backfill: half the physical memory */
        long pages = sysconf(_SC_PHYS_PAGES), psz = sysconf(_SC_PAGESIZE);
        o.max_memory = pages > 0 && psz > 0 ? (uint64_t)pages * (uint64_t)psz / 2 : UINT64_C(4) << 30;
    }
    const CnQuery *lq = &j->left.query;
    int32_t end = to_days(o.end_ds, INT32_MIN);
    if (end == INT32_MIN) {
        rc = cn_err_set(err, CN_EINVAL, "end partition '%s' is not a date (expected YYYY-MM-DD)", o.end_ds ? o.end_ds : "");
        goto done;
    }
    int32_t lend = to_days(lq->end_partition, INT32_MAX);
    if (lend < end) end = lend;
    int32_t start = o.start_ds ? to_days(o.start_ds, INT32_MIN) : to_days(lq->start_partition, INT32_MIN);
    if (j->meta.historical_backfill == 0) start = end;
    const char *out_table = cn_conf_output_table(&a, &j->meta, err);
    const char *ltable = cn_conf_source_table(&a, &j->left);
    if (!out_table || !ltable) {
        rc = err->code ? err->code : CN_ECONFIG;
        goto done;
    }
    rc = left_days(cat, ltable, start, end, &days, &n_days, err);
    if (rc) goto done;
    if (!n_days) {
        char e[11];
        cn_ds_format(end, e);
        rc = cn_err_set(err, CN_EINVAL,
                        "no left partition of %s up to %s in the range: nothing to compute (load the left data "
                        "first, or choose another --start-ds/--end-ds)",
                        ltable, e);
        goto done;
    }
    const CnEngSplit *sp = o.split;
    if (sp && o.shard) {
        rc = cn_err_set(err, CN_EUNSUPPORTED, "split mode (backfill-left, --selected-join-parts, backfill-final) "
                                              "runs in one process only");
        goto done;
    }
    if (!sp || sp->mode == CN_ENG_SPLIT_FINAL) {
        rc = fill_table(cat, j, &o, out_table, -1, semantic_hash(j), days, n_days, &st, err);
    } else if (sp->mode == CN_ENG_SPLIT_LEFT) {
        rc = fill_table(cat, j, &o, cn_eng__jsplit_boot_table(&a, out_table), -1, left_hash(j), days, n_days, &st, err);
    } else {
        int *sel = NULL;
        uint32_t n_sel = 0;
        rc = cn_eng__jsplit_select(j, &a, sp->parts, &sel, &n_sel, err);
        for (uint32_t i = 0; i < n_sel && rc == 0; i++) {
            const char *pt = cn_eng__jsplit_part_table(&a, out_table, cn_conf_join_part_prefix(&a, &j->parts[sel[i]]));
            rc = fill_table(cat, j, &o, pt, sel[i], part_hash(j, (size_t)sel[i]), days, n_days, &st, err);
        }
    }
done:
    if (stats) *stats = st;
    cn_free(days);
    cn_arena_fini(&a);
    return cn_err_ctx(err, rc, "backfill of join %s", j0->meta.name ? j0->meta.name : "?");
}
