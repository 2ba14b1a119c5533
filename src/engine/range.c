/* range.c: the snapshots of a multi-day range of an events GroupBy in one pass over
 * its rows, for the exact operations the key fold takes (SUM, COUNT, AVERAGE, MIN, MAX,
 * LAST_K, FIRST_K over one long input column, any windows, no buckets).
 *
 * The rows that some day of the range can see (a ts, a non-null value, stored by the
 * last day, ts inside the widest window of some day) are grouped by key once, and each
 * key's rows are sorted newest first (ts descending, then value descending: rec.c's
 * LAST_K order). The day ends are then the query points: for day d a key's visible rows
 * are those with ts in [end(d) - W, end(d)) stored by d, which in this order start at a
 * per-key cursor that only moves back as d grows and run until ts falls below the widest
 * window. Every window's rows are a prefix of that run, so LAST_K of a window is the
 * head of its prefix and FIRST_K the prefix's tail reversed, as in the one-day fold.
 * Each day's rows are written as soon as the day is folded, in key id order, skipping
 * keys with no visible row (D6), so the writer holds one day at a time.
 *
 * Bit for bit the one-day runs' values: integer sums wrap alike whatever the order;
 * AVERAGE sums doubles in ts order instead of source order, which gives the same bits
 * only because every partial sum is an integer below 2^53 (checked: the pass declines
 * when max |value| x rows of a key could reach it); K-lists follow the same total order.
 * With two threads, a worker folds the next days while the caller writes the current
 * one (the writer is single-threaded). */
#include "engine/range.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/alloc.h"
#include "base/date.h"
#include "base/log.h"
#include "base/pool.h"

typedef struct RRow { /* one row a day of the range may see */
    int64_t ts, v;
    int32_t pday;
} RRow;

typedef struct RAcc { /* one key, one window, one day */
    uint32_t n;
    uint64_t sum;
    double dsum;
    int64_t mn, mx;
} RAcc;

#define R_MAX_PARTS 256
#define R_BATCH 65536u /* output rows per emitted batch */
#define R_FILL 2048u   /* keys per column-wise fill (a multiple dividing R_BATCH) */

typedef struct RPlan {
    CnEngFoldPart part[R_MAX_PARTS];
    int64_t win[R_MAX_PARTS]; /* window lengths in ms, 0 unwindowed */
    uint32_t n_parts, n_wins;
    bool any_avg;
    int i_input;
} RPlan;

/* false when some part needs another path */
static bool plan_make(const CnEngGroupBy *g, RPlan *pl) {
    memset(pl, 0, sizeof *pl);
    if (g->n_parts > R_MAX_PARTS || !cn_eng__fold_plan(g, pl->part, pl->win, &pl->n_wins)) return false;
    pl->n_parts = g->n_parts;
    pl->i_input = g->bases[0].i_input;
    for (uint32_t p = 0; p < pl->n_parts; p++) pl->any_avg |= pl->part[p].op == CN_ENG_FOLD_AVG;
    return true;
}

bool cn_eng__range_eligible(const CnEngGroupBy *g) {
    RPlan pl;
    return cn_eng__fold_enabled() && plan_make(g, &pl);
}

/* Shared, read-only once built: the rows by key and the plan. */
typedef struct RData {
    CnEngGroupBy *g;
    const RPlan *pl;
    RRow *rows;
    /* the prefix path (see fold_day_prefix), else NULL: rows' ts in an array of its own
     * and m + 1 running sums of the values (wrapping; value i is psum[i + 1] - psum[i]),
     * rows freed: a day reads a few values and cursor ts per key, a third of the cache
     * lines of whole rows */
    int64_t *ts;
    uint64_t *psum;
    uint32_t *beg;  /* n_ids + 1 */
    uint32_t n_ids;
    CnSchema *os;
    /* written batches kept for the next days (their pages are faulted in and sized
     * already), under mu */
    pthread_mutex_t mu;
    CnBatch **spare;
    uint32_t n_spare, cap_spare;
} RData;

/* One day's output: batches of at most R_BATCH rows (at least one, maybe empty). */
typedef struct RDay {
    CnBatch **b;
    uint32_t n, cap;
} RDay;

/* Per folding thread: cursors and scratch. cur[id]: first row of id with ts < end of the
 * last day folded (rows before it are newer). */
typedef struct RFolder {
    uint32_t *cur;
    uint32_t *wend; /* prefix path: [id * n_wins + w] first row of id older than window w */
    uint32_t *sel_id, *sel_c, *sel_j; /* prefix path: a batch's keys, their cur and wend */
    uint8_t *sel_ok;
    RRow *vis;      /* the visible rows of one key, newest first */
    uint32_t vis_cap;
    RAcc acc[R_MAX_PARTS];
    uint32_t wn[R_MAX_PARTS];
    int32_t last_day;
} RFolder;

