/* dist.h: distributed backfills over MPI (Open MPI or MPICH), launched by mpirun, srun or
 * `run.py --ranks N`. Rank roles: every rank scans its share of the source files and
 * aggregates the keys it owns (src/engine's CnEngShard hooks); rank 0 commits.
 * MPI is initialised only when the process was started by an MPI launcher (its
 * environment says so), so a plain `chronon ...` never touches MPI. A chronon built
 * without MPI (cmake -DCN_MPI=OFF, or no MPI library found) refuses to run under a
 * launcher rather than running N uncoordinated copies.
 * FAILURE: a rank whose chunk (or whole backfill) fails prints its error and calls
 *   MPI_Abort, which ends every rank; commits happen only on rank 0 after every rank
 *   handed over its files,
 *   so a failed job commits nothing of the failing chunk. Nothing it wrote is left
 *   behind either: a rank failing before the sync that precedes the chunk's writes
 *   (CnEngShard.sync) aborts at once (no rank wrote a file yet); one failing after it
 *   tells the others through the commit's agreement, each rank's engine frees its write
 *   (removing its files) and the ranks end together; when rank 0's commit fails, freeing
 *   its write removes every rank's files added to it.
 * Test hooks (inert unless set): CN_TEST_DIST_FAIL_RANK=r makes rank r fail each chunk,
 *   where CN_TEST_DIST_FAIL_AT says: files (default: after writing its files, before the
 *   commit), write (right after the sync, while the others write), commit (rank 0's
 *   commit, with r = 0); CN_TEST_DIST_FAKE_HOSTS=1 makes each rank report host
 *   "<hostname>-rank<r>" (as if every rank ran on its own machine). */
#ifndef CN_DIST_H
#define CN_DIST_H

#include "base/compat.h"
#include "base/err.h"
#include "engine/engine.h"

typedef struct CnDist CnDist;

/* True when an MPI launcher started this process (OMPI_COMM_WORLD_SIZE, PMI_SIZE or
 * PMIX_RANK in the environment). */
bool cn_dist_launched(void);
/* CN_EINVAL when Slurm's srun started this process as one of several tasks without an
 * MPI launch (no PMI environment): each task would run the whole job on its own. */
int cn_dist_check_unlaunched(CnErr *err);
/* True when this chronon was built with MPI. */
bool cn_dist_available(void);
/* Initialises MPI. OWNED: *out, cn_dist_finish. CN_EUNSUPPORTED when built without MPI. */
int cn_dist_init(CnDist **out, CnErr *err);
void cn_dist_finish(CnDist *d); /* NULL-safe; MPI_Finalize */
int cn_dist_rank(const CnDist *d);
int cn_dist_size(const CnDist *d);
/* Waits until every rank called it (collective). */
void cn_dist_barrier(CnDist *d);
/* Fills the engine's hooks (valid while d lives). */
void cn_dist_shard(CnDist *d, CnEngShard *out);
/* CN_EINVAL when the catalog is a local SQLite file and the ranks are not all on one
 * host (compared with MPI_Allgather); the message names the hosts and what to use. */
int cn_dist_check_catalog(CnDist *d, const char *catalog_uri, CnErr *err);
/* Opens the run's catalog: with d, rank 0 first (it may create a SQLite catalog, which
 * concurrent creators would find locked) and then the others; then checks the hosts
 * (cn_dist_check_catalog) and fills *shard. Without d (one process) a plain open. */
int cn_dist_open_catalog(CnDist *d, const char *warehouse, const char *catalog, CnIceCatalog **cat,
                         CnEngShard *shard, CnErr *err);
/* Sums the counters of every rank into st (on every rank). */
void cn_dist_sum_stats(CnDist *d, CnEngStats *st);
/* Bytes this rank sent to other ranks in shuffles so far. */
uint64_t cn_dist_bytes_sent(const CnDist *d);
/* Bytes every rank sent to other ranks so far, summed (collective). */
uint64_t cn_dist_bytes_shuffled(CnDist *d);
/* Prints the error and ends the whole job (MPI_Abort). Does not return. */
void cn_dist_abort(CnDist *d, const CnErr *err) CN_NORETURN;

#endif /* CN_DIST_H */
