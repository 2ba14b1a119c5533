/* bootstrap.h: a Join's bootstrapParts joined onto its left rows (compute.md section 6
 * "Bootstrap", Chronon's computeBootstrapTable). Private to the engine. */
#ifndef CN_ENG_BOOTSTRAP_H
#define CN_ENG_BOOTSTRAP_H

#include "engine/eng_int.h"
#include "expr/expr.h"

/* At most this many bootstrap parts (a row's matched parts are one bit mask). */
#define CN_ENG_BOOT_MAX 64

typedef struct CnEngBoot {
    CnSchema *schema;      /* value columns, in order of first appearance (OWNED) */
    CnBatch *vals;         /* one row per left row: the first non-null value of the parts
                              that matched the row, in bootstrapParts order; else null */
    uint32_t n_parts;
    uint64_t *matched;     /* per left row: bit b set when part b has a row for its keys+ds */
    uint64_t *provides;    /* per value column: bit b set when part b's query yields it */
    const char **tables;   /* per part: its table (messages) */
    char (*hash_hex)[17];  /* per part: semantic hash (table, query, keys) as hex */
} CnEngBoot;

/* Joins every bootstrap part of j onto the left rows `left` (column names as the left
 * query produces them; pday: each row's ds as days since epoch) for partitions
 * [lo, hi] (further limited by a part's query start/endPartition). A part's keys are
 * its keyColumns, else the join's rowIds, plus ds; its rows are de-duplicated on those
 * (the first row read wins); left rows with a null key match nothing. Value columns
 * are the part's query output minus keys, ds and ts.
 * OWNED: *out (cn_eng__boot_free). Errors name the join, part and table: CN_ECONFIG (no
 * keys, a key missing on either side or typed differently, a reserved column, more
 * than CN_ENG_BOOT_MAX parts, one column typed differently by two parts),
 * CN_ENOTFOUND (table), query errors, CN_ENOMEM. */
int cn_eng__boot_join(CnIceCatalog *cat, const CnJoin *j, const CnBatch *left, const int32_t *pday, int32_t lo,
                      int32_t hi, CnEngBoot **out, CnErr *err);
void cn_eng__boot_free(CnEngBoot *b); /* NULL-safe */

/* Opens a scan of table t over partitions [lo, hi] reading ds and the columns query q
 * (bound on t's schema) uses. OWNED: *scan (cn_ice_scan_close). Scan errors, CN_ENOMEM.
 * Shared by the left side (join.c) and bootstrap parts. */
int cn_eng__query_scan_open(CnIceCatalog *cat, CnIceTable *t, const CnExprQuery *q, int32_t lo, int32_t hi,
                            CnIceScan **scan, CnErr *err);

/* Semantic hash of bootstrap part i of j (what its matched rows mean). */
uint64_t cn_eng__boot_part_hash(const CnJoin *j, size_t i);

#endif /* CN_ENG_BOOTSTRAP_H */
