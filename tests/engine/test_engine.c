/* test_engine.c: unit tests of engine internals: the key table (encoded key bytes ->
 * dense id, eng_int.h): many keys with probe collisions, stable ids, null keys; the
 * loader's fast lookup of a single long key (same ids as the key table); the
 * partitions to compute (compute.md section 5: holes, step days, run-first-hole); and
 * the temporal API cn_eng_gb_values_at on a tiny table (compute.md Example 2.1). */
#include "cn_test.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/date.h"
#include "base/str.h"
#include "engine/eng_int.h"

/* Two key columns (string, int64) in a batch of n rows: row r has ("k<r % m>", r % m),
 * so every key appears n / m times. */
static CnBatch *key_rows(CnSchema **sch, uint32_t n, uint32_t m, CnErr *err) {
    CnBatch *b = NULL;
    ASSERT_OK(cn_col_schema_new(sch), err);
    ASSERT_OK(cn_col_schema_add(*sch, "s", cn_col_type_prim(CN_COL_STRING), true, CN_COL_NO_ID, err), err);
    ASSERT_OK(cn_col_schema_add(*sch, "i", cn_col_type_prim(CN_COL_INT64), true, CN_COL_NO_ID, err), err);
    ASSERT_OK(cn_col_batch_new(*sch, &b, err), err);
    for (uint32_t r = 0; r < n; r++) {
        char s[32];
        int len = snprintf(s, sizeof s, "k%u", r % m);
        assert_int_equal(cn_col_vec_append_str(&b->cols[0], s, (size_t)len), 0);
        assert_int_equal(cn_col_vec_append_i64(&b->cols[1], (int64_t)(r % m)), 0);
    }
    ASSERT_OK(cn_col_batch_sync_rows(b, err), err);
    return b;
}

static void keys_fini(CnEngKeys *k) {
    cn_free(k->slots);
    cn_free(k->hash);
    cn_free(k->off);
    cn_buf_fini(&k->bytes);
    cn_col_batch_free(k->vals);
}

/* 60000 distinct keys, each interned 3 times: the table grows several times (probe
 * chains across the wrap-around happen at load 1/2), ids stay dense and stable, and
 * the stored key values of id x are those of the first row with that key. */
static void test_keys_many(void **state) {
    (void)state;
    CnErr err = CN_ERR_INIT;
    const uint32_t m = 60000, n = 3 * m;
    CnSchema *sch = NULL;
    CnBatch *b = key_rows(&sch, n, m, &err);
    CnEngKeys k;
    memset(&k, 0, sizeof k);
    ASSERT_OK(cn_col_batch_new(sch, &k.vals, &err), &err);
    int cols[2] = {0, 1};
    CnBuf kb = CN_BUF_INIT;
    for (uint32_t r = 0; r < n; r++) {
        uint32_t id = UINT32_MAX;
        assert_true(cn_eng__key_encode(b, cols, 2, r, &kb));
        ASSERT_OK(cn_eng__key_intern(&k, kb.data, kb.len, b, cols, r, &id, &err), &err);
        assert_int_equal(id, r % m); /* first seen order, the same id on every repeat */
    }
    assert_int_equal(k.n, m);
    assert_true(k.cap >= 2 * m && (k.cap & (k.cap - 1)) == 0);
    assert_int_equal(k.vals->n_rows, m);
    /* some probe chain is longer than one slot: collisions were resolved */
    uint32_t displaced = 0;
    for (uint32_t i = 0; i < k.cap; i++)
        if (k.slots[i] && ((uint32_t)k.hash[k.slots[i] - 1] & (k.cap - 1)) != i) displaced++;
    assert_true(displaced > 0);
    for (uint32_t id = 0; id < m; id += 997) {
        uint32_t len;
        const char *s = cn_col_vec_str(&k.vals->cols[0], id, &len);
        char want[32];
        snprintf(want, sizeof want, "k%u", id);
        assert_int_equal(len, strlen(want));
        assert_memory_equal(s, want, len);
        assert_int_equal(((const int64_t *)k.vals->cols[1].values)[id], (int64_t)id);
    }
    cn_buf_fini(&kb);
    keys_fini(&k);
    cn_col_batch_free(b);
    cn_col_schema_free(sch);
}

/* Null handling: a row whose keys are all null encodes to false (the engine drops it);
 * a partly null key is a key of its own, distinct from the empty string and from 0. */
