/* codec.c: Avro binary encoding of values (the body of container blocks).
 * The decoder trusts nothing: each length and count is checked against the bytes left
 * before anything is allocated, and depth is bounded, so bad bytes end in CN_ECORRUPT
 * naming the field path. */
#include "base/compat.h"

#include <stdio.h>
#include <string.h>

#include "io/avro/avro_int.h"

void cn_avro__write_long(CnBuf *out, int64_t v) {
    uint64_t z = ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
    uint8_t b[10];
    size_t n = 0;
    while (z >= 0x80) {
        b[n++] = (uint8_t)(z | 0x80);
        z >>= 7;
    }
    b[n++] = (uint8_t)z;
    cn_buf_append(out, b, n);
}

static int type_err(CnAvroPath *path, const CnAvroSchema *s, const CnAvroValue *v,
                    const char *why, CnErr *err) {
    char where[512];
    return cn_err_set(err, CN_ETYPE, "field %s: expected %s%s%s, got %s",
                      cn_avro__path_str(path, where, sizeof where), s->name,
                      why ? " " : "", why ? why : "",
                      v && v->schema ? cn_avro__type_name(v->schema->type) : "no value");
}

/* The branch of union s that takes v: v's own union branch when v is a union value of
 * this schema, else the first branch of v's type (by name for named types). */
static int pick_branch(const CnAvroSchema *s, const CnAvroValue *v) {
    if (v->schema == s) return v->branch;
    const CnAvroSchema *vs = v->schema;
    if (vs->type == CN_AVRO_UNION) return -1;
    for (size_t i = 0; i < s->n_branches; i++) {
        const CnAvroSchema *b = s->branches[i];
        if (b == vs) return (int)i;
    }
    for (size_t i = 0; i < s->n_branches; i++) {
        const CnAvroSchema *b = s->branches[i];
        if (b->type != vs->type) continue;
        if ((b->type == CN_AVRO_RECORD || b->type == CN_AVRO_ENUM || b->type == CN_AVRO_FIXED) &&
            strcmp(b->name, vs->name) != 0)
            continue;
        return (int)i;
    }
    return -1;
}

