/* engine.h: GroupBy backfills (compute.md sections 1, 2, 5) and the temporal evaluation
 * API the Join backfill and online upload build on.
 *
 * PIPELINE: scan only the ds partitions a chunk needs (window + 1 day before its start;
 *   all history when a part is unwindowed) and only the columns the Query reads; apply
 *   wheres, then selects, then ts; drop rows whose keys are all null. Keys go through
 *   one open-addressing table (encoded key bytes -> dense key id). Rows stay in memory
 *   as columns (the loaded GroupBy, CnEngGroupBy).
 * SNAPSHOTS of events are derived from tiles: one IR per key per time tile (a UTC day,
 *   or an hour when a window is not a whole number of days) and per source partition.
 *   Each day's windows come from a sliding merge over tiles (add/subtract for
 *   reversible ops, two stacks for the others, src/agg's slider); unwindowed parts fold
 *   tiles into a running IR. A row stored after its ts day (late) forms its own tile
 *   that becomes visible on its storage day (D27). Tiles are sparse (IRs only for the
 *   keys with rows in the tile). A run of one or two days without the tile store, all of
 *   whose operations are exact (no float sums or moments, no sketches), folds each
 *   window's rows straight into its IR instead: same bits, no tiles to build.
 * TILE STORE: the tiles of every scanned source partition are saved in the hidden
 *   Iceberg table `<output table>__tiles` (keys, tile_ms, agg, ir, ds = the source
 *   partition), with the GroupBy's semantic hash as table property. A later run reads
 *   stored tiles for partitions it has them for and scans only the others. A source
 *   partition rewritten after its tiles were stored is not noticed: run with
 *   --no-tiles (or drop the __tiles table) after rewriting input partitions.
 * ENTITIES: each day is partition D of the snapshot table grouped by key (no tiles).
 * THREADS: one thread per CnEngGroupBy; nothing global is mutated. */
#ifndef CN_ENGINE_H
#define CN_ENGINE_H

#include "base/compat.h"
#include "base/err.h"
#include "base/str.h"
#include "col/col.h"
#include "conf/conf.h"
#include "table/table.h"

/* ---- distributed runs (src/dist sets this; NULL in CnEngOpts: one process) ----
 * Every rank runs the same GroupBy backfill against the same catalog and plans the same
 * chunks. Per chunk: the scan reads only files i % nranks == rank, the loaded rows go
 * to the rank owning their key (key hash % nranks) through exchange, and are put back in
 * the one-process order (source, file, row); each rank computes and writes its keys;
 * commit hands this rank's files to rank 0, which commits them all once. The tile store
 * is not used. A failing chunk calls fail, which does not return (the job aborts before
 * any commit of that chunk). */
typedef struct CnEngShard {
    int rank, nranks;
    void *ud;
    /* send[i] goes to rank i; recv (reset first) gets what every rank sent to this one,
     * in rank order. Collective. */
    int (*exchange)(void *ud, const CnBuf *send, CnBuf *recv, CnErr *err);
    /* Waits until every rank got here. Collective. */
    int (*sync)(void *ud, CnErr *err);
    /* Finishes this rank's write; rank 0 adds every rank's files and commits. Collective. */
    int (*commit)(void *ud, CnIceWrite *w, CnErr *err);
    void (*fail)(void *ud, const CnErr *err);
} CnEngShard;

/* Options of one backfill run (chronon run --mode backfill on group_bys). */
typedef struct CnEngOpts {
    const char *start_ds;     /* --start-ds, NULL: backfillStartDate, else end_ds (D28) */
    const char *end_ds;       /* required */
    int step_days;            /* chunk length of holes; 0 = 30 */
    bool run_first_hole;      /* also days before the earliest existing output partition */
    bool use_tiles;           /* read and write the __tiles table (default true) */
    uint64_t max_memory;      /* bytes; 0 = half the physical memory */
    int verbose;              /* 1: print rows scanned, tiles read/written, chunks */
    bool progress;            /* progress bar on stderr */
    bool force;               /* joins: also recompute partitions the output has */
    const CnEngShard *shard;  /* distributed GroupBy backfill, NULL: one process */
    const struct CnEngSplit *split; /* joins: split mode (engine/jsplit.h), NULL: the whole join */
    bool keys_unindexed;      /* the loaded keys are never looked up (upload): no key hash slots */
} CnEngOpts;

/* Counters of a run, for --verbose and tests. */
typedef struct CnEngStats {
    int64_t rows_scanned;       /* source rows read from data files */
    int64_t partitions_scanned; /* distinct source partitions read from data files */
    int64_t tiles_read;         /* stored tile rows read */
    int64_t tiles_written;
    int64_t rows_written;       /* output rows */
    int64_t days_written;       /* output partitions */
    int64_t chunks, chunks_failed;
} CnEngStats;

