/* state.c: IR states: dense rows per key id, the blob slab, nested levels (buckets, map
 * keys, element-wise indexes), and the fixed-width kernels. update switches on the IR
 * kind and input type once per batch; the loops below have no calls for the fixed
 * kinds. Layouts: agg_int.h and docs/agg.md. */
#include "agg/agg_int.h"

#include <math.h>
#include <stdio.h>

#include "base/alloc.h"
#include "base/hash.h"

#define NONE UINT32_MAX
#define PF_DIST 16

/* ------------------------------------------------------------ lifecycle */

int cn_agg__grow_u32(uint32_t **p, uint32_t *cap, uint32_t need) {
    if (need <= *cap) return 0;
    uint32_t c = *cap ? *cap : 64;
    while (c < need) c = c > UINT32_MAX / 2 ? need : c * 2;
    uint32_t *n = cn_realloc(*p, (size_t)c * sizeof *n);
    if (!n) return CN_ENOMEM;
    *p = n;
    *cap = c;
    return 0;
}

int cn_agg_state_new(const CnAggSpec *spec, CnAggState **out, CnErr *err) {
    CnAggState *st = cn_calloc(1, sizeof *st);
    *out = NULL;
    if (!st) return cn_err_set(err, CN_ENOMEM, "agg state: out of memory");
    st->spec = spec;
    st->slab_len = 16;
    if (spec->nest != CN_AGG__FLAT) {
        int rc = cn_agg_state_new(spec->child, &st->child, err);
        if (rc < 0) {
            cn_free(st);
            return rc;
        }
    }
    *out = st;
    return 0;
}

void cn_agg_state_free(CnAggState *st) {
    if (!st) return;
    cn_agg_state_free(st->child);
    cn_free(st->present);
    cn_free(st->rows);
    cn_free(st->slab);
    cn_free(st->dict);
    cn_free(st->first_child);
    cn_free(st->last_child);
    cn_free(st->width);
    cn_free(st->next_sib);
    cn_free(st->ch_parent);
    cn_free(st->ch_label);
    cn_buf_fini(&st->labels);
    cn_free(st->s_ids);
    cn_free(st->s_sel);
    cn_free(st->s_idx);
    cn_buf_fini(&st->s_buf);
    cn_buf_fini(&st->s_buf2);
    cn_free(st);
}

const CnAggSpec *cn_agg_state_spec(const CnAggState *st) { return st->spec; }
uint32_t cn_agg_state_n_ids(const CnAggState *st) { return st->n_ids; }

size_t cn_agg_state_mem(const CnAggState *st) {
    if (!st) return 0;
    size_t m = (size_t)st->cap_ids * (st->spec->row_width + 12) + st->slab_cap +
               (size_t)st->dict_cap * sizeof(CnAggDictEnt) + (size_t)st->ch_cap * 16 +
               st->labels.cap;
    return m + cn_agg_state_mem(st->child);
}

void cn_agg_state_reset(CnAggState *st) {
    if (st->present) memset(st->present, 0, ((st->cap_ids + 63) / 64) * 8);
    if (st->rows) memset(st->rows, 0, (size_t)st->cap_ids * st->spec->row_width);
    st->slab_len = 16;
    memset(st->free_head, 0, sizeof st->free_head);
    if (st->child) {
        cn_agg_state_reset(st->child);
        st->child->n_ids = 0;
        for (uint32_t i = 0; i < st->cap_ids; i++) {
            st->first_child[i] = st->last_child[i] = NONE;
            st->width[i] = NONE;
        }
        for (uint32_t i = 0; i < st->dict_cap; i++) st->dict[i].child = NONE;
        st->dict_n = 0;
        cn_buf_reset(&st->labels);
    }
}

static int grow(void **p, size_t old_bytes, size_t new_bytes, int fill) {
    uint8_t *n = cn_realloc(*p, new_bytes);
    if (!n) return CN_ENOMEM;
    memset(n + old_bytes, fill, new_bytes - old_bytes);
    *p = n;
    return 0;
}

int cn_agg_state_reserve(CnAggState *st, uint32_t n_ids, CnErr *err) {
    if (n_ids <= st->n_ids) return 0;
    if (n_ids > st->cap_ids) {
        uint32_t c = st->cap_ids ? st->cap_ids : 64;
        while (c < n_ids) c = c > UINT32_MAX / 2 ? n_ids : c * 2;
        uint32_t oc = st->cap_ids;
        size_t ow = (oc + 63) / 64 * 8, nw = ((size_t)c + 63) / 64 * 8;
        int rc = grow((void **)&st->present, ow, nw, 0);
        if (rc == 0 && st->spec->row_width)
            rc = grow((void **)&st->rows, (size_t)oc * st->spec->row_width,
                      (size_t)c * st->spec->row_width, 0);
        if (rc == 0 && st->child) {
            rc = grow((void **)&st->first_child, (size_t)oc * 4, (size_t)c * 4, 0xff);
            if (rc == 0) rc = grow((void **)&st->last_child, (size_t)oc * 4, (size_t)c * 4, 0xff);
            if (rc == 0) rc = grow((void **)&st->width, (size_t)oc * 4, (size_t)c * 4, 0xff);
        }
        if (rc < 0) return cn_err_set(err, CN_ENOMEM, "agg state: out of memory for %u keys", n_ids);
        st->cap_ids = c;
    }
    st->n_ids = n_ids;
    return 0;
}

/* ----------------------------------------------------------------- slab */

static unsigned size_class(uint64_t total) {
    unsigned c = 0;
    while ((UINT64_C(16) << c) < total) c++;
    return c;
}

int cn_agg__blob_reserve(CnAggState *st, uint32_t id, uint32_t need) {
    uint64_t off = *cn_agg__row_off(st, id);
    uint32_t old_len = 0;
    if (off) {
        uint32_t cap;
        memcpy(&cap, st->slab + off, 4);
        if (cap >= need) return 0;
        old_len = cn_agg__blob_len(st, off);
    }
    /* grow by half again so repeated appends stay amortised O(1) */
    uint64_t want = (uint64_t)need + (off ? need / 2 : 0) + 8;
    unsigned c = size_class(want);
    if (c >= CN_ARRAY_LEN(st->free_head)) return CN_ENOMEM;
    uint64_t total = UINT64_C(16) << c, nb;
    if (st->free_head[c]) {
        nb = st->free_head[c];
        memcpy(&st->free_head[c], st->slab + nb + 8, 8);
    } else {
        if (st->slab_len + total > st->slab_cap) {
            uint64_t cap = st->slab_cap ? st->slab_cap : 4096;
            while (cap < st->slab_len + total) cap *= 2;
            uint8_t *n = cn_realloc(st->slab, cap);
            if (!n) return CN_ENOMEM;
            st->slab = n;
            st->slab_cap = cap;
        }
        nb = st->slab_len;
        st->slab_len += total;
    }
    uint32_t cap32 = (uint32_t)(total - 8);
    memcpy(st->slab + nb, &cap32, 4);
    cn_agg__blob_set_len(st, nb, old_len);
    if (off) {
        memcpy(st->slab + nb + 8, st->slab + off + 8, old_len);
        uint32_t ocap;
        memcpy(&ocap, st->slab + off, 4);
        unsigned oc = size_class((uint64_t)ocap + 8);
        memcpy(st->slab + off + 8, &st->free_head[oc], 8);
        st->free_head[oc] = off;
    }
    *cn_agg__row_off(st, id) = nb;
    return 0;
}

