/* eval.c: vectorized evaluation of a bound expression over the selected rows of a batch.
 * Each node produces a Val dense over the selection; the type switch happens once per
 * node and call, the loops run over plain arrays. Column references with no selection
 * are zero-copy views of the batch. Literals stay one-entry "const" values, and the hot
 * binary kernels (arithmetic, comparison) have a loop per const/non-const shape instead
 * of broadcasting them. Nothing is allocated per row: every intermediate lives in the
 * call's scratch arena, which dies when the call returns. */
#include "expr/expr_int.h"

#include <math.h>
#include <string.h>

#include "base/alloc.h"

size_t cn_expr__val_width(CnTypeId t) {
    switch (t) {
    case CN_COL_BOOL: return 1;
    case CN_COL_INT32: case CN_COL_DATE: case CN_COL_FLOAT32: return 4;
    case CN_COL_INT64: case CN_COL_TIMESTAMP: case CN_COL_FLOAT64: return 8;
    case CN_COL_STRING: case CN_COL_BINARY: return sizeof(CnExprStr);
    default: return 0;
    }
}

static CN_COLD int oom(EvalCtx *c) { return cn_err_set(c->err, CN_ENOMEM, "expression evaluation: out of memory"); }

int cn_expr__val_new(EvalCtx *c, Val *v, CnTypeId t, bool with_valid) {
    memset(v, 0, sizeof *v);
    v->t = t;
    v->type = t ? cn_col_type_prim(t) : NULL;
    v->n = c->n;
    size_t w = cn_expr__val_width(t);
    if (w) {
        /* zeroed: kernels may read null slots (never dereferencing an empty string) */
        v->data = cn_arena_calloc(c->a, (c->n ? c->n : 1) * w);
        if (!v->data) return oom(c);
    }
    if (with_valid) {
        v->valid = cn_arena_alloc(c->a, (bm_words(c->n) + 1) * 8);
        if (!v->valid) return oom(c);
        memset(v->valid, 0xff, (bm_words(c->n) + 1) * 8);
    }
    return 0;
}

/* A private copy of v's bitmap (all-valid when v has none) that the caller may edit. */
static uint64_t *valid_copy(EvalCtx *c, const uint64_t *src) {
    size_t nw = bm_words(c->n) + 1;
    uint64_t *bm = cn_arena_alloc(c->a, nw * 8);
    if (!bm) return NULL;
    if (src) memcpy(bm, src, bm_words(c->n) * 8);
    else memset(bm, 0xff, nw * 8);
    return bm;
}

int cn_expr__strict_valid(EvalCtx *c, const Val *args, uint32_t n_args, uint64_t **out, bool *all_null) {
    *out = NULL;
    *all_null = false;
    const uint64_t *first = NULL;
    uint32_t n_bm = 0;
    for (uint32_t k = 0; k < n_args; k++) {
        if (args[k].is_const) {
            if (args[k].cnull) *all_null = true;
        } else if (args[k].valid) {
            if (!n_bm++) first = args[k].valid;
        }
    }
    if (*all_null || n_bm == 0) return 0;
    if (n_bm == 1) {
        *out = (uint64_t *)first; /* shared, read-only */
        return 0;
    }
    uint64_t *bm = valid_copy(c, first);
    if (!bm) return oom(c);
    size_t nw = bm_words(c->n);
    for (uint32_t k = 0; k < n_args; k++) {
        if (args[k].is_const || !args[k].valid || args[k].valid == first) continue;
        for (size_t w = 0; w < nw; w++) bm[w] &= args[k].valid[w];
    }
    *out = bm;
    return 0;
}

struct TmpBatch {
    CnSchema *schema;
    CnBatch *batch;
    TmpBatch *next;
};

int cn_expr__tmp_vec(EvalCtx *c, const CnType *type, CnVec **out) {
    TmpBatch *t = cn_arena_calloc(c->a, sizeof *t);
    if (!t) return oom(c);
    int rc = cn_col_schema_new(&t->schema);
    if (rc < 0) return oom(c);
    t->next = c->tmps;
    c->tmps = t;
    if ((rc = cn_col_schema_add(t->schema, "v", type, true, CN_COL_NO_ID, c->err)) < 0) return rc;
    if ((rc = cn_col_batch_new(t->schema, &t->batch, c->err)) < 0) return rc;
    *out = &t->batch->cols[0];
    return 0;
}

static void tmp_free(TmpBatch *t) {
    for (; t; t = t->next) {
        cn_col_batch_free(t->batch);
        cn_col_schema_free(t->schema);
    }
}

/* ------------------------------------------------------------- strings */

void cn_expr__sb_init(StrBuild *sb, CnArena *a) {
    memset(sb, 0, sizeof *sb);
    sb->a = a;
}

