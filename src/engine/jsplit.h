/* jsplit.h: a Join backfill in split mode (compute.md section 6 "Split mode", Chronon's
 * join-left / selected join parts / join-final): the left side with its bootstrap
 * columns in <join table>_bootstrap, each part's values in <join table>_<fullPrefix>,
 * and a final step joining them into the output. join.c runs the steps; this file holds
 * the tables' names, layouts and checks. */
#ifndef CN_ENG_JSPLIT_H
#define CN_ENG_JSPLIT_H

#include "engine/eng_int.h"

typedef enum CnEngSplitMode {
    CN_ENG_SPLIT_LEFT = 1, /* backfill-left: writes <join table>_bootstrap */
    CN_ENG_SPLIT_PARTS,    /* backfill --selected-join-parts: writes those part tables */
    CN_ENG_SPLIT_FINAL,    /* backfill-final: joins _bootstrap and the part tables */
} CnEngSplitMode;

/* How a run is split (CnEngOpts.split; NULL: the whole join in memory). */
typedef struct CnEngSplit {
    CnEngSplitMode mode;
    const char *parts;     /* PARTS: comma-separated fullPrefixes (--selected-join-parts) */
    bool use_cached_left;  /* PARTS: the left rows come from _bootstrap (--use-cached-left) */
} CnEngSplit;

/* ---- private to the engine (join.c) ---- */

/* Property of a split table: the semantic hash of what it holds (hex). */
#define CN_ENG_SPLIT_HASH_PROP "chronon.join.semantic_hash"
/* Property of _bootstrap: how many leading columns are the left's (the rest, before ds,
 * are bootstrap columns). */
#define CN_ENG_SPLIT_LEFT_PROP "chronon.join.left_columns"

/* Property of a split table: the left days it was computed for, as sorted ranges
 * "d0..d1,d2..d3" (a day whose left rows give no row has no partition, yet is done). */
#define CN_ENG_SPLIT_DAYS_PROP "chronon.join.left_days"

/* The days of t's CN_ENG_SPLIT_DAYS_PROP, sorted. OWNED: *days (cn_free; NULL when *n = 0).
 * CN_ECORRUPT naming the table for a malformed value, CN_ENOMEM. */
int cn_eng__jsplit_days(const CnIceTable *t, int32_t **days, uint32_t *n, CnErr *err);

/* "<out_table>_bootstrap" and "<out_table>_<fullPrefix>" (Chronon's bootstrapTable and
 * partOutputTable). In arena a; NULL when out of memory. */
const char *cn_eng__jsplit_boot_table(CnArena *a, const char *out_table);
const char *cn_eng__jsplit_part_table(CnArena *a, const char *out_table, const char *prefix);

/* Part indexes of the comma-separated fullPrefixes in list (in list order, each once).
 * *idx in arena a. CN_EINVAL naming an unknown or empty name and listing the parts. */
int cn_eng__jsplit_select(const CnJoin *j, CnArena *a, const char *list, int **idx, uint32_t *n, CnErr *err);

/* Writes b (last column ds) into table (created on first use) as one overwrite commit of
 * partitions days[0..n_days), setting the split hash property, the days property (these
 * days added to those of a table with the same hash) and, when left_cols >= 0,
 * CN_ENG_SPLIT_LEFT_PROP. A table with other columns is CN_ECONFIG naming it. */
int cn_eng__jsplit_write(CnIceCatalog *cat, const char *table, const char *hash_hex, int left_cols, const CnBatch *b,
                         const int32_t *days, uint32_t n_days, CnErr *err);

/* _bootstrap rows: the left columns order[0..n_order) of rows, then the columns of boot
 * (NULL: none), then ds from pday. OWNED: *os, *ob. */
int cn_eng__jsplit_left_batch(const CnBatch *rows, const int *order, uint32_t n_order, const int32_t *pday,
                              const CnBatch *boot, CnSchema **os, CnBatch **ob, CnErr *err);

/* A part's view of the left rows: its key columns in the left rows (GroupBy key order,
 * named keys[] in the part table) and ts (i_ts < 0: the left has none). */
typedef struct CnEngSplitKeys {
    const CnBatch *rows;
    const int32_t *pday;
    const int *lcol;
    const char *const *keys;
    uint32_t n_keys;
    int i_ts;
} CnEngSplitKeys;

/* Part table rows: one per distinct (keys, ts, ds) of the left rows with no null key:
 * keys, ts (when the left has it), the part's values (vals: one row per left row), ds.
 * OWNED: *os, *ob. */
int cn_eng__jsplit_part_batch(const CnEngSplitKeys *k, const CnBatch *vals, CnSchema **os, CnBatch **ob, CnErr *err);

/* Reads partitions [lo, hi] of a part table and gives every left row its values (null
 * for a row with a null key). OWNED: *vschema, *vals. CN_ENOTFOUND (table), CN_ECONFIG
 * (a key or ts column missing), CN_ECORRUPT naming the table, row's keys and ds when the
 * table lacks a row a left row needs. */
int cn_eng__jsplit_part_read(CnIceCatalog *cat, const char *table, const CnEngSplitKeys *k, int32_t lo, int32_t hi,
                             CnSchema **vschema, CnBatch **vals, CnErr *err);

/* Checks that table exists, was written with hash_hex and was computed for every day of
 * days[0..n): else CN_ENOTFOUND / CN_ECONFIG naming the table, the missing days (first
 * ones) and `fix`, the run that fills them. */
int cn_eng__jsplit_check(CnIceCatalog *cat, const char *table, const char *hash_hex, const int32_t *days, uint32_t n,
                         const char *fix, CnErr *err);

#endif /* CN_ENG_JSPLIT_H */
