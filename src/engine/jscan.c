/* jscan.c: the fast path of a Join's TEMPORAL events part (DESIGN.md "Temporal").
 * The generic path loads every selected column through the expression engine, interns
 * encoded keys row by row and folds windows through aggregation states; for the common
 * part (one integer or string key, plain column selects, COUNT/SUM/FIRST/LAST of
 * integers) that is most of the work. Here:
 *  - LOAD: the key, ts and input columns of each source are read straight from the
 *    table scan into flat arrays (storage day from the file's partition, not from a
 *    decoded ds column); rows with a null key or ts are dropped, as the sweep ignores
 *    them.
 *  - KEYS: dense ids are key - min when integer keys span a small range, else an
 *    open-addressing hash of the values (string keys: of their bytes, while loading);
 *    nothing is encoded. When the tables declare a (key, ts) sort order, hashed and
 *    string ids are renumbered in key order (ids_by_key).
 *  - SORT: one radix sort of rows and one of queries by (key id, coarse ts), finished
 *    per group of equal radix key on the full ts (sort_recs); key id and ts travel
 *    with the sort packed in one word, so the sweep reads them in sequence (the
 *    storage day only when a row can be late for a query). Rows that arrive as a
 *    few runs already in (key id, ts) order (a table written sorted by (key, ts), as
 *    `chronon load --sort-by` writes it: one run per file) are merged per key instead
 *    (sort_runs), and each key's rows checked for ts order and sorted where runs
 *    overlap: a declared sort order is never trusted.
 *  - SWEEP: per key, one pointer for the end of every window (ts < q) and one per
 *    distinct window length for its start; COUNT and SUM are differences of prefix
 *    arrays (SUM wraps modulo 2^64 as the generic kernel does, so it is exact), LAST
 *    and FIRST the nearest non-null row at either end, ties in ts broken by value as
 *    the kernel's fold breaks them. A query whose key has a row before q stored in a
 *    partition after the query's (D27, late rows) is folded over its window's rows
 *    with that filter instead.
 * The results equal those of cn_eng__sweep_temporal bit for bit; tests/engine/
 * test_jscan.c compares both paths on random data. Anything outside that subset is
 * declined before work is done (or, for key ids and a ts range too wide to pack in 64
 * bits, after the load), and the generic path runs. */
#include "engine/jscan.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/alloc.h"
#include "base/date.h"
#include "base/hash.h"
#include "base/log.h"
#include "base/pool.h"
#include "engine/rowmap.h"

#define MAX_IN 8 /* distinct input columns a part set may read */
#define NONE UINT32_MAX

typedef enum JOp { J_COUNT, J_SUM, J_LAST, J_FIRST } JOp;

typedef struct JPart {
    JOp op;
    uint32_t in;   /* input column, index into Plan.in */
    uint32_t win;  /* window, index into Plan.w_ms */
    CnTypeId out;  /* output type */
} JPart;

/* What the parts of the GroupBy read and compute. */
typedef struct Plan {
    const char *key;             /* row-schema name of the key */
    CnTypeId key_type;
    uint32_t n_in;
    const char *in[MAX_IN];      /* row-schema names of the inputs */
    CnTypeId in_type[MAX_IN];
    bool in_vals[MAX_IN];        /* values are read (SUM, FIRST, LAST), not only validity */
    bool in_sum[MAX_IN], in_cnt[MAX_IN], in_last[MAX_IN], in_first[MAX_IN];
    uint32_t n_w;
    int64_t *w_ms;               /* distinct window lengths (0: unwindowed) */
    int64_t *w_hop;              /* their tail hops (cn_agg_tail_hop_ms) */
    double *w_inv;               /* 1.0 / w_hop: floor_hop's estimate */
    JPart *parts;                /* one per g->parts entry */
    uint32_t n_parts;
    bool running;                /* SUM and COUNT from running sums in the sweep (n_w <= RUN_W) */
} Plan;

#define RUN_W 8 /* distinct windows the sweep keeps running sums for; more: prefix arrays */

/* Rows from first on (up to the next run's first) are stored in partition day. */
typedef struct DayRun {
    uint32_t first;
    int32_t day;
} DayRun;

/* Appends run {first, day} to *runs unless the last run has that day. CN_ENOMEM. */
static int day_run_add(DayRun **runs, uint32_t *n, uint32_t *cap, uint32_t first, int32_t day) {
    if (*n && (*runs)[*n - 1].day == day) return 0;
    if (*n == *cap) {
        uint32_t nc = *cap ? *cap * 2 : 64;
        DayRun *nr = cn_realloc(*runs, (size_t)nc * sizeof *nr);
        if (!nr) return CN_ENOMEM;
        *runs = nr, *cap = nc;
    }
    (*runs)[(*n)++] = (DayRun){first, day};
    return 0;
}

/* Loaded rows, in scan order. */
typedef struct Flat {
    uint32_t n, cap;
    int64_t *key, *ts;            /* key: the value, or the skeys id of a string key */
    CnEngRowMap skeys;            /* string keys -> ids in first-seen order */
    DayRun *days;                /* storage days: rows [days[i].first, days[i + 1].first) */
    uint32_t n_days, cap_days;
    int64_t *val[MAX_IN];
    /* per input, 1 where the row's value is null: zeroed memory (calloc) that only a
     * null writes to, so that a column without nulls costs no pass and no page */
    uint8_t *nul[MAX_IN];
    uint64_t n_null[MAX_IN];     /* null inputs loaded */
    uint32_t n_declared;         /* sources whose table declares a (key, ts) sort order */
    int64_t kmin, kmax;          /* range of the loaded keys (kmin > kmax: none) */
    int64_t tmin, tmax;          /* and of their ts */
    int64_t vmin[MAX_IN], vmax[MAX_IN]; /* and of each input's values read (nulls as 0) */
    bool early;                  /* a row is stored in a partition before its ts's day */
    int64_t late;                /* most days a row is stored after its ts's day (INT64_MIN: no rows) */
} Flat;

/* A row or query in (key id, ts) order: what the sweep reads in sequence. 12 bytes: key
 * id and ts packed in one word u = id << tb | (ts - lo) (RecKey), whose order is the
 * (id, ts) order, and a 32-bit payload, either the carried input's value (one that fits
 * in 32 bits) or the row number: every record written, zeroed and moved by the sort is
 * half the size of one holding id, ts and a 64-bit value apart, and a quarter smaller
 * than one with a 64-bit payload (bench_join: sort 0.183 -> 0.177 s, sweep 0.108 ->
 * 0.096 s, medians of ten runs). The storage day travels beside them only when a row
 * can be late for a query (Sorted.pday, gathered by row number). */
typedef struct __attribute__((packed)) Rec {
    uint64_t u;      /* id << tb | (ts - lo) */
    uint32_t v;      /* rows: the carried input's value as int32_t (no gather for it);
                      * queries and rows whose inputs are gathered: the row number */
} Rec;

/* The carried value of a row's record. */
static inline int64_t rec_val(const Rec *x) { return (int32_t)x->v; }

/* How ids and ts pack into Rec.u (tb bits of ts above lo), and the radix key of a
 * record: u >> shift, i.e. (key id, coarse ts). */
typedef struct RecKey {
    int64_t lo;
    unsigned tb, shift;
} RecKey;

static inline uint64_t rec_u(const Rec *x, const RecKey *k) { return x->u >> k->shift; }
static inline uint32_t rec_id(const Rec *x, const RecKey *k) { return (uint32_t)(x->u >> k->tb); }
static inline int64_t rec_ts(const Rec *x, const RecKey *k) {
    return (int64_t)((uint64_t)k->lo + (x->u & ((UINT64_C(1) << k->tb) - 1)));
}
/* The u of key id's rows at time t: rows of that key with ts < t have u below it. */
static inline uint64_t rec_at(const RecKey *k, uint32_t id, int64_t t) {
    uint64_t base = (uint64_t)id << k->tb, span = UINT64_C(1) << k->tb;
    if (t <= k->lo) return base;
    uint64_t d = (uint64_t)t - (uint64_t)k->lo;
    return base + (d < span ? d : span);
}

/* Bits a value needs (0 for 0). */
static unsigned bits_of(uint64_t x) {
    unsigned b = 0;
    while (b < 64 && (x >> b)) b++;
    return b;
}

/* Whether ids below n_ids and ts in [lo, hi] pack into a Rec (with one spare bit, so
 * that rec_at's bound above the last id does not wrap). */
static bool rec_fits(uint32_t n_ids, int64_t lo, int64_t hi) {
    uint64_t range = hi > lo ? (uint64_t)hi - (uint64_t)lo : 0;
    return bits_of(n_ids ? n_ids - 1 : 0) + bits_of(range) <= 63;
}

static void flat_fini(Flat *f) {
    cn_eng__rowmap_fini(&f->skeys);
    cn_free(f->key);
    cn_free(f->ts);
    cn_free(f->days);
    for (uint32_t c = 0; c < MAX_IN; c++) cn_free(f->val[c]), cn_free(f->nul[c]);
    memset(f, 0, sizeof *f);
}

static bool is_int(CnTypeId t) { return t == CN_COL_INT32 || t == CN_COL_INT64; }

static int64_t get_int(const CnVec *v, uint32_t r) {
    return v->type->id == CN_COL_INT64 ? ((const int64_t *)v->values)[r] : ((const int32_t *)v->values)[r];
}

/* ------------------------------------------------------------------ plan */

static uint32_t add_name(Plan *p, const char *name, CnTypeId t) {
    for (uint32_t i = 0; i < p->n_in; i++)
        if (!strcmp(p->in[i], name)) return i;
    if (p->n_in == MAX_IN) return NONE;
    p->in[p->n_in] = name;
    p->in_type[p->n_in] = t;
    return p->n_in++;
}

/* False when some part is outside the flat path's subset. */
static bool plan_make(CnEngGroupBy *g, Plan *p) {
    memset(p, 0, sizeof *p);
    if (g->entities || g->no_aggs || g->n_keys != 1 || !g->n_parts || !g->row_schema) return false;
    const CnSchema *rs = g->row_schema;
    p->key = rs->fields[g->key_cols[0]].name;
    p->key_type = rs->fields[g->key_cols[0]].type->id;
    if (!is_int(p->key_type) && p->key_type != CN_COL_STRING) return false;
    p->parts = cn_arena_alloc(&g->arena, (g->n_parts + 1) * sizeof *p->parts);
    p->w_ms = cn_arena_alloc(&g->arena, (g->n_parts + 1) * sizeof *p->w_ms);
    p->w_hop = cn_arena_alloc(&g->arena, (g->n_parts + 1) * sizeof *p->w_hop);
    p->w_inv = cn_arena_alloc(&g->arena, (g->n_parts + 1) * sizeof *p->w_inv);
    if (!p->parts || !p->w_ms || !p->w_hop || !p->w_inv) return false;
    p->n_parts = g->n_parts;
    for (uint32_t q = 0; q < g->n_parts; q++) {
        const CnEngPart *pt = &g->parts[q];
        const CnEngBase *b = &g->bases[pt->i_base];
        if (b->i_bucket >= 0) return false;
        CnTypeId it = rs->fields[b->i_input].type->id;
        CnAggOp op = cn_agg_spec_op(b->spec);
        JPart *jp = &p->parts[q];
        if (op == CN_AGG_COUNT && !cn_col_type_is_nested(it) && cn_col_type_width(it) > 0) jp->op = J_COUNT;
        else if (op == CN_AGG_SUM && is_int(it)) jp->op = J_SUM;
        else if (op == CN_AGG_LAST && is_int(it)) jp->op = J_LAST;
        else if (op == CN_AGG_FIRST && is_int(it)) jp->op = J_FIRST;
        else return false;
        jp->out = g->value_schema->fields[q].type->id;
        if (jp->out != (jp->op == J_COUNT || jp->op == J_SUM ? CN_COL_INT64 : it)) return false;
        jp->in = add_name(p, rs->fields[b->i_input].name, it);
        if (jp->in == NONE) return false;
        p->in_vals[jp->in] |= jp->op != J_COUNT;
        p->in_cnt[jp->in] |= jp->op == J_COUNT || jp->op == J_SUM;
        p->in_sum[jp->in] |= jp->op == J_SUM;
        p->in_last[jp->in] |= jp->op == J_LAST;
        p->in_first[jp->in] |= jp->op == J_FIRST;
        uint32_t w = 0;
        while (w < p->n_w && p->w_ms[w] != pt->w_ms) w++;
        if (w == p->n_w) {
            p->w_hop[w] = pt->w_ms ? cn_agg_tail_hop_ms(pt->w_ms) : 1;
            p->w_inv[w] = 1.0 / (double)p->w_hop[w];
            p->w_ms[p->n_w++] = pt->w_ms;
        }
        jp->win = w;
    }
    p->running = p->n_w <= RUN_W;
    return true;
}

/* Table column named by a select expression that is only a column name (not the
 * partition column); -1 for anything else. */
static int bare_col(const CnSchema *ts, const char *ex) {
    return strcmp(ex, CN_ICE_DS) && strcmp(ex, "`" CN_ICE_DS "`") ? cn_eng__bare_col(ts, ex) : -1;
}

/* Table column the source's query gives output column `name` from (as load.c binds
 * it: selects, or every column but ds; timeColumn gives "ts"); -1 when it is computed
 * or absent. */
static int src_col(const CnSource *s, const CnSchema *ts, const char *name) {
    const CnQuery *q = &s->query;
    bool is_ts = !strcmp(name, "ts");
    if (q->has_selects) {
        int found = -1, n = 0;
        for (size_t i = 0; i < q->selects.n; i++) {
            if (!strcmp(q->selects.keys[i], "ts")) return -1; /* clashes with timeColumn */
            if (!strcmp(q->selects.keys[i], name)) found = bare_col(ts, q->selects.vals[i]), n++;
        }
        if (is_ts) return q->time_column ? bare_col(ts, q->time_column) : -1;
        return n == 1 ? found : -1;
    }
    if (is_ts && q->time_column) return bare_col(ts, q->time_column);
    if (!strcmp(name, CN_ICE_DS)) return -1;
    return cn_col_schema_find(ts, name);
}

/* ------------------------------------------------------------------ threads */

/* Rows per thread below which a step stays on fewer threads: starting a thread costs
 * about what a few thousand rows of these loops do. */
#define MIN_PER_THREAD 2048

/* Threads for a step over n items: cn_pool_threads() (CN_THREADS), fewer for small n. */
static uint32_t threads_for(uint64_t n) {
    uint32_t t = cn_pool_threads();
    uint64_t most = n / MIN_PER_THREAD;
    return most < 1 ? 1 : most < t ? (uint32_t)most : t;
}

/* First item of chunk t of nt over n items (chunk t is [cut(t), cut(t + 1))). */
static uint32_t cut(uint32_t n, uint32_t t, uint32_t nt) { return (uint32_t)((uint64_t)n * t / nt); }

/* Chunks of rows a pass over the rows is cut into, taken by its threads as they come
 * free: with a half each, the thread given the early days (rows mostly outside every
 * query's windows, dropped at once) idled for a third of the marking pass. */
#define ROW_CHUNKS 8 /* per thread */

/* Chunks for nt threads taking `per` each (one when alone). */
static uint32_t chunks_for(uint32_t nt, uint32_t per) { return nt > 1 ? nt * per : 1; }

static uint32_t row_chunks(uint32_t n) { return chunks_for(threads_for(n), ROW_CHUNKS); }

/* ------------------------------------------------------------------ load */

