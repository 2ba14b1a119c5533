/* bench_duck.h: DuckDB's timed query in a child process (bench_in_child), as our side
 * runs, for the benchmarks that compare with DuckDB. Include after duckdb.h and
 * bench_util.h. */
#ifndef CN_BENCH_DUCK_H
#define CN_BENCH_DUCK_H

typedef struct BenchDuck {
    const char *prog;  /* for messages */
    const char *sql;   /* the timed statement */
    unsigned threads;  /* SET threads; 0: DuckDB's default (all) */
} BenchDuck;

/* A new in-memory database runs d->sql (a BenchDuck *); 0 on success. */
static inline int bench_duck_child(void *ud) {
    const BenchDuck *d = ud;
    duckdb_database db;
    duckdb_connection con;
    duckdb_result res;
    if (duckdb_open(NULL, &db) == DuckDBError || duckdb_connect(db, &con) == DuckDBError) {
        fprintf(stderr, "%s: DuckDB open failed\n", d->prog);
        return 1;
    }
    if (d->threads) {
        char set_threads[64];
        snprintf(set_threads, sizeof set_threads, "SET threads=%u", d->threads);
        duckdb_query(con, set_threads, &res);
        duckdb_destroy_result(&res);
    }
    if (duckdb_query(con, d->sql, &res) == DuckDBError) {
        fprintf(stderr, "%s: DuckDB: %s\n", d->prog, duckdb_result_error(&res));
        return 1;
    }
    duckdb_destroy_result(&res);
    duckdb_disconnect(&con);
    duckdb_close(&db);
    return 0;
}

#endif
