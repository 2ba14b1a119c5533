/* cmd_label_join.c: `chronon run --mode label-join --conf production/joins/...` (run.py's
 * label-join): the label table <join output>_labels for label day --ds (also --end-ds),
 * and the <join output>_labeled and _labeled_latest views when the output table exists
 * (src/engine/label.h, docs/joins.md "Label joins"). Option: --step-days N, the left days
 * computed and committed per step (Chronon's --step-days, default 30). */
#include "base/compat.h"

#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/run.h"
#include "conf/conf.h"
#include "engine/label.h"
#include "table/table.h"

int cn_cli_label_join(const CnRunArgs *a, CnErr *err) {
    CnConf *conf = NULL;
    CnIceCatalog *cat = NULL;
    CnCliWhere where;
    int rc = cn_conf_load(a->conf_path, &conf, err);
    if (rc == 0 && !conf->join) rc = cn_err_set(err, CN_ECONFIG, "%s: not a Join", a->conf);
    if (rc == 0)
        rc = cn_cli_where(a->repo, cn_run_extra(a, "--warehouse", NULL), cn_run_extra(a, "--catalog", NULL), NULL, NULL,
                          &where, err);
    if (rc == 0) rc = cn_ice_catalog_open(where.warehouse, where.catalog, &cat, err);
    if (rc) goto done;
    CnEngOpts o;
    memset(&o, 0, sizeof o);
    o.end_ds = a->ds;
    o.step_days = a->step_days;
    CnEngLabelStats st;
    rc = cn_eng_label_join(cat, conf->join, a->ds, &o, &st, err);
    if (rc == 0)
        fprintf(stderr, "label-join %s: label_ds %s, left days %s..%s: wrote %lld rows in %d of %d step%s%s\n",
                conf->join->meta.name, a->ds, st.left_lo, st.left_hi, (long long)st.rows_written, st.steps_written,
                st.steps, st.steps == 1 ? "" : "s",
                st.view ? ", views _labeled and _labeled_latest updated"
                        : (st.rows_written ? ", no _labeled views (no output table)" : ""));
done:
    cn_ice_catalog_close(cat);
    cn_conf_free(conf);
    return rc;
}
