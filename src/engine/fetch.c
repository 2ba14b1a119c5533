/* fetch.c: CnFetcher, online fetch by name (compute.md section 8).
 *
 * CACHES, all under f->mu (held only to look up and link, never across store calls):
 *   - named confs: the request name's metadata key ("group_bys/team/x.v1") -> the
 *     parsed conf and the text it came from. Each fetch re-reads the metadata value
 *     (one KV get) and reparses when the text changed. Replaced confs are kept until
 *     close, because another thread may still be using them.
 *   - servings: per batch dataset, idle CnEngServing objects of the dataset's current
 *     version. A fetch takes one (or loads a new one), uses it alone and gives it back,
 *     since a serving's decode scratch is one-thread-at-a-time. When the dataset's
 *     version moves (a newer upload), idle servings of older versions are dropped.
 * A fetch reads the dataset version before and after its multi-get; if an upload
 * flipped the dataset in between, it fetches again with the new serving info. */
#include "base/compat.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/alloc.h"
#include "base/arena.h"
#include "base/date.h"
#include "base/fs.h"
#include "base/json.h"
#include "base/str.h"
#include "engine/fetch.h"
#include "engine/fetch_int.h"
#include "engine/online.h"
#include "expr/expr.h"
#include "online/kv.h"

typedef struct Named {
    struct Named *next;
    CnFetchKind kind;
    char *key;      /* metadata key, e.g. "group_bys/team/x.v1" */
    char *text;     /* the conf text it was parsed from (metadata), NULL from a file */
    size_t len;
    CnConf *conf;
} Named;

typedef struct Serv {
    struct Serv *next;
    CnEngServing *sv;
    uint64_t version;
    CnBatch *keys; /* one-row scratch of the key schema */
    uint32_t *order; /* value columns in byte order of their names (the typed path) */
} Serv;

typedef struct Pool {
    struct Pool *next;
    char *dataset;
    uint64_t version; /* newest version seen */
    Serv *idle;
} Pool;

typedef struct Plan Plan;
static void plan_free(Plan *pl);

struct CnFetcher {
    CnKv *kv;
    char *root; /* NULL: no repo fallback */
    pthread_mutex_t mu;
    Named *named, *retired;
    atomic_uint_fast64_t n_typed; /* answers of the typed path (tests) */
    Plan *plans;        /* typed-path plans, newest first; freed at close */
    Pool *pools;
    CnFetchNoteFn note;
    void *note_ud;
};

/* ------------------------------------------------------------------ open / close */

int cn_fetcher_open(const char *online_uri, const char *repo, CnFetcher **out, CnErr *err) {
    *out = NULL;
    if (!online_uri || !*online_uri) return cn_err_set(err, CN_EINVAL, "fetch: no online store URI given");
    CnFetcher *f = cn_calloc(1, sizeof *f);
    if (!f) return cn_err_set(err, CN_ENOMEM, "out of memory");
    pthread_mutex_init(&f->mu, NULL);
    int rc = 0;
    if (repo && !(f->root = cn_strdup(repo))) rc = cn_err_set(err, CN_ENOMEM, "out of memory");
    CnKvOptions ko;
    memset(&ko, 0, sizeof ko);
    ko.read_only = true;
    if (rc == 0) rc = cn_kv_open(online_uri, &ko, &f->kv, err);
    if (rc == CN_ENOTFOUND) {
        cn_err_clear(err);
        rc = cn_err_set(err, CN_ENOTFOUND, "online store %s does not exist yet; run --mode upload (and metadata-upload) first",
                        online_uri);
    }
    if (rc) {
        cn_fetcher_close(f);
        return rc;
    }
    *out = f;
    return 0;
}

static void named_free(Named *n) {
    while (n) {
        Named *next = n->next;
        cn_conf_free(n->conf);
        cn_free(n->key);
        cn_free(n->text);
        cn_free(n);
        n = next;
    }
}

static void serv_free(Serv *s) {
    while (s) {
        Serv *next = s->next;
        cn_eng_serving_free(s->sv);
        cn_col_batch_free(s->keys);
        cn_free(s->order);
        cn_free(s);
        s = next;
    }
}

void cn_fetcher_close(CnFetcher *f) {
    if (!f) return;
    named_free(f->named);
    named_free(f->retired);
    plan_free(f->plans);
    for (Pool *p = f->pools, *next; p; p = next) {
        next = p->next;
        serv_free(p->idle);
        cn_free(p->dataset);
        cn_free(p);
    }
    cn_kv_close(f->kv);
    cn_free(f->root);
    pthread_mutex_destroy(&f->mu);
    cn_free(f);
}

void cn_fetcher_set_notes(CnFetcher *f, CnFetchNoteFn fn, void *ud) {
    f->note = fn;
    f->note_ud = ud;
}

uint64_t cn_fetcher__typed_answers(CnFetcher *f) {
    return atomic_load(&f->n_typed);
}

CnKv *cn_fetcher__kv(CnFetcher *f) {
    return f->kv;
}

void cn_fetcher__note(CnFetcher *f, const char *fmt, ...) {
    if (!f->note) return;
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    f->note(f->note_ud, msg);
}

int64_t cn_fetcher__now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ------------------------------------------------------------------ names */

char *cn_fetcher__metadata_key(CnArena *ar, const char *folder, const char *name) {
    const char *dot = strchr(name, '.');
    const char *slash = strchr(name, '/');
    if (slash || !dot) return cn_arena_printf(ar, "%s/%s", folder, name);
    return cn_arena_printf(ar, "%s/%.*s/%s", folder, (int)(dot - name), name, dot + 1);
}

static size_t edit_distance(const char *x, const char *y) {
    size_t n = strlen(y), prev[256], cur[256];
    if (n > 255) n = 255;
    for (size_t j = 0; j <= n; j++) prev[j] = j;
    for (size_t i = 1; x[i - 1]; i++) {
        cur[0] = i;
        for (size_t j = 1; j <= n; j++) {
            size_t d = prev[j - 1] + (x[i - 1] != y[j - 1]);
            if (prev[j] + 1 < d) d = prev[j] + 1;
            if (cur[j - 1] + 1 < d) d = cur[j - 1] + 1;
            cur[j] = d;
        }
        memcpy(prev, cur, (n + 1) * sizeof *prev);
    }
    return prev[n];
}

/* The compiled names under <root>/production/<folder> closest to want, for messages. */
static void nearby_names(const char *root, const char *folder, const char *want, CnBuf *out) {
    char dir[PATH_MAX + 32];
    if (!root) return;
    snprintf(dir, sizeof dir, "%s/production/%s", root, folder);
    DIR *d = opendir(dir);
    if (!d) return;
    typedef struct { char name[256]; size_t dist; } Cand;
    Cand best[5];
    int nb = 0;
    struct dirent *t;
    while ((t = readdir(d))) {
        if (t->d_name[0] == '.') continue;
        char sub[PATH_MAX + 300];
        snprintf(sub, sizeof sub, "%s/%s", dir, t->d_name);
        DIR *d2 = opendir(sub);
        if (!d2) continue;
        struct dirent *e;
        while ((e = readdir(d2))) {
            if (e->d_name[0] == '.') continue;
            Cand c;
            snprintf(c.name, sizeof c.name, "%.120s/%.120s", t->d_name, e->d_name);
            c.dist = edit_distance(c.name, want);
            int pos = nb;
            while (pos > 0 && best[pos - 1].dist > c.dist) pos--;
            if (pos >= 5) continue;
            if (nb < 5) nb++;
            memmove(&best[pos + 1], &best[pos], (size_t)(nb - 1 - pos) * sizeof *best);
            best[pos] = c;
        }
        closedir(d2);
    }
    closedir(d);
    for (int i = 0; i < nb; i++) cn_buf_printf(out, "%s%s", i ? ", " : "", best[i].name);
}

/* The cached conf of metadata key `key` if it is still what the store holds (v: the
 * metadata value, {NULL, 0} when there is none: a conf read from the repo), else NULL. */
static const CnConf *named_fresh(CnFetcher *f, CnFetchKind kind, const char *key, CnKvSlice v) {
    pthread_mutex_lock(&f->mu);
    Named *n = f->named;
    while (n && !(n->kind == kind && !strcmp(n->key, key))) n = n->next;
    bool fresh = n && (v.data ? (n->text && n->len == v.len && !memcmp(n->text, v.data, v.len)) : !n->text);
    pthread_mutex_unlock(&f->mu);
    return fresh ? n->conf : NULL;
}

/* The conf of a request name: ZIPLINE_METADATA, else <root>/production/<key>. Cached;
 * the metadata text is compared on every call so a new metadata-upload is seen.
 * BORROWED: *conf until the fetcher is closed. */
