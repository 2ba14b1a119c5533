"""Oracle: every operation of spec/compute.md §3-§4 on hand-computed inputs."""

import math
import os
import sys

import pytest

ROOT = os.environ.get("CN_SOURCE_DIR") or os.path.abspath(
    os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "oracle"))

import chronon_oracle as co  # noqa: E402
from oracle_fixtures import agg, events_gb, tables, ms, win  # noqa: E402

DAY = "2025-01-10"


def run(aggs, values, col_type, col="x", extra=None, extra_schema=None, keys=("user",)):
    """Backfills day DAY over events of user u1, one per value, 1 minute apart."""
    rows = []
    for i, v in enumerate(values):
        r = {"ds": DAY, "ts": ms(DAY) + 60_000 * (i + 1), "user": "u1", col: v}
        if extra:
            r.update(extra[i])
        rows.append(r)
    schema = {"ds": "string", "ts": "long", "user": "string", col: col_type}
    schema.update(extra_schema or {})
    conf = events_gb(aggs, ["user", col] + list(extra_schema or {}), keys=keys)
    out = co.groupby_backfill(conf, tables(ns__events=(rows, schema)), DAY)
    assert len(out) <= 1
    return out[0] if out else None


def test_sum_count_average_skip_nulls_n1():
    r = run([agg("x", "SUM"), agg("x", "COUNT"), agg("x", "AVERAGE")], [3, None, 5], "long")
    assert r == {"user": "u1", "x_sum": 8, "x_count": 2, "x_average": 4.0, "ds": DAY}
    assert isinstance(r["x_sum"], int) and isinstance(r["x_average"], float)


def test_sum_types_and_overflow_wraps_d18():
    r = run([agg("x", "SUM")], [2**63 - 1, 1], "long")
    assert r["x_sum"] == -(2**63)
    r = run([agg("x", "SUM")], [1.5, 2.25], "double")
    assert r["x_sum"] == 3.75 and isinstance(r["x_sum"], float)
    r = run([agg("x", "SUM")], [True, False, True], "boolean")
    assert r["x_sum"] == 2 and isinstance(r["x_sum"], int)
    r = run([agg("x", "SUM")], [7, 8], "int")
    assert r["x_sum"] == 15


def test_variance_skew_kurtosis_example():
    data = [2, 4, 4, 4, 5, 5, 7, 9]
    r = run([agg("x", "VARIANCE"), agg("x", "SKEW"), agg("x", "KURTOSIS")], data, "long")
    assert math.isclose(r["x_variance"], 4.0, rel_tol=1e-9)
    assert math.isclose(r["x_skew"], 0.65625, rel_tol=1e-9)
    assert math.isclose(r["x_kurtosis"], -0.21875, rel_tol=1e-9)


def test_variance_single_value_is_zero_and_skew_n2_is_null_d3():
    r = run([agg("x", "VARIANCE"), agg("x", "SKEW"), agg("x", "KURTOSIS")], [5.0], "double")
    assert r["x_variance"] == 0.0
    assert r["x_skew"] is None and r["x_kurtosis"] is None
    r = run([agg("x", "SKEW")], [1.0, 2.0], "double")
    assert r is None   # only value is null -> no row (D6)


def test_min_max_numbers_and_strings_d17():
    r = run([agg("x", "MIN"), agg("x", "MAX")], [7, 3, 9], "long")
    assert (r["x_min"], r["x_max"]) == (3, 9)
    # U+1F600 is a surrogate pair (D83D...), which sorts below U+FFFD in UTF-16.
    r = run([agg("s", "MAX"), agg("s", "MIN")], ["\U0001F600", "\uFFFD", "a"], "string", col="s")
    assert r["s_max"] == "\uFFFD" and r["s_min"] == "a"


def test_max_with_nan_is_null_d20():
    r = run([agg("x", "MAX"), agg("x", "COUNT")], [1.0, float("nan"), 3.0], "double")
    assert r["x_max"] is None and r["x_count"] == 3


def test_top_k_bottom_k_keep_duplicates():
    r = run([agg("x", "TOP_K", k=3), agg("x", "BOTTOM_K", k=2)], [7, 3, 7, 9, 1], "long")
    assert r["x_top3"] == [9, 7, 7]
    assert r["x_bottom2"] == [1, 3]


def test_first_last_first_k_last_k():
    rows = [{"ds": DAY, "ts": t, "user": "u1", "p": p} for t, p in
            [(ms(DAY) + 10, "a"), (ms(DAY) + 30, "b"), (ms(DAY) + 20, "c")]]
    conf = events_gb([agg("p", "FIRST"), agg("p", "LAST"), agg("p", "FIRST_K", k=2),
                      agg("p", "LAST_K", k=2)], ["user", "p"])
    out = co.groupby_backfill(conf, tables(ns__events=rows), DAY)[0]
    assert out["p_first"] == "a" and out["p_last"] == "b"
    assert out["p_first2"] == ["a", "c"]
    assert out["p_last2"] == ["b", "c"]   # newest first


