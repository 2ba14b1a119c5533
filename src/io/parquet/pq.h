/* pq.h: Parquet reader and writer over columnar batches (src/col/col.h).
 * The reader streams row groups: memory is bounded by one row group's column chunks of
 * the projected columns plus one batch, never by the file. The writer buffers one row
 * group, writes to a temporary name in the target directory and renames on finish, so
 * no half-written file is ever visible under the final name.
 * The supported subset of the format (types, encodings, codecs) is tabled at the top of
 * pq_int.h. Errors on bad files name the file, column, row group and page.
 * THREADS: a reader or writer has one owner thread at a time; distinct readers of the
 *   same file may run on different threads. A writer may encode a row group on pool
 *   threads of its own (CnPqWriteOpts.threads), joined before the call returns.
 *   CnPqMeta is immutable once returned. */
#ifndef CN_PQ_H
#define CN_PQ_H

#include "base/compat.h"
#include "base/err.h"
#include "col/col.h"

/* Values are the Parquet Thrift enum values. */
typedef enum CnPqCodec {
    CN_PQ_CODEC_UNCOMPRESSED = 0,
    CN_PQ_CODEC_SNAPPY = 1,
    CN_PQ_CODEC_GZIP = 2,
    CN_PQ_CODEC_ZSTD = 6,
} CnPqCodec;

typedef enum CnPqPhysical {
    CN_PQ_BOOLEAN = 0,
    CN_PQ_INT32 = 1,
    CN_PQ_INT64 = 2,
    CN_PQ_INT96 = 3,
    CN_PQ_FLOAT = 4,
    CN_PQ_DOUBLE = 5,
    CN_PQ_BYTE_ARRAY = 6,
    CN_PQ_FIXED_LEN_BYTE_ARRAY = 7,
} CnPqPhysical;

typedef enum CnPqEncoding {
    CN_PQ_ENC_PLAIN = 0,
    CN_PQ_ENC_PLAIN_DICT = 2,
    CN_PQ_ENC_RLE = 3,
    CN_PQ_ENC_BIT_PACKED = 4,
    CN_PQ_ENC_DELTA_BINARY_PACKED = 5,
    CN_PQ_ENC_DELTA_LENGTH_BYTE_ARRAY = 6,
    CN_PQ_ENC_DELTA_BYTE_ARRAY = 7,
    CN_PQ_ENC_RLE_DICT = 8,
    CN_PQ_ENC_BYTE_STREAM_SPLIT = 9,
} CnPqEncoding;

/* "uncompressed"/"none", "snappy", "gzip", "zstd" (case-insensitive). CN_EINVAL. */
int cn_pq_codec_parse(const char *s, CnPqCodec *out, CnErr *err);
/* "UNCOMPRESSED", "SNAPPY", "GZIP", "ZSTD", "LZ4", ... (Parquet's names; never NULL). */
const char *cn_pq_codec_name(int codec);
const char *cn_pq_encoding_name(int enc);
const char *cn_pq_physical_name(int physical);

/* ------------------------------------------------------------- metadata */

/* Column chunk statistics. min/max are the PLAIN encoding of the physical value
 * (little-endian numbers, raw bytes for BYTE_ARRAY, one byte for BOOLEAN), ordered
 * signed for ints, IEEE for floats (NaN excluded) and unsigned bytewise for strings.
 * Only min_value/max_value are trusted from files; legacy min/max fields are read only
 * for non-byte-array columns, whose sort order they got right. */
typedef struct CnPqStats {
    bool has_null_count;
    bool has_min_max;
    int64_t null_count;
    const uint8_t *min, *max;
    uint32_t min_len, max_len;
} CnPqStats;

/* One leaf column in one row group. */
typedef struct CnPqChunk {
    int codec;                /* CnPqCodec value as stored */
    int64_t n_values;         /* level entries including nulls */
    int64_t data_page_offset;
    int64_t dict_page_offset; /* -1 when there is no dictionary page */
    int64_t compressed_len;   /* whole chunk on disk, page headers included */
    int64_t uncompressed_len;
    uint32_t encodings;       /* bit (1u << CnPqEncoding) for each encoding listed */
    CnPqStats stats;
} CnPqChunk;

