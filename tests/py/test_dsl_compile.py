"""compile.py on small configs: output JSON (field names, order, enums, bools, doubles,
embedded JSON strings), naming, teams.json merge, extras, displays, the C CLI entry."""

import json
import os

import pytest

from dsl_util import make_root, output_files, read_json, run_compile, chronon_bin

GB_FILE = '''
from ai.chronon.group_by import GroupBy, Aggregation, Operation, Window, TimeUnit
from sources.common import events

v1 = GroupBy(
    sources=events,
    keys=["user_id"],
    aggregations=[
        Aggregation(input_column="price", operation=Operation.SUM,
                    windows=[Window(3, TimeUnit.DAYS), Window(1, TimeUnit.HOURS)], tags={"k": "v"}),
        Aggregation(input_column="item", operation=Operation.LAST_K(10)),
        Aggregation(input_column="price", operation=Operation.APPROX_PERCENTILE([0.99, 0.5], k=200)),
        Aggregation(input_column="price", operation=Operation.COUNT, buckets=["item"]),
    ],
    online=True,
    custom_field="x",
)
'''


def test_group_by_json_matches_chronon_layout(tmp_path):
    root = make_root(tmp_path, {"group_bys/team_a/purchases.py": GB_FILE})
    r = run_compile(root, "--conf", "group_bys/team_a/purchases.py", "-y")
    assert r.returncode == 0, r.stdout + r.stderr
    doc, text = read_json(root, "group_bys/team_a/purchases.v1")
    # file layout: json.dumps(indent=2), no trailing newline
    assert text == json.dumps(doc, indent=2)
    assert list(doc) == ["metaData", "sources", "keyColumns", "aggregations"]
    md = doc["metaData"]
    assert list(md) == ["name", "online", "customJson", "dependencies", "tableProperties", "outputNamespace",
                        "team", "offlineSchedule"]
    assert md["name"] == "team_a.purchases.v1"
    assert md["online"] == 1 and isinstance(md["online"], int)
    assert md["team"] == "team_a"
    assert md["outputNamespace"] == "team_a_db"               # team's namespace
    assert md["tableProperties"] == {"source": "chronon"}     # default's table_properties
    assert md["offlineSchedule"] == "@daily"
    custom = json.loads(md["customJson"])
    assert list(custom) == ["custom_field", "lag", "groupby_tags", "column_tags"]
    assert custom["column_tags"] == {"price_sum_3d": {"k": "v"}, "price_sum_1h": {"k": "v"}}
    assert md["customJson"].startswith('{"custom_field": "x", "lag": 0, "groupby_tags": null')
    assert md["dependencies"] == [json.dumps({"name": "wait_for_raw.purchases_ds",
                                              "spec": "raw.purchases/ds={{ ds }}", "start": None, "end": None})]
    src = doc["sources"][0]["events"]
    assert list(src) == ["table", "query"]
    assert src["query"] == {"selects": {"user_id": "user_id", "price": "price", "item": "item_id"},
                            "timeColumn": "ts_millis", "setups": []}
    aggs = doc["aggregations"]
    assert aggs[0] == {"inputColumn": "price", "operation": 7, "argMap": {},
                       "windows": [{"length": 3, "timeUnit": 1}, {"length": 1, "timeUnit": 0}]}
    assert aggs[1] == {"inputColumn": "item", "operation": 13, "argMap": {"k": "10"}}
    assert aggs[2]["operation"] == 12
    assert list(aggs[2]["argMap"].items()) == [("k", "200"), ("percentiles", "[0.99, 0.5]")]
    assert aggs[3]["buckets"] == ["item"]


def test_feature_and_table_display(tmp_path):
    root = make_root(tmp_path, {"group_bys/team_a/purchases.py": GB_FILE})
    r = run_compile(root, "--conf", "group_bys/team_a/purchases.py", "-y", "--feature-display", "--table-display")
    assert r.returncode == 0, r.stderr
    assert ("['price_sum_3d', 'price_sum_1h', 'item_last10', 'price_approx_percentile', "
            "'price_count_by_item', 'user_id']") in r.stdout
    start = r.stdout.index("json.start")
    block = r.stdout[start + len("json.start"):r.stdout.index("json.end")]
    block = block.replace("\u001b[32m", "").replace("\u001b[0m", "")
    assert json.loads(block) == {"upload": ["team_a_db.team_a_purchases_v1_upload"]}


