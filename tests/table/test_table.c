/* test_table.c: Iceberg tables on a local warehouse with a SQLite catalog: create,
 * append, partition overwrite, time travel, schema evolution, pruning and projection,
 * properties, conflicts between concurrent writers, aborted writes, gc, and the errors
 * (names, unknown tables with suggestions, unreachable catalogs). Each case uses a
 * fresh temporary warehouse. */
#include "cn_test.h"

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/fs.h"
#include "base/log.h"
#include "base/str.h"
#include "io/parquet/pq.h"
#include "table/ice_int.h" /* manifest entries as written (sort_order_tracks_each_file) */
#include "table/table.h"

typedef struct Env {
    char dir[256];
    char wh[300];
    char cat[320];
    CnIceCatalog *c;
    CnErr err;
} Env;

static void env_open(Env *e) {
    memset(e, 0, sizeof *e);
    const char *t = getenv("TMPDIR");
    snprintf(e->dir, sizeof e->dir, "%s/cn_table_XXXXXX", t && *t ? t : "/tmp");
    assert_non_null(mkdtemp(e->dir));
    snprintf(e->wh, sizeof e->wh, "%s/wh", e->dir);
    snprintf(e->cat, sizeof e->cat, "sqlite:%s/catalog.db", e->dir);
    ASSERT_OK(cn_ice_catalog_open(e->wh, e->cat, &e->c, &e->err), &e->err);
}

static void env_close(Env *e) {
    cn_ice_catalog_close(e->c);
    cn_test_rm_rf(e->dir);
}

/* Schema (user_id int64, amount float64, ds string). OWNED by the caller. */
static CnSchema *base_schema(void) {
    CnSchema *s = NULL;
    CnErr err = CN_ERR_INIT;
    assert_int_equal(cn_col_schema_new(&s), 0);
    ASSERT_OK(cn_col_schema_add(s, "user_id", cn_col_type_prim(CN_COL_INT64), true, -1, &err), &err);
    ASSERT_OK(cn_col_schema_add(s, "amount", cn_col_type_prim(CN_COL_FLOAT64), true, -1, &err), &err);
    ASSERT_OK(cn_col_schema_add(s, "ds", cn_col_type_prim(CN_COL_STRING), true, -1, &err), &err);
    return s;
}

/* Writes n rows user_id = base+i, amount = (base+i)*0.5, ds = dss[i % n_ds] with the
 * table's current schema (extra columns get value i as float64 when float, else null). */
static int64_t write_rows(Env *e, const char *table, CnIceWriteMode mode, int64_t base, uint32_t n,
                          const char *const *dss, uint32_t n_ds, int expect_rc) {
    CnIceWrite *w = NULL;
    CnErr err = CN_ERR_INIT;
    ASSERT_OK(cn_ice_write_begin(e->c, "data", table, mode, &w, &err), &err);
    const CnSchema *s = cn_ice_write_schema(w);
    CnBatch *b = NULL;
    ASSERT_OK(cn_col_batch_new(s, &b, &err), &err);
    for (uint32_t i = 0; i < n; i++) {
        for (uint32_t k = 0; k < s->n_fields; k++) {
            CnVec *v = &b->cols[k];
            const char *name = s->fields[k].name;
            if (!strcmp(name, "user_id"))
                cn_col_vec_append_i64(v, base + i);
            else if (!strcmp(name, "amount"))
                cn_col_vec_append_f64(v, (double)(base + i) * 0.5);
            else if (!strcmp(name, "ds"))
                cn_col_vec_append_str(v, dss[i % n_ds], 10);
            else if (s->fields[k].type->id == CN_COL_FLOAT64)
                cn_col_vec_append_f64(v, (double)i);
            else
                cn_col_vec_append_null(v);
        }
    }
    ASSERT_OK(cn_col_batch_sync_rows(b, &err), &err);
    ASSERT_OK(cn_ice_write_batch(w, b, &err), &err);
    int64_t snap = -1;
    int rc = cn_ice_write_commit(w, &snap, &err);
    if (expect_rc == 0) ASSERT_OK(rc, &err);
    else ASSERT_ERR(rc, expect_rc, &err);
    cn_col_batch_free(b);
    cn_ice_write_free(w);
    return snap;
}

typedef struct Sum {
    int64_t rows, user_sum, null_extra;
    double amount_sum, extra_sum;
    uint32_t files;
} Sum;

static Sum scan_sum(Env *e, const char *table, const CnIceScanOpts *o) {
    CnIceTable *t = NULL;
    CnIceScan *s = NULL;
    CnErr err = CN_ERR_INIT;
    Sum sum = {0};
    ASSERT_OK(cn_ice_table_load(e->c, "data", table, &t, &err), &err);
    ASSERT_OK(cn_ice_scan_open(e->c, t, o, &s, &err), &err);
    sum.files = cn_ice_scan_n_files(s);
    const CnSchema *sc = cn_ice_scan_schema(s);
    int iu = cn_col_schema_find(sc, "user_id"), ia = cn_col_schema_find(sc, "amount");
    int ix = cn_col_schema_find(sc, "extra"), ids = cn_col_schema_find(sc, "ds");
    const CnBatch *b = NULL;
    while (1) {
        ASSERT_OK(cn_ice_scan_next(s, &b, &err), &err);
        if (!b) break;
        ASSERT_OK(cn_col_batch_check(b, &err), &err);
        for (uint32_t r = 0; r < b->n_rows; r++) {
            if (iu >= 0) sum.user_sum += ((const int64_t *)b->cols[iu].values)[r];
            if (ia >= 0) sum.amount_sum += ((const double *)b->cols[ia].values)[r];
            if (ix >= 0) {
                if (cn_col_vec_is_valid(&b->cols[ix], r))
                    sum.extra_sum += ((const double *)b->cols[ix].values)[r];
                else
                    sum.null_extra++;
            }
            if (ids >= 0) assert_true(cn_col_vec_is_valid(&b->cols[ids], r));
        }
        sum.rows += b->n_rows;
    }
    assert_int_equal(sum.rows, cn_ice_scan_n_records(s));
    cn_ice_scan_close(s);
    cn_ice_table_free(t);
    return sum;
}

static int64_t user_sum_of(const CnBatch *b) {
    int64_t x = 0;
    for (uint32_t r = 0; r < b->n_rows; r++) x += ((const int64_t *)b->cols[0].values)[r];
    return x;
}

static const char *const D3[] = {"2023-12-01", "2023-12-02", "2023-12-03"};

static void create_table(Env *e, const char *name) {
    CnSchema *s = base_schema();
    ASSERT_OK(cn_ice_table_create(e->c, "data", name, s, NULL, 0, &e->err), &e->err);
    cn_col_schema_free(s);
}

static bool file_exists_under(const char *dir, const char *suffix) {
    DIR *d = opendir(dir);
    struct dirent *de;
    bool found = false;
    while (d && (de = readdir(d)))
        if (cn_str_ends_with(de->d_name, suffix)) found = true;
    if (d) closedir(d);
    return found;
}

/* ------------------------------------------------------------------ cases */

static void names_are_validated(void **state) {
    (void)state;
    char ns[129], name[129];
    CnErr err = CN_ERR_INIT;
    ASSERT_OK(cn_ice_name_parse("data.purchases", ns, name, &err), &err);
    assert_string_equal(ns, "data");
    assert_string_equal(name, "purchases");
    ASSERT_OK(cn_ice_name_parse("purchases", ns, name, &err), &err);
    assert_string_equal(ns, "default");
    const char *bad[] = {"../etc.passwd", "data./x", "data/x.y", "data..x", ".x", "data.",
                         "-x.y", "data.a b", "data.a/../../b", "da ta.x", ""};
    for (size_t i = 0; i < CN_ARRAY_LEN(bad); i++) {
        cn_err_clear(&err);
        ASSERT_ERR(cn_ice_name_parse(bad[i], ns, name, &err), CN_EINVAL, &err);
        ASSERT_CONTAINS(cn_err_msg(&err), "table name");
    }
    Env e;
    env_open(&e);
    CnSchema *s = base_schema();
    ASSERT_ERR(cn_ice_table_create(e.c, "..", "x", s, NULL, 0, &e.err), CN_EINVAL, &e.err);
    cn_err_clear(&e.err);
    ASSERT_ERR(cn_ice_table_create(e.c, "data", "x/../../y", s, NULL, 0, &e.err), CN_EINVAL, &e.err);
    cn_col_schema_free(s);
    /* nothing was created outside (or inside) the warehouse */
    assert_false(file_exists_under(e.wh, ".db"));
    env_close(&e);
}

