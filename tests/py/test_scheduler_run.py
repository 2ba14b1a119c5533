"""`chronon scheduler --once` and the run-state verbs end to end, with a fake task runner
(sched_util.py): task order, logs, failures and upstream_failed, retries with backoff, a
timeout that kills the process group, partition sensors on the catalog, pause/unpause,
trigger, clear, backfill, an unwritable log directory, bad settings and --help."""
import json
import os
import sqlite3
import time

import pytest

import sched_util as u
from sched_util import GB_DAG, SQ_DAG, chronon

pytestmark = pytest.mark.skipif(not u.BIN or not u.SRC, reason="run through ctest (CHRONON_BIN, CN_SOURCE_DIR)")

DS = "2024-01-02"


def test_once_runs_chain_in_order_with_logs(tmp_path):
    repo, env = u.make_repo(tmp_path)
    r = chronon(env, "scheduler", "--once", "--ds", DS, "--dag", GB_DAG)
    assert r.returncode == 0, r.stdout + r.stderr
    iv = u.intervals(env)
    bf, up, md = (iv[(GB_DAG, t, DS, 1)] for t in ("backfill_task", "upload_task", "metadata_upload_task"))
    assert bf[1] <= up[0] and up[1] <= md[0], "tasks ran out of dependency order"
    assert len(iv) == 3
    state, tasks = u.task_states(env, GB_DAG, DS)
    assert state == "success"
    assert {k: v["state"] for k, v in tasks.items()} == {
        "backfill_task": "success", "upload_task": "success", "metadata_upload_task": "success"}
    r = chronon(env, "tasks", "logs", GB_DAG, "upload_task", DS)
    assert r.returncode == 0, r.stderr
    # the command the model holds, with {{ ds }} rendered, and the online store for uploads
    assert "argv run --mode upload --conf production/group_bys/t/gb.v1 --ds %s --repo" % DS in r.stdout
    assert "CHRONON_ONLINE=redis://kv.example:6379" in r.stdout
    assert "exit code 0" in r.stdout
    log = os.path.join(repo, "warehouse", "logs", GB_DAG, "upload_task", DS, "1.log")
    assert os.path.exists(log)
    # the default state DB is <warehouse>/scheduler.db and holds the schema version
    db = sqlite3.connect(os.path.join(repo, "warehouse", "scheduler.db"))
    assert db.execute("SELECT value FROM sched_meta WHERE key='schema_version'").fetchone() == ("1",)
    assert db.execute("SELECT count(*) FROM task_instances WHERE state='success'").fetchone() == (3,)
    # a second --once for the same day runs nothing again
    r = chronon(env, "scheduler", "--once", "--ds", DS, "--dag", GB_DAG)
    assert r.returncode == 0 and len(u.intervals(env)) == 3
    r = chronon(env, "dags", "list")
    row = [l.split() for l in r.stdout.splitlines() if l.startswith(GB_DAG)][0]
    assert row[3:] == ["no", DS, "success"]


def test_failure_stops_dependents_and_log_is_readable(tmp_path):
    repo, env = u.make_repo(tmp_path, plan={"upload_task": {"exit": 3}})
    r = chronon(env, "scheduler", "--once", "--ds", DS, "--dag", GB_DAG)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "1 failed, 1 upstream_failed" in r.stdout
    state, tasks = u.task_states(env, GB_DAG, DS)
    assert state == "failed"
    assert tasks["upload_task"]["state"] == "failed"
    assert "exit code 3" in tasks["upload_task"]["reason"]
    assert tasks["metadata_upload_task"]["state"] == "upstream_failed"
    assert not any(k[1] == "metadata_upload_task" for k in u.intervals(env)), "a dependent of a failed task ran"
    r = chronon(env, "tasks", "logs", GB_DAG, "upload_task", DS)
    assert r.returncode == 0
    assert "failing with exit code 3 on try 1" in r.stdout and "exit code 3 after" in r.stdout
    r = chronon(env, "tasks", "logs", GB_DAG, "metadata_upload_task", DS)
    assert r.returncode == 1 and "has not run" in r.stderr


