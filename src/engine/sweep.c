/* sweep.c: point-in-time values of TEMPORAL event parts by one sorted sweep per key
 * (DESIGN.md "Temporal"). GroupBy rows and queries are radix-sorted by (key id, ts);
 * per key and part two pointers bound the window [floor(q-W, H), q), whose ends only
 * move forward as q grows. The window's IR comes from
 *  - unwindowed parts: one running state, update only;
 *  - COUNT, and SUM of integers: one running state with update and delete plus a count
 *    of non-null inputs (null again at 0, N2); both are exact, so nothing drifts;
 *  - FIRST / LAST: the rows at the extreme ts among the window's non-null inputs,
 *    folded by the kernel, which breaks ties as a fold of the whole window would;
 *  - every other op: two stacks, a front of suffix merges (rebuilt from the rows still
 *    in the window when the tail passes it) and a back merged on push, so each row is
 *    merged O(1) times amortised and a query merges two IRs.
 * Late rows (D27: a row counts from its storage day on): while the largest storage day
 * among the key's rows before q is <= the query's partition, every row of the window
 * counts; otherwise that one query is answered by a scan of its key's rows. */
#include "engine/sweep.h"

#include <string.h>

#include "base/alloc.h"

/* Radix digits of at most 13 bits (a 32 KiB histogram stays in cache), as few passes
 * as the key's bit length needs. */
#define MAX_DIGIT_BITS 13
#define N_BUCKETS (1u << MAX_DIGIT_BITS)

int cn_eng__sort_key_ts(const uint32_t *key, const int64_t *ts, uint32_t n_keys, const uint32_t *idx, uint32_t n,
                        uint32_t **out, CnErr *err) {
    uint64_t *u = cn_malloc(((size_t)n + 1) * sizeof *u), *u2 = cn_malloc(((size_t)n + 1) * sizeof *u2);
    uint32_t *ix = cn_malloc(((size_t)n + 1) * sizeof *ix), *ix2 = cn_malloc(((size_t)n + 1) * sizeof *ix2);
    uint32_t *cnt = cn_calloc((size_t)(n_keys > N_BUCKETS ? n_keys : N_BUCKETS) + 1, sizeof *cnt);
    int rc = 0;
    *out = NULL;
    if (!u || !u2 || !ix || !ix2 || !cnt) {
        rc = cn_err_set(err, CN_ENOMEM, "sorting %u rows by key and ts: out of memory", n);
        goto done;
    }
    int64_t lo = INT64_MAX, hi = INT64_MIN;
    for (uint32_t i = 0; i < n; i++) {
        uint32_t r = idx ? idx[i] : i;
        ix[i] = r;
        if (ts[r] < lo) lo = ts[r];
        if (ts[r] > hi) hi = ts[r];
    }
    /* ts relative to the smallest: fewer digits to sort (a month of ms is 32 bits).
     * When key id and ts fit in 64 bits together, one radix sort of (key << bits | ts)
     * does it all and no pass reads the key array out of order. */
    uint64_t range = n ? (uint64_t)hi - (uint64_t)lo : 0;
    unsigned ts_bits = 0, key_bits = 0;
    while (ts_bits < 64 && (range >> ts_bits)) ts_bits++;
    while (key_bits < 32 && ((uint64_t)(n_keys ? n_keys - 1 : 0) >> key_bits)) key_bits++;
    bool fused = ts_bits + key_bits <= 64;
    for (uint32_t i = 0; i < n; i++) {
        u[i] = (uint64_t)ts[ix[i]] - (uint64_t)lo;
        if (fused && key_bits) u[i] |= (uint64_t)key[ix[i]] << ts_bits;
    }
    if (fused) range = ts_bits + key_bits >= 64 ? UINT64_MAX : (UINT64_C(1) << (ts_bits + key_bits)) - 1;
    unsigned bits = 0;
    while (bits < 64 && (range >> bits)) bits++;
    unsigned passes = (bits + MAX_DIGIT_BITS - 1) / MAX_DIGIT_BITS;
    unsigned digit = passes ? (bits + passes - 1) / passes : 1;
    uint32_t n_b = 1u << digit, mask = n_b - 1;
    for (unsigned shift = 0; shift < 64 && (range >> shift); shift += digit) {
        memset(cnt, 0, n_b * sizeof *cnt);
        for (uint32_t i = 0; i < n; i++) cnt[(u[i] >> shift) & mask]++;
        uint32_t sum = 0;
        bool one = false;
        for (uint32_t b = 0; b < n_b; b++) {
            uint32_t c = cnt[b];
            if (c == n) one = true;
            cnt[b] = sum;
            sum += c;
        }
        if (one) continue; /* every row has this digit: the order stands */
        for (uint32_t i = 0; i < n; i++) {
            uint32_t d = cnt[(u[i] >> shift) & mask]++;
            u2[d] = u[i];
            ix2[d] = ix[i];
        }
        uint64_t *tu = u;
        u = u2, u2 = tu;
        uint32_t *ti = ix;
        ix = ix2, ix2 = ti;
    }
    if (fused) {
        *out = ix;
        ix = NULL;
        goto done;
    }
    /* then stably by key: a counting sort over the dense key ids */
    memset(cnt, 0, ((size_t)n_keys + 1) * sizeof *cnt);
    for (uint32_t i = 0; i < n; i++) cnt[key[ix[i]]]++;
    uint32_t sum = 0;
    for (uint32_t k = 0; k < n_keys; k++) {
        uint32_t c = cnt[k];
        cnt[k] = sum;
        sum += c;
    }
    for (uint32_t i = 0; i < n; i++) ix2[cnt[key[ix[i]]]++] = ix[i];
    *out = ix2;
    ix2 = NULL;
done:
    cn_free(u);
    cn_free(u2);
    cn_free(ix);
    cn_free(ix2);
    cn_free(cnt);
    return rc;
}