static void create_append_scan(void **state) {
    (void)state;
    Env e;
    env_open(&e);
    create_table(&e, "t");
    CnIceTable *t = NULL;
    ASSERT_OK(cn_ice_table_load(e.c, "data", "t", &t, &e.err), &e.err);
    assert_int_equal(cn_ice_table_current_snapshot(t), -1);
    const CnSchema *s = cn_ice_table_schema(t);
    assert_int_equal(s->n_fields, 3);
    assert_int_equal(s->fields[0].field_id, 1);
    assert_int_equal(s->fields[2].field_id, 3);
    ASSERT_CONTAINS(cn_ice_table_metadata_location(t), "/data.db/t/metadata/v1-");
    cn_ice_table_free(t);
    /* an empty table scans to nothing */
    Sum z = scan_sum(&e, "t", NULL);
    assert_int_equal(z.rows, 0);

    int64_t s1 = write_rows(&e, "t", CN_ICE_APPEND, 0, 300, D3, 3, 0);
    int64_t s2 = write_rows(&e, "t", CN_ICE_APPEND, 1000, 30, D3, 3, 0);
    assert_true(s1 > 0 && s2 > 0 && s1 != s2);
    Sum sum = scan_sum(&e, "t", NULL);
    assert_int_equal(sum.rows, 330);
    int64_t want = 299 * 300 / 2 + 30 * 1000 + 29 * 30 / 2;
    assert_int_equal(sum.user_sum, want);
    assert_true(sum.amount_sum == (double)want * 0.5);
    assert_int_equal(sum.files, 6);
    ASSERT_OK(cn_ice_table_load(e.c, "data", "t", &t, &e.err), &e.err);
    assert_int_equal(cn_ice_table_n_snapshots(t), 2);
    CnIceSnapshot sn;
    cn_ice_table_snapshot(t, 1, &sn);
    assert_int_equal(sn.id, s2);
    assert_int_equal(sn.parent_id, s1);
    assert_int_equal(sn.sequence_number, 2);
    assert_string_equal(sn.operation, "append");
    assert_int_equal(sn.added_records, 30);
    assert_int_equal(sn.total_records, 330);
    ASSERT_CONTAINS(cn_ice_table_metadata_location(t), "/v3-");
    cn_ice_table_free(t);
    char data_dir[600];
    snprintf(data_dir, sizeof data_dir, "%s/data.db/t/data/ds=2023-12-02", e.wh);
    assert_true(file_exists_under(data_dir, ".parquet"));
    env_close(&e);
}

static int part_line(void *ud, const CnIcePartition *p) {
    assert_true(p->bytes > 0);
    return cn_buf_printf(ud, "%s:%lld:%u ", p->ds, (long long)p->records, p->files);
}

static void overwrite_replaces_only_its_partitions(void **state) {
    (void)state;
    Env e;
    env_open(&e);
    create_table(&e, "t");
    int64_t s1 = write_rows(&e, "t", CN_ICE_APPEND, 0, 300, D3, 3, 0); /* 100 per day */
    const char *d2[] = {"2023-12-02"};
    int64_t s2 = write_rows(&e, "t", CN_ICE_OVERWRITE, 5000, 7, d2, 1, 0);
    Sum all = scan_sum(&e, "t", NULL);
    assert_int_equal(all.rows, 207);
    CnIceTable *pt = NULL;
    ASSERT_OK(cn_ice_table_load(e.c, "data", "t", &pt, &e.err), &e.err);
    CnBuf parts = CN_BUF_INIT;
    ASSERT_OK(cn_ice_table_partitions(e.c, pt, 0, part_line, &parts, &e.err), &e.err);
    assert_string_equal(parts.data, "2023-12-01:100:1 2023-12-02:7:1 2023-12-03:100:1 ");
    cn_buf_reset(&parts);
    ASSERT_OK(cn_ice_table_partitions(e.c, pt, s1, part_line, &parts, &e.err), &e.err);
    assert_string_equal(parts.data, "2023-12-01:100:1 2023-12-02:100:1 2023-12-03:100:1 ");
    cn_buf_fini(&parts);
    cn_ice_table_free(pt);
    CnIceScanOpts o = {.ds_lo = "2023-12-02", .ds_hi = "2023-12-02"};
    Sum day2 = scan_sum(&e, "t", &o);
    assert_int_equal(day2.rows, 7);
    assert_int_equal(day2.user_sum, 7 * 5000 + 21);
    assert_int_equal(day2.files, 1);
    /* the old snapshot still reads the replaced rows */
    CnIceScanOpts old = {.snapshot_id = s1, .ds_lo = "2023-12-02", .ds_hi = "2023-12-02"};
    Sum was = scan_sum(&e, "t", &old);
    assert_int_equal(was.rows, 100);
    CnIceTable *t = NULL;
    ASSERT_OK(cn_ice_table_load(e.c, "data", "t", &t, &e.err), &e.err);
    CnIceSnapshot sn;
    cn_ice_table_snapshot(t, 1, &sn);
    assert_int_equal(sn.id, s2);
    assert_string_equal(sn.operation, "overwrite");
    assert_int_equal(sn.deleted_files, 1);
    assert_int_equal(sn.deleted_records, 100);
    assert_int_equal(sn.total_records, 207);
    cn_ice_table_free(t);
    /* overwrite again: still one snapshot per overwrite, the others untouched */
    write_rows(&e, "t", CN_ICE_OVERWRITE, 9000, 4, d2, 1, 0);
    Sum again = scan_sum(&e, "t", NULL);
    assert_int_equal(again.rows, 204);
    env_close(&e);
}

/* Removes every .parquet file under dir (recursively); returns how many. */
static uint32_t remove_parquet(const char *dir) {
    DIR *d = opendir(dir);
    struct dirent *de;
    uint32_t n = 0;
    while (d && (de = readdir(d))) {
        if (de->d_name[0] == '.') continue;
        char p[1200];
        snprintf(p, sizeof p, "%s/%s", dir, de->d_name);
        if (cn_str_ends_with(de->d_name, ".parquet")) n += unlink(p) == 0;
        else n += remove_parquet(p);
    }
    if (d) closedir(d);
    return n;
}

/* The listing reads manifests only: with every data file gone it still answers (a scan
 * of the ds column would fail), with bytes equal to the files' sizes. */
static void partitions_come_from_manifests(void **state) {
    (void)state;
    Env e;
    env_open(&e);
    create_table(&e, "t");
    write_rows(&e, "t", CN_ICE_APPEND, 0, 300, D3, 3, 0);
    int64_t s2 = write_rows(&e, "t", CN_ICE_APPEND, 1000, 30, D3 + 1, 1, 0);
    CnIceTable *t = NULL;
    ASSERT_OK(cn_ice_table_load(e.c, "data", "t", &t, &e.err), &e.err);
    CnIcePartition *ps = NULL;
    uint32_t n = 0;
    ASSERT_OK(cn_ice_table_partition_list(e.c, t, 0, NULL, NULL, &ps, &n, &e.err), &e.err);
    assert_int_equal(n, 3);
    int64_t bytes1 = ps[1].bytes;
    assert_true(bytes1 > ps[0].bytes); /* two files */
    cn_free(ps);
    char data_dir[600];
    snprintf(data_dir, sizeof data_dir, "%s/data.db/t/data", e.wh);
    assert_int_equal(remove_parquet(data_dir), 4);
    ASSERT_OK(cn_ice_table_partition_list(e.c, t, 0, NULL, NULL, &ps, &n, &e.err), &e.err);
    assert_int_equal(n, 3);
    assert_string_equal(ps[0].ds, "2023-12-01");
    assert_int_equal(ps[0].records, 100);
    assert_int_equal(ps[0].files, 1);
    assert_string_equal(ps[1].ds, "2023-12-02");
    assert_int_equal(ps[1].records, 130);
    assert_int_equal(ps[1].files, 2);
    assert_int_equal(ps[1].bytes, bytes1);
    assert_string_equal(ps[2].ds, "2023-12-03");
    cn_free(ps);
    /* a ds range */
    ASSERT_OK(cn_ice_table_partition_list(e.c, t, 0, "2023-12-02", NULL, &ps, &n, &e.err), &e.err);
    assert_int_equal(n, 2);
    assert_string_equal(ps[0].ds, "2023-12-02");
    cn_free(ps);
    ASSERT_OK(cn_ice_table_partition_list(e.c, t, 0, "2023-12-04", "2023-12-09", &ps, &n, &e.err), &e.err);
    assert_int_equal(n, 0);
    assert_null(ps);
    /* the scan, which does read data files, now fails */
    CnIceScan *scan = NULL;
    const CnBatch *b = NULL;
    ASSERT_OK(cn_ice_scan_open(e.c, t, NULL, &scan, &e.err), &e.err);
    assert_true(cn_ice_scan_next(scan, &b, &e.err) < 0);
    cn_ice_scan_close(scan);
    cn_err_clear(&e.err);
    /* an unknown snapshot is named */
    assert_int_equal(cn_ice_table_partition_list(e.c, t, s2 + 1, NULL, NULL, &ps, &n, &e.err), CN_ENOTFOUND);
    ASSERT_CONTAINS(cn_err_msg(&e.err), "no snapshot");
    cn_ice_table_free(t);
    env_close(&e);
}

static void time_travel_by_id_and_timestamp(void **state) {
    (void)state;
    Env e;
    env_open(&e);
    create_table(&e, "t");
    int64_t s1 = write_rows(&e, "t", CN_ICE_APPEND, 0, 10, D3, 3, 0);
    usleep(20000);
    int64_t s2 = write_rows(&e, "t", CN_ICE_APPEND, 100, 5, D3, 3, 0);
    CnIceTable *t = NULL;
    ASSERT_OK(cn_ice_table_load(e.c, "data", "t", &t, &e.err), &e.err);
    CnIceSnapshot a, b;
    cn_ice_table_snapshot(t, 0, &a);
    cn_ice_table_snapshot(t, 1, &b);
    assert_int_equal(a.id, s1);
    assert_true(b.timestamp_ms > a.timestamp_ms);
    cn_ice_table_free(t);
    CnIceScanOpts o1 = {.snapshot_id = s1};
    assert_int_equal(scan_sum(&e, "t", &o1).rows, 10);
    CnIceScanOpts o2 = {.snapshot_id = s2};
    assert_int_equal(scan_sum(&e, "t", &o2).rows, 15);
    CnIceScanOpts at1 = {.as_of_ms = b.timestamp_ms - 1};
    assert_int_equal(scan_sum(&e, "t", &at1).rows, 10);
    CnIceScanOpts at2 = {.as_of_ms = b.timestamp_ms};
    assert_int_equal(scan_sum(&e, "t", &at2).rows, 15);
    /* unknown id and a time before the first snapshot */
    ASSERT_OK(cn_ice_table_load(e.c, "data", "t", &t, &e.err), &e.err);
    CnIceScan *s = NULL;
    CnIceScanOpts bad = {.snapshot_id = 42};
    ASSERT_ERR(cn_ice_scan_open(e.c, t, &bad, &s, &e.err), CN_ENOTFOUND, &e.err);
    ASSERT_CONTAINS(cn_err_msg(&e.err), "no snapshot 42");
    cn_err_clear(&e.err);
    CnIceScanOpts early = {.as_of_ms = a.timestamp_ms - 1000};
    ASSERT_ERR(cn_ice_scan_open(e.c, t, &early, &s, &e.err), CN_ENOTFOUND, &e.err);
    ASSERT_CONTAINS(cn_err_msg(&e.err), "no snapshot at or before");
    cn_ice_table_free(t);
    env_close(&e);
}

