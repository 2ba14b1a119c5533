"""GroupBy derivations in the backfill (compute.md section 5 "Output table", config.md
section 8): renames through `*`, expressions over aggregates and a derivation of a key,
backfilled by `chronon run` and compared with the oracle (values and column order)."""

import json
import os

import pytest

from engine_util import Warehouse, co, compare

DAY = 86400000
T0 = 1704067200000  # 2024-01-01
# (ds, ts, user_id, category, amount): a null category key, a late row, gaps
ROWS = [
    ("2024-01-01", T0 + 1000, "u1", "books", 5),
    ("2024-01-01", T0 + 2000, "u1", "books", 3),
    ("2024-01-01", T0 + 3000, "u2", "", 7),
    ("2024-01-02", T0 + DAY + 10, "u2", "toys", 11),
    ("2024-01-02", T0 + DAY + 20, "u1", "", 2),
    ("2024-01-03", T0 + 2 * DAY + 5, "u3", "books", 1),
    ("2024-01-03", T0 + DAY + 99, "u1", "books", 4),
    ("2024-01-04", T0 + 3 * DAY + 7, "u2", "toys", 20),
]
SCHEMA = "ts:int64,user_id:string,category:string,amount:int64"
AGGS = [{"inputColumn": "amount", "operation": 7, "windows": [{"length": 2, "timeUnit": 1}]},
        {"inputColumn": "amount", "operation": 6, "windows": [{"length": 2, "timeUnit": 1}]},
        {"inputColumn": "amount", "operation": 1}]


def write_conf(root, name, derivations, keys=("user_id",)):
    d = os.path.join(root, "production", "group_bys", "t")
    os.makedirs(d, exist_ok=True)
    conf = {"metaData": {"name": "t." + name, "outputNamespace": "out", "team": "t"},
            "sources": [{"events": {"table": "raw.ev", "query": {
                "selects": {"user_id": "user_id", "category": "category", "amount": "amount"},
                "timeColumn": "ts"}}}],
            "keyColumns": list(keys),
            "backfillStartDate": "2024-01-01",
            "aggregations": AGGS,
            "derivations": derivations}
    with open(os.path.join(d, name), "w") as f:
        json.dump(conf, f)
    return "production/group_bys/t/" + name, conf


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("deriv"))
    csv = os.path.join(root, "ev.csv")
    with open(csv, "w") as f:
        f.write("ds,ts,user_id,category,amount\n")
        for r in ROWS:
            f.write("%s,%d,%s,%s,%d\n" % r)
    with open(csv + ".schema.json", "w") as f:
        json.dump({"ts": "long", "user_id": "string", "category": "string", "amount": "long"}, f)
    wh = Warehouse(root)
    wh.load(csv, "raw.ev", SCHEMA)
    return wh, root, {"raw.ev": co.load_table("raw.ev", csv)}


def backfill_and_compare(env, name, derivations, keys=("user_id",)):
    wh, root, tables = env
    path, conf = write_conf(root, name, derivations, keys)
    wh.run(root, path, "--end-ds", "2024-01-04")
    got = wh.rows("out.t_" + name)
    want = co.groupby_backfill(conf, tables, "2024-01-04")
    assert compare(got, want, list(keys), where=name) > 0
    assert {r["ds"] for r in got} == {"2024-01-0%d" % d for d in range(1, 5)}
    return got


def test_rename_with_star(env):
    got = backfill_and_compare(env, "ren", [{"name": "total_2d", "expression": "amount_sum_2d"},
                                            {"name": "*", "expression": "*"}])
    # the renamed column leaves `*`; the others keep their place after it
    assert list(got[0]) == ["user_id", "total_2d", "amount_count_2d", "amount_max", "ds"]
    u1 = {r["ds"]: r for r in got if r["user_id"] == "u1"}
    # ds D sees [D-1, D+1): 5+3 on the 1st, 5+3+2 on the 2nd
    assert u1["2024-01-01"]["total_2d"] == 8 and u1["2024-01-02"]["total_2d"] == 10


def test_star_first_then_rename(env):
    got = backfill_and_compare(env, "ren2", [{"name": "*", "expression": "*"},
                                             {"name": "top", "expression": "amount_max"}])
    assert list(got[0]) == ["user_id", "amount_sum_2d", "amount_count_2d", "top", "ds"]


def test_expressions_over_aggregates(env):
    got = backfill_and_compare(env, "expr", [
        {"name": "avg_2d", "expression": "amount_sum_2d / amount_count_2d"},
        {"name": "big", "expression": "amount_sum_2d > 10"},
        {"name": "label", "expression": "CASE WHEN amount_max >= 20 THEN 'hi' ELSE 'lo' END"},
        {"name": "day", "expression": "ds"}])
    assert list(got[0]) == ["user_id", "avg_2d", "big", "label", "day", "ds"]
    r = [x for x in got if x["user_id"] == "u2" and x["ds"] == "2024-01-03"][0]
    assert r["avg_2d"] == pytest.approx(11.0) and r["big"] is True and r["label"] == "lo"
    assert all(x["day"] == x["ds"] for x in got)


def test_derivation_of_a_key(env):
    # category is a key that can be null: a derivation named like it fills the nulls in
    # the key's own slot; another one derives a new column from a key
    got = backfill_and_compare(env, "key", [
        {"name": "category", "expression": "'none'"},
        {"name": "uid", "expression": "upper(user_id)"},
        {"name": "amount_max", "expression": "amount_max"}], keys=("user_id", "category"))
    assert list(got[0]) == ["user_id", "category", "uid", "amount_max", "ds"]
    cats = {r["category"] for r in got}
    assert "none" in cats and None not in cats
    assert all(r["uid"] == r["user_id"].upper() for r in got)


def test_unknown_column_is_named(env):
    wh, root, _ = env
    path, _ = write_conf(root, "bad", [{"name": "x", "expression": "amount_sum_2d * no_such_col"}])
    p = wh.run(root, path, "--end-ds", "2024-01-04", check=False)
    assert p.returncode == 1, p.stderr
    assert "t.bad" in p.stderr and "(x)" in p.stderr and "no_such_col" in p.stderr, p.stderr
    assert "amount_sum_2d * no_such_col" in p.stderr, p.stderr
    assert not os.path.exists(os.path.join(wh.wh, "out.db", "t_bad", "data")) or not any(
        os.scandir(os.path.join(wh.wh, "out.db", "t_bad", "data")))
