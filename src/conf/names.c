/* names.c: every name Chronon derives from a config (spec/config.md section 8, Chronon's
 * api Extensions.scala): tables, datasets, aggregation columns, join/external/derived
 * columns, and the type rule of each output column (compute.md section 4). */
#include "conf/conf_int.h"

#include <ctype.h>
#include <string.h>

#include "base/str.h"

static const char *const k_op_names[CN_CONF_N_OPS] = {
    "MIN", "MAX", "FIRST", "LAST", "UNIQUE_COUNT", "APPROX_UNIQUE_COUNT", "COUNT", "SUM",
    "AVERAGE", "VARIANCE", "SKEW", "KURTOSIS", "APPROX_PERCENTILE", "LAST_K", "FIRST_K", "TOP_K",
    "BOTTOM_K", "HISTOGRAM", "APPROX_HISTOGRAM_K", "BOUNDED_UNIQUE_COUNT"};

const char *cn_conf_op_name(CnOperation op) {
    return ((int)op >= 0 && op < CN_CONF_N_OPS) ? k_op_names[op] : NULL;
}

const char *cn_conf_kind_name(CnConfKind k) {
    switch (k) {
    case CN_CONF_GROUP_BY: return "group_by";
    case CN_CONF_JOIN: return "join";
    case CN_CONF_STAGING_QUERY: return "staging_query";
    case CN_CONF_KIND_UNKNOWN: break;
    }
    return "unknown";
}

const char *cn_conf_kind_folder(CnConfKind k) {
    switch (k) {
    case CN_CONF_GROUP_BY: return "group_bys";
    case CN_CONF_JOIN: return "joins";
    case CN_CONF_STAGING_QUERY: return "staging_queries";
    case CN_CONF_KIND_UNKNOWN: break;
    }
    return "unknown";
}

const char *cn_conf_accuracy_name(CnAccuracy a) {
    return a == CN_CONF_TEMPORAL ? "TEMPORAL" : a == CN_CONF_SNAPSHOT ? "SNAPSHOT" : "unset";
}

const char *cn_conf_source_kind_name(CnSourceKind k) {
    return k == CN_CONF_SRC_EVENTS ? "events" : k == CN_CONF_SRC_ENTITIES ? "entities" : "join";
}

const char *cn_conf_col_role_name(CnColRole r) {
    static const char *const names[] = {"key", "value", "select", "derived",
                                        "left", "part", "external", "partition"};
    return (size_t)r < CN_ARRAY_LEN(names) ? names[r] : "unknown";
}

const char *cn_conf_map_get(const CnStrMap *m, const char *key) {
    for (size_t i = 0; i < m->n; i++)
        if (!strcmp(m->keys[i], key)) return m->vals[i];
    return NULL;
}

bool cn_conf_list_has(const CnStrList *l, const char *s) {
    for (size_t i = 0; i < l->n; i++)
        if (!strcmp(l->items[i], s)) return true;
    return false;
}

bool cn_conf_is_identifier(const char *s) {
    if (!s || !(isalpha((unsigned char)*s) || *s == '_')) return false;
    for (s++; *s; s++)
        if (!(isalnum((unsigned char)*s) || *s == '_')) return false;
    return true;
}

char *cn_conf_sanitize(CnArena *a, const char *name) {
    char *s = cn_arena_strdup(a, name ? name : "");
    if (s) cn_str_sanitize(s);
    return s;
}

char *cn_conf_table_with_suffix(CnArena *a, const CnMetaData *md, const char *suffix, CnErr *err) {
    if (!md->name || !*md->name) {
        cn_err_set(err, CN_ECONFIG, "metaData.name is not set (needed for the output table)");
        return NULL;
    }
    if (!md->output_namespace || !*md->output_namespace) {
        cn_err_set(err, CN_ECONFIG,
                   "%s: metaData.outputNamespace is not set (compile fills it from teams.json)",
                   md->name);
        return NULL;
    }
    char *clean = cn_conf_sanitize(a, md->name);
    char *t = clean ? cn_arena_printf(a, "%s.%s%s", md->output_namespace, clean, suffix) : NULL;
    if (!t) cn_err_set(err, CN_ENOMEM, "out of memory");
    return t;
}

