/* value.c: the value model: accessors, JSON conversion and schema resolution.
 * Resolution turns a value decoded with the writer's schema into one of the reader's
 * schema (Avro's rules: record fields by name or alias, defaults for missing fields,
 * numeric promotion, unions matched by branch type), optionally matching record fields
 * by Iceberg field-id instead of name, as Iceberg readers do. */
#include "base/compat.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "base/json.h"
#include "io/avro/avro_int.h"

const CnAvroSchema cn_avro__key_schema = {.type = CN_AVRO_STRING, .name = "string"};

const CnAvroValue *cn_avro_value_deref(const CnAvroValue *v) {
    while (v && v->schema && v->schema->type == CN_AVRO_UNION) v = v->u.items;
    return v;
}

bool cn_avro_value_is_null(const CnAvroValue *v) {
    v = cn_avro_value_deref(v);
    return !v || !v->schema || v->schema->type == CN_AVRO_NULL;
}

const CnAvroValue *cn_avro_rec_get(const CnAvroValue *rec, const char *name) {
    rec = cn_avro_value_deref(rec);
    size_t i;
    if (!rec || !cn_avro_schema_field(rec->schema, name, &i)) return NULL;
    return &rec->u.items[i];
}

const CnAvroValue *cn_avro_rec_get_id(const CnAvroValue *rec, int64_t field_id) {
    rec = cn_avro_value_deref(rec);
    size_t i;
    if (!rec || !cn_avro_schema_field_by_id(rec->schema, field_id, &i)) return NULL;
    return &rec->u.items[i];
}

const CnAvroValue *cn_avro_map_get(const CnAvroValue *map, const char *key) {
    map = cn_avro_value_deref(map);
    if (!map || !map->schema || map->schema->type != CN_AVRO_MAP) return NULL;
    size_t kl = strlen(key);
    for (size_t i = 0; i < map->n; i++) {
        const CnAvroValue *k = &map->u.items[2 * i];
        if (k->n == kl && memcmp(k->u.bytes, key, kl) == 0) return &map->u.items[2 * i + 1];
    }
    return NULL;
}

/* ---- JSON -> value ---- */

static int jerr(CnAvroPath *path, const CnAvroSchema *s, json_t *j, const char *why, CnErr *err) {
    char where[512], txt[208];
    size_t n = j ? json_dumpb(j, txt, sizeof txt - 8, JSON_ENCODE_ANY | JSON_COMPACT) : 0;
    if (!j) snprintf(txt, sizeof txt, "(missing)");
    else if (n == 0 || n >= sizeof txt - 8) snprintf(txt, sizeof txt, "(a long %s)", cn_json_type_name(j));
    else txt[n] = 0;
    return cn_err_set(err, CN_ETYPE, "field %s: value %s: expected %s%s%s",
                      cn_avro__path_str(path, where, sizeof where), txt, s->name,
                      why ? ", " : "", why ? why : "");
}

/* Bytes from a JSON string of code points 0..255 (Avro's JSON encoding of bytes). */
static int latin1_bytes(CnArena *a, const char *s, size_t n, uint8_t **out, size_t *out_len) {
    uint8_t *b = cn_arena_alloc(a, n + 1);
    if (!b) return CN_ENOMEM;
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x80) {
            b[o++] = c;
        } else if ((c & 0xE0) == 0xC0 && i + 1 < n && c <= 0xC3) {
            b[o++] = (uint8_t)(((c & 0x1F) << 6) | ((unsigned char)s[i + 1] & 0x3F));
            i++;
        } else {
            return CN_ETYPE;  /* a code point above 255 */
        }
    }
    b[o] = 0;
    *out = b;
    *out_len = o;
    return 0;
}

static int push_path(CnAvroPath *p, const char *name, CnErr *err) {
    if (p->depth >= CN_AVRO__MAX_DEPTH)
        return cn_err_set(err, CN_ELIMIT, "value nested deeper than 64 levels");
    p->names[p->depth++] = name;
    return 0;
}

static int from_json(CnArena *a, const CnAvroSchema *s, json_t *j, CnAvroValue *out,
                     CnAvroPath *path, CnErr *err);

