/* test_avro.c: Avro schemas, values, container files (codecs null, deflate, snappy),
 * schema resolution by name and by Iceberg field-id, and bad bytes: every truncation
 * and seeded byte flips must end in a clean error, never a crash. Interop with avsc is
 * in e2e_avsc.py. */
#include "cn_test.h"

#include "base/alloc.h"
#include "base/fs.h"
#include "base/json.h"
#include "io/avro/avro.h"

static char *fixture_path(const char *name) {
    const char *src = getenv("CN_SOURCE_DIR");
    assert_non_null(src);
    size_t n = strlen(src) + strlen(name) + 32;
    char *p = cn_malloc(n);
    snprintf(p, n, "%s/tests/io/avro/data/%s", src, name);
    return p;
}

static CnAvroSchemaDoc *load_schema(const char *name) {
    char *path = fixture_path(name), *text = NULL;
    size_t len;
    CnErr err = CN_ERR_INIT;
    ASSERT_OK(cn_fs_read_all(path, &text, &len, &err), &err);
    CnAvroSchemaDoc *doc = NULL;
    ASSERT_OK(cn_avro_schema_parse(path, text, len, &doc, &err), &err);
    cn_free(text);
    cn_free(path);
    return doc;
}

static json_t *load_json(const char *name) {
    char *path = fixture_path(name);
    json_error_t je;
    json_t *j = json_load_file(path, JSON_ALLOW_NUL, &je);
    if (!j) fail_msg("%s:%d: %s", path, je.line, je.text);
    cn_free(path);
    return j;
}

/* Writes records (a JSON array) with codec into out, with Iceberg's metadata keys. */
static void write_file(CnAvroSchemaDoc *schema, json_t *records, const char *codec,
                       size_t block_bytes, CnBuf *out) {
    CnErr err = CN_ERR_INIT;
    CnAvroWriter *w = NULL;
    CnAvroWriterOptions opt = {.codec = codec, .block_bytes = block_bytes};
    ASSERT_OK(cn_avro_writer_new(schema, &opt, &w, &err), &err);
    json_t *meta = load_json("manifest_meta.json");
    const char *k;
    json_t *v;
    json_object_foreach(meta, k, v)
        ASSERT_OK(cn_avro_writer_meta(w, k, json_string_value(v), json_string_length(v), &err), &err);
    json_decref(meta);
    CnArena arena;
    cn_arena_init(&arena, 0);
    size_t i;
    json_array_foreach(records, i, v) {
        CnAvroValue *val = NULL;
        ASSERT_OK(cn_avro_value_from_json(&arena, cn_avro_schema_root(schema), v, &val, &err), &err);
        ASSERT_OK(cn_avro_writer_append(w, val, &err), &err);
    }
    ASSERT_OK(cn_avro_writer_finish(w, out, &err), &err);
    cn_avro_writer_free(w);
    cn_arena_fini(&arena);
}

/* Reads every record of a file as JSON. Returns the reader's rc (<0) or the count. */
static int read_all(const CnBuf *file, const CnAvroSchemaDoc *rs, int match, json_t *out,
                    CnErr *err) {
    CnAvroReader *r = NULL;
    int rc = cn_avro_reader_open("t.avro", file->data, file->len, &r, err);
    if (rc < 0) return rc;
    if (rs) cn_avro_reader_set_schema(r, rs, match, err);
    int n = 0;
    for (;;) {
        const CnAvroValue *v;
        rc = cn_avro_reader_next(r, &v, err);
        if (rc <= 0) break;
        json_t *j = NULL;
        rc = cn_avro_value_to_json(v, &j, err);
        if (rc < 0) break;
        if (out) json_array_append_new(out, j);
        else json_decref(j);
        n++;
    }
    cn_avro_reader_free(r);
    return rc < 0 ? rc : n;
}

static void assert_json_equal(json_t *a, json_t *b) {
    if (!json_equal(a, b)) {
        char *sa = json_dumps(a, JSON_COMPACT | JSON_SORT_KEYS);
        char *sb = json_dumps(b, JSON_COMPACT | JSON_SORT_KEYS);
        fail_msg("JSON differs:\n got  %s\n want %s", sa, sb);
    }
}

