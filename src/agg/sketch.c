/* sketch.c: the two mergeable sketches.
 * APPROX_UNIQUE_COUNT: an exact set of 64-bit hashes up to 2^k distinct values (so the
 *   result is exact there, as D19 asks), then a HyperLogLog with 2^(k+2) registers read
 *   with Ertl's improved raw estimator (no bias tables, good from 0 to 2^64). Relative
 *   standard error 1.04/sqrt(2^(k+2)) = 0.52/sqrt(2^k): the D19 bound 2.1/sqrt(2^k) is
 *   four standard errors. Merge is register-wise max, so order never matters.
 * APPROX_PERCENTILE: a KLL sketch of floats with parameter k: levels of compactors whose
 *   capacities shrink by 2/3 per level below the top; items are exact (one level) while
 *   n <= k. Weights are conserved exactly, min and max are kept exactly (p=0, p=1).
 * Layouts: docs/agg.md. */
#include "agg/agg_int.h"

#include <math.h>
#include <stdlib.h>

/* ---------------------------------------------------------------- HLL */

#define HLL_HDR 16u /* u8 mode, pad 3, u32 n, u32 n_sorted, pad 4 */

static uint32_t hll_m(const CnAggSpec *sp) { return UINT32_C(1) << (sp->k + 2); }

static int u64_cmp(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static uint32_t get32(const uint8_t *p) {
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}
static void put32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }

static void hll_insert(const CnAggSpec *sp, uint8_t *reg, uint64_t h) {
    unsigned p = (unsigned)sp->k + 2, q = 64 - p;
    uint64_t idx = h >> q, w = h << p;
    unsigned rank = w ? (unsigned)__builtin_clzll(w) + 1 : q + 1;
    if (rank > q + 1) rank = q + 1;
    if (reg[idx] < rank) reg[idx] = (uint8_t)rank;
}

/* Exact mode: sort and dedup the hashes; past 2^k distinct, switch to registers. */
static int hll_exact_compact(CnAggState *st, uint32_t id) {
    const CnAggSpec *sp = st->spec;
    uint64_t off = *cn_agg__row_off(st, id);
    uint8_t *b = cn_agg__blob(st, off);
    if (b[0] != 0) return 0;
    uint32_t n = get32(b + 4);
    if (get32(b + 8) == n) return 0;
    uint64_t *hs = (uint64_t *)(void *)(b + HLL_HDR);
    qsort(hs, n, 8, u64_cmp);
    uint32_t u = 0;
    for (uint32_t i = 0; i < n; i++)
        if (u == 0 || hs[u - 1] != hs[i]) hs[u++] = hs[i];
    put32(b + 4, u);
    put32(b + 8, u);
    cn_agg__blob_set_len(st, off, HLL_HDR + 8 * u);
    if (u <= (UINT32_C(1) << sp->k)) return 0;
    /* convert: copy the hashes out, rebuild the blob as registers */
    CnBuf *tmp = &st->s_buf2;
    cn_buf_reset(tmp);
    if (cn_buf_append(tmp, hs, (size_t)u * 8)) return CN_ENOMEM;
    uint32_t m = hll_m(sp);
    if (cn_agg__blob_reserve(st, id, HLL_HDR + m)) return CN_ENOMEM;
    off = *cn_agg__row_off(st, id);
    b = cn_agg__blob(st, off);
    memset(b, 0, HLL_HDR + m);
    b[0] = 1;
    const uint64_t *src = (const uint64_t *)(void *)tmp->data;
    for (uint32_t i = 0; i < u; i++) hll_insert(sp, b + HLL_HDR, src[i]);
    cn_agg__blob_set_len(st, off, HLL_HDR + m);
    return 0;
}

int cn_agg__hll_compact(CnAggState *st, uint32_t id) {
    if (!*cn_agg__row_off(st, id)) return 0;
    return hll_exact_compact(st, id);
}

