/* kv_mongo.c: the MongoDB backend, `mongodb://[user:pass@]host[:port][/db][?options]`
 * (and `mongodb+srv://`), over libmongoc with a client pool shared by all threads.
 *
 * Layout (docs/online-store.md, "MongoDB"): one collection per dataset holding documents
 * {k: <binary key>, v: <binary value>, ver: <version>}, indexed on (ver, k). The key is
 * not the `_id`: servers that only take ObjectId `_id`s (CongoDB) work too, and one
 * collection can hold an old and a new version side by side during a load. The
 * collection `chronon_datasets` holds a pointer document per dataset,
 * {dataset, coll, ver}, and the counter {counter: "next_version", next}. A load writes
 * its documents under a fresh version, flips the pointer with one conditional update,
 * then deletes the older versions' documents. Readers read the pointer, then the keys at
 * that version; when some key was missing they read the pointer again, and if it moved
 * (a flip and its clean-up may have overlapped the read) they read again, so a
 * multi-get shows exactly one version. Every call is made idempotent so that transient
 * failures (no server, socket errors) can be retried a bounded number of times. */
#include "base/compat.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <mongoc/mongoc.h>

#include "base/alloc.h"
#include "base/log.h"
#include "base/str.h"
#include "online/kv_int.h"
#include "online/kv_vercache.h"

#define META_COLL "chronon_datasets"
#define DEFAULT_DB "chronon"
#define COUNTER_ID "next_version"
/* MongoDB's document limit; a value must fit with its key and field names. */
#define DOC_MAX ((size_t)16 << 20)
#define DOC_OVERHEAD 64
/* Keys per find / delete command, documents and bytes per insert command: small enough
 * that one command finishes well within a per-request timeout. */
#define GET_BATCH 1000
#define INSERT_DOCS 1000
#define INSERT_BYTES ((size_t)8 << 20)
/* Namespace ("db.collection") limit of MongoDB 4.4 and later. */
#define NS_MAX 255
/* Rereads of a multi-get whose dataset flipped while it read (each needs a new flip). */
#define GET_ROUNDS 8

typedef struct MgStore {
    mongoc_uri_t *uri;
    mongoc_client_pool_t *pool;
    char *db;               /* OWNED: database name */
    CnKvVerCache indexed;   /* collections this handle created the index of (value 1) */
} MgStore;

/* A dataset's pointer document. */
typedef struct MgPtr {
    uint64_t ver;
    char coll[NS_MAX + 1];
} MgPtr;

/* One attempt of a remote call. fn returns 0, a negative CN_E* (err set: a definite
 * answer, not retried) or MG_DRIVER with e filled (retried when transient). */
enum { MG_DRIVER = 1 };
typedef struct MgCtx {
    CnKv *kv;
    MgStore *s;
    mongoc_client_t *client;
    unsigned attempt;
    bson_error_t e;
    CnErr *err;
} MgCtx;
typedef int (*MgFn)(MgCtx *x, void *arg);

static pthread_once_t mongoc_once = PTHREAD_ONCE_INIT;

/* libmongoc's own messages (server selection retries, URI warnings) go to our log at
 * debug level: every failure that matters reaches the caller as a CnErr. */
static void mongoc_log_fn(mongoc_log_level_t level, const char *domain, const char *msg,
                          void *ud) {
    (void)ud;
    cn_log(CN_LOG_DEBUG, "mongoc level=%s domain=%s msg=\"%s\"", mongoc_log_level_str(level),
           domain, msg);
}

static void mongoc_once_init(void) {
    mongoc_log_set_handler(mongoc_log_fn, NULL);
    mongoc_init();
}

static void sleep_ms(uint32_t ms) {
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0) {
    }
}

/* Errors worth another attempt: no server reachable, a broken or timed-out socket, or
 * a server that is stepping down or shutting down. */
static bool transient(const bson_error_t *e) {
    static const uint32_t codes[] = {6, 7, 89, 91, 189, 9001, 10107, 11600, 11602, 13435, 13436};
    if (e->domain == MONGOC_ERROR_STREAM || e->domain == MONGOC_ERROR_SERVER_SELECTION)
        return true;
    for (size_t i = 0; i < CN_ARRAY_LEN(codes); i++)
        if (e->code == codes[i]) return true;
    return false;
}

static int mg_fail(CnKv *kv, const char *ds, const char *what, const bson_error_t *e,
                   CnErr *err) {
    if (ds)
        return cn_err_set(err, CN_EREMOTE, "%s: dataset %s: %s: %s (error domain %u, code %u)",
                          kv->uri, ds, what, e->message, e->domain, e->code);
    return cn_err_set(err, CN_EREMOTE, "%s: %s: %s (error domain %u, code %u)", kv->uri, what,
                      e->message, e->domain, e->code);
}

/* Runs fn with a pooled client, retrying transient driver errors with doubling backoff
 * (options.retries, retry_backoff_ms). Each fn is idempotent, so a retry after a lost
 * reply is harmless. */
static int mg_run(CnKv *kv, const char *ds, const char *what, MgFn fn, void *arg, CnErr *err) {
    MgStore *s = kv->impl;
    uint32_t backoff = kv->opts.retry_backoff_ms;
    for (unsigned attempt = 0;; attempt++) {
        MgCtx x = {.kv = kv, .s = s, .attempt = attempt, .err = err};
        x.client = mongoc_client_pool_pop(s->pool);
        int rc = fn(&x, arg);
        mongoc_client_pool_push(s->pool, x.client);
        if (rc <= 0) return rc;
        if (attempt >= kv->opts.retries || !transient(&x.e)) return mg_fail(kv, ds, what, &x.e, err);
        sleep_ms(backoff);
        backoff = backoff > UINT32_MAX / 2 ? UINT32_MAX : backoff * 2;
    }
}

static mongoc_collection_t *coll_get(MgCtx *x, const char *name) {
    return mongoc_client_get_collection(x->client, x->s->db, name);
}

/* ---- collection names ------------------------------------------------------------------ */

/* The collection of a dataset.
 *  - `<STEM>_BATCH` with STEM of [A-Z0-9_]: lower(STEM). The batch dataset of GroupBy
 *    my_team.user_purchase_features.v1 (MY_TEAM_USER_PURCHASE_FEATURES_V1_BATCH) lives in
 *    `my_team_user_purchase_features_v1`, the GroupBy's output table name.
 *  - every other dataset: "kv." + the name with bytes outside [A-Za-z0-9_] written as
 *    ".xx" (hex): ZIPLINE_METADATA -> kv.ZIPLINE_METADATA, A@2 -> kv.A.402.
 * Both rules are one-to-one and their images are disjoint (only the second has a dot),
 * so two datasets never share a collection; a stem that would name META_COLL takes the
 * second rule. CN_EINVAL when the namespace would exceed NS_MAX. */
