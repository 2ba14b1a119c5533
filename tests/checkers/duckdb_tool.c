/* duckdb_tool.c: runs SQL through DuckDB's C library and prints each result row as one
 * JSON object per line. Tests use it as an independent Parquet checker: DuckDB reads the
 * files we write (read_parquet, parquet_metadata) and writes files for us to read
 * (COPY ... TO ... (FORMAT PARQUET, ...)). It is never part of the product.
 *
 *   duckdb_tool [--db FILE] SQL [SQL ...]
 *
 * Each argument is run in order on one connection (in-memory unless --db). Only
 * statements that return rows print anything. Values print as JSON, the same way
 * `chronon parquet cat --format json` prints them, so outputs compare directly:
 *   integers, floats (%.17g; NaN/Infinity as strings), booleans, strings;
 *   BLOB as a string of its bytes (bytes >= 0x80 as \u00XX); DATE as days, TIMESTAMP
 *   in its own unit (s/ms/us/ns) since the epoch, TIME as micros; DECIMAL as a number;
 *   LIST/ARRAY as arrays; STRUCT as objects; MAP as an object whose keys are the key's
 *   JSON text when the key is not a string.
 * Errors go to stderr as one line; the exit code is 1 on any error, 2 on usage. */
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "duckdb.h"

typedef struct Out {
    char *data;
    size_t len, cap;
} Out;

static void out_grow(Out *o, size_t extra) {
    if (o->len + extra + 1 <= o->cap) return;
    size_t cap = o->cap ? o->cap : 4096;
    while (cap < o->len + extra + 1) cap *= 2;
    char *p = realloc(o->data, cap);
    if (!p) {
        fprintf(stderr, "duckdb_tool: out of memory\n");
        exit(1);
    }
    o->data = p;
    o->cap = cap;
}

static void out_put(Out *o, const char *s, size_t n) {
    out_grow(o, n);
    memcpy(o->data + o->len, s, n);
    o->len += n;
    o->data[o->len] = 0;
}

static void out_puts(Out *o, const char *s) { out_put(o, s, strlen(s)); }

static void out_printf(Out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void out_printf(Out *o, const char *fmt, ...) {
    char tmp[128];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    out_put(o, tmp, (size_t)n);
}

/* JSON string; `bytes` escapes every byte >= 0x80 as \u00XX (BLOB), otherwise UTF-8
 * passes through. */
static void out_json_str(Out *o, const char *s, size_t n, int bytes) {
    out_put(o, "\"", 1);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"') out_puts(o, "\\\"");
        else if (c == '\\') out_puts(o, "\\\\");
        else if (c == '\n') out_puts(o, "\\n");
        else if (c == '\r') out_puts(o, "\\r");
        else if (c == '\t') out_puts(o, "\\t");
        else if (c < 0x20 || c == 0x7f || (bytes && c >= 0x80)) out_printf(o, "\\u%04x", c);
        else out_put(o, (const char *)&c, 1);
    }
    out_put(o, "\"", 1);
}

static void out_double(Out *o, double d) {
    if (isnan(d)) out_puts(o, "\"NaN\"");
    else if (isinf(d)) out_puts(o, d > 0 ? "\"Infinity\"" : "\"-Infinity\"");
    else out_printf(o, "%.17g", d);
}

static void out_decimal(Out *o, __int128 v, int scale) {
    char digits[64];
    int nd = 0, neg = v < 0;
    unsigned __int128 u = neg ? (unsigned __int128)(-(v + 1)) + 1 : (unsigned __int128)v;
    do {
        digits[nd++] = (char)('0' + (int)(u % 10));
        u /= 10;
    } while (u);
    while (nd <= scale) digits[nd++] = '0';
    if (neg) out_put(o, "-", 1);
    for (int i = nd - 1; i >= 0; i--) {
        out_put(o, &digits[i], 1);
        if (i == scale && scale > 0) out_put(o, ".", 1);
    }
}

static int row_valid(duckdb_vector v, idx_t row) {
    uint64_t *validity = duckdb_vector_get_validity(v);
    return !validity || duckdb_validity_row_is_valid(validity, row);
}

static void out_value(Out *o, duckdb_vector v, duckdb_logical_type t, idx_t row);

static void out_string_t(Out *o, duckdb_vector v, idx_t row, int bytes) {
    duckdb_string_t *s = (duckdb_string_t *)duckdb_vector_get_data(v) + row;
    out_json_str(o, duckdb_string_t_data(s), duckdb_string_t_length(*s), bytes);
}

/* The key of a MAP entry as an object key: strings as they are, others as JSON text. */
static void out_map_key(Out *o, duckdb_vector v, duckdb_logical_type t, idx_t row) {
    if (duckdb_get_type_id(t) == DUCKDB_TYPE_VARCHAR) {
        out_string_t(o, v, row, 0);
        return;
    }
    Out tmp = {0};
    out_value(&tmp, v, t, row);
    out_json_str(o, tmp.data ? tmp.data : "", tmp.len, 0);
    free(tmp.data);
}

