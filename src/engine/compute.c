/* compute.c: daily snapshots from tiles (events) or from one partition (entities).
 * A tile is the IR of every key over one time tile [t, t+tile_ms) of one base, from the
 * rows of one storage partition. The tile that day D's windows take for time t is the
 * merge of the tiles of t stored on or before day(t) (the "main" tile); tiles stored
 * later (late rows) become visible on their storage day (D27) and are merged per day on
 * top of the sliding merge. Windowed parts slide over main tiles (src/agg slider);
 * unwindowed parts fold main tiles into a running IR.
 * Tiles are SPARSE: a tile holds IRs only for the keys with rows in it, IR j belonging
 * to key id gid[j] (1M keys over 30 days would otherwise need 30 dense states of 1M
 * slots per aggregation, almost all null). Only the merged main tile of a time with
 * several storage days is dense (gid NULL: IR j is key id j). */
#include "engine/eng_int.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/date.h"
#include "base/hash.h"
#include "base/log.h"
#include "base/pool.h"

typedef struct TileEnt {
    int32_t pday;
    uint32_t base;
    int64_t tile;
    CnAggState *st;
    uint32_t *gid;      /* key id of each IR; n_ids(st) == n_gid */
    uint32_t n_gid, cap_gid;
} TileEnt;

struct CnEngTileSet {
    CnEngGroupBy *g;
    TileEnt *ents;
    uint32_t n, cap;
    uint32_t *slots; /* index+1 */
    uint32_t n_slots;
};

int cn_eng__tiles_new(CnEngGroupBy *g, CnEngTileSet **out, CnErr *err) {
    CnEngTileSet *ts = cn_calloc(1, sizeof *ts);
    if (!ts) return cn_err_set(err, CN_ENOMEM, "tiles: out of memory");
    ts->g = g;
    *out = ts;
    return 0;
}

void cn_eng__tiles_free(CnEngTileSet *ts) {
    if (!ts) return;
    for (uint32_t i = 0; i < ts->n; i++) cn_agg_state_free(ts->ents[i].st), cn_free(ts->ents[i].gid);
    cn_free(ts->ents);
    cn_free(ts->slots);
    cn_free(ts);
}

static uint64_t tile_hash(int32_t pday, int64_t tile, uint32_t base) {
    return cn_hash_u64((uint64_t)tile * 31 + (uint64_t)(uint32_t)pday * 1000003u + base);
}

static int rehash(CnEngTileSet *ts, CnErr *err) {
    uint32_t ns = ts->n_slots ? ts->n_slots * 2 : 256;
    uint32_t *s = cn_calloc(ns, sizeof *s);
    if (!s) return cn_err_set(err, CN_ENOMEM, "tiles: out of memory");
    for (uint32_t i = 0; i < ts->n; i++) {
        uint32_t j = (uint32_t)tile_hash(ts->ents[i].pday, ts->ents[i].tile, ts->ents[i].base) & (ns - 1);
        while (s[j]) j = (j + 1) & (ns - 1);
        s[j] = i + 1;
    }
    cn_free(ts->slots);
    ts->slots = s;
    ts->n_slots = ns;
    return 0;
}

static int tiles_ent(CnEngTileSet *ts, int32_t pday, int64_t tile, uint32_t base, TileEnt **out, CnErr *err) {
    int rc;
    if ((ts->n + 1) * 2 > ts->n_slots && (rc = rehash(ts, err))) return rc;
    uint32_t j = (uint32_t)tile_hash(pday, tile, base) & (ts->n_slots - 1);
    while (ts->slots[j]) {
        TileEnt *e = &ts->ents[ts->slots[j] - 1];
        if (e->pday == pday && e->tile == tile && e->base == base) {
            *out = e;
            return 0;
        }
        j = (j + 1) & (ts->n_slots - 1);
    }
    if (ts->n == ts->cap) {
        uint32_t nc = ts->cap ? ts->cap * 2 : 64;
        TileEnt *ne = cn_realloc(ts->ents, nc * sizeof *ne);
        if (!ne) return cn_err_set(err, CN_ENOMEM, "tiles: out of memory");
        ts->ents = ne;
        ts->cap = nc;
    }
    TileEnt *e = &ts->ents[ts->n];
    e->pday = pday;
    e->tile = tile;
    e->base = base;
    e->st = NULL;
    e->gid = NULL;
    e->n_gid = e->cap_gid = 0;
    rc = cn_agg_state_new(ts->g->bases[base].spec, &e->st, err);
    if (rc) return rc;
    ts->slots[j] = ++ts->n;
    *out = e;
    return 0;
}

int cn_eng__tiles_get(CnEngTileSet *ts, int32_t pday, int64_t tile, uint32_t base, CnAggState **out, CnErr *err) {
    TileEnt *e = NULL;
    int rc = tiles_ent(ts, pday, tile, base, &e, err);
    *out = rc ? NULL : e->st;
    return rc;
}

/* Appends key id to e's map (a new null IR). */
static int ent_add_id(TileEnt *e, uint32_t id, CnErr *err) {
    if (e->n_gid == e->cap_gid) {
        uint32_t nc = e->cap_gid ? e->cap_gid * 2 : 16;
        uint32_t *ng = cn_realloc(e->gid, (size_t)nc * sizeof *ng);
        if (!ng) return cn_err_set(err, CN_ENOMEM, "tiles: out of memory");
        e->gid = ng;
        e->cap_gid = nc;
    }
    e->gid[e->n_gid++] = id;
    return 0;
}

int cn_eng__tiles_slot(CnEngTileSet *ts, int32_t pday, int64_t tile, uint32_t base, uint32_t id, CnAggState **st,
                       uint32_t *slot, CnErr *err) {
    TileEnt *e = NULL;
    int rc = tiles_ent(ts, pday, tile, base, &e, err);
    if (rc == 0) rc = ent_add_id(e, id, err);
    if (rc == 0) rc = cn_agg_state_reserve(e->st, e->n_gid, err);
    if (rc) return rc;
    *st = e->st;
    *slot = e->n_gid - 1;
    return 0;
}

const uint32_t *cn_eng__tiles_ids(const CnEngTileSet *ts, uint32_t i) { return ts->ents[i].gid; }

uint32_t cn_eng__tiles_n(const CnEngTileSet *ts) { return ts->n; }

void cn_eng__tiles_at(const CnEngTileSet *ts, uint32_t i, int32_t *pday, int64_t *tile, uint32_t *base,
                      CnAggState **st) {
    *pday = ts->ents[i].pday;
    *tile = ts->ents[i].tile;
    *base = ts->ents[i].base;
    *st = ts->ents[i].st;
}

static uint64_t tiles_mem(const CnEngTileSet *ts) {
    uint64_t m = 0;
    for (uint32_t i = 0; i < ts->n; i++) m += cn_agg_state_mem(ts->ents[i].st) + (uint64_t)ts->ents[i].cap_gid * 4;
    return m;
}

/* A view of the loaded rows as vectors the agg kernels take: ts as an INT64 vector. */
typedef struct RowView {
    CnVec tsv;
    uint64_t *valid;
} RowView;

static int row_view(CnEngGroupBy *g, RowView *v, CnErr *err) {
    memset(v, 0, sizeof *v);
    v->tsv.type = cn_col_type_prim(CN_COL_INT64);
    v->tsv.n = g->n_rows;
    v->tsv.values = g->ts;
    size_t words = ((size_t)g->n_rows + 63) / 64 + 1;
    v->valid = cn_calloc(words, sizeof *v->valid);
    if (!v->valid) return cn_err_set(err, CN_ENOMEM, "out of memory");
    uint32_t nn = 0;
    for (uint32_t r = 0; r < g->n_rows; r++) {
        if (g->ts_ok[r]) v->valid[r >> 6] |= UINT64_C(1) << (r & 63);
        else nn++;
    }
    v->tsv.valid = v->valid;
    v->tsv.n_null = nn;
    return 0;
}

typedef struct RowKey {
    int64_t tile;
    int32_t pday;
    uint32_t row;
} RowKey;

static int cmp_rowkey(const void *a, const void *b) {
    const RowKey *x = a, *y = b;
    if (x->pday != y->pday) return x->pday < y->pday ? -1 : 1;
    if (x->tile != y->tile) return x->tile < y->tile ? -1 : 1;
    return (x->row > y->row) - (x->row < y->row);
}

/* Rows with a ts in order of (pday, floor(ts, tile_ms)), rows in source order within
 * one (pday, tile) (the order the kernels see them in decides ties). A counting sort
 * when the (partition, tile) grid is small, else a comparison sort. Returns the count. */
static int order_rows(CnEngGroupBy *g, int64_t tile_ms, uint32_t *order, RowKey *rk, uint32_t *n_out, CnErr *err) {
    uint32_t n = 0;
    int32_t pmin = INT32_MAX, pmax = INT32_MIN;
    int64_t tmin = INT64_MAX, tmax = INT64_MIN;
    for (uint32_t r = 0; r < g->n_rows; r++) {
        if (!g->ts_ok[r]) continue; /* events without ts never count */
        int64_t t = cn_agg_floor(g->ts[r], tile_ms) / tile_ms;
        if (g->pday[r] < pmin) pmin = g->pday[r];
        if (g->pday[r] > pmax) pmax = g->pday[r];
        if (t < tmin) tmin = t;
        if (t > tmax) tmax = t;
        n++;
    }
    *n_out = n;
    if (n == 0) return 0;
    uint64_t pspan = (uint64_t)((int64_t)pmax - pmin + 1), tspan = (uint64_t)(tmax - tmin + 1);
    if (tmax - tmin < (int64_t)(1u << 22) && pspan * tspan <= (uint64_t)(1u << 22)) {
        size_t nb = (size_t)(pspan * tspan);
        uint32_t *cnt = cn_calloc(nb + 1, sizeof *cnt);
        if (!cnt) return cn_err_set(err, CN_ENOMEM, "tiles: out of memory");
        for (uint32_t r = 0; r < g->n_rows; r++) {
            if (!g->ts_ok[r]) continue;
            uint64_t k = (uint64_t)(g->pday[r] - pmin) * tspan + (uint64_t)(cn_agg_floor(g->ts[r], tile_ms) / tile_ms - tmin);
            cnt[k + 1]++;
        }
        for (size_t k = 0; k < nb; k++) cnt[k + 1] += cnt[k];
        for (uint32_t r = 0; r < g->n_rows; r++) {
            if (!g->ts_ok[r]) continue;
            uint64_t k = (uint64_t)(g->pday[r] - pmin) * tspan + (uint64_t)(cn_agg_floor(g->ts[r], tile_ms) / tile_ms - tmin);
            order[cnt[k]++] = r;
        }
        cn_free(cnt);
        return 0;
    }
    n = 0;
    for (uint32_t r = 0; r < g->n_rows; r++) {
        if (!g->ts_ok[r]) continue;
        rk[n].tile = cn_agg_floor(g->ts[r], tile_ms);
        rk[n].pday = g->pday[r];
        rk[n].row = r;
        n++;
    }
    qsort(rk, n, sizeof *rk, cmp_rowkey);
    for (uint32_t i = 0; i < n; i++) order[i] = rk[i].row;
    return 0;
}

