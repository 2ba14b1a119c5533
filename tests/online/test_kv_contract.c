/* test_kv_contract.c: the KV contract, written once and run against every backend.
 * Each case loops over BACKENDS (one line per backend; "{dir}" becomes a fresh empty
 * directory, "{ns}" a fresh namespace name) plus the comma-separated URIs in CN_KV_TEST_URIS, so a remote backend is
 * tested by adding its URI. Cases that need local files (corruption, map growth) run on
 * the backends whose caps say so; the others run everywhere. The mem backend is the
 * reference: random_ops_match_mem replays a seeded random workload on a backend and on
 * mem side by side (CN_TEST_SEED replays a failure). */
#include "cn_test.h"

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <lmdb.h>

#include "base/alloc.h"
#include "base/arena.h"
#include "online/kv.h"

static const char *const BACKENDS[] = {
    "mem:",
    "lmdb:{dir}/online",
};

/* ---- fixture ----------------------------------------------------------------------- */

typedef struct Fx {
    char dir[256];          /* temp directory, removed at close */
    char uri[600];
    CnKv *kv;
    CnArena arena;
    CnErr err;
} Fx;

static void fx_uri(Fx *f, const char *tmpl) {
    const char *tmp = getenv("TMPDIR");
    snprintf(f->dir, sizeof f->dir, "%s/cnkv.XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(f->dir)) fail_msg("mkdtemp %s: %s", f->dir, strerror(errno));
    /* "{dir}": the directory; "{ns}": its unique name, a fresh namespace (key prefix,
     * table prefix) inside a shared server for remote backends */
    const char *ns = strrchr(f->dir, '/') + 1;
    size_t o = 0;
    for (const char *p = tmpl; *p && o + 1 < sizeof f->uri;) {
        const char *sub = !strncmp(p, "{dir}", 5) ? f->dir : !strncmp(p, "{ns}", 4) ? ns : NULL;
        if (sub) o += (size_t)snprintf(f->uri + o, sizeof f->uri - o, "%s", sub), p += sub == ns ? 4 : 5;
        else f->uri[o++] = *p++;
    }
    f->uri[CN_MIN(o, sizeof f->uri - 1)] = 0;
}

static void fx_open_opts(Fx *f, const char *tmpl, const CnKvOptions *o) {
    memset(f, 0, sizeof *f);
    fx_uri(f, tmpl);
    cn_arena_init(&f->arena, 0);
    ASSERT_OK(cn_kv_open(f->uri, o, &f->kv, &f->err), &f->err);
}

static void fx_open(Fx *f, const char *tmpl) { fx_open_opts(f, tmpl, NULL); }

static void fx_reopen(Fx *f, const CnKvOptions *o) {
    cn_kv_close(f->kv);
    f->kv = NULL;
    cn_err_clear(&f->err);
    ASSERT_OK(cn_kv_open(f->uri, o, &f->kv, &f->err), &f->err);
}

static void fx_close(Fx *f) {
    cn_kv_close(f->kv);
    f->kv = NULL;
    cn_arena_fini(&f->arena);
    cn_test_rm_rf(f->dir);
}

typedef void (*Body)(const char *tmpl);

/* Runs body once per backend. The backend is printed first so a failure names it. */
static void each_backend(const char *name, Body body) {
    for (size_t i = 0; i < CN_ARRAY_LEN(BACKENDS); i++) {
        fprintf(stderr, "kv.%s on %s\n", name, BACKENDS[i]);
        body(BACKENDS[i]);
    }
    const char *extra = getenv("CN_KV_TEST_URIS");
    char buf[2048];
    snprintf(buf, sizeof buf, "%s", extra ? extra : "");
    for (char *save = NULL, *u = strtok_r(buf, ",", &save); u; u = strtok_r(NULL, ",", &save)) {
        fprintf(stderr, "kv.%s on %s\n", name, u);
        body(u);
    }
}
#define RUN_ON_EACH_BACKEND(fn)                                                   \
    static void fn(void **state) {                                               \
        (void)state;                                                             \
        each_backend(#fn, fn##_on);                                              \
    }

static CnKvSlice S(const char *s) { return (CnKvSlice){(const uint8_t *)s, strlen(s)}; }

static void assert_value(CnKvSlice v, const void *want, size_t want_len) {
    if (!v.data) fail_msg("missing value, expected %zu bytes", want_len);
    assert_int_equal(v.len, want_len);
    if (want_len) assert_memory_equal(v.data, want, want_len);
}

static void assert_str_value(CnKvSlice v, const char *want) { assert_value(v, want, strlen(want)); }

/* ---- basic operations ----------------------------------------------------------------- */

static void put_get_overwrite_delete_on(const char *tmpl) {
    Fx f;
    fx_open(&f, tmpl);
    ASSERT_OK(cn_kv_dataset_create(f.kv, "T_BATCH", &f.err), &f.err);
    ASSERT_OK(cn_kv_dataset_create(f.kv, "T_BATCH", &f.err), &f.err); /* idempotent */
    CnKvSlice keys[3] = {S("alpha"), S("beta"), S("gamma")};
    CnKvSlice vals[3] = {S("1"), S("two"), S("three!")};
    ASSERT_OK(cn_kv_multi_put(f.kv, "T_BATCH", keys, vals, 3, &f.err), &f.err);

    CnKvSlice q[4] = {S("gamma"), S("nope"), S("alpha"), S("beta")}, out[4];
    ASSERT_OK(cn_kv_multi_get(f.kv, "T_BATCH", q, 4, out, &f.arena, &f.err), &f.err);
    assert_str_value(out[0], "three!");
    assert_null(out[1].data);
    assert_int_equal(out[1].len, 0);
    assert_str_value(out[2], "1");
    assert_str_value(out[3], "two");

    /* overwrite, and a repeated key within one call: the last wins */
    CnKvSlice k2[2] = {S("alpha"), S("alpha")}, v2[2] = {S("first"), S("second")};
    ASSERT_OK(cn_kv_multi_put(f.kv, "T_BATCH", k2, v2, 2, &f.err), &f.err);
    CnKvSlice one;
    ASSERT_OK(cn_kv_get(f.kv, "T_BATCH", "alpha", 5, &one, &f.arena, &f.err), &f.err);
    assert_str_value(one, "second");

    CnKvSlice del[2] = {S("beta"), S("never-there")};
    ASSERT_OK(cn_kv_multi_delete(f.kv, "T_BATCH", del, 2, &f.err), &f.err);
    ASSERT_OK(cn_kv_get(f.kv, "T_BATCH", "beta", 4, &one, &f.arena, &f.err), &f.err);
    assert_null(one.data);
    ASSERT_OK(cn_kv_get(f.kv, "T_BATCH", "gamma", 5, &one, &f.arena, &f.err), &f.err);
    assert_str_value(one, "three!");

    /* datasets are separate key spaces */
    ASSERT_OK(cn_kv_dataset_create(f.kv, "U_BATCH", &f.err), &f.err);
    ASSERT_OK(cn_kv_get(f.kv, "U_BATCH", "gamma", 5, &one, &f.arena, &f.err), &f.err);
    assert_null(one.data);
    fx_close(&f);
}
RUN_ON_EACH_BACKEND(put_get_overwrite_delete)

static void datasets_list_drop_missing_on(const char *tmpl) {
    Fx f;
    fx_open(&f, tmpl);
    char **names;
    size_t n;
    ASSERT_OK(cn_kv_dataset_list(f.kv, &f.arena, &names, &n, &f.err), &f.err);
    assert_int_equal(n, 0);
    const char *ds[] = {"ZIPLINE_METADATA", "A_BATCH", "A_STREAMING", "A_BATCH@2"};
    for (size_t i = 0; i < 4; i++) ASSERT_OK(cn_kv_dataset_create(f.kv, ds[i], &f.err), &f.err);
    ASSERT_OK(cn_kv_dataset_list(f.kv, &f.arena, &names, &n, &f.err), &f.err);
    assert_int_equal(n, 4);
    assert_string_equal(names[0], "A_BATCH");
    assert_string_equal(names[1], "A_BATCH@2");
    assert_string_equal(names[2], "A_STREAMING");
    assert_string_equal(names[3], "ZIPLINE_METADATA");

    /* a dataset whose name extends another's must not disturb it */
    CnKvSlice k = S("k"), v = S("in A_BATCH"), v2 = S("in A_BATCH@2"), got;
    ASSERT_OK(cn_kv_multi_put(f.kv, "A_BATCH", &k, &v, 1, &f.err), &f.err);
    ASSERT_OK(cn_kv_multi_put(f.kv, "A_BATCH@2", &k, &v2, 1, &f.err), &f.err);
    ASSERT_OK(cn_kv_dataset_drop(f.kv, "A_BATCH", &f.err), &f.err);
    ASSERT_OK(cn_kv_get(f.kv, "A_BATCH@2", "k", 1, &got, &f.arena, &f.err), &f.err);
    assert_str_value(got, "in A_BATCH@2");

    int rc = cn_kv_get(f.kv, "A_BATCH", "k", 1, &got, &f.arena, &f.err);
    ASSERT_ERR(rc, CN_ENOTFOUND, &f.err);
    ASSERT_CONTAINS(cn_err_msg(&f.err), "dataset A_BATCH does not exist");
    ASSERT_CONTAINS(cn_err_msg(&f.err), cn_kv_uri(f.kv));
    cn_err_clear(&f.err);
    ASSERT_ERR(cn_kv_dataset_drop(f.kv, "A_BATCH", &f.err), CN_ENOTFOUND, &f.err);
    cn_err_clear(&f.err);
    ASSERT_ERR(cn_kv_multi_put(f.kv, "NOPE", &k, &v, 1, &f.err), CN_ENOTFOUND, &f.err);
    ASSERT_CONTAINS(cn_err_msg(&f.err), "NOPE");
    cn_err_clear(&f.err);
    uint64_t ver;
    ASSERT_ERR(cn_kv_dataset_version(f.kv, "NOPE", &ver, &f.err), CN_ENOTFOUND, &f.err);
    cn_err_clear(&f.err);
    ASSERT_ERR(cn_kv_dataset_create(f.kv, "", &f.err), CN_EINVAL, &f.err);
    cn_err_clear(&f.err);
    ASSERT_OK(cn_kv_dataset_list(f.kv, &f.arena, &names, &n, &f.err), &f.err);
    assert_int_equal(n, 3);
    fx_close(&f);
}
RUN_ON_EACH_BACKEND(datasets_list_drop_missing)

static void empty_values_are_not_missing_on(const char *tmpl) {
    Fx f;
    fx_open(&f, tmpl);
    ASSERT_OK(cn_kv_dataset_create(f.kv, "E", &f.err), &f.err);
    CnKvSlice k = S("empty"), v = {NULL, 0};
    ASSERT_OK(cn_kv_multi_put(f.kv, "E", &k, &v, 1, &f.err), &f.err);
    CnKvSlice q[2] = {S("empty"), S("absent")}, out[2];
    ASSERT_OK(cn_kv_multi_get(f.kv, "E", q, 2, out, &f.arena, &f.err), &f.err);
    assert_non_null(out[0].data);
    assert_int_equal(out[0].len, 0);
    assert_null(out[1].data);
    /* and through a load */
    CnKvLoad *ld;
    ASSERT_OK(cn_kv_load_begin(f.kv, "E", &ld, &f.err), &f.err);
    ASSERT_OK(cn_kv_load_add(ld, "z", 1, "", 0, &f.err), &f.err);
    ASSERT_OK(cn_kv_load_add(ld, "a", 1, NULL, 0, &f.err), &f.err);
    ASSERT_OK(cn_kv_load_commit(ld, NULL, &f.err), &f.err);
    CnKvSlice q2[2] = {S("a"), S("z")};
    ASSERT_OK(cn_kv_multi_get(f.kv, "E", q2, 2, out, &f.arena, &f.err), &f.err);
    assert_non_null(out[0].data);
    assert_int_equal(out[0].len, 0);
    assert_non_null(out[1].data);
    CnKvSlice gone;
    ASSERT_OK(cn_kv_get(f.kv, "E", "empty", 5, &gone, &f.arena, &f.err), &f.err);
    assert_null(gone.data); /* the load replaced the whole dataset */
    fx_close(&f);
}
RUN_ON_EACH_BACKEND(empty_values_are_not_missing)

static uint8_t *pattern(size_t n, unsigned seed) {
    uint8_t *p = cn_malloc(n);
    uint32_t x = seed * 2654435761u + 1;
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13, x ^= x >> 17, x ^= x << 5;
        p[i] = (uint8_t)x;
    }
    return p;
}

static void large_values_roundtrip_on(const char *tmpl) {
    Fx f;
    fx_open(&f, tmpl);
    size_t n1 = (size_t)6 << 20, n2 = ((size_t)9 << 20) + 7;
    uint8_t *b1 = pattern(n1, 1), *b2 = pattern(n2, 2);
    ASSERT_OK(cn_kv_dataset_create(f.kv, "BIG", &f.err), &f.err);
    CnKvSlice k = S("six-mb"), v = {b1, n1}, got;
    ASSERT_OK(cn_kv_multi_put(f.kv, "BIG", &k, &v, 1, &f.err), &f.err);
    ASSERT_OK(cn_kv_get(f.kv, "BIG", "six-mb", 6, &got, &f.arena, &f.err), &f.err);
    assert_value(got, b1, n1);

    CnKvLoad *ld;
    ASSERT_OK(cn_kv_load_begin(f.kv, "BIG", &ld, &f.err), &f.err);
    ASSERT_OK(cn_kv_load_add(ld, "nine-mb", 7, b2, n2, &f.err), &f.err);
    ASSERT_OK(cn_kv_load_add(ld, "six-mb", 6, b1, n1, &f.err), &f.err);
    ASSERT_OK(cn_kv_load_add(ld, "small", 5, "x", 1, &f.err), &f.err);
    ASSERT_OK(cn_kv_load_commit(ld, NULL, &f.err), &f.err);
    CnKvSlice q[3] = {S("small"), S("nine-mb"), S("six-mb")}, out[3];
    ASSERT_OK(cn_kv_multi_get(f.kv, "BIG", q, 3, out, &f.arena, &f.err), &f.err);
    assert_str_value(out[0], "x");
    assert_value(out[1], b2, n2);
    assert_value(out[2], b1, n1);
    assert_int_equal((uintptr_t)out[1].data % 16, 0); /* aligned for decoders */
    cn_free(b1);
    cn_free(b2);
    fx_close(&f);
}
RUN_ON_EACH_BACKEND(large_values_roundtrip)

static void binary_keys_with_nul_on(const char *tmpl) {
    Fx f;
    fx_open(&f, tmpl);
    ASSERT_OK(cn_kv_dataset_create(f.kv, "BIN", &f.err), &f.err);
    /* prefixes of each other, NUL inside and at the end, high bytes */
    static const uint8_t k0[] = {'a'}, k1[] = {'a', 0}, k2[] = {'a', 0, 'b'}, k3[] = {0},
                         k4[] = {0, 0}, k5[] = {0xff, 0x00, 0x80};
    CnKvSlice keys[6] = {{k0, 1}, {k1, 2}, {k2, 3}, {k3, 1}, {k4, 2}, {k5, 3}};
    CnKvSlice vals[6] = {S("v0"), S("v1"), S("v2"), S("v3"), S("v4"), S("v5")};
    ASSERT_OK(cn_kv_multi_put(f.kv, "BIN", keys, vals, 3, &f.err), &f.err);
    /* the rest through a load in descending order, then the first three again */
    CnKvLoad *ld;
    ASSERT_OK(cn_kv_load_begin(f.kv, "BIN", &ld, &f.err), &f.err);
    for (int i = 5; i >= 0; i--)
        ASSERT_OK(cn_kv_load_add(ld, keys[i].data, keys[i].len, vals[i].data, vals[i].len, &f.err), &f.err);
    ASSERT_OK(cn_kv_load_commit(ld, NULL, &f.err), &f.err);
    CnKvSlice out[6];
    ASSERT_OK(cn_kv_multi_get(f.kv, "BIN", keys, 6, out, &f.arena, &f.err), &f.err);
    for (int i = 0; i < 6; i++) assert_value(out[i], vals[i].data, vals[i].len);
    static const uint8_t k6[] = {'a', 0, 'c'};
    CnKvSlice miss = {k6, 3};
    ASSERT_OK(cn_kv_multi_get(f.kv, "BIN", &miss, 1, out, &f.arena, &f.err), &f.err);
    assert_null(out[0].data);
    fx_close(&f);
}
RUN_ON_EACH_BACKEND(binary_keys_with_nul)

static void key_limits_and_messages_on(const char *tmpl) {
    Fx f;
    fx_open(&f, tmpl);
    ASSERT_OK(cn_kv_dataset_create(f.kv, "K", &f.err), &f.err);
    CnKvSlice empty = {(const uint8_t *)"", 0}, out;
    ASSERT_ERR(cn_kv_multi_get(f.kv, "K", &empty, 1, &out, &f.arena, &f.err), CN_EINVAL, &f.err);
    ASSERT_CONTAINS(cn_err_msg(&f.err), "dataset K: empty key");
    cn_err_clear(&f.err);
    /* 511 bytes is the smallest limit of any backend: always accepted */
    uint8_t *big = pattern(600, 3);
    big[0] = 0;
    CnKvSlice k511 = {big, 511}, v = S("v");
    ASSERT_OK(cn_kv_multi_put(f.kv, "K", &k511, &v, 1, &f.err), &f.err);
    ASSERT_OK(cn_kv_multi_get(f.kv, "K", &k511, 1, &out, &f.arena, &f.err), &f.err);
    assert_str_value(out, "v");
    if (strcmp(cn_kv_backend(f.kv), "lmdb") == 0) {
        CnKvSlice k600 = {big, 600};
        ASSERT_ERR(cn_kv_multi_put(f.kv, "K", &k600, &v, 1, &f.err), CN_EINVAL, &f.err);
        ASSERT_CONTAINS(cn_err_msg(&f.err), "key 0x00");       /* binary key in hex */
        ASSERT_CONTAINS(cn_err_msg(&f.err), "(600 bytes)");
        ASSERT_CONTAINS(cn_err_msg(&f.err), "at most 511");
        cn_err_clear(&f.err);
    }
    cn_free(big);
    fx_close(&f);
}
RUN_ON_EACH_BACKEND(key_limits_and_messages)

static void key_repr_hex_for_binary(void **state) {
    (void)state;
    char buf[CN_KV_KEY_REPR_MAX];
    assert_string_equal(cn_kv_key_repr("user_42", 7, buf, sizeof buf), "\"user_42\"");
    assert_string_equal(cn_kv_key_repr("a\0b", 3, buf, sizeof buf), "0x610062");
    assert_string_equal(cn_kv_key_repr("q\"", 2, buf, sizeof buf), "0x7122");
    uint8_t longk[100];
    memset(longk, 'x', sizeof longk);
    cn_kv_key_repr(longk, sizeof longk, buf, sizeof buf);
    ASSERT_CONTAINS(buf, "...(100 bytes)");
    memset(longk, 0xab, sizeof longk);
    cn_kv_key_repr(longk, sizeof longk, buf, sizeof buf);
    assert_true(strlen(buf) < sizeof buf);
    ASSERT_CONTAINS(buf, "abab...(100 bytes)");
    char tiny[5];
    cn_kv_key_repr("abcdef", 6, tiny, sizeof tiny);
    assert_int_equal(strlen(tiny), 4);
}

static void dataset_names_follow_chronon(void **state) {
    (void)state;
    CnArena a;
    cn_arena_init(&a, 0);
    assert_string_equal(cn_kv_dataset_name(&a, "quickstart.purchases.v1", CN_KV_BATCH_SUFFIX),
                        "QUICKSTART_PURCHASES_V1_BATCH");
    assert_string_equal(cn_kv_dataset_name(&a, "team/gb-name.v2", CN_KV_STREAMING_SUFFIX),
                        "TEAM_GB_NAME_V2_STREAMING");
    assert_string_equal(CN_KV_METADATA_DATASET, "ZIPLINE_METADATA");
    cn_arena_fini(&a);
}

/* ---- loads and versions ------------------------------------------------------------------ */

/* Slow remote stores (dynalite: ~2,500 items/s) run the bulk cases with counts divided by
 * CN_KV_TEST_DIVISOR; the same assertions run, on fewer keys. */
static size_t scaled(size_t n) {
    const char *d = getenv("CN_KV_TEST_DIVISOR");
    long div = d ? strtol(d, NULL, 10) : 1;
    if (div < 1) div = 1;
    return n / (size_t)div > 0 ? n / (size_t)div : 1;
}

static void key_of(char *buf, size_t i) { snprintf(buf, 32, "key%07zu", i); }


static void many_keys_sorted_and_unsorted_on(const char *tmpl) {
    Fx f;
    fx_open(&f, tmpl);
    const size_t N = scaled(100000);
    const char *dss[3] = {"SORTED", "SHUFFLED", "SHUFFLED_SMALL_CHUNKS"};
    for (int d = 0; d < 3; d++) {
        if (d == 2) { /* many chunks: each sorted on its own, interleaving the others */
            CnKvOptions o = {.load_chunk_bytes = 256 << 10};
            fx_reopen(&f, &o);
        }
        CnKvLoad *ld;
        ASSERT_OK(cn_kv_load_begin(f.kv, dss[d], &ld, &f.err), &f.err);
        for (size_t i = 0; i < N; i++) {
            /* 7919 is prime to N: a permutation */
            size_t j = d == 0 ? i : (i * 7919) % N;
            char k[32], v[48];
            key_of(k, j);
            int vl = snprintf(v, sizeof v, "value-%zu", j * 3);
            ASSERT_OK(cn_kv_load_add(ld, k, strlen(k), v, (size_t)vl, &f.err), &f.err);
        }
        assert_int_equal(cn_kv_load_count(ld), N);
        ASSERT_OK(cn_kv_load_commit(ld, NULL, &f.err), &f.err);
        for (size_t i = 0; i < N; i += 100) {
            char kb[100][32];
            CnKvSlice q[100], out[100];
            for (size_t j = 0; j < 100; j++) {
                key_of(kb[j], i + j);
                q[j] = S(kb[j]);
            }
            cn_arena_reset(&f.arena);
            ASSERT_OK(cn_kv_multi_get(f.kv, dss[d], q, 100, out, &f.arena, &f.err), &f.err);
            for (size_t j = 0; j < 100; j++) {
                char want[48];
                snprintf(want, sizeof want, "value-%zu", (i + j) * 3);
                assert_str_value(out[j], want);
            }
        }
        char k[32];
        key_of(k, N);
        CnKvSlice got;
        ASSERT_OK(cn_kv_get(f.kv, dss[d], k, strlen(k), &got, &f.arena, &f.err), &f.err);
        assert_null(got.data);
    }
    fx_close(&f);
}
RUN_ON_EACH_BACKEND(many_keys_sorted_and_unsorted)

static void load_repeated_keys_last_wins_on(const char *tmpl) {
    Fx f;
    fx_open(&f, tmpl);
    CnKvLoad *ld;
    ASSERT_OK(cn_kv_load_begin(f.kv, "DUP", &ld, &f.err), &f.err);
    /* ascending with a repeat, then one out of order, then a repeat of an old key */
    ASSERT_OK(cn_kv_load_add(ld, "a", 1, "1", 1, &f.err), &f.err);
    ASSERT_OK(cn_kv_load_add(ld, "b", 1, "2", 1, &f.err), &f.err);
    ASSERT_OK(cn_kv_load_add(ld, "b", 1, "3", 1, &f.err), &f.err);
    ASSERT_OK(cn_kv_load_add(ld, "c", 1, "4", 1, &f.err), &f.err);
    ASSERT_OK(cn_kv_load_add(ld, "a", 1, "5", 1, &f.err), &f.err);
    ASSERT_OK(cn_kv_load_add(ld, "c", 1, "6", 1, &f.err), &f.err);
    ASSERT_OK(cn_kv_load_add(ld, "c", 1, "7", 1, &f.err), &f.err);
    ASSERT_OK(cn_kv_load_commit(ld, NULL, &f.err), &f.err);
    CnKvSlice q[3] = {S("a"), S("b"), S("c")}, out[3];
    ASSERT_OK(cn_kv_multi_get(f.kv, "DUP", q, 3, out, &f.arena, &f.err), &f.err);
    assert_str_value(out[0], "5");
    assert_str_value(out[1], "3");
    assert_str_value(out[2], "7");
    fx_close(&f);
}
RUN_ON_EACH_BACKEND(load_repeated_keys_last_wins)

/* A reader thread's view of dataset S while the main thread streams a new version. */
typedef struct StreamPeek {
    CnKv *kv;
    char key[32];
    char got[64];       /* the value it read, "" when missing */
    char failure[256];
} StreamPeek;

static void *stream_peek(void *arg) {
    StreamPeek *r = arg;
    CnArena a;
    cn_arena_init(&a, 0);
    CnErr err = CN_ERR_INIT;
    CnKvSlice v;
    if (cn_kv_get(r->kv, "S", r->key, strlen(r->key), &v, &a, &err) != 0)
        snprintf(r->failure, sizeof r->failure, "get: %s", cn_err_msg(&err));
    else if (v.data)
        snprintf(r->got, sizeof r->got, "%.*s", (int)CN_MIN(v.len, sizeof r->got - 1), (const char *)v.data);
    cn_arena_fini(&a);
    return NULL;
}

static void stream_peek_run(StreamPeek *r) {
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, stream_peek, r), 0);
    pthread_join(th, NULL);
    if (r->failure[0]) fail_msg("reader during a streamed load: %s", r->failure);
}

