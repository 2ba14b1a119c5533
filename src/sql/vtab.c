/* vtab.c: the `cn_ice` SQLite virtual table module: one virtual table per Iceberg
 * table, `CREATE VIRTUAL TABLE x USING cn_ice(ns, name)`.
 * xBestIndex takes the constraints SQLite offers on `ds` (=, <, <=, >, >=; IN arrives
 * as repeated =) as the scan's partition range, and records SQLite's colUsed as the
 * projection; both travel to xFilter in idxStr as "<colUsed hex>|<ops>", ops one
 * letter per argv value (e = < l > g, upper case for the inclusive forms). SQLite still
 * checks every constraint itself (omit stays 0): the range only prunes files.
 * ORDER BY ds (also SQLite's GROUP BY ds, DISTINCT ds) is consumed when it is the only
 * ordering term: the cursor then lists the partitions in range and scans them one at a
 * time in ds order (a third idxStr field "a" or "d"), so SQLite needs no sorter.
 * JOINS: an equality on another column whose right side is not a constant (a join
 *   key) is taken as a lookup (fourth idxStr field: the column). The first lookup of a
 *   statement materialises the projected rows of the ds range once and hashes the key
 *   column; each lookup then walks one hash chain. Without it SQLite would re-scan the
 *   inner table for every outer row. The materialisations live until the next
 *   statement (gen) because every cursor of the statement may point into them.
 * The table is re-loaded once per statement (CnSql.gen), so a statement sees the
 * latest snapshot and every scan within it sees the same one. */
#include "sql/sql_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/date.h"
#include "base/hash.h"

/* Rows of a scan kept in memory with a hash index on one column (joins). */
typedef struct Mat {
    struct Mat *next_mat;
    char *key;              /* OWNED: "<idxStr>|<lo>|<hi>" it was built for */
    CnSchema *schema;       /* OWNED: the projection */
    CnBatch *rows;          /* OWNED */
    int key_col;            /* column of rows holding the key */
    uint32_t *heads, *next; /* OWNED: chains of row indexes, UINT32_MAX ends */
    uint32_t mask;
} Mat;

/* A lookup key, normalised so that SQLite's = on the column can only be true when the
 * keys are equal (SQLite re-checks anyway). */
typedef enum KeyKind { KEY_OK = 0, KEY_NONE, KEY_ALL } KeyKind;
typedef struct Key {
    bool is_str;
    int64_t i;
    const char *p;
    uint32_t len;
} Key;

typedef struct IceVtab {
    sqlite3_vtab base;
    CnSql *s;
    char ns[129], name[129];
    CnIceTable *t;          /* OWNED; reloaded when gen changes */
    uint64_t gen;
    CnSchema *decl;         /* OWNED: the columns declared to SQLite */
    int i_ds;               /* declared index of ds, -1 */
    Mat *mats;              /* OWNED list, freed when gen changes */
} IceVtab;

typedef struct IceCursor {
    sqlite3_vtab_cursor base;
    CnIceScan *scan;
    const CnBatch *b;
    uint32_t row;
    int64_t rowid;
    bool eof;
    int *col_map;           /* declared column -> batch column, -1: not projected */
    /* ordered scans: one scan per partition, in order */
    char **parts;           /* OWNED block (cn_sql__partitions), NULL: one plain scan */
    size_t n_parts, i_part;
    bool desc;
    const char **cols;      /* OWNED projection, kept for the per-partition scans */
    uint32_t n_cols;
    /* lookups: rows come from a Mat (BORROWED from the vtab) */
    int mode;               /* 0 scan, 1 one hash chain, 2 every row of the Mat */
    const Mat *mat;
    Key key;
    char key_buf[64];
} IceCursor;

static void mats_free(IceVtab *vt) {
    for (Mat *m = vt->mats, *n; m; m = n) {
        n = m->next_mat;
        cn_free(m->key);
        cn_col_batch_free(m->rows);
        cn_col_schema_free(m->schema);
        cn_free(m->heads);
        cn_free(m->next);
        cn_free(m);
    }
    vt->mats = NULL;
}

static bool key_type_ok(CnTypeId t) {
    return t == CN_COL_INT32 || t == CN_COL_INT64 || t == CN_COL_BOOL || t == CN_COL_STRING || t == CN_COL_DATE;
}

static uint64_t key_hash(const Key *k) {
    return k->is_str ? cn_hash_bytes(k->p, k->len, 0) : cn_hash_u64((uint64_t)k->i);
}

static bool key_eq(const Key *a, const Key *b) {
    if (a->is_str != b->is_str) return false;
    return a->is_str ? a->len == b->len && !memcmp(a->p, b->p, a->len) : a->i == b->i;
}

