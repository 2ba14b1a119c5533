"""Oracle command line: CSV/JSON-lines input, type inference, schema sidecars, errors."""

import json
import os
import subprocess
import sys

ROOT = os.environ.get("CN_SOURCE_DIR") or os.path.abspath(
    os.path.join(os.path.dirname(__file__), "..", ".."))
ORACLE = os.path.join(ROOT, "tests", "oracle", "oracle.py")

PURCHASES = """ds,ts,purchase_id,user_id,product_id,purchase_price
2023-11-01,1698800400000,p1,1,10,100
2023-11-01,1698804000000,p2,1,11,50
2023-11-02,1698890400000,p3,2,10,7
2023-11-02,1698894000000,p4,1,12,1"""

CHECKOUTS = """ds,ts,return_id,user_id,product_id,refund_amt
2023-11-02,1698915600000,r1,1,10,5
2023-11-02,1698915600000,r2,3,10,5"""

GROUP_BY = {
    "metaData": {"name": "quickstart.purchases.v1", "outputNamespace": "default"},
    "sources": [{"events": {"table": "data.purchases", "query": {
        "selects": {"user_id": "user_id", "purchase_price": "purchase_price",
                    "product_id": "product_id"},
        "timeColumn": "ts", "setups": []}}}],
    "keyColumns": ["user_id"],
    "aggregations": [
        {"inputColumn": "purchase_price", "operation": 7, "argMap": {},
         "windows": [{"length": 1, "timeUnit": 1}]},
        {"inputColumn": "purchase_price", "operation": 13, "argMap": {"k": "2"}},
        {"inputColumn": "product_id", "operation": 4, "argMap": {}}],
}


def run(args, cwd):
    return subprocess.run([sys.executable, ORACLE] + args, cwd=cwd, capture_output=True,
                          text=True)


def write(path, text):
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    return str(path)


def read_jsonl(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def test_groupby_backfill_from_csv(tmp_path):
    conf = write(tmp_path / "gb.json", json.dumps(GROUP_BY))
    data = write(tmp_path / "purchases.csv", PURCHASES)
    out = tmp_path / "out.jsonl"
    p = run(["groupby", "--conf", conf, "--table", "data.purchases=" + data,
             "--start-ds", "2023-11-01", "--end-ds", "2023-11-02", "--out", str(out)], tmp_path)
    assert p.returncode == 0, p.stderr
    rows = read_jsonl(out)
    # purchase_price is long by the quickstart rule (sum stays an integer); user_id a string
    assert rows == [
        {"user_id": "1", "purchase_price_sum_1d": 150, "purchase_price_last2": [50, 100],
         "product_id_unique_count": 2, "ds": "2023-11-01"},
        {"user_id": "1", "purchase_price_sum_1d": 1, "purchase_price_last2": [1, 50],
         "product_id_unique_count": 3, "ds": "2023-11-02"},
        {"user_id": "2", "purchase_price_sum_1d": 7, "purchase_price_last2": [7],
         "product_id_unique_count": 1, "ds": "2023-11-02"}]


def test_groupby_at_ms_and_schema_sidecar(tmp_path):
    conf = dict(GROUP_BY, accuracy=0)
    conf_path = write(tmp_path / "gb.json", json.dumps(conf))
    data = write(tmp_path / "purchases.csv", PURCHASES)
    write(tmp_path / "purchases.csv.schema.json", json.dumps({"purchase_price": "double"}))
    out = tmp_path / "out.jsonl"
    # q = 2023-11-02 01:30 UTC: the 1d tail is floor(11-01 01:30, 1h) = 11-01 01:00, so the
    # 11-01 01:00 purchase (24.5h old) still counts; user 2's only event is after q.
    p = run(["groupby", "--conf", conf_path, "--table", "data.purchases=" + data,
             "--at-ms", "1698888600000", "--out", str(out)], tmp_path)
    assert p.returncode == 0, p.stderr
    rows = read_jsonl(out)
    assert rows == [
        {"user_id": "1", "purchase_price_sum_1d": 150.0, "purchase_price_last2": [50.0, 100.0],
         "product_id_unique_count": 2}]
    assert isinstance(rows[0]["purchase_price_sum_1d"], float)


def test_join_from_csv_and_jsonl(tmp_path):
    join = {"metaData": {"name": "quickstart.training_set.v2", "outputNamespace": "default"},
            "left": {"events": {"table": "data.checkouts", "query": {
                "selects": {"user_id": "user_id", "ts": "ts"}, "timeColumn": "ts",
                "setups": []}}},
            "joinParts": [{"groupBy": GROUP_BY}]}
    conf = write(tmp_path / "join.json", json.dumps(join))
    data = write(tmp_path / "purchases.jsonl", "\n".join(
        json.dumps(dict(zip(["ds", "ts", "purchase_id", "user_id", "product_id",
                             "purchase_price"], line.split(","))))
        for line in PURCHASES.splitlines()[1:]))
    write(tmp_path / "p.schema.json", json.dumps({"ts": "long", "purchase_price": "long"}))
    left = write(tmp_path / "checkouts.csv", CHECKOUTS)
    out = tmp_path / "out.jsonl"
    p = run(["join", "--conf", conf, "--table", "data.purchases=" + data,
             "--schema", "data.purchases=" + str(tmp_path / "p.schema.json"),
             "--table", "data.checkouts=" + left, "--ds", "2023-11-02", "--out", str(out)],
            tmp_path)
    assert p.returncode == 0, p.stderr
    # SNAPSHOT part on an event left: snapshot of 2023-11-01
    assert read_jsonl(out) == [
        {"user_id": "1", "ts": 1698915600000, "quickstart_purchases_v1_purchase_price_sum_1d": 150,
         "quickstart_purchases_v1_purchase_price_last2": [50, 100],
         "quickstart_purchases_v1_product_id_unique_count": 2, "ds": "2023-11-02"},
        {"user_id": "3", "ts": 1698915600000, "quickstart_purchases_v1_purchase_price_sum_1d": None,
         "quickstart_purchases_v1_purchase_price_last2": None,
         "quickstart_purchases_v1_product_id_unique_count": None, "ds": "2023-11-02"}]


def test_errors_name_the_problem_and_write_nothing(tmp_path):
    conf = write(tmp_path / "gb.json", json.dumps(GROUP_BY))
    out = tmp_path / "out.jsonl"
    p = run(["groupby", "--conf", conf, "--ds", "2023-11-02", "--out", str(out)], tmp_path)
    assert p.returncode == 2
    assert "table data.purchases was not given" in p.stderr
    assert not out.exists() and not os.path.exists(str(out) + ".tmp")

    bad = write(tmp_path / "bad.csv", "ds,ts,user_id,purchase_price\n2023-11-01,x,1,5\n")
    p = run(["groupby", "--conf", conf, "--table", "data.purchases=" + bad, "--ds", "2023-11-01",
             "--out", str(out)], tmp_path)
    assert p.returncode == 2
    assert "line 2 column ts: 'x' is not a long" in p.stderr
    assert not out.exists()

    p = run(["groupby", "--conf", conf, "--table", "data.purchases=" + bad, "--ds", "11/01/2023",
             "--out", str(out)], tmp_path)
    assert p.returncode == 2 and "expected a date yyyy-MM-dd" in p.stderr
