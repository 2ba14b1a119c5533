/* load.c: binds a GroupBy to its source tables and loads the selected rows.
 * Each source is bound twice: once against the table schema to learn which columns the
 * Query reads (plus ds), then against the scan's projected schema. A hidden select
 * "__cn_ds" carries each row's storage partition through the wheres. Keys are encoded
 * into bytes (null flag + fixed-width value or length + bytes per key column) and
 * interned in one open-addressing table; per-row work allocates nothing. */
#include "engine/eng_int.h"

#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/date.h"
#include "base/hash.h"
#include "base/log.h"
#include "base/pool.h"
#include "expr/expr.h"

#define DS_COL "__cn_ds"

/* ------------------------------------------------------------------ keys */

bool cn_eng__key_encode(const CnBatch *b, const int *cols, uint32_t n, uint32_t r, CnBuf *out) {
    bool any = false;
    cn_buf_reset(out);
    for (uint32_t k = 0; k < n; k++) {
        const CnVec *v = &b->cols[cols[k]];
        if (!cn_col_vec_is_valid(v, r)) {
            cn_buf_putc(out, 0);
            continue;
        }
        any = true;
        cn_buf_putc(out, 1);
        size_t w = cn_col_type_width(v->type->id);
        if (w) {
            cn_buf_append(out, (const uint8_t *)v->values + (size_t)r * w, w);
        } else {
            uint32_t len;
            const char *s = cn_col_vec_str(v, r, &len);
            cn_buf_append(out, &len, sizeof len);
            cn_buf_append(out, s, len);
        }
    }
    return any;
}

/* Rebuilds the slots with cap (a power of two > 2 n) entries from the per-id hashes. */
static int keys_rehash(CnEngKeys *k, uint32_t cap, CnErr *err) {
    uint32_t *slots = cn_calloc(cap, sizeof *slots);
    if (!slots) return cn_err_set(err, CN_ENOMEM, "key table: out of memory (%u slots)", cap);
    for (uint32_t id = 0; id < k->n; id++) {
        uint32_t i = (uint32_t)k->hash[id] & (cap - 1);
        while (slots[i]) i = (i + 1) & (cap - 1);
        slots[i] = id + 1;
    }
    cn_free(k->slots);
    k->slots = slots;
    k->cap = cap;
    return 0;
}

/* Appends a new key (hash h, encoded bytes p) as id k->n, with vals row r of b; the
 * caller puts it in a slot (or rebuilds the slots later). */
/* Room for n_more ids in the per-id arrays. */
static int keys_room(CnEngKeys *k, uint32_t n_more, CnErr *err) {
    if ((uint64_t)k->n + n_more > k->n_cap) {
        uint64_t nc = k->n_cap ? k->n_cap : 1024;
        while (nc < (uint64_t)k->n + n_more) nc *= 2;
        if (nc > UINT32_MAX) return cn_err_set(err, CN_ELIMIT, "key table: more than 4G keys");
        uint64_t *hh = cn_realloc(k->hash, (size_t)nc * sizeof *hh);
        if (!hh) return cn_err_set(err, CN_ENOMEM, "key table: out of memory");
        k->hash = hh;
        uint64_t *oo = cn_realloc(k->off, ((size_t)nc + 1) * sizeof *oo);
        if (!oo) return cn_err_set(err, CN_ENOMEM, "key table: out of memory");
        if (!k->off) oo[0] = 0;
        k->off = oo;
        k->n_cap = (uint32_t)nc;
    }
    return 0;
}

static int key_store(CnEngKeys *k, uint64_t h, const void *p, size_t len, const CnBatch *b, const int *cols,
                     uint32_t r, uint32_t *id, CnErr *err) {
    int rc = keys_room(k, 1, err);
    if (rc) return rc;
    if (cn_buf_append(&k->bytes, p, len)) return cn_err_set(err, CN_ENOMEM, "key table: out of memory");
    uint32_t nid = k->n++;
    k->hash[nid] = h;
    k->off[nid + 1] = k->off[nid] + len;
    for (uint32_t c = 0; c < k->vals->n_cols; c++)
        cn_col_vec_append_from(&k->vals->cols[c], &b->cols[cols[c]], r);
    rc = cn_col_batch_sync_rows(k->vals, err);
    if (rc) return rc;
    *id = nid;
    return 0;
}

int cn_eng__key_intern(CnEngKeys *k, const void *p, size_t len, const CnBatch *b, const int *cols,
                       uint32_t r, uint32_t *id, CnErr *err) {
    uint64_t h = cn_hash_bytes(p, len, 0x6b6579);
    if ((uint64_t)(k->n + 1) * 2 > k->cap) {
        int rc = keys_rehash(k, k->cap ? k->cap * 2 : 1024, err);
        if (rc) return rc;
    }
    uint32_t i = (uint32_t)h & (k->cap - 1);
    for (;;) {
        uint32_t s = k->slots[i];
        if (!s) break;
        uint32_t cand = s - 1;
        if (k->hash[cand] == h && k->off[cand + 1] - k->off[cand] == len &&
            !memcmp(k->bytes.data + k->off[cand], p, len)) {
            *id = cand;
            return 0;
        }
        i = (i + 1) & (k->cap - 1);
    }
    int rc = key_store(k, h, p, len, b, cols, r, id, err);
    if (rc == 0) k->slots[i] = *id + 1;
    return rc;
}

uint32_t cn_eng__keys_find(const CnEngKeys *k, const void *key, size_t len) {
    if (!k->cap) return UINT32_MAX;
    uint64_t h = cn_hash_bytes(key, len, 0x6b6579);
    for (uint32_t i = (uint32_t)h & (k->cap - 1); k->slots[i]; i = (i + 1) & (k->cap - 1)) {
        uint32_t c = k->slots[i] - 1;
        if (k->hash[c] == h && k->off[c + 1] - k->off[c] == len && !memcmp(k->bytes.data + k->off[c], key, len))
            return c;
    }
    return UINT32_MAX;
}

/* A side table for the common single fixed-width key column (ids, longs, ...): the
 * value's bits -> key id, both inline in one 16-byte slot, so a lookup costs one cache
 * line instead of the four (slot, hash, offsets, bytes) of cn_eng__key_intern, and the
 * slots of a batch are prefetched ahead of their probes. A miss interns the key as
 * before, so ids, key rows and the key table are exactly what the generic path makes.
 * Lives for one source's load. */
typedef struct FastSlot {
    uint64_t bits;
    uint32_t id1; /* id + 1, 0: empty */
    uint32_t pad;
} FastSlot;

typedef struct FastKeys {
    FastSlot *slots;
    uint32_t cap, n;  /* cap a power of two */
    size_t width;     /* bytes of the key column's values (1..8) */
    /* Integer keys in [0, dcap) (dense ids, the usual case) skip hashing: dmap[x] is
     * id + 1 (0: not seen). dcap grows to cover new values up to DMAP_FREE, beyond that
     * while it stays within a few times the keys seen, so sparse values do not blow it
     * up; others use slots. */
    uint32_t *dmap;
    uint64_t dcap;
    bool is_int;      /* signed integer column (INT32, INT64) */
    /* While every key was added through these maps (known == keys.n), a miss is a new
     * key: it is stored without probing the key table, whose slots are rebuilt once at
     * the end of the load (stale). */
    uint32_t known;
    bool stale;
    /* CnEngOpts.keys_unindexed: the keys stored in bulk get no hash; fast_sync hashes
     * every key before it builds slots (only when a lookup needs them) */
    bool lazy;
    uint32_t *fresh, fresh_cap; /* rows of a batch's new keys, stored after its loop */
} FastKeys;

#define DMAP_MAX (UINT64_C(1) << 26)  /* 256 MiB of map at most */
#define DMAP_FREE (UINT64_C(1) << 21) /* up to 8 MiB whatever the keys seen so far */

#define FAST_AHEAD 16 /* rows between a slot's prefetch and its probe */

static uint64_t fast_bits(const CnVec *v, size_t w, uint32_t r) {
    uint64_t x = 0;
    memcpy(&x, (const uint8_t *)v->values + (size_t)r * w, w);
    return x;
}

/* id + 1 of bits in the hash table (cap > 0), 0 when absent. */
static uint32_t fast_find(const FastKeys *f, uint64_t bits) {
    uint32_t j = (uint32_t)cn_hash_u64(bits) & (f->cap - 1);
    while (f->slots[j].id1 && f->slots[j].bits != bits) j = (j + 1) & (f->cap - 1);
    return f->slots[j].id1;
}

static int fast_put(FastKeys *f, uint64_t bits, uint32_t id, CnErr *err) {
    if ((uint64_t)(f->n + 1) * 2 > f->cap) {
        uint32_t nc = f->cap ? f->cap * 2 : 4096;
        FastSlot *ns = cn_calloc(nc, sizeof *ns);
        if (!ns) return cn_err_set(err, CN_ENOMEM, "key table: out of memory (%u slots)", nc);
        for (uint32_t i = 0; i < f->cap; i++) {
            if (!f->slots[i].id1) continue;
            uint32_t j = (uint32_t)cn_hash_u64(f->slots[i].bits) & (nc - 1);
            while (ns[j].id1) j = (j + 1) & (nc - 1);
            ns[j] = f->slots[i];
        }
        cn_free(f->slots);
        f->slots = ns;
        f->cap = nc;
    }
    uint32_t j = (uint32_t)cn_hash_u64(bits) & (f->cap - 1);
    while (f->slots[j].id1) j = (j + 1) & (f->cap - 1);
    f->slots[j].bits = bits;
    f->slots[j].id1 = id + 1;
    f->n++;
    return 0;
}

