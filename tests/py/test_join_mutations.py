"""Join backfills with TEMPORAL entity parts that have a mutationTable on an events left
(compute.md section 5 "Mutations", D7, D8): Example 5.2 through a join, the per-query window
rule, deletes on an empty IR, random joins against the oracle, and bad mutation tables. Also
the same GroupBy backfilled on its own (daily snapshots: mutations unused) and uploaded and
fetched (the batch IR of the snapshot; mutations reach fetch only by streaming).
CN_TEST_SEED=<seed> replays one random case, CN_TEST_CASES=<n> runs more (default 16, 6 in
sanitizer builds)."""

import json
import os
import random
import subprocess

from engine_util import BUILD, CHRONON, Warehouse, case_seeds, close, co, compare, each_seed, norm, run_cmd
from test_join_vs_oracle import compare_join, write_csv

DAY = 86400000
SNAP_COLS = ["ts", "w", "stock", "color"]
MUT_COLS = SNAP_COLS + ["mutation_ts", "is_before"]
SNAP_SCHEMA = {"ts": "long", "w": "string", "stock": "long", "color": "string"}
MUT_SCHEMA = dict(SNAP_SCHEMA, mutation_ts="long", is_before="boolean")
SNAP_LOAD = "ts:int64,w:string,stock:int64,color:string"
MUT_LOAD = SNAP_LOAD + ",mutation_ts:int64,is_before:bool"
LEFT_COLS = ["ts", "w", "tag"]
LEFT_SCHEMA = {"ts": "long", "w": "string", "tag": "string"}
LEFT_LOAD = "ts:int64,w:string,tag:string"
OPS = {"SUM": 7, "COUNT": 6, "AVERAGE": 8, "MIN": 0, "MAX": 1, "LAST": 3, "LAST_K": 13, "UNIQUE_COUNT": 4,
       "FIRST": 2, "HISTOGRAM": 17, "VARIANCE": 9}
DELETABLE = {"SUM", "COUNT", "AVERAGE", "HISTOGRAM"}


def ms(text):
    day, _, clock = text.partition(" ")
    h, m, s = (clock or "00:00:00").split(":")
    sec, _, frac = s.partition(".")
    return co.ds_to_epoch(day) + ((int(h) * 60 + int(m)) * 60 + int(sec)) * 1000 + int((frac + "000")[:3])


def write_bool_csv(path, rows, cols, schema):
    """write_csv with booleans as true/false (the loader's spelling)."""
    rows = [{c: (("true" if v else "false") if isinstance(v, bool) else v) for c, v in r.items()} for r in rows]
    write_csv(path, rows, cols, schema)


def repo(root, snap, muts, left):
    """Warehouse with raw.snap, raw.muts and raw.left (tables without rows not loaded) and
    the oracle's tables."""
    os.makedirs(os.path.join(root, "production", "joins", "t"), exist_ok=True)
    wh = Warehouse(root)
    tables = {}
    for name, rows, cols, schema, load in [("raw.snap", snap, SNAP_COLS, SNAP_SCHEMA, SNAP_LOAD),
                                           ("raw.muts", muts, MUT_COLS, MUT_SCHEMA, MUT_LOAD),
                                           ("raw.left", left, LEFT_COLS, LEFT_SCHEMA, LEFT_LOAD)]:
        path = os.path.join(root, name + ".csv")
        write_bool_csv(path, rows, cols, schema)
        if rows:
            wh.load(path, name, load)
        tables[name] = co.load_table(name, path)
    return wh, tables


def gb_conf(aggs, name="t.stock", mutation_table="raw.muts", selects=True, query_extra=None):
    q = {"timeColumn": "ts"}
    if selects:
        q["selects"] = {"w": "w", "stock": "stock", "color": "color"}
    q.update(query_extra or {})
    return {"metaData": {"name": name, "outputNamespace": "out", "team": "t"}, "keyColumns": ["w"],
            "sources": [{"entities": {"snapshotTable": "raw.snap", "mutationTable": mutation_table,
                                      "mutationTopic": "muts", "query": q}}],
            "aggregations": aggs}


