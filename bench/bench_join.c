/* bench_join.c: a point-in-time Join backfill (TEMPORAL accuracy) through the engine API
 * against DuckDB computing the same values with SQL on the same Parquet files, in one run.
 *   bench_join [left_rows] [events] [keys] [ours [repeat]]  (default 1,000,000 / 10,000,000 / 100,000)
 * "ours" runs only our side (for profiling), `repeat` times per table (default 1): no
 * DuckDB run and no cross-check.
 * Data (fixed seed): raw.ev {user_id int64, ts int64 (ms), amount int64 0..1023, ds} over
 * 30 partitions 2024-01-01..2024-01-30; raw.left {rid int64 (row number), user_id, ts, ds}
 * over the 23 partitions 2024-01-08..2024-01-30. Keys and ts are uniform (ts within the
 * row's ds), so every row is on time (its partition is the day of its ts). raw.ev_sorted
 * holds the same events, each partition's rows written sorted by (user_id, ts), with that
 * Iceberg sort order declared in the table (what `chronon load --sort-by user_id,ts`
 * writes): our fast path then merges the files' runs instead of radix sorting.
 * Everything below runs twice, on raw.ev ("unsorted") and on raw.ev_sorted ("sorted"),
 * ours and DuckDB each on the same files.
 * Join: left raw.left (timeColumn ts), one part: GroupBy on raw.ev keyed by user_id,
 * accuracy TEMPORAL, SUM, COUNT and LAST of amount over windows 1h, 1d and 7d (9 features).
 *
 * Chronon's TEMPORAL window at query time q is floor(q - W, H) <= ts < q with the tail hop
 * H = 5 min for W = 1h and 1 h for W = 1d and 7d (compute.md section 2). DuckDB (default
 * threads) runs this SQL, a range join plus filtered aggregates, written to Parquet:
 *
 *   COPY (SELECT l.rid,
 *       sum(e.amount)   FILTER (WHERE e.ts >= S(W))::BIGINT      -- per W in 1h, 1d, 7d
 *       nullif(count(e.amount) FILTER (WHERE e.ts >= S(W)), 0)   -- empty window: null (N2)
 *       arg_max(e.amount, e.ts) FILTER (WHERE e.ts >= S(W))      -- LAST
 *     FROM read_parquet('<left files>') l
 *     LEFT JOIN read_parquet('<event files>') e
 *       ON e.user_id = l.user_id AND e.ts < l.ts AND e.ts >= S(7d)
 *     GROUP BY l.rid) TO '<file>' (FORMAT parquet)
 *   with S(W) = (l.ts - W) - (l.ts - W) % H(W)   (floor for the positive times used here)
 *
 * Ours: cn_eng_join_backfill of the 23 left partitions (reading both tables, the sweep,
 * writing and committing the output) in a child process, so its peak RSS is its own;
 * DuckDB's COPY in a child process too (a new in-memory database), each side starting
 * from a fresh process's heap.
 * Cross-check: the rows with rid % 997 == 5 are compared feature by feature; both outputs
 * must have every left row. Exit 1 on any difference.
 * Each side runs RUNS times per table and its fastest run counts (on a virtual machine
 * the first touch of memory the guest has not used lately can cost several times a
 * later one, which would fall on whichever side runs first).
 * Printed per table: wall and CPU times of the fastest runs, the ratio, peak RSS, our
 * threads (CN_THREADS, else the online CPUs) and the page faults of our child process. */
#include "base/compat.h"

#include <dirent.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/date.h"
#include "base/pool.h"
#include "base/str.h"
#include "conf/conf.h"
#include "duckdb.h"
#include "engine/engine.h"
#include "table/table.h"
#include "bench_util.h" /* after table.h: its warehouse helpers */
#include "bench_duck.h"

#define N_DS 30
#define LEFT_D0 7 /* first left partition: day 7 (2024-01-08), so 7d windows are full */
#define N_FEAT 9
#define SAMPLE_MOD 997
#define SAMPLE_REM 5