def test_join_extras_doubles_and_nested_naming(tmp_path):
    files = {
        "group_bys/team_a/purchases.py": GB_FILE,
        "group_bys/team_b/sub/users.py": '''
            from ai.chronon.group_by import GroupBy
            from sources.common import users
            v1 = GroupBy(sources=users, keys=["user_id"], aggregations=None, online=True)
            ''',
        "joins/team_b/training.py": '''
            from ai.chronon.join import Join, JoinPart
            from sources.common import events
            from group_bys.team_a import purchases
            from group_bys.team_b.sub import users
            v1 = Join(left=events,
                      right_parts=[JoinPart(purchases.v1, prefix="p"), JoinPart(users.v1, key_mapping={"user_id": "user_id"})],
                      online=True, check_consistency=True, sample_percent=50, lag=1,
                      additional_args=["--x=1"])
            ''',
    }
    root = make_root(tmp_path, files)
    r = run_compile(root, "--conf", "joins/team_b/training.py", "-y")
    assert r.returncode == 0, r.stdout + r.stderr
    assert output_files(root) == ["group_bys/team_a/purchases.v1", "group_bys/team_b/sub.users.v1",
                                  "joins/team_b/training.v1"]
    assert "Successfully wrote 2 GroupBy objects" in r.stdout
    assert "Successfully wrote 1 Join objects" in r.stdout
    join, _ = read_json(root, "joins/team_b/training.v1")
    md = join["metaData"]
    assert md["name"] == "team_b.training.v1"
    assert md["outputNamespace"] == "default_ns"            # team_b falls back to default
    assert md["online"] == 1 and md["production"] == 0
    assert md["samplePercent"] == 50.0 and isinstance(md["samplePercent"], float)
    assert md["consistencySamplePercent"] == 5.0
    assert list(json.loads(md["customJson"])) == ["check_consistency", "lag", "additional_args", "join_tags",
                                                  "join_part_tags"]
    deps = [json.loads(d) for d in md["dependencies"]]
    assert deps[0] == {"name": "wait_for_raw.purchases_ds_minus_1",
                       "spec": "raw.purchases/ds={{ macros.ds_add(ds, -1) }}", "start": None, "end": None}
    # the users part keeps its own lag-0 dependency, with the /hr sub-partition
    assert {"name": "wait_for_raw.users_ds", "spec": "raw.users/ds={{ ds }}/hr=00:00",
            "start": "2023-01-01", "end": None} in deps
    # events left gets ts -> timeColumn appended to its selects
    assert list(join["left"]["events"]["query"]["selects"].items())[-1] == ("ts", "ts_millis")
    assert [p.get("prefix") for p in join["joinParts"]] == ["p", None]
    assert join["joinParts"][1]["groupBy"]["metaData"]["name"] == "team_b.sub.users.v1"
    users, _ = read_json(root, "group_bys/team_b/sub.users.v1")
    assert users["metaData"]["team"] == "team_b" and "aggregations" not in users


def test_staging_query_and_label_join(tmp_path):
    files = {
        "staging_queries/team_a/sq.py": '''
            from ai.chronon.api.ttypes import StagingQuery, MetaData
            v1 = StagingQuery(query="SELECT * FROM t WHERE ds BETWEEN '{{ start_date }}' AND '{{ end_date }}'",
                              startPartition="2023-01-01", setups=["ADD JAR x"],
                              metaData=MetaData(name="ignored", outputNamespace="sq_db", dependencies=["raw.t/ds={{ ds }}"]))
            ''',
        "group_bys/team_a/labels.py": '''
            from ai.chronon.group_by import GroupBy, Aggregation, Operation, Window, TimeUnit
            from sources.common import events
            v1 = GroupBy(sources=events, keys=["user_id"], online=False, backfill_start_date="2023-01-01",
                         aggregations=[Aggregation("price", Operation.SUM, windows=[Window(7, TimeUnit.DAYS)])])
            ''',
        "joins/team_a/labeled.py": '''
            from ai.chronon.join import Join, JoinPart, LabelPart
            from sources.common import events
            from group_bys.team_a import labels
            v1 = Join(left=events, right_parts=[],
                      label_part=LabelPart([JoinPart(labels.v1)], left_start_offset=7, left_end_offset=7))
            ''',
    }
    root = make_root(tmp_path, files)
    r = run_compile(root, "--conf", "staging_queries/team_a/sq.py", "-y")
    assert r.returncode == 0, r.stdout + r.stderr
    sq, _ = read_json(root, "staging_queries/team_a/sq.v1")
    assert list(sq) == ["metaData", "query", "startPartition", "setups"]
    assert sq["metaData"]["name"] == "team_a.sq.v1"
    assert sq["metaData"]["dependencies"] == ["raw.t/ds={{ ds }}"]
    r = run_compile(root, "--conf", "joins/team_a/labeled.py", "-y")
    assert r.returncode == 0, r.stdout + r.stderr
    join, _ = read_json(root, "joins/team_a/labeled.v1")
    assert join["joinParts"] == []
    label_deps = [json.loads(d) for d in join["labelPart"]["metaData"]["dependencies"]]
    assert label_deps[-1] == {"name": "wait_for_team_a_db.team_a_labeled_v1",
                              "spec": "team_a_db.team_a_labeled_v1/ds={{ ds }}"}
    assert join["labelPart"]["leftStartOffset"] == 7


