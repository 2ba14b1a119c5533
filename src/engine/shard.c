/* shard.c: the distributed GroupBy's row exchange (engine side of src/dist).
 * After a rank loaded its share of the source files, every row goes to the rank owning
 * its key (key hash % nranks). Rows travel column by column, so the exchange is a few
 * bulk copies per column instead of per-value work:
 *   MESSAGE (one per destination, every part padded to 8 bytes so the receiver reads
 *   the arrays in place): u32 rows, u32 columns; ord[rows] (u64 plan order: source,
 *   file, row); ts[rows] (i64); pday[rows] (i32); ts_ok[rows] (u8); then each column:
 *   u32 has-validity, u32 0, [validity bitmap, one bit per entry], then fixed-width
 *   values, or u32 offsets[rows+1] (+ u64 byte count and the bytes for strings; the
 *   child columns for lists and maps), or the struct's child columns.
 * A sender's rows are in plan order (it read its files in plan order), so the receiver
 * merges the ranks' runs by plan order, appending whole stretches of one sender at a
 * time: rows, key ids and every order-sensitive aggregation (first, last, first_k, ...)
 * then see the rows of their keys exactly as one process would. */
#include "engine/eng_int.h"
#include "engine/djoin.h"

#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/hash.h"

#define PAD8(n) (((n) + 7) & ~(size_t)7)

/* n bytes at the end of b (zeroed up to the next multiple of 8), or NULL (b->oom). */
void *cn_eng__wire_put(CnBuf *b, size_t n) {
    size_t m = PAD8(n);
    if (cn_buf_reserve(b, m + 1)) {
        b->oom = true;
        return NULL;
    }
    char *p = b->data + b->len;
    memset(p + n, 0, m - n);
    b->len += m;
    return p;
}

void cn_eng__wire_gather(void *dst, const void *src, size_t w, const uint32_t *sel, uint32_t n) {
    switch (w) {
    case 8:
        for (uint32_t i = 0; i < n; i++) ((uint64_t *)dst)[i] = ((const uint64_t *)src)[sel[i]];
        break;
    case 4:
        for (uint32_t i = 0; i < n; i++) ((uint32_t *)dst)[i] = ((const uint32_t *)src)[sel[i]];
        break;
    case 1:
        for (uint32_t i = 0; i < n; i++) ((uint8_t *)dst)[i] = ((const uint8_t *)src)[sel[i]];
        break;
    default:
        for (uint32_t i = 0; i < n; i++) memcpy((char *)dst + i * w, (const char *)src + (size_t)sel[i] * w, w);
        break;
    }
}

/* Appends entries sel[0..n) of v to b in the MESSAGE column layout. false: out of memory. */
bool cn_eng__wire_vec(CnBuf *b, const CnVec *v, const uint32_t *sel, uint32_t n) {
    uint32_t *hdr = cn_eng__wire_put(b, 8);
    if (!hdr) return false;
    bool has_valid = false;
    for (uint32_t i = 0; v->valid && v->n_null && i < n && !has_valid; i++) has_valid = !cn_col_vec_is_valid(v, sel[i]);
    hdr[0] = has_valid;
    hdr[1] = 0;
    if (has_valid) {
        uint64_t *bits = cn_eng__wire_put(b, ((size_t)n + 63) / 64 * 8);
        if (!bits) return false;
        memset(bits, 0, ((size_t)n + 63) / 64 * 8);
        for (uint32_t i = 0; i < n; i++)
            if (cn_col_vec_is_valid(v, sel[i])) bits[i >> 6] |= UINT64_C(1) << (i & 63);
    }
    CnTypeId id = v->type->id;
    size_t w = cn_col_type_width(id);
    if (w) {
        void *p = cn_eng__wire_put(b, (size_t)n * w);
        if (!p) return false;
        cn_eng__wire_gather(p, v->values, w, sel, n);
        return true;
    }
    if (id == CN_COL_STRUCT) {
        for (uint32_t c = 0; c < v->n_child; c++)
            if (!cn_eng__wire_vec(b, &v->child[c], sel, n)) return false;
        return true;
    }
    /* strings, binaries, lists and maps: rebased offsets */
    uint32_t *off = cn_eng__wire_put(b, ((size_t)n + 1) * 4);
    if (!off) return false;
    uint64_t total = 0;
    off[0] = 0;
    for (uint32_t i = 0; i < n; i++) {
        total += v->offsets[sel[i] + 1] - v->offsets[sel[i]];
        if (total > UINT32_MAX) return false;
        off[i + 1] = (uint32_t)total;
    }
    if (id == CN_COL_STRING || id == CN_COL_BINARY) {
        char *p = cn_eng__wire_put(b, 8 + (size_t)total);
        if (!p) return false;
        memcpy(p, &total, 8);
        p += 8;
        for (uint32_t i = 0; i < n; i++) {
            uint32_t l;
            const char *s = cn_col_vec_str(v, sel[i], &l);
            memcpy(p, s, l);
            p += l;
        }
        return true;
    }
    /* lists and maps: the children's entries of the selected rows, in row order */
    uint32_t *csel = cn_malloc((size_t)total * sizeof *csel + 1);
    if (!csel) return false;
    uint32_t k = 0;
    for (uint32_t i = 0; i < n; i++)
        for (uint32_t j = v->offsets[sel[i]]; j < v->offsets[sel[i] + 1]; j++) csel[k++] = j;
    bool ok = true;
    for (uint32_t c = 0; c < v->n_child && ok; c++) ok = cn_eng__wire_vec(b, &v->child[c], csel, k);
    cn_free(csel);
    return ok;
}

