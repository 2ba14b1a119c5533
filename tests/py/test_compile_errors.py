"""compile.py on bad input: one clear error line naming the config and the rule broken,
a non-zero exit, and no compiled file written.

The DSL construction rules checked here are the ones Chronon's group_by.py, join.py and
validator.py enforce (Chronon has no rule against windows on particular operations; the
window rule it has is "no HOURS window on a SNAPSHOT GroupBy or one with a backfill start
date").
"""

import os
import textwrap

import pytest

from compile_runner import describe, list_files, run_compile

TEAMS = '{"default": {"table_properties": {"source": "chronon"}, "namespace": "default_ns"},' \
        ' "t": {"namespace": "t_ns"}}'

EVENTS = """
from ai.chronon.api.ttypes import EntitySource, EventSource, Source
from ai.chronon.group_by import Accuracy, Aggregation, GroupBy, Operation, TimeUnit, Window
from ai.chronon.join import Join, JoinPart
from ai.chronon.query import Query, select
src = Source(events=EventSource(table="raw.e", query=Query(selects=select("k", "v"), time_column="ts")))
"""


def make_root(tmp_path, files):
    root = tmp_path / "root"
    root.mkdir()
    (root / "teams.json").write_text(TEAMS)
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip())
    return str(root)


def error_line(proc):
    """The single error line compile printed (stderr, else the last non-empty stdout line)."""
    lines = [l for l in proc.stderr.splitlines() if l.strip()]
    assert len(lines) == 1, f"expected exactly one error line on stderr\n{describe(proc)}"
    return lines[0]


def assert_nothing_written(root):
    written = list_files(os.path.join(root, "production"))
    assert written == [], f"compile wrote files despite the error: {written}"


def assert_fails(root, conf, *fragments):
    proc = run_compile(root, conf)
    assert proc.returncode != 0, f"compile --conf {conf} should fail\n{describe(proc)}"
    line = error_line(proc)
    for fragment in fragments:
        assert fragment in line, f"error line lacks {fragment!r}: {line}"
    assert_nothing_written(root)
    return line


def test_conf_file_does_not_exist(tmp_path):
    root = make_root(tmp_path, {"group_bys/t/__init__.py": ""})
    assert_fails(root, "group_bys/t/missing.py", "group_bys/t/missing.py", "exist")


def test_config_imports_a_module_that_does_not_exist(tmp_path):
    root = make_root(tmp_path, {"group_bys/t/imp.py": "from group_bys.t.does_not_exist import v1\n"})
    assert_fails(root, "group_bys/t/imp.py", "group_bys/t/imp.py:1", "ModuleNotFoundError",
                 "group_bys.t.does_not_exist")


def test_config_raises_on_import(tmp_path):
    root = make_root(tmp_path, {"group_bys/t/bad.py": """
        from ai.chronon.group_by import GroupBy
        x = 1
        raise ValueError("price table is not ready")
        """})
    assert_fails(root, "group_bys/t/bad.py", "group_bys/t/bad.py:3", "ValueError", "price table is not ready")


def test_config_with_syntax_error(tmp_path):
    root = make_root(tmp_path, {"group_bys/t/syntax.py": "v1 = GroupBy(\n"})
    assert_fails(root, "group_bys/t/syntax.py", "group_bys/t/syntax.py", "SyntaxError")


def test_unknown_team(tmp_path):
    root = make_root(tmp_path, {"group_bys/nosuch/gb.py": EVENTS + """
v1 = GroupBy(sources=[src], keys=["k"], online=True,
             aggregations=[Aggregation(input_column="v", operation=Operation.SUM)])
"""})
    assert_fails(root, "group_bys/nosuch/gb.py", "group_bys/nosuch/gb.py", "nosuch", "teams.json")


GB_FILES = {"group_bys/t/gbs.py": EVENTS + """
offline = GroupBy(sources=[src], keys=["k"], online=False,
                  aggregations=[Aggregation(input_column="v", operation=Operation.SUM)])
unset = GroupBy(sources=[src], keys=["k"],
                aggregations=[Aggregation(input_column="v", operation=Operation.SUM)])
"""}

LEFT = EVENTS + """
from group_bys.t.gbs import offline, unset
left = Source(events=EventSource(table="raw.l", query=Query(selects=select("k"), time_column="ts")))
"""


def test_online_join_with_group_by_not_marked_online(tmp_path):
    root = make_root(tmp_path, {**GB_FILES, "joins/t/j.py": LEFT + """
v1 = Join(left=left, right_parts=[JoinPart(unset)], online=True)
"""})
    assert_fails(root, "joins/t/j.py", "joins/t/j.py", "t.j.v1", "online", "t.gbs.unset")


