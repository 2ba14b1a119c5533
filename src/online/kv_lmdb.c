/* kv_lmdb.c: the embedded backend, `lmdb:<dir>`. One LMDB environment in <dir>
 * (data.mdb, lock.mdb); a named database per dataset VERSION and a catalog database
 * naming each dataset's current version, so a bulk load fills a database nobody reads
 * and then flips one catalog record in a single write transaction. LMDB's MVCC gives
 * readers a whole snapshot: the old version or the new one, never a mix.
 *
 *   named DB        key                  value
 *   "@catalog"      "\0format"           "chronon-c kv lmdb 1"
 *                   "\0next_version"     u64 LE, the next version to hand out (store-wide)
 *                   <dataset>            u64 LE, its current version
 *   "<dataset>@<v>" user key             user value            (v in decimal)
 *
 * Process-local state needs care because LMDB database handles (MDB_dbi) are shared by
 * the whole process, and mdb_dbi_open/close/drop must not run while other threads use
 * transactions. A GATE (mutex + condvar) admits many SHARED holders (every transaction)
 * or one EXCLUSIVE holder (opening, closing or dropping handles, growing the map);
 * exclusive waiters block new shared holders so they never starve. Readers reuse reset
 * read transactions from a pool (MDB_NOTLS: a transaction is not tied to a thread), so a
 * multi-get is renew + catalog lookup + N gets + reset, about a microsecond.
 * docs/online-store.md has the full design. */
#include "base/compat.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <lmdb.h>

#include "base/alloc.h"
#include "base/fs.h"
#include "base/hash.h"
#include "base/log.h"
#include "base/str.h"
#include "online/kv_int.h"

#define CATALOG_DB "@catalog"
#define FORMAT_KEY "\0format"
#define FORMAT_PREFIX "chronon-c kv lmdb "
#define FORMAT_VALUE FORMAT_PREFIX "1"
#define NEXT_KEY "\0next_version"
/* dataset + "@" + 20 digits + NUL */
#define DBNAME_MAX (CN_KV_DATASET_MAX + 24)

/* Internal "open the dataset's handle, then try again" signal; outside both the CN_E*
 * range and LMDB's codes. */
#define LM_NEED_OPEN (-29001)

/* A chunk of a bulk load (options.load_chunk_bytes, at most CHUNK_ENTS pairs) is sorted
 * and written in one transaction when it fits (LMDB caps a write transaction near 512 MiB
 * of dirty pages; the slice is halved on MDB_TXN_FULL). A load that fits in one chunk
 * is appended in key order whatever order it arrived in. */
#define CHUNK_ENTS (1u << 22)
/* Page bytes of a streamed load's write transaction (CN_KV_LOAD_STREAM), at most. */
#define STREAM_PART_MAX (UINT64_C(256) << 20)

/* One open database handle. INVARIANT: a node exists iff its dbi is open in this
 * process; nodes are added/removed only under the exclusive gate, read under shared. */
typedef struct RegNode {
    struct RegNode *next;
    uint64_t hash, version;
    MDB_dbi dbi;
    bool pinned;            /* a load in progress writes it: never closed by readers */
    size_t ds_len;
    char ds[];
} RegNode;

typedef struct Lmdb {
    MDB_env *env;
    MDB_dbi catalog;        /* opened at open, valid until close */
    MDB_dbi main;           /* LMDB's unnamed DB: its keys are the named DBs */
    char *dir;              /* OWNED */
    uint64_t map_max;
    unsigned psize;         /* LMDB's page size */
    /* the gate; also guards the pool */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    unsigned n_shared, n_excl_wait;
    bool excl;
    MDB_txn **pool;         /* reset read transactions, ready to renew */
    size_t n_pool, cap_pool;
    /* open handles by (dataset, version) */
    RegNode **buckets;
    size_t n_buckets;       /* power of two */
} Lmdb;

/* A buffered pair: key bytes then value bytes in the chunk arena. 16 bytes, since a big
 * load buffers millions. */
typedef struct LmEnt {
    const uint8_t *p;
    uint32_t key_len, val_len;
} LmEnt;

typedef struct LmLoad {
    RegNode *node;          /* the new version's handle, pinned */
    CnArena arena;          /* chunk bytes */
    LmEnt *ents, *tmp;      /* OWNED; tmp: merge-sort scratch */
    size_t n_ents, cap_ents;
    uint64_t chunk_bytes;
    uint64_t chunk_pages;   /* pages the chunk is expected to fill (page_share) */
    bool sorted;            /* chunk keys strictly ascending so far */
    CnBuf max_key;          /* largest key written to the database so far ... */
    bool have_max;          /* ... if any: larger keys are appended (MDB_APPEND) */
    size_t slice;           /* entries per write transaction */
    /* CN_KV_LOAD_STREAM: each pair goes straight into a write transaction held across
     * adds (with the shared gate), committed once its pages reach part_budget. Nothing
     * is buffered, so nothing could be written again after MDB_MAP_FULL: the map is grown
     * for a whole part before the part begins and a part never outgrows that room.
     * Streaming while ld->flags has CN_KV_LOAD_STREAM (cleared when a key comes out of
     * order: the rest is buffered); stream_asked: the load began with it. */
    bool stream_asked;
    MDB_txn *txn;           /* the part in progress, or NULL */
    MDB_cursor *cur;        /* on the new version, in txn */
    uint64_t part_pages;    /* page bytes the part's pairs take (page_share, estimated) */
    uint64_t part_room;     /* page bytes the map was grown for before the part began */
    uint64_t part_budget;
    uint8_t last[512];      /* the last key streamed (keys are at most 511 bytes) ... */
    size_t last_len;        /* ... 0: none yet; max_key holds it once buffering starts */
    uint32_t n_parts;       /* parts committed (debug log) */
    double commit_s;        /* seconds in their commits (debug log) */
    double commit_cpu;      /* ... of the committing thread's CPU */
} LmLoad;

/* ---- small helpers ---------------------------------------------------------------- */

static void put_u64(uint8_t *p, uint64_t v) {
    for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get_u64(const uint8_t *p) {
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) v |= (uint64_t)p[i] << (8 * i);
    return v;
}

static void db_name(char *buf, const char *ds, uint64_t v) {
    snprintf(buf, DBNAME_MAX, "%s@%llu", ds, (unsigned long long)v);
}

/* Maps an LMDB or errno failure to our code and a message naming the store, dataset,
 * key and what was being done, with a hint at the usual cause. */
static int lm_err(CnKv *kv, int mrc, CnErr *err, const char *what, const char *dataset,
                  const void *key, size_t key_len) {
    int code = CN_EIO;
    const char *hint = "";
    switch (mrc) {
    case MDB_MAP_FULL:
        code = CN_ELIMIT;
        hint = " (the store reached map_size_max; raise it)";
        break;
    case MDB_DBS_FULL:
        code = CN_ELIMIT;
        hint = " (too many dataset versions open in this process; raise max_datasets)";
        break;
    case MDB_READERS_FULL:
        code = CN_ELIMIT;
        hint = " (too many concurrent readers; raise max_readers)";
        break;
    case MDB_TXN_FULL:
        code = CN_ELIMIT;
        hint = " (too much data in one call; split it)";
        break;
    case MDB_INVALID:
    case MDB_CORRUPTED:
    case MDB_PAGE_NOTFOUND:
    case MDB_VERSION_MISMATCH:
    case MDB_INCOMPATIBLE:
        code = CN_ECORRUPT;
        hint = " (the online store is damaged or not a chronon-c store: remove the directory "
               "and upload again)";
        break;
    case ENOSPC:
        hint = " (disk full)";
        break;
    case EACCES:
    case EPERM:
    case EROFS:
        hint = " (not writable: a read-only warehouse can only be served, with a read-only open)";
        break;
    case ENOENT:
        code = CN_ENOTFOUND;
        break;
    case ENOMEM:
        code = CN_ENOMEM;
        break;
    default:
        break;
    }
    char ds_part[CN_KV_DATASET_MAX + 16] = "", key_part[CN_KV_KEY_REPR_MAX + 8] = "";
    if (dataset) snprintf(ds_part, sizeof ds_part, " dataset %s:", dataset);
    if (key) {
        char r[CN_KV_KEY_REPR_MAX];
        snprintf(key_part, sizeof key_part, " key %s:", cn_kv_key_repr(key, key_len, r, sizeof r));
    }
    return cn_err_set(err, code, "%s:%s%s %s: %s%s", kv->uri, ds_part, key_part, what,
                      mdb_strerror(mrc), hint);
}