/* n bytes in place (the reader then skips to the next multiple of 8), NULL when short. */
const void *cn_eng__wire_take(CnEngWireRd *r, size_t n) {
    size_t m = PAD8(n);
    if (r->bad || (size_t)(r->end - r->p) < m) {
        r->bad = true;
        return NULL;
    }
    const char *q = r->p;
    r->p += m;
    return q;
}

/* A read-only view of n entries of type t inside the message (children from a). */
void cn_eng__wire_view(CnEngWireRd *r, CnArena *a, const CnType *t, CnVec *v, uint32_t n) {
    memset(v, 0, sizeof *v);
    v->type = t;
    v->n = n;
    const uint32_t *hdr = cn_eng__wire_take(r, 8);
    if (!hdr) return;
    if (hdr[0]) {
        v->valid = (uint64_t *)cn_eng__wire_take(r, ((size_t)n + 63) / 64 * 8);
        for (uint32_t i = 0; v->valid && i < n; i++) v->n_null += !cn_col_vec_is_valid(v, i);
    }
    size_t w = cn_col_type_width(t->id);
    if (w) {
        v->values = (void *)cn_eng__wire_take(r, (size_t)n * w);
        return;
    }
    if (t->id == CN_COL_LIST || t->id == CN_COL_MAP || t->id == CN_COL_STRUCT) {
        v->n_child = t->n_children;
        v->child = cn_arena_calloc(a, (size_t)t->n_children * sizeof *v->child + 1);
        if (!v->child) {
            r->bad = true;
            return;
        }
    }
    if (t->id == CN_COL_STRUCT) {
        for (uint32_t c = 0; c < t->n_children && !r->bad; c++) cn_eng__wire_view(r, a, t->children[c].type, &v->child[c], n);
        return;
    }
    v->offsets = (uint32_t *)cn_eng__wire_take(r, ((size_t)n + 1) * 4);
    if (!v->offsets) return;
    for (uint32_t i = 0; i < n && !r->bad; i++) r->bad = v->offsets[i + 1] < v->offsets[i];
    if (r->bad || v->offsets[0] != 0) {
        r->bad = true;
        return;
    }
    uint32_t total = v->offsets[n];
    if (t->id == CN_COL_STRING || t->id == CN_COL_BINARY) {
        const uint64_t *len = cn_eng__wire_take(r, 8);
        if (!len || *len != total) {
            r->bad = true;
            return;
        }
        v->bytes = (uint8_t *)cn_eng__wire_take(r, total);
        return;
    }
    if (t->id == CN_COL_LIST || t->id == CN_COL_MAP) {
        for (uint32_t c = 0; c < t->n_children && !r->bad; c++) cn_eng__wire_view(r, a, t->children[c].type, &v->child[c], total);
        return;
    }
    r->bad = true;
}

