/* validate.c: the semantic rules Chronon itself enforces on configs (its Python DSL in
 * group_by.py / join.py, compile's validator.py, and the Scala Extensions), checked
 * again on the compiled JSON because files can be hand-edited or come from elsewhere.
 * Checks that need a table schema (types, left columns of a join) belong to the engine.
 * Every message names the JSON path and the offending value. */
#include "conf/conf_int.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#define TRY(x)                  \
    do {                        \
        rc = (x);               \
        if (rc) goto done;      \
    } while (0)

/* Fails with the path extended by the given keys/indexes ("sources", 0, "events"...). */
#define AT_KEY(px, key, call)                       \
    do {                                            \
        size_t old_ = cn_conf__push_key(px, key);   \
        rc = (call);                                \
        cn_conf__pop(px, old_);                     \
        if (rc) goto done;                          \
    } while (0)
#define AT_IDX(px, i, call)                         \
    do {                                            \
        size_t old_ = cn_conf__push_idx(px, i);     \
        rc = (call);                                \
        cn_conf__pop(px, old_);                     \
        if (rc) goto done;                          \
    } while (0)

/* "a, b, c" of a column list, cut to fit messages. */
static const char *join_names(CnArena *a, const char *const *names, size_t n) {
    char buf[360];
    size_t len = 0;
    buf[0] = 0;
    for (size_t i = 0; i < n; i++) {
        int w = snprintf(buf + len, sizeof buf - len, "%s%s", i ? ", " : "", names[i]);
        if (w < 0 || (size_t)w >= sizeof buf - len) {
            snprintf(buf + (len < sizeof buf - 5 ? len : sizeof buf - 5), 5, "...");
            break;
        }
        len += (size_t)w;
    }
    const char *s = cn_arena_strdup(a, buf);
    return s ? s : "";
}

static const char *source_key(const CnSource *s) {
    return s->kind == CN_CONF_SRC_EVENTS ? "events" : s->kind == CN_CONF_SRC_ENTITIES ? "entities"
                                                                                        : "joinSource";
}

static bool source_streaming(const CnSource *s) {
    if (s->kind == CN_CONF_SRC_JOIN) return s->join && source_streaming(&s->join->left);
    return s->topic != NULL;
}

static int check_deprecation(CnConfPx *px, const CnMetaData *md) {
    const char *d = md->deprecation_date;
    if (!d) return 0;
    /* Chronon's validator matches \d{4}-\d{2}-\d{2} at the start. */
    static const char pat[] = "dddd-dd-dd";
    for (size_t i = 0; i < sizeof pat - 1; i++) {
        bool ok = pat[i] == 'd' ? (d[i] >= '0' && d[i] <= '9') : d[i] == '-';
        if (!ok) {
            size_t old = cn_conf__push_key(px, "metaData");
            size_t old2 = cn_conf__push_key(px, "deprecationDate");
            int rc = cn_conf__fail(px, CN_ECONFIG, "invalid date \"%s\" (expected YYYY-MM-DD)", d);
            cn_conf__pop(px, old2);
            cn_conf__pop(px, old);
            return rc;
        }
    }
    return 0;
}

/* Chronon's validator rules for derivations: a rename must name an existing column (or
 * ds/ts), and a derived name may not collide with another output column unless it is a
 * key (GroupBy) or left column (Join). */
