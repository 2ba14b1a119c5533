/* api.c: the fetch routes, /health, /ping and /metrics of `chronon serve` (api.h).
 *
 * Responses are written straight into the reply buffer from the fetcher's JSON (no
 * second json_t tree and no jansson dump), in the field order of Chronon's service
 * (status, entityKeys, features | error). Metrics: one small mutex-guarded table of
 * (route, method, status) counters and per-route latency histograms, updated once per
 * request by the server's observer; fetch counters are atomics. The tables are bounded
 * (routes come from the route list; odd methods count as "other"), so a client cannot
 * grow them. */
#include "base/compat.h"
#include "serve/api.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/alloc.h"
#include "base/json.h"

/* Latency histogram bucket bounds in seconds (Prometheus "le"). */
static const double BUCKETS_S[] = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
                                   0.025,  0.05,    0.1,    0.25,  0.5,    1.0,  2.5};
#define N_BUCKETS (sizeof BUCKETS_S / sizeof BUCKETS_S[0])
#define MAX_ROUTES 32
#define MAX_COUNTERS 256

typedef struct Counter {
    int route;             /* index into routes */
    char method[8];
    int status;
    uint64_t n;
} Counter;

typedef struct RouteLat {
    char name[96];
    uint64_t buckets[N_BUCKETS + 1]; /* last: +Inf */
    uint64_t count;
    uint64_t sum_ns;
} RouteLat;

typedef struct FeatRoute {
    CnSrvApi *api;
    CnFetchKind kind;
    const char *prefix;
} FeatRoute;

enum { RES_OK, RES_BAD_REQUEST, RES_NOT_FOUND, RES_ERROR, N_RES };
static const char *const RES_NAMES[N_RES] = {"ok", "bad_request", "not_found", "error"};
static const char *const KIND_NAMES[2] = {"groupby", "join"};

struct CnSrvApi {
    CnSrvFetchFn fetch;
    void *fetch_ctx;
    FeatRoute gb, join;
    struct timespec started;
    /* Guarded by mu. */
    pthread_mutex_t mu;
    RouteLat routes[MAX_ROUTES];
    int n_routes;
    Counter counters[MAX_COUNTERS];
    int n_counters;
    uint64_t dropped;      /* observations past MAX_COUNTERS (never expected) */
    /* Atomics. */
    atomic_uint_least64_t requests[2][N_RES];
    atomic_uint_least64_t keys_ok[2], keys_failed[2];
    atomic_uint_least64_t kv_errors;
};

/* ---- JSON writing ---------------------------------------------------------------- */

static void write_str(CnBuf *b, const char *s, size_t n) {
    static const char hex[] = "0123456789abcdef";
    cn_buf_putc(b, '"');
    size_t run = 0; /* bytes copied as they are since the last escape */
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\') continue;
        cn_buf_append(b, s + run, i - run);
        run = i + 1;
        switch (c) {
        case '"': cn_buf_puts(b, "\\\""); break;
        case '\\': cn_buf_puts(b, "\\\\"); break;
        case '\n': cn_buf_puts(b, "\\n"); break;
        case '\r': cn_buf_puts(b, "\\r"); break;
        case '\t': cn_buf_puts(b, "\\t"); break;
        default: {
            char u[7] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15], 0};
            cn_buf_puts(b, u);
        }
        }
    }
    cn_buf_append(b, s + run, n - run);
    cn_buf_putc(b, '"');
}

