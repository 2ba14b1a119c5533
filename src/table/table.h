/* table.h: Iceberg v2 tables in a warehouse, and the catalog that points at them.
 * A table `ns.name` lives at <warehouse>/ns.db/name/ with metadata/ (vN-<uuid>.metadata.json,
 * snap-*.avro manifest lists, *-m*.avro manifests) and data/ds=YYYY-MM-DD/<uuid>.parquet. Every
 * table is partitioned by identity on the string column `ds`.
 * COMMIT PROTOCOL: a writer writes data files (unique names), then manifests and the
 *   manifest list, then a new metadata file, then swaps the catalog's metadata_location
 *   from the version it started on to the new one (compare-and-swap). Nothing is visible
 *   before the swap. A writer that loses the race reloads and re-applies its change when
 *   it does not conflict (appends never do; an overwrite conflicts when another commit
 *   touched one of its ds partitions since it started) and otherwise fails with
 *   CN_ECONFLICT naming the table and the partitions.
 * Catalog layout is Iceberg's JDBC catalog (iceberg_tables, iceberg_namespace_properties),
 *   in SQLite ("sqlite:<path>") or PostgreSQL ("postgresql://..."). docs/tables.md has
 *   the details.
 * Test hook: CN_TEST_TABLE_ABORT_AT=data|manifests|metadata|before-cas|after-cas kills the
 *   writing process (SIGKILL) right after that step of a commit. Inert unless set.
 * THREADS: a catalog, table or scan has one owner thread at a time. Processes and
 *   machines may share a warehouse and catalog freely (that is what the CAS is for). */
#ifndef CN_TABLE_H
#define CN_TABLE_H

#include "base/compat.h"
#include "base/err.h"
#include "base/str.h"
#include "col/col.h"

typedef struct CnIceCatalog CnIceCatalog;
typedef struct CnIceTable CnIceTable;
typedef struct CnIceScan CnIceScan;
typedef struct CnIceWrite CnIceWrite;

/* Name of the partition column every table has. */
#define CN_ICE_DS "ds"

/* ---------------------------------------------------------------- catalog */

/* Opens the warehouse (a local absolute directory, file:///dir or s3://bucket/prefix;
 * a local one is created if missing) and the catalog URI ("sqlite:<path>",
 * "postgresql://..." or "postgres://..."), creating the catalog tables if needed.
 * OWNED: *out, cn_ice_catalog_close. Errors: CN_EINVAL (bad URI), CN_EREMOTE / CN_EIO
 * (catalog unreachable: the message names the URI, without its password). */
int cn_ice_catalog_open(const char *warehouse, const char *catalog, CnIceCatalog **out,
                        CnErr *err);
void cn_ice_catalog_close(CnIceCatalog *c); /* NULL-safe */
/* BORROWED until close: the warehouse root URI, and the catalog URI as given. */
const char *cn_ice_catalog_warehouse(const CnIceCatalog *c);
const char *cn_ice_catalog_uri(const CnIceCatalog *c);

/* Splits "ns.name" (or "name", meaning namespace "default") into ns and name and
 * validates both: 1-128 characters of [A-Za-z0-9_-], not starting with '-', so a name
 * can never leave the warehouse. CN_EINVAL names the bad part. */
int cn_ice_name_parse(const char *full, char ns[129], char name[129], CnErr *err);

/* Calls fn for each table (ns NULL: all namespaces), sorted by namespace then name. */
typedef int (*CnIceNameFn)(void *ud, const char *ns, const char *name);
int cn_ice_catalog_list(CnIceCatalog *c, const char *ns, CnIceNameFn fn, void *ud, CnErr *err);

/* ------------------------------------------------------------------ tables */

/* Creates table ns.name with the given columns; the namespace is created on demand.
 * The schema must have a string column "ds" (the partition column); field ids are
 * assigned here (the schema's own are ignored). props: n_props key/value pairs (may be
 * 0). Errors: CN_EEXISTS (the table exists), CN_EINVAL (bad name, no ds column),
 * CN_EUNSUPPORTED (a struct column), catalog and storage errors. */