static int coll_name(CnKv *kv, const char *ds, char *out, CnErr *err) {
    MgStore *s = kv->impl;
    size_t n = strlen(ds), sfx = strlen(CN_KV_BATCH_SUFFIX);
    bool batch = n > sfx && strcmp(ds + n - sfx, CN_KV_BATCH_SUFFIX) == 0;
    for (size_t i = 0; batch && i < n - sfx; i++) {
        char c = ds[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_')) batch = false;
    }
    if (batch && n - sfx == strlen(META_COLL) && strncasecmp(ds, META_COLL, n - sfx) == 0)
        batch = false;
    size_t cap = NS_MAX - strlen(s->db) - 1, o = 0;
    char tmp[3 * CN_KV_DATASET_MAX + 4];
    if (batch) {
        for (size_t i = 0; i < n - sfx; i++)
            tmp[o++] = (char)(ds[i] >= 'A' && ds[i] <= 'Z' ? ds[i] - 'A' + 'a' : ds[i]);
    } else {
        static const char hex[] = "0123456789abcdef";
        memcpy(tmp, "kv.", 3);
        o = 3;
        for (size_t i = 0; i < n; i++) {
            unsigned char c = (unsigned char)ds[i];
            if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_') {
                tmp[o++] = (char)c;
            } else {
                tmp[o++] = '.';
                tmp[o++] = hex[c >> 4];
                tmp[o++] = hex[c & 15];
            }
        }
    }
    if (o > cap)
        return cn_err_set(err, CN_EINVAL, "%s: dataset %.60s...: its collection name would be %zu "
                          "bytes; MongoDB namespaces (database \"%s\" + collection) hold at most %d",
                          kv->uri, ds, o, s->db, NS_MAX);
    memcpy(out, tmp, o);
    out[o] = '\0';
    return 0;
}

/* ---- BSON helpers ---------------------------------------------------------------------- */

static void append_bin(bson_t *b, const char *field, const void *data, size_t len) {
    /* BSON binary lengths are 32-bit; kv.c and the value checks keep len < DOC_MAX. */
    static const uint8_t none[1] = {0};
    bson_append_binary(b, field, -1, BSON_SUBTYPE_BINARY, len ? data : none, (uint32_t)len);
}

static bool iter_u64(const bson_t *doc, const char *field, uint64_t *out) {
    bson_iter_t it;
    if (!bson_iter_init_find(&it, doc, field) || !BSON_ITER_HOLDS_NUMBER(&it)) return false;
    int64_t v = bson_iter_as_int64(&it);
    if (v < 0) return false;
    *out = (uint64_t)v;
    return true;
}

static int check_value(CnKv *kv, const char *ds, const void *key, size_t key_len, size_t val_len,
                       CnErr *err) {
    if (key_len + val_len + DOC_OVERHEAD <= DOC_MAX) return 0;
    char r[CN_KV_KEY_REPR_MAX];
    return cn_err_set(err, CN_ELIMIT, "%s: dataset %s: key %s: value of %zu bytes does not fit "
                      "in a MongoDB document (16 MiB with its key)", kv->uri, ds,
                      cn_kv_key_repr(key, key_len, r, sizeof r), val_len);
}

/* ---- pointer documents ------------------------------------------------------------------ */

/* Reads ds's pointer; *found false when the dataset does not exist. */
static int ptr_read(MgCtx *x, const char *ds, MgPtr *p, bool *found) {
    mongoc_collection_t *c = coll_get(x, META_COLL);
    bson_t q = BSON_INITIALIZER, opts = BSON_INITIALIZER;
    BSON_APPEND_UTF8(&q, "dataset", ds);
    BSON_APPEND_INT64(&opts, "limit", 1);
    mongoc_cursor_t *cur = mongoc_collection_find_with_opts(c, &q, &opts, NULL);
    const bson_t *doc;
    int rc = 0;
    *found = false;
    if (mongoc_cursor_next(cur, &doc)) {
        bson_iter_t it;
        const char *coll = NULL;
        uint32_t len = 0;
        if (bson_iter_init_find(&it, doc, "coll") && BSON_ITER_HOLDS_UTF8(&it))
            coll = bson_iter_utf8(&it, &len);
        CN_CHECK_DATA(coll && len > 0 && len <= NS_MAX && iter_u64(doc, "ver", &p->ver), x->err,
                      rc, "%s: %s.%s: pointer document of dataset %s lacks a collection name or "
                      "version", x->kv->uri, x->s->db, META_COLL, ds);
        memcpy(p->coll, coll, len);
        p->coll[len] = '\0';
        *found = true;
    } else if (mongoc_cursor_error(cur, &x->e)) {
        rc = MG_DRIVER;
    }
done:
    mongoc_cursor_destroy(cur);
    bson_destroy(&q);
    bson_destroy(&opts);
    mongoc_collection_destroy(c);
    return rc;
}

static int not_found(MgCtx *x, const char *ds) {
    return cn_err_set(x->err, CN_ENOTFOUND, "%s: dataset %s does not exist", x->kv->uri, ds);
}

/* Reads an existing dataset's pointer (CN_ENOTFOUND otherwise). */
static int ptr_need(MgCtx *x, const char *ds, MgPtr *p) {
    bool found;
    int rc = ptr_read(x, ds, p, &found);
    if (rc == 0 && !found) rc = not_found(x, ds);
    return rc;
}

/* A fresh version number, unique in the database: $inc on the counter document. */
static int next_version(MgCtx *x, uint64_t *ver) {
    mongoc_collection_t *c = coll_get(x, META_COLL);
    bson_t q = BSON_INITIALIZER, upd = BSON_INITIALIZER, inc, reply;
    BSON_APPEND_UTF8(&q, "counter", COUNTER_ID);
    BSON_APPEND_DOCUMENT_BEGIN(&upd, "$inc", &inc);
    BSON_APPEND_INT64(&inc, "next", 1);
    bson_append_document_end(&upd, &inc);
    mongoc_find_and_modify_opts_t *fm = mongoc_find_and_modify_opts_new();
    mongoc_find_and_modify_opts_set_update(fm, &upd);
    mongoc_find_and_modify_opts_set_flags(fm, MONGOC_FIND_AND_MODIFY_UPSERT |
                                                  MONGOC_FIND_AND_MODIFY_RETURN_NEW);
    int rc = 0;
    if (!mongoc_collection_find_and_modify_with_opts(c, &q, fm, &reply, &x->e)) {
        rc = MG_DRIVER;
    } else {
        bson_iter_t it, sub;
        bool ok = bson_iter_init_find(&it, &reply, "value") && BSON_ITER_HOLDS_DOCUMENT(&it) &&
                  bson_iter_recurse(&it, &sub) && bson_iter_find(&sub, "next") &&
                  BSON_ITER_HOLDS_NUMBER(&sub) && bson_iter_as_int64(&sub) > 0;
        if (ok) *ver = (uint64_t)bson_iter_as_int64(&sub);
        else
            rc = cn_err_set(x->err, CN_ECORRUPT, "%s: %s.%s: the version counter document has no "
                            "positive \"next\"", x->kv->uri, x->s->db, META_COLL);
    }
    bson_destroy(&reply);
    mongoc_find_and_modify_opts_destroy(fm);
    bson_destroy(&q);
    bson_destroy(&upd);
    mongoc_collection_destroy(c);
    return rc;
}