static void out_value(Out *o, duckdb_vector v, duckdb_logical_type t, idx_t row) {
    if (!row_valid(v, row)) {
        out_puts(o, "null");
        return;
    }
    void *data = duckdb_vector_get_data(v);
    duckdb_type id = duckdb_get_type_id(t);
    switch (id) {
    case DUCKDB_TYPE_BOOLEAN: out_puts(o, ((bool *)data)[row] ? "true" : "false"); break;
    case DUCKDB_TYPE_TINYINT: out_printf(o, "%d", ((int8_t *)data)[row]); break;
    case DUCKDB_TYPE_SMALLINT: out_printf(o, "%d", ((int16_t *)data)[row]); break;
    case DUCKDB_TYPE_INTEGER: out_printf(o, "%" PRId32, ((int32_t *)data)[row]); break;
    case DUCKDB_TYPE_BIGINT: out_printf(o, "%" PRId64, ((int64_t *)data)[row]); break;
    case DUCKDB_TYPE_UTINYINT: out_printf(o, "%u", ((uint8_t *)data)[row]); break;
    case DUCKDB_TYPE_USMALLINT: out_printf(o, "%u", ((uint16_t *)data)[row]); break;
    case DUCKDB_TYPE_UINTEGER: out_printf(o, "%" PRIu32, ((uint32_t *)data)[row]); break;
    case DUCKDB_TYPE_UBIGINT: out_printf(o, "%" PRIu64, ((uint64_t *)data)[row]); break;
    case DUCKDB_TYPE_HUGEINT: {
        duckdb_hugeint h = ((duckdb_hugeint *)data)[row];
        out_decimal(o, (__int128)(((unsigned __int128)(uint64_t)h.upper << 64) | h.lower), 0);
        break;
    }
    case DUCKDB_TYPE_FLOAT: out_double(o, ((float *)data)[row]); break;
    case DUCKDB_TYPE_DOUBLE: out_double(o, ((double *)data)[row]); break;
    case DUCKDB_TYPE_DATE: out_printf(o, "%" PRId32, ((int32_t *)data)[row]); break;
    case DUCKDB_TYPE_TIME:
    case DUCKDB_TYPE_TIMESTAMP:
    case DUCKDB_TYPE_TIMESTAMP_S:
    case DUCKDB_TYPE_TIMESTAMP_MS:
    case DUCKDB_TYPE_TIMESTAMP_NS:
    case DUCKDB_TYPE_TIMESTAMP_TZ: out_printf(o, "%" PRId64, ((int64_t *)data)[row]); break;
    case DUCKDB_TYPE_VARCHAR: out_string_t(o, v, row, 0); break;
    case DUCKDB_TYPE_BLOB: out_string_t(o, v, row, 1); break;
    case DUCKDB_TYPE_DECIMAL: {
        int scale = duckdb_decimal_scale(t);
        __int128 x;
        switch (duckdb_decimal_internal_type(t)) {
        case DUCKDB_TYPE_SMALLINT: x = ((int16_t *)data)[row]; break;
        case DUCKDB_TYPE_INTEGER: x = ((int32_t *)data)[row]; break;
        case DUCKDB_TYPE_BIGINT: x = ((int64_t *)data)[row]; break;
        default: {
            duckdb_hugeint h = ((duckdb_hugeint *)data)[row];
            x = (__int128)(((unsigned __int128)(uint64_t)h.upper << 64) | h.lower);
        }
        }
        out_decimal(o, x, scale);
        break;
    }
    case DUCKDB_TYPE_ENUM: {
        idx_t k;
        switch (duckdb_enum_internal_type(t)) {
        case DUCKDB_TYPE_UTINYINT: k = ((uint8_t *)data)[row]; break;
        case DUCKDB_TYPE_USMALLINT: k = ((uint16_t *)data)[row]; break;
        default: k = ((uint32_t *)data)[row]; break;
        }
        char *s = duckdb_enum_dictionary_value(t, k);
        out_json_str(o, s, strlen(s), 0);
        duckdb_free(s);
        break;
    }
    case DUCKDB_TYPE_LIST:
    case DUCKDB_TYPE_MAP: {
        duckdb_list_entry e = ((duckdb_list_entry *)data)[row];
        duckdb_vector child = duckdb_list_vector_get_child(v);
        duckdb_logical_type ct = duckdb_vector_get_column_type(child);
        if (id == DUCKDB_TYPE_LIST) {
            out_put(o, "[", 1);
            for (idx_t i = 0; i < e.length; i++) {
                if (i) out_put(o, ",", 1);
                out_value(o, child, ct, e.offset + i);
            }
            out_put(o, "]", 1);
        } else {
            duckdb_vector kv = duckdb_struct_vector_get_child(child, 0);
            duckdb_vector vv = duckdb_struct_vector_get_child(child, 1);
            duckdb_logical_type kt = duckdb_struct_type_child_type(ct, 0);
            duckdb_logical_type vt = duckdb_struct_type_child_type(ct, 1);
            out_put(o, "{", 1);
            for (idx_t i = 0; i < e.length; i++) {
                if (i) out_put(o, ",", 1);
                out_map_key(o, kv, kt, e.offset + i);
                out_put(o, ":", 1);
                out_value(o, vv, vt, e.offset + i);
            }
            out_put(o, "}", 1);
            duckdb_destroy_logical_type(&kt);
            duckdb_destroy_logical_type(&vt);
        }
        duckdb_destroy_logical_type(&ct);
        break;
    }
    case DUCKDB_TYPE_ARRAY: {
        idx_t n = duckdb_array_type_array_size(t);
        duckdb_vector child = duckdb_array_vector_get_child(v);
        duckdb_logical_type ct = duckdb_vector_get_column_type(child);
        out_put(o, "[", 1);
        for (idx_t i = 0; i < n; i++) {
            if (i) out_put(o, ",", 1);
            out_value(o, child, ct, row * n + i);
        }
        out_put(o, "]", 1);
        duckdb_destroy_logical_type(&ct);
        break;
    }
    case DUCKDB_TYPE_STRUCT: {
        idx_t n = duckdb_struct_type_child_count(t);
        out_put(o, "{", 1);
        for (idx_t i = 0; i < n; i++) {
            if (i) out_put(o, ",", 1);
            char *name = duckdb_struct_type_child_name(t, i);
            out_json_str(o, name, strlen(name), 0);
            duckdb_free(name);
            out_put(o, ":", 1);
            duckdb_logical_type ct = duckdb_struct_type_child_type(t, i);
            out_value(o, duckdb_struct_vector_get_child(v, i), ct, row);
            duckdb_destroy_logical_type(&ct);
        }
        out_put(o, "}", 1);
        break;
    }
    default:
        fprintf(stderr, "duckdb_tool: result type %d is not printable; cast it in SQL\n", (int)id);
        exit(1);
    }
}