char *cn_conf_output_table(CnArena *a, const CnMetaData *md, CnErr *err) {
    return cn_conf_table_with_suffix(a, md, "", err);
}

char *cn_conf_join_part_prefix(CnArena *a, const CnJoinPart *jp) {
    char *clean = cn_conf_sanitize(a, jp->group_by->meta.name);
    if (!clean) return NULL;
    return jp->prefix ? cn_arena_printf(a, "%s_%s", jp->prefix, clean) : clean;
}

const char **cn_conf_join_part_left_keys(CnArena *a, const CnJoinPart *jp) {
    const CnStrList *keys = &jp->group_by->key_columns;
    const char **left = cn_arena_alloc(a, (keys->n + 1) * sizeof *left);
    if (!left) return NULL;
    for (size_t k = 0; k < keys->n; k++) {
        left[k] = keys->items[k];
        for (size_t m = 0; m < jp->key_mapping.n; m++)
            if (!strcmp(jp->key_mapping.vals[m], keys->items[k])) left[k] = jp->key_mapping.keys[m];
    }
    left[keys->n] = NULL;
    return left;
}

char *cn_conf_join_part_table(CnArena *a, const CnJoin *j, const CnJoinPart *jp, CnErr *err) {
    char *out = cn_conf_output_table(a, &j->meta, err);
    char *prefix = out ? cn_conf_join_part_prefix(a, jp) : NULL;
    char *t = prefix ? cn_arena_printf(a, "%s_%s", out, prefix) : NULL;
    if (out && !t) cn_err_set(err, CN_ENOMEM, "out of memory");
    return t;
}

char *cn_conf_external_prefix(CnArena *a, const CnExternalPart *ep) {
    char *clean = cn_conf_sanitize(a, ep->source.meta.name);
    if (!clean) return NULL;
    return ep->prefix ? cn_arena_printf(a, "ext_%s_%s", ep->prefix, clean)
                      : cn_arena_printf(a, "ext_%s", clean);
}

static char *dataset(CnArena *a, const CnMetaData *md, const char *suffix) {
    char *clean = cn_conf_sanitize(a, md->name);
    if (!clean) return NULL;
    for (char *p = clean; *p; p++) *p = (char)toupper((unsigned char)*p);
    return cn_arena_printf(a, "%s_%s", clean, suffix);
}

char *cn_conf_batch_dataset(CnArena *a, const CnMetaData *md) {
    return dataset(a, md, "BATCH");
}

char *cn_conf_streaming_dataset(CnArena *a, const CnMetaData *md) {
    return dataset(a, md, "STREAMING");
}

static const char *source_topic(const CnSource *s) {
    if (s->kind == CN_CONF_SRC_JOIN) return s->join ? source_topic(&s->join->left) : NULL;
    return s->topic;
}

CnAccuracy cn_conf_groupby_accuracy(const CnGroupBy *gb) {
    if (gb->accuracy != CN_CONF_ACCURACY_UNSET) return gb->accuracy;
    for (size_t i = 0; i < gb->n_sources; i++)
        if (source_topic(&gb->sources[i])) return CN_CONF_TEMPORAL;
    return CN_CONF_SNAPSHOT;
}

CnDataModel cn_conf_source_model(const CnSource *s) {
    if (s->kind == CN_CONF_SRC_JOIN) return cn_conf_source_model(&s->join->left);
    return s->kind == CN_CONF_SRC_ENTITIES ? CN_CONF_ENTITIES : CN_CONF_EVENTS;
}

const char *cn_conf_source_table(CnArena *a, const CnSource *s) {
    if (s->kind != CN_CONF_SRC_JOIN) return s->table;
    CnErr ignored = CN_ERR_INIT;
    return cn_conf_output_table(a, &s->join->meta, &ignored);
}

/* ---- aggregation parts ---- */

static bool window_unbounded(const CnWindow *w) {
    return !w || w->length <= 0 || w->length == INT32_MAX;
}

