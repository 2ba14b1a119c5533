"""compile.py against an existing production/ tree: the online-conf overwrite guard,
downstream dependency checks, prompts (modeToEnvMap, samplePercent), atomic writes."""

import json
import os

from dsl_util import make_root, output_files, read_json, run_compile

GB = '''
from ai.chronon.group_by import GroupBy, Aggregation, Operation
from sources.common import events
v1 = GroupBy(sources=events, keys=["user_id"], {flags},
             aggregations=[Aggregation("price", Operation.{op})], env={env})
'''


def gb_file(op="SUM", flags="online=True", env="None"):
    return GB.format(op=op, flags=flags, env=env)


def write(root, rel, text):
    path = os.path.join(str(root), rel)
    with open(path, "w") as f:
        f.write(text)


def test_online_conf_guard(tmp_path):
    root = make_root(tmp_path, {"group_bys/team_a/gb.py": gb_file()})
    assert run_compile(root, "--conf", "group_bys/team_a/gb.py", "-y").returncode == 0
    _, before = read_json(root, "group_bys/team_a/gb.v1")
    # a semantic change of an online conf is refused (Chronon: warning, exit 0, file kept)
    write(root, "group_bys/team_a/gb.py", gb_file(op="MAX"))
    r = run_compile(root, "--conf", "group_bys/team_a/gb.py", "-y")
    assert r.returncode == 0
    assert "Cannot overwrite GroupBy gb.v1 with existing online conf" in r.stdout
    assert read_json(root, "group_bys/team_a/gb.v1")[1] == before
    # a metadata-only change is allowed
    write(root, "group_bys/team_a/gb.py", gb_file(env='{"backfill": {"A": "1"}}'))
    r = run_compile(root, "--conf", "group_bys/team_a/gb.py", "-y")
    assert r.returncode == 0 and "Writing GroupBy" in r.stdout
    assert read_json(root, "group_bys/team_a/gb.v1")[0]["metaData"]["modeToEnvMap"] == {"backfill": {"A": "1"}}
    # --force-overwrite replaces it
    write(root, "group_bys/team_a/gb.py", gb_file(op="MAX"))
    r = run_compile(root, "--conf", "group_bys/team_a/gb.py", "-y", "--force-overwrite")
    assert r.returncode == 0 and "Force overwrite GroupBy gb.v1" in r.stdout
    assert read_json(root, "group_bys/team_a/gb.v1")[0]["aggregations"][0]["operation"] == 1
    # no temp files are left next to outputs
    assert output_files(root) == ["group_bys/team_a/gb.v1"]


JOIN = '''
from ai.chronon.join import Join, JoinPart
from sources.common import events
from group_bys.team_a import gb
v1 = Join(left=events, right_parts=[JoinPart(gb.v1)], production={prod})
'''


def test_downstream_join_must_be_recompiled(tmp_path):
    root = make_root(tmp_path, {
        "group_bys/team_a/gb.py": gb_file(flags="backfill_start_date='2023-01-01'"),
        "joins/team_a/j.py": JOIN.format(prod="False"),
    })
    r = run_compile(root, "--conf", "joins/team_a/j.py", "-y")
    assert r.returncode == 0, r.stdout + r.stderr
    assert output_files(root) == ["group_bys/team_a/gb.v1", "joins/team_a/j.v1"]
    write(root, "group_bys/team_a/gb.py", gb_file(op="MAX", flags="backfill_start_date='2023-01-01'"))
    r = run_compile(root, "--conf", "group_bys/team_a/gb.py", "-y")
    assert r.returncode == 1
    assert "you must also materialize all dependent GroupBys or Joins" in r.stderr
    assert "Detected dependencies are as follows: ['team_a.j.v1']" in r.stderr
    assert read_json(root, "joins/team_a/j.v1")[0]["joinParts"][0]["groupBy"]["aggregations"][0]["operation"] == 7
    r = run_compile(root, "--conf", "group_bys/team_a/gb.py", "-y", "--force-overwrite")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "Successfully wrote 1 Join objects" in r.stdout
    assert read_json(root, "joins/team_a/j.v1")[0]["joinParts"][0]["groupBy"]["aggregations"][0]["operation"] == 1


