/* agg.h: every Chronon aggregation operation as IR kernels over column batches, plus
 * the window arithmetic of compute.md section 2 and a sliding-window merge structure.
 *
 * A CnAggSpec is one resolved aggregation part (op, input type, args, bucketing); a
 * CnAggState holds one IR slot per dense key id for that spec. Fixed-width IRs (COUNT,
 * SUM, AVERAGE, VARIANCE, moments, numeric MIN/MAX, fixed FIRST/LAST) sit inline in a
 * row array indexed by id; variable-size IRs (K-lists, sets, sketches, histograms,
 * strings) live in a slab owned by the state, the row holding their offset. Bucketed,
 * map and element-wise parts nest a child state keyed by (id, label).
 * INVARIANTS: merge is associative and commutative for exact operations, and results
 *   do not depend on batch boundaries (sketches: within the D19 tolerances). A null IR
 *   (no non-null input yet) is distinct from a zero IR. States hold no pointers in
 *   their IRs (offsets only), so IRs move with memcpy. Kernels never allocate per row
 *   (buffers grow geometrically) and never log.
 * THREADS: a CnAggSpec is immutable (share freely); a CnAggState or CnAggSlider has one
 *   owner thread at a time.
 * docs/agg.md describes the IR layouts and the serialized format. */
#ifndef CN_AGG_H
#define CN_AGG_H

#include "base/compat.h"

#include "base/arena.h"
#include "base/err.h"
#include "base/str.h"
#include "col/col.h"

/* ------------------------------------------------------------ operations */

/* Thrift enum ids (compute.md section 3); equal to CnOperation in conf.h. */
typedef enum CnAggOp {
    CN_AGG_MIN = 0, CN_AGG_MAX = 1, CN_AGG_FIRST = 2, CN_AGG_LAST = 3,
    CN_AGG_UNIQUE_COUNT = 4, CN_AGG_APPROX_UNIQUE_COUNT = 5, CN_AGG_COUNT = 6,
    CN_AGG_SUM = 7, CN_AGG_AVERAGE = 8, CN_AGG_VARIANCE = 9, CN_AGG_SKEW = 10,
    CN_AGG_KURTOSIS = 11, CN_AGG_APPROX_PERCENTILE = 12, CN_AGG_LAST_K = 13,
    CN_AGG_FIRST_K = 14, CN_AGG_TOP_K = 15, CN_AGG_BOTTOM_K = 16,
    CN_AGG_HISTOGRAM = 17, CN_AGG_APPROX_HISTOGRAM_K = 18,
    CN_AGG_BOUNDED_UNIQUE_COUNT = 19,
    CN_AGG_N_OPS = 20
} CnAggOp;

/* "SUM", "LAST_K", ...; "?" for an unknown id. */
const char *cn_agg_op_name(CnAggOp op);
/* True for exactly {COUNT, SUM, AVERAGE, HISTOGRAM} (compute.md section 4). */
bool cn_agg_op_deletable(CnAggOp op);

/* ----------------------------------------------------------------- specs */

/* An aggregation as a config states it. Strings are BORROWED for the call only. */
typedef struct CnAggDef {
    CnAggOp op;
    const char *input_column;      /* for messages */
    const char *const *arg_keys;   /* argMap: n_args (key, value) string pairs */
    const char *const *arg_vals;
    uint32_t n_args;
    bool element_wise;             /* elementWise=true on a list input */
    bool bucketed;                 /* the part has a bucket column (string) */
} CnAggDef;

/* Resolved, immutable part description. Fields are read-only for callers. */
typedef struct CnAggSpec CnAggSpec;

/* Resolves def against the input column type: parses argMap (k, percentiles), checks
 * input types (compute.md section 4 table, N6) and builds the output type.
 * BORROWED: *out lives in arena a. Errors (CN_ECONFIG) name the aggregation, the input
 * column and the offending argument or type, e.g.
 * `LAST_K(page): argMap "k" is "x", expected an integer >= 1`,
 * `SUM(created): input column "created" has type date; cast it to long in selects`. */
int cn_agg_spec_new(CnArena *a, const CnAggDef *def, const CnType *input_type,
                    const CnAggSpec **out, CnErr *err);
CnAggOp cn_agg_spec_op(const CnAggSpec *s);
/* The k in effect (argMap or default; 0 where the op has none). */
int32_t cn_agg_spec_k(const CnAggSpec *s);
/* Finalized column type, including map<string,.> for buckets and map inputs and list<.>
 * for element-wise inputs. BORROWED: lives as long as the spec. */
