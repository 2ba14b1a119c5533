/* test_upload_fold.c: the upload fold (src/engine/online.c: TEMPORAL records of COUNT,
 * SUM, AVERAGE, MIN and MAX over one long column built from rows put in key order once)
 * stores the bytes of the generic per-part path (CN_ENG_UPLOAD_FOLD=0), on random data:
 * int, string and two-column keys, null keys and values, values near the int64 limits
 * (wrapping sums), 5-minute, hourly and daily hops, unwindowed parts, events after the
 * batch end and late events in later partitions, several threads and one. Every key of
 * the data is read back from both stores and compared byte for byte, and the fetched
 * values at several times after the batch end are compared too. The same on an entity
 * source (daily snapshots: only partition D counts), whose values at the batch end are
 * also compared with the offline backfill's rows of D. Many keys (test_fold_many_keys):
 * the threaded key sort with uneven buckets and many chunks of keys, every record equal
 * to the generic path's. */
#include "cn_test.h"
#include "cn_test_ice.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "base/alloc.h"
#include "base/date.h"
#include "base/str.h"
#include "conf/conf.h"
#include "engine/engine.h"
#include "engine/online.h"
#include "online/kv.h"
#include "table/table.h"

#define N_USERS 300
#define N_DAYS 4
#define N_CASES 6

static uint64_t rnd(uint64_t *s) {
    *s ^= *s << 13, *s ^= *s >> 7, *s ^= *s << 17;
    return *s;
}

static void user_name(uint64_t u, char *buf, size_t cap) { snprintf(buf, cap, "n%llu", (unsigned long long)(u % 97)); }

/* raw.<table> {user_id, name, ts, amount, ds}: N_DAYS partitions ending last_day (the
 * events of raw.ev, or the daily snapshots of raw.snap: the same shape of rows). The
 * snapshots get no amounts near the int64 limits: an AVERAGE of such values depends on
 * the order of its double sum, which the backfill and the upload do not share. */
static void load_rows(CnIceCatalog *c, const char *table, uint64_t seed, int64_t last_day, CnErr *err) {
    static const char *const names[] = {"user_id", "name", "ts", "amount", "ds"};
    static const CnTypeId types[] = {CN_COL_INT64, CN_COL_STRING, CN_COL_INT64, CN_COL_INT64, CN_COL_STRING};
    CnIceWrite *w = NULL;
    CnBatch *b = NULL;
    cn_test_ice_open(c, "raw", table, names, types, 5, &w, &b, err);
    for (int64_t d = last_day - N_DAYS + 1; d <= last_day; d++) {
        char ds[11];
        cn_ds_format((int32_t)d, ds);
        for (int i = 0; i < 1500; i++) {
            uint64_t u = rnd(&seed) % N_USERS;
            char nm[32];
            user_name(u, nm, sizeof nm);
            if (rnd(&seed) % 50 == 0) cn_col_vec_append_null(&b->cols[0]);
            else cn_col_vec_append_i64(&b->cols[0], (int64_t)u);
            cn_col_vec_append_str(&b->cols[1], nm, strlen(nm));
            /* mostly this day; some late (an earlier day), some after the day, some on edges */
            int64_t t = d * CN_MS_PER_DAY + (int64_t)(rnd(&seed) % CN_MS_PER_DAY);
            uint64_t how = rnd(&seed) % 20;
            if (how == 0) t -= CN_MS_PER_DAY * (int64_t)(1 + rnd(&seed) % 3);
            else if (how == 1) t += CN_MS_PER_DAY;
            else if (how == 2) t = d * CN_MS_PER_DAY + (int64_t)(rnd(&seed) % 3) * 300000;
            cn_col_vec_append_i64(&b->cols[2], t);
            uint64_t v = rnd(&seed) % 40;
            if (v == 0) cn_col_vec_append_null(&b->cols[3]);
            else if (v == 1 && !strcmp(table, "ev")) cn_col_vec_append_i64(&b->cols[3], INT64_MAX - (int64_t)(rnd(&seed) % 5));
            else if (v == 2 && !strcmp(table, "ev")) cn_col_vec_append_i64(&b->cols[3], INT64_MIN + (int64_t)(rnd(&seed) % 5));
            else cn_col_vec_append_i64(&b->cols[3], (int64_t)(rnd(&seed) % 2000) - 700);
            cn_col_vec_append_str(&b->cols[4], ds, 10);
        }
        cn_test_ice_flush(w, b, err);
    }
    cn_test_ice_close(w, b, err);
}

