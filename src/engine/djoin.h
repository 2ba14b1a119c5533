/* djoin.h: distributed Join backfills (engine side of src/dist; shard.c implements it).
 * Under mpirun every rank plans the same chunks, reads every left row of a chunk and
 * keeps the rows it owns (below); the day ranges each part loads and the per-day choices
 * are agreed between the ranks (cn_eng__shard_range, cn_eng__shard_or), so every rank
 * makes the same loads, which are collective. Each part's right rows are scanned as a share of the files per rank and shuffled to the
 * rank owning their key (the GroupBy exchange of shard.c), so each rank holds the right
 * rows of its keys only. A left row is owned by the rank its join key hashes to (the same
 * hash and encoding as the right rows: the key types must match exactly, which the join
 * checks), so that rank has every right row the row's features need; each rank writes
 * the output rows of the left rows it owns and rank 0 commits every rank's files once.
 * Every part must therefore read the same left key columns in the same order (one
 * owner per left row): a Join whose parts use different left keys is refused. */
#ifndef CN_ENG_DJOIN_H
#define CN_ENG_DJOIN_H

#include "engine/engine.h"

/* CN_EUNSUPPORTED when the Join's parts use different left key columns (names them). */
int cn_eng__djoin_check(const CnJoin *j, CnErr *err);
/* Keeps the left rows (*rows, and their partitions *pday) this rank owns by the left key
 * columns of the first part; *rows is replaced. */
int cn_eng__djoin_own(const CnEngShard *sh, const CnJoin *j, CnBatch **rows, int32_t **pday, CnErr *err);
/* flags[0..n) |= the same flags of every rank (collective). */
int cn_eng__shard_or(const CnEngShard *sh, uint8_t *flags, size_t n, CnErr *err);
/* *lo, *hi = the smallest *lo and the largest *hi of every rank (collective). */
int cn_eng__shard_range(const CnEngShard *sh, int32_t *lo, int32_t *hi, CnErr *err);

#endif /* CN_ENG_DJOIN_H */
