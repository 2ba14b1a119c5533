/* kv_dynamodb.c: the DynamoDB backend, `dynamodb://[table-prefix][?region=R]`, speaking
 * DynamoDB's JSON protocol (x-amz-json-1.0) over libcurl, signed with AWS SigV4 here.
 * Endpoint: AWS_ENDPOINT_URL_DYNAMODB or AWS_ENDPOINT_URL (e.g. dynalite, moto), else
 * https://dynamodb.<region>.amazonaws.com. Region: the URI, else AWS_REGION or
 * AWS_DEFAULT_REGION. Credentials: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and
 * AWS_SESSION_TOKEN (no instance profiles).
 *
 * (The object store's signer in src/io/objstore/obj_s3.c is private and S3-only: fixed
 * service "s3", UNSIGNED-PAYLOAD. DynamoDB needs the payload hash and the x-amz-target
 * header signed, so this file carries its own signer.)
 *
 * Tables (P = the prefix; created when missing, on demand, PAY_PER_REQUEST, and waited
 * for until ACTIVE):
 *   P chronon_datasets     hash key ds (S): one item per dataset {ds, v: current version,
 *                          f: item layout (2), p, o, x: which version tables there are
 *                          (see the loads)} and the counter item
 *                          {ds: "\u0001next_version", n} (dataset names never hold
 *                          control bytes... in practice; see docs)
 *   P<dataset>--<version>  one table per version of a dataset (item layout 2), hash key
 *                          k (B) only: the user key followed by the part number in 2
 *                          big-endian bytes. Part 0 holds d (B, the value or its first
 *                          part; absent for an empty value) and, for a value over
 *                          PART_BYTES, n (N, the number of parts); parts 1..n-1 hold the
 *                          rest (DynamoDB items are at most 400 KB). A plain item is
 *                          {k, d}, the shape a bare client writes.
 * Dataset names become table names with every byte outside [A-Za-z0-9_.] written as
 * -XX (hex). Layout 1 (one table P<dataset> for all versions, range key v = version *
 * 1024 + part, dataset item without f) is refused by reads with an error saying to
 * upload again; a load over it writes layout 2 and drops what layout 1 kept.
 *
 * Versions: a load takes a number from the counter (UpdateItem ADD), creates its table,
 * writes its items with BatchWriteItem (25 per request, UnprocessedItems retried with
 * backoff), then flips the dataset item with a conditional UpdateItem
 * (attribute_not_exists(v) OR v < :new; failing means a newer load won: CN_ECONFLICT),
 * then drops the tables of the versions replaced before its load began (see the loads).
 * A multi-get is one consistent BatchGetItem (100 items per request, UnprocessedKeys
 * retried) of the keys at the version last seen current and of the dataset item; the
 * dataset item naming another version, a key missing while the pointer moved, or the
 * version's table gone, makes it read again at the new version, so a reader never mixes
 * versions even while the old one is being dropped (dynamo_multi_get says why).
 * Reads under a lease: within LEASE_MS of the send time of a pointer read that found the
 * version current (kv_vercache's confirmation time), a multi-get reads the items alone,
 * and keeps the answer only when the read ended within ACCEPT_MS of that time. A commit
 * drops only versions that a pointer read at its load's begin found already replaced,
 * and no sooner than GRACE_MS after that read returned (ACCEPT_MS < GRACE_MS), so such a
 * read saw the version whole; the version a commit replaces stays until the next
 * commit (see the loads). Another handle may serve a replaced version for up to
 * LEASE_MS after a flip (docs/online-store.md).
 * Retries: transport errors, HTTP 5xx and throttling (ThrottlingException,
 * ProvisionedThroughputExceededException, RequestLimitExceeded) up to `retries` times
 * (at least 8 for throttling) with doubling backoff. Errors name the table and the AWS
 * error type. */
#include "base/compat.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

#include "base/alloc.h"
#include "base/log.h"
#include "base/str.h"
#include "online/kv_int.h"
#include "online/kv_vercache.h"

enum { MAX_PARTS = 1024, BATCH_WRITE = 25, BATCH_GET = 100, POOL_IDLE_MAX = 16 };
#define PART_BYTES ((size_t)380000)
/* DynamoDB allows binary hash keys of 2048 bytes; 2 of them carry the part number */
enum { SORT_BYTES = 2 };
#define MAX_KEY (2048 - SORT_BYTES)
static const char COUNTER_KEY[] = "\x01next_version";

typedef struct DHandle {
    CURL *h;
    struct DHandle *next;
} DHandle;

typedef struct DStore {
    pthread_mutex_t mu;     /* guards idle, sk_date and sk */
    DHandle *idle;
    unsigned n_idle;
    char *prefix, *region, *endpoint, *host;     /* OWNED */
    char *access_key, *secret_key, *token;       /* OWNED; token may be NULL */
    char *ds_table;         /* OWNED: P chronon_datasets */
    CnKvVerCache vers;      /* versions multi-gets saw current */
    char sk_date[16];       /* guarded by mu: the day (YYYYMMDD) of sk ... */
    unsigned char sk[32];   /* ... and SigV4's signing key for it (4 HMACs, once a day) */
} DStore;

/* ---- small helpers ------------------------------------------------------------------- */

static void sleep_ms(uint64_t ms) {
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
    }
}

static uint64_t mono_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Sleeps until the monotonic time mono (ns; a past one: not at all). */
static void sleep_until(uint64_t mono) {
    uint64_t now = mono_ns();
    if (now < mono) sleep_ms((mono - now + 999999u) / 1000000u);
}

static void hex_of(const unsigned char *d, size_t n, char *out) {
    static const char HEX[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = HEX[d[i] >> 4];
        out[2 * i + 1] = HEX[d[i] & 15];
    }
    out[2 * n] = 0;
}

static bool hmac(const void *key, size_t kl, const void *msg, size_t ml, unsigned char out[32]) {
    unsigned int ol = 32;
    return HMAC(EVP_sha256(), key, (int)kl, msg, ml, out, &ol) != NULL && ol == 32;
}

/* base64 of n bytes as a jansson string (NULL when out of memory). */
static json_t *b64_json(const void *p, size_t n) {
    size_t cap = 4 * ((n + 2) / 3) + 1;
    char *s = cn_malloc(cap);
    if (!s) return NULL;
    EVP_EncodeBlock((unsigned char *)s, p, (int)n);
    json_t *j = json_stringn(s, cap - 1);
    cn_free(s);
    return j;
}

/* Decodes base64 text into out (room for sl / 4 * 3 bytes): the decoded size, or -1 on
 * bad input. */
static long b64_decode_into(uint8_t *out, const char *s, size_t sl) {
    if (sl % 4) return -1;
    int n = sl ? EVP_DecodeBlock(out, (const unsigned char *)s, (int)sl) : 0;
    if (n < 0) return -1;
    size_t pad = sl >= 1 && s[sl - 1] == '=' ? (sl >= 2 && s[sl - 2] == '=' ? 2 : 1) : 0;
    return (long)n - (long)pad;
}

/* Decodes base64 text into arena memory; *len is the decoded size. NULL on bad input
 * or out of memory. */
static uint8_t *b64_decode(CnArena *arena, const char *s, size_t sl, size_t *len) {
    if (sl % 4) return NULL;
    uint8_t *out = cn_arena_alloc(arena, sl / 4 * 3 + 1);
    long n = out ? b64_decode_into(out, s, sl) : -1;
    if (n < 0) return NULL;
    *len = (size_t)n;
    return out;
}

/* ---- transport ------------------------------------------------------------------------ */

static size_t on_body(char *p, size_t sz, size_t n, void *ud) {
    return cn_buf_append(ud, p, sz * n) ? 0 : sz * n;
}

static CURL *handle_get(DStore *s) {
    pthread_mutex_lock(&s->mu);
    DHandle *d = s->idle;
    if (d) {
        s->idle = d->next;
        s->n_idle--;
    }
    pthread_mutex_unlock(&s->mu);
    if (!d) return curl_easy_init();
    CURL *h = d->h;
    cn_free(d);
    return h;
}

static void handle_put(DStore *s, CURL *h) {
    DHandle *d = cn_malloc(sizeof *d);
    if (d) {
        pthread_mutex_lock(&s->mu);
        if (s->n_idle < POOL_IDLE_MAX) {
            d->h = h;
            d->next = s->idle;
            s->idle = d;
            s->n_idle++;
            d = NULL;
            h = NULL;
        }
        pthread_mutex_unlock(&s->mu);
    }
    cn_free(d);
    if (h) curl_easy_cleanup(h);
}

/* Signs and sends one request. OUT *status and the body in resp. Returns 0 when a
 * reply arrived, CN_EIO on a transport failure (why filled). */