int cn_ice_table_create(CnIceCatalog *c, const char *ns, const char *name,
                        const CnSchema *schema, const char *const *props, uint32_t n_props,
                        CnErr *err);
/* Loads the current version. OWNED: *out, cn_ice_table_free. CN_ENOTFOUND names the
 * table and lists the tables of its namespace (or the namespaces) with similar names. */
int cn_ice_table_load(CnIceCatalog *c, const char *ns, const char *name, CnIceTable **out,
                      CnErr *err);
void cn_ice_table_free(CnIceTable *t); /* NULL-safe */
/* Removes the table from the catalog if it has no snapshot and nobody committed to it
 * since (its metadata location is still metadata_location), and deletes that metadata
 * file: undoes a create whose first write failed. CN_ECONFLICT when it changed. */
int cn_ice_table_drop_unused(CnIceCatalog *c, const char *ns, const char *name,
                             const char *metadata_location, CnErr *err);
bool cn_ice_table_exists(CnIceCatalog *c, const char *ns, const char *name);

/* Accessors. BORROWED: valid until cn_ice_table_free. */
const char *cn_ice_table_name(const CnIceTable *t);              /* "ns.name" */
const char *cn_ice_table_location(const CnIceTable *t);          /* table root URI */
const char *cn_ice_table_metadata_location(const CnIceTable *t); /* current metadata file */
const CnSchema *cn_ice_table_schema(const CnIceTable *t);        /* current schema */
/* Property value or NULL. */
const char *cn_ice_table_property(const CnIceTable *t, const char *key);

typedef struct CnIceSnapshot {
    int64_t id;
    int64_t parent_id;       /* -1 for the first */
    int64_t sequence_number;
    int64_t timestamp_ms;
    const char *operation;   /* "append", "overwrite", ... BORROWED */
    int64_t added_files, deleted_files, added_records, deleted_records, total_records;
} CnIceSnapshot;

/* Current snapshot id, -1 when the table has no data yet. */
int64_t cn_ice_table_current_snapshot(const CnIceTable *t);
/* Snapshots in commit order (the snapshot log). i < n. */
uint32_t cn_ice_table_n_snapshots(const CnIceTable *t);
void cn_ice_table_snapshot(const CnIceTable *t, uint32_t i, CnIceSnapshot *out);

/* Schema evolution: appends a nullable column with a new field id (older files read it
 * as null). CN_EEXISTS when the name is taken. Committed with the CAS protocol. */
int cn_ice_table_add_column(CnIceCatalog *c, const char *ns, const char *name,
                            const char *column, const CnType *type, CnErr *err);
/* Sets (value non-NULL) or removes (value NULL) properties, one commit. */
int cn_ice_table_set_properties(CnIceCatalog *c, const char *ns, const char *name,
                                const char *const *keys, const char *const *values,
                                uint32_t n, CnErr *err);

/* Sort order (Iceberg "sort-orders", "default-sort-order-id"): declares that data files
 * are written sorted by columns cols[0..n) ascending, nulls first, identity transforms.
 * Adds the order (or reuses an equal one) and makes it the default, one commit; n == 0
 * sets the unsorted order 0. CN_ENOTFOUND names a column the table lacks. Readers must
 * treat the order as a hint: files written by other engines may break it. */
int cn_ice_table_set_sort_order(CnIceCatalog *c, const char *ns, const char *name, const char *const *cols,
                                uint32_t n, CnErr *err);
/* Columns of the table's default sort order, in order, into names[0..*n) (at most max;
 * BORROWED, valid until cn_ice_table_free). Only a prefix of ascending identity fields
 * counts: a field with another transform or direction ends it. *n = 0 when unsorted. */
void cn_ice_table_sort_order(const CnIceTable *t, const char **names, uint32_t max, uint32_t *n);

/* ------------------------------------------------------------------ writes */

