/* mutate.c: mutation rows of a TEMPORAL entity GroupBy for Join backfills (mutate.h).
 * LOAD: the mutation tables are read by the ordinary loader through a copy of the
 *   GroupBy whose sources name the mutationTable as their table and select two hidden
 *   columns more (reversal and mutation time), so queries, wheres, key ids and input
 *   columns follow the snapshot's rules exactly.
 * ORDER: each key's rows are sorted by (partition, mutation_ts, load order) once; a query
 *   finds its day's first row by binary search and walks the rows up to q. Ties in
 *   mutation_ts keep load order (Chronon sorts each key's day stably, but after a shuffle);
 *   every operation's update and delete commute, so ties can change only the rounding
 *   of floating-point sums. */
#include "engine/mutate.h"

#include <stdio.h>

#include "base/alloc.h"
#include "base/date.h"
#include "base/log.h"

/* Names of the two columns added to the source's selects: the Query fields they come
 * from, so that a loader error about them names the field to fix. */
#define MTS_COL "query.mutationTimeColumn"
#define REV_COL "query.reversalColumn"

struct CnEngMut {
    CnGroupBy gb;          /* the GroupBy copy the loader keeps a pointer to */
    CnArena arena;
    CnEngGroupBy *g;
    const int64_t *mts;    /* per row; rows with a null mutation time are not in the CSR */
    const CnVec *mts_vec, *rev;
    uint32_t *start;       /* CSR by key id over sorted rows */
    uint32_t *rows;
    uint32_t *ids, *sel;   /* scratch: zero key ids per row, a run of rows */
    CnVec ts;              /* g->ts as an INT64 vector with nulls */
    uint64_t *ts_valid;
};

bool cn_eng__mut_has(const CnGroupBy *gb) {
    for (size_t i = 0; i < gb->n_sources; i++)
        if (gb->sources[i].kind == CN_CONF_SRC_ENTITIES && gb->sources[i].mutation_table) return true;
    return false;
}

const CnEngKeys *cn_eng__mut_keys(const CnEngMut *m) { return &m->g->keys; }

void cn_eng__mut_free(CnEngMut *m) {
    if (!m) return;
    cn_eng_gb_free(m->g);
    cn_free(m->start);
    cn_free(m->rows);
    cn_free(m->ids);
    cn_free(m->sel);
    cn_free(m->ts_valid);
    cn_arena_fini(&m->arena);
    cn_free(m);
}

/* Selects standing for "every column" of the mutation table, as the loader reads a source
 * without selects (partition column left out, ts too when timeColumn makes it), so that
 * the two hidden expressions can be added. *n = 0 when the table does not exist: the
 * loader then says so itself. */
static int all_columns(CnEngMut *m, CnIceCatalog *cat, const CnSource *d, const char ***keys, const char ***vals,
                       size_t *n, CnErr *err) {
    char ns[129], name[129];
    CnIceTable *t = NULL;
    *n = 0;
    if (cn_ice_name_parse(d->table, ns, name, err) || !cn_ice_table_exists(cat, ns, name)) {
        cn_err_clear(err);
        return 0;
    }
    int rc = cn_ice_table_load(cat, ns, name, &t, err);
    if (rc) return rc;
    const CnSchema *ts = cn_ice_table_schema(t);
    *keys = cn_arena_alloc(&m->arena, (ts->n_fields + 2) * sizeof **keys);
    *vals = cn_arena_alloc(&m->arena, (ts->n_fields + 2) * sizeof **vals);
    if (!*keys || !*vals) rc = cn_err_set(err, CN_ENOMEM, "out of memory");
    for (uint32_t i = 0; i < ts->n_fields && rc == 0; i++) {
        const char *c = ts->fields[i].name;
        if (!strcmp(c, CN_ICE_DS) || (d->query.time_column && !strcmp(c, "ts"))) continue;
        (*keys)[*n] = cn_arena_strdup(&m->arena, c);
        (*vals)[*n] = cn_arena_printf(&m->arena, "`%s`", c);
        if (!(*keys)[*n] || !(*vals)[(*n)++]) rc = cn_err_set(err, CN_ENOMEM, "out of memory");
    }
    cn_ice_table_free(t);
    return rc;
}

/* The GroupBy copy: sources with a mutationTable read it (sub-partition spec after '/'
 * dropped), selecting the two hidden columns after the source's own selects. Without
 * selects, bare column names are read as they are; an expression in either field makes
 * the selects every column of the table plus the two. */