int cn_fetcher__conf(CnFetcher *f, CnFetchKind kind, const char *name, CnArena *ar, const CnConf **conf,
                     CnErr *err) {
    const char *folder = kind == CN_FETCH_JOIN ? "joins" : "group_bys";
    const char *what = kind == CN_FETCH_JOIN ? "Join" : "GroupBy";
    char *key = cn_fetcher__metadata_key(ar, folder, name);
    if (!key) return cn_err_set(err, CN_ENOMEM, "out of memory");
    CnKvSlice v = {NULL, 0};
    int rc = cn_kv_get(f->kv, CN_KV_METADATA_DATASET, key, strlen(key), &v, ar, err);
    if (rc && rc != CN_ENOTFOUND) return rc;
    cn_err_clear(err);
    if ((*conf = named_fresh(f, kind, key, v))) return 0;
    CnConf *c = NULL;
    char *path = NULL;
    if (v.data) {
        rc = cn_conf_loadb(cn_arena_printf(ar, "%s/%s", CN_KV_METADATA_DATASET, key), (const char *)v.data, v.len,
                           kind == CN_FETCH_JOIN ? CN_CONF_JOIN : CN_CONF_GROUP_BY, &c, err);
    } else if (f->root && cn_fs_exists(path = cn_arena_printf(ar, "%s/production/%s", f->root, key))) {
        rc = cn_conf_load(path, &c, err);
    } else {
        CnBuf near = CN_BUF_INIT;
        nearby_names(f->root, folder, key + strlen(folder) + 1, &near);
        if (f->root)
            rc = cn_err_set(err, CN_ENOTFOUND,
                            "--name %s: no %s %s in %s of %s nor at production/%s (run --mode metadata-upload); "
                            "nearby names: %s",
                            name, what, key, CN_KV_METADATA_DATASET, cn_kv_uri(f->kv), key, near.len ? near.data : "none");
        else
            rc = cn_err_set(err, CN_ENOTFOUND, "--name %s: no %s %s in %s of %s (run --mode metadata-upload)", name, what,
                            key, CN_KV_METADATA_DATASET, cn_kv_uri(f->kv));
        cn_buf_fini(&near);
    }
    if (rc == 0 && kind == CN_FETCH_GROUPBY && !c->group_by)
        rc = cn_err_set(err, CN_ECONFIG, "--name %s: not a GroupBy", name);
    if (rc == 0 && kind == CN_FETCH_JOIN && !c->join) rc = cn_err_set(err, CN_ECONFIG, "--name %s: not a Join", name);
    Named *nn = NULL;
    if (rc == 0 && (!(nn = cn_calloc(1, sizeof *nn)) || !(nn->key = cn_strdup(key)) ||
                    (v.data && !(nn->text = cn_strndup((const char *)v.data, v.len)))))
        rc = cn_err_set(err, CN_ENOMEM, "out of memory");
    if (rc) {
        if (nn) named_free(nn);
        cn_conf_free(c);
        return rc;
    }
    nn->kind = kind;
    nn->len = v.len;
    nn->conf = c;
    pthread_mutex_lock(&f->mu);
    /* retire the entry it replaces (still in use elsewhere perhaps) */
    for (Named **pp = &f->named; *pp; pp = &(*pp)->next)
        if ((*pp)->kind == kind && !strcmp((*pp)->key, key)) {
            Named *old = *pp;
            *pp = old->next;
            old->next = f->retired;
            f->retired = old;
            break;
        }
    nn->next = f->named;
    f->named = nn;
    pthread_mutex_unlock(&f->mu);
    *conf = c;
    return 0;
}

/* ------------------------------------------------------------------ servings */

static Pool *pool_get(CnFetcher *f, const char *dataset) {
    Pool *p = f->pools;
    while (p && strcmp(p->dataset, dataset)) p = p->next;
    if (p) return p;
    p = cn_calloc(1, sizeof *p);
    if (!p || !(p->dataset = cn_strdup(dataset))) {
        cn_free(p);
        return NULL;
    }
    p->next = f->pools;
    f->pools = p;
    return p;
}

/* s->order: the value columns sorted by name, as JSON_SORT_KEYS writes them (an
 * insertion sort: once per loaded serving, tens of columns). */
static int serv_order(Serv *s, CnErr *err) {
    const CnSchema *vs = cn_eng_serving_value_schema(s->sv);
    if (!(s->order = cn_malloc(((size_t)vs->n_fields + 1) * sizeof *s->order)))
        return cn_err_set(err, CN_ENOMEM, "out of memory");
    for (uint32_t c = 0; c < vs->n_fields; c++) {
        uint32_t j = c;
        while (j > 0 && strcmp(vs->fields[s->order[j - 1]].name, vs->fields[c].name) > 0) {
            s->order[j] = s->order[j - 1];
            j--;
        }
        s->order[j] = c;
    }
    return 0;
}

/* An idle serving of dataset at version ver, without reading the store; NULL when the
 * pool has none (the generic path then loads one). OWNED by the caller until
 * serv_release. */
static Serv *serv_take(CnFetcher *f, const char *dataset, uint64_t ver) {
    Serv *s = NULL;
    pthread_mutex_lock(&f->mu);
    Pool *p = f->pools;
    while (p && strcmp(p->dataset, dataset)) p = p->next;
    if (p && p->version == ver && p->idle && p->idle->version == ver) {
        s = p->idle;
        p->idle = s->next;
        s->next = NULL;
    }
    pthread_mutex_unlock(&f->mu);
    return s;
}

/* Takes a serving of the dataset's current version. OWNED by the caller until
 * serv_release. */
static int serv_acquire(CnFetcher *f, const char *gb_name, const char *dataset, Serv **out, CnErr *err) {
    *out = NULL;
    uint64_t ver = 0;
    int rc = cn_kv_dataset_version(f->kv, dataset, &ver, err);
    if (rc == CN_ENOTFOUND) {
        cn_err_clear(err);
        return cn_err_set(err, CN_ENOTFOUND,
                          "GroupBy %s has no batch data in the online store %s (dataset %s); run --mode upload first",
                          gb_name, cn_kv_uri(f->kv), dataset);
    }
    if (rc) return rc;
    Serv *drop = NULL, *s = NULL;
    pthread_mutex_lock(&f->mu);
    Pool *p = pool_get(f, dataset);
    if (p && ver > p->version) {
        drop = p->idle;
        p->idle = NULL;
        p->version = ver;
    }
    if (p && p->idle && p->idle->version == ver) {
        s = p->idle;
        p->idle = s->next;
        s->next = NULL;
    }
    pthread_mutex_unlock(&f->mu);
    serv_free(drop);
    if (!p) return cn_err_set(err, CN_ENOMEM, "out of memory");
    if (!s) {
        if (!(s = cn_calloc(1, sizeof *s))) return cn_err_set(err, CN_ENOMEM, "out of memory");
        s->version = ver;
        rc = cn_eng_serving_load(f->kv, gb_name, &s->sv, err);
        if (rc == 0) rc = cn_col_batch_new(cn_eng_serving_key_schema(s->sv), &s->keys, err);
        if (rc == 0) rc = serv_order(s, err);
        if (rc) {
            serv_free(s);
            return rc;
        }
    }
    *out = s;
    return 0;
}

static void serv_release(CnFetcher *f, const char *dataset, Serv *s) {
    if (!s) return;
    pthread_mutex_lock(&f->mu);
    Pool *p = f->pools;
    while (p && strcmp(p->dataset, dataset)) p = p->next;
    if (p && s->version == p->version) {
        s->next = p->idle;
        p->idle = s;
        s = NULL;
    }
    pthread_mutex_unlock(&f->mu);
    serv_free(s);
}

/* ------------------------------------------------------------------ keys */

/* v as compact JSON with sorted keys, for messages. */
const char *cn_fetcher__json_text(const json_t *v, char *buf, size_t cap) {
    char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY | JSON_SORT_KEYS);
    snprintf(buf, cap, "%s", s ? s : "?");
    cn_free_libc(s); /* jansson's allocation */
    return buf;
}

/* Appends request value v to key column vec (compute.md 8.4: keys are cast to the key
 * schema). CN_EINVAL "Invalid key format" when it does not convert. */