typedef enum Kind { K_RUN, K_REV, K_LAST, K_FIRST, K_STACK } Kind;

/* Everything one part's sweep shares across keys. */
typedef struct Sweep {
    CnEngGroupBy *g;
    const CnEngBase *b;
    const CnVec *in, *bucket, *ts;  /* GroupBy rows */
    int64_t w_ms;
    Kind kind;
    /* Everything below is indexed by sorted position (rows with a ts, by key and ts),
     * gathered once so that the per-part passes read memory in order. */
    const int64_t *ets;     /* ts */
    const int32_t *epday;   /* storage day */
    const uint32_t *zero;   /* 0 */
    uint32_t *pos;          /* position within its key (front slot) */
    int32_t *nn;            /* scratch per position: nearest non-null position */
    uint32_t *sel;          /* scratch: rows */
    CnAggState *acc, *back, *sfx, *tmp, *res;
} Sweep;

static bool in_ok(const Sweep *s, uint32_t row) { return cn_col_vec_is_valid(s->in, row); }

static int upd(const Sweep *s, CnAggState *st, const uint32_t *ids, const uint32_t *rows, uint32_t n, CnErr *err) {
    if (!n) return 0;
    return cn_agg_state_update(st, ids, rows, n, s->in, s->ts, s->bucket, err);
}

/* Answer of one query by a scan of its key's rows (rows stored after its partition
 * exist among them). */
static int scan_one(const Sweep *s, const uint32_t *rows, uint32_t m, int64_t t, int32_t pday, uint32_t r,
                    CnErr *err) {
    int64_t lo = s->w_ms ? cn_agg_temporal_start(t, s->w_ms) : INT64_MIN;
    uint32_t k = 0;
    for (uint32_t i = 0; i < m; i++) {
        uint32_t row = rows[i];
        if (s->ets[row] < t && s->ets[row] >= lo && s->epday[row] <= pday) s->sel[k++] = row;
    }
    cn_agg_state_clear(s->tmp, 0);
    int rc = upd(s, s->tmp, s->zero, s->sel, k, err);
    if (rc == 0 && cn_agg_state_present(s->tmp, 0)) rc = cn_agg_state_copy(s->res, r, s->tmp, 0, err);
    return rc;
}

/* Two stacks: front = suffix merges of positions [a, b), back cleared. */
static int flip(const Sweep *s, const uint32_t *rows, uint32_t a, uint32_t b, CnErr *err) {
    cn_agg_state_clear(s->back, 0);
    for (uint32_t k = a; k < b; k++) cn_agg_state_clear(s->sfx, k);
    int rc = upd(s, s->sfx, s->pos, rows + a, b - a, err);
    for (uint32_t k = b; rc == 0 && k-- > a + 1;) rc = cn_agg_state_merge(s->sfx, k - 1, s->sfx, k, err);
    return rc;
}

/* One key: its m rows (sorted positions) and its nq queries sorted by ts (result slots
 * q0.., times qts[0..nq), partitions qpday[0..nq)). */
