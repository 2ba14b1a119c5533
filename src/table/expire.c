/* expire.c: snapshot expiry, Iceberg's ExpireSnapshots.
 * A snapshot expires when it was committed before older_than_ms, is not among the
 * retain_last most recent snapshots, and no ref (the current snapshot is `main`) points
 * at it. One commit (the usual compare-and-swap; on a lost race the choice is made
 * again on the new metadata) drops the expired snapshots from `snapshots`, and from the
 * snapshot log every entry up to the last one naming an expired snapshot (the log stays
 * a contiguous history). Only after that commit succeeded are files removed, and only
 * files that no retained snapshot reaches:
 *   - the expired snapshots' manifest lists;
 *   - manifests that those lists name and no retained snapshot's list names;
 *   - data files live (added or existing) in an expired snapshot and live in no
 *     retained one (an entry marked deleted is not a reference).
 * Metadata files are kept (the metadata log still names them). A writer racing with
 * the expiry re-applies on the new metadata and so only refers to retained files. A
 * crash between the commit and the deletes leaves orphans, which cn_ice_gc removes. */
#include "base/compat.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "table/ice_int.h"

typedef struct Expire {
    int64_t older_than_ms;
    uint32_t retain_last;
    /* filled by apply (reset on each attempt): what the commit removed */
    json_t *expired;   /* array of the removed snapshot objects (OWNED) */
    json_t *retained;  /* array of the kept snapshot objects (OWNED) */
} Expire;

static bool has_id(const int64_t *ids, size_t n, int64_t id) {
    for (size_t i = 0; i < n; i++)
        if (ids[i] == id) return true;
    return false;
}

static int apply_expire(void *ud, CnIceCatalog *c, CnIceTable *base, json_t *meta, CnErr *err) {
    (void)c;
    Expire *x = ud;
    json_decref(x->expired);
    json_decref(x->retained);
    x->expired = json_array();
    x->retained = json_array();
    if (!x->expired || !x->retained) return cn_err_set(err, CN_ENOMEM, "out of memory");
    json_t *snaps = json_object_get(meta, "snapshots");
    size_t n = json_array_size(snaps);
    if (n == 0) return 0;
    /* kept: refs, and the retain_last newest by commit time (ties: later in the list) */
    int64_t *keep = cn_calloc(n + 8, sizeof *keep);
    size_t n_keep = 0;
    if (!keep) return cn_err_set(err, CN_ENOMEM, "out of memory");
    int64_t cur = cn_ice_table_current_snapshot(base);
    if (cur >= 0) keep[n_keep++] = cur;
    const char *rk;
    json_t *rv;
    json_object_foreach(json_object_get(meta, "refs"), rk, rv) {
        if (n_keep < n + 8 && json_is_integer(json_object_get(rv, "snapshot-id")))
            keep[n_keep++] = json_integer_value(json_object_get(rv, "snapshot-id"));
    }
    bool *newest = cn_calloc(n, sizeof *newest);
    if (!newest) {
        cn_free(keep);
        return cn_err_set(err, CN_ENOMEM, "out of memory");
    }
    for (uint32_t k = 0; k < x->retain_last && k < n; k++) {
        size_t best = SIZE_MAX;
        int64_t best_ts = INT64_MIN;
        for (size_t i = 0; i < n; i++) {
            int64_t ts = json_integer_value(json_object_get(json_array_get(snaps, i), "timestamp-ms"));
            if (!newest[i] && ts >= best_ts) {
                best = i;
                best_ts = ts;
            }
        }
        if (best != SIZE_MAX) newest[best] = true;
    }
    json_t *kept = json_array();
    int64_t *gone = cn_calloc(n, sizeof *gone);
    size_t n_gone = 0;
    int rc = kept && gone ? 0 : cn_err_set(err, CN_ENOMEM, "out of memory");
    for (size_t i = 0; rc == 0 && i < n; i++) {
        json_t *s = json_array_get(snaps, i);
        int64_t id = json_integer_value(json_object_get(s, "snapshot-id"));
        int64_t ts = json_integer_value(json_object_get(s, "timestamp-ms"));
        bool expire = ts < x->older_than_ms && !newest[i] && !has_id(keep, n_keep, id);
        json_array_append(expire ? x->expired : kept, s);
        if (expire) gone[n_gone++] = id;
    }
    if (rc == 0) {
        json_array_extend(x->retained, kept);
        json_object_set(meta, "snapshots", kept);
        /* snapshot log: drop everything up to the last entry of an expired snapshot */
        json_t *log = json_object_get(meta, "snapshot-log");
        size_t cut = 0, i;
        json_t *e;
        json_array_foreach(log, i, e) {
            if (has_id(gone, n_gone, json_integer_value(json_object_get(e, "snapshot-id")))) cut = i + 1;
        }
        json_t *nlog = json_array();
        for (i = cut; nlog && i < json_array_size(log); i++) json_array_append(nlog, json_array_get(log, i));
        if (nlog) json_object_set_new(meta, "snapshot-log", nlog);
        else rc = cn_err_set(err, CN_ENOMEM, "out of memory");
    }
    json_decref(kept);
    cn_free(gone);
    cn_free(newest);
    cn_free(keep);
    /* nothing to expire: CN_ECONFLICT-free no-op is signalled by an empty array */
    return rc;
}