static void write_int(CnBuf *b, long long x) {
    char tmp[24], *p = tmp + sizeof tmp;
    unsigned long long u = x < 0 ? 0ULL - (unsigned long long)x : (unsigned long long)x;
    do {
        *--p = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (x < 0) *--p = '-';
    cn_buf_append(b, p, (size_t)(tmp + sizeof tmp - p));
}

/* Powers of ten that are exact doubles. */
static const double P10[] = {1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11,
                             1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

/* Writes d as n / 10^k with the fewest fraction digits k that read back as d, when
 * 1e-4 <= |d| < 1e15 (where %g prints no exponent). n and 10^k are exact doubles and
 * IEEE division rounds correctly, so n / 10^k == d proves strtod("n e-k") == d without
 * printing and parsing, which costs about 10x more. False when no such n fits 2^53. */
static bool write_real_fixed(CnBuf *b, double d) {
    double a = fabs(d);
    if (!(a >= 1e-4 && a < 1e15)) return false;
    for (int k = 0; k < (int)CN_ARRAY_LEN(P10); k++) {
        double s = a * P10[k];
        if (s >= 9007199254740992.0) return false; /* 2^53 */
        double n = nearbyint(s);
        if (n / P10[k] != a) continue;
        unsigned long long u = (unsigned long long)n;
        char tmp[48], *p = tmp + sizeof tmp;
        for (int i = 0; i < k; i++) {
            *--p = (char)('0' + u % 10);
            u /= 10;
        }
        if (k > 0) *--p = '.';
        do {
            *--p = (char)('0' + u % 10);
            u /= 10;
        } while (u);
        if (d < 0) *--p = '-';
        cn_buf_append(b, p, (size_t)(tmp + sizeof tmp - p));
        if (k == 0) cn_buf_puts(b, ".0");
        return true;
    }
    return false;
}

static void write_real(CnBuf *b, double d) {
    if (!isfinite(d)) {
        cn_buf_puts(b, "null");
        return;
    }
    if (d == 0) {
        cn_buf_puts(b, signbit(d) ? "-0.0" : "0.0");
        return;
    }
    if (write_real_fixed(b, d)) return; /* OPT-ONLY: same value as the loop below */
    char num[40];
    /* The shortest of 15..17 significant digits that reads back as d (250.6, not
     * 250.59999999999999), as Chronon's JSON shows doubles and `run --mode fetch` prints. */
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(num, sizeof num, "%.*g", prec, d);
        if (strtod(num, NULL) == d) break;
    }
    cn_buf_puts(b, num);
    if (!strpbrk(num, ".eE")) cn_buf_puts(b, ".0");
}

void cn_srv_json_write(CnBuf *b, const json_t *v) {
    switch (v ? json_typeof(v) : JSON_NULL) {
    case JSON_OBJECT: {
        const char *k;
        json_t *x;
        bool first = true;
        cn_buf_putc(b, '{');
        json_object_foreach((json_t *)v, k, x) {
            if (!first) cn_buf_putc(b, ',');
            first = false;
            write_str(b, k, strlen(k));
            cn_buf_putc(b, ':');
            cn_srv_json_write(b, x);
        }
        cn_buf_putc(b, '}');
        break;
    }
    case JSON_ARRAY:
        cn_buf_putc(b, '[');
        for (size_t i = 0; i < json_array_size(v); i++) {
            if (i) cn_buf_putc(b, ',');
            cn_srv_json_write(b, json_array_get(v, i));
        }
        cn_buf_putc(b, ']');
        break;
    case JSON_STRING: write_str(b, json_string_value(v), json_string_length(v)); break;
    case JSON_INTEGER: write_int(b, (long long)json_integer_value(v)); break;
    case JSON_REAL: write_real(b, json_real_value(v)); break;
    case JSON_TRUE: cn_buf_puts(b, "true"); break;
    case JSON_FALSE: cn_buf_puts(b, "false"); break;
    case JSON_NULL: cn_buf_puts(b, "null"); break;
    }
}

/* 4xx/5xx body in Chronon's service shape. */
static int fail(CnHttpResp *resp, int status, const char *fmt, ...) CN_PRINTF(3, 4);
static int fail(CnHttpResp *resp, int status, const char *fmt, ...) {
    char msg[CN_ERR_MSG_MAX + 256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    resp->status = status;
    resp->content_type = "application/json";
    cn_buf_reset(&resp->body);
    cn_buf_puts(&resp->body, "{\"errors\":[");
    write_str(&resp->body, msg, strlen(msg));
    cn_buf_puts(&resp->body, "]}\n");
    return 0;
}

/* ---- fetch routes ---------------------------------------------------------------- */

static int parse_ts(const char *s, int64_t *out) {
    char *end = NULL;
    errno = 0;
    long long x = strtoll(s, &end, 10);
    if (!*s || *end || errno || x < 0) return -1;
    *out = x;
    return 0;
}

/* Names are Chronon's: [A-Za-z0-9_.-] with '/' between team and name. Anything else
 * (a "..", a leading '/', control characters) never reaches the fetcher, which may
 * look the name up as a path under <repo>/production. */
static bool name_ok(const char *name) {
    if (name[0] == '/' || name[0] == '.' || strstr(name, "..") || strstr(name, "//")) return false;
    for (const char *p = name; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-' ||
              c == '.' || c == '/'))
            return false;
    }
    return true;
}

