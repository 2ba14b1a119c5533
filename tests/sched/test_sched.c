/* test_sched.c: the scheduler's DAG model. Fixtures under tests/sched/fixtures are
 * hand-written production trees; the expected DAG and task ids come from the users' guide
 * and spec/config.md section 8 (Chronon's helper names), not from the code under test. */
#include "cn_test.h"

#include <limits.h>

#include "base/alloc.h"
#include "base/str.h"
#include "sched/sched.h"
#include "sched/sched_int.h"

static const char *src_path(const char *rel) {
    static char path[PATH_MAX];
    const char *src = getenv("CN_SOURCE_DIR");
    if (!src) cn_test_skip("CN_SOURCE_DIR is not set (run through ctest)");
    snprintf(path, sizeof path, "%s/%s", src, rel);
    return path;
}

static CnSchedModel *build(const char *rel, CnSchedNaming naming) {
    CnErr err = CN_ERR_INIT;
    CnSchedModel *m = NULL;
    CnSchedOptions opt = {naming, NULL};
    ASSERT_OK(cn_sched_model_build(src_path(rel), &opt, &m, &err), &err);
    assert_non_null(m);
    return m;
}

static const CnSchedDag *dag(const CnSchedModel *m, const char *id) {
    const CnSchedDag *d = cn_sched_dag_find(m, id);
    if (!d) {
        CnBuf b = CN_BUF_INIT;
        cn_sched_list_dag_ids(m, &b);
        fail_msg("no DAG %s; have:\n%s", id, b.data ? b.data : "");
    }
    return d;
}

static const CnSchedTask *task(const CnSchedDag *d, const char *id) {
    const CnSchedTask *t = cn_sched_task_find(d, id);
    if (!t) {
        char all[2048] = "";
        size_t len = 0;
        for (size_t i = 0; i < d->n_tasks && len < sizeof all; i++)
            len += (size_t)snprintf(all + len, sizeof all - len, "%s ", d->tasks[i].id);
        fail_msg("DAG %s has no task %s; has: %s", d->id, id, all);
    }
    return t;
}

/* The DAG's task ids, exactly and in any order. */
static void expect_tasks(const CnSchedDag *d, const char *const *ids, size_t n) {
    for (size_t i = 0; i < n; i++) (void)task(d, ids[i]);
    if (d->n_tasks != n) fail_msg("DAG %s: expected %zu tasks, got %zu", d->id, n, d->n_tasks);
}

static void expect_edge(const CnSchedDag *d, const char *up, const char *down) {
    long u = cn_sched_task_index(d, up), w = cn_sched_task_index(d, down);
    if (u < 0 || w < 0) fail_msg("DAG %s: no task %s or %s", d->id, up, down);
    if (!cn_sched_task_has_upstream(d, (size_t)w, (size_t)u))
        fail_msg("DAG %s: expected edge %s >> %s", d->id, up, down);
}

static void expect_no_edge(const CnSchedDag *d, const char *up, const char *down) {
    long u = cn_sched_task_index(d, up), w = cn_sched_task_index(d, down);
    if (u >= 0 && w >= 0 && cn_sched_task_has_upstream(d, (size_t)w, (size_t)u))
        fail_msg("DAG %s: unexpected edge %s >> %s", d->id, up, down);
}

static size_t n_edges(const CnSchedDag *d) {
    size_t n = 0;
    for (size_t i = 0; i < d->n_tasks; i++) n += d->tasks[i].n_upstream;
    return n;
}

static void expect_command(const CnSchedModel *m, const CnSchedTask *t, const char *want) {
    CnArena a;
    cn_arena_init(&a, 0);
    const char *got = cn_sched_task_command(&a, m, t);
    if (!got || strcmp(got, want)) fail_msg("task %s: command\n  got  %s\n  want %s", t->id, got ? got : "(null)", want);
    cn_arena_fini(&a);
}

/* ---- the bundled example ---- */