/* CN_KV_LOAD_STREAM: the same contract as a buffered load (any order, the last of
 * repeated keys wins, empty and large values, nothing visible before the commit, an
 * abort changes nothing), with loads spanning many write transactions (small
 * load_chunk_bytes). Backends without streaming ignore the flag. */
static void streamed_load_on(const char *tmpl) {
    Fx f;
    CnKvOptions o = {.load_chunk_bytes = 64 << 10};
    fx_open_opts(&f, tmpl, &o);
    const size_t N = scaled(20000) & ~(size_t)1; /* even: key N/2 is in version 2 */
    CnKvLoad *ld;
    uint64_t v1, v2, cur;
    ASSERT_OK(cn_kv_load_begin_flags(f.kv, "S", CN_KV_LOAD_STREAM, &ld, &f.err), &f.err);
    for (size_t i = 0; i < N; i++) {
        char k[32], v[48];
        key_of(k, i);
        int vl = snprintf(v, sizeof v, "one-%zu", i);
        ASSERT_OK(cn_kv_load_add(ld, k, strlen(k), v, (size_t)vl, &f.err), &f.err);
    }
    ASSERT_OK(cn_kv_load_commit(ld, &v1, &f.err), &f.err);
    CnKvSlice got;
    ASSERT_OK(cn_kv_get(f.kv, "S", "key0000007", 10, &got, &f.arena, &f.err), &f.err);
    assert_str_value(got, "one-7");

    /* version 2: ascending, then a repeat, keys out of order (one before everything
     * written, one in the middle), an empty and a 3 MiB value, interleaved with a reader
     * thread that must keep seeing version 1 */
    const size_t big_n = 3 << 20;
    uint8_t *big = pattern(big_n, 9);
    ASSERT_OK(cn_kv_load_begin_flags(f.kv, "S", CN_KV_LOAD_STREAM, &ld, &f.err), &f.err);
    for (size_t i = 0; i < N; i += 2) {
        char k[32], v[48];
        key_of(k, i);
        int vl = snprintf(v, sizeof v, "two-%zu", i);
        ASSERT_OK(cn_kv_load_add(ld, k, strlen(k), v, (size_t)vl, &f.err), &f.err);
        if (i == N / 2) {
            ASSERT_OK(cn_kv_load_add(ld, k, strlen(k), "again", 5, &f.err), &f.err);
            StreamPeek r = {f.kv, {0}, {0}, {0}};
            key_of(r.key, 0);
            stream_peek_run(&r);
            assert_string_equal(r.got, "one-0");
        }
    }
    ASSERT_OK(cn_kv_load_add(ld, "a-first", 7, "", 0, &f.err), &f.err);
    ASSERT_OK(cn_kv_load_add(ld, "key0000003", 10, "middle", 6, &f.err), &f.err);
    ASSERT_OK(cn_kv_load_add(ld, "zz-big", 6, big, big_n, &f.err), &f.err);
    ASSERT_OK(cn_kv_load_add(ld, "zz-last", 7, "end", 3, &f.err), &f.err);
    assert_int_equal(cn_kv_load_count(ld), (N + 1) / 2 + 5);
    {
        StreamPeek r = {f.kv, "zz-last", {0}, {0}};
        stream_peek_run(&r);
        assert_string_equal(r.got, ""); /* not in version 1, not visible yet */
    }
    ASSERT_OK(cn_kv_load_commit(ld, &v2, &f.err), &f.err);
    assert_true(v2 > v1);
    ASSERT_OK(cn_kv_dataset_version(f.kv, "S", &cur, &f.err), &f.err);
    assert_int_equal(cur, v2);
    for (size_t i = 0; i < N; i += 97) {
        char k[32], want[48];
        key_of(k, i);
        cn_arena_reset(&f.arena);
        ASSERT_OK(cn_kv_get(f.kv, "S", k, strlen(k), &got, &f.arena, &f.err), &f.err);
        if (i % 2) {
            assert_null(got.data); /* only in version 1 */
            continue;
        }
        if (i == N / 2) snprintf(want, sizeof want, "again");
        else snprintf(want, sizeof want, "two-%zu", i);
        assert_str_value(got, want);
    }
    {
        char k[32];
        key_of(k, N / 2); /* repeated: the last one wins */
        ASSERT_OK(cn_kv_get(f.kv, "S", k, strlen(k), &got, &f.arena, &f.err), &f.err);
        assert_str_value(got, "again");
    }
    CnKvSlice q[5] = {S("a-first"), S("key0000003"), S("zz-big"), S("zz-last"), S("key0000001")}, out[5];
    cn_arena_reset(&f.arena);
    ASSERT_OK(cn_kv_multi_get(f.kv, "S", q, 5, out, &f.arena, &f.err), &f.err);
    assert_value(out[0], "", 0);
    assert_str_value(out[1], "middle");
    assert_value(out[2], big, big_n);
    assert_str_value(out[3], "end");
    assert_null(out[4].data);

    /* an aborted streamed load, after some of its writes were committed, changes nothing */
    ASSERT_OK(cn_kv_load_begin_flags(f.kv, "S", CN_KV_LOAD_STREAM, &ld, &f.err), &f.err);
    for (size_t i = 0; i < N; i++) {
        char k[32];
        key_of(k, i);
        ASSERT_OK(cn_kv_load_add(ld, k, strlen(k), "three", 5, &f.err), &f.err);
    }
    cn_kv_load_abort(ld);
    ASSERT_OK(cn_kv_dataset_version(f.kv, "S", &cur, &f.err), &f.err);
    assert_int_equal(cur, v2);
    cn_arena_reset(&f.arena);
    ASSERT_OK(cn_kv_get(f.kv, "S", "key0000002", 10, &got, &f.arena, &f.err), &f.err);
    assert_str_value(got, "two-2");
    ASSERT_OK(cn_kv_get(f.kv, "S", "key0000001", 10, &got, &f.arena, &f.err), &f.err);
    assert_null(got.data);

    /* a failed add fails the commit and leaves version 2 */
    ASSERT_OK(cn_kv_load_begin_flags(f.kv, "S", CN_KV_LOAD_STREAM, &ld, &f.err), &f.err);
    ASSERT_OK(cn_kv_load_add(ld, "key0000002", 10, "four", 4, &f.err), &f.err);
    assert_int_equal(cn_kv_load_add(ld, "", 0, "x", 1, &f.err), CN_EINVAL);
    cn_err_clear(&f.err);
    ASSERT_ERR(cn_kv_load_commit(ld, NULL, &f.err), CN_EINVAL, &f.err);
    cn_err_clear(&f.err);
    cn_arena_reset(&f.arena);
    ASSERT_OK(cn_kv_get(f.kv, "S", "key0000002", 10, &got, &f.arena, &f.err), &f.err);
    assert_str_value(got, "two-2");
    /* and the store takes ordinary writes afterwards (the writer was released) */
    CnKvSlice pk = S("put-after"), pv = S("p");
    ASSERT_OK(cn_kv_multi_put(f.kv, "S", &pk, &pv, 1, &f.err), &f.err);
    ASSERT_OK(cn_kv_get(f.kv, "S", "put-after", 9, &got, &f.arena, &f.err), &f.err);
    assert_str_value(got, "p");
    cn_free(big);
    fx_close(&f);
}
RUN_ON_EACH_BACKEND(streamed_load)

