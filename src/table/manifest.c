/* manifest.c: manifest lists and manifests (Avro, Iceberg v2 schemas with field ids).
 * We write codec null (every Iceberg reader takes it), primitives as plain strings, and
 * every metadata key the spec requires. We read by field id, so files written by other
 * Iceberg implementations (Java names some fields differently) read the same. */
#include "base/compat.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "io/avro/avro.h"
#include "table/ice_int.h"

static const char manifest_list_schema[] =
    "{\"type\":\"record\",\"name\":\"manifest_file\",\"fields\":["
    "{\"name\":\"manifest_path\",\"type\":\"string\",\"doc\":\"Location URI with FS scheme\",\"field-id\":500},"
    "{\"name\":\"manifest_length\",\"type\":\"long\",\"doc\":\"Total file size in bytes\",\"field-id\":501},"
    "{\"name\":\"partition_spec_id\",\"type\":\"int\",\"doc\":\"Spec ID used to write\",\"field-id\":502},"
    "{\"name\":\"content\",\"type\":\"int\",\"doc\":\"Contents of the manifest: 0=data, 1=deletes\",\"field-id\":517},"
    "{\"name\":\"sequence_number\",\"type\":\"long\",\"doc\":\"Sequence number when the manifest was added\",\"field-id\":515},"
    "{\"name\":\"min_sequence_number\",\"type\":\"long\",\"doc\":\"Lowest sequence number in the manifest\",\"field-id\":516},"
    "{\"name\":\"added_snapshot_id\",\"type\":\"long\",\"doc\":\"Snapshot ID that added the manifest\",\"field-id\":503},"
    "{\"name\":\"added_files_count\",\"type\":\"int\",\"doc\":\"Added entry count\",\"field-id\":504},"
    "{\"name\":\"existing_files_count\",\"type\":\"int\",\"doc\":\"Existing entry count\",\"field-id\":505},"
    "{\"name\":\"deleted_files_count\",\"type\":\"int\",\"doc\":\"Deleted entry count\",\"field-id\":506},"
    "{\"name\":\"added_rows_count\",\"type\":\"long\",\"doc\":\"Added rows count\",\"field-id\":512},"
    "{\"name\":\"existing_rows_count\",\"type\":\"long\",\"doc\":\"Existing rows count\",\"field-id\":513},"
    "{\"name\":\"deleted_rows_count\",\"type\":\"long\",\"doc\":\"Deleted rows count\",\"field-id\":514},"
    "{\"name\":\"partitions\",\"type\":[\"null\",{\"type\":\"array\",\"items\":{\"type\":\"record\","
    "\"name\":\"r508\",\"fields\":["
    "{\"name\":\"contains_null\",\"type\":\"boolean\",\"doc\":\"True if any file has a null partition value\",\"field-id\":509},"
    "{\"name\":\"contains_nan\",\"type\":[\"null\",\"boolean\"],\"doc\":\"True if any file has a nan partition value\",\"default\":null,\"field-id\":518},"
    "{\"name\":\"lower_bound\",\"type\":[\"null\",\"bytes\"],\"doc\":\"Partition lower bound for all files\",\"default\":null,\"field-id\":510},"
    "{\"name\":\"upper_bound\",\"type\":[\"null\",\"bytes\"],\"doc\":\"Partition upper bound for all files\",\"default\":null,\"field-id\":511}"
    "]},\"element-id\":508}],\"doc\":\"Summary for each partition\",\"default\":null,\"field-id\":507},"
    "{\"name\":\"key_metadata\",\"type\":[\"null\",\"bytes\"],\"doc\":\"Encryption key metadata blob\",\"default\":null,\"field-id\":519}"
    "]}";

#define MAP_OF(name, id, kid, vid, vtype)                                                      \
    "{\"name\":\"" name "\",\"type\":[\"null\",{\"type\":\"array\",\"items\":{\"type\":\"record\"," \
    "\"name\":\"k" #kid "_v" #vid "\",\"fields\":[{\"name\":\"key\",\"type\":\"int\",\"field-id\":" #kid "}," \
    "{\"name\":\"value\",\"type\":\"" vtype "\",\"field-id\":" #vid "}]},\"logicalType\":\"map\"}]," \
    "\"default\":null,\"field-id\":" #id "}"