static void test_keys_nulls(void **state) {
    (void)state;
    CnErr err = CN_ERR_INIT;
    CnSchema *sch = NULL;
    CnBatch *b = key_rows(&sch, 0, 1, &err);
    /* rows: (null,null) (null,0) ("",0) ("",null) (null,0) ("",0) */
    CnVec *s = &b->cols[0], *i = &b->cols[1];
    cn_col_vec_append_null(s), cn_col_vec_append_null(i);
    cn_col_vec_append_null(s), cn_col_vec_append_i64(i, 0);
    cn_col_vec_append_str(s, "", 0), cn_col_vec_append_i64(i, 0);
    cn_col_vec_append_str(s, "", 0), cn_col_vec_append_null(i);
    cn_col_vec_append_null(s), cn_col_vec_append_i64(i, 0);
    cn_col_vec_append_str(s, "", 0), cn_col_vec_append_i64(i, 0);
    ASSERT_OK(cn_col_batch_sync_rows(b, &err), &err);
    CnEngKeys k;
    memset(&k, 0, sizeof k);
    ASSERT_OK(cn_col_batch_new(sch, &k.vals, &err), &err);
    int cols[2] = {0, 1};
    CnBuf kb = CN_BUF_INIT;
    assert_false(cn_eng__key_encode(b, cols, 2, 0, &kb));
    uint32_t want[6] = {UINT32_MAX, 0, 1, 2, 0, 1};
    for (uint32_t r = 1; r < 6; r++) {
        uint32_t id = UINT32_MAX;
        assert_true(cn_eng__key_encode(b, cols, 2, r, &kb));
        ASSERT_OK(cn_eng__key_intern(&k, kb.data, kb.len, b, cols, r, &id, &err), &err);
        assert_int_equal(id, want[r]);
    }
    assert_int_equal(k.n, 3);
    assert_false(cn_col_vec_is_valid(&k.vals->cols[0], 0));
    assert_true(cn_col_vec_is_valid(&k.vals->cols[0], 1));
    assert_false(cn_col_vec_is_valid(&k.vals->cols[1], 2));
    /* a single null key column alone is dropped too */
    int one[1] = {0};
    assert_false(cn_eng__key_encode(b, one, 1, 1, &kb));
    assert_true(cn_eng__key_encode(b, one, 1, 2, &kb));
    cn_buf_fini(&kb);
    keys_fini(&k);
    cn_col_batch_free(b);
    cn_col_schema_free(sch);
}

/* ------------------------------------------------------------ partitions to compute */

static int32_t day(const char *ds) {
    int64_t d = 0;
    assert_int_equal(cn_ds_parse(ds, &d), 0);
    return (int32_t)d;
}

/* Chunks as "first..last first..last" text. */
static void plan(const char *s, const char *e, const int32_t *out, uint32_t n_out, const int32_t *src,
                 uint32_t n_src, int step, bool first_hole, char *buf, size_t len) {
    CnErr err = CN_ERR_INIT;
    int32_t *ch = NULL;
    uint32_t n = 0;
    ASSERT_OK(cn_eng__plan_chunks(day(s), day(e), out, n_out, src, n_src, step, first_hole, &ch, &n, &err), &err);
    size_t off = 0;
    buf[0] = 0;
    for (uint32_t i = 0; i < n && off < len; i++) {
        char a[11], b[11];
        cn_ds_format(ch[2 * i], a);
        cn_ds_format(ch[2 * i + 1], b);
        off += (size_t)snprintf(buf + off, len - off, "%s%s..%s", i ? " " : "", a, b);
    }
    cn_free(ch);
}

/* compute.md section 5 example: range 03-01..03-08, output {03-02, 03-03, 03-06}, no
 * source partition 03-05: holes [03-04] and [03-07..03-08]; --run-first-hole adds 03-01. */
