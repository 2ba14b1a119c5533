/* bootstrap.c: bootstrapParts joined onto a Join's left rows (see bootstrap.h).
 * Each part is a left outer join on (keys, ds); a column that several parts provide
 * keeps the value of the earliest part that has a non-null one (Chronon's
 * coalescedJoin folded in bootstrapParts order). Per left row the parts that matched
 * are kept as a bit mask (Chronon's matched_hashes): join.c uses it to decide which
 * rows a join part still has to compute. */
#include "engine/bootstrap.h"
#include "engine/rowmap.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "base/alloc.h"
#include "base/date.h"
#include "base/hash.h"
#include "expr/expr.h"

#define LDS "__cn_ds"

static uint64_t h_str(uint64_t h, const char *s) { return cn_hash_bytes(s ? s : "\x01", s ? strlen(s) + 1 : 1, h); }

uint64_t cn_eng__boot_part_hash(const CnJoin *j, size_t i) {
    const CnBootstrapPart *bp = &j->bootstraps[i];
    uint64_t h = h_str(0x626f6f74, bp->table);
    if (bp->has_query) {
        const CnQuery *q = &bp->query;
        h = h_str(h, q->has_selects ? "s" : "-");
        for (size_t k = 0; k < q->selects.n; k++) h = h_str(h_str(h, q->selects.keys[k]), q->selects.vals[k]);
        for (size_t k = 0; k < q->wheres.n; k++) h = h_str(h, q->wheres.items[k]);
        h = h_str(h_str(h, q->start_partition), q->end_partition);
    }
    const CnStrList *keys = bp->has_key_columns ? &bp->key_columns : &j->row_ids;
    for (size_t k = 0; k < keys->n; k++) h = h_str(h, keys->items[k]);
    return h;
}

void cn_eng__boot_free(CnEngBoot *b) {
    if (!b) return;
    cn_col_batch_free(b->vals);
    cn_col_schema_free(b->schema);
    cn_free(b->matched);
    cn_free(b->provides);
    cn_free(b->tables);
    cn_free(b->hash_hex);
    cn_free(b);
}

static int32_t ds_days(const char *ds, int32_t fallback) {
    int64_t d;
    if (!ds || cn_ds_parse(ds, &d)) return fallback;
    return (int32_t)d;
}

int cn_eng__query_scan_open(CnIceCatalog *cat, CnIceTable *t, const CnExprQuery *q, int32_t lo, int32_t hi,
                            CnIceScan **scan, CnErr *err) {
    const CnSchema *ts = cn_ice_table_schema(t);
    bool *used = cn_calloc(ts->n_fields + 1, sizeof *used);
    const char **cols = cn_calloc(ts->n_fields + 1, sizeof *cols);
    int rc = used && cols ? 0 : cn_err_set(err, CN_ENOMEM, "out of memory");
    if (rc == 0) {
        cn_expr_query_mark_columns(q, used);
        uint32_t nc = 0;
        for (uint32_t i = 0; i < ts->n_fields; i++)
            if (used[i] || !strcmp(ts->fields[i].name, CN_ICE_DS)) cols[nc++] = ts->fields[i].name;
        char lo_ds[11], hi_ds[11];
        cn_ds_format(lo, lo_ds);
        cn_ds_format(hi, hi_ds);
        CnIceScanOpts so = {0};
        so.ds_lo = lo_ds;
        so.ds_hi = hi_ds;
        so.columns = cols;
        so.n_columns = nc;
        rc = cn_ice_scan_open(cat, t, &so, scan, err);
    }
    cn_free(used);
    cn_free(cols);
    return rc;
}

/* One part's rows: the query output (value columns, keys, ts, __cn_ds) of [lo, hi]. */
typedef struct PartRows {
    CnExprQuery *q;
    CnBatch *rows;
} PartRows;