static void load_events(CnIceCatalog *c, uint64_t seed, int64_t last_day, CnErr *err) {
    load_rows(c, "ev", seed, last_day, err);
}

/* A random fold-eligible TEMPORAL GroupBy t.g<i>.v1 over raw.ev, or with entities over
 * the snapshots raw.snap (then its first part has windows: a GroupBy without any window
 * counts an entity row whose ts is after D offline but not online, compute.md 5). */
static void random_conf(uint64_t *s, int i, bool entities, CnBuf *js) {
    static const char *KEYS[] = {"[\"user_id\"]", "[\"name\"]", "[\"user_id\", \"name\"]"};
    static const int OPS[] = {6, 7, 8, 0, 1}; /* COUNT SUM AVERAGE MIN MAX */
    static const char *WINS[] = {"{\"length\": 3, \"timeUnit\": 0}", "{\"length\": 1, \"timeUnit\": 1}",
                                 "{\"length\": 2, \"timeUnit\": 1}", "{\"length\": 7, \"timeUnit\": 1}",
                                 "{\"length\": 14, \"timeUnit\": 1}"};
    js->len = 0;
    cn_buf_printf(js,
                  "{\"metaData\": {\"name\": \"t.g%d.v1\", \"team\": \"t\", \"online\": 1, \"outputNamespace\": "
                  "\"out\"}, \"sources\": [{%s, \"query\": {\"selects\": {\"user_id\": \"user_id\", \"name\": "
                  "\"name\", \"amount\": \"amount\"}, \"timeColumn\": \"ts\"}}}], \"keyColumns\": %s, \"accuracy\": 0, "
                  "\"aggregations\": [",
                  i, entities ? "\"entities\": {\"snapshotTable\": \"raw.snap\"" : "\"events\": {\"table\": \"raw.ev\"",
                  KEYS[rnd(s) % 3]);
    uint32_t ops = (uint32_t)(rnd(s) % 31) + 1; /* a non-empty set: each output name once */
    for (int a = 0, o = 0; o < 5; o++) {
        if (!(ops & (1u << o))) continue;
        cn_buf_printf(js, "%s{\"inputColumn\": \"amount\", \"operation\": %d", a++ ? ", " : "", OPS[o]);
        if (rnd(s) % 5 || (entities && a == 1)) {
            cn_buf_puts(js, ", \"windows\": [");
            int n_w = 1 + (int)(rnd(s) % 3), first = 1;
            uint32_t used = 0;
            for (int k = 0; k < n_w; k++) {
                uint32_t wi = (uint32_t)(rnd(s) % 5);
                if (used & (1u << wi)) continue;
                used |= 1u << wi;
                cn_buf_printf(js, "%s%s", first ? "" : ", ", WINS[wi]);
                first = 0;
            }
            cn_buf_puts(js, "]");
        }
        cn_buf_puts(js, "}");
    }
    cn_buf_puts(js, "]}");
}

static void upload_with(CnIceCatalog *c, CnKv *kv, const char *js, const char *ds, const char *fold,
                        const char *threads, CnEngUploadStats *st, CnErr *err) {
    setenv("CN_ENG_UPLOAD_FOLD", fold, 1);
    setenv("CN_THREADS", threads, 1);
    CnConf *conf = NULL;
    ASSERT_OK(cn_conf_loadb("production/group_bys/t/g", js, strlen(js), CN_CONF_GROUP_BY, &conf, err), err);
    CnEngOpts o;
    memset(&o, 0, sizeof o);
    o.end_ds = ds;
    ASSERT_OK(cn_eng_upload(c, kv, conf->group_by, js, ds, &o, st, err), err);
    cn_conf_free(conf);
    unsetenv("CN_ENG_UPLOAD_FOLD");
    unsetenv("CN_THREADS");
}