static int flat_grow(Flat *f, const Plan *p, uint64_t need, CnErr *err) {
    if (need <= f->cap) return 0;
    uint64_t nc = f->cap ? f->cap : 4096;
    while (nc < need) nc *= 2;
    if (nc > UINT32_MAX) return cn_err_set(err, CN_ELIMIT, "more than 4G source rows in one run; lower --step-days");
    bool ok = true;
#define GROW(arr)                                                \
    do {                                                         \
        void *np_ = cn_realloc((arr), nc * sizeof *(arr));       \
        if (np_) (arr) = np_, cn_alloc_huge(np_, nc * sizeof *(arr)); \
        else ok = false;                                         \
    } while (0)
    /* the key column's block has room for the sort records: the keys are dead once they
     * are ids, before the sort, and the records then take its pages, which the load
     * has faulted in already (a fresh array costs the kernel zeroing each page) */
    void *nk = cn_realloc(f->key, ((size_t)nc + 1) * sizeof(Rec));
    if (nk) f->key = nk, cn_alloc_huge(nk, ((size_t)nc + 1) * sizeof(Rec));
    else ok = false;
    GROW(f->ts);
    for (uint32_t c = 0; c < p->n_in; c++) {
        if (p->in_vals[c]) GROW(f->val[c]);
        if (!f->nul[c]) { /* calloc: untouched pages until a null is written */
            if (!(f->nul[c] = cn_calloc(nc, 1))) ok = false;
        } else {
            uint8_t *nn = cn_realloc(f->nul[c], nc);
            if (nn) memset(nn + f->cap, 0, nc - f->cap), f->nul[c] = nn;
            else ok = false;
        }
    }
#undef GROW
    if (!ok) return cn_err_set(err, CN_ENOMEM, "source rows: out of memory");
    f->cap = (uint32_t)nc;
    return 0;
}

/* Bytes a loaded row costs through the sort and sweep: key, ts and id, two sort
 * records, a sorted storage day; per input the loaded and sorted value and validity
 * and the prefix arrays. An estimate of the peak, not a sum of one moment. */
static uint64_t row_bytes(const Plan *p) {
    uint64_t b = 8 + 8 + 4 + 2 * sizeof(Rec) + 4;
    for (uint32_t c = 0; c < p->n_in; c++) b += 2 * (1 + (p->in_vals[c] ? 8 : 0)) + 16;
    return b;
}

static int32_t ds_day(const char *ds) {
    int64_t d;
    if (!ds || cn_ds_parse(ds, &d)) return INT32_MIN;
    return (int32_t)d;
}

/* Where one scan's rows go: f's arrays from n on, below end. */
typedef struct Dest {
    uint32_t first, n, end;   /* rows [first, n) written, room up to end */
    uint64_t n_null[MAX_IN];  /* null inputs loaded */
    int64_t scanned;
    int64_t kmin, kmax;       /* range of the keys loaded (Flat's) */
    int64_t tmin, tmax;       /* Flat's */
    int64_t vmin[MAX_IN], vmax[MAX_IN]; /* Flat's */
    bool early;               /* Flat's */
    int64_t late;             /* Flat's */
    DayRun *days;             /* storage days of the rows, as Flat's */
    uint32_t n_days, cap_days;
    bool over;                /* a batch did not fit below end */
} Dest;

/* Key, ts and value ranges of rows [a, b) of f into d (the ts range into *tmin, *tmax:
 * the batch's). */
static void dest_scan(Dest *d, const Flat *f, uint32_t a, uint32_t b, int64_t *tmin, int64_t *tmax) {
    int64_t lo = d->kmin, hi = d->kmax, tlo = *tmin, thi = *tmax;
    for (uint32_t r = a; r < b; r++) {
        int64_t k = f->key[r], t = f->ts[r];
        lo = k < lo ? k : lo;
        hi = k > hi ? k : hi;
        tlo = t < tlo ? t : tlo;
        thi = t > thi ? t : thi;
    }
    d->kmin = lo, d->kmax = hi, *tmin = tlo, *tmax = thi;
    for (uint32_t c = 0; c < MAX_IN; c++) {
        if (!f->val[c]) continue; /* not read */
        int64_t vlo = d->vmin[c], vhi = d->vmax[c];
        for (uint32_t r = a; r < b; r++) {
            int64_t v = f->val[c][r];
            vlo = v < vlo ? v : vlo;
            vhi = v > vhi ? v : vhi;
        }
        d->vmin[c] = vlo, d->vmax[c] = vhi;
    }
}

/* Notes what rows [a, b) of f, loaded from partition day, bring (their ranges already
 * scanned by dest_scan, the ts range tmin..tmax): done per batch while its rows are in
 * cache, instead of passes over all rows later. A row is early when its ts is on a day
 * after day, i.e. ts >= (day + 1) days (a null partition, day INT32_MIN, makes every row
 * early, as the day comparison did); the latest is the one with the least ts. */
static int dest_note(Dest *d, uint32_t a, uint32_t b, int32_t day, int64_t tmin, int64_t tmax) {
    int64_t lim = ((int64_t)day + 1) * CN_MS_PER_DAY;
    d->tmin = tmin < d->tmin ? tmin : d->tmin;
    d->tmax = tmax > d->tmax ? tmax : d->tmax;
    d->early = d->early || (a < b && (day == INT32_MIN || tmax >= lim));
    int64_t late = a < b && day != INT32_MIN ? day - cn_ms_to_days(tmin) : INT64_MIN;
    d->late = late > d->late ? late : d->late;
    return a < b ? day_run_add(&d->days, &d->n_days, &d->cap_days, a, day) : 0;
}

static void dest_init(Dest *d, uint32_t n, uint32_t end) {
    memset(d, 0, sizeof *d);
    d->first = d->n = n, d->end = end;
    d->kmin = d->tmin = INT64_MAX, d->kmax = d->tmax = d->late = INT64_MIN;
    for (uint32_t c = 0; c < MAX_IN; c++) d->vmin[c] = INT64_MAX, d->vmax[c] = INT64_MIN;
}

/* Adds what dest d noted to f, its rows moved from position `from` to `to`; frees d's
 * day runs. CN_ENOMEM. */
static int flat_note(Flat *f, const Plan *p, Dest *d, uint32_t from, uint32_t to) {
    if (d->kmin < f->kmin) f->kmin = d->kmin;
    if (d->kmax > f->kmax) f->kmax = d->kmax;
    if (d->tmin < f->tmin) f->tmin = d->tmin;
    if (d->tmax > f->tmax) f->tmax = d->tmax;
    for (uint32_t c = 0; c < MAX_IN; c++) {
        if (d->vmin[c] < f->vmin[c]) f->vmin[c] = d->vmin[c];
        if (d->vmax[c] > f->vmax[c]) f->vmax[c] = d->vmax[c];
    }
    f->early = f->early || d->early;
    if (d->late > f->late) f->late = d->late;
    for (uint32_t c = 0; c < p->n_in; c++) f->n_null[c] += d->n_null[c];
    int rc = 0;
    for (uint32_t i = 0; i < d->n_days && rc == 0; i++)
        rc = day_run_add(&f->days, &f->n_days, &f->cap_days, d->days[i].first - from + to, d->days[i].day);
    cn_free(d->days);
    d->days = NULL, d->n_days = d->cap_days = 0;
    return rc;
}

/* Storage day of loaded row r. */
static int32_t flat_day(const Flat *f, uint32_t r) {
    uint32_t lo = 0, hi = f->n_days; /* the last run with first <= r */
    while (hi - lo > 1) {
        uint32_t m = lo + (hi - lo) / 2;
        if (f->days[m].first <= r) lo = m;
        else hi = m;
    }
    return f->n_days ? f->days[lo].day : INT32_MIN;
}

#define NOTE_BLOCK 4096 /* rows copied and scanned at a time: three columns in L2 */

/* Appends the rows of batch b (storage day `day`) at d->n, dropping rows with a null
 * key or ts. String keys intern into f->skeys, so only one thread may load them. */
static int load_batch(const CnBatch *b, int32_t day, const Plan *p, const uint32_t *pos, Flat *f, Dest *d,
                      CnErr *err) {
    const CnVec *kv = &b->cols[pos[0]], *tv = &b->cols[pos[1]];
    uint32_t n = d->n, m = b->n_rows;
    /* the common batch: int64 key and inputs without nulls, copied column by column */
    bool bulk = !kv->valid && !tv->valid && kv->type->id == CN_COL_INT64;
    for (uint32_t c = 0; c < p->n_in; c++) {
        const CnVec *iv = &b->cols[pos[2 + c]];
        bulk = bulk && !iv->valid && (!p->in_vals[c] || iv->type->id == CN_COL_INT64);
    }
    int64_t tmin = INT64_MAX, tmax = INT64_MIN;
    if (bulk) {
        /* a block at a time, its ranges scanned while it is in cache (a row group's
         * columns are larger than the cache, and a scan after the copies read them from
         * memory again) */
        for (uint32_t a = 0; a < m; a += NOTE_BLOCK) {
            uint32_t k = m - a < NOTE_BLOCK ? m - a : NOTE_BLOCK;
            memcpy(f->key + n + a, (const int64_t *)kv->values + a, (size_t)k * sizeof *f->key);
            memcpy(f->ts + n + a, (const int64_t *)tv->values + a, (size_t)k * sizeof *f->ts);
            for (uint32_t c = 0; c < p->n_in; c++)
                if (p->in_vals[c])
                    memcpy(f->val[c] + n + a, (const int64_t *)b->cols[pos[2 + c]].values + a,
                           (size_t)k * sizeof **f->val);
            dest_scan(d, f, n + a, n + a + k, &tmin, &tmax);
        }
        d->n = n + m;
        return dest_note(d, n, n + m, day, tmin, tmax) ? cn_err_set(err, CN_ENOMEM, "out of memory") : 0;
    }
    uint32_t n0 = n;
    for (uint32_t r = 0; r < m; r++) {
        if (!cn_col_vec_is_valid(kv, r) || !cn_col_vec_is_valid(tv, r)) continue;
        if (p->key_type == CN_COL_STRING) {
            uint32_t len;
            const char *kp = cn_col_vec_str(kv, r, &len);
            uint64_t h = cn_hash_bytes(kp, len, 0x6b6579);
            uint32_t kid = cn_eng__rowmap_find(&f->skeys, kp, len, h);
            if (kid == NONE) {
                kid = f->skeys.n;
                if (!cn_eng__rowmap_add(&f->skeys, kp, len, h)) return cn_err_set(err, CN_ENOMEM, "key table: out of memory");
            }
            f->key[n] = kid;
        } else {
            f->key[n] = get_int(kv, r);
        }
        f->ts[n] = ((const int64_t *)tv->values)[r];
        for (uint32_t c = 0; c < p->n_in; c++) {
            const CnVec *iv = &b->cols[pos[2 + c]];
            bool v = cn_col_vec_is_valid(iv, r);
            if (!v) f->nul[c][n] = 1, d->n_null[c]++;
            if (p->in_vals[c]) f->val[c][n] = v ? get_int(iv, r) : 0;
        }
        n++;
    }
    d->n = n;
    dest_scan(d, f, n0, n, &tmin, &tmax);
    return dest_note(d, n0, n, day, tmin, tmax) ? cn_err_set(err, CN_ENOMEM, "out of memory") : 0;
}

/* Reads scan to its end into f. One thread alone (per_file NULL): at d, growing f for a
 * batch that does not fit below d->end. A thread of a parallel load: each batch at the
 * Dest of its file, per_file[file] (set when the file was claimed); a batch that does not
 * fit there sets its over and stops. */
static int load_scan(CnIceScan *scan, const char *tname, const Plan *p, const uint32_t *pos, Flat *f, Dest *d,
                     Dest *per_file, CnErr *err) {
    char last_ds[11] = "";
    int32_t day = INT32_MIN;
    int rc = 0;
    while (rc == 0) {
        const CnBatch *b = NULL;
        rc = cn_ice_scan_next(scan, &b, err);
        if (rc) rc = cn_err_ctx(err, rc, "source table %s", tname);
        if (rc || !b) break;
        if (per_file) d = &per_file[cn_ice_scan_batch_file(scan)];
        d->scanned += b->n_rows;
        if ((uint64_t)d->n + b->n_rows > d->end) {
            if (per_file) {
                d->over = true; /* more rows than the file's record count */
                break;
            }
            rc = flat_grow(f, p, (uint64_t)d->n + b->n_rows, err);
            if (rc) break;
            d->end = f->cap;
        }
        const char *ds = cn_ice_scan_batch_ds(scan);
        if (!ds) day = INT32_MIN, last_ds[0] = 0;
        else if (strncmp(ds, last_ds, 10)) day = ds_day(ds), snprintf(last_ds, sizeof last_ds, "%.10s", ds);
        rc = load_batch(b, day, p, pos, f, d, err);
    }
    return rc;
}

/* A parallel load: nt scans of one plan share a claim (claim_file), so each thread
 * reads the next file nobody has taken when done with one, into a range of f reserved
 * for the file's rows by its record count when it is claimed. */
typedef struct LoadJob {
    CnIceScan **scans;
    const char *tname;
    const Plan *p;
    const uint32_t *pos;
    Flat *f;
    Dest *d;                   /* per planned file (dest_init when claimed) */
    atomic_uchar *taken;       /* per planned file */
    atomic_uint_fast64_t next; /* the first row not reserved yet */
    uint32_t n_files;
    int *rc;
    CnErr *errs;
} LoadJob;

static bool claim_file(void *ud, uint32_t file, int64_t records) {
    LoadJob *j = ud;
    if (file >= j->n_files || records < 0 || atomic_exchange(&j->taken[file], 1)) return false;
    uint64_t at = atomic_fetch_add(&j->next, (uint64_t)records), cap = j->f->cap;
    /* past the capacity (the plans disagree): no room, the first batch sets d->over */
    uint64_t first = at < cap ? at : cap, end = at + (uint64_t)records <= cap ? at + (uint64_t)records : first;
    dest_init(&j->d[file], (uint32_t)first, (uint32_t)end);
    return true;
}

/* Thread t's scan to its end: each batch into the range of its file. */
static void load_step(void *ud, uint32_t t) {
    LoadJob *j = ud;
    j->rc[t] = load_scan(j->scans[t], j->tname, j->p, j->pos, j->f, NULL, j->d, &j->errs[t]);
}

/* Moves n rows of f from position `from` down to `to` (a file's rows after the ones
 * before it); the null flags of the inputs in nul_mask (bit c: input c has nulls). */
static void flat_move(Flat *f, const Plan *p, uint32_t to, uint32_t from, uint32_t n, uint32_t nul_mask) {
    if (to == from || !n) return;
    memmove(f->key + to, f->key + from, (size_t)n * sizeof *f->key);
    memmove(f->ts + to, f->ts + from, (size_t)n * sizeof *f->ts);
    for (uint32_t c = 0; c < p->n_in; c++) {
        if (nul_mask >> c & 1) memmove(f->nul[c] + to, f->nul[c] + from, n);
        if (p->in_vals[c]) memmove(f->val[c] + to, f->val[c] + from, (size_t)n * sizeof **f->val);
    }
}

static int dest_first_cmp(const void *a, const void *b) {
    const Dest *x = *(const Dest *const *)a, *y = *(const Dest *const *)b;
    return (x->first > y->first) - (x->first < y->first);
}

/* Loads table t on nt threads taking its files as they go (LoadJob), each file into its
 * own range of f, then closes the gaps left by dropped rows. Rows end up in the order
 * the files were claimed: the values computed from them do not depend on row order
 * (ties in ts are broken by value), so the output is the same for any nt and any
 * timing. f must hold room for every row. *loaded = false (nothing appended) when a
 * file held more rows than its metadata said: the caller loads on one thread. */
