/* ice_int.h: private to src/table.
 *
 * SUPPORTED SUBSET of Iceberg (format version 2)
 *   | area            | read                               | write                         |
 *   |-----------------|------------------------------------|-------------------------------|
 *   | metadata JSON   | v2; schemas, specs, snapshots,     | same, keeping unknown keys    |
 *   |                 | refs, logs, properties             | of the base version           |
 *   | types           | boolean int long float double date | same                          |
 *   |                 | timestamp(tz) string binary, list  |                               |
 *   |                 | and map of primitives              |                               |
 *   | partition spec  | identity on ds (any spec is read;  | identity(ds), field id 1000   |
 *   |                 | pruning only by an identity ds)    |                               |
 *   | manifests       | Avro, data content, field ids      | Avro codec null, all required |
 *   |                 | resolved by id, v2 inheritance     | metadata keys                 |
 *   | deletes         | delete files refused (EUNSUPPORTED)| never written                 |
 *   | data files      | Parquet, columns matched by id     | Parquet with field ids and    |
 *   |                 |                                    | the iceberg.schema KV         |
 * Catalog: Iceberg JDBC catalog tables; see catalog.c. */
#ifndef CN_ICE_INT_H
#define CN_ICE_INT_H

#include <jansson.h>

#include "base/arena.h"
#include "base/str.h"
#include "io/objstore/objstore.h"
#include "table/table.h"

#define CN_ICE__CATALOG_NAME "chronon"
#define CN_ICE__PART_FIELD_ID 1000

/* ---- catalog backends (catalog.c) ---- */

typedef struct CnIceCatOps CnIceCatOps;

struct CnIceCatalog {
    const CnIceCatOps *ops;
    void *db;                 /* sqlite3 * or PGconn * */
    char *uri;                /* OWNED: as given */
    char *safe_uri;           /* OWNED: without password, for messages */
    CnObjStore *store;        /* the warehouse */
    char *warehouse;          /* OWNED: root URI */
};

struct CnIceCatOps {
    /* type: "TABLE" or "VIEW" (iceberg_type). */
    /* *loc OWNED (cn_free); CN_ENOTFOUND when no such table (or view). */
    int (*get)(CnIceCatalog *c, const char *type, const char *ns, const char *name, char **loc,
               CnErr *err);
    /* CN_EEXISTS when the name exists (as a table or a view). */
    int (*insert)(CnIceCatalog *c, const char *type, const char *ns, const char *name,
                  const char *loc, CnErr *err);
    /* 0 swapped, CN_ECONFLICT when metadata_location was no longer old. */
    int (*cas)(CnIceCatalog *c, const char *ns, const char *name, const char *old_loc,
               const char *new_loc, CnErr *err);
    int (*ensure_ns)(CnIceCatalog *c, const char *ns, CnErr *err);
    /* Deletes the row when metadata_location is still loc: 0, or CN_ECONFLICT. */
    int (*drop)(CnIceCatalog *c, const char *ns, const char *name, const char *loc, CnErr *err);
    /* Appends "ns\tname\n" lines of that type (ns NULL = all) to out, sorted. */
    int (*list)(CnIceCatalog *c, const char *type, const char *ns, CnBuf *out, CnErr *err);
    /* Appends "ns\n" lines of known namespaces, sorted. */
    int (*list_ns)(CnIceCatalog *c, CnBuf *out, CnErr *err);
    void (*close)(CnIceCatalog *c);
};

int cn_ice__sqlite_open(CnIceCatalog *c, const char *path, CnErr *err);
int cn_ice__pg_open(CnIceCatalog *c, const char *conninfo, CnErr *err);

/* ---- the loaded table (meta.c) ---- */

struct CnIceTable {
    CnArena arena;            /* names, paths, snapshot copies */
    char *full_name;          /* "ns.name" */
    char *ns, *name;
    char *meta_loc;           /* URI of the metadata file loaded */
    json_t *meta;             /* OWNED: the whole metadata document */
    CnSchema *schema;         /* OWNED: current schema */
    char *location;           /* table root URI */
    int32_t ds_field_id;      /* source id of the ds partition field, -1 if none */
    uint32_t n_snaps;
    CnIceSnapshot *snaps;     /* in the snapshot log's order */
};

/* Reads and checks the metadata file at uri. */
int cn_ice__table_read(CnIceCatalog *c, const char *ns, const char *name, const char *uri,
                       CnIceTable **out, CnErr *err);
/* Iceberg schema JSON of s (with its field ids) and back. */
json_t *cn_ice__schema_to_json(const CnSchema *s, int schema_id);
int cn_ice__schema_from_json(const char *where, json_t *j, CnSchema **out, CnErr *err);
/* The schema JSON object with schema-id id, or NULL. */
json_t *cn_ice__meta_schema(json_t *meta, int64_t id);
/* The snapshot JSON with that id, or NULL. */
json_t *cn_ice__meta_snapshot(json_t *meta, int64_t id);

