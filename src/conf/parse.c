/* parse.c: compiled JSON -> CnGroupBy / CnJoin / CnStagingQuery, all in the conf's arena.
 * Structural checks (types, enums, required fields, unknown fields) happen here while the
 * JSON path is at hand; semantic rules live in validate.c. Field lists follow Chronon's
 * api.thrift (spec/config.md section 3). */
#include "conf/conf_int.h"

#include <string.h>

#include "base/alloc.h"
#include "base/fs.h"
#include "base/json.h"

#define TRY(x)                  \
    do {                        \
        rc = (x);               \
        if (rc) goto done;      \
    } while (0)

static void *alloc_n(CnConfPx *px, size_t n, size_t size) {
    return n ? cn_arena_calloc(px->a, n * size) : NULL;
}

static const char *const k_metadata_keys[] = {
    "name", "online", "production", "customJson", "dependencies", "tableProperties",
    "outputNamespace", "team", "modeToEnvMap", "consistencyCheck", "samplePercent",
    "offlineSchedule", "consistencySamplePercent", "historicalBackfill", "deprecationDate",
    "description", NULL};

static void metadata_init(CnMetaData *md) {
    memset(md, 0, sizeof *md);
    md->online = md->production = md->consistency_check = md->historical_backfill = CN_CONF_UNSET;
}

int cn_conf__parse_metadata(CnConfPx *px, json_t *obj, CnMetaData *md) {
    int rc;
    metadata_init(md);
    TRY(cn_conf__check_keys(px, obj, "MetaData", k_metadata_keys));
    TRY(cn_conf__str(px, obj, "name", false, &md->name));
    TRY(cn_conf__bool(px, obj, "online", &md->online));
    TRY(cn_conf__bool(px, obj, "production", &md->production));
    TRY(cn_conf__str(px, obj, "customJson", false, &md->custom_json));
    TRY(cn_conf__str_list(px, obj, "dependencies", false, NULL, &md->dependencies));
    TRY(cn_conf__str_map(px, obj, "tableProperties", NULL, &md->table_properties));
    TRY(cn_conf__str(px, obj, "outputNamespace", false, &md->output_namespace));
    TRY(cn_conf__str(px, obj, "team", false, &md->team));
    TRY(cn_conf__str_map_map(px, obj, "modeToEnvMap", &md->mode_to_env));
    TRY(cn_conf__bool(px, obj, "consistencyCheck", &md->consistency_check));
    TRY(cn_conf__double(px, obj, "samplePercent", &md->has_sample_percent, &md->sample_percent));
    TRY(cn_conf__str(px, obj, "offlineSchedule", false, &md->offline_schedule));
    TRY(cn_conf__double(px, obj, "consistencySamplePercent", &md->has_consistency_sample_percent,
                        &md->consistency_sample_percent));
    TRY(cn_conf__bool(px, obj, "historicalBackfill", &md->historical_backfill));
    TRY(cn_conf__str(px, obj, "deprecationDate", false, &md->deprecation_date));
    TRY(cn_conf__str(px, obj, "description", false, &md->description));
done:
    return rc;
}

/* metaData field of obj; with require_name the object and its name must be present. */
static int metadata_field(CnConfPx *px, json_t *obj, const char *key, bool require_name,
                          CnMetaData *md) {
    json_t *m;
    int rc = cn_conf__obj(px, obj, key, require_name, &m);
    metadata_init(md);
    if (rc || !m) return rc;
    size_t old = cn_conf__push_key(px, key);
    rc = cn_conf__parse_metadata(px, m, md);
    if (!rc && require_name && (!md->name || !*md->name))
        rc = md->name ? cn_conf__fail(px, CN_ECONFIG, "name is empty (expected \"team.module.var\")")
                      : cn_conf__str(px, m, "name", true, &md->name);
    cn_conf__pop(px, old);
    return rc;
}

static const char *const k_query_keys[] = {
    "selects", "wheres", "startPartition", "endPartition", "timeColumn", "setups",
    "mutationTimeColumn", "reversalColumn", "partitionColumn", NULL};