static int load_claimed(CnIceCatalog *cat, const CnIceTable *t, const CnIceScanOpts *so0, uint32_t nt,
                       uint32_t n_files, const char *tname, const Plan *p, const uint32_t *pos, Flat *f,
                       int64_t *scanned, bool *loaded, CnErr *err) {
    LoadJob j = {.tname = tname, .p = p, .pos = pos, .f = f, .n_files = n_files};
    j.scans = cn_calloc(nt, sizeof *j.scans);
    j.d = cn_calloc((size_t)n_files + 1, sizeof *j.d);
    j.taken = cn_calloc((size_t)n_files + 1, sizeof *j.taken);
    j.rc = cn_calloc(nt, sizeof *j.rc);
    j.errs = cn_calloc(nt, sizeof *j.errs);
    Dest **order = cn_calloc((size_t)n_files + 1, sizeof *order);
    int rc = 0;
    *loaded = false;
    if (!j.scans || !j.d || !j.taken || !j.rc || !j.errs || !order) {
        rc = cn_err_set(err, CN_ENOMEM, "out of memory");
        goto done;
    }
    atomic_init(&j.next, f->n);
    for (uint32_t i = 0; i < n_files; i++) atomic_init(&j.taken[i], 0);
    for (uint32_t i = 0; i < nt && rc == 0; i++) {
        CnIceScanOpts so = *so0;
        so.claim = claim_file, so.claim_ud = &j;
        rc = cn_ice_scan_open(cat, t, &so, &j.scans[i], err);
        if (rc) rc = cn_err_ctx(err, rc, "source table %s", tname);
        else if (cn_ice_scan_n_files(j.scans[i]) != n_files) goto done; /* the plans disagree */
    }
    if (rc) goto done;
    cn_pool_run(nt, load_step, &j);
    for (uint32_t i = 0; i < nt; i++)
        if (j.rc[i]) {
            *err = j.errs[i];
            rc = j.rc[i];
            goto done;
        }
    /* rows past the last kept one must read as not null for the rows appended there
     * later (none is written for a row without nulls): the flags moved down, or written
     * by a load given up, are cleared up to the highest row written */
    uint32_t n_order = 0, nul_mask = 0, top = f->n;
    bool over = false;
    for (uint32_t i = 0; i < n_files; i++) {
        if (!atomic_load(&j.taken[i])) continue;
        order[n_order++] = &j.d[i];
        over = over || j.d[i].over;
        top = j.d[i].n > top ? j.d[i].n : top;
        for (uint32_t c = 0; c < p->n_in; c++) nul_mask |= (uint32_t)(j.d[i].n_null[c] != 0) << c;
    }
    for (uint32_t c = 0; over && c < p->n_in; c++)
        if (nul_mask >> c & 1) memset(f->nul[c] + f->n, 0, top - f->n);
    if (over) goto done;
    qsort(order, n_order, sizeof *order, dest_first_cmp);
    uint32_t n = f->n;
    for (uint32_t i = 0; i < n_order; i++) {
        Dest *d = order[i];
        flat_move(f, p, n, d->first, d->n - d->first, nul_mask);
        *scanned += d->scanned;
        if (flat_note(f, p, d, d->first, n)) {
            rc = cn_err_set(err, CN_ENOMEM, "out of memory");
            goto done;
        }
        n += d->n - d->first;
    }
    for (uint32_t c = 0; c < p->n_in; c++)
        if (nul_mask >> c & 1) memset(f->nul[c] + n, 0, top - n);
    f->n = n;
    *loaded = true;
done:
    for (uint32_t i = 0; j.scans && i < nt; i++) cn_ice_scan_close(j.scans[i]);
    for (uint32_t i = 0; j.d && i < n_files; i++) cn_free(j.d[i].days);
    cn_free(j.scans);
    cn_free(j.d);
    cn_free(j.taken);
    cn_free(j.rc);
    cn_free(j.errs);
    cn_free(order);
    return rc;
}

/* Appends the rows of source s in partitions [lo, hi]; *ok = false when the source is
 * outside the subset (nothing is then appended). */
static int load_source(CnIceCatalog *cat, const CnSource *s, const Plan *p, int32_t lo, int32_t hi,
                       const CnEngOpts *o, Flat *f, int64_t *scanned, bool *ok, CnErr *err) {
    CnArena a;
    cn_arena_init(&a, 0);
    CnIceTable *t = NULL;
    CnIceScan *scan = NULL;
    char ns[129], name[129];
    int rc = 0;
    *ok = false;
    const char *tname = cn_conf_source_table(&a, s);
    if (!tname || s->kind != CN_CONF_SRC_EVENTS || s->is_cumulative == 1 || s->query.wheres.n) goto done;
    int32_t qlo = ds_day(s->query.start_partition), qhi = ds_day(s->query.end_partition);
    if (s->query.start_partition && qlo == INT32_MIN) goto done;
    if (s->query.end_partition && qhi == INT32_MIN) goto done;
    if (s->query.start_partition && qlo > lo) lo = qlo;
    if (s->query.end_partition && qhi < hi) hi = qhi;
    if (cn_ice_name_parse(tname, ns, name, err) || cn_ice_table_load(cat, ns, name, &t, err)) {
        cn_err_clear(err); /* the generic path reports it */
        goto done;
    }
    const CnSchema *tsch = cn_ice_table_schema(t);
    /* table columns of the key, ts and inputs; types as the row schema has them */
    int tc[MAX_IN + 2];
    const char *names[MAX_IN + 2];
    CnTypeId want[MAX_IN + 2];
    uint32_t n_need = 0;
    names[n_need] = p->key, want[n_need++] = p->key_type;
    names[n_need] = "ts", want[n_need++] = CN_COL_INT64;
    for (uint32_t c = 0; c < p->n_in; c++) names[n_need] = p->in[c], want[n_need++] = p->in_type[c];
    for (uint32_t i = 0; i < n_need; i++) {
        tc[i] = src_col(s, tsch, names[i]);
        if (tc[i] < 0 || tsch->fields[tc[i]].type->id != want[i]) goto done;
    }
    *ok = true;
    /* a declared (key, ts) order is only logged: sort_runs checks the order itself */
    const char *so_cols[2];
    uint32_t n_so = 0;
    cn_ice_table_sort_order(t, so_cols, 2, &n_so);
    f->n_declared += n_so == 2 && !strcmp(so_cols[0], tsch->fields[tc[0]].name) &&
                     !strcmp(so_cols[1], tsch->fields[tc[1]].name);
    if (lo > hi) goto done;
    /* projection: distinct table columns; pos[i] = index of need i in it */
    const char *proj[MAX_IN + 2];
    uint32_t pos[MAX_IN + 2], n_proj = 0;
    for (uint32_t i = 0; i < n_need; i++) {
        uint32_t k = 0;
        while (k < n_proj && strcmp(proj[k], tsch->fields[tc[i]].name)) k++;
        if (k == n_proj) proj[n_proj++] = tsch->fields[tc[i]].name;
        pos[i] = k;
    }
    char lo_ds[11], hi_ds[11];
    CnIceScanOpts so = {0};
    if (lo != INT32_MIN) cn_ds_format(lo, lo_ds), so.ds_lo = lo_ds;
    if (hi != INT32_MAX) cn_ds_format(hi, hi_ds), so.ds_hi = hi_ds;
    so.columns = proj;
    so.n_columns = n_proj;
    so.batch_rows = UINT32_MAX; /* whole row groups: the reader hands out its own batch, no copy */
    rc = cn_ice_scan_open(cat, t, &so, &scan, err);
    if (rc) {
        rc = cn_err_ctx(err, rc, "source table %s", tname);
        goto done;
    }
    uint64_t expect = (uint64_t)f->n + (uint64_t)cn_ice_scan_n_records(scan);
    if (o->max_memory && expect * row_bytes(p) > o->max_memory) {
        rc = cn_err_set(err, CN_ELIMIT,
                        "loading the sources: needs about %llu MiB, more than --max-memory %llu MiB allows; raise "
                        "--max-memory (or lower --step-days to compute fewer days at once)",
                        (unsigned long long)((expect * row_bytes(p)) >> 20),
                        (unsigned long long)(o->max_memory >> 20));
        goto done;
    }
    rc = flat_grow(f, p, expect, err);
    if (rc) goto done;
    /* integer keys in a local warehouse: files decoded on several threads (string keys
     * intern on one; an object store client serves one thread) */
    uint32_t nt = p->key_type == CN_COL_STRING || !cn_eng__local_warehouse(cat) ? 1 : threads_for(expect - f->n);
    if (nt > cn_ice_scan_n_files(scan)) nt = cn_ice_scan_n_files(scan);
    if (nt > 1) {
        bool loaded = false;
        rc = load_claimed(cat, t, &so, nt, cn_ice_scan_n_files(scan), tname, p, pos, f, scanned, &loaded, err);
        if (rc || loaded) goto done;
    }
    Dest d;
    dest_init(&d, f->n, f->cap);
    rc = load_scan(scan, tname, p, pos, f, &d, NULL, err);
    f->n = d.n;
    *scanned += d.scanned;
    if (flat_note(f, p, &d, 0, 0) && rc == 0) rc = cn_err_set(err, CN_ENOMEM, "out of memory");
    cn_free(d.days);
done:
    cn_ice_scan_close(scan);
    cn_ice_table_free(t);
    cn_arena_fini(&a);
    return rc;
}

/* ------------------------------------------------------------------ keys */

/* Key value -> dense id: key - lo when the keys span few values, else a hash. */
typedef struct KeyMap {
    bool range;
    int64_t lo;
    uint64_t span;       /* range mode: ids 0..span */
    uint32_t *slots;     /* hash mode: id + 1 or 0; cap a power of two */
    uint32_t cap, n;
    int64_t *keys;       /* hash mode: per id */
    uint32_t n_cap;
} KeyMap;

static void keymap_fini(KeyMap *m) {
    cn_free(m->slots);
    cn_free(m->keys);
    memset(m, 0, sizeof *m);
}

static uint64_t mix(int64_t k) {
    uint64_t x = (uint64_t)k;
    x ^= x >> 30, x *= UINT64_C(0xbf58476d1ce4e5b9);
    x ^= x >> 27, x *= UINT64_C(0x94d049bb133111eb);
    return x ^ (x >> 31);
}

static uint32_t keymap_find(const KeyMap *m, int64_t k) {
    if (m->range) {
        uint64_t d = (uint64_t)k - (uint64_t)m->lo;
        return k >= m->lo && d <= m->span ? (uint32_t)d : NONE;
    }
    if (!m->cap) return NONE;
    for (uint32_t i = (uint32_t)mix(k) & (m->cap - 1); m->slots[i]; i = (i + 1) & (m->cap - 1))
        if (m->keys[m->slots[i] - 1] == k) return m->slots[i] - 1;
    return NONE;
}

static int keymap_add(KeyMap *m, int64_t k, uint32_t *id, CnErr *err) {
    if ((uint64_t)(m->n + 1) * 2 > m->cap) {
        uint32_t cap = m->cap ? m->cap * 2 : 1024;
        uint32_t *s = cn_calloc(cap, sizeof *s);
        if (!s) return cn_err_set(err, CN_ENOMEM, "key table: out of memory (%u slots)", cap);
        for (uint32_t j = 0; j < m->n; j++) {
            uint32_t i = (uint32_t)mix(m->keys[j]) & (cap - 1);
            while (s[i]) i = (i + 1) & (cap - 1);
            s[i] = j + 1;
        }
        cn_free(m->slots);
        m->slots = s;
        m->cap = cap;
    }
    uint32_t i = (uint32_t)mix(k) & (m->cap - 1);
    for (; m->slots[i]; i = (i + 1) & (m->cap - 1))
        if (m->keys[m->slots[i] - 1] == k) {
            *id = m->slots[i] - 1;
            return 0;
        }
    if (m->n == m->n_cap) {
        uint32_t nc = m->n_cap ? m->n_cap * 2 : 1024;
        int64_t *nk = cn_realloc(m->keys, (size_t)nc * sizeof *nk);
        if (!nk) return cn_err_set(err, CN_ENOMEM, "key table: out of memory");
        m->keys = nk;
        m->n_cap = nc;
    }
    m->keys[m->n] = k;
    m->slots[i] = m->n + 1;
    *id = m->n++;
    return 0;
}

/* Rows of a pass shared by threads: thread t takes [cut(n, t, nt), cut(n, t + 1, nt)). */
typedef struct IdJob {
    const int64_t *key;
    int64_t lo;
    uint32_t *id;            /* written by the id pass */
    const uint32_t *ids;     /* read by the histogram pass */
    uint32_t n, nt, n_ids;
    uint32_t *cnt;  /* per thread n_ids + 1 counters (histogram pass) */
} IdJob;

static void range_step(void *ud, uint32_t t) {
    const IdJob *j = ud;
    uint32_t *id = j->id;
    const int64_t *key = j->key;
    uint64_t lo = (uint64_t)j->lo;
    for (uint32_t r = cut(j->n, t, j->nt), e = cut(j->n, t + 1, j->nt); r < e; r++)
        id[r] = (uint32_t)((uint64_t)key[r] - lo);
}

static void hist_step(void *ud, uint32_t t) {
    const IdJob *j = ud;
    uint32_t *c = j->cnt + (size_t)t * (j->n_ids + 1);
    memset(c, 0, ((size_t)j->n_ids + 1) * sizeof *c);
    for (uint32_t r = cut(j->n, t, j->nt), e = cut(j->n, t + 1, j->nt); r < e; r++) c[j->ids[r]]++;
}

/* start[k] = first position of key id k in (id) order, n_ids + 1 entries (start[n_ids]
 * = n): per-thread histograms when the ids are few beside the rows, else one pass. */
static void id_starts(const uint32_t *id, uint32_t n, uint32_t n_ids, uint32_t *start) {
    IdJob j = {.ids = id, .n = n, .n_ids = n_ids, .nt = threads_for(n)};
    if (j.nt > 1 && (uint64_t)n_ids * 4 <= n) j.cnt = cn_malloc((size_t)j.nt * (n_ids + 1) * sizeof *j.cnt);
    if (!j.cnt) {
        memset(start, 0, ((size_t)n_ids + 1) * sizeof *start);
        for (uint32_t r = 0; r < n; r++) start[id[r] + 1]++;
        for (uint32_t k = 0; k < n_ids; k++) start[k + 1] += start[k];
        return;
    }
    cn_pool_run(j.nt, hist_step, &j);
    uint32_t sum = 0;
    for (uint32_t k = 0; k < n_ids; k++) {
        start[k] = sum;
        for (uint32_t t = 0; t < j.nt; t++) sum += j.cnt[(size_t)t * (n_ids + 1) + k];
    }
    start[n_ids] = sum;
    cn_free(j.cnt);
}

/* Ids of range keys (key - lo) of rows [0, n) into id, on threads. */
static void ids_fill(const int64_t *key, int64_t lo, uint32_t *id, uint32_t n) {
    IdJob j = {.key = key, .lo = lo, .id = id, .n = n, .nt = threads_for(n)};
    cn_pool_run(j.nt, range_step, &j);
}

/* Dense id of every loaded row; *n_ids ids in all. OWNED: *out (cn_free). With lazy,
 * ids of keys spanning a small range (m->range) are left for the first pass that reads
 * them to work out (*out's array is made but not filled; ids_fill). */
