/* write.c: appends and dynamic partition overwrites.
 * Rows are split by ds into one Parquet file per partition (unique UUIDv7 names under
 * data/ds=.../), written straight to the warehouse (local) or to a temporary file that
 * is uploaded when finished (S3). A writer that produces partitions one after another
 * seals each when it is done (cn_ice_write_seal_partition): its file is finished there
 * and its buffers are released, so memory is bounded by the open partitions, not the
 * write; sealed files stay invisible until the commit and are removed without one. The commit then writes the manifests and manifest
 * list for a new snapshot and goes through cn_ice__commit's compare-and-swap; each
 * retry re-reads the winner's snapshot, checks for conflicts and rebuilds the manifests
 * (the data files are reused as they are).
 * When the table declares a sort order the writer can check (ascending identity fields,
 * nulls first, on integer, date, timestamp or string columns), each file follows its rows
 * through it and records the order's id (manifest data_file field 140, sort_order_id)
 * only when they all came in that order; other files record none (unsorted). */
#include "base/compat.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/date.h"
#include "base/fs.h"
#include "base/log.h"
#include "base/pool.h"
#include "io/parquet/pq.h"
#include "table/ice_int.h"

#define SORT_MAX 16 /* fields of a sort order the writer checks */

typedef struct Part {
    char ds[11];
    CnPqWriter *pw;
    char *key;                /* arena: key of the data file in the warehouse */
    char *tmp_path;           /* arena: the local file the writer produces */
    char *made_dir;           /* arena: the partition folder (and its data/ folder when
                               * made_data) this write created; removed again, when
                               * empty, if the write does not commit */
    bool made_data;
    int64_t rows;
    uint32_t *idx;            /* OWNED: rows of the current batch in this partition */
    uint32_t n_idx, cap_idx;
    bool finished;            /* pw finished (its file complete), not yet described */
    bool sealed;              /* pw finished and freed; file describes it */
    bool unsorted;            /* a row came before the one ahead of it in the sort order */
    CnBatch *last;            /* OWNED: the file's last row so far (sort order check) */
    bool file_moved;          /* file (and its statistics) now belongs to w->files */
    CnIceDataFile file;       /* when sealed; statistics buffers OWNED until moved */
} Part;

struct CnIceWrite {
    CnIceCatalog *c;
    char ns[129], name[129];
    CnIceWriteMode mode;
    CnIceTable *base;         /* OWNED: the version the write started on */
    int64_t start_snap;
    int ds_col;
    CnArena arena;
    Part *parts;              /* OWNED */
    uint32_t n_parts, cap_parts, last_part;
    int32_t slot[256];        /* hash of a ds string -> partition index + 1 (0: none) */
    char (*touched)[11];      /* OWNED: partitions an overwrite replaces */
    uint32_t n_touched, cap_touched;
    json_t *props;            /* OWNED */
    char *schema_json;        /* OWNED (jansson): iceberg.schema for the Parquet footer */
    CnIceDataFile *files;     /* arena */
    uint32_t n_files;
    uint32_t n_files_adopted; /* files[0..n) came from cn_ice_write_add_files */
    CnIceDataFile *adopted;   /* OWNED array (strings in arena): cn_ice_write_add_files */
    uint32_t n_adopted, cap_adopted;
    char *tmpdir;             /* arena: S3 staging directory, or NULL */
    CnBuf attempt_keys;       /* manifests of the last commit attempt, "key\n" each */
    int64_t new_snap;
    bool finished, committed;
    CnPqEncCache *enc;        /* OWNED: encoding buffers every data file reuses in turn */
    CnPqEncCache **encs;      /* OWNED: more, one per thread of cn_ice_write_batches_sealed */
    uint32_t n_encs;
    int32_t sort_id;          /* the table's sort order when checkable, else 0 */
    uint32_t n_sort;
    int sort_col[SORT_MAX];   /* its columns, most significant first */
};

/* Removes the folders part p's open made (see Part.made_dir), if still empty. */
static void unmake_dirs(Part *p) {
    if (p->made_dir && rmdir(p->made_dir) == 0 && p->made_data) {
        *strrchr(p->made_dir, '/') = 0;
        rmdir(p->made_dir);
    }
    p->made_dir = NULL;
}

static int oom(CnErr *err) { return cn_err_set(err, CN_ENOMEM, "out of memory"); }

/* Sets w->sort_id and its columns when the table's default sort order is one the rows
 * can be checked against (see the top of the file); leaves 0 otherwise. */
static void sort_plan(CnIceWrite *w) {
    json_t *meta = w->base->meta, *orders = json_object_get(meta, "sort-orders"), *fields = NULL;
    json_int_t id = json_integer_value(json_object_get(meta, "default-sort-order-id"));
    for (size_t i = 0; id > 0 && id <= INT32_MAX && i < json_array_size(orders); i++)
        if (json_integer_value(json_object_get(json_array_get(orders, i), "order-id")) == id)
            fields = json_object_get(json_array_get(orders, i), "fields");
    uint32_t n = (uint32_t)json_array_size(fields);
    if (!n || n > SORT_MAX) return;
    const CnSchema *s = w->base->schema;
    for (uint32_t i = 0; i < n; i++) {
        json_t *f = json_array_get(fields, i);
        const char *tr = json_string_value(json_object_get(f, "transform"));
        const char *dir = json_string_value(json_object_get(f, "direction"));
        const char *nulls = json_string_value(json_object_get(f, "null-order"));
        json_int_t src = json_integer_value(json_object_get(f, "source-id"));
        if (!tr || strcmp(tr, "identity") || !dir || strcmp(dir, "asc") || !nulls || strcmp(nulls, "nulls-first"))
            return;
        uint32_t k = 0;
        while (k < s->n_fields && s->fields[k].field_id != src) k++;
        if (k == s->n_fields) return;
        CnTypeId t = s->fields[k].type->id;
        if (t != CN_COL_INT32 && t != CN_COL_DATE && t != CN_COL_INT64 && t != CN_COL_TIMESTAMP && t != CN_COL_STRING)
            return;
        w->sort_col[i] = (int)k;
    }
    w->n_sort = n;
    w->sort_id = (int32_t)id;
}

static int sort_row_cmp(const CnIceWrite *w, const CnBatch *a, uint32_t i, const CnBatch *b, uint32_t j) {
    for (uint32_t k = 0; k < w->n_sort; k++) {
        int c = cn_col_vec_cmp_asc(&a->cols[w->sort_col[k]], i, &b->cols[w->sort_col[k]], j);
        if (c) return c;
    }
    return 0;
}

/* Follows the rows of b going to p's file (rows idx[0..n), or 0..n-1 when idx is NULL)
 * through the sort check, and keeps a copy of the last for the next batch. */
static int sort_track(CnIceWrite *w, Part *p, const CnBatch *b, const uint32_t *idx, uint32_t n, CnErr *err) {
    if (!w->sort_id || p->unsorted || !n) return 0;
    uint32_t prev = idx ? idx[0] : 0;
    if (p->last && p->last->n_rows && sort_row_cmp(w, p->last, 0, b, prev) > 0) p->unsorted = true;
    for (uint32_t k = 1; k < n && !p->unsorted; k++) {
        uint32_t r = idx ? idx[k] : k;
        if (sort_row_cmp(w, b, prev, b, r) > 0) p->unsorted = true;
        prev = r;
    }
    if (p->unsorted) { /* the file records no order: the copy is not needed any more */
        cn_col_batch_free(p->last);
        p->last = NULL;
        return 0;
    }
    if (!p->last) {
        int rc = cn_col_batch_new(w->base->schema, &p->last, err);
        if (rc < 0) return rc;
    }
    cn_col_batch_reset(p->last);
    return cn_col_batch_append_rows(p->last, b, &prev, 1, err);
}