def test_retries_with_exponential_backoff(tmp_path):
    repo, env = u.make_repo(tmp_path, settings={"retries": 3, "retry_delay_seconds": 0.2},
                            plan={"backfill_task": {"exit": 2}})
    r = chronon(env, "scheduler", "--once", "--ds", DS, "--dag", GB_DAG)
    assert r.returncode == 1
    iv = u.intervals(env)
    starts = sorted(v[0] for k, v in iv.items() if k[1] == "backfill_task")
    ends = sorted(v[1] for k, v in iv.items() if k[1] == "backfill_task")
    assert len(starts) == 4, "retries=3 means 4 tries, got %d" % len(starts)
    gaps = [s - e for s, e in zip(starts[1:], ends)]
    for g, want in zip(gaps, [0.2, 0.4, 0.8]):
        assert g >= want * 0.95, "retry gaps %r, expected at least 0.2, 0.4, 0.8 s" % gaps
    assert gaps[2] < 10
    for n in range(1, 5):  # one log per try
        r = chronon(env, "tasks", "logs", GB_DAG, "backfill_task", DS, "--try", str(n))
        assert r.returncode == 0 and "try=%d/4" % n in r.stdout, r.stdout + r.stderr
    r = chronon(env, "tasks", "logs", GB_DAG, "backfill_task", DS, "--try", "5")
    assert r.returncode == 1 and "no log for try 5" in r.stderr
    # a task that fails once and then succeeds ends in success
    repo2, env2 = u.make_repo(tmp_path / "b", settings={"retries": 2, "retry_delay_seconds": 0.05},
                              plan={"backfill_task": {"exit": 2, "fail_tries": 1}})
    r = chronon(env2, "scheduler", "--once", "--ds", DS, "--dag", GB_DAG)
    assert r.returncode == 0, r.stdout
    _, tasks = u.task_states(env2, GB_DAG, DS)
    assert tasks["backfill_task"]["state"] == "success" and tasks["backfill_task"]["try_number"] == 2


def test_timeout_kills_the_process_group(tmp_path):
    repo, env = u.make_repo(tmp_path, settings={"task_timeout_seconds": 2},
                            plan={"backfill_task": {"sleep": 30}})
    t0 = time.time()
    r = chronon(env, "scheduler", "--once", "--ds", DS, "--dag", GB_DAG)
    assert r.returncode == 1
    assert time.time() - t0 < 15
    _, tasks = u.task_states(env, GB_DAG, DS)
    assert tasks["backfill_task"]["state"] == "failed"
    assert "timed out after 2.000 s" in tasks["backfill_task"]["reason"]
    (start, end, pid), = [v for k, v in u.intervals(env).items() if k[1] == "backfill_task"]
    assert end is None, "the sleeping task was not killed"
    assert not u.pid_alive(pid), "the task's process survived the timeout"
    r = chronon(env, "tasks", "logs", GB_DAG, "backfill_task", DS)
    assert "timed out" in r.stdout and "killed" in r.stdout


def test_partition_sensor_blocks_then_runs(tmp_path):
    repo, env = u.make_repo(tmp_path)
    r = chronon(env, "scheduler", "--once", "--ds", DS, "--dag", SQ_DAG)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "blocked: %s wait_for_data_raw_ds %s: running: waiting for partition data.raw/ds=%s" % (SQ_DAG, DS, DS) in r.stdout
    assert not u.intervals(env)
    csv = tmp_path / "raw.csv"
    csv.write_text("user_id,amount\nu1,3\n")
    # another day's partition does not satisfy it
    r = chronon(env, "load", str(csv), "data.raw", "--ds", "2024-01-01", "--repo", repo)
    assert r.returncode == 0, r.stderr
    r = chronon(env, "scheduler", "--once", "--ds", DS, "--dag", SQ_DAG)
    assert r.returncode == 0 and not u.intervals(env)
    r = chronon(env, "load", str(csv), "data.raw", "--ds", DS, "--repo", repo)
    assert r.returncode == 0, r.stderr
    r = chronon(env, "scheduler", "--once", "--ds", DS, "--dag", SQ_DAG)
    assert r.returncode == 0, r.stdout
    state, tasks = u.task_states(env, SQ_DAG, DS)
    assert state == "success" and tasks["wait_for_data_raw_ds"]["state"] == "success"
    assert [k[1] for k in u.intervals(env)] == ["backfill_task"]


def test_sensor_timeout_fails_the_run(tmp_path):
    repo, env = u.make_repo(tmp_path, settings={"sensor_timeout_seconds": 0.3, "sensor_retries": 0})
    d = u.start_daemon(env)
    try:
        u.wait_for(lambda: chronon(env, "dags", "state", SQ_DAG, "2024-01-01").stdout.startswith("failed"),
                   what="sensor timeout")
    finally:
        u.stop(d)
    _, tasks = u.task_states(env, SQ_DAG, "2024-01-01")
    assert tasks["wait_for_data_raw_ds"]["state"] == "failed"
    assert "sensor timed out" in tasks["wait_for_data_raw_ds"]["reason"]
    assert tasks["backfill_task"]["state"] == "upstream_failed"