static int key_ids(const Flat *f, KeyMap *m, bool lazy, uint32_t **out, uint32_t *n_ids, CnErr *err) {
    uint32_t *id = cn_malloc(((size_t)f->n + 1) * sizeof *id);
    if (!id) return cn_err_set(err, CN_ENOMEM, "out of memory");
    cn_alloc_huge(id, ((size_t)f->n + 1) * sizeof *id);
    int64_t lo = f->kmin, hi = f->kmax; /* noted while loading */
    memset(m, 0, sizeof *m);
    uint64_t span = f->n ? (uint64_t)hi - (uint64_t)lo : 0;
    /* keys spanning at most about 2 values per row: ids need no hashing */
    if (span < (UINT64_C(1) << 26) && span <= 2 * (uint64_t)f->n + 65536) {
        m->range = true;
        m->lo = f->n ? lo : 0;
        m->span = span;
        if (!lazy) ids_fill(f->key, m->lo, id, f->n);
        *n_ids = (uint32_t)span + 1;
    } else {
        for (uint32_t r = 0; r < f->n; r++) {
            int rc = keymap_add(m, f->key[r], &id[r], err);
            if (rc) {
                cn_free(id);
                return rc;
            }
        }
        *n_ids = m->n;
    }
    *out = id;
    return 0;
}

/* A key for ordering ids: the integer, or the string's bytes. */
typedef struct KeyRank {
    int64_t k;
    const uint8_t *p;
    uint64_t len;
    uint32_t id;
} KeyRank;

static int rank_int_cmp(const void *a, const void *b) {
    const KeyRank *x = a, *y = b;
    return (x->k > y->k) - (x->k < y->k);
}

/* Bytes, unsigned, a prefix first: Iceberg's order of strings (and chronon load's). */
static int rank_str_cmp(const void *a, const void *b) {
    const KeyRank *x = a, *y = b;
    return cn_bytes_cmp(x->p, x->len, y->p, y->len);
}

/* When the sources declare a (key, ts) order, ids in first-seen order (hashed integer
 * keys, string keys) become ranks in key order, so that rows sorted by key load as runs
 * in id order: a key absent from the first file would otherwise get a late id and cut
 * a run wherever it shows up. *rank (OWNED, cn_free): old id -> new id; id[0..n) are
 * renumbered here. CN_ENOMEM. */
static int ids_by_key(const Plan *p, const KeyMap *km, const CnEngRowMap *skeys, uint32_t n_ids, uint32_t *id,
                      uint32_t n, uint32_t **rank, CnErr *err) {
    KeyRank *kr = cn_malloc(((size_t)n_ids + 1) * sizeof *kr);
    uint32_t *rk = *rank = cn_malloc(((size_t)n_ids + 1) * sizeof *rk);
    if (!kr || !rk) {
        cn_free(kr);
        return cn_err_set(err, CN_ENOMEM, "ordering %u keys: out of memory", n_ids);
    }
    bool str = p->key_type == CN_COL_STRING;
    for (uint32_t i = 0; i < n_ids; i++) {
        kr[i].id = i;
        if (!str) {
            kr[i].k = km->range ? km->lo + (int64_t)i : km->keys[i];
            continue;
        }
        /* string ids: keymap id i holds the skeys id of its string */
        uint32_t sid = (uint32_t)(km->range ? km->lo + (int64_t)i : km->keys[i]);
        kr[i].p = (const uint8_t *)skeys->bytes.data + skeys->off[sid];
        kr[i].len = skeys->off[sid + 1] - skeys->off[sid];
    }
    qsort(kr, n_ids, sizeof *kr, str ? rank_str_cmp : rank_int_cmp);
    for (uint32_t i = 0; i < n_ids; i++) rk[kr[i].id] = i;
    for (uint32_t r = 0; r < n; r++) id[r] = rk[id[r]];
    cn_free(kr);
    return 0;
}

/* ------------------------------------------------------------------ sort */

/* Big arrays ask for transparent huge pages: a radix pass writes to 512 places at once,
 * and with 4 KiB pages each write missed the TLB; and every first touch of a 4 KiB page
 * is a fault (the loaded columns took one per 4 KiB copied). */
static void *big_alloc(size_t bytes) {
    void *p = cn_malloc(bytes);
    cn_alloc_huge(p, bytes);
    return p;
}

/* Big arrays done with, kept for later ones: a fresh array costs the kernel zeroing
 * every page on first touch (about a sixth of bench_join's CPU time), an array taken
 * from here costs nothing. Loaded columns become the prefix sums, the query sort and
 * the sweep's values. */
#define N_SPARE 6
typedef struct Spare {
    void *p[N_SPARE];
    size_t bytes[N_SPARE];
} Spare;

static void spare_put(Spare *sp, void *p, size_t bytes) {
    for (uint32_t i = 0; p && i < N_SPARE; i++)
        if (!sp->p[i]) {
            sp->p[i] = p, sp->bytes[i] = bytes;
            return;
        }
    cn_free(p);
}

/* The smallest spare array of at least bytes, else a new one. OWNED (cn_free); its
 * contents are whatever they were. */
static void *spare_take(Spare *sp, size_t bytes) {
    uint32_t best = N_SPARE;
    for (uint32_t i = 0; i < N_SPARE; i++)
        if (sp->p[i] && sp->bytes[i] >= bytes && (best == N_SPARE || sp->bytes[i] < sp->bytes[best])) best = i;
    if (best == N_SPARE) return big_alloc(bytes);
    void *p = sp->p[best];
    sp->p[best] = NULL;
    return p;
}

static void spare_fini(Spare *sp) {
    for (uint32_t i = 0; i < N_SPARE; i++) cn_free(sp->p[i]);
    memset(sp, 0, sizeof *sp);
}

/* 512 buckets: a pass's write streams and their pages stay within cache and TLB. */
#define DIGIT 9
#define LSD_PASSES 7 /* passes of a radix key up to 63 bits */
#define SORT_GROUP 4 /* buckets a thread takes at a time */

/* Stable LSD radix sort of r[0..m) by bits [0, bits) of their radix key k; t is scratch
 * of m records, cnt of LSD_PASSES << DIGIT counters. The result is in r. */
static void radix_lsd(Rec *r, Rec *t, uint32_t m, unsigned bits, const RecKey *key, uint32_t *cnt) {
    const RecKey kk = *key, *k = &kk; /* a local: the records' stores may alias *key */
    unsigned passes = (bits + DIGIT - 1) / DIGIT;
    unsigned digit = passes ? (bits + passes - 1) / passes : 1;
    uint32_t mask = (1u << digit) - 1, nb = mask + 1;
    /* every pass's counts in one read of the records */
    memset(cnt, 0, (size_t)passes * nb * sizeof *cnt);
    for (uint32_t i = 0; i < m; i++) {
        uint64_t u = rec_u(&r[i], k);
        for (unsigned p = 0; p < passes; p++) cnt[p * nb + ((u >> (p * digit)) & mask)]++;
    }
    Rec *src = r, *dst = t;
    for (unsigned p = 0; p < passes; p++) {
        uint32_t *c = cnt + p * nb, sum = 0, sh = p * digit;
        bool one = false;
        for (uint32_t d = 0; d < nb; d++) {
            uint32_t x = c[d];
            one = one || x == m;
            c[d] = sum;
            sum += x;
        }
        if (one) continue; /* every record has this digit: the order stands */
        for (uint32_t i = 0; i < m; i++) dst[c[(rec_u(&src[i], k) >> sh) & mask]++] = src[i];
        Rec *x = src;
        src = dst, dst = x;
    }
    if (src != r) memcpy(r, src, (size_t)m * sizeof *r);
}

/* Ties in (id, ts) by payload (row number or value): one order whatever order they came
 * in (the values computed do not depend on it). */
static int rec_cmp(const void *a, const void *b) {
    const Rec *x = a, *y = b;
    if (x->u != y->u) return x->u < y->u ? -1 : 1;
    return (x->v > y->v) - (x->v < y->v);
}

/* Sorts the records r[0..m) of one radix key by u (one key id: by ts): insertion sort
 * (about one record), or a full sort when large. */
static void sort_group(Rec *r, uint32_t m) {
    if (m > 32) {
        qsort(r, m, sizeof *r, rec_cmp);
        return;
    }
    for (uint32_t i = 1; i < m; i++) {
        Rec x = r[i];
        uint32_t j = i;
        for (; j > 0 && r[j - 1].u > x.u; j--) r[j] = r[j - 1];
        r[j] = x;
    }
}

/* Finishes r[0..m), sorted by radix key k, on the full ts: each group of equal key
 * (about one record, more for busy keys). */
static void finish_groups(Rec *r, uint32_t m, const RecKey *k) {
    for (uint32_t g = 0; g < m;) {
        uint32_t e = g + 1;
        uint64_t u = rec_u(&r[g], k);
        while (e < m && rec_u(&r[e], k) == u) e++;
        sort_group(r + g, e - g);
        g = e;
    }
}

/* ------------------------------------------------------------------ sort (parallel) */

/* One radix sort (sort_recs) shared by its threads. Every thread owns a chunk of the
 * input (rows in input order); in the last phase threads take the top buckets a few at
 * a time as they come free. What each writes is fixed by the chunk offsets and each
 * bucket is sorted alone, so the result depends neither on nt nor on timing. */
typedef struct SortJob {
    const uint32_t *id, *idx;
    const int64_t *ts, *val;
    uint32_t n, nt, n_chunks;   /* phases 0-2 take row chunks (row_chunks(n)) */
    uint32_t drop;              /* rows with this key id are left out (NONE: none) */
    int phase;                  /* 0 ts range, 1 histogram, 2 scatter, 3 bucket sorts */
    RecKey k;                   /* the radix key */
    unsigned low, top;
    int64_t *tmin, *tmax;       /* per thread */
    uint32_t *hist;             /* per row chunk 1 << DIGIT: counts, then write cursors */
    uint32_t *bend;             /* per bucket: end (after the scatter) */
    /* the next row chunk (phases 0-2) or group of SORT_GROUP buckets to sort (phase 3);
     * apart from the job, which the steps copy to locals while others take chunks */
    atomic_uint *next;
    uint32_t *cnt;              /* per thread LSD_PASSES << DIGIT: radix_lsd counters */
    Rec *a, *scratch;           /* scratch: per thread, the largest bucket */
    uint32_t max_b;
} SortJob;

/* Row r's packed (id, ts) */
#define U_OF(j, r) (((uint64_t)(j)->id[r] << (j)->k.tb) | ((uint64_t)(j)->ts[r] - (uint64_t)(j)->k.lo))

/* Phase 3 on thread t: each bucket (in cache up to about 20M rows) on the low bits, then
 * the full ts. */
static void sort_buckets(SortJob *j, uint32_t t) {
    Rec *sc = j->scratch + (size_t)t * j->max_b;
    uint32_t *cnt = j->cnt + ((size_t)t * LSD_PASSES << DIGIT);
    for (uint32_t g; (g = atomic_fetch_add(j->next, SORT_GROUP)) < (1u << DIGIT);)
        for (uint32_t d = g; d < g + SORT_GROUP; d++) {
            uint32_t st = d ? j->bend[d - 1] : 0;
            radix_lsd(j->a + st, sc, j->bend[d] - st, j->low, &j->k, cnt);
            if (j->k.shift) finish_groups(j->a + st, j->bend[d] - st, &j->k);
        }
}

/* Phases 0-2 take row chunks as threads come free. */
static void sort_step(void *ud, uint32_t t) {
    SortJob *j = ud;
    if (j->phase == 3) {
        sort_buckets(j, t);
        return;
    }
    if (j->phase == 0) j->tmin[t] = INT64_MAX, j->tmax[t] = INT64_MIN;
    for (uint32_t c; (c = atomic_fetch_add(j->next, 1)) < j->n_chunks;) {
        uint32_t i0 = cut(j->n, c, j->n_chunks), i1 = cut(j->n, c + 1, j->n_chunks);
        uint32_t *h = j->hist + ((size_t)c << DIGIT);
        switch (j->phase) {
        case 0: {
            int64_t lo = j->tmin[t], hi = j->tmax[t];
            for (uint32_t i = i0; i < i1; i++) {
                int64_t x = j->ts[j->idx ? j->idx[i] : i];
                if (x < lo) lo = x;
                if (x > hi) hi = x;
            }
            j->tmin[t] = lo, j->tmax[t] = hi;
            break;
        }
        case 1: {
            const SortJob jl = *j; /* locals: the counts' stores may alias the job's fields */
            memset(h, 0, ((size_t)1 << DIGIT) * sizeof *h);
            for (uint32_t i = i0; i < i1; i++) {
                uint32_t r = jl.idx ? jl.idx[i] : i;
                if (jl.id[r] != jl.drop) h[U_OF(&jl, r) >> jl.k.shift >> jl.low]++;
            }
            break;
        }
        default: { /* each record built straight into its bucket (one pass over memory) */
            const SortJob jl = *j; /* locals: the records' stores may alias the job's fields */
            for (uint32_t i = i0; i < i1; i++) {
                uint32_t r = jl.idx ? jl.idx[i] : i;
                if (jl.id[r] == jl.drop) continue;
                uint64_t u = U_OF(&jl, r);
                Rec *x = &jl.a[h[u >> jl.k.shift >> jl.low]++];
                x->u = u;
                x->v = jl.val ? (uint32_t)jl.val[r] : r;
            }
            break;
        }
        }
    }
}
#undef U_OF

static void sort_phase(SortJob *j, int phase) {
    j->phase = phase;
    atomic_store(j->next, 0);
    cn_pool_run(j->nt, sort_step, j);
}

/* How sort_recs packs rows of n_ids key ids with ts in [lo, hi] and splits the radix key
 * of (id, ts >> shift): shift chosen so that (id, coarse ts) has about 4n values, the top
 * DIGIT bits scattered, the low ones sorted per bucket. */
static void radix_plan(uint32_t n_ids, int64_t lo, int64_t hi, uint32_t n, RecKey *k, unsigned *top, unsigned *low) {
    unsigned ts_bits = bits_of((uint64_t)hi - (uint64_t)lo), key_bits = bits_of(n_ids ? n_ids - 1 : 0);
    unsigned n_bits = bits_of((uint64_t)n * 4);
    unsigned cb = n_bits > key_bits ? n_bits - key_bits : 0;
    if (cb > ts_bits) cb = ts_bits;
    unsigned bits = key_bits + cb;
    k->lo = lo, k->tb = ts_bits, k->shift = ts_bits - cb;
    *top = bits > DIGIT ? DIGIT : bits, *low = bits - *top;
}

/* A scatter's counts made by the caller's pass over the rows (mark_rows): the plan they
 * were counted with and per row chunk (row_chunks(n) of them, cut(n, c, chunks)), the
 * rows of each top bucket. */
typedef struct SortPre {
    RecKey k;
    unsigned top, low;
    uint32_t *hist; /* row_chunks(n) << DIGIT */
} SortPre;

/* Rows idx[0..n) (0..n-1 when idx is NULL) with key id id[r] < n_ids sorted by (id, ts),
 * but for the rows whose id is `drop` (NONE: none), which are left out: n_keep others.
 * Ties in input order (by payload, rec_cmp, in a large group of one radix key). A radix
 * sort of (id, ts >> shift), shift chosen so that (id, coarse ts) has about 4n values:
 * records are built straight into the buckets of the top 9 bits, then each bucket is
 * sorted in cache on the low bits and finished on the full ts (finish_groups). Input
 * chunks and buckets are spread over threads_for(n) threads; the result is the same for
 * any number. OWNED: *out (cn_free), n_keep entries, packed as *key says. val travels in
 * the records (NULL: the row number is the payload). trange: {min, max} of the ts sorted
 * when known (else NULL: a pass finds it); the records' array comes from sp. pre: the
 * plan and bucket counts a pass of the caller made (mark_rows, over idx NULL and these n
 * rows; NULL: counted here). The ids and ts must pack (rec_fits: the caller checks).
 * CN_ENOMEM. */
