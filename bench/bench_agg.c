/* bench_agg: agg kernel throughput on one core.
 *
 *   bench_agg [rows (10M)] [keys (1M)]
 *
 * Folds `rows` events with uniformly random key ids in [0, keys) through SUM(long),
 * COUNT, AVERAGE(double) and LAST_K(10) of a long, in batches of 64K rows (the engine's
 * batch size), and prints events/s/core for each. The peer is a plain scalar loop doing
 * the same scatter-add into a dense array (the memory-bound floor for SUM) measured in
 * the same run. Cross-checks: total SUM and COUNT over all keys equal the reference, and
 * LAST_K of a few keys equals a brute-force scan. Fixed seed. */
#include "base/compat.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "agg/agg.h"
#include "base/alloc.h"

#define BATCH 65536u

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static uint64_t rng = 0x2545F4914F6CDD1Dull;
static uint64_t next(void) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

typedef struct Input {
    uint32_t n, n_keys;
    uint32_t *keys;
    CnSchema *schema;
    CnBatch **batches;
    uint32_t n_batches;
} Input;

static const CnAggSpec *spec_of(CnArena *a, CnAggOp op, const CnType *t, const char *k) {
    const char *keys[1] = {"k"}, *vals[1] = {k};
    CnAggDef d = {op, "x", keys, vals, k ? 1 : 0, false, false};
    const CnAggSpec *s = NULL;
    CnErr err = CN_ERR_INIT;
    if (cn_agg_spec_new(a, &d, t, &s, &err) < 0) {
        fprintf(stderr, "bench_agg: %s\n", cn_err_msg(&err));
        exit(1);
    }
    return s;
}

/* Runs one op over all batches; col 0 = long value, 1 = double value, 2 = ts. */
static double run(const Input *in, const CnAggSpec *s, int col, CnAggState **out) {
    CnErr err = CN_ERR_INIT;
    CnAggState *st = NULL;
    if (cn_agg_state_new(s, &st, &err) < 0 || cn_agg_state_reserve(st, in->n_keys, &err) < 0) {
        fprintf(stderr, "bench_agg: %s\n", cn_err_msg(&err));
        exit(1);
    }
    double t0 = now();
    for (uint32_t b = 0; b < in->n_batches; b++) {
        const CnBatch *bt = in->batches[b];
        const uint32_t *keys = in->keys + (size_t)b * BATCH;
        if (cn_agg_state_update(st, keys, NULL, bt->n_rows, &bt->cols[col], &bt->cols[2], NULL,
                                &err) < 0) {
            fprintf(stderr, "bench_agg: %s\n", cn_err_msg(&err));
            exit(1);
        }
    }
    double dt = now() - t0;
    *out = st;
    return dt;
}

