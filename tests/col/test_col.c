/* test_col.c: types, schemas, vector appenders, batch reset/copy and invariant checks. */
#include "cn_test.h"

#include "base/alloc.h"
#include "col/col.h"

static void type_names_and_parse(void **state) {
    (void)state;
    CnArena a;
    cn_arena_init(&a, 0);
    char buf[128];
    CnErr err = CN_ERR_INIT;
    const CnType *t = NULL;
    ASSERT_OK(cn_col_type_parse(&a, "list<float64>", &t, &err), &err);
    assert_int_equal(t->id, CN_COL_LIST);
    assert_string_equal(cn_col_type_name(t, buf, sizeof buf), "list<float64>");
    ASSERT_OK(cn_col_type_parse(&a, "map<string, long>", &t, &err), &err);
    assert_string_equal(cn_col_type_name(t, buf, sizeof buf), "map<string,int64>");
    assert_false(t->children[0].nullable);
    ASSERT_OK(cn_col_type_parse(&a, "struct<a:int32,b:list<string>>", &t, &err), &err);
    assert_string_equal(cn_col_type_name(t, buf, sizeof buf), "struct<a:int32,b:list<string>>");
    const CnType *u = NULL;
    ASSERT_OK(cn_col_type_parse(&a, "struct<a:int,b:array<string>>", &u, &err), &err);
    assert_true(cn_col_type_equal(t, u));
    ASSERT_ERR(cn_col_type_parse(&a, "list<decimal>", &t, &err), CN_EINVAL, &err);
    ASSERT_CONTAINS(cn_err_msg(&err), "list<decimal>");
    cn_err_clear(&err);
    ASSERT_ERR(cn_col_type_parse(&a, "map<list<int>,int>", &t, &err), CN_EINVAL, &err);
    cn_err_clear(&err);
    ASSERT_ERR(cn_col_type_parse(&a, "int64 x", &t, &err), CN_EINVAL, &err);
    /* truncation never overruns */
    ASSERT_OK(cn_col_type_parse(&a, "map<string,list<float64>>", &t, &err), &err);
    char small[8];
    cn_col_type_name(t, small, sizeof small);
    assert_string_equal(small, "map<str");
    assert_int_equal(cn_col_type_width(CN_COL_DATE), 4);
    assert_int_equal(cn_col_type_width(CN_COL_TIMESTAMP), 8);
    assert_int_equal(cn_col_type_width(CN_COL_STRING), 0);
    cn_arena_fini(&a);
}

static void schema_add_find_project(void **state) {
    (void)state;
    CnSchema *s = NULL, *p = NULL;
    CnErr err = CN_ERR_INIT;
    ASSERT_OK(cn_col_schema_new(&s), &err);
    for (int i = 0; i < 40; i++) {
        char nm[16];
        snprintf(nm, sizeof nm, "c%d", i);
        ASSERT_OK(cn_col_schema_add(s, nm, cn_col_type_prim(CN_COL_INT64), true, i + 1, &err), &err);
    }
    ASSERT_ERR(cn_col_schema_add(s, "c3", cn_col_type_prim(CN_COL_INT32), true, 99, &err), CN_EEXISTS, &err);
    assert_int_equal(cn_col_schema_find(s, "c39"), 39);
    assert_int_equal(cn_col_schema_find(s, "nope"), -1);
    cn_err_clear(&err);
    const char *names[] = {"c7", "c2"};
    ASSERT_OK(cn_col_schema_project(s, names, 2, &p, &err), &err);
    assert_int_equal(p->n_fields, 2);
    assert_string_equal(p->fields[0].name, "c7");
    assert_int_equal(p->fields[0].field_id, 8);
    cn_col_schema_free(p);
    const char *bad[] = {"zz"};
    ASSERT_ERR(cn_col_schema_project(s, bad, 1, &p, &err), CN_ENOTFOUND, &err);
    ASSERT_CONTAINS(cn_err_msg(&err), "\"zz\"");
    assert_null(p);
    cn_col_schema_free(s);
}

