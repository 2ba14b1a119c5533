/* online.c: upload of a GroupBy's batch data for day D and the decode/finalize of a
 * record at fetch time (online.h; compute.md section 8; docs/online-format.md).
 * TEMPORAL records hold per part a collapsed IR plus tail hops; the rule that splits
 * them (t >= B-W+2d collapses) makes every hop a whole H-aligned interval that a fetch
 * keeps or drops as a unit, which is what makes online equal offline at any q < B+2d. */
#include "base/compat.h" /* first: online.h includes jansson.h before it */

#include "engine/online.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/alloc.h"
#include "base/pool.h"
#include "base/date.h"
#include "base/log.h"
#include "engine/eng_int.h"

#define REC_MAGIC "CNOB"
#define REC_VERSION 1
#define REC_TILES 1  /* per part: collapsed IR + tail hops */
#define REC_VALUES 2 /* finalized values as JSON texts */
#define REC_HEADER 16
#define INFO_FORMAT 1
#define KEY_PREFIX 0 /* record keys start with a 0 byte: never equal to a text key */

/* ------------------------------------------------------------------ little-endian I/O */

static void put_u16(CnBuf *b, uint16_t v) {
    uint8_t x[2] = {(uint8_t)v, (uint8_t)(v >> 8)};
    cn_buf_append(b, x, 2);
}
static void put_u32(CnBuf *b, uint32_t v) {
    uint8_t x[4];
    for (int i = 0; i < 4; i++) x[i] = (uint8_t)(v >> (8 * i));
    cn_buf_append(b, x, 4);
}
static void put_i64(CnBuf *b, int64_t s) {
    uint64_t v = (uint64_t)s;
    uint8_t x[8];
    for (int i = 0; i < 8; i++) x[i] = (uint8_t)(v >> (8 * i));
    cn_buf_append(b, x, 8);
}
static uint32_t get_u32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static int64_t get_i64(const uint8_t *p) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = v << 8 | p[i];
    return (int64_t)v;
}

static void put_header(CnBuf *b, int kind, uint32_t n, int64_t batch_end) {
    cn_buf_append(b, REC_MAGIC, 4);
    cn_buf_putc(b, REC_VERSION);
    cn_buf_putc(b, (char)kind);
    put_u16(b, (uint16_t)n);
    put_i64(b, batch_end);
}

/* ------------------------------------------------------------------ JSON of values */

json_t *cn_eng_vec_json(const CnVec *v, uint32_t i) {
    if (!cn_col_vec_is_valid(v, i)) return json_null();
    switch (v->type->id) {
    case CN_COL_BOOL: return json_boolean(((const uint8_t *)v->values)[i]);
    case CN_COL_INT32: return json_integer(((const int32_t *)v->values)[i]);
    case CN_COL_DATE: {
        char ds[11];
        cn_ds_format(((const int32_t *)v->values)[i], ds);
        return json_string(ds);
    }
    case CN_COL_INT64:
    case CN_COL_TIMESTAMP: return json_integer(((const int64_t *)v->values)[i]);
    case CN_COL_FLOAT32: {
        double d = ((const float *)v->values)[i];
        return isfinite(d) ? json_real(d) : json_null();
    }
    case CN_COL_FLOAT64: {
        double d = ((const double *)v->values)[i];
        return isfinite(d) ? json_real(d) : json_null();
    }
    case CN_COL_STRING:
    case CN_COL_BINARY: {
        uint32_t len;
        const char *p = cn_col_vec_str(v, i, &len);
        return json_stringn_nocheck(p, len);
    }
    case CN_COL_LIST: {
        json_t *a = json_array();
        for (uint32_t k = v->offsets[i]; a && k < v->offsets[i + 1]; k++)
            json_array_append_new(a, cn_eng_vec_json(&v->child[0], k));
        return a;
    }
    case CN_COL_MAP: {
        json_t *o = json_object();
        for (uint32_t k = v->offsets[i]; o && k < v->offsets[i + 1]; k++) {
            json_t *key = cn_eng_vec_json(&v->child[0], k);
            char buf[64];
            const char *ks = buf;
            if (json_is_string(key)) ks = json_string_value(key);
            else if (json_is_integer(key)) snprintf(buf, sizeof buf, "%lld", (long long)json_integer_value(key));
            else if (json_is_real(key)) snprintf(buf, sizeof buf, "%.17g", json_real_value(key));
            else snprintf(buf, sizeof buf, "%s", json_is_true(key) ? "true" : "false");
            json_object_set_new(o, ks, cn_eng_vec_json(&v->child[1], k));
            json_decref(key);
        }
        return o;
    }
    case CN_COL_STRUCT: {
        json_t *o = json_object();
        for (uint32_t f = 0; o && f < v->type->n_children; f++)
            json_object_set_new(o, v->type->children[f].name, cn_eng_vec_json(&v->child[f], i));
        return o;
    }
    }
    return json_null();
}

/* ------------------------------------------------------------------ upload */

static json_t *schema_json(const CnSchema *s) {
    json_t *a = json_array();
    char tb[512];
    for (uint32_t i = 0; a && i < s->n_fields; i++)
        json_array_append_new(a, json_pack("{s:s, s:s}", "name", s->fields[i].name, "type",
                                           cn_col_type_name(s->fields[i].type, tb, sizeof tb)));
    return a;
}