/* Every key of the data (user ids and names, both key shapes) read from both stores. */
static void compare_stores(CnKv *a, CnKv *b, const char *gb_name, int64_t batch_end, uint64_t *s, CnErr *err) {
    CnEngServing *sa = NULL, *sb = NULL;
    ASSERT_OK(cn_eng_serving_load(a, gb_name, &sa, err), err);
    ASSERT_OK(cn_eng_serving_load(b, gb_name, &sb, err), err);
    const CnSchema *ks = cn_eng_serving_key_schema(sa);
    CnBatch *kb = NULL;
    ASSERT_OK(cn_col_batch_new(ks, &kb, err), err);
    CnBuf key = CN_BUF_INIT;
    CnArena ar;
    cn_arena_init(&ar, 0);
    int found = 0;
    for (uint64_t u = 0; u < N_USERS; u++) {
        char nm[32];
        user_name(u, nm, sizeof nm);
        cn_col_batch_reset(kb);
        for (uint32_t k = 0; k < ks->n_fields; k++) {
            if (!strcmp(ks->fields[k].name, "user_id")) cn_col_vec_append_i64(&kb->cols[k], (int64_t)u);
            else cn_col_vec_append_str(&kb->cols[k], nm, strlen(nm));
        }
        ASSERT_OK(cn_col_batch_sync_rows(kb, err), err);
        assert_true(cn_eng_serving_key(sa, kb, 0, &key));
        CnKvSlice va = {NULL, 0}, vb = {NULL, 0};
        ASSERT_OK(cn_kv_get(a, cn_eng_serving_dataset(sa), key.data, key.len, &va, &ar, err), err);
        ASSERT_OK(cn_kv_get(b, cn_eng_serving_dataset(sb), key.data, key.len, &vb, &ar, err), err);
        assert_int_equal(va.data != NULL, vb.data != NULL);
        if (!va.data) continue;
        found++;
        assert_int_equal(va.len, vb.len);
        assert_memory_equal(va.data, vb.data, va.len);
        /* the fetched values at the batch end and in the sawtooth tail */
        for (int i = 0; i < 3; i++) {
            int64_t q = batch_end + (i ? (int64_t)(rnd(s) % (2 * CN_MS_PER_DAY)) : 0);
            json_t *oa = json_object(), *ob = json_object();
            ASSERT_OK(cn_eng_serving_values(sa, va.data, va.len, q, oa, err), err);
            ASSERT_OK(cn_eng_serving_values(sb, vb.data, vb.len, q, ob, err), err);
            char *ta = json_dumps(oa, JSON_COMPACT | JSON_SORT_KEYS), *tb = json_dumps(ob, JSON_COMPACT | JSON_SORT_KEYS);
            assert_string_equal(ta, tb);
            assert_true(json_object_size(oa) > 0);
            cn_free_libc(ta);
            cn_free_libc(tb);
            json_decref(oa);
            json_decref(ob);
        }
        cn_arena_reset(&ar);
    }
    assert_true(found > 0);
    cn_arena_fini(&ar);
    cn_buf_fini(&key);
    cn_col_batch_free(kb);
    cn_eng_serving_free(sa);
    cn_eng_serving_free(sb);
}

/* Each key row of the backfill's output for ds (out.t_g<i>_v1) against the value fetched
 * from the uploaded record at the batch end: equal (reals within 1e-9 relative). A key
 * of D without a row in reach has no record; it must have no non-null backfill value
 * other than a zero count. Returns the keys compared. */