static void quickstart_example_builds_the_guide_dags(void **state) {
    (void)state;
    CnSchedModel *m = build("examples/quickstart", CN_SCHED_NAMING_GUIDE);
    assert_int_equal(m->n_issues, 0);
    assert_int_equal(m->n_dags, 4);
    /* sorted by id */
    assert_string_equal(m->dags[0].id, "chronon_batch_dag_my_team");
    assert_string_equal(m->dags[1].id, "chronon_batch_dag_quickstart");
    assert_string_equal(m->dags[2].id, "chronon_join_quickstart_training_set_v1");
    assert_string_equal(m->dags[3].id, "chronon_join_quickstart_training_set_v2");

    const CnSchedDag *d = dag(m, "chronon_batch_dag_my_team");
    static const char *const mine[] = {"backfill_task", "upload_task", "metadata_upload_task",
                                       "wait_for_purchases_ds"};
    expect_tasks(d, mine, 4);
    expect_edge(d, "wait_for_purchases_ds", "backfill_task");
    expect_edge(d, "backfill_task", "upload_task");
    expect_edge(d, "upload_task", "metadata_upload_task");
    assert_int_equal(n_edges(d), 3);
    assert_string_equal(d->schedule, "@daily");
    assert_int_equal(d->concurrency, 5);  /* GROUP_BY_BATCH_CONCURRENCY of the guide */
    const CnSchedTask *t = task(d, "backfill_task");
    assert_int_equal(t->kind, CN_SCHED_TASK_RUN);
    assert_string_equal(t->mode, "backfill");
    assert_string_equal(t->conf_path, "production/group_bys/my_team/user_purchase_features.v1");
    assert_string_equal(t->argv[0], "chronon");
    assert_string_equal(t->argv[1], "run");
    assert_string_equal(t->argv[7], "{{ ds }}");
    assert_string_equal(task(d, "upload_task")->mode, "upload");
    assert_string_equal(task(d, "metadata_upload_task")->mode, "metadata-upload");
    t = task(d, "wait_for_purchases_ds");
    assert_int_equal(t->kind, CN_SCHED_TASK_SENSOR);
    assert_string_equal(t->table, "purchases");
    assert_string_equal(t->spec, "purchases/ds={{ ds }}");
    expect_command(m, t, "chronon table partitions purchases --has {{ ds }}");

    /* three GroupBys in one team: TaskGroup-style ids */
    d = dag(m, "chronon_batch_dag_quickstart");
    static const char *const qs[] = {
        "purchases_v1.backfill_task", "purchases_v1.upload_task", "purchases_v1.metadata_upload_task",
        "returns_v1.backfill_task",   "returns_v1.upload_task",   "returns_v1.metadata_upload_task",
        "users_v1.backfill_task",     "users_v1.upload_task",     "users_v1.metadata_upload_task",
        "wait_for_data_purchases_ds", "wait_for_data_returns_ds", "wait_for_data_users_ds"};
    expect_tasks(d, qs, CN_ARRAY_LEN(qs));
    expect_edge(d, "wait_for_data_users_ds", "users_v1.backfill_task");
    expect_no_edge(d, "wait_for_data_users_ds", "purchases_v1.backfill_task");

    /* each join: sensors from its dependencies, waits for the part GroupBys' backfills */
    d = dag(m, "chronon_join_quickstart_training_set_v2");
    assert_int_equal(d->kind, CN_SCHED_DAG_JOIN);
    expect_edge(d, "wait_for_data_checkouts_ds", "backfill_task");
    expect_edge(d, "backfill_task", "metadata_upload_task"); /* v2 is online */
    const char *w = "wait_for_chronon_batch_dag_quickstart__purchases_v1_backfill_task";
    t = task(d, w);
    assert_int_equal(t->kind, CN_SCHED_TASK_EXTERNAL);
    assert_string_equal(t->ext_dag, "chronon_batch_dag_quickstart");
    assert_string_equal(t->ext_task, "purchases_v1.backfill_task");
    expect_edge(d, w, "backfill_task");
    d = dag(m, "chronon_join_quickstart_training_set_v1");
    (void)task(d, "wait_for_chronon_batch_dag_quickstart__users_v1_backfill_task");
    assert_null(cn_sched_task_find(d, "metadata_upload_task")); /* v1 is offline */
    cn_sched_model_free(m);
}

static void quickstart_example_chronon_naming(void **state) {
    (void)state;
    CnSchedModel *m = build("examples/quickstart", CN_SCHED_NAMING_CHRONON);
    assert_int_equal(m->n_issues, 0);
    /* online, no backfillStartDate: Chronon's helpers schedule the upload only */
    const CnSchedDag *d = dag(m, "chronon_group_by_batch_my_team");
    static const char *const mine[] = {"group_by_batch__my_team__user_purchase_features__v1",
                                       "wait_for_purchases_ds"};
    expect_tasks(d, mine, 2);
    expect_edge(d, "wait_for_purchases_ds", "group_by_batch__my_team__user_purchase_features__v1");
    d = dag(m, "chronon_join_quickstart__training_set__v1");
    (void)task(d, "compute_join__quickstart__training_set__v1");
    (void)task(d, "wait_for_data__checkouts_ds"); /* normalize_name: '.' -> "__" */
    assert_null(cn_sched_dag_find(m, "chronon_batch_dag_my_team"));
    cn_sched_model_free(m);
}

/* ---- hand-written repo ---- */

