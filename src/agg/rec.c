/* rec.c: record logs, the one variable-size IR behind sets (UNIQUE_COUNT, BOUNDED),
 * histograms (HISTOGRAM, APPROX_HISTOGRAM_K as Misra-Gries) and K-lists (TOP_K,
 * BOTTOM_K, FIRST_K, LAST_K). Updates append a record [i64 aux][u32 len][bytes] to an
 * unsorted tail; when the tail outgrows the sorted head the whole log is compacted
 * (sorted, duplicates folded, cut to k), so each input costs amortised O(log n) and no
 * allocation. Compaction never changes a finalized result, which is why batch
 * boundaries and merge order do not matter. Layout: docs/agg.md. */
#include "agg/agg_int.h"

#include <stdlib.h>

#include "base/alloc.h"

#define REC_HDR 8u  /* u32 n_rec, u32 n_sorted */
#define REC_FIX 12u /* i64 aux, u32 len */

typedef struct Ctx {
    const CnAggSpec *sp;
    const uint8_t *base;
} Ctx;

static inline int64_t rec_aux(const uint8_t *r) {
    int64_t a;
    memcpy(&a, r, 8);
    return a;
}
static inline uint32_t rec_len(const uint8_t *r) {
    uint32_t l;
    memcpy(&l, r + 8, 4);
    return l;
}

/* Order of records for compaction, by flavour. */
static int rec_cmp(const void *vctx, uint32_t x, uint32_t y) {
    const Ctx *ctx = vctx;
    const uint8_t *a = ctx->base + x, *b = ctx->base + y;
    uint32_t la = rec_len(a), lb = rec_len(b);
    const uint8_t *pa = a + REC_FIX, *pb = b + REC_FIX;
    int c;
    switch (ctx->sp->rec) {
    case CN_AGG__R_TOPK:
        c = -cn_agg__payload_cmp(ctx->sp->sc, pa, la, pb, lb);
        return c ? c : cn_bytes_cmp(pa, la, pb, lb);
    case CN_AGG__R_BOTK:
        c = cn_agg__payload_cmp(ctx->sp->sc, pa, la, pb, lb);
        return c ? c : cn_bytes_cmp(pa, la, pb, lb);
    case CN_AGG__R_FIRSTK: case CN_AGG__R_LASTK: {
        int64_t ta = rec_aux(a), tb = rec_aux(b);
        c = ta < tb ? -1 : ta > tb;
        if (!c) c = cn_agg__payload_cmp(ctx->sp->sc, pa, la, pb, lb);
        if (!c) c = cn_bytes_cmp(pa, la, pb, lb);
        return ctx->sp->rec == CN_AGG__R_LASTK ? -c : c;
    }
    default: return cn_bytes_cmp(pa, la, pb, lb);
    }
}

/* By count descending, then key bytewise (D15 tie rule for histogram cut-offs). */
static int count_cmp(const void *vctx, uint32_t x, uint32_t y) {
    const Ctx *ctx = vctx;
    const uint8_t *a = ctx->base + x, *b = ctx->base + y;
    int64_t ca = rec_aux(a), cb = rec_aux(b);
    if (ca != cb) return ca > cb ? -1 : 1;
    return cn_bytes_cmp(a + REC_FIX, rec_len(a), b + REC_FIX, rec_len(b));
}

static int off_cmp(const void *ctx, uint32_t x, uint32_t y) {
    (void)ctx;
    return x < y ? -1 : x > y;
}

static int i64_desc(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x > y ? -1 : x < y;
}

static uint32_t hdr_get(const uint8_t *b, int i) {
    uint32_t v;
    memcpy(&v, b + 4 * i, 4);
    return v;
}
static void hdr_put(uint8_t *b, int i, uint32_t v) { memcpy(b + 4 * i, &v, 4); }