static int default_for(CnArena *a, const CnAvroField *f, CnAvroValue *out, CnAvroPath *path,
                       bool *ok, CnErr *err) {
    *ok = true;
    if (f->def) {
        /* Avro: a union's default belongs to its first branch */
        const CnAvroSchema *t = f->type;
        if (t->type == CN_AVRO_UNION) {
            out->schema = t;
            out->branch = 0;
            out->n = 0;
            out->u.items = cn_arena_calloc(a, sizeof(CnAvroValue));
            if (!out->u.items) return cn_err_set(err, CN_ENOMEM, "out of memory");
            return from_json(a, t->branches[0], f->def, out->u.items, path, err);
        }
        return from_json(a, t, f->def, out, path, err);
    }
    if (f->type->type == CN_AVRO_NULL || f->type->type == CN_AVRO_UNION) {
        for (size_t i = 0; f->type->type == CN_AVRO_UNION && i < f->type->n_branches; i++)
            if (f->type->branches[i]->type == CN_AVRO_NULL) {
                out->schema = f->type;
                out->branch = (int32_t)i;
                out->n = 0;
                out->u.items = cn_arena_calloc(a, sizeof(CnAvroValue));
                if (!out->u.items) return cn_err_set(err, CN_ENOMEM, "out of memory");
                out->u.items->schema = f->type->branches[i];
                return 0;
            }
        if (f->type->type == CN_AVRO_NULL) {
            out->schema = f->type;
            return 0;
        }
    }
    *ok = false;
    return 0;
}

static const char *branch_key(const CnAvroSchema *b) { return b->name; }

