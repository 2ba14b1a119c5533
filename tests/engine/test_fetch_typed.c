/* test_fetch_typed.c: the typed fetch path (cn_fetcher_fetch_text) answers with the
 * bytes the generic path gives (json_dumps(cn_fetcher_fetch_json, JSON_COMPACT |
 * JSON_SORT_KEYS)), on random data: int and string keys, Join key mapping, hour/day/
 * week and unwindowed parts, null inputs, strings needing escapes, non-ASCII strings,
 * list values (generic path), keys given as strings, null or missing keys (generic
 * path), unknown keys, several keys per request, query times before the batch end and
 * in the sawtooth tail. It also checks that the typed path answered a good share of
 * the requests, left those with list values to the generic path, follows a new
 * upload, and answers as one thread does from several threads at once. */
#include "cn_test.h"
#include "cn_test_ice.h"

#include <dirent.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "base/alloc.h"
#include "base/date.h"
#include "base/fs.h"
#include "base/json.h"
#include "base/str.h"
#include "conf/conf.h"
#include "engine/fetch.h"
#include "engine/fetch_int.h"
#include "engine/online.h"
#include "online/kv.h"
#include "table/table.h"

#define N_USERS 120
#define N_DAYS 3

static uint64_t rnd(uint64_t *s) {
    *s ^= *s << 13, *s ^= *s >> 7, *s ^= *s << 17;
    return *s;
}

/* The name of user u: plain, with characters JSON escapes, or non-ASCII. */
static void user_name(uint64_t u, char *buf, size_t cap) {
    if (u % 11 == 3) snprintf(buf, cap, "q\"\\\t%llu", (unsigned long long)(u % 40));
    else if (u % 13 == 5) snprintf(buf, cap, "\xc3\xa9t\xc3\xa9%llu", (unsigned long long)(u % 40));
    else snprintf(buf, cap, "n%llu", (unsigned long long)(u % 40));
}

/* raw.ev {user_id, name, ts, amount, price, ds}: N_DAYS days ending 2024-01-30. */
static void load_events(CnIceCatalog *c, uint64_t seed, int64_t last_day, CnErr *err) {
    static const char *const names[] = {"user_id", "name", "ts", "amount", "price", "ds"};
    static const CnTypeId types[] = {CN_COL_INT64, CN_COL_STRING, CN_COL_INT64, CN_COL_INT64, CN_COL_FLOAT64, CN_COL_STRING};
    CnIceWrite *w = NULL;
    CnBatch *b = NULL;
    cn_test_ice_open(c, "raw", "ev", names, types, 6, &w, &b, err);
    for (int64_t d = last_day - N_DAYS + 1; d <= last_day; d++) {
        char ds[11];
        cn_ds_format((int32_t)d, ds);
        for (int i = 0; i < 400; i++) {
            uint64_t u = rnd(&seed) % N_USERS;
            char nm[32];
            user_name(u, nm, sizeof nm);
            cn_col_vec_append_i64(&b->cols[0], (int64_t)u);
            cn_col_vec_append_str(&b->cols[1], nm, strlen(nm));
            cn_col_vec_append_i64(&b->cols[2], d * CN_MS_PER_DAY + (int64_t)(rnd(&seed) % CN_MS_PER_DAY));
            if (rnd(&seed) % 9 == 0) cn_col_vec_append_null(&b->cols[3]);
            else cn_col_vec_append_i64(&b->cols[3], (int64_t)(rnd(&seed) % 2000) - 500);
            cn_col_vec_append_f64(&b->cols[4], (double)(rnd(&seed) % 100000) / 7.0 - 300.0);
            cn_col_vec_append_str(&b->cols[5], ds, 10);
        }
        cn_test_ice_flush(w, b, err);
    }
    cn_test_ice_close(w, b, err);
}

#define WINS "[{\"length\": 1, \"timeUnit\": 0}, {\"length\": 1, \"timeUnit\": 1}, {\"length\": 7, \"timeUnit\": 1}]"
#define DAY_WINS "[{\"length\": 1, \"timeUnit\": 1}, {\"length\": 7, \"timeUnit\": 1}]"
#define SRC(key, acc) \
    "\"sources\": [{\"events\": {\"table\": \"raw.ev\", \"query\": {\"selects\": {\"user_id\": \"user_id\", " \
    "\"name\": \"name\", \"amount\": \"amount\", \"price\": \"price\"}, \"timeColumn\": \"ts\"}}}], "      \
    "\"keyColumns\": [\"" key "\"], \"accuracy\": " acc