static void schema_keeps_field_ids(void **state) {
    (void)state;
    CnAvroSchemaDoc *doc = load_schema("manifest_entry.avsc");
    const CnAvroSchema *root = cn_avro_schema_root(doc);
    assert_int_equal(root->type, CN_AVRO_RECORD);
    assert_string_equal(root->name, "manifest_entry");
    size_t idx;
    const CnAvroField *df = cn_avro_schema_field_by_id(root, 2, &idx);
    assert_non_null(df);
    assert_string_equal(df->name, "data_file");
    assert_int_equal(idx, 4);
    const CnAvroField *fp = cn_avro_schema_field(df->type, "file_path", NULL);
    assert_int_equal(fp->field_id, 100);
    assert_string_equal(json_string_value(json_object_get(fp->json, "doc")),
                        "Location URI with FS scheme");
    const CnAvroField *so = cn_avro_schema_field_by_id(df->type, 132, NULL);
    const CnAvroSchema *arr = cn_avro_schema_nullable_of(so->type);
    assert_non_null(arr);
    assert_int_equal(arr->type, CN_AVRO_ARRAY);
    assert_int_equal(json_integer_value(json_object_get(arr->json, "element-id")), 133);
    const CnAvroField *cs = cn_avro_schema_field_by_id(df->type, 108, NULL);
    assert_string_equal(cn_avro_schema_nullable_of(cs->type)->logical, "map");
    assert_null(cn_avro_schema_field_by_id(root, 999, NULL));
    cn_avro_schema_free(doc);
}

static void schema_errors_name_the_path(void **state) {
    (void)state;
    const struct { const char *text, *want; } cases[] = {
        {"{\"type\":\"record\",\"name\":\"r\",\"fields\":[{\"name\":\"a\",\"type\":\"strng\"}]}",
         "unknown type \"strng\""},
        {"{\"type\":\"record\",\"name\":\"r\",\"fields\":[{\"name\":\"a\",\"type\":\"int\"},"
         "{\"name\":\"a\",\"type\":\"int\"}]}", "appears twice"},
        {"{\"type\":\"record\",\"name\":\"r\",\"fields\":[{\"name\":\"x\",\"type\":{\"type\":"
         "\"array\",\"items\":[\"int\",\"int\"]}}]}", "at x.[]"},
        {"{\"type\":\"fixed\",\"name\":\"f\"}", "size"},
        {"{\"type\":\"record\",\"name\":\"r\",\"fields\":[{\"name\":\"a\",\"type\":\"int\","
         "\"field-id\":\"7\"}]}", "field-id"},
        {"[]", "empty union"},
    };
    for (size_t i = 0; i < CN_ARRAY_LEN(cases); i++) {
        CnErr err = CN_ERR_INIT;
        CnAvroSchemaDoc *doc = NULL;
        ASSERT_ERR(cn_avro_schema_parse("s.avsc", cases[i].text, strlen(cases[i].text), &doc, &err),
                   CN_EINVAL, &err);
        assert_null(doc);
        ASSERT_CONTAINS(cn_err_msg(&err), "s.avsc");
        ASSERT_CONTAINS(cn_err_msg(&err), cases[i].want);
    }
    CnErr err = CN_ERR_INIT;
    CnAvroSchemaDoc *doc = NULL;
    assert_true(cn_avro_schema_parse("bad.avsc", "{\"type\":", 8, &doc, &err) < 0);
    ASSERT_CONTAINS(cn_err_msg(&err), "bad.avsc");
}

static void schema_recursive_type(void **state) {
    (void)state;
    const char *text = "{\"type\":\"record\",\"name\":\"Node\",\"fields\":[{\"name\":\"v\",\"type\":"
                       "\"long\"},{\"name\":\"next\",\"type\":[\"null\",\"Node\"]}]}";
    CnErr err = CN_ERR_INIT;
    CnAvroSchemaDoc *doc = NULL;
    ASSERT_OK(cn_avro_schema_parse("list.avsc", text, strlen(text), &doc, &err), &err);
    json_t *recs = json_loads("[{\"v\":1,\"next\":{\"v\":2,\"next\":{\"v\":3,\"next\":null}}}]", 0, NULL);
    CnBuf file = CN_BUF_INIT;
    write_file(doc, recs, "null", 0, &file);
    json_t *got = json_array();
    assert_int_equal(read_all(&file, NULL, 0, got, &err), 1);
    assert_json_equal(got, recs);
    json_decref(got);
    json_decref(recs);
    cn_buf_fini(&file);
    cn_avro_schema_free(doc);
}