static int from_json(CnArena *a, const CnAvroSchema *s, json_t *j, CnAvroValue *out,
                     CnAvroPath *path, CnErr *err) {
    memset(out, 0, sizeof *out);
    out->schema = s;
    switch (s->type) {
    case CN_AVRO_NULL:
        return json_is_null(j) ? 0 : jerr(path, s, j, NULL, err);
    case CN_AVRO_BOOLEAN:
        if (!json_is_boolean(j)) return jerr(path, s, j, NULL, err);
        out->u.b = json_is_true(j);
        return 0;
    case CN_AVRO_INT:
        if (!json_is_integer(j) || json_integer_value(j) < INT32_MIN ||
            json_integer_value(j) > INT32_MAX)
            return jerr(path, s, j, "a 32-bit integer", err);
        out->u.i = (int32_t)json_integer_value(j);
        return 0;
    case CN_AVRO_LONG:
        if (!json_is_integer(j)) return jerr(path, s, j, "an integer", err);
        out->u.l = json_integer_value(j);
        return 0;
    case CN_AVRO_FLOAT:
    case CN_AVRO_DOUBLE: {
        double d;
        const char *str = json_string_value(j);
        if (json_is_number(j)) d = json_number_value(j);
        else if (str && strcmp(str, "NaN") == 0) d = NAN;
        else if (str && strcmp(str, "Infinity") == 0) d = INFINITY;
        else if (str && strcmp(str, "-Infinity") == 0) d = -INFINITY;
        else return jerr(path, s, j, "a number", err);
        if (s->type == CN_AVRO_FLOAT) out->u.f = (float)d;
        else out->u.d = d;
        return 0;
    }
    case CN_AVRO_STRING: {
        if (!json_is_string(j)) return jerr(path, s, j, NULL, err);
        size_t n = json_string_length(j);
        char *p = cn_arena_strndup(a, json_string_value(j), n);
        if (!p) return cn_err_set(err, CN_ENOMEM, "out of memory");
        out->u.bytes = (const uint8_t *)p;
        out->n = n;
        return 0;
    }
    case CN_AVRO_BYTES:
    case CN_AVRO_FIXED: {
        if (!json_is_string(j)) return jerr(path, s, j, "a string of code points 0-255", err);
        uint8_t *b;
        size_t n;
        int rc = latin1_bytes(a, json_string_value(j), json_string_length(j), &b, &n);
        if (rc == CN_ENOMEM) return cn_err_set(err, CN_ENOMEM, "out of memory");
        if (rc < 0) return jerr(path, s, j, "code points 0-255 only", err);
        if (s->type == CN_AVRO_FIXED && n != s->fixed_size) {
            char why[64];
            snprintf(why, sizeof why, "exactly %zu bytes", s->fixed_size);
            return jerr(path, s, j, why, err);
        }
        out->u.bytes = b;
        out->n = n;
        return 0;
    }
    case CN_AVRO_ENUM: {
        const char *sym = json_string_value(j);
        for (size_t i = 0; sym && i < s->n_symbols; i++)
            if (strcmp(sym, s->symbols[i]) == 0) {
                out->u.i = (int32_t)i;
                return 0;
            }
        return jerr(path, s, j, "one of the enum's symbols", err);
    }
    case CN_AVRO_ARRAY: {
        if (!json_is_array(j)) return jerr(path, s, j, NULL, err);
        size_t n = json_array_size(j);
        out->n = n;
        out->u.items = cn_arena_calloc(a, (n ? n : 1) * sizeof(CnAvroValue));
        if (!out->u.items) return cn_err_set(err, CN_ENOMEM, "out of memory");
        int rc = push_path(path, "[]", err);
        for (size_t i = 0; i < n && rc == 0; i++)
            rc = from_json(a, s->items, json_array_get(j, i), &out->u.items[i], path, err);
        if (rc < 0) return rc;
        path->depth--;
        return 0;
    }
    case CN_AVRO_MAP: {
        if (!json_is_object(j)) return jerr(path, s, j, NULL, err);
        size_t n = json_object_size(j), i = 0;
        out->n = n;
        out->u.items = cn_arena_calloc(a, (n ? 2 * n : 1) * sizeof(CnAvroValue));
        if (!out->u.items) return cn_err_set(err, CN_ENOMEM, "out of memory");
        int rc = push_path(path, "{}", err);
        const char *k;
        json_t *v;
        json_object_foreach(j, k, v) {
            if (rc < 0) break;
            CnAvroValue *kv = &out->u.items[2 * i];
            kv->schema = &cn_avro__key_schema;
            kv->n = strlen(k);
            kv->u.bytes = (const uint8_t *)cn_arena_strdup(a, k);
            if (!kv->u.bytes) return cn_err_set(err, CN_ENOMEM, "out of memory");
            rc = from_json(a, s->items, v, &out->u.items[2 * i + 1], path, err);
            i++;
        }
        if (rc < 0) return rc;
        path->depth--;
        return 0;
    }
    case CN_AVRO_RECORD: {
        if (!json_is_object(j)) return jerr(path, s, j, "an object", err);
        out->n = s->n_fields;
        out->u.items = cn_arena_calloc(a, (s->n_fields ? s->n_fields : 1) * sizeof(CnAvroValue));
        if (!out->u.items) return cn_err_set(err, CN_ENOMEM, "out of memory");
        const char *k;
        json_t *v;
        json_object_foreach(j, k, v) {
            if (!cn_avro_schema_field(s, k, NULL)) {
                char where[512];
                return cn_err_set(err, CN_ETYPE, "field %s: record %s has no field \"%s\"",
                                  cn_avro__path_str(path, where, sizeof where), s->name, k);
            }
        }
        for (size_t i = 0; i < s->n_fields; i++) {
            const CnAvroField *f = &s->fields[i];
            int rc = push_path(path, f->name, err);
            if (rc < 0) return rc;
            json_t *fj = json_object_get(j, f->name);
            if (fj) {
                rc = from_json(a, f->type, fj, &out->u.items[i], path, err);
            } else {
                bool ok;
                rc = default_for(a, f, &out->u.items[i], path, &ok, err);
                if (rc == 0 && !ok) rc = jerr(path, f->type, NULL, "the field has no default", err);
            }
            if (rc < 0) return rc;
            path->depth--;
        }
        return 0;
    }
    case CN_AVRO_UNION: {
        out->u.items = cn_arena_calloc(a, sizeof(CnAvroValue));
        if (!out->u.items) return cn_err_set(err, CN_ENOMEM, "out of memory");
        /* wrapped form {"long": 5} / {"ns.Rec": {...}} */
        if (json_is_object(j) && json_object_size(j) == 1) {
            const char *k = json_object_iter_key(json_object_iter(j));
            for (size_t i = 0; i < s->n_branches; i++)
                if (strcmp(k, branch_key(s->branches[i])) == 0) {
                    CnErr sub = CN_ERR_INIT;
                    if (from_json(a, s->branches[i], json_object_get(j, k), out->u.items, path,
                                  &sub) == 0) {
                        out->branch = (int32_t)i;
                        return 0;
                    }
                }
        }
        /* plain form: the first branch that takes it */
        for (size_t i = 0; i < s->n_branches; i++) {
            CnErr sub = CN_ERR_INIT;
            int depth = path->depth;
            int rc = from_json(a, s->branches[i], j, out->u.items, path, &sub);
            path->depth = depth;
            if (rc == CN_ENOMEM) return cn_err_set(err, CN_ENOMEM, "out of memory");
            if (rc == 0) {
                out->branch = (int32_t)i;
                return 0;
            }
            /* with one non-null branch its own message is the most useful */
            if (cn_avro_schema_nullable_of(s) == s->branches[i] && !json_is_null(j))
                return cn_err_set(err, sub.code, "%s", cn_err_msg(&sub));
        }
        return jerr(path, s, j, "a value of one of the union's branches", err);
    }
    }
    return jerr(path, s, j, NULL, err);
}

