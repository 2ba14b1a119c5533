/* expr_int.h: private to src/expr: the AST/bound node, intermediate values and the
 * function table shared by parse.c, bind.c, eval.c, func.c, cast.c and datefmt.c.
 * A Node tree is built by the parser and rewritten in place by the binder (columns
 * resolved, implicit casts inserted as new CAST parents, literal subtrees folded); after
 * bind it is immutable. Every Node lives in the CnExpr's arena. */
#ifndef CN_EXPR_INT_H
#define CN_EXPR_INT_H

#include "base/compat.h"

#include <regex.h>

#include "base/arena.h"
#include "expr/expr.h"

#define CN_EXPR__TNULL ((CnTypeId)0) /* the type of a bare NULL literal */

typedef struct CnExprStr {
    const char *p;
    uint32_t len;
} CnExprStr;

typedef enum {
    N_LIT, N_IDENT, N_COL, N_UNARY, N_BIN, N_CMP, N_AND, N_OR, N_NOT, N_ISNULL, N_IN,
    N_BETWEEN, N_LIKE, N_RLIKE, N_CASE, N_CAST, N_CALL, N_INDEX,
} NodeKind;

enum { OP_NEG, OP_BITNOT };
enum { OP_ADD, OP_SUB, OP_MUL, OP_DIV, OP_MOD, OP_IDIV, OP_BAND, OP_BOR, OP_BXOR, OP_CONCAT };
enum { OP_EQ, OP_NE, OP_LT, OP_LE, OP_GT, OP_GE, OP_NSEQ };

typedef struct Node Node;
typedef struct FnDef FnDef;

struct Node {
    uint8_t kind;          /* NodeKind */
    uint8_t op;            /* OP_* for UNARY/BIN/CMP */
    bool negated;          /* NOT IN / NOT LIKE / NOT BETWEEN / IS NOT NULL */
    bool nullable;         /* after bind: can the result be null */
    bool case_operand;     /* CASE: args[0] is the operand (parse only) */
    bool case_else;        /* CASE: the last arg is the ELSE value */
    CnTypeId t;            /* after bind: result type id (CN_EXPR__TNULL for NULL) */
    const CnType *type;    /* after bind: full type (primitive singleton or nested) */
    uint32_t pos;          /* 1-based column in the text */
    uint32_t height;       /* 1 + the tallest argument (bounds recursion) */
    uint32_t n_args;
    Node **args;
    /* payload by kind */
    const char *name;      /* IDENT/CALL: name as written; CAST: type name */
    CnScalar lit;          /* LIT (type 0 with is_null for NULL); strings in the arena */
    int col;               /* COL: schema index */
    const FnDef *fn;       /* CALL after bind */
    int aux;               /* CAST: narrowing bits (8, 16) or 0; LIKE: escape char;
                              CALL: function-specific constant */
    regex_t *re;           /* RLIKE and regex functions with a literal pattern */
    void *fmt;             /* date functions with a literal pattern (DateFmt *) */
};

/* The parsed and bound expression (expr.h). */
struct CnExpr {
    CnArena arena;         /* every Node, literal string and compiled pattern */
    const char *text;
    const CnSchema *schema;
    Node *root;
    regex_t **regexes;     /* compiled patterns to regfree() on free */
    uint32_t n_regexes, cap_regexes;
};

/* ------------------------------------------------------------- parser */

/* Parses e->text into e->root. CN_EINVAL / CN_EUNSUPPORTED with position. */
int cn_expr__parse(CnExpr *e, CnErr *err);
Node *cn_expr__node(CnExpr *e, NodeKind kind, uint32_t pos, uint32_t n_args);
/* Quotes the expression text for messages (shortened when long). */
const char *cn_expr__quote(const CnExpr *e, char *buf, size_t len);

/* ------------------------------------------------------ intermediate values */

/* One intermediate column, dense over the evaluated rows.
 * INVARIANT: is_const values hold one entry that stands for every row (valid is then
 *   unused and cnull says whether it is null); otherwise data holds n entries and valid
 *   is NULL (no nulls) or n bits. Strings are CnExprStr views into the batch, the
 *   expression's literals or the call's scratch arena. Nested values are views
 *   (src, rows) of a vector: entry rows[i] (or i when rows is NULL). */
typedef struct Val {
    CnTypeId t;
    const CnType *type;
    uint32_t n;
    bool is_const, cnull;
    uint64_t *valid;
    void *data;
    const CnVec *src;
    const uint32_t *rows;
} Val;

typedef struct TmpBatch TmpBatch;

