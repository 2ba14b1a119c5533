/* kv.c: the backend-independent half of the KV interface: URI dispatch, argument
 * checks, credential-free display names, the bulk-load wrapper with its sticky error,
 * and Chronon's dataset naming. Backends (kv_lmdb.c, kv_mem.c) see only checked input. */
#include "base/compat.h"

#include <stdio.h>
#include <string.h>

#include "base/alloc.h"
#include "base/str.h"
#include "online/kv_int.h"

const uint8_t cn_kv__empty[1] = {0};

/* A NULL ops means "known scheme, backend not built in". Adding a backend is one line. */
static const struct {
    const char *scheme;
    const char *backend;
    const CnKvOps *ops;
} SCHEMES[] = {
    {"lmdb", "lmdb", &cn_kv__lmdb_ops},
    {"mem", "mem", &cn_kv__mem_ops},
#ifdef CN_HAVE_HIREDIS
    {"redis", "redis", &cn_kv__redis_ops},
#else
    {"redis", "redis", NULL},
#endif
    {"rediss", "redis", NULL},
#ifdef CN_HAVE_MONGOC
    {"mongodb", "mongodb", &cn_kv__mongo_ops},
    {"mongodb+srv", "mongodb", &cn_kv__mongo_ops},
#else
    {"mongodb", "mongodb", NULL},
    {"mongodb+srv", "mongodb", NULL},
#endif
    {"dynamodb", "dynamodb", &cn_kv__dynamodb_ops},
};

static void fill_defaults(CnKvOptions *o) {
    if (!o->connect_timeout_ms) o->connect_timeout_ms = 1000;
    if (!o->timeout_ms) o->timeout_ms = 500;
    if (!o->retries) o->retries = 2;
    if (!o->retry_backoff_ms) o->retry_backoff_ms = 20;
    if (!o->map_size) o->map_size = UINT64_C(256) << 20;
    if (!o->map_size_max) o->map_size_max = UINT64_C(1) << 40;
    if (o->map_size > o->map_size_max) o->map_size = o->map_size_max;
    if (!o->max_readers) o->max_readers = 1024;
    if (!o->max_datasets) o->max_datasets = 4096;
    if (!o->load_chunk_bytes) o->load_chunk_bytes = UINT64_C(256) << 20;
}

/* "redis://user:secret@host/0" -> "redis://user:***@host/0": URIs end up in logs and
 * HTTP error bodies, passwords must not. OWNED (cn_free). */
static char *display_uri(const char *uri) {
    const char *auth = strstr(uri, "://");
    if (!auth) return cn_strdup(uri);
    auth += 3;
    const char *end = auth + strcspn(auth, "/?#");
    const char *at = NULL;
    for (const char *p = auth; p < end; p++)
        if (*p == '@') at = p;
    const char *colon = at ? memchr(auth, ':', (size_t)(at - auth)) : NULL;
    if (!colon) return cn_strdup(uri);
    CnBuf b = CN_BUF_INIT;
    cn_buf_append(&b, uri, (size_t)(colon + 1 - uri));
    cn_buf_puts(&b, "***");
    cn_buf_puts(&b, at);
    if (b.oom) {
        cn_buf_fini(&b);
        return NULL;
    }
    return cn_buf_take(&b);
}