static void single_groupby_team_keeps_guide_names_and_settings(void **state) {
    (void)state;
    CnSchedModel *m = build("tests/sched/fixtures/repo_a", CN_SCHED_NAMING_GUIDE);
    assert_int_equal(m->n_issues, 0);
    const CnSchedSettings *s = &m->settings;
    /* teams.json default.scheduler, then scheduler.json on top */
    assert_int_equal(s->group_by_concurrency, 7);
    assert_int_equal(s->join_concurrency, 2);
    assert_string_equal(s->chronon_path, "/srv/chronon repo");
    assert_string_equal(s->online_store, "mongodb://admin:secret@mongodb:27017/admin");
    assert_int_equal(s->retries, 3);
    assert_int_equal(s->retry_delay_s, 300);
    assert_int_equal(s->n_time_parts, 2);

    const CnSchedDag *d = dag(m, "chronon_batch_dag_team_a");
    static const char *const ids[] = {"backfill_task", "upload_task", "metadata_upload_task",
                                      "wait_for_data_events_ds"};
    expect_tasks(d, ids, 4);
    assert_int_equal(d->concurrency, 7);
    assert_string_equal(d->start_date, "2024-01-01"); /* team dag_start_date */
    assert_string_equal(d->owner, "team-a-owners");   /* team team_name */
    expect_command(m, task(d, "backfill_task"),
                   "chronon run --mode backfill --conf production/group_bys/team_a/single.v1 --ds {{ ds }} "
                   "--repo '/srv/chronon repo'");
    expect_command(m, task(d, "upload_task"),
                   "chronon run --mode upload --conf production/group_bys/team_a/single.v1 --ds {{ ds }} "
                   "--repo '/srv/chronon repo'");
    assert_null(task(d, "backfill_task")->env_online);
    assert_string_equal(task(d, "upload_task")->env_online, "mongodb://admin:secret@mongodb:27017/admin");
    assert_string_equal(task(d, "metadata_upload_task")->env_online, "mongodb://admin:secret@mongodb:27017/admin");

    d = dag(m, "chronon_batch_dag_team_b");
    assert_string_equal(d->start_date, "2023-02-01"); /* the default */
    assert_string_equal(d->owner, "team_b");
    cn_sched_model_free(m);
}

static void several_groupbys_get_prefixed_ids_and_share_sensors(void **state) {
    (void)state;
    CnSchedModel *m = build("tests/sched/fixtures/repo_a", CN_SCHED_NAMING_GUIDE);
    const CnSchedDag *d = dag(m, "chronon_batch_dag_team_b");
    static const char *const ids[] = {
        "clicks_v1.backfill_task", "clicks_v1.upload_task", "clicks_v1.metadata_upload_task",
        "from_sq_v1.backfill_task", "offline_only_v1.backfill_task",
        "wait_for_data_clicks_ds", "wait_for_ns_b_team_b_daily_v1_ds",
        "wait_for_chronon_staging_query_team_b__backfill_task"};
    expect_tasks(d, ids, CN_ARRAY_LEN(ids));
    /* two GroupBys wait on the same table: one sensor feeds both */
    expect_edge(d, "wait_for_data_clicks_ds", "clicks_v1.backfill_task");
    expect_edge(d, "wait_for_data_clicks_ds", "offline_only_v1.backfill_task");
    expect_edge(d, "clicks_v1.backfill_task", "clicks_v1.upload_task");
    expect_edge(d, "clicks_v1.upload_task", "clicks_v1.metadata_upload_task");
    expect_no_edge(d, "wait_for_data_clicks_ds", "from_sq_v1.backfill_task");
    assert_int_equal(n_edges(d), 6);
    cn_sched_model_free(m);
}

static void groupby_on_staging_query_output_waits_for_it(void **state) {
    (void)state;
    CnSchedModel *m = build("tests/sched/fixtures/repo_a", CN_SCHED_NAMING_GUIDE);
    const CnSchedDag *sq = dag(m, "chronon_staging_query_team_b");
    static const char *const sq_ids[] = {"backfill_task", "wait_for_data_raw_ds"};
    expect_tasks(sq, sq_ids, 2);
    assert_int_equal(sq->kind, CN_SCHED_DAG_STAGING_QUERY);
    const CnSchedTask *s = task(sq, "wait_for_data_raw_ds");
    assert_string_equal(s->spec, "data.raw/ds={{ ds }}"); /* a StagingQuery's raw dependency */
    expect_edge(sq, "wait_for_data_raw_ds", "backfill_task");
    expect_command(m, task(sq, "backfill_task"),
                   "chronon run --mode backfill --conf production/staging_queries/team_b/daily.v1 --ds {{ ds }} "
                   "--repo '/srv/chronon repo'");

    const CnSchedDag *d = dag(m, "chronon_batch_dag_team_b");
    const CnSchedTask *w = task(d, "wait_for_chronon_staging_query_team_b__backfill_task");
    assert_int_equal(w->kind, CN_SCHED_TASK_EXTERNAL);
    assert_string_equal(w->ext_dag, "chronon_staging_query_team_b");
    assert_string_equal(w->ext_task, "backfill_task");
    expect_edge(d, "wait_for_chronon_staging_query_team_b__backfill_task", "from_sq_v1.backfill_task");
    expect_edge(d, "wait_for_ns_b_team_b_daily_v1_ds", "from_sq_v1.backfill_task");
    cn_sched_model_free(m);
}

