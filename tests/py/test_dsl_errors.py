"""Bad input to compile.py: one line naming the file/config and the error, the exit code
Chronon uses, and no output written."""

import pytest

from dsl_util import make_root, output_files, run_compile

GOOD_GB = '''
from ai.chronon.group_by import GroupBy, Aggregation, Operation
from sources.common import events
v1 = GroupBy(sources=events, keys=["user_id"], online=True,
             aggregations=[Aggregation("price", Operation.SUM)])
'''


def error_line(r):
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith("compile.py: error: "), r.stderr
    return lines[0]


def assert_failed_without_output(r, root, *needles):
    assert r.returncode == 1, r.stdout + r.stderr
    line = error_line(r)
    for needle in needles:
        assert needle in line, line
    assert output_files(root) == []


def test_missing_module_file(tmp_path):
    root = make_root(tmp_path, {})
    r = run_compile(root, "--conf", "group_bys/team_a/nope.py", "-y")
    assert_failed_without_output(r, root, "group_bys/team_a/nope.py", "doesn't exist")


@pytest.mark.parametrize("body, needles", [
    ("x = undefined_thing\n", ["group_bys/team_a/broken.py:1", "NameError", "undefined_thing"]),
    ("def f(:\n", ["group_bys/team_a/broken.py:1", "SyntaxError"]),
    ("import group_bys.team_a.not_there\n", ["group_bys/team_a/broken.py:1", "ModuleNotFoundError",
                                             "group_bys.team_a.not_there"]),
])
def test_module_failing_to_import(tmp_path, body, needles):
    root = make_root(tmp_path, {"group_bys/team_a/broken.py": body})
    r = run_compile(root, "--conf", "group_bys/team_a/broken.py", "-y")
    assert_failed_without_output(r, root, *needles)


def test_error_inside_imported_source_module_names_that_file(tmp_path):
    root = make_root(tmp_path, {"sources/bad.py": "a = 1\nraise RuntimeError('boom in source')\n",
                                "group_bys/team_a/x.py": "from sources import bad\n"})
    r = run_compile(root, "--conf", "group_bys/team_a/x.py", "-y")
    assert_failed_without_output(r, root, "sources/bad.py:2", "RuntimeError", "boom in source")


def test_missing_input_column(tmp_path):
    root = make_root(tmp_path, {"group_bys/team_a/x.py": '''
        from ai.chronon.group_by import GroupBy, Aggregation, Operation
        from sources.common import events
        v1 = GroupBy(sources=events, keys=["user_id"], online=True,
                     aggregations=[Aggregation(operation=Operation.COUNT)])
        '''})
    r = run_compile(root, "--conf", "group_bys/team_a/x.py", "-y")
    assert_failed_without_output(r, root, "group_bys/team_a/x.py:4", "AssertionError",
                                 "input_column is required for all operations")


def test_hourly_window_with_snapshot_accuracy(tmp_path):
    root = make_root(tmp_path, {"group_bys/team_a/x.py": '''
        from ai.chronon.group_by import GroupBy, Aggregation, Operation, Window, TimeUnit, Accuracy
        from sources.common import events
        v1 = GroupBy(sources=events, keys=["user_id"], online=True, accuracy=Accuracy.SNAPSHOT,
                     aggregations=[Aggregation("price", Operation.SUM, windows=[Window(2, TimeUnit.HOURS)])])
        '''})
    r = run_compile(root, "--conf", "group_bys/team_a/x.py", "-y")
    assert_failed_without_output(r, root, "AssertionError", "snapshot accuracy group by with an hourly aggregation",
                                 "input_column: price")


def test_key_mapping_to_unknown_key(tmp_path):
    root = make_root(tmp_path, {"group_bys/team_a/gb.py": GOOD_GB, "joins/team_a/j.py": '''
        from ai.chronon.join import Join, JoinPart
        from sources.common import events
        from group_bys.team_a import gb
        v1 = Join(left=events, right_parts=[JoinPart(gb.v1, key_mapping={"uid": "userid"})])
        '''})
    r = run_compile(root, "--conf", "joins/team_a/j.py", "-y")
    assert_failed_without_output(r, root, "joins/team_a/j.py:5", "'userid', is not a valid key for team_a.gb.v1")


