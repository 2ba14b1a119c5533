/* col.c: types, schemas, vectors and batches (see col.h).
 * Vectors own 64-byte-aligned buffers that grow geometrically and survive resets, so a
 * reader or builder that refills one batch allocates only while batches get bigger. */
#include "base/compat.h"

#include "col/col.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "base/alloc.h"
#include "base/str.h"

/* ---------------------------------------------------------------- types */

static const CnType PRIMS[] = {
    {0, 0, NULL},
    {CN_COL_BOOL, 0, NULL},    {CN_COL_INT32, 0, NULL},     {CN_COL_INT64, 0, NULL},
    {CN_COL_FLOAT32, 0, NULL}, {CN_COL_FLOAT64, 0, NULL},   {CN_COL_DATE, 0, NULL},
    {CN_COL_TIMESTAMP, 0, NULL}, {CN_COL_STRING, 0, NULL},  {CN_COL_BINARY, 0, NULL},
};

const CnType *cn_col_type_prim(CnTypeId id) {
    if (id < CN_COL_BOOL || id > CN_COL_BINARY) return NULL;
    return &PRIMS[id];
}

const CnType *cn_col_type_list(CnArena *a, const CnType *elem, bool elem_nullable,
                               int32_t elem_id) {
    CnType *t = cn_arena_alloc(a, sizeof *t);
    CnField *f = cn_arena_alloc(a, sizeof *f);
    if (!t || !f || !elem) return NULL;
    *f = (CnField){"element", elem, elem_nullable, elem_id};
    *t = (CnType){CN_COL_LIST, 1, f};
    return t;
}

const CnType *cn_col_type_map(CnArena *a, const CnType *key, const CnType *value,
                              bool value_nullable, int32_t key_id, int32_t value_id) {
    CnType *t = cn_arena_alloc(a, sizeof *t);
    CnField *f = cn_arena_alloc(a, 2 * sizeof *f);
    if (!t || !f || !key || !value || cn_col_type_is_nested(key->id)) return NULL;
    f[0] = (CnField){"key", key, false, key_id};
    f[1] = (CnField){"value", value, value_nullable, value_id};
    *t = (CnType){CN_COL_MAP, 2, f};
    return t;
}

const CnType *cn_col_type_struct(CnArena *a, const CnField *fields, uint32_t n) {
    if (n == 0) return NULL;
    CnType *t = cn_arena_alloc(a, sizeof *t);
    CnField *f = cn_arena_alloc(a, n * sizeof *f);
    if (!t || !f) return NULL;
    for (uint32_t i = 0; i < n; i++) {
        f[i] = fields[i];
        f[i].name = cn_arena_strdup(a, fields[i].name);
        if (!f[i].name || !f[i].type) return NULL;
    }
    *t = (CnType){CN_COL_STRUCT, n, f};
    return t;
}

bool cn_col_type_equal(const CnType *x, const CnType *y) {
    if (x == y) return true;
    if (!x || !y || x->id != y->id || x->n_children != y->n_children) return false;
    for (uint32_t i = 0; i < x->n_children; i++) {
        const CnField *a = &x->children[i], *b = &y->children[i];
        if (a->nullable != b->nullable || !cn_col_type_equal(a->type, b->type)) return false;
        if (x->id == CN_COL_STRUCT && strcmp(a->name, b->name) != 0) return false;
    }
    return true;
}

const CnType *cn_col_type_copy(CnArena *a, const CnType *t) {
    if (!t) return NULL;
    if (!cn_col_type_is_nested(t->id)) return cn_col_type_prim(t->id);
    CnType *c = cn_arena_alloc(a, sizeof *c);
    CnField *f = cn_arena_alloc(a, t->n_children * sizeof *f);
    if (!c || !f) return NULL;
    for (uint32_t i = 0; i < t->n_children; i++) {
        f[i] = t->children[i];
        f[i].name = cn_arena_strdup(a, t->children[i].name);
        f[i].type = cn_col_type_copy(a, t->children[i].type);
        if (!f[i].name || !f[i].type) return NULL;
    }
    *c = (CnType){t->id, t->n_children, f};
    return c;
}

size_t cn_col_type_width(CnTypeId id) {
    switch (id) {
    case CN_COL_BOOL: return 1;
    case CN_COL_INT32: case CN_COL_DATE: case CN_COL_FLOAT32: return 4;
    case CN_COL_INT64: case CN_COL_TIMESTAMP: case CN_COL_FLOAT64: return 8;
    default: return 0;
    }
}

bool cn_col_type_is_nested(CnTypeId id) {
    return id == CN_COL_LIST || id == CN_COL_MAP || id == CN_COL_STRUCT;
}

const char *cn_col_type_id_name(CnTypeId id) {
    switch (id) {
    case CN_COL_BOOL: return "bool";
    case CN_COL_INT32: return "int32";
    case CN_COL_INT64: return "int64";
    case CN_COL_FLOAT32: return "float32";
    case CN_COL_FLOAT64: return "float64";
    case CN_COL_DATE: return "date";
    case CN_COL_TIMESTAMP: return "timestamp";
    case CN_COL_STRING: return "string";
    case CN_COL_BINARY: return "binary";
    case CN_COL_LIST: return "list";
    case CN_COL_MAP: return "map";
    case CN_COL_STRUCT: return "struct";
    }
    return "unknown";
}

