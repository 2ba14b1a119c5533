/* djoin.h: distributed Join backfills (engine side of src/dist; djoin.c implements it,
 * over the row exchange of shard.c).
 * Under mpirun every rank plans the same chunks and reads every left row of a chunk (the
 * chunk's left rows, L). The day ranges each part loads and the per-day choices are
 * agreed between the ranks (cn_eng__shard_range, cn_eng__shard_or), so every rank makes
 * the same loads, which are collective. Each part's right rows are scanned as a share of
 * the files per rank and shuffled to the rank owning their key (the GroupBy exchange of
 * shard.c), so each rank holds the right rows of its keys only.
 * A left row is owned, for a part, by the rank its join key for that part hashes to (the
 * same hash and encoding as the right rows: the key types must match exactly, which the
 * join checks), so that rank has every right row the row's features need. The rows a
 * rank writes (its HOME rows) are those it owns by the home key: the left key columns
 * most parts use (the first such part's). A part on those columns is computed on the
 * home rows in place. A part on other columns (another set, or another order) is
 * computed by each rank for the rows of L it owns by that part's key, and the values
 * travel back to each row's home rank (cn_eng__djoin_part_back), keyed by the row's
 * position in L, so every home row gets its value from exactly one rank. Each rank
 * writes the output rows of its home rows and rank 0 commits every rank's files once. */
#ifndef CN_ENG_DJOIN_H
#define CN_ENG_DJOIN_H

#include "engine/engine.h"

/* One chunk's left rows on this rank: every row of L, the home rows, and the rows of the
 * part being computed. */
typedef struct CnEngDjoin CnEngDjoin;

/* Keeps the left rows (*rows, and their partitions *pday) this rank owns by the home key;
 * *rows and *pday are replaced and the whole chunk's rows are kept in *out (free with
 * cn_eng__djoin_free). */
int cn_eng__djoin_own(const CnEngShard *sh, const CnJoin *j, CnBatch **rows, int32_t **pday, CnEngDjoin **out,
                      CnErr *err);
void cn_eng__djoin_free(CnEngDjoin *dj);
/* Whether a part whose GroupBy keys are the left columns lcol[0..nk) needs rows of its own
 * (its key is not the home key). */
bool cn_eng__djoin_foreign(const CnEngDjoin *dj, const int *lcol, uint32_t nk);
/* The rows of L (and their partitions) this rank owns by the key lcol[0..nk), in L's
 * order: OWNED *rows and *pday (the batch borrows L's schema). */
int cn_eng__djoin_part_rows(CnEngDjoin *dj, const int *lcol, uint32_t nk, CnBatch **rows, int32_t **pday,
                            CnErr *err);
/* After a part was computed on the rows of cn_eng__djoin_part_rows: sends each row's values
 * (*vals row, day[r], hit[r]) to the row's home rank and replaces *vals, *day and *hit by
 * the values of the home rows, in their order (the batch keeps the schema of *vals).
 * Collective. */
int cn_eng__djoin_part_back(CnEngDjoin *dj, CnBatch **vals, int32_t **day, uint8_t **hit, CnErr *err);
/* flags[0..n) |= the same flags of every rank (collective). */
int cn_eng__shard_or(const CnEngShard *sh, uint8_t *flags, size_t n, CnErr *err);
/* *lo, *hi = the smallest *lo and the largest *hi of every rank (collective). */
int cn_eng__shard_range(const CnEngShard *sh, int32_t *lo, int32_t *hi, CnErr *err);

/* The message layout of shard.c (its header comment), shared by the Join's exchanges:
 * every part padded to 8 bytes so the receiver reads arrays in place. */
typedef struct CnEngWireRd {
    const char *p, *end;
    bool bad;
} CnEngWireRd;
/* n bytes at the end of b (zeroed up to the next multiple of 8), or NULL (b->oom). */
void *cn_eng__wire_put(CnBuf *b, size_t n);
/* dst[i] = src[sel[i]] for entries of w bytes. */
void cn_eng__wire_gather(void *dst, const void *src, size_t w, const uint32_t *sel, uint32_t n);
/* Appends entries sel[0..n) of v to b. false: out of memory (or a column over 4 GiB). */
bool cn_eng__wire_vec(CnBuf *b, const CnVec *v, const uint32_t *sel, uint32_t n);
/* n bytes in place (the reader then skips to the next multiple of 8), NULL when short. */
const void *cn_eng__wire_take(CnEngWireRd *r, size_t n);
/* A read-only view of n entries of type t inside the message (children from a). */
void cn_eng__wire_view(CnEngWireRd *r, CnArena *a, const CnType *t, CnVec *v, uint32_t n);

#endif /* CN_ENG_DJOIN_H */