int cn_kv_open(const char *uri, const CnKvOptions *opts, CnKv **out, CnErr *err) {
    CnKv *kv = NULL;
    int rc = 0;
    *out = NULL;
    if (!uri || !*uri) {
        rc = cn_err_set(err, CN_ECONFIG, "online store URI is empty; expected lmdb:<dir>, mem:, "
                        "redis://, mongodb:// or dynamodb://");
        goto done;
    }
    size_t slen = strcspn(uri, ":");
    if (uri[slen] != ':') {
        rc = cn_err_set(err, CN_ECONFIG, "online store URI \"%s\" has no scheme; expected "
                        "lmdb:<dir>, mem:, redis://, mongodb:// or dynamodb://", uri);
        goto done;
    }
    size_t i_s = 0;
    while (i_s < CN_ARRAY_LEN(SCHEMES) &&
           !(strlen(SCHEMES[i_s].scheme) == slen && strncmp(SCHEMES[i_s].scheme, uri, slen) == 0))
        i_s++;
    kv = cn_calloc(1, sizeof *kv);
    if (!kv || !(kv->uri = display_uri(uri))) {
        rc = cn_err_set(err, CN_ENOMEM, "out of memory opening online store");
        goto done;
    }
    if (i_s == CN_ARRAY_LEN(SCHEMES)) {
        rc = cn_err_set(err, CN_ECONFIG, "online store URI \"%s\": unknown scheme \"%.*s\"; expected "
                        "lmdb:<dir>, mem:, redis://, mongodb:// or dynamodb://", kv->uri,
                        (int)slen, uri);
        goto done;
    }
    if (!SCHEMES[i_s].ops) {
        rc = cn_err_set(err, CN_EUNSUPPORTED, "online store URI \"%s\": backend %s is not built "
                        "into this chronon-c (built in: lmdb, mem)", kv->uri,
                        SCHEMES[i_s].backend);
        goto done;
    }
    if (opts) kv->opts = *opts;
    fill_defaults(&kv->opts);
    kv->ops = SCHEMES[i_s].ops;
    rc = kv->ops->open(kv, uri + slen + 1, err);
    if (rc < 0) kv->ops = NULL; /* nothing to close */
done:
    if (rc < 0) {
        cn_kv_close(kv);
        return rc;
    }
    *out = kv;
    return 0;
}

void cn_kv_close(CnKv *kv) {
    if (!kv) return;
    if (kv->ops) kv->ops->close(kv);
    cn_free(kv->uri);
    cn_free(kv);
}

const char *cn_kv_uri(const CnKv *kv) { return kv->uri; }
const char *cn_kv_backend(const CnKv *kv) { return kv->ops->name; }
unsigned cn_kv_caps(const CnKv *kv) { return kv->ops->caps; }

const char *cn_kv_key_repr(const void *key, size_t len, char *buf, size_t cap) {
    const unsigned char *k = key;
    enum { SHOW = 48 };
    size_t n = len > SHOW ? SHOW : len;
    bool text = true;
    for (size_t i = 0; i < n; i++)
        if (k[i] < 0x20 || k[i] > 0x7e || k[i] == '"' || k[i] == '\\') text = false;
    if (!cap) return buf;
    size_t o = 0;
#define PUT(...) (o += (size_t)snprintf(buf + o, o < cap ? cap - o : 0, __VA_ARGS__))
    if (text) {
        PUT("\"%.*s\"", (int)n, (const char *)k);
    } else {
        PUT("0x");
        for (size_t i = 0; i < n && o < cap; i++) PUT("%02x", k[i]);
    }
    if (n < len) PUT("...(%zu bytes)", len);
#undef PUT
    return buf;
}

static int check_dataset(CnKv *kv, const char *dataset, CnErr *err) {
    if (!dataset || !*dataset)
        return cn_err_set(err, CN_EINVAL, "%s: empty dataset name", kv->uri);
    size_t n = strlen(dataset);
    if (n > CN_KV_DATASET_MAX)
        return cn_err_set(err, CN_EINVAL, "%s: dataset name \"%.40s...\" is %zu bytes; at most %d",
                          kv->uri, dataset, n, CN_KV_DATASET_MAX);
    return 0;
}

static int check_writable(CnKv *kv, const char *what, const char *dataset, CnErr *err) {
    if (!kv->opts.read_only) return 0;
    return cn_err_set(err, CN_EINVAL, "%s: opened read-only; cannot %s dataset %s", kv->uri, what,
                      dataset);
}

static int check_key(CnKv *kv, const char *dataset, const void *key, size_t len, CnErr *err) {
    if (CN_UNLIKELY(len == 0 || !key))
        return cn_err_set(err, CN_EINVAL, "%s: dataset %s: empty key; keys need at least one byte",
                          kv->uri, dataset);
    if (CN_UNLIKELY(len > kv->ops->max_key_len)) {
        char r[CN_KV_KEY_REPR_MAX];
        return cn_err_set(err, CN_EINVAL, "%s: dataset %s: key %s is %zu bytes; backend %s "
                          "accepts at most %zu", kv->uri, dataset,
                          cn_kv_key_repr(key, len, r, sizeof r), len, kv->ops->name,
                          kv->ops->max_key_len);
    }
    return 0;
}

static int check_keys(CnKv *kv, const char *dataset, const CnKvSlice *keys, size_t n,
                      CnErr *err) {
    for (size_t i = 0; i < n; i++) {
        int rc = check_key(kv, dataset, keys[i].data, keys[i].len, err);
        if (rc < 0) return rc;
    }
    return 0;
}

