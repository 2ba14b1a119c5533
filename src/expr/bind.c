/* bind.c: resolves columns and functions, types every node with Spark's (non-ANSI)
 * coercion rules, inserts the implicit casts as CAST nodes and folds literal subtrees
 * by evaluating them once over a one-row batch. Rules (Spark TypeCoercion):
 *   numeric widening int32 < int64 < float32 < float64; `/` is always float64, DIV int64;
 *   strings in arithmetic become float64; a comparison of string with a number, bool,
 *   date or timestamp casts the string to the other side; date vs timestamp compares as
 *   timestamps; IN/CASE/COALESCE/IF use the wider common type, where a string and any
 *   other atomic type (but bool and binary) meet as string. */
#include "expr/expr_int.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/alloc.h"
#include "base/str.h"

static int bind_node(CnExpr *e, Node **slot, CnErr *err);

int cn_expr__bind_error(CnExpr *e, const Node *at, int code, CnErr *err, const char *fmt, ...) {
    char q[200], what[700];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    return cn_err_set(err, code, "%s: %s at column %u", cn_expr__quote(e, q, sizeof q), what, at ? at->pos : 1);
}

static CN_COLD int oom(CnErr *err) { return cn_err_set(err, CN_ENOMEM, "expression: out of memory"); }

static const char *tname(CnTypeId t) { return t == CN_EXPR__TNULL ? "null" : cn_col_type_id_name(t); }
static const char *ntype(const Node *n, char *buf, size_t len) {
    if (n->t == CN_EXPR__TNULL || !n->type) return tname(n->t);
    return cn_col_type_name(n->type, buf, len);
}

static bool is_numeric(CnTypeId t) {
    return t == CN_COL_INT32 || t == CN_COL_INT64 || t == CN_COL_FLOAT32 || t == CN_COL_FLOAT64;
}
static bool is_integral(CnTypeId t) { return t == CN_COL_INT32 || t == CN_COL_INT64; }
static bool is_atomic(CnTypeId t) { return t != CN_EXPR__TNULL && !cn_col_type_is_nested(t); }
static int num_rank(CnTypeId t) {
    switch (t) {
    case CN_COL_INT32: return 1;
    case CN_COL_INT64: return 2;
    case CN_COL_FLOAT32: return 3;
    case CN_COL_FLOAT64: return 4;
    default: return 0;
    }
}

static void set_type(Node *n, CnTypeId t) {
    n->t = t;
    n->type = t == CN_EXPR__TNULL ? NULL : cn_col_type_prim(t);
}

/* Spark's implicit casts for function arguments and operators (ImplicitTypeCasts). */
static bool implicit_ok(CnTypeId from, CnTypeId to) {
    if (from == to || from == CN_EXPR__TNULL) return true;
    if (cn_col_type_is_nested(from) || cn_col_type_is_nested(to)) return false;
    switch (to) {
    case CN_COL_STRING: return true;
    case CN_COL_INT32: case CN_COL_INT64: case CN_COL_FLOAT32: case CN_COL_FLOAT64:
        return is_numeric(from) || from == CN_COL_STRING;
    case CN_COL_DATE: return from == CN_COL_STRING || from == CN_COL_TIMESTAMP;
    case CN_COL_TIMESTAMP: return from == CN_COL_STRING || from == CN_COL_DATE;
    case CN_COL_BINARY: return from == CN_COL_STRING;
    default: return false;
    }
}

/* Folds n (all of whose args are literals) into a literal by evaluating it on one row. */
static int fold(CnExpr *e, Node *n, CnErr *err) {
    if (n->kind == N_LIT || n->kind == N_COL || n->t == CN_EXPR__TNULL || cn_col_type_is_nested(n->t))
        return 0;
    for (uint32_t i = 0; i < n->n_args; i++)
        if (n->args[i]->kind != N_LIT) return 0;
    CnArena scratch;
    cn_arena_init(&scratch, 4096);
    EvalCtx c = {.b = NULL, .sel = NULL, .n = 1, .a = &scratch, .err = err};
    Val v;
    int rc = cn_expr__eval_node(&c, n, &v);
    if (rc == 0) {
        CnScalar s = {.type = n->t};
        if (val_is_null(&v, 0)) {
            s.is_null = true;
        } else {
            switch (n->t) {
            case CN_COL_BOOL: s.v.b = VAL_AT(&v, uint8_t, 0) != 0; break;
            case CN_COL_INT32: case CN_COL_DATE: s.v.i32 = VAL_AT(&v, int32_t, 0); break;
            case CN_COL_INT64: case CN_COL_TIMESTAMP: s.v.i64 = VAL_AT(&v, int64_t, 0); break;
            case CN_COL_FLOAT32: s.v.f32 = VAL_AT(&v, float, 0); break;
            case CN_COL_FLOAT64: s.v.f64 = VAL_AT(&v, double, 0); break;
            case CN_COL_STRING: case CN_COL_BINARY: {
                CnExprStr str = VAL_AT(&v, CnExprStr, 0);
                char *p = cn_arena_alloc(&e->arena, str.len + 1);
                if (!p) {
                    rc = oom(err);
                    break;
                }
                if (str.len) memcpy(p, str.p, str.len);
                p[str.len] = '\0';
                s.v.s.p = p;
                s.v.s.len = str.len;
                break;
            }
            default: rc = cn_err_set(err, CN_EINTERNAL, "fold: unexpected type %d", (int)n->t);
            }
        }
        if (rc == 0) {
            n->kind = N_LIT;
            n->lit = s;
            n->n_args = 0;
            n->nullable = s.is_null;
        }
    }
    cn_arena_fini(&scratch);
    return rc;
}