static int compare_backfill(CnIceCatalog *c, CnKv *kv, const char *gb_name, const char *table, const char *ds,
                            int64_t batch_end, CnErr *err) {
    CnEngServing *sv = NULL;
    ASSERT_OK(cn_eng_serving_load(kv, gb_name, &sv, err), err);
    const CnSchema *ks = cn_eng_serving_key_schema(sv), *vs = cn_eng_serving_value_schema(sv);
    CnIceTable *t = NULL;
    ASSERT_OK(cn_ice_table_load(c, "out", table, &t, err), err);
    CnIceScanOpts so = {.ds_lo = ds, .ds_hi = ds};
    CnIceScan *scan = NULL;
    ASSERT_OK(cn_ice_scan_open(c, t, &so, &scan, err), err);
    const CnSchema *os = cn_ice_scan_schema(scan);
    int kcol[8], vcol[64];
    assert_true(ks->n_fields <= 8 && vs->n_fields <= 64);
    for (uint32_t k = 0; k < ks->n_fields; k++) assert_true((kcol[k] = cn_col_schema_find(os, ks->fields[k].name)) >= 0);
    for (uint32_t v = 0; v < vs->n_fields; v++) assert_true((vcol[v] = cn_col_schema_find(os, vs->fields[v].name)) >= 0);
    CnBatch *kb = NULL;
    ASSERT_OK(cn_col_batch_new(ks, &kb, err), err);
    CnBuf key = CN_BUF_INIT;
    CnArena ar;
    cn_arena_init(&ar, 0);
    int compared = 0, rows = 0;
    const CnBatch *b = NULL;
    while (cn_ice_scan_next(scan, &b, err) == 0 && b) {
        for (uint32_t r = 0; r < b->n_rows; r++, rows++) {
            cn_col_batch_reset(kb);
            for (uint32_t k = 0; k < ks->n_fields; k++)
                assert_int_equal(cn_col_vec_append_from(&kb->cols[k], &b->cols[kcol[k]], r), 0);
            ASSERT_OK(cn_col_batch_sync_rows(kb, err), err);
            cn_eng_serving_key(sv, kb, 0, &key);
            CnKvSlice v = {NULL, 0};
            ASSERT_OK(cn_kv_get(kv, cn_eng_serving_dataset(sv), key.data, key.len, &v, &ar, err), err);
            json_t *got = json_object();
            ASSERT_OK(cn_eng_serving_values(sv, v.data, v.len, batch_end, got, err), err);
            for (uint32_t f = 0; f < vs->n_fields; f++) {
                json_t *want = cn_eng_vec_json(&b->cols[vcol[f]], r);
                json_t *g = json_object_get(got, vs->fields[f].name);
                if (!v.data) { /* no record: nothing in reach, so no value offline either */
                    assert_true(json_is_null(want) || (json_is_integer(want) && json_integer_value(want) == 0));
                } else if (json_is_real(want) && json_is_real(g)) {
                    double x = json_real_value(want), y = json_real_value(g);
                    if (!(fabs(x - y) <= 1e-9 * fmax(1.0, fabs(x)))) fail_msg("%s row %d %s: backfill %.17g, fetched %.17g", table, rows, vs->fields[f].name, x, y);
                } else if (!json_equal(want, g)) {
                    char *tw = json_dumps(want, JSON_ENCODE_ANY), *tg = json_dumps(g ? g : json_null(), JSON_ENCODE_ANY);
                    fail_msg("%s row %d %s: backfill %s, fetched %s", table, rows, vs->fields[f].name, tw, tg);
                }
                json_decref(want);
            }
            compared += v.data != NULL;
            json_decref(got);
            cn_arena_reset(&ar);
        }
    }
    assert_true(rows > 0);
    cn_arena_fini(&ar);
    cn_buf_fini(&key);
    cn_col_batch_free(kb);
    cn_ice_scan_close(scan);
    cn_ice_table_free(t);
    cn_eng_serving_free(sv);
    return compared;
}

/* A temporary directory (dir: a mkdtemp template) with a warehouse and its catalog. */
static CnIceCatalog *open_warehouse(char *dir, CnErr *err) {
    assert_non_null(mkdtemp(dir));
    char wh[600], catu[700];
    snprintf(wh, sizeof wh, "%s/wh", dir);
    snprintf(catu, sizeof catu, "sqlite:%s/catalog.db", dir);
    CnIceCatalog *c = NULL;
    ASSERT_OK(cn_ice_catalog_open(wh, catu, &c, err), err);
    return c;
}

/* Random GroupBys uploaded by the fold (several threads and one) and by the generic
 * path into two stores, compared key by key; on entities also against the backfill. */