/* The (ver, k) index that serves multi-gets and version clean-up; unique so that a real
 * MongoDB refuses a second document for a key. Servers without createIndexes (code 59)
 * still work, unindexed. Sent once per handle and collection (a round trip per load
 * otherwise); dropping the dataset through this handle forgets it. */
static int ensure_index(MgCtx *x, const char *coll) {
    uint64_t done_before;
    if (cn_kv__vc_get(&x->s->indexed, coll, &done_before)) return 0;
    mongoc_collection_t *c = coll_get(x, coll);
    bson_t cmd = BSON_INITIALIZER, arr, idx, key, reply;
    BSON_APPEND_UTF8(&cmd, "createIndexes", coll);
    BSON_APPEND_ARRAY_BEGIN(&cmd, "indexes", &arr);
    BSON_APPEND_DOCUMENT_BEGIN(&arr, "0", &idx);
    BSON_APPEND_DOCUMENT_BEGIN(&idx, "key", &key);
    BSON_APPEND_INT32(&key, "ver", 1);
    BSON_APPEND_INT32(&key, "k", 1);
    bson_append_document_end(&idx, &key);
    BSON_APPEND_UTF8(&idx, "name", "ver_k");
    BSON_APPEND_BOOL(&idx, "unique", true);
    bson_append_document_end(&arr, &idx);
    bson_append_array_end(&cmd, &arr);
    int rc = 0;
    if (!mongoc_collection_write_command_with_opts(c, &cmd, NULL, &reply, &x->e) &&
        x->e.code != 59)
        rc = MG_DRIVER;
    if (rc == 0) cn_kv__vc_set(&x->s->indexed, coll, 1);
    bson_destroy(&reply);
    bson_destroy(&cmd);
    mongoc_collection_destroy(c);
    return rc;
}

/* ---- open / close ----------------------------------------------------------------------- */

static int ping_fn(MgCtx *x, void *arg) {
    (void)arg;
    bson_t cmd = BSON_INITIALIZER, reply;
    BSON_APPEND_INT32(&cmd, "ping", 1);
    bool ok = mongoc_client_command_simple(x->client, x->s->db, &cmd, NULL, &reply, &x->e);
    bson_destroy(&reply);
    bson_destroy(&cmd);
    return ok ? 0 : MG_DRIVER;
}

static void mg_close(CnKv *kv) {
    MgStore *s = kv->impl;
    if (!s) return;
    if (s->pool) mongoc_client_pool_destroy(s->pool);
    if (s->uri) mongoc_uri_destroy(s->uri);
    cn_kv__vc_fini(&s->indexed);
    cn_free(s->db);
    cn_free(s);
    kv->impl = NULL;
}

static void set_default_ms(mongoc_uri_t *uri, const char *opt, uint32_t ms) {
    if (!mongoc_uri_has_option(uri, opt))
        mongoc_uri_set_option_as_int32(uri, opt, ms > INT32_MAX ? INT32_MAX : (int32_t)ms);
}

/* target is the URI after "mongodb:" or "mongodb+srv:"; libmongoc parses the whole URI.
 * Timeouts the URI leaves out come from the options: connectTimeoutMS and
 * serverSelectionTimeoutMS = connect_timeout_ms, socketTimeoutMS = timeout_ms. The open
 * pings the server, so a store that cannot be reached fails here, naming the URI. */
static int mg_open(CnKv *kv, const char *target, CnErr *err) {
    const char *full = kv->uri; /* display form; the real URI is rebuilt below */
    int rc = 0;
    pthread_once(&mongoc_once, mongoc_once_init);
    MgStore *s = cn_calloc(1, sizeof *s);
    if (!s) return cn_err_set(err, CN_ENOMEM, "%s: out of memory opening the store", full);
    kv->impl = s;
    cn_kv__vc_init(&s->indexed);
    /* kv.c hands only the part after the scheme; put the scheme back. */
    CnBuf whole = CN_BUF_INIT;
    cn_buf_puts(&whole, strncmp(full, "mongodb+srv:", 12) == 0 ? "mongodb+srv:" : "mongodb:");
    cn_buf_puts(&whole, target);
    if (whole.oom) {
        cn_buf_fini(&whole);
        rc = cn_err_set(err, CN_ENOMEM, "%s: out of memory opening the store", full);
        goto done;
    }
    bson_error_t e;
    s->uri = mongoc_uri_new_with_error(whole.data, &e);
    cn_buf_fini(&whole);
    if (!s->uri) {
        rc = cn_err_set(err, CN_ECONFIG, "online store URI \"%s\": %s; expected "
                        "mongodb://[user:password@]host[:port][/database][?options]", full,
                        e.message);
        goto done;
    }
    const char *db = mongoc_uri_get_database(s->uri);
    s->db = cn_strdup(db && *db ? db : DEFAULT_DB);
    if (!s->db) {
        rc = cn_err_set(err, CN_ENOMEM, "%s: out of memory opening the store", full);
        goto done;
    }
    set_default_ms(s->uri, MONGOC_URI_CONNECTTIMEOUTMS, kv->opts.connect_timeout_ms);
    set_default_ms(s->uri, MONGOC_URI_SERVERSELECTIONTIMEOUTMS, kv->opts.connect_timeout_ms);
    set_default_ms(s->uri, MONGOC_URI_SOCKETTIMEOUTMS, kv->opts.timeout_ms);
    s->pool = mongoc_client_pool_new(s->uri);
    if (!s->pool) {
        rc = cn_err_set(err, CN_ECONFIG, "online store URI \"%s\": libmongoc refused the URI's "
                        "options (TLS options need a libmongoc built with TLS)", full);
        goto done;
    }
    mongoc_client_pool_set_error_api(s->pool, MONGOC_ERROR_API_VERSION_2);
    mongoc_client_pool_set_appname(s->pool, "chronon-c");
    rc = mg_run(kv, NULL, "cannot reach the server", ping_fn, NULL, err);
done:
    if (rc < 0) mg_close(kv);
    return rc;
}

/* ---- datasets ---------------------------------------------------------------------------- */