/* Wraps args[i] in a CAST to `to` (a NULL literal is retyped instead). */
int cn_expr__cast_arg(CnExpr *e, Node *n, uint32_t i, CnTypeId to, CnErr *err) {
    Node *a = n->args[i];
    if (a->t == to) return 0;
    if (a->kind == N_LIT && a->t == CN_EXPR__TNULL) {
        set_type(a, to);
        a->lit.type = to;
        return 0;
    }
    if (!cn_expr__can_cast(a->t, to)) {
        char b[64];
        return cn_expr__bind_error(e, a, CN_ETYPE, err, "cannot cast %s to %s", ntype(a, b, sizeof b), tname(to));
    }
    Node *c = cn_expr__node(e, N_CAST, a->pos, 1);
    if (!c) return oom(err);
    c->args[0] = a;
    set_type(c, to);
    c->nullable = true;
    n->args[i] = c;
    return fold(e, c, err);
}

/* Wider common type for IN/CASE/COALESCE/IF/greatest (Spark findWiderTypeForTwo). */
static bool wider(CnTypeId a, CnTypeId b, bool string_promotion, CnTypeId *out) {
    if (a == b) { *out = a; return true; }
    if (a == CN_EXPR__TNULL) { *out = b; return true; }
    if (b == CN_EXPR__TNULL) { *out = a; return true; }
    if (is_numeric(a) && is_numeric(b)) { *out = num_rank(a) > num_rank(b) ? a : b; return true; }
    if ((a == CN_COL_DATE && b == CN_COL_TIMESTAMP) || (a == CN_COL_TIMESTAMP && b == CN_COL_DATE)) {
        *out = CN_COL_TIMESTAMP;
        return true;
    }
    if (string_promotion && (a == CN_COL_STRING || b == CN_COL_STRING)) {
        CnTypeId o = a == CN_COL_STRING ? b : a;
        if (is_atomic(o) && o != CN_COL_BOOL && o != CN_COL_BINARY) {
            *out = CN_COL_STRING;
            return true;
        }
    }
    return false;
}

/* Casts args[from..to) (step) of n to their wider common type; *out gets it. */
static int unify(CnExpr *e, Node *n, uint32_t from, uint32_t step, bool string_promotion,
                 const char *what, CnTypeId *out, CnErr *err) {
    CnTypeId t = CN_EXPR__TNULL;
    for (uint32_t i = from; i < n->n_args; i += step) {
        Node *a = n->args[i];
        if (cn_col_type_is_nested(a->t)) {
            char b[64];
            return cn_expr__bind_error(e, a, CN_EUNSUPPORTED, err, "%s over %s values", what, ntype(a, b, sizeof b));
        }
        CnTypeId w;
        if (!wider(t, a->t, string_promotion, &w))
            return cn_expr__bind_error(e, a, CN_ETYPE, err, "%s: cannot mix %s and %s", what, tname(t), tname(a->t));
        t = w;
    }
    int rc;
    for (uint32_t i = from; i < n->n_args; i += step)
        if ((rc = cn_expr__cast_arg(e, n, i, t, err)) < 0) return rc;
    *out = t;
    return 0;
}

/* Type both sides of a comparison meet at (Spark findCommonTypeForBinaryComparison). */
static bool cmp_type(CnTypeId a, CnTypeId b, CnTypeId *out) {
    if (a == b) { *out = a; return true; }
    if (a == CN_EXPR__TNULL || b == CN_EXPR__TNULL) { *out = a == CN_EXPR__TNULL ? b : a; return true; }
    if (is_numeric(a) && is_numeric(b)) { *out = num_rank(a) > num_rank(b) ? a : b; return true; }
    if ((a == CN_COL_DATE && b == CN_COL_TIMESTAMP) || (a == CN_COL_TIMESTAMP && b == CN_COL_DATE)) {
        *out = CN_COL_TIMESTAMP;
        return true;
    }
    if (a == CN_COL_STRING || b == CN_COL_STRING) {
        CnTypeId o = a == CN_COL_STRING ? b : a;
        if (is_atomic(o) && o != CN_COL_BINARY) { *out = o; return true; }
    }
    return false;
}

static bool strict_null_arg(const Node *n) {
    for (uint32_t i = 0; i < n->n_args; i++)
        if (n->args[i]->kind == N_LIT && n->args[i]->lit.is_null) return true;
    return false;
}
static bool any_nullable(const Node *n) {
    for (uint32_t i = 0; i < n->n_args; i++)
        if (n->args[i]->nullable) return true;
    return false;
}
/* A strict node with a NULL literal argument is NULL of its type. */
static void to_null(Node *n) {
    n->kind = N_LIT;
    n->n_args = 0;
    memset(&n->lit, 0, sizeof n->lit);
    n->lit.type = n->t;
    n->lit.is_null = true;
    n->nullable = true;
}

/* ---------------------------------------------------------------- columns */

static unsigned edit_distance(const char *a, const char *b) {
    size_t la = strlen(a), lb = strlen(b);
    if (la > 63 || lb > 63) return 99;
    unsigned d[64][64];
    for (size_t i = 0; i <= la; i++) d[i][0] = (unsigned)i;
    for (size_t j = 0; j <= lb; j++) d[0][j] = (unsigned)j;
    for (size_t i = 1; i <= la; i++)
        for (size_t j = 1; j <= lb; j++) {
            unsigned c = d[i - 1][j - 1] + (tolower((unsigned char)a[i - 1]) != tolower((unsigned char)b[j - 1]));
            c = CN_MIN(c, d[i - 1][j] + 1);
            d[i][j] = CN_MIN(c, d[i][j - 1] + 1);
        }
    return d[la][lb];
}