static const char manifest_schema[] =
    "{\"type\":\"record\",\"name\":\"manifest_entry\",\"fields\":["
    "{\"name\":\"status\",\"type\":\"int\",\"field-id\":0},"
    "{\"name\":\"snapshot_id\",\"type\":[\"null\",\"long\"],\"default\":null,\"field-id\":1},"
    "{\"name\":\"sequence_number\",\"type\":[\"null\",\"long\"],\"default\":null,\"field-id\":3},"
    "{\"name\":\"file_sequence_number\",\"type\":[\"null\",\"long\"],\"default\":null,\"field-id\":4},"
    "{\"name\":\"data_file\",\"type\":{\"type\":\"record\",\"name\":\"r2\",\"fields\":["
    "{\"name\":\"content\",\"type\":\"int\",\"doc\":\"Contents of the file: 0=data, 1=position deletes, 2=equality deletes\",\"field-id\":134},"
    "{\"name\":\"file_path\",\"type\":\"string\",\"doc\":\"Location URI with FS scheme\",\"field-id\":100},"
    "{\"name\":\"file_format\",\"type\":\"string\",\"doc\":\"File format name: avro, orc, or parquet\",\"field-id\":101},"
    "{\"name\":\"partition\",\"type\":{\"type\":\"record\",\"name\":\"r102\",\"fields\":["
    "{\"name\":\"ds\",\"type\":[\"null\",\"string\"],\"default\":null,\"field-id\":1000}]},"
    "\"doc\":\"Partition data tuple, schema based on the partition spec\",\"field-id\":102},"
    "{\"name\":\"record_count\",\"type\":\"long\",\"doc\":\"Number of records in the file\",\"field-id\":103},"
    "{\"name\":\"file_size_in_bytes\",\"type\":\"long\",\"doc\":\"Total file size in bytes\",\"field-id\":104},"
    MAP_OF("column_sizes", 108, 117, 118, "long") ","
    MAP_OF("value_counts", 109, 119, 120, "long") ","
    MAP_OF("null_value_counts", 110, 121, 122, "long") ","
    MAP_OF("nan_value_counts", 137, 138, 139, "long") ","
    MAP_OF("lower_bounds", 125, 126, 127, "bytes") ","
    MAP_OF("upper_bounds", 128, 129, 130, "bytes") ","
    "{\"name\":\"key_metadata\",\"type\":[\"null\",\"bytes\"],\"doc\":\"Encryption key metadata blob\",\"default\":null,\"field-id\":131},"
    "{\"name\":\"split_offsets\",\"type\":[\"null\",{\"type\":\"array\",\"items\":\"long\",\"element-id\":133}],"
    "\"doc\":\"Splittable offsets\",\"default\":null,\"field-id\":132},"
    "{\"name\":\"equality_ids\",\"type\":[\"null\",{\"type\":\"array\",\"items\":\"int\",\"element-id\":136}],"
    "\"doc\":\"Equality comparison field IDs\",\"default\":null,\"field-id\":135},"
    "{\"name\":\"sort_order_id\",\"type\":[\"null\",\"int\"],\"doc\":\"Sort order ID\",\"default\":null,\"field-id\":140}"
    "]},\"field-id\":2}]}";

/* Avro's JSON form of bytes: one code point (0-255) per byte. */
static json_t *bytes_json(const uint8_t *p, size_t n) {
    char *s = cn_malloc(2 * n + 1);
    if (!s) return NULL;
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (p[i] < 0x80) {
            s[o++] = (char)p[i];
        } else {
            s[o++] = (char)(0xC0 | (p[i] >> 6));
            s[o++] = (char)(0x80 | (p[i] & 0x3F));
        }
    }
    json_t *j = json_stringn(s, o);
    cn_free(s);
    return j;
}