static int day_batch(RData *rd, RDay *out, CnBatch **ob, CnErr *err) {
    if (out->n == out->cap) {
        uint32_t cap = out->cap ? out->cap * 2 : 8;
        CnBatch **nb = cn_realloc(out->b, cap * sizeof *nb);
        if (!nb) return cn_err_set(err, CN_ENOMEM, "out of memory");
        out->b = nb;
        out->cap = cap;
    }
    CnBatch *b = NULL;
    pthread_mutex_lock(&rd->mu);
    if (rd->n_spare) b = rd->spare[--rd->n_spare];
    pthread_mutex_unlock(&rd->mu);
    if (!b) {
        int rc = cn_col_batch_new(rd->os, &b, err);
        if (rc) return rc;
        /* sized for a full batch at once: no regrowth copies while folding */
        for (uint32_t c = 0; c < b->n_cols && rc == 0; c++) {
            CnVec *v = &b->cols[c];
            rc = cn_col_vec_reserve(v, R_BATCH);
            if (rc == 0 && v->type->id == CN_COL_LIST) {
                uint32_t k = rd->pl->part[c - rd->g->n_keys].k;
                rc = cn_col_vec_reserve(&v->child[0], R_BATCH * (k < 16 ? k : 16));
            }
        }
        if (rc) {
            cn_col_batch_free(b);
            return cn_err_set(err, CN_ENOMEM, "out of memory");
        }
    }
    out->b[out->n++] = b;
    *ob = b;
    return 0;
}

/* Gives the day's batches back to the spares (reset). */
static void day_free(RData *rd, RDay *dy) {
    pthread_mutex_lock(&rd->mu);
    for (uint32_t i = 0; i < dy->n; i++) {
        if (rd->n_spare == rd->cap_spare) {
            uint32_t cap = rd->cap_spare ? rd->cap_spare * 2 : 8;
            CnBatch **ns = cn_realloc(rd->spare, cap * sizeof *ns);
            if (!ns) {
                cn_col_batch_free(dy->b[i]);
                continue;
            }
            rd->spare = ns;
            rd->cap_spare = cap;
        }
        cn_col_batch_reset(dy->b[i]);
        rd->spare[rd->n_spare++] = dy->b[i];
    }
    pthread_mutex_unlock(&rd->mu);
    cn_free(dy->b);
    memset(dy, 0, sizeof *dy);
}

/* Appends key id's row for day d from its visible rows f->vis[0..n) (newest first). */
static int key_row(const RData *rd, const RFolder *f, const RRow *vis, uint32_t id, const char *ds, CnBatch *ob) {
    const CnEngGroupBy *g = rd->g;
    const RPlan *pl = rd->pl;
    int rc = 0;
    uint32_t nk = g->n_keys;
    for (uint32_t k = 0; k < nk; k++) rc |= cn_col_vec_append_from(&ob->cols[k], &g->keys.vals->cols[k], id);
    for (uint32_t p = 0; p < pl->n_parts; p++) {
        CnVec *out = &ob->cols[nk + p];
        const CnEngFoldPart *rp = &pl->part[p];
        const RAcc *a = &f->acc[rp->win];
        if (!a->n) {
            rc |= cn_col_vec_append_null(out);
            continue;
        }
        switch (rp->op) {
        case CN_ENG_FOLD_SUM: rc |= cn_col_vec_append_i64(out, (int64_t)a->sum); break;
        case CN_ENG_FOLD_COUNT: rc |= cn_col_vec_append_i64(out, (int64_t)a->n); break;
        case CN_ENG_FOLD_MIN: rc |= cn_col_vec_append_i64(out, a->mn); break;
        case CN_ENG_FOLD_MAX: rc |= cn_col_vec_append_i64(out, a->mx); break;
        case CN_ENG_FOLD_AVG: {
            double x = a->dsum / (double)a->n;
            rc |= isfinite(x) ? cn_col_vec_append_f64(out, x) : cn_col_vec_append_null(out); /* N4 */
            break;
        }
        case CN_ENG_FOLD_LASTK: case CN_ENG_FOLD_FIRSTK: {
            uint32_t m = a->n < rp->k ? a->n : rp->k;
            for (uint32_t j = 0; j < m; j++)
                rc |= cn_col_vec_append_i64(&out->child[0], vis[rp->op == CN_ENG_FOLD_LASTK ? j : a->n - 1 - j].v);
            rc |= cn_col_vec_close_list(out);
            break;
        }
        }
    }
    rc |= cn_col_vec_append_str(&ob->cols[ob->n_cols - 1], ds, 10);
    return rc ? CN_ENOMEM : 0;
}

/* Appends key id's row (its visible rows vis, newest first) to the day, in a new batch
 * when the current one is full. */
static int day_row(RData *rd, const RFolder *f, const RRow *vis, uint32_t id, const char *ds, RDay *out,
                   CnBatch **ob, CnErr *err) {
    if ((*ob)->cols[0].n >= R_BATCH) {
        int rc = cn_col_batch_sync_rows(*ob, err);
        if (rc == 0) rc = day_batch(rd, out, ob, err);
        if (rc) return rc;
    }
    return key_row(rd, f, vis, id, ds, *ob) ? cn_err_set(err, CN_ENOMEM, "out of memory") : 0;
}