/* t.by_user.v1: int key, every window kind, a FIRST_K list; t.by_name.v1: string key,
 * SNAPSHOT accuracy (its values are stored as texts);
 * t.lists.v1: a LAST_K list and a HISTOGRAM map (the generic path writes maps). */
static const char *GB[3] = {
    "{\"metaData\": {\"name\": \"t.by_user.v1\", \"team\": \"t\", \"online\": 1}, " SRC("user_id", "0") ", \"aggregations\": ["
    "{\"inputColumn\": \"amount\", \"operation\": 7, \"windows\": " WINS "},"
    "{\"inputColumn\": \"amount\", \"operation\": 6, \"windows\": " WINS "},"
    "{\"inputColumn\": \"amount\", \"operation\": 8, \"windows\": " WINS "},"
    "{\"inputColumn\": \"amount\", \"operation\": 0, \"windows\": " WINS "},"
    "{\"inputColumn\": \"price\", \"operation\": 1},"
    "{\"inputColumn\": \"price\", \"operation\": 8, \"windows\": " WINS "},"
    "{\"inputColumn\": \"name\", \"operation\": 3, \"windows\": " WINS "},"
    "{\"inputColumn\": \"amount\", \"operation\": 14, \"argMap\": {\"k\": \"2\"}, \"windows\": " WINS "}]}",
    "{\"metaData\": {\"name\": \"t.by_name.v1\", \"team\": \"t\", \"online\": 1}, " SRC("name", "1") ", \"aggregations\": ["
    "{\"inputColumn\": \"amount\", \"operation\": 6, \"windows\": " DAY_WINS "},"
    "{\"inputColumn\": \"price\", \"operation\": 7, \"windows\": " DAY_WINS "}]}",
    "{\"metaData\": {\"name\": \"t.lists.v1\", \"team\": \"t\", \"online\": 1}, " SRC("user_id", "0") ", \"aggregations\": ["
    "{\"inputColumn\": \"amount\", \"operation\": 13, \"argMap\": {\"k\": \"3\"}, \"windows\": " WINS "},"
    "{\"inputColumn\": \"name\", \"operation\": 17, \"windows\": " WINS "}]}",
};

static void write_file(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    assert_true(fputs(text, f) >= 0);
    assert_int_equal(fclose(f), 0);
}

/* The repo: the GroupBys, t.j1.v1 (by_user + by_name through key mapping) and
 * t.j2.v1 (with lists). */
static void write_confs(const char *repo, CnErr *err) {
    char dir[700], path[800];
    const char *gbn[3] = {"by_user.v1", "by_name.v1", "lists.v1"};
    snprintf(dir, sizeof dir, "%s/production/group_bys/t", repo);
    ASSERT_OK(cn_fs_mkdirs(dir, err), err);
    for (int g = 0; g < 3; g++) {
        snprintf(path, sizeof path, "%s/%s", dir, gbn[g]);
        write_file(path, GB[g]);
    }
    snprintf(dir, sizeof dir, "%s/production/joins/t", repo);
    ASSERT_OK(cn_fs_mkdirs(dir, err), err);
    const char *left = "\"left\": {\"events\": {\"table\": \"raw.ev\", \"query\": {\"selects\": {\"user_id\": \"user_id\", "
                       "\"uname\": \"name\", \"ts\": \"ts\"}, \"timeColumn\": \"ts\"}}}";
    CnBuf j = CN_BUF_INIT;
    cn_buf_printf(&j, "{\"metaData\": {\"name\": \"t.j1.v1\", \"team\": \"t\", \"online\": 1}, %s, \"joinParts\": ["
                      "{\"groupBy\": %s, \"prefix\": \"u\"}, {\"groupBy\": %s, \"keyMapping\": {\"uname\": \"name\"}}]}",
                  left, GB[0], GB[1]);
    snprintf(path, sizeof path, "%s/j1.v1", dir);
    write_file(path, j.data);
    j.len = 0;
    cn_buf_printf(&j, "{\"metaData\": {\"name\": \"t.j2.v1\", \"team\": \"t\", \"online\": 1}, %s, \"joinParts\": ["
                      "{\"groupBy\": %s}, {\"groupBy\": %s, \"prefix\": \"l\"}]}",
                  left, GB[0], GB[2]);
    snprintf(path, sizeof path, "%s/j2.v1", dir);
    write_file(path, j.data);
    cn_buf_fini(&j);
}

