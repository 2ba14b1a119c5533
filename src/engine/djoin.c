/* djoin.c: the left rows of a distributed Join backfill (djoin.h says how a chunk runs).
 * VALUES MESSAGE (cn_eng__djoin_part_back, one per destination, in the layout of shard.c):
 * u32 rows, u32 columns; pos[rows] (u32: the row's position in L); day[rows] (i32);
 * hit[rows] (u8); then each value column as shard.c encodes it. */
#include "engine/eng_int.h"
#include "engine/djoin.h"

#include <string.h>

#include "base/alloc.h"
#include "base/hash.h"

#define PAD8(n) (((n) + 7) & ~(size_t)7)

struct CnEngDjoin {
    const CnEngShard *sh;
    CnBatch *all;        /* L: every left row of the chunk */
    int32_t *all_pday;
    int *hcol;           /* the home key's columns in L */
    uint32_t nh;         /* 0: no home key (rows dealt by position) */
    uint32_t *home_pos;  /* per row of L: its position among this rank's home rows, or UINT32_MAX */
    uint32_t *home_rank; /* per row of L: the rank writing it */
    uint32_t n_home;
    uint32_t *part_sel;  /* rows of L given by the last cn_eng__djoin_part_rows */
    uint32_t n_part;
};

/* The rank owning row r of b by the key columns col[0..nk): the rank the right rows with
 * that key go to (load.c: the same encoding, hash and seed). A null key gets null
 * features on any rank and is owned by the same rule. nk == 0: dealt by position. */
static uint32_t owner_of(const CnEngShard *sh, const CnBatch *b, const int *col, uint32_t nk, uint32_t r, CnBuf *kb) {
    uint64_t h = r;
    if (nk) {
        cn_eng__key_encode(b, col, nk, r, kb);
        h = cn_hash_bytes(kb->data, kb->len, 0x6b6579) >> 32;
    }
    return (uint32_t)(h % (uint64_t)sh->nranks);
}

/* The home key: the left key columns (in GroupBy key order) that most parts use, the
 * first part's among equals; parts whose columns L lacks do not count (they report it). */
static int home_key(CnArena *a, const CnJoin *j, const CnSchema *s, int **col, uint32_t *nk, CnErr *err) {
    size_t np = j->n_parts;
    int **pc = cn_arena_calloc(a, (np + 1) * sizeof *pc);
    uint32_t *pn = cn_arena_calloc(a, (np + 1) * sizeof *pn);
    if (!pc || !pn) return cn_err_set(err, CN_ENOMEM, "out of memory");
    for (size_t i = 0; i < np; i++) {
        const char **names = cn_conf_join_part_left_keys(a, &j->parts[i]);
        uint32_t n = (uint32_t)j->parts[i].group_by->key_columns.n;
        pc[i] = cn_arena_alloc(a, ((size_t)n + 1) * sizeof **pc);
        if (!names || !pc[i]) return cn_err_set(err, CN_ENOMEM, "out of memory");
        pn[i] = n;
        for (uint32_t k = 0; k < n && pn[i]; k++)
            if ((pc[i][k] = cn_col_schema_find(s, names[k])) < 0) pn[i] = 0;
    }
    uint32_t best = 0;
    size_t best_i = 0;
    for (size_t i = 0; i < np; i++) {
        uint32_t same = 0;
        for (size_t m = 0; pn[i] && m < np; m++)
            same += pn[m] == pn[i] && !memcmp(pc[m], pc[i], pn[i] * sizeof **pc);
        if (same > best) best = same, best_i = i;
    }
    *col = best ? pc[best_i] : NULL;
    *nk = best ? pn[best_i] : 0;
    return 0;
}

void cn_eng__djoin_free(CnEngDjoin *dj) {
    if (!dj) return;
    cn_col_batch_free(dj->all);
    cn_free(dj->all_pday);
    cn_free(dj->hcol);
    cn_free(dj->home_pos);
    cn_free(dj->home_rank);
    cn_free(dj->part_sel);
    cn_free(dj);
}

/* rows of L selected by sel[0..n) into a new batch and partitions array. */
static int take_rows(const CnEngDjoin *dj, const uint32_t *sel, uint32_t n, CnBatch **rows, int32_t **pday, CnErr *err) {
    int32_t *pd = cn_malloc(((size_t)n + 1) * sizeof *pd);
    CnBatch *nb = NULL;
    int rc = pd ? cn_col_batch_new(dj->all->schema, &nb, err) : cn_err_set(err, CN_ENOMEM, "out of memory");
    if (rc == 0) rc = cn_col_batch_append_rows(nb, dj->all, sel, n, err);
    if (rc) {
        cn_col_batch_free(nb);
        cn_free(pd);
        return rc;
    }
    for (uint32_t i = 0; i < n; i++) pd[i] = dj->all_pday[sel[i]];
    *rows = nb;
    *pday = pd;
    return 0;
}

