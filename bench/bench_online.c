/* bench_online.c: online serving in process, against the store underneath it in the
 * same run (STYLE.md section 7).
 *   bench_online [keys] [fetches] [dir]   (default 1,000,000 keys, 20,000 fetches, a
 *   temporary directory)
 * Data (fixed seed): table raw.ev {user_id int64, ts int64 (ms), amount int64, ds}, one
 * partition 2024-01-30 with 2 events per key on average (uniform keys and times).
 * Three TEMPORAL GroupBys bench.gb{0,1,2}.v1 on user_id, 10 features each: SUM, COUNT,
 * AVERAGE, MIN and MAX of amount over 1d and 7d. Join bench.join.v1 of the three
 * (prefixes p0..p2).
 *   upload: keys/s of cn_eng_upload (scan, aggregate, encode, one versioned LMDB bulk
 *           load) per GroupBy, next to raw mdb_put(MDB_APPEND) in one transaction of as
 *           many records of the same average key and value sizes, and to the same
 *           pairs through cn_kv's streamed bulk load (the KV layer's share);
 *           CHRONON_LOG=debug prints each upload's phase times;
 *   fetch:  p50/p99 of one cn_fetcher_fetch_json of the Join for one random key at
 *           q = end of the day + 1 ms (config cached, 3 GroupBy lookups, decode,
 *           finalize, JSON), next to cn_kv_multi_get of the same 3 records (the store's
 *           own cost) and raw mdb_get of 3 keys in a reused read transaction.
 * Cross-check (exit 1 on a difference): for sampled keys, the fetched p0 COUNT/SUM/MIN/
 * MAX of both windows equal the counts and sums of the generated events. */
#include "bench_util.h"
#include "base/compat.h"

#include <dirent.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <lmdb.h>

#include "base/alloc.h"
#include "base/arena.h"
#include "base/date.h"
#include "base/fs.h"
#include "conf/conf.h"
#include "engine/fetch.h"
#include "engine/online.h"
#include "online/kv.h"
#include "table/table.h"

#define N_GB 3

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void die(const char *what, const CnErr *err) {
    fprintf(stderr, "bench_online: %s: %s\n", what, err ? cn_err_msg(err) : "failed");
    exit(1);
}


static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* CPU time of this thread: a fetch's own work, without the time the scheduler gave
 * other processes (on a loaded machine wall-clock p99 measures the load). */
