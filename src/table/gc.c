/* gc.c: orphan file removal. A file under a table's directory is live when the current
 * metadata reaches it: the metadata file itself and those in its metadata log, every
 * snapshot's manifest list, their manifests and every data file those list (deleted
 * entries too: older snapshots still read them). Everything else is an orphan: a
 * crashed or conflicting writer's leftovers. The listing happens before the metadata
 * is loaded, so a commit that lands in between only makes us keep more; the grace
 * period protects files of writes still in flight. */
#include "base/compat.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/alloc.h"
#include "table/ice_int.h"

typedef struct Keys {
    char **v;
    size_t n, cap;
    uint64_t *size;
    CnArena *a;
} Keys;

static int keys_add(Keys *k, const char *s, uint64_t size) {
    if (k->n == k->cap) {
        size_t cap = k->cap ? k->cap * 2 : 256;
        char **v = cn_realloc(k->v, sizeof *v * cap);
        if (!v) return CN_ENOMEM;
        k->v = v;
        uint64_t *sz = cn_realloc(k->size, sizeof *sz * cap);
        if (!sz) return CN_ENOMEM;
        k->size = sz;
        k->cap = cap;
    }
    k->v[k->n] = cn_arena_strdup(k->a, s);
    if (!k->v[k->n]) return CN_ENOMEM;
    k->size[k->n++] = size;
    return 0;
}

static int list_fn(void *ud, const CnObjEntry *e) {
    return keys_add(ud, e->key, e->size);
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int live_add(CnIceCatalog *c, Keys *live, const char *uri) {
    const char *key = NULL;
    CnErr e = CN_ERR_INIT;
    if (cn_ice__key(c, uri, &key, &e) < 0) return 0; /* outside the warehouse: not ours */
    return keys_add(live, key, 0);
}

int cn_ice_gc(CnIceCatalog *c, const char *ns, const char *name, int64_t older_than_ms,
              CnIceGcFn fn, void *ud, uint64_t *n_removed, CnErr *err) {
    if (n_removed) *n_removed = 0;
    CnArena a;
    cn_arena_init(&a, 0);
    Keys listed = {.a = &a}, live = {.a = &a};
    CnIceTable *t = NULL;
    CnBuf prefix = CN_BUF_INIT, uri = CN_BUF_INIT;
    int rc = 0;
    cn_ice__table_key(ns, name, &prefix);
    cn_buf_putc(&prefix, '/');
    rc = cn_obj_list(c->store, prefix.data, list_fn, &listed, err);
    if (rc < 0) goto done;
    rc = cn_ice_table_load(c, ns, name, &t, err);
    if (rc < 0) goto done;
    rc = live_add(c, &live, t->meta_loc);
    size_t i;
    json_t *e;
    json_array_foreach(json_object_get(t->meta, "metadata-log"), i, e) {
        const char *f = json_string_value(json_object_get(e, "metadata-file"));
        if (f && rc == 0) rc = live_add(c, &live, f);
    }
    json_array_foreach(json_object_get(t->meta, "snapshots"), i, e) {
        if (rc < 0) break;
        const char *ml = json_string_value(json_object_get(e, "manifest-list"));
        if (!ml) continue;
        rc = live_add(c, &live, ml);
        CnIceManifest *ms = NULL;
        uint32_t n_ms = 0;
        if (rc == 0) rc = cn_ice__read_manifest_list(c, &a, ml, &ms, &n_ms, err);
        for (uint32_t m = 0; rc == 0 && m < n_ms; m++) {
            rc = live_add(c, &live, ms[m].path);
            CnIceDataFile *fs = NULL;
            uint32_t nf = 0;
            if (rc == 0) rc = cn_ice__read_manifest(c, &a, &ms[m], false, &fs, &nf, err);
            for (uint32_t k = 0; rc == 0 && k < nf; k++) rc = live_add(c, &live, fs[k].path);
        }
    }
    if (rc < 0) goto done;
    qsort(live.v, live.n, sizeof *live.v, cmp_str);
    int64_t now = cn_ice__now_ms();
    const char *local = cn_ice__local_path(c->warehouse);
    for (size_t k = 0; k < listed.n; k++) {
        const char *key = listed.v[k];
        if (bsearch(&key, live.v, live.n, sizeof *live.v, cmp_str)) continue;
        int64_t born = cn_ice__uuid7_ms(key);
        if (born < 0 && local) {
            char path[4096];
            struct stat st;
            snprintf(path, sizeof path, "%s/%s", local, key);
            if (stat(path, &st) == 0) born = (int64_t)st.st_mtime * 1000;
        }
        if (born < 0 || now - born < older_than_ms) continue; /* unknown age or too young */
        rc = cn_obj_delete(c->store, key, err);
        if (rc < 0) goto done;
        if (n_removed) (*n_removed)++;
        if (fn) {
            cn_obj_uri(c->store, key, &uri);
            rc = fn(ud, uri.data, listed.size[k]);
            if (rc) goto done;
        }
    }
done:
    cn_ice_table_free(t);
    cn_free(listed.v);
    cn_free(listed.size);
    cn_free(live.v);
    cn_free(live.size);
    cn_buf_fini(&prefix);
    cn_buf_fini(&uri);
    cn_arena_fini(&a);
    return rc;
}