static int create_fn(MgCtx *x, void *arg) {
    const char *ds = arg;
    MgPtr p;
    bool found;
    int rc = ptr_read(x, ds, &p, &found);
    if (rc || found) return rc;
    rc = coll_name(x->kv, ds, p.coll, x->err);
    if (rc == 0) rc = next_version(x, &p.ver);
    if (rc == 0) rc = ensure_index(x, p.coll);
    if (rc) return rc;
    /* The pointer last: the dataset exists once its collection is ready. */
    mongoc_collection_t *c = coll_get(x, META_COLL);
    bson_t doc = BSON_INITIALIZER;
    BSON_APPEND_UTF8(&doc, "dataset", ds);
    BSON_APPEND_UTF8(&doc, "coll", p.coll);
    BSON_APPEND_INT64(&doc, "ver", (int64_t)p.ver);
    if (!mongoc_collection_insert_one(c, &doc, NULL, NULL, &x->e)) rc = MG_DRIVER;
    bson_destroy(&doc);
    mongoc_collection_destroy(c);
    return rc;
}

static int check_utf8(CnKv *kv, const char *ds, CnErr *err) {
    if (bson_utf8_validate(ds, strlen(ds), false)) return 0;
    return cn_err_set(err, CN_EINVAL, "%s: dataset name %s is not valid UTF-8; MongoDB stores "
                      "names as UTF-8 strings", kv->uri, ds);
}

static int mg_dataset_create(CnKv *kv, const char *ds, CnErr *err) {
    int rc = check_utf8(kv, ds, err);
    return rc < 0 ? rc : mg_run(kv, ds, "create", create_fn, (void *)ds, err);
}

static int drop_fn(MgCtx *x, void *arg) {
    const char *ds = arg;
    MgPtr p;
    int rc = ptr_need(x, ds, &p);
    if (rc) return rc;
    /* The pointer first: readers see "does not exist", never a half-dropped dataset.
     * Documents left by a failed collection drop carry old versions nobody reads. */
    mongoc_collection_t *m = coll_get(x, META_COLL), *c = coll_get(x, p.coll);
    bson_t q = BSON_INITIALIZER;
    BSON_APPEND_UTF8(&q, "dataset", ds);
    if (!mongoc_collection_delete_many(m, &q, NULL, NULL, &x->e)) rc = MG_DRIVER;
    else if (!mongoc_collection_drop_with_opts(c, NULL, &x->e) && x->e.code != 26) /* NamespaceNotFound */
        rc = MG_DRIVER;
    cn_kv__vc_set(&x->s->indexed, p.coll, 0); /* the drop took the index with it */
    bson_destroy(&q);
    mongoc_collection_destroy(c);
    mongoc_collection_destroy(m);
    return rc;
}

static int mg_dataset_drop(CnKv *kv, const char *ds, CnErr *err) {
    int rc = check_utf8(kv, ds, err);
    return rc < 0 ? rc : mg_run(kv, ds, "drop", drop_fn, (void *)ds, err);
}

typedef struct MgList {
    CnArena *arena;
    char **names;
    size_t n;
} MgList;

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int list_fn(MgCtx *x, void *arg) {
    MgList *l = arg;
    mongoc_collection_t *c = coll_get(x, META_COLL);
    bson_t q = BSON_INITIALIZER, ex, opts = BSON_INITIALIZER, proj;
    BSON_APPEND_DOCUMENT_BEGIN(&q, "dataset", &ex);
    BSON_APPEND_BOOL(&ex, "$exists", true);
    bson_append_document_end(&q, &ex);
    BSON_APPEND_DOCUMENT_BEGIN(&opts, "projection", &proj);
    BSON_APPEND_INT32(&proj, "dataset", 1);
    bson_append_document_end(&opts, &proj);
    mongoc_cursor_t *cur = mongoc_collection_find_with_opts(c, &q, &opts, NULL);
    const bson_t *doc;
    size_t cap = 0;
    int rc = 0;
    l->names = NULL;
    l->n = 0;
    while (rc == 0 && mongoc_cursor_next(cur, &doc)) {
        bson_iter_t it;
        if (!bson_iter_init_find(&it, doc, "dataset") || !BSON_ITER_HOLDS_UTF8(&it)) continue;
        if (l->n == cap) {
            size_t ncap = cap ? cap * 2 : 16;
            char **nn = cn_arena_alloc(l->arena, ncap * sizeof *nn);
            if (!nn) {
                rc = cn_err_set(x->err, CN_ENOMEM, "%s: out of memory listing datasets", x->kv->uri);
                break;
            }
            if (l->n) memcpy(nn, l->names, l->n * sizeof *nn);
            l->names = nn;
            cap = ncap;
        }
        if (!(l->names[l->n++] = cn_arena_strdup(l->arena, bson_iter_utf8(&it, NULL))))
            rc = cn_err_set(x->err, CN_ENOMEM, "%s: out of memory listing datasets", x->kv->uri);
    }
    if (rc == 0 && mongoc_cursor_error(cur, &x->e)) rc = MG_DRIVER;
    if (rc == 0 && l->n) qsort(l->names, l->n, sizeof *l->names, cmp_str);
    mongoc_cursor_destroy(cur);
    bson_destroy(&q);
    bson_destroy(&opts);
    mongoc_collection_destroy(c);
    return rc;
}

static int mg_dataset_list(CnKv *kv, CnArena *arena, char ***names, size_t *n, CnErr *err) {
    MgList l = {arena, NULL, 0};
    int rc = mg_run(kv, NULL, "list datasets", list_fn, &l, err);
    if (rc == 0) {
        *names = l.names;
        *n = l.n;
    }
    return rc;
}

typedef struct MgVer {
    const char *ds;
    uint64_t ver;
} MgVer;

static int version_fn(MgCtx *x, void *arg) {
    MgVer *v = arg;
    MgPtr p;
    int rc = ptr_need(x, v->ds, &p);
    if (rc == 0) v->ver = p.ver;
    return rc;
}

static int mg_dataset_version(CnKv *kv, const char *ds, uint64_t *version, CnErr *err) {
    MgVer v = {ds, 0};
    int rc = check_utf8(kv, ds, err);
    if (rc == 0) rc = mg_run(kv, ds, "version", version_fn, &v, err);
    if (rc == 0) *version = v.ver;
    return rc;
}

/* ---- multi-get --------------------------------------------------------------------------- */

/* A query key and its slot, sorted by key so that each returned document finds its
 * slots by binary search. */
typedef struct MgQ {
    const uint8_t *data;
    size_t len;
    size_t slot;
} MgQ;

typedef struct MgGet {
    const char *ds;
    size_t n;
    CnKvSlice *values;
    CnArena *arena;
    const MgQ *q;           /* n keys sorted */
} MgGet;

static int cmp_q(const void *a, const void *b) {
    const MgQ *x = a, *y = b;
    return cn_bytes_cmp(x->data, x->len, y->data, y->len);
}