static int bind_ident(CnExpr *e, Node *n, CnErr *err) {
    const CnSchema *s = e->schema;
    int idx = s ? cn_col_schema_find(s, n->name) : -1;
    if (idx < 0 && s) {
        for (uint32_t i = 0; i < s->n_fields; i++) {
            if (strcasecmp(s->fields[i].name, n->name) != 0) continue;
            if (idx >= 0)
                return cn_expr__bind_error(e, n, CN_EINVAL, err, "column \"%s\" is ambiguous (\"%s\" and \"%s\" differ only in case)",
                                           n->name, s->fields[idx].name, s->fields[i].name);
            idx = (int)i;
        }
    }
    if (idx < 0) {
        CnBuf b = CN_BUF_INIT;
        const char *best = NULL;
        unsigned bd = 3;
        uint32_t more = 0; /* names left out of the list, which stays short enough to be read whole */
        for (uint32_t i = 0; s && i < s->n_fields; i++) {
            if (more || b.len + strlen(s->fields[i].name) > 440) more++;
            else cn_buf_printf(&b, "%s%s", i ? ", " : "", s->fields[i].name);
            unsigned d = edit_distance(n->name, s->fields[i].name);
            if (d < bd) { bd = d; best = s->fields[i].name; }
        }
        if (more) cn_buf_printf(&b, ", ... and %u more", more);
        char hint[160] = "";
        if (best) snprintf(hint, sizeof hint, "; did you mean \"%s\"?", best);
        if (strchr(n->name, '.')) snprintf(hint, sizeof hint, "; struct fields and qualified names are not supported");
        int rc = cn_expr__bind_error(e, n, CN_ENOTFOUND, err, "unknown column \"%s\" (available: %s)%s", n->name,
                                     b.len ? b.data : "none", hint);
        cn_buf_fini(&b);
        return rc;
    }
    n->kind = N_COL;
    n->col = idx;
    n->t = s->fields[idx].type->id;
    n->type = s->fields[idx].type;
    n->nullable = s->fields[idx].nullable;
    return 0;
}

/* ---------------------------------------------------------------- operators */

static int bind_unary(CnExpr *e, Node *n, CnErr *err) {
    Node *a = n->args[0];
    char b[64];
    int rc;
    if (n->op == OP_NEG) {
        if (a->t == CN_COL_STRING && (rc = cn_expr__cast_arg(e, n, 0, CN_COL_FLOAT64, err)) < 0) return rc;
        if (a->t == CN_EXPR__TNULL && (rc = cn_expr__cast_arg(e, n, 0, CN_COL_INT32, err)) < 0) return rc;
        if (!is_numeric(n->args[0]->t))
            return cn_expr__bind_error(e, a, CN_ETYPE, err, "unary minus needs a number, got %s", ntype(a, b, sizeof b));
    } else {
        if (a->t == CN_EXPR__TNULL && (rc = cn_expr__cast_arg(e, n, 0, CN_COL_INT32, err)) < 0) return rc;
        if (!is_integral(n->args[0]->t))
            return cn_expr__bind_error(e, a, CN_ETYPE, err, "~ needs an integer, got %s", ntype(a, b, sizeof b));
    }
    set_type(n, n->args[0]->t);
    n->nullable = n->args[0]->nullable;
    return 0;
}

static const char *const BIN_NAMES[] = {"+", "-", "*", "/", "%", "div", "&", "|", "^", "||"};

static int rewrite_call(CnExpr *e, Node *n, const char *fname, CnErr *err);

static int bind_bin(CnExpr *e, Node *n, CnErr *err) {
    Node *a = n->args[0], *b = n->args[1];
    char b1[64], b2[64];
    int rc;
    if (n->op == OP_CONCAT) return rewrite_call(e, n, "concat", err);
    if ((n->op == OP_ADD || n->op == OP_SUB) && (a->t == CN_COL_DATE || b->t == CN_COL_DATE)) {
        /* Spark 3: date + int is date_add, date - int is date_sub */
        if (a->t == CN_COL_DATE && is_integral(b->t)) return rewrite_call(e, n, n->op == OP_ADD ? "date_add" : "date_sub", err);
        if (n->op == OP_ADD && b->t == CN_COL_DATE && is_integral(a->t)) {
            n->args[0] = b;
            n->args[1] = a;
            return rewrite_call(e, n, "date_add", err);
        }
        return cn_expr__bind_error(e, n, CN_EUNSUPPORTED, err, "%s %s %s (date arithmetic other than date +/- days; use datediff)",
                                   ntype(a, b1, sizeof b1), BIN_NAMES[n->op], ntype(b, b2, sizeof b2));
    }
    for (int i = 0; i < 2; i++) {
        Node *x = n->args[i];
        if (x->t == CN_COL_STRING && (rc = cn_expr__cast_arg(e, n, (uint32_t)i, CN_COL_FLOAT64, err)) < 0) return rc;
        x = n->args[i];
        if (x->t != CN_EXPR__TNULL && !is_numeric(x->t))
            return cn_expr__bind_error(e, x, CN_ETYPE, err, "operator %s needs numbers, got %s %s %s", BIN_NAMES[n->op],
                                       ntype(n->args[0], b1, sizeof b1), BIN_NAMES[n->op], ntype(n->args[1], b2, sizeof b2));
    }
    a = n->args[0];
    b = n->args[1];
    CnTypeId t;
    if (a->t == CN_EXPR__TNULL && b->t == CN_EXPR__TNULL) t = CN_COL_INT32;
    else if (a->t == CN_EXPR__TNULL) t = b->t;
    else if (b->t == CN_EXPR__TNULL) t = a->t;
    else t = num_rank(a->t) > num_rank(b->t) ? a->t : b->t;
    if (n->op == OP_DIV) t = CN_COL_FLOAT64;
    if (n->op == OP_IDIV) t = CN_COL_INT64;
    if (n->op == OP_BAND || n->op == OP_BOR || n->op == OP_BXOR) {
        if (!is_integral(t))
            return cn_expr__bind_error(e, n, CN_ETYPE, err, "operator %s needs integers, got %s and %s", BIN_NAMES[n->op],
                                       ntype(a, b1, sizeof b1), ntype(b, b2, sizeof b2));
    }
    if ((rc = cn_expr__cast_arg(e, n, 0, t, err)) < 0 || (rc = cn_expr__cast_arg(e, n, 1, t, err)) < 0) return rc;
    set_type(n, t);
    n->nullable = any_nullable(n) || n->op == OP_DIV || n->op == OP_MOD || n->op == OP_IDIV;
    return 0;
}