static void add_column_reads_old_files_as_null(void **state) {
    (void)state;
    Env e;
    env_open(&e);
    create_table(&e, "t");
    int64_t s1 = write_rows(&e, "t", CN_ICE_APPEND, 0, 12, D3, 3, 0);
    ASSERT_OK(cn_ice_table_add_column(e.c, "data", "t", "extra", cn_col_type_prim(CN_COL_FLOAT64), &e.err), &e.err);
    ASSERT_ERR(cn_ice_table_add_column(e.c, "data", "t", "extra", cn_col_type_prim(CN_COL_INT64), &e.err),
               CN_EEXISTS, &e.err);
    cn_err_clear(&e.err);
    CnIceTable *t = NULL;
    ASSERT_OK(cn_ice_table_load(e.c, "data", "t", &t, &e.err), &e.err);
    const CnSchema *s = cn_ice_table_schema(t);
    assert_int_equal(s->n_fields, 4);
    assert_string_equal(s->fields[3].name, "extra");
    assert_int_equal(s->fields[3].field_id, 4);
    cn_ice_table_free(t);
    Sum before = scan_sum(&e, "t", NULL);
    assert_int_equal(before.rows, 12);
    assert_int_equal(before.null_extra, 12);
    write_rows(&e, "t", CN_ICE_APPEND, 100, 6, D3, 3, 0);
    Sum after = scan_sum(&e, "t", NULL);
    assert_int_equal(after.rows, 18);
    assert_int_equal(after.null_extra, 12);
    assert_true(after.extra_sum == 0 + 1 + 2 + 3 + 4 + 5);
    /* time travel reads with the old schema: no extra column */
    CnIceScanOpts o = {.snapshot_id = s1};
    ASSERT_OK(cn_ice_table_load(e.c, "data", "t", &t, &e.err), &e.err);
    CnIceScan *sc = NULL;
    ASSERT_OK(cn_ice_scan_open(e.c, t, &o, &sc, &e.err), &e.err);
    assert_int_equal(cn_ice_scan_schema(sc)->n_fields, 3);
    cn_ice_scan_close(sc);
    cn_ice_table_free(t);
    env_close(&e);
}

static void pruning_and_projection(void **state) {
    (void)state;
    Env e;
    env_open(&e);
    create_table(&e, "t");
    const char *d5[] = {"2023-12-01", "2023-12-02", "2023-12-03", "2023-12-04", "2023-12-05"};
    write_rows(&e, "t", CN_ICE_APPEND, 0, 50, d5, 5, 0);
    write_rows(&e, "t", CN_ICE_APPEND, 0, 10, d5 + 4, 1, 0);
    CnIceScanOpts o = {.ds_lo = "2023-12-02", .ds_hi = "2023-12-03"};
    Sum s = scan_sum(&e, "t", &o);
    assert_int_equal(s.files, 2);
    assert_int_equal(s.rows, 20);
    CnIceScanOpts lo = {.ds_lo = "2023-12-05"};
    Sum s5 = scan_sum(&e, "t", &lo);
    assert_int_equal(s5.files, 2);
    assert_int_equal(s5.rows, 20);
    CnIceScanOpts none = {.ds_lo = "2024-01-01"};
    assert_int_equal(scan_sum(&e, "t", &none).files, 0);
    /* projection: order as asked, only those columns */
    const char *cols[] = {"ds", "user_id"};
    CnIceScanOpts p = {.columns = cols, .n_columns = 2, .ds_hi = "2023-12-01"};
    CnIceTable *t = NULL;
    CnIceScan *sc = NULL;
    ASSERT_OK(cn_ice_table_load(e.c, "data", "t", &t, &e.err), &e.err);
    ASSERT_OK(cn_ice_scan_open(e.c, t, &p, &sc, &e.err), &e.err);
    const CnSchema *ps = cn_ice_scan_schema(sc);
    assert_int_equal(ps->n_fields, 2);
    assert_string_equal(ps->fields[0].name, "ds");
    const CnBatch *b = NULL;
    ASSERT_OK(cn_ice_scan_next(sc, &b, &e.err), &e.err);
    assert_non_null(b);
    assert_int_equal(b->n_rows, 10);
    uint32_t len;
    const char *v = cn_col_vec_str(&b->cols[0], 3, &len);
    assert_int_equal(len, 10);
    assert_memory_equal(v, "2023-12-01", 10);
    assert_int_equal(((const int64_t *)b->cols[1].values)[1], 5);
    cn_ice_scan_close(sc);
    const char *badc[] = {"user_id", "nope"};
    CnIceScanOpts bp = {.columns = badc, .n_columns = 2};
    ASSERT_ERR(cn_ice_scan_open(e.c, t, &bp, &sc, &e.err), CN_ENOTFOUND, &e.err);
    ASSERT_CONTAINS(cn_err_msg(&e.err), "nope");
    ASSERT_CONTAINS(cn_err_msg(&e.err), "data.t");
    cn_ice_table_free(t);
    env_close(&e);
}

/* Claims shared by scans of one plan: each file is granted once, to the scan that asks
 * first; what a claim said about the file (its index and records) is checked against
 * the batches that scan then reads from it. */
typedef struct Claims {
    int owner[16];      /* scan that took file i, -1 */
    int64_t records[16];
    int asking;         /* the scan whose next() runs */
    bool refuse;
} Claims;

static bool claim_once(void *ud, uint32_t file, int64_t records) {
    Claims *c = ud;
    assert_true(file < 16);
    if (c->refuse || c->owner[file] >= 0) return false;
    c->owner[file] = c->asking;
    c->records[file] = records;
    return true;
}

static void claimed_files_split_among_scans(void **state) {
    (void)state;
    Env e;
    env_open(&e);
    create_table(&e, "t");
    const char *d5[] = {"2023-12-01", "2023-12-02", "2023-12-03", "2023-12-04", "2023-12-05"};
    write_rows(&e, "t", CN_ICE_APPEND, 0, 50, d5, 5, 0);
    write_rows(&e, "t", CN_ICE_APPEND, 100, 7, d5 + 2, 1, 0);
    Sum all = scan_sum(&e, "t", NULL);
    Claims c;
    for (int i = 0; i < 16; i++) c.owner[i] = -1, c.records[i] = 0;
    c.refuse = false;
    CnIceScanOpts o = {.claim = claim_once, .claim_ud = &c};
    CnIceTable *t = NULL;
    CnIceScan *sc[2] = {NULL, NULL};
    ASSERT_OK(cn_ice_table_load(e.c, "data", "t", &t, &e.err), &e.err);
    for (int k = 0; k < 2; k++) ASSERT_OK(cn_ice_scan_open(e.c, t, &o, &sc[k], &e.err), &e.err);
    uint32_t n_files = cn_ice_scan_n_files(sc[0]);
    assert_int_equal(n_files, 6);
    int64_t rows[16] = {0}, user_sum = 0, total = 0;
    bool done[2] = {false, false};
    for (int turn = 0; !done[0] || !done[1]; turn++) { /* the scans take turns */
        int k = turn % 2;
        if (done[k]) continue;
        const CnBatch *b = NULL;
        c.asking = k;
        ASSERT_OK(cn_ice_scan_next(sc[k], &b, &e.err), &e.err);
        if (!b) {
            done[k] = true;
            continue;
        }
        uint32_t f = cn_ice_scan_batch_file(sc[k]);
        assert_int_equal(c.owner[f], k); /* only files it was granted */
        rows[f] += b->n_rows;
        total += b->n_rows;
        for (uint32_t r = 0; r < b->n_rows; r++) user_sum += ((const int64_t *)b->cols[0].values)[r];
    }
    int taken[2] = {0, 0};
    for (uint32_t f = 0; f < n_files; f++) {
        assert_true(c.owner[f] == 0 || c.owner[f] == 1);
        taken[c.owner[f]]++;
        assert_int_equal(rows[f], c.records[f]);
    }
    assert_true(taken[0] > 0 && taken[1] > 0);
    assert_int_equal(total, all.rows);
    assert_int_equal(user_sum, all.user_sum);
    for (int k = 0; k < 2; k++) cn_ice_scan_close(sc[k]);
    /* a claim that grants nothing: no batch, no file opened */
    c.refuse = true;
    ASSERT_OK(cn_ice_scan_open(e.c, t, &o, &sc[0], &e.err), &e.err);
    const CnBatch *b = NULL;
    ASSERT_OK(cn_ice_scan_next(sc[0], &b, &e.err), &e.err);
    assert_null(b);
    cn_ice_scan_close(sc[0]);
    cn_ice_table_free(t);
    env_close(&e);
}

