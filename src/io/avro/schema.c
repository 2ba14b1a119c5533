/* schema.c: Avro schema JSON -> CnAvroSchema nodes. Every node keeps a pointer to its
 * JSON so attributes we do not interpret (Iceberg's field-id, element-id, key-id,
 * value-id, doc, logicalType parameters) stay available and are never rewritten: the
 * writer stores the original text. Named types are registered before their fields are
 * parsed, so recursive references resolve. */
#include "base/compat.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "base/alloc.h"
#include "base/json.h"
#include "io/avro/avro_int.h"

typedef struct Parser {
    CnAvroSchemaDoc *doc;
    const char *name;           /* for messages */
    CnAvroSchema **named;       /* registered named types */
    size_t n_named, cap_named;
    CnAvroPath path;
    CnErr *err;
} Parser;

static const struct { const char *name; CnAvroType t; } PRIMS[] = {
    {"null", CN_AVRO_NULL},     {"boolean", CN_AVRO_BOOLEAN}, {"int", CN_AVRO_INT},
    {"long", CN_AVRO_LONG},     {"float", CN_AVRO_FLOAT},     {"double", CN_AVRO_DOUBLE},
    {"bytes", CN_AVRO_BYTES},   {"string", CN_AVRO_STRING}};

const char *cn_avro__type_name(CnAvroType t) {
    static const char *const N[] = {"null", "boolean", "int",  "long",  "float",
                                    "double", "bytes", "string", "record", "enum",
                                    "array", "map", "union", "fixed"};
    return (size_t)t < CN_ARRAY_LEN(N) ? N[t] : "?";
}

const char *cn_avro__path_str(const CnAvroPath *p, char *buf, size_t n) {
    if (p->depth == 0) {
        snprintf(buf, n, "(root)");
        return buf;
    }
    size_t used = 0;
    buf[0] = 0;
    for (int i = 0; i < p->depth && used + 1 < n; i++) {
        int w = snprintf(buf + used, n - used, "%s%s", i ? "." : "", p->names[i]);
        if (w < 0) break;
        used += (size_t)w;
    }
    return buf;
}

