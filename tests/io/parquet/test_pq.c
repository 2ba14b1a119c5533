/* test_pq.c: Parquet writer/reader round trips over every type, nullability, codec,
 * page version and encoding; row groups, dictionary fallback, statistics, projection,
 * pruning, nested lists/maps; and bad files (truncated, bad magic, corrupted footer or
 * pages, unsupported codec) that must fail with an error naming file, column and row
 * group, never crash. Seeded: CN_TEST_SEED replays a failure. */
#include "cn_test.h"

#include <errno.h>
#include <math.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/fs.h"
#include "col/col.h"
#include "io/parquet/pq.h"
#include "io/parquet/pq_int.h"

/* ------------------------------------------------------------- helpers */

static uint64_t rng_state;

static uint64_t rnd(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static uint64_t seed_init(void) {
    const char *s = getenv("CN_TEST_SEED");
    uint64_t seed = s && *s ? strtoull(s, NULL, 10) : 20240611;
    rng_state = seed ? seed : 1;
    return seed;
}

static char tmpdir[512];

/* A path in this run's scratch directory; rotates over 4 buffers so a test can hold a
 * few paths at once. */
static const char *tmp_path(const char *name) {
    static char bufs[4][1024];
    static int next;
    char *buf = bufs[next++ % 4];
    if (!tmpdir[0]) {
        const char *b = getenv("CN_BUILD_DIR");
        snprintf(tmpdir, sizeof tmpdir, "%s/tmp-pq-%ld", b && *b ? b : "/tmp", (long)getpid());
        mkdir(tmpdir, 0755);
    }
    snprintf(buf, sizeof bufs[0], "%s/%s", tmpdir, name);
    return buf;
}

/* Every supported type, nullable (n_*) and required (r_*), plus nested columns. */
static CnSchema *make_schema(void) {
    CnSchema *s = NULL;
    CnErr err = CN_ERR_INIT;
    assert_int_equal(cn_col_schema_new(&s), 0);
    static const CnTypeId prims[] = {CN_COL_BOOL, CN_COL_INT32, CN_COL_INT64, CN_COL_FLOAT32, CN_COL_FLOAT64,
                                     CN_COL_DATE, CN_COL_TIMESTAMP, CN_COL_STRING, CN_COL_BINARY};
    int32_t id = 1;
    for (int nul = 0; nul < 2; nul++)
        for (size_t i = 0; i < CN_ARRAY_LEN(prims); i++) {
            char nm[32];
            snprintf(nm, sizeof nm, "%s_%s", nul ? "n" : "r", cn_col_type_id_name(prims[i]));
            ASSERT_OK(cn_col_schema_add(s, nm, cn_col_type_prim(prims[i]), nul, id++, &err), &err);
        }
    CnArena *a = &s->arena;
    ASSERT_OK(cn_col_schema_add(s, "l_f64", cn_col_type_list(a, cn_col_type_prim(CN_COL_FLOAT64), true, 100), true, 50, &err), &err);
    ASSERT_OK(cn_col_schema_add(s, "l_str_req", cn_col_type_list(a, cn_col_type_prim(CN_COL_STRING), false, 101), false, 51, &err), &err);
    ASSERT_OK(cn_col_schema_add(s, "m_str_i64", cn_col_type_map(a, cn_col_type_prim(CN_COL_STRING), cn_col_type_prim(CN_COL_INT64), true, 102, 103), true, 52, &err), &err);
    ASSERT_OK(cn_col_schema_add(s, "m_i32_str_req", cn_col_type_map(a, cn_col_type_prim(CN_COL_INT32), cn_col_type_prim(CN_COL_STRING), false, 104, 105), false, 53, &err), &err);
    return s;
}

static void append_prim(CnVec *v, uint32_t r, bool lowcard) {
    uint64_t x = lowcard ? rnd() % 7 : rnd();
    switch (v->type->id) {
    case CN_COL_BOOL: cn_col_vec_append_bool(v, x & 1); break;
    case CN_COL_INT32: cn_col_vec_append_i32(v, (int32_t)x); break;
    case CN_COL_DATE: cn_col_vec_append_i32(v, 18000 + (int32_t)(x % 3000)); break;
    case CN_COL_INT64: cn_col_vec_append_i64(v, (int64_t)x); break;
    case CN_COL_TIMESTAMP: cn_col_vec_append_i64(v, 1700000000000LL + (int64_t)(x % 100000000) - 50000000); break;
    case CN_COL_FLOAT32: cn_col_vec_append_f32(v, (float)((int64_t)(x % 20001) - 10000) / 8); break;
    case CN_COL_FLOAT64: cn_col_vec_append_f64(v, (double)(int64_t)x / 3.0); break;
    default: {
        char s[64];
        int n = lowcard ? snprintf(s, sizeof s, "k%u", (unsigned)x) : snprintf(s, sizeof s, "user_%llu_%u", (unsigned long long)(x % 100000), r);
        if (x % 11 == 0) n = 0; /* empty strings too */
        cn_col_vec_append_str(v, s, (size_t)n);
        break;
    }
    }
}

/* Fills n rows; nulls about one in 6 for nullable columns; lists of 0-4 elements. */
static void fill(CnBatch *b, uint32_t n, bool lowcard) {
    CnErr err = CN_ERR_INIT;
    for (uint32_t r = 0; r < n; r++) {
        for (uint32_t c = 0; c < b->n_cols; c++) {
            CnVec *v = &b->cols[c];
            bool nullable = b->schema->fields[c].nullable;
            if (nullable && rnd() % 6 == 0) {
                cn_col_vec_append_null(v);
                continue;
            }
            if (v->type->id == CN_COL_LIST || v->type->id == CN_COL_MAP) {
                uint32_t k = (uint32_t)(rnd() % 5);
                bool enull = v->type->id == CN_COL_LIST ? v->type->children[0].nullable : v->type->children[1].nullable;
                for (uint32_t j = 0; j < k; j++) {
                    if (v->type->id == CN_COL_LIST) {
                        if (enull && rnd() % 4 == 0) cn_col_vec_append_null(&v->child[0]);
                        else append_prim(&v->child[0], r, lowcard);
                    } else {
                        append_prim(&v->child[0], r, lowcard);
                        if (enull && rnd() % 4 == 0) cn_col_vec_append_null(&v->child[1]);
                        else append_prim(&v->child[1], r, lowcard);
                    }
                }
                cn_col_vec_close_list(v);
                continue;
            }
            append_prim(v, r, lowcard);
        }
    }
    ASSERT_OK(cn_col_batch_sync_rows(b, &err), &err);
    ASSERT_OK(cn_col_batch_check(b, &err), &err);
}

/* Entry i of a equals entry j of b (values, nulls, nested). Floats compare bitwise. */
static bool entry_equal(const CnVec *a, uint32_t i, const CnVec *b, uint32_t j) {
    bool va = cn_col_vec_is_valid(a, i), vb = cn_col_vec_is_valid(b, j);
    if (va != vb) return false;
    if (!va) return true;
    CnTypeId id = a->type->id;
    size_t w = cn_col_type_width(id);
    if (w) return memcmp((const char *)a->values + i * w, (const char *)b->values + j * w, w) == 0;
    if (id == CN_COL_STRING || id == CN_COL_BINARY) {
        uint32_t la, lb;
        const char *pa = cn_col_vec_str(a, i, &la), *pb = cn_col_vec_str(b, j, &lb);
        return la == lb && memcmp(pa, pb, la) == 0;
    }
    uint32_t na = a->offsets[i + 1] - a->offsets[i], nb = b->offsets[j + 1] - b->offsets[j];
    if (na != nb) return false;
    for (uint32_t k = 0; k < na; k++)
        for (uint32_t c = 0; c < a->n_child; c++)
            if (!entry_equal(&a->child[c], a->offsets[i] + k, &b->child[c], b->offsets[j] + k)) return false;
    return true;
}

/* Reads path fully, through cache's buffers when given, and compares with the rows of
 * expect (same schema). */
static void read_and_compare_cached(const char *path, const CnBatch *expect, uint32_t max_rows, CnPqReadCache *cache) {
    CnPqReader *r = NULL;
    CnErr err = CN_ERR_INIT;
    ASSERT_OK(cn_pq_reader_open(path, &r, &err), &err);
    ASSERT_OK(cn_pq_reader_set_cache(r, cache, &err), &err);
    const CnSchema *s = cn_pq_reader_schema(r);
    assert_int_equal(s->n_fields, expect->schema->n_fields);
    for (uint32_t c = 0; c < s->n_fields; c++) {
        char x[64], y[64];
        const CnField *f = &s->fields[c], *g = &expect->schema->fields[c];
        assert_string_equal(f->name, g->name);
        if (!cn_col_type_equal(f->type, g->type))
            fail_msg("column %s: read %s, wrote %s", f->name, cn_col_type_name(f->type, x, sizeof x),
                     cn_col_type_name(g->type, y, sizeof y));
        assert_int_equal(f->nullable, g->nullable);
        assert_int_equal(f->field_id, g->field_id);
    }
    uint32_t row = 0;
    const CnBatch *b;
    for (;;) {
        ASSERT_OK(cn_pq_reader_next(r, max_rows, &b, &err), &err);
        if (!b) break;
        ASSERT_OK(cn_col_batch_check(b, &err), &err);
        assert_true(b->n_rows <= max_rows);
        for (uint32_t c = 0; c < b->n_cols; c++)
            for (uint32_t i = 0; i < b->n_rows; i++)
                if (!entry_equal(&b->cols[c], i, &expect->cols[c], row + i))
                    fail_msg("%s: column %s row %u differs", path, expect->schema->fields[c].name, row + i);
        row += b->n_rows;
    }
    assert_int_equal(row, expect->n_rows);
    assert_int_equal(cn_pq_reader_meta(r)->n_rows, expect->n_rows);
    cn_pq_reader_close(r);
}

static void read_and_compare(const char *path, const CnBatch *expect, uint32_t max_rows) {
    read_and_compare_cached(path, expect, max_rows, NULL);
}

static void write_batch(const char *path, const CnBatch *b, const CnPqWriteOpts *o, uint32_t chunk) {
    CnPqWriter *w = NULL;
    CnErr err = CN_ERR_INIT;
    ASSERT_OK(cn_pq_writer_open(path, b->schema, o, &w, &err), &err);
    /* feed in pieces through selections, as an operator would */
    uint32_t *sel = cn_malloc((size_t)b->n_rows * 4 + 4);
    for (uint32_t at = 0; at < b->n_rows; at += chunk) {
        uint32_t k = CN_MIN(chunk, b->n_rows - at);
        CnBatch view = *b;
        for (uint32_t i = 0; i < k; i++) sel[i] = at + i;
        view.sel = sel;
        view.n_sel = k;
        ASSERT_OK(cn_pq_writer_write(w, &view, &err), &err);
    }
    cn_free(sel);
    ASSERT_OK(cn_pq_writer_set_kv(w, "chronon.test", "yes", &err), &err);
    ASSERT_OK(cn_pq_writer_finish(w, &err), &err);
    const CnPqMeta *m = cn_pq_writer_meta(w);
    assert_non_null(m);
    assert_int_equal(m->n_rows, b->n_rows);
    cn_pq_writer_free(w);
}

static void roundtrip_codec(CnPqCodec codec) {
    uint64_t seed = seed_init();
    CnSchema *s = make_schema();
    CnBatch *b = NULL;
    CnErr err = CN_ERR_INIT;
    ASSERT_OK(cn_col_batch_new(s, &b, &err), &err);
    static const int ints[] = {CN_PQ_ENC_PLAIN, CN_PQ_ENC_DELTA_BINARY_PACKED};
    static const int bytes[] = {CN_PQ_ENC_PLAIN, CN_PQ_ENC_DELTA_LENGTH_BYTE_ARRAY, CN_PQ_ENC_DELTA_BYTE_ARRAY};
    int variant = 0;
    for (int pv = 1; pv <= 2; pv++)
        for (int dict = 0; dict < 2; dict++)
            for (int lowcard = 0; lowcard < 2; lowcard++)
                for (size_t e = 0; e < CN_ARRAY_LEN(bytes); e++) {
                    cn_col_batch_reset(b);
                    fill(b, 1500 + (uint32_t)(rnd() % 500), lowcard);
                    CnPqWriteOpts o;
                    cn_pq_write_opts_init(&o);
                    o.codec = codec;
                    o.page_version = pv;
                    o.dictionary = dict;
                    o.row_group_rows = 600;
                    o.page_bytes = 1500; /* several pages per chunk */
                    o.int_encoding = ints[e % 2];
                    o.bytes_encoding = bytes[e];
                    char name[64];
                    snprintf(name, sizeof name, "rt-%d-%d.parquet", (int)codec, variant++);
                    const char *path = tmp_path(name);
                    write_batch(path, b, &o, 257);
                    read_and_compare(path, b, 65536);
                    read_and_compare(path, b, 97);
                    unlink(path);
                }
    (void)seed;
    cn_col_batch_free(b);
    cn_col_schema_free(s);
}

static void roundtrip_uncompressed(void **state) { (void)state; roundtrip_codec(CN_PQ_CODEC_UNCOMPRESSED); }
static void roundtrip_snappy(void **state) { (void)state; roundtrip_codec(CN_PQ_CODEC_SNAPPY); }
static void roundtrip_gzip(void **state) { (void)state; roundtrip_codec(CN_PQ_CODEC_GZIP); }
static void roundtrip_zstd(void **state) { (void)state; roundtrip_codec(CN_PQ_CODEC_ZSTD); }

/* One int64 column "k", one string column "s": the workhorse of the smaller tests. */
static CnSchema *ks_schema(void) {
    CnSchema *s = NULL;
    CnErr err = CN_ERR_INIT;
    assert_int_equal(cn_col_schema_new(&s), 0);
    ASSERT_OK(cn_col_schema_add(s, "k", cn_col_type_prim(CN_COL_INT64), false, 1, &err), &err);
    ASSERT_OK(cn_col_schema_add(s, "s", cn_col_type_prim(CN_COL_STRING), true, 2, &err), &err);
    return s;
}

static void write_ks(const char *path, uint32_t n, uint32_t rg_rows, uint32_t s_card, const CnPqWriteOpts *opt) {
    CnSchema *s = ks_schema();
    CnBatch *b = NULL;
    CnErr err = CN_ERR_INIT;
    ASSERT_OK(cn_col_batch_new(s, &b, &err), &err);
    for (uint32_t i = 0; i < n; i++) {
        cn_col_vec_append_i64(&b->cols[0], (int64_t)i * 10 - 5000);
        char buf[32];
        int len = snprintf(buf, sizeof buf, "v%05u", s_card ? i % s_card : i);
        cn_col_vec_append_str(&b->cols[1], buf, (size_t)len);
    }
    ASSERT_OK(cn_col_batch_sync_rows(b, &err), &err);
    CnPqWriteOpts o;
    if (opt) o = *opt;
    else cn_pq_write_opts_init(&o);
    o.row_group_rows = rg_rows;
    write_batch(path, b, &o, 1000);
    cn_col_batch_free(b);
    cn_col_schema_free(s);
}

/* ---------------------------------------------------------------- tests */

/* One read cache lent to readers of files one after another (a scan's files): files of
 * different schemas, codecs and page versions read in turn through it give their own
 * rows, whole row groups and slices alike; a cache is lent before the first read only. */
static void read_cache_serves_files_in_turn(void **state) {
    (void)state;
    seed_init();
    CnErr err = CN_ERR_INIT;
    CnSchema *full = make_schema(), *ks = ks_schema();
    CnBatch *bs[3] = {NULL, NULL, NULL};
    const char *paths[3];
    for (int f = 0; f < 3; f++) {
        ASSERT_OK(cn_col_batch_new(f == 1 ? ks : full, &bs[f], &err), &err);
        fill(bs[f], 1200 + (uint32_t)(rnd() % 900), f == 2);
        CnPqWriteOpts o;
        cn_pq_write_opts_init(&o);
        o.codec = f == 2 ? CN_PQ_CODEC_SNAPPY : CN_PQ_CODEC_ZSTD;
        o.page_version = f == 2 ? 2 : 1;
        o.dictionary = f != 1;
        o.row_group_rows = 700;
        o.page_bytes = 2000;
        char name[32];
        snprintf(name, sizeof name, "cache-%d.parquet", f);
        paths[f] = tmp_path(name);
        write_batch(paths[f], bs[f], &o, 311);
    }
    CnPqReadCache *cache = NULL;
    ASSERT_OK(cn_pq_read_cache_new(&cache, &err), &err);
    static const int order[] = {0, 0, 1, 2, 0, 1, 1, 2};
    for (size_t i = 0; i < CN_ARRAY_LEN(order); i++)
        read_and_compare_cached(paths[order[i]], bs[order[i]], i % 2 ? 700 : 256, cache);
    CnPqReader *r = NULL;
    const CnBatch *b = NULL;
    ASSERT_OK(cn_pq_reader_open(paths[1], &r, &err), &err);
    ASSERT_OK(cn_pq_reader_next(r, 0, &b, &err), &err);
    assert_non_null(b);
    ASSERT_ERR(cn_pq_reader_set_cache(r, cache, &err), CN_EINVAL, &err);
    cn_pq_reader_close(r);
    cn_pq_read_cache_free(cache);
    for (int f = 0; f < 3; f++) {
        unlink(paths[f]);
        cn_col_batch_free(bs[f]);
    }
    cn_col_schema_free(full);
    cn_col_schema_free(ks);
}

static void batches_never_span_row_groups(void **state) {
    (void)state;
    const char *path = tmp_path("rg.parquet");
    write_ks(path, 2500, 1000, 0, NULL);
    CnPqReader *r = NULL;
    CnErr err = CN_ERR_INIT;
    ASSERT_OK(cn_pq_reader_open(path, &r, &err), &err);
    const CnPqMeta *m = cn_pq_reader_meta(r);
    assert_int_equal(m->n_row_groups, 3);
    assert_int_equal(m->row_groups[2].n_rows, 500);
    uint32_t sizes[16], nb = 0, total = 0;
    const CnBatch *b;
    int64_t expect = -5000;
    for (;;) {
        ASSERT_OK(cn_pq_reader_next(r, 400, &b, &err), &err);
        if (!b) break;
        sizes[nb++] = b->n_rows;
        for (uint32_t i = 0; i < b->n_rows; i++, expect += 10) assert_true(((int64_t *)b->cols[0].values)[i] == expect);
        total += b->n_rows;
    }
    assert_int_equal(total, 2500);
    /* 1000 = 400 + 400 + 200 per row group, the last 500 = 400 + 100 */
    uint32_t want[] = {400, 400, 200, 400, 400, 200, 400, 100};
    assert_int_equal(nb, CN_ARRAY_LEN(want));
    for (uint32_t i = 0; i < nb; i++) assert_int_equal(sizes[i], want[i]);
    /* the end is sticky and repeatable */
    ASSERT_OK(cn_pq_reader_next(r, 400, &b, &err), &err);
    assert_null(b);
    cn_pq_reader_close(r);
    unlink(path);
}

static void dictionary_used_then_falls_back(void **state) {
    (void)state;
    const char *lo = tmp_path("dict-lo.parquet"), *hi = tmp_path("dict-hi.parquet");
    CnPqWriteOpts o;
    cn_pq_write_opts_init(&o);
    o.dict_max_bytes = 4096;
    write_ks(lo, 5000, 5000, 10, &o);   /* 10 distinct strings: dictionary */
    write_ks(hi, 5000, 5000, 0, &o);    /* 5000 distinct: dictionary too big -> PLAIN */
    CnPqReader *r = NULL;
    CnErr err = CN_ERR_INIT;
    ASSERT_OK(cn_pq_reader_open(lo, &r, &err), &err);
    const CnPqChunk *c = &cn_pq_reader_meta(r)->row_groups[0].chunks[1];
    assert_true(c->encodings & (1u << CN_PQ_ENC_RLE_DICT));
    assert_true(c->dict_page_offset > 0);
    cn_pq_reader_close(r);
    ASSERT_OK(cn_pq_reader_open(hi, &r, &err), &err);
    c = &cn_pq_reader_meta(r)->row_groups[0].chunks[1];
    assert_false(c->encodings & (1u << CN_PQ_ENC_RLE_DICT));
    assert_int_equal(c->dict_page_offset, -1);
    /* and the values still read back right */
    const CnBatch *b;
    ASSERT_OK(cn_pq_reader_next(r, 0, &b, &err), &err);
    uint32_t len;
    const char *p = cn_col_vec_str(&b->cols[1], 4321, &len);
    assert_int_equal(len, 6);
    assert_memory_equal(p, "v04321", 6);
    cn_pq_reader_close(r);
    unlink(lo);
    unlink(hi);
}

/* 4- and 8-byte values too spread out for the direct map (doubles, wide ints) take the
 * hashed dictionary when they repeat: a dictionary page, and every bit read back (-0.0
 * apart from 0.0, a NaN's payload); all distinct in the first 8192, or past
 * dict_max_bytes, they fall back to PLAIN. */
static void fixed_width_dictionary_keeps_bits(void **state) {
    (void)state;
    seed_init();
    CnSchema *s = NULL;
    CnErr err = CN_ERR_INIT;
    assert_int_equal(cn_col_schema_new(&s), 0);
    ASSERT_OK(cn_col_schema_add(s, "d", cn_col_type_prim(CN_COL_FLOAT64), true, 1, &err), &err);
    ASSERT_OK(cn_col_schema_add(s, "i", cn_col_type_prim(CN_COL_INT32), false, 2, &err), &err);
    ASSERT_OK(cn_col_schema_add(s, "l", cn_col_type_prim(CN_COL_INT64), false, 3, &err), &err);
    double pool_d[3000];
    int32_t pool_i[3000];
    for (uint32_t k = 0; k < 3000; k++) {
        uint64_t x = rnd();
        double d;
        memcpy(&d, &x, 8);
        pool_d[k] = isnan(d) ? (double)k : d; /* random bits: wide exponents, both signs */
        pool_i[k] = (int32_t)(uint32_t)rnd();
    }
    uint64_t nan_bits = UINT64_C(0x7ff8000000000abc);
    memcpy(&pool_d[0], &nan_bits, 8);
    pool_d[1] = -0.0, pool_d[2] = 0.0;
    for (int v = 0; v < 3; v++) { /* 0: repeats; 1: all distinct; 2: repeats past dict_max_bytes */
        CnBatch *b = NULL;
        ASSERT_OK(cn_col_batch_new(s, &b, &err), &err);
        for (uint32_t r = 0; r < 20000; r++) {
            uint32_t k = (uint32_t)(rnd() % 3000);
            if (v == 0 && r % 13 == 5) cn_col_vec_append_null(&b->cols[0]);
            else if (v == 1) cn_col_vec_append_f64(&b->cols[0], (double)r * 1e300 - 1e290);
            else cn_col_vec_append_f64(&b->cols[0], pool_d[k]);
            cn_col_vec_append_i32(&b->cols[1], v == 1 ? (int32_t)(r * 2654435761u) : pool_i[k]);
            cn_col_vec_append_i64(&b->cols[2], v == 1 ? (int64_t)r << 40 : (int64_t)pool_i[k] * 1048576);
        }
        ASSERT_OK(cn_col_batch_sync_rows(b, &err), &err);
        CnPqWriteOpts o;
        cn_pq_write_opts_init(&o);
        if (v == 2) o.dict_max_bytes = 4096;
        const char *path = tmp_path("dict-fixed.parquet");
        write_batch(path, b, &o, 3001);
        CnPqReader *r = NULL;
        ASSERT_OK(cn_pq_reader_open(path, &r, &err), &err);
        const CnPqRowGroup *rg = &cn_pq_reader_meta(r)->row_groups[0];
        for (uint32_t c = 0; c < 3; c++) {
            bool dict = (rg->chunks[c].encodings & (1u << CN_PQ_ENC_RLE_DICT)) != 0;
            if (dict != (v == 0)) fail_msg("variant %d column %u: dictionary %d", v, c, dict);
            assert_true(v == 0 ? rg->chunks[c].dict_page_offset > 0 : rg->chunks[c].dict_page_offset == -1);
        }
        cn_pq_reader_close(r);
        read_and_compare(path, b, 4096);
        unlink(path);
        cn_col_batch_free(b);
    }
    cn_col_schema_free(s);
}

/* Integer min/max statistics over every count of values up to 9 and a long column, with
 * and without a dictionary, extremes first or last (a scan that kept several minima and
 * maxima apart, unrolled, once counted lanes that saw no value). */
static void integer_statistics_any_count(void **state) {
    (void)state;
    seed_init();
    CnSchema *s = NULL;
    CnErr err = CN_ERR_INIT;
    assert_int_equal(cn_col_schema_new(&s), 0);
    ASSERT_OK(cn_col_schema_add(s, "i", cn_col_type_prim(CN_COL_INT32), false, 1, &err), &err);
    ASSERT_OK(cn_col_schema_add(s, "l", cn_col_type_prim(CN_COL_INT64), false, 2, &err), &err);
    const char *path = tmp_path("stats-int.parquet");
    for (uint32_t n = 1; n <= 10; n++) {
        uint32_t rows = n == 10 ? 5003 : n;
        for (int dict = 0; dict < 2; dict++) {
            CnBatch *b = NULL;
            ASSERT_OK(cn_col_batch_new(s, &b, &err), &err);
            int64_t mn32 = INT64_MAX, mx32 = INT64_MIN, mn64 = INT64_MAX, mx64 = INT64_MIN;
            for (uint32_t r = 0; r < rows; r++) {
                int32_t x = (int32_t)(uint32_t)rnd();
                int64_t y = (int64_t)rnd();
                if (r == rows - 1 && dict) x = INT32_MIN, y = INT64_MAX; /* an extreme last */
                cn_col_vec_append_i32(&b->cols[0], x);
                cn_col_vec_append_i64(&b->cols[1], y);
                mn32 = x < mn32 ? x : mn32, mx32 = x > mx32 ? x : mx32;
                mn64 = y < mn64 ? y : mn64, mx64 = y > mx64 ? y : mx64;
            }
            ASSERT_OK(cn_col_batch_sync_rows(b, &err), &err);
            CnPqWriteOpts o;
            cn_pq_write_opts_init(&o);
            o.dictionary = dict;
            write_batch(path, b, &o, 1000);
            CnPqReader *r = NULL;
            ASSERT_OK(cn_pq_reader_open(path, &r, &err), &err);
            const CnPqChunk *ch = cn_pq_reader_meta(r)->row_groups[0].chunks;
            int32_t a, z;
            int64_t a64, z64;
            assert_true(ch[0].stats.has_min_max && ch[1].stats.has_min_max);
            memcpy(&a, ch[0].stats.min, 4), memcpy(&z, ch[0].stats.max, 4);
            memcpy(&a64, ch[1].stats.min, 8), memcpy(&z64, ch[1].stats.max, 8);
            if (a != mn32 || z != mx32 || a64 != mn64 || z64 != mx64)
                fail_msg("%u rows, dictionary %d: int32 %d..%d (want %lld..%lld), int64 %lld..%lld (want %lld..%lld)",
                         rows, dict, a, z, (long long)mn32, (long long)mx32, (long long)a64, (long long)z64,
                         (long long)mn64, (long long)mx64);
            cn_pq_reader_close(r);
            cn_col_batch_free(b);
        }
    }
    unlink(path);
    cn_col_schema_free(s);
}

static void statistics_follow_type_order(void **state) {
    (void)state;
    CnSchema *s = NULL;
    CnErr err = CN_ERR_INIT;
    assert_int_equal(cn_col_schema_new(&s), 0);
    ASSERT_OK(cn_col_schema_add(s, "i", cn_col_type_prim(CN_COL_INT32), true, 1, &err), &err);
    ASSERT_OK(cn_col_schema_add(s, "s", cn_col_type_prim(CN_COL_STRING), true, 2, &err), &err);
    ASSERT_OK(cn_col_schema_add(s, "d", cn_col_type_prim(CN_COL_FLOAT64), true, 3, &err), &err);
    ASSERT_OK(cn_col_schema_add(s, "t", cn_col_type_prim(CN_COL_TIMESTAMP), true, 4, &err), &err);
    CnBatch *b = NULL;
    ASSERT_OK(cn_col_batch_new(s, &b, &err), &err);
    int32_t iv[] = {5, -7, 3, 0};
    const char *sv[] = {"b", "\xc3\xa9t\xc3\xa9", "a", "B"}; /* "été" sorts after ASCII (unsigned bytes) */
    double dv[] = {1.5, -0.0, 0.0 / 0.0, 2.5};
    for (int i = 0; i < 4; i++) {
        cn_col_vec_append_i32(&b->cols[0], iv[i]);
        cn_col_vec_append_str(&b->cols[1], sv[i], strlen(sv[i]));
        cn_col_vec_append_f64(&b->cols[2], dv[i]);
        cn_col_vec_append_i64(&b->cols[3], 1000 * (i + 1));
    }
    for (int c = 0; c < 4; c++) cn_col_vec_append_null(&b->cols[c]);
    ASSERT_OK(cn_col_batch_sync_rows(b, &err), &err);
    const char *path = tmp_path("stats.parquet");
    for (int micros = 0; micros < 2; micros++) {
        CnPqWriteOpts o;
        cn_pq_write_opts_init(&o);
        o.timestamp_micros = micros;
        write_batch(path, b, &o, 100);
        CnPqReader *r = NULL;
        ASSERT_OK(cn_pq_reader_open(path, &r, &err), &err);
        const CnPqChunk *ch = cn_pq_reader_meta(r)->row_groups[0].chunks;
        int32_t mn, mx;
        assert_true(ch[0].stats.has_min_max);
        memcpy(&mn, ch[0].stats.min, 4);
        memcpy(&mx, ch[0].stats.max, 4);
        assert_int_equal(mn, -7);
        assert_int_equal(mx, 5);
        assert_int_equal(ch[0].stats.null_count, 1);
        assert_int_equal(ch[1].stats.min_len, 1);
        assert_memory_equal(ch[1].stats.min, "B", 1);
        assert_int_equal(ch[1].stats.max_len, 5);
        assert_memory_equal(ch[1].stats.max, "\xc3\xa9t\xc3\xa9", 5);
        double dmn, dmx;
        memcpy(&dmn, ch[2].stats.min, 8);
        memcpy(&dmx, ch[2].stats.max, 8);
        assert_true(dmn == -0.0 && dmx == 2.5); /* NaN ignored */
        int64_t tmn;
        memcpy(&tmn, ch[3].stats.min, 8);
        assert_true(tmn == (micros ? 1000000 : 1000));
        /* timestamps read back in milliseconds either way */
        const CnBatch *rb;
        ASSERT_OK(cn_pq_reader_next(r, 0, &rb, &err), &err);
        assert_true(((int64_t *)rb->cols[3].values)[3] == 4000);
        assert_string_equal(cn_pq_reader_kv(r, "chronon.test"), "yes");
        cn_pq_reader_close(r);
    }
    unlink(path);
    cn_col_batch_free(b);
    cn_col_schema_free(s);
}

static void projection_by_name(void **state) {
    (void)state;
    const char *path = tmp_path("proj.parquet");
    write_ks(path, 3000, 1000, 7, NULL);
    CnPqReader *r = NULL;
    CnErr err = CN_ERR_INIT;
    ASSERT_OK(cn_pq_reader_open(path, &r, &err), &err);
    const char *names[] = {"s"};
    ASSERT_OK(cn_pq_reader_project(r, names, 1, &err), &err);
    assert_int_equal(cn_pq_reader_out_schema(r)->n_fields, 1);
    const CnBatch *b;
    uint32_t rows = 0;
    for (;;) {
        ASSERT_OK(cn_pq_reader_next(r, 0, &b, &err), &err);
        if (!b) break;
        assert_int_equal(b->n_cols, 1);
        assert_int_equal(b->cols[0].type->id, CN_COL_STRING);
        uint32_t len;
        const char *p = cn_col_vec_str(&b->cols[0], 5, &len);
        char want[16];
        snprintf(want, sizeof want, "v%05u", (rows + 5) % 7);
        assert_int_equal(len, strlen(want));
        assert_memory_equal(p, want, len);
        rows += b->n_rows;
    }
    assert_int_equal(rows, 3000);
    cn_pq_reader_close(r);
    ASSERT_OK(cn_pq_reader_open(path, &r, &err), &err);
    const char *bad[] = {"k", "nope"};
    ASSERT_ERR(cn_pq_reader_project(r, bad, 2, &err), CN_ENOTFOUND, &err);
    ASSERT_CONTAINS(cn_err_msg(&err), "\"nope\"");
    ASSERT_CONTAINS(cn_err_msg(&err), "proj.parquet");
    cn_pq_reader_close(r);
    unlink(path);
}

static void pruning_skips_row_groups(void **state) {
    (void)state;
    const char *path = tmp_path("prune.parquet");
    write_ks(path, 5000, 1000, 0, NULL); /* k = i*10 - 5000, sorted: rg g holds [g*10000-5000, ...] */
    CnPqReader *r = NULL;
    CnErr err = CN_ERR_INIT;
    ASSERT_OK(cn_pq_reader_open(path, &r, &err), &err);
    CnScalar lo = {.type = CN_COL_INT64, .v.i64 = 16000}, hi = {.type = CN_COL_INT32, .v.i32 = 25000};
    ASSERT_OK(cn_pq_reader_filter_range(r, "k", &lo, &hi, &err), &err);
    bool want[] = {false, false, true, true, false};
    for (uint32_t g = 0; g < 5; g++) assert_int_equal(cn_pq_reader_row_group_selected(r, g), want[g]);
    const CnBatch *b;
    uint32_t rows = 0;
    int64_t first = 0;
    for (;;) {
        ASSERT_OK(cn_pq_reader_next(r, 0, &b, &err), &err);
        if (!b) break;
        if (!rows) first = ((int64_t *)b->cols[0].values)[0];
        rows += b->n_rows;
    }
    assert_int_equal(rows, 2000);
    assert_true(first == 15000);
    cn_pq_reader_close(r);
    /* strings compare bytewise; wrong types are rejected */
    ASSERT_OK(cn_pq_reader_open(path, &r, &err), &err);
    CnScalar slo = {.type = CN_COL_STRING, .v.s = {"v04500", 6}};
    ASSERT_OK(cn_pq_reader_filter_range(r, "s", &slo, NULL, &err), &err);
    assert_false(cn_pq_reader_row_group_selected(r, 3));
    assert_true(cn_pq_reader_row_group_selected(r, 4));
    ASSERT_ERR(cn_pq_reader_filter_range(r, "k", &slo, NULL, &err), CN_ETYPE, &err);
    cn_err_clear(&err);
    uint32_t only[] = {4};
    ASSERT_OK(cn_pq_reader_set_row_groups(r, only, 1, &err), &err);
    ASSERT_OK(cn_pq_reader_next(r, 0, &b, &err), &err);
    assert_true(((int64_t *)b->cols[0].values)[0] == 35000);
    cn_pq_reader_close(r);
    unlink(path);
}

static void nested_lists_maps_with_nulls(void **state) {
    (void)state;
    CnSchema *s = NULL;
    CnErr err = CN_ERR_INIT;
    assert_int_equal(cn_col_schema_new(&s), 0);
    ASSERT_OK(cn_col_schema_add(s, "l", cn_col_type_list(&s->arena, cn_col_type_prim(CN_COL_INT64), true, 10), true, 1, &err), &err);
    ASSERT_OK(cn_col_schema_add(s, "m", cn_col_type_map(&s->arena, cn_col_type_prim(CN_COL_STRING), cn_col_type_prim(CN_COL_FLOAT64), true, 11, 12), true, 2, &err), &err);
    CnBatch *b = NULL;
    ASSERT_OK(cn_col_batch_new(s, &b, &err), &err);
    CnVec *l = &b->cols[0], *m = &b->cols[1];
    /* row 0: [1, null, 3]   {a: 1.5, b: null} */
    cn_col_vec_append_i64(&l->child[0], 1);
    cn_col_vec_append_null(&l->child[0]);
    cn_col_vec_append_i64(&l->child[0], 3);
    cn_col_vec_close_list(l);
    cn_col_vec_append_str(&m->child[0], "a", 1);
    cn_col_vec_append_f64(&m->child[1], 1.5);
    cn_col_vec_append_str(&m->child[0], "b", 1);
    cn_col_vec_append_null(&m->child[1]);
    cn_col_vec_close_list(m);
    /* row 1: null, {} */
    cn_col_vec_append_null(l);
    cn_col_vec_close_list(m);
    /* row 2: [], null */
    cn_col_vec_close_list(l);
    cn_col_vec_append_null(m);
    /* row 3: [null] {c: 2} */
    cn_col_vec_append_null(&l->child[0]);
    cn_col_vec_close_list(l);
    cn_col_vec_append_str(&m->child[0], "c", 1);
    cn_col_vec_append_f64(&m->child[1], 2);
    cn_col_vec_close_list(m);
    ASSERT_OK(cn_col_batch_sync_rows(b, &err), &err);
    ASSERT_OK(cn_col_batch_check(b, &err), &err);
    const char *path = tmp_path("nested.parquet");
    for (int pv = 1; pv <= 2; pv++) {
        CnPqWriteOpts o;
        cn_pq_write_opts_init(&o);
        o.page_version = pv;
        write_batch(path, b, &o, 3);
        read_and_compare(path, b, 2);
        CnPqReader *r = NULL;
        ASSERT_OK(cn_pq_reader_open(path, &r, &err), &err);
        const CnPqMeta *meta = cn_pq_reader_meta(r);
        assert_int_equal(meta->n_leaves, 3);
        assert_string_equal(meta->leaves[0].path, "l.list.element");
        assert_int_equal(meta->leaves[0].max_def, 3);
        assert_int_equal(meta->leaves[0].max_rep, 1);
        assert_int_equal(meta->leaves[0].field_id, 10);
        assert_string_equal(meta->leaves[2].path, "m.key_value.value");
        const CnType *mt = cn_pq_reader_schema(r)->fields[1].type;
        assert_int_equal(mt->children[0].field_id, 11);
        assert_int_equal(mt->children[1].field_id, 12);
        const CnBatch *rb;
        ASSERT_OK(cn_pq_reader_next(r, 0, &rb, &err), &err);
        const CnVec *rl = &rb->cols[0];
        assert_false(cn_col_vec_is_valid(rl, 1));
        assert_true(cn_col_vec_is_valid(rl, 2));
        assert_int_equal(rl->offsets[3] - rl->offsets[2], 0);
        assert_int_equal(rl->offsets[4] - rl->offsets[3], 1);
        assert_false(cn_col_vec_is_valid(&rl->child[0], rl->offsets[3]));
        cn_pq_reader_close(r);
    }
    unlink(path);
    cn_col_batch_free(b);
    cn_col_schema_free(s);
}

/* A random value of v's type: nulls (where nullable) about one in 5 at every level,
 * lists/maps of 0-3 entries (so empty ones are common). */
static void append_random(CnVec *v, bool nullable, uint32_t r) {
    if (nullable && rnd() % 5 == 0) {
        cn_col_vec_append_null(v);
        return;
    }
    const CnType *t = v->type;
    if (t->id == CN_COL_LIST || t->id == CN_COL_MAP) {
        uint32_t k = (uint32_t)(rnd() % 4);
        for (uint32_t j = 0; j < k; j++) {
            if (t->id == CN_COL_LIST) {
                append_random(&v->child[0], t->children[0].nullable, r);
            } else {
                append_prim(&v->child[0], r, true);
                append_random(&v->child[1], t->children[1].nullable, r);
            }
        }
        cn_col_vec_close_list(v);
        return;
    }
    append_prim(v, r, rnd() % 2 == 0);
}

/* Two and more list/map levels: map<string, list<T>> (the GroupBy's bucketed LAST_K
 * shape), list<list<T>>, map<string, map<string, T>>, list<map<K, V>>, three levels, and
 * required variants, next to flat and one-level columns; nulls and empties at every
 * level, over page versions, dictionary on/off, small pages and several row groups,
 * read whole and in slices. */
static void deep_nesting_roundtrip(void **state) {
    (void)state;
    seed_init();
    CnSchema *s = NULL;
    CnErr err = CN_ERR_INIT;
    assert_int_equal(cn_col_schema_new(&s), 0);
    CnArena *a = &s->arena;
    const CnType *str = cn_col_type_prim(CN_COL_STRING), *i64 = cn_col_type_prim(CN_COL_INT64);
    const CnType *f64 = cn_col_type_prim(CN_COL_FLOAT64), *i32 = cn_col_type_prim(CN_COL_INT32);
    ASSERT_OK(cn_col_schema_add(s, "k", i64, false, 1, &err), &err);
    ASSERT_OK(cn_col_schema_add(s, "ml", cn_col_type_map(a, str, cn_col_type_list(a, i64, true, 12), true, 10, 11), true, 2, &err), &err);
    ASSERT_OK(cn_col_schema_add(s, "ml_req", cn_col_type_map(a, str, cn_col_type_list(a, f64, false, 22), false, 20, 21), false, 3, &err), &err);
    ASSERT_OK(cn_col_schema_add(s, "ll", cn_col_type_list(a, cn_col_type_list(a, str, true, 31), true, 30), true, 4, &err), &err);
    ASSERT_OK(cn_col_schema_add(s, "mm", cn_col_type_map(a, str, cn_col_type_map(a, str, f64, true, 42, 43), true, 40, 41), true, 5, &err), &err);
    ASSERT_OK(cn_col_schema_add(s, "lm", cn_col_type_list(a, cn_col_type_map(a, i32, str, true, 51, 52), true, 50), true, 6, &err), &err);
    ASSERT_OK(cn_col_schema_add(s, "lll", cn_col_type_list(a, cn_col_type_list(a, cn_col_type_list(a, i32, true, 62), false, 61), true, 60), true, 7, &err), &err);
    ASSERT_OK(cn_col_schema_add(s, "l1", cn_col_type_list(a, i64, true, 70), true, 8, &err), &err);
    CnBatch *b = NULL;
    ASSERT_OK(cn_col_batch_new(s, &b, &err), &err);
    for (uint32_t r = 0; r < 3000; r++) {
        cn_col_vec_append_i64(&b->cols[0], r);
        for (uint32_t c = 1; c < b->n_cols; c++) append_random(&b->cols[c], s->fields[c].nullable, r);
    }
    ASSERT_OK(cn_col_batch_sync_rows(b, &err), &err);
    ASSERT_OK(cn_col_batch_check(b, &err), &err);
    int variant = 0;
    for (int pv = 1; pv <= 2; pv++)
        for (int dict = 0; dict < 2; dict++) {
            CnPqWriteOpts o;
            cn_pq_write_opts_init(&o);
            o.page_version = pv;
            o.dictionary = dict;
            o.row_group_rows = 1100;
            o.page_bytes = 700; /* many pages per chunk */
            o.codec = dict ? CN_PQ_CODEC_ZSTD : CN_PQ_CODEC_SNAPPY;
            char name[64];
            snprintf(name, sizeof name, "deep-%d.parquet", variant++);
            const char *path = tmp_path(name);
            write_batch(path, b, &o, 401);
            read_and_compare(path, b, 65536);
            read_and_compare(path, b, 77);
            CnPqReader *r = NULL;
            ASSERT_OK(cn_pq_reader_open(path, &r, &err), &err);
            const CnPqMeta *m = cn_pq_reader_meta(r);
            /* k, ml (2), ml_req (2), ll, mm (3), lm (2), lll, l1 */
            assert_int_equal(m->n_leaves, 13);
            assert_string_equal(m->leaves[2].path, "ml.key_value.value.list.element");
            assert_int_equal(m->leaves[2].max_def, 5);
            assert_int_equal(m->leaves[2].max_rep, 2);
            assert_int_equal(m->leaves[2].field_id, 12);
            assert_string_equal(m->leaves[4].path, "ml_req.key_value.value.list.element");
            assert_int_equal(m->leaves[4].max_def, 2);
            assert_string_equal(m->leaves[8].path, "mm.key_value.value.key_value.value");
            assert_int_equal(m->leaves[8].max_def, 5);
            assert_string_equal(m->leaves[11].path, "lll.list.element.list.element.list.element");
            assert_int_equal(m->leaves[11].max_def, 6);
            assert_int_equal(m->leaves[11].max_rep, 3);
            const CnType *mt = cn_pq_reader_schema(r)->fields[1].type;
            assert_int_equal(mt->children[1].type->id, CN_COL_LIST);
            assert_int_equal(mt->children[1].field_id, 11);
            assert_int_equal(mt->children[1].type->children[0].field_id, 12);
            cn_pq_reader_close(r);
            /* a projection of one deep column alone */
            ASSERT_OK(cn_pq_reader_open(path, &r, &err), &err);
            const char *only[] = {"mm"};
            ASSERT_OK(cn_pq_reader_project(r, only, 1, &err), &err);
            uint32_t row = 0;
            const CnBatch *rb;
            for (;;) {
                ASSERT_OK(cn_pq_reader_next(r, 500, &rb, &err), &err);
                if (!rb) break;
                for (uint32_t i = 0; i < rb->n_rows; i++) assert_true(entry_equal(&rb->cols[0], i, &b->cols[4], row + i));
                row += rb->n_rows;
            }
            assert_int_equal(row, 3000);
            cn_pq_reader_close(r);
            unlink(path);
        }
    cn_col_batch_free(b);
    cn_col_schema_free(s);
}

/* Hand-made rows of map<string, list<int64>> checked value by value after a round trip:
 * a null map, an empty map, a null list, an empty list, null elements. */
static void map_of_lists_exact_values(void **state) {
    (void)state;
    CnSchema *s = NULL;
    CnErr err = CN_ERR_INIT;
    assert_int_equal(cn_col_schema_new(&s), 0);
    const CnType *t = cn_col_type_map(&s->arena, cn_col_type_prim(CN_COL_STRING),
                                      cn_col_type_list(&s->arena, cn_col_type_prim(CN_COL_INT64), true, CN_COL_NO_ID),
                                      true, CN_COL_NO_ID, CN_COL_NO_ID);
    ASSERT_OK(cn_col_schema_add(s, "m", t, true, CN_COL_NO_ID, &err), &err);
    CnBatch *b = NULL;
    ASSERT_OK(cn_col_batch_new(s, &b, &err), &err);
    CnVec *m = &b->cols[0], *keys = &m->child[0], *lists = &m->child[1], *el = &lists->child[0];
    /* row 0: {a: [1, null, 3], b: null, c: []} */
    cn_col_vec_append_str(keys, "a", 1);
    cn_col_vec_append_i64(el, 1);
    cn_col_vec_append_null(el);
    cn_col_vec_append_i64(el, 3);
    cn_col_vec_close_list(lists);
    cn_col_vec_append_str(keys, "b", 1);
    cn_col_vec_append_null(lists);
    cn_col_vec_append_str(keys, "c", 1);
    cn_col_vec_close_list(lists);
    cn_col_vec_close_list(m);
    /* row 1: null; row 2: {}; row 3: {d: [7]} */
    cn_col_vec_append_null(m);
    cn_col_vec_close_list(m);
    cn_col_vec_append_str(keys, "d", 1);
    cn_col_vec_append_i64(el, 7);
    cn_col_vec_close_list(lists);
    cn_col_vec_close_list(m);
    ASSERT_OK(cn_col_batch_sync_rows(b, &err), &err);
    const char *path = tmp_path("maplist.parquet");
    write_batch(path, b, NULL, 4);
    CnPqReader *r = NULL;
    ASSERT_OK(cn_pq_reader_open(path, &r, &err), &err);
    const CnBatch *rb;
    ASSERT_OK(cn_pq_reader_next(r, 0, &rb, &err), &err);
    assert_int_equal(rb->n_rows, 4);
    const CnVec *rm = &rb->cols[0], *rl = &rm->child[1], *re = &rl->child[0];
    static const uint32_t moff[] = {0, 3, 3, 3, 4};
    for (int i = 0; i < 5; i++) assert_int_equal(rm->offsets[i], moff[i]);
    assert_false(cn_col_vec_is_valid(rm, 1));
    assert_true(cn_col_vec_is_valid(rm, 2));
    static const uint32_t loff[] = {0, 3, 3, 3, 4};
    for (int i = 0; i < 5; i++) assert_int_equal(rl->offsets[i], loff[i]);
    assert_true(cn_col_vec_is_valid(rl, 0));
    assert_false(cn_col_vec_is_valid(rl, 1));
    assert_true(cn_col_vec_is_valid(rl, 2));
    assert_int_equal(re->n, 4);
    assert_int_equal(((const int64_t *)re->values)[0], 1);
    assert_false(cn_col_vec_is_valid(re, 1));
    assert_int_equal(((const int64_t *)re->values)[2], 3);
    assert_int_equal(((const int64_t *)re->values)[3], 7);
    uint32_t len;
    const char *k3 = cn_col_vec_str(&rm->child[0], 3, &len);
    assert_int_equal(len, 1);
    assert_int_equal(k3[0], 'd');
    cn_pq_reader_close(r);
    unlink(path);
    cn_col_batch_free(b);
    cn_col_schema_free(s);
}

/* Required nested slots refuse nulls at any depth (they would not fit the levels). */
static void deep_required_null_refused(void **state) {
    (void)state;
    CnSchema *s = NULL;
    CnErr err = CN_ERR_INIT;
    assert_int_equal(cn_col_schema_new(&s), 0);
    const CnType *t = cn_col_type_list(&s->arena, cn_col_type_list(&s->arena, cn_col_type_prim(CN_COL_INT32), false, 2),
                                       true, 1);
    ASSERT_OK(cn_col_schema_add(s, "ll", t, true, CN_COL_NO_ID, &err), &err);
    CnBatch *b = NULL;
    ASSERT_OK(cn_col_batch_new(s, &b, &err), &err);
    CnVec *inner = &b->cols[0].child[0];
    cn_col_vec_append_null(&inner->child[0]);
    cn_col_vec_close_list(inner);
    cn_col_vec_close_list(&b->cols[0]);
    ASSERT_OK(cn_col_batch_sync_rows(b, &err), &err);
    const char *path = tmp_path("deepreq.parquet");
    CnPqWriter *w = NULL;
    ASSERT_OK(cn_pq_writer_open(path, s, NULL, &w, &err), &err);
    ASSERT_ERR(cn_pq_writer_write(w, b, &err), CN_EINVAL, &err);
    ASSERT_CONTAINS(cn_err_msg(&err), "column \"ll\": element is required but the batch has 1 nulls");
    cn_pq_writer_free(w);
    assert_int_equal(access(path, F_OK), -1);
    cn_col_batch_free(b);
    cn_col_schema_free(s);
}

static void rle_hybrid_roundtrip(void **state) {
    (void)state;
    seed_init();
    CnErr err = CN_ERR_INIT;
    for (int bw = 1; bw <= 20; bw++) {
        uint32_t n = 1 + (uint32_t)(rnd() % 5000);
        uint32_t *v = cn_malloc(n * 4), *out = cn_malloc(n * 4);
        uint32_t mask = (uint32_t)((UINT64_C(1) << bw) - 1);
        for (uint32_t i = 0; i < n;) {
            uint32_t run = 1 + (uint32_t)(rnd() % (rnd() % 2 ? 40 : 3));
            uint32_t x = (uint32_t)rnd() & mask;
            for (uint32_t k = 0; k < run && i < n; k++) v[i++] = rnd() % 5 ? x : (uint32_t)rnd() & mask;
        }
        CnBuf b = CN_BUF_INIT;
        cn_pq__rle_encode_u32(&b, v, n, bw);
        if (bw <= 8) { /* levels go through the byte encoder: the same bytes */
            uint8_t *v8 = cn_malloc(n);
            for (uint32_t i = 0; i < n; i++) v8[i] = (uint8_t)v[i];
            CnBuf b8 = CN_BUF_INIT;
            cn_pq__rle_encode_u8(&b8, v8, n, bw);
            assert_int_equal(b8.len, b.len);
            assert_memory_equal(b8.data, b.data, b.len);
            cn_buf_fini(&b8);
            cn_free(v8);
        }
        CnPqRle r;
        cn_pq__rle_init(&r, (const uint8_t *)b.data, b.len, bw);
        ASSERT_OK(cn_pq__rle_get_u32(&r, out, n, &err), &err);
        assert_memory_equal(v, out, n * 4);
        /* asking for more than was written fails cleanly */
        cn_pq__rle_init(&r, (const uint8_t *)b.data, b.len, bw);
        uint32_t *big = cn_malloc((n + 2000) * 4);
        int rc = cn_pq__rle_get_u32(&r, big, n + 2000, &err);
        assert_int_equal(rc, CN_ECORRUPT);
        cn_err_clear(&err);
        cn_free(big);
        cn_buf_fini(&b);
        cn_free(v);
        cn_free(out);
    }
}

static void delta_roundtrip_extremes(void **state) {
    (void)state;
    seed_init();
    CnErr err = CN_ERR_INIT;
    int64_t v[1000];
    for (int t = 0; t < 4; t++) {
        uint32_t n = t == 0 ? 1 : t == 1 ? 129 : 1000;
        for (uint32_t i = 0; i < n; i++)
            v[i] = t == 3 ? (i % 2 ? INT64_MAX : INT64_MIN) : (int64_t)(rnd() % 1000) - 500 + (int64_t)i * 7;
        CnBuf b = CN_BUF_INIT;
        cn_pq__delta_encode(&b, v, n);
        int64_t out[1000];
        uint32_t got;
        size_t used;
        ASSERT_OK(cn_pq__delta_decode((const uint8_t *)b.data, b.len, out, 1000, &got, &used, &err), &err);
        assert_int_equal(got, n);
        assert_int_equal(used, b.len);
        assert_memory_equal(v, out, n * 8);
        cn_buf_fini(&b);
    }
}

/* Every bit width 0..64 in miniblocks of 32 values, whole and cut short (a value count
 * that is no multiple of 32), decoded from a buffer that ends exactly at the encoding:
 * the 8-byte loads of the decoder's fast path must stay inside it and agree with the
 * generic bit reads near the end. */
static void delta_every_width(void **state) {
    (void)state;
    seed_init();
    CnErr err = CN_ERR_INIT;
    enum { N = 129 + 96 + 7 };
    int64_t v[N], out[N];
    for (int w = 0; w <= 64; w++) {
        /* deltas of exactly w bits above the minimum in each miniblock */
        uint64_t mask = w == 64 ? UINT64_MAX : (UINT64_C(1) << w) - 1;
        v[0] = (int64_t)rnd();
        for (uint32_t i = 1; i < N; i++) {
            uint64_t d = w ? (rnd() & mask) | (UINT64_C(1) << (w - 1)) : 0;
            if (i % 32 == 1) d = 0; /* the miniblock's minimum */
            v[i] = (int64_t)((uint64_t)v[i - 1] + d);
        }
        for (uint32_t n = N - 7; n <= N; n += 7) {
            CnBuf b = CN_BUF_INIT;
            cn_pq__delta_encode(&b, v, n);
            uint8_t *exact = cn_malloc(b.len); /* ASan sees any read past the end */
            memcpy(exact, b.data, b.len);
            uint32_t got = 0;
            size_t used = 0;
            memset(out, 0, sizeof out);
            ASSERT_OK(cn_pq__delta_decode(exact, b.len, out, N, &got, &used, &err), &err);
            assert_int_equal(got, n);
            assert_int_equal(used, b.len);
            for (uint32_t i = 0; i < n; i++)
                if (out[i] != v[i]) fail_msg("width %d, %u values: value %u is %lld, wrote %lld", w, n, i,
                                             (long long)out[i], (long long)v[i]);
            cn_free(exact);
            cn_buf_fini(&b);
        }
    }
}

/* Dictionary indexes gathered straight into 8-byte values (cn_pq__rle_gather_u64) equal
 * decoding the indexes then looking them up, over RLE runs and bit-packed runs of widths
 * 1..20 in pieces of odd sizes; an index past the dictionary, in either kind of run, is
 * reported (1) instead of read. */
static void dict_gather_matches_index_lookup(void **state) {
    (void)state;
    seed_init();
    CnErr err = CN_ERR_INIT;
    enum { N = 3000 };
    static uint32_t idx[N], got_idx[N];
    static uint64_t dict[1u << 20], want[N], got[N];
    for (uint32_t i = 0; i < (1u << 20); i++) dict[i] = rnd();
    for (int bw = 1; bw <= 20; bw++) {
        uint32_t nd = (uint32_t)CN_MIN((UINT64_C(1) << bw), UINT64_C(1) << 20);
        for (uint32_t i = 0; i < N;) { /* runs of repeats (RLE) between spread values (bit-packed) */
            uint32_t k = rnd() % 4 == 0 ? 8 + (uint32_t)(rnd() % 40) : 1;
            uint32_t x = (uint32_t)(rnd() % nd);
            for (uint32_t j = 0; j < k && i < N; j++) idx[i++] = x;
        }
        for (uint32_t i = 0; i < N; i++) want[i] = dict[idx[i]];
        CnBuf b = CN_BUF_INIT;
        cn_pq__rle_encode_u32(&b, idx, N, bw);
        CnPqRle r1, r2;
        cn_pq__rle_init(&r1, (const uint8_t *)b.data, b.len, bw);
        cn_pq__rle_init(&r2, (const uint8_t *)b.data, b.len, bw);
        for (uint32_t at = 0; at < N;) {
            uint32_t k = 1 + (uint32_t)(rnd() % 700); /* CN_MIN would draw twice */
            k = CN_MIN(k, N - at);
            assert_int_equal(cn_pq__rle_gather_u64(&r1, dict, nd, got + at, k, &err), 0);
            ASSERT_OK(cn_pq__rle_get_u32(&r2, got_idx + at, k, &err), &err);
            at += k;
        }
        assert_memory_equal(got_idx, idx, sizeof idx);
        assert_memory_equal(got, want, sizeof want);
        /* the largest index written, one past a dictionary that ends just before it */
        uint32_t mx = 0, first_run = idx[0];
        for (uint32_t i = 0; i < N; i++) mx = idx[i] > mx ? idx[i] : mx;
        cn_pq__rle_init(&r1, (const uint8_t *)b.data, b.len, bw);
        assert_int_equal(cn_pq__rle_gather_u64(&r1, dict, mx, got, N, &err), 1);
        cn_buf_fini(&b);
        /* an RLE run of an index out of range */
        for (uint32_t i = 0; i < 64; i++) idx[i] = first_run;
        cn_pq__rle_encode_u32(&b, idx, 64, bw);
        cn_pq__rle_init(&r1, (const uint8_t *)b.data, b.len, bw);
        assert_int_equal(cn_pq__rle_gather_u64(&r1, dict, first_run, got, 64, &err), 1);
        cn_buf_fini(&b);
    }
}

/* v2 data pages under zstd: values that do not compress (random int64, PLAIN) are stored
 * as they are (the chunk's compressed and uncompressed sizes equal), values that do
 * (a few distinct int64, PLAIN) are compressed; both read back exactly. Nullable
 * columns whose pages hold no nulls and required ones are decompressed straight into
 * the column; pages with nulls, TIMESTAMP(MICROS) (converted to millis) and v1 pages
 * take the scratch path: every combination reads back the rows written, whole and in
 * slices. */
static void v2_pages_stored_and_read_in_place(void **state) {
    (void)state;
    seed_init();
    CnErr err = CN_ERR_INIT;
    CnSchema *s = NULL;
    assert_int_equal(cn_col_schema_new(&s), 0);
    ASSERT_OK(cn_col_schema_add(s, "rand", cn_col_type_prim(CN_COL_INT64), true, 1, &err), &err);
    ASSERT_OK(cn_col_schema_add(s, "few", cn_col_type_prim(CN_COL_INT64), true, 2, &err), &err);
    ASSERT_OK(cn_col_schema_add(s, "f64_req", cn_col_type_prim(CN_COL_FLOAT64), false, 3, &err), &err);
    ASSERT_OK(cn_col_schema_add(s, "some_nulls", cn_col_type_prim(CN_COL_INT64), true, 4, &err), &err);
    ASSERT_OK(cn_col_schema_add(s, "ts", cn_col_type_prim(CN_COL_TIMESTAMP), true, 5, &err), &err);
    CnBatch *b = NULL;
    ASSERT_OK(cn_col_batch_new(s, &b, &err), &err);
    const uint32_t n = 5000;
    for (uint32_t i = 0; i < n; i++) {
        cn_col_vec_append_i64(&b->cols[0], (int64_t)rnd());
        cn_col_vec_append_i64(&b->cols[1], (int64_t)(rnd() % 3) * 1000);
        cn_col_vec_append_f64(&b->cols[2], (double)(int64_t)rnd() / 7.0);
        if (i >= 3000 && rnd() % 5 == 0) cn_col_vec_append_null(&b->cols[3]); /* nulls in the later pages only */
        else cn_col_vec_append_i64(&b->cols[3], (int64_t)rnd());
        cn_col_vec_append_i64(&b->cols[4], 1700000000000LL + (int64_t)(rnd() % 100000000));
    }
    ASSERT_OK(cn_col_batch_sync_rows(b, &err), &err);
    for (int pv = 1; pv <= 2; pv++) {
        CnPqWriteOpts o;
        cn_pq_write_opts_init(&o);
        o.codec = CN_PQ_CODEC_ZSTD;
        o.page_version = pv;
        o.dictionary = false;
        o.timestamp_micros = true;
        o.row_group_rows = 2048;
        o.page_bytes = 4096; /* several pages per chunk */
        const char *path = tmp_path(pv == 2 ? "v2-in-place.parquet" : "v1-in-place.parquet");
        write_batch(path, b, &o, 1000);
        CnPqReader *r = NULL;
        ASSERT_OK(cn_pq_reader_open(path, &r, &err), &err);
        const CnPqMeta *m = cn_pq_reader_meta(r);
        for (uint32_t g = 0; g < m->n_row_groups; g++) {
            const CnPqChunk *rand = &m->row_groups[g].chunks[0], *few = &m->row_groups[g].chunks[1];
            if (pv == 2) assert_int_equal(rand->compressed_len, rand->uncompressed_len);
            else assert_true(rand->compressed_len != rand->uncompressed_len);
            assert_true(few->compressed_len * 2 < few->uncompressed_len);
        }
        cn_pq_reader_close(r);
        read_and_compare(path, b, 65536);
        read_and_compare(path, b, 333);
        unlink(path);
    }
    cn_col_batch_free(b);
    cn_col_schema_free(s);
}

/* ----------------------------------------------------------- bad input */

static char *slurp(const char *path, size_t *len) {
    char *d = NULL;
    CnErr err = CN_ERR_INIT;
    ASSERT_OK(cn_fs_read_all(path, &d, len, &err), &err);
    return d;
}

/* Reads everything; returns the rc (0 = fine) and leaves the message in err. */
static int read_all_mem(const char *name, const void *p, size_t len, CnErr *err) {
    CnPqReader *r = NULL;
    int rc = cn_pq_reader_open_mem(name, p, len, &r, err);
    if (rc < 0) return rc;
    const CnBatch *b;
    do {
        rc = cn_pq_reader_next(r, 500, &b, err);
        if (b) {
            CnErr e2 = CN_ERR_INIT;
            ASSERT_OK(cn_col_batch_check(b, &e2), &e2);
        }
    } while (rc == 0 && b);
    cn_pq_reader_close(r);
    return rc;
}

static void truncated_file_fails_cleanly(void **state) {
    (void)state;
    const char *path = tmp_path("trunc.parquet");
    write_ks(path, 3000, 1000, 5, NULL);
    size_t len;
    char *d = slurp(path, &len);
    CnErr err = CN_ERR_INIT;
    ASSERT_OK(read_all_mem("trunc.parquet", d, len, &err), &err);
    for (size_t cut = 0; cut < len; cut += 1 + cut / 16) {
        cn_err_clear(&err);
        int rc = read_all_mem("trunc.parquet", d, cut, &err);
        assert_true(rc < 0);
        ASSERT_CONTAINS(cn_err_msg(&err), "trunc.parquet");
    }
    /* through the file path too */
    assert_int_equal(truncate(path, (off_t)(len - 3)), 0);
    CnPqReader *r = NULL;
    cn_err_clear(&err);
    ASSERT_ERR(cn_pq_reader_open(path, &r, &err), CN_ECORRUPT, &err);
    ASSERT_CONTAINS(cn_err_msg(&err), path);
    ASSERT_CONTAINS(cn_err_msg(&err), "PAR1");
    cn_err_clear(&err);
    ASSERT_ERR(cn_pq_reader_open(tmp_path("missing.parquet"), &r, &err), -ENOENT, &err);
    ASSERT_CONTAINS(cn_err_msg(&err), "missing.parquet");
    cn_free(d);
    unlink(path);
}

static void bad_magic_named(void **state) {
    (void)state;
    CnErr err = CN_ERR_INIT;
    const char *csv = "a,b\n1,2\n3,4\n5,6\n";
    ASSERT_ERR(read_all_mem("data.csv", csv, strlen(csv), &err), CN_ECORRUPT, &err);
    ASSERT_CONTAINS(cn_err_msg(&err), "data.csv: not a Parquet file");
}

/* Fuzzer finding (tests/fuzz/corpus/parquet/regress-dict-count-huge.parquet): a 579-byte
 * file whose dictionary page header claims 2,013,265,919 values. The count is checked
 * against the page's bytes before room is reserved for the values (an 8 GB reservation
 * before), so the read ends in this error and not an allocation failure. */
static void huge_page_value_count_refused(void **state) {
    (void)state;
    const char *src = getenv("CN_SOURCE_DIR");
    assert_non_null(src);
    char path[1024];
    snprintf(path, sizeof path, "%s/tests/fuzz/corpus/parquet/regress-dict-count-huge.parquet", src);
    size_t len;
    char *d = slurp(path, &len);
    CnErr err = CN_ERR_INIT;
    ASSERT_ERR(read_all_mem("huge.parquet", d, len, &err), CN_ECORRUPT, &err);
    ASSERT_CONTAINS(cn_err_msg(&err), "huge.parquet: column \"c\", row group 0, page 0: dictionary page");
    ASSERT_CONTAINS(cn_err_msg(&err), "claims 2013265919 values but holds only 56 bytes");
    cn_free(d);
}

/* Finds the first chunk's data page and breaks its page header: the error names the file,
 * the column and the row group. */
static void corrupt_page_names_column_and_row_group(void **state) {
    (void)state;
    const char *path = tmp_path("corrupt.parquet");
    CnPqWriteOpts o;
    cn_pq_write_opts_init(&o);
    o.dictionary = false;
    write_ks(path, 3000, 1000, 0, &o);
    size_t len;
    char *d = slurp(path, &len);
    CnPqReader *r = NULL;
    CnErr err = CN_ERR_INIT;
    ASSERT_OK(cn_pq_reader_open_mem("corrupt.parquet", d, len, &r, &err), &err);
    int64_t off = cn_pq_reader_meta(r)->row_groups[1].chunks[1].data_page_offset;
    cn_pq_reader_close(r);
    /* page header starts with field 1 (type): 0x15; make it a truncated varint soup */
    memset(d + off, 0xff, 12);
    ASSERT_ERR(read_all_mem("corrupt.parquet", d, len, &err), CN_ECORRUPT, &err);
    ASSERT_CONTAINS(cn_err_msg(&err), "corrupt.parquet: column \"s\", row group 1, page 0");
    cn_free(d);
    unlink(path);
}

/* A level above the column's maximum and a dictionary index past the dictionary are
 * refused with their column named (both are RLE run values, which the decoder does not
 * cut to the bit width). */
static void bad_levels_and_dict_index_refused(void **state) {
    (void)state;
    const char *path = tmp_path("levels.parquet");
    CnPqWriteOpts o;
    cn_pq_write_opts_init(&o);
    o.codec = CN_PQ_CODEC_UNCOMPRESSED;
    write_ks(path, 100, 1000, 1, &o); /* "s": one dictionary entry, no nulls */
    size_t len;
    char *d = slurp(path, &len);
    CnPqReader *r = NULL;
    CnErr err = CN_ERR_INIT;
    ASSERT_OK(cn_pq_reader_open_mem("levels.parquet", d, len, &r, &err), &err);
    int64_t off = cn_pq_reader_meta(r)->row_groups[0].chunks[1].data_page_offset;
    cn_pq_reader_close(r);
    /* levels: 3 bytes (RLE run of 100 = varint 0xc8 0x01, value 1), then the indices:
     * bit width, RLE run of 100, value 0 */
    static const uint8_t lv[] = {3, 0, 0, 0, 0xc8, 0x01, 0x01};
    size_t at = 0;
    for (size_t i = (size_t)off; !at && i + sizeof lv + 4 < len; i++)
        if (!memcmp(d + i, lv, sizeof lv)) at = i;
    assert_true(at > 0);
    assert_int_equal((uint8_t)d[at + 7], 1);
    assert_int_equal((uint8_t)d[at + 10], 0);
    d[at + 6] = 2;
    ASSERT_ERR(read_all_mem("levels.parquet", d, len, &err), CN_ECORRUPT, &err);
    ASSERT_CONTAINS(cn_err_msg(&err), "definition level above the maximum 1");
    ASSERT_CONTAINS(cn_err_msg(&err), "column \"s\", row group 0");
    d[at + 6] = 1;
    ASSERT_OK(read_all_mem("levels.parquet", d, len, &err), &err);
    d[at + 10] = 5;
    err = (CnErr)CN_ERR_INIT;
    ASSERT_ERR(read_all_mem("levels.parquet", d, len, &err), CN_ECORRUPT, &err);
    ASSERT_CONTAINS(cn_err_msg(&err), "dictionary index 5 out of range (dictionary has 1 entries) at value 0");
    cn_free(d);
    unlink(path);
}

/* An int64 column's dictionary index past the dictionary is named by the reader (the
 * gathering decoder only notices it; the message comes from decoding the indexes). */
static void int64_dict_index_out_of_range_named(void **state) {
    (void)state;
    CnErr err = CN_ERR_INIT;
    CnSchema *s = NULL;
    assert_int_equal(cn_col_schema_new(&s), 0);
    ASSERT_OK(cn_col_schema_add(s, "k", cn_col_type_prim(CN_COL_INT64), false, 1, &err), &err);
    CnBatch *b = NULL;
    ASSERT_OK(cn_col_batch_new(s, &b, &err), &err);
    for (uint32_t i = 0; i < 104; i++) cn_col_vec_append_i64(&b->cols[0], (int64_t)(i % 3) * 1000000007);
    ASSERT_OK(cn_col_batch_sync_rows(b, &err), &err);
    CnPqWriteOpts o;
    cn_pq_write_opts_init(&o);
    o.codec = CN_PQ_CODEC_UNCOMPRESSED;
    const char *path = tmp_path("dict64.parquet");
    write_batch(path, b, &o, 1000);
    read_and_compare(path, b, 65536);
    size_t len;
    char *d = slurp(path, &len);
    CnPqReader *r = NULL;
    ASSERT_OK(cn_pq_reader_open_mem("dict64.parquet", d, len, &r, &err), &err);
    int64_t off = cn_pq_reader_meta(r)->row_groups[0].chunks[0].data_page_offset;
    cn_pq_reader_close(r);
    /* indexes: bit width 2, one bit-packed run of 13 groups (header 13 << 1 | 1), then
     * 0,1,2,0 packed LSB first (0x24); 0x27 makes the first index 3 */
    static const uint8_t ix[] = {2, 27, 0x24};
    size_t at = 0;
    for (size_t i = (size_t)off; !at && i + sizeof ix < len; i++)
        if (!memcmp(d + i, ix, sizeof ix)) at = i;
    assert_true(at > 0);
    d[at + 2] = 0x27;
    ASSERT_ERR(read_all_mem("dict64.parquet", d, len, &err), CN_ECORRUPT, &err);
    ASSERT_CONTAINS(cn_err_msg(&err), "column \"k\", row group 0");
    ASSERT_CONTAINS(cn_err_msg(&err), "dictionary index 3 out of range (dictionary has 3 entries) at value 0");
    cn_free(d);
    unlink(path);
    cn_col_batch_free(b);
    cn_col_schema_free(s);
}

static void unsupported_codec_named(void **state) {
    (void)state;
    const char *path = tmp_path("codec.parquet");
    write_ks(path, 100, 1000, 0, NULL);
    size_t len;
    char *d = slurp(path, &len);
    uint32_t flen;
    memcpy(&flen, d + len - 8, 4);
    /* ColumnMetaData.codec follows path_in_schema: field delta 1, type i32 (0x15), ZSTD = zigzag 12;
     * the physical type (field 1) follows the struct header 0x1c instead */
    size_t at = len - 8 - flen, hits = 0;
    for (size_t i = at; i + 1 < len - 8; i++)
        if ((uint8_t)d[i] == 0x15 && d[i + 1] == 12 && (uint8_t)d[i - 1] != 0x1c && d[i - 1] != 0) {
            d[i + 1] = 14; /* LZ4_RAW */
            hits++;
        }
    assert_true(hits >= 2);
    CnErr err = CN_ERR_INIT;
    ASSERT_ERR(read_all_mem("codec.parquet", d, len, &err), CN_EUNSUPPORTED, &err);
    ASSERT_CONTAINS(cn_err_msg(&err), "codec.parquet: column \"k\", row group 0");
    ASSERT_CONTAINS(cn_err_msg(&err), "LZ4_RAW");
    cn_free(d);
    unlink(path);
}

/* A column outside the subset (here a string column re-labelled DECIMAL) leaves the rest
 * readable through a projection, and reading everything names it. */
static void unsupported_column_is_named_and_skippable(void **state) {
    (void)state;
    const char *path = tmp_path("dec.parquet");
    write_ks(path, 50, 1000, 0, NULL);
    size_t len;
    char *d = slurp(path, &len);
    /* SchemaElement of "s": name (0x18 0x01 's'), then converted_type UTF8 (0x25 0x00) */
    char *at = NULL;
    for (size_t i = 0; i + 5 <= len; i++)
        if (memcmp(d + i, "\x18\x01s\x25\x00", 5) == 0) at = d + i;
    assert_non_null(at);
    at[4] = 10; /* DECIMAL = 5, zigzag 10 */
    CnPqReader *r = NULL;
    CnErr err = CN_ERR_INIT;
    ASSERT_OK(cn_pq_reader_open_mem("dec.parquet", d, len, &r, &err), &err);
    assert_int_equal(cn_pq_reader_schema(r)->n_fields, 1);
    const char *why = NULL;
    assert_string_equal(cn_pq_reader_unsupported(r, 0, &why), "s");
    ASSERT_CONTAINS(why, "DECIMAL");
    assert_null(cn_pq_reader_unsupported(r, 1, NULL));
    const CnBatch *b;
    ASSERT_ERR(cn_pq_reader_next(r, 0, &b, &err), CN_EUNSUPPORTED, &err);
    ASSERT_CONTAINS(cn_err_msg(&err), "dec.parquet: column \"s\": DECIMAL is not supported");
    cn_pq_reader_close(r);
    cn_err_clear(&err);
    ASSERT_OK(cn_pq_reader_open_mem("dec.parquet", d, len, &r, &err), &err);
    const char *only[] = {"s"};
    ASSERT_ERR(cn_pq_reader_project(r, only, 1, &err), CN_EUNSUPPORTED, &err);
    cn_err_clear(&err);
    only[0] = "k";
    ASSERT_OK(cn_pq_reader_project(r, only, 1, &err), &err);
    ASSERT_OK(cn_pq_reader_next(r, 0, &b, &err), &err);
    assert_int_equal(b->n_rows, 50);
    assert_true(((int64_t *)b->cols[0].values)[49] == 49 * 10 - 5000);
    cn_pq_reader_close(r);
    /* the explicit opt-in reads every decodable column */
    ASSERT_OK(cn_pq_reader_open_mem("dec.parquet", d, len, &r, &err), &err);
    ASSERT_OK(cn_pq_reader_skip_unsupported(r, &err), &err);
    assert_int_equal(cn_pq_reader_out_schema(r)->n_fields, 1);
    assert_string_equal(cn_pq_reader_out_schema(r)->fields[0].name, "k");
    ASSERT_OK(cn_pq_reader_next(r, 0, &b, &err), &err);
    assert_int_equal(b->n_rows, 50);
    assert_true(((int64_t *)b->cols[0].values)[7] == 7 * 10 - 5000);
    ASSERT_ERR(cn_pq_reader_skip_unsupported(r, &err), CN_EINVAL, &err);
    cn_pq_reader_close(r);
    cn_free(d);
    unlink(path);
}

/* One write + read cycle with no assertions inside, for fault injection. */
static int write_read_cycle(const char *path, const CnSchema *s, uint32_t threads, CnErr *err) {
    CnBatch *b = NULL;
    CnPqWriter *w = NULL;
    CnPqReader *r = NULL;
    CnPqWriteOpts o;
    cn_pq_write_opts_init(&o);
    o.row_group_rows = 150;
    o.threads = threads;
    int rc = cn_col_batch_new(s, &b, err);
    if (rc < 0) goto done;
    for (uint32_t i = 0; i < 300; i++) {
        char buf[16];
        int n = snprintf(buf, sizeof buf, "x%u", i % 13);
        cn_col_vec_append_i64(&b->cols[0], i);
        if (i % 7 == 0) cn_col_vec_append_null(&b->cols[1]);
        else cn_col_vec_append_str(&b->cols[1], buf, (size_t)n);
    }
    rc = cn_col_batch_sync_rows(b, err);
    if (rc == 0) rc = cn_pq_writer_open(path, s, &o, &w, err);
    if (rc == 0) rc = cn_pq_writer_set_kv(w, "a", "b", err);
    if (rc == 0) rc = cn_pq_writer_write(w, b, err);
    if (rc == 0) rc = cn_pq_writer_finish(w, err);
    if (rc == 0) rc = cn_pq_reader_open(path, &r, err);
    const CnBatch *rb = NULL;
    int64_t sum = 0;
    while (rc == 0) {
        rc = cn_pq_reader_next(r, 100, &rb, err);
        if (rc < 0 || !rb) break;
        for (uint32_t i = 0; i < rb->n_rows; i++) sum += ((int64_t *)rb->cols[0].values)[i];
    }
    if (rc == 0 && sum != 299 * 300 / 2) rc = cn_err_set(err, CN_EINTERNAL, "sum %lld", (long long)sum);
done:
    cn_pq_reader_close(r);
    cn_pq_writer_free(w);
    cn_col_batch_free(b);
    return rc;
}

/* Allocation failure at every point of a write/read cycle ends in CN_ENOMEM (or success
 * once the budget suffices), never a crash, a leak (ASan) or a partial file; with the
 * chunks encoded on the caller alone and on two threads. */
static void alloc_failures_threads(uint32_t threads) {
    CnSchema *s = ks_schema();
    char path[1024];
    snprintf(path, sizeof path, "%s", tmp_path("oom.parquet"));
    int oom = 0, ok = 0;
    for (int k = 0; k < 400 && ok < 3; k++) {
        char v[32];
        snprintf(v, sizeof v, "%llu", (unsigned long long)(cn_alloc_count() + (uint64_t)k));
        setenv("CN_TEST_FAIL_ALLOC_AFTER", v, 1);
        cn_alloc_reset_fault();
        CnErr err = CN_ERR_INIT;
        int rc = write_read_cycle(path, s, threads, &err);
        setenv("CN_TEST_FAIL_ALLOC_AFTER", "-1", 1);
        cn_alloc_reset_fault();
        if (rc == 0) {
            ok++;
        } else {
            if (rc != CN_ENOMEM) fail_msg("budget %d: rc=%d (%s): %s", k, rc, chronon_err_name(rc), cn_err_msg(&err));
            oom++;
        }
        unlink(path);
    }
    unsetenv("CN_TEST_FAIL_ALLOC_AFTER");
    cn_alloc_reset_fault();
    assert_true(oom > 20);
    assert_int_equal(ok, 3);
    cn_col_schema_free(s);
}

static void alloc_failures_end_cleanly(void **state) {
    (void)state;
    alloc_failures_threads(1);
    alloc_failures_threads(2);
}

/* Column chunks encoded on several threads give the file of the caller alone, byte
 * for byte (1 and 2 threads and the writer's own choice), over every type, nulls,
 * lists and maps, one row group or several, both page versions, dictionary or not; so
 * do writers sharing one encoding cache in turn, whatever they wrote before (other
 * sizes, other schemas). */
static void threads_write_same_bytes(void **state) {
    (void)state;
    seed_init();
    CnSchema *s = make_schema();
    CnBatch *b = NULL;
    CnErr err = CN_ERR_INIT;
    CnPqEncCache *cache = NULL;
    ASSERT_OK(cn_pq_enc_cache_new(&cache, &err), &err);
    ASSERT_OK(cn_col_batch_new(s, &b, &err), &err);
    static const uint32_t sizes[] = {1000, 40000};
    for (size_t si = 0; si < CN_ARRAY_LEN(sizes); si++) {
        cn_col_batch_reset(b);
        fill(b, sizes[si], si == 1);
        for (int variant = 0; variant < 3; variant++) {
            char *one = NULL;
            size_t one_len = 0;
            static const uint32_t threads[] = {1, 2, 0, 1, 2};
            for (size_t t = 0; t < CN_ARRAY_LEN(threads); t++) {
                CnPqWriteOpts o;
                cn_pq_write_opts_init(&o);
                o.threads = threads[t];
                if (t >= 3) o.cache = cache; /* the last two through the shared cache */
                o.page_version = variant == 1 ? 2 : 1;
                o.dictionary = variant != 2;
                if (variant == 2) o.row_group_rows = sizes[si] / 3; /* several row groups */
                const char *path = tmp_path("thr.parquet");
                write_batch(path, b, &o, sizes[si]);
                size_t len = 0;
                char *d = slurp(path, &len);
                if (t == 0) {
                    read_and_compare(path, b, 65536);
                    one = d;
                    one_len = len;
                } else {
                    assert_int_equal(len, one_len);
                    if (memcmp(d, one, len)) fail_msg("%u rows, variant %d: %u threads wrote other bytes", sizes[si], variant, threads[t]);
                    cn_free(d);
                }
                unlink(path);
            }
            cn_free(one);
            /* a narrower schema through the same cache in between */
            const char *k1 = tmp_path("thr-ks1.parquet"), *k2 = tmp_path("thr-ks2.parquet");
            CnPqWriteOpts o;
            cn_pq_write_opts_init(&o);
            o.threads = 2;
            write_ks(k1, 5000, 1000, 50, &o);
            o.cache = cache;
            write_ks(k2, 5000, 1000, 50, &o);
            size_t l1 = 0, l2 = 0;
            char *d1 = slurp(k1, &l1), *d2 = slurp(k2, &l2);
            assert_int_equal(l1, l2);
            assert_memory_equal(d1, d2, l1);
            cn_free(d1);
            cn_free(d2);
            unlink(k1);
            unlink(k2);
        }
    }
    cn_pq_enc_cache_free(cache);
    cn_col_batch_free(b);
    cn_col_schema_free(s);
}

static void random_corruption_never_crashes(void **state) {
    (void)state;
    uint64_t seed = seed_init();
    CnSchema *s = make_schema();
    CnBatch *b = NULL;
    CnErr err = CN_ERR_INIT;
    ASSERT_OK(cn_col_batch_new(s, &b, &err), &err);
    const char *path = tmp_path("fuzz.parquet");
    /* three layouts: v1 + dictionary + zstd; v2 + delta encodings + snappy; v1 plain + gzip */
    for (int variant = 0; variant < 3; variant++) {
        cn_col_batch_reset(b);
        fill(b, 300, variant == 0);
        CnPqWriteOpts o;
        cn_pq_write_opts_init(&o);
        o.row_group_rows = 100;
        o.page_bytes = 200;
        if (variant == 1) {
            o.page_version = 2;
            o.dictionary = false;
            o.codec = CN_PQ_CODEC_SNAPPY;
            o.int_encoding = CN_PQ_ENC_DELTA_BINARY_PACKED;
            o.bytes_encoding = CN_PQ_ENC_DELTA_BYTE_ARRAY;
        } else if (variant == 2) {
            o.dictionary = false;
            o.codec = CN_PQ_CODEC_GZIP;
        }
        write_batch(path, b, &o, 300);
        size_t len;
        char *d = slurp(path, &len);
        char *m = cn_malloc(len);
        int fails = 0;
        for (int t = 0; t < 300; t++) {
            memcpy(m, d, len);
            int flips = 1 + (int)(rnd() % 8);
            for (int k = 0; k < flips; k++) m[rnd() % len] ^= (char)(1 + rnd() % 255);
            cn_err_clear(&err);
            int rc = read_all_mem("fuzz.parquet", m, len, &err);
            if (rc < 0) {
                fails++;
                ASSERT_CONTAINS(cn_err_msg(&err), "fuzz.parquet");
            }
        }
        if (fails == 0)
            fail_msg("seed %llu, layout %d: no corruption was detected in 300 tries", (unsigned long long)seed, variant);
        cn_free(m);
        cn_free(d);
    }
    unlink(path);
    cn_col_batch_free(b);
    cn_col_schema_free(s);
}

static int count_dir_entries(const char *dir) {
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "ls -A '%s' | wc -l", dir);
    FILE *p = popen(cmd, "r");
    int n = -1;
    if (p) {
        if (fscanf(p, "%d", &n) != 1) n = -1;
        pclose(p);
    }
    return n;
}