void cn_expr__sb_put(StrBuild *sb, const void *p, size_t n) {
    if (sb->oom || n == 0) return;
    if (sb->used + n > sb->cap) {
        size_t row_len = sb->used - sb->row;
        size_t cap = CN_MAX(sb->cap * 2, CN_MAX(row_len + n, (size_t)4096));
        char *nb = cn_arena_alloc(sb->a, cap);
        if (!nb) {
            sb->oom = true;
            return;
        }
        if (row_len) memcpy(nb, sb->buf + sb->row, row_len);
        sb->buf = nb;
        sb->cap = cap;
        sb->row = 0;
        sb->used = row_len;
    }
    memcpy(sb->buf + sb->used, p, n);
    sb->used += n;
}

CnExprStr cn_expr__sb_end(StrBuild *sb) {
    CnExprStr s = {sb->buf ? sb->buf + sb->row : "", (uint32_t)(sb->used - sb->row)};
    sb->row = sb->used;
    return s;
}

const char *cn_expr__cstr(EvalCtx *c, CBuf *b, CnExprStr s) {
    if (s.len + 1 > b->cap) {
        size_t cap = CN_MAX((size_t)s.len + 1, b->cap * 2);
        cap = CN_MAX(cap, (size_t)256);
        char *p = cn_arena_alloc(c->a, cap);
        if (!p) return NULL;
        b->p = p;
        b->cap = cap;
    }
    if (s.len) memcpy(b->p, s.p, s.len);
    b->p[s.len] = '\0';
    return b->p;
}

/* ------------------------------------------------------------- leaves */

static int eval_lit(EvalCtx *c, const Node *nd, Val *out) {
    memset(out, 0, sizeof *out);
    out->t = nd->t;
    out->type = nd->type;
    out->n = c->n;
    out->is_const = true;
    out->cnull = nd->lit.is_null;
    size_t w = cn_expr__val_width(nd->t);
    out->data = cn_arena_calloc(c->a, w ? w : 8);
    if (!out->data) return oom(c);
    if (nd->lit.is_null) return 0;
    switch (nd->t) {
    case CN_COL_BOOL: *(uint8_t *)out->data = nd->lit.v.b; break;
    case CN_COL_INT32: case CN_COL_DATE: *(int32_t *)out->data = nd->lit.v.i32; break;
    case CN_COL_INT64: case CN_COL_TIMESTAMP: *(int64_t *)out->data = nd->lit.v.i64; break;
    case CN_COL_FLOAT32: *(float *)out->data = nd->lit.v.f32; break;
    case CN_COL_FLOAT64: *(double *)out->data = nd->lit.v.f64; break;
    case CN_COL_STRING: case CN_COL_BINARY:
        *(CnExprStr *)out->data = (CnExprStr){nd->lit.v.s.p, nd->lit.v.s.len};
        break;
    default: break;
    }
    return 0;
}

static int eval_col(EvalCtx *c, const Node *nd, Val *out) {
    const CnVec *v = &c->b->cols[nd->col];
    const uint32_t *sel = c->sel;
    uint32_t n = c->n;
    memset(out, 0, sizeof *out);
    out->t = v->type->id;
    out->type = v->type;
    out->n = n;
    if (cn_col_type_is_nested(out->t)) {
        out->src = v;
        out->rows = sel;
        return 0;
    }
    /* validity */
    if (v->valid && v->n_null) {
        if (!sel) {
            out->valid = v->valid;
        } else {
            uint64_t *bm = cn_arena_calloc(c->a, (bm_words(n) + 1) * 8);
            if (!bm) return oom(c);
            for (uint32_t i = 0; i < n; i++)
                bm[i >> 6] |= (uint64_t)((v->valid[sel[i] >> 6] >> (sel[i] & 63)) & 1) << (i & 63);
            out->valid = bm;
        }
    }
    if (out->t == CN_COL_STRING || out->t == CN_COL_BINARY) {
        CnExprStr *s = cn_arena_alloc(c->a, (n ? n : 1) * sizeof *s);
        if (!s) return oom(c);
        const uint32_t *off = v->offsets;
        const char *bytes = (const char *)v->bytes;
        if (sel) {
            for (uint32_t i = 0; i < n; i++) {
                uint32_t r = sel[i];
                s[i].p = bytes + off[r];
                s[i].len = off[r + 1] - off[r];
            }
        } else {
            for (uint32_t i = 0; i < n; i++) {
                s[i].p = bytes + off[i];
                s[i].len = off[i + 1] - off[i];
            }
        }
        out->data = s;
        return 0;
    }
    size_t w = cn_col_type_width(out->t);
    if (!sel) {
        out->data = v->values; /* zero-copy view: nodes never write into their inputs */
        return 0;
    }
    void *d = cn_arena_alloc(c->a, (n ? n : 1) * w);
    if (!d) return oom(c);
    switch (w) {
    case 1: { const uint8_t *s = v->values; uint8_t *o = d; for (uint32_t i = 0; i < n; i++) o[i] = s[sel[i]]; break; }
    case 4: { const uint32_t *s = v->values; uint32_t *o = d; for (uint32_t i = 0; i < n; i++) o[i] = s[sel[i]]; break; }
    default: { const uint64_t *s = v->values; uint64_t *o = d; for (uint32_t i = 0; i < n; i++) o[i] = s[sel[i]]; break; }
    }
    out->data = d;
    return 0;
}