int cn_ice_write_begin(CnIceCatalog *c, const char *ns, const char *name, CnIceWriteMode mode,
                       CnIceWrite **out, CnErr *err) {
    *out = NULL;
    CnIceWrite *w = cn_calloc(1, sizeof *w);
    if (!w) return oom(err);
    cn_arena_init(&w->arena, 0);
    w->c = c;
    w->mode = mode;
    snprintf(w->ns, sizeof w->ns, "%s", ns);
    snprintf(w->name, sizeof w->name, "%s", name);
    int rc = cn_ice_table_load(c, ns, name, &w->base, err);
    if (rc < 0) goto done;
    w->start_snap = cn_ice_table_current_snapshot(w->base);
    sort_plan(w);
    w->ds_col = cn_col_schema_find(w->base->schema, CN_ICE_DS);
    if (w->ds_col < 0 || w->base->ds_field_id < 0) {
        rc = cn_err_set(err, CN_EUNSUPPORTED,
                        "table %s is not partitioned by identity(ds); chronon writes only such tables",
                        w->base->full_name);
        goto done;
    }
    w->props = json_object();
    json_t *sj = cn_ice__meta_schema(w->base->meta,
                                     json_integer_value(json_object_get(w->base->meta, "current-schema-id")));
    w->schema_json = json_dumps(sj, JSON_COMPACT);
    if (!w->props || !w->schema_json) {
        rc = oom(err);
        goto done;
    }
    if (!cn_ice__local_path(c->warehouse)) {
        const char *tmp = getenv("TMPDIR");
        char *tpl = cn_arena_printf(&w->arena, "%s/chronon-write-XXXXXX", tmp && *tmp ? tmp : "/tmp");
        if (!tpl || !mkdtemp(tpl)) {
            rc = cn_err_set(err, CN_EIO, "cannot create a staging directory under %s", tmp ? tmp : "/tmp");
            goto done;
        }
        w->tmpdir = tpl;
    }
done:
    if (rc < 0) {
        cn_ice_write_free(w);
        return rc;
    }
    *out = w;
    return 0;
}

const CnSchema *cn_ice_write_schema(const CnIceWrite *w) { return w->base->schema; }

static int touch(CnIceWrite *w, const char *ds) {
    for (uint32_t i = 0; i < w->n_touched; i++)
        if (!strcmp(w->touched[i], ds)) return 0;
    if (w->n_touched == w->cap_touched) {
        uint32_t cap = w->cap_touched ? w->cap_touched * 2 : 16;
        void *p = cn_realloc(w->touched, sizeof *w->touched * cap);
        if (!p) return CN_ENOMEM;
        w->touched = p;
        w->cap_touched = cap;
    }
    memcpy(w->touched[w->n_touched++], ds, 11);
    return 0;
}

int cn_ice_write_touch_partition(CnIceWrite *w, const char *ds, CnErr *err) {
    int64_t d;
    if (cn_ds_parse(ds, &d) < 0)
        return cn_err_set(err, CN_EINVAL, "table %s: partition \"%s\" is not a YYYY-MM-DD date",
                          w->base->full_name, ds);
    if (w->mode != CN_ICE_OVERWRITE)
        return cn_err_set(err, CN_EINVAL, "table %s: touching a partition needs overwrite mode",
                          w->base->full_name);
    return touch(w, ds) < 0 ? oom(err) : 0;
}

int cn_ice_write_set_property(CnIceWrite *w, const char *key, const char *value, CnErr *err) {
    if (json_object_set_new(w->props, key, json_string(value)) < 0) return oom(err);
    return 0;
}

/* Opens a data file of partition ds (or finds the one open), encoded with the write's
 * buffers (w->enc) when cache is NULL, else with cache on `threads` threads (0: as the
 * writer sees fit). */
static int open_part_with(CnIceWrite *w, const char *ds, CnPqEncCache *cache, uint32_t threads, Part **out,
                          CnErr *err) {
    for (uint32_t i = 0; i < w->n_parts; i++) {
        uint32_t k = (w->last_part + i) % w->n_parts;
        if (!w->parts[k].sealed && !memcmp(w->parts[k].ds, ds, 11)) {
            w->last_part = k;
            *out = &w->parts[k];
            return 0;
        }
    }
    if (w->n_parts == w->cap_parts) {
        uint32_t cap = w->cap_parts ? w->cap_parts * 2 : 8;
        Part *p = cn_realloc(w->parts, sizeof *p * cap);
        if (!p) return oom(err);
        memset(p + w->cap_parts, 0, sizeof *p * (cap - w->cap_parts));
        w->parts = p;
        w->cap_parts = cap;
    }
    Part *p = &w->parts[w->n_parts];
    memcpy(p->ds, ds, 11);
    p->made_dir = NULL;
    p->made_data = false;
    char uuid[37];
    cn_ice__uuid7(uuid);
    p->key = cn_arena_printf(&w->arena, "%s.db/%s/data/ds=%s/%s.parquet", w->ns, w->name, ds, uuid);
    const char *local = cn_ice__local_path(w->c->warehouse);
    p->tmp_path = local ? cn_arena_printf(&w->arena, "%s/%s", local, p->key)
                        : cn_arena_printf(&w->arena, "%s/%s.parquet", w->tmpdir, uuid);
    if (!p->key || !p->tmp_path) return oom(err);
    if (local) {
        char *dir = cn_arena_strdup(&w->arena, p->tmp_path);
        if (!dir) return oom(err);
        *strrchr(dir, '/') = 0;
        if (access(dir, F_OK) != 0) {
            p->made_dir = dir;
            char *up = strrchr(dir, '/');
            *up = 0;
            p->made_data = access(dir, F_OK) != 0;
            *up = '/';
        }
        int rc = cn_fs_mkdirs(dir, err);
        if (rc < 0) return rc;
    }
    CnPqWriteOpts o;
    cn_pq_write_opts_init(&o);
    o.timestamp_micros = true; /* Iceberg's timestamp is microseconds */
    o.row_group_rows = 262144; /* bounds memory when many partitions are open at once */
    /* v2 data pages keep levels out of the compressed part and may store values that do
     * not compress as they are; integers that miss the dictionary are delta-encoded
     * (bit-packed: smaller than plain and zstd, and decoded without decompressing), as
     * parquet-mr's v2 writer does. The table property write.parquet.page-version (as
     * iceberg-go names it, values "1"/"2"; "v1"/"v2" as parquet-mr spells the versions)
     * set to 1 asks for v1 pages and plain integers instead (readers without
     * DELTA_BINARY_PACKED, such as Iceberg's vectorized Spark reader before 1.10) */
    const char *pv = cn_ice_table_property(w->base, "write.parquet.page-version");
    bool v1 = pv && (!strcmp(pv, "1") || !strcmp(pv, "v1"));
    if (pv && !v1 && strcmp(pv, "2") && strcmp(pv, "v2"))
        return unmake_dirs(p), cn_err_set(err, CN_EINVAL, "table %s: property write.parquet.page-version is \"%s\" (expected 1 or 2)",
                          w->base->full_name, pv);
    o.page_version = v1 ? 1 : 2;
    o.int_encoding = v1 ? CN_PQ_ENC_PLAIN : CN_PQ_ENC_DELTA_BINARY_PACKED;
    /* Iceberg's table property for the data files' codec (ours: zstd when unset) */
    const char *codec = cn_ice_table_property(w->base, "write.parquet.compression-codec");
    if (codec && cn_pq_codec_parse(codec, &o.codec, err) < 0)
        return unmake_dirs(p), cn_err_ctx(err, CN_EINVAL, "table %s: property write.parquet.compression-codec", w->base->full_name);
    /* one owner thread encodes every file of the write, one row group at a time: they
     * can share the buffers (allocated once, not per file) */
    int rc = cache || w->enc ? 0 : cn_pq_enc_cache_new(&w->enc, err);
    o.cache = cache ? cache : w->enc;
    o.threads = threads;
    o.defer_sync = true; /* finish_files syncs every file at once, before the commit */
    if (rc == 0) rc = cn_pq_writer_open(p->tmp_path, w->base->schema, &o, &p->pw, err);
    if (rc == 0) rc = cn_pq_writer_set_kv(p->pw, "iceberg.schema", w->schema_json, err);
    if (rc < 0) {
        cn_pq_writer_free(p->pw);
        p->pw = NULL;
        unmake_dirs(p);
        return cn_err_ctx(err, rc, "table %s: data file for ds=%s", w->base->full_name, ds);
    }
    w->last_part = w->n_parts++;
    *out = p;
    return touch(w, ds) < 0 ? oom(err) : 0;
}