static int features_handler(void *ctx, const CnHttpReq *req, CnHttpResp *resp) {
    FeatRoute *fr = ctx;
    CnSrvApi *api = fr->api;
    const char *kind_name = KIND_NAMES[fr->kind];
    json_t *keys = NULL, *out = NULL;
    CnErr err = CN_ERR_INIT;
    int res = RES_BAD_REQUEST;
    const char *name = req->path + strlen(fr->prefix);
    if (!*name) {
        fail(resp, 400, "missing the %s name after %s (e.g. %s%s)", kind_name, fr->prefix, fr->prefix,
             fr->kind == CN_FETCH_JOIN ? "quickstart/training_set.v2" : "quickstart/purchases.v1");
        goto done;
    }
    if (!name_ok(name)) {
        fail(resp, 400, "%s name '%s' is not a valid name (expected letters, digits, '_', '-' and '.', one '/' "
             "between team and name, e.g. %s)", kind_name, name,
             fr->kind == CN_FETCH_JOIN ? "quickstart/training_set.v2" : "quickstart/purchases.v1");
        goto done;
    }
    int64_t ts = CN_FETCH_NOW;
    const char *ts_s = cn_http_param(req, "ts", 0);
    if (ts_s && parse_ts(ts_s, &ts) != 0) {
        fail(resp, 400, "query parameter ts: invalid value '%s' (expected epoch milliseconds)", ts_s);
        goto done;
    }
    if (!req->body || req->body_len == 0) {
        fail(resp, 400, "request body is empty; expected a JSON array of key maps like [{\"user_id\": \"5\"}]");
        goto done;
    }
    json_error_t je;
    keys = json_loadb((const char *)req->body, req->body_len, 0, &je);
    if (!keys) {
        fail(resp, 400, "request body: invalid JSON at line %d, column %d: %s; expected a JSON array of key maps like "
             "[{\"user_id\": \"5\"}]", je.line, je.column, je.text);
        goto done;
    }
    if (!json_is_array(keys)) {
        fail(resp, 400, "request body: expected a JSON array of key maps like [{\"user_id\": \"5\"}], got %s",
             cn_json_type_name(keys));
        goto done;
    }
    for (size_t i = 0; i < json_array_size(keys); i++) {
        json_t *k = json_array_get(keys, i);
        if (!json_is_object(k)) {
            fail(resp, 400, "request body: element %zu is %s; expected an object of key columns like {\"user_id\": \"5\"}",
                 i, cn_json_type_name(k));
            goto done;
        }
    }
    int rc = api->fetch(api->fetch_ctx, fr->kind, name, keys, ts, &out, &err);
    if (rc != 0) {
        if (rc == CN_ENOTFOUND) {
            res = RES_NOT_FOUND;
            fail(resp, 404, "%s %s: %s", kind_name, name, cn_err_msg(&err));
        } else if (rc == CN_EINVAL) {
            fail(resp, 400, "%s %s: %s", kind_name, name, cn_err_msg(&err));
        } else {
            res = RES_ERROR;
            atomic_fetch_add(&api->kv_errors, 1);
            fail(resp, 500, "%s %s: %s", kind_name, name, cn_err_msg(&err));
        }
        goto done;
    }
    if (!json_is_array(out) || json_array_size(out) != json_array_size(keys)) {
        res = RES_ERROR;
        fail(resp, 500, "%s %s: the fetcher returned %zu results for %zu key maps", kind_name, name,
             json_is_array(out) ? json_array_size(out) : 0, json_array_size(keys));
        goto done;
    }
    CnBuf *b = &resp->body;
    cn_buf_reserve(b, 64 + 128 * json_array_size(out));
    cn_buf_puts(b, "{\"results\":[");
    uint64_t n_ok = 0, n_failed = 0;
    for (size_t i = 0; i < json_array_size(out); i++) {
        json_t *o = json_array_get(out, i);
        json_t *ek = json_object_get(o, "keys");
        json_t *error = json_object_get(o, "error");
        if (!ek) ek = json_array_get(keys, i);
        if (i) cn_buf_putc(b, ',');
        if (error) {
            n_failed++;
            cn_buf_puts(b, "{\"status\":\"Failure\",\"entityKeys\":");
            cn_srv_json_write(b, ek);
            cn_buf_puts(b, ",\"error\":");
            cn_srv_json_write(b, error);
        } else {
            n_ok++;
            cn_buf_puts(b, "{\"status\":\"Success\",\"entityKeys\":");
            cn_srv_json_write(b, ek);
            cn_buf_puts(b, ",\"features\":");
            json_t *vals = json_object_get(o, "values");
            if (vals) cn_srv_json_write(b, vals);
            else cn_buf_puts(b, "{}");
        }
        cn_buf_putc(b, '}');
    }
    cn_buf_puts(b, "]}\n");
    atomic_fetch_add(&api->keys_ok[fr->kind], n_ok);
    atomic_fetch_add(&api->keys_failed[fr->kind], n_failed);
    resp->status = 200;
    resp->content_type = "application/json";
    res = RES_OK;
done:
    atomic_fetch_add(&api->requests[fr->kind][res], 1);
    json_decref(keys);
    json_decref(out);
    return 0;
}

