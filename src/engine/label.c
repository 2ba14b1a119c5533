/* label.c: label joins (see label.h; docs/joins.md "Label joins"). */
#include "engine/label.h"

#include <stdio.h>
#include <string.h>

#include "base/alloc.h"
#include "base/date.h"
#include "base/hash.h"
#include "base/log.h"
#include "engine/eng_int.h"
#include "engine/rowmap.h"

#define LABEL_DS "label_ds"

/* One label part while it is joined. */
typedef struct LabelPart {
    const CnJoinPart *jp;
    const char *prefix;   /* fullPrefix */
    const char **lkeys;   /* left names of the GroupBy keys, key order */
    int *lcol;            /* their columns in the left rows */
    uint32_t n_keys;
    CnSchema *ss;         /* schema of snap (a batch borrows its schema) */
    CnBatch *snap;        /* label values: columns [v0, n) of row hit[r] */
    uint32_t v0;
    uint32_t *hit;        /* per left row: snapshot row or UINT32_MAX */
} LabelPart;

/* One output column: left column (src < 0) or value column v of part p. */
typedef struct OutCol {
    const char *name;
    int p, c;             /* p < 0: left column c */
} OutCol;

/* CN_ECONFIG "join <name>: labelPart: <what>" (what NULL: out of memory). */
static int bad(CnErr *err, const CnJoin *j, const char *what) {
    if (!what) return cn_err_set(err, CN_ENOMEM, "out of memory");
    return cn_err_set(err, CN_ECONFIG, "join %s: labelPart: %s", j->meta.name ? j->meta.name : "?", what);
}

/* Chronon's checks (LabelJoin.computeLabelJoin and the DSL's LabelPart). */
static int check_label(const CnJoin *j, CnArena *a, CnErr *err) {
    const CnLabelPart *lp = j->label_part;
    const char *jn = j->meta.name ? j->meta.name : "?";
    if (!lp) return cn_err_set(err, CN_ECONFIG, "join %s has no labelPart: nothing for --mode label-join to compute", jn);
    if (j->left.kind != CN_CONF_SRC_EVENTS)
        return bad(err, j, "a label join needs an events left (left is not events)");
    if (!lp->has_left_start_offset || !lp->has_left_end_offset)
        return bad(err, j, "leftStartOffset and leftEndOffset are both required");
    if (lp->left_start_offset < lp->left_end_offset)
        return bad(err, j,
                   cn_arena_printf(a, "leftStartOffset %d must be >= leftEndOffset %d (the start is the earlier day)",
                                   lp->left_start_offset, lp->left_end_offset));
    if (!lp->n_labels) return bad(err, j, "labels is empty");
    for (size_t i = 0; i < lp->n_labels; i++) {
        const CnGroupBy *gb = lp->labels[i].group_by;
        if (!gb) return bad(err, j, cn_arena_printf(a, "labels[%zu] has no groupBy", i));
        const char *gn = gb->meta.name ? gb->meta.name : "?";
        CnSourceKind want = gb->has_aggregations ? CN_CONF_SRC_EVENTS : CN_CONF_SRC_ENTITIES;
        for (size_t s = 0; s < gb->n_sources; s++)
            if (gb->sources[s].kind != want)
                return bad(err, j,
                           cn_arena_printf(a, "labels[%zu] (%s): sources[%zu] must be %s for a label GroupBy %s "
                                              "aggregations",
                                           i, gn, s, want == CN_CONF_SRC_EVENTS ? "events" : "entities",
                                           gb->has_aggregations ? "with" : "without"));
        if (!gb->has_aggregations) continue;
        if (gb->n_aggs != 1)
            return bad(err, j,
                       cn_arena_printf(a, "labels[%zu] (%s): %zu aggregations, a label GroupBy has exactly one", i, gn,
                                       gb->n_aggs));
        const CnAggregation *ag = &gb->aggs[0];
        if (!ag->has_windows || ag->n_windows != 1)
            return bad(err, j,
                       cn_arena_printf(a, "labels[%zu] (%s): aggregations[0] needs exactly one window (has %zu)", i,
                                       gn, ag->has_windows ? ag->n_windows : 0));
        if (ag->windows[0].unit != CN_CONF_DAYS)
            return bad(err, j,
                       cn_arena_printf(a, "labels[%zu] (%s): aggregations[0] window %dh must be in DAYS", i, gn,
                                       ag->windows[0].length));
        int32_t w = ag->windows[0].length;
        if (lp->left_start_offset != w || lp->left_end_offset != w)
            return bad(err, j,
                       cn_arena_printf(a, "labels[%zu] (%s): leftStartOffset %d and leftEndOffset %d must both equal "
                                          "the window length %d",
                                       i, gn, lp->left_start_offset, lp->left_end_offset, w));
        if (lp->n_labels != 1)
            return bad(err, j,
                       cn_arena_printf(a, "labels[%zu] (%s) has aggregations, so it must be the only label part "
                                          "(there are %zu)",
                                       i, gn, lp->n_labels));
    }
    return 0;
}

