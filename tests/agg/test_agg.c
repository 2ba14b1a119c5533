/* test_agg.c: unit tests of src/agg: every operation on the worked examples of
 * spec/compute.md sections 2-4, the N-rules and decisions (D2, D3, D15-D20, D23), containers
 * and buckets, merge/batch independence, deletes, IR encode/decode (round trips and
 * corrupt bytes), type errors, window math and the sliding-window structure.
 * Rows are written as JSON ({"k": key, "ts": ms, "v": value, "b": bucket, "s": -1 for a
 * delete}) and results compared as JSON text (agg_json.h). */
#include "cn_test.h"

#include <math.h>
#include <stdlib.h>

#include "agg/agg.h"
#include "base/alloc.h"

#include "agg_json.h"

#define MAXR 200000

typedef struct T {
    CnArena a;
    CnErr err;
    const CnAggSpec *spec;
    const CnType *vt;
    CnSchema *in, *out;
    CnBatch *rows;
    uint32_t *keys;
    int *sign;
    uint32_t n_keys;
    CnBuf js;
} T;

static T *t_new(void) {
    T *t = cn_calloc(1, sizeof *t);
    cn_arena_init(&t->a, 0);
    t->keys = cn_calloc(MAXR, sizeof *t->keys);
    t->sign = cn_calloc(MAXR, sizeof *t->sign);
    return t;
}

static void t_free(T *t) {
    cn_col_batch_free(t->rows);
    cn_col_schema_free(t->in);
    cn_col_schema_free(t->out);
    cn_free(t->keys);
    cn_free(t->sign);
    cn_buf_fini(&t->js);
    cn_arena_fini(&t->a);
    cn_free(t);
}

/* Resolves a spec; args is a JSON object of argMap strings or NULL. */
static int t_spec(T *t, CnAggOp op, const char *type, const char *args, bool bucket, bool ew) {
    const char *keys[8], *vals[8];
    uint32_t n = 0;
    json_t *j = args ? json_loads(args, 0, NULL) : NULL;
    const char *k;
    json_t *v;
    json_object_foreach(j, k, v) {
        keys[n] = cn_arena_strdup(&t->a, k);
        vals[n++] = cn_arena_strdup(&t->a, json_string_value(v));
    }
    json_decref(j);
    cn_err_clear(&t->err);
    int rc = cn_col_type_parse(&t->a, type, &t->vt, &t->err);
    if (rc < 0) return rc;
    CnAggDef d = {op, "v", keys, vals, n, ew, bucket};
    rc = cn_agg_spec_new(&t->a, &d, t->vt, &t->spec, &t->err);
    if (rc < 0) return rc;
    cn_col_schema_free(t->in);
    cn_col_schema_free(t->out);
    cn_col_schema_new(&t->in);
    cn_col_schema_add(t->in, "v", t->vt, true, 1, &t->err);
    cn_col_schema_add(t->in, "ts", cn_col_type_prim(CN_COL_INT64), true, 2, &t->err);
    cn_col_schema_add(t->in, "b", cn_col_type_prim(CN_COL_STRING), true, 3, &t->err);
    cn_col_schema_new(&t->out);
    cn_col_schema_add(t->out, "o", cn_agg_spec_output_type(t->spec), true, 1, &t->err);
    cn_col_batch_free(t->rows);
    t->rows = NULL;
    return cn_col_batch_new(t->in, &t->rows, &t->err);
}

/* Appends rows given as a JSON array of {"k","ts","v","b","s"} objects. */
static void t_rows(T *t, const char *rows) {
    json_error_t je;
    json_t *arr = json_loads(rows, 0, &je);
    if (!arr) fail_msg("bad rows JSON: %s", je.text);
    size_t i;
    json_t *r;
    json_array_foreach(arr, i, r) {
        uint32_t n = t->rows->n_rows;
        assert_true(n < MAXR);
        json_t *k = json_object_get(r, "k"), *s = json_object_get(r, "s");
        t->keys[n] = k ? (uint32_t)json_integer_value(k) : 0;
        if (t->keys[n] + 1 > t->n_keys) t->n_keys = t->keys[n] + 1;
        t->sign[n] = s && json_integer_value(s) < 0 ? -1 : 1;
        assert_int_equal(fill(&t->rows->cols[0], json_object_get(r, "v")), 0);
        assert_int_equal(fill(&t->rows->cols[1], json_object_get(r, "ts")), 0);
        assert_int_equal(fill(&t->rows->cols[2], json_object_get(r, "b")), 0);
        ASSERT_OK(cn_col_batch_sync_rows(t->rows, &t->err), &t->err);
    }
    json_decref(arr);
}

/* Folds rows [lo, hi): updates then deletes, each through a selection vector. */
static int t_fold_range(T *t, CnAggState *st, uint32_t lo, uint32_t hi) {
    uint32_t *sel = cn_malloc((size_t)(hi - lo + 1) * sizeof *sel);
    int rc = cn_agg_state_reserve(st, t->n_keys, &t->err);
    for (int pass = 0; pass < 2 && rc == 0; pass++) {
        uint32_t m = 0;
        for (uint32_t i = lo; i < hi; i++)
            if ((t->sign[i] > 0) == (pass == 0)) sel[m++] = i;
        const CnVec *c = t->rows->cols;
        rc = pass == 0 ? cn_agg_state_update(st, t->keys, sel, m, &c[0], &c[1], &c[2], &t->err)
                       : cn_agg_state_delete(st, t->keys, sel, m, &c[0], &c[1], &c[2], &t->err);
    }
    cn_free(sel);
    return rc;
}

static CnAggState *t_state(T *t) {
    CnAggState *st = NULL;
    ASSERT_OK(cn_agg_state_new(t->spec, &st, &t->err), &t->err);
    ASSERT_OK(cn_agg_state_reserve(st, t->n_keys ? t->n_keys : 1, &t->err), &t->err);
    return st;
}

/* Finalized JSON of one key. BORROWED: valid until the next call. */
static const char *t_final(T *t, CnAggState *st, uint32_t key) {
    CnBatch *ob = NULL;
    ASSERT_OK(cn_col_batch_new(t->out, &ob, &t->err), &t->err);
    ASSERT_OK(cn_agg_state_finalize(st, &key, 1, &ob->cols[0], &t->err), &t->err);
    ASSERT_OK(cn_col_vec_check(&ob->cols[0], "o", &t->err), &t->err);
    cn_buf_reset(&t->js);
    to_json(&t->js, &ob->cols[0], 0);
    cn_col_batch_free(ob);
    return t->js.data;
}

/* One-shot: the finalized JSON of key 0 for op over rows. BORROWED as t_final. */
static const char *run1(T *t, CnAggOp op, const char *type, const char *args, bool bucket,
                        const char *rows) {
    ASSERT_OK(t_spec(t, op, type, args, bucket, false), &t->err);
    t_rows(t, rows);
    CnAggState *st = t_state(t);
    ASSERT_OK(t_fold_range(t, st, 0, t->rows->n_rows), &t->err);
    static char out[4096];
    snprintf(out, sizeof out, "%s", t_final(t, st, 0));
    cn_agg_state_free(st);
    return out;
}

#define EXPECT(t, op, type, args, rows, want)                                         \
    do {                                                                              \
        const char *got_ = run1((t), (op), (type), (args), false, (rows));            \
        if (strcmp(got_, (want)) != 0) fail_msg("expected %s, got %s", (want), got_); \
    } while (0)

static void near(double got, double want, double rel) {
    if (!(fabs(got - want) <= rel * fmax(1.0, fabs(want))))
        fail_msg("expected %.17g, got %.17g", want, got);
}

#define EIGHT \
    "[{\"v\":2},{\"v\":4},{\"v\":4},{\"v\":4},{\"v\":5},{\"v\":5},{\"v\":7},{\"v\":9}]"

/* ------------------------------------------------------------ worked examples */

static void variance_skew_kurtosis_example(void **s) {
    (void)s;
    T *t = t_new();
    near(atof(run1(t, CN_AGG_VARIANCE, "long", NULL, false, EIGHT)), 4.0, 1e-9);
    t_free(t);
    t = t_new();
    near(atof(run1(t, CN_AGG_SKEW, "long", NULL, false, EIGHT)), 0.65625, 1e-9);
    t_free(t);
    t = t_new();
    near(atof(run1(t, CN_AGG_KURTOSIS, "double", NULL, false, EIGHT)), -0.21875, 1e-9);
    t_free(t);
    t = t_new();
    EXPECT(t, CN_AGG_VARIANCE, "long", NULL, "[{\"v\":3}]", "0");
    t_free(t);
}

