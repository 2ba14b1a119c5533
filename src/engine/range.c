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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/date.h"
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
static int key_row(const RData *rd, RFolder *f, uint32_t id, uint32_t n, const char *ds, CnBatch *ob) {
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
                rc |= cn_col_vec_append_i64(&out->child[0], f->vis[rp->op == CN_ENG_FOLD_LASTK ? j : a->n - 1 - j].v);
            rc |= cn_col_vec_close_list(out);
            break;
        }
        }
    }
    (void)n;
    rc |= cn_col_vec_append_str(&ob->cols[ob->n_cols - 1], ds, 10);
    return rc ? CN_ENOMEM : 0;
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
        if (ob->cols[0].n >= R_BATCH) {
            rc = cn_col_batch_sync_rows(ob, err);
            if (rc == 0) rc = day_batch(rd, out, &ob, err);
            if (rc) break;
        }
        if (key_row(rd, f, id, n, ds, ob)) rc = cn_err_set(err, CN_ENOMEM, "out of memory");
    }
    if (rc == 0) rc = cn_col_batch_sync_rows(ob, err);
    return rc;
}

static int folder_init(const RData *rd, RFolder *f, uint32_t max_rows, CnErr *err) {
    memset(f, 0, sizeof *f);
    f->cur = cn_malloc(((size_t)rd->n_ids + 1) * sizeof *f->cur);
    f->vis = cn_malloc(((size_t)max_rows + 1) * sizeof *f->vis);
    if (!f->cur || !f->vis) return cn_err_set(err, CN_ENOMEM, "out of memory");
    for (uint32_t id = 0; id < rd->n_ids; id++) f->cur[id] = rd->beg[id + 1];
    return 0;
}

static void folder_fini(RFolder *f) {
    cn_free(f->cur);
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
        int rc = frc ? frc : fold_day(p->rd, &f, p->days[i], &p->out[i], &p->errs[i]);
        if (frc) p->errs[i] = err;
        pthread_mutex_lock(&p->mu);
        p->rc[i] = rc;
        p->ready[i] = 1;
        pthread_cond_broadcast(&p->cv);
        pthread_mutex_unlock(&p->mu);
    }
    folder_fini(&f);
}

static int emit_day(RData *rd, RDay *dy, int32_t d, CnEngEmitFn emit, void *ud, CnErr *err) {
    int rc = 0;
    for (uint32_t i = 0; i < dy->n && rc == 0; i++)
        if (dy->b[i]->n_rows || i == 0) rc = emit(ud, d, dy->b[i], err);
    day_free(rd, dy);
    return rc;
}