/* ---- the gate ----------------------------------------------------------------------- */

/* Returns a pooled reset read transaction when want_txn and one is free, else NULL. */
static MDB_txn *gate_shared_enter(Lmdb *s, bool want_txn) {
    MDB_txn *t = NULL;
    pthread_mutex_lock(&s->mu);
    while (s->excl || s->n_excl_wait) pthread_cond_wait(&s->cv, &s->mu);
    s->n_shared++;
    if (want_txn && s->n_pool) t = s->pool[--s->n_pool];
    pthread_mutex_unlock(&s->mu);
    return t;
}

/* reset_txn (may be NULL) goes back to the pool. */
static void gate_shared_leave(Lmdb *s, MDB_txn *reset_txn) {
    MDB_txn *drop = NULL;
    pthread_mutex_lock(&s->mu);
    if (reset_txn) {
        if (s->n_pool < s->cap_pool) s->pool[s->n_pool++] = reset_txn;
        else drop = reset_txn;
    }
    if (--s->n_shared == 0 && s->n_excl_wait) pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
    if (drop) mdb_txn_abort(drop);
}

static void gate_excl_enter(Lmdb *s) {
    pthread_mutex_lock(&s->mu);
    s->n_excl_wait++;
    while (s->excl || s->n_shared) pthread_cond_wait(&s->cv, &s->mu);
    s->n_excl_wait--;
    s->excl = true;
    pthread_mutex_unlock(&s->mu);
}

static void gate_excl_leave(Lmdb *s) {
    pthread_mutex_lock(&s->mu);
    s->excl = false;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

static void gate_leave(Lmdb *s, bool exclusive) {
    if (exclusive) gate_excl_leave(s);
    else gate_shared_leave(s, NULL);
}

/* ---- registry of open handles -------------------------------------------------------- */

static RegNode *reg_find(Lmdb *s, const char *ds, size_t ds_len, uint64_t v) {
    uint64_t h = cn_hash_bytes(ds, ds_len, v);
    for (RegNode *n = s->buckets[h & (s->n_buckets - 1)]; n; n = n->next)
        if (n->hash == h && n->version == v && n->ds_len == ds_len && memcmp(n->ds, ds, ds_len) == 0)
            return n;
    return NULL;
}

/* Exclusive gate held. NULL when out of memory. */
static RegNode *reg_add(Lmdb *s, const char *ds, uint64_t v, MDB_dbi dbi, bool pinned) {
    size_t ds_len = strlen(ds);
    RegNode *n = cn_malloc(sizeof *n + ds_len + 1);
    if (!n) return NULL;
    n->hash = cn_hash_bytes(ds, ds_len, v);
    n->version = v;
    n->dbi = dbi;
    n->pinned = pinned;
    n->ds_len = ds_len;
    memcpy(n->ds, ds, ds_len + 1);
    RegNode **b = &s->buckets[n->hash & (s->n_buckets - 1)];
    n->next = *b;
    *b = n;
    return n;
}

/* Exclusive gate held. Unlinks and frees; closing the handle is the caller's job. */
static void reg_remove(Lmdb *s, RegNode *nd) {
    for (RegNode **p = &s->buckets[nd->hash & (s->n_buckets - 1)]; *p; p = &(*p)->next)
        if (*p == nd) {
            *p = nd->next;
            cn_free(nd);
            return;
        }
}

/* ---- catalog ----------------------------------------------------------------------- */

/* 0 and *v when the dataset exists, 1 when it does not, < 0 on error (err set). */
static int cat_get(CnKv *kv, MDB_txn *t, const char *ds, size_t ds_len, uint64_t *v, CnErr *err) {
    Lmdb *s = kv->impl;
    MDB_val k = {ds_len, (void *)ds}, d;
    int mrc = mdb_get(t, s->catalog, &k, &d);
    if (mrc == MDB_NOTFOUND) return 1;
    if (mrc) return lm_err(kv, mrc, err, "reading the catalog", ds, NULL, 0);
    if (d.mv_size != 8)
        return cn_err_set(err, CN_ECORRUPT, "%s: catalog record of dataset %s is %zu bytes, "
                          "expected 8 (a version number); the store is damaged", kv->uri, ds,
                          d.mv_size);
    *v = get_u64(d.mv_data);
    return 0;
}

/* ---- read and write transactions ------------------------------------------------------ */

static int adopt_map_size(Lmdb *s) {
    gate_excl_enter(s);
    int mrc = mdb_env_set_mapsize(s->env, 0);
    gate_excl_leave(s);
    return mrc;
}

/* A read snapshot under the shared gate; end it with read_end. */
static int read_begin(CnKv *kv, MDB_txn **out, CnErr *err) {
    Lmdb *s = kv->impl;
    for (int attempt = 0;; attempt++) {
        MDB_txn *t = gate_shared_enter(s, true);
        int mrc;
        if (t) {
            mrc = mdb_txn_renew(t);
            if (mrc) {
                mdb_txn_abort(t);
                t = NULL;
            }
        } else {
            mrc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &t);
        }
        if (mrc == 0) {
            *out = t;
            return 0;
        }
        gate_shared_leave(s, NULL);
        /* another process grew the map beyond ours */
        if (mrc == MDB_MAP_RESIZED && attempt < 3 && adopt_map_size(s) == 0) continue;
        return lm_err(kv, mrc, err, "starting a read transaction", NULL, NULL, 0);
    }
}

static void read_end(Lmdb *s, MDB_txn *t) {
    mdb_txn_reset(t);
    gate_shared_leave(s, t);
}

/* Doubles the map (exclusive gate held), up to map_size_max. */
static int grow_locked(CnKv *kv, CnErr *err) {
    Lmdb *s = kv->impl;
    MDB_envinfo info;
    mdb_env_info(s->env, &info);
    uint64_t cur = info.me_mapsize;
    if (cur >= s->map_max)
        return cn_err_set(err, CN_ELIMIT, "%s: the store needs more than map_size_max = %llu bytes; "
                          "raise map_size_max", kv->uri, (unsigned long long)s->map_max);
    uint64_t next = cur * 2 > s->map_max ? s->map_max : cur * 2;
    int mrc = mdb_env_set_mapsize(s->env, (size_t)next);
    if (mrc) return lm_err(kv, mrc, err, "growing the map", NULL, NULL, 0);
    cn_log(CN_LOG_INFO, "kv=%s map_size=%llu grown_from=%llu", kv->uri, (unsigned long long)next,
           (unsigned long long)cur);
    return 0;
}

/* The body of a write transaction: 0, a CN_E* code with err set, or one of the raw
 * signals MDB_MAP_FULL (grow and run again), MDB_TXN_FULL (returned to the caller
 * unformatted) or LM_NEED_OPEN (open the dataset's handle and run again). */
typedef int (*WriteBody)(CnKv *kv, MDB_txn *t, void *arg, CnErr *err);
/* Runs after a successful commit, still inside the gate (registry updates). */
typedef int (*WriteAfter)(CnKv *kv, void *arg, CnErr *err);

static int ensure_open(CnKv *kv, const char *ds, CnErr *err);

/* One write transaction of body under the shared (or exclusive) gate, retried after
 * growing the map or opening a handle. Returns 0, a CN_E* code, or raw MDB_TXN_FULL. */
