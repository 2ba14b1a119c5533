"""Distributed GroupBy backfills (mpirun -np N chronon run --mode backfill): the output
is the same, row for row and bit for bit, for N = 1, 2, 3, 4 as for one process without
MPI, on the quickstart GroupBys, on random GroupBys of the property test and on random
Joins (the same rows per ds; the join case); a failing
rank leaves the table as it was; SQLite catalogs are refused across hosts; other modes
are refused under mpirun.
The slurm case starts a single-node Slurm cluster (munged, slurmctld, slurmd on free
loopback ports, state in a temp dir), submits the sbatch script of docs/scaling.md for a
2-rank backfill, checks its output against one process, and stops the daemons.
The sched_slurm case runs the scheduler with its "slurm" setting on that cluster: a
backfill_task is submitted with sbatch --wait as 2 ranks.
usage: e2e_dist.py quickstart|random|join|fail|refusals|slurm|sched_slurm"""

import contextlib
import json
import os
import random
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time

SRC = os.environ.get("CN_SOURCE_DIR", os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))
sys.path.insert(0, os.path.join(SRC, "tests", "py"))
from engine_util import CHRONON, Warehouse  # noqa: E402
import test_groupby_property as prop  # noqa: E402

RANKS = (1, 2, 3, 4)


def sanitizer_build():
    try:
        with open(os.path.join(os.environ.get("CN_BUILD_DIR", ""), "CMakeCache.txt")) as f:
            return "CN_ASAN:BOOL=ON" in f.read()
    except OSError:
        return False


# sanitizer builds run every MPI process with full-stack malloc tracking (several times
# slower): there the first GroupBy of a case runs 1 and 3 ranks
if sanitizer_build() and os.environ.get("CN_TEST_SLOW") != "1":
    RANKS = (1, 3)
# mpirun costs about a second per job: the first GroupBy of each case runs every N, the
# others 3 ranks, the uneven split (CN_TEST_SLOW=1: every N for all)
SOME_RANKS = RANKS if os.environ.get("CN_TEST_SLOW") == "1" else (3,)


# shared memory between the ranks of one machine; no network interfaces to probe
os.environ.setdefault("OMPI_MCA_btl", "self,vader")
os.environ.setdefault("OMPI_MCA_pml", "ob1")
# sanitizer builds: Open MPI leaks at MPI_Finalize; keep its plugins loaded so the
# suppressions can name them (our own leaks are still reported)
os.environ.setdefault("OMPI_MCA_mca_base_component_disable_dlclose", "1")
MPI_LSAN = ":".join(filter(None, [
    os.environ.get("LSAN_OPTIONS", ""), "suppressions=" + os.path.join(SRC, "tests", "dist", "lsan-mpi.supp"),
    "fast_unwind_on_malloc=0", "print_suppressions=0"]))


def mpi_env(env):
    """env for a process tree under mpirun (the leak suppressions need full stacks)."""
    env = dict(env)
    env["LSAN_OPTIONS"] = MPI_LSAN
    return env


def mpirun_cmd(n):
    cmd = ["mpirun", "-np", str(n), "--oversubscribe"]
    if os.geteuid() == 0:
        cmd.append("--allow-run-as-root")
    return cmd


def skip(why):
    print("SKIP: " + why)
    sys.exit(77)


class Job:
    """A chronon root with a warehouse; runs backfills with or without mpirun."""

    def __init__(self, root):
        self.root = root
        self.wh = Warehouse(root)

    def run(self, conf, args, ranks=None, env=None):
        cmd = (mpirun_cmd(ranks) if ranks else []) + [CHRONON, "run", "--mode", "backfill", "--repo", self.root,
                                                      "--conf", conf] + list(args)
        e = self.wh.env()
        e.update(env or {})
        return subprocess.run(cmd, env=mpi_env(e) if ranks else e, capture_output=True, text=True, timeout=120)

    def rows(self, table):
        return sorted(json.dumps(r, sort_keys=True) for r in self.wh.rows(table))

    def conf_copy(self, conf_rel, ns):
        """The compiled conf with another outputNamespace, so each N writes its own table."""
        with open(os.path.join(self.root, conf_rel)) as f:
            c = json.load(f)
        c["metaData"]["outputNamespace"] = ns
        out = conf_rel + "_" + ns
        with open(os.path.join(self.root, out), "w") as f:
            json.dump(c, f)
        return out, "%s.%s" % (ns, c["metaData"]["name"].replace(".", "_"))