/* Feature suffixes in DuckDB's column order. */
static const char *const FEAT[N_FEAT] = {
    "amount_sum_1h",   "amount_sum_1d",   "amount_sum_7d",  "amount_count_1h", "amount_count_1d",
    "amount_count_7d", "amount_last_1h", "amount_last_1d", "amount_last_7d",
};


static void die(const char *what, const CnErr *err) {
    fprintf(stderr, "bench_join: %s: %s\n", what, err ? cn_err_msg(err) : "failed");
    exit(1);
}


/* The Join over events table raw.<ev>; its name (and output table) is bench.<name>. */
static CnConf *join_conf(const char *name, const char *ev) {
    static const char WIN[] = "[{\"length\": 1, \"timeUnit\": 0}, {\"length\": 1, \"timeUnit\": 1},"
                              " {\"length\": 7, \"timeUnit\": 1}]";
    char js[4096];
    snprintf(js, sizeof js,
             "{\"metaData\": {\"name\": \"bench.%s\", \"outputNamespace\": \"bench\", \"team\": \"bench\"},"
             " \"left\": {\"events\": {\"table\": \"raw.left\", \"query\": {"
             "   \"selects\": {\"rid\": \"rid\", \"user_id\": \"user_id\", \"ts\": \"ts\"}, \"timeColumn\": \"ts\"}}},"
             " \"joinParts\": [{\"groupBy\": {"
             "   \"metaData\": {\"name\": \"bench.gb\", \"outputNamespace\": \"bench\", \"team\": \"bench\"},"
             "   \"sources\": [{\"events\": {\"table\": \"raw.%s\", \"query\": {"
             "     \"selects\": {\"user_id\": \"user_id\", \"amount\": \"amount\"}, \"timeColumn\": \"ts\"}}}],"
             "   \"keyColumns\": [\"user_id\"], \"accuracy\": 0,"
             "   \"aggregations\": ["
             "    {\"inputColumn\": \"amount\", \"operation\": 7, \"windows\": %s},"
             "    {\"inputColumn\": \"amount\", \"operation\": 6, \"windows\": %s},"
             "    {\"inputColumn\": \"amount\", \"operation\": 3, \"windows\": %s}]}}]}",
             name, ev, WIN, WIN, WIN);
    CnConf *c = NULL;
    CnErr err = CN_ERR_INIT;
    char path[128];
    snprintf(path, sizeof path, "production/joins/bench/%s", name);
    if (cn_conf_loadb(path, js, strlen(js), CN_CONF_KIND_UNKNOWN, &c, &err))
        die("Join config", &err);
    return c;
}

/* Sampled rows: cell[(rid / SAMPLE_MOD) * N_FEAT + f] as text (owned), seen per slot. */
typedef struct Sample {
    char **cell;
    uint8_t *seen;
    uint32_t n_slots;
    int64_t rows;
} Sample;

static void sample_init(Sample *s, int64_t n) {
    s->n_slots = (uint32_t)(n / SAMPLE_MOD + 1);
    s->cell = calloc((size_t)s->n_slots * N_FEAT, sizeof *s->cell);
    s->seen = calloc(s->n_slots, 1);
    s->rows = 0;
    if (!s->cell || !s->seen) die("sample", NULL);
}

static void sample_free(Sample *s) {
    for (size_t i = 0; i < (size_t)s->n_slots * N_FEAT; i++) free(s->cell[i]);
    free(s->cell);
    free(s->seen);
}

static void sample_set(Sample *s, int64_t rid, int f, const char *v) {
    char **p = &s->cell[(size_t)(rid / SAMPLE_MOD) * N_FEAT + (size_t)f];
    free(*p);
    *p = strdup(v);
}

