"""Property test: the C aggregation kernels (through tests/agg/agg_driver) against the
brute-force oracle (tests/oracle/chronon_oracle.py) on random data.

Each case draws an operation, an input type and shape (scalar, list, map, element-wise
list, bucketed), arguments and rows with nulls, ties, duplicate values and deletes; the
driver folds the rows three ways (one batch; random batches; random partitions encoded,
decoded and merged in a random order) and every way must agree with the oracle:
exactly for exact operations, with relative tolerance for VARIANCE/SKEW/KURTOSIS (the
spec's merge formula rounds differently), and with the D19 tolerances for the sketches.

The seed is printed; CN_TEST_SEED=<seed> replays a run, CN_AGG_CASES sets the number of
cases (default 300).
"""

import json
import math
import os
import random
import subprocess
import sys

import pytest

ROOT = os.environ.get("CN_SOURCE_DIR") or os.path.abspath(
    os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "oracle"))

import chronon_oracle as co  # noqa: E402
from engine_util import one_seed  # noqa: E402

OPS = {name: i for i, name in co.OPERATIONS.items()}
SKETCHES = {"APPROX_UNIQUE_COUNT", "APPROX_PERCENTILE", "APPROX_HISTOGRAM_K"}
LOOSE = {"VARIANCE": 1e-9, "SKEW": 1e-6, "KURTOSIS": 1e-6}
STRINGS = ["a", "b", "c", "aa", "\u00e9", "\ufffd", "\U0001F600", "", "z"]
N_KEYS = 4


def driver_path():
    build = os.environ.get("CN_BUILD_DIR")
    if not build:
        pytest.fail("CN_BUILD_DIR is not set (run through ctest)")
    path = os.path.join(build, "tests", "agg", "agg_driver")
    if not os.path.exists(path):
        pytest.fail("agg_driver not built at %s (build the tree first)" % path)
    return path


def types_for(op):
    if op == "COUNT":
        return ["long", "int", "double", "string", "boolean"]
    if op == "SUM":
        return ["long", "int", "double", "float", "boolean"]
    if op in ("AVERAGE", "VARIANCE", "SKEW", "KURTOSIS"):
        return ["long", "int", "double", "float"]
    if op in ("MIN", "MAX", "TOP_K", "BOTTOM_K"):
        return ["long", "int", "double", "float", "string"]
    if op in ("FIRST", "LAST", "FIRST_K", "LAST_K"):
        return ["long", "double", "string", "boolean", "list<long>", "map<string,long>"]
    if op in ("UNIQUE_COUNT", "BOUNDED_UNIQUE_COUNT"):
        return ["long", "double", "string"]
    if op == "APPROX_UNIQUE_COUNT":
        return ["long", "string"]
    if op == "APPROX_PERCENTILE":
        return ["long", "double"]
    if op == "HISTOGRAM":
        return ["string"]
    return ["long", "double", "string"]  # APPROX_HISTOGRAM_K


def scalar_value(rnd, t, op, wide):
    if t in ("long", "int"):
        if t == "long" and op in ("SUM", "MIN", "MAX", "COUNT") and rnd.random() < 0.05:
            return rnd.choice([2 ** 63 - 1, -2 ** 63, 2 ** 62])
        return rnd.randint(-5, 400 if wide else 20)
    if t in ("double", "float"):
        r = rnd.random()
        if op not in ("VARIANCE", "SKEW", "KURTOSIS", "APPROX_PERCENTILE") and r < 0.03:
            return rnd.choice([float("nan"), float("inf"), float("-inf")])
        return rnd.randint(-20, 1600 if wide else 80) / 4.0
    if t == "string":
        if wide:
            return "s%d" % rnd.randint(0, 500)
        return rnd.choice(STRINGS)
    return rnd.random() < 0.5  # boolean


