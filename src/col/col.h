/* col.h: columnar batches: types, schemas, typed vectors, validity, selection.
 * Layout follows Arrow so kernels stay simple and fast: buffers are 64-byte aligned,
 * validity is uint64 words (bit set = valid, NULL pointer = no nulls), strings/binary
 * and lists/maps are n+1 uint32 offsets into one child buffer. Booleans are one byte per
 * value (0 or 1), not bits, so kernels index them like every other fixed-width type.
 * OWNERSHIP: types and schemas live in arenas (a CnSchema owns one); a CnBatch owns its
 *   vectors' buffers. cn_col_batch_reset() keeps the memory and drops the contents;
 *   nothing in a batch is freed on its own. Appends never malloc per value: buffers grow
 *   geometrically.
 * ERRORS: appenders return 0 or CN_ENOMEM and also set a sticky `oom` flag on the vector,
 *   so row builders may check once with cn_col_batch_sync_rows().
 * THREADS: types and schemas are immutable once built (share freely); a batch or vector
 *   has one owner thread at a time. */
#ifndef CN_COL_H
#define CN_COL_H

#include "base/compat.h"

#include <string.h>

#include "base/arena.h"
#include "base/err.h"

/* ---------------------------------------------------------------- types */

typedef enum CnTypeId {
    CN_COL_BOOL = 1,   /* uint8_t 0/1 */
    CN_COL_INT32,      /* int32_t */
    CN_COL_INT64,      /* int64_t */
    CN_COL_FLOAT32,    /* float */
    CN_COL_FLOAT64,    /* double */
    CN_COL_DATE,       /* int32_t days since 1970-01-01 */
    CN_COL_TIMESTAMP,  /* int64_t milliseconds since the epoch, UTC */
    CN_COL_STRING,     /* UTF-8 bytes: offsets + bytes */
    CN_COL_BINARY,     /* bytes: offsets + bytes */
    CN_COL_LIST,       /* offsets + child[0] (elements) */
    CN_COL_MAP,        /* offsets + child[0] (keys, never null) + child[1] (values) */
    CN_COL_STRUCT,     /* child[i] per field, each n entries */
} CnTypeId;

#define CN_COL_NO_ID (-1) /* field without an Iceberg field id */

typedef struct CnField CnField;

/* A type. Primitive types are static singletons (cn_col_type_prim); nested ones are
 * built in an arena and are immutable afterwards.
 * INVARIANT: list has 1 child named "element"; map has 2 children "key" (not nullable)
 *   and "value"; struct has n >= 1 children; primitives have none. */
typedef struct CnType {
    CnTypeId id;
    uint32_t n_children;
    const CnField *children;
} CnType;

/* A named, possibly nullable slot: a schema column, a list element, a map key/value,
 * a struct field. The field id is Iceberg's (written to Parquet as field_id). */
struct CnField {
    const char *name;
    const CnType *type;
    bool nullable;
    int32_t field_id; /* CN_COL_NO_ID when unknown */
};

/* The static singleton of a primitive type; NULL for LIST/MAP/STRUCT. */
const CnType *cn_col_type_prim(CnTypeId id);
/* Nested type constructors. BORROWED: the result lives in arena a (NULL when out of
 * memory). Children types must live at least as long as a. */
const CnType *cn_col_type_list(CnArena *a, const CnType *elem, bool elem_nullable,
                               int32_t elem_id);
/* key must be a primitive type (keys are never null). */
const CnType *cn_col_type_map(CnArena *a, const CnType *key, const CnType *value,
                              bool value_nullable, int32_t key_id, int32_t value_id);
/* Copies fields (and their names) into a; n >= 1. */
const CnType *cn_col_type_struct(CnArena *a, const CnField *fields, uint32_t n);
/* Structural equality: ids, children, child nullability and struct field names.
 * Field ids are ignored. */
bool cn_col_type_equal(const CnType *x, const CnType *y);
/* Deep copy into arena a (NULL when out of memory). */
const CnType *cn_col_type_copy(CnArena *a, const CnType *t);
/* Byte width of a fixed-width type id (bool 1, int32/date/float32 4, int64/timestamp/
 * float64 8), 0 for variable-width and nested types. */
size_t cn_col_type_width(CnTypeId id);
bool cn_col_type_is_nested(CnTypeId id);
/* "bool", "int32", "int64", "float32", "float64", "date", "timestamp", "string", "binary",
 * "list", "map", "struct". Never NULL. */
const char *cn_col_type_id_name(CnTypeId id);
/* Full name for messages, e.g. "list<float64>", "map<string,int64>",
 * "struct<a:int32,b:string>". Writes into buf (truncated to len) and returns buf. */
const char *cn_col_type_name(const CnType *t, char *buf, size_t len);
/* Parses the names above ("long"/"double"/"int"/"float"/"boolean" are accepted as
 * aliases). The type lives in arena a. CN_EINVAL names the offending text. */
int cn_col_type_parse(CnArena *a, const char *s, const CnType **out, CnErr *err);

