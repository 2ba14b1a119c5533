"""`chronon run` / run.py argument handling: Chronon's flags, dates, errors and exit codes."""
import os
import subprocess
import sys

import pytest

BIN = os.environ.get("CHRONON_BIN")
SRC = os.environ.get("CN_SOURCE_DIR")
RUN_PY = os.path.join(SRC or "", "api", "py", "ai", "chronon", "repo", "run.py")

assert BIN and SRC, "run under ctest: CHRONON_BIN and CN_SOURCE_DIR must be set"


def run(args, cwd=None, via_py=False):
    cmd = [sys.executable, RUN_PY] + args if via_py else [BIN, "run"] + args
    env = dict(os.environ, CHRONON_BIN=BIN)
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=60)


@pytest.fixture
def repo(tmp_path):
    conf = tmp_path / "production" / "group_bys" / "my_team" / "feats.v1"
    conf.parent.mkdir(parents=True)
    conf.write_text('{"metaData": {"name": "my_team.feats.v1"}}')
    return tmp_path


@pytest.mark.parametrize("via_py", [False, True])
def test_help_lists_modes(via_py):
    p = run(["--help"], via_py=via_py)
    assert p.returncode == 0
    for mode in ("backfill", "upload", "metadata-upload", "fetch", "backfill-left", "backfill-final"):
        assert "\n  " + mode + " " in p.stdout


@pytest.mark.parametrize("via_py", [False, True])
def test_missing_conf_names_path_and_repo(repo, via_py):
    p = run(["--mode", "backfill", "--conf", "production/group_bys/my_team/nope.v1", "--ds", "2023-12-01",
             "--repo", str(repo)], via_py=via_py)
    assert p.returncode == 1
    assert str(repo / "production/group_bys/my_team/nope.v1") in p.stderr
    assert p.stderr.count("\n") == 1


@pytest.mark.parametrize("args,needle", [
    (["--ds", "2023-13-01"], "--ds: invalid date '2023-13-01'"),
    (["--ds", "2023-12-01", "--start-ds", "2023-12-05"], "--start-ds 2023-12-05 is after the end partition 2023-12-01"),
    (["--start-ds", "2023-12-01", "--end-ds", "2023-12-07", "--parallelism", "8"], "--parallelism 8 is larger than the 7 days"),
    (["--ds", "2023-12-01", "--parallelism", "2"], "--parallelism 2 needs --start-ds and --end-ds"),
    (["--mode", "bogus"], "unknown mode 'bogus'"),
    (["--mode"], "--mode needs a value"),
])
def test_bad_flags_are_usage_errors(repo, args, needle):
    p = run(["--conf", "production/group_bys/my_team/feats.v1", "--repo", str(repo)] + args)
    assert p.returncode == 2, p.stderr
    assert needle in p.stderr


def test_mode_not_applicable_to_conf_type(repo):
    p = run(["--mode", "backfill-left", "--conf", "production/group_bys/my_team/feats.v1", "--repo", str(repo)])
    assert p.returncode == 2
    assert "mode 'backfill-left' does not apply to group_bys (it takes joins)" in p.stderr


def test_spark_flags_are_accepted_and_conf_type_comes_from_path(repo):
    # run.py's Spark/jar flags must not be mistaken for mode flags or rejected
    p = run(["--mode", "backfill-left", "--conf", "production/group_bys/my_team/feats.v1", "--repo", str(repo),
             "--spark-submit-path", "/x/spark-submit", "--version=1.0", "--online-jar", "j.jar"])
    assert p.returncode == 2
    assert "does not apply to group_bys" in p.stderr


def test_repo_from_environment(repo):
    env = dict(os.environ, CHRONON_REPO_PATH=str(repo))
    p = subprocess.run([BIN, "run", "--mode", "backfill-left", "--conf", "production/group_bys/my_team/feats.v1"],
                       env=env, capture_output=True, text=True)
    assert "does not apply to group_bys" in p.stderr


@pytest.mark.parametrize("args", [
    ["serve", "--port"], ["serve", "--port="], ["serve", "--threads"], ["serve", "--online"],
    ["ui", "--port"], ["ui", "--bind"], ["ui", "--repo"],
    ["scheduler", "--ui-port"], ["scheduler", "--ds"], ["scheduler", "--dag"], ["scheduler", "--naming"],
    ["dags", "trigger", "d", "--ds"], ["dags", "backfill", "d", "--start-ds"],
    ["tasks", "logs", "d", "t", "2024-01-01", "--try"], ["airflow", "export", "--out"],
])
def test_option_without_value_is_one_usage_error(tmp_path, args):
    """An option that takes a value, given none: exit 2 and one line naming the option."""
    p = subprocess.run([BIN] + args, cwd=tmp_path, capture_output=True, text=True, timeout=30)
    flag = args[-1].rstrip("=")
    verb = " ".join(args[:1])
    assert p.returncode == 2, (p.returncode, p.stderr)
    assert p.stderr == "chronon %s: %s needs a value\n" % (verb, flag), p.stderr
