/* api.c: the public fetch API of include/chronon.h over CnFetcher (src/engine/fetch.h).
 * A chronon_client is a CnFetcher; the API adds text JSON in and out and a per-thread
 * last-error message (the only thread-local state: the public calls have no CnErr). */
#include "base/compat.h"

#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "base/alloc.h"
#include "base/err.h"
#include "base/str.h"
#include "chronon.h"
#include "engine/fetch.h"

struct chronon_client {
    CnFetcher *f;
};

static _Thread_local char last_error[CN_ERR_MSG_MAX];

static int fail(int rc, const CnErr *err) {
    snprintf(last_error, sizeof last_error, "%s", err && err->code ? cn_err_msg(err) : chronon_strerror(rc));
    return rc;
}

const char *chronon_last_error(void) {
    return last_error;
}

void chronon_free(void *p) {
    cn_free_libc(p); /* jansson's json_dumps allocation */
}

int chronon_client_open(const char *online_uri, const char *repo, chronon_client **out) {
    CnErr err = CN_ERR_INIT;
    if (!out) return fail(cn_err_set(&err, CN_EINVAL, "chronon_client_open: out is NULL"), &err);
    *out = NULL;
    chronon_client *c = cn_calloc(1, sizeof *c);
    if (!c) return fail(cn_err_set(&err, CN_ENOMEM, "out of memory"), &err);
    int rc = cn_fetcher_open(online_uri, repo, &c->f, &err);
    if (rc) {
        cn_free(c);
        return fail(rc, &err);
    }
    *out = c;
    last_error[0] = 0;
    return 0;
}

void chronon_client_close(chronon_client *client) {
    if (!client) return;
    cn_fetcher_close(client->f);
    cn_free(client);
}

/* keys_json parsed, after the checks every call makes. OWNED: *keys. */
static int parse_keys(chronon_client *client, chronon_kind kind, const char *name, const char *keys_json, json_t **keys,
                      CnErr *err) {
    *keys = NULL;
    if (!client || !name || !keys_json)
        return cn_err_set(err, CN_EINVAL, "chronon_fetch: client, name and keys_json must not be NULL");
    if (kind != CHRONON_GROUPBY && kind != CHRONON_JOIN)
        return cn_err_set(err, CN_EINVAL, "chronon_fetch %s: kind %d is neither CHRONON_GROUPBY nor CHRONON_JOIN", name,
                          (int)kind);
    json_error_t je;
    *keys = json_loads(keys_json, JSON_DECODE_ANY, &je);
    if (!*keys)
        return cn_err_set(err, CN_EINVAL, "chronon_fetch %s: keys_json is not valid JSON (%s at column %d); expected "
                          "an array of key objects like [{\"user_id\":\"5\"}]", name, je.text, je.column);
    return 0;
}

/* The fetcher's JSON answer for keys_json. OWNED: *out. */
static int fetch(chronon_client *client, chronon_kind kind, const char *name, const char *keys_json, int64_t ts_ms,
                 json_t **out, CnErr *err) {
    *out = NULL;
    json_t *keys = NULL;
    int rc = parse_keys(client, kind, name, keys_json, &keys, err);
    if (rc == 0)
        rc = cn_fetcher_fetch_json(client->f, kind == CHRONON_JOIN ? CN_FETCH_JOIN : CN_FETCH_GROUPBY, name, keys,
                                   ts_ms == CHRONON_NOW ? CN_FETCH_NOW : ts_ms, out, err);
    json_decref(keys);
    return rc;
}

int chronon_fetch_json(chronon_client *client, chronon_kind kind, const char *name, const char *keys_json,
                       int64_t ts_ms, char **result_json) {
    CnErr err = CN_ERR_INIT;
    if (!result_json) return fail(cn_err_set(&err, CN_EINVAL, "chronon_fetch_json: result_json is NULL"), &err);
    *result_json = NULL;
    json_t *keys = NULL;
    int rc = parse_keys(client, kind, name, keys_json, &keys, &err);
    CnBuf out = CN_BUF_INIT;
    /* the typed path writes the text json_dumps(JSON_COMPACT | JSON_SORT_KEYS) gives */
    if (rc == 0)
        rc = cn_fetcher_fetch_text(client->f, kind == CHRONON_JOIN ? CN_FETCH_JOIN : CN_FETCH_GROUPBY, name, keys,
                                   ts_ms == CHRONON_NOW ? CN_FETCH_NOW : ts_ms, &out, &err);
    json_decref(keys);
    if (rc == 0 && (out.oom || !out.data)) rc = cn_err_set(&err, CN_ENOMEM, "out of memory");
    if (rc) {
        cn_buf_fini(&out);
        return fail(rc, &err);
    }
    *result_json = cn_buf_take(&out); /* cn_malloc is malloc: chronon_free frees it */
    last_error[0] = 0;
    return 0;
}

int chronon_fetch_double(chronon_client *client, chronon_kind kind, const char *name, const char *key_name,
                         const char *key_value, const char *feature, int64_t ts_ms, double *value, int *is_null) {
    CnErr err = CN_ERR_INIT;
    json_t *res = NULL;
    char *keys_json = NULL;
    int rc = 0;
    if (!key_name || !key_value || !feature || !value || !is_null) {
        rc = cn_err_set(&err, CN_EINVAL, "chronon_fetch_double: key_name, key_value, feature, value and is_null must "
                        "not be NULL");
        goto done;
    }
    *value = 0;
    *is_null = 1;
    json_t *keys = json_pack("[{s:s}]", key_name, key_value);
    keys_json = keys ? json_dumps(keys, JSON_COMPACT) : NULL;
    json_decref(keys);
    if (!keys_json) {
        rc = cn_err_set(&err, CN_ENOMEM, "out of memory");
        goto done;
    }
    rc = fetch(client, kind, name, keys_json, ts_ms, &res, &err);
    if (rc) goto done;
    json_t *one = json_array_get(res, 0);
    const char *emsg = json_string_value(json_object_get(one, "error"));
    if (emsg) {
        rc = cn_err_set(&err, CN_EINVAL, "%s", emsg);
        goto done;
    }
    json_t *vals = json_object_get(one, "values");
    json_t *v = json_object_get(vals, feature);
    if (!v) {
        /* a Join part without data has no entries: a known feature name is then null */
        if (json_object_size(vals) == 0 && kind == CHRONON_JOIN) goto done;
        rc = cn_err_set(&err, CN_ENOTFOUND, "chronon_fetch_double %s: no feature \"%s\" in the response (%zu features)",
                        name, feature, json_object_size(vals));
        goto done;
    }
    if (json_is_null(v)) goto done;
    if (!json_is_number(v)) {
        rc = cn_err_set(&err, CN_ETYPE, "chronon_fetch_double %s: feature \"%s\" is not a number", name, feature);
        goto done;
    }
    *value = json_number_value(v);
    *is_null = 0;
done:
    cn_free_libc(keys_json); /* jansson's allocation */
    json_decref(res);
    if (rc) return fail(rc, &err);
    last_error[0] = 0;
    return 0;
}