static void name_into(const CnType *t, char *buf, size_t len, size_t *pos) {
#define PUT(s)                                                                  \
    do {                                                                        \
        const char *s_ = (s);                                                   \
        while (*s_) {                                                           \
            if (*pos + 1 < len) buf[*pos] = *s_;                                \
            (*pos)++;                                                           \
            s_++;                                                               \
        }                                                                       \
    } while (0)
    PUT(cn_col_type_id_name(t->id));
    if (!cn_col_type_is_nested(t->id)) return;
    PUT("<");
    for (uint32_t i = 0; i < t->n_children; i++) {
        if (i) PUT(",");
        if (t->id == CN_COL_STRUCT) {
            PUT(t->children[i].name);
            PUT(":");
        }
        name_into(t->children[i].type, buf, len, pos);
    }
    PUT(">");
#undef PUT
}

const char *cn_col_type_name(const CnType *t, char *buf, size_t len) {
    if (!len) return buf;
    size_t pos = 0;
    if (!t) {
        snprintf(buf, len, "(none)");
        return buf;
    }
    name_into(t, buf, len, &pos);
    buf[pos < len ? pos : len - 1] = 0;
    return buf;
}

static const struct {
    const char *name;
    CnTypeId id;
} TYPE_NAMES[] = {
    {"bool", CN_COL_BOOL},         {"boolean", CN_COL_BOOL},     {"int32", CN_COL_INT32},
    {"int", CN_COL_INT32},         {"integer", CN_COL_INT32},    {"int64", CN_COL_INT64},
    {"long", CN_COL_INT64},        {"bigint", CN_COL_INT64},     {"float32", CN_COL_FLOAT32},
    {"float", CN_COL_FLOAT32},     {"float64", CN_COL_FLOAT64},  {"double", CN_COL_FLOAT64},
    {"date", CN_COL_DATE},         {"timestamp", CN_COL_TIMESTAMP},
    {"timestamp_ms", CN_COL_TIMESTAMP}, {"string", CN_COL_STRING}, {"binary", CN_COL_BINARY},
    {"list", CN_COL_LIST},         {"array", CN_COL_LIST},       {"map", CN_COL_MAP},
    {"struct", CN_COL_STRUCT},
};

typedef struct TypeParser {
    CnArena *a;
    const char *s, *p;
    CnErr *err;
} TypeParser;

static void skip_ws(TypeParser *tp) {
    while (*tp->p == ' ') tp->p++;
}

static int parse_fail(TypeParser *tp, const char *what) {
    return cn_err_set(tp->err, CN_EINVAL, "type \"%s\": %s at offset %d", tp->s, what,
                      (int)(tp->p - tp->s));
}

static int parse_type(TypeParser *tp, const CnType **out, int depth) {
    if (depth > 32) return parse_fail(tp, "nesting too deep");
    skip_ws(tp);
    const char *w = tp->p;
    while (isalnum((unsigned char)*tp->p) || *tp->p == '_') tp->p++;
    size_t n = (size_t)(tp->p - w);
    CnTypeId id = 0;
    for (size_t i = 0; i < CN_ARRAY_LEN(TYPE_NAMES); i++)
        if (strlen(TYPE_NAMES[i].name) == n && strncasecmp(TYPE_NAMES[i].name, w, n) == 0)
            id = TYPE_NAMES[i].id;
    if (!id) {
        tp->p = w;
        return parse_fail(tp, "expected a type name (bool, int32, int64, float32, float64, "
                              "date, timestamp, string, binary, list<T>, map<K,V>, struct<...>)");
    }
    if (!cn_col_type_is_nested(id)) {
        *out = cn_col_type_prim(id);
        return 0;
    }
    skip_ws(tp);
    if (*tp->p != '<') return parse_fail(tp, "expected '<'");
    tp->p++;
    CnField fields[64];
    uint32_t nf = 0;
    for (;;) {
        if (nf == CN_ARRAY_LEN(fields)) return parse_fail(tp, "too many fields");
        CnField *f = &fields[nf];
        *f = (CnField){NULL, NULL, true, CN_COL_NO_ID};
        if (id == CN_COL_STRUCT) {
            skip_ws(tp);
            const char *nm = tp->p;
            while (*tp->p && *tp->p != ':' && *tp->p != '>' && *tp->p != ',') tp->p++;
            if (*tp->p != ':' || tp->p == nm) return parse_fail(tp, "expected 'name:'");
            f->name = cn_arena_strndup(tp->a, nm, (size_t)(tp->p - nm));
            if (!f->name) return cn_err_set(tp->err, CN_ENOMEM, "out of memory");
            tp->p++;
        }
        int rc = parse_type(tp, &f->type, depth + 1);
        if (rc < 0) return rc;
        nf++;
        skip_ws(tp);
        if (*tp->p == ',') {
            tp->p++;
            continue;
        }
        if (*tp->p == '>') {
            tp->p++;
            break;
        }
        return parse_fail(tp, "expected ',' or '>'");
    }
    const CnType *t = NULL;
    if (id == CN_COL_LIST) {
        if (nf != 1) return parse_fail(tp, "list takes one element type");
        t = cn_col_type_list(tp->a, fields[0].type, true, CN_COL_NO_ID);
    } else if (id == CN_COL_MAP) {
        if (nf != 2) return parse_fail(tp, "map takes a key and a value type");
        if (cn_col_type_is_nested(fields[0].type->id))
            return parse_fail(tp, "map keys must be a primitive type");
        t = cn_col_type_map(tp->a, fields[0].type, fields[1].type, true, CN_COL_NO_ID,
                            CN_COL_NO_ID);
    } else {
        t = cn_col_type_struct(tp->a, fields, nf);
    }
    if (!t) return cn_err_set(tp->err, CN_ENOMEM, "out of memory");
    *out = t;
    return 0;
}

int cn_col_type_parse(CnArena *a, const char *s, const CnType **out, CnErr *err) {
    TypeParser tp = {a, s, s, err};
    int rc = parse_type(&tp, out, 0);
    if (rc < 0) return rc;
    skip_ws(&tp);
    if (*tp.p) return parse_fail(&tp, "unexpected text after the type");
    return 0;
}