def join_conf(name, gb, prefix="f"):
    left = {"events": {"table": "raw.left", "query": {
        "selects": {"w": "w", "tag": "tag", "ts": "ts"}, "timeColumn": "ts"}}}
    return {"metaData": {"name": "t." + name, "outputNamespace": "out", "team": "t"}, "left": left,
            "joinParts": [{"groupBy": gb, "prefix": prefix}]}


def table_dir(wh, table):
    ns, name = table.split(".")
    return os.path.join(wh.wh, ns + ".db", name)


def run_mode(wh, root, conf, mode, *args):
    """chronon run --mode <mode> of a join conf (written under production/joins/t)."""
    name = conf["metaData"]["name"].split(".", 1)[1]
    with open(os.path.join(root, "production", "joins", "t", name), "w") as f:
        json.dump(conf, f)
    return run_cmd([CHRONON, "run", "--mode", mode, "--repo", root, "--conf", "production/joins/t/" + name]
                   + list(args), wh.env())


def run_join(wh, root, conf, end, start):
    p = run_mode(wh, root, conf, "backfill", "--start-ds", start, "--end-ds", end)
    return p, ("out.t_" + conf["metaData"]["name"].split(".", 1)[1])


def example_5_2_rows():
    snap = [{"ds": "2025-02-02", "ts": ms("2025-02-01 08:00:00"), "w": "w1", "stock": 10},
            {"ds": "2025-02-02", "ts": ms("2025-02-02 09:00:00"), "w": "w1", "stock": 4}]
    muts = [  # B updated 4 -> 9 at 06:00; A deleted at 07:00; C inserted at 18:30
        {"ts": ms("2025-02-02 09:00:00"), "stock": 4, "mutation_ts": ms("2025-02-03 06:00:00"), "is_before": True},
        {"ts": ms("2025-02-03 06:00:00"), "stock": 9, "mutation_ts": ms("2025-02-03 06:00:00"), "is_before": False},
        {"ts": ms("2025-02-01 08:00:00"), "stock": 10, "mutation_ts": ms("2025-02-03 07:00:00"), "is_before": True},
        {"ts": ms("2025-02-03 18:30:00"), "stock": 1, "mutation_ts": ms("2025-02-03 18:30:00"), "is_before": False}]
    for m in muts:
        m.update(ds="2025-02-03", w="w1", color=None)
    for r in snap:
        r["color"] = None
    return snap, muts


def test_example_5_2_through_a_join(tmp_path):
    snap, muts = example_5_2_rows()
    qs = ["2025-02-03 05:00:00", "2025-02-03 06:00:00", "2025-02-03 12:00:00", "2025-02-03 18:30:00.001"]
    left = [{"ds": "2025-02-03", "ts": ms(q), "w": "w1", "tag": q} for q in qs]
    left.append({"ds": "2025-02-03", "ts": ms("2025-02-03 12:00:00"), "w": "nobody", "tag": "none"})
    root = str(tmp_path)
    wh, tables = repo(root, snap, muts, left)
    aggs = [{"inputColumn": "stock", "operation": OPS[o], "argMap": {}} for o in ("SUM", "COUNT", "MAX")]
    conf = join_conf("ex52", gb_conf(aggs, mutation_table="raw.muts/hr=00:00"))
    p, table = run_join(wh, root, conf, "2025-02-03", "2025-02-03")
    assert p.returncode == 0, p.stderr
    assert os.path.isdir(table_dir(wh, table))
    # D8: said once, naming the column that keeps deleted rows
    assert p.stderr.count("ignore the deletes") == 1 and "1 of its columns (stock_max)" in p.stderr, p.stderr
    got = {r["tag"]: (r["f_t_stock_stock_sum"], r["f_t_stock_stock_count"], r["f_t_stock_stock_max"])
           for r in wh.rows(table)}
    assert got == {"2025-02-03 05:00:00": (14, 2, 10), "2025-02-03 06:00:00": (14, 2, 10),
                   "2025-02-03 12:00:00": (9, 1, 10), "2025-02-03 18:30:00.001": (10, 2, 10),
                   "none": (None, None, None)}
    compare_join(wh.rows(table), co.join_backfill(conf, tables, "2025-02-03", "2025-02-03"), where="ex52")


