/* eng_int.h: private layer of the engine: the loaded GroupBy (rows as columns plus
 * per-row key id, ts and storage day), the key table, aggregation bases and parts.
 * Rows keep their source order; every per-row array below has n_rows entries. */
#ifndef CN_ENG_INT_H
#define CN_ENG_INT_H

#include "base/compat.h" /* first: feature-test macros before any system header */

#include <stdlib.h>
#include <string.h>

#include "agg/agg.h"
#include "base/arena.h"
#include "base/str.h"
#include "engine/engine.h"

/* Encoded key -> dense id. INVARIANT: slots has cap (a power of two) entries holding
 * id+1 or 0; off[id]..off[id+1] is the id's encoded key in bytes; vals holds one row of
 * key values per id, in id order. */
typedef struct CnEngKeys {
    uint32_t *slots;
    uint32_t cap;
    uint32_t n, n_cap;
    uint64_t *hash;   /* per id */
    uint64_t *off;    /* n_cap + 1 */
    CnBuf bytes;
    CnBatch *vals;    /* schema: the key columns */
} CnEngKeys;

/* One (aggregation, bucket): parts of different windows share its tiles. */
typedef struct CnEngBase {
    const CnAggSpec *spec;
    int i_input;       /* column of rows */
    int i_bucket;      /* column of rows, -1: not bucketed */
    int64_t tile_ms;   /* CN_AGG_MS_DAY or CN_AGG_MS_HOUR */
    int64_t max_w;     /* longest window of its parts (0: none windowed) */
} CnEngBase;

typedef struct CnEngPart {
    const char *name;
    int i_base;
    int64_t w_ms;      /* 0: unwindowed */
} CnEngPart;

struct CnEngGroupBy {
    const CnGroupBy *gb;
    CnArena arena;                /* job lifetime: names, specs, types */
    bool entities;                /* sources are entities */
    bool no_aggs;                 /* aggregations=null: rows pass through */
    bool any_window;              /* some part is windowed */
    CnSchema *row_schema;         /* selected columns of every source (same for all) */
    CnBatch *rows;
    uint32_t *key_id;
    int64_t *ts;
    uint8_t *ts_ok;               /* ts present */
    int32_t *pday;                /* storage partition, days since epoch */
    uint64_t *ord;                /* distributed runs: (source, plan file, row) order; else NULL */
    uint32_t n_rows, cap_rows;
    CnEngKeys keys;
    int *key_cols;                /* rows column of each key, keyColumns order */
    uint32_t n_keys;
    int *value_cols;              /* no-aggregation value columns */
    uint32_t n_values;
    CnSchema *key_schema, *value_schema;
    CnEngBase *bases;
    uint32_t n_bases;
    CnEngPart *parts;
    uint32_t n_parts;
    const char *output_table;
    int32_t scan_lo, scan_hi;     /* partition days loaded (inclusive) */
    int32_t *src_days;            /* sorted distinct partitions present in the sources */
    uint32_t n_src_days;
    CnEngOpts opts;
    CnEngStats stats;
    uint64_t mem_base;            /* bytes held by rows and keys */
    /* The caller reads no row after cn_eng__compute: the key fold releases the rows once
     * it no longer needs them, beside the last writes, instead of leaving their pages to
     * be unmapped at the end on one thread (cn_eng__rows_release). */
    bool release_rows;
};

/* Loads sources for partitions [lo, hi] (INT32_MIN/INT32_MAX unbounded). skip(day)
 * returning true leaves that partition unscanned (its tiles come from the store). */
typedef bool (*CnEngSkipFn)(void *ud, int32_t day);
int cn_eng__open(CnIceCatalog *cat, const CnGroupBy *gb, int32_t lo, int32_t hi,
                 const CnEngOpts *opts, CnEngSkipFn skip, void *skip_ud, CnEngGroupBy **out,
                 CnErr *err);
/* Sorted distinct partitions (days) of the sources within [lo, hi]. OWNED: *days
 * (cn_free). */
int cn_eng__source_days(CnIceCatalog *cat, const CnGroupBy *gb, int32_t lo, int32_t hi, int32_t **days,
                        uint32_t *n_days, CnErr *err);
/* True when some source has partition d (within the loaded range). */
bool cn_eng__has_day(const CnEngGroupBy *g, int32_t d);
/* First source partition the value for day x reads (a TEMPORAL value at a time on day x,
 * or the snapshot of day x): x - 1d - maxWindow; INT32_MIN when some aggregation is
 * unwindowed or there are none (D29, docs/joins.md). join.c. */
int32_t cn_eng__value_scan_lo(const CnGroupBy *gb, int32_t x);
/* Whether the warehouse is a local directory, whose files any number of threads may read
 * at once (an object store client serves one thread at a time). load.c. */