void cn_agg__blob_release(CnAggState *st, uint32_t id) {
    uint64_t *ro = cn_agg__row_off(st, id), off = *ro;
    if (!off) return;
    uint32_t cap;
    memcpy(&cap, st->slab + off, 4);
    unsigned c = size_class((uint64_t)cap + 8);
    memcpy(st->slab + off + 8, &st->free_head[c], 8);
    st->free_head[c] = off;
    *ro = 0;
}

/* Replaces the blob of id with len bytes at p (p must not point into this slab). */
static int blob_set(CnAggState *st, uint32_t id, const void *p, uint32_t len) {
    if (cn_agg__blob_reserve(st, id, len)) return CN_ENOMEM;
    uint64_t off = *cn_agg__row_off(st, id);
    memcpy(cn_agg__blob(st, off), p, len);
    cn_agg__blob_set_len(st, off, len);
    return 0;
}

/* ------------------------------------------------------------- nesting */

static int dict_grow(CnAggState *st) {
    uint32_t cap = st->dict_cap ? st->dict_cap * 2 : 64;
    CnAggDictEnt *d = cn_malloc((size_t)cap * sizeof *d);
    if (!d) return CN_ENOMEM;
    for (uint32_t i = 0; i < cap; i++) d[i].child = NONE;
    for (uint32_t i = 0; i < st->dict_cap; i++) {
        CnAggDictEnt e = st->dict[i];
        if (e.child == NONE) continue;
        uint32_t j = (uint32_t)e.hash & (cap - 1);
        while (d[j].child != NONE) j = (j + 1) & (cap - 1);
        d[j] = e;
    }
    cn_free(st->dict);
    st->dict = d;
    st->dict_cap = cap;
    return 0;
}

static const uint8_t *label_of(const CnAggState *st, uint32_t child, uint32_t *len) {
    uint64_t l = st->ch_label[child];
    *len = (uint32_t)l;
    return (const uint8_t *)st->labels.data + (l >> 32);
}

/* Child id of (parent, label), created (null IR) when missing. UINT32_MAX when out of
 * memory. */
static uint32_t child_get(CnAggState *st, uint32_t parent, const void *label, uint32_t len) {
    uint64_t h = cn_hash_bytes(label, len, parent);
    if (st->dict_n * 2 >= st->dict_cap && dict_grow(st)) return NONE;
    uint32_t j = (uint32_t)h & (st->dict_cap - 1);
    for (;;) {
        CnAggDictEnt *e = &st->dict[j];
        if (e->child == NONE) break;
        if (e->hash == h && e->parent == parent) {
            uint32_t ll;
            const uint8_t *lp = label_of(st, e->child, &ll);
            if (ll == len && memcmp(lp, label, len) == 0) return e->child;
        }
        j = (j + 1) & (st->dict_cap - 1);
    }
    uint32_t c = st->child->n_ids;
    if (cn_agg_state_reserve(st->child, c + 1, NULL)) return NONE;
    if (c >= st->ch_cap) {
        uint32_t nc = st->ch_cap ? st->ch_cap * 2 : 64;
        if (grow((void **)&st->next_sib, (size_t)st->ch_cap * 4, (size_t)nc * 4, 0xff) ||
            grow((void **)&st->ch_parent, (size_t)st->ch_cap * 4, (size_t)nc * 4, 0xff) ||
            grow((void **)&st->ch_label, (size_t)st->ch_cap * 8, (size_t)nc * 8, 0))
            return NONE;
        st->ch_cap = nc;
    }
    uint64_t at = st->labels.len;
    if (cn_buf_append(&st->labels, label, len)) return NONE;
    st->ch_label[c] = (at << 32) | len;
    st->ch_parent[c] = parent;
    st->next_sib[c] = NONE;
    if (st->last_child[parent] == NONE)
        st->first_child[parent] = c;
    else
        st->next_sib[st->last_child[parent]] = c;
    st->last_child[parent] = c;
    st->dict[j] = (CnAggDictEnt){h, parent, c};
    st->dict_n++;
    return c;
}

static int need_scratch(CnAggState *st, uint32_t n) {
    uint32_t c = st->s_cap;
    if (cn_agg__grow_u32(&st->s_ids, &c, n)) return CN_ENOMEM;
    c = st->s_cap;
    if (cn_agg__grow_u32(&st->s_sel, &c, n)) return CN_ENOMEM;
    st->s_cap = c;
    return 0;
}

static void idx_label(uint32_t i, uint8_t out[4]) {
    /* big-endian so that byte order is index order */
    out[0] = (uint8_t)(i >> 24);
    out[1] = (uint8_t)(i >> 16);
    out[2] = (uint8_t)(i >> 8);
    out[3] = (uint8_t)i;
}

/* ---------------------------------------------------------- flat kernels */

typedef struct Avg { double sum; int64_t n; } Avg;
typedef struct Var { int64_t n; double mean, m2; } Var;
typedef struct Mom { int64_t n; double mean, m2, m3, m4; } Mom;
typedef struct Fl { int64_t ts; uint8_t p[8]; } Fl;

#define ROWS(T) ((T *)(void *)st->rows)
#define SETP(id) (present[(id) >> 6] |= UINT64_C(1) << ((id) & 63))
#define VALID(r) (!valid || ((valid[(r) >> 6] >> ((r) & 63)) & 1))

/* Reads input r as double / int64 for the numeric kinds. */
static inline double num_f(CnTypeId sc, const void *v, uint32_t r) {
    switch (sc) {
    case CN_COL_BOOL: return ((const uint8_t *)v)[r];
    case CN_COL_INT32: return ((const int32_t *)v)[r];
    case CN_COL_INT64: return (double)((const int64_t *)v)[r];
    case CN_COL_FLOAT32: return ((const float *)v)[r];
    default: return ((const double *)v)[r];
    }
}
static inline int64_t num_i(CnTypeId sc, const void *v, uint32_t r) {
    switch (sc) {
    case CN_COL_BOOL: return ((const uint8_t *)v)[r];
    case CN_COL_INT32: return ((const int32_t *)v)[r];
    default: return ((const int64_t *)v)[r];
    }
}

static void var_add(Var *a, double x) {
    a->n++;
    double d = x - a->mean;
    a->mean += d / (double)a->n;
    a->m2 += d * (x - a->mean);
}

static void mom_add(Mom *a, double x) {
    double n1 = (double)a->n;
    a->n++;
    double n = (double)a->n;
    double d = x - a->mean, dn = d / n, dn2 = dn * dn, t = d * dn * n1;
    a->mean += dn;
    a->m4 += t * dn2 * (n * n - 3 * n + 3) + 6 * dn2 * a->m2 - 4 * dn * a->m3;
    a->m3 += t * dn * (n - 2) - 3 * dn * a->m2;
    a->m2 += t;
}

static int fl_cmp(CnTypeId sc, int64_t ta, const uint8_t *pa, uint32_t la, int64_t tb,
                  const uint8_t *pb, uint32_t lb) {
    if (ta != tb) return ta < tb ? -1 : 1;
    return cn_agg__payload_cmp(sc, pa, la, pb, lb);
}

/* SUM/COUNT hot loops: dense and selected variants, no branches on type inside. */
#define SUM_LOOP(T, ACC)                                                              \
    do {                                                                              \
        const T *restrict x = (const T *)v->values;                                   \
        if (!valid) {                                                                 \
            for (uint32_t j = 0; j < n; j++) {                                        \
                uint32_t r = sel ? sel[j] : j, id = keys[r];                          \
                ACC;                                                                  \
                SETP(id);                                                             \
            }                                                                         \
        } else {                                                                      \
            for (uint32_t j = 0; j < n; j++) {                                        \
                uint32_t r = sel ? sel[j] : j, id = keys[r];                          \
                if (!VALID(r)) continue;                                              \
                ACC;                                                                  \
                SETP(id);                                                             \
            }                                                                         \
        }                                                                             \
    } while (0)