static void roundtrip_codec(const char *codec) {
    CnAvroSchemaDoc *doc = load_schema("all_types.avsc");
    json_t *recs = load_json("all_types.json");
    CnBuf file = CN_BUF_INIT;
    write_file(doc, recs, codec, 64, &file); /* small blocks: several blocks */
    CnErr err = CN_ERR_INIT;
    json_t *got = json_array();
    assert_int_equal(read_all(&file, NULL, 0, got, &err), 3);
    /* the third record left "child" out: it reads back as its default */
    json_object_set_new(json_array_get(recs, 2), "child", json_null());
    assert_json_equal(got, recs);
    /* header: magic, schema text verbatim, codec, Iceberg keys verbatim */
    assert_memory_equal(file.data, "Obj\x01", 4);
    CnAvroReader *r = NULL;
    ASSERT_OK(cn_avro_reader_open("t.avro", file.data, file.len, &r, &err), &err);
    assert_string_equal(cn_avro_reader_codec(r), codec);
    size_t len;
    const uint8_t *s = cn_avro_reader_meta(r, "avro.schema", &len);
    assert_int_equal(len, strlen(cn_avro_schema_text(doc)));
    assert_memory_equal(s, cn_avro_schema_text(doc), len);
    json_t *meta = load_json("manifest_meta.json");
    const char *k;
    json_t *v;
    json_object_foreach(meta, k, v) {
        const uint8_t *m = cn_avro_reader_meta(r, k, &len);
        assert_non_null(m);
        assert_int_equal(len, json_string_length(v));
        assert_memory_equal(m, json_string_value(v), len);
    }
    assert_null(cn_avro_reader_meta(r, "missing", &len));
    json_decref(meta);
    cn_avro_reader_free(r);
    json_decref(got);
    json_decref(recs);
    cn_buf_fini(&file);
    cn_avro_schema_free(doc);
}

static void roundtrip_null_codec(void **state) { (void)state; roundtrip_codec("null"); }
static void roundtrip_deflate_codec(void **state) { (void)state; roundtrip_codec("deflate"); }
static void roundtrip_snappy_codec(void **state) { (void)state; roundtrip_codec("snappy"); }

static void deflate_really_compresses(void **state) {
    (void)state;
    CnAvroSchemaDoc *doc = load_schema("manifest_entry.avsc");
    json_t *one = load_json("manifest_entries.json");
    json_t *many = json_array();
    for (int i = 0; i < 500; i++) json_array_append(many, json_array_get(one, (size_t)i % 2));
    CnBuf plain = CN_BUF_INIT, z = CN_BUF_INIT;
    write_file(doc, many, "null", 0, &plain);
    write_file(doc, many, "deflate", 0, &z);
    assert_true(z.len * 5 < plain.len);
    CnErr err = CN_ERR_INIT;
    json_t *a = json_array(), *b = json_array();
    assert_int_equal(read_all(&plain, NULL, 0, a, &err), 500);
    assert_int_equal(read_all(&z, NULL, 0, b, &err), 500);
    assert_json_equal(a, b);
    json_decref(a);
    json_decref(b);
    json_decref(many);
    json_decref(one);
    cn_buf_fini(&plain);
    cn_buf_fini(&z);
    cn_avro_schema_free(doc);
}

