/* reader.c: Parquet reader (see pq.h; the supported subset is tabled in pq_int.h).
 * A row group is decoded whole, one projected column chunk at a time, into a staging
 * batch; next() hands out slices of it (or the staging batch itself when it fits). So
 * memory is one row group of the projected columns, never the file. Values are decoded
 * densely first and then spread over their null slots backwards in place, which keeps
 * the decode loops free of per-value validity branches. */
#include "base/compat.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>

#include "base/alloc.h"
#include "base/arena.h"
#include "base/date.h"
#include "io/parquet/pq_int.h"

enum { CONV_NONE, CONV_U32_I64, CONV_TS_MICROS, CONV_TS_NANOS, CONV_INT96, CONV_FLBA };
/* FLAT, LIST, KEY and VALUE are the one-level shapes with their own fast loops; DEEP is
 * any leaf under two or more list/map levels, decoded generically (build_deep). */
enum { ROLE_FLAT, ROLE_LIST, ROLE_KEY, ROLE_VALUE, ROLE_DEEP };

typedef struct LeafX {
    int conv;
    int role;
    int16_t list_def;   /* def level at which a list/map entry exists (empty); flat: -1 */
    CnBatch *dict;      /* one-column batch holding the dictionary, lazily made */
    CnSchema *dict_schema;
    bool has_dict;
    bool list_open;     /* the last list entry can still take elements (across pages) */
    /* DEEP: the list/map nodes from the top-level vector down to the leaf vector */
    uint8_t depth;                          /* nodes above the leaf (== max_rep) */
    uint8_t build_from;                     /* nodes above this depth were built by an
                                               earlier leaf of the same field */
    bool is_key;                            /* a map key: a null is corrupt */
    uint8_t child[CN_PQ__MAX_DEPTH];        /* child vector taken below node k */
    int16_t node_def[CN_PQ__MAX_DEPTH];     /* def level at which node k's entry exists
                                               (empty); one less is a null entry */
    bool open[CN_PQ__MAX_DEPTH];            /* node k's last entry can take elements */
} LeafX;

/* A top-level field of the file: its leaves, or why it cannot be read. */
typedef struct FieldX {
    const char *name;
    uint32_t leaf0, n_leaves;
    int i_schema;            /* index in the file CnSchema, -1 when unsupported */
    const char *unsupported; /* reason, or NULL */
} FieldX;

typedef struct Scratch {
    void *p;
    size_t cap;
} Scratch;

/* A reader's decode buffers: its own, or a CnPqReadCache's lent to it. */
typedef struct Bufs {
    Scratch chunk, page, def, rep, slot, idx, tmp64, dictpage;
    ZSTD_DCtx *zd;           /* OWNED: one zstd context for every page, made on first use */
} Bufs;

/* Buffers kept from one reader to the next of a sequence (a table scan's files): the
 * decode scratch, the zstd context and the row-group batches, with the schema copy they
 * were made for. Each file would otherwise allocate them afresh and fault in every page
 * of them (megabytes per row group), which cost a scan of small files a fifth of its
 * time. */
struct CnPqReadCache {
    Bufs b;
    CnSchema *schema;        /* OWNED: the schema rg_batch and out were made for */
    CnBatch *rg_batch, *out; /* OWNED */
};

struct CnPqReader {
    char *name;
    int fd;
    const uint8_t *mem;
    uint64_t file_len;
    CnArena arena;
    CnPqFooter foot;
    CnPqMeta meta;
    CnPqLeaf *leaves;
    LeafX *lx;
    uint32_t n_leaves;
    FieldX *fx;
    uint32_t n_fx;
    CnSchema *schema;
    CnSchema *out_schema;
    uint32_t *proj;          /* out column -> FieldX index */
    bool *rg_sel;
    bool started;
    uint32_t next_rg;
    int64_t cur_rg;
    CnBatch *rg_batch;
    uint32_t rg_pos;
    CnBatch *out;
    int sticky;              /* first error of next() */
    CnErr sticky_err;
    Bufs own, *b;            /* b: own, or the cache's */
    CnPqReadCache *cache;    /* BORROWED, or NULL; rg_batch and out are its then */
    /* context for messages while decoding */
    uint32_t c_rg, c_page;
    const char *c_col;
};

static int scratch(Scratch *s, size_t n) {
    if (n <= s->cap) return 0;
    size_t cap = s->cap ? s->cap : 4096;
    while (cap < n) cap *= 2;
    void *p = cn_realloc(s->p, cap);
    if (!p) return CN_ENOMEM;
    s->p = p;
    s->cap = cap;
    return 0;
}

static void scratch_free(Scratch *s) {
    cn_free(s->p);
    s->p = NULL;
    s->cap = 0;
}

/* ------------------------------------------------------------------ I/O */

static int read_at(CnPqReader *r, uint64_t off, size_t len, Scratch *dst, const uint8_t **out,
                   CnErr *err) {
    if (off > r->file_len || len > r->file_len - off)
        return cn_err_set(err, CN_ECORRUPT, "%s: range %llu+%zu is past the end of the file (%llu bytes)",
                          r->name, (unsigned long long)off, len, (unsigned long long)r->file_len);
    if (r->mem) {
        *out = r->mem + off;
        return 0;
    }
    if (scratch(dst, len ? len : 1) < 0) return cn_err_set(err, CN_ENOMEM, "%s: out of memory", r->name);
    size_t got = 0;
    while (got < len) {
        ssize_t n = pread(r->fd, (char *)dst->p + got, len - got, (off_t)(off + got));
        if (n < 0) {
            if (errno == EINTR) continue;
            int e = errno;
            return cn_err_set(err, -e, "%s: read failed: %s", r->name, strerror(e));
        }
        if (n == 0) return cn_err_set(err, CN_ECORRUPT, "%s: file shrank while reading", r->name);
        got += (size_t)n;
    }
    *out = dst->p;
    return 0;
}

/* --------------------------------------------------------------- schema */

static int leaf_type(const CnPqSchemaEl *el, const CnType **t, int *conv, const char **why) {
    *conv = CONV_NONE;
    *t = NULL;
    int lt = el->logical, ct = el->converted;
    if (lt == CN_PQ__LT_DECIMAL || ct == CN_PQ__CT_DECIMAL) {
        *why = "DECIMAL is not supported";
        return -1;
    }
    switch (el->type) {
    case CN_PQ_BOOLEAN: *t = cn_col_type_prim(CN_COL_BOOL); return 0;
    case CN_PQ_INT32:
        if (lt == CN_PQ__LT_DATE || ct == CN_PQ__CT_DATE) {
            *t = cn_col_type_prim(CN_COL_DATE);
            return 0;
        }
        if (lt == CN_PQ__LT_TIME || ct == CN_PQ__CT_TIME_MILLIS) {
            *why = "TIME is not supported";
            return -1;
        }
        if ((lt == CN_PQ__LT_INTEGER && !el->int_signed && el->int_bits == 32) || ct == CN_PQ__CT_UINT_32) {
            *t = cn_col_type_prim(CN_COL_INT64);
            *conv = CONV_U32_I64;
            return 0;
        }
        *t = cn_col_type_prim(CN_COL_INT32);
        return 0;
    case CN_PQ_INT64:
        if ((lt == CN_PQ__LT_INTEGER && !el->int_signed) || ct == CN_PQ__CT_UINT_64) {
            *why = "unsigned 64-bit integers are not supported";
            return -1;
        }
        if (lt == CN_PQ__LT_TIME || ct == CN_PQ__CT_TIME_MICROS) {
            *why = "TIME is not supported";
            return -1;
        }
        if (lt == CN_PQ__LT_TIMESTAMP || ct == CN_PQ__CT_TIMESTAMP_MILLIS || ct == CN_PQ__CT_TIMESTAMP_MICROS) {
            int unit = lt == CN_PQ__LT_TIMESTAMP ? el->time_unit : (ct == CN_PQ__CT_TIMESTAMP_MILLIS ? 1 : 2);
            *t = cn_col_type_prim(CN_COL_TIMESTAMP);
            *conv = unit == 1 ? CONV_NONE : unit == 2 ? CONV_TS_MICROS : unit == 3 ? CONV_TS_NANOS : -1;
            if (*conv < 0) {
                *why = "TIMESTAMP without a known unit";
                return -1;
            }
            return 0;
        }
        *t = cn_col_type_prim(CN_COL_INT64);
        return 0;
    case CN_PQ_INT96:
        *t = cn_col_type_prim(CN_COL_TIMESTAMP);
        *conv = CONV_INT96;
        return 0;
    case CN_PQ_FLOAT: *t = cn_col_type_prim(CN_COL_FLOAT32); return 0;
    case CN_PQ_DOUBLE: *t = cn_col_type_prim(CN_COL_FLOAT64); return 0;
    case CN_PQ_BYTE_ARRAY:
        if (lt == CN_PQ__LT_STRING || lt == CN_PQ__LT_ENUM || lt == CN_PQ__LT_JSON || ct == CN_PQ__CT_UTF8 ||
            ct == CN_PQ__CT_ENUM || ct == CN_PQ__CT_JSON)
            *t = cn_col_type_prim(CN_COL_STRING);
        else
            *t = cn_col_type_prim(CN_COL_BINARY);
        return 0;
    case CN_PQ_FIXED_LEN_BYTE_ARRAY:
        if (lt == CN_PQ__LT_FLOAT16) {
            *why = "FLOAT16 is not supported";
            return -1;
        }
        if (el->type_length < 0) {
            *why = "FIXED_LEN_BYTE_ARRAY with a negative length";
            return -1;
        }
        *t = cn_col_type_prim(CN_COL_BINARY);
        *conv = CONV_FLBA;
        return 0;
    default: break;
    }
    *why = "unknown physical type";
    return -1;
}

/* Number of leaves under element i (i itself if primitive); advances *i past the subtree. */
static int skip_subtree(const CnPqFooter *f, uint32_t *i, uint32_t *n_leaves, int depth) {
    if (*i >= f->n_schema || depth > 64) return -1;
    const CnPqSchemaEl *el = &f->schema[(*i)++];
    if (el->n_children <= 0) {
        if (el->type < 0) return -1;
        (*n_leaves)++;
        return 0;
    }
    for (int32_t c = 0; c < el->n_children; c++)
        if (skip_subtree(f, i, n_leaves, depth + 1) < 0) return -1;
    return 0;
}

/* The path walked so far while mapping a nested field. */
typedef struct RChain {
    const char *names[2 * CN_PQ__MAX_DEPTH + 1];
    uint32_t n_names;
    uint8_t depth;
    uint8_t child[CN_PQ__MAX_DEPTH];
    int16_t node_def[CN_PQ__MAX_DEPTH];
    int16_t def;             /* definition level reached above the current node */
    bool top_is_list;
} RChain;

static const char *chain_path(CnArena *a, const RChain *ch) {
    if (ch->n_names == 1) return cn_arena_strdup(a, ch->names[0]);
    CnBuf b = CN_BUF_INIT;
    for (uint32_t k = 0; k < ch->n_names; k++) {
        if (k) cn_buf_putc(&b, '.');
        cn_buf_append(&b, ch->names[k], strlen(ch->names[k]));
    }
    const char *p = b.oom ? NULL : cn_arena_strndup(a, b.data, b.len);
    cn_buf_fini(&b);
    return p;
}

