/* test_jscan.c: the flat fast path of TEMPORAL events join parts (jscan.h) against the
 * generic path (cn_eng__open + cn_eng__sweep_temporal) on random data: null keys, ts
 * and inputs, ties in ts, rows stored a day or two after their ts (D27) and a day
 * before it (the GroupBy has unwindowed parts, so no per-day bound applies), queries
 * before any row and exactly at row times, keys in a dense range, sparse 64-bit keys
 * and strings, int32 and int64 inputs, windows 1h/1d/7d and unwindowed, COUNT, SUM,
 * FIRST and LAST. Every value of every query must be equal. Parts outside the subset
 * (AVERAGE, a where clause, a computed select, only windowed parts over rows stored
 * before their ts day: D29) must be declined untouched. The same bytes come out for 1
 * and 3 threads, and for tables whose rows are stored sorted by (key, ts), as drawn or
 * reversed. */
#include "cn_test.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/date.h"
#include "base/hash.h"
#include "base/log.h"
#include "engine/jscan.h"
#include "engine/sweep.h"

static uint64_t next(uint64_t *s) {
    *s ^= *s << 13, *s ^= *s >> 7, *s ^= *s << 17;
    return *s * UINT64_C(0x2545F4914F6CDD1D);
}

#define DAY0 19723 /* 2024-01-01 */
#define N_DAYS 12

typedef enum Keys { DENSE, SPARSE, STRINGS } Keys;

/* Appends the key of draw x: a dense int64 range, sparse 64-bit values (hash ids), or
 * strings. */
static void append_key(CnVec *v, uint64_t x, uint32_t n_keys, Keys kk) {
    uint64_t k = x % n_keys;
    char s[32];
    if (kk == STRINGS) cn_col_vec_append_str(v, s, (size_t)snprintf(s, sizeof s, "u%llu", (unsigned long long)k));
    else if (kk == SPARSE) cn_col_vec_append_i64(v, (int64_t)(k * UINT64_C(0x9E3779B97F4A7C15)));
    else cn_col_vec_append_i64(v, (int64_t)k - 3);
}

static const CnType *key_type(Keys kk) { return cn_col_type_prim(kk == STRINGS ? CN_COL_STRING : CN_COL_INT64); }

/* Order the rows of a table are written in: as drawn, sorted by (key, ts) (nulls
 * first), or reversed. */
typedef enum Order { AS_DRAWN, BY_KEY_TS, REVERSED } Order;

static const CnBatch *g_cmp_batch; /* what row_cmp compares (qsort has no user data) */

static int cmp_i64(const CnVec *v, uint32_t a, uint32_t b) {
    bool va = cn_col_vec_is_valid(v, a), vb = cn_col_vec_is_valid(v, b);
    if (!va || !vb) return (int)va - (int)vb;
    int64_t x = ((const int64_t *)v->values)[a], y = ((const int64_t *)v->values)[b];
    return (x > y) - (x < y);
}

static int row_cmp(const void *pa, const void *pb) {
    uint32_t a = *(const uint32_t *)pa, b = *(const uint32_t *)pb;
    const CnVec *k = &g_cmp_batch->cols[0];
    int c;
    if (k->type->id == CN_COL_STRING && cn_col_vec_is_valid(k, a) && cn_col_vec_is_valid(k, b)) {
        uint32_t la, lb;
        const char *sa = cn_col_vec_str(k, a, &la), *sb = cn_col_vec_str(k, b, &lb);
        c = memcmp(sa, sb, la < lb ? la : lb);
        if (!c) c = (la > lb) - (la < lb);
    } else if (k->type->id == CN_COL_STRING) {
        c = (int)cn_col_vec_is_valid(k, a) - (int)cn_col_vec_is_valid(k, b);
    } else {
        c = cmp_i64(k, a, b);
    }
    if (!c) c = cmp_i64(&g_cmp_batch->cols[1], a, b);
    return c ? c : (a > b) - (a < b);
}

/* The rows of b in order ord. OWNED: the batch. */
static CnBatch *reorder(const CnBatch *b, Order ord) {
    CnErr err = CN_ERR_INIT;
    uint32_t n = b->n_rows, *perm = cn_malloc(((size_t)n + 1) * sizeof *perm);
    assert_non_null(perm);
    for (uint32_t i = 0; i < n; i++) perm[i] = ord == REVERSED ? n - 1 - i : i;
    if (ord == BY_KEY_TS) {
        g_cmp_batch = b;
        qsort(perm, n, sizeof *perm, row_cmp);
    }
    CnBatch *out = NULL;
    ASSERT_OK(cn_col_batch_new(b->schema, &out, &err), &err);
    for (uint32_t c = 0; c < b->n_cols; c++)
        for (uint32_t i = 0; i < n; i++) cn_col_vec_append_from(&out->cols[c], &b->cols[c], perm[i]);
    ASSERT_OK(cn_col_batch_sync_rows(out, &err), &err);
    cn_free(perm);
    return out;
}

/* Draws amount without nulls (test_random_carried_value). */
static bool g_amount_dense;
/* Draws amount times 2^g_amount_shift (values past 32 bits: not carried in the records). */
static int g_amount_shift;
/* write_events stores every row in its ts day (no row late for a query: the records
 * may carry a value instead of the row number). */
static bool g_on_time;

/* n random rows {user, ts, amount int64, small int32, ds} in a new batch of schema *s;
 * on_time: every row stored in its ts day (no late or early rows). */
static CnBatch *draw_events(uint32_t n, uint32_t n_keys, Keys kk, uint64_t seed, bool on_time, CnSchema **s_out) {
    CnErr err = CN_ERR_INIT;
    CnSchema *s = NULL;
    CnBatch *b = NULL;
    ASSERT_OK(cn_col_schema_new(&s), &err);
    ASSERT_OK(cn_col_schema_add(s, "user", key_type(kk), true, CN_COL_NO_ID, &err), &err);
    ASSERT_OK(cn_col_schema_add(s, "ts", cn_col_type_prim(CN_COL_INT64), true, CN_COL_NO_ID, &err), &err);
    ASSERT_OK(cn_col_schema_add(s, "amount", cn_col_type_prim(CN_COL_INT64), true, CN_COL_NO_ID, &err), &err);
    ASSERT_OK(cn_col_schema_add(s, "small", cn_col_type_prim(CN_COL_INT32), true, CN_COL_NO_ID, &err), &err);
    ASSERT_OK(cn_col_schema_add(s, "ds", cn_col_type_prim(CN_COL_STRING), true, CN_COL_NO_ID, &err), &err);
    ASSERT_OK(cn_col_batch_new(s, &b, &err), &err);
    int64_t prev_ts = (int64_t)DAY0 * CN_MS_PER_DAY;
    for (uint32_t i = 0; i < n; i++) {
        uint64_t x = next(&seed);
        /* ts on a coarse grid (ties are common), sometimes equal to the previous row's */
        int64_t ts = (int64_t)DAY0 * CN_MS_PER_DAY + (int64_t)(x % ((uint64_t)N_DAYS * 96)) * 900000;
        if (x % 11 == 0) ts = prev_ts;
        prev_ts = ts;
        int32_t day = (int32_t)cn_ms_to_days(ts);
        uint64_t y = next(&seed);
        if (!on_time && y % 13 == 0) day += 1 + (int32_t)(y % 2); /* stored late */
        else if (!on_time && y % 17 == 0) day -= 1;              /* stored early */
        char ds[11];
        cn_ds_format(day, ds);
        if (y % 31 == 0) cn_col_vec_append_null(&b->cols[0]);
        else append_key(&b->cols[0], x >> 20, n_keys, kk);
        if (y % 37 == 0) cn_col_vec_append_null(&b->cols[1]);
        else cn_col_vec_append_i64(&b->cols[1], ts);
        if (y % 7 == 0 && !g_amount_dense) cn_col_vec_append_null(&b->cols[2]);
        else cn_col_vec_append_i64(&b->cols[2], ((int64_t)(y >> 40) - 8000000) * ((int64_t)1 << g_amount_shift));
        if (y % 5 == 0) cn_col_vec_append_null(&b->cols[3]);
        else cn_col_vec_append_i32(&b->cols[3], (int32_t)(y >> 50) % 50 - 10);
        cn_col_vec_append_str(&b->cols[4], ds, 10);
    }
    ASSERT_OK(cn_col_batch_sync_rows(b, &err), &err);
    *s_out = s;
    return b;
}