/* ---------------------------------------------------------- arithmetic */

/* Spark wraps integer overflow in non-ANSI mode: do the math unsigned (no UB). */
#define W32(op) ((int32_t)((uint32_t)x op (uint32_t)y))
#define W64(op) ((int64_t)((uint64_t)x op (uint64_t)y))

/* One loop per const shape so the common `col op literal` loop stays tight. */
#define BIN_LOOP(TI, TO, EXPR)                                                   \
    do {                                                                         \
        const TI *A_ = a->data, *B_ = b->data;                                   \
        TO *R_ = out->data;                                                      \
        uint32_t n_ = c->n;                                                      \
        if (a->is_const && b->is_const) {                                        \
            const TI x = A_[0], y = B_[0];                                       \
            for (uint32_t i = 0; i < n_; i++) R_[i] = (EXPR);                    \
        } else if (a->is_const) {                                                \
            const TI x = A_[0];                                                  \
            for (uint32_t i = 0; i < n_; i++) { const TI y = B_[i]; R_[i] = (EXPR); } \
        } else if (b->is_const) {                                                \
            const TI y = B_[0];                                                  \
            for (uint32_t i = 0; i < n_; i++) { const TI x = A_[i]; R_[i] = (EXPR); } \
        } else {                                                                 \
            for (uint32_t i = 0; i < n_; i++) { const TI x = A_[i], y = B_[i]; R_[i] = (EXPR); } \
        }                                                                        \
    } while (0)

/* Clears validity where the divisor is zero (Spark: x / 0, x % 0, x div 0 are null). */
#define ZERO_DIVISOR_NULLS(T)                                                    \
    do {                                                                         \
        const T *B_ = b->data;                                                   \
        if (b->is_const) {                                                       \
            if (B_[0] == 0) memset(bm, 0, (bm_words(c->n) + 1) * 8);             \
        } else {                                                                 \
            for (uint32_t i = 0; i < c->n; i++)                                  \
                if (B_[i] == 0) bm_clear(bm, i);                                 \
        }                                                                        \
    } while (0)

static inline int32_t mod32(int32_t x, int32_t y) { return (y == 0 || y == -1) ? 0 : x % y; }
static inline int64_t mod64(int64_t x, int64_t y) { return (y == 0 || y == -1) ? 0 : x % y; }
static inline int64_t idiv64(int64_t x, int64_t y) {
    if (y == 0) return 0;
    if (y == -1) return (int64_t)(0 - (uint64_t)x); /* INT64_MIN div -1 wraps, as in Java */
    return x / y;
}
static inline double fdiv(double x, double y) { return y == 0 ? 0 : x / y; }
static inline double fmod0(double x, double y) { return y == 0 ? 0 : fmod(x, y); }

