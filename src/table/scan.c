/* scan.c: reading a snapshot: manifests pruned by their ds summary, files by their ds
 * partition value, then one Parquet file at a time. Columns are matched by Iceberg
 * field id (names may have changed); a column a file lacks reads as null, except the
 * identity partition column, which takes the file's partition value. */
#include "base/compat.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "io/parquet/pq.h"
#include "table/ice_int.h"

struct CnIceScan {
    CnIceCatalog *c;
    CnArena arena;
    char *table;              /* arena: "ns.name" for messages */
    CnSchema *schema;         /* OWNED: the snapshot's schema */
    CnSchema *out_schema;     /* OWNED: the projection */
    int32_t ds_field_id;
    CnIceDataFile *files;     /* arena */
    uint32_t n_files, i_file;
    uint32_t *file_ord;       /* arena: plan index of each file (sharded scans), or NULL */
    uint32_t rg_shard_n, rg_shard_i; /* row groups g % n == i of each file (n > 0), else all */
    bool (*claim)(void *ud, uint32_t file, int64_t records); /* CnIceScanOpts' */
    void *claim_ud;
    int64_t n_records;
    uint32_t batch_rows;
    CnPqReader *r;            /* OWNED: the open file */
    CnPqReadCache *rcache;    /* OWNED: decode buffers lent to each file's reader in turn */
    CnBuf bytes;              /* remote file's bytes while it is open */
    int *map;                 /* OWNED: out column -> projected file column, or -1 */
    bool pass;                /* the open file's batches are the scan's as they are */
    CnBatch *out;             /* OWNED */
};

static int pick_snapshot(const CnIceTable *t, const CnIceScanOpts *o, int64_t *snap, CnErr *err) {
    if (o && o->snapshot_id) {
        if (!cn_ice__meta_snapshot(t->meta, o->snapshot_id)) {
            CnBuf ids = CN_BUF_INIT;
            for (uint32_t i = 0; i < t->n_snaps && i < 20; i++)
                cn_buf_printf(&ids, "%s%lld", i ? ", " : "", (long long)t->snaps[i].id);
            int rc = cn_err_set(err, CN_ENOTFOUND, "table %s: no snapshot %lld (snapshots: %s)",
                                t->full_name, (long long)o->snapshot_id,
                                ids.len ? ids.data : "none");
            cn_buf_fini(&ids);
            return rc;
        }
        *snap = o->snapshot_id;
        return 0;
    }
    if (o && o->as_of_ms) {
        *snap = -1;
        /* the snapshot log is the table's history of current snapshots */
        size_t i;
        json_t *e;
        json_array_foreach(json_object_get(t->meta, "snapshot-log"), i, e) {
            if (json_integer_value(json_object_get(e, "timestamp-ms")) <= o->as_of_ms)
                *snap = json_integer_value(json_object_get(e, "snapshot-id"));
        }
        if (*snap < 0)
            return cn_err_set(err, CN_ENOTFOUND, "table %s: no snapshot at or before %lld ms%s",
                              t->full_name, (long long)o->as_of_ms,
                              t->n_snaps ? " (the first one is later)" : " (the table has none)");
        return 0;
    }
    *snap = cn_ice_table_current_snapshot(t);
    return 0;
}