/* ---- health and metrics ----------------------------------------------------------- */

static double uptime_s(const CnSrvApi *api) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)(now.tv_sec - api->started.tv_sec) + (double)(now.tv_nsec - api->started.tv_nsec) / 1e9;
}

static int health_handler(void *ctx, const CnHttpReq *req, CnHttpResp *resp) {
    (void)req;
    CnSrvApi *api = ctx;
    cn_buf_printf(&resp->body, "{\"status\":\"ok\",\"uptime_seconds\":%.3f}\n", uptime_s(api));
    return 0;
}

/* Chronon's service answers /ping with the JSON string "Pong!". */
static int ping_handler(void *ctx, const CnHttpReq *req, CnHttpResp *resp) {
    (void)ctx, (void)req;
    cn_buf_puts(&resp->body, "\"Pong!\"");
    return 0;
}

static void put_label(CnBuf *b, const char *v) {
    for (const char *p = v; *p; p++) {
        if (*p == '"' || *p == '\\') cn_buf_putc(b, '\\');
        if (*p == '\n') cn_buf_puts(b, "\\n");
        else cn_buf_putc(b, *p);
    }
}

static int metrics_handler(void *ctx, const CnHttpReq *req, CnHttpResp *resp) {
    (void)req;
    CnSrvApi *api = ctx;
    CnBuf *b = &resp->body;
    resp->content_type = "text/plain; version=0.0.4; charset=utf-8";
    cn_buf_puts(b, "# HELP chronon_http_requests_total HTTP requests answered, by route prefix, method and status.\n"
                   "# TYPE chronon_http_requests_total counter\n");
    pthread_mutex_lock(&api->mu);
    for (int i = 0; i < api->n_counters; i++) {
        const Counter *c = &api->counters[i];
        cn_buf_puts(b, "chronon_http_requests_total{route=\"");
        put_label(b, api->routes[c->route].name);
        cn_buf_printf(b, "\",method=\"%s\",status=\"%d\"} %llu\n", c->method, c->status, (unsigned long long)c->n);
    }
    cn_buf_puts(b, "# HELP chronon_http_request_duration_seconds Time from request line to response, by route prefix.\n"
                   "# TYPE chronon_http_request_duration_seconds histogram\n");
    for (int i = 0; i < api->n_routes; i++) {
        const RouteLat *r = &api->routes[i];
        if (!r->count) continue;
        uint64_t cum = 0;
        for (size_t k = 0; k <= N_BUCKETS; k++) {
            cum += r->buckets[k];
            cn_buf_puts(b, "chronon_http_request_duration_seconds_bucket{route=\"");
            put_label(b, r->name);
            if (k < N_BUCKETS) cn_buf_printf(b, "\",le=\"%g\"} %llu\n", BUCKETS_S[k], (unsigned long long)cum);
            else cn_buf_printf(b, "\",le=\"+Inf\"} %llu\n", (unsigned long long)cum);
        }
        cn_buf_puts(b, "chronon_http_request_duration_seconds_sum{route=\"");
        put_label(b, r->name);
        cn_buf_printf(b, "\"} %.9f\n", (double)r->sum_ns / 1e9);
        cn_buf_puts(b, "chronon_http_request_duration_seconds_count{route=\"");
        put_label(b, r->name);
        cn_buf_printf(b, "\"} %llu\n", (unsigned long long)r->count);
    }
    uint64_t dropped = api->dropped;
    pthread_mutex_unlock(&api->mu);
    cn_buf_puts(b, "# HELP chronon_fetch_requests_total Fetch requests by kind and result (ok, bad_request, "
                   "not_found, error).\n# TYPE chronon_fetch_requests_total counter\n");
    for (int k = 0; k < 2; k++)
        for (int r = 0; r < N_RES; r++)
            cn_buf_printf(b, "chronon_fetch_requests_total{kind=\"%s\",result=\"%s\"} %llu\n", KIND_NAMES[k],
                          RES_NAMES[r], (unsigned long long)atomic_load(&api->requests[k][r]));
    cn_buf_puts(b, "# HELP chronon_fetch_keys_total Key maps answered, by kind and status (Success or Failure).\n"
                   "# TYPE chronon_fetch_keys_total counter\n");
    for (int k = 0; k < 2; k++) {
        cn_buf_printf(b, "chronon_fetch_keys_total{kind=\"%s\",status=\"Success\"} %llu\n", KIND_NAMES[k],
                      (unsigned long long)atomic_load(&api->keys_ok[k]));
        cn_buf_printf(b, "chronon_fetch_keys_total{kind=\"%s\",status=\"Failure\"} %llu\n", KIND_NAMES[k],
                      (unsigned long long)atomic_load(&api->keys_failed[k]));
    }
    cn_buf_printf(b, "# HELP chronon_kv_errors_total Fetches failed by the online store (unreachable, I/O, corrupt).\n"
                     "# TYPE chronon_kv_errors_total counter\nchronon_kv_errors_total %llu\n",
                  (unsigned long long)atomic_load(&api->kv_errors));
    cn_buf_printf(b, "# HELP chronon_metrics_dropped_total Observations not counted (counter table full).\n"
                     "# TYPE chronon_metrics_dropped_total counter\nchronon_metrics_dropped_total %llu\n",
                  (unsigned long long)dropped);
    cn_buf_printf(b, "# HELP chronon_uptime_seconds Seconds since the server started.\n"
                     "# TYPE chronon_uptime_seconds gauge\nchronon_uptime_seconds %.3f\n", uptime_s(api));
    return 0;
}

