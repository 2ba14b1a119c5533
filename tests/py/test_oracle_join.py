"""Oracle: join backfill point-in-time rules, key mapping, naming, derivations (§6)."""

import os
import sys

import pytest

ROOT = os.environ.get("CN_SOURCE_DIR") or os.path.abspath(
    os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "oracle"))

import chronon_oracle as co  # noqa: E402
from oracle_fixtures import (agg, entities_gb, event_rows, events_gb, ms, query,  # noqa: E402
                             tables, win)

EV_SCHEMA = {"ds": "string", "ts": "long", "user": "string", "amount": "long"}
LEFT_SCHEMA = {"ds": "string", "ts": "long", "user": "string"}
EX21 = [("2025-01-06 00:00:00.000", 3), ("2025-01-05 23:59:59.999", 5),
        ("2025-01-19 13:59:59.999", 7), ("2025-01-19 14:00:00.000", 11),
        ("2025-01-20 13:19:59.999", 13), ("2025-01-20 13:20:00.000", 17),
        ("2025-01-20 14:23:09.999", 19), ("2025-01-20 14:23:10.000", 23)]
Q = ms("2025-01-20 14:23:10.000")


def purchases(accuracy=None, **kw):
    windows = [win(1, "h"), win(1), win(14)] if accuracy == "TEMPORAL" else [win(1), win(14)]
    return events_gb([agg("amount", "SUM", windows=windows), agg("amount", "SUM")],
                     ["user", "amount"], accuracy=accuracy, name="team.purchases.v1", **kw)


def join_conf(left, parts, derivations=None, name="team.training.v1"):
    conf = {"metaData": {"name": name, "outputNamespace": "ns"}, "left": left,
            "joinParts": parts}
    if derivations is not None:
        conf["derivations"] = derivations
    return conf


def events_left(selects=("user", "ts"), table="ns.left", **kw):
    return {"events": {"table": table, "query": query(list(selects), **kw)}}


def base_tables(left_rows, left_schema=LEFT_SCHEMA, **more):
    rows = event_rows([(t, {"user": "u1", "amount": a}) for t, a in EX21])
    return tables(ns__events=(rows, EV_SCHEMA), ns__left=(left_rows, left_schema), **more)


def test_event_left_snapshot_and_temporal_parts_and_column_order():
    left = [{"ds": "2025-01-20", "ts": Q, "user": "u1"}]
    conf = join_conf(events_left(), [{"groupBy": purchases()},
                                     {"groupBy": purchases("TEMPORAL"), "prefix": "u"}])
    out = co.join_backfill(conf, base_tables(left), "2025-01-20")
    assert len(out) == 1
    assert list(out[0].items()) == [
        ("user", "u1"), ("ts", Q),
        ("team_purchases_v1_amount_sum_1d", 18), ("team_purchases_v1_amount_sum_14d", 21),
        ("team_purchases_v1_amount_sum", 26),
        ("u_team_purchases_v1_amount_sum_1h", 36), ("u_team_purchases_v1_amount_sum_1d", 60),
        ("u_team_purchases_v1_amount_sum_14d", 70), ("u_team_purchases_v1_amount_sum", 75),
        ("ds", "2025-01-20")]


def test_snapshot_part_never_sees_day_x_d5():
    # a left row early on 01-20 still gets the 01-19 snapshot, even for events before q
    left = [{"ds": "2025-01-20", "ts": ms("2025-01-20 23:00:00"), "user": "u1"}]
    conf = join_conf(events_left(), [{"groupBy": purchases()}])
    out = co.join_backfill(conf, base_tables(left), "2025-01-20")[0]
    assert out["team_purchases_v1_amount_sum"] == 26


def test_entity_left_uses_snapshot_of_p_whatever_the_accuracy():
    left = [{"ds": "2025-01-19", "user": "u1"}, {"ds": "2025-01-20", "user": "u1"}]
    left_conf = {"entities": {"snapshotTable": "ns.left", "query": query(["user"], None)}}
    conf = join_conf(left_conf, [{"groupBy": purchases("TEMPORAL")}])
    t = base_tables(left, {"ds": "string", "user": "string"})
    out = co.join_backfill(conf, t, "2025-01-20", "2025-01-19")
    assert [(r["ds"], r["team_purchases_v1_amount_sum_1d"], r["team_purchases_v1_amount_sum"])
            for r in out] == [("2025-01-19", 18, 26), ("2025-01-20", 72, 98)]
    assert "ts" not in out[0]


SNAP_SCHEMA = {"ds": "string", "ts": "long", "user": "string", "v": "long"}