int main(int argc, char **argv) {
    Input in = {0};
    in.n = argc > 1 ? (uint32_t)strtoul(argv[1], NULL, 10) : 10000000u;
    in.n_keys = argc > 2 ? (uint32_t)strtoul(argv[2], NULL, 10) : 1000000u;
    if (in.n == 0 || in.n_keys == 0) {
        fprintf(stderr, "usage: bench_agg [rows] [keys]\n");
        return 2;
    }
    CnErr err = CN_ERR_INIT;
    CnArena a;
    cn_arena_init(&a, 0);
    cn_col_schema_new(&in.schema);
    cn_col_schema_add(in.schema, "v", cn_col_type_prim(CN_COL_INT64), true, 1, &err);
    cn_col_schema_add(in.schema, "d", cn_col_type_prim(CN_COL_FLOAT64), true, 2, &err);
    cn_col_schema_add(in.schema, "ts", cn_col_type_prim(CN_COL_INT64), true, 3, &err);
    in.keys = cn_malloc((size_t)in.n * sizeof *in.keys);
    in.n_batches = (in.n + BATCH - 1) / BATCH;
    in.batches = cn_calloc(in.n_batches, sizeof *in.batches);
    int64_t *ref_v = cn_malloc((size_t)in.n * 8);
    for (uint32_t b = 0; b < in.n_batches; b++) {
        CnBatch *bt = NULL;
        cn_col_batch_new(in.schema, &bt, &err);
        uint32_t lo = b * BATCH, hi = lo + BATCH < in.n ? lo + BATCH : in.n;
        for (uint32_t i = lo; i < hi; i++) {
            in.keys[i] = (uint32_t)(next() % in.n_keys);
            int64_t v = (int64_t)(next() % 1000) - 100;
            ref_v[i] = v;
            cn_col_vec_append_i64(&bt->cols[0], v);
            cn_col_vec_append_f64(&bt->cols[1], (double)v * 0.5);
            cn_col_vec_append_i64(&bt->cols[2], 1700000000000 + i);
        }
        if (cn_col_batch_sync_rows(bt, &err) < 0) {
            fprintf(stderr, "bench_agg: %s\n", cn_err_msg(&err));
            return 1;
        }
        in.batches[b] = bt;
    }

    /* peer: scalar scatter-add into a dense array, the floor for SUM */
    int64_t *ref = cn_calloc(in.n_keys, 8);
    double t0 = now();
    for (uint32_t i = 0; i < in.n; i++) ref[in.keys[i]] += ref_v[i];
    double t_ref = now() - t0;
    int64_t ref_total = 0;
    for (uint32_t k = 0; k < in.n_keys; k++) ref_total += ref[k];

    const CnType *tl = cn_col_type_prim(CN_COL_INT64), *td = cn_col_type_prim(CN_COL_FLOAT64);
    struct {
        const char *name;
        CnAggOp op;
        const CnType *t;
        int col;
        const char *k;
    } ops[] = {
        {"SUM(long)", CN_AGG_SUM, tl, 0, NULL},
        {"COUNT", CN_AGG_COUNT, tl, 0, NULL},
        {"AVERAGE(double)", CN_AGG_AVERAGE, td, 1, NULL},
        {"LAST_K(10)", CN_AGG_LAST_K, tl, 0, "10"},
    };
    printf("bench_agg: %u events, %u keys, batches of %u\n", in.n, in.n_keys, BATCH);
    printf("  %-16s %8.3f s  %7.1f M events/s/core  (scalar scatter-add peer)\n", "reference",
           t_ref, in.n / t_ref / 1e6);
    int bad = 0;
    for (size_t o = 0; o < CN_ARRAY_LEN(ops); o++) {
        const CnAggSpec *s = spec_of(&a, ops[o].op, ops[o].t, ops[o].k);
        CnAggState *st = NULL;
        double dt = run(&in, s, ops[o].col, &st);
        printf("  %-16s %8.3f s  %7.1f M events/s/core  ratio to peer %.2f\n", ops[o].name, dt,
               in.n / dt / 1e6, t_ref / dt);
        /* cross-checks */
        CnSchema *os = NULL;
        CnBatch *ob = NULL;
        cn_col_schema_new(&os);
        cn_col_schema_add(os, "o", cn_agg_spec_output_type(s), true, 1, &err);
        cn_col_batch_new(os, &ob, &err);
        uint32_t nk = ops[o].op == CN_AGG_LAST_K ? 4 : in.n_keys;
        uint32_t *ids = cn_malloc((size_t)nk * 4);
        for (uint32_t k = 0; k < nk; k++) ids[k] = k;
        if (cn_agg_state_finalize(st, ids, nk, &ob->cols[0], &err) < 0) {
            fprintf(stderr, "bench_agg: %s\n", cn_err_msg(&err));
            return 1;
        }
        const CnVec *v = &ob->cols[0];
        if (ops[o].op == CN_AGG_SUM || ops[o].op == CN_AGG_COUNT) {
            int64_t tot = 0;
            for (uint32_t k = 0; k < nk; k++)
                if (cn_col_vec_is_valid(v, k)) tot += ((const int64_t *)v->values)[k];
            int64_t want = ops[o].op == CN_AGG_SUM ? ref_total : (int64_t)in.n;
            if (tot != want) {
                fprintf(stderr, "bench_agg: %s total %lld, reference %lld\n", ops[o].name,
                        (long long)tot, (long long)want);
                bad = 1;
            }
        } else if (ops[o].op == CN_AGG_LAST_K) {
            for (uint32_t k = 0; k < nk; k++) {
                /* brute force: the 10 newest events of key k (ts grows with the row) */
                int64_t want[10];
                uint32_t m = 0;
                for (uint32_t i = in.n; i-- > 0 && m < 10;)
                    if (in.keys[i] == k) want[m++] = ref_v[i];
                uint32_t lo = v->offsets[k], hi = v->offsets[k + 1];
                bool ok = hi - lo == m;
                for (uint32_t i = 0; ok && i < m; i++)
                    ok = ((const int64_t *)v->child[0].values)[lo + i] == want[i];
                if (!ok) {
                    fprintf(stderr, "bench_agg: LAST_K of key %u differs from a scan\n", k);
                    bad = 1;
                }
            }
        }
        printf("  %-16s IR memory %.1f MB\n", "", cn_agg_state_mem(st) / 1e6);
        cn_free(ids);
        cn_col_batch_free(ob);
        cn_col_schema_free(os);
        cn_agg_state_free(st);
    }
    for (uint32_t b = 0; b < in.n_batches; b++) cn_col_batch_free(in.batches[b]);
    cn_free(in.batches);
    cn_free(in.keys);
    cn_free(ref);
    cn_free(ref_v);
    cn_col_schema_free(in.schema);
    cn_arena_fini(&a);
    printf(bad ? "bench_agg: CROSS-CHECK FAILED\n" : "bench_agg: cross-checks ok\n");
    return bad;
}
