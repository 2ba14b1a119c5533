/* cmd_backfill_join.c: `chronon run --mode backfill` on a Join: resolves the warehouse
 * and catalog like the GroupBy backfill and runs src/engine's join backfill.
 * Split mode (docs/joins.md): --mode backfill-left, --selected-join-parts a,b
 * [--use-cached-left], --mode backfill-final.
 * Mode options: --step-days N, --force (recompute partitions that exist),
 * --run-first-hole, --max-memory SIZE (a chunk whose left rows or GroupBy rows need more
 * is computed in halves, down to single days, else refused), --verbose. */
#include "base/compat.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/run.h"
#include "conf/conf.h"
#include "dist/dist.h"
#include "engine/engine.h"
#include "engine/jsplit.h"
#include "table/table.h"

/* warehouse and catalog: flag > environment > <repo>/warehouse (cn_cli_where); under
 * mpirun the ranks open it in turn and shard is set (src/dist) */
static int open_catalog(const CnRunArgs *a, CnDist *dist, CnIceCatalog **cat, CnEngShard *shard, CnErr *err) {
    CnCliWhere where;
    int rc = cn_cli_where(a->repo, cn_run_extra(a, "--warehouse", NULL), cn_run_extra(a, "--catalog", NULL), NULL,
                          NULL, &where, err);
    return rc ? rc : cn_dist_open_catalog(dist, where.warehouse, where.catalog, cat, shard, err);
}

int cn_cli_backfill_join(const CnRunArgs *a, CnErr *err) {
    CnConf *conf = NULL;
    CnIceCatalog *cat = NULL;
    CnDist *dist = NULL; /* distributed hook: launched by mpirun/srun (src/dist, docs/scaling.md) */
    CnEngShard shard;
    int rc = cn_dist_launched() ? cn_dist_init(&dist, err) : cn_dist_check_unlaunched(err);
    if (rc == 0) rc = cn_conf_load(a->conf_path, &conf, err);
    if (rc) goto done;
    if (!conf->join) {
        rc = cn_err_set(err, CN_ECONFIG, "%s: not a Join", a->conf);
        goto done;
    }
    CnEngOpts o;
    memset(&o, 0, sizeof o);
    o.end_ds = a->ds;
    o.start_ds = a->has_start ? a->start_ds : NULL;
    o.verbose = cn_run_has_flag(a, "--verbose") || cn_run_has_flag(a, "-v");
    o.force = cn_run_has_flag(a, "--force");
    o.run_first_hole = cn_run_has_flag(a, "--run-first-hole");
    o.split = cn_run_join_split(a); /* backfill-left, --selected-join-parts, backfill-final */
    if (cn_run_has_flag(a, "--use-cached-left") && (!o.split || o.split->mode != CN_ENG_SPLIT_PARTS)) {
        rc = cn_err_set(err, CN_EINVAL,
                        "--use-cached-left: only with --mode backfill --selected-join-parts (it reads the left "
                        "rows of those parts from <join table>_bootstrap)");
        goto done;
    }
    o.step_days = a->step_days;
    o.max_memory = a->max_memory;
    rc = open_catalog(a, dist, &cat, &shard, err);
    if (rc) goto done;
    o.shard = dist ? &shard : NULL;
    CnEngStats st;
    rc = cn_eng_join_backfill(cat, conf->join, &o, &st, err);
    if (dist) cn_dist_sum_stats(dist, &st);
    uint64_t shuffled = dist ? cn_dist_bytes_shuffled(dist) : 0; /* collective */
    if (dist && o.verbose && cn_dist_rank(dist) == 0)
        fprintf(stderr, "backfill %s: %d ranks shuffled %llu bytes\n", conf->join->meta.name, cn_dist_size(dist),
                (unsigned long long)shuffled);
    bool quiet = cn_run_has_flag(a, "--quiet") || cn_run_has_flag(a, "-q") || cn_dist_rank(dist) != 0;
    if (rc == 0 && !o.verbose && !quiet) {
        if (st.days_written > 0)
            fprintf(stderr, "backfill %s: wrote %lld rows in %lld partition%s (up to %s)\n", conf->join->meta.name,
                    (long long)st.rows_written, (long long)st.days_written, st.days_written == 1 ? "" : "s", a->ds);
        else
            fprintf(stderr, "backfill %s: nothing to compute: every left partition up to %s is already joined "
                            "(--force recomputes)\n", conf->join->meta.name, a->ds);
    }
    if (o.verbose && cn_dist_rank(dist) == 0)
        fprintf(stderr, "backfill %s: %lld chunks (%lld failed), rows written %lld in %lld partitions\n",
                conf->join->meta.name, (long long)st.chunks, (long long)st.chunks_failed, (long long)st.rows_written,
                (long long)st.days_written);
done:
    /* distributed hook: a rank that stops early would leave the others waiting forever */
    if (rc && dist) cn_dist_abort(dist, err);
    cn_ice_catalog_close(cat);
    cn_conf_free(conf);
    cn_dist_finish(dist);
    return rc;
}
