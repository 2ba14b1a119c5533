/* query.c: a Chronon Query (selects, wheres, timeColumn) bound to a source schema and
 * run batch by batch: the wheres narrow a selection vector one after another (each
 * later where only sees rows the earlier ones kept), then every select and the time
 * column are evaluated densely over the surviving rows into the output batch. */
#include "expr/expr_int.h"

#include <stdio.h>
#include <string.h>

#include "base/alloc.h"
#include "base/str.h"

struct CnExprQuery {
    const CnSchema *src;
    CnSchema *out;
    CnExpr **selects;      /* n_out entries: the selects then the time column */
    uint32_t n_out;
    CnExpr **wheres;
    uint32_t n_wheres;
};

void cn_expr_query_free(CnExprQuery *q) {
    if (!q) return;
    for (uint32_t i = 0; i < q->n_out; i++) cn_expr_free(q->selects[i]);
    for (uint32_t i = 0; i < q->n_wheres; i++) cn_expr_free(q->wheres[i]);
    cn_free(q->selects);
    cn_free(q->wheres);
    cn_col_schema_free(q->out);
    cn_free(q);
}

/* `name` with backquotes doubled, so any column name binds as itself. */
static char *quote_ident(const char *name) {
    CnBuf b = CN_BUF_INIT;
    cn_buf_putc(&b, '`');
    for (const char *p = name; *p; p++) {
        if (*p == '`') cn_buf_putc(&b, '`');
        cn_buf_putc(&b, *p);
    }
    cn_buf_putc(&b, '`');
    if (b.oom) {
        cn_buf_fini(&b);
        return NULL;
    }
    return cn_buf_take(&b);
}

static int add_output(CnExprQuery *q, const char *name, CnExpr *e, const char *field, CnErr *err) {
    q->selects[q->n_out++] = e;
    int rc = cn_col_schema_add(q->out, name, cn_expr_type(e), cn_expr_nullable(e), CN_COL_NO_ID, err);
    if (rc == CN_EEXISTS) {
        cn_err_clear(err);
        return cn_err_set(err, CN_EEXISTS, "%s: output column \"%s\" is produced twice", field, name);
    }
    return rc;
}

int cn_expr_query_bind(const CnSchema *src, const CnExprQuerySpec *spec, CnExprQuery **out, CnErr *err) {
    *out = NULL;
    int rc = 0;
    CnExprQuery *q = cn_calloc(1, sizeof *q);
    if (!q) return cn_err_set(err, CN_ENOMEM, "query: out of memory");
    q->src = src;
    uint32_t n_sel = spec->n_selects ? spec->n_selects : src->n_fields;
    q->selects = cn_calloc(n_sel + 1, sizeof *q->selects);
    q->wheres = cn_calloc(spec->n_wheres + 1, sizeof *q->wheres);
    if (!q->selects || !q->wheres || cn_col_schema_new(&q->out) < 0) {
        rc = cn_err_set(err, CN_ENOMEM, "query: out of memory");
        goto done;
    }
    for (uint32_t i = 0; i < spec->n_wheres && rc == 0; i++) {
        CnExpr *w = NULL;
        rc = cn_expr_bind(spec->wheres[i], src, &w, err);
        if (rc == 0) q->wheres[q->n_wheres++] = w;
        if (rc == 0 && cn_expr_type(w)->id != CN_COL_BOOL) {
            char q2[200], tb[64];
            rc = cn_err_set(err, CN_ETYPE, "%s: a where clause must be boolean, got %s", cn_expr__quote(w, q2, sizeof q2),
                            cn_col_type_name(cn_expr_type(w), tb, sizeof tb));
        }
        rc = cn_err_ctx(err, rc, "wheres[%u]", i);
    }
    for (uint32_t i = 0; i < n_sel && rc == 0; i++) {
        const char *name = spec->n_selects ? spec->select_names[i] : src->fields[i].name;
        /* select-all with a time column: the time column is the output's "ts" */
        if (!spec->n_selects && spec->time_column && strcmp(name, "ts") == 0) continue;
        char field[256];
        snprintf(field, sizeof field, "selects[\"%s\"]", name);
        char *text = spec->n_selects ? NULL : quote_ident(name);
        if (!spec->n_selects && !text) {
            rc = cn_err_set(err, CN_ENOMEM, "query: out of memory");
            break;
        }
        CnExpr *e = NULL;
        rc = cn_expr_bind(spec->n_selects ? spec->select_exprs[i] : text, src, &e, err);
        cn_free(text);
        rc = cn_err_ctx(err, rc, "%s", field);
        if (rc == 0) rc = add_output(q, name, e, field, err);
    }
    if (rc == 0 && spec->time_column) {
        CnExpr *e = NULL;
        rc = cn_expr_bind(spec->time_column, src, &e, err);
        if (rc == 0) rc = cn_expr__root_to_millis(e, err);
        if (rc < 0) cn_expr_free(e);
        rc = cn_err_ctx(err, rc, "timeColumn");
        if (rc == 0) rc = add_output(q, "ts", e, "timeColumn", err);
    }
done:
    if (rc < 0) {
        cn_expr_query_free(q);
        return rc;
    }
    *out = q;
    return 0;
}