static int sort_recs(const uint32_t *id, const int64_t *ts, const int64_t *val, uint32_t n_ids, uint32_t drop,
                     const uint32_t *idx, uint32_t n, uint32_t n_keep, const int64_t *trange, const SortPre *pre,
                     Spare *sp, Rec **out, RecKey *key, CnErr *err) {
    atomic_uint next = 0;
    SortJob j = {.id = id, .idx = idx, .ts = ts, .val = val, .n = n, .nt = threads_for(n), .n_chunks = row_chunks(n),
                 .drop = drop, .next = &next};
    size_t nb = (size_t)1 << DIGIT;
    int rc = 0;
    *out = NULL;
    j.a = spare_take(sp, ((size_t)n_keep + 1) * sizeof *j.a);
    j.tmin = cn_malloc((size_t)j.nt * 2 * sizeof *j.tmin);
    j.hist = cn_malloc(((size_t)j.n_chunks + (size_t)j.nt * LSD_PASSES) * nb * sizeof *j.hist);
    j.bend = cn_malloc((nb + 1) * sizeof *j.bend);
    if (!j.a || !j.tmin || !j.hist || !j.bend) goto oom;
    j.tmax = j.tmin + j.nt;
    j.cnt = j.hist + (size_t)j.n_chunks * nb;
    int64_t lo = INT64_MAX, hi = INT64_MIN;
    if (trange) {
        lo = trange[0], hi = trange[1];
    } else {
        sort_phase(&j, 0);
        for (uint32_t t = 0; t < j.nt; t++) {
            if (j.tmin[t] < lo) lo = j.tmin[t];
            if (j.tmax[t] > hi) hi = j.tmax[t];
        }
    }
    if (!n) lo = hi = 0;
    if (!rec_fits(n_ids, lo, hi)) {
        rc = cn_err_set(err, CN_EINTERNAL, "sorting %u rows: %u key ids and ts %lld..%lld do not pack", n, n_ids,
                        (long long)lo, (long long)hi);
        goto done;
    }
    if (pre) {
        j.k = pre->k, j.top = pre->top, j.low = pre->low;
        memcpy(j.hist, pre->hist, (size_t)j.n_chunks * nb * sizeof *j.hist);
    } else {
        radix_plan(n_ids, lo, hi, n_keep, &j.k, &j.top, &j.low);
        sort_phase(&j, 1);
    }
    *key = j.k;
    /* write cursors: bucket by bucket, row chunks in input order (a stable scatter) */
    uint32_t sum = 0;
    for (size_t d = 0; d < nb; d++) {
        uint32_t st = sum;
        for (uint32_t c = 0; c < j.n_chunks; c++) {
            uint32_t k = j.hist[c * nb + d];
            j.hist[c * nb + d] = sum;
            sum += k;
        }
        j.bend[d] = sum;
        if (sum - st > j.max_b) j.max_b = sum - st;
    }
    sort_phase(&j, 2);
    j.scratch = cn_malloc(((size_t)j.max_b * j.nt + 1) * sizeof *j.scratch);
    if (!j.scratch) goto oom;
    sort_phase(&j, 3);
    *out = j.a;
    j.a = NULL;
    goto done;
oom:
    rc = cn_err_set(err, CN_ENOMEM, "sorting %u rows by key and ts: out of memory", n);
done:
    cn_free(j.a);
    cn_free(j.tmin);
    cn_free(j.hist);
    cn_free(j.bend);
    cn_free(j.scratch);
    return rc;
}

/* ------------------------------------------------------------------ sort (runs) */

/* Runs above which the rows are radix sorted instead: the merge looks at every run for
 * every key, so runs x keys must also stay near the row count, and each run is a read
 * stream. */
#define MAX_RUNS 256

/* One placement of rows that arrive as a few runs already in (id, ts) order (a table
 * written sorted by (key, ts): one run per file). Each run is sorted by id, so a thread
 * taking the chunk of keys [kcut[c], kcut[c + 1]) finds their rows in every run by binary
 * search and copies them to their key's next position, runs taken in order of their
 * first ts.
 * Then each key's rows are checked for ts order and sorted where runs overlap in time
 * (rows stored after their day, files sorted by other columns): order in the table is
 * only a hint. Ties in ts may come in another order than sort_recs gives them; the
 * sweep's values do not depend on it (ties are broken by value). */
typedef struct RunJob {
    const uint32_t *id, *rs, *re; /* run q is rows [rs[q], re[q]) */
    const int64_t *ts, *val;
    RecKey k;                  /* how the records pack */
    const uint32_t *start;     /* per key: first position */
    uint32_t n_runs, nt;
    uint32_t *kcut, n_chunks; /* chunk c: keys [kcut[c], kcut[c + 1]), taken in turn */
    atomic_uint next;          /* the next chunk to take */
    uint32_t *cur;             /* per thread, per run, the next row */
    uint32_t *fixed;           /* per thread: keys sorted again */
    Rec *a;
} RunJob;

/* Where rows stop being in (id, ts) order, on threads: thread t looks at rows
 * [cut(n, t, nt), cut(n, t + 1, nt)), each against the one before it, and notes the
 * positions that break the order (brk, up to MAX_RUNS; nb says how many, MAX_RUNS + 1
 * when more) and the least ts of each segment between them (segmin[0]: from the
 * chunk's start to its first break, INT64_MAX when empty). */
#define BREAK_MAX_THREADS 64
typedef struct BreakJob {
    const uint32_t *id;
    const int64_t *key;  /* not NULL: ids not made yet, the range keys are compared */
    const int64_t *ts;
    uint32_t n, nt;
    uint32_t nb[BREAK_MAX_THREADS];
    uint32_t brk[BREAK_MAX_THREADS][MAX_RUNS];
    int64_t segmin[BREAK_MAX_THREADS][MAX_RUNS + 1];
} BreakJob;

static void break_step(void *ud, uint32_t t) {
    BreakJob *j = ud;
    const uint32_t *id = j->id;
    const int64_t *ts = j->ts, *key = j->key;
    uint32_t a = cut(j->n, t, j->nt), b = cut(j->n, t + 1, j->nt), nb = 0;
    int64_t m = INT64_MAX;
    for (uint32_t i = a; i < b; i++) {
        int64_t x = key ? key[i] : id[i], y = i == 0 ? 0 : key ? key[i - 1] : id[i - 1];
        if (i == 0 || x > y || (x == y && ts[i] >= ts[i - 1])) {
            m = ts[i] < m ? ts[i] : m;
            continue;
        }
        if (nb == MAX_RUNS) {
            nb++;
            break;
        }
        j->segmin[t][nb] = m;
        j->brk[t][nb++] = i;
        m = ts[i];
    }
    if (nb <= MAX_RUNS) j->segmin[t][nb] = m;
    j->nb[t] = nb;
}

/* First position in [lo, hi) of run rows with id >= k. */
static uint32_t id_lower(const uint32_t *id, uint32_t lo, uint32_t hi, uint32_t k) {
    while (lo < hi) {
        uint32_t m = lo + (hi - lo) / 2;
        if (id[m] < k) lo = m + 1;
        else hi = m;
    }
    return lo;
}

#define RUN_CHUNKS 16 /* key chunks per thread of a run merge */

/* Entries between two threads' run cursors: at least a cache line apart, or every store
 * of one thread's cursors takes the line from the other. */
#define CUR_STRIDE(n_runs) ((((size_t)(n_runs)) + 31) & ~(size_t)15)

static void run_step(void *ud, uint32_t t) {
    RunJob *j = ud;
    uint32_t *cur = j->cur + (size_t)t * CUR_STRIDE(j->n_runs), n_runs = j->n_runs, fixed = 0;
    /* the job's arrays in locals: the records' stores may alias its fields */
    const uint32_t *id = j->id, *re = j->re;
    const int64_t *ts = j->ts, *val = j->val;
    const uint64_t lo = (uint64_t)j->k.lo;
    const unsigned tb = j->k.tb;
    Rec *a = j->a;
    for (uint32_t c; (c = atomic_fetch_add(&j->next, 1)) < j->n_chunks;) {
        uint32_t k0 = j->kcut[c], k1 = j->kcut[c + 1], o = j->start[k0];
        /* per run, the cursor at the chunk's first key; keys then in order, each taking
         * its rows from every run: every stream is read and written in sequence */
        for (uint32_t q = 0; q < n_runs; q++) cur[q] = id_lower(id, j->rs[q], re[q], k0);
        for (uint32_t k = k0; k < k1; k++) {
            for (uint32_t q = 0; q < n_runs; q++) {
                uint32_t r = cur[q], e = re[q];
                for (; r < e && id[r] == k; r++) {
                    Rec *x = &a[o++];
                    x->u = ((uint64_t)k << tb) | ((uint64_t)ts[r] - lo);
                    x->v = val ? (uint32_t)val[r] : r;
                }
                cur[q] = r;
            }
        }
        for (uint32_t k = k0; k < k1; k++) {
            uint32_t st = j->start[k], e = j->start[k + 1], i = st + 1;
            while (i < e && a[i - 1].u <= a[i].u) i++;
            if (i >= e) continue;
            sort_group(a + st, e - st);
            fixed++;
        }
    }
    j->fixed[t] = fixed;
}

/* Rows 0..n-1 with key id id[r] < n_ids in (id, ts) order, as sort_recs gives them up
 * to the order of ties, when they form at most MAX_RUNS runs in that order (and few
 * enough for the key count): start (OUT, n_ids + 1 entries) is then set to each key's
 * first position (id_starts). Otherwise *out = NULL and nothing is done. The records'
 * array comes from sp, packed as key says. *n_runs and *n_fixed (keys whose runs
 * overlapped in ts) say what happened. OWNED: *out (cn_free). CN_ENOMEM. */
static int sort_runs(uint32_t *id, const int64_t *lazy_key, int64_t lazy_lo, const int64_t *ts, const int64_t *val,
                     const RecKey *key, uint32_t n, uint32_t n_ids, uint32_t *start, Spare *sp, Rec **out,
                     uint32_t *n_runs, uint32_t *n_fixed, CnErr *err) {
    uint32_t rs[MAX_RUNS + 1], re[MAX_RUNS], nr = n ? 1 : 0;
    int64_t rmin[MAX_RUNS];
    *out = NULL;
    *n_runs = *n_fixed = 0;
    rs[0] = 0;
    rmin[0] = INT64_MAX;
    /* where runs break, on threads; then each thread's breaks in order */
    BreakJob *bj = cn_malloc(sizeof *bj);
    if (!bj) return cn_err_set(err, CN_ENOMEM, "out of memory");
    bj->id = id, bj->key = lazy_key, bj->ts = ts, bj->n = n, bj->nt = threads_for(n);
    if (bj->nt > BREAK_MAX_THREADS) bj->nt = BREAK_MAX_THREADS;
    cn_pool_run(bj->nt, break_step, bj);
    bool few = true;
    for (uint32_t t = 0; t < bj->nt && n && few; t++) {
        few = bj->nb[t] <= MAX_RUNS;
        if (few && bj->segmin[t][0] < rmin[nr - 1]) rmin[nr - 1] = bj->segmin[t][0];
        for (uint32_t k = 0; few && k < bj->nb[t]; k++) {
            few = nr < MAX_RUNS;
            if (!few) break;
            re[nr - 1] = bj->brk[t][k];
            rs[nr] = bj->brk[t][k], rmin[nr++] = bj->segmin[t][k + 1];
        }
    }
    cn_free(bj);
    if (!few) return 0;
    if (nr) re[nr - 1] = n;
    if ((uint64_t)nr * n_ids > (uint64_t)8 * n + 65536) return 0;
    if (lazy_key) ids_fill(lazy_key, lazy_lo, id, n);
    id_starts(id, n, n_ids, start);
    /* runs by their first ts (insertion sort, stable): a key's rows from files of
     * successive days then follow in ts order, whichever thread loaded which file */
    for (uint32_t q = 1; q < nr; q++) {
        uint32_t a = rs[q], b = re[q], k = q;
        int64_t m = rmin[q];
        for (; k > 0 && rmin[k - 1] > m; k--) rs[k] = rs[k - 1], re[k] = re[k - 1], rmin[k] = rmin[k - 1];
        rs[k] = a, re[k] = b, rmin[k] = m;
    }
    RunJob j = {.id = id, .rs = rs, .re = re, .ts = ts, .val = val, .k = *key, .start = start, .n_runs = nr,
                .nt = threads_for(n)};
    /* keys in chunks of about n / n_chunks rows, taken by the threads in turn: a thread
     * slowed down (by fresh pages, say) takes fewer */
    j.n_chunks = chunks_for(j.nt, RUN_CHUNKS);
    atomic_init(&j.next, 0);
    j.a = spare_take(sp, ((size_t)n + 1) * sizeof *j.a);
    j.cur = cn_malloc((CUR_STRIDE(nr) * j.nt + 1) * sizeof *j.cur);
    j.kcut = cn_calloc((size_t)j.n_chunks + j.nt + 2, sizeof *j.kcut);
    if (!j.a || !j.cur || !j.kcut) {
        cn_free(j.a), cn_free(j.cur), cn_free(j.kcut);
        return cn_err_set(err, CN_ENOMEM, "ordering %u rows by key and ts: out of memory", n);
    }
    j.fixed = j.kcut + j.n_chunks + 1;
    for (uint32_t c = 0, k = 0; c <= j.n_chunks; c++) {
        uint32_t want = cut(n, c, j.n_chunks);
        while (c == j.n_chunks ? k < n_ids : k < n_ids && start[k] < want) k++;
        j.kcut[c] = k;
    }
    cn_pool_run(j.nt, run_step, &j);
    for (uint32_t t = 0; t < j.nt; t++) *n_fixed += j.fixed[t];
    cn_free(j.cur);
    cn_free(j.kcut);
    *out = j.a;
    *n_runs = nr;
    return 0;
}

/* ------------------------------------------------------------------ sweep */

/* Rows in (key id, ts) order, with what the parts read per position. */
typedef struct Sorted {
    uint32_t n;
    Rec *rec;                /* key id and ts (packed as k says), the carried input's value */
    RecKey k;
    int32_t *pday;           /* storage days, when a row can be late for a query (else NULL) */
    uint32_t carried;        /* that input (n_in: none) */
    int64_t *val[MAX_IN];    /* the other inputs' values */
    /* NULL for an input without nulls: every position counts, no gathers */
    uint8_t *ok[MAX_IN];
    uint32_t *cnt[MAX_IN];   /* prefix: non-null inputs in [0, i) */
    uint64_t *sum[MAX_IN];   /* prefix: their sum modulo 2^64 */
    uint32_t *nnl[MAX_IN];   /* last non-null position <= i, NONE */
    uint32_t *nnf[MAX_IN];   /* first non-null position >= i, n */
    uint32_t *start;         /* per key id: first position (n_ids + 1 entries) */
    uint32_t n_runs;         /* rows came in this many (id, ts) runs (0: radix sorted) */
    uint32_t n_fixed;        /* keys whose runs overlapped in ts (sorted again) */
    uint32_t n_dropped;      /* loaded rows no query sees, left out */
    Spare spare;             /* loaded arrays done with */
} Sorted;

