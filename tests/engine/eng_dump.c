/* eng_dump: prints the current rows of an Iceberg table as JSON lines (test reader for
 * tests/py/test_groupby_*.py). usage: eng_dump WAREHOUSE CATALOG NS.TABLE
 * Floats print with 17 significant digits; NaN/Inf print as null at every level. */
#include "base/compat.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "table/table.h"

static json_t *value(const CnVec *v, uint32_t i) {
    if (!cn_col_vec_is_valid(v, i)) return json_null();
    switch (v->type->id) {
    case CN_COL_BOOL: return json_boolean(((const uint8_t *)v->values)[i]);
    case CN_COL_INT32:
    case CN_COL_DATE: return json_integer(((const int32_t *)v->values)[i]);
    case CN_COL_INT64:
    case CN_COL_TIMESTAMP: return json_integer(((const int64_t *)v->values)[i]);
    case CN_COL_FLOAT32: {
        double d = ((const float *)v->values)[i];
        return isfinite(d) ? json_real(d) : json_null();
    }
    case CN_COL_FLOAT64: {
        double d = ((const double *)v->values)[i];
        return isfinite(d) ? json_real(d) : json_null();
    }
    case CN_COL_STRING:
    case CN_COL_BINARY: {
        uint32_t len;
        const char *p = cn_col_vec_str(v, i, &len);
        return json_stringn_nocheck(p, len);
    }
    case CN_COL_LIST: {
        json_t *a = json_array();
        for (uint32_t k = v->offsets[i]; k < v->offsets[i + 1]; k++) json_array_append_new(a, value(&v->child[0], k));
        return a;
    }
    case CN_COL_MAP: {
        json_t *o = json_object();
        for (uint32_t k = v->offsets[i]; k < v->offsets[i + 1]; k++) {
            json_t *key = value(&v->child[0], k);
            char buf[64];
            const char *ks = json_is_string(key) ? json_string_value(key) : buf;
            if (!json_is_string(key)) snprintf(buf, sizeof buf, "%lld", (long long)json_integer_value(key));
            json_object_set_new(o, ks, value(&v->child[1], k));
            json_decref(key);
        }
        return o;
    }
    default: return json_null();
    }
}

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: eng_dump WAREHOUSE CATALOG NS.TABLE\n");
        return 2;
    }
    CnErr err = CN_ERR_INIT;
    CnIceCatalog *c = NULL;
    CnIceTable *t = NULL;
    CnIceScan *s = NULL;
    char ns[129], name[129];
    int rc = cn_ice_catalog_open(argv[1], argv[2], &c, &err);
    if (rc == 0) rc = cn_ice_name_parse(argv[3], ns, name, &err);
    if (rc == 0) rc = cn_ice_table_load(c, ns, name, &t, &err);
    if (rc == 0) rc = cn_ice_scan_open(c, t, NULL, &s, &err);
    while (rc == 0) {
        const CnBatch *b = NULL;
        rc = cn_ice_scan_next(s, &b, &err);
        if (rc || !b) break;
        for (uint32_t r = 0; r < b->n_rows; r++) {
            json_t *o = json_object();
            for (uint32_t k = 0; k < b->n_cols; k++) json_object_set_new(o, b->schema->fields[k].name, value(&b->cols[k], r));
            char *txt = json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(17) | JSON_PRESERVE_ORDER);
            puts(txt);
            free(txt);
            json_decref(o);
        }
    }
    cn_ice_scan_close(s);
    cn_ice_table_free(t);
    cn_ice_catalog_close(c);
    if (rc) {
        fprintf(stderr, "eng_dump: %s\n", cn_err_msg(&err));
        return 1;
    }
    return 0;
}
