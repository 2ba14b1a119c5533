/* cmd_online.c: `chronon run` modes upload, metadata-upload and fetch (GroupBys).
 * The online store is $CHRONON_ONLINE, else lmdb:<warehouse>/online. Upload lives in
 * src/engine/online.c and fetch by name in src/engine/fetch.c; this file parses the
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
#include "engine/fetch.h"
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

static int cmp_str(const void *x, const void *y) {
    return strcmp(*(const char *const *)x, *(const char *const *)y);
}

/* The metadata entries of one upload: keys and values live in the arena. */
typedef struct MetaEntries {
    CnKvSlice *keys, *vals;
    const char **shown; /* each entry's file, as printed */
    size_t n, cap;
} MetaEntries;

/* Adds the entry of one compiled file (shown: its path as the user named it). A
 * StagingQuery met while walking a folder is skipped (Chronon's metadata holds GroupBys
 * and Joins); named alone it is an error. */
static int meta_add(CnArena *ar, const char *path, const char *shown, bool walking, MetaEntries *m, CnErr *err) {
    CnConf *conf = NULL;
    char *text = NULL;
    size_t len = 0;
    int rc = cn_conf_load(path, &conf, err);
    if (rc == 0 && !conf->group_by && !conf->join && walking) goto done;
    if (rc == 0 && !conf->group_by && !conf->join)
        rc = cn_err_set(err, CN_ECONFIG, "%s: metadata-upload takes a GroupBy or a Join, this is a %s", shown,
                        cn_conf_kind_name(conf->kind));
    if (rc == 0 && (!conf->meta || !conf->meta->name))
        rc = cn_err_set(err, CN_ECONFIG, "%s: metaData.name is not set", shown);
    if (rc == 0) rc = cn_fs_read_all(path, &text, &len, err);
    if (rc == 0 && m->n == m->cap) {
        size_t cap = m->cap ? 2 * m->cap : 16;
        CnKvSlice *k = cn_arena_alloc(ar, cap * sizeof *k), *v = cn_arena_alloc(ar, cap * sizeof *v);
        const char **sh = cn_arena_alloc(ar, cap * sizeof *sh);
        if (!k || !v || !sh) rc = cn_err_set(err, CN_ENOMEM, "out of memory");
        else if (m->n)
            memcpy(k, m->keys, m->n * sizeof *k), memcpy(v, m->vals, m->n * sizeof *v),
                memcpy(sh, m->shown, m->n * sizeof *sh);
        if (rc == 0) m->keys = k, m->vals = v, m->shown = sh, m->cap = cap;
    }
    if (rc == 0) {
        char *key = metadata_key(ar, conf->group_by ? "group_bys" : "joins", conf->meta->name);
        char *val = cn_arena_strndup(ar, text, len);
        if (!key || !val) rc = cn_err_set(err, CN_ENOMEM, "out of memory");
        else {
            m->keys[m->n] = (CnKvSlice){(const uint8_t *)key, strlen(key)};
            m->shown[m->n] = shown;
            m->vals[m->n++] = (CnKvSlice){(const uint8_t *)val, len};
        }
    }
done:
    cn_free(text);
    cn_conf_free(conf);
    return rc;
}

/* Every compiled file under dir (sorted, recursively; dot files skipped), as Chronon's
 * metadata-upload of a folder. */
static int meta_add_dir(CnArena *ar, const char *dir, MetaEntries *m, CnErr *err) {
    DIR *d = opendir(dir);
    if (!d) return cn_err_set(err, CN_ENOTFOUND, "%s: cannot read the folder: %s", dir, strerror(errno));
    char **names = NULL;
    size_t n = 0, cap = 0;
    int rc = 0;
    for (struct dirent *de; rc == 0 && (de = readdir(d)) != NULL;) {
        if (de->d_name[0] == '.') continue;
        if (n == cap) {
            char **t = cn_realloc(names, (cap = cap ? 2 * cap : 32) * sizeof *t);
            if (!t) rc = cn_err_set(err, CN_ENOMEM, "out of memory");
            else names = t;
        }
        if (rc == 0 && !(names[n++] = cn_arena_printf(ar, "%s/%s", dir, de->d_name)))
            rc = cn_err_set(err, CN_ENOMEM, "out of memory");
    }
    closedir(d);
    if (rc == 0 && n) qsort(names, n, sizeof *names, cmp_str);
    for (size_t i = 0; i < n && rc == 0; i++)
        rc = cn_fs_is_dir(names[i]) ? meta_add_dir(ar, names[i], m, err) : meta_add(ar, names[i], names[i], true, m, err);
    cn_free(names);
    return rc;
}

/* One compiled file, or every one under a folder (Chronon's MetadataUploader takes
 * both): all are read and checked first, then written in one multi-put, so a bad file
 * uploads nothing. */
