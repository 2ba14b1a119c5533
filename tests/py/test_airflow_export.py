"""`chronon airflow export`, `chronon dags list` and `chronon tasks` end to end.

Airflow itself cannot be installed here, so each test writes a small stand-in `airflow`
package into a temp dir: DAG, BashOperator, BashSensor and ExternalTaskSensor as recording
classes that accept only the keyword arguments the real ones take for what we use, check
task ids as Airflow does and refuse duplicates. Executing an exported file with it builds
the DAGs the file declares; the tests compare them with hand-written expectations (DAG and
task names from the users' guide and spec/config.md section 8) and with
`chronon tasks list --json`, the model's own view."""
import ast
import json
import os
import shutil
import subprocess
import sys
import textwrap

import pytest

BIN = os.environ.get("CHRONON_BIN")
SRC = os.environ.get("CN_SOURCE_DIR")
QUICKSTART = os.path.join(SRC or ".", "examples", "quickstart")
FIX = os.path.join(SRC or ".", "tests", "sched", "fixtures")

pytestmark = pytest.mark.skipif(not BIN or not SRC, reason="run through ctest (CHRONON_BIN, CN_SOURCE_DIR)")

FAKE_AIRFLOW = {
    "airflow/__init__.py": '''
        import re

        DAGS = []
        _CONTEXT = []
        _TASK_ID = re.compile(r"^[\\w.-]+$")


        class DAG:
            def __init__(self, dag_id, *, schedule, start_date, catchup, max_active_tasks,
                         default_args, tags):
                if not _TASK_ID.match(dag_id) or len(dag_id) > 250:
                    raise ValueError("invalid dag_id %r" % dag_id)
                self.dag_id = dag_id
                self.schedule = schedule
                self.start_date = start_date
                self.catchup = catchup
                self.max_active_tasks = max_active_tasks
                self.default_args = dict(default_args)
                self.tags = list(tags)
                self.task_dict = {}
                DAGS.append(self)

            def __enter__(self):
                _CONTEXT.append(self)
                return self

            def __exit__(self, *exc):
                _CONTEXT.pop()
                return False


        class BaseOperator:
            def __init__(self, *, task_id, retries=None, **kwargs):
                if not _CONTEXT:
                    raise RuntimeError("operator %s created outside a DAG" % task_id)
                if not _TASK_ID.match(task_id) or len(task_id) > 250:
                    raise ValueError("invalid task_id %r" % task_id)
                self.dag = _CONTEXT[-1]
                if task_id in self.dag.task_dict:
                    raise ValueError("duplicate task_id %r in %s" % (task_id, self.dag.dag_id))
                self.dag.task_dict[task_id] = self
                self.task_id = task_id
                self.retries = retries
                self.upstream_task_ids = set()
                self.downstream_task_ids = set()
                self.kwargs = kwargs

            def __rshift__(self, other):
                if other.dag is not self.dag:
                    raise ValueError("edge across DAGs")
                self.downstream_task_ids.add(other.task_id)
                other.upstream_task_ids.add(self.task_id)
                return other


        class BaseSensor(BaseOperator):
            def __init__(self, *, mode, poke_interval, timeout, **kwargs):
                if mode not in ("poke", "reschedule"):
                    raise ValueError("mode %r" % mode)
                if not isinstance(poke_interval, int) or not isinstance(timeout, int):
                    raise TypeError("poke_interval and timeout must be numbers of seconds")
                super().__init__(**kwargs)
                self.mode = mode
                self.poke_interval = poke_interval
                self.timeout = timeout
    ''',
    "airflow/operators/__init__.py": "",
    "airflow/operators/bash.py": '''
        from airflow import BaseOperator


        class BashOperator(BaseOperator):
            def __init__(self, *, bash_command, env=None, append_env=False, **kwargs):
                super().__init__(**kwargs)
                self.bash_command = bash_command
                self.env = env
                self.append_env = append_env
    ''',
    "airflow/sensors/__init__.py": "",
    "airflow/sensors/bash.py": '''
        from airflow import BaseSensor


        class BashSensor(BaseSensor):
            def __init__(self, *, bash_command, **kwargs):
                super().__init__(**kwargs)
                self.bash_command = bash_command
    ''',
    "airflow/sensors/external_task.py": '''
        from airflow import BaseSensor


        class ExternalTaskSensor(BaseSensor):
            def __init__(self, *, external_dag_id, external_task_id, **kwargs):
                super().__init__(**kwargs)
                self.external_dag_id = external_dag_id
                self.external_task_id = external_task_id
    ''',
}