static void skew_kurtosis_small_n_null(void **s) {
    (void)s;
    T *t = t_new();
    EXPECT(t, CN_AGG_SKEW, "long", NULL, "[{\"v\":1},{\"v\":2}]", "null"); /* n<3: NaN -> null */
    t_free(t);
    t = t_new();
    EXPECT(t, CN_AGG_KURTOSIS, "long", NULL, "[{\"v\":1},{\"v\":2},{\"v\":4}]", "null");
    t_free(t);
    t = t_new();
    EXPECT(t, CN_AGG_SKEW, "long", NULL, "[{\"v\":5},{\"v\":5},{\"v\":5}]", "null"); /* M2=0 */
    t_free(t);
}

static void top_k_bottom_k_example(void **s) {
    (void)s;
    const char *rows = "[{\"v\":7},{\"v\":3},{\"v\":7},{\"v\":9},{\"v\":1}]";
    T *t = t_new();
    EXPECT(t, CN_AGG_TOP_K, "long", "{\"k\":\"3\"}", rows, "[9,7,7]");
    t_free(t);
    t = t_new();
    EXPECT(t, CN_AGG_BOTTOM_K, "int", "{\"k\":\"2\"}", rows, "[1,3]");
    t_free(t);
    t = t_new();
    EXPECT(t, CN_AGG_TOP_K, "string", "{\"k\":\"2\"}",
           "[{\"v\":\"b\"},{\"v\":\"a\"},{\"v\":\"c\"},{\"v\":null}]", "[\"c\",\"b\"]");
    t_free(t);
}

static void last_k_first_k_example(void **s) {
    (void)s;
    const char *rows = "[{\"ts\":10,\"v\":\"a\"},{\"ts\":30,\"v\":\"b\"},{\"ts\":20,\"v\":\"c\"}]";
    T *t = t_new();
    EXPECT(t, CN_AGG_LAST_K, "string", "{\"k\":\"2\"}", rows, "[\"b\",\"c\"]");
    t_free(t);
    t = t_new();
    EXPECT(t, CN_AGG_FIRST_K, "string", "{\"k\":\"2\"}", rows, "[\"a\",\"c\"]");
    t_free(t);
    t = t_new();
    EXPECT(t, CN_AGG_LAST, "string", NULL, rows, "\"b\"");
    t_free(t);
    t = t_new();
    EXPECT(t, CN_AGG_FIRST, "string", NULL, rows, "\"a\"");
    t_free(t);
    /* null ts rows are skipped by timed ops */
    t = t_new();
    EXPECT(t, CN_AGG_LAST, "long", NULL, "[{\"ts\":5,\"v\":1},{\"ts\":null,\"v\":2}]", "1");
    t_free(t);
}

static void first_last_ties_by_payload(void **s) {
    (void)s; /* D15: equal ts, FIRST takes the smaller payload and LAST the larger */
    const char *rows = "[{\"ts\":7,\"v\":5},{\"ts\":7,\"v\":2},{\"ts\":7,\"v\":9},{\"ts\":1,\"v\":null}]";
    T *t = t_new();
    EXPECT(t, CN_AGG_FIRST, "long", NULL, rows, "2");
    t_free(t);
    t = t_new();
    EXPECT(t, CN_AGG_LAST, "long", NULL, rows, "9");
    t_free(t);
    t = t_new();
    EXPECT(t, CN_AGG_LAST_K, "long", "{\"k\":\"2\"}", rows, "[9,5]");
    t_free(t);
    t = t_new();
    EXPECT(t, CN_AGG_FIRST_K, "long", "{\"k\":\"5\"}", rows, "[2,5,9]");
    t_free(t);
}

static void first_last_containers_opaque(void **s) {
    (void)s;
    const char *rows = "[{\"ts\":1,\"v\":[1,2]},{\"ts\":3,\"v\":[null,4]},{\"ts\":2,\"v\":[]}]";
    T *t = t_new();
    EXPECT(t, CN_AGG_LAST, "list<long>", NULL, rows, "[null,4]");
    t_free(t);
    t = t_new();
    EXPECT(t, CN_AGG_FIRST_K, "list<long>", "{\"k\":\"2\"}", rows, "[[1,2],[]]");
    t_free(t);
    t = t_new();
    EXPECT(t, CN_AGG_LAST, "map<string,double>", NULL,
           "[{\"ts\":1,\"v\":{\"a\":1.5}},{\"ts\":2,\"v\":{\"b\":null}}]", "{\"b\":null}");
    t_free(t);
}

static void approx_percentile_example(void **s) {
    (void)s;
    T *t = t_new();
    EXPECT(t, CN_AGG_APPROX_PERCENTILE, "long", "{\"percentiles\":\"[0,0.25,0.5,0.99,1]\"}",
           "[{\"v\":5},{\"v\":1},{\"v\":4},{\"v\":2},{\"v\":3}]", "[1,2,3,5,5]");
    t_free(t);
    t = t_new(); /* default percentiles [0.5]; NaN is not ranked */
    EXPECT(t, CN_AGG_APPROX_PERCENTILE, "double", NULL,
           "[{\"v\":1.5},{\"v\":\"NaN\"},{\"v\":0.25}]", "[1.5]");
    t_free(t);
}

static int dcmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static uint64_t rng_next(uint64_t *r) {
    *r ^= *r << 13;
    *r ^= *r >> 7;
    *r ^= *r << 17;
    return *r;
}

/* D19: above k, rank_lo(v) - eps <= p <= rank_hi(v) + eps with eps = 1.5*2.446/k^0.9433;
 * also for a sketch merged from 7 partial sketches. */
static void approx_percentile_large_within_tolerance(void **s) {
    (void)s;
    T *t = t_new();
    ASSERT_OK(t_spec(t, CN_AGG_APPROX_PERCENTILE, "double",
                     "{\"k\":\"128\",\"percentiles\":\"[0,0.01,0.1,0.25,0.5,0.75,0.9,0.99,1]\"}",
                     false, false), &t->err);
    const uint32_t n = 100000;
    double *xs = cn_malloc(n * sizeof *xs);
    uint64_t r = 12345;
    CnBuf rows = CN_BUF_INIT;
    cn_buf_putc(&rows, '[');
    for (uint32_t i = 0; i < n; i++) {
        double x = (double)(rng_next(&r) % 1000000) / 7.0;
        if (i % 3 == 0) x = x * x / 1e4; /* skewed mixture */
        xs[i] = (float)x;
        cn_buf_printf(&rows, "%s{\"v\":%.17g,\"k\":%u}", i ? "," : "", x, i % 7);
    }
    cn_buf_putc(&rows, ']');
    t_rows(t, rows.data);
    cn_buf_fini(&rows);
    qsort(xs, n, sizeof *xs, dcmp);
    CnAggState *st = t_state(t), *all = NULL;
    ASSERT_OK(t_fold_range(t, st, 0, n), &t->err);
    ASSERT_OK(cn_agg_state_new(t->spec, &all, &t->err), &t->err);
    ASSERT_OK(cn_agg_state_reserve(all, 1, &t->err), &t->err);
    for (uint32_t k = 0; k < 7; k++) ASSERT_OK(cn_agg_state_merge(all, 0, st, k, &t->err), &t->err);
    const double ps[] = {0, 0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.99, 1};
    double eps = 1.5 * 2.446 / pow(128, 0.9433);
    json_t *j = json_loads(t_final(t, all, 0), 0, NULL);
    assert_int_equal(json_array_size(j), 9);
    for (size_t i = 0; i < 9; i++) {
        double v = json_number_value(json_array_get(j, i));
        uint32_t lo = 0, hi = 0;
        for (uint32_t q = 0; q < n; q++) {
            lo += xs[q] < v;
            hi += xs[q] <= v;
        }
        double rlo = (double)lo / n, rhi = (double)hi / n;
        if (!(rlo - eps <= ps[i] && ps[i] <= rhi + eps))
            fail_msg("p=%g: value %g has ranks [%g, %g], eps %g", ps[i], v, rlo, rhi, eps);
    }
    assert_true(json_number_value(json_array_get(j, 0)) == xs[0]);
    assert_true(json_number_value(json_array_get(j, 8)) == xs[n - 1]);
    json_decref(j);
    cn_agg_state_free(st);
    cn_agg_state_free(all);
    cn_free(xs);
    t_free(t);
}

static void histogram_k2_example(void **s) {
    (void)s;
    T *t = t_new();
    EXPECT(t, CN_AGG_HISTOGRAM, "string", "{\"k\":\"2\"}",
           "[{\"v\":\"a\"},{\"v\":\"a\"},{\"v\":\"b\"},{\"v\":\"c\"},{\"v\":\"c\"},{\"v\":\"d\"},{\"v\":\"c\"}]",
           "{\"a\":2,\"c\":3}");
    t_free(t);
    t = t_new(); /* D15: ties keep the byte-wise smaller keys */
    EXPECT(t, CN_AGG_HISTOGRAM, "string", "{\"k\":\"2\"}",
           "[{\"v\":\"c\"},{\"v\":\"b\"},{\"v\":\"a\"},{\"v\":\"c\"},{\"v\":\"b\"},{\"v\":\"a\"}]",
           "{\"a\":2,\"b\":2}");
    t_free(t);
    t = t_new(); /* k=0: no cut */
    EXPECT(t, CN_AGG_HISTOGRAM, "string", NULL,
           "[{\"v\":\"x\"},{\"v\":null},{\"v\":\"y\"},{\"v\":\"x\"}]", "{\"x\":2,\"y\":1}");
    t_free(t);
}