static int run_write(CnKv *kv, bool exclusive, const char *dataset, WriteBody body,
                     WriteAfter after, void *arg, CnErr *err) {
    Lmdb *s = kv->impl;
    for (int attempt = 0;; attempt++) {
        if (exclusive) gate_excl_enter(s);
        else gate_shared_enter(s, false);
        MDB_txn *t = NULL;
        int rc = mdb_txn_begin(s->env, NULL, 0, &t);
        if (rc == MDB_MAP_RESIZED) {
            gate_leave(s, exclusive);
            if (attempt < 3 && adopt_map_size(s) == 0) continue;
            return lm_err(kv, rc, err, "starting a write transaction", dataset, NULL, 0);
        }
        if (rc) {
            gate_leave(s, exclusive);
            return lm_err(kv, rc, err, "starting a write transaction", dataset, NULL, 0);
        }
        rc = body(kv, t, arg, err);
        if (rc == 0) {
            rc = mdb_txn_commit(t);
            if (rc == 0 && after) rc = after(kv, arg, err);
            else if (rc && rc != MDB_MAP_FULL) rc = lm_err(kv, rc, err, "commit", dataset, NULL, 0);
        } else {
            mdb_txn_abort(t);
        }
        if (rc == MDB_MAP_FULL && attempt < 64) {
            int grc;
            if (exclusive) {
                grc = grow_locked(kv, err);
                gate_excl_leave(s);
            } else {
                gate_shared_leave(s, NULL);
                gate_excl_enter(s);
                grc = grow_locked(kv, err);
                gate_excl_leave(s);
            }
            if (grc < 0) return grc;
            continue;
        }
        gate_leave(s, exclusive);
        if (rc == LM_NEED_OPEN && attempt < 8) {
            rc = ensure_open(kv, dataset, err);
            if (rc < 0) return rc;
            continue;
        }
        if (rc == LM_NEED_OPEN)
            return cn_err_set(err, CN_ECONFLICT, "%s: dataset %s: its version kept changing "
                              "under this write", kv->uri, dataset);
        if (rc == MDB_MAP_FULL) return lm_err(kv, rc, err, "write", dataset, NULL, 0);
        return rc;
    }
}

/* Opens the handle of the dataset's current version (as of now) and closes older
 * unpinned ones of the same dataset. A dataset that no longer exists is no error here:
 * the caller's next attempt reports it. */
static int ensure_open(CnKv *kv, const char *ds, CnErr *err) {
    Lmdb *s = kv->impl;
    size_t ds_len = strlen(ds);
    gate_excl_enter(s);
    MDB_txn *t = NULL;
    uint64_t v = 0;
    int rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &t);
    if (rc) {
        rc = lm_err(kv, rc, err, "starting a read transaction", ds, NULL, 0);
        goto done;
    }
    rc = cat_get(kv, t, ds, ds_len, &v, err);
    if (rc != 0 || reg_find(s, ds, ds_len, v)) {
        mdb_txn_abort(t);
        rc = rc < 0 ? rc : 0;
        goto done;
    }
    char name[DBNAME_MAX];
    db_name(name, ds, v);
    MDB_dbi dbi;
    rc = mdb_dbi_open(t, name, 0, &dbi);
    if (rc == MDB_NOTFOUND) {
        mdb_txn_abort(t);
        rc = cn_err_set(err, CN_ECORRUPT, "%s: the catalog says dataset %s is at version %llu "
                        "but database \"%s\" is missing; the store is damaged", kv->uri, ds,
                        (unsigned long long)v, name);
        goto done;
    }
    if (rc) {
        mdb_txn_abort(t);
        rc = lm_err(kv, rc, err, "opening a dataset version", ds, NULL, 0);
        goto done;
    }
    rc = mdb_txn_commit(t); /* makes the handle visible to every transaction */
    if (rc) {
        rc = lm_err(kv, rc, err, "opening a dataset version", ds, NULL, 0);
        goto done;
    }
    if (!reg_add(s, ds, v, dbi, false)) {
        mdb_dbi_close(s->env, dbi);
        rc = cn_kv__oom(kv, ds, err);
        goto done;
    }
    /* older versions of this dataset are no longer read by new snapshots */
    for (size_t i_b = 0; i_b < s->n_buckets; i_b++)
        for (RegNode *n = s->buckets[i_b], *next; n; n = next) {
            next = n->next;
            if (!n->pinned && n->version < v && n->ds_len == ds_len && memcmp(n->ds, ds, ds_len) == 0) {
                mdb_dbi_close(s->env, n->dbi);
                reg_remove(s, n);
            }
        }
done:
    gate_excl_leave(s);
    return rc;
}

/* Versions of ds present as databases, below `below` (UINT64_MAX: all). OWNED *out. */
static int list_versions(CnKv *kv, MDB_txn *t, const char *ds, uint64_t below, uint64_t **out,
                         size_t *n_out, CnErr *err) {
    size_t ds_len = strlen(ds), n = 0, cap = 0;
    uint64_t *vs = NULL;
    MDB_cursor *c = NULL;
    char prefix[DBNAME_MAX];
    snprintf(prefix, sizeof prefix, "%s@", ds);
    int rc = mdb_cursor_open(t, ((Lmdb *)kv->impl)->main, &c);
    if (rc) {
        rc = lm_err(kv, rc, err, "listing dataset versions", ds, NULL, 0);
        goto done;
    }
    MDB_val k = {ds_len + 1, prefix}, d;
    for (rc = mdb_cursor_get(c, &k, &d, MDB_SET_RANGE); rc == 0;
         rc = mdb_cursor_get(c, &k, &d, MDB_NEXT)) {
        if (k.mv_size <= ds_len + 1 || memcmp(k.mv_data, prefix, ds_len + 1) != 0) break;
        const char *digits = (const char *)k.mv_data + ds_len + 1;
        size_t nd = k.mv_size - ds_len - 1;
        uint64_t v = 0;
        bool ok = nd <= 20;
        for (size_t i = 0; ok && i < nd; i++) {
            ok = digits[i] >= '0' && digits[i] <= '9';
            v = v * 10 + (uint64_t)(digits[i] - '0');
        }
        if (!ok || v >= below) continue; /* another dataset whose name has ds@ as prefix */
        if (n == cap) {
            cap = cap ? cap * 2 : 8;
            uint64_t *nv = cn_realloc(vs, cap * sizeof *nv);
            if (!nv) {
                rc = cn_kv__oom(kv, ds, err);
                goto done;
            }
            vs = nv;
        }
        vs[n++] = v;
    }
    rc = rc == MDB_NOTFOUND ? 0 : rc ? lm_err(kv, rc, err, "listing dataset versions", ds, NULL, 0) : 0;
done:
    if (c) mdb_cursor_close(c);
    if (rc < 0) {
        cn_free(vs);
        vs = NULL;
        n = 0;
    }
    *out = vs;
    *n_out = n;
    return rc;
}

/* Drops databases of ds (exclusive gate held, inside t) with versions below `below`,
 * except pinned ones. Their registry nodes go: mdb_drop closes the handle. */
static int drop_versions(CnKv *kv, MDB_txn *t, const char *ds, uint64_t below, CnErr *err) {
    Lmdb *s = kv->impl;
    uint64_t *vs = NULL;
    size_t n = 0;
    int rc = list_versions(kv, t, ds, below, &vs, &n, err);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        RegNode *nd = reg_find(s, ds, strlen(ds), vs[i]);
        if (nd && nd->pinned) continue;
        MDB_dbi dbi;
        char name[DBNAME_MAX];
        db_name(name, ds, vs[i]);
        if (nd) {
            dbi = nd->dbi;
            reg_remove(s, nd);
        } else if ((rc = mdb_dbi_open(t, name, 0, &dbi)) != 0) {
            rc = rc == MDB_MAP_FULL ? rc : lm_err(kv, rc, err, "opening an old version", ds, NULL, 0);
            break;
        }
        rc = mdb_drop(t, dbi, 1);
        if (rc && rc != MDB_MAP_FULL) rc = lm_err(kv, rc, err, "dropping an old version", ds, NULL, 0);
    }
    cn_free(vs);
    return rc;
}

/* ---- open / close -------------------------------------------------------------------- */

static void lm_close(CnKv *kv) {
    Lmdb *s = kv->impl;
    if (!s) return;
    for (size_t i = 0; i < s->n_pool; i++) mdb_txn_abort(s->pool[i]);
    if (s->env) mdb_env_close(s->env);
    for (size_t i = 0; s->buckets && i < s->n_buckets; i++)
        for (RegNode *n = s->buckets[i], *next; n; n = next) {
            next = n->next;
            cn_free(n);
        }
    cn_free(s->buckets);
    cn_free(s->pool);
    cn_free(s->dir);
    pthread_cond_destroy(&s->cv);
    pthread_mutex_destroy(&s->mu);
    cn_free(s);
    kv->impl = NULL;
}