static void test_plan_spec_example(void **state) {
    (void)state;
    int32_t out[3] = {day("2025-03-02"), day("2025-03-03"), day("2025-03-06")};
    int32_t src[7];
    const char *sd[7] = {"2025-03-01", "2025-03-02", "2025-03-03", "2025-03-04",
                         "2025-03-06", "2025-03-07", "2025-03-08"};
    for (int i = 0; i < 7; i++) src[i] = day(sd[i]);
    char buf[256];
    plan("2025-03-01", "2025-03-08", out, 3, src, 7, 30, false, buf, sizeof buf);
    assert_string_equal(buf, "2025-03-04..2025-03-04 2025-03-07..2025-03-08");
    plan("2025-03-01", "2025-03-08", out, 3, src, 7, 30, true, buf, sizeof buf);
    assert_string_equal(buf, "2025-03-01..2025-03-01 2025-03-04..2025-03-04 2025-03-07..2025-03-08");
    /* a range inside the existing output computes nothing */
    plan("2025-03-02", "2025-03-03", out, 3, src, 7, 30, false, buf, sizeof buf);
    assert_string_equal(buf, "");
}

/* Step days cut each hole on its own; no output at all: everything with a source. */
static void test_plan_step_days(void **state) {
    (void)state;
    int32_t src[12];
    uint32_t n = 0;
    for (int32_t d = day("2025-01-01"); d <= day("2025-01-13"); d++)
        if (d != day("2025-01-11")) src[n++] = d; /* hole break at 01-11 */
    char buf[512];
    plan("2025-01-01", "2025-01-13", NULL, 0, src, n, 3, false, buf, sizeof buf);
    assert_string_equal(buf, "2025-01-01..2025-01-03 2025-01-04..2025-01-06 2025-01-07..2025-01-09 "
                             "2025-01-10..2025-01-10 2025-01-12..2025-01-13");
    plan("2025-01-01", "2025-01-13", NULL, 0, src, n, 0, false, buf, sizeof buf); /* 0: 30 days */
    assert_string_equal(buf, "2025-01-01..2025-01-10 2025-01-12..2025-01-13");
    /* output on 01-05: earlier days are not candidates without run_first_hole */
    int32_t out[1] = {day("2025-01-05")};
    plan("2025-01-01", "2025-01-08", out, 1, src, n, 2, false, buf, sizeof buf);
    assert_string_equal(buf, "2025-01-06..2025-01-07 2025-01-08..2025-01-08");
    plan("2025-01-01", "2025-01-08", out, 1, src, n, 2, true, buf, sizeof buf);
    assert_string_equal(buf, "2025-01-01..2025-01-02 2025-01-03..2025-01-04 2025-01-06..2025-01-07 "
                             "2025-01-08..2025-01-08");
}

/* ------------------------------------------------------------ values_at */

/* A catalog in a new temporary directory (its path in dir; cn_test_rm_rf it after). */
static CnIceCatalog *tmp_catalog(char *dir, size_t cap) {
    CnErr err = CN_ERR_INIT;
    char wh[300], catu[320];
    const char *t = getenv("TMPDIR");
    snprintf(dir, cap, "%s/cn_eng_XXXXXX", t && *t ? t : "/tmp");
    assert_non_null(mkdtemp(dir));
    snprintf(wh, sizeof wh, "%s/wh", dir);
    snprintf(catu, sizeof catu, "sqlite:%s/catalog.db", dir);
    CnIceCatalog *cat = NULL;
    ASSERT_OK(cn_ice_catalog_open(wh, catu, &cat, &err), &err);
    return cat;
}

/* An empty batch of raw.ev rows: {key, ts long, amount long, ds string}. */
static CnBatch *ev_batch(const char *key, CnTypeId key_type, CnSchema **sch) {
    CnErr err = CN_ERR_INIT;
    CnBatch *b = NULL;
    ASSERT_OK(cn_col_schema_new(sch), &err);
    ASSERT_OK(cn_col_schema_add(*sch, key, cn_col_type_prim(key_type), true, CN_COL_NO_ID, &err), &err);
    ASSERT_OK(cn_col_schema_add(*sch, "ts", cn_col_type_prim(CN_COL_INT64), true, CN_COL_NO_ID, &err), &err);
    ASSERT_OK(cn_col_schema_add(*sch, "amount", cn_col_type_prim(CN_COL_INT64), true, CN_COL_NO_ID, &err), &err);
    ASSERT_OK(cn_col_schema_add(*sch, "ds", cn_col_type_prim(CN_COL_STRING), true, CN_COL_NO_ID, &err), &err);
    ASSERT_OK(cn_col_batch_new(*sch, &b, &err), &err);
    return b;
}