static int parse_query(CnConfPx *px, json_t *obj, CnQuery *q) {
    int rc;
    memset(q, 0, sizeof *q);
    TRY(cn_conf__check_keys(px, obj, "Query", k_query_keys));
    TRY(cn_conf__str_map(px, obj, "selects", &q->has_selects, &q->selects));
    TRY(cn_conf__str_list(px, obj, "wheres", false, NULL, &q->wheres));
    TRY(cn_conf__str(px, obj, "startPartition", false, &q->start_partition));
    TRY(cn_conf__str(px, obj, "endPartition", false, &q->end_partition));
    TRY(cn_conf__str(px, obj, "timeColumn", false, &q->time_column));
    TRY(cn_conf__str_list(px, obj, "setups", false, NULL, &q->setups));
    TRY(cn_conf__str(px, obj, "mutationTimeColumn", false, &q->mutation_time_column));
    TRY(cn_conf__str(px, obj, "reversalColumn", false, &q->reversal_column));
    TRY(cn_conf__str(px, obj, "partitionColumn", false, &q->partition_column));
done:
    return rc;
}

static int query_field(CnConfPx *px, json_t *obj, const char *key, bool required, bool *has,
                       CnQuery *q) {
    json_t *o;
    int rc = cn_conf__obj(px, obj, key, required, &o);
    memset(q, 0, sizeof *q);
    if (rc || !o) return rc;
    size_t old = cn_conf__push_key(px, key);
    rc = parse_query(px, o, q);
    cn_conf__pop(px, old);
    if (!rc && has) *has = true;
    return rc;
}

static const char *const k_source_keys[] = {"events", "entities", "joinSource", NULL};
static const char *const k_events_keys[] = {"table", "topic", "query", "isCumulative", NULL};
static const char *const k_entities_keys[] = {"snapshotTable", "mutationTable", "mutationTopic",
                                              "query", NULL};
static const char *const k_join_source_keys[] = {"join", "query", NULL};

static int parse_source(CnConfPx *px, json_t *obj, CnSource *s) {
    int rc;
    memset(s, 0, sizeof *s);
    s->is_cumulative = CN_CONF_UNSET;
    TRY(cn_conf__check_keys(px, obj, "Source", k_source_keys));
    size_t n_set = 0;
    const char *which = NULL;
    for (const char *const *k = k_source_keys; *k; k++)
        if (json_object_get(obj, *k) && !json_is_null(json_object_get(obj, *k))) {
            n_set++;
            which = *k;
        }
    if (n_set != 1) {
        rc = cn_conf__fail(px, CN_ECONFIG,
                           "a Source must set exactly one of events, entities, joinSource (found %zu)",
                           n_set);
        goto done;
    }
    json_t *o;
    TRY(cn_conf__obj(px, obj, which, true, &o));
    size_t old = cn_conf__push_key(px, which);
    if (!strcmp(which, "events")) {
        s->kind = CN_CONF_SRC_EVENTS;
        rc = cn_conf__check_keys(px, o, "EventSource", k_events_keys);
        if (!rc) rc = cn_conf__str(px, o, "table", true, &s->table);
        if (!rc) rc = cn_conf__str(px, o, "topic", false, &s->topic);
        if (!rc) rc = query_field(px, o, "query", true, NULL, &s->query);
        if (!rc) rc = cn_conf__bool(px, o, "isCumulative", &s->is_cumulative);
    } else if (!strcmp(which, "entities")) {
        s->kind = CN_CONF_SRC_ENTITIES;
        rc = cn_conf__check_keys(px, o, "EntitySource", k_entities_keys);
        if (!rc) rc = cn_conf__str(px, o, "snapshotTable", true, &s->table);
        if (!rc) rc = cn_conf__str(px, o, "mutationTable", false, &s->mutation_table);
        if (!rc) rc = cn_conf__str(px, o, "mutationTopic", false, &s->topic);
        if (!rc) rc = query_field(px, o, "query", true, NULL, &s->query);
    } else {
        s->kind = CN_CONF_SRC_JOIN;
        rc = cn_conf__check_keys(px, o, "JoinSource", k_join_source_keys);
        json_t *jo = NULL;
        if (!rc) rc = cn_conf__obj(px, o, "join", true, &jo);
        if (!rc) {
            CnJoin *j = cn_arena_calloc(px->a, sizeof *j);
            if (!j) rc = cn_conf__oom(px);
            size_t old2 = cn_conf__push_key(px, "join");
            if (!rc) rc = cn_conf__parse_join(px, jo, j);
            cn_conf__pop(px, old2);
            s->join = j;
        }
        if (!rc) rc = query_field(px, o, "query", true, NULL, &s->query);
    }
    cn_conf__pop(px, old);
done:
    return rc;
}

static int source_field(CnConfPx *px, json_t *obj, const char *key, CnSource *s) {
    json_t *o;
    int rc = cn_conf__obj(px, obj, key, true, &o);
    if (rc) return rc;
    size_t old = cn_conf__push_key(px, key);
    rc = parse_source(px, o, s);
    cn_conf__pop(px, old);
    return rc;
}

