"""Helpers for the GroupBy backfill tests: a temp warehouse, chronon load/run, and the
rows of an output table read back with the eng_dump test reader."""

import json
import math
import os
import subprocess
import sys

SRC = os.environ.get("CN_SOURCE_DIR", os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))
BUILD = os.environ.get("CN_BUILD_DIR", os.path.join(SRC, "build"))
CHRONON = os.environ.get("CHRONON_BIN", os.path.join(BUILD, "chronon"))
DUMP = os.path.join(BUILD, "eng_dump")
sys.path.insert(0, os.path.join(SRC, "tests", "oracle"))
import chronon_oracle as co  # noqa: E402


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
        p = subprocess.run(cmd, env=self.env(), capture_output=True, text=True)
        assert p.returncode == 0, p.stderr
        return p

    def run(self, repo, conf, *args, check=True):
        cmd = [CHRONON, "run", "--mode", "backfill", "--repo", repo, "--conf", conf] + list(args)
        p = subprocess.run(cmd, env=self.env(), capture_output=True, text=True)
        if check:
            assert p.returncode == 0, p.stderr
        return p

    def rows(self, table):
        p = subprocess.run([DUMP, self.wh, self.cat, table], capture_output=True, text=True)
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
