/* test_conf.c: the compiled-config model. Fixtures under tests/conf/fixtures are written
 * by hand; every expected column name below is derived from spec/config.md section 8
 * (and compute.md section 3), not produced by the code under test. */
#include "cn_test.h"

#include <limits.h>

#include "base/alloc.h"
#include "conf/conf.h"

static const char *fixture(const char *rel) {
    static char path[PATH_MAX];
    const char *src = getenv("CN_SOURCE_DIR");
    if (!src) cn_test_skip("CN_SOURCE_DIR is not set (run through ctest)");
    snprintf(path, sizeof path, "%s/tests/conf/fixtures/%s", src, rel);
    return path;
}

static CnConf *load_ok(const char *rel) {
    CnErr err = CN_ERR_INIT;
    CnConf *c = NULL;
    ASSERT_OK(cn_conf_load(fixture(rel), &c, &err), &err);
    assert_non_null(c);
    return c;
}

static void expect_columns(const CnColumnList *l, const char *const *names, size_t n) {
    char got[4096];
    size_t len = 0;
    got[0] = 0;
    for (size_t i = 0; i < l->n && len < sizeof got; i++)
        len += (size_t)snprintf(got + len, sizeof got - len, "%s ", l->cols[i].name);
    if (l->n != n) fail_msg("expected %zu columns, got %zu: %s", n, l->n, got);
    for (size_t i = 0; i < n; i++)
        if (strcmp(l->cols[i].name, names[i]))
            fail_msg("column %zu: expected %s, got %s (all: %s)", i, names[i], l->cols[i].name, got);
}

static const CnColumn *col(const CnColumnList *l, const char *name) {
    for (size_t i = 0; i < l->n; i++)
        if (!strcmp(l->cols[i].name, name)) return &l->cols[i];
    fail_msg("no column %s", name);
    return NULL;
}

static void expect_rule(CnArena *a, const CnColumnList *l, const char *name, const char *rule) {
    assert_string_equal(cn_conf_type_rule_str(a, &col(l, name)->type), rule);
}

/* ---- GroupBy ---- */

static void groupby_every_operation_window_and_bucket(void **state) {
    (void)state;
    CnConf *c = load_ok("production/group_bys/team_a/all_ops.v1");
    CnArena a;
    cn_arena_init(&a, 0);
    CnErr err = CN_ERR_INIT;
    assert_int_equal(c->kind, CN_CONF_GROUP_BY);
    const CnGroupBy *gb = c->group_by;
    assert_string_equal(gb->meta.name, "team_a.all_ops.v1");
    assert_int_equal(gb->meta.online, 1);      /* written as true */
    assert_int_equal(gb->meta.production, 0);  /* written as false */
    assert_int_equal(gb->n_aggs, 22);
    for (int op = 0; op < CN_CONF_N_OPS; op++) {
        bool seen = false;
        for (size_t i = 0; i < gb->n_aggs; i++) seen |= (int)gb->aggs[i].op == op;
        if (!seen) fail_msg("fixture lacks operation %s", cn_conf_op_name((CnOperation)op));
    }
    assert_int_equal(gb->aggs[13].k, 10);
    assert_int_equal(gb->aggs[20].element_wise, 1);
    assert_int_equal(gb->sources[0].query.wheres.n, 2);
    assert_string_equal(gb->sources[0].query.end_partition, "2024-12-31");
    assert_int_equal(cn_conf_groupby_accuracy(gb), CN_CONF_TEMPORAL);

    CnColumnList cols;
    ASSERT_OK(cn_conf_groupby_output_columns(&a, gb, &cols, &err), &err);
    static const char *const want[] = {
        "user_id",
        "amount_min",
        "amount_max_1h", "amount_max_7d",
        "item_first",
        "item_last_24h",
        "item_unique_count",
        "item_approx_unique_count",
        /* buckets outer, windows inner */
        "amount_count_1d_by_category", "amount_count_30d_by_category",
        "amount_sum_3d_by_category", "amount_sum_12h_by_category",
        "amount_sum_3d_by_device", "amount_sum_12h_by_device",
        "amount_average", "amount_variance", "amount_skew", "amount_kurtosis",
        "amount_approx_percentile",
        "item_last10", "item_first3_2d", "amount_top5", "amount_bottom2",
        "category_histogram", "category_approx_histogram_k", "item_bounded_unique_count",
        "tags_sum", "ts_max",
        "ds"};
    expect_columns(&cols, want, CN_ARRAY_LEN(want));
    assert_int_equal(cols.cols[0].role, CN_CONF_COL_KEY);
    assert_int_equal(cols.cols[1].role, CN_CONF_COL_VALUE);
    assert_int_equal(cols.cols[cols.n - 1].role, CN_CONF_COL_PARTITION);
    expect_rule(&a, &cols, "user_id", "type(user_id)");
    expect_rule(&a, &cols, "amount_min", "type(amount)");
    expect_rule(&a, &cols, "item_first", "type(item)");
    expect_rule(&a, &cols, "item_unique_count", "long");
    expect_rule(&a, &cols, "amount_count_1d_by_category", "map<string,long>");
    expect_rule(&a, &cols, "amount_sum_12h_by_device", "map<string,sum_type(amount)>");
    expect_rule(&a, &cols, "amount_average", "double");
    expect_rule(&a, &cols, "amount_kurtosis", "double");
    expect_rule(&a, &cols, "amount_approx_percentile", "list<float>");
    expect_rule(&a, &cols, "item_last10", "list<type(item)>");
    expect_rule(&a, &cols, "amount_bottom2", "list<type(amount)>");
    expect_rule(&a, &cols, "category_histogram", "map<string,int>");
    expect_rule(&a, &cols, "category_approx_histogram_k", "map<string,long>");
    expect_rule(&a, &cols, "item_bounded_unique_count", "long");
    expect_rule(&a, &cols, "tags_sum", "list<sum_type(tags)>");
    expect_rule(&a, &cols, "ds", "string");

    CnAggPart *parts;
    size_t n;
    ASSERT_OK(cn_conf_groupby_agg_parts(&a, gb, &parts, &n, &err), &err);
    assert_int_equal(n, cols.n - 2);
    assert_string_equal(parts[4].name, "item_last_24h");
    assert_int_equal(parts[4].window->length, 24);
    assert_int_equal(parts[4].window->unit, CN_CONF_HOURS);
    assert_null(parts[0].window);
    assert_string_equal(parts[11].bucket, "device");

    assert_string_equal(cn_conf_output_table(&a, &gb->meta, &err), "ns_a.team_a_all_ops_v1");
    assert_string_equal(cn_conf_table_with_suffix(&a, &gb->meta, "_upload", &err),
                        "ns_a.team_a_all_ops_v1_upload");
    assert_string_equal(cn_conf_batch_dataset(&a, &gb->meta), "TEAM_A_ALL_OPS_V1_BATCH");
    assert_string_equal(cn_conf_streaming_dataset(&a, &gb->meta), "TEAM_A_ALL_OPS_V1_STREAMING");
    cn_arena_fini(&a);
    cn_conf_free(c);
}