int cn_avro_value_from_json(CnArena *a, const CnAvroSchema *s, json_t *j, CnAvroValue **out,
                            CnErr *err) {
    CnAvroPath path = {.depth = 0};
    CnAvroValue *v = cn_arena_calloc(a, sizeof *v);
    if (!v) return cn_err_set(err, CN_ENOMEM, "out of memory");
    int rc = from_json(a, s, j, v, &path, err);
    if (rc < 0) return rc;
    *out = v;
    return 0;
}

/* ---- value -> JSON ---- */

static json_t *latin1_string(const uint8_t *b, size_t n) {
    CnBuf s = CN_BUF_INIT;
    for (size_t i = 0; i < n; i++) {
        if (b[i] < 0x80) {
            cn_buf_putc(&s, (char)b[i]);
        } else {
            cn_buf_putc(&s, (char)(0xC0 | (b[i] >> 6)));
            cn_buf_putc(&s, (char)(0x80 | (b[i] & 0x3F)));
        }
    }
    json_t *j = s.oom ? NULL : json_stringn(s.data ? s.data : "", s.len);
    cn_buf_fini(&s);
    return j;
}

static json_t *real_json(double d) {
    if (isnan(d)) return json_string("NaN");
    if (isinf(d)) return json_string(d > 0 ? "Infinity" : "-Infinity");
    return json_real(d);
}

static json_t *to_json(const CnAvroValue *v, int depth) {
    if (depth > CN_AVRO__MAX_DEPTH * 2) return NULL;
    switch (v->schema->type) {
    case CN_AVRO_NULL: return json_null();
    case CN_AVRO_BOOLEAN: return json_boolean(v->u.b);
    case CN_AVRO_INT: return json_integer(v->u.i);
    case CN_AVRO_LONG: return json_integer(v->u.l);
    case CN_AVRO_FLOAT: return real_json(v->u.f);
    case CN_AVRO_DOUBLE: return real_json(v->u.d);
    case CN_AVRO_STRING: return json_stringn((const char *)v->u.bytes, v->n);
    case CN_AVRO_BYTES:
    case CN_AVRO_FIXED: return latin1_string(v->u.bytes, v->n);
    case CN_AVRO_ENUM: return json_string(v->schema->symbols[v->u.i]);
    case CN_AVRO_UNION: return to_json(v->u.items, depth + 1);
    case CN_AVRO_ARRAY: {
        json_t *arr = json_array();
        for (size_t i = 0; arr && i < v->n; i++) {
            json_t *e = to_json(&v->u.items[i], depth + 1);
            if (!e || json_array_append_new(arr, e) < 0) {
                json_decref(arr);
                return NULL;
            }
        }
        return arr;
    }
    case CN_AVRO_MAP:
    case CN_AVRO_RECORD: {
        json_t *obj = json_object();
        bool map = v->schema->type == CN_AVRO_MAP;
        for (size_t i = 0; obj && i < v->n; i++) {
            const CnAvroValue *val = map ? &v->u.items[2 * i + 1] : &v->u.items[i];
            json_t *e = to_json(val, depth + 1);
            int rc = -1;
            if (e && map)
                rc = json_object_setn_new(obj, (const char *)v->u.items[2 * i].u.bytes,
                                          v->u.items[2 * i].n, e);
            else if (e)
                rc = json_object_set_new(obj, v->schema->fields[i].name, e);
            if (rc < 0) {
                json_decref(obj);
                return NULL;
            }
        }
        return obj;
    }
    }
    return NULL;
}