static int send_once(CnKv *kv, const char *op, const char *body, size_t body_len, long *status,
                     CnBuf *resp, char *why, size_t why_cap) {
    DStore *s = kv->impl;
    char amzdate[32], date[16], target[96];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(amzdate, sizeof amzdate, "%Y%m%dT%H%M%SZ", &tm);
    strftime(date, sizeof date, "%Y%m%d", &tm);
    snprintf(target, sizeof target, "DynamoDB_20120810.%s", op);
    unsigned char dig[32], k1[32], k2[32], k3[32], k4[32], sig[32];
    char body_hex[65], creq_hex[65], sig_hex[65];
    SHA256((const unsigned char *)body, body_len, dig);
    hex_of(dig, 32, body_hex);
    const char *signed_h = s->token
        ? "content-type;host;x-amz-date;x-amz-security-token;x-amz-target"
        : "content-type;host;x-amz-date;x-amz-target";
    CnBuf creq = CN_BUF_INIT, sts = CN_BUF_INIT, h = CN_BUF_INIT;
    cn_buf_printf(&creq, "POST\n/\n\ncontent-type:application/x-amz-json-1.0\nhost:%s\n"
                         "x-amz-date:%s\n", s->host, amzdate);
    if (s->token) cn_buf_printf(&creq, "x-amz-security-token:%s\n", s->token);
    cn_buf_printf(&creq, "x-amz-target:%s\n\n%s\n%s", target, signed_h, body_hex);
    int rc = 0;
    struct curl_slist *hdrs = NULL;
    CURL *c = NULL;
    if (creq.oom) {
        snprintf(why, why_cap, "out of memory");
        rc = CN_ENOMEM;
        goto done;
    }
    SHA256((const unsigned char *)creq.data, creq.len, dig);
    hex_of(dig, 32, creq_hex);
    cn_buf_printf(&sts, "AWS4-HMAC-SHA256\n%s\n%s/%s/dynamodb/aws4_request\n%s", amzdate, date,
                  s->region, creq_hex);
    /* the signing key depends only on the day, region and secret: derive it once a day */
    pthread_mutex_lock(&s->mu);
    bool have_key = strcmp(s->sk_date, date) == 0;
    if (have_key) memcpy(k4, s->sk, 32);
    pthread_mutex_unlock(&s->mu);
    if (!have_key) {
        cn_buf_printf(&h, "AWS4%s", s->secret_key);
        have_key = !h.oom && hmac(h.data, h.len, date, strlen(date), k1) &&
                   hmac(k1, 32, s->region, strlen(s->region), k2) && hmac(k2, 32, "dynamodb", 8, k3) &&
                   hmac(k3, 32, "aws4_request", 12, k4);
        if (have_key) {
            pthread_mutex_lock(&s->mu);
            memcpy(s->sk, k4, 32);
            snprintf(s->sk_date, sizeof s->sk_date, "%s", date);
            pthread_mutex_unlock(&s->mu);
        }
    }
    if (sts.oom || !have_key || !hmac(k4, 32, sts.data, sts.len, sig)) {
        snprintf(why, why_cap, "cannot sign the request");
        rc = CN_EINTERNAL;
        goto done;
    }
    hex_of(sig, 32, sig_hex);
    hdrs = curl_slist_append(hdrs, "Content-Type: application/x-amz-json-1.0");
    hdrs = curl_slist_append(hdrs, "Expect:");
#define ADD_HDR(...)                                  \
    do {                                              \
        cn_buf_reset(&h);                             \
        cn_buf_printf(&h, __VA_ARGS__);               \
        if (!h.oom) hdrs = curl_slist_append(hdrs, h.data); \
    } while (0)
    ADD_HDR("Host: %s", s->host);
    ADD_HDR("X-Amz-Date: %s", amzdate);
    ADD_HDR("X-Amz-Target: %s", target);
    if (s->token) ADD_HDR("X-Amz-Security-Token: %s", s->token);
    ADD_HDR("Authorization: AWS4-HMAC-SHA256 Credential=%s/%s/%s/dynamodb/aws4_request, "
            "SignedHeaders=%s, Signature=%s", s->access_key, date, s->region, signed_h, sig_hex);
#undef ADD_HDR
    if (h.oom || !hdrs || !(c = handle_get(s))) {
        snprintf(why, why_cap, "out of memory");
        rc = CN_ENOMEM;
        goto done;
    }
    char curl_err[CURL_ERROR_SIZE] = "";
    curl_easy_reset(c);
    curl_easy_setopt(c, CURLOPT_URL, s->endpoint);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, curl_err);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)kv->opts.connect_timeout_ms);
    /* A write's timeout covers large batches too: at least 10 s. A read (a fetch waits on
     * it) gets 2 x timeout_ms, 1 s by default, so a hung server fails a multi-get within
     * about 3 s, retries included, instead of half a minute. */
    bool read = strcmp(op, "BatchGetItem") == 0 || strcmp(op, "GetItem") == 0;
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS,
                     (long)(read ? 2 * (uint64_t)kv->opts.timeout_ms : CN_MAX(kv->opts.timeout_ms, 10000u)));
    curl_easy_setopt(c, CURLOPT_POST, 1L);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, resp);
    cn_buf_reset(resp);
    CURLcode cc = curl_easy_perform(c);
    if (cc != CURLE_OK) {
        snprintf(why, why_cap, "cannot reach %s: %s", s->endpoint,
                 curl_err[0] ? curl_err : curl_easy_strerror(cc));
        rc = resp->oom ? CN_ENOMEM : CN_EIO;
        curl_easy_cleanup(c);
        c = NULL;
    } else {
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
    }
done:
    if (c) handle_put(s, c);
    curl_slist_free_all(hdrs);
    cn_buf_fini(&creq);
    cn_buf_fini(&sts);
    cn_buf_fini(&h);
    return rc;
}

/* The AWS error type ("ValidationException") of an error reply, and its message. */
static void aws_error(const CnBuf *resp, char *type, size_t tcap, char *msg, size_t mcap) {
    snprintf(type, tcap, "UnknownError");
    msg[0] = 0;
    json_t *j = resp->len ? json_loadb(resp->data, resp->len, 0, NULL) : NULL;
    const char *t = j ? json_string_value(json_object_get(j, "__type")) : NULL;
    const char *m = j ? json_string_value(json_object_get(j, "message")) : NULL;
    if (!m && j) m = json_string_value(json_object_get(j, "Message"));
    if (t) snprintf(type, tcap, "%s", strchr(t, '#') ? strchr(t, '#') + 1 : t);
    if (m) snprintf(msg, mcap, "%s", m);
    if (!j && resp->len) { /* some servers (moto's auth layer) answer in XML */
        CnBuf z = CN_BUF_INIT;
        cn_buf_append(&z, resp->data, resp->len);
        const char *c = z.oom ? NULL : strstr(z.data, "<Code>");
        const char *ce = c ? strstr(c, "</Code>") : NULL;
        const char *mm = z.oom ? NULL : strstr(z.data, "<Message>");
        const char *me = mm ? strstr(mm, "</Message>") : NULL;
        if (ce) snprintf(type, tcap, "%.*s", (int)(ce - c - 6), c + 6);
        if (me) snprintf(msg, mcap, "%.*s", (int)(me - mm - 9), mm + 9);
        else snprintf(msg, mcap, "%.*s", (int)CN_MIN(resp->len, 200), resp->data);
        cn_buf_fini(&z);
    }
    json_decref(j);
}

static const char *hint_for(const char *type) {
    if (!strcmp(type, "InvalidSignatureException") || !strcmp(type, "SignatureDoesNotMatch"))
        return " (check AWS_SECRET_ACCESS_KEY)";
    if (!strcmp(type, "UnrecognizedClientException") || !strcmp(type, "InvalidClientTokenId"))
        return " (check AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)";
    if (!strcmp(type, "ExpiredTokenException")) return " (check AWS_SESSION_TOKEN)";
    if (!strcmp(type, "AccessDeniedException"))
        return " (check the credentials' permissions on this table)";
    return "";
}

static bool throttled(const char *type) {
    return !strcmp(type, "ThrottlingException") ||
           !strcmp(type, "ProvisionedThroughputExceededException") ||
           !strcmp(type, "RequestLimitExceeded") || !strcmp(type, "InternalServerError") ||
           !strcmp(type, "LimitExceededException");
}

/* One DynamoDB call with retries. OWNED *out: the parsed reply (json_decref). On an
 * AWS error reply, *aws_type (when not NULL) receives its type and the error is set,
 * naming the store, the table and the type. */
static int ddb(CnKv *kv, const char *op, const char *table, json_t *req, json_t **out,
               char *aws_type, size_t tcap, CnErr *err) {
    *out = NULL;
    if (aws_type) aws_type[0] = 0;
    char *body = json_dumps(req, JSON_COMPACT);
    if (!body) return cn_err_set(err, CN_ENOMEM, "%s: table %s: %s: out of memory", kv->uri, table, op);
    CnBuf resp = CN_BUF_INIT;
    char why[600] = "", type[128] = "", msg[400] = "";
    uint32_t attempts = kv->opts.retries + 1;
    int rc = 0;
    for (uint32_t attempt = 0;; attempt++) {
        long status = 0;
        uint64_t t0 = cn_log_level() >= CN_LOG_DEBUG ? mono_ns() : 0;
        rc = send_once(kv, op, body, strlen(body), &status, &resp, why, sizeof why);
        if (t0)
            cn_log(CN_LOG_DEBUG, "dynamodb: %s %s: HTTP %ld, %zu bytes sent, %zu received, %.2f ms",
                   op, table, status, strlen(body), resp.len, (double)(mono_ns() - t0) / 1e6);
        bool retry = rc == CN_EIO;
        if (rc == 0 && status == 200) {
            json_error_t je;
            *out = json_loadb(resp.data ? resp.data : "", resp.len, 0, &je);
            if (!*out)
                rc = cn_err_set(err, CN_EREMOTE, "%s: table %s: %s: reply is not JSON: %s", kv->uri,
                                table, op, je.text);
            break;
        }
        if (rc == 0) {
            aws_error(&resp, type, sizeof type, msg, sizeof msg);
            retry = status >= 500 || throttled(type);
            if (throttled(type) && attempts < 9) attempts = 9;
            snprintf(why, sizeof why, "HTTP %ld %s%s%s%s", status, type, msg[0] ? ": " : "", msg,
                     hint_for(type));
            rc = CN_EREMOTE;
        }
        if (rc == CN_ENOMEM || rc == CN_EINTERNAL || !retry || attempt + 1 >= attempts) {
            if (aws_type) snprintf(aws_type, tcap, "%s", type);
            rc = cn_err_set(err, rc, "%s: table %s: %s failed%s%.0u%s: %s", kv->uri, table, op,
                            attempt ? " after " : "", attempt ? attempt + 1 : 0u,
                            attempt ? " attempts" : "", why);
            break;
        }
        uint64_t delay = (uint64_t)kv->opts.retry_backoff_ms << CN_MIN(attempt, 10u);
        sleep_ms(CN_MIN(delay, (uint64_t)5000));
    }
    cn_free_libc(body); /* jansson's allocation */
    cn_buf_fini(&resp);
    return rc;
}

/* ---- tables --------------------------------------------------------------------------- */

/* version for table_of: the stem every layout-2 table name of the dataset starts with */
#define TABLE_STEM UINT64_MAX

/* A data table's name (OWNED), P + the dataset with bytes outside [A-Za-z0-9_.] as -XX:
 * version > 0: P<escaped>--<version>, the table of that version (layout 2); TABLE_STEM:
 * P<escaped>-- (a layout-2 table of the dataset is that and digits); 0: the layout-1
 * table P<escaped> (hash key k, range key v), padded with '-' to 3 bytes. Escaping never
 * makes "--" and padding only makes 3-byte names, so no other dataset's table name starts
 * with the stem and no layout-1 name is a layout-2 one. */
static char *table_of(CnKv *kv, const char *dataset, uint64_t version, CnErr *err) {
    DStore *s = kv->impl;
    CnBuf b = CN_BUF_INIT;
    cn_buf_puts(&b, s->prefix);
    for (const unsigned char *p = (const unsigned char *)dataset; *p; p++) {
        unsigned c = *p;
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
            c == '_' || c == '.')
            cn_buf_putc(&b, (char)c);
        else
            cn_buf_printf(&b, "-%02X", c);
    }
    if (version == TABLE_STEM) cn_buf_puts(&b, "--");
    else if (version) cn_buf_printf(&b, "--%llu", (unsigned long long)version);
    while (b.len < 3) cn_buf_putc(&b, '-');
    if (b.oom) {
        cn_buf_fini(&b);
        cn_err_set(err, CN_ENOMEM, "%s: dataset %s: out of memory", kv->uri, dataset);
        return NULL;
    }
    if (b.len > 255) {
        cn_err_set(err, CN_EINVAL, "%s: dataset %s: table name %.40s... is %zu bytes; DynamoDB "
                   "allows 255 (shorten the dataset name or the table prefix)", kv->uri, dataset,
                   b.data, b.len);
        cn_buf_fini(&b);
        return NULL;
    }
    return cn_buf_take(&b);
}

