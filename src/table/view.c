/* view.c: Iceberg views in the catalog (a StagingQuery with createView, `chronon sql`).
 * A view is a row of iceberg_tables with iceberg_type 'VIEW' (Iceberg's JDBC catalog
 * schema V1) whose metadata_location points at an Iceberg view metadata file
 * (view spec format-version 1) under <warehouse>/<ns>.db/<name>/metadata/:
 *   view-uuid, format-version 1, location, current-version-id, properties,
 *   versions[{version-id, timestamp-ms, schema-id, summary, default-namespace,
 *             representations[{type "sql", sql, dialect "spark"}]}],
 *   version-log[{timestamp-ms, version-id}], schemas[{type struct, schema-id, fields}]
 * CREATE OR REPLACE adds a version (and a schema) in a new metadata file vN and swaps
 * the catalog pointer with the same compare-and-swap as table commits; a writer that
 * lost the race reads the new version and tries again. Views and tables share names. */
#include "base/compat.h"

#include <stdio.h>
#include <string.h>

#include "base/alloc.h"
#include "table/ice_int.h"

#define VIEW_RETRIES 5

/* Writes meta as <ns>.db/<name>/metadata/v<version>-<uuid>.metadata.json. */
static int put_view_meta(CnIceCatalog *c, const char *ns, const char *name, json_t *meta, int64_t version,
                         char **uri_out, CnErr *err) {
    char uuid[37];
    cn_ice__uuid7(uuid);
    CnBuf key = CN_BUF_INIT, uri = CN_BUF_INIT;
    cn_ice__table_key(ns, name, &key);
    cn_buf_printf(&key, "/metadata/v%lld-%s.metadata.json", (long long)version, uuid);
    char *text = json_dumps(meta, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    int rc = 0;
    if (!text || key.oom) {
        rc = cn_err_set(err, CN_ENOMEM, "out of memory");
        goto done;
    }
    if ((rc = cn_obj_put(c->store, key.data, text, strlen(text), err)) < 0) goto done;
    if ((rc = cn_obj_uri(c->store, key.data, &uri)) < 0) goto done;
    *uri_out = cn_buf_take(&uri);
done:
    if (text) {
        json_free_t fr;
        json_get_alloc_funcs(NULL, &fr);
        fr(text);
    }
    cn_buf_fini(&key);
    cn_buf_fini(&uri);
    return rc;
}

/* Reads the view metadata at uri; checks the fields this code relies on. */
static int read_view_meta(CnIceCatalog *c, const char *full, const char *uri, json_t **out, CnErr *err) {
    CnBuf b = CN_BUF_INIT;
    int rc = cn_ice__get(c, uri, &b, err);
    if (rc < 0) {
        cn_buf_fini(&b);
        return cn_err_ctx(err, rc, "view %s", full);
    }
    json_error_t je;
    json_t *m = json_loadb(b.data ? b.data : "", b.len, 0, &je);
    cn_buf_fini(&b);
    if (!m || !json_is_object(m) || json_integer_value(json_object_get(m, "format-version")) != 1 ||
        !json_is_array(json_object_get(m, "versions")) || !json_is_array(json_object_get(m, "schemas")) ||
        !json_is_integer(json_object_get(m, "current-version-id"))) {
        json_decref(m);
        return cn_err_set(err, CN_ECORRUPT,
                          "view %s: %s is not Iceberg view metadata (expected format-version 1 with versions, "
                          "schemas and current-version-id)%s%s",
                          full, uri, m ? "" : ": ", m ? "" : je.text);
    }
    *out = m;
    return 0;
}

static json_t *current_version(json_t *m) {
    json_int_t cur = json_integer_value(json_object_get(m, "current-version-id"));
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(m, "versions"), i, v) {
        if (json_integer_value(json_object_get(v, "version-id")) == cur) return v;
    }
    return NULL;
}

/* The schema with field ids 1..n (view columns are primitive). */
static int view_schema_json(const char *full, const CnSchema *schema, int schema_id, json_t **out, CnErr *err) {
    CnSchema *s = NULL;
    int rc = cn_col_schema_new(&s);
    if (rc < 0) return cn_err_set(err, CN_ENOMEM, "out of memory");
    for (uint32_t i = 0; i < schema->n_fields && rc == 0; i++) {
        const CnField *f = &schema->fields[i];
        if (f->type->id == CN_COL_LIST || f->type->id == CN_COL_MAP || f->type->id == CN_COL_STRUCT)
            rc = cn_err_set(err, CN_EUNSUPPORTED, "view %s: column %s: nested types are not supported in views", full,
                            f->name);
        else
            rc = cn_col_schema_add(s, f->name, f->type, true, (int32_t)i + 1, err);
    }
    if (rc == 0 && !(*out = cn_ice__schema_to_json(s, schema_id))) rc = cn_err_set(err, CN_ENOMEM, "out of memory");
    cn_col_schema_free(s);
    return rc;
}

