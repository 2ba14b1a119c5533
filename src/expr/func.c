/* func.c: the function table and its kernels (strings, math, dates, collections,
 * null handling). Each kernel runs one loop over the evaluated rows; string results go
 * through a StrBuild in the scratch arena. Semantics are Spark 3's non-ANSI ones; the
 * user-facing list with the details lives in docs/expressions.md. */
#include "expr/expr_int.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/date.h"

#define PI_ 3.14159265358979323846
#define E_ 2.71828182845904523536
#define ROWS for (uint32_t i = 0; i < c->n; i++)
#define SKIP_NULL(i) if (out->valid && !bm_get(out->valid, (i))) continue

static CN_COLD int oom(EvalCtx *c) { return cn_err_set(c->err, CN_ENOMEM, "expression evaluation: out of memory"); }

/* Starts a strict kernel: out of type t over c->n rows, valid = AND of the args.
 * own: the kernel may null more rows (a private bitmap).
 * Returns 1 when every row is null (out is then a const null), 0 to go on, < 0. */
static int begin(EvalCtx *c, const Val *args, uint32_t nargs, CnTypeId t, Val *out, bool own) {
    int rc = cn_expr__val_new(c, out, t, false);
    if (rc < 0) return rc;
    bool all_null;
    uint64_t *v;
    if ((rc = cn_expr__strict_valid(c, args, nargs, &v, &all_null)) < 0) return rc;
    if (all_null) {
        out->is_const = out->cnull = true;
        return 1;
    }
    out->valid = v;
    if (own) {
        uint64_t *bm = cn_arena_alloc(c->a, (bm_words(c->n) + 1) * 8);
        if (!bm) return oom(c);
        if (v) memcpy(bm, v, bm_words(c->n) * 8);
        else memset(bm, 0xff, (bm_words(c->n) + 1) * 8);
        out->valid = bm;
    }
    return 0;
}
#define BEGIN(nargs, t, own)                                                      \
    do {                                                                          \
        int rc_ = begin(c, args, (nargs), (t), out, (own));                       \
        if (rc_ != 0) return rc_ < 0 ? rc_ : 0;                                   \
    } while (0)

static const Val *arg_or_null(const Val *args, const Node *n, uint32_t i) { return i < n->n_args ? &args[i] : NULL; }

/* ------------------------------------------------------------ UTF-8 */

static uint32_t u8len(unsigned char c) { return c < 0x80 ? 1 : c < 0xe0 ? 2 : c < 0xf0 ? 3 : 4; }
static uint32_t u8count(const char *p, uint32_t n) {
    uint32_t k = 0;
    for (uint32_t i = 0; i < n; i++) k += ((unsigned char)p[i] & 0xc0) != 0x80;
    return k;
}
/* Byte offset of character index ci (clamped to n). */
static uint32_t u8off(const char *p, uint32_t n, int64_t ci) {
    uint32_t i = 0;
    while (ci > 0 && i < n) {
        i += u8len((unsigned char)p[i]);
        ci--;
    }
    return i > n ? n : i;
}

/* ------------------------------------------------------------ null handling */

static int bind_coalesce(CnExpr *e, Node *n, CnErr *err) {
    CnTypeId t;
    int rc = cn_expr__unify(e, n, 0, true, n->fn->name, &t, err);
    if (rc < 0) return rc;
    cn_expr__set_type(n, t == CN_EXPR__TNULL ? CN_COL_STRING : t);
    if (t == CN_EXPR__TNULL)
        for (uint32_t i = 0; i < n->n_args; i++)
            if ((rc = cn_expr__cast_arg(e, n, i, CN_COL_STRING, err)) < 0) return rc;
    return 0;
}
static int ev_coalesce(EvalCtx *c, const Node *n, const Val *args, Val *out) {
    int rc = cn_expr__val_new(c, out, n->t, true);
    if (rc < 0) return rc;
    size_t w = cn_expr__val_width(n->t);
    bool any_null = false;
    ROWS {
        uint32_t k = 0;
        while (k < n->n_args && val_is_null(&args[k], i)) k++;
        if (k == n->n_args) {
            bm_clear(out->valid, i);
            any_null = true;
        } else {
            memcpy((char *)out->data + i * w, (const char *)args[k].data + (args[k].is_const ? 0 : i * w), w);
        }
    }
    if (!any_null) out->valid = NULL;
    return 0;
}

static int bind_if(CnExpr *e, Node *n, CnErr *err) {
    n->case_else = true;
    return cn_expr__bind_case(e, n, err);
}

static int bind_nvl2(CnExpr *e, Node *n, CnErr *err) {
    /* nvl2(a, b, c) = CASE WHEN a IS NOT NULL THEN b ELSE c END */
    Node *isn = cn_expr__node(e, N_ISNULL, n->args[0]->pos, 1);
    if (!isn) return cn_err_set(err, CN_ENOMEM, "expression: out of memory");
    isn->args[0] = n->args[0];
    isn->negated = true;
    cn_expr__set_type(isn, CN_COL_BOOL);
    isn->nullable = false;
    n->args[0] = isn;
    n->case_else = true;
    return cn_expr__bind_case(e, n, err);
}

static int bind_nullif(CnExpr *e, Node *n, CnErr *err) {
    /* nullif(a, b): args become [a, a = b] */
    Node *eq = cn_expr__node(e, N_CMP, n->pos, 2);
    if (!eq) return cn_err_set(err, CN_ENOMEM, "expression: out of memory");
    eq->op = OP_EQ;
    eq->args[0] = n->args[0];
    eq->args[1] = n->args[1];
    int rc = cn_expr__bind_cmp(e, eq, err);
    if (rc < 0) return rc;
    n->args[1] = eq;
    if (n->args[0]->t == CN_EXPR__TNULL && (rc = cn_expr__cast_arg(e, n, 0, CN_COL_STRING, err)) < 0) return rc;
    cn_expr__set_type(n, n->args[0]->t);
    return 0;
}
static int ev_nullif(EvalCtx *c, const Node *n, const Val *args, Val *out) {
    int rc = cn_expr__val_new(c, out, n->t, true);
    if (rc < 0) return rc;
    size_t w = cn_expr__val_width(n->t);
    ROWS {
        bool eq = !val_is_null(&args[1], i) && VAL_AT(&args[1], uint8_t, i);
        if (val_is_null(&args[0], i) || eq) bm_clear(out->valid, i);
        else memcpy((char *)out->data + i * w, (const char *)args[0].data + (args[0].is_const ? 0 : i * w), w);
    }
    return 0;
}

static int bind_isnull(CnExpr *e, Node *n, CnErr *err) {
    (void)e;
    (void)err;
    n->kind = N_ISNULL;
    n->negated = strcasecmp(n->name, "isnotnull") == 0;
    cn_expr__set_type(n, CN_COL_BOOL);
    n->nullable = false;
    return 0;
}

/* Function-style casts: int(x), string(x), ... */
static int bind_fcast(CnExpr *e, Node *n, CnErr *err) {
    n->name = n->fn->name;
    return cn_expr__bind_cast(e, n, err);
}

static int bind_mod(CnExpr *e, Node *n, CnErr *err) { return cn_expr__bind_binop(e, n, OP_MOD, err); }

/* ------------------------------------------------------------ strings */

static int ev_concat(EvalCtx *c, const Node *n, const Val *args, Val *out) {
    BEGIN(n->n_args, CN_COL_STRING, false);
    StrBuild sb;
    cn_expr__sb_init(&sb, c->a);
    CnExprStr *r = out->data;
    ROWS {
        SKIP_NULL(i);
        for (uint32_t k = 0; k < n->n_args; k++) {
            CnExprStr s = VAL_AT(&args[k], CnExprStr, i);
            cn_expr__sb_put(&sb, s.p, s.len);
        }
        r[i] = cn_expr__sb_end(&sb);
    }
    return sb.oom ? oom(c) : 0;
}

static int bind_concat_ws(CnExpr *e, Node *n, CnErr *err) {
    int rc;
    for (uint32_t i = 0; i < n->n_args; i++) {
        Node *a = n->args[i];
        if (i > 0 && a->t == CN_COL_LIST && a->type->children[0].type->id == CN_COL_STRING) continue;
        if (cn_col_type_is_nested(a->t))
            return cn_expr__bind_error(e, a, CN_ETYPE, err, "concat_ws: argument %u must be a string or array<string>", i + 1);
        if ((rc = cn_expr__cast_arg(e, n, i, CN_COL_STRING, err)) < 0) return rc;
    }
    cn_expr__set_type(n, CN_COL_STRING);
    return 0;
}
static int ev_concat_ws(EvalCtx *c, const Node *n, const Val *args, Val *out) {
    BEGIN(1, CN_COL_STRING, false); /* only a null separator makes the result null */
    StrBuild sb;
    cn_expr__sb_init(&sb, c->a);
    CnExprStr *r = out->data;
    ROWS {
        SKIP_NULL(i);
        CnExprStr sep = VAL_AT(&args[0], CnExprStr, i);
        bool first = true;
        for (uint32_t k = 1; k < n->n_args; k++) {
            const Val *a = &args[k];
            if (val_is_null(a, i)) continue;
            if (a->t == CN_COL_LIST) {
                const CnVec *v = a->src;
                uint32_t row = a->rows ? a->rows[i] : i;
                if (!cn_col_vec_is_valid(v, row)) continue;
                const CnVec *el = &v->child[0];
                for (uint32_t j = v->offsets[row]; j < v->offsets[row + 1]; j++) {
                    if (!cn_col_vec_is_valid(el, j)) continue;
                    uint32_t len;
                    const char *p = cn_col_vec_str(el, j, &len);
                    if (!first) cn_expr__sb_put(&sb, sep.p, sep.len);
                    cn_expr__sb_put(&sb, p, len);
                    first = false;
                }
                continue;
            }
            CnExprStr s = VAL_AT(a, CnExprStr, i);
            if (!first) cn_expr__sb_put(&sb, sep.p, sep.len);
            cn_expr__sb_put(&sb, s.p, s.len);
            first = false;
        }
        r[i] = cn_expr__sb_end(&sb);
    }
    return sb.oom ? oom(c) : 0;
}

static int ev_case_conv(EvalCtx *c, const Node *n, const Val *args, Val *out) {
    BEGIN(1, CN_COL_STRING, false);
    bool upper = n->aux;
    StrBuild sb;
    cn_expr__sb_init(&sb, c->a);
    CnExprStr *r = out->data;
    ROWS {
        SKIP_NULL(i);
        CnExprStr s = VAL_AT(&args[0], CnExprStr, i);
        for (uint32_t k = 0; k < s.len; k++) {
            char ch = s.p[k];
            if (upper && ch >= 'a' && ch <= 'z') ch = (char)(ch - 32);
            else if (!upper && ch >= 'A' && ch <= 'Z') ch = (char)(ch + 32);
            cn_expr__sb_putc(&sb, ch);
        }
        r[i] = cn_expr__sb_end(&sb);
    }
    return sb.oom ? oom(c) : 0;
}
static int bind_upper(CnExpr *e, Node *n, CnErr *err) {
    n->aux = 1;
    int rc = cn_expr__cast_arg(e, n, 0, CN_COL_STRING, err);
    cn_expr__set_type(n, CN_COL_STRING);
    return rc;
}
static int bind_lower(CnExpr *e, Node *n, CnErr *err) {
    n->aux = 0;
    int rc = cn_expr__cast_arg(e, n, 0, CN_COL_STRING, err);
    cn_expr__set_type(n, CN_COL_STRING);
    return rc;
}