static int find_col(const CnBatch *rows, const int *order, uint32_t n_order, const char *name) {
    for (uint32_t i = 0; i < n_order; i++)
        if (!strcmp(rows->schema->fields[order[i]].name, name)) return order[i];
    return -1;
}

/* Row identifier: rowIds, else the label parts' left keys in first-seen order; ds is
 * implied (kept as pday). Every name must be a left column. */
static int row_ids(const CnJoin *j, CnArena *a, const CnBatch *rows, const int *order, uint32_t n_order,
                   const char ***names, int **cols, uint32_t *n, CnErr *err) {
    const CnLabelPart *lp = j->label_part;
    size_t cap = j->has_row_ids ? j->row_ids.n : 0;
    for (size_t i = 0; i < lp->n_labels; i++) cap += lp->labels[i].group_by->key_columns.n;
    *names = cn_arena_alloc(a, (cap + 1) * sizeof **names);
    *cols = cn_arena_alloc(a, (cap + 1) * sizeof **cols);
    if (!*names || !*cols) return cn_err_set(err, CN_ENOMEM, "out of memory");
    *n = 0;
    bool user = j->has_row_ids && j->row_ids.n;
    for (size_t i = 0; i < (user ? 1 : lp->n_labels); i++) {
        const char **ks = user ? (const char **)j->row_ids.items : cn_conf_join_part_left_keys(a, &lp->labels[i]);
        size_t nk = user ? j->row_ids.n : lp->labels[i].group_by->key_columns.n;
        if (!ks) return cn_err_set(err, CN_ENOMEM, "out of memory");
        for (size_t k = 0; k < nk; k++) {
            if (!strcmp(ks[k], CN_ICE_DS)) continue;
            bool dup = false;
            for (uint32_t x = 0; x < *n; x++) dup = dup || !strcmp((*names)[x], ks[k]);
            if (dup) continue;
            int c = find_col(rows, order, n_order, ks[k]);
            if (c < 0)
                return cn_err_set(err, CN_ECONFIG, "join %s: %s column %s is not a column of the left query",
                                  j->meta.name, user ? "rowIds" : "labelPart key", ks[k]);
            (*names)[*n] = ks[k];
            (*cols)[(*n)++] = c;
        }
    }
    return 0;
}

/* Label values of an aggregation part: the snapshot of day L of events is the value at
 * q = epoch(L+1) (a window of whole days starts at midnight, so floor(q-W, H) = q-W),
 * asked for every left row. cn_eng_gb_snapshot would skip a day without a source
 * partition (a GroupBy backfill writes no such day), while Chronon's label run computes
 * it. Fills p->ss (values), p->snap (one row per left row), p->hit. */
static int agg_values(CnEngGroupBy *g, LabelPart *p, const CnBatch *rows, int64_t L, CnErr *err) {
    const CnSchema *ks = cn_eng_gb_key_schema(g), *vs = cn_eng_gb_value_schema(g);
    CnSchema *qs = NULL;
    CnBatch *qb = NULL;
    int rc = cn_col_schema_new(&qs) ? cn_err_set(err, CN_ENOMEM, "out of memory") : 0;
    for (uint32_t i = 0; i < ks->n_fields && rc == 0; i++)
        rc = cn_col_schema_add(qs, ks->fields[i].name, cn_col_type_copy(&qs->arena, ks->fields[i].type), true,
                               CN_COL_NO_ID, err);
    if (rc == 0) rc = cn_col_schema_add(qs, "ts", cn_col_type_prim(CN_COL_INT64), true, CN_COL_NO_ID, err);
    for (uint32_t i = 0; i < vs->n_fields && rc == 0; i++)
        rc = cn_col_schema_add(p->ss, vs->fields[i].name, cn_col_type_copy(&p->ss->arena, vs->fields[i].type), true,
                               CN_COL_NO_ID, err);
    if (rc == 0) rc = cn_col_batch_new(qs, &qb, err);
    if (rc == 0) rc = cn_col_batch_new(p->ss, &p->snap, err);
    int64_t q = (L + 1) * INT64_C(86400000);
    for (uint32_t r = 0; r < rows->n_rows && rc == 0; r++) {
        for (uint32_t k = 0; k < p->n_keys && rc == 0; k++) rc = cn_col_vec_append_from(&qb->cols[k], &rows->cols[p->lcol[k]], r);
        if (rc == 0) rc = cn_col_vec_append_i64(&qb->cols[p->n_keys], q);
        if (rc) rc = cn_err_set(err, CN_ENOMEM, "out of memory");
        p->hit[r] = r;
    }
    if (rc == 0) rc = cn_col_batch_sync_rows(qb, err);
    if (rc == 0) rc = cn_eng_gb_values_at(g, qb, p->snap, err);
    cn_col_batch_free(qb);
    cn_col_schema_free(qs);
    return rc;
}