static void versions_flip_and_abort_on(const char *tmpl) {
    Fx f;
    fx_open(&f, tmpl);
    CnKvLoad *ld;
    uint64_t v1, v2, cur;
    ASSERT_OK(cn_kv_load_begin(f.kv, "V", &ld, &f.err), &f.err);
    ASSERT_OK(cn_kv_load_add(ld, "old-only", 8, "1", 1, &f.err), &f.err);
    ASSERT_OK(cn_kv_load_add(ld, "shared", 6, "1", 1, &f.err), &f.err);
    /* not visible before the flip: the dataset does not even exist yet */
    CnKvSlice got;
    ASSERT_ERR(cn_kv_get(f.kv, "V", "shared", 6, &got, &f.arena, &f.err), CN_ENOTFOUND, &f.err);
    cn_err_clear(&f.err);
    ASSERT_OK(cn_kv_load_commit(ld, &v1, &f.err), &f.err);
    ASSERT_OK(cn_kv_dataset_version(f.kv, "V", &cur, &f.err), &f.err);
    assert_int_equal(cur, v1);

    ASSERT_OK(cn_kv_load_begin(f.kv, "V", &ld, &f.err), &f.err);
    ASSERT_OK(cn_kv_load_add(ld, "shared", 6, "2", 1, &f.err), &f.err);
    ASSERT_OK(cn_kv_load_add(ld, "new-only", 8, "2", 1, &f.err), &f.err);
    ASSERT_OK(cn_kv_get(f.kv, "V", "shared", 6, &got, &f.arena, &f.err), &f.err);
    assert_str_value(got, "1"); /* still the old version mid-load */
    ASSERT_OK(cn_kv_load_commit(ld, &v2, &f.err), &f.err);
    assert_true(v2 > v1);
    CnKvSlice q[3] = {S("old-only"), S("shared"), S("new-only")}, out[3];
    ASSERT_OK(cn_kv_multi_get(f.kv, "V", q, 3, out, &f.arena, &f.err), &f.err);
    assert_null(out[0].data);
    assert_str_value(out[1], "2");
    assert_str_value(out[2], "2");

    /* an aborted load changes nothing */
    ASSERT_OK(cn_kv_load_begin(f.kv, "V", &ld, &f.err), &f.err);
    ASSERT_OK(cn_kv_load_add(ld, "shared", 6, "3", 1, &f.err), &f.err);
    cn_kv_load_abort(ld);
    ASSERT_OK(cn_kv_dataset_version(f.kv, "V", &cur, &f.err), &f.err);
    assert_int_equal(cur, v2);
    ASSERT_OK(cn_kv_get(f.kv, "V", "shared", 6, &got, &f.arena, &f.err), &f.err);
    assert_str_value(got, "2");

    /* a failed add makes the load fail at commit, leaving the old version */
    ASSERT_OK(cn_kv_load_begin(f.kv, "V", &ld, &f.err), &f.err);
    ASSERT_OK(cn_kv_load_add(ld, "shared", 6, "4", 1, &f.err), &f.err);
    assert_int_equal(cn_kv_load_add(ld, "", 0, "x", 1, &f.err), CN_EINVAL);
    cn_err_clear(&f.err);
    assert_int_equal(cn_kv_load_add(ld, "ok", 2, "x", 1, &f.err), CN_EINVAL); /* sticky */
    cn_err_clear(&f.err);
    ASSERT_ERR(cn_kv_load_commit(ld, NULL, &f.err), CN_EINVAL, &f.err);
    ASSERT_CONTAINS(cn_err_msg(&f.err), "empty key");
    cn_err_clear(&f.err);
    ASSERT_OK(cn_kv_get(f.kv, "V", "shared", 6, &got, &f.arena, &f.err), &f.err);
    assert_str_value(got, "2");

    /* two loads of one dataset at once: the later-started wins, the earlier conflicts */
    CnKvLoad *a, *b;
    ASSERT_OK(cn_kv_load_begin(f.kv, "V", &a, &f.err), &f.err);
    ASSERT_OK(cn_kv_load_begin(f.kv, "V", &b, &f.err), &f.err);
    ASSERT_OK(cn_kv_load_add(a, "shared", 6, "a", 1, &f.err), &f.err);
    ASSERT_OK(cn_kv_load_add(b, "shared", 6, "b", 1, &f.err), &f.err);
    ASSERT_OK(cn_kv_load_commit(b, NULL, &f.err), &f.err);
    ASSERT_ERR(cn_kv_load_commit(a, NULL, &f.err), CN_ECONFLICT, &f.err);
    cn_err_clear(&f.err);
    ASSERT_OK(cn_kv_get(f.kv, "V", "shared", 6, &got, &f.arena, &f.err), &f.err);
    assert_str_value(got, "b");

    /* multi_put after a flip lands in the new version */
    CnKvSlice k = S("put-after"), v = S("p");
    ASSERT_OK(cn_kv_multi_put(f.kv, "V", &k, &v, 1, &f.err), &f.err);
    ASSERT_OK(cn_kv_get(f.kv, "V", "put-after", 9, &got, &f.arena, &f.err), &f.err);
    assert_str_value(got, "p");
    fx_close(&f);
}
RUN_ON_EACH_BACKEND(versions_flip_and_abort)