const CnSchema *cn_expr_query_schema(const CnExprQuery *q) { return q->out; }

void cn_expr_query_mark_columns(const CnExprQuery *q, bool *used) {
    for (uint32_t i = 0; i < q->n_out; i++) cn_expr_mark_columns(q->selects[i], used);
    for (uint32_t i = 0; i < q->n_wheres; i++) cn_expr_mark_columns(q->wheres[i], used);
}

int cn_expr_query_run(const CnExprQuery *q, const CnBatch *in, CnBatch *out, CnErr *err) {
    if (out->n_cols != q->out->n_fields)
        return cn_err_set(err, CN_ETYPE, "query: output batch has %u columns, the query produces %u", out->n_cols,
                          q->out->n_fields);
    for (uint32_t i = 0; i < out->n_cols; i++)
        if (!cn_col_type_equal(out->cols[i].type, q->out->fields[i].type))
            return cn_err_set(err, CN_ETYPE, "query: output column %u (\"%s\") has another type than the query's",
                              i, q->out->fields[i].name);
    int rc = 0;
    const uint32_t *sel = in->sel;
    uint32_t n = in->sel ? in->n_sel : in->n_rows;
    uint32_t *buf = NULL;
    if (q->n_wheres) {
        buf = cn_malloc((size_t)(n ? n : 1) * sizeof *buf);
        if (!buf) return cn_err_set(err, CN_ENOMEM, "query: out of memory");
    }
    for (uint32_t i = 0; i < q->n_wheres && rc == 0; i++) {
        uint32_t k = 0;
        rc = cn_expr_filter(q->wheres[i], in, sel, n, buf, &k, err);
        rc = cn_err_ctx(err, rc, "wheres[%u]", i);
        sel = buf;
        n = k;
    }
    for (uint32_t i = 0; i < q->n_out && rc == 0; i++) {
        /* a column as it is, every row, without nulls (whose slots the evaluator zeroes):
         * copied in bulk */
        const Node *nd = q->selects[i]->root;
        const CnVec *src = nd->kind == N_COL && nd->col >= 0 && (uint32_t)nd->col < in->n_cols ? &in->cols[nd->col] : NULL;
        if (!sel && src && !src->n_null && !src->n_child && src->n == n && cn_col_type_equal(src->type, out->cols[i].type)) {
            if (cn_col_vec_append_range(&out->cols[i], src, 0, n) < 0)
                rc = cn_err_set(err, CN_ENOMEM, "query: out of memory (%u rows)", n);
            continue;
        }
        rc = cn_expr_eval(q->selects[i], in, sel, n, &out->cols[i], err);
        rc = cn_err_ctx(err, rc, "selects[\"%s\"]", q->out->fields[i].name);
    }
    if (rc == 0) rc = cn_col_batch_sync_rows(out, err);
    cn_free(buf);
    return rc;
}