static void fold_vs_generic(bool entities) {
    CnErr err = CN_ERR_INIT;
    char dir[] = "/tmp/cn_upfold_XXXXXX";
    CnIceCatalog *c = open_warehouse(dir, &err);
    char ua[700], ub[700];
    snprintf(ua, sizeof ua, "lmdb:%s/fold", dir);
    snprintf(ub, sizeof ub, "lmdb:%s/generic", dir);
    const char *seed_env = getenv("CN_TEST_SEED");
    uint64_t seed = seed_env ? strtoull(seed_env, NULL, 10) : (uint64_t)time(NULL) * 2654435761u;
    if (!seed) seed = 1;
    printf("seed %llu\n", (unsigned long long)seed);
    const char *DS = "2024-01-30";
    int64_t day;
    assert_int_equal(cn_ds_parse(DS, &day), 0);
    uint64_t s = seed;
    load_rows(c, entities ? "snap" : "ev", rnd(&s), day, &err);
    CnKv *ka = NULL, *kb = NULL;
    CnKvOptions ko = {.no_sync = true};
    ASSERT_OK(cn_kv_open(ua, &ko, &ka, &err), &err);
    ASSERT_OK(cn_kv_open(ub, &ko, &kb, &err), &err);
    CnBuf js = CN_BUF_INIT;
    int backfilled = 0;
    for (int i = 0; i < N_CASES; i++) {
        random_conf(&s, i, entities, &js);
        CnEngUploadStats sa, sb;
        /* one and several folding threads, and the day before the last */
        const char *ds = i % 3 == 2 ? "2024-01-29" : DS;
        upload_with(c, ka, js.data, ds, "1", i % 2 ? "1" : "3", &sa, &err);
        upload_with(c, kb, js.data, ds, "0", "1", &sb, &err);
        assert_true(sa.batch_path);
        assert_true(sa.streamed);
        assert_false(sb.batch_path);
        assert_true(sa.keys > 0);
        assert_int_equal(sa.keys, sb.keys);
        char name[32], table[32];
        snprintf(name, sizeof name, "t.g%d.v1", i);
        compare_stores(ka, kb, name, sa.batch_end_ms, &s, &err);
        if (!entities) continue;
        CnConf *conf = NULL;
        ASSERT_OK(cn_conf_loadb("production/group_bys/t/g", js.data, js.len, CN_CONF_GROUP_BY, &conf, &err), &err);
        CnEngOpts o;
        memset(&o, 0, sizeof o);
        o.start_ds = ds;
        o.end_ds = ds;
        ASSERT_OK(cn_eng_groupby_backfill(c, conf->group_by, &o, NULL, &err), &err);
        cn_conf_free(conf);
        snprintf(table, sizeof table, "t_g%d_v1", i);
        backfilled += compare_backfill(c, ka, name, table, ds, sa.batch_end_ms, &err);
    }
    if (entities) assert_true(backfilled >= N_CASES * N_USERS / 4);
    cn_buf_fini(&js);
    cn_kv_close(ka);
    cn_kv_close(kb);
    cn_ice_catalog_close(c);
    cn_test_rm_rf(dir);
}

static void test_fold_equals_generic(void **state) {
    (void)state;
    fold_vs_generic(false);
}

/* An entity source: partition D only (compute.md 8.1), against the generic path and
 * the backfill. */
static void test_fold_entities(void **state) {
    (void)state;
    fold_vs_generic(true);
}