static int64_t fast_int(const CnVec *v, size_t w, uint32_t r) {
    return w == 8 ? ((const int64_t *)v->values)[r] : ((const int32_t *)v->values)[r];
}

/* Makes dmap cover x when that keeps it within a few times the keys seen; false: x
 * goes to the hash table. */
static bool dmap_cover(FastKeys *f, uint64_t x, uint32_t n_keys, CnErr *err, int *rc) {
    if (x < f->dcap) return true;
    uint64_t nc = f->dcap ? f->dcap : 4096;
    while (nc <= x) nc *= 2;
    if (nc > DMAP_MAX || (nc > DMAP_FREE && nc > 8 * ((uint64_t)n_keys + 4096))) return false;
    uint32_t *nm = cn_calloc(nc, sizeof *nm);
    if (!nm) {
        *rc = cn_err_set(err, CN_ENOMEM, "key table: out of memory (%llu direct slots)", (unsigned long long)nc);
        return false;
    }
    if (f->dcap) memcpy(nm, f->dmap, f->dcap * sizeof *nm);
    cn_free(f->dmap);
    f->dmap = nm;
    f->dcap = nc;
    /* a lookup per row at a random place: with 4 KiB pages a map of a million keys
     * (4 MiB) missed the TLB on most of them */
    cn_alloc_huge(nm, nc * sizeof *nm);
    return true;
}

/* Makes the key table's slots current after keys were stored without them. */
static int fast_sync(FastKeys *f, CnEngKeys *k, CnErr *err) {
    if (!f->stale) return 0;
    uint32_t cap = 1024;
    while ((uint64_t)(k->n + 1) * 2 > cap) cap *= 2;
    f->stale = false;
    for (uint32_t id = 0; f->lazy && id < k->n; id++)
        k->hash[id] = cn_hash_bytes(k->bytes.data + k->off[id], k->off[id + 1] - k->off[id], 0x6b6579);
    f->lazy = false;
    return keys_rehash(k, cap, err);
}

/* Key id of row r, missing from the maps (interned as the generic path would at this
 * row: ids in order of first appearance). */
static int fast_miss(FastKeys *f, CnEngKeys *k, const CnBatch *b, const int *cols, uint32_t r, CnBuf *kb,
                     uint32_t *id, CnErr *err) {
    cn_eng__key_encode(b, cols, 1, r, kb);
    if (kb->oom) return cn_err_set(err, CN_ENOMEM, "out of memory");
    if (f->known == k->n) { /* the maps know every key: this one is new */
        int rc = key_store(k, cn_hash_bytes(kb->data, kb->len, 0x6b6579), kb->data, kb->len, b, cols, r, id, err);
        if (rc == 0) f->known++, f->stale = true;
        return rc;
    }
    int rc = fast_sync(f, k, err);
    return rc ? rc : cn_eng__key_intern(k, kb->data, kb->len, b, cols, r, id, err);
}

/* Appends the keys of rows[0..n) of b as ids k->n, k->n + 1, ... exactly as key_store
 * would one at a time: each a new non-null value of the single fixed-width key column
 * (encoded as cn_eng__key_encode does: flag 1, then the value's w bytes), its key row
 * copied from b. The slots are left stale (the caller rebuilds them). */
static int keys_store_rows(CnEngKeys *k, size_t w, const CnBatch *b, const int *cols, const uint32_t *rows,
                           uint32_t n, bool lazy, CnErr *err) {
    if (!n) return 0;
    int rc = keys_room(k, n, err);
    if (rc) return rc;
    if (cn_buf_reserve(&k->bytes, (size_t)n * (w + 1))) return cn_err_set(err, CN_ENOMEM, "key table: out of memory");
    const CnVec *v = &b->cols[cols[0]];
    CnVec *kv = &k->vals->cols[0];
    if (cn_col_vec_reserve(kv, n)) return cn_err_set(err, CN_ENOMEM, "key table: out of memory");
    const uint8_t *vals = v->values;
    uint8_t *kvv = kv->values;
    for (uint32_t j = 0; j < n; j++) {
        uint32_t id = k->n + j;
        char *e = k->bytes.data + k->bytes.len;
        e[0] = 1;
        memcpy(e + 1, vals + (size_t)rows[j] * w, w);
        k->bytes.len += w + 1;
        if (!lazy) k->hash[id] = cn_hash_bytes(e, w + 1, 0x6b6579);
        k->off[id + 1] = k->off[id] + w + 1;
        memcpy(kvv + (size_t)(kv->n + j) * w, vals + (size_t)rows[j] * w, w);
    }
    if (kv->valid) /* the key values are all present: their bits set as appends would */
        for (uint32_t j = 0; j < n; j++) kv->valid[(kv->n + j) >> 6] |= UINT64_C(1) << ((kv->n + j) & 63);
    kv->n += n;
    k->n += n;
    return cn_col_batch_sync_rows(k->vals, err);
}

/* Key ids of rows 0..n-1 of b (UINT32_MAX: null key) into ids, in row order (ids are
 * handed out in order of first appearance). */
static int fast_ids(FastKeys *f, CnEngKeys *k, const CnBatch *b, const int *cols, uint32_t *ids, CnBuf *kb,
                    CnErr *err) {
    const CnVec *v = &b->cols[cols[0]];
    uint32_t n = b->n_rows;
    int rc = 0;
    /* While the maps know every key, a miss is a new key: it takes the next id at once
     * and its row is stored with the batch's other new keys after the loop, in one pass
     * (a key at a time costs an encode, a hash and a batch append each). */
    bool bulk = f->known == k->n;
    uint32_t n_fresh = 0, n0 = k->n;
    if (bulk && n > f->fresh_cap) {
        cn_free(f->fresh);
        f->fresh = cn_malloc((size_t)n * sizeof *f->fresh);
        f->fresh_cap = f->fresh ? n : 0;
        if (!f->fresh) return cn_err_set(err, CN_ENOMEM, "key table: out of memory");
    }
#define FAST_MISS(r, id)                                                    \
    do {                                                                    \
        if (bulk) {                                                         \
            f->fresh[n_fresh] = (r);                                        \
            (id) = n0 + n_fresh++;                                          \
        } else if ((rc = fast_miss(f, k, b, cols, (r), kb, &(id), err))) {  \
            return rc;                                                      \
        }                                                                   \
    } while (0)
    for (uint32_t r = 0; r < n; r++) {
        if (!cn_col_vec_is_valid(v, r)) {
            ids[r] = UINT32_MAX;
            continue;
        }
        uint32_t id;
        if (f->is_int) {
            if (r + FAST_AHEAD < n) { /* the map is random access too: fetch ahead */
                int64_t y = fast_int(v, f->width, r + FAST_AHEAD);
                if (y >= 0 && (uint64_t)y < f->dcap) __builtin_prefetch(&f->dmap[y]);
            }
            int64_t x = fast_int(v, f->width, r);
            if (x >= 0 && dmap_cover(f, (uint64_t)x, k->n + n_fresh, err, &rc)) {
                /* a value the map did not cover yet may sit in the hash table */
                if (!f->dmap[x] && f->cap) f->dmap[x] = fast_find(f, (uint64_t)x);
                if (!f->dmap[x]) {
                    FAST_MISS(r, id);
                    f->dmap[x] = id + 1;
                }
                ids[r] = f->dmap[x] - 1;
                continue;
            }
            if (rc) return rc;
        }
        if (f->cap && r + FAST_AHEAD < n) {
            uint32_t j = (uint32_t)cn_hash_u64(fast_bits(v, f->width, r + FAST_AHEAD)) & (f->cap - 1);
            __builtin_prefetch(&f->slots[j]);
        }
        uint64_t bits = fast_bits(v, f->width, r);
        uint32_t id1 = f->cap ? fast_find(f, bits) : 0;
        if (!id1) {
            FAST_MISS(r, id);
            if ((rc = fast_put(f, bits, id, err))) return rc;
            id1 = id + 1;
        }
        ids[r] = id1 - 1;
    }
#undef FAST_MISS
    if (!n_fresh) return 0;
    rc = keys_store_rows(k, f->width, b, cols, f->fresh, n_fresh, f->lazy, err);
    if (rc == 0) f->known += n_fresh, f->stale = true;
    return rc;
}

/* ------------------------------------------------------------------ memory */

static uint64_t vec_mem(const CnVec *v) {
    uint64_t m = v->b_values.cap + v->b_offsets.cap + v->b_bytes.cap + v->b_valid.cap;
    for (uint32_t i = 0; i < v->n_child; i++) m += vec_mem(&v->child[i]);
    return m;
}

static uint64_t batch_mem(const CnBatch *b) {
    uint64_t m = 0;
    for (uint32_t i = 0; b && i < b->n_cols; i++) m += vec_mem(&b->cols[i]);
    return m;
}

int cn_eng__mem_check(CnEngGroupBy *g, uint64_t extra, const char *what, CnErr *err) {
    g->mem_base = batch_mem(g->rows) + batch_mem(g->keys.vals) + g->keys.bytes.cap +
                  (uint64_t)g->cap_rows * (sizeof *g->key_id + sizeof *g->ts + 1 + sizeof *g->pday) +
                  (uint64_t)g->keys.cap * 4 + (uint64_t)g->keys.n_cap * 16;
    uint64_t used = g->mem_base + extra;
    if (g->opts.max_memory && used > g->opts.max_memory)
        return cn_err_set(err, CN_ELIMIT,
                          "%s: needs about %llu MiB, more than --max-memory %llu MiB allows; raise "
                          "--max-memory (or lower --step-days to compute fewer days at once)",
                          what, (unsigned long long)(used >> 20),
                          (unsigned long long)(g->opts.max_memory >> 20));
    return 0;
}