static void properties_round_trip(void **state) {
    (void)state;
    Env e;
    env_open(&e);
    CnSchema *s = base_schema();
    const char *props[] = {"chronon.semantic_hash", "abc123"};
    ASSERT_OK(cn_ice_table_create(e.c, "data", "t", s, props, 1, &e.err), &e.err);
    cn_col_schema_free(s);
    const char *k[] = {"chronon.sort_order", "chronon.semantic_hash"};
    const char *v[] = {"user_id,ts", NULL};
    ASSERT_OK(cn_ice_table_set_properties(e.c, "data", "t", k, v, 2, &e.err), &e.err);
    CnIceWrite *w = NULL;
    ASSERT_OK(cn_ice_write_begin(e.c, "data", "t", CN_ICE_OVERWRITE, &w, &e.err), &e.err);
    ASSERT_OK(cn_ice_write_set_property(w, "chronon.last_run", "2023-12-01", &e.err), &e.err);
    ASSERT_OK(cn_ice_write_touch_partition(w, "2023-12-01", &e.err), &e.err);
    ASSERT_ERR(cn_ice_write_touch_partition(w, "2023-13-01", &e.err), CN_EINVAL, &e.err);
    cn_err_clear(&e.err);
    int64_t snap = 0;
    ASSERT_OK(cn_ice_write_commit(w, &snap, &e.err), &e.err);
    assert_true(snap > 0); /* an empty overwrite still commits (it empties the day) */
    cn_ice_write_free(w);
    CnIceTable *t = NULL;
    ASSERT_OK(cn_ice_table_load(e.c, "data", "t", &t, &e.err), &e.err);
    assert_string_equal(cn_ice_table_property(t, "chronon.sort_order"), "user_id,ts");
    assert_null(cn_ice_table_property(t, "chronon.semantic_hash"));
    assert_string_equal(cn_ice_table_property(t, "chronon.last_run"), "2023-12-01");
    assert_string_equal(cn_ice_table_property(t, "write.format.default"), "parquet");
    cn_ice_table_free(t);
    env_close(&e);
}

/* The codec of the one data file of partition ds of data.<table>. */
/* The only data file of table data.<table>, partition ds (path into out). */
static void data_file(Env *e, const char *table, const char *ds, char *out, size_t cap) {
    char dir[512];
    snprintf(dir, sizeof dir, "%s/data.db/%s/data/ds=%s", e->wh, table, ds);
    DIR *d = opendir(dir);
    assert_non_null(d);
    struct dirent *de;
    out[0] = 0;
    while ((de = readdir(d)))
        if (strstr(de->d_name, ".parquet")) snprintf(out, cap, "%s/%s", dir, de->d_name);
    closedir(d);
    assert_true(out[0] != 0);
}

static int file_codec(Env *e, const char *table, const char *ds) {
    char path[900];
    data_file(e, table, ds, path, sizeof path);
    CnPqReader *r = NULL;
    ASSERT_OK(cn_pq_reader_open(path, &r, &e->err), &e->err);
    int codec = cn_pq_reader_meta(r)->row_groups[0].chunks[0].codec;
    cn_pq_reader_close(r);
    return codec;
}

/* Iceberg's write.parquet.compression-codec picks the data files' codec (zstd unset);
 * an unknown one fails the write naming the table, the property and the value. */
static void codec_property(void **state) {
    (void)state;
    Env e;
    env_open(&e);
    CnSchema *s = base_schema();
    const char *props[] = {"write.parquet.compression-codec", "snappy"};
    ASSERT_OK(cn_ice_table_create(e.c, "data", "snap", s, props, 1, &e.err), &e.err);
    ASSERT_OK(cn_ice_table_create(e.c, "data", "dflt", s, NULL, 0, &e.err), &e.err);
    cn_col_schema_free(s);
    const char *dss[] = {"2023-12-01"};
    write_rows(&e, "snap", CN_ICE_OVERWRITE, 0, 100, dss, 1, 0);
    write_rows(&e, "dflt", CN_ICE_OVERWRITE, 0, 100, dss, 1, 0);
    assert_int_equal(file_codec(&e, "snap", "2023-12-01"), CN_PQ_CODEC_SNAPPY);
    assert_int_equal(file_codec(&e, "dflt", "2023-12-01"), CN_PQ_CODEC_ZSTD);
    const char *k[] = {"write.parquet.compression-codec"}, *v[] = {"lzo"};
    ASSERT_OK(cn_ice_table_set_properties(e.c, "data", "snap", k, v, 1, &e.err), &e.err);
    CnIceWrite *w = NULL;
    ASSERT_OK(cn_ice_write_begin(e.c, "data", "snap", CN_ICE_OVERWRITE, &w, &e.err), &e.err);
    CnBatch *b = NULL;
    ASSERT_OK(cn_col_batch_new(cn_ice_write_schema(w), &b, &e.err), &e.err);
    cn_col_vec_append_i64(&b->cols[0], 1);
    cn_col_vec_append_f64(&b->cols[1], 0.5);
    cn_col_vec_append_str(&b->cols[2], "2023-12-02", 10);
    ASSERT_OK(cn_col_batch_sync_rows(b, &e.err), &e.err);
    ASSERT_ERR(cn_ice_write_batch(w, b, &e.err), CN_EINVAL, &e.err);
    ASSERT_CONTAINS(cn_err_msg(&e.err), "data.snap");
    ASSERT_CONTAINS(cn_err_msg(&e.err), "write.parquet.compression-codec");
    ASSERT_CONTAINS(cn_err_msg(&e.err), "lzo");
    cn_col_batch_free(b);
    cn_ice_write_free(w); /* nothing committed */
    env_close(&e);
}

/* Data files are written with DataPageV2 pages and DELTA_BINARY_PACKED integers: an
 * integer column too spread for the dictionary (user_id over 2^40) is delta-encoded
 * and, its bit-packed deltas not compressing, stored uncompressed (the chunk's sizes
 * equal); a repetitive one keeps the dictionary; the scan reads every value back.
 * The table property write.parquet.page-version=1 gives v1 pages and PLAIN integers; another
 * value fails the write naming table, property and value. */
static void data_files_v2_delta(void **state) {
    (void)state;
    Env e;
    env_open(&e);
    CnSchema *s = base_schema();
    const char *v1_props[] = {"write.parquet.page-version", "1"}, *bad_props[] = {"write.parquet.page-version", "v3"};
    ASSERT_OK(cn_ice_table_create(e.c, "data", "v2", s, NULL, 0, &e.err), &e.err);
    ASSERT_OK(cn_ice_table_create(e.c, "data", "v1", s, v1_props, 1, &e.err), &e.err);
    ASSERT_OK(cn_ice_table_create(e.c, "data", "v3", s, bad_props, 1, &e.err), &e.err);
    cn_col_schema_free(s);
    const uint32_t n = 20000;
    for (int t = 0; t < 3; t++) {
        const char *table = t == 0 ? "v2" : t == 1 ? "v1" : "v3";
        CnIceWrite *w = NULL;
        ASSERT_OK(cn_ice_write_begin(e.c, "data", table, CN_ICE_APPEND, &w, &e.err), &e.err);
        CnBatch *b = NULL;
        ASSERT_OK(cn_col_batch_new(cn_ice_write_schema(w), &b, &e.err), &e.err);
        uint64_t x = 0x9e3779b97f4a7c15ull;
        int64_t want_sum = 0;
        for (uint32_t i = 0; i < n; i++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            int64_t uid = (int64_t)(x >> 24);
            want_sum += uid;
            cn_col_vec_append_i64(&b->cols[0], uid);
            cn_col_vec_append_f64(&b->cols[1], (double)(i % 4));
            cn_col_vec_append_str(&b->cols[2], "2023-12-01", 10);
        }
        ASSERT_OK(cn_col_batch_sync_rows(b, &e.err), &e.err);
        if (t == 2) {
            ASSERT_ERR(cn_ice_write_batch(w, b, &e.err), CN_EINVAL, &e.err);
            ASSERT_CONTAINS(cn_err_msg(&e.err), "table data.v3: property write.parquet.page-version is \"v3\" (expected 1 or 2)");
            cn_err_clear(&e.err);
            cn_ice_write_free(w); /* nothing committed */
            cn_col_batch_free(b);
            break;
        }
        ASSERT_OK(cn_ice_write_batch(w, b, &e.err), &e.err);
        ASSERT_OK(cn_ice_write_commit(w, NULL, &e.err), &e.err);
        cn_ice_write_free(w);
        cn_col_batch_free(b);
        char path[900];
        data_file(&e, table, "2023-12-01", path, sizeof path);
        CnPqReader *r = NULL;
        ASSERT_OK(cn_pq_reader_open(path, &r, &e.err), &e.err);
        const CnPqChunk *uid = &cn_pq_reader_meta(r)->row_groups[0].chunks[0];
        const CnPqChunk *amt = &cn_pq_reader_meta(r)->row_groups[0].chunks[1];
        if (t == 0) {
            assert_true(uid->encodings & (1u << CN_PQ_ENC_DELTA_BINARY_PACKED));
            assert_int_equal(uid->compressed_len, uid->uncompressed_len);
        } else {
            assert_false(uid->encodings & (1u << CN_PQ_ENC_DELTA_BINARY_PACKED));
            assert_true(uid->encodings & (1u << CN_PQ_ENC_PLAIN));
            assert_true(uid->compressed_len != uid->uncompressed_len);
        }
        assert_true(amt->dict_page_offset >= 0);
        cn_pq_reader_close(r);
        Sum sum = scan_sum(&e, table, NULL);
        assert_int_equal(sum.rows, n);
        assert_int_equal(sum.user_sum, want_sum);
        assert_true(sum.amount_sum == 1.5 * n);
    }
    CnIceTable *tb = NULL;
    ASSERT_OK(cn_ice_table_load(e.c, "data", "v3", &tb, &e.err), &e.err);
    assert_true(cn_ice_table_current_snapshot(tb) < 0);
    cn_ice_table_free(tb);
    env_close(&e);
}

