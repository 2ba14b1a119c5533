/* mutate.h: the mutations of a TEMPORAL entity GroupBy (compute.md section 5 "Mutations",
 * D7, D8) for Join backfills on an events left. The value at q on day X is the batch IR of
 * snapshot X-1 (join.c) plus day X's mutation rows with B = epoch(X) <= mutation_ts < q, in
 * mutation_ts order; a row counts for a part iff floor(q-W,H) <= ts < q (per query), rows
 * with is_before true delete (a no-op for non-deletable operations), the others update. */
#ifndef CN_ENG_MUTATE_H
#define CN_ENG_MUTATE_H

#include "engine/eng_int.h"

typedef struct CnEngMut CnEngMut;

/* Loads partitions [lo, hi] of the mutationTable of gb's sources through each source's
 * query, with the reversal and mutation time columns (Query.reversalColumn, default
 * is_before, boolean; Query.mutationTimeColumn, default mutation_ts, long). snap is the
 * loaded snapshot GroupBy: key and aggregation input types must equal its own.
 * Errors name the mutation table and column. OWNED: *out (cn_eng__mut_free). */
int cn_eng__mut_open(CnIceCatalog *cat, const CnGroupBy *gb, const CnEngGroupBy *snap, int32_t lo, int32_t hi,
                     const CnEngOpts *o, CnEngMut **out, CnErr *err);
void cn_eng__mut_free(CnEngMut *m); /* NULL-safe */
/* Whether some source of gb has a mutationTable. */
bool cn_eng__mut_has(const CnGroupBy *gb);
/* The key table of the mutation rows. */
const CnEngKeys *cn_eng__mut_keys(const CnEngMut *m);
/* Applies key id k's mutations of day x with epoch(x) <= mutation_ts < q to IR 0 of st,
 * the state of part i_part (same GroupBy parts as snap). */
int cn_eng__mut_apply(const CnEngMut *m, uint32_t k, int32_t x, int64_t q, uint32_t i_part, CnAggState *st,
                      CnErr *err);

#endif /* CN_ENG_MUTATE_H */