static const char *method_label(const char *m) {
    static const char *const known[] = {"GET", "POST", "HEAD", "PUT", "DELETE", "PATCH", "OPTIONS"};
    for (size_t i = 0; i < CN_ARRAY_LEN(known); i++)
        if (strcmp(m, known[i]) == 0) return known[i];
    return "other";
}

static void observe(void *ctx, const char *route, const char *method, int status, uint64_t ns) {
    CnSrvApi *api = ctx;
    const char *rname = route && *route ? route : "none";
    const char *mlabel = method_label(method);
    double s = (double)ns / 1e9;
    size_t bucket = 0;
    while (bucket < N_BUCKETS && s > BUCKETS_S[bucket]) bucket++;
    pthread_mutex_lock(&api->mu);
    int ri = 0;
    while (ri < api->n_routes && strcmp(api->routes[ri].name, rname) != 0) ri++;
    if (ri == api->n_routes) {
        if (ri == MAX_ROUTES) {
            api->dropped++;
            goto done;
        }
        snprintf(api->routes[ri].name, sizeof api->routes[ri].name, "%s", rname);
        api->n_routes++;
    }
    RouteLat *rl = &api->routes[ri];
    rl->buckets[bucket]++;
    rl->count++;
    rl->sum_ns += ns;
    int ci = 0;
    while (ci < api->n_counters && !(api->counters[ci].route == ri && api->counters[ci].status == status &&
                                     strcmp(api->counters[ci].method, mlabel) == 0))
        ci++;
    if (ci == api->n_counters) {
        if (ci == MAX_COUNTERS) {
            api->dropped++;
            goto done;
        }
        Counter *c = &api->counters[ci];
        c->route = ri;
        c->status = status;
        snprintf(c->method, sizeof c->method, "%s", mlabel);
        c->n = 0;
        api->n_counters++;
    }
    api->counters[ci].n++;
done:
    pthread_mutex_unlock(&api->mu);
}

