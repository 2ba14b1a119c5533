/* bench_table.c: Iceberg table writes, scans and commit latency.
 *   bench_table [rows]     (default 10,000,000; env CN_BENCH_ROWS also sets it)
 * Data (fixed seed): user_id int64 (uniform in [0, 1M)), ts int64 (epoch millis over 30
 * days), amount float64, ds string (the ts's day: 30 partitions).
 * 1. Load: all rows through one table write (one Parquet file per ds) and one commit,
 *    against the peer: the same rows written with the bare Parquet writer into 30 files
 *    (no table). The ratio is the table layer's overhead (splitting by ds, statistics,
 *    manifests, commit).
 * 2. Scan: the whole table back, every value summed; the sums must match the data.
 * 3. Commit latency of a 1-file append (one row), 30 times: median and p90, on the local
 *    warehouse and, when CN_BENCH_S3=s3://bucket/prefix is set (with AWS_ENDPOINT_URL
 *    etc.), on S3.
 * Exits 1 if a cross-check fails. */
#include "base/compat.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/date.h"
#include "base/err.h"
#include "col/col.h"
#include "io/parquet/pq.h"
#include "table/table.h"

#define BATCH_ROWS 65536u
#define T0 INT64_C(1701388800000)
#define N_DAYS 30

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static uint64_t rng(uint64_t *s) {
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

typedef struct Sums {
    int64_t rows, user, ts_off;
} Sums;

/* Fills b with up to n rows; returns their sums. */
static void fill(CnBatch *b, uint32_t n, uint64_t *seed, Sums *s) {
    cn_col_batch_reset(b);
    for (uint32_t i = 0; i < n; i++) {
        int64_t user = (int64_t)(rng(seed) % 1000000);
        int64_t ts = T0 + (int64_t)(rng(seed) % (uint64_t)(N_DAYS * CN_MS_PER_DAY));
        char ds[11];
        cn_ms_to_ds(ts, ds);
        cn_col_vec_append_i64(&b->cols[0], user);
        cn_col_vec_append_i64(&b->cols[1], ts);
        cn_col_vec_append_f64(&b->cols[2], (double)(user % 1000) / 10.0);
        cn_col_vec_append_str(&b->cols[3], ds, 10);
        s->rows++;
        s->user += user;
        s->ts_off += ts - T0;
    }
    CnErr err = CN_ERR_INIT;
    if (cn_col_batch_sync_rows(b, &err) < 0) {
        fprintf(stderr, "bench_table: %s\n", cn_err_msg(&err));
        exit(1);
    }
}

static void die(const char *what, const CnErr *err) {
    fprintf(stderr, "bench_table: %s: %s\n", what, cn_err_msg(err));
    exit(1);
}

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void commit_latency(const char *label, const char *wh, const char *cat) {
    CnErr err = CN_ERR_INIT;
    CnIceCatalog *c = NULL;
    if (cn_ice_catalog_open(wh, cat, &c, &err) < 0) die("catalog", &err);
    CnSchema *s = NULL;
    cn_col_schema_new(&s);
    cn_col_schema_add(s, "user_id", cn_col_type_prim(CN_COL_INT64), true, -1, &err);
    cn_col_schema_add(s, "ds", cn_col_type_prim(CN_COL_STRING), true, -1, &err);
    char name[64];
    snprintf(name, sizeof name, "lat_%ld", (long)getpid());
    if (cn_ice_table_create(c, "bench", name, s, NULL, 0, &err) < 0) die("create", &err);
    enum { N = 30 };
    double lat[N];
    CnBatch *b = NULL;
    for (int i = 0; i < N; i++) {
        double t0 = now_s();
        CnIceWrite *w = NULL;
        if (cn_ice_write_begin(c, "bench", name, CN_ICE_APPEND, &w, &err) < 0) die("begin", &err);
        /* our own schema: the write's is borrowed and dies with the write */
        if (!b && cn_col_batch_new(s, &b, &err) < 0) die("batch", &err);
        cn_col_batch_reset(b);
        cn_col_vec_append_i64(&b->cols[0], i);
        cn_col_vec_append_str(&b->cols[1], "2023-12-01", 10);
        cn_col_batch_sync_rows(b, &err);
        if (cn_ice_write_batch(w, b, &err) < 0 || cn_ice_write_commit(w, NULL, &err) < 0) die("append", &err);
        cn_ice_write_free(w);
        lat[i] = (now_s() - t0) * 1000.0;
    }
    qsort(lat, N, sizeof *lat, cmp_d);
    printf("commit latency, 1-file append (%s): median %.1f ms, p90 %.1f ms, max %.1f ms over %d commits\n",
           label, lat[N / 2], lat[N * 9 / 10], lat[N - 1], N);
    cn_col_batch_free(b);
    cn_col_schema_free(s);
    cn_ice_catalog_close(c);
}

int main(int argc, char **argv) {
    uint64_t rows = 10000000;
    const char *env = getenv("CN_BENCH_ROWS");
    if (argc > 1) rows = strtoull(argv[1], NULL, 10);
    else if (env) rows = strtoull(env, NULL, 10);
    const char *tmp = getenv("TMPDIR");
    char dir[512];
    snprintf(dir, sizeof dir, "%s/cn_bench_table_XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    char wh[600], cat[700], raw[600];
    snprintf(wh, sizeof wh, "%s/wh", dir);
    snprintf(cat, sizeof cat, "sqlite:%s/catalog.db", dir);
    snprintf(raw, sizeof raw, "%s/raw", dir);
    mkdir(raw, 0755);
    CnErr err = CN_ERR_INIT;
    CnIceCatalog *c = NULL;
    if (cn_ice_catalog_open(wh, cat, &c, &err) < 0) die("catalog", &err);
    CnSchema *s = NULL;
    cn_col_schema_new(&s);
    cn_col_schema_add(s, "user_id", cn_col_type_prim(CN_COL_INT64), true, -1, &err);
    cn_col_schema_add(s, "ts", cn_col_type_prim(CN_COL_INT64), true, -1, &err);
    cn_col_schema_add(s, "amount", cn_col_type_prim(CN_COL_FLOAT64), true, -1, &err);
    cn_col_schema_add(s, "ds", cn_col_type_prim(CN_COL_STRING), true, -1, &err);
    if (cn_ice_table_create(c, "bench", "events", s, NULL, 0, &err) < 0) die("create", &err);

    /* peer: bare Parquet files, one per day, same rows, same writer options */
    CnBatch *b = NULL;
    if (cn_col_batch_new(s, &b, &err) < 0) die("batch", &err);
    CnPqWriter *pw[N_DAYS] = {0};
    CnPqWriteOpts o;
    cn_pq_write_opts_init(&o);
    o.timestamp_micros = true;
    o.row_group_rows = 262144;
    uint32_t *sel[N_DAYS], n_sel[N_DAYS];
    for (int d = 0; d < N_DAYS; d++) {
        char p[700];
        snprintf(p, sizeof p, "%s/day%02d.parquet", raw, d);
        if (cn_pq_writer_open(p, s, &o, &pw[d], &err) < 0) die("peer open", &err);
        sel[d] = cn_malloc(sizeof(uint32_t) * BATCH_ROWS);
    }
    uint64_t seed = 42;
    Sums want = {0};
    double t0 = now_s();
    for (uint64_t done = 0; done < rows; done += BATCH_ROWS) {
        uint32_t n = (uint32_t)CN_MIN((uint64_t)BATCH_ROWS, rows - done);
        fill(b, n, &seed, &want);
        memset(n_sel, 0, sizeof n_sel);
        for (uint32_t r = 0; r < n; r++) {
            int64_t ts = ((const int64_t *)b->cols[1].values)[r];
            int d = (int)((ts - T0) / CN_MS_PER_DAY);
            sel[d][n_sel[d]++] = r;
        }
        for (int d = 0; d < N_DAYS; d++) {
            if (!n_sel[d]) continue;
            CnBatch view = *b;
            view.sel = sel[d];
            view.n_sel = n_sel[d];
            if (cn_pq_writer_write(pw[d], &view, &err) < 0) die("peer write", &err);
        }
    }
    for (int d = 0; d < N_DAYS; d++) {
        if (cn_pq_writer_finish(pw[d], &err) < 0) die("peer finish", &err);
        cn_pq_writer_free(pw[d]);
        cn_free(sel[d]);
    }
    double t_peer = now_s() - t0; /* includes generating the rows, as the table side does */

    seed = 42;
    Sums got = {0};
    t0 = now_s();
    CnIceWrite *w = NULL;
    if (cn_ice_write_begin(c, "bench", "events", CN_ICE_APPEND, &w, &err) < 0) die("begin", &err);
    for (uint64_t done = 0; done < rows; done += BATCH_ROWS) {
        uint32_t n = (uint32_t)CN_MIN((uint64_t)BATCH_ROWS, rows - done);
        fill(b, n, &seed, &got);
        if (cn_ice_write_batch(w, b, &err) < 0) die("write", &err);
    }
    double t_write = now_s() - t0;
    if (cn_ice_write_commit(w, NULL, &err) < 0) die("commit", &err);
    double t_table = now_s() - t0;
    cn_ice_write_free(w);
    printf("load %" PRIu64 " rows into %d ds partitions: table %.2f s (%.2f M rows/s; commit %.0f ms), "
           "bare Parquet files %.2f s (%.2f M rows/s), ratio %.2f\n",
           rows, N_DAYS, t_table, (double)rows / t_table / 1e6, (t_table - t_write) * 1000.0, t_peer,
           (double)rows / t_peer / 1e6, t_table / t_peer);

    CnIceTable *t = NULL;
    CnIceScan *sc = NULL;
    if (cn_ice_table_load(c, "bench", "events", &t, &err) < 0) die("load", &err);
    t0 = now_s();
    if (cn_ice_scan_open(c, t, NULL, &sc, &err) < 0) die("scan", &err);
    Sums back = {0};
    const CnBatch *ob = NULL;
    while (1) {
        if (cn_ice_scan_next(sc, &ob, &err) < 0) die("scan next", &err);
        if (!ob) break;
        const int64_t *u = ob->cols[0].values, *ts = ob->cols[1].values;
        for (uint32_t r = 0; r < ob->n_rows; r++) {
            back.user += u[r];
            back.ts_off += ts[r] - T0;
        }
        back.rows += ob->n_rows;
    }
    double t_scan = now_s() - t0;
    printf("scan %" PRId64 " rows from %u files: %.2f s (%.2f M rows/s)\n", back.rows,
           cn_ice_scan_n_files(sc), t_scan, (double)back.rows / t_scan / 1e6);
    cn_ice_scan_close(sc);
    cn_ice_table_free(t);
    int bad = back.rows != want.rows || back.user != want.user || back.ts_off != want.ts_off ||
              got.user != want.user;
    if (bad)
        fprintf(stderr, "bench_table: scan sums differ: rows %" PRId64 "/%" PRId64 ", user %" PRId64 "/%" PRId64 "\n",
                back.rows, want.rows, back.user, want.user);
    cn_col_batch_free(b);
    cn_col_schema_free(s);
    cn_ice_catalog_close(c);

    commit_latency("local", wh, cat);
    const char *s3 = getenv("CN_BENCH_S3");
    if (s3 && *s3) {
        char scat[700];
        snprintf(scat, sizeof scat, "sqlite:%s/s3catalog.db", dir);
        commit_latency(s3, s3, scat);
    }
    char cmd[700];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "bench_table: could not remove %s\n", dir);
    return bad ? 1 : 0;
}