static void not_found_suggests_names(void **state) {
    (void)state;
    Env e;
    env_open(&e);
    create_table(&e, "purchases");
    create_table(&e, "users");
    CnSchema *s = base_schema();
    ASSERT_OK(cn_ice_table_create(e.c, "quickstart", "purchases_v1", s, NULL, 0, &e.err), &e.err);
    ASSERT_ERR(cn_ice_table_create(e.c, "data", "users", s, NULL, 0, &e.err), CN_EEXISTS, &e.err);
    ASSERT_CONTAINS(cn_err_msg(&e.err), "data.users already exists");
    cn_col_schema_free(s);
    CnIceTable *t = NULL;
    CnErr err = CN_ERR_INIT;
    ASSERT_ERR(cn_ice_table_load(e.c, "data", "purchase", &t, &err), CN_ENOTFOUND, &err);
    ASSERT_CONTAINS(cn_err_msg(&err), "table data.purchase not found");
    ASSERT_CONTAINS(cn_err_msg(&err), "did you mean data.purchases?");
    ASSERT_CONTAINS(cn_err_msg(&err), "users");
    cn_err_clear(&err);
    ASSERT_ERR(cn_ice_table_load(e.c, "dat", "purchases", &t, &err), CN_ENOTFOUND, &err);
    ASSERT_CONTAINS(cn_err_msg(&err), "namespace \"dat\" does not exist");
    ASSERT_CONTAINS(cn_err_msg(&err), "did you mean data?");
    ASSERT_CONTAINS(cn_err_msg(&err), "quickstart");
    cn_err_clear(&err);
    /* a write to a missing table fails the same way */
    CnIceWrite *w = NULL;
    ASSERT_ERR(cn_ice_write_begin(e.c, "data", "nope", CN_ICE_APPEND, &w, &err), CN_ENOTFOUND, &err);
    ASSERT_CONTAINS(cn_err_msg(&err), "data.nope not found");
    env_close(&e);
}

static void racing_writers_merge_or_conflict(void **state) {
    (void)state;
    Env e;
    env_open(&e);
    create_table(&e, "t");
    write_rows(&e, "t", CN_ICE_APPEND, 0, 30, D3, 3, 0);
    /* two writes start from the same snapshot */
    CnIceWrite *a = NULL, *b = NULL, *c = NULL;
    CnErr err = CN_ERR_INIT;
    ASSERT_OK(cn_ice_write_begin(e.c, "data", "t", CN_ICE_OVERWRITE, &a, &err), &err);
    ASSERT_OK(cn_ice_write_begin(e.c, "data", "t", CN_ICE_OVERWRITE, &b, &err), &err);
    ASSERT_OK(cn_ice_write_begin(e.c, "data", "t", CN_ICE_OVERWRITE, &c, &err), &err);
    ASSERT_OK(cn_ice_write_touch_partition(a, "2023-12-01", &err), &err);
    ASSERT_OK(cn_ice_write_touch_partition(b, "2023-12-01", &err), &err);
    ASSERT_OK(cn_ice_write_touch_partition(c, "2023-12-03", &err), &err);
    ASSERT_OK(cn_ice_write_commit(a, NULL, &err), &err);
    /* b overwrote the same day: conflict, named */
    ASSERT_ERR(cn_ice_write_commit(b, NULL, &err), CN_ECONFLICT, &err);
    ASSERT_CONTAINS(cn_err_msg(&err), "data.t");
    ASSERT_CONTAINS(cn_err_msg(&err), "ds=2023-12-01");
    cn_err_clear(&err);
    /* c touched another day: re-applied on a's snapshot */
    ASSERT_OK(cn_ice_write_commit(c, NULL, &err), &err);
    cn_ice_write_free(a);
    cn_ice_write_free(b);
    cn_ice_write_free(c);
    Sum s = scan_sum(&e, "t", NULL);
    assert_int_equal(s.rows, 10); /* only 2023-12-02 is left */
    CnIceTable *t = NULL;
    ASSERT_OK(cn_ice_table_load(e.c, "data", "t", &t, &e.err), &e.err);
    assert_int_equal(cn_ice_table_n_snapshots(t), 3);
    cn_ice_table_free(t);
    env_close(&e);
}

static void uncommitted_write_leaves_nothing(void **state) {
    (void)state;
    Env e;
    env_open(&e);
    create_table(&e, "t");
    CnIceWrite *w = NULL;
    ASSERT_OK(cn_ice_write_begin(e.c, "data", "t", CN_ICE_APPEND, &w, &e.err), &e.err);
    CnBatch *b = NULL;
    ASSERT_OK(cn_col_batch_new(cn_ice_write_schema(w), &b, &e.err), &e.err);
    cn_col_vec_append_i64(&b->cols[0], 1);
    cn_col_vec_append_f64(&b->cols[1], 1);
    cn_col_vec_append_str(&b->cols[2], "2023-12-01", 10);
    ASSERT_OK(cn_col_batch_sync_rows(b, &e.err), &e.err);
    ASSERT_OK(cn_ice_write_batch(w, b, &e.err), &e.err);
    /* a bad ds in the next batch fails the write; the table never sees either batch */
    cn_col_batch_reset(b);
    cn_col_vec_append_i64(&b->cols[0], 2);
    cn_col_vec_append_f64(&b->cols[1], 2);
    cn_col_vec_append_str(&b->cols[2], "12/01/2023", 10);
    ASSERT_OK(cn_col_batch_sync_rows(b, &e.err), &e.err);
    ASSERT_ERR(cn_ice_write_batch(w, b, &e.err), CN_EINVAL, &e.err);
    ASSERT_CONTAINS(cn_err_msg(&e.err), "\"12/01/2023\" is not a YYYY-MM-DD date");
    cn_col_batch_free(b);
    cn_ice_write_free(w);
    assert_int_equal(scan_sum(&e, "t", NULL).rows, 0);
    char dir[600];
    snprintf(dir, sizeof dir, "%s/data.db/t/data/ds=2023-12-01", e.wh);
    assert_false(file_exists_under(dir, ".parquet"));
    env_close(&e);
}

static uint32_t count_files(const char *dir) {
    uint32_t n = 0;
    DIR *d = opendir(dir);
    struct dirent *de;
    while (d && (de = readdir(d)))
        if (de->d_name[0] != '.') n++;
    if (d) closedir(d);
    return n;
}

/* One row user_id = u, amount = u, ds = ds into w. */
static void put_row(CnIceWrite *w, CnBatch *b, int64_t u, const char *ds) {
    CnErr err = CN_ERR_INIT;
    cn_col_batch_reset(b);
    cn_col_vec_append_i64(&b->cols[0], u);
    cn_col_vec_append_f64(&b->cols[1], (double)u);
    cn_col_vec_append_str(&b->cols[2], ds, 10);
    ASSERT_OK(cn_col_batch_sync_rows(b, &err), &err);
    ASSERT_OK(cn_ice_write_batch(w, b, &err), &err);
}

static void sealed_partitions_commit_once(void **state) {
    (void)state;
    Env e;
    env_open(&e);
    create_table(&e, "t");
    char d1[600], d2[600];
    snprintf(d1, sizeof d1, "%s/data.db/t/data/ds=2023-12-01", e.wh);
    snprintf(d2, sizeof d2, "%s/data.db/t/data/ds=2023-12-02", e.wh);
    CnIceWrite *w = NULL;
    CnBatch *b = NULL;
    CnSchema *bs = base_schema(); /* outlives both writes */
    ASSERT_OK(cn_ice_write_begin(e.c, "data", "t", CN_ICE_OVERWRITE, &w, &e.err), &e.err);
    ASSERT_OK(cn_col_batch_new(bs, &b, &e.err), &e.err);
    put_row(w, b, 1, "2023-12-01");
    put_row(w, b, 2, "2023-12-02");
    ASSERT_OK(cn_ice_write_seal_partition(w, "2023-12-01", &e.err), &e.err);
    ASSERT_OK(cn_ice_write_seal_partition(w, "2023-12-05", &e.err), &e.err); /* no file: nothing */
    /* the sealed file is finished (not a temporary name) but no snapshot has it yet */
    assert_true(file_exists_under(d1, ".parquet"));
    assert_int_equal(scan_sum(&e, "t", NULL).rows, 0);
    put_row(w, b, 4, "2023-12-01"); /* after the seal: a second file of the partition */
    ASSERT_OK(cn_ice_write_commit(w, NULL, &e.err), &e.err);
    ASSERT_ERR(cn_ice_write_seal_partition(w, "2023-12-02", &e.err), CN_EINVAL, &e.err);
    cn_err_clear(&e.err);
    cn_ice_write_free(w);
    Sum s = scan_sum(&e, "t", NULL);
    assert_int_equal(s.rows, 3);
    assert_int_equal(s.user_sum, 7);
    assert_int_equal(s.files, 3);
    assert_int_equal(count_files(d1), 2);
    /* a write that seals and is then dropped leaves no file and changes nothing */
    ASSERT_OK(cn_ice_write_begin(e.c, "data", "t", CN_ICE_OVERWRITE, &w, &e.err), &e.err);
    put_row(w, b, 8, "2023-12-01");
    ASSERT_OK(cn_ice_write_seal_partition(w, "2023-12-01", &e.err), &e.err);
    put_row(w, b, 16, "2023-12-02");
    ASSERT_OK(cn_ice_write_seal_partition(w, "2023-12-02", &e.err), &e.err);
    assert_int_equal(count_files(d1), 3);
    cn_ice_write_free(w);
    assert_int_equal(count_files(d1), 2);
    assert_int_equal(count_files(d2), 1);
    s = scan_sum(&e, "t", NULL);
    assert_int_equal(s.rows, 3);
    assert_int_equal(s.user_sum, 7);
    cn_col_batch_free(b);
    cn_col_schema_free(bs);
    env_close(&e);
}