/* Snapshot of label day L of part p's GroupBy, and the snapshot row of each left row. */
static int part_eval(CnIceCatalog *cat, const CnJoin *j, LabelPart *p, const CnBatch *rows, const int *rid_cols,
                     uint32_t n_rid, CnArena *a, const char *label_ds, const CnEngOpts *o, CnErr *err) {
    const CnGroupBy *gb = p->jp->group_by;
    CnEngGroupBy *g = NULL;
    CnSchema *ss = NULL;
    CnEngRowMap map;
    memset(&map, 0, sizeof map);
    CnBuf kb = CN_BUF_INIT;
    uint32_t *first = NULL;
    char lo[11];
    int64_t L = 0;
    cn_ds_parse(label_ds, &L);
    /* the window's partitions (a row is never stored before its ts day); entities: day L */
    int32_t back = gb->has_aggregations ? gb->aggs[0].windows[0].length : 0;
    cn_ds_format(L - back, lo);
    int rc = cn_eng_gb_open(cat, gb, lo, label_ds, o, &g, err);
    if (rc) goto done;
    const CnSchema *ks = cn_eng_gb_key_schema(g);
    for (uint32_t k = 0; k < p->n_keys; k++) {
        bool in_rid = false;
        for (uint32_t x = 0; x < n_rid; x++) in_rid = in_rid || rid_cols[x] == p->lcol[k];
        if (p->lcol[k] < 0 || !in_rid) {
            rc = cn_err_set(err, CN_ECONFIG,
                            "join %s: labelPart part %s: key %s (left column %s) is not a row identifier column "
                            "(rowIds, plus ds)",
                            j->meta.name, p->prefix, gb->key_columns.items[k], p->lkeys[k]);
            goto done;
        }
        const CnType *lt = rows->schema->fields[p->lcol[k]].type, *rt = ks->fields[k].type;
        if (!cn_col_type_equal(lt, rt)) {
            char t1[64], t2[64];
            rc = cn_err_set(err, CN_ECONFIG,
                            "join %s: labelPart part %s: left column %s is %s but GroupBy %s key %s is %s", j->meta.name,
                            p->prefix, p->lkeys[k], cn_col_type_name(lt, t1, sizeof t1), gb->meta.name,
                            ks->fields[k].name, cn_col_type_name(rt, t2, sizeof t2));
            goto done;
        }
    }
    rc = cn_col_schema_new(&ss) ? cn_err_set(err, CN_ENOMEM, "out of memory") : 0;
    p->ss = ss;
    p->hit = cn_arena_alloc(a, ((size_t)rows->n_rows + 1) * sizeof *p->hit);
    if (rc == 0 && !p->hit) rc = cn_err_set(err, CN_ENOMEM, "out of memory");
    if (rc) goto done;
    if (gb->has_aggregations) { /* the value at q = epoch(L+1) of each left row's key */
        rc = agg_values(g, p, rows, L, err);
        goto done;
    }
    for (int k = 0; k < 2 && rc == 0; k++) {
        const CnSchema *s = k ? cn_eng_gb_value_schema(g) : ks;
        for (uint32_t i = 0; i < s->n_fields && rc == 0; i++)
            rc = cn_col_schema_add(ss, s->fields[i].name, cn_col_type_copy(&ss->arena, s->fields[i].type), true,
                                   CN_COL_NO_ID, err);
    }
    p->v0 = p->n_keys;
    if (rc == 0) rc = cn_col_batch_new(ss, &p->snap, err);
    if (rc == 0) rc = cn_eng_gb_snapshot(g, label_ds, p->snap, err);
    if (rc) goto done;
    /* first snapshot row per key (an entity snapshot may hold a key twice) */
    int kc[64], *lc = p->lcol;
    if (p->n_keys > 64) {
        rc = cn_err_set(err, CN_EUNSUPPORTED, "join %s: labelPart part %s has more than 64 keys", j->meta.name, p->prefix);
        goto done;
    }
    for (uint32_t k = 0; k < p->n_keys; k++) kc[k] = (int)k;
    first = cn_malloc(((size_t)p->snap->n_rows + 1) * sizeof *first);
    if (!first) rc = cn_err_set(err, CN_ENOMEM, "out of memory");
    for (uint32_t r = 0, n_first = 0; r < p->snap->n_rows && rc == 0; r++) {
        if (!cn_eng__key_encode(p->snap, kc, p->n_keys, r, &kb)) continue; /* every key null */
        bool null_key = false;
        for (uint32_t k = 0; k < p->n_keys; k++) null_key = null_key || !cn_col_vec_is_valid(&p->snap->cols[k], r);
        uint64_t h = cn_hash_bytes(kb.data, kb.len, 0x6c61626c);
        if (kb.oom) rc = cn_err_set(err, CN_ENOMEM, "out of memory");
        if (rc || null_key || cn_eng__rowmap_find(&map, kb.data, kb.len, h) != UINT32_MAX) continue;
        if (!cn_eng__rowmap_add(&map, kb.data, kb.len, h)) rc = cn_err_set(err, CN_ENOMEM, "out of memory");
        first[n_first++] = r;
    }
    for (uint32_t r = 0; r < rows->n_rows && rc == 0; r++) {
        p->hit[r] = UINT32_MAX;
        bool null_key = false; /* a null key matches nothing */
        for (uint32_t k = 0; k < p->n_keys; k++) null_key = null_key || !cn_col_vec_is_valid(&rows->cols[lc[k]], r);
        if (null_key) continue;
        cn_eng__key_encode(rows, lc, p->n_keys, r, &kb);
        if (kb.oom) {
            rc = cn_err_set(err, CN_ENOMEM, "out of memory");
            break;
        }
        uint32_t id = cn_eng__rowmap_find(&map, kb.data, kb.len, cn_hash_bytes(kb.data, kb.len, 0x6c61626c));
        if (id != UINT32_MAX) p->hit[r] = first[id];
    }
done:
    if (rc) rc = cn_err_ctx(err, rc, "labelPart GroupBy %s", gb->meta.name ? gb->meta.name : "?");
    cn_buf_fini(&kb);
    cn_eng__rowmap_fini(&map);
    cn_free(first);
    cn_eng_gb_free(g);
    return rc;
}