static int open_part(CnIceWrite *w, const char *ds, Part **out, CnErr *err) {
    return open_part_with(w, ds, NULL, 0, out, err);
}

int cn_ice_write_batch(CnIceWrite *w, const CnBatch *b, CnErr *err) {
    if (w->finished)
        return cn_err_set(err, CN_EINVAL, "table %s: write already committed", w->base->full_name);
    const CnSchema *s = w->base->schema;
    if (b->n_cols != s->n_fields)
        return cn_err_set(err, CN_ETYPE, "table %s: batch has %u columns, the table has %u",
                          w->base->full_name, b->n_cols, s->n_fields);
    for (uint32_t i = 0; i < s->n_fields; i++) {
        if (!cn_col_type_equal(b->cols[i].type, s->fields[i].type) ||
            strcmp(b->schema->fields[i].name, s->fields[i].name)) {
            char t1[64], t2[64];
            return cn_err_set(err, CN_ETYPE,
                              "table %s: batch column %u is \"%s\" %s, the table has \"%s\" %s",
                              w->base->full_name, i, b->schema->fields[i].name,
                              cn_col_type_name(b->cols[i].type, t1, sizeof t1), s->fields[i].name,
                              cn_col_type_name(s->fields[i].type, t2, sizeof t2));
        }
    }
    const CnVec *dv = &b->cols[w->ds_col];
    uint32_t n = b->sel ? b->n_sel : b->n_rows;
    for (uint32_t i = 0; i < w->n_parts; i++) w->parts[i].n_idx = 0;
    for (uint32_t k = 0; k < n; k++) {
        uint32_t row = b->sel ? b->sel[k] : k;
        uint32_t len = 0;
        const char *v = cn_col_vec_is_valid(dv, row) ? cn_col_vec_str(dv, row, &len) : NULL;
        if (!v)
            return cn_err_set(err, CN_EINVAL, "table %s: row %u has a null ds (the partition column)",
                              w->base->full_name, row);
        /* a ds seen before maps straight to its partition (no parse, no search) */
        Part *p = NULL;
        uint32_t h = 0;
        if (len == 10) {
            for (int i = 0; i < 10; i++) h = h * 31 + (uint8_t)v[i];
            h &= CN_ARRAY_LEN(w->slot) - 1;
            int32_t pi = w->slot[h] - 1;
            if (pi >= 0 && !w->parts[pi].sealed && !memcmp(w->parts[pi].ds, v, 10)) p = &w->parts[pi];
        }
        if (!p) {
            char ds[11];
            int64_t day;
            if (cn_ds_parse_n(v, len, ds, &day) < 0)
                return cn_err_set(err, CN_EINVAL,
                                  "table %s: row %u: ds \"%.*s\" is not a YYYY-MM-DD date",
                                  w->base->full_name, row, (int)CN_MIN(len, 40), v);
            int rc = open_part(w, ds, &p, err);
            if (rc < 0) return rc;
            w->slot[h] = (int32_t)(p - w->parts) + 1;
        }
        if (p->n_idx == p->cap_idx) {
            uint32_t cap = p->cap_idx ? p->cap_idx * 2 : 1024;
            uint32_t *q = cn_realloc(p->idx, sizeof *q * cap);
            if (!q) return oom(err);
            p->idx = q;
            p->cap_idx = cap;
        }
        p->idx[p->n_idx++] = row;
    }
    for (uint32_t i = 0; i < w->n_parts; i++) {
        Part *p = &w->parts[i];
        if (!p->n_idx) continue;
        CnBatch view = *b; /* shallow: only the selection differs */
        view.sel = p->idx;
        view.n_sel = p->n_idx;
        int rc = sort_track(w, p, b, p->idx, p->n_idx, err);
        if (rc == 0) rc = cn_pq_writer_write(p->pw, &view, err);
        if (rc < 0) return cn_err_ctx(err, rc, "table %s: ds=%s", w->base->full_name, p->ds);
        p->rows += p->n_idx;
    }
    return 0;
}

/* ---------------------------------------------------------------- statistics */

static int cmp_raw(CnTypeId t, const uint8_t *a, uint32_t al, const uint8_t *b, uint32_t bl) {
    switch (t) {
    case CN_COL_BOOL: return (a[0] > b[0]) - (a[0] < b[0]);
    case CN_COL_INT32:
    case CN_COL_DATE: {
        int32_t x, y;
        memcpy(&x, a, 4);
        memcpy(&y, b, 4);
        return (x > y) - (x < y);
    }
    case CN_COL_INT64:
    case CN_COL_TIMESTAMP: {
        int64_t x, y;
        memcpy(&x, a, 8);
        memcpy(&y, b, 8);
        return (x > y) - (x < y);
    }
    case CN_COL_FLOAT32: {
        float x, y;
        memcpy(&x, a, 4);
        memcpy(&y, b, 4);
        return (x > y) - (x < y);
    }
    case CN_COL_FLOAT64: {
        double x, y;
        memcpy(&x, a, 8);
        memcpy(&y, b, 8);
        return (x > y) - (x < y);
    }
    default: return cn_bytes_cmp(a, al, b, bl);
    }
}