static int part_scan(CnIceCatalog *cat, const CnBootstrapPart *bp, CnArena *a, int32_t lo, int32_t hi, PartRows *pr,
                     CnErr *err) {
    char ns[129], name[129];
    CnIceTable *t = NULL;
    CnIceScan *scan = NULL;
    CnExprQuery *q1 = NULL;
    int rc = cn_ice_name_parse(bp->table, ns, name, err);
    if (rc == 0) rc = cn_ice_table_load(cat, ns, name, &t, err);
    if (rc) return rc;
    const CnSchema *ts = cn_ice_table_schema(t);
    const CnQuery *q = bp->has_query ? &bp->query : NULL;
    uint32_t n = q && q->has_selects ? (uint32_t)q->selects.n : ts->n_fields;
    const char **names = cn_arena_alloc(a, (n + 2) * sizeof *names), **exprs = cn_arena_alloc(a, (n + 2) * sizeof *exprs);
    if (!names || !exprs) {
        rc = cn_err_set(err, CN_ENOMEM, "out of memory");
        goto done;
    }
    uint32_t m = 0;
    for (uint32_t i = 0; i < n; i++) {
        const char *nm = q && q->has_selects ? q->selects.keys[i] : ts->fields[i].name;
        if (!strcmp(nm, CN_ICE_DS)) continue; /* ds is the partition */
        names[m] = nm;
        exprs[m++] = q && q->has_selects ? q->selects.vals[i] : cn_arena_printf(a, "`%s`", nm);
    }
    names[m] = LDS;
    exprs[m++] = "`" CN_ICE_DS "`";
    CnExprQuerySpec spec = {names, exprs, m, q ? q->wheres.items : NULL, q ? (uint32_t)q->wheres.n : 0, NULL};
    rc = cn_expr_query_bind(ts, &spec, &q1, err);
    if (rc) goto done;
    rc = cn_eng__query_scan_open(cat, t, q1, lo, hi, &scan, err);
    if (rc == 0) rc = cn_expr_query_bind(cn_ice_scan_schema(scan), &spec, &pr->q, err);
    if (rc == 0) rc = cn_col_batch_new(cn_expr_query_schema(pr->q), &pr->rows, err);
    while (rc == 0) {
        const CnBatch *in = NULL;
        rc = cn_ice_scan_next(scan, &in, err);
        if (rc || !in) break;
        rc = cn_expr_query_run(pr->q, in, pr->rows, err);
    }
done:
    cn_expr_query_free(q1);
    cn_ice_scan_close(scan);
    cn_ice_table_free(t);
    return rc;
}

/* Key columns of part i (without ds): keyColumns, else the join's rowIds. */
static const CnStrList *part_keys(const CnJoin *j, size_t i) {
    const CnBootstrapPart *bp = &j->bootstraps[i];
    if (bp->has_key_columns) return &bp->key_columns;
    return j->has_row_ids ? &j->row_ids : NULL;
}

/* Joins part `pi` onto the left rows: appends its value columns to b (coalescing into
 * columns earlier parts provide) and sets its matched bit. */
