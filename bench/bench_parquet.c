/* bench_parquet.c: our Parquet writer and reader against DuckDB's, in one run, on the
 * same rows.
 *   bench_parquet [rows]     (default 10,000,000; env CN_BENCH_ROWS also sets it)
 * Data (fixed seed): key int64 (uniform in [0, 1M)), ts int64 (epoch millis, rising
 * with jitter), amount float64 (cents, 5% null), category string (~1000 distinct,
 * 5% null). Both sides write with ZSTD at their default levels and row-group sizes;
 * DuckDB runs with threads=1. Timed: our write of in-memory batches vs DuckDB's
 * COPY of an in-memory table; our read (every value touched) vs DuckDB's read_parquet
 * aggregate over every column. Loading the data into DuckDB is not timed.
 * Both wall and CPU time are printed; the goals are judged on CPU time, which a busy
 * machine disturbs less.
 * Every read computes the same aggregates (count, sum(key), sum(ts - base), sum(amount),
 * count(category), total category bytes); the run fails (exit 1) if DuckDB reading our
 * file or we reading DuckDB's file disagree with the generated data. */
#include "base/compat.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/err.h"
#include "col/col.h"
#include "io/parquet/pq.h"

#include "duckdb.h"

#define BATCH_ROWS 65536u
/* ts is summed relative to this so 10M sums fit in int64 */
#define TS_BASE INT64_C(1700000000000)

typedef struct Agg {
    int64_t count, sum_key, sum_ts, n_amount, n_category, category_bytes;
    double sum_amount;
} Agg;

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* CPU time of the process: both sides run on this one thread (DuckDB with threads=1),
 * so this is the fairer figure on a busy machine, where wall time also counts waiting. */