def make_case(rnd):
    op = rnd.choice(sorted(OPS))
    scalar = rnd.choice(types_for(op))
    args = {}
    if op in ("LAST_K", "FIRST_K", "TOP_K", "BOTTOM_K"):
        args["k"] = str(rnd.randint(1, 5))
    elif op == "HISTOGRAM":
        args["k"] = str(rnd.choice([0, 0, 1, 2, 3]))
    elif op == "BOUNDED_UNIQUE_COUNT":
        args["k"] = str(rnd.randint(1, 6))
    elif op == "APPROX_UNIQUE_COUNT":
        args["k"] = str(rnd.choice([4, 5, 8]))
    elif op == "APPROX_PERCENTILE":
        args["k"] = str(rnd.choice([8, 16, 128]))
        ps = sorted(rnd.sample([0, 0.1, 0.25, 0.5, 0.75, 0.9, 0.99, 1], rnd.randint(1, 4)))
        args["percentiles"] = json.dumps(ps)
    elif op == "APPROX_HISTOGRAM_K":
        args["k"] = str(rnd.randint(2, 6))
    shape = "scalar"
    timed = op in co.TIMED
    if not timed and op not in SKETCHES:
        shape = rnd.choice(["scalar", "scalar", "list", "map", "elem", "bucket"])
    elif timed:
        shape = rnd.choice(["scalar", "scalar", "bucket"])
    if shape == "elem" and scalar in ("string", "boolean") and op not in ("COUNT",):
        shape = "list"
    in_type = {"scalar": scalar, "bucket": scalar, "list": "list<%s>" % scalar,
               "elem": "list<%s>" % scalar, "map": "map<string,%s>" % scalar}[shape]
    if "<" in scalar:  # container payloads of timed ops stay opaque
        in_type = scalar
    return {"op": op, "scalar": scalar, "type": in_type, "args": args, "shape": shape,
            "deletes": rnd.random() < 0.5, "wide": op in SKETCHES and rnd.random() < 0.5}


def make_rows(rnd, case):
    op, scalar, shape = case["op"], case["scalar"], case["shape"]
    n = rnd.randint(0, 300 if case["wide"] else 60)
    unique_ts = "<" in case["type"]  # D15 ties of containers are not compared
    widths = {k: rnd.randint(0, 3) for k in range(N_KEYS)}
    bad_elem = shape == "elem" and rnd.random() < 0.1
    rows = []
    for i in range(n):
        key = rnd.randrange(N_KEYS)
        ts = i if unique_ts else (None if rnd.random() < 0.05 else rnd.randint(0, 12))

        def sv():
            return scalar_value(rnd, scalar, op, case["wide"])

        if rnd.random() < 0.1:
            v = None
        elif "<" in case["type"] and "<" in scalar:
            v = ([rnd.randint(0, 5) for _ in range(rnd.randint(0, 2))] if scalar.startswith("list")
                 else {rnd.choice("pq"): rnd.randint(0, 5)})
        elif shape in ("scalar", "bucket"):
            v = sv()
        elif shape == "list":
            v = [None if rnd.random() < 0.1 else sv() for _ in range(rnd.randint(0, 3))]
        elif shape == "map":
            v = {k: (None if rnd.random() < 0.1 else sv())
                 for k in rnd.sample(["a", "b", "c"], rnd.randint(0, 3))}
        else:  # elem: same length per key
            v = [sv() for _ in range(widths[key])]
            if bad_elem and rnd.random() < 0.2:
                v = v + [sv()] if rnd.random() < 0.5 else (v[:-1] + [None] if v else [None])
        b = rnd.choice(["x", "y", None]) if shape == "bucket" else None
        sign = -1 if case["deletes"] and rnd.random() < 0.15 else 1
        rows.append({"key": key, "ts": ts, "v": v, "b": b, "sign": sign})
    return rows


def jsonable(v):
    """Oracle value -> the driver's JSON conventions (non-finite floats as strings)."""
    if isinstance(v, float):
        if v != v:
            return "NaN"
        if math.isinf(v):
            return "Infinity" if v > 0 else "-Infinity"
        return v
    if isinstance(v, list):
        return [jsonable(x) for x in v]
    if isinstance(v, dict):
        return {k: jsonable(x) for k, x in v.items()}
    return v


def row_json(r):
    return json.dumps({"key": r["key"], "ts": r["ts"], "v": jsonable(r["v"]), "b": r["b"],
                       "sign": r["sign"]}, ensure_ascii=True)


def oracle(case, rows):
    """{key: value} or an OracleError message."""
    agg = {"inputColumn": "v", "operation": OPS[case["op"]], "argMap": case["args"],
           "elementWise": case["shape"] == "elem"}
    bucket = "b" if case["shape"] == "bucket" else None
    part = co.Part(agg, None, bucket, case["type"], "case")
    out = {}
    for key in range(N_KEYS):
        entries = [(r["ts"], {"v": r["v"], "b": r["b"]}, r["sign"]) for r in rows
                   if r["key"] == key]
        present, value = co.agg_part(part, entries)
        out[key] = co.finalize_top(value) if present else None
    return out