int cn_eng__tiles_build(CnEngGroupBy *g, CnEngTileSet *ts, CnErr *err) {
    RowView v;
    RowKey *rk = NULL;
    uint32_t *order = NULL, *loc = NULL, *local_of = NULL;
    bool *done_b = NULL;
    int rc = row_view(g, &v, err);
    if (rc) return rc;
    rk = cn_malloc(((size_t)g->n_rows + 1) * sizeof *rk);
    order = cn_malloc(((size_t)g->n_rows + 1) * sizeof *order);
    loc = cn_malloc(((size_t)g->n_rows + 1) * sizeof *loc);
    local_of = cn_malloc(((size_t)g->keys.n + 1) * sizeof *local_of);
    done_b = cn_calloc(g->n_bases + 1, sizeof *done_b);
    if (!rk || !order || !loc || !local_of || !done_b) {
        rc = cn_err_set(err, CN_ENOMEM, "tiles: out of memory");
        goto done;
    }
    memset(local_of, 0xff, ((size_t)g->keys.n + 1) * sizeof *local_of);
    /* bases with the same tile size share one ordering of the rows */
    for (uint32_t b0 = 0; b0 < g->n_bases && rc == 0; b0++) {
        if (done_b[b0]) continue;
        int64_t tile_ms = g->bases[b0].tile_ms;
        uint32_t n = 0;
        rc = order_rows(g, tile_ms, order, rk, &n, err);
        for (uint32_t i = 0; i < n && rc == 0;) {
            uint32_t r0 = order[i];
            int32_t pday = g->pday[r0];
            int64_t tile = cn_agg_floor(g->ts[r0], tile_ms);
            uint32_t j = i;
            while (j < n && g->pday[order[j]] == pday && cn_agg_floor(g->ts[order[j]], tile_ms) == tile) j++;
            for (uint32_t b = b0; b < g->n_bases && rc == 0; b++) {
                const CnEngBase *base = &g->bases[b];
                if (base->tile_ms != tile_ms) continue;
                TileEnt *e = NULL;
                rc = tiles_ent(ts, pday, tile, b, &e, err);
                /* local slots: the tile's existing keys keep theirs, new keys are appended */
                for (uint32_t k = 0; rc == 0 && k < e->n_gid; k++) local_of[e->gid[k]] = k;
                for (uint32_t k = i; k < j && rc == 0; k++) {
                    uint32_t id = g->key_id[order[k]];
                    if (local_of[id] == UINT32_MAX) {
                        local_of[id] = e->n_gid;
                        rc = ent_add_id(e, id, err);
                    }
                    loc[order[k]] = local_of[id];
                }
                for (uint32_t k = 0; e && k < e->n_gid; k++) local_of[e->gid[k]] = UINT32_MAX;
                if (rc == 0) rc = cn_agg_state_reserve(e->st, e->n_gid, err);
                if (rc == 0)
                    rc = cn_agg_state_update(e->st, loc, order + i, j - i, &g->rows->cols[base->i_input], &v.tsv,
                                             base->i_bucket >= 0 ? &g->rows->cols[base->i_bucket] : NULL, err);
            }
            i = j;
        }
        for (uint32_t b = b0; b < g->n_bases; b++)
            if (g->bases[b].tile_ms == tile_ms) done_b[b] = true;
        if (rc == 0) rc = cn_eng__mem_check(g, tiles_mem(ts), "building daily tiles", err);
    }
done:
    cn_free(v.valid);
    cn_free(rk);
    cn_free(order);
    cn_free(loc);
    cn_free(local_of);
    cn_free(done_b);
    return rc;
}

/* ------------------------------------------------------------------ output batch */

int cn_eng__out_schema(CnEngGroupBy *g, CnSchema **out, CnErr *err) {
    int rc = cn_col_schema_new(out);
    for (uint32_t i = 0; i < g->key_schema->n_fields && rc == 0; i++)
        rc = cn_col_schema_add(*out, g->key_schema->fields[i].name, g->key_schema->fields[i].type, true, CN_COL_NO_ID,
                               err);
    for (uint32_t i = 0; i < g->value_schema->n_fields && rc == 0; i++)
        rc = cn_col_schema_add(*out, g->value_schema->fields[i].name, g->value_schema->fields[i].type, true,
                               CN_COL_NO_ID, err);
    if (rc == 0) rc = cn_col_schema_add(*out, CN_ICE_DS, cn_col_type_prim(CN_COL_STRING), true, CN_COL_NO_ID, err);
    return rc;
}

/* ------------------------------------------------------------------ events */

typedef struct Group {  /* tiles of one (base, time tile) */
    uint32_t base;
    int64_t tile;
    uint32_t first, n;  /* into order[] */
    CnAggState *main;   /* merge of the non-late tiles (owned when merged) */
    const uint32_t *main_gid; /* its key ids (NULL: dense) */
    bool owned;
} Group;

typedef struct Ctx {
    CnEngGroupBy *g;
    CnEngTileSet *ts;
    uint32_t *order;    /* tile entries sorted by (base, tile, pday) */
    Group *groups;
    uint32_t n_groups;
    CnAggState **empty; /* per base: an empty tile */
} Ctx;

static CnEngTileSet *sort_ts;
static int cmp_ent(const void *a, const void *b) {
    const TileEnt *x = &sort_ts->ents[*(const uint32_t *)a], *y = &sort_ts->ents[*(const uint32_t *)b];
    if (x->base != y->base) return x->base < y->base ? -1 : 1;
    if (x->tile != y->tile) return x->tile < y->tile ? -1 : 1;
    return (x->pday > y->pday) - (x->pday < y->pday);
}

static int32_t day_of_ms(int64_t t) { return (int32_t)cn_ms_to_days(t); }

/* dst[gid[i]] (gid NULL: dst[i]) = merge with src[i] for every present IR i of src. */
static int merge_all(CnAggState *dst, const CnAggState *src, const uint32_t *gid, uint32_t n_ids, CnErr *err) {
    uint32_t n = cn_agg_state_n_ids(src);
    if (!gid && n > n_ids) n = n_ids;
    for (uint32_t i = 0; i < n; i++) {
        if (!cn_agg_state_present(src, i)) continue;
        uint32_t id = gid ? gid[i] : i;
        if (id >= n_ids) continue;
        int rc = cn_agg_state_merge(dst, id, src, i, err);
        if (rc) return rc;
    }
    return 0;
}

/* Group index of (base, tile) or -1. */
static int64_t find_group(const Ctx *c, uint32_t base, int64_t tile) {
    int64_t lo = 0, hi = (int64_t)c->n_groups - 1;
    while (lo <= hi) {
        int64_t mid = (lo + hi) / 2;
        const Group *gr = &c->groups[mid];
        if (gr->base == base && gr->tile == tile) return mid;
        if (gr->base < base || (gr->base == base && gr->tile < tile)) lo = mid + 1;
        else hi = mid - 1;
    }
    return -1;
}

/* The main tile of (base, tile) and its key ids (NULL: dense): BORROWED until the
 * context is freed. */
static int main_tile(Ctx *c, uint32_t base, int64_t tile, const CnAggState **out, const uint32_t **gid,
                     CnErr *err) {
    int64_t gi = find_group(c, base, tile);
    *out = c->empty[base];
    *gid = NULL;
    if (gi < 0) return 0;
    Group *gr = &c->groups[gi];
    if (gr->main) {
        *out = gr->main;
        *gid = gr->main_gid;
        return 0;
    }
    int32_t td = day_of_ms(tile);
    uint32_t n_main = 0, last = 0;
    for (uint32_t k = 0; k < gr->n; k++)
        if (c->ts->ents[c->order[gr->first + k]].pday <= td) n_main++, last = k;
    if (n_main == 0) return 0;
    if (n_main == 1) {
        gr->main = c->ts->ents[c->order[gr->first + last]].st;
        gr->main_gid = c->ts->ents[c->order[gr->first + last]].gid;
        *out = gr->main;
        *gid = gr->main_gid;
        return 0;
    }
    int rc = cn_agg_state_new(c->g->bases[base].spec, &gr->main, err);
    if (rc == 0) rc = cn_agg_state_reserve(gr->main, c->g->keys.n, err);
    for (uint32_t k = 0; k < gr->n && rc == 0; k++) {
        const TileEnt *e = &c->ts->ents[c->order[gr->first + k]];
        if (e->pday <= td) rc = merge_all(gr->main, e->st, e->gid, c->g->keys.n, err);
    }
    gr->owned = true;
    *out = gr->main;
    return rc;
}

static void ctx_free(Ctx *c) {
    for (uint32_t i = 0; i < c->n_groups; i++)
        if (c->groups[i].owned) cn_agg_state_free(c->groups[i].main);
    for (uint32_t b = 0; c->empty && b < c->g->n_bases; b++) cn_agg_state_free(c->empty[b]);
    cn_free(c->empty);
    cn_free(c->groups);
    cn_free(c->order);
}