/* Creates raw.ev with schema sch and commits the rows of b into it. */
static void write_ev(CnIceCatalog *cat, const CnSchema *sch, CnBatch *b) {
    CnErr err = CN_ERR_INIT;
    ASSERT_OK(cn_col_batch_sync_rows(b, &err), &err);
    ASSERT_OK(cn_ice_table_create(cat, "raw", "ev", sch, NULL, 0, &err), &err);
    CnIceWrite *w = NULL;
    ASSERT_OK(cn_ice_write_begin(cat, "raw", "ev", CN_ICE_APPEND, &w, &err), &err);
    ASSERT_OK(cn_ice_write_batch(w, b, &err), &err);
    ASSERT_OK(cn_ice_write_commit(w, NULL, &err), &err);
    cn_ice_write_free(w);
}

/* One loader case: a catalog in a temporary directory and an empty raw.ev batch
 * (ev_setup), the GroupBy opened over the rows added to the batch (ev_open), all freed
 * and the directory removed by ev_teardown. */
typedef struct EvCase {
    char dir[256];
    CnIceCatalog *cat;
    CnSchema *sch;
    CnBatch *b; /* raw.ev rows: {key, ts, amount, ds} */
    CnConf *conf;
    CnEngGroupBy *g;
} EvCase;

static void ev_setup(EvCase *c, const char *key, CnTypeId key_type) {
    memset(c, 0, sizeof *c);
    c->cat = tmp_catalog(c->dir, sizeof c->dir);
    c->b = ev_batch(key, key_type, &c->sch);
}

/* Writes c->b as raw.ev and opens the GroupBy conf js (named path) with data up to ds. */
static CnEngGroupBy *ev_open(EvCase *c, const char *path, const char *js, size_t len, const char *ds) {
    CnErr err = CN_ERR_INIT;
    write_ev(c->cat, c->sch, c->b);
    ASSERT_OK(cn_conf_loadb(path, js, len, CN_CONF_KIND_UNKNOWN, &c->conf, &err), &err);
    assert_non_null(c->conf->group_by);
    ASSERT_OK(cn_eng_gb_open(c->cat, c->conf->group_by, NULL, ds, NULL, &c->g, &err), &err);
    return c->g;
}

static void ev_teardown(EvCase *c) {
    cn_eng_gb_free(c->g);
    cn_conf_free(c->conf);
    cn_col_batch_free(c->b);
    cn_col_schema_free(c->sch);
    cn_ice_catalog_close(c->cat);
    cn_test_rm_rf(c->dir);
}

static const char GB_JSON[] =
    "{\"metaData\": {\"name\": \"t.ex21\", \"outputNamespace\": \"out\", \"team\": \"t\"},"
    " \"sources\": [{\"events\": {\"table\": \"raw.ev\", \"query\": {"
    "   \"selects\": {\"user\": \"user\", \"amount\": \"amount\"}, \"timeColumn\": \"ts\"}}}],"
    " \"keyColumns\": [\"user\"], \"accuracy\": 0,"
    " \"aggregations\": ["
    "  {\"inputColumn\": \"amount\", \"operation\": 7, \"windows\": [{\"length\": 1, \"timeUnit\": 0},"
    "    {\"length\": 1, \"timeUnit\": 1}, {\"length\": 14, \"timeUnit\": 1}]},"
    "  {\"inputColumn\": \"amount\", \"operation\": 6, \"windows\": [{\"length\": 1, \"timeUnit\": 0},"
    "    {\"length\": 1, \"timeUnit\": 1}, {\"length\": 14, \"timeUnit\": 1}]},"
    "  {\"inputColumn\": \"amount\", \"operation\": 7},"
    "  {\"inputColumn\": \"amount\", \"operation\": 6}]}";

static int64_t value_of(const CnBatch *b, const char *col, uint32_t r, bool *valid) {
    int c = cn_col_schema_find(b->schema, col);
    assert_true(c >= 0);
    *valid = cn_col_vec_is_valid(&b->cols[c], r);
    return *valid ? ((const int64_t *)b->cols[c].values)[r] : 0;
}

/* compute.md Example 2.1: u1's events e1..e8, queried at q = 2025-01-20 14:23:10.000:
 * 1h 36/2, 1d 60/4, 14d 70/6, unwindowed 75/7 (e4 counts for 1d, e3 does not; e1 on
 * the 14d tail counts; e8 at q never counts). An unknown key and a null ts give nulls. */
