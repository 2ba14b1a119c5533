/* backfill.c: partitions to compute (compute.md section 5), one commit per chunk, the
 * tile store `<output table>__tiles`, and the snapshot/temporal evaluation API.
 * Tile store rows (layout "tiles/2"): one per key, time tile and source partition: key
 * columns, tile_ms (start of the time tile), agg (how many IRs ir holds; -1 marks a
 * scanned partition that produced no tile), ir (per base present, ascending: the base
 * index as a LEB128 varint, then its agg IR encoding, docs/agg.md), ds (the source
 * partition the rows came from). One row for all bases interns the key once per tile
 * instead of once per base, which is most of the cost of reading a store. Rows are
 * written day by day and each day's file is sealed at once (memory: one day's rows).
 * The table property chronon.tiles.signature holds a hash of the layout and of
 * everything a tile depends on (sources, queries, keys, aggregations, tile sizes); on a
 * mismatch stored tiles are ignored and their partitions emptied at the next write.
 * Tile writes are a cache: a failure is logged and the backfill still succeeds. */
#include "engine/eng_int.h"
#include "engine/range.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/date.h"
#include "base/hash.h"
#include "base/pool.h"
#include "base/log.h"
#include "expr/expr.h"

#define SIG_PROP "chronon.tiles.signature"
#define TILE_FORMAT "tiles/2" /* one row per key, tile and partition; ir holds every base's IR */

static int32_t to_days(const char *ds) {
    int64_t d = 0;
    cn_ds_parse(ds, &d);
    return (int32_t)d;
}