/* Our output table: every row counted, sampled rows kept. */
static void sample_ours(CnIceCatalog *c, const char *table, Sample *s) {
    CnErr err = CN_ERR_INIT;
    CnIceTable *t = NULL;
    char ns[64];
    const char *dot = strchr(table, '.');
    snprintf(ns, sizeof ns, "%.*s", (int)(dot - table), table);
    if (cn_ice_table_load(c, ns, dot + 1, &t, &err)) die("load output", &err);
    const CnSchema *ts = cn_ice_table_schema(t);
    const char *cols[1 + N_FEAT];
    cols[0] = "rid";
    for (int f = 0; f < N_FEAT; f++) {
        cols[1 + f] = NULL;
        for (uint32_t i = 0; i < ts->n_fields; i++) {
            const char *nm = ts->fields[i].name;
            size_t ln = strlen(nm), lf = strlen(FEAT[f]);
            if (ln > lf && !strcmp(nm + ln - lf, FEAT[f]) && nm[ln - lf - 1] == '_') cols[1 + f] = nm;
        }
        if (!cols[1 + f]) {
            fprintf(stderr, "bench_join: output %s has no column ending in _%s\n", table, FEAT[f]);
            exit(1);
        }
    }
    CnIceScanOpts o = {0};
    o.columns = cols;
    o.n_columns = 1 + N_FEAT;
    CnIceScan *sc = NULL;
    if (cn_ice_scan_open(c, t, &o, &sc, &err)) die("scan output", &err);
    for (;;) {
        const CnBatch *b;
        if (cn_ice_scan_next(sc, &b, &err)) die("scan output", &err);
        if (!b) break;
        s->rows += b->n_rows;
        const int64_t *rid = b->cols[0].values;
        for (uint32_t r = 0; r < b->n_rows; r++) {
            if (rid[r] % SAMPLE_MOD != SAMPLE_REM) continue;
            s->seen[rid[r] / SAMPLE_MOD]++;
            for (int f = 0; f < N_FEAT; f++) {
                const CnVec *v = &b->cols[1 + f];
                char buf[32] = "NULL";
                if (cn_col_vec_is_valid(v, r)) snprintf(buf, sizeof buf, "%" PRId64, ((const int64_t *)v->values)[r]);
                sample_set(s, rid[r], f, buf);
            }
        }
    }
    cn_ice_scan_close(sc);
    cn_ice_table_free(t);
}

static int64_t sample_diff(const Sample *a, const Sample *b) {
    int64_t bad = 0;
    if (a->rows != b->rows) {
        fprintf(stderr, "bench_join: %lld output rows versus DuckDB's %lld\n", (long long)a->rows, (long long)b->rows);
        bad++;
    }
    for (uint32_t k = 0; k < a->n_slots; k++) {
        if (a->seen[k] != b->seen[k]) {
            if (bad++ < 5)
                fprintf(stderr, "bench_join: rid %lld present %d versus %d times\n",
                        (long long)k * SAMPLE_MOD + SAMPLE_REM, a->seen[k], b->seen[k]);
            continue;
        }
        for (int f = 0; a->seen[k] && f < N_FEAT; f++) {
            const char *x = a->cell[(size_t)k * N_FEAT + f], *y = b->cell[(size_t)k * N_FEAT + f];
            if (strcmp(x, y) && bad++ < 5)
                fprintf(stderr, "bench_join: rid %lld %s: %s versus DuckDB's %s\n",
                        (long long)k * SAMPLE_MOD + SAMPLE_REM, FEAT[f], x, y);
        }
    }
    return bad;
}

/* The join backfill in a child process. Returns wall seconds; CPU and peak RSS from the
 * child's rusage. */