def test_bootstrap_from_log_fills_logged_table(tmp_path):
    files = {"joins/team_a/boot.py": '''
        from ai.chronon.join import Join, BootstrapPart
        from sources.common import events
        v1 = Join(left=events, right_parts=[], online=True, sample_percent=10.0, bootstrap_from_log=True,
                  row_ids=["user_id"], bootstrap_parts=[BootstrapPart(table="{{ db }}.boot_t")])
        '''}
    root = make_root(tmp_path, files)
    r = run_compile(root, "--conf", "joins/team_a/boot.py", "-y")
    assert r.returncode == 0, r.stdout + r.stderr
    join, _ = read_json(root, "joins/team_a/boot.v1")
    assert [b["table"] for b in join["bootstrapParts"]] == ["team_a_db.boot_t", "team_a_db.team_a_boot_v1_logged"]
    assert join["rowIds"] == ["user_id"]
    specs = [json.loads(d)["spec"] for d in join["metaData"]["dependencies"]]
    assert "team_a_db.team_a_boot_v1_logged/ds={{ ds }}" in specs


def test_external_parts_and_derivations(tmp_path):
    files = {"joins/team_a/ext.py": '''
        from ai.chronon.join import Join, ExternalPart, ExternalSource, ContextualSource, DataType, Derivation
        from sources.common import events
        v1 = Join(left=events, right_parts=[],
                  online_external_parts=[
                      ExternalPart(ExternalSource(name="svc", team="team_a",
                                                  key_fields=[("user_id", DataType.LONG)],
                                                  value_fields=[("score", DataType.DOUBLE),
                                                                ("tags", DataType.LIST(DataType.STRING))])),
                      ExternalPart(ContextualSource(fields=[("req", DataType.STRING)]), prefix="c"),
                  ],
                  derivations=[Derivation("*", "*"), Derivation("s2", "ext_svc_score * 2", description="twice")])
        '''}
    root = make_root(tmp_path, files)
    r = run_compile(root, "--conf", "joins/team_a/ext.py", "-y", "--feature-display")
    assert r.returncode == 0, r.stdout + r.stderr
    join, _ = read_json(root, "joins/team_a/ext.v1")
    ext = join["onlineExternalParts"][0]["source"]
    assert list(ext) == ["metadata", "keySchema", "valueSchema"]
    assert ext["valueSchema"] == {"kind": 13, "params": [
        {"name": "score", "dataType": {"kind": 6}},
        {"name": "tags", "dataType": {"kind": 12, "params": [{"name": "elem", "dataType": {"kind": 7}}]}}],
        "name": "ext_svc_values"}
    assert join["derivations"][1] == {"name": "s2", "expression": "ext_svc_score * 2",
                                      "metaData": {"description": "twice"}}
    assert "ext_c_contextual_req" in r.stdout


def test_help_exits_zero(tmp_path):
    r = run_compile(tmp_path, "--help")
    assert r.returncode == 0
    for flag in ("--chronon_root", "--conf", "--input_path", "--output_root", "--debug", "--force-overwrite",
                 "--feature-display", "--table-display", "-y"):
        assert flag in r.stdout


def test_chronon_cli_compile_runs_same_tool(tmp_path):
    binary = chronon_bin()
    if not binary or not os.path.exists(binary):
        pytest.skip("CHRONON_BIN not set (run through ctest)")
    root = make_root(tmp_path, {"group_bys/team_a/purchases.py": GB_FILE})
    r = run_compile(root, "--conf", "group_bys/team_a/purchases.py", "-y", via_cli=True)
    assert r.returncode == 0, r.stdout + r.stderr
    via_cli, _ = read_json(root, "group_bys/team_a/purchases.v1")
    os.remove(os.path.join(str(root), "production", "group_bys", "team_a", "purchases.v1"))
    r = run_compile(root, "--conf", "group_bys/team_a/purchases.py", "-y")
    assert r.returncode == 0
    assert read_json(root, "group_bys/team_a/purchases.v1")[0] == via_cli
    assert run_compile(root, "--help", via_cli=True).returncode == 0