int cn_agg__hll_add(CnAggState *st, uint32_t id, uint64_t h) {
    uint64_t off = *cn_agg__row_off(st, id);
    if (off) {
        uint8_t *b = cn_agg__blob(st, off);
        if (b[0] == 1) {
            hll_insert(st->spec, b + HLL_HDR, h);
            return 0;
        }
    }
    uint32_t n = off ? get32(cn_agg__blob(st, off) + 4) : 0;
    if (cn_agg__blob_reserve(st, id, HLL_HDR + 8 * (n + 1))) return CN_ENOMEM;
    off = *cn_agg__row_off(st, id);
    uint8_t *b = cn_agg__blob(st, off);
    if (n == 0 && cn_agg__blob_len(st, off) == 0) memset(b, 0, HLL_HDR);
    memcpy(b + HLL_HDR + 8 * (size_t)n, &h, 8);
    put32(b + 4, n + 1);
    cn_agg__blob_set_len(st, off, HLL_HDR + 8 * (n + 1));
    if (n + 1 >= 2 * get32(b + 8) + 16) return hll_exact_compact(st, id);
    return 0;
}

int cn_agg__hll_merge(CnAggState *dst, uint32_t di, const uint8_t *src, uint32_t len) {
    const CnAggSpec *sp = dst->spec;
    (void)len;
    if (src[0] == 0) {
        uint32_t n = get32(src + 4);
        for (uint32_t i = 0; i < n; i++) {
            uint64_t h;
            memcpy(&h, src + HLL_HDR + 8 * (size_t)i, 8);
            if (cn_agg__hll_add(dst, di, h)) return CN_ENOMEM;
        }
        return 0;
    }
    uint64_t off = *cn_agg__row_off(dst, di);
    uint8_t *b = cn_agg__blob(dst, off);
    if (b[0] == 0) {
        /* dst in exact mode: rebuild it as registers, then take the max */
        CnBuf *tmp = &dst->s_buf;
        cn_buf_reset(tmp);
        uint32_t n = get32(b + 4);
        if (cn_buf_append(tmp, b + HLL_HDR, (size_t)n * 8)) return CN_ENOMEM;
        uint32_t m = hll_m(sp);
        if (cn_agg__blob_reserve(dst, di, HLL_HDR + m)) return CN_ENOMEM;
        off = *cn_agg__row_off(dst, di);
        b = cn_agg__blob(dst, off);
        memset(b, 0, HLL_HDR + m);
        b[0] = 1;
        for (uint32_t i = 0; i < n; i++) {
            uint64_t h;
            memcpy(&h, tmp->data + 8 * (size_t)i, 8);
            hll_insert(sp, b + HLL_HDR, h);
        }
        cn_agg__blob_set_len(dst, off, HLL_HDR + m);
    }
    uint32_t m = hll_m(sp);
    uint8_t *r = b + HLL_HDR;
    const uint8_t *s = src + HLL_HDR;
    for (uint32_t i = 0; i < m; i++)
        if (s[i] > r[i]) r[i] = s[i];
    return 0;
}

static double hll_sigma(double x) {
    if (x == 1.0) return INFINITY;
    double y = 1.0, z = x, zp;
    do {
        x *= x;
        zp = z;
        z += x * y;
        y += y;
    } while (zp != z);
    return z;
}

static double hll_tau(double x) {
    if (x == 0.0 || x == 1.0) return 0.0;
    double y = 1.0, z = 1.0 - x, zp;
    do {
        x = sqrt(x);
        zp = z;
        y *= 0.5;
        z -= (1.0 - x) * (1.0 - x) * y;
    } while (zp != z);
    return z / 3.0;
}