static int write_avro(CnIceCatalog *c, const char *key, const char *schema_text,
                      const char *const *meta_kv, uint32_t n_kv, json_t *records, CnErr *err) {
    CnAvroSchemaDoc *doc = NULL;
    CnAvroWriter *w = NULL;
    CnArena a;
    cn_arena_init(&a, 0);
    CnBuf out = CN_BUF_INIT;
    int rc = cn_avro_schema_parse(key, schema_text, strlen(schema_text), &doc, err);
    if (rc < 0) goto done;
    CnAvroWriterOptions opt = {.codec = "null"};
    rc = cn_avro_writer_new(doc, &opt, &w, err);
    for (uint32_t i = 0; rc == 0 && i < n_kv; i++)
        rc = cn_avro_writer_meta(w, meta_kv[2 * i], meta_kv[2 * i + 1], strlen(meta_kv[2 * i + 1]), err);
    size_t i;
    json_t *r;
    json_array_foreach(records, i, r) {
        if (rc < 0) break;
        CnAvroValue *v = NULL;
        rc = cn_avro_value_from_json(&a, cn_avro_schema_root(doc), r, &v, err);
        if (rc == 0) rc = cn_avro_writer_append(w, v, err);
    }
    if (rc == 0) rc = cn_avro_writer_finish(w, &out, err);
    if (rc == 0) rc = cn_obj_put(c->store, key, out.data, out.len, err);
done:
    cn_avro_writer_free(w);
    cn_avro_schema_free(doc);
    cn_arena_fini(&a);
    cn_buf_fini(&out);
    return cn_err_ctx(err, rc, "writing %s", key);
}

/* ---------------------------------------------------------------- manifests */

static json_t *stat_map(const CnIceDataFile *f, int which) {
    if (!f->n_stats) return json_null();
    json_t *arr = json_array();
    for (uint32_t i = 0; i < f->n_stats; i++) {
        const CnIceColStat *s = &f->stats[i];
        json_t *v = NULL;
        switch (which) {
        case 0: v = json_integer(s->size); break;
        case 1: v = json_integer(s->values); break;
        case 2: v = json_integer(s->nulls); break;
        case 3: if (s->has_bounds) v = bytes_json((const uint8_t *)s->lo.data, s->lo.len); break;
        default: if (s->has_bounds) v = bytes_json((const uint8_t *)s->hi.data, s->hi.len); break;
        }
        if (v) json_array_append_new(arr, json_pack("{s:i, s:o}", "key", s->field_id, "value", v));
    }
    return arr;
}

static json_t *data_file_json(const CnIceDataFile *f) {
    if (f->raw) return json_incref(f->raw);
    return json_pack("{s:i, s:s, s:s, s:{s:o}, s:I, s:I, s:o, s:o, s:o, s:n, s:o, s:o, s:n, s:n, s:n, s:o}",
                     "content", 0, "file_path", f->path, "file_format", "PARQUET", "partition",
                     "ds", f->ds_null ? json_null() : json_string(f->ds), "record_count",
                     (json_int_t)f->records, "file_size_in_bytes", (json_int_t)f->size,
                     "column_sizes", stat_map(f, 0), "value_counts", stat_map(f, 1),
                     "null_value_counts", stat_map(f, 2), "nan_value_counts", "lower_bounds",
                     stat_map(f, 3), "upper_bounds", stat_map(f, 4), "key_metadata",
                     "split_offsets", "equality_ids", "sort_order_id",
                     f->sort_order_id ? json_integer(f->sort_order_id) : json_null());
}