int cn_avro__encode(CnBuf *out, const CnAvroSchema *s, const CnAvroValue *v, CnAvroPath *path,
                    CnErr *err) {
    if (!v || !v->schema) return type_err(path, s, v, NULL, err);
    if (s->type == CN_AVRO_UNION) {
        int b = pick_branch(s, v);
        if (b < 0 || (size_t)b >= s->n_branches)
            return type_err(path, s, v, "(no union branch takes it)", err);
        cn_avro__write_long(out, b);
        const CnAvroValue *inner = v->schema == s ? v->u.items : v;
        return cn_avro__encode(out, s->branches[b], inner, path, err);
    }
    const CnAvroSchema *vs = v->schema;
    if (vs->type == CN_AVRO_UNION) {
        /* a union value given where a plain type is expected: use its branch value */
        return cn_avro__encode(out, s, v->u.items, path, err);
    }
    if (vs->type != s->type) return type_err(path, s, v, NULL, err);
    switch (s->type) {
    case CN_AVRO_NULL:
        return 0;
    case CN_AVRO_BOOLEAN: {
        uint8_t c = v->u.b ? 1 : 0;
        return cn_buf_append(out, &c, 1);
    }
    case CN_AVRO_INT:
    case CN_AVRO_ENUM:
        if (s->type == CN_AVRO_ENUM && (v->u.i < 0 || (size_t)v->u.i >= s->n_symbols))
            return type_err(path, s, v, "(symbol index out of range)", err);
        cn_avro__write_long(out, v->u.i);
        return 0;
    case CN_AVRO_LONG:
        cn_avro__write_long(out, v->u.l);
        return 0;
    case CN_AVRO_FLOAT: {
        uint8_t b[4];
        uint32_t x;
        memcpy(&x, &v->u.f, 4);
        for (int i = 0; i < 4; i++) b[i] = (uint8_t)(x >> (8 * i));
        return cn_buf_append(out, b, 4);
    }
    case CN_AVRO_DOUBLE: {
        uint8_t b[8];
        uint64_t x;
        memcpy(&x, &v->u.d, 8);
        for (int i = 0; i < 8; i++) b[i] = (uint8_t)(x >> (8 * i));
        return cn_buf_append(out, b, 8);
    }
    case CN_AVRO_BYTES:
    case CN_AVRO_STRING:
        cn_avro__write_long(out, (int64_t)v->n);
        return v->n ? cn_buf_append(out, v->u.bytes, v->n) : 0;
    case CN_AVRO_FIXED:
        if (v->n != s->fixed_size) return type_err(path, s, v, "(wrong fixed size)", err);
        return v->n ? cn_buf_append(out, v->u.bytes, v->n) : 0;
    case CN_AVRO_RECORD:
        if (v->n != s->n_fields) return type_err(path, s, v, "(wrong field count)", err);
        for (size_t i = 0; i < s->n_fields; i++) {
            if (path->depth >= CN_AVRO__MAX_DEPTH)
                return cn_err_set(err, CN_ELIMIT, "value nested deeper than 64 levels");
            path->names[path->depth++] = s->fields[i].name;
            int rc = cn_avro__encode(out, s->fields[i].type, &v->u.items[i], path, err);
            path->depth--;
            if (rc < 0) return rc;
        }
        return 0;
    case CN_AVRO_ARRAY:
    case CN_AVRO_MAP: {
        bool map = s->type == CN_AVRO_MAP;
        if (v->n) cn_avro__write_long(out, (int64_t)v->n);
        if (path->depth >= CN_AVRO__MAX_DEPTH)
            return cn_err_set(err, CN_ELIMIT, "value nested deeper than 64 levels");
        path->names[path->depth++] = map ? "{}" : "[]";
        int rc = 0;
        for (size_t i = 0; i < v->n && rc == 0; i++) {
            if (map) {
                const CnAvroValue *k = &v->u.items[2 * i];
                if (!k->schema || k->schema->type != CN_AVRO_STRING) {
                    rc = cn_err_set(err, CN_ETYPE, "map key is not a string");
                    break;
                }
                cn_avro__write_long(out, (int64_t)k->n);
                cn_buf_append(out, k->u.bytes, k->n);
                rc = cn_avro__encode(out, s->items, &v->u.items[2 * i + 1], path, err);
            } else {
                rc = cn_avro__encode(out, s->items, &v->u.items[i], path, err);
            }
        }
        path->depth--;
        if (rc < 0) return rc;
        cn_avro__write_long(out, 0);
        return 0;
    }
    case CN_AVRO_UNION:
        break;
    }
    return type_err(path, s, v, NULL, err);
}

/* ---- decoding ---- */

static int corrupt(CnAvroDec *d, CnErr *err, const char *what) {
    char where[512];
    return cn_err_set(err, CN_ECORRUPT, "%s, field %s: %s", d->where,
                      cn_avro__path_str(&d->path, where, sizeof where), what);
}

int cn_avro__read_long(CnAvroDec *d, int64_t *out, CnErr *err) {
    uint64_t z = 0;
    for (int shift = 0; shift < 70; shift += 7) {
        if (d->p >= d->end) return corrupt(d, err, "varint runs past the end of the data");
        uint8_t b = *d->p++;
        if (shift == 63 && (b & 0x7e))
            return corrupt(d, err, "varint longer than 64 bits");
        z |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *out = (int64_t)(z >> 1) ^ -(int64_t)(z & 1);
            return 0;
        }
    }
    return corrupt(d, err, "varint longer than 10 bytes");
}

/* Smallest encoded size of a value of s: bounds how many items a count may claim. */
static size_t min_size(const CnAvroSchema *s, int depth) {
    if (depth > 8) return 0;
    switch (s->type) {
    case CN_AVRO_NULL: return 0;
    case CN_AVRO_FLOAT: return 4;
    case CN_AVRO_DOUBLE: return 8;
    case CN_AVRO_FIXED: return s->fixed_size;
    case CN_AVRO_RECORD: {
        size_t n = 0;
        for (size_t i = 0; i < s->n_fields; i++) n += min_size(s->fields[i].type, depth + 1);
        return n;
    }
    default: return 1;
    }
}

static int push(CnAvroDec *d, const char *name, CnErr *err) {
    if (d->path.depth >= CN_AVRO__MAX_DEPTH) return corrupt(d, err, "nested deeper than 64 levels");
    d->path.names[d->path.depth++] = name;
    return 0;
}

