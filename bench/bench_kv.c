/* bench_kv.c: the online store's speed, through our interface and against raw LMDB in
 * the same run (STYLE.md section 7).
 *   bulk load: keys/s of cn_kv_load_* into lmdb (sorted and shuffled input) next to raw
 *              mdb_put(MDB_APPEND) of the same pairs in one transaction;
 *   multi-get: p50/p99 latency of cn_kv_multi_get for 1 and 3 random keys, and of raw
 *              mdb_get in one reused read transaction.
 * Usage: bench_kv [keys] [dir]   (default 2000000 keys, a temporary directory).
 * Keys are 16 bytes ("k" + 15 digits), values 32 bytes; seeds are fixed. */
#include "base/compat.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <lmdb.h>

#include "base/alloc.h"
#include "base/arena.h"
#include "online/kv.h"

enum { KEY_LEN = 16, VAL_LEN = 32 };

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

/* "k" + 15 decimal digits; big-endian digits keep numeric order = byte order */
static void make_key(char *k, size_t i) {
    k[0] = 'k';
    for (int j = KEY_LEN - 1; j >= 1; j--, i /= 10) k[j] = (char)('0' + i % 10);
}

static void make_val(char *v, size_t i) {
    static const char fill[VAL_LEN] = "abcdefghijklmnopqrstuvwxyz012345";
    memcpy(v, fill, VAL_LEN);
    memcpy(v, &i, sizeof i); /* distinct per key, cheap to make */
}

static uint64_t xs(uint64_t *s) {
    *s ^= *s << 13, *s ^= *s >> 7, *s ^= *s << 17;
    return *s;
}

static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static void rm_store(const char *dir) {
    char p[1024];
    snprintf(p, sizeof p, "%s/data.mdb", dir);
    unlink(p);
    snprintf(p, sizeof p, "%s/lock.mdb", dir);
    unlink(p);
    rmdir(dir);
}

static int die(const char *what, const CnErr *err) {
    fprintf(stderr, "bench_kv: %s: %s\n", what, cn_err_msg(err));
    return 1;
}

/* Loads n keys through the interface; order 0 sorted, 1 shuffled. Returns keys/s. */
static double load_ours(const char *uri, size_t n, int order, CnErr *err) {
    CnKv *kv = NULL;
    CnKvOptions o = {.map_size = (uint64_t)n * 256};
    if (cn_kv_open(uri, &o, &kv, err) < 0) return -1;
    CnKvLoad *ld = NULL;
    char k[KEY_LEN], v[VAL_LEN];
    double t0 = now_s();
    int rc = cn_kv_load_begin(kv, "BENCH_BATCH", &ld, err);
    /* i * p mod n with p prime to n visits every key once, far from sorted */
    const size_t p = 1000003;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        size_t j = order ? (size_t)(((uint64_t)i * p) % n) : i;
        make_key(k, j);
        make_val(v, j);
        rc = cn_kv_load_add(ld, k, KEY_LEN, v, VAL_LEN, err);
    }
    if (ld) rc = cn_kv_load_commit(ld, NULL, err);
    double dt = now_s() - t0;
    cn_kv_close(kv);
    return rc < 0 ? -1 : (double)n / dt;
}

static double load_raw(const char *dir, size_t n) {
    MDB_env *env;
    MDB_txn *t;
    MDB_dbi dbi;
    mkdir(dir, 0755);
    mdb_env_create(&env);
    mdb_env_set_maxdbs(env, 4);
    mdb_env_set_mapsize(env, (size_t)n * 256);
    if (mdb_env_open(env, dir, MDB_NOTLS, 0644)) return -1;
    char k[KEY_LEN], v[VAL_LEN];
    double t0 = now_s();
    int rc = mdb_txn_begin(env, NULL, 0, &t);
    if (!rc) rc = mdb_dbi_open(t, "raw", MDB_CREATE, &dbi);
    for (size_t i = 0; !rc && i < n; i++) {
        make_key(k, i);
        make_val(v, i);
        MDB_val mk = {KEY_LEN, k}, mv = {VAL_LEN, v};
        rc = mdb_put(t, dbi, &mk, &mv, MDB_APPEND);
    }
    if (!rc) rc = mdb_txn_commit(t);
    double dt = now_s() - t0;
    mdb_env_close(env);
    return rc ? -1 : (double)n / dt;
}

typedef struct Lat {
    double p50_us, p99_us, mean_us;
} Lat;

static Lat summarize(uint64_t *ns, size_t m) {
    qsort(ns, m, sizeof *ns, cmp_u64);
    double sum = 0;
    for (size_t i = 0; i < m; i++) sum += (double)ns[i];
    return (Lat){ns[m / 2] / 1000.0, ns[m * 99 / 100] / 1000.0, sum / (double)m / 1000.0};
}

