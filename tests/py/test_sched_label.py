"""The scheduler runs label joins (docs/scheduler.md "Label joins"): a Join with a labelPart
gets the label-join DAG of Chronon's helpers, whose task runs `chronon run --mode
label-join` for the run's ds after the join's own backfill of that ds; the labels it writes
are the oracle's. A labelPart schedule that does not parse is reported naming the file,
the field and the value."""
import json
import os

import pytest

import sched_util as u
from engine_util import Warehouse, co
from test_label_join import canon, day, gb_entities, join, load_tables

pytestmark = pytest.mark.skipif(not u.BIN or not u.SRC, reason="run through ctest (CHRONON_BIN, CN_SOURCE_DIR)")

LABEL_DAG = "chronon_label_join_t_lab_v1"
JOIN_DAG = "chronon_join_t_lab_v1"


def make_repo(tmp, label_schedule="@daily"):
    repo = os.path.join(str(tmp), "repo")
    w = Warehouse(repo)   # <repo>/warehouse and its catalog: the scheduler's defaults
    tables = load_tables(w, str(tmp))
    conf = join("lab.v1", [{"groupBy": gb_entities(), "prefix": "s"}], 3, 1, row_ids=["uid", "user"])
    conf["metaData"]["offlineSchedule"] = "@daily"
    conf["labelPart"]["metaData"] = {"offlineSchedule": label_schedule, "dependencies": [
        json.dumps({"name": "wait_for_raw.ent_ds", "spec": "raw.ent/ds={{ ds }}"}),
        json.dumps({"name": "wait_for_{{ join_backfill_table }}", "spec": "{{ join_backfill_table }}/ds={{ ds }}"})]}
    u.write(os.path.join(repo, "production/joins/t/lab.v1"), json.dumps(conf))
    u.write(os.path.join(repo, "teams.json"), json.dumps({"default": {"namespace": "out"},
                                                          "t": {"namespace": "out", "dag_start_date": day(0)}}))
    u.write(os.path.join(repo, "scheduler.json"), json.dumps({
        "poll_interval_seconds": 0.02, "retries": 0, "sensor_poke_interval_seconds": 0.05,
        "task_timeout_seconds": 120}))
    env = dict(os.environ, CHRONON_REPO_PATH=repo, CHRONON_SCHEDULER_TODAY=day(7))
    for k in ("CHRONON_WAREHOUSE", "CHRONON_CATALOG", "CHRONON_SCHEDULER_DB"):
        env.pop(k, None)
    return repo, env, w, conf, tables


def test_scheduler_runs_the_label_join_after_the_backfill(tmp_path):
    repo, env, w, conf, tables = make_repo(tmp_path)
    r = u.chronon(env, "dags", "list", "--json")
    assert r.returncode == 0, r.stderr
    assert LABEL_DAG in r.stdout and JOIN_DAG in r.stdout
    r = u.chronon(env, "scheduler", "--once", "--ds", day(5), timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    state, tasks = u.task_states(env, LABEL_DAG, day(5))
    assert state == "success", tasks
    assert set(tasks) == {"label_join_task", "wait_for_raw_ent_ds", "wait_for_out_t_lab_v1",
                          "wait_for_chronon_join_t_lab_v1__backfill_task"}
    jstate, jtasks = u.task_states(env, JOIN_DAG, day(5))
    assert jstate == "success", jtasks
    # the label task started after the join's backfill of the same ds ended
    assert jtasks["backfill_task"]["end_ms"] <= tasks["label_join_task"]["start_ms"]
    r = u.chronon(env, "tasks", "logs", LABEL_DAG, "label_join_task", day(5))
    assert r.returncode == 0, r.stderr
    assert "run --mode label-join --conf production/joins/t/lab.v1 --ds %s" % day(5) in r.stdout, r.stdout
    assert "label-join t.lab.v1: label_ds %s, left days %s..%s" % (day(5), day(3), day(5)) in r.stdout, r.stdout
    got = w.rows("out.t_lab_v1_labels")
    assert got and canon(got) == canon(co.label_join(conf, tables, day(5)))


def test_bad_label_schedule_is_reported(tmp_path):
    repo, env, _, _, _ = make_repo(tmp_path, label_schedule="0 3 * *")
    r = u.chronon(env, "dags", "list")
    assert r.returncode == 1, r.stdout + r.stderr
    assert "production/joins/t/lab.v1" in r.stderr and "labelPart.metaData.offlineSchedule" in r.stderr, r.stderr
    assert '"0 3 * *" is not a schedule' in r.stderr and "the label join of t.lab.v1" in r.stderr, r.stderr
    # the join's own DAG is still built
    assert JOIN_DAG in r.stdout and LABEL_DAG not in r.stdout, r.stdout