static int flat_update(CnAggState *st, const uint32_t *restrict keys, const uint32_t *sel,
                       uint32_t n, const CnVec *v, const CnVec *ts, int sign, CnErr *err) {
    const CnAggSpec *sp = st->spec;
    uint64_t *restrict present = st->present;
    const uint64_t *valid = v->valid;
    CnTypeId sc = sp->sc;
    int rc = 0;
    switch (sp->kind) {
    case CN_AGG__K_COUNT: {
        int64_t *restrict c = ROWS(int64_t);
        for (uint32_t j = 0; j < n; j++) {
            uint32_t r = sel ? sel[j] : j, id = keys[r];
            if (!VALID(r)) continue;
            c[id] += sign;
            SETP(id);
        }
        return 0;
    }
    case CN_AGG__K_SUM_I: {
        uint64_t *restrict s = ROWS(uint64_t);
        if (sign > 0) {
            if (sc == CN_COL_INT64) SUM_LOOP(int64_t, s[id] += (uint64_t)x[r]);
            else if (sc == CN_COL_INT32) SUM_LOOP(int32_t, s[id] += (uint64_t)(int64_t)x[r]);
            else SUM_LOOP(uint8_t, s[id] += x[r]);
        } else {
            if (sc == CN_COL_INT64) SUM_LOOP(int64_t, s[id] -= (uint64_t)x[r]);
            else if (sc == CN_COL_INT32) SUM_LOOP(int32_t, s[id] -= (uint64_t)(int64_t)x[r]);
            else SUM_LOOP(uint8_t, s[id] -= x[r]);
        }
        return 0;
    }
    case CN_AGG__K_SUM_F: {
        double *restrict s = ROWS(double);
        if (sign > 0) {
            if (sc == CN_COL_FLOAT64) SUM_LOOP(double, s[id] += x[r]);
            else SUM_LOOP(float, s[id] += (double)x[r]);
        } else {
            if (sc == CN_COL_FLOAT64) SUM_LOOP(double, s[id] -= x[r]);
            else SUM_LOOP(float, s[id] -= (double)x[r]);
        }
        return 0;
    }
    case CN_AGG__K_AVG: {
        Avg *restrict a = ROWS(Avg);
        if (sc == CN_COL_FLOAT64) {
            if (sign > 0) SUM_LOOP(double, (a[id].sum += x[r], a[id].n++));
            else SUM_LOOP(double, (a[id].sum -= x[r], a[id].n--));
        } else if (sc == CN_COL_INT64) {
            if (sign > 0) SUM_LOOP(int64_t, (a[id].sum += (double)x[r], a[id].n++));
            else SUM_LOOP(int64_t, (a[id].sum -= (double)x[r], a[id].n--));
        } else {
            const void *x = v->values;
            for (uint32_t j = 0; j < n; j++) {
                uint32_t r = sel ? sel[j] : j, id = keys[r];
                if (!VALID(r)) continue;
                a[id].sum += sign * num_f(sc, x, r);
                a[id].n += sign;
                SETP(id);
            }
        }
        return 0;
    }
    case CN_AGG__K_VAR: case CN_AGG__K_MOM: {
        const void *x = v->values;
        for (uint32_t j = 0; j < n; j++) {
            uint32_t r = sel ? sel[j] : j, id = keys[r];
            if (!VALID(r)) continue;
            if (!cn_agg__present(st, id)) memset(st->rows + (size_t)id * sp->row_width, 0, sp->row_width);
            if (sp->kind == CN_AGG__K_VAR)
                var_add(&ROWS(Var)[id], num_f(sc, x, r));
            else
                mom_add(&ROWS(Mom)[id], num_f(sc, x, r));
            SETP(id);
        }
        return 0;
    }
    case CN_AGG__K_MM_I: {
        int64_t *restrict m = ROWS(int64_t);
        bool is_max = sp->op == CN_AGG_MAX;
        for (uint32_t j = 0; j < n; j++) {
            uint32_t r = sel ? sel[j] : j, id = keys[r];
            if (!VALID(r)) continue;
            int64_t x = num_i(sc, v->values, r);
            if (!cn_agg__present(st, id) || (is_max ? x > m[id] : x < m[id])) m[id] = x;
            SETP(id);
        }
        return 0;
    }
    case CN_AGG__K_MM_F: {
        double *restrict m = ROWS(double);
        bool is_max = sp->op == CN_AGG_MAX;
        for (uint32_t j = 0; j < n; j++) {
            uint32_t r = sel ? sel[j] : j, id = keys[r];
            if (!VALID(r)) continue;
            double x = num_f(sc, v->values, r);
            /* D20: NaN propagates and sticks */
            if (!cn_agg__present(st, id) || x != x ||
                (m[id] == m[id] && (is_max ? x > m[id] : x < m[id])))
                m[id] = x;
            SETP(id);
        }
        return 0;
    }
    case CN_AGG__K_FL_FIX: {
        Fl *restrict f = ROWS(Fl);
        bool last = sp->op == CN_AGG_LAST;
        size_t w = cn_col_type_width(sc);
        const int64_t *t = ts->values;
        for (uint32_t j = 0; j < n; j++) {
            uint32_t r = sel ? sel[j] : j, id = keys[r];
            if (!VALID(r) || !cn_col_vec_is_valid(ts, r)) continue;
            const uint8_t *p = (const uint8_t *)v->values + (size_t)r * w;
            int c = cn_agg__present(st, id) ? fl_cmp(sc, t[r], p, (uint32_t)w, f[id].ts, f[id].p,
                                                     (uint32_t)w)
                                            : (last ? 1 : -1);
            if (last ? c > 0 : c < 0) {
                f[id].ts = t[r];
                memset(f[id].p, 0, 8);
                memcpy(f[id].p, p, w);
            }
            SETP(id);
        }
        return 0;
    }
    default: break;
    }
    /* blob kinds: one payload per row through s_buf, no allocation once warm */
    bool is_max = sp->op == CN_AGG_MAX || sp->op == CN_AGG_LAST;
    size_t fixed_w = cn_col_type_width(sc);
    for (uint32_t j = 0; j < n; j++) {
        uint32_t r = sel ? sel[j] : j, id = keys[r];
        /* OPT-ONLY: two-stage prefetch (row, then the blob it points to); with many keys
         * every row costs two dependent cache misses otherwise */
        if (j + 2 * PF_DIST < n) {
            uint32_t r2 = sel ? sel[j + 2 * PF_DIST] : j + 2 * PF_DIST;
            __builtin_prefetch(cn_agg__row_off(st, keys[r2]));
        }
        if (j + PF_DIST < n) {
            uint32_t r1 = sel ? sel[j + PF_DIST] : j + PF_DIST;
            uint64_t o1 = *cn_agg__row_off(st, keys[r1]);
            if (o1) {
                __builtin_prefetch(st->slab + o1);
                __builtin_prefetch(st->slab + o1 + 64);
                __builtin_prefetch(st->slab + o1 + 128);
                __builtin_prefetch(st->slab + o1 + 192);
            }
        }
        if (!VALID(r)) continue;
        switch (sp->kind) {
        case CN_AGG__K_MM_S: case CN_AGG__K_FL_VAR: {
            bool fl = sp->kind == CN_AGG__K_FL_VAR;
            if (fl && !cn_col_vec_is_valid(ts, r)) continue;
            int64_t t = fl ? ((const int64_t *)ts->values)[r] : 0;
            cn_buf_reset(&st->s_buf);
            if (fl && cn_buf_append(&st->s_buf, &t, 8)) goto oom;
            if (cn_agg__payload_put(&st->s_buf, v, r, sc, false)) goto oom;
            const uint8_t *np = (const uint8_t *)st->s_buf.data;
            uint32_t nl = (uint32_t)st->s_buf.len;
            int c = 1;
            if (cn_agg__present(st, id)) {
                uint64_t off = *cn_agg__row_off(st, id);
                const uint8_t *op = cn_agg__blob(st, off);
                uint32_t ol = cn_agg__blob_len(st, off);
                if (fl) {
                    int64_t ot;
                    memcpy(&ot, op, 8);
                    c = fl_cmp(sc, t, np + 8, nl - 8, ot, op + 8, ol - 8);
                } else {
                    c = cn_agg__utf16_cmp(np, nl, op, ol);
                }
                if (!is_max) c = -c;
            }
            if (c > 0 && blob_set(st, id, np, nl)) goto oom;
            break;
        }
        case CN_AGG__K_REC: {
            int64_t aux = 0;
            CnAggRec rec = sp->rec;
            if (rec == CN_AGG__R_FIRSTK || rec == CN_AGG__R_LASTK) {
                if (!cn_col_vec_is_valid(ts, r)) continue;
                aux = ((const int64_t *)ts->values)[r];
            } else if (rec == CN_AGG__R_HIST || rec == CN_AGG__R_MG) {
                aux = sign;
            }
            if (fixed_w && rec != CN_AGG__R_MG && rec != CN_AGG__R_SET) {
                /* fixed-width payloads go straight from the column */
                if (cn_agg__rec_add(st, id, aux, (const uint8_t *)v->values + (size_t)r * fixed_w,
                                    (uint32_t)fixed_w))
                    goto oom;
                break;
            }
            cn_buf_reset(&st->s_buf);
            if (rec == CN_AGG__R_MG && sc != CN_COL_STRING) {
                char tmp[64];
                int len;
                if (sc == CN_COL_FLOAT32 || sc == CN_COL_FLOAT64)
                    len = cn_agg__java_double(num_f(sc, v->values, r), tmp, sizeof tmp);
                else
                    len = snprintf(tmp, sizeof tmp, "%lld", (long long)num_i(sc, v->values, r));
                if (cn_buf_append(&st->s_buf, tmp, (size_t)len)) goto oom;
            } else if (cn_agg__payload_put(&st->s_buf, v, r, sc, rec == CN_AGG__R_SET)) {
                goto oom;
            }
            if (cn_agg__rec_add(st, id, aux, st->s_buf.data, (uint32_t)st->s_buf.len)) goto oom;
            break;
        }
        case CN_AGG__K_HLL: {
            uint64_t h;
            if (sc == CN_COL_STRING || sc == CN_COL_BINARY) {
                uint32_t len;
                const char *p = cn_col_vec_str(v, r, &len);
                h = cn_hash_bytes(p, len, 0x5eed);
            } else if (sc == CN_COL_FLOAT32 || sc == CN_COL_FLOAT64) {
                double d = num_f(sc, v->values, r); /* floats hash as doubles */
                uint64_t bits;
                if (d != d) d = NAN;
                memcpy(&bits, &d, 8);
                h = cn_hash_u64(bits ^ UINT64_C(0x9e3779b97f4a7c15));
            } else {
                h = cn_hash_u64((uint64_t)num_i(sc, v->values, r) ^ UINT64_C(0x9e3779b97f4a7c15));
            }
            if (cn_agg__hll_add(st, id, h)) goto oom;
            break;
        }
        case CN_AGG__K_KLL: {
            double d = num_f(sc, v->values, r);
            if (d != d) continue; /* NaN is not ranked */
            if (cn_agg__kll_add(st, id, (float)d)) goto oom;
            break;
        }
        default: CN_ASSERT(0);
        }
        cn_agg__set_present(st, id);
    }
    return rc;
oom:
    return cn_err_set(err, CN_ENOMEM, "%s(%s): out of memory", cn_agg_op_name(sp->op),
                      sp->input_column);
}

