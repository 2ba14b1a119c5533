/* objstore.h: one interface over local files and S3 (the warehouse's storage).
 * A store is opened on a root URI; every operation takes a key relative to that root:
 *   /abs/dir, file:///abs/dir      local directory (keys are relative paths)
 *   s3://bucket[/prefix]           S3 or an S3-compatible server (keys go under prefix/)
 * Writes are all-or-nothing: a reader sees the old object or the new one, never a part
 * (local: temp name + fsync + rename; S3: a single PUT or a completed multipart upload).
 * S3 settings come from the environment: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
 * AWS_SESSION_TOKEN, AWS_REGION (default us-east-1), AWS_ENDPOINT_URL (path-style
 * addressing when set). Without AWS_ACCESS_KEY_ID requests go unsigned. Requests are
 * signed with AWS SigV4; 5xx, 429, time-outs and connection errors are retried with
 * exponential backoff a bounded number of times.
 * Test hook: CN_TEST_OBJ_FAIL="op:n[:crash][,op:n...]" makes the n-th call (1-based,
 *   counted per store) of op (put|get|head|list|delete|any) fail with CN_EIO, or with
 *   ":crash" end the process (_exit(86)) before doing it, so crash tests can stop a
 *   writer between two steps. Inert unless set.
 * Errors: CN_ENOTFOUND (no such object), CN_EEXISTS (put_if_absent lost), CN_EINVAL
 *   (bad URI or key), CN_EREMOTE (the server refused: message has the operation, the
 *   bucket/key, HTTP status and S3 error code), CN_EIO (local I/O, network), CN_ENOMEM.
 * THREADS: one thread at a time per store; open one store per thread. */
#ifndef CN_OBJSTORE_H
#define CN_OBJSTORE_H

#include "base/compat.h"
#include "base/err.h"
#include "base/str.h"

typedef struct CnObjStore CnObjStore;

typedef struct CnObjOptions {
    size_t part_size;           /* multipart part size; 0 = 8 MiB; S3 needs >= 5 MiB */
    size_t multipart_threshold; /* PUTs of at least this many bytes go multipart; 0 = part_size */
    int max_retries;            /* retries after the first attempt; 0 = 4, -1 = none */
    int backoff_ms;             /* first retry delay, doubled each time; 0 = 100 */
    long connect_timeout_ms;    /* 0 = 5000 */
    long timeout_ms;            /* whole request; 0 = 600000 */
    size_t list_page_size;      /* S3 max-keys per list request; 0 = server default (1000) */
} CnObjOptions;

typedef struct CnObjEntry {
    const char *key;            /* relative to the store root */
    uint64_t size;
} CnObjEntry;

/* Return non-zero to stop listing (cn_obj_list then returns that value). */
typedef int (*CnObjListFn)(void *ud, const CnObjEntry *e);

/* Opens a store on uri. opt may be NULL (defaults). OWNED: *out, cn_obj_close().
 * Errors: CN_EINVAL (unsupported scheme, relative local path, bad bucket), CN_ENOMEM. */
int cn_obj_open(const char *uri, const CnObjOptions *opt, CnObjStore **out, CnErr *err);
void cn_obj_close(CnObjStore *s);   /* NULL-safe */

/* The normalised root ("file:///abs/dir" or "s3://bucket/prefix"), no trailing slash.
 * BORROWED: valid until cn_obj_close. */
const char *cn_obj_root(const CnObjStore *s);
/* Full URI of key under the root, into out (reset first). */
int cn_obj_uri(const CnObjStore *s, const char *key, CnBuf *out);
/* Key of a full URI under this store's root (for absolute paths kept in metadata).
 * BORROWED: points into uri. CN_EINVAL when uri is not under the root. */
int cn_obj_key_of(const CnObjStore *s, const char *uri, const char **key, CnErr *err);
/* Whether put_if_absent is atomic on this backend (local: yes; S3: If-None-Match). */
bool cn_obj_has_put_if_absent(const CnObjStore *s);

/* Writes the whole object (replacing any old one). */
int cn_obj_put(CnObjStore *s, const char *key, const void *data, size_t len, CnErr *err);
/* Writes the object only if no object has that key: CN_EEXISTS otherwise. Atomic
 * against concurrent writers (local: link(2); S3: If-None-Match: *, single PUT). */
int cn_obj_put_if_absent(CnObjStore *s, const char *key, const void *data, size_t len,
                         CnErr *err);
/* Reads the whole object into out (reset first). */
int cn_obj_get(CnObjStore *s, const char *key, CnBuf *out, CnErr *err);
/* Reads len bytes from offset off into out (reset first); fewer at the end of the
 * object, none when off is at or past the end. */
int cn_obj_get_range(CnObjStore *s, const char *key, uint64_t off, size_t len, CnBuf *out,
                     CnErr *err);
/* Size of the object; CN_ENOTFOUND when absent. */
int cn_obj_head(CnObjStore *s, const char *key, uint64_t *size, CnErr *err);
/* Calls fn for each object whose key starts with prefix ("" = all), in byte order of
 * keys. Entries are BORROWED for the call only. */
int cn_obj_list(CnObjStore *s, const char *prefix, CnObjListFn fn, void *ud, CnErr *err);
/* Removes the object; removing an absent key succeeds (as S3 does). */
int cn_obj_delete(CnObjStore *s, const char *key, CnErr *err);

#endif /* CN_OBJSTORE_H */