/* Appends the rows of b to table raw.<name>, one commit. */
static void append_commit(CnIceCatalog *cat, const char *name, const CnBatch *b) {
    CnErr err = CN_ERR_INIT;
    CnIceWrite *w = NULL;
    ASSERT_OK(cn_ice_write_begin(cat, "raw", name, CN_ICE_APPEND, &w, &err), &err);
    ASSERT_OK(cn_ice_write_batch(w, b, &err), &err);
    ASSERT_OK(cn_ice_write_commit(w, NULL, &err), &err);
    cn_ice_write_free(w);
}

/* Table raw.<name> {user int64, ts int64, amount int64, small int32, ds}: n random rows,
 * written in order ord. */
static void write_events(CnIceCatalog *cat, const char *name, uint32_t n, uint32_t n_keys, Keys kk, uint64_t seed,
                         Order ord) {
    CnErr err = CN_ERR_INIT;
    CnSchema *s = NULL;
    CnBatch *b = draw_events(n, n_keys, kk, seed, g_on_time, &s);
    if (ord != AS_DRAWN) {
        CnBatch *sorted = reorder(b, ord);
        cn_col_batch_free(b);
        b = sorted;
    }
    ASSERT_OK(cn_ice_table_create(cat, "raw", name, s, NULL, 0, &err), &err);
    append_commit(cat, name, b);
    cn_col_batch_free(b);
    cn_col_schema_free(s);
}

#define WINS "[{\"length\": 1, \"timeUnit\": 0}, {\"length\": 1, \"timeUnit\": 1}, {\"length\": 7, \"timeUnit\": 1}]"

/* GroupBy over raw.ev; amount_expr, where and extra_agg (may be "") make variants. */
static CnConf *gb_conf(const char *amount_expr, const char *where, const char *extra_agg) {
    char js[8192];
    snprintf(js, sizeof js,
             "{\"metaData\": {\"name\": \"t.js\", \"outputNamespace\": \"out\", \"team\": \"t\"},"
             " \"sources\": ["
             "  {\"events\": {\"table\": \"raw.ev\", \"query\": {\"selects\": {\"user\": \"user\", \"amount\": \"%s\","
             "    \"small\": \"`small`\"}, %s \"timeColumn\": \"ts\"}}}],"
             " \"keyColumns\": [\"user\"], \"accuracy\": 0,"
             " \"aggregations\": ["
             "  {\"inputColumn\": \"amount\", \"operation\": 7, \"windows\": " WINS "},"
             "  {\"inputColumn\": \"amount\", \"operation\": 6, \"windows\": " WINS "},"
             "  {\"inputColumn\": \"amount\", \"operation\": 3, \"windows\": " WINS "},"
             "  {\"inputColumn\": \"amount\", \"operation\": 2, \"windows\": " WINS "},"
             "  {\"inputColumn\": \"amount\", \"operation\": 7}, {\"inputColumn\": \"amount\", \"operation\": 3},"
             "  {\"inputColumn\": \"small\", \"operation\": 3, \"windows\": " WINS "},"
             "  {\"inputColumn\": \"small\", \"operation\": 2}, {\"inputColumn\": \"small\", \"operation\": 7,"
             "   \"windows\": " WINS "},"
             "  {\"inputColumn\": \"small\", \"operation\": 6}%s]}",
             amount_expr, where, extra_agg);
    CnConf *c = NULL;
    CnErr err = CN_ERR_INIT;
    ASSERT_OK(cn_conf_loadb("production/group_bys/t/js", js, strlen(js), CN_CONF_KIND_UNKNOWN, &c, &err), &err);
    assert_non_null(c->group_by);
    return c;
}

/* Left rows {user int64, ts int64}: keys of the same draws (some unknown, some null),
 * ts at row times, between them and before any row; qpday day(ts) or a day later. */
typedef struct Queries {
    CnSchema *s;
    CnBatch *b;
    int64_t *ts;
    int32_t *pday;
} Queries;

static void make_queries(Queries *q, uint32_t n, uint32_t n_keys, Keys kk, uint64_t seed) {
    CnErr err = CN_ERR_INIT;
    ASSERT_OK(cn_col_schema_new(&q->s), &err);
    ASSERT_OK(cn_col_schema_add(q->s, "user", key_type(kk), true, CN_COL_NO_ID, &err), &err);
    ASSERT_OK(cn_col_schema_add(q->s, "ts", cn_col_type_prim(CN_COL_INT64), true, CN_COL_NO_ID, &err), &err);
    ASSERT_OK(cn_col_batch_new(q->s, &q->b, &err), &err);
    q->ts = cn_malloc((size_t)n * sizeof *q->ts);
    q->pday = cn_malloc((size_t)n * sizeof *q->pday);
    assert_non_null(q->ts), assert_non_null(q->pday);
    for (uint32_t i = 0; i < n; i++) {
        uint64_t x = next(&seed), y = next(&seed);
        int64_t ts = (int64_t)(DAY0 - 1) * CN_MS_PER_DAY + (int64_t)(x % ((uint64_t)(N_DAYS + 2) * 96)) * 900000;
        if (y % 3 == 0) ts += (int64_t)(y % 900000); /* between grid points */
        if (y % 29 == 0) cn_col_vec_append_null(&q->b->cols[0]);
        else append_key(&q->b->cols[0], x >> 20, n_keys + n_keys / 8 + 1, kk);
        cn_col_vec_append_i64(&q->b->cols[1], ts);
        q->ts[i] = ts;
        q->pday[i] = (int32_t)cn_ms_to_days(ts) + (y % 4 == 0);
    }
    ASSERT_OK(cn_col_batch_sync_rows(q->b, &err), &err);
}

static void queries_fini(Queries *q) {
    cn_col_batch_free(q->b);
    cn_col_schema_free(q->s);
    cn_free(q->ts);
    cn_free(q->pday);
}

/* Key id in g of left row r (the join's lookup of encoded key bytes). */
static uint32_t generic_id(const CnEngGroupBy *g, const CnBatch *left, uint32_t r, CnBuf *kb) {
    int col = 0;
    const CnEngKeys *ks = &g->keys;
    if (!cn_col_vec_is_valid(&left->cols[0], r) || !ks->cap || !cn_eng__key_encode(left, &col, 1, r, kb))
        return UINT32_MAX;
    uint64_t h = cn_hash_bytes(kb->data, kb->len, 0x6b6579);
    for (uint32_t i = (uint32_t)h & (ks->cap - 1); ks->slots[i]; i = (i + 1) & (ks->cap - 1)) {
        uint32_t c = ks->slots[i] - 1;
        if (ks->hash[c] == h && ks->off[c + 1] - ks->off[c] == kb->len &&
            !memcmp(ks->bytes.data + ks->off[c], kb->data, kb->len))
            return c;
    }
    return UINT32_MAX;
}