int cn_run_metadata_upload(const CnRunArgs *a, CnErr *err) {
    CnKv *kv = NULL;
    CnArena ar;
    cn_arena_init(&ar, 0);
    Env e;
    MetaEntries m = {0};
    int rc = cn_fs_is_dir(a->conf_path) ? meta_add_dir(&ar, a->conf_path, &m, err)
                                         : meta_add(&ar, a->conf_path, a->conf, false, &m, err);
    if (rc == 0 && m.n == 0)
        rc = cn_err_set(err, CN_ENOTFOUND, "--conf %s: no compiled GroupBy or Join under it", a->conf);
    if (rc == 0) rc = resolve_env(a, &e, err);
    if (rc == 0) rc = cn_kv_open(e.kv, NULL, &kv, err);
    if (rc == 0) rc = cn_kv_dataset_create(kv, CN_KV_METADATA_DATASET, err);
    if (rc == 0) rc = cn_kv_multi_put(kv, CN_KV_METADATA_DATASET, m.keys, m.vals, m.n, err);
    for (size_t i = 0; rc == 0 && i < m.n; i++)
        fprintf(stderr, "metadata-upload: %s -> %s/%.*s in %s\n", m.shown[i], CN_KV_METADATA_DATASET,
                (int)m.keys[i].len, (const char *)m.keys[i].data, cn_kv_uri(kv));
    cn_kv_close(kv);
    cn_arena_fini(&ar);
    return rc;
}

/* ------------------------------------------------------------------ fetch */


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

static void print_note(void *ud, const char *msg) {
    (void)ud;
    fprintf(stderr, "%s\n", msg);
}

int cn_run_fetch(const CnRunArgs *a, CnErr *err) {
    CnFetcher *fe = NULL;
    json_t *reqs = NULL, *outs = NULL;
    Env e;
    int rc = 0;
    const char *type = cn_run_extra(a, "--type", NULL);
    const char *name = cn_run_extra(a, "--name", NULL);
    CnFetchKind kind = CN_FETCH_GROUPBY;
    if (!type) type = !strcmp(a->conf_type, "joins") ? "join" : "group-by";
    if (!strcmp(type, "join") || !strcmp(type, "joins")) kind = CN_FETCH_JOIN;
    else if (!strcmp(type, "join-stats"))
        return cn_err_set(err, CN_EUNSUPPORTED, "fetch --type join-stats: not in this build of chronon-c "
                          "(join fetch: --type join; GroupBys: --type group-by)");
    else if (strcmp(type, "group-by") && strcmp(type, "group_by") && strcmp(type, "group_bys"))
        return cn_err_set(err, CN_EINVAL, "--type: unknown type '%s' (expected group-by or join)", type);
    char conf_name[512];
    if ((!name || !*name) && a->conf) {
        /* as Chronon's fetch, --conf names the config too: its path's <team>/<name> */
        const char *last = strrchr(a->conf, '/');
        snprintf(conf_name, sizeof conf_name, "%s/%s", a->team, last ? last + 1 : a->conf);
        name = conf_name;
    }
    if (!name || !*name)
        return cn_err_set(err, CN_EINVAL, "fetch needs --name <team>/<name> (e.g. --name my_team/user_purchase_features.v1) "
                          "or --conf production/<group_bys|joins>/<team>/<name>");
    int64_t q = CN_FETCH_NOW;
    const char *at = cn_run_extra(a, "--at-millis", "--ts");
    if (at) {
        char *end = NULL;
        errno = 0;
        long long x = strtoll(at, &end, 10);
        if (!*at || *end || errno || x < 0)
            return cn_err_set(err, CN_EINVAL, "--at-millis/--ts: invalid value '%s' (expected epoch milliseconds)", at);
        q = x;
    }
    rc = read_requests(a, &reqs, err);
    if (rc == 0) rc = resolve_env(a, &e, err);
    if (rc == 0) rc = cn_fetcher_open(e.kv, e.root, &fe, err);
    if (rc) goto done;
    cn_fetcher_set_notes(fe, print_note, NULL);
    rc = cn_fetcher_fetch_json(fe, kind, name, reqs, q, &outs, err);
    if (rc && kind == CN_FETCH_JOIN) rc = cn_err_ctx(err, rc, "join fetch");
    if (rc) goto done;
    /* a key map that failed fails the command: nothing is printed */
    size_t n = json_array_size(outs);
    for (size_t i = 0; i < n; i++) {
        const char *m = json_string_value(json_object_get(json_array_get(outs, i), "error"));
        if (m) {
            rc = cn_err_set(err, CN_EINVAL, "%s", m);
            goto done;
        }
    }
    /* Chronon prints the map sorted by name; one indented object for one request, one
     * line per request otherwise */
    for (size_t i = 0; rc == 0 && i < n; i++) {
        CnBuf ob = CN_BUF_INIT;
        write_json(&ob, json_object_get(json_array_get(outs, i), "values"), n == 1 ? 2 : -1, 0);
        if (ob.oom) rc = cn_err_set(err, CN_ENOMEM, "out of memory");
        else puts(ob.data);
        cn_buf_fini(&ob);
    }
done:
    json_decref(outs);
    json_decref(reqs);
    cn_fetcher_close(fe);
    return rc;
}