static int mut_groupby(CnEngMut *m, CnIceCatalog *cat, const CnGroupBy *gb, CnErr *err) {
    CnArena *a = &m->arena;
    m->gb = *gb;
    CnSource *srcs = cn_arena_alloc(a, (gb->n_sources + 1) * sizeof *srcs);
    if (!srcs) return cn_err_set(err, CN_ENOMEM, "out of memory");
    size_t n = 0;
    for (size_t i = 0; i < gb->n_sources; i++) {
        const CnSource *s = &gb->sources[i];
        if (s->kind != CN_CONF_SRC_ENTITIES || !s->mutation_table) continue;
        CnSource *d = &srcs[n++];
        *d = *s;
        const char *slash = strchr(s->mutation_table, '/');
        d->table = slash ? cn_arena_printf(a, "%.*s", (int)(slash - s->mutation_table), s->mutation_table)
                         : s->mutation_table;
        const CnQuery *q = &s->query;
        const char *mts = q->mutation_time_column ? q->mutation_time_column : "mutation_ts";
        const char *rev = q->reversal_column ? q->reversal_column : "is_before";
        if (!d->table) return cn_err_set(err, CN_ENOMEM, "out of memory");
        const char **keys = NULL, **vals = NULL;
        size_t ns = 0;
        if (!q->has_selects) {
            if (cn_conf_is_identifier(mts) && cn_conf_is_identifier(rev)) continue; /* every column, the two under their names */
            int rc = all_columns(m, cat, d, &keys, &vals, &ns, err);
            if (rc) return rc;
            if (!ns) continue;
            d->query.has_selects = true;
        } else {
            ns = q->selects.n;
            keys = cn_arena_alloc(a, (ns + 2) * sizeof *keys);
            vals = cn_arena_alloc(a, (ns + 2) * sizeof *vals);
            if (!keys || !vals) return cn_err_set(err, CN_ENOMEM, "out of memory");
            for (size_t k = 0; k < ns; k++) keys[k] = q->selects.keys[k], vals[k] = q->selects.vals[k];
        }
        keys[ns] = MTS_COL, vals[ns] = mts;
        keys[ns + 1] = REV_COL, vals[ns + 1] = rev;
        d->query.selects = (CnStrMap){keys, vals, ns + 2};
    }
    m->gb.sources = srcs;
    m->gb.n_sources = n;
    return 0;
}

/* Types of the mutation rows' keys and inputs must be the snapshot's (one IR takes both). */
static int check_types(const CnEngMut *m, const CnEngGroupBy *snap, const char *table, CnErr *err) {
    const CnEngGroupBy *g = m->g;
    char a[64], b[64];
    for (uint32_t k = 0; k < g->n_keys && k < snap->n_keys; k++) {
        const CnType *mt = g->rows->schema->fields[g->key_cols[k]].type;
        const CnType *st = snap->rows->schema->fields[snap->key_cols[k]].type;
        if (!cn_col_type_equal(mt, st))
            return cn_err_set(err, CN_ECONFIG, "mutation table %s: key %s is %s but the snapshot's is %s", table,
                              g->rows->schema->fields[g->key_cols[k]].name, cn_col_type_name(mt, a, sizeof a),
                              cn_col_type_name(st, b, sizeof b));
    }
    for (uint32_t i = 0; i < g->n_bases && i < snap->n_bases; i++) {
        const CnType *mt = g->rows->schema->fields[g->bases[i].i_input].type;
        const CnType *st = snap->rows->schema->fields[snap->bases[i].i_input].type;
        if (!cn_col_type_equal(mt, st))
            return cn_err_set(err, CN_ECONFIG, "mutation table %s: column %s is %s but the snapshot's is %s", table,
                              g->rows->schema->fields[g->bases[i].i_input].name, cn_col_type_name(mt, a, sizeof a),
                              cn_col_type_name(st, b, sizeof b));
    }
    return 0;
}

/* Sort record of one mutation row: (partition, mutation_ts, row). */
typedef struct MutKey {
    int64_t mts;
    int32_t pday;
    uint32_t row;
} MutKey;

static int mut_key_cmp(const void *x, const void *y) {
    const MutKey *a = x, *b = y;
    if (a->pday != b->pday) return a->pday < b->pday ? -1 : 1;
    if (a->mts != b->mts) return a->mts < b->mts ? -1 : 1;
    return (a->row > b->row) - (a->row < b->row);
}

