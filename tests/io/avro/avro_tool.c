/* avro_tool.c: a test driver over the Avro API for the interop tests with avsc
 * (tests/io/avro/e2e_avsc.py). Not a user command.
 *   avro_tool write SCHEMA.json RECORDS.json OUT.avro CODEC [META.json]
 *       RECORDS.json: a JSON array of records; META.json: an object of string values,
 *       written in the object's key order
 *   avro_tool read IN.avro [READER_SCHEMA.json name|id]
 *       prints {"codec":..., "meta":{...}, "records":[...]} on stdout
 * Exit: 0 ok, 1 error (message on stderr as "avro_tool: NAME: message"), 2 usage. */
#include "base/compat.h"

#include <stdio.h>
#include <string.h>

#include "base/alloc.h"
#include "base/fs.h"
#include "base/json.h"
#include "io/avro/avro.h"

static int load_schema(const char *path, CnAvroSchemaDoc **out, CnErr *err) {
    char *text = NULL;
    size_t len = 0;
    int rc = cn_fs_read_all(path, &text, &len, err);
    if (rc == 0) rc = cn_avro_schema_parse(path, text, len, out, err);
    cn_free(text);
    return rc;
}

static int load_json(const char *path, json_t **out, CnErr *err) {
    json_error_t je;
    *out = json_load_file(path, JSON_ALLOW_NUL, &je);
    if (!*out) return cn_err_set(err, CN_ECORRUPT, "%s:%d: %s", path, je.line, je.text);
    return 0;
}

static int do_write(int argc, char **argv, CnErr *err) {
    CnAvroSchemaDoc *schema = NULL;
    CnAvroWriter *w = NULL;
    json_t *records = NULL, *meta = NULL;
    CnArena arena;
    CnBuf out = CN_BUF_INIT;
    cn_arena_init(&arena, 0);
    int rc = load_schema(argv[2], &schema, err);
    if (rc == 0) rc = load_json(argv[3], &records, err);
    if (rc == 0 && argc > 6) rc = load_json(argv[6], &meta, err);
    if (rc < 0) goto done;
    CnAvroWriterOptions opt = {.codec = argv[5], .block_bytes = 256};
    rc = cn_avro_writer_new(schema, &opt, &w, err);
    if (rc < 0) goto done;
    const char *k;
    json_t *v;
    json_object_foreach(meta, k, v) {
        const char *s = json_string_value(v);
        if (!s) {
            rc = cn_err_set(err, CN_EINVAL, "%s: metadata \"%s\" is not a string", argv[6], k);
            goto done;
        }
        rc = cn_avro_writer_meta(w, k, s, json_string_length(v), err);
        if (rc < 0) goto done;
    }
    size_t i;
    json_array_foreach(records, i, v) {
        CnAvroValue *val = NULL;
        rc = cn_avro_value_from_json(&arena, cn_avro_schema_root(schema), v, &val, err);
        if (rc == 0) rc = cn_avro_writer_append(w, val, err);
        if (rc < 0) {
            cn_err_ctx(err, rc, "%s: record %zu", argv[3], i);
            goto done;
        }
    }
    rc = cn_avro_writer_finish(w, &out, err);
    if (rc == 0) rc = cn_fs_write_atomic(argv[4], out.data, out.len, err);
done:
    cn_avro_writer_free(w);
    cn_avro_schema_free(schema);
    if (records) json_decref(records);
    if (meta) json_decref(meta);
    cn_arena_fini(&arena);
    cn_buf_fini(&out);
    return rc;
}

static int do_read(int argc, char **argv, CnErr *err) {
    CnAvroReader *r = NULL;
    CnAvroSchemaDoc *rs = NULL;
    json_t *doc = json_object(), *recs = json_array(), *meta = json_object();
    int rc = cn_avro_reader_open_file(argv[2], &r, err);
    if (rc == 0 && argc > 4) {
        rc = load_schema(argv[3], &rs, err);
        if (rc == 0)
            rc = cn_avro_reader_set_schema(r, rs, strcmp(argv[4], "id") == 0
                                                      ? CN_AVRO_MATCH_FIELD_ID
                                                      : CN_AVRO_MATCH_NAME, err);
    }
    if (rc < 0) goto done;
    for (;;) {
        const CnAvroValue *v;
        rc = cn_avro_reader_next(r, &v, err);
        if (rc <= 0) break;
        json_t *j = NULL;
        rc = cn_avro_value_to_json(v, &j, err);
        if (rc < 0) break;
        json_array_append_new(recs, j);
    }
    if (rc < 0) goto done;
    const char *keys[] = {"avro.schema", "avro.codec", "schema", "schema-id", "partition-spec",
                          "partition-spec-id", "format-version", "content", "note"};
    for (size_t i = 0; i < CN_ARRAY_LEN(keys); i++) {
        size_t len;
        const uint8_t *m = cn_avro_reader_meta(r, keys[i], &len);
        if (m) json_object_set_new(meta, keys[i], json_stringn((const char *)m, len));
    }
    json_object_set_new(doc, "codec", json_string(cn_avro_reader_codec(r)));
    json_object_set(doc, "meta", meta);
    json_object_set(doc, "records", recs);
    char *s = json_dumps(doc, JSON_COMPACT);
    if (!s) {
        rc = cn_err_set(err, CN_ENOMEM, "cannot format the output");
        goto done;
    }
    puts(s);
    json_free_t freer;
    json_get_alloc_funcs(NULL, &freer);
    freer(s);
done:
    json_decref(doc);
    json_decref(recs);
    json_decref(meta);
    cn_avro_reader_free(r);
    cn_avro_schema_free(rs);
    return rc;
}

int main(int argc, char **argv) {
    CnErr err = CN_ERR_INIT;
    int rc;
    if (argc >= 6 && strcmp(argv[1], "write") == 0) rc = do_write(argc, argv, &err);
    else if ((argc == 3 || argc == 5) && strcmp(argv[1], "read") == 0) rc = do_read(argc, argv, &err);
    else {
        fprintf(stderr, "usage: avro_tool write SCHEMA RECORDS OUT CODEC [META] | "
                        "read IN [READER_SCHEMA name|id]\n");
        return 2;
    }
    if (rc < 0) {
        fprintf(stderr, "avro_tool: %s: %s\n", chronon_err_name(rc), cn_err_msg(&err));
        return 1;
    }
    return 0;
}
