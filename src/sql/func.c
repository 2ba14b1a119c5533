/* func.c: Spark SQL functions for SQLite, evaluated by src/expr so that a function has
 * one implementation whether it runs in a config's selects or in `chronon sql`.
 * A call binds the Spark expression `name(a0, a1, ...)` against a one-row schema made
 * of the argument types SQLite passes (INTEGER -> bigint, REAL -> double, TEXT ->
 * string, BLOB -> binary, JSON text from our arrays/maps -> array/map), evaluates it on
 * a one-row batch and converts the result back (sql_int.h has the mapping). Bound
 * expressions are cached per (function, argument types, literal arguments), so a query
 * binds once per signature, not once per row. Arguments that expr wants as literals
 * (regex patterns, datetime formats, round's scale) are inlined into the text. */
#include "sql/sql_int.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "base/alloc.h"
#include "base/date.h"
#include "base/hash.h"
#include "expr/expr.h"

#define MAX_ARGS 32
#define CACHE_MAX 4096

typedef enum FnKind {
    FN_CALL = 0,  /* name(args) */
    FN_CAST,      /* cn_cast(x, 'type') -> CAST(x AS type) */
    FN_REGEXP,    /* SQLite's `x REGEXP p` calls regexp(p, x) -> x RLIKE p */
    FN_IF,        /* if(c, a, b): SQLite booleans are integers */
} FnKind;

typedef struct FnSpec {
    const char *name;
    int n_arg;          /* for sqlite3_create_function: -1 any */
    uint32_t lit_mask;  /* arguments inlined as literals when TEXT/INTEGER */
    FnKind kind;
} FnSpec;

/* docs/sql.md lists these; keep both in step. */
static const FnSpec specs[] = {
    {"nvl", -1, 0, FN_CALL}, {"nvl2", -1, 0, FN_CALL}, {"if", -1, 0, FN_IF},
    {"isnull", -1, 0, FN_CALL}, {"isnotnull", -1, 0, FN_CALL},
    {"int", -1, 0, FN_CALL}, {"bigint", -1, 0, FN_CALL}, {"smallint", -1, 0, FN_CALL},
    {"tinyint", -1, 0, FN_CALL}, {"double", -1, 0, FN_CALL}, {"float", -1, 0, FN_CALL},
    {"string", -1, 0, FN_CALL}, {"boolean", -1, 0, FN_CALL}, {"date", -1, 0, FN_CALL},
    {"timestamp", -1, 0, FN_CALL},
    {"concat", -1, 0, FN_CALL}, {"concat_ws", -1, 0, FN_CALL}, {"lower", -1, 0, FN_CALL},
    {"lcase", -1, 0, FN_CALL}, {"upper", -1, 0, FN_CALL}, {"ucase", -1, 0, FN_CALL},
    {"substr", -1, 0, FN_CALL}, {"substring", -1, 0, FN_CALL}, {"left", -1, 0, FN_CALL},
    {"right", -1, 0, FN_CALL}, {"length", -1, 0, FN_CALL}, {"char_length", -1, 0, FN_CALL},
    {"character_length", -1, 0, FN_CALL}, {"trim", 1, 0, FN_CALL}, {"ltrim", 1, 0, FN_CALL},
    {"rtrim", 1, 0, FN_CALL}, {"lpad", -1, 0, FN_CALL}, {"rpad", -1, 0, FN_CALL},
    {"instr", -1, 0, FN_CALL}, {"contains", -1, 0, FN_CALL}, {"startswith", -1, 0, FN_CALL},
    {"endswith", -1, 0, FN_CALL}, {"replace", -1, 0, FN_CALL}, {"reverse", -1, 0, FN_CALL},
    {"repeat", -1, 0, FN_CALL}, {"split", -1, 2, FN_CALL}, {"regexp_replace", -1, 6, FN_CALL},
    {"regexp_extract", -1, 6, FN_CALL}, {"regexp", 2, 1, FN_REGEXP},
    {"abs", -1, 0, FN_CALL}, {"round", -1, 2, FN_CALL}, {"bround", -1, 2, FN_CALL},
    {"floor", -1, 0, FN_CALL}, {"ceil", -1, 0, FN_CALL}, {"ceiling", -1, 0, FN_CALL},
    {"sqrt", -1, 0, FN_CALL}, {"exp", -1, 0, FN_CALL}, {"ln", -1, 0, FN_CALL},
    {"log", -1, 0, FN_CALL}, {"log10", -1, 0, FN_CALL}, {"log2", -1, 0, FN_CALL},
    {"log1p", -1, 0, FN_CALL}, {"expm1", -1, 0, FN_CALL}, {"cbrt", -1, 0, FN_CALL},
    {"sin", -1, 0, FN_CALL}, {"cos", -1, 0, FN_CALL}, {"tan", -1, 0, FN_CALL},
    {"asin", -1, 0, FN_CALL}, {"acos", -1, 0, FN_CALL}, {"atan", -1, 0, FN_CALL},
    {"sinh", -1, 0, FN_CALL}, {"cosh", -1, 0, FN_CALL}, {"tanh", -1, 0, FN_CALL},
    {"degrees", -1, 0, FN_CALL}, {"radians", -1, 0, FN_CALL}, {"sign", -1, 0, FN_CALL},
    {"signum", -1, 0, FN_CALL}, {"pow", -1, 0, FN_CALL}, {"power", -1, 0, FN_CALL},
    {"atan2", -1, 0, FN_CALL}, {"isnan", -1, 0, FN_CALL}, {"e", 0, 0, FN_CALL},
    {"pi", 0, 0, FN_CALL}, {"greatest", -1, 0, FN_CALL}, {"least", -1, 0, FN_CALL},
    {"mod", -1, 0, FN_CALL}, {"pmod", -1, 0, FN_CALL},
    {"from_unixtime", -1, 2, FN_CALL}, {"unix_timestamp", -1, 2, FN_CALL},
    {"to_unix_timestamp", -1, 2, FN_CALL}, {"to_date", -1, 2, FN_CALL},
    {"to_timestamp", -1, 2, FN_CALL}, {"date_format", -1, 2, FN_CALL},
    {"date_add", -1, 0, FN_CALL}, {"date_sub", -1, 0, FN_CALL}, {"datediff", -1, 0, FN_CALL},
    {"add_months", -1, 0, FN_CALL}, {"last_day", -1, 0, FN_CALL}, {"year", -1, 0, FN_CALL},
    {"month", -1, 0, FN_CALL}, {"day", -1, 0, FN_CALL}, {"dayofmonth", -1, 0, FN_CALL},
    {"quarter", -1, 0, FN_CALL}, {"dayofweek", -1, 0, FN_CALL}, {"dayofyear", -1, 0, FN_CALL},
    {"weekofyear", -1, 0, FN_CALL}, {"hour", -1, 0, FN_CALL}, {"minute", -1, 0, FN_CALL},
    {"second", -1, 0, FN_CALL}, {"unix_millis", -1, 0, FN_CALL},
    {"unix_seconds", -1, 0, FN_CALL}, {"timestamp_millis", -1, 0, FN_CALL},
    {"timestamp_seconds", -1, 0, FN_CALL}, {"unix_date", -1, 0, FN_CALL},
    {"date_from_unix_date", -1, 0, FN_CALL},
    {"size", -1, 0, FN_CALL}, {"cardinality", -1, 0, FN_CALL}, {"element_at", -1, 0, FN_CALL},
    {"array_contains", -1, 0, FN_CALL},
    {"cn_cast", 2, 2, FN_CAST},
};