/* ---- helpers (util.c) ---- */

/* A UUIDv7 (48-bit millisecond time first) into out[37]. */
void cn_ice__uuid7(char out[37]);
/* Milliseconds encoded in a UUIDv7 found in name, or -1. */
int64_t cn_ice__uuid7_ms(const char *name);
int64_t cn_ice__now_ms(void);
/* Random positive 63-bit id. */
int64_t cn_ice__random_id(void);
/* Key (relative to the warehouse) of a URI under it; CN_EINVAL otherwise. */
int cn_ice__key(CnIceCatalog *c, const char *uri, const char **key, CnErr *err);
/* Reads an object by URI into out. */
int cn_ice__get(CnIceCatalog *c, const char *uri, CnBuf *out, CnErr *err);
/* Local path of a file:// URI (BORROWED: into uri), else NULL. */
const char *cn_ice__local_path(const char *uri);
/* Kills the process at a named commit step when CN_TEST_TABLE_ABORT_AT says so. */
void cn_ice__abort_point(const char *step);
/* The table's root key "ns.db/name". */
int cn_ice__table_key(const char *ns, const char *name, CnBuf *out);
/* Levenshtein distance, capped. */
int cn_ice__edit_distance(const char *a, const char *b);

/* ---- manifests (manifest.c) ---- */

typedef struct CnIceColStat {
    int32_t field_id;
    int64_t size, values, nulls;
    bool has_bounds;
    CnBuf lo, hi;             /* Iceberg single-value serialisation */
} CnIceColStat;

typedef struct CnIceDataFile {
    char *path;               /* URI */
    char ds[11];              /* partition value; "" when null */
    bool ds_null;
    int64_t records, size;
    int status;               /* 0 existing, 1 added, 2 deleted */
    int64_t snapshot_id;      /* that added it (or deleted it, for status 2) */
    int64_t seq, file_seq;    /* data and file sequence numbers */
    int32_t sort_order_id;    /* sort order the rows are in; 0: none recorded (written
                                 as null: unsorted or unknown) */
    uint32_t n_stats;
    CnIceColStat *stats;      /* written files only */
    json_t *raw;              /* OWNED when set: the data_file record as read (a rewrite
                                 keeps its statistics) */
} CnIceDataFile;

typedef struct CnIceManifest {
    char *path;
    int64_t length;
    int32_t spec_id;
    int32_t content;
    int64_t seq, min_seq, added_snapshot_id;
    int32_t added_files, existing_files, deleted_files;
    int64_t added_rows, existing_rows, deleted_rows;
    bool has_bounds, contains_null;
    char lo[11], hi[11];      /* ds bounds of the manifest (partition summary) */
} CnIceManifest;

/* Reads a manifest list: *out (arena a) and *n. */
int cn_ice__read_manifest_list(CnIceCatalog *c, CnArena *a, const char *uri,
                               CnIceManifest **out, uint32_t *n, CnErr *err);
/* Reads a manifest's entries, applying sequence-number inheritance from m. */
int cn_ice__read_manifest(CnIceCatalog *c, CnArena *a, const CnIceManifest *m, bool keep_raw,
                          CnIceDataFile **out, uint32_t *n, CnErr *err);
/* Writes a manifest of the given entries at key; fills *m (path in arena a). */
int cn_ice__write_manifest(CnIceCatalog *c, CnArena *a, const CnIceTable *t, const char *key,
                           int64_t snapshot_id, int64_t seq, const CnIceDataFile *files,
                           uint32_t n, CnIceManifest *m, CnErr *err);
int cn_ice__write_manifest_list(CnIceCatalog *c, const char *key, int64_t snapshot_id,
                                int64_t parent_id, int64_t seq, const CnIceManifest *ms,
                                uint32_t n, CnErr *err);
/* Data files (status != deleted) of snapshot snap_id; ds range filter may be NULL. */
int cn_ice__snapshot_files(CnIceCatalog *c, CnArena *a, const CnIceTable *t, int64_t snap_id,
                           const char *ds_lo, const char *ds_hi, CnIceDataFile **out,
                           uint32_t *n, CnErr *err);

/* ---- commits (write.c) ---- */

/* Applies a metadata change to a deep copy of the base document. Return 0, or an
 * error (CN_ECONFLICT stops retrying). */
typedef int (*CnIceApplyFn)(void *ud, CnIceCatalog *c, CnIceTable *base, json_t *meta,
                            CnErr *err);
/* The CAS loop: load current, apply, write vN+1, swap; on a lost race reload and
 * apply again. */
int cn_ice__commit(CnIceCatalog *c, const char *ns, const char *name, CnIceApplyFn fn,
                   void *ud, CnErr *err);

#endif /* CN_ICE_INT_H */