/* One sender's rows as received (views into the message). */
typedef struct Run {
    uint32_t n, pos;
    const uint64_t *ord;
    const int64_t *ts;
    const int32_t *pday;
    const uint8_t *ts_ok;
    CnVec *cols;
} Run;

static void keys_reset(CnEngKeys *k) {
    cn_free(k->slots);
    cn_free(k->hash);
    cn_free(k->off);
    k->slots = NULL;
    k->hash = NULL;
    k->off = NULL;
    k->cap = k->n = k->n_cap = 0;
    cn_buf_reset(&k->bytes);
    cn_col_batch_reset(k->vals);
}

/* About the bytes enc_vec writes for n of v's entries (their share of v's payload), so
 * a message is allocated once instead of doubling its way up. */
static size_t est_vec(const CnVec *v, uint32_t n) {
    size_t m = 8 + (v->n_null ? ((size_t)n + 63) / 64 * 8 : 0), w = cn_col_type_width(v->type->id);
    if (w) return m + PAD8((size_t)n * w);
    if (v->offsets && v->n) m += PAD8(((size_t)n + 1) * 4) + 8 + PAD8((size_t)((double)v->offsets[v->n] / v->n * n));
    for (uint32_t c = 0; c < v->n_child; c++)
        m += est_vec(&v->child[c], v->type->id == CN_COL_STRUCT || !v->n ? n
                                   : (uint32_t)((double)v->offsets[v->n] / v->n * n));
    return m;
}

/* Builds the message of every destination rank. */
static int encode(CnEngGroupBy *g, CnBuf *send, uint32_t nr, CnErr *err) {
    uint32_t *cnt = cn_calloc((size_t)nr + 1, sizeof *cnt);
    uint32_t *sel = cn_malloc(((size_t)g->n_rows + 1) * sizeof *sel);
    int rc = 0;
    if (!cnt || !sel) rc = cn_err_set(err, CN_ENOMEM, "shuffle: out of memory");
    /* load.c stores each row's owner in key_id and interns nothing; should it have
     * interned keys, the owner comes from the key's hash (the same hash and seed) */
    for (uint32_t r = 0; rc == 0 && g->keys.n && r < g->n_rows; r++)
        g->key_id[r] = (uint32_t)((g->keys.hash[g->key_id[r]] >> 32) % nr);
    /* rows per destination, in load (plan) order: a counting sort by owner */
    for (uint32_t r = 0; rc == 0 && r < g->n_rows; r++) cnt[g->key_id[r] + 1]++;
    for (uint32_t d = 0; rc == 0 && d < nr; d++) cnt[d + 1] += cnt[d];
    for (uint32_t r = 0; rc == 0 && r < g->n_rows; r++) sel[cnt[g->key_id[r]]++] = r;
    for (uint32_t d = 0, first = 0; rc == 0 && d < nr; d++) {
        uint32_t n = cnt[d] - first;
        const uint32_t *s = sel + first;
        first = cnt[d];
        CnBuf *b = &send[d];
        size_t hs = 8 + (size_t)n * 16 + PAD8((size_t)n * 4) + PAD8((size_t)n), all = hs + 64;
        for (uint32_t c = 0; c < g->rows->n_cols; c++) all += est_vec(&g->rows->cols[c], n);
        cn_buf_reserve(b, all + all / 16); /* a hint: put grows the buffer if it falls short */
        char *base = cn_eng__wire_put(b, hs);
        bool ok = base != NULL;
        if (ok) {
            memset(base, 0, hs); /* the padding travels too */
            ((uint32_t *)base)[0] = n;
            ((uint32_t *)base)[1] = g->rows->n_cols;
            cn_eng__wire_gather(base + 8, g->ord, 8, s, n);
            cn_eng__wire_gather(base + 8 + (size_t)n * 8, g->ts, 8, s, n);
            cn_eng__wire_gather(base + 8 + (size_t)n * 16, g->pday, 4, s, n);
            cn_eng__wire_gather(base + 8 + (size_t)n * 16 + PAD8((size_t)n * 4), g->ts_ok, 1, s, n);
        }
        for (uint32_t c = 0; c < g->rows->n_cols && ok; c++) ok = cn_eng__wire_vec(b, &g->rows->cols[c], s, n);
        if (!ok || b->oom) rc = cn_err_set(err, CN_ENOMEM, "shuffle: out of memory (or a column over 4 GiB)");
    }
    cn_free(cnt);
    cn_free(sel);
    return rc;
}