static int ctx_init(Ctx *c, CnEngGroupBy *g, CnEngTileSet *ts, CnErr *err) {
    memset(c, 0, sizeof *c);
    c->g = g;
    c->ts = ts;
    c->order = cn_malloc(((size_t)ts->n + 1) * sizeof *c->order);
    c->groups = cn_malloc(((size_t)ts->n + 1) * sizeof *c->groups);
    c->empty = cn_calloc(g->n_bases + 1, sizeof *c->empty);
    if (!c->order || !c->groups || !c->empty) return cn_err_set(err, CN_ENOMEM, "out of memory");
    for (uint32_t i = 0; i < ts->n; i++) c->order[i] = i;
    sort_ts = ts; /* qsort has no context argument; one sort at a time per process */
    qsort(c->order, ts->n, sizeof *c->order, cmp_ent);
    sort_ts = NULL;
    for (uint32_t i = 0; i < ts->n;) {
        const TileEnt *e = &ts->ents[c->order[i]];
        Group *gr = &c->groups[c->n_groups++];
        gr->base = e->base;
        gr->tile = e->tile;
        gr->first = i;
        gr->main = NULL;
        gr->main_gid = NULL;
        gr->owned = false;
        uint32_t j = i;
        while (j < ts->n && ts->ents[c->order[j]].base == e->base && ts->ents[c->order[j]].tile == e->tile) j++;
        gr->n = j - i;
        i = j;
    }
    int rc = 0;
    for (uint32_t b = 0; b < g->n_bases && rc == 0; b++) rc = cn_agg_state_new(g->bases[b].spec, &c->empty[b], err);
    return rc;
}

static int emit_rows(CnEngGroupBy *g, int32_t day, CnBatch *ob, CnAggState **dst, const uint32_t *ids, uint32_t n,
                     bool drop_all_null, CnEngEmitFn emit, void *ud, CnErr *err) {
    int rc = 0;
    cn_col_batch_reset(ob);
    uint32_t nk = g->n_keys;
    for (uint32_t k = 0; k < nk; k++)
        for (uint32_t i = 0; i < n; i++) cn_col_vec_append_from(&ob->cols[k], &g->keys.vals->cols[k], ids[i]);
    for (uint32_t p = 0; p < g->n_parts && rc == 0; p++) rc = cn_agg_state_finalize(dst[p], ids, n, &ob->cols[nk + p], err);
    char ds[11];
    cn_ds_format(day, ds);
    for (uint32_t i = 0; i < n; i++) cn_col_vec_append_str(&ob->cols[ob->n_cols - 1], ds, 10);
    if (rc == 0) rc = cn_col_batch_sync_rows(ob, err);
    if (rc) return rc;
    uint32_t *sel = NULL;
    if (drop_all_null) {
        /* D6: an events snapshot writes a key only when some value is non-null */
        sel = cn_malloc(((size_t)n + 1) * sizeof *sel);
        if (!sel) return cn_err_set(err, CN_ENOMEM, "out of memory");
        uint32_t k = 0;
        for (uint32_t i = 0; i < n; i++) {
            bool any = false;
            for (uint32_t p = 0; p < g->n_parts && !any; p++) any = cn_col_vec_is_valid(&ob->cols[nk + p], i);
            if (any) sel[k++] = i;
        }
        ob->sel = sel;
        ob->n_sel = k;
    }
    rc = emit(ud, day, ob, err);
    ob->sel = NULL;
    cn_free(sel);
    return rc;
}

/* True when a window must be a left fold of its tiles in time order instead of a
 * sliding merge: floating-point sums and moments (add/subtract and two-stack merge trees
 * round differently depending on where a run starts, and a later incremental run must
 * give the same bits as a full recompute), sketches (same reason), and deletable
 * bucketed or map parts (subtracting leaves zero-count entries instead of none). */
static bool needs_fold(const CnEngGroupBy *g, const CnEngBase *b) {
    const CnType *it = g->row_schema->fields[b->i_input].type;
    if (it->id == CN_COL_LIST || it->id == CN_COL_MAP) it = it->children[it->id == CN_COL_MAP ? 1 : 0].type;
    bool fp = it->id == CN_COL_FLOAT32 || it->id == CN_COL_FLOAT64;
    switch (cn_agg_spec_op(b->spec)) {
    case CN_AGG_VARIANCE:
    case CN_AGG_SKEW:
    case CN_AGG_KURTOSIS:
    case CN_AGG_APPROX_PERCENTILE:
    case CN_AGG_APPROX_UNIQUE_COUNT:
    case CN_AGG_APPROX_HISTOGRAM_K:
        return true;
    case CN_AGG_SUM:
    case CN_AGG_AVERAGE:
        if (fp) return true;
        break;
    default:
        break;
    }
    return cn_agg_spec_deletable(b->spec) &&
           (b->i_bucket >= 0 || g->row_schema->fields[b->i_input].type->id == CN_COL_MAP);
}

static int compute_events(CnEngGroupBy *g, int32_t s, int32_t e, CnEngTileSet *ts, CnBatch *ob, CnEngEmitFn emit,
                          void *ud, CnErr *err) {
    Ctx c;
    CnAggSlider **sl = cn_calloc(g->n_parts + 1, sizeof *sl);
    CnAggState **dst = cn_calloc(g->n_parts + 1, sizeof *dst);
    int64_t *next_t = cn_calloc(g->n_parts + 1, sizeof *next_t); /* next tile to fold/push */
    uint32_t *late_next = cn_calloc(g->n_parts + 1, sizeof *late_next);
    bool *direct = cn_calloc(g->n_parts + 1, sizeof *direct);
    uint32_t *ids = NULL;
    uint32_t *late = NULL, n_late = 0;
    int rc = ctx_init(&c, g, ts, err);
    if (!sl || !dst || !next_t || !late_next || !direct) rc = rc ? rc : cn_err_set(err, CN_ENOMEM, "out of memory");
    uint32_t n_ids = g->keys.n;
    ids = cn_malloc(((size_t)n_ids + 1) * sizeof *ids);
    late = cn_malloc(((size_t)ts->n + 1) * sizeof *late);
    if (!ids || !late) rc = rc ? rc : cn_err_set(err, CN_ENOMEM, "out of memory");
    if (rc) goto done;
    for (uint32_t i = 0; i < n_ids; i++) ids[i] = i;
    /* late tiles (stored after their time's day), by storage day */
    for (uint32_t i = 0; i < ts->n; i++) {
        const TileEnt *te = &ts->ents[c.order[i]];
        if (te->pday > day_of_ms(te->tile)) late[n_late++] = c.order[i];
    }
    for (uint32_t i = 1; i < n_late; i++) { /* insertion sort by pday: late tiles are few */
        uint32_t x = late[i], j = i;
        while (j > 0 && ts->ents[late[j - 1]].pday > ts->ents[x].pday) late[j] = late[j - 1], j--;
        late[j] = x;
    }
    int64_t min_tile = INT64_MAX;
    for (uint32_t i = 0; i < ts->n; i++)
        if (ts->ents[i].tile < min_tile) min_tile = ts->ents[i].tile;
    for (uint32_t p = 0; p < g->n_parts && rc == 0; p++) {
        const CnEngPart *pt = &g->parts[p];
        const CnEngBase *b = &g->bases[pt->i_base];
        rc = cn_agg_state_new(b->spec, &dst[p], err);
        if (rc == 0) rc = cn_agg_state_reserve(dst[p], n_ids, err);
        direct[p] = needs_fold(g, b);
        if (rc == 0 && pt->w_ms && !direct[p]) rc = cn_agg_slider_new(b->spec, &sl[p], err);
        int64_t e0 = ((int64_t)s + 1) * CN_MS_PER_DAY;
        next_t[p] = pt->w_ms ? e0 - pt->w_ms : (min_tile == INT64_MAX ? e0 : cn_agg_floor(min_tile, b->tile_ms));
    }
    for (int32_t d = s; d <= e && rc == 0; d++) {
        int64_t end = ((int64_t)d + 1) * CN_MS_PER_DAY;
        for (uint32_t p = 0; p < g->n_parts && rc == 0; p++) {
            const CnEngPart *pt = &g->parts[p];
            const CnEngBase *b = &g->bases[pt->i_base];
            const CnAggState *tile = NULL;
            const uint32_t *tg = NULL;
            if (!pt->w_ms) {
                /* running IR: fold main tiles up to the end of d, then late tiles stored by d */
                for (; next_t[p] < end && rc == 0; next_t[p] += b->tile_ms) {
                    rc = main_tile(&c, (uint32_t)pt->i_base, next_t[p], &tile, &tg, err);
                    if (rc == 0) rc = merge_all(dst[p], tile, tg, n_ids, err);
                }
                for (; late_next[p] < n_late && rc == 0; late_next[p]++) {
                    const TileEnt *te = &ts->ents[late[late_next[p]]];
                    if (te->pday > d) break;
                    if (te->base == (uint32_t)pt->i_base) rc = merge_all(dst[p], te->st, te->gid, n_ids, err);
                }
                continue;
            }
            int64_t n_tiles = pt->w_ms / b->tile_ms;
            if (direct[p]) {
                /* merge the window's tiles afresh: subtracting would leave bucket or map
                 * entries with a zero count behind instead of removing them */
                cn_agg_state_reset(dst[p]);
                for (int64_t t = end - pt->w_ms; t < end && rc == 0; t += b->tile_ms) {
                    rc = main_tile(&c, (uint32_t)pt->i_base, t, &tile, &tg, err);
                    if (rc == 0) rc = merge_all(dst[p], tile, tg, n_ids, err);
                }
                goto late_tiles;
            }
            for (; next_t[p] < end && rc == 0; next_t[p] += b->tile_ms) {
                rc = main_tile(&c, (uint32_t)pt->i_base, next_t[p], &tile, &tg, err);
                if (rc == 0) rc = cn_agg_slider_push_ids(sl[p], tile, tg, err);
                while (rc == 0 && cn_agg_slider_len(sl[p]) > n_tiles) rc = cn_agg_slider_pop(sl[p], err);
            }
            cn_agg_state_reset(dst[p]);
            for (uint32_t id = 0; id < n_ids && rc == 0; id++) rc = cn_agg_slider_query(sl[p], id, dst[p], id, err);
        late_tiles:
            /* late tiles in the window, visible from their storage day on */
            for (uint32_t i = 0; i < n_late && rc == 0; i++) {
                const TileEnt *te = &ts->ents[late[i]];
                if (te->pday > d) break;
                if (te->base == (uint32_t)pt->i_base && te->tile >= end - pt->w_ms && te->tile < end)
                    rc = merge_all(dst[p], te->st, te->gid, n_ids, err);
            }
        }
        if (rc == 0) { /* tiles, window states and sliders of this day against --max-memory */
            uint64_t extra = tiles_mem(ts);
            for (uint32_t p = 0; p < g->n_parts; p++)
                extra += cn_agg_state_mem(dst[p]) + (sl[p] ? cn_agg_slider_mem(sl[p]) : 0);
            rc = cn_eng__mem_check(g, extra, "computing the daily windows", err);
        }
        if (rc == 0 && cn_eng__has_day(g, d)) rc = emit_rows(g, d, ob, dst, ids, n_ids, true, emit, ud, err);
    }
done:
    for (uint32_t p = 0; p < g->n_parts; p++) {
        if (sl) cn_agg_slider_free(sl[p]);
        if (dst) cn_agg_state_free(dst[p]);
    }
    cn_free(sl);
    cn_free(dst);
    cn_free(next_t);
    cn_free(late_next);
    cn_free(direct);
    cn_free(ids);
    cn_free(late);
    ctx_free(&c);
    return rc;
}

