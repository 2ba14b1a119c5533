/* kv_mem.c: the in-memory backend, `mem:`. One open-addressing hash table per dataset
 * version, all behind one reader-writer lock. It is the reference the contract tests
 * compare every other backend with, so it favours obviously-right over fast: a load
 * builds a private table and the flip swaps it in under the write lock.
 * Nothing survives cn_kv_close(); two opens of "mem:" are two separate stores. */
#include "base/compat.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/hash.h"
#include "online/kv_int.h"

/* An entry owns one block: key bytes then value bytes. bytes == NULL marks a free slot. */
typedef struct MemEnt {
    uint64_t hash;
    uint8_t *bytes;
    size_t key_len, val_len;
} MemEnt;

/* INVARIANT: linear probing with no tombstones (deletes shift back), n < cap * 3/4,
 * cap a power of two or 0. */
typedef struct MemTab {
    MemEnt *slots;
    size_t cap, n;
} MemTab;

typedef struct MemDs {
    char *name;             /* OWNED */
    uint64_t version;
    MemTab tab;
} MemDs;

typedef struct MemStore {
    pthread_rwlock_t lock;  /* readers: multi_get, list, version; writer: everything else */
    MemDs **ds;             /* OWNED, unsorted */
    size_t n_ds, cap_ds;
    uint64_t next_version;  /* versions are unique in the store, as in kv_lmdb.c */
} MemStore;

static const uint64_t SEED = UINT64_C(0x6b76206d656d);

static void tab_fini(MemTab *t) {
    for (size_t i = 0; i < t->cap; i++) cn_free(t->slots[i].bytes);
    cn_free(t->slots);
    t->slots = NULL;
    t->cap = t->n = 0;
}

static size_t tab_find(const MemTab *t, uint64_t h, const void *key, size_t key_len, bool *found) {
    size_t mask = t->cap - 1, i = h & mask;
    for (;; i = (i + 1) & mask) {
        const MemEnt *e = &t->slots[i];
        if (!e->bytes) break;
        if (e->hash == h && e->key_len == key_len && memcmp(e->bytes, key, key_len) == 0) {
            *found = true;
            return i;
        }
    }
    *found = false;
    return i;
}

static int tab_grow(MemTab *t) {
    size_t cap = t->cap ? t->cap * 2 : 64;
    MemEnt *slots = cn_calloc(cap, sizeof *slots);
    if (!slots) return CN_ENOMEM;
    for (size_t i = 0; i < t->cap; i++) {
        MemEnt *e = &t->slots[i];
        if (!e->bytes) continue;
        size_t j = e->hash & (cap - 1);
        while (slots[j].bytes) j = (j + 1) & (cap - 1);
        slots[j] = *e;
    }
    cn_free(t->slots);
    t->slots = slots;
    t->cap = cap;
    return 0;
}

static int tab_put(MemTab *t, const void *key, size_t key_len, const void *val, size_t val_len) {
    if ((t->n + 1) * 4 > t->cap * 3 && tab_grow(t) < 0) return CN_ENOMEM;
    uint64_t h = cn_hash_bytes(key, key_len, SEED);
    uint8_t *b = cn_malloc(key_len + val_len);
    if (!b) return CN_ENOMEM;
    memcpy(b, key, key_len);
    if (val_len) memcpy(b + key_len, val, val_len);
    bool found;
    size_t i = tab_find(t, h, key, key_len, &found);
    if (found) cn_free(t->slots[i].bytes);
    else t->n++;
    t->slots[i] = (MemEnt){h, b, key_len, val_len};
    return 0;
}

static void tab_del(MemTab *t, const void *key, size_t key_len) {
    if (!t->cap) return;
    bool found;
    size_t mask = t->cap - 1;
    size_t i = tab_find(t, cn_hash_bytes(key, key_len, SEED), key, key_len, &found);
    if (!found) return;
    cn_free(t->slots[i].bytes);
    t->n--;
    /* shift later members of the probe run back so lookups never stop early */
    for (size_t j = (i + 1) & mask; t->slots[j].bytes; j = (j + 1) & mask) {
        size_t home = t->slots[j].hash & mask;
        bool movable = i <= j ? (home <= i || home > j) : (home <= i && home > j);
        if (movable) {
            t->slots[i] = t->slots[j];
            i = j;
        }
    }
    t->slots[i] = (MemEnt){0, NULL, 0, 0};
}

static const MemEnt *tab_get(const MemTab *t, const void *key, size_t key_len) {
    if (!t->cap) return NULL;
    bool found;
    size_t i = tab_find(t, cn_hash_bytes(key, key_len, SEED), key, key_len, &found);
    return found ? &t->slots[i] : NULL;
}