static int add_leaf(CnPqReader *r, const CnPqSchemaEl *el, const char *path, uint32_t i_field,
                    int16_t max_def, int16_t max_rep, const CnType *t, int conv, int role, int16_t list_def) {
    uint32_t k = r->n_leaves++;
    r->leaves[k] = (CnPqLeaf){path, i_field, el->field_id, el->type, el->type == CN_PQ_FIXED_LEN_BYTE_ARRAY ? el->type_length : 0,
                              max_def, max_rep, t};
    r->lx[k] = (LeafX){conv, role, list_def, NULL, NULL, false, false, 0, 0, false, {0}, {0}, {0}};
    return path ? 0 : CN_ENOMEM;
}

/* A leaf at the end of chain ch (the first leaf of its field is fx->leaf0). */
static int add_chain_leaf(CnPqReader *r, const FieldX *fx, const CnPqSchemaEl *el, const RChain *ch,
                          uint32_t i_field, bool nullable, bool is_key, const CnType *t, int conv) {
    int role = ch->depth == 0 ? ROLE_FLAT : ch->depth > 1 ? ROLE_DEEP :
               ch->child[0] == 1 ? ROLE_VALUE : ch->top_is_list ? ROLE_LIST : ROLE_KEY;
    int rc = add_leaf(r, el, chain_path(&r->arena, ch), i_field, (int16_t)(ch->def + nullable), ch->depth, t, conv,
                      role, ch->depth ? ch->node_def[0] : -1);
    if (rc < 0) return rc;
    uint32_t k = r->n_leaves - 1;
    LeafX *x = &r->lx[k];
    x->depth = ch->depth;
    x->is_key = is_key;
    memcpy(x->child, ch->child, sizeof x->child);
    memcpy(x->node_def, ch->node_def, sizeof x->node_def);
    x->build_from = 0;
    if (k > fx->leaf0) {
        /* nodes on the path shared with the previous leaf are built by it (leaves come
         * depth first, so no earlier leaf shares more) */
        const LeafX *prev = &r->lx[k - 1];
        uint32_t p = 0;
        while (p < x->depth && p < prev->depth && x->child[p] == prev->child[p]) p++;
        x->build_from = (uint8_t)(p + 1);
    }
    return 0;
}

/* Maps the schema subtree at *i (a top-level field, list element or map key/value) to a
 * type, adding its leaves. Returns 0, 1 when it is outside the subset (*why set; the
 * caller skips the subtree), < 0 for a malformed schema or OOM. */
static int map_node(CnPqReader *r, uint32_t *i, const FieldX *fx, uint32_t i_field, RChain *ch, bool is_key,
                    const CnType **t, bool *nullable, const char **why) {
    const CnPqFooter *f = &r->foot;
    CnArena *sa = &r->schema->arena;
    if (*i >= f->n_schema) return CN_ECORRUPT;
    const CnPqSchemaEl *el = &f->schema[*i];
    *nullable = el->repetition == CN_PQ__OPTIONAL;
    if (el->n_children <= 0) {
        int conv;
        (*i)++;
        if (el->type < 0) return CN_ECORRUPT;
        if (el->repetition == CN_PQ__REPEATED) {
            *why = "repeated fields inside lists or maps are not supported";
            return 1;
        }
        if (leaf_type(el, t, &conv, why) < 0) return 1;
        return add_chain_leaf(r, fx, el, ch, i_field, *nullable, is_key, *t, conv);
    }
    if (el->repetition == CN_PQ__REPEATED) {
        *why = "repeated groups are not supported";
        return 1;
    }
    bool is_list = el->converted == CN_PQ__CT_LIST || el->logical == CN_PQ__LT_LIST;
    bool is_map = el->converted == CN_PQ__CT_MAP || el->converted == CN_PQ__CT_MAP_KEY_VALUE ||
                  el->logical == CN_PQ__LT_MAP;
    if (!is_list && !is_map) {
        *why = "struct columns are not supported";
        return 1;
    }
    if (is_key) {
        *why = "map keys must be primitive";
        return 1;
    }
    if (ch->depth == CN_PQ__MAX_DEPTH) {
        *why = "too many nested list/map levels";
        return 1;
    }
    if (el->n_children != 1 || *i + 1 >= f->n_schema) {
        *why = is_list ? "a LIST group must have one repeated child" : "a MAP group must have one repeated child";
        return 1;
    }
    const CnPqSchemaEl *rep = &f->schema[*i + 1];
    if (rep->repetition != CN_PQ__REPEATED) {
        *why = "the child of a LIST/MAP group must be repeated";
        return 1;
    }
    RChain saved = *ch;
    uint8_t d = ch->depth;
    if (d == 0) ch->top_is_list = is_list;
    ch->node_def[d] = (int16_t)(ch->def + *nullable);
    ch->def = (int16_t)(ch->node_def[d] + 1);
    ch->names[ch->n_names++] = rep->name;
    ch->child[d] = 0;
    ch->depth = (uint8_t)(d + 1);
    int rc;
    if (is_list) {
        const CnType *et;
        bool enull;
        int32_t eid;
        if (rep->n_children <= 0) { /* 2-level list: the repeated field is the element */
            int conv;
            *i += 2;
            if (rep->type < 0) return CN_ECORRUPT;
            if (leaf_type(rep, &et, &conv, why) < 0) return 1;
            enull = false;
            eid = rep->field_id;
            rc = add_chain_leaf(r, fx, rep, ch, i_field, false, false, et, conv);
        } else {
            char tuple[256];
            snprintf(tuple, sizeof tuple, "%s_tuple", el->name);
            if (rep->n_children != 1 || strcmp(rep->name, "array") == 0 || strcmp(rep->name, tuple) == 0) {
                *why = "lists of structs are not supported";
                return 1;
            }
            *i += 2;
            if (*i >= f->n_schema) return CN_ECORRUPT;
            const CnPqSchemaEl *elem = &f->schema[*i];
            eid = elem->field_id;
            ch->names[ch->n_names++] = elem->name;
            rc = map_node(r, i, fx, i_field, ch, false, &et, &enull, why);
        }
        if (rc != 0) return rc;
        *t = cn_col_type_list(sa, et, enull, eid);
    } else {
        if (rep->n_children != 2 || *i + 3 >= f->n_schema) {
            *why = "a MAP must have a key and a value";
            return 1;
        }
        *i += 2;
        const CnType *kt, *vt;
        bool knull, vnull;
        const CnPqSchemaEl *key = &f->schema[*i];
        ch->names[ch->n_names++] = key->name;
        rc = map_node(r, i, fx, i_field, ch, true, &kt, &knull, why);
        if (rc != 0) return rc;
        ch->n_names--;
        if (*i >= f->n_schema) return CN_ECORRUPT;
        const CnPqSchemaEl *val = &f->schema[*i];
        ch->names[ch->n_names++] = val->name;
        ch->child[d] = 1;
        rc = map_node(r, i, fx, i_field, ch, false, &vt, &vnull, why);
        if (rc != 0) return rc;
        *t = cn_col_type_map(sa, kt, vt, vnull, key->field_id, val->field_id);
    }
    *ch = saved;
    return *t ? 0 : CN_ENOMEM;
}

/* Maps one top-level field at *i; on a field outside the subset it records why and
 * skips the subtree. Returns < 0 only for a malformed schema or OOM. */
static int map_field(CnPqReader *r, uint32_t *i, CnErr *err) {
    const CnPqFooter *f = &r->foot;
    uint32_t start = *i;
    const CnPqSchemaEl *el = &f->schema[*i];
    FieldX *fx = &r->fx[r->n_fx++];
    *fx = (FieldX){el->name, r->n_leaves, 0, -1, NULL};
    uint32_t i_field = r->schema->n_fields;
    const char *why = NULL;
    const CnType *t = NULL;
    bool nullable = el->repetition != CN_PQ__REQUIRED;
    int rc = 0;

    if (el->n_children <= 0 && el->repetition == CN_PQ__REPEATED) {
        /* legacy: a repeated primitive is a non-null list of required elements */
        int conv;
        (*i)++;
        if (el->type < 0) goto malformed;
        if (leaf_type(el, &t, &conv, &why) < 0) goto unsupported;
        rc = add_leaf(r, el, cn_arena_strdup(&r->arena, el->name), i_field, 1, 1, t, conv, ROLE_LIST, 0);
        if (rc < 0) goto oom;
        r->lx[r->n_leaves - 1].depth = 1;
        t = cn_col_type_list(&r->schema->arena, t, false, el->field_id);
        nullable = false;
        if (!t) goto oom;
    } else {
        RChain ch;
        memset(&ch, 0, sizeof ch);
        ch.names[ch.n_names++] = el->name;
        rc = map_node(r, i, fx, i_field, &ch, false, &t, &nullable, &why);
        if (rc == CN_ECORRUPT) goto malformed;
        if (rc == CN_ENOMEM) goto oom;
        if (rc > 0) goto unsupported;
        nullable = el->repetition != CN_PQ__REQUIRED;
    }
    fx->n_leaves = r->n_leaves - fx->leaf0;
    fx->i_schema = (int)i_field;
    rc = cn_col_schema_add(r->schema, el->name, t, nullable, el->field_id, err);
    if (rc == CN_EEXISTS) {
        cn_err_clear(err);
        fx->i_schema = -1;
        fx->unsupported = "duplicate column name";
        rc = 0;
    }
    return rc;
unsupported:
    *i = start;
    r->n_leaves = fx->leaf0;
    {
        uint32_t nl = 0;
        if (skip_subtree(f, i, &nl, 0) < 0) goto malformed;
        /* placeholders keep leaf indexes aligned with the column chunks */
        for (uint32_t k = 0; k < nl; k++) {
            CnPqSchemaEl dummy = *el;
            dummy.type = -1;
            if (add_leaf(r, &dummy, cn_arena_strdup(&r->arena, el->name), UINT32_MAX, 0, 0, NULL, 0, ROLE_FLAT, -1) < 0)
                goto oom;
        }
    }
    fx->n_leaves = r->n_leaves - fx->leaf0;
    fx->unsupported = why ? why : "unsupported type";
    return 0;
malformed:
    return cn_err_set(err, CN_ECORRUPT, "%s: corrupt schema at element %u (\"%s\")", r->name, start, el->name);
oom:
    return cn_err_set(err, CN_ENOMEM, "%s: out of memory", r->name);
}

static int build_schema(CnPqReader *r, CnErr *err) {
    const CnPqFooter *f = &r->foot;
    int rc = cn_col_schema_new(&r->schema);
    if (rc < 0) return cn_err_set(err, rc, "%s: out of memory", r->name);
    int32_t n_top = f->schema[0].n_children;
    if (n_top < 0 || (uint32_t)n_top > f->n_schema - 1)
        return cn_err_set(err, CN_ECORRUPT, "%s: corrupt schema: root has %d children but %u elements follow",
                          r->name, n_top, f->n_schema - 1);
    /* leaves <= elements, so these bound every array */
    r->leaves = cn_arena_calloc(&r->arena, f->n_schema * sizeof *r->leaves);
    r->lx = cn_arena_calloc(&r->arena, f->n_schema * sizeof *r->lx);
    r->fx = cn_arena_calloc(&r->arena, f->n_schema * sizeof *r->fx);
    if (!r->leaves || !r->lx || !r->fx) return cn_err_set(err, CN_ENOMEM, "%s: out of memory", r->name);
    uint32_t i = 1;
    for (int32_t k = 0; k < n_top; k++) {
        if (i >= f->n_schema)
            return cn_err_set(err, CN_ECORRUPT, "%s: corrupt schema: %u elements, root announces %d columns",
                              r->name, f->n_schema, n_top);
        rc = map_field(r, &i, err);
        if (rc < 0) return rc;
    }
    if (i != f->n_schema)
        return cn_err_set(err, CN_ECORRUPT, "%s: corrupt schema: %u elements, the tree uses %u", r->name,
                          f->n_schema, i);
    if (f->n_row_groups && f->n_cols != r->n_leaves)
        return cn_err_set(err, CN_ECORRUPT, "%s: row groups have %u column chunks, the schema has %u leaf columns",
                          r->name, f->n_cols, r->n_leaves);
    for (uint32_t g = 0; g < f->n_row_groups; g++)
        for (uint32_t c = 0; c < f->n_cols; c++) {
            int ty = f->chunk_types[(size_t)g * f->n_cols + c];
            if (r->leaves[c].type && ty != r->leaves[c].physical)
                return cn_err_set(err, CN_ECORRUPT, "%s: column \"%s\", row group %u: chunk type %s, schema says %s",
                                  r->name, r->leaves[c].path, g, cn_pq_physical_name(ty),
                                  cn_pq_physical_name(r->leaves[c].physical));
        }
    return 0;
}