typedef struct CnPqRowGroup {
    int64_t n_rows;
    int64_t total_byte_size;
    int64_t file_offset;      /* first page of the first column */
    const CnPqChunk *chunks;  /* one per leaf, in CnPqMeta.leaves order */
} CnPqRowGroup;

/* A leaf (primitive) column of the file schema. A top-level primitive field is one leaf;
 * list<T> is one leaf ("tags.list.element"); map<K,V> is two ("m.key_value.key",
 * "m.key_value.value"). */
typedef struct CnPqLeaf {
    const char *path;         /* dotted path of the leaf in the file schema */
    uint32_t i_field;         /* index of its top-level field in the file CnSchema;
                                 UINT32_MAX (and type NULL) for a leaf of an
                                 unsupported column */
    int32_t field_id;         /* of the leaf node (element/key/value id for nested), or -1 */
    int physical;             /* CnPqPhysical */
    int32_t type_length;      /* FIXED_LEN_BYTE_ARRAY width, else 0 */
    int16_t max_def, max_rep;
    const CnType *type;       /* the value type the leaf decodes to */
} CnPqLeaf;

typedef struct CnPqKv {
    const char *key, *value; /* value may be NULL */
} CnPqKv;

/* The footer, decoded. Strings and arrays are BORROWED from the reader or writer that
 * returned it and live until that is closed/freed. */
typedef struct CnPqMeta {
    int32_t version;
    int64_t n_rows;
    const char *created_by;   /* may be NULL */
    uint64_t file_len;
    uint32_t n_leaves;
    const CnPqLeaf *leaves;
    uint32_t n_row_groups;
    const CnPqRowGroup *row_groups;
    uint32_t n_kv;
    const CnPqKv *kv;
} CnPqMeta;

/* --------------------------------------------------------------- reader */

typedef struct CnPqReader CnPqReader;

/* Opens path and decodes its footer and schema (the whole file is never read here).
 * Columns whose type is outside the supported subset do not stop the open: they are left
 * out of the schema and listed by cn_pq_reader_unsupported(). Nothing is dropped
 * silently: reading without a projection fails with CN_EUNSUPPORTED naming the first of
 * them and why. To read the rest, opt in explicitly with cn_pq_reader_skip_unsupported()
 * or project columns by name leaving them out.
 * OWNED: close with cn_pq_reader_close. Errors: -errno (open/read; message names the
 * path), CN_ECORRUPT (truncated, bad magic, bad footer: names the file and what was
 * expected), CN_EUNSUPPORTED (encrypted files, external column chunks), CN_ENOMEM. */
int cn_pq_reader_open(const char *path, CnPqReader **out, CnErr *err);
/* Same over bytes in memory; name is used in messages. data is BORROWED until close. */
int cn_pq_reader_open_mem(const char *name, const void *data, size_t len, CnPqReader **out,
                          CnErr *err);
void cn_pq_reader_close(CnPqReader *r); /* NULL-safe */

/* BORROWED until close. The schema of the whole file: one field per top-level column,
 * Parquet field_ids as Iceberg field ids, nested element/key/value ids on the type. */
const CnSchema *cn_pq_reader_schema(const CnPqReader *r);
const CnPqMeta *cn_pq_reader_meta(const CnPqReader *r);
/* Value of a key/value metadata entry, or NULL. BORROWED until close. */
const char *cn_pq_reader_kv(const CnPqReader *r, const char *key);

/* The i-th top-level column left out of the schema because its type is unsupported, or
 * NULL past the last one; *why (may be NULL) says what is unsupported. BORROWED until
 * close. */
const char *cn_pq_reader_unsupported(const CnPqReader *r, uint32_t i, const char **why);

/* Projection by top-level column name, in the order given; NULL/0 means all columns.
 * Must be called before the first cn_pq_reader_next. CN_ENOTFOUND names the column and
 * the file. */
int cn_pq_reader_project(CnPqReader *r, const char *const *names, uint32_t n_names,
                         CnErr *err);
/* Explicit opt-in to drop the columns outside the supported subset: projects every
 * other column in file order (no-op when there are none). Callers should say what they
 * skipped (cn_pq_reader_unsupported). Before the first next. CN_EINVAL after it. */