/* A schema covering every type, filled row by row, checked value by value. */
/* Every primitive type, then (with nested) a list and a map column. */
static CnSchema *types_schema(bool nested) {
    CnSchema *s = NULL;
    CnErr err = CN_ERR_INIT;
    assert_int_equal(cn_col_schema_new(&s), 0);
    static const CnTypeId prims[] = {CN_COL_BOOL, CN_COL_INT32, CN_COL_INT64, CN_COL_FLOAT32,
                                     CN_COL_FLOAT64, CN_COL_DATE, CN_COL_TIMESTAMP, CN_COL_STRING,
                                     CN_COL_BINARY};
    for (size_t i = 0; i < CN_ARRAY_LEN(prims); i++)
        ASSERT_OK(cn_col_schema_add(s, cn_col_type_id_name(prims[i]), cn_col_type_prim(prims[i]), true,
                                    (int32_t)i + 1, &err), &err);
    if (!nested) return s;
    const CnType *l = cn_col_type_list(&s->arena, cn_col_type_prim(CN_COL_FLOAT64), true, 100);
    const CnType *m = cn_col_type_map(&s->arena, cn_col_type_prim(CN_COL_STRING),
                                      cn_col_type_prim(CN_COL_INT64), true, 101, 102);
    ASSERT_OK(cn_col_schema_add(s, "l", l, true, 20, &err), &err);
    ASSERT_OK(cn_col_schema_add(s, "m", m, true, 21, &err), &err);
    return s;
}

static CnSchema *all_types_schema(void) { return types_schema(true); }

static void fill_rows(CnBatch *b, uint32_t n) {
    CnErr err = CN_ERR_INIT;
    for (uint32_t r = 0; r < n; r++) {
        bool nul = r % 5 == 3;
        CnVec *c = b->cols;
        if (nul) {
            for (uint32_t k = 0; k < b->n_cols; k++) assert_int_equal(cn_col_vec_append_null(&c[k]), 0);
            continue;
        }
        char s[32];
        int len = snprintf(s, sizeof s, "v%u", r * 7);
        cn_col_vec_append_bool(&c[0], r & 1);
        cn_col_vec_append_i32(&c[1], (int32_t)r - 50);
        cn_col_vec_append_i64(&c[2], (int64_t)r * 1000000007LL);
        cn_col_vec_append_f32(&c[3], (float)r / 4);
        cn_col_vec_append_f64(&c[4], (double)r / 3);
        cn_col_vec_append_i32(&c[5], 19000 + (int32_t)r);
        cn_col_vec_append_i64(&c[6], 1700000000000LL + r);
        cn_col_vec_append_str(&c[7], s, (size_t)len);
        cn_col_vec_append_str(&c[8], s, (size_t)len);
        for (uint32_t j = 0; b->n_cols > 9 && j < r % 4; j++) {
            if (j == 1) cn_col_vec_append_null(&c[9].child[0]);
            else cn_col_vec_append_f64(&c[9].child[0], r + j * 0.5);
            cn_col_vec_append_str(&c[10].child[0], s, (size_t)len - (j % 2));
            cn_col_vec_append_i64(&c[10].child[1], (int64_t)j);
        }
        if (b->n_cols > 9) {
            cn_col_vec_close_list(&c[9]);
            cn_col_vec_close_list(&c[10]);
        }
    }
    ASSERT_OK(cn_col_batch_sync_rows(b, &err), &err);
    ASSERT_OK(cn_col_batch_check(b, &err), &err);
}