static int bind_cmp(CnExpr *e, Node *n, CnErr *err) {
    Node *a = n->args[0], *b = n->args[1];
    char b1[64], b2[64];
    CnTypeId t;
    if (cn_col_type_is_nested(a->t) || cn_col_type_is_nested(b->t) || !cmp_type(a->t, b->t, &t))
        return cn_expr__bind_error(e, n, CN_ETYPE, err, "cannot compare %s with %s", ntype(a, b1, sizeof b1), ntype(b, b2, sizeof b2));
    if (t == CN_EXPR__TNULL) t = CN_COL_INT32;
    int rc;
    if ((rc = cn_expr__cast_arg(e, n, 0, t, err)) < 0 || (rc = cn_expr__cast_arg(e, n, 1, t, err)) < 0) return rc;
    set_type(n, CN_COL_BOOL);
    n->nullable = n->op != OP_NSEQ && any_nullable(n);
    return 0;
}

static int want_bool(CnExpr *e, Node *n, uint32_t i, const char *what, CnErr *err) {
    Node *a = n->args[i];
    if (a->t == CN_EXPR__TNULL) return cn_expr__cast_arg(e, n, i, CN_COL_BOOL, err);
    if (a->t != CN_COL_BOOL) {
        char b[64];
        return cn_expr__bind_error(e, a, CN_ETYPE, err, "%s needs a boolean, got %s", what, ntype(a, b, sizeof b));
    }
    return 0;
}

static Node *mk2(CnExpr *e, NodeKind k, uint8_t op, uint32_t pos, Node *x, Node *y) {
    Node *n = cn_expr__node(e, k, pos, y ? 2 : 1);
    if (!n) return NULL;
    n->op = op;
    n->args[0] = x;
    if (y) n->args[1] = y;
    return n;
}

/* Turns an operator node into a call of fname with the same args, then binds it. */
static int bind_call(CnExpr *e, Node *n, CnErr *err);
static int rewrite_call(CnExpr *e, Node *n, const char *fname, CnErr *err) {
    n->kind = N_CALL;
    n->name = fname;
    return bind_call(e, n, err);
}

static int bind_case(CnExpr *e, Node *n, CnErr *err) {
    int rc;
    if (n->case_operand) {
        /* CASE x WHEN v THEN r ...: each WHEN becomes x = v */
        Node *x = n->args[0];
        uint32_t n_when = (n->n_args - 1 - (n->case_else ? 1 : 0)) / 2;
        for (uint32_t w = 0; w < n_when; w++) {
            Node *v = n->args[1 + 2 * w];
            Node *eq = mk2(e, N_CMP, OP_EQ, v->pos, x, v);
            if (!eq) return oom(err);
            if ((rc = bind_cmp(e, eq, err)) < 0 || (rc = fold(e, eq, err)) < 0) return rc;
            n->args[1 + 2 * w] = eq;
        }
        n->args++;
        n->n_args--;
        n->case_operand = false;
    }
    uint32_t n_when = (n->n_args - (n->case_else ? 1 : 0)) / 2;
    for (uint32_t w = 0; w < n_when; w++)
        if ((rc = want_bool(e, n, 2 * w, "WHEN", err)) < 0) return rc;
    /* the values: THEN results (odd indexes) and the ELSE (last) */
    uint32_t n_vals = n_when + (n->case_else ? 1 : 0);
    CnTypeId t = CN_EXPR__TNULL;
    for (uint32_t k = 0; k < n_vals; k++) {
        Node *a = n->args[k < n_when ? 2 * k + 1 : n->n_args - 1];
        CnTypeId w;
        char b[64];
        if (cn_col_type_is_nested(a->t))
            return cn_expr__bind_error(e, a, CN_EUNSUPPORTED, err, "CASE over %s values", ntype(a, b, sizeof b));
        if (!wider(t, a->t, true, &w))
            return cn_expr__bind_error(e, a, CN_ETYPE, err, "CASE branches mix %s and %s", tname(t), tname(a->t));
        t = w;
    }
    if (t == CN_EXPR__TNULL) t = CN_COL_STRING;
    bool nullable = !n->case_else;
    for (uint32_t k = 0; k < n_vals; k++) {
        uint32_t i = k < n_when ? 2 * k + 1 : n->n_args - 1;
        if ((rc = cn_expr__cast_arg(e, n, i, t, err)) < 0) return rc;
        nullable |= n->args[i]->nullable;
    }
    set_type(n, t);
    n->nullable = nullable;
    return 0;
}

static int bind_in(CnExpr *e, Node *n, CnErr *err) {
    CnTypeId t = CN_EXPR__TNULL; /* set by unify() when it succeeds */
    int rc = unify(e, n, 0, 1, true, "IN", &t, err);
    if (rc < 0) return rc;
    if (t == CN_EXPR__TNULL) {
        for (uint32_t i = 0; i < n->n_args; i++)
            if ((rc = cn_expr__cast_arg(e, n, i, CN_COL_INT32, err)) < 0) return rc;
    }
    set_type(n, CN_COL_BOOL);
    n->nullable = any_nullable(n);
    return 0;
}

static int bind_like(CnExpr *e, Node *n, CnErr *err) {
    int rc;
    for (uint32_t i = 0; i < 2; i++) {
        char b[64];
        Node *a = n->args[i];
        if (!implicit_ok(a->t, CN_COL_STRING) || cn_col_type_is_nested(a->t))
            return cn_expr__bind_error(e, a, CN_ETYPE, err, "%s needs strings, got %s", n->kind == N_LIKE ? "LIKE" : "RLIKE",
                                       ntype(a, b, sizeof b));
        if ((rc = cn_expr__cast_arg(e, n, i, CN_COL_STRING, err)) < 0) return rc;
    }
    set_type(n, CN_COL_BOOL);
    n->nullable = any_nullable(n);
    Node *pat = n->args[1];
    if (n->kind == N_LIKE && pat->kind == N_LIT && !pat->lit.is_null) {
        /* Spark rejects an escape character that does not precede % _ or itself */
        const char *s = pat->lit.v.s.p;
        uint32_t len = pat->lit.v.s.len;
        for (uint32_t i = 0; i < len; i++) {
            if ((unsigned char)s[i] != (unsigned)n->aux) continue;
            if (i + 1 >= len || (s[i + 1] != '%' && s[i + 1] != '_' && (unsigned char)s[i + 1] != (unsigned)n->aux))
                return cn_expr__bind_error(e, pat, CN_EINVAL, err,
                                           "LIKE pattern: the escape character '%c' must be followed by %%, _ or itself", (char)n->aux);
            i++;
        }
    }
    if (n->kind == N_RLIKE) {
        if (pat->kind != N_LIT)
            return cn_expr__bind_error(e, pat, CN_EUNSUPPORTED, err, "RLIKE with a pattern that is not a literal");
        if (!pat->lit.is_null && !(n->re = cn_expr__regex_compile(e, pat, pat->lit.v.s.p, pat->lit.v.s.len, err)))
            return err->code;
    }
    return 0;
}