/* The serving info: a JSON document (docs/online-format.md). */
static int serving_info(CnEngGroupBy *g, const char *conf_json, const char *ds, int64_t batch_end, int kind,
                        CnBuf *out, CnErr *err) {
    json_error_t je;
    json_t *conf = json_loads(conf_json, 0, &je);
    if (!conf) return cn_err_set(err, CN_ECORRUPT, "conf of GroupBy %s: %s (line %d)", g->gb->meta.name, je.text, je.line);
    json_t *parts = json_array();
    char tb[512];
    for (uint32_t p = 0; parts && p < g->n_parts; p++) {
        const CnEngBase *b = &g->bases[g->parts[p].i_base];
        json_array_append_new(parts, json_pack("{s:s, s:I, s:I, s:s}", "name", g->parts[p].name, "windowMs",
                                               (json_int_t)g->parts[p].w_ms, "hopMs",
                                               (json_int_t)(g->parts[p].w_ms ? cn_agg_tail_hop_ms(g->parts[p].w_ms) : 0),
                                               "inputType",
                                               cn_col_type_name(g->row_schema->fields[b->i_input].type, tb, sizeof tb)));
    }
    json_t *info = json_pack("{s:i, s:s, s:s, s:I, s:s, s:s, s:o, s:o, s:o, s:o}", "format", INFO_FORMAT, "name",
                             g->gb->meta.name, "endDs", ds, "batchEndMillis", (json_int_t)batch_end, "accuracy",
                             cn_conf_accuracy_name(cn_conf_groupby_accuracy(g->gb)), "record",
                             kind == REC_TILES ? "tiles" : "values", "keySchema", schema_json(g->key_schema),
                             "valueSchema", schema_json(g->value_schema), "parts", parts, "conf", conf);
    if (!info) return cn_err_set(err, CN_ENOMEM, "serving info: out of memory");
    char *txt = json_dumps(info, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(info);
    if (!txt) return cn_err_set(err, CN_ENOMEM, "serving info: out of memory");
    cn_buf_reset(out);
    cn_buf_puts(out, txt);
    cn_free_libc(txt); /* jansson's allocation */
    return out->oom ? cn_err_set(err, CN_ENOMEM, "serving info: out of memory") : 0;
}

typedef struct PartScratch {
    CnAggState *coll;  /* id 0 */
    CnAggState *hops;  /* id = hop index from hop_lo */
    int64_t hop_ms, hop_lo, split; /* split = B - W + 2d */
    uint32_t n_hops;
    /* The hops the current key touched, so that a key costs its rows and not n_hops
     * (a 1h window has 576 five-minute hops in its two tail days). mark[h] holds the
     * key id + 1 that last listed hop h in touched. */
    uint32_t *mark, *touched, n_touched;
} PartScratch;

static int cmp_u32(const void *a, const void *b) {
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

typedef struct KeyRef {
    const uint8_t *p;
    uint32_t len, id;
} KeyRef;

static int keyref_cmp(const void *a, const void *b) {
    const KeyRef *x = a, *y = b;
    return cn_bytes_cmp(x->p, x->len, y->p, y->len);
}

typedef struct PackedKey {
    uint64_t v;
    uint32_t id;
} PackedKey;

/* Keys of one width that differ in at most 8 byte positions pack into one integer (the
 * varying bytes, most significant first) sorted with its id. With several threads, the
 * top byte splits the keys into up to 256 buckets (phase 0 packs and counts per thread's
 * range of ids, phase 1 scatters, stable: thread t's keys of a bucket follow those of
 * the threads before it), then each thread sorts whole buckets by the lower bytes (LSD,
 * one stable pass a byte, in cache: a bucket of a million keys is ~60 KB) and writes
 * their ranks: no barrier per byte. Skewed top bytes only make the buckets uneven. */
typedef struct PackSort {
    const CnEngKeys *k;
    const int *vary;
    int n_vary;
    uint32_t n, n_t, phase;
    PackedKey *a, *t;   /* a: packed by id; t: by top byte (a is then the scratch) */
    uint32_t *cnt;      /* n_t x 256: per thread, counts of the top byte, then where they go */
    uint32_t bs[257];   /* where each top-byte bucket begins in t */
    uint32_t split[65]; /* thread u sorts buckets split[u]..split[u + 1] */
    uint32_t *order, *rank;
} PackSort;

static void pack_sort_step(void *ud, uint32_t u) {
    PackSort *s = ud;
    uint32_t *c = s->cnt + (size_t)u * 256;
    int top = 8 * (s->n_vary - 1);
    if (s->phase < 2) {
        uint32_t i0 = (uint32_t)((uint64_t)s->n * u / s->n_t), i1 = (uint32_t)((uint64_t)s->n * (u + 1) / s->n_t);
        const uint8_t *bytes = (const uint8_t *)s->k->bytes.data;
        if (s->phase == 0) {
            for (uint32_t i = i0; i < i1; i++) {
                const uint8_t *p = bytes + s->k->off[i];
                uint64_t v = 0;
                for (int j = 0; j < s->n_vary; j++) v = v << 8 | p[s->vary[j]];
                s->a[i] = (PackedKey){v, i};
                c[v >> top]++;
            }
        } else {
            for (uint32_t i = i0; i < i1; i++) s->t[c[s->a[i].v >> top]++] = s->a[i];
        }
        return;
    }
    for (uint32_t b = s->split[u]; b < s->split[u + 1]; b++) {
        uint32_t lo = s->bs[b], m = s->bs[b + 1] - lo;
        PackedKey *x = s->t + lo, *y = s->a + lo;
        for (int pass = 0; pass < s->n_vary - 1 && m > 1; pass++) {
            uint32_t h[257] = {0};
            int sh = 8 * pass;
            for (uint32_t i = 0; i < m; i++) h[((x[i].v >> sh) & 0xff) + 1]++;
            for (int v = 0; v < 256; v++) h[v + 1] += h[v];
            for (uint32_t i = 0; i < m; i++) y[h[(x[i].v >> sh) & 0xff]++] = x[i];
            PackedKey *z = x;
            x = y;
            y = z;
        }
        for (uint32_t i = 0; i < m; i++) {
            s->order[lo + i] = x[i].id;
            if (s->rank) s->rank[x[i].id] = lo + i;
        }
    }
}

/* sort_key_ids of fixed-width keys that differ in the n_vary byte positions vary[]. */
static int sort_packed(const CnEngKeys *k, const int *vary, int n_vary, uint32_t *order, uint32_t *rank, CnErr *err) {
    uint32_t n = k->n;
    PackSort s = {.k = k, .vary = vary, .n_vary = n_vary, .n = n, .order = order, .rank = rank};
    /* threads pay for themselves from ~100k keys; no varying byte: every key is equal */
    s.n_t = n < 65536 || !n_vary ? 1 : CN_MIN(cn_pool_threads(), 64u);
    s.a = cn_malloc(((size_t)n + 1) * sizeof *s.a);
    s.t = cn_malloc(((size_t)n + 1) * sizeof *s.t);
    s.cnt = cn_calloc((size_t)s.n_t * 256, sizeof *s.cnt);
    if (!s.a || !s.t || !s.cnt) {
        cn_free(s.a);
        cn_free(s.t);
        cn_free(s.cnt);
        return cn_err_set(err, CN_ENOMEM, "upload: out of memory");
    }
    if (!n_vary) {
        for (uint32_t i = 0; i < n; i++) order[i] = i;
        if (rank) memcpy(rank, order, (size_t)n * sizeof *rank);
    } else {
        cn_pool_run(s.n_t, pack_sort_step, &s);
        uint32_t run = 0;
        for (int v = 0; v < 256; v++) {
            s.bs[v] = run;
            for (uint32_t u = 0; u < s.n_t; u++) {
                uint32_t c = s.cnt[(size_t)u * 256 + v];
                s.cnt[(size_t)u * 256 + v] = run;
                run += c;
            }
        }
        s.bs[256] = run;
        s.phase = 1;
        cn_pool_run(s.n_t, pack_sort_step, &s);
        /* thread u takes the buckets up to about (u + 1) / n_t of the keys */
        uint32_t b = 0;
        s.split[0] = 0;
        for (uint32_t u = 0; u < s.n_t; u++) {
            uint64_t want = (uint64_t)n * (u + 1) / s.n_t;
            while (b < 256 && (u + 1 == s.n_t || s.bs[b + 1] <= want)) b++;
            s.split[u + 1] = b;
        }
        s.phase = 2;
        cn_pool_run(s.n_t, pack_sort_step, &s);
    }
    cn_free(s.a);
    cn_free(s.t);
    cn_free(s.cnt);
    return 0;
}

/* order[0..n): the key ids in ascending byte order of their encoded keys, the order
 * LMDB stores them in, so that the bulk load appends every record (MDB_APPEND) instead
 * of sorting its buffer; rank (if not NULL) its inverse. Keys of one length (every
 * fixed-width key schema) take a radix sort, one pass per byte position that varies;
 * others a comparison sort. */
static int sort_key_ids(const CnEngKeys *k, uint32_t *order, uint32_t *rank, CnErr *err) {
    uint32_t n = k->n;
    const uint8_t *bytes = (const uint8_t *)k->bytes.data;
    bool fixed = true;
    uint64_t len = n ? k->off[1] - k->off[0] : 0;
    for (uint32_t i = 0; i < n && fixed; i++) fixed = k->off[i + 1] - k->off[i] == len;
    if (!fixed || len > 64) {
        KeyRef *r = cn_malloc(((size_t)n + 1) * sizeof *r);
        if (!r) return cn_err_set(err, CN_ENOMEM, "upload: out of memory");
        for (uint32_t i = 0; i < n; i++) r[i] = (KeyRef){bytes + k->off[i], (uint32_t)(k->off[i + 1] - k->off[i]), i};
        qsort(r, n, sizeof *r, keyref_cmp);
        for (uint32_t i = 0; i < n; i++) order[i] = r[i].id;
        cn_free(r);
        goto ranks;
    }
    /* the byte positions where keys differ; up to 8 of them pack into one integer
     * (most significant first) sorted with its id, reading the keys once */
    int vary[8], n_vary = 0;
    bool packed = true;
    for (uint64_t b = 0; b < len && packed; b++) {
        uint8_t first = bytes[k->off[0] + b];
        uint32_t i = 1;
        while (i < n && bytes[k->off[i] + b] == first) i++;
        if (i == n) continue;
        if (n_vary == 8) packed = false;
        else vary[n_vary++] = (int)b;
    }
    if (packed) return sort_packed(k, vary, n_vary, order, rank, err);
    uint32_t *tmp = cn_malloc(((size_t)n + 1) * sizeof *tmp);
    if (!tmp) return cn_err_set(err, CN_ENOMEM, "upload: out of memory");
    for (uint32_t i = 0; i < n; i++) order[i] = i;
    uint32_t *src = order, *dst = tmp;
    for (uint64_t b = len; b-- > 0;) {
        uint32_t cnt[257] = {0};
        for (uint32_t i = 0; i < n; i++) cnt[bytes[k->off[i] + b] + 1]++;
        bool one = false;
        for (int v = 1; v <= 256 && !one; v++) one = cnt[v] == n;
        if (one) continue; /* every key has the same byte here */
        for (int v = 0; v < 256; v++) cnt[v + 1] += cnt[v];
        for (uint32_t i = 0; i < n; i++) dst[cnt[bytes[k->off[src[i]] + b]]++] = src[i];
        uint32_t *x = src;
        src = dst;
        dst = x;
    }
    if (src != order) memcpy(order, src, (size_t)n * sizeof *order);
    cn_free(tmp);
ranks:
    for (uint32_t i = 0; rank && i < n; i++) rank[order[i]] = i;
    return 0;
}

/* ------------------------------------------------------------------ upload fold */

/* The batch path of upload_tiles for the common exact operations (COUNT, SUM, AVERAGE,
 * MIN, MAX) over one long input column, no buckets. The rows in reach are put in the
 * records' key order once (a counting sort by rank, keeping source order within a key),
 * so a key's rows are read sequentially and once for all its parts instead of once per
 * part by random access. Per key and distinct window the rows fold into cells, the
 * collapsed IR and one per touched hop in hop order, each summing its rows in source
 * order, and each part's IRs are written straight from its cells. The bytes equal
 * upload_tiles' (cn_agg_state_encode of the same IRs): the 3-byte IR header is taken
 * from an encode of an empty state, and a flat IR is its state row (COUNT and SUM one
 * 64-bit integer, AVERAGE {double sum, int64 count}, MIN/MAX one int64), which these
 * writes reproduce. Records are folded on worker threads in chunks of keys while the
 * caller hands finished chunks to the bulk load in order. CN_ENG_UPLOAD_FOLD=0 turns it
 * off (tests compare both paths). */

/* The bulk load's begin, a write transaction that creates the new version and syncs,
 * runs on a thread of its own while the upload sorts and partitions (it mostly waits
 * for the disk); the first record waits for it (up_load_wait). */
typedef struct UpLoad {
    CnKv *kv;
    const char *dataset;
    unsigned flags;
    CnKvLoad *ld;
    CnPoolJob *job;
    int rc;
    CnErr err;
    double t_begin, t_wait; /* the begin's time on its thread; the first record's wait for it */
} UpLoad;

static void up_load_main(void *ud, uint32_t t) {
    (void)t;
    UpLoad *ul = ud;
    double t0 = cn_clock_s(CLOCK_MONOTONIC);
    ul->rc = cn_kv_load_begin_flags(ul->kv, ul->dataset, ul->flags, &ul->ld, &ul->err);
    ul->t_begin = cn_clock_s(CLOCK_MONOTONIC) - t0;
}

static int up_load_start(UpLoad *ul, CnErr *err) {
    ul->err = (CnErr)CN_ERR_INIT;
    if (cn_pool_start(1, up_load_main, ul, &ul->job, err) == 0) return 0;
    up_load_main(ul, 0); /* no thread: here and now */
    return ul->rc ? (*err = ul->err, ul->rc) : 0;
}

/* The begun load (NULL with *rc and err set when the begin failed). Once joined, the
 * same answer again. */
static CnKvLoad *up_load_wait(UpLoad *ul, int *rc, CnErr *err) {
    if (ul->job) {
        double t0 = cn_clock_s(CLOCK_MONOTONIC);
        cn_pool_join(ul->job);
        ul->job = NULL;
        ul->t_wait = cn_clock_s(CLOCK_MONOTONIC) - t0;
    }
    if (ul->rc) {
        *err = ul->err;
        *rc = ul->rc;
        return NULL;
    }
    return ul->ld;
}

typedef enum UpOp { UP_COUNT, UP_SUM, UP_AVG, UP_MIN, UP_MAX } UpOp;

typedef struct UpPart {
    UpOp op;
    uint32_t win;   /* index of its distinct window */
    uint8_t hdr[3]; /* IR header of its spec */
} UpPart;

typedef struct UpWin {
    int64_t w, lo, hop_ms, hop_lo, split; /* lo: first ts in reach (INT64_MIN unwindowed) */
} UpWin;

typedef struct UpCell { /* the collapsed IR (hop -1) or one tail hop of a key */
    int64_t hop;
    uint64_t n, sum;
    double dsum;
    int64_t mn, mx;
} UpCell;

typedef struct UpRow {
    int64_t ts, v;
} UpRow;

typedef struct UpPartRow { /* a row in reach in its range of ranks */
    int64_t ts, v;
    uint32_t rank;
} UpPartRow;

#define UP_CHUNK 8192u /* keys per folded chunk */
#define UP_BUCKETS 1024u /* ranges of ranks of the first pass */
#define UP_SLOTS 8u    /* chunks folded ahead of the writer */

typedef struct UpChunk {
    CnBuf recs;     /* key and record of each key with a record, back to back */
    uint32_t *len;  /* per key j of the chunk: len[2j] key, len[2j + 1] record length (0: none) */
    int rc;
    bool ready;
} UpChunk;

typedef struct UpFold {
    const CnEngGroupBy *g;
    const UpPart *up;
    const UpWin *uw;
    uint32_t n_wins, n_ids, n_chunks;
    const uint32_t *order, *beg; /* beg: rows of rank i are rows[beg[i]..beg[i + 1]) */
    const UpRow *rows;
    int64_t batch_end;
    UpChunk slot[UP_SLOTS];
    pthread_mutex_t mu;
    pthread_cond_t cv;
    uint32_t next;     /* next chunk to fold */
    uint32_t written;  /* chunks handed to the load */
    bool stop;
    /* who sleeps on cv: a wake-up only when someone waits (on a loaded machine each
     * needless one could hand the core to a worker in the middle of the writer's work) */
    uint32_t n_idle;   /* workers waiting for a free slot */
    bool main_waits;   /* the writer waiting for its chunk */
} UpFold;

static bool up_enabled(void) {
    const char *e = getenv("CN_ENG_UPLOAD_FOLD");
    return !e || strcmp(e, "0") != 0;
}

/* Fills up (one per part) and the distinct windows; false when some part needs the
 * generic path. */
static bool up_plan(const CnEngGroupBy *g, int64_t batch_end, UpPart *up, UpWin *uw, uint32_t *n_wins, CnErr *err,
                    int *rc) {
    *rc = 0;
    if (!up_enabled() || !g->n_parts || g->no_aggs) return false;
    int i_input = g->bases[g->parts[0].i_base].i_input;
    if (g->row_schema->fields[i_input].type->id != CN_COL_INT64) return false;
    *n_wins = 0;
    for (uint32_t p = 0; p < g->n_parts; p++) {
        const CnEngBase *b = &g->bases[g->parts[p].i_base];
        if (b->i_input != i_input || b->i_bucket >= 0) return false;
        CnTypeId want = CN_COL_INT64;
        switch (cn_agg_spec_op(b->spec)) {
        case CN_AGG_COUNT: up[p].op = UP_COUNT; break;
        case CN_AGG_SUM: up[p].op = UP_SUM; break;
        case CN_AGG_AVERAGE: up[p].op = UP_AVG, want = CN_COL_FLOAT64; break;
        case CN_AGG_MIN: up[p].op = UP_MIN; break;
        case CN_AGG_MAX: up[p].op = UP_MAX; break;
        default: return false;
        }
        if (cn_agg_spec_output_type(b->spec)->id != want) return false;
        /* the header of this spec's IRs: an empty state encodes as header + absent */
        CnAggState *st = NULL;
        CnBuf h = CN_BUF_INIT;
        *rc = cn_agg_state_new(b->spec, &st, err);
        if (*rc == 0) *rc = cn_agg_state_reserve(st, 1, err);
        if (*rc == 0) *rc = cn_agg_state_encode(st, 0, &h, err);
        bool ok = *rc == 0 && h.len == 4 && h.data[3] == 0;
        if (ok) memcpy(up[p].hdr, h.data, 3);
        cn_buf_fini(&h);
        cn_agg_state_free(st);
        if (!ok) return false;
        int64_t w = g->parts[p].w_ms;
        uint32_t i = 0;
        while (i < *n_wins && uw[i].w != w) i++;
        if (i == *n_wins) {
            UpWin *x = &uw[(*n_wins)++];
            memset(x, 0, sizeof *x);
            x->w = w;
            x->lo = w ? batch_end - w : INT64_MIN;
            if (w) {
                x->hop_ms = cn_agg_tail_hop_ms(w);
                x->hop_lo = cn_agg_floor(batch_end - w, x->hop_ms);
                x->split = batch_end - w + 2 * CN_AGG_MS_DAY;
            }
        }
        up[p].win = i;
    }
    return true;
}

static uint8_t *up_put64(uint8_t *o, uint64_t v) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    memcpy(o, &v, 8); /* one store: the byte loop was a fifth of the fold */
#else
    for (int i = 0; i < 8; i++) o[i] = (uint8_t)(v >> (8 * i));
#endif
    return o + 8;
}

/* One IR: header, presence, the state row of op. */
static uint8_t *up_put_ir(uint8_t *o, const UpPart *p, const UpCell *c) {
    memcpy(o, p->hdr, 3);
    o += 3;
    if (!c->n) {
        *o++ = 0;
        return o;
    }
    *o++ = 1;
    switch (p->op) { /* host-order state rows, as encode_body copies them */
    case UP_COUNT: memcpy(o, &c->n, 8); return o + 8;
    case UP_SUM: memcpy(o, &c->sum, 8); return o + 8;
    case UP_AVG: memcpy(o, &c->dsum, 8), memcpy(o + 8, &c->n, 8); return o + 16;
    case UP_MIN: memcpy(o, &c->mn, 8); return o + 8;
    case UP_MAX: memcpy(o, &c->mx, 8); return o + 8;
    }
    return o;
}

/* Appends key rank i's record to out (the chunk's buffer: no copy afterwards); *rec_len
 * 0 and nothing appended when the key has no row in reach. */
static int up_key(const UpFold *f, uint32_t i, UpCell *cells, uint32_t *n_cells, CnBuf *out, size_t *rec_len) {
    const UpRow *kr = f->rows + f->beg[i];
    uint32_t n = f->beg[i + 1] - f->beg[i];
    const CnEngGroupBy *g = f->g;
    *rec_len = 0;
    if (!n) return 0;
    size_t max_len = REC_HEADER;
    for (uint32_t wi = 0; wi < f->n_wins; wi++) {
        const UpWin *w = &f->uw[wi];
        UpCell *cs = cells + (size_t)wi * (n + 1);
        uint32_t nc = 1;
        cs[0] = (UpCell){-1, 0, 0, 0, INT64_MAX, INT64_MIN};
        for (uint32_t j = 0; j < n; j++) { /* source order: AVERAGE's double sum depends on it */
            int64_t t = kr[j].ts, v = kr[j].v;
            if (t < w->lo) continue;
            UpCell *c = cs;
            if (w->w && t < w->split) {
                /* hop_lo is a multiple of hop_ms at or below lo <= t, so this is
                 * (floor(t, hop) - hop_lo) / hop with one division */
                int64_t h = (int64_t)((uint64_t)(t - w->hop_lo) / (uint64_t)w->hop_ms);
                uint32_t k = 1;
                while (k < nc && cs[k].hop < h) k++;
                if (k == nc || cs[k].hop != h) {
                    memmove(cs + k + 1, cs + k, (nc - k) * sizeof *cs);
                    cs[k] = (UpCell){h, 0, 0, 0, INT64_MAX, INT64_MIN};
                    nc++;
                }
                c = &cs[k];
            }
            c->n++;
            c->sum += (uint64_t)v;
            c->dsum += (double)v;
            if (v < c->mn) c->mn = v;
            if (v > c->mx) c->mx = v;
        }
        n_cells[wi] = nc;
    }
    bool any = false;
    for (uint32_t p = 0; p < g->n_parts; p++) {
        uint32_t wi = f->up[p].win;
        any |= n_cells[wi] > 1 || cells[(size_t)wi * (n + 1)].n > 0;
        max_len += 4 + (size_t)n_cells[wi] * (8 + 3 + 1 + 16);
    }
    if (!any) return 0;
    if (cn_buf_reserve(out, max_len)) return CN_ENOMEM;
    uint8_t *o0 = (uint8_t *)out->data + out->len, *o = o0;
    memcpy(o, REC_MAGIC, 4);
    o[4] = REC_VERSION;
    o[5] = REC_TILES;
    o[6] = (uint8_t)g->n_parts, o[7] = (uint8_t)(g->n_parts >> 8);
    o = up_put64(o + 8, (uint64_t)f->batch_end);
    for (uint32_t p = 0; p < g->n_parts; p++) {
        const UpPart *pp = &f->up[p];
        const UpWin *w = &f->uw[pp->win];
        const UpCell *cs = cells + (size_t)pp->win * (n + 1);
        uint32_t nh = n_cells[pp->win] - 1;
        uint8_t nb[4] = {(uint8_t)nh, (uint8_t)(nh >> 8), (uint8_t)(nh >> 16), (uint8_t)(nh >> 24)};
        memcpy(o, nb, 4);
        o = up_put_ir(o + 4, pp, &cs[0]);
        for (uint32_t k = 1; k <= nh; k++) {
            o = up_put64(o, (uint64_t)(w->hop_lo + cs[k].hop * w->hop_ms));
            o = up_put_ir(o, pp, &cs[k]);
        }
    }
    *rec_len = (size_t)(o - o0);
    out->len += *rec_len;
    return 0;
}

/* Folds chunk c's keys into sl. */
static int up_chunk(const UpFold *f, uint32_t c, UpChunk *sl, UpCell *cells, uint32_t *n_cells) {
    uint32_t lo = c * UP_CHUNK, hi = lo + UP_CHUNK < f->n_ids ? lo + UP_CHUNK : f->n_ids;
    sl->recs.len = 0;
    const CnEngKeys *kk = &f->g->keys;
    for (uint32_t i = lo; i < hi; i++) {
        /* the keys are read in rank order, at random: their offsets 16 keys ahead, then
         * their bytes 8 ahead (offsets fetched by then) */
        if (i + 16 < hi) __builtin_prefetch(&kk->off[f->order[i + 16]]);
        if (i + 8 < hi) __builtin_prefetch(kk->bytes.data + kk->off[f->order[i + 8]]);
        const CnEngKeys *k = &f->g->keys;
        uint32_t id = f->order[i], kl = (uint32_t)(k->off[id + 1] - k->off[id]);
        /* the key, then the record encoded right after it; the key is taken back
         * when the key has no record */
        char kp = KEY_PREFIX;
        if (cn_buf_append(&sl->recs, &kp, 1) || cn_buf_append(&sl->recs, k->bytes.data + k->off[id], kl))
            return CN_ENOMEM;
        size_t rl = 0;
        int rc = up_key(f, i, cells, n_cells, &sl->recs, &rl);
        if (rc) return rc;
        if (!rl) sl->recs.len -= kl + 1;
        sl->len[2 * (i - lo)] = kl + 1;
        sl->len[2 * (i - lo) + 1] = (uint32_t)rl;
    }
    return 0;
}

typedef struct UpWorker {
    UpFold *f;
    uint32_t max_rows;
} UpWorker;

static void up_worker(void *ud, uint32_t t) {
    (void)t;
    UpWorker *wk = ud;
    UpFold *f = wk->f;
    UpCell *cells = cn_malloc((size_t)f->n_wins * (wk->max_rows + 1) * sizeof *cells);
    uint32_t *n_cells = cn_malloc(((size_t)f->n_wins + 1) * sizeof *n_cells);
    for (;;) {
        pthread_mutex_lock(&f->mu);
        while (!f->stop && f->next < f->n_chunks && f->next >= f->written + UP_SLOTS) {
            f->n_idle++;
            pthread_cond_wait(&f->cv, &f->mu);
            f->n_idle--;
        }
        if (f->stop || f->next >= f->n_chunks) {
            pthread_mutex_unlock(&f->mu);
            break;
        }
        uint32_t c = f->next++;
        pthread_mutex_unlock(&f->mu);
        UpChunk *sl = &f->slot[c % UP_SLOTS];
        int rc = cells && n_cells ? up_chunk(f, c, sl, cells, n_cells) : CN_ENOMEM;
        pthread_mutex_lock(&f->mu);
        sl->rc = rc;
        sl->ready = true;
        if (f->main_waits) pthread_cond_broadcast(&f->cv);
        pthread_mutex_unlock(&f->mu);
    }
    cn_free(cells);
    cn_free(n_cells);
}

/* Puts the rows in reach of some window in rank order, source order within a rank
 * (beg[i]: the first row of rank i in rows), in two passes as the key fold's: rows to
 * n_b ranges of 2^shift ranks in source order, then each range's rows to their ranks,
 * every write stream short enough to cache. Threads take equal row ranges in the first
 * pass (phase 0 counts, phase 1 scatters; thread t's rows of a range follow those of the
 * threads before it, so source order holds) and equal runs of ranges in the second
 * (phase 2, disjoint parts of beg and rows). */
typedef struct UpPrep {
    const CnEngGroupBy *g;
    const CnVec *val;
    const uint32_t *rank;
    int64_t lo, batch_end;
    int32_t day;
    uint32_t shift, n_b, n_t, phase;
    uint32_t *rk;         /* per row: its rank, UINT32_MAX when out of reach */
    uint32_t *cnt;        /* n_t x (n_b + 1): per thread and range, a count, then where its rows go */
    const uint32_t *bc;   /* where each range's rows begin in part and rows (n_b + 1) */
    UpPartRow *part;
    UpRow *rows;
    uint32_t *beg;        /* n_ids + 1, zeroed */
    uint32_t *max_rows;   /* per thread: most rows of a rank */
} UpPrep;

static void up_prep_pass(void *ud, uint32_t t) {
    UpPrep *p = ud;
    const CnEngGroupBy *g = p->g;
    uint32_t *c = p->cnt + (size_t)t * (p->n_b + 1);
    uint32_t r0 = (uint32_t)((uint64_t)g->n_rows * t / p->n_t), r1 = (uint32_t)((uint64_t)g->n_rows * (t + 1) / p->n_t);
    if (p->phase == 0) {
        for (uint32_t r = r0; r < r1; r++) {
            bool in = g->ts_ok[r] && g->ts[r] < p->batch_end && g->ts[r] >= p->lo &&
                      (!g->entities || g->pday[r] == p->day) && cn_col_vec_is_valid(p->val, r);
            p->rk[r] = in ? p->rank[g->key_id[r]] : UINT32_MAX;
            if (in) c[p->rk[r] >> p->shift]++;
        }
    } else if (p->phase == 1) {
        const int64_t *vals = p->val->values;
        for (uint32_t r = r0; r < r1; r++)
            if (p->rk[r] != UINT32_MAX) p->part[c[p->rk[r] >> p->shift]++] = (UpPartRow){g->ts[r], vals[r], p->rk[r]};
    } else {
        uint32_t b0 = (uint32_t)((uint64_t)p->n_b * t / p->n_t), b1 = (uint32_t)((uint64_t)p->n_b * (t + 1) / p->n_t);
        uint32_t n_ids = g->keys.n, mx = 0;
        uint32_t *beg = p->beg;
        for (uint32_t b = b0; b < b1; b++) {
            uint32_t lo = b << p->shift, hi = CN_MIN((uint64_t)(b + 1) << p->shift, n_ids);
            /* counts in beg[i + 1], then the starts there, then the scatter leaves
             * beg[i + 1] at rank i's end, which is rank i + 1's start */
            for (uint32_t i = p->bc[b]; i < p->bc[b + 1]; i++) beg[p->part[i].rank + 1]++;
            uint32_t run = p->bc[b];
            for (uint32_t i = lo; i < hi; i++) {
                uint32_t n = beg[i + 1];
                mx = CN_MAX(mx, n);
                beg[i + 1] = run;
                run += n;
            }
            for (uint32_t i = p->bc[b]; i < p->bc[b + 1]; i++)
                p->rows[beg[p->part[i].rank + 1]++] = (UpRow){p->part[i].ts, p->part[i].v};
        }
        p->max_rows[t] = mx;
    }
}

/* TEMPORAL records by the upload fold (see above), in key order. */
static int upload_fold(CnEngGroupBy *g, int32_t day, int64_t batch_end, const UpPart *up, const UpWin *uw,
                       uint32_t n_wins, UpLoad *ul, CnEngUploadStats *st, CnErr *err) {
    uint32_t n_ids = g->keys.n;
    uint32_t *order = cn_malloc(((size_t)n_ids + 1) * sizeof *order);
    uint32_t *rank = cn_malloc(((size_t)n_ids + 1) * sizeof *rank);
    uint32_t *beg = cn_calloc((size_t)n_ids + 2, sizeof *beg);
    UpRow *rows = NULL;
    UpPartRow *part = NULL;
    uint32_t *rk = NULL, *cnt = NULL, *most = NULL; /* the partition's per-thread counts and maxima */
    UpFold f;
    memset(&f, 0, sizeof f);
    CnPoolJob *job = NULL;
    bool sync = false;
    int rc = 0;
    double t0 = cn_clock_s(CLOCK_MONOTONIC), c0 = cn_clock_s(CLOCK_THREAD_CPUTIME_ID), t_wait = 0, t_load = 0, c_load = 0, t_sort = 0, t_hand = 0;
    if (!order || !rank || !beg) {
        rc = cn_err_set(err, CN_ENOMEM, "upload: out of memory");
        goto done;
    }
    rc = sort_key_ids(&g->keys, order, rank, err);
    if (rc) goto done;
    t_sort = cn_clock_s(CLOCK_MONOTONIC) - t0;
    /* the rows in reach of some window, by rank, in source order within a rank */
    int64_t lo = INT64_MAX;
    for (uint32_t wi = 0; wi < n_wins; wi++) lo = uw[wi].lo < lo ? uw[wi].lo : lo;
    uint32_t shift = 0;
    while ((n_ids >> shift) >= UP_BUCKETS) shift++;
    uint32_t n_b = (n_ids >> shift) + 1, bc[UP_BUCKETS + 2] = {0};
    /* a few threads once there are rows enough to pay for starting them (tens of
     * microseconds; the upload fold's tests run several on 6000 rows) */
    uint32_t n_t = g->n_rows < 4096 ? 1 : CN_MIN(cn_pool_threads(), 8u);
    UpPrep pp = {.g = g, .val = &g->rows->cols[g->bases[g->parts[0].i_base].i_input], .rank = rank, .lo = lo,
                 .batch_end = batch_end, .day = day, .shift = shift, .n_b = n_b, .n_t = n_t, .bc = bc, .beg = beg};
    uint32_t n_in = 0, max_rows = 0;
    rk = cn_malloc(((size_t)g->n_rows + 1) * sizeof *rk);
    pp.cnt = cnt = cn_calloc((size_t)n_t * (n_b + 1), sizeof *cnt);
    pp.max_rows = most = cn_calloc(n_t, sizeof *most);
    pp.rk = rk;
    if (!rk || !pp.cnt || !pp.max_rows) {
        rc = cn_err_set(err, CN_ENOMEM, "upload: out of memory");
        goto done;
    }
    cn_pool_run(n_t, up_prep_pass, &pp);
    /* bucket b's rows: thread 0's, then thread 1's, ...: source order */
    for (uint32_t b = 0; b < n_b; b++) {
        bc[b] = n_in;
        for (uint32_t t = 0; t < n_t; t++) {
            uint32_t c = pp.cnt[(size_t)t * (n_b + 1) + b];
            pp.cnt[(size_t)t * (n_b + 1) + b] = n_in;
            n_in += c;
        }
    }
    bc[n_b] = n_in;
    part = cn_malloc(((size_t)n_in + 1) * sizeof *part);
    rows = cn_malloc(((size_t)n_in + 1) * sizeof *rows);
    if (!part || !rows) {
        rc = cn_err_set(err, CN_ENOMEM, "upload: out of memory");
        goto done;
    }
    pp.part = part;
    pp.rows = rows;
    pp.phase = 1;
    cn_pool_run(n_t, up_prep_pass, &pp);
    pp.phase = 2;
    cn_pool_run(n_t, up_prep_pass, &pp);
    for (uint32_t t = 0; t < n_t; t++) max_rows = CN_MAX(max_rows, pp.max_rows[t]);
    f = (UpFold){.g = g, .up = up, .uw = uw, .n_wins = n_wins, .n_ids = n_ids,
                 .n_chunks = (n_ids + UP_CHUNK - 1) / UP_CHUNK, .order = order, .beg = beg, .rows = rows,
                 .batch_end = batch_end};
    for (uint32_t s = 0; s < UP_SLOTS; s++) {
        f.slot[s].len = cn_malloc(2 * UP_CHUNK * sizeof *f.slot[s].len);
        if (!f.slot[s].len) rc = cn_err_set(err, CN_ENOMEM, "upload: out of memory");
    }
    if (rc) goto done;
    pthread_mutex_init(&f.mu, NULL);
    pthread_cond_init(&f.cv, NULL);
    sync = true;
    UpWorker wk = {&f, max_rows};
    /* as many folding threads as cores, beside the calling thread that writes: one fewer
     * was measured slower on a loaded machine (a descheduled lone worker stalls the
     * writer) */
    uint32_t n_workers = cn_pool_threads();
    if (n_workers > 1 && f.n_chunks > 1) rc = cn_pool_start(n_workers, up_worker, &wk, &job, err);
    else n_workers = 0;
    UpCell *cells = NULL;
    uint32_t *n_cells = NULL;
    if (rc == 0 && !n_workers) {
        cells = cn_malloc((size_t)n_wins * (max_rows + 1) * sizeof *cells);
        n_cells = cn_malloc(((size_t)n_wins + 1) * sizeof *n_cells);
        if (!cells || !n_cells) rc = cn_err_set(err, CN_ENOMEM, "upload: out of memory");
    }
    CnKvLoad *ld = rc == 0 ? up_load_wait(ul, &rc, err) : NULL;
    double t_prep = cn_clock_s(CLOCK_MONOTONIC) - t0, c_prep = cn_clock_s(CLOCK_THREAD_CPUTIME_ID) - c0;
    for (uint32_t c = 0; c < f.n_chunks && rc == 0; c++) {
        UpChunk *sl = &f.slot[c % UP_SLOTS];
        double tw = cn_clock_s(CLOCK_MONOTONIC);
        if (n_workers) {
            pthread_mutex_lock(&f.mu);
            while (!sl->ready) {
                f.main_waits = true;
                pthread_cond_wait(&f.cv, &f.mu);
            }
            f.main_waits = false;
            pthread_mutex_unlock(&f.mu);
        } else {
            sl->rc = up_chunk(&f, c, sl, cells, n_cells);
        }
        if (sl->rc) {
            rc = cn_err_set(err, sl->rc, "upload: out of memory folding keys");
            break;
        }
        double tl = cn_clock_s(CLOCK_MONOTONIC), cl = cn_clock_s(CLOCK_THREAD_CPUTIME_ID);
        t_wait += tl - tw;
        const char *p = sl->recs.data;
        for (uint32_t i = c * UP_CHUNK, j = 0; i < n_ids && j < UP_CHUNK && rc == 0; i++, j++) {
            uint32_t kl = sl->len[2 * j], vl = sl->len[2 * j + 1];
            if (!vl) continue;
            rc = cn_kv_load_add(ld, p, kl, p + kl, vl, err);
            p += kl + vl;
            st->keys++;
        }
        double th = cn_clock_s(CLOCK_MONOTONIC);
        t_load += th - tl;
        c_load += cn_clock_s(CLOCK_THREAD_CPUTIME_ID) - cl;
        pthread_mutex_lock(&f.mu);
        sl->ready = false;
        f.written++;
        if (f.n_idle) pthread_cond_broadcast(&f.cv);
        pthread_mutex_unlock(&f.mu);
        /* handing the slot back wakes an idle worker; with more runnable threads than
         * cores the writer can lose its core here (docs/online-format.md) */
        t_hand += cn_clock_s(CLOCK_MONOTONIC) - th;
    }
    cn_free(cells);
    cn_free(n_cells);
    cn_log(CN_LOG_DEBUG,
           "upload fold: keys=%u rows=%u workers=%u sort=%.3fs sort_and_partition=%.3fs (caller CPU %.3fs) "
           "waiting=%.3fs loading=%.3fs (CPU %.3fs) handing_back=%.3fs",
           n_ids, n_in, n_workers, t_sort, t_prep, c_prep, t_wait, t_load, c_load, t_hand);
done:
    if (sync) {
        pthread_mutex_lock(&f.mu);
        f.stop = true;
        pthread_cond_broadcast(&f.cv);
        pthread_mutex_unlock(&f.mu);
        cn_pool_join(job);
        pthread_mutex_destroy(&f.mu);
        pthread_cond_destroy(&f.cv);
    }
    for (uint32_t s = 0; s < UP_SLOTS; s++) {
        cn_buf_fini(&f.slot[s].recs);
        cn_free(f.slot[s].len);
    }
    cn_free(order);
    cn_free(rank);
    cn_free(beg);
    cn_free(rows);
    cn_free(part);
    cn_free(rk);
    cn_free(cnt);
    cn_free(most);
    return rc;
}

/* TEMPORAL: one record per key with its collapsed IRs and tail hops, in key order. */
static int upload_tiles(CnEngGroupBy *g, int32_t day, int64_t batch_end, UpLoad *ul, CnEngUploadStats *st,
                        CnErr *err) {
    uint32_t n_ids = g->keys.n;
    uint32_t *start = cn_calloc((size_t)n_ids + 2, sizeof *start);
    uint32_t *fill = cn_calloc((size_t)n_ids + 1, sizeof *fill);
    uint32_t *byk = cn_malloc(((size_t)g->n_rows + 1) * sizeof *byk);
    uint32_t *kid = cn_calloc((size_t)g->n_rows + 1, sizeof *kid);
    uint32_t *sel_c = cn_malloc(((size_t)g->n_rows + 1) * sizeof *sel_c);
    uint32_t *sel_h = cn_malloc(((size_t)g->n_rows + 1) * sizeof *sel_h);
    uint64_t *valid = cn_calloc(((size_t)g->n_rows + 63) / 64 + 1, sizeof *valid);
    uint32_t *order = cn_malloc(((size_t)n_ids + 1) * sizeof *order);
    PartScratch *ps = cn_calloc((size_t)g->n_parts + 1, sizeof *ps);
    CnBuf rec = CN_BUF_INIT, key = CN_BUF_INIT;
    int rc = 0;
    if (!start || !fill || !byk || !kid || !sel_c || !sel_h || !valid || !order || !ps) {
        rc = cn_err_set(err, CN_ENOMEM, "upload: out of memory");
        goto done;
    }
    {
        UpPart *up = cn_calloc(g->n_parts, sizeof *up);
        UpWin *uw = cn_calloc(g->n_parts, sizeof *uw);
        uint32_t n_wins = 0;
        bool fold = up && uw && up_plan(g, batch_end, up, uw, &n_wins, err, &rc);
        if (fold) rc = upload_fold(g, day, batch_end, up, uw, n_wins, ul, st, err);
        st->batch_path = fold;
        cn_free(up);
        cn_free(uw);
        if (fold || rc) goto done;
    }
    CnKvLoad *ld = up_load_wait(ul, &rc, err);
    if (rc == 0) rc = sort_key_ids(&g->keys, order, NULL, err);
    if (rc) goto done;
    for (uint32_t r = 0; r < g->n_rows; r++) start[g->key_id[r] + 1]++;
    for (uint32_t i = 0; i < n_ids; i++) start[i + 1] += start[i];
    for (uint32_t r = 0; r < g->n_rows; r++) byk[start[g->key_id[r]] + fill[g->key_id[r]]++] = r;
    CnVec tsv;
    memset(&tsv, 0, sizeof tsv);
    tsv.type = cn_col_type_prim(CN_COL_INT64);
    tsv.n = g->n_rows;
    tsv.values = g->ts;
    for (uint32_t r = 0; r < g->n_rows; r++)
        if (g->ts_ok[r]) valid[r >> 6] |= UINT64_C(1) << (r & 63);
        else tsv.n_null++;
    tsv.valid = valid;
    for (uint32_t p = 0; p < g->n_parts && rc == 0; p++) {
        const CnAggSpec *spec = g->bases[g->parts[p].i_base].spec;
        int64_t w = g->parts[p].w_ms;
        rc = cn_agg_state_new(spec, &ps[p].coll, err);
        if (rc == 0) rc = cn_agg_state_reserve(ps[p].coll, 1, err);
        if (rc || !w) continue;
        ps[p].hop_ms = cn_agg_tail_hop_ms(w);
        ps[p].hop_lo = cn_agg_floor(batch_end - w, ps[p].hop_ms);
        ps[p].split = batch_end - w + 2 * CN_AGG_MS_DAY;
        ps[p].n_hops = (uint32_t)((ps[p].split - ps[p].hop_lo) / ps[p].hop_ms + 2);
        rc = cn_agg_state_new(spec, &ps[p].hops, err);
        if (rc == 0) rc = cn_agg_state_reserve(ps[p].hops, ps[p].n_hops, err);
        ps[p].mark = cn_calloc(ps[p].n_hops, sizeof *ps[p].mark);
        ps[p].touched = cn_malloc((size_t)ps[p].n_hops * sizeof *ps[p].touched);
        if (rc == 0 && (!ps[p].mark || !ps[p].touched)) rc = cn_err_set(err, CN_ENOMEM, "upload: out of memory");
    }
    for (uint32_t oi = 0; oi < n_ids && rc == 0; oi++) {
        uint32_t id = order[oi];
        cn_buf_reset(&rec);
        put_header(&rec, REC_TILES, g->n_parts, batch_end);
        bool any = false;
        for (uint32_t p = 0; p < g->n_parts && rc == 0; p++) {
            PartScratch *s = &ps[p];
            const CnEngBase *b = &g->bases[g->parts[p].i_base];
            int64_t w = g->parts[p].w_ms;
            uint32_t nc = 0, nh = 0;
            s->n_touched = 0;
            for (uint32_t i = start[id]; i < start[id + 1]; i++) {
                uint32_t r = byk[i];
                if (!g->ts_ok[r] || g->ts[r] >= batch_end) continue;
                if (g->entities && g->pday[r] != day) continue; /* entities: partition D only */
                if (w && g->ts[r] < batch_end - w) continue;
                if (!w || g->ts[r] >= s->split) {
                    kid[r] = 0;
                    sel_c[nc++] = r;
                } else {
                    uint32_t h = (uint32_t)((cn_agg_floor(g->ts[r], s->hop_ms) - s->hop_lo) / s->hop_ms);
                    kid[r] = h;
                    sel_h[nh++] = r;
                    if (s->mark[h] != id + 1) {
                        s->mark[h] = id + 1;
                        s->touched[s->n_touched++] = h;
                    }
                }
            }
            const CnVec *in = &g->rows->cols[b->i_input];
            const CnVec *bk = b->i_bucket >= 0 ? &g->rows->cols[b->i_bucket] : NULL;
            cn_agg_state_clear(s->coll, 0);
            if (nc) rc = cn_agg_state_update(s->coll, kid, sel_c, nc, in, &tsv, bk, err);
            /* hops are clear here: the previous key cleared the ones it touched */
            if (rc == 0 && nh) rc = cn_agg_state_update(s->hops, kid, sel_h, nh, in, &tsv, bk, err);
            if (rc) break;
            if (s->n_touched > 1) qsort(s->touched, s->n_touched, sizeof *s->touched, cmp_u32);
            uint32_t n_present = 0;
            for (uint32_t t = 0; t < s->n_touched; t++) n_present += cn_agg_state_present(s->hops, s->touched[t]);
            any |= n_present > 0 || cn_agg_state_present(s->coll, 0);
            put_u32(&rec, n_present);
            rc = cn_agg_state_encode(s->coll, 0, &rec, err);
            for (uint32_t t = 0; rc == 0 && t < s->n_touched; t++) {
                uint32_t h = s->touched[t];
                if (!cn_agg_state_present(s->hops, h)) continue;
                put_i64(&rec, s->hop_lo + (int64_t)h * s->hop_ms);
                rc = cn_agg_state_encode(s->hops, h, &rec, err);
            }
            for (uint32_t t = 0; t < s->n_touched; t++) cn_agg_state_clear(s->hops, s->touched[t]);
        }
        if (rc || !any) continue; /* a key without rows in reach has no record: fetch gives nulls */
        if (rec.oom) {
            rc = cn_err_set(err, CN_ENOMEM, "upload: out of memory");
            break;
        }
        cn_buf_reset(&key);
        cn_buf_putc(&key, KEY_PREFIX);
        cn_buf_append(&key, g->keys.bytes.data + g->keys.off[id], g->keys.off[id + 1] - g->keys.off[id]);
        rc = cn_kv_load_add(ld, key.data, key.len, rec.data, rec.len, err);
        st->keys++;
    }
done:
    for (uint32_t p = 0; ps && p < g->n_parts; p++) {
        cn_agg_state_free(ps[p].coll);
        cn_agg_state_free(ps[p].hops);
        cn_free(ps[p].mark);
        cn_free(ps[p].touched);
    }
    cn_free(ps);
    cn_free(start);
    cn_free(fill);
    cn_free(byk);
    cn_free(kid);
    cn_free(sel_c);
    cn_free(sel_h);
    cn_free(valid);
    cn_free(order);
    cn_buf_fini(&rec);
    cn_buf_fini(&key);
    return rc;
}

/* SNAPSHOT and no-aggregation GroupBys: the backfill's row of day D, finalized. */
static int upload_values(CnEngGroupBy *g, const char *ds, int64_t batch_end, UpLoad *ul, CnEngUploadStats *st,
                         CnErr *err) {
    CnSchema *sch = NULL;
    CnBatch *b = NULL;
    CnBuf rec = CN_BUF_INIT, key = CN_BUF_INIT;
    int kc[64];
    int rc = 0;
    if (g->n_keys > 64) return cn_err_set(err, CN_EUNSUPPORTED, "upload: more than 64 key columns");
    CnKvLoad *ld = up_load_wait(ul, &rc, err);
    if (rc) return rc;
    rc = cn_col_schema_new(&sch);
    if (rc) return cn_err_set(err, CN_ENOMEM, "upload: out of memory");
    const CnSchema *parts[2] = {g->key_schema, g->value_schema};
    for (int k = 0; k < 2 && rc == 0; k++)
        for (uint32_t i = 0; i < parts[k]->n_fields && rc == 0; i++)
            rc = cn_col_schema_add(sch, parts[k]->fields[i].name, cn_col_type_copy(&sch->arena, parts[k]->fields[i].type),
                                   true, CN_COL_NO_ID, err);
    if (rc == 0) rc = cn_col_batch_new(sch, &b, err);
    if (rc == 0) rc = cn_eng_gb_snapshot(g, ds, b, err);
    for (uint32_t k = 0; k < g->n_keys; k++) kc[k] = (int)k;
    for (uint32_t r = 0; rc == 0 && b && r < b->n_rows; r++) {
        cn_buf_reset(&key);
        cn_buf_putc(&key, KEY_PREFIX);
        CnBuf kb = CN_BUF_INIT;
        bool any = cn_eng__key_encode(b, kc, g->n_keys, r, &kb);
        cn_buf_append(&key, kb.data, kb.len);
        cn_buf_fini(&kb);
        if (!any) continue;
        cn_buf_reset(&rec);
        put_header(&rec, REC_VALUES, g->value_schema->n_fields, batch_end);
        for (uint32_t c = 0; c < g->value_schema->n_fields; c++) {
            json_t *v = cn_eng_vec_json(&b->cols[g->n_keys + c], r);
            char *txt = v ? json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY | JSON_REAL_PRECISION(17)) : NULL;
            json_decref(v);
            if (!txt) {
                rc = cn_err_set(err, CN_ENOMEM, "upload: out of memory");
                break;
            }
            put_u32(&rec, (uint32_t)strlen(txt));
            cn_buf_puts(&rec, txt);
            cn_free_libc(txt); /* jansson's allocation */
        }
        if (rc == 0 && (rec.oom || key.oom)) rc = cn_err_set(err, CN_ENOMEM, "upload: out of memory");
        if (rc == 0) rc = cn_kv_load_add(ld, key.data, key.len, rec.data, rec.len, err);
        st->keys++;
    }
    cn_col_batch_free(b);
    cn_col_schema_free(sch);
    cn_buf_fini(&rec);
    cn_buf_fini(&key);
    return rc;
}

