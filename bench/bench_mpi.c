/* bench_mpi.c: the GroupBy backfill of bench_groupby as one process and as MPI ranks.
 *   bench_mpi [events] [keys] [ranks] [join]   (default 4,000,000 events, events/10 keys, 2 ranks)
 * Data (fixed seed, as bench_groupby): table raw.ev {user_id int64, ts int64 (ms),
 * amount int64, ds}, 30 ds partitions 2024-01-01..2024-01-30 (one data file each).
 * GroupBy: key user_id; SUM, COUNT, AVERAGE and LAST_K(k=10) of amount over 1d, 7d and
 * 30d, accuracy SNAPSHOT; the backfill of ds 2024-01-30 without the tile store (all 30
 * days are scanned).
 * Runs, each a `chronon run --mode backfill` process tree timed from outside:
 *   1. one process, no MPI (the peer);
 *   2. `mpirun -np 1` (what MPI start-up and the one-rank shuffle cost);
 *   3. `mpirun -np <ranks>`.
 * With `join`: a Join instead, its left events/10 queries (table raw.left {user_id, ts})
 * on 2024-01-30 and one TEMPORAL part, that GroupBy without LAST_K (one process takes the
 * flat-array path of jscan.c, ranks the generic load and sweep).
 * Each writes its own table; the three must hold the same rows (an order-independent
 * checksum of every value, and the row count), else exit 1. Printed: wall and CPU times
 * (the whole process tree), the speed-up of N ranks over one process, the CPU per rank
 * (what the speed-up would be on N idle cores), and the bytes shuffled per event (as
 * chronon reports with --verbose). The chronon binary: $CHRONON_BIN, else the one built next to
 * this bench. Open MPI as root and more ranks than cores are allowed through its
 * environment variables. CN_BENCH_KEEP=1 keeps the temporary warehouse (for profiling). */
#include "base/compat.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/date.h"
#include "base/hash.h"
#include "base/str.h"
#include "table/table.h"
#include "bench_util.h" /* after table.h: its warehouse helpers */

#define N_DS 30

static void die(const char *what, const CnErr *err) {
    fprintf(stderr, "bench_mpi: %s%s%s\n", what, err ? ": " : "", err ? cn_err_msg(err) : "");
    exit(2);
}

/* Order-independent checksum of a table: sum of per-row hashes of every value. */
static uint64_t hash_entry(const CnVec *v, uint32_t i, uint64_t h) {
    if (!cn_col_vec_is_valid(v, i)) return cn_hash_bytes("\0", 1, h);
    size_t w = cn_col_type_width(v->type->id);
    if (w) return cn_hash_bytes((const uint8_t *)v->values + (size_t)i * w, w, h);
    if (v->type->id == CN_COL_STRING || v->type->id == CN_COL_BINARY) {
        uint32_t len;
        const char *p = cn_col_vec_str(v, i, &len);
        return cn_hash_bytes(p, len, h ^ len);
    }
    if (v->type->id == CN_COL_LIST) {
        for (uint32_t j = v->offsets[i]; j < v->offsets[i + 1]; j++) h = hash_entry(&v->child[0], j, h);
        return cn_hash_bytes("]", 1, h);
    }
    return h;
}

static void table_sum(CnIceCatalog *c, const char *ns, const char *name, uint64_t *sum, int64_t *rows) {
    CnErr err = CN_ERR_INIT;
    CnIceTable *t = NULL;
    CnIceScan *s = NULL;
    if (cn_ice_table_load(c, ns, name, &t, &err) || cn_ice_scan_open(c, t, NULL, &s, &err)) die("read output", &err);
    *sum = 0;
    *rows = 0;
    for (;;) {
        const CnBatch *b = NULL;
        if (cn_ice_scan_next(s, &b, &err)) die("scan output", &err);
        if (!b) break;
        for (uint32_t r = 0; r < b->n_rows; r++) {
            uint64_t h = 0x6d7069;
            for (uint32_t k = 0; k < b->n_cols; k++) h = hash_entry(&b->cols[k], r, h);
            *sum += h;
        }
        *rows += b->n_rows;
    }
    cn_ice_scan_close(s);
    cn_ice_table_free(t);
}

static const char WIN[] = "[{\"length\": 1, \"timeUnit\": 1}, {\"length\": 7, \"timeUnit\": 1},"
                          " {\"length\": 30, \"timeUnit\": 1}]";