def close(a, b, rel):
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool):
        if a == b:
            return True
        return abs(a - b) <= rel * max(1.0, abs(a), abs(b))
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(close(x, y, rel) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(close(a[k], b[k], rel) for k in a)
    return a == b


def to_f32(x):
    return co.to_float32(float(x))


def sketch_ok(case, rows, key, got, want):
    op, args = case["op"], case["args"]
    inputs = [r["v"] for r in rows if r["key"] == key and r["v"] is not None and r["sign"] > 0]
    if op == "APPROX_UNIQUE_COUNT":
        if want is None:
            return got is None
        return co.approx_unique_ok(got, want, int(args["k"]))
    if op == "APPROX_PERCENTILE":
        if want is None:
            return got is None
        ps = json.loads(args["percentiles"])
        return got is not None and len(got) == len(ps) and all(
            co.approx_percentile_ok(g, inputs, p, int(args["k"])) for g, p in zip(got, ps))
    if op == "APPROX_HISTOGRAM_K":
        if want is None:
            return got is None
        return co.approx_histogram_ok(got, inputs, int(args["k"]))
    raise AssertionError(op)


def check_case(drv, seed, idx, case, rows):
    spec = {"op": OPS[case["op"]], "type": case["type"], "argMap": case["args"],
            "bucket": case["shape"] == "bucket", "elementWise": case["shape"] == "elem",
            "keys": N_KEYS}
    stdin = "".join(row_json(r) + "\n" for r in rows)
    proc = subprocess.run([drv, json.dumps(spec), str(seed * 1000 + idx)], input=stdin,
                          capture_output=True, text=True, timeout=120)
    where = "seed %d case %d %s" % (seed, idx, json.dumps(spec))
    try:
        want = oracle(case, rows)
        want_err = None
    except co.OracleError as e:
        want, want_err = None, str(e)
    if want_err is not None:
        assert proc.returncode == 3, "%s: oracle fails (%s) but the driver gave rc %d:\n%s" % (
            where, want_err, proc.returncode, proc.stdout[:2000])
        return "error"
    assert proc.returncode == 0, "%s: driver rc %d: %s %s" % (where, proc.returncode,
                                                              proc.stdout[-2000:], proc.stderr)
    got = {}
    for line in proc.stdout.splitlines():
        rec = json.loads(line)
        got.setdefault(rec["mode"], {})[rec["key"]] = rec["value"]
    assert set(got) == {"seq", "batched", "merged"}, where
    op = case["op"]
    f32 = op == "APPROX_PERCENTILE" or (case["scalar"] == "float" and op in (
        "MIN", "MAX", "TOP_K", "BOTTOM_K", "FIRST", "LAST", "FIRST_K", "LAST_K"))
    for mode, vals in got.items():
        for key in range(N_KEYS):
            g, w = vals.get(key), want[key]
            if f32 and w is not None and not isinstance(w, (dict,)):
                w = [to_f32(x) if isinstance(x, float) else x for x in w] if isinstance(w, list) \
                    else to_f32(w) if isinstance(w, float) else w
            if op in SKETCHES:
                ok = sketch_ok(case, rows, key, g, w)
            elif op in LOOSE or (op == "AVERAGE" and mode != "seq"):
                ok = close(jsonable(w), g, LOOSE.get(op, 1e-12))
            else:
                ok = jsonable(w) == g
            assert ok, "%s mode %s key %d: kernels %r, oracle %r\nrows: %s" % (
                where, mode, key, g, jsonable(w), json.dumps([jsonable(r) for r in rows])[:3000])
    return "non-null" if any(v is not None for v in want.values()) else "all-null"


def test_agg_kernels_match_oracle():
    drv = driver_path()
    seed = one_seed()
    n_cases = int(os.environ.get("CN_AGG_CASES") or 300)
    print("agg vs oracle: %d cases" % n_cases)
    rnd = random.Random(seed)
    seen_ops, outcomes, shapes = set(), {}, {}
    for idx in range(n_cases):
        case = make_case(rnd)
        rows = make_rows(rnd, case)
        seen_ops.add(case["op"])
        res = check_case(drv, seed, idx, case, rows)
        outcomes[res] = outcomes.get(res, 0) + 1
        shapes[case["shape"]] = shapes.get(case["shape"], 0) + 1
    print("outcomes %s, shapes %s" % (sorted(outcomes.items()), sorted(shapes.items())))
    if n_cases >= 200:
        assert seen_ops == set(OPS), "operations never drawn: %s" % (set(OPS) - seen_ops)
        assert outcomes.get("non-null", 0) >= n_cases // 2, outcomes
