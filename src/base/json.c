/* json.c: jansson loading with precise error messages. */
#include "base/json.h"

#include "base/alloc.h"
#include "base/fs.h"

int cn_json_loadb(const char *name, const char *buf, size_t len, json_t **out, CnErr *err) {
    json_error_t je;
    *out = json_loadb(buf, len, 0, &je);
    if (!*out)
        return cn_err_set(err, CN_ECORRUPT, "%s:%d:%d: malformed JSON: %s", name, je.line,
                          je.column, je.text);
    return 0;
}

int cn_json_load_file(const char *path, json_t **out, CnErr *err) {
    char *buf = NULL;
    size_t len = 0;
    *out = NULL;
    int rc = cn_fs_read_all(path, &buf, &len, err);
    if (rc) return rc;
    rc = cn_json_loadb(path, buf, len, out, err);
    cn_free(buf);
    return rc;
}

const char *cn_json_type_name(const json_t *v) {
    if (!v) return "missing";
    switch (json_typeof(v)) {
    case JSON_OBJECT: return "object";
    case JSON_ARRAY: return "array";
    case JSON_STRING: return "string";
    case JSON_INTEGER: return "integer";
    case JSON_REAL: return "number";
    case JSON_TRUE:
    case JSON_FALSE: return "boolean";
    case JSON_NULL: return "null";
    }
    return "unknown";
}
