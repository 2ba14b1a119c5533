"""Shared helpers of the test_dsl_* tests: a temp chronon root and compile.py runs."""

import json
import os
import subprocess
import sys
import textwrap

SOURCE_DIR = os.environ.get("CN_SOURCE_DIR") or os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
COMPILE = os.path.join(SOURCE_DIR, "api", "py", "ai", "chronon", "repo", "compile.py")

TEAMS = {
    "default": {
        "table_properties": {"source": "chronon"},
        "namespace": "default_ns",
        "common_env": {"VERSION": "latest"},
    },
    "team_a": {"namespace": "team_a_db", "description": "test team"},
    "team_b": {"description": "falls back to default namespace"},
}

SOURCES = '''
from ai.chronon.api import ttypes
from ai.chronon.query import Query, select

events = ttypes.Source(events=ttypes.EventSource(
    table="raw.purchases",
    query=Query(selects=select("user_id", "price", item="item_id"), time_column="ts_millis"),
))

streaming_events = ttypes.Source(events=ttypes.EventSource(
    table="raw.clicks",
    topic="clicks_topic",
    query=Query(selects=select("user_id", "ad_id"), time_column="ts"),
))

users = ttypes.Source(entities=ttypes.EntitySource(
    snapshotTable="raw.users/hr=00:00",
    query=Query(selects=select("user_id", "age"), start_partition="2023-01-01"),
))
'''


def make_root(tmp_path, files, teams=TEAMS):
    """Writes teams.json, sources/common.py and `files` ({relative path: source}) under tmp_path."""
    root = tmp_path / "chronon_root"
    root.mkdir()
    if teams is not None:
        (root / "teams.json").write_text(json.dumps(teams, indent=2))
    all_files = {"sources/common.py": SOURCES}
    all_files.update(files)
    for rel, text in all_files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    return root


def run_compile(root, *args, stdin=None, via_cli=False):
    """Runs compile from `root` as cwd (compile.py by path, or `chronon compile`)."""
    env = dict(os.environ)
    env.pop("CHRONON_ROOT", None)
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    if via_cli:
        cmd = [chronon_bin(), "compile", *args]
    else:
        cmd = [sys.executable, COMPILE, *args]
    return subprocess.run(cmd, cwd=str(root), env=env, input=stdin if stdin is not None else "",
                          capture_output=True, text=True, timeout=120)


def chronon_bin():
    path = os.environ.get("CHRONON_BIN")
    if not path and os.environ.get("CN_BUILD_DIR"):
        path = os.path.join(os.environ["CN_BUILD_DIR"], "chronon")
    return path


def read_json(root, rel):
    with open(os.path.join(str(root), "production", rel)) as f:
        text = f.read()
    return json.loads(text), text


def output_files(root):
    out = []
    base = os.path.join(str(root), "production")
    for dirpath, _dirs, files in os.walk(base):
        for f in files:
            out.append(os.path.relpath(os.path.join(dirpath, f), base))
    return sorted(out)
