/* cmd_online.c: `chronon run` modes upload, metadata-upload and fetch (GroupBys).
 * The online store is $CHRONON_ONLINE, else lmdb:<warehouse>/online. Upload and fetch
 * themselves live in src/engine/online.c; this file resolves names, parses the
 * request keys and prints Chronon's response map. */
#include "base/compat.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/arena.h"
#include "base/date.h"
#include "base/fs.h"
#include "base/str.h"
#include "cli/cli.h"
#include "cli/run.h"
#include "conf/conf.h"
#include "engine/engine.h"
#include "engine/online.h"
#include "online/kv.h"
#include "table/table.h"

typedef struct Env {
    CnCliWhere w;
    const char *root, *wh, *cat, *kv; /* views into w */
} Env;

/* Warehouse, catalog and online store: flag > environment > <repo>/warehouse, as the
 * backfill resolves them. */
static int resolve_env(const CnRunArgs *a, Env *e, CnErr *err) {
    int rc = cn_cli_where(a->repo, cn_run_extra(a, "--warehouse", NULL), cn_run_extra(a, "--catalog", NULL), NULL,
                          NULL, &e->w, err);
    e->root = e->w.root;
    e->wh = e->w.warehouse;
    e->cat = e->w.catalog;
    e->kv = e->w.online;
    return rc;
}

/* ------------------------------------------------------------------ upload */

int cn_run_upload(const CnRunArgs *a, CnErr *err) {
    CnConf *conf = NULL;
    CnIceCatalog *cat = NULL;
    CnKv *kv = NULL;
    char *text = NULL;
    size_t len = 0;
    Env e;
    int rc = cn_conf_load(a->conf_path, &conf, err);
    if (rc == 0 && !conf->group_by) rc = cn_err_set(err, CN_ECONFIG, "%s: not a GroupBy", a->conf);
    if (rc == 0) rc = cn_fs_read_all(a->conf_path, &text, &len, err);
    if (rc == 0) rc = resolve_env(a, &e, err);
    if (rc == 0) rc = cn_ice_catalog_open(e.wh, e.cat, &cat, err);
    if (rc == 0) rc = cn_kv_open(e.kv, NULL, &kv, err);
    if (rc) goto done;
    CnEngOpts o;
    memset(&o, 0, sizeof o);
    o.end_ds = a->ds;
    CnEngUploadStats st;
    rc = cn_eng_upload(cat, kv, conf->group_by, text, a->ds, &o, &st, err);
    if (rc == 0) {
        CnArena ar;
        cn_arena_init(&ar, 0);
        fprintf(stderr, "upload %s for %s: %lld keys to %s in %s (version %llu, batch end %lld)\n",
                conf->group_by->meta.name, a->ds, (long long)st.keys,
                cn_kv_dataset_name(&ar, conf->group_by->meta.name, CN_KV_BATCH_SUFFIX), cn_kv_uri(kv),
                (unsigned long long)st.version, (long long)st.batch_end_ms);
        cn_arena_fini(&ar);
    }
done:
    cn_kv_close(kv);
    cn_ice_catalog_close(cat);
    cn_free(text);
    cn_conf_free(conf);
    return rc;
}

/* ------------------------------------------------------------------ metadata-upload */

/* "<folder>/<team>/<rest>" from "team.rest" (the first '.' becomes '/'). */
static char *metadata_key(CnArena *ar, const char *folder, const char *name) {
    const char *dot = strchr(name, '.');
    const char *slash = strchr(name, '/');
    if (slash || !dot) return cn_arena_printf(ar, "%s/%s", folder, name);
    return cn_arena_printf(ar, "%s/%.*s/%s", folder, (int)(dot - name), name, dot + 1);
}