/* Spark's left outer join on usingColumns puts the keys first, then the rest of the left
 * side, then the right's values; a join per label part, in order. */
static int fold_columns(const CnJoin *j, LabelPart *parts, size_t n_parts, const CnBatch *rows, const int *order,
                        uint32_t n_order, const int *rid_cols, uint32_t n_rid, CnArena *a, OutCol **out,
                        uint32_t *n_out, CnErr *err) {
    uint32_t cap = n_rid + 1;
    for (size_t i = 0; i < n_parts; i++) cap += parts[i].snap->schema->n_fields;
    OutCol *cur = cn_arena_alloc(a, cap * sizeof *cur), *nxt = cn_arena_alloc(a, cap * sizeof *nxt);
    if (!cur || !nxt) return cn_err_set(err, CN_ENOMEM, "out of memory");
    uint32_t n = 0;
    for (uint32_t i = 0; i < n_order; i++) /* the row identifier columns, left order */
        for (uint32_t x = 0; x < n_rid; x++)
            if (rid_cols[x] == order[i]) cur[n++] = (OutCol){rows->schema->fields[order[i]].name, -1, order[i]};
    for (size_t p = 0; p < n_parts; p++) {
        uint32_t m = 0;
        for (uint32_t k = 0; k < parts[p].n_keys; k++) {
            bool dup = false;
            for (uint32_t x = 0; x < m; x++) dup = dup || nxt[x].c == parts[p].lcol[k];
            if (!dup) nxt[m++] = (OutCol){parts[p].lkeys[k], -1, parts[p].lcol[k]};
        }
        for (uint32_t i = 0; i < n; i++) {
            bool key = false;
            for (uint32_t k = 0; k < parts[p].n_keys; k++) key = key || (cur[i].p < 0 && cur[i].c == parts[p].lcol[k]);
            if (!key) nxt[m++] = cur[i];
        }
        const CnSchema *ss = parts[p].snap->schema;
        for (uint32_t v = parts[p].v0; v < ss->n_fields; v++) {
            const char *nm = cn_arena_printf(a, "%s_%s", parts[p].prefix, ss->fields[v].name);
            for (uint32_t x = 0; x < m && nm; x++)
                if (!strcmp(nxt[x].name, nm))
                    return cn_err_set(err, CN_ECONFIG, "join %s: labelPart: the column %s is produced twice",
                                      j->meta.name, nm);
            if (!nm) return cn_err_set(err, CN_ENOMEM, "out of memory");
            nxt[m++] = (OutCol){nm, (int)p, (int)v};
        }
        OutCol *t = cur;
        cur = nxt, nxt = t, n = m;
    }
    for (uint32_t i = 0; i < n; i++)
        if (!strcmp(cur[i].name, LABEL_DS) || !strcmp(cur[i].name, CN_ICE_DS))
            return cn_err_set(err, CN_ECONFIG, "join %s: labelPart: the column %s is reserved (partition columns)",
                              j->meta.name, cur[i].name);
    *out = cur, *n_out = n;
    return 0;
}