typedef struct Set {
    char **v;
    size_t n, cap;
} Set;

static int set_add(Set *s, CnArena *a, const char *str) {
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 64;
        char **v = cn_realloc(s->v, cap * sizeof *v);
        if (!v) return CN_ENOMEM;
        s->v = v;
        s->cap = cap;
    }
    if (!(s->v[s->n] = cn_arena_strdup(a, str))) return CN_ENOMEM;
    s->n++;
    return 0;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static bool set_has(const Set *s, const char *str) {
    return s->n && bsearch(&str, s->v, s->n, sizeof *s->v, cmp_str) != NULL;
}

/* Manifest lists, manifests and live data files of the snapshots in arr. */
static int reach(CnIceCatalog *c, CnArena *a, json_t *arr, bool tolerant, Set *lists, Set *mans, Set *data,
                 CnErr *err) {
    size_t i;
    json_t *s;
    int rc = 0;
    json_array_foreach(arr, i, s) {
        const char *ml = json_string_value(json_object_get(s, "manifest-list"));
        if (!ml) continue;
        if ((rc = set_add(lists, a, ml)) < 0) return cn_err_set(err, CN_ENOMEM, "out of memory");
        CnIceManifest *ms = NULL;
        uint32_t n_ms = 0;
        if ((rc = cn_ice__read_manifest_list(c, a, ml, &ms, &n_ms, err)) < 0) {
            /* an expired snapshot whose files an interrupted expiry already removed */
            if (tolerant && rc == CN_ENOTFOUND) {
                cn_err_clear(err);
                continue;
            }
            return rc;
        }
        for (uint32_t m = 0; m < n_ms; m++) {
            if ((rc = set_add(mans, a, ms[m].path)) < 0) return cn_err_set(err, CN_ENOMEM, "out of memory");
            CnIceDataFile *fs = NULL;
            uint32_t nf = 0;
            if ((rc = cn_ice__read_manifest(c, a, &ms[m], false, &fs, &nf, err)) < 0) {
                if (tolerant && rc == CN_ENOTFOUND) {
                    cn_err_clear(err);
                    continue;
                }
                return rc;
            }
            for (uint32_t k = 0; k < nf; k++)
                if (fs[k].status != 2 && (rc = set_add(data, a, fs[k].path)) < 0)
                    return cn_err_set(err, CN_ENOMEM, "out of memory");
        }
    }
    qsort(lists->v, lists->n, sizeof *lists->v, cmp_str);
    qsort(mans->v, mans->n, sizeof *mans->v, cmp_str);
    qsort(data->v, data->n, sizeof *data->v, cmp_str);
    return 0;
}

