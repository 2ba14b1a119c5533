/* label.h: label joins (`chronon run --mode label-join`, Chronon's LabelJoin.scala), for a
 * Join with a labelPart and an events left. A run for label day L:
 *   LEFT DAYS: [L - (leftStartOffset - 1), L - (leftEndOffset - 1)], read through the left
 *     query as the backfill reads them (skew keys dropped), keeping only the row
 *     identifier columns: rowIds (+ ds), else the label parts' left key columns (+ ds).
 *   LABELS: each label part's GroupBy snapshot of day L (events: one aggregation, one DAYS
 *     window: epoch(L+1) - W <= ts < epoch(L+1); entities without aggregations: partition
 *     L), joined left outer on the part's keys (keyMapping applied), value columns named
 *     <fullPrefix>_<column>.
 *   OUTPUT: <join output table>_labels, one row per row identifier (the first left row),
 *     columns folded as Spark's join does (each part's keys first), then label_ds = L
 *     and ds. Our tables have one partition column (ds), so label_ds is a column: a run
 *     rewrites its left days, replacing their rows of label_ds L and keeping other
 *     label_ds versions.
 *   VIEWS: <join output table>_labeled, the output table left outer joined with the labels
 *     on the row identifier; label columns not starting with "label" get "label_";
 *     <join output table>_labeled_latest, its rows of each ds's latest label_ds. Made
 *     only when the output table exists.
 *   STEPS: the left days are cut into runs of opts->step_days (0: 30, Chronon's default
 *     --step-days), each computed and committed on its own as LabelJoin.compute does; a
 *     failing step stops the run, the steps before it stay written.
 * docs/joins.md "Label joins" has the rules and what differs from Chronon. */
#ifndef CN_ENG_LABEL_H
#define CN_ENG_LABEL_H

#include "base/arena.h"
#include "engine/engine.h"
#include "expr/expr.h"

typedef struct CnEngLabelStats {
    int64_t rows_written;   /* rows of label_ds L written */
    char left_lo[11], left_hi[11];
    int32_t steps;          /* steps run (the left days cut by step_days) */
    int32_t steps_written;  /* steps that had left rows and committed */
    bool view;              /* the _labeled and _labeled_latest views were (re)created */
} CnEngLabelStats;

/* Runs the label join of j for label day label_ds (YYYY-MM-DD). opts: step_days only.
 * Errors (nothing written): CN_ECONFIG naming labelPart and the field or value that breaks
 * Chronon's rules (no labelPart, left not events, offsets missing or start < end, a
 * part with aggregations that has not exactly one aggregation with one DAYS window equal
 * to both offsets or is not the only label part, a part without aggregations on events,
 * a key not among the row identifier columns, key types differing); CN_EINVAL (bad
 * label_ds); table errors. A range without left rows writes nothing and returns 0. */
int cn_eng_label_join(CnIceCatalog *cat, const CnJoin *j, const char *label_ds, const CnEngOpts *opts,
                      CnEngLabelStats *stats, CnErr *err);

/* join.c: the left rows of days [lo, hi] as the Join backfill reads them (query, skew
 * keys dropped). OWNED: *q (cn_expr_query_free, after *rows: their schema is q's), *rows
 * (cn_col_batch_free), *pday (cn_free, the day of each row); *order (n_order indexes of
 * rows' columns in output order) lives in a. */
int cn_eng__join_left_rows(CnIceCatalog *cat, const CnJoin *j, CnArena *a, int32_t lo, int32_t hi, CnExprQuery **q,
                           CnBatch **rows, int32_t **pday, const int **order, uint32_t *n_order, CnErr *err);

#endif /* CN_ENG_LABEL_H */