static int append_key(CnVec *vec, const char *name, const json_t *v, CnErr *err) {
    char tb[64], vb[128];
    const CnType *t = vec->type;
    CnTypeId id = t->id;
    if (json_is_null(v)) return cn_col_vec_append_null(vec);
    if (id == CN_COL_STRING) {
        if (json_is_string(v)) return cn_col_vec_append_str(vec, json_string_value(v), json_string_length(v));
        if (json_is_integer(v)) {
            snprintf(vb, sizeof vb, "%lld", (long long)json_integer_value(v));
            return cn_col_vec_append_str(vec, vb, strlen(vb));
        }
        if (json_is_boolean(v))
            return cn_col_vec_append_str(vec, json_is_true(v) ? "true" : "false", json_is_true(v) ? 4 : 5);
        if (json_is_real(v)) {
            /* as Java prints a double: shortest round-trip digits, "1.0" for integral values */
            double d = json_real_value(v);
            for (int prec = 15; prec <= 17; prec++) {
                snprintf(vb, sizeof vb - 2, "%.*g", prec, d);
                if (strtod(vb, NULL) == d) break;
            }
            if (!strpbrk(vb, ".eEn")) strcat(vb, ".0");
            return cn_col_vec_append_str(vec, vb, strlen(vb));
        }
    } else if (id == CN_COL_INT32 || id == CN_COL_INT64 || id == CN_COL_TIMESTAMP) {
        long long x = 0;
        bool ok = false;
        if (json_is_integer(v)) {
            x = json_integer_value(v);
            ok = true;
        } else if (json_is_real(v) && json_real_value(v) == floor(json_real_value(v)) && fabs(json_real_value(v)) < 9e18) {
            x = (long long)json_real_value(v);
            ok = true;
        } else if (json_is_string(v) && json_string_length(v)) {
            char *end = NULL;
            errno = 0;
            x = strtoll(json_string_value(v), &end, 10);
            ok = !*end && errno == 0;
        }
        if (ok && id == CN_COL_INT32 && (x < INT32_MIN || x > INT32_MAX)) ok = false;
        if (ok) return id == CN_COL_INT32 ? cn_col_vec_append_i32(vec, (int32_t)x) : cn_col_vec_append_i64(vec, x);
    } else if (id == CN_COL_FLOAT64 || id == CN_COL_FLOAT32) {
        double x = 0;
        bool ok = false;
        if (json_is_number(v)) {
            x = json_number_value(v);
            ok = true;
        } else if (json_is_string(v) && json_string_length(v)) {
            char *end = NULL;
            x = strtod(json_string_value(v), &end);
            ok = !*end;
        }
        if (ok) return id == CN_COL_FLOAT32 ? cn_col_vec_append_f32(vec, (float)x) : cn_col_vec_append_f64(vec, x);
    } else if (id == CN_COL_BOOL) {
        if (json_is_boolean(v)) return cn_col_vec_append_bool(vec, json_is_true(v));
        if (json_is_string(v) && (!strcmp(json_string_value(v), "true") || !strcmp(json_string_value(v), "false")))
            return cn_col_vec_append_bool(vec, !strcmp(json_string_value(v), "true"));
    } else if (id == CN_COL_DATE) {
        int64_t d;
        if (json_is_string(v) && !cn_ds_parse(json_string_value(v), &d)) return cn_col_vec_append_i32(vec, (int32_t)d);
    }
    return cn_err_set(err, CN_EINVAL,
                      "Invalid key format: key \"%s\" is %s, which is not a valid %s (the GroupBy's key type)", name,
                      cn_fetcher__json_text(v, vb, sizeof vb), cn_col_type_name(t, tb, sizeof tb));
}

/* The KV key of the one row of s->keys into kb; *any false when every key is null. */
static int key_bytes(const Serv *s, CnBuf *kb, bool *any, CnErr *err) {
    int rc = cn_col_batch_sync_rows(s->keys, err);
    if (rc) return rc;
    kb->len = 0;
    *any = cn_eng_serving_key(s->sv, s->keys, 0, kb);
    return kb->oom ? cn_err_set(err, CN_ENOMEM, "out of memory") : 0;
}

/* The KV key of request r into *key (arena), or NULL when every key is null.
 * Returns non-zero with err set when r lacks a key or a key does not convert. */
static int request_key(const Serv *s, const char *gb_name, const json_t *r, CnArena *ar, CnBuf *kb, CnKvSlice *key,
                       CnErr *err) {
    const CnSchema *ks = cn_eng_serving_key_schema(s->sv);
    key->data = NULL;
    key->len = 0;
    cn_col_batch_reset(s->keys);
    int rc = 0;
    for (uint32_t c = 0; c < ks->n_fields && rc == 0; c++) {
        const char *kn = ks->fields[c].name;
        json_t *v = json_object_get(r, kn);
        if (!v) {
            CnBuf have = CN_BUF_INIT;
            for (uint32_t k = 0; k < ks->n_fields; k++) cn_buf_printf(&have, "%s%s", k ? ", " : "", ks->fields[k].name);
            char rb[256];
            rc = cn_err_set(err, CN_EINVAL, "request %s: missing key column \"%s\" (GroupBy %s keys: %s)",
                            cn_fetcher__json_text(r, rb, sizeof rb), kn, gb_name, have.data ? have.data : "");
            cn_buf_fini(&have);
            return rc;
        }
        rc = append_key(&s->keys->cols[c], kn, v, err);
        if (rc && !err->code) rc = cn_err_set(err, CN_ENOMEM, "out of memory");
    }
    bool any = false;
    if (rc == 0) rc = key_bytes(s, kb, &any, err);
    if (rc || !any) return rc; /* a null key has no data */
    uint8_t *copy = cn_arena_alloc(ar, kb->len ? kb->len : 1);
    if (!copy || kb->oom) return cn_err_set(err, CN_ENOMEM, "out of memory");
    memcpy(copy, kb->data, kb->len);
    key->data = copy;
    key->len = kb->len;
    return 0;
}

/* ------------------------------------------------------------------ derivations */

/* A JSON value into a vector of a primitive type (or a list of one), as the values of
 * a response hold them. false when it does not fit (the column is then left out). */
static bool json_to_vec(CnVec *v, const json_t *x) {
    if (json_is_null(x)) return cn_col_vec_append_null(v) == 0;
    switch (v->type->id) {
    case CN_COL_BOOL: return json_is_boolean(x) && cn_col_vec_append_bool(v, json_is_true(x)) == 0;
    case CN_COL_INT32: return json_is_integer(x) && cn_col_vec_append_i32(v, (int32_t)json_integer_value(x)) == 0;
    case CN_COL_DATE: {
        int64_t d;
        return json_is_string(x) && !cn_ds_parse(json_string_value(x), &d) && cn_col_vec_append_i32(v, (int32_t)d) == 0;
    }
    case CN_COL_INT64:
    case CN_COL_TIMESTAMP: return json_is_integer(x) && cn_col_vec_append_i64(v, json_integer_value(x)) == 0;
    case CN_COL_FLOAT32: return json_is_number(x) && cn_col_vec_append_f32(v, (float)json_number_value(x)) == 0;
    case CN_COL_FLOAT64: return json_is_number(x) && cn_col_vec_append_f64(v, json_number_value(x)) == 0;
    case CN_COL_STRING:
    case CN_COL_BINARY: return json_is_string(x) && cn_col_vec_append_str(v, json_string_value(x), json_string_length(x)) == 0;
    case CN_COL_LIST: {
        if (!json_is_array(x)) return false;
        for (size_t i = 0; i < json_array_size(x); i++)
            if (!json_to_vec(&v->child[0], json_array_get(x, i))) return false;
        return cn_col_vec_close_list(v) == 0;
    }
    default: return false;
    }
}

/* The type a JSON value of unknown column type is given (numbers as Spark reads JSON). */
static const CnType *json_col_type(const json_t *x) {
    if (json_is_integer(x)) return cn_col_type_prim(CN_COL_INT64);
    if (json_is_real(x) || json_is_null(x)) return cn_col_type_prim(CN_COL_FLOAT64);
    if (json_is_boolean(x)) return cn_col_type_prim(CN_COL_BOOL);
    if (json_is_string(x)) return cn_col_type_prim(CN_COL_STRING);
    return NULL;
}

static bool expr_is_column(const char *e, const char *col) {
    while (*e == ' ' || *e == '\t' || *e == '\n') e++;
    size_t len = strlen(e);
    while (len && (e[len - 1] == ' ' || e[len - 1] == '\t' || e[len - 1] == '\n')) len--;
    return strlen(col) == len && !memcmp(e, col, len);
}

static bool verbatim_used(const CnDerivation *ders, size_t nd, const char *col) {
    for (size_t i = 0; i < nd; i++)
        if (strcmp(ders[i].name, "*") && ders[i].expression && expr_is_column(ders[i].expression, col)) return true;
    return false;
}

/* Online derivations (compute.md 8.4 step 6): over keys + base + {ts: q, ds: day(q)},
 * the output holds `*` (base columns no derivation uses verbatim) and each derived name
 * (coalesce(base, expression) when the name is a base column); ts and ds are dropped.
 * Column types come from types (value schemas) when named there, else from the JSON.
 * A failing derivation gives the rename-only result plus derivation_fetch_exception.
 * OWNED: *out. */
