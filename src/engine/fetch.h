/* fetch.h: online fetch of GroupBys and Joins by name (compute.md section 8), shared by
 * `chronon run --mode fetch`, `chronon serve` and the C API (include/chronon.h).
 *
 * A fetcher reads configs from the online store's metadata dataset (written by
 * `--mode metadata-upload`) and, when a repo is given, from <repo>/production as a
 * fallback; it caches each GroupBy's serving info and reloads it when a newer upload
 * has flipped the dataset version.
 * THREADS: one CnFetcher may be used from many threads at once. */
#ifndef CN_ENGINE_FETCH_H
#define CN_ENGINE_FETCH_H

#include <stdint.h>

#include <jansson.h>

#include "base/err.h"
#include "base/str.h"

typedef struct CnFetcher CnFetcher;

typedef enum CnFetchKind { CN_FETCH_GROUPBY = 0, CN_FETCH_JOIN = 1 } CnFetchKind;

/* The query time meaning "now" (wall clock at the call). */
#define CN_FETCH_NOW INT64_MIN

/* online_uri: as cn_kv_open takes it (lmdb:<dir>, redis://, mongodb://, dynamodb://).
 * repo: Chronon root holding production/, or NULL. OWNED: *out. */
int cn_fetcher_open(const char *online_uri, const char *repo, CnFetcher **out, CnErr *err);
void cn_fetcher_close(CnFetcher *f); /* NULL-safe */

/* Fetches every key map of keys (a JSON array of objects) at ts_ms (epoch ms or
 * CN_FETCH_NOW). name: "team.x.v1" or the guide's "team/x.v1".
 * On success *out (OWNED) is a JSON array with one object per key map, in order:
 *   {"keys": {...}, "values": {...}}      values as Chronon names them;
 *   {"keys": {...}, "error": "<message>"} when that key map alone fails (e.g. the
 *                                          guide's "Invalid key format" message).
 * GroupBy derivations are applied (a key without data has every value null). A Join's
 * values are named "<prefix>_<groupby>_<column>" as its backfill names them, after
 * GroupBy and Join derivations; a part without data adds nothing; a part that fails
 * (missing or malformed keys, no upload) gives "<prefix>_<groupby>_exception" values
 * instead of failing the key.
 * Whole-request errors return non-zero: CN_ENOTFOUND (unknown name: names it and says
 * to run metadata-upload/upload), CN_EINVAL (keys not an array of objects), store
 * errors (CN_EREMOTE/CN_EIO). */
int cn_fetcher_fetch_json(CnFetcher *f, CnFetchKind kind, const char *name, const json_t *keys,
                          int64_t ts_ms, json_t **out, CnErr *err);

/* The answer of cn_fetcher_fetch_json as the text json_dumps(answer, JSON_COMPACT |
 * JSON_SORT_KEYS) gives, appended to *out (NUL-terminated; the caller owns it; its data
 * is malloc'd memory). The common request (TEMPORAL GroupBys without derivations, every
 * key present, servings already cached, no note function) is answered from one store
 * snapshot without building JSON values: IRs decoded from the store's pages, values
 * written straight as text. Everything else takes the generic path: same bytes.
 * Errors as cn_fetcher_fetch_json; on error *out is as it was. */
int cn_fetcher_fetch_text(CnFetcher *f, CnFetchKind kind, const char *name, const json_t *keys, int64_t ts_ms,
                          CnBuf *out, CnErr *err);

/* The typed path of cn_fetcher_fetch_text alone: 0 with the answer appended to *out when
 * the request is the common one, CN_FETCH_DECLINED (positive, *out as it was) otherwise,
 * or an error of the request's checks. A caller with its own use for the generic path's
 * json_t (the HTTP routes) then calls cn_fetcher_fetch_json instead of paying for the
 * text of it. */
#define CN_FETCH_DECLINED 1
int cn_fetcher_fetch_typed(CnFetcher *f, CnFetchKind kind, const char *name, const json_t *keys, int64_t ts_ms,
                           CnBuf *out, CnErr *err);
/* cn_fetcher_fetch_typed's answer as the body of Chronon's feature service (the HTTP
 * routes send it as it is): {"results":[{"status":"Success","entityKeys":{...},
 * "features":{...}},...]} and a newline, doubles in their shortest round-trip form
 * (cn_json_real_text). Declines and fails as cn_fetcher_fetch_typed. */
int cn_fetcher_fetch_service(CnFetcher *f, CnFetchKind kind, const char *name, const json_t *keys, int64_t ts_ms,
                             CnBuf *out, CnErr *err);

/* Notes a fetch may give besides its answer (a key without data, a query time far past
 * the uploaded day, GroupBy derivations not applied). fn runs on the fetching thread,
 * possibly on several threads at once. Set before the fetcher is shared; NULL: none. */
typedef void (*CnFetchNoteFn)(void *ud, const char *msg);
void cn_fetcher_set_notes(CnFetcher *f, CnFetchNoteFn fn, void *ud);

#endif /* CN_ENGINE_FETCH_H */