/* --------------------------------------------------------------- schema */

/* An ordered list of top-level fields. Names are unique.
 * OWNERSHIP: OWNED by whoever called cn_col_schema_new; fields, names and nested types
 *   built in s->arena live until cn_col_schema_free(s). */
typedef struct CnSchema {
    uint32_t n_fields;
    CnField *fields;
    uint32_t cap_fields;
    CnArena arena;
} CnSchema;

/* CN_ENOMEM only. */
int cn_col_schema_new(CnSchema **out);
void cn_col_schema_free(CnSchema *s);
/* Appends a field; copies name into s->arena. type must outlive s (a primitive
 * singleton or a type built in s->arena). CN_EEXISTS for a duplicate name,
 * CN_EINVAL for an empty name or NULL type, CN_ENOMEM. */
int cn_col_schema_add(CnSchema *s, const char *name, const CnType *type, bool nullable,
                      int32_t field_id, CnErr *err);
/* Index of the field named name, or -1. Linear: schemas are small. */
int cn_col_schema_find(const CnSchema *s, const char *name);
/* Deep copy (names and types into the new schema's arena). */
int cn_col_schema_copy(const CnSchema *src, CnSchema **out, CnErr *err);
/* A new schema with the named fields of src, in the given order. CN_ENOTFOUND names the
 * missing column and lists the available ones. */
int cn_col_schema_project(const CnSchema *src, const char *const *names, uint32_t n,
                          CnSchema **out, CnErr *err);

/* --------------------------------------------------------------- scalar */

/* One value, e.g. a literal or a statistics bound. Strings are BORROWED. */
typedef struct CnScalar {
    CnTypeId type;
    bool is_null;
    union {
        bool b;
        int32_t i32; /* INT32, DATE */
        int64_t i64; /* INT64, TIMESTAMP */
        float f32;
        double f64;
        struct {
            const char *p;
            uint32_t len;
        } s; /* STRING, BINARY */
    } v;
} CnScalar;

/* -------------------------------------------------------------- vectors */

/* One aligned growable buffer. */
typedef struct CnColBuf {
    void *ptr; /* 64-byte aligned view into raw */
    void *raw; /* OWNED: what cn_malloc returned */
    size_t cap; /* usable bytes at ptr */
} CnColBuf;

/* A typed column of n entries.
 * INVARIANTS (checked by cn_col_batch_check):
 *   fixed-width: values holds n * width bytes;
 *   string/binary/list/map: offsets[0] == 0, non-decreasing, n+1 entries; strings end at
 *     offsets[n] in bytes; list/map children hold offsets[n] entries;
 *   a null list/map/string entry has offsets[i+1] == offsets[i];
 *   struct: every child has n entries;
 *   valid == NULL means no nulls and n_null == 0; otherwise n_null equals the number of
 *   clear bits among the first n;
 *   map keys have no nulls. */
typedef struct CnVec {
    const CnType *type;  /* BORROWED: from the schema, outlives the vector */
    uint32_t n;          /* entries (rows at top level) */
    uint32_t n_null;     /* entries whose validity bit is clear */
    uint64_t *valid;     /* NULL (all valid) or b_valid.ptr */
    void *values;        /* fixed-width payload (b_values.ptr), else NULL */
    uint32_t *offsets;   /* var-width/list/map: n+1 entries (b_offsets.ptr) */
    uint8_t *bytes;      /* string/binary payload (b_bytes.ptr) */
    struct CnVec *child; /* list 1, map 2, struct n_children; else NULL */
    uint32_t n_child;
    /* storage, kept across resets; private to col.c and bulk producers */
    uint32_t cap;        /* entries that values/offsets/valid can hold */
    CnColBuf b_values, b_offsets, b_bytes, b_valid;
    bool oom;            /* sticky: an append failed for lack of memory */
} CnVec;

/* Validity of entry i. */
static inline bool cn_col_vec_is_valid(const CnVec *v, uint32_t i) {
    return !v->valid || ((v->valid[i >> 6] >> (i & 63)) & 1);
}
/* String/binary entry i. BORROWED: valid until the vector is reset or appended to. */
static inline const char *cn_col_vec_str(const CnVec *v, uint32_t i, uint32_t *len) {
    *len = v->offsets[i + 1] - v->offsets[i];
    return (const char *)v->bytes + v->offsets[i];
}

/* Order of entry i of a and entry j of b (same type: INT32, DATE, INT64, TIMESTAMP or
 * STRING) in an ascending sort with nulls first, strings by unsigned bytes (Iceberg's
 * order): <0, 0 or >0. */
int cn_col_vec_cmp_asc(const CnVec *a, uint32_t i, const CnVec *b, uint32_t j);

/* Out-of-line growth. Ensure room for n_more entries (values, offsets, validity) or
 * n_more payload bytes. 0 or CN_ENOMEM (also sets v->oom). */