/* Opens (or, when writable and new, creates) the catalog and checks the format. */
static int open_catalog(CnKv *kv, CnErr *err) {
    Lmdb *s = kv->impl;
    bool ro = kv->opts.read_only;
    MDB_txn *t = NULL;
    MDB_cursor *c = NULL;
    int rc = mdb_txn_begin(s->env, NULL, ro ? MDB_RDONLY : 0, &t);
    if (rc) {
        rc = lm_err(kv, rc, err, "starting a transaction", NULL, NULL, 0);
        goto done;
    }
    rc = mdb_dbi_open(t, NULL, 0, &s->main);
    if (rc == 0) rc = mdb_dbi_open(t, CATALOG_DB, 0, &s->catalog);
    if (rc == MDB_NOTFOUND) {
        /* a new environment is empty; anything else is somebody else's data */
        MDB_val k, d;
        rc = mdb_cursor_open(t, s->main, &c);
        int first = rc ? rc : mdb_cursor_get(c, &k, &d, MDB_FIRST);
        if (first != MDB_NOTFOUND) {
            rc = cn_err_set(err, CN_ECORRUPT, "%s: %s/data.mdb is an LMDB database but not a "
                            "chronon-c online store (no %s database)", kv->uri, s->dir, CATALOG_DB);
            goto done;
        }
        if (ro) {
            rc = cn_err_set(err, CN_ENOTFOUND, "%s: the online store in %s is empty (nothing "
                            "uploaded yet?)", kv->uri, s->dir);
            goto done;
        }
        rc = mdb_dbi_open(t, CATALOG_DB, MDB_CREATE, &s->catalog);
        MDB_val fk = {sizeof FORMAT_KEY - 1, (void *)FORMAT_KEY};
        MDB_val fv = {sizeof FORMAT_VALUE - 1, (void *)FORMAT_VALUE};
        if (rc == 0) rc = mdb_put(t, s->catalog, &fk, &fv, 0);
    }
    if (rc) {
        rc = lm_err(kv, rc, err, "opening the catalog", NULL, NULL, 0);
        goto done;
    }
    MDB_val fk = {sizeof FORMAT_KEY - 1, (void *)FORMAT_KEY}, fv;
    rc = mdb_get(t, s->catalog, &fk, &fv);
    if (rc == 0 && !(fv.mv_size == sizeof FORMAT_VALUE - 1 && memcmp(fv.mv_data, FORMAT_VALUE, fv.mv_size) == 0)) {
        bool ours = fv.mv_size >= sizeof FORMAT_PREFIX - 1 &&
                    memcmp(fv.mv_data, FORMAT_PREFIX, sizeof FORMAT_PREFIX - 1) == 0;
        rc = cn_err_set(err, ours ? CN_EUNSUPPORTED : CN_ECORRUPT, "%s: store format \"%.*s\" %s; "
                        "this chronon-c reads \"%s\"", kv->uri, (int)CN_MIN(fv.mv_size, 64),
                        (const char *)fv.mv_data, ours ? "is not supported" : "is not recognised",
                        FORMAT_VALUE);
        goto done;
    }
    if (rc) {
        rc = rc == MDB_NOTFOUND
                 ? cn_err_set(err, CN_ECORRUPT, "%s: the catalog has no format record; the store "
                              "is damaged", kv->uri)
                 : lm_err(kv, rc, err, "reading the store format", NULL, NULL, 0);
        goto done;
    }
    if (c) mdb_cursor_close(c);
    c = NULL;
    rc = mdb_txn_commit(t); /* read-only too: publishes the catalog handle */
    t = NULL;
    if (rc) rc = lm_err(kv, rc, err, "opening the catalog", NULL, NULL, 0);
done:
    if (c) mdb_cursor_close(c);
    if (t) mdb_txn_abort(t);
    return rc;
}

static int lm_open(CnKv *kv, const char *target, CnErr *err) {
    const CnKvOptions *o = &kv->opts;
    int rc = 0;
    if (!*target)
        return cn_err_set(err, CN_ECONFIG, "online store URI \"%s\": lmdb needs a directory, e.g. "
                          "lmdb:warehouse/online", kv->uri);
    Lmdb *s = cn_calloc(1, sizeof *s);
    if (!s) return cn_err_set(err, CN_ENOMEM, "%s: out of memory", kv->uri);
    kv->impl = s;
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    s->map_max = o->map_size_max;
    s->cap_pool = o->max_readers;
    s->n_buckets = 64;
    while (s->n_buckets < o->max_datasets) s->n_buckets *= 2;
    s->dir = cn_strdup(target);
    s->pool = cn_calloc(s->cap_pool, sizeof *s->pool);
    s->buckets = cn_calloc(s->n_buckets, sizeof *s->buckets);
    if (!s->dir || !s->pool || !s->buckets) {
        rc = cn_err_set(err, CN_ENOMEM, "%s: out of memory", kv->uri);
        goto done;
    }
    if (o->read_only) {
        CnBuf p = CN_BUF_INIT;
        cn_buf_printf(&p, "%s/data.mdb", s->dir);
        bool there = !p.oom && cn_fs_exists(p.data);
        cn_buf_fini(&p);
        if (!there) {
            rc = cn_err_set(err, CN_ENOTFOUND, "%s: no online store in %s (nothing uploaded yet?)",
                            kv->uri, s->dir);
            goto done;
        }
    } else {
        rc = cn_fs_mkdirs(s->dir, err);
        if (rc < 0) {
            rc = cn_err_ctx(err, rc, "%s: creating the online store directory", kv->uri);
            goto done;
        }
    }
    rc = mdb_env_create(&s->env);
    if (rc == 0) rc = mdb_env_set_maxreaders(s->env, o->max_readers);
    if (rc == 0) rc = mdb_env_set_maxdbs(s->env, o->max_datasets + 2);
    if (rc == 0) rc = mdb_env_set_mapsize(s->env, (size_t)o->map_size);
    if (rc) {
        rc = lm_err(kv, rc, err, "creating the environment", NULL, NULL, 0);
        goto done;
    }
    /* NOTLS: read transactions are pooled across threads. NORDAHEAD: point lookups
     * should not drag neighbouring pages into memory when the store outgrows RAM.
     * (MDB_WRITEMAP was measured on the upload bench twice: it saves the writev copy at
     * commit but costs more in page faults on the file, +15-20% CPU in all and no
     * better wall; it would also make the file as large as the map, sparse. Making the
     * intermediate commits of a streamed load MDB_NOSYNC is not safe either: their meta
     * page could reach the disk before their data pages, and a power loss would then
     * leave the whole store, not just the new version, unreadable.) */
    unsigned flags = MDB_NOTLS | MDB_NORDAHEAD | (o->read_only ? MDB_RDONLY : 0) |
                     (o->no_sync ? MDB_NOSYNC : 0);
    rc = mdb_env_open(s->env, s->dir, flags, 0644);
    if (rc) {
        char what[64];
        snprintf(what, sizeof what, "opening %s", o->read_only ? "read-only" : "for writing");
        rc = lm_err(kv, rc, err, what, NULL, NULL, 0);
        goto done;
    }
    if (mdb_env_get_maxkeysize(s->env) < (int)cn_kv__lmdb_ops.max_key_len) {
        rc = cn_err_set(err, CN_EUNSUPPORTED, "%s: this liblmdb accepts keys of at most %d bytes; "
                        "chronon-c needs %zu", kv->uri, mdb_env_get_maxkeysize(s->env),
                        cn_kv__lmdb_ops.max_key_len);
        goto done;
    }
    MDB_stat est;
    s->psize = mdb_env_stat(s->env, &est) == 0 && est.ms_psize ? est.ms_psize : 4096;
    int dead = 0;
    mdb_reader_check(s->env, &dead); /* slots of crashed readers */
    rc = open_catalog(kv, err);
done:
    if (rc < 0) lm_close(kv);
    return rc;
}

/* ---- datasets ------------------------------------------------------------------------- */

typedef struct CreateArg {
    const char *ds;
    bool made;
    uint64_t version;
    MDB_dbi dbi;
} CreateArg;