static void check_rows(const CnBatch *b, uint32_t n) {
    assert_int_equal(b->n_rows, n);
    for (uint32_t r = 0; r < n; r++) {
        const CnVec *c = b->cols;
        bool nul = r % 5 == 3;
        for (uint32_t k = 0; k < b->n_cols; k++) assert_int_equal(cn_col_vec_is_valid(&c[k], r), !nul);
        if (nul) continue;
        char s[32];
        snprintf(s, sizeof s, "v%u", r * 7);
        assert_int_equal(((uint8_t *)c[0].values)[r], r & 1);
        assert_int_equal(((int32_t *)c[1].values)[r], (int32_t)r - 50);
        assert_true(((int64_t *)c[2].values)[r] == (int64_t)r * 1000000007LL);
        assert_true(((float *)c[3].values)[r] == (float)r / 4);
        assert_true(((double *)c[4].values)[r] == (double)r / 3);
        assert_int_equal(((int32_t *)c[5].values)[r], 19000 + (int32_t)r);
        assert_true(((int64_t *)c[6].values)[r] == 1700000000000LL + r);
        uint32_t len;
        const char *p = cn_col_vec_str(&c[7], r, &len);
        assert_int_equal(len, strlen(s));
        assert_memory_equal(p, s, len);
        assert_int_equal(c[9].offsets[r + 1] - c[9].offsets[r], r % 4);
        for (uint32_t j = 0; j < r % 4; j++) {
            uint32_t e = c[9].offsets[r] + j;
            assert_int_equal(cn_col_vec_is_valid(&c[9].child[0], e), j != 1);
            if (j != 1) assert_true(((double *)c[9].child[0].values)[e] == r + j * 0.5);
            assert_true(((int64_t *)c[10].child[1].values)[c[10].offsets[r] + j] == (int64_t)j);
        }
    }
}

static void batch_build_reset_copy(void **state) {
    (void)state;
    CnSchema *s = all_types_schema();
    CnBatch *b = NULL, *d = NULL;
    CnErr err = CN_ERR_INIT;
    ASSERT_OK(cn_col_batch_new(s, &b, &err), &err);
    fill_rows(b, 1000);
    check_rows(b, 1000);
    /* after reset: same capacity, fresh contents, validity gone */
    uint32_t cap = b->cols[2].cap;
    uint64_t allocs = cn_alloc_count();
    cn_col_batch_reset(b);
    assert_int_equal(b->n_rows, 0);
    assert_null(b->cols[0].valid);
    fill_rows(b, 1000);
    check_rows(b, 1000);
    assert_int_equal(b->cols[2].cap, cap);
    assert_true(cn_alloc_count() - allocs < 20); /* only the validity bitmaps come back */
    /* append everything, then a selection */
    ASSERT_OK(cn_col_batch_new(s, &d, &err), &err);
    ASSERT_OK(cn_col_batch_append_rows(d, b, NULL, 0, &err), &err);
    ASSERT_OK(cn_col_batch_check(d, &err), &err);
    check_rows(d, 1000);
    cn_col_batch_reset(d);
    uint32_t sel[] = {3, 8, 9, 500};
    ASSERT_OK(cn_col_batch_append_rows(d, b, sel, 4, &err), &err);
    ASSERT_OK(cn_col_batch_check(d, &err), &err);
    assert_int_equal(d->n_rows, 4);
    assert_false(cn_col_vec_is_valid(&d->cols[2], 0));
    assert_true(((int64_t *)d->cols[2].values)[3] == 500LL * 1000000007LL);
    assert_int_equal(d->cols[9].offsets[4] - d->cols[9].offsets[3], 0);
    assert_int_equal(d->cols[9].offsets[3] - d->cols[9].offsets[2], 1);
    CnScalar sc;
    cn_col_vec_get(&d->cols[7], 3, &sc);
    assert_int_equal(sc.v.s.len, 5);
    assert_memory_equal(sc.v.s.p, "v3500", 5);
    assert_int_equal((uintptr_t)d->cols[2].values % 64, 0);
    cn_col_batch_free(d);
    cn_col_batch_free(b);
    cn_col_schema_free(s);
}

static void check_catches_broken_invariants(void **state) {
    (void)state;
    CnSchema *s = all_types_schema();
    CnBatch *b = NULL;
    CnErr err = CN_ERR_INIT;
    ASSERT_OK(cn_col_batch_new(s, &b, &err), &err);
    fill_rows(b, 10);
    b->cols[9].offsets[5] = 0; /* decreasing offsets */
    ASSERT_ERR(cn_col_batch_check(b, &err), CN_EINTERNAL, &err);
    ASSERT_CONTAINS(cn_err_msg(&err), "column \"l\"");
    cn_col_batch_reset(b);
    fill_rows(b, 10);
    cn_err_clear(&err);
    b->cols[1].n_null = 0; /* count disagrees with bitmap */
    ASSERT_ERR(cn_col_batch_check(b, &err), CN_EINTERNAL, &err);
    ASSERT_CONTAINS(cn_err_msg(&err), "n_null");
    cn_col_batch_reset(b);
    fill_rows(b, 10);
    cn_err_clear(&err);
    cn_col_vec_append_i32(&b->cols[1], 5); /* ragged columns */
    ASSERT_ERR(cn_col_batch_sync_rows(b, &err), CN_EINTERNAL, &err);
    cn_col_batch_free(b);
    cn_col_schema_free(s);
}