/* --------------------------------------------------------------- update */

static int level_update(CnAggState *st, const uint32_t *keys, const uint32_t *sel, uint32_t n,
                        const CnVec *v, const CnVec *ts, const CnVec *bucket, int sign,
                        CnErr *err) {
    const CnAggSpec *sp = st->spec;
    switch (sp->nest) {
    case CN_AGG__FLAT: {
        if (!sp->flatten) return flat_update(st, keys, sel, n, v, ts, sign, err);
        const CnVec *e = &v->child[0];
        if (need_scratch(st, e->n + 1)) goto oom;
        uint32_t m = 0;
        for (uint32_t j = 0; j < n; j++) {
            uint32_t r = sel ? sel[j] : j;
            if (!cn_col_vec_is_valid(v, r)) continue;
            for (uint32_t x = v->offsets[r]; x < v->offsets[r + 1]; x++) {
                if (!cn_col_vec_is_valid(e, x)) continue;
                st->s_ids[x] = keys[r];
                st->s_sel[m++] = x;
            }
        }
        return flat_update(st, st->s_ids, st->s_sel, m, e, NULL, sign, err);
    }
    case CN_AGG__BUCKET: {
        if (need_scratch(st, v->n + 1)) goto oom;
        uint32_t m = 0;
        for (uint32_t j = 0; j < n; j++) {
            uint32_t r = sel ? sel[j] : j, len;
            if (!cn_col_vec_is_valid(bucket, r)) continue; /* null bucket: skipped (3) */
            const char *b = cn_col_vec_str(bucket, r, &len);
            uint32_t c = child_get(st, keys[r], b, len);
            if (c == NONE) goto oom;
            st->s_ids[r] = c;
            st->s_sel[m++] = r;
        }
        int rc = level_update(st->child, st->s_ids, st->s_sel, m, v, ts, NULL, sign, err);
        for (uint32_t j = 0; j < m; j++) {
            uint32_t r = st->s_sel[j];
            if (cn_agg__present(st->child, st->s_ids[r])) cn_agg__set_present(st, keys[r]);
        }
        return rc;
    }
    case CN_AGG__MAP: case CN_AGG__ELEM: {
        bool map = sp->nest == CN_AGG__MAP;
        const CnVec *kv = &v->child[0], *e = map ? &v->child[1] : &v->child[0];
        if (need_scratch(st, e->n + 1)) goto oom;
        uint32_t m = 0;
        for (uint32_t j = 0; j < n; j++) {
            uint32_t r = sel ? sel[j] : j, id = keys[r];
            if (!cn_col_vec_is_valid(v, r)) continue;
            uint32_t lo = v->offsets[r], hi = v->offsets[r + 1];
            if (!map) {
                uint32_t w = hi - lo;
                if (st->width[id] != NONE && st->width[id] != w)
                    return cn_err_set(err, CN_EINVAL,
                                      "%s(%s): element-wise lists of key id %u have lengths %u and %u; "
                                      "all lists of a key must have the same length",
                                      cn_agg_op_name(sp->op), sp->input_column, id, st->width[id], w);
                for (uint32_t x = lo; x < hi; x++)
                    if (!cn_col_vec_is_valid(e, x))
                        return cn_err_set(err, CN_EINVAL,
                                          "%s(%s): element-wise list of key id %u has a null element at "
                                          "index %u", cn_agg_op_name(sp->op), sp->input_column, id, x - lo);
                st->width[id] = w;
                cn_agg__set_present(st, id);
            }
            for (uint32_t x = lo; x < hi; x++) {
                if (!cn_col_vec_is_valid(e, x)) continue;
                uint32_t c;
                if (map) {
                    uint32_t len;
                    const char *k = cn_col_vec_str(kv, x, &len);
                    c = child_get(st, id, k, len);
                } else {
                    uint8_t lab[4];
                    idx_label(x - lo, lab);
                    c = child_get(st, id, lab, 4);
                }
                if (c == NONE) goto oom;
                st->s_ids[x] = c;
                st->s_sel[m++] = x;
                if (map) cn_agg__set_present(st, id);
            }
        }
        return level_update(st->child, st->s_ids, st->s_sel, m, e, NULL, NULL, sign, err);
    }
    }
    return 0;
oom:
    return cn_err_set(err, CN_ENOMEM, "%s(%s): out of memory", cn_agg_op_name(sp->op),
                      sp->input_column);
}

