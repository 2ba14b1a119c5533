/* test_objstore.c: the object store's local backend, key and URI checks, the fault
 * hook and the S3 reply parsing helpers. S3 itself is exercised end to end against
 * real servers by e2e_s3.py. */
#include "cn_test.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/fs.h"
#include "io/objstore/obj_int.h"

static char *make_tmpdir(void) {
    char tmpl[] = "/tmp/cn_obj_XXXXXX";
    char *d = mkdtemp(tmpl);
    assert_non_null(d);
    return cn_strdup(d);
}

static void rm_rf(const char *path) {
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", path);
    assert_int_equal(system(cmd), 0);
}

static CnObjStore *open_store(const char *uri) {
    CnErr err = CN_ERR_INIT;
    CnObjStore *s = NULL;
    ASSERT_OK(cn_obj_open(uri, NULL, &s, &err), &err);
    return s;
}

static void local_put_get_roundtrip(void **state) {
    (void)state;
    char *dir = make_tmpdir();
    char uri[300];
    snprintf(uri, sizeof uri, "file://%s", dir);
    CnObjStore *s = open_store(uri);
    CnErr err = CN_ERR_INIT;
    const char payload[] = "hello\0world";
    ASSERT_OK(cn_obj_put(s, "ns.db/t/metadata/v1.json", payload, sizeof payload, &err), &err);
    CnBuf b = CN_BUF_INIT;
    ASSERT_OK(cn_obj_get(s, "ns.db/t/metadata/v1.json", &b, &err), &err);
    assert_int_equal(b.len, sizeof payload);
    assert_memory_equal(b.data, payload, sizeof payload);
    /* replace */
    ASSERT_OK(cn_obj_put(s, "ns.db/t/metadata/v1.json", "x", 1, &err), &err);
    ASSERT_OK(cn_obj_get(s, "ns.db/t/metadata/v1.json", &b, &err), &err);
    assert_int_equal(b.len, 1);
    assert_int_equal(b.data[0], 'x');
    /* the file really is at dir/key, and no temp file is left behind */
    char path[400];
    snprintf(path, sizeof path, "%s/ns.db/t/metadata", dir);
    DIR *d = opendir(path);
    assert_non_null(d);
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL)
        if (de->d_name[0] != '.' || strncmp(de->d_name, ".cntmp.", 7) == 0) {
            assert_string_equal(de->d_name, "v1.json");
            n++;
        }
    closedir(d);
    assert_int_equal(n, 1);
    /* a plain path opens the same store */
    CnObjStore *s2 = open_store(dir);
    uint64_t size = 0;
    ASSERT_OK(cn_obj_head(s2, "ns.db/t/metadata/v1.json", &size, &err), &err);
    assert_int_equal(size, 1);
    assert_string_equal(cn_obj_root(s2), uri);
    cn_obj_close(s2);
    cn_buf_fini(&b);
    cn_obj_close(s);
    rm_rf(dir);
    cn_free(dir);
}

static void local_get_range(void **state) {
    (void)state;
    char *dir = make_tmpdir();
    CnObjStore *s = open_store(dir);
    CnErr err = CN_ERR_INIT;
    char data[1000];
    for (int i = 0; i < 1000; i++) data[i] = (char)(i * 7);
    ASSERT_OK(cn_obj_put(s, "f.bin", data, sizeof data, &err), &err);
    CnBuf b = CN_BUF_INIT;
    ASSERT_OK(cn_obj_get_range(s, "f.bin", 100, 50, &b, &err), &err);
    assert_int_equal(b.len, 50);
    assert_memory_equal(b.data, data + 100, 50);
    /* a range running past the end is cut at the end */
    ASSERT_OK(cn_obj_get_range(s, "f.bin", 990, 50, &b, &err), &err);
    assert_int_equal(b.len, 10);
    assert_memory_equal(b.data, data + 990, 10);
    /* at or past the end: empty */
    ASSERT_OK(cn_obj_get_range(s, "f.bin", 1000, 5, &b, &err), &err);
    assert_int_equal(b.len, 0);
    cn_buf_fini(&b);
    cn_obj_close(s);
    rm_rf(dir);
    cn_free(dir);
}

