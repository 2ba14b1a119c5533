"""Join backfills by `chronon run` equal the brute-force oracle row for row (compute.md
section 6): the quickstart training_set joins over the example data, random joins over
random data (several parts, key mappings, mixed accuracies, entity and event lefts, left
rows before any event and exactly at event times, null keys, duplicate left rows, late
events, derivations), and bad input. Prints the seed; CN_TEST_SEED=<seed> replays one
case, CN_TEST_CASES=<n> runs more random joins (default 100)."""

import glob
import json
import os
import random
import subprocess

import pytest

from engine_util import CHRONON, SRC, Warehouse, case_seeds, close, co, each_seed, norm, one_seed, run_cmd

QS = os.path.join(SRC, "examples", "quickstart")
DATA = os.path.join(QS, "data")
QS_SCHEMAS = {
    "purchases": "ts:int64,purchase_id:string,user_id:string,product_id:string,purchase_price:int64,item_category:string",
    "returns": "ts:int64,return_id:string,user_id:string,product_id:string,refund_amt:int64",
    "checkouts": "ts:int64,return_id:string,user_id:string,product_id:string,refund_amt:int64",
    "users": "user_id:string,account_created_ds:string,email_verified:string",
}
QS_TABLES = {"data.purchases": "purchases", "data.returns": "returns", "data.users": "users",
             "data.checkouts": "checkouts"}


def compare_join(got, want, where=""):
    """Same multiset of rows, same column order. Features are a function of the left
    columns and ds, so rows sorted by those pair up even with duplicate left rows."""
    assert len(got) == len(want), "%s: %d rows, oracle %d" % (where, len(got), len(want))
    if not want:
        return 0
    want = [norm(co.to_json_value(r)) for r in want]
    got = [norm(r) for r in got]
    left = [c for c in want[0] if c == "ds" or not c.startswith(("f", "quickstart_", "d_"))]

    def sk(r):
        return json.dumps([r.get(c) for c in left], sort_keys=True)
    got.sort(key=sk)
    want.sort(key=sk)
    for g, w in zip(got, want):
        assert list(g.keys()) == list(w.keys()), "%s: columns %s != oracle %s" % (where, list(g), list(w))
        for c in w:
            assert close(g[c], w[c]), "%s: row %s column %s: got %r, oracle %r" % (where, sk(w), c, g[c], w[c])
    return len(want)


# --------------------------------------------------------------------------- quickstart

@pytest.fixture(scope="module")
def qs(tmp_path_factory):
    w = Warehouse(tmp_path_factory.mktemp("qsjoin"))
    for table, stem in QS_TABLES.items():
        w.load(os.path.join(DATA, stem + ".csv"), table, QS_SCHEMAS[stem])
    return w


def qs_oracle_tables():
    return {n: co.load_table(n, os.path.join(DATA, s + ".csv")) for n, s in QS_TABLES.items()}


@pytest.mark.parametrize("conf,table", [
    ("production/joins/quickstart/training_set.v1", "default.quickstart_training_set_v1"),
    ("production/joins/quickstart/training_set.v2", "default.quickstart_training_set_v2"),
])
def test_quickstart_training_set_matches_oracle(qs, conf, table):
    qs.run(QS, conf, "--start-ds", "2023-12-01", "--end-ds", "2023-12-07")
    got = qs.rows(table)
    cj = co._conf_of(os.path.join(QS, conf))
    want = co.join_backfill(cj, qs_oracle_tables(), "2023-12-07", "2023-12-01")
    n = compare_join(got, want, where=conf)
    assert n > 100
    assert {r["ds"] for r in got} == {"2023-12-0%d" % d for d in range(1, 8)}
    # every part contributes real values somewhere (not an all-null join)
    for prefix in ("quickstart_purchases_v1_", "quickstart_returns_v1_") + (
            ("quickstart_users_v1_",) if conf.endswith("v1") else ()):
        assert any(v is not None for r in got for c, v in r.items() if c.startswith(prefix)), prefix


def test_quickstart_column_order_d11(qs):
    qs.run(QS, "production/joins/quickstart/training_set.v2", "--ds", "2023-12-03")
    got = qs.rows("default.quickstart_training_set_v2")
    cols = list(got[0].keys())
    assert cols[:2] == ["user_id", "ts"] and cols[-1] == "ds"
    assert cols[2].startswith("quickstart_purchases_v1_") and cols[-2].startswith("quickstart_returns_v1_")


