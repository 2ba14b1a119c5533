"""In-process checks of the DSL modules: Thrift classes, simple-JSON encoding, naming helpers."""

import json
import os
import sys

import pytest

from dsl_util import SOURCE_DIR

sys.path.insert(0, os.path.join(SOURCE_DIR, "api", "py"))

from ai.chronon.api import ttypes  # noqa: E402
from ai.chronon.group_by import Aggregation, Operation, Window, TimeUnit, get_output_col_names  # noqa: E402
from ai.chronon.query import Query, select  # noqa: E402
from ai.chronon.repo.serializer import (  # noqa: E402
    SerializationError, json2thrift, thrift_simple_json, thrift_simple_json_protected)
from ai.chronon import utils  # noqa: E402


def test_positional_and_keyword_construction_like_thrift():
    w = ttypes.Window(7, ttypes.TimeUnit.DAYS)
    assert (w.length, w.timeUnit) == (7, 1)
    assert ttypes.Query().setups == [] and ttypes.Query().setups is not ttypes.Query().setups
    assert ttypes.JoinPart(prefix="p").prefix == "p"  # id 3 is unused: prefix is the third field
    assert ttypes.TDataType(ttypes.DataKind.STRING) == ttypes.TDataType(ttypes.DataKind.STRING)
    with pytest.raises(TypeError):
        ttypes.Window(bogus=1)
    assert repr(ttypes.Window(1, 0)) == "Window(length=1, timeUnit=0)"
    assert ttypes.Operation._VALUES_TO_NAMES[13] == "LAST_K"


def test_simple_json_encoding():
    md = ttypes.MetaData(name="a.b", online=True, production=False, samplePercent=100,
                         modeToEnvMap={"backfill": {"X": "1"}}, consistencySamplePercent=0.5)
    text = thrift_simple_json(md)
    assert text == json.dumps({"name": "a.b", "online": 1, "production": 0,
                               "modeToEnvMap": {"backfill": {"X": "1"}}, "samplePercent": 100.0,
                               "consistencySamplePercent": 0.5}, indent=2)
    assert '"samplePercent": 100.0' in text
    # round trip, and readers accept true/false
    assert json2thrift(text, ttypes.MetaData) == ttypes.MetaData(
        name="a.b", online=True, production=False, samplePercent=100.0, modeToEnvMap={"backfill": {"X": "1"}},
        consistencySamplePercent=0.5)
    assert json2thrift('{"online": true}', ttypes.MetaData).online is True


@pytest.mark.parametrize("obj, field", [
    (ttypes.MetaData(online="yes"), "online"),
    (ttypes.Window(length="7"), "length"),
    (ttypes.Window(length=2**31), "length"),
    (ttypes.Query(selects={"a": None}), "selects['a']"),
    (ttypes.Query(wheres="a > 1"), "wheres"),
    (ttypes.Source(events=ttypes.EntitySource()), "events"),
])
def test_wrong_types_are_errors_naming_the_field(obj, field):
    with pytest.raises(SerializationError, match=r"field " + field.replace("[", r"\[").replace("]", r"\]")):
        thrift_simple_json_protected(obj, type(obj))


def test_query_select_and_aggregation_helpers():
    assert select("a", "b", c="x") == {"a": "a", "b": "b", "c": "x"}
    q = Query(selects=select("a"), time_column="ts")
    assert q.setups == [] and q.timeColumn == "ts"
    assert Operation.LAST_K(3) == (ttypes.Operation.LAST_K, {"k": "3"})
    assert Operation.APPROX_PERCENTILE([0.5, 0.9]) == (12, {"k": "128", "percentiles": "[0.5, 0.9]"})
    agg = Aggregation("x", Operation.TOP_K(5), windows=[Window(1, TimeUnit.HOURS), Window(30, TimeUnit.DAYS)],
                      buckets=["b1", "b2"])
    assert get_output_col_names(agg) == ["x_top5_1h_by_b1", "x_top5_30d_by_b1", "x_top5_1h_by_b2",
                                         "x_top5_30d_by_b2"]
    assert Aggregation("y").operation == ttypes.Operation.LAST and Aggregation("y").argMap == {}


def test_naming_and_dependency_helpers():
    assert utils.sanitize("a.b-c/d") == "a_b_c_d"
    assert utils.wait_for_name("ns.t/ds={{ ds }}") == "wait_for_ns_t_ds_ds"
    spec = utils.wait_for_simple_schema("ns.t/hr=00:00", 2, "2023-01-01", None)
    assert spec == {"name": "wait_for_ns.t_ds_minus_2", "spec": "ns.t/ds={{ macros.ds_add(ds, -2) }}/hr=00:00",
                    "start": "2023-01-01", "end": None}
    gb = ttypes.GroupBy(metaData=ttypes.MetaData(name="team.file.v1", outputNamespace="db"))
    join = ttypes.Join(metaData=ttypes.MetaData(name="team.j.v2", outputNamespace="out"))
    jp = ttypes.JoinPart(groupBy=gb, prefix="pre")
    assert utils.join_part_output_table_name(join, jp, True) == "out.team_j_v2_pre_team_file_v1"
    assert utils.output_table_name(gb, True) == "db.team_file_v1"
    assert utils.dedupe_in_order([3, 1, 3, 2, 1]) == [3, 1, 2]
