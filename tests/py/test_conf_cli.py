"""`chronon conf show` end to end on the hand-written fixtures in tests/conf/fixtures.

Expected names come from spec/config.md section 8 (written out by hand here), so a
regression in the C naming code shows up as a diff against these lists."""
import json
import os
import subprocess

import pytest

BIN = os.environ.get("CHRONON_BIN")
SRC = os.environ.get("CN_SOURCE_DIR")
FIX = os.path.join(SRC or ".", "tests", "conf", "fixtures")

pytestmark = pytest.mark.skipif(not BIN or not SRC, reason="run through ctest (CHRONON_BIN, CN_SOURCE_DIR)")


def run(*args, cwd=FIX):
    return subprocess.run([BIN, "conf", *args], cwd=cwd, capture_output=True, text=True, timeout=60)


def show_json(rel):
    r = run("show", rel, "--json")
    assert r.returncode == 0, r.stderr
    assert r.stderr == ""
    return json.loads(r.stdout)


ALL_OPS_COLUMNS = [
    "user_id",
    "amount_min",
    "amount_max_1h", "amount_max_7d",
    "item_first",
    "item_last_24h",
    "item_unique_count",
    "item_approx_unique_count",
    "amount_count_1d_by_category", "amount_count_30d_by_category",
    "amount_sum_3d_by_category", "amount_sum_12h_by_category",
    "amount_sum_3d_by_device", "amount_sum_12h_by_device",
    "amount_average", "amount_variance", "amount_skew", "amount_kurtosis",
    "amount_approx_percentile",
    "item_last10", "item_first3_2d", "amount_top5", "amount_bottom2",
    "category_histogram", "category_approx_histogram_k", "item_bounded_unique_count",
    "tags_sum", "ts_max",
    "ds",
]


def test_group_by_text():
    r = run("show", "production/group_bys/team_a/all_ops.v1")
    assert r.returncode == 0, r.stderr
    out = r.stdout
    for line in [
        "kind: group_by",
        "name: team_a.all_ops.v1",
        "team: team_a",
        "online: yes",
        "production: no",
        "output table: ns_a.team_a_all_ops_v1",
        "upload table: ns_a.team_a_all_ops_v1_upload",
        "batch dataset: TEAM_A_ALL_OPS_V1_BATCH",
        "keys: user_id",
        "accuracy: TEMPORAL",
        "  [0] events data.events topic events_topic",
        "      wheres: amount > 0 AND item IS NOT NULL",
        "      time column: ts",
        "      partitions: 2024-01-01 .. 2024-12-31",
        "columns (29):",
    ]:
        assert line in out.splitlines(), f"missing line {line!r} in:\n{out}"
    assert "selects: user_id = user_id, amount = CAST(amount AS DOUBLE)," in out
    col_lines = out.split("columns (29):\n", 1)[1].splitlines()
    assert [l.split()[0] for l in col_lines] == ALL_OPS_COLUMNS
    sum_line = next(l for l in col_lines if l.split()[0] == "amount_sum_3d_by_device")
    assert sum_line.split()[1:] == ["value", "map<string,sum_type(amount)>"]


def test_group_by_json():
    o = show_json("production/group_bys/team_a/all_ops.v1")
    assert o["kind"] == "group_by"
    assert o["output_table"] == "ns_a.team_a_all_ops_v1"
    assert o["keys"] == ["user_id"]
    assert o["accuracy"] == "TEMPORAL" and o["accuracy_inferred"] is False
    assert o["online"] is True and o["production"] is False
    src = o["sources"][0]
    assert src["type"] == "events" and src["table"] == "data.events" and src["topic"] == "events_topic"
    assert src["wheres"] == ["amount > 0", "item IS NOT NULL"]
    assert src["selects"]["tags"] == "tag_counts"
    assert [c["name"] for c in o["columns"]] == ALL_OPS_COLUMNS
    types = {c["name"]: c["type"] for c in o["columns"]}
    assert types["amount_count_30d_by_category"] == "map<string,long>"
    assert types["item_last10"] == "list<type(item)>"
    assert types["category_histogram"] == "map<string,int>"
    assert types["amount_approx_percentile"] == "list<float>"
    assert types["amount_variance"] == "double"
    assert types["ds"] == "string"
    roles = [c["role"] for c in o["columns"]]
    assert roles[0] == "key" and roles[-1] == "partition" and set(roles[1:-1]) == {"value"}


def test_no_aggregation_group_by_infers_snapshot():
    r = run("show", "production/group_bys/team_a/users.v1")
    assert r.returncode == 0, r.stderr
    assert "accuracy: SNAPSHOT (inferred)" in r.stdout.splitlines()
    assert "  [0] entities data.users" in r.stdout.splitlines()
    o = show_json("production/group_bys/team_a/users.v1")
    assert [(c["name"], c["role"]) for c in o["columns"]] == [
        ("user_id", "key"), ("age", "select"), ("country", "select"), ("ds", "partition")]