/* production/<kind>/bench/<name> for writing. */
static FILE *conf_file(const char *dir, const char *kind, const char *name) {
    char path[512];
    snprintf(path, sizeof path, "%s/production/%s/bench/%s", dir, kind, name);
    FILE *f = fopen(path, "w");
    if (!f) die("write a config", NULL);
    return f;
}

static void write_conf(const char *dir, const char *name) {
    FILE *f = conf_file(dir, "group_bys", name);
    fprintf(f,
            "{\"metaData\": {\"name\": \"bench.%s\", \"outputNamespace\": \"bench\", \"team\": \"bench\"},"
            " \"sources\": [{\"events\": {\"table\": \"raw.ev\", \"query\": {"
            "   \"selects\": {\"user_id\": \"user_id\", \"amount\": \"amount\"}, \"timeColumn\": \"ts\"}}}],"
            " \"keyColumns\": [\"user_id\"], \"accuracy\": 1,"
            " \"aggregations\": ["
            "  {\"inputColumn\": \"amount\", \"operation\": 7, \"windows\": %s},"
            "  {\"inputColumn\": \"amount\", \"operation\": 6, \"windows\": %s},"
            "  {\"inputColumn\": \"amount\", \"operation\": 8, \"windows\": %s},"
            "  {\"inputColumn\": \"amount\", \"operation\": 13, \"argMap\": {\"k\": \"10\"}, \"windows\": %s}]}",
            name, WIN, WIN, WIN, WIN);
    fclose(f);
}

/* The Join of the join mode: the bench GroupBy as a TEMPORAL part of a left of queries. */
static void write_join_conf(const char *dir, const char *name) {
    FILE *f = conf_file(dir, "joins", name);
    fprintf(f,
            "{\"metaData\": {\"name\": \"bench.%s\", \"outputNamespace\": \"bench\", \"team\": \"bench\"},"
            " \"left\": {\"events\": {\"table\": \"raw.left\", \"query\": {"
            "   \"selects\": {\"user_id\": \"user_id\", \"ts\": \"ts\"}, \"timeColumn\": \"ts\"}}},"
            " \"joinParts\": [{\"prefix\": \"p\", \"groupBy\": {"
            "  \"metaData\": {\"name\": \"bench.%s_gb\", \"outputNamespace\": \"bench\", \"team\": \"bench\"},"
            "  \"sources\": [{\"events\": {\"table\": \"raw.ev\", \"query\": {"
            "   \"selects\": {\"user_id\": \"user_id\", \"amount\": \"amount\"}, \"timeColumn\": \"ts\"}}}],"
            "  \"keyColumns\": [\"user_id\"], \"accuracy\": 0,"
            "  \"aggregations\": ["
            "   {\"inputColumn\": \"amount\", \"operation\": 7, \"windows\": %s},"
            "   {\"inputColumn\": \"amount\", \"operation\": 6, \"windows\": %s},"
            "   {\"inputColumn\": \"amount\", \"operation\": 8, \"windows\": %s}]}}]}",
            name, name, WIN, WIN, WIN);
    fclose(f);
}

/* Left rows of the join mode: n queries on the last day, keys and times at random. */
static void write_left(CnIceCatalog *c, int64_t day, int64_t n, int64_t keys) {
    CnErr err = CN_ERR_INIT;
    CnSchema *s = NULL;
    cn_col_schema_new(&s);
    cn_col_schema_add(s, "user_id", cn_col_type_prim(CN_COL_INT64), true, CN_COL_NO_ID, &err);
    cn_col_schema_add(s, "ts", cn_col_type_prim(CN_COL_INT64), true, CN_COL_NO_ID, &err);
    cn_col_schema_add(s, "ds", cn_col_type_prim(CN_COL_STRING), true, CN_COL_NO_ID, &err);
    if (cn_ice_table_create(c, "raw", "left", s, NULL, 0, &err)) die("create the left table", &err);
    cn_col_schema_free(s);
    CnIceWrite *w = NULL;
    CnBatch *b = NULL;
    if (cn_ice_write_begin(c, "raw", "left", CN_ICE_APPEND, &w, &err) ||
        cn_col_batch_new(cn_ice_write_schema(w), &b, &err))
        die("write the left table", &err);
    char ds[11];
    cn_ds_format((int32_t)day, ds);
    uint64_t x = 0x9E3779B97F4A7C15ull;
    for (int64_t i = 0; i < n; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        cn_col_vec_append_i64(&b->cols[0], (int64_t)((x >> 20) % (uint64_t)keys));
        cn_col_vec_append_i64(&b->cols[1], day * CN_MS_PER_DAY + (int64_t)(x % (uint64_t)CN_MS_PER_DAY));
        cn_col_vec_append_str(&b->cols[2], ds, 10);
    }
    if (cn_col_batch_sync_rows(b, &err) || cn_ice_write_batch(w, b, &err) || cn_ice_write_commit(w, NULL, &err))
        die("write the left table", &err);
    cn_ice_write_free(w);
    cn_col_batch_free(b);
}