/* Offsets (relative to the payload) of the n records of a log into st->s_idx. */
static int gather(CnAggState *st, const uint8_t *b, uint32_t n) {
    uint32_t cap = st->s_idx_cap;
    if (cn_agg__grow_u32(&st->s_idx, &cap, n + 1)) return CN_ENOMEM;
    st->s_idx_cap = cap;
    uint32_t off = REC_HDR;
    for (uint32_t i = 0; i < n; i++) {
        st->s_idx[i] = off;
        off += REC_FIX + rec_len(b + off);
    }
    return 0;
}

static bool threshold(const CnAggSpec *sp, uint32_t n_rec, uint32_t n_sorted) {
    switch (sp->rec) {
    case CN_AGG__R_TOPK: case CN_AGG__R_BOTK: case CN_AGG__R_FIRSTK: case CN_AGG__R_LASTK:
        return n_rec > n_sorted && n_rec >= 2 * (uint32_t)sp->k + 2;
    default: return n_rec >= 2 * n_sorted + 16;
    }
}

int cn_agg__rec_compact(CnAggState *st, uint32_t id) {
    const CnAggSpec *sp = st->spec;
    uint64_t off = *cn_agg__row_off(st, id);
    if (!off) return 0;
    uint8_t *b = cn_agg__blob(st, off);
    uint32_t n = hdr_get(b, 0);
    if (hdr_get(b, 1) == n) return 0; /* already compact */
    if (gather(st, b, n)) return CN_ENOMEM;
    uint32_t *tmp = NULL;
    /* the sort needs n more slots: keep them beside s_idx */
    uint32_t cap = st->s_idx_cap;
    if (cn_agg__grow_u32(&st->s_idx, &cap, 2 * n + 2)) return CN_ENOMEM;
    st->s_idx_cap = cap;
    b = cn_agg__blob(st, off);
    tmp = st->s_idx + n;
    Ctx ctx = {sp, b};
    cn_agg__sort(st->s_idx, n, tmp, rec_cmp, &ctx);
    CnBuf *o = &st->s_buf2;
    cn_buf_reset(o);
    uint8_t hdr[REC_HDR] = {0};
    if (cn_buf_append(o, hdr, REC_HDR)) return CN_ENOMEM;
    uint32_t kept = 0;
    bool is_k = sp->rec == CN_AGG__R_TOPK || sp->rec == CN_AGG__R_BOTK ||
                sp->rec == CN_AGG__R_FIRSTK || sp->rec == CN_AGG__R_LASTK;
    uint32_t limit = (is_k || sp->op == CN_AGG_BOUNDED_UNIQUE_COUNT) ? (uint32_t)sp->k : UINT32_MAX;
    for (uint32_t i = 0; i < n && kept < limit;) {
        const uint8_t *r = b + st->s_idx[i];
        uint32_t len = rec_len(r);
        int64_t aux = rec_aux(r);
        uint32_t j = i + 1;
        if (!is_k) {
            /* fold equal payloads: sets keep one, histograms add counts */
            while (j < n) {
                const uint8_t *q = b + st->s_idx[j];
                if (rec_len(q) != len || memcmp(q + REC_FIX, r + REC_FIX, len) != 0) break;
                aux = (int64_t)((uint64_t)aux + (uint64_t)rec_aux(q));
                j++;
            }
            if (sp->rec == CN_AGG__R_SET) aux = 0;
            if (sp->rec == CN_AGG__R_HIST && aux == 0) { /* an entry reaching 0 is removed */
                i = j;
                continue;
            }
        }
        if (cn_buf_append(o, &aux, 8) || cn_buf_append(o, &len, 4) ||
            cn_buf_append(o, r + REC_FIX, len))
            return CN_ENOMEM;
        kept++;
        i = j;
    }
    if (sp->rec == CN_AGG__R_MG && kept > sp->mg_size) {
        /* Misra-Gries: subtract the (size+1)-th largest count, keep what stays positive */
        CnBuf *cb = &st->s_buf;
        cn_buf_reset(cb);
        uint32_t p = REC_HDR;
        for (uint32_t i = 0; i < kept; i++) {
            int64_t a = rec_aux((const uint8_t *)o->data + p);
            if (cn_buf_append(cb, &a, 8)) return CN_ENOMEM;
            p += REC_FIX + rec_len((const uint8_t *)o->data + p);
        }
        int64_t *cs = (int64_t *)(void *)cb->data;
        qsort(cs, kept, 8, i64_desc);
        int64_t cut = cs[sp->mg_size];
        uint32_t w = REC_HDR, r = REC_HDR, k2 = 0;
        for (uint32_t i = 0; i < kept; i++) {
            uint8_t *rr = (uint8_t *)o->data + r;
            uint32_t len = rec_len(rr), sz = REC_FIX + len;
            int64_t a = rec_aux(rr) - cut;
            if (a > 0) {
                memmove(o->data + w, rr, sz);
                memcpy(o->data + w, &a, 8);
                w += sz;
                k2++;
            }
            r += sz;
        }
        o->len = w;
        kept = k2;
    }
    hdr_put((uint8_t *)o->data, 0, kept);
    hdr_put((uint8_t *)o->data, 1, kept);
    /* the compacted log is never longer than the log it came from */
    CN_ASSERT(o->len <= cn_agg__blob_len(st, off));
    memcpy(b, o->data, o->len);
    cn_agg__blob_set_len(st, off, (uint32_t)o->len);
    return 0;
}

