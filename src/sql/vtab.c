/* vtab.c: the `cn_ice` SQLite virtual table module: one virtual table per Iceberg
 * table, `CREATE VIRTUAL TABLE x USING cn_ice(ns, name)`.
 * xBestIndex takes the constraints SQLite offers on `ds` (=, <, <=, >, >=; IN arrives
 * as repeated =) as the scan's partition range, and records SQLite's colUsed as the
 * projection; both travel to xFilter in idxStr as "<colUsed hex>|<ops>", ops one
 * letter per argv value (e = < l > g, upper case for the inclusive forms). SQLite still
 * checks every constraint itself (omit stays 0): the range only prunes files.
 * The table is re-loaded once per statement (CnSql.gen), so a statement sees the
 * latest snapshot and every scan within it sees the same one. */
#include "sql/sql_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/date.h"

typedef struct IceVtab {
    sqlite3_vtab base;
    CnSql *s;
    char ns[129], name[129];
    CnIceTable *t;          /* OWNED; reloaded when gen changes */
    uint64_t gen;
    CnSchema *decl;         /* OWNED: the columns declared to SQLite */
    int i_ds;               /* declared index of ds, -1 */
} IceVtab;

typedef struct IceCursor {
    sqlite3_vtab_cursor base;
    CnIceScan *scan;
    const CnBatch *b;
    uint32_t row;
    int64_t rowid;
    bool eof;
    int *col_map;           /* declared column -> batch column, -1: not projected */
} IceCursor;

const char *cn_sql__decl_type(const CnType *t) {
    switch (t->id) {
    case CN_COL_BOOL: return "BOOL_INT";
    case CN_COL_INT32: return "INT";
    case CN_COL_INT64: return "BIGINT";
    case CN_COL_FLOAT32: return "FLOAT";
    case CN_COL_FLOAT64: return "DOUBLE";
    case CN_COL_DATE: return "DATE_TEXT";
    case CN_COL_TIMESTAMP: return "TIMESTAMP_TEXT";
    case CN_COL_STRING: return "TEXT";
    case CN_COL_BINARY: return "BLOB";
    case CN_COL_LIST: return "ARRAY_JSON_TEXT";
    case CN_COL_MAP: return "MAP_JSON_TEXT";
    default: return "STRUCT_JSON_TEXT";
    }
}

static int vt_error(sqlite3_vtab *vt, const CnErr *err) {
    sqlite3_free(vt->zErrMsg);
    vt->zErrMsg = sqlite3_mprintf("%s", cn_err_msg(err));
    return SQLITE_ERROR;
}

static int vt_connect(sqlite3 *db, void *aux, int argc, const char *const *argv,
                      sqlite3_vtab **out, char **errmsg) {
    CnSql *s = aux;
    if (argc != 5) {
        *errmsg = sqlite3_mprintf("cn_ice: expected (namespace, table)");
        return SQLITE_ERROR;
    }
    IceVtab *vt = cn_calloc(1, sizeof *vt);
    CnBuf decl = CN_BUF_INIT;
    CnErr err = CN_ERR_INIT;
    int rc = SQLITE_OK;
    if (!vt) return SQLITE_NOMEM;
    vt->s = s;
    vt->i_ds = -1;
    snprintf(vt->ns, sizeof vt->ns, "%s", argv[3]);
    snprintf(vt->name, sizeof vt->name, "%s", argv[4]);
    if (cn_ice_table_load(s->cat, vt->ns, vt->name, &vt->t, &err) < 0 ||
        cn_col_schema_copy(cn_ice_table_schema(vt->t), &vt->decl, &err) < 0) {
        *errmsg = sqlite3_mprintf("%s", cn_err_msg(&err));
        rc = SQLITE_ERROR;
        goto done;
    }
    vt->gen = s->gen;
    cn_buf_puts(&decl, "CREATE TABLE x(");
    for (uint32_t i = 0; i < vt->decl->n_fields; i++) {
        const CnField *f = &vt->decl->fields[i];
        if (!strcmp(f->name, CN_ICE_DS)) vt->i_ds = (int)i;
        cn_buf_puts(&decl, i ? ", \"" : "\"");
        for (const char *p = f->name; *p; p++) {
            if (*p == '"') cn_buf_putc(&decl, '"');
            cn_buf_putc(&decl, *p);
        }
        cn_buf_printf(&decl, "\" %s", cn_sql__decl_type(f->type));
    }
    cn_buf_putc(&decl, ')');
    if (decl.oom) { rc = SQLITE_NOMEM; goto done; }
    rc = sqlite3_declare_vtab(db, decl.data);
done:
    cn_buf_fini(&decl);
    if (rc != SQLITE_OK) {
        cn_ice_table_free(vt->t);
        cn_col_schema_free(vt->decl);
        cn_free(vt);
        return rc;
    }
    *out = &vt->base;
    return SQLITE_OK;
}

static int vt_disconnect(sqlite3_vtab *base) {
    IceVtab *vt = (IceVtab *)base;
    cn_ice_table_free(vt->t);
    cn_col_schema_free(vt->decl);
    cn_free(vt);
    return SQLITE_OK;
}