static const char *const k_window_keys[] = {"length", "timeUnit", NULL};
static const char *const k_agg_keys[] = {"inputColumn", "operation", "argMap", "windows",
                                         "buckets", "elementWise", NULL};

static int parse_window(CnConfPx *px, json_t *obj, CnWindow *w) {
    int rc = cn_conf__check_keys(px, obj, "Window", k_window_keys);
    if (!rc) rc = cn_conf__i32(px, obj, "length", true, NULL, &w->length);
    int unit = 0;
    if (!rc) rc = cn_conf__enum(px, obj, "timeUnit", "TimeUnit", 2, true, NULL, &unit);
    w->unit = (CnTimeUnit)unit;
    return rc;
}

/* Parses argMap "k" as a decimal int32; -1 when absent. */
static int parse_k(CnConfPx *px, CnAggregation *ag) {
    const char *k = cn_conf_map_get(&ag->arg_map, "k");
    ag->k = -1;
    if (!k) return 0;
    const char *p = k;
    long long v = 0;
    bool ok = *p != 0;
    if (*p == '-' || *p == '+') p++;
    if (!*p) ok = false;
    for (; *p && ok; p++) {
        if (*p < '0' || *p > '9' || v > INT32_MAX) ok = false;
        else v = v * 10 + (*p - '0');
    }
    if (k[0] == '-') v = -v;
    if (!ok || v > INT32_MAX || v < INT32_MIN) {
        size_t old = cn_conf__push_key(px, "argMap");
        size_t old2 = cn_conf__push_key(px, "k");
        int rc = cn_conf__fail(px, CN_ECONFIG, "invalid value \"%s\" (expected an integer)", k);
        cn_conf__pop(px, old2);
        cn_conf__pop(px, old);
        return rc;
    }
    ag->k = (int32_t)v;
    return 0;
}

static int parse_aggregation(CnConfPx *px, json_t *obj, CnAggregation *ag) {
    int rc;
    memset(ag, 0, sizeof *ag);
    ag->element_wise = CN_CONF_UNSET;
    TRY(cn_conf__check_keys(px, obj, "Aggregation", k_agg_keys));
    TRY(cn_conf__str(px, obj, "inputColumn", true, &ag->input_column));
    int op = 0;
    TRY(cn_conf__enum(px, obj, "operation", "Operation", CN_CONF_N_OPS, true, NULL, &op));
    ag->op = (CnOperation)op;
    TRY(cn_conf__str_map(px, obj, "argMap", NULL, &ag->arg_map));
    json_t *wins;
    TRY(cn_conf__arr(px, obj, "windows", false, &wins));
    if (wins) {
        ag->has_windows = true;
        ag->n_windows = json_array_size(wins);
        ag->windows = alloc_n(px, ag->n_windows, sizeof *ag->windows);
        if (ag->n_windows && !ag->windows) TRY(cn_conf__oom(px));
        size_t old = cn_conf__push_key(px, "windows");
        for (size_t i = 0; i < ag->n_windows && !rc; i++) {
            size_t old2 = cn_conf__push_idx(px, i);
            json_t *w = json_array_get(wins, i);
            if (!json_is_object(w))
                rc = cn_conf__fail(px, CN_ECONFIG, "expected a Window object, got %s",
                                   cn_json_type_name(w));
            else rc = parse_window(px, w, &ag->windows[i]);
            cn_conf__pop(px, old2);
        }
        cn_conf__pop(px, old);
        if (rc) goto done;
    }
    TRY(cn_conf__str_list(px, obj, "buckets", false, NULL, &ag->buckets));
    TRY(cn_conf__bool(px, obj, "elementWise", &ag->element_wise));
    TRY(parse_k(px, ag));
done:
    return rc;
}

static const char *const k_derivation_keys[] = {"name", "expression", "metaData", NULL};