int cn_run_metadata_upload(const CnRunArgs *a, CnErr *err) {
    CnConf *conf = NULL;
    CnKv *kv = NULL;
    char *text = NULL;
    size_t len = 0;
    CnArena ar;
    cn_arena_init(&ar, 0);
    Env e;
    int rc = cn_conf_load(a->conf_path, &conf, err);
    if (rc == 0 && !conf->group_by && !conf->join)
        rc = cn_err_set(err, CN_ECONFIG, "%s: metadata-upload takes a GroupBy or a Join, this is a %s", a->conf,
                        cn_conf_kind_name(conf->kind));
    if (rc == 0 && (!conf->meta || !conf->meta->name))
        rc = cn_err_set(err, CN_ECONFIG, "%s: metaData.name is not set", a->conf);
    if (rc == 0) rc = cn_fs_read_all(a->conf_path, &text, &len, err);
    if (rc == 0) rc = resolve_env(a, &e, err);
    if (rc == 0) rc = cn_kv_open(e.kv, NULL, &kv, err);
    if (rc) goto done;
    char *key = metadata_key(&ar, conf->group_by ? "group_bys" : "joins", conf->meta->name);
    rc = cn_kv_dataset_create(kv, CN_KV_METADATA_DATASET, err);
    if (rc == 0) {
        CnKvSlice k = {(const uint8_t *)key, strlen(key)}, v = {(const uint8_t *)text, len};
        rc = cn_kv_multi_put(kv, CN_KV_METADATA_DATASET, &k, &v, 1, err);
    }
    if (rc == 0) fprintf(stderr, "metadata-upload: %s -> %s/%s in %s\n", a->conf, CN_KV_METADATA_DATASET, key, cn_kv_uri(kv));
done:
    cn_kv_close(kv);
    cn_free(text);
    cn_conf_free(conf);
    cn_arena_fini(&ar);
    return rc;
}

/* ------------------------------------------------------------------ fetch */

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