def test_snapshot_accuracy_ignores_mutations(tmp_path):
    """An explicit SNAPSHOT accuracy makes the part use snapshot X-1 (section 6); mutations
    feed only TEMPORAL parts, so every q of Example 5.2 sees the snapshot's 14, 2, 10."""
    snap, muts = example_5_2_rows()
    qs = ["2025-02-03 05:00:00", "2025-02-03 12:00:00", "2025-02-03 18:30:00.001"]
    left = [{"ds": "2025-02-03", "ts": ms(q), "w": "w1", "tag": q} for q in qs]
    root = str(tmp_path)
    wh, tables = repo(root, snap, muts, left)
    aggs = [{"inputColumn": "stock", "operation": OPS[o], "argMap": {}} for o in ("SUM", "COUNT", "MAX")]
    gb = gb_conf(aggs)
    gb["accuracy"] = 1
    conf = join_conf("snapacc", gb)
    p, table = run_join(wh, root, conf, "2025-02-03", "2025-02-03")
    assert p.returncode == 0, p.stderr
    got = sorted((r["f_t_stock_stock_sum"], r["f_t_stock_stock_count"], r["f_t_stock_stock_max"])
                 for r in wh.rows(table))
    assert got == [(14, 2, 10)] * 3
    compare_join(wh.rows(table), co.join_backfill(conf, tables, "2025-02-03", "2025-02-03"), where="snapacc")


def test_windows_per_query_d7_and_inverse_ir_n5(tmp_path):
    """D7: a 1h window, row ts 00:30 inserted at 01:00: in at 01:10, out at 02:00. N5: a
    delete of a row absent from the snapshot starts an inverse IR (COUNT -1, SUM -4), MAX
    ignores it (D8)."""
    muts = [{"ds": "2025-02-03", "w": "w1", "ts": ms("2025-02-03 00:30:00"), "stock": 1,
             "mutation_ts": ms("2025-02-03 01:00:00"), "is_before": False, "color": None},
            {"ds": "2025-02-03", "w": "w2", "ts": ms("2025-02-01 00:00:00"), "stock": 4,
             "mutation_ts": ms("2025-02-03 01:00:00"), "is_before": True, "color": None}]
    snap = [{"ds": "2025-02-02", "w": "w3", "ts": ms("2025-02-02 01:00:00"), "stock": 2, "color": None}]
    left = [{"ds": "2025-02-03", "ts": ms("2025-02-03 " + t), "w": w, "tag": w + t}
            for w in ("w1", "w2") for t in ("00:59:59", "01:10:00", "02:00:00")]
    root = str(tmp_path)
    wh, tables = repo(root, snap, muts, left)
    aggs = [{"inputColumn": "stock", "operation": 6, "argMap": {}, "windows": [{"length": 1, "timeUnit": 0}]},
            {"inputColumn": "stock", "operation": 7, "argMap": {}},
            {"inputColumn": "stock", "operation": 1, "argMap": {}}]
    conf = join_conf("d7", gb_conf(aggs))
    p, table = run_join(wh, root, conf, "2025-02-03", "2025-02-03")
    assert p.returncode == 0, p.stderr
    got = {r["tag"]: (r["f_t_stock_stock_count_1h"], r["f_t_stock_stock_sum"], r["f_t_stock_stock_max"])
           for r in wh.rows(table)}
    assert got["w101:10:00"] == (1, 1, 1)
    assert got["w102:00:00"] == (None, 1, 1)
    assert got["w100:59:59"] == (None, None, None)
    assert got["w201:10:00"] == (None, -4, None)
    compare_join(wh.rows(table), co.join_backfill(conf, tables, "2025-02-03", "2025-02-03"), where="d7")