static int file_stats(CnIceWrite *w, const CnPqMeta *m, CnIceDataFile *f) {
    f->stats = cn_arena_calloc(&w->arena, sizeof *f->stats * (m->n_leaves + 1));
    if (!f->stats) return CN_ENOMEM;
    for (uint32_t l = 0; l < m->n_leaves; l++) {
        const CnPqLeaf *leaf = &m->leaves[l];
        if (strchr(leaf->path, '.') || leaf->field_id < 0) continue; /* top-level only */
        CnIceColStat *s = &f->stats[f->n_stats++];
        s->field_id = leaf->field_id;
        bool bounds = true;
        for (uint32_t g = 0; g < m->n_row_groups; g++) {
            const CnPqChunk *ch = &m->row_groups[g].chunks[l];
            s->size += ch->compressed_len;
            s->values += ch->n_values;
            s->nulls += ch->stats.null_count;
            const CnPqStats *st = &ch->stats;
            if (!st->has_min_max) {
                if (m->row_groups[g].n_rows > st->null_count) bounds = false;
                continue;
            }
            if (!s->has_bounds || cmp_raw(leaf->type->id, st->min, st->min_len,
                                          (const uint8_t *)s->lo.data, (uint32_t)s->lo.len) < 0) {
                cn_buf_reset(&s->lo);
                cn_buf_append(&s->lo, st->min, st->min_len);
            }
            if (!s->has_bounds || cmp_raw(leaf->type->id, st->max, st->max_len,
                                          (const uint8_t *)s->hi.data, (uint32_t)s->hi.len) > 0) {
                cn_buf_reset(&s->hi);
                cn_buf_append(&s->hi, st->max, st->max_len);
            }
            s->has_bounds = true;
        }
        /* long strings would bloat manifests; Iceberg bounds are optional */
        if (!bounds || s->lo.len > 256 || s->hi.len > 256 || s->lo.oom || s->hi.oom) s->has_bounds = false;
    }
    return 0;
}

/* Finishes p's data file (uploading it for S3) and describes it in p->file; frees the
 * Parquet writer, whose buffers are the bulk of an open partition's memory. */
static int seal(CnIceWrite *w, Part *p, CnErr *err) {
    if (p->sealed) return 0;
    int rc = p->finished ? 0 : cn_pq_writer_finish(p->pw, err);
    if (rc < 0) return cn_err_ctx(err, rc, "table %s: ds=%s", w->base->full_name, p->ds);
    p->finished = true;
    const CnPqMeta *m = cn_pq_writer_meta(p->pw);
    CnIceDataFile *f = &p->file;
    CnBuf uri = CN_BUF_INIT;
    rc = cn_obj_uri(w->c->store, p->key, &uri);
    f->path = rc == 0 ? cn_arena_strdup(&w->arena, uri.data) : NULL;
    cn_buf_fini(&uri);
    if (!f->path) return oom(err);
    memcpy(f->ds, p->ds, 11);
    f->records = p->rows;
    f->size = (int64_t)m->file_len;
    f->status = 1;
    f->sort_order_id = w->sort_id && !p->unsorted ? w->sort_id : 0;
    cn_col_batch_free(p->last);
    p->last = NULL;
    p->sealed = true; /* from here write_free releases the statistics */
    if (file_stats(w, m, f) < 0) return oom(err);
    cn_pq_writer_free(p->pw); /* finished: the file stays */
    p->pw = NULL;
    cn_free(p->idx);
    p->idx = NULL;
    p->n_idx = p->cap_idx = 0;
    if (w->tmpdir) {
        char *data = NULL;
        size_t len = 0;
        rc = cn_fs_read_all(p->tmp_path, &data, &len, err);
        if (rc == 0) rc = cn_obj_put(w->c->store, p->key, data, len, err);
        cn_free(data);
        unlink(p->tmp_path);
        if (rc < 0) return cn_err_ctx(err, rc, "table %s: uploading ds=%s", w->base->full_name, p->ds);
    }
    return 0;
}

/* Whether b (every row in partition ds, the table's columns) can be encoded straight
 * into a new file of ds: no file of ds is open, no selection. */
static bool direct_ok(const CnIceWrite *w, const CnBatch *b, const char *ds) {
    const CnVec *dv = &b->cols[w->ds_col];
    bool fast = !w->finished && !b->sel && b->n_rows && b->n_cols == w->base->schema->n_fields && strlen(ds) == 10 &&
                dv->type->id == CN_COL_STRING;
    for (uint32_t r = 0; fast && r < b->n_rows; r++) { /* every row in partition ds */
        uint32_t len = 0;
        const char *v = cn_col_vec_is_valid(dv, r) ? cn_col_vec_str(dv, r, &len) : NULL;
        fast = v && len == 10 && !memcmp(v, ds, 10);
    }
    for (uint32_t i = 0; i < w->n_parts && fast; i++) /* an open file of ds takes the general path */
        if (!w->parts[i].sealed && !memcmp(w->parts[i].ds, ds, 11)) fast = false;
    const CnSchema *s = w->base->schema;
    for (uint32_t i = 0; i < s->n_fields && fast; i++)
        fast = cn_col_type_equal(b->cols[i].type, s->fields[i].type) && !strcmp(b->schema->fields[i].name, s->fields[i].name);
    return fast;
}

int cn_ice_write_batch_sealed(CnIceWrite *w, const CnBatch *b, const char *ds, CnErr *err) {
    if (!direct_ok(w, b, ds)) { /* cn_ice_write_batch names a mismatch */
        int rc = cn_ice_write_batch(w, b, err);
        return rc ? rc : cn_ice_write_seal_partition(w, ds, err);
    }
    Part *p = NULL;
    int rc = open_part(w, ds, &p, err);
    if (rc == 0) rc = sort_track(w, p, b, NULL, b->n_rows, err);
    if (rc < 0) return rc;
    rc = cn_pq_writer_write_whole(p->pw, b, err);
    if (rc < 0) return cn_err_ctx(err, rc, "table %s: ds=%s", w->base->full_name, p->ds);
    p->rows += b->n_rows;
    return seal(w, p, err);
}

/* Values (rows x columns) below which cn_ice_write_batches_sealed writes one file after
 * another (each file's columns still encoded on several threads when it pays). */
#define SEAL_PAR_MIN 65536u

/* Files of one cn_ice_write_batches_sealed, taken largest first by threads as they come
 * free: each file encoded, written and finished on the thread that takes it, with that
 * thread's buffers (thread t, w->encs[t]). */
typedef struct SealJob {
    CnIceWrite *w;
    const CnBatch *const *b;
    const uint32_t *part;     /* batch i's file: w->parts[part[i]] */
    const uint32_t *order;    /* batches, largest first */
    uint32_t n;
    atomic_uint next;         /* the next of order to take */
    int *rc;
    CnErr *err;
} SealJob;

static void seal_step(void *ud, uint32_t t) {
    SealJob *j = ud;
    for (uint32_t k; (k = atomic_fetch_add(&j->next, 1)) < j->n;) {
        uint32_t i = j->order[k];
        Part *p = &j->w->parts[j->part[i]];
        CnErr *err = &j->err[i];
        cn_pq_writer_set_cache(p->pw, j->w->encs[t]); /* this thread's buffers */
        int rc = sort_track(j->w, p, j->b[i], NULL, j->b[i]->n_rows, err);
        if (rc == 0) rc = cn_pq_writer_write_whole(p->pw, j->b[i], err);
        if (rc == 0) rc = cn_pq_writer_finish(p->pw, err);
        if (rc < 0) {
            j->rc[i] = cn_err_ctx(err, rc, "table %s: ds=%s", j->w->base->full_name, p->ds);
            return;
        }
        p->finished = true;
    }
}

