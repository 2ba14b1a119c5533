/* spec.c: resolving an aggregation against its input type (argMap, type rules of
 * compute.md section 4, N6, containers and buckets of section 3), and the window
 * arithmetic of section 2. */
#include "agg/agg_int.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>

#include <jansson.h>

static const char *const OP_NAMES[CN_AGG_N_OPS] = {
    "MIN", "MAX", "FIRST", "LAST", "UNIQUE_COUNT", "APPROX_UNIQUE_COUNT", "COUNT", "SUM",
    "AVERAGE", "VARIANCE", "SKEW", "KURTOSIS", "APPROX_PERCENTILE", "LAST_K", "FIRST_K",
    "TOP_K", "BOTTOM_K", "HISTOGRAM", "APPROX_HISTOGRAM_K", "BOUNDED_UNIQUE_COUNT",
};

const char *cn_agg_op_name(CnAggOp op) {
    return ((unsigned)op < CN_AGG_N_OPS) ? OP_NAMES[op] : "?";
}

bool cn_agg_op_deletable(CnAggOp op) {
    return op == CN_AGG_COUNT || op == CN_AGG_SUM || op == CN_AGG_AVERAGE ||
           op == CN_AGG_HISTOGRAM;
}

static bool op_timed(CnAggOp op) {
    return op == CN_AGG_FIRST || op == CN_AGG_LAST || op == CN_AGG_FIRST_K ||
           op == CN_AGG_LAST_K;
}

CnAggOp cn_agg_spec_op(const CnAggSpec *s) { return s->op; }
int32_t cn_agg_spec_k(const CnAggSpec *s) { return s->k; }
const CnType *cn_agg_spec_output_type(const CnAggSpec *s) { return s->out_type; }
bool cn_agg_spec_deletable(const CnAggSpec *s) { return s->deletable; }
bool cn_agg_spec_needs_ts(const CnAggSpec *s) { return s->needs_ts; }

/* ------------------------------------------------------------- argMap */

static const char *arg_get(const CnAggDef *d, const char *key) {
    for (uint32_t i = 0; i < d->n_args; i++)
        if (d->arg_keys[i] && strcmp(d->arg_keys[i], key) == 0) return d->arg_vals[i];
    return NULL;
}

/* Java's Integer.parseInt: optional sign, decimal digits, no spaces. */
static bool parse_int(const char *s, int32_t *out) {
    if (!s || !*s) return false;
    const char *p = s;
    if (*p == '+' || *p == '-') p++;
    if (!*p) return false;
    for (const char *q = p; *q; q++)
        if (*q < '0' || *q > '9') return false;
    errno = 0;
    long v = strtol(s, NULL, 10);
    if (errno || v < INT32_MIN || v > INT32_MAX) return false;
    *out = (int32_t)v;
    return true;
}

static int parse_percentiles(CnArena *a, const char *what, const char *text, CnAggSpec *s,
                             CnErr *err) {
    json_error_t jerr;
    json_t *j = json_loads(text, JSON_DECODE_ANY, &jerr);
    int rc = 0;
    if (!j || !json_is_array(j) || json_array_size(j) == 0 || json_array_size(j) > 10000) {
        rc = cn_err_set(err, CN_ECONFIG,
                        "%s: argMap \"percentiles\" is \"%s\", expected a JSON list of "
                        "numbers in [0,1] such as \"[0.5, 0.99]\"", what, text);
        goto done;
    }
    size_t n = json_array_size(j);
    double *ps = cn_arena_alloc(a, n * sizeof(double));
    if (!ps) {
        rc = cn_err_set(err, CN_ENOMEM, "%s: out of memory", what);
        goto done;
    }
    for (size_t i = 0; i < n; i++) {
        json_t *e = json_array_get(j, i);
        double p = json_is_number(e) ? json_number_value(e) : -1.0;
        if (!json_is_number(e) || !(p >= 0.0 && p <= 1.0)) {
            rc = cn_err_set(err, CN_ECONFIG,
                            "%s: argMap \"percentiles\" is \"%s\": entry %zu is not a number "
                            "in [0,1]", what, text, i);
            goto done;
        }
        ps[i] = p;
    }
    s->percentiles = ps;
    s->n_percentiles = (uint32_t)n;
done:
    json_decref(j);
    return rc;
}