# --------------------------------------------------------------------------- random joins

DAY = 86400000
BASE = "2024-03-01"
EV_SCHEMA = {"ts": "long", "k1": "string", "k2": "long", "v": "long", "x": "double"}
EV_LOAD = "ts:int64,k1:string,k2:int64,v:int64,x:float64"
DIM_SCHEMA = {"ts": "long", "k1": "string", "attr": "string", "score": "long"}
DIM_LOAD = "ts:int64,k1:string,attr:string,score:int64"
LEFT_SCHEMA = {"ts": "long", "uid": "string", "k1": "string", "k2": "long", "note": "string"}
LEFT_LOAD = "ts:int64,uid:string,k1:string,k2:int64,note:string"
OPS = {"SUM": 7, "COUNT": 6, "AVERAGE": 8, "MIN": 0, "MAX": 1, "LAST": 3, "LAST_K": 13, "UNIQUE_COUNT": 4}


def write_csv(path, rows, cols, schema):
    with open(path, "w") as f:
        f.write(",".join(["ds"] + cols) + "\n")
        for r in rows:
            f.write(",".join([r["ds"]] + ["" if r[c] is None else (repr(r[c]) if isinstance(r[c], float) else str(r[c]))
                                          for c in cols]) + "\n")
    with open(path + ".schema.json", "w") as f:
        json.dump(schema, f)


def gen_data(rnd, n_days):
    e0 = co.ds_to_epoch(BASE)
    keys = ["u%d" % i for i in range(8)]
    ev = []
    for d in range(n_days):
        for _ in range(rnd.randint(0, 20)):
            k1 = None if rnd.random() < 0.05 else rnd.choice(keys)
            ts = e0 + d * DAY + rnd.choice([0, DAY - 1, rnd.randint(0, DAY - 1), rnd.randint(0, DAY - 1)])
            pd = d + 1 if rnd.random() < 0.08 else d          # late: stored the next day
            ev.append({"ds": co.ds_add(BASE, pd), "ts": ts, "k1": k1, "k2": rnd.randint(0, 1),
                       "v": None if rnd.random() < 0.1 else rnd.randint(-20, 50),
                       "x": None if rnd.random() < 0.1 else rnd.choice([0.5, 2.25, rnd.uniform(-5, 5)])})
    dim = []
    for d in range(n_days):
        for k in rnd.sample(keys, rnd.randint(0, len(keys))):
            ts = e0 + d * DAY + rnd.choice([-2 * DAY, -DAY, 0, DAY - 1, DAY, rnd.randint(-DAY, DAY - 1)])
            dim.append({"ds": co.ds_add(BASE, d), "ts": ts, "k1": k, "attr": rnd.choice(["a", "b", None]),
                        "score": rnd.randint(0, 9)})
    left = []
    ev_ts = [(r["k1"], r["ts"]) for r in ev if r["k1"] is not None]
    for d in range(1, n_days):
        for _ in range(rnd.randint(1, 12)):
            r = rnd.random()
            if r < 0.3 and ev_ts:
                k1, ts = rnd.choice(ev_ts)                     # exactly at an event
                ts = ts if co.day_of(ts) <= co.ds_add(BASE, d) else e0 + d * DAY
            elif r < 0.4:
                k1, ts = rnd.choice(keys), e0 + d * DAY         # start of the day
            else:
                k1, ts = rnd.choice(keys + ["nobody"]), e0 + d * DAY + rnd.randint(0, DAY - 1)
            if rnd.random() < 0.1:
                ts -= DAY                                        # ts on the day before its partition
            if rnd.random() < 0.08:
                k1 = None
            row = {"ds": co.ds_add(BASE, d), "ts": ts, "uid": k1, "k1": k1,
                   "k2": None if rnd.random() < 0.1 else rnd.randint(0, 1), "note": rnd.choice(["p", "q"])}
            left.append(row)
            if rnd.random() < 0.1:
                left.append(dict(row))                           # duplicate left row
    # a left row before any event of its key, on the first left day
    left.append({"ds": co.ds_add(BASE, 1), "ts": e0 + 1, "uid": "u0", "k1": "u0", "k2": 0, "note": "p"})
    return ev, dim, left