static void histogram_deletes(void **s) {
    (void)s;
    T *t = t_new(); /* an entry reaching 0 is removed; negative counts are possible */
    EXPECT(t, CN_AGG_HISTOGRAM, "string", NULL,
           "[{\"v\":\"a\"},{\"v\":\"b\"},{\"v\":\"a\",\"s\":-1},{\"v\":\"c\",\"s\":-1}]",
           "{\"b\":1,\"c\":-1}");
    t_free(t);
    t = t_new(); /* N5: delete on a null IR starts an inverse IR */
    EXPECT(t, CN_AGG_HISTOGRAM, "string", NULL, "[{\"v\":\"x\",\"s\":-1}]", "{\"x\":-1}");
    t_free(t);
    t = t_new();
    EXPECT(t, CN_AGG_HISTOGRAM, "string", NULL, "[{\"v\":\"x\"},{\"v\":\"x\",\"s\":-1}]", "{}");
    t_free(t);
}

static void bounded_unique_count_k3(void **s) {
    (void)s;
    T *t = t_new();
    EXPECT(t, CN_AGG_BOUNDED_UNIQUE_COUNT, "string", "{\"k\":\"3\"}",
           "[{\"v\":\"x\"},{\"v\":\"y\"},{\"v\":\"x\"},{\"v\":\"z\"},{\"v\":\"w\"}]", "3");
    t_free(t);
    t = t_new();
    EXPECT(t, CN_AGG_BOUNDED_UNIQUE_COUNT, "long", "{\"k\":\"3\"}", "[{\"v\":1},{\"v\":1}]", "1");
    t_free(t);
}

static void unique_count_java_equality(void **s) {
    (void)s; /* D16: NaNs equal, -0.0 != 0.0, binary by content */
    T *t = t_new();
    EXPECT(t, CN_AGG_UNIQUE_COUNT, "double", NULL,
           "[{\"v\":\"NaN\"},{\"v\":\"NaN\"},{\"v\":0.0},{\"v\":-0.0},{\"v\":1}]", "4");
    t_free(t);
    t = t_new();
    EXPECT(t, CN_AGG_UNIQUE_COUNT, "binary", NULL,
           "[{\"v\":\"\\u0001\"},{\"v\":\"\\u0001\"},{\"v\":\"\\u0002\"}]", "2");
    t_free(t);
}

static void approx_unique_count_bounds(void **s) {
    (void)s;
    for (int big = 0; big < 2; big++) {
        T *t = t_new();
        ASSERT_OK(t_spec(t, CN_AGG_APPROX_UNIQUE_COUNT, "long", NULL, false, false), &t->err);
        uint32_t distinct = big ? 50000 : 256; /* exact up to 2^k = 256 */
        CnBuf rows = CN_BUF_INIT;
        cn_buf_putc(&rows, '[');
        for (uint32_t i = 0; i < 2 * distinct; i++)
            cn_buf_printf(&rows, "%s{\"v\":%u,\"k\":%u}", i ? "," : "", (i * 7919u) % distinct, i % 5);
        cn_buf_putc(&rows, ']');
        t_rows(t, rows.data);
        cn_buf_fini(&rows);
        CnAggState *st = t_state(t), *all = NULL;
        ASSERT_OK(t_fold_range(t, st, 0, t->rows->n_rows), &t->err);
        ASSERT_OK(cn_agg_state_new(t->spec, &all, &t->err), &t->err);
        ASSERT_OK(cn_agg_state_reserve(all, 1, &t->err), &t->err);
        for (uint32_t k = 0; k < 5; k++) ASSERT_OK(cn_agg_state_merge(all, 0, st, k, &t->err), &t->err);
        long long got = atoll(t_final(t, all, 0));
        if (!big)
            assert_int_equal(got, distinct);
        else if (fabs((double)got - distinct) > 2.1 * distinct / 16.0)
            fail_msg("estimate %lld for %u distinct is outside 2.1n/sqrt(2^8)", got, distinct);
        cn_agg_state_free(st);
        cn_agg_state_free(all);
        t_free(t);
    }
}

static void approx_histogram_k(void **s) {
    (void)s;
    T *t = t_new(); /* exact up to k distinct; keys as Java String.valueOf (D26) */
    EXPECT(t, CN_AGG_APPROX_HISTOGRAM_K, "double", "{\"k\":\"4\"}",
           "[{\"v\":1.5},{\"v\":1e10},{\"v\":42},{\"v\":1.5},{\"v\":0.0001}]",
           "{\"1.0E-4\":1,\"1.0E10\":1,\"1.5\":2,\"42.0\":1}");
    t_free(t);
    t = t_new();
    EXPECT(t, CN_AGG_APPROX_HISTOGRAM_K, "long", "{\"k\":\"3\"}",
           "[{\"v\":42},{\"v\":-7},{\"v\":42}]", "{\"-7\":1,\"42\":2}");
    t_free(t);
    /* above k: at most k entries, real keys, a majority item within 3.5n/M */
    t = t_new();
    ASSERT_OK(t_spec(t, CN_AGG_APPROX_HISTOGRAM_K, "string", "{\"k\":\"4\"}", false, false), &t->err);
    CnBuf rows = CN_BUF_INIT;
    cn_buf_putc(&rows, '[');
    uint32_t n = 4000, maj = 0;
    for (uint32_t i = 0; i < n; i++) {
        bool m = i % 5 < 3;
        maj += m;
        if (m)
            cn_buf_printf(&rows, "%s{\"v\":\"major\"}", i ? "," : "");
        else
            cn_buf_printf(&rows, "%s{\"v\":\"x%u\"}", i ? "," : "", i);
    }
    cn_buf_putc(&rows, ']');
    t_rows(t, rows.data);
    cn_buf_fini(&rows);
    CnAggState *st = t_state(t);
    ASSERT_OK(t_fold_range(t, st, 0, n), &t->err);
    json_t *j = json_loads(t_final(t, st, 0), 0, NULL);
    assert_true(json_object_size(j) <= 4);
    json_t *mv = json_object_get(j, "major");
    assert_non_null(mv);
    assert_true(fabs((double)json_integer_value(mv) - maj) <= 3.5 * n / 4);
    const char *key;
    json_t *v;
    json_object_foreach(j, key, v) {
        assert_true(strcmp(key, "major") == 0 || key[0] == 'x');
    }
    json_decref(j);
    cn_agg_state_free(st);
    t_free(t);
}

/* ------------------------------------------------------------ null rules */

static void count_nulls_and_empty_group(void **s) {
    (void)s;
    T *t = t_new();
    ASSERT_OK(t_spec(t, CN_AGG_COUNT, "string", NULL, false, false), &t->err);
    t_rows(t, "[{\"k\":0,\"v\":null},{\"k\":0,\"v\":\"a\"},{\"k\":1,\"v\":null},{\"k\":2,\"v\":\"\"}]");
    CnAggState *st = t_state(t);
    ASSERT_OK(t_fold_range(t, st, 0, t->rows->n_rows), &t->err);
    assert_string_equal(t_final(t, st, 0), "1"); /* N1 */
    assert_string_equal(t_final(t, st, 1), "null"); /* N2: never 0 */
    assert_string_equal(t_final(t, st, 2), "1");
    assert_false(cn_agg_state_present(st, 1));
    cn_agg_state_free(st);
    t_free(t);
    t = t_new(); /* COUNT deletes: back to 0 stays present (a zero IR, not a null one) */
    EXPECT(t, CN_AGG_COUNT, "long", NULL, "[{\"v\":1},{\"v\":1,\"s\":-1}]", "0");
    t_free(t);
}

static void sum_widening_and_wrap(void **s) {
    (void)s;
    T *t = t_new();
    EXPECT(t, CN_AGG_SUM, "boolean", NULL, "[{\"v\":true},{\"v\":false},{\"v\":true}]", "2");
    t_free(t);
    t = t_new(); /* D18: wraps mod 2^64 */
    EXPECT(t, CN_AGG_SUM, "long", NULL, "[{\"v\":9223372036854775807},{\"v\":1}]",
           "-9223372036854775808");
    t_free(t);
    t = t_new();
    EXPECT(t, CN_AGG_SUM, "int", NULL, "[{\"v\":2147483647},{\"v\":2147483647}]", "4294967294");
    t_free(t);
    t = t_new();
    EXPECT(t, CN_AGG_SUM, "float", NULL, "[{\"v\":0.5},{\"v\":0.25}]", "0.75");
    t_free(t);
    t = t_new(); /* N4: a top-level Inf is null */
    EXPECT(t, CN_AGG_SUM, "double", NULL, "[{\"v\":1},{\"v\":\"Infinity\"}]", "null");
    t_free(t);
    t = t_new(); /* N5: delete on a null IR starts -x */
    EXPECT(t, CN_AGG_SUM, "long", NULL, "[{\"v\":4,\"s\":-1}]", "-4");
    t_free(t);
}