/* --------------------------------------------------------------- schema */

int cn_col_schema_new(CnSchema **out) {
    CnSchema *s = cn_calloc(1, sizeof *s);
    *out = s;
    if (!s) return CN_ENOMEM;
    cn_arena_init(&s->arena, 4096);
    return 0;
}

void cn_col_schema_free(CnSchema *s) {
    if (!s) return;
    cn_arena_fini(&s->arena);
    cn_free(s);
}

int cn_col_schema_add(CnSchema *s, const char *name, const CnType *type, bool nullable,
                      int32_t field_id, CnErr *err) {
    if (!name || !*name) return cn_err_set(err, CN_EINVAL, "schema: empty column name");
    if (!type) return cn_err_set(err, CN_EINVAL, "schema: column \"%s\" has no type", name);
    if (cn_col_schema_find(s, name) >= 0)
        return cn_err_set(err, CN_EEXISTS, "schema: duplicate column \"%s\"", name);
    if (s->n_fields == s->cap_fields) {
        uint32_t cap = s->cap_fields ? s->cap_fields * 2 : 16;
        CnField *f = cn_arena_alloc(&s->arena, cap * sizeof *f);
        if (!f) return cn_err_set(err, CN_ENOMEM, "schema: out of memory");
        if (s->n_fields) memcpy(f, s->fields, s->n_fields * sizeof *f);
        s->fields = f;
        s->cap_fields = cap;
    }
    const char *nm = cn_arena_strdup(&s->arena, name);
    if (!nm) return cn_err_set(err, CN_ENOMEM, "schema: out of memory");
    s->fields[s->n_fields++] = (CnField){nm, type, nullable, field_id};
    return 0;
}

int cn_col_schema_find(const CnSchema *s, const char *name) {
    for (uint32_t i = 0; i < s->n_fields; i++)
        if (strcmp(s->fields[i].name, name) == 0) return (int)i;
    return -1;
}

static int add_copy(CnSchema *d, const CnField *f, CnErr *err) {
    const CnType *t = cn_col_type_copy(&d->arena, f->type);
    if (!t) return cn_err_set(err, CN_ENOMEM, "schema: out of memory");
    return cn_col_schema_add(d, f->name, t, f->nullable, f->field_id, err);
}

int cn_col_schema_copy(const CnSchema *src, CnSchema **out, CnErr *err) {
    CnSchema *d = NULL;
    int rc = cn_col_schema_new(&d);
    if (rc < 0) {
        rc = cn_err_set(err, rc, "schema: out of memory");
        goto done;
    }
    for (uint32_t i = 0; i < src->n_fields && rc == 0; i++) rc = add_copy(d, &src->fields[i], err);
done:
    if (rc < 0) {
        cn_col_schema_free(d);
        d = NULL;
    }
    *out = d;
    return rc;
}

int cn_col_schema_project(const CnSchema *src, const char *const *names, uint32_t n,
                          CnSchema **out, CnErr *err) {
    CnSchema *d = NULL;
    int rc = cn_col_schema_new(&d);
    if (rc < 0) {
        rc = cn_err_set(err, rc, "schema: out of memory");
        goto done;
    }
    for (uint32_t i = 0; i < n && rc == 0; i++) {
        int k = cn_col_schema_find(src, names[i]);
        if (k < 0) {
            char avail[512];
            size_t pos = 0;
            avail[0] = 0;
            for (uint32_t j = 0; j < src->n_fields && pos < sizeof avail; j++) {
                int w = snprintf(avail + pos, sizeof avail - pos, "%s%s", j ? ", " : "",
                                 src->fields[j].name);
                if (w < 0) break;
                pos += (size_t)w;
            }
            rc = cn_err_set(err, CN_ENOTFOUND, "no column \"%s\" (columns: %s)", names[i], avail);
            goto done;
        }
        rc = add_copy(d, &src->fields[k], err);
    }
done:
    if (rc < 0) {
        cn_col_schema_free(d);
        d = NULL;
    }
    *out = d;
    return rc;
}

/* -------------------------------------------------------------- buffers */

/* Buffers of at least this many bytes start on a 2 MiB boundary and ask for huge pages:
 * a column of a million values took 2,000 page faults of 4 KiB (and their zeroing, at a
 * third of the speed) instead of a few of 2 MiB. A row group's column of 262,144 longs
 * (2 MiB) is one huge page only when it starts on the boundary. */
#define HUGE_BUF ((size_t)2 << 20)

/* Grows b to hold at least need bytes, keeping the first keep bytes. */
static int buf_grow(CnColBuf *b, size_t need, size_t keep) {
    if (need <= b->cap) return 0;
    size_t cap = b->cap ? b->cap * 2 : 256;
    if (cap < need) cap = need;
    size_t align = cap >= HUGE_BUF ? HUGE_BUF : 64;
    void *raw = cn_malloc(cap + align);
    if (!raw) return CN_ENOMEM;
    void *p = (void *)(((uintptr_t)raw + align - 1) & ~(uintptr_t)(align - 1));
    if (cap >= HUGE_BUF) cn_alloc_huge(p, cap);
    if (keep && b->ptr) memcpy(p, b->ptr, keep < b->cap ? keep : b->cap);
    cn_free(b->raw);
    b->raw = raw;
    b->ptr = p;
    b->cap = cap;
    return 0;
}

static void buf_fini(CnColBuf *b) {
    cn_free(b->raw);
    *b = (CnColBuf){NULL, NULL, 0};
}

static bool has_offsets(CnTypeId id) {
    return id == CN_COL_STRING || id == CN_COL_BINARY || id == CN_COL_LIST || id == CN_COL_MAP;
}

