/* pq_int.h: private to src/io/parquet. Thrift compact protocol, encodings, codecs and
 * the decoded footer shared by reader.c and writer.c.
 *
 * SUPPORTED SUBSET (anything else gives CN_EUNSUPPORTED naming file and column)
 *
 *   file layout   "PAR1" <column chunks> <FileMetaData> <u32 LE footer length> "PAR1";
 *                 no encryption ("PARE"), no external column chunks (file_path)
 *   schema        top-level columns that are one of:
 *                   required/optional primitive
 *                   LIST, 3-level (group LIST { repeated group { element } }) or 2-level
 *                     (group LIST { repeated primitive }); the element is a primitive or
 *                     again a LIST or MAP
 *                   MAP / MAP_KEY_VALUE (group { repeated group { key; value } }), key
 *                     primitive (a null key is corrupt), value a primitive or again a LIST
 *                     or MAP
 *                   repeated primitive at top level (legacy list of required elements)
 *                 nesting: up to CN_PQ__MAX_DEPTH list/map levels with general repetition
 *                   and definition levels (nulls and empty lists/maps at every level);
 *                   leaves under one level keep their own fast loops
 *                 not supported: structs (also inside lists/maps), lists of one-field
 *                   groups ("array"/"<name>_tuple"), maps without values, repeated fields
 *                   inside lists/maps
 *   types (physical / logical -> CnTypeId)
 *     BOOLEAN                                        -> bool
 *     INT32  none, INT(8|16|32, signed), INT(8|16,unsigned) -> int32
 *     INT32  INT(32, unsigned)                        -> int64
 *     INT32  DATE                                     -> date
 *     INT64  none, INT(64, signed)                    -> int64
 *     INT64  TIMESTAMP(MILLIS|MICROS|NANOS)           -> timestamp (ms, floor)
 *     INT96  (legacy Impala/Spark timestamp)          -> timestamp (ms, floor)
 *     FLOAT / DOUBLE                                  -> float32 / float64
 *     BYTE_ARRAY STRING/UTF8/ENUM/JSON                -> string; other BYTE_ARRAY -> binary
 *     FIXED_LEN_BYTE_ARRAY (not DECIMAL)              -> binary
 *     not supported: DECIMAL, INT(64, unsigned), FLOAT16, TIME, INTERVAL
 *   writer maps   bool BOOLEAN, int32 INT32, int64 INT64, float32 FLOAT, float64 DOUBLE,
 *                 date INT32 DATE, timestamp INT64 TIMESTAMP(MILLIS|MICROS, UTC),
 *                 string BYTE_ARRAY STRING, binary BYTE_ARRAY, list<T> 3-level LIST,
 *                 map<K,V> MAP (key_value/key/value), T and V nested to any depth (e.g.
 *                 map<string,list<T>>, list<list<T>>); field_id from CnField.field_id
 *   pages         DATA_PAGE (v1), DATA_PAGE_V2, DICTIONARY_PAGE; INDEX_PAGE skipped;
 *                 page CRCs are not checked
 *   encodings     read: PLAIN, PLAIN_DICTIONARY, RLE_DICTIONARY, RLE (levels, booleans),
 *                   DELTA_BINARY_PACKED, DELTA_LENGTH_BYTE_ARRAY,
 *                   DELTA_BYTE_ARRAY, BYTE_STREAM_SPLIT (float/double/int32/int64);
 *                   not BIT_PACKED (deprecated level encoding)
 *                 write: PLAIN, RLE_DICTIONARY (+ PLAIN dictionary page), RLE levels,
 *                   DELTA_BINARY_PACKED / DELTA_LENGTH_BYTE_ARRAY / DELTA_BYTE_ARRAY on request
 *   codecs        UNCOMPRESSED, SNAPPY, GZIP, ZSTD (read and write); LZ4, LZ4_RAW, BROTLI,
 *                 LZO not supported
 *   statistics    read: min_value/max_value (+ legacy min/max for non-BYTE_ARRAY), null_count
 *                 write: min_value/max_value, null_count, and TYPE_ORDER column orders
 *   ignored       column/offset indexes, bloom filters, page statistics, sorting columns
 */
