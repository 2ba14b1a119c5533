"""Helpers for the Parquet interop tests: run `chronon parquet`, DuckDB (through
tests/checkers/duckdb_tool) and hyparquet (node scripts in tests/checkers), and compare
what each reads. All three print values the same way (see duckdb_tool.c), so rows
compare as parsed JSON. A missing checker skips the whole test file loudly: it prints
SKIP and exits 77 (CTest's skip code), or fails when CN_TEST_STRICT=1."""
import json
import math
import os
import shutil
import struct
import subprocess
import sys

SRC = os.environ.get("CN_SOURCE_DIR") or os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.environ.get("CN_BUILD_DIR", "")
CHRONON = os.environ.get("CHRONON_BIN") or os.path.join(BUILD, "chronon")
DUCKDB_TOOL = os.path.join(BUILD, "tests", "checkers", "duckdb_tool")
NPM = os.path.join(SRC, "third_party", "npm", "node_modules")
CHECKERS = os.path.join(SRC, "tests", "checkers")


def skip_file(why):
    """Skips the whole test file: exit 77, or fail under CN_TEST_STRICT=1."""
    if os.environ.get("CN_TEST_STRICT") == "1":
        raise RuntimeError(f"SKIP not allowed (CN_TEST_STRICT=1): {why}")
    print(f"SKIP: {why}", flush=True)
    os._exit(77)


def require(duckdb=True, hyparquet=True):
    if not os.access(CHRONON, os.X_OK):
        skip_file(f"chronon binary not built at {CHRONON}")
    if duckdb and not os.access(DUCKDB_TOOL, os.X_OK):
        skip_file("DuckDB checker not built (run scripts/checkers.sh, then reconfigure)")
    if hyparquet:
        if not shutil.which("node"):
            skip_file("node not installed")
        for pkg in ("hyparquet", "hyparquet-compressors", "hyparquet-writer"):
            if not os.path.isdir(os.path.join(NPM, pkg)):
                skip_file(f"npm checker {pkg} not installed (run scripts/checkers.sh)")


def run(args, check=True, **kw):
    p = subprocess.run(args, capture_output=True, text=True, **kw)
    if check and p.returncode != 0:
        raise AssertionError(f"{' '.join(map(str, args))} exited {p.returncode}\nstdout: {p.stdout[-2000:]}\nstderr: {p.stderr[-2000:]}")
    return p


def json_lines(text):
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def chronon(*args, check=True):
    return run([CHRONON, *map(str, args)], check=check)


def cat(path, *extra):
    return json_lines(chronon("parquet", "cat", path, "--format", "json", *extra).stdout)


def stats(path):
    return json.loads(chronon("parquet", "stats", path, "--json").stdout)


def duck(*sql):
    return json_lines(run([DUCKDB_TOOL, "SET threads=1", *sql]).stdout)


def hyp_read(path):
    return json_lines(run(["node", os.path.join(CHECKERS, "hyparquet_read.mjs"), path]).stdout)


def hyp_meta(path):
    return json.loads(run(["node", os.path.join(CHECKERS, "hyparquet_read.mjs"), "--meta", path]).stdout)


def hyp_write(spec, path, tmp):
    spec_path = os.path.join(tmp, os.path.basename(path) + ".json")
    with open(spec_path, "w") as f:
        json.dump(spec, f)
    run(["node", os.path.join(CHECKERS, "hyparquet_write.mjs"), spec_path, path])


def f32(x):
    """A float as float32 would hold it (ours prints float32 at float precision)."""
    if x is None or isinstance(x, str):
        return x
    return struct.unpack("<f", struct.pack("<f", x))[0]


def norm(v):
    """Makes parsed JSON values comparable: ints and floats of equal value are equal
    already in Python; NaN strings stay strings; nested values recurse."""
    if isinstance(v, list):
        return [norm(x) for x in v]
    if isinstance(v, dict):
        return {k: norm(x) for k, x in v.items()}
    if isinstance(v, float) and v.is_integer() and abs(v) < 2**63:
        return int(v)
    return v


def assert_rows_equal(got, want, who, float32_cols=()):
    assert len(got) == len(want), f"{who}: {len(got)} rows, expected {len(want)}"
    for i, (g, w) in enumerate(zip(got, want)):
        g = dict(g)
        w = dict(w)
        for c in float32_cols:
            g[c], w[c] = f32(g.get(c)), f32(w.get(c))
        if norm(g) != norm(w):
            diff = {k: (g.get(k), w.get(k)) for k in set(g) | set(w) if norm(g.get(k)) != norm(w.get(k))}
            raise AssertionError(f"{who}: row {i} differs (got, expected): {diff}")