/* True when folding a window's rows straight into its IR gives the same bits as merging
 * its tiles: no floating-point sums or moments, sketches or deletable bucket/map parts
 * (the ones needs_fold lists). */
static bool rows_exact(const CnEngGroupBy *g) {
    for (uint32_t b = 0; b < g->n_bases; b++)
        if (needs_fold(g, &g->bases[b])) return false;
    return true;
}

/* Snapshots of a day or two without tiles (no tile store involved): each part folds the
 * rows of its window that are visible on day d (storage partition <= d, D27) straight
 * into its IR. Building tiles and merging 30 of them per key costs more than the rows
 * themselves when only one day is wanted. */
static int compute_rows(CnEngGroupBy *g, int32_t s, int32_t e, CnBatch *ob, CnEngEmitFn emit, void *ud,
                        CnErr *err) {
    RowView v;
    uint32_t n_ids = g->keys.n;
    CnAggState **dst = cn_calloc(g->n_parts + 1, sizeof *dst);
    uint32_t *sel = cn_malloc(((size_t)g->n_rows + 1) * sizeof *sel);
    uint32_t *ids = cn_malloc(((size_t)n_ids + 1) * sizeof *ids);
    int rc = row_view(g, &v, err);
    if (!dst || !sel || !ids) rc = rc ? rc : cn_err_set(err, CN_ENOMEM, "out of memory");
    for (uint32_t i = 0; rc == 0 && i < n_ids; i++) ids[i] = i;
    for (uint32_t p = 0; p < g->n_parts && rc == 0; p++) {
        rc = cn_agg_state_new(g->bases[g->parts[p].i_base].spec, &dst[p], err);
        if (rc == 0) rc = cn_agg_state_reserve(dst[p], n_ids, err);
    }
    for (int32_t d = s; d <= e && rc == 0; d++) {
        if (!cn_eng__has_day(g, d)) continue;
        int64_t end = ((int64_t)d + 1) * CN_MS_PER_DAY;
        for (uint32_t p = 0; p < g->n_parts && rc == 0; p++) {
            const CnEngPart *pt = &g->parts[p];
            const CnEngBase *b = &g->bases[pt->i_base];
            int64_t lo = pt->w_ms ? end - pt->w_ms : INT64_MIN;
            uint32_t m = 0;
            for (uint32_t r = 0; r < g->n_rows; r++)
                if (g->ts_ok[r] && g->pday[r] <= d && g->ts[r] < end && g->ts[r] >= lo) sel[m++] = r;
            cn_agg_state_reset(dst[p]);
            rc = cn_agg_state_update(dst[p], g->key_id, sel, m, &g->rows->cols[b->i_input], &v.tsv,
                                     b->i_bucket >= 0 ? &g->rows->cols[b->i_bucket] : NULL, err);
        }
        uint64_t extra = (uint64_t)g->n_rows * 4;
        for (uint32_t p = 0; rc == 0 && p < g->n_parts; p++) extra += cn_agg_state_mem(dst[p]);
        if (rc == 0) rc = cn_eng__mem_check(g, extra, "computing the daily windows", err);
        if (rc == 0) rc = emit_rows(g, d, ob, dst, ids, n_ids, true, emit, ud, err);
    }
    for (uint32_t p = 0; dst && p < g->n_parts; p++) cn_agg_state_free(dst[p]);
    cn_free(dst);
    cn_free(sel);
    cn_free(ids);
    cn_free(v.valid);
    return rc;
}

/* ------------------------------------------------------------------ key fold */

/* The fast path of one- and two-day runs without tiles, for the common exact operations
 * over one long input column (SUM, COUNT, AVERAGE, MIN, MAX, LAST_K, FIRST_K, any
 * windows, no buckets). Per day: the visible rows (storage partition <= d, ts in the
 * widest window, value not null) are put in key order by one counting sort, keeping
 * source order within a key; then each key's rows are folded in one sequential pass
 * into plain accumulators per distinct window, and its output row is appended at once.
 * K-lists sort the key's few rows by (ts, value) newest first: every window's rows are
 * then a prefix of that order (they are the rows with ts >= the window's start), so
 * LAST_K of a window is the head of its prefix and FIRST_K the prefix's tail reversed.
 * Results are bit for bit the generic path's: integer sums wrap alike, AVERAGE adds the
 * same doubles in the same (source) order (or takes the integer sum when that order
 * cannot change a bit: fold_win_exact), K-lists follow rec.c's total order (ts, then
 * value), and the rows written are the keys with a visible row, in key id order (the
 * D6 filter of the generic path keeps exactly those). CN_ENG_FOLD=0 turns it off (tests
 * compare both paths). */

typedef struct FoldRow { /* one visible row of a key, in the key-ordered scratch */
    int64_t ts;
    int64_t v;
} FoldRow;

typedef struct FoldWin { /* accumulators of one key over one window */
    int64_t lo;    /* start of the window; INT64_MIN unwindowed */
    uint64_t n, sum;
    double dsum;
    int64_t mn, mx;
} FoldWin;

bool cn_eng__fold_enabled(void) {
    const char *e = getenv("CN_ENG_FOLD");
    return !e || strcmp(e, "0") != 0;
}

bool cn_eng__fold_plan(const CnEngGroupBy *g, CnEngFoldPart *fp, int64_t *wins, uint32_t *n_wins) {
    if (g->entities || !g->n_parts || !g->n_bases || g->no_aggs) return false;
    int i_input = g->bases[0].i_input;
    if (g->row_schema->fields[i_input].type->id != CN_COL_INT64) return false;
    *n_wins = 0;
    for (uint32_t p = 0; p < g->n_parts; p++) {
        const CnEngPart *pt = &g->parts[p];
        const CnEngBase *b = &g->bases[pt->i_base];
        if (b->i_input != i_input || b->i_bucket >= 0) return false;
        const CnType *ot = cn_agg_spec_output_type(b->spec);
        CnTypeId want = CN_COL_INT64;
        switch (cn_agg_spec_op(b->spec)) {
        case CN_AGG_SUM: fp[p].op = CN_ENG_FOLD_SUM; break;
        case CN_AGG_COUNT: fp[p].op = CN_ENG_FOLD_COUNT; break;
        case CN_AGG_AVERAGE: fp[p].op = CN_ENG_FOLD_AVG, want = CN_COL_FLOAT64; break;
        case CN_AGG_MIN: fp[p].op = CN_ENG_FOLD_MIN; break;
        case CN_AGG_MAX: fp[p].op = CN_ENG_FOLD_MAX; break;
        case CN_AGG_LAST_K: fp[p].op = CN_ENG_FOLD_LASTK, want = CN_COL_LIST; break;
        case CN_AGG_FIRST_K: fp[p].op = CN_ENG_FOLD_FIRSTK, want = CN_COL_LIST; break;
        default: return false;
        }
        if (ot->id != want) return false;
        if (want == CN_COL_LIST && ot->children[0].type->id != CN_COL_INT64) return false;
        int32_t k = cn_agg_spec_k(b->spec);
        if (want == CN_COL_LIST && k < 1) return false;
        fp[p].k = want == CN_COL_LIST ? (uint32_t)k : 0;
        uint32_t w = 0;
        while (w < *n_wins && wins[w] != pt->w_ms) w++;
        if (w == *n_wins) wins[(*n_wins)++] = pt->w_ms;
        fp[p].win = w;
    }
    return true;
}

/* Appenders into vectors whose room fold_chunk reserved for the whole chunk (entries,
 * list elements, bytes): a store and a validity bit instead of a call and a capacity
 * check per value (about 40 values a key). */
static inline void put_bit(CnVec *v) {
    if (v->valid) v->valid[v->n >> 6] |= UINT64_C(1) << (v->n & 63); /* bits past n are zero */
    v->n++;
}

static inline void put_i64(CnVec *v, int64_t x) {
    ((int64_t *)v->values)[v->n] = x;
    put_bit(v);
}

static inline void put_f64(CnVec *v, double x) {
    ((double *)v->values)[v->n] = x;
    put_bit(v);
}

static inline void fold_win_reset(FoldWin *w, uint32_t n_wins) {
    for (uint32_t i = 0; i < n_wins; i++) {
        w[i].n = w[i].sum = 0;
        w[i].dsum = 0;
        w[i].mn = INT64_MAX;
        w[i].mx = INT64_MIN;
    }
}

/* Adds a row (ts t, value v) to the accumulators of the windows that hold it. */
static inline void fold_win_add(FoldWin *w, uint32_t n_wins, int64_t t, int64_t v) {
    for (uint32_t i = 0; i < n_wins; i++) {
        if (t < w[i].lo) continue;
        w[i].n++;
        w[i].sum += (uint64_t)v;
        w[i].dsum += (double)v;
        if (v < w[i].mn) w[i].mn = v;
        if (v > w[i].mx) w[i].mx = v;
    }
}

/* fold_win_add for parts that read a window's count and integer sum alone (lite: no MIN
 * or MAX, and AVERAGE's double sum exact, see fold_win_exact): no branch per window. */
static inline void fold_win_add_lite(FoldWin *w, uint32_t n_wins, int64_t t, int64_t v) {
    for (uint32_t i = 0; i < n_wins; i++) {
        uint64_t in = t >= w[i].lo;
        w[i].n += in;
        w[i].sum += (uint64_t)v & (0 - in);
    }
}

/* The double sums of a lite fold: when every partial sum is an integer below 2^53 in
 * magnitude (the caller checked max |value| x rows), adding the doubles in source order
 * is exact at every step, so its result is the integer sum's. */