static size_t valid_words(uint32_t n) { return ((size_t)n + 63) / 64; }

static CN_COLD int vec_oom(CnVec *v) {
    v->oom = true;
    return CN_ENOMEM;
}

int cn_col_vec_reserve(CnVec *v, uint32_t n_more) {
    uint64_t need = (uint64_t)v->n + n_more;
    if (need <= v->cap) return 0;
    if (need > UINT32_MAX - 1) return vec_oom(v);
    uint64_t cap = v->cap ? (uint64_t)v->cap * 2 : 64;
    if (cap < need) cap = need;
    if (cap > UINT32_MAX - 1) cap = UINT32_MAX - 1;
    size_t w = cn_col_type_width(v->type->id);
    if (w && buf_grow(&v->b_values, (size_t)cap * w, (size_t)v->n * w) < 0) return vec_oom(v);
    if (has_offsets(v->type->id) &&
        buf_grow(&v->b_offsets, ((size_t)cap + 1) * 4, ((size_t)v->n + 1) * 4) < 0)
        return vec_oom(v);
    if (v->valid) {
        size_t old = valid_words(v->cap), nw = valid_words((uint32_t)cap);
        if (buf_grow(&v->b_valid, nw * 8, old * 8) < 0) return vec_oom(v);
        /* INVARIANT kept: bits past n are zero, so a null append writes nothing */
        memset((uint64_t *)v->b_valid.ptr + old, 0, (nw - old) * 8);
        v->valid = v->b_valid.ptr;
    }
    v->cap = (uint32_t)cap;
    v->values = w ? v->b_values.ptr : NULL;
    if (has_offsets(v->type->id)) v->offsets = v->b_offsets.ptr;
    return 0;
}

int cn_col_vec_reserve_bytes(CnVec *v, size_t n_more) {
    size_t used = v->offsets ? v->offsets[v->n] : 0;
    if (used + n_more < used) return vec_oom(v);
    if (buf_grow(&v->b_bytes, used + n_more, used) < 0) return vec_oom(v);
    v->bytes = v->b_bytes.ptr;
    return 0;
}

int cn_col_vec_make_valid(CnVec *v) {
    if (v->valid) return 0;
    size_t nw = valid_words(v->cap ? v->cap : 64);
    if (buf_grow(&v->b_valid, nw * 8, 0) < 0) return vec_oom(v);
    uint64_t *w = v->b_valid.ptr;
    memset(w, 0, nw * 8);
    uint32_t full = v->n / 64;
    for (uint32_t i = 0; i < full; i++) w[i] = ~UINT64_C(0);
    if (v->n & 63) w[full] = (UINT64_C(1) << (v->n & 63)) - 1;
    v->valid = w;
    return 0;
}

static inline void set_valid_bit(CnVec *v, uint32_t i) {
    if (v->valid) v->valid[i >> 6] |= UINT64_C(1) << (i & 63);
}

int cn_col_vec_append_null(CnVec *v) {
    if (cn_col_vec_reserve(v, 1) < 0 || cn_col_vec_make_valid(v) < 0) return CN_ENOMEM;
    CnTypeId id = v->type->id;
    size_t w = cn_col_type_width(id);
    if (w) memset((char *)v->values + (size_t)v->n * w, 0, w);
    if (has_offsets(id)) v->offsets[v->n + 1] = v->offsets[v->n];
    if (id == CN_COL_STRUCT)
        for (uint32_t c = 0; c < v->n_child; c++)
            if (cn_col_vec_append_null(&v->child[c]) < 0) return vec_oom(v);
    v->n++;
    v->n_null++;
    return 0;
}

#define APPEND_FIXED(fn, ctype, cond)                                           \
    int fn(CnVec *v, ctype x) {                                                 \
        CN_ASSERT(cond);                                                        \
        if (CN_UNLIKELY(v->n >= v->cap) && cn_col_vec_reserve(v, 1) < 0) return CN_ENOMEM; \
        ((ctype *)v->values)[v->n] = x;                                         \
        set_valid_bit(v, v->n);                                                 \
        v->n++;                                                                 \
        return 0;                                                               \
    }

int cn_col_vec_append_bool(CnVec *v, bool x) {
    CN_ASSERT(v->type->id == CN_COL_BOOL);
    if (CN_UNLIKELY(v->n >= v->cap) && cn_col_vec_reserve(v, 1) < 0) return CN_ENOMEM;
    ((uint8_t *)v->values)[v->n] = x ? 1 : 0;
    set_valid_bit(v, v->n);
    v->n++;
    return 0;
}
APPEND_FIXED(cn_col_vec_append_i32, int32_t,
             v->type->id == CN_COL_INT32 || v->type->id == CN_COL_DATE)
APPEND_FIXED(cn_col_vec_append_i64, int64_t,
             v->type->id == CN_COL_INT64 || v->type->id == CN_COL_TIMESTAMP)
APPEND_FIXED(cn_col_vec_append_f32, float, v->type->id == CN_COL_FLOAT32)
APPEND_FIXED(cn_col_vec_append_f64, double, v->type->id == CN_COL_FLOAT64)

int cn_col_vec_append_str(CnVec *v, const void *p, size_t len) {
    CN_ASSERT(v->type->id == CN_COL_STRING || v->type->id == CN_COL_BINARY);
    if (CN_UNLIKELY(v->n >= v->cap) && cn_col_vec_reserve(v, 1) < 0) return CN_ENOMEM;
    uint32_t end = v->offsets[v->n];
    if ((uint64_t)end + len > UINT32_MAX) return vec_oom(v);
    if (end + len > v->b_bytes.cap && cn_col_vec_reserve_bytes(v, len) < 0) return CN_ENOMEM;
    if (len) memcpy(v->bytes + end, p, len);
    v->offsets[v->n + 1] = end + (uint32_t)len;
    set_valid_bit(v, v->n);
    v->n++;
    return 0;
}