const CnType *cn_agg_spec_output_type(const CnAggSpec *s);
/* True when the op is deletable (delete and subtract do real work). */
bool cn_agg_spec_deletable(const CnAggSpec *s);
/* True when update needs a ts column (FIRST, LAST, FIRST_K, LAST_K). */
bool cn_agg_spec_needs_ts(const CnAggSpec *s);

/* ---------------------------------------------------------------- states */

/* IR slots for ids 0..n_ids-1 of one spec. OWNED: cn_agg_state_free. */
typedef struct CnAggState CnAggState;

/* CN_ENOMEM only. The state starts with no ids. */
int cn_agg_state_new(const CnAggSpec *spec, CnAggState **out, CnErr *err);
void cn_agg_state_free(CnAggState *st);                 /* NULL-safe */
const CnAggSpec *cn_agg_state_spec(const CnAggState *st);
/* Every IR becomes null; keeps memory. */
void cn_agg_state_reset(CnAggState *st);
/* Makes ids 0..n_ids-1 addressable (new ones null). Never shrinks. CN_ENOMEM. */
int cn_agg_state_reserve(CnAggState *st, uint32_t n_ids, CnErr *err);
uint32_t cn_agg_state_n_ids(const CnAggState *st);
/* Bytes held (rows, slab, nested dictionaries), for memory accounting. */
size_t cn_agg_state_mem(const CnAggState *st);

/* Folds one batch: for each selected row r (sel[0..n_sel-1], or rows 0..n_sel-1 when sel
 * is NULL), input values->entry r into IR key_ids[r]. key_ids is indexed by row and every
 * id used must be < n_ids. ts (INT64, indexed by row) is required when
 * cn_agg_spec_needs_ts(); rows with a null ts are skipped by those ops. bucket (STRING,
 * indexed by row) is required for bucketed specs; rows with a null bucket are skipped.
 * Nulls follow N1; containers follow compute.md section 3. values must have the type the
 * spec was resolved with.
 * Errors: CN_EINVAL for an element-wise list of another length than the key's earlier
 * lists or with a null element (names the column, key id and lengths); CN_ENOMEM. On
 * error some rows of the batch may already be folded. */
int cn_agg_state_update(CnAggState *st, const uint32_t *key_ids, const uint32_t *sel,
                        uint32_t n_sel, const CnVec *values, const CnVec *ts,
                        const CnVec *bucket, CnErr *err);
/* The inverse of update for deletable ops (N5: on a null IR it starts an inverse IR);
 * a no-op returning 0 for the others. Same arguments as update. */
int cn_agg_state_delete(CnAggState *st, const uint32_t *key_ids, const uint32_t *sel,
                        uint32_t n_sel, const CnVec *values, const CnVec *ts,
                        const CnVec *bucket, CnErr *err);

/* dst[dst_id] = merge(dst[dst_id], src[src_id]) (N3). src and dst must share the spec
 * (same pointer, or specs resolved from equal definitions and types); src may be dst.
 * CN_ENOMEM, CN_EINVAL (element-wise width mismatch). */
int cn_agg_state_merge(CnAggState *dst, uint32_t dst_id, const CnAggState *src,
                       uint32_t src_id, CnErr *err);
/* dst[dst_id] -= src[src_id] for deletable ops (the inverse of merge); CN_EINVAL for the
 * others. A null src is a no-op; the result is present whenever dst was. */
int cn_agg_state_subtract(CnAggState *dst, uint32_t dst_id, const CnAggState *src,
                          uint32_t src_id, CnErr *err);
/* dst[dst_id] = src[src_id] (a copy; null copies as null). */
int cn_agg_state_copy(CnAggState *dst, uint32_t dst_id, const CnAggState *src,
                      uint32_t src_id, CnErr *err);
/* IR id becomes null. */
void cn_agg_state_clear(CnAggState *st, uint32_t id);
/* False for a null IR. */
bool cn_agg_state_present(const CnAggState *st, uint32_t id);

/* Appends n finalized entries (ids[i] in order) to out, whose type must equal
 * cn_agg_spec_output_type(). A null IR appends null (N2); a top-level NaN/±Inf float
 * appends null (N4), nested ones are kept. The state may compact IRs in place (results
 * do not change). CN_ENOMEM. */
int cn_agg_state_finalize(CnAggState *st, const uint32_t *ids, uint32_t n, CnVec *out,
                          CnErr *err);