static int parse_derivations(CnConfPx *px, json_t *obj, CnDerivation **out, size_t *n_out) {
    json_t *arr;
    int rc = cn_conf__arr(px, obj, "derivations", false, &arr);
    *out = NULL;
    *n_out = 0;
    if (rc || !arr) return rc;
    size_t n = json_array_size(arr);
    CnDerivation *ds = alloc_n(px, n, sizeof *ds);
    if (n && !ds) return cn_conf__oom(px);
    size_t old = cn_conf__push_key(px, "derivations");
    for (size_t i = 0; i < n && !rc; i++) {
        size_t old2 = cn_conf__push_idx(px, i);
        json_t *d = json_array_get(arr, i);
        if (!json_is_object(d)) {
            rc = cn_conf__fail(px, CN_ECONFIG, "expected a Derivation object, got %s",
                               cn_json_type_name(d));
        } else {
            rc = cn_conf__check_keys(px, d, "Derivation", k_derivation_keys);
            if (!rc) rc = cn_conf__str(px, d, "name", true, &ds[i].name);
            if (!rc) rc = cn_conf__str(px, d, "expression", true, &ds[i].expression);
            CnMetaData md;
            if (!rc) rc = metadata_field(px, d, "metaData", false, &md);
            if (!rc) ds[i].description = md.description;
        }
        cn_conf__pop(px, old2);
    }
    cn_conf__pop(px, old);
    if (!rc) {
        *out = ds;
        *n_out = n;
    }
    return rc;
}

static const char *const k_groupby_keys[] = {"metaData", "sources", "keyColumns", "aggregations",
                                             "accuracy", "backfillStartDate", "derivations",
                                             "isIncremental", NULL};

int cn_conf__parse_groupby(CnConfPx *px, json_t *obj, CnGroupBy *gb) {
    int rc;
    memset(gb, 0, sizeof *gb);
    gb->accuracy = CN_CONF_ACCURACY_UNSET;
    gb->is_incremental = CN_CONF_UNSET;
    TRY(cn_conf__check_keys(px, obj, "GroupBy", k_groupby_keys));
    TRY(metadata_field(px, obj, "metaData", true, &gb->meta));
    json_t *srcs;
    TRY(cn_conf__arr(px, obj, "sources", true, &srcs));
    gb->n_sources = json_array_size(srcs);
    if (gb->n_sources == 0) {
        size_t old = cn_conf__push_key(px, "sources");
        rc = cn_conf__fail(px, CN_ECONFIG, "no sources (expected at least one Source)");
        cn_conf__pop(px, old);
        goto done;
    }
    gb->sources = alloc_n(px, gb->n_sources, sizeof *gb->sources);
    if (!gb->sources) TRY(cn_conf__oom(px));
    size_t old = cn_conf__push_key(px, "sources");
    for (size_t i = 0; i < gb->n_sources && !rc; i++) {
        size_t old2 = cn_conf__push_idx(px, i);
        json_t *s = json_array_get(srcs, i);
        if (!json_is_object(s))
            rc = cn_conf__fail(px, CN_ECONFIG, "expected a Source object, got %s", cn_json_type_name(s));
        else rc = parse_source(px, s, &gb->sources[i]);
        cn_conf__pop(px, old2);
    }
    cn_conf__pop(px, old);
    if (rc) goto done;
    TRY(cn_conf__str_list(px, obj, "keyColumns", true, NULL, &gb->key_columns));
    json_t *aggs;
    TRY(cn_conf__arr(px, obj, "aggregations", false, &aggs));
    if (aggs) {
        gb->has_aggregations = true;
        gb->n_aggs = json_array_size(aggs);
        gb->aggs = alloc_n(px, gb->n_aggs, sizeof *gb->aggs);
        if (gb->n_aggs && !gb->aggs) TRY(cn_conf__oom(px));
        old = cn_conf__push_key(px, "aggregations");
        for (size_t i = 0; i < gb->n_aggs && !rc; i++) {
            size_t old2 = cn_conf__push_idx(px, i);
            json_t *a = json_array_get(aggs, i);
            if (!json_is_object(a))
                rc = cn_conf__fail(px, CN_ECONFIG, "expected an Aggregation object, got %s",
                                   cn_json_type_name(a));
            else rc = parse_aggregation(px, a, &gb->aggs[i]);
            cn_conf__pop(px, old2);
        }
        cn_conf__pop(px, old);
        if (rc) goto done;
    }
    int acc = 0;
    bool has_acc = false;
    TRY(cn_conf__enum(px, obj, "accuracy", "Accuracy", 2, false, &has_acc, &acc));
    if (has_acc) gb->accuracy = (CnAccuracy)acc;
    TRY(cn_conf__str(px, obj, "backfillStartDate", false, &gb->backfill_start_date));
    TRY(parse_derivations(px, obj, &gb->derivations, &gb->n_derivations));
    TRY(cn_conf__bool(px, obj, "isIncremental", &gb->is_incremental));
done:
    return rc;
}

static const char *const k_join_part_keys[] = {"groupBy", "keyMapping", "prefix", NULL};

