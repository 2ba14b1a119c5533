/* kv.h: the online key-value store. One interface (a vtable, CnKvOps in kv_int.h) over
 * backends chosen by URI: `lmdb:<dir>` (embedded, the default `<warehouse>/online`),
 * `mem:` (a hash map, the reference in the contract tests), `redis://` (kv_redis.c, when
 * built with hiredis), `mongodb://` (kv_mongo.c, the module chronon_mongo.so loaded on
 * first use by kv_mongo_load.c) and `dynamodb://` (kv_dynamodb.c). `rediss://` is
 * recognised but fails with CN_EUNSUPPORTED.
 *
 * A store holds named datasets (Chronon's `<GROUPBY>_BATCH`, `ZIPLINE_METADATA`, ...).
 * Each dataset has a current VERSION. A bulk load writes a whole new version beside the
 * current one and then flips the dataset's pointer to it in one step: a reader sees the
 * complete old version or the complete new one, never a mix. Old versions are
 * garbage-collected after the flip. multi_put/multi_delete change the current version
 * in place (each call is atomic on the embedded backends).
 *
 * INVARIANTS: keys are 1..max_key_len bytes of any value (NUL allowed; LMDB allows 511);
 *   values are 0..n bytes; a found empty value is {non-NULL data, len 0}, a missing key
 *   is {NULL, 0}.
 * THREADS: a CnKv is shared by many reader threads (multi_get, dataset_version,
 *   dataset_list from any thread at once) and ONE writer at a time (create, drop, put,
 *   delete, loads: the caller serialises writers, across processes too). Reads run
 *   concurrently with the writer. cn_kv_close() only when no call is in flight. A
 *   CnKvLoad is used by one thread at a time: up to its first load_add it may pass to
 *   another thread (a begin that returned holds no transaction open; the upload begins
 *   its load on a thread of its own), from then on it stays with the thread that adds
 *   (a streamed load keeps LMDB's write transaction across calls).
 * docs/online-store.md describes the LMDB layout, versions and how remote backends plug in. */
#ifndef CN_KV_H
#define CN_KV_H

#include "base/compat.h"

#include "base/arena.h"
#include "base/err.h"

typedef struct CnKv CnKv;
typedef struct CnKvLoad CnKvLoad;

/* A byte string. As a multi_get result: data == NULL means the key is missing. */
typedef struct CnKvSlice {
    const uint8_t *data;
    size_t len;
} CnKvSlice;

/* Well-known dataset names and keys (spec/config.md section 8). */
#define CN_KV_METADATA_DATASET "ZIPLINE_METADATA"
#define CN_KV_ENTITY_BY_TEAM_DATASET "CHRONON_ENTITY_BY_TEAM"
#define CN_KV_SERVING_INFO_KEY "group_by_serving_info"
#define CN_KV_BATCH_SUFFIX "_BATCH"
#define CN_KV_STREAMING_SUFFIX "_STREAMING"

/* Longest dataset name accepted by every backend (bytes, no NUL inside). */
#define CN_KV_DATASET_MAX 255

/* Backend capabilities (cn_kv_caps). */
enum {
    CN_KV_CAP_PERSISTENT = 1u << 0, /* data survives close and reopen */
    CN_KV_CAP_FILES = 1u << 1,      /* lives in local files (corruption is detectable) */
    CN_KV_CAP_STREAM = 1u << 2,     /* loads take CN_KV_LOAD_STREAM */
};

/* Open options. Zero means "backend default" for every numeric field, so a
 * zero-initialised struct (or NULL) is valid. */
typedef struct CnKvOptions {
    /* remote backends (redis, mongodb, dynamodb) */
    uint32_t connect_timeout_ms; /* per connection attempt; default 1000 */
    uint32_t timeout_ms;         /* per request; default 500 */
    uint32_t retries;            /* extra attempts of an idempotent call that failed
                                  * transiently; default 2 */
    uint32_t retry_backoff_ms;   /* first backoff, doubled per retry; default 20 */
    /* all backends */
    bool read_only;              /* refuse writes; LMDB opens MDB_RDONLY and needs an
                                  * existing store (serving from a read-only warehouse) */
    /* lmdb */
    uint64_t map_size;           /* initial map size in bytes; default 256 MiB. The map
                                  * doubles on MDB_MAP_FULL ... */
    uint64_t map_size_max;       /* ... up to this; default 1 TiB */
    uint32_t max_readers;        /* read slots across processes; default 1024 */
    uint32_t max_datasets;       /* dataset versions open at once in one process; default 4096 */
    uint64_t load_chunk_bytes;   /* a bulk load buffers, sorts and writes this much per write
                                  * transaction; default 256 MiB (a load that fits is
                                  * appended in key order whatever its input order) */
    bool no_sync;                /* skip fsync at commit (MDB_NOSYNC): a crash may lose the
                                  * last commits, never consistency. Tests, scratch stores */
} CnKvOptions;