static int vt_best_index(sqlite3_vtab *base, sqlite3_index_info *ii) {
    IceVtab *vt = (IceVtab *)base;
    char ops[64];
    int n_ops = 0;
    double cost = 1e7;
    for (int i = 0; i < ii->nConstraint && n_ops < 60; i++) {
        const struct sqlite3_index_constraint *c = &ii->aConstraint[i];
        if (!c->usable || c->iColumn != vt->i_ds || vt->i_ds < 0) continue;
        char op;
        switch (c->op) {
        case SQLITE_INDEX_CONSTRAINT_EQ: op = 'e'; cost /= 100; break;
        case SQLITE_INDEX_CONSTRAINT_LT: op = 'l'; cost /= 3; break;
        case SQLITE_INDEX_CONSTRAINT_LE: op = 'L'; cost /= 3; break;
        case SQLITE_INDEX_CONSTRAINT_GT: op = 'g'; cost /= 3; break;
        case SQLITE_INDEX_CONSTRAINT_GE: op = 'G'; cost /= 3; break;
        default: continue;
        }
        ops[n_ops++] = op;
        ii->aConstraintUsage[i].argvIndex = n_ops;
        ii->aConstraintUsage[i].omit = 0;
    }
    ops[n_ops] = 0;
    ii->idxNum = n_ops;
    ii->idxStr = sqlite3_mprintf("%016llx|%s", (unsigned long long)ii->colUsed, ops);
    if (!ii->idxStr) return SQLITE_NOMEM;
    ii->needToFreeIdxStr = 1;
    ii->estimatedCost = cost;
    ii->estimatedRows = (sqlite3_int64)(cost / 10);
    return SQLITE_OK;
}

static int vt_open(sqlite3_vtab *base, sqlite3_vtab_cursor **out) {
    (void)base;
    IceCursor *c = cn_calloc(1, sizeof *c);
    if (!c) return SQLITE_NOMEM;
    *out = &c->base;
    return SQLITE_OK;
}

static void cursor_reset(IceCursor *c) {
    cn_ice_scan_close(c->scan);
    c->scan = NULL;
    c->b = NULL;
    cn_free(c->col_map);
    c->col_map = NULL;
}

static int vt_close(sqlite3_vtab_cursor *cur) {
    IceCursor *c = (IceCursor *)cur;
    cursor_reset(c);
    cn_free(c);
    return SQLITE_OK;
}

/* Moves to the next row with data (loads batches as needed). */
static int advance(IceCursor *c, CnErr *err) {
    while (!c->b || c->row >= c->b->n_rows) {
        c->row = 0;
        int rc = cn_ice_scan_next(c->scan, &c->b, err);
        if (rc < 0) return rc;
        if (!c->b) {
            c->eof = true;
            return 0;
        }
    }
    return 0;
}

static bool valid_ds(sqlite3_value *v) {
    if (sqlite3_value_type(v) != SQLITE_TEXT) return false;
    int64_t d;
    return sqlite3_value_bytes(v) == 10 && cn_ds_parse((const char *)sqlite3_value_text(v), &d) == 0;
}

