/* bench_groupby.c: GroupBy backfill through the engine API against DuckDB running the
 * equivalent SQL on the same Parquet files, in one run.
 *   bench_groupby [events] [keys] [parts]   (default 10,000,000 events, 1,000,000 keys;
 *   parts "1" runs part 1 only,
 *   "inc" part 2's incremental run only, "sc" part 3 only, "ours [n]" our side of parts 1
 *   and 3 only, n runs each (default 5; for profiling and A/B runs, no DuckDB, no check))
 * Data (fixed seed): table raw.ev {user_id int64, ts int64 (ms), amount int64, ds}, 30 ds
 * partitions 2024-01-01..2024-01-30, written day by day with our Parquet writer (one
 * commit); each event has a uniform key and a uniform ts within its day.
 * GroupBy: key user_id; SUM, COUNT, AVERAGE and LAST_K(k=10) of amount, each over windows
 * 1d, 7d and 30d (12 columns), accuracy SNAPSHOT.
 *
 * 1. Snapshot of one ds (D = 2024-01-30, window end E = epoch(2024-01-31)): the backfill
 *    of partition D without the tile store (a full computation), in a child process so
 *    its peak RSS is its own, on N threads (CN_THREADS, default the online CPUs). DuckDB
 *    (threads=N, the same count; a new in-memory database in a child process too) runs,
 *    on the glob of the table's data files, the SQL the
 *    snapshot means (compute.md section 2: E - W <= ts < E; an empty group is null, COUNT
 *    included, N2; LAST_K newest first):
 *
 *      COPY (SELECT user_id,
 *        sum(amount) FILTER (WHERE ts >= E - W)::BIGINT              -- per W in 1d, 7d, 30d
 *        nullif(count(amount) FILTER (WHERE ts >= E - W), 0)
 *        avg(amount) FILTER (WHERE ts >= E - W)
 *        max_by(amount, ts, 10) FILTER (WHERE ts >= E - W)           -- LAST_K(10)
 *      FROM read_parquet('<table>/data/{asterisk}/{asterisk}.parquet')
 *      WHERE ts >= E - 30d AND ts < E GROUP BY user_id) TO '<file>' (FORMAT parquet)
 *
 *    max_by(x, ts, n) is DuckDB's top-n by ts (newest first), its fastest form of LAST_K;
 *    `list(amount ORDER BY ts DESC)[1:10]` gives the same lists more slowly. Both sides
 *    write their result, as a backfill does (ours: Parquet files committed to an Iceberg
 *    table; DuckDB: one Parquet file), as bench_join's DuckDB does; the sample is read
 *    back from DuckDB's file afterwards, outside its time (lists as text: the C API's
 *    value accessors do not read lists).
 *    The keys with user_id % 97 == 5 are compared column by column (AVERAGE to 1e-9
 *    relative); every key must be in both outputs. Exit 1 on any difference.
 * 2. The 30-day range: one incremental backfill of 2024-01-01..2024-01-30 (tiles built
 *    once per input day, stored in the __tiles table) against 30 separate full runs, one
 *    per ds, without tiles, into a second GroupBy's table. Both tables must hold the same
 *    rows for the sampled keys on every day.
 * 3. The snapshot of part 1 for a GroupBy of SUM and COUNT only (6 columns: the cheapest
 *    folds, where the events/s/core goal applies) against DuckDB's SQL of part 1 cut to
 *    those columns (printed), sampled keys compared the same way.
 * Parts 1 and 3 run each side RUNS times and count its fastest run (best_child).
 * Printed: wall and CPU times, ratios, events/s/core, peak RSS, and the CPU time of
 * chronon's main thread (the serial part of a run). */
#include "base/compat.h"

#include <dirent.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/pool.h"
#include "base/date.h"
#include "base/str.h"
#include "conf/conf.h"
#include "duckdb.h"
#include "engine/engine.h"
#include "table/table.h"
#include "bench_util.h" /* after table.h: its warehouse helpers */
#include "bench_duck.h"