static double run_child(CnIceCatalog *c, const CnJoin *j, const char *s, const char *e, double *cpu_s,
                        int64_t *rss_kb, int64_t *faults, CnEngStats *st_out) {
    int fd[2];
    if (pipe(fd)) die("pipe", NULL);
    double w0;
    pid_t pid = bench_fork(&w0);
    if (pid < 0) die("fork", NULL);
    if (pid == 0) {
        close(fd[0]);
        CnEngOpts o;
        memset(&o, 0, sizeof o);
        o.start_ds = s;
        o.end_ds = e;
        o.force = true; /* a repeated run computes every partition again */
        CnEngStats st;
        CnErr err = CN_ERR_INIT;
        if (cn_eng_join_backfill(c, j, &o, &st, &err)) {
            fprintf(stderr, "bench_join: join backfill: %s\n", cn_err_msg(&err));
            _exit(1);
        }
        if (write(fd[1], &st, sizeof st) != (ssize_t)sizeof st) _exit(1);
        _exit(0);
    }
    close(fd[1]);
    CnEngStats st;
    ssize_t got = read(fd[0], &st, sizeof st);
    close(fd[0]);
    int status = 0;
    struct rusage ru;
    if (wait4(pid, &status, 0, &ru) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0 || got != (ssize_t)sizeof st)
        die("join backfill", NULL);
    double w = wall() - w0;
    *cpu_s = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
             (double)ru.ru_stime.tv_usec / 1e6;
    *rss_kb = ru.ru_maxrss;
    *faults = ru.ru_minflt + ru.ru_majflt;
    *st_out = st;
    return w;
}

static void duck_exec(duckdb_connection con, const char *sql, duckdb_result *res) {
    if (duckdb_query(con, sql, res) == DuckDBError) {
        fprintf(stderr, "bench_join: DuckDB: %s\n", duckdb_result_error(res));
        exit(1);
    }
}

static void print_ours(double w, double c, int64_t rss_kb, int64_t faults) {
    printf("  chronon backfill      wall %7.3fs  cpu %7.3fs  peak RSS %6.0f MB (child process, %u threads, %lld page "
           "faults)\n",
           w, c, (double)rss_kb / 1024.0, cn_pool_threads(), (long long)faults);
}

/* DuckDB's answer over events table raw.<ev> into <dir>/duck_<ev>.parquet, computed in a
 * child process (bench_duck_child); its wall and CPU seconds and peak RSS, and the
 * sampled rows (read back here, untimed) into *sd. */
static void run_duck(duckdb_connection con, const char *dir, const char *wh, const char *ev, int64_t n_left,
                     double *w_out, double *c_out, long *rss_kb, Sample *sd) {
    duckdb_result res;
    static const int64_t W[3] = {3600000, 86400000, 604800000}, H[3] = {300000, 3600000, 3600000};
    char start[3][128];
    for (int i = 0; i < 3; i++)
        snprintf(start[i], sizeof start[i], "(l.ts - %lld) - (l.ts - %lld) %% %lld", (long long)W[i], (long long)W[i],
                 (long long)H[i]);
    static const char *const HEAD[3] = {"sum(e.amount)", "nullif(count(e.amount)", "arg_max(e.amount, e.ts)"};
    static const char *const TAIL[3] = {"::BIGINT", ", 0)", ""};
    char sel[4096];
    size_t off = 0;
    for (int f = 0; f < 3; f++)
        for (int i = 0; i < 3; i++)
            off += (size_t)snprintf(sel + off, sizeof sel - off, ", %s FILTER (WHERE e.ts >= %s)%s AS %s", HEAD[f],
                                    start[i], TAIL[f], FEAT[f * 3 + i]);
    char duck_out[200];
    snprintf(duck_out, sizeof duck_out, "%s/duck_%s.parquet", dir, ev);
    size_t qcap = sizeof sel + 1024;
    char *q = malloc(qcap);
    if (!q) die("out of memory", NULL);
    snprintf(q, qcap,
             "COPY (SELECT l.rid%s FROM read_parquet('%s/raw.db/left/data/*/*.parquet') l "
             "LEFT JOIN read_parquet('%s/raw.db/%s/data/*/*.parquet') e "
             "ON e.user_id = l.user_id AND e.ts < l.ts AND e.ts >= %s GROUP BY l.rid) TO '%s' (FORMAT parquet)",
             sel, wh, wh, ev, start[2], duck_out);
    BenchDuck bd = {"bench_join", q, 0};
    *w_out = bench_in_child(bench_duck_child, &bd, c_out, rss_kb);
    sample_init(sd, n_left);
    snprintf(q, qcap, "SELECT count(*) FROM read_parquet('%s')", duck_out);
    duck_exec(con, q, &res);
    sd->rows = duckdb_value_int64(&res, 0, 0);
    duckdb_destroy_result(&res);
    snprintf(q, qcap, "SELECT * FROM read_parquet('%s') WHERE rid %% %d = %d", duck_out, SAMPLE_MOD, SAMPLE_REM);
    duck_exec(con, q, &res);
    for (idx_t r = 0; r < duckdb_row_count(&res); r++) {
        int64_t rid = duckdb_value_int64(&res, 0, r);
        sd->seen[rid / SAMPLE_MOD]++;
        for (int f = 0; f < N_FEAT; f++) {
            char buf[32] = "NULL";
            if (!duckdb_value_is_null(&res, (idx_t)f + 1, r))
                snprintf(buf, sizeof buf, "%" PRId64, duckdb_value_int64(&res, (idx_t)f + 1, r));
            sample_set(sd, rid, f, buf);
        }
    }
    duckdb_destroy_result(&res);
    free(q);
}

