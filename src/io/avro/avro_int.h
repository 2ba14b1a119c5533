/* avro_int.h: private to io/avro.
 *
 * Object container file (Avro 1.11 spec, "Object Container Files"):
 *   | offset | size     | what                                                       |
 *   |--------|----------|------------------------------------------------------------|
 *   | 0      | 4        | magic "Obj" 0x01                                           |
 *   | 4      | var      | metadata: map<bytes> (blocks of zig-zag long count, then    |
 *   |        |          | count x (string key, bytes value), ended by count 0; a      |
 *   |        |          | negative count is followed by the block's byte size)        |
 *   | ...    | 16       | sync marker                                                |
 *   | ...    | var      | data blocks: long n_records, long n_bytes, n_bytes of       |
 *   |        |          | (compressed) records, then the 16-byte sync marker again    |
 * Metadata we write: "avro.schema" (the schema text verbatim), "avro.codec", then the
 * caller's keys in order (Iceberg: schema, schema-id, partition-spec,
 * partition-spec-id, format-version, content), byte for byte.
 *
 * Supported subset:
 *   | feature                          | read | write | notes                         |
 *   |----------------------------------|------|-------|-------------------------------|
 *   | null boolean int long float      | yes  | yes   | int/long zig-zag varints      |
 *   | double bytes string              | yes  | yes   | float/double little-endian    |
 *   | record, enum, array, map, fixed  | yes  | yes   | arrays/maps: negative block   |
 *   |                                  |      |       | counts read; we write one     |
 *   |                                  |      |       | positive block                |
 *   | union                            | yes  | yes   | any branches; JSON plain or   |
 *   |                                  |      |       | wrapped                       |
 *   | named types, namespaces, refs    | yes  | yes   | recursive types allowed       |
 *   | attributes (field-id, logical..) | kept | kept  | logicalType only reported     |
 *   | codec null, deflate (raw zlib)   | yes  | yes   |                               |
 *   | codec snappy (+ CRC32 BE)        | yes  | yes   |                               |
 *   | codecs bzip2, xz, zstandard      | no   | no    | CN_EUNSUPPORTED               |
 *   | resolution: names, aliases       | yes  |  -    | record fields; enum symbols   |
 *   | resolution: Iceberg field-id     | yes  |  -    | CN_AVRO_MATCH_FIELD_ID        |
 *   | promotions int>long>float>double,| yes  |  -    |                               |
 *   | string<->bytes                   |      |       |                               |
 * Limits (CN_ECORRUPT/CN_ELIMIT, never a crash): nesting depth 64, a block of at most
 * 256 MiB uncompressed, every length checked against the bytes left. */
#ifndef CN_AVRO_INT_H
#define CN_AVRO_INT_H

#include "io/avro/avro.h"

#define CN_AVRO__MAGIC "Obj\x01"
#define CN_AVRO__SYNC_LEN 16
#define CN_AVRO__MAX_DEPTH 64
#define CN_AVRO__MAX_BLOCK ((size_t)256 << 20)

struct CnAvroSchemaDoc {
    CnArena arena;              /* every node, field and name */
    json_t *json;               /* OWNED: the parsed text (nodes point into it) */
    char *text;                 /* arena: the text as given */
    const CnAvroSchema *root;
};

/* Where a decoder or encoder is, for messages: field names from the root down. */
typedef struct CnAvroPath {
    const char *names[CN_AVRO__MAX_DEPTH];
    int depth;
} CnAvroPath;

/* Formats "a.b.c" (or "(root)") into buf. */
const char *cn_avro__path_str(const CnAvroPath *p, char *buf, size_t n);

/* Binary encoding of one value with schema s (s must match v, or be a union taking it). */
int cn_avro__encode(CnBuf *out, const CnAvroSchema *s, const CnAvroValue *v, CnAvroPath *path,
                    CnErr *err);

typedef struct CnAvroDec {
    const uint8_t *p, *end;
    CnArena *arena;
    CnAvroPath path;
    const char *where;          /* "file.avro: block 3, record 17" for messages */
} CnAvroDec;

int cn_avro__decode(CnAvroDec *d, const CnAvroSchema *s, CnAvroValue *out, CnErr *err);
int cn_avro__read_long(CnAvroDec *d, int64_t *out, CnErr *err);
void cn_avro__write_long(CnBuf *out, int64_t v);

/* Resolves a value decoded with the writer schema to reader schema rs. */
int cn_avro__resolve(CnArena *a, const CnAvroValue *wv, const CnAvroSchema *rs, int match,
                     CnAvroValue *out, CnAvroPath *path, CnErr *err);

const char *cn_avro__type_name(CnAvroType t);
/* The schema of map keys (a plain string). */
extern const CnAvroSchema cn_avro__key_schema;

#endif /* CN_AVRO_INT_H */