static int check_inputs(const CnAggState *st, const CnVec *v, const CnVec *ts,
                        const CnVec *bucket, CnErr *err) {
    const CnAggSpec *sp = st->spec;
    if (!cn_col_type_equal(v->type, sp->in_type))
        return cn_err_set(err, CN_ETYPE, "%s(%s): input column type differs from the resolved type",
                          cn_agg_op_name(sp->op), sp->input_column);
    if (sp->needs_ts && (!ts || (ts->type->id != CN_COL_INT64 && ts->type->id != CN_COL_TIMESTAMP)))
        return cn_err_set(err, CN_ETYPE, "%s(%s): needs a long ts column", cn_agg_op_name(sp->op),
                          sp->input_column);
    if (sp->nest == CN_AGG__BUCKET && (!bucket || bucket->type->id != CN_COL_STRING))
        return cn_err_set(err, CN_ETYPE, "%s(%s): bucketed part needs a string bucket column",
                          cn_agg_op_name(sp->op), sp->input_column);
    return 0;
}

int cn_agg_state_update(CnAggState *st, const uint32_t *key_ids, const uint32_t *sel,
                        uint32_t n_sel, const CnVec *values, const CnVec *ts,
                        const CnVec *bucket, CnErr *err) {
    int rc = check_inputs(st, values, ts, bucket, err);
    if (rc < 0) return rc;
    return level_update(st, key_ids, sel, n_sel, values, ts, bucket, 1, err);
}

int cn_agg_state_delete(CnAggState *st, const uint32_t *key_ids, const uint32_t *sel,
                        uint32_t n_sel, const CnVec *values, const CnVec *ts,
                        const CnVec *bucket, CnErr *err) {
    if (!st->spec->deletable) return 0; /* N5 */
    int rc = check_inputs(st, values, ts, bucket, err);
    if (rc < 0) return rc;
    return level_update(st, key_ids, sel, n_sel, values, ts, bucket, -1, err);
}

/* ---------------------------------------------------------------- merge */

bool cn_agg_state_present(const CnAggState *st, uint32_t id) {
    return id < st->n_ids && cn_agg__present(st, id);
}

void cn_agg_state_clear(CnAggState *st, uint32_t id) {
    if (id >= st->n_ids) return;
    st->present[id >> 6] &= ~(UINT64_C(1) << (id & 63));
    const CnAggSpec *sp = st->spec;
    if (sp->nest == CN_AGG__FLAT) {
        if (CN_AGG__IS_BLOB(sp->kind))
            cn_agg__blob_release(st, id);
        else
            memset(st->rows + (size_t)id * sp->row_width, 0, sp->row_width);
        return;
    }
    for (uint32_t c = st->first_child[id]; c != NONE; c = st->next_sib[c])
        cn_agg_state_clear(st->child, c);
    st->width[id] = NONE;
}

static void var_merge(Var *a, const Var *b) {
    if (b->n == 0) return;
    double na = (double)a->n, nb = (double)b->n, n = na + nb, d = b->mean - a->mean;
    a->mean = (na * a->mean + nb * b->mean) / n;
    a->m2 = a->m2 + b->m2 + d * d * na * nb / n;
    a->n += b->n;
}

static void mom_merge(Mom *a, const Mom *b) {
    if (b->n == 0) return;
    double na = (double)a->n, nb = (double)b->n, n = na + nb, d = b->mean - a->mean;
    double d2 = d * d, d3 = d2 * d, d4 = d2 * d2;
    double m2 = a->m2 + b->m2 + d2 * na * nb / n;
    double m3 = a->m3 + b->m3 + d3 * na * nb * (na - nb) / (n * n) +
                3 * d * (na * b->m2 - nb * a->m2) / n;
    double m4 = a->m4 + b->m4 + d4 * na * nb * (na * na - na * nb + nb * nb) / (n * n * n) +
                6 * d2 * (na * na * b->m2 + nb * nb * a->m2) / (n * n) +
                4 * d * (na * b->m3 - nb * a->m3) / n;
    a->mean = (na * a->mean + nb * b->mean) / n;
    a->m2 = m2;
    a->m3 = m3;
    a->m4 = m4;
    a->n += b->n;
}

