/* bench_stores.c: the remote online stores through our KV interface (src/online) next to
 * the same operations done directly with each store's own client, in the same run
 * (STYLE.md section 7). The difference is what chronon-c's layer costs: versions, the
 * pointer read that makes a multi-get see one snapshot, retries, copying.
 *   upload: keys/s of cn_kv_load_* (a new dataset's first version, then the flip) next to
 *     redis     pipelined MSET, 256 pairs per command, 16 commands in flight (hiredis), of
 *               keys that do not exist yet (each upload its own prefix); also
 *               the same as HSET into one hash, the backend's layout (a version's hash)
 *     mongodb   a new collection with a unique index on k, insert_many of 1000 documents
 *               {k, v}, then renameCollection onto the live collection with dropTarget:
 *               ours too writes a version into a staging collection and renames it
 *     dynamodb  CreateTable of a new table (hash key k), waited for until ACTIVE, then
 *               BatchWriteItem of 25 items over libcurl (curl's SigV4), UnprocessedItems
 *               resent: ours too writes each version into a table of its own
 *           each into a new place (mongodb: a collection that does not exist yet), in
 *           `rounds` rounds of raw, ours, raw (upload_rounds: the mean and the median);
 *           then, as many rounds, the next day's upload of ours (the dataset's third
 *           version and later: a steady-state day, whose commit drops what a day's does)
 *           next to the raw counterpart where the store has one
 *     dynamodb  replacing: a new table as above, then DeleteTable of the previous upload's
 *               (no key of the previous day left); mongodb: an upload renamed over the
 *               previous day's collection, which the rename drops; redis: HSET into a
 *               new hash, then UNLINK of the previous day's
 *   fetch:  p50/p99 of cn_kv_multi_get of 1 and 10 random keys next to
 *     redis     MGET; mongodb find {k: {$in: [...]}}; dynamodb BatchGetItem (consistent)
 *     and the CPU microseconds per fetch of the bench's thread (building, signing, parsing)
 *     and of the store's server (a block of fetches of each path; CN_BENCH_SERVER_PID)
 * Every value read either way is checked against what was written (the cross-check).
 * Usage: bench_stores --store redis|mongodb|dynamodb URI [keys] [fetches[/fetches10]] [rounds]
 *   fetches: how many fetches of 1 key are timed per path; /fetches10 of 10 keys (else
 *            as many)
 *   redis:    URI redis://host:port[/db]      (writes under the prefix "bench:")
 *   mongodb:  URI mongodb://host:port/db      (collections bench_raw and the dataset's)
 *   dynamodb: URI dynamodb://prefix?region=R  (endpoint and keys from the AWS_*
 *             variables, as the backend reads them; tables <prefix>raw and the dataset's)
 * bench/bench_stores.py starts redis-server, dynalite and CongoDB on free ports and runs
 * this against each. Keys are 16 bytes, values 64 bytes; seeds are fixed. */
#include "base/compat.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>
#include <jansson.h>
#include <openssl/evp.h>

#ifdef CN_BENCH_HIREDIS
#include <hiredis/hiredis.h>
#endif
#ifdef CN_HAVE_MONGOC
#include <mongoc/mongoc.h>
#endif

#include "base/alloc.h"
#include "base/arena.h"
#include "base/str.h"
#include "online/kv.h"
#include "bench_util.h"

enum { KEY_LEN = 16, VAL_LEN = 64, MAX_GET = 10 };
#define DATASET "BENCH_BATCH"

/* CPU seconds of process pid (user + system), or 0 when pid is 0 or gone:
 * the store's server, whose pid bench_stores.py passes in CN_BENCH_SERVER_PID. */
