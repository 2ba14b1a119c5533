/* http.h: a small HTTP/1.1 server over libmicrohttpd, shared by `chronon serve` (fetch
 * routes, health, metrics, web UI) and `chronon scheduler` (web UI on port 8085).
 *
 * A server holds an ordered list of routes; a request goes to the first route whose
 * method matches (NULL matches any; a GET route also takes HEAD) and whose path prefix
 * matches on a segment boundary ("/health" takes "/health" and "/health/x", not
 * "/healthz"; a prefix ending in '/' takes everything under it). No route for the path:
 * 404; a route for the path but not the method: 405 with Allow. Bodies above max_body:
 * 413. Server-made errors are JSON {"errors": ["..."]} (Chronon's service shape). The handler fills a
 * CnHttpResp; the server sends it. Handlers run on the server's worker threads, so they
 * must be thread-safe with respect to their ctx.
 * OWNERSHIP: the request and everything it points at live until the handler returns. */
#ifndef CN_SERVE_HTTP_H
#define CN_SERVE_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include "base/arena.h"
#include "base/err.h"
#include "base/str.h"

typedef struct CnHttpReq {
    const char *method;   /* "GET", "POST", ... */
    const char *path;     /* URL path, percent-decoded, without the query string */
    const char *query;    /* raw query string without '?', "" when none */
    const uint8_t *body;  /* request body, NUL-terminated; NULL when none */
    size_t body_len;
    CnArena *arena;       /* per-request scratch, freed after the response is sent */
    CnBuf *scratch;       /* empty buffer for the handler; its memory is kept for the
                           * connection's next request */
} CnHttpReq;

/* The decoded value of query parameter name (application/x-www-form-urlencoded rules),
 * allocated in req->arena; NULL when absent. Also works on a form-encoded POST body
 * when from_body is true. */
const char *cn_http_param(const CnHttpReq *req, const char *name, int from_body);

typedef struct CnHttpResp {
    int status;                /* default 200 */
    const char *content_type;  /* static string; default "application/json" */
    CnBuf body;                /* owned by the server, freed after sending */
    char location[512];        /* sent as Location when non-empty (redirects) */
} CnHttpResp;

/* Returns 0 after filling resp. A non-zero return with resp->status unset is sent as
 * 500 with the handler's message; handlers should set 4xx themselves for bad input. */
typedef int (*CnHttpHandler)(void *ctx, const CnHttpReq *req, CnHttpResp *resp);

typedef struct CnHttpServer CnHttpServer;

typedef struct CnHttpOpts {
    const char *bind;        /* default "127.0.0.1"; "0.0.0.0" for every interface */
    int port;                /* 0 picks a free port: see cn_http_server_port */
    int threads;             /* worker threads; default 4 */
    int max_connections;     /* default 1024; beyond it new connections wait in the
                              * listen backlog (1024) until one closes */
    size_t max_body;         /* default 16 MiB; larger bodies get 413 */
} CnHttpOpts;

int cn_http_server_new(const CnHttpOpts *opts, CnHttpServer **out, CnErr *err);
/* Routes are tried in the order they were added. prefix "/" matches everything. */
int cn_http_route(CnHttpServer *s, const char *method, const char *prefix, CnHttpHandler h,
                  void *ctx, CnErr *err);
/* Called once per request after its response is built (for metrics and access logs),
 * on the worker thread: route is the matched route's prefix ("" when none matched),
 * status the HTTP status sent, ns the time since the request line arrived. Set before
 * start; fn must be thread-safe. */
typedef void (*CnHttpObserver)(void *ctx, const char *route, const char *method, int status, uint64_t ns);
void cn_http_set_observer(CnHttpServer *s, CnHttpObserver fn, void *ctx);

/* Starts listening; CN_EIO names the address and port when bind fails. */
int cn_http_server_start(CnHttpServer *s, CnErr *err);
int cn_http_server_port(const CnHttpServer *s);
/* Stops accepting, finishes requests in flight, frees. NULL-safe. */
void cn_http_server_free(CnHttpServer *s);

/* Escapes s for HTML text and attribute values into b. */
int cn_http_html_escape(CnBuf *b, const char *s);

#endif /* CN_SERVE_HTTP_H */