/* Creates the table when missing (hash key `hk` of type ht) and waits until it is ACTIVE:
 * polls from 10 ms, doubling up to 1 s, for up to a minute (a local server's table is
 * ACTIVE at once or within milliseconds; DynamoDB's within seconds). fresh: the table is
 * expected not to exist (a version's), so CreateTable comes first, without a
 * DescribeTable that would find nothing. */
static int ensure_table(CnKv *kv, const char *table, const char *hk, const char *ht, bool fresh, CnErr *err) {
    char type[128];
    json_t *out = NULL;
    int rc = 0;
    uint64_t t0 = mono_ns(), delay = 10;
    for (bool create = fresh; mono_ns() - t0 < UINT64_C(60000000000); create = false) {
        json_t *req;
        CnErr e = CN_ERR_INIT;
        if (!create) {
            req = json_pack("{s:s}", "TableName", table);
            rc = ddb(kv, "DescribeTable", table, req, &out, type, sizeof type, &e);
            json_decref(req);
            if (rc == 0) {
                const char *st = json_string_value(
                    json_object_get(json_object_get(out, "Table"), "TableStatus"));
                bool active = st && !strcmp(st, "ACTIVE");
                json_decref(out);
                out = NULL;
                if (active) return 0;
                sleep_ms(delay);
                delay = CN_MIN(delay * 2, (uint64_t)1000);
                continue;
            }
            if (strcmp(type, "ResourceNotFoundException") != 0) {
                *err = e;
                return rc;
            }
            cn_err_clear(&e);
        }
        req = json_pack("{s:s, s:s, s:[{s:s, s:s}], s:[{s:s, s:s}]}", "TableName", table,
                        "BillingMode", "PAY_PER_REQUEST", "AttributeDefinitions", "AttributeName",
                        hk, "AttributeType", ht, "KeySchema", "AttributeName", hk, "KeyType", "HASH");
        rc = ddb(kv, "CreateTable", table, req, &out, type, sizeof type, &e);
        json_decref(req);
        const char *st = rc == 0 ? json_string_value(json_object_get(
                                       json_object_get(out, "TableDescription"), "TableStatus"))
                                 : NULL;
        bool active = st && !strcmp(st, "ACTIVE"); /* some servers create at once */
        json_decref(out);
        out = NULL;
        if (active) return 0;
        if (rc < 0 && strcmp(type, "ResourceInUseException") != 0) { /* not a creation race */
            *err = e;
            return rc;
        }
        cn_err_clear(&e);
    }
    return cn_err_set(err, CN_EREMOTE, "%s: table %s did not become ACTIVE within a minute",
                      kv->uri, table);
}

/* ---- open / close --------------------------------------------------------------------- */

static void dstore_free(DStore *s) {
    if (!s) return;
    while (s->idle) {
        DHandle *n = s->idle->next;
        curl_easy_cleanup(s->idle->h);
        cn_free(s->idle);
        s->idle = n;
    }
    pthread_mutex_destroy(&s->mu);
    cn_kv__vc_fini(&s->vers);
    cn_free(s->prefix);
    cn_free(s->region);
    cn_free(s->endpoint);
    cn_free(s->host);
    cn_free(s->access_key);
    cn_free(s->secret_key);
    cn_free(s->token);
    cn_free(s->ds_table);
    cn_free(s);
}

static void dynamo_close(CnKv *kv) {
    dstore_free(kv->impl);
    kv->impl = NULL;
}

static char *env_dup(const char *name) {
    const char *v = getenv(name);
    return v && *v ? cn_strdup(v) : NULL;
}

static int bad_uri(CnKv *kv, const char *why, CnErr *err) {
    return cn_err_set(err, CN_ECONFIG, "online store URI \"%s\": %s; expected "
                      "dynamodb://[table-prefix][?region=R]", kv->uri, why);
}

static int dynamo_open(CnKv *kv, const char *target, CnErr *err) {
    DStore *s = cn_calloc(1, sizeof *s);
    if (!s) return cn_err_set(err, CN_ENOMEM, "%s: out of memory", kv->uri);
    pthread_mutex_init(&s->mu, NULL);
    cn_kv__vc_init(&s->vers);
    kv->impl = s;
    int rc = 0;
    CnBuf b = CN_BUF_INIT;
    if (strncmp(target, "//", 2) != 0) {
        rc = bad_uri(kv, "no \"//\" after the scheme", err);
        goto done;
    }
    target += 2;
    size_t pl = strcspn(target, "?#/");
    s->prefix = cn_strndup(target, pl);
    for (size_t i = 0; s->prefix && i < pl; i++) {
        char c = s->prefix[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '.' || c == '-')) {
            rc = bad_uri(kv, "the table prefix may hold only A-Z a-z 0-9 _ . -", err);
            goto done;
        }
    }
    const char *q = target + pl;
    if (*q == '/') q++;
    if (*q == '?') {
        q++;
        while (*q && *q != '#') {
            size_t n = strcspn(q, "&#");
            if (n > 7 && strncmp(q, "region=", 7) == 0) {
                cn_free(s->region);
                s->region = cn_strndup(q + 7, n - 7);
            } else if (n) {
                rc = bad_uri(kv, "unknown query parameter (only region= is known)", err);
                goto done;
            }
            q += n;
            if (*q == '&') q++;
        }
    } else if (*q && *q != '#') {
        rc = bad_uri(kv, "unexpected text after the table prefix", err);
        goto done;
    }
    if (!s->region) s->region = env_dup("AWS_REGION");
    if (!s->region) s->region = env_dup("AWS_DEFAULT_REGION");
    s->access_key = env_dup("AWS_ACCESS_KEY_ID");
    s->secret_key = env_dup("AWS_SECRET_ACCESS_KEY");
    s->token = env_dup("AWS_SESSION_TOKEN");
    if (!s->prefix) {
        rc = cn_err_set(err, CN_ENOMEM, "%s: out of memory", kv->uri);
        goto done;
    }
    if (!s->region || !*s->region) {
        rc = cn_err_set(err, CN_ECONFIG, "%s: no AWS region: add ?region=... to the URI or set "
                        "AWS_REGION", kv->uri);
        goto done;
    }
    if (!s->access_key || !s->secret_key) {
        rc = cn_err_set(err, CN_ECONFIG, "%s: DynamoDB needs credentials: set AWS_ACCESS_KEY_ID "
                        "and AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN for temporary ones)",
                        kv->uri);
        goto done;
    }
    char *ep = env_dup("AWS_ENDPOINT_URL_DYNAMODB");
    if (!ep) ep = env_dup("AWS_ENDPOINT_URL");
    if (ep) {
        size_t n = strlen(ep);
        while (n > 0 && ep[n - 1] == '/') ep[--n] = 0;
        if (strncmp(ep, "http://", 7) != 0 && strncmp(ep, "https://", 8) != 0) {
            rc = cn_err_set(err, CN_ECONFIG, "%s: AWS_ENDPOINT_URL=\"%s\": expected "
                            "http://host[:port] or https://host[:port]", kv->uri, ep);
            cn_free(ep);
            goto done;
        }
        const char *h = strstr(ep, "://") + 3;
        if (strchr(h, '/')) {
            rc = cn_err_set(err, CN_ECONFIG, "%s: AWS_ENDPOINT_URL=\"%s\": DynamoDB endpoints "
                            "have no path", kv->uri, ep);
            cn_free(ep);
            goto done;
        }
        s->endpoint = ep;
        s->host = cn_strdup(h);
    } else {
        cn_buf_printf(&b, "https://dynamodb.%s.amazonaws.com", s->region);
        s->endpoint = cn_buf_take(&b);
        s->host = s->endpoint ? cn_strdup(s->endpoint + 8) : NULL;
    }
    cn_buf_reset(&b);
    cn_buf_printf(&b, "%schronon_datasets", s->prefix);
    s->ds_table = cn_buf_take(&b);
    if (!s->endpoint || !s->host || !s->ds_table) {
        rc = cn_err_set(err, CN_ENOMEM, "%s: out of memory", kv->uri);
        goto done;
    }
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        rc = cn_err_set(err, CN_EINTERNAL, "%s: curl_global_init failed", kv->uri);
        goto done;
    }
    /* reaches the service and checks the credentials now, with one clear error */
    rc = ensure_table(kv, s->ds_table, "ds", "S", false, err);
done:
    cn_buf_fini(&b);
    if (rc < 0) {
        dstore_free(s);
        kv->impl = NULL;
    }
    return rc;
}

/* ---- datasets ------------------------------------------------------------------------- */

static int num_of(json_t *attr, uint64_t *v) {
    const char *n = json_string_value(json_object_get(attr, "N"));
    if (!n || !*n) return -1;
    char *e;
    unsigned long long x = strtoull(n, &e, 10);
    if (*e) return -1;
    *v = x;
    return 0;
}

/* The item layout of the data tables this file writes, recorded as f in every dataset
 * item it writes. An item without f is layout 1 (one table P<dataset> for all versions,
 * range key v): reads and in-place writes refuse it, a load replaces it (and drops that
 * table). */
enum { LAYOUT = 2 };

/* 0 when dataset's item (may be NULL: no dataset) is in LAYOUT, else the error. */
static int layout_check(CnKv *kv, const char *dataset, json_t *item, CnErr *err) {
    uint64_t f = 1;
    if (!item || (json_object_get(item, "f") && num_of(json_object_get(item, "f"), &f) < 0) ||
        f == LAYOUT)
        return 0;
    if (f > LAYOUT)
        return cn_err_set(err, CN_EUNSUPPORTED, "%s: dataset %s is in DynamoDB item layout %llu, "
                          "written by a newer chronon-c; this one reads layout %d", kv->uri,
                          dataset, (unsigned long long)f, LAYOUT);
    char *old = table_of(kv, dataset, 0, err);
    if (!old) return err->code;
    int rc = cn_err_set(err, CN_EUNSUPPORTED, "%s: dataset %s was uploaded by an older chronon-c "
                        "(DynamoDB item layout 1: table %s with range key v), which this one does "
                        "not read; upload it again (the upload writes layout %d and drops %s)",
                        kv->uri, dataset, old, LAYOUT, old);
    cn_free(old);
    return rc;
}

/* The current version of dataset, or 0 when it does not exist. strict: an error when the
 * dataset is not in LAYOUT (see layout_check). */