int cn_ice__write_manifest(CnIceCatalog *c, CnArena *a, const CnIceTable *t, const char *key,
                           int64_t snapshot_id, int64_t seq, const CnIceDataFile *files,
                           uint32_t n, CnIceManifest *m, CnErr *err) {
    memset(m, 0, sizeof *m);
    json_t *recs = json_array();
    int64_t min_seq = seq;
    for (uint32_t i = 0; i < n; i++) {
        const CnIceDataFile *f = &files[i];
        json_t *fseq = f->status == 1 ? json_null() : json_integer(f->seq);
        json_t *ffseq = f->status == 1 ? json_null() : json_integer(f->file_seq);
        int64_t sid = f->status == 0 ? f->snapshot_id : snapshot_id;
        json_array_append_new(recs, json_pack("{s:i, s:I, s:o, s:o, s:o}", "status", f->status,
                                              "snapshot_id", (json_int_t)sid, "sequence_number",
                                              fseq, "file_sequence_number", ffseq, "data_file",
                                              data_file_json(f)));
        if (f->status != 1) min_seq = CN_MIN(min_seq, f->seq);
        if (f->status == 1) {
            m->added_files++;
            m->added_rows += f->records;
        } else if (f->status == 0) {
            m->existing_files++;
            m->existing_rows += f->records;
        } else {
            m->deleted_files++;
            m->deleted_rows += f->records;
        }
        /* the summary covers deleted entries too: a reader may skip the manifest only
         * when no entry at all can match */
        if (f->ds_null) {
            m->contains_null = true;
        } else {
            if (!m->has_bounds || strcmp(f->ds, m->lo) < 0) memcpy(m->lo, f->ds, 11);
            if (!m->has_bounds || strcmp(f->ds, m->hi) > 0) memcpy(m->hi, f->ds, 11);
            m->has_bounds = true;
        }
    }
    json_t *sj = cn_ice__meta_schema(t->meta, json_integer_value(json_object_get(t->meta, "current-schema-id")));
    char *schema_text = sj ? json_dumps(sj, JSON_COMPACT) : NULL;
    char spec[160], sid[24];
    snprintf(spec, sizeof spec,
             "[{\"name\":\"ds\",\"transform\":\"identity\",\"source-id\":%d,\"field-id\":%d}]",
             (int)t->ds_field_id, CN_ICE__PART_FIELD_ID);
    snprintf(sid, sizeof sid, "%lld", (long long)json_integer_value(json_object_get(t->meta, "current-schema-id")));
    const char *kv[] = {"schema", schema_text ? schema_text : "{}",
                        "schema-id", sid, "partition-spec", spec, "partition-spec-id", "0",
                        "format-version", "2", "content", "data"};
    int rc = write_avro(c, key, manifest_schema, kv, 6, recs, err);
    json_decref(recs);
    json_free_t fr;
    json_get_alloc_funcs(NULL, &fr);
    if (schema_text) fr(schema_text);
    if (rc < 0) return rc;
    CnBuf uri = CN_BUF_INIT;
    rc = cn_obj_uri(c->store, key, &uri);
    uint64_t size = 0;
    if (rc == 0) rc = cn_obj_head(c->store, key, &size, err);
    m->path = rc == 0 ? cn_arena_strdup(a, uri.data) : NULL;
    cn_buf_fini(&uri);
    if (rc < 0) return rc;
    m->length = (int64_t)size;
    m->spec_id = 0;
    m->content = 0;
    m->seq = seq;
    m->min_seq = min_seq;
    m->added_snapshot_id = snapshot_id;
    return 0;
}

int cn_ice__write_manifest_list(CnIceCatalog *c, const char *key, int64_t snapshot_id,
                                int64_t parent_id, int64_t seq, const CnIceManifest *ms,
                                uint32_t n, CnErr *err) {
    json_t *recs = json_array();
    for (uint32_t i = 0; i < n; i++) {
        const CnIceManifest *m = &ms[i];
        json_t *parts = json_array();
        json_array_append_new(parts,
                              json_pack("{s:b, s:n, s:o, s:o}", "contains_null", m->contains_null,
                                        "contains_nan", "lower_bound",
                                        m->has_bounds ? json_string(m->lo) : json_null(),
                                        "upper_bound", m->has_bounds ? json_string(m->hi) : json_null()));
        json_array_append_new(recs, json_pack("{s:s, s:I, s:i, s:i, s:I, s:I, s:I, s:i, s:i, s:i, s:I, s:I, s:I, s:o, s:n}",
                                              "manifest_path", m->path, "manifest_length", (json_int_t)m->length,
                                              "partition_spec_id", m->spec_id, "content", m->content,
                                              "sequence_number", (json_int_t)m->seq,
                                              "min_sequence_number", (json_int_t)m->min_seq,
                                              "added_snapshot_id", (json_int_t)m->added_snapshot_id,
                                              "added_files_count", m->added_files,
                                              "existing_files_count", m->existing_files,
                                              "deleted_files_count", m->deleted_files,
                                              "added_rows_count", (json_int_t)m->added_rows,
                                              "existing_rows_count", (json_int_t)m->existing_rows,
                                              "deleted_rows_count", (json_int_t)m->deleted_rows,
                                              "partitions", parts, "key_metadata"));
    }
    char sid[24], pid[24], sq[24];
    snprintf(sid, sizeof sid, "%lld", (long long)snapshot_id);
    snprintf(pid, sizeof pid, parent_id >= 0 ? "%lld" : "null", (long long)parent_id);
    snprintf(sq, sizeof sq, "%lld", (long long)seq);
    const char *kv[] = {"snapshot-id", sid, "parent-snapshot-id", pid, "sequence-number", sq,
                        "format-version", "2"};
    int rc = write_avro(c, key, manifest_list_schema, kv, 4, recs, err);
    json_decref(recs);
    return rc;
}