int cn_ice_scan_open(CnIceCatalog *c, const CnIceTable *t, const CnIceScanOpts *opts,
                     CnIceScan **out, CnErr *err) {
    *out = NULL;
    CnIceScan *s = cn_calloc(1, sizeof *s);
    if (!s) return cn_err_set(err, CN_ENOMEM, "out of memory");
    cn_arena_init(&s->arena, 0);
    s->c = c;
    s->table = cn_arena_strdup(&s->arena, t->full_name);
    s->ds_field_id = t->ds_field_id;
    s->batch_rows = opts && opts->batch_rows ? opts->batch_rows : 65536;
    int64_t snap = -1;
    int rc = pick_snapshot(t, opts, &snap, err);
    if (rc < 0) goto done;
    /* time travel reads with the schema the snapshot was written with; the current
     * snapshot with the current schema (columns added since read as null) */
    bool travel = opts && (opts->snapshot_id || opts->as_of_ms);
    json_t *sn = snap >= 0 && travel ? cn_ice__meta_snapshot(t->meta, snap) : NULL;
    json_t *sid = sn ? json_object_get(sn, "schema-id") : NULL;
    json_t *sj = json_is_integer(sid) ? cn_ice__meta_schema(t->meta, json_integer_value(sid)) : NULL;
    if (sj)
        rc = cn_ice__schema_from_json(t->meta_loc, sj, &s->schema, err);
    else
        rc = cn_col_schema_copy(t->schema, &s->schema, err);
    if (rc < 0) goto done;
    if (opts && opts->columns) {
        rc = cn_col_schema_project(s->schema, opts->columns, opts->n_columns, &s->out_schema, err);
        if (rc < 0) {
            cn_err_ctx(err, rc, "table %s", t->full_name);
            goto done;
        }
    } else {
        rc = cn_col_schema_copy(s->schema, &s->out_schema, err);
        if (rc < 0) goto done;
    }
    if (snap >= 0) {
        rc = cn_ice__snapshot_files(c, &s->arena, t, snap, opts ? opts->ds_lo : NULL,
                                    opts ? opts->ds_hi : NULL, &s->files, &s->n_files, err);
        if (rc < 0) goto done;
    }
    if (opts && opts->shard_n > 0 && opts->shard_row_groups) {
        s->rg_shard_n = opts->shard_n;
        s->rg_shard_i = opts->shard_i;
    } else if (opts && opts->shard_n > 0) { /* keep files i % shard_n == shard_i, remember i */
        s->file_ord = cn_arena_alloc(&s->arena, ((size_t)s->n_files + 1) * sizeof *s->file_ord);
        if (!s->file_ord) {
            rc = cn_err_set(err, CN_ENOMEM, "out of memory");
            goto done;
        }
        uint32_t k = 0;
        for (uint32_t i = 0; i < s->n_files; i++)
            if (i % opts->shard_n == opts->shard_i) s->file_ord[k] = i, s->files[k++] = s->files[i];
        s->n_files = k;
    }
    for (uint32_t i = 0; i < s->n_files; i++) s->n_records += s->files[i].records;
    if (opts) s->claim = opts->claim, s->claim_ud = opts->claim_ud;
    s->map = cn_calloc(s->out_schema->n_fields + 1, sizeof *s->map);
    if (!s->map) {
        rc = cn_err_set(err, CN_ENOMEM, "out of memory");
        goto done;
    }
    rc = cn_col_batch_new(s->out_schema, &s->out, err);
    if (rc == 0) rc = cn_pq_read_cache_new(&s->rcache, err);
done:
    if (rc < 0) {
        cn_ice_scan_close(s);
        return rc;
    }
    *out = s;
    return 0;
}

const CnSchema *cn_ice_scan_schema(const CnIceScan *s) { return s->out_schema; }
uint32_t cn_ice_scan_n_files(const CnIceScan *s) { return s->n_files; }
int64_t cn_ice_scan_n_records(const CnIceScan *s) { return s->n_records; }

/* Whether the reader's batches can be handed out as the scan's without a copy: every
 * column of the projection comes from the file, in order, under the same name, type and
 * nullability (a renamed column or one the file lacks is built into s->out instead). */
static bool pass_through(const CnIceScan *s, uint32_t n_read) {
    const CnSchema *rs = cn_pq_reader_out_schema(s->r), *os = s->out_schema;
    if (n_read != os->n_fields || rs->n_fields != os->n_fields) return false;
    for (uint32_t i = 0; i < os->n_fields; i++) {
        const CnField *a = &os->fields[i], *b = &rs->fields[i];
        if (s->map[i] != (int)i || strcmp(a->name, b->name) || a->nullable != b->nullable ||
            a->field_id != b->field_id || !cn_col_type_equal(a->type, b->type))
            return false;
    }
    return true;
}