/* First position in q[lo..hi) whose key is >= (key, len). */
static size_t lower_bound(const MgQ *q, size_t lo, size_t hi, const uint8_t *key, size_t len) {
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (cn_bytes_cmp(q[mid].data, q[mid].len, key, len) < 0) lo = mid + 1;
        else hi = mid;
    }
    return lo;
}

/* Finds keys q[lo..hi) at version p->ver; fills values and counts the slots found. */
static int get_batch(MgCtx *x, MgGet *g, const MgPtr *p, size_t lo, size_t hi, size_t *n_found) {
    mongoc_collection_t *c = coll_get(x, p->coll);
    bson_t q = BSON_INITIALIZER, in, arr, opts = BSON_INITIALIZER, proj;
    BSON_APPEND_INT64(&q, "ver", (int64_t)p->ver);
    BSON_APPEND_DOCUMENT_BEGIN(&q, "k", &in);
    BSON_APPEND_ARRAY_BEGIN(&in, "$in", &arr);
    char idx[16];
    uint32_t n_in = 0;
    for (size_t i = lo; i < hi; i++) {
        if (i > lo && cmp_q(&g->q[i], &g->q[i - 1]) == 0) continue; /* asked twice, sent once */
        const char *name;
        bson_uint32_to_string(n_in++, &name, idx, sizeof idx);
        append_bin(&arr, name, g->q[i].data, g->q[i].len);
    }
    bson_append_array_end(&in, &arr);
    bson_append_document_end(&q, &in);
    BSON_APPEND_DOCUMENT_BEGIN(&opts, "projection", &proj);
    BSON_APPEND_INT32(&proj, "_id", 0);
    BSON_APPEND_INT32(&proj, "k", 1);
    BSON_APPEND_INT32(&proj, "v", 1);
    bson_append_document_end(&opts, &proj);
    mongoc_cursor_t *cur = mongoc_collection_find_with_opts(c, &q, &opts, NULL);
    const bson_t *doc;
    int rc = 0;
    while (rc == 0 && mongoc_cursor_next(cur, &doc)) {
        bson_iter_t it;
        bson_subtype_t st;
        const uint8_t *kd = NULL, *vd = NULL;
        uint32_t kl = 0, vl = 0;
        bool has_v = false;
        if (bson_iter_init_find(&it, doc, "k") && BSON_ITER_HOLDS_BINARY(&it))
            bson_iter_binary(&it, &st, &kl, &kd);
        if (bson_iter_init_find(&it, doc, "v") && BSON_ITER_HOLDS_BINARY(&it)) {
            bson_iter_binary(&it, &st, &vl, &vd);
            has_v = true;
        }
        CN_CHECK_DATA(kd && kl && has_v, x->err, rc,
                      "%s: %s.%s: a document of dataset %s has no binary \"k\" or \"v\"",
                      x->kv->uri, x->s->db, p->coll, g->ds);
        for (size_t pos = lower_bound(g->q, lo, hi, kd, kl); pos < hi; pos++) {
            size_t i = g->q[pos].slot;
            if (cn_bytes_cmp(g->q[pos].data, g->q[pos].len, kd, kl) != 0) break;
            if (!g->values[i].data) ++*n_found;
            g->values[i].data = cn_kv__copy_value(g->arena, vd, vl);
            g->values[i].len = vl;
            if (!g->values[i].data) {
                rc = cn_err_set(x->err, CN_ENOMEM, "%s: dataset %s: out of memory copying a "
                                "value of %u bytes", x->kv->uri, g->ds, vl);
                break;
            }
        }
    }
    if (rc == 0 && mongoc_cursor_error(cur, &x->e)) rc = MG_DRIVER;
done:
    mongoc_cursor_destroy(cur);
    bson_destroy(&q);
    bson_destroy(&opts);
    mongoc_collection_destroy(c);
    return rc;
}

static int get_fn(MgCtx *x, void *arg) {
    MgGet *g = arg;
    MgPtr p, again;
    for (int round = 0;; round++) {
        int rc = ptr_need(x, g->ds, &p);
        if (rc) return rc;
        memset(g->values, 0, g->n * sizeof *g->values);
        size_t n_found = 0;
        for (size_t lo = 0; lo < g->n && rc == 0; lo += GET_BATCH)
            rc = get_batch(x, g, &p, lo, lo + GET_BATCH < g->n ? lo + GET_BATCH : g->n, &n_found);
        if (rc) return rc;
        /* Every key found: each document read belongs to version p.ver, so the answer is
         * that version's. A missing key may instead have been cleaned up after a flip. */
        if (n_found == g->n) return 0;
        if ((rc = ptr_need(x, g->ds, &again))) return rc;
        if (again.ver == p.ver) return 0;
        if (round + 1 == GET_ROUNDS)
            return cn_err_set(x->err, CN_ECONFLICT, "%s: dataset %s: flipped to a new version "
                              "during each of %d reads", x->kv->uri, g->ds, GET_ROUNDS);
    }
}

static int mg_multi_get(CnKv *kv, const char *ds, const CnKvSlice *keys, size_t n,
                        CnKvSlice *values, CnArena *arena, CnErr *err) {
    int rc = check_utf8(kv, ds, err);
    if (rc < 0) return rc;
    if (n == 0) return 0;
    MgQ small[16];
    MgQ *q = n <= 16 ? small : cn_malloc(n * sizeof *q);
    if (!q) return cn_err_set(err, CN_ENOMEM, "%s: dataset %s: out of memory for %zu keys",
                              kv->uri, ds, n);
    for (size_t i = 0; i < n; i++) q[i] = (MgQ){keys[i].data, keys[i].len, i};
    qsort(q, n, sizeof *q, cmp_q);
    MgGet g = {ds, n, values, arena, q};
    rc = mg_run(kv, ds, "multi-get", get_fn, &g, err);
    if (rc < 0) memset(values, 0, n * sizeof *values);
    if (q != small) cn_free(q);
    return rc;
}

/* ---- puts and deletes ------------------------------------------------------------------ */

typedef struct MgPut {
    const char *ds;
    const CnKvSlice *keys, *values;
    size_t n;
} MgPut;

/* An ordered bulk of upserts keyed on (ver, k): a repeated key's last value wins, and a
 * retry rewrites the same documents. Not atomic across keys (MongoDB has no multi-
 * document atomicity without transactions). */
