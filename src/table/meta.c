/* meta.c: table metadata JSON (Iceberg v2): schemas, creating and loading tables,
 * the not-found message with suggestions, accessors, schema evolution and properties.
 * The loaded document is kept whole (jansson) so a commit copies it and changes only
 * what it must: keys we do not know survive. */
#include "base/compat.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/json.h"
#include "table/ice_int.h"

/* ------------------------------------------------------------- schema JSON */

static const struct {
    CnTypeId id;
    const char *ice;
} prim_names[] = {
    {CN_COL_BOOL, "boolean"}, {CN_COL_INT32, "int"},     {CN_COL_INT64, "long"},
    {CN_COL_FLOAT32, "float"}, {CN_COL_FLOAT64, "double"}, {CN_COL_DATE, "date"},
    {CN_COL_TIMESTAMP, "timestamp"}, {CN_COL_STRING, "string"}, {CN_COL_BINARY, "binary"},
};

static const char *prim_ice_name(CnTypeId id) {
    for (size_t i = 0; i < CN_ARRAY_LEN(prim_names); i++)
        if (prim_names[i].id == id) return prim_names[i].ice;
    return NULL;
}

static json_t *type_to_json(const CnType *t) {
    if (t->id == CN_COL_LIST) {
        const CnField *e = &t->children[0];
        return json_pack("{s:s, s:I, s:o, s:b}", "type", "list", "element-id",
                         (json_int_t)e->field_id, "element", type_to_json(e->type),
                         "element-required", !e->nullable);
    }
    if (t->id == CN_COL_MAP) {
        const CnField *k = &t->children[0], *v = &t->children[1];
        return json_pack("{s:s, s:I, s:o, s:I, s:o, s:b}", "type", "map", "key-id",
                         (json_int_t)k->field_id, "key", type_to_json(k->type), "value-id",
                         (json_int_t)v->field_id, "value", type_to_json(v->type),
                         "value-required", !v->nullable);
    }
    /* our timestamps are UTC instants and the Parquet writer marks them adjusted to
     * UTC, which is Iceberg's timestamptz */
    if (t->id == CN_COL_TIMESTAMP) return json_string("timestamptz");
    const char *n = prim_ice_name(t->id);
    return json_string(n ? n : "unknown");
}

json_t *cn_ice__schema_to_json(const CnSchema *s, int schema_id) {
    json_t *fields = json_array();
    for (uint32_t i = 0; i < s->n_fields; i++) {
        const CnField *f = &s->fields[i];
        json_array_append_new(fields, json_pack("{s:I, s:s, s:b, s:o}", "id",
                                                (json_int_t)f->field_id, "name", f->name,
                                                "required", !f->nullable, "type",
                                                type_to_json(f->type)));
    }
    return json_pack("{s:s, s:i, s:o}", "type", "struct", "schema-id", schema_id, "fields",
                     fields);
}

static int type_from_json(const char *where, CnArena *a, json_t *j, const CnType **out,
                          CnErr *err) {
    if (json_is_string(j)) {
        const char *n = json_string_value(j);
        for (size_t i = 0; i < CN_ARRAY_LEN(prim_names); i++)
            if (!strcmp(n, prim_names[i].ice)) {
                *out = cn_col_type_prim(prim_names[i].id);
                return 0;
            }
        if (!strcmp(n, "timestamptz")) {
            *out = cn_col_type_prim(CN_COL_TIMESTAMP);
            return 0;
        }
        return cn_err_set(err, CN_EUNSUPPORTED, "%s: Iceberg type \"%s\" is not supported", where, n);
    }
    const char *kind = json_string_value(json_object_get(j, "type"));
    if (kind && !strcmp(kind, "list")) {
        const CnType *e = NULL;
        int rc = type_from_json(where, a, json_object_get(j, "element"), &e, err);
        if (rc < 0) return rc;
        if (cn_col_type_is_nested(e->id))
            return cn_err_set(err, CN_EUNSUPPORTED, "%s: nested lists are not supported", where);
        *out = cn_col_type_list(a, e, !json_is_true(json_object_get(j, "element-required")),
                                (int32_t)json_integer_value(json_object_get(j, "element-id")));
        return *out ? 0 : CN_ENOMEM;
    }
    if (kind && !strcmp(kind, "map")) {
        const CnType *k = NULL, *v = NULL;
        int rc = type_from_json(where, a, json_object_get(j, "key"), &k, err);
        if (rc == 0) rc = type_from_json(where, a, json_object_get(j, "value"), &v, err);
        if (rc < 0) return rc;
        if (cn_col_type_is_nested(k->id) || cn_col_type_is_nested(v->id))
            return cn_err_set(err, CN_EUNSUPPORTED, "%s: nested map types are not supported", where);
        *out = cn_col_type_map(a, k, v, !json_is_true(json_object_get(j, "value-required")),
                               (int32_t)json_integer_value(json_object_get(j, "key-id")),
                               (int32_t)json_integer_value(json_object_get(j, "value-id")));
        return *out ? 0 : CN_ENOMEM;
    }
    return cn_err_set(err, CN_EUNSUPPORTED, "%s: Iceberg type %s is not supported", where,
                      kind ? kind : "(no type)");
}