const uint8_t *cn_kv__copy_value(CnArena *arena, const void *data, size_t len) {
    if (!len) return cn_kv__empty;
    uint8_t *p = cn_arena_alloc(arena, len);
    if (p) memcpy(p, data, len);
    return p;
}

int cn_kv_dataset_create(CnKv *kv, const char *dataset, CnErr *err) {
    int rc = check_dataset(kv, dataset, err);
    if (rc == 0) rc = check_writable(kv, "create", dataset, err);
    return rc < 0 ? rc : kv->ops->dataset_create(kv, dataset, err);
}

int cn_kv_dataset_drop(CnKv *kv, const char *dataset, CnErr *err) {
    int rc = check_dataset(kv, dataset, err);
    if (rc == 0) rc = check_writable(kv, "drop", dataset, err);
    return rc < 0 ? rc : kv->ops->dataset_drop(kv, dataset, err);
}

int cn_kv_dataset_list(CnKv *kv, CnArena *arena, char ***names, size_t *n, CnErr *err) {
    *names = NULL;
    *n = 0;
    return kv->ops->dataset_list(kv, arena, names, n, err);
}

int cn_kv_dataset_version(CnKv *kv, const char *dataset, uint64_t *version, CnErr *err) {
    *version = 0;
    int rc = check_dataset(kv, dataset, err);
    return rc < 0 ? rc : kv->ops->dataset_version(kv, dataset, version, err);
}

int cn_kv_multi_get(CnKv *kv, const char *dataset, const CnKvSlice *keys, size_t n,
                    CnKvSlice *values, CnArena *arena, CnErr *err) {
    int rc = check_dataset(kv, dataset, err);
    if (rc == 0) rc = check_keys(kv, dataset, keys, n, err);
    if (rc < 0) return rc;
    return kv->ops->multi_get(kv, dataset, keys, n, values, arena, err);
}

int cn_kv_get(CnKv *kv, const char *dataset, const void *key, size_t key_len, CnKvSlice *value,
              CnArena *arena, CnErr *err) {
    CnKvSlice k = {key, key_len};
    return cn_kv_multi_get(kv, dataset, &k, 1, value, arena, err);
}

int cn_kv_read_begin(CnKv *kv, CnKvRead *rd, CnErr *err) {
    rd->kv = kv;
    rd->impl = NULL;
    if (!kv->ops->read_begin)
        return cn_err_set(err, CN_EUNSUPPORTED, "%s: the %s backend has no read snapshots", kv->uri, kv->ops->name);
    return kv->ops->read_begin(kv, &rd->impl, err);
}

int cn_kv_read_get(CnKvRead *rd, const char *dataset, const void *key, size_t key_len, CnKvSlice *value,
                   uint64_t *version, CnErr *err) {
    CnKvSlice k = {key, key_len}, none;
    uint64_t v = 0;
    int rc = check_dataset(rd->kv, dataset, err);
    if (rc == 0 && key) rc = check_keys(rd->kv, dataset, &k, 1, err);
    if (!value) value = &none;
    if (rc == 0) rc = rd->kv->ops->read_get(rd->kv, rd->impl, dataset, &k, value, &v, err);
    if (rc == 0 && version) *version = v;
    return rc;
}

void cn_kv_read_end(CnKvRead *rd) {
    if (rd->impl) rd->kv->ops->read_end(rd->kv, rd->impl);
    rd->impl = NULL;
}

int cn_kv_multi_put(CnKv *kv, const char *dataset, const CnKvSlice *keys,
                    const CnKvSlice *values, size_t n, CnErr *err) {
    int rc = check_dataset(kv, dataset, err);
    if (rc == 0) rc = check_writable(kv, "put into", dataset, err);
    if (rc == 0) rc = check_keys(kv, dataset, keys, n, err);
    for (size_t i = 0; rc == 0 && i < n; i++)
        if (!values[i].data && values[i].len)
            rc = cn_err_set(err, CN_EINVAL, "%s: dataset %s: value #%zu has no data but length %zu",
                            kv->uri, dataset, i, values[i].len);
    return rc < 0 ? rc : kv->ops->multi_put(kv, dataset, keys, values, n, err);
}

