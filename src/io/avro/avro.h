/* avro.h: Avro object container files, read and write (Iceberg manifests and manifest
 * lists). Written by hand so that schema attributes such as Iceberg's "field-id" and
 * the file metadata survive byte for byte: the writer stores the schema text it was
 * given, and every schema node keeps its JSON object for attribute look-ups.
 * Values are trees allocated in an arena (CnAvroValue). A reader decodes each record
 * with the file's (writer) schema and, when a reader schema is set, resolves it to that
 * schema: fields matched by name (Avro's rule) or by Iceberg "field-id", with defaults
 * for missing fields and Avro's numeric promotions.
 * Supported subset and format notes: avro_int.h.
 * Errors: CN_ECORRUPT for bad bytes (message names the file, block, record and field
 *   path), CN_EINVAL for a bad schema or option, CN_ETYPE for a value that does not fit
 *   the schema, CN_EUNSUPPORTED for an unknown codec, CN_ELIMIT, CN_ENOMEM.
 * THREADS: a parsed schema is immutable (share freely); readers and writers belong to
 *   one thread at a time. */
#ifndef CN_AVRO_H
#define CN_AVRO_H

#include <jansson.h>

#include "base/arena.h"
#include "base/compat.h"
#include "base/err.h"
#include "base/str.h"

typedef enum CnAvroType {
    CN_AVRO_NULL, CN_AVRO_BOOLEAN, CN_AVRO_INT, CN_AVRO_LONG, CN_AVRO_FLOAT, CN_AVRO_DOUBLE,
    CN_AVRO_BYTES, CN_AVRO_STRING, CN_AVRO_RECORD, CN_AVRO_ENUM, CN_AVRO_ARRAY, CN_AVRO_MAP,
    CN_AVRO_UNION, CN_AVRO_FIXED
} CnAvroType;

typedef struct CnAvroSchema CnAvroSchema;

typedef struct CnAvroField {
    const char *name;
    const CnAvroSchema *type;
    int64_t field_id;           /* Iceberg "field-id", or -1 when absent */
    json_t *json;               /* the field's JSON object: every attribute, kept as written */
    json_t *def;                /* "default", or NULL */
} CnAvroField;

/* One schema node. Read-only once parsed; BORROWED from its CnAvroSchemaDoc. */
struct CnAvroSchema {
    CnAvroType type;
    const char *name;           /* full name of a record, enum or fixed; else the type name */
    const char *logical;        /* "logicalType" attribute, or NULL */
    json_t *json;               /* this node's JSON (a string for a bare primitive) */
    size_t n_fields;            /* record */
    CnAvroField *fields;
    const CnAvroSchema *items;  /* array items, map values */
    size_t n_branches;          /* union */
    const CnAvroSchema **branches;
    size_t fixed_size;          /* fixed */
    size_t n_symbols;           /* enum */
    const char **symbols;
};

typedef struct CnAvroSchemaDoc CnAvroSchemaDoc;

/* Parses a schema from JSON text; name is used in messages. OWNED: *out
 * (cn_avro_schema_free). Errors: CN_EINVAL naming the JSON path of the problem. */
int cn_avro_schema_parse(const char *name, const char *text, size_t len, CnAvroSchemaDoc **out,
                         CnErr *err);
void cn_avro_schema_free(CnAvroSchemaDoc *doc);   /* NULL-safe */
const CnAvroSchema *cn_avro_schema_root(const CnAvroSchemaDoc *doc);
/* The schema text exactly as given. BORROWED: lives as long as doc. */
const char *cn_avro_schema_text(const CnAvroSchemaDoc *doc);
/* Field of a record by name or by Iceberg field-id; NULL if none. *idx (optional) gets
 * its position. */
const CnAvroField *cn_avro_schema_field(const CnAvroSchema *rec, const char *name, size_t *idx);
const CnAvroField *cn_avro_schema_field_by_id(const CnAvroSchema *rec, int64_t id, size_t *idx);
/* For a union of null and one other type: that type; else NULL. */
const CnAvroSchema *cn_avro_schema_nullable_of(const CnAvroSchema *s);

/* A value. Strings and bytes are NUL-terminated after len bytes for convenience.
 * record: items[n] in field order; array: items[n]; map: items[2n], key (string) then
 * value; union: branch and items[0] is the branch's value. */
typedef struct CnAvroValue {
    const CnAvroSchema *schema;
    size_t n;                   /* bytes/string/fixed length, fields, items, map entries */
    int32_t branch;             /* union branch index */
    union {
        bool b;
        int32_t i;              /* int, enum symbol index */
        int64_t l;
        float f;
        double d;
        const uint8_t *bytes;   /* bytes, string, fixed */
        struct CnAvroValue *items;
    } u;
} CnAvroValue;