static int check_derivations(CnConfPx *px, CnArena *scratch, const CnDerivation *ds, size_t n,
                             const char *const *pre, size_t n_pre, const CnStrList *keys) {
    int rc = 0;
    bool star = false;
    for (size_t i = 0; i < n; i++)
        if (!strcmp(ds[i].expression, "*")) star = true;
    /* derived: names currently in the output (pre when `*` is used). */
    size_t cap = n_pre + n + 1, n_der = 0;
    const char **der = cn_arena_alloc(scratch, cap * sizeof *der);
    if (!der) return cn_conf__oom(px);
    if (star)
        for (size_t i = 0; i < n_pre; i++) der[n_der++] = pre[i];
    size_t old = cn_conf__push_key(px, "derivations");
    for (size_t i = 0; i < n && !rc; i++) {
        const CnDerivation *d = &ds[i];
        size_t old2 = cn_conf__push_idx(px, i);
        if (!*d->name) rc = cn_conf__fail(px, CN_ECONFIG, "name is empty (expected a column name or \"*\")");
        if (!rc && cn_conf_is_identifier(d->expression)) {
            bool known = !strcmp(d->expression, "ds") || !strcmp(d->expression, "ts");
            for (size_t k = 0; k < n_pre && !known; k++)
                if (!strcmp(pre[k], d->expression)) known = true;
            if (star)
                for (size_t k = 0; k < n_der; k++)
                    if (!strcmp(der[k], d->expression)) {
                        der[k] = der[--n_der];
                        break;
                    }
            if (!known) {
                size_t old3 = cn_conf__push_key(px, "expression");
                rc = cn_conf__fail(px, CN_ECONFIG,
                                   "\"%s\" is not a column before derivations (expected one of: %s)",
                                   d->expression, join_names(scratch, pre, n_pre));
                cn_conf__pop(px, old3);
            }
        }
        if (!rc && strcmp(d->name, "*")) {
            bool clash = false;
            for (size_t k = 0; k < n_der; k++)
                if (!strcmp(der[k], d->name)) clash = true;
            if (clash && !cn_conf_list_has(keys, d->name)) {
                size_t old3 = cn_conf__push_key(px, "name");
                rc = cn_conf__fail(px, CN_ECONFIG,
                                   "\"%s\" clashes with another output column of the same name",
                                   d->name);
                cn_conf__pop(px, old3);
            } else if (!clash && n_der < cap) {
                der[n_der++] = d->name;
            }
        }
        cn_conf__pop(px, old2);
    }
    cn_conf__pop(px, old);
    return rc;
}

static bool is_k_op(CnOperation op) {
    return op == CN_CONF_OP_LAST_K || op == CN_CONF_OP_FIRST_K || op == CN_CONF_OP_TOP_K ||
           op == CN_CONF_OP_BOTTOM_K;
}

/* argMap.percentiles: a JSON array of numbers in [0, 1]. */
static int check_percentiles(CnConfPx *px, const CnAggregation *ag) {
    const char *p = cn_conf_map_get(&ag->arg_map, "percentiles");
    size_t old = cn_conf__push_key(px, "argMap");
    int rc = 0;
    if (!p) {
        rc = cn_conf__fail(px, CN_ECONFIG,
                           "APPROX_PERCENTILE needs \"percentiles\" (e.g. {\"k\": \"128\", "
                           "\"percentiles\": \"[0.5, 0.95]\"})");
        goto done;
    }
    json_error_t je;
    json_t *arr = json_loads(p, JSON_DECODE_ANY, &je);
    bool ok = arr && json_is_array(arr);
    for (size_t i = 0; ok && i < json_array_size(arr); i++) {
        json_t *e = json_array_get(arr, i);
        ok = json_is_number(e) && json_number_value(e) >= 0 && json_number_value(e) <= 1;
    }
    if (arr) json_decref(arr);
    if (!ok) {
        size_t old2 = cn_conf__push_key(px, "percentiles");
        rc = cn_conf__fail(px, CN_ECONFIG,
                           "invalid value \"%s\" (expected a JSON array of numbers between 0 and 1, "
                           "e.g. [0.5, 0.95])",
                           p);
        cn_conf__pop(px, old2);
    }
done:
    cn_conf__pop(px, old);
    return rc;
}

static bool same_columns(const CnQuery *a, const CnQuery *b) {
    if (a->selects.n != b->selects.n) return false;
    for (size_t i = 0; i < a->selects.n; i++)
        if (!cn_conf_map_get(&b->selects, a->selects.keys[i])) return false;
    return true;
}

static bool any_windowed(const CnGroupBy *gb) {
    for (size_t i = 0; i < gb->n_aggs; i++)
        if (gb->aggs[i].has_windows && gb->aggs[i].n_windows) return true;
    return false;
}

static bool selected_anywhere(const CnGroupBy *gb, const char *col) {
    for (size_t s = 0; s < gb->n_sources; s++)
        if (cn_conf_map_get(&gb->sources[s].query.selects, col)) return true;
    return false;
}