static void upload(CnIceCatalog *c, CnKv *kv, const char *ds, CnErr *err) {
    for (int g = 0; g < 3; g++) {
        CnConf *conf = NULL;
        ASSERT_OK(cn_conf_loadb("production/group_bys/t/x", GB[g], strlen(GB[g]), CN_CONF_GROUP_BY, &conf, err), err);
        CnEngOpts o;
        memset(&o, 0, sizeof o);
        o.end_ds = ds;
        CnEngUploadStats st;
        ASSERT_OK(cn_eng_upload(c, kv, conf->group_by, GB[g], ds, &o, &st, err), err);
        assert_true(st.keys > 0);
        cn_conf_free(conf);
    }
}

/* A random key map: user ids known and unknown, as numbers or strings, null, missing. */
static json_t *random_keys(uint64_t *s) {
    json_t *o = json_object();
    uint64_t u = rnd(s) % (N_USERS + 20);
    uint64_t how = rnd(s) % 20;
    if (how == 0) json_object_set_new(o, "user_id", json_null());
    else if (how == 1) json_object_set_new(o, "user_id", json_string("not a number"));
    else if (how < 5) json_object_set_new(o, "user_id", json_sprintf("%llu", (unsigned long long)u));
    else if (how != 5) json_object_set_new(o, "user_id", json_integer((json_int_t)u));
    char nm[32];
    user_name(rnd(s) % (N_USERS + 20), nm, sizeof nm);
    if (rnd(s) % 10) json_object_set_new(o, "uname", json_string(nm));
    if (rnd(s) % 4) json_object_set_new(o, "name", json_string(nm));
    return o;
}

/* Requests the service body answered (it declines what the typed path declines). */
static int n_service;

/* The service body of a request holds the generic answer's keys and values in the
 * feature service's shape, with every double already in its shortest form (rewriting
 * the body's long reals changes nothing). */
static void check_service(CnFetcher *f, CnFetchKind kind, const char *name, const json_t *req, int64_t q,
                          const json_t *gen, CnErr *err) {
    CnBuf body = CN_BUF_INIT, again = CN_BUF_INIT;
    int rc = cn_fetcher_fetch_service(f, kind, name, req, q, &body, err);
    if (rc == CN_FETCH_DECLINED) {
        assert_int_equal(body.len, 0);
        cn_buf_fini(&body); /* it may have grown before the decline */
        return;
    }
    ASSERT_OK(rc, err);
    n_service++;
    assert_true(body.len > 2 && body.data[body.len - 1] == '\n');
    json_error_t je;
    json_t *got = json_loadb(body.data, body.len, 0, &je);
    if (!got) fail_msg("service body is not JSON (%s): %s", je.text, body.data);
    json_t *res = json_object_get(got, "results");
    assert_int_equal(json_array_size(res), json_array_size(gen));
    for (size_t i = 0; i < json_array_size(gen); i++) {
        json_t *r = json_array_get(res, i), *g = json_array_get(gen, i);
        assert_string_equal(json_string_value(json_object_get(r, "status")), "Success");
        assert_true(json_equal(json_object_get(r, "entityKeys"), json_object_get(g, "keys")));
        if (!json_equal(json_object_get(r, "features"), json_object_get(g, "values")))
            fail_msg("service features differ from the generic values: %s", body.data);
    }
    cn_json_copy_short_reals(&again, body.data, body.len);
    assert_int_equal(again.len, body.len);
    assert_memory_equal(again.data, body.data, body.len);
    json_decref(got);
    cn_buf_fini(&again);
    cn_buf_fini(&body);
}

static void compare(CnFetcher *f, CnFetchKind kind, const char *name, const json_t *req, int64_t q, CnErr *err) {
    json_t *gen = NULL;
    CnBuf txt = CN_BUF_INIT;
    ASSERT_OK(cn_fetcher_fetch_json(f, kind, name, req, q, &gen, err), err);
    ASSERT_OK(cn_fetcher_fetch_text(f, kind, name, req, q, &txt, err), err);
    char *want = json_dumps(gen, JSON_COMPACT | JSON_SORT_KEYS);
    assert_non_null(want);
    if (strcmp(want, txt.data)) {
        char *r = json_dumps(req, JSON_COMPACT);
        fprintf(stderr, "fetch %s of %s at %lld:\n typed   %s\n generic %s\n", name, r, (long long)q, txt.data, want);
        cn_free_libc(r);
    }
    assert_string_equal(txt.data, want);
    cn_free_libc(want);
    check_service(f, kind, name, req, q, gen, err);
    json_decref(gen);
    cn_buf_fini(&txt);
}