def test_first_last_ties_by_payload_d15():
    t = ms(DAY) + 5
    rows = [{"ds": DAY, "ts": t, "user": "u1", "p": p} for p in ["m", "z", "a"]]
    conf = events_gb([agg("p", "FIRST"), agg("p", "LAST"), agg("p", "LAST_K", k=2),
                      agg("p", "FIRST_K", k=2)], ["user", "p"])
    out = co.groupby_backfill(conf, tables(ns__events=rows), DAY)[0]
    assert out["p_first"] == "a" and out["p_last"] == "z"
    assert out["p_last2"] == ["z", "m"] and out["p_first2"] == ["a", "m"]


def test_first_of_ts_column():
    r = run([agg("ts", "MAX"), agg("ts", "LAST")], [1, 2], "long")
    assert r["ts_max"] == ms(DAY) + 120_000 and r["ts_last"] == ms(DAY) + 120_000


def test_unique_count_java_boxed_equality_d16():
    r = run([agg("x", "UNIQUE_COUNT")], [float("nan"), float("nan"), 0.0, -0.0, 1.0, 1.0],
            "double")
    assert r["x_unique_count"] == 4
    r = run([agg("b", "UNIQUE_COUNT")], [b"\x01", b"\x01", b"\x02"], "binary", col="b")
    assert r["b_unique_count"] == 2


def test_bounded_and_approx_unique_count():
    r = run([agg("s", "BOUNDED_UNIQUE_COUNT", k=3), agg("s", "APPROX_UNIQUE_COUNT")],
            list("xyxzw"), "string", col="s")
    assert r["s_bounded_unique_count"] == 3 and r["s_approx_unique_count"] == 4


def test_duplicate_output_columns_rejected():
    with pytest.raises(co.OracleError, match="duplicate output column s_bounded_unique_count"):
        run([agg("s", "BOUNDED_UNIQUE_COUNT", k=3), agg("s", "BOUNDED_UNIQUE_COUNT")],
            ["x"], "string", col="s")


def test_approx_percentile_rank_rule():
    r = run([agg("x", "APPROX_PERCENTILE", percentiles="[0, 0.25, 0.5, 0.99, 1]")],
            [5, 1, 4, 2, 3], "long")
    assert r["x_approx_percentile"] == [1.0, 2.0, 3.0, 5.0, 5.0]
    r = run([agg("x", "APPROX_PERCENTILE", percentiles="[0.5]")], [0.1, 0.2, 0.3], "double")
    assert r["x_approx_percentile"] == [co.to_float32(0.2)]   # float32 output


def test_histogram_k_cut_and_ties_d15():
    r = run([agg("s", "HISTOGRAM", k=2)], list("aabccdc"), "string", col="s")
    assert r["s_histogram"] == {"c": 3, "a": 2}
    r = run([agg("s", "HISTOGRAM", k=2)], list("aabbcc"), "string", col="s")
    assert r["s_histogram"] == {"a": 2, "b": 2}
    r = run([agg("s", "HISTOGRAM")], list("aabccdc"), "string", col="s")
    assert r["s_histogram"] == {"a": 2, "b": 1, "c": 3, "d": 1}


def test_histogram_rejects_non_string():
    with pytest.raises(co.OracleError, match="HISTOGRAM does not accept"):
        run([agg("x", "HISTOGRAM")], [1], "long")


def test_approx_histogram_keys_d26():
    r = run([agg("x", "APPROX_HISTOGRAM_K", k=4)], [42, 42, 7], "long")
    assert r["x_approx_histogram_k"] == {"42": 2, "7": 1}
    r = run([agg("x", "APPROX_HISTOGRAM_K", k=4)], [1.5, 1e10, 1.5, 0.0001], "double")
    assert r["x_approx_histogram_k"] == {"1.5": 2, "1.0E10": 1, "1.0E-4": 1}
    # above k distinct: the k heaviest
    r = run([agg("s", "APPROX_HISTOGRAM_K", k=2)], list("aaabbc"), "string", col="s")
    assert r["s_approx_histogram_k"] == {"a": 3, "b": 2}


def test_java_double_str_d26():
    cases = {1.5: "1.5", 100.0: "100.0", 1e10: "1.0E10", 1e7: "1.0E7", 9999999.0: "9999999.0",
             0.001: "0.001", 0.0001: "1.0E-4", -2.5e-5: "-2.5E-5", 123456.789: "123456.789"}
    for x, s in cases.items():
        assert co.java_double_str(x) == s