static int derive(const CnDerivation *ders, size_t nd, const json_t *keys, const json_t *base, const CnSchema *types,
                  int64_t q, json_t **out, CnErr *err) {
    CnSchema *sc = NULL;
    CnBatch *row = NULL, *res = NULL;
    CnSchema *rs = NULL;
    CnExpr **ex = cn_calloc(nd + 1, sizeof *ex);
    json_t *all = json_object(), *o = json_object();
    CnErr derr = CN_ERR_INIT;
    int rc = 0;
    if (!ex || !all || !o || json_object_update(all, (json_t *)keys) || json_object_update(all, (json_t *)base)) {
        rc = cn_err_set(err, CN_ENOMEM, "out of memory");
        goto done;
    }
    char ds[11];
    cn_ds_format((int32_t)(q >= 0 ? q / 86400000 : -((-q + 86399999) / 86400000)), ds);
    json_object_set_new(all, "ts", json_integer(q));
    json_object_set_new(all, "ds", json_string(ds));
    /* one row of every column that converts */
    if (cn_col_schema_new(&sc)) {
        rc = cn_err_set(err, CN_ENOMEM, "out of memory");
        goto done;
    }
    const char *k;
    json_t *x;
    json_object_foreach(all, k, x) {
        int ti = types ? cn_col_schema_find(types, k) : -1;
        const CnType *t = !strcmp(k, "ts") ? cn_col_type_prim(CN_COL_INT64)
                          : ti >= 0       ? types->fields[ti].type
                                          : json_col_type(x);
        if (!t) continue;
        rc = cn_col_schema_add(sc, k, cn_col_type_copy(&sc->arena, t), true, CN_COL_NO_ID, err);
        if (rc) goto done;
    }
    rc = cn_col_batch_new(sc, &row, err);
    if (rc) goto done;
    /* a value that does not fit its type (a null typed by its JSON) is null */
    for (uint32_t c = 0; c < sc->n_fields; c++)
        if (!json_to_vec(&row->cols[c], json_object_get(all, sc->fields[c].name))) cn_col_vec_append_null(&row->cols[c]);
    rc = cn_col_batch_sync_rows(row, err);
    if (rc) goto done;
    /* each derivation in order */
    int drc = 0;
    if (cn_col_schema_new(&rs)) {
        rc = cn_err_set(err, CN_ENOMEM, "out of memory");
        goto done;
    }
    for (size_t i = 0; i < nd && drc == 0; i++) {
        if (!strcmp(ders[i].name, "*")) continue;
        drc = cn_expr_bind(ders[i].expression ? ders[i].expression : "", sc, &ex[i], &derr);
        if (drc) drc = cn_err_ctx(&derr, drc, "derivations[%zu] (%s)", i, ders[i].name);
        else drc = cn_col_schema_add(rs, cn_arena_printf(&rs->arena, "d%zu", i), cn_expr_type(ex[i]), true, CN_COL_NO_ID, &derr);
    }
    if (drc == 0) drc = cn_col_batch_new(rs, &res, &derr);
    for (size_t i = 0, c = 0; i < nd && drc == 0; i++) {
        const CnDerivation *d = &ders[i];
        if (!strcmp(d->name, "*")) {
            json_object_foreach((json_t *)base, k, x)
                if (!verbatim_used(ders, nd, k)) json_object_set(o, k, x);
            continue;
        }
        drc = cn_expr_eval(ex[i], row, NULL, 0, &res->cols[c], &derr);
        if (drc) break;
        json_t *val = cn_eng_vec_json(&res->cols[c++], 0);
        json_t *have = json_object_get(base, d->name);
        if (have && !json_is_null(have)) json_object_set(o, d->name, have), json_decref(val);
        else json_object_set_new(o, d->name, val ? val : json_null());
    }
    if (drc == CN_ENOMEM) {
        rc = cn_err_set(err, CN_ENOMEM, "out of memory");
        goto done;
    }
    if (drc) {
        /* rename-only result plus the exception */
        json_object_clear(o);
        for (size_t i = 0; i < nd; i++) {
            const CnDerivation *d = &ders[i];
            if (!strcmp(d->name, "*")) {
                json_object_foreach((json_t *)base, k, x)
                    if (!verbatim_used(ders, nd, k)) json_object_set(o, k, x);
            } else if (d->expression) {
                json_object_foreach(all, k, x)
                    if (expr_is_column(d->expression, k) && strcmp(k, "ts") && strcmp(k, "ds")) json_object_set(o, d->name, x);
            }
        }
        json_object_set_new(o, "derivation_fetch_exception", json_string(cn_err_msg(&derr)));
    }
    json_object_del(o, "ts");
    json_object_del(o, "ds");
    *out = o;
    o = NULL;
done:
    for (size_t i = 0; ex && i < nd; i++) cn_expr_free(ex[i]);
    cn_free(ex);
    cn_col_batch_free(row);
    cn_col_batch_free(res);
    cn_col_schema_free(sc);
    cn_col_schema_free(rs);
    json_decref(all);
    json_decref(o);
    return rc;
}

/* ------------------------------------------------------------------ GroupBy fetch */

int cn_fetcher__groupby(CnFetcher *f, const CnGroupBy *gb, json_t *const *reqs, size_t n, int64_t q, json_t **vals,
                        const char **errs, bool *nodata, CnSchema **vschema, CnArena *ar, CnErr *err) {
    const char *gb_name = gb->meta.name;
    char *dataset = cn_kv_dataset_name(ar, gb_name, CN_KV_BATCH_SUFFIX);
    CnKvSlice *ks = cn_arena_calloc(ar, (n + 1) * sizeof *ks);
    CnKvSlice *vs = cn_arena_calloc(ar, (n + 1) * sizeof *vs);
    size_t *slot = cn_arena_calloc(ar, (n + 1) * sizeof *slot);
    if (!dataset || !ks || !vs || !slot) return cn_err_set(err, CN_ENOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) vals[i] = NULL, errs[i] = NULL;
    if (vschema) *vschema = NULL;
    Serv *s = NULL;
    CnBuf kb = CN_BUF_INIT;
    int rc = 0;
    /* a flip between reading the version and the multi-get means the records may not
     * match the serving info: go again (an upload a few ms apart from the next is rare) */
    for (int attempt = 0;; attempt++) {
        rc = serv_acquire(f, gb_name, dataset, &s, err);
        if (rc) goto done;
        size_t nk = 0;
        for (size_t i = 0; i < n; i++) {
            CnErr kerr = CN_ERR_INIT;
            slot[i] = SIZE_MAX;
            errs[i] = NULL;
            CnKvSlice k;
            int krc = request_key(s, gb_name, reqs[i], ar, &kb, &k, &kerr);
            if (krc == CN_ENOMEM) {
                rc = cn_err_set(err, CN_ENOMEM, "out of memory");
                goto done;
            }
            if (krc) {
                if (!(errs[i] = cn_arena_strdup(ar, cn_err_msg(&kerr)))) {
                    rc = cn_err_set(err, CN_ENOMEM, "out of memory");
                    goto done;
                }
                continue;
            }
            if (k.data) {
                slot[i] = nk;
                ks[nk++] = k;
            }
        }
        if (nk) rc = cn_kv_multi_get(f->kv, cn_eng_serving_dataset(s->sv), ks, nk, vs, ar, err);
        if (rc) goto done;
        uint64_t ver = 0;
        rc = cn_kv_dataset_version(f->kv, dataset, &ver, err);
        if (rc) goto done;
        if (ver == s->version || attempt >= 3) break;
        serv_release(f, dataset, s);
        s = NULL;
    }
    if (q >= cn_eng_serving_exact_until(s->sv))
        cn_fetcher__note(f, "fetch %s: warning: q=%lld is 2 days or more past the uploaded day %s; windows longer than 2 days "
                         "may still count rows that left them (upload a newer day)",
                         gb_name, (long long)q, cn_eng_serving_end_ds(s->sv));
    for (size_t i = 0; i < n; i++) {
        if (errs[i]) continue;
        CnKvSlice v = {NULL, 0};
        if (slot[i] != SIZE_MAX) v = vs[slot[i]];
        if (!(vals[i] = json_object())) {
            rc = cn_err_set(err, CN_ENOMEM, "out of memory");
            goto done;
        }
        rc = cn_eng_serving_values(s->sv, v.data, v.len, q, vals[i], err);
        if (rc) goto done;
        if (nodata) nodata[i] = !v.data;
        if (gb->n_derivations && !(nodata && !v.data)) {
            json_t *d = NULL;
            rc = derive(gb->derivations, gb->n_derivations, reqs[i], vals[i], cn_eng_serving_value_schema(s->sv), q, &d, err);
            if (rc) goto done;
            json_decref(vals[i]);
            vals[i] = d;
        }
        if (!v.data && f->note) {
            char rb[256];
            cn_fetcher__note(f, "fetch %s: no data present for the provided key %s", gb_name,
                             cn_fetcher__json_text(reqs[i], rb, sizeof rb));
        }
    }
    if (vschema) rc = cn_col_schema_copy(cn_eng_serving_value_schema(s->sv), vschema, err);
done:
    if (rc)
        for (size_t i = 0; i < n; i++) {
            json_decref(vals[i]);
            vals[i] = NULL;
        }
    serv_release(f, dataset, s);
    cn_buf_fini(&kb);
    return rc;
}

/* ------------------------------------------------------------------ Join fetch */

/* Merges one part's answer for one request into acc (names prefixed). */
static int put_prefixed(json_t *acc, const char *prefix, const json_t *vals) {
    const char *k;
    json_t *x;
    char name[1024];
    size_t pl = strlen(prefix);
    if (pl > 512) pl = 512;
    memcpy(name, prefix, pl);
    name[pl] = '_';
    json_object_foreach((json_t *)vals, k, x) {
        size_t kl = strlen(k);
        if (kl > sizeof name - pl - 2) kl = sizeof name - pl - 2;
        memcpy(name + pl + 1, k, kl);
        name[pl + 1 + kl] = 0;
        if (json_object_set(acc, name, x)) return CN_ENOMEM;
    }
    return 0;
}