def same_for_every_n(job, conf_rel, args, what, ranks=RANKS):
    ref_conf, ref_table = job.conf_copy(conf_rel, "single")
    p = job.run(ref_conf, args)
    assert p.returncode == 0, "%s, one process: %s" % (what, p.stderr)
    want = job.rows(ref_table)
    assert want, "%s: the one-process run wrote no rows" % what
    for n in ranks:
        conf, table = job.conf_copy(conf_rel, "ranks%d" % n)
        p = job.run(conf, args, ranks=n)
        assert p.returncode == 0, "%s, %d ranks: %s" % (what, n, p.stderr)
        got = job.rows(table)
        assert len(got) == len(want), "%s, %d ranks: %d rows, one process %d" % (what, n, len(got), len(want))
        diff = [(g, w) for g, w in zip(got, want) if g != w]
        assert not diff, "%s, %d ranks: first differing row\n  got  %s\n  want %s" % (what, n, diff[0][0], diff[0][1])
    print("%s: %d rows identical for N = %s" % (what, len(want), ", ".join(map(str, ranks))))


def quickstart_job(tmp):
    root = os.path.join(tmp, "qs")
    shutil.copytree(os.path.join(SRC, "examples", "quickstart"), root)
    shutil.rmtree(os.path.join(root, "production"), ignore_errors=True)
    p = subprocess.run([CHRONON, "compile", "--conf", "group_bys/quickstart", "-y"], cwd=root, capture_output=True,
                       text=True)
    assert p.returncode == 0, p.stderr
    job = Job(root)
    # each table loaded in two appends: several files per partition to spread over ranks
    for t in ("purchases", "returns", "users"):
        with open(os.path.join(root, "data", t + ".csv")) as f:
            lines = f.read().splitlines(True)
        half = 1 + (len(lines) - 1) // 2
        for i, part in enumerate((lines[1:half], lines[half:])):
            path = os.path.join(tmp, "%s_%d.csv" % (t, i))
            with open(path, "w") as f:
                f.writelines([lines[0]] + part)
            job.wh.load(path, "data." + t)
    return job


def case_quickstart(tmp):
    job = quickstart_job(tmp)
    for i, gb in enumerate(("purchases", "returns", "users")):
        same_for_every_n(job, "production/group_bys/quickstart/%s.v1" % gb,
                         ["--start-ds", "2023-12-01", "--end-ds", "2023-12-07"], "quickstart " + gb,
                         RANKS if i == 0 else SOME_RANKS)
    # nested and string columns through the shuffle: a list of strings (split), a string
    # bucket, LAST_K of strings, an element-wise count
    with open(os.path.join(job.root, "production/group_bys/quickstart/returns.v1")) as f:
        c = json.load(f)
    c["sources"][0]["events"]["query"]["selects"] = {
        "user_id": "user_id", "parts": "split(return_id, '-')", "pid": "CAST(product_id AS STRING)",
        "refund_amt": "refund_amt"}
    c["aggregations"] = [
        {"inputColumn": "parts", "operation": 3, "argMap": {}, "windows": [{"length": 3, "timeUnit": 1}]},
        {"inputColumn": "parts", "operation": 6, "argMap": {}, "elementWise": 1},
        {"inputColumn": "pid", "operation": 13, "argMap": {"k": "3"}},
        {"inputColumn": "refund_amt", "operation": 7, "argMap": {}, "buckets": ["pid"]}]
    with open(os.path.join(job.root, "production/group_bys/quickstart/nested.v1"), "w") as f:
        json.dump(c, f)
    same_for_every_n(job, "production/group_bys/quickstart/nested.v1",
                     ["--start-ds", "2023-12-01", "--end-ds", "2023-12-07"], "quickstart lists and strings", SOME_RANKS)


def case_random(tmp):
    """Random datasets and GroupBys of the property test (ops, windows, buckets, null
    keys, ties on ts, late events; events and entities), several files per partition."""
    n_cases = 0
    slow = os.environ.get("CN_TEST_SLOW") == "1"
    for seed, entities, n_gb in ((11, False, 3 if slow else 2), (5, True, 1)):
        rnd = random.Random(seed)
        n_days = 6
        rows = prop.gen_rows(rnd, n_days, entities)
        root = os.path.join(tmp, "r%d" % seed)
        os.makedirs(os.path.join(root, "production", "group_bys", "t"))
        job = Job(root)
        half = len(rows) // 2
        for i, part in enumerate((rows[:half], rows[half:])):
            csv = os.path.join(root, "ev%d.csv" % i)
            prop.write_csv(csv, part)
            job.wh.load(csv, "raw.ev", prop.LOAD_SCHEMA)
        start, end = prop.co.ds_add(prop.BASE_DAY, 1), prop.co.ds_add(prop.BASE_DAY, n_days - 1)
        for i in range(n_gb):
            name = "gb_%d_%d" % (seed, i)
            conf = prop.gen_conf(rnd, name, entities)
            rel = "production/group_bys/t/" + name
            with open(os.path.join(root, rel), "w") as f:
                json.dump(conf, f)
            same_for_every_n(job, rel, ["--start-ds", start, "--end-ds", end, "--step-days", "2"],
                             "random seed %d GroupBy %d (%s)" % (seed, i, ", ".join(
                                 "%s(%s)" % (a["operation"], a["inputColumn"]) for a in conf["aggregations"])),
                             RANKS if i == 0 and not entities else SOME_RANKS)
            n_cases += 1
    assert n_cases >= 3