/* ----------------------------------------------------------------- open */

static int open_common(CnPqReader *r, CnErr *err) {
    int rc = 0;
    const uint8_t *tail = NULL, *foot = NULL;
    Scratch tmp = {NULL, 0};
    CN_CHECK_DATA(r->file_len >= 12, err, rc, "%s: not a Parquet file: %llu bytes is too short (at least 12 expected)",
                  r->name, (unsigned long long)r->file_len);
    rc = read_at(r, 0, 4, &tmp, &tail, err);
    if (rc < 0) goto done;
    CN_CHECK_DATA(memcmp(tail, "PAR1", 4) == 0, err, rc, "%s: not a Parquet file: bad magic at offset 0 (expected PAR1)",
                  r->name);
    rc = read_at(r, r->file_len - 8, 8, &tmp, &tail, err);
    if (rc < 0) goto done;
    if (memcmp(tail + 4, "PARE", 4) == 0) {
        rc = cn_err_set(err, CN_EUNSUPPORTED, "%s: encrypted Parquet files are not supported", r->name);
        goto done;
    }
    CN_CHECK_DATA(memcmp(tail + 4, "PAR1", 4) == 0, err, rc,
                  "%s: bad magic at the end of the file (expected PAR1): truncated or not Parquet", r->name);
    uint32_t flen = (uint32_t)tail[0] | (uint32_t)tail[1] << 8 | (uint32_t)tail[2] << 16 | (uint32_t)tail[3] << 24;
    CN_CHECK_DATA((uint64_t)flen + 12 <= r->file_len, err, rc,
                  "%s: footer length %u does not fit in a file of %llu bytes", r->name, flen,
                  (unsigned long long)r->file_len);
    rc = read_at(r, r->file_len - 8 - flen, flen, &r->b->dictpage, &foot, err);
    if (rc < 0) goto done;
    /* the footer bytes must outlive decoding: statistics point into them */
    uint8_t *keep = cn_arena_alloc(&r->arena, flen ? flen : 1);
    if (!keep) {
        rc = cn_err_set(err, CN_ENOMEM, "%s: out of memory", r->name);
        goto done;
    }
    memcpy(keep, foot, flen);
    rc = cn_pq__footer_decode(keep, flen, &r->arena, &r->foot, err);
    if (rc < 0) {
        rc = cn_err_ctx(err, rc, "%s", r->name);
        goto done;
    }
    rc = build_schema(r, err);
    if (rc < 0) goto done;
    /* sanity of row groups: counts and chunk ranges, checked once here */
    int64_t total = 0;
    for (uint32_t g = 0; g < r->foot.n_row_groups; g++) {
        const CnPqRowGroup *rg = &r->foot.row_groups[g];
        CN_CHECK_DATA(rg->n_rows >= 0 && rg->n_rows <= UINT32_MAX - 1, err, rc, "%s: row group %u: %lld rows",
                      r->name, g, (long long)rg->n_rows);
        total += rg->n_rows;
        for (uint32_t c = 0; c < r->foot.n_cols; c++) {
            const CnPqChunk *ch = &rg->chunks[c];
            CN_CHECK_DATA(ch->compressed_len >= 0 && ch->data_page_offset >= 4 &&
                              (uint64_t)ch->data_page_offset <= r->file_len &&
                              (uint64_t)ch->compressed_len <= r->file_len,
                          err, rc, "%s: column \"%s\", row group %u: chunk offset %lld length %lld outside the file (%llu bytes)",
                          r->name, r->leaves[c].path, g, (long long)ch->data_page_offset,
                          (long long)ch->compressed_len, (unsigned long long)r->file_len);
        }
    }
    CN_CHECK_DATA(total == r->foot.n_rows, err, rc, "%s: footer says %lld rows, row groups hold %lld", r->name,
                  (long long)r->foot.n_rows, (long long)total);
    r->meta = (CnPqMeta){r->foot.version, r->foot.n_rows, r->foot.created_by, r->file_len, r->n_leaves,
                         r->leaves, r->foot.n_row_groups, r->foot.row_groups, r->foot.n_kv, r->foot.kv};
    r->rg_sel = cn_arena_alloc(&r->arena, r->foot.n_row_groups + 1);
    if (!r->rg_sel) {
        rc = cn_err_set(err, CN_ENOMEM, "%s: out of memory", r->name);
        goto done;
    }
    memset(r->rg_sel, 1, r->foot.n_row_groups + 1);
    r->cur_rg = -1;
done:
    scratch_free(&tmp);
    return rc;
}

static void bufs_free(Bufs *b) {
    Scratch *ss[] = {&b->chunk, &b->page, &b->def, &b->rep, &b->slot, &b->idx, &b->tmp64, &b->dictpage};
    for (size_t i = 0; i < CN_ARRAY_LEN(ss); i++) scratch_free(ss[i]);
    ZSTD_freeDCtx(b->zd);
    b->zd = NULL;
}

int cn_pq_read_cache_new(CnPqReadCache **out, CnErr *err) {
    *out = cn_calloc(1, sizeof **out);
    return *out ? 0 : cn_err_set(err, CN_ENOMEM, "Parquet read cache: out of memory");
}

void cn_pq_read_cache_free(CnPqReadCache *c) {
    if (!c) return;
    cn_col_batch_free(c->rg_batch);
    cn_col_batch_free(c->out);
    cn_col_schema_free(c->schema);
    bufs_free(&c->b);
    cn_free(c);
}

int cn_pq_reader_set_cache(CnPqReader *r, CnPqReadCache *c, CnErr *err) {
    if (r->started)
        return cn_err_set(err, CN_EINVAL, "%s: a read cache is lent before the first batch is read", r->name);
    r->cache = c;
    r->b = c ? &c->b : &r->own;
    return 0;
}

/* Whether batches made for schema a can hold rows of schema b as they are: the same
 * columns (names, types, nullability, ids) in the same order. */
static bool schema_same(const CnSchema *a, const CnSchema *b) {
    if (a->n_fields != b->n_fields) return false;
    for (uint32_t i = 0; i < a->n_fields; i++) {
        const CnField *x = &a->fields[i], *y = &b->fields[i];
        if (strcmp(x->name, y->name) || x->nullable != y->nullable || x->field_id != y->field_id ||
            !cn_col_type_equal(x->type, y->type))
            return false;
    }
    return true;
}

/* The row-group batches of a reader with schema os: the cache's when they were made
 * for the same schema, else new ones (the cache's from now on, when there is one). */
static int batches_make(CnPqReader *r, const CnSchema *os, CnErr *err) {
    CnPqReadCache *c = r->cache;
    if (!c) {
        int rc = cn_col_batch_new(os, &r->rg_batch, err);
        return rc ? rc : cn_col_batch_new(os, &r->out, err);
    }
    if (!c->schema || !schema_same(c->schema, os)) {
        cn_col_batch_free(c->rg_batch);
        cn_col_batch_free(c->out);
        cn_col_schema_free(c->schema);
        c->rg_batch = c->out = NULL;
        c->schema = NULL;
        int rc = cn_col_schema_copy(os, &c->schema, err);
        if (rc == 0) rc = cn_col_batch_new(c->schema, &c->rg_batch, err);
        if (rc == 0) rc = cn_col_batch_new(c->schema, &c->out, err);
        if (rc) return rc;
    }
    r->rg_batch = c->rg_batch;
    r->out = c->out;
    cn_col_batch_reset(r->out);
    return 0;
}

static CnPqReader *reader_alloc(const char *name) {
    CnPqReader *r = cn_calloc(1, sizeof *r);
    if (!r) return NULL;
    r->fd = -1;
    r->b = &r->own;
    cn_arena_init(&r->arena, 16384);
    r->name = cn_strdup(name);
    if (!r->name) {
        cn_free(r);
        return NULL;
    }
    return r;
}

int cn_pq_reader_open(const char *path, CnPqReader **out, CnErr *err) {
    *out = NULL;
    CnPqReader *r = reader_alloc(path);
    if (!r) return cn_err_set(err, CN_ENOMEM, "%s: out of memory", path);
    int rc = 0;
    r->fd = open(path, O_RDONLY | O_CLOEXEC);
    if (r->fd < 0) {
        int e = errno;
        rc = cn_err_set(err, -e, "%s: cannot open: %s", path, strerror(e));
        goto done;
    }
    struct stat st;
    if (fstat(r->fd, &st) < 0) {
        int e = errno;
        rc = cn_err_set(err, -e, "%s: cannot stat: %s", path, strerror(e));
        goto done;
    }
    if (!S_ISREG(st.st_mode)) {
        rc = cn_err_set(err, CN_EINVAL, "%s: not a regular file", path);
        goto done;
    }
    r->file_len = (uint64_t)st.st_size;
    rc = open_common(r, err);
done:
    if (rc < 0) {
        cn_pq_reader_close(r);
        return rc;
    }
    *out = r;
    return 0;
}

int cn_pq_reader_open_mem(const char *name, const void *data, size_t len, CnPqReader **out, CnErr *err) {
    *out = NULL;
    CnPqReader *r = reader_alloc(name);
    if (!r) return cn_err_set(err, CN_ENOMEM, "%s: out of memory", name);
    r->mem = data ? data : (const uint8_t *)"";
    r->file_len = data ? len : 0;
    int rc = open_common(r, err);
    if (rc < 0) {
        cn_pq_reader_close(r);
        return rc;
    }
    *out = r;
    return 0;
}

void cn_pq_reader_close(CnPqReader *r) {
    if (!r) return;
    if (r->fd >= 0) close(r->fd);
    for (uint32_t i = 0; i < r->n_leaves; i++) {
        cn_col_batch_free(r->lx[i].dict);
        cn_col_schema_free(r->lx[i].dict_schema);
    }
    if (!r->cache) {
        cn_col_batch_free(r->rg_batch);
        cn_col_batch_free(r->out);
    }
    if (r->out_schema != r->schema) cn_col_schema_free(r->out_schema);
    cn_col_schema_free(r->schema);
    bufs_free(&r->own);
    cn_arena_fini(&r->arena);
    cn_free(r->name);
    cn_free(r);
}

const CnSchema *cn_pq_reader_schema(const CnPqReader *r) { return r->schema; }
const CnPqMeta *cn_pq_reader_meta(const CnPqReader *r) { return &r->meta; }

const char *cn_pq_reader_kv(const CnPqReader *r, const char *key) {
    for (uint32_t i = 0; i < r->foot.n_kv; i++)
        if (strcmp(r->foot.kv[i].key, key) == 0) return r->foot.kv[i].value;
    return NULL;
}