int cn_avro_value_to_json(const CnAvroValue *v, json_t **out, CnErr *err) {
    *out = to_json(v, 0);
    if (!*out)
        return cn_err_set(err, CN_EINVAL,
                          "value of type %s cannot be shown as JSON (out of memory, a string "
                          "that is not UTF-8, or nested too deep)",
                          v && v->schema ? v->schema->name : "?");
    return 0;
}

/* ---- resolution ---- */

static bool named(const CnAvroSchema *s) {
    return s->type == CN_AVRO_RECORD || s->type == CN_AVRO_ENUM || s->type == CN_AVRO_FIXED;
}

/* Whether a writer value of type w can become reader type r (Avro's matching rules;
 * records match records of any name, since Iceberg renames them freely). */
static bool matches(const CnAvroSchema *w, const CnAvroSchema *r) {
    if (w->type == r->type) {
        if (w->type == CN_AVRO_FIXED) return w->fixed_size == r->fixed_size;
        return true;  /* enums resolve by symbol, whatever their names */
    }
    switch (w->type) {
    case CN_AVRO_INT:
        return r->type == CN_AVRO_LONG || r->type == CN_AVRO_FLOAT || r->type == CN_AVRO_DOUBLE;
    case CN_AVRO_LONG: return r->type == CN_AVRO_FLOAT || r->type == CN_AVRO_DOUBLE;
    case CN_AVRO_FLOAT: return r->type == CN_AVRO_DOUBLE;
    case CN_AVRO_STRING: return r->type == CN_AVRO_BYTES;
    case CN_AVRO_BYTES: return r->type == CN_AVRO_STRING;
    default: return false;
    }
}

static int rerr(CnAvroPath *path, const CnAvroSchema *w, const CnAvroSchema *r, const char *why,
                CnErr *err) {
    char where[512];
    return cn_err_set(err, CN_ETYPE, "field %s: writer type %s cannot be read as %s%s%s",
                      cn_avro__path_str(path, where, sizeof where), w->name, r->name,
                      why ? ": " : "", why ? why : "");
}

static const CnAvroField *writer_field(const CnAvroSchema *ws, const CnAvroField *rf, int match,
                                       size_t *idx) {
    if (match == CN_AVRO_MATCH_FIELD_ID && rf->field_id >= 0)
        return cn_avro_schema_field_by_id(ws, rf->field_id, idx);
    const CnAvroField *f = cn_avro_schema_field(ws, rf->name, idx);
    if (f) return f;
    json_t *aliases = json_object_get(rf->json, "aliases");
    for (size_t i = 0; json_is_array(aliases) && i < json_array_size(aliases); i++) {
        const char *al = json_string_value(json_array_get(aliases, i));
        if (al && (f = cn_avro_schema_field(ws, al, idx)) != NULL) return f;
    }
    return NULL;
}

