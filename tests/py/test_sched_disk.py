"""The scheduler daemon running real `chronon run` tasks (the quickstart's GroupBy DAG)
when the warehouse cannot be written: a read-only warehouse, or a full disk under the
output tables. Each backfill task fails with the operating system's reason in its log and
in its state; the daemon stays up.

The broken file system exists only inside a private mount namespace (unshare -m) holding
the daemon and its tasks: a read-only bind mount of the warehouse, or a small tmpfs,
filled up, over the output namespace's directory. Nothing outside sees it and it
disappears with the daemon. Without mount namespaces (no unshare, not permitted) the
test is skipped (a failure with CN_TEST_STRICT=1)."""
import json
import os
import shutil
import subprocess

import pytest

import sched_util as u
from engine_util import Warehouse

pytestmark = pytest.mark.skipif(not u.BIN or not u.SRC, reason="run through ctest (CHRONON_BIN, CN_SOURCE_DIR)")

DAG = "chronon_batch_dag_quickstart"
DS = "2023-12-07"


def unshare_cmd():
    base = ["unshare", "-m"] if os.geteuid() == 0 else ["unshare", "-rm"]
    ok = shutil.which("unshare") and subprocess.run(
        base + ["sh", "-c", "mount -t tmpfs -o size=64k tmpfs /mnt"], capture_output=True).returncode == 0
    if not ok:
        why = "mount namespaces are not available here (unshare -m with a tmpfs mount failed)"
        if os.environ.get("CN_TEST_STRICT") == "1":
            pytest.fail(why)
        pytest.skip(why)
    return base


@pytest.fixture(scope="module")
def quickstart(tmp_path_factory):
    root = tmp_path_factory.mktemp("sched_disk")
    repo = os.path.join(str(root), "repo")
    shutil.copytree(os.path.join(u.SRC, "examples", "quickstart"), repo,
                    ignore=shutil.ignore_patterns("warehouse", ".*"))
    w = Warehouse(root)
    w.cat = "sqlite:" + os.path.join(str(root), "catalog", "catalog.db")  # stays writable
    os.makedirs(os.path.join(str(root), "catalog"))
    for t in ("purchases", "returns", "users"):
        w.load(os.path.join(repo, "data", t + ".csv"), "data." + t)
    return repo, w


def start(tmp_path, repo, w, script):
    logs = str(tmp_path / "logs")
    with open(os.path.join(repo, "scheduler.json"), "w") as f:
        json.dump({"retries": 0, "poll_interval_seconds": 0.05, "sensor_poke_interval_seconds": 0.05,
                   "log_dir": logs, "task_timeout_seconds": 120}, f)
    env = w.env()
    env.update(CHRONON_REPO_PATH=repo, CHRONON_SCHEDULER_TODAY="2023-12-08", W=w.wh,
               CHRONON_SCHEDULER_DB="sqlite:" + str(tmp_path / "sched.db"), CHRONON_BIN_UNDER_TEST=u.BIN)
    env.pop("CHRONON_ONLINE", None)
    cmd = unshare_cmd() + ["sh", "-c", script + ' && exec "$CHRONON_BIN_UNDER_TEST" scheduler --no-ui --dag ' + DAG]
    p = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         start_new_session=True)
    return p, env


def check_failed(p, env, words):
    def done():
        if p.poll() is not None:
            raise AssertionError("the daemon exited: %s" % (p.communicate(),))
        r = u.chronon(env, "dags", "state", DAG, DS, "--json")
        if r.returncode != 0:
            return False  # no run yet
        st = {t["task_id"]: t for t in json.loads(r.stdout)["tasks"]}
        # a run being created may list only some of its tasks yet
        return all(st.get(t + ".backfill_task", {}).get("state") == "failed"
                   for t in ("purchases_v1", "returns_v1", "users_v1"))
    try:
        u.wait_for(done, timeout=90, what="the backfill tasks to fail")
        assert p.poll() is None, "the daemon died"
        tasks = u.task_states(env, DAG, DS)[1]
    finally:
        out, err = u.stop(p)
    for t in ("purchases_v1", "returns_v1", "users_v1"):
        ti = tasks[t + ".backfill_task"]
        assert ti["reason"].startswith("try 1: exit code 1; see "), ti
        assert tasks[t + ".upload_task"]["state"] == "upstream_failed"
        log = u.chronon(env, "tasks", "logs", DAG, t + ".backfill_task", DS)
        assert log.returncode == 0, log.stderr
        assert words in log.stdout and env["W"] in log.stdout, log.stdout
        assert "exit code 1 after" in log.stdout
    assert "Traceback" not in err and "Assertion" not in err, err
    return out


def test_read_only_warehouse_fails_tasks_with_the_reason(quickstart, tmp_path):
    repo, w = quickstart
    p, env = start(tmp_path, repo, w, 'mount --bind "$W" "$W" && mount -o remount,bind,ro "$W"')
    check_failed(p, env, "Read-only file system")


def test_full_disk_fails_tasks_with_the_reason(quickstart, tmp_path):
    repo, w = quickstart
    out_dir = os.path.join(w.wh, "default.db")  # the GroupBys' output namespace
    os.makedirs(out_dir, exist_ok=True)
    p, env = start(tmp_path, repo, w, 'mount -t tmpfs -o size=256k tmpfs "$W/default.db" && '
                                      '{ dd if=/dev/zero of="$W/default.db/fill" bs=4k 2>/dev/null; true; }')
    check_failed(p, env, "No space left on device")
    # outside the namespace nothing was mounted and nothing was written there
    assert os.listdir(out_dir) == []