/* The two runs: the events table as generated, and the same rows written sorted by
 * (user_id, ts) per partition with that sort order declared in the table. */
#define N_VAR 2
static const char *const VAR_EV[N_VAR] = {"ev", "ev_sorted"};
static const char *const VAR_JOIN[N_VAR] = {"pit", "pit_sorted"};
static const char *const VAR_LABEL[N_VAR] = {"events unsorted", "events sorted by (user_id, ts), order declared"};

#define RUNS 2 /* runs of each side per table; the fastest counts */

typedef struct GenJob {
    int64_t n_left, events, keys, day0;
} GenJob;

/* The three tables (bench_generate runs this in a process of its own). */
static int gen_tables(CnIceCatalog *c, void *ud, CnErr *err) {
    const GenJob *g = ud;
    for (int v = 0; v < N_VAR; v++)
        if (bench_write_table(c, VAR_EV[v], false, v == 1, g->events, g->keys, g->day0, 0, N_DS,
                              88172645463325252ull, err))
            return cn_err_ctx(err, -1, "raw.%s", VAR_EV[v]);
    if (bench_write_table(c, "left", true, false, g->n_left, g->keys, g->day0, LEFT_D0, N_DS, 0x9E3779B97F4A7C15ull,
                          err))
        return cn_err_ctx(err, -1, "raw.left");
    return 0;
}