int64_t cn_agg__hll_estimate(const CnAggSpec *sp, const uint8_t *b, uint32_t len) {
    (void)len;
    if (b[0] == 0) return get32(b + 8); /* compacted by the caller: exact */
    uint32_t m = hll_m(sp);
    unsigned q = 64 - ((unsigned)sp->k + 2);
    uint32_t c[66] = {0};
    for (uint32_t i = 0; i < m; i++) c[b[HLL_HDR + i]]++;
    double dm = m;
    double z = dm * hll_tau(1.0 - c[q + 1] / dm);
    for (unsigned k = q; k >= 1; k--) z = 0.5 * (z + c[k]);
    z += dm * hll_sigma(c[0] / dm);
    double est = (0.5 / log(2.0)) * dm * dm / z;
    return (int64_t)floor(est);
}

int cn_agg__hll_check(const CnAggSpec *sp, const uint8_t *p, uint32_t len, CnErr *err) {
    int rc = 0;
    CN_CHECK_DATA(len >= HLL_HDR, err, rc, "unique-count sketch of %u bytes", len);
    CN_CHECK_DATA(p[0] <= 1, err, rc, "unique-count sketch mode %u", p[0]);
    if (p[0] == 0) {
        uint32_t n = get32(p + 4);
        CN_CHECK_DATA(len == HLL_HDR + 8 * (uint64_t)n, err, rc,
                      "unique-count set of %u hashes in %u bytes", n, len);
        CN_CHECK_DATA(get32(p + 8) <= n, err, rc, "unique-count set: bad sorted count");
    } else {
        uint32_t m = hll_m(sp);
        unsigned q = 64 - ((unsigned)sp->k + 2);
        CN_CHECK_DATA(len == HLL_HDR + m, err, rc, "HLL of %u bytes, lgK=%d needs %u", len, sp->k,
                      HLL_HDR + m);
        for (uint32_t i = 0; i < m; i++)
            CN_CHECK_DATA(p[HLL_HDR + i] <= q + 1, err, rc, "HLL register %u holds %u", i, p[HLL_HDR + i]);
    }
done:
    return rc;
}

/* ---------------------------------------------------------------- KLL */

#define KLL_MAXL 32
/* u64 n, f32 min, f32 max, u32 seed, u32 n_levels, u32 total, u32 beg[32] */
#define KLL_HDR (8u + 4 + 4 + 4 + 4 + 4 + 4 * KLL_MAXL)

typedef struct KllHdr {
    uint64_t n;
    float min, max;
    uint32_t seed, nl, total;
    uint32_t beg[KLL_MAXL];
} KllHdr;

static void kll_get(const uint8_t *b, KllHdr *h) { memcpy(h, b, KLL_HDR); }
static void kll_put(uint8_t *b, const KllHdr *h) { memcpy(b, h, KLL_HDR); }

static uint32_t kll_cap(int32_t k, uint32_t h, uint32_t nl) {
    double c = ceil((double)k * pow(2.0 / 3.0, (double)(nl - 1 - h)));
    return c < 8 ? 8 : (uint32_t)c;
}
static uint32_t kll_total_cap(int32_t k, uint32_t nl) {
    uint32_t s = 0;
    for (uint32_t h = 0; h < nl; h++) s += kll_cap(k, h, nl);
    return s;
}
static uint32_t lvl_end(const KllHdr *h, uint32_t l) { return l == 0 ? h->total : h->beg[l - 1]; }

static int flt_cmp(const void *a, const void *b) {
    float x = *(const float *)a, y = *(const float *)b;
    return x < y ? -1 : x > y;
}

/* One compaction of the lowest full level: half of its (sorted) items move up with
 * double weight; with an odd size the smallest item stays. */