static void manifest_accessors(void **state) {
    (void)state;
    CnAvroSchemaDoc *doc = load_schema("manifest_entry.avsc");
    json_t *recs = load_json("manifest_entries.json");
    CnBuf file = CN_BUF_INIT;
    write_file(doc, recs, "deflate", 0, &file);
    CnErr err = CN_ERR_INIT;
    CnAvroReader *r = NULL;
    ASSERT_OK(cn_avro_reader_open("m.avro", file.data, file.len, &r, &err), &err);
    const CnAvroValue *v;
    assert_int_equal(cn_avro_reader_next(r, &v, &err), 1);
    assert_int_equal(cn_avro_value_deref(cn_avro_rec_get(v, "status"))->u.i, 1);
    assert_int_equal(cn_avro_value_deref(cn_avro_rec_get_id(v, 1))->u.l, 3051729675574597004LL);
    assert_true(cn_avro_value_is_null(cn_avro_rec_get(v, "sequence_number")));
    const CnAvroValue *df = cn_avro_rec_get_id(v, 2);
    const CnAvroValue *ds = cn_avro_rec_get_id(cn_avro_rec_get_id(df, 102), 1000);
    assert_string_equal((const char *)cn_avro_value_deref(ds)->u.bytes, "2023-12-01");
    const CnAvroValue *lb = cn_avro_value_deref(cn_avro_rec_get(df, "lower_bounds"));
    assert_int_equal(lb->n, 1);
    const CnAvroValue *bound = cn_avro_rec_get_id(&lb->u.items[0], 127);
    assert_int_equal(bound->n, 4);
    assert_memory_equal(bound->u.bytes, "\x00\x01\xff\x80", 4);
    assert_int_equal(cn_avro_reader_next(r, &v, &err), 1);
    assert_true(cn_avro_value_is_null(cn_avro_rec_get(v, "snapshot_id")));
    assert_int_equal(cn_avro_reader_next(r, &v, &err), 0);
    cn_avro_reader_free(r);
    json_decref(recs);
    cn_buf_fini(&file);
    cn_avro_schema_free(doc);
}

static CnAvroSchemaDoc *parse_str(const char *text) {
    CnErr err = CN_ERR_INIT;
    CnAvroSchemaDoc *doc = NULL;
    ASSERT_OK(cn_avro_schema_parse("inline", text, strlen(text), &doc, &err), &err);
    return doc;
}

static const char *WRITER_V1 =
    "{\"type\":\"record\",\"name\":\"r\",\"fields\":["
    "{\"name\":\"id\",\"type\":\"int\",\"field-id\":1},"
    "{\"name\":\"amount\",\"type\":\"float\",\"field-id\":2},"
    "{\"name\":\"old\",\"type\":\"string\",\"field-id\":3},"
    "{\"name\":\"tags\",\"type\":{\"type\":\"map\",\"values\":\"int\"},\"field-id\":4}]}";

static void resolve_by_name_with_defaults_and_promotion(void **state) {
    (void)state;
    CnAvroSchemaDoc *w = parse_str(WRITER_V1);
    /* reader: reordered, int->long, float->double, map<int>->map<double>, "old" dropped,
     * a new field with a default, a new nullable field without one */
    CnAvroSchemaDoc *rs = parse_str(
        "{\"type\":\"record\",\"name\":\"other\",\"fields\":["
        "{\"name\":\"tags\",\"type\":{\"type\":\"map\",\"values\":\"double\"}},"
        "{\"name\":\"amount\",\"type\":\"double\"},"
        "{\"name\":\"id\",\"type\":\"long\"},"
        "{\"name\":\"region\",\"type\":\"string\",\"default\":\"us\"},"
        "{\"name\":\"note\",\"type\":[\"null\",\"string\"]}]}");
    json_t *recs = json_loads("[{\"id\":7,\"amount\":2.5,\"old\":\"x\",\"tags\":{\"a\":3}}]", 0, NULL);
    CnBuf file = CN_BUF_INIT;
    write_file(w, recs, "null", 0, &file);
    CnErr err = CN_ERR_INIT;
    json_t *got = json_array();
    assert_int_equal(read_all(&file, rs, CN_AVRO_MATCH_NAME, got, &err), 1);
    json_t *want = json_loads("[{\"tags\":{\"a\":3.0},\"amount\":2.5,\"id\":7,\"region\":\"us\","
                              "\"note\":null}]", 0, NULL);
    assert_json_equal(got, want);
    /* a required field missing from the writer without a default is a clear error */
    CnAvroSchemaDoc *bad = parse_str("{\"type\":\"record\",\"name\":\"r\",\"fields\":["
                                     "{\"name\":\"must\",\"type\":\"long\"}]}");
    ASSERT_ERR(read_all(&file, bad, CN_AVRO_MATCH_NAME, NULL, &err), CN_ETYPE, &err);
    ASSERT_CONTAINS(cn_err_msg(&err), "field must");
    ASSERT_CONTAINS(cn_err_msg(&err), "no default");
    json_decref(want);
    json_decref(got);
    json_decref(recs);
    cn_buf_fini(&file);
    cn_avro_schema_free(w);
    cn_avro_schema_free(rs);
    cn_avro_schema_free(bad);
}