/* A reader thread multi-gets while the main thread bulk-loads versions 1..N_VERSIONS.
 * Version k holds keys 0 .. size(k)-1 with values "v<k>:<key>", so one multi-get shows
 * whether it saw a single complete version: key 0 names the version, every other key
 * must carry the same version and be present exactly when it is below size(k). */
enum { N_VERSIONS = 6, FLIP_BASE = 20000, FLIP_STEP = 4000 };

static size_t flip_size(int k) { return scaled(FLIP_BASE) + (size_t)k * scaled(FLIP_STEP); }

typedef struct FlipReader {
    CnKv *kv;
    volatile int *done;
    long n_reads, n_flips_seen;
    char failure[512];
} FlipReader;

static void *flip_reader(void *arg) {
    FlipReader *r = arg;
    CnArena a;
    cn_arena_init(&a, 0);
    uint32_t x = 12345;
    int last_version = 0;
    const size_t max_key = flip_size(N_VERSIONS) + 100;
    while (!r->failure[0] && (!__atomic_load_n(r->done, __ATOMIC_ACQUIRE) || r->n_reads < 2000)) {
        char kb[4][32];
        CnKvSlice q[4], out[4];
        size_t idx[4] = {0, 0, 0, 0};
        for (int i = 1; i < 4; i++) {
            x ^= x << 13, x ^= x >> 17, x ^= x << 5;
            idx[i] = i == 3 ? flip_size(last_version ? last_version : 1) - 1 + (x & 1) : x % max_key;
        }
        for (int i = 0; i < 4; i++) {
            key_of(kb[i], idx[i]);
            q[i] = S(kb[i]);
        }
        CnErr err = CN_ERR_INIT;
        cn_arena_reset(&a);
        if (cn_kv_multi_get(r->kv, "FLIP", q, 4, out, &a, &err) != 0) {
            snprintf(r->failure, sizeof r->failure, "multi_get: %s", cn_err_msg(&err));
            break;
        }
        int ver = 0;
        if (!out[0].data || sscanf((const char *)out[0].data, "v%d:", &ver) != 1) {
            snprintf(r->failure, sizeof r->failure, "key 0 missing or malformed");
            break;
        }
        if (ver < last_version) {
            snprintf(r->failure, sizeof r->failure, "went back from version %d to %d", last_version, ver);
            break;
        }
        if (ver > last_version) r->n_flips_seen++;
        last_version = ver;
        for (int i = 1; i < 4; i++) {
            bool want = idx[i] < flip_size(ver);
            char expect[48];
            int el = snprintf(expect, sizeof expect, "v%d:%s", ver, kb[i]);
            if (want != (out[i].data != NULL) ||
                (want && (out[i].len != (size_t)el || memcmp(out[i].data, expect, (size_t)el) != 0))) {
                snprintf(r->failure, sizeof r->failure, "version %d, key %s: %s (a mix of versions)",
                         ver, kb[i], out[i].data ? "unexpected value" : "missing");
                break;
            }
        }
        r->n_reads++;
    }
    cn_arena_fini(&a);
    return NULL;
}