static void local_missing_is_notfound(void **state) {
    (void)state;
    char *dir = make_tmpdir();
    CnObjStore *s = open_store(dir);
    CnErr err = CN_ERR_INIT;
    CnBuf b = CN_BUF_INIT;
    ASSERT_ERR(cn_obj_get(s, "nope/x.avro", &b, &err), CN_ENOTFOUND, &err);
    ASSERT_CONTAINS(cn_err_msg(&err), "nope/x.avro");
    cn_err_clear(&err);
    uint64_t size;
    ASSERT_ERR(cn_obj_head(s, "nope", &size, &err), CN_ENOTFOUND, &err);
    cn_err_clear(&err);
    /* deleting an absent key succeeds, as on S3 */
    ASSERT_OK(cn_obj_delete(s, "nope/x.avro", &err), &err);
    cn_buf_fini(&b);
    cn_obj_close(s);
    rm_rf(dir);
    cn_free(dir);
}

typedef struct Listed {
    char keys[64][64];
    uint64_t sizes[64];
    int n;
} Listed;

static int collect(void *ud, const CnObjEntry *e) {
    Listed *l = ud;
    if (l->n == 64) return 1;
    snprintf(l->keys[l->n], 64, "%s", e->key);
    l->sizes[l->n++] = e->size;
    return 0;
}

static void local_list_prefix_sorted(void **state) {
    (void)state;
    char *dir = make_tmpdir();
    CnObjStore *s = open_store(dir);
    CnErr err = CN_ERR_INIT;
    const char *keys[] = {"t/data/ds=2023-12-02/b.parquet", "t/data/ds=2023-12-01/a.parquet",
                          "t/metadata/v2.json", "t/metadata/v1.json", "u/x", "t/data2"};
    for (size_t i = 0; i < CN_ARRAY_LEN(keys); i++)
        ASSERT_OK(cn_obj_put(s, keys[i], "0123456789", i + 1, &err), &err);
    Listed l = {0};
    ASSERT_OK(cn_obj_list(s, "t/data", collect, &l, &err), &err);
    assert_int_equal(l.n, 3);
    assert_string_equal(l.keys[0], "t/data/ds=2023-12-01/a.parquet");
    assert_int_equal(l.sizes[0], 2);
    assert_string_equal(l.keys[1], "t/data/ds=2023-12-02/b.parquet");
    assert_string_equal(l.keys[2], "t/data2");
    memset(&l, 0, sizeof l);
    ASSERT_OK(cn_obj_list(s, "t/metadata/", collect, &l, &err), &err);
    assert_int_equal(l.n, 2);
    assert_string_equal(l.keys[0], "t/metadata/v1.json");
    assert_string_equal(l.keys[1], "t/metadata/v2.json");
    memset(&l, 0, sizeof l);
    ASSERT_OK(cn_obj_list(s, "", collect, &l, &err), &err);
    assert_int_equal(l.n, 6);
    assert_string_equal(l.keys[5], "u/x");
    /* after a delete the key is gone from the listing */
    ASSERT_OK(cn_obj_delete(s, "u/x", &err), &err);
    memset(&l, 0, sizeof l);
    ASSERT_OK(cn_obj_list(s, "u", collect, &l, &err), &err);
    assert_int_equal(l.n, 0);
    cn_obj_close(s);
    rm_rf(dir);
    cn_free(dir);
}

static void local_put_if_absent(void **state) {
    (void)state;
    char *dir = make_tmpdir();
    CnObjStore *s = open_store(dir);
    assert_true(cn_obj_has_put_if_absent(s));
    CnErr err = CN_ERR_INIT;
    ASSERT_OK(cn_obj_put_if_absent(s, "meta/v3.json", "first", 5, &err), &err);
    ASSERT_ERR(cn_obj_put_if_absent(s, "meta/v3.json", "second", 6, &err), CN_EEXISTS, &err);
    ASSERT_CONTAINS(cn_err_msg(&err), "already exists");
    CnBuf b = CN_BUF_INIT;
    cn_err_clear(&err);
    ASSERT_OK(cn_obj_get(s, "meta/v3.json", &b, &err), &err);
    assert_int_equal(b.len, 5);
    assert_memory_equal(b.data, "first", 5);
    /* the losing writer left no temp file behind */
    Listed l = {0};
    ASSERT_OK(cn_obj_list(s, "", collect, &l, &err), &err);
    assert_int_equal(l.n, 1);
    char path[300];
    snprintf(path, sizeof path, "%s/meta", dir);
    DIR *d = opendir(path);
    assert_non_null(d);
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) n += de->d_name[0] != '.' || strlen(de->d_name) > 2;
    closedir(d);
    assert_int_equal(n, 1);
    cn_buf_fini(&b);
    cn_obj_close(s);
    rm_rf(dir);
    cn_free(dir);
}