static int get_ours(CnKv *kv, size_t n, int n_keys, size_t iters, Lat *out, CnErr *err) {
    uint64_t *ns = cn_malloc(iters * sizeof *ns);
    CnArena a;
    cn_arena_init(&a, 0);
    uint64_t s = 88172645463325252ull;
    char kb[3][KEY_LEN];
    CnKvSlice q[3], vals[3];
    int rc = 0;
    for (size_t it = 0; rc == 0 && it < iters; it++) {
        for (int i = 0; i < n_keys; i++) {
            make_key(kb[i], xs(&s) % n);
            q[i] = (CnKvSlice){(const uint8_t *)kb[i], KEY_LEN};
        }
        cn_arena_reset(&a);
        uint64_t t0 = now_ns();
        rc = cn_kv_multi_get(kv, "BENCH_BATCH", q, (size_t)n_keys, vals, &a, err);
        ns[it] = now_ns() - t0;
        for (int i = 0; rc == 0 && i < n_keys; i++)
            if (!vals[i].data || vals[i].len != VAL_LEN) rc = -1;
    }
    if (rc == 0) *out = summarize(ns, iters);
    cn_arena_fini(&a);
    cn_free(ns);
    return rc;
}

static int get_raw(const char *dir, size_t n, int n_keys, size_t iters, Lat *out) {
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
    if (rc) {
        fprintf(stderr, "bench_kv: raw lmdb in %s: %s\n", dir, mdb_strerror(rc));
        return -1;
    }
    mdb_txn_reset(t);
    uint64_t *ns = cn_malloc(iters * sizeof *ns);
    uint64_t s = 88172645463325252ull;
    char kb[3][KEY_LEN], copy[3][VAL_LEN];
    for (size_t it = 0; rc == 0 && it < iters; it++) {
        for (int i = 0; i < n_keys; i++) make_key(kb[i], xs(&s) % n);
        uint64_t t0 = now_ns();
        mdb_txn_renew(t); /* what a server does per request: a fresh snapshot */
        for (int i = 0; rc == 0 && i < n_keys; i++) {
            MDB_val k = {KEY_LEN, kb[i]}, d;
            rc = mdb_get(t, dbi, &k, &d);
            if (!rc) memcpy(copy[i], d.mv_data, VAL_LEN);
        }
        mdb_txn_reset(t);
        ns[it] = now_ns() - t0;
    }
    mdb_txn_abort(t);
    mdb_env_close(env);
    if (rc == 0) *out = summarize(ns, iters);
    cn_free(ns);
    return rc;
}

int main(int argc, char **argv) {
    size_t n = argc > 1 ? (size_t)strtoull(argv[1], NULL, 10) : 2000000;
    char base[512];
    if (argc > 2) {
        snprintf(base, sizeof base, "%s", argv[2]);
        mkdir(base, 0755);
    } else {
        const char *tmp = getenv("TMPDIR");
        snprintf(base, sizeof base, "%s/bench_kv.XXXXXX", tmp && *tmp ? tmp : "/tmp");
        if (!mkdtemp(base)) {
            fprintf(stderr, "bench_kv: mkdtemp: %s\n", strerror(errno));
            return 1;
        }
    }
    char ours_dir[600], raw_dir[600], uri[640];
    snprintf(ours_dir, sizeof ours_dir, "%s/ours", base);
    snprintf(raw_dir, sizeof raw_dir, "%s/raw", base);
    snprintf(uri, sizeof uri, "lmdb:%s", ours_dir);
    CnErr err = CN_ERR_INIT;
    printf("bench_kv: %zu keys of %d bytes, values of %d bytes\n", n, KEY_LEN, VAL_LEN);

    double raw = load_raw(raw_dir, n);
    double shuf = load_ours(uri, n, 1, &err);
    if (shuf < 0) return die("load (shuffled)", &err);
    rm_store(ours_dir);
    double sorted = load_ours(uri, n, 0, &err); /* kept for the reads below */
    if (sorted < 0 || raw < 0) return die("load", &err);
    printf("bulk load   raw lmdb (MDB_APPEND, 1 txn)  %8.2f M keys/s\n", raw / 1e6);
    printf("bulk load   cn_kv sorted input            %8.2f M keys/s  (%.2fx raw)\n", sorted / 1e6,
           sorted / raw);
    printf("bulk load   cn_kv shuffled input          %8.2f M keys/s  (%.2fx raw)\n", shuf / 1e6,
           shuf / raw);

    CnKv *kv = NULL;
    CnKvOptions ro = {.read_only = true};
    if (cn_kv_open(uri, &ro, &kv, &err) < 0) return die("open", &err);
    size_t iters = 200000;
    for (int nk = 1; nk <= 3; nk += 2) {
        Lat ours, rawl;
        get_ours(kv, n, nk, 20000, &ours, &err); /* warm the page cache and the pool */
        if (get_ours(kv, n, nk, iters, &ours, &err) != 0) return die("multi_get", &err);
        if (get_raw(raw_dir, n, nk, iters, &rawl) != 0) {
            fprintf(stderr, "bench_kv: raw mdb_get failed\n");
            return 1;
        }
        printf("multi-get %d key%s  cn_kv  p50 %6.2f us  p99 %6.2f us  mean %6.2f us | raw lmdb "
               "p50 %6.2f us  p99 %6.2f us\n", nk, nk > 1 ? "s" : " ", ours.p50_us, ours.p99_us,
               ours.mean_us, rawl.p50_us, rawl.p99_us);
    }
    cn_kv_close(kv);
    rm_store(ours_dir);
    rm_store(raw_dir);
    if (argc <= 2) rmdir(base);
    return 0;
}