/* k: required for the _K ops; defaults of section 4 otherwise; range per op. */
static int resolve_k(const CnAggDef *d, const char *what, CnAggSpec *s, CnErr *err) {
    int32_t def = 0, lo = 0, hi = INT32_MAX;
    bool required = false, used = true;
    switch (d->op) {
    case CN_AGG_LAST_K: case CN_AGG_FIRST_K: case CN_AGG_TOP_K: case CN_AGG_BOTTOM_K:
        required = true; lo = 1; hi = 1 << 24; break;
    case CN_AGG_APPROX_UNIQUE_COUNT: def = 8; lo = 4; hi = 21; break;
    case CN_AGG_BOUNDED_UNIQUE_COUNT: def = 8; lo = 1; hi = 1 << 24; break;
    case CN_AGG_APPROX_PERCENTILE: def = 128; lo = 8; hi = 65535; break;
    case CN_AGG_HISTOGRAM: def = 0; lo = 0; hi = INT32_MAX; break;
    case CN_AGG_APPROX_HISTOGRAM_K: def = 8; lo = 1; hi = 1 << 20; break;
    default: used = false; break;
    }
    const char *v = arg_get(d, "k");
    if (!used) {
        s->k = 0;
        return 0;
    }
    if (!v) {
        if (required)
            return cn_err_set(err, CN_ECONFIG, "%s: argMap \"k\" is required (e.g. {\"k\": \"10\"})",
                              what);
        s->k = def;
        return 0;
    }
    int32_t k;
    if (!parse_int(v, &k) || k < lo || k > hi)
        return cn_err_set(err, CN_ECONFIG,
                          "%s: argMap \"k\" is \"%s\", expected an integer in [%d, %d]", what, v,
                          lo, hi);
    s->k = k;
    return 0;
}

/* ------------------------------------------------------------- types */

static bool is_num(CnTypeId t) {
    return t == CN_COL_INT32 || t == CN_COL_INT64 || t == CN_COL_FLOAT32 || t == CN_COL_FLOAT64;
}
static bool is_float(CnTypeId t) { return t == CN_COL_FLOAT32 || t == CN_COL_FLOAT64; }

static bool input_ok(CnAggOp op, CnTypeId t) {
    switch (op) {
    case CN_AGG_COUNT: return true;
    case CN_AGG_SUM: return is_num(t) || t == CN_COL_BOOL;
    case CN_AGG_AVERAGE: case CN_AGG_VARIANCE: case CN_AGG_SKEW: case CN_AGG_KURTOSIS:
    case CN_AGG_APPROX_PERCENTILE:
        return is_num(t);
    case CN_AGG_MIN: case CN_AGG_MAX: case CN_AGG_TOP_K: case CN_AGG_BOTTOM_K:
        return is_num(t) || t == CN_COL_STRING;
    case CN_AGG_UNIQUE_COUNT: case CN_AGG_APPROX_UNIQUE_COUNT: case CN_AGG_BOUNDED_UNIQUE_COUNT:
        return is_num(t) || t == CN_COL_STRING || t == CN_COL_BINARY;
    case CN_AGG_HISTOGRAM: return t == CN_COL_STRING;
    case CN_AGG_APPROX_HISTOGRAM_K: return is_num(t) || t == CN_COL_STRING;
    default: return true; /* timed ops: any payload */
    }
}

static bool has_date(const CnType *t) {
    if (t->id == CN_COL_DATE || t->id == CN_COL_TIMESTAMP) return true;
    for (uint32_t i = 0; i < t->n_children; i++)
        if (has_date(t->children[i].type)) return true;
    return false;
}

static const CnType *prim(CnTypeId id) { return cn_col_type_prim(id); }

/* Resolves the FLAT level over one input type t (a scalar, a list to flatten, or an
 * opaque payload for timed ops). */