int cn_eng__djoin_own(const CnEngShard *sh, const CnJoin *j, CnBatch **rows, int32_t **pday, CnEngDjoin **out,
                      CnErr *err) {
    CnArena a;
    cn_arena_init(&a, 0);
    CnBuf kb = CN_BUF_INIT;
    CnEngDjoin *dj = cn_calloc(1, sizeof *dj);
    uint32_t n = (*rows)->n_rows, *keep = cn_malloc(((size_t)n + 1) * sizeof *keep);
    int *col = NULL;
    int rc = dj && keep ? 0 : cn_err_set(err, CN_ENOMEM, "out of memory");
    if (rc == 0) {
        dj->sh = sh;
        dj->home_pos = cn_malloc(((size_t)n + 1) * sizeof *dj->home_pos);
        dj->home_rank = cn_malloc(((size_t)n + 1) * sizeof *dj->home_rank);
        if (!dj->home_pos || !dj->home_rank) rc = cn_err_set(err, CN_ENOMEM, "out of memory");
    }
    if (rc == 0) rc = home_key(&a, j, (*rows)->schema, &col, &dj->nh, err);
    if (rc == 0 && dj->nh) {
        dj->hcol = cn_malloc((size_t)dj->nh * sizeof *dj->hcol);
        if (dj->hcol) memcpy(dj->hcol, col, (size_t)dj->nh * sizeof *dj->hcol);
        else rc = cn_err_set(err, CN_ENOMEM, "out of memory");
    }
    for (uint32_t r = 0; rc == 0 && r < n; r++) {
        uint32_t o = dj->home_rank[r] = owner_of(sh, *rows, dj->hcol, dj->nh, r, &kb);
        dj->home_pos[r] = o == (uint32_t)sh->rank ? dj->n_home : UINT32_MAX;
        if (o == (uint32_t)sh->rank) keep[dj->n_home++] = r;
    }
    if (rc == 0 && kb.oom) rc = cn_err_set(err, CN_ENOMEM, "out of memory");
    if (rc == 0) {
        dj->all = *rows;
        dj->all_pday = *pday;
        *rows = NULL;
        *pday = NULL;
        rc = take_rows(dj, keep, dj->n_home, rows, pday, err);
    }
    if (rc == 0) {
        *out = dj;
        dj = NULL;
    }
    cn_eng__djoin_free(dj); /* on failure: L goes with it and *rows stays NULL */
    cn_free(keep);
    cn_buf_fini(&kb);
    cn_arena_fini(&a);
    return rc;
}

bool cn_eng__djoin_foreign(const CnEngDjoin *dj, const int *lcol, uint32_t nk) {
    return nk != dj->nh || memcmp(lcol, dj->hcol, (size_t)nk * sizeof *lcol) != 0;
}

int cn_eng__djoin_part_rows(CnEngDjoin *dj, const int *lcol, uint32_t nk, CnBatch **rows, int32_t **pday,
                            CnErr *err) {
    uint32_t n = dj->all->n_rows;
    CnBuf kb = CN_BUF_INIT;
    cn_free(dj->part_sel);
    dj->n_part = 0;
    dj->part_sel = cn_malloc(((size_t)n + 1) * sizeof *dj->part_sel);
    if (!dj->part_sel) return cn_err_set(err, CN_ENOMEM, "out of memory");
    for (uint32_t r = 0; r < n; r++)
        if (owner_of(dj->sh, dj->all, lcol, nk, r, &kb) == (uint32_t)dj->sh->rank) dj->part_sel[dj->n_part++] = r;
    bool oom = kb.oom;
    cn_buf_fini(&kb);
    if (oom) return cn_err_set(err, CN_ENOMEM, "out of memory");
    return take_rows(dj, dj->part_sel, dj->n_part, rows, pday, err);
}

/* The VALUES MESSAGE of every destination: the part's rows grouped by home rank, each
 * group in L's order. */
