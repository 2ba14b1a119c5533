/* bench_util.h: clocks and scratch-directory removal shared by the benchmarks. */
#ifndef CN_BENCH_UTIL_H
#define CN_BENCH_UTIL_H

#include "base/compat.h" /* feature macros before any system header */

#include <dirent.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static inline double wall(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static inline double cpu(void) {
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* fork() for a timed child that stands for a fresh `chronon` process. The parent's heap
 * first gives its free pages back (malloc_trim): freed memory left mapped in the parent
 * (the generated tables' buffers) is shared copy-on-write with the child, whose first
 * write to each such page would copy it and flush the TLB of every thread, a cost a
 * process started by exec does not pay. The page cache is written back first (sync), so
 * the kernel's writeback of the generated tables does not run beside the first timing.
 * *t0: the wall clock just before the fork, after that preparation (which is no part of
 * the child's time). */
static inline pid_t bench_fork(double *t0) {
    sync(); /* the generated tables' writeback, not in the first timed run */
    malloc_trim(0);
    *t0 = wall(); /* the child's time starts here, after both */
    return fork();
}

/* Runs fn(ud) in a child process (bench_fork), as a fresh process would run it: a peer
 * (DuckDB) is timed this way, as our side is, so that neither runs on a heap an earlier
 * run left faulted in. fn returns 0 on success. Returns the child's wall seconds; its
 * CPU seconds (all threads, from its rusage) into *cpu_s and its peak RSS into *rss_kb.
 * Exits on failure. */
static inline double bench_in_child(int (*fn)(void *ud), void *ud, double *cpu_s, long *rss_kb) {
    fflush(NULL);
    double w0;
    pid_t pid = bench_fork(&w0);
    if (pid < 0) {
        perror("fork");
        exit(1);
    }
    if (pid == 0) _exit(fn(ud) ? 1 : 0);
    int status = 0;
    struct rusage ru;
    if (wait4(pid, &status, 0, &ru) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "bench: the timed child process failed\n");
        exit(1);
    }
    double w = wall() - w0;
    *cpu_s = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
             (double)ru.ru_stime.tv_usec / 1e6;
    *rss_kb = ru.ru_maxrss;
    return w;
}

/* Removes path and everything under it; errors are ignored (scratch data). */
static inline void rm_rf(const char *path) {
    struct stat st;
    if (lstat(path, &st) < 0) return;
    if (S_ISDIR(st.st_mode)) {
        DIR *d = opendir(path);
        struct dirent *de;
        while (d && (de = readdir(d))) {
            if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) continue;
            char sub[2048];
            int n = snprintf(sub, sizeof sub, "%s/%s", path, de->d_name);
            if (n > 0 && (size_t)n < sizeof sub) rm_rf(sub); /* never a truncated path */
        }
        if (d) closedir(d);
        rmdir(path);
    } else {
        unlink(path);
    }
}

/* The benchmarks' warehouse and generated tables: only where table/table.h came first
 * (benchmarks that do not link cn_table include this header too). */
#ifdef CN_TABLE_H
#include <stdlib.h>

#include "base/date.h"

/* A scratch directory under /tmp holding a warehouse (wh) and an SQLite catalog (catu),
 * the catalog open in cat; day0 is the benchmarks' first day, 2024-01-01 (epoch days).
 * rm_rf(dir) removes it all. */
typedef struct BenchScratch {
    char dir[64];
    char wh[128];
    char catu[160];
    CnIceCatalog *cat;
    int64_t day0;
} BenchScratch;

/* Creates and opens the scratch warehouse of program prog ("bench_<x>"); exits on failure. */
static inline void bench_scratch_open(BenchScratch *s, const char *prog) {
    snprintf(s->dir, sizeof s->dir, "/tmp/cn_%s_XXXXXX", prog);
    CnErr err = CN_ERR_INIT;
    s->cat = NULL;
    if (cn_ds_parse("2024-01-01", &s->day0) || !mkdtemp(s->dir)) {
        fprintf(stderr, "%s: mkdtemp %s failed\n", prog, s->dir);
        exit(1);
    }
    snprintf(s->wh, sizeof s->wh, "%s/wh", s->dir);
    snprintf(s->catu, sizeof s->catu, "sqlite:%s/catalog.db", s->dir);
    if (cn_ice_catalog_open(s->wh, s->catu, &s->cat, &err)) {
        fprintf(stderr, "%s: catalog: %s\n", prog, cn_err_msg(&err));
        exit(1);
    }
}

/* bench_generate's child: its own catalog handle, then gen. */
typedef struct BenchGen {
    const BenchScratch *s;
    int (*gen)(CnIceCatalog *c, void *ud, CnErr *err);
    void *ud;
} BenchGen;

static inline int bench_gen_child(void *ud) {
    const BenchGen *bg = ud;
    CnErr err = CN_ERR_INIT;
    CnIceCatalog *c = NULL;
    int rc = cn_ice_catalog_open(bg->s->wh, bg->s->catu, &c, &err);
    if (rc == 0) rc = bg->gen(c, bg->ud, &err);
    if (rc) fprintf(stderr, "bench: generating the tables: %s\n", cn_err_msg(&err));
    cn_ice_catalog_close(c);
    return rc;
}

