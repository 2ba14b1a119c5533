"""The range pass (src/engine/range.c): a multi-day backfill of SUM, COUNT, AVERAGE, MIN,
MAX, LAST_K and FIRST_K over one long column folds every day of the range in one pass.
Each random GroupBy (windows in hours and days, unwindowed parts, string, long and
two-column keys, null keys and values, ties on ts, events on day and hour edges, late
events, wheres) is backfilled four ways over the same data, all without the tile store:
one range run (which must take the range pass), the same on three threads (its grouping
splits the rows among them), one run per day (the one-day key fold), and one range run
with CN_ENG_FOLD=0 (tiles built in memory, the generic path). All four must write the
same rows, and a few days must equal the oracle. Even seeds drop the late events and
their first GroupBy has no MIN or MAX, so the range pass takes its running-sum path
(every row visible from its ts day on); odd seeds keep them (the row-by-row path). Every
day has input (a day without any splits the range into separate runs).
CN_TEST_SEED=<seed> replays one dataset, CN_TEST_CASES=<n> runs more (default 3, two
GroupBys each)."""

import glob
import json
import os
import random
import subprocess

from engine_util import CHRONON, case_seeds, co, compare, each_seed
from test_groupby_fold import FOLD, FOLD_OPS, PER_DATASET, ROWS, gen_conf as fold_conf, run
from test_groupby_property import BASE_DAY, DAY, gen_rows, load_dataset, write_conf



def gen_conf(rnd, name):
    """The fold test's random GroupBy, some windows redrawn in hours (which need TEMPORAL
    accuracy, D21; the backfill still writes daily snapshots)."""
    conf = fold_conf(rnd, name)
    for a in conf["aggregations"]:
        if "windows" in a and rnd.random() < 0.5:
            wins = rnd.sample([(1, 0), (5, 0), (30, 0), (1, 1), (2, 1), (7, 1)], rnd.randint(1, 3))
            a["windows"] = [{"length": n, "timeUnit": u} for n, u in sorted(wins)]
    hours = any(w["timeUnit"] == 0 for a in conf["aggregations"] for w in a.get("windows", []))
    conf["accuracy"] = 0 if hours else 1
    return conf