int cn_ice__schema_from_json(const char *where, json_t *j, CnSchema **out, CnErr *err) {
    CnSchema *s = NULL;
    int rc = cn_col_schema_new(&s);
    if (rc < 0) return cn_err_set(err, rc, "out of memory");
    json_t *fields = json_object_get(j, "fields");
    if (!json_is_array(fields)) {
        rc = cn_err_set(err, CN_ECORRUPT, "%s: schema has no \"fields\" array", where);
        goto done;
    }
    size_t i;
    json_t *f;
    json_array_foreach(fields, i, f) {
        const char *name = json_string_value(json_object_get(f, "name"));
        json_t *id = json_object_get(f, "id");
        if (!name || !json_is_integer(id)) {
            rc = cn_err_set(err, CN_ECORRUPT, "%s: schema field %zu lacks a name or an id", where, i);
            goto done;
        }
        char w2[512];
        snprintf(w2, sizeof w2, "%s: column \"%s\"", where, name);
        const CnType *t = NULL;
        rc = type_from_json(w2, &s->arena, json_object_get(f, "type"), &t, err);
        if (rc < 0) goto done;
        rc = cn_col_schema_add(s, name, t, !json_is_true(json_object_get(f, "required")),
                               (int32_t)json_integer_value(id), err);
        if (rc < 0) goto done;
    }
done:
    if (rc < 0) {
        cn_col_schema_free(s);
        return rc;
    }
    *out = s;
    return 0;
}

json_t *cn_ice__meta_schema(json_t *meta, int64_t id) {
    size_t i;
    json_t *s;
    json_array_foreach(json_object_get(meta, "schemas"), i, s) {
        if (json_integer_value(json_object_get(s, "schema-id")) == id) return s;
    }
    return NULL;
}

json_t *cn_ice__meta_snapshot(json_t *meta, int64_t id) {
    size_t i;
    json_t *s;
    json_array_foreach(json_object_get(meta, "snapshots"), i, s) {
        if (json_integer_value(json_object_get(s, "snapshot-id")) == id) return s;
    }
    return NULL;
}

/* ------------------------------------------------------------------ loading */

static int64_t summary_num(json_t *summary, const char *key) {
    const char *v = json_string_value(json_object_get(summary, key));
    return v ? strtoll(v, NULL, 10) : 0;
}

static int cmp_snap(const void *a, const void *b) {
    const CnIceSnapshot *x = a, *y = b;
    if (x->sequence_number != y->sequence_number) return x->sequence_number < y->sequence_number ? -1 : 1;
    return x->timestamp_ms < y->timestamp_ms ? -1 : x->timestamp_ms > y->timestamp_ms;
}