#ifndef CN_PQ_INT_H
#define CN_PQ_INT_H

#include "base/compat.h"
#include "base/err.h"
#include "base/str.h"
#include "io/parquet/pq.h"

/* -------------------------------------------------- Thrift compact protocol */

enum {
    CN_PQ__T_STOP = 0,
    CN_PQ__T_TRUE = 1,
    CN_PQ__T_FALSE = 2,
    CN_PQ__T_I8 = 3,
    CN_PQ__T_I16 = 4,
    CN_PQ__T_I32 = 5,
    CN_PQ__T_I64 = 6,
    CN_PQ__T_DOUBLE = 7,
    CN_PQ__T_BINARY = 8,
    CN_PQ__T_LIST = 9,
    CN_PQ__T_SET = 10,
    CN_PQ__T_MAP = 11,
    CN_PQ__T_STRUCT = 12,
};

/* Decoder cursor. Reads past the end or malformed values set `bad` and return zeros, so
 * a struct decoder checks once at the end (untrusted bytes never index out of range). */
typedef struct CnPqTIn {
    const uint8_t *p, *end;
    bool bad;
    const char *why; /* first problem seen, for the error message */
    int depth;
    bool oom;        /* the problem was our memory, not the bytes */
} CnPqTIn;

/* Field header: returns the type (CN_PQ__T_STOP at the end of a struct) and sets *id.
 * *last is the previous field id of the current struct (start with 0). */
int cn_pq__t_field(CnPqTIn *in, int16_t *last, int16_t *id);
uint64_t cn_pq__t_varint(CnPqTIn *in);
int64_t cn_pq__t_i64(CnPqTIn *in);       /* zigzag varint; i16/i32 too */
int32_t cn_pq__t_i32(CnPqTIn *in);       /* range-checked */
/* BORROWED pointer into the input; *len set. */
const uint8_t *cn_pq__t_binary(CnPqTIn *in, uint32_t *len);
/* List header: element type and count (count checked against the bytes left). */
uint32_t cn_pq__t_list(CnPqTIn *in, int *elem_type);
/* Skips a value of the given type (nested depth limited). */
void cn_pq__t_skip(CnPqTIn *in, int type);
/* Bool field value: the field type itself carries it. */
static inline bool cn_pq__t_bool(int type) { return type == CN_PQ__T_TRUE; }

/* Encoder over a CnBuf (sticky oom). Field ids must ascend within a struct. */
typedef struct CnPqTOut {
    CnBuf *b;
    int16_t last[16]; /* last field id per struct depth */
    int depth;
} CnPqTOut;

void cn_pq__t_struct_begin(CnPqTOut *o);
void cn_pq__t_struct_end(CnPqTOut *o); /* writes STOP */
void cn_pq__t_field_hdr(CnPqTOut *o, int type, int16_t id);
void cn_pq__t_put_varint(CnPqTOut *o, uint64_t v);
void cn_pq__t_put_i32(CnPqTOut *o, int16_t id, int32_t v);
void cn_pq__t_put_i64(CnPqTOut *o, int16_t id, int64_t v);
void cn_pq__t_put_bool(CnPqTOut *o, int16_t id, bool v);
void cn_pq__t_put_binary(CnPqTOut *o, int16_t id, const void *p, size_t len);
void cn_pq__t_put_list_hdr(CnPqTOut *o, int16_t id, int elem_type, uint32_t n);
/* A list element (no field header). */
void cn_pq__t_put_elem_i32(CnPqTOut *o, int32_t v);
void cn_pq__t_put_elem_binary(CnPqTOut *o, const void *p, size_t len);

/* ---------------------------------------------------------------- footer */

enum { CN_PQ__REQUIRED = 0, CN_PQ__OPTIONAL = 1, CN_PQ__REPEATED = 2 };