/* Opens the store named by uri. opts may be NULL (defaults). On failure *out is NULL and
 * err names the URI (credentials removed) and the reason. Returns 0, CN_ECONFIG (unknown
 * or malformed URI), CN_EUNSUPPORTED (a backend not built in), CN_ENOTFOUND (read-only
 * open of a store that does not exist), CN_ECORRUPT (not a valid store), CN_EIO. */
int cn_kv_open(const char *uri, const CnKvOptions *opts, CnKv **out, CnErr *err);
/* NULL-safe. */
void cn_kv_close(CnKv *kv);

/* BORROWED until close: the URI without credentials, e.g. "lmdb:wh/online". */
const char *cn_kv_uri(const CnKv *kv);
/* BORROWED (static): "lmdb", "mem", ... */
const char *cn_kv_backend(const CnKv *kv);
unsigned cn_kv_caps(const CnKv *kv);

/* Creates an empty dataset (version 1 or later). Idempotent: an existing dataset is
 * left as it is and 0 is returned. */
int cn_kv_dataset_create(CnKv *kv, const char *dataset, CnErr *err);
/* Removes the dataset and all its versions. CN_ENOTFOUND if it does not exist. */
int cn_kv_dataset_drop(CnKv *kv, const char *dataset, CnErr *err);
/* The dataset names in byte order. OUT *names: n strings and the array, in arena. */
int cn_kv_dataset_list(CnKv *kv, CnArena *arena, char ***names, size_t *n, CnErr *err);
/* The current version of a dataset (increases with every flip). CN_ENOTFOUND if the
 * dataset does not exist. */
int cn_kv_dataset_version(CnKv *kv, const char *dataset, uint64_t *version, CnErr *err);

/* Looks up n keys in the current version of dataset, all in one snapshot.
 * OUT values[i]: COPIED into arena (valid until the arena is reset; 16-byte aligned),
 * or {NULL, 0} when the key is missing. Copying costs little next to decoding and frees
 * callers from a read-transaction lifetime; serve uses one arena per request.
 * Errors: CN_ENOTFOUND when the dataset does not exist, CN_EINVAL for an empty or
 * oversized key, CN_ENOMEM, CN_ECORRUPT, CN_EIO / CN_EREMOTE. On error no value is set.
 * Cost (lmdb, data in the page cache): about 1 us for 1 key, 2-4 us for 3 (bench_kv);
 * no lock is held across calls. */
int cn_kv_multi_get(CnKv *kv, const char *dataset, const CnKvSlice *keys, size_t n,
                    CnKvSlice *values, CnArena *arena, CnErr *err);
/* One key; same contract as multi_get. */
int cn_kv_get(CnKv *kv, const char *dataset, const void *key, size_t key_len,
              CnKvSlice *value, CnArena *arena, CnErr *err);

/* A read snapshot: the values of keys of any datasets as of one moment, each with the
 * dataset version it belongs to, without copying (LMDB hands out its mapped pages).
 * For a fetch that reads a few records of several datasets: one transaction in all
 * instead of one per call. Only the thread that began it uses it; it must not call the
 * other read functions of kv meanwhile (LMDB: a writer waiting between two reads of one
 * thread would wait forever). Hold it for microseconds: LMDB keeps the pages of the
 * snapshot alive until read_end. */
typedef struct CnKvRead {
    CnKv *kv;
    void *impl; /* the backend's transaction */
} CnKvRead;
/* CN_EUNSUPPORTED when the backend has no snapshots (read with multi_get instead);
 * CN_EIO and the like. */
int cn_kv_read_begin(CnKv *kv, CnKvRead *rd, CnErr *err);
/* OUT value: BORROWED until cn_kv_read_end ({NULL, 0}: missing key); OUT version (may
 * be NULL): the dataset's version in the snapshot. key NULL (value may be NULL too):
 * only the version. CN_ENOTFOUND when the dataset does
 * not exist; CN_ECONFLICT when this snapshot cannot read the dataset (LMDB: a version
 * this process has not opened yet; a cn_kv_multi_get of it opens it). */