static int get_pointer(CnKv *kv, const char *dataset, uint64_t *version, bool strict, CnErr *err) {
    DStore *s = kv->impl;
    json_t *req = json_pack("{s:s, s:{s:{s:s}}, s:b}", "TableName", s->ds_table, "Key", "ds", "S",
                            dataset, "ConsistentRead", 1);
    json_t *out;
    int rc = req ? ddb(kv, "GetItem", s->ds_table, req, &out, NULL, 0, err) : cn_kv__oom(kv, dataset, err);
    json_decref(req);
    if (rc < 0) return rc;
    json_t *item = json_object_get(out, "Item");
    *version = 0;
    if (item && !json_object_get(item, "v")) item = NULL; /* loads begun, none committed */
    if (item && num_of(json_object_get(item, "v"), version) < 0)
        rc = cn_err_set(err, CN_ECORRUPT, "%s: table %s: item of dataset %s has a bad version v",
                        kv->uri, s->ds_table, dataset);
    if (rc == 0 && strict) rc = layout_check(kv, dataset, item, err);
    json_decref(out);
    return rc;
}

static int next_version(CnKv *kv, const char *dataset, uint64_t *version, CnErr *err) {
    DStore *s = kv->impl;
    json_t *req = json_pack("{s:s, s:{s:{s:s}}, s:s, s:{s:{s:s}}, s:s}", "TableName", s->ds_table,
                            "Key", "ds", "S", COUNTER_KEY, "UpdateExpression", "ADD n :one",
                            "ExpressionAttributeValues", ":one", "N", "1", "ReturnValues",
                            "UPDATED_NEW");
    json_t *out;
    int rc = req ? ddb(kv, "UpdateItem", s->ds_table, req, &out, NULL, 0, err) : cn_kv__oom(kv, dataset, err);
    json_decref(req);
    if (rc < 0) return rc;
    if (num_of(json_object_get(json_object_get(out, "Attributes"), "n"), version) < 0)
        rc = cn_err_set(err, CN_EREMOTE, "%s: table %s: the version counter reply has no n",
                        kv->uri, s->ds_table);
    json_decref(out);
    return rc;
}

/* {"NS": [v...]}, or NULL when out of memory. */
static json_t *vset_json(const uint64_t *v, size_t n) {
    json_t *a = json_array();
    for (size_t i = 0; a && i < n; i++) {
        char b[24];
        snprintf(b, sizeof b, "%llu", (unsigned long long)v[i]);
        if (json_array_append_new(a, json_string(b)) < 0) {
            json_decref(a);
            a = NULL;
        }
    }
    return a ? json_pack("{s:o}", "NS", a) : NULL;
}

/* The versions in the number set attr (absent: none) as *v (OWNED), *n of them. */
static int vset_of(CnKv *kv, const char *dataset, json_t *attr, uint64_t **v, size_t *n, CnErr *err) {
    json_t *a = json_object_get(attr, "NS");
    *v = NULL;
    *n = 0;
    if (!json_array_size(a)) return 0;
    if (!(*v = cn_malloc(json_array_size(a) * sizeof **v))) return cn_kv__oom(kv, dataset, err);
    size_t i;
    json_t *e;
    json_array_foreach(a, i, e) {
        const char *t = json_string_value(e);
        char *end;
        unsigned long long x = t ? strtoull(t, &end, 10) : 0;
        if (t && *t && !*end) (*v)[(*n)++] = x;
    }
    return 0;
}

/* UpdateItem of dataset's item: expr under cond (NULL: none) with the attribute values
 * vals (stolen). ret: ReturnValues (NULL: NONE); *attrs (may be NULL) gets its
 * Attributes. Returns 1 when cond failed, else 0 or the error. */
static int item_update(CnKv *kv, const char *dataset, const char *expr, const char *cond, json_t *vals,
                       const char *ret, json_t **attrs, CnErr *err) {
    DStore *s = kv->impl;
    char type[128];
    json_t *req = json_pack("{s:s, s:{s:{s:s}}, s:s, s:o}", "TableName", s->ds_table, "Key", "ds", "S",
                            dataset, "UpdateExpression", expr, "ExpressionAttributeValues", vals);
    if (req && cond) json_object_set_new(req, "ConditionExpression", json_string(cond));
    if (req && ret) json_object_set_new(req, "ReturnValues", json_string(ret));
    json_t *out = NULL;
    CnErr e = CN_ERR_INIT;
    int rc = req ? ddb(kv, "UpdateItem", s->ds_table, req, &out, type, sizeof type, &e)
                 : cn_kv__oom(kv, dataset, &e);
    json_decref(req);
    if (attrs) *attrs = rc == 0 ? json_incref(json_object_get(out, "Attributes")) : NULL;
    json_decref(out);
    if (rc < 0 && cond && !strcmp(type, "ConditionalCheckFailedException")) {
        cn_err_clear(&e);
        return 1;
    }
    if (rc < 0) *err = e;
    return rc;
}

/* A load of version begins: it joins the item's set o of loads whose tables exist or may
 * (a commit drops those of loads that can no longer commit, crashed ones too, without
 * listing tables). *seen: the dataset's version then (0: none). */
static int open_load(CnKv *kv, const char *dataset, uint64_t version, uint64_t *seen, CnErr *err) {
    json_t *vals = json_pack("{s:o}", ":mine", vset_json(&version, 1)), *item = NULL;
    int rc = vals ? item_update(kv, dataset, "ADD o :mine", NULL, vals, "ALL_NEW", &item, err)
                  : cn_kv__oom(kv, dataset, err);
    *seen = 0;
    if (rc == 0 && json_object_get(item, "v") && num_of(json_object_get(item, "v"), seen) < 0)
        rc = cn_err_set(err, CN_ECORRUPT, "%s: dataset %s: its item has a bad version v", kv->uri, dataset);
    json_decref(item);
    return rc;
}

/* Best effort: version's load ended without a flip (its table dropped or never made). */
static void close_load(CnKv *kv, const char *dataset, uint64_t version) {
    json_t *vals = json_pack("{s:o}", ":mine", vset_json(&version, 1));
    CnErr e = CN_ERR_INIT;
    if (vals && item_update(kv, dataset, "DELETE o :mine", "attribute_exists(ds)", vals, NULL, NULL, &e) < 0)
        cn_log(CN_LOG_WARN, "%s (a later commit drops that version)", cn_err_msg(&e));
    cn_err_clear(&e);
}

/* Flips dataset's item to version (begun with open_load) unless a newer one is there
 * (CN_ECONFLICT); the version replaced becomes p. create_only: only when the dataset has
 * no version yet (returns 1 when it had). *old (may be NULL): the item before. */
static int put_pointer(CnKv *kv, const char *dataset, uint64_t version, bool create_only,
                       json_t **old, CnErr *err) {
    char vs[24], f[8];
    snprintf(vs, sizeof vs, "%llu", (unsigned long long)version);
    snprintf(f, sizeof f, "%d", LAYOUT);
    json_t *vals = json_pack("{s:{s:s}, s:{s:s}, s:{s:s}, s:o}", ":new", "N", vs, ":f", "N", f, ":zero", "N",
                             "0", ":mine", vset_json(&version, 1));
    int rc = vals ? item_update(kv, dataset,
                                create_only ? "SET v = :new, f = :f, p = :zero DELETE o :mine"
                                            : "SET v = :new, f = :f, p = if_not_exists(v, :zero) DELETE o :mine",
                                create_only ? "attribute_not_exists(v)" : "attribute_not_exists(v) OR v < :new",
                                vals, "ALL_OLD", old, err)
                  : cn_kv__oom(kv, dataset, err);
    if (rc == 1 && !create_only) {
        uint64_t cur = 0;
        CnErr e2 = CN_ERR_INIT;
        get_pointer(kv, dataset, &cur, false, &e2);
        cn_err_clear(&e2);
        return cn_err_set(err, CN_ECONFLICT, "%s: dataset %s: a newer load (version %llu) was "
                          "committed while version %llu was loading", kv->uri, dataset,
                          (unsigned long long)cur, (unsigned long long)version);
    }
    return rc;
}

/* DeleteTable (a table that is not there is fine); wait: until it is gone, so that
 * creating it again finds no DELETING table. */
static int drop_table(CnKv *kv, const char *table, bool wait, CnErr *err) {
    char type[128];
    json_t *out = NULL, *req = json_pack("{s:s}", "TableName", table);
    CnErr e = CN_ERR_INIT;
    int rc = ddb(kv, "DeleteTable", table, req, &out, type, sizeof type, &e);
    json_decref(req);
    json_decref(out);
    if (rc < 0 && strcmp(type, "ResourceNotFoundException") != 0) {
        *err = e;
        return rc;
    }
    cn_err_clear(&e);
    for (int i = 0; wait && rc == 0 && i < 600; i++) {
        req = json_pack("{s:s}", "TableName", table);
        CnErr e3 = CN_ERR_INIT;
        int r = ddb(kv, "DescribeTable", table, req, &out, type, sizeof type, &e3);
        json_decref(req);
        json_decref(out);
        cn_err_clear(&e3);
        if (r < 0) break;
        sleep_ms(100);
    }
    return 0;
}

/* Best effort, for a begun version that will not be flipped to: drops its table (NULL:
 * never named) and then takes the version out of o. A table left behind stays in o, for
 * a later commit to drop. 0, or the DeleteTable error in *e. */
static int discard_version(CnKv *kv, const char *dataset, uint64_t version, const char *table, CnErr *e) {
    int rc = table ? drop_table(kv, table, false, e) : 0;
    if (rc == 0) close_load(kv, dataset, version);
    return rc;
}

/* Begins a new version of dataset: its number (*version), in o (open_load: *seen, the
 * version current then, when that reply came at *seen_at), and its table, created and
 * ACTIVE (*table, OWNED). A failure after open_load discards the version. */
static int begin_version(CnKv *kv, const char *dataset, uint64_t *version, uint64_t *seen, uint64_t *seen_at,
                         char **table, CnErr *err) {
    *table = NULL;
    int rc = next_version(kv, dataset, version, err);
    if (rc == 0) rc = open_load(kv, dataset, *version, seen, err);
    if (rc < 0) return rc;
    *seen_at = mono_ns();
    char *t = table_of(kv, dataset, *version, err);
    rc = t ? ensure_table(kv, t, "k", "B", true, err) : err->code;
    if (rc < 0) {
        CnErr e = CN_ERR_INIT;
        discard_version(kv, dataset, *version, t, &e);
        cn_err_clear(&e);
        cn_free(t);
        return rc;
    }
    *table = t;
    return 0;
}

/* Drops the tables of dataset's versions 1..upto (ListTables, every page: the order of
 * the names is not promised), none before the monotonic time not_before (0: at once). */