/* Spark type names in CAST. */
static int cast_target(CnExpr *e, Node *n, CnTypeId *t, int *narrow, CnErr *err) {
    static const struct { const char *name; CnTypeId t; int narrow; } names[] = {
        {"int", CN_COL_INT32, 0},       {"integer", CN_COL_INT32, 0},   {"bigint", CN_COL_INT64, 0},
        {"long", CN_COL_INT64, 0},      {"smallint", CN_COL_INT32, 16}, {"short", CN_COL_INT32, 16},
        {"tinyint", CN_COL_INT32, 8},   {"byte", CN_COL_INT32, 8},      {"double", CN_COL_FLOAT64, 0},
        {"float", CN_COL_FLOAT32, 0},   {"real", CN_COL_FLOAT32, 0},    {"string", CN_COL_STRING, 0},
        {"boolean", CN_COL_BOOL, 0},    {"bool", CN_COL_BOOL, 0},       {"date", CN_COL_DATE, 0},
        {"timestamp", CN_COL_TIMESTAMP, 0}, {"binary", CN_COL_BINARY, 0},
    };
    char base[32];
    size_t k = 0;
    while (n->name[k] && n->name[k] != '(' && n->name[k] != ' ' && k + 1 < sizeof base) {
        base[k] = n->name[k];
        k++;
    }
    base[k] = '\0';
    bool params = strchr(n->name, '(') != NULL;
    Node at = *n;
    at.pos = (uint32_t)n->aux + 1;
    if (!params)
        for (size_t i = 0; i < CN_ARRAY_LEN(names); i++)
            if (strcasecmp(base, names[i].name) == 0) {
                *t = names[i].t;
                *narrow = names[i].narrow;
                return 0;
            }
    if (strcasecmp(base, "varchar") == 0 || strcasecmp(base, "char") == 0) {
        *t = CN_COL_STRING;
        *narrow = 0;
        return 0;
    }
    if (strcasecmp(base, "decimal") == 0 || strcasecmp(base, "dec") == 0 || strcasecmp(base, "numeric") == 0) {
        *t = CN_COL_FLOAT64; /* documented: decimals are computed as doubles */
        *narrow = 0;
        return 0;
    }
    return cn_expr__bind_error(e, &at, CN_EUNSUPPORTED, err,
                               "CAST to type \"%s\" (supported: int, bigint, smallint, tinyint, double, float, decimal, string, boolean, date, timestamp, binary)",
                               n->name);
}

static int bind_cast(CnExpr *e, Node *n, CnErr *err) {
    CnTypeId t = CN_COL_STRING;
    int narrow = 0, rc;
    if ((rc = cast_target(e, n, &t, &narrow, err)) < 0) return rc;
    Node *a = n->args[0];
    char b[64];
    if (a->t == CN_EXPR__TNULL) {
        set_type(a, t);
        a->lit.type = t;
    } else if (!cn_expr__can_cast(a->t, t)) {
        return cn_expr__bind_error(e, n, CN_ETYPE, err, "cannot cast %s to %s", ntype(a, b, sizeof b), n->name);
    }
    set_type(n, t);
    n->aux = narrow;
    /* casts that can fail turn bad values into null */
    bool lossless = a->t == t || (is_numeric(a->t) && is_numeric(t)) || t == CN_COL_STRING ||
                    (a->t == CN_COL_DATE && t == CN_COL_TIMESTAMP) || (a->t == CN_COL_TIMESTAMP && t == CN_COL_DATE);
    n->nullable = a->nullable || !lossless;
    return 0;
}

/* ------------------------------------------------------------------ calls */

/* Spark functions we know but refuse, with the reason. */
static const struct { const char *name; const char *why; } REFUSED[] = {
    {"current_date", "is not deterministic (its value depends on when the job runs); use the ds partition instead"},
    {"current_timestamp", "is not deterministic (its value depends on when the job runs)"},
    {"now", "is not deterministic (its value depends on when the job runs)"},
    {"localtimestamp", "is not deterministic"},
    {"rand", "is not deterministic"}, {"random", "is not deterministic"}, {"randn", "is not deterministic"},
    {"uuid", "is not deterministic"}, {"shuffle", "is not deterministic"},
    {"monotonically_increasing_id", "is not deterministic"}, {"spark_partition_id", "is not deterministic"},
    {"input_file_name", "is not deterministic"},
    {"count", "is an aggregate; aggregations belong in the GroupBy's aggregations"},
    {"sum", "is an aggregate; aggregations belong in the GroupBy's aggregations"},
    {"avg", "is an aggregate; aggregations belong in the GroupBy's aggregations"},
    {"min", "is an aggregate; aggregations belong in the GroupBy's aggregations"},
    {"max", "is an aggregate; aggregations belong in the GroupBy's aggregations"},
    {"first", "is an aggregate"}, {"last", "is an aggregate"}, {"collect_list", "is an aggregate"},
    {"collect_set", "is an aggregate"}, {"approx_count_distinct", "is an aggregate"},
    {"row_number", "is a window function"}, {"rank", "is a window function"}, {"lag", "is a window function"},
    {"lead", "is a window function"}, {"explode", "is a generator (rows out of one row)"},
    {"posexplode", "is a generator"}, {"inline", "is a generator"},
};