/* Appends the IR of id to out in the versioned little-endian format of docs/agg.md
 * (a null IR encodes too). CN_ENOMEM. */
int cn_agg_state_encode(CnAggState *st, uint32_t id, CnBuf *out, CnErr *err);
/* Replaces IR id with the one encoded at p (len bytes available); *used receives the
 * bytes consumed (encodings are self-delimiting, so several can be concatenated).
 * CN_ECORRUPT names what is wrong (version, op, length, value) and leaves id null;
 * CN_ENOMEM. Cost is linear in the encoded size. */
int cn_agg_state_decode(CnAggState *st, uint32_t id, const uint8_t *p, size_t len,
                        size_t *used, CnErr *err);

/* --------------------------------------------------------------- windows */

#define CN_AGG_MS_5MIN INT64_C(300000)
#define CN_AGG_MS_HOUR INT64_C(3600000)
#define CN_AGG_MS_DAY INT64_C(86400000)
/* Window length meaning "unwindowed" (Chronon encodes it as 2^31-1 days). */
#define CN_AGG_UNWINDOWED INT64_C(0)

/* Window length in ms; unit 0 = HOURS, 1 = DAYS; (2^31-1, DAYS) is unwindowed (0).
 * CN_ECONFIG for length <= 0 (D23) or another unit, naming `what` (e.g. the part). */
int cn_agg_window_ms(int32_t length, int32_t unit, const char *what, int64_t *out,
                     CnErr *err);
/* True floor of x to a multiple of h > 0 (also for negative x). */
int64_t cn_agg_floor(int64_t x, int64_t h);
/* Tail hop H(W): 1 day for W >= 12d or unwindowed, 1 hour for 12h <= W < 12d, 5 min
 * below. */
int64_t cn_agg_tail_hop_ms(int64_t window_ms);
/* Start of the temporal window at q: floor(q - W, H(W)); INT64_MIN when unwindowed. */
int64_t cn_agg_temporal_start(int64_t q, int64_t window_ms);
/* floor(q - W, H) <= t < q (unwindowed: t < q). */
bool cn_agg_temporal_member(int64_t q, int64_t t, int64_t window_ms);
/* E - W <= t < E (unwindowed: t < E); E = epoch(D+1) for the snapshot of D. */
bool cn_agg_snapshot_member(int64_t e, int64_t t, int64_t window_ms);
/* Key of the hop or tile of size hop_ms holding t: floor(t, hop_ms). */
static inline int64_t cn_agg_hop_key(int64_t t, int64_t hop_ms) {
    return cn_agg_floor(t, hop_ms);
}

/* ---------------------------------------------------------------- slider */

/* A FIFO of tiles (whole states over the same ids and spec) with the merge of the
 * tiles currently in it available per id: add/subtract for deletable ops, two stacks
 * for the others (each tile is merged O(1) times amortised). For daily snapshots over a
 * window of N days: push day D's tile, pop while more than N tiles, query every key.
 * OWNED: cn_agg_slider_free. Pushed tiles are BORROWED until popped. */
typedef struct CnAggSlider CnAggSlider;

int cn_agg_slider_new(const CnAggSpec *spec, CnAggSlider **out, CnErr *err);
void cn_agg_slider_free(CnAggSlider *s);              /* NULL-safe */
/* Appends a tile (its n_ids may grow between pushes; missing ids are null). */
int cn_agg_slider_push(CnAggSlider *s, const CnAggState *tile, CnErr *err);
/* Appends a sparse tile: its IR i belongs to id ids[i] (ids distinct; NULL: identity).
 * ids is BORROWED like the tile, until popped. */
int cn_agg_slider_push_ids(CnAggSlider *s, const CnAggState *tile, const uint32_t *ids,
                           CnErr *err);
/* Drops the oldest tile; CN_EINVAL when empty. */
int cn_agg_slider_pop(CnAggSlider *s, CnErr *err);
uint32_t cn_agg_slider_len(const CnAggSlider *s);
/* Bytes held by the slider's own states (not the borrowed tiles). */
size_t cn_agg_slider_mem(const CnAggSlider *s);
/* dst[dst_id] = merge(dst[dst_id], merge of the tiles' IRs of id). Null when every tile
 * is null for id, even after add/subtract. */
int cn_agg_slider_query(CnAggSlider *s, uint32_t id, CnAggState *dst, uint32_t dst_id,
                        CnErr *err);

#endif /* CN_AGG_H */