static void average_of_lists_and_deletes(void **s) {
    (void)s;
    T *t = t_new(); /* section 3 example: [1,2], [6], null gives 3.0 */
    EXPECT(t, CN_AGG_AVERAGE, "list<long>", NULL, "[{\"v\":[1,2]},{\"v\":[6]},{\"v\":null}]", "3");
    t_free(t);
    t = t_new(); /* count 0 after deletes: NaN, then null */
    EXPECT(t, CN_AGG_AVERAGE, "long", NULL, "[{\"v\":3},{\"v\":3,\"s\":-1}]", "null");
    t_free(t);
    t = t_new(); /* COUNT of a list counts non-null elements */
    EXPECT(t, CN_AGG_COUNT, "list<string>", NULL, "[{\"v\":[\"a\",null,\"b\"]},{\"v\":[]}]", "2");
    t_free(t);
}

static void min_max_nan_and_utf16(void **s) {
    (void)s;
    T *t = t_new(); /* D20 */
    EXPECT(t, CN_AGG_MAX, "double", NULL, "[{\"v\":1},{\"v\":\"NaN\"},{\"v\":3}]", "null");
    t_free(t);
    t = t_new();
    EXPECT(t, CN_AGG_MIN, "float", NULL, "[{\"v\":2.5},{\"v\":-1.5}]", "-1.5");
    t_free(t);
    t = t_new();
    EXPECT(t, CN_AGG_MIN, "int", NULL, "[{\"v\":2},{\"v\":-1},{\"v\":null}]", "-1");
    t_free(t);
    t = t_new(); /* D17: U+1F600 sorts before U+FFFD in UTF-16 */
    EXPECT(t, CN_AGG_MAX, "string", NULL,
           "[{\"v\":\"\\ud83d\\ude00\"},{\"v\":\"\\ufffd\"},{\"v\":\"zz\"}]", "\"\xef\xbf\xbd\"");
    t_free(t);
    t = t_new();
    EXPECT(t, CN_AGG_MIN, "string", NULL,
           "[{\"v\":\"\\ud83d\\ude00\"},{\"v\":\"\\ufffd\"},{\"v\":\"\\ud7ff\"}]", "\"\xed\x9f\xbf\"");
    t_free(t);
    t = t_new(); /* MAX ignores deletes (N5) */
    EXPECT(t, CN_AGG_MAX, "long", NULL, "[{\"v\":10},{\"v\":10,\"s\":-1}]", "10");
    t_free(t);
}

/* ------------------------------------------------------- buckets, containers */

static void bucket_example(void **s) {
    (void)s;
    T *t = t_new();
    const char *got = run1(t, CN_AGG_SUM, "long", NULL, true,
                           "[{\"b\":\"books\",\"v\":5},{\"b\":\"toys\",\"v\":3},"
                           "{\"b\":\"books\",\"v\":4},{\"b\":null,\"v\":9}]");
    assert_string_equal(got, "{\"books\":9,\"toys\":3}");
    t_free(t);
    t = t_new(); /* only null buckets: the part is null */
    got = run1(t, CN_AGG_SUM, "long", NULL, true, "[{\"b\":null,\"v\":9}]");
    assert_string_equal(got, "null");
    t_free(t);
    t = t_new(); /* bucketed LAST_K */
    got = run1(t, CN_AGG_LAST_K, "long", "{\"k\":\"2\"}", true,
               "[{\"b\":\"x\",\"ts\":1,\"v\":1},{\"b\":\"x\",\"ts\":3,\"v\":3},{\"b\":\"y\",\"ts\":2,\"v\":2},"
               "{\"b\":\"x\",\"ts\":2,\"v\":2}]");
    assert_string_equal(got, "{\"x\":[3,2],\"y\":[2]}");
    t_free(t);
}

static void nested_nan_kept(void **s) {
    (void)s; /* D3: a bucketed AVERAGE whose count fell to 0 keeps NaN inside the map */
    T *t = t_new();
    const char *got = run1(t, CN_AGG_AVERAGE, "long", NULL, true,
                           "[{\"b\":\"a\",\"v\":1},{\"b\":\"a\",\"v\":1,\"s\":-1},{\"b\":\"c\",\"v\":4}]");
    assert_string_equal(got, "{\"a\":\"NaN\",\"c\":4}");
    t_free(t);
}

static void map_input_per_key(void **s) {
    (void)s;
    T *t = t_new();
    EXPECT(t, CN_AGG_SUM, "map<string,long>", NULL,
           "[{\"v\":{\"a\":1,\"b\":null}},{\"v\":{\"a\":2,\"c\":5}},{\"v\":null}]", "{\"a\":3,\"c\":5}");
    t_free(t);
    t = t_new(); /* a map with only null values is a null IR */
    EXPECT(t, CN_AGG_MAX, "map<string,double>", NULL, "[{\"v\":{\"a\":null}}]", "null");
    t_free(t);
    t = t_new();
    EXPECT(t, CN_AGG_UNIQUE_COUNT, "map<string,string>", NULL,
           "[{\"v\":{\"a\":\"x\"}},{\"v\":{\"a\":\"y\",\"b\":\"x\"}},{\"v\":{\"a\":\"x\"}}]",
           "{\"a\":2,\"b\":1}");
    t_free(t);
}

static void element_wise_lists(void **s) {
    (void)s;
    T *t = t_new();
    ASSERT_OK(t_spec(t, CN_AGG_SUM, "list<long>", NULL, false, true), &t->err);
    t_rows(t, "[{\"v\":[1,2,3]},{\"v\":[10,20,30]},{\"v\":null}]");
    CnAggState *st = t_state(t);
    ASSERT_OK(t_fold_range(t, st, 0, t->rows->n_rows), &t->err);
    assert_string_equal(t_final(t, st, 0), "[11,22,33]");
    cn_agg_state_free(st);
    t_free(t);
    /* lengths must agree */
    t = t_new();
    ASSERT_OK(t_spec(t, CN_AGG_MAX, "list<long>", NULL, false, true), &t->err);
    t_rows(t, "[{\"v\":[1,2]},{\"v\":[1,2,3]}]");
    st = t_state(t);
    ASSERT_ERR(t_fold_range(t, st, 0, t->rows->n_rows), CN_EINVAL, &t->err);
    ASSERT_CONTAINS(cn_err_msg(&t->err), "MAX(v)");
    ASSERT_CONTAINS(cn_err_msg(&t->err), "lengths 2 and 3");
    cn_agg_state_free(st);
    t_free(t);
    /* no null elements */
    t = t_new();
    ASSERT_OK(t_spec(t, CN_AGG_SUM, "list<long>", NULL, false, true), &t->err);
    t_rows(t, "[{\"v\":[1,null]}]");
    st = t_state(t);
    ASSERT_ERR(t_fold_range(t, st, 0, 1), CN_EINVAL, &t->err);
    ASSERT_CONTAINS(cn_err_msg(&t->err), "null element at index 1");
    cn_agg_state_free(st);
    t_free(t);
}

/* --------------------------------------------------------------- type errors */

