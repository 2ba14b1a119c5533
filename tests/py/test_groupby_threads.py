"""The key fold on several threads (src/engine/compute.c: workers fold chunks of output
rows while the caller writes them) against one thread: random fold GroupBys over enough
keys for several output chunks (65536 rows each) must write the same rows in the same
order with CN_THREADS=1 and CN_THREADS=3, and the one-thread rows equal the generic row
path's (CN_ENG_FOLD=0). Long, string and two-column keys, null keys and values, events on
day edges, late events. CN_TEST_SEED=<seed> replays one dataset, CN_TEST_CASES=<n> runs n
datasets (default 1)."""

import json
import os
import random

from engine_util import DUMP, case_seeds, co, each_seed, run_cmd
from test_groupby_fold import gen_conf, run
from test_groupby_property import BASE_DAY, DAY, load_dataset, write_conf
from test_groupby_property import gen_rows as gen_small_rows

N_DAYS = 3
N_KEYS = 250000  # keys with rows on one day: more than a chunk of written rows


def gen_rows(rnd):
    rows = []
    e0 = co.ds_to_epoch(BASE_DAY)
    for d in range(N_DAYS):
        ds = co.ds_add(BASE_DAY, d)
        # the last day: over a chunk of keys even for a 1-day window with a where, null keys
        # and late rows left out (100000 rows gave 64040 keys on seed 130985966)
        for _ in range(140000 if d == N_DAYS - 1 else 25000):
            k = rnd.randrange(N_KEYS)
            k1 = None if rnd.random() < 0.03 else "u%d" % k
            k2 = None if rnd.random() < 0.03 else k
            edge = rnd.random()
            if edge < 0.05:
                ts = e0 + d * DAY
            elif edge < 0.1:
                ts = e0 + (d + 1) * DAY - 1
            elif edge < 0.15 and d > 0:
                ts = e0 + (d - 1) * DAY + rnd.randrange(DAY)  # late: stored a day after
            else:
                ts = e0 + d * DAY + rnd.randrange(DAY)
            v = None if rnd.random() < 0.1 else rnd.randint(-50, 50)
            rows.append({"ds": ds, "ts": ts, "k1": k1, "k2": k2, "v": v, "x": None, "cat": None})
    return rows


def dump(wh, table):
    p = run_cmd([DUMP, wh.wh, wh.cat, table])
    assert p.returncode == 0, p.stderr
    return p.stdout.splitlines()


def compare_threads(wh, root, conf, i, seed, last, hows, two=None):
    """Runs conf each way of hows ((label, env) pairs; label tN: N threads) for day last and
    the two days ending on day two; returns {label: dumped rows}."""
    two = two or co.ds_add(last, -1)
    out = {}
    for how, env in hows:
        name = "g%d_%s" % (i, how)
        write_conf(root, conf, name)
        log = run(wh, root, name, env, "--ds", last)
        log += run(wh, root, name, env, "--start-ds", co.ds_add(two, -1), "--end-ds", two)
        if how.startswith("t") and how != "t1":
            assert "(%s threads)" % how[1:] in log, log
        if how != "rows":
            assert "key fold" in log, log
        out[how] = dump(wh, "out.t_" + name)
    for how in out:
        assert how == "rows" or out[how] == out["t1"], "GroupBy %d of seed %d: %s and t1 differ" % (i, seed, how)
    return out


def test_threads_with_fewer_keys_than_threads(tmp_path):
    """At most 8 keys: no more key buckets than the 8 threads, one output chunk."""
    each_seed(case_seeds(1), lambda s: fewer_keys_case(tmp_path, s))


def fewer_keys_case(tmp, seed):
    rnd = random.Random(seed)
    root = os.path.join(str(tmp), "s%d" % seed)
    rows = gen_small_rows(rnd, 5, False)
    for r in rows:  # keys k1 in {hot, u1, null}, k2 in {0, 1, null}
        r["k1"] = r["k1"] and ("hot" if r["k1"] == "hot" else "u1")
        r["k2"] = None if r["k2"] is None else r["k2"] % 2
    _, wh = load_dataset(root, rows)
    present = sorted({r["ds"] for r in rows})
    for i in range(3):
        compare_threads(wh, root, gen_conf(rnd, "g"), i, seed, present[-1],
                        (("t1", {"CN_THREADS": "1"}), ("t8", {"CN_THREADS": "8"})), two=rnd.choice(present))


def test_threads_write_what_one_thread_writes(tmp_path):
    each_seed(case_seeds(1), lambda s: threads_case(tmp_path, s))


def threads_case(tmp, seed):
    rnd = random.Random(seed)
    root = os.path.join(str(tmp), "t%d" % seed)
    _, wh = load_dataset(root, gen_rows(rnd))
    last = co.ds_add(BASE_DAY, N_DAYS - 1)
    for i in range(2):
        hows = [("t1", {"CN_THREADS": "1"}), ("t3", {"CN_THREADS": "3"})]
        if not i:
            hows.append(("rows", {"CN_ENG_FOLD": "0"}))  # the generic path once: it is the slow one
        out = compare_threads(wh, root, gen_conf(rnd, "g"), i, seed, last, hows)
        rows_last = sum(1 for line in out["t1"] if json.loads(line)["ds"] == last)
        assert rows_last > 65536, "GroupBy %d: %d rows on %s: too few for several chunks" % (i, rows_last, last)
        if "rows" in out:
            assert out["rows"] == out["t1"], "GroupBy %d of seed %d: fold and row paths differ" % (i, seed)