int cn_fetcher__join(CnFetcher *f, const CnJoin *j, json_t *const *reqs, size_t n, int64_t q, json_t **vals,
                     const char **errs, CnArena *ar, CnErr *err) {
    int rc = 0;
    json_t **greqs = cn_arena_calloc(ar, (n + 1) * sizeof *greqs);
    json_t **gvals = cn_arena_calloc(ar, (n + 1) * sizeof *gvals);
    const char **gerrs = cn_arena_calloc(ar, (n + 1) * sizeof *gerrs);
    bool *nodata = cn_arena_calloc(ar, n + 1);
    bool *missing = cn_arena_calloc(ar, n + 1);
    CnSchema *types = NULL, *vs = NULL;
    if (!greqs || !gvals || !gerrs || !nodata || !missing || cn_col_schema_new(&types)) {
        rc = cn_err_set(err, CN_ENOMEM, "out of memory");
        goto done;
    }
    for (size_t i = 0; i < n; i++) {
        vals[i] = json_object();
        errs[i] = NULL;
        if (!vals[i]) {
            rc = cn_err_set(err, CN_ENOMEM, "out of memory");
            goto done;
        }
    }
    for (size_t p = 0; p < j->n_parts; p++) {
        const CnJoinPart *jp = &j->parts[p];
        const CnGroupBy *gb = jp->group_by;
        const char *prefix = cn_conf_join_part_prefix(ar, jp);
        const char **lkeys = cn_conf_join_part_left_keys(ar, jp);
        if (!prefix || !lkeys) {
            rc = cn_err_set(err, CN_ENOMEM, "out of memory");
            goto done;
        }
        char exc[512];
        snprintf(exc, sizeof exc, "%s_exception", prefix);
        /* the GroupBy request of each join request, with the right-side key names */
        size_t ng = 0;
        size_t *gi = cn_arena_calloc(ar, (n + 1) * sizeof *gi);
        if (!gi) {
            rc = cn_err_set(err, CN_ENOMEM, "out of memory");
            goto done;
        }
        for (size_t i = 0; i < n; i++) {
            CnBuf miss = CN_BUF_INIT;
            json_t *g = json_object();
            for (size_t k = 0; g && k < gb->key_columns.n; k++) {
                json_t *v = json_object_get(reqs[i], lkeys[k]);
                if (!v) cn_buf_printf(&miss, "%s%s", miss.len ? ", " : "", lkeys[k]);
                else json_object_set(g, gb->key_columns.items[k], v);
            }
            if (!g) {
                cn_buf_fini(&miss);
                rc = cn_err_set(err, CN_ENOMEM, "out of memory");
                goto done;
            }
            missing[i] = miss.len > 0;
            if (missing[i]) {
                char rb[256];
                json_t *m = json_sprintf("Failed to fetch %s: Missing keys [%s] in request %s of Join %s", prefix,
                                         miss.data, cn_fetcher__json_text(reqs[i], rb, sizeof rb), j->meta.name);
                json_object_set_new(vals[i], exc, m ? m : json_null());
                json_decref(g);
            } else {
                gi[ng] = i;
                greqs[ng++] = g;
            }
            cn_buf_fini(&miss);
        }
        CnErr perr = CN_ERR_INIT;
        /* the value types matter only to the Join's derivations */
        int prc = ng ? cn_fetcher__groupby(f, gb, greqs, ng, q, gvals, gerrs, nodata, j->n_derivations ? &vs : NULL, ar,
                                           &perr)
                     : 0;
        if (prc == CN_ENOMEM) rc = cn_err_set(err, CN_ENOMEM, "out of memory");
        for (size_t t = 0; rc == 0 && t < ng; t++) {
            json_t *acc = vals[gi[t]];
            if (prc) json_object_set_new(acc, exc, json_string(cn_err_msg(&perr)));
            else if (gerrs[t]) json_object_set_new(acc, exc, json_string(gerrs[t]));
            else if (!nodata[t] && put_prefixed(acc, prefix, gvals[t]))
                rc = cn_err_set(err, CN_ENOMEM, "out of memory");
        }
        for (size_t t = 0; t < ng; t++) {
            json_decref(greqs[t]);
            json_decref(gvals[t]);
            greqs[t] = gvals[t] = NULL;
        }
        /* value types of the part, prefixed, for the Join's derivations */
        for (uint32_t c = 0; rc == 0 && vs && c < vs->n_fields; c++) {
            const char *nm = cn_arena_printf(ar, "%s_%s", prefix, vs->fields[c].name);
            if (cn_col_schema_find(types, nm) < 0)
                rc = cn_col_schema_add(types, nm, cn_col_type_copy(&types->arena, vs->fields[c].type), true, CN_COL_NO_ID,
                                       err);
        }
        cn_col_schema_free(vs);
        vs = NULL;
        if (rc) goto done;
    }
    if (j->n_derivations) {
        for (size_t i = 0; i < n; i++) {
            json_t *d = NULL;
            json_t *base = vals[i];
            rc = derive(j->derivations, j->n_derivations, reqs[i], base, types, q, &d, err);
            if (rc) goto done;
            /* a part with an exception loses its derived features and keeps the exception */
            const char *k;
            json_t *x;
            const char *k2;
            json_t *x2;
            void *tmp;
            json_object_foreach(base, k, x) {
                size_t kl = strlen(k);
                if (kl <= 10 || strcmp(k + kl - 10, "_exception")) continue;
                json_object_foreach_safe(d, tmp, k2, x2) {
                    (void)x2;
                    if (!strncmp(k2, k, kl - 10)) json_object_del(d, k2);
                }
                json_object_set(d, k, x);
            }
            json_decref(base);
            vals[i] = d;
        }
    }
done:
    if (rc)
        for (size_t i = 0; i < n; i++) {
            json_decref(vals[i]);
            vals[i] = NULL;
        }
    cn_col_schema_free(types);
    cn_col_schema_free(vs);
    return rc;
}

/* ------------------------------------------------------------------ entry */

/* The checks of a request every entry makes before any work. */
static int check_request(CnFetchKind kind, const char *name, const json_t *keys, CnErr *err) {
    if (!name || !*name) return cn_err_set(err, CN_EINVAL, "fetch: no name given (expected e.g. team/x.v1)");
    if (!json_is_array(keys)) return cn_err_set(err, CN_EINVAL, "fetch %s: keys are not a JSON array of objects", name);
    size_t n = json_array_size(keys);
    for (size_t i = 0; i < n; i++)
        if (!json_is_object(json_array_get(keys, i)))
            return cn_err_set(err, CN_EINVAL, "fetch %s: keys[%zu] is not an object of key columns", name, i);
    if (kind != CN_FETCH_GROUPBY && kind != CN_FETCH_JOIN)
        return cn_err_set(err, CN_EINVAL, "fetch %s: unknown kind %d (expected group-by or join)", name, (int)kind);
    return 0;
}

int cn_fetcher_fetch_json(CnFetcher *f, CnFetchKind kind, const char *name, const json_t *keys, int64_t ts_ms,
                          json_t **out, CnErr *err) {
    *out = NULL;
    int rc = check_request(kind, name, keys, err);
    if (rc) return rc;
    size_t n = json_array_size(keys);
    int64_t q = ts_ms == CN_FETCH_NOW ? cn_fetcher__now_ms() : ts_ms;
    CnArena ar;
    cn_arena_init(&ar, 8192); /* a fetch needs a few KiB; 64 KiB blocks cost malloc_consolidate */
    json_t *res = NULL;
    json_t **reqs = cn_arena_calloc(&ar, (n + 1) * sizeof *reqs);
    json_t **vals = cn_arena_calloc(&ar, (n + 1) * sizeof *vals);
    const char **errs = cn_arena_calloc(&ar, (n + 1) * sizeof *errs);
    const CnConf *conf = NULL;
    if (!reqs || !vals || !errs) rc = cn_err_set(err, CN_ENOMEM, "out of memory");
    for (size_t i = 0; rc == 0 && i < n; i++) reqs[i] = json_array_get(keys, i);
    if (rc == 0) rc = cn_fetcher__conf(f, kind, name, &ar, &conf, err);
    if (rc) goto done;
    if (kind == CN_FETCH_GROUPBY) {
        rc = cn_fetcher__groupby(f, conf->group_by, reqs, n, q, vals, errs, NULL, NULL, &ar, err);
    } else {
        rc = cn_fetcher__join(f, conf->join, reqs, n, q, vals, errs, &ar, err);
    }
    if (rc) goto done;
    res = json_array();
    for (size_t i = 0; res && i < n; i++) {
        json_t *o = json_object();
        json_t *k = json_deep_copy(reqs[i]);
        json_t *v = errs[i] ? json_string(errs[i]) : vals[i];
        vals[i] = NULL;
        if (!o || !k || !v || json_object_set_new(o, "keys", k) ||
            json_object_set_new(o, errs[i] ? "error" : "values", v) || json_array_append_new(res, o)) {
            json_decref(res);
            res = NULL;
        }
    }
    if (!res) rc = cn_err_set(err, CN_ENOMEM, "out of memory");
done:
    for (size_t i = 0; vals && i < n; i++) json_decref(vals[i]);
    cn_arena_fini(&ar);
    if (rc == 0) *out = res;
    return rc;
}