static int validate_source(CnConfPx *px, const CnGroupBy *gb, const CnSource *s) {
    int rc = 0;
    const CnQuery *q = &s->query;
    size_t old = cn_conf__push_key(px, source_key(s));
    if (q->has_selects && cn_conf_map_get(&q->selects, "ts")) {
        rc = cn_conf__fail(px, CN_ECONFIG,
                           "query.selects: \"ts\" is reserved (put the expression in query.timeColumn)");
        goto done;
    }
    if (s->kind == CN_CONF_SRC_EVENTS) {
        if (q->mutation_time_column) {
            rc = cn_conf__fail(px, CN_ECONFIG,
                               "query.mutationTimeColumn: not allowed on an event source (events have "
                               "no mutations)");
            goto done;
        }
        if (q->reversal_column) {
            rc = cn_conf__fail(px, CN_ECONFIG,
                               "query.reversalColumn: not allowed on an event source (events have no "
                               "mutations)");
            goto done;
        }
        if (gb->accuracy != CN_CONF_SNAPSHOT && !q->time_column) {
            rc = cn_conf__fail(px, CN_ECONFIG,
                               "query.timeColumn is missing (required for an event source unless the "
                               "GroupBy's accuracy is SNAPSHOT)");
            goto done;
        }
        if (gb->accuracy == CN_CONF_SNAPSHOT && s->topic) {
            rc = cn_conf__fail(px, CN_ECONFIG,
                               "topic \"%s\": SNAPSHOT accuracy cannot be used with a streaming source",
                               s->topic);
            goto done;
        }
        if (s->is_cumulative == 1 && !q->time_column) {
            rc = cn_conf__fail(px, CN_ECONFIG,
                               "query.timeColumn is missing (required for a cumulative event source)");
            goto done;
        }
    } else if (s->kind == CN_CONF_SRC_JOIN) {
        size_t old2 = cn_conf__push_key(px, "join");
        rc = cn_conf__validate_join(px, s->join);
        cn_conf__pop(px, old2);
        if (rc) goto done;
        if (!source_streaming(&s->join->left)) {
            rc = cn_conf__fail(px, CN_ECONFIG,
                               "join %s: the parent join's left source has no topic (a JoinSource needs "
                               "a streaming parent; use its output table as an event or entity source)",
                               s->join->meta.name);
            goto done;
        }
    } else if (any_windowed(gb) && !q->time_column) {
        rc = cn_conf__fail(px, CN_ECONFIG,
                           "query.timeColumn is missing (required for an entity source with windowed "
                           "aggregations)");
        goto done;
    }
done:
    cn_conf__pop(px, old);
    return rc;
}

static int validate_aggregation(CnConfPx *px, const CnGroupBy *gb, const CnAggregation *ag,
                                bool all_selects) {
    int rc = 0;
    if (!*ag->input_column) {
        rc = cn_conf__fail(px, CN_ECONFIG, "inputColumn is empty (expected a selected column)");
        goto done;
    }
    if (all_selects && strcmp(ag->input_column, "ts") && !selected_anywhere(gb, ag->input_column)) {
        size_t old = cn_conf__push_key(px, "inputColumn");
        const CnStrMap *sel = &gb->sources[0].query.selects;
        rc = cn_conf__fail(px, CN_ECONFIG,
                           "\"%s\" is not selected by the sources (expected one of: %s, or ts)",
                           ag->input_column, join_names(px->a, sel->keys, sel->n));
        cn_conf__pop(px, old);
        goto done;
    }
    if (is_k_op(ag->op) && ag->k < 0) {
        size_t old = cn_conf__push_key(px, "argMap");
        rc = cn_conf__fail(px, CN_ECONFIG, "%s needs \"k\" (e.g. {\"k\": \"10\"})",
                           cn_conf_op_name(ag->op));
        cn_conf__pop(px, old);
        goto done;
    }
    if (ag->op == CN_CONF_OP_APPROX_PERCENTILE) TRY(check_percentiles(px, ag));
    for (size_t w = 0; w < ag->n_windows; w++) {
        const CnWindow *win = &ag->windows[w];
        size_t old = cn_conf__push_key(px, "windows");
        size_t old2 = cn_conf__push_idx(px, w);
        if (win->length <= 0) {
            size_t old3 = cn_conf__push_key(px, "length");
            rc = cn_conf__fail(px, CN_ECONFIG, "window length %d must be > 0", (int)win->length);
            cn_conf__pop(px, old3);
        } else if (win->unit == CN_CONF_HOURS && gb->accuracy == CN_CONF_SNAPSHOT) {
            rc = cn_conf__fail(px, CN_ECONFIG,
                               "hour window %dh in a SNAPSHOT GroupBy (snapshots are daily; use a DAYS "
                               "window or TEMPORAL accuracy)",
                               (int)win->length);
        }
        cn_conf__pop(px, old2);
        cn_conf__pop(px, old);
        if (rc) goto done;
    }
done:
    return rc;
}