/* Backfills the GroupBy into <outputNamespace>.<cleanName> following compute.md section
 * 5 "Partitions to compute": holes of the range without output, with a source
 * partition, cut by step_days; each chunk is one commit (dynamic partition overwrite).
 * A failed chunk does not stop later ones; the first error is returned at the end.
 * stats (optional OUT). Errors: CN_ENOTFOUND (source table, names nearby tables),
 * CN_ECONFIG (column missing in a select: lists the columns; bad operation input type),
 * CN_EINVAL (empty range), CN_ELIMIT (--max-memory exceeded: says what to raise),
 * expression errors of derivations (naming the GroupBy, derivations[i] and the
 * expression; the output then has the derived columns), table and storage errors. */
int cn_eng_groupby_backfill(CnIceCatalog *cat, const CnGroupBy *gb, const CnEngOpts *opts,
                            CnEngStats *stats, CnErr *err);

/* Backfills the Join into <outputNamespace>.<cleanName(name)> (compute.md section 6):
 * every left row of the left partitions in [start, min(left.endPartition, end_ds)]
 * (start: opts->start_ds, else left.startPartition, else the first left partition)
 * once, with each part's point-in-time features, then derivations; chunks of
 * step_days, each one overwrite commit of its ds partitions (docs/joins.md lists what
 * is not built). Errors:
 * CN_ENOTFOUND (left or right table), CN_ECONFIG (key not on the left, key types
 * differ, two parts produce a column, duplicate rows of a no-aggregation part),
 * expression errors of derivations (naming derivations[i]), table errors. */
int cn_eng_join_backfill(CnIceCatalog *cat, const CnJoin *j, const CnEngOpts *opts, CnEngStats *stats,
                         CnErr *err);

/* ------------------------------------------------------------------------------------
 * Temporal evaluation: the value of a GroupBy for a key at a time, as the Join backfill
 * (TEMPORAL and SNAPSHOT parts) and online checks need it.
 *
 *   CnEngGroupBy *g;
 *   cn_eng_gb_open(cat, gb, NULL, "2025-01-20", &opts, &g, err);  // rows of ds <= hi
 *   cn_eng_gb_key_schema(g)    -> the key columns (names and types as selected)
 *   cn_eng_gb_value_schema(g)  -> the value columns, output order and types
 *   cn_eng_gb_values_at(g, queries, out, err)  // queries: key columns + int64 "ts"
 *
 * values_at appends one row to out per query row (same order), the value at q = ts with
 * temporal membership floor(q-W,H(W)) <= t < q (compute.md section 2); a key without
 * rows, a null key or a null ts gives nulls. Queries sorted by (key, ts) are cheapest:
 * each key's rows are visited once per query today (O(rows of the key)); the sweep
 * keeping window heads and hop-aligned tails is the planned optimisation and keeps
 * this contract. cn_eng_gb_snapshot gives the SNAPSHOT value of day ds (the backfill's
 * rows, D6 applied) for the same purpose. */
typedef struct CnEngGroupBy CnEngGroupBy;

/* Loads the GroupBy's source rows of partitions [lo_ds, hi_ds] (NULL: unbounded).
 * OWNED: *out, cn_eng_gb_free. Errors as cn_eng_groupby_backfill. */
int cn_eng_gb_open(CnIceCatalog *cat, const CnGroupBy *gb, const char *lo_ds,
                   const char *hi_ds, const CnEngOpts *opts, CnEngGroupBy **out, CnErr *err);
void cn_eng_gb_free(CnEngGroupBy *g); /* NULL-safe */
/* BORROWED until cn_eng_gb_free. */
const CnSchema *cn_eng_gb_key_schema(const CnEngGroupBy *g);
const CnSchema *cn_eng_gb_value_schema(const CnEngGroupBy *g);
/* out has the value schema; queries have the key columns (by name) and an int64 "ts".
 * CN_ENOTFOUND / CN_ETYPE name a missing or mistyped query column; CN_ENOMEM. */
int cn_eng_gb_values_at(CnEngGroupBy *g, const CnBatch *queries, CnBatch *out, CnErr *err);
/* Appends the snapshot rows of day ds (keys, values; schema = keys then values) to out.
 * CN_ENOMEM. */
int cn_eng_gb_snapshot(CnEngGroupBy *g, const char *ds, CnBatch *out, CnErr *err);
/* Counters so far (rows scanned, ...). */
const CnEngStats *cn_eng_gb_stats(const CnEngGroupBy *g);

#endif /* CN_ENGINE_H */