static void groupby_entity_without_aggregations(void **state) {
    (void)state;
    /* users.v1 has no trailing newline and writes bools as 1/0. */
    CnConf *c = load_ok("production/group_bys/team_a/users.v1");
    CnArena a;
    cn_arena_init(&a, 0);
    CnErr err = CN_ERR_INIT;
    const CnGroupBy *gb = c->group_by;
    assert_false(gb->has_aggregations);
    assert_int_equal(gb->meta.online, 1);
    assert_int_equal(gb->meta.production, 1);
    assert_int_equal(cn_conf_source_model(&gb->sources[0]), CN_CONF_ENTITIES);
    assert_int_equal(gb->accuracy, CN_CONF_ACCURACY_UNSET);
    assert_int_equal(cn_conf_groupby_accuracy(gb), CN_CONF_SNAPSHOT);
    CnColumnList cols;
    ASSERT_OK(cn_conf_groupby_output_columns(&a, gb, &cols, &err), &err);
    static const char *const want[] = {"user_id", "age", "country", "ds"};
    expect_columns(&cols, want, CN_ARRAY_LEN(want));
    assert_int_equal(cols.cols[1].role, CN_CONF_COL_SELECT);
    expect_rule(&a, &cols, "country", "type(country)");
    cn_arena_fini(&a);
    cn_conf_free(c);
}

static void groupby_derivations_star_and_renames(void **state) {
    (void)state;
    CnConf *c = load_ok("production/group_bys/team_a/derived.v1");
    CnArena a;
    cn_arena_init(&a, 0);
    CnErr err = CN_ERR_INIT;
    const CnGroupBy *gb = c->group_by;
    assert_int_equal(gb->n_derivations, 4);
    assert_string_equal(gb->derivations[2].description, "average over the window");
    CnColumnList cols;
    ASSERT_OK(cn_conf_groupby_output_columns(&a, gb, &cols, &err), &err);
    /* keys first; `*` expands in place to amount_count only (amount_sum_7d is renamed
     * to total); the key stays even though uid renames it; ds last. */
    static const char *const want[] = {"user_id", "total", "amount_count", "ratio", "uid", "ds"};
    expect_columns(&cols, want, CN_ARRAY_LEN(want));
    expect_rule(&a, &cols, "total", "sum_type(amount)");
    expect_rule(&a, &cols, "amount_count", "long");
    expect_rule(&a, &cols, "ratio", "expr(amount_sum_7d / amount_count)");
    assert_int_equal(col(&cols, "ratio")->role, CN_CONF_COL_DERIVED);
    CnColumnList vals;
    ASSERT_OK(cn_conf_groupby_value_columns(&a, gb, &vals, &err), &err);
    static const char *const want_vals[] = {"total", "amount_count", "ratio", "uid"};
    expect_columns(&vals, want_vals, CN_ARRAY_LEN(want_vals));
    cn_arena_fini(&a);
    cn_conf_free(c);
}

/* ---- Join ---- */