int main(int argc, char **argv) {
    int64_t n_left = argc > 1 ? atoll(argv[1]) : 1000000;
    int64_t events = argc > 2 ? atoll(argv[2]) : 10000000;
    int64_t keys = argc > 3 ? atoll(argv[3]) : 100000;
    bool ours_only = argc > 4 && !strcmp(argv[4], "ours");
    int repeat = ours_only && argc > 5 ? atoi(argv[5]) : 1;
    if (repeat < 1) repeat = 1;
    if (n_left < N_DS) n_left = N_DS;
    if (events < N_DS) events = N_DS;
    if (keys < 1) keys = 1;
    BenchScratch scratch;
    bench_scratch_open(&scratch, "bench_join");
    const char *dir = scratch.dir, *wh = scratch.wh;
    CnIceCatalog *c = scratch.cat;
    CnErr err = CN_ERR_INIT;
    int64_t day0 = scratch.day0;

    double t0 = wall();
    GenJob gj = {.n_left = n_left, .events = events, .keys = keys, .day0 = day0};
    bench_generate(&scratch, gen_tables, &gj);
    printf("bench_join: %lld left rows, %lld events (written twice: as drawn, and sorted), %lld keys written in "
           "%.2fs\n",
           (long long)n_left, (long long)events, (long long)keys, wall() - t0);

    char s_ds[11], e_ds[11];
    cn_ds_format((int32_t)day0 + LEFT_D0, s_ds);
    cn_ds_format((int32_t)day0 + N_DS - 1, e_ds);
    duckdb_database db;
    duckdb_connection con;
    if (!ours_only && (duckdb_open(NULL, &db) == DuckDBError || duckdb_connect(db, &con) == DuckDBError))
        die("DuckDB open", NULL);
    /* ours on both tables first: each child is forked from the same parent (a child's
     * peak RSS counts the pages it shares with the parent, which DuckDB would grow) */
    double our_w[N_VAR], our_c[N_VAR];
    int64_t our_rss[N_VAR], our_faults[N_VAR];
    CnEngStats st[N_VAR];
    for (int v = 0; v < N_VAR; v++) {
        CnConf *conf = join_conf(VAR_JOIN[v], VAR_EV[v]);
        if (ours_only) printf("%s:\n", VAR_LABEL[v]);
        for (int i = 0; i < (ours_only ? repeat : RUNS); i++) {
            double w, cs;
            int64_t rss, faults;
            w = run_child(c, conf->join, s_ds, e_ds, &cs, &rss, &faults, &st[v]);
            if (ours_only) print_ours(w, cs, rss, faults);
            if (i == 0 || w < our_w[v]) our_w[v] = w, our_c[v] = cs, our_rss[v] = rss, our_faults[v] = faults;
        }
        cn_conf_free(conf);
    }
    int bad_any = 0;
    for (int v = 0; v < N_VAR && !ours_only; v++) {
        /* ---- DuckDB on the same files */
        Sample sd, so;
        double duck_w = 0, duck_c = 0;
        long duck_rss = 0;
        for (int i = 0; i < RUNS; i++) {
            double w, cs;
            long rss;
            if (i) sample_free(&sd);
            run_duck(con, dir, wh, VAR_EV[v], n_left, &w, &cs, &rss, &sd);
            if (i == 0 || w < duck_w) duck_w = w, duck_c = cs, duck_rss = rss;
        }
        /* ---- cross-check */
        CnConf *conf = join_conf(VAR_JOIN[v], VAR_EV[v]);
        CnArena a;
        cn_arena_init(&a, 0);
        const char *out_table = cn_conf_output_table(&a, &conf->join->meta, &err);
        if (!out_table) die("output table", &err);
        sample_init(&so, n_left);
        sample_ours(c, out_table, &so);
        int64_t bad = sample_diff(&so, &sd);
        int64_t n_sampled = 0, n_nonnull = 0;
        for (uint32_t k = 0; k < so.n_slots; k++) {
            n_sampled += so.seen[k] != 0;
            for (int f = 0; so.seen[k] && f < N_FEAT; f++)
                n_nonnull += strcmp(so.cell[(size_t)k * N_FEAT + f], "NULL") != 0;
        }
        sample_free(&so);
        sample_free(&sd);
        printf("point-in-time join, TEMPORAL, windows 1h/1d/7d x SUM/COUNT/LAST, %s: %lld output rows, %lld rows "
               "read (fastest of %d runs each)\n",
               VAR_LABEL[v], (long long)st[v].rows_written, (long long)st[v].rows_scanned, RUNS);
        print_ours(our_w[v], our_c[v], our_rss[v], our_faults[v]);
        printf("  DuckDB (all threads)  wall %7.3fs  cpu %7.3fs  peak RSS %6.0f MB (child process)\n", duck_w,
               duck_c, (double)duck_rss / 1024.0);
        printf("  ratio DuckDB/chronon: %.2fx wall, %.2fx cpu; %lld sampled rows (%lld non-null features) %s\n",
               duck_w / our_w[v], duck_c / our_c[v], (long long)n_sampled, (long long)n_nonnull,
               bad ? "DIFFER" : "agree");
        bad_any |= bad || !n_sampled || !n_nonnull;
        cn_arena_fini(&a);
        cn_conf_free(conf);
    }
    if (!ours_only) {
        duckdb_disconnect(&con);
        duckdb_close(&db);
    }
    cn_ice_catalog_close(c);
    rm_rf(dir);
    return bad_any ? 1 : 0;
}