int cn_eng_upload(CnIceCatalog *cat, CnKv *kv, const CnGroupBy *gb, const char *conf_json, const char *ds,
                  const CnEngOpts *opts, CnEngUploadStats *stats, CnErr *err) {
    CnEngGroupBy *g = NULL;
    CnKvLoad *ld = NULL;
    UpLoad ul = {.kv = kv};
    CnArena a;
    CnBuf info = CN_BUF_INIT;
    CnEngUploadStats st;
    memset(&st, 0, sizeof st);
    cn_arena_init(&a, 0);
    int64_t day64;
    int rc = 0;
    if (cn_ds_parse(ds, &day64)) {
        rc = cn_err_set(err, CN_EINVAL, "--ds: invalid date '%s' (expected YYYY-MM-DD)", ds);
        goto done;
    }
    int32_t day = (int32_t)day64;
    int64_t batch_end = (day64 + 1) * CN_MS_PER_DAY;
    st.batch_end_ms = batch_end;
    /* events are read from the first partition the served values read (D29,
     * docs/joins.md): day+1 - 1d - maxWindow for TEMPORAL, day - 1d - maxWindow for
     * SNAPSHOT, as Chronon's upload scans; all history for a cumulative source */
    bool ev = gb->n_sources && cn_conf_source_model(&gb->sources[0]) == CN_CONF_EVENTS;
    for (size_t i = 0; i < gb->n_sources; i++) ev = ev && gb->sources[i].is_cumulative != 1;
    int32_t lo = ev ? cn_eng__value_scan_lo(gb, cn_conf_groupby_accuracy(gb) == CN_CONF_TEMPORAL ? day + 1 : day)
                    : INT32_MIN;
    char lo_ds[11];
    if (lo != INT32_MIN) cn_ds_format(lo, lo_ds);
    bool tiles = gb->has_aggregations && cn_conf_groupby_accuracy(gb) == CN_CONF_TEMPORAL;
    /* a TEMPORAL upload only sorts and folds the keys it loads, never looks one up: the
     * loader builds no hash slots for them */
    CnEngOpts o;
    memset(&o, 0, sizeof o);
    if (opts) o = *opts;
    o.keys_unindexed = tiles;
    double t0 = cn_clock_s(CLOCK_MONOTONIC), c0 = cn_clock_s(CLOCK_THREAD_CPUTIME_ID);
    rc = cn_eng_gb_open(cat, gb, lo != INT32_MIN ? lo_ds : NULL, ds, &o, &g, err);
    if (rc) goto done;
    double t1 = cn_clock_s(CLOCK_MONOTONIC), c1 = cn_clock_s(CLOCK_THREAD_CPUTIME_ID);
    if (!cn_eng__has_day(g, day)) {
        CnBuf tabs = CN_BUF_INIT;
        for (size_t i = 0; i < gb->n_sources; i++)
            cn_buf_printf(&tabs, "%s%s", i ? ", " : "", cn_conf_source_table(&a, &gb->sources[i]));
        char last[11] = "none";
        if (g->n_src_days) cn_ds_format(g->src_days[g->n_src_days - 1], last);
        rc = cn_err_set(err, CN_ENOTFOUND,
                        "upload of GroupBy %s for %s: no source partition ds=%s in %s (latest partition up to %s: %s); "
                        "load the day's data and run the backfill first",
                        gb->meta.name, ds, ds, tabs.data ? tabs.data : "?", ds, last);
        cn_buf_fini(&tabs);
        goto done;
    }
    char *dataset = cn_conf_batch_dataset(&a, &gb->meta);
    if (!dataset) {
        rc = cn_err_set(err, CN_ENOMEM, "out of memory");
        goto done;
    }
    /* records come in key order (tiles) and are written as they come: no load buffer,
     * and the writes overlap the fold's worker threads */
    ul.dataset = dataset;
    ul.flags = tiles ? CN_KV_LOAD_STREAM : 0;
    rc = up_load_start(&ul, err);
    if (rc == 0) rc = tiles ? upload_tiles(g, day, batch_end, &ul, &st, err) : upload_values(g, ds, batch_end, &ul, &st, err);
    if (rc == 0) ld = up_load_wait(&ul, &rc, err);
    if (rc == 0) st.streamed = cn_kv_load_streaming(ld);
    if (rc == 0) rc = serving_info(g, conf_json, ds, batch_end, tiles ? REC_TILES : REC_VALUES, &info, err);
    if (rc == 0)
        rc = cn_kv_load_add(ld, CN_KV_SERVING_INFO_KEY, strlen(CN_KV_SERVING_INFO_KEY), info.data, info.len, err);
    if (rc == 0) {
        double t2 = cn_clock_s(CLOCK_MONOTONIC), c2 = cn_clock_s(CLOCK_THREAD_CPUTIME_ID);
        rc = cn_kv_load_commit(ld, &st.version, err);
        ul.ld = NULL;
        double t3 = cn_clock_s(CLOCK_MONOTONIC), c3 = cn_clock_s(CLOCK_THREAD_CPUTIME_ID);
        cn_log(CN_LOG_DEBUG,
               "upload %s: keys=%lld read=%.3fs records=%.3fs commit=%.3fs (calling thread CPU %.3fs %.3fs %.3fs) "
               "load_begin=%.3fs (waited for %.3fs)",
               gb->meta.name, (long long)st.keys, t1 - t0, t2 - t1, t3 - t2, c1 - c0, c2 - c1, c3 - c2, ul.t_begin,
               ul.t_wait);
    }
done:
    cn_pool_join(ul.job); /* a begin still running when the upload failed */
    cn_kv_load_abort(ul.ld);
    cn_eng_gb_free(g);
    cn_buf_fini(&info);
    cn_arena_fini(&a);
    if (stats) *stats = st;
    return rc;
}