/* ------------------------------------------------------------------ sources */

static int grow_rows(CnEngGroupBy *g, uint32_t n_more, CnErr *err) {
    if ((uint64_t)g->n_rows + n_more <= g->cap_rows) return 0;
    uint64_t nc = g->cap_rows ? g->cap_rows : 4096;
    while (nc < (uint64_t)g->n_rows + n_more) nc *= 2;
    if (nc > UINT32_MAX) return cn_err_set(err, CN_ELIMIT, "more than 4G source rows in one run; lower --step-days");
    uint32_t *k = cn_realloc(g->key_id, nc * sizeof *k);
    if (k) g->key_id = k;
    int64_t *t = cn_realloc(g->ts, nc * sizeof *t);
    if (t) g->ts = t;
    uint8_t *o = cn_realloc(g->ts_ok, nc);
    if (o) g->ts_ok = o;
    int32_t *d = cn_realloc(g->pday, nc * sizeof *d);
    if (d) g->pday = d;
    if (!k || !t || !o || !d) return cn_err_set(err, CN_ENOMEM, "source rows: out of memory");
    /* huge pages: the prefault (or the loader) faults a row array in 2 MiB at a time */
    cn_alloc_huge(k, nc * sizeof *k), cn_alloc_huge(t, nc * sizeof *t);
    cn_alloc_huge(o, nc), cn_alloc_huge(d, nc * sizeof *d);
    if (g->opts.shard) { /* distributed hook: plan order of each row (shard.c) */
        uint64_t *od = cn_realloc(g->ord, nc * sizeof *od);
        if (!od) return cn_err_set(err, CN_ENOMEM, "source rows: out of memory");
        g->ord = od;
    }
    g->cap_rows = (uint32_t)nc;
    return 0;
}

static bool is_partition_col(const char *name) { return !strcmp(name, CN_ICE_DS); }

/* Whether the loaded rows hold the values of column c of the row schema. Event rows are
 * read only through the bases' inputs and buckets (keys live in g->keys, times in g->ts),
 * so their other fixed-width columns (the keys, ts) are loaded as nulls, their values
 * neither copied nor touched. Entity rows are the output or carry the mutation columns,
 * and a distributed run sends every column to other ranks: those keep them all. */
static bool row_col_kept(const CnEngGroupBy *g, uint32_t c) {
    if (g->entities || g->opts.shard || !cn_col_type_width(g->rows->cols[c].type->id)) return true;
    for (uint32_t b = 0; b < g->n_bases; b++)
        if (g->bases[b].i_input == (int)c || g->bases[b].i_bucket == (int)c) return true;
    return false;
}

/* Appends n nulls to the fixed-width vector v: validity bits past v->n are zero, so only
 * the counts move. Out of memory leaves v->oom set, as the appenders do. */
static void append_nulls(CnVec *v, uint32_t n) {
    if (cn_col_vec_reserve(v, n) || cn_col_vec_make_valid(v)) return;
    v->n += n;
    v->n_null += n;
}

typedef struct SrcBind {
    const char **names, **exprs;
    uint32_t n;
    const char **wheres;
    uint32_t n_wheres;
    const char *time_column;
} SrcBind;

/* The select list of a source: its selects (or every non-partition column) + __cn_ds. */
static int make_bind(CnArena *a, const CnSource *s, const CnSchema *tschema, SrcBind *b, CnErr *err) {
    const CnQuery *q = &s->query;
    uint32_t n = q->has_selects ? (uint32_t)q->selects.n : tschema->n_fields;
    b->names = cn_arena_alloc(a, (n + 1) * sizeof *b->names);
    b->exprs = cn_arena_alloc(a, (n + 1) * sizeof *b->exprs);
    if (!b->names || !b->exprs) return cn_err_set(err, CN_ENOMEM, "out of memory");
    b->n = 0;
    if (q->has_selects) {
        for (size_t i = 0; i < q->selects.n; i++) {
            b->names[b->n] = q->selects.keys[i];
            b->exprs[b->n++] = q->selects.vals[i];
        }
    } else {
        for (uint32_t i = 0; i < tschema->n_fields; i++) {
            const char *c = tschema->fields[i].name;
            if (is_partition_col(c) || (q->time_column && !strcmp(c, "ts"))) continue;
            b->names[b->n] = c;
            b->exprs[b->n++] = cn_arena_printf(a, "`%s`", c);
        }
    }
    b->names[b->n] = DS_COL;
    b->exprs[b->n++] = "`" CN_ICE_DS "`";
    b->wheres = q->wheres.items;
    b->n_wheres = (uint32_t)q->wheres.n;
    b->time_column = q->time_column;
    return 0;
}

static int bind(const CnSchema *schema, const SrcBind *b, CnExprQuery **q, CnErr *err) {
    CnExprQuerySpec spec = {b->names, b->exprs, b->n, b->wheres, b->n_wheres, b->time_column};
    return cn_expr_query_bind(schema, &spec, q, err);
}

int cn_eng__bare_col(const CnSchema *schema, const char *text) {
    char name[256];
    size_t n = strlen(text);
    if (n >= 2 && text[0] == '`' && text[n - 1] == '`') {
        if (n - 2 >= sizeof name || memchr(text + 1, '`', n - 2)) return -1;
        memcpy(name, text + 1, n - 2);
        name[n - 2] = 0;
    } else {
        if (n >= sizeof name || !cn_conf_is_identifier(text)) return -1;
        if (!strcasecmp(text, "null") || !strcasecmp(text, "true") || !strcasecmp(text, "false")) return -1;
        memcpy(name, text, n + 1);
    }
    return cn_col_schema_find(schema, name);
}

/* When a source's Query only picks columns (no wheres; every select and the time column
 * a column of the scan, of the same type, a time column already long milliseconds), the
 * scan column of each output column into from[] (out columns of q) and true: the
 * loader then copies the columns itself instead of evaluating each as an expression. */
static bool plain_projection(const CnSchema *scan, const SrcBind *b, const CnExprQuery *q, int *from) {
    const CnSchema *os = cn_expr_query_schema(q);
    if (b->n_wheres || os->n_fields != b->n + (b->time_column ? 1u : 0u)) return false;
    for (uint32_t i = 0; i < os->n_fields; i++) {
        int c = cn_eng__bare_col(scan, i < b->n ? b->exprs[i] : b->time_column);
        if (c < 0 || !cn_col_type_equal(scan->fields[c].type, os->fields[i].type)) return false;
        if (i == b->n && scan->fields[c].type->id != CN_COL_INT64) return false;
        from[i] = c;
    }
    return true;
}

/* Runs a source's Query on a scanned batch into out (reset): a plain projection
 * (from != NULL, no selection on in) column by column, anything else through q.
 * A scan's batch is only lent until its next batch, which its producer (reader or scan)
 * rebuilds from reset vectors: so a flat column picked once trades its storage with
 * out's emptied vector instead of being copied (child vectors live in their own batch's
 * arena, so nested columns, and columns picked twice, are copied). Each buffer keeps
 * one owner; each vector keeps its own batch's type. */
static int query_run(const CnExprQuery *q, const int *from, const CnBatch *in_lent, CnBatch *out, CnErr *err) {
    if (!from || in_lent->sel) return cn_expr_query_run(q, in_lent, out, err);
    CnBatch *in = (CnBatch *)in_lent;
    for (uint32_t i = 0; i < out->n_cols; i++) {
        CnVec *src = &in->cols[from[i]], *dst = &out->cols[i];
        uint32_t picks = 0;
        for (uint32_t k = 0; k < out->n_cols; k++) picks += from[k] == from[i];
        if (picks == 1 && !src->n_child && !dst->n_child && dst->n == 0 && src->n == in->n_rows) {
            CnVec was = *dst;
            const CnType *src_type = src->type;
            *dst = *src;
            dst->type = was.type;
            *src = was;
            src->type = src_type;
        } else if (cn_col_vec_append_range(dst, src, 0, in->n_rows) < 0) {
            return cn_err_set(err, CN_ENOMEM, "query: out of memory (%u rows)", in->n_rows);
        }
    }
    return cn_col_batch_sync_rows(out, err);
}

/* Parses "YYYY-MM-DD" (days) or returns fallback. */
static int32_t ds_days(const char *ds, int32_t fallback) {
    int64_t d;
    if (!ds || cn_ds_parse(ds, &d)) return fallback;
    return (int32_t)d;
}

static int add_src_day(CnEngGroupBy *g, int32_t d, uint32_t *cap) {
    if (g->n_src_days && g->src_days[g->n_src_days - 1] == d) return 0;
    if (g->n_src_days == *cap) {
        uint32_t nc = *cap ? *cap * 2 : 64;
        int32_t *p = cn_realloc(g->src_days, nc * sizeof *p);
        if (!p) return CN_ENOMEM;
        g->src_days = p;
        *cap = nc;
    }
    g->src_days[g->n_src_days++] = d;
    return 0;
}

/* Whether ds strings a and b of len bytes are equal: once per row, where a call to memcmp
 * costs more than the compare (a ds is 10 bytes: one 8-byte and one 2-byte load). */
static inline bool ds_same(const char *a, const char *b, uint32_t len) {
    if (len != 10) return memcmp(a, b, len) == 0;
    uint64_t x, y;
    uint16_t u, v;
    memcpy(&x, a, 8), memcpy(&y, b, 8), memcpy(&u, a + 8, 2), memcpy(&v, b + 8, 2);
    return x == y && u == v;
}

/* The day of a ds column's values, parsed only when a value differs from the one before:
 * a batch holds one partition or a few. Values are cut to their first 10 bytes. */
