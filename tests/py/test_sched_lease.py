"""Two schedulers on two hosts sharing one PostgreSQL state DB (hosts named with
CHRONON_SCHEDULER_HOST): while a scheduler heartbeats, the other never touches its tries,
even tries longer than the lease; when it falls silent (its host died: scheduler and
task gone), the other takes its try over once scheduler_lease_seconds have passed, with
the reason in the try's log, and retries the task itself, once."""
import os
import signal
import time

import pytest

import sched_util as u
from sched_util import GB_DAG, chronon
from test_scheduler_reliability import postgres  # noqa: F401  (the fixture)

pytestmark = pytest.mark.skipif(not u.BIN or not u.SRC, reason="run through ctest (CHRONON_BIN, CN_SOURCE_DIR)")

DAY = "2024-01-01"
LEASE = 1.5


def host_env(env, host):
    e = dict(env)
    e["CHRONON_SCHEDULER_HOST"] = host
    return e


def make(tmp_path, port, plan):
    repo, env = u.make_repo(tmp_path / "r", settings={"retries": 1, "retry_delay_seconds": 0.05,
                                                      "scheduler_lease_seconds": LEASE}, plan=plan)
    env["CHRONON_SCHEDULER_DB"] = "postgresql://postgres@127.0.0.1:%d/postgres" % port
    return repo, env


def test_live_scheduler_keeps_its_tries_past_the_lease(tmp_path, postgres):  # noqa: F811
    repo, env = make(tmp_path, postgres, {"backfill_task": {"sleep": 2.5 * LEASE}})
    a = u.start_daemon(host_env(env, "alpha"), "--no-ui", "--dag", GB_DAG)
    b = u.start_daemon(host_env(env, "beta"), "--no-ui", "--dag", GB_DAG)
    try:
        u.wait_for(lambda: u.try_task_states(env, GB_DAG, DAY)[0] == "success", timeout=60, what="the day's run")
    finally:
        out_a, _ = u.stop(a)
        out_b, _ = u.stop(b)
    iv = u.intervals(env)
    assert sorted(k[1] for k in iv) == ["backfill_task", "metadata_upload_task", "upload_task"], sorted(iv)
    assert all(k[3] == 1 for k in iv), "a task was tried twice: %r" % sorted(iv)
    assert "taken over" not in out_a + out_b


def test_dead_host_try_is_taken_over_after_the_lease(tmp_path, postgres):  # noqa: F811
    repo, env = make(tmp_path, postgres, {"backfill_task": {"sleep": 60}})
    a = u.start_daemon(host_env(env, "alpha"), "--no-ui", "--dag", GB_DAG)
    try:
        u.wait_for(lambda: any(r[0] == "start" and r[2] == "backfill_task" for r in u.records(env)), timeout=30,
                   what="the first try")
        u.wait_for(lambda: u.try_task_states(env, GB_DAG, DAY)[1].get("backfill_task", {}).get("state") == "running", timeout=10,
                   what="the try recorded as running")
        ti = u.task_states(env, GB_DAG, DAY)[1]["backfill_task"]
    finally:
        # host alpha dies: its scheduler and the task's process group, at once
        u.stop(a, signal.SIGKILL)
    pid = [r[5] for r in u.records(env) if r[0] == "start" and r[2] == "backfill_task"][0]
    try:
        os.killpg(os.getpgid(pid), signal.SIGKILL)
    except ProcessLookupError:
        pass
    died = time.time()
    u.set_plan(env, {})  # the retry succeeds
    b = u.start_daemon(host_env(env, "beta"), "--no-ui", "--dag", GB_DAG)
    try:
        u.wait_for(lambda: u.try_task_states(env, GB_DAG, DAY)[0] == "success", timeout=60, what="the run on beta")
    finally:
        out_b, _ = u.stop(b)
    starts = {r[4]: r[6] for r in u.records(env) if r[0] == "start" and r[2] == "backfill_task"}
    assert sorted(starts) == [1, 2], starts
    # not before the lease ran out (alpha's last heartbeat was at most LEASE/4 before it died)
    assert starts[2] - died >= 0.7 * LEASE, starts[2] - died
    states = u.task_states(env, GB_DAG, DAY)[1]
    assert states["backfill_task"]["state"] == "success" and states["backfill_task"]["try_number"] == 2
    assert "backfill_task %s try 1: taken over from alpha:" % DAY in out_b, out_b
    log1 = chronon(env, "tasks", "logs", GB_DAG, "backfill_task", DAY, "--try", "1")
    assert log1.returncode == 0, log1.stderr
    assert "on host alpha sent no heartbeat for" in log1.stdout and "scheduler_lease_seconds 1.5" in log1.stdout, \
        log1.stdout
    assert "host=beta" in chronon(env, "tasks", "logs", GB_DAG, "backfill_task", DAY, "--try", "2").stdout
    assert ti["state"] == "running"
    u.assert_no_overlap(env, ended={(GB_DAG, "backfill_task", DAY, 1): died})