static int open_file(CnIceScan *s, const CnIceDataFile *f, CnErr *err) {
    const char *local = cn_ice__local_path(f->path);
    int rc;
    if (local) {
        rc = cn_pq_reader_open(local, &s->r, err);
    } else {
        rc = cn_ice__get(s->c, f->path, &s->bytes, err);
        if (rc == 0) rc = cn_pq_reader_open_mem(f->path, s->bytes.data, s->bytes.len, &s->r, err);
    }
    if (rc < 0) return rc;
    const CnSchema *fs = cn_pq_reader_schema(s->r);
    const char **names = cn_arena_calloc(&s->arena, sizeof *names * (s->out_schema->n_fields + 1));
    if (!names) return cn_err_set(err, CN_ENOMEM, "out of memory");
    uint32_t n = 0;
    for (uint32_t i = 0; i < s->out_schema->n_fields; i++) {
        const CnField *want = &s->out_schema->fields[i];
        int hit = -1;
        for (uint32_t k = 0; k < fs->n_fields; k++)
            if (fs->fields[k].field_id >= 0 ? fs->fields[k].field_id == want->field_id
                                            : !strcmp(fs->fields[k].name, want->name))
                hit = (int)k;
        if (hit < 0) {
            s->map[i] = -1;
            continue;
        }
        if (!cn_col_type_equal(fs->fields[hit].type, want->type)) {
            char t1[64], t2[64];
            return cn_err_set(err, CN_ETYPE, "%s: column \"%s\" is %s in the file, the table says %s",
                              f->path, fs->fields[hit].name,
                              cn_col_type_name(fs->fields[hit].type, t1, sizeof t1),
                              cn_col_type_name(want->type, t2, sizeof t2));
        }
        s->map[i] = (int)n;
        names[n++] = fs->fields[hit].name;
    }
    if (n == 0) {
        /* nothing to read but the row count: keep one column so batches carry rows */
        names[n++] = fs->fields[0].name;
        for (uint32_t i = 0; i < s->out_schema->n_fields; i++) s->map[i] = -1;
    }
    rc = cn_pq_reader_project(s->r, names, n, err);
    if (rc == 0) rc = cn_pq_reader_set_cache(s->r, s->rcache, err);
    if (rc == 0 && s->rg_shard_n) { /* this shard's row groups of the file (maybe none) */
        uint32_t n_rg = cn_pq_reader_meta(s->r)->n_row_groups, k = 0;
        uint32_t *idx = cn_arena_alloc(&s->arena, ((size_t)n_rg + 1) * sizeof *idx);
        if (!idx) return cn_err_set(err, CN_ENOMEM, "out of memory");
        for (uint32_t g = s->rg_shard_i; g < n_rg; g += s->rg_shard_n) idx[k++] = g;
        rc = cn_pq_reader_set_row_groups(s->r, idx, k, err);
    }
    if (rc < 0) return rc;
    s->pass = pass_through(s, n);
    return 0;
}

static void close_file(CnIceScan *s) {
    cn_pq_reader_close(s->r);
    s->r = NULL;
    cn_buf_reset(&s->bytes);
}

int cn_ice_scan_next(CnIceScan *s, const CnBatch **out, CnErr *err) {
    *out = NULL;
    int rc = 0;
    for (;;) {
        if (!s->r) {
            if (s->i_file >= s->n_files) return 0;
            if (s->claim && !s->claim(s->claim_ud, cn_ice_scan_batch_file(s), s->files[s->i_file].records)) {
                s->i_file++; /* another scan reads it */
                continue;
            }
            rc = open_file(s, &s->files[s->i_file], err);
            if (rc < 0) return cn_err_ctx(err, rc, "table %s", s->table);
        }
        const CnIceDataFile *f = &s->files[s->i_file];
        const CnBatch *fb = NULL;
        rc = cn_pq_reader_next(s->r, s->batch_rows, &fb, err);
        if (rc < 0) return cn_err_ctx(err, rc, "table %s", s->table);
        if (!fb) {
            close_file(s);
            s->i_file++;
            continue;
        }
        if (fb->n_rows == 0) continue;
        if (s->pass && !fb->sel) {
            /* borrowed from the reader until the next call, as s->out would be */
            *out = fb;
            return 0;
        }
        cn_col_batch_reset(s->out);
        for (uint32_t i = 0; i < s->out_schema->n_fields; i++) {
            CnVec *v = &s->out->cols[i];
            CnVec *src = s->map[i] >= 0 ? &((CnBatch *)fb)->cols[s->map[i]] : NULL;
            if (src && !fb->sel && !src->n_child && !v->n_child && v->n == 0 && src->n == fb->n_rows) {
                /* The reader rebuilds its batch from reset vectors on its next call (as
                 * when the batch is handed out as is): a flat column trades its storage
                 * with s->out's emptied vector instead of being copied, each vector
                 * keeping its own batch's type (a file column is read once: map is
                 * one-to-one). */
                CnVec was = *v;
                const CnType *src_type = src->type;
                *v = *src;
                v->type = was.type;
                *src = was;
                src->type = src_type;
            } else if (src) {
                rc = cn_col_vec_append_range(v, src, 0, fb->n_rows);
            } else if (s->out_schema->fields[i].field_id == s->ds_field_id && !f->ds_null) {
                for (uint32_t r = 0; r < fb->n_rows && rc == 0; r++) rc = cn_col_vec_append_str(v, f->ds, 10);
            } else {
                for (uint32_t r = 0; r < fb->n_rows && rc == 0; r++) rc = cn_col_vec_append_null(v);
            }
            if (rc < 0) return cn_err_set(err, CN_ENOMEM, "out of memory");
        }
        rc = cn_col_batch_sync_rows(s->out, err);
        if (rc < 0) return rc;
        *out = s->out;
        return 0;
    }
}