int cn_ice_write_batches_sealed(CnIceWrite *w, const CnBatch *const *b, const char *const *ds, uint32_t n,
                                CnErr *err) {
    uint32_t nt = cn_pool_threads();
    uint64_t vals = 0;
    bool par = nt > 1 && n > 1;
    for (uint32_t i = 0; i < n && par; i++) {
        par = direct_ok(w, b[i], ds[i]);
        for (uint32_t k = 0; k < i && par; k++) par = strcmp(ds[i], ds[k]) != 0;
        vals += (uint64_t)b[i]->n_rows * b[i]->n_cols;
    }
    if (!par || vals < SEAL_PAR_MIN) {
        for (uint32_t i = 0; i < n; i++) {
            int rc = cn_ice_write_batch_sealed(w, b[i], ds[i], err);
            if (rc) return rc;
        }
        return 0;
    }
    if (nt > n) nt = n;
    if (w->n_encs < nt) {
        CnPqEncCache **e = cn_realloc(w->encs, nt * sizeof *e);
        if (!e) return oom(err);
        w->encs = e;
        for (; w->n_encs < nt; w->n_encs++) {
            int rc = cn_pq_enc_cache_new(&w->encs[w->n_encs], err);
            if (rc < 0) return rc;
        }
    }
    uint32_t *part = cn_malloc(((size_t)n + 1) * sizeof *part), *order = cn_malloc(((size_t)n + 1) * sizeof *order);
    int *rcs = cn_calloc((size_t)n + 1, sizeof *rcs);
    CnErr *errs = cn_calloc((size_t)n + 1, sizeof *errs);
    int rc = part && order && rcs && errs ? 0 : oom(err);
    /* largest first, taken as threads come free: no big file left for one thread at the
     * end (insertion: a write has a file per partition, a few hundred at most) */
    for (uint32_t i = 0; i < n && rc == 0; i++) {
        uint32_t k = i;
        for (; k > 0 && b[order[k - 1]]->n_rows < b[i]->n_rows; k--) order[k] = order[k - 1];
        order[k] = i;
    }
    for (uint32_t i = 0; i < n && rc == 0; i++) { /* every file opened first: w->parts may move */
        Part *p = NULL;
        rc = open_part_with(w, ds[i], w->encs[i % nt], 1, &p, err);
        if (rc == 0) part[i] = (uint32_t)(p - w->parts);
    }
    if (rc == 0) {
        SealJob j = {.w = w, .b = b, .part = part, .order = order, .n = n, .rc = rcs, .err = errs};
        atomic_init(&j.next, 0);
        cn_log(CN_LOG_DEBUG, "table %s: %u files written on %u threads", w->base->full_name, n, nt);
        cn_pool_run(nt, seal_step, &j);
        for (uint32_t i = 0; i < n && rc == 0; i++)
            if (rcs[i]) *err = errs[i], rc = rcs[i];
    }
    for (uint32_t i = 0; i < n && rc == 0; i++) { /* described in batch order */
        Part *p = &w->parts[part[i]];
        p->rows += b[i]->n_rows;
        rc = seal(w, p, err);
    }
    cn_free(part);
    cn_free(order);
    cn_free(rcs);
    cn_free(errs);
    return rc;
}

int cn_ice_write_seal_partition(CnIceWrite *w, const char *ds, CnErr *err) {
    if (w->finished)
        return cn_err_set(err, CN_EINVAL, "table %s: write already committed", w->base->full_name);
    for (uint32_t i = 0; i < w->n_parts; i++) {
        Part *p = &w->parts[i];
        if (p->sealed || strcmp(p->ds, ds)) continue;
        int rc = seal(w, p, err);
        if (rc < 0) return rc;
    }
    return 0;
}

/* The local data files and their folders onto the device before anything names them:
 * their writers started each file's writeback and left the fsync to here (defer_sync),
 * so a write of many files waits once for what is still unwritten instead of once per
 * file. S3 files were uploaded whole by seal. */
static int sync_files(CnIceWrite *w, CnErr *err) {
    int rc = 0;
    for (uint32_t i = 0; rc == 0 && !w->tmpdir && i < w->n_parts; i++) {
        rc = cn_fs_sync_path(w->parts[i].tmp_path, err);
        uint32_t k = 0; /* a partition's files share its folder (data/ds=<ds>): synced once */
        while (k < i && strcmp(w->parts[k].ds, w->parts[i].ds)) k++;
        if (rc == 0 && k == i) rc = cn_fs_sync_dir_of(w->parts[i].tmp_path, err);
    }
    return rc < 0 ? cn_err_ctx(err, rc, "table %s: data files", w->base->full_name) : rc;
}

static int finish_files(CnIceWrite *w, CnErr *err) {
    w->files = cn_arena_calloc(&w->arena, sizeof *w->files * (w->n_parts + w->n_adopted + 1));
    if (!w->files) return oom(err);
    /* other processes' files first: from here on w->files owns their statistics */
    for (uint32_t i = 0; i < w->n_adopted; i++) w->files[w->n_files++] = w->adopted[i];
    w->n_files_adopted = w->n_adopted;
    w->n_adopted = 0;
    for (uint32_t i = 0; i < w->n_parts; i++) {
        Part *p = &w->parts[i];
        int rc = seal(w, p, err);
        if (rc < 0) return rc;
        w->files[w->n_files++] = p->file;
        p->file_moved = true;
    }
    return sync_files(w, err);
}

/* ------------------------------------------------------------------ commit */

static bool is_touched(const CnIceWrite *w, const char *ds) {
    for (uint32_t i = 0; i < w->n_touched; i++)
        if (!strcmp(w->touched[i], ds)) return true;
    return false;
}

static bool manifest_may_touch(const CnIceWrite *w, const CnIceManifest *m) {
    if (!m->has_bounds || m->contains_null) return true;
    for (uint32_t i = 0; i < w->n_touched; i++)
        if (strcmp(w->touched[i], m->lo) >= 0 && strcmp(w->touched[i], m->hi) <= 0) return true;
    return false;
}

/* CN_ECONFLICT when a snapshot committed after the write started changed one of the
 * partitions this overwrite replaces. */