static void flip_load(Fx *f, int k) {
    CnKvLoad *ld;
    /* versions 2, 3 and 6 streamed (CN_KV_LOAD_STREAM), the others buffered */
    unsigned flags = k % 4 >= 2 ? CN_KV_LOAD_STREAM : 0;
    ASSERT_OK(cn_kv_load_begin_flags(f->kv, "FLIP", flags, &ld, &f->err), &f->err);
    size_t n = flip_size(k);
    for (size_t i = 0; i < n; i++) {
        size_t j = k % 2 ? i : (i * 7919) % n; /* odd versions sorted, even shuffled */
        char kb[32], v[48];
        key_of(kb, j);
        int vl = snprintf(v, sizeof v, "v%d:%s", k, kb);
        ASSERT_OK(cn_kv_load_add(ld, kb, strlen(kb), v, (size_t)vl, &f->err), &f->err);
    }
    ASSERT_OK(cn_kv_load_commit(ld, NULL, &f->err), &f->err);
}

static void atomic_flip_under_concurrent_reads_on(const char *tmpl) {
    Fx f;
    /* small chunks: each load spans dozens of write transactions, so a reader of a
     * half-written version would notice */
    CnKvOptions o = {.load_chunk_bytes = 32 << 10};
    fx_open_opts(&f, tmpl, &o);
    flip_load(&f, 1);
    volatile int done = 0;
    /* A remote store is shared by processes: the second reader has its own handle (its
     * own connections and remembered versions), as a serving process beside the
     * uploading one would. (LMDB refuses a second open in one process; mem: is private.) */
    CnKv *own = NULL;
    if (!strncmp(f.uri, "redis:", 6) || !strncmp(f.uri, "mongodb:", 8) ||
        !strncmp(f.uri, "dynamodb:", 9))
        ASSERT_OK(cn_kv_open(f.uri, NULL, &own, &f.err), &f.err);
    FlipReader r[2] = {{f.kv, &done, 0, 0, {0}}, {own ? own : f.kv, &done, 0, 0, {0}}};
    pthread_t th[2];
    for (int i = 0; i < 2; i++) assert_int_equal(pthread_create(&th[i], NULL, flip_reader, &r[i]), 0);
    for (int k = 2; k <= N_VERSIONS; k++) flip_load(&f, k);
    __atomic_store_n(&done, 1, __ATOMIC_RELEASE);
    for (int i = 0; i < 2; i++) pthread_join(th[i], NULL);
    for (int i = 0; i < 2; i++) {
        if (r[i].failure[0]) fail_msg("reader %d after %ld reads: %s", i, r[i].n_reads, r[i].failure);
        assert_true(r[i].n_reads >= 2000);
        fprintf(stderr, "  reader %d: %ld multi-gets, %ld versions seen\n", i, r[i].n_reads,
                r[i].n_flips_seen);
    }
    cn_kv_close(own);
    uint64_t cur;
    ASSERT_OK(cn_kv_dataset_version(f.kv, "FLIP", &cur, &f.err), &f.err);
    CnKvSlice got;
    char kb[32];
    key_of(kb, flip_size(N_VERSIONS) - 1);
    ASSERT_OK(cn_kv_get(f.kv, "FLIP", kb, strlen(kb), &got, &f.arena, &f.err), &f.err);
    char want[48];
    snprintf(want, sizeof want, "v%d:%s", N_VERSIONS, kb);
    assert_str_value(got, want);
    fx_close(&f);
}
RUN_ON_EACH_BACKEND(atomic_flip_under_concurrent_reads)