/* Per-call evaluation state. */
typedef struct EvalCtx {
    const CnBatch *b;
    const uint32_t *sel;   /* NULL: rows 0..n-1 */
    uint32_t n;
    CnArena *a;            /* scratch: everything below dies with the call */
    TmpBatch *tmps;        /* batches holding nested results (split) */
    CnErr *err;
} EvalCtx;

/* Growable string output over the scratch arena: a row's bytes are contiguous, rows
 * never move once ended, and there is no allocation per row. */
typedef struct StrBuild {
    CnArena *a;
    char *buf;
    size_t cap, used, row;
    bool oom;
} StrBuild;

void cn_expr__sb_init(StrBuild *sb, CnArena *a);
void cn_expr__sb_put(StrBuild *sb, const void *p, size_t n);
static inline void cn_expr__sb_putc(StrBuild *sb, char c) { cn_expr__sb_put(sb, &c, 1); }
CnExprStr cn_expr__sb_end(StrBuild *sb);

int cn_expr__eval_node(EvalCtx *c, const Node *nd, Val *out);
/* Allocates the data (and, if with_valid, an all-valid bitmap) of a fresh non-const
 * value of type t over c->n rows. */
int cn_expr__val_new(EvalCtx *c, Val *v, CnTypeId t, bool with_valid);
/* Width of one entry in Val.data (CnExprStr for strings). */
size_t cn_expr__val_width(CnTypeId t);
/* Validity for a strict function: AND of the args' bitmaps (NULL: all valid); sets
 * *all_null when a const arg is null. Allocates only when needed. */
int cn_expr__strict_valid(EvalCtx *c, const Val *args, uint32_t n_args, uint64_t **out,
                          bool *all_null);
/* Nested results need a real vector: a one-column batch that dies with the call. */
int cn_expr__tmp_vec(EvalCtx *c, const CnType *type, CnVec **out);

static inline bool val_is_null(const Val *v, uint32_t i) {
    if (v->is_const) return v->cnull;
    return v->valid && !((v->valid[i >> 6] >> (i & 63)) & 1);
}
static inline void bm_clear(uint64_t *bm, uint32_t i) { bm[i >> 6] &= ~(UINT64_C(1) << (i & 63)); }
static inline void bm_set(uint64_t *bm, uint32_t i) { bm[i >> 6] |= UINT64_C(1) << (i & 63); }
static inline bool bm_get(const uint64_t *bm, uint32_t i) { return (bm[i >> 6] >> (i & 63)) & 1; }
static inline size_t bm_words(uint32_t n) { return ((size_t)n + 63) / 64; }
#define VAL_AT(v, T, i) (((const T *)(v)->data)[(v)->is_const ? 0 : (i)])

/* ------------------------------------------------------------- functions */

/* Argument/return codes of a function signature:
 *   S string, I int32, L int64, D float64, B bool, A date, T timestamp,
 *   X any (kept as is), N numeric (kept), '*' anything-goes handled by bind. */
typedef int (*FnBind)(CnExpr *e, Node *n, CnErr *err);
typedef int (*FnEval)(EvalCtx *c, const Node *n, const Val *args, Val *out);

struct FnDef {
    const char *name;
    int8_t min_args, max_args;  /* max -1: variadic */
    const char *args;           /* codes per argument; the last repeats */
    char ret;                   /* return code, or 0 when bind sets it */
    FnBind bind;                /* NULL: generic cast-to-signature binding */
    FnEval eval;
    uint8_t flags;
};
#define FN_STRICT 1   /* null in any argument gives null (allows folding NULL args) */
#define FN_NONDET 2   /* the zero-argument form is non-deterministic (unix_timestamp()) */
#define FN_NULLOUT 4  /* may return null on valid input */

/* Longest string a function builds for one value (lpad, repeat): longer is null, so a
 * hostile expression cannot exhaust memory. */
#define CN_EXPR__MAX_STR (UINT32_C(1) << 24)

/* Case-insensitive lookup; NULL when unknown. */
const FnDef *cn_expr__fn_find(const char *name);
/* The function table (for docs tests). */
const FnDef *cn_expr__fn_table(size_t *n);

/* Binder helpers used by function binders. */
int cn_expr__cast_arg(CnExpr *e, Node *n, uint32_t i, CnTypeId to, CnErr *err);
int cn_expr__bind_error(CnExpr *e, const Node *at, int code, CnErr *err, const char *fmt, ...)
    CN_PRINTF(5, 6);