/* Folds day d (days must come in ascending order per folder) into out. */
static int fold_day(RData *rd, RFolder *f, int32_t d, RDay *out, CnErr *err) {
    const RPlan *pl = rd->pl;
    int64_t end = ((int64_t)d + 1) * CN_MS_PER_DAY, lo_min = INT64_MAX, lo[R_MAX_PARTS];
    for (uint32_t w = 0; w < pl->n_wins; w++) {
        lo[w] = pl->win[w] ? end - pl->win[w] : INT64_MIN;
        if (lo[w] < lo_min) lo_min = lo[w];
    }
    char ds[11];
    cn_ds_format(d, ds);
    CnBatch *ob = NULL;
    int rc = day_batch(rd, out, &ob, err);
    for (uint32_t id = 0; id < rd->n_ids && rc == 0; id++) {
        uint32_t b = rd->beg[id], e = rd->beg[id + 1], c = f->cur[id];
        while (c > b && rd->rows[c - 1].ts < end) c--;
        f->cur[id] = c;
        uint32_t n = 0;
        for (uint32_t w = 0; w < pl->n_wins; w++) {
            f->acc[w].n = 0;
            f->acc[w].sum = 0;
            f->acc[w].dsum = 0;
            f->acc[w].mn = INT64_MAX;
            f->acc[w].mx = INT64_MIN;
        }
        for (uint32_t j = c; j < e && rd->rows[j].ts >= lo_min; j++) {
            const RRow *r = &rd->rows[j];
            if (r->pday > d) continue; /* stored after d: not visible yet (D27) */
            f->vis[n].ts = r->ts;
            f->vis[n++].v = r->v;
            for (uint32_t w = 0; w < pl->n_wins; w++) {
                RAcc *a = &f->acc[w];
                if (r->ts < lo[w]) continue;
                a->n++;
                a->sum += (uint64_t)r->v;
                a->dsum += (double)r->v;
                if (r->v < a->mn) a->mn = r->v;
                if (r->v > a->mx) a->mx = r->v;
            }
        }
        if (!n) continue; /* no visible row: every value null, not written (D6) */
        rc = day_row(rd, f, f->vis, id, ds, out, &ob, err);
    }
    if (rc == 0) rc = cn_col_batch_sync_rows(ob, err);
    return rc;
}

/* Sets validity bits [0, n) of v from ok[], materialising the bitmap only when some
 * entry is null; counts the nulls. 0 or CN_ENOMEM. */
static int fill_valid(CnVec *v, const uint8_t *ok, uint32_t n) {
    uint32_t nulls = 0;
    for (uint32_t i = 0; i < n; i++) nulls += !ok[i];
    if (nulls) {
        if (cn_col_vec_make_valid(v)) return CN_ENOMEM;
        memset(v->valid, 0, ((size_t)n + 63) / 64 * 8);
        for (uint32_t i = 0; i < n; i++) v->valid[i >> 6] |= (uint64_t)ok[i] << (i & 63);
    }
    v->n_null = nulls;
    v->n = n;
    return 0;
}

/* Entries [i0, i0 + n) of part p's column v (reserved for R_BATCH entries) from the n
 * keys selected by fold_day_prefix, written in place (validity into ok[i0...], set by
 * fill_valid once the batch is full): key i's rows for window w are
 * rows[sel_c[i], sel_j[i * n_wins + w]). */