def test_unknown_team(tmp_path):
    root = make_root(tmp_path, {"group_bys/team_z/x.py": GOOD_GB})
    r = run_compile(root, "--conf", "group_bys/team_z/x.py", "-y")
    assert_failed_without_output(r, root, "team team_z does not exist in", "teams.json")


def test_missing_namespace_everywhere(tmp_path):
    teams = {"default": {"table_properties": {}}, "team_a": {}}
    root = make_root(tmp_path, {"group_bys/team_a/x.py": GOOD_GB}, teams=teams)
    r = run_compile(root, "--conf", "group_bys/team_a/x.py", "-y")
    assert_failed_without_output(r, root, "team team_a has no 'namespace'")


def test_missing_teams_json(tmp_path):
    root = make_root(tmp_path, {"group_bys/team_a/x.py": GOOD_GB}, teams=None)
    r = run_compile(root, "--conf", "group_bys/team_a/x.py", "-y")
    assert_failed_without_output(r, root, "teams.json: teams file not found")


def test_conf_outside_known_folders(tmp_path):
    root = make_root(tmp_path, {"models/team_a/x.py": GOOD_GB})
    r = run_compile(root, "--conf", "models/team_a/x.py", "-y")
    assert_failed_without_output(r, root, "models/team_a/x.py", "group_bys, joins, staging_queries")


def test_missing_conf_flag_is_usage_error(tmp_path):
    r = run_compile(tmp_path, "-y")
    assert r.returncode == 2
    assert "--input_path" in r.stderr


def test_wrong_value_type_names_config_and_field(tmp_path):
    root = make_root(tmp_path, {"group_bys/team_a/x.py": GOOD_GB.replace("online=True", "online=1")})
    r = run_compile(root, "--conf", "group_bys/team_a/x.py", "-y")
    assert_failed_without_output(r, root, "GroupBy team_a.x.v1", "field metaData.online", "expected bool",
                                 "got int 1")


def test_online_join_with_part_not_online_fails_and_writes_nothing(tmp_path):
    root = make_root(tmp_path, {
        "group_bys/team_a/gb.py": GOOD_GB.replace("online=True", "backfill_start_date='2023-01-01'"),
        "joins/team_a/j.py": '''
            from ai.chronon.join import Join, JoinPart
            from sources.common import events
            from group_bys.team_a import gb
            v1 = Join(left=events, right_parts=[JoinPart(gb.v1)], online=True)
            '''})
    r = run_compile(root, "--conf", "joins/team_a/j.py", "-y")
    assert_failed_without_output(r, root, "joins/team_a/j.py", "Join team_a.j.v1 is online",
                                 "Fix the following: ['team_a.gb.v1']")


def run_expecting_validation_error(tmp_path, files, conf, *needles):
    """Validator errors print 'Could not write ...' as in Chronon; compiling a single file then
    exits 1 (Chronon exits 0; see docs/compile.md)."""
    root = make_root(tmp_path, files)
    r = run_compile(root, "--conf", conf, "-y")
    assert r.returncode == 1, r.stdout + r.stderr
    assert "failed validation and were not written" in r.stderr
    assert "Could not write" in r.stdout
    for needle in needles:
        assert needle in r.stdout, r.stdout
    assert output_files(root) == []


def test_online_join_with_explicitly_offline_group_by(tmp_path):
    run_expecting_validation_error(tmp_path, {
        "group_bys/team_a/gb.py": GOOD_GB.replace("online=True", "online=False"),
        "joins/team_a/j.py": '''
            from ai.chronon.join import Join, JoinPart
            from sources.common import events
            from group_bys.team_a import gb
            v1 = Join(left=events, right_parts=[JoinPart(gb.v1)], online=True)
            '''}, "joins/team_a/j.py",
        "Could not write Join j.v1", "join team_a.j.v1 is online but includes the following offline group_bys: "
        "team_a.gb.v1")


def test_derivation_of_unknown_column(tmp_path):
    run_expecting_validation_error(tmp_path, {"group_bys/team_a/gb.py": GOOD_GB.replace(
        "online=True", "online=True, derivations=[Derivation('renamed', 'no_such_col')]").replace(
        "import GroupBy,", "import Derivation, GroupBy,")}, "group_bys/team_a/gb.py",
        "Could not write GroupBy gb.v1", "Incorrect derivation expression no_such_col")