/* Four threads read a preloaded set and a hot set the main thread keeps rewriting. */
typedef struct HotReader {
    CnKv *kv;
    int id;
    long n;
    char failure[256];
} HotReader;

static void *hot_reader(void *arg) {
    HotReader *r = arg;
    CnArena a;
    cn_arena_init(&a, 0);
    uint32_t x = 777u + (uint32_t)r->id;
    for (long i = 0; i < r->n && !r->failure[0]; i++) {
        char kb[3][32];
        CnKvSlice q[3], out[3];
        x ^= x << 13, x ^= x >> 17, x ^= x << 5;
        size_t cold = x % scaled(5000);
        key_of(kb[0], cold);
        snprintf(kb[1], 32, "hot%u", x % 8);
        key_of(kb[2], scaled(5000) + cold); /* never written: missing */
        for (int j = 0; j < 3; j++) q[j] = S(kb[j]);
        CnErr err = CN_ERR_INIT;
        cn_arena_reset(&a);
        if (cn_kv_multi_get(r->kv, "HOT", q, 3, out, &a, &err) != 0) {
            snprintf(r->failure, sizeof r->failure, "%s", cn_err_msg(&err));
            break;
        }
        char want[48];
        snprintf(want, sizeof want, "cold-%zu", cold);
        if (!out[0].data || out[0].len != strlen(want) || memcmp(out[0].data, want, out[0].len))
            snprintf(r->failure, sizeof r->failure, "cold key %zu: wrong value", cold);
        else if (!out[1].data || out[1].len < strlen(kb[1]) || memcmp(out[1].data, kb[1], strlen(kb[1])))
            snprintf(r->failure, sizeof r->failure, "hot key %s: value of another key", kb[1]);
        else if (out[2].data)
            snprintf(r->failure, sizeof r->failure, "key %s should be missing", kb[2]);
    }
    cn_arena_fini(&a);
    return NULL;
}

static void concurrent_readers_one_writer_on(const char *tmpl) {
    Fx f;
    fx_open(&f, tmpl);
    CnKvLoad *ld;
    ASSERT_OK(cn_kv_load_begin(f.kv, "HOT", &ld, &f.err), &f.err);
    for (size_t i = 0; i < scaled(5000); i++) {
        char kb[32], v[32];
        key_of(kb, i);
        int vl = snprintf(v, sizeof v, "cold-%zu", i);
        ASSERT_OK(cn_kv_load_add(ld, kb, strlen(kb), v, (size_t)vl, &f.err), &f.err);
    }
    for (int h = 0; h < 8; h++) {
        char kb[32];
        snprintf(kb, sizeof kb, "hot%d", h);
        ASSERT_OK(cn_kv_load_add(ld, kb, strlen(kb), kb, strlen(kb), &f.err), &f.err);
    }
    ASSERT_OK(cn_kv_load_commit(ld, NULL, &f.err), &f.err);
    HotReader r[4];
    pthread_t th[4];
    for (int i = 0; i < 4; i++) {
        r[i] = (HotReader){f.kv, i, (long)scaled(20000), {0}};
        assert_int_equal(pthread_create(&th[i], NULL, hot_reader, &r[i]), 0);
    }
    for (int round = 0; round < (int)scaled(300); round++) {
        char kb[8][32], vb[8][48];
        CnKvSlice k[8], v[8];
        for (int h = 0; h < 8; h++) {
            snprintf(kb[h], 32, "hot%d", h);
            snprintf(vb[h], 48, "hot%d#%d", h, round);
            k[h] = S(kb[h]);
            v[h] = S(vb[h]);
        }
        ASSERT_OK(cn_kv_multi_put(f.kv, "HOT", k, v, 8, &f.err), &f.err);
    }
    for (int i = 0; i < 4; i++) pthread_join(th[i], NULL);
    for (int i = 0; i < 4; i++)
        if (r[i].failure[0]) fail_msg("reader %d: %s", i, r[i].failure);
    CnKvSlice got;
    char last[48];
    snprintf(last, sizeof last, "hot3#%d", (int)scaled(300) - 1);
    ASSERT_OK(cn_kv_get(f.kv, "HOT", "hot3", 4, &got, &f.arena, &f.err), &f.err);
    assert_str_value(got, last);
    fx_close(&f);
}
RUN_ON_EACH_BACKEND(concurrent_readers_one_writer)

/* ---- persistence, files, read-only ---------------------------------------------------- */

static void reopen_after_close_on(const char *tmpl) {
    Fx f;
    fx_open(&f, tmpl);
    CnKvLoad *ld;
    uint64_t v;
    ASSERT_OK(cn_kv_load_begin(f.kv, "P_BATCH", &ld, &f.err), &f.err);
    ASSERT_OK(cn_kv_load_add(ld, "k1", 2, "loaded", 6, &f.err), &f.err);
    ASSERT_OK(cn_kv_load_commit(ld, &v, &f.err), &f.err);
    CnKvSlice k = S("k2"), val = S("put");
    ASSERT_OK(cn_kv_multi_put(f.kv, "P_BATCH", &k, &val, 1, &f.err), &f.err);
    fx_reopen(&f, NULL);
    char **names;
    size_t n;
    ASSERT_OK(cn_kv_dataset_list(f.kv, &f.arena, &names, &n, &f.err), &f.err);
    if (!(cn_kv_caps(f.kv) & CN_KV_CAP_PERSISTENT)) {
        assert_int_equal(n, 0); /* a fresh, empty store */
        fx_close(&f);
        return;
    }
    assert_int_equal(n, 1);
    assert_string_equal(names[0], "P_BATCH");
    uint64_t v_again;
    ASSERT_OK(cn_kv_dataset_version(f.kv, "P_BATCH", &v_again, &f.err), &f.err);
    assert_int_equal(v_again, v);
    CnKvSlice q[2] = {S("k1"), S("k2")}, out[2];
    ASSERT_OK(cn_kv_multi_get(f.kv, "P_BATCH", q, 2, out, &f.arena, &f.err), &f.err);
    assert_str_value(out[0], "loaded");
    assert_str_value(out[1], "put");
    /* versions keep increasing across reopen */
    ASSERT_OK(cn_kv_load_begin(f.kv, "P_BATCH", &ld, &f.err), &f.err);
    ASSERT_OK(cn_kv_load_commit(ld, &v_again, &f.err), &f.err);
    assert_true(v_again > v);
    fx_close(&f);
}
RUN_ON_EACH_BACKEND(reopen_after_close)

