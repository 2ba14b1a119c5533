/* jsplit.c: the tables of a split Join backfill (jsplit.h, docs/joins.md "Modes").
 * LAYOUTS:
 *   <join>_bootstrap: the left columns in output order (ts included), the bootstrap
 *     columns the run's bootstrap parts provide, ds (the left partition).
 *   <join>_<fullPrefix>: the part's GroupBy key columns (typed as the left columns they
 *     map from), ts for an events left, the part's value columns unprefixed (after the
 *     GroupBy's derivations), ds = the left partition. One row per distinct
 *     (keys, ts, ds) of the left rows with no null key: the value of a left row is a
 *     function of exactly these (compute.md section 6), so a lookup on them gives the
 *     backfill's value back, and every table's partitions are the left's days. */
#include "engine/jsplit.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/date.h"
#include "base/hash.h"
#include "engine/rowmap.h"

const char *cn_eng__jsplit_boot_table(CnArena *a, const char *out_table) {
    return cn_arena_printf(a, "%s_bootstrap", out_table);
}

const char *cn_eng__jsplit_part_table(CnArena *a, const char *out_table, const char *prefix) {
    return cn_arena_printf(a, "%s_%s", out_table, prefix);
}

int cn_eng__jsplit_select(const CnJoin *j, CnArena *a, const char *list, int **idx, uint32_t *n, CnErr *err) {
    *n = 0;
    *idx = cn_arena_alloc(a, (j->n_parts + 1) * sizeof **idx);
    if (!*idx) return cn_err_set(err, CN_ENOMEM, "out of memory");
    const char *p = list ? list : "";
    for (;;) {
        const char *e = strchr(p, ',');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        int found = -1;
        for (size_t i = 0; i < j->n_parts && found < 0; i++) {
            const char *pre = cn_conf_join_part_prefix(a, &j->parts[i]);
            if (pre && strlen(pre) == len && !memcmp(pre, p, len)) found = (int)i;
        }
        if (found < 0) {
            CnBuf names = CN_BUF_INIT;
            for (size_t i = 0; i < j->n_parts; i++)
                cn_buf_printf(&names, "%s%s", i ? ", " : "", cn_conf_join_part_prefix(a, &j->parts[i]));
            int rc = cn_err_set(err, CN_EINVAL,
                                "--selected-join-parts: join %s has no part '%.*s' (parts are named by their full "
                                "prefix: %s)",
                                j->meta.name, (int)len, p, names.len ? (const char *)names.data : "none");
            cn_buf_fini(&names);
            return rc;
        }
        bool dup = false;
        for (uint32_t i = 0; i < *n; i++) dup |= (*idx)[i] == found;
        if (!dup) (*idx)[(*n)++] = found;
        if (!e) break;
        p = e + 1;
    }
    return 0;
}

int cn_eng__jsplit_days(const CnIceTable *t, int32_t **days, uint32_t *n, CnErr *err) {
    *days = NULL;
    *n = 0;
    const char *p = cn_ice_table_property(t, CN_ENG_SPLIT_DAYS_PROP);
    uint32_t cap = 0;
    while (p && *p) {
        char a[11], b[11];
        int64_t d0, d1;
        if (strlen(p) < 22 || p[10] != '.' || p[11] != '.' || (p[22] && p[22] != ','))
            goto bad;
        memcpy(a, p, 10), a[10] = 0;
        memcpy(b, p + 12, 10), b[10] = 0;
        if (cn_ds_parse(a, &d0) || cn_ds_parse(b, &d1) || d1 < d0 || (*n && d0 <= (*days)[*n - 1])) goto bad;
        for (int64_t d = d0; d <= d1; d++) {
            if (*n == cap) {
                cap = cap ? cap * 2 : 64;
                int32_t *nd = cn_realloc(*days, cap * sizeof *nd);
                if (!nd) {
                    cn_free(*days), *days = NULL, *n = 0;
                    return cn_err_set(err, CN_ENOMEM, "out of memory");
                }
                *days = nd;
            }
            (*days)[(*n)++] = (int32_t)d;
        }
        p += p[22] ? 23 : 22;
    }
    return 0;
bad:
    cn_free(*days), *days = NULL, *n = 0;
    return cn_err_set(err, CN_ECORRUPT, "table %s: property %s is '%s', expected ranges YYYY-MM-DD..YYYY-MM-DD",
                      cn_ice_table_name(t), CN_ENG_SPLIT_DAYS_PROP, cn_ice_table_property(t, CN_ENG_SPLIT_DAYS_PROP));
}