def test_bad_deprecation_date(tmp_path):
    run_expecting_validation_error(tmp_path, {"group_bys/team_a/gb.py": GOOD_GB.replace(
        "online=True", "online=True, deprecation_date='2023/01/01'")}, "group_bys/team_a/gb.py",
        "Deprecation date is not in the correct format for group_by team_a.gb.v1")


def test_staging_query_view_with_date_templates(tmp_path):
    run_expecting_validation_error(tmp_path, {"staging_queries/team_a/sq.py": '''
        from ai.chronon.api.ttypes import StagingQuery, MetaData
        v1 = StagingQuery(query="SELECT * FROM t WHERE ds >= '{{ start_date }}'", createView=True,
                          metaData=MetaData())
        '''}, "staging_queries/team_a/sq.py", "with createView=True cannot contain date templates: start_date")


def test_group_by_neither_online_nor_backfilled_is_skipped(tmp_path):
    root = make_root(tmp_path, {"group_bys/team_a/gb.py": GOOD_GB.replace("online=True", "online=False")})
    r = run_compile(root, "--conf", "group_bys/team_a/gb.py", "-y")
    assert r.returncode == 0
    assert "Skipping GroupBy gb.v1: GroupBys should not be materialized if batch upload job is not needed" in r.stdout
    assert output_files(root) == []
    # --force-overwrite also forces the write
    r = run_compile(root, "--conf", "group_bys/team_a/gb.py", "-y", "--force-overwrite")
    assert r.returncode == 0
    assert output_files(root) == ["group_bys/team_a/gb.v1"]


def test_folder_compile_skips_broken_file(tmp_path):
    root = make_root(tmp_path, {"group_bys/team_a/a_broken.py": "raise ValueError('bad config')\n",
                                "group_bys/team_a/good.py": GOOD_GB})
    r = run_compile(root, "--conf", "group_bys/team_a", "-y")
    assert r.returncode == 0, r.stderr
    assert "Failed to extract" in r.stderr and "bad config" in r.stderr
    assert output_files(root) == ["group_bys/team_a/good.v1"]
    assert "Successfully wrote 1 GroupBy objects" in r.stdout


def test_failed_config_does_not_poison_shared_source(tmp_path):
    # a_broken.py fails validation after touching the shared `events` source; good.py, compiled
    # next in the same process, must still serialize
    root = make_root(tmp_path, {
        "group_bys/team_a/a_broken.py": '''
            from ai.chronon.group_by import GroupBy, Aggregation, Operation
            from sources.common import events
            v1 = GroupBy(sources=events, keys=["user_id"], online=True,
                         aggregations=[Aggregation(operation=Operation.COUNT)])
            ''',
        "group_bys/team_a/good.py": GOOD_GB})
    r = run_compile(root, "--conf", "group_bys/team_a", "-y")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "input_column is required for all operations" in r.stderr
    assert output_files(root) == ["group_bys/team_a/good.v1"]


def test_single_file_with_invalid_sibling_writes_valid_one_and_exits_1(tmp_path):
    # Chronon writes the valid object and skips the invalid one; chronon-c does the same but
    # exits 1, so the invalid config does not pass unnoticed.
    root = make_root(tmp_path, {"group_bys/team_a/gb.py": GOOD_GB + '''
bad = GroupBy(sources=events, keys=["user_id"], online=True, deprecation_date="2023/01/01",
              aggregations=[Aggregation("price", Operation.SUM)])
'''})
    r = run_compile(root, "--conf", "group_bys/team_a/gb.py", "-y")
    assert r.returncode == 1, r.stdout + r.stderr
    assert "Could not write GroupBy gb.bad" in r.stdout
    assert "1 GroupBy object(s) failed validation" in error_line(r)
    assert output_files(root) == ["group_bys/team_a/gb.v1"]


def test_folder_compile_skips_invalid_and_exits_0(tmp_path):
    root = make_root(tmp_path, {"group_bys/team_a/gb.py": GOOD_GB + '''
bad = GroupBy(sources=events, keys=["user_id"], online=True, deprecation_date="2023/01/01",
              aggregations=[Aggregation("price", Operation.SUM)])
'''})
    r = run_compile(root, "--conf", "group_bys/team_a", "-y")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "1 GroupBy object(s) under group_bys/team_a could not be written" in r.stdout + r.stderr
    assert output_files(root) == ["group_bys/team_a/gb.v1"]