def join_job(tmp, seed):
    """The random-join data of test_join_vs_oracle (null keys, duplicate left rows, late
    events, events and entities), each table loaded in two appends, plus a rowIds
    bootstrap table."""
    import test_join_vs_oracle as jvo
    rnd = random.Random(seed)
    n_days = 5
    ev, dim, left = jvo.gen_data(rnd, n_days)
    # uid is k1 in the oracle's data; here half of the rows get another user (or none), so
    # a part mapping uid to k1 joins on another key than a part on k1
    other = random.Random(seed + 1000)
    for r in left:
        if other.random() < 0.5:
            r["uid"] = other.choice(["u%d" % i for i in range(8)] + [None])
    root = os.path.join(tmp, "j%d" % seed)
    os.makedirs(os.path.join(root, "production", "joins", "t"))
    job = Job(root)
    boot = [{"ds": jvo.co.ds_add(jvo.BASE, d), "note": "p", "d_note": "boot-%d" % d} for d in range(1, n_days, 2)]
    for name, rows, cols, schema, load in [
            ("raw.ev", ev, ["ts", "k1", "k2", "v", "x"], jvo.EV_SCHEMA, jvo.EV_LOAD),
            ("raw.dim", dim, ["ts", "k1", "attr", "score"], jvo.DIM_SCHEMA, jvo.DIM_LOAD),
            ("raw.left", left, ["ts", "uid", "k1", "k2", "note"], jvo.LEFT_SCHEMA, jvo.LEFT_LOAD),
            ("raw.boot", boot, ["note", "d_note"], {"note": "string", "d_note": "string"}, "note:string,d_note:string")]:
        half = len(rows) // 2
        for i, part in enumerate((rows[:half], rows[half:])):
            if not part:
                continue
            path = os.path.join(root, "%s_%d.csv" % (name, i))
            jvo.write_csv(path, part, cols, schema)
            job.wh.load(path, name, load)
    return job, rnd, jvo, jvo.co.ds_add(jvo.BASE, n_days - 1)


def gen_dist_join(rnd, jvo, name):
    """A random join of test_join_vs_oracle whose parts all join on the same left key
    columns (what a distributed Join needs): ["k1"] or ["k1", "k2"] on every part, each
    mapped from uid or not, alike; sometimes a rowIds bootstrap of a derivation."""
    conf = jvo.gen_join(rnd, name)
    parts = conf["joinParts"]
    events_only = all("events" in jp["groupBy"]["sources"][0] for jp in parts)
    keys = ["k1", "k2"] if events_only and rnd.random() < 0.3 else ["k1"]
    mapped = rnd.random() < 0.5
    for jp in parts:
        jp["groupBy"]["keyColumns"] = keys
        jp.pop("keyMapping", None)
        if mapped:
            jp["keyMapping"] = {"uid": "k1"}
    add_bootstrap(rnd, conf)
    return conf


def add_bootstrap(rnd, conf):
    """Sometimes a rowIds bootstrap of a derivation."""
    if rnd.random() < 0.4 and "selects" in list(conf["left"].values())[0]["query"]:
        conf["derivations"] = [{"name": "*", "expression": "*"}, {"name": "d_note", "expression": "concat(note, '!')"}]
        conf["rowIds"] = ["note"]
        conf["bootstrapParts"] = [{"table": "raw.boot"}]


# (GroupBy keys, keyMapping) of a part; the left columns it joins on follow from both
EVENT_KEYS = [(["k1"], None), (["k1"], {"uid": "k1"}), (["k1", "k2"], None), (["k2", "k1"], {"uid": "k1"}),
              (["k2"], None)]
ENTITY_KEYS = EVENT_KEYS[:2]


def left_keys(jp):
    back = {v: k for k, v in jp.get("keyMapping", {}).items()}
    return tuple(back.get(k, k) for k in jp["groupBy"]["keyColumns"])