typedef enum CnIceWriteMode {
    CN_ICE_APPEND = 0,    /* add files */
    CN_ICE_OVERWRITE = 1, /* replace every ds partition the write touches */
} CnIceWriteMode;

/* Starts a write on the table's current version. OWNED: *out, cn_ice_write_free
 * (which removes the data files of a write that was not committed). */
int cn_ice_write_begin(CnIceCatalog *c, const char *ns, const char *name, CnIceWriteMode mode,
                       CnIceWrite **out, CnErr *err);
/* The schema batches must have (the table's current schema). BORROWED until free. */
const CnSchema *cn_ice_write_schema(const CnIceWrite *w);
/* Writes the batch's rows (selected ones when b->sel is set) into one data file per ds
 * value. Column types must match the write schema (CN_ETYPE names the column); a null
 * or malformed ds is CN_EINVAL naming the row's value. */
int cn_ice_write_batch(CnIceWrite *w, const CnBatch *b, CnErr *err);
/* Also overwrite these ds partitions even when no row lands in them (a run that
 * produced an empty day). Overwrite mode only. */
int cn_ice_write_touch_partition(CnIceWrite *w, const char *ds, CnErr *err);
/* Finishes the data file(s) of partition ds written so far (last row group, footer;
 * uploaded for S3) and releases their buffers: a writer producing partitions one after
 * another seals each when done, so its memory is bounded by one partition's row group,
 * not by the whole write. Rows of ds written later go to a new file of the partition.
 * Nothing is visible before the commit; cn_ice_write_free without a commit removes
 * sealed files as well. No file for ds: nothing to do. Errors: those of the file. */
int cn_ice_write_seal_partition(CnIceWrite *w, const char *ds, CnErr *err);
/* cn_ice_write_batch then cn_ice_write_seal_partition(ds), for a batch whose rows all
 * have partition ds: when no file of ds is open, the batch is encoded straight into a new
 * file (one row group when it fits) without being copied first. */
int cn_ice_write_batch_sealed(CnIceWrite *w, const CnBatch *b, const char *ds, CnErr *err);
/* cn_ice_write_batch_sealed of batch b[i] in partition ds[i] for i = 0..n-1, the files
 * encoded and written on several threads at once (each file on one) when there are
 * several, big enough, each going straight into a new file of a partition of its own;
 * else one after another. The files and their descriptions are those of the calls one
 * by one (but for their names), described in batch order. */
int cn_ice_write_batches_sealed(CnIceWrite *w, const CnBatch *const *b, const char *const *ds, uint32_t n,
                                CnErr *err);
/* Property set with the commit (copied). */
int cn_ice_write_set_property(CnIceWrite *w, const char *key, const char *value, CnErr *err);
/* Finishes the files and commits one snapshot (append or overwrite). *snapshot_id
 * (optional OUT) gets the new snapshot's id. A write with no rows and no touched
 * partition commits nothing and returns 0 with *snapshot_id = -1. CN_ECONFLICT as
 * described at the top. */
int cn_ice_write_commit(CnIceWrite *w, int64_t *snapshot_id, CnErr *err);
void cn_ice_write_free(CnIceWrite *w); /* NULL-safe */
/* Distributed writes (src/dist: every process writes its own files, one commits them).
 * finish_files finishes this write's data files (uploading them) and appends a
 * description of them (paths, partitions, counts, column statistics) to out; the write
 * is then done: it commits nothing and free no longer removes those files. add_files
 * adds the files described by another process's finish_files on the same table to this
 * write, before its commit; an overwrite also replaces their partitions; a write freed
 * without a commit removes them too. CN_ECORRUPT for a bad description. */
int cn_ice_write_finish_files(CnIceWrite *w, CnBuf *out, CnErr *err);
int cn_ice_write_add_files(CnIceWrite *w, const void *desc, size_t len, CnErr *err);

/* One ds partition of a snapshot, summed over its live data files. */
typedef struct CnIcePartition {
    char ds[11];
    uint32_t files;
    int64_t records;         /* record_count of the manifests' entries */
    int64_t bytes;           /* file_size_in_bytes */
} CnIcePartition;