static void read_only_open_on(const char *tmpl) {
    Fx f;
    fx_open(&f, tmpl);
    CnKvSlice k = S("k"), v = S("v"), got;
    ASSERT_OK(cn_kv_dataset_create(f.kv, "R", &f.err), &f.err);
    ASSERT_OK(cn_kv_multi_put(f.kv, "R", &k, &v, 1, &f.err), &f.err);
    CnKvOptions ro = {.read_only = true};
    fx_reopen(&f, &ro);
    if (cn_kv_caps(f.kv) & CN_KV_CAP_PERSISTENT) {
        ASSERT_OK(cn_kv_get(f.kv, "R", "k", 1, &got, &f.arena, &f.err), &f.err);
        assert_str_value(got, "v");
    }
    ASSERT_ERR(cn_kv_multi_put(f.kv, "R", &k, &v, 1, &f.err), CN_EINVAL, &f.err);
    ASSERT_CONTAINS(cn_err_msg(&f.err), "opened read-only; cannot put into dataset R");
    cn_err_clear(&f.err);
    CnKvLoad *ld;
    ASSERT_ERR(cn_kv_load_begin(f.kv, "R", &ld, &f.err), CN_EINVAL, &f.err);
    cn_err_clear(&f.err);
    fx_close(&f);

    if (strncmp(tmpl, "lmdb:", 5) == 0) { /* nothing uploaded yet */
        Fx g;
        memset(&g, 0, sizeof g);
        fx_uri(&g, tmpl);
        CnKv *kv = NULL;
        ASSERT_ERR(cn_kv_open(g.uri, &ro, &kv, &g.err), CN_ENOTFOUND, &g.err);
        ASSERT_CONTAINS(cn_err_msg(&g.err), "no online store in");
        assert_null(kv);
        cn_test_rm_rf(g.dir);
    }
}
RUN_ON_EACH_BACKEND(read_only_open)

static void write_file(const char *path, const void *data, size_t n) {
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    assert_int_equal(fwrite(data, 1, n, fp), n);
    fclose(fp);
}

static void corrupted_store_is_clear_error_on(const char *tmpl) {
    Fx f;
    fx_open(&f, tmpl);
    unsigned caps = cn_kv_caps(f.kv);
    const char *backend = cn_kv_backend(f.kv);
    fx_close(&f);
    if (!(caps & CN_KV_CAP_FILES) || strcmp(backend, "lmdb") != 0) return; /* file layout below is LMDB's */

    /* garbage where data.mdb should be */
    Fx g;
    memset(&g, 0, sizeof g);
    fx_uri(&g, tmpl);
    const char *dir = g.uri + 5;
    mkdir(dir, 0755);
    char path[sizeof g.uri + 16];
    if (snprintf(path, sizeof path, "%s/data.mdb", dir) >= (int)sizeof path) fail_msg("path too long");
    uint8_t *junk = pattern(65536, 9);
    write_file(path, junk, 65536);
    cn_free(junk);
    CnKv *kv = NULL;
    ASSERT_ERR(cn_kv_open(g.uri, NULL, &kv, &g.err), CN_ECORRUPT, &g.err);
    ASSERT_CONTAINS(cn_err_msg(&g.err), dir);
    ASSERT_CONTAINS(cn_err_msg(&g.err), "damaged");
    assert_null(kv);
    cn_err_clear(&g.err);
    CnKvOptions ro = {.read_only = true};
    ASSERT_ERR(cn_kv_open(g.uri, &ro, &kv, &g.err), CN_ECORRUPT, &g.err);
    cn_err_clear(&g.err);
    cn_test_rm_rf(dir);

    /* a valid LMDB environment holding somebody else's data */
    mkdir(dir, 0755);
    MDB_env *env;
    MDB_txn *t;
    MDB_dbi dbi;
    assert_int_equal(mdb_env_create(&env), 0);
    assert_int_equal(mdb_env_open(env, dir, 0, 0644), 0);
    assert_int_equal(mdb_txn_begin(env, NULL, 0, &t), 0);
    assert_int_equal(mdb_dbi_open(t, NULL, 0, &dbi), 0);
    MDB_val k = {3, "foo"}, v = {3, "bar"};
    assert_int_equal(mdb_put(t, dbi, &k, &v, 0), 0);
    assert_int_equal(mdb_txn_commit(t), 0);
    mdb_env_close(env);
    ASSERT_ERR(cn_kv_open(g.uri, NULL, &kv, &g.err), CN_ECORRUPT, &g.err);
    ASSERT_CONTAINS(cn_err_msg(&g.err), "not a chronon-c online store");
    cn_err_clear(&g.err);
    cn_test_rm_rf(dir);

    /* a regular file where the directory should be */
    write_file(dir, "x", 1);
    ASSERT_ERR(cn_kv_open(g.uri, NULL, &kv, &g.err), CN_EIO, &g.err);
    ASSERT_CONTAINS(cn_err_msg(&g.err), dir);
    cn_err_clear(&g.err);
    cn_test_rm_rf(g.dir);
}
RUN_ON_EACH_BACKEND(corrupted_store_is_clear_error)

/* LMDB only: a tiny initial map grows on MDB_MAP_FULL (a streamed load: before each of
 * its write transactions); a hard limit gives CN_ELIMIT and leaves the old version
 * serving. */
static void map_grows_once(const char *tmpl, unsigned flags) {
    Fx f;
    CnKvOptions o = {.map_size = 1 << 20, .map_size_max = 64 << 20, .load_chunk_bytes = 4 << 20};
    fx_open_opts(&f, tmpl, &o);
    uint8_t *blob = pattern(1 << 20, 5);
    CnKvLoad *ld;
    ASSERT_OK(cn_kv_load_begin_flags(f.kv, "G", flags, &ld, &f.err), &f.err);
    for (int i = 0; i < 20; i++) { /* 20 MiB through a 1 MiB map */
        char kb[32];
        key_of(kb, (size_t)i);
        ASSERT_OK(cn_kv_load_add(ld, kb, strlen(kb), blob, 1 << 20, &f.err), &f.err);
    }
    ASSERT_OK(cn_kv_load_commit(ld, NULL, &f.err), &f.err);
    CnKvSlice put_k = S("put"), put_v = {blob, 1 << 20};
    for (int i = 0; i < 8; i++) /* and through puts */
        ASSERT_OK(cn_kv_multi_put(f.kv, "G", &put_k, &put_v, 1, &f.err), &f.err);
    char kb[32];
    key_of(kb, 19);
    CnKvSlice got;
    ASSERT_OK(cn_kv_get(f.kv, "G", kb, strlen(kb), &got, &f.arena, &f.err), &f.err);
    assert_value(got, blob, 1 << 20);

    /* beyond map_size_max: a clear error, the current version keeps serving */
    ASSERT_OK(cn_kv_load_begin_flags(f.kv, "G", flags, &ld, &f.err), &f.err);
    int rc = 0;
    for (int i = 0; i < 100 && rc == 0; i++) {
        key_of(kb, (size_t)i);
        rc = cn_kv_load_add(ld, kb, strlen(kb), blob, 1 << 20, &f.err);
    }
    cn_err_clear(&f.err);
    ASSERT_ERR(cn_kv_load_commit(ld, NULL, &f.err), CN_ELIMIT, &f.err);
    ASSERT_CONTAINS(cn_err_msg(&f.err), "map_size_max");
    cn_err_clear(&f.err);
    key_of(kb, 19);
    ASSERT_OK(cn_kv_get(f.kv, "G", kb, strlen(kb), &got, &f.arena, &f.err), &f.err);
    assert_value(got, blob, 1 << 20);
    /* the failed version was dropped: a new 20 MiB load fits again */
    ASSERT_OK(cn_kv_load_begin_flags(f.kv, "G", flags, &ld, &f.err), &f.err);
    for (int i = 0; i < 20; i++) {
        key_of(kb, (size_t)i + 100);
        ASSERT_OK(cn_kv_load_add(ld, kb, strlen(kb), blob, 1 << 20, &f.err), &f.err);
    }
    ASSERT_OK(cn_kv_load_commit(ld, NULL, &f.err), &f.err);
    cn_free(blob);
    fx_close(&f);
}