# Loads every DAG file given on the command line with the stand-in package and prints
# what was built as JSON.
RUNNER = '''
import json, runpy, sys
import airflow

out = {}
for path in sys.argv[1:]:
    before = len(airflow.DAGS)
    g = runpy.run_path(path)
    made = airflow.DAGS[before:]
    assert len(made) == 1, (path, [d.dag_id for d in made])
    d = made[0]
    assert g.get("dag") is d, "the DAG must be a module-level global for Airflow to find it"
    tasks = {}
    for tid, t in d.task_dict.items():
        tasks[tid] = {
            "type": type(t).__name__,
            "upstream": sorted(t.upstream_task_ids),
            "downstream": sorted(t.downstream_task_ids),
            "bash_command": getattr(t, "bash_command", None),
            "env": getattr(t, "env", None),
            "append_env": getattr(t, "append_env", None),
            "external": [getattr(t, "external_dag_id", None), getattr(t, "external_task_id", None)],
            "retries": t.retries,
            "mode": getattr(t, "mode", None),
        }
    out[d.dag_id] = {
        "file": path,
        "schedule": d.schedule,
        "start_date": d.start_date.strftime("%Y-%m-%d"),
        "catchup": d.catchup,
        "max_active_tasks": d.max_active_tasks,
        "retries": d.default_args["retries"],
        "retry_delay": d.default_args["retry_delay"].total_seconds(),
        "owner": d.default_args["owner"],
        "tasks": tasks,
    }
print(json.dumps(out))
'''


def chronon(*args, cwd=None):
    return subprocess.run([BIN, *args], cwd=cwd, capture_output=True, text=True, timeout=120)


@pytest.fixture
def fake_airflow(tmp_path):
    root = tmp_path / "fake"
    for rel, text in FAKE_AIRFLOW.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(textwrap.dedent(text))
    (root / "runner.py").write_text(RUNNER)
    return root


def export(repo, out, *extra):
    r = chronon("airflow", "export", "--out", str(out), "--repo", repo, *extra)
    return r