static int cmp_i32(const void *a, const void *b) {
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

/* Sorts days and drops repeats; returns how many remain. */
static uint32_t sort_unique(int32_t *days, uint32_t n) {
    if (n > 1) qsort(days, n, sizeof *days, cmp_i32);
    uint32_t k = 0;
    for (uint32_t i = 0; i < n; i++)
        if (!k || days[k - 1] != days[i]) days[k++] = days[i];
    return k;
}

/* Partitions of table full from its manifests (no data file is read); none when the
 * table is absent. OWNED: *ps (cn_free). */
static int table_parts(CnIceCatalog *cat, const char *full, CnIcePartition **ps, uint32_t *np, CnErr *err) {
    char ns[129], name[129];
    *ps = NULL;
    *np = 0;
    int rc = cn_ice_name_parse(full, ns, name, err);
    if (rc || !cn_ice_table_exists(cat, ns, name)) return rc;
    CnIceTable *t = NULL;
    rc = cn_ice_table_load(cat, ns, name, &t, err);
    if (rc == 0) rc = cn_ice_table_partition_list(cat, t, 0, NULL, NULL, ps, np, err);
    cn_ice_table_free(t);
    return rc;
}

/* Distinct partitions of table ns.name (sorted), or none when the table is absent. */
static int table_days(CnIceCatalog *cat, const char *full, int32_t **days, uint32_t *n, CnErr *err) {
    *days = NULL;
    *n = 0;
    CnIcePartition *ps = NULL;
    uint32_t np = 0;
    int rc = table_parts(cat, full, &ps, &np, err);
    if (rc == 0 && np && !(*days = cn_calloc(np, sizeof **days))) rc = cn_err_set(err, CN_ENOMEM, "out of memory");
    for (uint32_t i = 0; rc == 0 && i < np; i++) {
        int64_t d;
        if (ps[i].records > 0 && !cn_ds_parse(ps[i].ds, &d)) (*days)[(*n)++] = (int32_t)d;
    }
    cn_free(ps);
    *n = sort_unique(*days, *n);
    if (rc) {
        cn_free(*days);
        *days = NULL;
        *n = 0;
    }
    return rc;
}

static bool has(const int32_t *days, uint32_t n, int32_t d) {
    int64_t lo = 0, hi = (int64_t)n - 1;
    while (lo <= hi) {
        int64_t m = (lo + hi) / 2;
        if (days[m] == d) return true;
        if (days[m] < d) lo = m + 1;
        else hi = m - 1;
    }
    return false;
}

/* ------------------------------------------------------------------ signature */

static uint64_t hs(uint64_t h, const char *s) { return cn_hash_bytes(s ? s : "\x01", s ? strlen(s) + 1 : 1, h); }

static uint64_t signature(const CnEngGroupBy *g) {
    const CnGroupBy *gb = g->gb;
    uint64_t h = hs(0x74696c6573, TILE_FORMAT); /* a new layout makes every old store stale */
    for (size_t i = 0; i < gb->n_sources; i++) {
        const CnSource *s = &gb->sources[i];
        h = hs(h, s->table);
        for (size_t k = 0; k < s->query.selects.n; k++) h = hs(hs(h, s->query.selects.keys[k]), s->query.selects.vals[k]);
        for (size_t k = 0; k < s->query.wheres.n; k++) h = hs(h, s->query.wheres.items[k]);
        h = hs(hs(hs(h, s->query.time_column), s->query.start_partition), s->query.end_partition);
    }
    for (size_t k = 0; k < gb->key_columns.n; k++) h = hs(h, gb->key_columns.items[k]);
    for (uint32_t b = 0; b < g->n_bases; b++) {
        char buf[96];
        snprintf(buf, sizeof buf, "%d/%d/%d/%lld", (int)cn_agg_spec_op(g->bases[b].spec), g->bases[b].i_input,
                 g->bases[b].i_bucket, (long long)g->bases[b].tile_ms);
        h = hs(h, buf);
        char tb[256];
        h = hs(h, cn_col_type_name(g->row_schema->fields[g->bases[b].i_input].type, tb, sizeof tb));
    }
    for (size_t i = 0; i < gb->n_aggs; i++)
        for (size_t k = 0; k < gb->aggs[i].arg_map.n; k++) h = hs(hs(h, gb->aggs[i].arg_map.keys[k]), gb->aggs[i].arg_map.vals[k]);
    return h;
}

/* ------------------------------------------------------------------ tile store */

typedef struct Store {
    char ns[129], name[129];
    bool exists, valid;      /* table exists; its signature matches */
    char sig[32];
    int32_t *days;           /* partitions with stored tiles (valid only) */
    uint32_t n_days;
    int32_t *all_days;       /* every partition in the table */
    uint32_t n_all;
} Store;

static bool store_skip(void *ud, int32_t day) {
    const Store *s = ud;
    return s->valid && has(s->days, s->n_days, day);
}

static int store_open(CnIceCatalog *cat, const char *out_table, Store *s, CnErr *err) {
    memset(s, 0, sizeof *s);
    char full[300];
    snprintf(full, sizeof full, "%s__tiles", out_table);
    int rc = cn_ice_name_parse(full, s->ns, s->name, err);
    if (rc) return rc;
    s->exists = cn_ice_table_exists(cat, s->ns, s->name);
    if (!s->exists) return 0;
    return table_days(cat, full, &s->all_days, &s->n_all, err);
}

static void store_fini(Store *s) {
    cn_free(s->all_days);
}

/* Reads a varint at p (< end) into *v; NULL when it does not fit. */
static const uint8_t *get_varint(const uint8_t *p, const uint8_t *end, uint32_t *v) {
    uint32_t x = 0;
    for (int sh = 0; p < end && sh < 35; sh += 7) {
        uint8_t c = *p++;
        x |= (uint32_t)(c & 0x7f) << sh;
        if (!(c & 0x80)) {
            *v = x;
            return p;
        }
    }
    return NULL;
}

/* Reads the stored tiles of partitions [lo, hi] into ts. */
static int store_read(CnIceCatalog *cat, Store *st, CnEngGroupBy *g, CnEngTileSet *ts, int32_t lo, int32_t hi,
                      CnErr *err) {
    CnIceTable *t = NULL;
    CnIceScan *scan = NULL;
    CnBuf kb = CN_BUF_INIT;
    int rc = cn_ice_table_load(cat, st->ns, st->name, &t, err);
    if (rc) return rc;
    const char *p = cn_ice_table_property(t, SIG_PROP);
    st->valid = p && !strcmp(p, st->sig);
    if (!st->valid) goto done;
    st->days = st->all_days;
    st->n_days = st->n_all;
    char lo_ds[11], hi_ds[11];
    CnIceScanOpts so = {0};
    if (lo != INT32_MIN) cn_ds_format(lo, lo_ds), so.ds_lo = lo_ds;
    if (hi != INT32_MAX) cn_ds_format(hi, hi_ds), so.ds_hi = hi_ds;
    /* only the columns a tile needs: the partition comes from each file's ds value */
    uint32_t nk = g->n_keys;
    if (nk > 60) {
        st->valid = false;
        goto done;
    }
    const char *cols[64];
    for (uint32_t k = 0; k < nk; k++) cols[k] = g->key_schema->fields[k].name;
    cols[nk] = "tile_ms";
    cols[nk + 1] = "agg";
    cols[nk + 2] = "ir";
    so.columns = cols;
    so.n_columns = nk + 3;
    rc = cn_ice_scan_open(cat, t, &so, &scan, err);
    if (rc == CN_ENOTFOUND) { /* a column is missing: the store's layout is stale */
        cn_err_clear(err);
        rc = 0;
        st->valid = false;
        goto done;
    }
    if (rc) goto done;
    const CnSchema *ss = cn_ice_scan_schema(scan);
    int kc[64];
    for (uint32_t k = 0; k < nk; k++) {
        kc[k] = (int)k;
        if (!cn_col_type_equal(ss->fields[k].type, g->key_schema->fields[k].type)) {
            st->valid = false; /* key schema changed: the store is stale */
            goto done;
        }
    }
    if (ss->fields[nk].type->id != CN_COL_INT64 || ss->fields[nk + 1].type->id != CN_COL_INT32 ||
        ss->fields[nk + 2].type->id != CN_COL_BINARY) {
        st->valid = false;
        goto done;
    }
    while (rc == 0) {
        const CnBatch *b = NULL;
        rc = cn_ice_scan_next(scan, &b, err);
        if (rc || !b) break;
        const char *dsv = cn_ice_scan_batch_ds(scan);
        int64_t pd;
        if (!dsv || cn_ds_parse(dsv, &pd)) {
            rc = cn_err_set(err, CN_ECORRUPT, "tile store %s.%s: a data file has partition ds=%s (expected a date)",
                            st->ns, st->name, dsv ? dsv : "null");
            break;
        }
        const CnVec *av = &b->cols[nk + 1], *iv = &b->cols[nk + 2];
        const int32_t *aggs = av->values;
        const int64_t *tiles = b->cols[nk].values;
        for (uint32_t r = 0; r < b->n_rows && rc == 0; r++) {
            int32_t cnt = aggs[r];
            if (cnt < 0 || (av->n_null && !cn_col_vec_is_valid(av, r))) continue; /* partition marker */
            cn_eng__key_encode(b, kc, nk, r, &kb);
            uint32_t id, len = 0;
            rc = cn_eng__key_intern(&g->keys, kb.data, kb.len, b, kc, r, &id, err);
            const uint8_t *ir = (const uint8_t *)cn_col_vec_str(iv, r, &len), *end = ir + len;
            for (int32_t c = 0; c < cnt && rc == 0; c++) {
                uint32_t base = 0;
                if (!(ir = get_varint(ir, end, &base)) || base >= g->n_bases) {
                    rc = cn_err_set(err, CN_ECORRUPT, "tile store %s.%s, partition %s: IR %d of a row: %s", st->ns,
                                    st->name, dsv, c, ir ? "base index out of range" : "truncated");
                    break;
                }
                g->stats.tiles_read++;
                CnAggState *tst = NULL;
                uint32_t slot = 0;
                size_t used = 0;
                rc = cn_eng__tiles_slot(ts, (int32_t)pd, tiles[r], base, id, &tst, &slot, err);
                if (rc == 0) rc = cn_agg_state_decode(tst, slot, ir, (size_t)(end - ir), &used, err);
                ir += used;
            }
            if (rc == 0 && ir != end)
                rc = cn_err_set(err, CN_ECORRUPT, "tile store %s.%s, partition %s: %zu bytes after the %d IRs of a row",
                                st->ns, st->name, dsv, (size_t)(end - ir), cnt);
            if (rc) rc = cn_err_ctx(err, rc, "tile store %s.%s, partition %s", st->ns, st->name, dsv);
        }
    }
done:
    cn_buf_fini(&kb);
    cn_ice_scan_close(scan);
    cn_ice_table_free(t);
    return rc;
}

/* Writes b's rows (if any) and empties it. */
static int write_rows(CnIceWrite *w, CnBatch *b, CnErr *err) {
    int rc = cn_col_batch_sync_rows(b, err);
    if (rc == 0 && b->n_rows) rc = cn_ice_write_batch(w, b, err);
    cn_col_batch_reset(b);
    return rc;
}

/* One entry of the tile set to write: (partition, tile_ms, base) and its state. */
typedef struct Ent {
    int32_t pday;
    int64_t tile;
    uint32_t base, i;
    CnAggState *st;
} Ent;

static int cmp_ent(const void *a, const void *b) {
    const Ent *x = a, *y = b;
    if (x->pday != y->pday) return x->pday < y->pday ? -1 : 1;
    if (x->tile != y->tile) return x->tile < y->tile ? -1 : 1;
    return (x->base > y->base) - (x->base < y->base);
}

/* Scratch of store_write, sized by the key count. pos[id] is the key's row in the
 * current group (UINT32_MAX: none; reset after each group); jidx[q * n_keys + row] is
 * the IR index of the row's key in the group's q-th entry (UINT32_MAX: absent). */
typedef struct RowWriter {
    uint32_t *pos, *order, *jidx;
    uint32_t n_keys;
    CnBuf ir;
} RowWriter;

static void put_varint(CnBuf *b, uint32_t v) {
    while (v >= 0x80) {
        cn_buf_putc(b, (char)(v | 0x80));
        v >>= 7;
    }
    cn_buf_putc(b, (char)v);
}

/* Appends one row per key of the tile entries e[0..m) (one day, one tile_ms, bases in
 * ascending order): the key, tile_ms, the number of IRs and the IRs, each preceded by
 * its base index. */
static int write_tile_rows(CnEngGroupBy *g, CnEngTileSet *ts, const Ent *e, uint32_t m, const char *ds, CnBatch *b,
                           CnIceWrite *w, RowWriter *rw, CnErr *err) {
    uint32_t nk = g->n_keys, n_rows = 0, K = rw->n_keys;
    int rc = 0;
    for (uint32_t q = 0; q < m; q++) {
        uint32_t n = cn_agg_state_n_ids(e[q].st);
        const uint32_t *gid = cn_eng__tiles_ids(ts, e[q].i); /* sparse: IR j is key gid[j] */
        for (uint32_t j = 0; j < n; j++) {
            if (!cn_agg_state_present(e[q].st, j)) continue;
            uint32_t id = gid[j];
            if (rw->pos[id] == UINT32_MAX) {
                rw->pos[id] = n_rows;
                rw->order[n_rows] = id;
                for (uint32_t x = 0; x < m; x++) rw->jidx[(size_t)x * K + n_rows] = UINT32_MAX;
                n_rows++;
            }
            rw->jidx[(size_t)q * K + rw->pos[id]] = j;
        }
    }
    for (uint32_t r = 0; r < n_rows && rc == 0; r++) {
        uint32_t id = rw->order[r];
        int32_t cnt = 0;
        cn_buf_reset(&rw->ir);
        for (uint32_t q = 0; q < m && rc == 0; q++) {
            uint32_t j = rw->jidx[(size_t)q * K + r];
            if (j == UINT32_MAX) continue;
            put_varint(&rw->ir, e[q].base);
            rc = cn_agg_state_encode(e[q].st, j, &rw->ir, err);
            cnt++;
            g->stats.tiles_written++;
        }
        if (rc == 0 && rw->ir.oom) rc = cn_err_set(err, CN_ENOMEM, "out of memory");
        if (rc) break;
        for (uint32_t k = 0; k < nk; k++) cn_col_vec_append_from(&b->cols[k], &g->keys.vals->cols[k], id);
        cn_col_vec_append_i64(&b->cols[nk], e[0].tile);
        cn_col_vec_append_i32(&b->cols[nk + 1], cnt);
        cn_col_vec_append_str(&b->cols[nk + 2], rw->ir.data, (uint32_t)rw->ir.len);
        cn_col_vec_append_str(&b->cols[nk + 3], ds, 10);
        if (b->cols[nk].n >= 65536) rc = write_rows(w, b, err);
    }
    for (uint32_t r = 0; r < n_rows; r++) rw->pos[rw->order[r]] = UINT32_MAX;
    return rc;
}

/* Writes the tiles of partitions not in the store (and markers for them). */
static int store_write(CnIceCatalog *cat, Store *st, CnEngGroupBy *g, CnEngTileSet *ts, CnErr *err) {
    CnSchema *sch = NULL;
    CnBatch *b = NULL;
    CnIceWrite *w = NULL;
    int32_t *days = NULL;
    Ent *ents = NULL;
    RowWriter rw;
    memset(&rw, 0, sizeof rw);
    int rc = cn_col_schema_new(&sch);
    for (uint32_t k = 0; k < g->n_keys && rc == 0; k++)
        rc = cn_col_schema_add(sch, g->key_schema->fields[k].name, g->key_schema->fields[k].type, true, CN_COL_NO_ID, err);
    if (rc == 0) rc = cn_col_schema_add(sch, "tile_ms", cn_col_type_prim(CN_COL_INT64), true, CN_COL_NO_ID, err);
    if (rc == 0) rc = cn_col_schema_add(sch, "agg", cn_col_type_prim(CN_COL_INT32), true, CN_COL_NO_ID, err);
    if (rc == 0) rc = cn_col_schema_add(sch, "ir", cn_col_type_prim(CN_COL_BINARY), true, CN_COL_NO_ID, err);
    if (rc == 0) rc = cn_col_schema_add(sch, CN_ICE_DS, cn_col_type_prim(CN_COL_STRING), true, CN_COL_NO_ID, err);
    if (rc) goto done;
    if (!st->exists) {
        const char *props[] = {"chronon.hidden", "true"};
        rc = cn_ice_table_create(cat, st->ns, st->name, sch, props, 1, err);
        if (rc == CN_EEXISTS) cn_err_clear(err), rc = 0;
        if (rc) goto done;
        st->exists = true;
    }
    rc = cn_ice_write_begin(cat, st->ns, st->name, CN_ICE_OVERWRITE, &w, err);
    if (rc == 0) rc = cn_col_batch_new(cn_ice_write_schema(w), &b, err);
    if (rc == 0) rc = cn_ice_write_set_property(w, SIG_PROP, st->sig, err);
    if (rc) goto done;
    uint32_t nk = g->n_keys;
    if (!st->valid) /* stale store: empty every partition it has */
        for (uint32_t i = 0; i < st->n_all && rc == 0; i++) {
            char ds[11];
            cn_ds_format(st->all_days[i], ds);
            rc = cn_ice_write_touch_partition(w, ds, err);
        }
    /* partitions to write, in day order: each is written whole, then sealed, so the
     * writer holds one partition's row group at a time, not every tile of the run */
    uint32_t nt = cn_eng__tiles_n(ts);
    days = cn_malloc(((size_t)g->n_src_days + nt + 1) * sizeof *days);
    ents = cn_malloc(((size_t)nt + 1) * sizeof *ents);
    rw.pos = cn_malloc(((size_t)g->keys.n + 1) * sizeof *rw.pos);
    rw.order = cn_malloc(((size_t)g->keys.n + 1) * sizeof *rw.order);
    rw.jidx = cn_malloc(((size_t)g->keys.n + 1) * (g->n_bases + 1) * sizeof *rw.jidx);
    if ((!days || !ents || !rw.pos || !rw.order || !rw.jidx) && rc == 0) rc = cn_err_set(err, CN_ENOMEM, "out of memory");
    for (uint32_t i = 0; rc == 0 && i < g->keys.n; i++) rw.pos[i] = UINT32_MAX;
    rw.n_keys = g->keys.n;
    uint32_t n_days = 0, n_ents = 0;
    for (uint32_t i = 0; i < g->n_src_days && rc == 0; i++)
        if (!store_skip(st, g->src_days[i])) days[n_days++] = g->src_days[i];
    for (uint32_t i = 0; i < nt && rc == 0; i++) {
        Ent *en = &ents[n_ents];
        cn_eng__tiles_at(ts, i, &en->pday, &en->tile, &en->base, &en->st);
        en->i = i;
        if (!store_skip(st, en->pday)) days[n_days++] = en->pday, n_ents++;
    }
    n_days = sort_unique(days, n_days);
    if (n_ents > 1) qsort(ents, n_ents, sizeof *ents, cmp_ent);
    uint32_t e0 = 0; /* first entry of the day */
    for (uint32_t di = 0; di < n_days && rc == 0; di++) {
        int32_t d = days[di];
        char ds[11];
        cn_ds_format(d, ds);
        if (cn_eng__has_day(g, d)) { /* marker: the partition was scanned (maybe no tile) */
            for (uint32_t k = 0; k < nk; k++) cn_col_vec_append_null(&b->cols[k]);
            cn_col_vec_append_null(&b->cols[nk]);
            cn_col_vec_append_i32(&b->cols[nk + 1], -1);
            cn_col_vec_append_null(&b->cols[nk + 2]);
            cn_col_vec_append_str(&b->cols[nk + 3], ds, 10);
        }
        /* the day's entries, by (tile_ms, base): one row per key and tile_ms */
        for (uint32_t g1; e0 < n_ents && ents[e0].pday == d && rc == 0; e0 = g1) {
            for (g1 = e0 + 1; g1 < n_ents && ents[g1].pday == d && ents[g1].tile == ents[e0].tile;) g1++;
            rc = write_tile_rows(g, ts, ents + e0, g1 - e0, ds, b, w, &rw, err);
        }
        if (rc == 0) rc = write_rows(w, b, err);
        if (rc == 0) rc = cn_ice_write_seal_partition(w, ds, err);
    }
    if (rc == 0) rc = cn_ice_write_commit(w, NULL, err);
done:
    cn_buf_fini(&rw.ir);
    cn_free(rw.pos);
    cn_free(rw.order);
    cn_free(rw.jidx);
    cn_free(ents);
    cn_free(days);
    cn_ice_write_free(w);
    cn_col_batch_free(b);
    cn_col_schema_free(sch);
    return rc;
}

/* ------------------------------------------------------------------ chunks */

#define TILE_GAIN 4.0 /* source rows per stored tile row for the store to pay (range pass) */

/* Adds to *rows the rows of table full (manifest counts) in partitions [lo, hi] that are
 * also in only[0..n_only) (only NULL: all); nothing when the table is absent. */
static int table_rows(CnIceCatalog *cat, const char *full, int32_t lo, int32_t hi, const int32_t *only,
                      uint32_t n_only, uint64_t *rows, CnErr *err) {
    CnIcePartition *ps = NULL;
    uint32_t np = 0;
    int rc = table_parts(cat, full, &ps, &np, err);
    for (uint32_t i = 0; rc == 0 && i < np; i++) {
        int64_t d;
        if (!cn_ds_parse(ps[i].ds, &d) && d >= lo && d <= hi && ps[i].records > 0 &&
            (!only || has(only, n_only, (int32_t)d)))
            *rows += (uint64_t)ps[i].records;
    }
    cn_free(ps);
    return rc;
}

/* *use false when the valid store st holds more than 1/TILE_GAIN of the source rows of
 * the partitions it would replace in [lo, hi]. */
static int store_pays(CnIceCatalog *cat, const CnGroupBy *gb, const Store *st, int32_t lo, int32_t hi, bool *use,
                      CnErr *err) {
    uint64_t src = 0, tiles = 0;
    char full[300];
    snprintf(full, sizeof full, "%s.%s", st->ns, st->name);
    int rc = table_rows(cat, full, lo, hi, NULL, 0, &tiles, err);
    CnArena a;
    cn_arena_init(&a, 0);
    for (size_t i = 0; rc == 0 && i < gb->n_sources; i++) {
        const char *tab = cn_conf_source_table(&a, &gb->sources[i]);
        /* only the stored days count: the others are scanned either way */
        if (tab) rc = table_rows(cat, tab, lo, hi, st->days, st->n_days, &src, err);
    }
    cn_arena_fini(&a);
    if (rc == 0) *use = (double)tiles * TILE_GAIN <= (double)src;
    return rc;
}

/* GroupBy derivations (compute.md section 5, config.md section 8): each output column
 * (names and order from cn_conf_groupby_output_columns) is a copy of base column src,
 * or derivation expression der, coalesced with base column co first (a derivation
 * named like a key or a base value keeps a non-null existing value, as Chronon does).
 * Expressions are bound once per chunk against the base schema (keys, values, ds). */
typedef struct Derive {
    CnSchema *out;         /* derived output schema */
    CnBatch *batch;        /* one day's derived rows, reused */
    CnExpr **ex;           /* per derivation, NULL for `*` */
    size_t n_ex;
    int *src, *der, *co;   /* per output column */
} Derive;

static void derive_free(Derive *d) {
    for (size_t i = 0; d->ex && i < d->n_ex; i++) cn_expr_free(d->ex[i]);
    cn_free(d->ex);
    cn_free(d->src);
    cn_col_batch_free(d->batch);
    cn_col_schema_free(d->out);
    memset(d, 0, sizeof *d);
}

static int derive_init(const CnGroupBy *gb, const CnSchema *base, Derive *d, CnErr *err) {
    memset(d, 0, sizeof *d);
    CnArena a;
    cn_arena_init(&a, 0);
    CnColumnList cl;
    int rc = cn_conf_groupby_output_columns(&a, gb, &cl, err);
    if (rc) goto done;
    d->n_ex = gb->n_derivations;
    d->ex = cn_calloc(d->n_ex + 1, sizeof *d->ex);
    d->src = cn_malloc((3 * cl.n + 1) * sizeof *d->src);
    if (!d->ex || !d->src) {
        rc = cn_err_set(err, CN_ENOMEM, "out of memory");
        goto done;
    }
    d->der = d->src + cl.n;
    d->co = d->der + cl.n;
    for (size_t i = 0; i < d->n_ex && rc == 0; i++) {
        const CnDerivation *dv = &gb->derivations[i];
        if (!strcmp(dv->name, "*")) continue;
        rc = cn_expr_bind(dv->expression ? dv->expression : "", base, &d->ex[i], err);
        if (rc) rc = cn_err_ctx(err, rc, "GroupBy %s: derivations[%zu] (%s)", gb->meta.name, i, dv->name);
    }
    if (rc == 0) rc = cn_col_schema_new(&d->out);
    for (size_t c = 0; c < cl.n && rc == 0; c++) {
        const char *nm = cl.cols[c].name;
        int b = cn_col_schema_find(base, nm), x = -1;
        if (cl.cols[c].role != CN_CONF_COL_PARTITION)
            for (size_t i = 0; i < d->n_ex; i++)
                if (d->ex[i] && !strcmp(gb->derivations[i].name, nm)) x = (int)i;
        d->src[c] = x < 0 ? b : -1;
        d->der[c] = x;
        d->co[c] = x >= 0 ? b : -1;
        if (x < 0 && b < 0) {
            rc = cn_err_set(err, CN_ECONFIG, "GroupBy %s: output column %s is neither a base column nor a derivation",
                            gb->meta.name, nm);
            break;
        }
        const CnType *t = x >= 0 ? cn_expr_type(d->ex[x]) : base->fields[b].type;
        if (x >= 0 && b >= 0 && !cn_col_type_equal(t, base->fields[b].type)) {
            char t1[64], t2[64];
            rc = cn_err_set(err, CN_ETYPE,
                            "GroupBy %s: derivations[%d] (%s): the expression %s is %s but the column it replaces is %s",
                            gb->meta.name, x, nm, gb->derivations[x].expression, cn_col_type_name(t, t1, sizeof t1),
                            cn_col_type_name(base->fields[b].type, t2, sizeof t2));
            break;
        }
        rc = cn_col_schema_add(d->out, nm, t, true, CN_COL_NO_ID, err);
    }
    if (rc == 0) rc = cn_col_batch_new(d->out, &d->batch, err);
done:
    if (rc) derive_free(d);
    cn_arena_fini(&a);
    return rc;
}

/* Evaluates the derivations over the selected rows of base batch b into d->batch. */
static int derive_apply(Derive *d, const CnBatch *b, CnErr *err) {
    const uint32_t *sel = b->sel;
    uint32_t n = sel ? b->n_sel : b->n_rows;
    CnBatch *o = d->batch;
    int rc = 0;
    cn_col_batch_reset(o);
    for (uint32_t c = 0; c < o->n_cols && rc == 0; c++) {
        CnVec *v = &o->cols[c];
        if (d->src[c] >= 0) {
            for (uint32_t i = 0; i < n && rc == 0; i++)
                rc = cn_col_vec_append_from(v, &b->cols[d->src[c]], sel ? sel[i] : i);
            if (rc) rc = cn_err_set(err, rc, "out of memory");
            continue;
        }
        if (d->co[c] < 0) {
            rc = cn_expr_eval(d->ex[d->der[c]], b, sel, n, v, err);
            continue;
        }
        /* coalesce(existing, expression): evaluate only where the existing value is null */
        const CnVec *ex = &b->cols[d->co[c]];
        uint32_t *nul = cn_malloc(((size_t)n + 1) * sizeof *nul);
        CnBatch *tmp = NULL;
        CnSchema *ts = NULL;
        uint32_t nn = 0;
        if (!nul) rc = cn_err_set(err, CN_ENOMEM, "out of memory");
        for (uint32_t i = 0; i < n && rc == 0; i++)
            if (!cn_col_vec_is_valid(ex, sel ? sel[i] : i)) nul[nn++] = sel ? sel[i] : i;
        if (rc == 0) rc = cn_col_schema_new(&ts);
        if (rc == 0) rc = cn_col_schema_add(ts, "v", o->schema->fields[c].type, true, CN_COL_NO_ID, err);
        if (rc == 0) rc = cn_col_batch_new(ts, &tmp, err);
        if (rc == 0 && nn) rc = cn_expr_eval(d->ex[d->der[c]], b, nul, nn, &tmp->cols[0], err);
        for (uint32_t i = 0, k = 0; i < n && rc == 0; i++) {
            uint32_t r = sel ? sel[i] : i;
            if (k < nn && nul[k] == r) rc = cn_col_vec_append_from(v, &tmp->cols[0], k++);
            else rc = cn_col_vec_append_from(v, ex, r);
            if (rc) rc = cn_err_set(err, rc, "out of memory");
        }
        cn_col_batch_free(tmp);
        cn_col_schema_free(ts);
        cn_free(nul);
    }
    if (rc == 0) rc = cn_col_batch_sync_rows(o, err);
    return rc;
}

/* The output table's creation (when missing) and the write's start: catalog and file
 * writes with their syncs, which the computation's first passes over the rows do not
 * need, so they run beside them; the first emitted batch waits for them (writer_ready). */
typedef struct OutOpen {
    CnIceCatalog *cat;
    const char *ns, *name;
    const CnSchema *schema;
    CnIceWrite *w;
    int rc;
    CnErr err;
} OutOpen;

int cn_eng__output_create(CnIceCatalog *cat, const char *ns, const char *name, const CnSchema *schema, CnErr *err) {
    if (cn_ice_table_exists(cat, ns, name)) return 0;
    /* Spark writes Chronon's output tables with its default Parquet codec, snappy
     * (Chronon sets none): a fraction of zstd's CPU for each output day */
    const char *props[] = {"write.parquet.compression-codec", "snappy"};
    int rc = cn_ice_table_create(cat, ns, name, schema, props, 1, err);
    if (rc == CN_EEXISTS) cn_err_clear(err), rc = 0;
    return rc;
}

static void out_open(void *ud, uint32_t t) {
    OutOpen *oo = ud;
    (void)t;
    int rc = cn_eng__output_create(oo->cat, oo->ns, oo->name, oo->schema, &oo->err);
    if (rc == 0) rc = cn_ice_write_begin(oo->cat, oo->ns, oo->name, CN_ICE_OVERWRITE, &oo->w, &oo->err);
    oo->rc = rc;
}

typedef struct Writer {
    CnIceWrite *w;
    CnPoolJob *opening;    /* out_open running; w is set once it is joined */
    OutOpen *oo;
    CnEngGroupBy *g;
    Derive *derive;        /* NULL: no derivations */
    int32_t s, e;
    bool progress;
    int64_t rows, days;
    int32_t last_day;      /* the day of the last batch: a day's batches come together */
} Writer;

/* Waits for out_open when it runs: 0 once wr->w is the started write, else its error. */
static int writer_ready(Writer *wr, CnErr *err) {
    if (!wr->opening) return 0;
    cn_pool_join(wr->opening);
    wr->opening = NULL;
    wr->w = wr->oo->w;
    wr->oo->w = NULL;
    if (wr->oo->rc) *err = wr->oo->err;
    return wr->oo->rc;
}

static int emit_write(void *ud, int32_t day, CnBatch *b, CnErr *err) {
    Writer *wr = ud;
    char ds[11];
    cn_ds_format(day, ds);
    int rc = writer_ready(wr, err);
    if (rc == 0) rc = cn_ice_write_touch_partition(wr->w, ds, err);
    /* the day is complete: finish its file now so the writer never holds more than one
     * day of output (the commit at the end still publishes every day at once) */
    if (rc == 0 && wr->derive) {
        rc = derive_apply(wr->derive, b, err);
        if (rc == 0) rc = cn_ice_write_batch_sealed(wr->w, wr->derive->batch, ds, err);
    } else if (rc == 0) {
        rc = cn_ice_write_batch_sealed(wr->w, b, ds, err);
    }
    wr->rows += b->sel ? b->n_sel : b->n_rows;
    if (wr->days == 0 || day != wr->last_day) wr->days++, wr->last_day = day;
    if (wr->progress) {
        int64_t done = day - wr->s + 1, all = wr->e - wr->s + 1;
        int bar = (int)(30 * done / (all ? all : 1));
        fprintf(stderr, "\r%s [%.*s%*s] %s %lld/%lld", wr->g->output_table, bar,
                "##############################", 30 - bar, "", ds, (long long)done, (long long)all);
        if (done == all) fputc('\n', stderr);
        fflush(stderr);
    }
    return rc;
}

static int run_chunk(CnIceCatalog *cat, const CnGroupBy *gb, const CnEngOpts *o, const char *out_table, int32_t s,
                     int32_t e, CnEngStats *st, CnErr *err) {
    CnEngGroupBy *g = NULL;
    CnEngTileSet *ts = NULL;
    CnSchema *os = NULL;
    Writer wr = {0};
    OutOpen oo;
    Derive derive = {0};
    Store store;
    memset(&store, 0, sizeof store);
    char ns[129], name[129];
    int rc = cn_ice_name_parse(out_table, ns, name, err);
    if (rc) return rc;
    /* scan range: [S - 1d - maxWindow, E]; all history when a part is unwindowed */
    int32_t lo = s, hi = e;
    bool events = gb->n_sources && cn_conf_source_model(&gb->sources[0]) == CN_CONF_EVENTS;
    if (events) {
        int64_t max_w = 0;
        bool unbounded = !gb->has_aggregations;
        for (size_t i = 0; gb->has_aggregations && i < gb->n_aggs; i++) {
            const CnAggregation *a = &gb->aggs[i];
            if (!a->has_windows || !a->n_windows) unbounded = true;
            for (size_t k = 0; k < a->n_windows; k++) {
                int64_t w = 0;
                CnErr e2 = CN_ERR_INIT;
                if (cn_agg_window_ms(a->windows[k].length, a->windows[k].unit, "window", &w, &e2) == 0) {
                    if (w == CN_AGG_UNWINDOWED) unbounded = true;
                    else if (w > max_w) max_w = w;
                }
            }
        }
        lo = unbounded ? INT32_MIN : (int32_t)cn_ms_to_days((int64_t)s * CN_MS_PER_DAY - CN_MS_PER_DAY - max_w);
    }
    bool tiles = o->use_tiles && events && gb->has_aggregations, range_ok = false;
    if (tiles) rc = store_open(cat, out_table, &store, err);
    /* the signature and the range pass need the resolved parts: a cheap first open
     * resolves the GroupBy on no rows */
    if (rc == 0 && events && gb->has_aggregations && (tiles || e - s >= 2)) {
        CnEngGroupBy *probe = NULL;
        rc = cn_eng__open(cat, gb, 1, 0, o, NULL, NULL, &probe, err);
        if (rc == 0) range_ok = cn_eng__range_eligible(probe);
        if (rc == 0 && tiles && store.exists) {
            snprintf(store.sig, sizeof store.sig, "%016llx", (unsigned long long)signature(probe));
            CnIceTable *t = NULL;
            if (cn_ice_table_load(cat, store.ns, store.name, &t, err) == 0) {
                const char *p = cn_ice_table_property(t, SIG_PROP);
                store.valid = p && !strcmp(p, store.sig);
                if (store.valid) store.days = store.all_days, store.n_days = store.n_all;
            } else {
                cn_err_clear(err);
            }
            cn_ice_table_free(t);
        }
        cn_eng_gb_free(probe);
    }
    /* Rows the range pass folds cost less than stored IRs read back (each is decoded
     * and its key interned again), so its GroupBys read the store only when the
     * manifests say it holds several times fewer rows than the sources it replaces */
    if (rc == 0 && tiles && range_ok && store.valid)
        rc = store_pays(cat, gb, &store, lo, hi, &tiles, err);
    /* Without tiles no key is looked up after the load: the loader's bulk-stored keys need
     * no hash slots (built on one thread after the load otherwise) */
    CnEngOpts lo_opts = *o;
    lo_opts.keys_unindexed = o->keys_unindexed || (!tiles && !o->shard);
    /* the skip only when the store can serve a partition: a load without one reads its
     * files on several threads */
    bool skips = tiles && store.valid && store.n_days;
    if (rc == 0) rc = cn_eng__open(cat, gb, lo, hi, &lo_opts, skips ? store_skip : NULL, &store, &g, err);
    if (rc) goto done;
    g->output_table = out_table;
    /* without a usable store: build tiles only when the rows are dense enough that a
     * later run would rather read them (rows / (keys x days) bounds rows per tile below) */
    if (tiles && range_ok && !(store.valid && store.n_days) &&
        (double)g->n_rows < TILE_GAIN * (double)g->keys.n * (double)(g->n_src_days ? g->n_src_days : 1))
        tiles = false;
    if (o->verbose && range_ok)
        fprintf(stderr, "chunk: %s\n", tiles ? "tile store used (dense rows)" : "rows rescanned, no tile store");
    g->release_rows = !tiles; /* only the tile store reads the rows after the computation */
    if (tiles) {
        snprintf(store.sig, sizeof store.sig, "%016llx", (unsigned long long)signature(g));
        rc = cn_eng__tiles_new(g, &ts, err);
        if (rc == 0 && store.exists && store.valid) rc = store_read(cat, &store, g, ts, lo, hi, err);
        if (rc == 0) rc = cn_eng__tiles_build(g, ts, err);
        if (rc) goto done;
    }
    rc = cn_eng__out_schema(g, &os, err);
    if (rc == 0 && gb->n_derivations) {
        rc = derive_init(gb, os, &derive, err);
        if (rc == 0) wr.derive = &derive;
    }
    if (rc) goto done;
    oo = (OutOpen){cat, ns, name, wr.derive ? derive.out : os, NULL, 0, CN_ERR_INIT};
    wr.oo = &oo;
    if (o->shard) { /* distributed hook: rank 0 creates the table, the others wait for it */
        if (o->shard->rank == 0) rc = cn_eng__output_create(cat, ns, name, oo.schema, err);
        if (rc == 0) rc = o->shard->sync(o->shard->ud, err);
        if (rc == 0) rc = cn_ice_write_begin(cat, ns, name, CN_ICE_OVERWRITE, &wr.w, err);
    } else if (cn_pool_start(1, out_open, &oo, &wr.opening, err)) { /* no thread: here */
        cn_err_clear(err);
        out_open(&oo, 0);
        wr.w = oo.w;
        if ((rc = oo.rc)) *err = oo.err;
    }
    if (rc) goto done;
    wr.g = g;
    wr.s = s;
    wr.e = e;
    wr.progress = o->progress;
    bool done_range = false;
    if (range_ok && !tiles && e - s >= 2) rc = cn_eng__range_fold(g, s, e, emit_write, &wr, &done_range, err);
    if (rc == 0 && !done_range) rc = cn_eng__compute(g, s, e, ts, emit_write, &wr, err);
    if (rc == 0) rc = writer_ready(&wr, err); /* nothing emitted */
    if (rc == 0) /* distributed hook: rank 0 commits every rank's files */
        rc = o->shard ? o->shard->commit(o->shard->ud, wr.w, err) : cn_ice_write_commit(wr.w, NULL, err);
    if (rc == 0 && tiles) {
        CnErr terr = CN_ERR_INIT;
        if (store_write(cat, &store, g, ts, &terr))
            cn_log(CN_LOG_WARN, "tile store of %s not updated (the next run recomputes from the sources): %s",
                   out_table, cn_err_msg(&terr));
    }
    if (rc == 0) {
        st->rows_written += wr.rows;
        st->days_written += wr.days;
    }
done:
    if (wr.opening) { /* failed before the first batch: out_open reads os */
        CnErr e2 = CN_ERR_INIT;
        (void)writer_ready(&wr, &e2);
    }
    cn_ice_write_free(wr.w); /* first: an uncommitted write removes its files before a distributed job ends */
    if (rc && o->shard) o->shard->fail(o->shard->ud, err); /* distributed hook: aborts the job */
    if (g) {
        st->rows_scanned += g->stats.rows_scanned;
        st->tiles_read += g->stats.tiles_read;
        st->tiles_written += g->stats.tiles_written;
        st->partitions_scanned += g->stats.partitions_scanned;
    }
    if (o->verbose) {
        char a[11], b[11];
        cn_ds_format(s, a);
        cn_ds_format(e, b);
        fprintf(stderr, "chunk %s..%s: rows scanned %lld, tiles read %lld, tiles written %lld, rows written %lld in %lld partitions%s\n",
                a, b, g ? (long long)g->stats.rows_scanned : 0LL, g ? (long long)g->stats.tiles_read : 0LL,
                g ? (long long)g->stats.tiles_written : 0LL, (long long)wr.rows, (long long)wr.days,
                rc ? " (failed)" : "");
    }
    cn_eng__tiles_free(ts);
    cn_col_schema_free(os);
    derive_free(&derive);
    store_fini(&store);
    cn_eng_gb_free(g);
    return rc;
}

static uint64_t default_max_memory(void) {
    long pages = sysconf(_SC_PHYS_PAGES), psz = sysconf(_SC_PAGESIZE);
    if (pages <= 0 || psz <= 0) return UINT64_C(4) << 30;
    return (uint64_t)pages * (uint64_t)psz / 2;
}

int cn_eng__plan_chunks(int32_t s, int32_t e, const int32_t *out_days, uint32_t n_out, const int32_t *src_days,
                        uint32_t n_src, int step_days, bool run_first_hole, int32_t **chunks, uint32_t *n_chunks,
                        CnErr *err) {
    *chunks = NULL;
    *n_chunks = 0;
    if (step_days <= 0) step_days = 30;
    uint32_t cap = 0;
    int32_t earliest = n_out && !run_first_hole ? out_days[0] : INT32_MIN;
    /* holes: runs of days without output and with a source partition */
    for (int32_t d = s; d <= e;) {
        if (!(d >= earliest && !has(out_days, n_out, d) && has(src_days, n_src, d))) {
            d++;
            continue;
        }
        int32_t h0 = d;
        while (d <= e && d >= earliest && !has(out_days, n_out, d) && has(src_days, n_src, d)) d++;
        int32_t h1 = d - 1;
        for (int32_t c0 = h0; c0 <= h1; c0 += step_days) {
            if (*n_chunks == cap) {
                cap = cap ? cap * 2 : 16;
                int32_t *nc = cn_realloc(*chunks, (size_t)cap * 2 * sizeof *nc);
                if (!nc) {
                    cn_free(*chunks);
                    *chunks = NULL;
                    *n_chunks = 0;
                    return cn_err_set(err, CN_ENOMEM, "out of memory");
                }
                *chunks = nc;
            }
            (*chunks)[2 * *n_chunks] = c0;
            (*chunks)[2 * *n_chunks + 1] = c0 + step_days - 1 < h1 ? c0 + step_days - 1 : h1;
            (*n_chunks)++;
        }
    }
    return 0;
}

int cn_eng_groupby_backfill(CnIceCatalog *cat, const CnGroupBy *gb, const CnEngOpts *opts, CnEngStats *stats,
                            CnErr *err) {
    CnEngOpts o = *opts;
    CnEngStats st;
    memset(&st, 0, sizeof st);
    CnArena a;
    cn_arena_init(&a, 0);
    int32_t *out_days = NULL, *src_days = NULL, *chunks = NULL;
    uint32_t n_out = 0, n_src = 0, n_chunks = 0;
    int rc = 0, first_rc = 0;
    if (!o.step_days) o.step_days = 30;
    if (!o.max_memory) o.max_memory = default_max_memory();
    if (o.shard) { /* distributed hook: no tile store; rank 0 reports progress */
        o.use_tiles = false;
        if (o.shard->rank != 0) o.progress = false;
    }
    const char *end = o.end_ds;
    const char *start = o.start_ds ? o.start_ds : gb->backfill_start_date ? gb->backfill_start_date : end;
    if (gb->meta.historical_backfill == 0) start = end;
    int64_t s64, e64;
    if (!end || cn_ds_parse(end, &e64)) {
        rc = cn_err_set(err, CN_EINVAL, "end partition '%s' is not a date (expected YYYY-MM-DD)", end ? end : "");
        goto done;
    }
    if (cn_ds_parse(start, &s64)) {
        rc = cn_err_set(err, CN_EINVAL, "backfillStartDate '%s' is not a date (expected YYYY-MM-DD)", start);
        goto done;
    }
    if (s64 > e64) {
        rc = cn_err_set(err, CN_EINVAL, "start partition %s is after the end partition %s: empty range", start, end);
        goto done;
    }
    const char *out_table = cn_conf_output_table(&a, &gb->meta, err);
    if (!out_table) {
        rc = err->code ? err->code : CN_ECONFIG;
        goto done;
    }
    rc = table_days(cat, out_table, &out_days, &n_out, err);
    if (rc == 0) rc = cn_eng__source_days(cat, gb, (int32_t)s64, (int32_t)e64, &src_days, &n_src, err);
    if (rc) goto done;
    if (n_src == 0) {
        char tabs[512];
        size_t off = 0;
        tabs[0] = 0;
        for (size_t i = 0; i < gb->n_sources && off + 2 < sizeof tabs; i++)
            off += (size_t)snprintf(tabs + off, sizeof tabs - off, "%s%s", i ? ", " : "",
                                    cn_conf_source_table(&a, &gb->sources[i]) ? cn_conf_source_table(&a, &gb->sources[i]) : "?");
        rc = cn_err_set(err, CN_EINVAL,
                        "no source partition between %s and %s in %s: nothing to compute (load the input "
                        "data first, or choose another --start-ds/--end-ds)",
                        start, end, tabs);
        goto done;
    }
    rc = cn_eng__plan_chunks((int32_t)s64, (int32_t)e64, out_days, n_out, src_days, n_src, o.step_days,
                             o.run_first_hole, &chunks, &n_chunks, err);
    if (rc) goto done;
    for (uint32_t ci = 0; ci < n_chunks; ci++) {
        int32_t c0 = chunks[2 * ci], c1 = chunks[2 * ci + 1];
        st.chunks++;
        CnErr cerr = CN_ERR_INIT;
        int crc = run_chunk(cat, gb, &o, out_table, c0, c1, &st, &cerr);
        if (crc) {
            st.chunks_failed++;
            char a0[11], a1[11];
            cn_ds_format(c0, a0);
            cn_ds_format(c1, a1);
            if (!first_rc) {
                first_rc = crc;
                cn_err_set(err, crc, "%s (partitions %s..%s)", cn_err_msg(&cerr), a0, a1);
            } else {
                fprintf(stderr, "chronon: partitions %s..%s failed: %s\n", a0, a1, cn_err_msg(&cerr));
            }
        }
    }
    if (st.chunks == 0 && o.verbose)
        fprintf(stderr, "%s: every partition from %s to %s with input already exists; nothing to compute\n", out_table,
                start, end);
    rc = first_rc;
done:
    if (stats) *stats = st;
    cn_free(out_days);
    cn_free(src_days);
    cn_free(chunks);
    cn_arena_fini(&a);
    return cn_err_ctx(err, rc, "backfill of GroupBy %s", gb->meta.name ? gb->meta.name : "?");
}

/* ------------------------------------------------------------------ evaluation API */

int cn_eng_gb_open(CnIceCatalog *cat, const CnGroupBy *gb, const char *lo_ds, const char *hi_ds,
                   const CnEngOpts *opts, CnEngGroupBy **out, CnErr *err) {
    CnEngOpts o;
    memset(&o, 0, sizeof o);
    if (opts) o = *opts;
    if (!o.max_memory) o.max_memory = default_max_memory();
    int32_t lo = lo_ds ? to_days(lo_ds) : INT32_MIN, hi = hi_ds ? to_days(hi_ds) : INT32_MAX;
    return cn_eng__open(cat, gb, lo, hi, &o, NULL, NULL, out, err);
}

typedef struct SnapOut {
    CnBatch *out;
} SnapOut;

static int emit_snap(void *ud, int32_t day, CnBatch *b, CnErr *err) {
    (void)day;
    SnapOut *so = ud;
    const uint32_t *sel = b->sel;
    uint32_t n = sel ? b->n_sel : b->n_rows;
    for (uint32_t c = 0; c < so->out->n_cols; c++)
        for (uint32_t i = 0; i < n; i++) cn_col_vec_append_from(&so->out->cols[c], &b->cols[c], sel ? sel[i] : i);
    return cn_col_batch_sync_rows(so->out, err);
}

int cn_eng_gb_snapshot(CnEngGroupBy *g, const char *ds, CnBatch *out, CnErr *err) {
    int32_t d = to_days(ds);
    SnapOut so = {out};
    return cn_eng__compute(g, d, d, NULL, emit_snap, &so, err);
}

int cn_eng_gb_values_at(CnEngGroupBy *g, const CnBatch *q, CnBatch *out, CnErr *err) {
    int kc[64];
    if (g->n_keys > 64) return cn_err_set(err, CN_EUNSUPPORTED, "values_at: more than 64 key columns");
    if (g->no_aggs) return cn_err_set(err, CN_EUNSUPPORTED, "values_at: a GroupBy without aggregations has no value at a time");
    for (uint32_t k = 0; k < g->n_keys; k++) {
        const char *name = g->key_schema->fields[k].name;
        kc[k] = cn_col_schema_find(q->schema, name);
        if (kc[k] < 0) return cn_err_set(err, CN_ENOTFOUND, "values_at: the queries have no key column \"%s\"", name);
        if (!cn_col_type_equal(q->schema->fields[kc[k]].type, g->key_schema->fields[k].type))
            return cn_err_set(err, CN_ETYPE, "values_at: key column \"%s\" has another type than the GroupBy's", name);
    }
    int i_ts = cn_col_schema_find(q->schema, "ts");
    if (i_ts < 0 || q->schema->fields[i_ts].type->id != CN_COL_INT64)
        return cn_err_set(err, CN_ETYPE, "values_at: the queries need an int64 column \"ts\"");
    /* rows by key (CSR) */
    uint32_t n_ids = g->keys.n;
    uint32_t *start = cn_calloc((size_t)n_ids + 2, sizeof *start);
    uint32_t *byk = cn_malloc(((size_t)g->n_rows + 1) * sizeof *byk);
    uint32_t *sel = cn_malloc(((size_t)g->n_rows + 1) * sizeof *sel);
    uint32_t *zero = cn_calloc((size_t)g->n_rows + 1, sizeof *zero);
    CnAggState **st = cn_calloc(g->n_parts + 1, sizeof *st);
    uint64_t *valid = NULL;
    CnBuf kb = CN_BUF_INIT;
    int rc = 0;
    if (!start || !byk || !sel || !zero || !st) {
        rc = cn_err_set(err, CN_ENOMEM, "out of memory");
        goto done;
    }
    for (uint32_t r = 0; r < g->n_rows; r++) start[g->key_id[r] + 1]++;
    for (uint32_t i = 0; i < n_ids; i++) start[i + 1] += start[i];
    for (uint32_t r = 0; r < g->n_rows; r++) byk[start[g->key_id[r]] + (zero[g->key_id[r]]++)] = r;
    memset(zero, 0, ((size_t)g->n_rows + 1) * sizeof *zero);
    CnVec tsv;
    memset(&tsv, 0, sizeof tsv);
    tsv.type = cn_col_type_prim(CN_COL_INT64);
    tsv.n = g->n_rows;
    tsv.values = g->ts;
    valid = cn_calloc(((size_t)g->n_rows + 63) / 64 + 1, sizeof *valid);
    if (!valid) {
        rc = cn_err_set(err, CN_ENOMEM, "out of memory");
        goto done;
    }
    for (uint32_t r = 0; r < g->n_rows; r++)
        if (g->ts_ok[r]) valid[r >> 6] |= UINT64_C(1) << (r & 63);
        else tsv.n_null++;
    tsv.valid = valid;
    for (uint32_t p = 0; p < g->n_parts && rc == 0; p++) {
        rc = cn_agg_state_new(g->bases[g->parts[p].i_base].spec, &st[p], err);
        if (rc == 0) rc = cn_agg_state_reserve(st[p], 1, err);
    }
    uint32_t zero_id = 0;
    for (uint32_t r = 0; r < q->n_rows && rc == 0; r++) {
        uint32_t id = UINT32_MAX;
        bool tv = cn_col_vec_is_valid(&q->cols[i_ts], r);
        int64_t t = tv ? ((const int64_t *)q->cols[i_ts].values)[r] : 0;
        if (tv && cn_eng__key_encode(q, kc, g->n_keys, r, &kb)) id = cn_eng__keys_find(&g->keys, kb.data, kb.len);
        for (uint32_t p = 0; p < g->n_parts && rc == 0; p++) {
            const CnEngPart *pt = &g->parts[p];
            const CnEngBase *b = &g->bases[pt->i_base];
            cn_agg_state_clear(st[p], 0);
            uint32_t m = 0;
            if (id != UINT32_MAX) {
                int64_t lo = pt->w_ms ? cn_agg_temporal_start(t, pt->w_ms) : INT64_MIN;
                for (uint32_t i = start[id]; i < start[id + 1]; i++) {
                    uint32_t row = byk[i];
                    if (g->ts_ok[row] && g->ts[row] < t && g->ts[row] >= lo) sel[m++] = row;
                }
            }
            rc = cn_agg_state_update(st[p], zero, sel, m, &g->rows->cols[b->i_input], &tsv,
                                     b->i_bucket >= 0 ? &g->rows->cols[b->i_bucket] : NULL, err);
            if (rc == 0) rc = cn_agg_state_finalize(st[p], &zero_id, 1, &out->cols[p], err);
        }
    }
    if (rc == 0) rc = cn_col_batch_sync_rows(out, err);
done:
    for (uint32_t p = 0; st && p < g->n_parts; p++) cn_agg_state_free(st[p]);
    cn_free(st);
    cn_free(start);
    cn_free(byk);
    cn_free(sel);
    cn_free(zero);
    cn_free(valid);
    cn_buf_fini(&kb);
    return rc;
}
