/* test_base.c: arena, buffers, errors, dates, hashing, atomic file writes. */
#include "cn_test.h"

#include <unistd.h>

#include "base/alloc.h"
#include "base/arena.h"
#include "base/date.h"
#include "base/fs.h"
#include "base/hash.h"
#include "base/json.h"
#include "base/str.h"

static void arena_alignment_and_reset(void **state) {
    (void)state;
    CnArena a;
    cn_arena_init(&a, 256);
    for (int i = 0; i < 1000; i++) {
        char *p = cn_arena_alloc(&a, (size_t)(i % 37) + 1);
        assert_non_null(p);
        assert_int_equal((uintptr_t)p % 16, 0);
        memset(p, 0xab, (size_t)(i % 37) + 1);
    }
    char *big = cn_arena_alloc(&a, 10000);
    assert_non_null(big);
    memset(big, 1, 10000);
    assert_string_equal(cn_arena_printf(&a, "%s-%d", "x", 42), "x-42");
    cn_arena_reset(&a);
    assert_int_equal(a.used_total, 0);
    assert_non_null(cn_arena_strdup(&a, "after reset"));
    cn_arena_fini(&a);
}

static void buf_printf_grows(void **state) {
    (void)state;
    CnBuf b = CN_BUF_INIT;
    for (int i = 0; i < 1000; i++) assert_int_equal(cn_buf_printf(&b, "%d,", i), 0);
    assert_true(cn_str_starts_with(b.data, "0,1,2,"));
    assert_true(cn_str_ends_with(b.data, "998,999,"));
    char *s = cn_buf_take(&b);
    assert_null(b.data);
    cn_free(s);
}

static void sanitize_matches_chronon(void **state) {
    (void)state;
    char s[] = "quickstart.purchases-v1/x y";
    cn_str_sanitize(s);
    assert_string_equal(s, "quickstart_purchases_v1_x_y");
}

static void err_first_error_sticks(void **state) {
    (void)state;
    CnErr err = CN_ERR_INIT;
    assert_int_equal(cn_err_set(&err, CN_ENOTFOUND, "table %s", "a.b"), CN_ENOTFOUND);
    cn_err_set(&err, CN_EIO, "later");
    assert_int_equal(err.code, CN_ENOTFOUND);
    cn_err_ctx(&err, CN_ENOTFOUND, "while planning %s", "x");
    assert_string_equal(cn_err_msg(&err), "while planning x: table a.b");
    assert_string_equal(chronon_err_name(CN_ENOTFOUND), "CHRONON_ENOTFOUND");
    assert_string_equal(chronon_strerror(CN_ECORRUPT), "corrupt or malformed data");
}

static void ds_roundtrip_and_validation(void **state) {
    (void)state;
    int64_t d;
    assert_int_equal(cn_ds_parse("1970-01-01", &d), 0);
    assert_int_equal(d, 0);
    assert_int_equal(cn_ds_parse("2023-12-01", &d), 0);
    assert_int_equal(d, 19692);
    char out[11];
    for (int64_t x = -719162; x < 2932000; x += 997) /* years 1..9999 */ {
        cn_ds_format(x, out);
        int64_t back;
        assert_int_equal(cn_ds_parse(out, &back), 0);
        assert_int_equal(back, x);
    }
    assert_int_not_equal(cn_ds_parse("2023-02-29", &d), 0);
    assert_int_equal(cn_ds_parse("2024-02-29", &d), 0);
    assert_int_not_equal(cn_ds_parse("2023-13-01", &d), 0);
    assert_int_not_equal(cn_ds_parse("2023-12-1", &d), 0);
    assert_int_not_equal(cn_ds_parse("2023-12-011", &d), 0);
    char ds[11];
    assert_int_equal(cn_ds_parse_n("2024-02-29T00", 10, ds, &d), 0);
    assert_string_equal(ds, "2024-02-29");
    assert_int_not_equal(cn_ds_parse_n("2024-02-29", 9, ds, &d), 0);
    assert_int_not_equal(cn_ds_parse_n("2023-02-29", 10, ds, &d), 0);
    cn_ms_to_ds(1701378787000, out);
    assert_string_equal(out, "2023-11-30");
    cn_ms_to_ds(-1, out);
    assert_string_equal(out, "1969-12-31");
    assert_int_equal(cn_ds_add("2023-12-31", 1, out), 0);
    assert_string_equal(out, "2024-01-01");
}

static void hash_is_stable(void **state) {
    (void)state;
    /* the value is part of the on-disk/rank contract: it must never change */
    uint64_t h1 = cn_hash_bytes("user_1", 6, 0);
    assert_int_equal(h1, cn_hash_bytes("user_1", 6, 0));
    assert_int_not_equal(h1, cn_hash_bytes("user_2", 6, 0));
    assert_int_not_equal(cn_hash_bytes("", 0, 0), cn_hash_bytes("", 0, 1));
}

static void fs_atomic_write_and_errors(void **state) {
    (void)state;
    char dir[] = "/tmp/cn_test_fsXXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[256];
    snprintf(path, sizeof path, "%s/a/b/c.json", dir);
    CnErr err = CN_ERR_INIT;
    char sub[256];
    snprintf(sub, sizeof sub, "%s/a/b", dir);
    ASSERT_OK(cn_fs_mkdirs(sub, &err), &err);
    ASSERT_OK(cn_fs_write_atomic(path, "{\"a\": [1,", 9, &err), &err);
    json_t *j = NULL;
    int rc = cn_json_load_file(path, &j, &err);
    ASSERT_ERR(rc, CN_ECORRUPT, &err);
    ASSERT_CONTAINS(cn_err_msg(&err), path);
    ASSERT_CONTAINS(cn_err_msg(&err), ":1:");
    cn_err_clear(&err);
    snprintf(sub, sizeof sub, "%s/missing.json", dir);
    ASSERT_ERR(cn_json_load_file(sub, &j, &err), CN_ENOTFOUND, &err);
    ASSERT_CONTAINS(cn_err_msg(&err), "missing.json");
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

static void alloc_fault_injection(void **state) {
    (void)state;
    setenv("CN_TEST_FAIL_ALLOC_AFTER", "0", 1);
    cn_alloc_reset_fault();
    void *p = cn_malloc(10);
    unsetenv("CN_TEST_FAIL_ALLOC_AFTER");
    cn_alloc_reset_fault();
    assert_null(p);
    CnBuf b = CN_BUF_INIT;
    assert_int_equal(cn_buf_puts(&b, "ok"), 0);
    cn_buf_fini(&b);
}

CN_TEST_MAIN(cmocka_unit_test(arena_alignment_and_reset), cmocka_unit_test(buf_printf_grows),
             cmocka_unit_test(sanitize_matches_chronon), cmocka_unit_test(err_first_error_sticks),
             cmocka_unit_test(ds_roundtrip_and_validation), cmocka_unit_test(hash_is_stable),
             cmocka_unit_test(fs_atomic_write_and_errors), cmocka_unit_test(alloc_fault_injection))