/* The generic path's values of every query. OWNED: the batch and *g_out (its schema). */
static CnBatch *generic_values(CnIceCatalog *cat, const CnGroupBy *gb, int32_t lo, int32_t hi, const Queries *q,
                               CnEngGroupBy **g_out) {
    CnErr err = CN_ERR_INIT;
    CnEngOpts o;
    memset(&o, 0, sizeof o);
    CnEngGroupBy *g = NULL;
    ASSERT_OK(cn_eng__open(cat, gb, lo, hi, &o, NULL, NULL, &g, &err), &err);
    uint32_t n = q->b->n_rows;
    uint32_t *qid = cn_malloc((size_t)n * sizeof *qid), *slot = cn_malloc((size_t)n * sizeof *slot);
    CnAggState **res = cn_calloc(g->n_parts, sizeof *res);
    CnBuf kb = CN_BUF_INIT;
    for (uint32_t r = 0; r < n; r++) qid[r] = generic_id(g, q->b, r, &kb);
    for (uint32_t p = 0; p < g->n_parts; p++)
        ASSERT_OK(cn_agg_state_new(g->bases[g->parts[p].i_base].spec, &res[p], &err), &err);
    ASSERT_OK(cn_eng__sweep_temporal(g, n, qid, q->ts, q->pday, res, slot, &err), &err);
    CnBatch *out = NULL;
    ASSERT_OK(cn_col_batch_new(g->value_schema, &out, &err), &err);
    for (uint32_t p = 0; p < g->n_parts; p++) {
        ASSERT_OK(cn_agg_state_finalize(res[p], slot, n, &out->cols[p], &err), &err);
        cn_agg_state_free(res[p]);
    }
    ASSERT_OK(cn_col_batch_sync_rows(out, &err), &err);
    cn_buf_fini(&kb);
    cn_free(res);
    cn_free(qid);
    cn_free(slot);
    *g_out = g;
    return out;
}

/* Both paths over partitions [lo, hi]; every value equal. Returns non-null values seen. */
/* The fast path's values of every query (it must take the GroupBy). OWNED: the batch,
 * *g_out and *hit_out (cn_free). */
static CnBatch *fast_values(CnIceCatalog *cat, const CnGroupBy *gb, int32_t lo, int32_t hi, const Queries *q,
                            CnEngGroupBy **g_out, uint8_t **hit_out) {
    CnErr err = CN_ERR_INIT;
    CnEngOpts o;
    memset(&o, 0, sizeof o);
    CnBatch *fast = NULL;
    uint8_t *hit = cn_calloc(q->b->n_rows + 1, 1);
    int lcol = 0;
    bool taken = false;
    ASSERT_OK(cn_eng__jscan_temporal(cat, gb, lo, hi, &o, q->b, &lcol, 1, q->ts, q->pday, g_out, &fast, hit, &taken,
                                     &err),
              &err);
    assert_true(taken);
    *hit_out = hit;
    return fast;
}

static uint64_t compare(CnIceCatalog *cat, const CnGroupBy *gb, int32_t lo, int32_t hi, const Queries *q) {
    CnEngGroupBy *g = NULL;
    uint32_t n = q->b->n_rows;
    uint8_t *hit = NULL;
    CnBatch *fast = fast_values(cat, gb, lo, hi, q, &g, &hit);
    CnEngGroupBy *gs = NULL;
    CnBatch *slow = generic_values(cat, gb, lo, hi, q, &gs);
    assert_int_equal(cn_eng_gb_stats(g)->rows_scanned, cn_eng_gb_stats(gs)->rows_scanned);
    assert_int_equal(fast->n_cols, slow->n_cols);
    assert_int_equal(fast->n_rows, n);
    assert_int_equal(slow->n_rows, n);
    uint64_t n_valid = 0;
    for (uint32_t c = 0; c < fast->n_cols; c++) {
        const CnVec *a = &fast->cols[c], *b = &slow->cols[c];
        assert_string_equal(fast->schema->fields[c].name, slow->schema->fields[c].name);
        assert_true(cn_col_type_equal(a->type, b->type));
        size_t w = cn_col_type_width(a->type->id);
        for (uint32_t r = 0; r < n; r++) {
            bool va = cn_col_vec_is_valid(a, r), vb = cn_col_vec_is_valid(b, r);
            int64_t x = 0, y = 0;
            if (va) memcpy(&x, (const uint8_t *)a->values + r * w, w);
            if (vb) memcpy(&y, (const uint8_t *)b->values + r * w, w);
            if (va != vb || x != y)
                fail_msg("%s row %u (ts %lld, pday %d): fast %s%lld, generic %s%lld", fast->schema->fields[c].name,
                         r, (long long)q->ts[r], q->pday[r], va ? "" : "null ", (long long)x, vb ? "" : "null ",
                         (long long)y);
            n_valid += va;
        }
    }
    for (uint32_t r = 0; r < n; r++) assert_int_equal(hit[r], cn_col_vec_is_valid(&q->b->cols[0], r));
    cn_col_batch_free(fast);
    cn_col_batch_free(slow);
    cn_eng_gb_free(g);
    cn_eng_gb_free(gs);
    cn_free(hit);
    return n_valid;
}

typedef struct Env {
    char dir[256];
    CnIceCatalog *cat;
} Env;

static void env_open_ordered(Env *e, uint32_t n_rows, uint32_t n_keys, Keys kk, uint64_t seed, Order ord) {
    CnErr err = CN_ERR_INIT;
    char wh[300], catu[320];
    const char *t = getenv("TMPDIR");
    snprintf(e->dir, sizeof e->dir, "%s/cn_jscan_XXXXXX", t && *t ? t : "/tmp");
    assert_non_null(mkdtemp(e->dir));
    snprintf(wh, sizeof wh, "%s/wh", e->dir);
    snprintf(catu, sizeof catu, "sqlite:%s/catalog.db", e->dir);
    ASSERT_OK(cn_ice_catalog_open(wh, catu, &e->cat, &err), &err);
    write_events(e->cat, "ev", n_rows, n_keys, kk, seed, ord);
}

static void env_open(Env *e, uint32_t n_rows, uint32_t n_keys, Keys kk, uint64_t seed) {
    env_open_ordered(e, n_rows, n_keys, kk, seed, AS_DRAWN);
}

static void env_close(Env *e) {
    cn_ice_catalog_close(e->cat);
    cn_test_rm_rf(e->dir);
}

/* CN_THREADS as a test found it, put back by threads_restore. */
typedef struct ThreadsEnv {
    bool had;
    char value[32];
} ThreadsEnv;

static ThreadsEnv threads_keep(void) {
    ThreadsEnv t = {0};
    const char *v = getenv("CN_THREADS");
    if (v) t.had = true, snprintf(t.value, sizeof t.value, "%s", v);
    return t;
}

static void threads_restore(const ThreadsEnv *t) {
    if (t->had) setenv("CN_THREADS", t->value, 1);
    else unsetenv("CN_THREADS");
}

static void run_random(uint32_t n_rows, uint32_t n_keys, Keys kk, uint64_t seed) {
    Env e;
    env_open(&e, n_rows, n_keys, kk, seed);
    CnConf *c = gb_conf("amount", "", "");
    Queries q;
    make_queries(&q, n_rows / 2, n_keys, kk, seed + 99);
    uint64_t v = compare(e.cat, c->group_by, INT32_MIN, INT32_MAX, &q);
    assert_true(v > (uint64_t)q.b->n_rows); /* most queries see rows */
    /* a partition range cuts rows at both ends */
    compare(e.cat, c->group_by, DAY0 + 2, DAY0 + N_DAYS - 3, &q);
    queries_fini(&q);
    cn_conf_free(c);
    env_close(&e);
}