def gen_groupby(rnd, name, events_left):
    kind = rnd.choice(["events", "events", "dim", "dim_agg"])
    meta = {"name": "t." + name, "outputNamespace": "out", "team": "t"}
    if kind == "dim":
        q = {"selects": {"k1": "k1", "attr": "attr", "score": "score"}}
        gb = {"metaData": meta, "keyColumns": ["k1"],
              "sources": [{"entities": {"snapshotTable": "raw.dim", "query": q}}]}
        if rnd.random() < 0.4:   # GroupBy derivations: `*`, an expression, a rename, keys and ds
            gb["derivations"] = [{"name": "*", "expression": "*"},
                                 {"name": "score10", "expression": "score * 10"},
                                 {"name": "where_when", "expression": "concat(k1, '@', ds)"}]
            if rnd.random() < 0.5:
                gb["derivations"].append({"name": "a2", "expression": "attr"})
        return gb
    if kind == "dim_agg":
        q = {"selects": {"k1": "k1", "score": "score"}, "timeColumn": "ts"}
        win = rnd.choice([None, [{"length": 1, "timeUnit": 1}], [{"length": 2, "timeUnit": 1}, {"length": 12, "timeUnit": 0}]])
        aggs = [{"inputColumn": "score", "operation": 7}, {"inputColumn": "score", "operation": 6},
                {"inputColumn": "score", "operation": 3}]
        if win:
            aggs[rnd.randint(0, 2)]["windows"] = win
        temporal = events_left and rnd.random() < 0.5
        if not temporal and win and len(win) > 1:
            aggs = [a for a in aggs if a.get("windows") is None]   # SNAPSHOT + hours: a DSL error
        gb = {"metaData": meta, "keyColumns": ["k1"], "accuracy": 0 if temporal else 1,
              "sources": [{"entities": {"snapshotTable": "raw.dim", "query": q}}], "aggregations": aggs}
        if rnd.random() < 0.4:
            gb["derivations"] = [{"name": "*", "expression": "*"}, {"name": "kd", "expression": "concat(k1, ds)"}]
        return gb
    temporal = events_left and rnd.random() < 0.6
    aggs, used = [], set()
    for _ in range(rnd.randint(1, 3)):
        op = rnd.choice(list(OPS))
        col = rnd.choice(["v", "x"])
        if (op, col) in used:
            continue
        used.add((op, col))
        a = {"inputColumn": col, "operation": OPS[op], "argMap": {}}
        if op == "LAST_K":
            a["argMap"] = {"k": "3"}
        if rnd.random() < 0.7:
            ws = [{"length": w, "timeUnit": 1} for w in sorted(rnd.sample([1, 2, 3], rnd.randint(1, 2)))]
            if temporal and rnd.random() < 0.4:
                ws.append({"length": rnd.choice([1, 6, 12]), "timeUnit": 0})
            a["windows"] = ws
        aggs.append(a)
    keys = ["k1"] if rnd.random() < 0.7 else ["k1", "k2"]
    q = {"selects": {"k1": "k1", "k2": "k2", "v": "v", "x": "x"}, "timeColumn": "ts"}
    return {"metaData": meta, "keyColumns": keys, "accuracy": 0 if temporal else 1,
            "sources": [{"events": {"table": "raw.ev", "query": q}}], "aggregations": aggs}


def gen_join(rnd, name):
    events_left = rnd.random() < 0.8
    if events_left:
        left = {"events": {"table": "raw.left", "query": {
            "selects": {"uid": "uid", "k1": "k1", "k2": "k2", "note": "note", "ts": "ts"}, "timeColumn": "ts"}}}
    else:
        left = {"entities": {"snapshotTable": "raw.left", "query": {
            "selects": {"uid": "uid", "k1": "k1", "k2": "k2", "note": "note"}}}}
    if rnd.random() < 0.2:
        left[list(left)[0]]["query"]["wheres"] = ["note = 'p' OR k2 = 1"]
    if rnd.random() < 0.15:
        del left[list(left)[0]]["query"]["selects"]   # every left column, in table order
    parts = []
    for i in range(rnd.randint(1, 3)):
        gb = gen_groupby(rnd, "%s_gb%d" % (name, i), events_left)
        jp = {"groupBy": gb, "prefix": "f%d" % i}
        if rnd.random() < 0.5:
            jp["keyMapping"] = {"uid": "k1"}
        parts.append(jp)
    conf = {"metaData": {"name": "t." + name, "outputNamespace": "out", "team": "t"},
            "left": left, "joinParts": parts}
    if rnd.random() < 0.15:
        conf["skewKeys"] = {"k1": ["u3", "'u4'"]}
    if rnd.random() < 0.3:
        conf["derivations"] = [{"name": "*", "expression": "*"},
                               {"name": "d_note", "expression": "concat(note, '!')"}]
        if "aggregations" not in parts[0]["groupBy"]:
            col = "f0_t_%s_gb0_score" % name
            conf["derivations"].append({"name": "d_feat", "expression": "%s * 2 + 1" % col})
            if rnd.random() < 0.5:   # a rename: the verbatim column leaves `*`
                conf["derivations"].append({"name": "d_score", "expression": col})
    return conf