/* The output batch: one row per row identifier value (first left row), label_ds, ds. */
static int assemble(const CnJoin *j, const LabelPart *parts, const OutCol *oc, uint32_t n_oc, const CnBatch *rows,
                    const int32_t *pday, const int *rid_cols, uint32_t n_rid, const char *label_ds, CnSchema **os,
                    CnBatch **ob, CnErr *err) {
    (void)j;
    CnEngRowMap seen;
    memset(&seen, 0, sizeof seen);
    CnBuf kb = CN_BUF_INIT;
    int rc = cn_col_schema_new(os) ? cn_err_set(err, CN_ENOMEM, "out of memory") : 0;
    for (uint32_t i = 0; i < n_oc && rc == 0; i++) {
        const CnType *t = oc[i].p < 0 ? rows->schema->fields[oc[i].c].type : parts[oc[i].p].snap->schema->fields[oc[i].c].type;
        rc = cn_col_schema_add(*os, oc[i].name, cn_col_type_copy(&(*os)->arena, t), true, CN_COL_NO_ID, err);
    }
    if (rc == 0) rc = cn_col_schema_add(*os, LABEL_DS, cn_col_type_prim(CN_COL_STRING), true, CN_COL_NO_ID, err);
    if (rc == 0) rc = cn_col_schema_add(*os, CN_ICE_DS, cn_col_type_prim(CN_COL_STRING), true, CN_COL_NO_ID, err);
    if (rc == 0) rc = cn_col_batch_new(*os, ob, err);
    for (uint32_t r = 0; r < rows->n_rows && rc == 0; r++) {
        /* dropDuplicates(row identifier): null is a value here, unlike a join key */
        cn_buf_reset(&kb);
        char d[11];
        cn_ds_format(pday[r], d);
        cn_buf_append(&kb, d, 10);
        for (uint32_t x = 0; x < n_rid; x++) {
            CnBuf one = CN_BUF_INIT;
            bool valid = cn_col_vec_is_valid(&rows->cols[rid_cols[x]], r);
            if (valid) cn_eng__key_encode(rows, &rid_cols[x], 1, r, &one);
            uint64_t len = valid ? one.len : UINT64_MAX;
            cn_buf_append(&kb, &len, sizeof len);
            if (valid) cn_buf_append(&kb, one.data, one.len);
            cn_buf_fini(&one);
        }
        uint64_t h = cn_hash_bytes(kb.data, kb.len, 0x726f7769);
        if (kb.oom) rc = cn_err_set(err, CN_ENOMEM, "out of memory");
        if (rc || cn_eng__rowmap_find(&seen, kb.data, kb.len, h) != UINT32_MAX) continue;
        if (!cn_eng__rowmap_add(&seen, kb.data, kb.len, h)) rc = cn_err_set(err, CN_ENOMEM, "out of memory");
        for (uint32_t i = 0; i < n_oc && rc == 0; i++) {
            CnVec *dst = &(*ob)->cols[i];
            if (oc[i].p < 0) rc = cn_col_vec_append_from(dst, &rows->cols[oc[i].c], r);
            else if (parts[oc[i].p].hit[r] == UINT32_MAX) rc = cn_col_vec_append_null(dst);
            else rc = cn_col_vec_append_from(dst, &parts[oc[i].p].snap->cols[oc[i].c], parts[oc[i].p].hit[r]);
        }
        if (rc == 0) rc = cn_col_vec_append_str(&(*ob)->cols[n_oc], label_ds, 10);
        if (rc == 0) rc = cn_col_vec_append_str(&(*ob)->cols[n_oc + 1], d, 10);
        if (rc) rc = cn_err_set(err, CN_ENOMEM, "out of memory");
    }
    if (rc == 0) rc = cn_col_batch_sync_rows(*ob, err);
    cn_buf_fini(&kb);
    cn_eng__rowmap_fini(&seen);
    return rc;
}

/* Rows of the labels table in [lo, hi] of other label days than label_ds, appended to
 * ob (same columns, checked): a run replaces only its own label version. */
static int keep_other_versions(CnIceCatalog *cat, const char *ns, const char *name, const char *full, const char *lo,
                               const char *hi, const char *label_ds, CnBatch *ob, CnErr *err) {
    CnIceTable *t = NULL;
    CnIceScan *scan = NULL;
    int rc = cn_ice_table_load(cat, ns, name, &t, err);
    if (rc) return rc;
    const CnSchema *ts = cn_ice_table_schema(t), *os = ob->schema;
    bool same = ts->n_fields == os->n_fields;
    for (uint32_t i = 0; same && i < os->n_fields; i++)
        same = !strcmp(ts->fields[i].name, os->fields[i].name) && cn_col_type_equal(ts->fields[i].type, os->fields[i].type);
    if (!same) {
        rc = cn_err_set(err, CN_ECONFIG,
                        "label table %s has other columns (%u) than the labelPart now produces (%u): drop or rename "
                        "the table to recompute it with the new columns",
                        full, ts->n_fields, os->n_fields);
        goto done;
    }
    CnIceScanOpts so;
    memset(&so, 0, sizeof so);
    so.ds_lo = lo, so.ds_hi = hi;
    rc = cn_ice_scan_open(cat, t, &so, &scan, err);
    int i_l = cn_col_schema_find(ts, LABEL_DS);
    while (rc == 0) {
        const CnBatch *in = NULL;
        rc = cn_ice_scan_next(scan, &in, err);
        if (rc || !in) break;
        const CnSchema *bs = in->schema;
        int map[512];
        if (bs->n_fields > 512 || bs->n_fields != os->n_fields) {
            rc = cn_err_set(err, CN_ECORRUPT, "label table %s: a scan returned %u columns", full, bs->n_fields);
            break;
        }
        for (uint32_t c = 0; c < os->n_fields; c++) map[c] = cn_col_schema_find(bs, os->fields[c].name);
        for (uint32_t r = 0; r < in->n_rows && rc == 0; r++) {
            uint32_t len = 0;
            int lc = map[i_l];
            const char *v = lc >= 0 && cn_col_vec_is_valid(&in->cols[lc], r) ? cn_col_vec_str(&in->cols[lc], r, &len) : NULL;
            if (v && len == 10 && !memcmp(v, label_ds, 10)) continue;
            for (uint32_t c = 0; c < os->n_fields && rc == 0; c++)
                rc = map[c] < 0 ? cn_col_vec_append_null(&ob->cols[c]) : cn_col_vec_append_from(&ob->cols[c], &in->cols[map[c]], r);
            if (rc) rc = cn_err_set(err, CN_ENOMEM, "out of memory");
        }
    }
    if (rc == 0) rc = cn_col_batch_sync_rows(ob, err);
done:
    cn_ice_scan_close(scan);
    cn_ice_table_free(t);
    return rc;
}