static void test_random_dense_keys(void **state) {
    (void)state;
    for (uint64_t seed = 1; seed <= 3; seed++) run_random(20000, 300, DENSE, seed * 0x9E3779B97F4A7C15u);
    /* keys many beside the rows: no rows are left out, and the ids are made by a pass of
     * their own instead of the marking one */
    run_random(3000, 1500, DENSE, 4242);
}

static void test_random_sparse_keys(void **state) {
    (void)state;
    run_random(20000, 500, SPARSE, 77);
    run_random(3000, 5, SPARSE, 78); /* few keys, long runs per key */
}

static void test_random_string_keys(void **state) {
    (void)state;
    run_random(20000, 400, STRINGS, 91);
}

/* One input without nulls (amount: COUNT, SUM, LAST, FIRST): when no row is late its
 * value travels in the sort records instead of the row number if it fits in 32 bits
 * (negative ones too), and ties in ts (common on the 15-minute grid, in groups of more
 * than 32 rows with few keys) are ordered by value. Both paths agree, rows as drawn and
 * sorted by (key, ts): with late rows (the row number travels), rows on time, and rows on
 * time with values past 32 bits (gathered by row number instead). */
static void test_random_carried_value(void **state) {
    (void)state;
    static const char js[] =
        "{\"metaData\": {\"name\": \"t.cv\", \"outputNamespace\": \"out\", \"team\": \"t\"},"
        " \"sources\": [{\"events\": {\"table\": \"raw.ev\", \"query\": {\"selects\": {\"user\": \"user\","
        " \"amount\": \"amount\"}, \"timeColumn\": \"ts\"}}}], \"keyColumns\": [\"user\"], \"accuracy\": 0,"
        " \"aggregations\": [{\"inputColumn\": \"amount\", \"operation\": 6, \"windows\": " WINS "},"
        " {\"inputColumn\": \"amount\", \"operation\": 7, \"windows\": " WINS "},"
        " {\"inputColumn\": \"amount\", \"operation\": 3, \"windows\": " WINS "},"
        " {\"inputColumn\": \"amount\", \"operation\": 2}]}";
    static const struct {
        uint32_t rows, keys;
        Keys kk;
        Order ord;
    } runs[] = {{20000, 300, DENSE, AS_DRAWN}, {3000, 5, SPARSE, AS_DRAWN}, {3000, 5, DENSE, BY_KEY_TS}};
    CnErr err = CN_ERR_INIT;
    CnConf *c = NULL;
    ASSERT_OK(cn_conf_loadb("production/group_bys/t/cv", js, strlen(js), CN_CONF_KIND_UNKNOWN, &c, &err), &err);
    g_amount_dense = true;
    for (size_t i = 0; i < 3 * CN_ARRAY_LEN(runs); i++) {
        size_t k = i % CN_ARRAY_LEN(runs), variant = i / CN_ARRAY_LEN(runs);
        g_on_time = variant > 0;
        g_amount_shift = variant == 2 ? 20 : 0;
        Env e;
        env_open_ordered(&e, runs[k].rows, runs[k].keys, runs[k].kk, 500 + i, runs[k].ord);
        Queries q;
        make_queries(&q, runs[k].rows / 2, runs[k].keys, runs[k].kk, 600 + i);
        assert_true(compare(e.cat, c->group_by, INT32_MIN, INT32_MAX, &q) > (uint64_t)q.b->n_rows);
        queries_fini(&q);
        env_close(&e);
    }
    g_amount_dense = g_on_time = false;
    g_amount_shift = 0;
    cn_conf_free(c);
}

/* One counted input (the sweep's running sums keep its sums in registers): SUM and
 * COUNT of amount with nulls (the null mask read per row), and COUNT alone of small,
 * whose values are not loaded (the records carry row numbers, which must not count).
 * Each has an unwindowed part: rows stored before their ts's day (drawn here) send a
 * GroupBy with windows alone to the generic path (D29). */
static void test_random_one_counted_input(void **state) {
    (void)state;
    static const char *const js[] = {
        "{\"metaData\": {\"name\": \"t.one\", \"outputNamespace\": \"out\", \"team\": \"t\"},"
        " \"sources\": [{\"events\": {\"table\": \"raw.ev\", \"query\": {\"selects\": {\"user\": \"user\","
        " \"amount\": \"amount\"}, \"timeColumn\": \"ts\"}}}], \"keyColumns\": [\"user\"], \"accuracy\": 0,"
        " \"aggregations\": [{\"inputColumn\": \"amount\", \"operation\": 7, \"windows\": " WINS "},"
        " {\"inputColumn\": \"amount\", \"operation\": 6, \"windows\": " WINS "},"
        " {\"inputColumn\": \"amount\", \"operation\": 6}]}",
        "{\"metaData\": {\"name\": \"t.one\", \"outputNamespace\": \"out\", \"team\": \"t\"},"
        " \"sources\": [{\"events\": {\"table\": \"raw.ev\", \"query\": {\"selects\": {\"user\": \"user\","
        " \"small\": \"`small`\"}, \"timeColumn\": \"ts\"}}}], \"keyColumns\": [\"user\"], \"accuracy\": 0,"
        " \"aggregations\": [{\"inputColumn\": \"small\", \"operation\": 6, \"windows\": " WINS "},"
        " {\"inputColumn\": \"small\", \"operation\": 6}]}",
    };
    for (size_t k = 0; k < CN_ARRAY_LEN(js); k++) {
        CnErr err = CN_ERR_INIT;
        CnConf *c = NULL;
        ASSERT_OK(cn_conf_loadb("production/group_bys/t/one", js[k], strlen(js[k]), CN_CONF_KIND_UNKNOWN, &c, &err),
                  &err);
        for (uint32_t i = 0; i < 2; i++) {
            Env e;
            env_open_ordered(&e, 20000, i ? 5 : 300, i ? SPARSE : DENSE, 700 + 10 * k + i, AS_DRAWN);
            Queries q;
            make_queries(&q, 10000, i ? 5 : 300, i ? SPARSE : DENSE, 800 + 10 * k + i);
            assert_true(compare(e.cat, c->group_by, INT32_MIN, INT32_MAX, &q) > (uint64_t)q.b->n_rows);
            queries_fini(&q);
            env_close(&e);
        }
        cn_conf_free(c);
    }
}

/* Two batches of the same schema hold the same bytes: every value and validity. */
static void assert_batches_equal(const CnBatch *a, const CnBatch *b) {
    assert_int_equal(a->n_cols, b->n_cols);
    assert_int_equal(a->n_rows, b->n_rows);
    for (uint32_t col = 0; col < a->n_cols; col++) {
        const CnVec *x = &a->cols[col], *y = &b->cols[col];
        assert_int_equal(x->n_null, y->n_null);
        size_t w = cn_col_type_width(x->type->id);
        for (uint32_t r = 0; r < a->n_rows; r++) {
            bool v = cn_col_vec_is_valid(x, r);
            assert_int_equal(v, cn_col_vec_is_valid(y, r));
            if (v) assert_memory_equal((const uint8_t *)x->values + r * w, (const uint8_t *)y->values + r * w, w);
        }
    }
}