static int put_fn(MgCtx *x, void *arg) {
    MgPut *m = arg;
    MgPtr p;
    int rc = ptr_need(x, m->ds, &p);
    if (rc || m->n == 0) return rc;
    mongoc_collection_t *c = coll_get(x, p.coll);
    bson_t bopts = BSON_INITIALIZER, uopts = BSON_INITIALIZER;
    BSON_APPEND_BOOL(&bopts, "ordered", true);
    BSON_APPEND_BOOL(&uopts, "upsert", true);
    mongoc_bulk_operation_t *b = mongoc_collection_create_bulk_operation_with_opts(c, &bopts);
    for (size_t i = 0; i < m->n && rc == 0; i++) {
        bson_t sel = BSON_INITIALIZER, doc = BSON_INITIALIZER;
        BSON_APPEND_INT64(&sel, "ver", (int64_t)p.ver);
        append_bin(&sel, "k", m->keys[i].data, m->keys[i].len);
        append_bin(&doc, "k", m->keys[i].data, m->keys[i].len);
        append_bin(&doc, "v", m->values[i].data, m->values[i].len);
        BSON_APPEND_INT64(&doc, "ver", (int64_t)p.ver);
        if (!mongoc_bulk_operation_replace_one_with_opts(b, &sel, &doc, &uopts, &x->e)) rc = MG_DRIVER;
        bson_destroy(&sel);
        bson_destroy(&doc);
    }
    if (rc == 0) {
        bson_t reply; /* always initialised by execute */
        if (!mongoc_bulk_operation_execute(b, &reply, &x->e)) rc = MG_DRIVER;
        bson_destroy(&reply);
    }
    mongoc_bulk_operation_destroy(b);
    bson_destroy(&bopts);
    bson_destroy(&uopts);
    mongoc_collection_destroy(c);
    return rc;
}

static int mg_multi_put(CnKv *kv, const char *ds, const CnKvSlice *keys, const CnKvSlice *values,
                        size_t n, CnErr *err) {
    int rc = check_utf8(kv, ds, err);
    for (size_t i = 0; rc == 0 && i < n; i++)
        rc = check_value(kv, ds, keys[i].data, keys[i].len, values[i].len, err);
    if (rc < 0) return rc;
    MgPut m = {ds, keys, values, n};
    return mg_run(kv, ds, "multi-put", put_fn, &m, err);
}

/* delete_many {ver, k: {$in: keys[lo..hi)}} in coll. */
static int delete_keys(MgCtx *x, const char *coll, uint64_t ver, const CnKvSlice *keys, size_t lo,
                       size_t hi) {
    mongoc_collection_t *c = coll_get(x, coll);
    bson_t q = BSON_INITIALIZER, in, arr;
    BSON_APPEND_INT64(&q, "ver", (int64_t)ver);
    BSON_APPEND_DOCUMENT_BEGIN(&q, "k", &in);
    BSON_APPEND_ARRAY_BEGIN(&in, "$in", &arr);
    char idx[16];
    for (size_t i = lo; i < hi; i++) {
        const char *name;
        bson_uint32_to_string((uint32_t)(i - lo), &name, idx, sizeof idx);
        append_bin(&arr, name, keys[i].data, keys[i].len);
    }
    bson_append_array_end(&in, &arr);
    bson_append_document_end(&q, &in);
    int rc = mongoc_collection_delete_many(c, &q, NULL, NULL, &x->e) ? 0 : MG_DRIVER;
    bson_destroy(&q);
    mongoc_collection_destroy(c);
    return rc;
}

static int del_fn(MgCtx *x, void *arg) {
    MgPut *m = arg;
    MgPtr p;
    int rc = ptr_need(x, m->ds, &p);
    for (size_t lo = 0; rc == 0 && lo < m->n; lo += GET_BATCH)
        rc = delete_keys(x, p.coll, p.ver, m->keys, lo, lo + GET_BATCH < m->n ? lo + GET_BATCH : m->n);
    return rc;
}

static int mg_multi_delete(CnKv *kv, const char *ds, const CnKvSlice *keys, size_t n, CnErr *err) {
    int rc = check_utf8(kv, ds, err);
    if (rc < 0) return rc;
    MgPut m = {ds, keys, NULL, n};
    return mg_run(kv, ds, "multi-delete", del_fn, &m, err);
}

/* ---- bulk loads -------------------------------------------------------------------------- */

/* A load buffers pairs up to load_chunk_bytes, sorts the chunk by key (arrival order
 * breaks ties, so the last of a repeated key wins), and writes it as unordered
 * insert_many commands of at most INSERT_DOCS documents / INSERT_BYTES. A key written
 * by an earlier chunk of the same load must not get a second document: a batch whose
 * key range meets the range already written first deletes its keys at this version.
 * Sorted input never pays for that; shuffled input beyond one chunk does. */
typedef struct MgEnt {
    const uint8_t *key, *val;
    size_t key_len, val_len;
    size_t seq;
} MgEnt;

typedef struct MgLoad {
    CnArena arena;          /* the chunk's key and value bytes */
    MgEnt *ents;            /* OWNED */
    size_t n_ents, cap_ents;
    size_t chunk_bytes;
    size_t seq;
    char coll[NS_MAX + 1];
    bool wrote;             /* documents may be on the server (abort deletes them) */
    CnBuf lo, hi;           /* key range written so far, when wrote */
    bson_t *docs;           /* OWNED: INSERT_DOCS documents reused per batch */
} MgLoad;

typedef struct MgBegin {
    CnKvLoad *ld;
    MgLoad *L;
} MgBegin;

static int begin_fn(MgCtx *x, void *arg) {
    MgBegin *b = arg;
    MgPtr p;
    bool found;
    int rc = ptr_read(x, b->ld->dataset, &p, &found);
    if (rc == 0 && !found) rc = coll_name(x->kv, b->ld->dataset, p.coll, x->err);
    if (rc == 0) memcpy(b->L->coll, p.coll, sizeof p.coll);
    if (rc == 0) rc = next_version(x, &b->ld->version);
    if (rc == 0) rc = ensure_index(x, b->L->coll);
    return rc;
}

static void load_free(MgLoad *L) {
    if (!L) return;
    cn_arena_fini(&L->arena);
    cn_free(L->ents);
    cn_buf_fini(&L->lo);
    cn_buf_fini(&L->hi);
    cn_free(L->docs);
    cn_free(L);
}

static int mg_load_begin(CnKvLoad *ld, CnErr *err) {
    CnKv *kv = ld->kv;
    int rc = check_utf8(kv, ld->dataset, err);
    if (rc < 0) return rc;
    MgLoad *L = cn_calloc(1, sizeof *L);
    if (L) L->docs = cn_malloc(INSERT_DOCS * sizeof *L->docs);
    if (!L || !L->docs) {
        load_free(L);
        return cn_err_set(err, CN_ENOMEM, "%s: out of memory starting a load of %s", kv->uri,
                          ld->dataset);
    }
    cn_arena_init(&L->arena, 1 << 20);
    L->lo = (CnBuf)CN_BUF_INIT;
    L->hi = (CnBuf)CN_BUF_INIT;
    L->chunk_bytes = kv->opts.load_chunk_bytes > SIZE_MAX ? SIZE_MAX : (size_t)kv->opts.load_chunk_bytes;
    MgBegin b = {ld, L};
    rc = mg_run(kv, ld->dataset, "load", begin_fn, &b, err);
    if (rc < 0) {
        load_free(L);
        return rc;
    }
    ld->impl = L;
    return 0;
}