/* ------------------------------------------------------------------ typed path
 *
 * cn_fetcher_fetch_text answers the common request (TEMPORAL GroupBys without
 * derivations, keys present and convertible, every part's serving cached) from one
 * store snapshot: the records are decoded from the store's own pages into each
 * serving's one-row scratch and written straight out as JSON text in the bytes
 * json_dumps(JSON_COMPACT | JSON_SORT_KEYS) gives for the generic answer. Anything
 * else (an error, an exception field, a serving not loaded yet, notes wanted) leaves
 * the request to the generic path, which gives the same bytes at its own pace. */

/* A typed plan: what a request of one conf needs beyond its keys, for one set of
 * dataset versions (the servings' schemas). Immutable once linked into f->plans; kept
 * until close, since another thread may still read it. */
typedef struct TCol {
    const char *lit; /* "\"<output name>\":" as written */
    uint32_t lit_len, part, col;
} TCol;

struct Plan {
    Plan *next;
    const CnConf *conf; /* identity: a Named's conf lives until close */
    CnFetchKind kind;
    size_t np, nc;
    const char **dataset;   /* per part */
    uint64_t *version;      /* per part */
    const char ***req_key;  /* per part, per serving key column: the request's key name */
    TCol *cols;             /* every output column in JSON_SORT_KEYS order */
    bool generic;           /* a value type put_vec cannot write: every request declines */
    CnArena arena;          /* everything above */
};

static void plan_free(Plan *pl) {
    while (pl) {
        Plan *next = pl->next;
        cn_arena_fini(&pl->arena);
        cn_free(pl);
        pl = next;
    }
}

/* Appends for the answer's text: the answer is many small pieces, so the common case
 * (room left) is inline; cn_buf_append grows the buffer otherwise. 0 or CN_ENOMEM. */
static inline int out_put(CnBuf *b, const void *p, size_t n) {
    if (b->len + n < b->cap) {
        memcpy(b->data + b->len, p, n);
        b->len += n;
        b->data[b->len] = 0;
        return 0;
    }
    return cn_buf_append(b, p, n);
}

static inline int out_putc(CnBuf *b, char c) {
    if (b->len + 1 < b->cap) {
        b->data[b->len++] = c;
        b->data[b->len] = 0;
        return 0;
    }
    return cn_buf_putc(b, c);
}

#define OUT_LIT(b, lit) out_put((b), "" lit "", sizeof(lit) - 1)

/* jansson's fixups of "%.17g" text (dump.c, jsonp_dtostr): ".0" when neither '.' nor
 * 'e' appears; no '+' or leading zeros in the exponent. t holds n chars and room. */
static size_t real_fixups(char *t, size_t n) {
    if (!memchr(t, '.', n) && !memchr(t, 'e', n)) {
        t[n++] = '.';
        t[n++] = '0';
    }
    char *e = memchr(t, 'e', n);
    if (e) {
        char *start = e + 1, *end = e + 2;
        if (*start == '-') start++;
        while (end < t + n && *end == '0') end++;
        if (end != start) {
            memmove(start, end, (size_t)(t + n - end));
            n -= (size_t)(end - start);
        }
    }
    return n;
}

/* The 17 significant digits of |d| as printf's %.17g rounds them (exactly, half to
 * even): *digits in [1e16, 1e17) and the decimal exponent *x of the first digit. The
 * product m * 10^p / 2^s stays within 128 bits for 1e-5 <= |d| < 1e17, the range of
 * nearly every feature value; false outside it (snprintf writes those). */
static bool real_digits(double d, uint64_t *digits, int *x) {
    static const uint64_t P10[] = {1ull, 10ull, 100ull, 1000ull, 10000ull, 100000ull, 1000000ull, 10000000ull,
                                   100000000ull, 1000000000ull, 10000000000ull, 100000000000ull, 1000000000000ull,
                                   10000000000000ull, 100000000000000ull, 1000000000000000ull, 10000000000000000ull,
                                   100000000000000000ull};
    double a = fabs(d);
    if (!(a >= 1e-5 && a < 1e17)) return false;
    int e2;
    double fr = frexp(a, &e2); /* a = fr * 2^e2, fr in [0.5, 1) */
    uint64_t m = (uint64_t)ldexp(fr, 53);
    int e = e2 - 53; /* a = m * 2^e exactly */
    int k = (int)floor(log10(a));
    for (int tries = 0; tries < 3; tries++) {
        int p = 16 - k; /* digits = round(a * 10^p) */
        if (p < 0 || p > 21) return false;
        unsigned __int128 n = (unsigned __int128)m * P10[p > 17 ? 17 : p];
        if (p > 17) n *= P10[p - 17];
        uint64_t q;
        if (e >= 0) {
            if (e > 10) return false;
            q = (uint64_t)(n << e); /* exact: a is an integer below 1e17 here */
        } else {
            int sh = -e;
            if (sh >= 127) return false;
            unsigned __int128 one = (unsigned __int128)1 << sh, rem = n & (one - 1), half = one >> 1;
            unsigned __int128 qq = n >> sh;
            if (rem > half || (rem == half && (qq & 1))) qq++;
            q = (uint64_t)qq;
        }
        if (q < P10[16]) {
            k--;
            continue;
        }
        if (q >= P10[17]) {
            if (q == P10[17]) { /* rounded up to the next power of ten */
                *digits = P10[16];
                *x = k + 1;
                return true;
            }
            k++;
            continue;
        }
        *digits = q;
        *x = k;
        return true;
    }
    return false;
}

/* A real as jansson writes it: "%.17g" plus its fixups. */
static void put_real(CnBuf *b, double d) {
    char t[48];
    size_t n = 0;
    uint64_t dig;
    int x;
    if (real_digits(d, &dig, &x)) {
        char ds[17];
        for (int i = 16; i >= 0; i--, dig /= 10) ds[i] = (char)('0' + dig % 10);
        int nd = 17;
        while (nd > 1 && ds[nd - 1] == '0') nd--; /* %g drops trailing zeros */
        if (d < 0) t[n++] = '-';
        if (x < -4) { /* %g's exponent form (x >= 17 is out of real_digits' range) */
            t[n++] = ds[0];
            if (nd > 1) {
                t[n++] = '.';
                memcpy(t + n, ds + 1, (size_t)nd - 1);
                n += (size_t)nd - 1;
            }
            n += (size_t)snprintf(t + n, sizeof t - n, "e-%02d", -x);
        } else if (x >= 0) {
            int ip = x + 1; /* integer digits */
            for (int i = 0; i < ip; i++) t[n++] = i < nd ? ds[i] : '0';
            if (nd > ip) {
                t[n++] = '.';
                memcpy(t + n, ds + ip, (size_t)(nd - ip));
                n += (size_t)(nd - ip);
            }
        } else {
            t[n++] = '0';
            t[n++] = '.';
            for (int i = 0; i < -x - 1; i++) t[n++] = '0';
            memcpy(t + n, ds, (size_t)nd);
            n += (size_t)nd;
        }
    } else {
        int w = snprintf(t, sizeof t - 3, "%.17g", d);
        if (w <= 0 || (size_t)w >= sizeof t - 3) return;
        n = (size_t)w;
    }
    out_put(b, t, real_fixups(t, n));
}

void cn_fetcher__real_text(double d, CnBuf *out) {
    put_real(out, d);
}

static void put_int(CnBuf *b, int64_t x) {
    char t[24], *p = t + sizeof t;
    uint64_t u = x < 0 ? (uint64_t)0 - (uint64_t)x : (uint64_t)x;
    do *--p = (char)('0' + u % 10);
    while (u /= 10);
    if (x < 0) *--p = '-';
    out_put(b, p, (size_t)(t + sizeof t - p));
}

/* A JSON string as jansson writes it; false for bytes >= 0x80 (jansson checks UTF-8:
 * the generic path decides). */
static bool put_str(CnBuf *b, const char *s, size_t n) {
    static const char hex[] = "0123456789abcdef";
    out_putc(b, '"');
    size_t run = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x80) return false;
        if (c >= 0x20 && c != '"' && c != '\\') continue;
        out_put(b, s + run, i - run);
        run = i + 1;
        char e[6] = {'\\', 0, 0, 0, 0, 0};
        size_t el = 2;
        switch (c) {
        case '"': e[1] = '"'; break;
        case '\\': e[1] = '\\'; break;
        case '\b': e[1] = 'b'; break;
        case '\f': e[1] = 'f'; break;
        case '\n': e[1] = 'n'; break;
        case '\r': e[1] = 'r'; break;
        case '\t': e[1] = 't'; break;
        default:
            memcpy(e + 1, "u00", 3);
            e[4] = hex[c >> 4];
            e[5] = hex[c & 15];
            el = 6;
        }
        out_put(b, e, el);
    }
    out_put(b, s + run, n - run);
    out_putc(b, '"');
    return true;
}

/* Entry i of v as cn_eng_vec_json then json_dumps would write it; false for maps and
 * structs (the generic path writes those: its maps come out with sorted keys). svc:
 * doubles in their shortest form, as the feature service writes them. */