typedef struct DsMemo {
    char ds[10];
    uint32_t len; /* UINT32_MAX: none seen yet */
    int32_t day;  /* of ds; INT32_MIN when it is not a date */
} DsMemo;
#define DS_MEMO_INIT ((DsMemo){.len = UINT32_MAX, .day = INT32_MIN})

/* Whether the value at p differs from the last one seen; m->day is its day either way. */
static inline bool ds_memo_see(DsMemo *m, const char *p, uint32_t len) {
    if (len > 10) len = 10;
    if (len == m->len && ds_same(p, m->ds, len)) return false;
    char b[11];
    int64_t d;
    m->day = cn_ds_parse_n(p, len, b, &d) ? INT32_MIN : (int32_t)d;
    memcpy(m->ds, p, len);
    m->len = len;
    return true;
}

static int cmp_i32(const void *a, const void *b);

/* Distinct partitions of a ds column, gathered batch by batch into acc->src_days. */
typedef struct DayScan {
    DsMemo memo;
    int32_t last;
    uint32_t cap;     /* of acc->src_days */
} DayScan;
#define DAY_SCAN_INIT(c) ((DayScan){.memo = DS_MEMO_INIT, .last = INT32_MIN, .cap = (c)})

static int days_add_batch(CnEngGroupBy *acc, DayScan *ds, const CnVec *dv, uint32_t n, CnErr *err) {
    for (uint32_t r = 0; r < n; r++) {
        uint32_t len;
        const char *p = cn_col_vec_str(dv, r, &len);
        if (!ds_memo_see(&ds->memo, p, len)) continue;
        int32_t d = ds->memo.day;
        if (d == ds->last || d == INT32_MIN) continue;
        ds->last = d;
        if (add_src_day(acc, d, &ds->cap)) return cn_err_set(err, CN_ENOMEM, "out of memory");
    }
    return 0;
}

/* Sorts acc->src_days and drops repeats. */
static void days_finish(CnEngGroupBy *acc) {
    if (acc->n_src_days < 2) return;
    qsort(acc->src_days, acc->n_src_days, sizeof *acc->src_days, cmp_i32);
    uint32_t k = 0;
    for (uint32_t i = 0; i < acc->n_src_days; i++)
        if (!k || acc->src_days[k - 1] != acc->src_days[i]) acc->src_days[k++] = acc->src_days[i];
    acc->n_src_days = k;
}

/* A scan's claim granting only the files without a ds partition value. */
typedef struct NullDs {
    const CnIceScan *scan;
} NullDs;

static bool null_ds_file(void *ud, uint32_t file, int64_t records) {
    const NullDs *nd = ud;
    int64_t n;
    (void)records;
    return !cn_ice_scan_file_ds(nd->scan, file, &n);
}

int cn_eng__source_days(CnIceCatalog *cat, const CnGroupBy *gb, int32_t lo, int32_t hi, int32_t **days,
                        uint32_t *n_days, CnErr *err) {
    CnEngGroupBy tmp;
    memset(&tmp, 0, sizeof tmp);
    uint32_t cap = 0;
    int rc = 0;
    CnArena a;
    cn_arena_init(&a, 0);
    for (size_t i = 0; i < gb->n_sources && rc == 0; i++) {
        const CnSource *s = &gb->sources[i];
        const char *tname = cn_conf_source_table(&a, s);
        char ns[129], name[129];
        CnIceTable *t = NULL;
        CnIceScan *scan = NULL;
        if (!tname) continue;
        int32_t l = lo, h = hi;
        int32_t qlo = ds_days(s->query.start_partition, INT32_MIN), qhi = ds_days(s->query.end_partition, INT32_MAX);
        if (qlo > l) l = qlo;
        if (qhi < h) h = qhi;
        if (l > h) continue;
        rc = cn_ice_name_parse(tname, ns, name, err);
        if (rc == 0) rc = cn_ice_table_load(cat, ns, name, &t, err);
        char lo_ds[11], hi_ds[11];
        const char *col = CN_ICE_DS;
        CnIceScanOpts so = {0};
        if (l != INT32_MIN) cn_ds_format(l, lo_ds), so.ds_lo = lo_ds;
        if (h != INT32_MAX) cn_ds_format(h, hi_ds), so.ds_hi = hi_ds;
        so.columns = &col;
        so.n_columns = 1;
        /* a file with a partition value holds that day (when it holds rows): only the
         * files without one have their ds column read */
        NullDs nd = {0};
        so.claim = null_ds_file;
        so.claim_ud = &nd;
        if (rc == 0) rc = cn_ice_scan_open(cat, t, &so, &scan, err);
        DayScan dsc = DAY_SCAN_INIT(cap);
        nd.scan = scan;
        for (uint32_t f = 0; rc == 0 && f < cn_ice_scan_n_files(scan); f++) {
            int64_t records;
            const char *ds = cn_ice_scan_file_ds(scan, f, &records);
            int32_t d = ds && records > 0 ? ds_days(ds, INT32_MIN) : INT32_MIN;
            if (d == INT32_MIN || d == dsc.last) continue;
            dsc.last = d;
            if (add_src_day(&tmp, d, &dsc.cap)) rc = cn_err_set(err, CN_ENOMEM, "out of memory");
        }
        while (rc == 0) {
            const CnBatch *b = NULL;
            rc = cn_ice_scan_next(scan, &b, err);
            if (rc || !b) break;
            rc = days_add_batch(&tmp, &dsc, &b->cols[0], b->n_rows, err);
        }
        cap = dsc.cap;
        cn_ice_scan_close(scan);
        cn_ice_table_free(t);
        if (rc) rc = cn_err_ctx(err, rc, "sources[%zu]", i);
    }
    cn_arena_fini(&a);
    if (rc == 0) days_finish(&tmp);
    if (rc) {
        cn_free(tmp.src_days);
        return rc;
    }
    *days = tmp.src_days;
    *n_days = tmp.n_src_days;
    return 0;
}

