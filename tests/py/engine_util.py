"""Helpers for the GroupBy backfill tests: a temp warehouse, chronon load/run, and the
rows of an output table read back with the eng_dump test reader."""

import json
import math
import os
import random
import subprocess
import sys
import time

SRC = os.environ.get("CN_SOURCE_DIR", os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))
BUILD = os.environ.get("CN_BUILD_DIR", os.path.join(SRC, "build"))
CHRONON = os.environ.get("CHRONON_BIN", os.path.join(BUILD, "chronon"))
DUMP = os.path.join(BUILD, "eng_dump")
sys.path.insert(0, os.path.join(SRC, "tests", "oracle"))
import chronon_oracle as co  # noqa: E402


CMD_TIMEOUT = 180  # seconds: a random case's command takes a few; more is a hang


def run_cmd(cmd, env=None, timeout=CMD_TIMEOUT):
    """subprocess.run capturing text output; a command still running after timeout seconds
    is killed and fails the test as an assertion (so a random test names the seed that hung
    instead of running into CTest's timeout)."""
    try:
        return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise AssertionError("%s did not end in %d s" % (" ".join(cmd), timeout)) from None


def case_seeds(default_cases, per_seed=1):
    """The seeds of a random test: CN_TEST_SEED=<seed> replays that one; otherwise
    consecutive seeds from a random base, enough for CN_TEST_CASES cases (default_cases when
    unset) of per_seed cases each. Prints them and how to replay one."""
    env_seed = os.environ.get("CN_TEST_SEED")
    if env_seed:
        seeds = [int(env_seed)]
    else:
        base = random.SystemRandom().randrange(1 << 30)
        n = int(os.environ.get("CN_TEST_CASES") or default_cases)
        seeds = [base + i for i in range(max(1, (n + per_seed - 1) // per_seed))]
    print("seeds %d..%d (replay one with CN_TEST_SEED=<seed>)" % (seeds[0], seeds[-1]))
    return seeds


def one_seed(default=None):
    """The seed of a test that draws one random case: CN_TEST_SEED, else default, else a
    random one. Printed with how to replay it."""
    env_seed = os.environ.get("CN_TEST_SEED")
    seed = int(env_seed) if env_seed else default
    if seed is None:
        seed = random.SystemRandom().randrange(1 << 30)
    print("seed %d (replay with CN_TEST_SEED=%d)" % (seed, seed))
    return seed


def each_seed(seeds, case):
    """case(seed) for every seed, in order; a failing seed is named with its replay
    variable in the assertion. Prints the slowest seed (a seed far slower than the others
    is a timeout waiting to happen). Returns the results."""
    out, slowest = [], (0.0, None)
    for s in seeds:
        t0 = time.monotonic()
        try:
            out.append(case(s))
        except AssertionError as e:
            raise AssertionError("CN_TEST_SEED=%d: %s" % (s, e)) from None
        slowest = max(slowest, (time.monotonic() - t0, s))
    print("slowest seed %d: %.1f s of %d seeds" % (slowest[1], slowest[0], len(seeds)))
    return out


class Warehouse:
    def __init__(self, root):
        self.root = str(root)
        self.wh = os.path.join(self.root, "warehouse")
        self.cat = "sqlite:" + os.path.join(self.wh, "catalog.db")
        os.makedirs(self.wh, exist_ok=True)

    def env(self):
        e = dict(os.environ)
        e["CHRONON_WAREHOUSE"] = self.wh
        e["CHRONON_CATALOG"] = self.cat
        return e

    def load(self, path, table, schema=None, mode="append"):
        cmd = [CHRONON, "load", path, table, "--mode", mode]
        if schema:
            cmd += ["--schema", schema]
        p = run_cmd(cmd, self.env())
        assert p.returncode == 0, p.stderr
        return p

    def run(self, repo, conf, *args, check=True):
        cmd = [CHRONON, "run", "--mode", "backfill", "--repo", repo, "--conf", conf] + list(args)
        p = run_cmd(cmd, self.env())
        if check:
            assert p.returncode == 0, p.stderr
        return p

    def rows(self, table):
        p = run_cmd([DUMP, self.wh, self.cat, table])
        assert p.returncode == 0, p.stderr
        return [json.loads(line) for line in p.stdout.splitlines() if line]


def norm(v):
    if isinstance(v, float):
        if math.isnan(v) or math.isinf(v):
            return None
    if isinstance(v, dict):
        return {k: norm(x) for k, x in sorted(v.items())}
    if isinstance(v, list):
        return [norm(x) for x in v]
    return v


def close(a, b, rel=1e-9):
    """Equality with a relative tolerance on floats (VARIANCE-style rounding)."""
    if isinstance(a, bool) or isinstance(b, bool):
        return a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        if isinstance(a, int) and isinstance(b, int):
            return a == b
        return abs(a - b) <= rel * max(1.0, abs(a), abs(b))
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(close(x, y, rel) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(close(a[k], b[k], rel) for k in a)
    return a == b


def keyed(rows, keys):
    out = {}
    for r in rows:
        k = tuple(json.dumps(r.get(c), sort_keys=True) for c in keys + ["ds"])
        assert k not in out, "duplicate output row %r" % (k,)
        out[k] = r
    return out


def compare(got_rows, want_rows, keys, skip_cols=(), where=""):
    """Asserts both sides hold the same rows (by keys + ds) with equal values."""
    got = keyed([norm(r) for r in got_rows], keys)
    want = keyed([norm(co.to_json_value(r)) for r in want_rows], keys)
    missing = sorted(set(want) - set(got))[:5]
    extra = sorted(set(got) - set(want))[:5]
    assert not missing and not extra, "%s: rows missing %s, unexpected %s" % (where, missing, extra)
    for k, w in want.items():
        g = got[k]
        assert list(g.keys()) == list(w.keys()), "%s: columns %s != %s" % (where, list(g), list(w))
        for c in w:
            if c in skip_cols:
                continue
            assert close(g[c], w[c]), "%s: key %s column %s: got %r, oracle %r" % (where, k, c, g[c], w[c])
    return len(want)