int cn_kv_read_get(CnKvRead *rd, const char *dataset, const void *key, size_t key_len, CnKvSlice *value,
                   uint64_t *version, CnErr *err);
/* Ends the snapshot; borrowed values are gone. NULL-safe on rd->impl. */
void cn_kv_read_end(CnKvRead *rd);

/* Writes n (key, value) pairs into the current version of an existing dataset (create
 * it first): all or none on the embedded backends. A repeated key: the last one wins. */
int cn_kv_multi_put(CnKv *kv, const char *dataset, const CnKvSlice *keys,
                    const CnKvSlice *values, size_t n, CnErr *err);
/* Deletes n keys from the current version; missing keys are ignored. */
int cn_kv_multi_delete(CnKv *kv, const char *dataset, const CnKvSlice *keys, size_t n,
                       CnErr *err);

/* Bulk load: a new version of dataset (created if missing) from a stream of pairs in
 * any order; ascending byte order is fastest (LMDB appends). A repeated key: the last
 * one wins. Nothing is visible to readers until cn_kv_load_commit() flips the dataset to
 * the new version. OWNED: *out, ended by exactly one of commit or abort. */
int cn_kv_load_begin(CnKv *kv, const char *dataset, CnKvLoad **out, CnErr *err);
/* Load flags (cn_kv_load_begin_flags). */
enum {
    /* Write the pairs as they are added, in write transactions held across load_add
     * calls, instead of buffering them first: no copy into a load buffer, and the writes
     * overlap whatever the caller computes between adds. Pairs in ascending byte order
     * are appended; any other order is still stored right (a repeated key: the last one
     * wins), only slower. Nothing is visible to readers before the commit, as without the
     * flag. While the load is open, the thread that began it makes no other call on kv
     * (LMDB: a second write transaction of the thread would wait for its own), and this
     * process's calls that open, create or drop datasets wait for the transaction in
     * progress (at most options.load_chunk_bytes of pairs). Backends without it (all but
     * LMDB) load as without the flag. */
    CN_KV_LOAD_STREAM = 1u << 0,
};
/* cn_kv_load_begin with CN_KV_LOAD_* flags (cn_kv_load_begin is flags 0). */
int cn_kv_load_begin_flags(CnKv *kv, const char *dataset, unsigned flags, CnKvLoad **out, CnErr *err);
/* Copies the pair (the caller may reuse its buffers). After an error every later call
 * returns the same error (check once, at commit). */
int cn_kv_load_add(CnKvLoad *ld, const void *key, size_t key_len, const void *value,
                   size_t value_len, CnErr *err);
/* Writes what is buffered, flips the dataset to the new version and collects older
 * versions. Frees ld whatever the outcome; on error the old version stays current.
 * OUT version (may be NULL): the new current version.
 * CN_ECONFLICT if a newer load of the same dataset was committed meanwhile. */
int cn_kv_load_commit(CnKvLoad *ld, uint64_t *version, CnErr *err);
/* Discards the new version. NULL-safe; frees ld. */
void cn_kv_load_abort(CnKvLoad *ld);
/* Pairs added so far. */
uint64_t cn_kv_load_count(const CnKvLoad *ld);
/* True while a CN_KV_LOAD_STREAM load writes its pairs as they come: false once a key
 * came that was not beyond every key before it (the rest is buffered and sorted), and
 * for loads without the flag or backends without CN_KV_CAP_STREAM. */
bool cn_kv_load_streaming(const CnKvLoad *ld);

/* Chronon's dataset name for a GroupBy: UPPER(sanitize(name)) + suffix, e.g.
 * ("team.purchases.v1", CN_KV_BATCH_SUFFIX) -> "TEAM_PURCHASES_V1_BATCH". In arena;
 * NULL when out of memory. */
char *cn_kv_dataset_name(CnArena *arena, const char *group_by_name, const char *suffix);

/* Printable form of a key for messages: "text" (quoted) when every byte is printable
 * ASCII, else 0x<hex>; long keys are cut with "...(N bytes)". Writes at most cap bytes
 * including the NUL; returns buf. CN_KV_KEY_REPR_MAX fits any key. */
#define CN_KV_KEY_REPR_MAX 160
const char *cn_kv_key_repr(const void *key, size_t len, char *buf, size_t cap);

#endif /* CN_KV_H */