def test_online_join_with_group_by_explicitly_offline(tmp_path):
    # Chronon's validator rule: a join that is online may not include a GroupBy with
    # online=False. Chronon only prints "Could not write" and exits 0; here bad input
    # must make compile fail.
    root = make_root(tmp_path, {**GB_FILES, "joins/t/j.py": LEFT + """
v1 = Join(left=left, right_parts=[JoinPart(offline)], online=True)
"""})
    proc = run_compile(root, "joins/t/j.py")
    out = proc.stdout + proc.stderr
    assert "t.j.v1" in out and "online" in out and "t.gbs.offline" in out, describe(proc)
    assert_nothing_written(root)
    assert proc.returncode != 0, f"validation error must exit non-zero\n{describe(proc)}"


def test_failing_config_leaves_earlier_configs_of_the_file_unwritten(tmp_path):
    # `ok` is valid, `bad` is not: compile must not leave a half-compiled file behind.
    root = make_root(tmp_path, {**GB_FILES, "joins/t/j.py": LEFT + """
ok = Join(left=left, right_parts=[JoinPart(unset)])
bad = Join(left=left, right_parts=[JoinPart(unset)], online=True)
"""})
    assert_fails(root, "joins/t/j.py", "joins/t/j.py", "t.j.bad", "t.gbs.unset")


RULES = {
    "hourly_window_on_snapshot": (
        """
v1 = GroupBy(sources=[src], keys=["k"], online=True, accuracy=Accuracy.SNAPSHOT,
             aggregations=[Aggregation(input_column="v", operation=Operation.SUM,
                                       windows=[Window(6, TimeUnit.HOURS)])])
""", ["AssertionError", "hourly", "snapshot", "input_column: v"]),
    "hourly_window_with_backfill_start_date": (
        """
v1 = GroupBy(sources=[src], keys=["k"], backfill_start_date="2023-01-01",
             aggregations=[Aggregation(input_column="v", operation=Operation.COUNT,
                                       windows=[Window(1, TimeUnit.HOURS)])])
""", ["AssertionError", "hourly", "backfill start date", "input_column: v"]),
    "approx_percentile_out_of_range": (
        """
v1 = GroupBy(sources=[src], keys=["k"], online=True,
             aggregations=[Aggregation(input_column="v", operation=Operation.APPROX_PERCENTILE([0.5, 1.5]))])
""", ["ValueError", "Percentiles", "[0.5, 1.5]"]),
    "no_aggregations_on_events": (
        """
v1 = GroupBy(sources=[src], keys=["k"], online=True, aggregations=None)
""", ["AssertionError", "aggregations=None", "EntitySource"]),
    "windowed_entity_without_time_column": (
        """
ent = Source(entities=EntitySource(snapshotTable="raw.s", query=Query(selects=select("k", "v"))))
v1 = GroupBy(sources=[ent], keys=["k"], online=True,
             aggregations=[Aggregation(input_column="v", operation=Operation.LAST,
                                       windows=[Window(7, TimeUnit.DAYS)])])
""", ["AssertionError", "timeColumn", "windowed"]),
    "mismatched_ts_and_time_column": (
        """
ev = Source(events=EventSource(table="raw.e", query=Query(selects=select("k", "v", ts="event_ms"),
                                                          time_column="created_at")))
v1 = GroupBy(sources=[ev], keys=["k"], online=True,
             aggregations=[Aggregation(input_column="v", operation=Operation.SUM)])
""", ["AssertionError", "ts", "timeColumn"]),
}


@pytest.mark.parametrize("rule", sorted(RULES))
def test_group_by_rule(tmp_path, rule):
    body, fragments = RULES[rule]
    root = make_root(tmp_path, {"group_bys/t/gb.py": EVENTS + body})
    assert_fails(root, "group_bys/t/gb.py", "group_bys/t/gb.py:", *fragments)


def test_staging_query_view_with_date_templates(tmp_path):
    # Chronon's validator rule: createView StagingQueries may not use {{ start_date }}.
    root = make_root(tmp_path, {"staging_queries/t/sq.py": """
        from ai.chronon.api.ttypes import MetaData, StagingQuery
        v1 = StagingQuery(query="SELECT * FROM raw.e WHERE ds >= '{{ start_date }}'", createView=True,
                          metaData=MetaData())
        """})
    proc = run_compile(root, "staging_queries/t/sq.py")
    out = proc.stdout + proc.stderr
    assert "t.sq.v1" in out and "createView" in out and "start_date" in out, describe(proc)
    assert_nothing_written(root)
    assert proc.returncode != 0, f"validation error must exit non-zero\n{describe(proc)}"
