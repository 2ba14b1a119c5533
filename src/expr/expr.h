/* expr.h: the Spark SQL expression subset used by Chronon configs (Query.selects,
 * Query.wheres, Query.timeColumn, derivations), parsed, typed against a CnSchema and
 * evaluated vectorized over CnBatch columns. docs/expressions.md lists every construct
 * and function with its Spark semantics (non-ANSI mode, UTC).
 * DESIGN: text -> AST (Pratt parser) -> bound tree (columns resolved, Spark's implicit
 *   casts inserted, literal subtrees folded) -> evaluation one node at a time over the
 *   selected rows, switching on type once per node and batch. Intermediate results live
 *   in a scratch arena owned by one evaluation call.
 * ERRORS: messages quote the expression and give a 1-based column, e.g.
 *   "purchase_price *": syntax error at column 17: expected an expression after '*'
 *   so callers only prefix where the text came from (`selects["price_x2"]: ...`).
 * THREADS: a bound CnExpr / CnExprQuery is immutable; any number of threads may
 *   evaluate it at once (each call uses its own scratch memory). */
#ifndef CN_EXPR_H
#define CN_EXPR_H

#include "base/compat.h"
#include "base/err.h"
#include "col/col.h"

typedef struct CnExpr CnExpr;

/* Parses text and binds it against schema (column names resolve case-insensitively,
 * an exact match wins). OWNED: free *out with cn_expr_free; it keeps pointers to the
 * schema's types, so schema must outlive it.
 * Errors: CN_EINVAL (syntax), CN_ENOTFOUND (unknown column or function), CN_ETYPE
 * (argument types), CN_EUNSUPPORTED (known Spark construct we do not implement, or a
 * non-deterministic function), CN_ENOMEM. */
int cn_expr_bind(const char *text, const CnSchema *schema, CnExpr **out, CnErr *err);
void cn_expr_free(CnExpr *e);

/* Result type (BORROWED: lives as long as e). A bare NULL literal types as string. */
const CnType *cn_expr_type(const CnExpr *e);
/* False when the result can never be null (conservative: true when unsure). */
bool cn_expr_nullable(const CnExpr *e);
/* True when the expression uses no column (it was folded to a literal). */
bool cn_expr_is_const(const CnExpr *e);
/* The source text (BORROWED, lives as long as e). */
const char *cn_expr_text(const CnExpr *e);
/* Marks in used[0..schema->n_fields) the columns the expression reads. */
void cn_expr_mark_columns(const CnExpr *e, bool *used);

/* Evaluates e for rows sel[0..n_sel) of b (sel NULL: rows 0..b->n_rows-1 and n_sel is
 * ignored; b->sel is NOT consulted: pass it explicitly). Appends one entry per selected
 * row to out, densely, in selection order. out must be a vector of a batch (so that
 * it owns growable buffers) whose type equals cn_expr_type(e).
 * Errors: CN_ENOMEM only (Spark's non-ANSI semantics turn bad values into nulls). */
int cn_expr_eval(const CnExpr *e, const CnBatch *b, const uint32_t *sel, uint32_t n_sel,
                 CnVec *out, CnErr *err);

/* For a boolean e: writes to sel_out the rows among sel_in (NULL: all rows of b) for
 * which e is true (not false, not null), ascending; *n_out gets their count. sel_out
 * needs room for n_in (or b->n_rows) entries and may be the same array as sel_in.
 * CN_ETYPE if e is not boolean; CN_ENOMEM. */
int cn_expr_filter(const CnExpr *e, const CnBatch *b, const uint32_t *sel_in, uint32_t n_in,
                   uint32_t *sel_out, uint32_t *n_out, CnErr *err);

/* ------------------------------------------------------------ query */

/* A Chronon Query bound to a source schema: wheres (ANDed), then selects in order,
 * then "ts" from the time column. Independent of src/conf: plain strings in.
 * OWNED: free with cn_expr_query_free; src must outlive it. */
typedef struct CnExprQuery CnExprQuery;

typedef struct CnExprQuerySpec {
    const char *const *select_names; /* output column names, in order */
    const char *const *select_exprs; /* their expressions */
    uint32_t n_selects;              /* 0: every source column passes through */
    const char *const *wheres;       /* boolean expressions, ANDed */
    uint32_t n_wheres;
    const char *time_column;         /* NULL: no "ts" output; else epoch millis (integral
                                        or timestamp), output as int64 column "ts" */
} CnExprQuerySpec;

/* Errors name the field: `selects["price_x2"]: "purchase_price *": syntax error ...`,
 * `wheres[1]: ...`, `timeColumn: ...`; CN_EEXISTS for a duplicate output name. */
int cn_expr_query_bind(const CnSchema *src, const CnExprQuerySpec *spec, CnExprQuery **out,
                       CnErr *err);
void cn_expr_query_free(CnExprQuery *q);
/* Output schema: the selects (or source columns), then "ts" when a time column is set.
 * BORROWED: lives as long as q. */
const CnSchema *cn_expr_query_schema(const CnExprQuery *q);
/* Marks in used[0..src->n_fields) the source columns the query reads. */
void cn_expr_query_mark_columns(const CnExprQuery *q, bool *used);
/* Filters in (in->sel honoured when set) by the wheres and appends the surviving rows'
 * selects to out (a batch of cn_expr_query_schema(q)); calls cn_col_batch_sync_rows.
 * CN_ENOMEM; CN_ETYPE if out has another schema shape. */
int cn_expr_query_run(const CnExprQuery *q, const CnBatch *in, CnBatch *out, CnErr *err);

#endif /* CN_EXPR_H */