def test_deleting_every_row(tmp_path):
    """The key's only snapshot row deleted: COUNT 0, SUM 0 (IRs present), AVERAGE null (count
    0 gives NaN, N4), the HISTOGRAM entry removed (an empty map), MAX keeps it (D8); a row inserted 1 ms
    later counts alone for the deletable operations and MAX still has the deleted 2."""
    snap = [{"ds": "2025-02-02", "w": "w3", "ts": ms("2025-02-02 01:00:00"), "stock": 2, "color": "red"}]
    muts = [{"ds": "2025-02-03", "w": "w3", "ts": ms("2025-02-02 01:00:00"), "stock": 2, "color": "red",
             "mutation_ts": ms("2025-02-03 01:00:00"), "is_before": True},
            {"ds": "2025-02-03", "w": "w3", "ts": ms("2025-02-03 01:00:00"), "stock": 1, "color": "blue",
             "mutation_ts": ms("2025-02-03 01:00:00.001"), "is_before": False}]
    left = [{"ds": "2025-02-03", "ts": ms("2025-02-03 " + t), "w": "w3", "tag": t}
            for t in ("01:00:00", "01:00:00.001", "01:00:00.002")]
    root = str(tmp_path)
    wh, tables = repo(root, snap, muts, left)
    aggs = [{"inputColumn": c, "operation": OPS[o], "argMap": {}}
            for c, o in (("stock", "COUNT"), ("stock", "SUM"), ("stock", "AVERAGE"), ("color", "HISTOGRAM"),
                         ("stock", "MAX"))]
    conf = join_conf("del", gb_conf(aggs))
    p, table = run_join(wh, root, conf, "2025-02-03", "2025-02-03")
    assert p.returncode == 0, p.stderr
    cols = ["stock_count", "stock_sum", "stock_average", "color_histogram", "stock_max"]
    got = {r["tag"]: tuple(r["f_t_stock_" + c] for c in cols) for r in wh.rows(table)}
    assert got["01:00:00"] == (1, 2, 2.0, {"red": 1}, 2)
    assert got["01:00:00.001"][:3] == (0, 0, None) and got["01:00:00.001"][4] == 2
    assert got["01:00:00.001"][3] == {}
    assert got["01:00:00.002"] == (1, 1, 1.0, {"blue": 1}, 2)
    compare_join(wh.rows(table), co.join_backfill(conf, tables, "2025-02-03", "2025-02-03"), where="del")


def test_mutation_day_and_long_window_tails(tmp_path):
    """Only partition X's rows with B <= mutation_ts count on day X (a row of partition X with
    mutation_ts before B, and the rows of X-1, do not). A 300h window (12.5 days, hop 1 day):
    at q = B+1h the tail is floor(q-W, 1d) = B-13d; a snapshot row at B-12.75d is also
    below B-W and does not count (D1), the same row inserted by a mutation does (step 3 of
    section 5 has no B-W bound)."""
    b = ms("2025-02-20 00:00:00")
    old = b - 12 * DAY - 18 * 3600000                       # B - 12.75d
    snap = [{"ds": "2025-02-19", "w": "w1", "ts": old, "stock": 100, "color": None}]
    muts = [{"ds": "2025-02-20", "w": "w2", "ts": old, "stock": 10, "color": None, "mutation_ts": b,
             "is_before": False},
            {"ds": "2025-02-20", "w": "w1", "ts": b - 5, "stock": 1000, "color": None, "mutation_ts": b - 1,
             "is_before": False},
            {"ds": "2025-02-19", "w": "w1", "ts": b - 3, "stock": 10000, "color": None, "mutation_ts": b - 2,
             "is_before": False}]
    left = [{"ds": "2025-02-20", "ts": b + 3600000, "w": w, "tag": w} for w in ("w1", "w2")]
    root = str(tmp_path)
    wh, tables = repo(root, snap, muts, left)
    aggs = [{"inputColumn": "stock", "operation": OPS["SUM"], "argMap": {},
             "windows": [{"length": 300, "timeUnit": 0}, {"length": 2147483647, "timeUnit": 1}]}]
    conf = join_conf("tails", gb_conf(aggs))
    p, table = run_join(wh, root, conf, "2025-02-20", "2025-02-20")
    assert p.returncode == 0, p.stderr
    assert "ignore the deletes" not in p.stderr   # SUM undoes them (D8)
    got = {r["tag"]: (r["f_t_stock_stock_sum_300h"], r["f_t_stock_stock_sum"]) for r in wh.rows(table)}
    assert got == {"w1": (None, 100), "w2": (10, 10)}
    compare_join(wh.rows(table), co.join_backfill(conf, tables, "2025-02-20", "2025-02-20"), where="tails")