static int eval_bin(EvalCtx *c, const Node *nd, const Val *a, const Val *b, Val *out) {
    CnTypeId t = nd->t;
    int rc;
    if ((a->is_const && a->cnull) || (b->is_const && b->cnull)) {
        memset(out, 0, sizeof *out);
        out->t = t;
        out->type = nd->type;
        out->n = c->n;
        out->is_const = out->cnull = true;
        out->data = cn_arena_calloc(c->a, 16);
        return out->data ? 0 : oom(c);
    }
    if ((rc = cn_expr__val_new(c, out, t, false)) < 0) return rc;
    bool zero_null = nd->op == OP_DIV || nd->op == OP_MOD || nd->op == OP_IDIV;
    bool all_null;
    uint64_t *v;
    const Val args[2] = {*a, *b};
    if ((rc = cn_expr__strict_valid(c, args, 2, &v, &all_null)) < 0) return rc;
    uint64_t *bm = v;
    if (zero_null) {
        if (!(bm = valid_copy(c, v))) return oom(c);
    }
    switch (t) {
    case CN_COL_INT32:
        switch (nd->op) {
        case OP_ADD: BIN_LOOP(int32_t, int32_t, W32(+)); break;
        case OP_SUB: BIN_LOOP(int32_t, int32_t, W32(-)); break;
        case OP_MUL: BIN_LOOP(int32_t, int32_t, W32(*)); break;
        case OP_MOD: BIN_LOOP(int32_t, int32_t, mod32(x, y)); ZERO_DIVISOR_NULLS(int32_t); break;
        case OP_BAND: BIN_LOOP(int32_t, int32_t, x & y); break;
        case OP_BOR: BIN_LOOP(int32_t, int32_t, x | y); break;
        case OP_BXOR: BIN_LOOP(int32_t, int32_t, x ^ y); break;
        default: goto bad;
        }
        break;
    case CN_COL_INT64:
        switch (nd->op) {
        case OP_ADD: BIN_LOOP(int64_t, int64_t, W64(+)); break;
        case OP_SUB: BIN_LOOP(int64_t, int64_t, W64(-)); break;
        case OP_MUL: BIN_LOOP(int64_t, int64_t, W64(*)); break;
        case OP_MOD: BIN_LOOP(int64_t, int64_t, mod64(x, y)); ZERO_DIVISOR_NULLS(int64_t); break;
        case OP_IDIV: BIN_LOOP(int64_t, int64_t, idiv64(x, y)); ZERO_DIVISOR_NULLS(int64_t); break;
        case OP_BAND: BIN_LOOP(int64_t, int64_t, x & y); break;
        case OP_BOR: BIN_LOOP(int64_t, int64_t, x | y); break;
        case OP_BXOR: BIN_LOOP(int64_t, int64_t, x ^ y); break;
        default: goto bad;
        }
        break;
    case CN_COL_FLOAT32:
        switch (nd->op) {
        case OP_ADD: BIN_LOOP(float, float, x + y); break;
        case OP_SUB: BIN_LOOP(float, float, x - y); break;
        case OP_MUL: BIN_LOOP(float, float, x * y); break;
        case OP_MOD: BIN_LOOP(float, float, (float)fmod0(x, y)); ZERO_DIVISOR_NULLS(float); break;
        default: goto bad;
        }
        break;
    case CN_COL_FLOAT64:
        switch (nd->op) {
        case OP_ADD: BIN_LOOP(double, double, x + y); break;
        case OP_SUB: BIN_LOOP(double, double, x - y); break;
        case OP_MUL: BIN_LOOP(double, double, x * y); break;
        case OP_DIV: BIN_LOOP(double, double, fdiv(x, y)); ZERO_DIVISOR_NULLS(double); break;
        case OP_MOD: BIN_LOOP(double, double, fmod0(x, y)); ZERO_DIVISOR_NULLS(double); break;
        default: goto bad;
        }
        break;
    default: goto bad;
    }
    out->valid = bm;
    return 0;
bad:
    return cn_err_set(c->err, CN_EINTERNAL, "eval: operator %d on type %d", nd->op, (int)t);
}

static int eval_unary(EvalCtx *c, const Node *nd, const Val *a, Val *out) {
    int rc;
    if (a->is_const && a->cnull) {
        *out = *a;
        return 0;
    }
    if ((rc = cn_expr__val_new(c, out, nd->t, false)) < 0) return rc;
    uint32_t n = a->is_const ? 1 : c->n;
    out->is_const = a->is_const;
    out->valid = a->valid;
    switch (nd->t) {
    case CN_COL_INT32: {
        const int32_t *x = a->data;
        int32_t *r = out->data;
        if (nd->op == OP_NEG) for (uint32_t i = 0; i < n; i++) r[i] = (int32_t)(0u - (uint32_t)x[i]);
        else for (uint32_t i = 0; i < n; i++) r[i] = ~x[i];
        break;
    }
    case CN_COL_INT64: {
        const int64_t *x = a->data;
        int64_t *r = out->data;
        if (nd->op == OP_NEG) for (uint32_t i = 0; i < n; i++) r[i] = (int64_t)(0u - (uint64_t)x[i]);
        else for (uint32_t i = 0; i < n; i++) r[i] = ~x[i];
        break;
    }
    case CN_COL_FLOAT32: { const float *x = a->data; float *r = out->data; for (uint32_t i = 0; i < n; i++) r[i] = -x[i]; break; }
    case CN_COL_FLOAT64: { const double *x = a->data; double *r = out->data; for (uint32_t i = 0; i < n; i++) r[i] = -x[i]; break; }
    default: return cn_err_set(c->err, CN_EINTERNAL, "eval: unary on type %d", (int)nd->t);
    }
    return 0;
}

/* ---------------------------------------------------------- comparison */