bool cn_eng__local_warehouse(const CnIceCatalog *cat);
/* Output schema: keys, values, ds. OWNED: *out (cn_col_schema_free). */
int cn_eng__out_schema(CnEngGroupBy *g, CnSchema **out, CnErr *err);
/* Key id of encoded key bytes, adding it (with vals row r of batch b) when new. */
int cn_eng__key_intern(CnEngKeys *k, const void *p, size_t len, const CnBatch *b,
                       const int *cols, uint32_t r, uint32_t *id, CnErr *err);
/* The column of schema a select's text names when the text is nothing but that column:
 * `name` (no backquote inside) or a bare identifier other than null/true/false, spelled
 * exactly as in schema (the expression binder's first, exact match); -1 for anything
 * else. load.c. */
int cn_eng__bare_col(const CnSchema *schema, const char *text);
/* Frees the loaded rows (columns, key ids, ts, storage days) and leaves g with none;
 * the keys, parts and statistics stay. THREADS: nothing else may touch the rows. load.c. */
void cn_eng__rows_release(CnEngGroupBy *g);
/* Creates a GroupBy's or Join's output table ns.name when it is missing (one created
 * meanwhile is fine), with snappy as its Parquet codec: Spark's default, with which
 * Chronon's output tables are written (backfill.c). */
int cn_eng__output_create(CnIceCatalog *cat, const char *ns, const char *name, const CnSchema *schema, CnErr *err);
/* Key id of encoded key bytes (cn_eng__key_encode) in k; UINT32_MAX when absent. load.c. */
uint32_t cn_eng__keys_find(const CnEngKeys *k, const void *key, size_t len);
/* Encodes the key columns cols[0..n) of row r into out (reset first). false when every
 * key is null. CN_EUNSUPPORTED for nested key types is checked at open. */
bool cn_eng__key_encode(const CnBatch *b, const int *cols, uint32_t n, uint32_t r, CnBuf *out);
/* Distributed runs (opts.shard): sends every loaded row to the rank owning its key and
 * replaces the rows and keys by the ones received, in one-process order (shard.c).
 * Before it, key_id holds each row's owning rank ((key hash >> 32) % nranks, the hash of
 * cn_eng__key_intern) and no key is interned; src_days lists the partitions of this rank's
 * files (on return: every rank's, unsorted). */
int cn_eng__shard_exchange(CnEngGroupBy *g, CnErr *err);
/* Memory check against opts.max_memory: CN_ELIMIT saying what to raise. */
int cn_eng__mem_check(CnEngGroupBy *g, uint64_t extra, const char *what, CnErr *err);

/* Partitions to compute (compute.md section 5): the holes of days [s, e] (days since
 * epoch) without output and with a source partition, on or after the earliest output
 * day unless run_first_hole, cut into chunks of step_days (<= 0: 30). Days arrays are
 * sorted. OWNED: *chunks holds *n_chunks pairs [first, last] (cn_free). CN_ENOMEM. */
int cn_eng__plan_chunks(int32_t s, int32_t e, const int32_t *out_days, uint32_t n_out, const int32_t *src_days,
                        uint32_t n_src, int step_days, bool run_first_hole, int32_t **chunks, uint32_t *n_chunks,
                        CnErr *err);
/* Computes output days [s, e] (days since epoch) and calls emit per day with a batch of
 * keys, values (and nothing else) and a selection of the rows to write.
 * tiles_in: stored tiles to merge (may be NULL); tiles_out: when set, receives the tiles
 * of every scanned partition (see tiles.c). */
typedef struct CnEngTileSet CnEngTileSet;
typedef int (*CnEngEmitFn)(void *ud, int32_t day, CnBatch *b, CnErr *err);
int cn_eng__compute(CnEngGroupBy *g, int32_t s, int32_t e, CnEngTileSet *stored,
                    CnEngEmitFn emit, void *ud, CnErr *err);

/* Tile sets: (storage day, tile start, base) -> CnAggState over key ids. */
int cn_eng__tiles_new(CnEngGroupBy *g, CnEngTileSet **out, CnErr *err);
void cn_eng__tiles_free(CnEngTileSet *ts);
/* State of (pday, tile_ms, base), created empty when absent. */
int cn_eng__tiles_get(CnEngTileSet *ts, int32_t pday, int64_t tile, uint32_t base,
                      CnAggState **out, CnErr *err);
/* Sparse tiles: a tile holds IRs only for the keys added to it; IR j is key id ids[j].
 * tiles_slot appends key id to tile (pday, tile_ms, base) (created when absent) and gives
 * its new null IR: *slot in *st. Each key is added at most once per tile. */
int cn_eng__tiles_slot(CnEngTileSet *ts, int32_t pday, int64_t tile, uint32_t base, uint32_t id,
                       CnAggState **st, uint32_t *slot, CnErr *err);