static void test_values_at_example_2_1(void **state) {
    (void)state;
    CnErr err = CN_ERR_INIT;
    EvCase c;
    ev_setup(&c, "user", CN_COL_STRING);
    CnBatch *b = c.b;
    static const struct { int64_t ts, amount; } ev[] = {
        {1736121600000, 3},  /* e1 2025-01-06 00:00:00.000 */
        {1736121599999, 5},  /* e2 2025-01-05 23:59:59.999 */
        {1737295199999, 7},  /* e3 2025-01-19 13:59:59.999 */
        {1737295200000, 11}, /* e4 2025-01-19 14:00:00.000 */
        {1737379199999, 13}, /* e5 2025-01-20 13:19:59.999 */
        {1737379200000, 17}, /* e6 2025-01-20 13:20:00.000 */
        {1737382989999, 19}, /* e7 2025-01-20 14:23:09.999 */
        {1737382990000, 23}, /* e8 2025-01-20 14:23:10.000 */
    };
    for (size_t i = 0; i < sizeof ev / sizeof ev[0]; i++) {
        char ds[11];
        cn_ds_format((int32_t)cn_ms_to_days(ev[i].ts), ds);
        cn_col_vec_append_str(&b->cols[0], "u1", 2);
        cn_col_vec_append_i64(&b->cols[1], ev[i].ts);
        cn_col_vec_append_i64(&b->cols[2], ev[i].amount);
        cn_col_vec_append_str(&b->cols[3], ds, 10);
    }
    /* another key in the same days must not leak into u1's values */
    cn_col_vec_append_str(&b->cols[0], "u2", 2);
    cn_col_vec_append_i64(&b->cols[1], 1737380000000);
    cn_col_vec_append_i64(&b->cols[2], 1000);
    cn_col_vec_append_str(&b->cols[3], "2025-01-20", 10);
    CnEngGroupBy *g = ev_open(&c, "production/group_bys/t/ex21", GB_JSON, sizeof GB_JSON - 1, "2025-01-20");
    const CnSchema *ks = cn_eng_gb_key_schema(g);
    assert_int_equal(ks->n_fields, 1);
    assert_string_equal(ks->fields[0].name, "user");

    /* queries: (u1, q), (u9, q), (u1, null) */
    CnSchema *qs = NULL;
    CnBatch *q = NULL, *out = NULL;
    ASSERT_OK(cn_col_schema_new(&qs), &err);
    ASSERT_OK(cn_col_schema_add(qs, "user", cn_col_type_prim(CN_COL_STRING), true, CN_COL_NO_ID, &err), &err);
    ASSERT_OK(cn_col_schema_add(qs, "ts", cn_col_type_prim(CN_COL_INT64), true, CN_COL_NO_ID, &err), &err);
    ASSERT_OK(cn_col_batch_new(qs, &q, &err), &err);
    cn_col_vec_append_str(&q->cols[0], "u1", 2);
    cn_col_vec_append_i64(&q->cols[1], 1737382990000);
    cn_col_vec_append_str(&q->cols[0], "u9", 2);
    cn_col_vec_append_i64(&q->cols[1], 1737382990000);
    cn_col_vec_append_str(&q->cols[0], "u1", 2);
    cn_col_vec_append_null(&q->cols[1]);
    ASSERT_OK(cn_col_batch_sync_rows(q, &err), &err);
    ASSERT_OK(cn_col_batch_new(cn_eng_gb_value_schema(g), &out, &err), &err);
    ASSERT_OK(cn_eng_gb_values_at(g, q, out, &err), &err);
    assert_int_equal(out->n_rows, 3);
    static const struct { const char *col; int64_t want; } exp[] = {
        {"amount_sum_1h", 36},  {"amount_count_1h", 2},  {"amount_sum_1d", 60}, {"amount_count_1d", 4},
        {"amount_sum_14d", 70}, {"amount_count_14d", 6}, {"amount_sum", 75},    {"amount_count", 7},
    };
    assert_int_equal(out->n_cols, sizeof exp / sizeof exp[0]);
    for (size_t i = 0; i < sizeof exp / sizeof exp[0]; i++) {
        bool valid;
        int64_t v = value_of(out, exp[i].col, 0, &valid);
        if (!valid || v != exp[i].want) fail_msg("%s: got %lld (valid %d), want %lld", exp[i].col, (long long)v, valid,
                                                 (long long)exp[i].want);
        (void)value_of(out, exp[i].col, 1, &valid);
        if (strstr(exp[i].col, "sum")) assert_false(valid); /* unknown key: null sums */
        v = value_of(out, exp[i].col, 2, &valid);
        if (strstr(exp[i].col, "sum")) assert_false(valid); /* null ts: null */
    }
    cn_col_batch_free(out);
    cn_col_batch_free(q);
    cn_col_schema_free(qs);
    ev_teardown(&c);
}