def gen_mixed_join(rnd, jvo, name):
    """A random join of test_join_vs_oracle with two or three parts on at least two
    different left keys (k1, uid mapped to k1, (k1, k2), (uid, k2) in the other order, k2;
    entity parts on k1 or uid); sometimes a rowIds bootstrap."""
    conf = jvo.gen_join(rnd, name)
    parts = conf["joinParts"]
    events_left = "events" in conf["left"]
    while len(parts) < 2 or rnd.random() < 0.3 and len(parts) < 3:
        parts.append({"groupBy": jvo.gen_groupby(rnd, "%s_gb%d" % (name, len(parts)), events_left),
                      "prefix": "f%d" % len(parts)})
    while True:
        for jp in parts:
            keys, mapping = rnd.choice(EVENT_KEYS if "events" in jp["groupBy"]["sources"][0] else ENTITY_KEYS)
            jp["groupBy"]["keyColumns"] = list(keys)
            jp.pop("keyMapping", None)
            if mapping:
                jp["keyMapping"] = dict(mapping)
        if len({left_keys(jp) for jp in parts}) >= 2:
            break
    add_bootstrap(rnd, conf)
    return conf


def case_join(tmp):
    """Random Joins (several parts, key mappings, SNAPSHOT and TEMPORAL parts over events
    and entities, null keys, duplicate left rows, derivations, bootstrap) give the same
    rows per ds for N = 1..4 ranks as one process, also when the parts join on different
    left keys (uid, k1, (k1, k2), (k2, uid), k2: per-part shuffles); a failing rank commits
    nothing."""
    slow = os.environ.get("CN_TEST_SLOW") == "1"
    # sanitizer builds (every MPI process several times slower): one dataset, and the
    # failure without the re-run
    lean = sanitizer_build() and not slow
    compared = 0
    for seed in ((3, 8, 21) if slow else (3,) if lean else (3, 8)):
        job, rnd, jvo, end = join_job(tmp, seed)
        # joins whose parts share the left key, then joins whose parts use different keys
        # (per-part shuffles)
        gens = [gen_dist_join] * (4 if slow else 1 if lean else 2) + [gen_mixed_join] * (4 if slow else 1 if lean else 2)
        for i, gen in enumerate(gens):
            name = "j_%d_%d" % (seed, i)
            conf = gen(rnd, jvo, name)
            rel = "production/joins/t/" + name
            with open(os.path.join(job.root, rel), "w") as f:
                json.dump(conf, f)
            args = ["--end-ds", end, "--step-days", str(rnd.randint(1, 3))]
            what = "join seed %d #%d (%s)" % (seed, i, ", ".join(
                "%s %s" % ("TEMPORAL" if jp["groupBy"].get("accuracy") == 0 else "SNAPSHOT",
                           list(jp["groupBy"]["sources"][0])[0]) for jp in conf["joinParts"]))
            what += " on %s%s" % (" / ".join("+".join(left_keys(jp)) for jp in conf["joinParts"]),
                                  ", bootstrap" if "bootstrapParts" in conf else "")
            ref_conf, _ = job.conf_copy(rel, "single")
            if job.run(ref_conf, args).returncode != 0:
                # one process refuses this join (e.g. two dim rows for a key and day): so do the ranks
                c2, t2 = job.conf_copy(rel, "failing")
                p = job.run(c2, args, ranks=2)
                assert p.returncode != 0 and "aborting every rank" in p.stderr, "%s: %s" % (what, p.stderr)
                continue
            same_for_every_n(job, rel, args, what, RANKS if compared == 0 else SOME_RANKS)
            compared += 1
    # two key columns, one of them mapped, on every part (events parts only: the dim
    # sources have one key)
    parts = []
    while len(parts) < 2:
        gb = jvo.gen_groupby(rnd, "two_gb%d" % len(parts), True)
        if "events" in gb["sources"][0]:
            gb["keyColumns"] = ["k1", "k2"]
            parts.append({"groupBy": gb, "prefix": "f%d" % len(parts), "keyMapping": {"uid": "k1"}})
    two = {"metaData": {"name": "t.two", "outputNamespace": "out", "team": "t"}, "joinParts": parts,
           "left": {"events": {"table": "raw.left", "query": {
               "selects": {"uid": "uid", "k2": "k2", "note": "note", "ts": "ts"}, "timeColumn": "ts"}}}}
    with open(os.path.join(job.root, "production/joins/t/two"), "w") as f:
        json.dump(two, f)
    same_for_every_n(job, "production/joins/t/two", ["--end-ds", end], "join on (uid as k1, k2)", SOME_RANKS)
    assert compared >= (1 if lean else 6), compared
    # one events GroupBy as two parts, on uid and on k1: every N gives the one-process rows
    gb = jvo.gen_groupby(rnd, "mixed_gb", True)
    while "events" not in gb["sources"][0]:
        gb = jvo.gen_groupby(rnd, "mixed_gb", True)
    gb["keyColumns"] = ["k1"]
    mixed = {"metaData": {"name": "t.mixed", "outputNamespace": "out", "team": "t"}, "left": {"events": {
        "table": "raw.left", "query": {"selects": {"uid": "uid", "k1": "k1", "note": "note", "ts": "ts"},
                                       "timeColumn": "ts"}}},
             "joinParts": [{"groupBy": gb, "prefix": "f0", "keyMapping": {"uid": "k1"}},
                           {"groupBy": gb, "prefix": "other"}]}
    rel = "production/joins/t/mixed"
    with open(os.path.join(job.root, rel), "w") as f:
        json.dump(mixed, f)
    same_for_every_n(job, rel, ["--end-ds", end], "join: one GroupBy on uid and on k1", SOME_RANKS if lean else RANKS)
    # a failing rank: no commit, the earlier days stay, no data file left behind
    rel = "production/joins/t/j_%d_0" % seed
    c, table = job.conf_copy(rel, "failrun")
    p = job.run(c, ["--end-ds", jvo.co.ds_add(jvo.BASE, 2), "--start-ds", jvo.co.ds_add(jvo.BASE, 1)])
    assert p.returncode == 0, p.stderr
    before = job.rows(table)
    assert before, "the first run wrote nothing"

    files = table_files(job, "failrun")
    assert any(f.endswith(".parquet") for f in files), files
    for rank, at in FAILURES[1:2] if lean else FAILURES:  # sanitizer builds: dist.fail has the others
        p = job.run(c, ["--end-ds", end], ranks=3, env={"CN_TEST_DIST_FAIL_RANK": str(rank), "CN_TEST_DIST_FAIL_AT": at})
        assert p.returncode != 0 and "rank %d of 3" % rank in p.stderr and "injected failure" in p.stderr, p.stderr
        assert job.rows(table) == before, "a job failing at %s changed the table" % at
        left = table_files(job, "failrun")
        assert left == files, "the job failing at %s left files (data or snapshot): %s" % (at, sorted(left ^ files))
    if lean:
        print("join fail: a rank failing after writing, while others write, or at rank 0's commit left no file")
        return
    p = job.run(c, ["--end-ds", end], ranks=3)
    assert p.returncode == 0, p.stderr
    ref, ref_table = job.conf_copy(rel, "failref")
    assert job.run(ref, ["--end-ds", end]).returncode == 0
    assert job.rows(table) == job.rows(ref_table), "the re-run after the failure differs from one process"
    print("join fail: a rank failing after writing, while others write, or at rank 0's commit left no file; the re-run equals one process")