static CnTypeId code_to_type(char c) {
    switch (c) {
    case 'S': return CN_COL_STRING;
    case 'I': return CN_COL_INT32;
    case 'L': return CN_COL_INT64;
    case 'D': return CN_COL_FLOAT64;
    case 'F': return CN_COL_FLOAT32;
    case 'B': return CN_COL_BOOL;
    case 'A': return CN_COL_DATE;
    case 'T': return CN_COL_TIMESTAMP;
    default: return CN_EXPR__TNULL;
    }
}

/* Generic binding from the signature string: each arg is implicitly cast to its code. */
static int bind_signature(CnExpr *e, Node *n, CnErr *err) {
    const FnDef *f = n->fn;
    size_t ncodes = strlen(f->args);
    int rc;
    for (uint32_t i = 0; i < n->n_args; i++) {
        char c = f->args[i < ncodes ? i : ncodes - 1];
        Node *a = n->args[i];
        char b[64];
        if (c == 'X') {
            if (a->t == CN_EXPR__TNULL && (rc = cn_expr__cast_arg(e, n, i, CN_COL_STRING, err)) < 0) return rc;
            continue;
        }
        if (c == 'N') {
            if (a->t == CN_COL_STRING && (rc = cn_expr__cast_arg(e, n, i, CN_COL_FLOAT64, err)) < 0) return rc;
            if (a->t == CN_EXPR__TNULL && (rc = cn_expr__cast_arg(e, n, i, CN_COL_FLOAT64, err)) < 0) return rc;
            if (!is_numeric(n->args[i]->t))
                return cn_expr__bind_error(e, a, CN_ETYPE, err, "%s: argument %u must be a number, got %s", f->name, i + 1, ntype(a, b, sizeof b));
            continue;
        }
        CnTypeId want = code_to_type(c);
        if (!implicit_ok(a->t, want))
            return cn_expr__bind_error(e, a, CN_ETYPE, err, "%s: argument %u must be %s, got %s", f->name, i + 1, tname(want),
                                       ntype(a, b, sizeof b));
        if ((rc = cn_expr__cast_arg(e, n, i, want, err)) < 0) return rc;
    }
    if (f->ret == 'N' || f->ret == 'X') set_type(n, n->args[0]->t);
    else set_type(n, code_to_type(f->ret));
    return 0;
}

static int bind_call(CnExpr *e, Node *n, CnErr *err) {
    const FnDef *f = cn_expr__fn_find(n->name);
    if (!f) {
        for (size_t i = 0; i < CN_ARRAY_LEN(REFUSED); i++)
            if (strcasecmp(REFUSED[i].name, n->name) == 0)
                return cn_expr__bind_error(e, n, CN_EUNSUPPORTED, err, "function %s() %s", REFUSED[i].name, REFUSED[i].why);
        return cn_expr__bind_error(e, n, CN_ENOTFOUND, err, "unknown or unsupported function %s() (docs/expressions.md lists the supported ones)",
                                   n->name);
    }
    if ((int)n->n_args < f->min_args || (f->max_args >= 0 && (int)n->n_args > f->max_args)) {
        if (f->flags & FN_NONDET)
            return cn_expr__bind_error(e, n, CN_EUNSUPPORTED, err, "%s() without arguments is not deterministic", f->name);
        char want[48];
        if (f->max_args < 0) snprintf(want, sizeof want, "at least %d", f->min_args);
        else if (f->min_args == f->max_args) snprintf(want, sizeof want, "%d", f->min_args);
        else snprintf(want, sizeof want, "%d to %d", f->min_args, f->max_args);
        return cn_expr__bind_error(e, n, CN_EINVAL, err, "function %s() takes %s argument%s, got %u", f->name, want,
                                   strcmp(want, "1") == 0 ? "" : "s", n->n_args);
    }
    n->fn = f;
    int rc = f->bind ? f->bind(e, n, err) : bind_signature(e, n, err);
    if (rc < 0) return rc;
    if (n->kind != N_CALL) return 0; /* the binder rewrote it */
    n->nullable = (f->flags & FN_NULLOUT) || any_nullable(n);
    if ((f->flags & FN_STRICT) && strict_null_arg(n)) to_null(n);
    return 0;
}

static int bind_index(CnExpr *e, Node *n, CnErr *err) {
    Node *a = n->args[0];
    char b[64];
    if (a->t != CN_COL_LIST && a->t != CN_COL_MAP)
        return cn_expr__bind_error(e, n, CN_ETYPE, err, "subscript [] needs an array or a map, got %s", ntype(a, b, sizeof b));
    n->kind = N_CALL;
    n->name = "element_at";
    n->aux = 1; /* zero-based array index, as x[i] is in Spark */
    const FnDef *f = cn_expr__fn_find("element_at");
    n->fn = f;
    int rc = f->bind(e, n, err);
    n->nullable = true;
    return rc;
}

/* ------------------------------------------------------------------ nodes */