static void resolve_by_field_id_after_rename(void **state) {
    (void)state;
    CnAvroSchemaDoc *w = parse_str(WRITER_V1);
    /* Iceberg renamed "amount" to "total" and "id" to "user_id": ids still match; a
     * field named "old" with a new id must NOT take the writer's "old" */
    CnAvroSchemaDoc *rs = parse_str(
        "{\"type\":\"record\",\"name\":\"r\",\"fields\":["
        "{\"name\":\"user_id\",\"type\":\"long\",\"field-id\":1},"
        "{\"name\":\"total\",\"type\":\"double\",\"field-id\":2},"
        "{\"name\":\"old\",\"type\":[\"null\",\"string\"],\"field-id\":9}]}");
    json_t *recs = json_loads("[{\"id\":7,\"amount\":2.5,\"old\":\"x\",\"tags\":{}}]", 0, NULL);
    CnBuf file = CN_BUF_INIT;
    write_file(w, recs, "deflate", 0, &file);
    CnErr err = CN_ERR_INIT;
    json_t *got = json_array();
    assert_int_equal(read_all(&file, rs, CN_AVRO_MATCH_FIELD_ID, got, &err), 1);
    json_t *want = json_loads("[{\"user_id\":7,\"total\":2.5,\"old\":null}]", 0, NULL);
    assert_json_equal(got, want);
    /* by name the renamed fields would be missing */
    ASSERT_ERR(read_all(&file, rs, CN_AVRO_MATCH_NAME, NULL, &err), CN_ETYPE, &err);
    ASSERT_CONTAINS(cn_err_msg(&err), "user_id");
    json_decref(want);
    json_decref(got);
    json_decref(recs);
    cn_buf_fini(&file);
    cn_avro_schema_free(w);
    cn_avro_schema_free(rs);
}

static void append_type_mismatch_sticks(void **state) {
    (void)state;
    CnAvroSchemaDoc *doc = load_schema("manifest_entry.avsc");
    CnErr err = CN_ERR_INIT;
    CnArena a;
    cn_arena_init(&a, 0);
    CnAvroValue *v = NULL;
    json_t *bad = json_loads("{\"status\":1,\"data_file\":{\"content\":0,\"file_path\":5,"
                             "\"file_format\":\"PARQUET\",\"partition\":{},\"record_count\":1,"
                             "\"file_size_in_bytes\":1}}", 0, NULL);
    ASSERT_ERR(cn_avro_value_from_json(&a, cn_avro_schema_root(doc), bad, &v, &err), CN_ETYPE, &err);
    ASSERT_CONTAINS(cn_err_msg(&err), "data_file.file_path");
    ASSERT_CONTAINS(cn_err_msg(&err), "expected string");
    /* the encoder checks values too: a long where an int belongs */
    json_t *all = load_json("manifest_entries.json");
    json_t *ok = json_array_get(all, 0);
    CnAvroValue *good = NULL;
    cn_err_clear(&err);
    ASSERT_OK(cn_avro_value_from_json(&a, cn_avro_schema_root(doc), ok, &good, &err), &err);
    CnAvroWriter *w = NULL;
    ASSERT_OK(cn_avro_writer_new(doc, NULL, &w, &err), &err);
    CnAvroValue wrong = *good;
    CnAvroValue fields[5];
    memcpy(fields, good->u.items, sizeof fields);
    static const CnAvroSchema LONG = {.type = CN_AVRO_LONG, .name = "long"};
    fields[0].schema = &LONG;
    wrong.u.items = fields;
    ASSERT_ERR(cn_avro_writer_append(w, &wrong, &err), CN_ETYPE, &err);
    ASSERT_CONTAINS(cn_err_msg(&err), "field status: expected int");
    /* sticky: a good record after it still fails, and so does finish */
    CnErr err2 = CN_ERR_INIT;
    ASSERT_ERR(cn_avro_writer_append(w, good, &err2), CN_ETYPE, &err2);
    CnBuf out = CN_BUF_INIT;
    ASSERT_ERR(cn_avro_writer_finish(w, &out, &err2), CN_ETYPE, &err2);
    assert_int_equal(out.len, 0);
    cn_avro_writer_free(w);
    json_decref(bad);
    json_decref(all);
    cn_arena_fini(&a);
    cn_avro_schema_free(doc);
}