/* Key of entry r of a key column; false for null (= never matches null). */
static bool key_of_row(const CnVec *v, uint32_t r, Key *k) {
    if (!cn_col_vec_is_valid(v, r)) return false;
    k->is_str = false;
    switch (v->type->id) {
    case CN_COL_BOOL: k->i = ((const uint8_t *)v->values)[r]; return true;
    case CN_COL_INT32:
    case CN_COL_DATE: k->i = ((const int32_t *)v->values)[r]; return true;
    case CN_COL_INT64: k->i = ((const int64_t *)v->values)[r]; return true;
    default:
        k->is_str = true;
        k->p = cn_col_vec_str(v, r, &k->len);
        return true;
    }
}

/* Key of a constraint value compared with a column of type t, as SQLite compares them
 * (INTEGER/TEXT affinity of the declared type). buf holds converted text. */
static KeyKind key_of_value(CnTypeId t, sqlite3_value *v, Key *k, char *buf, size_t cap) {
    int vt = sqlite3_value_type(v);
    if (vt == SQLITE_NULL) return KEY_NONE;
    k->is_str = false;
    if (t == CN_COL_STRING || t == CN_COL_DATE) {
        if (vt == SQLITE_BLOB) return KEY_ALL;
        const char *txt = (const char *)sqlite3_value_text(v);
        int n = sqlite3_value_bytes(v);
        if (!txt) return KEY_ALL;
        if (t == CN_COL_DATE) {
            int64_t d;
            if (n != 10 || cn_ds_parse(txt, &d)) return KEY_NONE;
            k->i = d;
            return KEY_OK;
        }
        if ((size_t)n >= cap) return KEY_ALL;
        memcpy(buf, txt, (size_t)n);
        k->is_str = true;
        k->p = buf;
        k->len = (uint32_t)n;
        return KEY_OK;
    }
    /* integer columns */
    if (vt == SQLITE_INTEGER) {
        k->i = sqlite3_value_int64(v);
        return KEY_OK;
    }
    if (vt == SQLITE_FLOAT) {
        double x = sqlite3_value_double(v);
        if (x != x || x < -9.2e18 || x > 9.2e18 || (double)(int64_t)x != x) return KEY_NONE;
        k->i = (int64_t)x;
        return KEY_OK;
    }
    return KEY_ALL; /* text compared with an integer column: let SQLite decide */
}

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
    mats_free(vt);
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
    int key_col = -1;
    for (int i = 0; i < ii->nConstraint && n_ops < 60; i++) {
        const struct sqlite3_index_constraint *c = &ii->aConstraint[i];
        if (!c->usable) continue;
        if (c->iColumn != vt->i_ds && c->iColumn >= 0 && key_col < 0 && c->op == SQLITE_INDEX_CONSTRAINT_EQ &&
            key_type_ok(vt->decl->fields[c->iColumn].type->id)) {
            /* a join key (right side not a constant), compared bytewise */
            sqlite3_value *rhs = NULL;
            const char *coll = sqlite3_vtab_collation(ii, i);
            if (sqlite3_vtab_rhs_value(ii, i, &rhs) != SQLITE_OK && (!coll || !sqlite3_stricmp(coll, "BINARY"))) {
                key_col = c->iColumn;
                ops[n_ops++] = 'k';
                ii->aConstraintUsage[i].argvIndex = n_ops;
                ii->aConstraintUsage[i].omit = 0;
                continue;
            }
        }
        if (c->iColumn != vt->i_ds || vt->i_ds < 0) continue;
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
    char order = '-';
    if (key_col < 0 && ii->nOrderBy == 1 && vt->i_ds >= 0 && ii->aOrderBy[0].iColumn == vt->i_ds) {
        order = ii->aOrderBy[0].desc ? 'd' : 'a';
        ii->orderByConsumed = 1;
    }
    if (key_col >= 0) cost = 20; /* one hash chain per lookup once the rows are in memory */
    ii->idxStr = sqlite3_mprintf("%016llx|%s|%c|%d", (unsigned long long)ii->colUsed, ops, order, key_col);
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
    cn_free(c->parts);
    c->parts = NULL;
    c->n_parts = c->i_part = 0;
    cn_free(c->cols);
    c->cols = NULL;
    c->mode = 0;
    c->mat = NULL;
}