static int check_conflicts(CnIceWrite *w, CnIceCatalog *c, CnIceTable *base, CnArena *a, CnErr *err) {
    int64_t id = cn_ice_table_current_snapshot(base);
    CnBuf hit = CN_BUF_INIT;
    int rc = 0;
    int64_t culprit = -1;
    while (rc == 0 && id >= 0 && id != w->start_snap) {
        json_t *sn = cn_ice__meta_snapshot(base->meta, id);
        if (!sn) break;
        const char *ml = json_string_value(json_object_get(sn, "manifest-list"));
        CnIceManifest *ms = NULL;
        uint32_t n_ms = 0;
        rc = ml ? cn_ice__read_manifest_list(c, a, ml, &ms, &n_ms, err) : 0;
        for (uint32_t i = 0; rc == 0 && i < n_ms; i++) {
            if (ms[i].added_snapshot_id != id || !manifest_may_touch(w, &ms[i])) continue;
            CnIceDataFile *fs = NULL;
            uint32_t nf = 0;
            rc = cn_ice__read_manifest(c, a, &ms[i], false, &fs, &nf, err);
            for (uint32_t k = 0; rc == 0 && k < nf; k++) {
                if (fs[k].status == 0 || fs[k].snapshot_id != id || fs[k].ds_null) continue;
                if (is_touched(w, fs[k].ds) && (!hit.data || !strstr(hit.data, fs[k].ds))) {
                    cn_buf_printf(&hit, "%sds=%s", hit.len ? ", " : "", fs[k].ds);
                    culprit = id;
                }
            }
        }
        json_t *p = json_object_get(sn, "parent-snapshot-id");
        id = json_is_integer(p) ? json_integer_value(p) : -1;
    }
    if (rc == 0 && hit.len)
        rc = cn_err_set(err, CN_ECONFLICT,
                        "table %s: overwrite of partitions %s conflicts with snapshot %lld, "
                        "committed by another writer after this write started from snapshot %lld; "
                        "nothing was committed, run it again",
                        w->base->full_name, hit.data, (long long)culprit, (long long)w->start_snap);
    cn_buf_fini(&hit);
    return rc;
}

static void drop_attempt(CnIceWrite *w) {
    CnErr e = CN_ERR_INIT;
    for (char *p = w->attempt_keys.data; p && *p;) {
        char *nl = strchr(p, '\n');
        if (!nl) break;
        *nl = 0;
        cn_obj_delete(w->c->store, p, &e);
        p = nl + 1;
    }
    cn_buf_reset(&w->attempt_keys);
}

static json_t *num(int64_t v) {
    char s[24];
    snprintf(s, sizeof s, "%lld", (long long)v);
    return json_string(s);
}

/* Each commit adds a manifest; past this many, the older ones are merged into one so
 * that scans of long-lived tables (a daily job for years) read few files. */
#define MERGE_AT 100

/* Rewrites ms[0..n) as one manifest into ms[0]: live entries become EXISTING; DELETED
 * entries survive only when this snapshot deleted them. */
static int merge_manifests(CnIceWrite *w, CnIceCatalog *c, CnIceTable *base, CnArena *a,
                           int64_t snap, int64_t seq, const char *uuid, CnIceManifest *ms,
                           uint32_t n, CnErr *err) {
    uint32_t cap = 256, cnt = 0;
    CnIceDataFile *all = cn_arena_calloc(a, sizeof *all * cap);
    CnIceDataFile **chunks = cn_arena_calloc(a, sizeof *chunks * (n + 1));
    uint32_t *n_chunk = cn_arena_calloc(a, sizeof *n_chunk * (n + 1));
    int rc = all && chunks && n_chunk ? 0 : oom(err);
    for (uint32_t i = 0; rc == 0 && i < n; i++) {
        rc = cn_ice__read_manifest(c, a, &ms[i], true, &chunks[i], &n_chunk[i], err);
        for (uint32_t k = 0; rc == 0 && k < n_chunk[i]; k++) {
            CnIceDataFile f = chunks[i][k];
            if (f.status == 2 && f.snapshot_id != snap) continue;
            if (f.status == 1) f.status = 0;
            if (cnt == cap) {
                CnIceDataFile *a2 = cn_arena_calloc(a, sizeof *all * cap * 2);
                if (!a2) {
                    rc = oom(err);
                    break;
                }
                memcpy(a2, all, sizeof *all * cap);
                all = a2;
                cap *= 2;
            }
            all[cnt++] = f;
        }
    }
    CnBuf key = CN_BUF_INIT;
    if (rc == 0) {
        cn_ice__table_key(w->ns, w->name, &key);
        cn_buf_printf(&key, "/metadata/%s-merged.avro", uuid);
        CnIceManifest merged;
        rc = cn_ice__write_manifest(c, a, base, key.data, snap, seq, all, cnt, &merged, err);
        if (rc == 0) {
            ms[0] = merged;
            cn_buf_printf(&w->attempt_keys, "%s\n", key.data);
        }
    }
    for (uint32_t i = 0; i < n; i++)
        for (uint32_t k = 0; chunks && k < n_chunk[i]; k++) json_decref(chunks[i][k].raw);
    cn_buf_fini(&key);
    return rc;
}