# --------------------------------------------------------------------------- random

BASE = "2025-03-01"


def gen_case(rnd):
    """Entity snapshots per day with the day's mutations replayed on them: updates (before +
    after), inserts (also of keys without snapshot rows), deletes, deletes of rows no
    snapshot holds (inverse IRs, N5), mutation_ts ties and at B, rows whose ts is days
    before the day (the B-W bound of long windows) or after their mutation time (and after
    q: they never count), null values, and left rows exactly at mutation times, 1 ms
    after, at B, with null keys and with keys without data."""
    n_days = rnd.randint(2, 4)
    e0 = co.ds_to_epoch(BASE)
    keys = ["w%d" % i for i in range(5)]
    colors = ["red", "blue", "green", None]
    state = {}   # (key, row id) -> (ts, stock, color)
    snap, muts, left = [], [], []
    rid = 0
    for d in range(n_days):
        ds = co.ds_add(BASE, d)
        day0 = e0 + d * DAY
        for _ in range(rnd.randint(0, 12)):
            mt = day0 + rnd.choice([0, DAY - 1, rnd.randint(0, DAY - 1), rnd.randint(0, DAY - 1)])
            if muts and rnd.random() < 0.15:
                mt = max(day0, muts[-1]["mutation_ts"])                    # tie with the last one
            kind = rnd.choice(["insert", "update", "delete"]) if state else "insert"
            if rnd.random() < 0.08:
                kind = "orphan"
            if kind in ("insert", "orphan"):
                k = rnd.choice(keys)
                x = rnd.random()
                ts = (mt if x < 0.55 else mt - rnd.randint(0, 3 * DAY) if x < 0.85 else
                      mt - rnd.randint(0, 16 * DAY) if x < 0.95 else mt + rnd.randint(1, DAY))  # ts after q too
                stock = None if rnd.random() < 0.1 else rnd.randint(-5, 30)
                color = rnd.choice(colors)
                if kind == "orphan":   # a delete of a row no snapshot holds
                    muts.append(dict(ds=ds, w=k, ts=ts, stock=stock, color=color, mutation_ts=mt, is_before=True))
                    continue
                rid += 1
                state[(k, rid)] = (ts, stock, color)
                muts.append(dict(ds=ds, w=k, ts=ts, stock=stock, color=color, mutation_ts=mt, is_before=False))
            else:
                (k, r), (ts, stock, color) = rnd.choice(sorted(state.items(), key=lambda kv: kv[0]))
                muts.append(dict(ds=ds, w=k, ts=ts, stock=stock, color=color, mutation_ts=mt, is_before=True))
                if kind == "update":
                    nts = mt if rnd.random() < 0.8 else ts
                    nstock = rnd.randint(-5, 30)
                    ncolor = rnd.choice(colors)
                    state[(k, r)] = (nts, nstock, ncolor)
                    muts.append(dict(ds=ds, w=k, ts=nts, stock=nstock, color=ncolor, mutation_ts=mt,
                                     is_before=False))
                else:
                    del state[(k, r)]
        for (k, r), (ts, stock, color) in sorted(state.items(), key=lambda kv: kv[0]):
            snap.append(dict(ds=ds, w=k, ts=ts, stock=stock, color=color))
        if d == 0:
            continue
        for _ in range(rnd.randint(1, 10)):
            x = rnd.random()
            day_muts = [m for m in muts if m["ds"] == ds]
            if x < 0.3 and day_muts:
                m = rnd.choice(day_muts)
                k, ts = m["w"], m["mutation_ts"] + rnd.choice([0, 1])
            elif x < 0.4:
                k, ts = rnd.choice(keys), day0
            else:
                k, ts = rnd.choice(keys + ["nobody"]), day0 + rnd.randint(0, DAY - 1)
            if rnd.random() < 0.05:
                k = None
            left.append(dict(ds=ds, ts=min(ts, day0 + DAY - 1), w=k, tag=rnd.choice(["a", "b"])))
    return n_days, snap, muts, left