/* Through unions: the value inside (itself when not a union). */
const CnAvroValue *cn_avro_value_deref(const CnAvroValue *v);
bool cn_avro_value_is_null(const CnAvroValue *v);
/* Record field by name or field-id, unions not dereferenced; NULL if no such field. */
const CnAvroValue *cn_avro_rec_get(const CnAvroValue *rec, const char *name);
const CnAvroValue *cn_avro_rec_get_id(const CnAvroValue *rec, int64_t field_id);
/* Map value by key; NULL if absent. */
const CnAvroValue *cn_avro_map_get(const CnAvroValue *map, const char *key);

/* Builds a value of schema s from JSON: null, booleans, numbers, strings (bytes and fixed
 * as strings of code points 0-255, Avro's JSON rule), arrays, objects (maps and
 * records; a missing record field takes its default, or null when nullable). A union
 * takes its value plain or wrapped as {"type name": value}. Allocated in a.
 * Errors: CN_ETYPE naming the field path, the value and what was expected. */
int cn_avro_value_from_json(CnArena *a, const CnAvroSchema *s, json_t *j, CnAvroValue **out,
                            CnErr *err);
/* The reverse (unions plain). OWNED: *out (json_decref). */
int cn_avro_value_to_json(const CnAvroValue *v, json_t **out, CnErr *err);

/* ---- writer ---- */

typedef struct CnAvroWriter CnAvroWriter;

typedef struct CnAvroWriterOptions {
    const char *codec;          /* "null" (default), "deflate" or "snappy" */
    int level;                  /* deflate level 1-9; 0 = 6 */
    size_t block_bytes;         /* a block is flushed past this many bytes; 0 = 64 KiB */
} CnAvroWriterOptions;

/* schema must outlive the writer. opt may be NULL. OWNED: *out (cn_avro_writer_free). */
int cn_avro_writer_new(const CnAvroSchemaDoc *schema, const CnAvroWriterOptions *opt,
                       CnAvroWriter **out, CnErr *err);
/* Adds a metadata entry (written verbatim); before the first append. "avro.schema" and
 * "avro.codec" are the writer's own. CN_EINVAL otherwise. */
int cn_avro_writer_meta(CnAvroWriter *w, const char *key, const void *val, size_t len, CnErr *err);
/* Appends one record (a value of the root schema). The first error sticks: later calls
 * return it. CN_ETYPE names the field path of a value that does not fit. */
int cn_avro_writer_append(CnAvroWriter *w, const CnAvroValue *v, CnErr *err);
/* Appends the whole file to out. */
int cn_avro_writer_finish(CnAvroWriter *w, CnBuf *out, CnErr *err);
void cn_avro_writer_free(CnAvroWriter *w);   /* NULL-safe */

/* ---- reader ---- */

typedef struct CnAvroReader CnAvroReader;

enum { CN_AVRO_MATCH_NAME = 0, CN_AVRO_MATCH_FIELD_ID = 1 };

/* Opens a container file held in memory; name is used in messages. data is BORROWED
 * and must outlive the reader. Parses the header (magic, metadata, schema, codec).
 * OWNED: *out (cn_avro_reader_free). */
int cn_avro_reader_open(const char *name, const void *data, size_t len, CnAvroReader **out,
                        CnErr *err);
/* Same for a local file (read whole; the reader owns the bytes). */
int cn_avro_reader_open_file(const char *path, CnAvroReader **out, CnErr *err);
/* Resolve records to a reader schema (which must outlive the reader); match is
 * CN_AVRO_MATCH_NAME or CN_AVRO_MATCH_FIELD_ID (reader fields without a field-id then
 * fall back to names). */
int cn_avro_reader_set_schema(CnAvroReader *r, const CnAvroSchemaDoc *rs, int match, CnErr *err);
/* The file's schema. BORROWED: lives as long as r. */
const CnAvroSchemaDoc *cn_avro_reader_writer_schema(const CnAvroReader *r);
const char *cn_avro_reader_codec(const CnAvroReader *r);
/* Metadata value by key (not NUL-terminated: use *len); NULL if absent. BORROWED. */
const uint8_t *cn_avro_reader_meta(const CnAvroReader *r, const char *key, size_t *len);
/* Next record: 1 and *out set, 0 at the end, or a negative error.
 * BORROWED: *out is valid until the next call or cn_avro_reader_free. */
int cn_avro_reader_next(CnAvroReader *r, const CnAvroValue **out, CnErr *err);
void cn_avro_reader_free(CnAvroReader *r);   /* NULL-safe */

#endif /* CN_AVRO_H */