static int sweep_key(Sweep *s, const uint32_t *rows, const int64_t *ets, uint32_t m, uint32_t q0, uint32_t nq,
                     const int64_t *qts, const int32_t *qpday, CnErr *err) {
    const int32_t *epday = s->epday + rows[0];
    uint32_t lo = 0, hi = 0, fe = 0; /* window [lo, hi); front holds [lo, fe) */
    uint32_t n_nonnull = 0;
    int32_t max_pday = INT32_MIN;
    int rc = 0;
    cn_agg_state_clear(s->acc, 0);
    if (s->kind == K_STACK) {
        cn_agg_state_clear(s->back, 0);
        for (uint32_t k = 0; k < m; k++) s->pos[rows[k]] = k;
    } else if (s->kind == K_LAST) {
        int32_t last = -1;
        for (uint32_t k = 0; k < m; k++) s->nn[k] = last = in_ok(s, rows[k]) ? (int32_t)k : last;
    } else if (s->kind == K_FIRST) {
        int32_t next = (int32_t)m;
        for (uint32_t k = m; k-- > 0;) s->nn[k] = next = in_ok(s, rows[k]) ? (int32_t)k : next;
    }
    for (uint32_t i = 0; i < nq && rc == 0; i++) {
        uint32_t r = q0 + i; /* result slot */
        int64_t t = qts[i];
        uint32_t nhi = hi;
        while (nhi < m && ets[nhi] < t) {
            if (epday[nhi] > max_pday) max_pday = epday[nhi];
            nhi++;
        }
        uint32_t nlo = lo;
        if (s->w_ms) {
            int64_t start = cn_agg_temporal_start(t, s->w_ms);
            while (nlo < nhi && ets[nlo] < start) nlo++;
        }
        switch (s->kind) {
        case K_RUN:
            rc = upd(s, s->acc, s->zero, rows + hi, nhi - hi, err);
            break;
        case K_REV:
            rc = upd(s, s->acc, s->zero, rows + hi, nhi - hi, err);
            for (uint32_t k = hi; k < nhi; k++) n_nonnull += in_ok(s, rows[k]);
            if (rc == 0 && nlo > lo) {
                rc = cn_agg_state_delete(s->acc, s->zero, rows + lo, nlo - lo, s->in, s->ts, s->bucket, err);
                for (uint32_t k = lo; k < nlo; k++) n_nonnull -= in_ok(s, rows[k]);
            }
            break;
        case K_STACK:
            /* INVARIANT: lo <= fe, back holds [fe, hi). When the tail passes the front,
             * the front is rebuilt from the whole new window and back starts empty. */
            if (nlo > lo && nlo >= fe) {
                rc = flip(s, rows, nlo, nhi, err);
                fe = nhi;
            } else {
                rc = upd(s, s->back, s->zero, rows + hi, nhi - hi, err);
            }
            break;
        default:
            break;
        }
        lo = nlo;
        hi = nhi;
        if (rc) break;
        if (max_pday > qpday[i]) {
            rc = scan_one(s, rows, m, t, qpday[i], r, err);
            continue;
        }
        switch (s->kind) {
        case K_RUN:
            if (cn_agg_state_present(s->acc, 0)) rc = cn_agg_state_copy(s->res, r, s->acc, 0, err);
            break;
        case K_REV:
            if (n_nonnull) rc = cn_agg_state_copy(s->res, r, s->acc, 0, err);
            break;
        case K_STACK:
            if (lo < fe) rc = cn_agg_state_merge(s->res, r, s->sfx, lo, err);
            if (rc == 0) rc = cn_agg_state_merge(s->res, r, s->back, 0, err);
            break;
        case K_LAST:
        case K_FIRST: {
            if (lo >= hi) break;
            int32_t j = s->kind == K_LAST ? s->nn[hi - 1] : s->nn[lo];
            if (s->kind == K_LAST ? j < (int32_t)lo : j >= (int32_t)hi) break;
            /* every non-null row at that ts, in load order */
            uint32_t a = (uint32_t)j, e = (uint32_t)j + 1;
            while (a > lo && ets[a - 1] == ets[j]) a--;
            while (e < hi && ets[e] == ets[j]) e++;
            uint32_t k = 0;
            for (uint32_t x = a; x < e; x++)
                if (in_ok(s, rows[x])) s->sel[k++] = rows[x];
            cn_agg_state_clear(s->acc, 0);
            rc = upd(s, s->acc, s->zero, s->sel, k, err);
            if (rc == 0) rc = cn_agg_state_copy(s->res, r, s->acc, 0, err);
            break;
        }
        }
    }
    return rc;
}