static void writer_rejects_bad_options(void **state) {
    (void)state;
    CnAvroSchemaDoc *doc = parse_str("\"long\"");
    CnErr err = CN_ERR_INIT;
    CnAvroWriter *w = NULL;
    CnAvroWriterOptions opt = {.codec = "zstandard"};
    ASSERT_ERR(cn_avro_writer_new(doc, &opt, &w, &err), CN_EUNSUPPORTED, &err);
    ASSERT_CONTAINS(cn_err_msg(&err), "zstandard");
    cn_err_clear(&err);
    ASSERT_OK(cn_avro_writer_new(doc, NULL, &w, &err), &err);
    ASSERT_ERR(cn_avro_writer_meta(w, "avro.schema", "x", 1, &err), CN_EINVAL, &err);
    cn_avro_writer_free(w);
    cn_avro_schema_free(doc);
}

/* Every strict prefix of a file fails cleanly (or reads fewer records); none crashes. */
static void truncated_files_fail_cleanly(void **state) {
    (void)state;
    const char *codecs[] = {"null", "deflate", "snappy"};
    CnAvroSchemaDoc *doc = load_schema("all_types.avsc");
    json_t *recs = load_json("all_types.json");
    for (size_t c = 0; c < CN_ARRAY_LEN(codecs); c++) {
        CnBuf file = CN_BUF_INIT;
        write_file(doc, recs, codecs[c], 64, &file);
        int errors = 0;
        for (size_t n = 0; n < file.len; n++) {
            CnBuf part = CN_BUF_INIT;
            cn_buf_append(&part, file.data, n);
            CnErr err = CN_ERR_INIT;
            int rc = read_all(&part, NULL, 0, NULL, &err);
            /* a cut exactly between blocks is a valid shorter file */
            if (rc >= 0) {
                assert_true(rc < 3);
            } else {
                errors++;
                assert_int_equal(rc, CN_ECORRUPT);
                ASSERT_CONTAINS(cn_err_msg(&err), "t.avro");
            }
            cn_buf_fini(&part);
        }
        assert_true(errors > (int)file.len - 8);
        cn_buf_fini(&file);
    }
    /* the message of a cut inside a block names the block */
    CnBuf file = CN_BUF_INIT;
    write_file(doc, recs, "null", 0, &file);
    file.len -= 20;
    CnErr err = CN_ERR_INIT;
    ASSERT_ERR(read_all(&file, NULL, 0, NULL, &err), CN_ECORRUPT, &err);
    ASSERT_CONTAINS(cn_err_msg(&err), "block 1");
    ASSERT_CONTAINS(cn_err_msg(&err), "truncated");
    cn_buf_fini(&file);
    json_decref(recs);
    cn_avro_schema_free(doc);
}

static void flipped_bytes_never_crash(void **state) {
    (void)state;
    const char *seed_env = getenv("CN_TEST_SEED");
    uint64_t seed = seed_env ? strtoull(seed_env, NULL, 10) : 20231201;
    CnAvroSchemaDoc *doc = load_schema("manifest_entry.avsc");
    json_t *recs = load_json("manifest_entries.json");
    const char *codecs[] = {"null", "deflate", "snappy"};
    int failures = 0, runs = 0;
    for (size_t c = 0; c < CN_ARRAY_LEN(codecs); c++) {
        CnBuf file = CN_BUF_INIT;
        write_file(doc, recs, codecs[c], 0, &file);
        uint64_t x = seed + c;
        for (int t = 0; t < 1500; t++) {
            CnBuf bad = CN_BUF_INIT;
            cn_buf_append(&bad, file.data, file.len);
            int flips = 1 + t % 3;
            for (int f = 0; f < flips; f++) {
                x = x * 6364136223846793005ull + 1442695040888963407ull;
                size_t pos = (size_t)(x >> 33) % bad.len;
                bad.data[pos] = (char)(bad.data[pos] ^ (1 << ((x >> 20) & 7)));
            }
            CnErr err = CN_ERR_INIT;
            int rc = read_all(&bad, NULL, 0, NULL, &err);
            runs++;
            if (rc < 0) {
                failures++;
                if (rc != CN_ECORRUPT && rc != CN_EUNSUPPORTED && rc != CN_ELIMIT && rc != CN_EINVAL)
                    fail_msg("seed %llu: unexpected rc %d: %s", (unsigned long long)seed, rc,
                             cn_err_msg(&err));
                assert_true(strlen(cn_err_msg(&err)) > 10);
            }
            cn_buf_fini(&bad);
        }
        cn_buf_fini(&file);
    }
    /* most flips are caught (sync marker, lengths, CRC, deflate), but string bytes may
     * change silently: require a good share of clean errors */
    assert_true(failures > runs / 4);
    json_decref(recs);
    cn_avro_schema_free(doc);
}