static double cpu_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static uint64_t splitmix(uint64_t *s) {
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static void die(const char *what, const CnErr *err) {
    fprintf(stderr, "bench_parquet: %s: %s\n", what, err ? cn_err_msg(err) : "");
    exit(1);
}

static off_t file_size(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 ? st.st_size : -1;
}

static bool agg_equal(const Agg *a, const Agg *b) {
    return a->count == b->count && a->sum_key == b->sum_key && a->sum_ts == b->sum_ts &&
           a->n_amount == b->n_amount && a->n_category == b->n_category &&
           a->category_bytes == b->category_bytes &&
           fabs(a->sum_amount - b->sum_amount) <= 1e-6 * fabs(b->sum_amount) + 1e-6;
}

static void agg_print(const char *who, const Agg *a) {
    printf("  %-28s count %" PRId64 " sum(key) %" PRId64 " sum(ts) %" PRId64 " sum(amount) %.2f "
           "count(amount) %" PRId64 " count(category) %" PRId64 " category bytes %" PRId64 "\n",
           who, a->count, a->sum_key, a->sum_ts, a->sum_amount, a->n_amount, a->n_category, a->category_bytes);
}

static void agg_batch(Agg *a, const CnBatch *b) {
    const CnVec *k = &b->cols[0], *t = &b->cols[1], *am = &b->cols[2], *c = &b->cols[3];
    const int64_t *kv = k->values, *tv = t->values;
    const double *av = am->values;
    int64_t sk = 0, st = 0;
    double sa = 0;
    for (uint32_t i = 0; i < b->n_rows; i++) {
        sk += kv[i];
        st += tv[i] - TS_BASE;
    }
    for (uint32_t i = 0; i < b->n_rows; i++)
        if (cn_col_vec_is_valid(am, i)) sa += av[i];
    a->count += b->n_rows;
    a->sum_key += sk;
    a->sum_ts += st;
    a->sum_amount += sa;
    a->n_amount += b->n_rows - am->n_null;
    a->n_category += b->n_rows - c->n_null;
    a->category_bytes += c->offsets[b->n_rows];
}

static void duck_exec(duckdb_connection con, const char *sql) {
    duckdb_result res;
    if (duckdb_query(con, sql, &res) == DuckDBError) {
        fprintf(stderr, "bench_parquet: DuckDB: %s: %s\n", sql, duckdb_result_error(&res));
        exit(1);
    }
    duckdb_destroy_result(&res);
}

static Agg duck_agg(duckdb_connection con, const char *path) {
    char sql[1024];
    snprintf(sql, sizeof sql,
             "SELECT count(*)::BIGINT, sum(key)::BIGINT, sum(ts - 1700000000000)::BIGINT, sum(amount)::DOUBLE, "
             "count(amount)::BIGINT, count(category)::BIGINT, sum(strlen(category))::BIGINT "
             "FROM read_parquet('%s')",
             path);
    duckdb_result res;
    if (duckdb_query(con, sql, &res) == DuckDBError) {
        fprintf(stderr, "bench_parquet: DuckDB: %s\n", duckdb_result_error(&res));
        exit(1);
    }
    duckdb_data_chunk ch = duckdb_fetch_chunk(res);
    Agg a = {0};
    int64_t *v[7];
    for (int i = 0; i < 7; i++) v[i] = duckdb_vector_get_data(duckdb_data_chunk_get_vector(ch, (idx_t)i));
    a.count = v[0][0];
    a.sum_key = v[1][0];
    a.sum_ts = v[2][0];
    memcpy(&a.sum_amount, v[3], sizeof(double));
    a.n_amount = v[4][0];
    a.n_category = v[5][0];
    a.category_bytes = v[6][0];
    duckdb_destroy_data_chunk(&ch);
    duckdb_destroy_result(&res);
    return a;
}

int main(int argc, char **argv) {
    uint64_t rows = 10000000;
    const char *env = getenv("CN_BENCH_ROWS");
    if (argc > 1) rows = strtoull(argv[1], NULL, 10);
    else if (env && *env) rows = strtoull(env, NULL, 10);
    if (rows == 0) {
        fprintf(stderr, "usage: bench_parquet [rows]\n");
        return 2;
    }
    const char *tmpdir = getenv("TMPDIR");
    char dirbuf[512];
    snprintf(dirbuf, sizeof dirbuf, "%s/cn_bench_pq_XXXXXX", tmpdir && *tmpdir ? tmpdir : "/tmp");
    if (!mkdtemp(dirbuf)) {
        perror("mkdtemp");
        return 1;
    }
    char ours_path[600], duck_path[600];
    snprintf(ours_path, sizeof ours_path, "%s/ours.parquet", dirbuf);
    snprintf(duck_path, sizeof duck_path, "%s/duckdb.parquet", dirbuf);

    /* ---- data */
    CnErr err = CN_ERR_INIT;
    CnSchema *schema = NULL;
    if (cn_col_schema_new(&schema) < 0) die("schema", NULL);
    cn_col_schema_add(schema, "key", cn_col_type_prim(CN_COL_INT64), false, 1, &err);
    cn_col_schema_add(schema, "ts", cn_col_type_prim(CN_COL_INT64), false, 2, &err);
    cn_col_schema_add(schema, "amount", cn_col_type_prim(CN_COL_FLOAT64), true, 3, &err);
    cn_col_schema_add(schema, "category", cn_col_type_prim(CN_COL_STRING), true, 4, &err);
    if (err.code) die("schema", &err);
    uint32_t n_batches = (uint32_t)((rows + BATCH_ROWS - 1) / BATCH_ROWS);
    CnBatch **batches = cn_calloc(n_batches, sizeof *batches);
    uint64_t seed = 20231130;
    int64_t ts = TS_BASE;
    Agg want = {0};
    for (uint32_t bi = 0; bi < n_batches; bi++) {
        if (cn_col_batch_new(schema, &batches[bi], &err) < 0) die("batch", &err);
        CnBatch *b = batches[bi];
        uint32_t n = (uint32_t)CN_MIN((uint64_t)BATCH_ROWS, rows - (uint64_t)bi * BATCH_ROWS);
        for (uint32_t i = 0; i < n; i++) {
            uint64_t r = splitmix(&seed);
            int64_t key = (int64_t)(r % 1000000);
            ts += (int64_t)((r >> 20) % 200);
            cn_col_vec_append_i64(&b->cols[0], key);
            cn_col_vec_append_i64(&b->cols[1], ts);
            if ((r >> 40) % 100 < 5) {
                cn_col_vec_append_null(&b->cols[2]);
            } else {
                double amount = (double)((r >> 8) % 100000) / 100.0;
                cn_col_vec_append_f64(&b->cols[2], amount);
            }
            if ((r >> 48) % 100 < 5) {
                cn_col_vec_append_null(&b->cols[3]);
            } else {
                char cat[32];
                int len = snprintf(cat, sizeof cat, "category_%03u", (unsigned)((r >> 28) % 1000));
                cn_col_vec_append_str(&b->cols[3], cat, (size_t)len);
            }
        }
        if (cn_col_batch_sync_rows(b, &err) < 0) die("batch", &err);
        agg_batch(&want, b);
    }

    /* ---- ours: write */
    CnPqWriteOpts opts;
    cn_pq_write_opts_init(&opts);
    opts.codec = CN_PQ_CODEC_ZSTD;
    double t0 = now_s(), c0 = cpu_s();
    CnPqWriter *w = NULL;
    if (cn_pq_writer_open(ours_path, schema, &opts, &w, &err) < 0) die("writer open", &err);
    for (uint32_t bi = 0; bi < n_batches; bi++) cn_pq_writer_write(w, batches[bi], &err);
    if (cn_pq_writer_finish(w, &err) < 0) die("writer finish", &err);
    double ours_write = now_s() - t0, ours_write_cpu = cpu_s() - c0;
    uint32_t ours_rgs = cn_pq_writer_meta(w)->n_row_groups;
    cn_pq_writer_free(w);

    /* ---- ours: read */
    t0 = now_s();
    c0 = cpu_s();
    CnPqReader *r = NULL;
    Agg ours_read_agg = {0};
    if (cn_pq_reader_open(ours_path, &r, &err) < 0) die("reader open", &err);
    for (;;) {
        const CnBatch *b = NULL;
        if (cn_pq_reader_next(r, 0, &b, &err) < 0) die("read", &err);
        if (!b) break;
        agg_batch(&ours_read_agg, b);
    }
    cn_pq_reader_close(r);
    double ours_read = now_s() - t0, ours_read_cpu = cpu_s() - c0;

    /* ---- DuckDB: load (untimed), write, read */
    duckdb_database db;
    duckdb_connection con;
    if (duckdb_open(NULL, &db) == DuckDBError || duckdb_connect(db, &con) == DuckDBError) die("DuckDB open", NULL);
    duck_exec(con, "SET threads=1");
    duck_exec(con, "CREATE TABLE t(key BIGINT NOT NULL, ts BIGINT NOT NULL, amount DOUBLE, category VARCHAR)");
    duckdb_appender app;
    if (duckdb_appender_create(con, NULL, "t", &app) == DuckDBError) die("DuckDB appender", NULL);
    for (uint32_t bi = 0; bi < n_batches; bi++) {
        const CnBatch *b = batches[bi];
        for (uint32_t i = 0; i < b->n_rows; i++) {
            duckdb_append_int64(app, ((const int64_t *)b->cols[0].values)[i]);
            duckdb_append_int64(app, ((const int64_t *)b->cols[1].values)[i]);
            if (cn_col_vec_is_valid(&b->cols[2], i)) duckdb_append_double(app, ((const double *)b->cols[2].values)[i]);
            else duckdb_append_null(app);
            if (cn_col_vec_is_valid(&b->cols[3], i)) {
                uint32_t len;
                const char *s = cn_col_vec_str(&b->cols[3], i, &len);
                duckdb_append_varchar_length(app, s, len);
            } else {
                duckdb_append_null(app);
            }
            duckdb_appender_end_row(app);
        }
    }
    if (duckdb_appender_destroy(&app) == DuckDBError) die("DuckDB appender flush", NULL);
    char sql[1024];
    snprintf(sql, sizeof sql, "COPY t TO '%s' (FORMAT PARQUET, COMPRESSION ZSTD)", duck_path);
    t0 = now_s();
    c0 = cpu_s();
    duck_exec(con, sql);
    double duck_write = now_s() - t0, duck_write_cpu = cpu_s() - c0;
    t0 = now_s();
    c0 = cpu_s();
    Agg duck_read_agg = duck_agg(con, duck_path);
    double duck_read = now_s() - t0, duck_read_cpu = cpu_s() - c0;
    /* Cross-reads for correctness (untimed). */
    Agg duck_on_ours = duck_agg(con, ours_path);
    Agg ours_on_duck = {0};
    if (cn_pq_reader_open(duck_path, &r, &err) < 0) die("reader open (DuckDB file)", &err);
    for (;;) {
        const CnBatch *b = NULL;
        if (cn_pq_reader_next(r, 0, &b, &err) < 0) die("read (DuckDB file)", &err);
        if (!b) break;
        agg_batch(&ours_on_duck, b);
    }
    cn_pq_reader_close(r);
    snprintf(sql, sizeof sql, "SELECT count(DISTINCT row_group_id)::BIGINT FROM parquet_metadata('%s')", duck_path);
    duckdb_result res;
    int64_t duck_rgs = 0;
    if (duckdb_query(con, sql, &res) == DuckDBSuccess) {
        duckdb_data_chunk ch = duckdb_fetch_chunk(res);
        duck_rgs = ((int64_t *)duckdb_vector_get_data(duckdb_data_chunk_get_vector(ch, 0)))[0];
        duckdb_destroy_data_chunk(&ch);
    }
    duckdb_destroy_result(&res);
    duckdb_disconnect(&con);
    duckdb_close(&db);

    /* ---- report */
    off_t ours_size = file_size(ours_path), duck_size = file_size(duck_path);
    double n = (double)rows;
    printf("bench_parquet: %" PRIu64 " rows (key int64, ts int64, amount float64 5%% null, category string "
           "~1000 distinct 5%% null), ZSTD, DuckDB threads=1\n",
           rows);
    printf("  %-8s %14s %14s %10s   %s\n", "", "chronon-c", "DuckDB", "ratio", "(ratio > 1: slower than DuckDB)");
    printf("  %-8s %10.2f M/s %10.2f M/s %9.2fx   wall %.3fs vs %.3fs\n", "write", n / ours_write / 1e6,
           n / duck_write / 1e6, ours_write / duck_write, ours_write, duck_write);
    printf("  %-8s %10.2f M/s %10.2f M/s %9.2fx   wall %.3fs vs %.3fs\n", "read", n / ours_read / 1e6,
           n / duck_read / 1e6, ours_read / duck_read, ours_read, duck_read);
    printf("  %-8s %10.2f M/s %10.2f M/s %9.2fx   cpu %.3fs vs %.3fs\n", "write cpu", n / ours_write_cpu / 1e6,
           n / duck_write_cpu / 1e6, ours_write_cpu / duck_write_cpu, ours_write_cpu, duck_write_cpu);
    printf("  %-8s %10.2f M/s %10.2f M/s %9.2fx   cpu %.3fs vs %.3fs\n", "read cpu", n / ours_read_cpu / 1e6,
           n / duck_read_cpu / 1e6, ours_read_cpu / duck_read_cpu, ours_read_cpu, duck_read_cpu);
    printf("  %-8s %12.2f MB %12.2f MB %9.2fx   row groups %u vs %" PRId64 "\n", "size", (double)ours_size / 1e6,
           (double)duck_size / 1e6, (double)ours_size / (double)duck_size, ours_rgs, duck_rgs);
    double wr = ours_write_cpu / duck_write_cpu, rr = ours_read_cpu / duck_read_cpu;
    printf("  goals (cpu time): write <= 1.5x %s, read <= 1.5x %s, size <= 1.2x %s\n", wr <= 1.5 ? "met" : "MISSED",
           rr <= 1.5 ? "met" : "MISSED", (double)ours_size / (double)duck_size <= 1.2 ? "met" : "MISSED");

    int status = 0;
    struct {
        const char *who;
        const Agg *a;
    } checks[] = {{"chronon reads chronon", &ours_read_agg},
                  {"DuckDB reads DuckDB", &duck_read_agg},
                  {"DuckDB reads chronon", &duck_on_ours},
                  {"chronon reads DuckDB", &ours_on_duck}};
    for (size_t i = 0; i < CN_ARRAY_LEN(checks); i++) {
        if (!agg_equal(checks[i].a, &want)) {
            printf("MISMATCH: %s differs from the generated data\n", checks[i].who);
            agg_print("generated", &want);
            agg_print(checks[i].who, checks[i].a);
            status = 1;
        }
    }
    if (!status) printf("  check: all four reads agree with the generated data\n");
    for (uint32_t bi = 0; bi < n_batches; bi++) cn_col_batch_free(batches[bi]);
    cn_free(batches);
    cn_col_schema_free(schema);
    unlink(ours_path);
    unlink(duck_path);
    rmdir(dirbuf);
    return status;
}