int cn_col_vec_close_list(CnVec *v) {
    CN_ASSERT(v->type->id == CN_COL_LIST || v->type->id == CN_COL_MAP);
    if (CN_UNLIKELY(v->n >= v->cap) && cn_col_vec_reserve(v, 1) < 0) return CN_ENOMEM;
    if (v->type->id == CN_COL_MAP) CN_ASSERT(v->child[0].n == v->child[1].n);
    v->offsets[v->n + 1] = v->child[0].n;
    set_valid_bit(v, v->n);
    v->n++;
    return 0;
}

int cn_col_vec_close_struct(CnVec *v) {
    CN_ASSERT(v->type->id == CN_COL_STRUCT);
    if (CN_UNLIKELY(v->n >= v->cap) && cn_col_vec_reserve(v, 1) < 0) return CN_ENOMEM;
    for (uint32_t c = 0; c < v->n_child; c++) CN_ASSERT(v->child[c].n == v->n + 1);
    set_valid_bit(v, v->n);
    v->n++;
    return 0;
}

int cn_col_vec_append_scalar(CnVec *v, const CnScalar *s) {
    if (s->is_null) return cn_col_vec_append_null(v);
    CnTypeId vt = v->type->id, st = s->type;
    switch (vt) {
    case CN_COL_BOOL:
        if (st == CN_COL_BOOL) return cn_col_vec_append_bool(v, s->v.b);
        break;
    case CN_COL_INT32: case CN_COL_DATE:
        if (st == CN_COL_INT32 || st == CN_COL_DATE) return cn_col_vec_append_i32(v, s->v.i32);
        break;
    case CN_COL_INT64: case CN_COL_TIMESTAMP:
        if (st == CN_COL_INT64 || st == CN_COL_TIMESTAMP) return cn_col_vec_append_i64(v, s->v.i64);
        break;
    case CN_COL_FLOAT32:
        if (st == CN_COL_FLOAT32) return cn_col_vec_append_f32(v, s->v.f32);
        break;
    case CN_COL_FLOAT64:
        if (st == CN_COL_FLOAT64) return cn_col_vec_append_f64(v, s->v.f64);
        break;
    case CN_COL_STRING: case CN_COL_BINARY:
        if (st == CN_COL_STRING || st == CN_COL_BINARY)
            return cn_col_vec_append_str(v, s->v.s.p, s->v.s.len);
        break;
    default: break;
    }
    return CN_ETYPE;
}

int cn_col_vec_append_from(CnVec *dst, const CnVec *src, uint32_t i) {
    CN_ASSERT(dst->type->id == src->type->id);
    if (!cn_col_vec_is_valid(src, i)) return cn_col_vec_append_null(dst);
    switch (src->type->id) {
    case CN_COL_BOOL: return cn_col_vec_append_bool(dst, ((const uint8_t *)src->values)[i]);
    case CN_COL_INT32: case CN_COL_DATE:
        return cn_col_vec_append_i32(dst, ((const int32_t *)src->values)[i]);
    case CN_COL_INT64: case CN_COL_TIMESTAMP:
        return cn_col_vec_append_i64(dst, ((const int64_t *)src->values)[i]);
    case CN_COL_FLOAT32: return cn_col_vec_append_f32(dst, ((const float *)src->values)[i]);
    case CN_COL_FLOAT64: return cn_col_vec_append_f64(dst, ((const double *)src->values)[i]);
    case CN_COL_STRING: case CN_COL_BINARY: {
        uint32_t len;
        const char *p = cn_col_vec_str(src, i, &len);
        return cn_col_vec_append_str(dst, p, len);
    }
    case CN_COL_LIST: case CN_COL_MAP:
        for (uint32_t j = src->offsets[i]; j < src->offsets[i + 1]; j++)
            for (uint32_t c = 0; c < src->n_child; c++)
                if (cn_col_vec_append_from(&dst->child[c], &src->child[c], j) < 0)
                    return vec_oom(dst);
        return cn_col_vec_close_list(dst);
    case CN_COL_STRUCT:
        for (uint32_t c = 0; c < src->n_child; c++)
            if (cn_col_vec_append_from(&dst->child[c], &src->child[c], i) < 0) return vec_oom(dst);
        return cn_col_vec_close_struct(dst);
    }
    return CN_EINTERNAL;
}

