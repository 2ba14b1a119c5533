/* writer.c: Parquet writer (see pq.h). Rows are buffered in a batch until a row group
 * is full; then each leaf column is turned into levels plus its dense non-null values,
 * dictionary-encoded through an open-addressing hash table when that is smaller than
 * PLAIN, cut into pages, compressed and appended to a temporary file, each megabyte's
 * writeback started as it goes. finish() writes the footer, fsyncs (or leaves that to a
 * caller that asked, defer_sync) and renames, so readers never see a partial file. */
#include "base/compat.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <zstd.h>

#include "base/alloc.h"
#include "base/fs.h"
#include "base/arena.h"
#include "base/hash.h"
#include "base/pool.h"
#include "io/parquet/pq_int.h"

/* FLAT, LIST, KEY and VALUE are the one-level shapes with their own fast loops; DEEP is
 * any leaf under two or more list/map levels, walked generically. */
enum { ROLE_FLAT, ROLE_LIST, ROLE_KEY, ROLE_VALUE, ROLE_DEEP };

typedef struct WLeaf {
    const char **names;     /* path in the file schema */
    uint32_t n_names;
    uint32_t i_field;
    int role;
    int physical;
    const CnType *vtype;    /* value type */
    int16_t max_def, max_rep, list_def;
    int32_t field_id;
    const char *path;
    /* the list/map nodes from the top-level vector down to the leaf vector */
    uint8_t depth;                           /* nodes above the leaf */
    uint8_t child[CN_PQ__MAX_DEPTH];         /* child vector taken below node k */
    bool nullable[CN_PQ__MAX_DEPTH + 1];     /* entries of node k may be null (k == depth: leaf) */
} WLeaf;

/* Longest min/max kept in statistics: longer values would bloat the footer. */
#define STAT_MAX 256

typedef struct Grow {
    void *p;
    size_t cap;
} Grow;

/* What one encoding thread reuses from chunk to chunk: levels, dense values, the
 * dictionary's table and ids, and the page being built and compressed. */
typedef struct WScratch {
    CnBuf page, comp, lvl;
    Grow def, rep, dense, idx, ids, slots, first, tmp64;
    ZSTD_CCtx *zc;          /* kept from page to page (ZSTD codec) */
} WScratch;

/* One leaf's column chunk of the row group being written, encoded apart from the file:
 * its pages in order, the chunk's metadata with offsets counted from the chunk's first
 * byte (moved to file offsets when the chunk is appended), and its min/max until they
 * are copied into the writer's arena. Chunks are encoded on several threads and
 * appended in leaf order, so the file is the same whatever the thread count. */
typedef struct WOut {
    CnBuf bytes;
    CnPqChunk meta;
    uint8_t min[STAT_MAX], max[STAT_MAX];
    int rc;
    CnErr err;
} WOut;

/* A writer's encoding buffers: its own, or a cache lent by a caller that writes many
 * files one after another, so that they are allocated and faulted in once (the pages of
 * fresh buffers and a new zstd context per file were a fifth of a small file's cost). */
struct CnPqEncCache {
    WScratch *scr;           /* one per encoding thread */
    uint32_t n_scr;
    WOut *outs;              /* one per leaf */
    uint32_t n_outs;
};

struct CnPqWriter {
    char *path, *tmp;
    int fd;
    uint64_t off;            /* bytes in the file so far (written + buffered) */
    uint64_t written;        /* bytes handed to write() */
    uint64_t flushed;        /* bytes whose writeback was started (cn_fs_start_writeback) */
    CnPqWriteOpts o;
    const CnSchema *schema;
    CnArena arena;           /* leaves, metadata, statistics, kv copies */
    WLeaf *leaves;
    uint32_t n_leaves;
    CnBatch *rg;
    CnBuf fbuf;
    Grow sel;
    CnPqEncCache own;
    CnPqEncCache *ec;        /* &own, or the caller's (opts.cache) */
    /* metadata so far */
    CnPqRowGroup *rgs;
    uint32_t n_rgs, cap_rgs;
    int64_t n_rows;
    CnPqKv *kv;
    uint32_t n_kv, cap_kv;
    CnPqMeta meta;
    CnPqLeaf *pub_leaves;
    bool finished;
    int sticky;
    CnErr sticky_err;
};

static int grow(Grow *g, size_t n) {
    if (n <= g->cap) return 0;
    size_t cap = g->cap ? g->cap : 4096;
    while (cap < n) cap *= 2;
    void *p = cn_realloc(g->p, cap);
    if (!p) return CN_ENOMEM;
    g->p = p;
    g->cap = cap;
    return 0;
}

static void grow_free(Grow *g) {
    cn_free(g->p);
    g->p = NULL;
    g->cap = 0;
}

/* ------------------------------------------------------------- names */

int cn_pq_codec_parse(const char *s, CnPqCodec *out, CnErr *err) {
    static const struct {
        const char *n;
        CnPqCodec c;
    } t[] = {{"uncompressed", CN_PQ_CODEC_UNCOMPRESSED}, {"none", CN_PQ_CODEC_UNCOMPRESSED},
             {"snappy", CN_PQ_CODEC_SNAPPY}, {"gzip", CN_PQ_CODEC_GZIP}, {"zstd", CN_PQ_CODEC_ZSTD}};
    for (size_t i = 0; i < CN_ARRAY_LEN(t); i++)
        if (s && strcasecmp(s, t[i].n) == 0) {
            *out = t[i].c;
            return 0;
        }
    return cn_err_set(err, CN_EINVAL, "unknown Parquet codec \"%s\" (expected uncompressed, snappy, gzip or zstd)",
                      s ? s : "");
}

const char *cn_pq_codec_name(int codec) {
    static const char *n[] = {"UNCOMPRESSED", "SNAPPY", "GZIP", "LZO", "BROTLI", "LZ4", "ZSTD", "LZ4_RAW"};
    return codec >= 0 && codec < (int)CN_ARRAY_LEN(n) ? n[codec] : "UNKNOWN";
}

const char *cn_pq_encoding_name(int enc) {
    static const char *n[] = {"PLAIN", "GROUP_VAR_INT", "PLAIN_DICTIONARY", "RLE", "BIT_PACKED",
                              "DELTA_BINARY_PACKED", "DELTA_LENGTH_BYTE_ARRAY", "DELTA_BYTE_ARRAY",
                              "RLE_DICTIONARY", "BYTE_STREAM_SPLIT"};
    return enc >= 0 && enc < (int)CN_ARRAY_LEN(n) ? n[enc] : "UNKNOWN";
}

const char *cn_pq_physical_name(int physical) {
    static const char *n[] = {"BOOLEAN", "INT32", "INT64", "INT96", "FLOAT", "DOUBLE", "BYTE_ARRAY",
                              "FIXED_LEN_BYTE_ARRAY"};
    return physical >= 0 && physical < (int)CN_ARRAY_LEN(n) ? n[physical] : "UNKNOWN";
}

void cn_pq_write_opts_init(CnPqWriteOpts *o) {
    memset(o, 0, sizeof *o);
    o->codec = CN_PQ_CODEC_ZSTD;
    o->row_group_rows = 1u << 20;
    o->page_bytes = 1u << 20;
    o->page_version = 1;
    o->dictionary = true;
    o->dict_max_bytes = 1u << 20;
    o->statistics = true;
    o->int_encoding = CN_PQ_ENC_PLAIN;
    o->bytes_encoding = CN_PQ_ENC_PLAIN;
}

/* ------------------------------------------------------------- schema */

static int physical_of(CnTypeId id) {
    switch (id) {
    case CN_COL_BOOL: return CN_PQ_BOOLEAN;
    case CN_COL_INT32: case CN_COL_DATE: return CN_PQ_INT32;
    case CN_COL_INT64: case CN_COL_TIMESTAMP: return CN_PQ_INT64;
    case CN_COL_FLOAT32: return CN_PQ_FLOAT;
    case CN_COL_FLOAT64: return CN_PQ_DOUBLE;
    case CN_COL_STRING: case CN_COL_BINARY: return CN_PQ_BYTE_ARRAY;
    default: return -1;
    }
}

/* Leaves under a type (a map key is one primitive leaf). */
static uint32_t count_leaves(const CnType *t) {
    if (!cn_col_type_is_nested(t->id)) return 1;
    uint32_t n = 0;
    for (uint32_t c = 0; c < t->n_children; c++) n += count_leaves(t->children[c].type);
    return n;
}

/* The path walked so far while planning leaves. */
typedef struct Plan {
    const char *names[2 * CN_PQ__MAX_DEPTH + 1];
    uint32_t n_names;
    uint8_t depth;
    uint8_t child[CN_PQ__MAX_DEPTH];
    bool nullable[CN_PQ__MAX_DEPTH + 1];
    int16_t def;             /* definition level reached above the current node */
    bool top_is_list;
} Plan;

static int plan_type(CnPqWriter *w, uint32_t i_field, Plan *p, const CnType *t, bool nullable, int32_t field_id,
                     CnErr *err) {
    const CnField *top = &w->schema->fields[i_field];
    char tn[128];
    p->nullable[p->depth] = nullable;
    if (!cn_col_type_is_nested(t->id)) {
        WLeaf *L = &w->leaves[w->n_leaves++];
        memset(L, 0, sizeof *L);
        L->names = cn_arena_alloc(&w->arena, p->n_names * sizeof *L->names);
        if (!L->names) return cn_err_set(err, CN_ENOMEM, "out of memory");
        memcpy(L->names, p->names, p->n_names * sizeof *L->names);
        L->n_names = p->n_names;
        L->i_field = i_field;
        L->physical = physical_of(t->id);
        L->vtype = t;
        L->max_def = (int16_t)(p->def + (nullable ? 1 : 0));
        L->max_rep = p->depth;
        L->list_def = (int16_t)(p->depth ? (p->nullable[0] ? 1 : 0) : -1);
        L->field_id = field_id;
        L->depth = p->depth;
        memcpy(L->child, p->child, sizeof L->child);
        memcpy(L->nullable, p->nullable, sizeof L->nullable);
        if (p->depth == 0) L->role = ROLE_FLAT;
        else if (p->depth > 1) L->role = ROLE_DEEP;
        else L->role = p->child[0] == 1 ? ROLE_VALUE : p->top_is_list ? ROLE_LIST : ROLE_KEY;
        if (p->n_names == 1) {
            L->path = p->names[0];
        } else {
            CnBuf b = CN_BUF_INIT;
            for (uint32_t k = 0; k < p->n_names; k++) {
                if (k) cn_buf_putc(&b, '.');
                cn_buf_append(&b, p->names[k], strlen(p->names[k]));
            }
            L->path = b.oom ? NULL : cn_arena_strndup(&w->arena, b.data, b.len);
            cn_buf_fini(&b);
            if (!L->path) return cn_err_set(err, CN_ENOMEM, "out of memory");
        }
        return 0;
    }
    if (t->id == CN_COL_STRUCT)
        return cn_err_set(err, CN_EUNSUPPORTED, "%s: column \"%s\": type %s is not supported by the Parquet writer",
                          w->path, top->name, cn_col_type_name(top->type, tn, sizeof tn));
    if (p->depth == CN_PQ__MAX_DEPTH)
        return cn_err_set(err, CN_EUNSUPPORTED, "%s: column \"%s\": more than %d nested list/map levels", w->path,
                          top->name, CN_PQ__MAX_DEPTH);
    Plan saved = *p;
    if (p->depth == 0) p->top_is_list = t->id == CN_COL_LIST;
    p->def = (int16_t)(p->def + (nullable ? 1 : 0) + 1);
    p->names[p->n_names++] = t->id == CN_COL_LIST ? "list" : "key_value";
    uint8_t d = p->depth++;
    for (uint32_t c = 0; c < t->n_children; c++) {
        const CnField *ch = &t->children[c];
        p->child[d] = (uint8_t)c;
        p->names[p->n_names] = t->id == CN_COL_LIST ? "element" : c == 0 ? "key" : "value";
        p->n_names++;
        int rc = plan_type(w, i_field, p, ch->type, t->id == CN_COL_MAP && c == 0 ? false : ch->nullable,
                           ch->field_id, err);
        if (rc < 0) return rc;
        p->n_names--;
        p->depth = (uint8_t)(d + 1);
    }
    *p = saved;
    return 0;
}