static int drop_versions(CnKv *kv, const char *dataset, uint64_t upto, bool wait, uint64_t not_before,
                         CnErr *err) {
    char *stem = table_of(kv, dataset, TABLE_STEM, err);
    if (!stem) return err->code;
    size_t sl = strlen(stem);
    json_t *start = NULL;
    int rc = 0;
    do {
        json_t *req = json_pack("{s:i}", "Limit", 100), *out = NULL;
        if (req && start) json_object_set(req, "ExclusiveStartTableName", start);
        json_decref(start);
        start = NULL;
        rc = req ? ddb(kv, "ListTables", stem, req, &out, NULL, 0, err) : cn_kv__oom(kv, dataset, err);
        json_decref(req);
        size_t i;
        json_t *t;
        json_array_foreach(json_object_get(out, "TableNames"), i, t) {
            const char *name = json_string_value(t);
            if (rc < 0 || !name || strncmp(name, stem, sl) != 0 || !name[sl] ||
                strspn(name + sl, "0123456789") != strlen(name + sl))
                continue;
            if (strtoull(name + sl, NULL, 10) > upto) continue;
            sleep_until(not_before);
            rc = drop_table(kv, name, wait, err);
        }
        start = rc == 0 ? json_incref(json_object_get(out, "LastEvaluatedTableName")) : NULL;
        json_decref(out);
    } while (rc == 0 && start);
    json_decref(start);
    cn_free(stem);
    return rc;
}

/* Removes what a layout-1 store kept of dataset (replaced by a load, or dropped): its
 * table and, in the datasets table, the key lists of version ("<dataset>\x02<version>.<i>")
 * and the set of open loads ("<dataset>\x02open"). */
static int legacy_drop(CnKv *kv, const char *dataset, uint64_t version, bool wait, CnErr *err) {
    DStore *s = kv->impl;
    char *table = table_of(kv, dataset, 0, err);
    int rc = table ? drop_table(kv, table, wait, err) : err->code;
    cn_free(table);
    for (uint32_t i = 0; rc == 0; i++) {
        CnBuf name = CN_BUF_INIT;
        cn_buf_printf(&name, "%s\x02", dataset);
        if (i == 0) cn_buf_puts(&name, "open");
        else cn_buf_printf(&name, "%llu.%u", (unsigned long long)version, i - 1);
        json_t *req = name.oom ? NULL : json_pack("{s:s, s:{s:{s:s}}, s:s}", "TableName", s->ds_table,
                                                  "Key", "ds", "S", name.data, "ReturnValues", "ALL_OLD");
        json_t *out = NULL;
        rc = req ? ddb(kv, "DeleteItem", s->ds_table, req, &out, NULL, 0, err) : cn_kv__oom(kv, dataset, err);
        bool existed = json_object_get(out, "Attributes") != NULL;
        json_decref(req);
        json_decref(out);
        cn_buf_fini(&name);
        if (i > 0 && !existed) break;
    }
    return rc;
}

/* The dataset starts at a fresh version with an empty table. */
static int dynamo_dataset_create(CnKv *kv, const char *dataset, CnErr *err) {
    uint64_t cur, v, at;
    char *table;
    int rc = get_pointer(kv, dataset, &cur, false, err);
    if (rc < 0 || cur) return rc;
    if ((rc = begin_version(kv, dataset, &v, &cur, &at, &table, err)) < 0) return rc;
    rc = put_pointer(kv, dataset, v, true, NULL, err);
    if (rc != 0) { /* failed, or created meanwhile by another handle: the table is nobody's */
        CnErr e = CN_ERR_INIT;
        discard_version(kv, dataset, v, table, &e);
        cn_err_clear(&e);
    }
    cn_free(table);
    return rc < 0 ? rc : 0;
}

static int dynamo_dataset_drop(CnKv *kv, const char *dataset, CnErr *err) {
    DStore *s = kv->impl;
    cn_kv__vc_set(&s->vers, dataset, 0);
    /* an item without v (loads begun, none committed) is no dataset, and stays */
    json_t *req = json_pack("{s:s, s:{s:{s:s}}, s:s, s:s}", "TableName", s->ds_table, "Key", "ds", "S",
                            dataset, "ReturnValues", "ALL_OLD", "ConditionExpression", "attribute_exists(v)");
    json_t *out = NULL;
    char type[128];
    CnErr e = CN_ERR_INIT;
    int rc = req ? ddb(kv, "DeleteItem", s->ds_table, req, &out, type, sizeof type, &e)
                 : cn_kv__oom(kv, dataset, &e);
    json_decref(req);
    if (rc < 0 && !strcmp(type, "ConditionalCheckFailedException")) {
        cn_err_clear(&e);
        return cn_kv__no_dataset(kv, dataset, err);
    }
    if (rc < 0) {
        *err = e;
        return rc;
    }
    json_t *old = json_object_get(out, "Attributes");
    bool existed = old != NULL, legacy = old && !json_object_get(old, "f");
    uint64_t cur = 0;
    if (existed) num_of(json_object_get(old, "v"), &cur);
    json_decref(out);
    if (!existed) return cn_kv__no_dataset(kv, dataset, err);
    /* every version's table (loads that crashed too), and what layout 1 left */
    rc = drop_versions(kv, dataset, UINT64_MAX, true, 0, err);
    if (rc == 0 && legacy) rc = legacy_drop(kv, dataset, cur, true, err);
    return rc;
}