int cn_col_vec_append_range(CnVec *dst, const CnVec *src, uint32_t start, uint32_t n) {
    CN_ASSERT(dst->type->id == src->type->id);
    if (n == 0) return 0;
    if (cn_col_vec_reserve(dst, n) < 0) return CN_ENOMEM;
    uint32_t d0 = dst->n;
    CnTypeId id = src->type->id;
    size_t w = cn_col_type_width(id);
    if (w) memcpy((char *)dst->values + (size_t)d0 * w, (const char *)src->values + (size_t)start * w,
                  (size_t)n * w);
    if (has_offsets(id)) {
        uint32_t base = src->offsets[start], total = src->offsets[start + n] - base;
        uint32_t dbase = dst->offsets[d0];
        if ((uint64_t)dbase + total > UINT32_MAX) return vec_oom(dst);
        const uint32_t *so = src->offsets + start + 1;
        uint32_t *dof = dst->offsets + d0 + 1;
        for (uint32_t i = 0; i < n; i++) dof[i] = so[i] - base + dbase;
        if (id == CN_COL_STRING || id == CN_COL_BINARY) {
            if (dbase + total > dst->b_bytes.cap && cn_col_vec_reserve_bytes(dst, total) < 0)
                return CN_ENOMEM;
            if (total) memcpy(dst->bytes + dbase, src->bytes + base, total);
        } else {
            for (uint32_t c = 0; c < src->n_child; c++)
                if (cn_col_vec_append_range(&dst->child[c], &src->child[c], base, total) < 0)
                    return vec_oom(dst);
        }
    }
    if (id == CN_COL_STRUCT)
        for (uint32_t c = 0; c < src->n_child; c++)
            if (cn_col_vec_append_range(&dst->child[c], &src->child[c], start, n) < 0)
                return vec_oom(dst);
    if (src->valid && src->n_null) {
        uint32_t nulls = 0;
        for (uint32_t i = 0; i < n; i++) nulls += !cn_col_vec_is_valid(src, start + i);
        if (nulls) {
            if (cn_col_vec_make_valid(dst) < 0) return CN_ENOMEM;
            for (uint32_t i = 0; i < n; i++)
                if (cn_col_vec_is_valid(src, start + i))
                    dst->valid[(d0 + i) >> 6] |= UINT64_C(1) << ((d0 + i) & 63);
            dst->n_null += nulls;
            dst->n = d0 + n;
            return 0;
        }
    }
    if (dst->valid)
        for (uint32_t i = 0; i < n; i++) dst->valid[(d0 + i) >> 6] |= UINT64_C(1) << ((d0 + i) & 63);
    dst->n = d0 + n;
    return 0;
}

void cn_col_vec_get(const CnVec *v, uint32_t i, CnScalar *out) {
    memset(out, 0, sizeof *out);
    out->type = v->type->id;
    if (!cn_col_vec_is_valid(v, i)) {
        out->is_null = true;
        return;
    }
    switch (v->type->id) {
    case CN_COL_BOOL: out->v.b = ((const uint8_t *)v->values)[i] != 0; break;
    case CN_COL_INT32: case CN_COL_DATE: out->v.i32 = ((const int32_t *)v->values)[i]; break;
    case CN_COL_INT64: case CN_COL_TIMESTAMP: out->v.i64 = ((const int64_t *)v->values)[i]; break;
    case CN_COL_FLOAT32: out->v.f32 = ((const float *)v->values)[i]; break;
    case CN_COL_FLOAT64: out->v.f64 = ((const double *)v->values)[i]; break;
    case CN_COL_STRING: case CN_COL_BINARY: out->v.s.p = cn_col_vec_str(v, i, &out->v.s.len); break;
    default: out->is_null = true; break; /* nested values have no scalar form */
    }
}

/* ---------------------------------------------------------------- batch */

static int vec_init(CnVec *v, const CnType *t, CnArena *a) {
    memset(v, 0, sizeof *v);
    v->type = t;
    if (t->n_children) {
        v->child = cn_arena_calloc(a, t->n_children * sizeof *v->child);
        if (!v->child) return CN_ENOMEM;
        v->n_child = t->n_children;
        for (uint32_t c = 0; c < t->n_children; c++)
            if (vec_init(&v->child[c], t->children[c].type, a) < 0) return CN_ENOMEM;
    }
    if (cn_col_vec_reserve(v, 64) < 0) return CN_ENOMEM;
    if (v->offsets) v->offsets[0] = 0;
    if (t->id == CN_COL_STRING || t->id == CN_COL_BINARY) {
        if (cn_col_vec_reserve_bytes(v, 256) < 0) return CN_ENOMEM;
    }
    return 0;
}

static void vec_fini(CnVec *v) {
    for (uint32_t c = 0; c < v->n_child; c++) vec_fini(&v->child[c]);
    buf_fini(&v->b_values);
    buf_fini(&v->b_offsets);
    buf_fini(&v->b_bytes);
    buf_fini(&v->b_valid);
}

static void vec_reset(CnVec *v) {
    for (uint32_t c = 0; c < v->n_child; c++) vec_reset(&v->child[c]);
    v->n = 0;
    v->n_null = 0;
    v->valid = NULL;
    v->oom = false;
    if (v->offsets) v->offsets[0] = 0;
}

/* The vectors' child arrays live in this arena, which is separate from the batch's
 * scratch arena so that a reset keeps them. */
typedef struct BatchImpl {
    CnBatch pub;
    CnArena vec_arena;
} BatchImpl;

int cn_col_batch_new(const CnSchema *schema, CnBatch **out, CnErr *err) {
    *out = NULL;
    BatchImpl *bi = cn_calloc(1, sizeof *bi);
    if (!bi) return cn_err_set(err, CN_ENOMEM, "batch: out of memory");
    CnBatch *b = &bi->pub;
    cn_arena_init(&bi->vec_arena, 4096);
    cn_arena_init(&b->arena, 0);
    b->schema = schema;
    b->n_cols = schema->n_fields;
    b->cols = cn_arena_calloc(&bi->vec_arena, (schema->n_fields + 1) * sizeof *b->cols);
    int rc = b->cols ? 0 : CN_ENOMEM;
    for (uint32_t i = 0; i < b->n_cols && rc == 0; i++)
        rc = vec_init(&b->cols[i], schema->fields[i].type, &bi->vec_arena);
    if (rc < 0) {
        cn_col_batch_free(b);
        return cn_err_set(err, rc, "batch: out of memory");
    }
    *out = b;
    return 0;
}

void cn_col_batch_free(CnBatch *b) {
    if (!b) return;
    BatchImpl *bi = (BatchImpl *)b;
    if (b->cols)
        for (uint32_t i = 0; i < b->n_cols; i++) vec_fini(&b->cols[i]);
    cn_arena_fini(&b->arena);
    cn_arena_fini(&bi->vec_arena);
    cn_free(bi);
}