static int flat_merge(CnAggState *dst, uint32_t di, const CnAggState *src, uint32_t si,
                      int sign) {
    const CnAggSpec *sp = dst->spec;
    bool had = cn_agg__present(dst, di);
    if (!CN_AGG__IS_BLOB(sp->kind)) {
        uint8_t *a = dst->rows + (size_t)di * sp->row_width;
        const uint8_t *b = src->rows + (size_t)si * sp->row_width;
        if (!had) {
            if (sign > 0) {
                memmove(a, b, sp->row_width);
                cn_agg__set_present(dst, di);
                return 0;
            }
            memset(a, 0, sp->row_width); /* N5: inverse IR from zero */
        }
        switch (sp->kind) {
        case CN_AGG__K_COUNT: case CN_AGG__K_SUM_I: {
            uint64_t x, y;
            memcpy(&x, a, 8);
            memcpy(&y, b, 8);
            x = sign > 0 ? x + y : x - y;
            memcpy(a, &x, 8);
            break;
        }
        case CN_AGG__K_SUM_F: {
            double x, y;
            memcpy(&x, a, 8);
            memcpy(&y, b, 8);
            x = sign > 0 ? x + y : x - y;
            memcpy(a, &x, 8);
            break;
        }
        case CN_AGG__K_AVG: {
            Avg x, y;
            memcpy(&x, a, sizeof x);
            memcpy(&y, b, sizeof y);
            x.sum = sign > 0 ? x.sum + y.sum : x.sum - y.sum;
            x.n = sign > 0 ? x.n + y.n : x.n - y.n;
            memcpy(a, &x, sizeof x);
            break;
        }
        case CN_AGG__K_VAR: {
            Var x, y;
            memcpy(&x, a, sizeof x);
            memcpy(&y, b, sizeof y);
            var_merge(&x, &y);
            memcpy(a, &x, sizeof x);
            break;
        }
        case CN_AGG__K_MOM: {
            Mom x, y;
            memcpy(&x, a, sizeof x);
            memcpy(&y, b, sizeof y);
            mom_merge(&x, &y);
            memcpy(a, &x, sizeof x);
            break;
        }
        case CN_AGG__K_MM_I: {
            int64_t x, y;
            memcpy(&x, a, 8);
            memcpy(&y, b, 8);
            if (sp->op == CN_AGG_MAX ? y > x : y < x) memcpy(a, &y, 8);
            break;
        }
        case CN_AGG__K_MM_F: {
            double x, y;
            memcpy(&x, a, 8);
            memcpy(&y, b, 8);
            if (x == x && (y != y || (sp->op == CN_AGG_MAX ? y > x : y < x))) memcpy(a, &y, 8);
            break;
        }
        case CN_AGG__K_FL_FIX: {
            Fl x, y;
            memcpy(&x, a, sizeof x);
            memcpy(&y, b, sizeof y);
            uint32_t w = (uint32_t)cn_col_type_width(sp->sc);
            int c = fl_cmp(sp->sc, y.ts, y.p, w, x.ts, x.p, w);
            if (sp->op == CN_AGG_LAST ? c > 0 : c < 0) memcpy(a, &y, sizeof y);
            break;
        }
        default: CN_ASSERT(0);
        }
        cn_agg__set_present(dst, di);
        return 0;
    }
    /* blobs: take a private copy of src first when it lives in dst's slab */
    uint64_t so = *cn_agg__row_off(src, si);
    const uint8_t *sb = cn_agg__blob(src, so);
    uint32_t sl = cn_agg__blob_len(src, so);
    if (src == dst) {
        cn_buf_reset(&dst->s_buf2);
        if (cn_buf_append(&dst->s_buf2, sb, sl)) return CN_ENOMEM;
        sb = (const uint8_t *)dst->s_buf2.data;
    }
    int rc = 0;
    if (!had && sign > 0) {
        rc = blob_set(dst, di, sb, sl);
        if (rc == 0) cn_agg__set_present(dst, di);
        return rc;
    }
    switch (sp->kind) {
    case CN_AGG__K_MM_S: case CN_AGG__K_FL_VAR: {
        uint64_t off = *cn_agg__row_off(dst, di);
        const uint8_t *ob = cn_agg__blob(dst, off);
        uint32_t ol = cn_agg__blob_len(dst, off);
        int c;
        if (sp->kind == CN_AGG__K_FL_VAR) {
            int64_t ta, tb;
            memcpy(&ta, sb, 8);
            memcpy(&tb, ob, 8);
            c = fl_cmp(sp->sc, ta, sb + 8, sl - 8, tb, ob + 8, ol - 8);
        } else {
            c = cn_agg__utf16_cmp(sb, sl, ob, ol);
        }
        bool is_max = sp->op == CN_AGG_MAX || sp->op == CN_AGG_LAST;
        if (is_max ? c > 0 : c < 0) rc = blob_set(dst, di, sb, sl);
        break;
    }
    case CN_AGG__K_REC: rc = cn_agg__rec_merge(dst, di, sb, sl, sign); break;
    case CN_AGG__K_HLL: rc = cn_agg__hll_merge(dst, di, sb, sl); break;
    case CN_AGG__K_KLL: rc = cn_agg__kll_merge(dst, di, sb, sl); break;
    default: CN_ASSERT(0);
    }
    if (rc == 0) cn_agg__set_present(dst, di);
    return rc;
}

static int level_merge(CnAggState *dst, uint32_t di, const CnAggState *src, uint32_t si,
                       int sign, CnErr *err) {
    const CnAggSpec *sp = dst->spec;
    if (si >= src->n_ids || !cn_agg__present(src, si)) return 0; /* N3 */
    if (sp->nest == CN_AGG__FLAT) {
        if (flat_merge(dst, di, src, si, sign))
            return cn_err_set(err, CN_ENOMEM, "%s(%s): out of memory", cn_agg_op_name(sp->op),
                              sp->input_column);
        return 0;
    }
    if (sp->nest == CN_AGG__ELEM && cn_agg__present(dst, di) && dst->width[di] != src->width[si])
        return cn_err_set(err, CN_EINVAL,
                          "%s(%s): element-wise lists of one key have lengths %u and %u",
                          cn_agg_op_name(sp->op), sp->input_column, dst->width[di], src->width[si]);
    for (uint32_t c = src->first_child[si]; c != NONE; c = src->next_sib[c]) {
        if (!cn_agg__present(src->child, c)) continue;
        uint32_t len;
        const uint8_t *lab = label_of(src, c, &len);
        if (src == dst) {
            cn_buf_reset(&dst->s_buf);
            if (cn_buf_append(&dst->s_buf, lab, len)) goto oom;
            lab = (const uint8_t *)dst->s_buf.data;
        }
        uint32_t dc = child_get(dst, di, lab, len);
        if (dc == NONE) goto oom;
        int rc = level_merge(dst->child, dc, src->child, c, sign, err);
        if (rc < 0) return rc;
    }
    if (sp->nest == CN_AGG__ELEM) dst->width[di] = src->width[si];
    cn_agg__set_present(dst, di);
    return 0;
oom:
    return cn_err_set(err, CN_ENOMEM, "%s(%s): out of memory", cn_agg_op_name(sp->op),
                      sp->input_column);
}

int cn_agg_state_merge(CnAggState *dst, uint32_t dst_id, const CnAggState *src,
                       uint32_t src_id, CnErr *err) {
    CN_ASSERT(dst_id < dst->n_ids);
    return level_merge(dst, dst_id, src, src_id, 1, err);
}

int cn_agg_state_subtract(CnAggState *dst, uint32_t dst_id, const CnAggState *src,
                          uint32_t src_id, CnErr *err) {
    CN_ASSERT(dst_id < dst->n_ids);
    if (!dst->spec->deletable)
        return cn_err_set(err, CN_EINVAL, "%s(%s): not reversible, cannot subtract",
                          cn_agg_op_name(dst->spec->op), dst->spec->input_column);
    return level_merge(dst, dst_id, src, src_id, -1, err);
}

int cn_agg_state_copy(CnAggState *dst, uint32_t dst_id, const CnAggState *src,
                      uint32_t src_id, CnErr *err) {
    if (src == dst && src_id == dst_id) return 0;
    cn_agg_state_clear(dst, dst_id);
    return level_merge(dst, dst_id, src, src_id, 1, err);
}

/* ------------------------------------------------------------- finalize */

static int label_cmp(const void *ctx, uint32_t a, uint32_t b) {
    const CnAggState *st = ctx;
    uint32_t la, lb;
    const uint8_t *pa = label_of(st, a, &la), *pb = label_of(st, b, &lb);
    return cn_bytes_cmp(pa, la, pb, lb);
}

static int finalize_one(CnAggState *st, uint32_t id, CnVec *out, bool top, CnErr *err);