static void corrupt_header_messages(void **state) {
    (void)state;
    CnErr err = CN_ERR_INIT;
    CnAvroReader *r = NULL;
    ASSERT_ERR(cn_avro_reader_open("x.avro", "PAR1abcd", 8, &r, &err), CN_ECORRUPT, &err);
    ASSERT_CONTAINS(cn_err_msg(&err), "x.avro: not an Avro object container file");
    /* a metadata string longer than the file */
    cn_err_clear(&err);
    const char hdr[] = "Obj\x01\x02\x7e" "abc";
    ASSERT_ERR(cn_avro_reader_open("y.avro", hdr, sizeof hdr - 1, &r, &err), CN_ECORRUPT, &err);
    ASSERT_CONTAINS(cn_err_msg(&err), "y.avro: header");
    ASSERT_CONTAINS(cn_err_msg(&err), "length 63");
    /* unknown codec */
    CnAvroSchemaDoc *doc = parse_str("\"long\"");
    CnAvroWriter *w = NULL;
    ASSERT_OK(cn_avro_writer_new(doc, NULL, &w, &err), &err);
    CnBuf file = CN_BUF_INIT;
    ASSERT_OK(cn_avro_writer_finish(w, &file, &err), &err);
    char *p = NULL;
    for (size_t i = 0; i + 4 <= file.len && !p; i++)
        if (memcmp(file.data + i, "null", 4) == 0) p = file.data + i;
    assert_non_null(p);
    memcpy(p, "lz4x", 4);
    cn_err_clear(&err);
    ASSERT_ERR(cn_avro_reader_open("z.avro", file.data, file.len, &r, &err), CN_EUNSUPPORTED, &err);
    ASSERT_CONTAINS(cn_err_msg(&err), "codec \"lz4x\"");
    cn_buf_fini(&file);
    cn_avro_writer_free(w);
    cn_avro_schema_free(doc);
}

static void long_extremes_roundtrip(void **state) {
    (void)state;
    CnAvroSchemaDoc *doc = parse_str("{\"type\":\"array\",\"items\":\"long\"}");
    json_t *recs = json_loads("[[9223372036854775807,-9223372036854775808,0,-1,1,63,-64,64]]",
                              0, NULL);
    CnBuf file = CN_BUF_INIT;
    write_file(doc, recs, "null", 0, &file);
    CnErr err = CN_ERR_INIT;
    json_t *got = json_array();
    assert_int_equal(read_all(&file, NULL, 0, got, &err), 1);
    assert_json_equal(got, recs);
    json_decref(got);
    json_decref(recs);
    cn_buf_fini(&file);
    cn_avro_schema_free(doc);
}

CN_TEST_MAIN(cmocka_unit_test(schema_keeps_field_ids), cmocka_unit_test(schema_errors_name_the_path),
             cmocka_unit_test(schema_recursive_type), cmocka_unit_test(roundtrip_null_codec),
             cmocka_unit_test(roundtrip_deflate_codec), cmocka_unit_test(roundtrip_snappy_codec),
             cmocka_unit_test(deflate_really_compresses), cmocka_unit_test(manifest_accessors),
             cmocka_unit_test(resolve_by_name_with_defaults_and_promotion),
             cmocka_unit_test(resolve_by_field_id_after_rename),
             cmocka_unit_test(append_type_mismatch_sticks),
             cmocka_unit_test(writer_rejects_bad_options),
             cmocka_unit_test(truncated_files_fail_cleanly),
             cmocka_unit_test(flipped_bytes_never_crash),
             cmocka_unit_test(corrupt_header_messages), cmocka_unit_test(long_extremes_roundtrip))
