/* kv_int.h: what a KV backend implements (private to src/online).
 * kv.c parses the URI, validates every argument (dataset names, key sizes, read-only)
 * and formats the common parts of error messages, so a backend's functions receive
 * checked input and only do storage. Adding a backend: one file kv_<name>.c defining a
 * `const CnKvOps cn_kv__<name>_ops`, and one line in the scheme table of kv.c.
 *
 * Supported schemes (kv.c):
 *   scheme        backend          status
 *   lmdb:<dir>    kv_lmdb.c        built in (default: <warehouse>/online)
 *   mem:[name]    kv_mem.c         built in (process memory; tests, reference)
 *   redis://      kv_redis.c       built in when hiredis is found (CN_HAVE_HIREDIS)
 *   rediss://     -                recognised, CN_EUNSUPPORTED (hiredis 0.14 has no TLS)
 *   mongodb(+srv)://  kv_mongo.c   module chronon_mongo.so, loaded on first use by
 *                                  kv_mongo_load.c (built when libmongoc is found)
 *   dynamodb://   kv_dynamodb.c    built in (libcurl, OpenSSL)
 *
 * THREADS: a backend honours kv.h's rule (many readers, one writer) on its own: kv.c
 * adds no lock. */
#ifndef CN_KV_INT_H
#define CN_KV_INT_H

#include <string.h>

#include "online/kv.h"

typedef struct CnKvOps CnKvOps;

struct CnKv {
    const CnKvOps *ops;
    void *impl;             /* the backend's state; OWNED by the backend (close frees) */
    CnKvOptions opts;       /* with defaults filled in */
    char *uri;              /* OWNED: display form, credentials removed */
};

struct CnKvLoad {
    CnKv *kv;
    char *dataset;          /* OWNED */
    void *impl;             /* backend state; freed by load_commit/load_abort */
    unsigned flags;         /* CN_KV_LOAD_* in effect; LMDB clears CN_KV_LOAD_STREAM when
                             * a key comes out of order */
    uint64_t version;       /* the version being written (set by load_begin) */
    uint64_t n_added;
    int rc;                 /* sticky: first error of load_add */
    CnErr err;              /* its message */
};

/* All functions get checked arguments: dataset is 1..CN_KV_DATASET_MAX bytes, keys are
 * 1..max_key_len bytes, writes never reach a read-only store. Errors are set with the
 * full context (kv->uri, dataset, key via cn_kv_key_repr). */
struct CnKvOps {
    const char *name;       /* scheme, e.g. "lmdb" */
    unsigned caps;          /* CN_KV_CAP_* */
    size_t max_key_len;
    /* target: the URI after "<scheme>:". Sets kv->impl. */
    int (*open)(CnKv *kv, const char *target, CnErr *err);
    void (*close)(CnKv *kv);
    int (*dataset_create)(CnKv *kv, const char *dataset, CnErr *err);
    int (*dataset_drop)(CnKv *kv, const char *dataset, CnErr *err);
    int (*dataset_list)(CnKv *kv, CnArena *arena, char ***names, size_t *n, CnErr *err);
    int (*dataset_version)(CnKv *kv, const char *dataset, uint64_t *version, CnErr *err);
    int (*multi_get)(CnKv *kv, const char *dataset, const CnKvSlice *keys, size_t n,
                     CnKvSlice *values, CnArena *arena, CnErr *err);
    int (*multi_put)(CnKv *kv, const char *dataset, const CnKvSlice *keys,
                     const CnKvSlice *values, size_t n, CnErr *err);
    int (*multi_delete)(CnKv *kv, const char *dataset, const CnKvSlice *keys, size_t n,
                        CnErr *err);
    /* ld->kv and ld->dataset are set; sets ld->impl and ld->version. */
    int (*load_begin)(CnKvLoad *ld, CnErr *err);
    int (*load_add)(CnKvLoad *ld, const void *key, size_t key_len, const void *value,
                    size_t value_len, CnErr *err);
    /* Flips and frees ld->impl whatever the outcome. */
    int (*load_commit)(CnKvLoad *ld, CnErr *err);
    /* Frees ld->impl; NULL-safe on impl. */
    void (*load_abort)(CnKvLoad *ld);
    /* Optional read snapshots (kv.h cn_kv_read_*); NULL: the backend has none. */
    int (*read_begin)(CnKv *kv, void **txn, CnErr *err);
    int (*read_get)(CnKv *kv, void *txn, const char *dataset, const CnKvSlice *key, CnKvSlice *value,
                    uint64_t *version, CnErr *err);
    void (*read_end)(CnKv *kv, void *txn);
};

extern const CnKvOps cn_kv__lmdb_ops;
extern const CnKvOps cn_kv__mem_ops;
extern const CnKvOps cn_kv__mongo_ops;    /* kv_mongo_load.c, when CN_HAVE_MONGOC */
extern const CnKvOps cn_kv__redis_ops;    /* kv_redis.c, when CN_HAVE_HIREDIS */
extern const CnKvOps cn_kv__dynamodb_ops; /* kv_dynamodb.c */

/* The empty value's data pointer (found, zero length). */
extern const uint8_t cn_kv__empty[1];

/* Copies a found value into arena (empty -> cn_kv__empty). NULL on out of memory. */
const uint8_t *cn_kv__copy_value(CnArena *arena, const void *data, size_t len);

/* The errors every backend gives the same words: "<uri>: dataset <d> does not exist"
 * (CN_ENOTFOUND) and "<uri>: dataset <d>: out of memory" (CN_ENOMEM; dataset may be NULL). */
int cn_kv__no_dataset(CnKv *kv, const char *dataset, CnErr *err);
int cn_kv__oom(CnKv *kv, const char *dataset, CnErr *err);

#endif /* CN_KV_INT_H */