static int parse_join_part(CnConfPx *px, json_t *obj, CnJoinPart *jp) {
    int rc;
    memset(jp, 0, sizeof *jp);
    TRY(cn_conf__check_keys(px, obj, "JoinPart", k_join_part_keys));
    json_t *g;
    TRY(cn_conf__obj(px, obj, "groupBy", true, &g));
    jp->group_by = cn_arena_calloc(px->a, sizeof *jp->group_by);
    if (!jp->group_by) TRY(cn_conf__oom(px));
    size_t old = cn_conf__push_key(px, "groupBy");
    rc = cn_conf__parse_groupby(px, g, jp->group_by);
    cn_conf__pop(px, old);
    if (rc) goto done;
    TRY(cn_conf__str_map(px, obj, "keyMapping", NULL, &jp->key_mapping));
    TRY(cn_conf__str(px, obj, "prefix", false, &jp->prefix));
done:
    return rc;
}

/* Parses the array under key with one parser per element. */
typedef int (*ElemFn)(CnConfPx *px, json_t *obj, void *elem);

static int parse_array(CnConfPx *px, json_t *obj, const char *key, const char *what, bool required,
                       size_t elem_size, ElemFn fn, void **out, size_t *n_out) {
    json_t *arr;
    int rc = cn_conf__arr(px, obj, key, required, &arr);
    *out = NULL;
    *n_out = 0;
    if (rc || !arr) return rc;
    size_t n = json_array_size(arr);
    char *items = alloc_n(px, n, elem_size);
    if (n && !items) return cn_conf__oom(px);
    size_t old = cn_conf__push_key(px, key);
    for (size_t i = 0; i < n && !rc; i++) {
        size_t old2 = cn_conf__push_idx(px, i);
        json_t *e = json_array_get(arr, i);
        if (!json_is_object(e))
            rc = cn_conf__fail(px, CN_ECONFIG, "expected a %s object, got %s", what,
                               cn_json_type_name(e));
        else rc = fn(px, e, items + i * elem_size);
        cn_conf__pop(px, old2);
    }
    cn_conf__pop(px, old);
    if (!rc) {
        *out = items;
        *n_out = n;
    }
    return rc;
}

static int join_part_elem(CnConfPx *px, json_t *obj, void *elem) {
    return parse_join_part(px, obj, elem);
}

static const char *const k_data_type_keys[] = {"kind", "params", "name", NULL};
static const char *const k_data_field_keys[] = {"name", "dataType", NULL};

static int parse_data_type(CnConfPx *px, json_t *obj, CnDataType *t);

static int data_type_field(CnConfPx *px, json_t *obj, const char *key, bool required,
                           const CnDataType **out) {
    json_t *o;
    int rc = cn_conf__obj(px, obj, key, required, &o);
    *out = NULL;
    if (rc || !o) return rc;
    CnDataType *t = cn_arena_calloc(px->a, sizeof *t);
    if (!t) return cn_conf__oom(px);
    size_t old = cn_conf__push_key(px, key);
    rc = parse_data_type(px, o, t);
    cn_conf__pop(px, old);
    if (!rc) *out = t;
    return rc;
}

static int data_field_elem(CnConfPx *px, json_t *obj, void *elem) {
    CnDataField *f = elem;
    int rc = cn_conf__check_keys(px, obj, "DataField", k_data_field_keys);
    if (!rc) rc = cn_conf__str(px, obj, "name", true, &f->name);
    if (!rc) rc = data_type_field(px, obj, "dataType", true, &f->type);
    return rc;
}

static int parse_data_type(CnConfPx *px, json_t *obj, CnDataType *t) {
    int rc = cn_conf__check_keys(px, obj, "TDataType", k_data_type_keys);
    int kind = 0;
    if (!rc) rc = cn_conf__enum(px, obj, "kind", "DataKind", CN_CONF_N_DATA_KINDS, true, NULL, &kind);
    t->kind = (CnDataKind)kind;
    void *params = NULL;
    if (!rc)
        rc = parse_array(px, obj, "params", "DataField", false, sizeof(CnDataField), data_field_elem,
                         &params, &t->n_params);
    t->params = params;
    if (!rc) rc = cn_conf__str(px, obj, "name", false, &t->name);
    return rc;
}

static const char *const k_external_source_keys[] = {"metadata", "keySchema", "valueSchema",
                                                     "factoryConfig", "offlineGroupBy", NULL};
static const char *const k_factory_keys[] = {"factoryName", "factoryParams", NULL};
static const char *const k_external_part_keys[] = {"source", "keyMapping", "prefix", NULL};