static void wrong_batch_schema_is_refused(void **state) {
    (void)state;
    Env e;
    env_open(&e);
    create_table(&e, "t");
    CnIceWrite *w = NULL;
    ASSERT_OK(cn_ice_write_begin(e.c, "data", "t", CN_ICE_APPEND, &w, &e.err), &e.err);
    CnSchema *s = NULL;
    assert_int_equal(cn_col_schema_new(&s), 0);
    ASSERT_OK(cn_col_schema_add(s, "user_id", cn_col_type_prim(CN_COL_STRING), true, -1, &e.err), &e.err);
    ASSERT_OK(cn_col_schema_add(s, "amount", cn_col_type_prim(CN_COL_FLOAT64), true, -1, &e.err), &e.err);
    ASSERT_OK(cn_col_schema_add(s, "ds", cn_col_type_prim(CN_COL_STRING), true, -1, &e.err), &e.err);
    CnBatch *b = NULL;
    ASSERT_OK(cn_col_batch_new(s, &b, &e.err), &e.err);
    ASSERT_ERR(cn_ice_write_batch(w, b, &e.err), CN_ETYPE, &e.err);
    ASSERT_CONTAINS(cn_err_msg(&e.err), "\"user_id\" string, the table has \"user_id\" int64");
    cn_col_batch_free(b);
    cn_col_schema_free(s);
    cn_ice_write_free(w);
    /* a table needs a ds string column */
    cn_err_clear(&e.err);
    assert_int_equal(cn_col_schema_new(&s), 0);
    ASSERT_OK(cn_col_schema_add(s, "x", cn_col_type_prim(CN_COL_INT64), true, -1, &e.err), &e.err);
    ASSERT_ERR(cn_ice_table_create(e.c, "data", "nods", s, NULL, 0, &e.err), CN_EINVAL, &e.err);
    ASSERT_CONTAINS(cn_err_msg(&e.err), "needs a string column \"ds\"");
    cn_col_schema_free(s);
    env_close(&e);
}

static void gc_removes_only_orphans(void **state) {
    (void)state;
    Env e;
    env_open(&e);
    create_table(&e, "t");
    write_rows(&e, "t", CN_ICE_APPEND, 0, 30, D3, 3, 0);
    const char *d1[] = {"2023-12-01"};
    write_rows(&e, "t", CN_ICE_OVERWRITE, 0, 3, d1, 1, 0);
    char dir[600], orphan[700], meta_dir[600];
    snprintf(dir, sizeof dir, "%s/data.db/t/data/ds=2023-12-01", e.wh);
    snprintf(meta_dir, sizeof meta_dir, "%s/data.db/t/metadata", e.wh);
    uint32_t live_data = count_files(dir), live_meta = count_files(meta_dir);
    assert_int_equal(live_data, 2); /* the replaced file stays for time travel */
    /* a crashed writer's file: a UUIDv7 name from an hour ago */
    snprintf(orphan, sizeof orphan, "%s/%s", dir, "00000000-0000-7000-8000-000000000000.parquet");
    ASSERT_OK(cn_fs_write_atomic(orphan, "x", 1, &e.err), &e.err);
    uint64_t n = 99;
    /* too young for a 100-year grace period? its UUID says 1970, so it is old */
    ASSERT_OK(cn_ice_gc(e.c, "data", "t", INT64_C(3600000), NULL, NULL, &n, &e.err), &e.err);
    assert_int_equal(n, 1);
    assert_false(cn_fs_exists(orphan));
    assert_int_equal(count_files(dir), live_data);
    assert_int_equal(count_files(meta_dir), live_meta);
    /* a fresh orphan survives the grace period, then goes */
    char uuid_name[700];
    snprintf(uuid_name, sizeof uuid_name, "%s/stray.tmp", dir);
    ASSERT_OK(cn_fs_write_atomic(uuid_name, "y", 1, &e.err), &e.err);
    ASSERT_OK(cn_ice_gc(e.c, "data", "t", INT64_C(3600000), NULL, NULL, &n, &e.err), &e.err);
    assert_int_equal(n, 0);
    ASSERT_OK(cn_ice_gc(e.c, "data", "t", 0, NULL, NULL, &n, &e.err), &e.err);
    assert_int_equal(n, 1);
    Sum s = scan_sum(&e, "t", NULL);
    assert_int_equal(s.rows, 23);
    CnIceScanOpts first = {.as_of_ms = INT64_MAX / 2};
    assert_int_equal(scan_sum(&e, "t", &first).rows, 23);
    env_close(&e);
}

static void unreachable_catalog_names_uri(void **state) {
    (void)state;
    Env e;
    env_open(&e);
    CnIceCatalog *c = NULL;
    CnErr err = CN_ERR_INIT;
    char uri[600];
    snprintf(uri, sizeof uri, "sqlite:%s/no/such/dir/catalog.db", e.dir);
    assert_true(cn_ice_catalog_open(e.wh, uri, &c, &err) < 0);
    ASSERT_CONTAINS(cn_err_msg(&err), uri);
    assert_null(c);
    cn_err_clear(&err);
    assert_true(cn_ice_catalog_open(e.wh, "postgresql://chronon:secret@127.0.0.1:1/db?connect_timeout=2", &c, &err) < 0);
    ASSERT_CONTAINS(cn_err_msg(&err), "postgresql://chronon:***@127.0.0.1:1/db");
    assert_null(strstr(cn_err_msg(&err), "secret"));
    cn_err_clear(&err);
    ASSERT_ERR(cn_ice_catalog_open(e.wh, "mysql://x", &c, &err), CN_EINVAL, &err);
    ASSERT_CONTAINS(cn_err_msg(&err), "unsupported URI");
    env_close(&e);
}

static void all_types_round_trip(void **state) {
    (void)state;
    Env e;
    env_open(&e);
    CnSchema *s = NULL;
    assert_int_equal(cn_col_schema_new(&s), 0);
    const CnType *lt = cn_col_type_list(&s->arena, cn_col_type_prim(CN_COL_INT64), true, -1);
    const CnType *mt = cn_col_type_map(&s->arena, cn_col_type_prim(CN_COL_STRING),
                                       cn_col_type_prim(CN_COL_FLOAT64), true, -1, -1);
    struct { const char *n; const CnType *t; } cols[] = {
        {"b", cn_col_type_prim(CN_COL_BOOL)},      {"i", cn_col_type_prim(CN_COL_INT32)},
        {"l", cn_col_type_prim(CN_COL_INT64)},     {"f", cn_col_type_prim(CN_COL_FLOAT32)},
        {"d", cn_col_type_prim(CN_COL_FLOAT64)},   {"day", cn_col_type_prim(CN_COL_DATE)},
        {"ts", cn_col_type_prim(CN_COL_TIMESTAMP)}, {"s", cn_col_type_prim(CN_COL_STRING)},
        {"bin", cn_col_type_prim(CN_COL_BINARY)},  {"tags", lt}, {"m", mt},
        {"ds", cn_col_type_prim(CN_COL_STRING)}};
    for (size_t i = 0; i < CN_ARRAY_LEN(cols); i++)
        ASSERT_OK(cn_col_schema_add(s, cols[i].n, cols[i].t, true, -1, &e.err), &e.err);
    ASSERT_OK(cn_ice_table_create(e.c, "data", "types", s, NULL, 0, &e.err), &e.err);
    cn_col_schema_free(s);
    CnIceTable *t = NULL;
    ASSERT_OK(cn_ice_table_load(e.c, "data", "types", &t, &e.err), &e.err);
    const CnSchema *ts = cn_ice_table_schema(t);
    /* nested ids come after the top-level ones */
    assert_int_equal(ts->fields[9].type->children[0].field_id, 13);
    assert_int_equal(ts->fields[10].type->children[1].field_id, 15);
    cn_ice_table_free(t);
    CnIceWrite *w = NULL;
    ASSERT_OK(cn_ice_write_begin(e.c, "data", "types", CN_ICE_APPEND, &w, &e.err), &e.err);
    CnBatch *b = NULL;
    ASSERT_OK(cn_col_batch_new(cn_ice_write_schema(w), &b, &e.err), &e.err);
    for (int r = 0; r < 2; r++) {
        CnVec *v = b->cols;
        if (r == 1) {
            for (int k = 0; k < 11; k++) cn_col_vec_append_null(&v[k]);
        } else {
            cn_col_vec_append_bool(&v[0], true);
            cn_col_vec_append_i32(&v[1], -7);
            cn_col_vec_append_i64(&v[2], INT64_C(1) << 40);
            cn_col_vec_append_f32(&v[3], 0.5f);
            cn_col_vec_append_f64(&v[4], -2.25);
            cn_col_vec_append_i32(&v[5], 19692);
            cn_col_vec_append_i64(&v[6], INT64_C(1701388800123));
            cn_col_vec_append_str(&v[7], "héllo", 6);
            cn_col_vec_append_str(&v[8], "\0\1\2", 3);
            cn_col_vec_append_i64(&v[9].child[0], 1);
            cn_col_vec_append_null(&v[9].child[0]);
            cn_col_vec_close_list(&v[9]);
            cn_col_vec_append_str(&v[10].child[0], "k", 1);
            cn_col_vec_append_f64(&v[10].child[1], 3.5);
            cn_col_vec_close_list(&v[10]);
        }
        cn_col_vec_append_str(&v[11], "2023-12-01", 10);
    }
    ASSERT_OK(cn_col_batch_sync_rows(b, &e.err), &e.err);
    ASSERT_OK(cn_ice_write_batch(w, b, &e.err), &e.err);
    ASSERT_OK(cn_ice_write_commit(w, NULL, &e.err), &e.err);
    ASSERT_OK(cn_ice_table_load(e.c, "data", "types", &t, &e.err), &e.err);
    CnIceScan *sc = NULL;
    ASSERT_OK(cn_ice_scan_open(e.c, t, NULL, &sc, &e.err), &e.err);
    const CnBatch *o = NULL;
    ASSERT_OK(cn_ice_scan_next(sc, &o, &e.err), &e.err);
    assert_non_null(o);
    assert_int_equal(o->n_rows, 2);
    for (uint32_t k = 0; k < 12; k++) {
        char t1[64], t2[64];
        if (!cn_col_type_equal(o->cols[k].type, b->cols[k].type))
            fail_msg("column %u: %s vs %s", k, cn_col_type_name(o->cols[k].type, t1, sizeof t1),
                     cn_col_type_name(b->cols[k].type, t2, sizeof t2));
        for (uint32_t r = 0; r < 2; r++) {
            assert_int_equal(cn_col_vec_is_valid(&o->cols[k], r), cn_col_vec_is_valid(&b->cols[k], r));
            if (k < 9 && cn_col_vec_is_valid(&o->cols[k], r)) {
                CnScalar x, y;
                cn_col_vec_get(&o->cols[k], r, &x);
                cn_col_vec_get(&b->cols[k], r, &y);
                if (k >= 7) {
                    assert_int_equal(x.v.s.len, y.v.s.len);
                    assert_memory_equal(x.v.s.p, y.v.s.p, x.v.s.len);
                } else {
                    assert_memory_equal(&x.v, &y.v, cn_col_type_width(x.type));
                }
            }
        }
    }
    const CnVec *tags = &o->cols[9];
    assert_int_equal(tags->offsets[1], 2);
    assert_int_equal(((const int64_t *)tags->child[0].values)[0], 1);
    assert_false(cn_col_vec_is_valid(&tags->child[0], 1));
    assert_true(((const double *)o->cols[10].child[1].values)[0] == 3.5);
    cn_ice_scan_close(sc);
    /* the metadata says timestamptz (UTC instants) */
    char *text = NULL;
    size_t len = 0;
    ASSERT_OK(cn_fs_read_all(cn_ice_table_metadata_location(t) + 7, &text, &len, &e.err), &e.err);
    ASSERT_CONTAINS(text, "\"type\": \"timestamptz\"");
    ASSERT_CONTAINS(text, "\"element-id\": 13");
    cn_free(text);
    cn_ice_table_free(t);
    cn_col_batch_free(b);
    cn_ice_write_free(w);
    env_close(&e);
}