/* The ds partitions of a snapshot (0: current) in ds order: what a partition sensor,
 * SHOW PARTITIONS and hole detection ask. Reads the manifest list and manifests only,
 * never a data file (they may be large, remote, or already gone). fn's non-zero
 * return stops and is returned. CN_ENOTFOUND for an unknown snapshot id. */
typedef int (*CnIcePartFn)(void *ud, const CnIcePartition *p);
int cn_ice_table_partitions(CnIceCatalog *c, const CnIceTable *t, int64_t snapshot_id,
                            CnIcePartFn fn, void *ud, CnErr *err);
/* The same as an array, restricted to ds in [ds_lo, ds_hi] (NULL: unbounded; manifests
 * whose ds summary lies outside are not read). OWNED: *out, cn_free (NULL when *n = 0). */
int cn_ice_table_partition_list(CnIceCatalog *c, const CnIceTable *t, int64_t snapshot_id,
                                const char *ds_lo, const char *ds_hi, CnIcePartition **out,
                                uint32_t *n, CnErr *err);

/* ------------------------------------------------------------------- scans */

typedef struct CnIceScanOpts {
    int64_t snapshot_id;         /* 0: current (or as_of_ms) */
    int64_t as_of_ms;            /* 0: none; else the last snapshot committed at or before */
    const char *ds_lo, *ds_hi;   /* inclusive partition range; NULL = unbounded */
    const char *const *columns;  /* projection by name, in this order; NULL = all */
    uint32_t n_columns;
    uint32_t batch_rows;         /* 0 = 65536 */
    /* Distributed scans (src/dist): shard_n > 0 reads only the planned files whose index
     * i (in the plan's deterministic order) has i % shard_n == shard_i, so shard_n
     * processes planning the same snapshot read disjoint files that together are all. */
    uint32_t shard_n, shard_i;
    /* With shard_n > 0: every planned file is read, but only its row groups g with
     * g % shard_n == shard_i (threads splitting few large files). */
    bool shard_row_groups;
    /* claim (NULL: every planned file is read): asked before each planned file is
     * opened, with its index in the plan and its record count; false skips the file.
     * Scans of one plan on several threads, sharing a claim that grants each file once,
     * split the files as they go: each takes the next file when done with one, so a
     * slow file or thread does not hold the others to an even share. */
    bool (*claim)(void *ud, uint32_t file, int64_t records);
    void *claim_ud;
} CnIceScanOpts;

/* Plans a scan: picks the snapshot, prunes manifests and files by ds. Reads file by file.
 * opts may be NULL. OWNED: *out, cn_ice_scan_close. CN_ENOTFOUND for an unknown snapshot
 * id, a timestamp before the first snapshot, or a column the table lacks (the message
 * lists the columns). */
int cn_ice_scan_open(CnIceCatalog *c, const CnIceTable *t, const CnIceScanOpts *opts,
                     CnIceScan **out, CnErr *err);
/* Schema of the batches (the projection). BORROWED until close. */
const CnSchema *cn_ice_scan_schema(const CnIceScan *s);
/* Data files the scan will read (after pruning), and their total rows. */
uint32_t cn_ice_scan_n_files(const CnIceScan *s);
int64_t cn_ice_scan_n_records(const CnIceScan *s);
/* Next batch or *out = NULL at the end. BORROWED: valid until the next call or close.
 * Columns a file lacks (added later) read as null. */
int cn_ice_scan_next(CnIceScan *s, const CnBatch **out, CnErr *err);
void cn_ice_scan_close(CnIceScan *s); /* NULL-safe */
/* The ds partition value of the file the last batch came from (a batch never spans
 * files; every row of it has this ds, as the identity partition guarantees), or NULL
 * when the file's partition value is null or no batch was returned. BORROWED until the
 * next cn_ice_scan_next. Lets a reader group or filter by ds without decoding it. */