/* Binders of bind.c reused by functions that are sugar for an operator or construct. */
int cn_expr__bind_case(CnExpr *e, Node *n, CnErr *err);     /* n: CASE-shaped args */
int cn_expr__bind_cast(CnExpr *e, Node *n, CnErr *err);     /* n->name: the type */
int cn_expr__bind_binop(CnExpr *e, Node *n, int op, CnErr *err);
int cn_expr__bind_cmp(CnExpr *e, Node *n, CnErr *err);
/* Casts args[from..] to their wider common type (string promotion optional). */
int cn_expr__unify(CnExpr *e, Node *n, uint32_t from, bool string_promotion, const char *what,
                   CnTypeId *out, CnErr *err);
bool cn_expr__is_numeric(CnTypeId t);
/* Makes a bound time column give int64 epoch millis (int32 widened, timestamp via
 * unix_millis); CN_ETYPE for any other type. */
int cn_expr__root_to_millis(CnExpr *e, CnErr *err);
void cn_expr__set_type(Node *n, CnTypeId t);
regex_t *cn_expr__regex_compile(CnExpr *e, const Node *at, const char *pat, size_t len,
                                CnErr *err);

/* --------------------------------------------------------------- casts */

/* Spark's non-ANSI cast of a whole value (types must pass cn_expr__can_cast). */
int cn_expr__cast_val(EvalCtx *c, const Val *in, CnTypeId to, int narrow, Val *out);
bool cn_expr__can_cast(CnTypeId from, CnTypeId to);
/* Scalar conversions shared with the functions. false when the text is not valid. */
bool cn_expr__str_to_i64(const char *p, size_t n, int64_t *out);
bool cn_expr__str_to_f64(const char *p, size_t n, double *out);
bool cn_expr__str_to_bool(const char *p, size_t n, bool *out);
bool cn_expr__str_to_date(const char *p, size_t n, int32_t *out);
bool cn_expr__str_to_ts(const char *p, size_t n, int64_t *out);
/* Java's Double.toString / Float.toString; returns the length written (buf >= 32). */
size_t cn_expr__f64_to_str(double x, char *buf);
size_t cn_expr__f32_to_str(float x, char *buf);
/* "yyyy-MM-dd" / "yyyy-MM-dd HH:mm:ss[.fff]" (Spark's cast to string). */
size_t cn_expr__date_to_str(int32_t days, char *buf);
size_t cn_expr__ts_to_str(int64_t ms, char *buf);
/* Shortest decimal digits that round-trip: digits (no dot) and exponent so that
 * x = 0.d1d2d3... * 10^exp10; returns the digit count. x finite and > 0. */
int cn_expr__shortest_digits(double x, int max_prec, char *digits, int *exp10);
/* floor division/modulo for days and times */
static inline int64_t cn_expr__floordiv(int64_t a, int64_t b) {
    int64_t q = a / b;
    if ((a % b != 0) && ((a < 0) != (b < 0))) q--;
    return q;
}
static inline int64_t cn_expr__floormod(int64_t a, int64_t b) {
    int64_t r = a % b;
    return r < 0 ? r + b : r;
}
/* A reusable NUL-terminated copy of a string view (regexec needs one). */
typedef struct CBuf {
    char *p;
    size_t cap;
} CBuf;
const char *cn_expr__cstr(EvalCtx *c, CBuf *b, CnExprStr s);

/* ------------------------------------------------------------ date patterns */

#define CN_EXPR__FMT_MAX 48
typedef struct DateFmtTok {
    uint8_t kind, width;
    uint16_t off, len; /* literal text in DateFmt.lit */
} DateFmtTok;
/* A compiled Spark datetime pattern: fixed size, so a per-row pattern compiles on the
 * stack. */
typedef struct DateFmt {
    uint32_t n, n_lit;
    DateFmtTok t[CN_EXPR__FMT_MAX];
    char lit[160];
} DateFmt;
/* Compiles a Spark datetime pattern (y yy yyyy, M MM MMM MMMM, d dd, H HH, h hh, m mm,
 * s ss, S.. (fraction), a, E..EEEE, 'quoted text', other non-letters literally).
 * false with *why set when a letter is unsupported or the pattern is too long. */
bool cn_expr__datefmt_compile(DateFmt *f, const char *pat, size_t len, const char **why);
/* Formats epoch millis (UTC); returns bytes written into buf (truncated to cap). */
size_t cn_expr__datefmt_format(const DateFmt *f, int64_t ms, char *buf, size_t cap);
/* Parses the whole text strictly (fixed widths for doubled letters); false on mismatch. */
bool cn_expr__datefmt_parse(const DateFmt *f, const char *p, size_t n, int64_t *ms);

#endif /* CN_EXPR_INT_H */
