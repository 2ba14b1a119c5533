/* kv_mongo.c: the MongoDB backend, `mongodb://[user:pass@]host[:port][/db][?options]`
 * (and `mongodb+srv://`), over libmongoc with a client pool shared by all threads. Built
 * as the module chronon_mongo.so that kv_mongo_load.c loads on the first mongodb:// open,
 * so that processes that never use MongoDB never load (and initialise) libmongoc.
 *
 * Layout 2 (docs/online-store.md, "MongoDB"): one collection per dataset, named like its
 * GroupBy's output table, holding the current version only: documents {k: <binary key>,
 * v: <binary value>}, unique index on k, and one version document {version: <version>}
 * (sparse index on version). A load writes a new version into a staging
 * collection `chronon_load.<version>.<collection>` and makes it live with one
 * renameCollection with dropTarget, which replaces the old version and its documents at
 * once. The key is not the `_id`: servers that only take ObjectId `_id`s (CongoDB) work
 * too. The collection `chronon_datasets` holds a pointer document per dataset,
 * {dataset, coll, ver, layout}: which datasets exist and the newest version committed
 * (a load older than it loses), and the counter {counter: "next_version", next}.
 * Readers never read the pointer when the dataset exists: a multi-get asks for the
 * version document with its keys ($or), so each find returns the version it read;
 * a multi-get of more than one find retries when they differ. A version that the rename
 * made live comes with its data, so a reader sees the old or the new version, never a
 * mix. Layout 1 (one collection with every version's documents {k, v, ver}) is refused
 * by reads with an error that says to upload again; the next load converts it. Every
 * call is made idempotent so that transient failures (no server, socket errors) can be
 * retried a bounded number of times. */
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
/* The collection layout this file writes (the pointer document's "layout"; none: 1). */
#define LAYOUT 2
/* The field of the version document of a live collection. */
#define VER_FIELD "version"
/* A load's staging collection: STAGE_PREFIX <version> "." <live collection>. No live
 * collection name starts with it (see coll_name). STAGE_ROOM: what it adds at most. */
#define STAGE_PREFIX "chronon_load."
#define STAGE_ROOM (sizeof STAGE_PREFIX - 1 + 21)
/* Server errors of a cursor whose collection was dropped or renamed under it (a flip
 * during a read on a real MongoDB): the read starts again. */
#define CURSOR_GONE(code) ((code) == 43 || (code) == 175 || (code) == 237)

typedef struct MgStore {
    mongoc_uri_t *uri;
    mongoc_client_pool_t *pool;
    char *db;               /* OWNED: database name */
    CnKvVerCache cleaned;   /* live collections whose older staging collections this
                             * handle dropped (value 1): once per handle, not per load */
} MgStore;

/* A dataset's pointer document. */
typedef struct MgPtr {
    uint64_t ver;           /* the newest version committed */
    uint64_t layout;        /* LAYOUT, or 1 for a dataset written before layouts */
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
 * second rule. No name of either rule starts with STAGE_PREFIX. CN_EINVAL when the
 * namespace of the collection or of a load's staging collection would exceed NS_MAX. */
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
    size_t room = NS_MAX - 1 - STAGE_ROOM, o = 0; /* a load's staging name fits too */
    size_t cap = strlen(s->db) < room ? room - strlen(s->db) : 0;
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
                          "bytes; MongoDB namespaces (database \"%s\" + collection) hold at most %d, "
                          "%zu of them kept for a load's staging collection", kv->uri, ds, o, s->db,
                          NS_MAX, (size_t)STAGE_ROOM);
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

/* ---- pointer and version documents ------------------------------------------------------ */

/* The first document of coll matching q, copied into *doc (to bson_destroy when
 * *found); MG_DRIVER on a driver error. */
static int find_one(MgCtx *x, const char *coll, const bson_t *q, bson_t *doc, bool *found) {
    mongoc_collection_t *c = coll_get(x, coll);
    bson_t opts = BSON_INITIALIZER;
    BSON_APPEND_INT64(&opts, "limit", 1);
    mongoc_cursor_t *cur = mongoc_collection_find_with_opts(c, q, &opts, NULL);
    const bson_t *d;
    int rc = 0;
    *found = false;
    if (mongoc_cursor_next(cur, &d)) {
        bson_copy_to(d, doc);
        *found = true;
    } else if (mongoc_cursor_error(cur, &x->e)) {
        rc = MG_DRIVER;
    }
    mongoc_cursor_destroy(cur);
    bson_destroy(&opts);
    mongoc_collection_destroy(c);
    return rc;
}

/* Reads ds's pointer; *found false when the dataset does not exist. */
static int ptr_read(MgCtx *x, const char *ds, MgPtr *p, bool *found) {
    bson_t q = BSON_INITIALIZER, doc;
    BSON_APPEND_UTF8(&q, "dataset", ds);
    int rc = find_one(x, META_COLL, &q, &doc, found);
    bson_destroy(&q);
    if (rc || !*found) return rc;
    bson_iter_t it;
    const char *coll = NULL;
    uint32_t len = 0;
    if (bson_iter_init_find(&it, &doc, "coll") && BSON_ITER_HOLDS_UTF8(&it))
        coll = bson_iter_utf8(&it, &len);
    CN_CHECK_DATA(coll && len > 0 && len <= NS_MAX && iter_u64(&doc, "ver", &p->ver), x->err,
                  rc, "%s: %s.%s: pointer document of dataset %s lacks a collection name or "
                  "version", x->kv->uri, x->s->db, META_COLL, ds);
    memcpy(p->coll, coll, len);
    p->coll[len] = '\0';
    if (!iter_u64(&doc, "layout", &p->layout)) p->layout = 1;
done:
    bson_destroy(&doc);
    return rc;
}