/* Damaged metadata or manifests give errors naming the file, never a crash. */
static void corrupt_files_are_reported(void **state) {
    (void)state;
    Env e;
    env_open(&e);
    create_table(&e, "t");
    write_rows(&e, "t", CN_ICE_APPEND, 0, 9, D3, 3, 0);
    CnIceTable *t = NULL;
    ASSERT_OK(cn_ice_table_load(e.c, "data", "t", &t, &e.err), &e.err);
    char meta[1024];
    snprintf(meta, sizeof meta, "%s", cn_ice_table_metadata_location(t) + 7);
    char *text = NULL;
    size_t len = 0;
    ASSERT_OK(cn_fs_read_all(meta, &text, &len, &e.err), &e.err);
    /* the manifest list of the snapshot, found in the metadata text */
    char *ml = strstr(text, "\"manifest-list\": \"file://");
    assert_non_null(ml);
    char list[1024];
    snprintf(list, sizeof list, "%.*s", (int)(strchr(ml + 26, '"') - (ml + 24)), ml + 24);
    cn_ice_table_free(t);
    /* truncated manifest list: scans fail cleanly, naming it */
    char *avro = NULL;
    size_t alen = 0;
    ASSERT_OK(cn_fs_read_all(list, &avro, &alen, &e.err), &e.err);
    ASSERT_OK(cn_fs_write_atomic(list, avro, alen / 2, &e.err), &e.err);
    CnIceScan *sc = NULL;
    ASSERT_OK(cn_ice_table_load(e.c, "data", "t", &t, &e.err), &e.err);
    CnErr err = CN_ERR_INIT;
    assert_true(cn_ice_scan_open(e.c, t, NULL, &sc, &err) < 0);
    ASSERT_CONTAINS(cn_err_msg(&err), "manifest list");
    ASSERT_CONTAINS(cn_err_msg(&err), list);
    cn_ice_table_free(t);
    ASSERT_OK(cn_fs_write_atomic(list, avro, alen, &e.err), &e.err);
    cn_free(avro);
    /* metadata that is not JSON, then JSON of the wrong version */
    ASSERT_OK(cn_fs_write_atomic(meta, text, len / 3, &e.err), &e.err);
    cn_err_clear(&err);
    assert_true(cn_ice_table_load(e.c, "data", "t", &t, &err) < 0);
    ASSERT_CONTAINS(cn_err_msg(&err), meta);
    const char *v3 = "{\"format-version\": 3, \"location\": \"file:///x\"}";
    ASSERT_OK(cn_fs_write_atomic(meta, v3, strlen(v3), &e.err), &e.err);
    cn_err_clear(&err);
    ASSERT_ERR(cn_ice_table_load(e.c, "data", "t", &t, &err), CN_ECORRUPT, &err);
    ASSERT_CONTAINS(cn_err_msg(&err), "format-version 3, expected 2");
    /* a missing metadata file names the table */
    unlink(meta);
    cn_err_clear(&err);
    assert_true(cn_ice_table_load(e.c, "data", "t", &t, &err) < 0);
    ASSERT_CONTAINS(cn_err_msg(&err), "table data.t: metadata file named by the catalog");
    cn_free(text);
    env_close(&e);
}

/* Past 100 manifests a commit merges the older ones; every snapshot still reads. */
static void many_commits_merge_manifests(void **state) {
    (void)state;
    Env e;
    env_open(&e);
    create_table(&e, "t");
    int64_t first = 0;
    for (int i = 0; i < 103; i++) {
        int64_t id = write_rows(&e, "t", CN_ICE_APPEND, i * 10, 2, D3 + (i % 3), 1, 0);
        if (i == 0) first = id;
    }
    const char *d1[] = {"2023-12-01"};
    write_rows(&e, "t", CN_ICE_OVERWRITE, 5000, 1, d1, 1, 0);
    char meta_dir[600];
    snprintf(meta_dir, sizeof meta_dir, "%s/data.db/t/metadata", e.wh);
    assert_true(file_exists_under(meta_dir, "-merged.avro"));
    Sum s = scan_sum(&e, "t", NULL);
    /* 103 appends of 2 rows; day 1 (35 appends) replaced by one row */
    assert_int_equal(s.rows, 206 - 70 + 1);
    CnIceScanOpts o = {.snapshot_id = first};
    assert_int_equal(scan_sum(&e, "t", &o).rows, 2);
    CnIceTable *t = NULL;
    ASSERT_OK(cn_ice_table_load(e.c, "data", "t", &t, &e.err), &e.err);
    for (uint32_t i = 0; i < cn_ice_table_n_snapshots(t); i += 17) {
        CnIceSnapshot sn;
        cn_ice_table_snapshot(t, i, &sn);
        CnIceScanOpts at = {.snapshot_id = sn.id};
        assert_int_equal(scan_sum(&e, "t", &at).rows, sn.total_records);
    }
    cn_ice_table_free(t);
    env_close(&e);
}

/* One batch of (user_id, amount, ds) rows: ids[i] (INT64_MIN: null) in partition dss[i]. */
static void sort_batch(CnIceWrite *w, const int64_t *ids, const char *const *dss, uint32_t n, bool sealed) {
    CnErr err = CN_ERR_INIT;
    CnBatch *b = NULL;
    ASSERT_OK(cn_col_batch_new(cn_ice_write_schema(w), &b, &err), &err);
    for (uint32_t i = 0; i < n; i++) {
        if (ids[i] == INT64_MIN) cn_col_vec_append_null(&b->cols[0]);
        else cn_col_vec_append_i64(&b->cols[0], ids[i]);
        cn_col_vec_append_f64(&b->cols[1], 1.0);
        cn_col_vec_append_str(&b->cols[2], dss[i], 10);
    }
    ASSERT_OK(cn_col_batch_sync_rows(b, &err), &err);
    if (sealed) ASSERT_OK(cn_ice_write_batch_sealed(w, b, dss[0], &err), &err);
    else ASSERT_OK(cn_ice_write_batch(w, b, &err), &err);
    cn_col_batch_free(b);
}

/* One data file of a table's current snapshot as its manifest lists it: partition,
 * records and the sort order id it records (-1: null). */
typedef struct FileEntry {
    char ds[11];
    int64_t records;
    json_int_t sort_order_id;
} FileEntry;

/* The data files of data.<name>'s current snapshot (at most cap into out) and, in *oid,
 * the table's default sort order id. Returns how many the manifests list. */
