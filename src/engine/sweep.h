/* sweep.h: point-in-time values of a loaded TEMPORAL events GroupBy at many query
 * times, by one sorted sweep per key (sweep.c). Private to the engine. */
#ifndef CN_ENG_SWEEP_H
#define CN_ENG_SWEEP_H

#include "engine/eng_int.h"

/* For each query r < n_q with key id qid[r] (UINT32_MAX: no key, left null) at time
 * qts[r] in storage partition qpday[r], sets slot[r] (OUT, n_q entries) to an id of
 * res[part] holding the IR of g's part over the key's rows with a ts in
 * [floor(q-W, H), q) (unwindowed: ts < q) stored in partitions <= qpday[r] (compute.md
 * section 6, D27), null when there are none; finalize res[part] over slot[0..n_q) for
 * the values in query order. res[part] are empty states of the parts' specs (one per
 * part of g); ids are reserved here.
 * Cost: O((rows + queries) * parts) amortised merges plus two radix sorts; a query
 * that could see a late row stored after its partition is answered by a scan of its
 * key's rows instead. CN_ENOMEM, kernel errors (CN_EINVAL). */
int cn_eng__sweep_temporal(CnEngGroupBy *g, uint32_t n_q, const uint32_t *qid, const int64_t *qts,
                           const int32_t *qpday, CnAggState **res, uint32_t *slot, CnErr *err);

/* Permutation of rows idx[0..n) (or 0..n-1 when idx is NULL) sorted by (key[row],
 * ts[row]), ties in input order (LSD radix sort, stable). key ids are < n_keys.
 * OWNED: *out (cn_free), n entries. CN_ENOMEM. */
int cn_eng__sort_key_ts(const uint32_t *key, const int64_t *ts, uint32_t n_keys, const uint32_t *idx, uint32_t n,
                        uint32_t **out, CnErr *err);

#endif /* CN_ENG_SWEEP_H */