int cn_col_vec_reserve(CnVec *v, uint32_t n_more);
int cn_col_vec_reserve_bytes(CnVec *v, size_t n_more);
/* Materialises the validity bitmap (all n entries valid) so a bulk producer can clear
 * bits; capacity follows v->cap. 0 or CN_ENOMEM. */
int cn_col_vec_make_valid(CnVec *v);

/* Appenders for row-at-a-time builders. Each returns 0 or CN_ENOMEM (sticky v->oom).
 * The caller must use the one matching v->type (checked by CN_ASSERT: a mismatch is a
 * bug in the caller, not bad data). append_null works for every type: for list/map it
 * adds an empty null entry, for struct a null entry with null children. */
int cn_col_vec_append_null(CnVec *v);
int cn_col_vec_append_bool(CnVec *v, bool x);
int cn_col_vec_append_i32(CnVec *v, int32_t x);   /* INT32, DATE */
int cn_col_vec_append_i64(CnVec *v, int64_t x);   /* INT64, TIMESTAMP */
int cn_col_vec_append_f32(CnVec *v, float x);
int cn_col_vec_append_f64(CnVec *v, double x);
int cn_col_vec_append_str(CnVec *v, const void *p, size_t len); /* STRING, BINARY */
/* Closes one list/map entry holding the child entries appended since the previous
 * entry: append elements to v->child[0] (map: keys to child[0], values to child[1]),
 * then call this. */
int cn_col_vec_close_list(CnVec *v);
/* Closes one valid struct entry after one entry was appended to every child. */
int cn_col_vec_close_struct(CnVec *v);
/* Appends a scalar to a primitive vector; the scalar's type must have the same width
 * class (int32 into int32/date, int64 into int64/timestamp, ...). CN_ETYPE otherwise. */
int cn_col_vec_append_scalar(CnVec *v, const CnScalar *s);
/* Appends a deep copy of src entry i (nested children included). Types must be equal
 * (CN_ASSERT). 0 or CN_ENOMEM. */
int cn_col_vec_append_from(CnVec *dst, const CnVec *src, uint32_t i);
/* Appends entries [start, start+n) of src (nested children included); types must be
 * equal (CN_ASSERT). Bulk copy: memcpy for fixed width, rebased offsets for the rest.
 * 0 or CN_ENOMEM. */
int cn_col_vec_append_range(CnVec *dst, const CnVec *src, uint32_t start, uint32_t n);
/* Reads entry i of a primitive vector into *out (strings BORROWED from v). */
void cn_col_vec_get(const CnVec *v, uint32_t i, CnScalar *out);

/* --------------------------------------------------------------- batch */

/* Rows of a schema, one vector per field, plus an optional selection.
 * sel: NULL means rows 0..n_rows-1; otherwise n_sel strictly ascending row indexes
 *   (BORROWED: set by a filter, valid as long as its producer says).
 * arena: batch-lifetime scratch (strings built by expressions, ...), dropped by reset. */
typedef struct CnBatch {
    const CnSchema *schema; /* BORROWED: must outlive the batch */
    uint32_t n_rows;
    uint32_t n_cols;        /* == schema->n_fields */
    CnVec *cols;
    const uint32_t *sel;
    uint32_t n_sel;
    CnArena arena;
} CnBatch;

/* OWNED: free with cn_col_batch_free. CN_ENOMEM. */
int cn_col_batch_new(const CnSchema *schema, CnBatch **out, CnErr *err);
void cn_col_batch_free(CnBatch *b);
/* Drops all rows, the selection and the arena contents; keeps buffer capacity. */
void cn_col_batch_reset(CnBatch *b);
/* After appending to every column: sets n_rows. CN_ENOMEM if an append ran out of
 * memory (sticky oom), CN_EINTERNAL if columns differ in length (names the column). */
int cn_col_batch_sync_rows(CnBatch *b, CnErr *err);
/* Appends rows of src (sel/n_sel, or all rows when sel is NULL; src->sel is ignored) to
 * dst; schemas must have equal types per column. CN_ETYPE names a mismatching column. */
int cn_col_batch_append_rows(CnBatch *dst, const CnBatch *src, const uint32_t *sel,
                             uint32_t n_sel, CnErr *err);
/* Rows [start, start + n) of b (no selection, no nested column) as a batch of their own
 * without copying their values: fixed-width values and string bytes are BORROWED from b
 * (valid while b is neither freed nor changed), validity bits and string offsets are
 * copied (rebased: every INVARIANT above holds). A read-only view: never append to it.
 * OWNED: free with cn_col_batch_free. CN_EINVAL (a selection, a nested column, rows out
 * of range), CN_ENOMEM. */
int cn_col_batch_view(const CnBatch *b, uint32_t start, uint32_t n, CnBatch **out, CnErr *err);
/* Debug check of every INVARIANT above; CN_EINTERNAL naming column and entry. O(rows). */
int cn_col_batch_check(const CnBatch *b, CnErr *err);
/* Same for one vector; name is used in the message. */
int cn_col_vec_check(const CnVec *v, const char *name, CnErr *err);

#endif /* CN_COL_H */