static void join_key_mapping_prefixes_and_external_parts(void **state) {
    (void)state;
    CnConf *c = load_ok("production/joins/team_a/training.v1");
    CnArena a;
    cn_arena_init(&a, 0);
    CnErr err = CN_ERR_INIT;
    assert_int_equal(c->kind, CN_CONF_JOIN);
    const CnJoin *j = c->join;
    assert_int_equal(j->n_parts, 3);
    assert_int_equal(j->n_externals, 2);
    assert_true(j->meta.has_sample_percent);
    assert_true(j->meta.sample_percent == 100.0);
    assert_string_equal(cn_conf_map_get(&j->parts[0].key_mapping, "user"), "user_id");
    assert_string_equal(j->externals[0].source.factory_name, "risk");
    CnColumnList cols;
    ASSERT_OK(cn_conf_join_output_columns(&a, j, &cols, &err), &err);
    static const char *const want[] = {
        "user", "merchant", "amount", "ts",
        "u_team_a_derived_v1_total", "u_team_a_derived_v1_amount_count",
        "u_team_a_derived_v1_ratio", "u_team_a_derived_v1_uid",
        "team_a_users_v1_age", "team_a_users_v1_country",
        "team_b_merchant_stats_v1_amount_sum_7d",
        "ext_p_risk_score_score", "ext_p_risk_score_reasons",
        "ext_contextual_channel",
        "ds"};
    expect_columns(&cols, want, CN_ARRAY_LEN(want));
    assert_false(cols.left_all_columns);
    const CnColumn *pc = col(&cols, "team_b_merchant_stats_v1_amount_sum_7d");
    assert_int_equal(pc->role, CN_CONF_COL_PART);
    assert_int_equal(pc->i_part, 2);
    assert_string_equal(pc->source_column, "amount_sum_7d");
    expect_rule(&a, &cols, "ts", "long");
    expect_rule(&a, &cols, "u_team_a_derived_v1_ratio", "expr(amount_sum_7d / amount_count)");
    expect_rule(&a, &cols, "ext_p_risk_score_reasons", "list<string>");
    expect_rule(&a, &cols, "ext_contextual_channel", "string");
    assert_int_equal(col(&cols, "ext_contextual_channel")->role, CN_CONF_COL_EXTERNAL);

    assert_string_equal(cn_conf_output_table(&a, &j->meta, &err), "ns_a.team_a_training_v1");
    assert_string_equal(cn_conf_join_part_table(&a, j, &j->parts[0], &err),
                        "ns_a.team_a_training_v1_u_team_a_derived_v1");
    assert_string_equal(cn_conf_join_part_table(&a, j, &j->parts[2], &err),
                        "ns_a.team_a_training_v1_team_b_merchant_stats_v1");
    assert_string_equal(cn_conf_external_prefix(&a, &j->externals[0]), "ext_p_risk_score");
    const char **lk = cn_conf_join_part_left_keys(&a, &j->parts[0]);
    assert_string_equal(lk[0], "user"); /* mapped */
    assert_null(lk[1]);
    lk = cn_conf_join_part_left_keys(&a, &j->parts[2]);
    assert_string_equal(lk[0], "merchant"); /* unmapped keeps its name */
    /* a topic on the part's source infers TEMPORAL; the entity part is SNAPSHOT */
    assert_int_equal(cn_conf_groupby_accuracy(j->parts[2].group_by), CN_CONF_TEMPORAL);
    assert_int_equal(cn_conf_groupby_accuracy(j->parts[1].group_by), CN_CONF_SNAPSHOT);
    /* embedded GroupBy without outputNamespace: a clear error, not a "null." table */
    assert_null(cn_conf_output_table(&a, &j->parts[2].group_by->meta, &err));
    ASSERT_CONTAINS(cn_err_msg(&err), "outputNamespace is not set");
    cn_arena_fini(&a);
    cn_conf_free(c);
}

static void join_derivations_star_rename_and_left_override(void **state) {
    (void)state;
    CnConf *c = load_ok("production/joins/team_a/training.v2");
    CnArena a;
    cn_arena_init(&a, 0);
    CnErr err = CN_ERR_INIT;
    CnColumnList cols;
    ASSERT_OK(cn_conf_join_output_columns(&a, c->join, &cols, &err), &err);
    /* entity left: no ts; `*` keeps the part features but not the renamed contextual
     * column; "signup" is a left column, so it stays in the left slot (coalesced). */
    static const char *const want[] = {"user_id", "signup", "team_a_users_v1_age",
                                       "team_a_users_v1_country", "channel", "is_adult", "ds"};
    expect_columns(&cols, want, CN_ARRAY_LEN(want));
    expect_rule(&a, &cols, "channel", "string");
    expect_rule(&a, &cols, "is_adult", "expr(team_a_users_v1_age >= 18)");
    cn_arena_fini(&a);
    cn_conf_free(c);
}

/* ---- StagingQuery, kinds, names ---- */

static void staging_query_fields(void **state) {
    (void)state;
    CnConf *c = load_ok("production/staging_queries/team_a/daily.v1");
    assert_int_equal(c->kind, CN_CONF_STAGING_QUERY);
    const CnStagingQuery *sq = c->staging_query;
    assert_string_equal(sq->start_partition, "2024-01-01");
    assert_int_equal(sq->setups.n, 1);
    ASSERT_CONTAINS(sq->query, "'{{ start_date }}'");
    assert_int_equal(sq->create_view, CN_CONF_UNSET);
    assert_string_equal(sq->meta.dependencies.items[0], "data.events/ds={{ ds }}");
    cn_conf_free(c);
    c = load_ok("production/staging_queries/team_a/latest_view.v1");
    assert_int_equal(c->staging_query->create_view, 1);
    cn_conf_free(c);
}

