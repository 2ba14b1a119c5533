/* djoin.h: distributed Join backfills (engine side of src/dist; shard.c implements it).
 * Under mpirun every rank plans the same chunks and reads every left row of a chunk (the
 * day ranges, the per-day choices and every collective then agree across ranks); each
 * part's right rows are scanned as a share of the files per rank and shuffled to the
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
/* *out = whether mine is true on any rank (collective). */
int cn_eng__shard_any(const CnEngShard *sh, bool mine, bool *out, CnErr *err);
/* Keeps the rows of *ob whose left row (same index in left) this rank owns by the key
 * columns lcol[0..n_keys) of left; *ob is replaced. */
int cn_eng__djoin_keep(const CnEngShard *sh, const CnBatch *left, const int *lcol, uint32_t n_keys, CnBatch **ob,
                       CnErr *err);

#endif /* CN_ENG_DJOIN_H */