/* Spark orders NaN above every other double and equal to itself; -0.0 equals 0.0. */
static inline int c3_f64(double x, double y) {
    if (x < y) return -1;
    if (x > y) return 1;
    if (x == y) return 0;
    bool xn = x != x, yn = y != y;
    return xn && yn ? 0 : (xn ? 1 : -1);
}
#define C3_NUM(x, y) (((x) > (y)) - ((x) < (y)))
static inline int c3_str(CnExprStr x, CnExprStr y) {
    uint32_t m = CN_MIN(x.len, y.len);
    int r = m ? memcmp(x.p, y.p, m) : 0;
    if (r) return r < 0 ? -1 : 1;
    return C3_NUM(x.len, y.len);
}

#define CMP_ALL(T, C3)                                                           \
    switch (op) {                                                                \
    case OP_EQ: case OP_NSEQ: BIN_LOOP(T, uint8_t, C3(x, y) == 0); break;        \
    case OP_NE: BIN_LOOP(T, uint8_t, C3(x, y) != 0); break;                      \
    case OP_LT: BIN_LOOP(T, uint8_t, C3(x, y) < 0); break;                       \
    case OP_LE: BIN_LOOP(T, uint8_t, C3(x, y) <= 0); break;                      \
    case OP_GT: BIN_LOOP(T, uint8_t, C3(x, y) > 0); break;                       \
    default: BIN_LOOP(T, uint8_t, C3(x, y) >= 0); break;                         \
    }

static int cmp_values(EvalCtx *c, int op, const Val *a, const Val *b, Val *out) {
    switch (a->t) {
    case CN_COL_BOOL: CMP_ALL(uint8_t, C3_NUM); break;
    case CN_COL_INT32: case CN_COL_DATE: CMP_ALL(int32_t, C3_NUM); break;
    case CN_COL_INT64: case CN_COL_TIMESTAMP: CMP_ALL(int64_t, C3_NUM); break;
    case CN_COL_FLOAT32: CMP_ALL(float, c3_f64); break;
    case CN_COL_FLOAT64: CMP_ALL(double, c3_f64); break;
    case CN_COL_STRING: case CN_COL_BINARY: CMP_ALL(CnExprStr, c3_str); break;
    default: return cn_err_set(c->err, CN_EINTERNAL, "eval: comparison on type %d", (int)a->t);
    }
    return 0;
}

static int eval_cmp(EvalCtx *c, const Node *nd, const Val *a, const Val *b, Val *out) {
    int rc;
    if (nd->op != OP_NSEQ && ((a->is_const && a->cnull) || (b->is_const && b->cnull)))
        return eval_bin(c, nd, a, b, out); /* the all-null result */
    if ((rc = cn_expr__val_new(c, out, CN_COL_BOOL, false)) < 0) return rc;
    if ((rc = cmp_values(c, nd->op, a, b, out)) < 0) return rc;
    if (nd->op != OP_NSEQ) {
        const Val args[2] = {*a, *b};
        bool all_null;
        return cn_expr__strict_valid(c, args, 2, &out->valid, &all_null);
    }
    /* <=>: both null is true, one null is false, never null */
    uint8_t *r = out->data;
    for (uint32_t i = 0; i < c->n; i++) {
        bool an = val_is_null(a, i), bn = val_is_null(b, i);
        if (an || bn) r[i] = an && bn;
    }
    return 0;
}

/* ------------------------------------------------------------- boolean */

static int eval_andor(EvalCtx *c, const Node *nd, const Val *a, const Val *b, Val *out) {
    int rc;
    if ((rc = cn_expr__val_new(c, out, CN_COL_BOOL, true)) < 0) return rc;
    uint8_t *r = out->data;
    bool is_and = nd->kind == N_AND;
    bool any_null = false;
    for (uint32_t i = 0; i < c->n; i++) {
        bool an = val_is_null(a, i), bn = val_is_null(b, i);
        bool av = !an && VAL_AT(a, uint8_t, i), bv = !bn && VAL_AT(b, uint8_t, i);
        bool res, null;
        if (is_and) {
            /* false wins over null */
            bool af = !an && !av, bf = !bn && !bv;
            res = av && bv;
            null = !(af || bf) && (an || bn);
        } else {
            res = av || bv;
            null = !res && (an || bn);
        }
        r[i] = res && !null;
        if (null) {
            bm_clear(out->valid, i);
            any_null = true;
        }
    }
    if (!any_null) out->valid = NULL;
    return 0;
}

static int eval_not(EvalCtx *c, const Val *a, Val *out) {
    int rc;
    if ((rc = cn_expr__val_new(c, out, CN_COL_BOOL, false)) < 0) return rc;
    uint32_t n = a->is_const ? 1 : c->n;
    const uint8_t *x = a->data;
    uint8_t *r = out->data;
    for (uint32_t i = 0; i < n; i++) r[i] = !x[i];
    out->is_const = a->is_const;
    out->cnull = a->cnull;
    out->valid = a->valid;
    return 0;
}