int cn_avro__resolve(CnArena *a, const CnAvroValue *wv, const CnAvroSchema *rs, int match,
                     CnAvroValue *out, CnAvroPath *path, CnErr *err) {
    const CnAvroSchema *ws = wv->schema;
    memset(out, 0, sizeof *out);
    if (ws->type == CN_AVRO_UNION && rs->type != CN_AVRO_UNION)
        return cn_avro__resolve(a, wv->u.items, rs, match, out, path, err);
    if (rs->type == CN_AVRO_UNION) {
        const CnAvroValue *inner = ws->type == CN_AVRO_UNION ? wv->u.items : wv;
        for (size_t i = 0; i < rs->n_branches; i++) {
            const CnAvroSchema *b = rs->branches[i];
            bool exact = b->type == inner->schema->type &&
                         (!named(b) || strcmp(b->name, inner->schema->name) == 0);
            if (!exact) continue;
            out->schema = rs;
            out->branch = (int32_t)i;
            out->u.items = cn_arena_calloc(a, sizeof(CnAvroValue));
            if (!out->u.items) return cn_err_set(err, CN_ENOMEM, "out of memory");
            return cn_avro__resolve(a, inner, b, match, out->u.items, path, err);
        }
        for (size_t i = 0; i < rs->n_branches; i++) {
            if (!matches(inner->schema, rs->branches[i])) continue;
            out->schema = rs;
            out->branch = (int32_t)i;
            out->u.items = cn_arena_calloc(a, sizeof(CnAvroValue));
            if (!out->u.items) return cn_err_set(err, CN_ENOMEM, "out of memory");
            return cn_avro__resolve(a, inner, rs->branches[i], match, out->u.items, path, err);
        }
        return rerr(path, inner->schema, rs, "no union branch matches", err);
    }
    if (!matches(ws, rs)) return rerr(path, ws, rs, NULL, err);
    out->schema = rs;
    out->n = wv->n;
    switch (rs->type) {
    case CN_AVRO_NULL:
    case CN_AVRO_BOOLEAN:
    case CN_AVRO_INT:
    case CN_AVRO_STRING:
    case CN_AVRO_BYTES:
    case CN_AVRO_FIXED:
        out->u = wv->u;
        return 0;
    case CN_AVRO_LONG:
        out->u.l = ws->type == CN_AVRO_INT ? wv->u.i : wv->u.l;
        return 0;
    case CN_AVRO_FLOAT:
        out->u.f = ws->type == CN_AVRO_INT ? (float)wv->u.i
                   : ws->type == CN_AVRO_LONG ? (float)wv->u.l : wv->u.f;
        return 0;
    case CN_AVRO_DOUBLE:
        out->u.d = ws->type == CN_AVRO_INT ? (double)wv->u.i
                   : ws->type == CN_AVRO_LONG ? (double)wv->u.l
                   : ws->type == CN_AVRO_FLOAT ? (double)wv->u.f : wv->u.d;
        return 0;
    case CN_AVRO_ENUM: {
        const char *sym = ws->symbols[wv->u.i];
        for (size_t i = 0; i < rs->n_symbols; i++)
            if (strcmp(rs->symbols[i], sym) == 0) {
                out->u.i = (int32_t)i;
                return 0;
            }
        const char *def = json_string_value(json_object_get(rs->json, "default"));
        for (size_t i = 0; def && i < rs->n_symbols; i++)
            if (strcmp(rs->symbols[i], def) == 0) {
                out->u.i = (int32_t)i;
                return 0;
            }
        return rerr(path, ws, rs, "enum symbol unknown to the reader", err);
    }
    case CN_AVRO_ARRAY:
    case CN_AVRO_MAP: {
        bool map = rs->type == CN_AVRO_MAP;
        size_t per = map ? 2 : 1;
        out->u.items = cn_arena_calloc(a, (wv->n ? wv->n * per : 1) * sizeof(CnAvroValue));
        if (!out->u.items) return cn_err_set(err, CN_ENOMEM, "out of memory");
        int rc = push_path(path, map ? "{}" : "[]", err);
        for (size_t i = 0; i < wv->n && rc == 0; i++) {
            if (map) out->u.items[2 * i] = wv->u.items[2 * i];
            rc = cn_avro__resolve(a, &wv->u.items[i * per + per - 1], rs->items, match,
                                  &out->u.items[i * per + per - 1], path, err);
        }
        if (rc < 0) return rc;
        path->depth--;
        return 0;
    }
    case CN_AVRO_RECORD: {
        out->n = rs->n_fields;
        out->u.items = cn_arena_calloc(a, (rs->n_fields ? rs->n_fields : 1) * sizeof(CnAvroValue));
        if (!out->u.items) return cn_err_set(err, CN_ENOMEM, "out of memory");
        for (size_t i = 0; i < rs->n_fields; i++) {
            const CnAvroField *rf = &rs->fields[i];
            int rc = push_path(path, rf->name, err);
            if (rc < 0) return rc;
            size_t wi;
            if (writer_field(ws, rf, match, &wi)) {
                rc = cn_avro__resolve(a, &wv->u.items[wi], rf->type, match, &out->u.items[i],
                                      path, err);
            } else {
                bool ok;
                rc = default_for(a, rf, &out->u.items[i], path, &ok, err);
                if (rc == 0 && !ok) {
                    char where[512];
                    rc = cn_err_set(err, CN_ETYPE,
                                    "field %s: not in the writer's schema and has no default",
                                    cn_avro__path_str(path, where, sizeof where));
                }
            }
            if (rc < 0) return rc;
            path->depth--;
        }
        return 0;
    }
    case CN_AVRO_UNION:
        break;
    }
    return rerr(path, ws, rs, NULL, err);
}