/* ------------------------------------------------------------------ serving */

struct CnEngServing {
    CnArena arena;
    char *dataset;
    char end_ds[11];
    int64_t batch_end;
    int kind;
    CnConf *conf;
    CnSchema *key_schema, *value_schema;
    uint32_t n_parts;
    int64_t *w_ms;
    CnAggState **st;  /* per part: id 0 result, id 1 scratch */
    CnBatch *fin;     /* value schema, one row */
    int kc[64];
};

void cn_eng_serving_free(CnEngServing *s) {
    if (!s) return;
    for (uint32_t p = 0; s->st && p < s->n_parts; p++) cn_agg_state_free(s->st[p]);
    cn_col_batch_free(s->fin);
    cn_col_schema_free(s->key_schema);
    cn_col_schema_free(s->value_schema);
    cn_conf_free(s->conf);
    cn_arena_fini(&s->arena);
    cn_free(s);
}

static int schema_of(CnArena *a, json_t *arr, const char *what, CnSchema **out, CnErr *err) {
    int rc = cn_col_schema_new(out);
    if (rc) return cn_err_set(err, CN_ENOMEM, "out of memory");
    if (!json_is_array(arr)) return cn_err_set(err, CN_ECORRUPT, "serving info: %s is not an array", what);
    for (size_t i = 0; i < json_array_size(arr) && rc == 0; i++) {
        json_t *f = json_array_get(arr, i);
        const char *name = json_string_value(json_object_get(f, "name"));
        const char *type = json_string_value(json_object_get(f, "type"));
        const CnType *t = NULL;
        if (!name || !type) return cn_err_set(err, CN_ECORRUPT, "serving info: %s[%zu] lacks name or type", what, i);
        rc = cn_col_type_parse(a, type, &t, err);
        if (rc == 0) rc = cn_col_schema_add(*out, name, cn_col_type_copy(&(*out)->arena, t), true, CN_COL_NO_ID, err);
    }
    return rc;
}