int cn_eng__mut_open(CnIceCatalog *cat, const CnGroupBy *gb, const CnEngGroupBy *snap, int32_t lo, int32_t hi,
                     const CnEngOpts *o, CnEngMut **out, CnErr *err) {
    *out = NULL;
    CnEngMut *m = cn_calloc(1, sizeof *m);
    if (!m) return cn_err_set(err, CN_ENOMEM, "out of memory");
    cn_arena_init(&m->arena, 0);
    int rc = mut_groupby(m, cat, gb, err);
    const char *table = m->gb.n_sources ? m->gb.sources[0].table : "?";
    if (rc == 0) rc = cn_eng__open(cat, &m->gb, lo, hi, o, NULL, NULL, &m->g, err);
    if (rc) {
        rc = cn_err_ctx(err, rc, "mutation table %s", table);
        goto fail;
    }
    CnEngGroupBy *g = m->g;
    const CnSchema *rs = g->rows->schema;
    const CnQuery *q0 = &m->gb.sources[0].query;
    const char *mts_name = q0->mutation_time_column ? q0->mutation_time_column : "mutation_ts";
    const char *rev_name = q0->reversal_column ? q0->reversal_column : "is_before";
    int i_mts = cn_col_schema_find(rs, MTS_COL), i_rev = cn_col_schema_find(rs, REV_COL);
    if (i_mts < 0) i_mts = cn_col_schema_find(rs, mts_name);
    if (i_rev < 0) i_rev = cn_col_schema_find(rs, rev_name);
    if (i_mts < 0 || i_rev < 0) {
        rc = cn_err_set(err, CN_ECONFIG, "mutation table %s: no column %s (%s)", table,
                        i_mts < 0 ? mts_name : rev_name, i_mts < 0 ? MTS_COL : REV_COL);
        goto fail;
    }
    if (rs->fields[i_mts].type->id != CN_COL_INT64) {
        char t[64];
        rc = cn_err_set(err, CN_ETYPE, "mutation table %s: mutation time column %s (%s) is %s, expected long "
                        "epoch milliseconds", table, mts_name, MTS_COL,
                        cn_col_type_name(rs->fields[i_mts].type, t, sizeof t));
        goto fail;
    }
    if (rs->fields[i_rev].type->id != CN_COL_BOOL) {
        char t[64];
        rc = cn_err_set(err, CN_ETYPE, "mutation table %s: reversal column %s (%s) is %s, expected boolean", table,
                        rev_name, REV_COL,
                        cn_col_type_name(rs->fields[i_rev].type, t, sizeof t));
        goto fail;
    }
    rc = check_types(m, snap, table, err);
    if (rc) goto fail;
    /* D8: deletes are skipped by the operations that cannot undo a row; said once per load */
    uint32_t n_keep = 0;
    const char *first_keep = NULL;
    for (uint32_t i = 0; i < g->n_parts; i++)
        if (!cn_agg_spec_deletable(g->bases[g->parts[i].i_base].spec) && !n_keep++) first_keep = g->parts[i].name;
    if (n_keep)
        cn_log(CN_LOG_WARN,
               "GroupBy %s: %u of its columns (%s%s) ignore the deletes (before rows) of mutation table %s; "
               "only COUNT, SUM, AVERAGE and HISTOGRAM undo them",
               gb->meta.name, n_keep, first_keep, n_keep > 1 ? ", ..." : "", table);
    m->mts_vec = &g->rows->cols[i_mts];
    m->mts = (const int64_t *)m->mts_vec->values;
    m->rev = &g->rows->cols[i_rev];
    uint32_t n = g->n_rows, nk = g->keys.n;
    m->start = cn_calloc((size_t)nk + 2, sizeof *m->start);
    m->rows = cn_malloc(((size_t)n + 1) * sizeof *m->rows);
    m->ids = cn_calloc((size_t)n + 1, sizeof *m->ids);
    m->sel = cn_malloc(((size_t)n + 1) * sizeof *m->sel);
    m->ts_valid = cn_calloc(((size_t)n + 63) / 64 + 1, sizeof *m->ts_valid);
    if (!m->start || !m->rows || !m->ids || !m->sel || !m->ts_valid) {
        rc = cn_err_set(err, CN_ENOMEM, "out of memory");
        goto fail;
    }
    /* rows without mutation_ts never apply: left out of the CSR */
    uint32_t *fill = m->sel;
    for (uint32_t r = 0; r < n; r++)
        if (cn_col_vec_is_valid(m->mts_vec, r)) m->start[g->key_id[r] + 1]++;
    for (uint32_t k = 0; k < nk; k++) m->start[k + 1] += m->start[k];
    memcpy(fill, m->start, ((size_t)nk + 1) * sizeof *fill);
    for (uint32_t r = 0; r < n; r++)
        if (cn_col_vec_is_valid(m->mts_vec, r)) m->rows[fill[g->key_id[r]]++] = r;
    MutKey *mk = cn_malloc(((size_t)m->start[nk] + 1) * sizeof *mk);
    if (!mk) {
        rc = cn_err_set(err, CN_ENOMEM, "out of memory");
        goto fail;
    }
    for (uint32_t i = 0; i < m->start[nk]; i++) {
        uint32_t r = m->rows[i];
        mk[i] = (MutKey){m->mts[r], g->pday[r], r};
    }
    for (uint32_t k = 0; k < nk; k++)
        if (m->start[k + 1] - m->start[k] > 1)
            qsort(mk + m->start[k], m->start[k + 1] - m->start[k], sizeof *mk, mut_key_cmp);
    for (uint32_t i = 0; i < m->start[nk]; i++) m->rows[i] = mk[i].row;
    cn_free(mk);
    memset(&m->ts, 0, sizeof m->ts);
    m->ts.type = cn_col_type_prim(CN_COL_INT64);
    m->ts.n = n;
    m->ts.values = g->ts;
    for (uint32_t r = 0; r < n; r++)
        if (g->ts_ok[r]) m->ts_valid[r >> 6] |= UINT64_C(1) << (r & 63);
        else m->ts.n_null++;
    m->ts.valid = m->ts_valid;
    *out = m;
    return 0;
fail:
    cn_eng__mut_free(m);
    return rc;
}