/* Hands out the next store-wide version and creates its database. */
static int new_version(CnKv *kv, MDB_txn *t, const char *ds, uint64_t *v, MDB_dbi *dbi, CnErr *err) {
    Lmdb *s = kv->impl;
    MDB_val k = {sizeof NEXT_KEY - 1, (void *)NEXT_KEY}, d;
    int rc = mdb_get(t, s->catalog, &k, &d);
    uint64_t next = 1;
    if (rc == 0 && d.mv_size == 8) next = get_u64(d.mv_data);
    else if (rc == 0) return cn_err_set(err, CN_ECORRUPT, "%s: catalog record next_version is %zu "
                                        "bytes, expected 8; the store is damaged", kv->uri, d.mv_size);
    else if (rc != MDB_NOTFOUND) return lm_err(kv, rc, err, "reading the catalog", ds, NULL, 0);
    uint8_t buf[8];
    put_u64(buf, next + 1);
    MDB_val nv = {8, buf};
    rc = mdb_put(t, s->catalog, &k, &nv, 0);
    char name[DBNAME_MAX];
    db_name(name, ds, next);
    if (rc == 0) rc = mdb_dbi_open(t, name, MDB_CREATE, dbi);
    if (rc == MDB_MAP_FULL) return rc;
    if (rc) return lm_err(kv, rc, err, "creating a dataset version", ds, NULL, 0);
    *v = next;
    return 0;
}

static int cat_put(CnKv *kv, MDB_txn *t, const char *ds, uint64_t v, CnErr *err) {
    Lmdb *s = kv->impl;
    uint8_t buf[8];
    put_u64(buf, v);
    MDB_val k = {strlen(ds), (void *)ds}, d = {8, buf};
    int rc = mdb_put(t, s->catalog, &k, &d, 0);
    if (rc == MDB_MAP_FULL) return rc;
    return rc ? lm_err(kv, rc, err, "writing the catalog", ds, NULL, 0) : 0;
}

static int create_body(CnKv *kv, MDB_txn *t, void *arg, CnErr *err) {
    CreateArg *a = arg;
    uint64_t cur;
    a->made = false;
    int rc = cat_get(kv, t, a->ds, strlen(a->ds), &cur, err);
    if (rc <= 0) return rc; /* exists (0) or error */
    rc = new_version(kv, t, a->ds, &a->version, &a->dbi, err);
    if (rc == 0) rc = cat_put(kv, t, a->ds, a->version, err);
    a->made = rc == 0;
    return rc;
}

static int create_after(CnKv *kv, void *arg, CnErr *err) {
    CreateArg *a = arg;
    Lmdb *s = kv->impl;
    if (a->made && !reg_add(s, a->ds, a->version, a->dbi, false)) {
        mdb_dbi_close(s->env, a->dbi);
        return cn_kv__oom(kv, a->ds, err);
    }
    return 0;
}

static int lm_dataset_create(CnKv *kv, const char *dataset, CnErr *err) {
    CreateArg a = {dataset, false, 0, 0};
    int rc = run_write(kv, true, dataset, create_body, create_after, &a, err);
    return rc == MDB_TXN_FULL ? lm_err(kv, rc, err, "create", dataset, NULL, 0) : rc;
}

static int drop_body(CnKv *kv, MDB_txn *t, void *arg, CnErr *err) {
    const char *ds = arg;
    Lmdb *s = kv->impl;
    uint64_t cur;
    int rc = cat_get(kv, t, ds, strlen(ds), &cur, err);
    if (rc == 1) return cn_kv__no_dataset(kv, ds, err);
    if (rc < 0) return rc;
    MDB_val k = {strlen(ds), (void *)ds};
    rc = mdb_del(t, s->catalog, &k, NULL);
    if (rc) return rc == MDB_MAP_FULL ? rc : lm_err(kv, rc, err, "writing the catalog", ds, NULL, 0);
    return drop_versions(kv, t, ds, UINT64_MAX, err);
}

static int lm_dataset_drop(CnKv *kv, const char *dataset, CnErr *err) {
    int rc = run_write(kv, true, dataset, drop_body, NULL, (void *)dataset, err);
    return rc == MDB_TXN_FULL ? lm_err(kv, rc, err, "drop", dataset, NULL, 0) : rc;
}

static int lm_dataset_list(CnKv *kv, CnArena *arena, char ***names, size_t *n, CnErr *err) {
    Lmdb *s = kv->impl;
    MDB_txn *t;
    MDB_cursor *c = NULL;
    int rc = read_begin(kv, &t, err);
    if (rc < 0) return rc;
    MDB_stat st;
    size_t count = 0;
    char **out = NULL;
    rc = mdb_stat(t, s->catalog, &st);
    if (rc == 0) rc = mdb_cursor_open(t, s->catalog, &c);
    if (rc) {
        rc = lm_err(kv, rc, err, "listing datasets", NULL, NULL, 0);
        goto done;
    }
    out = cn_arena_alloc(arena, (st.ms_entries + 1) * sizeof *out);
    if (!out) {
        rc = cn_kv__oom(kv, NULL, err);
        goto done;
    }
    MDB_val k, d;
    for (rc = mdb_cursor_get(c, &k, &d, MDB_FIRST); rc == 0; rc = mdb_cursor_get(c, &k, &d, MDB_NEXT)) {
        if (k.mv_size && ((const char *)k.mv_data)[0] == '\0') continue; /* store records */
        if (count == st.ms_entries || !(out[count++] = cn_arena_strndup(arena, k.mv_data, k.mv_size))) {
            rc = cn_kv__oom(kv, NULL, err);
            goto done;
        }
    }
    rc = rc == MDB_NOTFOUND ? 0 : lm_err(kv, rc, err, "listing datasets", NULL, NULL, 0);
done:
    if (c) mdb_cursor_close(c);
    read_end(s, t);
    if (rc == 0) {
        *names = out;
        *n = count;
    }
    return rc;
}

static int lm_dataset_version(CnKv *kv, const char *dataset, uint64_t *version, CnErr *err) {
    MDB_txn *t;
    int rc = read_begin(kv, &t, err);
    if (rc < 0) return rc;
    rc = cat_get(kv, t, dataset, strlen(dataset), version, err);
    read_end(kv->impl, t);
    return rc == 1 ? cn_kv__no_dataset(kv, dataset, err) : rc;
}

/* ---- reads and in-place writes ----------------------------------------------------------- */

static int lm_multi_get(CnKv *kv, const char *dataset, const CnKvSlice *keys, size_t n,
                        CnKvSlice *values, CnArena *arena, CnErr *err) {
    Lmdb *s = kv->impl;
    size_t ds_len = strlen(dataset);
    for (int attempt = 0;; attempt++) {
        MDB_txn *t;
        int rc = read_begin(kv, &t, err);
        if (rc < 0) return rc;
        uint64_t v = 0;
        RegNode *nd = NULL;
        rc = cat_get(kv, t, dataset, ds_len, &v, err);
        if (rc == 1) rc = cn_kv__no_dataset(kv, dataset, err);
        else if (rc == 0 && !(nd = reg_find(s, dataset, ds_len, v))) rc = LM_NEED_OPEN;
        for (size_t i = 0; rc == 0 && i < n; i++) {
            MDB_val k = {keys[i].len, (void *)keys[i].data}, d;
            int mrc = mdb_get(t, nd->dbi, &k, &d);
            if (mrc == MDB_NOTFOUND) {
                values[i] = (CnKvSlice){NULL, 0};
            } else if (mrc) {
                rc = lm_err(kv, mrc, err, "mdb_get", dataset, keys[i].data, keys[i].len);
            } else {
                values[i].len = d.mv_size;
                if (!(values[i].data = cn_kv__copy_value(arena, d.mv_data, d.mv_size)))
                    rc = cn_kv__oom(kv, dataset, err);
            }
        }
        read_end(s, t);
        if (rc != LM_NEED_OPEN) return rc;
        if (attempt >= 8)
            return cn_err_set(err, CN_ECONFLICT, "%s: dataset %s: its version kept changing under "
                              "this read", kv->uri, dataset);
        rc = ensure_open(kv, dataset, err);
        if (rc < 0) return rc;
    }
}

/* ---- read snapshots: one renewed read transaction under the shared gate ------------------- */

static int lm_read_begin(CnKv *kv, void **txn, CnErr *err) {
    MDB_txn *t;
    int rc = read_begin(kv, &t, err);
    if (rc < 0) return rc;
    *txn = t;
    return 0;
}