int cn_col_batch_view(const CnBatch *b, uint32_t start, uint32_t n, CnBatch **out, CnErr *err) {
    *out = NULL;
    if (b->sel || start > b->n_rows || n > b->n_rows - start)
        return cn_err_set(err, CN_EINVAL, "batch view: rows %u..%u of a batch of %u%s", start, start + n, b->n_rows,
                          b->sel ? " with a selection" : "");
    for (uint32_t c = 0; c < b->n_cols; c++)
        if (cn_col_type_is_nested(b->cols[c].type->id))
            return cn_err_set(err, CN_EINVAL, "batch view: column \"%s\" is nested", b->schema->fields[c].name);
    CnBatch *v;
    int rc = cn_col_batch_new(b->schema, &v, err);
    if (rc < 0) return rc;
    size_t words = ((size_t)n + 63) / 64;
    for (uint32_t c = 0; c < b->n_cols; c++) {
        const CnVec *s = &b->cols[c];
        CnVec *d = &v->cols[c];
        size_t w = cn_col_type_width(s->type->id);
        d->n = d->cap = n; /* capacity as the invariants see it; b_* stay empty (nothing to free) */
        if (s->values) d->values = (uint8_t *)s->values + (size_t)start * w;
        if (s->offsets) {
            uint32_t base = s->offsets[start];
            d->offsets = cn_arena_alloc(&v->arena, ((size_t)n + 1) * sizeof *d->offsets);
            if (!d->offsets) goto oom;
            for (uint32_t i = 0; i <= n; i++) d->offsets[i] = s->offsets[start + i] - base;
            d->bytes = s->bytes ? s->bytes + base : NULL;
            d->b_bytes.cap = d->offsets[n];
        }
        if (s->valid && s->n_null) {
            d->valid = cn_arena_alloc(&v->arena, (words + 1) * sizeof *d->valid);
            if (!d->valid) goto oom;
            uint32_t sh = start & 63, nulls = 0;
            const uint64_t *src = s->valid + (start >> 6);
            size_t src_words = ((size_t)s->n + 63) / 64 - (start >> 6);
            for (size_t k = 0; k < words; k++) {
                uint64_t x = src[k] >> sh;
                if (sh && k + 1 < src_words) x |= src[k + 1] << (64 - sh);
                if (k == words - 1 && (n & 63)) x &= (UINT64_C(1) << (n & 63)) - 1;
                d->valid[k] = x;
                nulls += (uint32_t)__builtin_popcountll(x);
            }
            d->n_null = n - nulls;
            if (!d->n_null) d->valid = NULL;
        }
    }
    v->n_rows = n;
    *out = v;
    return 0;
oom:
    cn_col_batch_free(v);
    return cn_err_set(err, CN_ENOMEM, "batch view: out of memory");
}

void cn_col_batch_reset(CnBatch *b) {
    for (uint32_t i = 0; i < b->n_cols; i++) vec_reset(&b->cols[i]);
    b->n_rows = 0;
    b->sel = NULL;
    b->n_sel = 0;
    cn_arena_reset(&b->arena);
}

static bool vec_oom_any(const CnVec *v) {
    if (v->oom) return true;
    for (uint32_t c = 0; c < v->n_child; c++)
        if (vec_oom_any(&v->child[c])) return true;
    return false;
}

int cn_col_batch_sync_rows(CnBatch *b, CnErr *err) {
    uint32_t n = b->n_cols ? b->cols[0].n : 0;
    for (uint32_t i = 0; i < b->n_cols; i++) {
        if (vec_oom_any(&b->cols[i]))
            return cn_err_set(err, CN_ENOMEM, "batch: out of memory appending to column \"%s\"",
                              b->schema->fields[i].name);
        if (b->cols[i].n != n)
            return cn_err_set(err, CN_EINTERNAL, "batch: column \"%s\" has %u rows, column \"%s\" has %u",
                              b->schema->fields[i].name, b->cols[i].n, b->schema->fields[0].name, n);
    }
    b->n_rows = n;
    return 0;
}

int cn_col_batch_append_rows(CnBatch *dst, const CnBatch *src, const uint32_t *sel,
                             uint32_t n_sel, CnErr *err) {
    if (dst->n_cols != src->n_cols)
        return cn_err_set(err, CN_ETYPE, "batch: appending %u columns to a batch of %u",
                          src->n_cols, dst->n_cols);
    uint32_t n = sel ? n_sel : src->n_rows;
    for (uint32_t c = 0; c < dst->n_cols; c++) {
        CnVec *d = &dst->cols[c];
        const CnVec *s = &src->cols[c];
        if (!cn_col_type_equal(d->type, s->type)) {
            char a[128], b[128];
            return cn_err_set(err, CN_ETYPE, "batch: column \"%s\" is %s, appended rows have %s",
                              dst->schema->fields[c].name, cn_col_type_name(d->type, a, sizeof a),
                              cn_col_type_name(s->type, b, sizeof b));
        }
        if (!sel) {
            if (cn_col_vec_append_range(d, s, 0, n) < 0) break;
            continue;
        }
        if (cn_col_vec_reserve(d, n) < 0) break;
        for (uint32_t k = 0; k < n; k++)
            if (cn_col_vec_append_from(d, s, sel ? sel[k] : k) < 0) break;
    }
    return cn_col_batch_sync_rows(dst, err);
}

/* ---------------------------------------------------------------- check */