static bool put_vec(CnBuf *b, const CnVec *v, uint32_t i, bool svc) {
    if (!v || !cn_col_vec_is_valid(v, i)) return out_put(b, "null", 4) == 0;
    switch (v->type->id) {
    case CN_COL_BOOL: return (((const uint8_t *)v->values)[i] ? OUT_LIT(b, "true") : OUT_LIT(b, "false")) == 0;
    case CN_COL_INT32: put_int(b, ((const int32_t *)v->values)[i]); return true;
    case CN_COL_INT64:
    case CN_COL_TIMESTAMP: put_int(b, ((const int64_t *)v->values)[i]); return true;
    case CN_COL_DATE: {
        char ds[11];
        cn_ds_format(((const int32_t *)v->values)[i], ds);
        return put_str(b, ds, strlen(ds));
    }
    case CN_COL_FLOAT32:
    case CN_COL_FLOAT64: {
        double d = v->type->id == CN_COL_FLOAT32 ? ((const float *)v->values)[i] : ((const double *)v->values)[i];
        if (!isfinite(d)) {
            out_put(b, "null", 4);
        } else if (svc) {
            char t[CN_JSON_REAL_MAX];
            out_put(b, t, cn_json_real_text(d, t));
        } else {
            put_real(b, d);
        }
        return true;
    }
    case CN_COL_STRING:
    case CN_COL_BINARY: {
        uint32_t len;
        const char *p = cn_col_vec_str(v, i, &len);
        return put_str(b, p, len);
    }
    case CN_COL_LIST: { /* LAST_K and friends: "[e1,e2]" as the compact dump writes it */
        out_putc(b, '[');
        for (uint32_t k = v->offsets[i]; k < v->offsets[i + 1]; k++) {
            if (k > v->offsets[i]) out_putc(b, ',');
            if (!put_vec(b, &v->child[0], k, svc)) return false;
        }
        return out_putc(b, ']') == 0;
    }
    default: return false;
    }
}

/* Whether put_vec writes values of type t. */
static bool typed_type(const CnType *t) {
    if (t->id == CN_COL_LIST) return typed_type(t->children[0].type);
    return t->id != CN_COL_MAP && t->id != CN_COL_STRUCT;
}

/* The GroupBy of part p of conf (the conf's own for a GroupBy fetch). */
static const CnGroupBy *conf_part_gb(const CnConf *conf, CnFetchKind kind, size_t p) {
    return kind == CN_FETCH_JOIN ? conf->join->parts[p].group_by : conf->group_by;
}

/* The request's name for each serving key column of GroupBy gb (a Join part's key
 * mapping), or NULL. */
static const char **plan_keys(CnArena *a, const CnGroupBy *gb, const CnJoinPart *jp, const CnSchema *ks) {
    const char **rk = cn_arena_calloc(a, ((size_t)ks->n_fields + 1) * sizeof *rk);
    const char **lkeys = jp ? cn_conf_join_part_left_keys(a, jp) : NULL;
    if (!rk || (jp && !lkeys)) return NULL;
    for (uint32_t c = 0; c < ks->n_fields; c++) {
        /* a copy: the plan outlives the serving whose schema named the key (a serving of
         * an older version is freed while another thread still answers with this plan) */
        rk[c] = cn_arena_strdup(a, ks->fields[c].name);
        if (!rk[c]) return NULL;
        if (!jp) continue;
        size_t k = 0;
        while (k < gb->key_columns.n && strcmp(gb->key_columns.items[k], rk[c])) k++;
        if (k == gb->key_columns.n) return NULL;
        rk[c] = lkeys[k];
    }
    return rk;
}

/* A new plan for conf with the taken servings sv[] (versions ver[]). Every part's
 * columns are sorted already (Serv.order) and prefixed names keep that order, so the
 * output order is a merge of the parts. NULL when the typed path does not apply (a
 * name two parts share: the generic answer keeps the last) or out of memory. */
static Plan *plan_build(const CnConf *conf, CnFetchKind kind, size_t np, char **dataset, const uint64_t *ver,
                        Serv *const *sv) {
    Plan *pl = cn_calloc(1, sizeof *pl);
    if (!pl) return NULL;
    cn_arena_init(&pl->arena, 4096);
    CnArena *a = &pl->arena;
    pl->conf = conf;
    pl->kind = kind;
    pl->np = np;
    pl->dataset = cn_arena_calloc(a, (np + 1) * sizeof *pl->dataset);
    pl->version = cn_arena_calloc(a, (np + 1) * sizeof *pl->version);
    pl->req_key = cn_arena_calloc(a, (np + 1) * sizeof *pl->req_key);
    const char ***names = cn_arena_calloc(a, (np + 1) * sizeof *names);
    size_t *at = cn_arena_calloc(a, (np + 1) * sizeof *at);
    if (!pl->dataset || !pl->version || !pl->req_key || !names || !at) goto fail;
    for (size_t p = 0; p < np; p++) {
        const CnJoinPart *jp = kind == CN_FETCH_JOIN ? &conf->join->parts[p] : NULL;
        const char *prefix = jp ? cn_conf_join_part_prefix(a, jp) : NULL;
        const CnSchema *vs = cn_eng_serving_value_schema(sv[p]->sv);
        pl->dataset[p] = cn_arena_strdup(a, dataset[p]);
        pl->version[p] = ver[p];
        pl->req_key[p] = plan_keys(a, conf_part_gb(conf, kind, p), jp, cn_eng_serving_key_schema(sv[p]->sv));
        names[p] = cn_arena_calloc(a, ((size_t)vs->n_fields + 1) * sizeof *names[p]);
        if ((jp && !prefix) || !pl->dataset[p] || !pl->req_key[p] || !names[p]) goto fail;
        for (uint32_t c = 0; c < vs->n_fields; c++) {
            const char *nm = vs->fields[sv[p]->order[c]].name;
            names[p][c] = prefix ? cn_arena_printf(a, "%s_%s", prefix, nm) : nm;
            if (!names[p][c]) goto fail;
            if (!typed_type(vs->fields[c].type)) pl->generic = true;
        }
        pl->nc += vs->n_fields;
    }
    if (!(pl->cols = cn_arena_calloc(a, (pl->nc + 1) * sizeof *pl->cols))) goto fail;
    CnBuf lit = CN_BUF_INIT;
    for (size_t o = 0; o < pl->nc; o++) {
        size_t best = np;
        bool dup = false;
        for (size_t p = 0; p < np && !dup; p++) {
            if (at[p] == cn_eng_serving_value_schema(sv[p]->sv)->n_fields) continue;
            int c = best == np ? -1 : strcmp(names[p][at[p]], names[best][at[best]]);
            dup = c == 0;
            if (c < 0) best = p;
        }
        lit.len = 0;
        bool ok = !dup && best < np && put_str(&lit, names[best][at[best]], strlen(names[best][at[best]])) &&
                  out_putc(&lit, ':') == 0;
        char *l = ok ? cn_arena_alloc(a, lit.len + 1) : NULL;
        if (!l) {
            cn_buf_fini(&lit);
            goto fail;
        }
        memcpy(l, lit.data, lit.len);
        pl->cols[o] = (TCol){l, (uint32_t)lit.len, (uint32_t)best, sv[best]->order[at[best]]};
        at[best]++;
    }
    cn_buf_fini(&lit);
    return pl;
fail:
    plan_free(pl);
    return NULL;
}

/* The request's key map as json_dumps(JSON_COMPACT | JSON_SORT_KEYS) writes it, for up
 * to 8 keys of plain text whose values are strings or integers (the usual request),
 * without jansson's dump machinery; false (out as it was) for anything else. */
static bool put_keys(CnBuf *out, const json_t *req) {
    const char *k[8];
    size_t kn[8], n = 0, mark = out->len;
    const char *key;
    size_t klen;
    json_t *v;
    json_object_keylen_foreach((json_t *)req, key, klen, v) {
        if (n == 8 || strlen(key) != klen || !(json_is_string(v) || json_is_integer(v))) return false;
        size_t i = n++; /* insertion sort: jansson orders keys by strcmp */
        while (i > 0 && strcmp(k[i - 1], key) > 0) {
            k[i] = k[i - 1], kn[i] = kn[i - 1];
            i--;
        }
        k[i] = key, kn[i] = klen;
    }
    out_putc(out, '{');
    for (size_t i = 0; i < n; i++) {
        if (i) out_putc(out, ',');
        v = json_object_getn(req, k[i], kn[i]);
        bool ok = put_str(out, k[i], kn[i]) && out_putc(out, ':') == 0;
        if (ok && json_is_string(v)) ok = put_str(out, json_string_value(v), json_string_length(v));
        else if (ok) put_int(out, (int64_t)json_integer_value(v));
        if (!ok) {
            out->len = mark;
            return false;
        }
    }
    out_putc(out, '}');
    return !out->oom;
}

/* One request's answer {"keys":...,"values":{...}} into out, or with svc the feature
 * service's {"status":"Success","entityKeys":...,"features":{...}} with shortest
 * doubles; false to leave the request to the generic path. */