def gen_aggs(rnd):
    """1-4 aggregations, deletable and not; windows of every tail hop (5 min, 1 h, 1 d) and
    300h (12.5 days, not a whole number of its 1-day hops); some bucketed by color."""
    aggs, used = [], set()
    for _ in range(rnd.randint(1, 4)):
        op = rnd.choice(sorted(OPS))
        if op in used:
            continue
        used.add(op)
        col = "color" if op == "HISTOGRAM" or (op == "UNIQUE_COUNT" and rnd.random() < 0.5) else "stock"
        a = {"inputColumn": col, "operation": OPS[op], "argMap": {"k": "2"} if op == "LAST_K" else {}}
        if rnd.random() < 0.6:
            a["windows"] = [{"length": w, "timeUnit": u} for w, u in
                            rnd.sample([(1, 0), (6, 0), (1, 1), (2, 1), (12, 0), (14, 1), (300, 0)],
                                       rnd.randint(1, 2))]
        if col == "stock" and op in ("SUM", "COUNT", "MAX") and rnd.random() < 0.3:
            a["buckets"] = ["color"]
        aggs.append(a)
    return aggs


def run_random(tmp, seed):
    rnd = random.Random(seed)
    # a draw without snapshot, mutation or left rows (about one in thirteen) is drawn
    # again: its tables would not exist (a missing table is test_bad_mutation_tables'),
    # and skipping it failed the floor below under ASan about one run in fifteen
    while True:
        n_days, snap, muts, left = gen_case(rnd)
        if left and snap and muts:
            break
    root = os.path.join(str(tmp), "m%d" % seed)
    wh, tables = repo(root, snap, muts, left)
    conf = join_conf("r%d" % seed, gb_conf(gen_aggs(rnd), name="t.stock%d" % seed, selects=rnd.random() < 0.8))
    end = co.ds_add(BASE, n_days - 1)
    want = co.join_backfill(conf, tables, end, co.ds_add(BASE, 1))
    p, table = run_join(wh, root, conf, end, co.ds_add(BASE, 1))
    assert p.returncode == 0, p.stderr
    n = compare_join(wh.rows(table), want, where="seed %d" % seed)
    if seed % 4 == 0:   # split mode (section 6) gives the same rows, one day per step
        split = dict(conf, metaData=dict(conf["metaData"], name="t.s%d" % seed))
        rng = ["--start-ds", co.ds_add(BASE, 1), "--end-ds", end, "--step-days", "1"]
        for mode, extra in (("backfill-left", []), ("backfill", ["--selected-join-parts", "f_t_stock%d" % seed]),
                            ("backfill-final", [])):
            ps = run_mode(wh, root, split, mode, *(rng + extra))
            assert ps.returncode == 0, "seed %d: %s: %s" % (seed, mode, ps.stderr)
        compare_join(wh.rows("out.t_s%d" % seed), want, where="seed %d split" % seed)
    return n


def sanitizer_build():
    """Whether CN_BUILD_DIR is an ASan build, whose processes start several times slower."""
    try:
        with open(os.path.join(BUILD, "CMakeCache.txt")) as f:
            return "CN_ASAN:BOOL=ON" in f.read()
    except OSError:
        return False