/* ---- lifecycle ------------------------------------------------------------------- */

int cn_srv_api_new(CnSrvFetchFn fetch, void *fetch_ctx, CnSrvApi **out, CnErr *err) {
    *out = NULL;
    CnSrvApi *api = cn_calloc(1, sizeof *api);
    if (!api) return cn_err_set(err, CN_ENOMEM, "serve: out of memory");
    api->fetch = fetch;
    api->fetch_ctx = fetch_ctx;
    api->gb = (FeatRoute){api, CN_FETCH_GROUPBY, "/v1/features/groupby/"};
    api->join = (FeatRoute){api, CN_FETCH_JOIN, "/v1/features/join/"};
    clock_gettime(CLOCK_MONOTONIC, &api->started);
    pthread_mutex_init(&api->mu, NULL);
    *out = api;
    return 0;
}

void cn_srv_api_free(CnSrvApi *api) {
    if (!api) return;
    pthread_mutex_destroy(&api->mu);
    cn_free(api);
}

int cn_srv_api_mount(CnSrvApi *api, CnHttpServer *s, CnErr *err) {
    int rc = cn_http_route(s, "POST", api->gb.prefix, features_handler, &api->gb, err);
    if (rc == 0) rc = cn_http_route(s, "POST", api->join.prefix, features_handler, &api->join, err);
    if (rc == 0) rc = cn_http_route(s, "GET", "/health", health_handler, api, err);
    if (rc == 0) rc = cn_http_route(s, "GET", "/ping", ping_handler, api, err);
    if (rc == 0) rc = cn_http_route(s, "GET", "/metrics", metrics_handler, api, err);
    if (rc == 0) cn_http_set_observer(s, observe, api);
    return rc;
}