/* Two sources (the same table twice, with null inputs and rows dropped for a null key
 * or ts): the second source's rows are loaded after the first's, where the first's
 * threaded load had left gaps and moved rows, and their null flags must be their own.
 * Both paths agree on 1 and 3 threads. */
static void test_two_sources(void **state) {
    (void)state;
    static const char js[] =
        "{\"metaData\": {\"name\": \"t.two\", \"outputNamespace\": \"out\", \"team\": \"t\"},"
        " \"sources\": [{\"events\": {\"table\": \"raw.ev\", \"query\": {\"selects\": {\"user\": \"user\","
        " \"amount\": \"amount\"}, \"timeColumn\": \"ts\"}}},"
        " {\"events\": {\"table\": \"raw.ev\", \"query\": {\"selects\": {\"user\": \"user\","
        " \"amount\": \"amount\"}, \"timeColumn\": \"ts\"}}}], \"keyColumns\": [\"user\"], \"accuracy\": 0,"
        " \"aggregations\": [{\"inputColumn\": \"amount\", \"operation\": 6, \"windows\": " WINS "},"
        " {\"inputColumn\": \"amount\", \"operation\": 7, \"windows\": " WINS "},"
        " {\"inputColumn\": \"amount\", \"operation\": 3, \"windows\": " WINS "},"
        " {\"inputColumn\": \"amount\", \"operation\": 7}]}"; /* unwindowed: rows stored early are in */
    CnErr err = CN_ERR_INIT;
    CnConf *c = NULL;
    ASSERT_OK(cn_conf_loadb("production/group_bys/t/two", js, strlen(js), CN_CONF_KIND_UNKNOWN, &c, &err), &err);
    ThreadsEnv keep = threads_keep();
    Env e;
    env_open(&e, 20000, 300, DENSE, 2468);
    Queries q;
    make_queries(&q, 10000, 300, DENSE, 8642);
    for (int i = 0; i < 2; i++) {
        setenv("CN_THREADS", i ? "3" : "1", 1);
        assert_true(compare(e.cat, c->group_by, INT32_MIN, INT32_MAX, &q) > (uint64_t)q.b->n_rows);
    }
    threads_restore(&keep);
    queries_fini(&q);
    env_close(&e);
    cn_conf_free(c);
}

/* The fast path splits its load (by file), sort (by input chunk and bucket), sweep (by
 * key) and output (by row) over CN_THREADS threads: 1 and 3 threads must give the same
 * bytes. 20000 rows over 12 files and 10000 queries are enough for 3 threads in every
 * step (a step keeps at least 2048 rows per thread). */
static void test_threads_identical(void **state) {
    (void)state;
    ThreadsEnv keep = threads_keep();
    static const Keys kinds[] = {DENSE, SPARSE, STRINGS};
    for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
        Env e;
        env_open(&e, 20000, 300, kinds[k], 1234 + k);
        CnConf *c = gb_conf("amount", "", "");
        Queries q;
        make_queries(&q, 10000, 300, kinds[k], 4321 + k);
        CnBatch *out[2];
        CnEngGroupBy *g[2];
        uint8_t *hit[2];
        for (int i = 0; i < 2; i++) {
            setenv("CN_THREADS", i ? "3" : "1", 1);
            out[i] = fast_values(e.cat, c->group_by, DAY0 + 1, DAY0 + N_DAYS - 2, &q, &g[i], &hit[i]);
        }
        uint32_t n = q.b->n_rows;
        assert_int_equal(cn_eng_gb_stats(g[0])->rows_scanned, cn_eng_gb_stats(g[1])->rows_scanned);
        assert_memory_equal(hit[0], hit[1], n);
        assert_int_equal(out[0]->n_rows, n);
        assert_batches_equal(out[0], out[1]);
        uint64_t n_valid = 0;
        for (uint32_t col = 0; col < out[0]->n_cols; col++) n_valid += n - out[0]->cols[col].n_null;
        assert_true(n_valid > n); /* values, not only nulls, were compared */
        for (int i = 0; i < 2; i++) {
            cn_col_batch_free(out[i]);
            cn_eng_gb_free(g[i]);
            cn_free(hit[i]);
        }
        queries_fini(&q);
        cn_conf_free(c);
        env_close(&e);
    }
    threads_restore(&keep);
}

/* Rows stored sorted by (key, ts), as drawn, or reversed give the same values: the
 * threaded load places each file's rows by shard, so values must not depend on the
 * order rows arrive in (ties in ts are broken by value). The sorted table is also
 * checked against the generic path. */
static void test_row_order_free(void **state) {
    (void)state;
    static const Keys kinds[] = {DENSE, STRINGS};
    static const Order orders[] = {AS_DRAWN, BY_KEY_TS, REVERSED};
    for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
        CnConf *c = gb_conf("amount", "", "");
        Queries q;
        make_queries(&q, 8000, 250, kinds[k], 555 + k);
        CnBatch *first = NULL;
        for (size_t o = 0; o < sizeof orders / sizeof orders[0]; o++) {
            Env e;
            env_open_ordered(&e, 16000, 250, kinds[k], 808 + k, orders[o]);
            CnEngGroupBy *g = NULL;
            uint8_t *hit = NULL;
            CnBatch *out = fast_values(e.cat, c->group_by, DAY0 + 1, DAY0 + N_DAYS - 2, &q, &g, &hit);
            if (orders[o] == BY_KEY_TS) assert_true(compare(e.cat, c->group_by, INT32_MIN, INT32_MAX, &q) > 0);
            if (first) {
                assert_batches_equal(first, out);
                cn_col_batch_free(out);
            } else {
                first = out;
            }
            cn_eng_gb_free(g);
            cn_free(hit);
            env_close(&e);
        }
        cn_col_batch_free(first);
        queries_fini(&q);
        cn_conf_free(c);
    }
}

/* Table raw.<name> of n on-time rows (as draw_events with seed), when `sorted` sorted by
 * (key, ts) and declaring that sort order (user, ts), in `commits` commits (row i in
 * commit i % commits: each file is still sorted). swaps > 0: that many pairs of rows
 * trade places first, so the rows break the declared order. */
static void write_sorted(CnIceCatalog *cat, const char *name, uint32_t n, uint32_t n_keys, Keys kk, uint64_t seed,
                         bool sorted, uint32_t commits, uint32_t swaps) {
    CnErr err = CN_ERR_INIT;
    CnSchema *s = NULL;
    CnBatch *drawn = draw_events(n, n_keys, kk, seed, true, &s);
    CnBatch *b = reorder(drawn, sorted ? BY_KEY_TS : AS_DRAWN);
    uint32_t *sel = cn_malloc(((size_t)n + 1) * sizeof *sel);
    assert_non_null(sel);
    for (uint32_t i = 0; i < n; i++) sel[i] = i;
    uint64_t x = seed ^ 0x5157;
    for (uint32_t k = 0; k < swaps; k++) {
        uint32_t i = (uint32_t)(next(&x) % n), j = (uint32_t)(next(&x) % n), t = sel[i];
        sel[i] = sel[j], sel[j] = t;
    }
    static const char *const order[2] = {"user", "ts"};
    ASSERT_OK(cn_ice_table_create(cat, "raw", name, s, NULL, 0, &err), &err);
    if (sorted) ASSERT_OK(cn_ice_table_set_sort_order(cat, "raw", name, order, 2, &err), &err);
    uint32_t *part = cn_malloc(((size_t)n + 1) * sizeof *part);
    assert_non_null(part);
    for (uint32_t c = 0; c < commits; c++) {
        uint32_t m = 0;
        for (uint32_t i = c; i < n; i += commits) part[m++] = sel[i];
        CnBatch *one = NULL;
        ASSERT_OK(cn_col_batch_new(s, &one, &err), &err);
        ASSERT_OK(cn_col_batch_append_rows(one, b, part, m, &err), &err);
        append_commit(cat, name, one);
        cn_col_batch_free(one);
    }
    cn_free(part);
    cn_free(sel);
    cn_col_batch_free(drawn);
    cn_col_batch_free(b);
    cn_col_schema_free(s);
}