static inline void fold_win_exact(FoldWin *w, uint32_t n_wins) {
    for (uint32_t i = 0; i < n_wins; i++) w[i].dsum = (double)(int64_t)w[i].sum;
}

static int fold_key_out(CnEngGroupBy *g, const CnEngFoldPart *fp, const FoldWin *w, uint32_t id, const FoldRow *kr,
                        const char *ds, CnBatch *ob);

/* Appends key id's output row (keys, one value per part, ds) from its rows kr[0..n). */
static int fold_key(CnEngGroupBy *g, const CnEngFoldPart *fp, FoldWin *w, uint32_t n_wins, bool any_k, bool lite,
                    uint32_t id, FoldRow *kr, uint32_t n, const char *ds, CnBatch *ob) {
    /* window by window over the key's rows, the sums in locals: row by row through the
     * windows' accumulators, each add waited on the store of the row before */
    for (uint32_t i = 0; i < n_wins; i++) {
        int64_t lo = w[i].lo;
        uint64_t c = 0, sum = 0;
        if (lite) {
            for (uint32_t j = 0; j < n; j++) {
                uint64_t in = kr[j].ts >= lo;
                c += in;
                sum += (uint64_t)kr[j].v & (0 - in);
            }
            w[i].n = c, w[i].sum = sum, w[i].dsum = (double)(int64_t)sum; /* fold_win_exact */
            continue;
        }
        double dsum = 0;
        int64_t mn = INT64_MAX, mx = INT64_MIN;
        for (uint32_t j = 0; j < n; j++) { /* source order: AVERAGE's double sum depends on it */
            int64_t v = kr[j].v;
            if (kr[j].ts < lo) continue;
            c++;
            sum += (uint64_t)v;
            dsum += (double)v;
            mn = v < mn ? v : mn;
            mx = v > mx ? v : mx;
        }
        w[i].n = c, w[i].sum = sum, w[i].dsum = dsum, w[i].mn = mn, w[i].mx = mx;
    }
    if (any_k) cn_eng__fold_sort(kr, n, sizeof *kr);
    return fold_key_out(g, fp, w, id, kr, ds, ob);
}

/* Appends key id's output row from its windows' accumulators w (and, for the K-lists,
 * its rows kr newest first; NULL when no part is one). */
static int fold_key_out(CnEngGroupBy *g, const CnEngFoldPart *fp, const FoldWin *w, uint32_t id, const FoldRow *kr,
                        const char *ds, CnBatch *ob) {
    int rc = 0;
    uint32_t nk = g->n_keys;
    for (uint32_t k = 0; k < nk; k++) rc |= cn_col_vec_append_from(&ob->cols[k], &g->keys.vals->cols[k], id);
    for (uint32_t p = 0; p < g->n_parts; p++) {
        CnVec *out = &ob->cols[nk + p];
        const FoldWin *fw = &w[fp[p].win];
        if (!fw->n) {
            rc |= cn_col_vec_append_null(out);
            continue;
        }
        switch (fp[p].op) {
        case CN_ENG_FOLD_SUM: put_i64(out, (int64_t)fw->sum); break;
        case CN_ENG_FOLD_COUNT: put_i64(out, (int64_t)fw->n); break;
        case CN_ENG_FOLD_MIN: put_i64(out, fw->mn); break;
        case CN_ENG_FOLD_MAX: put_i64(out, fw->mx); break;
        case CN_ENG_FOLD_AVG: {
            double d = fw->dsum / (double)fw->n;
            if (isfinite(d)) put_f64(out, d);
            else rc |= cn_col_vec_append_null(out); /* N4 */
            break;
        }
        case CN_ENG_FOLD_LASTK: case CN_ENG_FOLD_FIRSTK: {
            /* the window's rows are kr[0..fw->n) (newest first) */
            uint32_t m = fw->n < fp[p].k ? (uint32_t)fw->n : fp[p].k;
            CnVec *ch = &out->child[0];
            int64_t *cv = (int64_t *)ch->values + ch->n;
            if (fp[p].op == CN_ENG_FOLD_LASTK)
                for (uint32_t j = 0; j < m; j++) cv[j] = kr[j].v;
            else
                for (uint32_t j = 0; j < m; j++) cv[j] = kr[(uint32_t)fw->n - 1 - j].v;
            for (uint32_t j = ch->n; ch->valid && j < ch->n + m; j++) /* elements are never null */
                ch->valid[j >> 6] |= UINT64_C(1) << (j & 63);
            ch->n += m;
            out->offsets[out->n + 1] = ch->n;
            put_bit(out);
            break;
        }
        }
    }
    CnVec *dv = &ob->cols[ob->n_cols - 1];
    uint32_t end = dv->offsets[dv->n];
    memcpy(dv->bytes + end, ds, 10);
    dv->offsets[dv->n + 1] = end + 10;
    put_bit(dv);
    return rc ? CN_ENOMEM : 0;
}

/* Room in ob for the output rows of n_keys keys with n_rows rows in all (entries,
 * K-list elements, ds bytes). */
static int fold_reserve(const CnEngGroupBy *g, const CnEngFoldPart *fp, uint32_t n_keys, uint32_t n_rows,
                        CnBatch *ob) {
    int rc = 0;
    for (uint32_t c = 0; c < ob->n_cols; c++) rc |= cn_col_vec_reserve(&ob->cols[c], n_keys);
    for (uint32_t p = 0; p < g->n_parts; p++) {
        uint64_t m = (uint64_t)n_keys * fp[p].k; /* a list holds at most k of its key's rows */
        if (m > n_rows) m = n_rows;
        if (fp[p].k) rc |= cn_col_vec_reserve(&ob->cols[g->n_keys + p].child[0], (uint32_t)m);
    }
    rc |= cn_col_vec_reserve_bytes(&ob->cols[ob->n_cols - 1], (size_t)n_keys * 10);
    return rc ? CN_ENOMEM : 0;
}

#define FOLD_BATCH 65536u /* output rows per emitted batch */
#define FOLD_BUCKETS 1024u /* radix partitions of the key ids */

typedef struct FoldPartRow {
    int64_t ts;
    int64_t v;
    uint32_t id;
} FoldPartRow;

/* The same in 16 bytes instead of 24, when every visible row's ts - lo fits 32 bits (a
 * day's windows span under 49 days): the partitioned rows are written once and read
 * twice per day, and their pages are first touched there, so their size is most of
 * those passes' cost. */
typedef struct FoldPartRowC {
    int64_t v;
    uint32_t dt; /* ts - lo */
    uint32_t id;
} FoldPartRowC;

typedef struct FoldSC { /* accumulators of one key over one window: SUM and COUNT alone */
    uint64_t n, sum;
} FoldSC;

#define FOLD_SC_WINS 16u /* distinct windows the FoldSC pass takes at most */

typedef struct FoldScratch { /* one thread's buffers */
    FoldRow *rows;  /* one bucket's rows in key order */
    uint32_t *cur;  /* next slot in rows of each key of the bucket */
    FoldWin *fw;    /* per distinct window */
    FoldWin *acc;   /* without K-lists: per key of a bucket x distinct window */
} FoldScratch;

/* One day's fold. Its output is cut into chunks of FOLD_BATCH written rows (key id
 * ranges cut[c]..cut[c + 1]), each folded into its own batch, so the batches, and the
 * files the writer makes of them, are the same whichever thread folds a chunk. With
 * several threads, workers fold chunks in order of c into n_slots batches while the
 * caller writes them out in order of c (emit is not thread-safe); a worker takes chunk c
 * only once chunk c - n_slots is written, so its slot is free. */
typedef struct FoldDay {
    CnEngGroupBy *g;
    const CnEngFoldPart *fp;
    const FoldWin *fw0;        /* window starts of the day */
    uint32_t n_wins;
    bool any_k;
    bool sum_count;            /* every part SUM or COUNT */
    bool lite;                 /* no MIN or MAX, AVERAGE's double sums exact (fold_win_add_lite) */
    const void *part;          /* visible rows by bucket, source order within it: */
    bool compact;              /* FoldPartRowC (ts = lo + dt), else FoldPartRow */
    int64_t lo;
    const uint32_t *beg;       /* n_ids + 1: key id's rows are beg[id]..beg[id + 1] in key order */
    uint32_t n_ids, shift;
    const uint32_t *cut;
    uint32_t n_chunks;
    const char *ds;
    FoldScratch *sc;           /* per worker */
    /* hand-off, under mu */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    uint32_t next, written;    /* next chunk to fold; chunks written out */
    CnBatch **slot;
    uint32_t n_slots;
    uint8_t *state;            /* per slot: FOLD_PENDING, FOLD_READY, FOLD_FAILED */
    bool stop;                 /* the caller gave up: workers take no more chunks */
    /* The last day with g->release_rows: the last worker out (every chunk folded) frees
     * part and the rows while the caller still writes, so the tail of the run does not
     * unmap them alone; released says it did. */
    bool release;
    uint32_t active;           /* workers still folding */
    bool released;
} FoldDay;

enum { FOLD_PENDING, FOLD_READY, FOLD_FAILED };