/* Spark's substringSQL: 1-based, 0 means 1, negative counts from the end. */
static CnExprStr substr_sql(CnExprStr s, int64_t pos, int64_t len) {
    int64_t nchars = u8count(s.p, s.len);
    int64_t start = pos > 0 ? pos - 1 : (pos < 0 ? nchars + pos : 0);
    int64_t end = len > INT32_MAX ? INT64_MAX : start + len;
    if (start < 0) start = 0;
    if (start >= end || start >= nchars) return (CnExprStr){"", 0};
    if (end > nchars) end = nchars;
    uint32_t b0 = u8off(s.p, s.len, start);
    uint32_t b1 = b0 + u8off(s.p + b0, s.len - b0, end - start);
    return (CnExprStr){s.p + b0, b1 - b0};
}
static int ev_substr(EvalCtx *c, const Node *n, const Val *args, Val *out) {
    BEGIN(n->n_args, CN_COL_STRING, false);
    CnExprStr *r = out->data;
    const Val *len = arg_or_null(args, n, 2);
    ROWS {
        SKIP_NULL(i);
        r[i] = substr_sql(VAL_AT(&args[0], CnExprStr, i), VAL_AT(&args[1], int32_t, i),
                          len ? VAL_AT(len, int32_t, i) : INT32_MAX);
    }
    return 0;
}
static int ev_left_right(EvalCtx *c, const Node *n, const Val *args, Val *out) {
    BEGIN(2, CN_COL_STRING, false);
    CnExprStr *r = out->data;
    ROWS {
        SKIP_NULL(i);
        int64_t k = VAL_AT(&args[1], int32_t, i);
        CnExprStr s = VAL_AT(&args[0], CnExprStr, i);
        if (k <= 0) r[i] = (CnExprStr){"", 0};
        else r[i] = n->aux ? substr_sql(s, -k, k) : substr_sql(s, 1, k);
    }
    return 0;
}

static int ev_length(EvalCtx *c, const Node *n, const Val *args, Val *out) {
    (void)n;
    BEGIN(1, CN_COL_INT32, false);
    int32_t *r = out->data;
    ROWS {
        CnExprStr s = VAL_AT(&args[0], CnExprStr, i);
        r[i] = (int32_t)u8count(s.p, s.len);
    }
    return 0;
}

/* trim/ltrim/rtrim remove spaces (0x20) only, like Spark's UTF8String.trim. */
static int ev_trim(EvalCtx *c, const Node *n, const Val *args, Val *out) {
    BEGIN(1, CN_COL_STRING, false);
    CnExprStr *r = out->data;
    ROWS {
        SKIP_NULL(i);
        CnExprStr s = VAL_AT(&args[0], CnExprStr, i);
        if (n->aux != 2)
            while (s.len && s.p[0] == ' ') { s.p++; s.len--; }
        if (n->aux != 1)
            while (s.len && s.p[s.len - 1] == ' ') s.len--;
        r[i] = s;
    }
    return 0;
}

static int ev_pad(EvalCtx *c, const Node *n, const Val *args, Val *out) {
    BEGIN(n->n_args, CN_COL_STRING, true);
    StrBuild sb;
    cn_expr__sb_init(&sb, c->a);
    CnExprStr *r = out->data;
    const Val *padv = arg_or_null(args, n, 2);
    bool left = n->aux == 0;
    ROWS {
        SKIP_NULL(i);
        CnExprStr s = VAL_AT(&args[0], CnExprStr, i);
        int64_t len = VAL_AT(&args[1], int32_t, i);
        CnExprStr pad = padv ? VAL_AT(padv, CnExprStr, i) : (CnExprStr){" ", 1};
        if (len <= 0) {
            r[i] = (CnExprStr){"", 0};
            continue;
        }
        int64_t nch = u8count(s.p, s.len);
        /* a pad of only UTF-8 continuation bytes holds no character: pads like '' */
        int64_t pch = u8count(pad.p, pad.len);
        if (nch >= len || pch == 0) {
            r[i] = substr_sql(s, 1, len);
            continue;
        }
        if ((uint64_t)len * CN_MAX(pad.len, 1u) > CN_EXPR__MAX_STR) {
            bm_clear(out->valid, i);
            continue;
        }
        int64_t need = len - nch;
        if (!left) cn_expr__sb_put(&sb, s.p, s.len);
        for (int64_t k = 0; k < need;) {
            int64_t take = CN_MIN(pch, need - k);
            cn_expr__sb_put(&sb, pad.p, u8off(pad.p, pad.len, take));
            k += take;
        }
        if (left) cn_expr__sb_put(&sb, s.p, s.len);
        r[i] = cn_expr__sb_end(&sb);
    }
    return sb.oom ? oom(c) : 0;
}

static const char *find_bytes(const char *h, uint32_t hn, const char *nd, uint32_t nn) {
    if (nn == 0) return h;
    if (nn > hn) return NULL;
    const char *end = h + (hn - nn);
    for (const char *p = h; p <= end; p++) {
        p = memchr(p, nd[0], (size_t)(end - p) + 1);
        if (!p) return NULL;
        if (memcmp(p, nd, nn) == 0) return p;
    }
    return NULL;
}

static int ev_instr(EvalCtx *c, const Node *n, const Val *args, Val *out) {
    (void)n;
    BEGIN(2, CN_COL_INT32, false);
    int32_t *r = out->data;
    ROWS {
        SKIP_NULL(i);
        CnExprStr s = VAL_AT(&args[0], CnExprStr, i), sub = VAL_AT(&args[1], CnExprStr, i);
        const char *f = find_bytes(s.p, s.len, sub.p, sub.len);
        r[i] = f ? (int32_t)u8count(s.p, (uint32_t)(f - s.p)) + 1 : 0;
    }
    return 0;
}

static int ev_contains(EvalCtx *c, const Node *n, const Val *args, Val *out) {
    BEGIN(2, CN_COL_BOOL, false);
    uint8_t *r = out->data;
    ROWS {
        SKIP_NULL(i);
        CnExprStr s = VAL_AT(&args[0], CnExprStr, i), sub = VAL_AT(&args[1], CnExprStr, i);
        bool m;
        if (n->aux == 0) m = find_bytes(s.p, s.len, sub.p, sub.len) != NULL;
        else if (sub.len > s.len) m = false;
        else if (n->aux == 1) m = sub.len == 0 || memcmp(s.p, sub.p, sub.len) == 0;
        else m = sub.len == 0 || memcmp(s.p + s.len - sub.len, sub.p, sub.len) == 0;
        r[i] = m;
    }
    return 0;
}

static int ev_replace(EvalCtx *c, const Node *n, const Val *args, Val *out) {
    BEGIN(n->n_args, CN_COL_STRING, false);
    StrBuild sb;
    cn_expr__sb_init(&sb, c->a);
    CnExprStr *r = out->data;
    const Val *repv = arg_or_null(args, n, 2);
    ROWS {
        SKIP_NULL(i);
        CnExprStr s = VAL_AT(&args[0], CnExprStr, i), from = VAL_AT(&args[1], CnExprStr, i);
        CnExprStr to = repv ? VAL_AT(repv, CnExprStr, i) : (CnExprStr){"", 0};
        if (from.len == 0) {
            r[i] = s;
            continue;
        }
        uint32_t at = 0;
        for (;;) {
            const char *f = find_bytes(s.p + at, s.len - at, from.p, from.len);
            if (!f) break;
            cn_expr__sb_put(&sb, s.p + at, (size_t)(f - (s.p + at)));
            cn_expr__sb_put(&sb, to.p, to.len);
            at = (uint32_t)(f - s.p) + from.len;
        }
        cn_expr__sb_put(&sb, s.p + at, s.len - at);
        r[i] = cn_expr__sb_end(&sb);
    }
    return sb.oom ? oom(c) : 0;
}

static int ev_reverse(EvalCtx *c, const Node *n, const Val *args, Val *out) {
    (void)n;
    BEGIN(1, CN_COL_STRING, false);
    StrBuild sb;
    cn_expr__sb_init(&sb, c->a);
    CnExprStr *r = out->data;
    ROWS {
        SKIP_NULL(i);
        CnExprStr s = VAL_AT(&args[0], CnExprStr, i);
        uint32_t end = s.len;
        while (end > 0) {
            uint32_t st = end - 1;
            while (st > 0 && ((unsigned char)s.p[st] & 0xc0) == 0x80) st--;
            cn_expr__sb_put(&sb, s.p + st, end - st);
            end = st;
        }
        r[i] = cn_expr__sb_end(&sb);
    }
    return sb.oom ? oom(c) : 0;
}

static int ev_repeat(EvalCtx *c, const Node *n, const Val *args, Val *out) {
    (void)n;
    BEGIN(2, CN_COL_STRING, true);
    StrBuild sb;
    cn_expr__sb_init(&sb, c->a);
    CnExprStr *r = out->data;
    ROWS {
        SKIP_NULL(i);
        CnExprStr s = VAL_AT(&args[0], CnExprStr, i);
        int64_t k = VAL_AT(&args[1], int32_t, i);
        if ((uint64_t)s.len * (uint64_t)(k > 0 ? k : 0) > CN_EXPR__MAX_STR) {
            bm_clear(out->valid, i); /* refuse absurd sizes instead of exhausting memory */
            continue;
        }
        for (int64_t j = 0; j < k; j++) cn_expr__sb_put(&sb, s.p, s.len);
        r[i] = cn_expr__sb_end(&sb);
    }
    return sb.oom ? oom(c) : 0;
}

/* ------------------------------------------------------------ regex */

