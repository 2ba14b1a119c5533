/* test_sweep.c: the radix sort behind the join's sorted sweep (sweep.h): random rows
 * sorted by (key, ts) equal a stable comparison sort, for ts spans that let key and ts
 * share one 64-bit sort key and for spans that do not (negative and huge ts), with a
 * subset of rows selected. */
#include "cn_test.h"

#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "engine/sweep.h"

typedef struct Ref {
    uint32_t key;
    int64_t ts;
    uint32_t row;
} Ref;

static int ref_cmp(const void *a, const void *b) {
    const Ref *x = a, *y = b;
    if (x->key != y->key) return x->key < y->key ? -1 : 1;
    if (x->ts != y->ts) return x->ts < y->ts ? -1 : 1;
    return x->row < y->row ? -1 : x->row > y->row; /* stable: input order */
}

static uint64_t next(uint64_t *s) {
    *s ^= *s << 13, *s ^= *s >> 7, *s ^= *s << 17;
    return *s;
}

/* n rows over n_keys keys, ts uniform in [t0, t0 + span), every third row selected. */
static void check_sort(uint32_t n, uint32_t n_keys, int64_t t0, uint64_t span, uint64_t seed) {
    CnErr err = CN_ERR_INIT;
    uint32_t *key = cn_malloc(n * sizeof *key), *idx = cn_malloc(n * sizeof *idx), *out = NULL;
    int64_t *ts = cn_malloc(n * sizeof *ts);
    Ref *ref = cn_malloc(n * sizeof *ref);
    assert_non_null(key), assert_non_null(idx), assert_non_null(ts), assert_non_null(ref);
    uint32_t m = 0;
    for (uint32_t r = 0; r < n; r++) {
        key[r] = (uint32_t)(next(&seed) % n_keys);
        ts[r] = t0 + (int64_t)(span ? next(&seed) % span : 0);
        if (r % 7 == 3 && r) ts[r] = ts[r - 1], key[r] = key[r - 1]; /* ties */
        if (r % 3 != 1) {
            ref[m] = (Ref){key[r], ts[r], r};
            idx[m++] = r;
        }
    }
    ASSERT_OK(cn_eng__sort_key_ts(key, ts, n_keys, idx, m, &out, &err), &err);
    qsort(ref, m, sizeof *ref, ref_cmp);
    for (uint32_t i = 0; i < m; i++) assert_int_equal(out[i], ref[i].row);
    cn_free(out);
    cn_free(key);
    cn_free(idx);
    cn_free(ts);
    cn_free(ref);
}

static void test_sort_fused_key_and_ts(void **state) {
    (void)state;
    check_sort(50000, 1000, INT64_C(1700000000000), UINT64_C(30) * 86400000, 1);
    check_sort(3000, 1, INT64_C(1700000000000), 1000, 2); /* one key */
    check_sort(3000, 7, 5, 0, 3);                          /* one ts */
}

static void test_sort_wide_ts_and_negative(void **state) {
    (void)state;
    check_sort(40000, 5000, INT64_MIN / 4, UINT64_C(1) << 62, 4); /* no room for the key */
    check_sort(20000, 300, -INT64_C(86400000) * 400, UINT64_C(86400000) * 800, 5);
}

static void test_sort_empty(void **state) {
    (void)state;
    CnErr err = CN_ERR_INIT;
    uint32_t *out = NULL, key = 0;
    int64_t ts = 0;
    ASSERT_OK(cn_eng__sort_key_ts(&key, &ts, 1, NULL, 0, &out, &err), &err);
    assert_non_null(out);
    cn_free(out);
}

CN_TEST_MAIN(cmocka_unit_test(test_sort_fused_key_and_ts), cmocka_unit_test(test_sort_wide_ts_and_negative),
             cmocka_unit_test(test_sort_empty))