static json_t *version_json(int64_t id, int64_t ts, int schema_id, const char *ns, const char *sql) {
    return json_pack("{s:I, s:I, s:i, s:{s:s, s:s}, s:[s], s:[{s:s, s:s, s:s}]}", "version-id", (json_int_t)id,
                     "timestamp-ms", (json_int_t)ts, "schema-id", schema_id, "summary", "engine-name", "chronon-c",
                     "operation", "replace", "default-namespace", ns, "representations", "type", "sql", "sql", sql,
                     "dialect", "spark");
}

int cn_ice_view_replace(CnIceCatalog *c, const char *ns, const char *name, const char *sql, const CnSchema *schema,
                        const char *const *props, uint32_t n_props, CnErr *err) {
    char full[260];
    snprintf(full, sizeof full, "%s.%s", ns, name);
    char cns[129], cname[129];
    int rc = cn_ice_name_parse(full, cns, cname, err);
    if (rc < 0) return rc;
    if (!sql || !*sql) return cn_err_set(err, CN_EINVAL, "view %s: the query is empty", full);
    for (int attempt = 0; attempt < VIEW_RETRIES; attempt++) {
        char *loc = NULL, *new_uri = NULL;
        json_t *m = NULL, *sj = NULL;
        CnBuf root = CN_BUF_INIT, root_uri = CN_BUF_INIT;
        int64_t now = cn_ice__now_ms();
        rc = c->ops->get(c, "VIEW", ns, name, &loc, err);
        if (rc == CN_ENOMEM) rc = cn_err_set(err, CN_ENOMEM, "out of memory");
        if (rc < 0 && rc != CN_ENOTFOUND) goto next;
        if (rc == CN_ENOTFOUND) {
            /* a new view, unless a table has the name */
            if (cn_ice_table_exists(c, ns, name)) {
                rc = cn_err_set(err, CN_EEXISTS, "view %s: a table of that name exists (drop it or pick another name)",
                                full);
                goto next;
            }
            if ((rc = view_schema_json(full, schema, 0, &sj, err)) < 0) goto next;
            if ((rc = c->ops->ensure_ns(c, ns, err)) < 0) goto next;
            cn_ice__table_key(ns, name, &root);
            if ((rc = cn_obj_uri(c->store, root.data, &root_uri)) < 0) goto next;
            char uuid[37];
            cn_ice__uuid7(uuid);
            json_t *pj = json_object();
            for (uint32_t i = 0; i < n_props; i++) json_object_set_new(pj, props[2 * i], json_string(props[2 * i + 1]));
            m = json_pack("{s:s, s:i, s:s, s:i, s:o, s:[o], s:[{s:I, s:i}], s:[o]}", "view-uuid", uuid,
                          "format-version", 1, "location", root_uri.data, "current-version-id", 1, "properties", pj,
                          "versions", version_json(1, now, 0, ns, sql), "version-log", "timestamp-ms",
                          (json_int_t)now, "version-id", 1, "schemas", sj);
            sj = NULL;
            if (!m) { rc = cn_err_set(err, CN_ENOMEM, "view %s: cannot build metadata", full); goto next; }
            if ((rc = put_view_meta(c, ns, name, m, 1, &new_uri, err)) < 0) goto next;
            rc = c->ops->insert(c, "VIEW", ns, name, new_uri, err);
            if (rc == CN_EEXISTS) { /* somebody created it (or a table) meanwhile: look again */
                const char *k = NULL;
                CnErr e2 = CN_ERR_INIT;
                if (cn_ice__key(c, new_uri, &k, &e2) == 0) cn_obj_delete(c->store, k, &e2);
                rc = CN_ECONFLICT;
            }
            goto next;
        }
        /* a new version of an existing view */
        if ((rc = read_view_meta(c, full, loc, &m, err)) < 0) goto next;
        int64_t max_v = 0, max_s = -1;
        size_t i;
        json_t *e;
        json_array_foreach(json_object_get(m, "versions"), i, e) {
            if (json_integer_value(json_object_get(e, "version-id")) > max_v)
                max_v = json_integer_value(json_object_get(e, "version-id"));
        }
        json_array_foreach(json_object_get(m, "schemas"), i, e) {
            if (json_integer_value(json_object_get(e, "schema-id")) > max_s)
                max_s = json_integer_value(json_object_get(e, "schema-id"));
        }
        if ((rc = view_schema_json(full, schema, (int)(max_s + 1), &sj, err)) < 0) goto next;
        json_array_append_new(json_object_get(m, "schemas"), sj);
        sj = NULL;
        json_array_append_new(json_object_get(m, "versions"), version_json(max_v + 1, now, (int)(max_s + 1), ns, sql));
        json_array_append_new(json_object_get(m, "version-log"),
                              json_pack("{s:I, s:I}", "timestamp-ms", (json_int_t)now, "version-id",
                                        (json_int_t)(max_v + 1)));
        json_object_set_new(m, "current-version-id", json_integer(max_v + 1));
        json_t *pj = json_object_get(m, "properties");
        for (uint32_t k = 0; pj && k < n_props; k++) json_object_set_new(pj, props[2 * k], json_string(props[2 * k + 1]));
        if ((rc = put_view_meta(c, ns, name, m, max_v + 1, &new_uri, err)) < 0) goto next;
        rc = c->ops->cas(c, ns, name, loc, new_uri, err);
        if (rc == CN_ECONFLICT) {
            const char *k = NULL;
            CnErr e2 = CN_ERR_INIT;
            if (cn_ice__key(c, new_uri, &k, &e2) == 0) cn_obj_delete(c->store, k, &e2);
        }
    next:
        json_decref(m);
        json_decref(sj);
        cn_free(loc);
        cn_free(new_uri);
        cn_buf_fini(&root);
        cn_buf_fini(&root_uri);
        if (rc != CN_ECONFLICT) return rc;
    }
    return cn_err_set(err, CN_ECONFLICT, "view %s: replaced by other writers %d times in a row; try again", full,
                      VIEW_RETRIES);
}