/* defer_sync: finish leaves the fsync to the caller but the file is whole and in place
 * (no temporary left), reads back equal, and syncs by path; a file of several megabytes
 * has its writeback started on the way. A path that does not exist fails to sync, named. */
static void deferred_sync_file_complete_and_in_place(void **state) {
    (void)state;
    CnSchema *s = make_schema();
    CnBatch *b = NULL;
    CnErr err = CN_ERR_INIT;
    ASSERT_OK(cn_col_batch_new(s, &b, &err), &err);
    fill(b, 60000, false);
    const char *path = tmp_path("ds/deferred.parquet");
    char dir[1024];
    snprintf(dir, sizeof dir, "%s", path);
    *strrchr(dir, '/') = 0;
    mkdir(dir, 0755);
    CnPqWriteOpts o;
    cn_pq_write_opts_init(&o);
    o.codec = CN_PQ_CODEC_UNCOMPRESSED;
    o.dictionary = false;
    o.defer_sync = true;
    write_batch(path, b, &o, 4096);
    assert_int_equal(count_dir_entries(dir), 1); /* the file, no temporary */
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_true(st.st_size > 2 * (1 << 20)); /* past the writeback step twice */
    read_and_compare(path, b, 65536);
    ASSERT_OK(cn_fs_sync_path(path, &err), &err);
    ASSERT_OK(cn_fs_sync_path(dir, &err), &err);
    const char *gone = tmp_path("ds/none.parquet");
    assert_true(cn_fs_sync_path(gone, &err) < 0);
    ASSERT_CONTAINS(cn_err_msg(&err), "none.parquet: cannot open to sync");
    cn_err_clear(&err);
    unlink(path);
    rmdir(dir);
    cn_col_batch_free(b);
    cn_col_schema_free(s);
}

