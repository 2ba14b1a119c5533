"""Bad input to a GroupBy backfill: one clear error naming what failed, exit 1, nothing
committed to the output table."""

import json
import os

from engine_util import Warehouse

ROWS = "ds,ts,user_id,amount,category\n2024-01-01,1704067200000,u1,5,books\n2024-01-02,1704153600000,u2,7,toys\n"


def make_case(tmp_path, select=None, op=7, col="amount", table="raw.ev"):
    root = str(tmp_path)
    os.makedirs(os.path.join(root, "production", "group_bys", "t"), exist_ok=True)
    conf = {"metaData": {"name": "t.gb", "outputNamespace": "out", "team": "t"},
            "sources": [{"events": {"table": table, "query": {
                "selects": select or {"user_id": "user_id", "amount": "amount", "category": "category"},
                "timeColumn": "ts"}}}],
            "keyColumns": ["user_id"],
            "aggregations": [{"inputColumn": col, "operation": op, "windows": [{"length": 1, "timeUnit": 1}]}]}
    with open(os.path.join(root, "production", "group_bys", "t", "gb"), "w") as f:
        json.dump(conf, f)
    csv = os.path.join(root, "ev.csv")
    with open(csv, "w") as f:
        f.write(ROWS)
    wh = Warehouse(root)
    wh.load(csv, "raw.ev", "ts:int64,user_id:string,amount:int64,category:string")
    return wh, root


def no_output(wh):
    assert not os.path.exists(os.path.join(wh.wh, "out.db", "t_gb", "data")) or not any(
        os.scandir(os.path.join(wh.wh, "out.db", "t_gb", "data")))


def test_missing_source_table_is_named(tmp_path):
    wh, root = make_case(tmp_path, table="raw.evs")
    p = wh.run(root, "production/group_bys/t/gb", "--ds", "2024-01-02", check=False)
    assert p.returncode == 1
    assert "raw.evs" in p.stderr and "ev" in p.stderr.split("raw.evs", 1)[1], p.stderr
    no_output(wh)


def test_missing_select_column_lists_available(tmp_path):
    wh, root = make_case(tmp_path, select={"user_id": "user_id", "amount": "amount_usd"})
    p = wh.run(root, "production/group_bys/t/gb", "--ds", "2024-01-02", check=False)
    assert p.returncode == 1
    assert "amount_usd" in p.stderr and "available" in p.stderr and "category" in p.stderr, p.stderr
    no_output(wh)


def test_sum_of_string_is_a_type_error(tmp_path):
    wh, root = make_case(tmp_path, col="category")
    p = wh.run(root, "production/group_bys/t/gb", "--ds", "2024-01-02", check=False)
    assert p.returncode == 1
    assert "SUM" in p.stderr and "category" in p.stderr and "string" in p.stderr, p.stderr
    no_output(wh)


def test_empty_input_range_is_explained(tmp_path):
    wh, root = make_case(tmp_path)
    p = wh.run(root, "production/group_bys/t/gb", "--start-ds", "2024-02-01", "--end-ds", "2024-02-03",
               check=False)
    assert p.returncode == 1
    assert "no source partition between 2024-02-01 and 2024-02-03" in p.stderr and "raw.ev" in p.stderr
    no_output(wh)


def test_max_memory_says_what_to_raise(tmp_path):
    wh, root = make_case(tmp_path)
    p = wh.run(root, "production/group_bys/t/gb", "--ds", "2024-01-02", "--max-memory", "1K", check=False)
    assert p.returncode == 1
    assert "--max-memory" in p.stderr and "raise" in p.stderr, p.stderr
    no_output(wh)
    ok = wh.run(root, "production/group_bys/t/gb", "--ds", "2024-01-02", "--max-memory", "1G")
    assert ok.returncode == 0
    assert [r["amount_sum_1d"] for r in wh.rows("out.t_gb")] == [7]
