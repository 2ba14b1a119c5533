"""Scheduler reliability: a scheduler killed (SIGKILL) mid-task and restarted adopts the
live task or retries the lost one, never runs a finished task again and never runs two
tries of one task at once; SIGTERM leaves running tasks to the next scheduler; two
schedulers on one state DB run each task once; catch-up runs missed days in order; the
same run on a throwaway PostgreSQL state DB. The fake runner (sched_util.py) records
each try's start and end with timestamps; overlaps are checked from that record."""
import glob
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

import pytest

import sched_util as u
from sched_util import GB_DAG, chronon

pytestmark = pytest.mark.skipif(not u.BIN or not u.SRC, reason="run through ctest (CHRONON_BIN, CN_SOURCE_DIR)")

DAY = "2024-01-01"  # CHRONON_SCHEDULER_TODAY is 2024-01-02: the daemon's latest run is this day


def started(env, task, n=1):
    return lambda: sum(1 for r in u.records(env) if r[0] == "start" and r[2] == task) >= n


def run_state(env, dag=GB_DAG, ds=DAY):
    r = chronon(env, "dags", "state", dag, ds)
    return r.stdout.splitlines()[0] if r.returncode == 0 and r.stdout else ""


def test_sigkill_mid_task_then_restart_adopts_it(tmp_path):
    repo, env = u.make_repo(tmp_path, settings={"retries": 2}, plan={"backfill_task": {"sleep": 2}})
    d = u.start_daemon(env, "--dag", GB_DAG)
    u.wait_for(started(env, "backfill_task"), what="backfill_task to start")
    d.send_signal(signal.SIGKILL)
    d.communicate()
    (k, (s, e, pid)), = u.intervals(env).items()
    assert e is None and u.pid_alive(pid), "the task should outlive its scheduler"
    d2 = u.start_daemon(env, "--dag", GB_DAG)
    try:
        u.wait_for(lambda: run_state(env) == "success", what="the run to finish after restart")
    finally:
        out, _ = u.stop(d2)
    assert "adopted running process" in out
    iv = u.intervals(env)
    # every task ran exactly once: the adopted try was not started again
    assert sorted(k[1] for k in iv) == ["backfill_task", "metadata_upload_task", "upload_task"]
    assert all(k[3] == 1 for k in iv)
    u.assert_no_overlap(env)
    bf = iv[(GB_DAG, "backfill_task", DAY, 1)]
    up = iv[(GB_DAG, "upload_task", DAY, 1)]
    assert bf[1] <= up[0], "upload started before the adopted backfill ended"


def test_sigkill_of_scheduler_and_task_retries_once(tmp_path):
    repo, env = u.make_repo(tmp_path, settings={"retries": 2}, plan={"backfill_task": {"sleep": 2}})
    d = u.start_daemon(env, "--dag", GB_DAG)
    u.wait_for(started(env, "backfill_task"), what="backfill_task to start")
    (k, (s, e, pid)), = u.intervals(env).items()
    os.killpg(d.pid, signal.SIGKILL)  # the scheduler
    d.communicate()
    os.killpg(os.getpgid(pid), signal.SIGKILL)  # and the task's own process group
    u.wait_for(lambda: not u.pid_alive(pid), what="the task to die")
    killed_at = time.time()
    u.set_plan(env, {})
    d2 = u.start_daemon(env, "--dag", GB_DAG)
    try:
        u.wait_for(lambda: run_state(env) == "success", what="the run to finish after restart")
    finally:
        u.stop(d2)
    iv = u.intervals(env)
    assert sorted((k[1], k[3]) for k in iv) == [
        ("backfill_task", 1), ("backfill_task", 2), ("metadata_upload_task", 1), ("upload_task", 1)]
    u.assert_no_overlap(env, ended={(GB_DAG, "backfill_task", DAY, 1): killed_at})
    _, tasks = u.task_states(env, GB_DAG, DAY)
    assert tasks["backfill_task"]["try_number"] == 2
    r = chronon(env, "tasks", "logs", GB_DAG, "backfill_task", DAY, "--try", "1")
    assert r.returncode == 0 and "fake runner: argv" in r.stdout