static const char *op_token(CnArena *a, const CnAggregation *ag, CnErr *err) {
    const char *stem = NULL;
    switch (ag->op) {
    case CN_CONF_OP_LAST_K: stem = "last"; break;
    case CN_CONF_OP_FIRST_K: stem = "first"; break;
    case CN_CONF_OP_TOP_K: stem = "top"; break;
    case CN_CONF_OP_BOTTOM_K: stem = "bottom"; break;
    default: break;
    }
    char *tok;
    if (stem) {
        if (ag->k < 0) {
            cn_err_set(err, CN_ECONFIG, "%s of %s needs argMap \"k\" (e.g. {\"k\": \"10\"})",
                       cn_conf_op_name(ag->op), ag->input_column);
            return NULL;
        }
        tok = cn_arena_printf(a, "%s%d", stem, (int)ag->k);
    } else {
        tok = cn_arena_strdup(a, cn_conf_op_name(ag->op));
        if (tok) cn_str_lower(tok);
    }
    if (!tok) cn_err_set(err, CN_ENOMEM, "out of memory");
    return tok;
}

int cn_conf_groupby_agg_parts(CnArena *a, const CnGroupBy *gb, CnAggPart **parts, size_t *n,
                              CnErr *err) {
    size_t total = 0;
    *parts = NULL;
    *n = 0;
    for (size_t i = 0; i < gb->n_aggs; i++) {
        const CnAggregation *ag = &gb->aggs[i];
        total += (ag->buckets.n ? ag->buckets.n : 1) * (ag->has_windows ? ag->n_windows : 1);
    }
    CnAggPart *out = total ? cn_arena_calloc(a, total * sizeof *out) : NULL;
    if (total && !out) return cn_err_set(err, CN_ENOMEM, "out of memory");
    size_t k = 0;
    for (size_t i = 0; i < gb->n_aggs; i++) {
        const CnAggregation *ag = &gb->aggs[i];
        const char *op = op_token(a, ag, err);
        if (!op) return err->code;
        size_t nb = ag->buckets.n ? ag->buckets.n : 1;
        size_t nw = ag->has_windows ? ag->n_windows : 1;
        for (size_t b = 0; b < nb; b++) {
            const char *bucket = ag->buckets.n ? ag->buckets.items[b] : NULL;
            for (size_t w = 0; w < nw; w++) {
                const CnWindow *win = ag->has_windows ? &ag->windows[w] : NULL;
                char wsuf[32] = "";
                if (!window_unbounded(win))
                    snprintf(wsuf, sizeof wsuf, "_%d%s", (int)win->length,
                             win->unit == CN_CONF_HOURS ? "h" : "d");
                CnAggPart *p = &out[k++];
                p->agg = ag;
                p->i_agg = i;
                p->window = win;
                p->bucket = bucket;
                p->name = cn_arena_printf(a, "%s_%s%s%s%s", ag->input_column, op, wsuf,
                                          bucket ? "_by_" : "", bucket ? bucket : "");
                if (!p->name) return cn_err_set(err, CN_ENOMEM, "out of memory");
            }
        }
    }
    *parts = out;
    *n = k;
    return 0;
}

/* ---- output columns ---- */

static CnTypeRuleKind op_rule(CnOperation op) {
    switch (op) {
    case CN_CONF_OP_MIN:
    case CN_CONF_OP_MAX:
    case CN_CONF_OP_FIRST:
    case CN_CONF_OP_LAST: return CN_CONF_TYPE_INPUT;
    case CN_CONF_OP_UNIQUE_COUNT:
    case CN_CONF_OP_APPROX_UNIQUE_COUNT:
    case CN_CONF_OP_COUNT:
    case CN_CONF_OP_BOUNDED_UNIQUE_COUNT: return CN_CONF_TYPE_LONG;
    case CN_CONF_OP_SUM: return CN_CONF_TYPE_SUM;
    case CN_CONF_OP_AVERAGE:
    case CN_CONF_OP_VARIANCE:
    case CN_CONF_OP_SKEW:
    case CN_CONF_OP_KURTOSIS: return CN_CONF_TYPE_DOUBLE;
    case CN_CONF_OP_APPROX_PERCENTILE: return CN_CONF_TYPE_LIST_FLOAT;
    case CN_CONF_OP_LAST_K:
    case CN_CONF_OP_FIRST_K:
    case CN_CONF_OP_TOP_K:
    case CN_CONF_OP_BOTTOM_K: return CN_CONF_TYPE_LIST_INPUT;
    case CN_CONF_OP_HISTOGRAM: return CN_CONF_TYPE_MAP_STRING_INT;
    case CN_CONF_OP_APPROX_HISTOGRAM_K: return CN_CONF_TYPE_MAP_STRING_LONG;
    case CN_CONF_N_OPS: break;
    }
    return CN_CONF_TYPE_INPUT;
}