static int bind_node(CnExpr *e, Node **slot, CnErr *err) {
    Node *n = *slot;
    int rc = 0;
    if (n->kind == N_LIT) {
        if (n->t == CN_EXPR__TNULL) n->type = NULL;
        else set_type(n, n->t);
        return 0;
    }
    if (n->kind == N_IDENT) return bind_ident(e, n, err);
    if (n->kind == N_COL) return 0; /* shared node already bound */
    for (uint32_t i = 0; i < n->n_args; i++)
        if ((rc = bind_node(e, &n->args[i], err)) < 0) return rc;
    switch ((NodeKind)n->kind) {
    case N_UNARY: rc = bind_unary(e, n, err); break;
    case N_BIN: rc = bind_bin(e, n, err); break;
    case N_CMP: rc = bind_cmp(e, n, err); break;
    case N_AND: case N_OR:
        if ((rc = want_bool(e, n, 0, n->kind == N_AND ? "AND" : "OR", err)) < 0) return rc;
        if ((rc = want_bool(e, n, 1, n->kind == N_AND ? "AND" : "OR", err)) < 0) return rc;
        set_type(n, CN_COL_BOOL);
        n->nullable = any_nullable(n);
        break;
    case N_NOT:
        if ((rc = want_bool(e, n, 0, "NOT", err)) < 0) return rc;
        set_type(n, CN_COL_BOOL);
        n->nullable = any_nullable(n);
        break;
    case N_ISNULL:
        set_type(n, CN_COL_BOOL);
        n->nullable = false;
        break;
    case N_IN: rc = bind_in(e, n, err); break;
    case N_BETWEEN: {
        /* x BETWEEN lo AND hi is x >= lo AND x <= hi (x evaluated for each side) */
        Node *ge = mk2(e, N_CMP, OP_GE, n->pos, n->args[0], n->args[1]);
        Node *le = mk2(e, N_CMP, OP_LE, n->pos, n->args[0], n->args[2]);
        if (!ge || !le) return oom(err);
        if ((rc = bind_cmp(e, ge, err)) < 0 || (rc = fold(e, ge, err)) < 0) return rc;
        if ((rc = bind_cmp(e, le, err)) < 0 || (rc = fold(e, le, err)) < 0) return rc;
        Node *and = mk2(e, N_AND, 0, n->pos, ge, le);
        if (!and) return oom(err);
        set_type(and, CN_COL_BOOL);
        and->nullable = ge->nullable || le->nullable;
        if ((rc = fold(e, and, err)) < 0) return rc;
        if (n->negated) {
            Node *not = mk2(e, N_NOT, 0, n->pos, and, NULL);
            if (!not) return oom(err);
            set_type(not, CN_COL_BOOL);
            not->nullable = and->nullable;
            and = not;
        }
        *slot = n = and;
        break;
    }
    case N_LIKE: case N_RLIKE: rc = bind_like(e, n, err); break;
    case N_CASE: rc = bind_case(e, n, err); break;
    case N_CAST: rc = bind_cast(e, n, err); break;
    case N_CALL: rc = bind_call(e, n, err); break;
    case N_INDEX: rc = bind_index(e, n, err); break;
    default: rc = cn_err_set(err, CN_EINTERNAL, "bind: unexpected node kind %d", n->kind);
    }
    if (rc < 0) return rc;
    n = *slot;
    if (n->kind == N_LIT) return 0;
    /* strict operators with a NULL literal operand are NULL */
    bool strict = n->kind == N_UNARY || n->kind == N_BIN || (n->kind == N_CMP && n->op != OP_NSEQ) ||
                  n->kind == N_NOT || n->kind == N_LIKE || n->kind == N_RLIKE ||
                  (n->kind == N_CAST);
    if (strict && strict_null_arg(n)) {
        to_null(n);
        return 0;
    }
    return fold(e, n, err);
}

int cn_expr__bind_case(CnExpr *e, Node *n, CnErr *err) {
    n->kind = N_CASE;
    return bind_case(e, n, err);
}
int cn_expr__bind_cast(CnExpr *e, Node *n, CnErr *err) {
    n->kind = N_CAST;
    n->aux = (int)n->pos - 1;
    return bind_cast(e, n, err);
}
int cn_expr__bind_binop(CnExpr *e, Node *n, int op, CnErr *err) {
    n->kind = N_BIN;
    n->op = (uint8_t)op;
    return bind_bin(e, n, err);
}
int cn_expr__bind_cmp(CnExpr *e, Node *n, CnErr *err) { return bind_cmp(e, n, err); }
int cn_expr__unify(CnExpr *e, Node *n, uint32_t from, bool string_promotion, const char *what,
                   CnTypeId *out, CnErr *err) {
    return unify(e, n, from, 1, string_promotion, what, out, err);
}
bool cn_expr__is_numeric(CnTypeId t) { return is_numeric(t); }
void cn_expr__set_type(Node *n, CnTypeId t) { set_type(n, t); }

int cn_expr__root_to_millis(CnExpr *e, CnErr *err) {
    Node *r = e->root;
    char b[64];
    if (r->t == CN_COL_INT64) return 0;
    Node *w = cn_expr__node(e, r->t == CN_COL_TIMESTAMP ? N_CALL : N_CAST, r->pos, 1);
    if (!w) return oom(err);
    w->args[0] = r;
    if (r->t == CN_COL_INT32) {
        set_type(w, CN_COL_INT64);
        w->nullable = r->nullable;
    } else if (r->t == CN_COL_TIMESTAMP) {
        w->name = "unix_millis";
        int rc = bind_call(e, w, err);
        if (rc < 0) return rc;
    } else {
        return cn_expr__bind_error(e, r, CN_ETYPE, err,
                                   "the time column must give epoch milliseconds as a bigint (or a timestamp), got %s",
                                   r->type ? cn_col_type_name(r->type, b, sizeof b) : "null");
    }
    int rc = fold(e, w, err);
    if (rc < 0) return rc;
    e->root = w;
    return 0;
}

/* ------------------------------------------------------------------ API */