static void join_schedule_sensors_and_part_waits(void **state) {
    (void)state;
    CnSchedModel *m = build("tests/sched/fixtures/repo_a", CN_SCHED_NAMING_GUIDE);
    const CnSchedDag *d = dag(m, "chronon_join_team_b_training_v1");
    static const char *const ids[] = {"backfill_task", "metadata_upload_task", "wait_for_data_left_ds_minus_1",
                                      "wait_for_data_dim_ds", "wait_for_data_clicks_ds",
                                      "wait_for_chronon_batch_dag_team_b__clicks_v1_backfill_task"};
    expect_tasks(d, ids, CN_ARRAY_LEN(ids));
    assert_string_equal(d->schedule, "@weekly");
    assert_int_equal(d->concurrency, 2); /* join_concurrency */
    for (size_t i = 2; i < CN_ARRAY_LEN(ids); i++) expect_edge(d, ids[i], "backfill_task");
    expect_edge(d, "backfill_task", "metadata_upload_task");
    assert_int_equal(n_edges(d), 5);
    const CnSchedTask *w = task(d, "wait_for_chronon_batch_dag_team_b__clicks_v1_backfill_task");
    assert_string_equal(w->ext_task, "clicks_v1.backfill_task");
    /* a lagged dependency keeps its template; one with an end checks the end after it */
    expect_command(m, task(d, "wait_for_data_left_ds_minus_1"),
                   "chronon table partitions data.left --has {{ macros.ds_add(ds, -1) }}");
    expect_command(m, task(d, "wait_for_data_dim_ds"),
                   "chronon table partitions data.dim --has {{ ds if ds <= '2024-06-30' else '2024-06-30' }}");
    assert_string_equal(task(d, "wait_for_data_dim_ds")->end, "2024-06-30");

    /* @never: the guide's DAG exists for manual runs; its part's GroupBy reads the staging
     * query's output, so the join waits for both */
    d = dag(m, "chronon_join_team_b_never_v1");
    assert_string_equal(d->schedule, "@never");
    (void)task(d, "wait_for_chronon_batch_dag_team_b__from_sq_v1_backfill_task");
    (void)task(d, "wait_for_chronon_staging_query_team_b__backfill_task");
    assert_null(cn_sched_task_find(d, "metadata_upload_task"));
    cn_sched_model_free(m);
}

static void chronon_naming_follows_the_helpers(void **state) {
    (void)state;
    CnSchedModel *m = build("tests/sched/fixtures/repo_a", CN_SCHED_NAMING_CHRONON);
    assert_int_equal(m->n_issues, 0);
    assert_int_equal(m->n_dags, 4); /* no DAG for the @never join */
    assert_null(cn_sched_dag_find(m, "chronon_join_team_b__never__v1"));
    const CnSchedDag *d = dag(m, "chronon_group_by_batch_team_b");
    /* backfill iff backfillStartDate, upload iff online; offline_only has neither */
    static const char *const ids[] = {
        "group_by_batch_backfill__team_b__clicks__v1", "group_by_batch__team_b__clicks__v1",
        "group_by_batch_backfill__team_b__from_sq__v1", "wait_for_data__clicks_ds",
        "wait_for_ns_b__team_b_daily_v1_ds",
        "wait_for_chronon_staging_query_batch_team_b__staging_query__team_b__daily__v1"};
    expect_tasks(d, ids, CN_ARRAY_LEN(ids));
    /* both tasks hang off the sensor; no backfill -> upload edge */
    expect_edge(d, "wait_for_data__clicks_ds", "group_by_batch_backfill__team_b__clicks__v1");
    expect_edge(d, "wait_for_data__clicks_ds", "group_by_batch__team_b__clicks__v1");
    expect_no_edge(d, "group_by_batch_backfill__team_b__clicks__v1", "group_by_batch__team_b__clicks__v1");
    d = dag(m, "chronon_group_by_batch_team_a");
    static const char *const a_ids[] = {"group_by_batch__team_a__single__v1", "wait_for_data__events_ds"};
    expect_tasks(d, a_ids, 2);
    d = dag(m, "chronon_staging_query_batch_team_b");
    static const char *const sq_ids[] = {"staging_query__team_b__daily__v1", "wf__data__raw"};
    expect_tasks(d, sq_ids, 2);
    d = dag(m, "chronon_join_team_b__training__v1");
    (void)task(d, "compute_join__team_b__training__v1");
    (void)task(d, "wait_for_data__left_ds_minus_1");
    (void)task(d, "wait_for_chronon_group_by_batch_team_b__group_by_batch_backfill__team_b__clicks__v1");
    assert_null(cn_sched_task_find(d, "metadata_upload_task"));
    cn_sched_model_free(m);
}

static void normalize_drops_time_parts(void **state) {
    (void)state;
    CnArena a;
    cn_arena_init(&a, 0);
    CnSchedSettings s;
    cn_sched_settings_defaults(&s);
    assert_string_equal(cn_sched__normalize(&a, &s, "team.gb.v1"), "team__gb__v1");
    assert_string_equal(cn_sched__normalize(&a, &s, "wf__db.t/ds={{ ds }}/hr=00:00"), "wf__db__t");
    assert_string_equal(cn_sched__normalize(&a, &s, "db.t/ts=1/other=x"), "db__t__other__x");
    static const char *const only_ds[] = {"ds"};
    s.time_parts = (const char **)only_ds;
    s.n_time_parts = 1;
    assert_string_equal(cn_sched__normalize(&a, &s, "db.t/ds=1/hr=2"), "db__t__hr__2");
    cn_arena_fini(&a);
}