static void sorted_fini(Sorted *s) {
    cn_free(s->rec);
    cn_free(s->pday);
    cn_free(s->start);
    for (uint32_t c = 0; c < MAX_IN; c++) {
        cn_free(s->val[c]), cn_free(s->ok[c]), cn_free(s->cnt[c]);
        cn_free(s->sum[c]), cn_free(s->nnl[c]), cn_free(s->nnf[c]);
    }
    spare_fini(&s->spare);
    memset(s, 0, sizeof *s);
}

#define IN_OK(s, c, x) (!(s)->ok[c] || (s)->ok[c][x])
#define TS(s, x) rec_ts(&(s)->rec[x], &(s)->k)
#define PDAY(s, x) ((s)->pday[x])
#define VAL(s, c, x) ((c) == (s)->carried ? rec_val(&(s)->rec[x]) : (s)->val[c] ? (s)->val[c][x] : 0)

/* The SUM prefix of input c over s (sm[i] = sum of positions [0, i)) on threads: each
 * sums its chunk, then writes its prefixes from the chunks before it. */
typedef struct SumJob {
    const Sorted *s;
    uint32_t c, n, nt;
    const uint8_t *ok;
    uint64_t *sm, *part;  /* part: per thread, its chunk's sum, then its offset */
    bool write;
} SumJob;

static void sum_step(void *ud, uint32_t t) {
    const SumJob *j = ud;
    const Sorted *s = j->s;
    uint32_t c = j->c, a = cut(j->n, t, j->nt), b = cut(j->n, t + 1, j->nt);
    const uint8_t *ok = j->ok;
    uint64_t acc = j->write ? j->part[t] : 0;
    for (uint32_t i = a; i < b; i++) {
        acc += !ok || ok[i] ? (uint64_t)VAL(s, c, i) : 0;
        if (j->write) j->sm[i + 1] = acc;
    }
    if (!j->write) j->part[t] = acc;
}

static void sum_prefix(const Sorted *s, uint32_t c, const uint8_t *ok, uint64_t *sm) {
    uint64_t part[64];
    SumJob j = {.s = s, .c = c, .n = s->n, .nt = threads_for(s->n), .ok = ok, .sm = sm, .part = part};
    if (j.nt > 64) j.nt = 64;
    sm[0] = 0;
    cn_pool_run(j.nt, sum_step, &j);
    uint64_t off = 0; /* wraps modulo 2^64, as the sum does */
    for (uint32_t t = 0; t < j.nt; t++) {
        uint64_t x = part[t];
        part[t] = off;
        off += x;
    }
    j.write = true;
    cn_pool_run(j.nt, sum_step, &j);
}

/* Rows no query sees, marked by setting their key id to `drop` (one pass on threads,
 * chunk t of cut(n, t, nt)): those of key k with a ts outside [win[2k], win[2k + 1]).
 * The same pass counts, per thread, the kept rows of each key id (cnt, n_ids counters a
 * thread) and of each top bucket of the radix sort to come (hist, 1 << DIGIT a thread,
 * as pre->k and pre->low split the key): sort_recs then skips its counting pass. */
typedef struct MarkJob {
    uint32_t *id;
    const int64_t *key;   /* not NULL: the ids are made here, key - klo */
    int64_t klo;
    const int64_t *ts, *win;
    uint32_t n, nt, n_chunks, drop, n_ids;
    RecKey k;
    unsigned low;
    uint32_t *cnt, *hist; /* cnt: per thread; hist: per row chunk */
    atomic_uint *next;    /* the next row chunk (apart: the steps copy the job) */
} MarkJob;

static void mark_step(void *ud, uint32_t t) {
    MarkJob *j = ud;
    uint32_t *cnt = j->cnt + (size_t)t * j->n_ids;
    memset(cnt, 0, (size_t)j->n_ids * sizeof *cnt);
    for (uint32_t c; (c = atomic_fetch_add(j->next, 1)) < j->n_chunks;) {
        const MarkJob jl = *j; /* locals: the counts' stores may alias the job's fields */
        uint32_t *h = jl.hist + ((size_t)c << DIGIT);
        memset(h, 0, ((size_t)1 << DIGIT) * sizeof *h);
        unsigned sh = jl.k.shift + jl.low;
        for (uint32_t r = cut(jl.n, c, jl.n_chunks), e = cut(jl.n, c + 1, jl.n_chunks); r < e; r++) {
            uint32_t k = jl.key ? (uint32_t)((uint64_t)jl.key[r] - (uint64_t)jl.klo) : jl.id[r];
            int64_t x = jl.ts[r];
            bool out = x < jl.win[2 * (size_t)k] || x >= jl.win[2 * (size_t)k + 1];
            jl.id[r] = out ? jl.drop : k;
            if (out) continue;
            cnt[k]++;
            h[rec_at(&jl.k, k, x) >> sh]++;
        }
    }
}

/* Marks the rows outside their key's windows (MarkJob), fills start[0..n_ids] with the
 * first position of each kept key id in (id) order and returns the rows kept; pre gets
 * the plan and counts for sort_recs (OWNED: pre->hist, cn_free). CN_ENOMEM: -1. */
static int64_t mark_rows(uint32_t *id, const int64_t *key, int64_t klo, const int64_t *ts, const int64_t *win,
                         uint32_t n, uint32_t n_ids, const int64_t *trange, uint32_t *start, SortPre *pre) {
    atomic_uint next = 0;
    MarkJob j = {.id = id, .key = key, .klo = klo, .ts = ts, .win = win, .n = n, .nt = threads_for(n),
                 .n_chunks = row_chunks(n), .drop = n_ids, .n_ids = n_ids, .next = &next};
    radix_plan(n_ids, trange[0], trange[1], n, &pre->k, &pre->top, &pre->low);
    j.k = pre->k, j.low = pre->low;
    j.cnt = cn_malloc(((size_t)j.nt * n_ids + 1) * sizeof *j.cnt);
    j.hist = cn_malloc(((size_t)j.n_chunks << DIGIT) * sizeof *j.hist);
    if (!j.cnt || !j.hist) {
        cn_free(j.cnt);
        cn_free(j.hist);
        return -1;
    }
    cn_pool_run(j.nt, mark_step, &j);
    uint32_t sum = 0;
    for (uint32_t k = 0; k < n_ids; k++) {
        start[k] = sum;
        for (uint32_t t = 0; t < j.nt; t++) sum += j.cnt[(size_t)t * n_ids + k];
    }
    start[n_ids] = sum;
    cn_free(j.cnt);
    pre->hist = j.hist;
    return sum;
}

/* *win (OWNED, cn_free; NULL when not worth it): per key id k < n_ids, the ts range
 * [win[2k], win[2k + 1]) the windows of its queries cover, from the earliest window
 * start (floor(q - W, H), as the sweep takes it; unbounded with an unwindowed part) to
 * the latest query time (rows are seen when ts < q). Keys without queries get an empty
 * range. Left NULL when the keys are many beside the n_rows loaded rows (the table
 * would cost more than the rows it could spare). CN_ENOMEM. */
static int query_windows(const Plan *p, uint32_t n_q, const uint32_t *qid, const int64_t *qts, uint32_t n_ids,
                         uint32_t n_rows, int64_t **win, CnErr *err);

/* Sorts the loaded rows by (id, ts) into s; frees f's arrays as they are consumed.
 * pday: a row may be late for a query (stored in a partition after the query's): the
 * rows' storage days are kept in s->pday then, and the row number travels.
 * OWNED rec_mem (rec_bytes, the dead key column's block) goes to s's spares, where the
 * records' array is taken from. A radix sort leaves out the rows outside the ts range
 * their key's queries' windows cover (query_windows of the n_q queries with key ids qid
 * at qts): they change no value (a late one among them only sends a query to the
 * filtered fold, which gives the same values). Rows that come as runs are merged whole:
 * the merge costs less than the marking. lazy_lo: id is not filled yet (key_ids' lazy):
 * the keys are in rec_mem, each id key - lazy_lo, filled by the first pass that reads
 * them (before rec_mem is taken for the records). */
static int sort_rows(Flat *f, const Plan *p, uint32_t *id, const int64_t *lazy_lo, uint32_t n_ids, uint32_t n_q,
                     const uint32_t *qid, const int64_t *qts, bool pday, void *rec_mem, size_t rec_bytes, Sorted *s,
                     CnErr *err) {
    Rec *ev = NULL;
    uint32_t n = f->n;
    memset(s, 0, sizeof *s);
    spare_put(&s->spare, rec_mem, rec_bytes); /* the key column's block: the records' array */
    s->start = cn_calloc((size_t)n_ids + 2, sizeof *s->start);
    if (!s->start) return cn_err_set(err, CN_ENOMEM, "out of memory");
    /* the input whose values travel with the sort: the one read, when nothing is gathered
     * by row number (other inputs' values, null masks) and its values fit in the record's
     * 32 bits; else the row number travels */
    uint32_t carried = p->n_in, n_vals = 0;
    bool gather = false;
    for (uint32_t c = 0; c < p->n_in; c++) {
        gather = gather || f->n_null[c];
        if (p->in_vals[c] && !n_vals++) carried = c;
    }
    if (gather || n_vals > 1 || pday) carried = p->n_in;
    if (carried < p->n_in && n && (f->vmin[carried] < INT32_MIN || f->vmax[carried] > INT32_MAX)) carried = p->n_in;
    const int64_t *cv = carried < p->n_in ? f->val[carried] : NULL;
    const int64_t trange[2] = {n ? f->tmin : 0, n ? f->tmax : 0}; /* noted while loading */
    s->k.lo = trange[0], s->k.tb = bits_of((uint64_t)trange[1] - (uint64_t)trange[0]);
    const int64_t *key = lazy_lo ? rec_mem : NULL; /* rec_mem is not taken before the ids are made */
    int64_t klo = lazy_lo ? *lazy_lo : 0;
    int rc = sort_runs(id, key, klo, f->ts, cv, &s->k, n, n_ids, s->start, &s->spare, &ev, &s->n_runs, &s->n_fixed,
                       err);
    uint32_t n_keep = n, drop = NONE;
    int64_t *win = NULL;
    if (rc == 0 && !ev) rc = query_windows(p, n_q, qid, qts, n_ids, n, &win, err);
    SortPre pre = {0}, *use_pre = NULL;
    if (rc == 0 && !ev && win) {
        int64_t kept = mark_rows(id, key, klo, f->ts, win, n, n_ids, trange, s->start, &pre);
        if (kept < 0) rc = cn_err_set(err, CN_ENOMEM, "sorting %u source rows: out of memory", n);
        n_keep = kept < 0 ? 0 : (uint32_t)kept, drop = n_ids, use_pre = &pre;
        s->n_dropped = n - n_keep;
    } else if (rc == 0 && !ev) {
        if (key) ids_fill(key, klo, id, n);
        id_starts(id, n, n_ids, s->start);
    }
    cn_free(win);
    if (rc == 0 && !ev)
        rc = sort_recs(id, f->ts, cv, n_ids, drop, NULL, n, n_keep, trange, use_pre, &s->spare, &ev, &s->k, err);
    cn_free(pre.hist);
    n = n_keep;
    s->rec = ev; /* sorted_fini frees it */
    if (rc == 0 && pday) {
        s->pday = big_alloc(((size_t)n + 1) * sizeof *s->pday);
        if (!s->pday) rc = cn_err_set(err, CN_ENOMEM, "sorting %u source rows: out of memory", n);
        for (uint32_t i = 0; rc == 0 && i < n; i++) s->pday[i] = flat_day(f, (uint32_t)ev[i].v);
    }
    spare_put(&s->spare, f->ts, (size_t)f->cap * sizeof *f->ts), f->ts = NULL;
    if (rc) return rc;
    s->n = n;
    s->carried = carried;
    for (uint32_t c = 0; c < p->n_in; c++) {
        uint8_t *ok = NULL;
        if (f->n_null[c]) {
            ok = s->ok[c] = big_alloc((size_t)n + 1);
            if (!ok) goto oom;
            for (uint32_t i = 0; i < n; i++) ok[i] = !f->nul[c][ev[i].v];
        }
        cn_free(f->nul[c]), f->nul[c] = NULL;
        if (p->in_vals[c]) {
            if (c != carried) {
                int64_t *v = s->val[c] = big_alloc(((size_t)n + 1) * sizeof *v);
                if (!v) goto oom;
                for (uint32_t i = 0; i < n; i++) v[i] = f->val[c][ev[i].v];
            }
            spare_put(&s->spare, f->val[c], (size_t)f->cap * sizeof **f->val), f->val[c] = NULL;
        }
        if (p->in_cnt[c] && ok && !p->running) {
            uint32_t *cn = s->cnt[c] = big_alloc(((size_t)n + 1) * sizeof *cn);
            if (!cn) goto oom;
            cn[0] = 0;
            for (uint32_t i = 0; i < n; i++) cn[i + 1] = cn[i] + ok[i];
        }
        if (p->in_sum[c] && !p->running) {
            uint64_t *sm = s->sum[c] = spare_take(&s->spare, ((size_t)n + 1) * sizeof *sm);
            if (!sm) goto oom;
            sum_prefix(s, c, ok, sm);
        }
        if (p->in_last[c] && ok) {
            uint32_t *l = s->nnl[c] = big_alloc(((size_t)n + 1) * sizeof *l), prev = NONE;
            if (!l) goto oom;
            for (uint32_t i = 0; i < n; i++) l[i] = prev = ok[i] ? i : prev;
        }
        if (p->in_first[c] && ok) {
            uint32_t *fi = s->nnf[c] = big_alloc(((size_t)n + 1) * sizeof *fi), next = n;
            if (!fi) goto oom;
            fi[n] = n;
            for (uint32_t i = n; i-- > 0;) fi[i] = next = ok[i] ? i : next;
        }
    }
    return 0;
oom:
    return cn_err_set(err, CN_ENOMEM, "sorting %u source rows: out of memory", n);
}

/* Value of part jp over positions [a, b) of s (one key, window start and end), every
 * row counting; false when null. */
static bool part_value(const Sorted *s, const JPart *jp, uint32_t a, uint32_t b, int64_t *out) {
    uint32_t c = jp->in;
    switch (jp->op) {
    case J_COUNT:
    case J_SUM: {
        uint32_t k = s->cnt[c] ? s->cnt[c][b] - s->cnt[c][a] : b - a;
        if (!k) return false;
        *out = jp->op == J_COUNT ? (int64_t)k : (int64_t)(s->sum[c][b] - s->sum[c][a]);
        return true;
    }
    case J_LAST: {
        if (b <= a) return false;
        uint32_t j = s->nnl[c] ? s->nnl[c][b - 1] : b - 1;
        if (j == NONE || j < a) return false;
        /* ties at that ts: the largest value, as the kernel's fold keeps */
        int64_t best = VAL(s, c, j), t = TS(s, j);
        for (uint32_t x = j; x > a && TS(s, x - 1) == t;) {
            x--; /* not inside IN_OK: without a null mask it does not evaluate x */
            if (IN_OK(s, c, x) && VAL(s, c, x) > best) best = VAL(s, c, x);
        }
        *out = best;
        return true;
    }
    case J_FIRST: {
        if (b <= a) return false;
        uint32_t j = s->nnf[c] ? s->nnf[c][a] : a;
        if (j >= b) return false;
        int64_t best = VAL(s, c, j), t = TS(s, j);
        for (uint32_t x = j + 1; x < b && TS(s, x) == t; x++)
            if (IN_OK(s, c, x) && VAL(s, c, x) < best) best = VAL(s, c, x);
        *out = best;
        return true;
    }
    }
    return false;
}