/* One bound signature. */
typedef struct FnEntry {
    char *key;          /* OWNED; NULL: empty slot */
    int rc;             /* bind result; < 0: msg holds the error */
    char *msg;          /* OWNED */
    CnSchema *in_schema, *out_schema;
    CnExpr *e;
    CnBatch *in, *out;
    int8_t col_of[MAX_ARGS]; /* argument -> input column, -1 inlined */
} FnEntry;

typedef struct FnCtx {
    CnSql *s;
    const FnSpec *spec;
} FnCtx;

struct CnSqlFnCache {
    FnEntry *slots;
    size_t cap, n;
    FnCtx ctx[CN_ARRAY_LEN(specs)];
};

static void entry_fini(FnEntry *en) {
    cn_free(en->key);
    cn_free(en->msg);
    cn_expr_free(en->e);
    cn_col_batch_free(en->in);
    cn_col_batch_free(en->out);
    cn_col_schema_free(en->in_schema);
    cn_col_schema_free(en->out_schema);
    memset(en, 0, sizeof *en);
}

static void cache_clear(CnSqlFnCache *fc) {
    for (size_t i = 0; i < fc->cap; i++)
        if (fc->slots[i].key) entry_fini(&fc->slots[i]);
    fc->n = 0;
}

/* Slot for key: the entry holding it, or the empty slot where it goes. NULL: OOM. */
static FnEntry *cache_slot(CnSqlFnCache *fc, const char *key, size_t len) {
    if (fc->n >= CACHE_MAX) cache_clear(fc); /* a column used as a format: keep bounded */
    if ((fc->n + 1) * 2 > fc->cap) {
        size_t ncap = fc->cap ? fc->cap * 2 : 64;
        FnEntry *ns = cn_calloc(ncap, sizeof *ns);
        if (!ns) return NULL;
        for (size_t i = 0; i < fc->cap; i++) {
            if (!fc->slots[i].key) continue;
            size_t h = cn_hash_bytes(fc->slots[i].key, strlen(fc->slots[i].key), 0) & (ncap - 1);
            while (ns[h].key) h = (h + 1) & (ncap - 1);
            ns[h] = fc->slots[i];
        }
        cn_free(fc->slots);
        fc->slots = ns;
        fc->cap = ncap;
    }
    size_t h = cn_hash_bytes(key, len, 0) & (fc->cap - 1);
    while (fc->slots[h].key) {
        if (!strcmp(fc->slots[h].key, key)) return &fc->slots[h];
        h = (h + 1) & (fc->cap - 1);
    }
    return &fc->slots[h];
}