static int vt_filter(sqlite3_vtab_cursor *cur, int idx_num, const char *idx_str, int argc,
                     sqlite3_value **argv) {
    IceCursor *c = (IceCursor *)cur;
    IceVtab *vt = (IceVtab *)cur->pVtab;
    CnSql *s = vt->s;
    CnErr err = CN_ERR_INIT;
    const char **cols = NULL;
    int rc = 0;
    (void)idx_num;
    cursor_reset(c);
    c->eof = false;
    c->row = 0;
    c->rowid = 0;
    if (vt->gen != s->gen) {
        CnIceTable *t = NULL;
        if ((rc = cn_ice_table_load(s->cat, vt->ns, vt->name, &t, &err)) < 0) goto done;
        cn_ice_table_free(vt->t);
        vt->t = t;
        vt->gen = s->gen;
    }
    unsigned long long used = strtoull(idx_str, NULL, 16);
    const char *ops = strchr(idx_str, '|');
    ops = ops ? ops + 1 : "";
    /* ds range: the intersection of the bounds, inclusive (strict bounds widen by
     * nothing: SQLite re-checks rows) */
    char lo[11] = "", hi[11] = "";
    bool empty = false;
    for (int i = 0; i < argc && ops[i]; i++) {
        if (sqlite3_value_type(argv[i]) == SQLITE_NULL) { empty = true; continue; }
        if (!valid_ds(argv[i])) continue;
        const char *v = (const char *)sqlite3_value_text(argv[i]);
        char op = ops[i];
        if ((op == 'e' || op == 'g' || op == 'G') && (!lo[0] || strcmp(v, lo) > 0)) memcpy(lo, v, 11);
        if ((op == 'e' || op == 'l' || op == 'L') && (!hi[0] || strcmp(v, hi) < 0)) memcpy(hi, v, 11);
    }
    if (lo[0] && hi[0] && strcmp(lo, hi) > 0) empty = true;
    const CnSchema *cur_schema = cn_ice_table_schema(vt->t);
    uint32_t nd = vt->decl->n_fields;
    c->col_map = cn_calloc(nd ? nd : 1, sizeof *c->col_map);
    cols = cn_calloc(nd + 1, sizeof *cols);
    if (!c->col_map || !cols) { rc = cn_err_set(&err, CN_ENOMEM, "out of memory"); goto done; }
    uint32_t n_cols = 0;
    for (uint32_t i = 0; i < nd; i++) {
        c->col_map[i] = -1;
        bool want = i >= 63 ? (used >> 63) & 1 : (used >> i) & 1;
        /* a column dropped since the statement started reads as null */
        if (want && cn_col_schema_find(cur_schema, vt->decl->fields[i].name) >= 0) {
            c->col_map[i] = (int)n_cols;
            cols[n_cols++] = vt->decl->fields[i].name;
        }
    }
    if (n_cols == 0) cols[n_cols++] = CN_ICE_DS; /* count(*): the cheapest column */
    if (empty) {
        c->eof = true;
        if (s->verbose)
            fprintf(s->log ? s->log : stderr, "scan %s.%s: empty ds range: 0 files\n", vt->ns, vt->name);
        goto done;
    }
    CnIceScanOpts o = {0};
    o.ds_lo = lo[0] ? lo : NULL;
    o.ds_hi = hi[0] ? hi : NULL;
    o.columns = cols;
    o.n_columns = n_cols;
    if ((rc = cn_ice_scan_open(s->cat, vt->t, &o, &c->scan, &err)) < 0) goto done;
    if (s->verbose) {
        /* the unpruned file count, for the comparison */
        CnIceScanOpts all = {0};
        const char *dscol = CN_ICE_DS;
        all.columns = &dscol;
        all.n_columns = 1;
        CnIceScan *full = NULL;
        uint32_t total = 0;
        if (cn_ice_scan_open(s->cat, vt->t, &all, &full, &err) == 0) total = cn_ice_scan_n_files(full);
        cn_ice_scan_close(full);
        cn_err_clear(&err);
        fprintf(s->log ? s->log : stderr, "scan %s.%s: ds [%s, %s]: %u of %u files, %lld rows; columns:",
                vt->ns, vt->name, lo[0] ? lo : "-inf", hi[0] ? hi : "+inf", cn_ice_scan_n_files(c->scan),
                total, (long long)cn_ice_scan_n_records(c->scan));
        for (uint32_t i = 0; i < n_cols; i++) fprintf(s->log ? s->log : stderr, " %s", cols[i]);
        fprintf(s->log ? s->log : stderr, "\n");
    }
    rc = advance(c, &err);
done:
    cn_free(cols);
    if (rc < 0) {
        if (s->stmt_err) cn_err_set(s->stmt_err, err.code, "%s", cn_err_msg(&err));
        return vt_error(cur->pVtab, &err);
    }
    return SQLITE_OK;
}

static int vt_next(sqlite3_vtab_cursor *cur) {
    IceCursor *c = (IceCursor *)cur;
    CnErr err = CN_ERR_INIT;
    c->row++;
    c->rowid++;
    if (advance(c, &err) < 0) {
        IceVtab *vt = (IceVtab *)cur->pVtab;
        if (vt->s->stmt_err) cn_err_set(vt->s->stmt_err, err.code, "%s", cn_err_msg(&err));
        return vt_error(cur->pVtab, &err);
    }
    return SQLITE_OK;
}

static int vt_eof(sqlite3_vtab_cursor *cur) { return ((IceCursor *)cur)->eof; }

static int vt_column(sqlite3_vtab_cursor *cur, sqlite3_context *ctx, int i) {
    IceCursor *c = (IceCursor *)cur;
    IceVtab *vt = (IceVtab *)cur->pVtab;
    int bc = c->col_map ? c->col_map[i] : -1;
    if (bc < 0 || !c->b) {
        sqlite3_result_null(ctx);
        return SQLITE_OK;
    }
    cn_sql__result_vec(vt->s, ctx, &c->b->cols[bc], c->row);
    return SQLITE_OK;
}

static int vt_rowid(sqlite3_vtab_cursor *cur, sqlite3_int64 *out) {
    *out = ((IceCursor *)cur)->rowid;
    return SQLITE_OK;
}

static const sqlite3_module ice_module = {
    .iVersion = 1,
    .xCreate = vt_connect,
    .xConnect = vt_connect,
    .xBestIndex = vt_best_index,
    .xDisconnect = vt_disconnect,
    .xDestroy = vt_disconnect,
    .xOpen = vt_open,
    .xClose = vt_close,
    .xFilter = vt_filter,
    .xNext = vt_next,
    .xEof = vt_eof,
    .xColumn = vt_column,
    .xRowid = vt_rowid,
};

int cn_sql__vtab_register(CnSql *s, CnErr *err) {
    if (sqlite3_create_module_v2(s->db, "cn_ice", &ice_module, s, NULL) != SQLITE_OK)
        return cn_err_set(err, CN_EINTERNAL, "registering the table module: %s", sqlite3_errmsg(s->db));
    return 0;
}