/* ------------------------------------------------------------------ reading */

static int64_t get_long(const CnAvroValue *rec, int64_t id, int64_t dflt) {
    const CnAvroValue *v = cn_avro_rec_get_id(rec, id);
    if (!v || cn_avro_value_is_null(v)) return dflt;
    v = cn_avro_value_deref(v);
    if (v->schema->type == CN_AVRO_INT) return v->u.i;
    if (v->schema->type == CN_AVRO_LONG) return v->u.l;
    return dflt;
}

static const char *get_str(const CnAvroValue *rec, int64_t id, size_t *len) {
    const CnAvroValue *v = cn_avro_rec_get_id(rec, id);
    if (!v || cn_avro_value_is_null(v)) return NULL;
    v = cn_avro_value_deref(v);
    if (v->schema->type != CN_AVRO_STRING && v->schema->type != CN_AVRO_BYTES) return NULL;
    *len = v->n;
    return (const char *)v->u.bytes;
}

static int open_avro(CnIceCatalog *c, const char *uri, CnBuf *buf, CnAvroReader **r, CnErr *err) {
    int rc = cn_ice__get(c, uri, buf, err);
    if (rc == 0) rc = cn_avro_reader_open(uri, buf->data ? buf->data : "", buf->len, r, err);
    return rc;
}

int cn_ice__read_manifest_list(CnIceCatalog *c, CnArena *a, const char *uri,
                               CnIceManifest **out, uint32_t *n, CnErr *err) {
    CnBuf buf = CN_BUF_INIT;
    CnAvroReader *r = NULL;
    uint32_t cap = 16, cnt = 0;
    CnIceManifest *ms = cn_arena_calloc(a, sizeof *ms * cap);
    int rc = ms ? open_avro(c, uri, &buf, &r, err) : CN_ENOMEM;
    const CnAvroValue *v = NULL;
    while (rc == 0 && (rc = cn_avro_reader_next(r, &v, err)) == 1) {
        rc = 0;
        if (cnt == cap) {
            CnIceManifest *m2 = cn_arena_calloc(a, sizeof *ms * cap * 2);
            if (!m2) {
                rc = CN_ENOMEM;
                break;
            }
            memcpy(m2, ms, sizeof *ms * cap);
            ms = m2;
            cap *= 2;
        }
        CnIceManifest *m = &ms[cnt++];
        size_t len = 0;
        const char *p = get_str(v, 500, &len);
        CN_CHECK_DATA(p, err, rc, "%s: manifest %u has no manifest_path", uri, cnt);
        m->path = cn_arena_strndup(a, p, len);
        m->length = get_long(v, 501, 0);
        m->spec_id = (int32_t)get_long(v, 502, 0);
        m->content = (int32_t)get_long(v, 517, 0);
        m->seq = get_long(v, 515, 0);
        m->min_seq = get_long(v, 516, 0);
        m->added_snapshot_id = get_long(v, 503, -1);
        m->added_files = (int32_t)get_long(v, 504, 0);
        m->existing_files = (int32_t)get_long(v, 505, 0);
        m->deleted_files = (int32_t)get_long(v, 506, 0);
        m->added_rows = get_long(v, 512, 0);
        m->existing_rows = get_long(v, 513, 0);
        m->deleted_rows = get_long(v, 514, 0);
        const CnAvroValue *parts = cn_avro_rec_get_id(v, 507);
        if (parts && !cn_avro_value_is_null(parts)) {
            parts = cn_avro_value_deref(parts);
            if (parts->schema->type == CN_AVRO_ARRAY && parts->n == 1 && m->spec_id == 0) {
                const CnAvroValue *ps = &parts->u.items[0];
                const CnAvroValue *cn = cn_avro_rec_get_id(ps, 509);
                m->contains_null = cn && cn_avro_value_deref(cn)->u.b;
                size_t l1 = 0, l2 = 0;
                const char *lo = get_str(ps, 510, &l1), *hi = get_str(ps, 511, &l2);
                if (lo && hi && l1 == 10 && l2 == 10) {
                    memcpy(m->lo, lo, 10);
                    memcpy(m->hi, hi, 10);
                    m->has_bounds = true;
                }
            }
        }
    }
    if (rc == 0 && r) { /* reader_next returned 0: end */ }
done:
    cn_avro_reader_free(r);
    cn_buf_fini(&buf);
    if (rc < 0) {
        if (rc == CN_ENOMEM) cn_err_set(err, rc, "out of memory");
        /* the Avro reader's messages already start with the file's name */
        if (!strncmp(cn_err_msg(err), uri, strlen(uri))) return cn_err_ctx(err, rc, "manifest list");
        return cn_err_ctx(err, rc, "manifest list %s", uri);
    }
    *out = ms;
    *n = cnt;
    return 0;
}