/* Growable column list in an arena (doubling; old blocks stay in the arena). */
typedef struct ColVec {
    CnArena *a;
    CnColumn *cols;
    size_t n, cap;
} ColVec;

static CnColumn *col_push(ColVec *v, const char *name, CnColRole role) {
    if (v->n == v->cap) {
        size_t cap = v->cap ? v->cap * 2 : 16;
        CnColumn *c = cn_arena_alloc(v->a, cap * sizeof *c);
        if (!c) return NULL;
        if (v->n) memcpy(c, v->cols, v->n * sizeof *c);
        v->cols = c;
        v->cap = cap;
    }
    CnColumn *c = &v->cols[v->n++];
    memset(c, 0, sizeof *c);
    c->name = name;
    c->role = role;
    c->i_part = -1;
    return c;
}

static bool vec_has(const ColVec *v, const char *name) {
    for (size_t i = 0; i < v->n; i++)
        if (!strcmp(v->cols[i].name, name)) return true;
    return false;
}

/* Pre-derivation value columns of a GroupBy. */
static int groupby_base_values(CnArena *a, const CnGroupBy *gb, ColVec *v, bool *unknown,
                               CnErr *err) {
    *unknown = false;
    if (gb->has_aggregations) {
        CnAggPart *parts;
        size_t n;
        int rc = cn_conf_groupby_agg_parts(a, gb, &parts, &n, err);
        if (rc) return rc;
        for (size_t i = 0; i < n; i++) {
            CnColumn *c = col_push(v, parts[i].name, CN_CONF_COL_VALUE);
            if (!c) return cn_err_set(err, CN_ENOMEM, "out of memory");
            c->type.kind = op_rule(parts[i].agg->op);
            c->type.input = parts[i].agg->input_column;
            c->type.bucketed = parts[i].bucket != NULL;
            c->type.element_wise = parts[i].agg->element_wise == 1;
        }
        return 0;
    }
    /* No aggregations: the first source's selected columns minus the keys. */
    const CnQuery *q = &gb->sources[0].query;
    if (!q->has_selects) {
        *unknown = true;
        return 0;
    }
    for (size_t i = 0; i < q->selects.n; i++) {
        const char *name = q->selects.keys[i];
        if (cn_conf_list_has(&gb->key_columns, name)) continue;
        CnColumn *c = col_push(v, name, CN_CONF_COL_SELECT);
        if (!c) return cn_err_set(err, CN_ENOMEM, "out of memory");
        c->type.kind = CN_CONF_TYPE_INPUT;
        c->type.input = name;
    }
    return 0;
}

static const CnColumn *find_col(const ColVec *v, const char *name) {
    for (size_t i = 0; i < v->n; i++)
        if (!strcmp(v->cols[i].name, name)) return &v->cols[i];
    return NULL;
}

static bool is_expression(const CnDerivation *d, size_t n, const char *col) {
    for (size_t i = 0; i < n; i++)
        if (!strcmp(d[i].expression, col)) return true;
    return false;
}

/* Chronon's derivation projection over base columns `base`: derivations in order, `*`
 * expanded in place to the base columns no derivation uses verbatim as its expression.
 * Names in `skip` (keys, left columns: they keep their own slot) are left out. */