static int fill_part(const RData *rd, const RFolder *f, uint32_t p, uint32_t i0, uint32_t n, CnVec *v, uint8_t *ok) {
    const CnEngFoldPart *rp = &rd->pl->part[p];
    const uint64_t *ps = rd->psum;
    uint32_t nw = rd->pl->n_wins, w = rp->win;
    const uint32_t *sc = f->sel_c, *sj = f->sel_j;
    if (rp->op == CN_ENG_FOLD_LASTK || rp->op == CN_ENG_FOLD_FIRSTK) {
        CnVec *ch = &v->child[0];
        uint64_t total = 0;
        for (uint32_t i = 0; i < n; i++) {
            uint32_t m = sj[(size_t)i * nw + w] - sc[i];
            total += m < rp->k ? m : rp->k;
        }
        if (total > UINT32_MAX - ch->n || cn_col_vec_reserve(ch, (uint32_t)total)) return CN_ENOMEM;
        int64_t *out = ch->values;
        uint32_t o = ch->n;
        for (uint32_t i = 0; i < n; i++) {
            uint32_t c = sc[i], j = sj[(size_t)i * nw + w], m = j - c < rp->k ? j - c : rp->k;
            if (rp->op == CN_ENG_FOLD_LASTK)
                for (uint32_t q = 0; q < m; q++) out[o + q] = (int64_t)(ps[c + q + 1] - ps[c + q]);
            else
                for (uint32_t q = 0; q < m; q++) out[o + q] = (int64_t)(ps[j - q] - ps[j - 1 - q]);
            o += m;
            v->offsets[i0 + i + 1] = o;
            ok[i0 + i] = j > c;
        }
        ch->n = o;
        return 0;
    }
    for (uint32_t i = 0; i < n; i++) {
        uint32_t c = sc[i], j = sj[(size_t)i * nw + w];
        uint64_t sum = ps[j] - ps[c];
        uint8_t has = j > c;
        switch (rp->op) {
        case CN_ENG_FOLD_SUM: ((int64_t *)v->values)[i0 + i] = (int64_t)sum; break;
        case CN_ENG_FOLD_COUNT: ((int64_t *)v->values)[i0 + i] = (int64_t)(j - c); break;
        case CN_ENG_FOLD_AVG: {
            /* exact: range_fold declines AVERAGE unless every partial sum is below 2^53 */
            double x = has ? (double)(int64_t)sum / (double)(j - c) : 0;
            has &= isfinite(x) != 0; /* N4 */
            ((double *)v->values)[i0 + i] = has ? x : 0;
            break;
        }
        default: ((int64_t *)v->values)[i0 + i] = 0; break; /* MIN, MAX: not on this path */
        }
        ok[i0 + i] = has;
    }
    return 0;
}

/* Appends the n keys selected by fold_day_prefix to the day's last batch (a new one
 * when it is full, or when force: the first of the day). A batch filled to R_BATCH rows
 * gets its validity and row count. */
static int fill_rows(RData *rd, RFolder *f, uint32_t n, const char *ds, RDay *out, CnErr *err) {
    CnBatch *ob = out->n ? out->b[out->n - 1] : NULL;
    int rc = 0;
    if (!ob || ob->cols[0].n + n > R_BATCH) rc = day_batch(rd, out, &ob, err);
    if (rc) return rc;
    const CnEngGroupBy *g = rd->g;
    uint32_t nk = g->n_keys, i0 = ob->cols[0].n, np = rd->pl->n_parts;
    for (uint32_t k = 0; k < nk; k++)
        for (uint32_t i = 0; i < n; i++) rc |= cn_col_vec_append_from(&ob->cols[k], &g->keys.vals->cols[k], f->sel_id[i]);
    for (uint32_t p = 0; p < np; p++) rc |= fill_part(rd, f, p, i0, n, &ob->cols[nk + p], f->sel_ok + (size_t)p * R_BATCH);
    for (uint32_t i = 0; i < n; i++) rc |= cn_col_vec_append_str(&ob->cols[ob->n_cols - 1], ds, 10);
    for (uint32_t p = 0; p < np; p++) ob->cols[nk + p].n = i0 + n; /* for the next fill's i0 */
    if (rc) return cn_err_set(err, CN_ENOMEM, "out of memory");
    return 0;
}

/* Seals the day's last batch: validity of the part columns, row count. */
static int fill_seal(RData *rd, RFolder *f, RDay *out, CnErr *err) {
    CnBatch *ob = out->b[out->n - 1];
    uint32_t nk = rd->g->n_keys, n = ob->cols[0].n;
    for (uint32_t p = 0; p < rd->pl->n_parts; p++)
        if (fill_valid(&ob->cols[nk + p], f->sel_ok + (size_t)p * R_BATCH, n))
            return cn_err_set(err, CN_ENOMEM, "out of memory");
    return cn_col_batch_sync_rows(ob, err);
}

/* fold_day when every row is visible from its own ts day on (rd->psum set): a key's rows
 * for day d are rows[cur, end of window) with no gaps, so each window's count and sum
 * come from the running sums and per-window cursors (which, like cur, only move back as
 * d grows) without visiting the rows, and K-lists read the run in place. The keys with
 * a visible row are selected R_FILL at a time, then written column by column (few
 * enough that their rows stay in cache across the columns). */