static uint64_t cpu_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* CPU time of the process (the upload's own work, load aside). */
static double proc_cpu_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static uint64_t xs(uint64_t *s) {
    *s ^= *s << 13, *s ^= *s >> 7, *s ^= *s << 17;
    return *s;
}

static void groupby_json(char *js, size_t cap, int g) {
    static const char WIN[] = "[{\"length\": 1, \"timeUnit\": 1}, {\"length\": 7, \"timeUnit\": 1}]";
    snprintf(js, cap,
             "{\"metaData\": {\"name\": \"bench.gb%d.v1\", \"outputNamespace\": \"bench\", \"team\": \"bench\","
             " \"online\": 1},"
             " \"sources\": [{\"events\": {\"table\": \"raw.ev\", \"query\": {"
             "   \"selects\": {\"user_id\": \"user_id\", \"amount\": \"amount + %d\"}, \"timeColumn\": \"ts\"}}}],"
             " \"keyColumns\": [\"user_id\"], \"accuracy\": 0,"
             " \"aggregations\": ["
             "  {\"inputColumn\": \"amount\", \"operation\": 7, \"windows\": %s},"
             "  {\"inputColumn\": \"amount\", \"operation\": 6, \"windows\": %s},"
             "  {\"inputColumn\": \"amount\", \"operation\": 8, \"windows\": %s},"
             "  {\"inputColumn\": \"amount\", \"operation\": 0, \"windows\": %s},"
             "  {\"inputColumn\": \"amount\", \"operation\": 1, \"windows\": %s}]}",
             g, g, WIN, WIN, WIN, WIN, WIN);
}

/* Raw LMDB: n puts (MDB_APPEND, sorted 8-byte-prefixed keys) of key_len/val_len bytes
 * in one transaction. Returns keys/s of wall time; *cpu_kps: keys/s of CPU time. */
static double raw_put(const char *dir, size_t n, size_t key_len, size_t val_len, double *cpu_kps) {
    MDB_env *env;
    MDB_txn *t;
    MDB_dbi dbi;
    mkdir(dir, 0755);
    mdb_env_create(&env);
    mdb_env_set_maxdbs(env, 4);
    mdb_env_set_mapsize(env, (size_t)n * (key_len + val_len + 64) * 2 + (64u << 20));
    if (mdb_env_open(env, dir, MDB_NOTLS, 0644)) return -1;
    uint8_t *k = cn_calloc(1, key_len + 8), *v = cn_calloc(1, val_len + 8);
    if (key_len < 8) key_len = 8;
    double t0 = now_s(), c0 = proc_cpu_s();
    int rc = mdb_txn_begin(env, NULL, 0, &t);
    if (!rc) rc = mdb_dbi_open(t, "raw", MDB_CREATE, &dbi);
    for (size_t i = 0; !rc && i < n; i++) {
        for (int j = 0; j < 8; j++) k[j] = (uint8_t)(i >> (56 - 8 * j));
        memcpy(v, &i, sizeof i);
        MDB_val mk = {key_len, k}, mv = {val_len, v};
        rc = mdb_put(t, dbi, &mk, &mv, MDB_APPEND);
    }
    if (!rc) rc = mdb_txn_commit(t);
    double dt = now_s() - t0;
    *cpu_kps = (double)n / (proc_cpu_s() - c0);
    mdb_env_close(env);
    cn_free(k);
    cn_free(v);
    return rc ? -1 : (double)n / dt;
}

/* The same puts as raw_put through the store's streamed bulk load (CN_KV_LOAD_STREAM:
 * a new version, its write transactions, the flip): what the KV layer adds to raw
 * LMDB, the upload's fold aside. */
static double kv_stream_put(CnKv *kv, size_t n, size_t key_len, size_t val_len, double *cpu_kps) {
    CnErr err = CN_ERR_INIT;
    if (key_len < 8) key_len = 8;
    uint8_t *k = cn_calloc(1, key_len), *v = cn_calloc(1, val_len + 8);
    double t0 = now_s(), c0 = proc_cpu_s();
    CnKvLoad *ld = NULL;
    int rc = cn_kv_load_begin_flags(kv, "BENCH_KV_STREAM", CN_KV_LOAD_STREAM, &ld, &err);
    for (size_t i = 0; !rc && i < n; i++) {
        for (int j = 0; j < 8; j++) k[j] = (uint8_t)(i >> (56 - 8 * j));
        memcpy(v, &i, sizeof i);
        rc = cn_kv_load_add(ld, k, key_len, v, val_len, &err);
    }
    if (!rc) rc = cn_kv_load_commit(ld, NULL, &err);
    else cn_kv_load_abort(ld);
    double dt = now_s() - t0;
    *cpu_kps = (double)n / (proc_cpu_s() - c0);
    if (rc) die("streamed load", &err);
    cn_free(k);
    cn_free(v);
    return (double)n / dt;
}

/* Raw LMDB: p50/p99 (ns) of 3 mdb_get in a renewed read transaction, random keys. */
static void raw_get(const char *dir, size_t n, size_t key_len, int reps, uint64_t *p50, uint64_t *p99) {
    MDB_env *env;
    MDB_txn *t;
    MDB_dbi dbi;
    mdb_env_create(&env);
    mdb_env_set_maxdbs(env, 4);
    int rc = mdb_env_open(env, dir, MDB_NOTLS | MDB_RDONLY, 0644);
    if (!rc) rc = mdb_txn_begin(env, NULL, MDB_RDONLY, &t);
    if (!rc) rc = mdb_dbi_open(t, "raw", 0, &dbi);
    if (!rc) rc = mdb_txn_commit(t); /* keeps the handle */
    if (!rc) rc = mdb_txn_begin(env, NULL, MDB_RDONLY, &t);
    if (rc) die("raw lmdb read", NULL);
    mdb_txn_reset(t);
    uint64_t *lat = cn_calloc((size_t)reps, sizeof *lat), s = 12345;
    uint8_t k[600] = {0};
    for (int r = 0; r < reps; r++) {
        uint64_t t0 = now_ns();
        mdb_txn_renew(t);
        for (int g = 0; g < N_GB; g++) {
            size_t i = xs(&s) % n;
            for (int j = 0; j < 8; j++) k[j] = (uint8_t)(i >> (56 - 8 * j));
            MDB_val mk = {key_len < 8 ? 8 : key_len, k}, d;
            if (mdb_get(t, dbi, &mk, &d)) die("raw mdb_get", NULL);
        }
        mdb_txn_reset(t);
        lat[r] = now_ns() - t0;
    }
    qsort(lat, (size_t)reps, sizeof *lat, cmp_u64);
    *p50 = lat[reps / 2];
    *p99 = lat[(size_t)reps * 99 / 100];
    cn_free(lat);
    mdb_txn_abort(t);
    mdb_env_close(env);
}

int main(int argc, char **argv) {
    int64_t keys = argc > 1 ? atoll(argv[1]) : 1000000;
    int fetches = argc > 2 ? atoi(argv[2]) : 20000;
    if (keys < 10) keys = 10;
    if (fetches < 100) fetches = 100;
    char dir[512];
    if (argc > 3) {
        snprintf(dir, sizeof dir, "%s", argv[3]);
        mkdir(dir, 0755);
    } else {
        snprintf(dir, sizeof dir, "/tmp/cn_bench_online_XXXXXX");
        if (!mkdtemp(dir)) die("mkdtemp", NULL);
    }
    char wh[600], catu[700], uri[700], rawdir[600], repo[600];
    snprintf(wh, sizeof wh, "%s/wh", dir);
    snprintf(catu, sizeof catu, "sqlite:%s/catalog.db", dir);
    snprintf(uri, sizeof uri, "lmdb:%s/online", dir);
    snprintf(rawdir, sizeof rawdir, "%s/raw", dir);
    snprintf(repo, sizeof repo, "%s/repo", dir);
    CnErr err = CN_ERR_INIT;
    CnIceCatalog *c = NULL;
    if (cn_ice_catalog_open(wh, catu, &c, &err)) die("catalog", &err);

    /* ---- data: one day, 2 events per key on average */
    const char *DS = "2024-01-30";
    int64_t day;
    if (cn_ds_parse(DS, &day)) die("date", NULL);
    int64_t events = keys * 2;
    int64_t *cnt = cn_calloc((size_t)keys, sizeof *cnt), *sum = cn_calloc((size_t)keys, sizeof *sum);
    int64_t *mn = cn_calloc((size_t)keys, sizeof *mn), *mx = cn_calloc((size_t)keys, sizeof *mx);
    if (!cnt || !sum || !mn || !mx) die("out of memory", NULL);
    CnSchema *s = NULL;
    cn_col_schema_new(&s);
    cn_col_schema_add(s, "user_id", cn_col_type_prim(CN_COL_INT64), true, CN_COL_NO_ID, &err);
    cn_col_schema_add(s, "ts", cn_col_type_prim(CN_COL_INT64), true, CN_COL_NO_ID, &err);
    cn_col_schema_add(s, "amount", cn_col_type_prim(CN_COL_INT64), true, CN_COL_NO_ID, &err);
    cn_col_schema_add(s, "ds", cn_col_type_prim(CN_COL_STRING), true, CN_COL_NO_ID, &err);
    if (cn_ice_table_create(c, "raw", "ev", s, NULL, 0, &err)) die("create", &err);
    cn_col_schema_free(s);
    CnIceWrite *w = NULL;
    if (cn_ice_write_begin(c, "raw", "ev", CN_ICE_APPEND, &w, &err)) die("write", &err);
    CnBatch *b = NULL;
    if (cn_col_batch_new(cn_ice_write_schema(w), &b, &err)) die("batch", &err);
    uint64_t x = 88172645463325252ull;
    for (int64_t i = 0; i < events; i++) {
        xs(&x);
        uint64_t y = x * 0x2545F4914F6CDD1Dull;
        int64_t k = (int64_t)((y >> 20) % (uint64_t)keys), a = (int64_t)(y >> 54);
        cn_col_vec_append_i64(&b->cols[0], k);
        cn_col_vec_append_i64(&b->cols[1], day * CN_MS_PER_DAY + (int64_t)(x % (uint64_t)CN_MS_PER_DAY));
        cn_col_vec_append_i64(&b->cols[2], a);
        cn_col_vec_append_str(&b->cols[3], DS, 10);
        if (!cnt[k] || a < mn[k]) mn[k] = a;
        if (!cnt[k] || a > mx[k]) mx[k] = a;
        cnt[k]++;
        sum[k] += a;
        if (b->cols[0].n == 65536 || i == events - 1) {
            if (cn_col_batch_sync_rows(b, &err) || cn_ice_write_batch(w, b, &err)) die("write batch", &err);
            cn_col_batch_reset(b);
        }
    }
    if (cn_ice_write_commit(w, NULL, &err)) die("commit", &err);
    cn_ice_write_free(w);
    cn_col_batch_free(b);
    printf("bench_online: %lld keys, %lld events in %s\n", (long long)keys, (long long)events, DS);

    /* ---- upload the three GroupBys; the Join conf goes to <repo>/production */
    CnKv *kv = NULL;
    CnKvOptions ko = {.no_sync = false};
    if (cn_kv_open(uri, &ko, &kv, &err)) die("kv open", &err);
    char js[N_GB][2048];
    char path[1200];
    CnBuf jj = CN_BUF_INIT;
    cn_buf_puts(&jj, "{\"metaData\": {\"name\": \"bench.join.v1\", \"team\": \"bench\", \"online\": 1,"
                     " \"outputNamespace\": \"bench\"}, \"left\": {\"events\": {\"table\": \"raw.ev\", \"query\": "
                     "{\"selects\": {\"user_id\": \"user_id\", \"ts\": \"ts\"}, \"timeColumn\": \"ts\"}}}, \"joinParts\": [");
    double up_best = 0, up_total = 0, up_cpu = 0, up_keys = 0;
    for (int g = 0; g < N_GB; g++) {
        groupby_json(js[g], sizeof js[g], g);
        CnConf *conf = NULL;
        snprintf(path, sizeof path, "production/group_bys/bench/gb%d.v1", g);
        if (cn_conf_loadb(path, js[g], strlen(js[g]), CN_CONF_GROUP_BY, &conf, &err)) die("GroupBy conf", &err);
        CnEngOpts o;
        memset(&o, 0, sizeof o);
        o.end_ds = DS;
        CnEngUploadStats st;
        double t0 = now_s(), c0 = proc_cpu_s();
        if (cn_eng_upload(c, kv, conf->group_by, js[g], DS, &o, &st, &err)) die("upload", &err);
        double dt = now_s() - t0, dc = proc_cpu_s() - c0;
        up_total += dt;
        up_cpu += dc;
        up_keys += (double)st.keys;
        double kps = (double)st.keys / dt;
        if (kps > up_best) up_best = kps;
        printf("upload gb%d: %lld keys in %.2fs (CPU %.2fs) = %.2f M keys/s (CPU %.2f)\n", g, (long long)st.keys, dt, dc,
               kps / 1e6, (double)st.keys / dc / 1e6);
        cn_buf_printf(&jj, "%s{\"groupBy\": %s, \"prefix\": \"p%d\"}", g ? ", " : "", js[g], g);
        cn_conf_free(conf);
    }
    cn_buf_puts(&jj, "]}");
    snprintf(path, sizeof path, "%s/production/joins/bench", repo);
    if (cn_fs_mkdirs(path, &err)) die("mkdir", &err);
    snprintf(path, sizeof path, "%s/production/joins/bench/join.v1", repo);
    FILE *jf = fopen(path, "w");
    if (!jf || fputs(jj.data, jf) < 0 || fclose(jf)) die("write join conf", NULL);
    cn_buf_fini(&jj);

    /* average stored key and value sizes, from a sample read back */
    CnEngServing *sv = NULL;
    if (cn_eng_serving_load(kv, "bench.gb0.v1", &sv, &err)) die("serving", &err);
    CnBatch *kb = NULL;
    if (cn_col_batch_new(cn_eng_serving_key_schema(sv), &kb, &err)) die("batch", &err);
    CnBuf key = CN_BUF_INIT;
    CnArena ar;
    cn_arena_init(&ar, 0);
    size_t klen = 0, vlen = 0, nsamp = 0;
    for (int64_t k = 0; k < keys; k += keys / 1000 + 1) {
        cn_col_batch_reset(kb);
        cn_col_vec_append_i64(&kb->cols[0], k);
        cn_col_batch_sync_rows(kb, &err);
        key.len = 0;
        if (!cn_eng_serving_key(sv, kb, 0, &key)) continue;
        CnKvSlice v;
        if (cn_kv_get(kv, cn_eng_serving_dataset(sv), key.data, key.len, &v, &ar, &err)) die("get", &err);
        if (!v.data) continue;
        klen += key.len;
        vlen += v.len;
        nsamp++;
    }
    if (!nsamp) die("no stored records", NULL);
    klen /= nsamp;
    vlen /= nsamp;
    double raw_cpu = 0, kvs_cpu = 0;
    double raw = raw_put(rawdir, (size_t)keys, klen, vlen, &raw_cpu);
    double kvs = kv_stream_put(kv, (size_t)keys, klen, vlen, &kvs_cpu);
    /* keys/s count the keys each upload wrote (the keys with rows in reach), as the
     * per-upload lines do */
    double up_mean = up_keys / up_total, up_cpu_kps = up_keys / up_cpu;
    printf("upload      ours (scan+aggregate+load)  %8.2f M keys/s (mean of %d, best %.2f); CPU %.2f M keys/s\n",
           up_mean / 1e6, N_GB, up_best / 1e6, up_cpu_kps / 1e6);
    printf("upload      raw lmdb mdb_put APPEND     %8.2f M keys/s (key %zu B, value %zu B); CPU %.2f M keys/s\n",
           raw / 1e6, klen, vlen, raw_cpu / 1e6);
    printf("upload      cn_kv streamed load         %8.2f M keys/s (same pairs as raw); CPU %.2f M keys/s\n",
           kvs / 1e6, kvs_cpu / 1e6);
    printf("upload      ratio ours/raw              wall %.3f  CPU %.3f\n", up_mean / raw, up_cpu_kps / raw_cpu);
    printf("upload      ratio cn_kv streamed/raw    wall %.3f  CPU %.3f\n", kvs / raw, kvs_cpu / raw_cpu);

    /* ---- fetch (the Join conf is read from the repo; metadata-upload makes the dataset) */
    if (cn_kv_dataset_create(kv, CN_KV_METADATA_DATASET, &err)) die("metadata dataset", &err);
    CnFetcher *f = NULL;
    if (cn_fetcher_open(uri, repo, &f, &err)) die("fetcher", &err);
    int64_t q = (day + 1) * CN_MS_PER_DAY + 1;
    int bad = 0;
    /* cross-check on sampled keys (also warms the caches) */
    for (int64_t k = 0; k < keys; k += keys / 200 + 1) {
        json_t *req = json_pack("[{s:I}]", "user_id", (json_int_t)k), *out = NULL;
        if (cn_fetcher_fetch_json(f, CN_FETCH_JOIN, "bench/join.v1", req, q, &out, &err)) die("fetch", &err);
        json_t *v = json_object_get(json_array_get(out, 0), "values");
        const char *cols[] = {"p0_bench_gb0_v1_amount_count_1d", "p0_bench_gb0_v1_amount_count_7d",
                              "p0_bench_gb0_v1_amount_sum_1d", "p0_bench_gb0_v1_amount_sum_7d",
                              "p0_bench_gb0_v1_amount_min_7d", "p0_bench_gb0_v1_amount_max_1d"};
        int64_t want[] = {cnt[k], cnt[k], sum[k], sum[k], mn[k], mx[k]};
        for (int i = 0; i < 6; i++) {
            json_t *g = json_object_get(v, cols[i]);
            bool ok = cnt[k] ? json_is_integer(g) && json_integer_value(g) == want[i] : !g;
            if (!ok) {
                char *t = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS);
                fprintf(stderr, "bench_online: key %lld: %s want %lld, fetched %s\n", (long long)k, cols[i],
                        (long long)want[i], t ? t : "?");
                cn_free_libc(t);
                bad = 1;
                break;
            }
        }
        if (cnt[k] && json_object_size(v) != 3 * 10) {
            fprintf(stderr, "bench_online: key %lld: %zu features, want 30\n", (long long)k, json_object_size(v));
            bad = 1;
        }
        /* the typed path's text equals the generic answer's */
        CnBuf txt = CN_BUF_INIT;
        char *want_txt = json_dumps(out, JSON_COMPACT | JSON_SORT_KEYS);
        if (cn_fetcher_fetch_text(f, CN_FETCH_JOIN, "bench/join.v1", req, q, &txt, &err)) die("fetch text", &err);
        if (!want_txt || strcmp(txt.data, want_txt)) {
            fprintf(stderr, "bench_online: key %lld: cn_fetcher_fetch_text gave\n  %s\nthe generic answer is\n  %s\n",
                    (long long)k, txt.data, want_txt ? want_txt : "?");
            bad = 1;
        }
        cn_free_libc(want_txt);
        cn_buf_fini(&txt);
        json_decref(req);
        json_decref(out);
    }
    uint64_t *tlat = cn_calloc((size_t)fetches, sizeof *tlat), *tclat = cn_calloc((size_t)fetches, sizeof *tclat);
    CnBuf txt = CN_BUF_INIT;
    uint64_t *lat = cn_calloc((size_t)fetches, sizeof *lat), *klat = cn_calloc((size_t)fetches, sizeof *klat);
    uint64_t *clat = cn_calloc((size_t)fetches, sizeof *clat);
    uint64_t sd = 777;
    char ds_names[N_GB][64];
    for (int g = 0; g < N_GB; g++) {
        char *dn = cn_kv_dataset_name(&ar, g == 0 ? "bench.gb0.v1" : g == 1 ? "bench.gb1.v1" : "bench.gb2.v1",
                                      CN_KV_BATCH_SUFFIX);
        snprintf(ds_names[g], sizeof ds_names[g], "%s", dn);
    }
    for (int r = 0; r < fetches; r++) {
        int64_t k = (int64_t)(xs(&sd) % (uint64_t)keys);
        json_t *req = json_pack("[{s:I}]", "user_id", (json_int_t)k), *out = NULL;
        uint64_t c0 = cpu_ns(), t0 = now_ns();
        if (cn_fetcher_fetch_json(f, CN_FETCH_JOIN, "bench/join.v1", req, q, &out, &err)) die("fetch", &err);
        lat[r] = now_ns() - t0;
        clat[r] = cpu_ns() - c0;
        json_decref(out);
        /* the typed path (what chronon_fetch_json returns) */
        txt.len = 0;
        c0 = cpu_ns(), t0 = now_ns();
        if (cn_fetcher_fetch_text(f, CN_FETCH_JOIN, "bench/join.v1", req, q, &txt, &err)) die("fetch text", &err);
        tlat[r] = now_ns() - t0;
        tclat[r] = cpu_ns() - c0;
        json_decref(req);
        /* the store's own cost: the same 3 records by cn_kv_multi_get */
        cn_col_batch_reset(kb);
        cn_col_vec_append_i64(&kb->cols[0], k);
        cn_col_batch_sync_rows(kb, &err);
        key.len = 0;
        cn_eng_serving_key(sv, kb, 0, &key);
        cn_arena_reset(&ar);
        t0 = now_ns();
        for (int g = 0; g < N_GB; g++) {
            CnKvSlice ks = {(const uint8_t *)key.data, key.len}, vs;
            if (cn_kv_multi_get(kv, ds_names[g], &ks, 1, &vs, &ar, &err)) die("multi_get", &err);
        }
        klat[r] = now_ns() - t0;
    }
    qsort(lat, (size_t)fetches, sizeof *lat, cmp_u64);
    qsort(klat, (size_t)fetches, sizeof *klat, cmp_u64);
    qsort(clat, (size_t)fetches, sizeof *clat, cmp_u64);
    qsort(tlat, (size_t)fetches, sizeof *tlat, cmp_u64);
    qsort(tclat, (size_t)fetches, sizeof *tclat, cmp_u64);
    size_t i50 = (size_t)fetches / 2, i99 = (size_t)fetches * 99 / 100;
    uint64_t rp50 = 0, rp99 = 0;
    raw_get(rawdir, (size_t)keys, klen, fetches, &rp50, &rp99);
    double p50 = lat[fetches / 2] / 1e3, p99 = lat[(size_t)fetches * 99 / 100] / 1e3;
    double k50 = klat[fetches / 2] / 1e3, k99 = klat[(size_t)fetches * 99 / 100] / 1e3;
    printf("fetch join of 3 GroupBys x 10 features, 1 key (%d fetches over %lld keys):\n", fetches, (long long)keys);
    double tp50 = tlat[i50] / 1e3, tp99 = tlat[i99] / 1e3, tcp99 = tclat[i99] / 1e3;
    printf("  cn_fetcher_fetch_text   p50 %7.2f us  p99 %7.2f us   (typed path, JSON text out)\n", tp50, tp99);
    printf("  (thread CPU time)       p50 %7.2f us  p99 %7.2f us\n", tclat[i50] / 1e3, tcp99);
    printf("  cn_fetcher_fetch_json   p50 %7.2f us  p99 %7.2f us   (generic path, jansson values out)\n", p50, p99);
    printf("  (thread CPU time)       p50 %7.2f us  p99 %7.2f us\n", clat[i50] / 1e3, clat[i99] / 1e3);
    printf("  cn_kv_multi_get x3      p50 %7.2f us  p99 %7.2f us   text/kv p50 %.1fx  p99 %.1fx\n", k50, k99,
           tp50 / k50, tp99 / k99);
    printf("  raw mdb_get x3          p50 %7.2f us  p99 %7.2f us   text/raw p50 %.1fx  p99 %.1fx\n", rp50 / 1e3,
           rp99 / 1e3, tp50 / (rp50 / 1e3), tp99 / (rp99 / 1e3));
    printf("goals (typed path): p99 < 50 us: %s (wall), %s (CPU); upload >= 1M keys/s: %s\n",
           tp99 < 50 ? "met" : "NOT met", tcp99 < 50 ? "met" : "NOT met", up_mean >= 1e6 ? "met" : "NOT met");
    if (bad) fprintf(stderr, "bench_online: fetched values differ from the generated data\n");
    else printf("cross-check: fetched values of sampled keys equal the generated data\n");

    cn_free(lat);
    cn_free(tlat);
    cn_free(tclat);
    cn_buf_fini(&txt);
    cn_free(klat);
    cn_free(clat);
    cn_buf_fini(&key);
    cn_arena_fini(&ar);
    cn_col_batch_free(kb);
    cn_eng_serving_free(sv);
    cn_fetcher_close(f);
    cn_kv_close(kv);
    cn_ice_catalog_close(c);
    cn_free(cnt);
    cn_free(sum);
    cn_free(mn);
    cn_free(mx);
    if (argc <= 3) rm_rf(dir);
    return bad;
}