static void map_grows_and_limit_is_clear_on(const char *tmpl) {
    if (strncmp(tmpl, "lmdb:", 5) != 0) return;
    map_grows_once(tmpl, 0);
    map_grows_once(tmpl, CN_KV_LOAD_STREAM);
}
RUN_ON_EACH_BACKEND(map_grows_and_limit_is_clear)

/* ---- property test against the mem reference ------------------------------------------ */

static uint64_t rnd(uint64_t *s) {
    *s ^= *s << 13, *s ^= *s >> 7, *s ^= *s << 17;
    return *s;
}

static void random_ops_match_mem_on(const char *tmpl) {
    uint64_t seed = 20240611;
    const char *env_seed = getenv("CN_TEST_SEED");
    if (env_seed && *env_seed) seed = strtoull(env_seed, NULL, 10);
    uint64_t s = seed | 1;
    Fx f, ref;
    CnKvOptions fast = {.no_sync = true}; /* thousands of commits; durability is not the point */
    fx_open_opts(&f, tmpl, &fast);
    fx_open(&ref, "mem:reference");
    CnKv *both[2] = {f.kv, ref.kv};
    const char *dss[2] = {"R1", "R2"};
    for (int b = 0; b < 2; b++)
        for (int d = 0; d < 2; d++) ASSERT_OK(cn_kv_dataset_create(both[b], dss[d], &f.err), &f.err);
    for (int op = 0; op < (int)scaled(3000); op++) {
        const char *ds = dss[rnd(&s) % 2];
        int kind = (int)(rnd(&s) % 10);
        size_t n = 1 + rnd(&s) % 8;
        char kb[8][16], vb[8][40];
        CnKvSlice k[8], v[8];
        for (size_t i = 0; i < n; i++) {
            int kl = snprintf(kb[i], 16, "k%u", (unsigned)(rnd(&s) % 150));
            if (rnd(&s) % 4 == 0) kb[i][0] = '\0'; /* a NUL-led binary key */
            k[i] = (CnKvSlice){(const uint8_t *)kb[i], (size_t)kl};
            int vl = (int)(rnd(&s) % 30);
            for (int j = 0; j < vl; j++) vb[i][j] = (char)rnd(&s);
            v[i] = (CnKvSlice){(const uint8_t *)vb[i], (size_t)vl};
        }
        if (kind <= 3) {
            for (int b = 0; b < 2; b++) ASSERT_OK(cn_kv_multi_put(both[b], ds, k, v, n, &f.err), &f.err);
        } else if (kind == 4) {
            for (int b = 0; b < 2; b++) ASSERT_OK(cn_kv_multi_delete(both[b], ds, k, n, &f.err), &f.err);
        } else if (kind == 5) { /* a load of random pairs, committed or aborted */
            bool commit = rnd(&s) % 3 != 0;
            size_t m = rnd(&s) % 200;
            CnKvLoad *ld[2];
            for (int b = 0; b < 2; b++) ASSERT_OK(cn_kv_load_begin(both[b], ds, &ld[b], &f.err), &f.err);
            for (size_t i = 0; i < m; i++) {
                char lk[16], lv[16];
                int kl = snprintf(lk, sizeof lk, "k%u", (unsigned)(rnd(&s) % 150));
                int vl = snprintf(lv, sizeof lv, "L%zu", i);
                for (int b = 0; b < 2; b++)
                    ASSERT_OK(cn_kv_load_add(ld[b], lk, (size_t)kl, lv, (size_t)vl, &f.err), &f.err);
            }
            for (int b = 0; b < 2; b++) {
                if (commit) ASSERT_OK(cn_kv_load_commit(ld[b], NULL, &f.err), &f.err);
                else cn_kv_load_abort(ld[b]);
            }
        } else {
            CnKvSlice out[2][8];
            for (int b = 0; b < 2; b++) {
                cn_arena_reset(b ? &ref.arena : &f.arena);
                ASSERT_OK(cn_kv_multi_get(both[b], ds, k, n, out[b], b ? &ref.arena : &f.arena, &f.err), &f.err);
            }
            for (size_t i = 0; i < n; i++) {
                bool same = (out[0][i].data == NULL) == (out[1][i].data == NULL) &&
                            out[0][i].len == out[1][i].len &&
                            (!out[0][i].len || memcmp(out[0][i].data, out[1][i].data, out[0][i].len) == 0);
                if (!same)
                    fail_msg("op %d, dataset %s, key #%zu: %s differs from mem (seed %llu; "
                             "CN_TEST_SEED=%llu replays)", op, ds, i, f.uri,
                             (unsigned long long)seed, (unsigned long long)seed);
            }
        }
    }
    fx_close(&ref);
    fx_close(&f);
}
RUN_ON_EACH_BACKEND(random_ops_match_mem)

/* ---- URIs ---------------------------------------------------------------------------- */

static void uris_fail_clearly(void **state) {
    (void)state;
    static const struct {
        const char *uri;
        int code;
        const char *msg;
    } cases[] = {
        {"rediss://user:hunter2@cache:6379/0", CN_EUNSUPPORTED, "backend redis is not built into this chronon-c"},
#ifdef CN_HAVE_MONGOC /* built in: a malformed URI fails before any connection attempt */
        {"mongodb://user:hunter2@db:27017/a.b", CN_ECONFIG, "mongodb://user:***@db:27017/a.b\": Invalid database name"},
#else
        {"mongodb://db:27017", CN_EUNSUPPORTED, "backend mongodb is not built into this chronon-c"},
        {"mongodb+srv://cluster0", CN_EUNSUPPORTED, "backend mongodb is not built into"},
#endif
        {"dynamodb:us-east-1", CN_ECONFIG, "no \"//\" after the scheme"},
        {"dynamodb://bad/prefix", CN_ECONFIG, "unexpected text after the table prefix"},
        {"redis://cache:99999/0", CN_ECONFIG, "port is not 1..65535"},
        {"ftp://x", CN_ECONFIG, "unknown scheme \"ftp\""},
        {"warehouse/online", CN_ECONFIG, "has no scheme"},
        {"", CN_ECONFIG, "URI is empty"},
        {"lmdb:", CN_ECONFIG, "lmdb needs a directory"},
    };
    for (size_t i = 0; i < CN_ARRAY_LEN(cases); i++) {
        CnErr err = CN_ERR_INIT;
        CnKv *kv = (CnKv *)&err; /* must be reset to NULL */
        ASSERT_ERR(cn_kv_open(cases[i].uri, NULL, &kv, &err), cases[i].code, &err);
        ASSERT_CONTAINS(cn_err_msg(&err), cases[i].msg);
        assert_null(kv);
        if (strstr(cases[i].msg, "redis")) { /* credentials never reach messages */
            assert_null(strstr(cn_err_msg(&err), "hunter2"));
            ASSERT_CONTAINS(cn_err_msg(&err), "rediss://user:***@cache:6379/0");
        }
    }
}

CN_TEST_MAIN(cmocka_unit_test(put_get_overwrite_delete),
             cmocka_unit_test(datasets_list_drop_missing),
             cmocka_unit_test(empty_values_are_not_missing),
             cmocka_unit_test(large_values_roundtrip),
             cmocka_unit_test(binary_keys_with_nul),
             cmocka_unit_test(key_limits_and_messages),
             cmocka_unit_test(key_repr_hex_for_binary),
             cmocka_unit_test(dataset_names_follow_chronon),
             cmocka_unit_test(many_keys_sorted_and_unsorted),
             cmocka_unit_test(load_repeated_keys_last_wins),
             cmocka_unit_test(streamed_load),
             cmocka_unit_test(versions_flip_and_abort),
             cmocka_unit_test(atomic_flip_under_concurrent_reads),
             cmocka_unit_test(concurrent_readers_one_writer),
             cmocka_unit_test(reopen_after_close),
             cmocka_unit_test(read_only_open),
             cmocka_unit_test(corrupted_store_is_clear_error),
             cmocka_unit_test(map_grows_and_limit_is_clear),
             cmocka_unit_test(random_ops_match_mem),
             cmocka_unit_test(uris_fail_clearly))