/* The fast path's values with its debug log line captured: which order it took
 * ("N runs in (key, ts) order merged, K keys sorted again" or "radix"). */
static CnBatch *fast_values_logged(CnIceCatalog *cat, const CnGroupBy *gb, const Queries *q, char *log, size_t len,
                                   CnEngGroupBy **g, uint8_t **hit) {
    CnTestCapture cap;
    cn_test_capture_begin(&cap);
    int level = cn_log_level();
    cn_log_set_level(CN_LOG_DEBUG);
    CnBatch *out = fast_values(cat, gb, DAY0 + 1, DAY0 + N_DAYS - 2, q, g, hit);
    cn_log_set_level(level);
    cn_test_capture_end(&cap, log, len);
    assert_non_null(strstr(log, "join fast path"));
    return out;
}

/* The GroupBy of gb_conf over table raw.<table> (SUM, COUNT, LAST windowed and an
 * unwindowed COUNT). */
static CnConf *gb_conf_on(const char *table) {
    char js[2048];
    snprintf(js, sizeof js,
             "{\"metaData\": {\"name\": \"t.s\", \"outputNamespace\": \"out\", \"team\": \"t\"},"
             " \"sources\": [{\"events\": {\"table\": \"raw.%s\", \"query\": {\"selects\": {\"user\": "
             "\"user\", \"amount\": \"amount\"}, \"timeColumn\": \"ts\"}}}], \"keyColumns\": [\"user\"],"
             " \"accuracy\": 0, \"aggregations\": ["
             "{\"inputColumn\": \"amount\", \"operation\": 7, \"windows\": " WINS "},"
             "{\"inputColumn\": \"amount\", \"operation\": 6, \"windows\": " WINS "},"
             "{\"inputColumn\": \"amount\", \"operation\": 3, \"windows\": " WINS "},"
             "{\"inputColumn\": \"amount\", \"operation\": 6}]}",
             table);
    CnConf *c = NULL;
    CnErr err = CN_ERR_INIT;
    ASSERT_OK(cn_conf_loadb("production/group_bys/t/s", js, strlen(js), CN_CONF_KIND_UNKNOWN, &c, &err), &err);
    return c;
}

/* Tables written sorted by (key, ts) with the order declared: the fast path merges the
 * files' runs (one commit: no key needs sorting again; two commits: each day's two
 * files overlap in ts, so keys are sorted again), for dense, sparse (hashed ids) and
 * string keys alike, and gives the generic path's values,
 * the same bytes as from the same rows stored as drawn, and the same for 1 and 3
 * threads. */
static void test_sorted_tables(void **state) {
    (void)state;
    ThreadsEnv keep = threads_keep();
    char log[4096];
    static const Keys kinds[] = {DENSE, SPARSE, STRINGS};
    static const struct { const char *name; bool sorted; uint32_t commits; } tabs[] = {
        {"d1", false, 1}, {"s1", true, 1}, {"s2", true, 2}};
    for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
        Queries q;
        make_queries(&q, 10000, 3000, kinds[k], 91 + k);
        Env e;
        env_open_ordered(&e, 10, 2, kinds[k], 1, AS_DRAWN); /* the catalog; raw.ev is not read */
        CnBatch *first = NULL;
        for (size_t t = 0; t < sizeof tabs / sizeof tabs[0]; t++) {
            /* 3000 keys over 2000 rows a day: many keys are missing from the first day's
             * file, so first-seen ids would cut runs everywhere (sparse and string keys
             * get ids in key order instead) */
            write_sorted(e.cat, tabs[t].name, 24000, 3000, kinds[k], 4000 + k, tabs[t].sorted, tabs[t].commits, 0);
            CnConf *c = gb_conf_on(tabs[t].name);
            const CnGroupBy *gb = c->group_by;
            assert_true(compare(e.cat, gb, DAY0 + 1, DAY0 + N_DAYS - 2, &q) > q.b->n_rows);
            CnBatch *out[2];
            CnEngGroupBy *g[2];
            uint8_t *hit[2];
            for (int i = 0; i < 2; i++) {
                setenv("CN_THREADS", i ? "3" : "1", 1);
                out[i] = fast_values_logged(e.cat, gb, &q, log, sizeof log, &g[i], &hit[i]);
                if (tabs[t].sorted) { /* ids follow key order: the runs are the files */
                    assert_non_null(strstr(log, "runs in (key, ts) order merged"));
                    if (tabs[t].commits == 1) assert_non_null(strstr(log, " 0 keys sorted again"));
                    else assert_null(strstr(log, " 0 keys sorted again"));
                    assert_null(strstr(log, "no declared order"));
                } else if (!tabs[t].sorted) {
                    assert_non_null(strstr(log, "(radix)"));
                }
            }
            assert_memory_equal(hit[0], hit[1], q.b->n_rows);
            assert_batches_equal(out[0], out[1]);
            if (first) assert_batches_equal(first, out[0]);
            for (int i = 0; i < 2; i++) {
                if (!first && !i) first = out[0];
                else cn_col_batch_free(out[i]);
                cn_eng_gb_free(g[i]);
                cn_free(hit[i]);
            }
            cn_conf_free(c);
        }
        cn_col_batch_free(first);
        queries_fini(&q);
        env_close(&e);
    }
    threads_restore(&keep);
}

/* A declared (key, ts) order the rows break must not change a value: rows as drawn
 * (radix sort), sorted rows with pairs swapped (more runs, keys sorted again), and rows
 * stored late or early (runs overlap in ts) all give the generic path's values. */
static void test_sorted_claim_broken(void **state) {
    (void)state;
    char log[4096];
    Env e;
    env_open_ordered(&e, 20000, 300, DENSE, 17, AS_DRAWN);
    static const char *const order[2] = {"user", "ts"};
    CnErr err = CN_ERR_INIT;
    ASSERT_OK(cn_ice_table_set_sort_order(e.cat, "raw", "ev", order, 2, &err), &err);
    write_sorted(e.cat, "s3", 20000, 300, DENSE, 18, true, 1, 40);
    CnConf *c = gb_conf("amount", "", "");
    Queries q;
    make_queries(&q, 8000, 300, DENSE, 19);
    /* as drawn, order declared */
    CnEngGroupBy *g = NULL;
    uint8_t *hit = NULL;
    CnBatch *out = fast_values_logged(e.cat, c->group_by, &q, log, sizeof log, &g, &hit);
    assert_non_null(strstr(log, "radix, declared (key, ts) order not kept"));
    assert_true(compare(e.cat, c->group_by, DAY0 + 1, DAY0 + N_DAYS - 2, &q) > q.b->n_rows);
    cn_col_batch_free(out), cn_eng_gb_free(g), cn_free(hit);
    cn_conf_free(c);
    c = gb_conf_on("s3"); /* sorted with 40 swapped pairs */
    out = fast_values_logged(e.cat, c->group_by, &q, log, sizeof log, &g, &hit);
    assert_non_null(strstr(log, "runs in (key, ts) order merged"));
    assert_null(strstr(log, " 0 keys sorted again"));
    assert_true(compare(e.cat, c->group_by, DAY0 + 1, DAY0 + N_DAYS - 2, &q) > q.b->n_rows);
    cn_col_batch_free(out), cn_eng_gb_free(g), cn_free(hit);
    cn_conf_free(c);
    queries_fini(&q);
    env_close(&e);
}