static void shell_words_quote_what_needs_it(void **state) {
    (void)state;
    CnBuf b = CN_BUF_INIT;
    cn_sched__shell_word(&b, "production/group_bys/t/x.v1");
    cn_buf_putc(&b, '|');
    cn_sched__shell_word(&b, "{{ ds }}");
    cn_buf_putc(&b, '|');
    cn_sched__shell_word(&b, "a b");
    cn_buf_putc(&b, '|');
    cn_sched__shell_word(&b, "it's");
    cn_buf_putc(&b, '|');
    cn_sched__shell_word(&b, "ds={{ ds }}/hr=00");
    cn_buf_putc(&b, '|');
    cn_sched__shell_word(&b, "{{ a }} }}; rm x");
    assert_string_equal(b.data, "production/group_bys/t/x.v1|{{ ds }}|'a b'|'it'\\''s'|'ds={{ ds }}/hr=00'|'{{ a }} }}; rm x'");
    cn_buf_fini(&b);
}

/* ---- settings ---- */

static int apply(CnSchedSettings *s, CnArena *a, const char *json, CnErr *err) {
    return cn_sched_settings_apply(a, s, "scheduler.json", "", json, strlen(json), err);
}

static void settings_defaults_and_values(void **state) {
    (void)state;
    CnArena a;
    cn_arena_init(&a, 0);
    CnSchedSettings s;
    cn_sched_settings_defaults(&s);
    assert_int_equal(s.group_by_concurrency, 5);
    assert_int_equal(s.join_concurrency, 3);
    assert_int_equal(s.n_time_parts, 3);
    assert_string_equal(s.time_parts[2], "hr");
    assert_null(s.online_store);
    assert_int_equal(s.retries, 1);
    assert_string_equal(s.chronon_bin, "chronon");
    CnErr err = CN_ERR_INIT;
    ASSERT_OK(apply(&s, &a,
                    "{\"chronon_bin\": \"/opt/chronon/bin/chronon\", \"online_store\": \"redis://r:6379\","
                    " \"catchup\": true, \"start_date\": \"2024-03-01\", \"sensor_timeout_hours\": 2,"
                    " \"sensor_poke_interval_seconds\": 30, \"sensor_retries\": 0, \"time_parts\": []}",
                    &err),
              &err);
    assert_string_equal(s.chronon_bin, "/opt/chronon/bin/chronon");
    assert_string_equal(s.online_store, "redis://r:6379");
    assert_true(s.catchup);
    assert_string_equal(s.start_date, "2024-03-01");
    assert_int_equal(s.sensor_timeout_s, 7200);
    assert_int_equal(s.sensor_poke_s, 30);
    assert_int_equal(s.sensor_retries, 0);
    assert_int_equal(s.n_time_parts, 0);
    ASSERT_OK(apply(&s, &a, "{\"online_store\": {\"scheme\": \"mongodb\", \"host\": \"h\"}}", &err), &err);
    assert_string_equal(s.online_store, "mongodb://h");
    ASSERT_OK(apply(&s, &a, "{\"online_store\": {\"host\": \"h\", \"port\": \"99\", \"username\": \"u\","
                            " \"password\": \"p@ss:w/rd\"}}", &err), &err);
    assert_string_equal(s.online_store, "mongodb://u:p%40ss%3Aw%2Frd@h:99");
    cn_arena_fini(&a);
}

static void settings_errors_name_file_key_and_value(void **state) {
    (void)state;
    static const struct {
        const char *json, *want1, *want2;
        int code;
    } cases[] = {
        {"{\"join_concurency\": 2}", "unknown scheduler setting \"join_concurency\"", "join_concurrency", CN_ECONFIG},
        {"{\"join_concurrency\": \"3\"}", "join_concurrency: expected an integer from 1", "\"3\"", CN_ECONFIG},
        {"{\"group_by_batch_concurrency\": 0}", "group_by_batch_concurrency: expected an integer from 1", "0", CN_ECONFIG},
        {"{\"start_date\": \"2024-13-01\"}", "start_date: expected a date YYYY-MM-DD", "2024-13-01", CN_ECONFIG},
        {"{\"time_parts\": \"ds\"}", "time_parts: expected a list", "\"ds\"", CN_ECONFIG},
        {"{\"time_parts\": [\"ds\", 3]}", "time_parts[1]: expected a non-empty string", "3", CN_ECONFIG},
        {"{\"online_store\": {\"port\": 1}}", "online_store.host: expected a string", "missing", CN_ECONFIG},
        {"{\"online_store\": {\"host\": \"h\", \"pasword\": \"x\"}}", "online_store.pasword", "one of scheme", CN_ECONFIG},
        {"{\"catchup\": 1}", "catchup: expected true or false", "1", CN_ECONFIG},
        {"[1]", "expected an object of scheduler settings", "array", CN_ECONFIG},
        {"{\"retries\": ", "scheduler.json:1:", "malformed JSON", CN_ECORRUPT},
    };
    for (size_t i = 0; i < CN_ARRAY_LEN(cases); i++) {
        CnArena a;
        cn_arena_init(&a, 0);
        CnSchedSettings s;
        cn_sched_settings_defaults(&s);
        CnErr err = CN_ERR_INIT;
        int rc = apply(&s, &a, cases[i].json, &err);
        if (rc != cases[i].code) fail_msg("case %zu (%s): rc=%d: %s", i, cases[i].json, rc, cn_err_msg(&err));
        ASSERT_CONTAINS(cn_err_msg(&err), "scheduler.json");
        ASSERT_CONTAINS(cn_err_msg(&err), cases[i].want1);
        ASSERT_CONTAINS(cn_err_msg(&err), cases[i].want2);
        cn_arena_fini(&a);
    }
    /* teams.json's section is named by its path */
    CnArena a;
    cn_arena_init(&a, 0);
    CnSchedSettings s;
    cn_sched_settings_defaults(&s);
    CnErr err = CN_ERR_INIT;
    const char *j = "{\"retries\": -1}";
    ASSERT_ERR(cn_sched_settings_apply(&a, &s, "teams.json", "default.scheduler", j, strlen(j), &err), CN_ECONFIG, &err);
    ASSERT_CONTAINS(cn_err_msg(&err), "teams.json: default.scheduler.retries: expected an integer from 0 to 100");
    cn_arena_fini(&a);
}