static int part_join(const CnJoin *j, size_t pi, const PartRows *pr, const CnBatch *left, const int32_t *pday,
                     CnEngBoot *b, CnArena *a, CnErr *err) {
    const char *jn = j->meta.name, *tb = j->bootstraps[pi].table;
    const CnStrList *keys = part_keys(j, pi);
    const CnSchema *rs = pr->rows->schema, *ls = left->schema;
    int *lk = cn_arena_alloc(a, (keys->n + 1) * sizeof *lk), *rk = cn_arena_alloc(a, (keys->n + 1) * sizeof *rk);
    if (!lk || !rk) return cn_err_set(err, CN_ENOMEM, "out of memory");
    uint32_t nk = 0;
    for (size_t k = 0; k < keys->n; k++) {
        const char *kn = keys->items[k];
        if (!strcmp(kn, CN_ICE_DS)) continue; /* always joined on */
        int l = cn_col_schema_find(ls, kn), r = cn_col_schema_find(rs, kn);
        if (l < 0 || !strcmp(kn, LDS))
            return cn_err_set(err, CN_ECONFIG,
                              "join %s: bootstrapParts[%zu] (table %s): key %s is not a column of the left query",
                              jn, pi, tb, kn);
        if (r < 0)
            return cn_err_set(err, CN_ECONFIG,
                              "join %s: bootstrapParts[%zu]: table %s does not contain the key %s (expected a column "
                              "of its query)",
                              jn, pi, tb, kn);
        if (!cn_col_type_equal(ls->fields[l].type, rs->fields[r].type)) {
            char t1[64], t2[64];
            return cn_err_set(err, CN_ECONFIG,
                              "join %s: bootstrapParts[%zu]: key %s is %s in table %s but %s on the left (key types "
                              "must match exactly)",
                              jn, pi, kn, cn_col_type_name(rs->fields[r].type, t1, sizeof t1), tb,
                              cn_col_type_name(ls->fields[l].type, t2, sizeof t2));
        }
        lk[nk] = l;
        rk[nk++] = r;
    }
    /* (keys, ds) -> first bootstrap row */
    CnEngRowMap map;
    memset(&map, 0, sizeof map);
    CnBuf kb = CN_BUF_INIT;
    uint32_t *first = cn_malloc(((size_t)pr->rows->n_rows + 1) * sizeof *first);
    uint32_t *hit = cn_malloc(((size_t)left->n_rows + 1) * sizeof *hit);
    int rc = first && hit ? 0 : cn_err_set(err, CN_ENOMEM, "out of memory");
    int i_ds = cn_col_schema_find(rs, LDS);
    uint32_t n_first = 0;
    for (uint32_t r = 0; r < pr->rows->n_rows && rc == 0; r++) {
        bool null_key = false;
        for (uint32_t k = 0; k < nk; k++) null_key = null_key || !cn_col_vec_is_valid(&pr->rows->cols[rk[k]], r);
        if (null_key) continue; /* never equal to anything */
        cn_eng__key_encode(pr->rows, rk, nk, r, &kb);
        uint32_t len;
        const char *d = cn_col_vec_str(&pr->rows->cols[i_ds], r, &len);
        cn_buf_append(&kb, d, len);
        if (kb.oom) rc = cn_err_set(err, CN_ENOMEM, "out of memory");
        uint64_t h = cn_hash_bytes(kb.data, kb.len, 0x626f6f74);
        if (rc || cn_eng__rowmap_find(&map, kb.data, kb.len, h) != UINT32_MAX) continue;
        if (!cn_eng__rowmap_add(&map, kb.data, kb.len, h)) rc = cn_err_set(err, CN_ENOMEM, "out of memory");
        first[n_first++] = r;
    }
    for (uint32_t r = 0; r < left->n_rows && rc == 0; r++) {
        hit[r] = UINT32_MAX;
        bool null_key = false;
        for (uint32_t k = 0; k < nk; k++) null_key = null_key || !cn_col_vec_is_valid(&left->cols[lk[k]], r);
        if (null_key || pday[r] == INT32_MIN) continue;
        cn_eng__key_encode(left, lk, nk, r, &kb);
        char d[11];
        cn_ds_format(pday[r], d);
        cn_buf_append(&kb, d, 10);
        if (kb.oom) {
            rc = cn_err_set(err, CN_ENOMEM, "out of memory");
            break;
        }
        uint32_t id = cn_eng__rowmap_find(&map, kb.data, kb.len, cn_hash_bytes(kb.data, kb.len, 0x626f6f74));
        if (id == UINT32_MAX) continue;
        hit[r] = first[id];
        b->matched[r] |= UINT64_C(1) << pi;
    }
    /* value columns: everything but keys, ds and ts */
    for (uint32_t c = 0; c < rs->n_fields && rc == 0; c++) {
        const char *cn = rs->fields[c].name;
        bool is_key = !strcmp(cn, LDS) || !strcmp(cn, "ts") || !strcmp(cn, CN_ICE_DS);
        for (size_t k = 0; k < keys->n && !is_key; k++) is_key = !strcmp(keys->items[k], cn);
        if (is_key) continue;
        if (!strcmp(cn, "schema_hash") || !strcmp(cn, "matched_hashes") || !strcmp(cn, "bootstrap_hash")) {
            rc = cn_err_set(err, CN_ECONFIG,
                            "join %s: bootstrapParts[%zu]: table %s has the column %s, which is reserved (log-table "
                            "bootstraps are not supported)",
                            jn, pi, tb, cn);
            break;
        }
        int oc = cn_col_schema_find(b->schema, cn);
        if (oc >= 0 && !cn_col_type_equal(b->schema->fields[oc].type, rs->fields[c].type)) {
            char t1[64], t2[64];
            rc = cn_err_set(err, CN_ECONFIG, "join %s: bootstrapParts[%zu]: column %s is %s in table %s but %s in an "
                                             "earlier bootstrap part",
                            jn, pi, cn, cn_col_type_name(rs->fields[c].type, t1, sizeof t1), tb,
                            cn_col_type_name(b->schema->fields[oc].type, t2, sizeof t2));
            break;
        }
        CnSchema *ns = NULL;
        CnBatch *nb = NULL;
        rc = cn_col_schema_new(&ns);
        for (uint32_t f = 0; f < b->schema->n_fields && rc == 0; f++) {
            const CnType *t = cn_col_type_copy(&ns->arena, b->schema->fields[f].type);
            rc = t ? cn_col_schema_add(ns, b->schema->fields[f].name, t, true, CN_COL_NO_ID, err)
                   : cn_err_set(err, CN_ENOMEM, "out of memory");
        }
        if (rc == 0 && oc < 0) {
            const CnType *t = cn_col_type_copy(&ns->arena, rs->fields[c].type);
            rc = t ? cn_col_schema_add(ns, cn, t, true, CN_COL_NO_ID, err) : cn_err_set(err, CN_ENOMEM, "out of memory");
        }
        if (rc == 0) rc = cn_col_batch_new(ns, &nb, err);
        if (rc) {
            cn_col_schema_free(ns);
            break;
        }
        uint32_t target = oc >= 0 ? (uint32_t)oc : b->schema->n_fields;
        for (uint32_t f = 0; f < ns->n_fields; f++) {
            const CnVec *src = &pr->rows->cols[c];
            for (uint32_t r = 0; r < left->n_rows; r++) {
                const CnVec *old = f < b->vals->n_cols ? &b->vals->cols[f] : NULL;
                if (f != target || (old && cn_col_vec_is_valid(old, r))) {
                    if (old) cn_col_vec_append_from(&nb->cols[f], old, r);
                    else cn_col_vec_append_null(&nb->cols[f]);
                } else if (hit[r] != UINT32_MAX) {
                    cn_col_vec_append_from(&nb->cols[f], src, hit[r]);
                } else {
                    cn_col_vec_append_null(&nb->cols[f]);
                }
            }
        }
        rc = cn_col_batch_sync_rows(nb, err);
        if (rc) {
            cn_col_batch_free(nb);
            cn_col_schema_free(ns);
            break;
        }
        if (oc < 0) {
            uint64_t *pv = cn_realloc(b->provides, ((size_t)ns->n_fields + 1) * sizeof *pv);
            if (!pv) {
                cn_col_batch_free(nb);
                cn_col_schema_free(ns);
                rc = cn_err_set(err, CN_ENOMEM, "out of memory");
                break;
            }
            b->provides = pv;
            pv[target] = 0;
        }
        b->provides[target] |= UINT64_C(1) << pi;
        cn_col_batch_free(b->vals);
        cn_col_schema_free(b->schema);
        b->vals = nb;
        b->schema = ns;
    }
    cn_eng__rowmap_fini(&map);
    cn_buf_fini(&kb);
    cn_free(first);
    cn_free(hit);
    return rc;
}