/* Opens the scan of the next partition of an ordered cursor; *more = false at the end. */
static int open_next_part(IceCursor *c, IceVtab *vt, bool *more, CnErr *err) {
    cn_ice_scan_close(c->scan);
    c->scan = NULL;
    *more = c->i_part < c->n_parts;
    if (!*more) return 0;
    const char *p = c->parts[c->desc ? c->n_parts - 1 - c->i_part : c->i_part];
    c->i_part++;
    CnIceScanOpts o = {0};
    o.ds_lo = o.ds_hi = p;
    o.columns = c->cols;
    o.n_columns = c->n_cols;
    return cn_ice_scan_open(vt->s->cat, vt->t, &o, &c->scan, err);
}

static int vt_close(sqlite3_vtab_cursor *cur) {
    IceCursor *c = (IceCursor *)cur;
    cursor_reset(c);
    cn_free(c);
    return SQLITE_OK;
}

/* Moves to the next row with data (loads batches, and partitions, as needed). */
static int advance(IceCursor *c, IceVtab *vt, CnErr *err) {
    if (c->mode == 1) { /* c->row is a chain position: stop on the next equal key */
        for (; c->row != UINT32_MAX; c->row = c->mat->next[c->row]) {
            Key k;
            if (key_of_row(&c->b->cols[c->mat->key_col], c->row, &k) && key_eq(&k, &c->key)) return 0;
        }
        c->eof = true;
        return 0;
    }
    if (c->mode == 2) {
        if (c->row >= c->b->n_rows) c->eof = true;
        return 0;
    }
    while (!c->b || c->row >= c->b->n_rows) {
        c->row = 0;
        int rc = c->scan ? cn_ice_scan_next(c->scan, &c->b, err) : 0;
        if (rc < 0) return rc;
        if (!c->scan || !c->b) {
            bool more = false;
            c->b = NULL;
            if (c->parts && (rc = open_next_part(c, vt, &more, err)) < 0) return rc;
            if (!more) {
                c->eof = true;
                return 0;
            }
        }
    }
    return 0;
}

static bool valid_ds(sqlite3_value *v) {
    if (sqlite3_value_type(v) != SQLITE_TEXT) return false;
    int64_t d;
    return sqlite3_value_bytes(v) == 10 && cn_ds_parse((const char *)sqlite3_value_text(v), &d) == 0;
}

/* The Mat of this projection and ds range, built on first use. */
static int get_mat(IceVtab *vt, const char *idx_str, const CnIceScanOpts *o, int key_col, const Mat **out,
                   CnErr *err) {
    CnSql *s = vt->s;
    char *key = sqlite3_mprintf("%s|%s|%s", idx_str, o->ds_lo ? o->ds_lo : "", o->ds_hi ? o->ds_hi : "");
    if (!key) return cn_err_set(err, CN_ENOMEM, "out of memory");
    for (Mat *m = vt->mats; m; m = m->next_mat)
        if (!strcmp(m->key, key)) {
            sqlite3_free(key);
            *out = m;
            return 0;
        }
    CnIceScan *scan = NULL;
    Mat *m = cn_calloc(1, sizeof *m);
    int rc = m ? 0 : cn_err_set(err, CN_ENOMEM, "out of memory");
    if (rc == 0 && !(m->key = cn_strdup(key))) rc = cn_err_set(err, CN_ENOMEM, "out of memory");
    sqlite3_free(key);
    if (rc < 0) goto done;
    m->key_col = key_col;
    if ((rc = cn_ice_scan_open(s->cat, vt->t, o, &scan, err)) < 0) goto done;
    if ((rc = cn_col_schema_copy(cn_ice_scan_schema(scan), &m->schema, err)) < 0) goto done;
    if ((rc = cn_col_batch_new(m->schema, &m->rows, err)) < 0) goto done;
    for (;;) {
        const CnBatch *b;
        if ((rc = cn_ice_scan_next(scan, &b, err)) < 0) goto done;
        if (!b) break;
        if ((uint64_t)m->rows->n_rows + b->n_rows >= UINT32_MAX) {
            rc = cn_err_set(err, CN_ELIMIT, "%s.%s: a join side of more than 4 billion rows", vt->ns, vt->name);
            goto done;
        }
        if ((rc = cn_col_batch_append_rows(m->rows, b, NULL, b->n_rows, err)) < 0) goto done;
    }
    uint32_t n = m->rows->n_rows, cap = 16;
    while (cap < n * 2u && cap < (1u << 31)) cap <<= 1;
    m->mask = cap - 1;
    m->heads = cn_malloc((size_t)cap * sizeof *m->heads);
    m->next = cn_malloc(((size_t)n + 1) * sizeof *m->next);
    if (!m->heads || !m->next) { rc = cn_err_set(err, CN_ENOMEM, "out of memory"); goto done; }
    memset(m->heads, 0xff, (size_t)cap * sizeof *m->heads);
    const CnVec *kv = &m->rows->cols[key_col];
    for (uint32_t r = n; r-- > 0;) { /* backwards: chains in row order */
        Key k;
        m->next[r] = UINT32_MAX;
        if (!key_of_row(kv, r, &k)) continue;
        uint32_t h = (uint32_t)key_hash(&k) & m->mask;
        m->next[r] = m->heads[h];
        m->heads[h] = r;
    }
    if (s->verbose)
        fprintf(s->log ? s->log : stderr, "scan %s.%s: ds [%s, %s]: %u files, %u rows in memory for lookups on %s\n",
                vt->ns, vt->name, o->ds_lo ? o->ds_lo : "-inf", o->ds_hi ? o->ds_hi : "+inf", cn_ice_scan_n_files(scan),
                n, m->schema->fields[key_col].name);
done:
    cn_ice_scan_close(scan);
    if (rc < 0) {
        if (m) {
            m->next_mat = vt->mats; /* freed with the others */
            vt->mats = m;
        }
        return rc;
    }
    m->next_mat = vt->mats;
    vt->mats = m;
    *out = m;
    return 0;
}