static MemDs *ds_find(MemStore *s, const char *name, size_t *i_out) {
    for (size_t i = 0; i < s->n_ds; i++)
        if (strcmp(s->ds[i]->name, name) == 0) {
            if (i_out) *i_out = i;
            return s->ds[i];
        }
    return NULL;
}

static MemDs *ds_add(MemStore *s, const char *name) {
    if (s->n_ds == s->cap_ds) {
        size_t cap = s->cap_ds ? s->cap_ds * 2 : 8;
        MemDs **d = cn_realloc(s->ds, cap * sizeof *d);
        if (!d) return NULL;
        s->ds = d;
        s->cap_ds = cap;
    }
    MemDs *d = cn_calloc(1, sizeof *d);
    if (!d || !(d->name = cn_strdup(name))) {
        cn_free(d);
        return NULL;
    }
    s->ds[s->n_ds++] = d;
    return d;
}

static void ds_free(MemDs *d) {
    if (!d) return;
    tab_fini(&d->tab);
    cn_free(d->name);
    cn_free(d);
}

static int mem_open(CnKv *kv, const char *target, CnErr *err) {
    (void)target; /* "mem:" or "mem:<label>": the label only shows in messages */
    MemStore *s = cn_calloc(1, sizeof *s);
    if (!s) return cn_err_set(err, CN_ENOMEM, "%s: out of memory", kv->uri);
    if (pthread_rwlock_init(&s->lock, NULL) != 0) {
        cn_free(s);
        return cn_err_set(err, CN_EINTERNAL, "%s: cannot create a lock", kv->uri);
    }
    s->next_version = 1;
    kv->impl = s;
    return 0;
}

static void mem_close(CnKv *kv) {
    MemStore *s = kv->impl;
    if (!s) return;
    for (size_t i = 0; i < s->n_ds; i++) ds_free(s->ds[i]);
    cn_free(s->ds);
    pthread_rwlock_destroy(&s->lock);
    cn_free(s);
}

static int mem_dataset_create(CnKv *kv, const char *dataset, CnErr *err) {
    MemStore *s = kv->impl;
    int rc = 0;
    pthread_rwlock_wrlock(&s->lock);
    if (!ds_find(s, dataset, NULL)) {
        MemDs *d = ds_add(s, dataset);
        if (d) d->version = s->next_version++;
        else rc = cn_kv__oom(kv, dataset, err);
    }
    pthread_rwlock_unlock(&s->lock);
    return rc;
}

static int mem_dataset_drop(CnKv *kv, const char *dataset, CnErr *err) {
    MemStore *s = kv->impl;
    size_t i = 0;
    pthread_rwlock_wrlock(&s->lock);
    MemDs *d = ds_find(s, dataset, &i);
    if (d) s->ds[i] = s->ds[--s->n_ds];
    pthread_rwlock_unlock(&s->lock);
    if (!d) return cn_kv__no_dataset(kv, dataset, err);
    ds_free(d);
    return 0;
}

static int cmp_names(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int mem_dataset_list(CnKv *kv, CnArena *arena, char ***names, size_t *n, CnErr *err) {
    MemStore *s = kv->impl;
    int rc = 0;
    pthread_rwlock_rdlock(&s->lock);
    char **out = cn_arena_alloc(arena, (s->n_ds + 1) * sizeof *out);
    for (size_t i = 0; out && i < s->n_ds; i++)
        if (!(out[i] = cn_arena_strdup(arena, s->ds[i]->name))) out = NULL;
    size_t count = s->n_ds;
    pthread_rwlock_unlock(&s->lock);
    if (!out) {
        rc = cn_err_set(err, CN_ENOMEM, "%s: out of memory listing datasets", kv->uri);
    } else {
        qsort(out, count, sizeof *out, cmp_names);
        *names = out;
        *n = count;
    }
    return rc;
}

static int mem_dataset_version(CnKv *kv, const char *dataset, uint64_t *version, CnErr *err) {
    MemStore *s = kv->impl;
    pthread_rwlock_rdlock(&s->lock);
    MemDs *d = ds_find(s, dataset, NULL);
    if (d) *version = d->version;
    pthread_rwlock_unlock(&s->lock);
    return d ? 0 : cn_kv__no_dataset(kv, dataset, err);
}

static int mem_multi_get(CnKv *kv, const char *dataset, const CnKvSlice *keys, size_t n,
                         CnKvSlice *values, CnArena *arena, CnErr *err) {
    MemStore *s = kv->impl;
    int rc = 0;
    pthread_rwlock_rdlock(&s->lock);
    MemDs *d = ds_find(s, dataset, NULL);
    if (!d) rc = cn_kv__no_dataset(kv, dataset, err);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        const MemEnt *e = tab_get(&d->tab, keys[i].data, keys[i].len);
        values[i] = (CnKvSlice){NULL, 0};
        if (!e) continue;
        values[i].data = cn_kv__copy_value(arena, e->bytes + e->key_len, e->val_len);
        values[i].len = e->val_len;
        if (!values[i].data) rc = cn_kv__oom(kv, dataset, err);
    }
    pthread_rwlock_unlock(&s->lock);
    return rc;
}

