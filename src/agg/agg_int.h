/* agg_int.h: private to src/agg. Spec and state internals, IR kinds, the slab.
 *
 * Inline row layouts (little-endian, per id, width = spec->row_width):
 *   | kind      | bytes | fields                                   |
 *   |-----------|-------|------------------------------------------|
 *   | COUNT     | 8     | i64 count                                |
 *   | SUM_I     | 8     | i64 sum (wraps, D18)                     |
 *   | SUM_F     | 8     | f64 sum                                  |
 *   | AVG       | 16    | f64 sum, i64 count                       |
 *   | VAR       | 24    | i64 n, f64 mean, f64 m2                  |
 *   | MOM       | 40    | i64 n, f64 mean, m2, m3, m4              |
 *   | MM_I      | 8     | i64 extreme (int32 inputs widened)       |
 *   | MM_F      | 8     | f64 extreme (NaN sticky, D20)            |
 *   | FL_FIX    | 16    | i64 ts, 8 payload bytes (native width)   |
 *   | var kinds | 8     | u64 slab offset of the blob (0 = none)   |
 * Blob payloads (in the slab, after an 8-byte header {u32 cap, u32 len}):
 *   MM_S   {bytes}                    FL_VAR {i64 ts, bytes}
 *   REC    {u32 n_rec, u32 n_sorted, records [i64 aux][u32 len][bytes]...}
 *   HLL    {u8 mode, ...} see sketch.c      KLL see sketch.c
 * Presence is a bitmap per state: a null IR has its bit clear whatever the row holds. */
#ifndef CN_AGG_INT_H
#define CN_AGG_INT_H

#include "agg/agg.h"

typedef enum CnAggNest {
    CN_AGG__FLAT = 0,   /* one IR per id */
    CN_AGG__BUCKET,     /* map<bucket, child IR> */
    CN_AGG__MAP,        /* map input: map<map key, child IR> */
    CN_AGG__ELEM,       /* element-wise list: list<child IR> */
} CnAggNest;

typedef enum CnAggKind {
    CN_AGG__K_COUNT = 1, CN_AGG__K_SUM_I, CN_AGG__K_SUM_F, CN_AGG__K_AVG, CN_AGG__K_VAR,
    CN_AGG__K_MOM, CN_AGG__K_MM_I, CN_AGG__K_MM_F, CN_AGG__K_FL_FIX,
    /* blob kinds from here on */
    CN_AGG__K_MM_S, CN_AGG__K_FL_VAR, CN_AGG__K_REC, CN_AGG__K_HLL, CN_AGG__K_KLL,
} CnAggKind;

#define CN_AGG__IS_BLOB(k) ((k) >= CN_AGG__K_MM_S)

/* Record-log flavours (kind REC). */
typedef enum CnAggRec {
    CN_AGG__R_SET = 1,  /* distinct payloads (UNIQUE_COUNT, BOUNDED_UNIQUE_COUNT) */
    CN_AGG__R_HIST,     /* payload -> count (HISTOGRAM) */
    CN_AGG__R_MG,       /* Misra-Gries payload -> count (APPROX_HISTOGRAM_K) */
    CN_AGG__R_TOPK,     /* largest k values, descending */
    CN_AGG__R_BOTK,     /* smallest k values, ascending */
    CN_AGG__R_FIRSTK,   /* earliest k (ts, payload), ascending */
    CN_AGG__R_LASTK,    /* latest k (ts, payload), newest first */
} CnAggRec;

struct CnAggSpec {
    CnAggOp op;
    const char *input_column;   /* in the arena */
    int32_t k;
    const double *percentiles;  /* APPROX_PERCENTILE */
    uint32_t n_percentiles;
    CnAggNest nest;
    const CnAggSpec *child;     /* nested levels: the spec of the inner IRs */
    const CnType *in_type;      /* type of the values handed to this level */
    bool flatten;               /* FLAT: list input whose elements are the inputs */
    CnTypeId sc;                /* FLAT: scalar type of one input (LIST/MAP/STRUCT = opaque) */
    const CnType *sc_type;      /* FLAT: full type of one input (opaque payload codec) */
    const CnType *out_type;
    CnAggKind kind;
    CnAggRec rec;
    uint32_t row_width;
    bool deletable, needs_ts;
    bool is_float_out;          /* FLAT scalar float output: N4 applies at top level */
    uint32_t mg_size;           /* APPROX_HISTOGRAM_K counters */
};

/* Dictionary of nested children: (parent id, label) -> child id. */
typedef struct CnAggDictEnt {
    uint64_t hash;
    uint32_t parent;
    uint32_t child;             /* UINT32_MAX: empty slot */
} CnAggDictEnt;

struct CnAggState {
    const CnAggSpec *spec;
    uint32_t n_ids, cap_ids;
    uint64_t *present;          /* OWNED: bit per id */
    uint8_t *rows;              /* OWNED: cap_ids * row_width (FLAT) */
    /* slab for blobs: offsets are multiples of 16, 0 is never handed out */
    uint8_t *slab;              /* OWNED */
    uint64_t slab_len, slab_cap;
    uint64_t free_head[40];     /* per size class (16 << c bytes) */
    /* nested levels */
    CnAggState *child;          /* OWNED */
    CnAggDictEnt *dict;         /* OWNED: open addressing, dict_cap a power of two */
    uint32_t dict_cap, dict_n;
    uint32_t *first_child;      /* per id: head of its children list, UINT32_MAX none */
    uint32_t *last_child;       /* per id: tail, for ordered appends */
    uint32_t *width;            /* ELEM: per id list width, UINT32_MAX unknown */
    uint32_t *next_sib;         /* per child id */
    uint32_t *ch_parent;        /* per child id */
    uint64_t *ch_label;         /* per child id: (offset << 32 | len) into labels */
    uint32_t ch_cap;
    CnBuf labels;
    /* scratch, reused per batch (never per row) */
    uint32_t *s_ids, *s_sel, *s_idx;
    uint32_t s_cap, s_idx_cap;
    CnBuf s_buf, s_buf2;
};