/* Positions c on the rows whose key column equals v. */
static int lookup(IceCursor *c, IceVtab *vt, const char *idx_str, const CnIceScanOpts *o, int key_col,
                  sqlite3_value *v, CnErr *err) {
    const Mat *m = NULL;
    int rc = get_mat(vt, idx_str, o, key_col, &m, err);
    if (rc < 0) return rc;
    c->mat = m;
    c->b = m->rows;
    c->row = 0;
    switch (key_of_value(m->rows->cols[key_col].type->id, v, &c->key, c->key_buf, sizeof c->key_buf)) {
    case KEY_NONE: c->eof = true; return 0;
    case KEY_ALL: c->mode = 2; return advance(c, vt, err);
    default:
        c->mode = 1;
        c->row = m->heads[(uint32_t)key_hash(&c->key) & m->mask];
        return advance(c, vt, err);
    }
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
        mats_free(vt);
    }
    unsigned long long used = strtoull(idx_str, NULL, 16);
    const char *ops = strchr(idx_str, '|');
    ops = ops ? ops + 1 : "";
    const char *order = strchr(ops, '|');
    bool ordered = order && (order[1] == 'a' || order[1] == 'd');
    c->desc = ordered && order[1] == 'd';
    int key_col = order && order[1] && order[2] == '|' ? atoi(order + 3) : -1;
    int key_arg = -1;
    /* ds range: the intersection of the bounds, inclusive (strict bounds widen by
     * nothing: SQLite re-checks rows) */
    char lo[11] = "", hi[11] = "";
    bool empty = false;
    for (int i = 0; i < argc && ops[i] && ops[i] != '|'; i++) {
        if (ops[i] == 'k') {
            key_arg = i;
            continue;
        }
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
    cols = c->cols = cn_calloc(nd + 1, sizeof *cols);
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
    c->n_cols = n_cols;
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
    if (key_col >= 0 && key_arg >= 0 && key_col < (int)nd && c->col_map[key_col] >= 0) {
        rc = lookup(c, vt, idx_str, &o, c->col_map[key_col], argv[key_arg], &err);
        goto done;
    }
    if ((rc = cn_ice_scan_open(s->cat, vt->t, &o, &c->scan, &err)) < 0) goto done;
    if (ordered) {
        if ((rc = cn_sql__partitions(s->cat, vt->t, o.ds_lo, o.ds_hi, &c->parts, &c->n_parts, &err)) < 0) goto done;
        if (s->verbose)
            fprintf(s->log ? s->log : stderr, "scan %s.%s: in ds order, one partition at a time (%zu partitions)\n",
                    vt->ns, vt->name, c->n_parts);
    }
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
    if (ordered) {
        /* the planning scan above gave the counts; rows come per partition */
        cn_ice_scan_close(c->scan);
        c->scan = NULL;
    }
    rc = advance(c, vt, &err);
done:
    if (rc < 0) {
        if (s->stmt_err) cn_err_set(s->stmt_err, err.code, "%s", cn_err_msg(&err));
        return vt_error(cur->pVtab, &err);
    }
    return SQLITE_OK;
}

static int vt_next(sqlite3_vtab_cursor *cur) {
    IceCursor *c = (IceCursor *)cur;
    CnErr err = CN_ERR_INIT;
    IceVtab *vt = (IceVtab *)cur->pVtab;
    c->row = c->mode == 1 ? c->mat->next[c->row] : c->row + 1;
    c->rowid++;
    if (advance(c, vt, &err) < 0) {
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