/* ------------------------------------------------------------ argument types */

static bool is_json(sqlite3_value *v, char open) {
    if (sqlite3_value_type(v) != SQLITE_TEXT || sqlite3_value_subtype(v) != CN_SQL__SUBTYPE_JSON)
        return false;
    const unsigned char *t = sqlite3_value_text(v);
    while (t && (*t == ' ' || *t == '\n' || *t == '\t')) t++;
    return t && *t == (unsigned char)open;
}

/* Element kind of a JSON array's (or object's) values: 's' string, 'i' integer,
 * 'f' number, 'b' bool; mixed or none is 's'. */
static char json_elem_kind(json_t *j) {
    char k = 0;
    size_t i;
    json_t *x;
    const char *key;
    if (json_is_array(j)) {
        json_array_foreach(j, i, x) {
            char xk = json_is_null(x) ? 0 : json_is_integer(x) ? 'i' : json_is_real(x) ? 'f'
                     : json_is_boolean(x) ? 'b' : 's';
            if (!xk) continue;
            if (!k) k = xk;
            else if (k != xk) k = ((k == 'i' && xk == 'f') || (k == 'f' && xk == 'i')) ? 'f' : 's';
        }
    } else {
        json_object_foreach(j, key, x) {
            char xk = json_is_null(x) ? 0 : json_is_integer(x) ? 'i' : json_is_real(x) ? 'f'
                     : json_is_boolean(x) ? 'b' : 's';
            if (!xk) continue;
            if (!k) k = xk;
            else if (k != xk) k = ((k == 'i' && xk == 'f') || (k == 'f' && xk == 'i')) ? 'f' : 's';
        }
    }
    return k ? k : 's';
}

static const CnType *kind_type(char k) {
    return cn_col_type_prim(k == 'i' ? CN_COL_INT64 : k == 'f' ? CN_COL_FLOAT64 : k == 'b' ? CN_COL_BOOL : CN_COL_STRING);
}

static int append_json_scalar(CnVec *v, json_t *x, char k) {
    if (!x || json_is_null(x)) return cn_col_vec_append_null(v);
    switch (k) {
    case 'i': return cn_col_vec_append_i64(v, (int64_t)json_integer_value(x));
    case 'f': return cn_col_vec_append_f64(v, json_number_value(x));
    case 'b': return cn_col_vec_append_bool(v, json_is_true(x));
    default:
        if (json_is_string(x)) return cn_col_vec_append_str(v, json_string_value(x), json_string_length(x));
        size_t need = json_dumpb(x, NULL, 0, JSON_ENCODE_ANY | JSON_COMPACT);
        char *t = cn_malloc(need + 1);
        if (!t) return CN_ENOMEM;
        size_t got = json_dumpb(x, t, need, JSON_ENCODE_ANY | JSON_COMPACT);
        int rc = cn_col_vec_append_str(v, t, got);
        cn_free(t);
        return rc;
    }
}

/* Appends the JSON array/object text of v as one list/map entry of col. */
static int append_json(CnVec *col, sqlite3_value *v) {
    json_error_t je;
    json_t *j = json_loads((const char *)sqlite3_value_text(v), JSON_DECODE_ANY, &je);
    if (!j || (!json_is_array(j) && !json_is_object(j))) {
        json_decref(j);
        return cn_col_vec_append_null(col);
    }
    char k = col->type->id == CN_COL_LIST ? (col->type->children[0].type->id == CN_COL_INT64 ? 'i'
                                            : col->type->children[0].type->id == CN_COL_FLOAT64 ? 'f'
                                            : col->type->children[0].type->id == CN_COL_BOOL ? 'b' : 's')
                                          : (col->type->children[1].type->id == CN_COL_INT64 ? 'i'
                                            : col->type->children[1].type->id == CN_COL_FLOAT64 ? 'f'
                                            : col->type->children[1].type->id == CN_COL_BOOL ? 'b' : 's');
    int rc = 0;
    size_t i;
    json_t *x;
    const char *key;
    if (json_is_array(j)) {
        json_array_foreach(j, i, x) if (!rc) rc = append_json_scalar(&col->child[0], x, k);
    } else {
        json_object_foreach(j, key, x) {
            if (!rc) rc = cn_col_vec_append_str(&col->child[0], key, strlen(key));
            if (!rc) rc = append_json_scalar(&col->child[1], x, k);
        }
    }
    json_decref(j);
    return rc ? rc : cn_col_vec_close_list(col);
}