static int print_result(duckdb_result *res) {
    idx_t ncol = duckdb_column_count(res);
    Out o = {0};
    for (;;) {
        duckdb_data_chunk chunk = duckdb_fetch_chunk(*res);
        if (!chunk) break;
        idx_t n = duckdb_data_chunk_get_size(chunk);
        for (idx_t r = 0; r < n; r++) {
            o.len = 0;
            out_put(&o, "{", 1);
            for (idx_t c = 0; c < ncol; c++) {
                if (c) out_put(&o, ",", 1);
                const char *name = duckdb_column_name(res, c);
                out_json_str(&o, name, strlen(name), 0);
                out_put(&o, ":", 1);
                duckdb_vector v = duckdb_data_chunk_get_vector(chunk, c);
                duckdb_logical_type t = duckdb_vector_get_column_type(v);
                out_value(&o, v, t, r);
                duckdb_destroy_logical_type(&t);
            }
            out_put(&o, "}\n", 2);
            fwrite(o.data, 1, o.len, stdout);
        }
        duckdb_destroy_data_chunk(&chunk);
    }
    free(o.data);
    return 0;
}

int main(int argc, char **argv) {
    const char *db_path = NULL;
    int i = 1;
    if (i + 1 < argc && strcmp(argv[i], "--db") == 0) {
        db_path = argv[i + 1];
        i += 2;
    }
    if (i >= argc || strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
        fprintf(stderr, "usage: duckdb_tool [--db FILE] SQL [SQL ...]\n"
                        "Runs each statement in order; prints result rows as JSON lines.\n");
        return 2;
    }
    duckdb_database db = NULL;
    duckdb_connection con = NULL;
    char *open_err = NULL;
    duckdb_config cfg = NULL;
    duckdb_create_config(&cfg);
    /* Tests run offline: never try to download extensions. */
    duckdb_set_config(cfg, "autoinstall_known_extensions", "false");
    duckdb_set_config(cfg, "autoload_known_extensions", "false");
    if (duckdb_open_ext(db_path, &db, cfg, &open_err) == DuckDBError) {
        fprintf(stderr, "duckdb_tool: cannot open database: %s\n", open_err ? open_err : "?");
        duckdb_free(open_err);
        duckdb_destroy_config(&cfg);
        return 1;
    }
    duckdb_destroy_config(&cfg);
    if (duckdb_connect(db, &con) == DuckDBError) {
        fprintf(stderr, "duckdb_tool: cannot connect\n");
        duckdb_close(&db);
        return 1;
    }
    int status = 0;
    for (; i < argc && status == 0; i++) {
        duckdb_result res;
        if (duckdb_query(con, argv[i], &res) == DuckDBError) {
            const char *msg = duckdb_result_error(&res);
            fprintf(stderr, "duckdb_tool: %s\n", msg ? msg : "query failed");
            status = 1;
        } else if (duckdb_result_return_type(res) == DUCKDB_RESULT_TYPE_QUERY_RESULT) {
            status = print_result(&res);
        }
        duckdb_destroy_result(&res);
    }
    fflush(stdout);
    duckdb_disconnect(&con);
    duckdb_close(&db);
    return status;
}