int cn_eng_serving_load(CnKv *kv, const char *group_by_name, CnEngServing **out, CnErr *err) {
    *out = NULL;
    CnEngServing *s = cn_calloc(1, sizeof *s);
    if (!s) return cn_err_set(err, CN_ENOMEM, "out of memory");
    cn_arena_init(&s->arena, 0);
    json_t *info = NULL;
    CnAggPart *parts = NULL;
    size_t n_parts = 0;
    int rc = 0;
    s->dataset = cn_kv_dataset_name(&s->arena, group_by_name, CN_KV_BATCH_SUFFIX);
    if (!s->dataset) {
        rc = cn_err_set(err, CN_ENOMEM, "out of memory");
        goto done;
    }
    CnKvSlice v = {NULL, 0};
    rc = cn_kv_get(kv, s->dataset, CN_KV_SERVING_INFO_KEY, strlen(CN_KV_SERVING_INFO_KEY), &v, &s->arena, err);
    if (rc == CN_ENOTFOUND || (rc == 0 && !v.data)) {
        cn_err_clear(err);
        rc = cn_err_set(err, CN_ENOTFOUND,
                        "GroupBy %s has no batch data in the online store %s (dataset %s); run --mode upload first",
                        group_by_name, cn_kv_uri(kv), s->dataset);
        goto done;
    }
    if (rc) goto done;
    json_error_t je;
    info = json_loadb((const char *)v.data, v.len, 0, &je);
    if (!info || json_integer_value(json_object_get(info, "format")) != INFO_FORMAT) {
        rc = cn_err_set(err, CN_ECORRUPT, "%s/%s: not a serving info of format %d%s%s", s->dataset,
                        CN_KV_SERVING_INFO_KEY, INFO_FORMAT, info ? "" : ": ", info ? "" : je.text);
        goto done;
    }
    const char *end_ds = json_string_value(json_object_get(info, "endDs"));
    const char *rec = json_string_value(json_object_get(info, "record"));
    s->batch_end = (int64_t)json_integer_value(json_object_get(info, "batchEndMillis"));
    if (!end_ds || !rec) {
        rc = cn_err_set(err, CN_ECORRUPT, "%s/%s: endDs or record missing", s->dataset, CN_KV_SERVING_INFO_KEY);
        goto done;
    }
    snprintf(s->end_ds, sizeof s->end_ds, "%s", end_ds);
    s->kind = !strcmp(rec, "tiles") ? REC_TILES : REC_VALUES;
    rc = schema_of(&s->arena, json_object_get(info, "keySchema"), "keySchema", &s->key_schema, err);
    if (rc == 0) rc = schema_of(&s->arena, json_object_get(info, "valueSchema"), "valueSchema", &s->value_schema, err);
    if (rc) goto done;
    if (s->key_schema->n_fields > 64 || !s->key_schema->n_fields) {
        rc = cn_err_set(err, CN_ECORRUPT, "%s: %u key columns", s->dataset, s->key_schema->n_fields);
        goto done;
    }
    for (uint32_t k = 0; k < s->key_schema->n_fields; k++) s->kc[k] = (int)k;
    rc = cn_col_batch_new(s->value_schema, &s->fin, err);
    if (rc || s->kind != REC_TILES) goto done;
    /* tiles: the parts' IR specs, from the stored conf and input types */
    char *ctext = json_dumps(json_object_get(info, "conf"), JSON_COMPACT);
    if (!ctext) {
        rc = cn_err_set(err, CN_ECORRUPT, "%s/%s: conf missing", s->dataset, CN_KV_SERVING_INFO_KEY);
        goto done;
    }
    char *cname = cn_arena_printf(&s->arena, "%s/%s conf", s->dataset, CN_KV_SERVING_INFO_KEY);
    rc = cn_conf_loadb(cname, ctext, strlen(ctext), CN_CONF_GROUP_BY, &s->conf, err);
    cn_free_libc(ctext); /* jansson's allocation */
    if (rc == 0) rc = cn_conf_groupby_agg_parts(&s->arena, s->conf->group_by, &parts, &n_parts, err);
    if (rc) goto done;
    json_t *jp = json_object_get(info, "parts");
    if (json_array_size(jp) != n_parts || n_parts != s->value_schema->n_fields) {
        rc = cn_err_set(err, CN_ECORRUPT, "%s/%s: %zu parts stored, the conf has %zu", s->dataset,
                        CN_KV_SERVING_INFO_KEY, json_array_size(jp), n_parts);
        goto done;
    }
    s->n_parts = (uint32_t)n_parts;
    s->w_ms = cn_arena_calloc(&s->arena, (n_parts + 1) * sizeof *s->w_ms);
    s->st = cn_arena_calloc(&s->arena, (n_parts + 1) * sizeof *s->st);
    if (!s->w_ms || !s->st) {
        rc = cn_err_set(err, CN_ENOMEM, "out of memory");
        goto done;
    }
    for (size_t p = 0; p < n_parts && rc == 0; p++) {
        json_t *o = json_array_get(jp, p);
        const char *it = json_string_value(json_object_get(o, "inputType"));
        const CnType *t = NULL;
        s->w_ms[p] = (int64_t)json_integer_value(json_object_get(o, "windowMs"));
        if (!it) {
            rc = cn_err_set(err, CN_ECORRUPT, "%s: parts[%zu] lacks inputType", s->dataset, p);
            break;
        }
        rc = cn_col_type_parse(&s->arena, it, &t, err);
        const CnAggregation *ag = parts[p].agg;
        CnAggDef def = {(CnAggOp)ag->op, ag->input_column, ag->arg_map.keys, ag->arg_map.vals,
                        (uint32_t)ag->arg_map.n, ag->element_wise == 1, parts[p].bucket != NULL};
        const CnAggSpec *spec = NULL;
        if (rc == 0) rc = cn_agg_spec_new(&s->arena, &def, t, &spec, err);
        if (rc == 0) rc = cn_agg_state_new(spec, &s->st[p], err);
        if (rc == 0) rc = cn_agg_state_reserve(s->st[p], 2, err);
    }
done:
    json_decref(info);
    if (rc) {
        cn_eng_serving_free(s);
        return rc;
    }
    *out = s;
    return 0;
}