const char *cn_pq_reader_unsupported(const CnPqReader *r, uint32_t i, const char **why) {
    for (uint32_t k = 0; k < r->n_fx; k++) {
        if (!r->fx[k].unsupported) continue;
        if (i-- == 0) {
            if (why) *why = r->fx[k].unsupported;
            return r->fx[k].name;
        }
    }
    return NULL;
}

static int find_fx(const CnPqReader *r, const char *name) {
    for (uint32_t i = 0; i < r->n_fx; i++)
        if (strcmp(r->fx[i].name, name) == 0) return (int)i;
    return -1;
}

int cn_pq_reader_project(CnPqReader *r, const char *const *names, uint32_t n_names, CnErr *err) {
    if (r->started) return cn_err_set(err, CN_EINVAL, "%s: projection after reading started", r->name);
    if (r->out_schema && r->out_schema != r->schema) cn_col_schema_free(r->out_schema);
    r->out_schema = NULL;
    if (!names || !n_names) return 0;
    for (uint32_t i = 0; i < n_names; i++) {
        int k = find_fx(r, names[i]);
        if (k >= 0 && r->fx[k].unsupported)
            return cn_err_set(err, CN_EUNSUPPORTED, "%s: column \"%s\": %s", r->name, names[i], r->fx[k].unsupported);
    }
    int rc = cn_col_schema_project(r->schema, names, n_names, &r->out_schema, err);
    return cn_err_ctx(err, rc, "%s", r->name);
}

int cn_pq_reader_skip_unsupported(CnPqReader *r, CnErr *err) {
    if (r->started) return cn_err_set(err, CN_EINVAL, "%s: projection after reading started", r->name);
    if (!cn_pq_reader_unsupported(r, 0, NULL)) return 0;
    const CnSchema *s = r->schema;
    const char **names = cn_arena_alloc(&r->arena, (s->n_fields + 1) * sizeof *names);
    if (!names) return cn_err_set(err, CN_ENOMEM, "%s: out of memory", r->name);
    for (uint32_t i = 0; i < s->n_fields; i++) names[i] = s->fields[i].name;
    if (s->n_fields == 0) {
        /* nothing readable: an empty projection still carries the row counts */
        if (r->out_schema && r->out_schema != r->schema) cn_col_schema_free(r->out_schema);
        r->out_schema = NULL;
        int rc = cn_col_schema_new(&r->out_schema);
        return rc < 0 ? cn_err_set(err, rc, "%s: out of memory", r->name) : 0;
    }
    return cn_pq_reader_project(r, names, s->n_fields, err);
}

const CnSchema *cn_pq_reader_out_schema(const CnPqReader *r) {
    return r->out_schema ? r->out_schema : r->schema;
}

/* ------------------------------------------------------------- pruning */

typedef enum { CMP_INT, CMP_FLOAT, CMP_BYTES, CMP_BOOL } CmpKind;

static int cmp_kind(CnTypeId t) {
    switch (t) {
    case CN_COL_INT32: case CN_COL_INT64: case CN_COL_DATE: case CN_COL_TIMESTAMP: return CMP_INT;
    case CN_COL_FLOAT32: case CN_COL_FLOAT64: return CMP_FLOAT;
    case CN_COL_STRING: case CN_COL_BINARY: return CMP_BYTES;
    case CN_COL_BOOL: return CMP_BOOL;
    default: return -1;
    }
}

typedef struct Bound {
    int64_t i;
    double f;
    const uint8_t *s;
    uint32_t len;
} Bound;

static void scalar_bound(const CnScalar *s, Bound *b) {
    memset(b, 0, sizeof *b);
    switch (s->type) {
    case CN_COL_INT32: case CN_COL_DATE: b->i = s->v.i32; b->f = s->v.i32; break;
    case CN_COL_INT64: case CN_COL_TIMESTAMP: b->i = s->v.i64; b->f = (double)s->v.i64; break;
    case CN_COL_FLOAT32: b->f = s->v.f32; break;
    case CN_COL_FLOAT64: b->f = s->v.f64; break;
    case CN_COL_BOOL: b->i = s->v.b; break;
    default: b->s = (const uint8_t *)s->v.s.p; b->len = s->v.s.len; break;
    }
}