static void bad_settings_file_fails_the_build(void **state) {
    (void)state;
    CnErr err = CN_ERR_INIT;
    CnSchedModel *m = NULL;
    char settings[PATH_MAX];
    snprintf(settings, sizeof settings, "%s", src_path("tests/sched/fixtures/bad_scheduler.json"));
    CnSchedOptions opt = {CN_SCHED_NAMING_GUIDE, settings};
    ASSERT_ERR(cn_sched_model_build(src_path("tests/sched/fixtures/repo_a"), &opt, &m, &err), CN_ECONFIG, &err);
    assert_null(m);
    ASSERT_CONTAINS(cn_err_msg(&err), "bad_scheduler.json");
    ASSERT_CONTAINS(cn_err_msg(&err), "\"join_concurency\"");
}

/* ---- bad input ---- */

static void broken_configs_are_reported_and_the_rest_builds(void **state) {
    (void)state;
    CnSchedModel *m = build("tests/sched/fixtures/repo_bad", CN_SCHED_NAMING_GUIDE);
    assert_int_equal(m->n_issues, 3);
    /* file order: group_bys/team_a/bad_op.v1, group_bys/team_c/broken.v1, then teams.json */
    assert_string_equal(m->issues[0].path, "production/group_bys/team_a/bad_op.v1");
    ASSERT_CONTAINS(m->issues[0].msg, "production/group_bys/team_a/bad_op.v1: aggregations[0].operation");
    ASSERT_CONTAINS(m->issues[0].msg, "99");
    assert_string_equal(m->issues[0].dag_id, "chronon_batch_dag_team_a");
    assert_string_equal(m->issues[1].path, "production/group_bys/team_c/broken.v1");
    ASSERT_CONTAINS(m->issues[1].msg, "production/group_bys/team_c/broken.v1:");
    ASSERT_CONTAINS(m->issues[1].msg, "malformed JSON");
    assert_string_equal(m->issues[1].dag_id, "chronon_batch_dag_team_c");
    /* a bad team setting is reported, and the default applies */
    assert_string_equal(m->issues[2].path, "teams.json");
    ASSERT_CONTAINS(m->issues[2].msg, "teams.json: team \"team_a\": dag_start_date \"2024-02-30\" is not a date");
    assert_null(m->issues[2].dag_id);
    assert_string_equal(dag(m, "chronon_join_team_a_ok_join_v1")->start_date, "2023-02-01");
    /* the rest still builds; the DAG that lost a config says so */
    assert_int_equal(m->n_dags, 2);
    assert_null(cn_sched_dag_find(m, "chronon_batch_dag_team_c"));
    const CnSchedDag *d = dag(m, "chronon_batch_dag_team_a");
    assert_true(d->incomplete);
    /* one GroupBy left in the team: the guide's plain names */
    (void)task(d, "backfill_task");
    d = dag(m, "chronon_join_team_a_ok_join_v1");
    assert_false(d->incomplete);
    (void)task(d, "wait_for_chronon_batch_dag_team_a__backfill_task");
    cn_sched_model_free(m);
}

static void cycle_marks_the_dag_incomplete(void **state) {
    (void)state;
    CnSchedModel *m = build("tests/sched/fixtures/repo_cycle", CN_SCHED_NAMING_GUIDE);
    const CnSchedDag *d = dag(m, "chronon_batch_dag_team_c");
    assert_true(d->incomplete);
    assert_int_equal(m->n_issues, 1);
    ASSERT_CONTAINS(m->issues[0].msg, "waits for itself");
    expect_edge(d, "a_v1.backfill_task", "b_v1.backfill_task");
    expect_edge(d, "b_v1.backfill_task", "a_v1.backfill_task");
    cn_sched_model_free(m);
}

static void missing_production_dir_is_an_error(void **state) {
    (void)state;
    CnErr err = CN_ERR_INIT;
    CnSchedModel *m = NULL;
    ASSERT_ERR(cn_sched_model_build(src_path("tests/sched/fixtures"), NULL, &m, &err), CN_ENOTFOUND, &err);
    assert_null(m);
    ASSERT_CONTAINS(cn_err_msg(&err), "no production/ directory");
}

/* Every allocation failure ends in CN_ENOMEM (or the OS's ENOMEM from a read) with no
 * model, never a crash, a leak or a model that silently lacks configs. */