/* Appends the output rows of chunk c to ob (then synced). CN_ENOMEM. */
static int fold_chunk(const FoldDay *fd, FoldScratch *sc, uint32_t c, CnBatch *ob) {
    uint32_t k0 = fd->cut[c], k1 = fd->cut[c + 1], n_keys = 0;
    for (uint32_t id = k0; id < k1; id++) n_keys += fd->beg[id + 1] != fd->beg[id];
    if (fold_reserve(fd->g, fd->fp, n_keys, fd->beg[k1] - fd->beg[k0], ob)) return CN_ENOMEM;
    memcpy(sc->fw, fd->fw0, fd->n_wins * sizeof *sc->fw); /* window starts; fold_key resets the rest */
    for (uint32_t id0 = k0; id0 < k1;) {
        uint32_t b = id0 >> fd->shift;
        uint64_t b_lo = (uint64_t)b << fd->shift, b_hi = (uint64_t)(b + 1) << fd->shift;
        if (b_hi > fd->n_ids) b_hi = fd->n_ids;
        uint32_t id1 = b_hi < k1 ? (uint32_t)b_hi : k1; /* a chunk may end inside a bucket */
        uint32_t base = fd->beg[id0];
        uint32_t i0 = fd->beg[b_lo], i1 = fd->beg[b_hi];
        if (!fd->any_k) {
            /* no K-list: each row goes straight into its key's accumulators, in bucket
             * order, which is source order within a key (as fold_key adds them) */
            uint32_t nw = fd->n_wins;
            if (fd->compact && fd->sum_count && nw <= FOLD_SC_WINS) {
                /* SUM and COUNT alone: a count and a sum per key and window (16 bytes,
                 * so a bucket's fit in the L2 cache), a window's start as ts - lo */
                FoldSC *a = (FoldSC *)sc->acc;
                uint32_t th[FOLD_SC_WINS];
                for (uint32_t j = 0; j < nw; j++) th[j] = (uint32_t)(fd->fw0[j].lo - fd->lo);
                memset(a, 0, (size_t)(id1 - id0) * nw * sizeof *a);
                const FoldPartRowC *part = fd->part;
                for (uint32_t i = i0; i < i1; i++) {
                    const FoldPartRowC *pr = &part[i];
                    if (pr->id < id0 || pr->id >= id1) continue;
                    FoldSC *w = a + (size_t)(pr->id - id0) * nw;
                    for (uint32_t j = 0; j < nw; j++)
                        if (pr->dt >= th[j]) w[j].n++, w[j].sum += (uint64_t)pr->v;
                }
                for (uint32_t id = id0; id < id1; id++) {
                    if (fd->beg[id + 1] == fd->beg[id]) continue; /* no visible row (D6) */
                    const FoldSC *w = a + (size_t)(id - id0) * nw;
                    for (uint32_t j = 0; j < nw; j++) sc->fw[j].n = w[j].n, sc->fw[j].sum = w[j].sum;
                    if (fold_key_out(fd->g, fd->fp, sc->fw, id, NULL, fd->ds, ob)) return CN_ENOMEM;
                }
                id0 = id1;
                continue;
            }
            for (uint32_t id = id0; id < id1; id++) {
                FoldWin *w = sc->acc + (size_t)(id - id0) * nw;
                memcpy(w, fd->fw0, nw * sizeof *w);
                fold_win_reset(w, nw);
            }
#define FOLD_ADD(w, t, v) (fd->lite ? fold_win_add_lite(w, nw, t, v) : fold_win_add(w, nw, t, v))
            if (fd->compact) {
                const FoldPartRowC *part = fd->part;
                for (uint32_t i = i0; i < i1; i++) {
                    const FoldPartRowC *pr = &part[i];
                    if (pr->id < id0 || pr->id >= id1) continue;
                    FOLD_ADD(sc->acc + (size_t)(pr->id - id0) * nw, fd->lo + (int64_t)pr->dt, pr->v);
                }
            } else {
                const FoldPartRow *part = fd->part;
                for (uint32_t i = i0; i < i1; i++) {
                    const FoldPartRow *pr = &part[i];
                    if (pr->id < id0 || pr->id >= id1) continue;
                    FOLD_ADD(sc->acc + (size_t)(pr->id - id0) * nw, pr->ts, pr->v);
                }
            }
#undef FOLD_ADD
            for (uint32_t id = id0; id < id1; id++) {
                if (fd->beg[id + 1] == fd->beg[id]) continue; /* no visible row (D6) */
                if (fd->lite) fold_win_exact(sc->acc + (size_t)(id - id0) * nw, nw);
                if (fold_key_out(fd->g, fd->fp, sc->acc + (size_t)(id - id0) * nw, id, NULL, fd->ds, ob))
                    return CN_ENOMEM;
            }
            id0 = id1;
            continue;
        }
        for (uint32_t id = id0; id < id1; id++) sc->cur[id - id0] = fd->beg[id] - base;
        if (fd->compact) { /* stable: source order */
            const FoldPartRowC *part = fd->part;
            for (uint32_t i = i0; i < i1; i++) {
                const FoldPartRowC *pr = &part[i];
                if (pr->id < id0 || pr->id >= id1) continue;
                FoldRow *fr = &sc->rows[sc->cur[pr->id - id0]++];
                fr->ts = fd->lo + (int64_t)pr->dt;
                fr->v = pr->v;
            }
        } else {
            const FoldPartRow *part = fd->part;
            for (uint32_t i = i0; i < i1; i++) {
                const FoldPartRow *pr = &part[i];
                if (pr->id < id0 || pr->id >= id1) continue;
                FoldRow *fr = &sc->rows[sc->cur[pr->id - id0]++];
                fr->ts = pr->ts;
                fr->v = pr->v;
            }
        }
        for (uint32_t id = id0; id < id1; id++) {
            uint32_t n = fd->beg[id + 1] - fd->beg[id];
            if (!n) continue; /* no visible row: every value null, not written (D6) */
            if (fold_key(fd->g, fd->fp, sc->fw, fd->n_wins, fd->any_k, fd->lite, id, sc->rows + (fd->beg[id] - base), n,
                         fd->ds, ob))
                return CN_ENOMEM;
        }
        id0 = id1;
    }
    CnErr e = CN_ERR_INIT;
    return cn_col_batch_sync_rows(ob, &e) ? CN_ENOMEM : 0;
}

static void fold_worker(void *ud, uint32_t t) {
    FoldDay *fd = ud;
    pthread_mutex_lock(&fd->mu);
    for (;;) {
        while (!fd->stop && fd->next < fd->n_chunks && fd->next >= fd->written + fd->n_slots)
            pthread_cond_wait(&fd->cv, &fd->mu);
        if (fd->stop || fd->next >= fd->n_chunks) break;
        uint32_t c = fd->next++, s = c % fd->n_slots;
        pthread_mutex_unlock(&fd->mu);
        int rc = fold_chunk(fd, &fd->sc[t], c, fd->slot[s]);
        pthread_mutex_lock(&fd->mu);
        fd->state[s] = rc ? FOLD_FAILED : FOLD_READY;
        pthread_cond_broadcast(&fd->cv);
    }
    bool last = --fd->active == 0 && fd->release;
    if (last) fd->released = true;
    pthread_mutex_unlock(&fd->mu);
    if (last) { /* no worker reads them any more; the caller does not */
        cn_free((void *)fd->part);
        cn_eng__rows_release(fd->g);
    }
}

/* Folds and writes out the day's chunks: n_workers threads fold while this thread
 * writes, or this thread alone does both when n_workers is 0. */
static int fold_day(FoldDay *fd, uint32_t n_workers, int32_t d, CnEngEmitFn emit, void *ud, CnErr *err) {
    int rc = 0;
    if (!n_workers) {
        for (uint32_t c = 0; c < fd->n_chunks && rc == 0; c++) {
            cn_col_batch_reset(fd->slot[0]);
            if (fold_chunk(fd, &fd->sc[0], c, fd->slot[0]))
                rc = cn_err_set(err, CN_ENOMEM, "out of memory (day %s: output rows)", fd->ds);
            else
                rc = emit(ud, d, fd->slot[0], err);
        }
        return rc;
    }
    CnPoolJob *job = NULL;
    fd->next = fd->written = 0;
    fd->stop = false;
    fd->active = n_workers;
    fd->released = false;
    memset(fd->state, FOLD_PENDING, fd->n_slots);
    for (uint32_t s = 0; s < fd->n_slots; s++) cn_col_batch_reset(fd->slot[s]);
    rc = cn_pool_start(n_workers, fold_worker, fd, &job, err);
    for (uint32_t c = 0; c < fd->n_chunks && rc == 0; c++) {
        uint32_t s = c % fd->n_slots;
        pthread_mutex_lock(&fd->mu);
        while (fd->state[s] == FOLD_PENDING) pthread_cond_wait(&fd->cv, &fd->mu);
        uint8_t st = fd->state[s];
        pthread_mutex_unlock(&fd->mu);
        if (st == FOLD_FAILED)
            rc = cn_err_set(err, CN_ENOMEM, "out of memory (day %s: output rows)", fd->ds);
        else
            rc = emit(ud, d, fd->slot[s], err);
        cn_col_batch_reset(fd->slot[s]);
        pthread_mutex_lock(&fd->mu);
        fd->state[s] = FOLD_PENDING;
        fd->written++;
        if (rc) fd->stop = true;
        pthread_cond_broadcast(&fd->cv);
        pthread_mutex_unlock(&fd->mu);
    }
    cn_pool_join(job);
    return rc;
}

/* The passes of one day over the rows, each split among n_threads threads: row ranges
 * for the bucket counts and the scatter (thread t's rows of a bucket go after those of
 * threads before it, so the order within a key stays the source order), buckets for the
 * key counts. */
typedef struct FoldScan {
    CnEngGroupBy *g;
    const CnVec *val;
    int32_t d;
    int64_t lo, end;
    uint32_t n_threads, shift, n_buckets, n_ids;
    uint32_t *hist;            /* n_threads x n_buckets: rows of each bucket, then next slots */
    const uint32_t *bbeg;      /* n_buckets + 1: bucket b's rows are part[bbeg[b]..bbeg[b + 1]) */
    void *part;                /* FoldPartRowC when compact, else FoldPartRow */
    bool compact;
    uint32_t *beg;             /* n_ids + 1 (see FoldDay) */
    uint64_t *amax;            /* per thread: the largest |value| it scattered */
} FoldScan;

static void fold_rows_of(const FoldScan *fs, uint32_t t, uint32_t *r0, uint32_t *r1) {
    uint64_t n = fs->g->n_rows;
    *r0 = (uint32_t)(n * t / fs->n_threads);
    *r1 = (uint32_t)(n * (t + 1) / fs->n_threads);
}

/* Row r is visible on day d (cn_eng__row_seen over the passes' locals). */
#define FOLD_VISIBLE(r) cn_eng__row_seen(ts_ok, pday, tsa, valid, r, d, lo, end)

static void fold_count(void *ud, uint32_t t) {
    FoldScan *fs = ud;
    const CnEngGroupBy *g = fs->g;
    const CnVec *val = fs->val;
    int32_t d = fs->d;
    int64_t lo = fs->lo, end = fs->end;
    uint32_t *h = fs->hist + (size_t)t * fs->n_buckets, r0, r1;
    memset(h, 0, fs->n_buckets * sizeof *h);
    fold_rows_of(fs, t, &r0, &r1);
    const uint8_t *ts_ok = g->ts_ok;
    const int32_t *pday = g->pday;
    const int64_t *tsa = g->ts;
    const uint64_t *valid = val->valid;
    const uint32_t *kid = g->key_id, shift = fs->shift;
    for (uint32_t r = r0; r < r1; r++)
        if (FOLD_VISIBLE(r)) h[kid[r] >> shift]++;
}