def test_buckets_example():
    vals = [5, 3, 4, 9]
    cats = [{"category": c} for c in ["books", "toys", "books", None]]
    r = run([agg("x", "SUM", buckets=["category"])], vals, "long", extra=cats,
            extra_schema={"category": "string"})
    assert r["x_sum_by_category"] == {"books": 9, "toys": 3}


def test_nested_nan_kept_in_module_and_null_in_json_d3():
    vals = [1.0, float("nan"), 2.0]
    cats = [{"c": "a"}, {"c": "b"}, {"c": "a"}]
    r = run([agg("x", "MAX", buckets=["c"])], vals, "double", extra=cats,
            extra_schema={"c": "string"})
    assert r["x_max_by_c"]["a"] == 2.0 and math.isnan(r["x_max_by_c"]["b"])
    assert co.to_json_value(r)["x_max_by_c"] == {"a": 2.0, "b": None}


def test_list_inputs_are_flattened():
    r = run([agg("x", "AVERAGE"), agg("x", "COUNT")], [[1, 2], [6], None], "list<long>")
    assert r["x_average"] == 3.0 and r["x_count"] == 3


def test_map_inputs_per_key():
    r = run([agg("m", "SUM")], [{"a": 1, "b": 2}, {"a": 5, "b": None}], "map<string,long>",
            col="m")
    assert r["m_sum"] == {"a": 6, "b": 2}


def test_element_wise_lists():
    r = run([agg("x", "SUM", element_wise=True)], [[1, 2], [3, 4]], "list<long>")
    assert r["x_sum"] == [4, 6]
    with pytest.raises(co.OracleError, match="lengths"):
        run([agg("x", "SUM", element_wise=True)], [[1, 2], [3]], "list<long>")
    with pytest.raises(co.OracleError, match="null element"):
        run([agg("x", "SUM", element_wise=True)], [[1, None]], "list<long>")


def test_maps_cannot_be_bucketed():
    with pytest.raises(co.OracleError, match="cannot be bucketed"):
        run([agg("m", "SUM", buckets=["c"])], [{"a": 1}], "map<string,long>", col="m",
            extra=[{"c": "x"}], extra_schema={"c": "string"})


def test_part_naming_and_order():
    schema = {"ds": "string", "ts": "long", "user": "string", "page": "string",
              "device": "string", "country": "string", "x": "long"}
    conf = events_gb([agg("page", "LAST_K", windows=[win(1, "h"), win(7)], k=3,
                          buckets=["device", "country"]),
                      agg("x", "APPROX_PERCENTILE", percentiles="[0.5]"),
                      agg("x", "COUNT", windows=[win(24, "h")])],
                     ["user", "page", "device", "country", "x"], accuracy="TEMPORAL")
    model = co.GroupByModel(conf, tables(ns__events=([], schema)))
    assert model.value_columns == [
        "page_last3_1h_by_device", "page_last3_7d_by_device", "page_last3_1h_by_country",
        "page_last3_7d_by_country", "x_approx_percentile", "x_count_24h"]


def test_empty_group_is_null_not_zero_n2():
    # Entities keep every key: a key whose values are all null gets COUNT null, not 0.
    from oracle_fixtures import entities_gb
    rows = [{"ds": DAY, "user": "u1", "x": None}, {"ds": DAY, "user": "u2", "x": 4}]
    conf = entities_gb([agg("x", "COUNT"), agg("x", "SUM")], ["user", "x"], time_column=None)
    out = co.groupby_backfill(conf, tables(ns__snap=(rows, {"ds": "string", "user": "string",
                                                            "x": "long"})), DAY)
    assert out == [{"user": "u1", "x_count": None, "x_sum": None, "ds": DAY},
                   {"user": "u2", "x_count": 1, "x_sum": 4, "ds": DAY}]


def test_tolerance_helpers_d19():
    assert co.approx_unique_ok(10, 10) and not co.approx_unique_ok(11, 10)
    assert co.approx_unique_ok(1050, 1000) and not co.approx_unique_ok(1200, 1000)
    data = list(range(1000))
    assert co.approx_percentile_ok(500.0, data, 0.5) and not co.approx_percentile_ok(600.0, data, 0.5)
    assert co.approx_percentile_ok(3.0, [5, 1, 4, 2, 3], 0.5)
    assert not co.approx_percentile_ok(2.0, [5, 1, 4, 2, 3], 0.5)
    inputs = ["a"] * 60 + list("bcdefghijk")
    assert co.approx_histogram_ok({"a": 60, "b": 1}, inputs, k=2)
    assert not co.approx_histogram_ok({"a": 60, "zz": 1}, inputs, k=2)
    assert not co.approx_histogram_ok({"b": 1, "c": 1}, inputs, k=2)