static int expand_derivations(const CnDerivation *d, size_t n, const ColVec *base,
                              bool (*skip)(const void *ctx, const char *name), const void *ctx,
                              ColVec *out, CnErr *err) {
    for (size_t i = 0; i < n; i++) {
        if (!strcmp(d[i].name, "*")) {
            for (size_t j = 0; j < base->n; j++) {
                const CnColumn *b = &base->cols[j];
                if (is_expression(d, n, b->name) || (skip && skip(ctx, b->name))) continue;
                if (vec_has(out, b->name)) continue;
                CnColumn *c = col_push(out, b->name, b->role);
                if (!c) return cn_err_set(err, CN_ENOMEM, "out of memory");
                *c = *b;
            }
            continue;
        }
        if (skip && skip(ctx, d[i].name)) continue;
        CnColumn *c = col_push(out, d[i].name, CN_CONF_COL_DERIVED);
        if (!c) return cn_err_set(err, CN_ENOMEM, "out of memory");
        /* A rename keeps the renamed column's rule; anything else is an expression. */
        const CnColumn *src = cn_conf_is_identifier(d[i].expression)
                                  ? find_col(base, d[i].expression) : NULL;
        if (src) {
            c->type = src->type;
            c->source_column = src->source_column;
            c->i_part = src->i_part;
        } else {
            c->type.kind = CN_CONF_TYPE_EXPR;
            c->type.input = d[i].expression;
        }
    }
    return 0;
}

static bool skip_key(const void *ctx, const char *name) {
    return cn_conf_list_has((const CnStrList *)ctx, name);
}

int cn_conf_groupby_value_columns(CnArena *a, const CnGroupBy *gb, CnColumnList *out, CnErr *err) {
    memset(out, 0, sizeof *out);
    ColVec base = {.a = a};
    int rc = groupby_base_values(a, gb, &base, &out->values_unknown, err);
    if (rc) return rc;
    if (!gb->n_derivations) {
        out->cols = base.cols;
        out->n = base.n;
        return 0;
    }
    ColVec v = {.a = a};
    rc = expand_derivations(gb->derivations, gb->n_derivations, &base, skip_key, &gb->key_columns,
                            &v, err);
    out->cols = v.cols;
    out->n = v.n;
    return rc;
}

/* Outputs are always partitioned by ds; a query's partitionColumn names the partition
 * column of the table it reads. */
#define OUTPUT_PARTITION "ds"

int cn_conf_groupby_output_columns(CnArena *a, const CnGroupBy *gb, CnColumnList *out, CnErr *err) {
    memset(out, 0, sizeof *out);
    CnColumnList vals;
    int rc = cn_conf_groupby_value_columns(a, gb, &vals, err);
    if (rc) return rc;
    ColVec v = {.a = a};
    for (size_t i = 0; i < gb->key_columns.n; i++) {
        const char *key = gb->key_columns.items[i];
        CnColumn *c = col_push(&v, key, CN_CONF_COL_KEY);
        if (!c) return cn_err_set(err, CN_ENOMEM, "out of memory");
        c->type.kind = CN_CONF_TYPE_INPUT;
        c->type.input = key;
        /* A derivation named like a key replaces the key's value in its own slot. */
        for (size_t d = 0; d < gb->n_derivations; d++)
            if (!strcmp(gb->derivations[d].name, key) && strcmp(gb->derivations[d].expression, key)) {
                c->role = CN_CONF_COL_DERIVED;
                c->type.kind = CN_CONF_TYPE_EXPR;
                c->type.input = gb->derivations[d].expression;
            }
    }
    for (size_t i = 0; i < vals.n; i++) {
        CnColumn *c = col_push(&v, vals.cols[i].name, vals.cols[i].role);
        if (!c) return cn_err_set(err, CN_ENOMEM, "out of memory");
        *c = vals.cols[i];
    }
    CnColumn *ds = col_push(&v, OUTPUT_PARTITION, CN_CONF_COL_PARTITION);
    if (!ds) return cn_err_set(err, CN_ENOMEM, "out of memory");
    ds->type.kind = CN_CONF_TYPE_STRING;
    out->cols = v.cols;
    out->n = v.n;
    out->values_unknown = vals.values_unknown;
    return 0;
}

typedef struct LeftCtx {
    const ColVec *left;
} LeftCtx;

static bool skip_left(const void *ctx, const char *name) {
    return vec_has(((const LeftCtx *)ctx)->left, name);
}