const CnSchema *cn_eng_serving_key_schema(const CnEngServing *s) { return s->key_schema; }
const CnSchema *cn_eng_serving_value_schema(const CnEngServing *s) { return s->value_schema; }
const char *cn_eng_serving_dataset(const CnEngServing *s) { return s->dataset; }
const char *cn_eng_serving_end_ds(const CnEngServing *s) { return s->end_ds; }
int64_t cn_eng_serving_batch_end(const CnEngServing *s) { return s->batch_end; }

int64_t cn_eng_serving_exact_until(const CnEngServing *s) {
    for (uint32_t p = 0; s->kind == REC_TILES && p < s->n_parts; p++)
        if (s->w_ms[p] > 2 * CN_AGG_MS_DAY) return s->batch_end + 2 * CN_AGG_MS_DAY;
    return INT64_MAX;
}

bool cn_eng_serving_key(const CnEngServing *s, const CnBatch *keys, uint32_t r, CnBuf *out) {
    CnBuf kb = CN_BUF_INIT;
    bool any = cn_eng__key_encode(keys, s->kc, s->key_schema->n_fields, r, &kb);
    cn_buf_reset(out);
    cn_buf_putc(out, KEY_PREFIX);
    cn_buf_append(out, kb.data, kb.len);
    cn_buf_fini(&kb);
    return any;
}

