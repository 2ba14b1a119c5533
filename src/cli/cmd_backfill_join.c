/* cmd_backfill_join.c: `chronon run --mode backfill` on a Join: resolves the warehouse
 * and catalog like the GroupBy backfill and runs src/engine's join backfill.
 * Mode options: --step-days N, --force (recompute partitions that exist),
 * --run-first-hole, --verbose. */
#include "base/compat.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/str.h"
#include "cli/cli.h"
#include "cli/run.h"
#include "conf/conf.h"
#include "engine/engine.h"
#include "table/table.h"

static bool has_flag(const CnRunArgs *a, const char *flag) {
    for (int i = 0; i < a->n_extra; i++)
        if (!strcmp(a->extra[i], flag)) return true;
    return false;
}

/* warehouse and catalog: flag > environment > <repo>/warehouse */
static int open_catalog(const CnRunArgs *a, CnIceCatalog **cat, CnErr *err) {
    char cwd[PATH_MAX], root[PATH_MAX + 8], wh[2 * PATH_MAX + 64], cu[2 * PATH_MAX + 160], real[PATH_MAX];
    if (!getcwd(cwd, sizeof cwd)) return cn_err_set(err, CN_EIO, "cannot read the current directory");
    if (realpath(a->repo, real)) snprintf(root, sizeof root, "%s", real);
    else if (a->repo[0] == '/') snprintf(root, sizeof root, "%s", a->repo);
    else snprintf(root, sizeof root, "%s/%s", cwd, a->repo);
    const char *w = cn_run_extra(a, "--warehouse", NULL);
    if (!w || !*w) w = getenv("CHRONON_WAREHOUSE");
    if (!w || !*w) snprintf(wh, sizeof wh, "%s/warehouse", root);
    else if (strstr(w, "://") || w[0] == '/') snprintf(wh, sizeof wh, "%s", w);
    else snprintf(wh, sizeof wh, "%s/%s", cwd, w);
    const char *c = cn_run_extra(a, "--catalog", NULL);
    if (!c || !*c) c = getenv("CHRONON_CATALOG");
    if (c && *c) {
        snprintf(cu, sizeof cu, "%s", c);
    } else {
        const char *local = cn_str_starts_with(wh, "file://") ? wh + 7 : wh;
        if (local[0] == '/') snprintf(cu, sizeof cu, "sqlite:%s/catalog.db", local);
        else snprintf(cu, sizeof cu, "sqlite:%s/catalog.db", root);
    }
    return cn_ice_catalog_open(wh, cu, cat, err);
}

int cn_cli_backfill_join(const CnRunArgs *a, CnErr *err) {
    CnConf *conf = NULL;
    CnIceCatalog *cat = NULL;
    int rc = cn_conf_load(a->conf_path, &conf, err);
    if (rc) return rc;
    if (!conf->join) {
        rc = cn_err_set(err, CN_ECONFIG, "%s: not a Join", a->conf);
        goto done;
    }
    CnEngOpts o;
    memset(&o, 0, sizeof o);
    o.end_ds = a->ds;
    o.start_ds = a->has_start ? a->start_ds : NULL;
    o.verbose = has_flag(a, "--verbose") || has_flag(a, "-v");
    o.force = has_flag(a, "--force");
    o.run_first_hole = has_flag(a, "--run-first-hole");
    const char *v = cn_run_extra(a, "--step-days", NULL);
    if (v) {
        char *end = NULL;
        long n = strtol(v, &end, 10);
        if (!*v || *end || n < 1 || n > 100000) {
            rc = cn_err_set(err, CN_EINVAL, "--step-days: invalid value '%s' (expected a positive number of days)", v);
            goto done;
        }
        o.step_days = (int)n;
    }
    rc = open_catalog(a, &cat, err);
    if (rc) goto done;
    CnEngStats st;
    rc = cn_eng_join_backfill(cat, conf->join, &o, &st, err);
    if (o.verbose)
        fprintf(stderr, "backfill %s: %lld chunks (%lld failed), rows written %lld in %lld partitions\n",
                conf->join->meta.name, (long long)st.chunks, (long long)st.chunks_failed, (long long)st.rows_written,
                (long long)st.days_written);
done:
    cn_ice_catalog_close(cat);
    cn_conf_free(conf);
    return rc;
}