regex_t *cn_expr__regex_compile(CnExpr *e, const Node *at, const char *pat, size_t len, CnErr *err) {
    /* Java's \d \D are not POSIX: translate them (outside brackets) */
    CnBuf b = CN_BUF_INIT;
    bool in_br = false;
    for (size_t i = 0; i < len; i++) {
        char c = pat[i];
        if (c == '\\' && i + 1 < len) {
            char d = pat[i + 1];
            if (!in_br && d == 'd') cn_buf_puts(&b, "[0-9]");
            else if (!in_br && d == 'D') cn_buf_puts(&b, "[^0-9]");
            else if (in_br && d == 'd') cn_buf_puts(&b, "0-9");
            else {
                cn_buf_putc(&b, c);
                cn_buf_putc(&b, d);
            }
            i++;
            continue;
        }
        if (c == '[' && !in_br) in_br = true;
        else if (c == ']' && in_br) in_br = false;
        if (c == '\0') {
            cn_buf_fini(&b);
            cn_expr__bind_error(e, at, CN_EUNSUPPORTED, err, "regular expression containing a NUL byte");
            return NULL;
        }
        cn_buf_putc(&b, c);
    }
    cn_buf_putc(&b, '\0');
    if (b.oom) {
        cn_buf_fini(&b);
        oom(err);
        return NULL;
    }
    if (e->n_regexes == e->cap_regexes) {
        uint32_t cap = e->cap_regexes ? e->cap_regexes * 2 : 4;
        regex_t **r = cn_arena_alloc(&e->arena, cap * sizeof *r);
        if (!r) {
            cn_buf_fini(&b);
            oom(err);
            return NULL;
        }
        if (e->n_regexes) memcpy(r, e->regexes, e->n_regexes * sizeof *r);
        e->regexes = r;
        e->cap_regexes = cap;
    }
    /* A quantifier right after another one means something else in each engine: Java reads
     * "x*?" as lazy and "x*+" as possessive and rejects a third, while glibc nests them as
     * "(x*)?", which matches differently and costs memory doubling with each extra one
     * ("a++++++++++++++++++++++" takes gigabytes). Refuse them with Java's reading named. */
    {
        bool br = false, after_q = false;
        for (const char *q = b.data; *q; q++) {
            if (*q == '\\' && q[1]) {
                q++;
                after_q = false;
                continue;
            }
            if (br) {
                if (*q == ']') br = false;
                continue;
            }
            if (*q == '[') {
                br = true;
                if (q[1] == '^') q++;
                if (q[1] == ']') q++; /* a leading ']' is a literal */
                after_q = false;
                continue;
            }
            bool quant = *q == '*' || *q == '+' || *q == '?' || (*q == '{' && q[1] >= '0' && q[1] <= '9');
            if (quant && after_q) {
                const char *what = *q == '?' ? "a lazy quantifier" : *q == '+' ? "a possessive quantifier"
                                                                               : "a quantifier after a quantifier";
                cn_expr__bind_error(e, at, CN_EUNSUPPORTED, err,
                                    "regular expression '%.80s': %s ('%c' right after a quantifier) is not supported",
                                    b.data, what, *q);
                cn_buf_fini(&b);
                return NULL;
            }
            if (quant && *q == '{') {
                while (*q && *q != '}') q++;
                if (!*q) break;
            }
            after_q = quant;
        }
    }
    /* glibc's regcomp copies a bounded repetition's subtree once per repeat, so nested
     * bounds multiply ("(a{99}){99}{99}" takes gigabytes): refuse patterns whose bounds
     * multiply past a limit instead of letting one config exhaust memory. */
    {
        double copies = 1;
        bool br = false;
        for (const char *q = b.data; *q; q++) {
            if (*q == '\\' && q[1]) {
                q++;
                continue;
            }
            if (*q == '[') br = true;
            else if (*q == ']') br = false;
            else if (*q == '{' && !br) {
                char *end = NULL;
                double lo = strtod(q + 1, &end), hi = lo;
                if (end && *end == ',') hi = end[1] == '}' ? lo + 1 : strtod(end + 1, NULL);
                copies *= (hi > lo ? hi : lo) + 1;
            }
        }
        if (copies > 1000) {
            cn_expr__bind_error(e, at, CN_EUNSUPPORTED, err,
                                "regular expression '%.80s' repeats too much (its bounded repetitions multiply to "
                                "more than 1000 copies); simplify it", b.data);
            cn_buf_fini(&b);
            return NULL;
        }
    }
    regex_t *re = cn_arena_calloc(&e->arena, sizeof *re);
    if (!re) {
        cn_buf_fini(&b);
        oom(err);
        return NULL;
    }
    int rc = regcomp(re, b.data, REG_EXTENDED);
    if (rc != 0) {
        char msg[128];
        regerror(rc, re, msg, sizeof msg);
        cn_expr__bind_error(e, at, CN_EINVAL, err, "invalid regular expression '%.80s': %s", b.data, msg);
        cn_buf_fini(&b);
        return NULL;
    }
    cn_buf_fini(&b);
    e->regexes[e->n_regexes++] = re;
    return re;
}

int cn_expr_bind(const char *text, const CnSchema *schema, CnExpr **out, CnErr *err) {
    *out = NULL;
    CnExpr *e = cn_calloc(1, sizeof *e);
    if (!e) return oom(err);
    cn_arena_init(&e->arena, 4096);
    e->schema = schema;
    int rc = 0;
    e->text = cn_arena_strdup(&e->arena, text ? text : "");
    if (!e->text) rc = oom(err);
    if (rc == 0) rc = cn_expr__parse(e, err);
    if (rc == 0) rc = bind_node(e, &e->root, err);
    if (rc == 0 && e->root->t == CN_EXPR__TNULL) {
        /* a bare NULL has no column type: make it a null string */
        set_type(e->root, CN_COL_STRING);
        e->root->lit.type = CN_COL_STRING;
    }
    if (rc < 0) {
        cn_expr_free(e);
        return rc;
    }
    *out = e;
    return 0;
}

void cn_expr_free(CnExpr *e) {
    if (!e) return;
    for (uint32_t i = 0; i < e->n_regexes; i++) regfree(e->regexes[i]);
    cn_arena_fini(&e->arena);
    cn_free(e);
}

const CnType *cn_expr_type(const CnExpr *e) { return e->root->type; }
bool cn_expr_nullable(const CnExpr *e) { return e->root->nullable; }
bool cn_expr_is_const(const CnExpr *e) { return e->root->kind == N_LIT; }
const char *cn_expr_text(const CnExpr *e) { return e->text; }

static void mark(const Node *n, bool *used) {
    if (n->kind == N_COL) used[n->col] = true;
    for (uint32_t i = 0; i < n->n_args; i++) mark(n->args[i], used);
}
void cn_expr_mark_columns(const CnExpr *e, bool *used) { mark(e->root, used); }