#define N_DS 30
#define N_VAL 12 /* value columns */
#define N_SC 6   /* of which SUM and COUNT (the SUM/COUNT-only GroupBy's columns) */
#define SAMPLE_MOD 97
#define SAMPLE_REM 5

static const char *const VAL_COLS[N_VAL] = {
    "amount_sum_1d",   "amount_sum_7d",   "amount_sum_30d",   "amount_count_1d",
    "amount_count_7d", "amount_count_30d", "amount_average_1d", "amount_average_7d",
    "amount_average_30d", "amount_last10_1d", "amount_last10_7d", "amount_last10_30d",
};


static void die(const char *what, const CnErr *err) {
    fprintf(stderr, "bench_groupby: %s: %s\n", what, err ? cn_err_msg(err) : "failed");
    exit(1);
}


/* The GroupBy; sum_count: its SUM and COUNT aggregations only (the first N_SC columns). */
static CnConf *groupby_conf(const char *name, bool sum_count) {
    char js[2048];
    static const char WIN[] = "[{\"length\": 1, \"timeUnit\": 1}, {\"length\": 7, \"timeUnit\": 1},"
                              " {\"length\": 30, \"timeUnit\": 1}]";
    snprintf(js, sizeof js,
             "{\"metaData\": {\"name\": \"%s\", \"outputNamespace\": \"bench\", \"team\": \"bench\"},"
             " \"sources\": [{\"events\": {\"table\": \"raw.ev\", \"query\": {"
             "   \"selects\": {\"user_id\": \"user_id\", \"amount\": \"amount\"}, \"timeColumn\": \"ts\"}}}],"
             " \"keyColumns\": [\"user_id\"], \"accuracy\": 1,"
             " \"aggregations\": ["
             "  {\"inputColumn\": \"amount\", \"operation\": 7, \"windows\": %s},"
             "  {\"inputColumn\": \"amount\", \"operation\": 6, \"windows\": %s}%s%s%s%s%s]}",
             name, WIN, WIN, sum_count ? "" : ",  {\"inputColumn\": \"amount\", \"operation\": 8, \"windows\": ",
             sum_count ? "" : WIN,
             sum_count ? "" : "}, {\"inputColumn\": \"amount\", \"operation\": 13, \"argMap\": {\"k\": \"10\"}, "
                              "\"windows\": ",
             sum_count ? "" : WIN, sum_count ? "" : "}");
    char path[256];
    snprintf(path, sizeof path, "production/group_bys/bench/%s", name);
    CnConf *c = NULL;
    CnErr err = CN_ERR_INIT;
    if (cn_conf_loadb(path, js, strlen(js), CN_CONF_KIND_UNKNOWN, &c, &err)) die("GroupBy config", &err);
    return c;
}

/* One entry of an output column as text, DuckDB's spelling ("NULL", "[3, 1]"). */
static void fmt_entry(const CnVec *v, uint32_t r, char *out, size_t cap) {
    if (!cn_col_vec_is_valid(v, r)) {
        snprintf(out, cap, "NULL");
        return;
    }
    switch (v->type->id) {
    case CN_COL_INT64: snprintf(out, cap, "%" PRId64, ((const int64_t *)v->values)[r]); break;
    case CN_COL_FLOAT64: snprintf(out, cap, "%.17g", ((const double *)v->values)[r]); break;
    case CN_COL_LIST: {
        size_t off = (size_t)snprintf(out, cap, "[");
        const CnVec *ch = &v->child[0];
        for (uint32_t i = v->offsets[r]; i < v->offsets[r + 1] && off + 24 < cap; i++)
            off += (size_t)snprintf(out + off, cap - off, "%s%" PRId64, i > v->offsets[r] ? ", " : "",
                                    ((const int64_t *)ch->values)[i]);
        snprintf(out + off, cap - off, "]");
        break;
    }
    default: snprintf(out, cap, "?type"); break;
    }
}

/* Sampled rows of one output: sample[(user_id / SAMPLE_MOD) * N_VAL + c] (owned strings). */
typedef struct Sample {
    char **cell;
    uint8_t *seen;
    uint32_t n_slots;
    int n_val; /* the first n_val of VAL_COLS */
    int64_t rows;
} Sample;