static void allocation_failures_fail_cleanly(void **state) {
    (void)state;
    const char *repo = src_path("tests/sched/fixtures/repo_a");
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s", repo);
    size_t n_ok = 0, n_oom = 0;
    for (uint64_t n = 0; n_ok == 0 && n < 1000000; n = n < 64 ? n + 1 : n + n / 8) {
        char v[32];
        snprintf(v, sizeof v, "%llu", (unsigned long long)(cn_alloc_count() + n));
        setenv("CN_TEST_FAIL_ALLOC_AFTER", v, 1);
        cn_alloc_reset_fault();
        CnErr err = CN_ERR_INIT;
        CnSchedModel *m = NULL;
        int rc = cn_sched_model_build(path, NULL, &m, &err);
        unsetenv("CN_TEST_FAIL_ALLOC_AFTER");
        cn_alloc_reset_fault();
        if (rc == 0) {
            assert_int_equal(m->n_issues, 0);
            assert_int_equal(m->n_dags, 5);
            assert_int_equal(dag(m, "chronon_batch_dag_team_b")->n_tasks, 8);
            n_ok++;
        } else {
            if (rc != CN_ENOMEM && rc != -12 /* ENOMEM from a read */)
                fail_msg("allocation failure %llu gave rc=%d: %s", (unsigned long long)n, rc, cn_err_msg(&err));
            assert_null(m);
            n_oom++;
        }
        cn_sched_model_free(m);
    }
    assert_true(n_oom > 0);
    assert_true(n_ok > 0);
}

/* ---- Airflow rendering ---- */

static char *render(const CnSchedModel *m, const char *id) {
    CnBuf b = CN_BUF_INIT;
    CnErr err = CN_ERR_INIT;
    ASSERT_OK(cn_sched_airflow_render(m, dag(m, id), &b, &err), &err);
    return cn_buf_take(&b);
}

static void airflow_file_carries_ids_schedule_settings_and_edges(void **state) {
    (void)state;
    CnSchedModel *m = build("tests/sched/fixtures/repo_a", CN_SCHED_NAMING_GUIDE);
    char *py = render(m, "chronon_batch_dag_team_a");
    ASSERT_CONTAINS(py, "dag_id=\"chronon_batch_dag_team_a\",");
    ASSERT_CONTAINS(py, "schedule=\"@daily\",");
    ASSERT_CONTAINS(py, "start_date=datetime(2024, 1, 1),");
    ASSERT_CONTAINS(py, "max_active_tasks=7,");
    ASSERT_CONTAINS(py, "\"retries\": 3,");
    ASSERT_CONTAINS(py, "\"retry_delay\": timedelta(seconds=300),");
    ASSERT_CONTAINS(py, "\"owner\": \"team-a-owners\",");
    ASSERT_CONTAINS(py, "tasks[\"upload_task\"] = BashOperator(\n        task_id=\"upload_task\",\n"
                        "        bash_command=\"chronon run --mode upload --conf production/group_bys/team_a/single.v1 "
                        "--ds {{ ds }} --repo '/srv/chronon repo'\",\n"
                        "        env={\"CHRONON_ONLINE\": \"mongodb://admin:secret@mongodb:27017/admin\"},\n"
                        "        append_env=True,\n");
    ASSERT_CONTAINS(py, "tasks[\"wait_for_data_events_ds\"] = BashSensor(");
    ASSERT_CONTAINS(py, "bash_command=\"chronon table partitions data.events --has {{ ds }}\"");
    ASSERT_CONTAINS(py, "tasks[\"wait_for_data_events_ds\"] >> tasks[\"backfill_task\"]\n");
    ASSERT_CONTAINS(py, "tasks[\"backfill_task\"] >> tasks[\"upload_task\"]\n");
    cn_free(py);
    py = render(m, "chronon_join_team_b_never_v1");
    ASSERT_CONTAINS(py, "schedule=None,");
    ASSERT_CONTAINS(py, "max_active_tasks=2,");
    ASSERT_CONTAINS(py, "= ExternalTaskSensor(\n        task_id=\"wait_for_chronon_staging_query_team_b__backfill_task\",\n"
                        "        external_dag_id=\"chronon_staging_query_team_b\",\n"
                        "        external_task_id=\"backfill_task\",\n");
    cn_free(py);
    py = render(m, "chronon_join_team_b_training_v1");
    /* the sensor's Jinja quotes survive as Python text */
    ASSERT_CONTAINS(py, "--has {{ ds if ds <= '2024-06-30' else '2024-06-30' }}\"");
    cn_free(py);
    cn_sched_model_free(m);
}

/* ---- label joins (Chronon's helpers, mode label-join) ---- */