/* Threads sharing one fetcher: each answer equals the one-thread answer. */
#define N_THREADS 3
#define N_REQS 40

typedef struct Shared {
    CnFetcher *f;
    int64_t q;
    json_t *reqs[N_REQS];
    char *want[N_REQS];
    int bad;
} Shared;

static void *fetch_thread(void *arg) {
    Shared *sh = arg;
    CnBuf txt = CN_BUF_INIT;
    for (int round = 0; round < 20; round++)
        for (int i = 0; i < N_REQS; i++) {
            CnErr e = CN_ERR_INIT;
            txt.len = 0;
            if (cn_fetcher_fetch_text(sh->f, CN_FETCH_JOIN, "t/j1.v1", sh->reqs[i], sh->q, &txt, &e) ||
                strcmp(txt.data, sh->want[i]))
                __atomic_add_fetch(&sh->bad, 1, __ATOMIC_RELAXED);
        }
    cn_buf_fini(&txt);
    return NULL;
}

static void threads_agree(CnFetcher *f, int64_t day_after, CnErr *err) {
    Shared sh;
    memset(&sh, 0, sizeof sh);
    sh.f = f;
    sh.q = day_after * CN_MS_PER_DAY + 5 * 3600000;
    uint64_t s = 99;
    for (int i = 0; i < N_REQS; i++) {
        sh.reqs[i] = json_pack("[{s:I, s:s}]", "user_id", (json_int_t)(rnd(&s) % N_USERS), "uname", "n3");
        json_t *gen = NULL;
        ASSERT_OK(cn_fetcher_fetch_json(f, CN_FETCH_JOIN, "t/j1.v1", sh.reqs[i], sh.q, &gen, err), err);
        sh.want[i] = json_dumps(gen, JSON_COMPACT | JSON_SORT_KEYS);
        json_decref(gen);
    }
    uint64_t before = cn_fetcher__typed_answers(f);
    pthread_t th[N_THREADS];
    for (int t = 0; t < N_THREADS; t++) assert_int_equal(pthread_create(&th[t], NULL, fetch_thread, &sh), 0);
    for (int t = 0; t < N_THREADS; t++) pthread_join(th[t], NULL);
    assert_int_equal(sh.bad, 0);
    assert_true(cn_fetcher__typed_answers(f) - before >= N_THREADS * 20 * N_REQS / 2);
    for (int i = 0; i < N_REQS; i++) {
        json_decref(sh.reqs[i]);
        cn_free_libc(sh.want[i]);
    }
}