static int cmp_i32(const void *a, const void *b) {
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

static int resolve(CnEngGroupBy *g, CnErr *err);

/* Loads one source. days (NULL: not wanted) gathers the partitions its scan reads into
 * g->src_days. */
/* What load_source carries from one selected batch to the next. */
typedef struct Take {
    FastKeys *fast;
    CnBuf kb;
    uint32_t *keep, keep_cap;
    int i_ds, i_ts;       /* columns of the selected batch */
    bool ts_from_ds;      /* SNAPSHOT events without timeColumn */
    /* storage day of every row of the batch being taken, when its scan's partition says
     * it (the ds column holds that value in each row); INT32_MIN: each row's ds parsed */
    int32_t batch_day;
    uint32_t i_src;
    uint32_t cur_file;    /* distributed hook: file of the current batch */
    uint64_t file_row;    /* distributed hook: rows of the current file before this batch */
} Take;

static void take_fini(Take *tk) {
    cn_buf_fini(&tk->kb);
    cn_free(tk->keep);
}

/* Grows buf (of *cap entries) to n entries at least. */
static int take_room(uint32_t **buf, uint32_t *cap, uint32_t n, CnErr *err) {
    if (n <= *cap) return 0;
    cn_free(*buf);
    *buf = cn_malloc(((size_t)n + 1) * sizeof **buf);
    *cap = *buf ? n : 0;
    return *buf ? 0 : cn_err_set(err, CN_ENOMEM, "out of memory");
}

/* Row of out of the k-th kept row: keep[k], or k when keep is NULL (every row kept). */
static inline uint32_t kept_row(const uint32_t *keep, uint32_t k) { return keep ? keep[k] : k; }

/* Appends the rows of a selected batch (its key ids, ts and storage days too), in order;
 * rows without a key are dropped (Query step 4). */
static int take_rows(CnEngGroupBy *g, Take *tk, const CnBatch *out, CnErr *err) {
    int rc = grow_rows(g, out->n_rows, err);
    if (rc == 0) rc = take_room(&tk->keep, &tk->keep_cap, out->n_rows, err);
    if (rc) return rc;
    uint32_t *keep = tk->keep, n_keep = 0;
    FastKeys *fast = tk->fast;
    uint32_t base = g->n_rows, *kid = g->key_id + base;
    if (fast->width) { /* ids straight into place, then the null keys squeezed out */
        rc = out->n_rows ? fast_ids(fast, &g->keys, out, g->key_cols, kid, &tk->kb, err) : 0;
        if (rc) return rc;
        if (!out->cols[g->key_cols[0]].valid) n_keep = out->n_rows; /* no null key: no scan for one */
        while (n_keep < out->n_rows && kid[n_keep] != UINT32_MAX) n_keep++;
        if (n_keep == out->n_rows) keep = NULL; /* no null key: every row, no row list */
        for (uint32_t r = 0; keep && r < n_keep; r++) keep[r] = r;
        for (uint32_t r = n_keep + 1; keep && r < out->n_rows; r++) {
            if (kid[r] == UINT32_MAX) continue; /* Query step 4: a null key drops the row */
            kid[n_keep] = kid[r];
            keep[n_keep++] = r;
        }
    }
    /* key ids of the kept rows, through the key table */
    for (uint32_t r = 0; !fast->width && r < out->n_rows; r++) {
        uint32_t id;
        /* Query step 4: a row needs at least one non-null key */
        if (!cn_eng__key_encode(out, g->key_cols, g->n_keys, r, &tk->kb)) continue;
        if (tk->kb.oom) return cn_err_set(err, CN_ENOMEM, "out of memory");
        if (g->ord) /* distributed hook: the owning rank's number; it interns the key (shard.c) */
            id = (uint32_t)((cn_hash_bytes(tk->kb.data, tk->kb.len, 0x6b6579) >> 32) %
                            (uint64_t)g->opts.shard->nranks);
        else
            rc = cn_eng__key_intern(&g->keys, tk->kb.data, tk->kb.len, out, g->key_cols, r, &id, err);
        if (rc) return rc;
        kid[n_keep] = id;
        keep[n_keep++] = r;
    }
    /* storage days: the scan's partition of the batch when it gave one, else each row's ds
     * (rows of a batch share their partition, so it is parsed once per change) */
    if (tk->batch_day != INT32_MIN) {
        for (uint32_t k = 0; k < n_keep; k++) g->pday[base + k] = tk->batch_day;
    } else {
        const CnVec *dv = &out->cols[tk->i_ds];
        DsMemo m = DS_MEMO_INIT;
        for (uint32_t k = 0; k < n_keep; k++) {
            uint32_t len;
            const char *p = cn_col_vec_str(dv, kept_row(keep, k), &len);
            (void)ds_memo_see(&m, p, len);
            g->pday[base + k] = m.day;
        }
    }
    if (g->ord)
        for (uint32_t k = 0; k < n_keep; k++)
            g->ord[base + k] = ((uint64_t)tk->i_src << 56) | ((uint64_t)tk->cur_file << 32) | (tk->file_row + kept_row(keep, k));
    /* event times: the ts column when it holds 8-byte values (a null ts is not ok) */
    const CnVec *tv = tk->i_ts >= 0 ? &out->cols[tk->i_ts] : NULL;
    if (tv && cn_col_type_width(tv->type->id) != 8) tv = NULL;
    int64_t *ts = g->ts + base;
    uint8_t *ts_ok = g->ts_ok + base;
    if (n_keep == 0) {
        /* an empty batch (or every key null): its vectors may have no memory at all */
    } else if (tk->ts_from_ds) {
        for (uint32_t k = 0; k < n_keep; k++) ts[k] = ((int64_t)g->pday[base + k] + 1) * CN_MS_PER_DAY - 1;
        memset(ts_ok, 1, n_keep);
    } else if (!tv) {
        memset(ts, 0, (size_t)n_keep * sizeof *ts);
        memset(ts_ok, 0, n_keep);
    } else if (n_keep == out->n_rows && !tv->valid) { /* every row, no null: one copy */
        memcpy(ts, tv->values, (size_t)n_keep * sizeof *ts);
        memset(ts_ok, 1, n_keep);
    } else {
        const int64_t *tx = tv->values;
        for (uint32_t k = 0; k < n_keep; k++) {
            uint32_t r = kept_row(keep, k);
            bool ok = cn_col_vec_is_valid(tv, r);
            ts[k] = ok ? tx[r] : 0;
            ts_ok[k] = ok;
        }
    }
    /* rows batch lacks __cn_ds: append the columns one by one */
    for (uint32_t c = 0, oc = 0; c < out->n_cols && rc == 0; c++) {
        if ((int)c == tk->i_ds) continue;
        if (!row_col_kept(g, oc))
            append_nulls(&g->rows->cols[oc], n_keep);
        else if (n_keep == out->n_rows) /* every row kept: one bulk copy */
            rc = cn_col_vec_append_range(&g->rows->cols[oc], &out->cols[c], 0, n_keep);
        else
            for (uint32_t k = 0; k < n_keep; k++)
                cn_col_vec_append_from(&g->rows->cols[oc], &out->cols[c], kept_row(keep, k));
        oc++;
    }
    if (rc == 0) rc = cn_col_batch_sync_rows(g->rows, err);
    g->n_rows += n_keep;
    tk->file_row += out->n_rows;
    return rc ? rc : cn_eng__mem_check(g, 0, "loading the sources", err);
}

/* ------------------------------------------------------------------ parallel decode */

/* With several threads a source's files are decoded and selected on reader threads,
 * reader t taking the files i of the scan plan with i % n == t (its own scan, shard
 * t of n), while this thread takes the selected batches in plan order, file by file,
 * exactly as one scan would give them: key ids, rows and sums come out the same whatever
 * the thread count. Each reader hands over batches through a ring of READ_RING batches,
 * so memory stays bounded when this thread falls behind. Only for local warehouses (an
 * object store handle serves one thread) and plain loads (no tile skip, no shard). */
#define READ_RING 2u

typedef struct Reader {
    CnIceScan *scan;
    CnExprQuery *q;
    int *from;                 /* plain projection's scan columns (query_run), or NULL */
    CnBatch *ring[READ_RING];
    uint32_t file[READ_RING];  /* plan index of each batch's file */
    uint32_t rg[READ_RING];    /* and its row group there */
    uint32_t n_in[READ_RING];  /* rows scanned for it */
    int32_t day[READ_RING];    /* its storage partition, every row's ds (INT32_MIN: none) */
    uint32_t made, taken;      /* batches put in the ring / taken out, under mu */
    bool done;                 /* no more batches (rc says why), under mu */
    int rc;
    CnErr err;
} Reader;

typedef struct Readers {
    Reader *r;
    uint32_t n;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool stop;                 /* the taker gave up */
} Readers;

static void reader_main(void *ud, uint32_t t) {
    Readers *rs = ud;
    Reader *rd = &rs->r[t];
    int rc = 0;
    for (;;) {
        const CnBatch *in = NULL;
        rc = cn_ice_scan_next(rd->scan, &in, &rd->err);
        if (rc || !in) break;
        pthread_mutex_lock(&rs->mu);
        while (!rs->stop && rd->made - rd->taken == READ_RING) pthread_cond_wait(&rs->cv, &rs->mu);
        bool stop = rs->stop;
        pthread_mutex_unlock(&rs->mu);
        if (stop) break;
        uint32_t s = rd->made % READ_RING;
        cn_col_batch_reset(rd->ring[s]);
        rc = query_run(rd->q, rd->from, in, rd->ring[s], &rd->err);
        if (rc) break;
        const char *ds = cn_ice_scan_batch_ds(rd->scan);
        rd->file[s] = cn_ice_scan_batch_file(rd->scan);
        rd->rg[s] = cn_ice_scan_batch_row_group(rd->scan);
        rd->n_in[s] = in->n_rows;
        rd->day[s] = ds && in->n_rows ? ds_days(ds, INT32_MIN) : INT32_MIN;
        pthread_mutex_lock(&rs->mu);
        rd->made++;
        pthread_cond_broadcast(&rs->cv);
        pthread_mutex_unlock(&rs->mu);
    }
    pthread_mutex_lock(&rs->mu);
    rd->rc = rc;
    rd->done = true;
    pthread_cond_broadcast(&rs->cv);
    pthread_mutex_unlock(&rs->mu);
}

/* The next batch of file f from rd: its ring slot, or -1 when rd has no more batches of f
 * (*rc set when rd failed). */
static int reader_next(Readers *rs, Reader *rd, uint32_t f, int *rc) {
    pthread_mutex_lock(&rs->mu);
    while (rd->made == rd->taken && !rd->done) pthread_cond_wait(&rs->cv, &rs->mu);
    bool have = rd->made != rd->taken;
    pthread_mutex_unlock(&rs->mu);
    if (!have) {
        *rc = rd->rc;
        return -1;
    }
    uint32_t s = rd->taken % READ_RING;
    return rd->file[s] == f ? (int)s : -1;
}

/* Readers splitting each file's row groups: the slot of the batch that comes first in
 * the unsharded scan (by file, then row group) among every reader's next one, *out its
 * reader; -1 at the end or when a reader failed (*rc, *out that reader). */
static int reader_first(Readers *rs, Reader **out, int *rc) {
    int best = -1;
    uint64_t first = UINT64_MAX;
    pthread_mutex_lock(&rs->mu);
    for (uint32_t i = 0; i < rs->n && !*rc; i++) {
        Reader *rd = &rs->r[i];
        while (rd->made == rd->taken && !rd->done) pthread_cond_wait(&rs->cv, &rs->mu);
        uint32_t s = rd->taken % READ_RING;
        uint64_t at = (uint64_t)rd->file[s] << 32 | rd->rg[s];
        if (rd->made == rd->taken) {
            if (rd->rc) *rc = rd->rc, *out = rd, best = -1;
        } else if (at < first) {
            first = at, *out = rd, best = (int)s;
        }
    }
    pthread_mutex_unlock(&rs->mu);
    return best;
}

/* The next batch to take, in the order of one scan: its slot, *out its reader; -1 at
 * the end or on a failure (*rc). f: the file being taken (readers taking whole files). */
static int reader_take(Readers *rs, bool by_rg, uint32_t n_files, uint32_t *f, Reader **out, int *rc) {
    if (by_rg) return reader_first(rs, out, rc);
    for (; *f < n_files; (*f)++) {
        *out = &rs->r[*f % rs->n];
        int s = reader_next(rs, *out, *f, rc);
        if (s >= 0 || *rc) return s;
    }
    return -1;
}

/* The rows reserved but not yet written, up to the rows the scan will give (expect;
 * capacity beyond stays untouched): their pages are faulted in beside the readers
 * (cn_prefault_run; the loader would take every first-touch fault itself otherwise,
 * about a tenth of its time), from the first batch on (a reader mapping memory for its
 * buffers waits while a populate call holds the address space's lock: the readers stood
 * still for the first tenth of a 10M-row load when it ran from the start). */
static void prefault_plan(const CnEngGroupBy *g, uint64_t expect, CnPrefault *pf) {
    size_t n = g->n_rows, cap = g->cap_rows;
    pf->n = 0;
    if (n + expect < cap) cap = n + expect;
    cn_prefault_add(pf, g->key_id, n * sizeof *g->key_id, cap * sizeof *g->key_id);
    cn_prefault_add(pf, g->ts, n * sizeof *g->ts, cap * sizeof *g->ts);
    cn_prefault_add(pf, g->ts_ok, n, cap);
    cn_prefault_add(pf, g->pday, n * sizeof *g->pday, cap * sizeof *g->pday);
    for (uint32_t c = 0; c < g->rows->n_cols; c++) {
        const CnVec *v = &g->rows->cols[c];
        size_t w = cn_col_type_width(v->type->id);
        size_t vcap = v->cap < n + expect ? v->cap : n + expect;
        if (w && row_col_kept(g, c)) cn_prefault_add(pf, v->values, (size_t)v->n * w, vcap * w);
    }
}

/* Loads a source's rows with n reader threads (see above), each taking whole files or,
 * by_rg, its share of every file's row groups; tk as load_source's. */
static int load_parallel(CnEngGroupBy *g, CnIceCatalog *cat, const CnIceTable *t, const CnIceScanOpts *so0,
                         const SrcBind *sb, const char *tname, uint32_t n, bool by_rg, uint32_t n_files,
                         int64_t n_records, Take *tk, DayScan *days, CnErr *err) {
    Readers rs;
    memset(&rs, 0, sizeof rs);
    rs.r = cn_calloc(n, sizeof *rs.r);
    CnPoolJob *job = NULL;
    int rc = rs.r ? 0 : cn_err_set(err, CN_ENOMEM, "out of memory");
    for (uint32_t i = 0; i < n && rc == 0; i++) {
        Reader *rd = &rs.r[i];
        CnIceScanOpts so = *so0;
        so.shard_n = n;
        so.shard_i = i;
        so.shard_row_groups = by_rg;
        rd->err = (CnErr)CN_ERR_INIT;
        rc = cn_ice_scan_open(cat, t, &so, &rd->scan, err);
        if (rc == 0) rc = bind(cn_ice_scan_schema(rd->scan), sb, &rd->q, err);
        if (rc == 0 && !(rd->from = cn_calloc(cn_expr_query_schema(rd->q)->n_fields + 1, sizeof *rd->from)))
            rc = cn_err_set(err, CN_ENOMEM, "out of memory");
        if (rc == 0 && !plain_projection(cn_ice_scan_schema(rd->scan), sb, rd->q, rd->from)) {
            cn_free(rd->from);
            rd->from = NULL;
        }
        for (uint32_t s = 0; s < READ_RING && rc == 0; s++)
            rc = cn_col_batch_new(cn_expr_query_schema(rd->q), &rd->ring[s], err);
    }
    if (rc) goto out;
    pthread_mutex_init(&rs.mu, NULL);
    pthread_cond_init(&rs.cv, NULL);
    rs.n = n;
    CnPoolJob *pre = NULL;
    CnPrefault pf;
    prefault_plan(g, (uint64_t)(n_records > 0 ? n_records : 0), &pf);
    rc = cn_pool_start(n, reader_main, &rs, &job, err);
    for (uint32_t f = 0; rc == 0;) {
        Reader *rd = NULL;
        int s = reader_take(&rs, by_rg, n_files, &f, &rd, &rc);
        if (s < 0) {
            if (rc) *err = rd->err, rc = cn_err_ctx(err, rc, "source table %s", tname);
            break;
        }
        /* the prefault from the first batch on: the readers have mapped their buffers by
         * then (a reader mapping memory waits while a populate call holds the lock) */
        if (!pre && pf.n) rc = cn_pool_start(1, cn_prefault_run, &pf, &pre, err);
        if (rc) break;
        if (days && rd->day[s] != INT32_MIN && rd->day[s] != days->last) {
            days->last = rd->day[s];
            if (add_src_day(g, rd->day[s], &days->cap)) rc = cn_err_set(err, CN_ENOMEM, "out of memory");
        }
        g->stats.rows_scanned += rd->n_in[s];
        tk->batch_day = rd->day[s];
        if (rc == 0) rc = take_rows(g, tk, rd->ring[s], err);
        pthread_mutex_lock(&rs.mu);
        rd->taken++;
        pthread_cond_broadcast(&rs.cv);
        pthread_mutex_unlock(&rs.mu);
    }
    if (job) {
        pthread_mutex_lock(&rs.mu);
        rs.stop = true;
        pthread_cond_broadcast(&rs.cv);
        pthread_mutex_unlock(&rs.mu);
        cn_pool_join(job);
    }
    cn_pool_join(pre);
    pthread_mutex_destroy(&rs.mu);
    pthread_cond_destroy(&rs.cv);
out:
    for (uint32_t i = 0; rs.r && i < n; i++) {
        for (uint32_t s = 0; s < READ_RING; s++) cn_col_batch_free(rs.r[i].ring[s]);
        cn_expr_query_free(rs.r[i].q);
        cn_free(rs.r[i].from);
        cn_ice_scan_close(rs.r[i].scan);
    }
    cn_free(rs.r);
    return rc;
}

/* Whether the warehouse is a local directory (its files are read with pread, by any
 * number of threads at once). */
bool cn_eng__local_warehouse(const CnIceCatalog *cat) {
    const char *w = cn_ice_catalog_warehouse(cat);
    return w && (w[0] == '/' || !strncmp(w, "file://", 7));
}

static int load_source(CnEngGroupBy *g, CnIceCatalog *cat, const CnSource *s, uint32_t i_src, int32_t lo,
                       int32_t hi, CnEngSkipFn skip, void *skip_ud, FastKeys *fast, DayScan *days, CnErr *err) {
    CnIceTable *t = NULL;
    CnExprQuery *q1 = NULL, *q2 = NULL;
    CnIceScan *scan = NULL;
    CnBatch *out = NULL;
    bool *used = NULL;
    const char **cols = NULL;
    int *from = NULL;
    Take tk = {.fast = fast, .kb = CN_BUF_INIT, .batch_day = INT32_MIN, .cur_file = UINT32_MAX, .i_src = i_src};
    char ns[129], name[129];
    const char *tname = cn_conf_source_table(&g->arena, s);
    int rc = 0;
    if (!tname) {
        rc = cn_err_set(err, CN_EUNSUPPORTED, "sources[%u]: joinSource sources are not supported by the backfill yet", i_src);
        goto done;
    }
    if (s->is_cumulative == 1) {
        rc = cn_err_set(err, CN_EUNSUPPORTED, "sources[%u] (%s): isCumulative event sources are not supported yet",
                        i_src, tname);
        goto done;
    }
    rc = cn_ice_name_parse(tname, ns, name, err);
    if (rc == 0) rc = cn_ice_table_load(cat, ns, name, &t, err);
    if (rc) {
        rc = cn_err_ctx(err, rc, "sources[%u]", i_src);
        goto done;
    }
    const CnSchema *tschema = cn_ice_table_schema(t);
    SrcBind sb;
    memset(&sb, 0, sizeof sb);
    rc = make_bind(&g->arena, s, tschema, &sb, err);
    if (rc == 0) rc = bind(tschema, &sb, &q1, err);
    if (rc) {
        rc = cn_err_ctx(err, rc, "source table %s", tname);
        goto done;
    }
    used = cn_calloc(tschema->n_fields + 1, sizeof *used);
    cols = cn_calloc(tschema->n_fields + 1, sizeof *cols);
    if (!used || !cols) {
        rc = cn_err_set(err, CN_ENOMEM, "out of memory");
        goto done;
    }
    cn_expr_query_mark_columns(q1, used);
    uint32_t n_cols = 0;
    for (uint32_t i = 0; i < tschema->n_fields; i++)
        if (used[i] || is_partition_col(tschema->fields[i].name)) cols[n_cols++] = tschema->fields[i].name;

    /* the row schema comes from the first source; others must produce the same */
    const CnSchema *qs = cn_expr_query_schema(q1);
    if (!g->row_schema) {
        rc = cn_col_schema_new(&g->row_schema);
        for (uint32_t i = 0; i < qs->n_fields && rc == 0; i++)
            if (strcmp(qs->fields[i].name, DS_COL))
                rc = cn_col_schema_add(g->row_schema, qs->fields[i].name,
                                       cn_col_type_copy(&g->row_schema->arena, qs->fields[i].type), true,
                                       CN_COL_NO_ID, err);
        if (rc == 0) rc = cn_col_batch_new(g->row_schema, &g->rows, err);
        /* keys, values and parts resolve against the first source's columns */
        if (rc == 0) rc = resolve(g, err);
        if (rc) goto done;
    } else {
        /* the row schema lacks the hidden ds column, which the query puts before the time
         * column: compare positions among the other columns */
        uint32_t pos = 0;
        for (uint32_t i = 0; i < qs->n_fields; i++) {
            if (!strcmp(qs->fields[i].name, DS_COL)) continue;
            int j = cn_col_schema_find(g->row_schema, qs->fields[i].name);
            if (j < 0 || (uint32_t)j != pos++ ||
                !cn_col_type_equal(g->row_schema->fields[j].type, qs->fields[i].type)) {
                rc = cn_err_set(err, CN_ECONFIG,
                                "sources[%u] (%s): selects must produce the same columns, in the same order and "
                                "with the same types, as sources[0] (column \"%s\" differs)",
                                i_src, tname, qs->fields[i].name);
                goto done;
            }
        }
    }

    int32_t qlo = ds_days(s->query.start_partition, INT32_MIN), qhi = ds_days(s->query.end_partition, INT32_MAX);
    if (qlo > lo) lo = qlo;
    if (qhi < hi) hi = qhi;
    if (lo > hi) goto done; /* nothing of this source is in range */
    char lo_ds[11], hi_ds[11];
    CnIceScanOpts so = {0};
    if (lo != INT32_MIN) {
        cn_ds_format(lo, lo_ds);
        so.ds_lo = lo_ds;
    }
    if (hi != INT32_MAX) {
        cn_ds_format(hi, hi_ds);
        so.ds_hi = hi_ds;
    }
    so.columns = cols;
    so.n_columns = n_cols;
    /* whole row groups of our writer's table files (262,144 rows): the reader hands out
     * its row-group batch itself instead of copying it out a slice at a time */
    so.batch_rows = 1u << 18;
    if (g->opts.shard) { /* distributed hook: this rank reads its share of the files */
        so.shard_n = (uint32_t)g->opts.shard->nranks;
        so.shard_i = (uint32_t)g->opts.shard->rank;
    }
    rc = cn_ice_scan_open(cat, t, &so, &scan, err);
    if (rc == 0 && !s->query.wheres.n && !g->opts.shard) {
        /* Without wheres nearly every scanned row is kept: room for all of them at once
         * instead of doubling (each doubling copies the rows so far and faults in fresh
         * pages). */
        int64_t nrec = cn_ice_scan_n_records(scan);
        if (nrec > 0 && (uint64_t)g->n_rows + (uint64_t)nrec < UINT32_MAX) {
            rc = grow_rows(g, (uint32_t)nrec, err);
            for (uint32_t c = 0; rc == 0 && c < g->rows->n_cols; c++)
                if (cn_col_type_width(g->rows->cols[c].type->id) &&
                    cn_col_vec_reserve(&g->rows->cols[c], (uint32_t)nrec))
                    rc = cn_err_set(err, CN_ENOMEM, "source rows: out of memory (%lld rows)", (long long)nrec);
        }
    }
    if (rc == 0) rc = bind(cn_ice_scan_schema(scan), &sb, &q2, err);
    if (rc == 0) rc = cn_col_batch_new(cn_expr_query_schema(q2), &out, err);
    if (rc == 0 && !(from = cn_calloc(cn_expr_query_schema(q2)->n_fields + 1, sizeof *from)))
        rc = cn_err_set(err, CN_ENOMEM, "out of memory");
    if (rc == 0 && !plain_projection(cn_ice_scan_schema(scan), &sb, q2, from)) {
        cn_free(from);
        from = NULL;
    }
    if (rc) {
        rc = cn_err_ctx(err, rc, "source table %s", tname);
        goto done;
    }
    int i_ds_in = cn_col_schema_find(cn_ice_scan_schema(scan), CN_ICE_DS);
    const CnSchema *os = cn_expr_query_schema(q2);
    int i_ds = cn_col_schema_find(os, DS_COL);
    int i_ts = cn_col_schema_find(os, "ts");
    if (i_ts >= 0 && os->fields[i_ts].type->id != CN_COL_INT64 && os->fields[i_ts].type->id != CN_COL_TIMESTAMP &&
        (g->any_window || !g->entities)) {
        char tb[64];
        rc = cn_err_set(err, CN_ETYPE, "source table %s: ts is %s, expected long epoch milliseconds (cast it in selects)",
                        tname, cn_col_type_name(os->fields[i_ts].type, tb, sizeof tb));
        goto done;
    }
    bool ts_from_ds = i_ts < 0 && !g->entities; /* SNAPSHOT events without timeColumn */
    if (!g->opts.shard && g->n_keys == 1) { /* distributed hook: ranks intern after the shuffle */
        CnTypeId kt = os->fields[g->key_cols[0]].type->id;
        size_t w = cn_col_type_width(kt);
        if (w >= 1 && w <= 8) fast->width = w;
        fast->is_int = kt == CN_COL_INT64 || kt == CN_COL_INT32;
    }
    tk.i_ds = i_ds;
    tk.i_ts = i_ts;
    tk.ts_from_ds = ts_from_ds;
    uint32_t n_threads = cn_pool_threads(), n_files = cn_ice_scan_n_files(scan);
    /* fewer files than threads, but more rows than a row group: the readers split each
     * file's row groups (one large file would otherwise be decoded on this thread) */
    bool by_rg = n_files < n_threads && cn_ice_scan_n_records(scan) > (int64_t)so.batch_rows;
    if (n_threads > 1 && (n_files > 1 || by_rg) && !skip && !g->opts.shard && cn_eng__local_warehouse(cat)) {
        rc = load_parallel(g, cat, t, &so, &sb, tname, by_rg || n_threads < n_files ? n_threads : n_files, by_rg,
                           n_files, cn_ice_scan_n_records(scan), &tk, days, err);
        goto done;
    }
    for (;;) {
        const CnBatch *in = NULL;
        rc = cn_ice_scan_next(scan, &in, err);
        if (rc || !in) break;
        if (days && (rc = days_add_batch(g, days, &in->cols[i_ds_in], in->n_rows, err))) break;
        /* partitions served from the tile store are not read again */
        uint32_t *selbuf = NULL;
        if (skip && in->n_rows) {
            const CnVec *dv = &in->cols[i_ds_in];
            uint32_t k = 0;
            selbuf = cn_malloc((size_t)in->n_rows * sizeof *selbuf);
            if (!selbuf) {
                rc = cn_err_set(err, CN_ENOMEM, "out of memory");
                break;
            }
            /* rows of a batch share their partition: ds parsed and asked about once per change */
            DsMemo m = DS_MEMO_INIT;
            bool keep = false;
            for (uint32_t r = 0; r < in->n_rows; r++) {
                uint32_t len;
                const char *p = cn_col_vec_str(dv, r, &len);
                if (ds_memo_see(&m, p, len)) keep = !skip(skip_ud, m.day);
                if (keep) selbuf[k++] = r;
            }
            if (k < in->n_rows) { /* every row kept: no selection (a plain projection stays one) */
                ((CnBatch *)in)->sel = selbuf;
                ((CnBatch *)in)->n_sel = k;
            }
        }
        g->stats.rows_scanned += in->sel ? in->n_sel : in->n_rows;
        cn_col_batch_reset(out);
        rc = query_run(q2, from, in, out, err);
        ((CnBatch *)in)->sel = NULL;
        cn_free(selbuf);
        if (rc) {
            rc = cn_err_ctx(err, rc, "source table %s", tname);
            break;
        }
        if (g->opts.shard && cn_ice_scan_batch_file(scan) != tk.cur_file) /* distributed hook: ord comes later */
            tk.cur_file = cn_ice_scan_batch_file(scan), tk.file_row = 0;
        rc = take_rows(g, &tk, out, err);
        if (rc) break;
    }
done:
    take_fini(&tk);
    cn_col_batch_free(out);
    cn_free(from);
    cn_expr_query_free(q2);
    cn_ice_scan_close(scan);
    cn_expr_query_free(q1);
    cn_ice_table_free(t);
    cn_free(used);
    cn_free(cols);
    return rc;
}

/* Resolves keys, value columns, bases and parts against the row schema. */
static int resolve(CnEngGroupBy *g, CnErr *err) {
    const CnGroupBy *gb = g->gb;
    const CnSchema *rs = g->row_schema;
    int rc = 0;
    char tb[64];
    for (uint32_t k = 0; k < g->n_keys; k++) {
        int i = cn_col_schema_find(rs, gb->key_columns.items[k]);
        if (i < 0) return cn_err_set(err, CN_ECONFIG, "keyColumns[%u]: key column \"%s\" is not selected by the source query",
                                     k, gb->key_columns.items[k]);
        const CnType *t = rs->fields[i].type;
        if (cn_col_type_is_nested(t->id))
            return cn_err_set(err, CN_EUNSUPPORTED, "keyColumns[%u]: key column \"%s\" has type %s; keys must be scalars",
                              k, gb->key_columns.items[k], cn_col_type_name(t, tb, sizeof tb));
        g->key_cols[k] = i;
    }
    rc = cn_col_schema_new(&g->key_schema);
    for (uint32_t k = 0; k < g->n_keys && rc == 0; k++)
        rc = cn_col_schema_add(g->key_schema, rs->fields[g->key_cols[k]].name,
                               cn_col_type_copy(&g->key_schema->arena, rs->fields[g->key_cols[k]].type), true,
                               CN_COL_NO_ID, err);
    if (rc == 0) rc = cn_col_batch_new(g->key_schema, &g->keys.vals, err);
    if (rc == 0) rc = cn_col_schema_new(&g->value_schema);
    if (rc) return rc;
    if (g->no_aggs) {
        g->value_cols = cn_arena_alloc(&g->arena, (rs->n_fields + 1) * sizeof *g->value_cols);
        if (!g->value_cols) return cn_err_set(err, CN_ENOMEM, "out of memory");
        for (uint32_t i = 0; i < rs->n_fields && rc == 0; i++) {
            const char *c = rs->fields[i].name;
            bool is_key = false;
            for (uint32_t k = 0; k < g->n_keys; k++) is_key |= g->key_cols[k] == (int)i;
            if (is_key || !strcmp(c, "ts")) continue;
            g->value_cols[g->n_values++] = (int)i;
            rc = cn_col_schema_add(g->value_schema, c, cn_col_type_copy(&g->value_schema->arena, rs->fields[i].type),
                                   true, CN_COL_NO_ID, err);
        }
        return rc;
    }
    CnAggPart *parts = NULL;
    size_t n_parts = 0;
    rc = cn_conf_groupby_agg_parts(&g->arena, gb, &parts, &n_parts, err);
    if (rc) return rc;
    g->parts = cn_arena_calloc(&g->arena, (n_parts + 1) * sizeof *g->parts);
    g->bases = cn_arena_calloc(&g->arena, (n_parts + 1) * sizeof *g->bases);
    if (!g->parts || !g->bases) return cn_err_set(err, CN_ENOMEM, "out of memory");
    size_t prev_agg = SIZE_MAX;
    const char *prev_bucket = NULL;
    for (size_t i = 0; i < n_parts; i++) {
        const CnAggPart *p = &parts[i];
        const CnAggregation *a = p->agg;
        bool new_base = p->i_agg != prev_agg || (p->bucket != prev_bucket &&
                                                 (!p->bucket || !prev_bucket || strcmp(p->bucket, prev_bucket)));
        if (new_base) {
            CnEngBase *b = &g->bases[g->n_bases++];
            b->i_input = cn_col_schema_find(rs, a->input_column);
            if (b->i_input < 0) {
                char avail[1024];
                size_t o = 0;
                avail[0] = 0;
                for (uint32_t c = 0; c < rs->n_fields && o + 2 < sizeof avail; c++)
                    o += (size_t)snprintf(avail + o, sizeof avail - o, "%s%s", c ? ", " : "", rs->fields[c].name);
                return cn_err_set(err, CN_ECONFIG,
                                  "aggregations[%zu]: inputColumn \"%s\" is not a selected column (available: %s)",
                                  p->i_agg, a->input_column, avail);
            }
            b->i_bucket = -1;
            if (p->bucket) {
                b->i_bucket = cn_col_schema_find(rs, p->bucket);
                if (b->i_bucket < 0 || rs->fields[b->i_bucket].type->id != CN_COL_STRING)
                    return cn_err_set(err, CN_ECONFIG, "aggregations[%zu]: bucket \"%s\" must be a selected string column",
                                      p->i_agg, p->bucket);
            }
            CnAggDef def = {(CnAggOp)a->op, a->input_column, a->arg_map.keys, a->arg_map.vals,
                            (uint32_t)a->arg_map.n, a->element_wise == 1, p->bucket != NULL};
            rc = cn_agg_spec_new(&g->arena, &def, rs->fields[b->i_input].type, &b->spec, err);
            if (rc) return cn_err_ctx(err, rc, "aggregations[%zu]", p->i_agg);
            b->tile_ms = CN_AGG_MS_DAY;
            prev_agg = p->i_agg;
            prev_bucket = p->bucket;
        }
        CnEngBase *b = &g->bases[g->n_bases - 1];
        CnEngPart *ep = &g->parts[g->n_parts++];
        ep->name = p->name;
        ep->i_base = (int)g->n_bases - 1;
        ep->w_ms = 0;
        if (p->window) {
            rc = cn_agg_window_ms(p->window->length, p->window->unit, p->name, &ep->w_ms, err);
            if (rc) return rc;
        }
        if (ep->w_ms) {
            g->any_window = true;
            if (ep->w_ms % CN_AGG_MS_DAY) {
                if (!g->entities && cn_conf_groupby_accuracy(gb) == CN_CONF_SNAPSHOT)
                    return cn_err_set(err, CN_ECONFIG,
                                      "aggregations[%zu]: window %s is in hours; a SNAPSHOT GroupBy over events "
                                      "takes DAYS windows only (D21; hour windows need accuracy TEMPORAL)",
                                      p->i_agg, p->name);
                b->tile_ms = CN_AGG_MS_HOUR;
            }
            if (ep->w_ms > b->max_w) b->max_w = ep->w_ms;
        }
        rc = cn_col_schema_add(g->value_schema, p->name,
                               cn_col_type_copy(&g->value_schema->arena, cn_agg_spec_output_type(b->spec)), true,
                               CN_COL_NO_ID, err);
        if (rc) return rc;
    }
    return 0;
}

/* The window parts (any_window) must be known before loading (ts checks); a first
 * pass over the config gives it. */
static bool conf_any_window(const CnGroupBy *gb) {
    for (size_t i = 0; gb->has_aggregations && i < gb->n_aggs; i++)
        if (gb->aggs[i].has_windows && gb->aggs[i].n_windows) return true;
    return false;
}

int cn_eng__open(CnIceCatalog *cat, const CnGroupBy *gb, int32_t lo, int32_t hi, const CnEngOpts *opts,
                 CnEngSkipFn skip, void *skip_ud, CnEngGroupBy **out, CnErr *err) {
    *out = NULL;
    CnEngGroupBy *g = cn_calloc(1, sizeof *g);
    if (!g) return cn_err_set(err, CN_ENOMEM, "out of memory");
    FastKeys fast; /* the key maps live across sources */
    memset(&fast, 0, sizeof fast);
    fast.lazy = opts->keys_unindexed;
    cn_arena_init(&g->arena, 0);
    g->gb = gb;
    g->opts = *opts;
    g->scan_lo = lo;
    g->scan_hi = hi;
    int rc = 0;
    if (!gb->n_sources) {
        rc = cn_err_set(err, CN_ECONFIG, "sources: the GroupBy has no source");
        goto done;
    }
    CnDataModel m0 = cn_conf_source_model(&gb->sources[0]);
    for (size_t i = 1; i < gb->n_sources; i++)
        if (cn_conf_source_model(&gb->sources[i]) != m0) {
            rc = cn_err_set(err, CN_ECONFIG, "sources[%zu]: sources mix events and entities", i);
            goto done;
        }
    g->entities = m0 == CN_CONF_ENTITIES;
    g->no_aggs = !gb->has_aggregations;
    g->any_window = conf_any_window(gb);
    if (g->no_aggs && !g->entities) {
        rc = cn_err_set(err, CN_ECONFIG, "aggregations: may be absent only for entity sources");
        goto done;
    }
    g->n_keys = (uint32_t)gb->key_columns.n;
    if (!g->n_keys) {
        rc = cn_err_set(err, CN_ECONFIG, "keyColumns: the GroupBy has no key");
        goto done;
    }
    g->key_cols = cn_arena_alloc(&g->arena, g->n_keys * sizeof *g->key_cols);
    if (!g->key_cols) {
        rc = cn_err_set(err, CN_ENOMEM, "out of memory");
        goto done;
    }
    /* Without skipped partitions or a shard of the files, the loads read every source
     * partition in range: their ds columns give the source days (cn_eng__source_days
     * would scan them all again). */
    bool own_days = !skip; /* distributed hook: a rank's own days, united by cn_eng__shard_exchange */
    double w0 = cn_clock_s(CLOCK_MONOTONIC), c0 = cn_clock_s(CLOCK_PROCESS_CPUTIME_ID);
    double t0 = cn_clock_s(CLOCK_THREAD_CPUTIME_ID);
    DayScan days = DAY_SCAN_INIT(0);
    for (size_t i = 0; i < gb->n_sources && rc == 0; i++) {
        days.memo = DS_MEMO_INIT, days.last = INT32_MIN;
        rc = load_source(g, cat, &gb->sources[i], (uint32_t)i, lo, hi, skip, skip_ud, &fast,
                         own_days ? &days : NULL, err);
    }
    /* slots of the keys the maps added, unless the caller never looks keys up */
    if (rc == 0 && !opts->keys_unindexed) rc = fast_sync(&fast, &g->keys, err);
    if (rc == 0 && opts->shard) rc = cn_eng__shard_exchange(g, err); /* distributed hook */
    if (rc == 0 && own_days) days_finish(g);
    if (rc == 0 && !own_days) rc = cn_eng__source_days(cat, gb, lo, hi, &g->src_days, &g->n_src_days, err);
    /* the calling thread takes the decoded batches in order (key ids, row copies): its
     * CPU against the wall time says whether it held the readers back */
    if (rc == 0)
        cn_log(CN_LOG_DEBUG, "load: %u rows, %u keys in %.3f s wall, %.3f s CPU (%.3f s on the calling thread)",
               g->n_rows, g->keys.n, cn_clock_s(CLOCK_MONOTONIC) - w0, cn_clock_s(CLOCK_PROCESS_CPUTIME_ID) - c0,
               cn_clock_s(CLOCK_THREAD_CPUTIME_ID) - t0);
done:
    cn_free(fast.slots);
    cn_free(fast.dmap);
    cn_free(fast.fresh);
    if (rc) {
        cn_eng_gb_free(g);
        return cn_err_ctx(err, rc, "GroupBy %s", gb->meta.name ? gb->meta.name : "?");
    }
    *out = g;
    return 0;
}

void cn_eng__rows_release(CnEngGroupBy *g) {
    cn_col_batch_free(g->rows);
    cn_free(g->key_id);
    cn_free(g->ts);
    cn_free(g->ts_ok);
    cn_free(g->pday);
    cn_free(g->ord);
    g->rows = NULL;
    g->key_id = NULL;
    g->ts = NULL;
    g->ts_ok = NULL;
    g->pday = NULL;
    g->ord = NULL;
    g->n_rows = g->cap_rows = 0;
}

void cn_eng_gb_free(CnEngGroupBy *g) {
    if (!g) return;
    cn_eng__rows_release(g);
    cn_col_batch_free(g->keys.vals);
    cn_free(g->keys.slots);
    cn_free(g->keys.hash);
    cn_free(g->keys.off);
    cn_buf_fini(&g->keys.bytes);
    cn_free(g->src_days);
    cn_col_schema_free(g->key_schema);
    cn_col_schema_free(g->value_schema);
    cn_col_schema_free(g->row_schema);
    cn_arena_fini(&g->arena);
    cn_free(g);
}

const CnSchema *cn_eng_gb_key_schema(const CnEngGroupBy *g) { return g->key_schema; }
const CnSchema *cn_eng_gb_value_schema(const CnEngGroupBy *g) { return g->value_schema; }
const CnEngStats *cn_eng_gb_stats(const CnEngGroupBy *g) { return &g->stats; }