static int apply_write(void *ud, CnIceCatalog *c, CnIceTable *base, json_t *meta, CnErr *err) {
    CnIceWrite *w = ud;
    CnArena a;
    cn_arena_init(&a, 0);
    CnIceManifest *prev = NULL, *ms = NULL;
    uint32_t n_prev = 0, n_ms = 0;
    CnBuf key = CN_BUF_INIT, uri = CN_BUF_INIT;
    int rc = 0;
    drop_attempt(w);
    if (base->ds_field_id != w->base->ds_field_id) {
        rc = cn_err_set(err, CN_ECONFLICT, "table %s: the partition spec changed during the write", base->full_name);
        goto done;
    }
    if (w->mode == CN_ICE_OVERWRITE) {
        rc = check_conflicts(w, c, base, &a, err);
        if (rc < 0) goto done;
    }
    int64_t parent = cn_ice_table_current_snapshot(base);
    int64_t seq = json_integer_value(json_object_get(meta, "last-sequence-number")) + 1;
    int64_t snap = cn_ice__random_id();
    json_t *psn = parent >= 0 ? cn_ice__meta_snapshot(base->meta, parent) : NULL;
    if (psn) {
        const char *ml = json_string_value(json_object_get(psn, "manifest-list"));
        if (ml) rc = cn_ice__read_manifest_list(c, &a, ml, &prev, &n_prev, err);
        if (rc < 0) goto done;
    }
    ms = cn_arena_calloc(&a, sizeof *ms * (n_prev + 2));
    if (!ms) {
        rc = oom(err);
        goto done;
    }
    char uuid[37];
    cn_ice__uuid7(uuid);
    int64_t del_files = 0, del_rows = 0, add_rows = 0;
    for (uint32_t i = 0; i < w->n_files; i++) add_rows += w->files[i].records;
    if (w->n_files) {
        cn_ice__table_key(w->ns, w->name, &key);
        cn_buf_printf(&key, "/metadata/%s-m0.avro", uuid);
        rc = cn_ice__write_manifest(c, &a, base, key.data, snap, seq, w->files, w->n_files, &ms[n_ms], err);
        if (rc < 0) goto done;
        n_ms++;
        cn_buf_printf(&w->attempt_keys, "%s\n", key.data);
    }
    for (uint32_t i = 0; i < n_prev; i++) {
        if (w->mode != CN_ICE_OVERWRITE || !manifest_may_touch(w, &prev[i])) {
            ms[n_ms++] = prev[i];
            continue;
        }
        CnIceDataFile *fs = NULL;
        uint32_t nf = 0, n_hit = 0, n_keep = 0;
        rc = cn_ice__read_manifest(c, &a, &prev[i], true, &fs, &nf, err);
        if (rc < 0) goto done;
        for (uint32_t k = 0; k < nf; k++)
            if (fs[k].status != 2 && !fs[k].ds_null && is_touched(w, fs[k].ds)) n_hit++;
        if (n_hit == 0) {
            ms[n_ms++] = prev[i];
        } else {
            /* rewrite: the replaced files become DELETED, the rest EXISTING, old
             * DELETED entries are dropped (their snapshot already recorded them) */
            /* keep[] shares the raw records with fs[]; fs[] releases them below */
            CnIceDataFile *keep = cn_arena_calloc(&a, sizeof *keep * (nf + 1));
            if (!keep) {
                for (uint32_t k = 0; k < nf; k++) json_decref(fs[k].raw);
                rc = oom(err);
                goto done;
            }
            for (uint32_t k = 0; k < nf; k++) {
                if (fs[k].status == 2) continue;
                CnIceDataFile f = fs[k];
                if (!f.ds_null && is_touched(w, f.ds)) {
                    f.status = 2;
                    del_files++;
                    del_rows += f.records;
                } else {
                    f.status = 0;
                }
                keep[n_keep++] = f;
            }
            cn_ice__table_key(w->ns, w->name, &key);
            cn_buf_printf(&key, "/metadata/%s-m%u.avro", uuid, i + 1);
            rc = cn_ice__write_manifest(c, &a, base, key.data, snap, seq, keep, n_keep, &ms[n_ms], err);
            if (rc == 0) {
                ms[n_ms].added_snapshot_id = snap;
                n_ms++;
                cn_buf_printf(&w->attempt_keys, "%s\n", key.data);
            }
        }
        for (uint32_t k = 0; k < nf; k++) json_decref(fs[k].raw);
        if (rc < 0) goto done;
    }
    if (n_ms > MERGE_AT) {
        uint32_t first = w->n_files ? 1 : 0;
        rc = merge_manifests(w, c, base, &a, snap, seq, uuid, ms + first, n_ms - first, err);
        if (rc < 0) goto done;
        n_ms = first + 1;
    }
    cn_ice__table_key(w->ns, w->name, &key);
    cn_buf_printf(&key, "/metadata/snap-%lld-1-%s.avro", (long long)snap, uuid);
    rc = cn_ice__write_manifest_list(c, key.data, snap, parent, seq, ms, n_ms, err);
    if (rc < 0) goto done;
    cn_buf_printf(&w->attempt_keys, "%s\n", key.data);
    rc = cn_obj_uri(c->store, key.data, &uri);
    if (rc < 0) goto done;
    cn_ice__abort_point("manifests");

    json_t *psum = psn ? json_object_get(psn, "summary") : NULL;
    const char *pt = json_string_value(json_object_get(psum, "total-records"));
    const char *pf = json_string_value(json_object_get(psum, "total-data-files"));
    int64_t total = (pt ? strtoll(pt, NULL, 10) : 0) + add_rows - del_rows;
    int64_t total_files = (pf ? strtoll(pf, NULL, 10) : 0) + w->n_files - del_files;
    int64_t now = cn_ice__now_ms();
    if (psn) now = CN_MAX(now, json_integer_value(json_object_get(psn, "timestamp-ms")));
    json_t *summary = json_pack("{s:s, s:o, s:o, s:o, s:o, s:o, s:o, s:o}", "operation",
                                w->mode == CN_ICE_OVERWRITE ? "overwrite" : "append",
                                "added-data-files", num(w->n_files), "added-records", num(add_rows),
                                "deleted-data-files", num(del_files), "deleted-records", num(del_rows),
                                "total-records", num(total), "total-data-files", num(total_files),
                                "changed-partition-count", num(w->n_touched));
    if (w->mode == CN_ICE_OVERWRITE) json_object_set_new(summary, "replace-partitions", json_string("true"));
    json_t *sn = json_pack("{s:I, s:I, s:I, s:s, s:o, s:I}", "snapshot-id", (json_int_t)snap,
                           "sequence-number", (json_int_t)seq, "timestamp-ms", (json_int_t)now,
                           "manifest-list", uri.data, "summary", summary, "schema-id",
                           json_integer_value(json_object_get(meta, "current-schema-id")));
    if (!sn) {
        rc = oom(err);
        goto done;
    }
    if (parent >= 0) json_object_set_new(sn, "parent-snapshot-id", json_integer(parent));
    json_t *snaps = json_object_get(meta, "snapshots");
    if (!json_is_array(snaps)) {
        snaps = json_array();
        json_object_set_new(meta, "snapshots", snaps);
    }
    json_array_append_new(snaps, sn);
    json_object_set_new(meta, "current-snapshot-id", json_integer(snap));
    json_object_set_new(meta, "last-sequence-number", json_integer(seq));
    json_t *refs = json_object_get(meta, "refs");
    if (!json_is_object(refs)) {
        refs = json_object();
        json_object_set_new(meta, "refs", refs);
    }
    json_object_set_new(refs, "main", json_pack("{s:I, s:s}", "snapshot-id", (json_int_t)snap, "type", "branch"));
    json_t *slog = json_object_get(meta, "snapshot-log");
    if (!json_is_array(slog)) {
        slog = json_array();
        json_object_set_new(meta, "snapshot-log", slog);
    }
    json_array_append_new(slog, json_pack("{s:I, s:I}", "timestamp-ms", (json_int_t)now, "snapshot-id", (json_int_t)snap));
    json_t *props = json_object_get(meta, "properties");
    if (!json_is_object(props)) {
        props = json_object();
        json_object_set_new(meta, "properties", props);
    }
    json_object_update(props, w->props);
    w->new_snap = snap;
done:
    cn_arena_fini(&a);
    cn_buf_fini(&key);
    cn_buf_fini(&uri);
    return rc;
}

int cn_ice_write_commit(CnIceWrite *w, int64_t *snapshot_id, CnErr *err) {
    if (snapshot_id) *snapshot_id = -1;
    if (w->finished)
        return cn_err_set(err, CN_EINVAL, "table %s: write already committed", w->base->full_name);
    w->finished = true;
    int rc = finish_files(w, err);
    if (rc < 0) return rc;
    if (w->n_files == 0 && w->n_touched == 0) return 0;
    cn_ice__abort_point("data");
    rc = cn_ice__commit(w->c, w->ns, w->name, apply_write, w, err);
    if (rc < 0) {
        drop_attempt(w);
        return rc;
    }
    w->committed = true;
    if (snapshot_id) *snapshot_id = w->new_snap;
    return 0;
}