def entity_right(accuracy=None, mutation_table=None):
    return entities_gb([agg("v", "SUM"), agg("v", "MAX")], ["user", "v"], accuracy=accuracy,
                       mutation_table=mutation_table, name="team.balance.v1")


def snap_rows():
    return [{"ds": "2025-01-19", "ts": ms("2025-01-18 00:00:00"), "user": "u1", "v": 1},
            {"ds": "2025-01-19", "ts": ms("2025-01-18 00:00:00"), "user": "u1", "v": 2},
            {"ds": "2025-01-20", "ts": ms("2025-01-18 00:00:00"), "user": "u1", "v": 100}]


def test_entity_left_entity_right_uses_p():
    left = [{"ds": "2025-01-20", "user": "u1"}]
    left_conf = {"entities": {"snapshotTable": "ns.left", "query": query(["user"], None)}}
    conf = join_conf(left_conf, [{"groupBy": entity_right()}])
    t = base_tables(left, {"ds": "string", "user": "string"},
                    ns__snap=(snap_rows(), SNAP_SCHEMA))
    out = co.join_backfill(conf, t, "2025-01-20")
    assert out == [{"user": "u1", "team_balance_v1_v_sum": 100, "team_balance_v1_v_max": 100,
                    "ds": "2025-01-20"}]


def test_event_left_snapshot_entity_right_uses_x_minus_1():
    left = [{"ds": "2025-01-20", "ts": ms("2025-01-20 10:00:00"), "user": "u1"}]
    conf = join_conf(events_left(), [{"groupBy": entity_right()}])
    t = base_tables(left, ns__snap=(snap_rows(), SNAP_SCHEMA))
    out = co.join_backfill(conf, t, "2025-01-20")[0]
    assert (out["team_balance_v1_v_sum"], out["team_balance_v1_v_max"]) == (3, 2)


def test_event_left_temporal_entity_right_example_5_2():
    snap = [{"ds": "2025-02-02", "ts": ms("2025-02-01 08:00:00"), "user": "w1", "v": 10},
            {"ds": "2025-02-02", "ts": ms("2025-02-02 09:00:00"), "user": "w1", "v": 4}]
    mut_schema = dict(SNAP_SCHEMA, mutation_ts="long", is_before="boolean")
    muts = [dict(ds="2025-02-03", user="w1", ts=ms(t), v=v, mutation_ts=ms(m), is_before=b)
            for t, v, m, b in [("2025-02-02 09:00:00", 4, "2025-02-03 06:00:00", True),
                               ("2025-02-03 06:00:00", 9, "2025-02-03 06:00:00", False),
                               ("2025-02-01 08:00:00", 10, "2025-02-03 07:00:00", True),
                               ("2025-02-03 18:30:00", 1, "2025-02-03 18:30:00", False)]]
    left = [{"ds": "2025-02-03", "ts": ms("2025-02-03 " + h), "user": "w1"}
            for h in ("05:00:00", "06:00:00", "12:00:00", "18:30:00.001")]
    conf = join_conf(events_left(), [{"groupBy": entity_right(mutation_table="ns.muts")}])
    t = base_tables(left, ns__snap=(snap, SNAP_SCHEMA), ns__muts=(muts, mut_schema))
    out = co.join_backfill(conf, t, "2025-02-03")
    assert [(r["team_balance_v1_v_sum"], r["team_balance_v1_v_max"]) for r in out] == \
        [(14, 10), (14, 10), (9, 10), (10, 10)]


def test_key_mapping_null_keys_missing_data_and_duplicate_left_rows_d9():
    schema = {"ds": "string", "ts": "long", "customer": "string"}
    left = [{"ds": "2025-01-20", "ts": Q, "customer": "u1"},
            {"ds": "2025-01-20", "ts": Q, "customer": "u1"},
            {"ds": "2025-01-20", "ts": Q, "customer": None},
            {"ds": "2025-01-20", "ts": Q, "customer": "nobody"}]
    conf = join_conf(events_left(selects=("customer", "ts")),
                     [{"groupBy": purchases("TEMPORAL"), "keyMapping": {"customer": "user"}}])
    out = co.join_backfill(conf, base_tables(left, schema), "2025-01-20")
    got = sorted((r["customer"] or "", r["team_purchases_v1_amount_sum_1d"]) for r in out)
    assert got == [("", None), ("nobody", None), ("u1", 60), ("u1", 60)]


def test_temporal_part_sees_only_partitions_up_to_the_left_partition():
    left = [{"ds": "2025-01-20", "ts": Q, "user": "u1"}]
    t = base_tables(left)
    t["ns.events"].rows.append({"ds": "2025-01-21", "ts": Q - 1, "user": "u1", "amount": 1000})
    conf = join_conf(events_left(), [{"groupBy": purchases("TEMPORAL")}])
    assert co.join_backfill(conf, t, "2025-01-21")[0]["team_purchases_v1_amount_sum"] == 75


