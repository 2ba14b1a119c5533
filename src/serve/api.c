/* api.c: the fetch routes, /health, /ping and /metrics of `chronon serve` (api.h).
 *
 * Responses are written straight into the reply buffer from the fetcher's JSON (no
 * second json_t tree and no jansson dump), in the field order of Chronon's service
 * (status, entityKeys, features | error). The body parser takes the common shape
 * ([{"user_id":"5"}]) itself and leaves everything else to jansson. Metrics: bounded
 * tables of (route, method, status) counters and per-route latency histograms, updated
 * once per request by the server's observer without a lock (see Shard). The tables are
 * bounded (routes come from the route list; odd methods count as "other"), so a client
 * cannot grow them. */
#include "base/compat.h"
#include "serve/api.h"

#include <errno.h>
#include <math.h>
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
#define ADD_RELAXED(p, n) atomic_fetch_add_explicit((p), (n), memory_order_relaxed)

/* Method labels of the request counter; anything else counts as "other". */
static const char *const METHOD_LABELS[] = {"GET", "POST", "HEAD", "PUT", "DELETE", "PATCH", "OPTIONS", "other"};


/* The metric tables: keys are claimed once with a compare-and-swap and never change;
 * counts are relaxed atomics in per-thread shards (a thread takes a shard on its first
 * request), so the observer of a request takes no lock and two cores do not fight over
 * one cache line. A scrape sums the shards. */
#define N_SHARDS 8
enum { SLOT_EMPTY, SLOT_FILLING, SLOT_READY };

typedef struct RouteName {
    atomic_int state;      /* SLOT_*; name is written once, before SLOT_READY */
    char name[96];
} RouteName;

typedef struct Shard {
    atomic_uint_least64_t lat[MAX_ROUTES][N_BUCKETS + 1]; /* last: +Inf */
    atomic_uint_least64_t lat_sum_ns[MAX_ROUTES];
    atomic_uint_least64_t count[MAX_COUNTERS];
    char pad[64];          /* the next shard starts on another cache line */
} Shard;

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
    CnSrvFetchTextFn fetch_text; /* optional: the answer as JSON text; same ctx */
    CnSrvFetchTextFn fetch_service; /* optional: the answer as the response body; same ctx */
    CnSrvReadyFn ready;          /* optional: false while the store is not connected; same ctx */
    FeatRoute gb, join;
    struct timespec started;
    RouteName route_names[MAX_ROUTES];
    /* (route + 1) << 40 | method << 32 | status; 0: free slot */
    atomic_uint_least64_t counter_keys[MAX_COUNTERS];
    Shard shards[N_SHARDS];
    atomic_uint_least64_t dropped; /* observations past the tables (never expected) */
    atomic_uint next_shard;
    /* Atomics. */
    atomic_uint_least64_t requests[2][N_RES];
    atomic_uint_least64_t keys_ok[2], keys_failed[2];
    atomic_uint_least64_t kv_errors;
};

/* ---- JSON writing ---------------------------------------------------------------- */

/* Bytes a JSON string must escape: control characters, '"' and '\\'. */
static const bool NEEDS_ESCAPE[256] = {
    [0x00] = 1, [0x01] = 1, [0x02] = 1, [0x03] = 1, [0x04] = 1, [0x05] = 1, [0x06] = 1, [0x07] = 1,
    [0x08] = 1, [0x09] = 1, [0x0a] = 1, [0x0b] = 1, [0x0c] = 1, [0x0d] = 1, [0x0e] = 1, [0x0f] = 1,
    [0x10] = 1, [0x11] = 1, [0x12] = 1, [0x13] = 1, [0x14] = 1, [0x15] = 1, [0x16] = 1, [0x17] = 1,
    [0x18] = 1, [0x19] = 1, [0x1a] = 1, [0x1b] = 1, [0x1c] = 1, [0x1d] = 1, [0x1e] = 1, [0x1f] = 1,
    ['"'] = 1,  ['\\'] = 1,
};

/* Appends without the out-of-line call when the buffer has room (the writers below put
 * a few bytes at a time, tens of times per feature). */
