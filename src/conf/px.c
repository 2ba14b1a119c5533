/* px.c: typed field readers over jansson that keep the JSON path for messages.
 * Every reader names the file and path and says what was expected, so a user can fix a
 * hand-edited compiled file without reading our code. */
#include "conf/conf_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "base/json.h"
#include "base/str.h"

size_t cn_conf__push_key(CnConfPx *px, const char *key) {
    size_t old = px->path_len;
    int n = snprintf(px->path + old, sizeof px->path - old, "%s%s", old ? "." : "", key);
    if (n > 0) px->path_len = CN_MIN(old + (size_t)n, sizeof px->path - 1);
    return old;
}

size_t cn_conf__push_idx(CnConfPx *px, size_t i) {
    size_t old = px->path_len;
    int n = snprintf(px->path + old, sizeof px->path - old, "[%zu]", i);
    if (n > 0) px->path_len = CN_MIN(old + (size_t)n, sizeof px->path - 1);
    return old;
}

void cn_conf__pop(CnConfPx *px, size_t old_len) {
    px->path_len = old_len;
    px->path[old_len] = 0;
}

int cn_conf__fail(CnConfPx *px, int code, const char *fmt, ...) {
    char msg[CN_ERR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (px->path_len) return cn_err_set(px->err, code, "%s: %s: %s", px->file, px->path, msg);
    return cn_err_set(px->err, code, "%s: %s", px->file, msg);
}

int cn_conf__oom(CnConfPx *px) {
    return cn_conf__fail(px, CN_ENOMEM, "out of memory");
}

int cn_conf__check_keys(CnConfPx *px, json_t *obj, const char *what, const char *const *allowed) {
    const char *key;
    json_t *v;
    json_object_foreach(obj, key, v) {
        bool ok = false;
        for (const char *const *k = allowed; *k; k++)
            if (!strcmp(*k, key)) {
                ok = true;
                break;
            }
        if (ok) continue;
        char list[400];
        size_t len = 0;
        list[0] = 0;
        for (const char *const *k = allowed; *k && len < sizeof list - 1; k++) {
            int n = snprintf(list + len, sizeof list - len, "%s%s", k == allowed ? "" : ", ", *k);
            if (n < 0) break;
            len = CN_MIN(len + (size_t)n, sizeof list - 1);
        }
        return cn_conf__fail(px, CN_ECONFIG, "unknown %s field \"%s\" (expected one of: %s)", what,
                             key, list);
    }
    return 0;
}

/* Value of key, or NULL when absent or JSON null. */
static json_t *field(json_t *obj, const char *key) {
    json_t *v = json_object_get(obj, key);
    return (v && json_is_null(v)) ? NULL : v;
}

static int missing(CnConfPx *px, const char *key, const char *type) {
    size_t old = cn_conf__push_key(px, key);
    int rc = cn_conf__fail(px, CN_ECONFIG, "required field is missing (expected %s)", type);
    cn_conf__pop(px, old);
    return rc;
}

static int wrong_type(CnConfPx *px, const char *key, json_t *v, const char *expected) {
    size_t old = key ? cn_conf__push_key(px, key) : px->path_len;
    int rc = cn_conf__fail(px, CN_ECONFIG, "expected %s, got %s", expected, cn_json_type_name(v));
    cn_conf__pop(px, old);
    return rc;
}

int cn_conf__str(CnConfPx *px, json_t *obj, const char *key, bool required, const char **out) {
    json_t *v = field(obj, key);
    if (!v) return required ? missing(px, key, "a string") : 0;
    if (!json_is_string(v)) return wrong_type(px, key, v, "a string");
    const char *s = cn_arena_strndup(px->a, json_string_value(v), json_string_length(v));
    if (!s) return cn_conf__oom(px);
    *out = s;
    return 0;
}

int cn_conf__bool(CnConfPx *px, json_t *obj, const char *key, int *out) {
    json_t *v = field(obj, key);
    if (!v) return 0;
    if (json_is_boolean(v)) {
        *out = json_is_true(v) ? 1 : 0;
        return 0;
    }
    if (json_is_integer(v) && (json_integer_value(v) == 0 || json_integer_value(v) == 1)) {
        *out = (int)json_integer_value(v);
        return 0;
    }
    if (json_is_integer(v)) {
        size_t old = cn_conf__push_key(px, key);
        int rc = cn_conf__fail(px, CN_ECONFIG, "invalid boolean %lld (expected 0, 1, true or false)",
                               (long long)json_integer_value(v));
        cn_conf__pop(px, old);
        return rc;
    }
    return wrong_type(px, key, v, "a boolean (0, 1, true or false)");
}

int cn_conf__i32(CnConfPx *px, json_t *obj, const char *key, bool required, bool *has,
                 int32_t *out) {
    json_t *v = field(obj, key);
    if (!v) return required ? missing(px, key, "an integer") : 0;
    if (!json_is_integer(v)) return wrong_type(px, key, v, "an integer");
    json_int_t x = json_integer_value(v);
    if (x < INT32_MIN || x > INT32_MAX) {
        size_t old = cn_conf__push_key(px, key);
        int rc = cn_conf__fail(px, CN_ECONFIG, "integer %lld out of range (expected a 32-bit integer)",
                               (long long)x);
        cn_conf__pop(px, old);
        return rc;
    }
    *out = (int32_t)x;
    if (has) *has = true;
    return 0;
}

int cn_conf__double(CnConfPx *px, json_t *obj, const char *key, bool *has, double *out) {
    json_t *v = field(obj, key);
    if (!v) return 0;
    if (!json_is_number(v)) return wrong_type(px, key, v, "a number");
    *out = json_number_value(v);
    *has = true;
    return 0;
}

int cn_conf__enum(CnConfPx *px, json_t *obj, const char *key, const char *enum_name, int n_values,
                  bool required, bool *has, int *out) {
    json_t *v = field(obj, key);
    char expected[96];
    snprintf(expected, sizeof expected, "an integer (%s 0..%d)", enum_name, n_values - 1);
    if (!v) return required ? missing(px, key, expected) : 0;
    if (!json_is_integer(v)) return wrong_type(px, key, v, expected);
    json_int_t x = json_integer_value(v);
    if (x < 0 || x >= n_values) {
        size_t old = cn_conf__push_key(px, key);
        int rc = cn_conf__fail(px, CN_ECONFIG, "unknown %s %lld (expected 0..%d)", enum_name,
                               (long long)x, n_values - 1);
        cn_conf__pop(px, old);
        return rc;
    }
    *out = (int)x;
    if (has) *has = true;
    return 0;
}

int cn_conf__obj(CnConfPx *px, json_t *obj, const char *key, bool required, json_t **out) {
    json_t *v = field(obj, key);
    *out = NULL;
    if (!v) return required ? missing(px, key, "an object") : 0;
    if (!json_is_object(v)) return wrong_type(px, key, v, "an object");
    *out = v;
    return 0;
}

int cn_conf__arr(CnConfPx *px, json_t *obj, const char *key, bool required, json_t **out) {
    json_t *v = field(obj, key);
    *out = NULL;
    if (!v) return required ? missing(px, key, "an array") : 0;
    if (!json_is_array(v)) return wrong_type(px, key, v, "an array");
    *out = v;
    return 0;
}

/* Strings of a JSON array into out (path already at the array). */
static int str_array(CnConfPx *px, json_t *arr, CnStrList *out) {
    size_t n = json_array_size(arr);
    out->n = 0;
    out->items = n ? cn_arena_alloc(px->a, n * sizeof *out->items) : NULL;
    if (n && !out->items) return cn_conf__oom(px);
    for (size_t i = 0; i < n; i++) {
        json_t *e = json_array_get(arr, i);
        if (!json_is_string(e)) {
            size_t old = cn_conf__push_idx(px, i);
            int rc = wrong_type(px, NULL, e, "a string");
            cn_conf__pop(px, old);
            return rc;
        }
        const char *s = cn_arena_strndup(px->a, json_string_value(e), json_string_length(e));
        if (!s) return cn_conf__oom(px);
        out->items[out->n++] = s;
    }
    return 0;
}

int cn_conf__str_list(CnConfPx *px, json_t *obj, const char *key, bool required, bool *has,
                      CnStrList *out) {
    json_t *arr;
    int rc = cn_conf__arr(px, obj, key, required, &arr);
    if (rc || !arr) return rc;
    size_t old = cn_conf__push_key(px, key);
    rc = str_array(px, arr, out);
    cn_conf__pop(px, old);
    if (!rc && has) *has = true;
    return rc;
}

/* Object of strings into out (path already at the object). */
static int str_object(CnConfPx *px, json_t *o, CnStrMap *out) {
    size_t n = json_object_size(o);
    out->n = 0;
    out->keys = n ? cn_arena_alloc(px->a, n * sizeof *out->keys) : NULL;
    out->vals = n ? cn_arena_alloc(px->a, n * sizeof *out->vals) : NULL;
    if (n && (!out->keys || !out->vals)) return cn_conf__oom(px);
    const char *key;
    json_t *v;
    json_object_foreach(o, key, v) {
        if (!json_is_string(v)) return wrong_type(px, key, v, "a string");
        out->keys[out->n] = cn_arena_strdup(px->a, key);
        out->vals[out->n] = cn_arena_strndup(px->a, json_string_value(v), json_string_length(v));
        if (!out->keys[out->n] || !out->vals[out->n]) return cn_conf__oom(px);
        out->n++;
    }
    return 0;
}

int cn_conf__str_map(CnConfPx *px, json_t *obj, const char *key, bool *has, CnStrMap *out) {
    json_t *o;
    int rc = cn_conf__obj(px, obj, key, false, &o);
    if (rc || !o) return rc;
    size_t old = cn_conf__push_key(px, key);
    rc = str_object(px, o, out);
    cn_conf__pop(px, old);
    if (!rc && has) *has = true;
    return rc;
}

int cn_conf__str_map_map(CnConfPx *px, json_t *obj, const char *key, CnStrMapMap *out) {
    json_t *o;
    int rc = cn_conf__obj(px, obj, key, false, &o);
    if (rc || !o) return rc;
    size_t old = cn_conf__push_key(px, key);
    size_t n = json_object_size(o);
    out->n = 0;
    out->keys = n ? cn_arena_alloc(px->a, n * sizeof *out->keys) : NULL;
    out->vals = n ? cn_arena_calloc(px->a, n * sizeof *out->vals) : NULL;
    if (n && (!out->keys || !out->vals)) {
        rc = cn_conf__oom(px);
        goto done;
    }
    const char *k;
    json_t *v;
    json_object_foreach(o, k, v) {
        if (!json_is_object(v)) {
            rc = wrong_type(px, k, v, "an object of strings");
            goto done;
        }
        size_t old2 = cn_conf__push_key(px, k);
        rc = str_object(px, v, &out->vals[out->n]);
        cn_conf__pop(px, old2);
        if (rc) goto done;
        out->keys[out->n] = cn_arena_strdup(px->a, k);
        if (!out->keys[out->n]) {
            rc = cn_conf__oom(px);
            goto done;
        }
        out->n++;
    }
done:
    cn_conf__pop(px, old);
    return rc;
}