typedef struct MgFlush {
    CnKvLoad *ld;
    MgLoad *L;
    size_t lo, hi;          /* the batch: ents[lo..hi) */
    bool overlap;
} MgFlush;

static int insert_fn(MgCtx *x, void *arg) {
    MgFlush *f = arg;
    MgLoad *L = f->L;
    size_t n = f->hi - f->lo;
    int rc = 0;
    /* A retry may follow an insert that landed without its reply reaching us. */
    if (f->overlap || x->attempt > 0) {
        CnKvSlice *keys = cn_malloc(n * sizeof *keys);
        if (!keys) return cn_err_set(x->err, CN_ENOMEM, "%s: out of memory", x->kv->uri);
        for (size_t i = 0; i < n; i++) keys[i] = (CnKvSlice){L->ents[f->lo + i].key, L->ents[f->lo + i].key_len};
        rc = delete_keys(x, L->coll, f->ld->version, keys, 0, n);
        cn_free(keys);
        if (rc) return rc;
    }
    const bson_t *ptrs[INSERT_DOCS];
    for (size_t i = 0; i < n; i++) {
        const MgEnt *e = &L->ents[f->lo + i];
        bson_t *d = &L->docs[i];
        bson_init(d);
        append_bin(d, "k", e->key, e->key_len);
        append_bin(d, "v", e->val, e->val_len);
        BSON_APPEND_INT64(d, "ver", (int64_t)f->ld->version);
        ptrs[i] = d;
    }
    mongoc_collection_t *c = coll_get(x, L->coll);
    bson_t opts = BSON_INITIALIZER;
    BSON_APPEND_BOOL(&opts, "ordered", false);
    L->wrote = true;
    if (!mongoc_collection_insert_many(c, ptrs, n, &opts, NULL, &x->e)) rc = MG_DRIVER;
    bson_destroy(&opts);
    mongoc_collection_destroy(c);
    for (size_t i = 0; i < n; i++) bson_destroy(&L->docs[i]);
    return rc;
}