static void writer_leaves_nothing_half_written(void **state) {
    (void)state;
    CnSchema *s = ks_schema();
    CnErr err = CN_ERR_INIT;
    const char *path = tmp_path("sub/x.parquet");
    char dir[1024];
    snprintf(dir, sizeof dir, "%s", path);
    *strrchr(dir, '/') = 0;
    mkdir(dir, 0755);
    CnPqWriter *w = NULL;
    ASSERT_OK(cn_pq_writer_open(path, s, NULL, &w, &err), &err);
    assert_int_equal(count_dir_entries(dir), 1); /* the temp file */
    assert_false(cn_fs_exists(path));
    /* a batch of another schema fails, and keeps failing */
    CnSchema *s2 = NULL;
    assert_int_equal(cn_col_schema_new(&s2), 0);
    ASSERT_OK(cn_col_schema_add(s2, "k", cn_col_type_prim(CN_COL_INT32), false, 1, &err), &err);
    ASSERT_OK(cn_col_schema_add(s2, "s", cn_col_type_prim(CN_COL_STRING), true, 2, &err), &err);
    CnBatch *b = NULL;
    ASSERT_OK(cn_col_batch_new(s2, &b, &err), &err);
    ASSERT_ERR(cn_pq_writer_write(w, b, &err), CN_ETYPE, &err);
    ASSERT_CONTAINS(cn_err_msg(&err), "column \"k\" is int64 in the file schema, the batch has int32");
    cn_err_clear(&err);
    ASSERT_ERR(cn_pq_writer_finish(w, &err), CN_ETYPE, &err);
    cn_pq_writer_free(w);
    assert_false(cn_fs_exists(path));
    assert_int_equal(count_dir_entries(dir), 0);
    /* a null element in a list of required elements is refused, not written */
    cn_err_clear(&err);
    CnSchema *s3 = NULL;
    assert_int_equal(cn_col_schema_new(&s3), 0);
    ASSERT_OK(cn_col_schema_add(s3, "l", cn_col_type_list(&s3->arena, cn_col_type_prim(CN_COL_INT64), false, 5), true, 1, &err), &err);
    CnBatch *b3 = NULL;
    ASSERT_OK(cn_col_batch_new(s3, &b3, &err), &err);
    cn_col_vec_append_null(&b3->cols[0].child[0]);
    cn_col_vec_close_list(&b3->cols[0]);
    ASSERT_OK(cn_col_batch_sync_rows(b3, &err), &err);
    ASSERT_OK(cn_pq_writer_open(path, s3, NULL, &w, &err), &err);
    ASSERT_ERR(cn_pq_writer_write(w, b3, &err), CN_EINVAL, &err);
    ASSERT_CONTAINS(cn_err_msg(&err), "column \"l\": element is required");
    cn_err_clear(&err);
    cn_pq_writer_free(w);
    cn_col_batch_free(b3);
    cn_col_schema_free(s3);
    /* abandoned without finish: the temp file goes too */
    ASSERT_OK(cn_pq_writer_open(path, s, NULL, &w, &err), &err);
    cn_pq_writer_free(w);
    assert_int_equal(count_dir_entries(dir), 0);
    /* a directory that does not exist */
    cn_err_clear(&err);
    ASSERT_ERR(cn_pq_writer_open(tmp_path("nodir/y.parquet"), s, NULL, &w, &err), -ENOENT, &err);
    ASSERT_CONTAINS(cn_err_msg(&err), "nodir/y.parquet");
    /* bad options name themselves */
    CnPqWriteOpts o;
    cn_pq_write_opts_init(&o);
    o.page_version = 3;
    cn_err_clear(&err);
    ASSERT_ERR(cn_pq_writer_open(path, s, &o, &w, &err), CN_EINVAL, &err);
    ASSERT_CONTAINS(cn_err_msg(&err), "page_version");
    CnPqCodec codec;
    ASSERT_OK(cn_pq_codec_parse("ZSTD", &codec, &err), &err);
    assert_int_equal(codec, CN_PQ_CODEC_ZSTD);
    ASSERT_ERR(cn_pq_codec_parse("lz77", &codec, &err), CN_EINVAL, &err);
    cn_col_batch_free(b);
    cn_col_schema_free(s2);
    cn_col_schema_free(s);
    rmdir(dir);
}