static int parse_external_source(CnConfPx *px, json_t *obj, CnExternalSource *s) {
    int rc;
    TRY(cn_conf__check_keys(px, obj, "ExternalSource", k_external_source_keys));
    TRY(metadata_field(px, obj, "metadata", true, &s->meta));
    TRY(data_type_field(px, obj, "keySchema", true, &s->key_schema));
    TRY(data_type_field(px, obj, "valueSchema", true, &s->value_schema));
    json_t *fc;
    TRY(cn_conf__obj(px, obj, "factoryConfig", false, &fc));
    if (fc) {
        size_t old = cn_conf__push_key(px, "factoryConfig");
        rc = cn_conf__check_keys(px, fc, "ExternalSourceFactoryConfig", k_factory_keys);
        if (!rc) rc = cn_conf__str(px, fc, "factoryName", false, &s->factory_name);
        if (!rc) rc = cn_conf__str_map(px, fc, "factoryParams", NULL, &s->factory_params);
        cn_conf__pop(px, old);
        if (rc) goto done;
    }
    json_t *g;
    TRY(cn_conf__obj(px, obj, "offlineGroupBy", false, &g));
    if (g) {
        s->offline_group_by = cn_arena_calloc(px->a, sizeof *s->offline_group_by);
        if (!s->offline_group_by) TRY(cn_conf__oom(px));
        size_t old = cn_conf__push_key(px, "offlineGroupBy");
        rc = cn_conf__parse_groupby(px, g, s->offline_group_by);
        cn_conf__pop(px, old);
    }
done:
    return rc;
}

static int external_part_elem(CnConfPx *px, json_t *obj, void *elem) {
    CnExternalPart *ep = elem;
    int rc;
    TRY(cn_conf__check_keys(px, obj, "ExternalPart", k_external_part_keys));
    json_t *s;
    TRY(cn_conf__obj(px, obj, "source", true, &s));
    size_t old = cn_conf__push_key(px, "source");
    rc = parse_external_source(px, s, &ep->source);
    cn_conf__pop(px, old);
    if (rc) goto done;
    TRY(cn_conf__str_map(px, obj, "keyMapping", NULL, &ep->key_mapping));
    TRY(cn_conf__str(px, obj, "prefix", false, &ep->prefix));
done:
    return rc;
}

static const char *const k_bootstrap_keys[] = {"metaData", "table", "query", "keyColumns", NULL};

static int bootstrap_elem(CnConfPx *px, json_t *obj, void *elem) {
    CnBootstrapPart *b = elem;
    int rc;
    TRY(cn_conf__check_keys(px, obj, "BootstrapPart", k_bootstrap_keys));
    TRY(metadata_field(px, obj, "metaData", false, &b->meta));
    TRY(cn_conf__str(px, obj, "table", true, &b->table));
    TRY(query_field(px, obj, "query", false, &b->has_query, &b->query));
    TRY(cn_conf__str_list(px, obj, "keyColumns", false, &b->has_key_columns, &b->key_columns));
done:
    return rc;
}

static const char *const k_label_keys[] = {"labels", "leftStartOffset", "leftEndOffset",
                                           "metaData", NULL};

static int parse_label_part(CnConfPx *px, json_t *obj, CnLabelPart *lp) {
    int rc;
    TRY(cn_conf__check_keys(px, obj, "LabelPart", k_label_keys));
    void *labels = NULL;
    TRY(parse_array(px, obj, "labels", "JoinPart", true, sizeof(CnJoinPart), join_part_elem, &labels,
                    &lp->n_labels));
    lp->labels = labels;
    TRY(cn_conf__i32(px, obj, "leftStartOffset", false, &lp->has_left_start_offset,
                     &lp->left_start_offset));
    TRY(cn_conf__i32(px, obj, "leftEndOffset", false, &lp->has_left_end_offset,
                     &lp->left_end_offset));
    TRY(metadata_field(px, obj, "metaData", false, &lp->meta));
done:
    return rc;
}

static const char *const k_join_keys[] = {"metaData", "left", "joinParts", "skewKeys",
                                          "onlineExternalParts", "labelPart", "bootstrapParts",
                                          "rowIds", "derivations", "modelTransforms", NULL};