def test_pause_unpause_trigger_clear(tmp_path):
    repo, env = u.make_repo(tmp_path)
    r = chronon(env, "dags", "pause", GB_DAG)
    assert r.returncode == 0 and "paused: True" in r.stdout
    r = chronon(env, "dags", "list", "--json")
    doc = {d["dag_id"]: d for d in json.loads(r.stdout)["dags"]}
    assert doc[GB_DAG]["paused"] is True and doc[SQ_DAG]["paused"] is False
    r = chronon(env, "scheduler", "--once", "--ds", DS, "--dag", GB_DAG)
    assert r.returncode == 0 and not u.intervals(env), "a paused DAG ran"
    r = chronon(env, "dags", "unpause", GB_DAG)
    assert r.returncode == 0 and "paused: False" in r.stdout
    r = chronon(env, "dags", "trigger", GB_DAG, "--ds", "2024-01-05")
    assert r.returncode == 0, r.stderr
    r = chronon(env, "dags", "trigger", GB_DAG, "--ds", "2024-01-05")
    assert r.returncode == 1 and "already has a run" in r.stderr
    r = chronon(env, "dags", "state", GB_DAG, "2024-01-05")
    assert r.returncode == 0 and r.stdout.splitlines()[0] == "queued"
    r = chronon(env, "scheduler", "--once", "--ds", "2024-01-05", "--dag", GB_DAG)
    assert r.returncode == 0
    assert len(u.intervals(env)) == 3
    # clear with --downstream re-runs the task and what follows it, not what precedes
    r = chronon(env, "tasks", "clear", GB_DAG, "upload_task", "2024-01-05", "--downstream")
    assert r.returncode == 0 and "cleared 2" in r.stdout, r.stdout + r.stderr
    state, tasks = u.task_states(env, GB_DAG, "2024-01-05")
    assert state == "running" and tasks["upload_task"]["state"] == "none"
    assert tasks["backfill_task"]["state"] == "success"
    r = chronon(env, "scheduler", "--once", "--ds", "2024-01-05", "--dag", GB_DAG)
    assert r.returncode == 0
    ran = sorted((k[1], k[3]) for k in u.intervals(env))
    assert ran == [("backfill_task", 1), ("metadata_upload_task", 1), ("metadata_upload_task", 2),
                   ("upload_task", 1), ("upload_task", 2)]
    assert os.path.exists(os.path.join(repo, "warehouse/logs", GB_DAG, "upload_task/2024-01-05/2.log"))
    assert u.task_states(env, GB_DAG, "2024-01-05")[0] == "success"
    r = chronon(env, "tasks", "clear", GB_DAG, "upload_task", "2023-01-01")
    assert r.returncode == 1 and "no instance for 2023-01-01" in r.stderr


def test_backfill_runs_a_range_in_order(tmp_path):
    repo, env = u.make_repo(tmp_path)
    chronon(env, "dags", "pause", GB_DAG)  # backfill runs paused DAGs too, as Airflow's does
    r = chronon(env, "dags", "backfill", GB_DAG, "--start-ds", "2024-02-01", "--end-ds", "2024-02-03")
    assert r.returncode == 0, r.stdout + r.stderr
    recs = [x for x in u.records(env) if x[0] == "start" and x[2] == "backfill_task"]
    assert [x[3] for x in recs] == ["2024-02-01", "2024-02-02", "2024-02-03"]
    for ds in ("2024-02-01", "2024-02-02", "2024-02-03"):
        assert u.task_states(env, GB_DAG, ds)[0] == "success"
    r = chronon(env, "dags", "backfill", GB_DAG, "--start-ds", "2024-02-03", "--end-ds", "2024-02-01")
    assert r.returncode == 2 and "after --end-ds" in r.stderr