static void sample_init(Sample *s, int64_t keys, int n_val) {
    s->n_val = n_val;
    s->n_slots = (uint32_t)(keys / SAMPLE_MOD + 1);
    s->cell = calloc((size_t)s->n_slots * s->n_val, sizeof *s->cell);
    s->seen = calloc(s->n_slots, 1);
    s->rows = 0;
    if (!s->cell || !s->seen) die("sample", NULL);
}
static void sample_free(Sample *s) {
    for (size_t i = 0; i < (size_t)s->n_slots * s->n_val; i++) free(s->cell[i]);
    free(s->cell);
    free(s->seen);
}

/* Reads partition ds of our output table into a sample. */
static void sample_ours(CnIceCatalog *c, const char *table, const char *ds, Sample *s) {
    CnErr err = CN_ERR_INIT;
    CnIceTable *t = NULL;
    char ns[64];
    const char *dot = strchr(table, '.');
    snprintf(ns, sizeof ns, "%.*s", (int)(dot - table), table);
    if (cn_ice_table_load(c, ns, dot + 1, &t, &err)) die("load output", &err);
    const char *cols[1 + N_VAL];
    cols[0] = "user_id";
    for (int i = 0; i < s->n_val; i++) cols[1 + i] = VAL_COLS[i];
    CnIceScanOpts o = {0};
    o.columns = cols;
    o.n_columns = 1 + (uint32_t)s->n_val;
    o.ds_lo = o.ds_hi = ds;
    CnIceScan *sc = NULL;
    if (cn_ice_scan_open(c, t, &o, &sc, &err)) die("scan output", &err);
    char buf[512];
    for (;;) {
        const CnBatch *b;
        if (cn_ice_scan_next(sc, &b, &err)) die("scan output", &err);
        if (!b) break;
        s->rows += b->n_rows;
        const int64_t *uid = b->cols[0].values;
        for (uint32_t r = 0; r < b->n_rows; r++) {
            if (uid[r] % SAMPLE_MOD != SAMPLE_REM) continue;
            uint32_t slot = (uint32_t)(uid[r] / SAMPLE_MOD);
            s->seen[slot]++;
            for (int i = 0; i < s->n_val; i++) {
                fmt_entry(&b->cols[1 + i], r, buf, sizeof buf);
                free(s->cell[(size_t)slot * s->n_val + i]);
                s->cell[(size_t)slot * s->n_val + i] = strdup(buf);
            }
        }
    }
    cn_ice_scan_close(sc);
    cn_ice_table_free(t);
}

/* Number of differing sampled cells (printing the first few). */
static int64_t sample_diff(const Sample *a, const Sample *b, const char *what) {
    int64_t bad = 0;
    if (a->rows != b->rows) {
        fprintf(stderr, "bench_groupby: %s: %lld rows versus %lld\n", what, (long long)a->rows, (long long)b->rows);
        bad++;
    }
    for (uint32_t k = 0; k < a->n_slots; k++) {
        if (a->seen[k] != b->seen[k]) {
            if (bad++ < 5)
                fprintf(stderr, "bench_groupby: %s: key %lld present %d versus %d times\n", what,
                        (long long)k * SAMPLE_MOD + SAMPLE_REM, a->seen[k], b->seen[k]);
            continue;
        }
        if (!a->seen[k]) continue;
        for (int i = 0; i < a->n_val; i++) {
            const char *x = a->cell[(size_t)k * a->n_val + i], *y = b->cell[(size_t)k * b->n_val + i];
            bool same = strcmp(x, y) == 0;
            if (!same && strstr(VAL_COLS[i], "average") && strcmp(x, "NULL") && strcmp(y, "NULL")) {
                double dx = atof(x), dy = atof(y);
                same = fabs(dx - dy) <= 1e-9 * fabs(dx) + 1e-12;
            }
            if (!same && bad++ < 5)
                fprintf(stderr, "bench_groupby: %s: key %lld %s: %s versus %s\n", what,
                        (long long)k * SAMPLE_MOD + SAMPLE_REM, VAL_COLS[i], x, y);
        }
    }
    return bad;
}