static bool typed_one(const Plan *pl, Serv *const *sv, CnKvRead *rd, const json_t *req, int64_t q, CnBuf *kb,
                      CnBuf *out, bool svc) {
    CnErr e = CN_ERR_INIT;
    const CnBatch *row[64];
    bool absent[64];
    /* SNAPSHOT parts: the stored texts of each column (NULL: the part has none) */
    const char *txt_buf[256];
    uint32_t txt_len_buf[256];
    const char **txt[64];
    uint32_t *txt_len[64];
    size_t n_txt = 0;
    for (size_t p = 0; p < pl->np; p++) {
        Serv *s = sv[p];
        const CnSchema *ks = cn_eng_serving_key_schema(s->sv);
        cn_col_batch_reset(s->keys);
        for (uint32_t c = 0; c < ks->n_fields; c++) {
            json_t *v = json_object_get(req, pl->req_key[p][c]);
            if (!v || append_key(&s->keys->cols[c], ks->fields[c].name, v, &e)) return false;
        }
        bool any = false;
        if (key_bytes(s, kb, &any, &e)) return false;
        CnKvSlice val = {NULL, 0};
        uint64_t ver = s->version;
        if (any && cn_kv_read_get(rd, pl->dataset[p], kb->data, kb->len, &val, &ver, &e)) return false;
        if (ver != s->version) return false; /* flipped since the plan was made */
        absent[p] = !val.data;
        txt[p] = NULL;
        row[p] = NULL;
        if (cn_eng_serving_is_values(s->sv)) {
            uint32_t nc = cn_eng_serving_value_schema(s->sv)->n_fields;
            if (n_txt + nc > sizeof txt_buf / sizeof *txt_buf) return false;
            if (val.data) {
                txt[p] = txt_buf + n_txt;
                txt_len[p] = txt_len_buf + n_txt;
                n_txt += nc;
                if (cn_eng_serving_texts(s->sv, val.data, val.len, txt[p], txt_len[p], &e)) return false;
            }
        } else if (cn_eng_serving_row(s->sv, val.data, val.len, q, &row[p], &e)) {
            return false;
        }
    }
    if (svc) OUT_LIT(out, "{\"status\":\"Success\",\"entityKeys\":");
    else out_put(out, "{\"keys\":", 8);
    if (!put_keys(out, req)) {
        char small[512];
        size_t kl = json_dumpb(req, small, sizeof small, JSON_COMPACT | JSON_SORT_KEYS);
        if (!kl || kl > sizeof small) return false;
        out_put(out, small, kl);
    }
    if (svc) OUT_LIT(out, ",\"features\":{");
    else out_put(out, ",\"values\":{", 11);
    bool first = true, join = pl->kind == CN_FETCH_JOIN;
    for (size_t o = 0; o < pl->nc; o++) {
        const TCol *c = &pl->cols[o];
        if (join && absent[c->part]) continue; /* a Join part without data adds nothing */
        if (!first) out_putc(out, ',');
        first = false;
        out_put(out, c->lit, c->lit_len);
        if (txt[c->part] && svc) cn_json_copy_short_reals(out, txt[c->part][c->col], txt_len[c->part][c->col]);
        else if (txt[c->part]) out_put(out, txt[c->part][c->col], txt_len[c->part][c->col]);
        else if (!put_vec(out, row[c->part] ? &row[c->part]->cols[c->col] : NULL, 0, svc)) return false;
    }
    out_put(out, "}}", 2);
    return !out->oom;
}

/* The whole answer by the typed path into out (svc: as the feature service's body);
 * false (out as it was) when the request needs the generic path. */
static bool fetch_typed(CnFetcher *f, CnFetchKind kind, const char *name, const json_t *keys, int64_t q, CnBuf *out,
                        bool svc) {
    if (f->note) return false; /* notes come from the generic path */
    const char *folder = kind == CN_FETCH_JOIN ? "joins" : "group_bys";
    const char *dot = strchr(name, '.');
    char key[600];
    int kn = strchr(name, '/') || !dot ? snprintf(key, sizeof key, "%s/%s", folder, name)
                                       : snprintf(key, sizeof key, "%s/%.*s/%s", folder, (int)(dot - name), name, dot + 1);
    if (kn <= 0 || (size_t)kn >= sizeof key) return false;
    size_t mark = out->len, np = 0;
    Serv *sv[64] = {NULL};
    char *dsn[64] = {NULL};
    uint64_t ver[64];
    CnErr e = CN_ERR_INIT;
    CnKvRead rd;
    CnBuf kb = CN_BUF_INIT;
    CnArena ar;
    cn_arena_init(&ar, 2048);
    bool ok = false;
    if (cn_kv_read_begin(f->kv, &rd, &e)) return false;
    CnKvSlice mv = {NULL, 0};
    const CnConf *conf = NULL;
    if (cn_kv_read_get(&rd, CN_KV_METADATA_DATASET, key, (size_t)kn, &mv, NULL, &e) ||
        !(conf = named_fresh(f, kind, key, mv)) || (kind == CN_FETCH_JOIN ? !conf->join : !conf->group_by))
        goto done;
    np = kind == CN_FETCH_JOIN ? conf->join->n_parts : 1;
    if (np > 64 || (kind == CN_FETCH_JOIN && conf->join->n_derivations)) goto done;
    /* the newest plan of this conf names the datasets; it serves if their versions held */
    pthread_mutex_lock(&f->mu);
    Plan *pl = f->plans;
    while (pl && !(pl->conf == conf && pl->kind == kind)) pl = pl->next;
    pthread_mutex_unlock(&f->mu);
    for (size_t p = 0; p < np; p++) {
        const CnGroupBy *gb = conf_part_gb(conf, kind, p);
        if (gb->n_derivations) goto done;
        dsn[p] = pl ? (char *)pl->dataset[p] : cn_kv_dataset_name(&ar, gb->meta.name, CN_KV_BATCH_SUFFIX);
        if (!dsn[p] || cn_kv_read_get(&rd, dsn[p], NULL, 0, NULL, &ver[p], &e) || !(sv[p] = serv_take(f, dsn[p], ver[p])))
            goto done;
        if (pl && pl->version[p] != ver[p]) pl = NULL;
    }
    if (!pl) {
        if (!(pl = plan_build(conf, kind, np, dsn, ver, sv))) goto done;
        pthread_mutex_lock(&f->mu);
        pl->next = f->plans;
        f->plans = pl;
        pthread_mutex_unlock(&f->mu);
    }
    if (pl->generic) goto done; /* known before reading a key */
    if (svc) OUT_LIT(out, "{\"results\":[");
    else out_putc(out, '[');
    for (size_t i = 0; i < json_array_size(keys); i++) {
        if (i) out_putc(out, ',');
        if (!typed_one(pl, sv, &rd, json_array_get(keys, i), q, &kb, out, svc)) goto done;
    }
    if (svc) OUT_LIT(out, "]}\n");
    else out_putc(out, ']');
    ok = !out->oom;
    if (ok) atomic_fetch_add(&f->n_typed, 1);
done:
    cn_kv_read_end(&rd);
    for (size_t p = 0; p < np; p++)
        if (sv[p]) serv_release(f, dsn[p], sv[p]);
    cn_buf_fini(&kb);
    cn_arena_fini(&ar);
    if (!ok) {
        out->len = mark;
        out->oom = false;
        if (out->data) out->data[mark] = 0;
    }
    return ok;
}

/* The checks of a request, then the typed path (svc: the service body). */
static int typed_request(CnFetcher *f, CnFetchKind kind, const char *name, const json_t *keys, int64_t ts_ms,
                         CnBuf *out, bool svc, CnErr *err) {
    int rc = check_request(kind, name, keys, err);
    if (rc) return rc;
    int64_t q = ts_ms == CN_FETCH_NOW ? cn_fetcher__now_ms() : ts_ms;
    return fetch_typed(f, kind, name, keys, q, out, svc) ? 0 : CN_FETCH_DECLINED;
}

int cn_fetcher_fetch_typed(CnFetcher *f, CnFetchKind kind, const char *name, const json_t *keys, int64_t ts_ms,
                           CnBuf *out, CnErr *err) {
    return typed_request(f, kind, name, keys, ts_ms, out, false, err);
}

int cn_fetcher_fetch_service(CnFetcher *f, CnFetchKind kind, const char *name, const json_t *keys, int64_t ts_ms,
                             CnBuf *out, CnErr *err) {
    return typed_request(f, kind, name, keys, ts_ms, out, true, err);
}

int cn_fetcher_fetch_text(CnFetcher *f, CnFetchKind kind, const char *name, const json_t *keys, int64_t ts_ms,
                          CnBuf *out, CnErr *err) {
    /* one query time for both paths */
    int64_t q = ts_ms == CN_FETCH_NOW ? cn_fetcher__now_ms() : ts_ms;
    int rc = cn_fetcher_fetch_typed(f, kind, name, keys, q, out, err);
    if (rc != CN_FETCH_DECLINED) return rc;
    json_t *res = NULL;
    rc = cn_fetcher_fetch_json(f, kind, name, keys, q, &res, err);
    if (rc) return rc;
    size_t need = json_dumpb(res, NULL, 0, JSON_COMPACT | JSON_SORT_KEYS);
    if (!need || cn_buf_reserve(out, need + 1)) rc = cn_err_set(err, CN_ENOMEM, "out of memory");
    else {
        out->len += json_dumpb(res, out->data + out->len, need, JSON_COMPACT | JSON_SORT_KEYS);
        out->data[out->len] = 0;
    }
    json_decref(res);
    return rc;
}