static void all_null(const CnEngServing *s, json_t *obj) {
    for (uint32_t c = 0; c < s->value_schema->n_fields; c++)
        json_object_set_new(obj, s->value_schema->fields[c].name, json_null());
}

/* The finalized values of a tiles record at q into s->fin (one row): *row = NULL
 * when q is before the batch end (no value yet: compute.md 8.3 step 1). */
static int tiles_row(CnEngServing *s, const uint8_t *p, size_t len, int64_t q, int64_t batch_end, const CnBatch **row,
                     CnErr *err) {
    *row = NULL;
    if (q < batch_end) return 0;
    uint32_t n_cols = s->value_schema->n_fields;
    size_t off = REC_HEADER;
    cn_col_batch_reset(s->fin);
    int rc = 0;
    for (uint32_t c = 0; c < n_cols && rc == 0; c++) {
        CnAggState *st = s->st[c];
        int64_t w = s->w_ms[c];
        int64_t lo = w ? cn_agg_temporal_start(q, w) : INT64_MIN;
        size_t used = 0;
        if (off + 4 > len) return cn_err_set(err, CN_ECORRUPT, "%s: tiles record cut short at part %u", s->dataset, c);
        uint32_t n_hops = get_u32(p + off);
        off += 4;
        rc = cn_agg_state_decode(st, 0, p + off, len - off, &used, err);
        off += used;
        for (uint32_t h = 0; h < n_hops && rc == 0; h++) {
            if (off + 8 > len) return cn_err_set(err, CN_ECORRUPT, "%s: tiles record cut short at part %u", s->dataset, c);
            int64_t hop = get_i64(p + off);
            off += 8;
            rc = cn_agg_state_decode(st, 1, p + off, len - off, &used, err);
            off += used;
            if (rc == 0 && hop >= lo) rc = cn_agg_state_merge(st, 0, st, 1, err);
        }
        uint32_t zero = 0;
        if (rc == 0) rc = cn_agg_state_finalize(st, &zero, 1, &s->fin->cols[c], err);
    }
    if (rc == 0) rc = cn_col_batch_sync_rows(s->fin, err);
    if (rc) return cn_err_ctx(err, rc, "%s", s->dataset);
    *row = s->fin;
    return 0;
}