/* Signature letter of argument v: n null, i integer, B integer as boolean, f real,
 * s text, b blob, l/m JSON list/map (+ element kind). */
static void arg_sig(const FnSpec *sp, int i, sqlite3_value *v, char sig[3]) {
    sig[1] = sig[2] = 0;
    switch (sqlite3_value_type(v)) {
    case SQLITE_NULL: sig[0] = 'n'; break;
    case SQLITE_INTEGER: sig[0] = (sp->kind == FN_IF && i == 0) ? 'B' : 'i'; break;
    case SQLITE_FLOAT: sig[0] = 'f'; break;
    case SQLITE_BLOB: sig[0] = 'b'; break;
    default:
        if (is_json(v, '[') || is_json(v, '{')) {
            json_error_t je;
            json_t *j = json_loads((const char *)sqlite3_value_text(v), JSON_DECODE_ANY, &je);
            sig[0] = json_is_array(j) ? 'l' : json_is_object(j) ? 'm' : 's';
            if (sig[0] != 's') sig[1] = json_elem_kind(j);
            json_decref(j);
        } else {
            sig[0] = 's';
        }
    }
}

static bool lit_arg(const FnSpec *sp, int i, sqlite3_value *v) {
    if (i >= 32 || !(sp->lit_mask & (1u << i))) return false;
    int t = sqlite3_value_type(v);
    return t == SQLITE_TEXT || t == SQLITE_INTEGER;
}

static void put_lit(CnBuf *b, sqlite3_value *v) {
    if (sqlite3_value_type(v) == SQLITE_INTEGER) {
        cn_buf_printf(b, "%lld", (long long)sqlite3_value_int64(v));
        return;
    }
    const char *t = (const char *)sqlite3_value_text(v);
    int n = sqlite3_value_bytes(v);
    cn_buf_putc(b, '\'');
    for (int i = 0; i < n; i++) {
        if (t[i] == '\'' || t[i] == '\\') cn_buf_putc(b, '\\');
        cn_buf_putc(b, t[i]);
    }
    cn_buf_putc(b, '\'');
}

/* A CAST type spelled by the user goes into expression text: only type-name characters. */
static bool safe_type(const char *t) {
    if (!t || !*t) return false;
    for (; *t; t++)
        if (!((*t >= 'a' && *t <= 'z') || (*t >= 'A' && *t <= 'Z') || (*t >= '0' && *t <= '9') ||
              *t == '_' || *t == '(' || *t == ')' || *t == ',' || *t == ' '))
            return false;
    return true;
}