static int vec_check(const CnVec *v, const char *name, CnErr *err, int depth) {
    char tn[128];
    CnTypeId id = v->type->id;
    if (depth > 64) return cn_err_set(err, CN_EINTERNAL, "column \"%s\": nesting too deep", name);
    if (v->n > v->cap && v->n > 0)
        return cn_err_set(err, CN_EINTERNAL, "column \"%s\": %u entries over capacity %u", name, v->n, v->cap);
    if (v->valid) {
        uint32_t nulls = 0;
        for (uint32_t i = 0; i < v->n; i++) nulls += !cn_col_vec_is_valid(v, i);
        if (nulls != v->n_null)
            return cn_err_set(err, CN_EINTERNAL, "column \"%s\": n_null is %u, bitmap has %u nulls",
                              name, v->n_null, nulls);
    } else if (v->n_null) {
        return cn_err_set(err, CN_EINTERNAL, "column \"%s\": n_null %u without a bitmap", name, v->n_null);
    }
    if (cn_col_type_width(id) && !v->values && v->n)
        return cn_err_set(err, CN_EINTERNAL, "column \"%s\": no values buffer", name);
    if (has_offsets(id)) {
        if (!v->offsets || v->offsets[0] != 0)
            return cn_err_set(err, CN_EINTERNAL, "column \"%s\": offsets[0] is not 0", name);
        for (uint32_t i = 0; i < v->n; i++) {
            if (v->offsets[i + 1] < v->offsets[i])
                return cn_err_set(err, CN_EINTERNAL, "column \"%s\" (%s): offsets decrease at entry %u",
                                  name, cn_col_type_name(v->type, tn, sizeof tn), i);
            if (!cn_col_vec_is_valid(v, i) && v->offsets[i + 1] != v->offsets[i])
                return cn_err_set(err, CN_EINTERNAL, "column \"%s\": null entry %u is not empty", name, i);
        }
    }
    if ((id == CN_COL_STRING || id == CN_COL_BINARY) && v->offsets[v->n] > v->b_bytes.cap)
        return cn_err_set(err, CN_EINTERNAL, "column \"%s\": offsets end %u past %zu payload bytes",
                          name, v->offsets[v->n], v->b_bytes.cap);
    if (id == CN_COL_LIST || id == CN_COL_MAP) {
        for (uint32_t c = 0; c < v->n_child; c++)
            if (v->child[c].n != v->offsets[v->n])
                return cn_err_set(err, CN_EINTERNAL, "column \"%s\": child %u has %u entries, offsets end at %u",
                                  name, c, v->child[c].n, v->offsets[v->n]);
        if (id == CN_COL_MAP && v->child[0].n_null)
            return cn_err_set(err, CN_EINTERNAL, "column \"%s\": map has %u null keys", name, v->child[0].n_null);
    }
    if (id == CN_COL_STRUCT)
        for (uint32_t c = 0; c < v->n_child; c++)
            if (v->child[c].n != v->n)
                return cn_err_set(err, CN_EINTERNAL, "column \"%s\": field %s has %u entries, struct has %u",
                                  name, v->type->children[c].name, v->child[c].n, v->n);
    for (uint32_t c = 0; c < v->n_child; c++) {
        int rc = vec_check(&v->child[c], name, err, depth + 1);
        if (rc < 0) return rc;
    }
    return 0;
}

int cn_col_vec_check(const CnVec *v, const char *name, CnErr *err) {
    return vec_check(v, name, err, 0);
}

int cn_col_batch_check(const CnBatch *b, CnErr *err) {
    if (b->n_cols != b->schema->n_fields)
        return cn_err_set(err, CN_EINTERNAL, "batch: %u columns, schema has %u", b->n_cols,
                          b->schema->n_fields);
    for (uint32_t i = 0; i < b->n_cols; i++) {
        const char *name = b->schema->fields[i].name;
        if (b->cols[i].n != b->n_rows)
            return cn_err_set(err, CN_EINTERNAL, "column \"%s\": %u entries, batch has %u rows",
                              name, b->cols[i].n, b->n_rows);
        if (!b->schema->fields[i].nullable && b->cols[i].n_null)
            return cn_err_set(err, CN_EINTERNAL, "column \"%s\": %u nulls in a required column",
                              name, b->cols[i].n_null);
        int rc = vec_check(&b->cols[i], name, err, 0);
        if (rc < 0) return rc;
    }
    if (b->sel) {
        if (b->n_sel > b->n_rows)
            return cn_err_set(err, CN_EINTERNAL, "batch: %u selected of %u rows", b->n_sel, b->n_rows);
        for (uint32_t k = 0; k < b->n_sel; k++)
            if (b->sel[k] >= b->n_rows || (k && b->sel[k] <= b->sel[k - 1]))
                return cn_err_set(err, CN_EINTERNAL, "batch: selection entry %u (row %u) out of order or range",
                                  k, b->sel[k]);
    }
    return 0;
}

int cn_col_vec_cmp_asc(const CnVec *a, uint32_t i, const CnVec *b, uint32_t j) {
    bool va = cn_col_vec_is_valid(a, i), vb = cn_col_vec_is_valid(b, j);
    if (!va || !vb) return (int)va - (int)vb;
    switch (a->type->id) {
    case CN_COL_INT32:
    case CN_COL_DATE: {
        int32_t x = ((const int32_t *)a->values)[i], y = ((const int32_t *)b->values)[j];
        return (x > y) - (x < y);
    }
    case CN_COL_INT64:
    case CN_COL_TIMESTAMP: {
        int64_t x = ((const int64_t *)a->values)[i], y = ((const int64_t *)b->values)[j];
        return (x > y) - (x < y);
    }
    default: {
        uint32_t la, lb;
        const char *pa = cn_col_vec_str(a, i, &la), *pb = cn_col_vec_str(b, j, &lb);
        return cn_bytes_cmp(pa, la, pb, lb);
    }
    }
}