/* The same over the rows of [a, b) stored in partitions <= pday (late rows exist). */
static bool part_value_upto(const Sorted *s, const JPart *jp, uint32_t a, uint32_t b, int32_t pday, int64_t *out) {
    uint32_t c = jp->in, k = 0;
    uint64_t sum = 0;
    int64_t bt = 0, bv = 0;
    for (uint32_t x = a; x < b; x++) {
        if (PDAY(s, x) > pday || !IN_OK(s, c, x)) continue;
        int64_t t = TS(s, x), v = VAL(s, c, x);
        if (jp->op == J_SUM) sum += (uint64_t)v;
        else if (jp->op == J_LAST ? !k || t > bt || (t == bt && v > bv) : jp->op == J_FIRST && (!k || t < bt || (t == bt && v < bv)))
            bt = t, bv = v;
        k++;
    }
    if (!k) return false;
    *out = jp->op == J_COUNT ? (int64_t)k : jp->op == J_SUM ? (int64_t)sum : bv;
    return true;
}

/* floor(x, h) = the largest multiple of h <= x, for h >= 1 with inv = 1.0 / h. A 64-bit
 * division per window and query was a third of the sweep; for 0 <= x < 2^52 the
 * product x * inv is within one of x / h, so its multiple of h is corrected by one
 * step at most. Other x take the division. */
static inline int64_t floor_hop(int64_t x, int64_t h, double inv) {
    if (x >= 0 && x < ((int64_t)1 << 52)) {
        int64_t s = (int64_t)((double)x * inv) * h;
        if (s > x) s -= h;
        else if (x - s >= h) s += h;
        return s;
    }
    int64_t rem = x % h;
    return rem < 0 ? x - rem - h : x - rem;
}

/* One sweep shared by its threads: the sorted queries are cut at key boundaries into
 * chunks [jcut[c], jcut[c + 1]), which threads take as they come free, so each key's
 * pointers live in one thread and every chunk's slots and values are written by one. */
typedef struct SweepJob {
    const Sorted *s;
    const Plan *p;
    const Rec *qs;
    RecKey qk;                   /* how the queries pack */
    const int32_t *qpday;        /* per left row: its storage day */
    uint32_t *slot, *jcut, *lo;  /* lo: per thread p->n_w window starts, LO_STRIDE apart */
    uint32_t n_chunks;
    atomic_uint next;            /* the next chunk to take */
    int64_t *v;
    uint8_t *ok;
} SweepJob;

/* Entries between two threads' window starts: at least a cache line apart, or every
 * store of one thread's pointers takes the line from the other (two thirds of the
 * sweep's time went to it). */
#define SWEEP_CHUNKS 16 /* chunks of queries per thread */

#define LO_STRIDE(n_w) ((((size_t)(n_w)) + 31) & ~(size_t)15)

/* The pointers walk in locals: through the memory of lo[] (or with the job's fields
 * reloaded after every byte stored to ok, which may alias them) each step of a walk
 * waited on the store of the step before. */
static void sweep_step(void *ud, uint32_t th) {
    SweepJob *sjm = ud;
    const SweepJob *sj = sjm;
    const Sorted *s = sj->s;
    const Plan *p = sj->p;
    const Rec *qs = sj->qs, *rec = s->rec;
    const RecKey qk = sj->qk, rk = s->k;
    const int32_t *pd = s->pday, *qpday = sj->qpday;
    const JPart *parts = p->parts;
    const int64_t *w_ms = p->w_ms, *w_hop = p->w_hop;
    const double *w_inv = p->w_inv;
    const uint32_t *start = s->start;
    uint32_t *slot = sj->slot;
    int64_t *vals = sj->v;
    uint8_t *oks = sj->ok;
    uint32_t np = p->n_parts, n_w = p->n_w, *lo = sj->lo + (size_t)th * LO_STRIDE(n_w);
    uint32_t cur = NONE, e1 = 0, hi = 0;
    int32_t max_pday = INT32_MIN;
    /* running sums (p->running): per counted input c, what entered the key's windows at
     * their end (tot, tcnt: every row before hi) and what left window w at its start
     * (out, ocnt: rows before lo[w]); the window holds the difference, modulo 2^64 as
     * the prefix sums and the kernel's SUM wrap */
    uint32_t rin[MAX_IN], n_rin = 0;
    uint64_t tot[MAX_IN], out[RUN_W][MAX_IN];
    uint32_t tcnt[MAX_IN], ocnt[RUN_W][MAX_IN];
    bool run = p->running;
    for (uint32_t c = 0; run && c < p->n_in; c++)
        if (p->in_cnt[c]) rin[n_rin++] = c;
    /* the one counted input's arrays (the carried one's values are in the records) */
    uint32_t c1 = n_rin ? rin[0] : 0;
    const uint8_t *ok1 = n_rin ? s->ok[c1] : NULL;
    const int64_t *v1 = n_rin && c1 != s->carried ? s->val[c1] : NULL;
    for (uint32_t ch; (ch = atomic_fetch_add(&sjm->next, 1)) < sj->n_chunks;) {
        cur = NONE; /* a chunk starts with a key */
        for (uint32_t j = sj->jcut[ch], j1 = sj->jcut[ch + 1]; j < j1; j++) {
            const Rec *qr = &qs[j];
            uint32_t r = (uint32_t)qr->v, k = rec_id(qr, &qk);
            int64_t t = rec_ts(qr, &qk);
            uint64_t tu = rec_at(&rk, k, t); /* rows of key k with ts < t: u < tu */
            if (k != cur) {
                cur = k;
                hi = start[k];
                e1 = start[k + 1];
                max_pday = INT32_MIN;
                for (uint32_t w = 0; w < n_w; w++) lo[w] = hi;
                for (uint32_t i = 0; i < n_rin; i++) {
                    uint32_t c = rin[i];
                    tot[c] = 0, tcnt[c] = 0;
                    for (uint32_t w = 0; w < n_w; w++) out[w][c] = 0, ocnt[w][c] = 0;
                }
            }
            uint32_t h = hi;
            int32_t mp = max_pday;
            if (pd) /* the latest storage day of the rows the end pointer passes */
                for (uint32_t x = h; x < e1 && rec[x].u < tu; x++) mp = pd[x] > mp ? pd[x] : mp;
            if (n_rin == 1) { /* one counted input: its sums in registers */
                uint64_t sv = tot[c1];
                uint32_t sc = tcnt[c1];
                if (!ok1 && !v1) { /* no nulls, values in the records: the count is the rows passed */
                    uint32_t h0 = h;
                    for (; h < e1 && rec[h].u < tu; h++) sv += (uint64_t)rec_val(&rec[h]);
                    sc += h - h0;
                } else {
                    for (; h < e1 && rec[h].u < tu; h++) {
                        bool okx = !ok1 || ok1[h];
                        sv += okx ? (uint64_t)(v1 ? v1[h] : rec_val(&rec[h])) : 0;
                        sc += okx;
                    }
                }
                tot[c1] = sv, tcnt[c1] = sc;
            } else {
                for (; h < e1 && rec[h].u < tu; h++) {
                    for (uint32_t i = 0; i < n_rin; i++) {
                        uint32_t c = rin[i];
                        bool okx = IN_OK(s, c, h);
                        tot[c] += okx ? (uint64_t)VAL(s, c, h) : 0;
                        tcnt[c] += okx;
                    }
                }
            }
            hi = h, max_pday = mp;
            for (uint32_t w = 0; w < n_w; w++) {
                if (!w_ms[w]) continue;
                /* cn_agg_temporal_start with the hop looked up once: floor(t - W, H) */
                uint64_t su = rec_at(&rk, k, floor_hop(t - w_ms[w], w_hop[w], w_inv[w]));
                uint32_t x = lo[w];
                if (n_rin == 1) {
                    uint64_t sv = out[w][c1];
                    uint32_t sc = ocnt[w][c1];
                    if (!ok1 && !v1) {
                        uint32_t x0 = x;
                        for (; x < h && rec[x].u < su; x++) sv += (uint64_t)rec_val(&rec[x]);
                        sc += x - x0;
                    } else {
                        for (; x < h && rec[x].u < su; x++) {
                            bool okx = !ok1 || ok1[x];
                            sv += okx ? (uint64_t)(v1 ? v1[x] : rec_val(&rec[x])) : 0;
                            sc += okx;
                        }
                    }
                    out[w][c1] = sv, ocnt[w][c1] = sc;
                } else if (n_rin) {
                    for (; x < h && rec[x].u < su; x++)
                        for (uint32_t i = 0; i < n_rin; i++) {
                            uint32_t c = rin[i];
                            bool okx = IN_OK(s, c, x);
                            out[w][c] += okx ? (uint64_t)VAL(s, c, x) : 0;
                            ocnt[w][c] += okx;
                        }
                } else {
                    while (x < h && rec[x].u < su) x++;
                }
                lo[w] = x;
            }
            int32_t qpd = pd ? qpday[r] : 0;
            bool late = pd && mp > qpd;
            slot[r] = j;
            int64_t *v = vals + (size_t)j * np;
            uint8_t *ok = oks + (size_t)j * np;
            for (uint32_t q = 0; q < np; q++) {
                const JPart *jp = &parts[q];
                int64_t x = 0;
                bool got;
                if (late) {
                    got = part_value_upto(s, jp, lo[jp->win], h, qpd, &x);
                } else if (run && (jp->op == J_COUNT || jp->op == J_SUM)) {
                    uint32_t c = jp->in, m = tcnt[c] - ocnt[jp->win][c];
                    got = m != 0;
                    x = jp->op == J_COUNT ? (int64_t)m : (int64_t)(tot[c] - out[jp->win][c]);
                } else {
                    got = part_value(s, jp, lo[jp->win], h, &x);
                }
                v[q] = x;
                ok[q] = got;
            }
        }
    }
}

/* Every query's part values, in sorted order and row-major (the parts of a query share
 * cache lines; sorted order is random in left order): slot[r] = j for left row r whose
 * key has rows (its other rows keep NONE: null values), and part q's value is
 * (*rv)[j * n_parts + q] when (*rok)[j * n_parts + q].
 * OWNED: *rv, *rok (cn_free). */
static int sweep(Sorted *s, const Plan *p, uint32_t n_q, const uint32_t *qid, const int64_t *qts,
                 const int32_t *qpday, uint32_t n_ids, uint32_t *slot, int64_t **rv, uint8_t **rok, CnErr *err) {
    uint32_t *qsel = big_alloc(((size_t)n_q + 1) * sizeof *qsel), n_qq = 0;
    SweepJob sj = {.s = s, .p = p, .slot = slot, .qpday = qpday};
    Rec *qs = NULL;
    int rc = 0;
    if (!qsel) goto oom;
    for (uint32_t r = 0; r < n_q; r++)
        if (qid[r] != NONE && s->start[qid[r]] != s->start[qid[r] + 1]) qsel[n_qq++] = r; /* a key with rows */
    rc = sort_recs(qid, qts, NULL, n_ids, NONE, qsel, n_qq, n_qq, NULL, NULL, &s->spare, &qs, &sj.qk, err);
    if (rc) goto done;
    uint32_t np = p->n_parts, nt = threads_for(n_qq);
    sj.qs = qs;
    sj.v = *rv = spare_take(&s->spare, ((size_t)n_qq * np + 1) * sizeof *sj.v);
    sj.ok = *rok = spare_take(&s->spare, (size_t)n_qq * np + 1);
    spare_fini(&s->spare); /* nothing bigger is made after: the rest goes back now */
    sj.n_chunks = chunks_for(nt, SWEEP_CHUNKS);
    sj.jcut = cn_malloc(((size_t)sj.n_chunks + 1) * sizeof *sj.jcut);
    sj.lo = cn_malloc(((size_t)nt * LO_STRIDE(p->n_w) + 1) * sizeof *sj.lo);
    if (!sj.v || !sj.ok || !sj.jcut || !sj.lo) goto oom;
    for (uint32_t c = 0; c <= sj.n_chunks; c++) {
        uint32_t j = c == sj.n_chunks ? n_qq : cut(n_qq, c, sj.n_chunks);
        if (c && j < sj.jcut[c - 1]) j = sj.jcut[c - 1];
        while (j > 0 && j < n_qq && rec_id(&qs[j], &sj.qk) == rec_id(&qs[j - 1], &sj.qk))
            j++; /* a key stays in one chunk */
        sj.jcut[c] = j;
    }
    atomic_init(&sj.next, 0);
    cn_pool_run(nt, sweep_step, &sj);
    goto done;
oom:
    rc = cn_err_set(err, CN_ENOMEM, "out of memory");
done:
    cn_free(qsel);
    cn_free(qs);
    cn_free(sj.jcut);
    cn_free(sj.lo);
    return rc;
}

/* The values batch in left order, built by threads over runs of 64 left rows (whole
 * validity words). */
typedef struct OutJob {
    const Plan *p;
    uint32_t n, nt, n_chunks; /* chunks of 64-row words, taken as threads come free */
    atomic_uint next;
    const uint32_t *slot;
    const int64_t *rv;
    const uint8_t *rok;
    CnBatch *vals;
    uint64_t *n_null;  /* per thread and part */
} OutJob;

#define PF 24      /* rows to prefetch ahead: about the misses in flight */
#define NN_STRIDE(np) ((((size_t)(np)) + 15) & ~(size_t)7) /* per-thread null counts, a line apart */
#define OUT_GROUP 16 /* parts written per pass over the rows */
/* Rows [r0, r1) (r0 a multiple of 64) on thread t. */
static void out_chunk(const OutJob *oj, uint32_t t, uint32_t r0, uint32_t r1) {
    uint32_t np = oj->p->n_parts;
    const uint32_t *slot = oj->slot;
    const int64_t *rv = oj->rv;
    const uint8_t *rok = oj->rok;
    uint64_t *nn = oj->n_null + (size_t)t * NN_STRIDE(np);
    for (uint32_t q0 = 0; q0 < np; q0 += OUT_GROUP) {
        uint32_t ng = np - q0 < OUT_GROUP ? np - q0 : OUT_GROUP;
        /* the group's columns, hoisted: the stores below cannot alias them then */
        void *out[OUT_GROUP];
        uint64_t *valid[OUT_GROUP], bits[OUT_GROUP];
        bool narrow[OUT_GROUP];
        for (uint32_t g = 0; g < ng; g++) {
            CnVec *v = &oj->vals->cols[q0 + g];
            out[g] = v->values, valid[g] = v->valid, bits[g] = 0;
            narrow[g] = oj->p->parts[q0 + g].out == CN_COL_INT32;
        }
        /* r0 is a multiple of 64: each validity word is stored once, when complete */
        for (uint32_t r = r0; r < r1; r++) {
            if (r + PF < r1 && slot[r + PF] != NONE) { /* the group's values may span two lines */
                const int64_t *pv = rv + (size_t)slot[r + PF] * np + q0;
                __builtin_prefetch(pv);
                __builtin_prefetch(pv + ng - 1);
                __builtin_prefetch(rok + (size_t)slot[r + PF] * np + q0);
            }
            unsigned b = r & 63;
            size_t o = (size_t)(slot[r] == NONE ? 0 : slot[r]) * np + q0;
            bool any = slot[r] != NONE;
            for (uint32_t g = 0; g < ng; g++) {
                uint64_t ok = any && rok[o + g];
                int64_t x = ok ? rv[o + g] : 0;
                if (narrow[g]) ((int32_t *)out[g])[r] = (int32_t)x;
                else ((int64_t *)out[g])[r] = x;
                bits[g] |= ok << b;
            }
            if (b == 63 || r + 1 == r1)
                for (uint32_t g = 0; g < ng; g++) {
                    valid[g][r >> 6] = bits[g];
                    nn[q0 + g] += b + 1 - (unsigned)__builtin_popcountll(bits[g]);
                    bits[g] = 0;
                }
        }
    }
}

