/* test_sched_state.c: the scheduler's state DB on SQLite: two connections racing for one
 * task instance (exactly one claim wins), a finished row is not claimable, run rows and
 * pausing, and a database written by another schema version is refused. */
#include "cn_test.h"

#include <limits.h>
#include <sqlite3.h>
#include <unistd.h>

#include "base/alloc.h"
#include "sched/sched.h"

static void db_path(char *out, size_t cap, const char *name) {
    char dir[] = "/tmp/cn_sched_state_XXXXXX";
    assert_non_null(mkdtemp(dir));
    snprintf(out, cap, "sqlite:%s/%s", dir, name);
}

static CnSchedDb *open_db(const char *uri) {
    CnErr err = CN_ERR_INIT;
    CnSchedDb *db = NULL;
    ASSERT_OK(cn_sched_db_open(uri, true, &db, &err), &err);
    return db;
}

static void claim_race_has_one_winner(void **st) {
    (void)st;
    char uri[PATH_MAX];
    db_path(uri, sizeof uri, "s.db");
    CnSchedDb *a = open_db(uri), *b = open_db(uri);
    CnErr err = CN_ERR_INIT;
    ASSERT_OK(cn_sched_db_ti_ensure(a, "d", "t", "2024-01-01", &err), &err);
    ASSERT_OK(cn_sched_db_ti_ensure(b, "d", "t", "2024-01-01", &err), &err); /* idempotent */
    CnSchedTi ra, rb;
    ASSERT_OK(cn_sched_db_ti_get(a, "d", "t", "2024-01-01", &ra, &err), &err);
    ASSERT_OK(cn_sched_db_ti_get(b, "d", "t", "2024-01-01", &rb, &err), &err);
    assert_int_equal(ra.state, CN_SCHED_TI_NONE);
    CnSchedTi ca = ra, cb = rb;
    ca.state = cb.state = CN_SCHED_TI_QUEUED;
    ca.try_number = cb.try_number = 1;
    snprintf(ca.owner, sizeof ca.owner, "host:1:1");
    snprintf(cb.owner, sizeof cb.owner, "host:2:2");
    bool wa = false, wb = false;
    ASSERT_OK(cn_sched_db_ti_cas(a, &ra, &ca, &wa, &err), &err);
    ASSERT_OK(cn_sched_db_ti_cas(b, &rb, &cb, &wb, &err), &err); /* b read the old row */
    assert_true(wa);
    assert_false(wb);
    CnSchedTi now;
    ASSERT_OK(cn_sched_db_ti_get(b, "d", "t", "2024-01-01", &now, &err), &err);
    assert_string_equal(now.owner, "host:1:1");
    assert_int_equal(now.try_number, 1);
    /* success is final: a stale claim from "queued" by another owner cannot move it */
    CnSchedTi done = now;
    done.state = CN_SCHED_TI_SUCCESS;
    ASSERT_OK(cn_sched_db_ti_cas(a, &now, &done, &wa, &err), &err);
    assert_true(wa);
    ASSERT_OK(cn_sched_db_ti_cas(b, &now, &cb, &wb, &err), &err);
    assert_false(wb);
    CnSchedTi *all = NULL;
    size_t n = 0;
    ASSERT_OK(cn_sched_db_ti_list(b, NULL, NULL, true, &all, &n, &err), &err);
    assert_int_equal(n, 0); /* nothing queued or running */
    cn_free(all);
    ASSERT_OK(cn_sched_db_ti_list(b, "d", NULL, false, &all, &n, &err), &err);
    assert_int_equal(n, 1);
    assert_int_equal(all[0].state, CN_SCHED_TI_SUCCESS);
    cn_free(all);
    cn_sched_db_close(a);
    cn_sched_db_close(b);
}