static int plan_leaves(CnPqWriter *w, CnErr *err) {
    const CnSchema *s = w->schema;
    uint32_t n = 1;
    for (uint32_t i = 0; i < s->n_fields; i++) n += count_leaves(s->fields[i].type);
    w->leaves = cn_arena_calloc(&w->arena, n * sizeof *w->leaves);
    if (!w->leaves) return cn_err_set(err, CN_ENOMEM, "out of memory");
    for (uint32_t i = 0; i < s->n_fields; i++) {
        const CnField *f = &s->fields[i];
        Plan p;
        memset(&p, 0, sizeof p);
        p.names[p.n_names++] = f->name;
        int rc = plan_type(w, i, &p, f->type, f->nullable, f->field_id, err);
        if (rc < 0) return rc;
    }
    return 0;
}

/* ---------------------------------------------------------------- file */

#define FBUF_MAX (1u << 20) /* file bytes gathered before a write() */
/* Bytes written between two starts of writeback: the device writes the file while the
 * next row groups are encoded, and the fsync at the end waits for the last few only (a
 * GroupBy's 16 files of 65536 output rows took 2-3 ms of fsync each, on one thread). */
#define WRITEBACK_STEP (1u << 20)

static int write_all(CnPqWriter *w, const void *p, size_t len, CnErr *err) {
    size_t done = 0;
    while (done < len) {
        ssize_t n = write(w->fd, (const char *)p + done, len - done);
        if (n < 0) {
            if (errno == EINTR) continue;
            int e = errno;
            return cn_err_set(err, -e, "%s: write failed: %s", w->tmp, strerror(e));
        }
        done += (size_t)n;
    }
    w->written += len;
    if (w->written - w->flushed >= WRITEBACK_STEP) {
        cn_fs_start_writeback(w->fd, w->flushed, w->written - w->flushed);
        w->flushed = w->written;
    }
    return 0;
}

static int fbuf_flush(CnPqWriter *w, CnErr *err) {
    if (w->fbuf.oom) return cn_err_set(err, CN_ENOMEM, "%s: out of memory", w->path);
    int rc = write_all(w, w->fbuf.data, w->fbuf.len, err);
    if (rc == 0) cn_buf_reset(&w->fbuf);
    return rc;
}

static int fwrite_bytes(CnPqWriter *w, const void *p, size_t n, CnErr *err) {
    if (n >= FBUF_MAX) { /* a whole column chunk: straight to the file, not copied first */
        int rc = fbuf_flush(w, err);
        if (rc == 0) rc = write_all(w, p, n, err);
        if (rc == 0) w->off += n;
        return rc;
    }
    if (cn_buf_append(&w->fbuf, p, n) < 0) return cn_err_set(err, CN_ENOMEM, "%s: out of memory", w->path);
    w->off += n;
    if (w->fbuf.len >= FBUF_MAX) return fbuf_flush(w, err);
    return 0;
}