/* An operation outside the fold (LAST_K) takes the generic path. */
static void test_other_ops_take_generic_path(void **state) {
    (void)state;
    CnErr err = CN_ERR_INIT;
    char dir[] = "/tmp/cn_upfold_XXXXXX";
    CnIceCatalog *c = open_warehouse(dir, &err);
    char ua[700];
    snprintf(ua, sizeof ua, "lmdb:%s/kv", dir);
    int64_t day;
    assert_int_equal(cn_ds_parse("2024-01-30", &day), 0);
    load_events(c, 42, day, &err);
    CnKv *ka = NULL;
    CnKvOptions ko = {.no_sync = true};
    ASSERT_OK(cn_kv_open(ua, &ko, &ka, &err), &err);
    const char *js = "{\"metaData\": {\"name\": \"t.k.v1\", \"team\": \"t\", \"online\": 1}, \"sources\": [{\"events\": "
                     "{\"table\": \"raw.ev\", \"query\": {\"selects\": {\"user_id\": \"user_id\", \"amount\": "
                     "\"amount\"}, \"timeColumn\": \"ts\"}}}], \"keyColumns\": [\"user_id\"], \"accuracy\": 0, "
                     "\"aggregations\": [{\"inputColumn\": \"amount\", \"operation\": 7}, {\"inputColumn\": "
                     "\"amount\", \"operation\": 13, \"argMap\": {\"k\": \"2\"}}]}";
    CnEngUploadStats st;
    upload_with(c, ka, js, "2024-01-30", "1", "2", &st, &err);
    assert_false(st.batch_path);
    assert_true(st.keys > 0);
    cn_kv_close(ka);
    cn_ice_catalog_close(c);
    cn_test_rm_rf(dir);
}

/* ~100k keys, half of them multiples of 256 (the first byte of their little-endian key,
 * which the sort buckets by, is then 0: uneven buckets): the threaded key sort and
 * records in many chunks, one thread and three, against the generic path, record by
 * record over every key of the data. The 300k rows are one file of two row groups,
 * which three threads read split by row group: the AVERAGE's double sums of large
 * amounts change when a key's rows come in another order than the file's. */