/* Runs backfill(s) in a child process: its own peak RSS, and nothing of it stays in
 * this process. Returns wall seconds; *cpu_s and *rss_kb from the child's rusage. */
/* CPU time of the last child's main thread (it takes the loaded rows and writes the
 * output while other threads decode and fold: the serial part of a run). */
static double child_main_cpu;

static double run_child(CnIceCatalog *c, const CnGroupBy *gb, int32_t d0, int32_t d1, bool tiles, bool one_per_day,
                        double *cpu_s, int64_t *rss_kb, CnEngStats *st_out) {
    int fd[2];
    if (pipe(fd)) die("pipe", NULL);
    double w0;
    pid_t pid = bench_fork(&w0);
    if (pid < 0) die("fork", NULL);
    if (pid == 0) {
        close(fd[0]);
        CnEngStats sum;
        memset(&sum, 0, sizeof sum);
        for (int32_t d = d0; d <= d1; d++) {
            char s[11], e[11];
            cn_ds_format(one_per_day ? d : d0, s);
            cn_ds_format(one_per_day ? d : d1, e);
            CnEngOpts o;
            memset(&o, 0, sizeof o);
            o.start_ds = s;
            o.end_ds = e;
            o.use_tiles = tiles;
            o.run_first_hole = true; /* days before the partition part 1 wrote */
            CnEngStats st;
            CnErr err = CN_ERR_INIT;
            if (cn_eng_groupby_backfill(c, gb, &o, &st, &err)) {
                fprintf(stderr, "bench_groupby: backfill %s..%s: %s\n", s, e, cn_err_msg(&err));
                _exit(1);
            }
            sum.rows_scanned += st.rows_scanned;
            sum.tiles_read += st.tiles_read;
            sum.tiles_written += st.tiles_written;
            sum.rows_written += st.rows_written;
            sum.days_written += st.days_written;
            if (!one_per_day) break;
        }
        struct timespec tc;
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &tc);
        double main_cpu = (double)tc.tv_sec + (double)tc.tv_nsec / 1e9;
        if (write(fd[1], &sum, sizeof sum) != (ssize_t)sizeof sum ||
            write(fd[1], &main_cpu, sizeof main_cpu) != (ssize_t)sizeof main_cpu)
            _exit(1);
        _exit(0);
    }
    close(fd[1]);
    CnEngStats st;
    ssize_t got = read(fd[0], &st, sizeof st);
    if (read(fd[0], &child_main_cpu, sizeof child_main_cpu) != (ssize_t)sizeof child_main_cpu) got = -1;
    close(fd[0]);
    int status = 0;
    struct rusage ru;
    if (wait4(pid, &status, 0, &ru) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0 || got != (ssize_t)sizeof st)
        die("backfill", NULL);
    double w = wall() - w0;
    *cpu_s = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
             (double)ru.ru_stime.tv_usec / 1e6;
    *rss_kb = ru.ru_maxrss;
    if (st_out) *st_out = st;
    return w;
}

#define RUNS 2 /* runs of each side of a snapshot part; the fastest counts */

/* run_child of a one-ds snapshot RUNS times, run i by GroupBy gb[i] (the same but its
 * name: a backfill computes only partitions its output lacks, so each run writes a
 * table of its own): the fastest run's figures (and its main thread's CPU in
 * child_main_cpu). On a virtual machine the first touch of memory the guest has not
 * used lately can cost several times a later one, which would fall on whichever side
 * runs first. */
static double best_child(CnIceCatalog *c, CnConf *const *gb, int32_t day, double *cpu_s, int64_t *rss_kb,
                         CnEngStats *st_out) {
    double best = 0, main_cpu = 0;
    for (int i = 0; i < RUNS; i++) {
        double cs;
        int64_t rss;
        CnEngStats st;
        double w = run_child(c, gb[i]->group_by, day, day, false, false, &cs, &rss, &st);
        if (i == 0 || w < best) best = w, *cpu_s = cs, *rss_kb = rss, *st_out = st, main_cpu = child_main_cpu;
    }
    child_main_cpu = main_cpu;
    return best;
}