/* The fast path declines gb over the queries q: not taken, nothing out. */
static void assert_declined(CnIceCatalog *cat, const CnGroupBy *gb, const Queries *q) {
    CnErr err = CN_ERR_INIT;
    CnEngOpts o;
    memset(&o, 0, sizeof o);
    CnEngGroupBy *g = NULL;
    CnBatch *vals = NULL;
    uint8_t *hit = cn_calloc(q->b->n_rows + 1, 1);
    int lcol = 0;
    bool taken = true;
    ASSERT_OK(cn_eng__jscan_temporal(cat, gb, INT32_MIN, INT32_MAX, &o, q->b, &lcol, 1, q->ts, q->pday, &g, &vals, hit,
                                     &taken, &err),
              &err);
    assert_false(taken);
    assert_null(g);
    assert_null(vals);
    cn_free(hit);
}

/* Table raw.<name> {user, ts, amount int64, ds} of n rows, every one stored in partition
 * day, committed at once. */
static void write_rows(CnIceCatalog *cat, const char *name, const int64_t *user, const int64_t *ts,
                       const int64_t *amount, uint32_t n, int32_t day) {
    CnErr err = CN_ERR_INIT;
    CnSchema *s = NULL;
    CnBatch *b = NULL;
    ASSERT_OK(cn_col_schema_new(&s), &err);
    ASSERT_OK(cn_col_schema_add(s, "user", cn_col_type_prim(CN_COL_INT64), true, CN_COL_NO_ID, &err), &err);
    ASSERT_OK(cn_col_schema_add(s, "ts", cn_col_type_prim(CN_COL_INT64), true, CN_COL_NO_ID, &err), &err);
    ASSERT_OK(cn_col_schema_add(s, "amount", cn_col_type_prim(CN_COL_INT64), true, CN_COL_NO_ID, &err), &err);
    ASSERT_OK(cn_col_schema_add(s, "ds", cn_col_type_prim(CN_COL_STRING), true, CN_COL_NO_ID, &err), &err);
    ASSERT_OK(cn_col_batch_new(s, &b, &err), &err);
    char ds[11];
    cn_ds_format(day, ds);
    for (uint32_t i = 0; i < n; i++) {
        cn_col_vec_append_i64(&b->cols[0], user[i]);
        cn_col_vec_append_i64(&b->cols[1], ts[i]);
        cn_col_vec_append_i64(&b->cols[2], amount[i]);
        cn_col_vec_append_str(&b->cols[3], ds, 10);
    }
    ASSERT_OK(cn_col_batch_sync_rows(b, &err), &err);
    ASSERT_OK(cn_ice_table_create(cat, "raw", name, s, NULL, 0, &err), &err);
    append_commit(cat, name, b);
    cn_col_batch_free(b);
    cn_col_schema_free(s);
}

/* Queries {user, ts} of n left rows, each stored in its ts's day. */
static void hand_queries(Queries *q, const int64_t *user, const int64_t *ts, uint32_t n) {
    CnErr err = CN_ERR_INIT;
    make_queries(q, 0, 1, DENSE, 1);
    cn_free(q->ts), cn_free(q->pday);
    q->ts = cn_malloc((n + 1) * sizeof *q->ts), q->pday = cn_malloc((n + 1) * sizeof *q->pday);
    for (uint32_t i = 0; i < n; i++) {
        cn_col_vec_append_i64(&q->b->cols[0], user[i]);
        cn_col_vec_append_i64(&q->b->cols[1], q->ts[i] = ts[i]);
        q->pday[i] = (int32_t)cn_ms_to_days(ts[i]);
    }
    ASSERT_OK(cn_col_batch_sync_rows(q->b, &err), &err);
}

/* LAST and FIRST over rows tied in ts when the input has no null (no validity mask):
 * the tie gives the largest (LAST) or smallest (FIRST) value, and the scan of the tie
 * ends (it once looped for ever without a mask). Both paths agree. */
static void test_ties_without_nulls(void **state) {
    (void)state;
    Env e;
    env_open_ordered(&e, 10, 2, DENSE, 1, AS_DRAWN); /* the catalog */
    CnErr err = CN_ERR_INIT;
    int64_t t0 = (int64_t)(DAY0 + 2) * CN_MS_PER_DAY + 3600000;
    const int64_t users[5] = {1, 1, 1, 1, 1}, ts[5] = {t0 + 500, t0 + 500, t0 + 500, t0, t0}, vals[5] = {5, 9, 2, 7, 3};
    write_rows(e.cat, "tie", users, ts, vals, 5, DAY0 + 2);
    Queries q;
    const int64_t qu = 1, qt = t0 + 600;
    hand_queries(&q, &qu, &qt, 1);
    static const char js[] =
        "{\"metaData\": {\"name\": \"t.tie\", \"outputNamespace\": \"out\", \"team\": \"t\"},"
        " \"sources\": [{\"events\": {\"table\": \"raw.tie\", \"query\": {\"selects\": {\"user\": \"user\","
        " \"amount\": \"amount\"}, \"timeColumn\": \"ts\"}}}], \"keyColumns\": [\"user\"], \"accuracy\": 0,"
        " \"aggregations\": [{\"inputColumn\": \"amount\", \"operation\": 3, \"windows\": " WINS "},"
        " {\"inputColumn\": \"amount\", \"operation\": 2, \"windows\": " WINS "}]}";
    CnConf *c = NULL;
    ASSERT_OK(cn_conf_loadb("production/group_bys/t/tie", js, sizeof js - 1, CN_CONF_KIND_UNKNOWN, &c, &err), &err);
    assert_int_equal(compare(e.cat, c->group_by, INT32_MIN, INT32_MAX, &q), 6);
    CnEngGroupBy *g = NULL;
    uint8_t *hit = NULL;
    CnBatch *out = fast_values(e.cat, c->group_by, INT32_MIN, INT32_MAX, &q, &g, &hit);
    for (uint32_t col = 0; col < 6; col++) /* LAST 1h/1d/7d, then FIRST */
        assert_int_equal(((const int64_t *)out->cols[col].values)[0], col < 3 ? 9 : 3);
    cn_col_batch_free(out), cn_eng_gb_free(g), cn_free(hit);
    cn_conf_free(c);
    queries_fini(&q);
    env_close(&e);
}

/* Rows outside every window of their key's queries are left out of the radix sort
 * (the debug line counts them) and the values stay the generic path's: windowed parts
 * only (an unwindowed one sees all history), two queries a key on average, rows on the
 * 15-minute grid, so that some lie exactly on a window start (floor(q - W, H)) and are
 * kept. Fails when a row some window sees is left out. */