static void kind_detected_from_content(void **state) {
    (void)state;
    static const char sq[] = "{\"metaData\": {\"name\": \"t.q.v1\"}, \"query\": \"SELECT 1\"}";
    static const char join[] =
        "{\"metaData\": {\"name\": \"t.j.v1\"}, \"left\": {\"entities\": {\"snapshotTable\": \"a.b\", "
        "\"query\": {\"selects\": {\"k\": \"k\"}}}}, \"joinParts\": []}";
    CnErr err = CN_ERR_INIT;
    CnConf *c = NULL;
    ASSERT_OK(cn_conf_loadb("inline", sq, sizeof sq - 1, CN_CONF_KIND_UNKNOWN, &c, &err), &err);
    assert_int_equal(c->kind, CN_CONF_STAGING_QUERY);
    cn_conf_free(c);
    ASSERT_OK(cn_conf_loadb("inline", join, sizeof join - 1, CN_CONF_KIND_UNKNOWN, &c, &err), &err);
    assert_int_equal(c->kind, CN_CONF_JOIN);
    assert_int_equal(c->join->n_parts, 0);
    cn_conf_free(c);
    /* the path wins over the content: a join body under group_bys/ is a bad GroupBy */
    ASSERT_ERR(cn_conf_loadb("production/group_bys/t/j.v1", join, sizeof join - 1,
                             CN_CONF_KIND_UNKNOWN, &c, &err),
               CN_ECONFIG, &err);
    ASSERT_CONTAINS(cn_err_msg(&err), "production/group_bys/t/j.v1: unknown GroupBy field \"left\"");
    assert_null(c);
}

static void names_follow_chronon(void **state) {
    (void)state;
    CnArena a;
    cn_arena_init(&a, 0);
    assert_string_equal(cn_conf_sanitize(&a, "team.gb-v1/x y"), "team_gb_v1_x_y");
    CnMetaData md;
    memset(&md, 0, sizeof md);
    md.name = "quickstart.purchases.v1";
    md.output_namespace = "default";
    CnErr err = CN_ERR_INIT;
    assert_string_equal(cn_conf_output_table(&a, &md, &err), "default.quickstart_purchases_v1");
    assert_string_equal(cn_conf_batch_dataset(&a, &md), "QUICKSTART_PURCHASES_V1_BATCH");
    /* Chronon's unbounded window (Int.MaxValue days) has no suffix */
    static const char gb[] =
        "{\"metaData\": {\"name\": \"t.g.v1\"}, \"sources\": [{\"events\": {\"table\": \"a.b\", "
        "\"query\": {\"selects\": {\"k\": \"k\", \"x\": \"x\"}, \"timeColumn\": \"ts\"}}}], "
        "\"keyColumns\": [\"k\"], \"aggregations\": [{\"inputColumn\": \"x\", \"operation\": 7, "
        "\"windows\": [{\"length\": 2147483647, \"timeUnit\": 1}, {\"length\": 90, \"timeUnit\": 1}]}]}";
    CnConf *c = NULL;
    ASSERT_OK(cn_conf_loadb("production/group_bys/t/g.v1", gb, sizeof gb - 1, CN_CONF_KIND_UNKNOWN, &c,
                            &err),
              &err);
    CnColumnList cols;
    ASSERT_OK(cn_conf_groupby_output_columns(&a, c->group_by, &cols, &err), &err);
    static const char *const want[] = {"k", "x_sum", "x_sum_90d", "ds"};
    expect_columns(&cols, want, CN_ARRAY_LEN(want));
    cn_conf_free(c);
    cn_arena_fini(&a);
}

/* ---- teams.json ---- */