static int resolve_flat(CnArena *a, const CnAggDef *d, const char *what, const CnType *t,
                        CnAggSpec *s, CnErr *err) {
    char tb[128];
    CnAggOp op = d->op;
    s->nest = CN_AGG__FLAT;
    s->in_type = t;
    s->sc_type = t;
    if (op_timed(op)) {
        s->flatten = false;
    } else if (t->id == CN_COL_LIST) {
        s->flatten = true;
        s->sc_type = t->children[0].type;
    }
    const CnType *e = s->sc_type;
    s->sc = e->id;
    if (!op_timed(op) && cn_col_type_is_nested(e->id) && op != CN_AGG_COUNT)
        return cn_err_set(err, CN_ECONFIG,
                          "%s: input column \"%s\" has type %s; %s takes %s", what,
                          d->input_column, cn_col_type_name(t, tb, sizeof tb),
                          cn_agg_op_name(op), "scalars, lists of scalars or maps of scalars");
    if (!input_ok(op, e->id))
        return cn_err_set(err, CN_ECONFIG, "%s: %s does not accept input column \"%s\" of type %s",
                          what, cn_agg_op_name(op), d->input_column,
                          cn_col_type_name(t, tb, sizeof tb));
    const CnType *out = NULL;
    CnAggKind kind = 0;
    uint32_t w = 8;
    switch (op) {
    case CN_AGG_COUNT: out = prim(CN_COL_INT64); kind = CN_AGG__K_COUNT; break;
    case CN_AGG_SUM:
        if (is_float(e->id)) {
            out = prim(CN_COL_FLOAT64);
            kind = CN_AGG__K_SUM_F;
        } else {
            out = prim(CN_COL_INT64);
            kind = CN_AGG__K_SUM_I;
        }
        break;
    case CN_AGG_AVERAGE: out = prim(CN_COL_FLOAT64); kind = CN_AGG__K_AVG; w = 16; break;
    case CN_AGG_VARIANCE: out = prim(CN_COL_FLOAT64); kind = CN_AGG__K_VAR; w = 24; break;
    case CN_AGG_SKEW: case CN_AGG_KURTOSIS:
        out = prim(CN_COL_FLOAT64); kind = CN_AGG__K_MOM; w = 40; break;
    case CN_AGG_MIN: case CN_AGG_MAX:
        out = e;
        kind = e->id == CN_COL_STRING ? CN_AGG__K_MM_S
               : is_float(e->id)      ? CN_AGG__K_MM_F
                                      : CN_AGG__K_MM_I;
        break;
    case CN_AGG_FIRST: case CN_AGG_LAST: {
        out = t;
        size_t tw = cn_col_type_width(t->id);
        if (tw > 0) {
            kind = CN_AGG__K_FL_FIX;
            w = 16;
        } else {
            kind = CN_AGG__K_FL_VAR;
        }
        break;
    }
    case CN_AGG_FIRST_K: case CN_AGG_LAST_K:
        out = cn_col_type_list(a, t, true, CN_COL_NO_ID);
        kind = CN_AGG__K_REC;
        s->rec = op == CN_AGG_FIRST_K ? CN_AGG__R_FIRSTK : CN_AGG__R_LASTK;
        break;
    case CN_AGG_TOP_K: case CN_AGG_BOTTOM_K:
        out = cn_col_type_list(a, e, true, CN_COL_NO_ID);
        kind = CN_AGG__K_REC;
        s->rec = op == CN_AGG_TOP_K ? CN_AGG__R_TOPK : CN_AGG__R_BOTK;
        break;
    case CN_AGG_UNIQUE_COUNT: case CN_AGG_BOUNDED_UNIQUE_COUNT:
        out = prim(CN_COL_INT64);
        kind = CN_AGG__K_REC;
        s->rec = CN_AGG__R_SET;
        break;
    case CN_AGG_APPROX_UNIQUE_COUNT: out = prim(CN_COL_INT64); kind = CN_AGG__K_HLL; break;
    case CN_AGG_APPROX_PERCENTILE:
        out = cn_col_type_list(a, prim(CN_COL_FLOAT32), true, CN_COL_NO_ID);
        kind = CN_AGG__K_KLL;
        break;
    case CN_AGG_HISTOGRAM:
        out = cn_col_type_map(a, prim(CN_COL_STRING), prim(CN_COL_INT32), true, CN_COL_NO_ID,
                              CN_COL_NO_ID);
        kind = CN_AGG__K_REC;
        s->rec = CN_AGG__R_HIST;
        break;
    case CN_AGG_APPROX_HISTOGRAM_K: {
        out = cn_col_type_map(a, prim(CN_COL_STRING), prim(CN_COL_INT64), true, CN_COL_NO_ID,
                              CN_COL_NO_ID);
        kind = CN_AGG__K_REC;
        s->rec = CN_AGG__R_MG;
        uint32_t m = 1;
        while (m < (uint32_t)s->k) m <<= 1;
        s->mg_size = m;
        break;
    }
    default:
        return cn_err_set(err, CN_ECONFIG, "%s: unknown operation %d", what, (int)op);
    }
    if (!out) return cn_err_set(err, CN_ENOMEM, "%s: out of memory", what);
    s->out_type = out;
    s->kind = kind;
    s->row_width = w;
    s->is_float_out = is_float(out->id);
    return 0;
}