static int lm_read_get(CnKv *kv, void *txn, const char *dataset, const CnKvSlice *key, CnKvSlice *value,
                       uint64_t *version, CnErr *err) {
    Lmdb *s = kv->impl;
    size_t ds_len = strlen(dataset);
    uint64_t v = 0;
    int rc = cat_get(kv, txn, dataset, ds_len, &v, err);
    if (rc == 1) return cn_kv__no_dataset(kv, dataset, err);
    if (rc < 0) return rc;
    /* the handle registry is read under the shared gate, which the snapshot holds */
    RegNode *nd = reg_find(s, dataset, ds_len, v);
    if (!nd)
        return cn_err_set(err, CN_ECONFLICT, "%s: dataset %s: version %llu is not open in this process yet", kv->uri,
                          dataset, (unsigned long long)v);
    MDB_val k = {key->len, (void *)key->data}, d;
    int mrc = key->data ? mdb_get(txn, nd->dbi, &k, &d) : MDB_NOTFOUND;
    if (mrc == MDB_NOTFOUND) *value = (CnKvSlice){NULL, 0};
    else if (mrc) return lm_err(kv, mrc, err, "mdb_get", dataset, key->data, key->len);
    else *value = (CnKvSlice){d.mv_size ? d.mv_data : cn_kv__empty, d.mv_size};
    *version = v;
    return 0;
}

static void lm_read_end(CnKv *kv, void *txn) {
    read_end(kv->impl, txn);
}

typedef struct PutArg {
    const char *ds;
    const CnKvSlice *keys, *values; /* values NULL: delete */
    size_t n;
} PutArg;

static int put_body(CnKv *kv, MDB_txn *t, void *arg, CnErr *err) {
    PutArg *a = arg;
    uint64_t v;
    size_t ds_len = strlen(a->ds);
    int rc = cat_get(kv, t, a->ds, ds_len, &v, err);
    if (rc == 1) return cn_err_set(err, CN_ENOTFOUND, "%s: dataset %s does not exist (create it "
                                   "or load it first)", kv->uri, a->ds);
    if (rc < 0) return rc;
    RegNode *nd = reg_find(kv->impl, a->ds, ds_len, v);
    if (!nd) return LM_NEED_OPEN;
    for (size_t i = 0; i < a->n; i++) {
        MDB_val k = {a->keys[i].len, (void *)a->keys[i].data};
        if (a->values) {
            MDB_val d = {a->values[i].len, (void *)(a->values[i].data ? a->values[i].data : cn_kv__empty)};
            rc = mdb_put(t, nd->dbi, &k, &d, 0);
        } else {
            rc = mdb_del(t, nd->dbi, &k, NULL);
            if (rc == MDB_NOTFOUND) rc = 0;
        }
        if (rc == MDB_MAP_FULL || rc == MDB_TXN_FULL) return rc;
        if (rc) return lm_err(kv, rc, err, a->values ? "mdb_put" : "mdb_del", a->ds, k.mv_data, k.mv_size);
    }
    return 0;
}

static int lm_multi_put(CnKv *kv, const char *dataset, const CnKvSlice *keys,
                        const CnKvSlice *values, size_t n, CnErr *err) {
    PutArg a = {dataset, keys, values, n};
    int rc = run_write(kv, false, dataset, put_body, NULL, &a, err);
    return rc == MDB_TXN_FULL ? lm_err(kv, rc, err, "multi_put", dataset, NULL, 0) : rc;
}

static int lm_multi_delete(CnKv *kv, const char *dataset, const CnKvSlice *keys, size_t n,
                           CnErr *err) {
    PutArg a = {dataset, keys, NULL, n};
    int rc = run_write(kv, false, dataset, put_body, NULL, &a, err);
    return rc == MDB_TXN_FULL ? lm_err(kv, rc, err, "multi_delete", dataset, NULL, 0) : rc;
}

/* ---- bulk load --------------------------------------------------------------------------- */

typedef struct BeginArg {
    CnKvLoad *ld;
    MDB_dbi dbi;
    RegNode *node;
} BeginArg;

static int begin_body(CnKv *kv, MDB_txn *t, void *arg, CnErr *err) {
    BeginArg *a = arg;
    return new_version(kv, t, a->ld->dataset, &a->ld->version, &a->dbi, err);
}

static int begin_after(CnKv *kv, void *arg, CnErr *err) {
    BeginArg *a = arg;
    Lmdb *s = kv->impl;
    a->node = reg_add(s, a->ld->dataset, a->ld->version, a->dbi, true);
    if (!a->node) {
        mdb_dbi_close(s->env, a->dbi);
        return cn_kv__oom(kv, a->ld->dataset, err);
    }
    return 0;
}

static int lm_load_begin(CnKvLoad *ld, CnErr *err) {
    CnKv *kv = ld->kv;
    LmLoad *L = cn_calloc(1, sizeof *L);
    if (!L) return cn_kv__oom(kv, ld->dataset, err);
    cn_arena_init(&L->arena, 4u << 20);
    L->sorted = true;
    L->slice = CHUNK_ENTS;
    L->stream_asked = (ld->flags & CN_KV_LOAD_STREAM) != 0;
    /* a part's dirty pages stay well under LMDB's cap on a write transaction */
    L->part_budget = CN_MIN(kv->opts.load_chunk_bytes, STREAM_PART_MAX);
    BeginArg a = {ld, 0, NULL};
    int rc = run_write(kv, true, ld->dataset, begin_body, begin_after, &a, err);
    if (rc == MDB_TXN_FULL) rc = lm_err(kv, rc, err, "load", ld->dataset, NULL, 0);
    if (rc < 0) {
        cn_arena_fini(&L->arena);
        cn_free(L);
        return rc;
    }
    L->node = a.node;
    ld->impl = L;
    return 0;
}

static int ent_cmp(const LmEnt *a, const LmEnt *b) {
    return cn_bytes_cmp(a->p, a->key_len, b->p, b->key_len);
}

/* Stable merge sort of a[0..n) using tmp: equal keys keep arrival order, so the last
 * one added is the last of its run. Bottom-up, no recursion. */
static void merge_sort(LmEnt *a, LmEnt *tmp, size_t n) {
    LmEnt *src = a, *dst = tmp;
    for (size_t w = 1; w < n; w *= 2) {
        for (size_t lo = 0; lo < n; lo += 2 * w) {
            size_t mid = CN_MIN(lo + w, n), hi = CN_MIN(lo + 2 * w, n), i = lo, j = mid, o = lo;
            while (i < mid && j < hi) dst[o++] = ent_cmp(&src[j], &src[i]) < 0 ? src[j++] : src[i++];
            while (i < mid) dst[o++] = src[i++];
            while (j < hi) dst[o++] = src[j++];
        }
        LmEnt *x = src;
        src = dst;
        dst = x;
    }
    if (src != a) memcpy(a, src, n * sizeof *a);
}

/* Sorts the chunk and keeps the last of equal keys. */
static int sort_chunk(CnKvLoad *ld, CnErr *err) {
    LmLoad *L = ld->impl;
    if (!L->tmp && !(L->tmp = cn_malloc(L->cap_ents * sizeof *L->tmp)))
        return cn_kv__oom(ld->kv, ld->dataset, err);
    merge_sort(L->ents, L->tmp, L->n_ents);
    size_t o = 0;
    for (size_t i = 0; i < L->n_ents; i++) {
        if (i + 1 < L->n_ents && ent_cmp(&L->ents[i], &L->ents[i + 1]) == 0) continue;
        L->ents[o++] = L->ents[i];
    }
    L->n_ents = o;
    L->sorted = true;
    return 0;
}

typedef struct FlushArg {
    CnKvLoad *ld;
    size_t from, to;
    const uint8_t *max;     /* OUT: the largest key after this slice */
    size_t max_len;
} FlushArg;

static int flush_body(CnKv *kv, MDB_txn *t, void *arg, CnErr *err) {
    FlushArg *a = arg;
    LmLoad *L = a->ld->impl;
    MDB_cursor *c;
    int rc = mdb_cursor_open(t, L->node->dbi, &c);
    if (rc) return lm_err(kv, rc, err, "load", a->ld->dataset, NULL, 0);
    const uint8_t *mk = L->have_max ? (const uint8_t *)L->max_key.data : NULL;
    size_t ml = L->max_key.len;
    const LmEnt *e = NULL;
    for (size_t i = a->from; i < a->to; i++) {
        e = &L->ents[i];
        MDB_val k = {e->key_len, (void *)e->p};
        MDB_val d = {e->val_len, (void *)(e->val_len ? e->p + e->key_len : cn_kv__empty)};
        /* keys beyond everything written go to the end of the tree without a search */
        unsigned fl = !mk || cn_bytes_cmp(e->p, e->key_len, mk, ml) > 0 ? MDB_APPEND : 0;
        rc = mdb_cursor_put(c, &k, &d, fl);
        if (rc) break;
        if (fl) {
            mk = e->p;
            ml = e->key_len;
        }
    }
    mdb_cursor_close(c);
    if (rc == MDB_MAP_FULL || rc == MDB_TXN_FULL) return rc;
    if (rc) return lm_err(kv, rc, err, "load", a->ld->dataset, e->p, e->key_len);
    a->max = mk;
    a->max_len = ml;
    return 0;
}