static void teams_namespace_properties_and_env(void **state) {
    (void)state;
    CnErr err = CN_ERR_INIT;
    CnTeams *t = NULL;
    ASSERT_OK(cn_conf_teams_load(fixture("teams.json"), &t, &err), &err);
    assert_int_equal(t->n, 3);
    const char *ns = NULL;
    ASSERT_OK(cn_conf_teams_namespace(t, "team_a", &ns, &err), &err);
    assert_string_equal(ns, "ns_a");
    ASSERT_OK(cn_conf_teams_namespace(t, "team_b", &ns, &err), &err);
    assert_string_equal(ns, "default_ns"); /* falls back to default */
    ASSERT_ERR(cn_conf_teams_namespace(t, "nobody", &ns, &err), CN_ENOTFOUND, &err);
    ASSERT_CONTAINS(cn_err_msg(&err), "team \"nobody\" is not listed");
    assert_string_equal(cn_conf_map_get(cn_conf_teams_table_properties(t, "team_a"), "source"), "chronon");
    assert_string_equal(cn_conf_map_get(cn_conf_teams_table_properties(t, "team_b"), "owner"), "b");
    /* team[context][mode] > team.production[mode] > default.production[mode] > common_env */
    assert_string_equal(cn_conf_teams_env(t, "team_a", "dev", "backfill", "EXECUTOR_CORES"), "2");
    assert_string_equal(cn_conf_teams_env(t, "team_a", "production", "backfill", "EXECUTOR_CORES"), "4");
    assert_string_equal(cn_conf_teams_env(t, "team_a", "dev", "backfill", "DRIVER_MEMORY"), "15G");
    assert_string_equal(cn_conf_teams_env(t, "team_b", "dev", "upload", "EXECUTOR_CORES"), "1");
    assert_string_equal(cn_conf_teams_env(t, "team_a", "dev", "upload", "VERSION"), "latest");
    assert_null(cn_conf_teams_env(t, "team_a", "dev", "upload", "NOPE"));
    const CnTeam *a = cn_conf_teams_find(t, "team_a");
    assert_string_equal(cn_conf_map_get(&a->strings, "airflow_queue"), "queue_a");
    assert_string_equal(a->user, "team_a_user");
    cn_conf_teams_free(t);
    cn_err_clear(&err);
    static const char bad[] = "{\"team\": {\"namespace\": 5}}";
    ASSERT_ERR(cn_conf_teams_loadb("teams.json", bad, sizeof bad - 1, &t, &err), CN_ECONFIG, &err);
    ASSERT_CONTAINS(cn_err_msg(&err), "teams.json: team.namespace: expected a string, got integer");
}

/* ---- bad input ---- */

static void expect_load_error(const char *rel, int code, const char *msg) {
    CnErr err = CN_ERR_INIT;
    CnConf *c = NULL;
    int rc = cn_conf_load(fixture(rel), &c, &err);
    ASSERT_ERR(rc, code, &err);
    assert_null(c);
    ASSERT_CONTAINS(cn_err_msg(&err), msg);
}

static void bad_malformed_json_names_line_and_column(void **state) {
    (void)state;
    expect_load_error("bad/production/group_bys/team_a/malformed.v1", CN_ECORRUPT,
                      "bad/production/group_bys/team_a/malformed.v1:6:33: malformed JSON");
}

static void bad_unknown_operation_names_path(void **state) {
    (void)state;
    expect_load_error("bad/production/group_bys/team_a/unknown_op.v1", CN_ECONFIG,
                      "team_a/unknown_op.v1: aggregations[2].operation: unknown Operation 99 "
                      "(expected 0..19)");
}

static void bad_wrong_json_type(void **state) {
    (void)state;
    expect_load_error("bad/production/group_bys/team_a/wrong_type.v1", CN_ECONFIG,
                      "wrong_type.v1: keyColumns: expected an array, got string");
}

static void bad_missing_required_field(void **state) {
    (void)state;
    expect_load_error("bad/production/group_bys/team_a/missing_sources.v1", CN_ECONFIG,
                      "missing_sources.v1: sources: required field is missing (expected an array)");
}

static void bad_key_mapping_value_not_a_key(void **state) {
    (void)state;
    expect_load_error("bad/production/joins/team_a/bad_key_mapping.v1", CN_ECONFIG,
                      "joinParts[0].keyMapping.user: \"usr\" is not a key of GroupBy team_a.users.v1 "
                      "(keys: user_id)");
}

static void bad_missing_file(void **state) {
    (void)state;
    CnErr err = CN_ERR_INIT;
    CnConf *c = NULL;
    assert_true(cn_conf_load(fixture("production/group_bys/team_a/nope.v1"), &c, &err) < 0);
    ASSERT_CONTAINS(cn_err_msg(&err), "nope.v1");
    assert_null(c);
}

/* A GroupBy body with pieces substituted: SRC (the source), AGGS, EXTRA (more fields). */
typedef struct BadCase {
    const char *kind;      /* folder: group_bys / joins / staging_queries */
    const char *json;
    const char *message;   /* expected substring (path and value) */
} BadCase;

#define GB_SRC "\"sources\": [{\"events\": {\"table\": \"d.e\", \"query\": {\"selects\": {\"k\": \"k\", \"x\": \"x\"}, \"timeColumn\": \"ts\"}}}]"
#define GB_HEAD "{\"metaData\": {\"name\": \"t.g.v1\"}, "
#define GB(aggs, extra) GB_HEAD GB_SRC ", \"keyColumns\": [\"k\"], \"aggregations\": [" aggs "]" extra "}"
#define USERS_GB "{\"metaData\": {\"name\": \"t.users.v1\"}, \"sources\": [{\"entities\": {\"snapshotTable\": \"d.u\", \"query\": {\"selects\": {\"k\": \"k\", \"age\": \"age\"}}}}], \"keyColumns\": [\"k\"]}"
#define JOIN(left, rest) "{\"metaData\": {\"name\": \"t.j.v1\"}, \"left\": " left ", \"joinParts\": [{\"groupBy\": " USERS_GB "}]" rest "}"
#define EV_LEFT "{\"events\": {\"table\": \"d.l\", \"query\": {\"selects\": {\"k\": \"k\"}, \"timeColumn\": \"ts\"}}}"