/* Parses the messages of every sender in recv into runs (views). */
static int parse(CnEngGroupBy *g, const CnBuf *recv, CnArena *a, Run *runs, uint32_t nr, CnErr *err) {
    CnEngWireRd r = {recv->data, recv->data + recv->len, false};
    const CnSchema *rs = g->rows->schema;
    for (uint32_t i = 0; i < nr && !r.bad; i++) {
        Run *u = &runs[i];
        const uint32_t *hdr = cn_eng__wire_take(&r, 8);
        if (!hdr || hdr[1] != g->rows->n_cols) {
            r.bad = true;
            break;
        }
        u->n = hdr[0];
        u->ord = cn_eng__wire_take(&r, (size_t)u->n * 8);
        u->ts = cn_eng__wire_take(&r, (size_t)u->n * 8);
        u->pday = cn_eng__wire_take(&r, (size_t)u->n * 4);
        u->ts_ok = cn_eng__wire_take(&r, u->n);
        u->cols = cn_arena_calloc(a, (size_t)rs->n_fields * sizeof *u->cols + 1);
        if (!u->cols) return cn_err_set(err, CN_ENOMEM, "shuffle: out of memory");
        for (uint32_t c = 0; c < rs->n_fields && !r.bad; c++) cn_eng__wire_view(&r, a, rs->fields[c].type, &u->cols[c], u->n);
        for (uint32_t k = 1; k < u->n && !r.bad; k++) r.bad = u->ord[k] <= u->ord[k - 1]; /* senders keep plan order */
    }
    if (r.bad || r.p != r.end) return cn_err_set(err, CN_ECORRUPT, "shuffle: malformed rows received");
    return 0;
}

static int reserve_rows(CnEngGroupBy *g, uint64_t n, CnErr *err) {
    if (n > UINT32_MAX)
        return cn_err_set(err, CN_ELIMIT, "more than 4G source rows on one rank; use more ranks or lower --step-days");
    if (g->cap_rows >= n) return 0;
    size_t nc = (size_t)n + 1;
    uint32_t *k = cn_realloc(g->key_id, nc * sizeof *k);
    if (k) g->key_id = k;
    int64_t *t = cn_realloc(g->ts, nc * sizeof *t);
    if (t) g->ts = t;
    uint8_t *o = cn_realloc(g->ts_ok, nc);
    if (o) g->ts_ok = o;
    int32_t *d = cn_realloc(g->pday, nc * sizeof *d);
    if (d) g->pday = d;
    uint64_t *od = cn_realloc(g->ord, nc * sizeof *od);
    if (od) g->ord = od;
    if (!k || !t || !o || !d || !od) return cn_err_set(err, CN_ENOMEM, "shuffle: out of memory");
    g->cap_rows = (uint32_t)n;
    return 0;
}

/* Rebuilds g's rows from the runs in plan order: repeatedly the run with the smallest
 * next position gives every row before the next position of any other run. */