static int cmp_names(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int dynamo_dataset_list(CnKv *kv, CnArena *arena, char ***names, size_t *n, CnErr *err) {
    DStore *s = kv->impl;
    char **out = NULL;
    size_t count = 0, cap = 0;
    json_t *start = NULL;
    int rc = 0;
    do {
        json_t *req = json_pack("{s:s, s:b}", "TableName", s->ds_table, "ConsistentRead", 1);
        if (start) json_object_set(req, "ExclusiveStartKey", start);
        json_decref(start);
        start = NULL;
        json_t *resp;
        rc = ddb(kv, "Scan", s->ds_table, req, &resp, NULL, 0, err);
        json_decref(req);
        if (rc < 0) break;
        json_t *items = json_object_get(resp, "Items");
        size_t i;
        json_t *it;
        json_array_foreach(items, i, it) {
            const char *name = json_string_value(json_object_get(json_object_get(it, "ds"), "S"));
            if (!name || strpbrk(name, "\x01\x02")) continue; /* the counter; layout 1's key lists */
            if (!json_object_get(it, "v")) continue;            /* loads begun, none committed */
            if (count == cap) {
                size_t nc = cap ? cap * 2 : 16;
                char **g = cn_arena_alloc(arena, nc * sizeof *g);
                if (!g) break;
                if (count) memcpy(g, out, count * sizeof *g);
                out = g;
                cap = nc;
            }
            if (!(out[count] = cn_arena_strdup(arena, name))) break;
            count++;
        }
        if (i < json_array_size(items)) rc = cn_err_set(err, CN_ENOMEM, "%s: out of memory", kv->uri);
        start = json_incref(json_object_get(resp, "LastEvaluatedKey"));
        json_decref(resp);
    } while (rc == 0 && start);
    json_decref(start);
    if (rc < 0) return rc;
    if (count) qsort(out, count, sizeof *out, cmp_names);
    *names = out ? out : cn_arena_alloc(arena, sizeof *out);
    *n = count;
    return 0;
}

static int dynamo_dataset_version(CnKv *kv, const char *dataset, uint64_t *version, CnErr *err) {
    int rc = get_pointer(kv, dataset, version, false, err);
    if (rc == 0 && !*version) rc = cn_kv__no_dataset(kv, dataset, err);
    return rc;
}

/* ---- item writes ------------------------------------------------------------------------ */

/* A write of one item: a put (value, part) or a delete of (key, sort). */
typedef struct DWrite {
    const uint8_t *key;
    size_t key_len;
    uint64_t sort;
    const uint8_t *val;     /* put: this part's bytes */
    size_t val_len;
    uint32_t n_parts;       /* put of part 0: how many parts */
    bool del;
} DWrite;

/* An item's key {k: key || part as SORT_BYTES big-endian bytes} (layout 2). One binary
 * hash key and no range key is the raw client's shape; the fixed-size suffix keeps
 * (key, part) one-to-one with k. */
static json_t *key_json(const uint8_t *key, size_t key_len, uint64_t sort) {
    uint8_t buf[MAX_KEY + SORT_BYTES];
    memcpy(buf, key, key_len);
    for (int i = 0; i < SORT_BYTES; i++) buf[key_len + (size_t)i] = (uint8_t)(sort >> (8 * (SORT_BYTES - 1 - i)));
    return json_pack("{s:{s:o}}", "k", "B", b64_json(buf, key_len + SORT_BYTES));
}

/* Splits a decoded k into the user key (its length in *key_len) and the sort value;
 * false when k is too short to be ours. */
static bool key_split(const uint8_t *k, size_t len, size_t *key_len, uint64_t *sort) {
    if (len <= SORT_BYTES) return false;
    *key_len = len - SORT_BYTES;
    *sort = 0;
    for (size_t i = 0; i < SORT_BYTES; i++) *sort = *sort << 8 | k[*key_len + i];
    return true;
}

/* Sends up to BATCH_WRITE writes (distinct item keys) with BatchWriteItem, resending
 * UnprocessedItems with backoff. */
static int batch_write(CnKv *kv, const char *dataset, const char *table, const DWrite *w, size_t n,
                       CnErr *err) {
    json_t *reqs = json_array();
    for (size_t i = 0; reqs && i < n; i++) {
        json_t *item = key_json(w[i].key, w[i].key_len, w[i].sort);
        if (!item) {
            json_decref(reqs);
            reqs = NULL;
            break;
        }
        json_t *r;
        if (w[i].del) {
            r = json_pack("{s:{s:o}}", "DeleteRequest", "Key", item);
        } else {
            if (w[i].val_len) json_object_set_new(item, "d", json_pack("{s:o}", "B", b64_json(w[i].val, w[i].val_len)));
            if (w[i].n_parts > 1) {
                char ns[16];
                snprintf(ns, sizeof ns, "%u", w[i].n_parts);
                json_object_set_new(item, "n", json_pack("{s:s}", "N", ns));
            }
            r = json_pack("{s:{s:o}}", "PutRequest", "Item", item);
        }
        if (!r || json_array_append_new(reqs, r) < 0) {
            json_decref(reqs);
            reqs = NULL;
        }
    }
    if (!reqs) return cn_kv__oom(kv, dataset, err);
    int rc = 0;
    for (uint32_t round = 0;; round++) {
        json_t *req = json_pack("{s:{s:o}}", "RequestItems", table, reqs);
        json_t *out;
        rc = req ? ddb(kv, "BatchWriteItem", table, req, &out, NULL, 0, err) : cn_kv__oom(kv, dataset, err);
        json_decref(req);
        if (rc < 0) break;
        json_t *left = json_object_get(json_object_get(out, "UnprocessedItems"), table);
        reqs = left && json_array_size(left) ? json_incref(left) : NULL;
        json_decref(out);
        if (!reqs) break;
        if (round >= 12) {
            json_decref(reqs);
            rc = cn_err_set(err, CN_EREMOTE, "%s: table %s: BatchWriteItem left %zu items "
                            "unprocessed after %u rounds (throttled)", kv->uri, table,
                            json_array_size(left), round + 1);
            break;
        }
        sleep_ms(CN_MIN((uint64_t)kv->opts.retry_backoff_ms << CN_MIN(round, 8u), (uint64_t)5000));
    }
    return rc;
}

/* Buffers writes, keeping item keys distinct within a batch (BatchWriteItem refuses
 * duplicates): a repeated item key replaces the earlier write, so the last one wins. */
typedef struct DBatch {
    DWrite w[BATCH_WRITE];
    size_t n;
    CnArena mem;            /* copies of keys and values of the pending writes */
} DBatch;

static int batch_flush(CnKv *kv, const char *dataset, const char *table, DBatch *b, CnErr *err) {
    int rc = b->n ? batch_write(kv, dataset, table, b->w, b->n, err) : 0;
    b->n = 0;
    cn_arena_reset(&b->mem);
    return rc;
}

static int batch_add(CnKv *kv, const char *dataset, const char *table, DBatch *b, DWrite w,
                     bool copy, CnErr *err) {
    if (copy) {
        uint8_t *k = cn_arena_alloc(&b->mem, w.key_len);
        uint8_t *v = w.val_len ? cn_arena_alloc(&b->mem, w.val_len) : NULL;
        if (!k || (w.val_len && !v)) return cn_kv__oom(kv, dataset, err);
        memcpy(k, w.key, w.key_len);
        if (w.val_len) memcpy(v, w.val, w.val_len);
        w.key = k;
        w.val = v;
    }
    for (size_t i = 0; i < b->n; i++)
        if (b->w[i].sort == w.sort && b->w[i].key_len == w.key_len &&
            !memcmp(b->w[i].key, w.key, w.key_len)) {
            b->w[i] = w;
            return 0;
        }
    b->w[b->n++] = w;
    return b->n == BATCH_WRITE ? batch_flush(kv, dataset, table, b, err) : 0;
}

/* Adds the writes of one (key, value) put: part 0 and any further parts. */
static int batch_put(CnKv *kv, const char *dataset, const char *table, DBatch *b, const void *key,
                     size_t key_len, const void *val, size_t val_len, bool copy, CnErr *err) {
    uint32_t parts = val_len <= PART_BYTES ? 1 : (uint32_t)((val_len + PART_BYTES - 1) / PART_BYTES);
    if (parts >= MAX_PARTS) {
        char kr[CN_KV_KEY_REPR_MAX];
        return cn_err_set(err, CN_ELIMIT, "%s: dataset %s: key %s: value of %zu bytes is over "
                          "the %zu bytes this backend stores", kv->uri, dataset,
                          cn_kv_key_repr(key, key_len, kr, sizeof kr), val_len,
                          PART_BYTES * (MAX_PARTS - 1));
    }
    for (uint32_t p = 0; p < parts; p++) {
        size_t off = (size_t)p * PART_BYTES, len = CN_MIN(PART_BYTES, val_len - off);
        DWrite w = {key, key_len, p, (const uint8_t *)val + off, len,
                    p == 0 ? parts : 0, false};
        int rc = batch_add(kv, dataset, table, b, w, copy, err);
        if (rc < 0) return rc;
    }
    return 0;
}

/* ---- reads ------------------------------------------------------------------------------ */

typedef struct DKey {
    const uint8_t *key;
    size_t len;
    size_t idx;             /* position in the caller's array */
} DKey;

static int dkey_cmp(const void *a, const void *b) {
    const DKey *x = a, *y = b;
    return cn_bytes_cmp(x->key, x->len, y->key, y->len);
}

/* BatchGetItem of items (sorted, distinct keys) of parts sorts[i]; calls back
 * found(ud, i, item) per item found. probe (may be NULL): its dataset's pointer item is
 * read in the first request too (BatchGetItem reads from several tables), setting
 * probe->ver (0: no such dataset). *gone: the error was ResourceNotFoundException (the
 * table is not there: a version deleted after a flip). */
typedef int (*FoundFn)(void *ud, size_t i, json_t *item, CnErr *err);

typedef struct DProbe {
    const char *dataset;
    uint64_t ver;
} DProbe;

static int batch_get(CnKv *kv, const char *dataset, const char *table, const DKey *keys,
                     const uint64_t *sorts, size_t n, FoundFn found, void *ud, DProbe *probe,
                     bool *gone, CnErr *err) {
    DStore *s = kv->impl;
    char type[128] = "";
    int rc = 0;
    size_t m;
    for (size_t first = 0; rc == 0 && first < n; first += m) {
        /* BATCH_GET counts the items of all tables: the probe takes one */
        m = CN_MIN((size_t)BATCH_GET - (probe && first == 0), n - first);
        json_t *klist = json_array();
        for (size_t i = 0; klist && i < m; i++)
            if (json_array_append_new(klist, key_json(keys[first + i].key, keys[first + i].len,
                                                      sorts[first + i])) < 0) {
                json_decref(klist);
                klist = NULL;
            }
        json_t *pending = klist ? json_pack("{s:{s:o, s:b}}", table, "Keys", klist, "ConsistentRead", 1) : NULL;
        if (pending && probe && first == 0 &&
            json_object_set_new(pending, s->ds_table,
                                json_pack("{s:[{s:{s:s}}], s:b}", "Keys", "ds", "S",
                                          probe->dataset, "ConsistentRead", 1)) < 0) {
            json_decref(pending);
            pending = NULL;
        }
        if (!pending) return cn_kv__oom(kv, dataset, err);
        for (uint32_t round = 0; rc == 0 && pending; round++) {
            json_t *req = json_pack("{s:o}", "RequestItems", pending);
            json_t *out;
            rc = req ? ddb(kv, "BatchGetItem", table, req, &out, type, sizeof type, err)
                     : cn_kv__oom(kv, dataset, err);
            json_decref(req);
            pending = NULL;
            if (rc < 0) *gone = !strcmp(type, "ResourceNotFoundException");
            if (rc < 0) break;
            json_t *ptr = probe ? json_array_get(json_object_get(json_object_get(out, "Responses"),
                                                                 s->ds_table), 0) : NULL;
            if (ptr && !json_object_get(ptr, "v")) ptr = NULL; /* no version committed */
            if (ptr && num_of(json_object_get(ptr, "v"), &probe->ver) < 0)
                rc = cn_err_set(err, CN_ECORRUPT, "%s: table %s: item of dataset %s has a bad "
                                "version v", kv->uri, s->ds_table, probe->dataset);
            if (ptr && rc == 0) rc = layout_check(kv, probe->dataset, ptr, err);
            json_t *items = json_object_get(json_object_get(out, "Responses"), table);
            size_t i;
            json_t *it;
            json_array_foreach(items, i, it) {
                if (rc < 0) break;
                const char *kb = json_string_value(json_object_get(json_object_get(it, "k"), "B"));
                if (!kb) continue;
                /* find the key: decode into a scratch buffer, binary search */
                uint8_t kbuf[MAX_KEY + SORT_BYTES + 3];
                size_t kl = strlen(kb), ukl = 0;
                uint64_t sort = 0;
                long dl = kl / 4 * 3 <= sizeof kbuf ? b64_decode_into(kbuf, kb, kl) : -1;
                if (dl < 0 || !key_split(kbuf, (size_t)dl, &ukl, &sort)) continue;
                DKey want = {kbuf, ukl, 0};
                const DKey *hit = bsearch(&want, keys + first, m, sizeof *keys, dkey_cmp);
                if (hit && sorts[hit - keys] == sort) rc = found(ud, (size_t)(hit - keys), it, err);
                if (rc < 0) break;
            }
            json_t *left = json_object_get(out, "UnprocessedKeys");
            if (rc == 0 && left && json_object_size(left)) {
                if (round >= 12)
                    rc = cn_err_set(err, CN_EREMOTE, "%s: table %s: BatchGetItem left keys "
                                    "unprocessed after %u rounds (throttled)", kv->uri, table,
                                    round + 1);
                else {
                    pending = json_incref(left);
                    sleep_ms(CN_MIN((uint64_t)kv->opts.retry_backoff_ms << CN_MIN(round, 8u),
                                    (uint64_t)5000));
                }
            }
            json_decref(out);
        }
        json_decref(pending);
    }
    return rc;
}

typedef struct GetCtx {
    CnKv *kv;
    const char *dataset;
    CnArena *arena;
    CnKvSlice *values;      /* the caller's */
    const DKey *keys;       /* distinct, sorted */
    uint32_t *parts;        /* per distinct key: parts of its value (0 = missing) */
    size_t *total;          /* per distinct key: full length */
    uint8_t **buf;          /* per distinct key: the assembled value (arena) */
    size_t found;
} GetCtx;

static int found_part0(void *ud, size_t i, json_t *item, CnErr *err) {
    GetCtx *g = ud;
    uint64_t parts = 1;
    if (json_object_get(item, "n") && num_of(json_object_get(item, "n"), &parts) < 0) parts = 1;
    const char *d = json_string_value(json_object_get(json_object_get(item, "d"), "B"));
    size_t len = 0;
    uint8_t *v = d ? b64_decode(g->arena, d, strlen(d), &len) : (uint8_t *)cn_kv__empty;
    if (!v) return cn_kv__oom(g->kv, g->dataset, err);
    g->parts[i] = (uint32_t)parts;
    g->found++;
    if (parts == 1) {
        g->values[g->keys[i].idx] = (CnKvSlice){v, len};
        return 0;
    }
    /* room for every part; the later ones are PART_BYTES each but the last */
    g->buf[i] = cn_arena_alloc(g->arena, (size_t)parts * PART_BYTES);
    if (!g->buf[i]) return cn_kv__oom(g->kv, g->dataset, err);
    memcpy(g->buf[i], v, len);
    g->total[i] = len;
    return 0;
}

typedef struct PartCtx {
    GetCtx *g;
    const size_t *owner;    /* per part request: the distinct key's index */
    const uint64_t *sorts;  /* per part request: the part number */
} PartCtx;

static int found_part(void *ud, size_t i, json_t *item, CnErr *err) {
    PartCtx *p = ud;
    GetCtx *g = p->g;
    size_t o = p->owner[i];
    const char *d = json_string_value(json_object_get(json_object_get(item, "d"), "B"));
    size_t len = 0;
    CnArena tmp;
    cn_arena_init(&tmp, 0);
    uint8_t *v = d ? b64_decode(&tmp, d, strlen(d), &len) : NULL;
    int rc = 0;
    uint64_t part = p->sorts[i];
    if (!v || len > PART_BYTES) rc = cn_err_set(err, CN_ECORRUPT, "%s: dataset %s: part %llu of "
                                                "a value is damaged", g->kv->uri, g->dataset,
                                                (unsigned long long)part);
    else {
        memcpy(g->buf[o] + part * PART_BYTES, v, len);
        g->total[o] += len;
    }
    cn_arena_fini(&tmp);
    return rc;
}

/* One read of keys in a version's table: values set for found keys. OUT *all_found.
 * probe, *gone: as for batch_get (probe read with the first request). */
static int read_version(CnKv *kv, const char *dataset, const char *table, const DKey *dk, size_t nd,
                        CnKvSlice *values, size_t n, CnArena *arena, DProbe *probe,
                        bool *all_found, bool *gone, CnErr *err) {
    int rc = 0;
    *gone = false;
    uint64_t *sorts = cn_calloc(nd + 1, sizeof *sorts); /* part 0 of every key */
    uint32_t *parts = cn_calloc(nd + 1, sizeof *parts);
    size_t *total = cn_calloc(nd + 1, sizeof *total);
    uint8_t **buf = cn_calloc(nd + 1, sizeof *buf);
    DKey *pk = NULL;
    uint64_t *psorts = NULL;
    size_t *owner = NULL;
    if (!sorts || !parts || !total || !buf) {
        rc = cn_kv__oom(kv, dataset, err);
        goto done;
    }
    for (size_t i = 0; i < n; i++) values[i] = (CnKvSlice){NULL, 0};
    GetCtx g = {kv, dataset, arena, values, dk, parts, total, buf, 0};
    rc = batch_get(kv, dataset, table, dk, sorts, nd, found_part0, &g, probe, gone, err);
    if (rc < 0) goto done;
    *all_found = g.found == nd;
    /* values in several parts: fetch parts 1.. of each (key order kept: sorted) */
    size_t np = 0;
    for (size_t i = 0; i < nd; i++)
        if (parts[i] > 1) np += parts[i] - 1;
    if (np) {
        pk = cn_malloc(np * sizeof *pk);
        psorts = cn_malloc(np * sizeof *psorts);
        owner = cn_malloc(np * sizeof *owner);
        if (!pk || !psorts || !owner) {
            rc = cn_kv__oom(kv, dataset, err);
            goto done;
        }
        /* one request list per part number keeps keys distinct within each BatchGetItem */
        for (uint32_t part = 1; rc == 0; part++) {
            size_t m = 0;
            for (size_t i = 0; i < nd; i++)
                if (parts[i] > part) {
                    pk[m] = dk[i];
                    psorts[m] = part;
                    owner[m++] = i;
                }
            if (!m) break;
            PartCtx pc = {&g, owner, psorts};
            rc = batch_get(kv, dataset, table, pk, psorts, m, found_part, &pc, NULL, gone, err);
        }
        for (size_t i = 0; rc == 0 && i < nd; i++)
            if (parts[i] > 1) {
                size_t want_min = (size_t)(parts[i] - 1) * PART_BYTES + 1;
                if (total[i] < want_min) { /* a part vanished: a flip dropped this version */
                    *all_found = false;
                    continue;
                }
                values[dk[i].idx] = (CnKvSlice){buf[i], total[i]};
            }
    }
done:
    cn_free(sorts);
    cn_free(parts);
    cn_free(total);
    cn_free(buf);
    cn_free(pk);
    cn_free(psorts);
    cn_free(owner);
    return rc;
}

/* A multi-get in one round trip when all keys are found: the BatchGetItem of the items
 * at the version last seen current (cached) also reads the dataset's pointer item.
 * Versions only grow, and a version's table is dropped only after the pointer has
 * left it; so when the pointer read in the same request still names that version,
 * every item found is that version's value, read while it was current. A pointer
 * that moved means a flip: read again at the new version (once per flip and reader).
 * A key found missing could instead have gone with a table dropped after a flip that
 * the pointer read (in the same request, in no set order) did not see: then a GetItem
 * of the pointer after the reads decides (unchanged: really missing; moved: read
 * again). A table that is not there (ResourceNotFoundException, which fails the whole
 * request, pointer read included) is decided the same way.
 * No cached version: one GetItem of the pointer first. */
/* The read lease (see "Reads under a lease" in the header): a version confirmed current
 * by a pointer read sent at time t is read without the pointer until t + LEASE, and
 * such a read counts only if it ended before t + ACCEPT; a commit drops a version only
 * GRACE after a pointer read found it replaced. ACCEPT < GRACE is what makes the lease
 * safe. (A lease read that ends after t + ACCEPT is read again with the pointer: one
 * begun as the lease ends has 30 ms.) LEASE bounds how long another handle may serve a
 * replaced version, and its inverse is the rate of the multi-gets that carry the
 * pointer (slower: two tables in one request): 100 ms made one fetch in a hundred carry
 * it at a fetch a millisecond, which set the p99 on dynalite; 200 ms halves that.
 * GRACE stays 250 ms, which a load shorter than GRACE waits out before its drops (see
 * the loads): 300 ms made moto's 2k-key replacing upload wait. */
enum { LEASE_MS = 200, ACCEPT_MS = 230, GRACE_MS = 250 };

static int dynamo_multi_get(CnKv *kv, const char *dataset, const CnKvSlice *keys, size_t n,
                            CnKvSlice *values, CnArena *arena, CnErr *err) {
    DStore *s = kv->impl;
    uint64_t version = 0, at = 0;
    int rc = 0;
    bool cached = cn_kv__vc_get_at(&s->vers, dataset, &version, &at);
    if (!cached) {
        at = mono_ns();
        rc = get_pointer(kv, dataset, &version, true, err);
        if (rc < 0) return rc;
        if (!version) return cn_kv__no_dataset(kv, dataset, err);
        cn_kv__vc_confirm(&s->vers, dataset, version, at);
    }
    char *table = NULL;
    DKey *dk = cn_malloc((n + 1) * sizeof *dk);
    size_t *dup_of = cn_malloc((n + 1) * sizeof *dup_of);
    if (!dk || !dup_of) {
        rc = cn_kv__oom(kv, dataset, err);
        goto done;
    }
    for (size_t i = 0; i < n; i++) dk[i] = (DKey){keys[i].data, keys[i].len, i};
    qsort(dk, n, sizeof *dk, dkey_cmp);
    /* distinct keys; a repeat remembers the first index of its key */
    size_t nd = 0;
    for (size_t i = 0; i < n; i++) {
        if (nd && dkey_cmp(&dk[nd - 1], &dk[i]) == 0) {
            dup_of[dk[i].idx] = dk[nd - 1].idx;
            continue;
        }
        dup_of[dk[i].idx] = SIZE_MAX;
        dk[nd++] = dk[i];
    }
    for (int attempt = 0;; attempt++) {
        bool all = true, gone = false;
        cn_free(table);
        if (!(table = table_of(kv, dataset, version, err))) {
            rc = err->code;
            break;
        }
        if (at && mono_ns() - at < (uint64_t)LEASE_MS * 1000000u) {
            /* under the lease: the items alone. Whatever was found or missing is the
             * version's own, if the read ended before a commit could start deleting it. */
            CnErr le = CN_ERR_INIT;
            rc = read_version(kv, dataset, table, dk, nd, values, n, arena, NULL, &all, &gone, &le);
            if (rc == 0 && mono_ns() - at < (uint64_t)ACCEPT_MS * 1000000u) break;
            cn_err_clear(&le); /* too slow, or failed (a dropped table): ask with the pointer */
            at = 0;
        }
        DProbe probe = {dataset, 0};
        cn_log(CN_LOG_DEBUG, "dynamodb: multi-get of dataset %s: version %llu read with the pointer", dataset,
               (unsigned long long)version);
        uint64_t sent = mono_ns();
        CnErr re = CN_ERR_INIT;
        rc = read_version(kv, dataset, table, dk, nd, values, n, arena, &probe, &all, &gone, &re);
        if (rc < 0 && !gone) {
            *err = re;
            break;
        }
        uint64_t now = probe.ver;
        if (rc < 0) {
            /* the version's table is gone (the request read no pointer either): a flip
             * deleted it, unless the pointer still names it */
            sent = mono_ns();
            rc = get_pointer(kv, dataset, &now, true, err);
            if (rc < 0) break;
            if (now == version) {
                *err = re;
                rc = re.code;
                break;
            }
        } else if (now == version) {
            if (all) {
                cn_kv__vc_confirm(&s->vers, dataset, version, sent);
                break;
            }
            /* something was missing: fine, unless the version moved since; then read
             * the new version */
            sent = mono_ns();
            rc = get_pointer(kv, dataset, &now, true, err);
            if (rc < 0) break;
            if (now == version) {
                cn_kv__vc_confirm(&s->vers, dataset, version, sent);
                break;
            }
        }
        if (!now) {
            cn_kv__vc_set(&s->vers, dataset, 0);
            rc = cn_kv__no_dataset(kv, dataset, err);
            break;
        }
        if (attempt >= 8) {
            rc = cn_err_set(err, CN_ECONFLICT, "%s: dataset %s: the version kept changing during "
                            "a multi-get", kv->uri, dataset);
            break;
        }
        /* the pointer read (sent after `sent`) found `now` current: a confirmation */
        cn_kv__vc_confirm(&s->vers, dataset, now, sent);
        version = now;
        at = sent;
    }
    for (size_t i = 0; rc == 0 && i < n; i++)
        if (dup_of[i] != SIZE_MAX) values[i] = values[dup_of[i]];
done:
    if (rc < 0)
        for (size_t i = 0; i < n; i++) values[i] = (CnKvSlice){NULL, 0};
    cn_free(dk);
    cn_free(dup_of);
    cn_free(table);
    return rc;
}

/* ---- in-place writes -------------------------------------------------------------------- */

static int write_current(CnKv *kv, const char *dataset, const CnKvSlice *keys,
                         const CnKvSlice *values, size_t n, CnErr *err) {
    uint64_t version;
    int rc = get_pointer(kv, dataset, &version, true, err);
    if (rc < 0) return rc;
    if (!version) return cn_kv__no_dataset(kv, dataset, err);
    /* the current version's table (writers are serialised, so no flip deletes it meanwhile) */
    char *table = table_of(kv, dataset, version, err);
    if (!table) return err->code;
    DBatch *b = cn_calloc(1, sizeof *b);
    if (!b) {
        cn_free(table);
        return cn_kv__oom(kv, dataset, err);
    }
    cn_arena_init(&b->mem, 0);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        if (values) {
            rc = batch_put(kv, dataset, table, b, keys[i].data, keys[i].len, values[i].data,
                           values[i].len, false, err);
        } else { /* parts beyond 0 become unreachable; they go with the table */
            DWrite w = {keys[i].data, keys[i].len, 0, NULL, 0, 0, true};
            rc = batch_add(kv, dataset, table, b, w, false, err);
        }
    }
    if (rc == 0) rc = batch_flush(kv, dataset, table, b, err);
    cn_arena_fini(&b->mem);
    cn_free(b);
    cn_free(table);
    return rc;
}