static int run_days(RData *rd, const int32_t *days, uint32_t n_days, uint32_t max_rows, CnEngEmitFn emit,
                    void *ud, CnErr *err) {
    if (cn_pool_threads() < 2 || n_days < 2) {
        RFolder f;
        int rc = folder_init(rd, &f, max_rows, err);
        for (uint32_t i = 0; i < n_days && rc == 0; i++) {
            RDay dy = {0};
            rc = fold_day(rd, &f, days[i], &dy, err);
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
    for (uint32_t i = 0; p.out && i < n_days; i++) day_free(rd, &p.out[i]);
    pthread_cond_destroy(&p.cv);
    pthread_mutex_destroy(&p.mu);
    cn_free(p.out);
    cn_free(p.rc);
    cn_free(p.ready);
    cn_free(p.errs);
    return rc;
}

/* ------------------------------------------------------------------ entry */

int cn_eng__range_fold(CnEngGroupBy *g, int32_t s, int32_t e, CnEngEmitFn emit, void *ud, bool *done, CnErr *err) {
    *done = false;
    RPlan pl;
    if (!plan_make(g, &pl)) return 0;
    RData rd;
    memset(&rd, 0, sizeof rd);
    rd.g = g;
    rd.pl = &pl;
    rd.n_ids = g->keys.n;
    pthread_mutex_init(&rd.mu, NULL);
    int32_t *days = NULL;
    uint32_t *cnt = NULL;
    int rc = 0;
    const CnVec *val = &g->rows->cols[pl.i_input];
    const int64_t *x = val->values;
    /* rows some day of [s, e] may see: ts < end(e), stored by e, ts in the widest window of s */
    int64_t end_e = ((int64_t)e + 1) * CN_MS_PER_DAY, lo_s = INT64_MAX;
    for (uint32_t w = 0; w < pl.n_wins; w++) {
        int64_t l = pl.win[w] ? ((int64_t)s + 1) * CN_MS_PER_DAY - pl.win[w] : INT64_MIN;
        if (l < lo_s) lo_s = l;
    }
#define R_SEEN(r) (g->ts_ok[r] && g->pday[r] <= e && g->ts[r] < end_e && g->ts[r] >= lo_s && cn_col_vec_is_valid(val, r))
    cnt = cn_calloc((size_t)rd.n_ids + 2, sizeof *cnt);
    rd.beg = cn_malloc(((size_t)rd.n_ids + 2) * sizeof *rd.beg);
    days = cn_malloc(((size_t)(e - s) + 1) * sizeof *days);
    if (!cnt || !rd.beg || !days) {
        rc = cn_err_set(err, CN_ENOMEM, "out of memory");
        goto out;
    }
    uint64_t m = 0, max_abs = 0;
    for (uint32_t r = 0; r < g->n_rows; r++) {
        if (!R_SEEN(r)) continue;
        cnt[g->key_id[r]]++;
        uint64_t a = x[r] < 0 ? (uint64_t)0 - (uint64_t)x[r] : (uint64_t)x[r];
        if (a > max_abs) max_abs = a;
        m++;
    }
    uint32_t max_rows = 0;
    rd.beg[0] = 0;
    for (uint32_t id = 0; id < rd.n_ids; id++) {
        if (cnt[id] > max_rows) max_rows = cnt[id];
        rd.beg[id + 1] = rd.beg[id] + cnt[id];
    }
    /* AVERAGE in ts order equals source order only while every partial sum is exact */
    if (pl.any_avg && max_rows && max_abs > (UINT64_C(1) << 53) / max_rows) goto out;
    *done = true;
    rc = cn_eng__mem_check(g, m * sizeof *rd.rows + ((uint64_t)rd.n_ids * 3 + (uint64_t)max_rows) * 16,
                           "computing the daily windows of the range", err);
    if (rc) goto out;
    rd.rows = cn_malloc((m + 1) * sizeof *rd.rows);
    if (!rd.rows) {
        rc = cn_err_set(err, CN_ENOMEM, "out of memory (%llu rows)", (unsigned long long)m);
        goto out;
    }
    for (uint32_t id = 0; id < rd.n_ids; id++) cnt[id] = rd.beg[id];
    for (uint32_t r = 0; r < g->n_rows; r++) {
        if (!R_SEEN(r)) continue;
        RRow *rr = &rd.rows[cnt[g->key_id[r]]++];
        rr->ts = g->ts[r];
        rr->v = x[r];
        rr->pday = g->pday[r];
    }
#undef R_SEEN
    for (uint32_t id = 0; id < rd.n_ids; id++) cn_eng__fold_sort(rd.rows + rd.beg[id], rd.beg[id + 1] - rd.beg[id], sizeof *rd.rows);
    uint32_t n_days = 0;
    for (int32_t d = s; d <= e; d++)
        if (cn_eng__has_day(g, d)) days[n_days++] = d;
    if (g->opts.verbose)
        fprintf(stderr, "range fold: %llu rows over %u keys, %u days\n", (unsigned long long)m, rd.n_ids, n_days);
    rc = cn_eng__out_schema(g, &rd.os, err);
    if (rc == 0) rc = run_days(&rd, days, n_days, max_rows, emit, ud, err);
out:
    for (uint32_t i = 0; i < rd.n_spare; i++) cn_col_batch_free(rd.spare[i]);
    cn_free(rd.spare);
    pthread_mutex_destroy(&rd.mu);
    cn_col_schema_free(rd.os);
    cn_free(rd.rows);
    cn_free(rd.beg);
    cn_free(cnt);
    cn_free(days);
    return rc;
}