def test_temporal_part_needs_left_ts():
    left = [{"ds": "2025-01-20", "ts": None, "user": "u1"}]
    conf = join_conf(events_left(), [{"groupBy": purchases("TEMPORAL")}])
    with pytest.raises(co.OracleError, match="null ts"):
        co.join_backfill(conf, base_tables(left), "2025-01-20")


def test_dimension_part_and_duplicate_rows_d10():
    users = [{"ds": "2025-01-19", "user": "u1", "country": "NL"},
             {"ds": "2025-01-20", "user": "u1", "country": "DE"}]
    dim = entities_gb(None, ["user", "country"], table="ns.users", time_column=None,
                      name="team.users.v1")
    left = [{"ds": "2025-01-20", "ts": Q, "user": "u1"}]
    conf = join_conf(events_left(), [{"groupBy": dim}])
    t = base_tables(left, ns__users=users)
    assert co.join_backfill(conf, t, "2025-01-20")[0]["team_users_v1_country"] == "NL"
    t["ns.users"].rows.append({"ds": "2025-01-19", "user": "u1", "country": "FR"})
    with pytest.raises(co.OracleError, match=r"ns\.users.*'u1'.*2025-01-19"):
        co.join_backfill(conf, t, "2025-01-20")


def test_join_derivations_star_rename_expression_and_left_coalesce():
    left = [{"ds": "2025-01-20", "ts": Q, "user": "u1"}]
    derivations = [
        {"name": "*", "expression": "*"},
        {"name": "renamed_1d", "expression": "team_purchases_v1_amount_sum_1d"},
        {"name": "total_plus", "expression": "team_purchases_v1_amount_sum + 1"},
        {"name": "ratio", "expression": "team_purchases_v1_amount_sum_1d / 0"},
        {"name": "user", "expression": "'other'"},
        {"name": "ds", "expression": "ds"},
    ]
    conf = join_conf(events_left(), [{"groupBy": purchases()}], derivations)
    out = co.join_backfill(conf, base_tables(left), "2025-01-20")
    assert list(out[0].items()) == [
        ("user", "u1"), ("ts", Q),
        ("team_purchases_v1_amount_sum_14d", 21), ("team_purchases_v1_amount_sum", 26),
        ("renamed_1d", 18), ("total_plus", 27), ("ratio", None), ("ds", "2025-01-20")]


def test_groupby_derivations_name_join_features():
    gb = purchases(derivations=[{"name": "double_sum", "expression": "amount_sum * 2"}])
    left = [{"ds": "2025-01-20", "ts": Q, "user": "u1"}]
    out = co.join_backfill(join_conf(events_left(), [{"groupBy": gb}]), base_tables(left),
                           "2025-01-20")
    assert out == [{"user": "u1", "ts": Q, "team_purchases_v1_double_sum": 52,
                    "ds": "2025-01-20"}]


def test_left_query_range_wheres_and_skew_keys():
    left = [{"ds": d, "ts": ms(d) + 1, "user": u}
            for d in ("2025-01-18", "2025-01-19", "2025-01-20") for u in ("u1", "u2", "bad")]
    conf = join_conf(events_left(wheres=["user != 'u2'"], start="2025-01-19"),
                     [{"groupBy": purchases()}])
    conf["skewKeys"] = {"user": ["bad"]}
    out = co.join_backfill(conf, base_tables(left), "2025-01-20")
    assert [(r["ds"], r["user"]) for r in out] == [("2025-01-19", "u1"), ("2025-01-20", "u1")]
    assert out[1]["team_purchases_v1_amount_sum"] == 26


def test_feature_name_on_both_sides_is_coalesced():
    schema = dict(LEFT_SCHEMA, team_purchases_v1_amount_sum="long")
    left = [{"ds": "2025-01-20", "ts": Q, "user": "u1", "team_purchases_v1_amount_sum": 5},
            {"ds": "2025-01-20", "ts": Q + 1, "user": "u1", "team_purchases_v1_amount_sum": None}]
    conf = join_conf(events_left(("user", "ts", "team_purchases_v1_amount_sum")),
                     [{"groupBy": purchases()}])
    out = co.join_backfill(conf, base_tables(left, schema), "2025-01-20")
    assert [r["team_purchases_v1_amount_sum"] for r in out] == [5, 26]
    assert list(out[0])[:3] == ["user", "ts", "team_purchases_v1_amount_sum"]
