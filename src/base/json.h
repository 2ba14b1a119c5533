/* json.h: loading JSON with errors that name the file, line and column.
 * Thin helpers over jansson; values stay jansson's (json_t, refcounted). */
#ifndef CN_JSON_H
#define CN_JSON_H

#include <jansson.h>

#include "base/err.h"

/* OWNED: *out (json_decref). Errors: CN_ENOTFOUND, CN_ECORRUPT ("file:line:col: ..."). */
int cn_json_load_file(const char *path, json_t **out, CnErr *err);
/* name is used in messages only. */
int cn_json_loadb(const char *name, const char *buf, size_t len, json_t **out, CnErr *err);
/* Human name of a JSON type ("object", "string", ...). */
const char *cn_json_type_name(const json_t *v);

#endif /* CN_JSON_H */