int cn_ice_view_get(CnIceCatalog *c, const char *ns, const char *name, char **sql, char **default_ns, CnErr *err) {
    *sql = NULL;
    if (default_ns) *default_ns = NULL;
    char full[260];
    snprintf(full, sizeof full, "%s.%s", ns, name);
    char *loc = NULL;
    json_t *m = NULL;
    int rc = c->ops->get(c, "VIEW", ns, name, &loc, err);
    if (rc == CN_ENOTFOUND) return cn_err_set(err, CN_ENOTFOUND, "view %s not found", full);
    if (rc == CN_ENOMEM) return cn_err_set(err, CN_ENOMEM, "out of memory");
    if (rc < 0) return rc;
    if ((rc = read_view_meta(c, full, loc, &m, err)) < 0) goto done;
    json_t *v = current_version(m);
    const char *text = NULL;
    size_t i;
    json_t *r;
    json_array_foreach(v ? json_object_get(v, "representations") : NULL, i, r) {
        const char *ty = json_string_value(json_object_get(r, "type"));
        const char *d = json_string_value(json_object_get(r, "dialect"));
        if (ty && !strcmp(ty, "sql") && json_string_value(json_object_get(r, "sql")) && (!text || (d && !strcmp(d, "spark"))))
            text = json_string_value(json_object_get(r, "sql"));
    }
    if (!text) {
        rc = cn_err_set(err, CN_ECORRUPT, "view %s: %s: the current version has no SQL representation", full, loc);
        goto done;
    }
    if (!(*sql = cn_strdup(text))) { rc = cn_err_set(err, CN_ENOMEM, "out of memory"); goto done; }
    if (default_ns) {
        json_t *dn = v ? json_array_get(json_object_get(v, "default-namespace"), 0) : NULL;
        if (!(*default_ns = cn_strdup(json_is_string(dn) ? json_string_value(dn) : ns))) {
            cn_free(*sql);
            *sql = NULL;
            rc = cn_err_set(err, CN_ENOMEM, "out of memory");
        }
    }
done:
    json_decref(m);
    cn_free(loc);
    return rc;
}

int cn_ice_view_list(CnIceCatalog *c, const char *ns, CnIceNameFn fn, void *ud, CnErr *err) {
    CnBuf b = CN_BUF_INIT;
    int rc = c->ops->list(c, "VIEW", ns, &b, err);
    for (char *line = b.data; rc == 0 && line && *line;) {
        char *nl = strchr(line, '\n');
        if (!nl) break;
        *nl = 0;
        char *tab = strchr(line, '\t');
        if (tab) {
            *tab = 0;
            rc = fn(ud, line, tab + 1);
        }
        line = nl + 1;
    }
    cn_buf_fini(&b);
    return rc;
}