/* DuckDB (threads = ours, in a child process as ours runs) runs the snapshot SQL of the
 * first n_val columns for the ds `last` on the table's files and writes the result to a
 * Parquet file in wh, as a backfill writes its output (ours writes and commits an
 * Iceberg table); its sampled rows, read back from that file, into *sd (initialised
 * here). Returns the child's wall seconds, its CPU seconds in *cpu_s and peak RSS in
 * *rss_kb; the SQL into *sql_out when given (caller frees). */
static double duck_snapshot(const char *wh, int32_t last, int64_t keys, int n_val, Sample *sd, double *cpu_s,
                            long *rss_kb, char **sql_out) {
    int64_t e = ((int64_t)last + 1) * CN_MS_PER_DAY;
    static const int wdays[3] = {1, 7, 30};
    char sel[4096], cast[2048];
    size_t off = 0, coff = 0;
    static const char *const HEAD[4] = {"sum(amount)", "nullif(count(amount)", "avg(amount)", "max_by(amount, ts, 10)"};
    static const char *const TAIL[4] = {"::BIGINT", ", 0)", "", ""};
    for (int f = 0; f < n_val / 3; f++)
        for (int i = 0; i < 3; i++) {
            off += (size_t)snprintf(sel + off, sizeof sel - off, ", %s FILTER (WHERE ts >= %lld)%s AS c%d", HEAD[f],
                                    (long long)(e - wdays[i] * CN_MS_PER_DAY), TAIL[f], f * 3 + i);
            /* the C API's value accessors do not read lists: LAST_K's come back as text */
            coff += (size_t)snprintf(cast + coff, sizeof cast - coff, ", c%d%s", f * 3 + i, f == 3 ? "::VARCHAR" : "");
        }
    char out[4200];
    snprintf(out, sizeof out, "%s/duckdb_snapshot.parquet", wh);
    size_t qcap = sizeof sel + sizeof out + 4608;
    char *dq = malloc(qcap);
    if (!dq) die("out of memory", NULL);
    snprintf(dq, qcap,
             "COPY (SELECT user_id%s FROM read_parquet('%s/raw.db/ev/data/*/*.parquet') WHERE ts >= %lld AND ts < %lld "
             "GROUP BY user_id) TO '%s' (FORMAT parquet)",
             sel, wh, (long long)(e - 30 * CN_MS_PER_DAY), (long long)e, out);
    BenchDuck bd = {"bench_groupby", dq, cn_pool_threads()};
    double duck_w = bench_in_child(bench_duck_child, &bd, cpu_s, rss_kb);
    duckdb_database db;
    duckdb_connection con;
    duckdb_result res;
    if (duckdb_open(NULL, &db) == DuckDBError || duckdb_connect(db, &con) == DuckDBError) die("DuckDB open", NULL);
    sample_init(sd, keys, n_val);
    char *rq = malloc(qcap);
    if (!rq) die("out of memory", NULL);
    snprintf(rq, qcap, "SELECT count(*) FROM read_parquet('%s')", out);
    if (duckdb_query(con, rq, &res) == DuckDBError) die("DuckDB: reading its output back", NULL);
    sd->rows = duckdb_value_int64(&res, 0, 0);
    duckdb_destroy_result(&res);
    snprintf(rq, qcap, "SELECT user_id%s FROM read_parquet('%s') WHERE user_id %% %d = %d", cast, out, SAMPLE_MOD,
             SAMPLE_REM);
    if (duckdb_query(con, rq, &res) == DuckDBError) die("DuckDB: reading its output's sample back", NULL);
    free(rq);
    for (idx_t r = 0; r < duckdb_row_count(&res); r++) {
        int64_t uid = duckdb_value_int64(&res, 0, r);
        uint32_t slot = (uint32_t)(uid / SAMPLE_MOD);
        sd->seen[slot]++;
        for (int i = 0; i < n_val; i++) {
            char *v = duckdb_value_is_null(&res, (idx_t)i + 1, r) ? NULL : duckdb_value_varchar(&res, (idx_t)i + 1, r);
            char buf[64];
            if (v && strstr(VAL_COLS[i], "average")) snprintf(buf, sizeof buf, "%.17g", atof(v));
            free(sd->cell[(size_t)slot * n_val + i]);
            sd->cell[(size_t)slot * n_val + i] = strdup(!v ? "NULL" : strstr(VAL_COLS[i], "average") ? buf : v);
            if (v) duckdb_free(v);
        }
    }
    duckdb_destroy_result(&res);
    duckdb_disconnect(&con);
    duckdb_close(&db);
    unlink(out);
    if (sql_out)
        *sql_out = dq;
    else
        free(dq);
    return duck_w;
}

