"""chronon load --sort-by: each partition's files are written sorted by the columns
(ascending, nulls first), the table records them as its Iceberg sort order (sort-orders,
default-sort-order-id), later loads without the flag follow the recorded order, bad
columns are refused before anything is committed, and DuckDB and icebird still read
the table. A TEMPORAL Join over the sorted table (whose fast path merges the files'
runs instead of sorting) gives the same rows as over the same events loaded unsorted,
and as the oracle, with some rows stored a day late (runs that overlap in ts)."""

import json
import os
import random
import sqlite3
import subprocess

import pytest

from engine_util import BUILD, CHRONON, SRC, Warehouse, co, norm

E0 = co.ds_to_epoch("2024-03-01")
DAY = 86400000
NPM = os.environ.get("CN_NPM_DIR", os.path.join(SRC, "third_party", "npm"))
DUCK = os.path.join(BUILD, "tests", "checkers", "duckdb_tool")


def checker_missing(why):
    if os.environ.get("CN_TEST_STRICT") == "1":
        pytest.fail("checker missing (CN_TEST_STRICT=1): " + why)
    pytest.skip(why)


def events(seed, n, late=False):
    """(ds, user_id, ts, amount) rows, users 0..39 with some nulls; late: some rows
    stored the day after their ts."""
    rnd = random.Random(seed)
    rows = []
    for _ in range(n):
        ts = E0 + rnd.randrange(4 * DAY)
        d = (ts - E0) // DAY + (1 if late and rnd.random() < 0.1 else 0)
        user = None if rnd.random() < 0.03 else rnd.randrange(40)
        rows.append((co.ds_add("2024-03-01", d), user, ts, rnd.randrange(1000)))
    return rows


def write_csv(path, cols, rows):
    with open(path, "w") as f:
        f.write(",".join(cols) + "\n")
        for r in rows:
            f.write(",".join("" if v is None else str(v) for v in r) + "\n")


def load(w, path, table, *args, check=True):
    p = subprocess.run([CHRONON, "load", path, table] + list(args), env=w.env(), capture_output=True, text=True)
    if check:
        assert p.returncode == 0, p.stderr
    return p


def metadata(w, table):
    ns, name = table.split(".")
    con = sqlite3.connect(w.cat[len("sqlite:"):])
    (loc,) = con.execute("SELECT metadata_location FROM iceberg_tables WHERE table_namespace = ? AND table_name = ?",
                         (ns, name)).fetchone()
    con.close()
    path = loc[len("file://"):] if loc.startswith("file://") else loc
    with open(path) as f:
        return loc, json.load(f)


def data_files(w, table):
    ns, name = table.split(".")
    root = os.path.join(w.wh, ns + ".db", name, "data")
    return sorted(os.path.join(d, f) for d, _, fs in os.walk(root) for f in fs if f.endswith(".parquet"))