int cn_pq_reader_skip_unsupported(CnPqReader *r, CnErr *err);
/* Schema of the batches returned by next (the projection). BORROWED until close. */
const CnSchema *cn_pq_reader_out_schema(const CnPqReader *r);

/* Row-group pruning: keep only row groups whose statistics say that column may hold a
 * non-null value in [lo, hi] (both inclusive, NULL = unbounded). Calls are ANDed. The
 * column must be a top-level primitive column; lo/hi must be of a compatible type
 * (ints with int32/int64/date/timestamp, floats with float32/float64, strings with
 * string/binary; CN_ETYPE otherwise). Row groups without statistics are kept. This only
 * skips row groups: rows inside a kept row group are not filtered. Before the first next. */
int cn_pq_reader_filter_range(CnPqReader *r, const char *column, const CnScalar *lo,
                              const CnScalar *hi, CnErr *err);
/* Restrict reading to the given row groups (ascending indexes), e.g. to split a file
 * across workers. Combined with pruning. CN_EINVAL for an index out of range. */
int cn_pq_reader_set_row_groups(CnPqReader *r, const uint32_t *idx, uint32_t n,
                                CnErr *err);
/* Whether row group i will be read (after pruning and set_row_groups). */
bool cn_pq_reader_row_group_selected(const CnPqReader *r, uint32_t i);
/* Row group of the last batch next returned (-1 before the first): with the file, the
 * batch's place in the file when several readers split its row groups. */
int64_t cn_pq_reader_batch_row_group(const CnPqReader *r);

/* Next batch of at most max_rows rows (0 picks 65536), or *out = NULL at the end.
 * A batch never spans two row groups. BORROWED: valid until the next call or close.
 * Errors (CN_ECORRUPT, CN_EUNSUPPORTED, -errno, CN_ENOMEM) name the file, column, row
 * group and page; after an error every later call returns the same error. */
int cn_pq_reader_next(CnPqReader *r, uint32_t max_rows, const CnBatch **out, CnErr *err);

/* Decode buffers (scratch, zstd context, row-group batches) to lend to readers that run
 * one after another, such as a scan's files: made once instead of per file. OWNED: free
 * with cn_pq_read_cache_free (NULL-safe) after the last reader using it is closed; a
 * batch from a reader is only valid until the next reader using the cache reads.
 * cn_pq_reader_set_cache lends it (NULL: the reader's own buffers) before the first
 * cn_pq_reader_next (CN_EINVAL after). Readers sharing a cache must not read at the same
 * time. CN_ENOMEM. */
typedef struct CnPqReadCache CnPqReadCache;
int cn_pq_read_cache_new(CnPqReadCache **out, CnErr *err);
void cn_pq_read_cache_free(CnPqReadCache *c);
int cn_pq_reader_set_cache(CnPqReader *r, CnPqReadCache *c, CnErr *err);

/* --------------------------------------------------------------- writer */

typedef struct CnPqWriteOpts {
    CnPqCodec codec;          /* default CN_PQ_CODEC_ZSTD */
    int level;                /* codec level: zstd 1..22, gzip 1..9; 0 = library default */
    uint32_t row_group_rows;  /* rows per row group; default 1,048,576 */
    uint32_t page_bytes;      /* target uncompressed data page size; default 1 MiB */
    int page_version;         /* 1 (DataPage) or 2 (DataPageV2); default 1 */
    bool dictionary;          /* try dictionary encoding; default true */
    uint32_t dict_max_bytes;  /* give up on the dictionary (fall back to PLAIN) once
                                 its plain size passes this; default 1 MiB */
    bool statistics;          /* write min/max/null_count; default true */
    bool timestamp_micros;    /* write CN_COL_TIMESTAMP as TIMESTAMP(MICROS) (Iceberg's
                                 timestamp) instead of TIMESTAMP(MILLIS); default false */
    const char *created_by;   /* default "chronon-c version <v>" */
    /* Encodings of pages that are not dictionary-encoded (dictionary off or fallen back):
     * int_encoding for int32/int64/date/timestamp: CN_PQ_ENC_PLAIN (default) or
     * CN_PQ_ENC_DELTA_BINARY_PACKED; bytes_encoding for string/binary: CN_PQ_ENC_PLAIN
     * (default), CN_PQ_ENC_DELTA_LENGTH_BYTE_ARRAY or CN_PQ_ENC_DELTA_BYTE_ARRAY. */
    int int_encoding;
    int bytes_encoding;
    /* Threads encoding a row group's column chunks at once (each chunk on one thread,
     * appended in column order, so the file is byte for byte the same for any count).
     * 0 (default): cn_pool_threads() for a row group of at least 131,072 rows x leaves,
     * else the caller alone. */
    uint32_t threads;
    /* Encoding buffers lent by the caller (BORROWED, may be NULL: the writer's own), for
     * a caller writing many files one after another: they are allocated once instead of
     * per file. Writers sharing a cache must not write or finish at the same time. */
    struct CnPqEncCache *cache;
    /* The fsync of the finished file left to the caller, who must sync the file and its
     * folder (cn_fs_sync_path) before anything durable refers to it: finish starts the
     * file's writeback and renames it into place without waiting for the device, so a
     * caller finishing many files waits once, at the end, for what is still unwritten.
     * Default false (finish syncs the file and its folder). */
    bool defer_sync;
} CnPqWriteOpts;