/* Runs argv (NULL-terminated) with stderr to errfile; the wall time, or -1 on failure.
 * *cpu: user + system seconds of the whole process tree (mpirun and its ranks). */
static double run(char *const *argv, const char *errfile, double *cpu) {
    double t0 = wall();
    pid_t pid = fork();
    if (pid == 0) {
        if (!freopen(errfile, "w", stderr)) _exit(127);
        execvp(argv[0], argv);
        _exit(127);
    }
    int st = 0;
    struct rusage ru;
    memset(&ru, 0, sizeof ru);
    if (pid < 0 || wait4(pid, &st, 0, &ru) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) return -1;
    *cpu = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec * 1e-6 + (double)ru.ru_stime.tv_sec +
           (double)ru.ru_stime.tv_usec * 1e-6;
    return wall() - t0;
}

/* "N ranks shuffled B bytes" from chronon's --verbose output. */
static uint64_t shuffled(const char *errfile) {
    FILE *f = fopen(errfile, "r");
    char line[1024];
    uint64_t b = 0;
    while (f && fgets(line, sizeof line, f)) {
        const char *p = strstr(line, " shuffled ");
        if (p) b = strtoull(p + 10, NULL, 10);
    }
    if (f) fclose(f);
    return b;
}

int main(int argc, char **argv) {
    int64_t events = argc > 1 ? atoll(argv[1]) : 4000000;
    int64_t keys = argc > 2 ? atoll(argv[2]) : events / 10;
    int ranks = argc > 3 ? atoi(argv[3]) : 2;
    bool join = argc > 4 && !strcmp(argv[4], "join"); /* else the GroupBy backfill */
    if (events < N_DS) events = N_DS;
    if (keys < 1) keys = 1;
    if (ranks < 1) ranks = 1;
    const char *chronon = getenv("CHRONON_BIN");
    if (!chronon || !*chronon) chronon = CN_BENCH_CHRONON;
    setenv("OMPI_ALLOW_RUN_AS_ROOT", "1", 0);
    setenv("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1", 0);
    setenv("OMPI_MCA_rmaps_base_oversubscribe", "1", 0);
    setenv("OMPI_MCA_btl", "self,vader", 0);
    setenv("OMPI_MCA_pml", "ob1", 0);

    BenchScratch scratch;
    bench_scratch_open(&scratch, "bench_mpi");
    char *dir = scratch.dir;
    char path[256];
    setenv("CHRONON_WAREHOUSE", scratch.wh, 1);
    setenv("CHRONON_CATALOG", scratch.catu, 1);
    snprintf(path, sizeof path, "%s/production", dir);
    mkdir(path, 0755);
    snprintf(path, sizeof path, "%s/production/group_bys", dir);
    mkdir(path, 0755);
    snprintf(path, sizeof path, "%s/production/group_bys/bench", dir);
    mkdir(path, 0755);
    snprintf(path, sizeof path, "%s/production/joins", dir);
    mkdir(path, 0755);
    snprintf(path, sizeof path, "%s/production/joins/bench", dir);
    mkdir(path, 0755);
    CnErr err = CN_ERR_INIT;
    CnIceCatalog *c = scratch.cat;

    /* ---- data (bench_groupby's generator) */
    int64_t day0 = scratch.day0;
    if (bench_write_table(c, "ev", false, false, events, keys, day0, 0, N_DS, 88172645463325252ull, &err))
        die("write raw.ev", &err);
    int64_t n_left = events / 10;
    if (join) write_left(c, day0 + N_DS - 1, n_left, keys);
    printf("bench_mpi: %lld events, %lld keys, %d partitions, %ld cores%s\n", (long long)events, (long long)keys, N_DS,
           sysconf(_SC_NPROCESSORS_ONLN), join ? "" : "; the GroupBy backfill of the last day");
    if (join)
        printf("join mode: a Join of %lld left rows on the last day with the GroupBy as a TEMPORAL part\n",
               (long long)n_left);

    /* ---- runs */
    const char *names[3] = {"gb_single", "gb_mpi1", "gb_mpin"};
    if (join) names[0] = "j_single", names[1] = "j_mpi1", names[2] = "j_mpin";
    char np[16], errf[3][300];
    snprintf(np, sizeof np, "%d", ranks);
    double t[3], cpu[3];
    for (int i = 0; i < 3; i++) {
        if (join) write_join_conf(dir, names[i]);
        else write_conf(dir, names[i]);
        char conf[64];
        snprintf(conf, sizeof conf, "production/%s/bench/%s", join ? "joins" : "group_bys", names[i]);
        snprintf(errf[i], sizeof errf[i], "%s/%s.err", dir, names[i]);
        char *cmd[] = {"mpirun", "-np", i == 1 ? "1" : np, (char *)chronon, "run", "--mode", "backfill",
                       "--repo", dir, "--conf", conf, "--ds", "2024-01-30", join ? "--verbose" : "--no-tiles",
                       "--verbose", NULL};
        t[i] = run(i == 0 ? cmd + 3 : cmd, errf[i], &cpu[i]);
        if (t[i] < 0) {
            fprintf(stderr, "bench_mpi: run %s failed, see %s\n", names[i], errf[i]);
            return 1;
        }
    }
    uint64_t sum[3];
    int64_t rows[3];
    int bad = 0;
    for (int i = 0; i < 3; i++) {
        char tname[64];
        snprintf(tname, sizeof tname, "bench_%s", names[i]);
        table_sum(c, "bench", tname, &sum[i], &rows[i]);
        if (i && (sum[i] != sum[0] || rows[i] != rows[0])) {
            fprintf(stderr, "bench_mpi: %s differs from the one-process output (%lld rows vs %lld)\n", names[i],
                    (long long)rows[i], (long long)rows[0]);
            bad = 1;
        }
    }
    uint64_t sh = shuffled(errf[2]), sh1 = shuffled(errf[1]);
    printf("one process (no MPI)   wall %7.2fs  cpu %7.2fs  %9.0f events/s   (peer)\n", t[0], cpu[0],
           (double)events / t[0]);
    printf("mpirun -np 1           wall %7.2fs  cpu %7.2fs  %9.0f events/s   %.2fx of one process, cpu %.2fx\n", t[1],
           cpu[1], (double)events / t[1], t[0] / t[1], cpu[1] / cpu[0]);
    printf("mpirun -np %-2d          wall %7.2fs  cpu %7.2fs  %9.0f events/s   speed-up %.2fx over one process, "
           "cpu %.2fx\n", ranks, t[2], cpu[2], (double)events / t[2], t[0] / t[2], cpu[2] / cpu[0]);
    /* on a loaded machine wall times mostly measure the others' work: the CPU time of the
     * whole tree spread over the ranks is the speed-up the ranks would reach on idle cores */
    printf("cpu per rank at %d ranks %.2fs: %.2fx of one process's cpu (the speed-up on %d idle cores)\n", ranks,
           cpu[2] / ranks, cpu[0] / (cpu[2] / ranks), ranks);
    printf("load average at the end: %s", "");
    FILE *la = fopen("/proc/loadavg", "r");
    char lab[128] = "?\n";
    if (la && fgets(lab, sizeof lab, la)) printf("%s", lab);
    else printf("?\n");
    if (la) fclose(la);
    printf("bytes shuffled: %d ranks %llu (%.1f per event), 1 rank %llu\n", ranks, (unsigned long long)sh,
           (double)sh / (double)events, (unsigned long long)sh1);
    printf("output rows: %lld in each run, checksums %s\n", (long long)rows[0], bad ? "DIFFER" : "equal");
    cn_ice_catalog_close(c);
    if (getenv("CN_BENCH_KEEP")) printf("kept %s (CN_BENCH_KEEP)\n", dir);
    else if (!bad) {
        char cmd[300];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
        if (system(cmd) != 0) fprintf(stderr, "bench_mpi: could not remove %s\n", dir);
    }
    return bad;
}
