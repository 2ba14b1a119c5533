/* api.h: Chronon's feature-serving routes on a CnHttpServer (the routes of Chronon's
 * service module: FeaturesHandler / WebServiceVerticle), plus health and Prometheus
 * metrics. docs/serve.md has the routes, shapes and metric names.
 *
 *   POST /v1/features/groupby/<name>   body: JSON array of key maps
 *   POST /v1/features/join/<name>      [?ts=<epoch ms>, default now: our extension]
 *     200 {"results": [{"status": "Success", "entityKeys": {...}, "features": {...}},
 *                      {"status": "Failure", "entityKeys": {...}, "error": "..."}]}
 *     400 {"errors": ["<what is wrong with the body>"]}, 404 unknown name,
 *     500 {"errors": [...]} for store failures (the server stays up), 503 while the
 *     store is not connected yet (cn_srv_api_set_ready)
 *   GET /health (503 "not ready" while the store is not connected), GET /ping, GET /metrics
 *
 * The fetch itself is a function pointer, so tests can drive the routes without a store;
 * `chronon serve` passes a CnFetcher.
 * THREADS: handlers run on the server's threads; metrics are atomic counters. */
#ifndef CN_SERVE_API_H
#define CN_SERVE_API_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "base/err.h"
#include "engine/fetch.h"
#include "serve/http.h"

/* Same contract as cn_fetcher_fetch_json (engine/fetch.h); ctx is the fetcher. */
typedef int (*CnSrvFetchFn)(void *ctx, CnFetchKind kind, const char *name, const json_t *keys, int64_t ts_ms,
                            json_t **out, CnErr *err);

/* Same contract as cn_fetcher_fetch_text: the answer appended to *out as the text
 * json_dumps(answer, JSON_COMPACT | JSON_SORT_KEYS) gives; or, like
 * cn_fetcher_fetch_typed, a positive return (*out untouched) when it declines the
 * request, which the route then asks the json_t fetch for. */
typedef int (*CnSrvFetchTextFn)(void *ctx, CnFetchKind kind, const char *name, const json_t *keys, int64_t ts_ms,
                                CnBuf *out, CnErr *err);

/* Whether the fetch can be asked now: false (with why, a NUL-terminated message naming
 * the store and its last error, at most cap bytes) while the online store has not been
 * reached yet. Called on the server's threads for every fetch and /health. */
typedef bool (*CnSrvReadyFn)(void *ctx, char *why, size_t cap);

typedef struct CnSrvApi CnSrvApi;

/* OWNED: *out, freed by cn_srv_api_free after the server using it is freed. */
int cn_srv_api_new(CnSrvFetchFn fetch, void *fetch_ctx, CnSrvApi **out, CnErr *err);
void cn_srv_api_free(CnSrvApi *api); /* NULL-safe */

/* Fetches through fn (with the ctx given to cn_srv_api_new) instead of the json_t
 * fetch: the fetcher writes its answer as text, which the route rewraps in Chronon's
 * shape without building a tree (doubles printed with 17 digits are rewritten in their
 * shortest form, as the tree path writes them). Call before the server starts. */
void cn_srv_api_set_text_fetch(CnSrvApi *api, CnSrvFetchTextFn fn);
/* Asks fn (with the fetch ctx) first, before the text or json_t fetch: the contract of
 * cn_fetcher_fetch_service, whose answer is the response body as it is sent (it is
 * written straight into the response buffer: no copy, no rewrap). A positive return
 * (declined, body untouched) passes the request on to the json_t fetch. Call before
 * the server starts. */
void cn_srv_api_set_service_fetch(CnSrvApi *api, CnSrvFetchTextFn fn);

/* Asks fn (with the fetch ctx) before each fetch and in /health: while it says false,
 * the fetch routes answer 503 {"errors": ["<kind> <name>: <why>"]} and /health answers
 * 503 {"status": "not ready", ..., "error": "<why>"}. Call before the server starts. */
void cn_srv_api_set_ready(CnSrvApi *api, CnSrvReadyFn fn);

/* Adds the routes above to s and makes api the server's observer (every request,
 * whatever its route, is counted in /metrics). Call before cn_http_server_start; other
 * routes (the web UI) may be added after. */
int cn_srv_api_mount(CnSrvApi *api, CnHttpServer *s, CnErr *err);

/* Writes v as compact JSON into b: object keys in their order, doubles in their
 * shortest round-trip form, NaN and infinities as null. Sets b->oom on failure. */
void cn_srv_json_write(CnBuf *b, const json_t *v);

/* Parses the common fetch body, an array of objects whose values are plain strings
 * (no escapes, ASCII) or integers, e.g. [{"user_id":"5"}], into the same json_t that
 * jansson's loader makes, without its lexer. Returns 1 (and *out NULL) for anything
 * else, valid or not: the caller then asks jansson, which also words the errors.
 * OWNED: *out. */
int cn_srv_keys_parse(const char *body, size_t len, json_t **out);

#endif /* CN_SERVE_API_H */