def load_data(root, wh, ev, dim, left):
    """Writes the generated rows as CSVs under root and loads each table that has rows.
    Returns the oracle's tables and the names of the tables left unloaded (without rows:
    runs that read them must fail naming them)."""
    tables, missing = {}, []
    for name, rows, cols, schema, load in [
            ("raw.ev", ev, ["ts", "k1", "k2", "v", "x"], EV_SCHEMA, EV_LOAD),
            ("raw.dim", dim, ["ts", "k1", "attr", "score"], DIM_SCHEMA, DIM_LOAD),
            ("raw.left", left, ["ts", "uid", "k1", "k2", "note"], LEFT_SCHEMA, LEFT_LOAD)]:
        path = os.path.join(root, name + ".csv")
        write_csv(path, rows, cols, schema)
        if rows:
            wh.load(path, name, load)
        else:
            missing.append(name)
        tables[name] = co.load_table(name, path)
    return tables, missing


def run_case(tmp, seed, per_dataset):
    rnd = random.Random(seed)
    n_days = rnd.randint(3, 6)
    ev, dim, left = gen_data(rnd, n_days)
    root = os.path.join(str(tmp), "c%d" % seed)
    os.makedirs(os.path.join(root, "production", "joins", "t"))
    wh = Warehouse(root)
    tables, missing = load_data(root, wh, ev, dim, left)
    end = co.ds_add(BASE, n_days - 1)
    compared = 0
    for i in range(per_dataset):
        name = "j_%d_%d" % (seed, i)
        conf = gen_join(rnd, name)
        with open(os.path.join(root, "production", "joins", "t", name), "w") as f:
            json.dump(conf, f)
        start = rnd.choice([None, co.ds_add(BASE, 2)])
        args = ["--end-ds", end] + (["--start-ds", start] if start else [])
        args += ["--step-days", str(rnd.randint(1, 3))]
        absent = [t for t in missing if '"%s"' % t in json.dumps(conf)]
        if absent:
            p = wh.run(root, "production/joins/t/" + name, *args, check=False)
            assert p.returncode != 0 and "%s not found" % absent[0] in p.stderr, \
                "join %d reads the absent table %s: %s" % (i, absent[0], p.stderr)
            compared += 1  # checked: the missing-table error
            continue
        try:
            want = co.join_backfill(conf, tables, end, start)
        except co.OracleError as e:
            # the oracle refuses (e.g. D10 duplicates): the run must fail too
            p = wh.run(root, "production/joins/t/" + name, *args, check=False)
            assert p.returncode != 0, "join %d: oracle says %s but the run succeeded" % (i, e)
            continue
        p = wh.run(root, "production/joins/t/" + name, *args, check=False)
        assert p.returncode == 0, "join %d: %s" % (i, p.stderr)
        got = wh.rows("out.t_" + name)
        compare_join(got, want, where="join %d" % i)
        compared += 1
    return compared


PER_DATASET = 4


def test_random_joins_match_oracle(tmp_path):
    seeds = case_seeds(100, PER_DATASET)
    compared = sum(each_seed(seeds, lambda s: run_case(tmp_path, s, PER_DATASET)))
    assert compared >= len(seeds) * PER_DATASET * 0.8, "too few joins compared (%d)" % compared