static int read_len(CnAvroDec *d, size_t *n, const char *what, CnErr *err) {
    int64_t l;
    int rc = cn_avro__read_long(d, &l, err);
    if (rc < 0) return rc;
    if (l < 0 || (uint64_t)l > (uint64_t)(d->end - d->p)) {
        char msg[160];
        snprintf(msg, sizeof msg, "%s length %lld, but only %zu bytes are left", what,
                 (long long)l, (size_t)(d->end - d->p));
        return corrupt(d, err, msg);
    }
    *n = (size_t)l;
    return 0;
}

/* Strict UTF-8 (no overlongs, surrogates or code points past U+10FFFF): strings go on
 * to JSON and SQL, which need valid text. */
static bool utf8_valid(const uint8_t *p, size_t n) {
    size_t i = 0;
    while (i < n) {
        uint8_t c = p[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t len;
        uint32_t cp;
        if (c >= 0xC2 && c <= 0xDF) len = 2, cp = c & 0x1F;
        else if (c >= 0xE0 && c <= 0xEF) len = 3, cp = c & 0x0F;
        else if (c >= 0xF0 && c <= 0xF4) len = 4, cp = c & 0x07;
        else return false;
        if (i + len > n) return false;
        for (size_t k = 1; k < len; k++) {
            if ((p[i + k] & 0xC0) != 0x80) return false;
            cp = (cp << 6) | (p[i + k] & 0x3F);
        }
        if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
            (cp >= 0xD800 && cp <= 0xDFFF))
            return false;
        i += len;
    }
    return true;
}

static int read_bytes(CnAvroDec *d, size_t n, CnAvroValue *out, CnErr *err) {
    uint8_t *p = cn_arena_alloc(d->arena, n + 1);
    if (!p) return cn_err_set(err, CN_ENOMEM, "%s: out of memory", d->where);
    if (n) memcpy(p, d->p, n);
    p[n] = 0;
    d->p += n;
    out->u.bytes = p;
    out->n = n;
    return 0;
}