/* Folds the run sel[0..n) into IR 0 of st: deletes for before rows (D8: a no-op for
 * non-deletable operations), updates for the others. */
static int fold_run(const CnEngMut *m, const CnEngBase *b, bool before, uint32_t n, CnAggState *st, CnErr *err) {
    if (!n) return 0;
    const CnEngGroupBy *g = m->g;
    const CnVec *in = &g->rows->cols[b->i_input], *bk = b->i_bucket >= 0 ? &g->rows->cols[b->i_bucket] : NULL;
    return before ? cn_agg_state_delete(st, m->ids, m->sel, n, in, &m->ts, bk, err)
                  : cn_agg_state_update(st, m->ids, m->sel, n, in, &m->ts, bk, err);
}

int cn_eng__mut_apply(const CnEngMut *m, uint32_t k, int32_t x, int64_t q, uint32_t i_part, CnAggState *st,
                      CnErr *err) {
    const CnEngGroupBy *g = m->g;
    if (k == UINT32_MAX || k >= g->keys.n || i_part >= g->n_parts) return 0;
    const CnEngPart *pt = &g->parts[i_part];
    const CnEngBase *b = &g->bases[pt->i_base];
    int64_t b0 = (int64_t)x * CN_MS_PER_DAY;
    int64_t lo = pt->w_ms ? cn_agg_temporal_start(q, pt->w_ms) : INT64_MIN;
    uint32_t n = 0;
    bool run_before = false;
    int rc = 0;
    /* the key's first row of day x or later: rows are in (partition, mutation_ts) order */
    uint32_t i0 = m->start[k], i1 = m->start[k + 1];
    while (i0 < i1) {
        uint32_t mid = i0 + (i1 - i0) / 2;
        if (g->pday[m->rows[mid]] < x) i0 = mid + 1;
        else i1 = mid;
    }
    for (uint32_t i = i0; i < m->start[k + 1] && rc == 0; i++) {
        uint32_t r = m->rows[i];
        if (g->pday[r] > x || m->mts[r] >= q) break;
        if (m->mts[r] < b0) continue;
        /* D7: membership per query; a row without ts never applies */
        if (!g->ts_ok[r] || g->ts[r] >= q || g->ts[r] < lo) continue;
        bool before = cn_col_vec_is_valid(m->rev, r) && ((const uint8_t *)m->rev->values)[r];
        if (n && before != run_before) {
            rc = fold_run(m, b, run_before, n, st, err);
            n = 0;
        }
        run_before = before;
        m->sel[n++] = r;
    }
    if (rc == 0) rc = fold_run(m, b, run_before, n, st, err);
    return rc;
}
