/* cmd_backfill_gb.c: `chronon run --mode backfill` on a GroupBy: resolves the warehouse
 * and catalog, parses the engine's options and runs src/engine's backfill. */
#include "base/compat.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/date.h"
#include "base/str.h"
#include "cli/cli.h"
#include "cli/run.h"
#include "conf/conf.h"
#include "dist/dist.h"
#include "engine/engine.h"
#include "table/table.h"

int cn_cli_backfill_group_by(const CnRunArgs *a, CnErr *err) {
    CnConf *conf = NULL;
    CnIceCatalog *cat = NULL;
    CnDist *dist = NULL; /* distributed hook: launched by mpirun/srun (src/dist) */
    CnEngShard shard;
    int rc = cn_dist_launched() ? cn_dist_init(&dist, err) : cn_dist_check_unlaunched(err);
    if (rc == 0) rc = cn_conf_load(a->conf_path, &conf, err);
    if (rc) goto done;
    if (!conf->group_by) {
        rc = cn_err_set(err, CN_ECONFIG, "%s: not a GroupBy", a->conf);
        goto done;
    }
    CnEngOpts o;
    memset(&o, 0, sizeof o);
    o.end_ds = a->ds;
    o.start_ds = a->has_start ? a->start_ds : NULL;
    o.use_tiles = !cn_run_has_flag(a, "--no-tiles");
    o.run_first_hole = cn_run_has_flag(a, "--run-first-hole");
    o.verbose = cn_run_has_flag(a, "--verbose") || cn_run_has_flag(a, "-v");
    bool quiet = cn_run_has_flag(a, "--quiet") || cn_run_has_flag(a, "-q") || cn_dist_rank(dist) != 0;
    o.progress = !quiet && isatty(2);
    o.step_days = a->step_days;
    if (!o.step_days && a->parallelism > 0 && a->has_start) {
        /* --parallelism N: N contiguous chunks of the range */
        int64_t s = 0, e = 0;
        cn_ds_parse(a->start_ds, &s);
        cn_ds_parse(a->ds, &e);
        o.step_days = (int)((e - s + 1 + a->parallelism - 1) / a->parallelism);
    }
    o.max_memory = a->max_memory;
    CnCliWhere where;
    rc = cn_cli_where(a->repo, cn_run_extra(a, "--warehouse", NULL), cn_run_extra(a, "--catalog", NULL), NULL, NULL,
                      &where, err);
    if (rc) goto done;
    /* distributed hook: rank 0 opens (maybe creates) the catalog before the others */
    rc = cn_dist_open_catalog(dist, where.warehouse, where.catalog, &cat, &shard, err);
    if (dist) o.shard = &shard;
    if (rc) goto done;
    CnEngStats st;
    rc = cn_eng_groupby_backfill(cat, conf->group_by, &o, &st, err);
    if (dist) cn_dist_sum_stats(dist, &st);
    uint64_t shuffled = dist ? cn_dist_bytes_shuffled(dist) : 0;
    if (dist && o.verbose && cn_dist_rank(dist) == 0)
        fprintf(stderr, "backfill %s: %d ranks shuffled %llu bytes (%.1f per source row)\n", conf->group_by->meta.name,
                cn_dist_size(dist), (unsigned long long)shuffled,
                st.rows_scanned ? (double)shuffled / (double)st.rows_scanned : 0.0);
    if (rc == 0 && !quiet && !o.verbose) {
        /* one closing line, so a run that wrote nothing is not mistaken for one that did */
        if (st.days_written > 0)
            fprintf(stderr, "backfill %s: wrote %lld rows in %lld partition%s (%s..%s)\n",
                    conf->group_by->meta.name, (long long)st.rows_written, (long long)st.days_written,
                    st.days_written == 1 ? "" : "s", a->has_start ? a->start_ds : a->ds, a->ds);
        else
            /* days without source partitions have no output to write: say so, not "every day" */
            fprintf(stderr, "backfill %s: nothing to compute: every partition up to %s with source data is already written\n",
                    conf->group_by->meta.name, a->ds);
    }
    if (o.verbose && cn_dist_rank(dist) == 0)
        fprintf(stderr, "backfill %s: %lld chunks (%lld failed), rows scanned %lld, tiles read %lld, tiles written %lld, rows written %lld in %lld partitions\n",
                conf->group_by->meta.name, (long long)st.chunks, (long long)st.chunks_failed, (long long)st.rows_scanned,
                (long long)st.tiles_read, (long long)st.tiles_written, (long long)st.rows_written,
                (long long)st.days_written);
done:
    /* distributed hook: a rank that stops early would leave the others waiting forever */
    if (rc && dist) cn_dist_abort(dist, err);
    cn_ice_catalog_close(cat);
    cn_conf_free(conf);
    cn_dist_finish(dist);
    return rc;
}