static const BadCase k_bad_cases[] = {
    {"group_bys", GB("{\"inputColumn\": \"x\", \"operation\": 7, \"windows\": [{\"length\": 0, \"timeUnit\": 1}]}", ""),
     "aggregations[0].windows[0].length: window length 0 must be > 0"},
    {"group_bys", GB("{\"inputColumn\": \"x\", \"operation\": 7, \"windows\": [{\"length\": 3, \"timeUnit\": 5}]}", ""),
     "aggregations[0].windows[0].timeUnit: unknown TimeUnit 5 (expected 0..1)"},
    {"group_bys", GB("{\"inputColumn\": \"x\", \"operation\": 7, \"windows\": [{\"length\": 3}]}", ""),
     "aggregations[0].windows[0].timeUnit: required field is missing"},
    {"group_bys", GB("{\"inputColumn\": \"x\", \"operation\": \"SUM\"}", ""),
     "aggregations[0].operation: expected an integer (Operation 0..19), got string"},
    {"group_bys", GB("{\"inputColumn\": \"x\", \"operation\": 7, \"elementWise\": 2}", ""),
     "aggregations[0].elementWise: invalid boolean 2 (expected 0, 1, true or false)"},
    {"group_bys", GB("{\"inputColumn\": \"x\", \"operation\": 7, \"window\": []}", ""),
     "aggregations[0]: unknown Aggregation field \"window\""},
    {"group_bys", GB("{\"inputColumn\": \"x\", \"operation\": 13}", ""),
     "aggregations[0].argMap: LAST_K needs \"k\""},
    {"group_bys", GB("{\"inputColumn\": \"x\", \"operation\": 13, \"argMap\": {\"k\": \"ten\"}}", ""),
     "aggregations[0].argMap.k: invalid value \"ten\" (expected an integer)"},
    {"group_bys", GB("{\"inputColumn\": \"y\", \"operation\": 7}", ""),
     "aggregations[0].inputColumn: \"y\" is not selected by the sources"},
    {"group_bys", GB("{\"inputColumn\": \"x\", \"operation\": 12, \"argMap\": {\"percentiles\": \"[0.5, 2]\"}}", ""),
     "aggregations[0].argMap.percentiles: invalid value \"[0.5, 2]\""},
    {"group_bys", GB("{\"inputColumn\": \"x\", \"operation\": 12, \"argMap\": {\"k\": \"128\"}}", ""),
     "aggregations[0].argMap: APPROX_PERCENTILE needs \"percentiles\""},
    {"group_bys", GB("{\"inputColumn\": \"x\", \"operation\": 7, \"windows\": [{\"length\": 6, \"timeUnit\": 0}]}", ", \"accuracy\": 1"),
     "aggregations[0].windows[0]: hour window 6h in a SNAPSHOT GroupBy"},
    {"group_bys", GB("{\"inputColumn\": \"x\", \"operation\": 7}", ", \"accuracy\": 2"),
     "accuracy: unknown Accuracy 2 (expected 0..1)"},
    {"group_bys", GB_HEAD GB_SRC ", \"keyColumns\": [\"k\", \"z\"], \"aggregations\": [{\"inputColumn\": \"x\", \"operation\": 7}]}",
     "keyColumns[1]: key \"z\" is not selected by sources[0]"},
    {"group_bys", GB_HEAD GB_SRC ", \"keyColumns\": [\"k\"]}",
     "sources[0]: a GroupBy without aggregations needs entity sources without mutations (this source is events)"},
    {"group_bys", GB_HEAD "\"sources\": [{\"events\": {\"table\": \"d.e\", \"query\": {\"selects\": {\"k\": \"k\", \"ts\": \"t\"}, \"timeColumn\": \"t\"}}}], \"keyColumns\": [\"k\"], \"aggregations\": []}",
     "sources[0].events: query.selects: \"ts\" is reserved"},
    {"group_bys", GB_HEAD "\"sources\": [{\"events\": {\"table\": \"d.e\", \"query\": {\"selects\": {\"k\": \"k\"}}}}], \"keyColumns\": [\"k\"], \"aggregations\": []}",
     "sources[0].events: query.timeColumn is missing"},
    {"group_bys", GB_HEAD "\"sources\": [{\"entities\": {\"snapshotTable\": \"d.e\", \"query\": {\"selects\": {\"k\": \"k\", \"x\": \"x\"}}}}], \"keyColumns\": [\"k\"], \"aggregations\": [{\"inputColumn\": \"x\", \"operation\": 7, \"windows\": [{\"length\": 3, \"timeUnit\": 1}]}]}",
     "sources[0].entities: query.timeColumn is missing (required for an entity source with windowed aggregations)"},
    {"group_bys", GB_HEAD "\"sources\": [{\"events\": {\"table\": \"d.e\", \"query\": {}}, \"entities\": {\"snapshotTable\": \"x\", \"query\": {}}}], \"keyColumns\": [\"k\"]}",
     "sources[0]: a Source must set exactly one of events, entities, joinSource (found 2)"},
    {"group_bys", GB_HEAD "\"sources\": [{\"events\": {\"query\": {}}}], \"keyColumns\": [\"k\"]}",
     "sources[0].events.table: required field is missing (expected a string)"},
    {"group_bys", GB_HEAD "\"sources\": [], \"keyColumns\": [\"k\"]}",
     "sources: no sources"},
    {"group_bys", GB_HEAD GB_SRC ", \"keyColumns\": [\"k\", 3]}",
     "keyColumns[1]: expected a string, got integer"},
    {"group_bys", GB_HEAD "\"sources\": [{\"events\": {\"table\": \"d.e\", \"query\": {\"selects\": {\"k\": \"k\", \"x\": \"x\"}, \"timeColumn\": \"ts\"}}}, {\"events\": {\"table\": \"d.f\", \"query\": {\"selects\": {\"k\": \"k\"}, \"timeColumn\": \"ts\"}}}], \"keyColumns\": [\"k\"], \"aggregations\": [{\"inputColumn\": \"x\", \"operation\": 6}]}",
     "sources[1]: selects columns (k) differ from sources[0] (k, x)"},
    {"group_bys", GB("{\"inputColumn\": \"x\", \"operation\": 6}", ", \"derivations\": [{\"name\": \"y\", \"expression\": \"x_sum\"}]"),
     "derivations[0].expression: \"x_sum\" is not a column before derivations (expected one of: x_count, k)"},
    {"group_bys", GB("{\"inputColumn\": \"x\", \"operation\": 6}", ", \"derivations\": [{\"name\": \"*\", \"expression\": \"*\"}, {\"name\": \"x_count\", \"expression\": \"x_count + 1\"}]"),
     "derivations[1].name: \"x_count\" clashes with another output column"},
    {"group_bys", GB("{\"inputColumn\": \"x\", \"operation\": 6}", ", \"derivations\": [{\"name\": \"y\"}]"),
     "derivations[0].expression: required field is missing"},
    {"group_bys", GB("{\"inputColumn\": \"x\", \"operation\": 6}", ", \"isIncremental\": 1, \"accuracy\": 0"),
     "isIncremental: only supported for SNAPSHOT accuracy"},
    {"group_bys", "{\"metaData\": {\"name\": \"t.g.v1\", \"deprecationDate\": \"2024/01/01\"}, " GB_SRC ", \"keyColumns\": [\"k\"], \"aggregations\": []}",
     "metaData.deprecationDate: invalid date \"2024/01/01\" (expected YYYY-MM-DD)"},
    {"group_bys", "{\"metaData\": {\"online\": 1}, " GB_SRC ", \"keyColumns\": [\"k\"]}",
     "metaData.name: required field is missing"},
    {"group_bys", "{\"metaData\": {\"name\": \"t.g.v1\", \"samplePercent\": \"10\"}, " GB_SRC ", \"keyColumns\": [\"k\"]}",
     "metaData.samplePercent: expected a number, got string"},
    {"group_bys", "[1, 2]", "expected a JSON object at the top level, got array"},
    {"group_bys", GB_HEAD "\"sources\": [{\"joinSource\": {\"join\": " JOIN(EV_LEFT, "") ", \"query\": {\"selects\": {\"k\": \"k\", \"x\": \"x\"}, \"timeColumn\": \"ts\"}}}], \"keyColumns\": [\"k\"], \"aggregations\": [{\"inputColumn\": \"x\", \"operation\": 3}]}",
     "sources[0].joinSource: join t.j.v1: the parent join's left source has no topic"},
    {"joins", JOIN("{\"events\": {\"table\": \"d.l\", \"isCumulative\": 1, \"query\": {\"selects\": {\"k\": \"k\"}, \"timeColumn\": \"ts\"}}}", ""),
     "left: events.isCumulative: a cumulative event source cannot be the left of a Join"},
    {"joins", "{\"metaData\": {\"name\": \"t.j.v1\"}, \"left\": " EV_LEFT "}",
     "joinParts: required field is missing (expected an array)"},
    {"joins", JOIN(EV_LEFT, ", \"derivations\": [{\"name\": \"a\", \"expression\": \"t_users_v1_height\"}]"),
     "derivations[0].expression: \"t_users_v1_height\" is not a column before derivations (expected one of: k, ts, t_users_v1_age)"},
    {"joins", JOIN(EV_LEFT, ", \"bootstrapParts\": [{\"table\": \"d.b\"}]"),
     "bootstrapParts[0]: no keyColumns and the join has no rowIds"},
    {"joins", JOIN(EV_LEFT, ", \"onlineExternalParts\": [{\"source\": {\"metadata\": {\"name\": \"s\"}, \"keySchema\": {\"kind\": 13}, \"valueSchema\": {\"kind\": 13}}}, {\"source\": {\"metadata\": {\"name\": \"s\"}, \"keySchema\": {\"kind\": 13}, \"valueSchema\": {\"kind\": 14}}}]"),
     "onlineExternalParts[1].source.valueSchema.kind: unknown DataKind 14 (expected 0..13)"},
    {"joins", JOIN(EV_LEFT, ", \"onlineExternalParts\": [{\"source\": {\"metadata\": {\"name\": \"s\"}, \"keySchema\": {\"kind\": 13}, \"valueSchema\": {\"kind\": 13}}}, {\"source\": {\"metadata\": {\"name\": \"s\"}, \"keySchema\": {\"kind\": 13}, \"valueSchema\": {\"kind\": 13}}}]"),
     "onlineExternalParts[1]: duplicate external part (prefix none, source s)"},
    {"joins", JOIN(EV_LEFT, ", \"labelPart\": {\"labels\": [{\"groupBy\": {\"metaData\": {\"name\": \"t.l.v1\"}, \"sources\": [{\"entities\": {\"snapshotTable\": \"d.u\", \"query\": {\"selects\": {\"k\": \"k\", \"x\": \"x\"}, \"timeColumn\": \"ts\"}}}], \"keyColumns\": [\"k\"], \"aggregations\": [{\"inputColumn\": \"x\", \"operation\": 7, \"windows\": [{\"length\": 7, \"timeUnit\": 1}]}]}}], \"leftStartOffset\": 7, \"leftEndOffset\": 3}"),
     "labelPart: leftStartOffset 7 and leftEndOffset 3 must both equal the label window length 7"},
    {"joins", "{\"metaData\": {\"name\": \"t.j.v1\"}, \"left\": " EV_LEFT ", \"joinParts\": [{\"prefix\": \"p\"}]}",
     "joinParts[0].groupBy: required field is missing (expected an object)"},
    {"staging_queries", "{\"metaData\": {\"name\": \"t.s.v1\"}, \"query\": \"SELECT * FROM t WHERE ds = '{{ end_date }}'\", \"createView\": 1}",
     "query: uses {{ end_date }} but createView is set"},
    {"staging_queries", "{\"metaData\": {\"name\": \"t.s.v1\"}, \"query\": 5}",
     "query: expected a string, got integer"},
};