static int check_header(const CnEngServing *s, const uint8_t *p, size_t len, CnErr *err) {
    uint32_t n_cols = s->value_schema->n_fields;
    if (len < REC_HEADER || memcmp(p, REC_MAGIC, 4) || p[4] != REC_VERSION || p[5] != s->kind ||
        (uint32_t)(p[6] | p[7] << 8) != n_cols)
        return cn_err_set(err, CN_ECORRUPT,
                          "%s: record of %zu bytes is not a version-%d %s record with %u columns (docs/online-format.md)",
                          s->dataset, len, REC_VERSION, s->kind == REC_TILES ? "tiles" : "values", n_cols);
    return 0;
}

/* Column c's JSON text of a values record at *off (advanced past it). */
static int value_text(const CnEngServing *s, const uint8_t *p, size_t len, size_t *off, uint32_t c, const char **text,
                      uint32_t *text_len, CnErr *err) {
    if (*off + 4 > len || *off + 4 + get_u32(p + *off) > len)
        return cn_err_set(err, CN_ECORRUPT, "%s: values record cut short at column %u", s->dataset, c);
    *text_len = get_u32(p + *off);
    *text = (const char *)p + *off + 4;
    *off += 4 + *text_len;
    return 0;
}

int cn_eng_serving_values(CnEngServing *s, const uint8_t *p, size_t len, int64_t q, json_t *obj, CnErr *err) {
    if (!p) {
        all_null(s, obj);
        return 0;
    }
    uint32_t n_cols = s->value_schema->n_fields;
    int hrc = check_header(s, p, len, err);
    if (hrc) return hrc;
    size_t off = REC_HEADER;
    int64_t batch_end = get_i64(p + 8);
    if (s->kind == REC_VALUES) {
        for (uint32_t c = 0; c < n_cols; c++) {
            const char *t = NULL;
            uint32_t n = 0;
            if ((hrc = value_text(s, p, len, &off, c, &t, &n, err)) != 0) return hrc;
            json_error_t je;
            json_t *v = json_loadb(t, n, JSON_DECODE_ANY, &je);
            if (!v) return cn_err_set(err, CN_ECORRUPT, "%s: column %u: %s", s->dataset, c, je.text);
            json_object_set_new(obj, s->value_schema->fields[c].name, v);
        }
        return 0;
    }
    const CnBatch *row = NULL;
    int rc = tiles_row(s, p, len, q, batch_end, &row, err);
    if (rc) return rc;
    if (!row) {
        all_null(s, obj);
        return 0;
    }
    for (uint32_t c = 0; c < n_cols; c++) {
        json_t *v = cn_eng_vec_json(&row->cols[c], 0);
        if (!v) return cn_err_set(err, CN_ENOMEM, "out of memory");
        json_object_set_new(obj, s->value_schema->fields[c].name, v);
    }
    return 0;
}

bool cn_eng_serving_is_values(const CnEngServing *s) { return s->kind == REC_VALUES; }

int cn_eng_serving_texts(CnEngServing *s, const uint8_t *p, size_t len, const char **text, uint32_t *text_len,
                         CnErr *err) {
    if (s->kind != REC_VALUES) return cn_err_set(err, CN_EUNSUPPORTED, "%s: a tiles record has no texts", s->dataset);
    int rc = check_header(s, p, len, err);
    if (rc) return rc;
    size_t off = REC_HEADER;
    for (uint32_t c = 0; c < s->value_schema->n_fields; c++)
        if ((rc = value_text(s, p, len, &off, c, &text[c], &text_len[c], err)) != 0) return rc;
    return 0;
}

int cn_eng_serving_row(CnEngServing *s, const uint8_t *p, size_t len, int64_t q, const CnBatch **row, CnErr *err) {
    *row = NULL;
    if (s->kind != REC_TILES) return cn_err_set(err, CN_EUNSUPPORTED, "%s: a values record has no typed row", s->dataset);
    if (!p) return 0;
    int rc = check_header(s, p, len, err);
    return rc ? rc : tiles_row(s, p, len, q, get_i64(p + 8), row, err);
}