def file_rows(path):
    p = subprocess.run([CHRONON, "parquet", "cat", path], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    return [json.loads(x) for x in p.stdout.splitlines() if x]


def in_order(rows):
    keys = [(r["user_id"] is not None, r["user_id"] or 0, r["ts"]) for r in rows]
    return keys == sorted(keys)


def test_sort_by_writes_sorted_files_and_records_the_order(tmp_path):
    w = Warehouse(tmp_path)
    first = events(11, 3000)
    path = str(tmp_path / "ev.csv")
    write_csv(path, ["user_id", "ts", "amount"], [r[1:] for r in first])
    p = load(w, path, "raw.ev", "--partition-from", "ts", "--sort-by", "user_id,ts")
    assert "sorted by user_id,ts" in p.stdout, p.stdout
    loc, meta = metadata(w, "raw.ev")
    ids = {f["name"]: f["id"] for f in meta["schemas"][-1]["fields"]}
    order = [o for o in meta["sort-orders"] if o["order-id"] == meta["default-sort-order-id"]]
    assert meta["default-sort-order-id"] != 0 and len(order) == 1, meta["sort-orders"]
    assert order[0]["fields"] == [
        {"transform": "identity", "source-id": ids[c], "direction": "asc", "null-order": "nulls-first"}
        for c in ("user_id", "ts")]
    files = data_files(w, "raw.ev")
    assert len(files) == 4  # one per day
    for f in files:
        rows = file_rows(f)
        assert rows and in_order(rows), f
    # a later load without the flag follows the recorded order, and records nothing new
    second = events(12, 1000)
    path2 = str(tmp_path / "ev2.csv")
    write_csv(path2, ["user_id", "ts", "amount"], [r[1:] for r in second])
    p = load(w, path2, "raw.ev", "--partition-from", "ts")
    assert "sorted by user_id,ts" in p.stdout, p.stdout
    _, meta2 = metadata(w, "raw.ev")
    assert meta2["sort-orders"] == meta["sort-orders"]
    assert meta2["default-sort-order-id"] == meta["default-sort-order-id"]
    new_files = sorted(set(data_files(w, "raw.ev")) - set(files))
    assert len(new_files) == 4
    for f in new_files:
        assert in_order(file_rows(f)), f
    # every row is there once
    want = sorted(((r[1] is not None, r[1] or 0), r[2], r[3]) for r in first + second)
    got = sorted(((r["user_id"] is not None, r["user_id"] or 0), r["ts"], r["amount"]) for r in w.rows("raw.ev"))
    assert got == want
    # DuckDB reads the data files
    if not os.access(DUCK, os.X_OK):
        checker_missing("duckdb_tool not built (run scripts/checkers.sh, then build)")
    lst = "[" + ",".join("'%s'" % f for f in data_files(w, "raw.ev")) + "]"
    d = subprocess.run([DUCK, "SELECT count(*) AS n, sum(amount) AS s, count(user_id) AS k FROM read_parquet(%s)" % lst],
                       capture_output=True, text=True, timeout=60)
    assert d.returncode == 0, d.stderr
    assert json.loads(d.stdout.splitlines()[0]) == {
        "n": len(want), "s": sum(r[2] for r in want), "k": sum(r[0][0] for r in want)}
    # icebird reads the table through its metadata (sort order included)
    if not os.path.isdir(os.path.join(NPM, "node_modules", "icebird")):
        checker_missing("icebird not installed (run scripts/checkers.sh)")
    loc, _ = metadata(w, "raw.ev")
    i = subprocess.run(["node", os.path.join(SRC, "tests", "table", "icebird_read.mjs"), loc],
                       capture_output=True, text=True, timeout=120, env=dict(os.environ, CN_SOURCE_DIR=SRC))
    assert i.returncode == 0, i.stderr[-3000:]
    ice = sorted(((r["user_id"] is not None, r["user_id"] or 0), r["ts"], r["amount"])
                 for r in map(json.loads, i.stdout.splitlines()))
    assert ice == want


def test_sort_by_bad_columns_commit_nothing(tmp_path):
    w = Warehouse(tmp_path)
    path = str(tmp_path / "ev.csv")
    write_csv(path, ["user_id", "ts", "amount", "score"], [r[1:] + (0.5,) for r in events(3, 50)])
    p = load(w, path, "raw.ev", "--partition-from", "ts", "--sort-by", "user_id,nosuch", check=False)
    assert p.returncode != 0
    assert 'no column "nosuch"' in p.stderr and "user_id, ts, amount, score" in p.stderr, p.stderr
    p = load(w, path, "raw.ev", "--partition-from", "ts", "--sort-by", "score", check=False)
    assert p.returncode != 0 and '"score" is float64' in p.stderr and "expected int32, int64" in p.stderr, p.stderr
    p = load(w, path, "raw.ev", "--partition-from", "ts", "--sort-by", "user_id,,ts", check=False)
    assert p.returncode != 0 and "an empty column name" in p.stderr, p.stderr
    # a failed first load leaves no table behind
    con = sqlite3.connect(w.cat[len("sqlite:"):])
    assert con.execute("SELECT count(*) FROM iceberg_tables").fetchone()[0] == 0
    con.close()


def join_conf(name, ev):
    wins = [{"length": 1, "timeUnit": 0}, {"length": 1, "timeUnit": 1}, {"length": 3, "timeUnit": 1}]
    gb = {"metaData": {"name": "t.gb_" + ev, "outputNamespace": "out", "team": "t"},
          "keyColumns": ["user_id"], "accuracy": 0,
          "sources": [{"events": {"table": "raw." + ev, "query": {
              "selects": {"user_id": "user_id", "amount": "amount"}, "timeColumn": "ts"}}}],
          "aggregations": [{"inputColumn": "amount", "operation": op, "windows": wins} for op in (7, 6, 3)]}
    return {"metaData": {"name": "t." + name, "outputNamespace": "out", "team": "t"},
            "left": {"events": {"table": "raw.left", "query": {
                "selects": {"rid": "rid", "user_id": "user_id", "ts": "ts"}, "timeColumn": "ts"}}},
            "joinParts": [{"groupBy": gb}]}


def test_join_over_sorted_table_matches_unsorted_and_oracle(tmp_path, monkeypatch):
    monkeypatch.setenv("CHRONON_LOG", "debug")  # the fast path says how it ordered the rows
    w = Warehouse(tmp_path)
    ev = events(21, 6000, late=True)
    left = [(ds, i, u, ts) for i, (ds, u, ts, _) in enumerate(events(22, 800))]
    ev_csv, left_csv = str(tmp_path / "ev.csv"), str(tmp_path / "left.csv")
    write_csv(ev_csv, ["ds", "user_id", "ts", "amount"], ev)
    write_csv(left_csv, ["ds", "rid", "user_id", "ts"], left)
    for path, cols in ((ev_csv, ("user_id", "ts", "amount")), (left_csv, ("rid", "user_id", "ts"))):
        with open(path + ".schema.json", "w") as f:  # the oracle's column types
            json.dump({c: "long" for c in cols}, f)
    load(w, ev_csv, "raw.ev")
    load(w, ev_csv, "raw.evs", "--sort-by", "user_id,ts")
    load(w, left_csv, "raw.left")
    os.makedirs(str(tmp_path / "production" / "joins" / "t"))
    out = {}
    for name, table in (("plain", "ev"), ("sorted", "evs")):
        c = join_conf(name, table)
        with open(str(tmp_path / "production" / "joins" / "t" / name), "w") as f:
            json.dump(c, f)
        p = w.run(str(tmp_path), "production/joins/t/" + name, "--start-ds", "2024-03-01", "--end-ds", "2024-03-04")
        how = "runs in (key, ts) order merged" if table == "evs" else "(radix)"
        assert how in p.stderr, p.stderr[-2000:]
        rows = w.rows("out.t_" + name)
        out[name] = {r["rid"]: {k.replace("t_gb_" + table + "_", ""): v for k, v in r.items()} for r in rows}
    assert len(out["plain"]) == len(left)
    assert out["plain"] == out["sorted"]
    assert sum(v is not None for r in out["sorted"].values() for v in r.values()) > 5 * len(left)
    tables = {"raw.evs": co.load_table("raw.evs", ev_csv), "raw.left": co.load_table("raw.left", left_csv)}
    oracle = co.join_backfill(join_conf("sorted", "evs"), tables, "2024-03-04", "2024-03-01")
    assert len(oracle) == len(left)
    for r in oracle:
        got = out["sorted"][r["rid"]]
        for k, v in r.items():
            kk = k.replace("t_gb_evs_", "")
            assert norm(got[kk]) == norm(v), (r["rid"], k, got[kk], v)
