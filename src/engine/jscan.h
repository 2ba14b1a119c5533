/* jscan.h: the fast path of a Join's TEMPORAL events part (jscan.c): the key, ts and
 * input columns read straight into flat arrays, one sort by (key, ts), one sweep over
 * typed arrays. Private to the engine. */
#ifndef CN_ENG_JSCAN_H
#define CN_ENG_JSCAN_H

#include "engine/eng_int.h"

/* Point-in-time values of the TEMPORAL events GroupBy gb for the n rows of left: keys
 * in columns lcol[0..n_lkeys) of left, query times qts[r], storage partitions qpday[r],
 * over the source partitions [lo, hi] (INT32_MIN/INT32_MAX: unbounded). The values are
 * those of cn_eng__open + cn_eng__sweep_temporal, bit for bit: windows
 * [floor(q-W, H), q), rows stored in partitions <= qpday[r] (D27).
 * Taken only when every source and part is one the flat arrays compute exactly: one
 * int32, int64 or string key column of the left's type, a long ts column, selects that name table
 * columns, no wheres, no buckets, no distributed run, and parts COUNT (of fixed-width
 * inputs), SUM, FIRST and LAST of int32/int64 inputs. Otherwise *taken = false and
 * nothing is out (the caller runs the generic path).
 * When taken: OWNED *g (cn_eng_gb_free) is the GroupBy opened without rows (schemas,
 * parts, rows_scanned); OWNED *vals (cn_col_batch_free) holds one row per left row in
 * g's value schema; hit[r] = 1 when left row r has a non-null key.
 * Errors: those of reading the tables, CN_ENOMEM, CN_ELIMIT when the rows need more
 * than opts->max_memory. */
int cn_eng__jscan_temporal(CnIceCatalog *cat, const CnGroupBy *gb, int32_t lo, int32_t hi, const CnEngOpts *opts,
                           const CnBatch *left, const int *lcol, uint32_t n_lkeys, const int64_t *qts,
                           const int32_t *qpday, CnEngGroupBy **g, CnBatch **vals, uint8_t *hit, bool *taken,
                           CnErr *err);

#endif /* CN_ENG_JSCAN_H */