static void bad_keys_rejected(void **state) {
    (void)state;
    /* the store's root is a folder inside a fresh directory, so "../x" would land in
     * that directory, which nothing else writes to */
    char *dir = make_tmpdir(), root[300];
    snprintf(root, sizeof root, "%s/root", dir);
    assert_int_equal(mkdir(root, 0700), 0);
    CnObjStore *s = open_store(root);
    const char *bad[] = {"", "/abs", "a//b", "../x", "a/../b", "a/.", "a/", "x\ny"};
    for (size_t i = 0; i < CN_ARRAY_LEN(bad); i++) {
        CnErr err = CN_ERR_INIT;
        ASSERT_ERR(cn_obj_put(s, bad[i], "x", 1, &err), CN_EINVAL, &err);
    }
    /* nothing escaped the root */
    char path[300];
    snprintf(path, sizeof path, "%s/x", dir);
    assert_false(cn_fs_exists(path));
    cn_obj_close(s);
    rm_rf(dir);
    cn_free(dir);
}

static void bad_uris_rejected(void **state) {
    (void)state;
    const char *bad[] = {"", "gs://bucket/x", "file://relative/x", "s3://", "s3://ab",
                         "s3://Upper/x"};
    for (size_t i = 0; i < CN_ARRAY_LEN(bad); i++) {
        CnErr err = CN_ERR_INIT;
        CnObjStore *s = NULL;
        ASSERT_ERR(cn_obj_open(bad[i], NULL, &s, &err), CN_EINVAL, &err);
        assert_null(s);
        if (bad[i][0]) ASSERT_CONTAINS(cn_err_msg(&err), bad[i]);
    }
}

static void s3_uri_roots_and_keys(void **state) {
    (void)state;
    unsetenv("AWS_ENDPOINT_URL");
    CnObjStore *s = open_store("s3://warehouse-1/prod/tables/");
    assert_string_equal(cn_obj_root(s), "s3://warehouse-1/prod/tables");
    CnBuf b = CN_BUF_INIT;
    assert_int_equal(cn_obj_uri(s, "ns.db/t/metadata/v1.json", &b), 0);
    assert_string_equal(b.data, "s3://warehouse-1/prod/tables/ns.db/t/metadata/v1.json");
    const char *key = NULL;
    CnErr err = CN_ERR_INIT;
    ASSERT_OK(cn_obj_key_of(s, b.data, &key, &err), &err);
    assert_string_equal(key, "ns.db/t/metadata/v1.json");
    ASSERT_ERR(cn_obj_key_of(s, "s3://warehouse-1/prod/other/x", &key, &err), CN_EINVAL, &err);
    cn_buf_fini(&b);
    cn_obj_close(s);
}

static void s3_unreachable_endpoint_named(void **state) {
    (void)state;
    /* a port nothing listens on: the error names the operation and the endpoint */
    setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9", 1);
    CnObjOptions opt = {.max_retries = 2, .backoff_ms = 5, .connect_timeout_ms = 2000};
    CnErr err = CN_ERR_INIT;
    CnObjStore *s = NULL;
    ASSERT_OK(cn_obj_open("s3://bucket/p", &opt, &s, &err), &err);
    CnBuf b = CN_BUF_INIT;
    ASSERT_ERR(cn_obj_get(s, "k", &b, &err), CN_EIO, &err);
    ASSERT_CONTAINS(cn_err_msg(&err), "GET s3://bucket/p/k");
    ASSERT_CONTAINS(cn_err_msg(&err), "http://127.0.0.1:9");
    ASSERT_CONTAINS(cn_err_msg(&err), "after 3 attempts");
    unsetenv("AWS_ENDPOINT_URL");
    cn_buf_fini(&b);
    cn_obj_close(s);
}