int cn_conf__join_columns(CnArena *a, const CnJoin *j, bool derive, CnColumnList *out, CnErr *err) {
    memset(out, 0, sizeof *out);
    const CnQuery *lq = &j->left.query;
    const char *pcol = lq->partition_column ? lq->partition_column : OUTPUT_PARTITION;
    ColVec left = {.a = a}, base = {.a = a};
    if (lq->has_selects) {
        for (size_t i = 0; i < lq->selects.n; i++) {
            const char *name = lq->selects.keys[i];
            if (!strcmp(name, pcol) || !strcmp(name, OUTPUT_PARTITION)) continue;
            CnColumn *c = col_push(&left, name, CN_CONF_COL_LEFT);
            if (!c) return cn_err_set(err, CN_ENOMEM, "out of memory");
            c->type.kind = !strcmp(name, "ts") ? CN_CONF_TYPE_LONG : CN_CONF_TYPE_INPUT;
            c->type.input = name;
        }
    } else {
        out->left_all_columns = true;
    }
    /* An events left always carries ts (from timeColumn) for point-in-time parts. */
    if (cn_conf_source_model(&j->left) == CN_CONF_EVENTS && !vec_has(&left, "ts")) {
        CnColumn *c = col_push(&left, "ts", CN_CONF_COL_LEFT);
        if (!c) return cn_err_set(err, CN_ENOMEM, "out of memory");
        c->type.kind = CN_CONF_TYPE_LONG;
        c->type.input = "ts";
    }
    for (size_t p = 0; p < j->n_parts; p++) {
        const CnJoinPart *jp = &j->parts[p];
        CnColumnList vals;
        int rc = cn_conf_groupby_value_columns(a, jp->group_by, &vals, err);
        if (rc) return cn_err_ctx(err, rc, "joinParts[%zu]", p);
        if (vals.values_unknown) out->values_unknown = true;
        const char *prefix = cn_conf_join_part_prefix(a, jp);
        if (!prefix) return cn_err_set(err, CN_ENOMEM, "out of memory");
        for (size_t i = 0; i < vals.n; i++) {
            const char *name = cn_arena_printf(a, "%s_%s", prefix, vals.cols[i].name);
            CnColumn *c = name ? col_push(&base, name, CN_CONF_COL_PART) : NULL;
            if (!c) return cn_err_set(err, CN_ENOMEM, "out of memory");
            c->type = vals.cols[i].type;
            c->i_part = (int)p;
            c->source_column = vals.cols[i].name;
        }
    }
    for (size_t e = 0; e < j->n_externals; e++) {
        const CnExternalPart *ep = &j->externals[e];
        const char *prefix = cn_conf_external_prefix(a, ep);
        if (!prefix) return cn_err_set(err, CN_ENOMEM, "out of memory");
        const CnDataType *vs = ep->source.value_schema;
        for (size_t i = 0; vs && i < vs->n_params; i++) {
            const char *name = cn_arena_printf(a, "%s_%s", prefix, vs->params[i].name);
            CnColumn *c = name ? col_push(&base, name, CN_CONF_COL_EXTERNAL) : NULL;
            if (!c) return cn_err_set(err, CN_ENOMEM, "out of memory");
            c->type.kind = CN_CONF_TYPE_DECLARED;
            c->type.declared = vs->params[i].type;
            c->i_part = (int)e;
            c->source_column = vs->params[i].name;
        }
    }
    ColVec v = {.a = a};
    for (size_t i = 0; i < left.n; i++) {
        CnColumn *c = col_push(&v, left.cols[i].name, left.cols[i].role);
        if (!c) return cn_err_set(err, CN_ENOMEM, "out of memory");
        *c = left.cols[i];
    }
    if (derive && j->n_derivations) {
        LeftCtx ctx = {&left};
        int rc = expand_derivations(j->derivations, j->n_derivations, &base, skip_left, &ctx, &v, err);
        if (rc) return rc;
    } else {
        for (size_t i = 0; i < base.n; i++) {
            CnColumn *c = col_push(&v, base.cols[i].name, base.cols[i].role);
            if (!c) return cn_err_set(err, CN_ENOMEM, "out of memory");
            *c = base.cols[i];
        }
    }
    CnColumn *ds = col_push(&v, OUTPUT_PARTITION, CN_CONF_COL_PARTITION);
    if (!ds) return cn_err_set(err, CN_ENOMEM, "out of memory");
    ds->type.kind = CN_CONF_TYPE_STRING;
    out->cols = v.cols;
    out->n = v.n;
    return 0;
}