static int fold_day_prefix(RData *rd, RFolder *f, int32_t d, RDay *out, CnErr *err) {
    const RPlan *pl = rd->pl;
    uint32_t nw = pl->n_wins;
    int64_t end = ((int64_t)d + 1) * CN_MS_PER_DAY, lo[R_MAX_PARTS];
    for (uint32_t w = 0; w < nw; w++) lo[w] = pl->win[w] ? end - pl->win[w] : INT64_MIN;
    char ds[11];
    cn_ds_format(d, ds);
    const int64_t *ts = rd->ts;
    uint32_t n = 0;
    int rc = 0;
    for (uint32_t id = 0; id < rd->n_ids && rc == 0; id++) {
        uint32_t b = rd->beg[id], c = f->cur[id];
        while (c > b && ts[c - 1] < end) c--;
        f->cur[id] = c;
        uint32_t *we = f->wend + (size_t)id * nw, *sj = f->sel_j + (size_t)n * nw, any = 0;
        for (uint32_t w = 0; w < nw; w++) {
            uint32_t j = we[w];
            while (j > c && ts[j - 1] < lo[w]) j--;
            we[w] = sj[w] = j;
            any |= j - c;
        }
        if (!any) continue; /* no visible row: every value null, not written (D6) */
        f->sel_id[n] = id;
        f->sel_c[n++] = c;
        if (n < R_FILL) continue;
        if (out->n && out->b[out->n - 1]->cols[0].n + n > R_BATCH) rc = fill_seal(rd, f, out, err);
        if (rc == 0) rc = fill_rows(rd, f, n, ds, out, err);
        n = 0;
    }
    if (rc == 0 && out->n && out->b[out->n - 1]->cols[0].n + n > R_BATCH) rc = fill_seal(rd, f, out, err);
    if (rc == 0 && (n || !out->n)) rc = fill_rows(rd, f, n, ds, out, err);
    if (rc == 0) rc = fill_seal(rd, f, out, err);
    return rc;
}

static int folder_init(const RData *rd, RFolder *f, uint32_t max_rows, CnErr *err) {
    memset(f, 0, sizeof *f);
    f->cur = cn_malloc(((size_t)rd->n_ids + 1) * sizeof *f->cur);
    uint32_t nw = rd->pl->n_wins;
    if (rd->psum) {
        f->wend = cn_malloc(((size_t)rd->n_ids * nw + 1) * sizeof *f->wend);
        f->sel_id = cn_malloc(R_FILL * sizeof *f->sel_id);
        f->sel_c = cn_malloc(R_FILL * sizeof *f->sel_c);
        f->sel_j = cn_malloc((size_t)R_FILL * nw * sizeof *f->sel_j);
        f->sel_ok = cn_malloc((size_t)R_BATCH * rd->pl->n_parts + 1);
    } else {
        f->vis = cn_malloc(((size_t)max_rows + 1) * sizeof *f->vis);
    }
    if (!f->cur || (rd->psum ? !f->wend || !f->sel_id || !f->sel_c || !f->sel_j || !f->sel_ok : !f->vis))
        return cn_err_set(err, CN_ENOMEM, "out of memory");
    for (uint32_t id = 0; id < rd->n_ids; id++) {
        f->cur[id] = rd->beg[id + 1];
        for (uint32_t w = 0; f->wend && w < nw; w++) f->wend[(size_t)id * nw + w] = rd->beg[id + 1];
    }
    return 0;
}

static int fold_any(RData *rd, RFolder *f, int32_t d, RDay *out, CnErr *err) {
    return rd->psum ? fold_day_prefix(rd, f, d, out, err) : fold_day(rd, f, d, out, err);
}

static void folder_fini(RFolder *f) {
    cn_free(f->cur);
    cn_free(f->wend);
    cn_free(f->sel_id);
    cn_free(f->sel_c);
    cn_free(f->sel_j);
    cn_free(f->sel_ok);
    cn_free(f->vis);
}

/* ------------------------------------------------------------------ two threads */

/* A worker folds the days, a few ahead of the caller, who writes each day in order
 * (folding and writing cost about the same, so each keeps a core busy). */
typedef struct RPipe {
    RData *rd;
    const int32_t *days;
    uint32_t n_days;
    RDay *out;        /* per day index */
    int *rc;          /* per day index: fold result */
    uint8_t *ready;   /* per day index, under mu */
    CnErr *errs;      /* per day index */
    uint32_t max_rows;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    uint32_t written; /* days the caller has written (the worker keeps <= 2 ahead) */
    bool stop;
    double fold_cpu;  /* the worker's CPU seconds, set when it ends */
} RPipe;

static void pipe_worker(void *ud, uint32_t t) {
    (void)t;
    RPipe *p = ud;
    RFolder f;
    CnErr err = CN_ERR_INIT;
    int frc = folder_init(p->rd, &f, p->max_rows, &err);
    for (uint32_t i = 0; i < p->n_days; i++) {
        pthread_mutex_lock(&p->mu);
        while (!p->stop && i > p->written + 3) pthread_cond_wait(&p->cv, &p->mu); /* memory: a few days ahead */
        bool stop = p->stop;
        pthread_mutex_unlock(&p->mu);
        if (stop) break;
        int rc = frc ? frc : fold_any(p->rd, &f, p->days[i], &p->out[i], &p->errs[i]);
        if (frc) p->errs[i] = err;
        pthread_mutex_lock(&p->mu);
        p->rc[i] = rc;
        p->ready[i] = 1;
        pthread_cond_broadcast(&p->cv);
        pthread_mutex_unlock(&p->mu);
    }
    folder_fini(&f);
    p->fold_cpu = cn_clock_s(CLOCK_THREAD_CPUTIME_ID);
}