def load_dags(fake, files):
    env = dict(os.environ, PYTHONPATH=str(fake))
    r = subprocess.run([sys.executable, str(fake / "runner.py"), *map(str, files)], env=env,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def model_tasks(repo, dag_id, *extra):
    r = chronon("tasks", "list", dag_id, "--json", "--repo", repo, *extra)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def check_against_model(repo, dags, *extra):
    """Each exported DAG has exactly the model's tasks, edges and commands."""
    for dag_id, d in dags.items():
        model = model_tasks(repo, dag_id, *extra)
        assert d["schedule"] == (None if model["schedule"] == "@never" else model["schedule"])
        want = {t["task_id"]: t for t in model["tasks"]}
        assert set(d["tasks"]) == set(want), dag_id
        for tid, t in d["tasks"].items():
            m = want[tid]
            assert t["upstream"] == sorted(m["upstream"]), (dag_id, tid)
            assert t["downstream"] == sorted(m["downstream"]), (dag_id, tid)
            kind = {"run": "BashOperator", "sensor": "BashSensor", "external": "ExternalTaskSensor"}[m["kind"]]
            assert t["type"] == kind, (dag_id, tid)
            if m["kind"] == "external":
                assert t["external"] == [m["external_dag_id"], m["external_task_id"]]
            else:
                assert t["bash_command"] == m["command"], (dag_id, tid)


def test_exported_files_are_python(tmp_path):
    out = tmp_path / "dags"
    r = export(QUICKSTART, out)
    assert r.returncode == 0, r.stderr
    files = sorted(out.glob("*.py"))
    assert [f.name for f in files] == [
        "chronon_batch_dag_my_team.py",
        "chronon_batch_dag_quickstart.py",
        "chronon_join_quickstart_training_set_v1.py",
        "chronon_join_quickstart_training_set_v2.py",
    ]
    for f in files:
        subprocess.run([sys.executable, "-m", "py_compile", str(f)], check=True)
        tree = ast.parse(f.read_text(), filename=str(f))
        mods = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                mods.add(node.module)
            assert not isinstance(node, ast.Import), "only from-imports of datetime and airflow"
        assert mods <= {"datetime", "airflow", "airflow.operators.bash", "airflow.sensors.bash",
                        "airflow.sensors.external_task", "airflow.providers.standard.operators.bash",
                        "airflow.providers.standard.sensors.bash",
                        "airflow.providers.standard.sensors.external_task"}, mods
    assert "4 of 4 DAG(s) written" in r.stdout


def test_quickstart_guide_dags(tmp_path, fake_airflow):
    out = tmp_path / "dags"
    assert export(QUICKSTART, out).returncode == 0
    dags = load_dags(fake_airflow, sorted(out.glob("*.py")))
    repo = os.path.realpath(QUICKSTART)
    my = dags["chronon_batch_dag_my_team"]
    assert set(my["tasks"]) == {"backfill_task", "upload_task", "metadata_upload_task", "wait_for_purchases_ds"}
    conf = "production/group_bys/my_team/user_purchase_features.v1"
    for tid, mode in [("backfill_task", "backfill"), ("upload_task", "upload"),
                      ("metadata_upload_task", "metadata-upload")]:
        assert my["tasks"][tid]["type"] == "BashOperator"
        assert my["tasks"][tid]["bash_command"] == \
            f"chronon run --mode {mode} --conf {conf} --ds {{{{ ds }}}} --repo {repo}"
    assert my["tasks"]["wait_for_purchases_ds"]["type"] == "BashSensor"
    assert my["tasks"]["wait_for_purchases_ds"]["bash_command"] == \
        "chronon table partitions purchases --has {{ ds }}"
    assert my["tasks"]["wait_for_purchases_ds"]["retries"] == 3
    assert my["tasks"]["wait_for_purchases_ds"]["downstream"] == ["backfill_task"]
    assert my["tasks"]["backfill_task"]["downstream"] == ["upload_task"]
    assert my["tasks"]["upload_task"]["downstream"] == ["metadata_upload_task"]
    assert my["tasks"]["metadata_upload_task"]["downstream"] == []
    assert my["schedule"] == "@daily"
    assert my["start_date"] == "2023-02-01"
    assert my["catchup"] is False
    assert my["max_active_tasks"] == 5
    assert my["retries"] == 1 and my["retry_delay"] == 60
    assert my["owner"] == "my_team"

    qs = dags["chronon_batch_dag_quickstart"]
    for gb in ("purchases_v1", "returns_v1", "users_v1"):
        for t in ("backfill_task", "upload_task", "metadata_upload_task"):
            assert f"{gb}.{t}" in qs["tasks"]
    assert qs["tasks"]["wait_for_data_users_ds"]["downstream"] == ["users_v1.backfill_task"]

    for v in ("v1", "v2"):
        j = dags[f"chronon_join_quickstart_training_set_{v}"]
        assert j["max_active_tasks"] == 3
        bf = j["tasks"]["backfill_task"]
        assert bf["bash_command"] == \
            f"chronon run --mode backfill --conf production/joins/quickstart/training_set.{v} --ds {{{{ ds }}}} --repo {repo}"
        assert "wait_for_data_checkouts_ds" in bf["upstream"]
        w = j["tasks"]["wait_for_chronon_batch_dag_quickstart__purchases_v1_backfill_task"]
        assert w["type"] == "ExternalTaskSensor"
        assert w["external"] == ["chronon_batch_dag_quickstart", "purchases_v1.backfill_task"]
        assert w["downstream"] == ["backfill_task"]
    assert "metadata_upload_task" in dags["chronon_join_quickstart_training_set_v2"]["tasks"]
    assert "metadata_upload_task" not in dags["chronon_join_quickstart_training_set_v1"]["tasks"]
    check_against_model(QUICKSTART, dags)


def test_quickstart_chronon_naming(tmp_path, fake_airflow):
    out = tmp_path / "dags"
    r = export(QUICKSTART, out, "--naming", "chronon")
    assert r.returncode == 0, r.stderr
    dags = load_dags(fake_airflow, sorted(out.glob("*.py")))
    assert set(dags) == {"chronon_group_by_batch_my_team", "chronon_group_by_batch_quickstart",
                         "chronon_join_quickstart__training_set__v1", "chronon_join_quickstart__training_set__v2"}
    # online without backfillStartDate: Chronon's helpers schedule only the upload
    assert set(dags["chronon_group_by_batch_my_team"]["tasks"]) == {
        "group_by_batch__my_team__user_purchase_features__v1", "wait_for_purchases_ds"}
    assert "compute_join__quickstart__training_set__v2" in dags["chronon_join_quickstart__training_set__v2"]["tasks"]
    check_against_model(QUICKSTART, dags, "--naming", "chronon")


def test_settings_reach_the_files(tmp_path, fake_airflow):
    repo = os.path.join(FIX, "repo_a")
    out = tmp_path / "dags"
    r = export(repo, out)
    assert r.returncode == 0, r.stderr
    dags = load_dags(fake_airflow, sorted(out.glob("*.py")))
    a = dags["chronon_batch_dag_team_a"]
    assert a["max_active_tasks"] == 7 and a["retries"] == 3 and a["retry_delay"] == 300
    assert a["start_date"] == "2024-01-01" and a["owner"] == "team-a-owners"
    up = a["tasks"]["upload_task"]
    assert up["bash_command"] == ("chronon run --mode upload --conf production/group_bys/team_a/single.v1 "
                                 "--ds {{ ds }} --repo '/srv/chronon repo'")
    assert up["env"] == {"CHRONON_ONLINE": "mongodb://admin:secret@mongodb:27017/admin"} and up["append_env"]
    assert a["tasks"]["backfill_task"]["env"] is None
    assert dags["chronon_join_team_b_never_v1"]["schedule"] is None
    assert dags["chronon_join_team_b_training_v1"]["schedule"] == "@weekly"
    assert dags["chronon_join_team_b_training_v1"]["max_active_tasks"] == 2
    b = dags["chronon_batch_dag_team_b"]
    w = b["tasks"]["wait_for_chronon_staging_query_team_b__backfill_task"]
    assert w["external"] == ["chronon_staging_query_team_b", "backfill_task"]
    assert w["downstream"] == ["from_sq_v1.backfill_task"]
    check_against_model(repo, dags)


def test_broken_config_is_reported_and_other_dags_written(tmp_path, fake_airflow):
    repo = os.path.join(FIX, "repo_bad")
    out = tmp_path / "dags"
    out.mkdir()
    # a file from an earlier export of a DAG whose only config is now broken stays
    kept = out / "chronon_batch_dag_team_c.py"
    kept.write_text("# chronon_batch_dag_team_c: written by `chronon airflow export` (naming: guide)\n")
    r = export(repo, out)
    assert r.returncode == 1
    assert "production/group_bys/team_c/broken.v1:" in r.stderr
    assert "malformed JSON" in r.stderr
    assert "production/group_bys/team_a/bad_op.v1: aggregations[0].operation" in r.stderr
    assert 'teams.json: team "team_a": dag_start_date "2024-02-30" is not a date YYYY-MM-DD' in r.stderr
    assert "not writing" in r.stderr and "chronon_batch_dag_team_a.py" in r.stderr
    assert "the other DAGs were still built" in r.stderr
    assert sorted(f.name for f in out.glob("*.py")) == ["chronon_batch_dag_team_c.py",
                                                         "chronon_join_team_a_ok_join_v1.py"]
    assert kept.read_text().startswith("# chronon_batch_dag_team_c")
    dags = load_dags(fake_airflow, [out / "chronon_join_team_a_ok_join_v1.py"])
    assert "backfill_task" in dags["chronon_join_team_a_ok_join_v1"]["tasks"]


def test_stale_exports_removed_other_files_kept(tmp_path):
    out = tmp_path / "dags"
    out.mkdir()
    stale = out / "chronon_batch_dag_gone.py"
    stale.write_text("# chronon_batch_dag_gone: written by `chronon airflow export` (naming: guide) from\n")
    mine = out / "my_own_dag.py"
    mine.write_text("# my own DAG\n")
    r = export(QUICKSTART, out)
    assert r.returncode == 0, r.stderr
    assert not stale.exists()
    assert mine.exists()
    assert "removed" in r.stdout


def test_dags_list(tmp_path):
    r = chronon("dags", "list", "--repo", QUICKSTART)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].split() == ["dag_id", "schedule", "tasks", "paused", "last_run"]
    rows = [l.split() for l in lines[1:]]
    assert rows == [
        ["chronon_batch_dag_my_team", "@daily", "4", "no", "-"],
        ["chronon_batch_dag_quickstart", "@daily", "12", "no", "-"],
        ["chronon_join_quickstart_training_set_v1", "@daily", "8", "no", "-"],
        ["chronon_join_quickstart_training_set_v2", "@daily", "7", "no", "-"],
    ]
    r = chronon("dags", "list", "--repo", os.path.join(FIX, "repo_a"), "--json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    by_id = {d["dag_id"]: d for d in doc["dags"]}
    assert by_id["chronon_join_team_b_training_v1"]["schedule"] == "@weekly"
    assert by_id["chronon_join_team_b_never_v1"]["schedule"] == "@never"
    assert by_id["chronon_staging_query_team_b"]["kind"] == "staging_query"
    assert all(d["paused"] is False for d in doc["dags"])
    assert doc["errors"] == []
    # CHRONON_REPO_PATH is the default repo, as for chronon run
    env = dict(os.environ, CHRONON_REPO_PATH=QUICKSTART)
    r2 = subprocess.run([BIN, "dags", "list"], env=env, cwd=tmp_path, capture_output=True, text=True)
    assert r2.returncode == 0 and "chronon_batch_dag_my_team" in r2.stdout


def test_dags_list_reports_broken_configs():
    r = chronon("dags", "list", "--repo", os.path.join(FIX, "repo_bad"), "--json")
    assert r.returncode == 1
    doc = json.loads(r.stdout)
    assert [d["dag_id"] for d in doc["dags"]] == ["chronon_batch_dag_team_a", "chronon_join_team_a_ok_join_v1"]
    assert doc["dags"][0]["incomplete"] is True
    assert [e["path"] for e in doc["errors"]] == ["production/group_bys/team_a/bad_op.v1",
                                                  "production/group_bys/team_c/broken.v1", "teams.json"]
    assert "production/group_bys/team_c/broken.v1" in r.stderr


def test_tasks_list_and_tree():
    r = chronon("tasks", "list", "chronon_batch_dag_my_team", "--repo", QUICKSTART)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["wait_for_purchases_ds", "backfill_task", "upload_task", "metadata_upload_task"]
    r = chronon("tasks", "list", "chronon_join_quickstart_training_set_v2", "--tree", "--repo", QUICKSTART)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert "wait_for_data_checkouts_ds (sensor)" in lines
    i = lines.index("wait_for_data_checkouts_ds (sensor)")
    assert lines[i + 1] == "    backfill_task (run)"
    assert lines[i + 2] == "        metadata_upload_task (run)"
    assert "wait_for_chronon_batch_dag_quickstart__returns_v1_backfill_task (external)" in lines
    r = chronon("tasks", "show", "chronon_batch_dag_my_team", "upload_task", "--repo", QUICKSTART)
    assert r.returncode == 0, r.stderr
    assert "upstream: backfill_task" in r.stdout
    assert "downstream: metadata_upload_task" in r.stdout
    assert "command: chronon run --mode upload --conf production/group_bys/my_team/user_purchase_features.v1" in r.stdout


def test_unknown_names_list_what_exists():
    r = chronon("tasks", "list", "chronon_batch_dag_nobody", "--repo", QUICKSTART)
    assert r.returncode == 1
    assert "no DAG 'chronon_batch_dag_nobody'" in r.stderr
    for d in ("chronon_batch_dag_my_team", "chronon_join_quickstart_training_set_v1"):
        assert f"  {d}\n" in r.stderr
    r = chronon("tasks", "show", "chronon_batch_dag_my_team", "backfil_task", "--repo", QUICKSTART)
    assert r.returncode == 1
    assert "has no task 'backfil_task'" in r.stderr
    assert "  backfill_task\n" in r.stderr and "  wait_for_purchases_ds\n" in r.stderr


def test_help_and_usage_errors(tmp_path):
    for verb, text in [("dags", "chronon dags list"), ("tasks", "chronon tasks list"),
                       ("airflow", "chronon airflow export --out DIR")]:
        r = chronon(verb, "--help")
        assert r.returncode == 0 and text in r.stdout
    assert chronon("airflow", "export", "--repo", QUICKSTART).returncode == 2
    r = chronon("dags", "list", "--repo", QUICKSTART, "--naming", "airbnb")
    assert r.returncode == 2 and "expected guide or chronon" in r.stderr
    r = chronon("dags", "list", "--repo", str(tmp_path))
    assert r.returncode == 1 and "no production/ directory" in r.stderr
    bad = tmp_path / "repo"
    shutil.copytree(os.path.join(FIX, "repo_a"), bad)
    (bad / "scheduler.json").write_text('{"join_concurrency": "three"}')
    r = chronon("airflow", "export", "--out", str(tmp_path / "out"), "--repo", str(bad))
    assert r.returncode == 1
    assert "scheduler.json: join_concurrency: expected an integer" in r.stderr
    assert not (tmp_path / "out").exists()