static void type_and_arg_errors(void **s) {
    (void)s;
    struct {
        CnAggOp op;
        const char *type, *args;
        bool bucket, ew;
        const char *msg;
    } cases[] = {
        {CN_AGG_SUM, "string", NULL, false, false, "SUM does not accept input column \"v\" of type string"},
        {CN_AGG_AVERAGE, "boolean", NULL, false, false, "of type bool"},
        {CN_AGG_SUM, "date", NULL, false, false, "has type date"},
        {CN_AGG_COUNT, "timestamp", NULL, false, false, "has type timestamp"},
        {CN_AGG_LAST, "list<date>", NULL, false, false, "has type list<date>"},
        {CN_AGG_HISTOGRAM, "long", NULL, false, false, "HISTOGRAM does not accept"},
        {CN_AGG_MAX, "binary", NULL, false, false, "MAX does not accept"},
        {CN_AGG_APPROX_HISTOGRAM_K, "boolean", NULL, false, false, "does not accept"},
        {CN_AGG_LAST_K, "long", NULL, false, false, "LAST_K(v): argMap \"k\" is required"},
        {CN_AGG_TOP_K, "long", "{\"k\":\"x\"}", false, false, "argMap \"k\" is \"x\""},
        {CN_AGG_TOP_K, "long", "{\"k\":\"0\"}", false, false, "argMap \"k\" is \"0\""},
        {CN_AGG_APPROX_PERCENTILE, "long", "{\"percentiles\":\"[0.5, 2]\"}", false, false,
         "APPROX_PERCENTILE(v): argMap \"percentiles\""},
        {CN_AGG_APPROX_PERCENTILE, "long", "{\"percentiles\":\"oops\"}", false, false, "\"oops\""},
        {CN_AGG_SUM, "map<string,long>", NULL, true, false, "cannot be bucketed"},
        {CN_AGG_SUM, "list<long>", NULL, true, true, "cannot be bucketed"},
        {CN_AGG_SUM, "long", NULL, false, true, "elementWise needs a list input"},
        {CN_AGG_SUM, "map<long,long>", NULL, false, false, "string keys"},
        {CN_AGG_SUM, "list<list<long>>", NULL, false, false, "list<list<int64>>"},
    };
    for (size_t i = 0; i < CN_ARRAY_LEN(cases); i++) {
        T *t = t_new();
        int rc = t_spec(t, cases[i].op, cases[i].type, cases[i].args, cases[i].bucket, cases[i].ew);
        if (rc != CN_ECONFIG) fail_msg("case %zu: rc %d: %s", i, rc, cn_err_msg(&t->err));
        ASSERT_CONTAINS(cn_err_msg(&t->err), cases[i].msg);
        t_free(t);
    }
    /* accepted: timed ops take anything, COUNT takes structs of scalars via lists */
    T *t = t_new();
    ASSERT_OK(t_spec(t, CN_AGG_LAST_K, "map<string,list<long>>", "{\"k\":\"2\"}", false, false), &t->err);
    ASSERT_OK(t_spec(t, CN_AGG_UNIQUE_COUNT, "binary", NULL, false, false), &t->err);
    ASSERT_OK(t_spec(t, CN_AGG_APPROX_HISTOGRAM_K, "int", NULL, false, false), &t->err);
    assert_int_equal(cn_agg_spec_k(t->spec), 8);
    t_free(t);
}

static void output_types(void **s) {
    (void)s;
    struct {
        CnAggOp op;
        const char *type, *args;
        bool bucket, ew;
        const char *out;
    } cases[] = {
        {CN_AGG_SUM, "int", NULL, false, false, "int64"},
        {CN_AGG_SUM, "float", NULL, false, false, "float64"},
        {CN_AGG_MIN, "int", NULL, false, false, "int32"},
        {CN_AGG_TOP_K, "list<float>", "{\"k\":\"2\"}", false, false, "list<float32>"},
        {CN_AGG_LAST_K, "list<float>", "{\"k\":\"2\"}", false, false, "list<list<float32>>"},
        {CN_AGG_APPROX_PERCENTILE, "long", NULL, false, false, "list<float32>"},
        {CN_AGG_HISTOGRAM, "string", NULL, true, false, "map<string,map<string,int32>>"},
        {CN_AGG_APPROX_HISTOGRAM_K, "double", NULL, false, false, "map<string,int64>"},
        {CN_AGG_AVERAGE, "map<string,int>", NULL, false, false, "map<string,float64>"},
        {CN_AGG_VARIANCE, "list<double>", NULL, false, true, "list<float64>"},
        {CN_AGG_COUNT, "string", NULL, true, false, "map<string,int64>"},
    };
    for (size_t i = 0; i < CN_ARRAY_LEN(cases); i++) {
        T *t = t_new();
        ASSERT_OK(t_spec(t, cases[i].op, cases[i].type, cases[i].args, cases[i].bucket, cases[i].ew),
                  &t->err);
        char buf[128];
        assert_string_equal(cn_col_type_name(cn_agg_spec_output_type(t->spec), buf, sizeof buf),
                            cases[i].out);
        t_free(t);
    }
}

/* ------------------------------------------- merge, batches, encode/decode */

typedef struct OpCase {
    CnAggOp op;
    const char *type, *args;
    bool bucket, ew;
} OpCase;

static const OpCase ALL_OPS[] = {
    {CN_AGG_COUNT, "long", NULL, false, false},
    {CN_AGG_SUM, "long", NULL, false, false},
    {CN_AGG_SUM, "double", NULL, true, false},
    {CN_AGG_AVERAGE, "long", NULL, false, false},
    {CN_AGG_VARIANCE, "long", NULL, false, false},
    {CN_AGG_SKEW, "long", NULL, false, false},
    {CN_AGG_KURTOSIS, "long", NULL, false, false},
    {CN_AGG_MIN, "long", NULL, false, false},
    {CN_AGG_MAX, "string", NULL, false, false},
    {CN_AGG_MAX, "double", NULL, false, false},
    {CN_AGG_FIRST, "long", NULL, false, false},
    {CN_AGG_LAST, "string", NULL, true, false},
    {CN_AGG_FIRST_K, "string", "{\"k\":\"3\"}", false, false},
    {CN_AGG_LAST_K, "list<long>", "{\"k\":\"3\"}", false, false},
    {CN_AGG_TOP_K, "long", "{\"k\":\"4\"}", false, false},
    {CN_AGG_BOTTOM_K, "string", "{\"k\":\"4\"}", false, false},
    {CN_AGG_UNIQUE_COUNT, "string", NULL, false, false},
    {CN_AGG_APPROX_UNIQUE_COUNT, "long", "{\"k\":\"4\"}", false, false},
    {CN_AGG_BOUNDED_UNIQUE_COUNT, "long", "{\"k\":\"5\"}", false, false},
    {CN_AGG_APPROX_PERCENTILE, "long", "{\"k\":\"8\",\"percentiles\":\"[0,0.5,1]\"}", false, false},
    {CN_AGG_HISTOGRAM, "string", "{\"k\":\"3\"}", false, false},
    {CN_AGG_APPROX_HISTOGRAM_K, "long", "{\"k\":\"4\"}", false, false},
    {CN_AGG_SUM, "map<string,long>", NULL, false, false},
    {CN_AGG_MAX, "list<long>", NULL, false, true},
    {CN_AGG_AVERAGE, "list<int>", NULL, false, false},
};

static bool is_string_type(const char *type) { return strcmp(type, "string") == 0; }

/* Random rows for an op case: 6 keys, small value domain (ties, duplicates). */
static void random_rows(T *t, const OpCase *c, uint64_t *r, uint32_t n) {
    CnBuf b = CN_BUF_INIT;
    cn_buf_putc(&b, '[');
    for (uint32_t i = 0; i < n; i++) {
        uint32_t v = (uint32_t)(rng_next(r) % 40);
        cn_buf_printf(&b, "%s{\"k\":%u,\"ts\":%u,", i ? "," : "", (uint32_t)(rng_next(r) % 6),
                      (uint32_t)(rng_next(r) % 30));
        if (c->bucket) cn_buf_printf(&b, "\"b\":\"b%u\",", (uint32_t)(rng_next(r) % 3));
        if (rng_next(r) % 10 == 0)
            cn_buf_puts(&b, "\"v\":null}");
        else if (strcmp(c->type, "map<string,long>") == 0)
            cn_buf_printf(&b, "\"v\":{\"m%u\":%u,\"z\":%u}}", v % 3, v, v / 2);
        else if (c->ew)
            cn_buf_printf(&b, "\"v\":[%u,%u]}", v, 40 - v);
        else if (strncmp(c->type, "list", 4) == 0)
            cn_buf_printf(&b, "\"v\":[%u,%u]}", v, v % 7);
        else if (is_string_type(c->type))
            cn_buf_printf(&b, "\"v\":\"s%u\"}", v);
        else
            cn_buf_printf(&b, "\"v\":%u}", v);
    }
    cn_buf_putc(&b, ']');
    t_rows(t, b.data);
    cn_buf_fini(&b);
}

/* All keys' finalized JSON, one line each. OWNED by the caller (cn_free). */
static char *all_final(T *t, CnAggState *st) {
    CnBuf b = CN_BUF_INIT;
    for (uint32_t k = 0; k < t->n_keys; k++) {
        cn_buf_puts(&b, t_final(t, st, k));
        cn_buf_putc(&b, '\n');
    }
    return cn_buf_take(&b);
}

/* Exact ops give identical bytes whatever the batch split and merge order (HLL too:
 * register max and hash sets are order-free). Float ops and the percentile and
 * frequent-items sketches are checked within tolerances by the oracle property test. */
static bool exact_op(const OpCase *c) {
    return c->op != CN_AGG_VARIANCE && c->op != CN_AGG_SKEW && c->op != CN_AGG_KURTOSIS &&
           !(c->op == CN_AGG_SUM && c->bucket) && c->op != CN_AGG_AVERAGE &&
           c->op != CN_AGG_APPROX_PERCENTILE && c->op != CN_AGG_APPROX_HISTOGRAM_K;
}