int cn_conf__validate_groupby(CnConfPx *px, const CnGroupBy *gb) {
    int rc = 0;
    CnArena scratch;
    cn_arena_init(&scratch, 0);
    TRY(check_deprecation(px, &gb->meta));
    for (size_t i = 0; i < gb->n_sources; i++) {
        size_t old = cn_conf__push_key(px, "sources");
        AT_IDX(px, i, validate_source(px, gb, &gb->sources[i]));
        cn_conf__pop(px, old);
    }
    if (gb->is_incremental == 1) {
        for (size_t i = 0; i < gb->n_sources; i++)
            if (gb->sources[i].kind != CN_CONF_SRC_EVENTS) {
                AT_KEY(px, "isIncremental",
                       cn_conf__fail(px, CN_ECONFIG, "only supported for event sources (sources[%zu] is %s)",
                                     i, source_key(&gb->sources[i])));
            }
        if (cn_conf_groupby_accuracy(gb) != CN_CONF_SNAPSHOT)
            AT_KEY(px, "isIncremental",
                   cn_conf__fail(px, CN_ECONFIG, "only supported for SNAPSHOT accuracy (this GroupBy is TEMPORAL)"));
    }
    bool all_selects = true;
    for (size_t i = 0; i < gb->n_sources; i++)
        if (!gb->sources[i].query.has_selects) all_selects = false;
    const CnQuery *q0 = &gb->sources[0].query;
    if (all_selects) {
        for (size_t i = 1; i < gb->n_sources; i++)
            if (!same_columns(q0, &gb->sources[i].query)) {
                const CnStrMap *si = &gb->sources[i].query.selects;
                size_t old = cn_conf__push_key(px, "sources");
                AT_IDX(px, i,
                       cn_conf__fail(px, CN_ECONFIG,
                                     "selects columns (%s) differ from sources[0] (%s); all sources "
                                     "must select the same columns",
                                     join_names(&scratch, si->keys, si->n),
                                     join_names(&scratch, q0->selects.keys, q0->selects.n)));
                cn_conf__pop(px, old);
            }
    }
    if (q0->has_selects)
        for (size_t i = 0; i < gb->key_columns.n; i++)
            if (!cn_conf_map_get(&q0->selects, gb->key_columns.items[i])) {
                size_t old = cn_conf__push_key(px, "keyColumns");
                AT_IDX(px, i,
                       cn_conf__fail(px, CN_ECONFIG,
                                     "key \"%s\" is not selected by sources[0] (selects: %s)",
                                     gb->key_columns.items[i],
                                     join_names(&scratch, q0->selects.keys, q0->selects.n)));
                cn_conf__pop(px, old);
            }
    if (!gb->has_aggregations) {
        for (size_t i = 0; i < gb->n_sources; i++) {
            const CnSource *s = &gb->sources[i];
            bool bad = s->kind == CN_CONF_SRC_EVENTS ||
                       (s->kind == CN_CONF_SRC_ENTITIES && (s->mutation_table || s->topic));
            if (bad) {
                size_t old = cn_conf__push_key(px, "sources");
                AT_IDX(px, i,
                       cn_conf__fail(px, CN_ECONFIG,
                                     "a GroupBy without aggregations needs entity sources without "
                                     "mutations (this source is %s%s)",
                                     source_key(s), s->kind == CN_CONF_SRC_ENTITIES ? " with mutations" : ""));
                cn_conf__pop(px, old);
            }
        }
    }
    for (size_t i = 0; i < gb->n_aggs; i++) {
        size_t old = cn_conf__push_key(px, "aggregations");
        AT_IDX(px, i, validate_aggregation(px, gb, &gb->aggs[i], all_selects));
        cn_conf__pop(px, old);
    }
    if (gb->n_derivations) {
        CnColumnList base;
        CnErr e2 = CN_ERR_INIT;
        rc = cn_conf__groupby_base_values(&scratch, gb, &base, &e2);
        if (rc) {
            rc = cn_conf__fail(px, rc, "%s", cn_err_msg(&e2));
            goto done;
        }
        if (!base.values_unknown) {
            size_t n_pre = base.n + gb->key_columns.n;
            const char **pre = cn_arena_alloc(&scratch, (n_pre + 1) * sizeof *pre);
            if (!pre) TRY(cn_conf__oom(px));
            for (size_t i = 0; i < base.n; i++) pre[i] = base.cols[i].name;
            for (size_t i = 0; i < gb->key_columns.n; i++) pre[base.n + i] = gb->key_columns.items[i];
            TRY(check_derivations(px, &scratch, gb->derivations, gb->n_derivations, pre, n_pre,
                                  &gb->key_columns));
        }
    }
done:
    cn_arena_fini(&scratch);
    return rc;
}