static double server_cpu(long pid) {
    if (pid <= 0) return 0;
    /* the process's CPU clock: nanoseconds, where /proc counts 10 ms ticks (a CongoDB
     * upload of 10k keys is about 8 of them) */
    clockid_t clk;
    struct timespec ts;
    if (clock_getcpuclockid((pid_t)pid, &clk) == 0 && clock_gettime(clk, &ts) == 0)
        return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%ld/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    const char *p = strrchr(buf, ')'); /* the name may hold spaces */
    unsigned long long ut = 0, st = 0;
    if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
        return 0;
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

/* CPU of this process and of the server since the last call (both in seconds). */
typedef struct Cpu {
    long pid;
    double self, srv;
} Cpu;

static void cpu_lap(Cpu *c, double *self_s, double *srv_s) {
    double a = cpu(), b = server_cpu(c->pid);
    if (self_s) *self_s = a - c->self;
    if (srv_s) *srv_s = b - c->srv;
    c->self = a, c->srv = b;
}

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void make_key(char *k, size_t i) {
    k[0] = 'k';
    for (int j = KEY_LEN - 1; j >= 1; j--, i /= 10) k[j] = (char)('0' + i % 10);
}

static void make_val(char *v, size_t i) {
    for (int j = 0; j < VAL_LEN; j++) v[j] = (char)('a' + (i * 7 + (size_t)j) % 26);
    memcpy(v, &i, sizeof i);
}

static bool val_ok(const void *got, size_t len, size_t i) {
    char want[VAL_LEN];
    make_val(want, i);
    return got && len == VAL_LEN && memcmp(got, want, VAL_LEN) == 0;
}

static uint64_t xs(uint64_t *s) {
    *s ^= *s << 13, *s ^= *s >> 7, *s ^= *s << 17;
    return *s;
}

static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

typedef struct Lat {
    double p50_us, p99_us;
} Lat;

static Lat summarize(uint64_t *ns, size_t m) {
    qsort(ns, m, sizeof *ns, cmp_u64);
    return (Lat){ns[m / 2] / 1000.0, ns[m * 99 / 100] / 1000.0};
}

/* The raw client of one store: load n pairs, fetch keys (indexes) checking each value. */
typedef struct Raw {
    void *st;
    int (*load)(void *st, size_t first, size_t n); /* keys first .. first+n-1 */
    int (*get)(void *st, const size_t *idx, int n_keys);
    void (*close)(void *st);
    int (*load2)(void *st, size_t first, size_t n); /* optional: a second raw upload, shown on its own line */
    const char *load2_what;
    /* optional: the raw counterpart of a replacing upload (the next day's data, none of
     * the previous day's left), compared with ours instead of load */
    int (*replace)(void *st, size_t first, size_t n);
    const char *replace_what;
    /* optional: removes the new places that load's first uploads made (untimed, between
     * rounds), except the fetched one */
    int (*settle)(void *st);
} Raw;

/* ---- ours ---------------------------------------------------------------------------- */

/* *commit_s (OUT): the time of the commit alone (flip and clean-up). */
static int ours_load(CnKv *kv, const char *dataset, size_t first, size_t n, double *commit_s,
                     CnErr *err) {
    CnKvLoad *ld = NULL;
    char k[KEY_LEN], v[VAL_LEN];
    int rc = cn_kv_load_begin(kv, dataset, &ld, err);
    for (size_t i = first; rc == 0 && i < first + n; i++) {
        make_key(k, i);
        make_val(v, i);
        rc = cn_kv_load_add(ld, k, KEY_LEN, v, VAL_LEN, err);
    }
    uint64_t t0 = now_ns();
    if (ld) rc = cn_kv_load_commit(ld, NULL, err);
    *commit_s = (double)(now_ns() - t0) / 1e9;
    return rc;
}

static int ours_get(CnKv *kv, CnArena *a, const size_t *idx, int n_keys, CnErr *err) {
    char kb[MAX_GET][KEY_LEN];
    CnKvSlice q[MAX_GET], vals[MAX_GET];
    for (int i = 0; i < n_keys; i++) {
        make_key(kb[i], idx[i]);
        q[i] = (CnKvSlice){(const uint8_t *)kb[i], KEY_LEN};
    }
    cn_arena_reset(a);
    int rc = cn_kv_multi_get(kv, DATASET, q, (size_t)n_keys, vals, a, err);
    for (int i = 0; rc == 0 && i < n_keys; i++)
        if (!val_ok(vals[i].data, vals[i].len, idx[i]))
            rc = cn_err_set(err, CN_EINTERNAL, "ours: wrong value for key %zu", idx[i]);
    return rc;
}

/* ---- redis: hiredis -------------------------------------------------------------------- */

#ifdef CN_BENCH_HIREDIS
static int rd_check(redisReply *r, const char *what) {
    if (!r || r->type == REDIS_REPLY_ERROR) {
        fprintf(stderr, "bench_stores: redis %s: %s\n", what, r ? r->str : "no reply");
        if (r) freeReplyObject(r);
        return -1;
    }
    freeReplyObject(r);
    return 0;
}

/* Appends one command to c's pipeline (hiredis copies the arguments into its output
 * buffer); with RD_INFLIGHT commands pending, or at the last (`last`), reads every
 * pending reply, each checked as `what`. 0 or -1. */
enum { RD_INFLIGHT = 16 };
static int rd_pipe(redisContext *c, int argc, const char **argv, const size_t *lens, bool last, int *pending,
                   const char *what) {
    int rc = redisAppendCommandArgv(c, argc, argv, lens) == REDIS_OK ? 0 : -1;
    if (++*pending == RD_INFLIGHT || last)
        for (; rc == 0 && *pending; --*pending) {
            void *r = NULL;
            if (redisGetReply(c, &r) != REDIS_OK) rc = -1;
            else rc = rd_check(r, what);
        }
    return rc;
}

/* Pipelined MSET of top-level keys "<prefix><key>" (hash NULL), or HSET of "raw:<key>"
 * into one hash: our layout's cost on the server without our client code. */
static int rd_load_into(redisContext *c, const char *hash, const char *prefix, size_t first, size_t n) {
    enum { PAIRS = 256 };
    const char *argv[2 + 2 * PAIRS];
    size_t lens[2 + 2 * PAIRS];
    char *buf = cn_malloc((size_t)PAIRS * (4 + KEY_LEN + VAL_LEN));
    int rc = 0, pending = 0;
    for (size_t i = first; rc == 0 && i < first + n;) {
        int argc = 1;
        argv[0] = hash ? "HSET" : "MSET", lens[0] = 4;
        if (hash) argv[argc] = hash, lens[argc++] = strlen(hash);
        for (int p = 0; p < PAIRS && i < first + n; p++, i++) {
            char *k = buf + (size_t)p * (4 + KEY_LEN + VAL_LEN), *v = k + 4 + KEY_LEN;
            memcpy(k, hash ? "raw:" : prefix, 4);
            make_key(k + 4, i);
            make_val(v, i);
            argv[argc] = k, lens[argc++] = 4 + KEY_LEN;
            argv[argc] = v, lens[argc++] = VAL_LEN;
        }
        rc = rd_pipe(c, argc, argv, lens, i == first + n, &pending, hash ? "HSET" : "MSET");
    }
    cn_free(buf);
    return rc;
}

enum { RD_UNSETTLED = 64 };

typedef struct RdRaw {
    redisContext *c;
    unsigned day;           /* rd_replace's days so far */
    unsigned n_loads;       /* rd_load's uploads so far */
    /* uploads after the first not yet removed by rd_settle: prefix number, keys */
    unsigned n_unsettled, pre[RD_UNSETTLED];
    size_t first[RD_UNSETTLED], n[RD_UNSETTLED];
} RdRaw;

/* Each upload writes keys that do not exist yet, as ours does (a new dataset's version):
 * keys 0..n (the fetched ones, written once) under "raw:", every other upload under a
 * prefix of its own ("r<i>:"), removed untimed by rd_settle. Writing the same keys again
 * would time overwrites, which cost the server less than new keys. */
static int rd_load(void *st, size_t first, size_t n) {
    RdRaw *r = st;
    char prefix[5] = "raw:";
    unsigned i = r->n_loads++;
    if (first != 0) { /* not the fetched keys 0..n */
        if (r->n_unsettled == RD_UNSETTLED) return -1;
        snprintf(prefix, sizeof prefix, "r%02u:", i % 100);
        r->pre[r->n_unsettled] = i % 100, r->first[r->n_unsettled] = first, r->n[r->n_unsettled++] = n;
    }
    return rd_load_into(r->c, NULL, prefix, first, n);
}

/* UNLINKs the keys of the uploads since the last call, but the fetched ones. */
static int rd_settle(void *st) {
    enum { PER = 256 };
    RdRaw *r = st;
    char kb[PER][4 + KEY_LEN];
    const char *argv[1 + PER];
    size_t lens[1 + PER];
    int rc = 0, pending = 0;
    for (unsigned u = 0; u < r->n_unsettled && rc == 0; u++) {
        size_t end = r->first[u] + r->n[u];
        for (size_t i = r->first[u]; i < end && rc == 0;) {
            int argc = 1;
            argv[0] = "UNLINK", lens[0] = 6;
            for (; argc <= PER && i < end; i++, argc++) {
                char *k = kb[argc - 1];
                snprintf(k, 5, "r%02u:", r->pre[u]);
                make_key(k + 4, i);
                argv[argc] = k, lens[argc] = sizeof kb[0];
            }
            rc = rd_pipe(r->c, argc, argv, lens, i == end, &pending, "UNLINK");
        }
    }
    r->n_unsettled = 0;
    return rc;
}

static int rd_load_hash(void *st, size_t first, size_t n) {
    return rd_load_into(((RdRaw *)st)->c, "raw:hash", NULL, first, n);
}

/* The next day as a bare client replaces it without leaving the previous day's keys
 * behind: HSET into a new hash, then UNLINK of the previous day's (what the backend
 * does, without its pointer). */
static int rd_replace(void *st, size_t first, size_t n) {
    RdRaw *r = st;
    char day[32], prev[32];
    snprintf(day, sizeof day, "raw:day%u", r->day);
    snprintf(prev, sizeof prev, "raw:day%u", r->day - 1);
    int rc = rd_load_into(r->c, day, NULL, first, n);
    if (rc == 0 && r->day > 0) rc = rd_check(redisCommand(r->c, "UNLINK %s", prev), "UNLINK");
    r->day++;
    return rc;
}

static int rd_get(void *st, const size_t *idx, int n_keys) {
    redisContext *c = ((RdRaw *)st)->c;
    char kb[MAX_GET][4 + KEY_LEN];
    const char *argv[1 + MAX_GET];
    size_t lens[1 + MAX_GET];
    argv[0] = "MGET", lens[0] = 4;
    for (int i = 0; i < n_keys; i++) {
        memcpy(kb[i], "raw:", 4);
        make_key(kb[i] + 4, idx[i]);
        argv[1 + i] = kb[i], lens[1 + i] = sizeof kb[i];
    }
    redisReply *r = redisCommandArgv(c, 1 + n_keys, argv, lens);
    int rc = r && r->type == REDIS_REPLY_ARRAY && r->elements == (size_t)n_keys ? 0 : -1;
    for (int i = 0; rc == 0 && i < n_keys; i++)
        if (!val_ok(r->element[i]->str, r->element[i]->len, idx[i])) rc = -1;
    if (r) freeReplyObject(r);
    return rc;
}

static void rd_close(void *st) {
    redisFree(((RdRaw *)st)->c);
    cn_free(st);
}

static int rd_open(const char *uri, Raw *raw) {
    char host[256];
    int port = 6379, db = 0;
    if (sscanf(uri, "redis://%255[^:/]:%d/%d", host, &port, &db) < 1) {
        fprintf(stderr, "bench_stores: %s: expected redis://host:port[/db]\n", uri);
        return -1;
    }
    struct timeval tv = {2, 0};
    redisContext *c = redisConnectWithTimeout(host, port, tv);
    if (!c || c->err) {
        fprintf(stderr, "bench_stores: cannot connect to %s:%d\n", host, port);
        if (c) redisFree(c);
        return -1;
    }
    if (rd_check(redisCommand(c, "SELECT %d", db), "SELECT") < 0) return -1;
    RdRaw *r = cn_malloc(sizeof *r);
    memset(r, 0, sizeof *r);
    r->c = c;
    *raw = (Raw){r, rd_load, rd_get, rd_close, rd_load_hash, "raw redis HSET into one hash (our layout)",
                 rd_replace, "raw redis (HSET into a new hash, then UNLINK of the previous day's)",
                 rd_settle};
    return 0;
}
#endif

/* ---- mongodb: libmongoc ------------------------------------------------------------------ */

#ifdef CN_HAVE_MONGOC
typedef struct MgRaw {
    mongoc_client_t *cl;
    mongoc_collection_t *coll;  /* keys 0.., the ones fetched */
    /* the other uploads' keys: CongoDB scans a whole collection per query, so the
     * fetched one holds n documents, as our dataset's does */
    mongoc_collection_t *other;
    mongoc_collection_t *stage; /* where an upload is written before its rename */
    unsigned n_fresh;           /* first uploads into new collections so far */
    unsigned n_settled;         /* of which mg_settle dropped */
    char db[128];
} MgRaw;

static void bin(bson_t *b, const char *f, const void *d, size_t n) {
    bson_append_binary(b, f, -1, BSON_SUBTYPE_BINARY, d, (uint32_t)n);
}

/* Drops coll, creates it again with a unique index on k (the backend's index). */
static int mg_fresh(mongoc_collection_t *coll) {
    bson_error_t e;
    mongoc_collection_drop(coll, NULL); /* fails harmlessly when absent */
    bson_t cmd = BSON_INITIALIZER, arr, idx, key, reply;
    BSON_APPEND_UTF8(&cmd, "createIndexes", mongoc_collection_get_name(coll));
    BSON_APPEND_ARRAY_BEGIN(&cmd, "indexes", &arr);
    BSON_APPEND_DOCUMENT_BEGIN(&arr, "0", &idx);
    BSON_APPEND_DOCUMENT_BEGIN(&idx, "key", &key);
    BSON_APPEND_INT32(&key, "k", 1);
    bson_append_document_end(&idx, &key);
    BSON_APPEND_UTF8(&idx, "name", "k_1");
    BSON_APPEND_BOOL(&idx, "unique", true);
    bson_append_document_end(&arr, &idx);
    bson_append_array_end(&cmd, &arr);
    /* servers without createIndexes (code 59) scan anyway */
    int rc = 0;
    if (!mongoc_collection_write_command_with_opts(coll, &cmd, NULL, &reply, &e) && e.code != 59) {
        fprintf(stderr, "bench_stores: mongodb createIndexes: %s\n", e.message);
        rc = -1;
    }
    bson_destroy(&reply);
    bson_destroy(&cmd);
    return rc;
}

/* A day's upload as a bare client makes it replace the previous day at once for its
 * readers: a new collection with the index, insert_many of 1000 documents {k, v}, then
 * renameCollection onto the live one `to` with dropTarget (what the backend does,
 * without its pointer and version documents). */
static int mg_upload(MgRaw *m, size_t first, size_t n, const char *to_coll) {
    enum { DOCS = 1000 };
    int rc = mg_fresh(m->stage);
    bson_t *docs = cn_malloc(DOCS * sizeof *docs);
    const bson_t *ptrs[DOCS];
    char k[KEY_LEN], v[VAL_LEN];
    for (size_t i = first; rc == 0 && i < first + n;) {
        size_t m_docs = 0;
        for (; m_docs < DOCS && i < first + n; m_docs++, i++) {
            bson_init(&docs[m_docs]);
            make_key(k, i);
            make_val(v, i);
            bin(&docs[m_docs], "k", k, KEY_LEN);
            bin(&docs[m_docs], "v", v, VAL_LEN);
            ptrs[m_docs] = &docs[m_docs];
        }
        bson_error_t e;
        if (!mongoc_collection_insert_many(m->stage, ptrs, m_docs, NULL, NULL, &e)) {
            fprintf(stderr, "bench_stores: mongodb insert_many: %s\n", e.message);
            rc = -1;
        }
        for (size_t j = 0; j < m_docs; j++) bson_destroy(&docs[j]);
    }
    cn_free(docs);
    if (rc == 0) {
        char from[256], to[256];
        snprintf(from, sizeof from, "%s.%s", m->db, mongoc_collection_get_name(m->stage));
        snprintf(to, sizeof to, "%s.%s", m->db, to_coll);
        bson_t *cmd = BCON_NEW("renameCollection", BCON_UTF8(from), "to", BCON_UTF8(to), "dropTarget",
                               BCON_BOOL(true));
        bson_error_t e;
        if (!mongoc_client_command_simple(m->cl, "admin", cmd, NULL, NULL, &e)) {
            fprintf(stderr, "bench_stores: mongodb renameCollection: %s\n", e.message);
            rc = -1;
        }
        bson_destroy(cmd);
    }
    return rc;
}

/* A dataset's first upload: keys 0.. into the fetched collection, other keys into a
 * collection of their own that does not exist yet (the rename drops nothing), as ours
 * goes to a new dataset's collection. */
static int mg_load(void *st, size_t first, size_t n) {
    MgRaw *m = st;
    char fresh[64];
    snprintf(fresh, sizeof fresh, "bench_raw_first%u", m->n_fresh++);
    return mg_upload(m, first, n, first == 0 ? mongoc_collection_get_name(m->coll) : fresh);
}

/* Drops the collections of mg_load's first uploads but the fetched one. */
static int mg_settle(void *st) {
    MgRaw *m = st;
    for (; m->n_settled < m->n_fresh; m->n_settled++) {
        char name[64];
        snprintf(name, sizeof name, "bench_raw_first%u", m->n_settled);
        mongoc_collection_t *c = mongoc_client_get_collection(m->cl, m->db, name);
        mongoc_collection_drop(c, NULL); /* absent: the fetched collection's turn */
        mongoc_collection_destroy(c);
    }
    return 0;
}

/* The next day's upload: renamed over the previous day's collection, which it drops. */
static int mg_replace(void *st, size_t first, size_t n) {
    MgRaw *m = st;
    return mg_upload(m, first, n, mongoc_collection_get_name(m->other));
}

static int mg_get(void *st, const size_t *idx, int n_keys) {
    MgRaw *m = st;
    bson_t q = BSON_INITIALIZER, in, arr, opts = BSON_INITIALIZER, proj;
    BSON_APPEND_DOCUMENT_BEGIN(&q, "k", &in);
    BSON_APPEND_ARRAY_BEGIN(&in, "$in", &arr);
    char k[KEY_LEN], name[16];
    for (int i = 0; i < n_keys; i++) {
        make_key(k, idx[i]);
        snprintf(name, sizeof name, "%d", i);
        bin(&arr, name, k, KEY_LEN);
    }
    bson_append_array_end(&in, &arr);
    bson_append_document_end(&q, &in);
    BSON_APPEND_DOCUMENT_BEGIN(&opts, "projection", &proj);
    BSON_APPEND_INT32(&proj, "_id", 0);
    bson_append_document_end(&opts, &proj);
    mongoc_cursor_t *cur = mongoc_collection_find_with_opts(m->coll, &q, &opts, NULL);
    const bson_t *doc;
    int found = 0, rc = 0;
    while (mongoc_cursor_next(cur, &doc)) {
        bson_iter_t it;
        bson_subtype_t sub;
        const uint8_t *kd = NULL, *vd = NULL;
        uint32_t kl = 0, vl = 0;
        if (bson_iter_init_find(&it, doc, "k")) bson_iter_binary(&it, &sub, &kl, &kd);
        if (bson_iter_init_find(&it, doc, "v")) bson_iter_binary(&it, &sub, &vl, &vd);
        /* the key's digits are its index */
        size_t i = 0;
        for (uint32_t j = 1; kd && j < kl; j++) i = i * 10 + (size_t)(kd[j] - '0');
        if (!kd || !val_ok(vd, vl, i)) rc = -1;
        found++;
    }
    bson_error_t e;
    if (mongoc_cursor_error(cur, &e)) {
        fprintf(stderr, "bench_stores: mongodb find: %s\n", e.message);
        rc = -1;
    }
    mongoc_cursor_destroy(cur);
    bson_destroy(&q);
    bson_destroy(&opts);
    /* repeated random keys are found once */
    int distinct = 0;
    for (int i = 0; i < n_keys; i++) {
        bool seen = false;
        for (int j = 0; j < i; j++) seen |= idx[j] == idx[i];
        distinct += !seen;
    }
    return rc == 0 && found == distinct ? 0 : -1;
}

static void mg_close(void *st) {
    MgRaw *m = st;
    mongoc_collection_destroy(m->coll);
    mongoc_collection_destroy(m->other);
    mongoc_collection_destroy(m->stage);
    mongoc_client_destroy(m->cl);
    cn_free(m);
}

static int mg_open(const char *uri, Raw *raw) {
    mongoc_init();
    bson_error_t e;
    mongoc_uri_t *u = mongoc_uri_new_with_error(uri, &e);
    if (!u) {
        fprintf(stderr, "bench_stores: %s: %s\n", uri, e.message);
        return -1;
    }
    const char *db = mongoc_uri_get_database(u);
    MgRaw *m = cn_malloc(sizeof *m);
    snprintf(m->db, sizeof m->db, "%s", db ? db : "chronon");
    m->cl = mongoc_client_new_from_uri(u);
    m->coll = mongoc_client_get_collection(m->cl, m->db, "bench_raw");
    m->other = mongoc_client_get_collection(m->cl, m->db, "bench_raw_other");
    m->stage = mongoc_client_get_collection(m->cl, m->db, "bench_raw_stage");
    mongoc_uri_destroy(u);
    mongoc_collection_drop(m->coll, NULL); /* a previous run's; fails harmlessly when absent */
    mongoc_collection_drop(m->other, NULL);
    *raw = (Raw){m, mg_load, mg_get, mg_close, NULL, NULL, mg_replace,
                 "raw mongodb (new collection, then renameCollection over the previous)", mg_settle};
    return 0;
}
#endif

/* ---- dynamodb: JSON over libcurl ----------------------------------------------------------- */

typedef struct DyRaw {
    CURL *h;
    struct curl_slist *hdr_write, *hdr_get;
    char endpoint[512], sigv4[128], userpwd[512], prefix[128];
    char table[300];        /* the table fetches read: the upload of keys 0.. */
    char last[300];         /* the latest upload's table */
    unsigned n_tables;
    CnBuf resp;
} DyRaw;

static size_t dy_sink(char *p, size_t sz, size_t n, void *ud) {
    cn_buf_append(ud, p, sz * n);
    return sz * n;
}

/* POSTs body to the endpoint; *out is the parsed reply (NULL on a transport error).
 * Returns the HTTP status. */
static long dy_post(DyRaw *d, struct curl_slist *hdr, const char *body, json_t **out) {
    cn_buf_reset(&d->resp);
    curl_easy_setopt(d->h, CURLOPT_HTTPHEADER, hdr);
    curl_easy_setopt(d->h, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(d->h, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
    long code = 0;
    *out = NULL;
    if (curl_easy_perform(d->h) != CURLE_OK) return 0;
    curl_easy_getinfo(d->h, CURLINFO_RESPONSE_CODE, &code);
    *out = json_loadb(d->resp.data, d->resp.len, 0, NULL);
    return code;
}

static struct curl_slist *dy_headers(const char *target) {
    char t[128];
    snprintf(t, sizeof t, "X-Amz-Target: DynamoDB_20120810.%s", target);
    struct curl_slist *l = curl_slist_append(NULL, "Content-Type: application/x-amz-json-1.0");
    /* as the backend does: without it curl sends "Expect: 100-continue" for a body over
     * 1 KB (a BatchWriteItem of 25) and waits for the server's interim reply */
    l = curl_slist_append(l, "Expect:");
    return curl_slist_append(l, t);
}

static json_t *b64(const void *p, size_t n) {
    char s[4 * ((VAL_LEN + 2) / 3) + 1];
    EVP_EncodeBlock((unsigned char *)s, p, (int)n);
    return json_string(s);
}

static int dy_other(DyRaw *d, const char *target, json_t *body, bool quiet) {
    struct curl_slist *h = dy_headers(target);
    char *txt = json_dumps(body, JSON_COMPACT);
    json_t *r;
    long code = dy_post(d, h, txt, &r);
    if (code != 200 && !quiet)
        fprintf(stderr, "bench_stores: dynamodb %s: HTTP %ld %.*s\n", target, code, (int)d->resp.len,
                d->resp.data);
    free(txt); /* jansson's allocation */
    json_decref(r);
    json_decref(body);
    curl_slist_free_all(h);
    return code == 200 ? 0 : -1;
}

static int dy_create(DyRaw *d, const char *table);

/* An upload into a table of its own, created here, as ours does (a version's table): the
 * store does the same work for both, and neither writes into a table already holding
 * other data. */
static int dy_load(void *st, size_t first, size_t n) {
    DyRaw *d = st;
    enum { ITEMS = 25 };
    char k[KEY_LEN], v[VAL_LEN];
    snprintf(d->last, sizeof d->last, "%sraw%u", d->prefix, d->n_tables++);
    if (first == 0) snprintf(d->table, sizeof d->table, "%s", d->last);
    const char *table = d->last;
    int rc = dy_create(d, table);
    for (size_t i = first; rc == 0 && i < first + n;) {
        json_t *reqs = json_array();
        for (int p = 0; p < ITEMS && i < first + n; p++, i++) {
            make_key(k, i);
            make_val(v, i);
            json_array_append_new(reqs, json_pack("{s:{s:{s:{s:o},s:{s:o}}}}", "PutRequest", "Item", "k",
                                                  "B", b64(k, KEY_LEN), "d", "B", b64(v, VAL_LEN)));
        }
        json_t *items = json_pack("{s:o}", table, reqs);
        for (int tries = 0; rc == 0 && items; tries++) {
            json_t *body = json_pack("{s:O}", "RequestItems", items);
            char *txt = json_dumps(body, JSON_COMPACT);
            json_decref(body);
            json_t *r;
            long code = dy_post(d, d->hdr_write, txt, &r);
            free(txt);
            json_decref(items);
            items = NULL;
            if (code != 200 || tries > 20) {
                fprintf(stderr, "bench_stores: dynamodb BatchWriteItem: HTTP %ld %.*s\n", code,
                        (int)d->resp.len, d->resp.data);
                rc = -1;
            } else {
                json_t *un = json_object_get(r, "UnprocessedItems");
                if (un && json_object_size(un) > 0) items = json_incref(json_object_get(un, table));
            }
            json_decref(r);
        }
        json_decref(items);
    }
    return rc;
}

static int dy_get(void *st, const size_t *idx, int n_keys) {
    DyRaw *d = st;
    json_t *keys = json_array();
    char k[KEY_LEN];
    for (int i = 0; i < n_keys; i++) {
        bool seen = false; /* BatchGetItem refuses a key asked twice */
        for (int j = 0; j < i; j++) seen |= idx[j] == idx[i];
        if (seen) continue;
        make_key(k, idx[i]);
        json_array_append_new(keys, json_pack("{s:{s:o}}", "k", "B", b64(k, KEY_LEN)));
    }
    size_t want = json_array_size(keys);
    json_t *body = json_pack("{s:{s:{s:o,s:b}}}", "RequestItems", d->table, "Keys", keys,
                             "ConsistentRead", 1);
    char *txt = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    json_t *r;
    long code = dy_post(d, d->hdr_get, txt, &r);
    free(txt);
    int rc = code == 200 ? 0 : -1;
    json_t *got = json_object_get(json_object_get(r, "Responses"), d->table);
    size_t i;
    json_t *item;
    json_array_foreach(got, i, item) {
        const char *ks = json_string_value(json_object_get(json_object_get(item, "k"), "B"));
        const char *vs = json_string_value(json_object_get(json_object_get(item, "d"), "B"));
        unsigned char kb[64], vb[128];
        if (!ks || !vs || strlen(ks) > 80 || strlen(vs) > 160) {
            rc = -1;
            break;
        }
        int kl = EVP_DecodeBlock(kb, (const unsigned char *)ks, (int)strlen(ks));
        int vl = EVP_DecodeBlock(vb, (const unsigned char *)vs, (int)strlen(vs));
        kl -= (int)(strlen(ks) - strcspn(ks, "=")); /* DecodeBlock counts the padding */
        vl -= (int)(strlen(vs) - strcspn(vs, "="));
        size_t ki = 0;
        for (int j = 1; j < kl; j++) ki = ki * 10 + (size_t)(kb[j] - '0');
        if (kl != KEY_LEN || !val_ok(vb, (size_t)vl, ki)) rc = -1;
    }
    if (rc == 0 && json_array_size(got) != want) rc = -1;
    if (rc < 0)
        fprintf(stderr, "bench_stores: dynamodb BatchGetItem: HTTP %ld %.*s\n", code, (int)d->resp.len,
                d->resp.data);
    json_decref(r);
    return rc;
}

/* The next day's upload as a bare client would make it without leaving the previous
 * day's keys behind: a new table (dy_load), then DeleteTable of the previous upload's. */
static int dy_replace(void *st, size_t first, size_t n) {
    DyRaw *d = st;
    char prev[sizeof d->last];
    snprintf(prev, sizeof prev, "%s", d->last);
    int rc = dy_load(st, first, n);
    if (rc == 0) rc = dy_other(d, "DeleteTable", json_pack("{s:s}", "TableName", prev), false);
    return rc;
}

static void dy_close(void *st) {
    DyRaw *d = st;
    curl_slist_free_all(d->hdr_write);
    curl_slist_free_all(d->hdr_get);
    curl_easy_cleanup(d->h);
    cn_buf_fini(&d->resp);
    cn_free(d);
}

static int dy_open(const char *uri, Raw *raw) {
    const char *ep = getenv("AWS_ENDPOINT_URL_DYNAMODB");
    if (!ep || !*ep) ep = getenv("AWS_ENDPOINT_URL");
    const char *region = getenv("AWS_REGION"), *key = getenv("AWS_ACCESS_KEY_ID"),
               *secret = getenv("AWS_SECRET_ACCESS_KEY");
    if (!ep || !region || !key || !secret) {
        fprintf(stderr, "bench_stores: dynamodb needs AWS_ENDPOINT_URL, AWS_REGION, AWS_ACCESS_KEY_ID "
                        "and AWS_SECRET_ACCESS_KEY\n");
        return -1;
    }
    char prefix[128] = "";
    sscanf(uri, "dynamodb://%127[^?]", prefix);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    DyRaw *d = cn_malloc(sizeof *d);
    memset(d, 0, sizeof *d);
    d->resp = (CnBuf)CN_BUF_INIT;
    snprintf(d->endpoint, sizeof d->endpoint, "%s/", ep);
    snprintf(d->sigv4, sizeof d->sigv4, "aws:amz:%s:dynamodb", region);
    snprintf(d->userpwd, sizeof d->userpwd, "%s:%s", key, secret);
    snprintf(d->prefix, sizeof d->prefix, "%s", prefix);
    d->h = curl_easy_init();
    curl_easy_setopt(d->h, CURLOPT_URL, d->endpoint);
    curl_easy_setopt(d->h, CURLOPT_AWS_SIGV4, d->sigv4);
    curl_easy_setopt(d->h, CURLOPT_USERPWD, d->userpwd);
    curl_easy_setopt(d->h, CURLOPT_WRITEFUNCTION, dy_sink);
    curl_easy_setopt(d->h, CURLOPT_WRITEDATA, &d->resp);
    curl_easy_setopt(d->h, CURLOPT_NOSIGNAL, 1L);
    d->hdr_write = dy_headers("BatchWriteItem");
    d->hdr_get = dy_headers("BatchGetItem");
    *raw = (Raw){d, dy_load, dy_get, dy_close, NULL, NULL, dy_replace,
                 "raw dynamodb (new table, then DeleteTable of the previous)", NULL};
    return 0;
}

/* CreateTable (hash key k, on demand) and waits until it is ACTIVE. */
static int dy_create(DyRaw *d, const char *table) {
    int rc = dy_other(d, "CreateTable",
                      json_pack("{s:s,s:[{s:s,s:s}],s:[{s:s,s:s}],s:s}", "TableName", table,
                                "AttributeDefinitions", "AttributeName", "k", "AttributeType", "B",
                                "KeySchema", "AttributeName", "k", "KeyType", "HASH", "BillingMode",
                                "PAY_PER_REQUEST"), false);
    for (int i = 0; rc == 0 && i < 200; i++) { /* until ACTIVE */
        struct curl_slist *h = dy_headers("DescribeTable");
        char body[400];
        snprintf(body, sizeof body, "{\"TableName\":\"%s\"}", table);
        json_t *r;
        dy_post(d, h, body, &r);
        curl_slist_free_all(h);
        const char *s = json_string_value(json_object_get(json_object_get(r, "Table"), "TableStatus"));
        bool active = s && !strcmp(s, "ACTIVE");
        json_decref(r);
        if (active) break;
        struct timespec ts = {0, 50 * 1000000L};
        nanosleep(&ts, NULL);
    }
    return rc;
}

/* ---- the run -------------------------------------------------------------------------------- */

static uint64_t thread_cpu_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* CPU microseconds per fetch: the bench's own (request building, signing, parsing) and
 * the server's (what the request made the store do). */
typedef struct FetchCpu {
    double self_us, srv_us;
} FetchCpu;

static int fetches(CnKv *kv, const Raw *raw, size_t n, int n_keys, size_t iters, long srv_pid, Lat *ours,
                   Lat *rl, FetchCpu *ours_cpu, FetchCpu *raw_cpu, CnErr *err) {
    uint64_t *a_ns = cn_malloc(iters * sizeof *a_ns), *b_ns = cn_malloc(iters * sizeof *b_ns);
    CnArena a;
    cn_arena_init(&a, 0);
    uint64_t s = 88172645463325252ull;
    int rc = 0;
    size_t warm = iters / 10 + 1;
    uint64_t a_cpu = 0, b_cpu = 0;
    /* interleaved, so that both see the same server state and machine load, each
     * iteration's first path drawn at random: a server's pauses (node's and Python's
     * garbage collections) come every so many requests, and with a fixed order their
     * cadence could fall on one path's calls more often than on the other's */
    for (size_t it = 0; rc == 0 && it < iters + warm; it++) {
        size_t idx[MAX_GET];
        for (int i = 0; i < n_keys; i++) idx[i] = (size_t)(xs(&s) % n);
        bool raw_first = xs(&s) >> 63;
        uint64_t t[2] = {0, 0}, c[2] = {0, 0}; /* [0] ours, [1] raw */
        for (int k = 0; k < 2 && rc == 0; k++) {
            int path = k ^ raw_first;
            uint64_t c0 = thread_cpu_ns(), t0 = now_ns();
            if (path == 0) rc = ours_get(kv, &a, idx, n_keys, err);
            else if (raw->get(raw->st, idx, n_keys) < 0)
                rc = cn_err_set(err, CN_EINTERNAL, "raw client: a fetch failed or returned a wrong value");
            t[path] = now_ns() - t0, c[path] = thread_cpu_ns() - c0;
        }
        if (it >= warm) a_ns[it - warm] = t[0], b_ns[it - warm] = t[1], a_cpu += c[0], b_cpu += c[1];
    }
    if (rc == 0) *ours = summarize(a_ns, iters), *rl = summarize(b_ns, iters);
    ours_cpu->self_us = (double)a_cpu / 1e3 / (double)iters;
    raw_cpu->self_us = (double)b_cpu / 1e3 / (double)iters;
    /* The server's CPU cannot be split between interleaved calls: blocks of each path
     * (the server's clock ticks are 10 ms, so a block of at least a few hundred fetches),
     * ours, raw, raw, ours, so that a server whose cost per request drifts during the run
     * favours neither path (one block each, ours first, charged moto's drift to ours:
     * +27..+28% for 1-key fetches in two runs) */
    ours_cpu->srv_us = raw_cpu->srv_us = 0;
    size_t half = iters / 2 ? iters / 2 : 1;
    for (int blk = 0; rc == 0 && srv_pid > 0 && blk < 4; blk++) {
        int path = blk == 0 || blk == 3 ? 0 : 1;
        double c0 = server_cpu(srv_pid);
        for (size_t it = 0; rc == 0 && it < half; it++) {
            size_t idx[MAX_GET];
            for (int i = 0; i < n_keys; i++) idx[i] = (size_t)(xs(&s) % n);
            if (path == 0) rc = ours_get(kv, &a, idx, n_keys, err);
            else if (raw->get(raw->st, idx, n_keys) < 0)
                rc = cn_err_set(err, CN_EINTERNAL, "raw client: a fetch failed or returned a wrong value");
        }
        (path == 0 ? ours_cpu : raw_cpu)->srv_us += (server_cpu(srv_pid) - c0) * 1e6 / (double)(2 * half);
    }
    cn_arena_fini(&a);
    cn_free(a_ns);
    cn_free(b_ns);
    return rc;
}

/* The uploads of one kind, `rounds` times: each round is the raw client's, ours, and
 * the raw client's again (of as many new keys, after the warm-up's, outside the fetched
 * range); the raw figure is the mean of the two around ours, so a server whose speed
 * drifts during a run (dynalite's JIT and growing table) favours neither path. The
 * rounds add up: one upload of a small dataset on a node server (CongoDB) lasts a few
 * of V8's garbage collections, whose place (10-35 ms each, on the server's background
 * threads too) decides a single round; many rounds charge them to both paths alike.
 *   first upload (replace false): ours into a new dataset (round 0: the one the
 *     fetches read), the raw client into a new place (round 0: keys 0.., fetched)
 *   replacing (replace true): ours the next version of the fetched dataset, the raw
 *     client's replacing upload; a store without one (redis) runs ours alone. */
typedef struct Tally {
    uint64_t ours_ns, raw_ns;       /* the raw client's: both of each round */
    double ours_self, ours_srv, raw_self, raw_srv, commit_s;
    double ours_med, raw_med;       /* median bench + server CPU of one upload */
} Tally;

static int cmp_dbl(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, size_t n) {
    qsort(v, n, sizeof *v, cmp_dbl);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static int upload_rounds(CnKv *kv, const Raw *raw, Cpu *cl, size_t n, size_t warm_n, size_t rounds,
                         bool replace, Tally *t, CnErr *err) {
    int (*raw_up)(void *, size_t, size_t) = replace ? raw->replace : raw->load;
    int rc = 0;
    double c1, c2, commit_s;
    double *ours_cpu = cn_malloc(rounds * sizeof *ours_cpu), *raw_cpu = cn_malloc(2 * rounds * sizeof *raw_cpu);
    memset(t, 0, sizeof *t);
    cpu_lap(cl, NULL, NULL);
    for (size_t r = 0; rc == 0 && r < rounds; r++) {
        char ds[64] = DATASET;
        if (!replace && r > 0) snprintf(ds, sizeof ds, "BENCH_FIRST%zu_BATCH", r);
        for (int side = 0; rc == 0 && side < 3; side++) {
            uint64_t t0 = now_ns();
            if (side == 1) rc = ours_load(kv, ds, 0, n, &commit_s, err);
            else if (raw_up) rc = raw_up(raw->st, !replace && r == 0 && side == 0 ? 0 : n + warm_n, n);
            uint64_t dt = now_ns() - t0;
            cpu_lap(cl, &c1, &c2);
            if (side == 1) ours_cpu[r] = c1 + c2;
            else raw_cpu[2 * r + side / 2] = c1 + c2;
            if (side == 1) t->ours_ns += dt, t->ours_self += c1, t->ours_srv += c2, t->commit_s += commit_s;
            else t->raw_ns += dt, t->raw_self += c1 / 2, t->raw_srv += c2 / 2;
        }
        /* untimed: the round's new datasets go, so that every round meets a server
         * holding as much (a node server's full collections walk every live object) */
        if (rc == 0 && !replace && r > 0) rc = cn_kv_dataset_drop(kv, ds, err);
        if (rc == 0 && !replace && raw->settle) rc = raw->settle(raw->st);
        cpu_lap(cl, NULL, NULL);
    }
    if (rc < 0 && !err->code) cn_err_set(err, CN_EINTERNAL, "the raw client's upload failed");
    if (rc == 0) t->ours_med = median(ours_cpu, rounds), t->raw_med = median(raw_cpu, 2 * rounds);
    cn_free(ours_cpu);
    cn_free(raw_cpu);
    /* per upload */
    t->ours_self /= (double)rounds, t->ours_srv /= (double)rounds, t->commit_s /= (double)rounds;
    t->raw_self /= (double)rounds, t->raw_srv /= (double)rounds;
    return rc;
}

static double pct(double ours, double raw) { return (ours / raw - 1.0) * 100.0; }

int main(int argc, char **argv) {
    if (argc < 4 || strcmp(argv[1], "--store") != 0) {
        fprintf(stderr, "usage: bench_stores --store redis|mongodb|dynamodb URI [keys] [fetches[/fetches10]] [rounds]\n");
        return 64;
    }
    const char *store = argv[2], *uri = argv[3];
    size_t n = argc > 4 ? (size_t)strtoull(argv[4], NULL, 10) : 100000;
    /* fetches: one count for both sizes, or "N1/N10" (CongoDB scans every document per
     * query, so its 10-key fetches take four times its 1-key ones) */
    char *slash = NULL;
    size_t iters = argc > 5 ? (size_t)strtoull(argv[5], &slash, 10) : 2000;
    size_t iters10 = slash && *slash == '/' ? (size_t)strtoull(slash + 1, NULL, 10) : iters;
    if (iters == 0 || iters10 == 0) {
        fprintf(stderr, "bench_stores: fetches \"%s\": expected a count above 0, or two as N1/N10\n", argv[5]);
        return 64;
    }
    size_t rounds = argc > 6 ? (size_t)strtoull(argv[6], NULL, 10) : 3;
    if (rounds == 0) rounds = 1;
    Raw raw = {0};
    int orc = -1;
    char ours_uri[1024];
    snprintf(ours_uri, sizeof ours_uri, "%s", uri);
    if (!strcmp(store, "redis")) {
#ifdef CN_BENCH_HIREDIS
        snprintf(ours_uri, sizeof ours_uri, "%s%cprefix=bench:", uri, strchr(uri, '?') ? '&' : '?');
        orc = rd_open(uri, &raw);
#else
        fprintf(stderr, "bench_stores: built without hiredis\n");
#endif
    } else if (!strcmp(store, "mongodb")) {
#ifdef CN_HAVE_MONGOC
        orc = mg_open(uri, &raw);
#else
        fprintf(stderr, "bench_stores: built without libmongoc\n");
#endif
    } else if (!strcmp(store, "dynamodb")) {
        orc = dy_open(uri, &raw);
    } else {
        fprintf(stderr, "bench_stores: unknown store \"%s\" (expected redis, mongodb or dynamodb; "
                        "bench_kv measures lmdb)\n", store);
        return 64;
    }
    if (orc < 0) return 1;
    CnErr err = CN_ERR_INIT;
    CnKv *kv = NULL;
    CnKvOptions o = {.timeout_ms = 60000};
    if (cn_kv_open(ours_uri, &o, &kv, &err) < 0) {
        fprintf(stderr, "bench_stores: %s\n", cn_err_msg(&err));
        raw.close(raw.st);
        return 1;
    }
    printf("bench_stores: %s, %zu keys of %d bytes, values of %d bytes, %zu fetches of 1 key, %zu of %d\n",
           store, n, KEY_LEN, VAL_LEN, iters, iters10, MAX_GET);
    fflush(stdout);
    /* Warm-up, not timed: both paths upload a tenth of the keys (keys n.. for the raw
     * client, outside the fetched range; another dataset for ours) so that a test
     * server's JIT (CongoDB and dynalite run on node) has compiled the paths of both
     * before either is measured. */
    size_t warm_n = CN_MAX((size_t)1, CN_MIN(n / 10, (size_t)2000));
    double c_s;
    int rc = raw.load(raw.st, n, warm_n);
    if (rc == 0) rc = ours_load(kv, DATASET "_WARM", n, warm_n, &c_s, &err);
    /* CPU time of both processes per upload: on a loaded machine a fairer ratio than
     * wall time (the server's CPU is the work the store did for the upload) */
    const char *pid_s = getenv("CN_BENCH_SERVER_PID");
    Cpu cl = {pid_s ? strtol(pid_s, NULL, 10) : 0, 0, 0};
    Tally up, rep;
    if (rc == 0) rc = upload_rounds(kv, &raw, &cl, n, warm_n, rounds, false, &up, &err);
    /* The next day's upload, in the steady state of daily uploads. Untimed first: the
     * raw client's first replacing upload (its previous day is then n keys) and ours
     * (the dataset's second version); the timed rounds' versions then each do a day's
     * clean-up: on DynamoDB a commit drops the version replaced before its load began
     * (two versions back), as the raw replacing upload drops the previous day's table;
     * on MongoDB both renames drop the previous day's collection. */
    if (rc == 0 && raw.replace) rc = raw.replace(raw.st, n + warm_n, n);
    if (rc == 0) rc = ours_load(kv, DATASET, 0, n, &c_s, &err);
    if (rc == 0) rc = upload_rounds(kv, &raw, &cl, n, warm_n, rounds, true, &rep, &err);
    if (rc < 0) {
        fprintf(stderr, "bench_stores: upload: %s\n", cn_err_msg(&err));
        goto done;
    }
    double raw_up = (double)(n * rounds) / ((double)up.raw_ns / 2e9);
    double ours_up = (double)(n * rounds) / ((double)up.ours_ns / 1e9);
    if (raw.load2) {
        uint64_t h0 = now_ns();
        if (raw.load2(raw.st, 0, n) < 0) {
            fprintf(stderr, "bench_stores: %s failed\n", raw.load2_what);
            rc = -1;
            goto done;
        }
        printf("upload      %s %10.0f keys/s\n", raw.load2_what, (double)n / ((double)(now_ns() - h0) / 1e9));
    }
    printf("upload      raw %-9s %10.0f keys/s | chronon-c %10.0f keys/s | overhead %+6.1f%% (a new "
           "dataset, mean of %zu; commit: %.3f s of %.3f s)\n", store, raw_up, ours_up, pct(raw_up, ours_up),
           rounds, up.commit_s, (double)up.ours_ns / 1e9 / (double)rounds);
    double again_up = (double)(n * rounds) / ((double)rep.ours_ns / 1e9);
    /* without a raw counterpart, the replacing upload is compared with the plain one */
    double rep_up = raw.replace ? (double)(n * rounds) / ((double)rep.raw_ns / 2e9) : raw_up;
    if (!raw.replace) rep.raw_self = up.raw_self, rep.raw_srv = up.raw_srv;
    if (raw.replace)
        printf("upload      %s %10.0f keys/s\n", raw.replace_what, rep_up);
    printf("upload replacing the previous version: chronon-c %10.0f keys/s | vs %s %+6.1f%% "
           "(mean of %zu; commit with clean-up: %.3f s of %.3f s)\n", again_up,
           raw.replace ? "raw replacing" : "raw", pct(rep_up, again_up), rounds, rep.commit_s,
           (double)rep.ours_ns / 1e9 / (double)rounds);
    if (cl.pid)
        printf("upload CPU  bench + server: raw %.3f + %.3f s | chronon-c %.3f + %.3f s | overhead "
               "%+6.1f%% | replacing %.3f + %.3f s vs raw %.3f + %.3f s (%+6.1f%%)\n", up.raw_self,
               up.raw_srv, up.ours_self, up.ours_srv,
               pct(up.ours_self + up.ours_srv, up.raw_self + up.raw_srv), rep.ours_self, rep.ours_srv,
               rep.raw_self, rep.raw_srv, pct(rep.ours_self + rep.ours_srv, rep.raw_self + rep.raw_srv));
    /* the median upload: a test server's garbage collections land in a few rounds */
    if (cl.pid)
        printf("upload CPU  median of an upload, bench + server: raw %.3f s | chronon-c %.3f s | overhead "
               "%+6.1f%% | replacing %.3f s vs raw %.3f s (%+6.1f%%)\n", up.raw_med, up.ours_med,
               pct(up.ours_med, up.raw_med), rep.ours_med, raw.replace ? rep.raw_med : up.raw_med,
               pct(rep.ours_med, raw.replace ? rep.raw_med : up.raw_med));
    fflush(stdout);
    for (int nk = 1; nk <= MAX_GET; nk += MAX_GET - 1) {
        Lat ours = {0}, rl = {0}; /* set by fetches() when it succeeds */
        FetchCpu oc, rcpu;
        rc = fetches(kv, &raw, n, nk, nk == 1 ? iters : iters10, cl.pid, &ours, &rl, &oc, &rcpu, &err);
        if (rc < 0) {
            fprintf(stderr, "bench_stores: fetch: %s\n", cn_err_msg(&err));
            goto done;
        }
        printf("fetch %2d key%s raw p50 %8.1f us p99 %8.1f us | chronon-c p50 %8.1f us p99 %8.1f us | "
               "overhead p50 %+6.1f%% p99 %+6.1f%%\n", nk, nk > 1 ? "s" : " ", rl.p50_us, rl.p99_us,
               ours.p50_us, ours.p99_us, pct(ours.p50_us, rl.p50_us), pct(ours.p99_us, rl.p99_us));
        printf("fetch %2d key%s CPU per fetch, bench + server: raw %6.1f + %6.1f us | chronon-c %6.1f + %6.1f us | "
               "overhead %+6.1f%%\n", nk, nk > 1 ? "s" : " ", rcpu.self_us, rcpu.srv_us, oc.self_us, oc.srv_us,
               pct(oc.self_us + oc.srv_us, rcpu.self_us + rcpu.srv_us));
        fflush(stdout);
    }
    printf("cross-check: every value read through both paths matched what was written\n");
done:
    cn_kv_close(kv);
    raw.close(raw.st);
    return rc < 0 ? 1 : 0;
}