def ev_left_repo(root, ev, left):
    """A join repo at root (empty production/joins/t) whose warehouse holds ev as raw.ev and
    left as raw.left: (Warehouse, the oracle's tables)."""
    os.makedirs(os.path.join(root, "production", "joins", "t"))
    wh = Warehouse(root)
    tables = {}
    for name, rows, cols, schema, load in [
            ("raw.ev", ev, ["ts", "k1", "k2", "v", "x"], EV_SCHEMA, EV_LOAD),
            ("raw.left", left, ["ts", "uid", "k1", "k2", "note"], LEFT_SCHEMA, LEFT_LOAD)]:
        path = os.path.join(root, name + ".csv")
        write_csv(path, rows, cols, schema)
        wh.load(path, name, load)
        tables[name] = co.load_table(name, path)
    return wh, tables


def test_dense_keys_temporal_sweep_matches_oracle(tmp_path):
    """Many rows per key (the sorted sweep's windows slide, its front stacks are rebuilt
    many times): ts ties, null inputs, late rows, left rows at event times, windows of
    hours and days and unwindowed, every op the sweep treats apart."""
    seed = one_seed()
    rnd = random.Random(seed)
    e0, n_days = co.ds_to_epoch(BASE), 3
    minutes = [rnd.randint(0, n_days * 24 * 60 - 1) for _ in range(60)]   # few distinct times: ties
    ev = []
    for _ in range(900):
        ts = e0 + rnd.choice(minutes) * 60000 + rnd.choice([0, 0, 1, rnd.randint(0, 59999)])
        d = (ts - e0) // DAY
        ev.append({"ds": co.ds_add(BASE, d + (1 if rnd.random() < 0.04 else 0)), "ts": ts,
                   "k1": rnd.choice(["a", "b", "c"]), "k2": 0,
                   "v": None if rnd.random() < 0.15 else rnd.randint(-9, 30),
                   "x": None if rnd.random() < 0.15 else rnd.choice([0.5, 1.25, -2.0, rnd.uniform(-5, 5)])})
    left = []
    for _ in range(200):
        d = rnd.randint(1, n_days - 1)
        r = rnd.random()
        if r < 0.4:
            e = rnd.choice(ev)
            ts = e["ts"] if co.day_of(e["ts"]) <= co.ds_add(BASE, d) else e0 + d * DAY
        else:
            ts = e0 + d * DAY + rnd.randint(-DAY // 2, DAY - 1)
        k = rnd.choice(["a", "b", "c", "zz"])
        left.append({"ds": co.ds_add(BASE, d), "ts": ts, "uid": k, "k1": k, "k2": 0, "note": "p"})
    root = str(tmp_path)
    wh, tables = ev_left_repo(root, ev, left)
    wins = [{"length": 1, "timeUnit": 0}, {"length": 6, "timeUnit": 0}, {"length": 1, "timeUnit": 1},
            {"length": 2, "timeUnit": 1}]
    aggs = [{"inputColumn": c, "operation": OPS[op], "argMap": {"k": "3"} if op == "LAST_K" else {}, "windows": wins}
            for op, c in [("SUM", "v"), ("COUNT", "x"), ("LAST", "v"), ("AVERAGE", "x"), ("MIN", "x"),
                          ("MAX", "v"), ("LAST_K", "v"), ("UNIQUE_COUNT", "v"), ("SUM", "x")]]
    aggs += [{"inputColumn": "v", "operation": 2, "windows": wins}, {"inputColumn": "x", "operation": 3}]
    q = {"selects": {"k1": "k1", "v": "v", "x": "x"}, "timeColumn": "ts"}
    gb = {"metaData": {"name": "t.dense_gb", "outputNamespace": "out", "team": "t"}, "keyColumns": ["k1"],
          "accuracy": 0, "sources": [{"events": {"table": "raw.ev", "query": q}}], "aggregations": aggs}
    conf = {"metaData": {"name": "t.dense", "outputNamespace": "out", "team": "t"},
            "left": {"events": {"table": "raw.left", "query": {
                "selects": {"uid": "uid", "k1": "k1", "k2": "k2", "note": "note", "ts": "ts"}, "timeColumn": "ts"}}},
            "joinParts": [{"groupBy": gb, "prefix": "f0"}]}
    with open(os.path.join(root, "production", "joins", "t", "dense"), "w") as f:
        json.dump(conf, f)
    end = co.ds_add(BASE, n_days - 1)
    want = co.join_backfill(conf, tables, end, None)
    wh.run(root, "production/joins/t/dense", "--end-ds", end)
    got = wh.rows("out.t_dense")
    assert compare_join(got, want, where="dense seed %d" % seed) == len(left)
    # windows really differ: some rows see data in 2 days but none in the last hour
    c1h, s2d = "f0_t_dense_gb_x_count_1h", "f0_t_dense_gb_v_sum_2d"
    assert c1h in got[0] and s2d in got[0], list(got[0])
    assert any(r[c1h] is None and r[s2d] is not None for r in got)
    assert sum(1 for r in got if r[s2d] is not None) > len(got) // 2
    # the output files as Spark writes Chronon's join tables: snappy
    files = glob.glob(os.path.join(wh.wh, "out.db", "t_dense", "data", "ds=*", "*.parquet"))
    assert files
    p = subprocess.run([CHRONON, "parquet", "stats", files[0], "--json"], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    stats = json.loads(p.stdout)
    assert {c["codec"] for g in stats["row_groups"] for c in g["columns"]} == {"SNAPPY"}, stats


# --------------------------------------------------------------------------- bad input

def _bad_repo(tmp_path, conf):
    root = str(tmp_path)
    ev, dim, left = gen_data(random.Random(7), 3)
    wh, _ = ev_left_repo(root, ev, left)
    with open(os.path.join(root, "production", "joins", "t", "bad"), "w") as f:
        json.dump(conf, f)
    return root, wh


def _conf(left_table="raw.left", right_table="raw.ev", key="k1", derivations=None, parts=1, prefix=True):
    gb = {"metaData": {"name": "t.gb", "outputNamespace": "out", "team": "t"}, "keyColumns": [key],
          "accuracy": 0,
          "sources": [{"events": {"table": right_table, "query": {
              "selects": {key: "k1", "v": "v"}, "timeColumn": "ts"}}}],
          "aggregations": [{"inputColumn": "v", "operation": 7}]}
    c = {"metaData": {"name": "t.bad", "outputNamespace": "out", "team": "t"},
         "left": {"events": {"table": left_table, "query": {"selects": {"k1": "k1", "ts": "ts"}, "timeColumn": "ts"}}},
         "joinParts": [dict({"groupBy": gb}, **({"prefix": "p%d" % i} if prefix else {})) for i in range(parts)]}
    if derivations:
        c["derivations"] = derivations
    return c


@pytest.mark.parametrize("op", ["LAST", "FIRST"])
def test_temporal_first_last_on_ts_tie_without_nulls(tmp_path, op):
    """TEMPORAL FIRST/LAST whose input column holds no null, two events of a key at the
    same ts: the tie takes the extreme value (LAST the largest, FIRST the smallest) and
    the run ends (D15; seed 495493695 of the random joins drew it: LAST looped for ever)."""
    e0 = co.ds_to_epoch(BASE)
    ev = [{"ds": BASE, "ts": e0 + 1000, "k1": "a", "k2": 0, "v": v, "x": 1.0} for v in (5, 9, 2)]
    ev += [{"ds": BASE, "ts": e0 + 500, "k1": "a", "k2": 0, "v": v, "x": 1.0} for v in (7, 3)]
    left = [{"ds": co.ds_add(BASE, 1), "ts": e0 + DAY + 10, "uid": "a", "k1": "a", "k2": 0, "note": "p"}]
    root = str(tmp_path)
    wh, tables = ev_left_repo(root, ev, left)
    gb = {"metaData": {"name": "t.tie_gb", "outputNamespace": "out", "team": "t"}, "keyColumns": ["k1"],
          "accuracy": 0, "sources": [{"events": {"table": "raw.ev", "query": {
              "selects": {"k1": "k1", "v": "v"}, "timeColumn": "ts"}}}],
          "aggregations": [{"inputColumn": "v", "operation": {"FIRST": 2, "LAST": 3}[op],
                            "windows": [{"length": 2, "timeUnit": 1}]}]}
    conf = {"metaData": {"name": "t.tie", "outputNamespace": "out", "team": "t"},
            "left": {"events": {"table": "raw.left", "query": {
                "selects": {"uid": "uid", "k1": "k1", "ts": "ts"}, "timeColumn": "ts"}}},
            "joinParts": [{"groupBy": gb, "prefix": "f0"}]}
    with open(os.path.join(root, "production", "joins", "t", "tie"), "w") as f:
        json.dump(conf, f)
    day = co.ds_add(BASE, 1)
    cmd = [CHRONON, "run", "--mode", "backfill", "--repo", root, "--conf", "production/joins/t/tie", "--ds", day]
    p = run_cmd(cmd, wh.env(), timeout=10)
    assert p.returncode == 0, p.stderr
    want = co.join_backfill(conf, tables, day, day)
    assert compare_join(wh.rows("out.t_tie"), want, where=op) == 1
    assert want[0]["f0_t_tie_gb_v_%s_2d" % op.lower()] == (9 if op == "LAST" else 3)


@pytest.mark.parametrize("case,conf,needles", [
    ("missing_left", _conf(left_table="raw.nope"), ["left table raw.nope", "not found"]),
    ("missing_right", _conf(right_table="raw.gone"), ["raw.gone", "part p0_t_gb"]),
    ("key_mismatch", _conf(key="account"), ["part p0_t_gb", "key account", "left column account"]),
    ("unknown_column", _conf(derivations=[{"name": "z", "expression": "p0_t_gb_v_sum + nosuch"}]),
     ["derivations[0] (z)", "nosuch"]),
    ("same_column", _conf(parts=2, prefix=False), ["two join parts produce the column t_gb_v_sum"]),
    ("null_ts", dict(_conf(), left={"events": {"table": "raw.left", "query": {
        "selects": {"k1": "k1", "ts": "ts"}, "timeColumn": "IF(note = 'p', NULL, ts)"}}}),
     ["part p0_t_gb is TEMPORAL", "null ts", "raw.left"]),
])
def test_bad_input(tmp_path, case, conf, needles):
    root, wh = _bad_repo(tmp_path, conf)
    p = wh.run(root, "production/joins/t/bad", "--end-ds", co.ds_add(BASE, 2), check=False)
    assert p.returncode == 1, "%s: exit %d: %s" % (case, p.returncode, p.stderr)
    for n in needles:
        assert n.lower() in p.stderr.lower(), "%s: %r not in %s" % (case, n, p.stderr)
    assert p.stderr.count("\n") <= 2, p.stderr
    # nothing half-written: no output table
    assert not os.path.exists(os.path.join(wh.wh, "out.db", "t_bad", "data")), case


# --------------------------------------------------------------------------- re-runs

def test_rerun_fills_only_missing_partitions(tmp_path):
    w = Warehouse(tmp_path)
    for table, stem in QS_TABLES.items():
        w.load(os.path.join(DATA, stem + ".csv"), table, QS_SCHEMAS[stem])
    conf = "production/joins/quickstart/training_set.v2"
    table = "default.quickstart_training_set_v2"
    w.run(QS, conf, "--start-ds", "2023-12-01", "--end-ds", "2023-12-03")
    p = w.run(QS, conf, "--start-ds", "2023-12-01", "--end-ds", "2023-12-05", "--verbose")
    assert "join chunk 2023-12-04..2023-12-05" in p.stderr and "chunk 2023-12-01" not in p.stderr, p.stderr
    cj = co._conf_of(os.path.join(QS, conf))
    want = co.join_backfill(cj, qs_oracle_tables(), "2023-12-05", "2023-12-01")
    assert compare_join(w.rows(table), want, where="re-run") > 100
    p = w.run(QS, conf, "--start-ds", "2023-12-01", "--end-ds", "2023-12-05", "--verbose")
    assert "nothing to compute" in p.stderr and "join chunk" not in p.stderr, p.stderr
    p = w.run(QS, conf, "--start-ds", "2023-12-02", "--end-ds", "2023-12-05", "--verbose", "--force")
    assert "join chunk 2023-12-02..2023-12-05" in p.stderr, p.stderr
    assert compare_join(w.rows(table), want, where="forced re-run") > 100


def test_changed_join_recomputes_existing_partitions(tmp_path):
    """A new semantic hash (here: a left `wheres`) recomputes days the output already has."""
    w = Warehouse(tmp_path / "wh")
    for table, stem in QS_TABLES.items():
        w.load(os.path.join(DATA, stem + ".csv"), table, QS_SCHEMAS[stem])
    conf = "production/joins/quickstart/training_set.v2"
    w.run(QS, conf, "--start-ds", "2023-12-01", "--end-ds", "2023-12-04")
    cj = co._conf_of(os.path.join(QS, conf))
    cj["left"]["events"]["query"]["wheres"] = ["refund_amt > 250"]
    repo = tmp_path / "repo"
    os.makedirs(repo / "production" / "joins" / "quickstart")
    with open(repo / "production" / "joins" / "quickstart" / "training_set.v2", "w") as f:
        json.dump(cj, f)
    p = w.run(str(repo), conf, "--start-ds", "2023-12-01", "--end-ds", "2023-12-04", "--verbose")
    assert "another version" in p.stderr and "join chunk 2023-12-01..2023-12-04" in p.stderr, p.stderr
    want = co.join_backfill(cj, qs_oracle_tables(), "2023-12-04", "2023-12-01")
    got = w.rows("default.quickstart_training_set_v2")
    assert 0 < compare_join(got, want, where="changed join") < 300


def test_max_memory_halves_chunks_then_refuses(tmp_path):
    """--max-memory: a chunk whose left rows need more is computed in halves (same rows
    as the oracle); when a single day does not fit, the run fails naming the left table,
    the partitions and the limit, and writes nothing."""
    rnd = random.Random(11)
    e0, n_days = co.ds_to_epoch(BASE), 5
    ev = [{"ds": co.ds_add(BASE, d), "ts": e0 + d * DAY + rnd.randint(0, DAY - 1), "k1": rnd.choice(["a", "b"]),
           "k2": 0, "v": rnd.randint(0, 9), "x": 1.5} for d in range(n_days) for _ in range(30)]
    pad = "n" * 2000   # ~3 MB of left rows per day
    left = [{"ds": co.ds_add(BASE, d), "ts": e0 + d * DAY + rnd.randint(0, DAY - 1), "uid": "a",
             "k1": rnd.choice(["a", "b", "c"]), "k2": 0, "note": pad} for d in range(1, n_days) for _ in range(1500)]
    root = str(tmp_path)
    wh, tables = ev_left_repo(root, ev, left)
    gb = {"metaData": {"name": "t.mm_gb", "outputNamespace": "out", "team": "t"}, "keyColumns": ["k1"],
          "accuracy": 0, "sources": [{"events": {"table": "raw.ev", "query": {
              "selects": {"k1": "k1", "v": "v"}, "timeColumn": "ts"}}}],
          "aggregations": [{"inputColumn": "v", "operation": 7, "windows": [{"length": 1, "timeUnit": 1}]}]}
    for name in ("mm", "mm_small"):
        conf = {"metaData": {"name": "t." + name, "outputNamespace": "out", "team": "t"},
                "left": {"events": {"table": "raw.left", "query": {
                    "selects": {"k1": "k1", "note": "note", "ts": "ts"}, "timeColumn": "ts"}}},
                "joinParts": [{"groupBy": gb, "prefix": "f0"}]}
        with open(os.path.join(root, "production", "joins", "t", name), "w") as f:
            json.dump(conf, f)
    end = co.ds_add(BASE, n_days - 1)
    p = wh.run(root, "production/joins/t/mm", "--end-ds", end, "--max-memory", "7M", "--verbose")
    assert "does not fit in --max-memory: computing it in two halves" in p.stderr, p.stderr
    assert "join chunk %s..%s: 3000 left rows" % (co.ds_add(BASE, 1), co.ds_add(BASE, 2)) in p.stderr, p.stderr
    want = co.join_backfill(conf, tables, end, None)
    for r in want:
        r["note"] = pad
    got = wh.rows("out.t_mm")
    assert compare_join([dict(r, note=pad) for r in got], want, where="halves") == len(left)
    # a single day does not fit: a clear error, nothing written
    p = wh.run(root, "production/joins/t/mm_small", "--end-ds", end, "--max-memory", "2M", check=False)
    assert p.returncode == 1, p.stderr
    for needle in ("left rows of raw.left partitions %s..%s" % (co.ds_add(BASE, 1), co.ds_add(BASE, 1)),
                   "more than --max-memory 2 MiB", "raise --max-memory"):
        assert needle in p.stderr, p.stderr
    assert not os.path.exists(os.path.join(wh.wh, "out.db", "t_mm_small", "data"))
    p = wh.run(root, "production/joins/t/mm_small", "--end-ds", end, "--max-memory", "lots", check=False)
    assert p.returncode != 0 and "--max-memory: invalid size 'lots'" in p.stderr, p.stderr