static void fault_hook_fails_nth_put(void **state) {
    (void)state;
    char *dir = make_tmpdir();
    setenv("CN_TEST_OBJ_FAIL", "put:2", 1);
    CnObjStore *s = open_store(dir);
    unsetenv("CN_TEST_OBJ_FAIL");
    CnErr err = CN_ERR_INIT;
    ASSERT_OK(cn_obj_put(s, "a", "1", 1, &err), &err);
    ASSERT_ERR(cn_obj_put(s, "b", "2", 1, &err), CN_EIO, &err);
    ASSERT_CONTAINS(cn_err_msg(&err), "injected fault");
    cn_err_clear(&err);
    ASSERT_OK(cn_obj_put(s, "c", "3", 1, &err), &err);
    uint64_t size;
    ASSERT_ERR(cn_obj_head(s, "b", &size, &err), CN_ENOTFOUND, &err);
    cn_obj_close(s);
    rm_rf(dir);
    cn_free(dir);
}

static void fault_hook_crash_stops_before_write(void **state) {
    (void)state;
    char *dir = make_tmpdir();
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        setenv("CN_TEST_OBJ_FAIL", "any:2:crash", 1);
        CnErr err = CN_ERR_INIT;
        CnObjStore *s = NULL;
        if (cn_obj_open(dir, NULL, &s, &err) < 0) _exit(1);
        cn_obj_put(s, "first", "1", 1, &err);
        cn_obj_put(s, "second", "2", 1, &err);
        _exit(0);
    }
    int st = 0;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 86);
    CnObjStore *s = open_store(dir);
    CnErr err = CN_ERR_INIT;
    uint64_t size;
    ASSERT_OK(cn_obj_head(s, "first", &size, &err), &err);
    ASSERT_ERR(cn_obj_head(s, "second", &size, &err), CN_ENOTFOUND, &err);
    cn_obj_close(s);
    rm_rf(dir);
    cn_free(dir);
}

static void fault_hook_bad_spec_rejected(void **state) {
    (void)state;
    setenv("CN_TEST_OBJ_FAIL", "write:1", 1);
    CnErr err = CN_ERR_INIT;
    CnObjStore *s = NULL;
    ASSERT_ERR(cn_obj_open("/tmp", NULL, &s, &err), CN_EINVAL, &err);
    ASSERT_CONTAINS(cn_err_msg(&err), "CN_TEST_OBJ_FAIL");
    unsetenv("CN_TEST_OBJ_FAIL");
    assert_null(s);
}

static void xml_find_and_unescape(void **state) {
    (void)state;
    const char *x = "<R><Contents><Key>a&amp;b&lt;c&#47;&#x41;</Key><Size>12</Size></Contents>"
                    "<Contents><Key>z</Key><Size>3</Size></Contents><IsTruncated>false</IsTruncated></R>";
    size_t pos = 0, vl;
    const char *v;
    assert_true(cn_obj__xml_find(x, strlen(x), &pos, "Contents", &v, &vl));
    size_t ip = 0;
    const char *kv;
    size_t kl;
    assert_true(cn_obj__xml_find(v, vl, &ip, "Key", &kv, &kl));
    CnBuf b = CN_BUF_INIT;
    assert_int_equal(cn_obj__xml_unescape(kv, kl, &b), 0);
    assert_string_equal(b.data, "a&b<c/A");
    assert_true(cn_obj__xml_find(x, strlen(x), &pos, "Contents", &v, &vl));
    assert_false(cn_obj__xml_find(x, strlen(x), &pos, "Contents", &v, &vl));
    /* an unterminated element is not found (no read past the end) */
    pos = 0;
    assert_false(cn_obj__xml_find("<Key>abc", 8, &pos, "Key", &v, &vl));
    cn_buf_fini(&b);
}

CN_TEST_MAIN(cmocka_unit_test(local_put_get_roundtrip), cmocka_unit_test(local_get_range),
             cmocka_unit_test(local_missing_is_notfound),
             cmocka_unit_test(local_list_prefix_sorted), cmocka_unit_test(local_put_if_absent),
             cmocka_unit_test(bad_keys_rejected), cmocka_unit_test(bad_uris_rejected),
             cmocka_unit_test(s3_uri_roots_and_keys),
             cmocka_unit_test(s3_unreachable_endpoint_named),
             cmocka_unit_test(fault_hook_fails_nth_put),
             cmocka_unit_test(fault_hook_crash_stops_before_write),
             cmocka_unit_test(fault_hook_bad_spec_rejected),
             cmocka_unit_test(xml_find_and_unescape))