# (failing rank, CN_TEST_DIST_FAIL_AT): after writing its files; while the other ranks
# write theirs; rank 0's commit of every rank's files
FAILURES = ((2, "files"), (1, "write"), (0, "commit"))


def table_files(job, name):
    """Every file of the tables whose directory names name: data files and the metadata
    and manifests a commit writes."""
    return {os.path.join(d, f) for d, _, fs in os.walk(job.wh.wh) for f in fs if name in d}


def case_fail(tmp):
    job = quickstart_job(tmp)
    conf = "production/group_bys/quickstart/purchases.v1"
    table = "default.quickstart_purchases_v1"
    p = job.run(conf, ["--start-ds", "2023-12-01", "--end-ds", "2023-12-03"], ranks=2)
    assert p.returncode == 0, p.stderr
    before = job.rows(table)
    assert {json.loads(r)["ds"] for r in before} == {"2023-12-01", "2023-12-02", "2023-12-03"}
    files = table_files(job, "purchases_v1")
    assert any(f.endswith(".parquet") for f in files), "no data files found for %s" % table
    # a rank fails after writing its files, or while the other ranks write theirs, or rank
    # 0's commit fails: no commit, the table keeps its 3 days, and every file the job wrote
    # for the failed chunk is removed (data files and any metadata)
    for rank, at in FAILURES:
        rank = min(rank, 1)
        p = job.run(conf, ["--start-ds", "2023-12-01", "--end-ds", "2023-12-07"], ranks=2,
                    env={"CN_TEST_DIST_FAIL_RANK": str(rank), "CN_TEST_DIST_FAIL_AT": at})
        assert p.returncode != 0, "the job succeeded although rank %d failed at %s" % (rank, at)
        assert "rank %d of 2" % rank in p.stderr and "injected failure" in p.stderr, p.stderr
        assert job.rows(table) == before, "a job failing at %s changed the table" % at
        left = table_files(job, "purchases_v1")
        assert left == files, "the job failing at %s left files (data or snapshot): %s" % (at, sorted(left ^ files))
    # the same run without the fault, launched by run.py --ranks 3, completes the range
    env = job.wh.env()
    env["CHRONON_BIN"] = CHRONON
    p = subprocess.run([sys.executable, os.path.join(SRC, "api", "py", "ai", "chronon", "repo", "run.py"), "--mode",
                        "backfill", "--conf", conf, "--repo", job.root, "--start-ds", "2023-12-01", "--end-ds",
                        "2023-12-07", "--ranks", "3"], env=mpi_env(env), capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    assert "wrote 404 rows in 4 partitions" in p.stderr, p.stderr  # summed over the ranks
    assert len({json.loads(r)["ds"] for r in job.rows(table)}) == 7
    print("fail: a rank failing after writing, while others write, or at rank 0's commit left no file; run.py --ranks 3 wrote the 4 missing days")


def refusals_job(tmp):
    """Compiled quickstart configs, no data: the refusals come before any scan."""
    root = os.path.join(tmp, "qs")
    shutil.copytree(os.path.join(SRC, "examples", "quickstart"), root)
    shutil.rmtree(os.path.join(root, "production"), ignore_errors=True)
    p = subprocess.run([CHRONON, "compile", "--conf", "group_bys/quickstart", "-y"], cwd=root, capture_output=True,
                       text=True)
    assert p.returncode == 0, p.stderr
    return Job(root)


def case_refusals(tmp):
    job = refusals_job(tmp)
    p = job.run("production/group_bys/quickstart/purchases.v1", ["--ds", "2023-12-07"], ranks=2,
                env={"CN_TEST_DIST_FAKE_HOSTS": "1"})
    assert p.returncode != 0
    assert "is a SQLite file local to one machine" in p.stderr and "PostgreSQL" in p.stderr, p.stderr
    tables = subprocess.run([CHRONON, "sql", "SHOW TABLES IN default"], env=job.wh.env(), capture_output=True,
                            text=True)
    assert "quickstart_purchases_v1" not in tables.stdout, tables.stdout
    print("hosts: SQLite catalog refused across hosts, nothing written")
    p = subprocess.run(mpirun_cmd(2) + [CHRONON, "run", "--mode", "upload", "--repo", job.root, "--conf",
                                        "production/group_bys/quickstart/purchases.v1", "--ds", "2023-12-07"],
                       env=mpi_env(job.wh.env()), capture_output=True, text=True, timeout=60)
    assert p.returncode != 0
    assert "only GroupBy and Join backfills run as several MPI ranks" in p.stderr, p.stderr
    print("modes: upload refused under mpirun")
    # srun -n 2 without an MPI launch: refused instead of two whole jobs
    env = job.wh.env()
    env["SLURM_STEP_NUM_TASKS"] = "2"
    p = subprocess.run([CHRONON, "run", "--mode", "backfill", "--repo", job.root, "--conf",
                        "production/group_bys/quickstart/purchases.v1", "--ds", "2023-12-07"], env=env,
                       capture_output=True, text=True, timeout=60)
    assert p.returncode != 0 and "srun started 2 tasks of this backfill without MPI" in p.stderr, p.stderr
    print("srun: two tasks without MPI refused")


def free_port():
    with socket.socket() as so:
        so.bind(("127.0.0.1", 0))
        return so.getsockname()[1]


def sbatch_script():
    """The sbatch script shown in docs/scaling.md (the block after its marker)."""
    with open(os.path.join(SRC, "docs", "scaling.md")) as f:
        m = re.search(r"<!-- sbatch script -->\s*```sh\n(.*?)```", f.read(), re.S)
    assert m, "docs/scaling.md has no sbatch script block"
    return m.group(1)


SLURM_CONF = """ClusterName=chronontest
SlurmctldHost={host}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket={d}/munge/sock
StateSaveLocation={d}/state
SlurmdSpoolDir={d}/spool
SlurmctldPidFile={d}/slurmctld.pid
SlurmdPidFile={d}/slurmd.pid
SlurmctldLogFile={d}/slurmctld.log
SlurmdLogFile={d}/slurmd.log
SlurmctldPort={p1}
SlurmdPort={p2}
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=none
ReturnToService=2
SchedulerType=sched/backfill
JobCompType=jobcomp/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
NodeName={host} CPUs={cpus} RealMemory=1000 State=UNKNOWN
PartitionName=debug Nodes={host} Default=YES MaxTime=INFINITE State=UP
"""


@contextlib.contextmanager
def slurm_cluster(tmp, env):
    """A single-node Slurm cluster (munged, slurmctld, slurmd) for the body of the with;
    env gets SLURM_CONF and the PATH; the daemons are stopped at the end."""
    tools = ["slurmctld", "slurmd", "sbatch", "scontrol", "sinfo", "munged", "mungekey"]
    missing = [t for t in tools if not shutil.which(t) and not os.access("/usr/sbin/" + t, os.X_OK)]
    if missing:
        skip("Slurm is not installed (apt-get install slurm-wlm munge): no " + ", ".join(missing))
    if os.geteuid() != 0:
        skip("the single-node Slurm cluster runs its daemons as root")
    d = os.path.join(tmp, "slurm")
    for sub in ("munge", "state", "spool"):
        os.makedirs(os.path.join(d, sub))
    os.chmod(os.path.join(d, "munge"), 0o700)
    conf = os.path.join(d, "slurm.conf")
    host = socket.gethostname().split(".")[0]
    with open(conf, "w") as f:
        f.write(SLURM_CONF.format(host=host, d=d, p1=free_port(), p2=free_port(), cpus=os.cpu_count() or 2))
    env.update({"SLURM_CONF": conf, "PATH": env.get("PATH", "") + ":/usr/sbin", "CHRONON_BIN": CHRONON,
                "OMPI_ALLOW_RUN_AS_ROOT": "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1"})
    daemons = []
    try:
        subprocess.run(["mungekey", "-c", "-k", os.path.join(d, "munge", "key")], check=True, env=env)
        m = os.path.join(d, "munge")
        daemons.append(subprocess.Popen(["munged", "-F", "-f", "--socket=" + m + "/sock", "--key-file=" + m + "/key",
                                         "--log-file=" + m + "/log", "--pid-file=" + m + "/pid",
                                         "--seed-file=" + m + "/seed"], env=env, stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL))
        for _ in range(100):
            if os.path.exists(m + "/sock"):
                break
            time.sleep(0.05)
        daemons.append(subprocess.Popen(["slurmctld", "-D", "-c", "-f", conf], env=env, stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL))
        daemons.append(subprocess.Popen(["slurmd", "-D", "-f", conf], env=env, stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL))
        deadline = time.time() + 30
        while True:
            p = subprocess.run(["sinfo", "-h", "-o", "%t"], env=env, capture_output=True, text=True)
            if p.stdout.strip() == "idle":
                break
            assert time.time() < deadline, "Slurm did not come up: %s %s" % (p.stdout, p.stderr)
            time.sleep(0.2)
        yield d
    finally:
        for pr in reversed(daemons):
            pr.terminate()
        for pr in reversed(daemons):
            try:
                pr.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pr.kill()
                pr.wait()


def case_slurm(tmp):
    job = quickstart_job(tmp)
    env = job.wh.env()
    with slurm_cluster(tmp, env) as d:
        script = os.path.join(d, "backfill.sbatch")
        with open(script, "w") as f:
            f.write(sbatch_script())
        conf_rel, table = job.conf_copy("production/group_bys/quickstart/returns.v1", "slurm")
        env.update({"REPO": job.root, "CONF": conf_rel, "START": "2023-12-01", "END": "2023-12-07"})
        out = os.path.join(d, "job.out")
        p = subprocess.run(["sbatch", "--parsable", "--ntasks=2", "-o", out, script], env=mpi_env(env),
                           capture_output=True,
                           text=True, cwd=d)
        assert p.returncode == 0, p.stderr
        job_id = p.stdout.strip().split(";")[0]
        deadline = time.time() + 120
        state = ""
        while time.time() < deadline:
            q = subprocess.run(["scontrol", "show", "job", job_id], env=env, capture_output=True, text=True)
            m2 = re.search(r"JobState=(\w+)", q.stdout)
            state = m2.group(1) if m2 else ""
            if state in ("COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL", "OUT_OF_MEMORY"):
                break
            time.sleep(0.2)
        log = open(out).read() if os.path.exists(out) else ""
        assert state == "COMPLETED", "job %s: %s\n%s" % (job_id, state, log)
        assert re.search(r"wrote \d+ rows in 7 partitions", log), log
        got = job.rows(table)
        ref_conf, ref_table = job.conf_copy("production/group_bys/quickstart/returns.v1", "single")
        p = job.run(ref_conf, ["--start-ds", "2023-12-01", "--end-ds", "2023-12-07"])
        assert p.returncode == 0, p.stderr
        assert got == job.rows(ref_table), "the Slurm job's rows differ from one process"
        print("slurm: job %s (2 ranks) wrote the same %d rows as one process" % (job_id, len(got)))


def case_sched_slurm(tmp):
    """The scheduler with the "slurm" setting: a GroupBy's backfill_task goes through
    sbatch --wait as 2 MPI ranks, its output lands in the try's log and its rows equal one
    process's; a failing backfill's exit code fails the try."""
    job = quickstart_job(tmp)
    root, ds = job.root, "2023-12-07"
    with open(os.path.join(root, "production/group_bys/quickstart/returns.v1")) as f:
        conf = json.load(f)
    for team, source in (("slurmok", None), ("slurmbad", "data.no_such_table")):
        c = json.loads(json.dumps(conf))
        c["metaData"].update({"team": team, "online": 0, "outputNamespace": team})
        c["metaData"].pop("backfillStartDate", None)
        c.pop("backfillStartDate", None)
        if source:
            c["sources"][0]["events"]["table"] = source
        os.makedirs(os.path.join(root, "production/group_bys", team))
        with open(os.path.join(root, "production/group_bys", team, "returns.v1"), "w") as f:
            json.dump(c, f)
    with open(os.path.join(root, "teams.json")) as f:
        teams = json.load(f)
    teams.update({"slurmok": {"namespace": "slurmok"}, "slurmbad": {"namespace": "slurmbad"}})
    with open(os.path.join(root, "teams.json"), "w") as f:
        json.dump(teams, f)
    # a bad Slurm setting is refused naming the file, the key and the value
    for bad, want in (({"ranks": 0}, "slurm.ranks: expected an integer from 1 to 100000"),
                      ({"args": ["partition=x"]}, "slurm.args[0]: expected an sbatch option"),
                      ({"sbatch_path": "x"}, 'unknown key "sbatch_path"')):
        with open(os.path.join(root, "scheduler.json"), "w") as f:
            json.dump({"slurm": bad}, f)
        p = subprocess.run([CHRONON, "dags", "list", "--repo", root], env=job.wh.env(), capture_output=True, text=True)
        assert p.returncode != 0 and "scheduler.json" in p.stderr and want in p.stderr, p.stderr
    with open(os.path.join(root, "scheduler.json"), "w") as f:
        json.dump({"slurm": {"ranks": 2, "args": ["--time=10"]}, "retries": 0, "poll_interval_seconds": 0.2}, f)
    env = job.wh.env()
    with slurm_cluster(tmp, env):
        env = mpi_env(env)
        # sanitizer builds: the failing job takes the same code path; each job costs ~10 s
        teams = ("slurmok",) if sanitizer_build() and os.environ.get("CN_TEST_SLOW") != "1" else ("slurmok", "slurmbad")
        for team in teams:
            dag = "chronon_batch_dag_" + team
            p = subprocess.run([CHRONON, "scheduler", "--once", "--ds", ds, "--dag", dag, "--repo", root, "--no-ui"],
                               env=env, capture_output=True, text=True, timeout=240)
            lg = subprocess.run([CHRONON, "tasks", "logs", dag, "backfill_task", ds, "--repo", root], env=env,
                                capture_output=True, text=True)
            st = subprocess.run([CHRONON, "dags", "state", dag, ds, "--json", "--repo", root], env=env,
                                capture_output=True, text=True)
            assert re.search(r"Slurm job \d+, output ", lg.stdout), lg.stdout + lg.stderr
            if team == "slurmok":
                assert p.returncode == 0, p.stdout + p.stderr + lg.stdout
                assert "mpirun -np 2" in lg.stdout and re.search(r"wrote \d+ rows in 1 partition\b", lg.stdout), \
                    lg.stdout
                assert "exit code 0" in lg.stdout, lg.stdout
                got = job.rows("slurmok.quickstart_returns_v1")
                ref_conf, ref_table = job.conf_copy("production/group_bys/slurmok/returns.v1", "single")
                r = job.run(ref_conf, ["--ds", ds])
                assert r.returncode == 0, r.stderr
                assert got and got == job.rows(ref_table), "the scheduler's Slurm backfill differs from one process"
            else:
                assert p.returncode != 0, p.stdout + p.stderr
                assert "no_such_table" in lg.stdout, lg.stdout
                assert re.search(r"Slurm job \d+ ended: exit code [1-9]", lg.stdout), lg.stdout
                assert "failed" in st.stdout, st.stdout
    print("sched_slurm: backfill_task through sbatch (2 ranks) equals one process; a failing job fails its try")


def main():
    case = sys.argv[1] if len(sys.argv) > 1 else ""
    fn = globals().get("case_" + case)
    if not fn:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    if not shutil.which("mpirun"):
        skip("mpirun not installed (apt-get install openmpi-bin libopenmpi-dev)")
    probe = subprocess.run(mpirun_cmd(1) + [CHRONON, "run", "--mode", "backfill", "--conf",
                                            "production/group_bys/t/none", "--ds", "2023-12-01"],
                           env=mpi_env(os.environ), capture_output=True, text=True, timeout=60)
    if "built without MPI" in probe.stderr:
        skip("this chronon was built without MPI")
    with tempfile.TemporaryDirectory(prefix="cn-dist-") as tmp:
        fn(tmp)


if __name__ == "__main__":
    main()