static int merge(CnEngGroupBy *g, Run *runs, uint32_t nr, CnErr *err) {
    uint64_t total = 0;
    for (uint32_t i = 0; i < nr; i++) total += runs[i].n;
    int rc = reserve_rows(g, total, err);
    if (rc) return rc;
    cn_col_batch_reset(g->rows);
    g->n_rows = 0;
    for (;;) {
        uint32_t best = UINT32_MAX;
        uint64_t second = UINT64_MAX;
        for (uint32_t i = 0; i < nr; i++) {
            const Run *u = &runs[i];
            if (u->pos == u->n) continue;
            if (best == UINT32_MAX || u->ord[u->pos] < runs[best].ord[runs[best].pos]) {
                if (best != UINT32_MAX) second = runs[best].ord[runs[best].pos];
                best = i;
            } else if (u->ord[u->pos] < second) {
                second = u->ord[u->pos];
            }
        }
        if (best == UINT32_MAX) break;
        Run *u = &runs[best];
        uint32_t s = u->pos, e = s;
        while (e < u->n && u->ord[e] < second) e++;
        uint32_t n = e - s, at = g->n_rows;
        memcpy(g->ord + at, u->ord + s, (size_t)n * 8);
        memcpy(g->ts + at, u->ts + s, (size_t)n * 8);
        memcpy(g->pday + at, u->pday + s, (size_t)n * 4);
        memcpy(g->ts_ok + at, u->ts_ok + s, n);
        for (uint32_t c = 0; c < g->rows->n_cols && rc == 0; c++)
            rc = cn_col_vec_append_range(&g->rows->cols[c], &u->cols[c], s, n);
        if (rc) return cn_err_set(err, CN_ENOMEM, "shuffle: out of memory");
        g->n_rows += n;
        u->pos = e;
    }
    return cn_col_batch_sync_rows(g->rows, err);
}

/* Row r's key id, interned when new (the generic path). */
static int intern_one(CnEngGroupBy *g, uint32_t r, CnBuf *kb, CnErr *err) {
    cn_eng__key_encode(g->rows, g->key_cols, g->n_keys, r, kb);
    if (kb->oom) return cn_err_set(err, CN_ENOMEM, "shuffle: out of memory");
    return cn_eng__key_intern(&g->keys, kb->data, kb->len, g->rows, g->key_cols, r, &g->key_id[r], err);
}

/* Key ids of the received rows, in row order (so ids are given in first-appearance
 * order, as in one process). With one fixed-width key column without nulls (ids,
 * longs: the common case), a direct table of the key's bits -> id + 1, probed a few
 * rows ahead of use, answers repeated keys in one cache line; new keys still go
 * through cn_eng__key_intern, so the key table is the same either way. */
static int intern_rows(CnEngGroupBy *g, CnBuf *kb, CnErr *err) {
    const CnVec *v = g->n_keys == 1 ? &g->rows->cols[g->key_cols[0]] : NULL;
    size_t w = v ? cn_col_type_width(v->type->id) : 0;
    int rc = 0;
    if (!w || v->n_null || g->n_rows < 1024) {
        for (uint32_t r = 0; rc == 0 && r < g->n_rows; r++) rc = intern_one(g, r, kb, err);
        return rc;
    }
    typedef struct Slot {
        uint64_t x;
        uint64_t id1; /* key id + 1, 0: free */
    } Slot;
    uint32_t cap = 4096;
    Slot *t = cn_calloc(cap, sizeof *t);
    if (!t) rc = cn_err_set(err, CN_ENOMEM, "shuffle: out of memory");
    const uint8_t *vals = v->values;
    for (uint32_t r = 0; rc == 0 && r < g->n_rows; r++) {
        if (r + 16 < g->n_rows) {
            uint64_t ahead = 0;
            memcpy(&ahead, vals + (size_t)(r + 16) * w, w);
            __builtin_prefetch(&t[cn_hash_u64(ahead) & (cap - 1)]);
        }
        uint64_t x = 0;
        memcpy(&x, vals + (size_t)r * w, w);
        uint32_t j = (uint32_t)cn_hash_u64(x) & (cap - 1);
        while (t[j].id1 && t[j].x != x) j = (j + 1) & (cap - 1);
        if (t[j].id1) {
            g->key_id[r] = (uint32_t)(t[j].id1 - 1);
            continue;
        }
        rc = intern_one(g, r, kb, err);
        t[j].x = x;
        t[j].id1 = (uint64_t)g->key_id[r] + 1;
        if (rc == 0 && (uint64_t)g->keys.n * 2 > cap) { /* at most half full */
            Slot *nt = cap < (1u << 31) ? cn_calloc((size_t)cap * 2, sizeof *nt) : NULL;
            if (!nt) {
                rc = cn_err_set(err, CN_ENOMEM, "shuffle: out of memory");
                break;
            }
            for (uint32_t i = 0; i < cap; i++) {
                if (!t[i].id1) continue;
                uint32_t k = (uint32_t)cn_hash_u64(t[i].x) & (2 * cap - 1);
                while (nt[k].id1) k = (k + 1) & (2 * cap - 1);
                nt[k] = t[i];
            }
            cn_free(t);
            t = nt;
            cap *= 2;
        }
    }
    cn_free(t);
    return rc;
}