/* ---- rendering ---- */

static const char *k_kind_names[CN_CONF_N_DATA_KINDS] = {
    "boolean", "byte", "short", "int", "long", "float", "double", "string",
    "binary", "date", "timestamp", "map", "list", "struct"};

char *cn_conf_data_type_str(CnArena *a, const CnDataType *t) {
    if (!t) return cn_arena_strdup(a, "unknown");
    const char *kn = (size_t)t->kind < CN_CONF_N_DATA_KINDS ? k_kind_names[t->kind] : "unknown";
    if (t->kind == CN_CONF_DK_LIST && t->n_params == 1)
        return cn_arena_printf(a, "list<%s>", cn_conf_data_type_str(a, t->params[0].type));
    if (t->kind == CN_CONF_DK_MAP && t->n_params == 2)
        return cn_arena_printf(a, "map<%s,%s>", cn_conf_data_type_str(a, t->params[0].type),
                               cn_conf_data_type_str(a, t->params[1].type));
    if (t->kind == CN_CONF_DK_STRUCT) {
        char *s = cn_arena_printf(a, "struct%s%s<", t->name ? " " : "", t->name ? t->name : "");
        for (size_t i = 0; s && i < t->n_params; i++)
            s = cn_arena_printf(a, "%s%s%s:%s", s, i ? "," : "", t->params[i].name,
                                cn_conf_data_type_str(a, t->params[i].type));
        return s ? cn_arena_printf(a, "%s>", s) : NULL;
    }
    return cn_arena_strdup(a, kn);
}

char *cn_conf_type_rule_str(CnArena *a, const CnTypeRule *r) {
    const char *in = r->input ? r->input : "?";
    char *s = NULL;
    switch (r->kind) {
    case CN_CONF_TYPE_INPUT: s = cn_arena_printf(a, "type(%s)", in); break;
    case CN_CONF_TYPE_LONG: s = cn_arena_strdup(a, "long"); break;
    case CN_CONF_TYPE_DOUBLE: s = cn_arena_strdup(a, "double"); break;
    case CN_CONF_TYPE_SUM: s = cn_arena_printf(a, "sum_type(%s)", in); break;
    case CN_CONF_TYPE_LIST_INPUT: s = cn_arena_printf(a, "list<type(%s)>", in); break;
    case CN_CONF_TYPE_LIST_FLOAT: s = cn_arena_strdup(a, "list<float>"); break;
    case CN_CONF_TYPE_MAP_STRING_INT: s = cn_arena_strdup(a, "map<string,int>"); break;
    case CN_CONF_TYPE_MAP_STRING_LONG: s = cn_arena_strdup(a, "map<string,long>"); break;
    case CN_CONF_TYPE_STRING: s = cn_arena_strdup(a, "string"); break;
    case CN_CONF_TYPE_EXPR: s = cn_arena_printf(a, "expr(%s)", in); break;
    case CN_CONF_TYPE_DECLARED: s = cn_conf_data_type_str(a, r->declared); break;
    }
    if (s && r->element_wise) s = cn_arena_printf(a, "list<%s>", s);
    if (s && r->bucketed) s = cn_arena_printf(a, "map<string,%s>", s);
    return s;
}

int cn_conf_join_output_columns(CnArena *a, const CnJoin *j, CnColumnList *out, CnErr *err) {
    return cn_conf__join_columns(a, j, true, out, err);
}

int cn_conf__groupby_base_values(CnArena *a, const CnGroupBy *gb, CnColumnList *out, CnErr *err) {
    memset(out, 0, sizeof *out);
    ColVec v = {.a = a};
    int rc = groupby_base_values(a, gb, &v, &out->values_unknown, err);
    out->cols = v.cols;
    out->n = v.n;
    return rc;
}