const char *cn_ice_scan_batch_ds(const CnIceScan *s);
/* The ds partition value (NULL when null) and record count of the scan's i-th file
 * (i < cn_ice_scan_n_files, in the order the scan reads them), from the manifests: every
 * row of a file with a partition value has that ds. BORROWED until close. */
const char *cn_ice_scan_file_ds(const CnIceScan *s, uint32_t i, int64_t *records);
/* Index, in the unsharded plan, of the file the last batch came from (0 before the
 * first batch): with a row's position in its file, a total order of the rows that does
 * not depend on shard_n. */
uint32_t cn_ice_scan_batch_file(const CnIceScan *s);
/* Row group, in its file, of the last batch (0 before the first): with the file, the
 * batch's place in the unsharded scan when row groups are sharded. */
uint32_t cn_ice_scan_batch_row_group(const CnIceScan *s);

/* ------------------------------------------------------------------- views */

/* Views live in the catalog beside tables (iceberg_type 'VIEW', Iceberg view metadata;
 * view.c has the layout); a view and a table cannot share a name. */

/* CREATE OR REPLACE VIEW ns.name: creates the view, or adds a version with this SQL
 * (Spark dialect) and result schema (primitive columns; ids are assigned here) and
 * makes it current. props: n_props key/value pairs merged into the view's properties.
 * Errors: CN_EINVAL (bad name, empty SQL), CN_EEXISTS (a table has the name),
 * CN_EUNSUPPORTED (a nested column), CN_ECONFLICT (other writers kept winning),
 * catalog and storage errors. */
int cn_ice_view_replace(CnIceCatalog *c, const char *ns, const char *name, const char *sql,
                        const CnSchema *schema, const char *const *props, uint32_t n_props,
                        CnErr *err);
/* The current SQL of view ns.name and its default namespace (optional, may be NULL).
 * OWNED: *sql, *default_ns (cn_free). CN_ENOTFOUND when there is no such view. */
int cn_ice_view_get(CnIceCatalog *c, const char *ns, const char *name, char **sql,
                    char **default_ns, CnErr *err);
/* Calls fn for each view (ns NULL: all namespaces), sorted by namespace then name. */
int cn_ice_view_list(CnIceCatalog *c, const char *ns, CnIceNameFn fn, void *ud, CnErr *err);

/* --------------------------------------------------------------------- gc */

/* Removes files under the table's directory that no snapshot of the current metadata
 * references (nor the metadata log), and that are older than older_than_ms (their age
 * comes from the UUIDv7 in the names we write, else the local file's mtime; files of
 * unknown age are kept). fn (may be NULL) is called with each removed key. *n_removed
 * (optional OUT). */
typedef int (*CnIceGcFn)(void *ud, const char *uri, uint64_t size);
int cn_ice_gc(CnIceCatalog *c, const char *ns, const char *name, int64_t older_than_ms,
              CnIceGcFn fn, void *ud, uint64_t *n_removed, CnErr *err);

/* ------------------------------------------------------------------ expiry */

typedef struct CnIceExpireStats {
    uint32_t snapshots;        /* expired */
    uint32_t snapshots_kept;
    uint64_t manifest_lists, manifests, data_files; /* files removed */
} CnIceExpireStats;

/* Iceberg's expire-snapshots: drops the snapshots committed before older_than_ms except
 * the current one (and any ref) and the retain_last (>= 1) most recent, in one commit,
 * then removes the manifest lists, manifests and data files that only those snapshots
 * reached (expire.c states the rules). Time travel to an expired snapshot then fails
 * with CN_ENOTFOUND. fn (may be NULL) is called with each removed file's URI (size 0).
 * Nothing to expire: no commit, counts zero. st may be NULL. Errors: CN_EINVAL
 * (retain_last 0), CN_ENOTFOUND, catalog and storage errors. */
int cn_ice_expire_snapshots(CnIceCatalog *c, const char *ns, const char *name,
                            int64_t older_than_ms, uint32_t retain_last, CnIceGcFn fn,
                            void *ud, CnIceExpireStats *st, CnErr *err);

#endif /* CN_TABLE_H */
