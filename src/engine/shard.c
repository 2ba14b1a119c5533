/* shard.c: the distributed GroupBy's row exchange (engine side of src/dist).
 * After a rank loaded its share of the source files, every row goes to the rank owning
 * its key (key hash % nranks). Rows travel as bytes: plan order (u64), storage day
 * (i32), ts present (u8), ts (i64), then each row column's entry (valid byte, then the
 * fixed-width value, u32 length + bytes, or an element count and the elements of a
 * list/map, or the fields of a struct). The receiver sorts what it got by plan order,
 * so rows, key ids and every order-sensitive aggregation (first, last, first_k, ...)
 * see the rows of their keys exactly as one process would. */
#include "engine/eng_int.h"

#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"

static void enc(CnBuf *b, const CnVec *v, uint32_t i) {
    uint8_t ok = cn_col_vec_is_valid(v, i);
    cn_buf_append(b, &ok, 1);
    if (!ok) return;
    size_t w = cn_col_type_width(v->type->id);
    if (w) {
        cn_buf_append(b, (const uint8_t *)v->values + (size_t)i * w, w);
        return;
    }
    uint32_t n;
    switch (v->type->id) {
    case CN_COL_STRING:
    case CN_COL_BINARY: {
        const char *p = cn_col_vec_str(v, i, &n);
        cn_buf_append(b, &n, sizeof n);
        cn_buf_append(b, p, n);
        break;
    }
    case CN_COL_LIST:
    case CN_COL_MAP:
        n = v->offsets[i + 1] - v->offsets[i];
        cn_buf_append(b, &n, sizeof n);
        for (uint32_t j = 0; j < n; j++)
            for (uint32_t c = 0; c < v->n_child; c++) enc(b, &v->child[c], v->offsets[i] + j);
        break;
    case CN_COL_STRUCT:
        for (uint32_t c = 0; c < v->n_child; c++) enc(b, &v->child[c], i);
        break;
    default:
        break;
    }
}

typedef struct Rd {
    const uint8_t *p, *end;
    bool bad;
} Rd;

static const uint8_t *take(Rd *r, size_t n) {
    if (r->bad || (size_t)(r->end - r->p) < n) {
        r->bad = true;
        return NULL;
    }
    const uint8_t *q = r->p;
    r->p += n;
    return q;
}

#define TAKE(r, x) do { const uint8_t *q_ = take((r), sizeof(x)); if (q_) memcpy(&(x), q_, sizeof(x)); } while (0)

static int dec(Rd *r, CnVec *v) {
    uint8_t ok = 0;
    TAKE(r, ok);
    if (r->bad) return 0;
    if (!ok) return cn_col_vec_append_null(v);
    uint32_t n = 0;
    int32_t i32 = 0;
    int64_t i64 = 0;
    float f = 0;
    double d = 0;
    int rc = 0;
    switch (v->type->id) {
    case CN_COL_BOOL: TAKE(r, ok); return r->bad ? 0 : cn_col_vec_append_bool(v, ok);
    case CN_COL_INT32:
    case CN_COL_DATE: TAKE(r, i32); return r->bad ? 0 : cn_col_vec_append_i32(v, i32);
    case CN_COL_INT64:
    case CN_COL_TIMESTAMP: TAKE(r, i64); return r->bad ? 0 : cn_col_vec_append_i64(v, i64);
    case CN_COL_FLOAT32: TAKE(r, f); return r->bad ? 0 : cn_col_vec_append_f32(v, f);
    case CN_COL_FLOAT64: TAKE(r, d); return r->bad ? 0 : cn_col_vec_append_f64(v, d);
    case CN_COL_STRING:
    case CN_COL_BINARY: {
        TAKE(r, n);
        const uint8_t *p = take(r, n);
        return r->bad ? 0 : cn_col_vec_append_str(v, p, n);
    }
    case CN_COL_LIST:
    case CN_COL_MAP:
        TAKE(r, n);
        for (uint32_t j = 0; j < n && rc == 0 && !r->bad; j++)
            for (uint32_t c = 0; c < v->n_child && rc == 0; c++) rc = dec(r, &v->child[c]);
        return rc || r->bad ? rc : cn_col_vec_close_list(v);
    case CN_COL_STRUCT:
        for (uint32_t c = 0; c < v->n_child && rc == 0; c++) rc = dec(r, &v->child[c]);
        return rc || r->bad ? rc : cn_col_vec_close_struct(v);
    default:
        r->bad = true;
        return 0;
    }
}

typedef struct RowRef {
    uint64_t ord;
    const uint8_t *p; /* start of the row's bytes after ord */
} RowRef;

static int cmp_ref(const void *a, const void *b) {
    uint64_t x = ((const RowRef *)a)->ord, y = ((const RowRef *)b)->ord;
    return (x > y) - (x < y);
}

/* Skips one encoded entry of type t (to index the received rows before sorting). */
static void skip(Rd *r, const CnType *t) {
    uint8_t ok = 0;
    TAKE(r, ok);
    if (r->bad || !ok) return;
    size_t w = cn_col_type_width(t->id);
    uint32_t n = 0;
    if (w) {
        take(r, w);
    } else if (t->id == CN_COL_STRING || t->id == CN_COL_BINARY) {
        TAKE(r, n);
        take(r, n);
    } else if (t->id == CN_COL_LIST || t->id == CN_COL_MAP) {
        TAKE(r, n);
        for (uint32_t j = 0; j < n && !r->bad; j++)
            for (uint32_t c = 0; c < t->n_children && !r->bad; c++) skip(r, t->children[c].type);
    } else if (t->id == CN_COL_STRUCT) {
        for (uint32_t c = 0; c < t->n_children && !r->bad; c++) skip(r, t->children[c].type);
    } else {
        r->bad = true;
    }
}

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