int cn_agg__rec_add(CnAggState *st, uint32_t id, int64_t aux, const void *p, uint32_t len) {
    uint64_t off = *cn_agg__row_off(st, id);
    uint32_t cur = off ? cn_agg__blob_len(st, off) : 0;
    if (cn_agg__blob_reserve(st, id, (cur ? cur : REC_HDR) + REC_FIX + len)) return CN_ENOMEM;
    off = *cn_agg__row_off(st, id);
    uint8_t *b = cn_agg__blob(st, off);
    if (!cur) {
        memset(b, 0, REC_HDR);
        cur = REC_HDR;
    }
    memcpy(b + cur, &aux, 8);
    memcpy(b + cur + 8, &len, 4);
    memcpy(b + cur + REC_FIX, p, len);
    cn_agg__blob_set_len(st, off, cur + REC_FIX + len);
    uint32_t n = hdr_get(b, 0) + 1;
    hdr_put(b, 0, n);
    if (threshold(st->spec, n, hdr_get(b, 1))) return cn_agg__rec_compact(st, id);
    return 0;
}

int cn_agg__rec_merge(CnAggState *dst, uint32_t di, const uint8_t *src, uint32_t sl,
                      int64_t sign) {
    uint64_t off = *cn_agg__row_off(dst, di);
    uint32_t cur = off ? cn_agg__blob_len(dst, off) : 0;
    uint32_t add = sl - REC_HDR;
    if (cn_agg__blob_reserve(dst, di, (cur ? cur : REC_HDR) + add)) return CN_ENOMEM;
    off = *cn_agg__row_off(dst, di);
    uint8_t *b = cn_agg__blob(dst, off);
    if (!cur) {
        memset(b, 0, REC_HDR);
        cur = REC_HDR;
    }
    memcpy(b + cur, src + REC_HDR, add);
    if (sign < 0) { /* HISTOGRAM subtract: negate the counts */
        for (uint32_t p = cur; p < cur + add;) {
            int64_t a = (int64_t)(0 - (uint64_t)rec_aux(b + p));
            memcpy(b + p, &a, 8);
            p += REC_FIX + rec_len(b + p);
        }
    }
    cn_agg__blob_set_len(dst, off, cur + add);
    uint32_t n = hdr_get(b, 0) + hdr_get(src, 0);
    hdr_put(b, 0, n);
    if (hdr_get(b, 1) == 0 && n == hdr_get(src, 0) && hdr_get(src, 1) == n && sign > 0)
        hdr_put(b, 1, n); /* merged into an empty log: still compact */
    if (threshold(dst->spec, n, hdr_get(b, 1))) return cn_agg__rec_compact(dst, di);
    return 0;
}