/* Chronon's JoinUtils.createOrReplaceView over the output and label tables. */
static int make_view(CnIceCatalog *cat, const CnJoin *j, CnArena *a, const char *out_table, const char *label_table,
                     const CnSchema *ls, const char *const *rid, uint32_t n_rid, bool *made, CnErr *err) {
    char ns[129], name[129], vns[129], vname[129];
    const char *view = cn_arena_printf(a, "%s_labeled", out_table);
    CnIceTable *t = NULL;
    CnSchema *vs = NULL;
    CnBuf sql = CN_BUF_INIT;
    *made = false;
    int rc = view ? cn_ice_name_parse(out_table, ns, name, err) : cn_err_set(err, CN_ENOMEM, "out of memory");
    if (rc == 0) rc = cn_ice_name_parse(view, vns, vname, err);
    if (rc || !cn_ice_table_exists(cat, ns, name)) {
        if (rc == 0)
            cn_log(CN_LOG_WARN, "label join %s: output table %s does not exist yet: %s not created (run the backfill, "
                                "then label-join again)",
                   j->meta.name, out_table, view);
        return rc;
    }
    rc = cn_ice_table_load(cat, ns, name, &t, err);
    if (rc == 0) rc = cn_col_schema_new(&vs) ? cn_err_set(err, CN_ENOMEM, "out of memory") : 0;
    if (rc) goto done;
    const CnSchema *fs = cn_ice_table_schema(t);
    cn_buf_printf(&sql, "SELECT ");
    bool first = true;
    /* join keys first (the row identifier, ds last), then the other feature columns */
    for (uint32_t pass = 0; pass < 2 && rc == 0; pass++)
        for (uint32_t i = 0; i < (pass ? fs->n_fields : n_rid + 1) && rc == 0; i++) {
            const char *c = pass ? fs->fields[i].name : (i < n_rid ? rid[i] : CN_ICE_DS);
            bool is_key = !strcmp(c, CN_ICE_DS);
            for (uint32_t x = 0; x < n_rid && pass; x++) is_key = is_key || !strcmp(rid[x], c);
            if (pass && is_key) continue;
            int fc = cn_col_schema_find(fs, c);
            if (fc < 0) {
                rc = cn_err_set(err, CN_ECONFIG, "label join %s: output table %s has no row identifier column %s",
                                j->meta.name, out_table, c);
                break;
            }
            cn_buf_printf(&sql, "%sl.`%s`", first ? "" : ", ", c);
            first = false;
            rc = cn_col_schema_add(vs, c, cn_col_type_copy(&vs->arena, fs->fields[fc].type), true, CN_COL_NO_ID, err);
        }
    for (uint32_t i = 0; i < ls->n_fields && rc == 0; i++) {
        const char *c = ls->fields[i].name;
        bool is_key = !strcmp(c, CN_ICE_DS);
        for (uint32_t x = 0; x < n_rid; x++) is_key = is_key || !strcmp(rid[x], c);
        if (is_key) continue;
        bool keep = !strncmp(c, "label", 5);
        const char *as = keep ? c : cn_arena_printf(a, "label_%s", c);
        if (keep) cn_buf_printf(&sql, ", r.`%s`", c);
        else cn_buf_printf(&sql, ", r.`%s` AS `%s`", c, as);
        rc = cn_col_schema_find(vs, as) >= 0
                 ? cn_err_set(err, CN_ECONFIG, "label join %s: view %s would have the column %s twice", j->meta.name,
                              view, as)
                 : cn_col_schema_add(vs, as, cn_col_type_copy(&vs->arena, ls->fields[i].type), true, CN_COL_NO_ID, err);
    }
    cn_buf_printf(&sql, " FROM %s AS l LEFT OUTER JOIN %s AS r ON ", out_table, label_table);
    for (uint32_t i = 0; i <= n_rid; i++) {
        const char *c = i < n_rid ? rid[i] : CN_ICE_DS;
        cn_buf_printf(&sql, "%sl.`%s` = r.`%s`", i ? " AND " : "", c, c);
    }
    if (rc == 0 && sql.oom) rc = cn_err_set(err, CN_ENOMEM, "out of memory");
    if (rc) goto done;
    const char *props[] = {"label_table", label_table, "feature_table", out_table};
    rc = cn_ice_view_replace(cat, vns, vname, (const char *)sql.data, vs, props, 2, err);
    /* _labeled_latest (JoinUtils.createLatestLabelView): per ds, the rows of its latest
     * label_ds; a ds without labels keeps its rows. Chronon writes the latest label_ds of
     * each ds into the SQL; asking the labels table at query time gives the same rows. */
    const char *latest = cn_arena_printf(a, "%s_latest", vname);
    cn_buf_reset(&sql);
    cn_buf_printf(&sql,
                  "SELECT * FROM %s AS v WHERE CASE WHEN (SELECT max(m.`%s`) FROM %s AS m WHERE m.`%s` = v.`%s`) IS "
                  "NULL THEN 1 ELSE v.`%s` = (SELECT max(m.`%s`) FROM %s AS m WHERE m.`%s` = v.`%s`) END",
                  view, LABEL_DS, label_table, CN_ICE_DS, CN_ICE_DS, LABEL_DS, LABEL_DS, label_table, CN_ICE_DS,
                  CN_ICE_DS);
    if (rc == 0 && (!latest || sql.oom)) rc = cn_err_set(err, CN_ENOMEM, "out of memory");
    if (rc == 0) rc = cn_ice_view_replace(cat, vns, latest, (const char *)sql.data, vs, props, 2, err);
    *made = rc == 0;
done:
    cn_buf_fini(&sql);
    cn_col_schema_free(vs);
    cn_ice_table_free(t);
    return rc;
}