int cn_ice__table_read(CnIceCatalog *c, const char *ns, const char *name, const char *uri,
                       CnIceTable **out, CnErr *err) {
    *out = NULL;
    CnBuf buf = CN_BUF_INIT;
    CnIceTable *t = cn_calloc(1, sizeof *t);
    if (!t) return cn_err_set(err, CN_ENOMEM, "out of memory");
    cn_arena_init(&t->arena, 0);
    int rc = cn_ice__get(c, uri, &buf, err);
    if (rc < 0) {
        cn_err_ctx(err, rc, "table %s.%s: metadata file named by the catalog", ns, name);
        goto done;
    }
    rc = cn_json_loadb(uri, buf.data ? buf.data : "", buf.len, &t->meta, err);
    if (rc < 0) goto done;
    t->full_name = cn_arena_printf(&t->arena, "%s.%s", ns, name);
    t->ns = cn_arena_strdup(&t->arena, ns);
    t->name = cn_arena_strdup(&t->arena, name);
    t->meta_loc = cn_arena_strdup(&t->arena, uri);
    json_t *m = t->meta;
    json_int_t fv = json_integer_value(json_object_get(m, "format-version"));
    CN_CHECK_DATA(fv == 2 || fv == 1, err, rc, "%s: format-version %lld, expected 2", uri, (long long)fv);
    const char *loc = json_string_value(json_object_get(m, "location"));
    CN_CHECK_DATA(loc, err, rc, "%s: no \"location\"", uri);
    size_t ll = strlen(loc);
    while (ll > 1 && loc[ll - 1] == '/') ll--;
    t->location = cn_arena_strndup(&t->arena, loc, ll);
    json_int_t sid = json_integer_value(json_object_get(m, "current-schema-id"));
    json_t *sj = cn_ice__meta_schema(m, sid);
    if (!sj && fv == 1) sj = json_object_get(m, "schema");
    CN_CHECK_DATA(sj, err, rc, "%s: current-schema-id %lld has no schema", uri, (long long)sid);
    rc = cn_ice__schema_from_json(uri, sj, &t->schema, err);
    if (rc < 0) goto done;
    t->ds_field_id = -1;
    json_int_t spec_id = json_integer_value(json_object_get(m, "default-spec-id"));
    size_t i;
    json_t *spec;
    json_array_foreach(json_object_get(m, "partition-specs"), i, spec) {
        if (json_integer_value(json_object_get(spec, "spec-id")) != spec_id) continue;
        size_t k;
        json_t *pf;
        json_array_foreach(json_object_get(spec, "fields"), k, pf) {
            const char *tr = json_string_value(json_object_get(pf, "transform"));
            int32_t src = (int32_t)json_integer_value(json_object_get(pf, "source-id"));
            for (uint32_t f = 0; f < t->schema->n_fields; f++)
                if (t->schema->fields[f].field_id == src && tr && !strcmp(tr, "identity") &&
                    !strcmp(t->schema->fields[f].name, CN_ICE_DS))
                    t->ds_field_id = src;
        }
    }
    json_t *snaps = json_object_get(m, "snapshots");
    t->n_snaps = (uint32_t)json_array_size(snaps);
    t->snaps = cn_arena_calloc(&t->arena, sizeof(CnIceSnapshot) * (t->n_snaps + 1));
    if (!t->snaps) {
        rc = cn_err_set(err, CN_ENOMEM, "out of memory");
        goto done;
    }
    json_t *sn;
    json_array_foreach(snaps, i, sn) {
        CnIceSnapshot *s = &t->snaps[i];
        json_t *sum = json_object_get(sn, "summary");
        s->id = json_integer_value(json_object_get(sn, "snapshot-id"));
        json_t *p = json_object_get(sn, "parent-snapshot-id");
        s->parent_id = json_is_integer(p) ? json_integer_value(p) : -1;
        s->sequence_number = json_integer_value(json_object_get(sn, "sequence-number"));
        s->timestamp_ms = json_integer_value(json_object_get(sn, "timestamp-ms"));
        const char *op = json_string_value(json_object_get(sum, "operation"));
        s->operation = cn_arena_strdup(&t->arena, op ? op : "");
        s->added_files = summary_num(sum, "added-data-files");
        s->deleted_files = summary_num(sum, "deleted-data-files");
        s->added_records = summary_num(sum, "added-records");
        s->deleted_records = summary_num(sum, "deleted-records");
        s->total_records = summary_num(sum, "total-records");
    }
    qsort(t->snaps, t->n_snaps, sizeof *t->snaps, cmp_snap);
done:
    cn_buf_fini(&buf);
    if (rc < 0) {
        cn_ice_table_free(t);
        return rc;
    }
    *out = t;
    return 0;
}

void cn_ice_table_free(CnIceTable *t) {
    if (!t) return;
    json_decref(t->meta);
    cn_col_schema_free(t->schema);
    cn_arena_fini(&t->arena);
    cn_free(t);
}

/* Appends "did you mean X?" and the nearby names to msg. */
static void suggest(CnBuf *msg, const char *what, const char *want, const char *lines,
                    int column) {
    CnBuf near = CN_BUF_INIT, all = CN_BUF_INIT;
    int n_all = 0;
    for (const char *p = lines; p && *p;) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        char line[300];
        snprintf(line, sizeof line, "%.*s", (int)CN_MIN(len, sizeof line - 1), p);
        char *cand = line;
        if (column == 1) {
            char *tab = strchr(line, '\t');
            if (tab) cand = tab + 1;
        }
        char full[300];
        snprintf(full, sizeof full, "%s", line);
        for (char *q = full; *q; q++)
            if (*q == '\t') *q = '.';
        int d = cn_ice__edit_distance(want, cand);
        if (d <= 3 || strstr(cand, want) || strstr(want, cand))
            cn_buf_printf(&near, "%s%s", near.len ? ", " : "", full);
        if (n_all < 20) cn_buf_printf(&all, "%s%s", all.len ? ", " : "", full);
        n_all++;
        p = nl ? nl + 1 : NULL;
    }
    if (near.len) cn_buf_printf(msg, "; did you mean %s?", near.data);
    if (all.len)
        cn_buf_printf(msg, "; %s: %s%s", what, all.data, n_all > 20 ? ", ..." : "");
    else
        cn_buf_printf(msg, "; there are no %s", !strcmp(what, "namespaces") ? "namespaces yet" : "tables in it");
    cn_buf_fini(&near);
    cn_buf_fini(&all);
}