/* Most list/map levels above a leaf (levels are kept in bytes; 16 is far past real use). */
#define CN_PQ__MAX_DEPTH 16
enum { CN_PQ__PAGE_DATA = 0, CN_PQ__PAGE_INDEX = 1, CN_PQ__PAGE_DICT = 2, CN_PQ__PAGE_DATA_V2 = 3 };

/* Converted types we look at (Parquet's ConvertedType values). */
enum {
    CN_PQ__CT_UTF8 = 0, CN_PQ__CT_MAP = 1, CN_PQ__CT_MAP_KEY_VALUE = 2, CN_PQ__CT_LIST = 3,
    CN_PQ__CT_ENUM = 4, CN_PQ__CT_DECIMAL = 5, CN_PQ__CT_DATE = 6, CN_PQ__CT_TIME_MILLIS = 7,
    CN_PQ__CT_TIME_MICROS = 8, CN_PQ__CT_TIMESTAMP_MILLIS = 9, CN_PQ__CT_TIMESTAMP_MICROS = 10,
    CN_PQ__CT_UINT_8 = 11, CN_PQ__CT_UINT_16 = 12, CN_PQ__CT_UINT_32 = 13, CN_PQ__CT_UINT_64 = 14,
    CN_PQ__CT_INT_8 = 15, CN_PQ__CT_INT_16 = 16, CN_PQ__CT_INT_32 = 17, CN_PQ__CT_INT_64 = 18,
    CN_PQ__CT_JSON = 19, CN_PQ__CT_BSON = 20, CN_PQ__CT_INTERVAL = 21,
};

/* LogicalType union member ids (0 = absent). */
enum {
    CN_PQ__LT_STRING = 1, CN_PQ__LT_MAP = 2, CN_PQ__LT_LIST = 3, CN_PQ__LT_ENUM = 4,
    CN_PQ__LT_DECIMAL = 5, CN_PQ__LT_DATE = 6, CN_PQ__LT_TIME = 7, CN_PQ__LT_TIMESTAMP = 8,
    CN_PQ__LT_INTEGER = 10, CN_PQ__LT_UNKNOWN = 11, CN_PQ__LT_JSON = 12, CN_PQ__LT_BSON = 13,
    CN_PQ__LT_UUID = 14, CN_PQ__LT_FLOAT16 = 15,
};

/* One SchemaElement. */
typedef struct CnPqSchemaEl {
    const char *name;     /* NUL-terminated copy */
    int type;             /* physical, -1 for groups */
    int32_t type_length;
    int repetition;       /* -1 when absent (root) */
    int32_t n_children;
    int converted;        /* -1 when absent */
    int32_t field_id;     /* CN_COL_NO_ID when absent */
    int logical;          /* CN_PQ__LT_*, 0 when absent */
    int time_unit;        /* TIMESTAMP/TIME: 1 millis, 2 micros, 3 nanos */
    int int_bits;         /* INTEGER: bit width */
    bool int_signed;
} CnPqSchemaEl;

/* The decoded footer in the reader's arena. */
typedef struct CnPqFooter {
    int32_t version;
    int64_t n_rows;
    const char *created_by;
    uint32_t n_schema;
    CnPqSchemaEl *schema;
    uint32_t n_row_groups;
    CnPqRowGroup *row_groups;
    uint32_t n_cols;      /* column chunks per row group (checked equal in all) */
    CnPqKv *kv;
    uint32_t n_kv;
    /* path_in_schema and physical type of each chunk, to check against the schema */
    int *chunk_types;     /* [row group * n_cols + col] */
} CnPqFooter;

/* Decodes FileMetaData (bytes BORROWED for the arena's lifetime: stats point into them).
 * CN_ECORRUPT with the reason; the caller prefixes the file name. */
int cn_pq__footer_decode(const uint8_t *p, size_t len, CnArena *a, CnPqFooter *out, CnErr *err);