static int not_found(MgCtx *x, const char *ds) {
    return cn_err_set(x->err, CN_ENOTFOUND, "%s: dataset %s does not exist", x->kv->uri, ds);
}

/* 0 when p is in LAYOUT, else why this build cannot read it. */
static int layout_check(MgCtx *x, const char *ds, const MgPtr *p) {
    if (p->layout == LAYOUT) return 0;
    if (p->layout > LAYOUT)
        return cn_err_set(x->err, CN_EUNSUPPORTED, "%s: dataset %s is in MongoDB layout %llu, "
                          "written by a newer chronon-c; this one reads layout %d", x->kv->uri, ds,
                          (unsigned long long)p->layout, LAYOUT);
    return cn_err_set(x->err, CN_EUNSUPPORTED, "%s: dataset %s was uploaded by an older chronon-c "
                      "(MongoDB layout 1: every version's documents {k, v, ver} in %s.%s), which "
                      "this one does not read; upload it again (the upload rewrites %s in layout %d)",
                      x->kv->uri, ds, x->s->db, p->coll, p->coll, LAYOUT);
}

/* Reads an existing dataset's pointer in LAYOUT (CN_ENOTFOUND, CN_EUNSUPPORTED otherwise). */
static int ptr_need(MgCtx *x, const char *ds, MgPtr *p) {
    bool found;
    int rc = ptr_read(x, ds, p, &found);
    if (rc == 0 && !found) rc = not_found(x, ds);
    if (rc == 0) rc = layout_check(x, ds, p);
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

/* Creates coll (when missing) with the indexes that serve multi-gets on a real MongoDB:
 * unique on k (one document per key; the version document has none) and sparse on
 * VER_FIELD (the version document alone). Servers without createIndexes (code 59) still work,
 * unindexed. */
static int create_index(MgCtx *x, const char *coll) {
    mongoc_collection_t *c = coll_get(x, coll);
    bson_t cmd = BSON_INITIALIZER, arr, idx, key, reply;
    BSON_APPEND_UTF8(&cmd, "createIndexes", coll);
    BSON_APPEND_ARRAY_BEGIN(&cmd, "indexes", &arr);
    BSON_APPEND_DOCUMENT_BEGIN(&arr, "0", &idx);
    BSON_APPEND_DOCUMENT_BEGIN(&idx, "key", &key);
    BSON_APPEND_INT32(&key, "k", 1);
    bson_append_document_end(&idx, &key);
    BSON_APPEND_UTF8(&idx, "name", "k_1");
    BSON_APPEND_BOOL(&idx, "unique", true);
    bson_append_document_end(&arr, &idx);
    BSON_APPEND_DOCUMENT_BEGIN(&arr, "1", &idx);
    BSON_APPEND_DOCUMENT_BEGIN(&idx, "key", &key);
    BSON_APPEND_INT32(&key, VER_FIELD, 1);
    bson_append_document_end(&idx, &key);
    BSON_APPEND_UTF8(&idx, "name", VER_FIELD "_1");
    BSON_APPEND_BOOL(&idx, "sparse", true);
    bson_append_document_end(&arr, &idx);
    bson_append_array_end(&cmd, &arr);
    int rc = 0;
    if (!mongoc_collection_write_command_with_opts(c, &cmd, NULL, &reply, &x->e) &&
        x->e.code != 59)
        rc = MG_DRIVER;
    bson_destroy(&reply);
    bson_destroy(&cmd);
    mongoc_collection_destroy(c);
    return rc;
}

/* Drops coll; a missing one (NamespaceNotFound, 26) is no error. */
static int coll_drop(MgCtx *x, const char *coll) {
    mongoc_collection_t *c = coll_get(x, coll);
    int rc = 0;
    if (!mongoc_collection_drop_with_opts(c, NULL, &x->e) && x->e.code != 26) rc = MG_DRIVER;
    mongoc_collection_destroy(c);
    return rc;
}

/* The version document {version} (ver 0: the filter {version: {$exists: true}} that
 * finds it). Not "ver": every document of a layout-1 collection has one. */
static void ver_doc(bson_t *b, uint64_t ver) {
    if (ver) {
        BSON_APPEND_INT64(b, VER_FIELD, (int64_t)ver);
    } else {
        bson_t ex;
        BSON_APPEND_DOCUMENT_BEGIN(b, VER_FIELD, &ex);
        BSON_APPEND_BOOL(&ex, "$exists", true);
        bson_append_document_end(b, &ex);
    }
}

/* Appends {k: {$in: keys[lo..hi)}} to q: keys finds the i-th key at
 * (CnKvSlice *)(keys + i * stride); a key equal to the one before it is sent once. */
static void keys_in(bson_t *q, const void *keys, size_t stride, size_t lo, size_t hi) {
    bson_t in, arr;
    BSON_APPEND_DOCUMENT_BEGIN(q, "k", &in);
    BSON_APPEND_ARRAY_BEGIN(&in, "$in", &arr);
    char idx[16];
    uint32_t n_in = 0;
    const CnKvSlice *prev = NULL;
    for (size_t i = lo; i < hi; i++) {
        const CnKvSlice *k = (const CnKvSlice *)((const char *)keys + i * stride);
        if (prev && cn_bytes_cmp(k->data, k->len, prev->data, prev->len) == 0) continue;
        const char *name;
        bson_uint32_to_string(n_in++, &name, idx, sizeof idx);
        append_bin(&arr, name, k->data, k->len);
        prev = k;
    }
    bson_append_array_end(&in, &arr);
    bson_append_document_end(q, &in);
}

/* {$or: [{k: {$in: keys}}, <the version document's filter>]} (keys as for keys_in). Not
 * an $in with the version document's key in it: CongoDB compares each document with
 * each $in element, so a 1-key read would cost it twice the raw client's. */
static void keys_or_ver(bson_t *q, const void *keys, size_t stride, size_t lo, size_t hi) {
    bson_t or, c;
    BSON_APPEND_ARRAY_BEGIN(q, "$or", &or);
    BSON_APPEND_DOCUMENT_BEGIN(&or, "0", &c);
    keys_in(&c, keys, stride, lo, hi);
    bson_append_document_end(&or, &c);
    BSON_APPEND_DOCUMENT_BEGIN(&or, "1", &c);
    ver_doc(&c, 0);
    bson_append_document_end(&or, &c);
    bson_append_array_end(q, &or);
}

/* The version of the data in coll, from its version document; *found false without one
 * (no such collection, or a layout-1 one). */
static int live_version(MgCtx *x, const char *coll, uint64_t *ver, bool *found) {
    bson_t q = BSON_INITIALIZER, doc;
    ver_doc(&q, 0);
    int rc = find_one(x, coll, &q, &doc, found);
    bson_destroy(&q);
    if (rc || !*found) return rc;
    CN_CHECK_DATA(iter_u64(&doc, VER_FIELD, ver), x->err, rc, "%s: %s.%s: the version "
                  "document has no number \"" VER_FIELD "\"", x->kv->uri, x->s->db, coll);
done:
    bson_destroy(&doc);
    return rc;
}

/* Why the collection of ds had no version document: the dataset does not exist (or was
 * dropped meanwhile), is in another layout, or (*again) was dropped and created again
 * during the read, which the caller retries. */
static int no_version_doc(MgCtx *x, const char *ds, const char *coll, bool last, bool *again) {
    MgPtr p;
    *again = false;
    int rc = ptr_need(x, ds, &p);
    if (rc) return rc;
    if (last)
        return cn_err_set(x->err, CN_ECORRUPT, "%s: %s.%s: the collection of dataset %s has no "
                          "version document {" VER_FIELD "}", x->kv->uri, x->s->db, coll, ds);
    *again = true;
    return 0;
}

/* Drops the staging collections of loads of live that crashed or were abandoned: those
 * of versions below `below`. Loads of one dataset are serialised by the caller, so a
 * lower version's load is not running. */
static int drop_stages(MgCtx *x, const char *live, uint64_t below) {
    mongoc_database_t *d = mongoc_client_get_database(x->client, x->s->db);
    bson_t opts = BSON_INITIALIZER, filter, re;
    BSON_APPEND_DOCUMENT_BEGIN(&opts, "filter", &filter);
    BSON_APPEND_DOCUMENT_BEGIN(&filter, "name", &re);
    BSON_APPEND_UTF8(&re, "$regex", "^chronon_load\\.");
    bson_append_document_end(&filter, &re);
    bson_append_document_end(&opts, &filter);
    char **names = mongoc_database_get_collection_names_with_opts(d, &opts, &x->e);
    int rc = names ? 0 : MG_DRIVER;
    size_t pre = strlen(STAGE_PREFIX);
    for (size_t i = 0; rc == 0 && names[i]; i++) {
        const char *n = names[i];
        char *end;
        if (strncmp(n, STAGE_PREFIX, pre) != 0) continue; /* a server that ignores filters */
        unsigned long long v = strtoull(n + pre, &end, 10);
        if (end == n + pre || *end != '.' || strcmp(end + 1, live) != 0 || v >= below) continue;
        rc = coll_drop(x, n);
    }
    bson_strfreev(names);
    bson_destroy(&opts);
    mongoc_database_destroy(d);
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
    cn_kv__vc_fini(&s->cleaned);
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
    cn_kv__vc_init(&s->cleaned);
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

/* Inserts or replaces ds's pointer document. */
static int ptr_write(MgCtx *x, const char *ds, const char *coll, uint64_t ver) {
    mongoc_collection_t *c = coll_get(x, META_COLL);
    bson_t sel = BSON_INITIALIZER, doc = BSON_INITIALIZER, opts = BSON_INITIALIZER;
    BSON_APPEND_UTF8(&sel, "dataset", ds);
    BSON_APPEND_UTF8(&doc, "dataset", ds);
    BSON_APPEND_UTF8(&doc, "coll", coll);
    BSON_APPEND_INT64(&doc, "ver", (int64_t)ver);
    BSON_APPEND_INT32(&doc, "layout", LAYOUT);
    BSON_APPEND_BOOL(&opts, "upsert", true);
    int rc = mongoc_collection_replace_one(c, &sel, &doc, &opts, NULL, &x->e) ? 0 : MG_DRIVER;
    bson_destroy(&sel);
    bson_destroy(&doc);
    bson_destroy(&opts);
    mongoc_collection_destroy(c);
    return rc;
}

static int create_fn(MgCtx *x, void *arg) {
    const char *ds = arg;
    MgPtr p;
    bool found;
    int rc = ptr_read(x, ds, &p, &found);
    if (rc || found) return rc;
    rc = coll_name(x->kv, ds, p.coll, x->err);
    if (rc == 0) rc = next_version(x, &p.ver);
    /* a collection left by a drop that failed half-way must not show its documents */
    if (rc == 0) rc = coll_drop(x, p.coll);
    if (rc == 0) rc = create_index(x, p.coll);
    if (rc) return rc;
    mongoc_collection_t *c = coll_get(x, p.coll);
    bson_t sel = BSON_INITIALIZER, doc = BSON_INITIALIZER, opts = BSON_INITIALIZER;
    ver_doc(&sel, 0);
    ver_doc(&doc, p.ver);
    BSON_APPEND_BOOL(&opts, "upsert", true);
    if (!mongoc_collection_replace_one(c, &sel, &doc, &opts, NULL, &x->e)) rc = MG_DRIVER;
    bson_destroy(&sel);
    bson_destroy(&doc);
    bson_destroy(&opts);
    mongoc_collection_destroy(c);
    /* The pointer last: the dataset exists once its collection is ready. */
    return rc ? rc : ptr_write(x, ds, p.coll, p.ver);
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
    bool found;
    int rc = ptr_read(x, ds, &p, &found);
    if (rc == 0 && !found) rc = not_found(x, ds);
    if (rc) return rc;
    /* The pointer first: readers see "does not exist", never a half-dropped dataset. A
     * collection left by a failed drop is dropped by the next create. */
    mongoc_collection_t *m = coll_get(x, META_COLL);
    bson_t q = BSON_INITIALIZER;
    BSON_APPEND_UTF8(&q, "dataset", ds);
    if (!mongoc_collection_delete_many(m, &q, NULL, NULL, &x->e)) rc = MG_DRIVER;
    if (rc == 0) rc = coll_drop(x, p.coll);
    if (rc == 0) rc = drop_stages(x, p.coll, UINT64_MAX);
    bson_destroy(&q);
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
    char coll[NS_MAX + 1];
    int rc = coll_name(x->kv, v->ds, coll, x->err);
    for (int round = 0; rc == 0; round++) {
        bool found, again = false;
        rc = live_version(x, coll, &v->ver, &found);
        if (rc || found) return rc;
        rc = no_version_doc(x, v->ds, coll, round + 1 == GET_ROUNDS, &again);
    }
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
    CnKvSlice key;          /* first: keys_or_ver reads it with a stride */
    size_t slot;
} MgQ;

typedef struct MgGet {
    const char *ds;
    size_t n;
    CnKvSlice *values;
    CnArena *arena;
    const MgQ *q;           /* n keys sorted */
    char coll[NS_MAX + 1];
} MgGet;

static int cmp_q(const void *a, const void *b) {
    const MgQ *x = a, *y = b;
    return cn_bytes_cmp(x->key.data, x->key.len, y->key.data, y->key.len);
}

/* First position in q[lo..hi) whose key is >= (key, len). */
static size_t lower_bound(const MgQ *q, size_t lo, size_t hi, const uint8_t *key, size_t len) {
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (cn_bytes_cmp(q[mid].key.data, q[mid].key.len, key, len) < 0) lo = mid + 1;
        else hi = mid;
    }
    return lo;
}

/* Finds keys q[lo..hi) and the version document in one find; fills values, counts the
 * slots found and sets *ver to the version read (0: no version document). */
static int get_batch(MgCtx *x, MgGet *g, size_t lo, size_t hi, size_t *n_found, uint64_t *ver) {
    mongoc_collection_t *c = coll_get(x, g->coll);
    bson_t q = BSON_INITIALIZER, opts = BSON_INITIALIZER, proj;
    keys_or_ver(&q, g->q, sizeof *g->q, lo, hi);
    BSON_APPEND_DOCUMENT_BEGIN(&opts, "projection", &proj);
    BSON_APPEND_INT32(&proj, "_id", 0);
    bson_append_document_end(&opts, &proj);
    mongoc_cursor_t *cur = mongoc_collection_find_with_opts(c, &q, &opts, NULL);
    const bson_t *doc;
    int rc = 0;
    *ver = 0;
    while (rc == 0 && mongoc_cursor_next(cur, &doc)) {
        bson_iter_t it;
        bson_subtype_t st;
        const uint8_t *kd = NULL, *vd = NULL;
        uint32_t kl = 0, vl = 0;
        bool has_k = false, has_v = false;
        if (bson_iter_init_find(&it, doc, "k") && BSON_ITER_HOLDS_BINARY(&it)) {
            bson_iter_binary(&it, &st, &kl, &kd);
            has_k = kl > 0;
        }
        if (!has_k && bson_iter_init_find(&it, doc, VER_FIELD)) {
            CN_CHECK_DATA(iter_u64(doc, VER_FIELD, ver) && *ver > 0, x->err, rc, "%s: %s.%s: the "
                          "version document has no positive number \"" VER_FIELD "\"", x->kv->uri,
                          x->s->db, g->coll);
            continue;
        }
        if (bson_iter_init_find(&it, doc, "v") && BSON_ITER_HOLDS_BINARY(&it)) {
            bson_iter_binary(&it, &st, &vl, &vd);
            has_v = true;
        }
        CN_CHECK_DATA(has_k && has_v, x->err, rc,
                      "%s: %s.%s: a document of dataset %s has no binary \"k\" or \"v\"",
                      x->kv->uri, x->s->db, g->coll, g->ds);
        for (size_t pos = lower_bound(g->q, lo, hi, kd, kl); pos < hi; pos++) {
            size_t i = g->q[pos].slot;
            if (cn_bytes_cmp(g->q[pos].key.data, g->q[pos].key.len, kd, kl) != 0) break;
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

/* One find per GET_BATCH keys, each with the version it read. One find sees one version
 * (the flip is a rename); finds that saw different versions, or a cursor that a flip
 * killed, start the read again. */
static int get_fn(MgCtx *x, void *arg) {
    MgGet *g = arg;
    for (int round = 0;; round++) {
        bool last = round + 1 == GET_ROUNDS, again = false;
        uint64_t first_ver = 0;
        size_t n_found = 0;
        int rc = 0;
        memset(g->values, 0, g->n * sizeof *g->values);
        for (size_t lo = 0; lo < g->n && !again; lo += GET_BATCH) {
            uint64_t ver;
            rc = get_batch(x, g, lo, lo + GET_BATCH < g->n ? lo + GET_BATCH : g->n, &n_found, &ver);
            if (rc == MG_DRIVER && CURSOR_GONE(x->e.code) && !last) {
                again = true;
            } else if (rc) {
                return rc;
            } else if (ver == 0) {
                rc = no_version_doc(x, g->ds, g->coll, last, &again);
                if (rc) return rc;
            } else if (lo == 0) {
                first_ver = ver;
            } else if (ver != first_ver) {
                again = true;
            }
        }
        if (!again) return 0;
        if (last)
            return cn_err_set(x->err, CN_ECONFLICT, "%s: dataset %s: flipped to a new version "
                              "during each of %d reads", x->kv->uri, g->ds, GET_ROUNDS);
    }
}

static int mg_multi_get(CnKv *kv, const char *ds, const CnKvSlice *keys, size_t n,
                        CnKvSlice *values, CnArena *arena, CnErr *err) {
    int rc = check_utf8(kv, ds, err);
    if (rc < 0 || n == 0) return rc;
    MgGet g = {ds, n, values, arena, NULL, {0}};
    if ((rc = coll_name(kv, ds, g.coll, err)) < 0) return rc;
    MgQ small[16];
    MgQ *q = n <= 16 ? small : cn_malloc(n * sizeof *q);
    if (!q) return cn_err_set(err, CN_ENOMEM, "%s: dataset %s: out of memory for %zu keys",
                              kv->uri, ds, n);
    for (size_t i = 0; i < n; i++) q[i] = (MgQ){keys[i], i};
    qsort(q, n, sizeof *q, cmp_q);
    g.q = q;
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

/* An ordered bulk of upserts keyed on k into the live collection: a repeated key's last
 * value wins, and a retry rewrites the same documents. Not atomic across keys (MongoDB
 * has no multi-document atomicity without transactions). */
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
        append_bin(&sel, "k", m->keys[i].data, m->keys[i].len);
        append_bin(&doc, "k", m->keys[i].data, m->keys[i].len);
        append_bin(&doc, "v", m->values[i].data, m->values[i].len);
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

/* delete_many of keys[lo..hi) in coll, and of the version document when ver_too. */
static int delete_keys(MgCtx *x, const char *coll, const CnKvSlice *keys, size_t lo, size_t hi,
                       bool ver_too) {
    mongoc_collection_t *c = coll_get(x, coll);
    bson_t q = BSON_INITIALIZER;
    if (ver_too) keys_or_ver(&q, keys, sizeof *keys, lo, hi);
    else keys_in(&q, keys, sizeof *keys, lo, hi);
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
        rc = delete_keys(x, p.coll, m->keys, lo, lo + GET_BATCH < m->n ? lo + GET_BATCH : m->n, false);
    return rc;
}

static int mg_multi_delete(CnKv *kv, const char *ds, const CnKvSlice *keys, size_t n, CnErr *err) {
    int rc = check_utf8(kv, ds, err);
    if (rc < 0) return rc;
    MgPut m = {ds, keys, NULL, n};
    return mg_run(kv, ds, "multi-delete", del_fn, &m, err);
}

/* ---- bulk loads -------------------------------------------------------------------------- */

/* A load writes into its staging collection (created with the index at begin). It
 * buffers pairs up to load_chunk_bytes, sorts the chunk by key (arrival order breaks
 * ties, so the last of a repeated key wins), and writes it as unordered insert_many
 * commands of at most INSERT_DOCS documents / INSERT_BYTES; the commit's last command
 * carries the version document too. A key written by an earlier chunk of the same load
 * must not get a second document: a batch whose key range meets the range already
 * written first deletes its keys. Sorted input never pays for that; shuffled input
 * beyond one chunk does. */
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
    char live[NS_MAX + 1];  /* the dataset's collection */
    char stage[NS_MAX + STAGE_ROOM + 1]; /* this load's staging collection */
    bool staged;            /* the staging collection may exist (abort drops it) */
    CnBuf lo, hi;           /* key range written so far */
    bson_t *docs;           /* OWNED: INSERT_DOCS + 1 documents reused per batch */
} MgLoad;

typedef struct MgBegin {
    CnKvLoad *ld;
    MgLoad *L;
} MgBegin;

/* The pointer is not read here: the commit's claim refuses a dataset in a newer layout
 * (and converts a layout-1 one). Leftover staging collections are swept by the commit
 * (see sweep_fn). */
static int begin_fn(MgCtx *x, void *arg) {
    MgBegin *b = arg;
    int rc = coll_name(x->kv, b->ld->dataset, b->L->live, x->err);
    if (rc == 0) rc = next_version(x, &b->ld->version);
    if (rc) return rc;
    snprintf(b->L->stage, sizeof b->L->stage, STAGE_PREFIX "%llu.%s",
             (unsigned long long)b->ld->version, b->L->live);
    b->L->staged = true;
    if (rc == 0) rc = create_index(x, b->L->stage);
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

static int drop_fn_stage(MgCtx *x, void *arg) { return coll_drop(x, arg); }

static int mg_load_begin(CnKvLoad *ld, CnErr *err) {
    CnKv *kv = ld->kv;
    int rc = check_utf8(kv, ld->dataset, err);
    if (rc < 0) return rc;
    MgLoad *L = cn_calloc(1, sizeof *L);
    if (L) L->docs = cn_malloc((INSERT_DOCS + 1) * sizeof *L->docs);
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
        if (L->staged) { /* best effort; the next load of the dataset drops it otherwise */
            CnErr ignored = CN_ERR_INIT;
            if (mg_run(kv, ld->dataset, "abort load", drop_fn_stage, L->stage, &ignored) < 0)
                cn_kv__vc_set(&((MgStore *)kv->impl)->cleaned, L->live, 0);
        }
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
    bool ver_doc;           /* the batch carries the version document */
} MgFlush;

static int insert_fn(MgCtx *x, void *arg) {
    MgFlush *f = arg;
    MgLoad *L = f->L;
    size_t n = f->hi - f->lo, m = n + f->ver_doc;
    int rc = 0;
    /* A retry may follow an insert that landed without its reply reaching us. */
    if (f->overlap || x->attempt > 0) {
        CnKvSlice *keys = cn_malloc((n ? n : 1) * sizeof *keys);
        if (!keys) return cn_err_set(x->err, CN_ENOMEM, "%s: out of memory", x->kv->uri);
        for (size_t i = 0; i < n; i++) keys[i] = (CnKvSlice){L->ents[f->lo + i].key, L->ents[f->lo + i].key_len};
        rc = delete_keys(x, L->stage, keys, 0, n, f->ver_doc);
        cn_free(keys);
        if (rc) return rc;
    }
    const bson_t *ptrs[INSERT_DOCS + 1];
    for (size_t i = 0; i < n; i++) {
        const MgEnt *e = &L->ents[f->lo + i];
        bson_t *d = &L->docs[i];
        bson_init(d);
        append_bin(d, "k", e->key, e->key_len);
        append_bin(d, "v", e->val, e->val_len);
        ptrs[i] = d;
    }
    if (f->ver_doc) {
        bson_init(&L->docs[n]);
        ver_doc(&L->docs[n], f->ld->version);
        ptrs[n] = &L->docs[n];
    }
    mongoc_collection_t *c = coll_get(x, L->stage);
    bson_t opts = BSON_INITIALIZER;
    BSON_APPEND_BOOL(&opts, "ordered", false);
    if (!mongoc_collection_insert_many(c, ptrs, m, &opts, NULL, &x->e)) rc = MG_DRIVER;
    bson_destroy(&opts);
    mongoc_collection_destroy(c);
    for (size_t i = 0; i < m; i++) bson_destroy(&L->docs[i]);
    return rc;
}

static int cmp_ent(const void *a, const void *b) {
    const MgEnt *x = a, *y = b;
    int c = cn_bytes_cmp(x->key, x->key_len, y->key, y->key_len);
    if (c) return c;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static bool range_meets(const MgLoad *L, const MgEnt *first, const MgEnt *last) {
    if (!L->lo.len) return false;
    return cn_bytes_cmp(last->key, last->key_len, L->lo.data, L->lo.len) >= 0 &&
           cn_bytes_cmp(first->key, first->key_len, L->hi.data, L->hi.len) <= 0;
}

/* Writes the buffered chunk; last: the load's final chunk, whose last command carries
 * the version document (alone when the chunk is empty). */
static int flush_chunk(CnKvLoad *ld, bool last, CnErr *err) {
    MgLoad *L = ld->impl;
    /* an upload adds its keys in order (a GroupBy's are sorted): no sort then */
    size_t sorted = 1;
    while (sorted < L->n_ents && cmp_ent(&L->ents[sorted - 1], &L->ents[sorted]) < 0) sorted++;
    if (sorted < L->n_ents) qsort(L->ents, L->n_ents, sizeof *L->ents, cmp_ent);
    size_t m = 0; /* keep the last of each run of equal keys */
    for (size_t i = 0; i < L->n_ents; i++) {
        if (i + 1 < L->n_ents && cn_bytes_cmp(L->ents[i].key, L->ents[i].key_len,
                                                L->ents[i + 1].key, L->ents[i + 1].key_len) == 0)
            continue;
        L->ents[m++] = L->ents[i];
    }
    int rc = 0;
    bool had_range = L->lo.len > 0;
    for (size_t lo = 0; (lo < m || (last && lo == 0)) && rc == 0;) {
        size_t hi = lo, bytes = 0;
        while (hi < m && hi - lo < INSERT_DOCS &&
               (hi == lo || bytes + L->ents[hi].key_len + L->ents[hi].val_len + DOC_OVERHEAD <= INSERT_BYTES)) {
            bytes += L->ents[hi].key_len + L->ents[hi].val_len + DOC_OVERHEAD;
            hi++;
        }
        MgFlush f = {ld, L, lo, hi, hi > lo && had_range && range_meets(L, &L->ents[lo], &L->ents[hi - 1]),
                     last && hi == m};
        rc = mg_run(ld->kv, ld->dataset, "load", insert_fn, &f, err);
        lo = hi;
        if (hi == m) break;
    }
    if (rc == 0 && m) { /* widen the written range by the chunk's first and last keys */
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
    if (L->arena.used_total >= L->chunk_bytes) return flush_chunk(ld, false, err);
    return 0;
}

typedef struct MgFlip {
    CnKvLoad *ld;
    MgLoad *L;
    uint64_t winner;        /* OUT: the newer version that won, on conflict */
    bool existed;           /* OUT: the dataset had a pointer (not its first version) */
} MgFlip;

/* renameCollection stage -> live with dropTarget, run on the admin database. */
static int rename_stage(MgCtx *x, const MgLoad *L) {
    char from[2 * NS_MAX + 2], to[2 * NS_MAX + 2];
    snprintf(from, sizeof from, "%s.%s", x->s->db, L->stage);
    snprintf(to, sizeof to, "%s.%s", x->s->db, L->live);
    bson_t cmd = BSON_INITIALIZER, reply;
    BSON_APPEND_UTF8(&cmd, "renameCollection", from);
    BSON_APPEND_UTF8(&cmd, "to", to);
    BSON_APPEND_BOOL(&cmd, "dropTarget", true);
    bool ok = mongoc_client_command_simple(x->client, "admin", &cmd, NULL, &reply, &x->e);
    bson_destroy(&reply);
    bson_destroy(&cmd);
    return ok ? 0 : MG_DRIVER;
}

/* Claims the pointer for ld->version unless a newer version was committed, then makes
 * the staging collection live. Safe to retry: a claim that finds its own version landed
 * before, and a rename whose source is gone landed when the live version is ours. */
static int flip_fn(MgCtx *x, void *arg) {
    MgFlip *f = arg;
    const char *ds = f->ld->dataset;
    uint64_t ver = f->ld->version;
    mongoc_collection_t *c = coll_get(x, META_COLL);
    bson_t q = BSON_INITIALIZER, lt, nl, gt, upd = BSON_INITIALIZER, set, reply;
    BSON_APPEND_UTF8(&q, "dataset", ds);
    BSON_APPEND_DOCUMENT_BEGIN(&q, "ver", &lt);
    BSON_APPEND_INT64(&lt, "$lte", (int64_t)ver);
    bson_append_document_end(&q, &lt);
    BSON_APPEND_DOCUMENT_BEGIN(&q, "layout", &nl); /* no newer layout (none: layout 1) */
    BSON_APPEND_DOCUMENT_BEGIN(&nl, "$not", &gt);
    BSON_APPEND_INT32(&gt, "$gt", LAYOUT);
    bson_append_document_end(&nl, &gt);
    bson_append_document_end(&q, &nl);
    BSON_APPEND_DOCUMENT_BEGIN(&upd, "$set", &set);
    BSON_APPEND_INT64(&set, "ver", (int64_t)ver);
    BSON_APPEND_UTF8(&set, "coll", f->L->live);
    bson_append_document_end(&upd, &set);
    /* findAndModify rather than an update: its reply holds the layout claimed over */
    mongoc_find_and_modify_opts_t *fm = mongoc_find_and_modify_opts_new();
    mongoc_find_and_modify_opts_set_update(fm, &upd);
    int rc = 0;
    bool claimed = false;
    uint64_t old_layout = LAYOUT;
    if (!mongoc_collection_find_and_modify_with_opts(c, &q, fm, &reply, &x->e)) {
        rc = MG_DRIVER;
    } else {
        bson_iter_t it, sub;
        if (bson_iter_init_find(&it, &reply, "value") && BSON_ITER_HOLDS_DOCUMENT(&it) &&
            bson_iter_recurse(&it, &sub)) {
            claimed = f->existed = true;
            old_layout = 1;
            if (bson_iter_find(&sub, "layout") && BSON_ITER_HOLDS_NUMBER(&sub))
                old_layout = (uint64_t)bson_iter_as_int64(&sub);
        }
    }
    bson_destroy(&reply);
    mongoc_find_and_modify_opts_destroy(fm);
    bson_destroy(&q);
    bson_destroy(&upd);
    mongoc_collection_destroy(c);
    bool first = false;
    if (rc == 0 && !claimed) {
        MgPtr p;
        rc = ptr_read(x, ds, &p, &first);
        if (rc == 0 && first && p.layout > LAYOUT) return layout_check(x, ds, &p);
        if (rc == 0 && first) { /* not claimed: a newer version holds the pointer */
            f->winner = p.ver;
            return 0;
        }
        first = true; /* the dataset's first version: the pointer follows the rename */
    }
    if (rc == 0) rc = rename_stage(x, f->L);
    if (rc == MG_DRIVER && x->e.code == 26 && x->attempt > 0) { /* an earlier attempt renamed */
        uint64_t live = 0;
        bool found;
        rc = live_version(x, f->L->live, &live, &found);
        if (rc == 0 && !(found && live == ver)) rc = MG_DRIVER;
    }
    /* A first version's pointer comes after its collection is live (readers that find a
     * pointer expect the version document). Readers of a layout-1 dataset were refused
     * until the rename; they read it once its pointer says layout 2. */
    if (rc == 0 && (first || old_layout != LAYOUT)) rc = ptr_write(x, ds, f->L->live, ver);
    return rc;
}

static void mg_load_abort(CnKvLoad *ld) {
    MgLoad *L = ld->impl;
    if (!L) return;
    /* best effort: a staging collection left behind is dropped by the dataset's next load */
    CnErr ignored = CN_ERR_INIT;
    if (mg_run(ld->kv, ld->dataset, "abort load", drop_fn_stage, L->stage, &ignored) < 0)
        cn_kv__vc_set(&((MgStore *)ld->kv->impl)->cleaned, L->live, 0);
    load_free(L);
    ld->impl = NULL;
}

/* Drops the staging collections of earlier loads of the dataset that crashed or whose
 * abort failed (versions below this load's). Run after a commit that replaced a
 * version, once per handle and dataset: a dataset's first upload skips it (a round
 * trip of its fixed cost, and such leftovers are rare: they go with its next upload),
 * and this handle's own loads leave none behind unless an abort fails. */
static int sweep_fn(MgCtx *x, void *arg) {
    const CnKvLoad *ld = arg;
    const MgLoad *L = ld->impl;
    return drop_stages(x, L->live, ld->version);
}

static uint64_t mono_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int mg_load_commit(CnKvLoad *ld, CnErr *err) {
    MgLoad *L = ld->impl;
    uint64_t t0 = mono_ns();
    int rc = flush_chunk(ld, true, err);
    uint64_t t1 = mono_ns();
    MgFlip f = {ld, L, 0, false};
    if (rc == 0) rc = mg_run(ld->kv, ld->dataset, "flip to the new version", flip_fn, &f, err);
    if (rc == 0 && f.winner)
        rc = cn_err_set(err, CN_ECONFLICT, "%s: dataset %s: load of version %llu lost: version "
                        "%llu, from a load started later, was committed meanwhile", ld->kv->uri,
                        ld->dataset, (unsigned long long)ld->version,
                        (unsigned long long)f.winner);
    if (rc < 0) {
        mg_load_abort(ld);
        return rc;
    }
    uint64_t t2 = mono_ns(), done_before;
    MgStore *s = ld->kv->impl;
    if (f.existed && !cn_kv__vc_get(&s->cleaned, L->live, &done_before)) {
        /* committed already: a failed sweep is left to a later load */
        CnErr sweep = CN_ERR_INIT;
        if (mg_run(ld->kv, ld->dataset, "drop staging collections of crashed loads", sweep_fn, ld,
                   &sweep) == 0)
            cn_kv__vc_set(&s->cleaned, L->live, 1);
        else
            cn_log(CN_LOG_WARN, "%s (they stay until a later load)", sweep.msg);
    }
    cn_log(CN_LOG_DEBUG, "%s: dataset %s: commit of version %llu: last inserts %.1f ms, flip "
           "(rename over the old version) %.1f ms, sweep %.1f ms", ld->kv->uri, ld->dataset,
           (unsigned long long)ld->version, (double)(t1 - t0) / 1e6, (double)(t2 - t1) / 1e6,
           (double)(mono_ns() - t2) / 1e6);
    load_free(L);
    ld->impl = NULL;
    return 0;
}

/* Loaded by kv_mongo_load.c (dlsym); the only symbol the module exports. */
__attribute__((visibility("default"))) const CnKvOps cn_kv__mongo_module_ops = {
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