int cn_ice__read_manifest(CnIceCatalog *c, CnArena *a, const CnIceManifest *m, bool keep_raw,
                          CnIceDataFile **out, uint32_t *n, CnErr *err) {
    CnBuf buf = CN_BUF_INIT;
    CnAvroReader *r = NULL;
    uint32_t cap = 16, cnt = 0;
    CnIceDataFile *fs = cn_arena_calloc(a, sizeof *fs * cap);
    int rc = fs ? 0 : CN_ENOMEM;
    if (rc == 0 && m->content != 0)
        rc = cn_err_set(err, CN_EUNSUPPORTED, "manifest %s holds delete files (row-level deletes are not supported)", m->path);
    if (rc == 0) rc = open_avro(c, m->path, &buf, &r, err);
    const CnAvroValue *v = NULL;
    while (rc == 0 && (rc = cn_avro_reader_next(r, &v, err)) == 1) {
        rc = 0;
        if (cnt == cap) {
            CnIceDataFile *f2 = cn_arena_calloc(a, sizeof *fs * cap * 2);
            if (!f2) {
                rc = CN_ENOMEM;
                break;
            }
            memcpy(f2, fs, sizeof *fs * cap);
            fs = f2;
            cap *= 2;
        }
        CnIceDataFile *f = &fs[cnt++];
        f->status = (int)get_long(v, 0, -1);
        CN_CHECK_DATA(f->status >= 0 && f->status <= 2, err, rc, "%s: entry %u: status %d", m->path, cnt, f->status);
        f->snapshot_id = get_long(v, 1, m->added_snapshot_id);
        /* v2 inheritance: an ADDED entry without sequence numbers takes the manifest's */
        f->seq = get_long(v, 3, m->seq);
        f->file_seq = get_long(v, 4, m->seq);
        const CnAvroValue *df = cn_avro_rec_get_id(v, 2);
        CN_CHECK_DATA(df, err, rc, "%s: entry %u has no data_file", m->path, cnt);
        df = cn_avro_value_deref(df);
        int64_t content = get_long(df, 134, 0);
        if (content != 0) {
            rc = cn_err_set(err, CN_EUNSUPPORTED, "%s: entry %u is a delete file (not supported)", m->path, cnt);
            break;
        }
        size_t len = 0;
        const char *p = get_str(df, 100, &len);
        CN_CHECK_DATA(p, err, rc, "%s: entry %u has no file_path", m->path, cnt);
        f->path = cn_arena_strndup(a, p, len);
        f->records = get_long(df, 103, 0);
        f->size = get_long(df, 104, 0);
        const CnAvroValue *part = cn_avro_rec_get_id(df, 102);
        const CnAvroValue *ds = part ? cn_avro_rec_get(cn_avro_value_deref(part), CN_ICE_DS) : NULL;
        f->ds_null = true;
        if (ds && !cn_avro_value_is_null(ds)) {
            ds = cn_avro_value_deref(ds);
            if (ds->schema->type == CN_AVRO_STRING && ds->n == 10) {
                memcpy(f->ds, ds->u.bytes, 10);
                f->ds_null = false;
            }
        }
        if (keep_raw) {
            rc = cn_avro_value_to_json(df, &f->raw, err);
            if (rc < 0) break;
        }
    }
done:
    cn_avro_reader_free(r);
    cn_buf_fini(&buf);
    if (rc < 0) {
        for (uint32_t i = 0; i < cnt; i++) json_decref(fs[i].raw);
        if (rc == CN_ENOMEM) cn_err_set(err, rc, "out of memory");
        if (!strncmp(cn_err_msg(err), m->path, strlen(m->path))) return cn_err_ctx(err, rc, "manifest");
        return cn_err_ctx(err, rc, "manifest %s", m->path);
    }
    *out = fs;
    *n = cnt;
    return 0;
}