static int eval_isnull(EvalCtx *c, const Node *nd, const Val *a, Val *out) {
    int rc;
    if ((rc = cn_expr__val_new(c, out, CN_COL_BOOL, false)) < 0) return rc;
    uint8_t *r = out->data;
    for (uint32_t i = 0; i < c->n; i++) r[i] = (uint8_t)(val_is_null(a, i) != nd->negated);
    return 0;
}

/* ------------------------------------------------------------------ IN */

static bool eq_at(CnTypeId t, const Val *x, uint32_t i, const Val *y, uint32_t j) {
    switch (t) {
    case CN_COL_BOOL: return VAL_AT(x, uint8_t, i) == VAL_AT(y, uint8_t, j);
    case CN_COL_INT32: case CN_COL_DATE: return VAL_AT(x, int32_t, i) == VAL_AT(y, int32_t, j);
    case CN_COL_INT64: case CN_COL_TIMESTAMP: return VAL_AT(x, int64_t, i) == VAL_AT(y, int64_t, j);
    case CN_COL_FLOAT32: return c3_f64(VAL_AT(x, float, i), VAL_AT(y, float, j)) == 0;
    case CN_COL_FLOAT64: return c3_f64(VAL_AT(x, double, i), VAL_AT(y, double, j)) == 0;
    case CN_COL_STRING: case CN_COL_BINARY: return c3_str(VAL_AT(x, CnExprStr, i), VAL_AT(y, CnExprStr, j)) == 0;
    default: return false;
    }
}

static int eval_in(EvalCtx *c, const Node *nd, const Val *args, Val *out) {
    int rc;
    if ((rc = cn_expr__val_new(c, out, CN_COL_BOOL, true)) < 0) return rc;
    uint8_t *r = out->data;
    CnTypeId t = nd->args[0]->t;
    const Val *x = &args[0];
    bool any_null = false;
    for (uint32_t i = 0; i < c->n; i++) {
        bool found = false, saw_null = false;
        if (val_is_null(x, i)) {
            saw_null = true;
        } else {
            for (uint32_t k = 1; k < nd->n_args && !found; k++) {
                if (val_is_null(&args[k], i)) saw_null = true;
                else found = eq_at(t, x, i, &args[k], i);
            }
        }
        if (!found && saw_null) {
            bm_clear(out->valid, i);
            any_null = true;
            r[i] = 0;
        } else {
            r[i] = (uint8_t)(found != nd->negated);
        }
    }
    if (!any_null) out->valid = NULL;
    return 0;
}

/* ---------------------------------------------------------------- LIKE */

static uint32_t utf8_len1(unsigned char c) {
    return c < 0x80 ? 1 : c < 0xe0 ? 2 : c < 0xf0 ? 3 : 4;
}

/* SQL LIKE: % any run, _ one character (UTF-8), esc makes the next char literal.
 * Iterative with one backtrack point (the last %), so linear-ish and no recursion. */
static bool like_match(const char *s, uint32_t sn, const char *p, uint32_t pn, unsigned esc) {
    uint32_t si = 0, pi = 0, star_p = UINT32_MAX, star_s = 0;
    while (si < sn) {
        if (pi < pn) {
            unsigned char pc = (unsigned char)p[pi];
            if (pc == '%') {
                star_p = ++pi;
                star_s = si;
                continue;
            }
            if (pc == '_') {
                si += utf8_len1((unsigned char)s[si]);
                if (si > sn) si = sn;
                pi++;
                continue;
            }
            if (pc == esc && pi + 1 < pn) {
                pc = (unsigned char)p[pi + 1];
                if ((unsigned char)s[si] == pc) {
                    si++;
                    pi += 2;
                    continue;
                }
            } else if ((unsigned char)s[si] == pc) {
                si++;
                pi++;
                continue;
            }
        }
        if (star_p == UINT32_MAX) return false;
        pi = star_p;
        star_s += utf8_len1((unsigned char)s[star_s]);
        si = star_s;
        if (si > sn) return false;
    }
    while (pi < pn && p[pi] == '%') pi++;
    return pi == pn;
}