void cn_pq_write_opts_init(CnPqWriteOpts *o);

/* Encoding buffers to lend to writers (CnPqWriteOpts.cache). OWNED: free with
 * cn_pq_enc_cache_free (NULL-safe) after the last writer using it is freed. CN_ENOMEM. */
typedef struct CnPqEncCache CnPqEncCache;
int cn_pq_enc_cache_new(CnPqEncCache **out, CnErr *err);
void cn_pq_enc_cache_free(CnPqEncCache *c);

typedef struct CnPqWriter CnPqWriter;

/* Creates a temporary file next to path. opts NULL means defaults. schema is BORROWED
 * and must outlive the writer. OWNED: free with cn_pq_writer_free.
 * Errors: -errno (names the path), CN_EINVAL (bad option: names it), CN_EUNSUPPORTED
 * (a type outside the subset, e.g. struct: names the column), CN_ENOMEM. */
int cn_pq_writer_open(const char *path, const CnSchema *schema, const CnPqWriteOpts *opts,
                      CnPqWriter **out, CnErr *err);
/* Lends the writer other encoding buffers (NULL: its own) from now on, as opts.cache
 * does: for a caller that picks the thread writing a file, and that thread's buffers,
 * only when it writes the file. Between writes, with no row pending (the buffers hold
 * nothing of a file between row groups). */
void cn_pq_writer_set_cache(CnPqWriter *w, struct CnPqEncCache *cache);
/* Adds a key/value metadata entry to the footer (copied). Before finish. */
int cn_pq_writer_set_kv(CnPqWriter *w, const char *key, const char *value, CnErr *err);
/* Appends the batch's rows (only the selected ones when b->sel is set). The batch's
 * column types must equal the writer's schema (CN_ETYPE names the column). Buffers up to
 * one row group, then encodes and writes it. After any error, every later call returns
 * the first error (check once at finish). */
int cn_pq_writer_write(CnPqWriter *w, const CnBatch *b, CnErr *err);
/* As cn_pq_writer_write, but when no rows are pending and b (without a selection) fits
 * one row group, b's vectors are encoded as the next row group at once instead of being
 * copied into the writer's own (for a caller that finishes the file next). */
int cn_pq_writer_write_whole(CnPqWriter *w, const CnBatch *b, CnErr *err);
/* Writes the last row group and the footer, fsyncs and renames the temp file to path.
 * Returns the first error of the writer's life; on error nothing exists at path (the
 * temp file is removed). */
int cn_pq_writer_finish(CnPqWriter *w, CnErr *err);
/* After a successful finish: the footer as written (row counts, sizes, statistics for
 * Iceberg manifests). BORROWED until cn_pq_writer_free. NULL before finish. */
const CnPqMeta *cn_pq_writer_meta(const CnPqWriter *w);
/* NULL-safe. Without a successful finish it removes the temporary file. */
void cn_pq_writer_free(CnPqWriter *w);

#endif /* CN_PQ_H */