static void fold_scatter(void *ud, uint32_t t) {
    FoldScan *fs = ud;
    const CnEngGroupBy *g = fs->g;
    const CnVec *val = fs->val;
    const int64_t *x = val->values;
    int32_t d = fs->d;
    int64_t lo = fs->lo, end = fs->end;
    uint32_t *pos = fs->hist + (size_t)t * fs->n_buckets, r0, r1;
    fold_rows_of(fs, t, &r0, &r1);
    const uint8_t *ts_ok = g->ts_ok;
    const int32_t *pday = g->pday;
    const int64_t *tsa = g->ts;
    const uint64_t *valid = val->valid;
    const uint32_t *kid = g->key_id, shift = fs->shift;
    uint64_t amax = 0;
    if (fs->compact) {
        FoldPartRowC *part = fs->part;
        for (uint32_t r = r0; r < r1; r++) {
            if (!FOLD_VISIBLE(r)) continue;
            uint32_t id = kid[r];
            FoldPartRowC *pr = &part[pos[id >> shift]++];
            int64_t v = x[r];
            pr->v = v;
            pr->dt = (uint32_t)(tsa[r] - lo);
            pr->id = id;
            amax = cn_eng__abs_max(amax, v);
        }
    } else {
        FoldPartRow *part = fs->part;
        for (uint32_t r = r0; r < r1; r++) {
            if (!FOLD_VISIBLE(r)) continue;
            uint32_t id = kid[r];
            FoldPartRow *pr = &part[pos[id >> shift]++];
            int64_t v = x[r];
            pr->ts = tsa[r];
            pr->v = v;
            pr->id = id;
            amax = cn_eng__abs_max(amax, v);
        }
    }
    fs->amax[t] = amax;
}

/* beg[id + 1] of the keys of buckets t, t + n_threads, ...: each bucket's rows counted
 * per key in its own small window of beg, then summed from the bucket's first row. */
static void fold_key_counts(void *ud, uint32_t t) {
    FoldScan *fs = ud;
    for (uint32_t b = t; b < fs->n_buckets; b += fs->n_threads) {
        uint32_t id0 = b << fs->shift;
        uint64_t id1 = (uint64_t)(b + 1) << fs->shift;
        if (id1 > fs->n_ids) id1 = fs->n_ids;
        uint32_t *c = fs->beg + 1;
        memset(c + id0, 0, (size_t)(id1 - id0) * sizeof *c);
        if (fs->compact)
            for (uint32_t i = fs->bbeg[b]; i < fs->bbeg[b + 1]; i++) c[((const FoldPartRowC *)fs->part)[i].id]++;
        else
            for (uint32_t i = fs->bbeg[b]; i < fs->bbeg[b + 1]; i++) c[((const FoldPartRow *)fs->part)[i].id]++;
        uint32_t run = fs->bbeg[b];
        for (uint32_t id = id0; id < id1; id++) run += c[id], c[id] = run;
    }
}

/* Snapshots of days [s, e] by the key fold; *done false (nothing emitted) when the
 * GroupBy needs the generic path. */
static int compute_fold(CnEngGroupBy *g, int32_t s, int32_t e, CnBatch *ob, CnEngEmitFn emit, void *ud,
                        bool *done, CnErr *err) {
    *done = false;
    if (!cn_eng__fold_enabled()) return 0;
    uint32_t n_threads = cn_pool_threads();
    uint32_t n_workers = n_threads > 1 ? n_threads : 0, n_sc = n_workers ? n_workers : 1;
    uint32_t n_slots = n_workers ? n_workers + 1 : 1;
    FoldDay fd;
    memset(&fd, 0, sizeof fd);
    CnEngFoldPart *fp = cn_calloc(g->n_parts + 1, sizeof *fp);
    int64_t *wins = cn_calloc(g->n_parts + 1, sizeof *wins);
    FoldWin *fw = cn_calloc(g->n_parts + 1, sizeof *fw);
    fd.sc = cn_calloc(n_sc, sizeof *fd.sc);
    fd.slot = cn_calloc(n_slots, sizeof *fd.slot);
    fd.state = cn_calloc(n_slots, 1);
    uint32_t n_wins = 0, n_ids = g->keys.n;
    uint32_t *beg = NULL, *hist = NULL, *bbeg = NULL, *cut = NULL;
    uint64_t *amax = NULL;
    void *part = NULL; /* visible rows by bucket (FoldPartRowC or FoldPartRow) */
    bool sync_init = false;
    int rc = 0;
    if (!fp || !wins || !fw || !fd.sc || !fd.slot || !fd.state) {
        rc = cn_err_set(err, CN_ENOMEM, "out of memory");
        goto out;
    }
    if (!cn_eng__fold_plan(g, fp, wins, &n_wins)) goto out;
    *done = true;
    bool any_k = false;
    bool sum_count = true, any_mm = false, any_avg = false;
    for (uint32_t p = 0; p < g->n_parts; p++) {
        any_k |= fp[p].op == CN_ENG_FOLD_LASTK || fp[p].op == CN_ENG_FOLD_FIRSTK;
        sum_count &= fp[p].op == CN_ENG_FOLD_SUM || fp[p].op == CN_ENG_FOLD_COUNT;
        any_mm |= fp[p].op == CN_ENG_FOLD_MIN || fp[p].op == CN_ENG_FOLD_MAX;
        any_avg |= fp[p].op == CN_ENG_FOLD_AVG;
    }
    const CnVec *val = &g->rows->cols[g->bases[0].i_input];
    beg = cn_malloc(((size_t)n_ids + 1) * sizeof *beg);
    hist = cn_malloc(((size_t)n_threads * FOLD_BUCKETS + 1) * sizeof *hist);
    amax = cn_malloc(((size_t)n_threads + 1) * sizeof *amax);
    bbeg = cn_malloc((FOLD_BUCKETS + 2) * sizeof *bbeg);
    cut = cn_malloc(((size_t)n_ids / FOLD_BATCH + 3) * sizeof *cut);
    if (!beg || !hist || !bbeg || !cut || !amax) {
        rc = cn_err_set(err, CN_ENOMEM, "out of memory");
        goto out;
    }
    fd.slot[0] = ob;
    for (uint32_t i = 1; i < n_slots && rc == 0; i++) rc = cn_col_batch_new(ob->schema, &fd.slot[i], err);
    if (rc) goto out;
    if (n_workers) {
        pthread_mutex_init(&fd.mu, NULL);
        pthread_cond_init(&fd.cv, NULL);
        sync_init = true;
    }
    uint32_t shift = 0;
    while (n_ids && ((n_ids - 1) >> shift) >= FOLD_BUCKETS) shift++;
    uint32_t n_buckets = n_ids ? ((n_ids - 1) >> shift) + 1 : 0;
    for (int32_t d = s; d <= e && rc == 0; d++) {
        if (!cn_eng__has_day(g, d)) continue;
        int64_t end = ((int64_t)d + 1) * CN_MS_PER_DAY, lo = INT64_MAX;
        for (uint32_t i = 0; i < n_wins; i++) {
            fw[i].lo = wins[i] ? end - wins[i] : INT64_MIN;
            if (fw[i].lo < lo) lo = fw[i].lo;
        }
        /* Radix partition by the high bits of the key id into at most FOLD_BUCKETS
         * buckets (a scatter over the whole array would miss cache and TLB on every
         * row); each bucket is put in key order later, in a small cache-resident buffer,
         * and folded from there. Both passes are stable: source order within a key. */
        bool compact = lo != INT64_MIN && (uint64_t)(end - lo) <= UINT32_MAX;
        size_t psz = compact ? sizeof(FoldPartRowC) : sizeof(FoldPartRow);
        FoldScan fs = {.g = g, .val = val, .d = d, .lo = lo, .end = end, .n_threads = n_threads, .shift = shift,
                       .n_buckets = n_buckets, .n_ids = n_ids, .hist = hist, .bbeg = bbeg, .beg = beg,
                       .compact = compact, .amax = amax};
        double w0 = cn_clock_s(CLOCK_MONOTONIC), c0 = cn_clock_s(CLOCK_PROCESS_CPUTIME_ID);
        cn_pool_run(n_threads, fold_count, &fs);
        uint32_t m = 0, max_b = 0;
        for (uint32_t b = 0; b < n_buckets; b++) { /* bucket-major, thread-minor: stable */
            bbeg[b] = m;
            for (uint32_t t = 0; t < n_threads; t++) {
                uint32_t c = hist[(size_t)t * n_buckets + b];
                hist[(size_t)t * n_buckets + b] = m;
                m += c;
            }
            if (m - bbeg[b] > max_b) max_b = m - bbeg[b];
        }
        bbeg[n_buckets] = m;
        uint64_t per_sc = any_k ? (uint64_t)max_b * sizeof(FoldRow) : ((uint64_t)1 << shift) * n_wins * sizeof(FoldWin);
        rc = cn_eng__mem_check(g, (uint64_t)m * psz + n_sc * per_sc + ((uint64_t)n_ids + 1) * sizeof *beg,
                               "computing the daily windows", err);
        if (rc) break;
        cn_free(part);
        part = cn_malloc(((size_t)m + 1) * psz);
        /* the scatter writes to a place in every bucket at once: with 4 KiB pages that
         * was a TLB miss and, on first touch, a fault per 256 rows */
        cn_alloc_huge(part, ((size_t)m + 1) * psz);
        for (uint32_t t = 0; t < n_sc && part; t++) {
            cn_free(fd.sc[t].rows);
            cn_free(fd.sc[t].cur);
            cn_free(fd.sc[t].fw);
            cn_free(fd.sc[t].acc);
            /* rows in key order only for the K-lists; accumulators per key otherwise */
            fd.sc[t].rows = cn_malloc(((size_t)(any_k ? max_b : 0) + 1) * sizeof *fd.sc[t].rows);
            fd.sc[t].cur = cn_malloc((((size_t)1 << shift) + 1) * sizeof *fd.sc[t].cur);
            fd.sc[t].fw = cn_malloc(((size_t)n_wins + 1) * sizeof *fd.sc[t].fw);
            fd.sc[t].acc = cn_malloc(((any_k ? 0 : ((size_t)1 << shift) * n_wins) + 1) * sizeof *fd.sc[t].acc);
            if (!fd.sc[t].rows || !fd.sc[t].cur || !fd.sc[t].fw || !fd.sc[t].acc) part = (cn_free(part), NULL);
        }
        if (!part) {
            rc = cn_err_set(err, CN_ENOMEM, "out of memory (%u rows)", m);
            break;
        }
        fs.part = part;
        cn_pool_run(n_threads, fold_scatter, &fs);
        /* lite: every part reads a window's count and integer sum alone, AVERAGE too when
         * max |value| x rows stays below 2^53 (fold_win_exact) */
        uint64_t am = 0;
        for (uint32_t t = 0; t < n_threads; t++) am = am > amax[t] ? am : amax[t];
        bool lite = !any_mm && (!any_avg || am < (UINT64_C(1) << 53) / (m ? m : 1));
        /* beg[id] is id's first row in key order */
        beg[0] = 0;
        cn_pool_run(n_threads, fold_key_counts, &fs);
        /* output chunks: cut after every FOLD_BATCH-th key with rows; one chunk (maybe
         * empty) at least, so a day without rows is still written */
        uint32_t n_chunks = 0, in_chunk = 0;
        cut[0] = 0;
        for (uint32_t i = 1; i <= n_ids; i++)
            if (beg[i] != beg[i - 1] && ++in_chunk == FOLD_BATCH) cut[++n_chunks] = i, in_chunk = 0;
        if (in_chunk || !n_chunks) n_chunks++;
        cut[n_chunks] = n_ids;
        char ds[11];
        cn_ds_format(d, ds);
        if (g->opts.verbose)
            fprintf(stderr, "day %s: key fold of %u rows over %u keys (%u threads)\n", ds, m, n_ids,
                    n_workers ? n_workers : 1);
        fd.g = g;
        fd.fp = fp;
        fd.fw0 = fw;
        fd.n_wins = n_wins;
        fd.any_k = any_k;
        fd.sum_count = sum_count;
        fd.lite = lite;
        fd.part = part;
        fd.compact = compact;
        fd.lo = lo;
        fd.beg = beg;
        fd.n_ids = n_ids;
        fd.shift = shift;
        fd.cut = cut;
        fd.n_chunks = n_chunks;
        fd.ds = ds;
        fd.n_slots = n_slots;
        fd.release = d == e && g->release_rows;
        double w1 = cn_clock_s(CLOCK_MONOTONIC), c1 = cn_clock_s(CLOCK_PROCESS_CPUTIME_ID);
        double t1 = cn_clock_s(CLOCK_THREAD_CPUTIME_ID);
        rc = fold_day(&fd, n_chunks > 1 ? n_workers : 0, d, emit, ud, err);
        if (fd.released) part = NULL; /* freed by the last worker, with the rows */
        /* where a day's time goes: its rows put in key order (all threads), then folded
         * (workers) while this thread writes */
        cn_log(CN_LOG_DEBUG,
               "key fold %s: %u rows over %u keys grouped in %.3f s wall, %.3f s CPU; folded and written in "
               "%.3f s wall, %.3f s CPU (%.3f s writing on the calling thread)",
               ds, m, n_ids, w1 - w0, c1 - c0, cn_clock_s(CLOCK_MONOTONIC) - w1,
               cn_clock_s(CLOCK_PROCESS_CPUTIME_ID) - c1, cn_clock_s(CLOCK_THREAD_CPUTIME_ID) - t1);
    }
out:
    if (sync_init) {
        pthread_mutex_destroy(&fd.mu);
        pthread_cond_destroy(&fd.cv);
    }
    for (uint32_t t = 0; fd.sc && t < n_sc; t++) {
        cn_free(fd.sc[t].rows);
        cn_free(fd.sc[t].cur);
        cn_free(fd.sc[t].fw);
        cn_free(fd.sc[t].acc);
    }
    for (uint32_t i = 1; fd.slot && i < n_slots; i++) cn_col_batch_free(fd.slot[i]);
    cn_free(fd.sc);
    cn_free(fd.slot);
    cn_free(fd.state);
    cn_free(fp);
    cn_free(wins);
    cn_free(fw);
    cn_free(beg);
    cn_free(hist);
    cn_free(amax);
    cn_free(bbeg);
    cn_free(cut);
    cn_free(part);
    return rc;
}