/* What every step of one run shares. */
typedef struct LabelRun {
    CnIceCatalog *cat;
    const CnJoin *j;
    const char *label_ds, *out_table, *label_table;
    const CnEngOpts *opts;
    bool view_tried;        /* the _labeled views are made once, by the first step that writes */
    bool several;           /* more than one step: errors name the step's days */
} LabelRun;

/* One step of LabelJoin.compute: left days [c0, c1] labelled and written in one overwrite
 * commit of those partitions (other label versions of them kept). A step without left
 * rows writes nothing, as Chronon skips an empty left range. */
static int label_step(LabelRun *run, int32_t c0, int32_t c1, CnEngLabelStats *st, CnErr *err) {
    const CnJoin *j = run->j;
    const CnLabelPart *lp = j->label_part;
    CnArena a;
    cn_arena_init(&a, 0);
    CnBatch *rows = NULL, *ob = NULL;
    CnExprQuery *lq = NULL;
    CnSchema *os = NULL;
    CnIceWrite *w = NULL;
    int32_t *pday = NULL;
    LabelPart *parts = NULL;
    size_t n_parts = 0;
    char s_lo[11], s_hi[11];
    cn_ds_format(c0, s_lo);
    cn_ds_format(c1, s_hi);
    const int *order = NULL;
    uint32_t n_order = 0;
    int rc = cn_eng__join_left_rows(run->cat, j, &a, c0, c1, &lq, &rows, &pday, &order, &n_order, err);
    if (rc) goto done;
    const char **rid = NULL;
    int *rid_cols = NULL;
    uint32_t n_rid = 0;
    rc = row_ids(j, &a, rows, order, n_order, &rid, &rid_cols, &n_rid, err);
    if (rc) goto done;
    if (!rows->n_rows) {
        cn_log(CN_LOG_INFO, "label join %s: no left rows in %s..%s: nothing written", j->meta.name, s_lo, s_hi);
        goto done;
    }
    n_parts = lp->n_labels;
    parts = cn_arena_alloc(&a, n_parts * sizeof *parts);
    if (!parts) {
        rc = cn_err_set(err, CN_ENOMEM, "out of memory");
        goto done;
    }
    memset(parts, 0, n_parts * sizeof *parts);
    for (size_t i = 0; i < n_parts && rc == 0; i++) {
        LabelPart *p = &parts[i];
        p->jp = &lp->labels[i];
        p->prefix = cn_conf_join_part_prefix(&a, p->jp);
        p->lkeys = cn_conf_join_part_left_keys(&a, p->jp);
        p->n_keys = (uint32_t)p->jp->group_by->key_columns.n;
        p->lcol = cn_arena_alloc(&a, (p->n_keys + 1) * sizeof *p->lcol);
        if (!p->prefix || !p->lkeys || !p->lcol) {
            rc = cn_err_set(err, CN_ENOMEM, "out of memory");
            break;
        }
        for (uint32_t k = 0; k < p->n_keys; k++) p->lcol[k] = find_col(rows, order, n_order, p->lkeys[k]);
        rc = part_eval(run->cat, j, p, rows, rid_cols, n_rid, &a, run->label_ds, run->opts, err);
    }
    OutCol *oc = NULL;
    uint32_t n_oc = 0;
    if (rc == 0) rc = fold_columns(j, parts, n_parts, rows, order, n_order, rid_cols, n_rid, &a, &oc, &n_oc, err);
    if (rc == 0) rc = assemble(j, parts, oc, n_oc, rows, pday, rid_cols, n_rid, run->label_ds, &os, &ob, err);
    if (rc) goto done;
    int64_t n_new = ob->n_rows;
    char ns[129], name[129];
    rc = cn_ice_name_parse(run->label_table, ns, name, err);
    if (rc == 0 && cn_ice_table_exists(run->cat, ns, name))
        rc = keep_other_versions(run->cat, ns, name, run->label_table, s_lo, s_hi, run->label_ds, ob, err);
    else if (rc == 0) {
        const char *props[] = {"chronon_table_type", "label"};
        rc = cn_ice_table_create(run->cat, ns, name, os, props, 1, err);
    }
    /* the view before the first write: a view error leaves the labels as they were */
    if (rc == 0 && !run->view_tried) {
        run->view_tried = true;
        rc = make_view(run->cat, j, &a, run->out_table, run->label_table, os, rid, n_rid, &st->view, err);
    }
    if (rc == 0) rc = cn_ice_write_begin(run->cat, ns, name, CN_ICE_OVERWRITE, &w, err);
    for (int32_t d = c0; d <= c1 && rc == 0; d++) {
        char ds[11];
        cn_ds_format(d, ds);
        rc = cn_ice_write_touch_partition(w, ds, err);
    }
    if (rc == 0) rc = cn_ice_write_batch(w, ob, err);
    if (rc == 0) rc = cn_ice_write_commit(w, NULL, err);
    if (rc == 0) {
        st->rows_written += n_new;
        st->steps_written++;
        cn_log(CN_LOG_INFO, "label join %s: left days %s..%s (label_ds %s): wrote %lld rows", j->meta.name, s_lo,
               s_hi, run->label_ds, (long long)n_new);
    }
done:
    if (rc && run->several) rc = cn_err_ctx(err, rc, "step of left days %s..%s", s_lo, s_hi);
    for (size_t i = 0; parts && i < n_parts; i++) {
        cn_col_batch_free(parts[i].snap);
        cn_col_schema_free(parts[i].ss);
    }
    cn_ice_write_free(w);
    cn_col_batch_free(ob);
    cn_col_schema_free(os);
    cn_col_batch_free(rows);
    cn_expr_query_free(lq);
    cn_free(pday);
    cn_arena_fini(&a);
    return rc;
}