def test_group_by_in_production_join_is_promoted_or_rejected(tmp_path):
    root = make_root(tmp_path, {
        "group_bys/team_a/gb.py": gb_file(flags="backfill_start_date='2023-01-01'"),
        "joins/team_a/j.py": JOIN.format(prod="True"),
    })
    assert run_compile(root, "--conf", "joins/team_a/j.py", "-y").returncode == 0
    # compiled again on its own, the GroupBy inherits production from the compiled join
    r = run_compile(root, "--conf", "group_bys/team_a/gb.py", "-y", "--force-overwrite")
    assert r.returncode == 0, r.stdout + r.stderr
    assert read_json(root, "group_bys/team_a/gb.v1")[0]["metaData"]["production"] == 1
    # explicitly non-production while used by a production join: rejected
    write(root, "group_bys/team_a/gb.py", gb_file(flags="backfill_start_date='2023-01-01', production=False"))
    r = run_compile(root, "--conf", "group_bys/team_a/gb.py", "-y", "--force-overwrite")
    assert "group_by team_a.gb.v1 is explicitly marked as non-production but included in the following " \
           "production joins: team_a.j.v1" in r.stdout


def test_mode_to_env_map_prompt(tmp_path):
    root = make_root(tmp_path, {"group_bys/team_a/gb.py": gb_file(env='{"backfill": {"OLD": "1"}}')})
    assert run_compile(root, "--conf", "group_bys/team_a/gb.py", "-y").returncode == 0
    write(root, "group_bys/team_a/gb.py", gb_file(env='{"backfill": {"NEW": "2"}}'))
    # answering "n": keep the env of the existing file
    r = run_compile(root, "--conf", "group_bys/team_a/gb.py", stdin="n\n")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "Do you want to update existing env variables in these files? [Y/n]:" in r.stdout
    assert "(preserving existing modeToEnvMap)" in r.stdout
    doc, text = read_json(root, "group_bys/team_a/gb.v1")
    assert doc["metaData"]["modeToEnvMap"] == {"backfill": {"OLD": "1"}}
    assert text == json.dumps(doc, indent=2)
    # empty answer = yes: the new env is written
    r = run_compile(root, "--conf", "group_bys/team_a/gb.py", stdin="\n")
    assert r.returncode == 0
    assert read_json(root, "group_bys/team_a/gb.v1")[0]["metaData"]["modeToEnvMap"] == {"backfill": {"NEW": "2"}}
    # no answer at all (stdin closed, as in a script): the default, yes, as with Enter
    write(root, "group_bys/team_a/gb.py", gb_file(env='{"backfill": {"THIRD": "3"}}'))
    r = run_compile(root, "--conf", "group_bys/team_a/gb.py", stdin="")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "[Y/n]: y (no answer on standard input: the default)" in r.stdout
    assert read_json(root, "group_bys/team_a/gb.v1")[0]["metaData"]["modeToEnvMap"] == {"backfill": {"THIRD": "3"}}


def test_sample_percent_prompt_preserves_logging(tmp_path):
    join = '''
from ai.chronon.join import Join
from sources.common import events
v1 = Join(left=events, right_parts=[]{extra})
'''
    root = make_root(tmp_path, {"joins/team_a/j.py": join.format(extra=", sample_percent=25.0")})
    assert run_compile(root, "--conf", "joins/team_a/j.py", "-y").returncode == 0
    write(root, "joins/team_a/j.py", join.format(extra=""))
    # update env: yes (default); disable logging: no -> samplePercent kept
    r = run_compile(root, "--conf", "joins/team_a/j.py", stdin="y\nn\n")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "team_a.j.v1: 25.0% -> disabled (not set)" in r.stdout
    assert read_json(root, "joins/team_a/j.v1")[0]["metaData"]["samplePercent"] == 25.0
    # with -y the new config wins
    r = run_compile(root, "--conf", "joins/team_a/j.py", "-y")
    assert "samplePercent" not in read_json(root, "joins/team_a/j.v1")[0]["metaData"]


def test_output_root_and_chronon_root_flags(tmp_path):
    root = make_root(tmp_path, {"group_bys/team_a/gb.py": gb_file()})
    r = run_compile(tmp_path, "--chronon_root", str(root), "--conf", "group_bys/team_a/gb.py",
                    "--output_root", "compiled", "-y")
    assert r.returncode == 0, r.stdout + r.stderr
    assert os.path.isfile(os.path.join(str(root), "compiled", "group_bys", "team_a", "gb.v1"))