def test_random_mutation_joins_match_oracle(tmp_path):
    seeds = case_seeds(6 if sanitizer_build() else 16)
    rows = each_seed(seeds, lambda s: run_random(tmp_path, s))
    assert sum(1 for r in rows if r) >= len(seeds) * 0.7, "too few cases compared"


# --------------------------------------------------------------------------- bad input

def test_bad_mutation_tables(tmp_path):
    """One error naming the mutation table and the column or Query field, non-zero exit,
    no output table."""
    snap, muts = example_5_2_rows()
    left = [{"ds": "2025-02-03", "ts": ms("2025-02-03 12:00:00"), "w": "w1", "tag": "a"}]
    root = str(tmp_path)
    wh, _ = repo(root, snap, muts, left)
    for name, drop in (("raw.norev", "is_before"), ("raw.nomts", "mutation_ts")):
        cols = [c for c in MUT_COLS if c != drop]
        path = os.path.join(root, name + ".csv")
        write_bool_csv(path, muts, cols, {c: MUT_SCHEMA[c] for c in cols})
        wh.load(path, name, ",".join(x for x in MUT_LOAD.split(",") if not x.startswith(drop + ":")))
    aggs = [{"inputColumn": "stock", "operation": 7, "argMap": {}}]
    cases = [
        (gb_conf(aggs, mutation_table="raw.nope"), ["raw.nope", "not found"]),
        (gb_conf(aggs, mutation_table="raw.norev"), ["raw.norev", "query.reversalColumn", "is_before",
                                                      "unknown column"]),
        (gb_conf(aggs, mutation_table="raw.nomts"), ["raw.nomts", "query.mutationTimeColumn", "mutation_ts",
                                                      "unknown column"]),
        (gb_conf(aggs, mutation_table="raw.norev", selects=False), ["raw.norev", "no column is_before",
                                                                     "query.reversalColumn"]),
        (gb_conf(aggs, mutation_table="raw.nomts", selects=False), ["raw.nomts", "no column mutation_ts",
                                                                     "query.mutationTimeColumn"]),
        (gb_conf(aggs, query_extra={"reversalColumn": "stock"}), ["raw.muts", "reversal column stock",
                                                                  "expected boolean"]),
        (gb_conf(aggs, query_extra={"mutationTimeColumn": "w"}), ["raw.muts", "mutation time column w",
                                                                  "expected long"]),
        (gb_conf(aggs, selects=False, query_extra={"reversalColumn": "gone"}), ["raw.muts", "no column gone"]),
    ]
    expect_bad_joins(wh, root, cases, "bad")


def expect_bad_joins(wh, root, cases, prefix):
    """Each (GroupBy, needles) of cases through a join t.<prefix><i> on 2025-02-03: a
    failure whose one line of stderr holds every needle, and no output table."""
    for i, (gb, needles) in enumerate(cases):
        p, table = run_join(wh, root, join_conf("%s%d" % (prefix, i), gb), "2025-02-03", "2025-02-03")
        assert p.returncode != 0, "case %d succeeded" % i
        for n in needles:
            assert n in p.stderr, "case %d: %r not in %s" % (i, n, p.stderr)
        assert len(p.stderr.strip().splitlines()) == 1, "case %d: %s" % (i, p.stderr)
        assert not os.path.exists(table_dir(wh, table)), "case %d wrote output" % i


# --------------------------------------------------------------------------- GroupBy alone

def write_gb(root, gb):
    name = gb["metaData"]["name"].split(".", 1)[1]
    os.makedirs(os.path.join(root, "production", "group_bys", "t"), exist_ok=True)
    with open(os.path.join(root, "production", "group_bys", "t", name), "w") as f:
        json.dump(gb, f)
    return "production/group_bys/t/" + name