static void runs_and_pausing(void **st) {
    (void)st;
    char uri[PATH_MAX];
    db_path(uri, sizeof uri, "r.db");
    CnSchedDb *db = open_db(uri);
    CnErr err = CN_ERR_INIT;
    bool ins = false;
    ASSERT_OK(cn_sched_db_run_insert(db, "d", "2024-01-02", "scheduled", 5, &ins, &err), &err);
    assert_true(ins);
    ASSERT_OK(cn_sched_db_run_insert(db, "d", "2024-01-01", "manual", 6, &ins, &err), &err);
    ASSERT_OK(cn_sched_db_run_insert(db, "d", "2024-01-02", "manual", 7, &ins, &err), &err);
    assert_false(ins);
    CnSchedRun last;
    ASSERT_OK(cn_sched_db_run_last(db, "d", &last, &err), &err);
    assert_string_equal(last.ds, "2024-01-02");
    assert_string_equal(last.run_type, "scheduled");
    assert_int_equal(cn_sched_db_run_last(db, "other", &last, &err), CN_ENOTFOUND);
    CnSchedRun *runs = NULL;
    size_t n = 0;
    ASSERT_OK(cn_sched_db_run_list(db, "d", NULL, &runs, &n, &err), &err);
    assert_int_equal(n, 2);
    assert_string_equal(runs[0].ds, "2024-01-01"); /* ds order */
    runs[0].state = CN_SCHED_RUN_FAILED;
    runs[0].end_ms = 9;
    ASSERT_OK(cn_sched_db_run_set(db, &runs[0], &err), &err);
    cn_free(runs);
    ASSERT_OK(cn_sched_db_run_list(db, NULL, "2024-01-01", &runs, &n, &err), &err);
    assert_int_equal(n, 1);
    assert_int_equal(runs[0].state, CN_SCHED_RUN_FAILED);
    assert_int_equal(runs[0].end_ms, 9);
    cn_free(runs);
    bool paused = true;
    ASSERT_OK(cn_sched_db_is_paused(db, "d", &paused, &err), &err);
    assert_false(paused);
    ASSERT_OK(cn_sched_db_pause(db, "d", true, 1, &err), &err);
    ASSERT_OK(cn_sched_db_pause(db, "d", true, 2, &err), &err);
    ASSERT_OK(cn_sched_db_is_paused(db, "d", &paused, &err), &err);
    assert_true(paused);
    ASSERT_OK(cn_sched_db_pause(db, "d", false, 3, &err), &err);
    ASSERT_OK(cn_sched_db_is_paused(db, "d", &paused, &err), &err);
    assert_false(paused);
    cn_sched_db_close(db);
}

static void other_schema_version_is_refused(void **st) {
    (void)st;
    char uri[PATH_MAX];
    db_path(uri, sizeof uri, "v.db");
    cn_sched_db_close(open_db(uri));
    sqlite3 *raw = NULL;
    assert_int_equal(sqlite3_open(uri + 7, &raw), SQLITE_OK);
    assert_int_equal(sqlite3_exec(raw, "UPDATE sched_meta SET value = '99' WHERE key = 'schema_version'", NULL, NULL,
                                  NULL),
                     SQLITE_OK);
    sqlite3_close(raw);
    CnErr err = CN_ERR_INIT;
    CnSchedDb *db = NULL;
    assert_int_equal(cn_sched_db_open(uri, true, &db, &err), CN_EUNSUPPORTED);
    assert_null(db);
    ASSERT_CONTAINS(cn_err_msg(&err), "schema_version 99, this chronon reads version 1");
    /* without create, a missing file is "no state yet", not an error to print */
    CnErr e2 = CN_ERR_INIT;
    assert_int_equal(cn_sched_db_open("sqlite:/nonexistent/dir/x.db", false, &db, &e2), CN_ENOTFOUND);
    CnErr e3 = CN_ERR_INIT;
    assert_int_equal(cn_sched_db_open("mysql://h/db", true, &db, &e3), CN_EINVAL);
    ASSERT_CONTAINS(cn_err_msg(&e3), "unsupported URI");
}

CN_TEST_MAIN(cmocka_unit_test(claim_race_has_one_winner), cmocka_unit_test(runs_and_pausing),
             cmocka_unit_test(other_schema_version_is_refused))