int cn_agg_spec_new(CnArena *a, const CnAggDef *d, const CnType *t, const CnAggSpec **out,
                    CnErr *err) {
    char tb[128];
    const char *col = d->input_column ? d->input_column : "?";
    char *what = cn_arena_printf(a, "%s(%s)", cn_agg_op_name(d->op), col);
    CnAggSpec *s = cn_arena_calloc(a, sizeof *s);
    CnAggSpec *inner = cn_arena_calloc(a, sizeof *inner);
    CnAggSpec *outer = cn_arena_calloc(a, sizeof *outer);
    int rc = 0;
    *out = NULL;
    if (!what || !s || !inner || !outer) return cn_err_set(err, CN_ENOMEM, "aggregation: out of memory");
    if ((unsigned)d->op >= CN_AGG_N_OPS)
        return cn_err_set(err, CN_ECONFIG, "aggregation on \"%s\": operation %d is not one of 0..%d",
                          col, (int)d->op, CN_AGG_N_OPS - 1);
    if (!t) return cn_err_set(err, CN_ECONFIG, "%s: input column \"%s\" has no type", what, col);
    if (has_date(t))
        return cn_err_set(err, CN_ECONFIG,
                          "%s: input column \"%s\" has type %s; date and timestamp inputs are "
                          "not aggregated, cast them to long in selects",
                          what, col, cn_col_type_name(t, tb, sizeof tb));
    s->op = d->op;
    s->input_column = cn_arena_strdup(a, col);
    rc = resolve_k(d, what, s, err);
    if (rc < 0) return rc;
    if (d->op == CN_AGG_APPROX_PERCENTILE) {
        const char *p = arg_get(d, "percentiles");
        rc = parse_percentiles(a, what, p ? p : "[0.5]", s, err);
        if (rc < 0) return rc;
    }
    s->deletable = cn_agg_op_deletable(d->op);
    s->needs_ts = op_timed(d->op);
    *inner = *s;
    /* Which level holds the container: timed ops keep containers opaque. */
    CnAggNest cont = CN_AGG__FLAT;
    const CnType *flat_t = t;
    if (!op_timed(d->op)) {
        if (d->element_wise) {
            if (t->id != CN_COL_LIST)
                return cn_err_set(err, CN_ECONFIG,
                                  "%s: elementWise needs a list input, column \"%s\" has type %s",
                                  what, col, cn_col_type_name(t, tb, sizeof tb));
            cont = CN_AGG__ELEM;
            flat_t = t->children[0].type;
            if (flat_t->id == CN_COL_LIST || flat_t->id == CN_COL_MAP)
                return cn_err_set(err, CN_ECONFIG,
                                  "%s: elementWise lists must hold scalars, column \"%s\" has type %s",
                                  what, col, cn_col_type_name(t, tb, sizeof tb));
        } else if (t->id == CN_COL_MAP) {
            if (t->children[0].type->id != CN_COL_STRING)
                return cn_err_set(err, CN_ECONFIG,
                                  "%s: map inputs need string keys, column \"%s\" has type %s",
                                  what, col, cn_col_type_name(t, tb, sizeof tb));
            cont = CN_AGG__MAP;
            flat_t = t->children[1].type;
            if (flat_t->id == CN_COL_LIST || flat_t->id == CN_COL_MAP)
                return cn_err_set(err, CN_ECONFIG,
                                  "%s: map values must be scalars, column \"%s\" has type %s",
                                  what, col, cn_col_type_name(t, tb, sizeof tb));
        }
        if (cont != CN_AGG__FLAT && d->bucketed)
            return cn_err_set(err, CN_ECONFIG,
                              "%s: maps and element-wise lists cannot be bucketed (column \"%s\" "
                              "has type %s)", what, col, cn_col_type_name(t, tb, sizeof tb));
    }
    rc = resolve_flat(a, d, what, flat_t, inner, err);
    if (rc < 0) return rc;
    const CnAggSpec *top = inner;
    if (cont != CN_AGG__FLAT) {
        *s = *inner;
        s->nest = cont;
        s->child = inner;
        s->in_type = t;
        s->row_width = 0;
        s->is_float_out = false;
        s->out_type = cont == CN_AGG__ELEM
                          ? cn_col_type_list(a, inner->out_type, true, CN_COL_NO_ID)
                          : cn_col_type_map(a, prim(CN_COL_STRING), inner->out_type, true,
                                            CN_COL_NO_ID, CN_COL_NO_ID);
        if (!s->out_type) return cn_err_set(err, CN_ENOMEM, "%s: out of memory", what);
        top = s;
    }
    if (d->bucketed) {
        *outer = *top;
        outer->nest = CN_AGG__BUCKET;
        outer->child = top;
        outer->row_width = 0;
        outer->is_float_out = false;
        outer->out_type = cn_col_type_map(a, prim(CN_COL_STRING), top->out_type, true,
                                          CN_COL_NO_ID, CN_COL_NO_ID);
        if (!outer->out_type) return cn_err_set(err, CN_ENOMEM, "%s: out of memory", what);
        top = outer;
    }
    *out = top;
    return 0;
}