static void kll_compress(const CnAggSpec *sp, KllHdr *h, float *it) {
    uint32_t l = 0;
    while (l < h->nl && lvl_end(h, l) - h->beg[l] < kll_cap(sp->k, l, h->nl)) l++;
    if (l >= h->nl) l = 0;
    if (l == h->nl - 1 && h->nl < KLL_MAXL) {
        h->beg[h->nl] = 0; /* new empty top level in front */
        h->nl++;
    }
    uint32_t s = h->beg[l], e = lvl_end(h, l), sz = e - s, odd = sz & 1;
    qsort(it + s, sz, sizeof(float), flt_cmp);
    h->seed ^= h->seed << 13;
    h->seed ^= h->seed >> 17;
    h->seed ^= h->seed << 5;
    uint32_t o = h->seed & 1, pc = (sz - odd) / 2;
    float keep = it[s];
    /* promoted items overwrite the front of the level, in place and in order */
    for (uint32_t i = 0; i < pc; i++) it[s + i] = it[s + odd + o + 2 * i];
    if (odd) it[s + pc] = keep;
    memmove(it + s + pc + odd, it + e, (size_t)(h->total - e) * sizeof(float));
    h->beg[l] = s + pc;
    for (uint32_t j = 0; j < l; j++) h->beg[j] -= pc;
    h->total -= pc;
}

static int kll_settle(CnAggState *st, uint32_t id, KllHdr *h) {
    uint64_t off = *cn_agg__row_off(st, id);
    uint8_t *b = cn_agg__blob(st, off);
    float *it = (float *)(void *)(b + KLL_HDR);
    while (h->total > kll_total_cap(st->spec->k, h->nl) && h->nl <= KLL_MAXL) {
        uint32_t before = h->total;
        kll_compress(st->spec, h, it);
        if (h->total == before) break;
    }
    kll_put(b, h);
    cn_agg__blob_set_len(st, off, KLL_HDR + 4 * h->total);
    return 0;
}

int cn_agg__kll_add(CnAggState *st, uint32_t id, float x) {
    uint64_t off = *cn_agg__row_off(st, id);
    KllHdr h;
    if (off) {
        kll_get(cn_agg__blob(st, off), &h);
    } else {
        memset(&h, 0, sizeof h);
        h.min = h.max = x;
        h.seed = 0x9E3779B9u;
        h.nl = 1;
    }
    if (cn_agg__blob_reserve(st, id, KLL_HDR + 4 * (h.total + 1))) return CN_ENOMEM;
    off = *cn_agg__row_off(st, id);
    float *it = (float *)(void *)(cn_agg__blob(st, off) + KLL_HDR);
    it[h.total++] = x; /* level 0 is last */
    h.n++;
    if (x < h.min) h.min = x;
    if (x > h.max) h.max = x;
    return kll_settle(st, id, &h);
}

int cn_agg__kll_merge(CnAggState *dst, uint32_t di, const uint8_t *src, uint32_t len) {
    (void)len;
    KllHdr a, b;
    uint64_t off = *cn_agg__row_off(dst, di);
    kll_get(cn_agg__blob(dst, off), &a);
    kll_get(src, &b);
    const float *ai = (const float *)(const void *)(cn_agg__blob(dst, off) + KLL_HDR);
    const float *bi = (const float *)(const void *)(src + KLL_HDR);
    KllHdr m = a;
    m.nl = a.nl > b.nl ? a.nl : b.nl;
    m.n = a.n + b.n;
    m.min = b.min < a.min ? b.min : a.min;
    m.max = b.max > a.max ? b.max : a.max;
    m.seed = (a.seed ^ (b.seed * 2654435761u)) | 1u;
    CnBuf *t = &dst->s_buf;
    cn_buf_reset(t);
    m.total = 0;
    for (int32_t l = (int32_t)m.nl - 1; l >= 0; l--) {
        m.beg[l] = m.total;
        if ((uint32_t)l < a.nl) {
            uint32_t s = a.beg[l], e = lvl_end(&a, (uint32_t)l);
            if (cn_buf_append(t, ai + s, (size_t)(e - s) * 4)) return CN_ENOMEM;
            m.total += e - s;
        }
        if ((uint32_t)l < b.nl) {
            uint32_t s = b.beg[l], e = lvl_end(&b, (uint32_t)l);
            if (cn_buf_append(t, bi + s, (size_t)(e - s) * 4)) return CN_ENOMEM;
            m.total += e - s;
        }
    }
    if (cn_agg__blob_reserve(dst, di, KLL_HDR + 4 * m.total)) return CN_ENOMEM;
    off = *cn_agg__row_off(dst, di);
    memcpy(cn_agg__blob(dst, off) + KLL_HDR, t->data, (size_t)m.total * 4);
    return kll_settle(dst, di, &m);
}