static void merge_order_and_batches_free(void **s) {
    (void)s;
    uint64_t r = 777;
    for (size_t ci = 0; ci < CN_ARRAY_LEN(ALL_OPS); ci++) {
        const OpCase *c = &ALL_OPS[ci];
        if (!exact_op(c)) continue;
        for (int round = 0; round < 5; round++) {
            T *t = t_new();
            ASSERT_OK(t_spec(t, c->op, c->type, c->args, c->bucket, c->ew), &t->err);
            uint32_t n = 20 + (uint32_t)(rng_next(&r) % 200);
            random_rows(t, c, &r, n);
            /* one batch */
            CnAggState *one = t_state(t);
            ASSERT_OK(t_fold_range(t, one, 0, n), &t->err);
            char *want = all_final(t, one);
            /* random batches */
            CnAggState *bat = t_state(t);
            for (uint32_t lo = 0; lo < n;) {
                uint32_t len = 1 + (uint32_t)(rng_next(&r) % 9);
                if (lo + len > n) len = n - lo;
                ASSERT_OK(t_fold_range(t, bat, lo, lo + len), &t->err);
                lo += len;
            }
            char *got = all_final(t, bat);
            if (strcmp(want, got) != 0)
                fail_msg("%s(%s) batched differs:\n%s\nvs\n%s", cn_agg_op_name(c->op), c->type, want, got);
            cn_free(got);
            /* three ranges into three states, merged in the order (2,0,1) as ((2+0)+1) */
            CnAggState *p[3];
            uint32_t cut1 = n / 3, cut2 = 2 * n / 3;
            for (int i = 0; i < 3; i++) p[i] = t_state(t);
            ASSERT_OK(t_fold_range(t, p[0], 0, cut1), &t->err);
            ASSERT_OK(t_fold_range(t, p[1], cut1, cut2), &t->err);
            ASSERT_OK(t_fold_range(t, p[2], cut2, n), &t->err);
            for (uint32_t k = 0; k < t->n_keys; k++) {
                ASSERT_OK(cn_agg_state_merge(p[2], k, p[0], k, &t->err), &t->err);
                ASSERT_OK(cn_agg_state_merge(p[2], k, p[1], k, &t->err), &t->err);
            }
            got = all_final(t, p[2]);
            if (strcmp(want, got) != 0)
                fail_msg("%s(%s) merged differs:\n%s\nvs\n%s", cn_agg_op_name(c->op), c->type, want, got);
            cn_free(got);
            /* merging within one state: key 0 += key 1 equals a state of both keys' rows */
            for (int i = 0; i < 3; i++) cn_agg_state_free(p[i]);
            cn_agg_state_free(one);
            cn_agg_state_free(bat);
            cn_free(want);
            t_free(t);
        }
    }
}

static void encode_decode_round_trip(void **s) {
    (void)s;
    uint64_t r = 4242;
    for (size_t ci = 0; ci < CN_ARRAY_LEN(ALL_OPS); ci++) {
        const OpCase *c = &ALL_OPS[ci];
        T *t = t_new();
        ASSERT_OK(t_spec(t, c->op, c->type, c->args, c->bucket, c->ew), &t->err);
        random_rows(t, c, &r, 300);
        CnAggState *st = t_state(t), *back = t_state(t);
        ASSERT_OK(t_fold_range(t, st, 0, 300), &t->err);
        CnBuf enc = CN_BUF_INIT;
        for (uint32_t k = 0; k < t->n_keys; k++)
            ASSERT_OK(cn_agg_state_encode(st, k, &enc, &t->err), &t->err);
        /* encodings are self-delimiting: decode them back to back */
        size_t at = 0;
        for (uint32_t k = 0; k < t->n_keys; k++) {
            size_t used = 0;
            ASSERT_OK(cn_agg_state_decode(back, k, (const uint8_t *)enc.data + at, enc.len - at, &used,
                                          &t->err), &t->err);
            at += used;
        }
        assert_int_equal(at, enc.len);
        char *a = all_final(t, st), *b = all_final(t, back);
        if (strcmp(a, b) != 0) fail_msg("%s(%s): round trip differs:\n%s\nvs\n%s", cn_agg_op_name(c->op), c->type, a, b);
        cn_free(a);
        cn_free(b);
        /* a null IR encodes too */
        CnBuf e2 = CN_BUF_INIT;
        CnAggState *empty = t_state(t);
        ASSERT_OK(cn_agg_state_encode(empty, 0, &e2, &t->err), &t->err);
        assert_int_equal(e2.len, 4);
        ASSERT_OK(cn_agg_state_decode(back, 0, (const uint8_t *)e2.data, e2.len, NULL, &t->err), &t->err);
        assert_false(cn_agg_state_present(back, 0));
        cn_buf_fini(&e2);
        cn_agg_state_free(empty);
        cn_buf_fini(&enc);
        cn_agg_state_free(st);
        cn_agg_state_free(back);
        t_free(t);
    }
}

/* Truncations and byte flips of every op's encoding give CN_ECORRUPT or a valid IR,
 * never a crash (ASan builds check the reads). */
static void decode_rejects_corrupt_bytes(void **s) {
    (void)s;
    uint64_t r = 99;
    for (size_t ci = 0; ci < CN_ARRAY_LEN(ALL_OPS); ci++) {
        const OpCase *c = &ALL_OPS[ci];
        T *t = t_new();
        ASSERT_OK(t_spec(t, c->op, c->type, c->args, c->bucket, c->ew), &t->err);
        random_rows(t, c, &r, 60);
        CnAggState *st = t_state(t), *back = t_state(t);
        ASSERT_OK(t_fold_range(t, st, 0, 60), &t->err);
        uint32_t key = t->keys[0];
        CnBuf enc = CN_BUF_INIT;
        ASSERT_OK(cn_agg_state_encode(st, key, &enc, &t->err), &t->err);
        for (size_t len = 0; len < enc.len; len++) {
            cn_err_clear(&t->err);
            int rc = cn_agg_state_decode(back, key, (const uint8_t *)enc.data, len, NULL, &t->err);
            if (rc != CN_ECORRUPT) fail_msg("%s: truncated at %zu of %zu: rc %d", cn_agg_op_name(c->op), len, enc.len, rc);
            assert_false(cn_agg_state_present(back, key));
        }
        uint8_t *m = cn_malloc(enc.len);
        for (int flip = 0; flip < 200; flip++) {
            memcpy(m, enc.data, enc.len);
            m[rng_next(&r) % enc.len] ^= (uint8_t)(1u << (rng_next(&r) % 8));
            cn_err_clear(&t->err);
            int rc = cn_agg_state_decode(back, key, m, enc.len, NULL, &t->err);
            assert_true(rc == 0 || rc == CN_ECORRUPT);
            if (rc == 0) {
                /* finalize may still reject an opaque payload, but never crash */
                CnBatch *ob = NULL;
                ASSERT_OK(cn_col_batch_new(t->out, &ob, &t->err), &t->err);
                rc = cn_agg_state_finalize(back, &key, 1, &ob->cols[0], &t->err);
                assert_true(rc == 0 || rc == CN_ECORRUPT);
                cn_col_batch_free(ob);
            }
        }
        /* wrong version, wrong op */
        memcpy(m, enc.data, enc.len);
        m[0] = 9;
        cn_err_clear(&t->err);
        ASSERT_ERR(cn_agg_state_decode(back, key, m, enc.len, NULL, &t->err), CN_ECORRUPT, &t->err);
        ASSERT_CONTAINS(cn_err_msg(&t->err), "format version 9");
        memcpy(m, enc.data, enc.len);
        m[1] = (uint8_t)((c->op + 1) % CN_AGG_N_OPS);
        cn_err_clear(&t->err);
        ASSERT_ERR(cn_agg_state_decode(back, key, m, enc.len, NULL, &t->err), CN_ECORRUPT, &t->err);
        ASSERT_CONTAINS(cn_err_msg(&t->err), "encodes operation");
        cn_free(m);
        cn_buf_fini(&enc);
        cn_agg_state_free(st);
        cn_agg_state_free(back);
        t_free(t);
    }
}

static void fixed_ir_layout_is_little_endian(void **s) {
    (void)s; /* docs/agg.md: header (version 1, op, shape), presence, then the row */
    T *t = t_new();
    ASSERT_OK(t_spec(t, CN_AGG_SUM, "long", NULL, false, false), &t->err);
    t_rows(t, "[{\"v\":258}]");
    CnAggState *st = t_state(t);
    ASSERT_OK(t_fold_range(t, st, 0, 1), &t->err);
    CnBuf enc = CN_BUF_INIT;
    ASSERT_OK(cn_agg_state_encode(st, 0, &enc, &t->err), &t->err);
    const uint8_t want[] = {1, 7, 2 << 4, 1, 2, 1, 0, 0, 0, 0, 0, 0};
    assert_int_equal(enc.len, sizeof want);
    assert_memory_equal(enc.data, want, sizeof want);
    cn_buf_fini(&enc);
    cn_agg_state_free(st);
    t_free(t);
}