static int dynamo_multi_put(CnKv *kv, const char *dataset, const CnKvSlice *keys,
                            const CnKvSlice *values, size_t n, CnErr *err) {
    return write_current(kv, dataset, keys, values, n, err);
}

static int dynamo_multi_delete(CnKv *kv, const char *dataset, const CnKvSlice *keys, size_t n,
                               CnErr *err) {
    return write_current(kv, dataset, keys, NULL, n, err);
}

/* ---- loads ------------------------------------------------------------------------------- */

/* A load writes version v into a table of its own, P<dataset>--v, created by load_begin
 * after it added v to the dataset item's set o (open loads: their tables exist or may).
 * That update also returns the dataset's version `seen`, current when it returned at
 * `seen_at`. The commit flips the item to v (the version replaced becomes p, v leaves o),
 * then drops whole tables: those of the versions below `seen`, which were replaced (or
 * lost their flip) before seen_at, once GRACE_MS has passed since seen_at (only a load
 * shorter than that waits, for the rest). A reader under a lease on such a version
 * confirmed it before its replacement landed, so its accepted reads ended before
 * seen_at + ACCEPT_MS.
 * Which tables there are comes from the item the flip returned, not from ListTables
 * (which lists the account's every table, and costs dynalite a scan of all its items):
 * its p (the version the previous commit replaced), its o below `seen` (loads that can
 * no longer commit: crashed, or aborted without dropping their table) and its x
 * (replaced versions whose drop was left to a later commit). A replaced version that is
 * not below `seen` (a commit landed during this load), or whose DeleteTable failed, goes
 * into x; dropped ones leave o and x. An item written before p existed (an older
 * chronon-c) gets one ListTables sweep instead.
 * The version this commit replaces (`seen` itself, usually) is left to the next commit:
 * readers of other handles may hold a lease on it, and waiting GRACE_MS here made every
 * replacing upload that much longer (on dynalite, +49% wall time for 5k keys). The cost
 * is storage: between two uploads a dataset keeps two versions' tables (DynamoDB bills
 * the stored bytes; on-demand tables cost nothing else while unused). Dropping a table
 * costs the server no work per item (on DynamoDB, no write units), where deleting a
 * version's items one by one cost as much as writing them. A version in layout 1 is
 * dropped at once: no reader reads layout 1. */