void cn_ice_write_free(CnIceWrite *w) {
    if (!w) return;
    CnErr e = CN_ERR_INIT;
    for (uint32_t i = 0; i < w->n_parts; i++) {
        Part *p = &w->parts[i];
        cn_pq_writer_free(p->pw); /* removes its temporary file when not finished */
        if (!w->committed) {
            if (w->tmpdir) unlink(p->tmp_path);
            cn_obj_delete(w->c->store, p->key, &e); /* sealed files too */
        }
        cn_free(p->idx);
        cn_col_batch_free(p->last);
        for (uint32_t k = 0; p->sealed && !p->file_moved && k < p->file.n_stats; k++) {
            cn_buf_fini(&p->file.stats[k].lo);
            cn_buf_fini(&p->file.stats[k].hi);
        }
    }
    /* the folders this write made, newest first (the first made data/), unless another
     * writer's files are in them now */
    for (uint32_t i = w->n_parts; !w->committed && i-- > 0;) unmake_dirs(&w->parts[i]);
    if (w->tmpdir) rmdir(w->tmpdir);
    /* other processes' files added to a write that did not commit: nobody else will
     * reference them (a failed distributed commit leaves nothing behind) */
    for (uint32_t i = 0; !w->committed && i < w->n_files_adopted + w->n_adopted; i++) {
        const CnIceDataFile *f = i < w->n_files_adopted ? &w->files[i] : &w->adopted[i - w->n_files_adopted];
        const char *key = NULL;
        if (cn_ice__key(w->c, f->path, &key, &e) == 0) cn_obj_delete(w->c->store, key, &e);
    }
    for (uint32_t i = 0; i < w->n_files; i++)
        for (uint32_t k = 0; k < w->files[i].n_stats; k++) {
            cn_buf_fini(&w->files[i].stats[k].lo);
            cn_buf_fini(&w->files[i].stats[k].hi);
        }
    for (uint32_t i = 0; i < w->n_adopted; i++) /* added but never finished */
        for (uint32_t k = 0; k < w->adopted[i].n_stats; k++) {
            cn_buf_fini(&w->adopted[i].stats[k].lo);
            cn_buf_fini(&w->adopted[i].stats[k].hi);
        }
    cn_free(w->adopted);
    cn_free(w->parts);
    cn_free(w->touched);
    json_decref(w->props);
    if (w->schema_json) {
        json_free_t fr;
        json_get_alloc_funcs(NULL, &fr);
        fr(w->schema_json);
    }
    cn_buf_fini(&w->attempt_keys);
    cn_pq_enc_cache_free(w->enc); /* after the last Parquet writer */
    for (uint32_t i = 0; i < w->n_encs; i++) cn_pq_enc_cache_free(w->encs[i]);
    cn_free(w->encs);
    cn_ice_table_free(w->base);
    cn_arena_fini(&w->arena);
    cn_free(w);
}

/* ------------------------------------------------------- distributed writes */

/* Description format (one process, same machine architecture): "CNF2", u32 n, then per
 * file u32 path length, path, ds[11], u8 ds_null, i64 records, i64 size, i32 sort order
 * id (0: none), u32 n_stats,
 * per statistic i32 field id, i64 size/values/nulls, u8 has_bounds, u32 + lo, u32 + hi. */
#define PUT(b, x) cn_buf_append((b), &(x), sizeof(x))

int cn_ice_write_finish_files(CnIceWrite *w, CnBuf *out, CnErr *err) {
    if (w->finished) return cn_err_set(err, CN_EINVAL, "table %s: write already committed", w->base->full_name);
    w->finished = true;
    int rc = finish_files(w, err);
    if (rc < 0) return rc;
    uint32_t n = w->n_files;
    cn_buf_append(out, "CNF2", 4);
    PUT(out, n);
    for (uint32_t i = 0; i < n; i++) {
        const CnIceDataFile *f = &w->files[i];
        uint32_t pl = (uint32_t)strlen(f->path), ns = f->n_stats;
        uint8_t dn = f->ds_null;
        PUT(out, pl);
        cn_buf_append(out, f->path, pl);
        cn_buf_append(out, f->ds, 11);
        PUT(out, dn);
        PUT(out, f->records);
        PUT(out, f->size);
        PUT(out, f->sort_order_id);
        PUT(out, ns);
        for (uint32_t k = 0; k < ns; k++) {
            const CnIceColStat *st = &f->stats[k];
            uint8_t hb = st->has_bounds;
            uint32_t ll = (uint32_t)st->lo.len, hl = (uint32_t)st->hi.len;
            PUT(out, st->field_id);
            PUT(out, st->size);
            PUT(out, st->values);
            PUT(out, st->nulls);
            PUT(out, hb);
            PUT(out, ll);
            cn_buf_append(out, st->lo.data, ll);
            PUT(out, hl);
            cn_buf_append(out, st->hi.data, hl);
        }
    }
    if (out->oom) return oom(err);
    w->committed = true; /* the files now belong to whoever commits them */
    return 0;
}

typedef struct Rd {
    const uint8_t *p, *end;
    bool bad;
} Rd;

static const void *rd(Rd *r, size_t n) {
    if (r->bad || (size_t)(r->end - r->p) < n) {
        r->bad = true;
        return NULL;
    }
    const void *q = r->p;
    r->p += n;
    return q;
}
#define GET(r, x) do { const void *q_ = rd((r), sizeof(x)); if (q_) memcpy(&(x), q_, sizeof(x)); } while (0)

int cn_ice_write_add_files(CnIceWrite *w, const void *desc, size_t len, CnErr *err) {
    Rd r = {desc, (const uint8_t *)desc + len, false};
    const void *m = rd(&r, 4);
    uint32_t n = 0;
    GET(&r, n);
    if (!m || memcmp(m, "CNF2", 4) || r.bad)
        return cn_err_set(err, CN_ECORRUPT, "table %s: bad description of another process's data files", w->base->full_name);
    if (w->n_adopted + n > w->cap_adopted) {
        uint32_t cap = w->n_adopted + n + 16;
        void *p = cn_realloc(w->adopted, sizeof *w->adopted * cap);
        if (!p) return oom(err);
        w->adopted = p;
        w->cap_adopted = cap;
    }
    for (uint32_t i = 0; i < n && !r.bad; i++) {
        CnIceDataFile f;
        memset(&f, 0, sizeof f);
        uint32_t pl = 0, ns = 0;
        uint8_t dn = 0;
        GET(&r, pl);
        const char *path = rd(&r, pl);
        const char *ds = rd(&r, 11);
        GET(&r, dn);
        GET(&r, f.records);
        GET(&r, f.size);
        GET(&r, f.sort_order_id);
        GET(&r, ns);
        if (r.bad || ns > 100000) break;
        f.path = cn_arena_alloc(&w->arena, (size_t)pl + 1);
        f.stats = cn_arena_calloc(&w->arena, sizeof *f.stats * ((size_t)ns + 1));
        if (!f.path || !f.stats) return oom(err);
        memcpy(f.path, path, pl);
        f.path[pl] = 0;
        memcpy(f.ds, ds, 11);
        f.ds[10] = 0;
        f.ds_null = dn;
        f.status = 1;
        w->adopted[w->n_adopted++] = f; /* owned from here (freed with the write) */
        CnIceDataFile *af = &w->adopted[w->n_adopted - 1];
        for (uint32_t k = 0; k < ns && !r.bad; k++) {
            CnIceColStat *st = &af->stats[af->n_stats++];
            uint8_t hb = 0;
            uint32_t ll = 0, hl = 0;
            GET(&r, st->field_id);
            GET(&r, st->size);
            GET(&r, st->values);
            GET(&r, st->nulls);
            GET(&r, hb);
            GET(&r, ll);
            const void *lo = rd(&r, ll);
            GET(&r, hl);
            const void *hi = rd(&r, hl);
            if (r.bad) break;
            st->has_bounds = hb;
            cn_buf_append(&st->lo, lo, ll);
            cn_buf_append(&st->hi, hi, hl);
        }
        if (!af->ds_null && w->mode == CN_ICE_OVERWRITE && touch(w, af->ds) < 0) return oom(err);
    }
    if (r.bad) return cn_err_set(err, CN_ECORRUPT, "table %s: bad description of another process's data files", w->base->full_name);
    return 0;
}