static void clear_reset_copy_subtract(void **s) {
    (void)s;
    T *t = t_new();
    ASSERT_OK(t_spec(t, CN_AGG_SUM, "long", NULL, true, false), &t->err);
    t_rows(t, "[{\"k\":0,\"b\":\"x\",\"v\":1},{\"k\":1,\"b\":\"x\",\"v\":5},{\"k\":1,\"b\":\"y\",\"v\":2}]");
    CnAggState *st = t_state(t);
    ASSERT_OK(t_fold_range(t, st, 0, 3), &t->err);
    ASSERT_OK(cn_agg_state_subtract(st, 1, st, 0, &t->err), &t->err);
    assert_string_equal(t_final(t, st, 1), "{\"x\":4,\"y\":2}");
    ASSERT_OK(cn_agg_state_copy(st, 0, st, 1, &t->err), &t->err);
    assert_string_equal(t_final(t, st, 0), "{\"x\":4,\"y\":2}");
    cn_agg_state_clear(st, 1);
    assert_string_equal(t_final(t, st, 1), "null");
    cn_agg_state_reset(st);
    assert_string_equal(t_final(t, st, 0), "null");
    cn_agg_state_free(st);
    t_free(t);
    t = t_new(); /* subtract is for reversible ops only */
    ASSERT_OK(t_spec(t, CN_AGG_MAX, "long", NULL, false, false), &t->err);
    t_rows(t, "[{\"v\":1}]");
    st = t_state(t);
    ASSERT_OK(t_fold_range(t, st, 0, 1), &t->err);
    ASSERT_ERR(cn_agg_state_subtract(st, 0, st, 0, &t->err), CN_EINVAL, &t->err);
    ASSERT_CONTAINS(cn_err_msg(&t->err), "not reversible");
    cn_agg_state_free(st);
    t_free(t);
}

/* ---------------------------------------------------------------- windows */

#define MS(y, mo, d, h, mi, s, ms) (ymd_ms(y, mo, d) + (h) * 3600000LL + (mi) * 60000LL + (s) * 1000LL + (ms))

static int64_t ymd_ms(int y, int m, int d) {
    /* days from civil (proleptic Gregorian) */
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return (era * 146097 + doe - 719468) * 86400000LL;
}

static void window_math(void **s) {
    (void)s;
    CnErr err = CN_ERR_INIT;
    int64_t w;
    ASSERT_OK(cn_agg_window_ms(24, 0, "w", &w, &err), &err);
    assert_int_equal(w, 24 * CN_AGG_MS_HOUR);
    ASSERT_OK(cn_agg_window_ms(INT32_MAX, 1, "w", &w, &err), &err);
    assert_int_equal(w, CN_AGG_UNWINDOWED);
    ASSERT_ERR(cn_agg_window_ms(0, 1, "amount_sum_0d", &w, &err), CN_ECONFIG, &err); /* D23 */
    ASSERT_CONTAINS(cn_err_msg(&err), "amount_sum_0d: window length 0");
    cn_err_clear(&err);
    ASSERT_ERR(cn_agg_window_ms(3, 2, "w", &w, &err), CN_ECONFIG, &err);
    /* inclusive thresholds */
    assert_int_equal(cn_agg_tail_hop_ms(12 * CN_AGG_MS_DAY), CN_AGG_MS_DAY);
    assert_int_equal(cn_agg_tail_hop_ms(12 * CN_AGG_MS_DAY - 1), CN_AGG_MS_HOUR);
    assert_int_equal(cn_agg_tail_hop_ms(12 * CN_AGG_MS_HOUR), CN_AGG_MS_HOUR);
    assert_int_equal(cn_agg_tail_hop_ms(12 * CN_AGG_MS_HOUR - 1), CN_AGG_MS_5MIN);
    assert_int_equal(cn_agg_tail_hop_ms(CN_AGG_UNWINDOWED), CN_AGG_MS_DAY);
    assert_int_equal(cn_agg_floor(-1, 10), -10);
    assert_int_equal(cn_agg_floor(25, 10), 20);
    assert_int_equal(cn_agg_hop_key(MS(2025, 1, 20, 14, 23, 10, 0), CN_AGG_MS_HOUR),
                     MS(2025, 1, 20, 14, 0, 0, 0));
}

/* Example 2.1: SUM and COUNT over [1h, 1d, 14d, unwindowed] at q, by membership. */
static void example_2_1_memberships(void **s) {
    (void)s;
    const int64_t ts[8] = {MS(2025, 1, 6, 0, 0, 0, 0),     MS(2025, 1, 5, 23, 59, 59, 999),
                           MS(2025, 1, 19, 13, 59, 59, 999), MS(2025, 1, 19, 14, 0, 0, 0),
                           MS(2025, 1, 20, 13, 19, 59, 999), MS(2025, 1, 20, 13, 20, 0, 0),
                           MS(2025, 1, 20, 14, 23, 9, 999),  MS(2025, 1, 20, 14, 23, 10, 0)};
    const int amount[8] = {3, 5, 7, 11, 13, 17, 19, 23};
    const int64_t q = 1737382990000LL;
    assert_int_equal(q, MS(2025, 1, 20, 14, 23, 10, 0));
    const int64_t wins[4] = {CN_AGG_MS_HOUR, CN_AGG_MS_DAY, 14 * CN_AGG_MS_DAY, CN_AGG_UNWINDOWED};
    const int64_t want_sum[4] = {36, 60, 70, 75}, want_cnt[4] = {2, 4, 6, 7};
    const int64_t want_tail[3] = {MS(2025, 1, 20, 13, 20, 0, 0), MS(2025, 1, 19, 14, 0, 0, 0),
                                  MS(2025, 1, 6, 0, 0, 0, 0)};
    for (int w = 0; w < 4; w++) {
        if (w < 3) assert_int_equal(cn_agg_temporal_start(q, wins[w]), want_tail[w]);
        T *t = t_new();
        ASSERT_OK(t_spec(t, CN_AGG_SUM, "long", NULL, false, false), &t->err);
        char rows[1024];
        size_t o = 0;
        o += (size_t)snprintf(rows + o, sizeof rows - o, "[");
        int n = 0;
        for (int e = 0; e < 8; e++) {
            if (!cn_agg_temporal_member(q, ts[e], wins[w])) continue;
            o += (size_t)snprintf(rows + o, sizeof rows - o, "%s{\"v\":%d}", n ? "," : "", amount[e]);
            n++;
        }
        snprintf(rows + o, sizeof rows - o, "]");
        t_rows(t, rows);
        CnAggState *st = t_state(t);
        ASSERT_OK(t_fold_range(t, st, 0, t->rows->n_rows), &t->err);
        assert_int_equal(atoll(t_final(t, st, 0)), want_sum[w]);
        assert_int_equal(n, want_cnt[w]);
        cn_agg_state_free(st);
        t_free(t);
    }
    /* e8 equals q and never counts; e1 lies exactly on the 14d tail and counts */
    assert_false(cn_agg_temporal_member(q, ts[7], CN_AGG_UNWINDOWED));
    assert_true(cn_agg_temporal_member(q, ts[0], 14 * CN_AGG_MS_DAY));
    assert_false(cn_agg_temporal_member(q, ts[2], CN_AGG_MS_DAY));
    assert_true(cn_agg_temporal_member(q, ts[3], CN_AGG_MS_DAY));
    /* Example 5.1: snapshot sums for 2025-01-19 and 2025-01-20 */
    const int64_t e19 = MS(2025, 1, 20, 0, 0, 0, 0), e20 = MS(2025, 1, 21, 0, 0, 0, 0);
    const int64_t snap_w[3] = {CN_AGG_MS_DAY, 14 * CN_AGG_MS_DAY, CN_AGG_UNWINDOWED};
    const int64_t want19[3] = {18, 21, 26}, want20[3] = {72, 90, 98};
    for (int w = 0; w < 3; w++) {
        int64_t s19 = 0, s20 = 0;
        for (int e = 0; e < 8; e++) {
            if (cn_agg_snapshot_member(e19, ts[e], snap_w[w])) s19 += amount[e];
            if (cn_agg_snapshot_member(e20, ts[e], snap_w[w])) s20 += amount[e];
        }
        assert_int_equal(s19, want19[w]);
        assert_int_equal(s20, want20[w]);
    }
}

/* Slide a window of W daily tiles over D days; every day, every key must equal the
 * merge of its last W tiles (exact ops compare as JSON). */