/* Page bytes a pair takes in a database filled in key order (MDB_APPEND packs leaves):
 * its node and slot pointer as a share of a page's usable bytes, or, for a value over
 * LMDB's node limit, the node plus its overflow pages. */
static uint64_t page_share(unsigned psize, size_t key_len, size_t val_len) {
    size_t node = 8 + key_len + val_len, max = (((psize - 16) / 2) & ~(size_t)1) - 2;
    if (node > max) return (uint64_t)(8 + key_len + 8 + 2) + (val_len + 16 + psize - 1) / psize * psize;
    return (uint64_t)(node + 2 + 1) * psize / (psize - 16);
}

/* Room in the map for `pages` page bytes more: the chunk about to be written, or a
 * streamed part. Growing before the transaction spares a second write of the whole
 * chunk after MDB_MAP_FULL: the map starts at 256 MiB, so a first upload of a few
 * hundred MB outgrew it in the middle of its first chunk every time. The estimate is
 * for pairs appended in key order plus an eighth; a chunk that takes more still finds
 * MDB_MAP_FULL handled by run_write (a streamed part fails the load). */
static int map_room(CnKv *kv, uint64_t pages, CnErr *err) {
    Lmdb *s = kv->impl;
    uint64_t need = pages + pages / 8 + 64 * (uint64_t)s->psize;
    gate_excl_enter(s);
    MDB_envinfo info;
    mdb_env_info(s->env, &info);
    uint64_t used = ((uint64_t)info.me_last_pgno + 1) * s->psize;
    int rc = 0;
    while (rc == 0 && used + need > info.me_mapsize && info.me_mapsize < s->map_max) {
        rc = grow_locked(kv, err);
        mdb_env_info(s->env, &info);
    }
    gate_excl_leave(s);
    return rc;
}

static int load_flush(CnKvLoad *ld, CnErr *err) {
    LmLoad *L = ld->impl;
    if (!L->sorted) {
        int rc = sort_chunk(ld, err);
        if (rc < 0) return rc;
    }
    if (L->n_ents) {
        int rc = map_room(ld->kv, L->chunk_pages, err);
        if (rc < 0) return rc;
    }
    size_t i = 0;
    while (i < L->n_ents) {
        size_t to = L->n_ents - i > L->slice ? i + L->slice : L->n_ents;
        FlushArg a = {ld, i, to, NULL, 0};
        int rc = run_write(ld->kv, false, ld->dataset, flush_body, NULL, &a, err);
        if (rc == MDB_TXN_FULL && L->slice > 1) {
            L->slice /= 2;
            continue;
        }
        if (rc == MDB_TXN_FULL) rc = lm_err(ld->kv, rc, err, "load", ld->dataset, NULL, 0);
        if (rc < 0) return rc;
        if (a.max && a.max != (const uint8_t *)L->max_key.data) {
            cn_buf_reset(&L->max_key);
            if (cn_buf_append(&L->max_key, a.max, a.max_len) < 0) return cn_kv__oom(ld->kv, ld->dataset, err);
            L->have_max = true;
        }
        i = to;
    }
    L->n_ents = 0;
    L->chunk_bytes = 0;
    L->chunk_pages = 0;
    L->sorted = true;
    cn_arena_reset(&L->arena);
    return 0;
}

/* ---- streamed load (CN_KV_LOAD_STREAM) ----------------------------------------------- */

static int flip_body(CnKv *kv, MDB_txn *t, void *arg, CnErr *err);
static int flip_after(CnKv *kv, void *arg, CnErr *err);

/* Ends the part in progress without writing it. */
static void part_abort(Lmdb *s, LmLoad *L) {
    if (!L->txn) return;
    mdb_cursor_close(L->cur);
    mdb_txn_abort(L->txn);
    L->txn = NULL;
    L->cur = NULL;
    gate_shared_leave(s, NULL);
}

/* Grows the map for a part of room page bytes and begins its write transaction. */
static int part_begin(CnKvLoad *ld, uint64_t room, CnErr *err) {
    CnKv *kv = ld->kv;
    Lmdb *s = kv->impl;
    LmLoad *L = ld->impl;
    int rc = map_room(kv, room, err);
    if (rc < 0) return rc;
    for (int attempt = 0;; attempt++) {
        gate_shared_enter(s, false);
        int mrc = mdb_txn_begin(s->env, NULL, 0, &L->txn);
        if (mrc == 0) {
            mrc = mdb_cursor_open(L->txn, L->node->dbi, &L->cur);
            if (mrc == 0) break;
            mdb_txn_abort(L->txn);
        }
        L->txn = NULL;
        gate_shared_leave(s, NULL);
        /* another process grew the map beyond ours */
        if (mrc == MDB_MAP_RESIZED && attempt < 3 && adopt_map_size(s) == 0) continue;
        return lm_err(kv, mrc, err, "starting a write transaction", ld->dataset, NULL, 0);
    }
    L->part_pages = 0;
    L->part_room = room;
    return 0;
}

/* Commits the part in progress; with flip, the new version becomes current in the same
 * transaction (one commit and one sync fewer at the end of the load). */
static int part_commit(CnKvLoad *ld, bool flip, CnErr *err) {
    CnKv *kv = ld->kv;
    Lmdb *s = kv->impl;
    LmLoad *L = ld->impl;
    int rc = flip ? flip_body(kv, L->txn, ld, err) : 0;
    if (rc == MDB_MAP_FULL) rc = lm_err(kv, rc, err, "flipping to the new version", ld->dataset, NULL, 0);
    if (rc < 0) {
        part_abort(s, L);
        return rc;
    }
    mdb_cursor_close(L->cur);
    double t0 = cn_clock_s(CLOCK_MONOTONIC), c0 = cn_clock_s(CLOCK_THREAD_CPUTIME_ID);
    int mrc = mdb_txn_commit(L->txn);
    L->commit_s += cn_clock_s(CLOCK_MONOTONIC) - t0;
    L->commit_cpu += cn_clock_s(CLOCK_THREAD_CPUTIME_ID) - c0;
    L->n_parts++;
    L->txn = NULL;
    L->cur = NULL;
    if (mrc == 0 && flip) flip_after(kv, ld, err);
    gate_shared_leave(s, NULL);
    return mrc ? lm_err(kv, mrc, err, "commit", ld->dataset, NULL, 0) : 0;
}

/* One pair appended to the part in progress (1), or 0 when the pair is not beyond every
 * key written: then the part is committed and the load goes on buffered, as without
 * the flag (a put in the middle of the tree copies and splits pages, which no room
 * estimate bounds well, and the buffer sorts the rest into appends again). A part that
 * would outgrow its room is committed first and the next begins with room for the pair. */
_Static_assert(sizeof ((LmLoad *)0)->last > 511, "a streamed key fits LmLoad.last (max_key_len)");

static int stream_add(CnKvLoad *ld, const void *key, size_t key_len, const void *value, size_t value_len,
                      CnErr *err) {
    CnKv *kv = ld->kv;
    Lmdb *s = kv->impl;
    LmLoad *L = ld->impl;
    if (L->last_len && cn_bytes_cmp(key, key_len, L->last, L->last_len) <= 0) {
        ld->flags &= ~(unsigned)CN_KV_LOAD_STREAM;
        cn_buf_reset(&L->max_key);
        if (cn_buf_append(&L->max_key, L->last, L->last_len) < 0) return cn_kv__oom(kv, ld->dataset, err);
        L->have_max = true;
        return L->txn ? part_commit(ld, false, err) : 0;
    }
    uint64_t share = page_share(s->psize, key_len, value_len);
    int rc = 0;
    if (L->txn && L->part_pages + share > L->part_room) rc = part_commit(ld, false, err);
    if (rc == 0 && !L->txn) rc = part_begin(ld, share > L->part_budget ? share : L->part_budget, err);
    if (rc < 0) return rc;
    MDB_val k = {key_len, (void *)key};
    MDB_val d = {value_len, (void *)(value_len ? value : cn_kv__empty)};
    /* beyond every key written: to the end of the tree without a search */
    int mrc = mdb_cursor_put(L->cur, &k, &d, MDB_APPEND);
    if (mrc) {
        part_abort(s, L); /* the pairs of this part are gone: the load fails */
        return lm_err(kv, mrc, err, "load", ld->dataset, key, key_len);
    }
    L->part_pages += share;
    memcpy(L->last, key, key_len);
    L->last_len = key_len;
    return 1;
}