/* The only failure is out of memory, which may leave earlier pairs of the call written:
 * mem is a test reference, not a store to recover. */
static int mem_multi_put(CnKv *kv, const char *dataset, const CnKvSlice *keys,
                         const CnKvSlice *values, size_t n, CnErr *err) {
    MemStore *s = kv->impl;
    int rc = 0;
    pthread_rwlock_wrlock(&s->lock);
    MemDs *d = ds_find(s, dataset, NULL);
    if (!d) rc = cn_kv__no_dataset(kv, dataset, err);
    for (size_t i = 0; rc == 0 && i < n; i++)
        if (tab_put(&d->tab, keys[i].data, keys[i].len, values[i].data, values[i].len) < 0)
            rc = cn_kv__oom(kv, dataset, err);
    pthread_rwlock_unlock(&s->lock);
    return rc;
}

static int mem_multi_delete(CnKv *kv, const char *dataset, const CnKvSlice *keys, size_t n,
                            CnErr *err) {
    MemStore *s = kv->impl;
    int rc = 0;
    pthread_rwlock_wrlock(&s->lock);
    MemDs *d = ds_find(s, dataset, NULL);
    if (!d) rc = cn_kv__no_dataset(kv, dataset, err);
    for (size_t i = 0; rc == 0 && i < n; i++) tab_del(&d->tab, keys[i].data, keys[i].len);
    pthread_rwlock_unlock(&s->lock);
    return rc;
}

static int mem_load_begin(CnKvLoad *ld, CnErr *err) {
    MemStore *s = ld->kv->impl;
    MemTab *t = cn_calloc(1, sizeof *t);
    if (!t) return cn_kv__oom(ld->kv, ld->dataset, err);
    pthread_rwlock_wrlock(&s->lock);
    ld->version = s->next_version++;
    pthread_rwlock_unlock(&s->lock);
    ld->impl = t;
    return 0;
}

static int mem_load_add(CnKvLoad *ld, const void *key, size_t key_len, const void *value,
                        size_t value_len, CnErr *err) {
    if (tab_put(ld->impl, key, key_len, value, value_len) < 0)
        return cn_kv__oom(ld->kv, ld->dataset, err);
    return 0;
}

static void mem_load_abort(CnKvLoad *ld) {
    MemTab *t = ld->impl;
    if (t) tab_fini(t);
    cn_free(t);
    ld->impl = NULL;
}

static int mem_load_commit(CnKvLoad *ld, CnErr *err) {
    MemStore *s = ld->kv->impl;
    MemTab *t = ld->impl;
    int rc = 0;
    pthread_rwlock_wrlock(&s->lock);
    MemDs *d = ds_find(s, ld->dataset, NULL);
    if (!d && !(d = ds_add(s, ld->dataset))) {
        rc = cn_kv__oom(ld->kv, ld->dataset, err);
    } else if (d->version > ld->version) {
        rc = cn_err_set(err, CN_ECONFLICT, "%s: dataset %s: a newer load (version %llu) was "
                        "committed while version %llu was loading", ld->kv->uri, ld->dataset,
                        (unsigned long long)d->version, (unsigned long long)ld->version);
    } else {
        MemTab old = d->tab;
        d->tab = *t;
        d->version = ld->version;
        *t = old; /* freed below, after readers can no longer reach it */
    }
    pthread_rwlock_unlock(&s->lock);
    mem_load_abort(ld);
    return rc;
}

const CnKvOps cn_kv__mem_ops = {
    .name = "mem",
    .caps = 0,
    .max_key_len = SIZE_MAX / 4,
    .open = mem_open,
    .close = mem_close,
    .dataset_create = mem_dataset_create,
    .dataset_drop = mem_dataset_drop,
    .dataset_list = mem_dataset_list,
    .dataset_version = mem_dataset_version,
    .multi_get = mem_multi_get,
    .multi_put = mem_multi_put,
    .multi_delete = mem_multi_delete,
    .load_begin = mem_load_begin,
    .load_add = mem_load_add,
    .load_commit = mem_load_commit,
    .load_abort = mem_load_abort,
};