static int validate_join_part(CnConfPx *px, const CnJoinPart *jp) {
    int rc;
    AT_KEY(px, "groupBy", cn_conf__validate_groupby(px, jp->group_by));
    for (size_t i = 0; i < jp->key_mapping.n; i++) {
        const char *right = jp->key_mapping.vals[i];
        if (!cn_conf_list_has(&jp->group_by->key_columns, right)) {
            CnArena tmp;
            cn_arena_init(&tmp, 0);
            size_t old = cn_conf__push_key(px, "keyMapping");
            size_t old2 = cn_conf__push_key(px, jp->key_mapping.keys[i]);
            rc = cn_conf__fail(px, CN_ECONFIG,
                               "\"%s\" is not a key of GroupBy %s (keys: %s)", right,
                               jp->group_by->meta.name,
                               join_names(&tmp, jp->group_by->key_columns.items,
                                          jp->group_by->key_columns.n));
            cn_conf__pop(px, old2);
            cn_conf__pop(px, old);
            cn_arena_fini(&tmp);
            goto done;
        }
    }
done:
    return rc;
}

static int validate_label_part(CnConfPx *px, const CnLabelPart *lp) {
    int rc = 0;
    for (size_t i = 0; i < lp->n_labels; i++) {
        size_t old = cn_conf__push_key(px, "labels");
        AT_IDX(px, i, validate_join_part(px, &lp->labels[i]));
        cn_conf__pop(px, old);
        const CnGroupBy *gb = lp->labels[i].group_by;
        if (!gb->has_aggregations) continue;
        if (lp->n_labels != 1)
            AT_KEY(px, "labels",
                   cn_conf__fail(px, CN_ECONFIG, "%zu label parts with aggregations (expected exactly one)",
                                 lp->n_labels));
        if (gb->n_aggs != 1 || !gb->aggs[0].has_windows || gb->aggs[0].n_windows != 1)
            AT_KEY(px, "labels",
                   cn_conf__fail(px, CN_ECONFIG,
                                 "label GroupBy %s: expected a single aggregation with one window",
                                 gb->meta.name));
        const CnWindow *w = &gb->aggs[0].windows[0];
        if (w->unit != CN_CONF_DAYS)
            AT_KEY(px, "labels",
                   cn_conf__fail(px, CN_ECONFIG, "label GroupBy %s: window unit must be DAYS",
                                 gb->meta.name));
        if (lp->left_start_offset != w->length || lp->left_end_offset != w->length)
            rc = cn_conf__fail(px, CN_ECONFIG,
                               "leftStartOffset %d and leftEndOffset %d must both equal the label "
                               "window length %d",
                               (int)lp->left_start_offset, (int)lp->left_end_offset, (int)w->length);
        if (rc) goto done;
    }
done:
    return rc;
}