def test_group_by_derivations():
    o = show_json("production/group_bys/team_a/derived.v1")
    assert [c["name"] for c in o["columns"]] == ["user_id", "total", "amount_count", "ratio", "uid", "ds"]
    assert o["backfill_start_date"] == "2024-01-01"


def test_join_json():
    o = show_json("production/joins/team_a/training.v1")
    assert o["kind"] == "join"
    assert o["output_table"] == "ns_a.team_a_training_v1"
    assert o["left"]["type"] == "events" and o["left"]["time_column"] == "event_ts"
    assert [p["table"] for p in o["parts"]] == [
        "ns_a.team_a_training_v1_u_team_a_derived_v1",
        "ns_a.team_a_training_v1_team_a_users_v1",
        "ns_a.team_a_training_v1_team_b_merchant_stats_v1",
    ]
    assert o["parts"][0]["key_mapping"] == {"user": "user_id"}
    assert [p["left_keys"] for p in o["parts"]] == [["user"], ["user"], ["merchant"]]
    assert o["parts"][2]["accuracy"] == "TEMPORAL"
    assert [e["column_prefix"] for e in o["external_parts"]] == ["ext_p_risk_score", "ext_contextual"]
    assert [c["name"] for c in o["columns"]] == [
        "user", "merchant", "amount", "ts",
        "u_team_a_derived_v1_total", "u_team_a_derived_v1_amount_count",
        "u_team_a_derived_v1_ratio", "u_team_a_derived_v1_uid",
        "team_a_users_v1_age", "team_a_users_v1_country",
        "team_b_merchant_stats_v1_amount_sum_7d",
        "ext_p_risk_score_score", "ext_p_risk_score_reasons", "ext_contextual_channel",
        "ds",
    ]


def test_join_text_and_derivations():
    r = run("show", "production/joins/team_a/training.v1")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert "left: events data.checkouts" in lines
    assert "      keys: user -> user_id" in lines
    assert "external [0]: ext_p_risk_score" in lines
    o = show_json("production/joins/team_a/training.v2")
    assert [c["name"] for c in o["columns"]] == [
        "user_id", "signup", "team_a_users_v1_age", "team_a_users_v1_country", "channel", "is_adult", "ds"]


def test_staging_query():
    o = show_json("production/staging_queries/team_a/daily.v1")
    assert o["kind"] == "staging_query"
    assert o["output_table"] == "ns_a.team_a_daily_v1"
    assert o["start_partition"] == "2024-01-01"
    assert "{{ start_date }}" in o["query"]
    assert "columns" not in o
    r = run("show", "production/staging_queries/team_a/latest_view.v1")
    assert r.returncode == 0 and "create view: yes" in r.stdout.splitlines()


@pytest.mark.parametrize("rel,message", [
    ("bad/production/group_bys/team_a/unknown_op.v1",
     "bad/production/group_bys/team_a/unknown_op.v1: aggregations[2].operation: unknown Operation 99 (expected 0..19)"),
    ("bad/production/group_bys/team_a/malformed.v1",
     "bad/production/group_bys/team_a/malformed.v1:6:33: malformed JSON: ']' expected near '\"item\"'"),
    ("bad/production/group_bys/team_a/wrong_type.v1",
     "bad/production/group_bys/team_a/wrong_type.v1: keyColumns: expected an array, got string"),
    ("bad/production/group_bys/team_a/missing_sources.v1",
     "bad/production/group_bys/team_a/missing_sources.v1: sources: required field is missing (expected an array)"),
])
@pytest.mark.parametrize("fmt", [[], ["--json"]])
def test_bad_files_one_error_line(rel, message, fmt):
    r = run("show", rel, *fmt)
    assert r.returncode == 1
    assert r.stdout == ""
    assert r.stderr == f"chronon conf: {message}\n"


def test_missing_file():
    r = run("show", "production/group_bys/team_a/absent.v1")
    assert r.returncode == 1 and r.stdout == ""
    assert r.stderr.startswith("chronon conf: ") and "absent.v1" in r.stderr
    assert r.stderr.count("\n") == 1


@pytest.mark.parametrize("args", [[], ["bogus"], ["show"], ["show", "a", "b"], ["show", "--bogus", "x"]])
def test_usage_errors_exit_2(args):
    r = run(*args)
    assert r.returncode == 2
    assert r.stdout == ""
    assert r.stderr.startswith("usage: chronon conf") or r.stderr.startswith("chronon conf: ")


@pytest.mark.parametrize("args", [["--help"], ["-h"], ["show", "--help"]])
def test_help_exits_0(args):
    r = run(*args)
    assert r.returncode == 0
    assert r.stdout.startswith("usage: chronon conf show <compiled file> [--json]")
    assert "--json" in r.stdout