static int lm_load_add(CnKvLoad *ld, const void *key, size_t key_len, const void *value,
                       size_t value_len, CnErr *err) {
    LmLoad *L = ld->impl;
    if (value_len > UINT32_MAX)
        return cn_err_set(err, CN_ELIMIT, "%s: dataset %s: a value of %zu bytes; loads take values "
                          "up to 4 GiB", ld->kv->uri, ld->dataset, value_len);
    if (ld->flags & CN_KV_LOAD_STREAM) {
        int rc = stream_add(ld, key, key_len, value, value_len, err);
        if (rc != 0) return rc < 0 ? rc : 0;
    }
    if (L->n_ents == L->cap_ents) {
        size_t cap = L->cap_ents ? L->cap_ents * 2 : 4096;
        LmEnt *ne = cn_realloc(L->ents, cap * sizeof *ne);
        if (!ne) return cn_kv__oom(ld->kv, ld->dataset, err);
        L->ents = ne;
        L->cap_ents = cap;
        cn_free(L->tmp); /* regrown at the next sort */
        L->tmp = NULL;
    }
    uint8_t *b = cn_arena_alloc(&L->arena, key_len + value_len);
    if (!b) return cn_kv__oom(ld->kv, ld->dataset, err);
    memcpy(b, key, key_len);
    if (value_len) memcpy(b + key_len, value, value_len);
    LmEnt *e = &L->ents[L->n_ents];
    *e = (LmEnt){b, (uint32_t)key_len, (uint32_t)value_len};
    if (L->sorted && L->n_ents && ent_cmp(&e[-1], e) >= 0) L->sorted = false;
    L->n_ents++;
    L->chunk_bytes += key_len + value_len + 16;
    L->chunk_pages += page_share(((Lmdb *)ld->kv->impl)->psize, key_len, value_len);
    if (L->chunk_bytes >= ld->kv->opts.load_chunk_bytes || L->n_ents >= CHUNK_ENTS)
        return load_flush(ld, err);
    return 0;
}

static void load_free(CnKvLoad *ld) {
    LmLoad *L = ld->impl;
    if (!L) return;
    cn_arena_fini(&L->arena);
    cn_buf_fini(&L->max_key);
    cn_free(L->ents);
    cn_free(L->tmp);
    cn_free(L);
    ld->impl = NULL;
}

static int abort_body(CnKv *kv, MDB_txn *t, void *arg, CnErr *err) {
    CnKvLoad *ld = arg;
    LmLoad *L = ld->impl;
    Lmdb *s = kv->impl;
    MDB_dbi dbi;
    int rc = 0;
    if (L->node) {
        dbi = L->node->dbi;
        reg_remove(s, L->node); /* mdb_drop closes the handle, even if t is later aborted */
        L->node = NULL;
    } else { /* a retry after MDB_MAP_FULL */
        char name[DBNAME_MAX];
        db_name(name, ld->dataset, ld->version);
        rc = mdb_dbi_open(t, name, 0, &dbi);
    }
    if (rc == 0) rc = mdb_drop(t, dbi, 1);
    if (rc == MDB_MAP_FULL) return rc;
    return rc ? lm_err(kv, rc, err, "dropping an aborted load", ld->dataset, NULL, 0) : 0;
}

static void lm_load_abort(CnKvLoad *ld) {
    LmLoad *L = ld->impl;
    if (!L) return;
    part_abort(ld->kv->impl, L);
    if (L->node) { /* NULL once flipped */
        CnErr e = CN_ERR_INIT;
        if (run_write(ld->kv, true, ld->dataset, abort_body, NULL, ld, &e) != 0)
            cn_log(CN_LOG_WARN, "kv=%s dataset=%s msg=\"aborted load left version %llu behind; the "
                   "next load collects it\" err=\"%s\"", ld->kv->uri, ld->dataset,
                   (unsigned long long)ld->version, cn_err_msg(&e));
    }
    load_free(ld);
}

static int flip_body(CnKv *kv, MDB_txn *t, void *arg, CnErr *err) {
    CnKvLoad *ld = arg;
    uint64_t cur = 0;
    int rc = cat_get(kv, t, ld->dataset, strlen(ld->dataset), &cur, err);
    if (rc < 0) return rc;
    if (rc == 0 && cur > ld->version)
        return cn_err_set(err, CN_ECONFLICT, "%s: dataset %s: a newer load (version %llu) was "
                          "committed while version %llu was loading", kv->uri, ld->dataset,
                          (unsigned long long)cur, (unsigned long long)ld->version);
    return cat_put(kv, t, ld->dataset, ld->version, err);
}

static int flip_after(CnKv *kv, void *arg, CnErr *err) {
    (void)kv, (void)err;
    CnKvLoad *ld = arg;
    LmLoad *L = ld->impl;
    /* the version is current now: readers may retire it once a newer one comes.
     * Shared gate: the flag is read only under the exclusive gate. */
    L->node->pinned = false;
    return 0;
}

static int gc_body(CnKv *kv, MDB_txn *t, void *arg, CnErr *err) {
    CnKvLoad *ld = arg;
    return drop_versions(kv, t, ld->dataset, ld->version, err);
}

static int lm_load_commit(CnKvLoad *ld, CnErr *err) {
    CnKv *kv = ld->kv;
    LmLoad *L = ld->impl;
    int rc = load_flush(ld, err);
    if (rc == 0 && L->txn) rc = part_commit(ld, true, err);
    else if (rc == 0) rc = run_write(kv, false, ld->dataset, flip_body, flip_after, ld, err);
    if (L->stream_asked)
        cn_log(CN_LOG_DEBUG, "kv=%s dataset=%s streamed load: pairs=%llu parts=%u commits=%.3fs (CPU %.3fs)%s",
               kv->uri, ld->dataset, (unsigned long long)ld->n_added, L->n_parts, L->commit_s, L->commit_cpu,
               ld->flags & CN_KV_LOAD_STREAM ? "" : " (then buffered: keys out of order)");
    if (rc == MDB_TXN_FULL) rc = lm_err(kv, rc, err, "load", ld->dataset, NULL, 0);
    if (rc < 0) {
        lm_load_abort(ld);
        return rc;
    }
    L->node = NULL; /* the registry owns it now */
    /* The flip stands even if collecting old versions fails: they are dropped by the
     * next load of this dataset. */
    CnErr e = CN_ERR_INIT;
    if (run_write(kv, true, ld->dataset, gc_body, NULL, ld, &e) != 0)
        cn_log(CN_LOG_WARN, "kv=%s dataset=%s msg=\"old versions not collected\" err=\"%s\"",
               kv->uri, ld->dataset, cn_err_msg(&e));
    load_free(ld);
    return 0;
}

const CnKvOps cn_kv__lmdb_ops = {
    .name = "lmdb",
    .caps = CN_KV_CAP_PERSISTENT | CN_KV_CAP_FILES | CN_KV_CAP_STREAM,
    .max_key_len = 511, /* MDB_MAXKEYSIZE of liblmdb's default build; checked at open */
    .open = lm_open,
    .close = lm_close,
    .dataset_create = lm_dataset_create,
    .dataset_drop = lm_dataset_drop,
    .dataset_list = lm_dataset_list,
    .dataset_version = lm_dataset_version,
    .multi_get = lm_multi_get,
    .multi_put = lm_multi_put,
    .multi_delete = lm_multi_delete,
    .load_begin = lm_load_begin,
    .load_add = lm_load_add,
    .load_commit = lm_load_commit,
    .load_abort = lm_load_abort,
    .read_begin = lm_read_begin,
    .read_get = lm_read_get,
    .read_end = lm_read_end,
};
