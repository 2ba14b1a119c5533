/* fuzz_expr.c: libFuzzer target for the expression parser and binder, and for the
 * evaluator on whatever binds: each input is one expression text, bound against a fixed
 * schema of every column type, then evaluated (and used as a filter when boolean) over
 * a small batch with nulls, extremes and NaN. Bad text must end in an error that names
 * a column of the expression, never in a crash, an assert or a leak; a bound expression
 * must evaluate (only out of memory may fail) into a vector that passes its checks.
 * Built with clang -fsanitize=fuzzer,address when CN_FUZZ=ON; fuzz_expr_replay.c runs
 * the same function over the corpus in every build. */
#include "base/compat.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/err.h"
#include "col/col.h"
#include "expr/expr.h"

int cn_fuzz_expr_one(const uint8_t *data, size_t len, CnErr *err);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static CnSchema *g_schema;
static CnBatch *g_batch;

static void die(const char *what, const CnErr *err) {
    fprintf(stderr, "fuzz_expr: %s: %s\n", what, cn_err_msg(err));
    abort();
}

static void setup(void) {
    CnErr err = CN_ERR_INIT;
    if (cn_col_schema_new(&g_schema) < 0) die("schema", &err);
    static const struct { const char *name; CnTypeId t; } cols[] = {
        {"i", CN_COL_INT32}, {"l", CN_COL_INT64}, {"d", CN_COL_FLOAT64}, {"f", CN_COL_FLOAT32},
        {"s", CN_COL_STRING}, {"b", CN_COL_BOOL}, {"dt", CN_COL_DATE}, {"ts", CN_COL_TIMESTAMP},
        {"bin", CN_COL_BINARY}};
    for (size_t k = 0; k < sizeof cols / sizeof cols[0]; k++)
        if (cn_col_schema_add(g_schema, cols[k].name, cn_col_type_prim(cols[k].t), true, (int32_t)k, &err) < 0)
            die("schema", &err);
    const CnType *lt = cn_col_type_list(&g_schema->arena, cn_col_type_prim(CN_COL_STRING), true, 100);
    const CnType *mt = cn_col_type_map(&g_schema->arena, cn_col_type_prim(CN_COL_STRING),
                                       cn_col_type_prim(CN_COL_INT64), true, 101, 102);
    if (cn_col_schema_add(g_schema, "arr", lt, true, 20, &err) < 0 || cn_col_schema_add(g_schema, "m", mt, true, 21, &err) < 0)
        die("schema", &err);
    if (cn_col_batch_new(g_schema, &g_batch, &err) < 0) die("batch", &err);
    CnVec *c = g_batch->cols;
    static const int32_t iv[] = {0, 1, -1, INT32_MAX, INT32_MIN, 7};
    static const int64_t lv[] = {0, 1, -1, INT64_MAX, INT64_MIN, 1700000000000};
    static const double dv[] = {0.0, -0.0, 1.5, NAN, INFINITY, -1e308};
    static const char *const sv[] = {"", "abc", " 12 ", "2020-02-29", "h\xc3\xa9llo", "a,b,,c"};
    for (int r = 0; r < 6; r++) {
        bool null = r == 5;
        if (null) {
            for (int k = 0; k < 11; k++) cn_col_vec_append_null(&c[k]);
            continue;
        }
        cn_col_vec_append_i32(&c[0], iv[r]);
        cn_col_vec_append_i64(&c[1], lv[r]);
        cn_col_vec_append_f64(&c[2], dv[r]);
        cn_col_vec_append_f32(&c[3], (float)dv[r]);
        cn_col_vec_append_str(&c[4], sv[r], strlen(sv[r]));
        cn_col_vec_append_bool(&c[5], r & 1);
        cn_col_vec_append_i32(&c[6], iv[r] / 1000);
        cn_col_vec_append_i64(&c[7], lv[r] / 1000);
        cn_col_vec_append_str(&c[8], sv[r], strlen(sv[r]));
        for (int k = 0; k < r; k++) cn_col_vec_append_str(&c[9].child[0], sv[k], strlen(sv[k]));
        cn_col_vec_close_list(&c[9]);
        for (int k = 0; k < r % 3; k++) {
            cn_col_vec_append_str(&c[10].child[0], sv[k], strlen(sv[k]));
            cn_col_vec_append_i64(&c[10].child[1], k);
        }
        cn_col_vec_close_list(&c[10]);
    }
    if (cn_col_batch_sync_rows(g_batch, &err) < 0) die("batch", &err);
}

int cn_fuzz_expr_one(const uint8_t *data, size_t len, CnErr *err) {
    if (!g_schema) setup();
    char *text = cn_malloc(len + 1);
    if (!text) return cn_err_set(err, CN_ENOMEM, "fuzz: out of memory");
    memcpy(text, data, len);
    text[len] = '\0';
    CnExpr *e = NULL;
    int rc = cn_expr_bind(text, g_schema, &e, err);
    cn_free(text);
    if (rc < 0) {
        if (rc != CN_ENOMEM && !strstr(cn_err_msg(err), "at column")) die("error without a position", err);
        return rc;
    }
    CnSchema *os = NULL;
    CnBatch *ob = NULL;
    CnErr e2 = CN_ERR_INIT;
    if (cn_col_schema_new(&os) < 0 || cn_col_schema_add(os, "o", cn_expr_type(e), true, -1, &e2) < 0 ||
        cn_col_batch_new(os, &ob, &e2) < 0)
        die("output batch", &e2);
    static const uint32_t sel[] = {1, 3, 5};
    int erc = cn_expr_eval(e, g_batch, NULL, 0, &ob->cols[0], &e2);
    if (erc == 0) erc = cn_expr_eval(e, g_batch, sel, 3, &ob->cols[0], &e2);
    if (erc < 0 && erc != CN_ENOMEM) die("evaluation failed", &e2);
    if (erc == 0 && cn_col_vec_check(&ob->cols[0], "o", &e2) < 0) die("bad output vector", &e2);
    if (erc == 0 && cn_expr_type(e)->id == CN_COL_BOOL) {
        uint32_t out[6], n = 0;
        if (cn_expr_filter(e, g_batch, NULL, 0, out, &n, &e2) < 0 && e2.code != CN_ENOMEM) die("filter failed", &e2);
        for (uint32_t k = 1; k < n; k++)
            if (out[k] <= out[k - 1]) die("filter output not ascending", &e2);
    }
    cn_col_batch_free(ob);
    cn_col_schema_free(os);
    cn_expr_free(e);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    CnErr err = CN_ERR_INIT;
    (void)cn_fuzz_expr_one(data, size, &err);
    return 0;
}