static int not_found(CnIceCatalog *c, const char *ns, const char *name, CnErr *err) {
    CnBuf msg = CN_BUF_INIT, lines = CN_BUF_INIT;
    CnErr e2 = CN_ERR_INIT;
    c->ops->list_ns(c, &lines, &e2);
    bool ns_known = false;
    char needle[140];
    snprintf(needle, sizeof needle, "%s\n", ns);
    for (const char *p = lines.data; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
        if (!strncmp(p, needle, strlen(needle))) ns_known = true;
    if (!ns_known) {
        cn_buf_printf(&msg, "table %s.%s not found: namespace \"%s\" does not exist in catalog %s",
                      ns, name, ns, c->safe_uri);
        suggest(&msg, "namespaces", ns, lines.data, 0);
    } else {
        cn_buf_reset(&lines);
        c->ops->list(c, "TABLE", ns, &lines, &e2);
        cn_buf_printf(&msg, "table %s.%s not found in catalog %s", ns, name, c->safe_uri);
        suggest(&msg, "tables in namespace", name, lines.data, 1);
        /* the same name in another namespace */
        CnBuf all = CN_BUF_INIT;
        c->ops->list(c, "TABLE", NULL, &all, &e2);
        CnBuf other = CN_BUF_INIT;
        for (const char *p = all.data; p && *p;) {
            const char *nl = strchr(p, '\n');
            const char *tab = strchr(p, '\t');
            if (!nl || !tab) break;
            if ((size_t)(nl - tab - 1) == strlen(name) && !strncmp(tab + 1, name, strlen(name)) &&
                strncmp(p, ns, (size_t)(tab - p)))
                cn_buf_printf(&other, "%s%.*s.%s", other.len ? ", " : "", (int)(tab - p), p, name);
            p = nl + 1;
        }
        if (other.len) cn_buf_printf(&msg, "; also in other namespaces: %s", other.data);
        cn_buf_fini(&all);
        cn_buf_fini(&other);
    }
    int rc = cn_err_set(err, CN_ENOTFOUND, "%s", msg.data ? msg.data : "table not found");
    cn_buf_fini(&msg);
    cn_buf_fini(&lines);
    return rc;
}

int cn_ice_table_load(CnIceCatalog *c, const char *ns, const char *name, CnIceTable **out,
                      CnErr *err) {
    *out = NULL;
    char *loc = NULL;
    int rc = c->ops->get(c, "TABLE", ns, name, &loc, err);
    if (rc == CN_ENOTFOUND) return not_found(c, ns, name, err);
    if (rc < 0) return rc;
    rc = cn_ice__table_read(c, ns, name, loc, out, err);
    cn_free(loc);
    return rc;
}

int cn_ice_table_drop_unused(CnIceCatalog *c, const char *ns, const char *name,
                             const char *metadata_location, CnErr *err) {
    CnIceTable *t = NULL;
    int rc = cn_ice_table_load(c, ns, name, &t, err);
    if (rc < 0) return rc;
    if (cn_ice_table_current_snapshot(t) >= 0 || strcmp(t->meta_loc, metadata_location)) {
        cn_ice_table_free(t);
        return cn_err_set(err, CN_ECONFLICT, "table %s.%s changed since it was created; not dropped", ns, name);
    }
    cn_ice_table_free(t);
    rc = c->ops->drop(c, ns, name, metadata_location, err);
    if (rc == CN_ECONFLICT)
        return cn_err_set(err, rc, "table %s.%s changed since it was created; not dropped", ns, name);
    if (rc < 0) return rc;
    const char *key = NULL;
    CnErr e2 = CN_ERR_INIT;
    if (cn_ice__key(c, metadata_location, &key, &e2) == 0) cn_obj_delete(c->store, key, &e2);
    const char *local = cn_ice__local_path(c->warehouse);
    CnBuf tk = CN_BUF_INIT;
    if (local && cn_ice__table_key(ns, name, &tk) == 0 && tk.data) {
        /* the table's folders, if nothing else is in them now */
        static const char *const sub[] = {"/metadata", "/data", ""};
        char path[4096];
        for (size_t i = 0; i < 3; i++)
            if (snprintf(path, sizeof path, "%s/%s%s", local, tk.data, sub[i]) < (int)sizeof path) rmdir(path);
    }
    cn_buf_fini(&tk);
    return 0;
}

bool cn_ice_table_exists(CnIceCatalog *c, const char *ns, const char *name) {
    char *loc = NULL;
    CnErr e = CN_ERR_INIT;
    int rc = c->ops->get(c, "TABLE", ns, name, &loc, &e);
    cn_free(loc);
    return rc == 0;
}

/* ------------------------------------------------------------------ create */

static int assign_type_ids(CnArena *a, const CnType *t, int32_t *next, const CnType **out) {
    if (t->id == CN_COL_LIST) {
        int32_t eid = (*next)++;
        *out = cn_col_type_list(a, t->children[0].type, t->children[0].nullable, eid);
        return *out ? 0 : CN_ENOMEM;
    }
    if (t->id == CN_COL_MAP) {
        int32_t kid = (*next)++, vid = (*next)++;
        *out = cn_col_type_map(a, t->children[0].type, t->children[1].type,
                               t->children[1].nullable, kid, vid);
        return *out ? 0 : CN_ENOMEM;
    }
    *out = t;
    return 0;
}

static int check_type(const char *col, const CnType *t, CnErr *err) {
    if (t->id == CN_COL_STRUCT)
        return cn_err_set(err, CN_EUNSUPPORTED, "column \"%s\": struct columns are not supported in tables", col);
    for (uint32_t i = 0; i < t->n_children; i++)
        if (cn_col_type_is_nested(t->children[i].type->id))
            return cn_err_set(err, CN_EUNSUPPORTED,
                              "column \"%s\": nested list/map element types are not supported", col);
    return 0;
}

static int write_metadata(CnIceCatalog *c, const char *ns, const char *name, json_t *meta,
                          int version, char **uri_out, CnErr *err) {
    char uuid[37];
    cn_ice__uuid7(uuid);
    CnBuf key = CN_BUF_INIT, uri = CN_BUF_INIT;
    cn_ice__table_key(ns, name, &key);
    cn_buf_printf(&key, "/metadata/v%d-%s.metadata.json", version, uuid);
    char *text = json_dumps(meta, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    int rc = 0;
    if (!text || key.oom) {
        rc = cn_err_set(err, CN_ENOMEM, "out of memory");
        goto done;
    }
    rc = cn_obj_put(c->store, key.data, text, strlen(text), err);
    if (rc < 0) goto done;
    rc = cn_obj_uri(c->store, key.data, &uri);
    if (rc < 0) goto done;
    *uri_out = cn_buf_take(&uri);
done:
    if (text) { /* jansson's allocator freed it */
        json_free_t fr;
        json_get_alloc_funcs(NULL, &fr);
        fr(text);
    }
    cn_buf_fini(&key);
    cn_buf_fini(&uri);
    return rc;
}

/* Version number N of ".../vN-....metadata.json", or 0. */
static int meta_version(const char *uri) {
    const char *slash = strrchr(uri, '/');
    const char *b = slash ? slash + 1 : uri;
    if (b[0] != 'v') return 0;
    return atoi(b + 1);
}

int cn_ice_table_create(CnIceCatalog *c, const char *ns, const char *name,
                        const CnSchema *schema, const char *const *props, uint32_t n_props,
                        CnErr *err) {
    char v_ns[129], v_name[129];
    char full[300];
    snprintf(full, sizeof full, "%s.%s", ns, name);
    int rc = cn_ice_name_parse(full, v_ns, v_name, err);
    if (rc < 0) return rc;
    CnSchema *s = NULL;
    json_t *meta = NULL;
    char *meta_uri = NULL;
    CnBuf key = CN_BUF_INIT, loc = CN_BUF_INIT;
    int ds = cn_col_schema_find(schema, CN_ICE_DS);
    if (ds < 0 || schema->fields[ds].type->id != CN_COL_STRING) {
        rc = cn_err_set(err, CN_EINVAL,
                        "table %s: needs a string column \"ds\" (the partition column)%s", full,
                        ds < 0 ? "" : ", but ds is not a string");
        goto done;
    }
    rc = cn_col_schema_new(&s);
    if (rc < 0) goto done;
    int32_t next = (int32_t)schema->n_fields + 1;
    for (uint32_t i = 0; i < schema->n_fields; i++) {
        const CnField *f = &schema->fields[i];
        const CnType *t = NULL;
        rc = check_type(f->name, f->type, err);
        if (rc == 0) rc = assign_type_ids(&s->arena, f->type, &next, &t);
        if (rc == 0) rc = cn_col_schema_add(s, f->name, t, f->nullable, (int32_t)i + 1, err);
        if (rc < 0) goto done;
    }
    rc = c->ops->ensure_ns(c, ns, err);
    if (rc < 0) goto done;
    cn_ice__table_key(ns, name, &key);
    rc = cn_obj_uri(c->store, key.data, &loc);
    if (rc < 0) goto done;
    char uuid[37];
    cn_ice__uuid7(uuid);
    json_t *pj = json_object();
    for (uint32_t i = 0; i < n_props; i++) json_object_set_new(pj, props[2 * i], json_string(props[2 * i + 1]));
    if (!json_object_get(pj, "write.format.default"))
        json_object_set_new(pj, "write.format.default", json_string("parquet"));
    meta = json_pack("{s:i, s:s, s:s, s:i, s:I, s:i, s:i, s:[o], s:i, s:[{s:i, s:[{s:s, s:s, s:i, s:i}]}],"
                     " s:i, s:i, s:[{s:i, s:[]}], s:o, s:i, s:{}, s:[], s:[], s:[]}",
                     "format-version", 2, "table-uuid", uuid, "location", loc.data,
                     "last-sequence-number", 0, "last-updated-ms", (json_int_t)cn_ice__now_ms(),
                     "last-column-id", next - 1, "current-schema-id", 0, "schemas",
                     cn_ice__schema_to_json(s, 0), "default-spec-id", 0, "partition-specs",
                     "spec-id", 0, "fields", "name", CN_ICE_DS, "transform", "identity",
                     "source-id", ds + 1, "field-id", CN_ICE__PART_FIELD_ID, "last-partition-id",
                     CN_ICE__PART_FIELD_ID, "default-sort-order-id", 0, "sort-orders", "order-id",
                     0, "fields", "properties", pj, "current-snapshot-id", -1, "refs",
                     "snapshots", "snapshot-log", "metadata-log");
    if (!meta) {
        rc = cn_err_set(err, CN_ENOMEM, "table %s: cannot build metadata", full);
        goto done;
    }
    rc = write_metadata(c, ns, name, meta, 1, &meta_uri, err);
    if (rc < 0) goto done;
    rc = c->ops->insert(c, "TABLE", ns, name, meta_uri, err);
    if (rc == CN_EEXISTS) {
        const char *k = NULL;
        CnErr e2 = CN_ERR_INIT;
        if (cn_ice__key(c, meta_uri, &k, &e2) == 0) cn_obj_delete(c->store, k, &e2);
        rc = cn_err_set(err, CN_EEXISTS, "table %s already exists in catalog %s", full, c->safe_uri);
    }
done:
    json_decref(meta);
    cn_free(meta_uri);
    cn_col_schema_free(s);
    cn_buf_fini(&key);
    cn_buf_fini(&loc);
    return rc;
}

/* ------------------------------------------------------------------ commit */

int cn_ice__commit(CnIceCatalog *c, const char *ns, const char *name, CnIceApplyFn fn,
                   void *ud, CnErr *err) {
    int rc = 0;
    for (int attempt = 0;; attempt++) {
        CnIceTable *base = NULL;
        json_t *meta = NULL;
        char *new_uri = NULL;
        bool lost = false;
        rc = cn_ice_table_load(c, ns, name, &base, err);
        if (rc < 0) return rc;
        meta = json_deep_copy(base->meta);
        if (!meta) rc = cn_err_set(err, CN_ENOMEM, "out of memory");
        if (rc == 0) rc = fn(ud, c, base, meta, err);
        if (rc == 0) {
            int64_t now = cn_ice__now_ms();
            int64_t prev = json_integer_value(json_object_get(base->meta, "last-updated-ms"));
            json_object_set_new(meta, "last-updated-ms", json_integer(CN_MAX(now, prev)));
            json_t *log = json_object_get(meta, "metadata-log");
            if (!json_is_array(log)) {
                log = json_array();
                json_object_set_new(meta, "metadata-log", log);
            }
            json_array_append_new(log, json_pack("{s:I, s:s}", "timestamp-ms", (json_int_t)prev,
                                                 "metadata-file", base->meta_loc));
            int v = meta_version(base->meta_loc);
            rc = write_metadata(c, ns, name, meta, (v > 0 ? v : (int)json_array_size(log)) + 1,
                                &new_uri, err);
        }
        if (rc == 0) {
            cn_ice__abort_point("metadata");
            cn_ice__abort_point("before-cas");
            CnErr cas_err = CN_ERR_INIT;
            rc = c->ops->cas(c, ns, name, base->meta_loc, new_uri, &cas_err);
            if (rc == 0) cn_ice__abort_point("after-cas");
            lost = rc == CN_ECONFLICT && !cas_err.code; /* a busy database is an error */
            if (rc < 0 && !lost) cn_err_set(err, rc, "%s", cn_err_msg(&cas_err));
            if (rc == CN_ECONFLICT) {
                /* Lost the race: our new metadata file is garbage; the next attempt
                 * starts from the winner's version. */
                const char *k = NULL;
                CnErr e2 = CN_ERR_INIT;
                if (cn_ice__key(c, new_uri, &k, &e2) == 0) cn_obj_delete(c->store, k, &e2);
            }
        }
        cn_free(new_uri);
        json_decref(meta);
        cn_ice_table_free(base);
        if (!lost) return rc;
        if (attempt >= 500)
            return cn_err_set(err, CN_ECONFLICT,
                              "table %s.%s: gave up after %d lost commit races (too many "
                              "concurrent writers?)",
                              ns, name, attempt + 1);
        struct timespec ts = {0, (long)(1 + cn_ice__random_id() % (2 + CN_MIN(attempt, 20))) * 1000000L};
        nanosleep(&ts, NULL);
    }
}

/* ------------------------------------------------------- schema evolution */

typedef struct AddCol {
    const char *column;
    const CnType *type;
} AddCol;

static json_t *type_json_with_ids(const CnType *t, int64_t *last) {
    if (t->id == CN_COL_LIST) {
        const CnField *e = &t->children[0];
        int64_t eid = ++*last;
        return json_pack("{s:s, s:I, s:o, s:b}", "type", "list", "element-id", (json_int_t)eid,
                         "element", type_to_json(e->type), "element-required", !e->nullable);
    }
    if (t->id == CN_COL_MAP) {
        const CnField *k = &t->children[0], *v = &t->children[1];
        int64_t kid = ++*last, vid = ++*last;
        return json_pack("{s:s, s:I, s:o, s:I, s:o, s:b}", "type", "map", "key-id",
                         (json_int_t)kid, "key", type_to_json(k->type), "value-id",
                         (json_int_t)vid, "value", type_to_json(v->type), "value-required",
                         !v->nullable);
    }
    return type_to_json(t);
}

static int apply_add_column(void *ud, CnIceCatalog *c, CnIceTable *base, json_t *meta, CnErr *err) {
    (void)c;
    AddCol *a = ud;
    if (cn_col_schema_find(base->schema, a->column) >= 0)
        return cn_err_set(err, CN_EEXISTS, "table %s: column \"%s\" already exists",
                          base->full_name, a->column);
    int rc = check_type(a->column, a->type, err);
    if (rc < 0) return rc;
    json_t *cur = cn_ice__meta_schema(meta, json_integer_value(json_object_get(meta, "current-schema-id")));
    json_t *ns = json_deep_copy(cur);
    int64_t last = json_integer_value(json_object_get(meta, "last-column-id"));
    int64_t max_id = 0;
    size_t i;
    json_t *s;
    json_array_foreach(json_object_get(meta, "schemas"), i, s) {
        max_id = CN_MAX(max_id, json_integer_value(json_object_get(s, "schema-id")));
    }
    int64_t fid = ++last;
    json_t *tj = type_json_with_ids(a->type, &last);
    json_array_append_new(json_object_get(ns, "fields"),
                          json_pack("{s:I, s:s, s:b, s:o}", "id", (json_int_t)fid, "name",
                                    a->column, "required", 0, "type", tj));
    json_object_set_new(ns, "schema-id", json_integer(max_id + 1));
    json_array_append_new(json_object_get(meta, "schemas"), ns);
    json_object_set_new(meta, "current-schema-id", json_integer(max_id + 1));
    json_object_set_new(meta, "last-column-id", json_integer(last));
    return 0;
}

int cn_ice_table_add_column(CnIceCatalog *c, const char *ns, const char *name,
                            const char *column, const CnType *type, CnErr *err) {
    AddCol a = {column, type};
    if (!column || !*column)
        return cn_err_set(err, CN_EINVAL, "table %s.%s: empty column name", ns, name);
    return cn_ice__commit(c, ns, name, apply_add_column, &a, err);
}

typedef struct SetProps {
    const char *const *keys, *const *values;
    uint32_t n;
} SetProps;

static int apply_props(void *ud, CnIceCatalog *c, CnIceTable *base, json_t *meta, CnErr *err) {
    (void)c;
    (void)base;
    (void)err;
    SetProps *p = ud;
    json_t *pj = json_object_get(meta, "properties");
    if (!json_is_object(pj)) {
        pj = json_object();
        json_object_set_new(meta, "properties", pj);
    }
    for (uint32_t i = 0; i < p->n; i++) {
        if (p->values[i])
            json_object_set_new(pj, p->keys[i], json_string(p->values[i]));
        else
            json_object_del(pj, p->keys[i]);
    }
    return 0;
}

int cn_ice_table_set_properties(CnIceCatalog *c, const char *ns, const char *name,
                                const char *const *keys, const char *const *values,
                                uint32_t n, CnErr *err) {
    SetProps p = {keys, values, n};
    return cn_ice__commit(c, ns, name, apply_props, &p, err);
}

/* --------------------------------------------------------------- accessors */

const char *cn_ice_table_name(const CnIceTable *t) { return t->full_name; }
const char *cn_ice_table_location(const CnIceTable *t) { return t->location; }
const char *cn_ice_table_metadata_location(const CnIceTable *t) { return t->meta_loc; }
const CnSchema *cn_ice_table_schema(const CnIceTable *t) { return t->schema; }

const char *cn_ice_table_property(const CnIceTable *t, const char *key) {
    return json_string_value(json_object_get(json_object_get(t->meta, "properties"), key));
}

int64_t cn_ice_table_current_snapshot(const CnIceTable *t) {
    json_t *v = json_object_get(t->meta, "current-snapshot-id");
    if (!json_is_integer(v)) return -1;
    int64_t id = json_integer_value(v);
    return id < 0 ? -1 : id;
}

uint32_t cn_ice_table_n_snapshots(const CnIceTable *t) { return t->n_snaps; }

void cn_ice_table_snapshot(const CnIceTable *t, uint32_t i, CnIceSnapshot *out) {
    CN_ASSERT(i < t->n_snaps);
    *out = t->snaps[i];
}

/* ------------------------------------------------------------ sort orders */

typedef struct SetSort {
    const char *const *cols;
    uint32_t n;
    const char *full;
} SetSort;

/* The "fields" array of order s into *out; CN_ENOTFOUND when a column is missing. */
static int sort_fields(const SetSort *s, const CnSchema *schema, json_t **out, CnErr *err) {
    json_t *fields = json_array();
    for (uint32_t i = 0; i < s->n; i++) {
        int k = cn_col_schema_find(schema, s->cols[i]);
        if (k < 0) {
            json_decref(fields);
            return cn_err_set(err, CN_ENOTFOUND, "table %s: sort column \"%s\" is not in the table", s->full,
                              s->cols[i]);
        }
        json_array_append_new(fields, json_pack("{s:s, s:i, s:s, s:s}", "transform", "identity", "source-id",
                                                (int)schema->fields[k].field_id, "direction", "asc", "null-order",
                                                "nulls-first"));
    }
    *out = fields;
    return 0;
}

static int apply_sort(void *ud, CnIceCatalog *c, CnIceTable *base, json_t *meta, CnErr *err) {
    (void)c;
    const SetSort *s = ud;
    if (!s->n) {
        json_object_set_new(meta, "default-sort-order-id", json_integer(0));
        return 0;
    }
    json_t *fields = NULL;
    int rc = sort_fields(s, base->schema, &fields, err);
    if (rc) return rc;
    json_t *orders = json_object_get(meta, "sort-orders");
    if (!json_is_array(orders)) {
        orders = json_array();
        json_array_append_new(orders, json_pack("{s:i, s:[]}", "order-id", 0, "fields"));
        json_object_set_new(meta, "sort-orders", orders);
    }
    json_int_t id = 0, top = 0;
    for (size_t i = 0; i < json_array_size(orders); i++) {
        json_t *o = json_array_get(orders, i);
        json_int_t oid = json_integer_value(json_object_get(o, "order-id"));
        if (oid > top) top = oid;
        if (!id && oid && json_equal(json_object_get(o, "fields"), fields)) id = oid;
    }
    if (!id) {
        id = top + 1;
        json_array_append_new(orders, json_pack("{s:I, s:O}", "order-id", id, "fields", fields));
    }
    json_decref(fields);
    json_object_set_new(meta, "default-sort-order-id", json_integer(id));
    return 0;
}

int cn_ice_table_set_sort_order(CnIceCatalog *c, const char *ns, const char *name, const char *const *cols,
                                uint32_t n, CnErr *err) {
    char full[300];
    snprintf(full, sizeof full, "%s.%s", ns, name);
    SetSort s = {cols, n, full};
    return cn_ice__commit(c, ns, name, apply_sort, &s, err);
}

void cn_ice_table_sort_order(const CnIceTable *t, const char **names, uint32_t max, uint32_t *n) {
    *n = 0;
    json_int_t id = json_integer_value(json_object_get(t->meta, "default-sort-order-id"));
    json_t *orders = json_object_get(t->meta, "sort-orders"), *fields = NULL;
    for (size_t i = 0; id && i < json_array_size(orders); i++)
        if (json_integer_value(json_object_get(json_array_get(orders, i), "order-id")) == id)
            fields = json_object_get(json_array_get(orders, i), "fields");
    for (size_t i = 0; i < json_array_size(fields) && *n < max; i++) {
        json_t *f = json_array_get(fields, i);
        const char *tr = json_string_value(json_object_get(f, "transform"));
        const char *dir = json_string_value(json_object_get(f, "direction"));
        json_int_t src = json_integer_value(json_object_get(f, "source-id"));
        if (!tr || strcmp(tr, "identity") || !dir || strcmp(dir, "asc")) return;
        uint32_t k = 0;
        while (k < t->schema->n_fields && t->schema->fields[k].field_id != src) k++;
        if (k == t->schema->n_fields) return;
        names[(*n)++] = t->schema->fields[k].name;
    }
}
