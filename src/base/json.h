/* json.h: loading JSON with errors that name the file, line and column.
 * Thin helpers over jansson; values stay jansson's (json_t, refcounted). */
#ifndef CN_JSON_H
#define CN_JSON_H

#include <jansson.h>

#include "base/err.h"
#include "base/str.h"

/* OWNED: *out (json_decref). Errors: CN_ENOTFOUND, CN_ECORRUPT ("file:line:col: ..."). */
int cn_json_load_file(const char *path, json_t **out, CnErr *err);
/* name is used in messages only. */
int cn_json_loadb(const char *name, const char *buf, size_t len, json_t **out, CnErr *err);
/* Human name of a JSON type ("object", "string", ...). */
const char *cn_json_type_name(const json_t *v);

/* Room for any text cn_json_real_text writes. */
#define CN_JSON_REAL_MAX 40
/* d as the shortest decimal that reads back as d (Java's and Chronon's form: 250.6,
 * not 250.59999999999999; "1.0" for integral values; an exponent only outside
 * [1e-4, 1e15)), NaN and infinities as null. Not NUL-terminated; returns the length. */
size_t cn_json_real_text(double d, char out[CN_JSON_REAL_MAX]);
/* The double that the JSON number text [s, s+n) denotes, rounded exactly as strtod
 * rounds it (the common shapes without strtod's cost). */
double cn_json_real_parse(const char *s, size_t n);
/* Just past the closing quote of the JSON string whose opening quote is at p, or NULL
 * when the text ends first. */
const char *cn_json_string_end(const char *p, const char *end);
/* Appends the JSON text [s, s+n) to b with each number of 16 or more significant digits
 * (jansson prints doubles with 17: 250.59999999999999) rewritten in the shortest form
 * that reads back as the same double (250.6). */
void cn_json_copy_short_reals(CnBuf *b, const char *s, size_t n);

#endif /* CN_JSON_H */