/* ---- slab (state.c) ---- */
static inline uint8_t *cn_agg__blob(const CnAggState *st, uint64_t off) {
    return st->slab + off + 8;
}
static inline uint32_t cn_agg__blob_len(const CnAggState *st, uint64_t off) {
    uint32_t v;
    memcpy(&v, st->slab + off + 4, 4);
    return v;
}
static inline void cn_agg__blob_set_len(CnAggState *st, uint64_t off, uint32_t len) {
    memcpy(st->slab + off + 4, &len, 4);
}
static inline uint64_t *cn_agg__row_off(const CnAggState *st, uint32_t id) {
    return (uint64_t *)(void *)(st->rows + (size_t)id * st->spec->row_width);
}
static inline bool cn_agg__present(const CnAggState *st, uint32_t id) {
    return (st->present[id >> 6] >> (id & 63)) & 1;
}
static inline void cn_agg__set_present(CnAggState *st, uint32_t id) {
    st->present[id >> 6] |= UINT64_C(1) << (id & 63);
}
/* Makes the blob of id hold at least need payload bytes, keeping its content; a new
 * blob has len 0. Pointers into the slab are invalid afterwards. CN_ENOMEM. */
int cn_agg__blob_reserve(CnAggState *st, uint32_t id, uint32_t need);
void cn_agg__blob_release(CnAggState *st, uint32_t id);
/* Geometric growth of a scratch array of uint32. */
int cn_agg__grow_u32(uint32_t **p, uint32_t *cap, uint32_t need);

/* ---- values (value.c) ---- */
/* Natural order of two payloads of scalar type sc (numbers numerically with NaN above
 * all, strings by UTF-16 code units (D17), binary and opaque payloads bytewise). */
int cn_agg__payload_cmp(CnTypeId sc, const uint8_t *a, uint32_t alen, const uint8_t *b,
                        uint32_t blen);
int cn_agg__utf16_cmp(const uint8_t *a, uint32_t alen, const uint8_t *b, uint32_t blen);
/* Appends the payload of entry i of v (type t, entry valid) to buf: native width for
 * fixed types, raw bytes for string/binary, the value codec for containers. With
 * canon_nan, every NaN encodes as one bit pattern (Java boxed equality). */
int cn_agg__payload_put(CnBuf *buf, const CnVec *v, uint32_t i, CnTypeId sc, bool canon_nan);
/* Appends a payload back into out (whose type matches). CN_ECORRUPT for a bad codec. */
int cn_agg__payload_append(CnVec *out, CnTypeId sc, const uint8_t *p, uint32_t len,
                           CnErr *err);
/* Java Double.toString (shortest digits, D26). Returns length written to buf (>= 32). */
int cn_agg__java_double(double x, char *buf, size_t len);

/* ---- record logs (rec.c) ---- */
int cn_agg__rec_add(CnAggState *st, uint32_t id, int64_t aux, const void *p, uint32_t len);
int cn_agg__rec_compact(CnAggState *st, uint32_t id);
int cn_agg__rec_merge(CnAggState *dst, uint32_t dst_id, const uint8_t *src_blob,
                      uint32_t src_len, int64_t sign);
int cn_agg__rec_finalize(CnAggState *st, uint32_t id, CnVec *out, CnErr *err);
/* Checks an encoded record log (untrusted); 0 or CN_ECORRUPT. */
int cn_agg__rec_check(const CnAggSpec *sp, const uint8_t *p, uint32_t len, CnErr *err);

/* ---- sketches (sketch.c) ---- */
int cn_agg__hll_add(CnAggState *st, uint32_t id, uint64_t hash);
int cn_agg__hll_compact(CnAggState *st, uint32_t id);
int cn_agg__hll_merge(CnAggState *dst, uint32_t dst_id, const uint8_t *src, uint32_t len);
int64_t cn_agg__hll_estimate(const CnAggSpec *sp, const uint8_t *p, uint32_t len);
int cn_agg__hll_check(const CnAggSpec *sp, const uint8_t *p, uint32_t len, CnErr *err);
int cn_agg__kll_add(CnAggState *st, uint32_t id, float x);
int cn_agg__kll_merge(CnAggState *dst, uint32_t dst_id, const uint8_t *src, uint32_t len);
int cn_agg__kll_finalize(CnAggState *st, uint32_t id, CnVec *out);
int cn_agg__kll_check(const CnAggSpec *sp, const uint8_t *p, uint32_t len, CnErr *err);

/* Stable merge sort of idx[0..n) with cmp(ctx, a, b); tmp holds n entries. */
typedef int (*CnAggCmp)(const void *ctx, uint32_t a, uint32_t b);
void cn_agg__sort(uint32_t *idx, uint32_t n, uint32_t *tmp, CnAggCmp cmp, const void *ctx);

#endif /* CN_AGG_INT_H */