static int cmp_day(const void *a, const void *b) {
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

/* The days property of old[0..n_old) + add[0..n_add) as ranges, into out. */
static int days_text(const int32_t *old, uint32_t n_old, const int32_t *add, uint32_t n_add, CnBuf *out, CnErr *err) {
    int32_t *all = cn_malloc(((size_t)n_old + n_add + 1) * sizeof *all);
    if (!all) return cn_err_set(err, CN_ENOMEM, "out of memory");
    if (n_old) memcpy(all, old, n_old * sizeof *all);
    if (n_add) memcpy(all + n_old, add, n_add * sizeof *all);
    uint32_t n = n_old + n_add;
    qsort(all, n, sizeof *all, cmp_day);
    for (uint32_t i = 0; i < n;) {
        uint32_t k = i;
        while (k + 1 < n && all[k + 1] <= all[k] + 1) k++;
        char a[11], b[11];
        cn_ds_format(all[i], a);
        cn_ds_format(all[k], b);
        cn_buf_printf(out, "%s%s..%s", out->len ? "," : "", a, b);
        i = k + 1;
    }
    cn_free(all);
    return out->oom ? cn_err_set(err, CN_ENOMEM, "out of memory") : 0;
}

int cn_eng__jsplit_write(CnIceCatalog *cat, const char *table, const char *hash_hex, int left_cols, const CnBatch *b,
                         const int32_t *days, uint32_t n_days, CnErr *err) {
    char ns[129], name[129];
    CnIceWrite *w = NULL;
    int rc = cn_ice_name_parse(table, ns, name, err);
    if (rc == 0 && !cn_ice_table_exists(cat, ns, name)) {
        rc = cn_ice_table_create(cat, ns, name, b->schema, NULL, 0, err);
        if (rc == CN_EEXISTS) cn_err_clear(err), rc = 0;
    }
    /* the days this table already holds for the same version of the join */
    int32_t *had = NULL;
    uint32_t n_had = 0;
    CnBuf dtext = CN_BUF_INIT;
    if (rc == 0) {
        CnIceTable *t = NULL;
        rc = cn_ice_table_load(cat, ns, name, &t, err);
        const char *prop = rc ? NULL : cn_ice_table_property(t, CN_ENG_SPLIT_HASH_PROP);
        if (prop && !strcmp(prop, hash_hex)) rc = cn_eng__jsplit_days(t, &had, &n_had, err);
        cn_ice_table_free(t);
    }
    if (rc == 0) rc = days_text(had, n_had, days, n_days, &dtext, err);
    cn_free(had);
    if (rc == 0) rc = cn_ice_write_begin(cat, ns, name, CN_ICE_OVERWRITE, &w, err);
    if (rc == 0) {
        /* a changed join that produces other columns cannot go into the old table */
        const CnSchema *ts = cn_ice_write_schema(w), *os = b->schema;
        bool same = ts->n_fields == os->n_fields;
        for (uint32_t i = 0; same && i < os->n_fields; i++)
            same = !strcmp(ts->fields[i].name, os->fields[i].name) && cn_col_type_equal(ts->fields[i].type, os->fields[i].type);
        if (!same)
            rc = cn_err_set(err, CN_ECONFIG,
                            "table %s has other columns (%u) than the join now produces for it (%u): drop or rename "
                            "the table to recompute it with the new columns",
                            table, ts->n_fields, os->n_fields);
    }
    if (rc == 0) rc = cn_ice_write_set_property(w, CN_ENG_SPLIT_HASH_PROP, hash_hex, err);
    if (rc == 0) rc = cn_ice_write_set_property(w, CN_ENG_SPLIT_DAYS_PROP, dtext.data, err);
    if (rc == 0 && left_cols >= 0) {
        char nb[16];
        snprintf(nb, sizeof nb, "%d", left_cols);
        rc = cn_ice_write_set_property(w, CN_ENG_SPLIT_LEFT_PROP, nb, err);
    }
    for (uint32_t i = 0; i < n_days && rc == 0; i++) {
        char ds[11];
        cn_ds_format(days[i], ds);
        rc = cn_ice_write_touch_partition(w, ds, err);
    }
    if (rc == 0) rc = cn_ice_write_batch(w, b, err);
    if (rc == 0) rc = cn_ice_write_commit(w, NULL, err);
    cn_ice_write_free(w);
    cn_buf_fini(&dtext);
    return rc ? cn_err_ctx(err, rc, "table %s", table) : 0;
}

/* Adds a nullable column typed t (copied into s). */
static int add_col(CnSchema *s, const char *name, const CnType *t, CnErr *err) {
    const CnType *c = cn_col_type_copy(&s->arena, t);
    return c ? cn_col_schema_add(s, name, c, true, CN_COL_NO_ID, err) : cn_err_set(err, CN_ENOMEM, "out of memory");
}

static int append_ds(CnVec *v, int32_t day) {
    if (day == INT32_MIN) return cn_col_vec_append_null(v);
    char ds[11];
    cn_ds_format(day, ds);
    return cn_col_vec_append_str(v, ds, 10);
}

int cn_eng__jsplit_left_batch(const CnBatch *rows, const int *order, uint32_t n_order, const int32_t *pday,
                              const CnBatch *boot, CnSchema **os, CnBatch **ob, CnErr *err) {
    *os = NULL;
    *ob = NULL;
    uint32_t n = rows->n_rows, nb = boot ? boot->n_cols : 0;
    int rc = cn_col_schema_new(os) ? cn_err_set(err, CN_ENOMEM, "out of memory") : 0;
    for (uint32_t i = 0; i < n_order && rc == 0; i++)
        rc = add_col(*os, rows->schema->fields[order[i]].name, rows->schema->fields[order[i]].type, err);
    for (uint32_t i = 0; i < nb && rc == 0; i++)
        rc = add_col(*os, boot->schema->fields[i].name, boot->schema->fields[i].type, err);
    if (rc == 0) rc = add_col(*os, CN_ICE_DS, cn_col_type_prim(CN_COL_STRING), err);
    if (rc == 0) rc = cn_col_batch_new(*os, ob, err);
    if (rc) return rc;
    for (uint32_t i = 0; i < n_order; i++) cn_col_vec_append_range(&(*ob)->cols[i], &rows->cols[order[i]], 0, n);
    for (uint32_t i = 0; i < nb; i++) cn_col_vec_append_range(&(*ob)->cols[n_order + i], &boot->cols[i], 0, n);
    for (uint32_t r = 0; r < n; r++) append_ds(&(*ob)->cols[n_order + nb], pday[r]);
    return cn_col_batch_sync_rows(*ob, err);
}

/* Lookup bytes of a row: encoded keys, ts (null flag + value), day. false for a null key. */
static bool row_key(const CnBatch *b, const int *cols, uint32_t nk, int i_ts, uint32_t r, int32_t day, CnBuf *out) {
    for (uint32_t k = 0; k < nk; k++)
        if (!cn_col_vec_is_valid(&b->cols[cols[k]], r)) return false;
    cn_eng__key_encode(b, cols, nk, r, out);
    if (i_ts >= 0) {
        CnScalar v;
        uint8_t valid = cn_col_vec_is_valid(&b->cols[i_ts], r);
        int64_t ts = 0;
        if (valid) {
            cn_col_vec_get(&b->cols[i_ts], r, &v);
            ts = v.v.i64;
        }
        cn_buf_append(out, &valid, 1);
        cn_buf_append(out, &ts, sizeof ts);
    }
    cn_buf_append(out, &day, sizeof day);
    return true;
}

int cn_eng__jsplit_part_batch(const CnEngSplitKeys *k, const CnBatch *vals, CnSchema **os, CnBatch **ob, CnErr *err) {
    *os = NULL;
    *ob = NULL;
    const CnSchema *ls = k->rows->schema;
    uint32_t nk = k->n_keys, nts = k->i_ts >= 0, nv = vals->n_cols;
    int rc = cn_col_schema_new(os) ? cn_err_set(err, CN_ENOMEM, "out of memory") : 0;
    for (uint32_t i = 0; i < nk && rc == 0; i++) rc = add_col(*os, k->keys[i], ls->fields[k->lcol[i]].type, err);
    if (rc == 0 && nts) rc = add_col(*os, "ts", ls->fields[k->i_ts].type, err);
    for (uint32_t i = 0; i < nv && rc == 0; i++) rc = add_col(*os, vals->schema->fields[i].name, vals->schema->fields[i].type, err);
    if (rc == 0) rc = add_col(*os, CN_ICE_DS, cn_col_type_prim(CN_COL_STRING), err);
    if (rc == 0) rc = cn_col_batch_new(*os, ob, err);
    if (rc) return rc;
    CnEngRowMap seen;
    memset(&seen, 0, sizeof seen);
    CnBuf kb = CN_BUF_INIT;
    for (uint32_t r = 0; r < k->rows->n_rows && rc == 0; r++) {
        cn_buf_reset(&kb);
        if (!row_key(k->rows, k->lcol, nk, k->i_ts, r, k->pday[r], &kb)) continue;
        uint64_t h = cn_hash_bytes(kb.data, kb.len, 0);
        if (cn_eng__rowmap_find(&seen, kb.data, kb.len, h) != UINT32_MAX) continue;
        if (!cn_eng__rowmap_add(&seen, kb.data, kb.len, h)) {
            rc = cn_err_set(err, CN_ENOMEM, "out of memory");
            break;
        }
        CnBatch *o = *ob;
        for (uint32_t i = 0; i < nk; i++) cn_col_vec_append_from(&o->cols[i], &k->rows->cols[k->lcol[i]], r);
        if (nts) cn_col_vec_append_from(&o->cols[nk], &k->rows->cols[k->i_ts], r);
        for (uint32_t i = 0; i < nv; i++) cn_col_vec_append_from(&o->cols[nk + nts + i], &vals->cols[i], r);
        append_ds(&o->cols[nk + nts + nv], k->pday[r]);
    }
    cn_buf_fini(&kb);
    cn_eng__rowmap_fini(&seen);
    return rc ? rc : cn_col_batch_sync_rows(*ob, err);
}

/* The table's rows of partitions [lo, hi] in one batch with its own schema. */
static int read_all(CnIceCatalog *cat, const char *table, int32_t lo, int32_t hi, CnSchema **os, CnBatch **ob,
                    CnErr *err) {
    char ns[129], name[129], dlo[11], dhi[11];
    CnIceTable *t = NULL;
    CnIceScan *scan = NULL;
    *os = NULL;
    *ob = NULL;
    int rc = cn_ice_name_parse(table, ns, name, err);
    if (rc == 0) rc = cn_ice_table_load(cat, ns, name, &t, err);
    if (rc) goto done;
    const CnSchema *ts = cn_ice_table_schema(t);
    rc = cn_col_schema_new(os) ? cn_err_set(err, CN_ENOMEM, "out of memory") : 0;
    for (uint32_t i = 0; i < ts->n_fields && rc == 0; i++) rc = add_col(*os, ts->fields[i].name, ts->fields[i].type, err);
    if (rc == 0) rc = cn_col_batch_new(*os, ob, err);
    cn_ds_format(lo, dlo);
    cn_ds_format(hi, dhi);
    CnIceScanOpts so = {0};
    so.ds_lo = dlo;
    so.ds_hi = dhi;
    if (rc == 0) rc = cn_ice_scan_open(cat, t, &so, &scan, err);
    while (rc == 0) {
        const CnBatch *in = NULL;
        rc = cn_ice_scan_next(scan, &in, err);
        if (rc || !in) break;
        for (uint32_t c = 0; c < in->n_cols && rc == 0; c++)
            rc = cn_col_vec_append_range(&(*ob)->cols[c], &in->cols[c], 0, in->n_rows) ? cn_err_set(err, CN_ENOMEM, "out of memory") : 0;
        if (rc == 0) rc = cn_col_batch_sync_rows(*ob, err);
    }
done:
    cn_ice_scan_close(scan);
    cn_ice_table_free(t);
    return rc ? cn_err_ctx(err, rc, "table %s", table) : 0;
}

int cn_eng__jsplit_part_read(CnIceCatalog *cat, const char *table, const CnEngSplitKeys *k, int32_t lo, int32_t hi,
                             CnSchema **vschema, CnBatch **vals, CnErr *err) {
    CnSchema *ts = NULL;
    CnBatch *tb = NULL;
    CnEngRowMap map;
    memset(&map, 0, sizeof map);
    CnBuf kb = CN_BUF_INIT;
    uint32_t nk = k->n_keys, nts = k->i_ts >= 0;
    int tcol[64 + 2];
    *vschema = NULL;
    *vals = NULL;
    int rc = nk > 64 ? cn_err_set(err, CN_EUNSUPPORTED, "part table %s: more than 64 key columns", table) : 0;
    if (rc == 0) rc = read_all(cat, table, lo, hi, &ts, &tb, err);
    if (rc) goto done;
    /* keys, ts and ds by name; values: every other column, in table order */
    for (uint32_t i = 0; i < nk + nts && rc == 0; i++) {
        const char *nm = i < nk ? k->keys[i] : "ts";
        tcol[i] = cn_col_schema_find(ts, nm);
        if (tcol[i] < 0)
            rc = cn_err_set(err, CN_ECONFIG, "part table %s has no column %s: re-run its part with --force", table, nm);
    }
    int i_ds = cn_col_schema_find(ts, CN_ICE_DS);
    if (rc) goto done;
    rc = cn_col_schema_new(vschema) ? cn_err_set(err, CN_ENOMEM, "out of memory") : 0;
    for (uint32_t c = 0; c < ts->n_fields && rc == 0; c++)
        if ((int)c >= (int)(nk + nts) && (int)c != i_ds) rc = add_col(*vschema, ts->fields[c].name, ts->fields[c].type, err);
    if (rc == 0) rc = cn_col_batch_new(*vschema, vals, err);
    if (rc) goto done;
    for (uint32_t r = 0; r < tb->n_rows && rc == 0; r++) {
        int32_t day = INT32_MIN;
        uint32_t len;
        if (cn_col_vec_is_valid(&tb->cols[i_ds], r)) {
            const char *p = cn_col_vec_str(&tb->cols[i_ds], r, &len);
            int64_t d;
            char b[11];
            snprintf(b, sizeof b, "%.*s", (int)(len < 10 ? len : 10), p);
            if (!cn_ds_parse(b, &d)) day = (int32_t)d;
        }
        cn_buf_reset(&kb);
        bool ok = row_key(tb, tcol, nk, nts ? tcol[nk] : -1, r, day, &kb);
        /* a null key never lands in the table; rows past the first for a key are ignored */
        uint64_t h = cn_hash_bytes(kb.data, kb.len, 0);
        if (ok && !cn_eng__rowmap_add(&map, kb.data, kb.len, h)) rc = cn_err_set(err, CN_ENOMEM, "out of memory");
        if (!ok && !cn_eng__rowmap_add(&map, "\xff", 1, 0)) rc = cn_err_set(err, CN_ENOMEM, "out of memory");
    }
    for (uint32_t r = 0; r < k->rows->n_rows && rc == 0; r++) {
        cn_buf_reset(&kb);
        uint32_t hit = UINT32_MAX;
        if (row_key(k->rows, k->lcol, nk, k->i_ts, r, k->pday[r], &kb)) {
            hit = cn_eng__rowmap_find(&map, kb.data, kb.len, cn_hash_bytes(kb.data, kb.len, 0));
            if (hit == UINT32_MAX) {
                char ds[11] = "null";
                if (k->pday[r] != INT32_MIN) cn_ds_format(k->pday[r], ds);
                rc = cn_err_set(err, CN_ECORRUPT,
                                "part table %s has no row for a left row of partition %s: it was not written from "
                                "these left rows; re-run the part with --force",
                                table, ds);
                break;
            }
        }
        for (uint32_t c = 0, v = 0; c < ts->n_fields; c++) {
            if ((int)c < (int)(nk + nts) || (int)c == i_ds) continue;
            if (hit == UINT32_MAX) cn_col_vec_append_null(&(*vals)->cols[v]);
            else cn_col_vec_append_from(&(*vals)->cols[v], &tb->cols[c], hit);
            v++;
        }
    }
    if (rc == 0) rc = cn_col_batch_sync_rows(*vals, err);
done:
    cn_buf_fini(&kb);
    cn_eng__rowmap_fini(&map);
    cn_col_batch_free(tb);
    cn_col_schema_free(ts);
    if (rc) {
        cn_col_batch_free(*vals);
        cn_col_schema_free(*vschema);
        *vals = NULL;
        *vschema = NULL;
    }
    return rc;
}

int cn_eng__jsplit_check(CnIceCatalog *cat, const char *table, const char *hash_hex, const int32_t *days, uint32_t n,
                         const char *fix, CnErr *err) {
    char ns[129], name[129];
    CnIceTable *t = NULL;
    int32_t *have = NULL;
    uint32_t n_have = 0;
    int rc = cn_ice_name_parse(table, ns, name, err);
    if (rc) return rc;
    if (!cn_ice_table_exists(cat, ns, name))
        return cn_err_set(err, CN_ENOTFOUND, "table %s does not exist: %s first", table, fix);
    rc = cn_ice_table_load(cat, ns, name, &t, err);
    if (rc == 0) {
        const char *prop = cn_ice_table_property(t, CN_ENG_SPLIT_HASH_PROP);
        if (!prop || strcmp(prop, hash_hex))
            rc = cn_err_set(err, CN_ECONFIG, "table %s was written by another version of the join: %s with --force",
                            table, fix);
    }
    if (rc == 0) rc = cn_eng__jsplit_days(t, &have, &n_have, err);
    if (rc == 0) {
        CnBuf miss = CN_BUF_INIT;
        uint32_t nm = 0;
        for (uint32_t i = 0; i < n; i++) {
            if (bsearch(&days[i], have, n_have, sizeof *have, cmp_day)) continue;
            char ds[11];
            cn_ds_format(days[i], ds);
            if (nm < 8) cn_buf_printf(&miss, "%s%s", nm ? ", " : "", ds);
            nm++;
        }
        if (nm)
            rc = cn_err_set(err, CN_ENOTFOUND, "table %s lacks %u day%s the output needs (%s%s): %s first", table,
                            nm, nm == 1 ? "" : "s", (const char *)miss.data, nm > 8 ? ", ..." : "", fix);
        cn_buf_fini(&miss);
    }
    cn_free(have);
    cn_ice_table_free(t);
    return rc;
}