static int eval_like(EvalCtx *c, const Node *nd, const Val *args, Val *out) {
    int rc;
    if ((rc = cn_expr__val_new(c, out, CN_COL_BOOL, false)) < 0) return rc;
    bool all_null;
    if ((rc = cn_expr__strict_valid(c, args, 2, &out->valid, &all_null)) < 0) return rc;
    uint8_t *r = out->data;
    if (all_null) {
        out->is_const = out->cnull = true;
        return 0;
    }
    CBuf cb = {0};
    for (uint32_t i = 0; i < c->n; i++) {
        if (out->valid && !bm_get(out->valid, i)) continue;
        CnExprStr s = VAL_AT(&args[0], CnExprStr, i), p = VAL_AT(&args[1], CnExprStr, i);
        bool m;
        if (nd->kind == N_LIKE) {
            m = like_match(s.p, s.len, p.p, p.len, (unsigned)nd->aux);
        } else {
            regmatch_t pm[1] = {{.rm_so = 0, .rm_eo = (regoff_t)s.len}};
            const char *cs = cn_expr__cstr(c, &cb, s);
            if (!cs) return oom(c);
            m = regexec(nd->re, cs, 1, pm, REG_STARTEND) == 0;
        }
        r[i] = (uint8_t)(m != nd->negated);
    }
    return 0;
}

/* ---------------------------------------------------------------- CASE */

static int eval_case(EvalCtx *c, const Node *nd, const Val *args, Val *out) {
    int rc;
    CnTypeId t = nd->t;
    if ((rc = cn_expr__val_new(c, out, t, true)) < 0) return rc;
    size_t w = cn_expr__val_width(t);
    uint32_t n_when = (nd->n_args - (nd->case_else ? 1 : 0)) / 2;
    const Val *els = nd->case_else ? &args[nd->n_args - 1] : NULL;
    char *r = out->data;
    bool any_null = false;
    for (uint32_t i = 0; i < c->n; i++) {
        const Val *pick = els;
        for (uint32_t k = 0; k < n_when; k++) {
            const Val *cond = &args[2 * k];
            if (!val_is_null(cond, i) && VAL_AT(cond, uint8_t, i)) {
                pick = &args[2 * k + 1];
                break;
            }
        }
        if (!pick || val_is_null(pick, i)) {
            bm_clear(out->valid, i);
            memset(r + i * w, 0, w);
            any_null = true;
        } else {
            memcpy(r + i * w, (const char *)pick->data + (pick->is_const ? 0 : i * w), w);
        }
    }
    if (!any_null) out->valid = NULL;
    return 0;
}

/* ---------------------------------------------------------------- nodes */

int cn_expr__eval_node(EvalCtx *c, const Node *nd, Val *out) {
    int rc;
    switch ((NodeKind)nd->kind) {
    case N_LIT: return eval_lit(c, nd, out);
    case N_COL: return eval_col(c, nd, out);
    default: break;
    }
    Val stack_args[4];
    Val *args = stack_args;
    if (nd->n_args > CN_ARRAY_LEN(stack_args)) {
        args = cn_arena_alloc(c->a, nd->n_args * sizeof *args);
        if (!args) return oom(c);
    }
    for (uint32_t i = 0; i < nd->n_args; i++)
        if ((rc = cn_expr__eval_node(c, nd->args[i], &args[i])) < 0) return rc;
    switch ((NodeKind)nd->kind) {
    case N_UNARY: return eval_unary(c, nd, &args[0], out);
    case N_BIN: return eval_bin(c, nd, &args[0], &args[1], out);
    case N_CMP: return eval_cmp(c, nd, &args[0], &args[1], out);
    case N_AND: case N_OR: return eval_andor(c, nd, &args[0], &args[1], out);
    case N_NOT: return eval_not(c, &args[0], out);
    case N_ISNULL: return eval_isnull(c, nd, &args[0], out);
    case N_IN: return eval_in(c, nd, args, out);
    case N_LIKE: case N_RLIKE: return eval_like(c, nd, args, out);
    case N_CASE: return eval_case(c, nd, args, out);
    case N_CAST:
        if (args[0].t == nd->t && nd->aux == 0) {
            *out = args[0];
            return 0;
        }
        return cn_expr__cast_val(c, &args[0], nd->t, nd->aux, out);
    case N_CALL: return nd->fn->eval(c, nd, args, out);
    default: return cn_err_set(c->err, CN_EINTERNAL, "eval: unexpected node kind %d", nd->kind);
    }
}

/* ------------------------------------------------------------- output */