/* duck_snapshot RUNS times: the fastest run's times and peak RSS; *sd and *sql_out from
 * the last. */
static double best_duck(const char *wh, int32_t last, int64_t keys, int n_val, Sample *sd, double *cpu_s,
                        long *rss_kb, char **sql_out) {
    double best = 0;
    for (int i = 0; i < RUNS; i++) {
        double cs;
        long rss;
        if (i) {
            sample_free(sd);
            if (sql_out) free(*sql_out);
        }
        double w = duck_snapshot(wh, last, keys, n_val, sd, &cs, &rss, sql_out);
        if (i == 0 || w < best) best = w, *cpu_s = cs, *rss_kb = rss;
    }
    return best;
}

/* Our output table's partition ds against DuckDB's sample *sd (freed here): the number
 * of differing sampled cells. */
static int64_t check_snapshot(CnIceCatalog *c, const char *table, const char *ds, int64_t keys, Sample *sd,
                              const char *what) {
    Sample so;
    sample_init(&so, keys, sd->n_val);
    sample_ours(c, table, ds, &so);
    int64_t d = sample_diff(&so, sd, what);
    sample_free(&so);
    sample_free(sd);
    return d;
}

typedef struct GenJob {
    int64_t events, keys, day0;
} GenJob;

/* raw.ev (bench_generate runs this in a process of its own). */
static int gen_table(CnIceCatalog *c, void *ud, CnErr *err) {
    const GenJob *g = ud;
    return cn_err_ctx(err, bench_write_table(c, "ev", false, false, g->events, g->keys, g->day0, 0, N_DS,
                                             88172645463325252ull, err),
                      "raw.ev");
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IOLBF, 0); /* figures show up as each part ends */
    int64_t events = argc > 1 ? atoll(argv[1]) : 10000000;
    int64_t keys = argc > 2 ? atoll(argv[2]) : events / 10;
    if (events < N_DS) events = N_DS;
    if (keys < 1) keys = 1;
    BenchScratch scratch;
    bench_scratch_open(&scratch, "bench_groupby");
    CnIceCatalog *c = scratch.cat;
    CnErr err = CN_ERR_INIT;

    /* ---- data */
    int64_t day0 = scratch.day0;
    double t0 = wall();
    GenJob gj = {.events = events, .keys = keys, .day0 = day0};
    bench_generate(&scratch, gen_table, &gj);
    printf("bench_groupby: %lld events, %lld keys, %d partitions written in %.2fs\n", (long long)events,
           (long long)keys, N_DS, wall() - t0);

    CnConf *full = groupby_conf("gb_full", false), *inc = groupby_conf("gb_inc", false);
    CnConf *sc = groupby_conf("gb_sum_count", true);
    /* parts 1 and 3's later runs (best_child) */
    CnConf *full_runs[RUNS] = {full}, *sc_runs[RUNS] = {sc};
    for (int i = 1; i < RUNS; i++) {
        char nm[64];
        snprintf(nm, sizeof nm, "gb_full_run%d", i);
        full_runs[i] = groupby_conf(nm, false);
        snprintf(nm, sizeof nm, "gb_sum_count_run%d", i);
        sc_runs[i] = groupby_conf(nm, true);
    }
    CnArena a;
    cn_arena_init(&a, 0);
    const char *full_table = cn_conf_output_table(&a, &full->group_by->meta, &err);
    const char *inc_table = cn_conf_output_table(&a, &inc->group_by->meta, &err);
    const char *sc_table = cn_conf_output_table(&a, &sc->group_by->meta, &err);
    if (!full_table || !inc_table || !sc_table) die("output table", &err);
    int32_t last = (int32_t)day0 + N_DS - 1;
    char last_ds[11];
    cn_ds_format(last, last_ds);
    int bad = 0;
    if (argc > 3 && !strcmp(argv[3], "inc")) { /* parts "inc": part 2's incremental run only (profiling) */
        double ic;
        int64_t ir;
        CnEngStats is;
        double iw = run_child(c, inc->group_by, (int32_t)day0, last, true, false, &ic, &ir, &is);
        printf("incremental (1 range run)   wall %7.3fs  cpu %7.3fs  peak RSS %6.0f MB  rows scanned %lld, tiles "
               "written %lld\n", iw, ic, (double)ir / 1024.0, (long long)is.rows_scanned, (long long)is.tiles_written);
        goto end;
    }
    if (argc > 3 && !strcmp(argv[3], "sc")) goto sum_count; /* parts "sc": part 3 only */
    if (argc > 3 && !strcmp(argv[3], "ours")) { /* parts "ours [n]": our side of parts 1 and 3 */
        int n_runs = argc > 4 ? atoi(argv[4]) : 5;
        for (int part = 0; part < 2; part++)
            for (int i = 0; i < n_runs; i++) {
                char nm[64];
                snprintf(nm, sizeof nm, "gb_ours_%s_%d", part ? "sc" : "full", i);
                CnConf *conf = groupby_conf(nm, part == 1);
                double oc;
                int64_t orss;
                CnEngStats ost;
                double ow = run_child(c, conf->group_by, last, last, false, false, &oc, &orss, &ost);
                printf("%s  wall %7.3fs  cpu %7.3fs  %6.1f M events/s/core  peak RSS %6.0f MB  main thread cpu %.3fs\n",
                       part ? "SUM/COUNT" : "part 1   ", ow, oc, (double)events / oc / 1e6, (double)orss / 1024.0,
                       child_main_cpu);
                cn_conf_free(conf);
            }
        goto end;
    }

    /* ---- 1. one ds: ours (no tiles: a full computation) */
    double one_c;
    int64_t one_rss;
    CnEngStats one_st;
    double one_w = best_child(c, full_runs, last, &one_c, &one_rss, &one_st);
    double one_main = child_main_cpu;

    /* ---- 1. one ds: DuckDB */
    uint32_t n_threads = cn_pool_threads(); /* what our engine uses */
    Sample sd;
    double duck_c;
    long duck_rss;
    double duck_w = best_duck(scratch.wh, last, keys, N_VAL, &sd, &duck_c, &duck_rss, NULL);
    int64_t d1 = check_snapshot(c, full_table, last_ds, keys, &sd, "one ds, chronon versus DuckDB");
    if (d1) bad = 1;

    printf("snapshot of %s: windows 1d/7d/30d x SUM/COUNT/AVERAGE/LAST_K(10), %lld output rows\n", last_ds,
           (long long)one_st.rows_written);
    printf("  chronon (%u threads) wall %7.3fs  cpu %7.3fs  %6.1f M events/s/core  peak RSS %6.0f MB  main thread "
           "cpu %.3fs\n",
           n_threads, one_w, one_c, (double)events / one_c / 1e6, (double)one_rss / 1024.0, one_main);
    printf("  DuckDB (threads=%u)  wall %7.3fs  cpu %7.3fs  %6.1f M events/s/core  peak RSS %6.0f MB (child "
           "process)\n",
           n_threads, duck_w, duck_c, (double)events / duck_c / 1e6, (double)duck_rss / 1024.0);
    printf("  ratio DuckDB/chronon: %.2fx wall, %.2fx cpu (sampled keys %s)\n", duck_w / one_w, duck_c / one_c,
           d1 ? "DIFFER" : "agree");

    /* ---- 2. 30-day range: one incremental run versus 30 full runs */
    if (argc > 3 && !strcmp(argv[3], "1")) goto end;
    double inc_c, full_c;
    int64_t inc_rss, full_rss;
    CnEngStats inc_st, full_st;
    double inc_w = run_child(c, inc->group_by, (int32_t)day0, last, true, false, &inc_c, &inc_rss, &inc_st);
    double full_w = run_child(c, full->group_by, (int32_t)day0, last - 1, false, true, &full_c, &full_rss, &full_st);
    int64_t d2 = 0;
    for (int32_t d = (int32_t)day0; d <= last; d++) {
        char ds[11];
        cn_ds_format(d, ds);
        Sample si, sf;
        sample_init(&si, keys, N_VAL);
        sample_init(&sf, keys, N_VAL);
        sample_ours(c, inc_table, ds, &si);
        sample_ours(c, full_table, ds, &sf);
        d2 += sample_diff(&si, &sf, ds);
        sample_free(&si);
        sample_free(&sf);
    }
    if (d2) bad = 1;
    full_w += one_w; /* the last day's full run is part 1's */
    full_c += one_c;
    printf("30-day range %s..%s:\n", "2024-01-01", last_ds);
    printf("  incremental (1 range run)   wall %7.3fs  cpu %7.3fs  peak RSS %6.0f MB  rows scanned %lld, tiles "
           "written %lld\n",
           inc_w, inc_c, (double)inc_rss / 1024.0, (long long)inc_st.rows_scanned, (long long)inc_st.tiles_written);
    printf("  30 full runs (no tiles)     wall %7.3fs  cpu %7.3fs  peak RSS %6.0f MB  rows scanned %lld\n", full_w,
           full_c, (double)(full_rss > one_rss ? full_rss : one_rss) / 1024.0,
           (long long)(full_st.rows_scanned + one_st.rows_scanned));
    printf("  ratio full/incremental: %.1fx wall, %.1fx cpu (sampled keys on every day %s)\n", full_w / inc_w,
           full_c / inc_c, d2 ? "DIFFER" : "agree");