static inline void put_raw(CnBuf *b, const char *p, size_t n) {
    if (b->len + n < b->cap) {
        memcpy(b->data + b->len, p, n);
        b->len += n;
        b->data[b->len] = 0;
    } else {
        cn_buf_append(b, p, n);
    }
}

/* lit must be a string literal (the "" on each side refuses anything else). */
#define PUT_LIT(b, lit) put_raw((b), "" lit "", sizeof(lit) - 1)

/* Whether any of the 8 bytes of w is below 0x20, '"' or '\\' (the "has a zero byte"
 * bit trick: exact about whether some byte matches, which is all that is asked). */
static inline bool word_needs_escape(uint64_t w) {
    const uint64_t ones = 0x0101010101010101ULL, high = 0x8080808080808080ULL;
    uint64_t q = w ^ (ones * '"'), bs = w ^ (ones * '\\');
    uint64_t hit = ((w - ones * 0x20) & ~w) | ((q - ones) & ~q) | ((bs - ones) & ~bs);
    return (hit & high) != 0;
}

static void write_str(CnBuf *b, const char *s, size_t n) {
    static const char hex[] = "0123456789abcdef";
    PUT_LIT(b, "\"");
    size_t i = 0;
    /* Feature names and values rarely need escapes: skip 8 bytes at a time to the first
     * word that may. */
    for (uint64_t w; i + 8 <= n; i += 8) {
        memcpy(&w, s + i, 8);
        if (word_needs_escape(w)) break;
    }
    size_t run = 0; /* bytes copied as they are since the last escape */
    for (; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!NEEDS_ESCAPE[c]) continue;
        put_raw(b, s + run, i - run);
        run = i + 1;
        switch (c) {
        case '"': PUT_LIT(b, "\\\""); break;
        case '\\': PUT_LIT(b, "\\\\"); break;
        case '\n': PUT_LIT(b, "\\n"); break;
        case '\r': PUT_LIT(b, "\\r"); break;
        case '\t': PUT_LIT(b, "\\t"); break;
        default: {
            char u[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
            put_raw(b, u, sizeof u);
        }
        }
    }
    put_raw(b, s + run, n - run);
    PUT_LIT(b, "\"");
}

