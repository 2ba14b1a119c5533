/* agg_driver: runs the agg kernels over JSON-lines rows and prints finalized values, so
 * tests/py/test_agg_vs_oracle.py can compare them with the brute-force oracle.
 *
 *   agg_driver SPEC_JSON SEED < rows.jsonl
 *
 * SPEC_JSON: {"op": 7, "type": "list<long>", "argMap": {"k": "3"}, "bucket": false,
 *             "elementWise": false}
 * row:       {"key": 0, "ts": 123, "v": <value>, "b": "bucket" | null, "sign": 1 | -1}
 *
 * Keys are dense ids 0..K-1. The rows are folded three ways and each is printed as
 * {"mode": m, "key": k, "value": v} lines:
 *   seq      one state, one batch (updates then deletes, selection vectors);
 *   batched  random batch boundaries, each batch a selection over the rows;
 *   merged   rows dealt at random to 1-4 partial states, every partial IR encoded and
 *            decoded, then merged in a random order.
 * NaN and infinities print as the strings "NaN", "Infinity", "-Infinity".
 * Exit 0, or 3 with {"error": msg} on stdout when the kernels reject the input. */
#include "base/compat.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "agg/agg.h"
#include "base/alloc.h"
#include "base/str.h"

#include "agg_json.h"

static uint64_t rng_state;
static uint32_t rnd(uint32_t n) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return n ? (uint32_t)(rng_state % n) : 0;
}

typedef struct Run {
    const CnAggSpec *spec;
    const CnBatch *rows;
    const uint32_t *keys;
    const int *sign;
    uint32_t n_keys;
} Run;

/* Folds rows [lo, hi) (those with index in sub when sub != NULL) into st: updates,
 * then deletes, each through a selection vector. */
static int fold(const Run *r, CnAggState *st, const uint32_t *rows, uint32_t n, CnErr *err) {
    uint32_t *sel = cn_malloc((size_t)(n ? n : 1) * sizeof *sel);
    int rc = 0;
    if (!sel) return CN_ENOMEM;
    for (int pass = 0; pass < 2 && rc == 0; pass++) {
        uint32_t m = 0;
        for (uint32_t i = 0; i < n; i++)
            if ((r->sign[rows[i]] > 0) == (pass == 0)) sel[m++] = rows[i];
        const CnVec *c = r->rows->cols;
        rc = pass == 0 ? cn_agg_state_update(st, r->keys, sel, m, &c[0], &c[1], &c[2], err)
                       : cn_agg_state_delete(st, r->keys, sel, m, &c[0], &c[1], &c[2], err);
    }
    cn_free(sel);
    return rc;
}

static int print_state(const Run *r, CnAggState *st, const char *mode, CnSchema *osch,
                       CnErr *err) {
    CnBatch *ob = NULL;
    int rc = cn_col_batch_new(osch, &ob, err);
    if (rc < 0) return rc;
    uint32_t *ids = cn_malloc((size_t)(r->n_keys + 1) * sizeof *ids);
    for (uint32_t k = 0; k < r->n_keys; k++) ids[k] = k;
    rc = cn_agg_state_finalize(st, ids, r->n_keys, &ob->cols[0], err);
    CnBuf b = CN_BUF_INIT;
    for (uint32_t k = 0; rc == 0 && k < r->n_keys; k++) {
        cn_buf_printf(&b, "{\"mode\":\"%s\",\"key\":%u,\"value\":", mode, k);
        to_json(&b, &ob->cols[0], k);
        cn_buf_puts(&b, "}\n");
    }
    if (rc == 0) fwrite(b.data, 1, b.len, stdout);
    cn_buf_fini(&b);
    cn_free(ids);
    cn_col_batch_free(ob);
    return rc;
}