static int bind_regex_fn(CnExpr *e, Node *n, CnErr *err) {
    int rc;
    const char *codes = n->fn->args;
    for (uint32_t i = 0; i < n->n_args; i++) {
        char code = codes[i < strlen(codes) ? i : strlen(codes) - 1];
        CnTypeId t = code == 'I' ? CN_COL_INT32 : CN_COL_STRING;
        if (cn_col_type_is_nested(n->args[i]->t) || (t == CN_COL_INT32 && !cn_expr__is_numeric(n->args[i]->t) &&
                                                     n->args[i]->t != CN_EXPR__TNULL))
            return cn_expr__bind_error(e, n->args[i], CN_ETYPE, err, "%s: argument %u has the wrong type", n->fn->name, i + 1);
        if ((rc = cn_expr__cast_arg(e, n, i, t, err)) < 0) return rc;
    }
    Node *pat = n->args[1];
    if (pat->kind != N_LIT)
        return cn_expr__bind_error(e, pat, CN_EUNSUPPORTED, err, "%s with a pattern that is not a literal", n->fn->name);
    if (!pat->lit.is_null) {
        if (!(n->re = cn_expr__regex_compile(e, pat, pat->lit.v.s.p, pat->lit.v.s.len, err))) return err->code;
        if (strcasecmp(n->fn->name, "regexp_extract") == 0 && n->n_args == 3 && n->args[2]->kind == N_LIT &&
            !n->args[2]->lit.is_null) {
            int32_t g = n->args[2]->lit.v.i32;
            if (g < 0 || (size_t)g > n->re->re_nsub)
                return cn_expr__bind_error(e, n->args[2], CN_EINVAL, err, "regexp_extract: group %d out of range (the pattern has %zu)",
                                           g, n->re->re_nsub);
        }
    }
    if (strcasecmp(n->fn->name, "split") == 0) {
        const CnType *lt = cn_col_type_list(&e->arena, cn_col_type_prim(CN_COL_STRING), true, CN_COL_NO_ID);
        if (!lt) return cn_err_set(err, CN_ENOMEM, "expression: out of memory");
        n->t = CN_COL_LIST;
        n->type = lt;
    } else {
        cn_expr__set_type(n, CN_COL_STRING);
    }
    return 0;
}

/* p is NUL-terminated (a CBuf copy); offsets in m index it. */
static bool re_find(const regex_t *re, const char *p, uint32_t from, uint32_t n, regmatch_t *m, size_t nm) {
    m[0].rm_so = (regoff_t)from;
    m[0].rm_eo = (regoff_t)n;
    return regexec(re, p, nm, m, REG_STARTEND | (from > 0 ? REG_NOTBOL : 0)) == 0;
}

static int ev_regexp_replace(EvalCtx *c, const Node *n, const Val *args, Val *out) {
    BEGIN(3, CN_COL_STRING, false);
    StrBuild sb;
    cn_expr__sb_init(&sb, c->a);
    CnExprStr *r = out->data;
    regmatch_t m[10];
    CBuf cb = {0};
    ROWS {
        SKIP_NULL(i);
        CnExprStr s = VAL_AT(&args[0], CnExprStr, i), rep = VAL_AT(&args[2], CnExprStr, i);
        const char *cs = cn_expr__cstr(c, &cb, s);
        if (!cs) return oom(c);
        uint32_t at = 0;
        while (at <= s.len && re_find(n->re, cs, at, s.len, m, 10)) {
            uint32_t so = (uint32_t)m[0].rm_so, eo = (uint32_t)m[0].rm_eo;
            cn_expr__sb_put(&sb, s.p + at, so - at);
            /* Java replacement: $n is a group, \x is x */
            for (uint32_t k = 0; k < rep.len; k++) {
                char ch = rep.p[k];
                if (ch == '\\' && k + 1 < rep.len) {
                    cn_expr__sb_putc(&sb, rep.p[++k]);
                } else if (ch == '$' && k + 1 < rep.len && rep.p[k + 1] >= '0' && rep.p[k + 1] <= '9') {
                    int g = rep.p[++k] - '0';
                    if ((size_t)g <= n->re->re_nsub && m[g].rm_so >= 0)
                        cn_expr__sb_put(&sb, s.p + m[g].rm_so, (size_t)(m[g].rm_eo - m[g].rm_so));
                } else {
                    cn_expr__sb_putc(&sb, ch);
                }
            }
            if (eo == so) {
                /* empty match: copy one character and move on */
                if (so < s.len) {
                    uint32_t l = CN_MIN(u8len((unsigned char)s.p[so]), s.len - so);
                    cn_expr__sb_put(&sb, s.p + so, l);
                    at = so + l;
                } else {
                    at = s.len + 1;
                }
            } else {
                at = eo;
            }
        }
        if (at < s.len) cn_expr__sb_put(&sb, s.p + at, s.len - at);
        r[i] = cn_expr__sb_end(&sb);
    }
    return sb.oom ? oom(c) : 0;
}

static int ev_regexp_extract(EvalCtx *c, const Node *n, const Val *args, Val *out) {
    BEGIN(n->n_args, CN_COL_STRING, true);
    CnExprStr *r = out->data;
    regmatch_t m[10];
    const Val *gv = arg_or_null(args, n, 2);
    CBuf cb = {0};
    ROWS {
        SKIP_NULL(i);
        CnExprStr s = VAL_AT(&args[0], CnExprStr, i);
        const char *cs = cn_expr__cstr(c, &cb, s);
        if (!cs) return oom(c);
        int32_t g = gv ? VAL_AT(gv, int32_t, i) : 1;
        if (g < 0 || (size_t)g > n->re->re_nsub || g > 9) {
            bm_clear(out->valid, i);
            continue;
        }
        if (re_find(n->re, cs, 0, s.len, m, 10) && m[g].rm_so >= 0)
            r[i] = (CnExprStr){s.p + m[g].rm_so, (uint32_t)(m[g].rm_eo - m[g].rm_so)};
        else r[i] = (CnExprStr){"", 0};
    }
    return 0;
}

static bool re_is_literal(const Node *pat) {
    const char *p = pat->lit.v.s.p;
    for (uint32_t i = 0; i < pat->lit.v.s.len; i++)
        if (strchr("\\^$.|?*+()[]{}", p[i])) return false;
    return pat->lit.v.s.len > 0;
}

/* split(str, regex[, limit]): Java's Pattern.split with Spark's default limit -1
 * (trailing empty strings kept); limit > 0 caps the number of parts. */
static int ev_split(EvalCtx *c, const Node *n, const Val *args, Val *out) {
    memset(out, 0, sizeof *out);
    out->t = CN_COL_LIST;
    out->type = n->type;
    out->n = c->n;
    CnVec *v;
    int rc = cn_expr__tmp_vec(c, n->type, &v);
    if (rc < 0) return rc;
    bool all_null;
    uint64_t *valid;
    if ((rc = cn_expr__strict_valid(c, args, n->n_args, &valid, &all_null)) < 0) return rc;
    const Val *lim = arg_or_null(args, n, 2);
    bool lit = re_is_literal(n->args[1]);
    regmatch_t m[1];
    CBuf cb = {0};
    CnVec *el = &v->child[0];
    ROWS {
        if (all_null || (valid && !bm_get(valid, i))) {
            if (cn_col_vec_append_null(v) < 0) return oom(c);
            continue;
        }
        CnExprStr s = VAL_AT(&args[0], CnExprStr, i);
        int64_t limit = lim ? VAL_AT(lim, int32_t, i) : -1;
        uint32_t at = 0, parts = 0, from = 0;
        CnExprStr pat = VAL_AT(&args[1], CnExprStr, i);
        const char *cs = lit ? s.p : cn_expr__cstr(c, &cb, s);
        if (!cs) return oom(c);
        for (;;) {
            if (limit > 0 && parts + 1 >= (uint64_t)limit) break;
            uint32_t so, eo;
            if (lit) {
                const char *f = from <= s.len ? find_bytes(s.p + from, s.len - from, pat.p, pat.len) : NULL;
                if (!f) break;
                so = (uint32_t)(f - s.p);
                eo = so + pat.len;
            } else {
                if (from > s.len || !re_find(n->re, cs, from, s.len, m, 1)) break;
                so = (uint32_t)m[0].rm_so;
                eo = (uint32_t)m[0].rm_eo;
                if (eo == so) {
                    /* zero-width: never an empty leading part; step one character */
                    if (so >= s.len) break;
                    if (so == 0) {
                        from = u8len((unsigned char)s.p[0]);
                        continue;
                    }
                }
            }
            if (cn_col_vec_append_str(el, s.p + at, so - at) < 0) return oom(c);
            parts++;
            at = eo;
            from = eo > so ? eo : so + u8len((unsigned char)s.p[so]);
        }
        if (cn_col_vec_append_str(el, s.p + at, s.len - at) < 0) return oom(c);
        if (cn_col_vec_close_list(v) < 0) return oom(c);
    }
    out->src = v;
    out->rows = NULL;
    out->valid = NULL;
    return 0;
}

/* ------------------------------------------------------------ math */

static int ev_abs(EvalCtx *c, const Node *n, const Val *args, Val *out) {
    BEGIN(1, n->t, false);
    const Val *a = &args[0];
    switch (n->t) {
    case CN_COL_INT32: ROWS { int32_t x = VAL_AT(a, int32_t, i); ((int32_t *)out->data)[i] = x < 0 ? (int32_t)(0u - (uint32_t)x) : x; } break;
    case CN_COL_INT64: ROWS { int64_t x = VAL_AT(a, int64_t, i); ((int64_t *)out->data)[i] = x < 0 ? (int64_t)(0u - (uint64_t)x) : x; } break;
    case CN_COL_FLOAT32: ROWS ((float *)out->data)[i] = fabsf(VAL_AT(a, float, i)); break;
    default: ROWS ((double *)out->data)[i] = fabs(VAL_AT(a, double, i)); break;
    }
    return 0;
}

typedef double (*MathFn)(double);
static double m_ln(double x) { return log(x); }
static double m_log2(double x) { return log2(x); }
static double m_degrees(double x) { return x * (180.0 / PI_); }
static double m_radians(double x) { return x * (PI_ / 180.0); }
static double m_signum(double x) { return x > 0 ? 1.0 : x < 0 ? -1.0 : x; }
static const MathFn MATH_FNS[] = {sqrt, exp, m_ln, log10, m_log2, cbrt, sin, cos, tan, asin, acos, atan,
                                  m_degrees, m_radians, m_signum, sinh, cosh, tanh, expm1, log1p};
enum { MF_SQRT, MF_EXP, MF_LN, MF_LOG10, MF_LOG2, MF_CBRT, MF_SIN, MF_COS, MF_TAN, MF_ASIN, MF_ACOS, MF_ATAN,
       MF_DEGREES, MF_RADIANS, MF_SIGNUM, MF_SINH, MF_COSH, MF_TANH, MF_EXPM1, MF_LOG1P };

static int ev_math1(EvalCtx *c, const Node *n, const Val *args, Val *out) {
    bool logf = n->aux == MF_LN || n->aux == MF_LOG10 || n->aux == MF_LOG2 || n->aux == MF_LOG1P;
    BEGIN(1, CN_COL_FLOAT64, logf);
    MathFn f = MATH_FNS[n->aux];
    double *r = out->data;
    ROWS {
        double x = VAL_AT(&args[0], double, i);
        r[i] = f(x);
        /* Spark's logarithms are null outside their domain */
        if (logf && (n->aux == MF_LOG1P ? x <= -1.0 : x <= 0.0)) bm_clear(out->valid, i);
    }
    return 0;
}

static int ev_log2arg(EvalCtx *c, const Node *n, const Val *args, Val *out) {
    if (n->n_args == 1) return ev_math1(c, n, args, out);
    BEGIN(2, CN_COL_FLOAT64, true);
    double *r = out->data;
    ROWS {
        double b = VAL_AT(&args[0], double, i), x = VAL_AT(&args[1], double, i);
        if (b <= 0 || x <= 0) bm_clear(out->valid, i);
        else r[i] = log(x) / log(b);
    }
    return 0;
}