int cn_eng_label_join(CnIceCatalog *cat, const CnJoin *j, const char *label_ds, const CnEngOpts *opts,
                      CnEngLabelStats *stats, CnErr *err) {
    CnArena a;
    cn_arena_init(&a, 0);
    CnEngLabelStats st;
    memset(&st, 0, sizeof st);
    int64_t L = 0;
    int rc = check_label(j, &a, err);
    if (rc) goto done;
    if (!label_ds || cn_ds_parse(label_ds, &L)) {
        rc = cn_err_set(err, CN_EINVAL, "label day '%s' is not a date (expected YYYY-MM-DD in --ds)",
                        label_ds ? label_ds : "");
        goto done;
    }
    const CnLabelPart *lp = j->label_part;
    int32_t lo = (int32_t)(L - (lp->left_start_offset - 1)), hi = (int32_t)(L - (lp->left_end_offset - 1));
    cn_ds_format(lo, st.left_lo);
    cn_ds_format(hi, st.left_hi);
    /* PartitionRange.steps: consecutive runs of step_days left days (Chronon's default 30) */
    int32_t step = opts && opts->step_days > 0 ? opts->step_days : 30;
    LabelRun run = {cat, j, label_ds, cn_conf_output_table(&a, &j->meta, err), NULL, opts, false, hi - lo >= step};
    run.label_table = run.out_table ? cn_arena_printf(&a, "%s_labels", run.out_table) : NULL;
    if (!run.out_table || !run.label_table) {
        rc = err->code ? err->code : cn_err_set(err, CN_ENOMEM, "out of memory");
        goto done;
    }
    for (int32_t c0 = lo; c0 <= hi && rc == 0; c0 += step) {
        int32_t c1 = hi - c0 >= step ? c0 + step - 1 : hi;
        st.steps++;
        rc = label_step(&run, c0, c1, &st, err);
    }
done:
    if (stats) *stats = st;
    cn_arena_fini(&a);
    return cn_err_ctx(err, rc, "label join %s", j->meta.name ? j->meta.name : "?");
}