static int finalize_flat(CnAggState *st, uint32_t id, CnVec *out, bool top, CnErr *err) {
    const CnAggSpec *sp = st->spec;
    const uint8_t *row = sp->row_width ? st->rows + (size_t)id * sp->row_width : NULL;
    double d = 0;
    bool is_d = false;
    int rc = 0;
    switch (sp->kind) {
    case CN_AGG__K_COUNT: case CN_AGG__K_SUM_I: {
        int64_t x;
        memcpy(&x, row, 8);
        rc = cn_col_vec_append_i64(out, x);
        break;
    }
    case CN_AGG__K_SUM_F: memcpy(&d, row, 8); is_d = true; break;
    case CN_AGG__K_AVG: {
        Avg a;
        memcpy(&a, row, sizeof a);
        d = a.n == 0 ? NAN : a.sum / (double)a.n;
        is_d = true;
        break;
    }
    case CN_AGG__K_VAR: {
        Var a;
        memcpy(&a, row, sizeof a);
        d = a.m2 / (double)a.n;
        is_d = true;
        break;
    }
    case CN_AGG__K_MOM: {
        Mom a;
        memcpy(&a, row, sizeof a);
        double n = (double)a.n;
        if (sp->op == CN_AGG_SKEW)
            d = (a.n >= 3 && a.m2 != 0) ? sqrt(n) * a.m3 / pow(a.m2, 1.5) : NAN;
        else
            d = (a.n >= 4 && a.m2 != 0) ? n * a.m4 / (a.m2 * a.m2) - 3 : NAN;
        is_d = true;
        break;
    }
    case CN_AGG__K_MM_I: {
        int64_t x;
        memcpy(&x, row, 8);
        rc = sp->sc == CN_COL_INT32 ? cn_col_vec_append_i32(out, (int32_t)x)
                                    : cn_col_vec_append_i64(out, x);
        break;
    }
    case CN_AGG__K_MM_F: {
        memcpy(&d, row, 8);
        if (top && !isfinite(d)) return cn_col_vec_append_null(out) ? CN_ENOMEM : 0;
        rc = sp->sc == CN_COL_FLOAT32 ? cn_col_vec_append_f32(out, (float)d)
                                      : cn_col_vec_append_f64(out, d);
        break;
    }
    case CN_AGG__K_FL_FIX: {
        Fl f;
        memcpy(&f, row, sizeof f);
        if (top && sp->sc == CN_COL_FLOAT64) {
            memcpy(&d, f.p, 8);
            if (!isfinite(d)) return cn_col_vec_append_null(out) ? CN_ENOMEM : 0;
        } else if (top && sp->sc == CN_COL_FLOAT32) {
            float x;
            memcpy(&x, f.p, 4);
            if (!isfinite(x)) return cn_col_vec_append_null(out) ? CN_ENOMEM : 0;
        }
        return cn_agg__payload_append(out, sp->sc, f.p, (uint32_t)cn_col_type_width(sp->sc), err);
    }
    case CN_AGG__K_MM_S: case CN_AGG__K_FL_VAR: {
        uint64_t off = *cn_agg__row_off(st, id);
        const uint8_t *b = cn_agg__blob(st, off);
        uint32_t l = cn_agg__blob_len(st, off);
        if (sp->kind == CN_AGG__K_FL_VAR) {
            b += 8;
            l -= 8;
        }
        return cn_agg__payload_append(out, sp->sc, b, l, err);
    }
    case CN_AGG__K_REC: return cn_agg__rec_finalize(st, id, out, err);
    case CN_AGG__K_HLL: {
        rc = cn_agg__hll_compact(st, id); /* no-op unless the sketch is in exact mode */
        if (rc < 0) break;
        uint64_t off = *cn_agg__row_off(st, id);
        rc = cn_col_vec_append_i64(out, cn_agg__hll_estimate(sp, cn_agg__blob(st, off),
                                                               cn_agg__blob_len(st, off)));
        break;
    }
    case CN_AGG__K_KLL: rc = cn_agg__kll_finalize(st, id, out); break;
    default: CN_ASSERT(0);
    }
    if (is_d) {
        if (top && !isfinite(d)) return cn_col_vec_append_null(out) ? CN_ENOMEM : 0; /* N4 */
        rc = cn_col_vec_append_f64(out, d);
    }
    return rc ? cn_err_set(err, CN_ENOMEM, "%s(%s): out of memory", cn_agg_op_name(sp->op),
                           sp->input_column)
              : 0;
}

static int finalize_one(CnAggState *st, uint32_t id, CnVec *out, bool top, CnErr *err) {
    const CnAggSpec *sp = st->spec;
    if (id >= st->n_ids || !cn_agg__present(st, id))
        return cn_col_vec_append_null(out) ? cn_err_set(err, CN_ENOMEM, "agg: out of memory") : 0;
    if (sp->nest == CN_AGG__FLAT) return finalize_flat(st, id, out, top, err);
    /* children sorted by label: map keys bytewise, element-wise indexes numerically */
    uint32_t n = 0;
    for (uint32_t c = st->first_child[id]; c != NONE; c = st->next_sib[c])
        if (cn_agg__present(st->child, c)) n++;
    uint32_t cap = st->s_idx_cap;
    if (cn_agg__grow_u32(&st->s_idx, &cap, 2 * n + 2))
        return cn_err_set(err, CN_ENOMEM, "agg: out of memory");
    st->s_idx_cap = cap;
    uint32_t *ids = st->s_idx, k = 0;
    for (uint32_t c = st->first_child[id]; c != NONE; c = st->next_sib[c])
        if (cn_agg__present(st->child, c)) ids[k++] = c;
    cn_agg__sort(ids, n, ids + n, label_cmp, st);
    int rc = 0;
    bool map = sp->nest != CN_AGG__ELEM;
    CnVec *vals = map ? &out->child[1] : &out->child[0];
    for (uint32_t i = 0; i < n && rc == 0; i++) {
        if (map) {
            uint32_t len;
            const uint8_t *lab = label_of(st, ids[i], &len);
            if (cn_col_vec_append_str(&out->child[0], lab, len)) rc = CN_ENOMEM;
        }
        if (rc == 0) rc = finalize_one(st->child, ids[i], vals, false, err);
    }
    if (rc == 0 && cn_col_vec_close_list(out)) rc = CN_ENOMEM;
    if (rc == CN_ENOMEM) return cn_err_set(err, CN_ENOMEM, "agg: out of memory");
    return rc;
}

int cn_agg_state_finalize(CnAggState *st, const uint32_t *ids, uint32_t n, CnVec *out,
                          CnErr *err) {
    CN_ASSERT(cn_col_type_equal(out->type, st->spec->out_type));
    for (uint32_t i = 0; i < n; i++) {
        int rc = finalize_one(st, ids[i], out, true, err);
        if (rc < 0) return rc;
    }
    return 0;
}

/* ------------------------------------------------------- encode / decode */

#define CN_AGG_FORMAT_VERSION 1

static int put_varint(CnBuf *b, uint64_t v) {
    uint8_t tmp[10];
    int n = 0;
    do {
        tmp[n] = (uint8_t)(v & 0x7f);
        v >>= 7;
        if (v) tmp[n] |= 0x80;
        n++;
    } while (v);
    return cn_buf_append(b, tmp, (size_t)n);
}

static bool get_varint(const uint8_t **p, const uint8_t *end, uint64_t *out) {
    uint64_t v = 0;
    for (int s = 0; s < 64; s += 7) {
        if (*p >= end) return false;
        uint8_t c = *(*p)++;
        v |= (uint64_t)(c & 0x7f) << s;
        if (!(c & 0x80)) {
            *out = v;
            return true;
        }
    }
    return false;
}

/* The shape byte ties an encoding to the spec's nesting and IR kind. */
static uint8_t shape_of(const CnAggSpec *sp) {
    uint8_t s = 0;
    const CnAggSpec *x = sp;
    int lvl = 0;
    while (x->nest != CN_AGG__FLAT) {
        s |= (uint8_t)(x->nest << (2 * lvl));
        x = x->child;
        lvl++;
    }
    return (uint8_t)(s | (x->kind << 4));
}