static int emit_day(RData *rd, RDay *dy, int32_t d, CnEngEmitFn emit, void *ud, CnErr *err) {
    int rc = 0;
    for (uint32_t i = 0; i < dy->n && rc == 0; i++)
        if (dy->b[i]->n_rows || i == 0) rc = emit(ud, d, dy->b[i], err);
    day_free(rd, dy);
    return rc;
}

/* *fold_cpu: CPU seconds of the folding worker (-1 when the caller folds too). */
static int run_days(RData *rd, const int32_t *days, uint32_t n_days, uint32_t max_rows, CnEngEmitFn emit,
                    void *ud, double *fold_cpu, CnErr *err) {
    *fold_cpu = -1;
    if (cn_pool_threads() < 2 || n_days < 2) {
        RFolder f;
        int rc = folder_init(rd, &f, max_rows, err);
        for (uint32_t i = 0; i < n_days && rc == 0; i++) {
            RDay dy = {0};
            rc = fold_any(rd, &f, days[i], &dy, err);
            if (rc == 0) rc = emit_day(rd, &dy, days[i], emit, ud, err);
            day_free(rd, &dy);
        }
        folder_fini(&f);
        return rc;
    }
    int rc = 0;
    RPipe p;
    memset(&p, 0, sizeof p);
    p.rd = rd;
    p.days = days;
    p.n_days = n_days;
    p.max_rows = max_rows;
    p.out = cn_calloc(n_days, sizeof *p.out);
    p.rc = cn_calloc(n_days, sizeof *p.rc);
    p.ready = cn_calloc(n_days, 1);
    p.errs = cn_calloc(n_days, sizeof *p.errs);
    CnPoolJob *job = NULL;
    if (rc == 0 && (!p.out || !p.rc || !p.ready || !p.errs)) rc = cn_err_set(err, CN_ENOMEM, "out of memory");
    pthread_mutex_init(&p.mu, NULL);
    pthread_cond_init(&p.cv, NULL);
    if (rc == 0) rc = cn_pool_start(1, pipe_worker, &p, &job, err);
    for (uint32_t i = 0; i < n_days && rc == 0; i++) {
        pthread_mutex_lock(&p.mu);
        while (!p.ready[i]) pthread_cond_wait(&p.cv, &p.mu);
        pthread_mutex_unlock(&p.mu);
        rc = p.rc[i];
        if (rc) *err = p.errs[i];
        if (rc == 0) rc = emit_day(rd, &p.out[i], days[i], emit, ud, err);
        pthread_mutex_lock(&p.mu);
        p.written = i + 1;
        pthread_cond_broadcast(&p.cv);
        pthread_mutex_unlock(&p.mu);
    }
    pthread_mutex_lock(&p.mu);
    p.stop = true;
    pthread_cond_broadcast(&p.cv);
    pthread_mutex_unlock(&p.mu);
    cn_pool_join(job);
    *fold_cpu = p.fold_cpu;
    for (uint32_t i = 0; p.out && i < n_days; i++) day_free(rd, &p.out[i]);
    pthread_cond_destroy(&p.cv);
    pthread_mutex_destroy(&p.mu);
    cn_free(p.out);
    cn_free(p.rc);
    cn_free(p.ready);
    cn_free(p.errs);
    return rc;
}

/* ------------------------------------------------------------------ grouping */

#define GROUP_MAX_THREADS 16u
#define GROUP_SORT_IDS 4096u /* key ids a thread takes at a time to sort */

/* The grouping of the rows a day of the range may see, on threads: thread t counts the
 * rows [n t / nt, n (t + 1) / nt) per key id into cnt[t * n_ids ...], which then become
 * its write cursors (after the rows of the same key in the chunks before it, so a key's
 * rows stay in source order), scatters them, and the threads sort keys' rows in turns of
 * GROUP_SORT_IDS ids. The result does not depend on the thread count. */
typedef struct GroupJob {
    const CnEngGroupBy *g;
    const CnVec *val;
    int32_t e;
    int64_t end_e, lo_s;
    uint32_t n, nt, n_ids;
    uint32_t *cnt;       /* nt x n_ids: counts, then cursors */
    RRow *rows;
    const uint32_t *beg;
    int phase;           /* 0 count, 1 scatter, 2 sort */
    atomic_uint next;    /* phase 2: the next ids to sort */
    uint64_t m[GROUP_MAX_THREADS], max_abs[GROUP_MAX_THREADS];
    bool prefix[GROUP_MAX_THREADS];
} GroupJob;

