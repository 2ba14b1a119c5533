/* table_tool.c: a test driver over src/table for the end-to-end tests (never shipped).
 *   table_tool WAREHOUSE CATALOG scan NS.T [--snapshot ID] [--as-of MS] [--ds-lo D]
 *              [--ds-hi D] [--columns a,b]    rows as JSON lines, then "#files N rows M"
 *   table_tool WAREHOUSE CATALOG snapshots NS.T   one JSON line per snapshot
 *   table_tool WAREHOUSE CATALOG meta NS.T        current metadata location
 *   table_tool WAREHOUSE CATALOG add-column NS.T NAME TYPE
 *   table_tool WAREHOUSE CATALOG files NS.T [--snapshot ID]  live data file URIs
 * Errors: one line on stderr "table_tool: <message> [CHRONON_E...]", exit 1. */
#include "base/compat.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "base/alloc.h"
#include "table/table.h"

static int fail(const CnErr *err, int rc) {
    fprintf(stderr, "table_tool: %s [%s]\n", cn_err_msg(err), chronon_err_name(rc));
    return 1;
}

static void print_value(const CnVec *v, uint32_t r) {
    if (!cn_col_vec_is_valid(v, r)) {
        fputs("null", stdout);
        return;
    }
    CnScalar s;
    switch (v->type->id) {
    case CN_COL_STRING:
    case CN_COL_BINARY: {
        uint32_t len;
        const char *p = cn_col_vec_str(v, r, &len);
        json_t *j = json_stringn(p, len);
        char *t = j ? json_dumps(j, JSON_ENCODE_ANY) : NULL;
        fputs(t ? t : "\"?\"", stdout);
        json_free_t fr;
        json_get_alloc_funcs(NULL, &fr);
        if (t) fr(t);
        json_decref(j);
        return;
    }
    case CN_COL_BOOL:
    case CN_COL_INT32:
    case CN_COL_DATE:
    case CN_COL_INT64:
    case CN_COL_TIMESTAMP:
    case CN_COL_FLOAT32:
    case CN_COL_FLOAT64:
        cn_col_vec_get(v, r, &s);
        if (s.type == CN_COL_BOOL) printf("%s", s.v.b ? "true" : "false");
        else if (s.type == CN_COL_INT32 || s.type == CN_COL_DATE) printf("%" PRId32, s.v.i32);
        else if (s.type == CN_COL_INT64 || s.type == CN_COL_TIMESTAMP) printf("%" PRId64, s.v.i64);
        else if (s.type == CN_COL_FLOAT32) printf("%.9g", (double)s.v.f32);
        else printf("%.17g", s.v.f64);
        return;
    default:
        fputs("\"(nested)\"", stdout);
    }
}

int main(int argc, char **argv) {
    if (argc < 5) {
        fprintf(stderr, "usage: table_tool WAREHOUSE CATALOG scan|snapshots|meta|add-column|files NS.T ...\n");
        return 2;
    }
    CnErr err = CN_ERR_INIT;
    CnIceCatalog *c = NULL;
    CnIceTable *t = NULL;
    CnIceScan *s = NULL;
    char ns[129], name[129];
    int rc = cn_ice_name_parse(argv[4], ns, name, &err);
    if (rc == 0) rc = cn_ice_catalog_open(argv[1], argv[2], &c, &err);
    if (rc < 0) return fail(&err, rc);
    const char *cmd = argv[3];
    if (!strcmp(cmd, "add-column")) {
        const CnType *ty = NULL;
        CnArena a;
        cn_arena_init(&a, 0);
        rc = argc > 6 ? cn_col_type_parse(&a, argv[6], &ty, &err) : cn_err_set(&err, CN_EINVAL, "NAME TYPE");
        if (rc == 0) rc = cn_ice_table_add_column(c, ns, name, argv[5], ty, &err);
        cn_arena_fini(&a);
        cn_ice_catalog_close(c);
        return rc < 0 ? fail(&err, rc) : 0;
    }
    rc = cn_ice_table_load(c, ns, name, &t, &err);
    if (rc < 0) {
        cn_ice_catalog_close(c);
        return fail(&err, rc);
    }
    if (!strcmp(cmd, "meta")) {
        printf("%s\n", cn_ice_table_metadata_location(t));
    } else if (!strcmp(cmd, "snapshots")) {
        for (uint32_t i = 0; i < cn_ice_table_n_snapshots(t); i++) {
            CnIceSnapshot sn;
            cn_ice_table_snapshot(t, i, &sn);
            printf("{\"id\": %" PRId64 ", \"parent\": %" PRId64 ", \"seq\": %" PRId64
                   ", \"ts\": %" PRId64 ", \"op\": \"%s\", \"added_records\": %" PRId64
                   ", \"deleted_records\": %" PRId64 ", \"total_records\": %" PRId64 "}\n",
                   sn.id, sn.parent_id, sn.sequence_number, sn.timestamp_ms, sn.operation,
                   sn.added_records, sn.deleted_records, sn.total_records);
        }
    } else if (!strcmp(cmd, "scan") || !strcmp(cmd, "files")) {
        CnIceScanOpts o = {0};
        const char *cols[64];
        char colbuf[1024];
        for (int i = 5; i + 1 < argc; i += 2) {
            if (!strcmp(argv[i], "--snapshot")) o.snapshot_id = strtoll(argv[i + 1], NULL, 10);
            else if (!strcmp(argv[i], "--as-of")) o.as_of_ms = strtoll(argv[i + 1], NULL, 10);
            else if (!strcmp(argv[i], "--ds-lo")) o.ds_lo = argv[i + 1];
            else if (!strcmp(argv[i], "--ds-hi")) o.ds_hi = argv[i + 1];
            else if (!strcmp(argv[i], "--columns")) {
                snprintf(colbuf, sizeof colbuf, "%s", argv[i + 1]);
                for (char *p = strtok(colbuf, ","); p && o.n_columns < 64; p = strtok(NULL, ","))
                    cols[o.n_columns++] = p;
                o.columns = cols;
            }
        }
        rc = cn_ice_scan_open(c, t, &o, &s, &err);
        const CnBatch *b = NULL;
        uint64_t rows = 0;
        while (rc == 0 && !strcmp(cmd, "scan")) {
            rc = cn_ice_scan_next(s, &b, &err);
            if (rc < 0 || !b) break;
            const CnSchema *sc = cn_ice_scan_schema(s);
            for (uint32_t r = 0; r < b->n_rows; r++) {
                putchar('{');
                for (uint32_t k = 0; k < sc->n_fields; k++) {
                    printf("%s\"%s\": ", k ? ", " : "", sc->fields[k].name);
                    print_value(&b->cols[k], r);
                }
                puts("}");
            }
            rows += b->n_rows;
        }
        if (rc == 0 && !strcmp(cmd, "scan"))
            printf("#files %u rows %" PRIu64 "\n", cn_ice_scan_n_files(s), rows);
        if (rc == 0 && !strcmp(cmd, "files")) printf("%u\n", cn_ice_scan_n_files(s));
    } else {
        rc = cn_err_set(&err, CN_EINVAL, "unknown command %s", cmd);
    }
    cn_ice_scan_close(s);
    cn_ice_table_free(t);
    cn_ice_catalog_close(c);
    return rc < 0 ? fail(&err, rc) : 0;
}