static uint32_t file_entries(Env *e, const char *name, FileEntry *out, uint32_t cap, json_int_t *oid) {
    CnIceTable *t = NULL;
    ASSERT_OK(cn_ice_table_load(e->c, "data", name, &t, &e->err), &e->err);
    *oid = json_integer_value(json_object_get(t->meta, "default-sort-order-id"));
    json_t *sn = cn_ice__meta_snapshot(t->meta, cn_ice_table_current_snapshot(t));
    CnArena a;
    cn_arena_init(&a, 0);
    CnIceManifest *ms = NULL;
    uint32_t n_ms = 0, seen = 0;
    ASSERT_OK(cn_ice__read_manifest_list(e->c, &a, json_string_value(json_object_get(sn, "manifest-list")), &ms, &n_ms,
                                         &e->err), &e->err);
    for (uint32_t i = 0; i < n_ms; i++) {
        CnIceDataFile *fs = NULL;
        uint32_t nf = 0;
        ASSERT_OK(cn_ice__read_manifest(e->c, &a, &ms[i], true, &fs, &nf, &e->err), &e->err);
        for (uint32_t k = 0; k < nf; k++, seen++) {
            json_t *so = json_object_get(fs[k].raw, "sort_order_id");
            if (seen < cap) {
                memcpy(out[seen].ds, fs[k].ds, sizeof out[seen].ds);
                out[seen].records = fs[k].records;
                out[seen].sort_order_id = json_is_integer(so) ? json_integer_value(so) : -1;
            }
            json_decref(fs[k].raw);
        }
    }
    cn_arena_fini(&a);
    cn_ice_table_free(t);
    return seen;
}

/* A table with a sort order: each data file records its id (manifest data_file field
 * 140) only when its rows came in that order, across batches too (nulls first); the
 * order's id survives a hand-over between processes (finish_files/add_files). */
static void sort_order_tracks_each_file(void **state) {
    (void)state;
    Env e;
    env_open(&e);
    CnSchema *s = base_schema();
    ASSERT_OK(cn_ice_table_create(e.c, "data", "so", s, NULL, 0, &e.err), &e.err);
    const char *col = "user_id";
    ASSERT_OK(cn_ice_table_set_sort_order(e.c, "data", "so", &col, 1, &e.err), &e.err);
    static const char *const A = "2024-01-01", *const B = "2024-01-02", *const C = "2024-01-03",
                             *const D = "2024-01-04", *const E = "2024-01-05", *const F = "2024-01-06";
    CnIceWrite *w = NULL, *w2 = NULL;
    ASSERT_OK(cn_ice_write_begin(e.c, "data", "so", CN_ICE_APPEND, &w, &e.err), &e.err);
    /* A sorted over two batches, B broken at the batch edge, C inside a batch, D with a
     * null first, E a null after a value; F (sealed batches) in the other process */
    const int64_t b1[] = {1, 2, 10, 20, 3, 1, INT64_MIN, 4, 7};
    const char *const d1[] = {A, A, B, B, C, C, D, D, E};
    sort_batch(w, b1, d1, 9, false);
    const int64_t b2[] = {2, 5, 15, 9, INT64_MIN};
    const char *const d2[] = {A, A, B, D, E};
    sort_batch(w, b2, d2, 5, false);
    ASSERT_OK(cn_ice_write_begin(e.c, "data", "so", CN_ICE_APPEND, &w2, &e.err), &e.err);
    const int64_t b3[] = {5, 6, 6};
    const char *const d3[] = {F, F, F};
    sort_batch(w2, b3, d3, 3, true);
    CnBuf desc = CN_BUF_INIT;
    ASSERT_OK(cn_ice_write_finish_files(w2, &desc, &e.err), &e.err);
    ASSERT_OK(cn_ice_write_add_files(w, desc.data, desc.len, &e.err), &e.err);
    ASSERT_OK(cn_ice_write_commit(w, NULL, &e.err), &e.err);
    cn_buf_fini(&desc);
    cn_ice_write_free(w2);
    cn_ice_write_free(w);

    FileEntry fe[8];
    json_int_t oid = 0;
    assert_int_equal(file_entries(&e, "so", fe, 8, &oid), 6);
    assert_true(oid > 0);
    for (uint32_t k = 0; k < 6; k++) {
        bool sorted = !strcmp(fe[k].ds, A) || !strcmp(fe[k].ds, D) || !strcmp(fe[k].ds, F);
        if (sorted && fe[k].sort_order_id != oid) fail_msg("ds=%s: sort_order_id is not %d", fe[k].ds, (int)oid);
        if (!sorted && fe[k].sort_order_id != -1) fail_msg("ds=%s: rows out of order but sort_order_id is set", fe[k].ds);
    }
    cn_col_schema_free(s);
    env_close(&e);
}

/* Batches of several partitions written at once (cn_ice_write_batches_sealed): with two
 * threads and enough rows the files are encoded side by side, one per partition, and
 * read back as written; each file records the sort order only when its rows are in it
 * (the third is not). Two batches of one partition go one after the other, as two
 * files. */
static void batches_sealed_files_on_threads(void **state) {
    (void)state;
    setenv("CN_THREADS", "2", 1);
    Env e;
    env_open(&e);
    CnSchema *s = base_schema();
    ASSERT_OK(cn_ice_table_create(e.c, "data", "bs", s, NULL, 0, &e.err), &e.err);
    const char *col = "user_id";
    ASSERT_OK(cn_ice_table_set_sort_order(e.c, "data", "bs", &col, 1, &e.err), &e.err);
    static const char *const ds[] = {"2024-02-01", "2024-02-02", "2024-02-03", "2024-02-04", "2024-02-05"};
    enum { NB = 5, ROWS = 20000 };
    CnBatch *b[NB];
    int64_t user_sum = 0;
    for (uint32_t i = 0; i < NB; i++) {
        ASSERT_OK(cn_col_batch_new(s, &b[i], &e.err), &e.err);
        for (uint32_t r = 0; r < ROWS + i; r++) {
            int64_t u = i == 2 && r == 100 ? 5 : (int64_t)r * 3 + i; /* batch 2: one row out of order */
            cn_col_vec_append_i64(&b[i]->cols[0], u);
            cn_col_vec_append_f64(&b[i]->cols[1], (double)u * 0.5);
            cn_col_vec_append_str(&b[i]->cols[2], ds[i], 10);
            user_sum += u;
        }
        ASSERT_OK(cn_col_batch_sync_rows(b[i], &e.err), &e.err);
    }
    CnIceWrite *w = NULL;
    ASSERT_OK(cn_ice_write_begin(e.c, "data", "bs", CN_ICE_APPEND, &w, &e.err), &e.err);
    CnTestCapture cap;
    char log[1024];
    cn_test_capture_begin(&cap);
    int level = cn_log_level();
    cn_log_set_level(CN_LOG_DEBUG);
    int rc = cn_ice_write_batches_sealed(w, (const CnBatch *const *)b, ds, NB, &e.err);
    cn_log_set_level(level);
    cn_test_capture_end(&cap, log, sizeof log);
    ASSERT_OK(rc, &e.err);
    ASSERT_CONTAINS(log, "5 files written on 2 threads");
    /* one partition twice: one file after the other */
    const CnBatch *twice[2] = {b[0], b[0]};
    const char *const same[2] = {ds[0], ds[0]};
    ASSERT_OK(cn_ice_write_batches_sealed(w, twice, same, 2, &e.err), &e.err);
    ASSERT_OK(cn_ice_write_commit(w, NULL, &e.err), &e.err);
    cn_ice_write_free(w);
    user_sum += 2 * user_sum_of(b[0]);
    Sum got = scan_sum(&e, "bs", NULL);
    assert_int_equal(got.files, NB + 2);
    assert_int_equal(got.rows, (int64_t)NB * ROWS + 10 + 2 * ROWS);
    assert_int_equal(got.user_sum, user_sum);

    FileEntry fe[NB + 2];
    json_int_t oid = 0;
    assert_int_equal(file_entries(&e, "bs", fe, NB + 2, &oid), NB + 2);
    assert_true(oid > 0);
    for (uint32_t k = 0; k < NB + 2; k++) {
        assert_int_equal(fe[k].sort_order_id, strcmp(fe[k].ds, ds[2]) ? oid : -1);
        assert_int_equal(fe[k].records, ROWS + (fe[k].ds[9] - '1'));
    }
    for (uint32_t i = 0; i < NB; i++) cn_col_batch_free(b[i]);
    cn_col_schema_free(s);
    env_close(&e);
    unsetenv("CN_THREADS");
}

CN_TEST_MAIN(cmocka_unit_test(names_are_validated), cmocka_unit_test(sort_order_tracks_each_file),
             cmocka_unit_test(batches_sealed_files_on_threads), cmocka_unit_test(many_commits_merge_manifests), cmocka_unit_test(corrupt_files_are_reported), cmocka_unit_test(all_types_round_trip), cmocka_unit_test(create_append_scan),
             cmocka_unit_test(overwrite_replaces_only_its_partitions),
             cmocka_unit_test(partitions_come_from_manifests),
             cmocka_unit_test(time_travel_by_id_and_timestamp),
             cmocka_unit_test(add_column_reads_old_files_as_null),
             cmocka_unit_test(pruning_and_projection), cmocka_unit_test(claimed_files_split_among_scans),
             cmocka_unit_test(properties_round_trip),
             cmocka_unit_test(codec_property),
             cmocka_unit_test(data_files_v2_delta),
             cmocka_unit_test(not_found_suggests_names),
             cmocka_unit_test(racing_writers_merge_or_conflict),
             cmocka_unit_test(uncommitted_write_leaves_nothing),
             cmocka_unit_test(sealed_partitions_commit_once),
             cmocka_unit_test(wrong_batch_schema_is_refused),
             cmocka_unit_test(gc_removes_only_orphans),
             cmocka_unit_test(unreachable_catalog_names_uri))