int cn_conf__parse_join(CnConfPx *px, json_t *obj, CnJoin *j) {
    int rc;
    memset(j, 0, sizeof *j);
    TRY(cn_conf__check_keys(px, obj, "Join", k_join_keys));
    TRY(metadata_field(px, obj, "metaData", true, &j->meta));
    TRY(source_field(px, obj, "left", &j->left));
    void *items = NULL;
    TRY(parse_array(px, obj, "joinParts", "JoinPart", true, sizeof(CnJoinPart), join_part_elem,
                    &items, &j->n_parts));
    j->parts = items;
    json_t *skew;
    TRY(cn_conf__obj(px, obj, "skewKeys", false, &skew));
    if (skew) {
        size_t n = json_object_size(skew);
        j->skew_key_names = alloc_n(px, n, sizeof *j->skew_key_names);
        j->skew_key_values = alloc_n(px, n, sizeof *j->skew_key_values);
        if (n && (!j->skew_key_names || !j->skew_key_values)) TRY(cn_conf__oom(px));
        size_t old = cn_conf__push_key(px, "skewKeys");
        const char *k;
        json_t *v;
        json_object_foreach(skew, k, v) {
            rc = cn_conf__str_list(px, skew, k, true, NULL, &j->skew_key_values[j->n_skew_keys]);
            if (rc) break;
            j->skew_key_names[j->n_skew_keys] = cn_arena_strdup(px->a, k);
            if (!j->skew_key_names[j->n_skew_keys]) {
                rc = cn_conf__oom(px);
                break;
            }
            j->n_skew_keys++;
        }
        cn_conf__pop(px, old);
        if (rc) goto done;
    }
    TRY(parse_array(px, obj, "onlineExternalParts", "ExternalPart", false, sizeof(CnExternalPart),
                    external_part_elem, &items, &j->n_externals));
    j->externals = items;
    json_t *lp;
    TRY(cn_conf__obj(px, obj, "labelPart", false, &lp));
    if (lp) {
        CnLabelPart *l = cn_arena_calloc(px->a, sizeof *l);
        if (!l) TRY(cn_conf__oom(px));
        size_t old = cn_conf__push_key(px, "labelPart");
        rc = parse_label_part(px, lp, l);
        cn_conf__pop(px, old);
        if (rc) goto done;
        j->label_part = l;
    }
    TRY(parse_array(px, obj, "bootstrapParts", "BootstrapPart", false, sizeof(CnBootstrapPart),
                    bootstrap_elem, &items, &j->n_bootstraps));
    j->bootstraps = items;
    TRY(cn_conf__str_list(px, obj, "rowIds", false, &j->has_row_ids, &j->row_ids));
    TRY(parse_derivations(px, obj, &j->derivations, &j->n_derivations));
    json_t *mt;
    TRY(cn_conf__obj(px, obj, "modelTransforms", false, &mt));
    if (mt) {
        size_t need = json_dumpb(mt, NULL, 0, JSON_COMPACT | JSON_PRESERVE_ORDER);
        char *text = cn_arena_alloc(px->a, need + 1);
        if (text) {
            json_dumpb(mt, text, need, JSON_COMPACT | JSON_PRESERVE_ORDER);
            text[need] = 0;
        }
        j->model_transforms_json = text;
        if (!j->model_transforms_json) TRY(cn_conf__oom(px));
    }
done:
    return rc;
}

static const char *const k_staging_keys[] = {"metaData", "query", "startPartition", "setups",
                                             "createView", NULL};

int cn_conf__parse_staging_query(CnConfPx *px, json_t *obj, CnStagingQuery *sq) {
    int rc;
    memset(sq, 0, sizeof *sq);
    sq->create_view = CN_CONF_UNSET;
    TRY(cn_conf__check_keys(px, obj, "StagingQuery", k_staging_keys));
    TRY(metadata_field(px, obj, "metaData", true, &sq->meta));
    TRY(cn_conf__str(px, obj, "query", true, &sq->query));
    TRY(cn_conf__str(px, obj, "startPartition", false, &sq->start_partition));
    TRY(cn_conf__str_list(px, obj, "setups", false, NULL, &sq->setups));
    TRY(cn_conf__bool(px, obj, "createView", &sq->create_view));
done:
    return rc;
}

/* ---- load ---- */

/* production/<kind>/<team>/<file>: the third-last segment names the kind, as in run.py. */
static CnConfKind kind_from_path(const char *path) {
    const char *seg[3] = {NULL, NULL, NULL};
    size_t len[3] = {0, 0, 0};
    const char *end = path + strlen(path);
    while (end > path && end[-1] == '/') end--;
    for (int i = 0; i < 3; i++) {
        const char *start = end;
        while (start > path && start[-1] != '/') start--;
        seg[i] = start;
        len[i] = (size_t)(end - start);
        if (start == path) break;
        end = start - 1;
        while (end > path && end[-1] == '/') end--;
    }
    if (!seg[2]) return CN_CONF_KIND_UNKNOWN;
    for (int k = 0; k < 3; k++) {
        const char *f = cn_conf_kind_folder((CnConfKind)k);
        if (len[2] == strlen(f) && !memcmp(seg[2], f, len[2])) return (CnConfKind)k;
    }
    return CN_CONF_KIND_UNKNOWN;
}

