"""Rows stored in a partition days before their ts (docs/joins.md "Partition range of a
value", compute.md D29): the value for day X (a TEMPORAL query on day X, or the snapshot
of day X used by a SNAPSHOT part) reads partitions >= X - 1d - maxWindow, whatever range
the run covers. Chronon scans from the first day of the run's range, so there the
result depends on the range; here one chunk, daily chunks and the oracle agree, with
hand-computed values."""

import json
import os

import pytest

from engine_util import Warehouse, co, norm

DAY = 86400000
H = 3600000
D0 = "2024-02-01"
E0 = co.ds_to_epoch(D0)


def day(i):
    return co.ds_add(D0, i)


# (stored ds, ts, user, v)
EV = [(day(0), E0 + 5 * DAY + 10 * H, "u1", 100),   # stored 5 days before its ts
      (day(3), E0 + 3 * DAY + 10 * H, "u1", 1),
      (day(4), E0 + 4 * DAY + 13 * H, "u1", 2),
      (day(5), E0 + 6 * DAY + 6 * H, "u1", 7)]      # stored one day before its ts
LEFT = [(day(k), E0 + k * DAY + (8 if k == 6 else 12) * H, "u1") for k in range(1, 7)]
# TEMPORAL 1d SUM at each left row: the day-0 row is outside day 5's and day 6's
# partition range (>= day 3, >= day 4), the day-5 row (ts day 6 06:00) is inside day 6's
WANT_T = [None, None, 1, None, 2, 7]
# SNAPSHOT 1d SUM (snapshot of the day before): day 5's snapshot reads partitions >= day 3
WANT_S = [None, None, None, 1, 2, None]


def conf(name, accuracy):
    gb = {"metaData": {"name": "t.gb_%d" % accuracy, "outputNamespace": "out", "team": "t"},
          "keyColumns": ["user"], "accuracy": accuracy,
          "sources": [{"events": {"table": "raw.ev", "query": {
              "selects": {"user": "user", "v": "v"}, "timeColumn": "ts"}}}],
          "aggregations": [{"inputColumn": "v", "operation": 7, "windows": [{"length": 1, "timeUnit": 1}]}]}
    return {"metaData": {"name": "t." + name, "outputNamespace": "out", "team": "t"},
            "left": {"events": {"table": "raw.left", "query": {
                "selects": {"user": "user", "ts": "ts"}, "timeColumn": "ts"}}},
            "joinParts": [{"groupBy": gb}]}


def write(path, cols, rows, schema):
    with open(path, "w") as f:
        f.write(",".join(cols) + "\n")
        for r in rows:
            f.write(",".join(str(v) for v in r) + "\n")
    with open(path + ".schema.json", "w") as f:
        json.dump(schema, f)


@pytest.mark.parametrize("key_type", ["string", "int64"])
def test_early_rows_per_day_bound(tmp_path, key_type):
    """Both key types: an int64 key with SUM over int64 is a shape fast paths take."""
    root = str(tmp_path)
    w = Warehouse(root)
    tables = {}
    kt = "long" if key_type == "int64" else "string"

    def keyed(rows):
        return [r[:2] + (1 if key_type == "int64" else r[2],) + r[3:] for r in rows]
    for name, cols, rows, schema, load in [
            ("raw.ev", ["ds", "ts", "user", "v"], keyed(EV), {"ts": "long", "user": kt, "v": "long"},
             "ts:int64,user:%s,v:int64" % key_type),
            ("raw.left", ["ds", "ts", "user"], keyed(LEFT), {"ts": "long", "user": kt},
             "ts:int64,user:%s" % key_type)]:
        path = os.path.join(root, name + ".csv")
        write(path, cols, rows, schema)
        w.load(path, name, load)
        tables[name] = co.load_table(name, path)
    os.makedirs(os.path.join(root, "production", "joins", "t"))
    for acc, col, want in [(0, "t_gb_0_v_sum_1d", WANT_T), (1, "t_gb_1_v_sum_1d", WANT_S)]:
        results = []
        for step in ("30", "1", "2"):
            name = "j%d_%s" % (acc, step)
            c = conf(name, acc)
            with open(os.path.join(root, "production", "joins", "t", name), "w") as f:
                json.dump(c, f)
            w.run(root, "production/joins/t/" + name, "--start-ds", day(1), "--end-ds", day(6), "--step-days", step)
            got = sorted(w.rows("out.t_" + name), key=lambda r: r["ts"])
            assert [r[col] for r in got] == want, (acc, step, [r[col] for r in got])
            results.append([r[col] for r in got])
        oracle = sorted(co.join_backfill(c, tables, day(6), day(1)), key=lambda r: r["ts"])
        assert [norm(r[col]) for r in oracle] == want, (acc, "oracle")
        assert results[0] == results[1] == results[2]