static void append_range_matches_row_copies(void **state) {
    (void)state;
    CnSchema *s = all_types_schema();
    CnBatch *b = NULL, *x = NULL, *y = NULL;
    CnErr err = CN_ERR_INIT;
    ASSERT_OK(cn_col_batch_new(s, &b, &err), &err);
    ASSERT_OK(cn_col_batch_new(s, &x, &err), &err);
    ASSERT_OK(cn_col_batch_new(s, &y, &err), &err);
    fill_rows(b, 700);
    /* ranges that start and end inside validity words, appended after a prefix */
    uint32_t starts[] = {0, 37, 63, 64, 129, 500}, lens[] = {1, 100, 2, 64, 300, 200};
    for (size_t t = 0; t < CN_ARRAY_LEN(starts); t++) {
        for (uint32_t c = 0; c < b->n_cols; c++) {
            ASSERT_OK(cn_col_vec_append_range(&x->cols[c], &b->cols[c], starts[t], lens[t]), &err);
            for (uint32_t i = 0; i < lens[t]; i++)
                ASSERT_OK(cn_col_vec_append_from(&y->cols[c], &b->cols[c], starts[t] + i), &err);
        }
    }
    ASSERT_OK(cn_col_batch_sync_rows(x, &err), &err);
    ASSERT_OK(cn_col_batch_sync_rows(y, &err), &err);
    ASSERT_OK(cn_col_batch_check(x, &err), &err);
    assert_int_equal(x->n_rows, y->n_rows);
    for (uint32_t c = 0; c < x->n_cols; c++) {
        const CnVec *u = &x->cols[c], *v = &y->cols[c];
        assert_int_equal(u->n_null, v->n_null);
        for (uint32_t i = 0; i < x->n_rows; i++) {
            assert_int_equal(cn_col_vec_is_valid(u, i), cn_col_vec_is_valid(v, i));
            size_t w = cn_col_type_width(u->type->id);
            if (w && cn_col_vec_is_valid(u, i))
                assert_memory_equal((char *)u->values + i * w, (char *)v->values + i * w, w);
            if (u->offsets) assert_int_equal(u->offsets[i + 1] - u->offsets[i], v->offsets[i + 1] - v->offsets[i]);
        }
    }
    assert_memory_equal(x->cols[7].bytes, y->cols[7].bytes, x->cols[7].offsets[x->n_rows]);
    cn_col_batch_free(x);
    cn_col_batch_free(y);
    cn_col_batch_free(b);
    cn_col_schema_free(s);
}

/* A view of rows [start, start + n) reads as those rows, holds every invariant and
 * shares the fixed-width values; selections and nested columns are refused. */