const char *cn_ice_scan_batch_ds(const CnIceScan *s) {
    if (!s->r || s->i_file >= s->n_files || s->files[s->i_file].ds_null) return NULL;
    return s->files[s->i_file].ds;
}

void cn_ice_scan_close(CnIceScan *s) {
    if (!s) return;
    close_file(s);
    cn_pq_read_cache_free(s->rcache);
    cn_buf_fini(&s->bytes);
    cn_col_batch_free(s->out);
    cn_free(s->map);
    cn_col_schema_free(s->schema);
    cn_col_schema_free(s->out_schema);
    cn_arena_fini(&s->arena);
    cn_free(s);
}

int cn_ice_table_partition_list(CnIceCatalog *c, const CnIceTable *t, int64_t snapshot_id,
                                const char *ds_lo, const char *ds_hi, CnIcePartition **out,
                                uint32_t *n, CnErr *err) {
    *out = NULL;
    *n = 0;
    int64_t snap = snapshot_id ? snapshot_id : cn_ice_table_current_snapshot(t);
    if (snap < 0) return 0;
    CnArena a;
    cn_arena_init(&a, 0);
    CnIceDataFile *fs = NULL;
    uint32_t nf = 0, k = 0;
    CnIcePartition *ps = NULL;
    int rc = cn_ice__snapshot_files(c, &a, t, snap, ds_lo, ds_hi, &fs, &nf, err);
    if (rc < 0) goto done;
    if (nf) {
        ps = cn_calloc(nf, sizeof *ps); /* at most one partition per file */
        if (!ps) {
            rc = cn_err_set(err, CN_ENOMEM, "out of memory");
            goto done;
        }
    }
    /* files come sorted by ds: one run per partition; a null ds is no partition a
     * sensor could name */
    for (uint32_t i = 0; i < nf;) {
        uint32_t j = i;
        CnIcePartition p = {.files = 0};
        while (j < nf && fs[j].ds_null == fs[i].ds_null && !strcmp(fs[j].ds, fs[i].ds)) {
            p.records += fs[j].records;
            p.bytes += fs[j].size;
            p.files++;
            j++;
        }
        if (!fs[i].ds_null) {
            memcpy(p.ds, fs[i].ds, sizeof p.ds);
            ps[k++] = p;
        }
        i = j;
    }
done:
    cn_arena_fini(&a);
    if (rc < 0 || k == 0) {
        cn_free(ps);
        return rc < 0 ? rc : 0;
    }
    *out = ps;
    *n = k;
    return 0;
}

int cn_ice_table_partitions(CnIceCatalog *c, const CnIceTable *t, int64_t snapshot_id,
                            CnIcePartFn fn, void *ud, CnErr *err) {
    CnIcePartition *ps = NULL;
    uint32_t n = 0;
    int rc = cn_ice_table_partition_list(c, t, snapshot_id, NULL, NULL, &ps, &n, err);
    for (uint32_t i = 0; rc == 0 && i < n; i++) rc = fn(ud, &ps[i]);
    cn_free(ps);
    return rc;
}

const char *cn_ice_scan_file_ds(const CnIceScan *s, uint32_t i, int64_t *records) {
    if (i >= s->n_files) {
        *records = 0;
        return NULL;
    }
    *records = s->files[i].records;
    return s->files[i].ds_null ? NULL : s->files[i].ds;
}

uint32_t cn_ice_scan_batch_file(const CnIceScan *s) {
    return s->file_ord && s->i_file < s->n_files ? s->file_ord[s->i_file] : s->i_file;
}

uint32_t cn_ice_scan_batch_row_group(const CnIceScan *s) {
    int64_t g = s->r ? cn_pq_reader_batch_row_group(s->r) : -1;
    return g > 0 ? (uint32_t)g : 0;
}