static void bad_inputs_each_name_path_and_value(void **state) {
    (void)state;
    for (size_t i = 0; i < CN_ARRAY_LEN(k_bad_cases); i++) {
        const BadCase *bc = &k_bad_cases[i];
        char name[128];
        snprintf(name, sizeof name, "production/%s/t/case%zu.v1", bc->kind, i);
        CnErr err = CN_ERR_INIT;
        CnConf *c = NULL;
        int rc = cn_conf_loadb(name, bc->json, strlen(bc->json), CN_CONF_KIND_UNKNOWN, &c, &err);
        if (rc == 0) fail_msg("case %zu loaded but should fail with: %s", i, bc->message);
        assert_null(c);
        const char *msg = cn_err_msg(&err);
        if (!strstr(msg, bc->message))
            fail_msg("case %zu: expected \"%s\" in \"%s\"", i, bc->message, msg);
        if (!strstr(msg, name)) fail_msg("case %zu: message does not name the file: %s", i, msg);
    }
}

static void out_of_memory_fails_cleanly(void **state) {
    (void)state;
    const char *path = fixture("production/joins/team_a/training.v1");
    int n_ok = 0, n_oom = 0;
    /* The budget counts allocations since process start, so offset it each round. Walk
     * every early failure point, then sparser ones until the load fits in the budget
     * (arena debug builds allocate once per object). */
    for (uint64_t n = 0; n_ok == 0 && n < 1000000; n = n < 64 ? n + 1 : n + n / 8) {
        char v[32];
        snprintf(v, sizeof v, "%llu", (unsigned long long)(cn_alloc_count() + n));
        setenv("CN_TEST_FAIL_ALLOC_AFTER", v, 1);
        cn_alloc_reset_fault();
        CnErr err = CN_ERR_INIT;
        CnConf *c = NULL;
        int rc = cn_conf_load(path, &c, &err);
        unsetenv("CN_TEST_FAIL_ALLOC_AFTER");
        cn_alloc_reset_fault();
        if (rc == 0) {
            assert_non_null(c);
            assert_int_equal(c->join->n_parts, 3);
            n_ok++;
        } else {
            if (rc != CN_ENOMEM && rc != CN_EIO && rc != -12 /* ENOMEM from the read */)
                fail_msg("allocation failure %llu gave rc=%d: %s", (unsigned long long)n, rc,
                         cn_err_msg(&err));
            assert_null(c);
            n_oom++;
        }
        cn_conf_free(c);
    }
    assert_true(n_oom > 0);
    assert_true(n_ok > 0);
}

CN_TEST_MAIN(cmocka_unit_test(groupby_every_operation_window_and_bucket),
             cmocka_unit_test(groupby_entity_without_aggregations),
             cmocka_unit_test(groupby_derivations_star_and_renames),
             cmocka_unit_test(join_key_mapping_prefixes_and_external_parts),
             cmocka_unit_test(join_derivations_star_rename_and_left_override),
             cmocka_unit_test(staging_query_fields),
             cmocka_unit_test(kind_detected_from_content),
             cmocka_unit_test(names_follow_chronon),
             cmocka_unit_test(teams_namespace_properties_and_env),
             cmocka_unit_test(bad_malformed_json_names_line_and_column),
             cmocka_unit_test(bad_unknown_operation_names_path),
             cmocka_unit_test(bad_wrong_json_type),
             cmocka_unit_test(bad_missing_required_field),
             cmocka_unit_test(bad_key_mapping_value_not_a_key),
             cmocka_unit_test(bad_missing_file),
             cmocka_unit_test(bad_inputs_each_name_path_and_value),
             cmocka_unit_test(out_of_memory_fails_cleanly))