#define MANY_KEYS 100000
static void test_fold_many_keys(void **state) {
    (void)state;
    CnErr err = CN_ERR_INIT;
    char dir[] = "/tmp/cn_upfold_XXXXXX";
    CnIceCatalog *c = open_warehouse(dir, &err);
    char u1[700], u3[700], ug[700];
    snprintf(u1, sizeof u1, "lmdb:%s/one", dir);
    snprintf(u3, sizeof u3, "lmdb:%s/three", dir);
    snprintf(ug, sizeof ug, "lmdb:%s/generic", dir);
    int64_t day;
    assert_int_equal(cn_ds_parse("2024-01-30", &day), 0);
    static const char *const names[] = {"user_id", "ts", "amount", "ds"};
    static const CnTypeId types[] = {CN_COL_INT64, CN_COL_INT64, CN_COL_INT64, CN_COL_STRING};
    CnIceWrite *w = NULL;
    CnBatch *b = NULL;
    cn_test_ice_open(c, "raw", "big", names, types, 4, &w, &b, &err);
    int64_t *ids = cn_malloc(MANY_KEYS * sizeof *ids);
    assert_non_null(ids);
    for (int64_t u = 0; u < MANY_KEYS; u++) ids[u] = u % 2 ? u * 256 : u * 1000003 - 5000000;
    uint64_t s = 977;
    for (int i = 0; i < 3 * MANY_KEYS; i++) {
        cn_col_vec_append_i64(&b->cols[0], ids[rnd(&s) % MANY_KEYS]);
        cn_col_vec_append_i64(&b->cols[1], day * CN_MS_PER_DAY - 3 * CN_MS_PER_DAY +
                                               (int64_t)(rnd(&s) % (4 * CN_MS_PER_DAY)));
        cn_col_vec_append_i64(&b->cols[2], ((int64_t)(rnd(&s) % 1000) - 300) * 10000000000000007);
        cn_col_vec_append_str(&b->cols[3], "2024-01-30", 10);
        if (b->cols[0].n == 65536) cn_test_ice_flush(w, b, &err);
    }
    cn_test_ice_flush(w, b, &err);
    cn_test_ice_close(w, b, &err);
    const char *js = "{\"metaData\": {\"name\": \"t.many.v1\", \"team\": \"t\", \"online\": 1}, \"sources\": "
                     "[{\"events\": {\"table\": \"raw.big\", \"query\": {\"selects\": {\"user_id\": \"user_id\", "
                     "\"amount\": \"amount\"}, \"timeColumn\": \"ts\"}}}], \"keyColumns\": [\"user_id\"], "
                     "\"accuracy\": 0, \"aggregations\": [{\"inputColumn\": \"amount\", \"operation\": 7, "
                     "\"windows\": [{\"length\": 1, \"timeUnit\": 1}, {\"length\": 7, \"timeUnit\": 1}]}, "
                     "{\"inputColumn\": \"amount\", \"operation\": 1}, {\"inputColumn\": \"amount\", "
                     "\"operation\": 8}]}";
    CnKv *k1 = NULL, *k3 = NULL, *kg = NULL;
    CnKvOptions ko = {.no_sync = true};
    ASSERT_OK(cn_kv_open(u1, &ko, &k1, &err), &err);
    ASSERT_OK(cn_kv_open(u3, &ko, &k3, &err), &err);
    ASSERT_OK(cn_kv_open(ug, &ko, &kg, &err), &err);
    CnEngUploadStats s1, s3, sg;
    upload_with(c, k1, js, "2024-01-30", "1", "1", &s1, &err);
    upload_with(c, k3, js, "2024-01-30", "1", "3", &s3, &err);
    upload_with(c, kg, js, "2024-01-30", "0", "1", &sg, &err);
    assert_true(s1.batch_path && s3.batch_path && !sg.batch_path);
    /* the records came in key byte order: the loads stayed streamed (a key out of
     * order would have the load sort the rest: same bytes, so only this tells) */
    assert_true(s1.streamed && s3.streamed && sg.streamed);
    assert_true(sg.keys > 70000); /* most of the 100k keys have a row, over 8 chunks of keys */
    assert_int_equal(s1.keys, sg.keys);
    assert_int_equal(s3.keys, sg.keys);
    CnEngServing *sv = NULL;
    ASSERT_OK(cn_eng_serving_load(kg, "t.many.v1", &sv, &err), &err);
    CnBatch *kb = NULL;
    ASSERT_OK(cn_col_batch_new(cn_eng_serving_key_schema(sv), &kb, &err), &err);
    CnBuf key = CN_BUF_INIT;
    CnArena ar;
    cn_arena_init(&ar, 0);
    int64_t found = 0;
    for (int64_t u = 0; u < MANY_KEYS; u++) {
        cn_col_batch_reset(kb);
        cn_col_vec_append_i64(&kb->cols[0], ids[u]);
        ASSERT_OK(cn_col_batch_sync_rows(kb, &err), &err);
        assert_true(cn_eng_serving_key(sv, kb, 0, &key));
        CnKvSlice vg, v1, v3;
        const char *dn = cn_eng_serving_dataset(sv);
        ASSERT_OK(cn_kv_get(kg, dn, key.data, key.len, &vg, &ar, &err), &err);
        ASSERT_OK(cn_kv_get(k1, dn, key.data, key.len, &v1, &ar, &err), &err);
        ASSERT_OK(cn_kv_get(k3, dn, key.data, key.len, &v3, &ar, &err), &err);
        assert_int_equal(vg.data != NULL, v1.data != NULL);
        assert_int_equal(vg.data != NULL, v3.data != NULL);
        if (vg.data) {
            found++;
            assert_int_equal(v1.len, vg.len);
            assert_int_equal(v3.len, vg.len);
            assert_memory_equal(v1.data, vg.data, vg.len);
            assert_memory_equal(v3.data, vg.data, vg.len);
        }
        cn_arena_reset(&ar);
    }
    assert_int_equal(found, (int64_t)sg.keys);
    cn_arena_fini(&ar);
    cn_buf_fini(&key);
    cn_col_batch_free(kb);
    cn_eng_serving_free(sv);
    cn_free(ids);
    cn_kv_close(k1);
    cn_kv_close(k3);
    cn_kv_close(kg);
    cn_ice_catalog_close(c);
    cn_test_rm_rf(dir);
}

CN_TEST_MAIN(cmocka_unit_test(test_fold_equals_generic), cmocka_unit_test(test_fold_entities),
             cmocka_unit_test(test_fold_many_keys),
             cmocka_unit_test(test_other_ops_take_generic_path))