def run_dataset(tmp, seed):
    rnd = random.Random(seed)
    n_days = rnd.randint(8, 12)
    rows = gen_rows(rnd, n_days, False)
    ontime = seed % 2 == 0
    if ontime:  # no row stored after its ts day
        rows = [r for r in rows if co.ds_to_epoch(r["ds"]) <= r["ts"]]
    # a row on every day: a day without input splits the range into separate runs
    have = {r["ds"] for r in rows}
    rows += [{"ds": co.ds_add(BASE_DAY, d), "ts": co.ds_to_epoch(BASE_DAY) + d * DAY + 7, "k1": "fill", "k2": 1,
              "v": d, "x": None, "cat": None} for d in range(n_days) if co.ds_add(BASE_DAY, d) not in have]
    # ties: copies of some rows at the same ts with other values
    rows += [dict(r, v=rnd.randint(-50, 50)) for r in rnd.sample(rows, len(rows) // 10)]
    root = os.path.join(str(tmp), "r%d" % seed)
    table, wh = load_dataset(root, rows)
    present = sorted({r["ds"] for r in rows})
    first, last = present[1], present[-1]
    counts = []
    for i in range(PER_DATASET):
        conf = gen_conf(rnd, "g%d" % i)
        if ontime and i == 0:
            aggs = [a for a in conf["aggregations"] if a["operation"] not in (FOLD_OPS["MIN"], FOLD_OPS["MAX"])]
            conf["aggregations"] = aggs or [{"inputColumn": "v", "operation": FOLD_OPS["SUM"]}]
        no_minmax = all(a["operation"] not in (FOLD_OPS["MIN"], FOLD_OPS["MAX"]) for a in conf["aggregations"])
        out = {}
        for mode in ("range", "range3", "days", "generic"):
            name = "g%d_%s" % (i, mode)
            write_conf(root, conf, name)
            if mode == "range3":  # the grouping's threads change nothing (it may use them all)
                assert "range fold" in run(wh, root, name, dict(FOLD, CN_THREADS="3"), "--start-ds", first, "--end-ds", last)
            elif mode == "range":
                # without the tile store (the few keys here are dense enough for tiles to pay)
                log = run(wh, root, name, FOLD, "--start-ds", first, "--end-ds", last)
                assert "range fold" in log, log
                # running sums take SUM/COUNT-like operations over rows stored by their ts day:
                # always so on an on-time dataset; with late rows in the table it depends on
                # whether the GroupBy reads one of them (its wheres, keys, values and windows
                # decide), and the comparisons below check the values either way
                if ontime or not no_minmax:
                    assert ("(running sums)" in log) == (ontime and no_minmax), log
            elif mode == "days":
                for ds in present:
                    if first <= ds <= last:
                        assert "range fold" not in run(wh, root, name, FOLD, "--ds", ds)
            else:  # CN_ENG_FOLD=0: tiles built in memory, the generic path
                assert "range fold" not in run(wh, root, name, ROWS, "--start-ds", first, "--end-ds", last)
            got = wh.rows("out.t_" + name)
            if mode == "range":  # output days as Spark writes Chronon's tables: snappy
                files = glob.glob(os.path.join(wh.wh, "out.db", "t_" + name, "data", "ds=*", "*.parquet"))
                p = subprocess.run([CHRONON, "parquet", "stats", files[0], "--json"], capture_output=True, text=True)
                assert p.returncode == 0, p.stderr
                stats = json.loads(p.stdout)
                assert {c["codec"] for g in stats["row_groups"] for c in g["columns"]} == {"SNAPPY"}, stats
            out[mode] = sorted(json.dumps(r, sort_keys=True) for r in got)
            if mode == "range":
                for ds in rnd.sample(present[1:], 2):
                    want = co.groupby_backfill(conf, {"raw.ev": table}, ds, ds)
                    compare([r for r in got if r["ds"] == ds], want, conf["keyColumns"],
                            where="seed %d %s %s" % (seed, name, ds))
        counts.append(len(out["range"]))
        assert out["range"] == out["range3"], "seed %d GroupBy %d: range pass on the default threads and on 3 differ" % (seed, i)
        assert out["range"] == out["days"], "seed %d GroupBy %d: range pass and one-day runs differ" % (seed, i)
        assert out["range"] == out["generic"], "seed %d GroupBy %d: range pass and generic path differ" % (seed, i)
    return counts


def test_range_pass_equals_one_day_runs(tmp_path):
    seeds = case_seeds(3)
    counts = sum(each_seed(seeds, lambda s: run_dataset(tmp_path, s)), [])
    # A GroupBy with a where and an hour window can keep only a few rows; the comparisons
    # above mean something only if the run as a whole compared many rows.
    print("rows per GroupBy", counts)
    assert max(counts) > 10 and sum(counts) >= 10 * len(counts), counts


def test_tile_store_used_only_when_it_pays(tmp_path):
    """A range-pass GroupBy builds and reads the tile store only when rows are dense
    (several per key and day): dense rows are stored and a next-day run reads the tiles
    and scans only its new partition; sparse rows store nothing and the next-day run
    rescans its window. Either way every day equals one-day runs without tiles."""
    e0 = co.ds_to_epoch(BASE_DAY)
    for kind, n_keys, per_key in (("dense", 3, 12), ("sparse", 300, 1)):
        rnd = random.Random(n_keys)
        rows = [{"ds": co.ds_add(BASE_DAY, d), "ts": e0 + d * DAY + rnd.randint(0, DAY - 1), "k1": "u%d" % k,
                 "k2": k % 3, "v": rnd.randint(-9, 9), "x": None, "cat": None}
                for d in range(6) for k in range(n_keys) for _ in range(per_key) if rnd.random() < 0.9]
        root = os.path.join(str(tmp_path), kind)
        _, wh = load_dataset(root, rows)
        conf = {"metaData": {"name": "t.s", "outputNamespace": "out", "team": "t"},
                "sources": [{"events": {"table": "raw.ev", "query": {"selects": {"k1": "k1", "v": "v"},
                                                                        "timeColumn": "ts"}}}],
                "keyColumns": ["k1"], "accuracy": 1,
                "aggregations": [{"inputColumn": "v", "operation": 7, "windows": [{"length": 3, "timeUnit": 1}]},
                                 {"inputColumn": "v", "operation": 13, "argMap": {"k": "2"}}]}
        out = {}
        for mode in ("store", "days"):
            cmd = [CHRONON, "run", "--mode", "backfill", "--repo", root, "--conf", write_conf(root, conf, mode),
                   "--verbose"]
            if mode == "days":
                for d in range(1, 6):
                    p = subprocess.run(cmd + ["--ds", co.ds_add(BASE_DAY, d), "--no-tiles"], env=wh.env(),
                                       capture_output=True, text=True)
                    assert p.returncode == 0, p.stderr
            else:
                p = subprocess.run(cmd + ["--start-ds", co.ds_add(BASE_DAY, 1), "--end-ds", co.ds_add(BASE_DAY, 4)],
                                   env=wh.env(), capture_output=True, text=True)
                assert p.returncode == 0, p.stderr
                written = int(p.stderr.split("tiles written ")[1].split(",")[0])
                assert (written > 0) == (kind == "dense"), p.stderr
                p = subprocess.run(cmd + ["--ds", co.ds_add(BASE_DAY, 5)], env=wh.env(), capture_output=True, text=True)
                assert p.returncode == 0, p.stderr
                read = int(p.stderr.split("tiles read ")[1].split(",")[0])
                scanned = int(p.stderr.split("rows scanned ")[1].split(",")[0])
                if kind == "dense":  # unwindowed LAST_K: every stored day comes from the store
                    assert read > 0 and scanned == sum(1 for r in rows if r["ds"] == co.ds_add(BASE_DAY, 5)), p.stderr
                else:
                    assert read == 0 and "rows rescanned" in p.stderr and scanned == len(rows), p.stderr
            out[mode] = sorted(json.dumps(dict(r, ds=r["ds"]), sort_keys=True) for r in wh.rows("out.t_" + mode))
        assert len(out["days"]) >= 5 and out["store"] == out["days"], kind