static void group_step(void *ud, uint32_t t) {
    GroupJob *j = ud;
    const CnEngGroupBy *g = j->g;
    if (j->phase == 2) {
        for (uint32_t a; (a = atomic_fetch_add(&j->next, GROUP_SORT_IDS)) < j->n_ids;)
            for (uint32_t id = a, b = CN_MIN(j->n_ids, a + GROUP_SORT_IDS); id < b; id++)
                cn_eng__fold_sort(j->rows + j->beg[id], j->beg[id + 1] - j->beg[id], sizeof *j->rows);
        return;
    }
    /* locals: the stores below may alias g's and val's fields */
    const uint8_t *ts_ok = g->ts_ok;
    const int32_t *pday = g->pday;
    const int64_t *ts = g->ts, *x = j->val->values;
    const uint64_t *valid = j->val->valid;
    const uint32_t *kid = g->key_id;
    int32_t e = j->e;
    int64_t end_e = j->end_e, lo_s = j->lo_s;
    uint32_t *c = j->cnt + (size_t)t * j->n_ids;
    uint32_t r0 = (uint32_t)((uint64_t)j->n * t / j->nt), r1 = (uint32_t)((uint64_t)j->n * (t + 1) / j->nt);
#define R_SEEN(r) cn_eng__row_seen(ts_ok, pday, ts, valid, r, e, lo_s, end_e)
    if (j->phase == 0) {
        uint64_t m = 0, max_abs = 0;
        bool prefix = true;
        for (uint32_t r = r0; r < r1; r++) {
            if (!R_SEEN(r)) continue;
            c[kid[r]]++;
            prefix &= (int64_t)pday[r] * CN_MS_PER_DAY <= ts[r];
            max_abs = cn_eng__abs_max(max_abs, x[r]);
            m++;
        }
        j->m[t] = m, j->max_abs[t] = max_abs, j->prefix[t] = prefix;
        return;
    }
    RRow *rows = j->rows;
    for (uint32_t r = r0; r < r1; r++) {
        if (!R_SEEN(r)) continue;
        RRow *rr = &rows[c[kid[r]]++];
        rr->ts = ts[r];
        rr->v = x[r];
        rr->pday = pday[r];
    }
#undef R_SEEN
}

static void group_phase(GroupJob *j, int phase) {
    j->phase = phase;
    atomic_store(&j->next, 0);
    cn_pool_run(j->nt, group_step, j);
}

/* ------------------------------------------------------------------ entry */