int cn_kv_multi_delete(CnKv *kv, const char *dataset, const CnKvSlice *keys, size_t n,
                       CnErr *err) {
    int rc = check_dataset(kv, dataset, err);
    if (rc == 0) rc = check_writable(kv, "delete from", dataset, err);
    if (rc == 0) rc = check_keys(kv, dataset, keys, n, err);
    return rc < 0 ? rc : kv->ops->multi_delete(kv, dataset, keys, n, err);
}

static void load_free(CnKvLoad *ld) {
    cn_free(ld->dataset);
    cn_free(ld);
}

int cn_kv_load_begin(CnKv *kv, const char *dataset, CnKvLoad **out, CnErr *err) {
    return cn_kv_load_begin_flags(kv, dataset, 0, out, err);
}

int cn_kv_load_begin_flags(CnKv *kv, const char *dataset, unsigned flags, CnKvLoad **out, CnErr *err) {
    *out = NULL;
    int rc = check_dataset(kv, dataset, err);
    if (rc == 0) rc = check_writable(kv, "load", dataset, err);
    if (rc < 0) return rc;
    CnKvLoad *ld = cn_calloc(1, sizeof *ld);
    if (!ld || !(ld->dataset = cn_strdup(dataset))) {
        if (ld) load_free(ld);
        return cn_err_set(err, CN_ENOMEM, "%s: out of memory starting a load of %s", kv->uri,
                          dataset);
    }
    ld->kv = kv;
    /* the flags in effect: a backend without streamed loads loads as without the flag */
    ld->flags = kv->ops->caps & CN_KV_CAP_STREAM ? flags : flags & ~(unsigned)CN_KV_LOAD_STREAM;
    rc = kv->ops->load_begin(ld, err);
    if (rc < 0) {
        load_free(ld);
        return rc;
    }
    *out = ld;
    return 0;
}

/* The stored error of a failed load, once more for the caller. */
static int load_error(CnKvLoad *ld, CnErr *err) {
    if (err && !err->code) *err = ld->err;
    return ld->rc;
}

int cn_kv_load_add(CnKvLoad *ld, const void *key, size_t key_len, const void *value,
                   size_t value_len, CnErr *err) {
    if (CN_UNLIKELY(ld->rc)) return load_error(ld, err);
    int rc = check_key(ld->kv, ld->dataset, key, key_len, &ld->err);
    if (rc == 0 && !value && value_len)
        rc = cn_err_set(&ld->err, CN_EINVAL, "%s: dataset %s: value has no data but length %zu",
                        ld->kv->uri, ld->dataset, value_len);
    if (rc == 0) rc = ld->kv->ops->load_add(ld, key, key_len, value, value_len, &ld->err);
    if (CN_UNLIKELY(rc < 0)) {
        ld->rc = rc;
        return load_error(ld, err);
    }
    ld->n_added++;
    return 0;
}

bool cn_kv_load_streaming(const CnKvLoad *ld) {
    return (ld->flags & CN_KV_LOAD_STREAM) != 0;
}

int cn_kv_load_commit(CnKvLoad *ld, uint64_t *version, CnErr *err) {
    int rc;
    if (ld->rc) {
        rc = load_error(ld, err);
        ld->kv->ops->load_abort(ld);
    } else {
        rc = ld->kv->ops->load_commit(ld, err);
    }
    if (version) *version = rc < 0 ? 0 : ld->version;
    load_free(ld);
    return rc;
}

void cn_kv_load_abort(CnKvLoad *ld) {
    if (!ld) return;
    ld->kv->ops->load_abort(ld);
    load_free(ld);
}

uint64_t cn_kv_load_count(const CnKvLoad *ld) { return ld->n_added; }

char *cn_kv_dataset_name(CnArena *arena, const char *group_by_name, const char *suffix) {
    char *s = cn_arena_printf(arena, "%s%s", group_by_name, suffix);
    if (!s) return NULL;
    size_t n = strlen(group_by_name);
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c >= 'a' && c <= 'z') s[i] = (char)(c - 'a' + 'A');
        else if (!((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))) s[i] = '_';
    }
    return s;
}

int cn_kv__no_dataset(CnKv *kv, const char *dataset, CnErr *err) {
    return cn_err_set(err, CN_ENOTFOUND, "%s: dataset %s does not exist", kv->uri, dataset);
}

int cn_kv__oom(CnKv *kv, const char *dataset, CnErr *err) {
    return cn_err_set(err, CN_ENOMEM, "%s: dataset %s: out of memory", kv->uri, dataset ? dataset : "-");
}