typedef struct DLoad {
    char *table;            /* OWNED: the version's table */
    uint64_t seen;          /* the dataset's version at begin (0: none) */
    uint64_t seen_at;       /* mono_ns when that read returned */
    DBatch b;
} DLoad;

static int dynamo_load_begin(CnKvLoad *ld, CnErr *err) {
    CnKv *kv = ld->kv;
    uint64_t seen = 0, seen_at = 0;
    char *table;
    int rc = begin_version(kv, ld->dataset, &ld->version, &seen, &seen_at, &table, err);
    if (rc < 0) return rc;
    DLoad *l = cn_calloc(1, sizeof *l);
    if (!l) {
        CnErr e = CN_ERR_INIT;
        discard_version(kv, ld->dataset, ld->version, table, &e);
        cn_err_clear(&e);
        cn_free(table);
        return cn_kv__oom(kv, ld->dataset, err);
    }
    l->table = table;
    l->seen = seen;
    l->seen_at = seen_at;
    cn_arena_init(&l->b.mem, 0);
    ld->impl = l;
    return 0;
}

static int dynamo_load_add(CnKvLoad *ld, const void *key, size_t key_len, const void *value,
                           size_t value_len, CnErr *err) {
    DLoad *l = ld->impl;
    return batch_put(ld->kv, ld->dataset, l->table, &l->b, key, key_len, value, value_len, true, err);
}

static void dload_free(CnKvLoad *ld) {
    DLoad *l = ld->impl;
    if (!l) return;
    cn_arena_fini(&l->b.mem);
    cn_free(l->table);
    cn_free(l);
    ld->impl = NULL;
}

static void dynamo_load_abort(CnKvLoad *ld) {
    DLoad *l = ld->impl;
    CnErr e = CN_ERR_INIT;
    if (l && discard_version(ld->kv, ld->dataset, ld->version, l->table, &e) < 0)
        cn_log(CN_LOG_WARN, "%s", cn_err_msg(&e));
    cn_err_clear(&e);
    dload_free(ld);
}

/* Drops version's table once not_before has passed; false when that failed (logged). */
static bool drop_version(CnKv *kv, const char *dataset, uint64_t version, uint64_t not_before) {
    CnErr e = CN_ERR_INIT;
    char *t = table_of(kv, dataset, version, &e);
    if (t) sleep_until(not_before);
    bool ok = t && drop_table(kv, t, false, &e) == 0;
    if (!ok) cn_log(CN_LOG_WARN, "%s (the next load drops it)", cn_err_msg(&e));
    cn_err_clear(&e);
    cn_free(t);
    return ok;
}

static bool vset_has(const uint64_t *v, size_t n, uint64_t x) {
    for (size_t i = 0; i < n; i++)
        if (v[i] == x) return true;
    return false;
}

/* After the flip of l's version: drops what old (the item before it) says is droppable,
 * and records in the item what is left (see above). Failures only leave tables for a
 * later commit. */
static int drop_replaced(CnKv *kv, const char *dataset, uint64_t mine, const DLoad *l, json_t *old,
                         CnErr *err) {
    uint64_t not_before = l->seen_at + (uint64_t)GRACE_MS * 1000000u, p = 0;
    if (json_object_get(old, "v") && !json_object_get(old, "p"))
        return l->seen > 1 ? drop_versions(kv, dataset, l->seen - 1, false, not_before, err) : 0;
    if (json_object_get(old, "p") && num_of(json_object_get(old, "p"), &p) < 0) p = 0;
    uint64_t *o = NULL, *x = NULL;
    size_t no = 0, nx = 0, ko = 0, kx = 0;
    int rc = vset_of(kv, dataset, json_object_get(old, "o"), &o, &no, err);
    if (rc == 0) rc = vset_of(kv, dataset, json_object_get(old, "x"), &x, &nx, err);
    bool p_in_x = vset_has(x, nx, p);
    /* o[0..ko) and x[0..kx) become the dropped ones */
    for (size_t i = 0; rc == 0 && i < no; i++)
        if (o[i] < l->seen && o[i] != mine && drop_version(kv, dataset, o[i], not_before)) o[ko++] = o[i];
    for (size_t i = 0; rc == 0 && i < nx; i++)
        if (x[i] < l->seen && drop_version(kv, dataset, x[i], not_before)) x[kx++] = x[i];
    bool keep_p = rc == 0 && p && !p_in_x &&
                  !(p < l->seen && drop_version(kv, dataset, p, not_before));
    /* DynamoDB refuses two actions on one attribute in an update: x's removals and its
     * addition (a commit landed during this load) go in two */
    json_t *vals = NULL;
    if (rc == 0 && (ko || kx || keep_p)) {
        CnBuf expr = CN_BUF_INIT;
        vals = json_object();
        if (ko || kx) cn_buf_puts(&expr, "DELETE ");
        if (ko) cn_buf_puts(&expr, "o :o");
        if (ko && kx) cn_buf_puts(&expr, ", ");
        if (kx) cn_buf_puts(&expr, "x :x");
        if (keep_p && !kx) cn_buf_printf(&expr, "%sADD x :p", ko ? " " : "");
        if (vals && ko) json_object_set_new(vals, ":o", vset_json(o, ko));
        if (vals && kx) json_object_set_new(vals, ":x", vset_json(x, kx));
        if (vals && keep_p && !kx) json_object_set_new(vals, ":p", vset_json(&p, 1));
        rc = expr.oom || !vals ? cn_kv__oom(kv, dataset, err)
                               : item_update(kv, dataset, expr.data, "attribute_exists(v)", json_incref(vals),
                                             NULL, NULL, err);
        if (rc >= 0 && keep_p && kx)
            rc = item_update(kv, dataset, "ADD x :p", "attribute_exists(v)",
                             json_pack("{s:o}", ":p", vset_json(&p, 1)), NULL, NULL, err);
        cn_buf_fini(&expr);
    }
    json_decref(vals);
    cn_free(o);
    cn_free(x);
    return rc < 0 ? rc : 0; /* 1: the dataset was dropped meanwhile, with its tables */
}

static int dynamo_load_commit(CnKvLoad *ld, CnErr *err) {
    DLoad *l = ld->impl;
    CnKv *kv = ld->kv;
    json_t *old = NULL;
    int rc = batch_flush(kv, ld->dataset, l->table, &l->b, err);
    uint64_t sent = mono_ns();
    if (rc == 0) rc = put_pointer(kv, ld->dataset, ld->version, false, &old, err);
    if (rc < 0) {
        dynamo_load_abort(ld);
        return rc;
    }
    /* this handle's readers see the new version at once */
    cn_kv__vc_confirm(&((DStore *)kv->impl)->vers, ld->dataset, ld->version, sent);
    /* flipped; dropping older versions can fail without undoing that */
    CnErr gc = CN_ERR_INIT;
    uint64_t prev = 0, f = 1;
    int grc = 0;
    bool legacy = old && num_of(json_object_get(old, "v"), &prev) == 0 && prev < ld->version &&
                  (!json_object_get(old, "f") || (num_of(json_object_get(old, "f"), &f) == 0 && f < LAYOUT));
    if (legacy) grc = legacy_drop(kv, ld->dataset, prev, false, &gc);
    if (grc == 0) grc = drop_replaced(kv, ld->dataset, ld->version, l, old, &gc);
    if (grc < 0) cn_log(CN_LOG_WARN, "%s (old versions stay until the next load)", cn_err_msg(&gc));
    cn_err_clear(&gc);
    json_decref(old);
    dload_free(ld);
    return 0;
}

const CnKvOps cn_kv__dynamodb_ops = {
    .name = "dynamodb",
    .caps = CN_KV_CAP_PERSISTENT,
    .max_key_len = MAX_KEY,
    .open = dynamo_open,
    .close = dynamo_close,
    .dataset_create = dynamo_dataset_create,
    .dataset_drop = dynamo_dataset_drop,
    .dataset_list = dynamo_dataset_list,
    .dataset_version = dynamo_dataset_version,
    .multi_get = dynamo_multi_get,
    .multi_put = dynamo_multi_put,
    .multi_delete = dynamo_multi_delete,
    .load_begin = dynamo_load_begin,
    .load_add = dynamo_load_add,
    .load_commit = dynamo_load_commit,
    .load_abort = dynamo_load_abort,
};