static int cmp_ent(const void *a, const void *b) {
    const MgEnt *x = a, *y = b;
    int c = cn_bytes_cmp(x->key, x->key_len, y->key, y->key_len);
    if (c) return c;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static bool range_meets(const MgLoad *L, const MgEnt *first, const MgEnt *last) {
    if (!L->wrote || !L->lo.len) return false;
    return cn_bytes_cmp(last->key, last->key_len, L->lo.data, L->lo.len) >= 0 &&
           cn_bytes_cmp(first->key, first->key_len, L->hi.data, L->hi.len) <= 0;
}

static int flush_chunk(CnKvLoad *ld, CnErr *err) {
    MgLoad *L = ld->impl;
    if (!L->n_ents) return 0;
    qsort(L->ents, L->n_ents, sizeof *L->ents, cmp_ent);
    size_t m = 0; /* keep the last of each run of equal keys */
    for (size_t i = 0; i < L->n_ents; i++) {
        if (i + 1 < L->n_ents && cn_bytes_cmp(L->ents[i].key, L->ents[i].key_len,
                                                L->ents[i + 1].key, L->ents[i + 1].key_len) == 0)
            continue;
        L->ents[m++] = L->ents[i];
    }
    int rc = 0;
    bool had_range = L->lo.len > 0;
    for (size_t lo = 0; lo < m && rc == 0;) {
        size_t hi = lo, bytes = 0;
        while (hi < m && hi - lo < INSERT_DOCS &&
               (hi == lo || bytes + L->ents[hi].key_len + L->ents[hi].val_len + DOC_OVERHEAD <= INSERT_BYTES)) {
            bytes += L->ents[hi].key_len + L->ents[hi].val_len + DOC_OVERHEAD;
            hi++;
        }
        MgFlush f = {ld, L, lo, hi, had_range && range_meets(L, &L->ents[lo], &L->ents[hi - 1])};
        rc = mg_run(ld->kv, ld->dataset, "load", insert_fn, &f, err);
        lo = hi;
    }
    if (rc == 0) { /* widen the written range by the chunk's first and last keys */
        const MgEnt *a = &L->ents[0], *z = &L->ents[m - 1];
        if (!had_range || cn_bytes_cmp(a->key, a->key_len, L->lo.data, L->lo.len) < 0) {
            cn_buf_reset(&L->lo);
            cn_buf_append(&L->lo, a->key, a->key_len);
        }
        if (!had_range || cn_bytes_cmp(z->key, z->key_len, L->hi.data, L->hi.len) > 0) {
            cn_buf_reset(&L->hi);
            cn_buf_append(&L->hi, z->key, z->key_len);
        }
        if (L->lo.oom || L->hi.oom)
            rc = cn_err_set(err, CN_ENOMEM, "%s: dataset %s: out of memory", ld->kv->uri, ld->dataset);
    }
    L->n_ents = 0;
    cn_arena_reset(&L->arena);
    return rc;
}

static int mg_load_add(CnKvLoad *ld, const void *key, size_t key_len, const void *value,
                       size_t value_len, CnErr *err) {
    MgLoad *L = ld->impl;
    int rc = check_value(ld->kv, ld->dataset, key, key_len, value_len, err);
    if (rc < 0) return rc;
    if (L->n_ents == L->cap_ents) {
        size_t ncap = L->cap_ents ? L->cap_ents * 2 : 4096;
        MgEnt *ne = cn_realloc(L->ents, ncap * sizeof *ne);
        if (!ne) return cn_err_set(err, CN_ENOMEM, "%s: dataset %s: out of memory buffering a load",
                                   ld->kv->uri, ld->dataset);
        L->ents = ne;
        L->cap_ents = ncap;
    }
    uint8_t *bytes = cn_arena_alloc(&L->arena, key_len + value_len + 1);
    if (!bytes) return cn_err_set(err, CN_ENOMEM, "%s: dataset %s: out of memory buffering a load",
                                  ld->kv->uri, ld->dataset);
    memcpy(bytes, key, key_len);
    if (value_len) memcpy(bytes + key_len, value, value_len);
    L->ents[L->n_ents++] = (MgEnt){bytes, bytes + key_len, key_len, value_len, L->seq++};
    if (L->arena.used_total >= L->chunk_bytes) return flush_chunk(ld, err);
    return 0;
}

/* delete_many {ver: {op: ver}} in coll: op "$eq" drops one version, "$lt" the older ones. */
typedef struct MgGc {
    const char *coll;
    const char *op;
    uint64_t ver;
} MgGc;

static int gc_fn(MgCtx *x, void *arg) {
    MgGc *g = arg;
    mongoc_collection_t *c = coll_get(x, g->coll);
    bson_t q = BSON_INITIALIZER, cond;
    BSON_APPEND_DOCUMENT_BEGIN(&q, "ver", &cond);
    BSON_APPEND_INT64(&cond, g->op, (int64_t)g->ver);
    bson_append_document_end(&q, &cond);
    int rc = mongoc_collection_delete_many(c, &q, NULL, NULL, &x->e) ? 0 : MG_DRIVER;
    bson_destroy(&q);
    mongoc_collection_destroy(c);
    return rc;
}

typedef struct MgFlip {
    CnKvLoad *ld;
    const char *coll;
    uint64_t winner;        /* OUT: the newer version that won, on conflict */
    uint64_t prev;          /* OUT: the version flipped away from; 0: none (first load),
                             * UINT64_MAX: not known (a retried flip found its own) */
} MgFlip;

/* Points the dataset at ld->version unless a newer version is current already. Safe to
 * retry: finding our own version current means an earlier attempt landed. */
static int flip_fn(MgCtx *x, void *arg) {
    MgFlip *f = arg;
    const char *ds = f->ld->dataset;
    uint64_t ver = f->ld->version;
    mongoc_collection_t *c = coll_get(x, META_COLL);
    bson_t q = BSON_INITIALIZER, lt, upd = BSON_INITIALIZER, set, reply;
    BSON_APPEND_UTF8(&q, "dataset", ds);
    BSON_APPEND_DOCUMENT_BEGIN(&q, "ver", &lt);
    BSON_APPEND_INT64(&lt, "$lt", (int64_t)ver);
    bson_append_document_end(&q, &lt);
    BSON_APPEND_DOCUMENT_BEGIN(&upd, "$set", &set);
    BSON_APPEND_INT64(&set, "ver", (int64_t)ver);
    bson_append_document_end(&upd, &set);
    /* findAndModify rather than an update: its reply holds the version flipped away
     * from, whose documents the commit then removes */
    mongoc_find_and_modify_opts_t *fm = mongoc_find_and_modify_opts_new();
    mongoc_find_and_modify_opts_set_update(fm, &upd);
    int rc = 0;
    bool updated = false;
    if (!mongoc_collection_find_and_modify_with_opts(c, &q, fm, &reply, &x->e)) {
        rc = MG_DRIVER;
    } else {
        bson_iter_t it, sub;
        if (bson_iter_init_find(&it, &reply, "value") && BSON_ITER_HOLDS_DOCUMENT(&it) &&
            bson_iter_recurse(&it, &sub) && bson_iter_find(&sub, "ver") && BSON_ITER_HOLDS_NUMBER(&sub)) {
            updated = true;
            f->prev = (uint64_t)bson_iter_as_int64(&sub);
        }
    }
    bson_destroy(&reply);
    mongoc_find_and_modify_opts_destroy(fm);
    if (rc == 0 && !updated) {
        MgPtr p;
        bool found;
        rc = ptr_read(x, ds, &p, &found);
        if (rc == 0 && found && p.ver > ver) f->winner = p.ver;
        if (rc == 0 && !found) { /* the first version creates the dataset */
            bson_t doc = BSON_INITIALIZER;
            BSON_APPEND_UTF8(&doc, "dataset", ds);
            BSON_APPEND_UTF8(&doc, "coll", f->coll);
            BSON_APPEND_INT64(&doc, "ver", (int64_t)ver);
            if (!mongoc_collection_insert_one(c, &doc, NULL, NULL, &x->e)) rc = MG_DRIVER;
            bson_destroy(&doc);
            f->prev = 0;
        }
    }
    bson_destroy(&q);
    bson_destroy(&upd);
    mongoc_collection_destroy(c);
    return rc;
}

static void mg_load_abort(CnKvLoad *ld) {
    MgLoad *L = ld->impl;
    if (!L) return;
    if (L->wrote) { /* best effort: leftovers carry an old version the next load removes */
        MgGc g = {L->coll, "$eq", ld->version};
        CnErr ignored = CN_ERR_INIT;
        mg_run(ld->kv, ld->dataset, "abort load", gc_fn, &g, &ignored);
    }
    load_free(L);
    ld->impl = NULL;
}

static uint64_t mono_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int mg_load_commit(CnKvLoad *ld, CnErr *err) {
    MgLoad *L = ld->impl;
    uint64_t t0 = mono_ns();
    int rc = flush_chunk(ld, err);
    uint64_t t1 = mono_ns();
    MgFlip f = {ld, L->coll, 0, UINT64_MAX};
    if (rc == 0) rc = mg_run(ld->kv, ld->dataset, "flip to the new version", flip_fn, &f, err);
    uint64_t t2 = mono_ns();
    if (rc == 0 && f.winner)
        rc = cn_err_set(err, CN_ECONFLICT, "%s: dataset %s: load of version %llu lost: version "
                        "%llu, from a load started later, was committed meanwhile", ld->kv->uri,
                        ld->dataset, (unsigned long long)ld->version,
                        (unsigned long long)f.winner);
    if (rc < 0) {
        mg_load_abort(ld);
        return rc;
    }
    /* Old versions go after the flip; a failure here only leaves documents nobody reads,
     * which the next load's clean-up removes. The first load of a dataset has nothing
     * older that a reader ever saw, so it skips the delete (a query over the whole
     * collection on servers without the index); documents of loads that crashed before
     * it stay, unread, until the next load's clean-up. */
    if (f.prev != 0) {
        MgGc g = {L->coll, "$lt", ld->version};
        CnErr ignored = CN_ERR_INIT;
        mg_run(ld->kv, ld->dataset, "remove old versions", gc_fn, &g, &ignored);
    }
    cn_log(CN_LOG_DEBUG, "%s: dataset %s: commit of version %llu: last inserts %.1f ms, flip "
           "%.1f ms, clean-up %.1f ms", ld->kv->uri, ld->dataset, (unsigned long long)ld->version,
           (double)(t1 - t0) / 1e6, (double)(t2 - t1) / 1e6, (double)(mono_ns() - t2) / 1e6);
    load_free(L);
    ld->impl = NULL;
    return 0;
}

const CnKvOps cn_kv__mongo_ops = {
    .name = "mongodb",
    .caps = CN_KV_CAP_PERSISTENT,
    .max_key_len = 1000, /* MongoDB before 4.2 refuses index entries over 1024 bytes */
    .open = mg_open,
    .close = mg_close,
    .dataset_create = mg_dataset_create,
    .dataset_drop = mg_dataset_drop,
    .dataset_list = mg_dataset_list,
    .dataset_version = mg_dataset_version,
    .multi_get = mg_multi_get,
    .multi_put = mg_multi_put,
    .multi_delete = mg_multi_delete,
    .load_begin = mg_load_begin,
    .load_add = mg_load_add,
    .load_commit = mg_load_commit,
    .load_abort = mg_load_abort,
};