static int encode_values(const CnEngDjoin *dj, const CnBatch *vals, const int32_t *day, const uint8_t *hit,
                         CnBuf *send, CnErr *err) {
    uint32_t nr = (uint32_t)dj->sh->nranks, n = dj->n_part;
    uint32_t *cnt = cn_calloc((size_t)nr + 1, sizeof *cnt), *sel = cn_malloc(((size_t)n + 1) * sizeof *sel);
    int rc = cnt && sel ? 0 : cn_err_set(err, CN_ENOMEM, "out of memory");
    for (uint32_t i = 0; rc == 0 && i < n; i++) cnt[dj->home_rank[dj->part_sel[i]] + 1]++;
    for (uint32_t d = 0; rc == 0 && d < nr; d++) cnt[d + 1] += cnt[d];
    for (uint32_t i = 0; rc == 0 && i < n; i++) sel[cnt[dj->home_rank[dj->part_sel[i]]]++] = i;
    for (uint32_t d = 0, first = 0; rc == 0 && d < nr; d++) {
        uint32_t m = cnt[d] - first;
        const uint32_t *s = sel + first;
        first = cnt[d];
        CnBuf *b = &send[d];
        /* the header and the three arrays in one piece (a later put may move the buffer) */
        size_t o_d = 8 + PAD8((size_t)m * 4), o_h = o_d + PAD8((size_t)m * 4), hs = o_h + PAD8(m);
        char *base = cn_eng__wire_put(b, hs);
        bool ok = base != NULL;
        if (ok) {
            memset(base, 0, hs); /* the padding travels too */
            ((uint32_t *)base)[0] = m;
            ((uint32_t *)base)[1] = vals->n_cols;
            for (uint32_t i = 0; i < m; i++) ((uint32_t *)(base + 8))[i] = dj->part_sel[s[i]];
            cn_eng__wire_gather(base + o_d, day, 4, s, m);
            cn_eng__wire_gather(base + o_h, hit, 1, s, m);
        }
        for (uint32_t c = 0; c < vals->n_cols && ok; c++) ok = cn_eng__wire_vec(b, &vals->cols[c], s, m);
        if (!ok || b->oom) rc = cn_err_set(err, CN_ENOMEM, "join values exchange: out of memory (or a column over 4 GiB)");
    }
    cn_free(cnt);
    cn_free(sel);
    return rc;
}

/* Places the received values at their home positions: *vals, *day and *hit are replaced. */
static int place_values(CnEngDjoin *dj, const CnBuf *recv, CnBatch **vals, int32_t **day, uint8_t **hit,
                        CnErr *err) {
    const CnSchema *vs = (*vals)->schema;
    uint32_t nr = (uint32_t)dj->sh->nranks, nh = dj->n_home, got = 0;
    CnArena a;
    cn_arena_init(&a, 0);
    CnEngWireRd r = {recv->data, recv->data + recv->len, false};
    CnBatch *all = NULL, *nv = NULL;
    uint32_t *perm = cn_malloc(((size_t)nh + 1) * sizeof *perm);
    int32_t *nd = cn_malloc(((size_t)nh + 1) * sizeof *nd);
    uint8_t *nt = cn_malloc((size_t)nh + 1);
    CnVec *cols = cn_arena_calloc(&a, ((size_t)vs->n_fields + 1) * sizeof *cols);
    int rc = perm && nd && nt && cols ? 0 : cn_err_set(err, CN_ENOMEM, "out of memory");
    if (rc == 0) rc = cn_col_batch_new(vs, &all, err);
    if (rc == 0) rc = cn_col_batch_new(vs, &nv, err);
    for (uint32_t i = 0; i < nh && perm; i++) perm[i] = UINT32_MAX;
    for (uint32_t s = 0; rc == 0 && s < nr && !r.bad; s++) {
        const uint32_t *hdr = cn_eng__wire_take(&r, 8);
        if (!hdr || hdr[1] != vs->n_fields) {
            r.bad = true;
            break;
        }
        uint32_t m = hdr[0];
        const uint32_t *pos = cn_eng__wire_take(&r, (size_t)m * 4);
        const int32_t *dy = cn_eng__wire_take(&r, (size_t)m * 4);
        const uint8_t *ht = cn_eng__wire_take(&r, m);
        for (uint32_t c = 0; c < vs->n_fields && !r.bad; c++) cn_eng__wire_view(&r, &a, vs->fields[c].type, &cols[c], m);
        for (uint32_t i = 0; i < m && !r.bad; i++) {
            uint32_t g = pos[i], h = g < dj->all->n_rows ? dj->home_pos[g] : UINT32_MAX;
            if (h == UINT32_MAX || perm[h] != UINT32_MAX) { /* not a home row here, or twice */
                r.bad = true;
                break;
            }
            perm[h] = got + i;
            nd[h] = dy[i];
            nt[h] = ht[i];
        }
        for (uint32_t c = 0; c < vs->n_fields && !r.bad && rc == 0; c++)
            rc = cn_col_vec_append_range(&all->cols[c], &cols[c], 0, m);
        if (rc) rc = cn_err_set(err, CN_ENOMEM, "out of memory");
        got += m;
    }
    if (rc == 0 && (r.bad || r.p != r.end || got != nh))
        rc = cn_err_set(err, CN_ECORRUPT, "join values exchange: malformed values received (%u rows for %u left rows)",
                        got, nh);
    if (rc == 0) rc = cn_col_batch_sync_rows(all, err);
    if (rc == 0) rc = cn_col_batch_append_rows(nv, all, perm, nh, err);
    if (rc == 0) {
        cn_col_batch_free(*vals);
        cn_free(*day);
        cn_free(*hit);
        *vals = nv;
        *day = nd;
        *hit = nt;
        nv = NULL;
        nd = NULL;
        nt = NULL;
    }
    cn_col_batch_free(all);
    cn_col_batch_free(nv);
    cn_free(perm);
    cn_free(nd);
    cn_free(nt);
    cn_arena_fini(&a);
    return rc;
}