static int ev_math2(EvalCtx *c, const Node *n, const Val *args, Val *out) {
    BEGIN(2, CN_COL_FLOAT64, false);
    double *r = out->data;
    ROWS {
        double x = VAL_AT(&args[0], double, i), y = VAL_AT(&args[1], double, i);
        r[i] = n->aux == 0 ? pow(x, y) : atan2(x, y);
    }
    return 0;
}

static int ev_isnan(EvalCtx *c, const Node *n, const Val *args, Val *out) {
    (void)n;
    int rc = cn_expr__val_new(c, out, CN_COL_BOOL, false);
    if (rc < 0) return rc;
    ROWS ((uint8_t *)out->data)[i] = !val_is_null(&args[0], i) && isnan(VAL_AT(&args[0], double, i));
    return 0;
}

static int ev_const(EvalCtx *c, const Node *n, const Val *args, Val *out) {
    (void)args;
    int rc = cn_expr__val_new(c, out, CN_COL_FLOAT64, false);
    if (rc < 0) return rc;
    ROWS ((double *)out->data)[i] = n->aux ? PI_ : E_;
    return 0;
}

/* floor/ceil: bigint for every numeric input (Spark), doubles saturate like Java. */
static int bind_floorceil(CnExpr *e, Node *n, CnErr *err) {
    Node *a = n->args[0];
    int rc;
    if (a->t == CN_COL_STRING || a->t == CN_EXPR__TNULL || a->t == CN_COL_FLOAT32)
        if ((rc = cn_expr__cast_arg(e, n, 0, CN_COL_FLOAT64, err)) < 0) return rc;
    if (n->args[0]->t == CN_COL_INT32 && (rc = cn_expr__cast_arg(e, n, 0, CN_COL_INT64, err)) < 0) return rc;
    if (n->args[0]->t != CN_COL_INT64 && n->args[0]->t != CN_COL_FLOAT64) {
        char b[64];
        return cn_expr__bind_error(e, a, CN_ETYPE, err, "%s needs a number, got %s", n->fn->name,
                                   cn_col_type_name(a->type, b, sizeof b));
    }
    cn_expr__set_type(n, CN_COL_INT64);
    return 0;
}
static int64_t sat_d2l(double d) {
    if (d != d) return 0;
    if (d >= 9223372036854775807.0) return INT64_MAX;
    if (d <= -9223372036854775808.0) return INT64_MIN;
    return (int64_t)d;
}
static int ev_floorceil(EvalCtx *c, const Node *n, const Val *args, Val *out) {
    BEGIN(1, CN_COL_INT64, false);
    int64_t *r = out->data;
    if (args[0].t == CN_COL_INT64) ROWS r[i] = VAL_AT(&args[0], int64_t, i);
    else ROWS {
        double x = VAL_AT(&args[0], double, i);
        r[i] = sat_d2l(n->aux ? ceil(x) : floor(x));
    }
    return 0;
}

/* round/bround(x, d): the scale must be a literal. Doubles round their shortest decimal
 * form (what Java prints), as Spark's BigDecimal(double) does: round(2.675, 2) = 2.68. */
static int bind_round(CnExpr *e, Node *n, CnErr *err) {
    int rc;
    Node *a = n->args[0];
    if (a->t == CN_COL_STRING || a->t == CN_EXPR__TNULL)
        if ((rc = cn_expr__cast_arg(e, n, 0, CN_COL_FLOAT64, err)) < 0) return rc;
    if (!cn_expr__is_numeric(n->args[0]->t))
        return cn_expr__bind_error(e, a, CN_ETYPE, err, "%s needs a number", n->fn->name);
    int scale = 0;
    if (n->n_args == 2) {
        Node *s = n->args[1];
        if (s->kind != N_LIT || s->t != CN_COL_INT32 || s->lit.is_null)
            return cn_expr__bind_error(e, s, CN_EINVAL, err, "%s: the scale must be an integer literal", n->fn->name);
        scale = s->lit.v.i32;
        if (scale < -30 || scale > 30) return cn_expr__bind_error(e, s, CN_EINVAL, err, "%s: scale %d out of range", n->fn->name, scale);
        n->n_args = 1;
    }
    n->aux = scale;
    cn_expr__set_type(n, n->args[0]->t);
    return 0;
}

/* Rounds the decimal digits dig (x = 0.dig * 10^e) at `scale` places after the point. */
static double round_decimal(double x, int scale, bool half_even) {
    if (!isfinite(x) || x == 0) return x;
    char dig[40];
    int e;
    bool neg = x < 0;
    int k = cn_expr__shortest_digits(neg ? -x : x, 17, dig, &e);
    int keep = e + scale; /* digits kept */
    if (keep >= k) return x;
    if (keep < 0) return neg ? -0.0 : 0.0;
    int next = dig[keep] - '0';
    bool rest = false;
    for (int j = keep + 1; j < k; j++) rest |= dig[j] != '0';
    bool up = next > 5 || (next == 5 && (rest || !half_even || (keep > 0 && (dig[keep - 1] - '0') % 2 == 1)));
    if (keep == 0 && next == 5 && !rest && half_even) up = false;
    char buf[64];
    int o = 0;
    buf[o++] = '0';
    for (int j = 0; j < keep; j++) buf[o++] = dig[j];
    buf[o] = '\0';
    /* increment the kept digits */
    if (up) {
        int j = o - 1;
        while (j >= 0 && buf[j] == '9') buf[j--] = '0';
        if (j >= 0) buf[j]++;
    }
    char num[96];
    /* value = buf (integer, with the leading guard digit) * 10^(e - keep) */
    snprintf(num, sizeof num, "%s%se%d", neg ? "-" : "", buf, e - keep);
    return strtod(num, NULL);
}
static int64_t round_int(int64_t v, int scale, bool half_even) {
    if (scale >= 0) return v;
    if (scale < -18) return 0;
    int64_t p = 1;
    for (int j = 0; j < -scale; j++) p *= 10;
    int64_t q = v / p, r = v % p;
    int64_t ar = r < 0 ? -r : r;
    bool up = ar * 2 > p || (ar * 2 == p && (!half_even || (q % 2 != 0)));
    if (up) q += v < 0 ? -1 : 1;
    return (int64_t)((uint64_t)q * (uint64_t)p);
}
static int ev_round(EvalCtx *c, const Node *n, const Val *args, Val *out) {
    BEGIN(1, n->t, false);
    bool he = strcasecmp(n->fn->name, "bround") == 0;
    int sc = n->aux;
    const Val *a = &args[0];
    switch (n->t) {
    case CN_COL_INT32: ROWS ((int32_t *)out->data)[i] = (int32_t)round_int(VAL_AT(a, int32_t, i), sc, he); break;
    case CN_COL_INT64: ROWS ((int64_t *)out->data)[i] = round_int(VAL_AT(a, int64_t, i), sc, he); break;
    case CN_COL_FLOAT32: ROWS ((float *)out->data)[i] = (float)round_decimal(VAL_AT(a, float, i), sc, he); break;
    default: ROWS { SKIP_NULL(i); ((double *)out->data)[i] = round_decimal(VAL_AT(a, double, i), sc, he); } break;
    }
    return 0;
}

static int bind_greatest(CnExpr *e, Node *n, CnErr *err) {
    CnTypeId t;
    int rc = cn_expr__unify(e, n, 0, false, n->fn->name, &t, err);
    if (rc < 0) return rc;
    if (t == CN_EXPR__TNULL) {
        t = CN_COL_STRING;
        for (uint32_t i = 0; i < n->n_args; i++)
            if ((rc = cn_expr__cast_arg(e, n, i, t, err)) < 0) return rc;
    }
    if (t == CN_COL_BINARY)
        return cn_expr__bind_error(e, n, CN_ETYPE, err, "%s needs comparable arguments", n->fn->name);
    cn_expr__set_type(n, t);
    return 0;
}
static int cmp_at(CnTypeId t, const Val *x, uint32_t i, const Val *y) {
    switch (t) {
    case CN_COL_BOOL: return (VAL_AT(x, uint8_t, i) > VAL_AT(y, uint8_t, i)) - (VAL_AT(x, uint8_t, i) < VAL_AT(y, uint8_t, i));
    case CN_COL_INT32: case CN_COL_DATE: { int32_t a = VAL_AT(x, int32_t, i), b = VAL_AT(y, int32_t, i); return (a > b) - (a < b); }
    case CN_COL_INT64: case CN_COL_TIMESTAMP: { int64_t a = VAL_AT(x, int64_t, i), b = VAL_AT(y, int64_t, i); return (a > b) - (a < b); }
    case CN_COL_FLOAT32: case CN_COL_FLOAT64: {
        double a = t == CN_COL_FLOAT32 ? VAL_AT(x, float, i) : VAL_AT(x, double, i);
        double b = t == CN_COL_FLOAT32 ? VAL_AT(y, float, i) : VAL_AT(y, double, i);
        if (a != a || b != b) return (a != a) - (b != b); /* NaN is the largest */
        return (a > b) - (a < b);
    }
    default: {
        CnExprStr a = VAL_AT(x, CnExprStr, i), b = VAL_AT(y, CnExprStr, i);
        uint32_t m = CN_MIN(a.len, b.len);
        int r = m ? memcmp(a.p, b.p, m) : 0;
        return r ? (r > 0) - (r < 0) : (a.len > b.len) - (a.len < b.len);
    }
    }
}
static int ev_greatest(EvalCtx *c, const Node *n, const Val *args, Val *out) {
    int rc = cn_expr__val_new(c, out, n->t, true);
    if (rc < 0) return rc;
    size_t w = cn_expr__val_width(n->t);
    bool greatest = n->aux == 0, any_null = false;
    ROWS {
        const Val *best = NULL;
        for (uint32_t k = 0; k < n->n_args; k++) {
            if (val_is_null(&args[k], i)) continue;
            if (!best) { best = &args[k]; continue; }
            int cr = cmp_at(n->t, &args[k], i, best);
            if (greatest ? cr > 0 : cr < 0) best = &args[k];
        }
        if (!best) {
            bm_clear(out->valid, i);
            any_null = true;
        } else {
            memcpy((char *)out->data + i * w, (const char *)best->data + (best->is_const ? 0 : i * w), w);
        }
    }
    if (!any_null) out->valid = NULL;
    return 0;
}