def test_unwritable_log_dir_fails_the_task_not_the_daemon(tmp_path):
    # root ignores permissions, so the log directory sits under a regular file
    blocker = tmp_path / "not_a_dir"
    blocker.write_text("")
    repo, env = u.make_repo(tmp_path, settings={"log_dir": str(blocker / "logs")})
    r = chronon(env, "scheduler", "--once", "--ds", DS, "--dag", GB_DAG)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "Traceback" not in r.stderr and "Assertion" not in r.stderr
    _, tasks = u.task_states(env, GB_DAG, DS)
    assert tasks["backfill_task"]["state"] == "failed"
    assert "cannot create log directory" in tasks["backfill_task"]["reason"]
    assert str(blocker) in tasks["backfill_task"]["reason"]
    assert tasks["upload_task"]["state"] == "upstream_failed"
    assert not u.intervals(env), "a task ran without a log"
    r = chronon(env, "tasks", "logs", GB_DAG, "backfill_task", DS)
    assert r.returncode == 1 and "cannot create log directory" in r.stderr
    # the daemon keeps going: the other DAG still advances
    d = u.start_daemon(env)
    try:
        u.wait_for(lambda: "running" in chronon(env, "dags", "state", SQ_DAG, "2024-01-01").stdout,
                   what="the other DAG to run")
        assert d.poll() is None, "the daemon died"
    finally:
        u.stop(d)


def test_bad_settings_and_db(tmp_path):
    repo, env = u.make_repo(tmp_path, settings={"poll_interval_seconds": -1})
    r = chronon(env, "scheduler", "--once")
    assert r.returncode == 1
    assert "poll_interval_seconds: expected a number of seconds from 0.001 to 3600, got integer -1" in r.stderr
    repo, env = u.make_repo(tmp_path / "b")
    env["CHRONON_SCHEDULER_DB"] = "mysql://x"
    r = chronon(env, "scheduler", "--once")
    assert r.returncode == 1 and "unsupported URI (expected sqlite:<path> or postgresql://" in r.stderr
    env["CHRONON_SCHEDULER_DB"] = "postgresql://bob:hunter2@127.0.0.1:1/x?connect_timeout=2"
    r = chronon(env, "scheduler", "--once")
    assert r.returncode == 1 and "cannot connect" in r.stderr and "hunter2" not in r.stderr
    del env["CHRONON_SCHEDULER_DB"]
    r = chronon(env, "scheduler", "--ds", DS)
    assert r.returncode == 2 and "--ds goes with --once" in r.stderr
    r = chronon(env, "scheduler", "--once", "--ds", "2024-02-30")
    assert r.returncode == 2 and "'2024-02-30' is not a date" in r.stderr
    r = chronon(env, "dags", "state", "nope", DS)
    assert r.returncode == 1 and "no DAG 'nope'" in r.stderr and GB_DAG in r.stderr
    r = chronon(env, "tasks", "logs", GB_DAG, "nope", DS)
    assert r.returncode == 1 and "has no task 'nope'" in r.stderr


def test_help_matches_the_verbs(tmp_path):
    for args, text in [(("scheduler",), "chronon scheduler [--once [--ds YYYY-MM-DD]] [--dag DAG_ID]"),
                       (("dags", "state"), "chronon dags backfill <dag_id> --start-ds"),
                       (("dags", "trigger"), "chronon dags pause <dag_id>"),
                       (("tasks", "logs"), "chronon tasks clear <dag_id> <task_id> <ds> [--downstream]"),
                       (("dags", "list"), "chronon dags state|trigger|backfill|pause|unpause")]:
        r = chronon(dict(os.environ), *args, "--help")
        assert r.returncode == 0 and text in r.stdout, (args, r.stdout)


def test_once_finishes_a_join_waiting_on_another_dag(tmp_path):
    # The join's wait on the GroupBy DAG must see the backfill that finished in the same
    # --once call, even with a long poke interval (the wait is re-poked after the upstream
    # settles instead of the call ending with the join "blocked").
    repo, env = u.make_repo(tmp_path, settings={"sensor_poke_interval_seconds": 30})
    with open(os.path.join(repo, "production/group_bys/t/gb.v1")) as f:
        gb = json.load(f)
    u.write(os.path.join(repo, "production/joins/t/j.v1"), json.dumps({
        "metaData": {"name": "t.j.v1", "online": 0, "production": 0, "outputNamespace": "ns_t", "team": "t",
                     "offlineSchedule": "@daily", "dependencies": []},
        "left": {"events": {"table": "data.events", "query": {
            "selects": {"user_id": "user_id", "ts": "ts"}, "timeColumn": "ts"}}},
        "joinParts": [{"groupBy": gb}],
    }))
    r = chronon(env, "scheduler", "--once", "--ds", DS)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "blocked: chronon_join_t_j_v1" not in r.stdout, r.stdout
    state, tasks = u.task_states(env, "chronon_join_t_j_v1", DS)
    assert state == "success", (state, tasks)
    iv = u.intervals(env)
    assert iv[(GB_DAG, "backfill_task", DS, 1)][1] <= iv[("chronon_join_t_j_v1", "backfill_task", DS, 1)][0]