static void write_int(CnBuf *b, long long x) {
    char tmp[24], *p = tmp + sizeof tmp;
    unsigned long long u = x < 0 ? 0ULL - (unsigned long long)x : (unsigned long long)x;
    do {
        *--p = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (x < 0) *--p = '-';
    put_raw(b, p, (size_t)(tmp + sizeof tmp - p));
}

/* Doubles in the shortest form that reads back as the same double (250.6, not
 * 250.59999999999999), as Chronon's JSON shows them and `run --mode fetch` prints. */
static void write_real(CnBuf *b, double d) {
    char t[CN_JSON_REAL_MAX];
    put_raw(b, t, cn_json_real_text(d, t));
}

void cn_srv_json_write(CnBuf *b, const json_t *v) {
    switch (v ? json_typeof(v) : JSON_NULL) {
    case JSON_OBJECT: {
        const char *k;
        size_t kn;
        json_t *x;
        bool first = true;
        PUT_LIT(b, "{");
        json_object_keylen_foreach((json_t *)v, k, kn, x) {
            if (!first) PUT_LIT(b, ",");
            first = false;
            write_str(b, k, kn);
            PUT_LIT(b, ":");
            cn_srv_json_write(b, x);
        }
        PUT_LIT(b, "}");
        break;
    }
    case JSON_ARRAY:
        PUT_LIT(b, "[");
        for (size_t i = 0; i < json_array_size(v); i++) {
            if (i) PUT_LIT(b, ",");
            cn_srv_json_write(b, json_array_get(v, i));
        }
        PUT_LIT(b, "]");
        break;
    case JSON_STRING: write_str(b, json_string_value(v), json_string_length(v)); break;
    case JSON_INTEGER: write_int(b, (long long)json_integer_value(v)); break;
    case JSON_REAL: write_real(b, json_real_value(v)); break;
    case JSON_TRUE: PUT_LIT(b, "true"); break;
    case JSON_FALSE: PUT_LIT(b, "false"); break;
    case JSON_NULL: PUT_LIT(b, "null"); break;
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

/* ---- request body ---------------------------------------------------------------- */

static inline const char *skip_ws(const char *p, const char *end) {
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')) p++;
    return p;
}

/* After a list element at *pp: 1 when a ',' follows (*pp moves past it and the blanks
 * after it), 0 when the list's close follows (*pp moves past it), -1 for anything else. */
static int list_next(const char **pp, const char *end, char close) {
    const char *p = skip_ws(*pp, end);
    if (p < end && *p == ',') {
        *pp = skip_ws(p + 1, end);
        return 1;
    }
    if (p < end && *p == close) {
        *pp = p + 1;
        return 0;
    }
    return -1;
}

/* A string without escapes, control characters or non-ASCII bytes (those go to jansson,
 * which validates escapes and UTF-8): *s, *n and the position after the closing quote;
 * NULL to decline. */
static const char *plain_string(const char *p, const char *end, const char **s, size_t *n) {
    if (p >= end || *p != '"') return NULL;
    const char *q = ++p;
    while (q < end && *q != '"') {
        unsigned char c = (unsigned char)*q;
        if (c < 0x20 || c >= 0x80 || c == '\\') return NULL;
        q++;
    }
    if (q >= end) return NULL;
    *s = p;
    *n = (size_t)(q - p);
    return q + 1;
}

/* A JSON integer of at most 18 digits (always fits int64), as jansson reads it; NULL to
 * decline (fractions, exponents, leading zeros, longer numbers). */
static const char *plain_int(const char *p, const char *end, json_int_t *out) {
    bool neg = p < end && *p == '-';
    if (neg) p++;
    const char *d = p;
    long long x = 0;
    while (p < end && *p >= '0' && *p <= '9') x = x * 10 + (*p++ - '0');
    size_t nd = (size_t)(p - d);
    if (nd == 0 || nd > 18 || (nd > 1 && *d == '0')) return NULL;
    if (p < end && (*p == '.' || *p == 'e' || *p == 'E')) return NULL;
    *out = neg ? -x : x;
    return p;
}

int cn_srv_keys_parse(const char *body, size_t len, json_t **out) {
    *out = NULL;
    const char *p = body, *end = body + len;
    json_t *arr = json_array(), *obj = NULL;
    if (!arr) return 1;
    p = skip_ws(p, end);
    if (p >= end || *p++ != '[') goto decline;
    p = skip_ws(p, end);
    if (p < end && *p == ']') {
        p++;
        goto tail;
    }
    for (;;) {
        if (p >= end || *p++ != '{') goto decline;
        obj = json_object();
        if (!obj) goto decline;
        p = skip_ws(p, end);
        if (p < end && *p == '}') {
            p++;
        } else {
            for (;;) {
                const char *k;
                size_t kn;
                if (!(p = plain_string(p, end, &k, &kn))) goto decline;
                p = skip_ws(p, end);
                if (p >= end || *p++ != ':') goto decline;
                p = skip_ws(p, end);
                json_t *v;
                if (p < end && *p == '"') {
                    const char *vs;
                    size_t vn;
                    if (!(p = plain_string(p, end, &vs, &vn))) goto decline;
                    v = json_stringn_nocheck(vs, vn);
                } else {
                    json_int_t x;
                    if (!(p = plain_int(p, end, &x))) goto decline;
                    v = json_integer(x);
                }
                /* A repeated key keeps its last value, as jansson's loader does. */
                if (!v || json_object_setn_new_nocheck(obj, k, kn, v) != 0) goto decline;
                int more = list_next(&p, end, '}');
                if (more < 0) goto decline;
                if (!more) break;
            }
        }
        if (json_array_append_new(arr, obj) != 0) {
            obj = NULL;
            goto decline;
        }
        obj = NULL;
        int more = list_next(&p, end, ']');
        if (more < 0) goto decline;
        if (!more) break;
    }
tail:
    if (skip_ws(p, end) != end) goto decline;
    *out = arr;
    return 0;
decline:
    json_decref(obj);
    json_decref(arr);
    return 1;
}

/* ---- the fetcher's answer as text ------------------------------------------------- */

/* The end of the JSON value starting at p (well-formed text from the fetcher; a string's
 * escapes are skipped, brackets are counted), or NULL when the text ends first. */
static const char *skip_value(const char *p, const char *end) {
    int depth = 0;
    while (p < end) {
        char c = *p;
        if (c == '"') {
            if (!(p = cn_json_string_end(p, end))) return NULL;
        } else if (c == '{' || c == '[') {
            depth++;
            p++;
        } else if (c == '}' || c == ']') {
            if (depth == 0) return p; /* the enclosing container's end */
            depth--;
            p++;
        } else if (c == ',' && depth == 0) {
            return p;
        } else {
            p++;
        }
        if (depth == 0 && (c == '"' || c == '}' || c == ']')) return p;
    }
    return depth == 0 ? p : NULL;
}

/* Writes Chronon's results for the fetcher's text answer t, an array of
 * {"error": ..., "keys": {...}} or {"keys": {...}, "values": {...}} objects, into b.
 * *n_res: the number of results. -1 when the text is not that shape. */
static int text_to_results(CnBuf *b, const char *t, size_t n, const json_t *keys, size_t *n_res, uint64_t *n_ok,
                           uint64_t *n_failed) {
    const char *p = t, *end = t + n;
    if (!t) return -1;
    p = skip_ws(p, end);
    if (p >= end || *p++ != '[') return -1;
    PUT_LIT(b, "{\"results\":[");
    p = skip_ws(p, end);
    size_t i = 0;
    if (p < end && *p == ']') p++;
    else
        for (;; i++) {
            const char *ek = NULL, *vals = NULL, *error = NULL;
            size_t ek_n = 0, vals_n = 0, error_n = 0;
            if (p >= end || *p++ != '{') return -1;
            p = skip_ws(p, end);
            while (p < end && *p != '}') {
                const char *k;
                size_t kn;
                if (!(p = plain_string(p, end, &k, &kn))) return -1;
                p = skip_ws(p, end);
                if (p >= end || *p++ != ':') return -1;
                p = skip_ws(p, end);
                const char *v = p;
                if (!(p = skip_value(p, end))) return -1;
                if (kn == 4 && memcmp(k, "keys", 4) == 0) ek = v, ek_n = (size_t)(p - v);
                else if (kn == 6 && memcmp(k, "values", 6) == 0) vals = v, vals_n = (size_t)(p - v);
                else if (kn == 5 && memcmp(k, "error", 5) == 0) error = v, error_n = (size_t)(p - v);
                p = skip_ws(p, end);
                if (p < end && *p == ',') p = skip_ws(p + 1, end);
            }
            if (p >= end) return -1;
            p++;
            if (i) PUT_LIT(b, ",");
            if (error) PUT_LIT(b, "{\"status\":\"Failure\",\"entityKeys\":");
            else PUT_LIT(b, "{\"status\":\"Success\",\"entityKeys\":");
            if (ek) put_raw(b, ek, ek_n);
            else cn_srv_json_write(b, json_array_get(keys, i));
            if (error) {
                (*n_failed)++;
                PUT_LIT(b, ",\"error\":");
                put_raw(b, error, error_n);
            } else {
                (*n_ok)++;
                PUT_LIT(b, ",\"features\":");
                if (vals) cn_json_copy_short_reals(b, vals, vals_n);
                else PUT_LIT(b, "{}");
            }
            PUT_LIT(b, "}");
            int more = list_next(&p, end, ']');
            if (more < 0) return -1;
            if (!more) {
                i++;
                break;
            }
        }
    if (skip_ws(p, end) != end) return -1;
    PUT_LIT(b, "]}\n");
    *n_res = i;
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

/* A failed fetch's answer: 404 unknown name, 400 bad request, else 500 (counted as a
 * store error). */
static void fail_fetch(CnSrvApi *api, CnHttpResp *resp, int rc, const char *kind_name, const char *name,
                       const CnErr *err) {
    if (rc == CN_ENOTFOUND) {
        fail(resp, 404, "%s %s: %s", kind_name, name, cn_err_msg(err));
    } else if (rc == CN_EINVAL) {
        fail(resp, 400, "%s %s: %s", kind_name, name, cn_err_msg(err));
    } else {
        ADD_RELAXED(&api->kv_errors, 1);
        fail(resp, 500, "%s %s: %s", kind_name, name, cn_err_msg(err));
    }
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
    /* The common shape first; anything else (and every error message) is jansson's. */
    if (cn_srv_keys_parse((const char *)req->body, req->body_len, &keys) != 0)
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
    char why[CN_ERR_MSG_MAX];
    if (api->ready && !api->ready(api->fetch_ctx, why, sizeof why)) {
        res = RES_ERROR;
        fail(resp, 503, "%s %s: %s", kind_name, name, why);
        goto done;
    }
    uint64_t n_ok = 0, n_failed = 0;
    CnBuf *b = &resp->body;
    if (api->fetch_service) {
        /* the common request: its answer is the body, written in place */
        int rc = api->fetch_service(api->fetch_ctx, fr->kind, name, keys, ts, b, &err);
        if (rc == 0) {
            n_ok = json_array_size(keys);
            goto answered;
        }
        if (rc < 0) {
            res = rc == CN_ENOTFOUND ? RES_NOT_FOUND : rc == CN_EINVAL ? RES_BAD_REQUEST : RES_ERROR;
            fail_fetch(api, resp, rc, kind_name, name, &err);
            goto done;
        }
    }
    CnBuf *text = req->scratch;
    if (text) cn_buf_reset(text);
    int rc = api->fetch_text && text && !api->fetch_service
                 ? api->fetch_text(api->fetch_ctx, fr->kind, name, keys, ts, text, &err)
                 : 1;
    if (rc > 0) rc = api->fetch(api->fetch_ctx, fr->kind, name, keys, ts, &out, &err); /* declined or no text fetch */
    if (rc != 0) {
        res = rc == CN_ENOTFOUND ? RES_NOT_FOUND : rc == CN_EINVAL ? RES_BAD_REQUEST : RES_ERROR;
        fail_fetch(api, resp, rc, kind_name, name, &err);
        goto done;
    }
    if (!out) {
        cn_buf_reserve(b, text->len + 64 + 48 * json_array_size(keys));
        size_t n_res = 0;
        if (text_to_results(b, text->data, text->len, keys, &n_res, &n_ok, &n_failed) != 0 ||
            n_res != json_array_size(keys)) {
            res = RES_ERROR;
            fail(resp, 500, "%s %s: the fetcher's answer is not an array of %zu results: %.200s", kind_name, name,
                 json_array_size(keys), text->data ? text->data : "");
            goto done;
        }
        goto answered;
    }
    if (!json_is_array(out) || json_array_size(out) != json_array_size(keys)) {
        res = RES_ERROR;
        fail(resp, 500, "%s %s: the fetcher returned %zu results for %zu key maps", kind_name, name,
             json_is_array(out) ? json_array_size(out) : 0, json_array_size(keys));
        goto done;
    }
    cn_buf_reserve(b, 64 + 128 * json_array_size(out));
    PUT_LIT(b, "{\"results\":[");
    for (size_t i = 0; i < json_array_size(out); i++) {
        json_t *o = json_array_get(out, i);
        json_t *ek = json_object_get(o, "keys");
        json_t *error = json_object_get(o, "error");
        if (!ek) ek = json_array_get(keys, i);
        if (i) PUT_LIT(b, ",");
        if (error) {
            n_failed++;
            PUT_LIT(b, "{\"status\":\"Failure\",\"entityKeys\":");
            cn_srv_json_write(b, ek);
            PUT_LIT(b, ",\"error\":");
            cn_srv_json_write(b, error);
        } else {
            n_ok++;
            PUT_LIT(b, "{\"status\":\"Success\",\"entityKeys\":");
            cn_srv_json_write(b, ek);
            PUT_LIT(b, ",\"features\":");
            json_t *vals = json_object_get(o, "values");
            if (vals) cn_srv_json_write(b, vals);
            else PUT_LIT(b, "{}");
        }
        PUT_LIT(b, "}");
    }
    PUT_LIT(b, "]}\n");
answered:
    ADD_RELAXED(&api->keys_ok[fr->kind], n_ok);
    ADD_RELAXED(&api->keys_failed[fr->kind], n_failed);
    resp->status = 200;
    resp->content_type = "application/json";
    res = RES_OK;
done:
    ADD_RELAXED(&api->requests[fr->kind][res], 1);
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
    char why[CN_ERR_MSG_MAX];
    if (api->ready && !api->ready(api->fetch_ctx, why, sizeof why)) {
        /* up but not ready: a load balancer keeps traffic away until the store connects */
        resp->status = 503;
        resp->content_type = "application/json";
        cn_buf_printf(&resp->body, "{\"status\":\"not ready\",\"uptime_seconds\":%.3f,\"error\":", uptime_s(api));
        write_str(&resp->body, why, strlen(why));
        cn_buf_puts(&resp->body, "}\n");
        return 0;
    }
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
    for (int i = 0; i < MAX_COUNTERS; i++) {
        uint64_t key = atomic_load_explicit(&api->counter_keys[i], memory_order_acquire);
        if (!key) break;
        uint64_t n = 0;
        for (int sh = 0; sh < N_SHARDS; sh++)
            n += atomic_load_explicit(&api->shards[sh].count[i], memory_order_relaxed);
        int route = (int)(key >> 40) - 1;
        cn_buf_puts(b, "chronon_http_requests_total{route=\"");
        put_label(b, api->route_names[route].name);
        cn_buf_printf(b, "\",method=\"%s\",status=\"%d\"} %llu\n", METHOD_LABELS[(key >> 32) & 0xff],
                      (int)(key & 0xffffffffu), (unsigned long long)n);
    }
    cn_buf_puts(b, "# HELP chronon_http_request_duration_seconds Time from request line to response, by route prefix.\n"
                   "# TYPE chronon_http_request_duration_seconds histogram\n");
    for (int i = 0; i < MAX_ROUTES; i++) {
        if (atomic_load_explicit(&api->route_names[i].state, memory_order_acquire) != SLOT_READY) continue;
        const char *name = api->route_names[i].name;
        uint64_t buckets[N_BUCKETS + 1] = {0}, sum_ns = 0;
        for (int sh = 0; sh < N_SHARDS; sh++) {
            for (size_t k = 0; k <= N_BUCKETS; k++)
                buckets[k] += atomic_load_explicit(&api->shards[sh].lat[i][k], memory_order_relaxed);
            sum_ns += atomic_load_explicit(&api->shards[sh].lat_sum_ns[i], memory_order_relaxed);
        }
        uint64_t cum = 0;
        for (size_t k = 0; k <= N_BUCKETS; k++) cum += buckets[k];
        if (!cum) continue;
        cum = 0; /* _count is the +Inf bucket, so a scrape is consistent even mid-request */
        for (size_t k = 0; k <= N_BUCKETS; k++) {
            cum += buckets[k];
            cn_buf_puts(b, "chronon_http_request_duration_seconds_bucket{route=\"");
            put_label(b, name);
            if (k < N_BUCKETS) cn_buf_printf(b, "\",le=\"%g\"} %llu\n", BUCKETS_S[k], (unsigned long long)cum);
            else cn_buf_printf(b, "\",le=\"+Inf\"} %llu\n", (unsigned long long)cum);
        }
        cn_buf_puts(b, "chronon_http_request_duration_seconds_sum{route=\"");
        put_label(b, name);
        cn_buf_printf(b, "\"} %.9f\n", (double)sum_ns / 1e9);
        cn_buf_puts(b, "chronon_http_request_duration_seconds_count{route=\"");
        put_label(b, name);
        cn_buf_printf(b, "\"} %llu\n", (unsigned long long)cum);
    }
    uint64_t dropped = atomic_load_explicit(&api->dropped, memory_order_relaxed);
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

static unsigned method_index(const char *m) {
    unsigned i = 0;
    while (i + 1 < CN_ARRAY_LEN(METHOD_LABELS) && strcmp(m, METHOD_LABELS[i]) != 0) i++;
    return i;
}

/* The slot of route name rname, claimed on first sight; -1 when the table is full. */
static int route_slot(CnSrvApi *api, const char *rname) {
    for (int i = 0; i < MAX_ROUTES; i++) {
        RouteName *r = &api->route_names[i];
        int st = atomic_load_explicit(&r->state, memory_order_acquire);
        if (st == SLOT_EMPTY) {
            int expect = SLOT_EMPTY;
            if (atomic_compare_exchange_strong_explicit(&r->state, &expect, SLOT_FILLING, memory_order_acq_rel,
                                                        memory_order_acquire)) {
                snprintf(r->name, sizeof r->name, "%s", rname);
                atomic_store_explicit(&r->state, SLOT_READY, memory_order_release);
                return i;
            }
            st = expect;
        }
        /* Another thread is naming this slot: a few stores away. */
        while (st == SLOT_FILLING) st = atomic_load_explicit(&r->state, memory_order_acquire);
        if (strcmp(r->name, rname) == 0) return i;
    }
    return -1;
}

static int counter_slot(CnSrvApi *api, uint64_t key) {
    for (int i = 0; i < MAX_COUNTERS; i++) {
        uint64_t k = atomic_load_explicit(&api->counter_keys[i], memory_order_acquire);
        if (k == key) return i;
        if (k == 0) {
            uint64_t expect = 0;
            if (atomic_compare_exchange_strong_explicit(&api->counter_keys[i], &expect, key, memory_order_acq_rel,
                                                        memory_order_acquire) ||
                expect == key)
                return i;
        }
    }
    return -1;
}

static Shard *my_shard(CnSrvApi *api) {
    static _Thread_local int t_shard = -1;
    if (t_shard < 0) t_shard = (int)(atomic_fetch_add_explicit(&api->next_shard, 1, memory_order_relaxed) % N_SHARDS);
    return &api->shards[t_shard];
}

static void observe(void *ctx, const char *route, const char *method, int status, uint64_t ns) {
    CnSrvApi *api = ctx;
    const char *rname = route && *route ? route : "none";
    double s = (double)ns / 1e9;
    size_t bucket = 0;
    while (bucket < N_BUCKETS && s > BUCKETS_S[bucket]) bucket++;
    int ri = route_slot(api, rname);
    uint64_t key = ((uint64_t)(ri + 1) << 40) | ((uint64_t)method_index(method) << 32) | (uint32_t)status;
    int ci = ri < 0 ? -1 : counter_slot(api, key);
    if (ci < 0) {
        atomic_fetch_add_explicit(&api->dropped, 1, memory_order_relaxed);
        return;
    }
    Shard *sh = my_shard(api);
    atomic_fetch_add_explicit(&sh->lat[ri][bucket], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&sh->lat_sum_ns[ri], ns, memory_order_relaxed);
    atomic_fetch_add_explicit(&sh->count[ci], 1, memory_order_relaxed);
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
    *out = api;
    return 0;
}

void cn_srv_api_free(CnSrvApi *api) {
    if (!api) return;
    cn_free(api);
}

void cn_srv_api_set_text_fetch(CnSrvApi *api, CnSrvFetchTextFn fn) { api->fetch_text = fn; }

void cn_srv_api_set_service_fetch(CnSrvApi *api, CnSrvFetchTextFn fn) { api->fetch_service = fn; }

void cn_srv_api_set_ready(CnSrvApi *api, CnSrvReadyFn fn) { api->ready = fn; }

int cn_srv_api_mount(CnSrvApi *api, CnHttpServer *s, CnErr *err) {
    int rc = cn_http_route(s, "POST", api->gb.prefix, features_handler, &api->gb, err);
    if (rc == 0) rc = cn_http_route(s, "POST", api->join.prefix, features_handler, &api->join, err);
    if (rc == 0) rc = cn_http_route(s, "GET", "/health", health_handler, api, err);
    if (rc == 0) rc = cn_http_route(s, "GET", "/ping", ping_handler, api, err);
    if (rc == 0) rc = cn_http_route(s, "GET", "/metrics", metrics_handler, api, err);
    if (rc == 0) cn_http_set_observer(s, observe, api);
    return rc;
}