def test_task_finished_while_no_scheduler_ran_is_not_rerun(tmp_path):
    repo, env = u.make_repo(tmp_path, plan={"backfill_task": {"sleep": 1}})
    d = u.start_daemon(env, "--dag", GB_DAG)
    u.wait_for(started(env, "backfill_task"), what="backfill_task to start")
    d.send_signal(signal.SIGKILL)
    d.communicate()
    (k, (s, e, pid)), = u.intervals(env).items()
    u.wait_for(lambda: not u.pid_alive(pid), what="the task to end on its own")
    d2 = u.start_daemon(env, "--dag", GB_DAG)
    try:
        u.wait_for(lambda: run_state(env) == "success", what="the run to finish")
    finally:
        u.stop(d2)
    iv = u.intervals(env)
    assert sorted((k[1], k[3]) for k in iv) == [("backfill_task", 1), ("metadata_upload_task", 1), ("upload_task", 1)]
    _, tasks = u.task_states(env, GB_DAG, DAY)
    assert tasks["backfill_task"]["state"] == "success" and tasks["backfill_task"]["try_number"] == 1


def test_sigterm_leaves_tasks_running_for_the_next_scheduler(tmp_path):
    repo, env = u.make_repo(tmp_path, plan={"backfill_task": {"sleep": 1.5}})
    d = u.start_daemon(env, "--dag", GB_DAG)
    u.wait_for(started(env, "backfill_task"), what="backfill_task to start")
    out, _ = u.stop(d, signal.SIGTERM)
    assert d.returncode == 0
    assert "left to the next scheduler" in out
    (k, (s, e, pid)), = u.intervals(env).items()
    assert u.pid_alive(pid), "SIGTERM must not kill running tasks"
    d2 = u.start_daemon(env, "--dag", GB_DAG)
    try:
        u.wait_for(lambda: run_state(env) == "success", what="the run to finish")
    finally:
        u.stop(d2)
    assert len(u.intervals(env)) == 3
    u.assert_no_overlap(env)


def test_two_schedulers_run_each_task_once(tmp_path):
    repo, env = u.make_repo(tmp_path, settings={"catchup": True, "max_active_runs": 2},
                            plan={"upload_task": {"sleep": 0.3}}, start="2023-12-29")
    ds_all = ["2023-12-29", "2023-12-30", "2023-12-31", "2024-01-01"]
    a = u.start_daemon(env, "--dag", GB_DAG)
    b = u.start_daemon(env, "--dag", GB_DAG)
    try:
        u.wait_for(lambda: all(run_state(env, ds=ds) == "success" for ds in ds_all), timeout=60,
                   what="all runs to finish")
    finally:
        u.stop(a)
        u.stop(b)
    iv = u.intervals(env)
    assert len(iv) == 12, sorted(iv)
    assert all(k[3] == 1 for k in iv), "a task was tried twice"
    u.assert_no_overlap(env)


def test_catchup_runs_missed_days_in_order(tmp_path):
    repo, env = u.make_repo(tmp_path, settings={"catchup": True}, start="2023-12-28")
    env["CHRONON_SCHEDULER_TODAY"] = "2024-01-02"
    d = u.start_daemon(env, "--dag", GB_DAG)
    try:
        u.wait_for(lambda: run_state(env, ds="2024-01-01") == "success", timeout=60, what="catch-up")
    finally:
        u.stop(d)
    iv = u.intervals(env)
    days = ["2023-12-28", "2023-12-29", "2023-12-30", "2023-12-31", "2024-01-01"]
    assert sorted({k[2] for k in iv}) == days  # no run for today: its data is not complete
    # max_active_runs 1: a day starts after the previous day's last task ended
    for prev, nxt in zip(days, days[1:]):
        assert iv[(GB_DAG, "metadata_upload_task", prev, 1)][1] <= iv[(GB_DAG, "backfill_task", nxt, 1)][0]
    # without catch-up only the latest day runs
    repo2, env2 = u.make_repo(tmp_path / "b", start="2023-12-28")
    d = u.start_daemon(env2, "--dag", GB_DAG)
    try:
        u.wait_for(lambda: run_state(env2, ds="2024-01-01") == "success", timeout=60, what="latest day")
        time.sleep(0.3)
    finally:
        u.stop(d)
    assert {k[2] for k in u.intervals(env2)} == {"2024-01-01"}


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