def test_groupby_backfill_ignores_mutations(tmp_path):
    """compute.md section 5: a GroupBy backfill is daily snapshots of the entity partitions
    and mutations feed only TEMPORAL joins and fetch, so the mutationTable is not read (not
    even when it does not exist) and the output equals the oracle's snapshots."""
    rnd = random.Random(7)
    n_days, snap, muts, left = gen_case(rnd)
    root = str(tmp_path)
    wh, tables = repo(root, snap, muts, left)
    aggs = [{"inputColumn": "stock", "operation": OPS[o], "argMap": {},
             "windows": [{"length": 1, "timeUnit": 1}, {"length": 2147483647, "timeUnit": 1}]}
            for o in ("SUM", "COUNT", "MAX")]
    end = co.ds_add(BASE, n_days - 1)
    outs = []
    for i, mt in enumerate(["raw.muts", "raw.absent"]):
        gb = gb_conf(aggs, name="t.alone%d" % i, mutation_table=mt)
        p = wh.run(root, write_gb(root, gb), "--start-ds", BASE, "--end-ds", end, check=False)
        assert p.returncode == 0, p.stderr
        got = wh.rows("out.t_alone%d" % i)
        want = co.groupby_backfill(gb, tables, end, BASE)
        assert compare(got, want, ["w"], where="alone%d" % i) >= n_days
        outs.append([{c: v for c, v in r.items()} for r in got])
    assert outs[0] == outs[1]


def test_upload_and_fetch_serve_the_snapshot(tmp_path):
    """Upload of day D (TEMPORAL entities: the batch IR of partition D, compute.md 8.1) and
    fetch at q on D+1: without streaming data (mutations reach fetch only through the
    mutationTopic stream) the value at q is the batch IR's, i.e. the join's value at q with
    no mutations of D+1 applied."""
    snap, muts = example_5_2_rows()
    snap.append({"ds": "2025-02-02", "ts": ms("2025-02-02 23:00:00"), "w": "w2", "stock": 5, "color": "red"})
    root = str(tmp_path)
    wh, tables = repo(root, snap, muts, [{"ds": "2025-02-03", "ts": ms("2025-02-03 12:00:00"), "w": "w1",
                                           "tag": "a"}])
    aggs = [{"inputColumn": "stock", "operation": OPS[o], "argMap": {},
             "windows": [{"length": 1, "timeUnit": 0}, {"length": 2, "timeUnit": 1}]} for o in ("SUM", "MAX")]
    aggs.append({"inputColumn": "stock", "operation": OPS["COUNT"], "argMap": {}})
    gb = gb_conf(aggs, name="t.online")
    gb["metaData"]["online"] = 1
    conf = write_gb(root, gb)
    cmd = [CHRONON, "run", "--repo", root, "--mode", "upload", "--conf", conf, "--ds", "2025-02-02"]
    p = run_cmd(cmd, wh.env())
    assert p.returncode == 0, p.stderr
    no_muts = json.loads(json.dumps(gb))
    del no_muts["sources"][0]["entities"]["mutationTable"]
    n = 0
    for q in ("2025-02-03 00:00:00", "2025-02-03 00:30:00", "2025-02-03 12:00:00", "2025-02-03 23:59:59"):
        at = ms(q)
        p = subprocess.run([CHRONON, "run", "--repo", root, "--mode", "fetch", "--conf-type", "group_bys",
                            "--name", "t/online", "--at-millis", str(at)], env=wh.env(), capture_output=True,
                           text=True, input='{"w": "w1"}\n{"w": "w2"}\n', timeout=120)
        assert p.returncode == 0, p.stderr
        got = [json.loads(x) for x in p.stdout.splitlines() if x.strip()]
        for key, g in zip(("w1", "w2"), got):
            want = co.groupby_value_at(no_muts, tables, {"w": key}, at) or {}
            want = norm(co.to_json_value(want))
            for c, v in g.items():
                assert close(norm(v), want.get(c)), "%s %s at %s: got %r, oracle %r" % (key, c, q, v, want.get(c))
                n += v is not None
    assert n > 10
