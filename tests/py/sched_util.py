"""Helpers of the scheduler tests: a small repo (one online GroupBy DAG with a three-task
chain, one StagingQuery DAG behind a partition sensor), a fake task runner standing in
for `chronon run` (named by the chronon_bin setting), and readers of what it recorded.

The fake runner appends `start|end <dag> <task> <ds> <try> <pid> <epoch seconds>` lines
to $FAKE_DIR/record.log and behaves per $FAKE_DIR/plan.json: {"<task id>": {"exit": N,
"sleep": S, "fail_tries": K}} (exit N on its first K tries; K absent: every try)."""
import json
import os
import signal
import subprocess
import sys
import time

BIN = os.environ.get("CHRONON_BIN")
SRC = os.environ.get("CN_SOURCE_DIR")

GB_DAG = "chronon_batch_dag_t"
SQ_DAG = "chronon_staging_query_s"

FAKE_RUNNER = r'''#!/usr/bin/env python3
import json, os, sys, time
d = os.environ["FAKE_DIR"]
dag, task = os.environ["CN_SCHED_DAG_ID"], os.environ["CN_SCHED_TASK_ID"]
ds, tr = os.environ["CN_SCHED_DS"], int(os.environ["CN_SCHED_TRY"])
def rec(what):
    with open(os.path.join(d, "record.log"), "a") as f:
        f.write("%s %s %s %s %d %d %.6f\n" % (what, dag, task, ds, tr, os.getpid(), time.time()))
rec("start")
plan = {}
try:
    with open(os.path.join(d, "plan.json")) as f:
        plan = json.load(f).get(task, {})
except FileNotFoundError:
    pass
print("fake runner: argv", " ".join(sys.argv[1:]), flush=True)
print("fake runner: CHRONON_ONLINE=%s" % os.environ.get("CHRONON_ONLINE", ""), flush=True)
if plan.get("sleep"):
    time.sleep(plan["sleep"])
code = plan.get("exit", 0)
if code and ("fail_tries" not in plan or tr <= plan["fail_tries"]):
    print("fake runner: failing with exit code %d on try %d" % (code, tr), flush=True)
    rec("end")
    sys.exit(code)
print("fake runner: done", flush=True)
rec("end")
'''


def write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)


def make_repo(tmp, settings=None, plan=None, start="2024-01-01"):
    """A repo under tmp/repo; returns (repo, env) with env ready for chronon."""
    repo = os.path.join(str(tmp), "repo")
    fake_dir = os.path.join(str(tmp), "fake")
    os.makedirs(fake_dir, exist_ok=True)
    runner = os.path.join(fake_dir, "runner.py")
    write(runner, FAKE_RUNNER)
    os.chmod(runner, 0o755)
    write(os.path.join(repo, "teams.json"), json.dumps({
        "default": {"namespace": "default_ns"},
        "t": {"namespace": "ns_t", "dag_start_date": start},
        "s": {"namespace": "ns_s", "dag_start_date": start},
    }))
    write(os.path.join(repo, "production/group_bys/t/gb.v1"), json.dumps({
        "metaData": {"name": "t.gb.v1", "online": 1, "outputNamespace": "ns_t", "team": "t",
                     "offlineSchedule": "@daily", "dependencies": []},
        "sources": [{"events": {"table": "data.events", "query": {
            "selects": {"user_id": "user_id", "amount": "amount"}, "timeColumn": "ts"}}}],
        "keyColumns": ["user_id"],
        "aggregations": [{"inputColumn": "amount", "operation": 7, "argMap": {}}],
    }))
    write(os.path.join(repo, "production/staging_queries/s/sq.v1"), json.dumps({
        "metaData": {"name": "s.sq.v1", "outputNamespace": "ns_s", "team": "s",
                     "dependencies": ["data.raw/ds={{ ds }}"]},
        "query": "SELECT user_id, ds FROM data.raw WHERE ds BETWEEN '{{ start_date }}' AND '{{ end_date }}'",
        "startPartition": start,
    }))
    s = {"chronon_bin": runner, "poll_interval_seconds": 0.02, "retries": 0,
         "retry_delay_seconds": 0.05, "sensor_poke_interval_seconds": 0.05,
         "task_timeout_seconds": 60, "online_store": "redis://kv.example:6379"}
    s.update(settings or {})
    write(os.path.join(repo, "scheduler.json"), json.dumps(s))
    write(os.path.join(fake_dir, "plan.json"), json.dumps(plan or {}))
    env = dict(os.environ, FAKE_DIR=fake_dir, CHRONON_REPO_PATH=repo, CHRONON_SCHEDULER_TODAY="2024-01-02")
    for k in ("CHRONON_WAREHOUSE", "CHRONON_CATALOG", "CHRONON_SCHEDULER_DB"):
        env.pop(k, None)
    return repo, env


def set_plan(env, plan):
    write(os.path.join(env["FAKE_DIR"], "plan.json"), json.dumps(plan))


def chronon(env, *args, timeout=60):
    return subprocess.run([BIN] + list(args), env=env, capture_output=True, text=True, timeout=timeout)


def records(env):
    """[(what, dag, task, ds, try, pid, t)] in file order."""
    p = os.path.join(env["FAKE_DIR"], "record.log")
    if not os.path.exists(p):
        return []
    out = []
    with open(p) as f:
        for line in f:
            w, dag, task, ds, tr, pid, t = line.split()
            out.append((w, dag, task, ds, int(tr), int(pid), float(t)))
    return out


def intervals(env):
    """{(dag, task, ds, try): [start, end or None, pid]}"""
    iv = {}
    for w, dag, task, ds, tr, pid, t in records(env):
        k = (dag, task, ds, tr)
        if w == "start":
            assert k not in iv, "try started twice: %r" % (k,)
            iv[k] = [t, None, pid]
        else:
            iv[k][1] = t
    return iv


def assert_no_overlap(env, ended=None):
    """No two tries of one task instance ran at the same time. ended: {(dag, task, ds,
    try): time} for tries the test killed (they record no end)."""
    by = {}
    for k, (s, e, _) in intervals(env).items():
        e = e if e is not None else (ended or {}).get(k, float("inf"))
        by.setdefault(k[:3], []).append((s, e, k[3]))
    for k, spans in by.items():
        spans.sort()
        for a, b in zip(spans, spans[1:]):
            assert a[1] <= b[0], "tries %d and %d of %r overlap" % (a[2], b[2], k)


def task_states(env, dag, ds):
    r = chronon(env, "dags", "state", dag, ds, "--json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    return doc["state"], {t["task_id"]: t for t in doc["tasks"]}


def try_task_states(env, dag, ds):
    """task_states, or (None, {}) while the scheduler has not created the run yet."""
    r = chronon(env, "dags", "state", dag, ds, "--json")
    if r.returncode != 0 and "has no run for" in r.stderr:
        return None, {}
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    return doc["state"], {t["task_id"]: t for t in doc["tasks"]}


def wait_for(pred, timeout=30, what="condition"):
    end = time.time() + timeout
    while time.time() < end:
        if pred():
            return
        time.sleep(0.05)
    raise AssertionError("timed out waiting for " + what)


def start_daemon(env, *extra):
    return subprocess.Popen([BIN, "scheduler"] + list(extra), env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)


def stop(p, sig=signal.SIGTERM):
    if p.poll() is None:
        p.send_signal(sig)
    try:
        out, err = p.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        p.kill()
        out, err = p.communicate()
    return out, err


def pid_alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False