int cn_agg__rec_finalize(CnAggState *st, uint32_t id, CnVec *out, CnErr *err) {
    const CnAggSpec *sp = st->spec;
    int rc = cn_agg__rec_compact(st, id);
    if (rc < 0) goto oom;
    uint64_t off = *cn_agg__row_off(st, id);
    const uint8_t *b = cn_agg__blob(st, off);
    uint32_t n = hdr_get(b, 0);
    switch (sp->rec) {
    case CN_AGG__R_SET:
        if (cn_col_vec_append_i64(out, n)) goto oom;
        return 0;
    case CN_AGG__R_TOPK: case CN_AGG__R_BOTK: case CN_AGG__R_FIRSTK: case CN_AGG__R_LASTK: {
        uint32_t p = REC_HDR;
        for (uint32_t i = 0; i < n; i++) {
            uint32_t len = rec_len(b + p);
            rc = cn_agg__payload_append(&out->child[0], sp->sc, b + p + REC_FIX, len, err);
            if (rc < 0) return rc;
            p += REC_FIX + len;
        }
        if (cn_col_vec_close_list(out)) goto oom;
        return 0;
    }
    default: break;
    }
    /* HISTOGRAM (k > 0 cuts) and APPROX_HISTOGRAM_K: top k by count, keys bytewise */
    if (gather(st, b, n)) goto oom;
    uint32_t cap = st->s_idx_cap;
    if (cn_agg__grow_u32(&st->s_idx, &cap, 2 * n + 2)) goto oom;
    st->s_idx_cap = cap;
    b = cn_agg__blob(st, off);
    uint32_t keep = n;
    if (sp->k > 0 && n > (uint32_t)sp->k) {
        Ctx ctx = {sp, b};
        cn_agg__sort(st->s_idx, n, st->s_idx + n, count_cmp, &ctx);
        keep = (uint32_t)sp->k;
        cn_agg__sort(st->s_idx, keep, st->s_idx + n, off_cmp, NULL); /* back to key order */
    }
    for (uint32_t i = 0; i < keep; i++) {
        const uint8_t *r = b + st->s_idx[i];
        int64_t c = rec_aux(r);
        if (cn_col_vec_append_str(&out->child[0], r + REC_FIX, rec_len(r))) goto oom;
        if (sp->rec == CN_AGG__R_HIST ? cn_col_vec_append_i32(&out->child[1], (int32_t)c)
                                      : cn_col_vec_append_i64(&out->child[1], c))
            goto oom;
    }
    if (cn_col_vec_close_list(out)) goto oom;
    return 0;
oom:
    return cn_err_set(err, CN_ENOMEM, "%s(%s): out of memory", cn_agg_op_name(sp->op),
                      sp->input_column);
}

int cn_agg__rec_check(const CnAggSpec *sp, const uint8_t *p, uint32_t len, CnErr *err) {
    int rc = 0;
    CN_CHECK_DATA(len >= REC_HDR, err, rc, "record log of %u bytes, shorter than its header", len);
    uint32_t n = hdr_get(p, 0), ns = hdr_get(p, 1), at = REC_HDR;
    CN_CHECK_DATA(ns <= n, err, rc, "record log: %u sorted of %u records", ns, n);
    for (uint32_t i = 0; i < n; i++) {
        CN_CHECK_DATA(len - at >= REC_FIX, err, rc, "record log: record %u truncated", i);
        uint32_t l = rec_len(p + at);
        CN_CHECK_DATA(len - at - REC_FIX >= l, err, rc, "record log: record %u of %u bytes overruns", i, l);
        size_t w = cn_col_type_width(sp->sc);
        if (w && sp->rec != CN_AGG__R_MG && sp->rec != CN_AGG__R_HIST)
            CN_CHECK_DATA(l == w, err, rc, "record log: record %u has %u bytes, %s takes %zu", i, l,
                          cn_col_type_id_name(sp->sc), w);
        at += REC_FIX + l;
    }
    CN_CHECK_DATA(at == len, err, rc, "record log: %u trailing bytes", len - at);
    /* a decoded log is marked unsorted so the next compaction re-establishes the order */
done:
    return rc;
}