/* Deletes every entry of gone that keep lacks (each once). */
static int delete_unreached(CnIceCatalog *c, const Set *gone, const Set *keep, uint64_t *count, CnIceGcFn fn,
                            void *ud, CnErr *err) {
    for (size_t i = 0; i < gone->n; i++) {
        if (i && !strcmp(gone->v[i], gone->v[i - 1])) continue;
        if (set_has(keep, gone->v[i])) continue;
        const char *key = NULL;
        CnErr e2 = CN_ERR_INIT;
        if (cn_ice__key(c, gone->v[i], &key, &e2) < 0) continue; /* outside the warehouse: not ours */
        int rc = cn_obj_delete(c->store, key, err);
        if (rc == CN_ENOTFOUND) { /* already gone (an earlier, interrupted expiry) */
            cn_err_clear(err);
            continue;
        }
        if (rc < 0) return rc;
        (*count)++;
        if (fn && (rc = fn(ud, gone->v[i], 0)) != 0) return rc;
    }
    return 0;
}

int cn_ice_expire_snapshots(CnIceCatalog *c, const char *ns, const char *name, int64_t older_than_ms,
                            uint32_t retain_last, CnIceGcFn fn, void *ud, CnIceExpireStats *st, CnErr *err) {
    CnIceExpireStats dummy;
    if (!st) st = &dummy;
    memset(st, 0, sizeof *st);
    if (retain_last < 1)
        return cn_err_set(err, CN_EINVAL, "table %s.%s: retain-last %u: expected at least 1", ns, name, retain_last);
    Expire x = {older_than_ms, retain_last, NULL, NULL};
    CnArena a;
    cn_arena_init(&a, 0);
    Set gl = {0}, gm = {0}, gd = {0}, kl = {0}, km = {0}, kd = {0};
    /* a commit that expires nothing still writes a metadata version: look first */
    CnIceTable *t = NULL;
    int rc = cn_ice_table_load(c, ns, name, &t, err);
    if (rc < 0) goto done;
    json_t *probe = json_deep_copy(t->meta);
    rc = probe ? apply_expire(&x, c, t, probe, err) : cn_err_set(err, CN_ENOMEM, "out of memory");
    json_decref(probe);
    cn_ice_table_free(t);
    if (rc < 0) goto done;
    st->snapshots_kept = (uint32_t)json_array_size(x.retained);
    if (json_array_size(x.expired) == 0) goto done;
    if ((rc = cn_ice__commit(c, ns, name, apply_expire, &x, err)) < 0) goto done;
    st->snapshots = (uint32_t)json_array_size(x.expired);
    st->snapshots_kept = (uint32_t)json_array_size(x.retained);
    /* the commit is in: remove what only the expired snapshots reached */
    if ((rc = reach(c, &a, x.retained, false, &kl, &km, &kd, err)) < 0) goto done;
    if ((rc = reach(c, &a, x.expired, true, &gl, &gm, &gd, err)) < 0) goto done;
    if ((rc = delete_unreached(c, &gd, &kd, &st->data_files, fn, ud, err)) != 0) goto done;
    if ((rc = delete_unreached(c, &gm, &km, &st->manifests, fn, ud, err)) != 0) goto done;
    rc = delete_unreached(c, &gl, &kl, &st->manifest_lists, fn, ud, err);
done:
    json_decref(x.expired);
    json_decref(x.retained);
    cn_free(gl.v);
    cn_free(gm.v);
    cn_free(gd.v);
    cn_free(kl.v);
    cn_free(km.v);
    cn_free(kd.v);
    cn_arena_fini(&a);
    if (rc < 0) cn_err_ctx(err, rc, "expire snapshots of %s.%s", ns, name);
    return rc;
}