int cn_pq_writer_open(const char *path, const CnSchema *schema, const CnPqWriteOpts *opts, CnPqWriter **out,
                      CnErr *err) {
    *out = NULL;
    CnPqWriter *w = cn_calloc(1, sizeof *w);
    if (!w) return cn_err_set(err, CN_ENOMEM, "%s: out of memory", path);
    int rc = 0;
    w->fd = -1;
    cn_arena_init(&w->arena, 16384);
    if (opts) w->o = *opts;
    else cn_pq_write_opts_init(&w->o);
    w->schema = schema;
    w->ec = w->o.cache ? w->o.cache : &w->own;
    w->path = cn_strdup(path);
    if (!w->path) goto oom;
    const CnPqWriteOpts *o = &w->o;
    if (o->codec != CN_PQ_CODEC_UNCOMPRESSED && o->codec != CN_PQ_CODEC_SNAPPY && o->codec != CN_PQ_CODEC_GZIP &&
        o->codec != CN_PQ_CODEC_ZSTD) {
        rc = cn_err_set(err, CN_EINVAL, "%s: codec %s cannot be written (use UNCOMPRESSED, SNAPPY, GZIP or ZSTD)", path,
                        cn_pq_codec_name(o->codec));
        goto done;
    }
    if (o->page_version != 1 && o->page_version != 2) {
        rc = cn_err_set(err, CN_EINVAL, "%s: page_version %d (expected 1 or 2)", path, o->page_version);
        goto done;
    }
    if (o->row_group_rows == 0 || o->page_bytes == 0) {
        rc = cn_err_set(err, CN_EINVAL, "%s: row_group_rows and page_bytes must be positive", path);
        goto done;
    }
    if (o->int_encoding != CN_PQ_ENC_PLAIN && o->int_encoding != CN_PQ_ENC_DELTA_BINARY_PACKED) {
        rc = cn_err_set(err, CN_EINVAL, "%s: int_encoding %s (expected PLAIN or DELTA_BINARY_PACKED)", path,
                        cn_pq_encoding_name(o->int_encoding));
        goto done;
    }
    if (o->bytes_encoding != CN_PQ_ENC_PLAIN && o->bytes_encoding != CN_PQ_ENC_DELTA_LENGTH_BYTE_ARRAY &&
        o->bytes_encoding != CN_PQ_ENC_DELTA_BYTE_ARRAY) {
        rc = cn_err_set(err, CN_EINVAL, "%s: bytes_encoding %s (expected PLAIN, DELTA_LENGTH_BYTE_ARRAY or DELTA_BYTE_ARRAY)",
                        path, cn_pq_encoding_name(o->bytes_encoding));
        goto done;
    }
    if (!o->created_by) w->o.created_by = "chronon-c version " CHRONON_VERSION_STRING;
    w->o.created_by = cn_arena_strdup(&w->arena, w->o.created_by);
    if (!w->o.created_by) goto oom;
    rc = plan_leaves(w, err);
    if (rc < 0) goto done;
    rc = cn_col_batch_new(schema, &w->rg, err);
    if (rc < 0) goto done;
    w->tmp = cn_malloc(strlen(path) + 64);
    if (!w->tmp) goto oom;
    snprintf(w->tmp, strlen(path) + 64, "%s.tmp.%ld.%lx", path, (long)getpid(), (unsigned long)(uintptr_t)w);
    w->fd = open(w->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (w->fd < 0) {
        int e = errno;
        rc = cn_err_set(err, -e, "%s: cannot create: %s", w->tmp, strerror(e));
        goto done;
    }
    rc = fwrite_bytes(w, "PAR1", 4, err);
done:
    if (rc < 0) {
        cn_pq_writer_free(w);
        return rc;
    }
    *out = w;
    return 0;
oom:
    rc = cn_err_set(err, CN_ENOMEM, "%s: out of memory", path);
    goto done;
}

void cn_pq_writer_set_cache(CnPqWriter *w, CnPqEncCache *cache) {
    w->o.cache = cache;
    w->ec = cache ? cache : &w->own;
}

int cn_pq_writer_set_kv(CnPqWriter *w, const char *key, const char *value, CnErr *err) {
    if (w->finished) return cn_err_set(err, CN_EINVAL, "%s: metadata after finish", w->path);
    for (uint32_t i = 0; i < w->n_kv; i++)
        if (strcmp(w->kv[i].key, key) == 0) {
            w->kv[i].value = value ? cn_arena_strdup(&w->arena, value) : NULL;
            return 0;
        }
    if (w->n_kv == w->cap_kv) {
        uint32_t cap = w->cap_kv ? w->cap_kv * 2 : 8;
        CnPqKv *kv = cn_arena_alloc(&w->arena, cap * sizeof *kv);
        if (!kv) return cn_err_set(err, CN_ENOMEM, "out of memory");
        if (w->n_kv) memcpy(kv, w->kv, w->n_kv * sizeof *kv);
        w->kv = kv;
        w->cap_kv = cap;
    }
    CnPqKv *e = &w->kv[w->n_kv];
    e->key = cn_arena_strdup(&w->arena, key);
    e->value = value ? cn_arena_strdup(&w->arena, value) : NULL;
    if (!e->key || (value && !e->value)) return cn_err_set(err, CN_ENOMEM, "out of memory");
    w->n_kv++;
    return 0;
}

/* ------------------------------------------------------------ encoding */

/* The non-null values of one leaf in physical form. */
typedef struct ValSrc {
    uint32_t n;
    int wp;                  /* physical width (1, 4, 8), 0 for byte arrays */
    const uint8_t *fixed;    /* n * wp bytes */
    const CnVec *vv;         /* byte arrays: source vector */
    const uint32_t *idx;     /* dense k -> entry of vv; NULL: entry k */
} ValSrc;

static inline const uint8_t *vs_bytes(const ValSrc *s, uint32_t k, uint32_t *len) {
    uint32_t e = s->idx ? s->idx[k] : k;
    *len = s->vv->offsets[e + 1] - s->vv->offsets[e];
    return s->vv->bytes + s->vv->offsets[e];
}

typedef struct Chunk {
    uint32_t n_levels;
    const uint8_t *def, *rep; /* NULL when the max level is 0 */
    ValSrc vs;
    bool use_dict;
    uint32_t n_dict;
    const uint32_t *ids;      /* per dense value */
    const uint32_t *first;    /* per dict entry: a dense index holding its value */
    int value_enc;            /* when not dictionary */
} Chunk;

/* Levels of a DEEP leaf: entry e of the vector v at node k (k == depth: the leaf).
 * rep is the repetition level of the first level it writes, def the definition level
 * reached above it. Counts only while lv->def is NULL. */
typedef struct DeepLv {
    const WLeaf *L;
    uint8_t *def, *rep;
    uint32_t n;
} DeepLv;

static void deep_levels(DeepLv *lv, uint32_t k, const CnVec *v, uint32_t e, uint8_t rep, uint8_t def) {
    const WLeaf *L = lv->L;
    bool present = true;
    if (L->nullable[k]) {
        present = cn_col_vec_is_valid(v, e);
        def = (uint8_t)(def + present);
    }
    uint32_t a = 0, b = 0;
    if (present && k < L->depth) {
        a = v->offsets[e];
        b = v->offsets[e + 1];
    }
    if (a == b) { /* null, empty list/map or a leaf value */
        if (lv->def) {
            lv->rep[lv->n] = rep;
            lv->def[lv->n] = def;
        }
        lv->n++;
        return;
    }
    const CnVec *ch = &v->child[L->child[k]];
    deep_levels(lv, k + 1, ch, a, rep, (uint8_t)(def + 1));
    for (uint32_t x = a + 1; x < b; x++) deep_levels(lv, k + 1, ch, x, (uint8_t)(k + 1), (uint8_t)(def + 1));
}

/* Non-null entries of v in order, by validity word: a full word is one block copy, an
 * empty one is skipped, others are walked bit by bit (nulls in a 1d window's column are
 * most rows, so a test per entry was much of the chunk's cost). Fixed width wp: their
 * values into d; wp 0: their entry numbers into ix. */
static void gather_valid(const CnVec *v, size_t wp, uint8_t *d, uint32_t *ix) {
    const uint8_t *src = v->values;
    uint32_t k = 0;
    for (uint32_t base = 0; base < v->n; base += 64) {
        uint32_t m = CN_MIN(64u, v->n - base);
        uint64_t word = v->valid[base >> 6];
        if (m < 64) word &= (UINT64_C(1) << m) - 1;
        if (word == UINT64_MAX && d) {
            memcpy(d + (size_t)k * wp, src + (size_t)base * wp, 64 * wp);
            k += 64;
            continue;
        }
        while (word) {
            uint32_t e = base + (uint32_t)__builtin_ctzll(word);
            word &= word - 1;
            if (d) memcpy(d + (size_t)(k++) * wp, src + (size_t)e * wp, wp);
            else ix[k++] = e;
        }
    }
}

static int prepare(const CnPqWriter *w, WScratch *ws, const WLeaf *L, const CnVec *top, Chunk *c, CnErr *err) {
    memset(c, 0, sizeof *c);
    const CnVec *vv = L->role == ROLE_FLAT ? top : L->role == ROLE_VALUE ? &top->child[1] : &top->child[0];
    uint32_t n_levels = 0;
    if (L->role == ROLE_DEEP) {
        vv = top;
        for (uint32_t k = 0; k < L->depth; k++) vv = &vv->child[L->child[k]];
        DeepLv lv = {L, NULL, NULL, 0};
        for (uint32_t r = 0; r < top->n; r++) deep_levels(&lv, 0, top, r, 0, 0);
        n_levels = lv.n;
        if (grow(&ws->def, n_levels + 8) < 0 || grow(&ws->rep, n_levels + 8) < 0) goto oom;
        lv = (DeepLv){L, ws->def.p, ws->rep.p, 0};
        for (uint32_t r = 0; r < top->n; r++) deep_levels(&lv, 0, top, r, 0, 0);
    } else if (L->role == ROLE_FLAT) {
        n_levels = top->n;
    } else {
        for (uint32_t r = 0; r < top->n; r++) {
            uint32_t k = top->offsets[r + 1] - top->offsets[r];
            n_levels += k ? k : 1;
        }
    }
    if (grow(&ws->def, n_levels + 8) < 0 || grow(&ws->rep, n_levels + 8) < 0) goto oom;
    uint8_t *def = ws->def.p, *rep = ws->rep.p;
    if (L->role == ROLE_DEEP) {
        /* levels made above */
    } else if (L->role == ROLE_FLAT) {
        if (L->max_def && !top->n_null) memset(def, 1, n_levels); /* no bit tests when all present */
        else if (L->max_def)
            for (uint32_t i = 0; i < n_levels; i++) def[i] = (uint8_t)((top->valid[i >> 6] >> (i & 63)) & 1);
    } else {
        /* one fill for the whole chunk, then a store or two per row: a row's first level
         * repeats nothing, an empty or null list has one level of its own; elements all
         * present (LAST_K's lists) need no test each */
        uint32_t j = 0;
        uint8_t full = (uint8_t)L->max_def, slot = (uint8_t)(L->list_def + 1);
        memset(rep, 1, n_levels);
        if (!vv->n_null) memset(def, full, n_levels);
        for (uint32_t r = 0; r < top->n; r++) {
            uint32_t a = top->offsets[r], b = top->offsets[r + 1];
            rep[j] = 0;
            if (a == b) {
                def[j++] = cn_col_vec_is_valid(top, r) ? (uint8_t)L->list_def : 0;
            } else if (!vv->n_null) {
                j += b - a;
            } else {
                for (uint32_t e = a; e < b; e++) def[j++] = cn_col_vec_is_valid(vv, e) ? full : slot;
            }
        }
    }
    c->n_levels = n_levels;
    c->def = L->max_def ? def : NULL;
    c->rep = L->max_rep ? rep : NULL;

    /* dense non-null values */
    ValSrc *vs = &c->vs;
    vs->vv = vv;
    vs->wp = L->physical == CN_PQ_BOOLEAN ? 1 : L->physical == CN_PQ_BYTE_ARRAY ? 0 :
             (L->physical == CN_PQ_INT32 || L->physical == CN_PQ_FLOAT) ? 4 : 8;
    uint32_t n_nn = vv->n - vv->n_null;
    vs->n = n_nn;
    bool conv = L->vtype->id == CN_COL_TIMESTAMP && w->o.timestamp_micros;
    if (vs->wp == 0) {
        if (vv->n_null) {
            if (grow(&ws->idx, (size_t)n_nn * 4 + 4) < 0) goto oom;
            gather_valid(vv, 0, NULL, ws->idx.p);
            vs->idx = ws->idx.p;
        }
    } else if (!vv->n_null && !conv) {
        vs->fixed = vv->values;
    } else {
        if (grow(&ws->dense, (size_t)n_nn * (size_t)vs->wp + 8) < 0) goto oom;
        uint8_t *d = ws->dense.p;
        if (vv->n_null) gather_valid(vv, (size_t)vs->wp, d, NULL);
        else memcpy(d, vv->values, (size_t)n_nn * (size_t)vs->wp);
        if (conv) {
            int64_t *t = (int64_t *)d;
            for (uint32_t i = 0; i < n_nn; i++) t[i] *= 1000;
        }
        vs->fixed = d;
    }
    return 0;
oom:
    return cn_err_set(err, CN_ENOMEM, "out of memory");
}

/* Hash and equality of byte-array values k, a and b (try_dict's generic table). */
static inline uint64_t val_hash(const ValSrc *vs, uint32_t k) {
    uint32_t len;
    const uint8_t *p = vs_bytes(vs, k, &len);
    return cn_hash_bytes(p, len, 7);
}

static inline bool val_eq(const ValSrc *vs, uint32_t a, uint32_t b) {
    uint32_t la, lb;
    const uint8_t *pa = vs_bytes(vs, a, &la), *pb = vs_bytes(vs, b, &lb);
    return la == lb && memcmp(pa, pb, la) == 0;
}

/* Signed value k of a fixed 4- or 8-byte column (raw bits: floats compare bitwise). */
static inline int64_t val_int(const ValSrc *vs, uint32_t k) {
    if (vs->wp == 4) {
        int32_t x;
        memcpy(&x, vs->fixed + 4 * (size_t)k, 4);
        return x;
    }
    int64_t x;
    memcpy(&x, vs->fixed + 8 * (size_t)k, 8);
    return x;
}

/* Whether a dictionary build falls back to PLAIN on adding entry nd at value k: past
 * dict_max_bytes, or (OPT-ONLY) nearly all distinct in the first 8192 values, so that
 * the dictionary cannot pay. */
static bool dict_gives_up(const CnPqWriter *w, uint64_t dict_bytes, uint32_t k, uint32_t nd) {
    return dict_bytes > w->o.dict_max_bytes || (k == 8191 && (uint64_t)nd * 10 > (uint64_t)k * 9);
}

/* Entry nd of a dictionary build is value k: its first row in *first (ws->first grown
 * as needed, *first then moved), its number in ids[k]. -1: out of memory. */
static int dict_entry_add(WScratch *ws, uint32_t **first, uint32_t *ids, uint32_t nd, uint32_t k) {
    if ((size_t)(nd + 1) * 4 > ws->first.cap) {
        if (grow(&ws->first, (size_t)(nd + 1) * 8) < 0) return -1;
        *first = ws->first.p;
    }
    (*first)[nd] = k;
    ids[k] = nd;
    return 0;
}

/* The end of a dictionary build: nd entries (their first rows in first, each value's
 * entry in ids), taken only when smaller than PLAIN's plain_bytes (OPT-ONLY: both
 * encodings read back the same). */
static void dict_finish(Chunk *c, uint32_t nd, uint64_t dict_bytes, uint64_t plain_bytes, uint32_t *ids,
                        uint32_t *first, bool *use) {
    int bw = cn_pq__bit_width(nd > 1 ? nd - 1 : 1);
    if (dict_bytes + ((uint64_t)c->vs.n * (uint64_t)bw + 7) / 8 >= plain_bytes) return;
    c->use_dict = true;
    c->n_dict = nd;
    c->ids = ids;
    c->first = first;
    *use = true;
}

#define DICT_DIRECT_SPAN 65536u /* widest value range the direct map takes */

/* try_dict for fixed-width values spanning at most DICT_DIRECT_SPAN: the same entries in
 * the same (first appearance) order and the same fall-backs to PLAIN, found by indexing
 * an array with value - min instead of hashing, which is most of a dictionary's cost.
 * *handled false when the values span more. */
/* Value k of an 8- or 4-byte column as a signed integer (raw bits: floats too). */
static inline int64_t ld64(const uint8_t *p, uint32_t k) {
    int64_t x;
    memcpy(&x, p + 8 * (size_t)k, 8);
    return x;
}

static inline int64_t ld32(const uint8_t *p, uint32_t k) {
    int32_t x;
    memcpy(&x, p + 4 * (size_t)k, 4);
    return x;
}

/* Smallest value of a 4- or 8-byte column into *mn, or false as soon as the values seen
 * span DICT_DIRECT_SPAN or more (a span only grows, so the rest cannot change that):
 * a column of sums or doubles stops after a block instead of a pass. */
static bool direct_span(const ValSrc *vs, int64_t *mn_out, uint32_t *span_out) {
    int64_t mn = val_int(vs, 0), mx = mn;
    for (uint32_t k0 = 0; k0 < vs->n; k0 += 4096) {
        uint32_t k1 = CN_MIN(vs->n, k0 + 4096);
        if (vs->wp == 8) /* a loop per width: no width test per value */
            for (uint32_t k = k0; k < k1; k++) {
                int64_t x = ld64(vs->fixed, k);
                mn = x < mn ? x : mn;
                mx = x > mx ? x : mx;
            }
        else
            for (uint32_t k = k0; k < k1; k++) {
                int64_t x = ld32(vs->fixed, k);
                mn = x < mn ? x : mn;
                mx = x > mx ? x : mx;
            }
        if ((uint64_t)mx - (uint64_t)mn >= DICT_DIRECT_SPAN) return false;
    }
    *mn_out = mn;
    *span_out = (uint32_t)((uint64_t)mx - (uint64_t)mn) + 1;
    return true;
}

static int try_dict_direct(const CnPqWriter *w, WScratch *ws, Chunk *c, bool *use, bool *handled, CnErr *err) {
    const ValSrc *vs = &c->vs;
    *handled = false;
    int64_t mn;
    uint32_t span;
    if (!direct_span(vs, &mn, &span)) return 0;
    *handled = true;
    if (grow(&ws->slots, (size_t)span * 4) < 0 || grow(&ws->ids, (size_t)vs->n * 4 + 4) < 0 ||
        grow(&ws->first, ((size_t)span + 1) * 4) < 0)
        return cn_err_set(err, CN_ENOMEM, "out of memory");
    uint32_t *map = ws->slots.p, *ids = ws->ids.p, *first = ws->first.p, nd = 0;
    memset(map, 0, (size_t)span * 4);
    uint64_t dict_bytes = 0, plain_bytes = (uint64_t)vs->n * (uint64_t)vs->wp;
    uint32_t k = 0;
    while (k < vs->n) {
        /* values already in the dictionary, a loop per width; a new value ends it */
        if (vs->wp == 8)
            for (; k < vs->n; k++) {
                uint32_t id = map[(uint64_t)ld64(vs->fixed, k) - (uint64_t)mn];
                if (!id) break;
                ids[k] = id - 1;
            }
        else
            for (; k < vs->n; k++) {
                uint32_t id = map[(uint64_t)ld32(vs->fixed, k) - (uint64_t)mn];
                if (!id) break;
                ids[k] = id - 1;
            }
        if (k == vs->n) break;
        dict_bytes += (uint64_t)vs->wp;
        if (dict_gives_up(w, dict_bytes, k, nd)) return 0;
        first[nd] = k;
        ids[k] = nd;
        map[(uint64_t)val_int(vs, k) - (uint64_t)mn] = ++nd;
        k++;
    }
    dict_finish(c, nd, dict_bytes, plain_bytes, ids, first, use);
    return 0;
}

/* A slot of try_dict_fixed's table: the value's raw bits beside its entry number + 1 (0:
 * empty), so a probe reads one place instead of the slot, the entry's first row and that
 * row's value (three dependent loads, most of a dictionary's cost on doubles). */
typedef struct DictSlot {
    uint64_t v;
    uint32_t id;
} DictSlot;

static inline uint32_t dict_slot_hash(uint64_t x) { return (uint32_t)cn_hash_u64(x ^ UINT64_C(0x9e3779b97f4a7c15)); }

/* try_dict for 4- and 8-byte values the direct map does not take: the same entries in
 * the same (first appearance) order, the same fall-backs to PLAIN. */
static int try_dict_fixed(const CnPqWriter *w, WScratch *ws, Chunk *c, bool *use, CnErr *err) {
    const ValSrc *vs = &c->vs;
    uint32_t cap = 1024;
    bool wide = vs->wp == 8;
    if (grow(&ws->slots, cap * sizeof(DictSlot)) < 0 || grow(&ws->ids, (size_t)vs->n * 4 + 4) < 0 ||
        grow(&ws->first, 1024 * 4) < 0)
        goto oom;
    DictSlot *slots = ws->slots.p;
    uint32_t *ids = ws->ids.p, *first = ws->first.p, nd = 0;
    memset(slots, 0, cap * sizeof *slots);
    uint64_t dict_bytes = 0, plain_bytes = (uint64_t)vs->n * (uint64_t)vs->wp, prev = 0;
    for (uint32_t k = 0; k < vs->n; k++) {
        uint64_t x = wide ? (uint64_t)ld64(vs->fixed, k) : (uint32_t)ld32(vs->fixed, k);
        /* a repeat of the previous value has its id already: no hash, no probe */
        if (k && x == prev) {
            ids[k] = ids[k - 1];
            continue;
        }
        prev = x;
        uint32_t mask = cap - 1, s = dict_slot_hash(x) & mask;
        while (slots[s].id && slots[s].v != x) s = (s + 1) & mask;
        if (slots[s].id) {
            ids[k] = slots[s].id - 1;
            continue;
        }
        dict_bytes += (uint64_t)vs->wp;
        if (dict_gives_up(w, dict_bytes, k, nd)) return 0;
        if (dict_entry_add(ws, &first, ids, nd, k) < 0) goto oom;
        slots[s] = (DictSlot){x, ++nd};
        if (nd * 2 > cap) {
            /* rehash into a table twice the size, from the entries' first rows */
            uint32_t ncap = cap * 2;
            if (grow(&ws->slots, (size_t)ncap * sizeof *slots) < 0) goto oom;
            slots = ws->slots.p;
            memset(slots, 0, (size_t)ncap * sizeof *slots);
            for (uint32_t d = 0; d < nd; d++) {
                uint64_t y = wide ? (uint64_t)ld64(vs->fixed, first[d]) : (uint32_t)ld32(vs->fixed, first[d]);
                uint32_t q = dict_slot_hash(y) & (ncap - 1);
                while (slots[q].id) q = (q + 1) & (ncap - 1);
                slots[q] = (DictSlot){y, d + 1};
            }
            cap = ncap;
        }
    }
    dict_finish(c, nd, dict_bytes, plain_bytes, ids, first, use);
    return 0;
oom:
    return cn_err_set(err, CN_ENOMEM, "out of memory");
}

/* Builds the dictionary; false (use PLAIN) when it grows past dict_max_bytes or would
 * not be smaller than PLAIN. Fixed widths go to try_dict_direct or try_dict_fixed, byte
 * arrays to the table below. */
static int try_dict(const CnPqWriter *w, WScratch *ws, Chunk *c, bool *use, CnErr *err) {
    *use = false;
    const ValSrc *vs = &c->vs;
    if (!w->o.dictionary || vs->wp == 1 || vs->n == 0) return 0;
    if (vs->wp == 4 || vs->wp == 8) {
        bool handled = false;
        int rc = try_dict_direct(w, ws, c, use, &handled, err);
        if (rc || handled) return rc;
        return try_dict_fixed(w, ws, c, use, err);
    }
    uint32_t cap = 1024;
    if (grow(&ws->slots, cap * 4) < 0 || grow(&ws->ids, (size_t)vs->n * 4 + 4) < 0 || grow(&ws->first, 1024 * 4) < 0)
        goto oom;
    uint32_t *slots = ws->slots.p, *ids = ws->ids.p, *first = ws->first.p;
    memset(slots, 0, cap * 4);
    uint32_t nd = 0;
    uint64_t dict_bytes = 0, plain_bytes = 0;
    for (uint32_t k = 0; k < vs->n; k++) {
        uint32_t vlen;
        vs_bytes(vs, k, &vlen);
        plain_bytes += 4 + (uint64_t)vlen;
        /* a repeat of the previous value (a constant column such as the partition's ds)
         * has its id already: no hash, no probe */
        if (k && val_eq(vs, k - 1, k)) {
            ids[k] = ids[k - 1];
            continue;
        }
        uint64_t h = val_hash(vs, k);
        uint32_t mask = cap - 1, s = (uint32_t)h & mask;
        for (;;) {
            uint32_t e = slots[s];
            if (!e) break;
            if (val_eq(vs, first[e - 1], k)) break;
            s = (s + 1) & mask;
        }
        if (slots[s]) {
            ids[k] = slots[s] - 1;
            continue;
        }
        dict_bytes += 4 + (uint64_t)vlen;
        if (dict_gives_up(w, dict_bytes, k, nd)) return 0;
        if (dict_entry_add(ws, &first, ids, nd, k) < 0) goto oom;
        slots[s] = ++nd;
        if (nd * 2 > cap) {
            /* rehash into a table twice the size */
            uint32_t ncap = cap * 2;
            if (grow(&ws->slots, (size_t)ncap * 4) < 0) goto oom;
            slots = ws->slots.p;
            memset(slots, 0, (size_t)ncap * 4);
            for (uint32_t d = 0; d < nd; d++) {
                uint32_t q = (uint32_t)val_hash(vs, first[d]) & (ncap - 1);
                while (slots[q]) q = (q + 1) & (ncap - 1);
                slots[q] = d + 1;
            }
            cap = ncap;
        }
    }
    dict_finish(c, nd, dict_bytes, plain_bytes, ids, first, use);
    return 0;
oom:
    return cn_err_set(err, CN_ENOMEM, "out of memory");
}

/* PLAIN encoding of dense values [v0, v1) (or of dictionary entries when ix != NULL). */
static void plain_encode(CnBuf *b, const ValSrc *vs, uint32_t v0, uint32_t v1, const uint32_t *ix) {
    uint32_t n = v1 - v0;
    if (vs->wp == 1) {
        if (cn_buf_reserve(b, n / 8 + 2) < 0) return;
        uint8_t *o = (uint8_t *)b->data + b->len;
        memset(o, 0, n / 8 + 1);
        for (uint32_t i = 0; i < n; i++) {
            uint32_t k = ix ? ix[v0 + i] : v0 + i;
            o[i >> 3] |= (uint8_t)((vs->fixed[k] & 1) << (i & 7));
        }
        b->len += (n + 7) / 8;
        return;
    }
    if (vs->wp) {
        size_t wp = (size_t)vs->wp;
        if (!ix) {
            cn_buf_append(b, vs->fixed + (size_t)v0 * wp, (size_t)n * wp);
            return;
        }
        if (cn_buf_reserve(b, (size_t)n * wp) < 0) return;
        uint8_t *o = (uint8_t *)b->data + b->len;
        for (uint32_t i = 0; i < n; i++) memcpy(o + i * wp, vs->fixed + (size_t)ix[v0 + i] * wp, wp);
        b->len += (size_t)n * wp;
        return;
    }
    for (uint32_t i = v0; i < v1; i++) {
        uint32_t len;
        const uint8_t *p = vs_bytes(vs, ix ? ix[i] : i, &len);
        uint32_t l = len;
        cn_buf_append(b, &l, 4);
        cn_buf_append(b, p, len);
    }
}

static int delta_encode_values(WScratch *ws, CnBuf *b, const ValSrc *vs, uint32_t v0, uint32_t v1, int enc) {
    uint32_t n = v1 - v0;
    if (grow(&ws->tmp64, (size_t)n * 8 + 8) < 0) return CN_ENOMEM;
    int64_t *t = ws->tmp64.p;
    if (enc == CN_PQ_ENC_DELTA_BINARY_PACKED) {
        for (uint32_t i = 0; i < n; i++) {
            if (vs->wp == 4) {
                int32_t x;
                memcpy(&x, vs->fixed + 4 * (size_t)(v0 + i), 4);
                t[i] = x;
            } else {
                memcpy(&t[i], vs->fixed + 8 * (size_t)(v0 + i), 8);
            }
        }
        cn_pq__delta_encode(b, t, n);
        return 0;
    }
    if (enc == CN_PQ_ENC_DELTA_BYTE_ARRAY) {
        /* prefix lengths against the previous value, then the suffixes as DLBA */
        const uint8_t *pp = NULL;
        uint32_t pl = 0;
        for (uint32_t i = 0; i < n; i++) {
            uint32_t len;
            const uint8_t *p = vs_bytes(vs, v0 + i, &len);
            uint32_t k = 0, m = CN_MIN(len, pl);
            while (k < m && p[k] == pp[k]) k++;
            t[i] = k;
            pp = p;
            pl = len;
        }
        cn_pq__delta_encode(b, t, n);
        for (uint32_t i = 0; i < n; i++) {
            uint32_t len;
            vs_bytes(vs, v0 + i, &len);
            t[i] = (int64_t)len - t[i];
        }
        cn_pq__delta_encode(b, t, n);
        for (uint32_t i = 0; i < n; i++) {
            uint32_t len;
            const uint8_t *p = vs_bytes(vs, v0 + i, &len);
            cn_buf_append(b, p + (len - (uint32_t)t[i]), (size_t)t[i]);
        }
        return 0;
    }
    /* DELTA_LENGTH_BYTE_ARRAY */
    for (uint32_t i = 0; i < n; i++) {
        uint32_t len;
        vs_bytes(vs, v0 + i, &len);
        t[i] = len;
    }
    cn_pq__delta_encode(b, t, n);
    for (uint32_t i = 0; i < n; i++) {
        uint32_t len;
        const uint8_t *p = vs_bytes(vs, v0 + i, &len);
        cn_buf_append(b, p, len);
    }
    return 0;
}

static void levels_rle(CnBuf *b, const uint8_t *lv, uint32_t n, int16_t max, bool prefix) {
    size_t at = b->len;
    if (prefix) cn_buf_append(b, "\0\0\0\0", 4);
    cn_pq__rle_encode_u8(b, lv, n, cn_pq__bit_width((uint64_t)max));
    if (prefix && !b->oom) {
        uint32_t l = (uint32_t)(b->len - at - 4);
        memcpy(b->data + at, &l, 4);
    }
}

typedef struct ChunkOut {
    int64_t start, data_off, dict_off;
    int64_t comp, uncomp;
} ChunkOut;

/* Appends the compressed form of in to ws->comp. ZSTD goes through the thread's own
 * context, kept from page to page (and file to file with a cache): ZSTD_compress would
 * allocate and set up a new one for every page. The bytes are ZSTD_compress's (same
 * level, same source size). */
static int compress_page(const CnPqWriter *w, WScratch *ws, const uint8_t *in, size_t n, CnErr *err) {
    if (w->o.codec != CN_PQ_CODEC_ZSTD) return cn_pq__compress(w->o.codec, w->o.level, in, n, &ws->comp, err);
    if (!ws->zc && !(ws->zc = ZSTD_createCCtx())) return cn_err_set(err, CN_ENOMEM, "out of memory");
    size_t cap = ZSTD_compressBound(n);
    if (cn_buf_reserve(&ws->comp, cap + 1) < 0) return cn_err_set(err, CN_ENOMEM, "out of memory");
    size_t k = ZSTD_compressCCtx(ws->zc, ws->comp.data + ws->comp.len, cap, in, n, w->o.level ? w->o.level : 1);
    if (ZSTD_isError(k)) return cn_err_set(err, CN_EINTERNAL, "zstd compression failed: %s", ZSTD_getErrorName(k));
    ws->comp.len += k;
    return 0;
}

/* Compresses ws->page into a page with header h and appends it to the chunk's bytes. */
static int emit_page(const CnPqWriter *w, WScratch *ws, WOut *out, CnPqPageHdr *h, size_t plain_prefix, ChunkOut *co,
                     CnErr *err) {
    cn_buf_reset(&ws->comp);
    /* v2 pages keep their levels (plain_prefix bytes) outside the compressed part */
    if (plain_prefix) cn_buf_append(&ws->comp, ws->page.data, plain_prefix);
    size_t raw = ws->page.len - plain_prefix;
    int rc = compress_page(w, ws, (const uint8_t *)ws->page.data + plain_prefix, raw, err);
    if (rc < 0) return rc;
    if (h->type == CN_PQ__PAGE_DATA_V2 && h->is_compressed && ws->comp.len - plain_prefix > raw - raw / 16) {
        /* compression saves under 1/16 (bit-packed dictionary indices, DELTA_BINARY_PACKED
         * of spread values): a v2 page may say its values are stored as they are, which
         * readers then decode without decompressing */
        ws->comp.len = plain_prefix;
        cn_buf_append(&ws->comp, (const uint8_t *)ws->page.data + plain_prefix, raw);
        h->is_compressed = false;
    }
    if (ws->page.oom || ws->comp.oom || ws->page.len > INT32_MAX || ws->comp.len > INT32_MAX)
        return cn_err_set(err, ws->page.oom || ws->comp.oom ? CN_ENOMEM : CN_ELIMIT, "page too large or out of memory");
    h->uncompressed_len = (int32_t)ws->page.len;
    h->compressed_len = (int32_t)ws->comp.len;
    cn_buf_reset(&ws->lvl);
    cn_pq__page_hdr_encode(&ws->lvl, h);
    if (ws->lvl.oom) return cn_err_set(err, CN_ENOMEM, "out of memory");
    co->comp += (int64_t)(ws->lvl.len + ws->comp.len);
    co->uncomp += (int64_t)(ws->lvl.len + ws->page.len);
    cn_buf_append(&out->bytes, ws->lvl.data, ws->lvl.len);
    cn_buf_append(&out->bytes, ws->comp.data, ws->comp.len);
    return out->bytes.oom ? cn_err_set(err, CN_ENOMEM, "out of memory") : 0;
}

/* min/max over dense values (or the dictionary entries, which hold the same set). */
static void compute_stats(const CnPqWriter *w, const WLeaf *L, const Chunk *c, WOut *out, CnPqStats *st) {
    const ValSrc *vs = &c->vs;
    uint32_t n = c->use_dict ? c->n_dict : vs->n;
    const uint32_t *ix = c->use_dict ? c->first : NULL;
    if (!w->o.statistics || n == 0) return;
    uint8_t mn[8], mx[8];
    const uint8_t *smn = NULL, *smx = NULL;
    uint32_t lmn = 0, lmx = 0;
    bool found = false;
    switch (L->physical) {
    case CN_PQ_BOOLEAN: {
        uint8_t a = 1, b = 0;
        for (uint32_t i = 0; i < n; i++) {
            uint8_t v = vs->fixed[ix ? ix[i] : i];
            a &= v;
            b |= v;
        }
        mn[0] = a;
        mx[0] = b;
        lmn = lmx = 1;
        found = true;
        break;
    }
    case CN_PQ_INT32: {
        const int32_t *v = (const int32_t *)vs->fixed;
        int32_t a = INT32_MAX, b = INT32_MIN;
        for (uint32_t i = 0; i < n; i++) {
            int32_t x = v[ix ? ix[i] : i];
            a = x < a ? x : a;
            b = x > b ? x : b;
        }
        memcpy(mn, &a, 4);
        memcpy(mx, &b, 4);
        lmn = lmx = 4;
        found = true;
        break;
    }
    case CN_PQ_INT64: {
        const int64_t *v = (const int64_t *)vs->fixed;
        int64_t a = INT64_MAX, b = INT64_MIN;
        for (uint32_t i = 0; i < n; i++) {
            int64_t x = v[ix ? ix[i] : i];
            a = x < a ? x : a;
            b = x > b ? x : b;
        }
        memcpy(mn, &a, 8);
        memcpy(mx, &b, 8);
        lmn = lmx = 8;
        found = true;
        break;
    }
    case CN_PQ_FLOAT: case CN_PQ_DOUBLE: {
        double a = 0, b = 0;
        for (uint32_t i = 0; i < n; i++) {
            uint32_t k = ix ? ix[i] : i;
            double x;
            if (L->physical == CN_PQ_FLOAT) {
                float f;
                memcpy(&f, vs->fixed + 4 * (size_t)k, 4);
                x = f;
            } else {
                memcpy(&x, vs->fixed + 8 * (size_t)k, 8);
            }
            if (x != x) continue; /* NaN never bounds a range */
            if (!found || x < a) a = x;
            if (!found || x > b) b = x;
            found = true;
        }
        if (!found) break;
        /* Parquet: a zero min is written -0.0 and a zero max +0.0 */
        if (a == 0) a = -0.0;
        if (b == 0) b = 0.0;
        if (L->physical == CN_PQ_FLOAT) {
            float fa = (float)a, fb = (float)b;
            memcpy(mn, &fa, 4);
            memcpy(mx, &fb, 4);
            lmn = lmx = 4;
        } else {
            memcpy(mn, &a, 8);
            memcpy(mx, &b, 8);
            lmn = lmx = 8;
        }
        break;
    }
    default: {
        for (uint32_t i = 0; i < n; i++) {
            uint32_t len;
            const uint8_t *p = vs_bytes(vs, ix ? ix[i] : i, &len);
            if (!found || cn_bytes_cmp(p, len, smn, lmn) < 0) {
                smn = p;
                lmn = len;
            }
            if (!found || cn_bytes_cmp(p, len, smx, lmx) > 0) {
                smx = p;
                lmx = len;
            }
            found = true;
        }
        /* long values would bloat the footer; such columns get no min/max */
        if (lmn > STAT_MAX || lmx > STAT_MAX) found = false;
        break;
    }
    }
    if (!found) return;
    /* kept in out until the chunk is appended: the arena is the appending thread's */
    uint8_t *a = out->min, *b = out->max;
    memcpy(a, smn ? smn : mn, lmn);
    memcpy(b, smx ? smx : mx, lmx);
    st->has_min_max = true;
    st->min = a;
    st->min_len = lmn;
    st->max = b;
    st->max_len = lmx;
}

/* Encodes leaf L of the row group into out (offsets counted from the chunk's start). */
static int encode_chunk(const CnPqWriter *w, WScratch *ws, const WLeaf *L, const CnVec *top, WOut *out, CnErr *err) {
    Chunk c;
    CnPqChunk *meta = &out->meta;
    cn_buf_reset(&out->bytes);
    ChunkOut co = {0, -1, -1, 0, 0};
    int rc = prepare(w, ws, L, top, &c, err);
    if (rc < 0) return rc;
    bool use_dict = false;
    rc = try_dict(w, ws, &c, &use_dict, err);
    if (rc < 0) return rc;
    const ValSrc *vs = &c.vs;
    int enc = CN_PQ_ENC_PLAIN;
    if (use_dict) enc = CN_PQ_ENC_RLE_DICT;
    else if (vs->wp == 0) enc = w->o.bytes_encoding;
    else if (L->physical == CN_PQ_INT32 || L->physical == CN_PQ_INT64) enc = w->o.int_encoding;
    int dict_bw = use_dict ? CN_MAX(1, cn_pq__bit_width(c.n_dict - 1)) : 0;
    uint32_t encodings = (1u << CN_PQ_ENC_RLE) | (1u << enc);
    if (use_dict) {
        encodings |= 1u << CN_PQ_ENC_PLAIN;
        cn_buf_reset(&ws->page);
        plain_encode(&ws->page, vs, 0, c.n_dict, c.first);
        CnPqPageHdr h = {0};
        h.type = CN_PQ__PAGE_DICT;
        h.n_values = (int32_t)c.n_dict;
        h.encoding = CN_PQ_ENC_PLAIN;
        co.dict_off = (int64_t)out->bytes.len;
        rc = emit_page(w, ws, out, &h, 0, &co, err);
        if (rc < 0) return rc;
    }
    /* pages: about page_bytes of values each, cut at row starts */
    uint64_t est_bytes = vs->wp ? (uint64_t)vs->wp : 4;
    if (!vs->wp && vs->n) est_bytes += (vs->vv->offsets[vs->vv->n]) / vs->n;
    if (use_dict) est_bytes = (uint64_t)(dict_bw + 7) / 8 + 1;
    uint32_t per_page = (uint32_t)CN_MAX(UINT64_C(1), CN_MIN((uint64_t)w->o.page_bytes / est_bytes, UINT64_C(1) << 24));
    uint32_t l0 = 0, v0 = 0;
    co.data_off = (int64_t)out->bytes.len;
    int64_t null_count = 0;
    do {
        uint32_t l1 = c.n_levels - l0 > per_page ? l0 + per_page : c.n_levels;
        if (c.rep)
            while (l1 < c.n_levels && c.rep[l1] != 0) l1++;
        uint32_t nv = 0, rows = 0;
        if (l0 == 0 && l1 == c.n_levels) { /* one page: every dense value, every row */
            nv = vs->n;
            rows = top->n;
        } else {
            if (c.def) {
                for (uint32_t j = l0; j < l1; j++) nv += c.def[j] == L->max_def;
            } else {
                nv = l1 - l0;
            }
            if (c.rep) {
                for (uint32_t j = l0; j < l1; j++) rows += c.rep[j] == 0;
            } else {
                rows = l1 - l0;
            }
        }
        uint32_t v1 = v0 + nv;
        cn_buf_reset(&ws->page);
        bool v2 = w->o.page_version == 2;
        size_t rep_len = 0, def_len = 0;
        if (c.rep) {
            size_t at = ws->page.len;
            levels_rle(&ws->page, c.rep + l0, l1 - l0, L->max_rep, !v2);
            rep_len = ws->page.len - at;
        }
        if (c.def) {
            size_t at = ws->page.len;
            levels_rle(&ws->page, c.def + l0, l1 - l0, L->max_def, !v2);
            def_len = ws->page.len - at;
        }
        if (use_dict) {
            cn_buf_putc(&ws->page, (char)dict_bw);
            cn_pq__rle_encode_u32(&ws->page, c.ids + v0, nv, dict_bw);
        } else if (enc == CN_PQ_ENC_PLAIN) {
            plain_encode(&ws->page, vs, v0, v1, NULL);
        } else if (delta_encode_values(ws, &ws->page, vs, v0, v1, enc) < 0) {
            return cn_err_set(err, CN_ENOMEM, "out of memory");
        }
        CnPqPageHdr h = {0};
        h.type = v2 ? CN_PQ__PAGE_DATA_V2 : CN_PQ__PAGE_DATA;
        h.n_values = (int32_t)(l1 - l0);
        h.encoding = enc;
        h.n_nulls = (int32_t)(l1 - l0 - nv);
        h.n_rows = (int32_t)rows;
        h.rep_len = (int32_t)rep_len;
        h.def_len = (int32_t)def_len;
        h.is_compressed = w->o.codec != CN_PQ_CODEC_UNCOMPRESSED;
        null_count += l1 - l0 - nv;
        rc = emit_page(w, ws, out, &h, v2 ? rep_len + def_len : 0, &co, err);
        if (rc < 0) return rc;
        l0 = l1;
        v0 = v1;
    } while (l0 < c.n_levels);
    memset(meta, 0, sizeof *meta);
    meta->codec = w->o.codec;
    meta->n_values = c.n_levels;
    meta->data_page_offset = co.data_off;
    meta->dict_page_offset = co.dict_off;
    meta->compressed_len = co.comp;
    meta->uncompressed_len = co.uncomp;
    meta->encodings = encodings;
    if (w->o.statistics) {
        meta->stats.has_null_count = true;
        meta->stats.null_count = null_count;
        compute_stats(w, L, &c, out, &meta->stats);
    }
    return 0;
}

/* Rows x leaves below which a row group is encoded on the caller alone when the thread
 * count is left to the writer: starting threads costs more than such a group's encoding. */
#define ENC_PAR_MIN 131072u

/* Leaves of a row group shared among encoding threads, costliest first so that the
 * longest chunk does not start last. */
typedef struct EncJob {
    const CnPqWriter *w;
    const CnBatch *b;
    const uint32_t *order;
    atomic_uint next;
} EncJob;

static void enc_thread(void *ud, uint32_t t) {
    EncJob *j = ud;
    const CnPqWriter *w = j->w;
    for (;;) {
        uint32_t k = atomic_fetch_add(&j->next, 1);
        if (k >= w->n_leaves) return;
        uint32_t i = j->order[k];
        const WLeaf *L = &w->leaves[i];
        WOut *out = &w->ec->outs[i];
        cn_err_clear(&out->err);
        out->rc = encode_chunk(w, &w->ec->scr[t], L, &j->b->cols[L->i_field], out, &out->err);
    }
}

/* Level entries plus a share for string bytes: the relative cost of encoding leaf L. */
static uint64_t leaf_cost(const WLeaf *L, const CnVec *top) {
    const CnVec *v = top;
    for (uint32_t k = 0; k < L->depth; k++) v = &v->child[L->child[k]];
    uint64_t c = (uint64_t)top->n + v->n;
    if (L->physical == CN_PQ_BYTE_ARRAY && v->n) c += v->offsets[v->n] / 8;
    return c;
}

/* Encoding threads for b: opts.threads when set, else the pool's count for a row group
 * big enough to share; never more than the leaves. */
static uint32_t enc_threads(const CnPqWriter *w, const CnBatch *b) {
    uint32_t n = w->o.threads;
    if (!n) n = (uint64_t)b->n_rows * w->n_leaves >= ENC_PAR_MIN ? cn_pool_threads() : 1;
    return CN_MAX(1u, CN_MIN(n, w->n_leaves));
}

/* Moves the encoded chunk out (leaf i) to the end of the file as chunk meta. */
static int append_chunk(CnPqWriter *w, uint32_t i, WOut *out, CnPqChunk *meta, CnErr *err) {
    if (out->rc < 0) {
        *err = out->err;
        return cn_err_ctx(err, out->rc, "%s: column \"%s\", row group %u", w->path, w->leaves[i].path, w->n_rgs);
    }
    *meta = out->meta;
    meta->data_page_offset += (int64_t)w->off;
    if (meta->dict_page_offset >= 0) meta->dict_page_offset += (int64_t)w->off;
    CnPqStats *st = &meta->stats;
    if (st->has_min_max) {
        uint8_t *a = cn_arena_alloc(&w->arena, st->min_len + 1), *b = cn_arena_alloc(&w->arena, st->max_len + 1);
        if (!a || !b) return cn_err_set(err, CN_ENOMEM, "out of memory");
        memcpy(a, out->min, st->min_len);
        memcpy(b, out->max, st->max_len);
        st->min = a;
        st->max = b;
    }
    return fwrite_bytes(w, out->bytes.data, out->bytes.len, err);
}

/* Writes b's rows (no selection) as the next row group: each leaf's chunk is encoded
 * (on several threads when it pays) and the chunks are appended in leaf order. */
static int flush_batch(CnPqWriter *w, const CnBatch *b, CnErr *err) {
    if (b->n_rows == 0) return 0;
    if (w->n_rgs == w->cap_rgs) {
        uint32_t cap = w->cap_rgs ? w->cap_rgs * 2 : 8;
        CnPqRowGroup *r = cn_arena_alloc(&w->arena, cap * sizeof *r);
        if (!r) return cn_err_set(err, CN_ENOMEM, "out of memory");
        if (w->n_rgs) memcpy(r, w->rgs, w->n_rgs * sizeof *r);
        w->rgs = r;
        w->cap_rgs = cap;
    }
    CnPqChunk *chunks = cn_arena_calloc(&w->arena, (w->n_leaves + 1) * sizeof *chunks);
    if (!chunks) return cn_err_set(err, CN_ENOMEM, "out of memory");
    uint32_t nt = enc_threads(w, b);
    CnPqEncCache *ec = w->ec;
    if (nt > ec->n_scr) {
        WScratch *x = cn_realloc(ec->scr, nt * sizeof *x);
        if (!x) return cn_err_set(err, CN_ENOMEM, "out of memory");
        memset(x + ec->n_scr, 0, (nt - ec->n_scr) * sizeof *x);
        ec->scr = x;
        ec->n_scr = nt;
    }
    if (ec->n_outs < w->n_leaves) {
        WOut *o = cn_realloc(ec->outs, w->n_leaves * sizeof *o);
        if (!o) return cn_err_set(err, CN_ENOMEM, "out of memory");
        memset(o + ec->n_outs, 0, (w->n_leaves - ec->n_outs) * sizeof *o);
        ec->outs = o;
        ec->n_outs = w->n_leaves;
    }
    CnPqRowGroup *rg = &w->rgs[w->n_rgs];
    rg->n_rows = b->n_rows;
    rg->file_offset = (int64_t)w->off;
    rg->total_byte_size = 0;
    if (nt == 1) { /* one chunk buffered at a time */
        for (uint32_t i = 0; i < w->n_leaves; i++) {
            const WLeaf *L = &w->leaves[i];
            WOut *out = &ec->outs[0];
            cn_err_clear(&out->err);
            out->rc = encode_chunk(w, &ec->scr[0], L, &b->cols[L->i_field], out, &out->err);
            int rc = append_chunk(w, i, out, &chunks[i], err);
            if (rc < 0) return rc;
            rg->total_byte_size += chunks[i].uncompressed_len;
        }
    } else {
        uint32_t *order = cn_malloc(((size_t)w->n_leaves + 1) * sizeof *order);
        uint64_t *cost = cn_malloc(((size_t)w->n_leaves + 1) * sizeof *cost);
        if (!order || !cost) {
            cn_free(order);
            cn_free(cost);
            return cn_err_set(err, CN_ENOMEM, "out of memory");
        }
        for (uint32_t i = 0; i < w->n_leaves; i++) { /* insertion sort: a handful of leaves */
            uint64_t c = leaf_cost(&w->leaves[i], &b->cols[w->leaves[i].i_field]);
            uint32_t k = i;
            for (; k > 0 && cost[k - 1] < c; k--) {
                cost[k] = cost[k - 1];
                order[k] = order[k - 1];
            }
            cost[k] = c;
            order[k] = i;
        }
        EncJob job = {w, b, order, 0};
        cn_pool_run(nt, enc_thread, &job);
        cn_free(order);
        cn_free(cost);
        for (uint32_t i = 0; i < w->n_leaves; i++) {
            int rc = append_chunk(w, i, &ec->outs[i], &chunks[i], err);
            if (rc < 0) return rc;
            rg->total_byte_size += chunks[i].uncompressed_len;
        }
    }
    rg->chunks = chunks;
    w->n_rgs++;
    w->n_rows += b->n_rows;
    return 0;
}

static int flush_row_group(CnPqWriter *w, CnErr *err) {
    int rc = flush_batch(w, w->rg, err);
    if (rc == 0) cn_col_batch_reset(w->rg);
    return rc;
}

static int sticky(CnPqWriter *w, int rc, const CnErr *e, CnErr *err) {
    if (rc < 0 && !w->sticky) {
        w->sticky = rc;
        w->sticky_err = *e;
    }
    if (rc < 0 && err && !err->code) *err = w->sticky_err;
    return rc;
}

/* Nulls in a required child slot of a nested vector (searched depth first); *what names
 * the slot. 0 when there are none. */
static uint32_t required_nulls(const CnType *t, const CnVec *v, const char **what) {
    for (uint32_t k = 0; k < t->n_children && k < v->n_child; k++) {
        const CnField *f = &t->children[k];
        if (!f->nullable && v->child[k].n_null) {
            *what = f->name;
            return v->child[k].n_null;
        }
        if (cn_col_type_is_nested(f->type->id)) {
            uint32_t n = required_nulls(f->type, &v->child[k], what);
            if (n) return n;
        }
    }
    return 0;
}

/* The checks of a batch to write: columns, types, required values. */
static int check_batch(CnPqWriter *w, const CnBatch *b, CnErr *err) {
    CnErr e = CN_ERR_INIT;
    if (w->sticky) return sticky(w, w->sticky, &w->sticky_err, err);
    if (w->finished) return cn_err_set(err, CN_EINVAL, "%s: write after finish", w->path);
    int rc = 0;
    if (b->n_cols != w->schema->n_fields) {
        rc = cn_err_set(&e, CN_ETYPE, "%s: batch has %u columns, the file schema has %u", w->path, b->n_cols,
                        w->schema->n_fields);
        return sticky(w, rc, &e, err);
    }
    for (uint32_t c = 0; c < b->n_cols; c++) {
        if (!cn_col_type_equal(b->cols[c].type, w->schema->fields[c].type)) {
            char x[128], y[128];
            rc = cn_err_set(&e, CN_ETYPE, "%s: column \"%s\" is %s in the file schema, the batch has %s", w->path,
                            w->schema->fields[c].name, cn_col_type_name(w->schema->fields[c].type, x, sizeof x),
                            cn_col_type_name(b->cols[c].type, y, sizeof y));
            return sticky(w, rc, &e, err);
        }
        if (!w->schema->fields[c].nullable && b->cols[c].n_null) {
            rc = cn_err_set(&e, CN_EINVAL, "%s: column \"%s\" is required but the batch has %u nulls", w->path,
                            w->schema->fields[c].name, b->cols[c].n_null);
            return sticky(w, rc, &e, err);
        }
        /* required list elements, map keys and values (at any depth): a null would not
         * fit the levels */
        const char *what = NULL;
        uint32_t nulls = required_nulls(w->schema->fields[c].type, &b->cols[c], &what);
        if (nulls) {
            rc = cn_err_set(&e, CN_EINVAL, "%s: column \"%s\": %s is required but the batch has %u nulls", w->path,
                            w->schema->fields[c].name, what, nulls);
            return sticky(w, rc, &e, err);
        }
    }
    return 0;
}

int cn_pq_writer_write_whole(CnPqWriter *w, const CnBatch *b, CnErr *err) {
    if (b->sel || w->rg->n_rows || !b->n_rows || b->n_rows > w->o.row_group_rows) return cn_pq_writer_write(w, b, err);
    int rc = check_batch(w, b, err);
    if (rc) return rc;
    CnErr e = CN_ERR_INIT;
    rc = flush_batch(w, b, &e); /* straight from the caller's vectors: no copy into w->rg */
    return sticky(w, rc, &e, err);
}

/* Appends rows [start, start + k) of b to dst (same column types, checked by
 * check_batch): a table write's partition is often one run of the caller's rows. */
static int append_run(const char *path, CnBatch *dst, const CnBatch *b, uint32_t start, uint32_t k, CnErr *err) {
    for (uint32_t c = 0; c < dst->n_cols; c++)
        if (cn_col_vec_append_range(&dst->cols[c], &b->cols[c], start, k) < 0)
            return cn_err_set(err, CN_ENOMEM, "%s: out of memory", path);
    return cn_col_batch_sync_rows(dst, err);
}

int cn_pq_writer_write(CnPqWriter *w, const CnBatch *b, CnErr *err) {
    int rc = check_batch(w, b, err);
    if (rc) return rc;
    CnErr e = CN_ERR_INIT;
    uint32_t n = b->sel ? b->n_sel : b->n_rows, done = 0;
    while (done < n) {
        uint32_t room = w->o.row_group_rows - w->rg->n_rows;
        uint32_t k = CN_MIN(room, n - done);
        if (grow(&w->sel, (size_t)k * 4 + 4) < 0) {
            rc = cn_err_set(&e, CN_ENOMEM, "%s: out of memory", w->path);
            break;
        }
        uint32_t *sel = w->sel.p;
        bool run = true; /* rows [sel[0], sel[0] + k) in order: copied as ranges, not row by row */
        for (uint32_t i = 0; i < k; i++) {
            sel[i] = b->sel ? b->sel[done + i] : done + i;
            run = run && sel[i] == sel[0] + i;
        }
        if (!b->sel && done == 0 && k == n) {
            rc = cn_col_batch_append_rows(w->rg, b, NULL, 0, &e);
        } else if (run && k) {
            rc = append_run(w->path, w->rg, b, sel[0], k, &e);
        } else {
            rc = cn_col_batch_append_rows(w->rg, b, sel, k, &e);
        }
        if (rc < 0) break;
        done += k;
        if (w->rg->n_rows >= w->o.row_group_rows) {
            rc = flush_row_group(w, &e);
            if (rc < 0) break;
        }
    }
    return sticky(w, rc, &e, err);
}

/* ------------------------------------------------------------- footer */

static void put_logical_leaf(CnPqTOut *o, const CnType *t, bool micros) {
    int conv = -1;
    switch (t->id) {
    case CN_COL_STRING: conv = CN_PQ__CT_UTF8; break;
    case CN_COL_DATE: conv = CN_PQ__CT_DATE; break;
    case CN_COL_TIMESTAMP: conv = micros ? CN_PQ__CT_TIMESTAMP_MICROS : CN_PQ__CT_TIMESTAMP_MILLIS; break;
    default: break;
    }
    if (conv >= 0) cn_pq__t_put_i32(o, 6, conv);
}

static void put_logical_struct(CnPqTOut *o, const CnType *t, bool micros) {
    if (t->id != CN_COL_STRING && t->id != CN_COL_DATE && t->id != CN_COL_TIMESTAMP) return;
    cn_pq__t_field_hdr(o, CN_PQ__T_STRUCT, 10);
    cn_pq__t_struct_begin(o);
    int16_t member = t->id == CN_COL_STRING ? CN_PQ__LT_STRING : t->id == CN_COL_DATE ? CN_PQ__LT_DATE : CN_PQ__LT_TIMESTAMP;
    cn_pq__t_field_hdr(o, CN_PQ__T_STRUCT, member);
    cn_pq__t_struct_begin(o);
    if (t->id == CN_COL_TIMESTAMP) {
        /* epoch milliseconds are instants: isAdjustedToUTC = true */
        cn_pq__t_put_bool(o, 1, true);
        cn_pq__t_field_hdr(o, CN_PQ__T_STRUCT, 2);
        cn_pq__t_struct_begin(o);
        cn_pq__t_field_hdr(o, CN_PQ__T_STRUCT, micros ? 2 : 1);
        cn_pq__t_struct_begin(o);
        cn_pq__t_struct_end(o);
        cn_pq__t_struct_end(o);
    }
    cn_pq__t_struct_end(o);
    cn_pq__t_struct_end(o);
}

static void put_schema_leaf(CnPqTOut *o, const char *name, const CnType *t, int repetition, int32_t field_id,
                            bool micros) {
    cn_pq__t_struct_begin(o);
    cn_pq__t_put_i32(o, 1, physical_of(t->id));
    cn_pq__t_put_i32(o, 3, repetition);
    cn_pq__t_put_binary(o, 4, name, strlen(name));
    put_logical_leaf(o, t, micros);
    if (field_id != CN_COL_NO_ID) cn_pq__t_put_i32(o, 9, field_id);
    put_logical_struct(o, t, micros);
    cn_pq__t_struct_end(o);
}

static void put_schema_group(CnPqTOut *o, const char *name, int repetition, int32_t n_children, int converted,
                             int logical, int32_t field_id) {
    cn_pq__t_struct_begin(o);
    if (repetition >= 0) cn_pq__t_put_i32(o, 3, repetition);
    cn_pq__t_put_binary(o, 4, name, strlen(name));
    cn_pq__t_put_i32(o, 5, n_children);
    if (converted >= 0) cn_pq__t_put_i32(o, 6, converted);
    if (field_id != CN_COL_NO_ID) cn_pq__t_put_i32(o, 9, field_id);
    if (logical) {
        cn_pq__t_field_hdr(o, CN_PQ__T_STRUCT, 10);
        cn_pq__t_struct_begin(o);
        cn_pq__t_field_hdr(o, CN_PQ__T_STRUCT, (int16_t)logical);
        cn_pq__t_struct_begin(o);
        cn_pq__t_struct_end(o);
        cn_pq__t_struct_end(o);
    }
    cn_pq__t_struct_end(o);
}

/* Schema elements written for a type: a list is its group, the repeated "list" group
 * and the element; a map its group, "key_value", the key and the value. */
static uint32_t count_elements(const CnType *t) {
    if (t->id == CN_COL_LIST) return 2 + count_elements(t->children[0].type);
    if (t->id == CN_COL_MAP) return 3 + count_elements(t->children[1].type);
    return 1;
}

static void put_schema_type(CnPqTOut *o, const char *name, const CnType *t, int repetition, int32_t field_id,
                            bool micros) {
    if (t->id == CN_COL_LIST) {
        const CnField *e = &t->children[0];
        put_schema_group(o, name, repetition, 1, CN_PQ__CT_LIST, CN_PQ__LT_LIST, field_id);
        put_schema_group(o, "list", CN_PQ__REPEATED, 1, -1, 0, CN_COL_NO_ID);
        put_schema_type(o, "element", e->type, e->nullable ? CN_PQ__OPTIONAL : CN_PQ__REQUIRED, e->field_id, micros);
    } else if (t->id == CN_COL_MAP) {
        const CnField *k = &t->children[0], *v = &t->children[1];
        put_schema_group(o, name, repetition, 1, CN_PQ__CT_MAP, CN_PQ__LT_MAP, field_id);
        put_schema_group(o, "key_value", CN_PQ__REPEATED, 2, -1, 0, CN_COL_NO_ID);
        put_schema_leaf(o, "key", k->type, CN_PQ__REQUIRED, k->field_id, micros);
        put_schema_type(o, "value", v->type, v->nullable ? CN_PQ__OPTIONAL : CN_PQ__REQUIRED, v->field_id, micros);
    } else {
        put_schema_leaf(o, name, t, repetition, field_id, micros);
    }
}

static void encode_footer(CnPqWriter *w, CnBuf *b) {
    CnPqTOut o = {b, {0}, 0};
    const CnSchema *s = w->schema;
    bool micros = w->o.timestamp_micros;
    cn_pq__t_struct_begin(&o);
    cn_pq__t_put_i32(&o, 1, w->o.page_version == 2 ? 2 : 1);
    uint32_t n_el = 1;
    for (uint32_t i = 0; i < s->n_fields; i++) n_el += count_elements(s->fields[i].type);
    cn_pq__t_put_list_hdr(&o, 2, CN_PQ__T_STRUCT, n_el);
    put_schema_group(&o, "schema", -1, (int32_t)s->n_fields, -1, 0, CN_COL_NO_ID);
    for (uint32_t i = 0; i < s->n_fields; i++) {
        const CnField *f = &s->fields[i];
        put_schema_type(&o, f->name, f->type, f->nullable ? CN_PQ__OPTIONAL : CN_PQ__REQUIRED, f->field_id, micros);
    }
    cn_pq__t_put_i64(&o, 3, w->n_rows);
    cn_pq__t_put_list_hdr(&o, 4, CN_PQ__T_STRUCT, w->n_rgs);
    for (uint32_t g = 0; g < w->n_rgs; g++) {
        const CnPqRowGroup *rg = &w->rgs[g];
        int64_t total_comp = 0;
        cn_pq__t_struct_begin(&o);
        cn_pq__t_put_list_hdr(&o, 1, CN_PQ__T_STRUCT, w->n_leaves);
        for (uint32_t i = 0; i < w->n_leaves; i++) {
            const CnPqChunk *c = &rg->chunks[i];
            const WLeaf *L = &w->leaves[i];
            total_comp += c->compressed_len;
            cn_pq__t_struct_begin(&o);
            cn_pq__t_put_i64(&o, 2, c->dict_page_offset >= 0 ? c->dict_page_offset : c->data_page_offset);
            cn_pq__t_field_hdr(&o, CN_PQ__T_STRUCT, 3);
            cn_pq__t_struct_begin(&o);
            cn_pq__t_put_i32(&o, 1, L->physical);
            uint32_t ne = (uint32_t)__builtin_popcount(c->encodings);
            cn_pq__t_put_list_hdr(&o, 2, CN_PQ__T_I32, ne);
            for (int e = 0; e < 32; e++)
                if (c->encodings & (1u << e)) cn_pq__t_put_elem_i32(&o, e);
            cn_pq__t_put_list_hdr(&o, 3, CN_PQ__T_BINARY, L->n_names);
            for (uint32_t k = 0; k < L->n_names; k++) cn_pq__t_put_elem_binary(&o, L->names[k], strlen(L->names[k]));
            cn_pq__t_put_i32(&o, 4, c->codec);
            cn_pq__t_put_i64(&o, 5, c->n_values);
            cn_pq__t_put_i64(&o, 6, c->uncompressed_len);
            cn_pq__t_put_i64(&o, 7, c->compressed_len);
            cn_pq__t_put_i64(&o, 9, c->data_page_offset);
            if (c->dict_page_offset >= 0) cn_pq__t_put_i64(&o, 11, c->dict_page_offset);
            if (c->stats.has_null_count || c->stats.has_min_max) {
                cn_pq__t_field_hdr(&o, CN_PQ__T_STRUCT, 12);
                cn_pq__t_struct_begin(&o);
                if (c->stats.has_null_count) cn_pq__t_put_i64(&o, 3, c->stats.null_count);
                if (c->stats.has_min_max) {
                    cn_pq__t_put_binary(&o, 5, c->stats.max, c->stats.max_len);
                    cn_pq__t_put_binary(&o, 6, c->stats.min, c->stats.min_len);
                }
                cn_pq__t_struct_end(&o);
            }
            cn_pq__t_struct_end(&o);
            cn_pq__t_struct_end(&o);
        }
        cn_pq__t_put_i64(&o, 2, rg->total_byte_size);
        cn_pq__t_put_i64(&o, 3, rg->n_rows);
        cn_pq__t_put_i64(&o, 5, rg->file_offset);
        cn_pq__t_put_i64(&o, 6, total_comp);
        cn_pq__t_struct_end(&o);
    }
    if (w->n_kv) {
        cn_pq__t_put_list_hdr(&o, 5, CN_PQ__T_STRUCT, w->n_kv);
        for (uint32_t i = 0; i < w->n_kv; i++) {
            cn_pq__t_struct_begin(&o);
            cn_pq__t_put_binary(&o, 1, w->kv[i].key, strlen(w->kv[i].key));
            if (w->kv[i].value) cn_pq__t_put_binary(&o, 2, w->kv[i].value, strlen(w->kv[i].value));
            cn_pq__t_struct_end(&o);
        }
    }
    cn_pq__t_put_binary(&o, 6, w->o.created_by, strlen(w->o.created_by));
    /* column orders tell readers that min_value/max_value use the type's own order */
    cn_pq__t_put_list_hdr(&o, 7, CN_PQ__T_STRUCT, w->n_leaves);
    for (uint32_t i = 0; i < w->n_leaves; i++) {
        cn_pq__t_struct_begin(&o);
        cn_pq__t_field_hdr(&o, CN_PQ__T_STRUCT, 1);
        cn_pq__t_struct_begin(&o);
        cn_pq__t_struct_end(&o);
        cn_pq__t_struct_end(&o);
    }
    cn_pq__t_struct_end(&o);
}

int cn_pq_writer_finish(CnPqWriter *w, CnErr *err) {
    CnErr e = CN_ERR_INIT;
    if (w->finished) return 0;
    if (w->sticky) return sticky(w, w->sticky, &w->sticky_err, err);
    int rc = flush_row_group(w, &e);
    CnBuf foot = CN_BUF_INIT;
    if (rc < 0) goto done;
    encode_footer(w, &foot);
    if (foot.oom || foot.len > UINT32_MAX) {
        rc = cn_err_set(&e, CN_ENOMEM, "%s: out of memory writing the footer", w->path);
        goto done;
    }
    uint32_t flen = (uint32_t)foot.len;
    rc = fwrite_bytes(w, foot.data, foot.len, &e);
    if (rc == 0) rc = fwrite_bytes(w, &flen, 4, &e);
    if (rc == 0) rc = fwrite_bytes(w, "PAR1", 4, &e);
    if (rc == 0) rc = fbuf_flush(w, &e);
    if (rc < 0) goto done;
    if (w->o.defer_sync) {
        cn_fs_start_writeback(w->fd, w->flushed, w->written - w->flushed);
    } else if (fsync(w->fd) < 0) {
        int en = errno;
        rc = cn_err_set(&e, -en, "%s: fsync failed: %s", w->tmp, strerror(en));
        goto done;
    }
    int fd = w->fd;
    w->fd = -1;
    if (close(fd) < 0) {
        int en = errno;
        rc = cn_err_set(&e, -en, "%s: close failed: %s", w->tmp, strerror(en));
        goto done;
    }
    if (rename(w->tmp, w->path) < 0) {
        int en = errno;
        rc = cn_err_set(&e, -en, "%s: cannot rename into place: %s", w->path, strerror(en));
        goto done;
    }
    if (!w->o.defer_sync) (void)cn_fs_sync_dir_of(w->path, NULL); /* durability only: the file is complete */
    w->finished = true;
    /* public metadata */
    w->pub_leaves = cn_arena_calloc(&w->arena, (w->n_leaves + 1) * sizeof *w->pub_leaves);
    if (w->pub_leaves)
        for (uint32_t i = 0; i < w->n_leaves; i++) {
            const WLeaf *L = &w->leaves[i];
            w->pub_leaves[i] = (CnPqLeaf){L->path, L->i_field, L->field_id, L->physical, 0, L->max_def, L->max_rep, L->vtype};
        }
    w->meta = (CnPqMeta){w->o.page_version == 2 ? 2 : 1, w->n_rows, w->o.created_by, w->off, w->n_leaves,
                         w->pub_leaves, w->n_rgs, w->rgs, w->n_kv, w->kv};
done:
    cn_buf_fini(&foot);
    if (rc < 0) {
        if (w->fd >= 0) {
            close(w->fd);
            w->fd = -1;
        }
        unlink(w->tmp);
    }
    return sticky(w, rc, &e, err);
}

const CnPqMeta *cn_pq_writer_meta(const CnPqWriter *w) { return w->finished ? &w->meta : NULL; }

static void enc_cache_fini(CnPqEncCache *ec) {
    for (uint32_t t = 0; t < ec->n_scr; t++) {
        WScratch *ws = &ec->scr[t];
        cn_buf_fini(&ws->page);
        cn_buf_fini(&ws->comp);
        cn_buf_fini(&ws->lvl);
        Grow *gs[] = {&ws->def, &ws->rep, &ws->dense, &ws->idx, &ws->ids, &ws->slots, &ws->first, &ws->tmp64};
        for (size_t i = 0; i < CN_ARRAY_LEN(gs); i++) grow_free(gs[i]);
        ZSTD_freeCCtx(ws->zc);
    }
    cn_free(ec->scr);
    for (uint32_t i = 0; i < ec->n_outs; i++) cn_buf_fini(&ec->outs[i].bytes);
    cn_free(ec->outs);
    memset(ec, 0, sizeof *ec);
}

int cn_pq_enc_cache_new(CnPqEncCache **out, CnErr *err) {
    *out = cn_calloc(1, sizeof **out);
    return *out ? 0 : cn_err_set(err, CN_ENOMEM, "out of memory");
}

void cn_pq_enc_cache_free(CnPqEncCache *ec) {
    if (!ec) return;
    enc_cache_fini(ec);
    cn_free(ec);
}

void cn_pq_writer_free(CnPqWriter *w) {
    if (!w) return;
    if (w->fd >= 0) close(w->fd);
    if (!w->finished && w->tmp) unlink(w->tmp);
    cn_col_batch_free(w->rg);
    cn_buf_fini(&w->fbuf);
    grow_free(&w->sel);
    enc_cache_fini(&w->own);
    cn_arena_fini(&w->arena);
    cn_free(w->tmp);
    cn_free(w->path);
    cn_free(w);
}
