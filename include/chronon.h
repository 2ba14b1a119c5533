/* chronon.h: the embeddable chronon-c API (libchronon, static and shared).
 * Opaque handles and error codes only; everything else is private to src/.
 * Errors: functions return 0 on success or a negative CHRONON_E* code; our codes sit
 * below -1000 so that -errno values pass through unchanged. A failed call also leaves
 * its message in chronon_last_error() of the calling thread.
 * THREADS: a chronon_client is shared by any number of threads at once; everything
 * else is per call. docs/c-api.md describes the API with an example. */
#ifndef CHRONON_H
#define CHRONON_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define CHRONON_VERSION_STRING "0.1.0"

/* X-macro: name, value, description. The one list of error codes. */
#define CHRONON_ERR_MAP(X)                                                    \
    X(INVAL,       -1001, "invalid argument")                                \
    X(NOMEM,       -1002, "out of memory")                                   \
    X(IO,          -1003, "input/output error")                              \
    X(NOTFOUND,    -1004, "not found")                                       \
    X(CORRUPT,     -1005, "corrupt or malformed data")                       \
    X(UNSUPPORTED, -1006, "unsupported feature")                             \
    X(CONFIG,      -1007, "invalid configuration")                           \
    X(CONFLICT,    -1008, "conflicting concurrent change")                   \
    X(EXISTS,      -1009, "already exists")                                  \
    X(TYPE,        -1010, "type mismatch")                                   \
    X(LIMIT,       -1011, "resource limit exceeded")                         \
    X(REMOTE,      -1012, "remote service error")                            \
    X(INTERNAL,    -1013, "internal error")

enum {
#define CHRONON_ERR_ENUM_(name, val, desc) CHRONON_E##name = (val),
    CHRONON_ERR_MAP(CHRONON_ERR_ENUM_)
#undef CHRONON_ERR_ENUM_
};

/* Human-readable description of an error code (never NULL). */
const char *chronon_strerror(int code);
/* Symbolic name ("CHRONON_ENOTFOUND", or "errno:N" for -errno values). */
const char *chronon_err_name(int code);
/* Library version string. */
const char *chronon_version(void);

/* ------------------------------------------------------------------ online fetch */

/* A reader of an online store (what `chronon run --mode upload` and metadata-upload
 * wrote): fetches GroupBys and Joins by name, as `chronon run --mode fetch` and
 * `chronon serve` do. Thread-safe: one client serves many threads. */
typedef struct chronon_client chronon_client;

typedef enum chronon_kind { CHRONON_GROUPBY = 0, CHRONON_JOIN = 1 } chronon_kind;

/* ts_ms meaning "now" (the wall clock at the call). */
#define CHRONON_NOW INT64_MIN

/* Opens a client. online_uri: "lmdb:<dir>" (a warehouse's <warehouse>/online),
 * "redis://host:port", "dynamodb://...". repo: a Chronon repo root holding
 * production/ (configs not found in the store's metadata are read there), or NULL.
 * On failure *out is NULL. Errors: CHRONON_ENOTFOUND (no store there yet),
 * CHRONON_ECONFIG (bad URI), CHRONON_EIO/EREMOTE. OWNED: *out, chronon_client_close. */
int chronon_client_open(const char *online_uri, const char *repo, chronon_client **out);
/* NULL-safe; no call may be in flight on the client. */
void chronon_client_close(chronon_client *client);

/* Fetches every key map of keys_json (a JSON array of objects, e.g.
 * [{"user_id":"5"},{"user_id":7}]) of the GroupBy or Join name ("team/x.v1" or
 * "team.x.v1") at ts_ms (epoch ms or CHRONON_NOW).
 * On success *result_json (OWNED, chronon_free) is a JSON array, one object per key
 * map in order: {"keys":{...},"values":{...}}, or {"keys":{...},"error":"..."} when
 * that key map alone fails (a missing or malformed key). A Join part that fails gives
 * a "<part prefix>_exception" value instead.
 * Errors (nothing in *result_json): CHRONON_EINVAL (keys_json not an array of
 * objects), CHRONON_ENOTFOUND (unknown name, or no upload), CHRONON_EIO/EREMOTE. */
int chronon_fetch_json(chronon_client *client, chronon_kind kind, const char *name, const char *keys_json,
                       int64_t ts_ms, char **result_json);

/* One numeric feature of one key: the GroupBy or Join name, its single key column
 * key_name = key_value (converted to the key's type as a JSON string would be), the
 * feature's output name. *is_null is 1 when the key has no value for it (no data, a
 * null value) and *value is then 0. Errors as chronon_fetch_json, plus
 * CHRONON_ENOTFOUND (no feature of that name), CHRONON_ETYPE (not a number), and the
 * key map's own error (CHRONON_EINVAL). */
int chronon_fetch_double(chronon_client *client, chronon_kind kind, const char *name, const char *key_name,
                         const char *key_value, const char *feature, int64_t ts_ms, double *value, int *is_null);

/* Frees a string returned by the API. NULL-safe. */
void chronon_free(void *p);

/* The message of the last failed call on the calling thread ("" when none).
 * BORROWED: valid until the next API call on this thread. */
const char *chronon_last_error(void);

#ifdef __cplusplus
}
#endif
#endif /* CHRONON_H */