static bool ds_in(const char *ds, bool is_null, const char *lo, const char *hi) {
    if (!lo && !hi) return true;
    if (is_null) return false;
    if (lo && strcmp(ds, lo) < 0) return false;
    if (hi && strcmp(ds, hi) > 0) return false;
    return true;
}

static int cmp_file(const void *a, const void *b) {
    const CnIceDataFile *x = a, *y = b;
    int c = strcmp(x->ds, y->ds);
    return c ? c : strcmp(x->path, y->path);
}

int cn_ice__snapshot_files(CnIceCatalog *c, CnArena *a, const CnIceTable *t, int64_t snap_id,
                           const char *ds_lo, const char *ds_hi, CnIceDataFile **out,
                           uint32_t *n, CnErr *err) {
    *out = NULL;
    *n = 0;
    json_t *sn = cn_ice__meta_snapshot(t->meta, snap_id);
    if (!sn) return cn_err_set(err, CN_ENOTFOUND, "table %s: no snapshot %lld", t->full_name, (long long)snap_id);
    const char *ml = json_string_value(json_object_get(sn, "manifest-list"));
    if (!ml)
        return cn_err_set(err, CN_EUNSUPPORTED, "table %s: snapshot %lld has no manifest-list (v1 manifests field)",
                          t->full_name, (long long)snap_id);
    CnIceManifest *ms = NULL;
    uint32_t n_ms = 0;
    int rc = cn_ice__read_manifest_list(c, a, ml, &ms, &n_ms, err);
    if (rc < 0) return rc;
    uint32_t cap = 64, cnt = 0;
    CnIceDataFile *all = cn_arena_calloc(a, sizeof *all * cap);
    if (!all) return cn_err_set(err, CN_ENOMEM, "out of memory");
    for (uint32_t i = 0; i < n_ms; i++) {
        const CnIceManifest *m = &ms[i];
        /* partition pruning on the manifest's summary */
        if (m->has_bounds && (ds_lo || ds_hi) && !m->contains_null) {
            if (ds_lo && strcmp(m->hi, ds_lo) < 0) continue;
            if (ds_hi && strcmp(m->lo, ds_hi) > 0) continue;
        }
        CnIceDataFile *fs = NULL;
        uint32_t nf = 0;
        rc = cn_ice__read_manifest(c, a, m, false, &fs, &nf, err);
        if (rc < 0) return rc;
        for (uint32_t k = 0; k < nf; k++) {
            if (fs[k].status == 2 || !ds_in(fs[k].ds, fs[k].ds_null, ds_lo, ds_hi)) continue;
            if (cnt == cap) {
                CnIceDataFile *a2 = cn_arena_calloc(a, sizeof *all * cap * 2);
                if (!a2) return cn_err_set(err, CN_ENOMEM, "out of memory");
                memcpy(a2, all, sizeof *all * cap);
                all = a2;
                cap *= 2;
            }
            all[cnt++] = fs[k];
        }
    }
    qsort(all, cnt, sizeof *all, cmp_file);
    *out = all;
    *n = cnt;
    return 0;
}