static int bind_pmod(CnExpr *e, Node *n, CnErr *err) {
    /* pmod(a, n): bind like a % n for the common type */
    int rc = cn_expr__bind_binop(e, n, OP_MOD, err);
    if (rc < 0) return rc;
    n->kind = N_CALL;
    return 0;
}
static int ev_pmod(EvalCtx *c, const Node *n, const Val *args, Val *out) {
    BEGIN(2, n->t, true);
    ROWS {
        SKIP_NULL(i);
        switch (n->t) {
        case CN_COL_INT32: case CN_COL_INT64: {
            int64_t a = n->t == CN_COL_INT32 ? VAL_AT(&args[0], int32_t, i) : VAL_AT(&args[0], int64_t, i);
            int64_t b = n->t == CN_COL_INT32 ? VAL_AT(&args[1], int32_t, i) : VAL_AT(&args[1], int64_t, i);
            if (b == 0) { bm_clear(out->valid, i); break; }
            /* Spark: r = a % n; if (r < 0) (r + n) % n */
            int64_t r = (b == -1) ? 0 : a % b;
            if (r < 0) {
                int64_t s = (int64_t)((uint64_t)r + (uint64_t)b);
                r = s % b;
            }
            if (n->t == CN_COL_INT32) ((int32_t *)out->data)[i] = (int32_t)r;
            else ((int64_t *)out->data)[i] = r;
            break;
        }
        default: {
            double a = n->t == CN_COL_FLOAT32 ? VAL_AT(&args[0], float, i) : VAL_AT(&args[0], double, i);
            double b = n->t == CN_COL_FLOAT32 ? VAL_AT(&args[1], float, i) : VAL_AT(&args[1], double, i);
            if (b == 0) { bm_clear(out->valid, i); break; }
            double r = fmod(a, b);
            if (r < 0) r = fmod(r + b, b);
            if (n->t == CN_COL_FLOAT32) ((float *)out->data)[i] = (float)r;
            else ((double *)out->data)[i] = r;
        }
        }
    }
    return 0;
}

/* ------------------------------------------------------------ dates */

static void civil(int64_t days, int64_t *y, unsigned *m, unsigned *d) { cn_date_civil_from_days(days, y, m, d); }

/* A literal pattern compiles at bind; n->fmt then holds it. */
static int bind_fmt(CnExpr *e, Node *n, uint32_t i, CnErr *err) {
    int rc = cn_expr__cast_arg(e, n, i, CN_COL_STRING, err);
    if (rc < 0) return rc;
    Node *f = n->args[i];
    if (f->kind == N_LIT && !f->lit.is_null) {
        DateFmt *df = cn_arena_alloc(&e->arena, sizeof *df);
        if (!df) return cn_err_set(err, CN_ENOMEM, "expression: out of memory");
        const char *why = NULL;
        if (!cn_expr__datefmt_compile(df, f->lit.v.s.p, f->lit.v.s.len, &why))
            return cn_expr__bind_error(e, f, CN_EUNSUPPORTED, err, "%s: datetime pattern '%s': %s", n->fn->name, f->lit.v.s.p, why);
        n->fmt = df;
    }
    return 0;
}
/* The pattern for row i: the compiled literal, or compiled now into *tmp. */
static const DateFmt *row_fmt(const Node *n, const Val *fv, uint32_t i, DateFmt *tmp) {
    if (n->fmt) return n->fmt;
    if (!fv) return NULL;
    CnExprStr s = VAL_AT(fv, CnExprStr, i);
    const char *why;
    return cn_expr__datefmt_compile(tmp, s.p ? s.p : "", s.len, &why) ? tmp : NULL;
}
static const DateFmt *default_fmt(DateFmt *tmp) {
    const char *why;
    cn_expr__datefmt_compile(tmp, "yyyy-MM-dd HH:mm:ss", 19, &why);
    return tmp;
}

static int bind_from_unixtime(CnExpr *e, Node *n, CnErr *err) {
    int rc = cn_expr__cast_arg(e, n, 0, CN_COL_INT64, err);
    if (rc < 0) return rc;
    if (n->n_args == 2 && (rc = bind_fmt(e, n, 1, err)) < 0) return rc;
    cn_expr__set_type(n, CN_COL_STRING);
    return 0;
}
static int ev_from_unixtime(EvalCtx *c, const Node *n, const Val *args, Val *out) {
    BEGIN(n->n_args, CN_COL_STRING, true);
    StrBuild sb;
    cn_expr__sb_init(&sb, c->a);
    CnExprStr *r = out->data;
    DateFmt tmp, def;
    const DateFmt *dflt = n->n_args == 1 ? default_fmt(&def) : NULL;
    const Val *fv = arg_or_null(args, n, 1);
    char buf[256];
    ROWS {
        SKIP_NULL(i);
        const DateFmt *f = dflt ? dflt : row_fmt(n, fv, i, &tmp);
        if (!f) {
            bm_clear(out->valid, i);
            continue;
        }
        int64_t sec = VAL_AT(&args[0], int64_t, i);
        int64_t ms = sec > INT64_MAX / 1000 ? INT64_MAX : sec < INT64_MIN / 1000 ? INT64_MIN : sec * 1000;
        size_t len = cn_expr__datefmt_format(f, ms, buf, sizeof buf);
        cn_expr__sb_put(&sb, buf, len);
        r[i] = cn_expr__sb_end(&sb);
    }
    return sb.oom ? oom(c) : 0;
}

static int bind_date_format(CnExpr *e, Node *n, CnErr *err) {
    int rc = cn_expr__cast_arg(e, n, 0, CN_COL_TIMESTAMP, err);
    if (rc < 0 || (rc = bind_fmt(e, n, 1, err)) < 0) return rc;
    cn_expr__set_type(n, CN_COL_STRING);
    return 0;
}
static int ev_date_format(EvalCtx *c, const Node *n, const Val *args, Val *out) {
    BEGIN(2, CN_COL_STRING, true);
    StrBuild sb;
    cn_expr__sb_init(&sb, c->a);
    CnExprStr *r = out->data;
    DateFmt tmp;
    char buf[256];
    ROWS {
        SKIP_NULL(i);
        const DateFmt *f = row_fmt(n, &args[1], i, &tmp);
        if (!f) {
            bm_clear(out->valid, i);
            continue;
        }
        size_t len = cn_expr__datefmt_format(f, VAL_AT(&args[0], int64_t, i), buf, sizeof buf);
        cn_expr__sb_put(&sb, buf, len);
        r[i] = cn_expr__sb_end(&sb);
    }
    return sb.oom ? oom(c) : 0;
}

/* unix_timestamp / to_unix_timestamp / to_timestamp / to_date: a string argument is
 * parsed with the pattern (default yyyy-MM-dd HH:mm:ss for unix_timestamp, Spark's
 * lenient cast when to_date/to_timestamp get no pattern); dates and timestamps convert. */
static int bind_parse_fn(CnExpr *e, Node *n, CnErr *err) {
    int rc;
    char ret = n->fn->ret;
    Node *a = n->args[0];
    if (n->n_args == 1 && ret != 'L') {
        /* to_date(x) / to_timestamp(x) are casts */
        n->name = ret == 'A' ? "date" : "timestamp";
        if (!(a->t == CN_COL_STRING || a->t == CN_COL_DATE || a->t == CN_COL_TIMESTAMP || a->t == CN_EXPR__TNULL)) {
            char b[64];
            return cn_expr__bind_error(e, a, CN_ETYPE, err, "%s needs a string, date or timestamp, got %s", n->fn->name,
                                       cn_col_type_name(a->type, b, sizeof b));
        }
        return cn_expr__bind_cast(e, n, err);
    }
    if (a->t != CN_COL_DATE && a->t != CN_COL_TIMESTAMP && (rc = cn_expr__cast_arg(e, n, 0, CN_COL_STRING, err)) < 0)
        return rc;
    if (n->n_args == 2 && (rc = bind_fmt(e, n, 1, err)) < 0) return rc;
    cn_expr__set_type(n, ret == 'L' ? CN_COL_INT64 : ret == 'A' ? CN_COL_DATE : CN_COL_TIMESTAMP);
    return 0;
}
static int ev_parse_fn(EvalCtx *c, const Node *n, const Val *args, Val *out) {
    BEGIN(n->n_args, n->t, true);
    DateFmt tmp, def;
    const DateFmt *dflt = n->n_args == 1 ? default_fmt(&def) : NULL;
    const Val *fv = arg_or_null(args, n, 1);
    ROWS {
        SKIP_NULL(i);
        int64_t ms;
        const Val *a = &args[0];
        if (a->t == CN_COL_DATE) {
            ms = (int64_t)VAL_AT(a, int32_t, i) * CN_MS_PER_DAY;
        } else if (a->t == CN_COL_TIMESTAMP) {
            ms = VAL_AT(a, int64_t, i);
        } else {
            const DateFmt *f = dflt ? dflt : row_fmt(n, fv, i, &tmp);
            CnExprStr s = VAL_AT(a, CnExprStr, i);
            if (!f || !cn_expr__datefmt_parse(f, s.p ? s.p : "", s.len, &ms)) {
                bm_clear(out->valid, i);
                continue;
            }
        }
        switch (n->t) {
        case CN_COL_INT64: ((int64_t *)out->data)[i] = cn_expr__floordiv(ms, 1000); break;
        case CN_COL_DATE: ((int32_t *)out->data)[i] = (int32_t)cn_expr__floordiv(ms, CN_MS_PER_DAY); break;
        default: ((int64_t *)out->data)[i] = ms; break;
        }
    }
    return 0;
}

static int ev_date_add(EvalCtx *c, const Node *n, const Val *args, Val *out) {
    BEGIN(2, CN_COL_DATE, false);
    int32_t *r = out->data;
    bool sub = n->aux;
    ROWS {
        uint32_t d = (uint32_t)VAL_AT(&args[0], int32_t, i), k = (uint32_t)VAL_AT(&args[1], int32_t, i);
        r[i] = (int32_t)(sub ? d - k : d + k);
    }
    return 0;
}
static int ev_datediff(EvalCtx *c, const Node *n, const Val *args, Val *out) {
    (void)n;
    BEGIN(2, CN_COL_INT32, false);
    int32_t *r = out->data;
    ROWS r[i] = (int32_t)((uint32_t)VAL_AT(&args[0], int32_t, i) - (uint32_t)VAL_AT(&args[1], int32_t, i));
    return 0;
}

enum { DP_YEAR, DP_MONTH, DP_DAY, DP_QUARTER, DP_DOW, DP_DOY, DP_WEEK, DP_HOUR, DP_MINUTE, DP_SECOND };

static int ev_datepart(EvalCtx *c, const Node *n, const Val *args, Val *out) {
    BEGIN(1, CN_COL_INT32, false);
    int32_t *r = out->data;
    int part = n->aux;
    ROWS {
        SKIP_NULL(i);
        if (part >= DP_HOUR) {
            int64_t ms = VAL_AT(&args[0], int64_t, i);
            int64_t rem = cn_expr__floormod(ms, CN_MS_PER_DAY);
            r[i] = (int32_t)(part == DP_HOUR ? rem / 3600000 : part == DP_MINUTE ? rem / 60000 % 60 : rem / 1000 % 60);
            continue;
        }
        int64_t days = VAL_AT(&args[0], int32_t, i), y;
        unsigned m, d;
        civil(days, &y, &m, &d);
        switch (part) {
        case DP_YEAR: r[i] = (int32_t)y; break;
        case DP_MONTH: r[i] = (int32_t)m; break;
        case DP_DAY: r[i] = (int32_t)d; break;
        case DP_QUARTER: r[i] = (int32_t)((m - 1) / 3 + 1); break;
        case DP_DOW: r[i] = (int32_t)(((days % 7) + 7 + 4) % 7) + 1; break; /* 1 = Sunday */
        case DP_DOY: r[i] = (int32_t)(days - cn_date_days_from_civil(y, 1, 1) + 1); break;
        default: { /* ISO-8601 week of year */
            int64_t dow = ((days % 7) + 7 + 3) % 7; /* 0 = Monday */
            int64_t thursday = days - dow + 3;
            int64_t ty;
            unsigned tm, td;
            civil(thursday, &ty, &tm, &td);
            r[i] = (int32_t)((thursday - cn_date_days_from_civil(ty, 1, 1)) / 7 + 1);
        }
        }
    }
    return 0;
}