int cn_eng__boot_join(CnIceCatalog *cat, const CnJoin *j, const CnBatch *left, const int32_t *pday, int32_t lo,
                      int32_t hi, CnEngBoot **out, CnErr *err) {
    *out = NULL;
    const char *jn = j->meta.name ? j->meta.name : "?";
    if (j->n_bootstraps > CN_ENG_BOOT_MAX)
        return cn_err_set(err, CN_ECONFIG, "join %s: bootstrapParts: %zu parts, at most %d are supported", jn,
                          j->n_bootstraps, CN_ENG_BOOT_MAX);
    CnEngBoot *b = cn_calloc(1, sizeof *b);
    CnArena a;
    cn_arena_init(&a, 0);
    int rc = b ? cn_col_schema_new(&b->schema) : cn_err_set(err, CN_ENOMEM, "out of memory");
    if (rc == 0) rc = cn_col_batch_new(b->schema, &b->vals, err);
    if (rc) goto done;
    b->n_parts = (uint32_t)j->n_bootstraps;
    b->matched = cn_calloc((size_t)left->n_rows + 1, sizeof *b->matched);
    b->tables = cn_calloc(j->n_bootstraps + 1, sizeof *b->tables);
    b->hash_hex = cn_calloc(j->n_bootstraps + 1, sizeof *b->hash_hex);
    if (!b->matched || !b->tables || !b->hash_hex) {
        rc = cn_err_set(err, CN_ENOMEM, "out of memory");
        goto done;
    }
    b->vals->n_rows = left->n_rows; /* no columns yet */
    for (size_t i = 0; i < j->n_bootstraps && rc == 0; i++) {
        const CnBootstrapPart *bp = &j->bootstraps[i];
        b->tables[i] = bp->table;
        snprintf(b->hash_hex[i], sizeof b->hash_hex[i], "%016llx", (unsigned long long)cn_eng__boot_part_hash(j, i));
        if (!bp->table || !*bp->table) {
            rc = cn_err_set(err, CN_ECONFIG, "join %s: bootstrapParts[%zu]: table is not set", jn, i);
            break;
        }
        const CnStrList *keys = part_keys(j, i);
        if (!keys || !keys->n) {
            rc = cn_err_set(err, CN_ECONFIG,
                            "join %s: bootstrapParts[%zu] (table %s): no keyColumns and the join sets no rowIds "
                            "(a bootstrap part joins on one of them plus ds)",
                            jn, i, bp->table);
            break;
        }
        int32_t plo = lo, phi = hi;
        if (bp->has_query) {
            int32_t qlo = ds_days(bp->query.start_partition, INT32_MIN), qhi = ds_days(bp->query.end_partition, INT32_MAX);
            if (qlo > plo) plo = qlo;
            if (qhi < phi) phi = qhi;
        }
        if (plo > phi) continue; /* the part's range misses the chunk */
        PartRows pr = {0};
        rc = part_scan(cat, bp, &a, plo, phi, &pr, err);
        if (rc) rc = cn_err_ctx(err, rc, "join %s: bootstrapParts[%zu] (table %s)", jn, i, bp->table);
        if (rc == 0) rc = part_join(j, i, &pr, left, pday, b, &a, err);
        cn_expr_query_free(pr.q);
        cn_col_batch_free(pr.rows);
    }
done:
    cn_arena_fini(&a);
    if (rc) {
        cn_eng__boot_free(b);
        return rc;
    }
    *out = b;
    return 0;
}