int cn_eng__shard_exchange(CnEngGroupBy *g, CnErr *err) {
    const CnEngShard *sh = g->opts.shard;
    uint32_t nr = (uint32_t)sh->nranks;
    CnBuf *send = cn_calloc(nr, sizeof *send);
    CnBuf recv = CN_BUF_INIT, kb = CN_BUF_INIT;
    RowRef *refs = NULL;
    int rc = 0;
    if (!send) return cn_err_set(err, CN_ENOMEM, "out of memory");
    const CnBatch *rows = g->rows;
    for (uint32_t r = 0; r < g->n_rows; r++) {
        CnBuf *b = &send[g->key_id[r]]; /* load.c stored the owning rank, (key hash >> 32) % nranks */
        cn_buf_append(b, &g->ord[r], 8);
        cn_buf_append(b, &g->pday[r], 4);
        cn_buf_append(b, &g->ts_ok[r], 1);
        cn_buf_append(b, &g->ts[r], 8);
        for (uint32_t c = 0; c < rows->n_cols; c++) enc(b, &rows->cols[c], r);
    }
    for (uint32_t i = 0; i < nr; i++)
        if (send[i].oom) rc = cn_err_set(err, CN_ENOMEM, "shuffle: out of memory");
    if (rc == 0) rc = sh->exchange(sh->ud, send, &recv, err);
    for (uint32_t i = 0; i < nr; i++) cn_buf_fini(&send[i]);
    cn_free(send);
    if (rc) goto done;
    /* index the received rows, then put them in plan order */
    size_t n = 0, cap = 1024;
    refs = cn_malloc(cap * sizeof *refs);
    Rd rd = {(const uint8_t *)recv.data, (const uint8_t *)recv.data + recv.len, false};
    while (rc == 0 && !rd.bad && rd.p < rd.end) {
        if (n == cap) {
            RowRef *nr2 = refs ? cn_realloc(refs, 2 * cap * sizeof *refs) : NULL;
            if (!nr2) break;
            refs = nr2;
            cap *= 2;
        }
        if (!refs) break;
        TAKE(&rd, refs[n].ord);
        refs[n].p = rd.p;
        take(&rd, 4 + 1 + 8);
        for (uint32_t c = 0; c < rows->n_cols && !rd.bad; c++) skip(&rd, rows->schema->fields[c].type);
        n++;
    }
    if (!refs || rd.p < rd.end) {
        rc = rd.bad ? cn_err_set(err, CN_ECORRUPT, "shuffle: malformed rows received")
                    : cn_err_set(err, CN_ENOMEM, "shuffle: out of memory");
        goto done;
    }
    if (n > UINT32_MAX) {
        rc = cn_err_set(err, CN_ELIMIT, "more than 4G source rows on one rank; use more ranks or lower --step-days");
        goto done;
    }
    qsort(refs, n, sizeof *refs, cmp_ref);
    /* rebuild rows and keys in that order */
    cn_col_batch_reset(g->rows);
    keys_reset(&g->keys);
    g->n_rows = 0;
    if ((uint64_t)g->cap_rows < n) {
        uint32_t nc = (uint32_t)n;
        uint32_t *k = cn_realloc(g->key_id, ((size_t)nc + 1) * sizeof *k);
        if (k) g->key_id = k;
        int64_t *t = cn_realloc(g->ts, ((size_t)nc + 1) * sizeof *t);
        if (t) g->ts = t;
        uint8_t *o = cn_realloc(g->ts_ok, (size_t)nc + 1);
        if (o) g->ts_ok = o;
        int32_t *d = cn_realloc(g->pday, ((size_t)nc + 1) * sizeof *d);
        if (d) g->pday = d;
        uint64_t *od = cn_realloc(g->ord, ((size_t)nc + 1) * sizeof *od);
        if (od) g->ord = od;
        if (!k || !t || !o || !d || !od) {
            rc = cn_err_set(err, CN_ENOMEM, "shuffle: out of memory");
            goto done;
        }
        g->cap_rows = nc;
    }
    for (size_t i = 0; i < n && rc == 0; i++) {
        Rd r = {refs[i].p, (const uint8_t *)recv.data + recv.len, false};
        uint32_t row = g->n_rows;
        g->ord[row] = refs[i].ord;
        TAKE(&r, g->pday[row]);
        TAKE(&r, g->ts_ok[row]);
        TAKE(&r, g->ts[row]);
        for (uint32_t c = 0; c < g->rows->n_cols && rc == 0; c++) rc = dec(&r, &g->rows->cols[c]);
        if (rc) rc = cn_err_set(err, CN_ENOMEM, "shuffle: out of memory");
        if (rc == 0 && r.bad) rc = cn_err_set(err, CN_ECORRUPT, "shuffle: malformed rows received");
        if (rc == 0) rc = cn_col_batch_sync_rows(g->rows, err);
        if (rc) break;
        cn_eng__key_encode(g->rows, g->key_cols, g->n_keys, row, &kb);
        rc = cn_eng__key_intern(&g->keys, kb.data, kb.len, g->rows, g->key_cols, row, &g->key_id[row], err);
        g->n_rows++;
    }
    if (rc == 0) rc = cn_eng__mem_check(g, 0, "rows received by the shuffle", err);
done:
    cn_free(refs);
    cn_buf_fini(&recv);
    cn_buf_fini(&kb);
    return rc;
}