static unsigned days_in_month(int64_t y, unsigned m) {
    static const unsigned dm[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return m == 2 && leap ? 29 : dm[m - 1];
}
static int ev_add_months(EvalCtx *c, const Node *n, const Val *args, Val *out) {
    (void)n;
    BEGIN(2, CN_COL_DATE, false);
    int32_t *r = out->data;
    ROWS {
        SKIP_NULL(i);
        int64_t y;
        unsigned m, d;
        civil(VAL_AT(&args[0], int32_t, i), &y, &m, &d);
        int64_t total = y * 12 + (m - 1) + VAL_AT(&args[1], int32_t, i);
        int64_t ny = cn_expr__floordiv(total, 12);
        unsigned nm = (unsigned)(total - ny * 12) + 1;
        unsigned nd = CN_MIN(d, days_in_month(ny, nm));
        r[i] = (int32_t)cn_date_days_from_civil(ny, nm, nd);
    }
    return 0;
}
static int ev_last_day(EvalCtx *c, const Node *n, const Val *args, Val *out) {
    (void)n;
    BEGIN(1, CN_COL_DATE, false);
    int32_t *r = out->data;
    ROWS {
        SKIP_NULL(i);
        int64_t y;
        unsigned m, d;
        civil(VAL_AT(&args[0], int32_t, i), &y, &m, &d);
        r[i] = (int32_t)cn_date_days_from_civil(y, m, days_in_month(y, m));
    }
    return 0;
}

/* unix_millis/unix_seconds(ts), timestamp_millis/timestamp_seconds(n), unix_date(d),
 * date_from_unix_date(n): plain unit conversions. */
static int ev_units(EvalCtx *c, const Node *n, const Val *args, Val *out) {
    BEGIN(1, n->t, false);
    const Val *a = &args[0];
    ROWS {
        switch (n->aux) {
        case 0: ((int64_t *)out->data)[i] = VAL_AT(a, int64_t, i); break;                               /* unix_millis */
        case 1: ((int64_t *)out->data)[i] = cn_expr__floordiv(VAL_AT(a, int64_t, i), 1000); break;      /* unix_seconds */
        case 2: ((int64_t *)out->data)[i] = VAL_AT(a, int64_t, i); break;                               /* timestamp_millis */
        case 3: {                                                                                       /* timestamp_seconds */
            int64_t s = VAL_AT(a, int64_t, i);
            ((int64_t *)out->data)[i] = (int64_t)((uint64_t)s * 1000u);
            break;
        }
        case 4: ((int32_t *)out->data)[i] = VAL_AT(a, int32_t, i); break; /* unix_date, date_from_unix_date */
        }
    }
    return 0;
}

/* ------------------------------------------------------------ collections */

static int bind_size(CnExpr *e, Node *n, CnErr *err) {
    Node *a = n->args[0];
    if (a->t != CN_COL_LIST && a->t != CN_COL_MAP && a->t != CN_EXPR__TNULL)
        return cn_expr__bind_error(e, a, CN_ETYPE, err, "%s needs an array or a map", n->fn->name);
    cn_expr__set_type(n, CN_COL_INT32);
    return 0;
}
static int ev_size(EvalCtx *c, const Node *n, const Val *args, Val *out) {
    (void)n;
    int rc = cn_expr__val_new(c, out, CN_COL_INT32, false);
    if (rc < 0) return rc;
    const Val *a = &args[0];
    ROWS {
        if (!a->src || val_is_null(a, i)) {
            ((int32_t *)out->data)[i] = -1; /* Spark's legacy sizeOfNull */
            continue;
        }
        uint32_t row = a->rows ? a->rows[i] : i;
        ((int32_t *)out->data)[i] = cn_col_vec_is_valid(a->src, row)
                                        ? (int32_t)(a->src->offsets[row + 1] - a->src->offsets[row]) : -1;
    }
    return 0;
}

static int bind_element_at(CnExpr *e, Node *n, CnErr *err) {
    Node *a = n->args[0];
    int rc;
    char b[64];
    if (a->t == CN_COL_LIST) {
        const CnType *el = a->type->children[0].type;
        if (cn_col_type_is_nested(el->id))
            return cn_expr__bind_error(e, n, CN_EUNSUPPORTED, err, "element_at over %s (nested elements)", cn_col_type_name(a->type, b, sizeof b));
        if ((rc = cn_expr__cast_arg(e, n, 1, CN_COL_INT32, err)) < 0) return rc;
        Node *ix = n->args[1];
        if (!n->aux && ix->kind == N_LIT && !ix->lit.is_null && ix->lit.v.i32 == 0)
            return cn_expr__bind_error(e, ix, CN_EINVAL, err, "element_at: SQL array indices start at 1");
        cn_expr__set_type(n, el->id);
    } else if (a->t == CN_COL_MAP) {
        const CnType *kt = a->type->children[0].type, *vt = a->type->children[1].type;
        if (cn_col_type_is_nested(vt->id))
            return cn_expr__bind_error(e, n, CN_EUNSUPPORTED, err, "element_at over %s (nested values)", cn_col_type_name(a->type, b, sizeof b));
        if ((rc = cn_expr__cast_arg(e, n, 1, kt->id, err)) < 0) return rc;
        cn_expr__set_type(n, vt->id);
    } else {
        return cn_expr__bind_error(e, a, CN_ETYPE, err, "element_at needs an array or a map, got %s",
                                   a->type ? cn_col_type_name(a->type, b, sizeof b) : "null");
    }
    return 0;
}

/* Copies element j of vector v into out entry i (primitive types). */
static void put_elem(Val *out, uint32_t i, const CnVec *v, uint32_t j) {
    switch (v->type->id) {
    case CN_COL_BOOL: ((uint8_t *)out->data)[i] = ((const uint8_t *)v->values)[j]; break;
    case CN_COL_INT32: case CN_COL_DATE: case CN_COL_FLOAT32:
        memcpy((char *)out->data + i * 4, (const char *)v->values + (size_t)j * 4, 4);
        break;
    case CN_COL_INT64: case CN_COL_TIMESTAMP: case CN_COL_FLOAT64:
        memcpy((char *)out->data + i * 8, (const char *)v->values + (size_t)j * 8, 8);
        break;
    default: {
        uint32_t len;
        const char *p = cn_col_vec_str(v, j, &len);
        ((CnExprStr *)out->data)[i] = (CnExprStr){p, len};
    }
    }
}
static bool key_eq(const CnVec *k, uint32_t j, const Val *key, uint32_t i) {
    switch (k->type->id) {
    case CN_COL_BOOL: return ((const uint8_t *)k->values)[j] == VAL_AT(key, uint8_t, i);
    case CN_COL_INT32: case CN_COL_DATE: return ((const int32_t *)k->values)[j] == VAL_AT(key, int32_t, i);
    case CN_COL_INT64: case CN_COL_TIMESTAMP: return ((const int64_t *)k->values)[j] == VAL_AT(key, int64_t, i);
    case CN_COL_FLOAT32: return ((const float *)k->values)[j] == VAL_AT(key, float, i);
    case CN_COL_FLOAT64: return ((const double *)k->values)[j] == VAL_AT(key, double, i);
    default: {
        uint32_t len;
        const char *p = cn_col_vec_str(k, j, &len);
        CnExprStr s = VAL_AT(key, CnExprStr, i);
        return len == s.len && (len == 0 || memcmp(p, s.p, len) == 0);
    }
    }
}
static int ev_element_at(EvalCtx *c, const Node *n, const Val *args, Val *out) {
    BEGIN(2, n->t, true);
    const Val *a = &args[0];
    ROWS {
        SKIP_NULL(i);
        uint32_t row = a->rows ? a->rows[i] : i;
        const CnVec *v = a->src;
        if (!v || !cn_col_vec_is_valid(v, row)) {
            bm_clear(out->valid, i);
            continue;
        }
        uint32_t lo = v->offsets[row], hi = v->offsets[row + 1];
        int64_t j = -1;
        if (a->t == CN_COL_LIST) {
            int64_t ix = VAL_AT(&args[1], int32_t, i), len = hi - lo;
            if (n->aux) j = ix >= 0 && ix < len ? ix : -1; /* x[i] is 0-based */
            else if (ix > 0) j = ix <= len ? ix - 1 : -1;
            else if (ix < 0) j = -ix <= len ? len + ix : -1;
            if (j >= 0) j += lo;
        } else {
            for (uint32_t k = lo; k < hi; k++)
                if (key_eq(&v->child[0], k, &args[1], i)) {
                    j = k;
                    break;
                }
        }
        const CnVec *el = &v->child[a->t == CN_COL_MAP ? 1 : 0];
        if (j < 0 || !cn_col_vec_is_valid(el, (uint32_t)j)) {
            bm_clear(out->valid, i);
            continue;
        }
        put_elem(out, i, el, (uint32_t)j);
    }
    return 0;
}

static int bind_array_contains(CnExpr *e, Node *n, CnErr *err) {
    Node *a = n->args[0];
    if (a->t != CN_COL_LIST || cn_col_type_is_nested(a->type->children[0].type->id))
        return cn_expr__bind_error(e, a, CN_ETYPE, err, "array_contains needs an array of primitive values");
    int rc = cn_expr__cast_arg(e, n, 1, a->type->children[0].type->id, err);
    if (rc < 0) return rc;
    cn_expr__set_type(n, CN_COL_BOOL);
    return 0;
}
static int ev_array_contains(EvalCtx *c, const Node *n, const Val *args, Val *out) {
    (void)n;
    BEGIN(2, CN_COL_BOOL, true);
    const Val *a = &args[0];
    ROWS {
        SKIP_NULL(i);
        uint32_t row = a->rows ? a->rows[i] : i;
        const CnVec *v = a->src;
        if (!v || !cn_col_vec_is_valid(v, row)) {
            bm_clear(out->valid, i);
            continue;
        }
        bool found = false, saw_null = false;
        for (uint32_t k = v->offsets[row]; k < v->offsets[row + 1] && !found; k++) {
            if (!cn_col_vec_is_valid(&v->child[0], k)) saw_null = true;
            else found = key_eq(&v->child[0], k, &args[1], i);
        }
        if (!found && saw_null) bm_clear(out->valid, i); /* Spark: null when unsure */
        ((uint8_t *)out->data)[i] = found;
    }
    return 0;
}

/* ------------------------------------------------------------ table */

/* Casts each argument to its declared type (0: leave as is); a third argument,
 * where the function takes one (lpad's pad), has type a2. */
static int bind_side(CnExpr *e, Node *n, CnErr *err, int aux, const CnTypeId want[3], CnTypeId ret) {
    int rc;
    n->aux = aux;
    for (uint32_t i = 0; i < n->n_args && i < 3; i++)
        if (want[i] && (rc = cn_expr__cast_arg(e, n, i, want[i], err)) < 0) return rc;
    cn_expr__set_type(n, ret);
    return 0;
}
#define SIDE(fname, aux, a0, a1, ret) SIDE3(fname, aux, a0, a1, 0, ret)
#define SIDE3(fname, aux, a0, a1, a2, ret)                                         \
    static int fname(CnExpr *e, Node *n, CnErr *err) {                             \
        static const CnTypeId want_[3] = {(a0), (a1), (a2)};                       \
        for (uint32_t i = 0; i < n->n_args && i < 3; i++) {                        \
            CnTypeId w_ = want_[i];                                                \
            if (w_ && n->args[i]->t != w_ && n->args[i]->t != CN_EXPR__TNULL &&    \
                (cn_col_type_is_nested(n->args[i]->t) ||                           \
                 !cn_expr__can_cast(n->args[i]->t, w_) ||                          \
                 (w_ != CN_COL_STRING && n->args[i]->t == CN_COL_BOOL)))           \
                return cn_expr__bind_error(e, n->args[i], CN_ETYPE, err,            \
                                           "%s: argument %u must be %s", n->fn->name, i + 1, \
                                           cn_col_type_id_name(w_));               \
        }                                                                          \
        return bind_side(e, n, err, (aux), want_, (ret));                          \
    }
SIDE(b_ltrim, 1, CN_COL_STRING, 0, CN_COL_STRING)
SIDE(b_rtrim, 2, CN_COL_STRING, 0, CN_COL_STRING)
SIDE(b_trim, 0, CN_COL_STRING, 0, CN_COL_STRING)
SIDE3(b_lpad, 0, CN_COL_STRING, CN_COL_INT32, CN_COL_STRING, CN_COL_STRING)
SIDE3(b_rpad, 1, CN_COL_STRING, CN_COL_INT32, CN_COL_STRING, CN_COL_STRING)
SIDE(b_left, 0, CN_COL_STRING, CN_COL_INT32, CN_COL_STRING)
SIDE(b_right, 1, CN_COL_STRING, CN_COL_INT32, CN_COL_STRING)
SIDE(b_contains, 0, CN_COL_STRING, CN_COL_STRING, CN_COL_BOOL)
SIDE(b_startswith, 1, CN_COL_STRING, CN_COL_STRING, CN_COL_BOOL)
SIDE(b_endswith, 2, CN_COL_STRING, CN_COL_STRING, CN_COL_BOOL)
SIDE(b_date_add, 0, CN_COL_DATE, CN_COL_INT32, CN_COL_DATE)
SIDE(b_date_sub, 1, CN_COL_DATE, CN_COL_INT32, CN_COL_DATE)
SIDE(b_year, DP_YEAR, CN_COL_DATE, 0, CN_COL_INT32)
SIDE(b_month, DP_MONTH, CN_COL_DATE, 0, CN_COL_INT32)
SIDE(b_day, DP_DAY, CN_COL_DATE, 0, CN_COL_INT32)
SIDE(b_quarter, DP_QUARTER, CN_COL_DATE, 0, CN_COL_INT32)
SIDE(b_dow, DP_DOW, CN_COL_DATE, 0, CN_COL_INT32)
SIDE(b_doy, DP_DOY, CN_COL_DATE, 0, CN_COL_INT32)
SIDE(b_week, DP_WEEK, CN_COL_DATE, 0, CN_COL_INT32)
SIDE(b_hour, DP_HOUR, CN_COL_TIMESTAMP, 0, CN_COL_INT32)
SIDE(b_minute, DP_MINUTE, CN_COL_TIMESTAMP, 0, CN_COL_INT32)
SIDE(b_second, DP_SECOND, CN_COL_TIMESTAMP, 0, CN_COL_INT32)
SIDE(b_unix_millis, 0, CN_COL_TIMESTAMP, 0, CN_COL_INT64)
SIDE(b_unix_seconds, 1, CN_COL_TIMESTAMP, 0, CN_COL_INT64)
SIDE(b_ts_millis, 2, CN_COL_INT64, 0, CN_COL_TIMESTAMP)
SIDE(b_ts_seconds, 3, CN_COL_INT64, 0, CN_COL_TIMESTAMP)
SIDE(b_unix_date, 4, CN_COL_DATE, 0, CN_COL_INT32)
SIDE(b_date_from_unix_date, 4, CN_COL_INT32, 0, CN_COL_DATE)
SIDE(b_add_months, 0, CN_COL_DATE, CN_COL_INT32, CN_COL_DATE)
SIDE(b_last_day, 0, CN_COL_DATE, 0, CN_COL_DATE)
SIDE(b_datediff, 0, CN_COL_DATE, CN_COL_DATE, CN_COL_INT32)
SIDE(b_sqrt, MF_SQRT, CN_COL_FLOAT64, 0, CN_COL_FLOAT64)
SIDE(b_exp, MF_EXP, CN_COL_FLOAT64, 0, CN_COL_FLOAT64)
SIDE(b_ln, MF_LN, CN_COL_FLOAT64, 0, CN_COL_FLOAT64)
SIDE(b_log10, MF_LOG10, CN_COL_FLOAT64, 0, CN_COL_FLOAT64)
SIDE(b_log2, MF_LOG2, CN_COL_FLOAT64, 0, CN_COL_FLOAT64)
SIDE(b_log, MF_LN, CN_COL_FLOAT64, CN_COL_FLOAT64, CN_COL_FLOAT64)
SIDE(b_cbrt, MF_CBRT, CN_COL_FLOAT64, 0, CN_COL_FLOAT64)
SIDE(b_sin, MF_SIN, CN_COL_FLOAT64, 0, CN_COL_FLOAT64)
SIDE(b_cos, MF_COS, CN_COL_FLOAT64, 0, CN_COL_FLOAT64)
SIDE(b_tan, MF_TAN, CN_COL_FLOAT64, 0, CN_COL_FLOAT64)
SIDE(b_asin, MF_ASIN, CN_COL_FLOAT64, 0, CN_COL_FLOAT64)
SIDE(b_acos, MF_ACOS, CN_COL_FLOAT64, 0, CN_COL_FLOAT64)
SIDE(b_atan, MF_ATAN, CN_COL_FLOAT64, 0, CN_COL_FLOAT64)
SIDE(b_sinh, MF_SINH, CN_COL_FLOAT64, 0, CN_COL_FLOAT64)
SIDE(b_cosh, MF_COSH, CN_COL_FLOAT64, 0, CN_COL_FLOAT64)
SIDE(b_tanh, MF_TANH, CN_COL_FLOAT64, 0, CN_COL_FLOAT64)
SIDE(b_expm1, MF_EXPM1, CN_COL_FLOAT64, 0, CN_COL_FLOAT64)
SIDE(b_log1p, MF_LOG1P, CN_COL_FLOAT64, 0, CN_COL_FLOAT64)
SIDE(b_degrees, MF_DEGREES, CN_COL_FLOAT64, 0, CN_COL_FLOAT64)
SIDE(b_radians, MF_RADIANS, CN_COL_FLOAT64, 0, CN_COL_FLOAT64)
SIDE(b_signum, MF_SIGNUM, CN_COL_FLOAT64, 0, CN_COL_FLOAT64)
SIDE(b_pow, 0, CN_COL_FLOAT64, CN_COL_FLOAT64, CN_COL_FLOAT64)
SIDE(b_atan2, 1, CN_COL_FLOAT64, CN_COL_FLOAT64, CN_COL_FLOAT64)
SIDE(b_isnan, 0, CN_COL_FLOAT64, 0, CN_COL_BOOL)
SIDE(b_e, 0, 0, 0, CN_COL_FLOAT64)
SIDE(b_pi, 1, 0, 0, CN_COL_FLOAT64)

static int b_floor(CnExpr *e, Node *n, CnErr *err) { n->aux = 0; return bind_floorceil(e, n, err); }
static int b_ceil(CnExpr *e, Node *n, CnErr *err) { n->aux = 1; return bind_floorceil(e, n, err); }
static int b_greatest(CnExpr *e, Node *n, CnErr *err) { n->aux = 0; return bind_greatest(e, n, err); }
static int b_least(CnExpr *e, Node *n, CnErr *err) { n->aux = 1; return bind_greatest(e, n, err); }
static int b_substr(CnExpr *e, Node *n, CnErr *err) {
    int rc;
    for (uint32_t i = 0; i < n->n_args; i++) {
        CnTypeId w = i == 0 ? CN_COL_STRING : CN_COL_INT32;
        Node *a = n->args[i];
        if (cn_col_type_is_nested(a->t) || (w == CN_COL_INT32 && !cn_expr__is_numeric(a->t) && a->t != CN_COL_STRING &&
                                            a->t != CN_EXPR__TNULL))
            return cn_expr__bind_error(e, a, CN_ETYPE, err, "%s: argument %u must be %s", n->fn->name, i + 1, cn_col_type_id_name(w));
        if ((rc = cn_expr__cast_arg(e, n, i, w, err)) < 0) return rc;
    }
    cn_expr__set_type(n, CN_COL_STRING);
    return 0;
}

static const FnDef FNS[] = {
    /* null handling and conditionals */
    {"coalesce", 1, -1, "X", 0, bind_coalesce, ev_coalesce, 0},
    {"nvl", 2, 2, "X", 0, bind_coalesce, ev_coalesce, 0},
    {"ifnull", 2, 2, "X", 0, bind_coalesce, ev_coalesce, 0},
    {"nvl2", 3, 3, "X", 0, bind_nvl2, NULL, 0},
    {"nullif", 2, 2, "X", 0, bind_nullif, ev_nullif, FN_NULLOUT},
    {"if", 3, 3, "X", 0, bind_if, NULL, 0},
    {"isnull", 1, 1, "X", 0, bind_isnull, NULL, 0},
    {"isnotnull", 1, 1, "X", 0, bind_isnull, NULL, 0},
    /* function-style casts */
    {"int", 1, 1, "X", 0, bind_fcast, NULL, 0},
    {"bigint", 1, 1, "X", 0, bind_fcast, NULL, 0},
    {"smallint", 1, 1, "X", 0, bind_fcast, NULL, 0},
    {"tinyint", 1, 1, "X", 0, bind_fcast, NULL, 0},
    {"double", 1, 1, "X", 0, bind_fcast, NULL, 0},
    {"float", 1, 1, "X", 0, bind_fcast, NULL, 0},
    {"string", 1, 1, "X", 0, bind_fcast, NULL, 0},
    {"boolean", 1, 1, "X", 0, bind_fcast, NULL, 0},
    {"date", 1, 1, "X", 0, bind_fcast, NULL, 0},
    {"timestamp", 1, 1, "X", 0, bind_fcast, NULL, 0},
    /* strings */
    {"concat", 1, -1, "S", 'S', NULL, ev_concat, FN_STRICT},
    {"concat_ws", 1, -1, "S", 0, bind_concat_ws, ev_concat_ws, 0},
    {"lower", 1, 1, "S", 0, bind_lower, ev_case_conv, FN_STRICT},
    {"lcase", 1, 1, "S", 0, bind_lower, ev_case_conv, FN_STRICT},
    {"upper", 1, 1, "S", 0, bind_upper, ev_case_conv, FN_STRICT},
    {"ucase", 1, 1, "S", 0, bind_upper, ev_case_conv, FN_STRICT},
    {"substr", 2, 3, "SII", 0, b_substr, ev_substr, FN_STRICT},
    {"substring", 2, 3, "SII", 0, b_substr, ev_substr, FN_STRICT},
    {"left", 2, 2, "SI", 0, b_left, ev_left_right, FN_STRICT},
    {"right", 2, 2, "SI", 0, b_right, ev_left_right, FN_STRICT},
    {"length", 1, 1, "S", 'I', NULL, ev_length, FN_STRICT},
    {"char_length", 1, 1, "S", 'I', NULL, ev_length, FN_STRICT},
    {"character_length", 1, 1, "S", 'I', NULL, ev_length, FN_STRICT},
    {"trim", 1, 1, "S", 0, b_trim, ev_trim, FN_STRICT},
    {"ltrim", 1, 1, "S", 0, b_ltrim, ev_trim, FN_STRICT},
    {"rtrim", 1, 1, "S", 0, b_rtrim, ev_trim, FN_STRICT},
    {"lpad", 2, 3, "SIS", 0, b_lpad, ev_pad, FN_STRICT | FN_NULLOUT},
    {"rpad", 2, 3, "SIS", 0, b_rpad, ev_pad, FN_STRICT | FN_NULLOUT},
    {"instr", 2, 2, "SS", 'I', NULL, ev_instr, FN_STRICT},
    {"contains", 2, 2, "SS", 0, b_contains, ev_contains, FN_STRICT},
    {"startswith", 2, 2, "SS", 0, b_startswith, ev_contains, FN_STRICT},
    {"endswith", 2, 2, "SS", 0, b_endswith, ev_contains, FN_STRICT},
    {"replace", 2, 3, "SSS", 'S', NULL, ev_replace, FN_STRICT},
    {"reverse", 1, 1, "S", 'S', NULL, ev_reverse, FN_STRICT},
    {"repeat", 2, 2, "SI", 'S', NULL, ev_repeat, FN_STRICT | FN_NULLOUT},
    {"split", 2, 3, "SSI", 0, bind_regex_fn, ev_split, FN_STRICT},
    {"regexp_replace", 3, 3, "SSS", 0, bind_regex_fn, ev_regexp_replace, FN_STRICT},
    {"regexp_extract", 2, 3, "SSI", 0, bind_regex_fn, ev_regexp_extract, FN_STRICT},
    /* math */
    {"abs", 1, 1, "N", 'N', NULL, ev_abs, FN_STRICT},
    {"round", 1, 2, "NI", 0, bind_round, ev_round, FN_STRICT},
    {"bround", 1, 2, "NI", 0, bind_round, ev_round, FN_STRICT},
    {"floor", 1, 1, "N", 0, b_floor, ev_floorceil, FN_STRICT},
    {"ceil", 1, 1, "N", 0, b_ceil, ev_floorceil, FN_STRICT},
    {"ceiling", 1, 1, "N", 0, b_ceil, ev_floorceil, FN_STRICT},
    {"sqrt", 1, 1, "D", 0, b_sqrt, ev_math1, FN_STRICT},
    {"exp", 1, 1, "D", 0, b_exp, ev_math1, FN_STRICT},
    {"ln", 1, 1, "D", 0, b_ln, ev_math1, FN_STRICT | FN_NULLOUT},
    {"log", 1, 2, "DD", 0, b_log, ev_log2arg, FN_STRICT | FN_NULLOUT},
    {"log10", 1, 1, "D", 0, b_log10, ev_math1, FN_STRICT | FN_NULLOUT},
    {"log2", 1, 1, "D", 0, b_log2, ev_math1, FN_STRICT | FN_NULLOUT},
    {"log1p", 1, 1, "D", 0, b_log1p, ev_math1, FN_STRICT | FN_NULLOUT},
    {"expm1", 1, 1, "D", 0, b_expm1, ev_math1, FN_STRICT},
    {"cbrt", 1, 1, "D", 0, b_cbrt, ev_math1, FN_STRICT},
    {"sin", 1, 1, "D", 0, b_sin, ev_math1, FN_STRICT},
    {"cos", 1, 1, "D", 0, b_cos, ev_math1, FN_STRICT},
    {"tan", 1, 1, "D", 0, b_tan, ev_math1, FN_STRICT},
    {"asin", 1, 1, "D", 0, b_asin, ev_math1, FN_STRICT},
    {"acos", 1, 1, "D", 0, b_acos, ev_math1, FN_STRICT},
    {"atan", 1, 1, "D", 0, b_atan, ev_math1, FN_STRICT},
    {"sinh", 1, 1, "D", 0, b_sinh, ev_math1, FN_STRICT},
    {"cosh", 1, 1, "D", 0, b_cosh, ev_math1, FN_STRICT},
    {"tanh", 1, 1, "D", 0, b_tanh, ev_math1, FN_STRICT},
    {"degrees", 1, 1, "D", 0, b_degrees, ev_math1, FN_STRICT},
    {"radians", 1, 1, "D", 0, b_radians, ev_math1, FN_STRICT},
    {"sign", 1, 1, "D", 0, b_signum, ev_math1, FN_STRICT},
    {"signum", 1, 1, "D", 0, b_signum, ev_math1, FN_STRICT},
    {"pow", 2, 2, "DD", 0, b_pow, ev_math2, FN_STRICT},
    {"power", 2, 2, "DD", 0, b_pow, ev_math2, FN_STRICT},
    {"atan2", 2, 2, "DD", 0, b_atan2, ev_math2, FN_STRICT},
    {"isnan", 1, 1, "D", 0, b_isnan, ev_isnan, 0},
    {"e", 0, 0, "", 0, b_e, ev_const, 0},
    {"pi", 0, 0, "", 0, b_pi, ev_const, 0},
    {"greatest", 2, -1, "X", 0, b_greatest, ev_greatest, 0},
    {"least", 2, -1, "X", 0, b_least, ev_greatest, 0},
    {"mod", 2, 2, "NN", 0, bind_mod, NULL, FN_STRICT},
    {"pmod", 2, 2, "NN", 0, bind_pmod, ev_pmod, FN_STRICT | FN_NULLOUT},
    /* dates and times (UTC) */
    {"from_unixtime", 1, 2, "LS", 0, bind_from_unixtime, ev_from_unixtime, FN_STRICT | FN_NULLOUT},
    {"unix_timestamp", 1, 2, "SS", 'L', bind_parse_fn, ev_parse_fn, FN_STRICT | FN_NULLOUT | FN_NONDET},
    {"to_unix_timestamp", 1, 2, "SS", 'L', bind_parse_fn, ev_parse_fn, FN_STRICT | FN_NULLOUT},
    {"to_date", 1, 2, "SS", 'A', bind_parse_fn, ev_parse_fn, FN_STRICT | FN_NULLOUT},
    {"to_timestamp", 1, 2, "SS", 'T', bind_parse_fn, ev_parse_fn, FN_STRICT | FN_NULLOUT},
    {"date_format", 2, 2, "TS", 0, bind_date_format, ev_date_format, FN_STRICT | FN_NULLOUT},
    {"date_add", 2, 2, "AI", 0, b_date_add, ev_date_add, FN_STRICT},
    {"date_sub", 2, 2, "AI", 0, b_date_sub, ev_date_add, FN_STRICT},
    {"datediff", 2, 2, "AA", 0, b_datediff, ev_datediff, FN_STRICT},
    {"add_months", 2, 2, "AI", 0, b_add_months, ev_add_months, FN_STRICT},
    {"last_day", 1, 1, "A", 0, b_last_day, ev_last_day, FN_STRICT},
    {"year", 1, 1, "A", 0, b_year, ev_datepart, FN_STRICT},
    {"month", 1, 1, "A", 0, b_month, ev_datepart, FN_STRICT},
    {"day", 1, 1, "A", 0, b_day, ev_datepart, FN_STRICT},
    {"dayofmonth", 1, 1, "A", 0, b_day, ev_datepart, FN_STRICT},
    {"quarter", 1, 1, "A", 0, b_quarter, ev_datepart, FN_STRICT},
    {"dayofweek", 1, 1, "A", 0, b_dow, ev_datepart, FN_STRICT},
    {"dayofyear", 1, 1, "A", 0, b_doy, ev_datepart, FN_STRICT},
    {"weekofyear", 1, 1, "A", 0, b_week, ev_datepart, FN_STRICT},
    {"hour", 1, 1, "T", 0, b_hour, ev_datepart, FN_STRICT},
    {"minute", 1, 1, "T", 0, b_minute, ev_datepart, FN_STRICT},
    {"second", 1, 1, "T", 0, b_second, ev_datepart, FN_STRICT},
    {"unix_millis", 1, 1, "T", 0, b_unix_millis, ev_units, FN_STRICT},
    {"unix_seconds", 1, 1, "T", 0, b_unix_seconds, ev_units, FN_STRICT},
    {"timestamp_millis", 1, 1, "L", 0, b_ts_millis, ev_units, FN_STRICT},
    {"timestamp_seconds", 1, 1, "L", 0, b_ts_seconds, ev_units, FN_STRICT},
    {"unix_date", 1, 1, "A", 0, b_unix_date, ev_units, FN_STRICT},
    {"date_from_unix_date", 1, 1, "I", 0, b_date_from_unix_date, ev_units, FN_STRICT},
    /* collections */
    {"size", 1, 1, "X", 0, bind_size, ev_size, 0},
    {"cardinality", 1, 1, "X", 0, bind_size, ev_size, 0},
    {"element_at", 2, 2, "XX", 0, bind_element_at, ev_element_at, FN_STRICT | FN_NULLOUT},
    {"array_contains", 2, 2, "XX", 0, bind_array_contains, ev_array_contains, FN_STRICT | FN_NULLOUT},
};

const FnDef *cn_expr__fn_find(const char *name) {
    for (size_t i = 0; i < CN_ARRAY_LEN(FNS); i++)
        if (strcasecmp(FNS[i].name, name) == 0) return &FNS[i];
    return NULL;
}

const FnDef *cn_expr__fn_table(size_t *n) {
    *n = CN_ARRAY_LEN(FNS);
    return FNS;
}