int cn_eng__range_fold(CnEngGroupBy *g, int32_t s, int32_t e, CnEngEmitFn emit, void *ud, bool *done, CnErr *err) {
    *done = false;
    RPlan pl;
    if (!plan_make(g, &pl)) return 0;
    double cpu0 = cn_clock_s(CLOCK_PROCESS_CPUTIME_ID), cpu1 = 0, fold_cpu = -1;
    double wall0 = cn_clock_s(CLOCK_MONOTONIC), wall1 = 0;
    RData rd;
    memset(&rd, 0, sizeof rd);
    rd.g = g;
    rd.pl = &pl;
    rd.n_ids = g->keys.n;
    pthread_mutex_init(&rd.mu, NULL);
    int32_t *days = NULL;
    uint32_t *cnt = NULL;
    GroupJob *gj = NULL;
    int rc = 0;
    const CnVec *val = &g->rows->cols[pl.i_input];
    /* rows some day of [s, e] may see: ts < end(e), stored by e, ts in the widest window of s */
    int64_t end_e = ((int64_t)e + 1) * CN_MS_PER_DAY, lo_s = INT64_MAX;
    for (uint32_t w = 0; w < pl.n_wins; w++) {
        int64_t l = pl.win[w] ? ((int64_t)s + 1) * CN_MS_PER_DAY - pl.win[w] : INT64_MIN;
        if (l < lo_s) lo_s = l;
    }
    /* threads: each keeps n_ids counters, so not more than the rows can repay */
    uint32_t nt = CN_MIN(cn_pool_threads(), GROUP_MAX_THREADS);
    while (nt > 1 && (uint64_t)nt * rd.n_ids > 2 * (uint64_t)g->n_rows) nt--;
    gj = cn_calloc(1, sizeof *gj);
    cnt = cn_calloc((size_t)nt * rd.n_ids + 2, sizeof *cnt);
    cn_alloc_huge(cnt, ((size_t)nt * rd.n_ids + 2) * sizeof *cnt); /* counted and read at random */
    rd.beg = cn_malloc(((size_t)rd.n_ids + 2) * sizeof *rd.beg);
    days = cn_malloc(((size_t)(e - s) + 1) * sizeof *days);
    if (!gj || !cnt || !rd.beg || !days) {
        rc = cn_err_set(err, CN_ENOMEM, "out of memory");
        goto out;
    }
    *gj = (GroupJob){.g = g, .val = val, .e = e, .end_e = end_e, .lo_s = lo_s, .n = g->n_rows, .nt = nt,
                     .n_ids = rd.n_ids, .cnt = cnt, .beg = rd.beg};
    group_phase(gj, 0);
    uint64_t m = 0, max_abs = 0;
    /* the prefix path needs every row visible from its ts day on (stored no later) and
     * only operations a running sum gives */
    bool prefix = true;
    for (uint32_t p = 0; p < pl.n_parts; p++)
        prefix &= pl.part[p].op != CN_ENG_FOLD_MIN && pl.part[p].op != CN_ENG_FOLD_MAX;
    for (uint32_t t = 0; t < nt; t++) {
        m += gj->m[t];
        max_abs = max_abs > gj->max_abs[t] ? max_abs : gj->max_abs[t];
        prefix &= gj->prefix[t];
    }
    /* a key's rows start at beg[id]; thread t's cursor after the threads before it */
    uint32_t max_rows = 0;
    rd.beg[0] = 0;
    for (uint32_t id = 0; id < rd.n_ids; id++) {
        uint32_t at = rd.beg[id];
        for (uint32_t t = 0; t < nt; t++) {
            uint32_t k = cnt[(size_t)t * rd.n_ids + id];
            cnt[(size_t)t * rd.n_ids + id] = at;
            at += k;
        }
        if (at - rd.beg[id] > max_rows) max_rows = at - rd.beg[id];
        rd.beg[id + 1] = at;
    }
    /* AVERAGE in ts order equals source order only while every partial sum is exact */
    if (pl.any_avg && max_rows && max_abs > (UINT64_C(1) << 53) / max_rows) goto out;
    *done = true;
    rc = cn_eng__mem_check(g, m * (sizeof *rd.rows + (prefix ? 8 : 0)) + ((uint64_t)rd.n_ids * 3 + (uint64_t)max_rows) * 16,
                           "computing the daily windows of the range", err);
    if (rc == 0 && !(rd.rows = cn_malloc((m + 1) * sizeof *rd.rows)))
        rc = cn_err_set(err, CN_ENOMEM, "out of memory (%llu rows)", (unsigned long long)m);
    if (rc == 0) {
        /* the scatter writes each row to its key's place: with 4 KiB pages a TLB miss a
         * row, and a fault per 256 rows on first touch */
        cn_alloc_huge(rd.rows, (m + 1) * sizeof *rd.rows);
        gj->rows = rd.rows;
        group_phase(gj, 1); /* scatter */
        group_phase(gj, 2); /* each key's rows newest first */
    }
    cn_free(cnt), cnt = NULL; /* the cursors: done with */
    if (rc) goto out;
    if (prefix) {
        rd.psum = cn_malloc((m + 1) * sizeof *rd.psum);
        if (!rd.psum) {
            rc = cn_err_set(err, CN_ENOMEM, "out of memory (%llu rows)", (unsigned long long)m);
            goto out;
        }
        /* the ts go to the front of the rows' own buffer (ts i lands on bytes of rows
         * already read), which then shrinks: no third array while the rows are alive */
        int64_t *ts = (int64_t *)(void *)rd.rows;
        rd.psum[0] = 0;
        for (uint64_t i = 0; i < m; i++) {
            int64_t t = rd.rows[i].ts, v = rd.rows[i].v;
            rd.psum[i + 1] = rd.psum[i] + (uint64_t)v;
            ts[i] = t;
        }
        int64_t *shrunk = cn_realloc(ts, (m + 1) * sizeof *ts);
        rd.ts = shrunk ? shrunk : ts;
        rd.rows = NULL;
    }
    uint32_t n_days = 0;
    for (int32_t d = s; d <= e; d++)
        if (cn_eng__has_day(g, d)) days[n_days++] = d;
    if (g->opts.verbose)
        fprintf(stderr, "range fold: %llu rows over %u keys, %u days%s\n", (unsigned long long)m, rd.n_ids, n_days,
                prefix ? " (running sums)" : "");
    cpu1 = cn_clock_s(CLOCK_PROCESS_CPUTIME_ID);
    wall1 = cn_clock_s(CLOCK_MONOTONIC);
    rc = cn_eng__out_schema(g, &rd.os, err);
    if (rc == 0) rc = run_days(&rd, days, n_days, max_rows, emit, ud, &fold_cpu, err);
    if (rc == 0 && n_days && fold_cpu >= 0) {
        /* where a range's time goes: grouping, then folding (worker) and writing (the rest) */
        double days_cpu = cn_clock_s(CLOCK_PROCESS_CPUTIME_ID) - cpu1;
        cn_log(CN_LOG_DEBUG,
               "range fold: rows grouped and sorted in %.3f s wall, %.3f s CPU; %u days in %.3f s CPU: folding %.3f s "
               "(%.4f a day), writing %.3f s (%.4f a day)",
               wall1 - wall0, cpu1 - cpu0, n_days, days_cpu, fold_cpu, fold_cpu / n_days, days_cpu - fold_cpu,
               (days_cpu - fold_cpu) / n_days);
    }
out:
    for (uint32_t i = 0; i < rd.n_spare; i++) cn_col_batch_free(rd.spare[i]);
    cn_free(rd.spare);
    pthread_mutex_destroy(&rd.mu);
    cn_col_schema_free(rd.os);
    cn_free(rd.rows);
    cn_free(rd.psum);
    cn_free(rd.ts);
    cn_free(rd.beg);
    cn_free(gj);
    cn_free(cnt);
    cn_free(days);
    return rc;
}