/* The compiled names under <repo>/production/group_bys closest to want, for messages. */
static void nearby_names(const char *root, const char *want, CnBuf *out) {
    char dir[PATH_MAX + 32];
    snprintf(dir, sizeof dir, "%s/production/group_bys", root);
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
        struct dirent *f;
        while ((f = readdir(d2))) {
            if (f->d_name[0] == '.') continue;
            Cand c;
            snprintf(c.name, sizeof c.name, "%.120s/%.120s", t->d_name, f->d_name);
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

/* Finds the GroupBy conf of a request name: ZIPLINE_METADATA, else the compiled file. */
static int find_conf(CnKv *kv, const Env *e, const char *name, CnArena *ar, CnConf **conf, CnErr *err) {
    char *key = metadata_key(ar, "group_bys", name);
    CnKvSlice v = {NULL, 0};
    int rc = cn_kv_get(kv, CN_KV_METADATA_DATASET, key, strlen(key), &v, ar, err);
    if (rc && rc != CN_ENOTFOUND) return rc;
    cn_err_clear(err);
    if (rc == 0 && v.data)
        return cn_conf_loadb(cn_arena_printf(ar, "%s/%s", CN_KV_METADATA_DATASET, key), (const char *)v.data, v.len,
                             CN_CONF_GROUP_BY, conf, err);
    char *path = cn_arena_printf(ar, "%s/production/%s", e->root, key);
    if (cn_fs_exists(path)) return cn_conf_load(path, conf, err);
    CnBuf near = CN_BUF_INIT;
    nearby_names(e->root, key + strlen("group_bys/"), &near);
    rc = cn_err_set(err, CN_ENOTFOUND,
                    "--name %s: no GroupBy %s in %s of %s nor at production/%s (run --mode metadata-upload); "
                    "nearby names: %s",
                    name, key, CN_KV_METADATA_DATASET, cn_kv_uri(kv), key, near.len ? near.data : "none");
    cn_buf_fini(&near);
    return rc;
}

static int cmp_str(const void *x, const void *y) {
    return strcmp(*(const char *const *)x, *(const char *const *)y);
}

static const char *json_text(const json_t *v, char *buf, size_t cap) {
    char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    snprintf(buf, cap, "%s", s ? s : "?");
    cn_free_libc(s); /* jansson's allocation */
    return buf;
}

/* Appends request value v to key column vec of type t (compute.md 8.4: keys are cast to
 * the key schema). CN_EINVAL "Invalid key format" when it does not convert. */
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
        if (json_is_boolean(v)) return cn_col_vec_append_str(vec, json_is_true(v) ? "true" : "false", json_is_true(v) ? 4 : 5);
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
    return cn_err_set(err, CN_EINVAL, "Invalid key format: key \"%s\" is %s, which is not a valid %s (the GroupBy's key type)",
                      name, json_text(v, vb, sizeof vb), cn_col_type_name(t, tb, sizeof tb));
}

/* The requests: -k (an object or an array of objects), -f FILE or stdin (one object a
 * line). *reqs is a JSON array. */
static int read_requests(const CnRunArgs *a, json_t **reqs, CnErr *err) {
    const char *k = cn_run_extra(a, "--key-json", "-k");
    const char *f = cn_run_extra(a, "--key-json-file", "-f");
    json_error_t je;
    *reqs = json_array();
    if (k) {
        json_t *v = json_loads(k, JSON_DECODE_ANY, &je);
        if (!v || (!json_is_object(v) && !json_is_array(v)))
            return json_decref(v), cn_err_set(err, CN_EINVAL, "-k/--key-json: '%s' is not valid JSON (%s); expected an object like "
                                              "'{\"user_id\":\"123\"}' or an array of them",
                                              k, v ? "not an object" : je.text);
        if (json_is_object(v)) json_array_append_new(*reqs, v);
        else json_array_extend(*reqs, v), json_decref(v);
    } else {
        FILE *in = stdin;
        if (f && !(in = fopen(f, "r"))) return cn_err_set(err, CN_ENOTFOUND, "-f/--key-json-file %s: %s", f, strerror(errno));
        char *line = NULL;
        size_t cap = 0;
        ssize_t n;
        int ln = 0, rc = 0;
        while (rc == 0 && (n = getline(&line, &cap, in)) >= 0) {
            ln++;
            while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r' || line[n - 1] == ' ')) line[--n] = 0;
            if (!n) continue;
            json_t *v = json_loads(line, JSON_DECODE_ANY, &je);
            if (!v || !json_is_object(v))
                rc = cn_err_set(err, CN_EINVAL, "%s:%d: '%s' is not a JSON object of keys (%s); expected one object like "
                                "{\"user_id\":\"123\"} per line", f ? f : "<stdin>", ln, line, v ? "not an object" : je.text);
            if (rc == 0) json_array_append(*reqs, v);
            json_decref(v);
        }
        cn_free_libc(line); /* getline's allocation */
        if (f) fclose(in);
        if (rc) return rc;
    }
    for (size_t i = 0; i < json_array_size(*reqs); i++)
        if (!json_is_object(json_array_get(*reqs, i)))
            return cn_err_set(err, CN_EINVAL, "-k/--key-json: element %zu of the array is not an object of keys", i);
    if (!json_array_size(*reqs))
        return cn_err_set(err, CN_EINVAL, "fetch: no keys given (use -k '{\"user_id\":\"123\"}', -f FILE or one JSON object a line on stdin)");
    return 0;
}

/* Writes v as JSON with keys sorted and doubles in their shortest round-trip form
 * (250.6, not jansson's 17-digit 250.59999999999999), as Chronon's JSON printer shows
 * them. indent < 0: one line. */
static void write_json(CnBuf *b, const json_t *v, int indent, int depth) {
    if (json_is_real(v)) {
        double d = json_real_value(v);
        char num[40];
        for (int prec = 15; prec <= 17; prec++) {
            snprintf(num, sizeof num, "%.*g", prec, d);
            if (strtod(num, NULL) == d) break;
        }
        cn_buf_puts(b, num);
        if (!strpbrk(num, ".eEn")) cn_buf_puts(b, ".0");
    } else if (json_is_object(v) || json_is_array(v)) {
        bool obj = json_is_object(v);
        size_t n = obj ? json_object_size(v) : json_array_size(v);
        const char **names = NULL;
        if (obj && n) {
            names = cn_calloc(n, sizeof *names);
            if (!names) {
                b->oom = true;
                return;
            }
            size_t i = 0;
            const char *k;
            json_t *x;
            json_object_foreach((json_t *)v, k, x) names[i++] = k;
            qsort(names, n, sizeof *names, cmp_str);
        }
        cn_buf_putc(b, obj ? '{' : '[');
        for (size_t i = 0; i < n; i++) {
            if (i) cn_buf_putc(b, ',');
            if (indent >= 0 && obj) cn_buf_printf(b, "\n%*s", indent * (depth + 1), "");
            else if (indent >= 0) cn_buf_putc(b, ' ');
            if (obj) {
                json_t *k = json_string(names[i]);
                char *ks = json_dumps(k, JSON_ENCODE_ANY);
                cn_buf_puts(b, ks ? ks : "\"?\"");
                cn_free_libc(ks); /* jansson's allocation */
                json_decref(k);
                cn_buf_puts(b, indent >= 0 ? ": " : ":");
            }
            write_json(b, obj ? json_object_get(v, names[i]) : json_array_get(v, i), indent, depth + 1);
        }
        if (indent >= 0 && obj && n) cn_buf_printf(b, "\n%*s", indent * depth, "");
        else if (indent >= 0 && n) cn_buf_putc(b, ' ');
        cn_buf_putc(b, obj ? '}' : ']');
        cn_free(names);
    } else {
        char *t = json_dumps(v, JSON_ENCODE_ANY);
        cn_buf_puts(b, t ? t : "null");
        cn_free_libc(t); /* jansson's allocation */
    }
}

int cn_run_fetch(const CnRunArgs *a, CnErr *err) {
    CnKv *kv = NULL;
    CnConf *conf = NULL;
    CnEngServing *sv = NULL;
    CnBatch *keys = NULL;
    json_t *reqs = NULL;
    CnKvSlice *ks = NULL, *vs = NULL;
    CnBuf kb = CN_BUF_INIT;
    CnArena ar;
    cn_arena_init(&ar, 0);
    Env e;
    int rc = 0;
    const char *type = cn_run_extra(a, "--type", NULL);
    const char *name = cn_run_extra(a, "--name", NULL);
    if (!type) type = !strcmp(a->conf_type, "joins") ? "join" : "group-by";
    if (strcmp(type, "group-by") && strcmp(type, "group_by") && strcmp(type, "group_bys")) {
        if (!strcmp(type, "join") || !strcmp(type, "joins") || !strcmp(type, "join-stats"))
            return cn_err_set(err, CN_EUNSUPPORTED, "fetch --type %s: join fetch is not in this build of chronon-c yet "
                              "(GroupBys: --conf-type group_bys or --type group-by)", type);
        return cn_err_set(err, CN_EINVAL, "--type: unknown type '%s' (expected group-by or join)", type);
    }
    if (!name || !*name) return cn_err_set(err, CN_EINVAL, "fetch needs --name <team>/<name>, e.g. --name my_team/user_purchase_features.v1");
    int64_t q;
    const char *at = cn_run_extra(a, "--at-millis", "--ts");
    if (at) {
        char *end = NULL;
        errno = 0;
        long long x = strtoll(at, &end, 10);
        if (!*at || *end || errno || x < 0)
            return cn_err_set(err, CN_EINVAL, "--at-millis: invalid value '%s' (expected epoch milliseconds)", at);
        q = x;
    } else {
        struct timeval tv;
        gettimeofday(&tv, NULL);
        q = (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
    }
    rc = read_requests(a, &reqs, err);
    if (rc == 0) rc = resolve_env(a, &e, err);
    if (rc) goto done;
    CnKvOptions ko;
    memset(&ko, 0, sizeof ko);
    ko.read_only = true;
    rc = cn_kv_open(e.kv, &ko, &kv, err);
    if (rc == CN_ENOTFOUND) {
        cn_err_clear(err);
        rc = cn_err_set(err, CN_ENOTFOUND, "online store %s does not exist yet; run --mode upload (and metadata-upload) first", e.kv);
    }
    if (rc == 0) rc = find_conf(kv, &e, name, &ar, &conf, err);
    if (rc == 0 && !conf->group_by) rc = cn_err_set(err, CN_ECONFIG, "--name %s: not a GroupBy", name);
    if (rc == 0) rc = cn_eng_serving_load(kv, conf->group_by->meta.name, &sv, err);
    if (rc) goto done;
    if (q >= cn_eng_serving_exact_until(sv))
        fprintf(stderr, "fetch %s: warning: q=%lld is 2 days or more past the uploaded day %s; windows longer than 2 days "
                "may still count rows that left them (upload a newer day)\n",
                name, (long long)q, cn_eng_serving_end_ds(sv));
    if (conf->group_by->n_derivations)
        fprintf(stderr, "fetch %s: warning: the GroupBy's derivations are not applied at fetch in this build; "
                "values are the aggregation columns\n", name);
    /* keys: one batch row per request, then one multi-get */
    const CnSchema *kschema = cn_eng_serving_key_schema(sv);
    size_t n = json_array_size(reqs);
    rc = cn_col_batch_new(kschema, &keys, err);
    if (rc) goto done;
    for (size_t i = 0; i < n && rc == 0; i++) {
        json_t *r = json_array_get(reqs, i);
        for (uint32_t c = 0; c < kschema->n_fields && rc == 0; c++) {
            const char *kn = kschema->fields[c].name;
            json_t *v = json_object_get(r, kn);
            if (!v) {
                CnBuf have = CN_BUF_INIT;
                for (uint32_t k = 0; k < kschema->n_fields; k++)
                    cn_buf_printf(&have, "%s%s", k ? ", " : "", kschema->fields[k].name);
                char rb[256];
                rc = cn_err_set(err, CN_EINVAL, "request %s: missing key column \"%s\" (GroupBy %s keys: %s)",
                                json_text(r, rb, sizeof rb), kn, conf->group_by->meta.name, have.data);
                cn_buf_fini(&have);
                break;
            }
            rc = append_key(&keys->cols[c], kn, v, err);
        }
    }
    if (rc == 0) rc = cn_col_batch_sync_rows(keys, err);
    if (rc) goto done;
    ks = cn_calloc(n + 1, sizeof *ks);
    vs = cn_calloc(n + 1, sizeof *vs);
    bool *has = cn_arena_calloc(&ar, n + 1);
    if (!ks || !vs || !has) {
        rc = cn_err_set(err, CN_ENOMEM, "out of memory");
        goto done;
    }
    size_t nk = 0;
    for (size_t i = 0; i < n; i++) {
        has[i] = cn_eng_serving_key(sv, keys, (uint32_t)i, &kb);
        if (!has[i]) continue; /* a null key has no data */
        uint8_t *copy = cn_arena_alloc(&ar, kb.len);
        if (!copy) {
            rc = cn_err_set(err, CN_ENOMEM, "out of memory");
            goto done;
        }
        memcpy(copy, kb.data, kb.len);
        ks[nk].data = copy;
        ks[nk++].len = kb.len;
    }
    if (nk) rc = cn_kv_multi_get(kv, cn_eng_serving_dataset(sv), ks, nk, vs, &ar, err);
    if (rc) goto done;
    /* answers are built first and printed at the end: an error prints nothing */
    json_t *outs = json_array();
    for (size_t i = 0, j = 0; i < n && rc == 0; i++) {
        json_t *o = json_object();
        CnKvSlice v = {NULL, 0};
        if (has[i]) v = vs[j++];
        rc = cn_eng_serving_values(sv, v.data, v.len, q, o, err);
        if (rc == 0 && !v.data) {
            char rb[256];
            fprintf(stderr, "fetch %s: no data present for the provided key %s\n", name,
                    json_text(json_array_get(reqs, i), rb, sizeof rb));
        }
        json_array_append_new(outs, o);
    }
    /* Chronon prints the map sorted by name; one indented object for one request, one
     * line per request otherwise */
    for (size_t i = 0; rc == 0 && i < n; i++) {
        CnBuf ob = CN_BUF_INIT;
        write_json(&ob, json_array_get(outs, i), n == 1 ? 2 : -1, 0);
        if (ob.oom) rc = cn_err_set(err, CN_ENOMEM, "out of memory");
        else puts(ob.data);
        cn_buf_fini(&ob);
    }
    json_decref(outs);
done:
    cn_free(ks);
    cn_free(vs);
    cn_buf_fini(&kb);
    cn_col_batch_free(keys);
    json_decref(reqs);
    cn_eng_serving_free(sv);
    cn_conf_free(conf);
    cn_kv_close(kv);
    cn_arena_fini(&ar);
    return rc;
}