static int run_all(const Run *r, CnSchema *osch, CnErr *err) {
    uint32_t n = r->rows->n_rows;
    uint32_t *all = cn_malloc((size_t)(n + 1) * sizeof *all);
    CnAggState *st = NULL, *parts[4] = {0}, *fin = NULL;
    int rc = 0;
    for (uint32_t i = 0; i < n; i++) all[i] = i;
    /* seq */
    rc = cn_agg_state_new(r->spec, &st, err);
    if (rc == 0) rc = cn_agg_state_reserve(st, r->n_keys, err);
    if (rc == 0) rc = fold(r, st, all, n, err);
    if (rc == 0) rc = print_state(r, st, "seq", osch, err);
    /* batched: same state type, fresh, random boundaries */
    cn_agg_state_free(st);
    st = NULL;
    if (rc == 0) rc = cn_agg_state_new(r->spec, &st, err);
    if (rc == 0) rc = cn_agg_state_reserve(st, r->n_keys, err);
    for (uint32_t lo = 0; rc == 0 && lo < n;) {
        uint32_t len = 1 + rnd(8);
        if (lo + len > n) len = n - lo;
        rc = fold(r, st, all + lo, len, err);
        lo += len;
    }
    if (rc == 0) rc = print_state(r, st, "batched", osch, err);
    /* merged: random partitions, encode/decode round trip, random merge order */
    uint32_t np = 1 + rnd(4);
    uint32_t *pick = cn_malloc((size_t)(n + 1) * sizeof *pick);
    for (uint32_t p = 0; rc == 0 && p < np; p++) {
        rc = cn_agg_state_new(r->spec, &parts[p], err);
        if (rc == 0) rc = cn_agg_state_reserve(parts[p], r->n_keys, err);
    }
    uint32_t *owner = cn_malloc((size_t)(n + 1) * sizeof *owner);
    for (uint32_t i = 0; i < n; i++) owner[i] = rnd(np);
    for (uint32_t p = 0; rc == 0 && p < np; p++) {
        uint32_t m = 0;
        for (uint32_t i = 0; i < n; i++)
            if (owner[i] == p) pick[m++] = i;
        rc = fold(r, parts[p], pick, m, err);
    }
    if (rc == 0) rc = cn_agg_state_new(r->spec, &fin, err);
    if (rc == 0) rc = cn_agg_state_reserve(fin, r->n_keys, err);
    CnBuf enc = CN_BUF_INIT;
    for (uint32_t p = 0; rc == 0 && p < np; p++) {
        for (uint32_t k = 0; rc == 0 && k < r->n_keys; k++) {
            cn_buf_reset(&enc);
            rc = cn_agg_state_encode(parts[p], k, &enc, err);
            size_t used = 0;
            if (rc == 0)
                rc = cn_agg_state_decode(parts[p], k, (const uint8_t *)enc.data, enc.len, &used, err);
            if (rc == 0 && used != enc.len) {
                fprintf(stderr, "decode used %zu of %zu bytes\n", used, enc.len);
                rc = CN_EINTERNAL;
            }
        }
    }
    /* merge order: partitions in a random permutation, keys in a random rotation */
    uint32_t perm[4] = {0, 1, 2, 3};
    for (uint32_t i = np; i > 1; i--) {
        uint32_t j = rnd(i), t = perm[i - 1];
        perm[i - 1] = perm[j];
        perm[j] = t;
    }
    uint32_t rot = rnd(r->n_keys ? r->n_keys : 1);
    for (uint32_t p = 0; rc == 0 && p < np; p++)
        for (uint32_t k0 = 0; rc == 0 && k0 < r->n_keys; k0++) {
            uint32_t k = (k0 + rot) % r->n_keys;
            rc = cn_agg_state_merge(fin, k, parts[perm[p]], k, err);
        }
    if (rc == 0) rc = print_state(r, fin, "merged", osch, err);
    cn_buf_fini(&enc);
    cn_free(owner);
    cn_free(pick);
    cn_free(all);
    for (uint32_t p = 0; p < 4; p++) cn_agg_state_free(parts[p]);
    cn_agg_state_free(fin);
    cn_agg_state_free(st);
    return rc;
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: agg_driver SPEC_JSON SEED < rows.jsonl\n");
        return 2;
    }
    rng_state = strtoull(argv[2], NULL, 10) * 2654435761u + 88172645463325252ull;
    CnErr err = CN_ERR_INIT;
    CnArena a;
    cn_arena_init(&a, 0);
    json_error_t je;
    json_t *spec = json_loads(argv[1], 0, &je);
    if (!spec) {
        fprintf(stderr, "bad spec: %s\n", je.text);
        return 2;
    }
    const CnType *vt = NULL;
    int rc = cn_col_type_parse(&a, json_string_value(json_object_get(spec, "type")), &vt, &err);
    const char *keys[8], *vals[8];
    uint32_t n_args = 0;
    const char *ak;
    json_t *av;
    json_object_foreach(json_object_get(spec, "argMap"), ak, av) {
        if (n_args < 8) {
            keys[n_args] = ak;
            vals[n_args++] = json_string_value(av);
        }
    }
    CnAggDef def = {(CnAggOp)json_integer_value(json_object_get(spec, "op")), "v", keys, vals,
                    n_args, json_is_true(json_object_get(spec, "elementWise")),
                    json_is_true(json_object_get(spec, "bucket"))};
    const CnAggSpec *as = NULL;
    if (rc == 0) rc = cn_agg_spec_new(&a, &def, vt, &as, &err);
    CnSchema *in = NULL, *out = NULL;
    CnBatch *rows = NULL;
    uint32_t *kid = NULL;
    int *sign = NULL;
    uint32_t n = 0, cap = 0, n_keys = 0;
    if (rc == 0) {
        cn_col_schema_new(&in);
        cn_col_schema_add(in, "v", vt, true, 1, &err);
        cn_col_schema_add(in, "ts", cn_col_type_prim(CN_COL_INT64), true, 2, &err);
        cn_col_schema_add(in, "b", cn_col_type_prim(CN_COL_STRING), true, 3, &err);
        cn_col_schema_new(&out);
        cn_col_schema_add(out, "out", cn_agg_spec_output_type(as), true, 1, &err);
        rc = cn_col_batch_new(in, &rows, &err);
    }
    char line[1 << 16];
    while (rc == 0 && fgets(line, sizeof line, stdin)) {
        json_t *row = json_loads(line, 0, &je);
        if (!row) continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 256;
            kid = cn_realloc(kid, cap * sizeof *kid);
            sign = cn_realloc(sign, cap * sizeof *sign);
        }
        kid[n] = (uint32_t)json_integer_value(json_object_get(row, "key"));
        if (kid[n] + 1 > n_keys) n_keys = kid[n] + 1;
        json_t *s = json_object_get(row, "sign");
        sign[n] = s && json_integer_value(s) < 0 ? -1 : 1;
        fill(&rows->cols[0], json_object_get(row, "v"));
        fill(&rows->cols[1], json_object_get(row, "ts"));
        fill(&rows->cols[2], json_object_get(row, "b"));
        n++;
        json_decref(row);
    }
    json_int_t nk = json_integer_value(json_object_get(spec, "keys"));
    if (nk > (json_int_t)n_keys) n_keys = (uint32_t)nk;
    if (rc == 0) rc = cn_col_batch_sync_rows(rows, &err);
    if (rc == 0) {
        Run r = {as, rows, kid, sign, n_keys};
        rc = run_all(&r, out, &err);
    }
    if (rc < 0) {
        CnBuf b = CN_BUF_INIT;
        cn_buf_puts(&b, "{\"error\":");
        const char *m = cn_err_msg(&err);
        put_str(&b, m, (uint32_t)strlen(m));
        cn_buf_puts(&b, "}\n");
        fwrite(b.data, 1, b.len, stdout);
        cn_buf_fini(&b);
    }
    cn_col_batch_free(rows);
    cn_col_schema_free(in);
    cn_col_schema_free(out);
    cn_free(kid);
    cn_free(sign);
    json_decref(spec);
    cn_arena_fini(&a);
    return rc < 0 ? 3 : 0;
}