/* Builds and binds the entry for this call's signature. */
static int entry_bind(FnEntry *en, const FnSpec *sp, int argc, sqlite3_value **argv,
                      const char (*sigs)[3], CnErr *err) {
    CnBuf text = CN_BUF_INIT;
    int rc = cn_col_schema_new(&en->in_schema);
    if (rc < 0) goto done;
    for (int i = 0; i < argc; i++) {
        en->col_of[i] = -1;
        if (sigs[i][0] == 'n' || lit_arg(sp, i, argv[i])) continue;
        if (sp->kind == FN_CAST && i == 1) continue;
        char name[16];
        snprintf(name, sizeof name, "a%d", i);
        const CnType *t;
        switch (sigs[i][0]) {
        case 'i': t = cn_col_type_prim(CN_COL_INT64); break;
        case 'B': t = cn_col_type_prim(CN_COL_BOOL); break;
        case 'f': t = cn_col_type_prim(CN_COL_FLOAT64); break;
        case 'b': t = cn_col_type_prim(CN_COL_BINARY); break;
        case 'l': t = cn_col_type_list(&en->in_schema->arena, kind_type(sigs[i][1]), true, -1); break;
        case 'm':
            t = cn_col_type_map(&en->in_schema->arena, cn_col_type_prim(CN_COL_STRING), kind_type(sigs[i][1]),
                                true, -1, -1);
            break;
        default: t = cn_col_type_prim(CN_COL_STRING);
        }
        if (!t) { rc = cn_err_set(err, CN_ENOMEM, "out of memory"); goto done; }
        if ((rc = cn_col_schema_add(en->in_schema, name, t, true, -1, err)) < 0) goto done;
        en->col_of[i] = (int8_t)(en->in_schema->n_fields - 1);
    }
    /* the expression text */
#define ARG(i)                                                                    \
    do {                                                                          \
        if (sigs[(i)][0] == 'n') cn_buf_puts(&text, "NULL");                      \
        else if (en->col_of[(i)] < 0) put_lit(&text, argv[(i)]);                  \
        else cn_buf_printf(&text, "a%d", (i));                                    \
    } while (0)
    if (sp->kind == FN_CAST) {
        const char *ty = (const char *)sqlite3_value_text(argv[1]);
        if (!safe_type(ty)) {
            rc = cn_err_set(err, CN_EINVAL, "CAST: invalid type name '%s'", ty ? ty : "NULL");
            goto done;
        }
        cn_buf_puts(&text, "CAST(");
        ARG(0);
        cn_buf_printf(&text, " AS %s)", ty);
    } else if (sp->kind == FN_REGEXP) {
        cn_buf_putc(&text, '(');
        ARG(1);
        cn_buf_puts(&text, " RLIKE ");
        ARG(0);
        cn_buf_putc(&text, ')');
    } else {
        cn_buf_printf(&text, "%s(", sp->name);
        for (int i = 0; i < argc; i++) {
            if (i) cn_buf_puts(&text, ", ");
            ARG(i);
        }
        cn_buf_putc(&text, ')');
    }
#undef ARG
    if (text.oom) { rc = cn_err_set(err, CN_ENOMEM, "out of memory"); goto done; }
    if ((rc = cn_expr_bind(text.data, en->in_schema, &en->e, err)) < 0) goto done;
    if ((rc = cn_col_schema_new(&en->out_schema)) < 0) goto done;
    const CnType *rt = cn_col_type_copy(&en->out_schema->arena, cn_expr_type(en->e));
    if (!rt) { rc = cn_err_set(err, CN_ENOMEM, "out of memory"); goto done; }
    if ((rc = cn_col_schema_add(en->out_schema, "r", rt, true, -1, err)) < 0) goto done;
    if ((rc = cn_col_batch_new(en->in_schema, &en->in, err)) < 0) goto done;
    rc = cn_col_batch_new(en->out_schema, &en->out, err);
done:
    cn_buf_fini(&text);
    return rc;
}

/* Types of the arguments for messages: "date_add(string, bigint)". */
static void sig_text(const FnSpec *sp, int argc, const char (*sigs)[3], char *buf, size_t len) {
    size_t o = (size_t)snprintf(buf, len, "%s(", sp->kind == FN_CAST ? "CAST" : sp->name);
    for (int i = 0; i < argc && o < len; i++) {
        const char *t;
        switch (sigs[i][0]) {
        case 'n': t = "null"; break;
        case 'i': t = "bigint"; break;
        case 'B': t = "boolean"; break;
        case 'f': t = "double"; break;
        case 'b': t = "binary"; break;
        case 'l': t = "array"; break;
        case 'm': t = "map"; break;
        default: t = "string";
        }
        o += (size_t)snprintf(buf + o, len - o, "%s%s", i ? ", " : "", t);
    }
    if (o < len) snprintf(buf + o, len - o, ")");
}

/* Looks up (or binds) the entry for this call. NULL with an error already reported. */
static FnEntry *entry_for(sqlite3_context *ctx, FnCtx *fc, int argc, sqlite3_value **argv) {
    CnSqlFnCache *cache = fc->s->fn;
    const FnSpec *sp = fc->spec;
    if (argc > MAX_ARGS) {
        sqlite3_result_error(ctx, "too many arguments", -1);
        return NULL;
    }
    char sigs[MAX_ARGS][3];
    CnBuf key = CN_BUF_INIT;
    cn_buf_puts(&key, sp->name);
    for (int i = 0; i < argc; i++) {
        arg_sig(sp, i, argv[i], sigs[i]);
        cn_buf_putc(&key, '|');
        cn_buf_puts(&key, sigs[i]);
        if (lit_arg(sp, i, argv[i]) || (sp->kind == FN_CAST && i == 1)) {
            cn_buf_putc(&key, '=');
            cn_buf_append(&key, sqlite3_value_text(argv[i]), (size_t)sqlite3_value_bytes(argv[i]));
            cn_buf_putc(&key, '\x01');
        }
    }
    FnEntry *en = key.oom ? NULL : cache_slot(cache, key.data, key.len);
    if (!en) {
        cn_buf_fini(&key);
        sqlite3_result_error_nomem(ctx);
        return NULL;
    }
    if (!en->key) {
        en->key = cn_buf_take(&key);
        cache->n++;
        CnErr err = CN_ERR_INIT;
        en->rc = entry_bind(en, sp, argc, argv, (const char(*)[3])sigs, &err);
        if (en->rc < 0) {
            char sig[256];
            sig_text(sp, argc, (const char(*)[3])sigs, sig, sizeof sig);
            /* expr quotes our synthetic text first ("f(a0)": ...): drop that part */
            const char *m = cn_err_msg(&err);
            const char *q = m[0] == '"' ? strstr(m, "\": ") : NULL;
            CnBuf msg = CN_BUF_INIT;
            cn_buf_printf(&msg, "%s: %s", sig, q ? q + 3 : m);
            en->msg = cn_buf_take(&msg);
        }
    }
    cn_buf_fini(&key);
    if (en->rc < 0) {
        sqlite3_result_error(ctx, en->msg ? en->msg : "out of memory", -1);
        return NULL;
    }
    return en;
}