/* Key id of each IR of the i-th tile (n_ids of its state entries). */
const uint32_t *cn_eng__tiles_ids(const CnEngTileSet *ts, uint32_t i);
/* Iteration: the i-th tile (order of creation). */
uint32_t cn_eng__tiles_n(const CnEngTileSet *ts);
void cn_eng__tiles_at(const CnEngTileSet *ts, uint32_t i, int32_t *pday, int64_t *tile,
                      uint32_t *base, CnAggState **st);
/* Builds the tiles of every loaded row into ts (all partitions loaded). */
int cn_eng__tiles_build(CnEngGroupBy *g, CnEngTileSet *ts, CnErr *err);

/* Key fold (compute.c's one- and two-day fold, range.c's range pass): the exact operations
 * both take over one long input column, any windows, no buckets, no entities. */
typedef enum CnEngFoldOp {
    CN_ENG_FOLD_SUM, CN_ENG_FOLD_COUNT, CN_ENG_FOLD_AVG, CN_ENG_FOLD_MIN, CN_ENG_FOLD_MAX,
    CN_ENG_FOLD_LASTK, CN_ENG_FOLD_FIRSTK
} CnEngFoldOp;
typedef struct CnEngFoldPart {
    CnEngFoldOp op;
    uint32_t win;  /* index of its distinct window */
    uint32_t k;    /* K-lists; else 0 */
} CnEngFoldPart;
/* False when CN_ENG_FOLD is 0: the generic paths only (tests compare both). */
bool cn_eng__fold_enabled(void);
/* Fills fp (g->n_parts entries) and the distinct window lengths wins[0..*n_wins) (ms, 0
 * unwindowed; at most g->n_parts); false when some part needs the generic path. */
bool cn_eng__fold_plan(const CnEngGroupBy *g, CnEngFoldPart *fp, int64_t *wins, uint32_t *n_wins);
/* Row r of the loaded rows is seen by day d over [lo, end): a ts in that range, stored
 * by d, a non-null value (valid: the input's bitmap, NULL without nulls). The arrays are
 * g's, passed in from the callers' locals: their passes' stores may alias g's fields,
 * which each row would otherwise load again. */
static inline bool cn_eng__row_seen(const uint8_t *ts_ok, const int32_t *pday, const int64_t *ts, const uint64_t *valid,
                                    uint32_t r, int32_t d, int64_t lo, int64_t end) {
    return ts_ok[r] && pday[r] <= d && ts[r] < end && ts[r] >= lo && (!valid || ((valid[r >> 6] >> (r & 63)) & 1));
}
/* The larger of m and |v| (|INT64_MIN| is 2^63): the largest |value| of a fold's rows,
 * which bounds its partial sums (AVERAGE's double sums are exact below 2^53). */
static inline uint64_t cn_eng__abs_max(uint64_t m, int64_t v) {
    uint64_t a = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
    return a > m ? a : m;
}
/* Newest first: ts descending, then value descending (rec.c's LAST_K order), over rows
 * whose first members are int64_t ts, v (qsort comparator). */
static inline int cn_eng__fold_row_cmp(const void *a, const void *b) {
    int64_t xt, xv, yt, yv;
    memcpy(&xt, a, 8), memcpy(&xv, (const char *)a + 8, 8);
    memcpy(&yt, b, 8), memcpy(&yv, (const char *)b + 8, 8);
    if (xt != yt) return xt > yt ? -1 : 1;
    return xv > yv ? -1 : xv < yv;
}
/* Sorts n rows of size bytes (at most 32) each, starting with {int64_t ts, v}, newest
 * first. Inline: the few rows of a key sort in place, the size known at the call. */
static inline void cn_eng__fold_sort(void *rows, uint32_t n, size_t size) {
    if (n > 24) {
        qsort(rows, n, size, cn_eng__fold_row_cmp);
        return;
    }
    unsigned char *r = rows, x[32];
    /* A key's rows come in source order, mostly oldest first (partitions are read in day
     * order), the insertion sort's worst case: reversed first, few rows move. Rows equal
     * in (ts, v) give the same values whichever comes first (qsort keeps no order
     * among them either). */
    if (n > 2 && cn_eng__fold_row_cmp(r, r + (n - 1) * size) > 0)
        for (uint32_t i = 0, j = n - 1; i < j; i++, j--) {
            memcpy(x, r + i * size, size);
            memcpy(r + i * size, r + j * size, size);
            memcpy(r + j * size, x, size);
        }
    for (uint32_t i = 1; i < n; i++) {
        memcpy(x, r + i * size, size);
        uint32_t j = i;
        while (j > 0 && cn_eng__fold_row_cmp(r + (j - 1) * size, x) > 0) {
            memcpy(r + j * size, r + (j - 1) * size, size);
            j--;
        }
        memcpy(r + j * size, x, size);
    }
}

#endif /* CN_ENG_INT_H */