static void batch_view_of_rows(void **state) {
    (void)state;
    CnSchema *s = types_schema(false);
    CnBatch *b = NULL;
    CnErr err = CN_ERR_INIT;
    ASSERT_OK(cn_col_batch_new(s, &b, &err), &err);
    fill_rows(b, 700);
    uint32_t starts[] = {0, 1, 3, 37, 63, 64, 65, 128, 500, 700}, lens[] = {700, 64, 2, 100, 1, 64, 635, 300, 200, 0};
    for (size_t t = 0; t < CN_ARRAY_LEN(starts); t++) {
        CnBatch *v = NULL;
        ASSERT_OK(cn_col_batch_view(b, starts[t], lens[t], &v, &err), &err);
        ASSERT_OK(cn_col_batch_check(v, &err), &err);
        assert_int_equal(v->n_rows, lens[t]);
        for (uint32_t c = 0; c < v->n_cols; c++) {
            const CnVec *x = &v->cols[c], *y = &b->cols[c];
            size_t w = cn_col_type_width(x->type->id);
            uint32_t nulls = 0;
            for (uint32_t i = 0; i < lens[t]; i++) {
                uint32_t r = starts[t] + i;
                assert_int_equal(cn_col_vec_is_valid(x, i), cn_col_vec_is_valid(y, r));
                nulls += !cn_col_vec_is_valid(y, r);
                if (w) assert_ptr_equal((char *)x->values + i * w, (char *)y->values + (size_t)r * w);
                if (x->offsets && cn_col_vec_is_valid(x, i)) {
                    uint32_t lx, ly;
                    const char *px = cn_col_vec_str(x, i, &lx), *py = cn_col_vec_str(y, r, &ly);
                    assert_int_equal(lx, ly);
                    assert_memory_equal(px, py, lx);
                }
            }
            assert_int_equal(x->n_null, nulls);
        }
        cn_col_batch_free(v);
    }
    CnBatch *v = NULL;
    ASSERT_ERR(cn_col_batch_view(b, 600, 101, &v, &err), CN_EINVAL, &err);
    cn_err_clear(&err);
    uint32_t sel[] = {1, 2};
    b->sel = sel, b->n_sel = 2;
    ASSERT_ERR(cn_col_batch_view(b, 0, 1, &v, &err), CN_EINVAL, &err);
    cn_err_clear(&err);
    assert_null(v);
    cn_col_batch_free(b);
    cn_col_schema_free(s);
    s = all_types_schema();
    ASSERT_OK(cn_col_batch_new(s, &b, &err), &err);
    fill_rows(b, 10);
    ASSERT_ERR(cn_col_batch_view(b, 0, 5, &v, &err), CN_EINVAL, &err);
    ASSERT_CONTAINS(cn_err_msg(&err), "nested");
    cn_err_clear(&err);
    cn_col_batch_free(b);
    cn_col_schema_free(s);
}

static void struct_vectors_append_and_null(void **state) {
    (void)state;
    CnSchema *s = NULL;
    CnErr err = CN_ERR_INIT;
    ASSERT_OK(cn_col_schema_new(&s), &err);
    const CnType *t = NULL;
    ASSERT_OK(cn_col_type_parse(&s->arena, "struct<a:int64,b:string>", &t, &err), &err);
    ASSERT_OK(cn_col_schema_add(s, "st", t, true, 1, &err), &err);
    CnBatch *b = NULL;
    ASSERT_OK(cn_col_batch_new(s, &b, &err), &err);
    CnVec *v = &b->cols[0];
    cn_col_vec_append_i64(&v->child[0], 7);
    cn_col_vec_append_str(&v->child[1], "x", 1);
    ASSERT_OK(cn_col_vec_close_struct(v), &err);
    ASSERT_OK(cn_col_vec_append_null(v), &err);
    ASSERT_OK(cn_col_batch_sync_rows(b, &err), &err);
    ASSERT_OK(cn_col_batch_check(b, &err), &err);
    assert_int_equal(b->n_rows, 2);
    assert_false(cn_col_vec_is_valid(v, 1));
    assert_int_equal(v->child[0].n, 2);
    /* a deep copy of the schema keeps names and types */
    CnSchema *c = NULL;
    ASSERT_OK(cn_col_schema_copy(s, &c, &err), &err);
    assert_true(cn_col_type_equal(c->fields[0].type, t));
    assert_string_equal(c->fields[0].type->children[1].name, "b");
    cn_col_schema_free(c);
    cn_col_batch_free(b);
    cn_col_schema_free(s);
}

CN_TEST_MAIN(cmocka_unit_test(type_names_and_parse), cmocka_unit_test(schema_add_find_project),
             cmocka_unit_test(batch_build_reset_copy), cmocka_unit_test(check_catches_broken_invariants),
             cmocka_unit_test(append_range_matches_row_copies), cmocka_unit_test(struct_vectors_append_and_null),
             cmocka_unit_test(batch_view_of_rows))