static void test_typed_equals_generic(void **state) {
    (void)state;
    CnErr err = CN_ERR_INIT;
    char dir[] = "/tmp/cn_fetch_typed_XXXXXX";
    assert_non_null(mkdtemp(dir));
    char wh[600], catu[600], uri[600], repo[600];
    snprintf(wh, sizeof wh, "%s/wh", dir);
    snprintf(catu, sizeof catu, "sqlite:%s/catalog.db", dir);
    snprintf(uri, sizeof uri, "lmdb:%s/online", dir);
    snprintf(repo, sizeof repo, "%s/repo", dir);
    int64_t last;
    assert_int_equal(cn_ds_parse("2024-01-30", &last), 0);
    CnIceCatalog *c = NULL;
    ASSERT_OK(cn_ice_catalog_open(wh, catu, &c, &err), &err);
    load_events(c, 0x9E3779B97F4A7C15ull, last, &err);
    CnKv *kv = NULL;
    CnKvOptions ko = {.no_sync = true};
    ASSERT_OK(cn_kv_open(uri, &ko, &kv, &err), &err);
    upload(c, kv, "2024-01-29", &err);
    ASSERT_OK(cn_kv_dataset_create(kv, CN_KV_METADATA_DATASET, &err), &err);
    write_confs(repo, &err);
    CnFetcher *f = NULL;
    ASSERT_OK(cn_fetcher_open(uri, repo, &f, &err), &err);

    struct {
        CnFetchKind kind;
        const char *name;
        bool typed; /* no map feature (null maps the typed path writes too) */
    } what[] = {{CN_FETCH_GROUPBY, "t/by_user.v1", true}, {CN_FETCH_GROUPBY, "t.by_name.v1", true},
                {CN_FETCH_JOIN, "t/j1.v1", true}, {CN_FETCH_JOIN, "t/j2.v1", false},
                {CN_FETCH_GROUPBY, "t/lists.v1", false}};
    uint64_t s = 42;
    for (int round = 0; round < 2; round++) {
        /* round 1 after a newer upload: the cached plans and servings must follow */
        if (round == 1) upload(c, kv, "2024-01-30", &err);
        int64_t be = (last + round) * CN_MS_PER_DAY;
        int64_t qs[] = {be - 1, be, be + 1, be + 3 * 3600000 + 17, be + 25 * 3600000, be + 3 * CN_MS_PER_DAY};
        for (size_t w = 0; w < sizeof what / sizeof *what; w++) {
            uint64_t before = cn_fetcher__typed_answers(f);
            int n_plain = 0;
            for (int i = 0; i < 150; i++) {
                json_t *req = json_array();
                int nk = 1 + (int)(rnd(&s) % 3);
                for (int k = 0; k < nk; k++) json_array_append_new(req, random_keys(&s));
                /* GroupBy by_name: its key column is "name" */
                compare(f, what[w].kind, what[w].name, req, qs[rnd(&s) % 6], &err);
                json_decref(req);
                n_plain++;
            }
            uint64_t typed = cn_fetcher__typed_answers(f) - before;
            if (what[w].typed) assert_true(typed >= (uint64_t)n_plain / 10);
            else assert_true(typed < (uint64_t)n_plain); /* a map value takes the generic path */
        }
        /* a request whose every key is well-formed and present is answered typed */
        uint64_t before = cn_fetcher__typed_answers(f);
        json_t *req = json_pack("[{s:I, s:s}, {s:s, s:s}]", "user_id", (json_int_t)7, "uname", "n7", "user_id", "8",
                                "uname", "nobody");
        compare(f, CN_FETCH_JOIN, "t.j1.v1", req, be + 3600000, &err);
        assert_int_equal(cn_fetcher__typed_answers(f) - before, 2); /* the text and the service body */
        json_decref(req);
    }
    assert_true(n_service > 100);
    threads_agree(f, last + 1, &err);
    /* a request the typed path leaves alone still fails as the generic path does */
    CnBuf txt = CN_BUF_INIT;
    json_t *bad = json_pack("[{s:i}]", "user_id", 1);
    ASSERT_ERR(cn_fetcher_fetch_text(f, CN_FETCH_JOIN, "t/no_such.v1", bad, 0, &txt, &err), CN_ENOTFOUND, &err);
    assert_int_equal(txt.len, 0);
    json_decref(bad);
    cn_buf_fini(&txt);
    cn_fetcher_close(f);
    cn_kv_close(kv);
    cn_ice_catalog_close(c);
    cn_test_rm_rf(dir);
}

/* The typed path's reals are jansson's text of them, across the range it formats
 * itself (1e-5 <= |x| < 1e17) and outside it. */
static void test_real_text(void **state) {
    (void)state;
    uint64_t s = 7;
    CnBuf b = CN_BUF_INIT;
    static const double fixed[] = {0.0, -0.0, 1.0, -1.0, 0.1, 0.5, 1e-5, 9.999999999999999e-6, 1e-4, 0.001, 1e16,
                                   1e17, 99999999999999984.0, 9007199254740993.0, 123456789012345678.0, 5e-324,
                                   1.7976931348623157e308, 2.5, 0.30000000000000004, 1234.5, 6301.4, -771.5};
    for (int i = 0; i < 200000; i++) {
        double d;
        if (i < (int)(sizeof fixed / sizeof *fixed)) {
            d = fixed[i];
        } else if (i % 3 == 0) {
            uint64_t bits = rnd(&s);
            memcpy(&d, &bits, sizeof d);
            if (!isfinite(d)) continue;
        } else if (i % 3 == 1) {
            d = (double)(int64_t)(rnd(&s) % 2000000 - 1000000) / (double)(1 + rnd(&s) % 997);
        } else {
            d = ldexp((double)(rnd(&s) >> 11), (int)(rnd(&s) % 120) - 100);
        }
        json_t *j = json_real(d);
        char *want = json_dumps(j, JSON_ENCODE_ANY | JSON_COMPACT);
        b.len = 0;
        cn_fetcher__real_text(d, &b);
        cn_buf_putc(&b, 0);
        if (strcmp(b.data, want)) fprintf(stderr, "%.17g (bits of %a): typed %s, jansson %s\n", d, d, b.data, want);
        assert_string_equal(b.data, want);
        cn_free_libc(want);
        json_decref(j);
    }
    cn_buf_fini(&b);
}

CN_TEST_MAIN(cmocka_unit_test(test_real_text), cmocka_unit_test(test_typed_equals_generic))
