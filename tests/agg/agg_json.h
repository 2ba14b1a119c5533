/* agg_json.h: JSON <-> column helpers shared by the agg tests and agg_driver.
 * fill() appends a JSON value to a vector of any supported type (floats also accept
 * "NaN", "Infinity", "-Infinity"); to_json() prints entry i (NaN and infinities as
 * those strings, float32 with 9 digits, float64 with 17). */
#ifndef CN_AGG_JSON_H
#define CN_AGG_JSON_H

#include <math.h>
#include <string.h>

#include <jansson.h>

#include "base/str.h"
#include "col/col.h"

static inline int fill(CnVec *v, json_t *j) {
    if (!j || json_is_null(j)) return cn_col_vec_append_null(v);
    switch (v->type->id) {
    case CN_COL_BOOL: return cn_col_vec_append_bool(v, json_is_true(j));
    case CN_COL_INT32: return cn_col_vec_append_i32(v, (int32_t)json_integer_value(j));
    case CN_COL_INT64: return cn_col_vec_append_i64(v, (int64_t)json_integer_value(j));
    case CN_COL_FLOAT32: case CN_COL_FLOAT64: {
        double d;
        if (json_is_string(j)) {
            const char *s = json_string_value(j);
            d = strcmp(s, "NaN") == 0 ? NAN : strcmp(s, "Infinity") == 0 ? INFINITY : -INFINITY;
        } else {
            d = json_number_value(j);
        }
        return v->type->id == CN_COL_FLOAT32 ? cn_col_vec_append_f32(v, (float)d)
                                             : cn_col_vec_append_f64(v, d);
    }
    case CN_COL_STRING: case CN_COL_BINARY:
        return cn_col_vec_append_str(v, json_string_value(j), json_string_length(j));
    case CN_COL_LIST: {
        size_t i;
        json_t *e;
        json_array_foreach(j, i, e) {
            if (fill(&v->child[0], e)) return CN_ENOMEM;
        }
        return cn_col_vec_close_list(v);
    }
    case CN_COL_MAP: {
        const char *k;
        json_t *e;
        json_object_foreach(j, k, e) {
            if (cn_col_vec_append_str(&v->child[0], k, strlen(k)) || fill(&v->child[1], e))
                return CN_ENOMEM;
        }
        return cn_col_vec_close_list(v);
    }
    default: return CN_EINVAL;
    }
}

static inline void put_str(CnBuf *b, const char *s, uint32_t len) {
    cn_buf_putc(b, '"');
    for (uint32_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') {
            cn_buf_putc(b, '\\');
            cn_buf_putc(b, (char)c);
        } else if (c < 0x20) {
            cn_buf_printf(b, "\\u%04x", c);
        } else {
            cn_buf_putc(b, (char)c);
        }
    }
    cn_buf_putc(b, '"');
}

static inline void put_dbl(CnBuf *b, double d, int prec) {
    if (d != d)
        cn_buf_puts(b, "\"NaN\"");
    else if (d == INFINITY)
        cn_buf_puts(b, "\"Infinity\"");
    else if (d == -INFINITY)
        cn_buf_puts(b, "\"-Infinity\"");
    else
        cn_buf_printf(b, "%.*g", prec, d);
}

static inline void to_json(CnBuf *b, const CnVec *v, uint32_t i) {
    if (!cn_col_vec_is_valid(v, i)) {
        cn_buf_puts(b, "null");
        return;
    }
    switch (v->type->id) {
    case CN_COL_BOOL: cn_buf_puts(b, ((const uint8_t *)v->values)[i] ? "true" : "false"); break;
    case CN_COL_INT32: cn_buf_printf(b, "%d", ((const int32_t *)v->values)[i]); break;
    case CN_COL_INT64: cn_buf_printf(b, "%lld", (long long)((const int64_t *)v->values)[i]); break;
    case CN_COL_FLOAT32: put_dbl(b, ((const float *)v->values)[i], 9); break;
    case CN_COL_FLOAT64: put_dbl(b, ((const double *)v->values)[i], 17); break;
    case CN_COL_STRING: case CN_COL_BINARY: {
        uint32_t len;
        const char *s = cn_col_vec_str(v, i, &len);
        put_str(b, s, len);
        break;
    }
    case CN_COL_LIST:
        cn_buf_putc(b, '[');
        for (uint32_t e = v->offsets[i]; e < v->offsets[i + 1]; e++) {
            if (e > v->offsets[i]) cn_buf_putc(b, ',');
            to_json(b, &v->child[0], e);
        }
        cn_buf_putc(b, ']');
        break;
    case CN_COL_MAP:
        cn_buf_putc(b, '{');
        for (uint32_t e = v->offsets[i]; e < v->offsets[i + 1]; e++) {
            if (e > v->offsets[i]) cn_buf_putc(b, ',');
            to_json(b, &v->child[0], e);
            cn_buf_putc(b, ':');
            to_json(b, &v->child[1], e);
        }
        cn_buf_putc(b, '}');
        break;
    default: cn_buf_puts(b, "\"?\""); break;
    }
}

#endif /* CN_AGG_JSON_H */