static int fill_input(FnEntry *en, int argc, sqlite3_value **argv) {
    CnBatch *b = en->in;
    cn_col_batch_reset(b);
    int rc = 0;
    for (int i = 0; i < argc && rc == 0; i++) {
        if (en->col_of[i] < 0) continue;
        CnVec *v = &b->cols[en->col_of[i]];
        sqlite3_value *x = argv[i];
        switch (v->type->id) {
        case CN_COL_INT64: rc = cn_col_vec_append_i64(v, sqlite3_value_int64(x)); break;
        case CN_COL_BOOL: rc = cn_col_vec_append_bool(v, sqlite3_value_int64(x) != 0); break;
        case CN_COL_FLOAT64: rc = cn_col_vec_append_f64(v, sqlite3_value_double(x)); break;
        case CN_COL_LIST:
        case CN_COL_MAP: rc = append_json(v, x); break;
        default: {
            const void *p = v->type->id == CN_COL_BINARY ? sqlite3_value_blob(x) : (const void *)sqlite3_value_text(x);
            rc = cn_col_vec_append_str(v, p ? p : "", (size_t)sqlite3_value_bytes(x));
        }
        }
    }
    if (rc) return rc;
    CnErr err = CN_ERR_INIT;
    if (b->n_cols && (rc = cn_col_batch_sync_rows(b, &err)) < 0) return rc;
    b->n_rows = 1; /* all arguments inlined: still one row */
    return 0;
}

static void fn_call(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
    FnCtx *fc = sqlite3_user_data(ctx);
    FnEntry *en = entry_for(ctx, fc, argc, argv);
    if (!en) return;
    if (fill_input(en, argc, argv)) {
        sqlite3_result_error_nomem(ctx);
        return;
    }
    cn_col_batch_reset(en->out);
    CnErr err = CN_ERR_INIT;
    if (cn_expr_eval(en->e, en->in, NULL, 1, &en->out->cols[0], &err) < 0) {
        sqlite3_result_error(ctx, cn_err_msg(&err), -1);
        return;
    }
    cn_sql__result_vec(fc->s, ctx, &en->out->cols[0], 0);
}

/* ------------------------------------------------------------ results */

/* Spark's string form of entry i of v (CAST(x AS STRING)) into b. */
static int spark_text(CnSql *s, const CnVec *v, uint32_t i, CnBuf *b) {
    CnSqlFnCache *cache = s->fn;
    char tn[128];
    CnBuf key = CN_BUF_INIT;
    cn_buf_printf(&key, "#text|%s", cn_col_type_name(v->type, tn, sizeof tn));
    FnEntry *en = key.oom ? NULL : cache_slot(cache, key.data, key.len);
    if (!en) { cn_buf_fini(&key); return CN_ENOMEM; }
    if (!en->key) {
        en->key = cn_buf_take(&key);
        cache->n++;
        CnErr err = CN_ERR_INIT;
        int rc = cn_col_schema_new(&en->in_schema);
        const CnType *t = rc ? NULL : cn_col_type_copy(&en->in_schema->arena, v->type);
        if (!t) rc = CN_ENOMEM;
        if (!rc) rc = cn_col_schema_add(en->in_schema, "a0", t, true, -1, &err);
        if (!rc) rc = cn_expr_bind("CAST(a0 AS STRING)", en->in_schema, &en->e, &err);
        if (!rc) rc = cn_col_schema_new(&en->out_schema);
        if (!rc) rc = cn_col_schema_add(en->out_schema, "r", cn_col_type_prim(CN_COL_STRING), true, -1, &err);
        if (!rc) rc = cn_col_batch_new(en->in_schema, &en->in, &err);
        if (!rc) rc = cn_col_batch_new(en->out_schema, &en->out, &err);
        en->rc = rc;
        en->col_of[0] = 0;
    }
    cn_buf_fini(&key);
    if (en->rc < 0) return en->rc;
    cn_col_batch_reset(en->in);
    cn_col_batch_reset(en->out);
    CnErr err = CN_ERR_INIT;
    if (cn_col_vec_append_from(&en->in->cols[0], v, i)) return CN_ENOMEM;
    en->in->n_rows = 1;
    if (cn_expr_eval(en->e, en->in, NULL, 1, &en->out->cols[0], &err) < 0) return err.code;
    const CnVec *o = &en->out->cols[0];
    if (!cn_col_vec_is_valid(o, 0)) return cn_buf_puts(b, "null");
    uint32_t n;
    const char *p = cn_col_vec_str(o, 0, &n);
    return cn_buf_append(b, p, n);
}

