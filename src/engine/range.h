/* range.h: the snapshots of a multi-day range of an events GroupBy in one pass over its
 * rows (range.c), for SUM, COUNT, AVERAGE, MIN, MAX, LAST_K and FIRST_K over one long
 * input column without buckets. Values equal the one-day runs' bit for bit. */
#ifndef CN_ENG_RANGE_H
#define CN_ENG_RANGE_H

#include "engine/eng_int.h"

/* True when every part of g can be computed by cn_eng__range_fold (g may hold no rows)
 * and CN_ENG_FOLD is not 0. */
bool cn_eng__range_eligible(const CnEngGroupBy *g);
/* Computes output days [s, e] of g's loaded rows and calls emit per day (ascending, days
 * without a source partition skipped), as cn_eng__compute does. *done false (nothing
 * emitted) when g needs another path. CN_ENOMEM, CN_ELIMIT (max memory), emit's errors. */
int cn_eng__range_fold(CnEngGroupBy *g, int32_t s, int32_t e, CnEngEmitFn emit, void *ud, bool *done, CnErr *err);

#endif /* CN_ENG_RANGE_H */