typedef struct Wt {
    float v;
    uint32_t lvl;
} Wt;

static int wt_cmp(const void *a, const void *b) {
    const Wt *x = a, *y = b;
    return x->v < y->v ? -1 : x->v > y->v;
}

int cn_agg__kll_finalize(CnAggState *st, uint32_t id, CnVec *out) {
    const CnAggSpec *sp = st->spec;
    uint64_t off = *cn_agg__row_off(st, id);
    KllHdr h;
    kll_get(cn_agg__blob(st, off), &h);
    CnBuf *t = &st->s_buf2;
    cn_buf_reset(t);
    const float *it = (const float *)(const void *)(cn_agg__blob(st, off) + KLL_HDR);
    for (uint32_t l = 0; l < h.nl; l++)
        for (uint32_t i = h.beg[l]; i < lvl_end(&h, l); i++) {
            Wt w = {it[i], l};
            if (cn_buf_append(t, &w, sizeof w)) return CN_ENOMEM;
        }
    Wt *ws = (Wt *)(void *)t->data;
    qsort(ws, h.total, sizeof *ws, wt_cmp);
    int rc = 0;
    for (uint32_t i = 0; i < sp->n_percentiles; i++) {
        double p = sp->percentiles[i];
        float v;
        if (p <= 0.0) {
            v = h.min;
        } else if (p >= 1.0) {
            v = h.max;
        } else {
            uint64_t r = (uint64_t)floor(p * (double)h.n);
            if (r > h.n - 1) r = h.n - 1;
            uint64_t cum = 0;
            v = h.max;
            for (uint32_t j = 0; j < h.total; j++) {
                cum += UINT64_C(1) << ws[j].lvl;
                if (cum > r) {
                    v = ws[j].v;
                    break;
                }
            }
        }
        rc |= cn_col_vec_append_f32(&out->child[0], v);
    }
    rc |= cn_col_vec_close_list(out);
    return rc ? CN_ENOMEM : 0;
}

int cn_agg__kll_check(const CnAggSpec *sp, const uint8_t *p, uint32_t len, CnErr *err) {
    (void)sp;
    int rc = 0;
    KllHdr h;
    CN_CHECK_DATA(len >= KLL_HDR, err, rc, "percentile sketch of %u bytes", len);
    kll_get(p, &h);
    CN_CHECK_DATA(h.nl >= 1 && h.nl <= KLL_MAXL, err, rc, "percentile sketch with %u levels", h.nl);
    CN_CHECK_DATA(len == KLL_HDR + 4 * (uint64_t)h.total, err, rc,
                  "percentile sketch: %u items in %u bytes", h.total, len);
    CN_CHECK_DATA(h.beg[h.nl - 1] == 0, err, rc, "percentile sketch: top level starts at %u",
                  h.beg[h.nl - 1]);
    uint64_t w = 0;
    for (uint32_t l = 0; l < h.nl; l++) {
        uint32_t e = lvl_end(&h, l);
        CN_CHECK_DATA(h.beg[l] <= e && e <= h.total, err, rc, "percentile sketch: level %u bounds", l);
        w += (uint64_t)(e - h.beg[l]) << l;
    }
    CN_CHECK_DATA(w == h.n && h.n > 0, err, rc,
                  "percentile sketch: weights sum to %llu, count is %llu", (unsigned long long)w,
                  (unsigned long long)h.n);
    const float *it = (const float *)(const void *)(p + KLL_HDR);
    for (uint32_t i = 0; i < h.total; i++) {
        float x;
        memcpy(&x, it + i, 4);
        CN_CHECK_DATA(x == x && x >= h.min && x <= h.max, err, rc,
                      "percentile sketch: item %u out of [min,max] or NaN", i);
    }
done:
    return rc;
}