@pytest.fixture
def postgres(tmp_path):
    """A throwaway PostgreSQL server (Debian's) for the length of one test."""
    cands = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not cands or not shutil.which("psql"):
        msg = "PostgreSQL server not installed (scripts/deps.sh test installs postgresql)"
        if os.environ.get("CN_TEST_STRICT") == "1":
            pytest.fail(msg)
        pytest.skip(msg)
    bindir = os.path.dirname(cands[-1])
    work = tempfile.mkdtemp(prefix="cn_sched_pg_")  # pytest's tmp dirs are closed to other users
    os.chmod(work, 0o755)
    data = os.path.join(work, "data")
    pre = []
    if os.geteuid() == 0:  # postgres refuses to run as root
        shutil.chown(work, "postgres")
        pre = ["runuser", "-u", "postgres", "--"]
    subprocess.run(pre + [bindir + "/initdb", "-D", str(data), "-A", "trust", "-U", "postgres", "--no-sync"],
                   check=True, capture_output=True)
    port = free_port()
    proc = subprocess.Popen(pre + [bindir + "/postgres", "-D", str(data), "-p", str(port), "-k", str(data),
                                   "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(200):
            r = subprocess.run(["psql", "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", "-Atc", "select 1"],
                               capture_output=True, text=True)
            if r.returncode == 0:
                break
            time.sleep(0.05)
        else:
            raise AssertionError("postgres did not start")
        yield port
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        shutil.rmtree(work, ignore_errors=True)


def test_postgresql_state_db(tmp_path, postgres):
    port = postgres
    repo, env = u.make_repo(tmp_path / "r", plan={"upload_task": {"exit": 4}})
    env["CHRONON_SCHEDULER_DB"] = "postgresql://postgres@127.0.0.1:%d/postgres" % port
    r = chronon(env, "scheduler", "--once", "--ds", DAY, "--dag", GB_DAG)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "state postgresql://postgres@127.0.0.1" in r.stdout
    q = subprocess.run(["psql", "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", "-Atc",
                        "SELECT task_id, state, try_number FROM task_instances ORDER BY task_id"],
                       capture_output=True, text=True)
    assert q.returncode == 0, q.stderr
    assert q.stdout.split() == ["backfill_task|success|1", "metadata_upload_task|upstream_failed|0",
                                "upload_task|failed|1"]
    assert not os.path.exists(os.path.join(repo, "warehouse", "scheduler.db"))
    u.set_plan(env, {})
    r = chronon(env, "tasks", "clear", GB_DAG, "upload_task", DAY, "--downstream")
    assert r.returncode == 0, r.stderr
    r = chronon(env, "scheduler", "--once", "--ds", DAY, "--dag", GB_DAG)
    assert r.returncode == 0, r.stdout + r.stderr
    assert u.task_states(env, GB_DAG, DAY)[0] == "success"
    # two schedulers on PostgreSQL: each task of a new day once
    a = u.start_daemon(env, "--dag", GB_DAG)
    b = u.start_daemon(env, "--dag", GB_DAG)
    try:
        chronon(env, "dags", "trigger", GB_DAG, "--ds", "2024-01-10")
        u.wait_for(lambda: run_state(env, ds="2024-01-10") == "success", what="the triggered run")
    finally:
        u.stop(a)
        u.stop(b)
    assert sorted(k[1] for k in u.intervals(env) if k[2] == "2024-01-10") == [
        "backfill_task", "metadata_upload_task", "upload_task"]
    u.assert_no_overlap(env)