static CnConfKind kind_from_content(json_t *root) {
    if (json_object_get(root, "left") || json_object_get(root, "joinParts")) return CN_CONF_JOIN;
    if (json_is_string(json_object_get(root, "query"))) return CN_CONF_STAGING_QUERY;
    if (json_object_get(root, "sources") || json_object_get(root, "keyColumns") ||
        json_object_get(root, "aggregations"))
        return CN_CONF_GROUP_BY;
    return CN_CONF_KIND_UNKNOWN;
}

void cn_conf_free(CnConf *c) {
    if (!c) return;
    cn_arena_fini(&c->arena);
    cn_free(c);
}

int cn_conf_loadb(const char *name, const char *buf, size_t len, CnConfKind kind, CnConf **out,
                  CnErr *err) {
    json_t *root = NULL;
    CnConf *c = NULL;
    *out = NULL;
    int rc = cn_json_loadb(name, buf, len, &root, err);
    if (rc) goto done;
    c = cn_calloc(1, sizeof *c);
    if (!c) {
        rc = cn_err_set(err, CN_ENOMEM, "%s: out of memory", name);
        goto done;
    }
    cn_arena_init(&c->arena, 0);
    CnConfPx px = {.a = &c->arena, .file = name, .err = err};
    if (!json_is_object(root)) {
        rc = cn_conf__fail(&px, CN_ECONFIG, "expected a JSON object at the top level, got %s",
                           cn_json_type_name(root));
        goto done;
    }
    if (kind == CN_CONF_KIND_UNKNOWN) kind = kind_from_path(name);
    if (kind == CN_CONF_KIND_UNKNOWN) kind = kind_from_content(root);
    if (kind == CN_CONF_KIND_UNKNOWN) {
        rc = cn_conf__fail(&px, CN_ECONFIG,
                           "cannot tell the config kind (expected a path production/<group_bys|joins|"
                           "staging_queries>/<team>/<name>, or GroupBy, Join or StagingQuery fields)");
        goto done;
    }
    c->kind = kind;
    c->path = cn_arena_strdup(&c->arena, name);
    if (!c->path) {
        rc = cn_conf__oom(&px);
        goto done;
    }
    switch (kind) {
    case CN_CONF_GROUP_BY:
        c->group_by = cn_arena_calloc(&c->arena, sizeof *c->group_by);
        if (!c->group_by) rc = cn_conf__oom(&px);
        if (!rc) rc = cn_conf__parse_groupby(&px, root, c->group_by);
        if (!rc) rc = cn_conf__validate_groupby(&px, c->group_by);
        if (!rc) c->meta = &c->group_by->meta;
        break;
    case CN_CONF_JOIN:
        c->join = cn_arena_calloc(&c->arena, sizeof *c->join);
        if (!c->join) rc = cn_conf__oom(&px);
        if (!rc) rc = cn_conf__parse_join(&px, root, c->join);
        if (!rc) rc = cn_conf__validate_join(&px, c->join);
        if (!rc) c->meta = &c->join->meta;
        break;
    case CN_CONF_STAGING_QUERY:
        c->staging_query = cn_arena_calloc(&c->arena, sizeof *c->staging_query);
        if (!c->staging_query) rc = cn_conf__oom(&px);
        if (!rc) rc = cn_conf__parse_staging_query(&px, root, c->staging_query);
        if (!rc) rc = cn_conf__validate_staging_query(&px, c->staging_query);
        if (!rc) c->meta = &c->staging_query->meta;
        break;
    case CN_CONF_KIND_UNKNOWN: break;
    }
done:
    if (root) json_decref(root);
    if (rc) cn_conf_free(c);
    else *out = c;
    return rc;
}

int cn_conf_load(const char *path, CnConf **out, CnErr *err) {
    char *buf = NULL;
    size_t len = 0;
    *out = NULL;
    int rc = cn_fs_read_all(path, &buf, &len, err);
    if (!rc) rc = cn_conf_loadb(path, buf, len, CN_CONF_KIND_UNKNOWN, out, err);
    cn_free(buf);
    return rc;
}