const char *cn_sql__double_text(CnSql *s, double x, char *buf, size_t len) {
    CnVec v;
    memset(&v, 0, sizeof v);
    v.type = cn_col_type_prim(CN_COL_FLOAT64);
    v.n = 1;
    v.values = &x;
    CnBuf b = CN_BUF_INIT;
    if (spark_text(s, &v, 0, &b) < 0 || b.oom || !b.data) snprintf(buf, len, "%.17g", x);
    else snprintf(buf, len, "%s", b.data);
    cn_buf_fini(&b);
    return buf;
}

static void json_str(CnBuf *b, const char *p, uint32_t n) {
    cn_buf_putc(b, '"');
    for (uint32_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)p[i];
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

void cn_sql__json_vec(CnSql *s, CnBuf *b, const CnVec *v, uint32_t i) {
    if (!cn_col_vec_is_valid(v, i)) {
        cn_buf_puts(b, "null");
        return;
    }
    switch (v->type->id) {
    case CN_COL_BOOL: cn_buf_puts(b, ((const uint8_t *)v->values)[i] ? "true" : "false"); return;
    case CN_COL_INT32: cn_buf_printf(b, "%d", ((const int32_t *)v->values)[i]); return;
    case CN_COL_INT64: cn_buf_printf(b, "%lld", (long long)((const int64_t *)v->values)[i]); return;
    case CN_COL_FLOAT32:
    case CN_COL_FLOAT64: {
        double x = v->type->id == CN_COL_FLOAT32 ? ((const float *)v->values)[i] : ((const double *)v->values)[i];
        if (isfinite(x)) cn_buf_printf(b, "%.17g", x);
        else cn_buf_puts(b, "null");
        return;
    }
    case CN_COL_DATE: {
        char ds[11];
        cn_ds_format(((const int32_t *)v->values)[i], ds);
        cn_buf_printf(b, "\"%s\"", ds);
        return;
    }
    case CN_COL_STRING: {
        uint32_t n;
        const char *p = cn_col_vec_str(v, i, &n);
        json_str(b, p, n);
        return;
    }
    case CN_COL_BINARY: {
        uint32_t n;
        const unsigned char *p = (const unsigned char *)cn_col_vec_str(v, i, &n);
        cn_buf_putc(b, '"');
        for (uint32_t k = 0; k < n; k++) cn_buf_printf(b, "%02x", p[k]);
        cn_buf_putc(b, '"');
        return;
    }
    case CN_COL_LIST:
        cn_buf_putc(b, '[');
        for (uint32_t k = v->offsets[i]; k < v->offsets[i + 1]; k++) {
            if (k > v->offsets[i]) cn_buf_putc(b, ',');
            cn_sql__json_vec(s, b, &v->child[0], k);
        }
        cn_buf_putc(b, ']');
        return;
    case CN_COL_MAP:
        cn_buf_putc(b, '{');
        for (uint32_t k = v->offsets[i]; k < v->offsets[i + 1]; k++) {
            if (k > v->offsets[i]) cn_buf_putc(b, ',');
            const CnVec *kv = &v->child[0];
            if (kv->type->id == CN_COL_STRING) {
                cn_sql__json_vec(s, b, kv, k);
            } else {
                CnBuf t = CN_BUF_INIT;
                if (spark_text(s, kv, k, &t) == 0 && t.data) json_str(b, t.data, (uint32_t)t.len);
                else cn_buf_puts(b, "\"\"");
                cn_buf_fini(&t);
            }
            cn_buf_putc(b, ':');
            cn_sql__json_vec(s, b, &v->child[1], k);
        }
        cn_buf_putc(b, '}');
        return;
    case CN_COL_STRUCT:
        cn_buf_putc(b, '{');
        for (uint32_t k = 0; k < v->n_child; k++) {
            if (k) cn_buf_putc(b, ',');
            const char *fname = v->type->children[k].name;
            json_str(b, fname, (uint32_t)strlen(fname));
            cn_buf_putc(b, ':');
            cn_sql__json_vec(s, b, &v->child[k], i);
        }
        cn_buf_putc(b, '}');
        return;
    default: { /* timestamp */
        CnBuf t = CN_BUF_INIT;
        if (spark_text(s, v, i, &t) == 0 && t.data) json_str(b, t.data, (uint32_t)t.len);
        else cn_buf_puts(b, "null");
        cn_buf_fini(&t);
    }
    }
}

void cn_sql__result_vec(CnSql *s, sqlite3_context *ctx, const CnVec *v, uint32_t i) {
    if (!cn_col_vec_is_valid(v, i)) {
        sqlite3_result_null(ctx);
        return;
    }
    switch (v->type->id) {
    case CN_COL_BOOL: sqlite3_result_int(ctx, ((const uint8_t *)v->values)[i]); return;
    case CN_COL_INT32: sqlite3_result_int(ctx, ((const int32_t *)v->values)[i]); return;
    case CN_COL_INT64: sqlite3_result_int64(ctx, ((const int64_t *)v->values)[i]); return;
    case CN_COL_FLOAT32: sqlite3_result_double(ctx, ((const float *)v->values)[i]); return;
    case CN_COL_FLOAT64: sqlite3_result_double(ctx, ((const double *)v->values)[i]); return;
    case CN_COL_DATE: {
        char ds[11];
        cn_ds_format(((const int32_t *)v->values)[i], ds);
        sqlite3_result_text(ctx, ds, 10, SQLITE_TRANSIENT);
        return;
    }
    case CN_COL_STRING: {
        uint32_t n;
        const char *p = cn_col_vec_str(v, i, &n);
        sqlite3_result_text(ctx, p, (int)n, SQLITE_TRANSIENT);
        return;
    }
    case CN_COL_BINARY: {
        uint32_t n;
        const char *p = cn_col_vec_str(v, i, &n);
        sqlite3_result_blob(ctx, p, (int)n, SQLITE_TRANSIENT);
        return;
    }
    case CN_COL_TIMESTAMP: {
        CnBuf t = CN_BUF_INIT;
        if (spark_text(s, v, i, &t) < 0 || t.oom) sqlite3_result_error_nomem(ctx);
        else sqlite3_result_text(ctx, t.data ? t.data : "", (int)t.len, SQLITE_TRANSIENT);
        cn_buf_fini(&t);
        return;
    }
    default: {
        CnBuf t = CN_BUF_INIT;
        cn_sql__json_vec(s, &t, v, i);
        if (t.oom) {
            sqlite3_result_error_nomem(ctx);
        } else {
            sqlite3_result_text(ctx, t.data ? t.data : "", (int)t.len, SQLITE_TRANSIENT);
            sqlite3_result_subtype(ctx, CN_SQL__SUBTYPE_JSON);
        }
        cn_buf_fini(&t);
    }
    }
}

/* ------------------------------------------------------------ registration */

int cn_sql__funcs_register(CnSql *s, CnErr *err) {
    s->fn = cn_calloc(1, sizeof *s->fn);
    if (!s->fn) return cn_err_set(err, CN_ENOMEM, "out of memory");
    int flags = SQLITE_UTF8 | SQLITE_DETERMINISTIC;
#ifdef SQLITE_SUBTYPE
    flags |= SQLITE_SUBTYPE;
#endif
#ifdef SQLITE_RESULT_SUBTYPE
    flags |= SQLITE_RESULT_SUBTYPE;
#endif
    for (size_t i = 0; i < CN_ARRAY_LEN(specs); i++) {
        s->fn->ctx[i] = (FnCtx){s, &specs[i]};
        int rc = sqlite3_create_function_v2(s->db, specs[i].name, specs[i].n_arg, flags, &s->fn->ctx[i],
                                            fn_call, NULL, NULL, NULL);
        if (rc != SQLITE_OK)
            return cn_err_set(err, CN_EINTERNAL, "registering SQL function %s: %s", specs[i].name,
                              sqlite3_errmsg(s->db));
    }
    return 0;
}

void cn_sql__funcs_free(CnSql *s) {
    if (!s || !s->fn) return;
    cache_clear(s->fn);
    cn_free(s->fn->slots);
    cn_free(s->fn);
    s->fn = NULL;
}