/* ------------------------------------------------------------------ entities */

static int compute_entities(CnEngGroupBy *g, int32_t s, int32_t e, CnBatch *ob, CnEngEmitFn emit, void *ud,
                            CnErr *err) {
    RowView v;
    uint32_t n_ids = g->keys.n;
    CnAggState **dst = cn_calloc(g->n_parts + 1, sizeof *dst);
    uint32_t *rows = cn_malloc(((size_t)g->n_rows + 1) * sizeof *rows);
    uint32_t *sel = cn_malloc(((size_t)g->n_rows + 1) * sizeof *sel);
    uint32_t *ids = cn_malloc(((size_t)n_ids + 1) * sizeof *ids);
    uint8_t *seen = cn_calloc((size_t)n_ids + 1, 1);
    int rc = row_view(g, &v, err);
    if (!dst || !rows || !sel || !ids || !seen) rc = rc ? rc : cn_err_set(err, CN_ENOMEM, "out of memory");
    for (uint32_t p = 0; p < g->n_parts && rc == 0; p++) {
        rc = cn_agg_state_new(g->bases[g->parts[p].i_base].spec, &dst[p], err);
        if (rc == 0) rc = cn_agg_state_reserve(dst[p], n_ids, err);
    }
    for (int32_t d = s; d <= e && rc == 0; d++) {
        if (!cn_eng__has_day(g, d)) continue;
        uint32_t nr = 0, ni = 0;
        for (uint32_t r = 0; r < g->n_rows; r++)
            if (g->pday[r] == d) rows[nr++] = r;
        if (g->no_aggs) {
            /* pass-through: keys, selected values, ds */
            cn_col_batch_reset(ob);
            for (uint32_t k = 0; k < g->n_keys; k++)
                for (uint32_t i = 0; i < nr; i++)
                    cn_col_vec_append_from(&ob->cols[k], &g->rows->cols[g->key_cols[k]], rows[i]);
            for (uint32_t c = 0; c < g->n_values; c++)
                for (uint32_t i = 0; i < nr; i++)
                    cn_col_vec_append_from(&ob->cols[g->n_keys + c], &g->rows->cols[g->value_cols[c]], rows[i]);
            char ds[11];
            cn_ds_format(d, ds);
            for (uint32_t i = 0; i < nr; i++) cn_col_vec_append_str(&ob->cols[ob->n_cols - 1], ds, 10);
            rc = cn_col_batch_sync_rows(ob, err);
            if (rc == 0) rc = emit(ud, d, ob, err);
            continue;
        }
        for (uint32_t i = 0; i < nr; i++) {
            uint32_t id = g->key_id[rows[i]];
            if (!seen[id]) seen[id] = 1, ids[ni++] = id;
        }
        int64_t end = ((int64_t)d + 1) * CN_MS_PER_DAY;
        for (uint32_t p = 0; p < g->n_parts && rc == 0; p++) {
            const CnEngPart *pt = &g->parts[p];
            const CnEngBase *b = &g->bases[pt->i_base];
            uint32_t m = 0;
            for (uint32_t i = 0; i < nr; i++) {
                uint32_t r = rows[i];
                /* no windows at all: every row counts, even one dated after d */
                if (g->any_window) {
                    if (!g->ts_ok[r] || g->ts[r] >= end) continue;
                    if (pt->w_ms && g->ts[r] < end - pt->w_ms) continue;
                }
                sel[m++] = r;
            }
            cn_agg_state_reset(dst[p]);
            rc = cn_agg_state_update(dst[p], g->key_id, sel, m, &g->rows->cols[b->i_input], &v.tsv,
                                     b->i_bucket >= 0 ? &g->rows->cols[b->i_bucket] : NULL, err);
        }
        if (rc == 0) rc = emit_rows(g, d, ob, dst, ids, ni, false, emit, ud, err);
        for (uint32_t i = 0; i < ni; i++) seen[ids[i]] = 0;
    }
    for (uint32_t p = 0; dst && p < g->n_parts; p++) cn_agg_state_free(dst[p]);
    cn_free(dst);
    cn_free(rows);
    cn_free(sel);
    cn_free(ids);
    cn_free(seen);
    cn_free(v.valid);
    return rc;
}

bool cn_eng__has_day(const CnEngGroupBy *g, int32_t d) {
    int64_t lo = 0, hi = (int64_t)g->n_src_days - 1;
    while (lo <= hi) {
        int64_t mid = (lo + hi) / 2;
        if (g->src_days[mid] == d) return true;
        if (g->src_days[mid] < d) lo = mid + 1;
        else hi = mid - 1;
    }
    return false;
}

int cn_eng__compute(CnEngGroupBy *g, int32_t s, int32_t e, CnEngTileSet *stored, CnEngEmitFn emit, void *ud,
                    CnErr *err) {
    CnSchema *os = NULL;
    CnBatch *ob = NULL;
    CnEngTileSet *ts = stored;
    int rc = cn_eng__out_schema(g, &os, err);
    if (rc == 0) rc = cn_col_batch_new(os, &ob, err);
    if (rc) goto done;
    if (g->entities) {
        rc = compute_entities(g, s, e, ob, emit, ud, err);
        goto done;
    }
    if (!ts && e - s < 2 && rows_exact(g)) {
        bool done = false;
        rc = compute_fold(g, s, e, ob, emit, ud, &done, err);
        if (rc == 0 && !done) rc = compute_rows(g, s, e, ob, emit, ud, err);
        goto done;
    }
    if (!ts) {
        rc = cn_eng__tiles_new(g, &ts, err);
        if (rc == 0) rc = cn_eng__tiles_build(g, ts, err);
        if (rc) goto done;
    }
    rc = compute_events(g, s, e, ts, ob, emit, ud, err);
done:
    if (ts != stored) cn_eng__tiles_free(ts);
    cn_col_batch_free(ob);
    cn_col_schema_free(os);
    return rc;
}