static void test_rows_outside_windows(void **state) {
    (void)state;
    static const char js[] =
        "{\"metaData\": {\"name\": \"t.win\", \"outputNamespace\": \"out\", \"team\": \"t\"},"
        " \"sources\": [{\"events\": {\"table\": \"raw.w1\", \"query\": {\"selects\": {\"user\": \"user\","
        " \"amount\": \"amount\", \"small\": \"small\"}, \"timeColumn\": \"ts\"}}}], \"keyColumns\": [\"user\"],"
        " \"accuracy\": 0, \"aggregations\": [{\"inputColumn\": \"amount\", \"operation\": 6, \"windows\": " WINS "},"
        " {\"inputColumn\": \"amount\", \"operation\": 7, \"windows\": " WINS "},"
        " {\"inputColumn\": \"amount\", \"operation\": 3, \"windows\": " WINS "},"
        " {\"inputColumn\": \"amount\", \"operation\": 2, \"windows\": " WINS "},"
        " {\"inputColumn\": \"small\", \"operation\": 7, \"windows\": " WINS "}]}";
    CnErr err = CN_ERR_INIT;
    CnConf *c = NULL;
    ASSERT_OK(cn_conf_loadb("production/group_bys/t/win", js, strlen(js), CN_CONF_KIND_UNKNOWN, &c, &err), &err);
    Env e;
    env_open_ordered(&e, 10, 2, DENSE, 1, AS_DRAWN); /* the catalog; raw.ev is not read */
    write_sorted(e.cat, "w1", 20000, 300, DENSE, 321, false, 1, 0);
    Queries q;
    make_queries(&q, 600, 300, DENSE, 322);
    assert_true(compare(e.cat, c->group_by, DAY0 + 1, DAY0 + N_DAYS - 2, &q) > q.b->n_rows);
    char log[4096];
    CnEngGroupBy *g = NULL;
    uint8_t *hit = NULL;
    CnBatch *out = fast_values_logged(e.cat, c->group_by, &q, log, sizeof log, &g, &hit);
    const char *at = strstr(log, "(radix), ");
    unsigned n_out = 0;
    assert_non_null(at);
    assert_int_equal(sscanf(at + 9, "%u rows outside", &n_out), 1);
    assert_true(n_out > 1000 && n_out < 20000);
    cn_col_batch_free(out), cn_eng_gb_free(g), cn_free(hit);
    queries_fini(&q);
    env_close(&e);
    cn_conf_free(c);
}

/* Key ids and ts share one 64-bit word in the sort records: a ts range that leaves no
 * room for the key ids is declined (the generic path answers), one that just fits is
 * taken and gives the generic path's values. Three keys (two bits of id) and one row far
 * before the others: 2^60 ms before them fits (61 + 2 bits of 63), 2^62 does not. The
 * far row is stored with the others (days late) and an unwindowed FIRST must find it. */
static void test_wide_ts_range(void **state) {
    (void)state;
    static const char js[] =
        "{\"metaData\": {\"name\": \"t.wide\", \"outputNamespace\": \"out\", \"team\": \"t\"},"
        " \"sources\": [{\"events\": {\"table\": \"raw.wide\", \"query\": {\"selects\": {\"user\": \"user\","
        " \"amount\": \"amount\"}, \"timeColumn\": \"ts\"}}}], \"keyColumns\": [\"user\"], \"accuracy\": 0,"
        " \"aggregations\": [{\"inputColumn\": \"amount\", \"operation\": 7},"
        " {\"inputColumn\": \"amount\", \"operation\": 2},"
        " {\"inputColumn\": \"amount\", \"operation\": 3, \"windows\": " WINS "}]}";
    CnErr err = CN_ERR_INIT;
    CnConf *c = NULL;
    ASSERT_OK(cn_conf_loadb("production/group_bys/t/wide", js, sizeof js - 1, CN_CONF_KIND_UNKNOWN, &c, &err), &err);
    int64_t t0 = (int64_t)(DAY0 + 2) * CN_MS_PER_DAY + 3600000;
    for (int far = 60; far <= 62; far += 2) {
        Env e;
        env_open_ordered(&e, 10, 2, DENSE, 1, AS_DRAWN); /* the catalog */
        int64_t users[9], ts[9], amounts[9], qu[6], qt[6];
        for (int i = 0; i < 9; i++) {
            users[i] = 1 + i % 3;
            ts[i] = i == 4 ? t0 - ((int64_t)1 << far) : t0 + 60000 * i;
            amounts[i] = 10 + i;
        }
        write_rows(e.cat, "wide", users, ts, amounts, 9, DAY0 + 2);
        for (int i = 0; i < 6; i++) qu[i] = 1 + i % 3, qt[i] = t0 + (i < 3 ? 30000 : 2 * CN_MS_PER_DAY);
        Queries q;
        hand_queries(&q, qu, qt, 6);
        if (far == 60) {
            assert_true(compare(e.cat, c->group_by, INT32_MIN, INT32_MAX, &q) > 6);
            CnEngGroupBy *g = NULL;
            uint8_t *hit = NULL;
            CnBatch *out = fast_values(e.cat, c->group_by, INT32_MIN, INT32_MAX, &q, &g, &hit);
            /* key 2's FIRST is the far row's amount (14), at both query times */
            assert_int_equal(((const int64_t *)out->cols[1].values)[1], 14);
            assert_int_equal(((const int64_t *)out->cols[1].values)[4], 14);
            cn_col_batch_free(out), cn_eng_gb_free(g), cn_free(hit);
        } else {
            assert_declined(e.cat, c->group_by, &q);
        }
        queries_fini(&q);
        env_close(&e);
    }
    cn_conf_free(c);
}

/* Outside the subset: declined, nothing out. */
static void test_declines(void **state) {
    (void)state;
    Env e;
    env_open(&e, 500, 10, DENSE, 5);
    Queries q;
    make_queries(&q, 100, 10, DENSE, 6);
    static const struct { const char *amount, *where, *extra; } cases[] = {
        {"amount", "", ", {\"inputColumn\": \"amount\", \"operation\": 8}"}, /* AVERAGE */
        {"amount", "\"wheres\": [\"amount > 0\"],", ""},
        {"amount + 1", "", ""},
        {"AMOUNT", "", ""}, /* a name the binder matches only case-insensitively */
    };
    for (size_t i = 0; i <= sizeof cases / sizeof cases[0]; i++) {
        CnConf *c = NULL;
        if (i < sizeof cases / sizeof cases[0]) {
            c = gb_conf(cases[i].amount, cases[i].where, cases[i].extra);
        } else { /* windowed parts only, and the table has rows stored before their ts day */
            static const char js[] =
                "{\"metaData\": {\"name\": \"t.w\", \"outputNamespace\": \"out\", \"team\": \"t\"},"
                " \"sources\": [{\"events\": {\"table\": \"raw.ev\", \"query\": {\"selects\": {\"user\": \"user\","
                " \"amount\": \"amount\"}, \"timeColumn\": \"ts\"}}}], \"keyColumns\": [\"user\"], \"accuracy\": 0,"
                " \"aggregations\": [{\"inputColumn\": \"amount\", \"operation\": 7, \"windows\": " WINS "}]}";
            CnErr e2 = CN_ERR_INIT;
            ASSERT_OK(cn_conf_loadb("production/group_bys/t/w", js, sizeof js - 1, CN_CONF_KIND_UNKNOWN, &c, &e2), &e2);
        }
        assert_declined(e.cat, c->group_by, &q);
        cn_conf_free(c);
    }
    queries_fini(&q);
    env_close(&e);
}

CN_TEST_MAIN(cmocka_unit_test(test_random_dense_keys), cmocka_unit_test(test_random_sparse_keys),
             cmocka_unit_test(test_random_string_keys), cmocka_unit_test(test_threads_identical),
             cmocka_unit_test(test_row_order_free), cmocka_unit_test(test_sorted_tables),
             cmocka_unit_test(test_sorted_claim_broken), cmocka_unit_test(test_ties_without_nulls),
             cmocka_unit_test(test_random_carried_value), cmocka_unit_test(test_random_one_counted_input),
             cmocka_unit_test(test_rows_outside_windows), cmocka_unit_test(test_wide_ts_range),
             cmocka_unit_test(test_declines), cmocka_unit_test(test_two_sources))