/* g->src_days holds the partitions this rank's files had: every rank sends its list to
 * every rank and keeps the concatenation (cn_eng__open sorts it and drops repeats), so
 * each rank knows every source partition without scanning the ds of all the files. */
static int unite_days(CnEngGroupBy *g, CnErr *err) {
    const CnEngShard *sh = g->opts.shard;
    uint32_t nr = (uint32_t)sh->nranks;
    CnBuf *send = cn_calloc(nr, sizeof *send), recv = CN_BUF_INIT;
    int rc = send ? 0 : cn_err_set(err, CN_ENOMEM, "out of memory");
    for (uint32_t i = 0; rc == 0 && i < nr; i++)
        if (g->n_src_days && cn_buf_append(&send[i], g->src_days, (size_t)g->n_src_days * sizeof *g->src_days))
            rc = cn_err_set(err, CN_ENOMEM, "out of memory");
    int xrc = sh->exchange(sh->ud, send, &recv, err); /* every rank enters it */
    if (rc == 0) rc = xrc;
    if (rc == 0 && recv.len % sizeof *g->src_days) rc = cn_err_set(err, CN_ECORRUPT, "shuffle: malformed days received");
    size_t n = recv.len / sizeof *g->src_days;
    int32_t *days = rc == 0 && n ? cn_malloc(n * sizeof *days) : NULL;
    if (rc == 0 && n && !days) rc = cn_err_set(err, CN_ENOMEM, "out of memory");
    if (rc == 0 && n > UINT32_MAX) rc = cn_err_set(err, CN_ELIMIT, "too many source partitions");
    if (rc == 0) {
        if (n) memcpy(days, recv.data, n * sizeof *days);
        cn_free(g->src_days);
        g->src_days = days;
        g->n_src_days = (uint32_t)n;
        days = NULL;
    }
    cn_free(days);
    for (uint32_t i = 0; send && i < nr; i++) cn_buf_fini(&send[i]);
    cn_free(send);
    cn_buf_fini(&recv);
    return rc;
}

int cn_eng__shard_exchange(CnEngGroupBy *g, CnErr *err) {
    const CnEngShard *sh = g->opts.shard;
    uint32_t nr = (uint32_t)sh->nranks;
    int drc = unite_days(g, err);
    if (drc) return drc;
    CnBuf *send = cn_calloc(nr, sizeof *send);
    CnBuf recv = CN_BUF_INIT, kb = CN_BUF_INIT;
    Run *runs = cn_calloc((size_t)nr + 1, sizeof *runs);
    CnArena a;
    cn_arena_init(&a, 0);
    int rc = 0;
    if (!send || !runs) rc = cn_err_set(err, CN_ENOMEM, "out of memory");
    if (rc == 0) rc = encode(g, send, nr, err);
    /* every rank enters the exchange (it reports another rank's failure to this one) */
    int xrc = sh->exchange(sh->ud, send, &recv, err);
    if (rc == 0) rc = xrc;
    for (uint32_t i = 0; send && i < nr; i++) cn_buf_fini(&send[i]);
    cn_free(send);
    if (rc == 0) rc = parse(g, &recv, &a, runs, nr, err);
    keys_reset(&g->keys);
    if (rc == 0) rc = merge(g, runs, nr, err);
    if (rc == 0) rc = intern_rows(g, &kb, err);
    if (rc == 0) rc = cn_eng__mem_check(g, 0, "rows received by the shuffle", err);
    cn_arena_fini(&a);
    cn_free(runs);
    cn_buf_fini(&recv);
    cn_buf_fini(&kb);
    return rc;
}