typedef struct CnPqPageHdr {
    int type;
    int32_t uncompressed_len, compressed_len;
    int32_t n_values;
    int encoding;
    int def_encoding, rep_encoding;  /* v1 */
    int32_t n_nulls, n_rows;         /* v2 */
    int32_t def_len, rep_len;        /* v2 */
    bool is_compressed;              /* v2, default true */
    bool has_data, has_dict, has_v2;
} CnPqPageHdr;

/* Decodes a PageHeader; *hdr_len is its encoded size. CN_ECORRUPT with the reason. */
int cn_pq__page_hdr_decode(const uint8_t *p, size_t len, CnPqPageHdr *h, size_t *hdr_len,
                           CnErr *err);
/* Appends an encoded PageHeader. */
void cn_pq__page_hdr_encode(CnBuf *b, const CnPqPageHdr *h);

/* -------------------------------------------------------------- encodings */

/* Bits needed for values 0..max. */
static inline int cn_pq__bit_width(uint64_t max) {
    return max ? 64 - __builtin_clzll(max) : 0;
}

/* RLE/bit-packed hybrid decoder (levels, dictionary indexes, booleans). */
typedef struct CnPqRle {
    const uint8_t *p, *end;
    int bw;
    uint32_t rle_left;     /* values left in the current RLE run */
    uint32_t rle_value;
    uint32_t bp_left;      /* values left in the current bit-packed run */
    const uint8_t *bp;     /* current bit-packed group data */
    uint32_t bp_pos;       /* value index inside the bit-packed run */
} CnPqRle;

void cn_pq__rle_init(CnPqRle *r, const uint8_t *p, size_t len, int bw);
/* Decodes exactly n values into out; CN_ECORRUPT when the data ends early or is malformed
 * (message set in err without context). */
int cn_pq__rle_get_u8(CnPqRle *r, uint8_t *out, uint32_t n, CnErr *err);
int cn_pq__rle_get_u32(CnPqRle *r, uint32_t *out, uint32_t n, CnErr *err);
/* Whether RLE/bit-packed data p[0..len) starts with an RLE run of at least n values (a
 * column of one value); its value into *value. */
bool cn_pq__rle_one_run(const uint8_t *p, size_t len, int bw, uint32_t n, uint32_t *value);
/* Decodes n dictionary indexes and writes dict[index] (nd 8-byte entries) to out, with no
 * index array in between. 0; 1 when an index is nd or more (out then holds no reliable
 * values: decode again with cn_pq__rle_get_u32 to name it); CN_ECORRUPT as above. */
int cn_pq__rle_gather_u64(CnPqRle *r, const uint64_t *dict, uint32_t nd, uint64_t *out, uint32_t n, CnErr *err);

/* RLE/bit-packed hybrid encoder; appends to b. */
void cn_pq__rle_encode_u8(CnBuf *b, const uint8_t *v, uint32_t n, int bw);
void cn_pq__rle_encode_u32(CnBuf *b, const uint32_t *v, uint32_t n, int bw);

/* DELTA_BINARY_PACKED: decodes up to max_n values into out (int64). *n_out is the
 * number in the header, *used the bytes consumed. */
int cn_pq__delta_decode(const uint8_t *p, size_t len, int64_t *out, uint32_t max_n,
                        uint32_t *n_out, size_t *used, CnErr *err);
/* Number of values announced by a DELTA_BINARY_PACKED header (to size buffers). */
int cn_pq__delta_count(const uint8_t *p, size_t len, uint32_t *n, CnErr *err);
void cn_pq__delta_encode(CnBuf *b, const int64_t *v, uint32_t n);

/* ----------------------------------------------------------------- codecs */

/* Decompresses exactly out_len bytes. CN_ECORRUPT (bad data, size mismatch) or
 * CN_EUNSUPPORTED (codec). */
int cn_pq__decompress(int codec, const uint8_t *in, size_t in_len, uint8_t *out, size_t out_len,
                      CnErr *err);
/* Appends the compressed form of in to b. CN_ENOMEM/CN_EINTERNAL. */
int cn_pq__compress(int codec, int level, const uint8_t *in, size_t in_len, CnBuf *b, CnErr *err);

#endif /* CN_PQ_INT_H */