/* Appends n entries of v to the vector out (which owns growable buffers). */
static int val_append(EvalCtx *c, const Val *v, CnVec *out) {
    uint32_t n = c->n, base = out->n;
    CnTypeId t = out->type->id;
    if (n == 0) return 0;
    if (cn_col_type_is_nested(t)) {
        for (uint32_t i = 0; i < n; i++) {
            if (val_is_null(v, i) || !v->src) {
                if (cn_col_vec_append_null(out) < 0) return oom(c);
            } else if (cn_col_vec_append_from(out, v->src, v->rows ? v->rows[i] : i) < 0) {
                return oom(c);
            }
        }
        return 0;
    }
    if (cn_col_vec_reserve(out, n) < 0) return oom(c);
    /* validity first: count nulls */
    uint32_t n_null = 0;
    bool has_null = v->is_const ? v->cnull : v->valid != NULL;
    if (has_null) {
        if (v->is_const) n_null = n;
        else
            for (uint32_t i = 0; i < n; i++) n_null += !bm_get(v->valid, i);
    }
    if (n_null && cn_col_vec_make_valid(out) < 0) return oom(c);
    if (out->valid) {
        for (uint32_t i = 0; i < n; i++) {
            if (!val_is_null(v, i)) bm_set(out->valid, base + i);
            else bm_clear(out->valid, base + i);
        }
    }
    if (t == CN_COL_STRING || t == CN_COL_BINARY) {
        size_t total = 0;
        for (uint32_t i = 0; i < n; i++)
            if (!val_is_null(v, i)) total += VAL_AT(v, CnExprStr, i).len;
        if (total > UINT32_MAX - (size_t)out->offsets[base])
            return cn_err_set(c->err, CN_ELIMIT, "expression result: string column over 4 GiB in one batch");
        if (cn_col_vec_reserve_bytes(out, total) < 0) return oom(c);
        uint32_t off = out->offsets[base];
        for (uint32_t i = 0; i < n; i++) {
            if (!val_is_null(v, i)) {
                CnExprStr s = VAL_AT(v, CnExprStr, i);
                if (s.len) memcpy(out->bytes + off, s.p, s.len);
                off += s.len;
            }
            out->offsets[base + i + 1] = off;
        }
    } else {
        size_t w = cn_col_type_width(t);
        char *dst = (char *)out->values + (size_t)base * w;
        if (v->is_const) {
            for (uint32_t i = 0; i < n; i++) memcpy(dst + i * w, v->data, w);
        } else {
            memcpy(dst, v->data, (size_t)n * w);
        }
        if (n_null) /* zero the null slots so output bytes never depend on garbage */
            for (uint32_t i = 0; i < n; i++)
                if (val_is_null(v, i)) memset(dst + i * w, 0, w);
    }
    out->n = base + n;
    out->n_null += n_null;
    return 0;
}

static void ctx_init(EvalCtx *c, CnArena *a, const CnBatch *b, const uint32_t *sel, uint32_t n_sel,
                     CnErr *err) {
    memset(c, 0, sizeof *c);
    c->b = b;
    c->sel = sel;
    c->n = sel ? n_sel : b->n_rows;
    c->a = a;
    c->err = err;
}

int cn_expr_eval(const CnExpr *e, const CnBatch *b, const uint32_t *sel, uint32_t n_sel, CnVec *out,
                 CnErr *err) {
    CN_ASSERT(cn_col_type_equal(out->type, e->root->type));
    CnArena a;
    cn_arena_init(&a, 0);
    EvalCtx c;
    ctx_init(&c, &a, b, sel, n_sel, err);
    Val v;
    int rc = cn_expr__eval_node(&c, e->root, &v);
    if (rc == 0) rc = val_append(&c, &v, out);
    tmp_free(c.tmps);
    cn_arena_fini(&a);
    return rc;
}

int cn_expr_filter(const CnExpr *e, const CnBatch *b, const uint32_t *sel_in, uint32_t n_in,
                   uint32_t *sel_out, uint32_t *n_out, CnErr *err) {
    *n_out = 0;
    if (e->root->t != CN_COL_BOOL) {
        char q[200], tb[64];
        return cn_err_set(err, CN_ETYPE, "%s: a filter must be boolean, got %s", cn_expr__quote(e, q, sizeof q),
                          cn_col_type_name(e->root->type, tb, sizeof tb));
    }
    CnArena a;
    cn_arena_init(&a, 0);
    EvalCtx c;
    ctx_init(&c, &a, b, sel_in, n_in, err);
    Val v;
    int rc = cn_expr__eval_node(&c, e->root, &v);
    if (rc == 0) {
        uint32_t k = 0;
        const uint8_t *x = v.data;
        if (v.is_const) {
            if (!v.cnull && x[0])
                for (uint32_t i = 0; i < c.n; i++) sel_out[k++] = sel_in ? sel_in[i] : i;
        } else if (!v.valid) {
            /* branch-free compaction: always write, advance only when kept */
            for (uint32_t i = 0; i < c.n; i++) {
                sel_out[k] = sel_in ? sel_in[i] : i;
                k += x[i];
            }
        } else {
            for (uint32_t i = 0; i < c.n; i++) {
                sel_out[k] = sel_in ? sel_in[i] : i;
                k += x[i] & (uint8_t)bm_get(v.valid, i);
            }
        }
        *n_out = k;
    }
    tmp_free(c.tmps);
    cn_arena_fini(&a);
    return rc;
}