static void slider_matches_direct_merge(void **s) {
    (void)s;
    const OpCase cases[] = {
        {CN_AGG_SUM, "long", NULL, false, false},             /* add/subtract */
        {CN_AGG_HISTOGRAM, "string", NULL, false, false},     /* add/subtract, removals */
        {CN_AGG_COUNT, "long", NULL, true, false},            /* bucketed, reversible */
        {CN_AGG_MAX, "long", NULL, false, false},             /* two stacks */
        {CN_AGG_LAST_K, "string", "{\"k\":\"2\"}", false, false},
        {CN_AGG_UNIQUE_COUNT, "string", NULL, false, false},
    };
    uint64_t r = 31337;
    for (size_t ci = 0; ci < CN_ARRAY_LEN(cases); ci++) {
        const OpCase *c = &cases[ci];
        const uint32_t days = 12, win = 4;
        T *t = t_new();
        ASSERT_OK(t_spec(t, c->op, c->type, c->args, c->bucket, c->ew), &t->err);
        /* some keys only appear early, so windows expire to null */
        random_rows(t, c, &r, 600);
        t->n_keys = 6;
        CnAggState *tiles[12];
        for (uint32_t d = 0; d < days; d++) {
            tiles[d] = t_state(t);
            ASSERT_OK(t_fold_range(t, tiles[d], d * 50, d * 50 + (d % 5 == 4 ? 0 : 50)), &t->err);
        }
        CnAggSlider *sl = NULL;
        ASSERT_OK(cn_agg_slider_new(t->spec, &sl, &t->err), &t->err);
        for (uint32_t d = 0; d < days; d++) {
            ASSERT_OK(cn_agg_slider_push(sl, tiles[d], &t->err), &t->err);
            while (cn_agg_slider_len(sl) > win) ASSERT_OK(cn_agg_slider_pop(sl, &t->err), &t->err);
            CnAggState *got = t_state(t), *want = t_state(t);
            for (uint32_t k = 0; k < t->n_keys; k++) {
                ASSERT_OK(cn_agg_slider_query(sl, k, got, k, &t->err), &t->err);
                for (uint32_t x = d + 1 > win ? d + 1 - win : 0; x <= d; x++)
                    ASSERT_OK(cn_agg_state_merge(want, k, tiles[x], k, &t->err), &t->err);
            }
            char *a = all_final(t, want), *b = all_final(t, got);
            if (strcmp(a, b) != 0)
                fail_msg("%s day %u: slider\n%s\ndirect\n%s", cn_agg_op_name(c->op), d, b, a);
            cn_free(a);
            cn_free(b);
            cn_agg_state_free(got);
            cn_agg_state_free(want);
        }
        assert_int_equal(cn_agg_slider_len(sl), win);
        while (cn_agg_slider_len(sl) > 0) ASSERT_OK(cn_agg_slider_pop(sl, &t->err), &t->err);
        CnAggState *none = t_state(t);
        for (uint32_t k = 0; k < t->n_keys; k++) {
            ASSERT_OK(cn_agg_slider_query(sl, k, none, k, &t->err), &t->err);
            assert_false(cn_agg_state_present(none, k)); /* N2 after every tile expired */
        }
        ASSERT_ERR(cn_agg_slider_pop(sl, &t->err), CN_EINVAL, &t->err);
        cn_agg_state_free(none);
        cn_agg_slider_free(sl);
        for (uint32_t d = 0; d < days; d++) cn_agg_state_free(tiles[d]);
        t_free(t);
    }
}

static void java_double_keys(void **s) {
    (void)s; /* D26 via APPROX_HISTOGRAM_K keys */
    T *t = t_new();
    EXPECT(t, CN_AGG_APPROX_HISTOGRAM_K, "double", "{\"k\":\"8\"}",
           "[{\"v\":100},{\"v\":1e7},{\"v\":9999999},{\"v\":0.001},{\"v\":-0.0},{\"v\":123.456},{\"v\":1e-5}]",
           "{\"-0.0\":1,\"0.001\":1,\"1.0E-5\":1,\"1.0E7\":1,\"100.0\":1,\"123.456\":1,\"9999999.0\":1}");
    t_free(t);
}


/* Every allocation failure inside update, merge, finalize and encode ends in CN_ENOMEM
 * (never a crash; the ASan build also checks for leaks), and a later run succeeds. */
static void allocation_faults_end_cleanly(void **s) {
    (void)s;
    const OpCase cases[] = {
        {CN_AGG_LAST_K, "string", "{\"k\":\"2\"}", true, false},
        {CN_AGG_APPROX_UNIQUE_COUNT, "long", "{\"k\":\"4\"}", false, false},
        {CN_AGG_APPROX_PERCENTILE, "long", "{\"k\":\"8\"}", false, false},
        {CN_AGG_SUM, "map<string,long>", NULL, false, false},
    };
    uint64_t r = 5;
    static uint32_t sel[400];
    for (size_t ci = 0; ci < CN_ARRAY_LEN(cases); ci++) {
        const OpCase *c = &cases[ci];
        T *t = t_new();
        ASSERT_OK(t_spec(t, c->op, c->type, c->args, c->bucket, c->ew), &t->err);
        random_rows(t, c, &r, 400);
        for (uint32_t i = 0; i < 400; i++) sel[i] = i;
        int failures = 0;
        for (uint64_t budget = 0;; budget++) {
            char env[32];
            snprintf(env, sizeof env, "%llu", (unsigned long long)(cn_alloc_count() + budget));
            setenv("CN_TEST_FAIL_ALLOC_AFTER", env, 1);
            cn_alloc_reset_fault();
            CnErr err = CN_ERR_INIT;
            CnAggState *a = NULL, *b = NULL;
            CnBatch *ob = NULL;
            CnBuf enc = CN_BUF_INIT;
            const CnVec *cols = t->rows->cols;
            uint32_t ids[6] = {0, 1, 2, 3, 4, 5};
            int rc = cn_agg_state_new(t->spec, &a, &err);
            if (rc == 0) rc = cn_agg_state_new(t->spec, &b, &err);
            if (rc == 0) rc = cn_agg_state_reserve(a, 6, &err);
            if (rc == 0) rc = cn_agg_state_reserve(b, 6, &err);
            if (rc == 0) rc = cn_agg_state_update(a, t->keys, sel, 400, &cols[0], &cols[1], &cols[2], &err);
            for (uint32_t k = 0; rc == 0 && k < 6; k++) rc = cn_agg_state_merge(b, 5 - k, a, k, &err);
            for (uint32_t k = 0; rc == 0 && k < 6; k++) rc = cn_agg_state_encode(b, k, &enc, &err);
            if (rc == 0 && enc.oom) rc = CN_ENOMEM;
            if (rc == 0) rc = cn_col_batch_new(t->out, &ob, &err);
            if (rc == 0) rc = cn_agg_state_finalize(b, ids, 6, &ob->cols[0], &err);
            setenv("CN_TEST_FAIL_ALLOC_AFTER", "", 1);
            cn_alloc_reset_fault();
            cn_col_batch_free(ob);
            cn_buf_fini(&enc);
            cn_agg_state_free(a);
            cn_agg_state_free(b);
            if (rc == 0) break;
            if (rc != CN_ENOMEM) fail_msg("%s budget %llu: rc %d: %s", cn_agg_op_name(c->op),
                                          (unsigned long long)budget, rc, cn_err_msg(&err));
            failures++;
        }
        assert_true(failures >= 5);
        t_free(t);
    }
}

CN_TEST_MAIN(cmocka_unit_test(variance_skew_kurtosis_example),
             cmocka_unit_test(skew_kurtosis_small_n_null),
             cmocka_unit_test(top_k_bottom_k_example),
             cmocka_unit_test(last_k_first_k_example),
             cmocka_unit_test(first_last_ties_by_payload),
             cmocka_unit_test(first_last_containers_opaque),
             cmocka_unit_test(approx_percentile_example),
             cmocka_unit_test(approx_percentile_large_within_tolerance),
             cmocka_unit_test(histogram_k2_example),
             cmocka_unit_test(histogram_deletes),
             cmocka_unit_test(bounded_unique_count_k3),
             cmocka_unit_test(unique_count_java_equality),
             cmocka_unit_test(approx_unique_count_bounds),
             cmocka_unit_test(approx_histogram_k),
             cmocka_unit_test(count_nulls_and_empty_group),
             cmocka_unit_test(sum_widening_and_wrap),
             cmocka_unit_test(average_of_lists_and_deletes),
             cmocka_unit_test(min_max_nan_and_utf16),
             cmocka_unit_test(bucket_example),
             cmocka_unit_test(nested_nan_kept),
             cmocka_unit_test(map_input_per_key),
             cmocka_unit_test(element_wise_lists),
             cmocka_unit_test(type_and_arg_errors),
             cmocka_unit_test(output_types),
             cmocka_unit_test(merge_order_and_batches_free),
             cmocka_unit_test(encode_decode_round_trip),
             cmocka_unit_test(decode_rejects_corrupt_bytes),
             cmocka_unit_test(fixed_ir_layout_is_little_endian),
             cmocka_unit_test(clear_reset_copy_subtract),
             cmocka_unit_test(window_math),
             cmocka_unit_test(example_2_1_memberships),
             cmocka_unit_test(slider_matches_direct_merge),
             cmocka_unit_test(java_double_keys),
             cmocka_unit_test(allocation_faults_end_cleanly))