int cn_eng__djoin_part_back(CnEngDjoin *dj, CnBatch **vals, int32_t **day, uint8_t **hit, CnErr *err) {
    uint32_t nr = (uint32_t)dj->sh->nranks;
    CnBuf *send = cn_calloc(nr, sizeof *send), recv = CN_BUF_INIT;
    int rc = send ? 0 : cn_err_set(err, CN_ENOMEM, "out of memory");
    if (rc == 0 && ((*vals)->n_rows != dj->n_part || !*day || !*hit))
        rc = cn_err_set(err, CN_EINTERNAL, "join values exchange: %u values for %u rows", (*vals)->n_rows, dj->n_part);
    if (rc == 0) rc = encode_values(dj, *vals, *day, *hit, send, err);
    int xrc = dj->sh->exchange(dj->sh->ud, send, &recv, err); /* every rank enters it */
    if (rc == 0) rc = xrc;
    for (uint32_t i = 0; send && i < nr; i++) cn_buf_fini(&send[i]);
    cn_free(send);
    if (rc == 0) rc = place_values(dj, &recv, vals, day, hit, err);
    cn_buf_fini(&recv);
    return rc;
}

/* Sends the same bytes to every rank; recv gets every rank's, in rank order. */
static int to_all(const CnEngShard *sh, const void *mine, size_t len, CnBuf *recv, CnErr *err) {
    uint32_t nr = (uint32_t)sh->nranks;
    CnBuf *send = cn_calloc(nr, sizeof *send);
    int rc = send ? 0 : cn_err_set(err, CN_ENOMEM, "out of memory");
    for (uint32_t i = 0; rc == 0 && i < nr; i++)
        if (len && cn_buf_append(&send[i], mine, len)) rc = cn_err_set(err, CN_ENOMEM, "out of memory");
    int xrc = sh->exchange(sh->ud, send, recv, err); /* every rank enters it */
    if (rc == 0) rc = xrc;
    if (rc == 0 && recv->len != len * nr) rc = cn_err_set(err, CN_ECORRUPT, "shuffle: malformed flags received");
    for (uint32_t i = 0; send && i < nr; i++) cn_buf_fini(&send[i]);
    cn_free(send);
    return rc;
}

int cn_eng__shard_or(const CnEngShard *sh, uint8_t *flags, size_t n, CnErr *err) {
    CnBuf recv = CN_BUF_INIT;
    int rc = to_all(sh, flags, n, &recv, err);
    for (size_t i = 0; rc == 0 && i < recv.len; i++) flags[i % n] |= (uint8_t)recv.data[i];
    cn_buf_fini(&recv);
    return rc;
}

int cn_eng__shard_range(const CnEngShard *sh, int32_t *lo, int32_t *hi, CnErr *err) {
    int32_t mine[2] = {*lo, *hi};
    CnBuf recv = CN_BUF_INIT;
    int rc = to_all(sh, mine, sizeof mine, &recv, err);
    for (size_t i = 0; rc == 0 && i < recv.len; i += sizeof mine) {
        int32_t v[2];
        memcpy(v, recv.data + i, sizeof v);
        if (v[0] < *lo) *lo = v[0];
        if (v[1] > *hi) *hi = v[1];
    }
    cn_buf_fini(&recv);
    return rc;
}
