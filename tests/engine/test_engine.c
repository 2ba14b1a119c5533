/* test_engine.c: unit tests of engine internals: the key table (encoded key bytes ->
 * dense id, eng_int.h): many keys with probe collisions, stable ids, null keys. */
#include "cn_test.h"

#include <stdio.h>
#include <string.h>

#include "base/alloc.h"
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

CN_TEST_MAIN(cmocka_unit_test(test_keys_many), cmocka_unit_test(test_keys_nulls))