static int encode_body(CnAggState *st, uint32_t id, CnBuf *out) {
    const CnAggSpec *sp = st->spec;
    if (id >= st->n_ids || !cn_agg__present(st, id)) return cn_buf_putc(out, 0);
    int rc = cn_buf_putc(out, 1);
    if (sp->nest == CN_AGG__FLAT) {
        if (!CN_AGG__IS_BLOB(sp->kind))
            return rc | cn_buf_append(out, st->rows + (size_t)id * sp->row_width, sp->row_width);
        if (sp->kind == CN_AGG__K_REC) rc |= cn_agg__rec_compact(st, id);
        if (sp->kind == CN_AGG__K_HLL) rc |= cn_agg__hll_compact(st, id);
        uint64_t off = *cn_agg__row_off(st, id);
        uint32_t len = cn_agg__blob_len(st, off);
        rc |= put_varint(out, len);
        return rc | cn_buf_append(out, cn_agg__blob(st, off), len);
    }
    uint32_t n = 0;
    for (uint32_t c = st->first_child[id]; c != NONE; c = st->next_sib[c])
        if (cn_agg__present(st->child, c)) n++;
    if (sp->nest == CN_AGG__ELEM) rc |= put_varint(out, st->width[id]);
    rc |= put_varint(out, n);
    for (uint32_t c = st->first_child[id]; c != NONE && rc == 0; c = st->next_sib[c]) {
        if (!cn_agg__present(st->child, c)) continue;
        uint32_t len;
        const uint8_t *lab = label_of(st, c, &len);
        rc |= put_varint(out, len);
        rc |= cn_buf_append(out, lab, len);
        rc |= encode_body(st->child, c, out);
    }
    return rc;
}

int cn_agg_state_encode(CnAggState *st, uint32_t id, CnBuf *out, CnErr *err) {
    const CnAggSpec *sp = st->spec;
    uint8_t hdr[3] = {CN_AGG_FORMAT_VERSION, (uint8_t)sp->op, shape_of(sp)};
    int rc = cn_buf_append(out, hdr, 3);
    if (rc == 0) rc = encode_body(st, id, out);
    return rc ? cn_err_set(err, CN_ENOMEM, "%s(%s): out of memory encoding IR",
                           cn_agg_op_name(sp->op), sp->input_column)
              : 0;
}

static int decode_body(CnAggState *st, uint32_t id, const uint8_t **pp, const uint8_t *end,
                       int depth, CnErr *err) {
    const CnAggSpec *sp = st->spec;
    const uint8_t *p = *pp;
    int rc = 0;
    uint64_t len = 0, n = 0;
    CN_CHECK_DATA(p < end, err, rc, "truncated before the presence byte");
    uint8_t pres = *p++;
    CN_CHECK_DATA(pres <= 1, err, rc, "presence byte %u, expected 0 or 1", pres);
    if (!pres) goto ok;
    if (sp->nest == CN_AGG__FLAT) {
        if (!CN_AGG__IS_BLOB(sp->kind)) {
            CN_CHECK_DATA((size_t)(end - p) >= sp->row_width, err, rc,
                          "IR of %u bytes, %zu left", sp->row_width, (size_t)(end - p));
            uint8_t *row = st->rows + (size_t)id * sp->row_width;
            memcpy(row, p, sp->row_width);
            p += sp->row_width;
            if (sp->kind == CN_AGG__K_VAR || sp->kind == CN_AGG__K_MOM) {
                int64_t cnt;
                memcpy(&cnt, row, 8);
                CN_CHECK_DATA(cnt >= 1, err, rc, "moment count %lld, expected >= 1", (long long)cnt);
            }
            cn_agg__set_present(st, id);
            goto ok;
        }
        CN_CHECK_DATA(get_varint(&p, end, &len) && len <= (uint64_t)(end - p) && len < UINT32_MAX / 2,
                      err, rc, "bad blob length");
        switch (sp->kind) {
        case CN_AGG__K_REC: rc = cn_agg__rec_check(sp, p, (uint32_t)len, err); break;
        case CN_AGG__K_HLL: rc = cn_agg__hll_check(sp, p, (uint32_t)len, err); break;
        case CN_AGG__K_KLL: rc = cn_agg__kll_check(sp, p, (uint32_t)len, err); break;
        case CN_AGG__K_FL_VAR:
            CN_CHECK_DATA(len >= 8, err, rc, "FIRST/LAST IR of %llu bytes, expected >= 8",
                          (unsigned long long)len);
            break;
        default: break;
        }
        if (rc < 0) goto done;
        if (blob_set(st, id, p, (uint32_t)len)) {
            rc = cn_err_set(err, CN_ENOMEM, "agg: out of memory decoding IR");
            goto done;
        }
        p += len;
        {
            /* untrusted order claims are dropped: the next compaction re-sorts */
            uint64_t off = *cn_agg__row_off(st, id);
            uint8_t *bb = cn_agg__blob(st, off);
            uint32_t zero = 0;
            if (sp->kind == CN_AGG__K_REC) memcpy(bb + 4, &zero, 4);
            if (sp->kind == CN_AGG__K_HLL && bb[0] == 0) memcpy(bb + 8, &zero, 4);
        }
        cn_agg__set_present(st, id);
        goto ok;
    }
    CN_CHECK_DATA(depth < 4, err, rc, "nesting too deep");
    if (sp->nest == CN_AGG__ELEM) {
        uint64_t w;
        CN_CHECK_DATA(get_varint(&p, end, &w) && w < UINT32_MAX, err, rc, "bad element-wise width");
        st->width[id] = (uint32_t)w;
    }
    CN_CHECK_DATA(get_varint(&p, end, &n) && n <= (uint64_t)(end - p), err, rc, "bad child count");
    for (uint64_t i = 0; i < n; i++) {
        CN_CHECK_DATA(get_varint(&p, end, &len) && len <= (uint64_t)(end - p), err, rc,
                      "bad label length");
        if (sp->nest == CN_AGG__ELEM) {
            CN_CHECK_DATA(len == 4, err, rc, "element index label of %llu bytes", (unsigned long long)len);
            uint32_t ix = ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
            CN_CHECK_DATA(ix < st->width[id], err, rc, "element index %u >= width %u", ix, st->width[id]);
        }
        uint32_t c = child_get(st, id, p, (uint32_t)len);
        if (c == NONE) {
            rc = cn_err_set(err, CN_ENOMEM, "agg: out of memory decoding IR");
            goto done;
        }
        p += len;
        cn_agg_state_clear(st->child, c);
        rc = decode_body(st->child, c, &p, end, depth + 1, err);
        if (rc < 0) goto done;
    }
    cn_agg__set_present(st, id);
ok:
    *pp = p;
    return 0;
done:
    return rc;
}

int cn_agg_state_decode(CnAggState *st, uint32_t id, const uint8_t *p, size_t len,
                        size_t *used, CnErr *err) {
    const CnAggSpec *sp = st->spec;
    const uint8_t *q = p, *end = p + len;
    int rc = 0;
    CN_ASSERT(id < st->n_ids);
    cn_agg_state_clear(st, id);
    CN_CHECK_DATA(len >= 3, err, rc, "%s(%s) IR: %zu bytes, shorter than the 3-byte header",
                  cn_agg_op_name(sp->op), sp->input_column, len);
    CN_CHECK_DATA(p[0] == CN_AGG_FORMAT_VERSION, err, rc, "%s(%s) IR: format version %u, expected %u",
                  cn_agg_op_name(sp->op), sp->input_column, p[0], CN_AGG_FORMAT_VERSION);
    CN_CHECK_DATA(p[1] == (uint8_t)sp->op, err, rc, "%s(%s) IR: encodes operation %u (%s)",
                  cn_agg_op_name(sp->op), sp->input_column, p[1], cn_agg_op_name((CnAggOp)p[1]));
    CN_CHECK_DATA(p[2] == shape_of(sp), err, rc, "%s(%s) IR: shape byte 0x%02x, expected 0x%02x",
                  cn_agg_op_name(sp->op), sp->input_column, p[2], shape_of(sp));
    q += 3;
    rc = decode_body(st, id, &q, end, 0, err);
    if (rc < 0) goto done;
    if (used) *used = (size_t)(q - p);
    return 0;
done:
    cn_agg_state_clear(st, id);
    return cn_err_ctx(err, rc, "%s(%s) IR", cn_agg_op_name(sp->op), sp->input_column);
}