static int64_t floor_div(int64_t a, int64_t b) {
    int64_t q = a / b;
    return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

/* Decodes a statistics value of leaf L; false when its length is wrong. */
static bool stat_bound(const CnPqLeaf *L, const LeafX *x, const uint8_t *p, uint32_t len, Bound *b) {
    memset(b, 0, sizeof *b);
    switch (L->physical) {
    case CN_PQ_BOOLEAN:
        if (len != 1) return false;
        b->i = p[0] != 0;
        return true;
    case CN_PQ_INT32: {
        if (len != 4) return false;
        int32_t v;
        memcpy(&v, p, 4);
        b->i = x->conv == CONV_U32_I64 ? (int64_t)(uint32_t)v : v;
        return true;
    }
    case CN_PQ_INT64: {
        if (len != 8) return false;
        int64_t v;
        memcpy(&v, p, 8);
        b->i = x->conv == CONV_TS_MICROS ? floor_div(v, 1000) : x->conv == CONV_TS_NANOS ? floor_div(v, 1000000) : v;
        return true;
    }
    case CN_PQ_FLOAT: {
        if (len != 4) return false;
        float v;
        memcpy(&v, p, 4);
        b->f = v;
        return v == v;
    }
    case CN_PQ_DOUBLE: {
        if (len != 8) return false;
        memcpy(&b->f, p, 8);
        return b->f == b->f;
    }
    case CN_PQ_BYTE_ARRAY: case CN_PQ_FIXED_LEN_BYTE_ARRAY:
        b->s = p;
        b->len = len;
        return true;
    default: return false;
    }
}

static int bound_cmp(int kind, const Bound *a, const Bound *b) {
    switch (kind) {
    case CMP_INT: case CMP_BOOL: return (a->i > b->i) - (a->i < b->i);
    case CMP_FLOAT: return (a->f > b->f) - (a->f < b->f);
    default: return cn_bytes_cmp(a->s, a->len, b->s, b->len);
    }
}

int cn_pq_reader_filter_range(CnPqReader *r, const char *column, const CnScalar *lo, const CnScalar *hi,
                              CnErr *err) {
    if (r->started) return cn_err_set(err, CN_EINVAL, "%s: filter after reading started", r->name);
    int k = find_fx(r, column);
    if (k < 0) return cn_err_set(err, CN_ENOTFOUND, "%s: no column \"%s\" to filter on", r->name, column);
    const FieldX *fx = &r->fx[k];
    if (fx->unsupported || fx->n_leaves != 1 || r->lx[fx->leaf0].role != ROLE_FLAT)
        return cn_err_set(err, CN_EINVAL, "%s: column \"%s\": range filters need a primitive column", r->name, column);
    const CnPqLeaf *L = &r->leaves[fx->leaf0];
    const LeafX *x = &r->lx[fx->leaf0];
    int kind = cmp_kind(L->type->id);
    const CnScalar *bs[2] = {lo, hi};
    for (int j = 0; j < 2; j++) {
        if (!bs[j]) continue;
        int sk = cmp_kind(bs[j]->type);
        bool ok = sk == kind || (kind == CMP_FLOAT && sk == CMP_INT);
        if (!ok || bs[j]->is_null) {
            char tn[64];
            return cn_err_set(err, CN_ETYPE, "%s: column \"%s\" is %s, filter bound is %s%s", r->name, column,
                              cn_col_type_name(L->type, tn, sizeof tn), cn_col_type_id_name(bs[j]->type),
                              bs[j]->is_null ? " null" : "");
        }
    }
    Bound blo, bhi;
    if (lo) scalar_bound(lo, &blo);
    if (hi) scalar_bound(hi, &bhi);
    if (kind == CMP_FLOAT) {
        if (lo && cmp_kind(lo->type) == CMP_INT) blo.f = (double)blo.i;
        if (hi && cmp_kind(hi->type) == CMP_INT) bhi.f = (double)bhi.i;
    }
    for (uint32_t g = 0; g < r->foot.n_row_groups; g++) {
        const CnPqRowGroup *rg = &r->foot.row_groups[g];
        const CnPqStats *st = &rg->chunks[fx->leaf0].stats;
        if (st->has_null_count && st->null_count >= rg->n_rows) {
            r->rg_sel[g] = false; /* only nulls: a range never matches */
            continue;
        }
        Bound mn, mx;
        if (!st->has_min_max || !stat_bound(L, x, st->min, st->min_len, &mn) ||
            !stat_bound(L, x, st->max, st->max_len, &mx))
            continue;
        if ((lo && bound_cmp(kind, &mx, &blo) < 0) || (hi && bound_cmp(kind, &mn, &bhi) > 0)) r->rg_sel[g] = false;
    }
    return 0;
}

int cn_pq_reader_set_row_groups(CnPqReader *r, const uint32_t *idx, uint32_t n, CnErr *err) {
    if (r->started) return cn_err_set(err, CN_EINVAL, "%s: row group choice after reading started", r->name);
    for (uint32_t i = 0; i < n; i++)
        if (idx[i] >= r->foot.n_row_groups)
            return cn_err_set(err, CN_EINVAL, "%s: row group %u does not exist (file has %u)", r->name, idx[i],
                              r->foot.n_row_groups);
    bool *want = cn_arena_calloc(&r->arena, r->foot.n_row_groups + 1);
    if (!want) return cn_err_set(err, CN_ENOMEM, "%s: out of memory", r->name);
    for (uint32_t i = 0; i < n; i++) want[idx[i]] = true;
    for (uint32_t g = 0; g < r->foot.n_row_groups; g++) r->rg_sel[g] = r->rg_sel[g] && want[g];
    return 0;
}

bool cn_pq_reader_row_group_selected(const CnPqReader *r, uint32_t i) {
    return i < r->foot.n_row_groups && r->rg_sel[i];
}

int64_t cn_pq_reader_batch_row_group(const CnPqReader *r) { return r->cur_rg; }

/* ------------------------------------------------------------- decoding */

#define FAIL(err, ...) cn_err_set((err), CN_ECORRUPT, __VA_ARGS__)

/* Appends n values encoded PLAIN to v (dense, all valid). */
static int plain_values(CnPqReader *r, const CnPqLeaf *L, const LeafX *x, const uint8_t *p, size_t len,
                        uint32_t n, CnVec *v, size_t *used, CnErr *err) {
    (void)r;
    /* The count comes from an untrusted header: check it against the bytes the values
     * need at the least before reserving room for them. */
    uint64_t min_bits = 8;
    switch (L->physical) {
    case CN_PQ_BOOLEAN: min_bits = 1; break;
    case CN_PQ_INT32: case CN_PQ_FLOAT: min_bits = 32; break;
    case CN_PQ_INT64: case CN_PQ_DOUBLE: min_bits = 64; break;
    case CN_PQ_INT96: min_bits = 96; break;
    case CN_PQ_BYTE_ARRAY: min_bits = 32; break; /* a 4-byte length each */
    case CN_PQ_FIXED_LEN_BYTE_ARRAY: min_bits = 8 * (uint64_t)(L->type_length > 0 ? L->type_length : 1); break;
    default: break;
    }
    if ((uint64_t)n * min_bits > (uint64_t)len * 8)
        return FAIL(err, "PLAIN values: page claims %u values but holds only %zu bytes", n, len);
    if (cn_col_vec_reserve(v, n) < 0) return cn_err_set(err, CN_ENOMEM, "out of memory");
    uint32_t b0 = v->n;
    switch (L->physical) {
    case CN_PQ_BOOLEAN: {
        if ((uint64_t)n > (uint64_t)len * 8) return FAIL(err, "PLAIN booleans: %u values need %u bytes, page has %zu", n, (n + 7) / 8, len);
        uint8_t *o = (uint8_t *)v->values + b0;
        for (uint32_t i = 0; i < n; i++) o[i] = (p[i >> 3] >> (i & 7)) & 1;
        *used = (n + 7) / 8;
        break;
    }
    case CN_PQ_INT32: case CN_PQ_FLOAT: {
        if ((uint64_t)n * 4 > len) return FAIL(err, "PLAIN values: %u values need %llu bytes, page has %zu", n, (unsigned long long)n * 4, len);
        if (x->conv == CONV_U32_I64) {
            int64_t *o = (int64_t *)v->values + b0;
            for (uint32_t i = 0; i < n; i++) {
                uint32_t u;
                memcpy(&u, p + 4 * (size_t)i, 4);
                o[i] = u;
            }
        } else {
            memcpy((char *)v->values + (size_t)b0 * 4, p, (size_t)n * 4);
        }
        *used = (size_t)n * 4;
        break;
    }
    case CN_PQ_INT64: case CN_PQ_DOUBLE: {
        if ((uint64_t)n * 8 > len) return FAIL(err, "PLAIN values: %u values need %llu bytes, page has %zu", n, (unsigned long long)n * 8, len);
        int64_t *o = (int64_t *)v->values + b0;
        if ((const uint8_t *)o != p) memcpy(o, p, (size_t)n * 8); /* else decompressed in place (direct_dst) */
        if (x->conv == CONV_TS_MICROS)
            for (uint32_t i = 0; i < n; i++) o[i] = floor_div(o[i], 1000);
        else if (x->conv == CONV_TS_NANOS)
            for (uint32_t i = 0; i < n; i++) o[i] = floor_div(o[i], 1000000);
        *used = (size_t)n * 8;
        break;
    }
    case CN_PQ_INT96: {
        if ((uint64_t)n * 12 > len) return FAIL(err, "PLAIN INT96: %u values need %llu bytes, page has %zu", n, (unsigned long long)n * 12, len);
        int64_t *o = (int64_t *)v->values + b0;
        for (uint32_t i = 0; i < n; i++) {
            int64_t nanos;
            int32_t jd;
            memcpy(&nanos, p + 12 * (size_t)i, 8);
            memcpy(&jd, p + 12 * (size_t)i + 8, 4);
            o[i] = ((int64_t)jd - 2440588) * CN_MS_PER_DAY + floor_div(nanos, 1000000);
        }
        *used = (size_t)n * 12;
        break;
    }
    case CN_PQ_BYTE_ARRAY: {
        size_t pos = 0, total = 0;
        for (uint32_t i = 0; i < n; i++) {
            if (len - pos < 4) return FAIL(err, "PLAIN strings: value %u of %u starts past the end of the page", i, n);
            uint32_t l;
            memcpy(&l, p + pos, 4);
            if (l > len - pos - 4) return FAIL(err, "PLAIN strings: value %u has length %u, only %zu bytes left", i, l, len - pos - 4);
            pos += 4 + (size_t)l;
            total += l;
        }
        if (total > UINT32_MAX - v->offsets[b0]) return cn_err_set(err, CN_ELIMIT, "more than 4 GiB of strings in one row group column");
        if (cn_col_vec_reserve_bytes(v, total) < 0) return cn_err_set(err, CN_ENOMEM, "out of memory");
        uint32_t *off = v->offsets + b0;
        uint8_t *dst = v->bytes + off[0];
        uint32_t o = off[0];
        pos = 0;
        for (uint32_t i = 0; i < n; i++) {
            uint32_t l;
            memcpy(&l, p + pos, 4);
            memcpy(dst, p + pos + 4, l);
            dst += l;
            o += l;
            off[i + 1] = o;
            pos += 4 + (size_t)l;
        }
        *used = pos;
        break;
    }
    case CN_PQ_FIXED_LEN_BYTE_ARRAY: {
        size_t w = (size_t)L->type_length;
        if ((uint64_t)n * w > len) return FAIL(err, "PLAIN fixed-length values: %u values of %zu bytes, page has %zu", n, w, len);
        if ((uint64_t)n * w > UINT32_MAX - v->offsets[b0]) return cn_err_set(err, CN_ELIMIT, "more than 4 GiB of values in one row group column");
        if (cn_col_vec_reserve_bytes(v, (size_t)n * w) < 0) return cn_err_set(err, CN_ENOMEM, "out of memory");
        uint32_t *off = v->offsets + b0;
        memcpy(v->bytes + off[0], p, (size_t)n * w);
        for (uint32_t i = 0; i < n; i++) off[i + 1] = off[i] + (uint32_t)w;
        *used = (size_t)n * w;
        break;
    }
    default: return cn_err_set(err, CN_EUNSUPPORTED, "physical type %d", L->physical);
    }
    v->n = b0 + n;
    return 0;
}

static int dict_values(CnPqReader *r, const CnPqLeaf *L, LeafX *x, const uint8_t *p, size_t len, uint32_t n,
                       CnVec *v, CnErr *err) {
    if (!x->has_dict) return FAIL(err, "dictionary-encoded page but the column chunk has no dictionary page");
    if (len < 1) return FAIL(err, "dictionary page data is empty");
    int bw = p[0];
    if (bw > 32) return FAIL(err, "dictionary index bit width %d (at most 32)", bw);
    const CnVec *d = &x->dict->cols[0];
    if (cn_col_type_width(L->type->id) == 8) {
        /* 8-byte entries gathered as the indexes are decoded; an index out of range
         * (rc 1) is named by the decoding below */
        if (cn_col_vec_reserve(v, n) < 0) return cn_err_set(err, CN_ENOMEM, "out of memory");
        CnPqRle rle;
        cn_pq__rle_init(&rle, p + 1, len - 1, bw);
        int rc = cn_pq__rle_gather_u64(&rle, d->values, d->n, (uint64_t *)v->values + v->n, n, err);
        if (rc < 0) return rc;
        if (rc == 0) {
            v->n += n;
            return 0;
        }
    }
    if (scratch(&r->b->idx, (size_t)n * 4 + 4) < 0) return cn_err_set(err, CN_ENOMEM, "out of memory");
    uint32_t *idx = r->b->idx.p, nd = d->n, mx = 0, one = 1;
    /* strings of a one-entry dictionary (a partition or other constant column) whose
     * indexes are one run of 0: the n copies below, without decoding the indexes */
    bool same = !cn_col_type_width(L->type->id) && nd == 1 && cn_pq__rle_one_run(p + 1, len - 1, bw, n, &one) &&
                one == 0;
    CnPqRle rle;
    cn_pq__rle_init(&rle, p + 1, len - 1, bw);
    int rc = same ? 0 : cn_pq__rle_get_u32(&rle, idx, n, err);
    if (rc < 0) return rc;
    if (!same) { /* four running maxima: one chain of compares would wait on itself */
        uint32_t m[4] = {0, 0, 0, 0}, i = 0;
        for (; i + 4 <= n; i += 4)
            for (int k = 0; k < 4; k++) m[k] = idx[i + k] > m[k] ? idx[i + k] : m[k];
        for (; i < n; i++) m[0] = idx[i] > m[0] ? idx[i] : m[0];
        for (int k = 0; k < 4; k++) mx = m[k] > mx ? m[k] : mx;
    }
    if (n && mx >= nd) {
        uint32_t i = 0;
        while (idx[i] < nd) i++;
        return FAIL(err, "dictionary index %u out of range (dictionary has %u entries) at value %u", idx[i], nd, i);
    }
    if (cn_col_vec_reserve(v, n) < 0) return cn_err_set(err, CN_ENOMEM, "out of memory");
    uint32_t b0 = v->n;
    size_t w = cn_col_type_width(L->type->id);
    if (w == 8) {
        const int64_t *dv = d->values;
        int64_t *o = (int64_t *)v->values + b0;
        for (uint32_t i = 0; i < n; i++) o[i] = dv[idx[i]];
    } else if (w == 4) {
        const int32_t *dv = d->values;
        int32_t *o = (int32_t *)v->values + b0;
        for (uint32_t i = 0; i < n; i++) o[i] = dv[idx[i]];
    } else if (w == 1) {
        const uint8_t *dv = d->values;
        uint8_t *o = (uint8_t *)v->values + b0;
        for (uint32_t i = 0; i < n; i++) o[i] = dv[idx[i]];
    } else if (nd == 1) { /* one entry (a partition or other constant column): n copies */
        uint32_t l = d->offsets[1];
        if ((uint64_t)n * l > UINT32_MAX - v->offsets[b0])
            return cn_err_set(err, CN_ELIMIT, "more than 4 GiB of strings in one row group column");
        if (cn_col_vec_reserve_bytes(v, (size_t)n * l) < 0) return cn_err_set(err, CN_ENOMEM, "out of memory");
        uint32_t *off = v->offsets + b0, o = off[0];
        uint8_t *dst = v->bytes + o;
        for (uint32_t i = 0; i < n; i++) off[i + 1] = o + (i + 1) * l;
        if (n && l) { /* doubling copies of the entry */
            memcpy(dst, d->bytes, l);
            for (size_t have = l, all = (size_t)n * l; have < all; have *= 2)
                memcpy(dst + have, dst, CN_MIN(have, all - have));
        }
    } else {
        uint64_t total = 0;
        for (uint32_t i = 0; i < n; i++) total += d->offsets[idx[i] + 1] - d->offsets[idx[i]];
        if (total > UINT32_MAX - v->offsets[b0]) return cn_err_set(err, CN_ELIMIT, "more than 4 GiB of strings in one row group column");
        if (cn_col_vec_reserve_bytes(v, (size_t)total) < 0) return cn_err_set(err, CN_ENOMEM, "out of memory");
        uint32_t *off = v->offsets + b0;
        uint32_t o = off[0];
        uint8_t *dst = v->bytes;
        for (uint32_t i = 0; i < n; i++) {
            uint32_t s = d->offsets[idx[i]], l = d->offsets[idx[i] + 1] - s;
            memcpy(dst + o, d->bytes + s, l);
            o += l;
            off[i + 1] = o;
        }
    }
    v->n = b0 + n;
    return 0;
}

/* Converts int64 (from DELTA_BINARY_PACKED) into the leaf's value vector. */
static int ints_into(const LeafX *x, const CnPqLeaf *L, const int64_t *t, uint32_t n, CnVec *v, CnErr *err) {
    if (cn_col_vec_reserve(v, n) < 0) return cn_err_set(err, CN_ENOMEM, "out of memory");
    uint32_t b0 = v->n;
    if (L->physical == CN_PQ_INT32) {
        if (x->conv == CONV_U32_I64) {
            int64_t *o = (int64_t *)v->values + b0;
            for (uint32_t i = 0; i < n; i++) o[i] = (int64_t)(uint32_t)t[i];
        } else {
            int32_t *o = (int32_t *)v->values + b0;
            for (uint32_t i = 0; i < n; i++) o[i] = (int32_t)t[i];
        }
    } else {
        int64_t *o = (int64_t *)v->values + b0;
        int64_t div = x->conv == CONV_TS_MICROS ? 1000 : x->conv == CONV_TS_NANOS ? 1000000 : 1;
        if (div == 1) memcpy(o, t, (size_t)n * 8);
        else for (uint32_t i = 0; i < n; i++) o[i] = floor_div(t[i], div);
    }
    v->n = b0 + n;
    return 0;
}

static int delta_ints(CnPqReader *r, const uint8_t *p, size_t len, uint32_t n, int64_t **out, size_t *used,
                      CnErr *err) {
    uint32_t cnt = 0;
    int rc = cn_pq__delta_count(p, len, &cnt, err);
    if (rc < 0) return rc;
    if (cnt != n) return FAIL(err, "DELTA_BINARY_PACKED holds %u values, expected %u", cnt, n);
    if (scratch(&r->b->tmp64, (size_t)n * 8 + 8) < 0) return cn_err_set(err, CN_ENOMEM, "out of memory");
    uint32_t got = 0;
    rc = cn_pq__delta_decode(p, len, r->b->tmp64.p, n, &got, used, err);
    *out = r->b->tmp64.p;
    return rc;
}

/* DELTA_LENGTH_BYTE_ARRAY (prefix == NULL) or DELTA_BYTE_ARRAY. */
static int delta_bytes(CnPqReader *r, bool with_prefix, const uint8_t *p, size_t len, uint32_t n, CnVec *v,
                       CnErr *err) {
    int64_t *pre = NULL, *lens;
    size_t used = 0, used2 = 0;
    int rc;
    if (with_prefix) {
        rc = delta_ints(r, p, len, n, &lens, &used, err);
        if (rc < 0) return rc;
        /* keep prefixes: the lengths decode reuses tmp64 */
        pre = cn_malloc((size_t)n * 8 + 8);
        if (!pre) return cn_err_set(err, CN_ENOMEM, "out of memory");
        memcpy(pre, lens, (size_t)n * 8);
        p += used;
        len -= used;
    }
    rc = delta_ints(r, p, len, n, &lens, &used2, err);
    if (rc < 0) goto done;
    p += used2;
    len -= used2;
    uint64_t total = 0, suffix = 0;
    for (uint32_t i = 0; i < n; i++) {
        if (lens[i] < 0 || (pre && pre[i] < 0)) {
            rc = FAIL(err, "negative string length or prefix at value %u", i);
            goto done;
        }
        suffix += (uint64_t)lens[i];
        total += (uint64_t)lens[i] + (pre ? (uint64_t)pre[i] : 0);
    }
    if (suffix > len) {
        rc = FAIL(err, "string data needs %llu bytes, page has %zu", (unsigned long long)suffix, len);
        goto done;
    }
    if (cn_col_vec_reserve(v, n) < 0) {
        rc = cn_err_set(err, CN_ENOMEM, "out of memory");
        goto done;
    }
    uint32_t b0 = v->n;
    if (total > UINT32_MAX - v->offsets[b0]) {
        rc = cn_err_set(err, CN_ELIMIT, "more than 4 GiB of strings in one row group column");
        goto done;
    }
    if (cn_col_vec_reserve_bytes(v, (size_t)total) < 0) {
        rc = cn_err_set(err, CN_ENOMEM, "out of memory");
        goto done;
    }
    uint32_t *off = v->offsets + b0;
    uint32_t o = off[0];
    uint32_t prev_start = o, prev_len = 0;
    for (uint32_t i = 0; i < n; i++) {
        uint32_t pl = pre ? (uint32_t)pre[i] : 0, sl = (uint32_t)lens[i];
        if (pl > prev_len) {
            rc = FAIL(err, "DELTA_BYTE_ARRAY prefix %u longer than the previous value (%u bytes) at value %u", pl,
                      prev_len, i);
            goto done;
        }
        memmove(v->bytes + o, v->bytes + prev_start, pl);
        memcpy(v->bytes + o + pl, p, sl);
        p += sl;
        prev_start = o;
        prev_len = pl + sl;
        o += pl + sl;
        off[i + 1] = o;
    }
    v->n = b0 + n;
done:
    cn_free(pre);
    return rc;
}

static int byte_stream_split(const CnPqLeaf *L, const uint8_t *p, size_t len, uint32_t n, CnVec *v, CnErr *err) {
    size_t w = L->physical == CN_PQ_FLOAT || L->physical == CN_PQ_INT32 ? 4 : 8;
    if (L->physical != CN_PQ_FLOAT && L->physical != CN_PQ_DOUBLE && L->physical != CN_PQ_INT32 &&
        L->physical != CN_PQ_INT64)
        return cn_err_set(err, CN_EUNSUPPORTED, "BYTE_STREAM_SPLIT for %s", cn_pq_physical_name(L->physical));
    if ((uint64_t)n * w > len) return FAIL(err, "BYTE_STREAM_SPLIT: %u values need %zu bytes, page has %zu", n, n * w, len);
    if (cn_col_vec_reserve(v, n) < 0) return cn_err_set(err, CN_ENOMEM, "out of memory");
    uint8_t *o = (uint8_t *)v->values + (size_t)v->n * w;
    for (size_t k = 0; k < w; k++)
        for (uint32_t i = 0; i < n; i++) o[(size_t)i * w + k] = p[k * n + i];
    v->n += n;
    return 0;
}

static int decode_values(CnPqReader *r, const CnPqLeaf *L, LeafX *x, int enc, const uint8_t *p, size_t len,
                         uint32_t n, CnVec *v, CnErr *err) {
    size_t used;
    switch (enc) {
    case CN_PQ_ENC_PLAIN: return plain_values(r, L, x, p, len, n, v, &used, err);
    case CN_PQ_ENC_PLAIN_DICT: case CN_PQ_ENC_RLE_DICT: return dict_values(r, L, x, p, len, n, v, err);
    case CN_PQ_ENC_RLE:
        if (L->physical == CN_PQ_BOOLEAN) {
            if (len < 4) return FAIL(err, "RLE booleans without a length prefix");
            uint32_t l;
            memcpy(&l, p, 4);
            if (l > len - 4) return FAIL(err, "RLE booleans: length %u past the page end", l);
            if (cn_col_vec_reserve(v, n) < 0) return cn_err_set(err, CN_ENOMEM, "out of memory");
            CnPqRle rle;
            cn_pq__rle_init(&rle, p + 4, l, 1);
            int rc = cn_pq__rle_get_u8(&rle, (uint8_t *)v->values + v->n, n, err);
            if (rc < 0) return rc;
            v->n += n;
            return 0;
        }
        break;
    case CN_PQ_ENC_DELTA_BINARY_PACKED:
        if (L->physical == CN_PQ_INT64 && x->conv == CONV_NONE) {
            /* the values as they are: straight into the vector, no scratch copy */
            uint32_t cnt = 0, got = 0;
            int rc = cn_pq__delta_count(p, len, &cnt, err);
            if (rc < 0) return rc;
            if (cnt != n) return FAIL(err, "DELTA_BINARY_PACKED holds %u values, expected %u", cnt, n);
            if (cn_col_vec_reserve(v, n) < 0) return cn_err_set(err, CN_ENOMEM, "out of memory");
            rc = cn_pq__delta_decode(p, len, (int64_t *)v->values + v->n, n, &got, &used, err);
            if (rc < 0) return rc;
            v->n += n;
            return 0;
        }
        if (L->physical == CN_PQ_INT32 || L->physical == CN_PQ_INT64) {
            int64_t *t;
            int rc = delta_ints(r, p, len, n, &t, &used, err);
            if (rc < 0) return rc;
            return ints_into(x, L, t, n, v, err);
        }
        break;
    case CN_PQ_ENC_DELTA_LENGTH_BYTE_ARRAY:
        if (L->physical == CN_PQ_BYTE_ARRAY) return delta_bytes(r, false, p, len, n, v, err);
        break;
    case CN_PQ_ENC_DELTA_BYTE_ARRAY:
        if (L->physical == CN_PQ_BYTE_ARRAY) return delta_bytes(r, true, p, len, n, v, err);
        break;
    case CN_PQ_ENC_BYTE_STREAM_SPLIT: return byte_stream_split(L, p, len, n, v, err);
    default: break;
    }
    return cn_err_set(err, CN_EUNSUPPORTED, "encoding %s is not supported for %s values", cn_pq_encoding_name(enc),
                      cn_pq_physical_name(L->physical));
}

/* Moves the n_dense values appended at base to their slots [base, base + n_slots), where
 * slot_valid says which slots hold a value; the others become nulls. Backwards in place:
 * slot i >= dense index k always, so nothing is overwritten before it is read. */
static int spread(CnVec *v, uint32_t base, uint32_t n_dense, const uint8_t *slot_valid, uint32_t n_slots, CnErr *err) {
    if (n_dense == n_slots) {
        if (v->valid)
            for (uint32_t j = base; j < base + n_slots; j++) v->valid[j >> 6] |= UINT64_C(1) << (j & 63);
        return 0;
    }
    if (cn_col_vec_reserve(v, n_slots - n_dense) < 0) return cn_err_set(err, CN_ENOMEM, "out of memory");
    if (!v->valid) {
        /* the bitmap starts valid up to base only: the dense values are not in place yet */
        uint32_t n_now = v->n;
        v->n = base;
        int rc = cn_col_vec_make_valid(v);
        v->n = n_now;
        if (rc < 0) return cn_err_set(err, CN_ENOMEM, "out of memory");
    }
    size_t w = cn_col_type_width(v->type->id);
    int64_t k = (int64_t)n_dense - 1;
    if (w) {
        uint8_t *vals = (uint8_t *)v->values + (size_t)base * w;
        for (int64_t i = (int64_t)n_slots - 1; i >= 0; i--) {
            if (slot_valid[i]) {
                if (k != i) memcpy(vals + (size_t)i * w, vals + (size_t)k * w, w);
                k--;
            } else {
                memset(vals + (size_t)i * w, 0, w);
            }
        }
    } else {
        uint32_t *off = v->offsets + base;
        for (int64_t i = (int64_t)n_slots - 1; i >= 0; i--) {
            off[i + 1] = off[k + 1];
            if (slot_valid[i]) k--;
        }
    }
    uint64_t *valid = v->valid;
    uint32_t nulls = 0;
    for (uint32_t i = 0; i < n_slots; i++) {
        uint32_t j = base + i;
        if (slot_valid[i]) valid[j >> 6] |= UINT64_C(1) << (j & 63);
        else nulls++;
    }
    v->n = base + n_slots;
    v->n_null += nulls;
    return 0;
}

/* List/map entries from the levels of the first leaf of a nested field. */
static int build_offsets(CnVec *tv, const uint8_t *def, const uint8_t *rep, uint32_t n, int16_t list_def,
                         uint32_t elems, bool *open, CnErr *err) {
    uint32_t starts = 0;
    for (uint32_t j = 0; j < n; j++) starts += rep[j] == 0;
    if (cn_col_vec_reserve(tv, starts) < 0) return cn_err_set(err, CN_ENOMEM, "out of memory");
    for (uint32_t j = 0; j < n; j++) {
        if (rep[j] == 0) {
            uint32_t i = tv->n;
            if (def[j] < list_def) {
                if (cn_col_vec_make_valid(tv) < 0) return cn_err_set(err, CN_ENOMEM, "out of memory");
                tv->n_null++;
            } else if (tv->valid) {
                tv->valid[i >> 6] |= UINT64_C(1) << (i & 63);
            }
            tv->offsets[i + 1] = elems;
            tv->n = i + 1;
            *open = def[j] > list_def;
        } else if (!*open || def[j] <= list_def) {
            /* continuing no list, an empty/null one, or adding a non-element */
            return FAIL(err, "level %u: repetition level %u with definition level %u does not continue a list", j,
                        rep[j], def[j]);
        }
        if (def[j] > list_def) tv->offsets[tv->n] = ++elems;
    }
    return 0;
}

/* The vectors of a DEEP leaf's path: V[0] the field vector, V[depth] the leaf's. */
static void deep_vectors(const LeafX *x, CnVec *tv, CnVec **V) {
    V[0] = tv;
    for (uint32_t k = 0; k < x->depth; k++) V[k + 1] = &V[k]->child[x->child[k]];
}

/* Levels of a DEEP leaf: appends the entries of the nodes this leaf builds (depth
 * build_from and below) and one slot flag per leaf entry (1 = holds a value).
 * A level (rep, def) starts a new entry at depth rep; each node below it gets a new
 * entry too, until def says the entry is null (def < node_def) or empty (def ==
 * node_def). The node at depth rep - 1 must have an open entry to take it. */
static int build_deep(LeafX *x, const CnPqLeaf *L, CnVec *tv, const uint8_t *def, const uint8_t *rep,
                      uint32_t n, uint8_t *slot, uint32_t *n_slots, CnErr *err) {
    CnVec *V[CN_PQ__MAX_DEPTH + 1];
    deep_vectors(x, tv, V);
    uint32_t d = x->depth, bf = x->build_from, ns = 0, leaf_base = V[d]->n;
    for (uint32_t k = bf; k < d; k++)
        if (cn_col_vec_reserve(V[k], n) < 0) return cn_err_set(err, CN_ENOMEM, "out of memory");
    for (uint32_t j = 0; j < n; j++) {
        uint32_t r0 = rep[j], dl = def[j];
        if (r0 > 0 && (!x->open[r0 - 1] || (int)dl <= x->node_def[r0 - 1]))
            return FAIL(err, "level %u: repetition level %u with definition level %u does not continue a list", j, r0,
                        dl);
        for (uint32_t k = r0;; k++) {
            if (k == d) {
                slot[ns++] = dl == (uint32_t)L->max_def;
                if (k - 1 >= bf) V[k - 1]->offsets[V[k - 1]->n] = leaf_base + ns;
                break;
            }
            if (k >= bf) {
                CnVec *v = V[k];
                uint32_t i = v->n;
                if ((int)dl < x->node_def[k]) {
                    if (cn_col_vec_make_valid(v) < 0) return cn_err_set(err, CN_ENOMEM, "out of memory");
                    v->n_null++;
                } else if (v->valid) {
                    v->valid[i >> 6] |= UINT64_C(1) << (i & 63);
                }
                v->offsets[i + 1] = v->offsets[i];
                v->n = i + 1;
                if (k >= 1 && k - 1 >= bf) V[k - 1]->offsets[V[k - 1]->n] = v->n;
            }
            x->open[k] = (int)dl > x->node_def[k];
            if (!x->open[k]) {
                for (uint32_t m = k + 1; m < d; m++) x->open[m] = false;
                break;
            }
        }
    }
    *n_slots = ns;
    return 0;
}

#define BYTES_ONES UINT64_C(0x0101010101010101)

/* Whether any of the n level bytes at lv exceeds mx (0 <= mx). Eight bytes at a time
 * while mx < 128: a byte b is above mx when its top bit is set or its low seven bits
 * plus 127 - mx carry into the top bit (at most 254: no carry into the next byte). */
static bool levels_above(const uint8_t *lv, uint32_t n, int16_t mx) {
    uint32_t j = 0;
    if (mx < 128) {
        uint64_t acc = 0, add = BYTES_ONES * (uint64_t)(127 - mx);
        for (; j + 8 <= n; j += 8) {
            uint64_t w;
            memcpy(&w, lv + j, 8);
            acc |= ((w & (BYTES_ONES * 0x7f)) + add) | w;
        }
        if (acc & (BYTES_ONES * 0x80)) return true;
    }
    for (; j < n; j++)
        if (lv[j] > mx) return true;
    return false;
}

/* Decodes one page's levels and values into the field vector tv. */
static int decode_page(CnPqReader *r, uint32_t li, CnVec *tv, const uint8_t *rep_p, size_t rep_len,
                       const uint8_t *def_p, size_t def_len, const uint8_t *vals, size_t vals_len, int enc,
                       uint32_t n_levels, CnErr *err) {
    const CnPqLeaf *L = &r->leaves[li];
    LeafX *x = &r->lx[li];
    int rc;
    if (scratch(&r->b->def, n_levels + 8) < 0 || scratch(&r->b->rep, n_levels + 8) < 0 || scratch(&r->b->slot, n_levels + 8) < 0)
        return cn_err_set(err, CN_ENOMEM, "out of memory");
    uint8_t *def = r->b->def.p, *rep = r->b->rep.p, *slot = r->b->slot.p;
    if (L->max_def > 0) {
        CnPqRle rle;
        cn_pq__rle_init(&rle, def_p, def_len, cn_pq__bit_width((uint64_t)L->max_def));
        rc = cn_pq__rle_get_u8(&rle, def, n_levels, err);
        if (rc < 0) return cn_err_ctx(err, rc, "definition levels");
        if (levels_above(def, n_levels, L->max_def))
            return FAIL(err, "definition level above the maximum %d", L->max_def);
    } else {
        memset(def, 0, n_levels);
    }
    if (L->max_rep > 0) {
        CnPqRle rle;
        cn_pq__rle_init(&rle, rep_p, rep_len, cn_pq__bit_width((uint64_t)L->max_rep));
        rc = cn_pq__rle_get_u8(&rle, rep, n_levels, err);
        if (rc < 0) return cn_err_ctx(err, rc, "repetition levels");
        if (levels_above(rep, n_levels, L->max_rep))
            return FAIL(err, "repetition level above the maximum %d", L->max_rep);
    }
    /* slots: one per level for flat columns, one per element for nested ones */
    uint32_t n_slots = 0, n_dense = 0;
    if (x->role == ROLE_FLAT && L->max_def <= 1) {
        /* levels 0/1 are the slot flags themselves */
        slot = def;
        n_slots = n_levels;
        if (L->max_def == 0) {
            n_dense = n_levels;
        } else {
            uint32_t j = 0;
            uint64_t acc = 0;
            for (; j + 8 <= n_levels; j += 8) { /* bytes of 0 or 1: their sum is the top byte */
                uint64_t wd;
                memcpy(&wd, def + j, 8);
                acc += (wd * BYTES_ONES) >> 56;
            }
            for (; j < n_levels; j++) acc += def[j];
            n_dense = (uint32_t)acc;
        }
    } else if (x->role == ROLE_DEEP) {
        if (L->max_def == 0) memset(def, 0, n_levels);
        rc = build_deep(x, L, tv, def, rep, n_levels, slot, &n_slots, err);
        if (rc < 0) return rc;
        for (uint32_t j = 0; j < n_slots; j++) n_dense += slot[j];
    } else {
        if (x->role == ROLE_FLAT) {
            for (uint32_t j = 0; j < n_levels; j++) slot[j] = def[j] == L->max_def;
            n_slots = n_levels;
        } else {
            for (uint32_t j = 0; j < n_levels; j++)
                if (def[j] > x->list_def) slot[n_slots++] = def[j] == L->max_def;
        }
        for (uint32_t j = 0; j < n_slots; j++) n_dense += slot[j];
    }
    CnVec *vv = x->role == ROLE_FLAT ? tv : x->role == ROLE_VALUE ? &tv->child[1] : &tv->child[0];
    if (x->role == ROLE_DEEP) {
        CnVec *V[CN_PQ__MAX_DEPTH + 1];
        deep_vectors(x, tv, V);
        vv = V[x->depth];
        if (x->is_key && n_dense != n_slots) return FAIL(err, "map key is null");
    }
    if (x->role == ROLE_LIST || x->role == ROLE_KEY) {
        rc = build_offsets(tv, def, rep, n_levels, x->list_def, vv->n, &x->list_open, err);
        if (rc < 0) return rc;
        if (x->role == ROLE_KEY && n_dense != n_slots) return FAIL(err, "map key is null");
    }
    uint32_t base = vv->n;
    rc = decode_values(r, L, x, enc, vals, vals_len, n_dense, vv, err);
    if (rc < 0) return rc;
    return spread(vv, base, n_dense, slot, n_slots, err);
}

static int load_dict(CnPqReader *r, uint32_t li, const uint8_t *p, size_t len, uint32_t n, int enc, CnErr *err) {
    LeafX *x = &r->lx[li];
    const CnPqLeaf *L = &r->leaves[li];
    if (enc != CN_PQ_ENC_PLAIN && enc != CN_PQ_ENC_PLAIN_DICT)
        return cn_err_set(err, CN_EUNSUPPORTED, "dictionary page encoding %s is not supported", cn_pq_encoding_name(enc));
    if (!x->dict) {
        CnErr e2 = CN_ERR_INIT;
        if (cn_col_schema_new(&x->dict_schema) < 0 ||
            cn_col_schema_add(x->dict_schema, "dict", L->type, false, CN_COL_NO_ID, &e2) < 0 ||
            cn_col_batch_new(x->dict_schema, &x->dict, &e2) < 0)
            return cn_err_set(err, CN_ENOMEM, "out of memory");
    }
    cn_col_batch_reset(x->dict);
    size_t used;
    x->has_dict = false;
    int rc = plain_values(r, L, x, p, len, n, &x->dict->cols[0], &used, err);
    if (rc < 0) return cn_err_ctx(err, rc, "dictionary page");
    x->has_dict = true;
    return 0;
}

#define RESERVE_ROWS ((int64_t)1 << 22)

/* A page's payload decompressed into out: zstd through the reader's own context
 * (ZSTD_decompress makes and frees one of over 100 KiB per call, a fresh mapping to
 * fault in for every page), the other codecs as codec.c does them. */
static int page_bytes(CnPqReader *r, int codec, const uint8_t *in, size_t in_len, uint8_t *out, size_t out_len,
                      CnErr *err) {
    if (codec != CN_PQ_CODEC_ZSTD) return cn_pq__decompress(codec, in, in_len, out, out_len, err);
    if (!r->b->zd && !(r->b->zd = ZSTD_createDCtx())) return cn_err_set(err, CN_ENOMEM, "zstd: out of memory");
    /* frames may be concatenated; ZSTD_decompressDCtx handles that */
    size_t n = ZSTD_decompressDCtx(r->b->zd, out, out_len, in, in_len);
    if (ZSTD_isError(n)) return cn_err_set(err, CN_ECORRUPT, "zstd page is corrupt: %s", ZSTD_getErrorName(n));
    if (n != out_len) return cn_err_set(err, CN_ECORRUPT, "zstd page decodes to %zu bytes, header says %zu", n, out_len);
    return 0;
}

/* Where a page's values may be decompressed straight to: the free tail of the column's
 * vector, when the page holds n PLAIN 8-byte values as the vector stores them (a flat
 * INT64/DOUBLE column without conversion, no nulls in the page, vlen == 8n), so that
 * decode_page finds them already in place; else NULL (decompress into scratch). */
static uint8_t *direct_dst(CnPqReader *r, uint32_t li, CnVec *tv, int enc, int32_t n, int32_t n_nulls, size_t vlen) {
    const CnPqLeaf *L = &r->leaves[li];
    const LeafX *x = &r->lx[li];
    if (enc != CN_PQ_ENC_PLAIN || x->role != ROLE_FLAT || x->conv != CONV_NONE || n <= 0 || n_nulls != 0 ||
        (L->physical != CN_PQ_INT64 && L->physical != CN_PQ_DOUBLE) || vlen != (size_t)n * 8)
        return NULL;
    if (cn_col_vec_reserve(tv, (uint32_t)n) < 0) return NULL;
    return (uint8_t *)tv->values + (size_t)tv->n * 8;
}

/* Decodes column chunk li of row group g into the field vector tv. */
static int decode_chunk(CnPqReader *r, uint32_t g, uint32_t li, CnVec *tv, CnErr *err) {
    const CnPqRowGroup *rg = &r->foot.row_groups[g];
    const CnPqChunk *c = &rg->chunks[li];
    const CnPqLeaf *L = &r->leaves[li];
    LeafX *x = &r->lx[li];
    int rc = 0;
    r->c_page = 0;
    x->has_dict = false;
    x->list_open = false;
    memset(x->open, 0, sizeof x->open);
    int64_t start = c->data_page_offset;
    if (c->dict_page_offset > 0 && c->dict_page_offset < start) start = c->dict_page_offset;
    const uint8_t *chunk = NULL;
    rc = read_at(r, (uint64_t)start, (size_t)c->compressed_len, &r->b->chunk, &chunk, err);
    if (rc < 0) goto done;
    size_t len = (size_t)c->compressed_len, pos = 0;
    int64_t seen = 0;
    uint32_t rows_before = tv->n;
    /* a flat column's rows are the row group's: room for them at once, not by doublings
     * page after page. The count is the footer's, checked only after decoding, so it
     * sizes at most RESERVE_ROWS rows (a lying footer costs no more than that). */
    if (x->role == ROLE_FLAT && rg->n_rows > 0 && rg->n_rows <= c->n_values &&
        cn_col_vec_reserve(tv, (uint32_t)CN_MIN(rg->n_rows, RESERVE_ROWS)) < 0)
        goto oom;
    while (seen < c->n_values) {
        CN_CHECK_DATA(pos < len, err, rc, "column chunk ends after %lld of %lld values", (long long)seen,
                      (long long)c->n_values);
        CnPqPageHdr h;
        size_t hl;
        rc = cn_pq__page_hdr_decode(chunk + pos, len - pos, &h, &hl, err);
        if (rc < 0) goto done;
        pos += hl;
        CN_CHECK_DATA((size_t)h.compressed_len <= len - pos, err, rc,
                      "page of %d bytes runs past the end of the column chunk (%zu bytes left)", h.compressed_len,
                      len - pos);
        const uint8_t *payload = chunk + pos;
        pos += (size_t)h.compressed_len;
        if (h.type == CN_PQ__PAGE_DICT) {
            if (scratch(&r->b->dictpage, (size_t)h.uncompressed_len + 8) < 0) goto oom;
            rc = page_bytes(r, c->codec, payload, (size_t)h.compressed_len, r->b->dictpage.p,
                                   (size_t)h.uncompressed_len, err);
            if (rc < 0) goto done;
            rc = load_dict(r, li, r->b->dictpage.p, (size_t)h.uncompressed_len, (uint32_t)h.n_values, h.encoding, err);
            if (rc < 0) goto done;
        } else if (h.type == CN_PQ__PAGE_DATA) {
            /* a required flat column's v1 page has no levels: its plain values can go
             * straight to the column, as a v2 page's */
            uint8_t *pg = L->max_def == 0 && L->max_rep == 0
                              ? direct_dst(r, li, tv, h.encoding, h.n_values, 0, (size_t)h.uncompressed_len)
                              : NULL;
            if (!pg) {
                if (scratch(&r->b->page, (size_t)h.uncompressed_len + 8) < 0) goto oom;
                pg = r->b->page.p;
            }
            rc = page_bytes(r, c->codec, payload, (size_t)h.compressed_len, pg, (size_t)h.uncompressed_len, err);
            if (rc < 0) goto done;
            size_t plen = (size_t)h.uncompressed_len, q = 0;
            const uint8_t *rp = NULL, *dp = NULL;
            size_t rl = 0, dlen = 0;
            for (int lv = 0; lv < 2; lv++) {
                int16_t mx = lv == 0 ? L->max_rep : L->max_def;
                int le = lv == 0 ? h.rep_encoding : h.def_encoding;
                if (mx == 0) continue;
                if (le != CN_PQ_ENC_RLE) {
                    rc = cn_err_set(err, CN_EUNSUPPORTED, "%s level encoding %s is not supported",
                                    lv ? "definition" : "repetition", cn_pq_encoding_name(le));
                    goto done;
                }
                CN_CHECK_DATA(plen - q >= 4, err, rc, "levels length prefix past the end of the page");
                uint32_t ll;
                memcpy(&ll, pg + q, 4);
                q += 4;
                CN_CHECK_DATA(ll <= plen - q, err, rc, "levels of %u bytes past the end of the page", ll);
                if (lv == 0) {
                    rp = pg + q;
                    rl = ll;
                } else {
                    dp = pg + q;
                    dlen = ll;
                }
                q += ll;
            }
            rc = decode_page(r, li, tv, rp, rl, dp, dlen, pg + q, plen - q, h.encoding, (uint32_t)h.n_values, err);
            if (rc < 0) goto done;
            seen += h.n_values;
        } else if (h.type == CN_PQ__PAGE_DATA_V2) {
            size_t lv_len = (size_t)h.rep_len + (size_t)h.def_len;
            CN_CHECK_DATA(lv_len <= (size_t)h.compressed_len && lv_len <= (size_t)h.uncompressed_len, err, rc,
                          "v2 page levels (%zu bytes) larger than the page", lv_len);
            size_t vlen = (size_t)h.uncompressed_len - lv_len;
            bool comp = h.is_compressed && c->codec != CN_PQ_CODEC_UNCOMPRESSED;
            CN_CHECK_DATA(h.n_nulls >= 0 && h.n_nulls <= h.n_values, err, rc, "v2 page has %d nulls in %d values",
                          h.n_nulls, h.n_values);
            const uint8_t *vals = payload + lv_len;
            if (comp) {
                /* levels stay outside the compressed part: plain values can go straight
                 * to the column (decode_page then finds them in place) */
                uint8_t *dst = direct_dst(r, li, tv, h.encoding, h.n_values, h.n_nulls, vlen);
                if (!dst) {
                    if (scratch(&r->b->page, vlen + 8) < 0) goto oom;
                    dst = r->b->page.p;
                }
                rc = page_bytes(r, c->codec, vals, (size_t)h.compressed_len - lv_len, dst, vlen, err);
                if (rc < 0) goto done;
                vals = dst;
            } else {
                /* stored as they are: decoded where they lie in the chunk */
                CN_CHECK_DATA(vlen == (size_t)h.compressed_len - lv_len, err, rc,
                              "uncompressed v2 page: %zu value bytes stored, header says %zu",
                              (size_t)h.compressed_len - lv_len, vlen);
            }
            rc = decode_page(r, li, tv, payload, (size_t)h.rep_len, payload + h.rep_len, (size_t)h.def_len, vals,
                             vlen, h.encoding, (uint32_t)h.n_values, err);
            if (rc < 0) goto done;
            seen += h.n_values;
        }
        /* INDEX_PAGE and unknown page types are skipped */
        r->c_page++;
    }
    if (x->role == ROLE_DEEP && x->build_from > 0) {
        /* the entries this leaf made must be the ones the earlier leaf's nodes hold */
        CnVec *V[CN_PQ__MAX_DEPTH + 1];
        deep_vectors(x, tv, V);
        const CnVec *up = V[x->build_from - 1];
        CN_CHECK_DATA(V[x->build_from]->n == up->offsets[up->n], err, rc,
                      "column holds %u nested entries, the column before it %u", V[x->build_from]->n,
                      up->offsets[up->n]);
    } else if (x->role != ROLE_VALUE) {
        CN_CHECK_DATA(tv->n - rows_before == (uint64_t)rg->n_rows, err, rc, "column chunk holds %u rows, row group has %lld",
                      tv->n - rows_before, (long long)rg->n_rows);
    } else {
        CN_CHECK_DATA(tv->child[1].n == tv->child[0].n, err, rc, "map has %u keys but %u values", tv->child[0].n,
                      tv->child[1].n);
    }
done:
    if (rc < 0) rc = cn_err_ctx(err, rc, "%s: column \"%s\", row group %u, page %u", r->name, L->path, g, r->c_page);
    return rc;
oom:
    rc = cn_err_set(err, CN_ENOMEM, "out of memory");
    goto done;
}

static int load_row_group(CnPqReader *r, uint32_t g, CnErr *err) {
    const CnSchema *os = cn_pq_reader_out_schema(r);
    cn_col_batch_reset(r->rg_batch);
    for (uint32_t c = 0; c < os->n_fields; c++) {
        int k = find_fx(r, os->fields[c].name);
        CN_ASSERT(k >= 0);
        const FieldX *fx = &r->fx[k];
        for (uint32_t li = fx->leaf0; li < fx->leaf0 + fx->n_leaves; li++) {
            int rc = decode_chunk(r, g, li, &r->rg_batch->cols[c], err);
            if (rc < 0) return rc;
        }
        if (!os->fields[c].nullable && r->rg_batch->cols[c].n_null)
            return cn_err_set(err, CN_ECORRUPT, "%s: column \"%s\", row group %u: nulls in a required column", r->name,
                              os->fields[c].name, g);
    }
    if (os->n_fields == 0) {
        r->rg_batch->n_rows = (uint32_t)r->foot.row_groups[g].n_rows;
        return 0;
    }
    return cn_col_batch_sync_rows(r->rg_batch, err);
}

int cn_pq_reader_next(CnPqReader *r, uint32_t max_rows, const CnBatch **out, CnErr *err) {
    *out = NULL;
    if (r->sticky) {
        if (err && !err->code) *err = r->sticky_err;
        return r->sticky;
    }
    int rc = 0;
    CnErr e = CN_ERR_INIT;
    if (max_rows == 0) max_rows = 65536;
    if (!r->started) {
        r->started = true;
        const CnSchema *os = cn_pq_reader_out_schema(r);
        const char *why = NULL, *bad = r->out_schema ? NULL : cn_pq_reader_unsupported(r, 0, &why);
        if (bad) {
            rc = cn_err_set(&e, CN_EUNSUPPORTED, "%s: column \"%s\": %s (project the other columns to skip it)",
                            r->name, bad, why);
            goto done;
        }
        rc = batches_make(r, os, &e);
        if (rc < 0) goto done;
    }
    while (r->cur_rg < 0 || r->rg_pos >= r->rg_batch->n_rows) {
        while (r->next_rg < r->foot.n_row_groups && !r->rg_sel[r->next_rg]) r->next_rg++;
        if (r->next_rg >= r->foot.n_row_groups) goto done; /* end */
        r->cur_rg = r->next_rg++;
        r->rg_pos = 0;
        rc = load_row_group(r, (uint32_t)r->cur_rg, &e);
        if (rc < 0) goto done;
    }
    uint32_t n = CN_MIN(max_rows, r->rg_batch->n_rows - r->rg_pos);
    if (r->rg_pos == 0 && n == r->rg_batch->n_rows) {
        /* the whole row group fits: hand out the staging batch itself */
        r->rg_pos = n;
        *out = r->rg_batch;
        goto done;
    }
    cn_col_batch_reset(r->out);
    for (uint32_t c = 0; c < r->out->n_cols; c++)
        if (cn_col_vec_append_range(&r->out->cols[c], &r->rg_batch->cols[c], r->rg_pos, n) < 0) {
            rc = cn_err_set(&e, CN_ENOMEM, "%s: out of memory", r->name);
            goto done;
        }
    r->out->n_rows = n;
    r->rg_pos += n;
    *out = r->out;
done:
    if (rc < 0) {
        r->sticky = rc;
        r->sticky_err = e;
        if (err && !err->code) *err = e;
    }
    return rc;
}