sum_count:;
    /* ---- 3. one ds, SUM and COUNT only: the events/s/core of the cheapest folds */
    double sc_c, sdc_c;
    int64_t sc_rss;
    CnEngStats sc_st;
    double sc_w = best_child(c, sc_runs, last, &sc_c, &sc_rss, &sc_st);
    double sc_main = child_main_cpu;
    Sample scd;
    char *sc_sql = NULL;
    long sdc_rss;
    double sdc_w = best_duck(scratch.wh, last, keys, N_SC, &scd, &sdc_c, &sdc_rss, &sc_sql);
    int64_t d3 = check_snapshot(c, sc_table, last_ds, keys, &scd, "one ds SUM/COUNT, chronon versus DuckDB");
    if (d3) bad = 1;
    printf("snapshot of %s: windows 1d/7d/30d x SUM/COUNT only, %lld output rows\n", last_ds,
           (long long)sc_st.rows_written);
    printf("  DuckDB SQL: %s\n", sc_sql);
    free(sc_sql);
    printf("  chronon (%u threads) wall %7.3fs  cpu %7.3fs  %6.1f M events/s/core  peak RSS %6.0f MB  main thread "
           "cpu %.3fs\n",
           cn_pool_threads(), sc_w, sc_c, (double)events / sc_c / 1e6, (double)sc_rss / 1024.0, sc_main);
    printf("  DuckDB (threads=%u)  wall %7.3fs  cpu %7.3fs  %6.1f M events/s/core  peak RSS %6.0f MB (child "
           "process)\n",
           cn_pool_threads(), sdc_w, sdc_c, (double)events / sdc_c / 1e6, (double)sdc_rss / 1024.0);
    printf("  ratio DuckDB/chronon: %.2fx wall, %.2fx cpu (sampled keys %s)\n", sdc_w / sc_w, sdc_c / sc_c,
           d3 ? "DIFFER" : "agree");

end:
    cn_arena_fini(&a);
    for (int i = 1; i < RUNS; i++) cn_conf_free(full_runs[i]), cn_conf_free(sc_runs[i]);
    cn_conf_free(sc);
    cn_conf_free(full);
    cn_conf_free(inc);
    cn_ice_catalog_close(c);
    rm_rf(scratch.dir);
    return bad;
}