static void empty_file_and_zero_columns(void **state) {
    (void)state;
    CnSchema *s = ks_schema();
    CnErr err = CN_ERR_INIT;
    const char *path = tmp_path("empty.parquet");
    CnPqWriter *w = NULL;
    ASSERT_OK(cn_pq_writer_open(path, s, NULL, &w, &err), &err);
    ASSERT_OK(cn_pq_writer_finish(w, &err), &err);
    cn_pq_writer_free(w);
    CnPqReader *r = NULL;
    ASSERT_OK(cn_pq_reader_open(path, &r, &err), &err);
    assert_int_equal(cn_pq_reader_meta(r)->n_rows, 0);
    assert_int_equal(cn_pq_reader_schema(r)->n_fields, 2);
    const CnBatch *b;
    ASSERT_OK(cn_pq_reader_next(r, 0, &b, &err), &err);
    assert_null(b);
    cn_pq_reader_close(r);
    unlink(path);
    cn_col_schema_free(s);
}

int main(int argc, char **argv) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(roundtrip_uncompressed),
        cmocka_unit_test(roundtrip_snappy),
        cmocka_unit_test(roundtrip_gzip),
        cmocka_unit_test(roundtrip_zstd),
        cmocka_unit_test(batches_never_span_row_groups),
        cmocka_unit_test(fixed_width_dictionary_keeps_bits),
        cmocka_unit_test(integer_statistics_any_count),
        cmocka_unit_test(read_cache_serves_files_in_turn),
        cmocka_unit_test(dictionary_used_then_falls_back),
        cmocka_unit_test(statistics_follow_type_order),
        cmocka_unit_test(projection_by_name),
        cmocka_unit_test(pruning_skips_row_groups),
        cmocka_unit_test(nested_lists_maps_with_nulls),
        cmocka_unit_test(rle_hybrid_roundtrip),
        cmocka_unit_test(delta_roundtrip_extremes),
        cmocka_unit_test(delta_every_width),
        cmocka_unit_test(dict_gather_matches_index_lookup),
        cmocka_unit_test(int64_dict_index_out_of_range_named),
        cmocka_unit_test(v2_pages_stored_and_read_in_place),
        cmocka_unit_test(truncated_file_fails_cleanly),
        cmocka_unit_test(bad_magic_named),
        cmocka_unit_test(huge_page_value_count_refused),
        cmocka_unit_test(corrupt_page_names_column_and_row_group),
        cmocka_unit_test(unsupported_codec_named),
        cmocka_unit_test(bad_levels_and_dict_index_refused),
        cmocka_unit_test(deep_nesting_roundtrip),
        cmocka_unit_test(map_of_lists_exact_values),
        cmocka_unit_test(deep_required_null_refused),
        cmocka_unit_test(unsupported_column_is_named_and_skippable),
        cmocka_unit_test(random_corruption_never_crashes),
        cmocka_unit_test(alloc_failures_end_cleanly),
        cmocka_unit_test(threads_write_same_bytes),
        cmocka_unit_test(writer_leaves_nothing_half_written),
        cmocka_unit_test(deferred_sync_file_complete_and_in_place),
        cmocka_unit_test(empty_file_and_zero_columns),
    };
    if (argc > 1) cmocka_set_test_filter(argv[1]);
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    if (tmpdir[0]) rmdir(tmpdir);
    return rc;
}