int cn_avro__decode(CnAvroDec *d, const CnAvroSchema *s, CnAvroValue *out, CnErr *err) {
    int rc = 0;
    out->schema = s;
    out->n = 0;
    switch (s->type) {
    case CN_AVRO_NULL:
        return 0;
    case CN_AVRO_BOOLEAN:
        if (d->p >= d->end) return corrupt(d, err, "boolean past the end of the data");
        if (*d->p > 1) return corrupt(d, err, "boolean byte is neither 0 nor 1");
        out->u.b = *d->p++ == 1;
        return 0;
    case CN_AVRO_INT:
    case CN_AVRO_ENUM: {
        int64_t l;
        rc = cn_avro__read_long(d, &l, err);
        if (rc < 0) return rc;
        if (l < INT32_MIN || l > INT32_MAX) return corrupt(d, err, "int value out of 32-bit range");
        if (s->type == CN_AVRO_ENUM && (l < 0 || (uint64_t)l >= s->n_symbols)) {
            char msg[128];
            snprintf(msg, sizeof msg, "enum index %lld, expected 0..%zu", (long long)l,
                     s->n_symbols ? s->n_symbols - 1 : 0);
            return corrupt(d, err, msg);
        }
        out->u.i = (int32_t)l;
        return 0;
    }
    case CN_AVRO_LONG:
        return cn_avro__read_long(d, &out->u.l, err);
    case CN_AVRO_FLOAT: {
        if (d->end - d->p < 4) return corrupt(d, err, "float past the end of the data");
        uint32_t x = 0;
        for (int i = 0; i < 4; i++) x |= (uint32_t)d->p[i] << (8 * i);
        memcpy(&out->u.f, &x, 4);
        d->p += 4;
        return 0;
    }
    case CN_AVRO_DOUBLE: {
        if (d->end - d->p < 8) return corrupt(d, err, "double past the end of the data");
        uint64_t x = 0;
        for (int i = 0; i < 8; i++) x |= (uint64_t)d->p[i] << (8 * i);
        memcpy(&out->u.d, &x, 8);
        d->p += 8;
        return 0;
    }
    case CN_AVRO_BYTES:
    case CN_AVRO_STRING: {
        size_t n = 0; /* read_len sets it; -O3 cannot tell */
        rc = read_len(d, &n, s->type == CN_AVRO_STRING ? "string" : "bytes", err);
        if (rc < 0) return rc;
        if (s->type == CN_AVRO_STRING && !utf8_valid(d->p, n))
            return corrupt(d, err, "string is not valid UTF-8");
        return read_bytes(d, n, out, err);
    }
    case CN_AVRO_FIXED:
        if ((size_t)(d->end - d->p) < s->fixed_size)
            return corrupt(d, err, "fixed value past the end of the data");
        return read_bytes(d, s->fixed_size, out, err);
    case CN_AVRO_UNION: {
        int64_t b;
        rc = cn_avro__read_long(d, &b, err);
        if (rc < 0) return rc;
        if (b < 0 || (uint64_t)b >= s->n_branches) {
            char msg[128];
            snprintf(msg, sizeof msg, "union branch %lld, expected 0..%zu", (long long)b,
                     s->n_branches - 1);
            return corrupt(d, err, msg);
        }
        out->branch = (int32_t)b;
        out->u.items = cn_arena_alloc(d->arena, sizeof *out->u.items);
        if (!out->u.items) return cn_err_set(err, CN_ENOMEM, "%s: out of memory", d->where);
        return cn_avro__decode(d, s->branches[b], out->u.items, err);
    }
    case CN_AVRO_RECORD:
        out->n = s->n_fields;
        out->u.items = cn_arena_alloc(d->arena, (s->n_fields ? s->n_fields : 1) * sizeof(CnAvroValue));
        if (!out->u.items) return cn_err_set(err, CN_ENOMEM, "%s: out of memory", d->where);
        for (size_t i = 0; i < s->n_fields; i++) {
            rc = push(d, s->fields[i].name, err);
            if (rc < 0) return rc;
            rc = cn_avro__decode(d, s->fields[i].type, &out->u.items[i], err);
            if (rc < 0) return rc;
            d->path.depth--;
        }
        return 0;
    case CN_AVRO_ARRAY:
    case CN_AVRO_MAP: {
        bool map = s->type == CN_AVRO_MAP;
        size_t per = map ? 1 + min_size(s->items, 0) : min_size(s->items, 0);
        CnAvroValue *items = NULL;
        size_t n = 0, cap = 0;
        rc = push(d, map ? "{}" : "[]", err);
        if (rc < 0) return rc;
        for (;;) {
            int64_t cnt;
            rc = cn_avro__read_long(d, &cnt, err);
            if (rc < 0) return rc;
            if (cnt == 0) break;
            if (cnt < 0) {
                int64_t bytes;
                if (cnt == INT64_MIN) return corrupt(d, err, "block count out of range");
                cnt = -cnt;
                rc = cn_avro__read_long(d, &bytes, err);
                if (rc < 0) return rc;
                if (bytes < 0 || (uint64_t)bytes > (uint64_t)(d->end - d->p))
                    return corrupt(d, err, "block byte size larger than the data left");
            }
            size_t left = (size_t)(d->end - d->p);
            /* zero-size items (nulls) could claim any count: cap them */
            if ((per > 0 && (uint64_t)cnt > left / per) || (per == 0 && cnt > (1 << 20)) ||
                n + (size_t)cnt > (size_t)1 << 28) {
                char msg[160];
                snprintf(msg, sizeof msg, "%s block claims %lld items, more than %zu bytes left can hold",
                         map ? "map" : "array", (long long)cnt, left);
                return corrupt(d, err, msg);
            }
            size_t need = n + (size_t)cnt;
            if (need > cap) {
                size_t nc = CN_MAX(need, cap * 2);
                CnAvroValue *ni = cn_arena_alloc(d->arena, nc * (map ? 2 : 1) * sizeof *ni);
                if (!ni) return cn_err_set(err, CN_ENOMEM, "%s: out of memory", d->where);
                if (n) memcpy(ni, items, n * (map ? 2 : 1) * sizeof *ni);
                items = ni;
                cap = nc;
            }
            for (int64_t i = 0; i < cnt; i++, n++) {
                if (map) {
                    CnAvroValue *k = &items[2 * n];
                    size_t kl = 0;
                    k->schema = &cn_avro__key_schema;
                    rc = read_len(d, &kl, "map key", err);
                    if (rc == 0 && !utf8_valid(d->p, kl))
                        rc = corrupt(d, err, "map key is not valid UTF-8");
                    if (rc == 0) rc = read_bytes(d, kl, k, err);
                    if (rc == 0) rc = cn_avro__decode(d, s->items, &items[2 * n + 1], err);
                } else {
                    rc = cn_avro__decode(d, s->items, &items[n], err);
                }
                if (rc < 0) return rc;
            }
        }
        d->path.depth--;
        out->n = n;
        out->u.items = items;
        return 0;
    }
    }
    return corrupt(d, err, "unknown schema type");
}