static int perr(Parser *ps, const char *fmt, ...) CN_PRINTF(2, 3);
static int perr(Parser *ps, const char *fmt, ...) {
    char where[512];
    char msg[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return cn_err_set(ps->err, CN_EINVAL, "%s: schema at %s: %s", ps->name,
                      cn_avro__path_str(&ps->path, where, sizeof where), msg);
}

static bool valid_name(const char *s) {
    if (!s || !*s) return false;
    for (const char *p = s; *p; p++) {
        char c = *p;
        bool alpha = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
        bool digit = c >= '0' && c <= '9';
        if (!(alpha || (digit && p != s) || (c == '.' && p != s && p[1] && p[-1] != '.')))
            return false;
    }
    return true;
}

static const CnAvroSchema *find_named(Parser *ps, const char *full) {
    for (size_t i = 0; i < ps->n_named; i++)
        if (strcmp(ps->named[i]->name, full) == 0) return ps->named[i];
    return NULL;
}

static char *full_name(Parser *ps, const char *name, const char *ns) {
    if (strchr(name, '.') || !ns || !*ns) return cn_arena_strdup(&ps->doc->arena, name);
    return cn_arena_printf(&ps->doc->arena, "%s.%s", ns, name);
}

static int parse_node(Parser *ps, json_t *j, const char *ns, const CnAvroSchema **out);

static int register_named(Parser *ps, CnAvroSchema *s) {
    if (find_named(ps, s->name)) return perr(ps, "type \"%s\" defined twice", s->name);
    if (ps->n_named == ps->cap_named) {
        size_t nc = ps->cap_named ? ps->cap_named * 2 : 16;
        CnAvroSchema **nv = cn_realloc(ps->named, nc * sizeof *nv);
        if (!nv) return cn_err_set(ps->err, CN_ENOMEM, "%s: out of memory", ps->name);
        ps->named = nv;
        ps->cap_named = nc;
    }
    ps->named[ps->n_named++] = s;
    return 0;
}

static int parse_record(Parser *ps, json_t *j, CnAvroSchema *s, const char *ns) {
    json_t *fields = json_object_get(j, "fields");
    if (!json_is_array(fields)) return perr(ps, "record \"%s\" has no \"fields\" array", s->name);
    s->n_fields = json_array_size(fields);
    s->fields = cn_arena_calloc(&ps->doc->arena, (s->n_fields ? s->n_fields : 1) * sizeof *s->fields);
    if (!s->fields) return cn_err_set(ps->err, CN_ENOMEM, "%s: out of memory", ps->name);
    for (size_t i = 0; i < s->n_fields; i++) {
        json_t *f = json_array_get(fields, i);
        CnAvroField *fd = &s->fields[i];
        const char *fname = json_string_value(json_object_get(f, "name"));
        if (!json_is_object(f) || !valid_name(fname) || strchr(fname, '.'))
            return perr(ps, "record \"%s\": field %s needs a valid \"name\"", s->name,
                        fname ? fname : "without name");
        for (size_t k = 0; k < i; k++)
            if (strcmp(s->fields[k].name, fname) == 0)
                return perr(ps, "record \"%s\": field \"%s\" appears twice", s->name, fname);
        fd->name = fname;
        fd->json = f;
        fd->def = json_object_get(f, "default");
        fd->field_id = -1;
        json_t *fid = json_object_get(f, "field-id");
        if (fid) {
            if (!json_is_integer(fid))
                return perr(ps, "field \"%s\": \"field-id\" must be an integer", fname);
            fd->field_id = json_integer_value(fid);
        }
        json_t *ft = json_object_get(f, "type");
        if (!ft) return perr(ps, "field \"%s\" has no \"type\"", fname);
        if (ps->path.depth >= CN_AVRO__MAX_DEPTH)
            return perr(ps, "nesting deeper than 64 levels");
        ps->path.names[ps->path.depth++] = fname;
        int rc = parse_node(ps, ft, ns, &fd->type);
        ps->path.depth--;
        if (rc < 0) return rc;
    }
    return 0;
}

static int parse_node(Parser *ps, json_t *j, const char *ns, const CnAvroSchema **out) {
    CnArena *a = &ps->doc->arena;
    CnAvroSchema *s = NULL;
    if (json_is_string(j)) {
        const char *t = json_string_value(j);
        for (size_t i = 0; i < CN_ARRAY_LEN(PRIMS); i++)
            if (strcmp(t, PRIMS[i].name) == 0) {
                s = cn_arena_calloc(a, sizeof *s);
                if (!s) return cn_err_set(ps->err, CN_ENOMEM, "%s: out of memory", ps->name);
                s->type = PRIMS[i].t;
                s->name = PRIMS[i].name;
                s->json = j;
                *out = s;
                return 0;
            }
        /* a reference to a named type, relative to the enclosing namespace first */
        const CnAvroSchema *ref = NULL;
        if (!strchr(t, '.') && ns && *ns) {
            char *full = full_name(ps, t, ns);
            if (!full) return cn_err_set(ps->err, CN_ENOMEM, "%s: out of memory", ps->name);
            ref = find_named(ps, full);
        }
        if (!ref) ref = find_named(ps, t);
        if (!ref) return perr(ps, "unknown type \"%s\"", t);
        *out = ref;
        return 0;
    }
    if (json_is_array(j)) {
        s = cn_arena_calloc(a, sizeof *s);
        size_t n = json_array_size(j);
        if (!s) return cn_err_set(ps->err, CN_ENOMEM, "%s: out of memory", ps->name);
        if (n == 0) return perr(ps, "empty union");
        s->type = CN_AVRO_UNION;
        s->name = "union";
        s->json = j;
        s->n_branches = n;
        s->branches = cn_arena_calloc(a, n * sizeof *s->branches);
        if (!s->branches) return cn_err_set(ps->err, CN_ENOMEM, "%s: out of memory", ps->name);
        for (size_t i = 0; i < n; i++) {
            int rc = parse_node(ps, json_array_get(j, i), ns, &s->branches[i]);
            if (rc < 0) return rc;
            const CnAvroSchema *b = s->branches[i];
            if (b->type == CN_AVRO_UNION) return perr(ps, "union directly inside a union");
            for (size_t k = 0; k < i; k++) {
                const CnAvroSchema *o = s->branches[k];
                bool named = b->type == CN_AVRO_RECORD || b->type == CN_AVRO_ENUM ||
                             b->type == CN_AVRO_FIXED;
                if (o->type == b->type && (!named || strcmp(o->name, b->name) == 0))
                    return perr(ps, "union has two branches of type %s", b->name);
            }
        }
        *out = s;
        return 0;
    }
    if (!json_is_object(j)) return perr(ps, "expected a type name, object or array");
    json_t *tj = json_object_get(j, "type");
    const char *t = json_string_value(tj);
    if (!t) {
        /* {"type": {...}} or {"type": [...]}: the nested node is the type */
        if (json_is_object(tj) || json_is_array(tj)) return parse_node(ps, tj, ns, out);
        return perr(ps, "object without a \"type\" string");
    }
    s = cn_arena_calloc(a, sizeof *s);
    if (!s) return cn_err_set(ps->err, CN_ENOMEM, "%s: out of memory", ps->name);
    s->json = j;
    s->logical = json_string_value(json_object_get(j, "logicalType"));
    for (size_t i = 0; i < CN_ARRAY_LEN(PRIMS); i++)
        if (strcmp(t, PRIMS[i].name) == 0) {
            s->type = PRIMS[i].t;
            s->name = PRIMS[i].name;
            *out = s;
            return 0;
        }
    bool is_record = strcmp(t, "record") == 0 || strcmp(t, "error") == 0;
    bool is_enum = strcmp(t, "enum") == 0, is_fixed = strcmp(t, "fixed") == 0;
    if (is_record || is_enum || is_fixed) {
        const char *nm = json_string_value(json_object_get(j, "name"));
        if (!valid_name(nm)) return perr(ps, "%s without a valid \"name\"", t);
        const char *own_ns = json_string_value(json_object_get(j, "namespace"));
        const char *use_ns = own_ns ? own_ns : ns;
        char *full = full_name(ps, nm, use_ns);
        if (!full) return cn_err_set(ps->err, CN_ENOMEM, "%s: out of memory", ps->name);
        s->name = full;
        int rc = register_named(ps, s);
        if (rc < 0) return rc;
        /* names inside take this type's namespace */
        const char *dot = strrchr(full, '.');
        char *inner_ns = dot ? cn_arena_strndup(a, full, (size_t)(dot - full)) : NULL;
        if (is_record) {
            s->type = CN_AVRO_RECORD;
            rc = parse_record(ps, j, s, inner_ns);
            if (rc < 0) return rc;
        } else if (is_enum) {
            s->type = CN_AVRO_ENUM;
            json_t *syms = json_object_get(j, "symbols");
            if (!json_is_array(syms)) return perr(ps, "enum \"%s\" has no \"symbols\" array", full);
            s->n_symbols = json_array_size(syms);
            s->symbols = cn_arena_calloc(a, (s->n_symbols ? s->n_symbols : 1) * sizeof *s->symbols);
            if (!s->symbols) return cn_err_set(ps->err, CN_ENOMEM, "%s: out of memory", ps->name);
            for (size_t i = 0; i < s->n_symbols; i++) {
                s->symbols[i] = json_string_value(json_array_get(syms, i));
                if (!valid_name(s->symbols[i]))
                    return perr(ps, "enum \"%s\": symbol %s is not a valid name", full,
                                s->symbols[i] ? s->symbols[i] : "(not a string)");
            }
        } else {
            s->type = CN_AVRO_FIXED;
            json_t *sz = json_object_get(j, "size");
            if (!json_is_integer(sz) || json_integer_value(sz) < 0 ||
                json_integer_value(sz) > (1 << 24))
                return perr(ps, "fixed \"%s\" needs an integer \"size\" in 0..16777216", full);
            s->fixed_size = (size_t)json_integer_value(sz);
        }
        *out = s;
        return 0;
    }
    if (strcmp(t, "array") == 0 || strcmp(t, "map") == 0) {
        bool arr = t[0] == 'a';
        s->type = arr ? CN_AVRO_ARRAY : CN_AVRO_MAP;
        s->name = arr ? "array" : "map";
        json_t *it = json_object_get(j, arr ? "items" : "values");
        if (!it) return perr(ps, "%s without \"%s\"", t, arr ? "items" : "values");
        if (ps->path.depth >= CN_AVRO__MAX_DEPTH)
            return perr(ps, "nesting deeper than 64 levels");
        ps->path.names[ps->path.depth++] = arr ? "[]" : "{}";
        int rc = parse_node(ps, it, ns, &s->items);
        ps->path.depth--;
        if (rc < 0) return rc;
        *out = s;
        return 0;
    }
    /* {"type": "SomeNamedType"} */
    const CnAvroSchema *ref = NULL;
    json_t *tmp = json_string(t);
    if (!tmp) return cn_err_set(ps->err, CN_ENOMEM, "%s: out of memory", ps->name);
    CnErr sub = CN_ERR_INIT;
    CnErr *saved = ps->err;
    ps->err = &sub;
    int rc = parse_node(ps, tmp, ns, &ref);
    ps->err = saved;
    json_decref(tmp);
    if (rc < 0) return perr(ps, "unknown type \"%s\"", t);
    *out = ref;
    return 0;
}

int cn_avro_schema_parse(const char *name, const char *text, size_t len, CnAvroSchemaDoc **out,
                         CnErr *err) {
    *out = NULL;
    CnAvroSchemaDoc *doc = cn_calloc(1, sizeof *doc);
    if (!doc) return cn_err_set(err, CN_ENOMEM, "%s: out of memory", name);
    cn_arena_init(&doc->arena, 0);
    Parser ps = {.doc = doc, .name = name, .err = err};
    /* a bare primitive ("long") is a whole schema, and byte defaults may hold \u0000 */
    json_error_t je;
    int rc = 0;
    doc->json = json_loadb(text, len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &je);
    if (!doc->json) {
        rc = cn_err_set(err, CN_EINVAL, "%s:%d:%d: malformed schema JSON: %s", name, je.line,
                        je.column, je.text);
        goto done;
    }
    doc->text = cn_arena_strndup(&doc->arena, text, len);
    if (!doc->text) {
        rc = cn_err_set(err, CN_ENOMEM, "%s: out of memory", name);
        goto done;
    }
    rc = parse_node(&ps, doc->json, NULL, &doc->root);
done:
    cn_free(ps.named);
    if (rc < 0) {
        cn_avro_schema_free(doc);
        return rc;
    }
    *out = doc;
    return 0;
}

void cn_avro_schema_free(CnAvroSchemaDoc *doc) {
    if (!doc) return;
    if (doc->json) json_decref(doc->json);
    cn_arena_fini(&doc->arena);
    cn_free(doc);
}

const CnAvroSchema *cn_avro_schema_root(const CnAvroSchemaDoc *doc) { return doc->root; }
const char *cn_avro_schema_text(const CnAvroSchemaDoc *doc) { return doc->text; }

const CnAvroField *cn_avro_schema_field(const CnAvroSchema *rec, const char *name, size_t *idx) {
    if (!rec || rec->type != CN_AVRO_RECORD) return NULL;
    for (size_t i = 0; i < rec->n_fields; i++)
        if (strcmp(rec->fields[i].name, name) == 0) {
            if (idx) *idx = i;
            return &rec->fields[i];
        }
    return NULL;
}

const CnAvroField *cn_avro_schema_field_by_id(const CnAvroSchema *rec, int64_t id, size_t *idx) {
    if (!rec || rec->type != CN_AVRO_RECORD || id < 0) return NULL;
    for (size_t i = 0; i < rec->n_fields; i++)
        if (rec->fields[i].field_id == id) {
            if (idx) *idx = i;
            return &rec->fields[i];
        }
    return NULL;
}

const CnAvroSchema *cn_avro_schema_nullable_of(const CnAvroSchema *s) {
    if (!s || s->type != CN_AVRO_UNION || s->n_branches != 2) return NULL;
    if (s->branches[0]->type == CN_AVRO_NULL) return s->branches[1];
    if (s->branches[1]->type == CN_AVRO_NULL) return s->branches[0];
    return NULL;
}