/* ------------------------------------------------------------- windows */

int cn_agg_window_ms(int32_t length, int32_t unit, const char *what, int64_t *out,
                     CnErr *err) {
    if (unit != 0 && unit != 1)
        return cn_err_set(err, CN_ECONFIG, "%s: window timeUnit %d, expected 0 (HOURS) or 1 (DAYS)",
                          what ? what : "window", (int)unit);
    if (length <= 0)
        return cn_err_set(err, CN_ECONFIG, "%s: window length %d, expected a positive length",
                          what ? what : "window", (int)length);
    if (unit == 1 && length == INT32_MAX) {
        *out = CN_AGG_UNWINDOWED;
        return 0;
    }
    *out = (int64_t)length * (unit == 1 ? CN_AGG_MS_DAY : CN_AGG_MS_HOUR);
    return 0;
}

int64_t cn_agg_floor(int64_t x, int64_t h) {
    int64_t r = x % h;
    return r < 0 ? x - r - h : x - r;
}

int64_t cn_agg_tail_hop_ms(int64_t w) {
    if (w == CN_AGG_UNWINDOWED || w >= 12 * CN_AGG_MS_DAY) return CN_AGG_MS_DAY;
    if (w >= 12 * CN_AGG_MS_HOUR) return CN_AGG_MS_HOUR;
    return CN_AGG_MS_5MIN;
}

int64_t cn_agg_temporal_start(int64_t q, int64_t w) {
    if (w == CN_AGG_UNWINDOWED) return INT64_MIN;
    return cn_agg_floor(q - w, cn_agg_tail_hop_ms(w));
}

bool cn_agg_temporal_member(int64_t q, int64_t t, int64_t w) {
    return t < q && (w == CN_AGG_UNWINDOWED || t >= cn_agg_temporal_start(q, w));
}

bool cn_agg_snapshot_member(int64_t e, int64_t t, int64_t w) {
    return t < e && (w == CN_AGG_UNWINDOWED || t >= e - w);
}