/* Runs gen(c, ud, err) in a child process with its own handle c on s's catalog, and
 * waits for it (bench_in_child); exits on failure. The tables are generated apart
 * from the process the timed children fork from: a thread's malloc arena keeps its
 * top pages mapped after malloc_trim (which gives back only the main arena's top),
 * and a child's threads, which take over the parent's arenas, would copy each such
 * page and flush the TLB of every thread on their first write to it (a sixth of
 * bench_join's load when the writers' arenas were left in the parent), a cost a
 * process started by exec does not pay. */
static inline void bench_generate(const BenchScratch *s, int (*gen)(CnIceCatalog *c, void *ud, CnErr *err), void *ud) {
    BenchGen bg = {s, gen, ud};
    double cpu_s;
    long rss_kb;
    (void)bench_in_child(bench_gen_child, &bg, &cpu_s, &rss_kb); /* exits on failure */
}

/* One generated row of a day. */
typedef struct BenchRow {
    int64_t key, ts, v;
} BenchRow;

static inline int bench_row_cmp(const void *a, const void *b) {
    const BenchRow *x = a, *y = b;
    if (x->key != y->key) return x->key < y->key ? -1 : 1;
    return (x->ts > y->ts) - (x->ts < y->ts);
}

/* Writes table raw.<name> (one commit) with n rows over partitions day0+d_lo ..
 * day0+n_ds-1, the last day taking the remainder; fixed seed, each row a uniform key of
 * [0, keys) and a uniform ts within its day. Columns user_id, ts, then amount (0..1023,
 * events) or rid (left: row number), then ds. sorted: each day's rows are written sorted
 * by (user_id, ts) and the table declares that sort order (the same rows in another
 * order). 0, or -1 with *err set. */
static inline int bench_write_table(CnIceCatalog *c, const char *name, bool left, bool sorted, int64_t n,
                                    int64_t keys, int64_t day0, int d_lo, int n_ds, uint64_t seed, CnErr *err) {
    CnSchema *s = NULL;
    CnIceWrite *w = NULL;
    CnBatch *b = NULL;
    BenchRow *day_rows = NULL;
    int rc = -1;
    cn_col_schema_new(&s);
    if (left) cn_col_schema_add(s, "rid", cn_col_type_prim(CN_COL_INT64), true, CN_COL_NO_ID, err);
    cn_col_schema_add(s, "user_id", cn_col_type_prim(CN_COL_INT64), true, CN_COL_NO_ID, err);
    cn_col_schema_add(s, "ts", cn_col_type_prim(CN_COL_INT64), true, CN_COL_NO_ID, err);
    if (!left) cn_col_schema_add(s, "amount", cn_col_type_prim(CN_COL_INT64), true, CN_COL_NO_ID, err);
    cn_col_schema_add(s, "ds", cn_col_type_prim(CN_COL_STRING), true, CN_COL_NO_ID, err);
    if (err->code || cn_ice_table_create(c, "raw", name, s, NULL, 0, err)) goto done;
    static const char *const ORDER[2] = {"user_id", "ts"};
    if (sorted && cn_ice_table_set_sort_order(c, "raw", name, ORDER, 2, err)) goto done;
    if (cn_ice_write_begin(c, "raw", name, CN_ICE_APPEND, &w, err)) goto done;
    if (cn_col_batch_new(cn_ice_write_schema(w), &b, err)) goto done;
    int n_days = n_ds - d_lo;
    int64_t per_day = n / n_days, rid = 0;
    uint64_t x = seed;
    day_rows = malloc(((size_t)(n - per_day * (n_days - 1)) + 1) * sizeof *day_rows);
    if (!day_rows) {
        fprintf(stderr, "bench: out of memory generating raw.%s\n", name);
        exit(1);
    }
    for (int d = d_lo; d < n_ds; d++) {
        char ds[11];
        cn_ds_format((int32_t)(day0 + d), ds);
        int64_t base = (day0 + d) * CN_MS_PER_DAY;
        int64_t nd = d == n_ds - 1 ? n - per_day * (n_days - 1) : per_day;
        for (int64_t i = 0; i < nd; i++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            uint64_t y = x * 0x2545F4914F6CDD1Dull;
            day_rows[i].key = (int64_t)((y >> 20) % (uint64_t)keys);
            day_rows[i].ts = base + (int64_t)(x % (uint64_t)CN_MS_PER_DAY);
            day_rows[i].v = left ? rid++ : (int64_t)(y >> 54);
        }
        if (sorted) qsort(day_rows, (size_t)nd, sizeof *day_rows, bench_row_cmp);
        for (int64_t i = 0; i < nd; i++) {
            int c0 = 0;
            if (left) cn_col_vec_append_i64(&b->cols[c0++], day_rows[i].v);
            cn_col_vec_append_i64(&b->cols[c0++], day_rows[i].key);
            cn_col_vec_append_i64(&b->cols[c0++], day_rows[i].ts);
            if (!left) cn_col_vec_append_i64(&b->cols[c0++], day_rows[i].v);
            cn_col_vec_append_str(&b->cols[c0], ds, 10);
            if (b->cols[0].n == 65536 || i == nd - 1) {
                if (cn_col_batch_sync_rows(b, err) || cn_ice_write_batch(w, b, err)) goto done;
                cn_col_batch_reset(b);
            }
        }
    }
    if (cn_ice_write_commit(w, NULL, err)) goto done;
    rc = 0;
done:
    free(day_rows);
    if (w) cn_ice_write_free(w);
    if (b) cn_col_batch_free(b);
    if (s) cn_col_schema_free(s);
    return rc;
}
#endif /* CN_TABLE_H */

#endif /* CN_BENCH_UTIL_H */