int cn_conf__validate_join(CnConfPx *px, const CnJoin *j) {
    int rc = 0;
    CnArena scratch;
    cn_arena_init(&scratch, 0);
    TRY(check_deprecation(px, &j->meta));
    if (j->left.kind == CN_CONF_SRC_JOIN)
        AT_KEY(px, "left",
               cn_conf__fail(px, CN_ECONFIG,
                             "a JoinSource cannot be the left of a Join (use the join's output table)"));
    if (j->left.kind == CN_CONF_SRC_EVENTS && j->left.is_cumulative == 1)
        AT_KEY(px, "left",
               cn_conf__fail(px, CN_ECONFIG,
                             "events.isCumulative: a cumulative event source cannot be the left of a "
                             "Join (use an entity source or a non-cumulative event source)"));
    for (size_t i = 0; i < j->n_parts; i++) {
        size_t old = cn_conf__push_key(px, "joinParts");
        AT_IDX(px, i, validate_join_part(px, &j->parts[i]));
        cn_conf__pop(px, old);
    }
    for (size_t i = 0; i < j->n_externals; i++) {
        const CnExternalPart *ep = &j->externals[i];
        if (ep->source.offline_group_by) {
            size_t old = cn_conf__push_key(px, "onlineExternalParts");
            size_t old2 = cn_conf__push_idx(px, i);
            size_t old3 = cn_conf__push_key(px, "source");
            size_t old4 = cn_conf__push_key(px, "offlineGroupBy");
            rc = cn_conf__validate_groupby(px, ep->source.offline_group_by);
            cn_conf__pop(px, old4);
            cn_conf__pop(px, old3);
            cn_conf__pop(px, old2);
            cn_conf__pop(px, old);
            if (rc) goto done;
        }
        for (size_t k = 0; k < i; k++) {
            const CnExternalPart *o = &j->externals[k];
            bool same_prefix = (!o->prefix && !ep->prefix) ||
                               (o->prefix && ep->prefix && !strcmp(o->prefix, ep->prefix));
            if (same_prefix && !strcmp(o->source.meta.name, ep->source.meta.name)) {
                size_t old = cn_conf__push_key(px, "onlineExternalParts");
                AT_IDX(px, i,
                       cn_conf__fail(px, CN_ECONFIG,
                                     "duplicate external part (prefix %s, source %s) of "
                                     "onlineExternalParts[%zu]",
                                     ep->prefix ? ep->prefix : "none", ep->source.meta.name, k));
                cn_conf__pop(px, old);
            }
        }
    }
    if (j->label_part) AT_KEY(px, "labelPart", validate_label_part(px, j->label_part));
    for (size_t i = 0; i < j->n_bootstraps; i++)
        if (!j->bootstraps[i].has_key_columns && !j->has_row_ids) {
            size_t old = cn_conf__push_key(px, "bootstrapParts");
            AT_IDX(px, i,
                   cn_conf__fail(px, CN_ECONFIG,
                                 "no keyColumns and the join has no rowIds (a bootstrap needs keys to "
                                 "join on)"));
            cn_conf__pop(px, old);
        }
    if (j->n_derivations) {
        CnColumnList cols;
        CnErr e2 = CN_ERR_INIT;
        rc = cn_conf__join_columns(&scratch, j, false, &cols, &e2);
        if (rc) {
            rc = cn_conf__fail(px, rc, "%s", cn_err_msg(&e2));
            goto done;
        }
        if (!cols.left_all_columns && !cols.values_unknown) {
            const char **pre = cn_arena_alloc(&scratch, (cols.n + 1) * sizeof *pre);
            const char **left = cn_arena_alloc(&scratch, (cols.n + 1) * sizeof *left);
            if (!pre || !left) TRY(cn_conf__oom(px));
            size_t n_pre = 0, n_left = 0;
            for (size_t i = 0; i < cols.n; i++) {
                if (cols.cols[i].role == CN_CONF_COL_PARTITION) continue;
                pre[n_pre++] = cols.cols[i].name;
                if (cols.cols[i].role == CN_CONF_COL_LEFT) left[n_left++] = cols.cols[i].name;
            }
            CnStrList left_list = {left, n_left};
            TRY(check_derivations(px, &scratch, j->derivations, j->n_derivations, pre, n_pre,
                                  &left_list));
        }
    }
done:
    cn_arena_fini(&scratch);
    return rc;
}

/* {{ name }} with any inner whitespace, case-insensitive as Chronon's validator. */
static bool has_template(const char *q, const char *name) {
    size_t nl = strlen(name);
    for (const char *p = strstr(q, "{{"); p; p = strstr(p + 2, "{{")) {
        const char *s = p + 2;
        while (*s == ' ' || *s == '\t' || *s == '\n') s++;
        if (strncasecmp(s, name, nl)) continue;
        s += nl;
        while (*s == ' ' || *s == '\t' || *s == '\n') s++;
        if (s[0] == '}' && s[1] == '}') return true;
    }
    return false;
}

int cn_conf__validate_staging_query(CnConfPx *px, const CnStagingQuery *sq) {
    int rc = check_deprecation(px, &sq->meta);
    if (rc) return rc;
    if (sq->create_view == 1) {
        bool s = has_template(sq->query, "start_date"), e = has_template(sq->query, "end_date");
        if (s || e) {
            size_t old = cn_conf__push_key(px, "query");
            rc = cn_conf__fail(px, CN_ECONFIG,
                               "uses {{ %s }} but createView is set (a view holds all dates; remove "
                               "the date templates)",
                               s ? "start_date" : "end_date");
            cn_conf__pop(px, old);
        }
    }
    return rc;
}