static Kind kind_of(const CnEngGroupBy *g, const CnEngBase *b, int64_t w_ms) {
    if (!w_ms) return K_RUN;
    const CnType *it = g->rows->schema->fields[b->i_input].type;
    bool scalar = it->id != CN_COL_LIST && it->id != CN_COL_MAP && it->id != CN_COL_STRUCT && b->i_bucket < 0;
    CnAggOp op = cn_agg_spec_op(b->spec);
    if (scalar && op == CN_AGG_COUNT) return K_REV;
    if (scalar && op == CN_AGG_SUM && (it->id == CN_COL_INT32 || it->id == CN_COL_INT64)) return K_REV;
    if (scalar && op == CN_AGG_LAST) return K_LAST;
    if (scalar && op == CN_AGG_FIRST) return K_FIRST;
    return K_STACK;
}

int cn_eng__sweep_temporal(CnEngGroupBy *g, uint32_t n_q, const uint32_t *qid, const int64_t *qts,
                           const int32_t *qpday, CnAggState **res, uint32_t *slot, CnErr *err) {
    uint32_t n_ids = g->keys.n, n_rows = g->n_rows;
    uint32_t *rsel = NULL, *ev = NULL, *qsel = NULL, *qs = NULL, *estart = NULL, *qstart = NULL;
    uint32_t *zero = NULL, *pos = NULL, *sel = NULL, *iota = NULL;
    int32_t *nn = NULL, *epday = NULL, *sqpday = NULL;
    int64_t *ets = NULL, *sqts = NULL;
    CnBatch *sb = NULL;
    uint32_t n_ev = 0, n_qq = 0, max_m = 0;
    Sweep s;
    memset(&s, 0, sizeof s);
    int rc = 0;
    rsel = cn_malloc(((size_t)n_rows + 1) * sizeof *rsel);
    qsel = cn_malloc(((size_t)n_q + 1) * sizeof *qsel);
    estart = cn_calloc((size_t)n_ids + 2, sizeof *estart);
    qstart = cn_calloc((size_t)n_ids + 2, sizeof *qstart);
    if (!rsel || !qsel || !estart || !qstart) {
        rc = cn_err_set(err, CN_ENOMEM, "out of memory");
        goto done;
    }
    for (uint32_t r = 0; r < n_rows; r++)
        if (g->ts_ok[r]) rsel[n_ev++] = r, estart[g->key_id[r] + 1]++;
    for (uint32_t r = 0; r < n_q; r++)
        if (qid[r] < n_ids) qsel[n_qq++] = r, qstart[qid[r] + 1]++;
    for (uint32_t k = 0; k < n_ids; k++) {
        if (estart[k + 1] > max_m) max_m = estart[k + 1];
        estart[k + 1] += estart[k];
        qstart[k + 1] += qstart[k];
    }
    for (uint32_t q = 0; q < g->n_parts && rc == 0; q++) rc = cn_agg_state_reserve(res[q], n_qq + 1, err);
    if (rc == 0) rc = cn_eng__sort_key_ts(g->key_id, g->ts, n_ids, rsel, n_ev, &ev, err);
    if (rc == 0) rc = cn_eng__sort_key_ts(qid, qts, n_ids, qsel, n_qq, &qs, err);
    if (rc) goto done;
    cn_free(rsel);
    rsel = NULL;
    /* queries: slot = sorted position; queries without a key share the null slot n_qq */
    for (uint32_t r = 0; r < n_q; r++) slot[r] = n_qq;
    sqts = cn_malloc(((size_t)n_qq + 1) * sizeof *sqts);
    sqpday = cn_malloc(((size_t)n_qq + 1) * sizeof *sqpday);
    ets = cn_malloc(((size_t)n_ev + 1) * sizeof *ets);
    epday = cn_malloc(((size_t)n_ev + 1) * sizeof *epday);
    zero = cn_calloc((size_t)n_ev + 1, sizeof *zero);
    pos = cn_malloc(((size_t)n_ev + 1) * sizeof *pos);
    iota = cn_malloc(((size_t)n_ev + 1) * sizeof *iota);
    sel = cn_malloc(((size_t)max_m + 1) * sizeof *sel);
    nn = cn_malloc(((size_t)max_m + 1) * sizeof *nn);
    if (!sqts || !sqpday || !ets || !epday || !zero || !pos || !iota || !sel || !nn) {
        rc = cn_err_set(err, CN_ENOMEM, "out of memory");
        goto done;
    }
    for (uint32_t j = 0; j < n_qq; j++) {
        slot[qs[j]] = j;
        sqts[j] = qts[qs[j]];
        sqpday[j] = qpday[qs[j]];
    }
    for (uint32_t i = 0; i <= n_ev; i++) iota[i] = i;
    for (uint32_t i = 0; i < n_ev; i++) {
        ets[i] = g->ts[ev[i]];
        epday[i] = g->pday[ev[i]];
    }
    /* the input and bucket columns of every base, gathered in sorted order */
    rc = cn_col_batch_new(g->rows->schema, &sb, err);
    for (uint32_t c = 0; c < g->rows->n_cols && rc == 0; c++) {
        bool used = false;
        for (uint32_t bi = 0; bi < g->n_bases; bi++)
            used = used || g->bases[bi].i_input == (int)c || g->bases[bi].i_bucket == (int)c;
        if (!used) continue;
        CnVec *dst = &sb->cols[c];
        const CnVec *src = &g->rows->cols[c];
        if (cn_col_vec_reserve(dst, n_ev)) rc = cn_err_set(err, CN_ENOMEM, "out of memory");
        for (uint32_t i = 0; i < n_ev && rc == 0; i++) cn_col_vec_append_from(dst, src, ev[i]);
        if (rc == 0 && dst->oom) rc = cn_err_set(err, CN_ENOMEM, "out of memory");
    }
    if (rc) goto done;

    /* ts in sorted order as a vector for the kernels that need it */
    CnVec tsv;
    memset(&tsv, 0, sizeof tsv);
    tsv.type = cn_col_type_prim(CN_COL_INT64);
    tsv.n = n_ev;
    tsv.values = ets;
    for (uint32_t pi = 0; pi < g->n_parts && rc == 0; pi++) {
        const CnEngPart *pt = &g->parts[pi];
        const CnEngBase *b = &g->bases[pt->i_base];
        s.g = g;
        s.b = b;
        s.in = &sb->cols[b->i_input];
        s.bucket = b->i_bucket >= 0 ? &sb->cols[b->i_bucket] : NULL;
        s.ts = &tsv;
        s.w_ms = pt->w_ms;
        s.kind = kind_of(g, b, pt->w_ms);
        s.ets = ets;
        s.epday = epday;
        s.zero = zero;
        s.pos = pos;
        s.nn = nn;
        s.sel = sel;
        s.res = res[pi];
        rc = cn_agg_state_new(b->spec, &s.acc, err);
        if (rc == 0) rc = cn_agg_state_reserve(s.acc, 1, err);
        if (rc == 0) rc = cn_agg_state_new(b->spec, &s.tmp, err);
        if (rc == 0) rc = cn_agg_state_reserve(s.tmp, 1, err);
        if (rc == 0 && s.kind == K_STACK) {
            rc = cn_agg_state_new(b->spec, &s.back, err);
            if (rc == 0) rc = cn_agg_state_reserve(s.back, 1, err);
            if (rc == 0) rc = cn_agg_state_new(b->spec, &s.sfx, err);
            if (rc == 0) rc = cn_agg_state_reserve(s.sfx, max_m + 1, err);
        }
        for (uint32_t k = 0; k < n_ids && rc == 0; k++) {
            uint32_t q0 = qstart[k], nq = qstart[k + 1] - q0;
            if (!nq) continue;
            rc = sweep_key(&s, iota + estart[k], ets + estart[k], estart[k + 1] - estart[k], q0, nq, sqts + q0,
                           sqpday + q0, err);
        }
        cn_agg_state_free(s.acc);
        cn_agg_state_free(s.tmp);
        cn_agg_state_free(s.back);
        cn_agg_state_free(s.sfx);
        s.acc = s.tmp = s.back = s.sfx = NULL;
    }
done:
    cn_col_batch_free(sb);
    cn_free(sqts);
    cn_free(sqpday);
    cn_free(epday);
    cn_free(iota);
    cn_free(rsel);
    cn_free(qsel);
    cn_free(ev);
    cn_free(qs);
    cn_free(estart);
    cn_free(qstart);
    cn_free(ets);
    cn_free(zero);
    cn_free(pos);
    cn_free(sel);
    cn_free(nn);
    return rc;
}