/* Distinct key value i of test_loader_long_keys: negatives, values just above the
 * direct map's free size (hashed while few keys are known, in the map later), sparse
 * values near 1e15 and small ones, all distinct. */
static int64_t long_key(uint32_t i) {
    switch (i % 4) {
    case 0: return -(int64_t)i - 1;
    case 1: return (INT64_C(1) << 21) + i;
    case 2: return INT64_C(1000000000000000) + i;
    default: return (int64_t)i;
    }
}

/* The loader's lookup of a single long key (direct map for small non-negative values,
 * an inline hash table for the rest, load.c) gives the ids the key table would: ids in
 * order of first appearance across both structures, the same id on every repeat, null
 * keys dropped, and the key values of id i those of its first row. */
static void test_loader_long_keys(void **state) {
    (void)state;
    EvCase c;
    ev_setup(&c, "uid", CN_COL_INT64);
    CnBatch *b = c.b;
    const uint32_t d = 700000, n = d + d / 2; /* enough keys for the map to grow past 2^21 */
    uint32_t *want = cn_malloc(n * sizeof *want), n_want = 0;
    assert_non_null(want);
    for (uint32_t r = 0; r < n; r++) {
        uint32_t i = r < d ? r : (uint32_t)(((uint64_t)r * 7919) % d); /* first d rows: first sightings */
        if (r % 7 == 3) {
            cn_col_vec_append_null(&b->cols[0]);
        } else {
            cn_col_vec_append_i64(&b->cols[0], long_key(i));
            want[n_want++] = i;
        }
        cn_col_vec_append_i64(&b->cols[1], INT64_C(1736121600000) + r);
        cn_col_vec_append_i64(&b->cols[2], 1);
        cn_col_vec_append_str(&b->cols[3], "2025-01-06", 10);
    }
    static const char js[] =
        "{\"metaData\": {\"name\": \"t.lk\", \"outputNamespace\": \"out\", \"team\": \"t\"},"
        " \"sources\": [{\"events\": {\"table\": \"raw.ev\", \"query\": {"
        "   \"selects\": {\"uid\": \"uid\", \"amount\": \"amount\"}, \"timeColumn\": \"ts\"}}}],"
        " \"keyColumns\": [\"uid\"], \"aggregations\": [{\"inputColumn\": \"amount\", \"operation\": 7}]}";
    CnEngGroupBy *g = ev_open(&c, "production/group_bys/t/lk", js, sizeof js - 1, "2025-01-06");
    assert_int_equal(g->n_rows, n_want); /* null keys dropped */
    uint32_t *id_of = cn_malloc(d * sizeof *id_of);
    assert_non_null(id_of);
    memset(id_of, 0xff, d * sizeof *id_of);
    uint32_t next = 0;
    for (uint32_t r = 0; r < n_want; r++) {
        uint32_t i = want[r];
        if (id_of[i] == UINT32_MAX) id_of[i] = next++;
        if (g->key_id[r] != id_of[i])
            fail_msg("row %u (key %lld): id %u, want %u", r, (long long)long_key(i), g->key_id[r], id_of[i]);
    }
    assert_int_equal(next, g->keys.n);
    for (uint32_t i = 0; i < d; i++)
        if (id_of[i] != UINT32_MAX)
            assert_int_equal(((const int64_t *)g->keys.vals->cols[0].values)[id_of[i]], long_key(i));
    cn_free(id_of);
    cn_free(want);
    ev_teardown(&c);
}

CN_TEST_MAIN(cmocka_unit_test(test_keys_many), cmocka_unit_test(test_keys_nulls),
             cmocka_unit_test(test_plan_spec_example), cmocka_unit_test(test_plan_step_days),
             cmocka_unit_test(test_values_at_example_2_1), cmocka_unit_test(test_loader_long_keys))