static void label_join_dags_guide_naming(void **state) {
    (void)state;
    CnSchedModel *m = build("tests/sched/fixtures/repo_label", CN_SCHED_NAMING_GUIDE);
    assert_int_equal(m->n_issues, 0);
    assert_int_equal(m->n_dags, 5);
    const CnSchedDag *d = dag(m, "chronon_label_join_team_l_training_v1");
    assert_int_equal(d->kind, CN_SCHED_DAG_LABEL_JOIN);
    assert_string_equal(cn_sched_dag_kind_name(d->kind), "label_join");
    /* labelPart.metaData.offlineSchedule, not the join's @daily */
    assert_string_equal(d->schedule, "@weekly");
    assert_int_equal(d->concurrency, 4); /* join_concurrency */
    static const char *const ids[] = {"label_join_task", "wait_for_data_left_ds", "wait_for_data_returns_ds",
                                      "wait_for_ns_l_team_l_training_v1",
                                      "wait_for_chronon_join_team_l_training_v1__backfill_task",
                                      "wait_for_chronon_batch_dag_team_l__backfill_task"};
    expect_tasks(d, ids, CN_ARRAY_LEN(ids));
    for (size_t i = 1; i < CN_ARRAY_LEN(ids); i++) expect_edge(d, ids[i], "label_join_task");
    assert_int_equal(n_edges(d), 5);
    const CnSchedTask *t = task(d, "label_join_task");
    assert_string_equal(t->mode, "label-join");
    assert_null(t->env_online);
    char real[PATH_MAX], want[PATH_MAX + 128];
    assert_non_null(realpath(src_path("tests/sched/fixtures/repo_label"), real)); /* chronon_path */
    snprintf(want, sizeof want,
             "chronon run --mode label-join --conf production/joins/team_l/training.v1 --ds {{ ds }} --repo %s", real);
    expect_command(m, t, want);
    cn_sched_model_free(m);
}

static void label_join_dags_chronon_naming(void **state) {
    (void)state;
    CnSchedModel *m = build("tests/sched/fixtures/repo_label", CN_SCHED_NAMING_CHRONON);
    assert_int_equal(m->n_issues, 0);
    /* the @never join has no backfill DAG in Chronon's helpers, its labels still have one */
    assert_int_equal(m->n_dags, 4);
    assert_null(cn_sched_dag_find(m, "chronon_join_team_l__manual__v1"));
    const CnSchedDag *d = dag(m, "chronon_label_join_team_l__training__v1");
    assert_string_equal(d->schedule, "@weekly");
    static const char *const ids[] = {
        "compute_labels__team_l__training__v1", "wait_for_data__left_ds", "wait_for_data__returns_ds",
        "wait_for_ns_l__team_l_training_v1",
        "wait_for_chronon_join_team_l__training__v1__compute_join__team_l__training__v1",
        "wait_for_chronon_group_by_batch_team_l__group_by_batch_backfill__team_l__returns__v1"};
    expect_tasks(d, ids, CN_ARRAY_LEN(ids));
    for (size_t i = 1; i < CN_ARRAY_LEN(ids); i++) expect_edge(d, ids[i], "compute_labels__team_l__training__v1");
    /* "{{ join_backfill_table }}" left in a dependency names the join's output table */
    d = dag(m, "chronon_label_join_team_l__manual__v1");
    assert_string_equal(d->schedule, "@never");
    static const char *const man[] = {"compute_labels__team_l__manual__v1", "wait_for_ns_l__team_l_manual_v1"};
    expect_tasks(d, man, CN_ARRAY_LEN(man));
    const CnSchedTask *s = task(d, "wait_for_ns_l__team_l_manual_v1");
    assert_string_equal(s->table, "ns_l.team_l_manual_v1");
    assert_string_equal(s->partition, "ds={{ ds }}");
    expect_edge(d, "wait_for_ns_l__team_l_manual_v1", "compute_labels__team_l__manual__v1");
    char *py = render(m, "chronon_label_join_team_l__manual__v1");
    ASSERT_CONTAINS(py, "dag_id=\"chronon_label_join_team_l__manual__v1\",");
    ASSERT_CONTAINS(py, "schedule=None,");
    ASSERT_CONTAINS(py, "bash_command=\"chronon run --mode label-join --conf production/joins/team_l/manual.v1 "
                        "--ds {{ ds }} --repo ");
    cn_free(py);
    cn_sched_model_free(m);
}

CN_TEST_MAIN(cmocka_unit_test(quickstart_example_builds_the_guide_dags),
             cmocka_unit_test(quickstart_example_chronon_naming),
             cmocka_unit_test(single_groupby_team_keeps_guide_names_and_settings),
             cmocka_unit_test(several_groupbys_get_prefixed_ids_and_share_sensors),
             cmocka_unit_test(groupby_on_staging_query_output_waits_for_it),
             cmocka_unit_test(join_schedule_sensors_and_part_waits),
             cmocka_unit_test(chronon_naming_follows_the_helpers),
             cmocka_unit_test(normalize_drops_time_parts),
             cmocka_unit_test(shell_words_quote_what_needs_it),
             cmocka_unit_test(settings_defaults_and_values),
             cmocka_unit_test(settings_errors_name_file_key_and_value),
             cmocka_unit_test(bad_settings_file_fails_the_build),
             cmocka_unit_test(broken_configs_are_reported_and_the_rest_builds),
             cmocka_unit_test(cycle_marks_the_dag_incomplete),
             cmocka_unit_test(missing_production_dir_is_an_error),
             cmocka_unit_test(allocation_failures_fail_cleanly),
             cmocka_unit_test(airflow_file_carries_ids_schedule_settings_and_edges),
             cmocka_unit_test(label_join_dags_guide_naming),
             cmocka_unit_test(label_join_dags_chronon_naming))