static void out_step(void *ud, uint32_t t) {
    OutJob *oj = ud;
    uint32_t words = (oj->n + 63) / 64;
    for (uint32_t c; (c = atomic_fetch_add(&oj->next, 1)) < oj->n_chunks;)
        out_chunk(oj, t, cut(words, c, oj->n_chunks) * 64, CN_MIN(cut(words, c + 1, oj->n_chunks) * 64, oj->n));
}

/* The values batch (empty, value schema) in left order: each left row gathers its
 * query's row of part values once (prefetched PF rows ahead) and writes every
 * column in place; a bitmap marks the non-null ones. */
static int out_columns(const Plan *p, uint32_t n, const uint32_t *slot, const int64_t *rv, const uint8_t *rok,
                       CnBatch *vals, CnErr *err) {
    uint32_t np = p->n_parts;
    OutJob oj = {.p = p, .n = n, .nt = threads_for(n), .slot = slot, .rv = rv, .rok = rok, .vals = vals};
    oj.n_chunks = row_chunks(n); /* of 64-row words */
    atomic_init(&oj.next, 0);
    for (uint32_t q = 0; q < np; q++) {
        CnVec *v = &vals->cols[q];
        if (cn_col_vec_reserve(v, n) || cn_col_vec_make_valid(v)) return cn_err_set(err, CN_ENOMEM, "out of memory");
        memset(v->valid, 0, ((size_t)n + 63) / 64 * 8);
    }
    oj.n_null = cn_calloc((size_t)oj.nt * NN_STRIDE(np) + 1, sizeof *oj.n_null);
    if (!oj.n_null) return cn_err_set(err, CN_ENOMEM, "out of memory");
    cn_pool_run(oj.nt, out_step, &oj);
    for (uint32_t q = 0; q < np; q++) {
        for (uint32_t t = 0; t < oj.nt; t++) vals->cols[q].n_null += oj.n_null[(size_t)t * NN_STRIDE(np) + q];
        vals->cols[q].n = n;
    }
    cn_free(oj.n_null);
    return cn_col_batch_sync_rows(vals, err);
}

/* ------------------------------------------------------------------ entry */

/* The left rows' key ids, on threads (thread t: rows [cut(n, t, nt), cut(n, t + 1, nt))):
 * hit[r] when row r has a key, qid[r] its id (NONE: none, or a key no row has), slot[r]
 * NONE; per thread the ts range of the rows with an id and the most days one is stored
 * before its ts's day (late: a row stored d days after its ts's day can then be late
 * for it when d + late > 0; else every row before a query's ts is stored by the query's
 * day). */
#define QID_MAX_THREADS 256
typedef struct QidJob {
    const Plan *p;
    const CnVec *lk;
    const CnEngRowMap *skeys;
    const KeyMap *km;
    const uint32_t *rank;
    const int64_t *qts;
    const int32_t *qpday;
    uint32_t n, nt;
    uint8_t *hit;
    uint32_t *qid, *slot;
    int64_t lo[QID_MAX_THREADS], hi[QID_MAX_THREADS], late[QID_MAX_THREADS];
} QidJob;

static void qid_step(void *ud, uint32_t t) {
    QidJob *j = ud;
    int64_t lo = INT64_MAX, hi = INT64_MIN, late = INT64_MIN;
    for (uint32_t r = cut(j->n, t, j->nt), e = cut(j->n, t + 1, j->nt); r < e; r++) {
        uint32_t q = NONE;
        j->hit[r] = cn_col_vec_is_valid(j->lk, r);
        j->slot[r] = NONE;
        if (j->hit[r] && j->p->key_type == CN_COL_STRING) {
            uint32_t len;
            const char *kp = cn_col_vec_str(j->lk, r, &len);
            uint32_t sid = cn_eng__rowmap_find(j->skeys, kp, len, cn_hash_bytes(kp, len, 0x6b6579));
            q = sid == NONE ? NONE : keymap_find(j->km, sid);
        } else if (j->hit[r]) {
            q = keymap_find(j->km, get_int(j->lk, r));
        }
        if (j->rank && q != NONE) q = j->rank[q];
        j->qid[r] = q;
        if (q == NONE) continue;
        int64_t ts = j->qts[r];
        int64_t d = j->qpday[r] == INT32_MIN ? INT32_MAX : cn_ms_to_days(ts) - j->qpday[r];
        lo = ts < lo ? ts : lo;
        hi = ts > hi ? ts : hi;
        late = d > late ? d : late;
    }
    j->lo[t] = lo, j->hi[t] = hi, j->late[t] = late;
}

/* Keys [cut(n_ids, t, nt), cut(n_ids, t + 1, nt)) of a query_windows, on thread t: each
 * thread reads every query and folds those of its keys. */
typedef struct WinJob {
    const Plan *p;
    const uint32_t *qid;
    const int64_t *qts;
    uint32_t n_q, n_ids, nt;
    bool unbounded;
    int64_t *w;
} WinJob;

static void win_step(void *ud, uint32_t t) {
    const WinJob *j = ud;
    const Plan *p = j->p;
    uint32_t k0 = cut(j->n_ids, t, j->nt), k1 = cut(j->n_ids, t + 1, j->nt);
    int64_t *w = j->w;
    for (uint32_t k = k0; k < k1; k++) w[2 * (size_t)k] = INT64_MAX, w[2 * (size_t)k + 1] = INT64_MIN;
    for (uint32_t r = 0; r < j->n_q; r++) {
        uint32_t k = j->qid[r];
        if (k == NONE || k < k0 || k >= k1) continue;
        int64_t q = j->qts[r], st = INT64_MIN, *x = w + 2 * (size_t)k;
        for (uint32_t i = 0; i < p->n_w && !j->unbounded; i++) {
            int64_t s = floor_hop(q - p->w_ms[i], p->w_hop[i], p->w_inv[i]);
            st = i == 0 || s < st ? s : st;
        }
        if (st < x[0]) x[0] = st;
        if (q > x[1]) x[1] = q;
    }
}

static int query_windows(const Plan *p, uint32_t n_q, const uint32_t *qid, const int64_t *qts, uint32_t n_ids,
                         uint32_t n_rows, int64_t **win, CnErr *err) {
    *win = NULL;
    if ((uint64_t)n_ids * 4 > n_rows) return 0;
    WinJob j = {.p = p, .qid = qid, .qts = qts, .n_q = n_q, .n_ids = n_ids, .nt = threads_for(n_q)};
    j.w = cn_malloc(((size_t)n_ids + 1) * 2 * sizeof *j.w);
    if (!j.w) return cn_err_set(err, CN_ENOMEM, "query windows of %u keys: out of memory", n_ids);
    for (uint32_t i = 0; i < p->n_w; i++) j.unbounded = j.unbounded || !p->w_ms[i];
    cn_pool_run(j.nt, win_step, &j);
    *win = j.w;
    return 0;
}

int cn_eng__jscan_temporal(CnIceCatalog *cat, const CnGroupBy *gb, int32_t lo, int32_t hi, const CnEngOpts *opts,
                           const CnBatch *left, const int *lcol, uint32_t n_lkeys, const int64_t *qts,
                           const int32_t *qpday, CnEngGroupBy **g_out, CnBatch **vals_out, uint8_t *hit, bool *taken,
                           CnErr *err) {
    CnEngGroupBy *g = NULL;
    CnBatch *vals = NULL;
    Flat f;
    Sorted s;
    KeyMap km;
    CnEngRowMap skeys;
    Plan p;
    memset(&skeys, 0, sizeof skeys);
    memset(&p, 0, sizeof p);
    memset(&f, 0, sizeof f);
    f.kmin = f.tmin = INT64_MAX, f.kmax = f.tmax = f.late = INT64_MIN;
    for (uint32_t c = 0; c < MAX_IN; c++) f.vmin[c] = INT64_MAX, f.vmax[c] = INT64_MIN;
    memset(&s, 0, sizeof s);
    memset(&km, 0, sizeof km);
    uint32_t *id = NULL, *qid = NULL, *rank = NULL, n_ids = 0, n = left->n_rows;
    int64_t *rv = NULL;
    uint8_t *rok = NULL;
    uint32_t *slot = NULL;
    int64_t scanned = 0;
    void *rec_mem = NULL;
    *taken = false;
    if (opts->shard || n_lkeys != 1) return 0;
    /* the GroupBy without rows: schemas, bases and parts as the generic path has them */
    int rc = cn_eng__open(cat, gb, 1, 0, opts, NULL, NULL, &g, err);
    if (rc) {
        cn_err_clear(err); /* the generic path reports it */
        return 0;
    }
    const CnVec *lk = &left->cols[lcol[0]];
    if (!plan_make(g, &p) || !cn_col_type_equal(lk->type, g->key_schema->fields[0].type)) goto done;
    /* wall and process CPU at the phase ends ([0] start, [1] load, [2] sort, [3] sweep) */
    double tw[4] = {cn_clock_s(CLOCK_MONOTONIC)}, tc[4] = {cn_clock_s(CLOCK_PROCESS_CPUTIME_ID)};
    for (size_t i = 0; i < gb->n_sources && rc == 0; i++) {
        bool ok = false;
        rc = load_source(cat, &gb->sources[i], &p, lo, hi, opts, &f, &scanned, &ok, err);
        if (rc == 0 && !ok) goto done;
    }
    if (rc) goto done;
    /* D29: a windowed value reads partitions from its own day's bound, which this sweep
     * does not apply; only a row stored before its ts day can fall below it, and then
     * the generic path (join.c early_fix) answers */
    bool bounded = cn_eng__value_scan_lo(gb, 0) != INT32_MIN;
    if (bounded && f.early) goto done;
    tw[1] = cn_clock_s(CLOCK_MONOTONIC), tc[1] = cn_clock_s(CLOCK_PROCESS_CPUTIME_ID);
    bool declared = f.n_declared == gb->n_sources;
    /* range ids made by the sort's first pass over the rows, unless renumbered in key
     * order first (ids_by_key) */
    bool lazy = !(declared && p.key_type == CN_COL_STRING);
    rc = key_ids(&f, &km, lazy, &id, &n_ids, err);
    lazy = lazy && km.range;
    rec_mem = f.key, f.key = NULL; /* sized for the records (flat_grow) */
    skeys = f.skeys; /* string keys: left rows look up their id here */
    memset(&f.skeys, 0, sizeof f.skeys);
    if (rc == 0 && declared && (p.key_type == CN_COL_STRING || !km.range))
        rc = ids_by_key(&p, &km, &skeys, n_ids, id, f.n, &rank, err);
    qid = big_alloc(((size_t)n + 1) * sizeof *qid);
    slot = big_alloc(((size_t)n + 1) * sizeof *slot);
    if (rc == 0 && (!qid || !slot)) rc = cn_err_set(err, CN_ENOMEM, "out of memory");
    if (rc) goto done;
    QidJob qj = {.p = &p, .lk = lk, .skeys = &skeys, .km = &km, .rank = rank, .qts = qts, .qpday = qpday, .n = n,
                 .nt = threads_for(n), .hit = hit, .qid = qid, .slot = slot};
    if (qj.nt > QID_MAX_THREADS) qj.nt = QID_MAX_THREADS;
    cn_pool_run(qj.nt, qid_step, &qj);
    int64_t qlo = INT64_MAX, qhi = INT64_MIN, qlate = INT64_MIN;
    for (uint32_t t = 0; t < qj.nt; t++) {
        qlo = qj.lo[t] < qlo ? qj.lo[t] : qlo;
        qhi = qj.hi[t] > qhi ? qj.hi[t] : qhi;
        qlate = qj.late[t] > qlate ? qj.late[t] : qlate;
    }
    bool need_pday = f.late != INT64_MIN && qlate != INT64_MIN && f.late + qlate > 0;
    if (!rec_fits(n_ids, f.n ? f.tmin : 0, f.n ? f.tmax : 0) || !rec_fits(n_ids, qlo <= qhi ? qlo : 0, qlo <= qhi ? qhi : 0)) {
        cn_log(CN_LOG_DEBUG, "join fast path declined: %u keys and ts %lld..%lld (queries %lld..%lld) do not pack in 64 bits",
               n_ids, (long long)f.tmin, (long long)f.tmax, (long long)qlo, (long long)qhi);
        goto done;
    }
    *taken = true;
    g->stats.rows_scanned = scanned;
    if (rc == 0) {
        rc = sort_rows(&f, &p, id, lazy ? &km.lo : NULL, n_ids, n, qid, qts, need_pday, rec_mem, ((size_t)f.cap + 1) * sizeof(Rec), &s,
                       err);
        rec_mem = NULL;
    }
    char order[96];
    if (s.n_runs)
        snprintf(order, sizeof order, "%u runs in (key, ts) order merged, %u keys sorted again%s", s.n_runs,
                 s.n_fixed, declared ? "" : ", no declared order");
    else
        snprintf(order, sizeof order, "radix%s", declared ? ", declared (key, ts) order not kept" : "");
    spare_put(&s.spare, id, ((size_t)f.n + 1) * sizeof *id), id = NULL;
    flat_fini(&f);
    if (rc) goto done;
    uint32_t s_dropped = s.n_dropped;
    tw[2] = cn_clock_s(CLOCK_MONOTONIC), tc[2] = cn_clock_s(CLOCK_PROCESS_CPUTIME_ID);
    rc = sweep(&s, &p, n, qid, qts, qpday, n_ids, slot, &rv, &rok, err);
    tw[3] = cn_clock_s(CLOCK_MONOTONIC), tc[3] = cn_clock_s(CLOCK_PROCESS_CPUTIME_ID);
    sorted_fini(&s);
    if (rc == 0) rc = cn_col_batch_new(g->value_schema, &vals, err);
    if (rc == 0) rc = out_columns(&p, n, slot, rv, rok, vals, err);
    if (rc == 0)
        cn_log(CN_LOG_DEBUG,
               "join fast path: %u threads, %lld rows, %u queries: load %.3fs, sort %.3fs (%s), %u rows outside "
               "every query's windows left out, sweep %.3fs, output %.3fs; CPU: load %.3fs, sort %.3fs, sweep "
               "%.3fs, output %.3fs",
               cn_pool_threads(), (long long)scanned, n, tw[1] - tw[0], tw[2] - tw[1], order, s_dropped,
               tw[3] - tw[2], cn_clock_s(CLOCK_MONOTONIC) - tw[3], tc[1] - tc[0], tc[2] - tc[1], tc[3] - tc[2],
               cn_clock_s(CLOCK_PROCESS_CPUTIME_ID) - tc[3]);
done:
    cn_free(rv);
    cn_free(rok);
    cn_free(slot);
    cn_free(qid);
    cn_free(id);
    cn_free(rank);
    cn_free(rec_mem);
    keymap_fini(&km);
    cn_eng__rowmap_fini(&skeys);
    sorted_fini(&s);
    flat_fini(&f);
    if (rc || !*taken) {
        cn_eng_gb_free(g);
        cn_col_batch_free(vals);
        return rc;
    }
    *g_out = g;
    *vals_out = vals;
    return 0;
}
