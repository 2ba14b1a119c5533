"""End-to-end tests of Iceberg tables through the real binary and independent readers.

usage: e2e_table.py CASE TABLE_TOOL [DUCKDB_TOOL]

Cases (each in a fresh temporary directory, servers on free loopback ports, stopped
by pid at the end):
  local_readers       chronon load (append, partition overwrite), add column, append with
                      the new column; table_tool, icebird (npm) and the expected rows from
                      the CSVs agree exactly; avsc reads the manifests (field ids, metadata
                      keys); DuckDB reads the data files (rows, sums, Parquet field ids)
  s3_readers          the same on s3rver (npm) through s3://, icebird reading from S3, gc
  crash_<step>        CN_TEST_TABLE_ABORT_AT kills the writer after data, manifests,
                      metadata, before-cas or after-cas: the table reads its previous (or,
                      after the swap, new) snapshot, chronon gc removes the orphans, and
                      the next load works
  concurrent_disjoint two processes overwrite different partitions 50 times each
  concurrent_append   two processes append to one partition 50 times each (101 commits:
                      manifests get merged; icebird reads the result)
  concurrent_overlap  two processes overwrite the same partition 50 times each: every
                      failure is a clear conflict, nothing half-applied
  postgres            a throwaway PostgreSQL (Debian) as the catalog: commits, conflicts
                      and concurrent appends, and the iceberg_tables row
  settings_inputs     flag > environment > default for the warehouse and catalog (--repo),
                      Parquet input, --ds, a bare name in namespace default, gc --all,
                      --help of load and gc
  bad_input           unknown tables (suggestions), unknown columns, names escaping the
                      warehouse, wrong S3 credentials, unreachable catalogs, missing ds
  expire_snapshots    chronon table expire-snapshots: --dry-run, --retain-last 2 then 1;
                      exactly the files only expired snapshots reached are removed, the
                      rows stay, time travel to an expired snapshot fails clearly, icebird
                      still reads the table, gc finds no orphans, bad flags exit 2
A missing checker or server prints SKIP and exits 77 (a failure when CN_TEST_STRICT=1).
"""
import glob
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

CASE, TOOL = sys.argv[1], sys.argv[2]
DUCK = sys.argv[3] if len(sys.argv) > 3 and sys.argv[3] else None
SRC = os.environ.get("CN_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "..", ".."))
NPM = os.environ.get("CN_NPM_DIR", os.path.join(SRC, "third_party", "npm"))
CHRONON = os.environ.get("CHRONON_BIN", "chronon")
HERE = os.path.dirname(os.path.abspath(__file__))


def skip(why):
    if os.environ.get("CN_TEST_STRICT") == "1":
        print("FAIL: SKIP not allowed (CN_TEST_STRICT=1): " + why)
        sys.exit(1)
    print("SKIP: " + why)
    sys.exit(77)


def check(cond, what):
    if not cond:
        print("FAIL: " + what)
        sys.exit(1)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_port(port, proc, timeout=30.0):
    end = time.time() + timeout
    while time.time() < end:
        if proc.poll() is not None:
            return False
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return True
        except OSError:
            time.sleep(0.1)
    return False


def base_env():
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("AWS_") and not k.startswith("CHRONON_WAREHOUSE")
           and k not in ("CHRONON_CATALOG", "CN_TEST_TABLE_ABORT_AT", "CN_TEST_OBJ_FAIL")}
    return env


class Ctx:
    def __init__(self, work, warehouse, catalog, env=None, s3=None):
        self.work, self.wh, self.cat = work, warehouse, catalog
        self.env = env or base_env()
        self.s3 = s3

    def chronon(self, *args, expect=0, env=None):
        e = dict(self.env)
        e.update(env or {})
        p = subprocess.run([CHRONON] + list(args) + ["--warehouse", self.wh, "--catalog", self.cat],
                           env=e, capture_output=True, text=True, timeout=120)
        if expect is not None and p.returncode != expect:
            print("FAIL: chronon %s: rc=%d (expected %d)\nstdout: %s\nstderr: %s" % (
                " ".join(args), p.returncode, expect, p.stdout[-2000:], p.stderr[-2000:]))
            sys.exit(1)
        return p

    def tool(self, *args, expect=0):
        p = subprocess.run([TOOL, self.wh, self.cat] + list(args), env=self.env,
                           capture_output=True, text=True, timeout=120)
        if expect is not None and p.returncode != expect:
            print("FAIL: table_tool %s: rc=%d\nstdout: %s\nstderr: %s" % (
                " ".join(args), p.returncode, p.stdout[-2000:], p.stderr[-2000:]))
            sys.exit(1)
        return p

    def scan(self, table, *opts):
        out = self.tool("scan", table, *opts).stdout.splitlines()
        check(out and out[-1].startswith("#files"), "scan output ends without #files: %s" % out[-1:])
        return sorted_rows([json.loads(x) for x in out[:-1]])

    def snapshots(self, table):
        return [json.loads(x) for x in self.tool("snapshots", table).stdout.splitlines()]

    def meta(self, table):
        return self.tool("meta", table).stdout.strip()


def sorted_rows(rows):
    return sorted(rows, key=lambda r: json.dumps(r, sort_keys=True))


def write_csv(path, header, rows):
    with open(path, "w") as f:
        f.write(",".join(header) + "\n")
        for r in rows:
            f.write(",".join("" if v is None else str(v) for v in r) + "\n")


DAY = 86400000
T0 = 1701388800000  # 2023-12-01T00:00:00Z


def ds_of(ts):
    return time.strftime("%Y-%m-%d", time.gmtime(ts // 1000))


def node():
    n = shutil.which("node")
    if not n:
        skip("node is not installed")
    return n


def icebird(meta_uri, endpoint=None):
    if not os.path.isdir(os.path.join(NPM, "node_modules", "icebird")):
        skip("icebird not installed (run scripts/checkers.sh)")
    args = [node(), os.path.join(HERE, "icebird_read.mjs"), meta_uri] + ([endpoint] if endpoint else [])
    p = subprocess.run(args, capture_output=True, text=True, timeout=120,
                       env=dict(os.environ, CN_SOURCE_DIR=SRC))
    if p.returncode == 77:
        skip(p.stdout.strip())
    check(p.returncode == 0, "icebird failed: %s" % p.stderr[-3000:])
    return sorted_rows([json.loads(x) for x in p.stdout.splitlines()])


def icebird_entries(meta_uri):
    """the current snapshot's manifest entries as icebird reads them"""
    if not os.path.isdir(os.path.join(NPM, "node_modules", "icebird")):
        skip("icebird not installed (run scripts/checkers.sh)")
    p = subprocess.run([node(), os.path.join(HERE, "icebird_read.mjs"), meta_uri, "--entries"], capture_output=True,
                       text=True, timeout=120, env=dict(os.environ, CN_SOURCE_DIR=SRC))
    if p.returncode == 77:
        skip(p.stdout.strip())
    check(p.returncode == 0, "icebird failed: %s" % p.stderr[-3000:])
    return [json.loads(x) for x in p.stdout.splitlines()]


def avsc_read(path):
    js = os.path.join(SRC, "tests", "checkers", "avro_check.cjs")
    p = subprocess.run([node(), js, "read", path], capture_output=True, text=True, timeout=60,
                       env=dict(os.environ, CN_SOURCE_DIR=SRC))
    if p.returncode == 77:
        skip(p.stdout.strip())
    check(p.returncode == 0, "avsc could not read %s: %s" % (path, p.stderr[-2000:]))
    return json.loads(p.stdout)


# ---------------------------------------------------------------- the scenario


def scenario(ctx, table="data.events"):
    """append 40 rows over 4 days (ds from ts), overwrite day 2 with 5 rows, add column
    score, append 6 rows with scores. Returns the expected rows."""
    w = ctx.work
    rows1 = [(i, T0 + (i % 4) * DAY + i * 1000, i * 1.5) for i in range(40)]
    write_csv(w + "/a.csv", ["user_id", "ts", "amount"], rows1)
    ctx.chronon("load", w + "/a.csv", table, "--partition-from", "ts")
    rows2 = [(100 + i, T0 + DAY + i, 0.25 * i) for i in range(5)]
    write_csv(w + "/b.csv", ["user_id", "ts", "amount"], rows2)
    out = ctx.chronon("load", w + "/b.csv", table, "--partition-from", "ts", "--mode", "overwrite").stdout
    check("overwrote partitions with 5 rows" in out, "overwrite output: %s" % out)
    ctx.tool("add-column", table, "score", "float64")
    rows3 = [(200 + i, T0 + 3 * DAY + i, 1.0 + i, 0.5 + i) for i in range(6)]
    write_csv(w + "/c.csv", ["user_id", "ts", "amount", "score"], rows3)
    ctx.chronon("load", w + "/c.csv", table, "--partition-from", "ts")
    exp = [{"user_id": u, "ts": t, "amount": a, "ds": ds_of(t), "score": None}
           for (u, t, a) in rows1 if ds_of(t) != "2023-12-02"]
    exp += [{"user_id": u, "ts": t, "amount": a, "ds": ds_of(t), "score": None} for (u, t, a) in rows2]
    exp += [{"user_id": u, "ts": t, "amount": a, "ds": ds_of(t), "score": s} for (u, t, a, s) in rows3]
    return sorted_rows(exp), rows1


def check_manifests(meta_path_local):
    meta = json.load(open(meta_path_local))
    snap = [s for s in meta["snapshots"] if s["snapshot-id"] == meta["current-snapshot-id"]][0]
    ml = snap["manifest-list"]
    check(ml.startswith("file://"), "manifest list location %s" % ml)
    d = avsc_read(ml[7:])
    check(d["codec"] == "null", "manifest list codec %s" % d["codec"])
    for k in ("snapshot-id", "parent-snapshot-id", "sequence-number", "format-version"):
        check(k in d["meta"], "manifest list lacks metadata key %s" % k)
    check(d["meta"]["format-version"] == "2", "format-version %s" % d["meta"]["format-version"])
    ids = {f["name"]: f.get("field-id") for f in d["schema"]["fields"]}
    check(ids["manifest_path"] == 500 and ids["added_snapshot_id"] == 503 and ids["partitions"] == 507,
          "manifest list field ids: %s" % ids)
    check(len(d["records"]) >= 2, "manifest list has %d manifests" % len(d["records"]))
    n_live = 0
    for m in d["records"]:
        md = avsc_read(m["manifest_path"][7:])
        for k in ("schema", "schema-id", "partition-spec", "partition-spec-id", "format-version", "content"):
            check(k in md["meta"], "manifest lacks metadata key %s" % k)
        check(json.loads(md["meta"]["partition-spec"])[0]["field-id"] == 1000, "partition spec %s" % md["meta"]["partition-spec"])
        df = [f for f in md["schema"]["fields"] if f["name"] == "data_file"][0]["type"]
        fids = {f["name"]: f.get("field-id") for f in df["fields"]}
        check(fids["file_path"] == 100 and fids["record_count"] == 103 and fids["partition"] == 102,
              "data_file field ids %s" % fids)
        for r in md["records"]:
            check(r["data_file"]["file_format"] == "PARQUET", "file_format %s" % r["data_file"]["file_format"])
            if r["status"] != 2:
                n_live += r["data_file"]["record_count"]
            if r["status"] == 1:
                check(r["sequence_number"] is None, "ADDED entry carries a sequence number (must inherit)")
            else:
                check(r["sequence_number"] is not None, "EXISTING/DELETED entry without sequence number")
    return n_live


def case_local_readers(work):
    wh = work + "/wh"
    ctx = Ctx(work, wh, "sqlite:%s/catalog.db" % work)
    exp, rows1 = scenario(ctx)
    got = ctx.scan("data.events")
    check(got == exp, "table_tool rows differ from the CSVs:\n%s\nvs\n%s" % (got[:3], exp[:3]))
    meta = ctx.meta("data.events")
    ice = icebird(meta)
    check(ice == exp, "icebird rows differ (%d vs %d):\n%s\nvs\n%s" % (len(ice), len(exp), ice[:2], exp[:2]))
    check(check_manifests(meta[7:]) == len(exp), "live records in manifests != rows")
    snaps = ctx.snapshots("data.events")
    check([s["op"] for s in snaps] == ["append", "overwrite", "append"], "ops %s" % snaps)
    # time travel to the first snapshot: the 40 original rows, without score
    first = ctx.scan("data.events", "--snapshot", str(snaps[0]["id"]))
    check(len(first) == 40 and "score" not in first[0], "snapshot 1: %d rows %s" % (len(first), first[:1]))
    # pruning and projection
    day4 = ctx.scan("data.events", "--ds-lo", "2023-12-04", "--ds-hi", "2023-12-04", "--columns", "user_id,score")
    check(day4 == sorted_rows([{"user_id": r["user_id"], "score": r["score"]} for r in exp if r["ds"] == "2023-12-04"]),
          "day 4 projection: %s" % day4[:3])
    # DuckDB reads our data files: the first load's files (all still on disk)
    if not DUCK or not os.path.exists(DUCK):
        skip("duckdb_tool not built (run scripts/checkers.sh, then build): %s" % DUCK)
    files = sorted(glob.glob(wh + "/data.db/events/data/ds=*/*.parquet"))
    lst = "[" + ",".join("'%s'" % f for f in files) + "]"
    p = subprocess.run([DUCK, "SELECT count(*) AS n, sum(user_id) AS s FROM read_parquet(%s)" % lst,
                        "SELECT DISTINCT name, field_id FROM parquet_schema(%s) WHERE field_id IS NOT NULL ORDER BY field_id" % lst],
                       capture_output=True, text=True, timeout=60)
    check(p.returncode == 0, "duckdb: %s" % p.stderr)
    lines = [json.loads(x) for x in p.stdout.splitlines()]
    all_rows = rows1 + [(100 + i, 0, 0) for i in range(5)] + [(200 + i, 0, 0) for i in range(6)]
    check(lines[0] == {"n": len(all_rows), "s": sum(r[0] for r in all_rows)}, "duckdb count/sum %s" % lines[0])
    ids = {l["name"]: l["field_id"] for l in lines[1:]}
    check(ids == {"user_id": 1, "ts": 2, "amount": 3, "ds": 4, "score": 5}, "Parquet field ids %s" % ids)
    # and we load a Parquet file DuckDB wrote (no field ids: columns go by name)
    duck_file = work + "/duck.parquet"
    p = subprocess.run([DUCK, "COPY (SELECT i::BIGINT AS user_id, (%d + i * 3600000)::BIGINT AS ts, (i * 0.5)::DOUBLE AS amount "
                        "FROM range(100) t(i)) TO '%s' (FORMAT PARQUET)" % (T0, duck_file)],
                       capture_output=True, text=True, timeout=60)
    check(p.returncode == 0, "duckdb COPY: %s" % p.stderr)
    ctx.chronon("load", duck_file, "data.events", "--partition-from", "ts")
    got = ctx.scan("data.events", "--ds-lo", "2023-12-05")
    want = sorted_rows([{"user_id": i, "ts": T0 + i * 3600000, "amount": i * 0.5, "ds": ds_of(T0 + i * 3600000),
                         "score": None} for i in range(100) if ds_of(T0 + i * 3600000) >= "2023-12-05"])
    check(got == want, "rows loaded from DuckDB's Parquet: %d vs %d" % (len(got), len(want)))


def s3rver(work):
    js = os.path.join(NPM, "node_modules", "s3rver", "bin", "s3rver.js")
    if not os.path.exists(js):
        skip("s3rver not installed (run scripts/checkers.sh)")
    data = work + "/s3data"
    os.mkdir(data)
    for _ in range(3):
        port = free_port()
        proc = subprocess.Popen([node(), "--openssl-legacy-provider", js, "-d", data, "-a", "127.0.0.1",
                                 "-p", str(port), "--configure-bucket", "chronon", "--silent"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if wait_port(port, proc):
            return proc, port
        proc.kill()
        proc.wait()
    check(False, "s3rver did not start")


def stop(proc):
    if proc and proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def s3_env(port, key="S3RVER"):
    env = base_env()
    env.update(AWS_ENDPOINT_URL="http://127.0.0.1:%d" % port, AWS_ACCESS_KEY_ID=key,
               AWS_SECRET_ACCESS_KEY="S3RVER", AWS_REGION="us-east-1")
    return env


def case_s3_readers(work):
    proc, port = s3rver(work)
    try:
        ctx = Ctx(work, "s3://chronon/wh", "sqlite:%s/catalog.db" % work, env=s3_env(port))
        exp, _ = scenario(ctx)
        check(ctx.scan("data.events") == exp, "S3 table rows differ from the CSVs")
        meta = ctx.meta("data.events")
        check(meta.startswith("s3://chronon/wh/data.db/events/metadata/v"), "metadata location %s" % meta)
        ice = icebird(meta, "http://127.0.0.1:%d" % port)
        check(ice == exp, "icebird over S3: %d rows vs %d expected" % (len(ice), len(exp)))
        # objects are where another S3 client looks for them
        keys = glob.glob(work + "/s3data/chronon/wh/data.db/events/data/ds=2023-12-0*/*")
        check(len(keys) >= 4, "data objects in s3rver: %s" % keys)
        # a crashed S3 writer's files are collected by gc
        write_csv(work + "/d.csv", ["user_id", "ts", "amount", "score"], [(999, T0, 1.0, 2.0)])
        # the killed writer cannot remove its staging folder: keep it under the work dir
        stage = os.path.join(work, "stage")
        os.makedirs(stage)
        p = ctx.chronon("load", work + "/d.csv", "data.events", "--partition-from", "ts", expect=None,
                        env={"CN_TEST_TABLE_ABORT_AT": "manifests", "TMPDIR": stage})
        check(p.returncode == -9, "writer was not killed: rc=%d %s" % (p.returncode, p.stderr))
        staged = os.listdir(stage)
        check(len(staged) == 1 and staged[0].startswith("chronon-write-"),
              "killed writer's staging folder: %s" % staged)
        check(ctx.scan("data.events") == exp, "S3 table changed by a killed writer")
        out = ctx.chronon("gc", "--older-than", "0s", "data.events").stdout
        removed = [l for l in out.splitlines() if l.startswith("removed s3://")]
        check(any(l.endswith(").parquet") or ".parquet " in l for l in removed) and any(".avro " in l for l in removed),
              "gc on S3 removed: %s" % out)
        check(ctx.scan("data.events") == exp, "S3 table changed by gc")
    finally:
        stop(proc)


# ------------------------------------------------------------------ crashes


def table_files(wh, table="data.events"):
    ns, name = table.split(".")
    root = os.path.join(wh, ns + ".db", name)
    out = []
    for d, _, fs in os.walk(root):
        out += [os.path.join(d, f) for f in fs]
    return sorted(out)


def case_crash(work, step):
    wh = work + "/wh"
    ctx = Ctx(work, wh, "sqlite:%s/catalog.db" % work)
    rows = [(i, T0 + (i % 3) * DAY, 1.0 * i) for i in range(30)]
    write_csv(work + "/a.csv", ["user_id", "ts", "amount"], rows)
    ctx.chronon("load", work + "/a.csv", "data.events", "--partition-from", "ts")
    before = ctx.scan("data.events")
    files_before = table_files(wh)
    write_csv(work + "/b.csv", ["user_id", "ts", "amount"], [(500 + i, T0 + 5 * DAY, 2.0) for i in range(4)])
    p = ctx.chronon("load", work + "/b.csv", "data.events", "--partition-from", "ts", "--mode", "overwrite",
                    expect=None, env={"CN_TEST_TABLE_ABORT_AT": step})
    check(p.returncode == -9, "writer not killed at %s: rc=%d %s" % (step, p.returncode, p.stderr))
    check("CN_TEST_TABLE_ABORT_AT=%s" % step in p.stderr, "no abort note: %s" % p.stderr)
    after = ctx.scan("data.events")
    snaps = ctx.snapshots("data.events")
    new_files = sorted(set(table_files(wh)) - set(files_before))
    if step == "after-cas":
        check(len(snaps) == 2 and len(after) == 34, "after the swap the new snapshot is current: %d snapshots, %d rows" % (len(snaps), len(after)))
    else:
        check(len(snaps) == 1 and after == before, "killed at %s: %d snapshots, %d rows (expected the old 30)" % (step, len(snaps), len(after)))
        check(icebird(ctx.meta("data.events")) == before, "icebird sees a partial commit after %s" % step)
        kinds = {"data": [".parquet"], "manifests": [".parquet", "-m0.avro", "snap-"],
                 "metadata": [".parquet", "-m0.avro", "snap-", ".metadata.json"],
                 "before-cas": [".parquet", "-m0.avro", "snap-", ".metadata.json"]}[step]
        for k in kinds:
            check(any(k in f for f in new_files), "killed at %s: no leftover %s in %s" % (step, k, new_files))
    out = ctx.chronon("gc", "--older-than", "0s", "data.events").stdout
    removed = sorted(l.split(" ")[1][7:] for l in out.splitlines() if l.startswith("removed "))
    if step == "after-cas":
        check(removed == [], "gc removed live files after a committed write: %s" % removed)
    else:
        check(removed == new_files, "gc removed %s, the orphans were %s" % (removed, new_files))
    check(table_files(wh) == sorted(files_before if step != "after-cas" else files_before + new_files),
          "files after gc differ")
    check(ctx.scan("data.events") == after, "gc changed the table")
    # the table is not wedged: the same load now works
    ctx.chronon("load", work + "/b.csv", "data.events", "--partition-from", "ts", "--mode", "overwrite")
    check(len(ctx.scan("data.events")) == 34, "load after the crash")


# -------------------------------------------------------------- concurrency


def run_writers(ctx, table, mode, day_of, n=50):
    """Two processes run n loads each; load i of writer w has 2 rows with user_id
    w*1000+i in day day_of(w). Returns [(writer, i, rc, stderr)]."""
    for w in (1, 2):
        for i in range(n):
            write_csv("%s/w%d_%d.csv" % (ctx.work, w, i), ["user_id", "ts", "amount"],
                      [(w * 1000 + i, T0 + day_of(w) * DAY + k, float(k)) for k in range(2)])
    script = ("for i in $(seq 0 %d); do \"$CHRONON\" load \"$WORK/w$W_$i.csv\" %s --partition-from ts "
              "--mode %s --warehouse \"$WH\" --catalog \"$CAT\" >/dev/null 2>\"$WORK/err$W_$i\"; "
              "echo \"$i $?\"; done" % (n - 1, table, mode)).replace("$W_", "${W}_")
    procs = []
    for w in (1, 2):
        env = dict(ctx.env, CHRONON=CHRONON, WORK=ctx.work, WH=ctx.wh, CAT=ctx.cat, W=str(w))
        procs.append(subprocess.Popen(["sh", "-c", script], env=env, stdout=subprocess.PIPE, text=True))
    results = []
    for w, p in zip((1, 2), procs):
        out, _ = p.communicate(timeout=600)
        for line in out.splitlines():
            i, rc = line.split()
            err = open("%s/err%d_%s" % (ctx.work, w, i)).read()
            results.append((w, int(i), int(rc), err))
    check(len(results) == 2 * n, "writers finished %d loads" % len(results))
    return results


def check_all_snapshots(ctx, table):
    snaps = ctx.snapshots(table)
    for s in snaps:
        rows = ctx.scan(table, "--snapshot", str(s["id"]))
        check(len(rows) == s["total_records"], "snapshot %d: %d rows, summary says %d" % (s["id"], len(rows), s["total_records"]))
    return snaps


def case_concurrent(work, kind, ctx=None, table="data.events", n=50):
    ctx = ctx or Ctx(work, work + "/wh", "sqlite:%s/catalog.db" % work)
    write_csv(work + "/seed.csv", ["user_id", "ts", "amount"], [(0, T0, 0.0)])
    ctx.chronon("load", work + "/seed.csv", table, "--partition-from", "ts")
    if kind == "disjoint":
        res = run_writers(ctx, table, "overwrite", lambda w: w, n)
    elif kind == "append":
        res = run_writers(ctx, table, "append", lambda w: 1, n)
    else:
        res = run_writers(ctx, table, "overwrite", lambda w: 1, n)
    ok = [r for r in res if r[2] == 0]
    bad = [r for r in res if r[2] != 0]
    rows = ctx.scan(table)
    snaps = check_all_snapshots(ctx, table)
    check(len(snaps) == 1 + len(ok), "%d snapshots for %d successful commits" % (len(snaps), len(ok)))
    if kind in ("disjoint", "append"):
        check(not bad, "%s writers failed: %s" % (kind, bad[:3]))
    if kind == "disjoint":
        ids = sorted({r["user_id"] for r in rows})
        check(ids == [0, 1000 + n - 1, 2000 + n - 1], "final rows after disjoint overwrites: %s" % ids)
    elif kind == "append":
        ids = sorted(r["user_id"] for r in rows)
        want = sorted([0] + [w * 1000 + i for w in (1, 2) for i in range(n) for _ in range(2)])
        check(ids == want, "appends lost or duplicated: %d rows, expected %d" % (len(ids), len(want)))
        # 2n+1 commits (101 by default): the older manifests were merged; icebird reads the same rows
        check(icebird(ctx.meta(table)) == rows, "icebird disagrees after 101 commits (merged manifests)")
    else:
        for (w, i, rc, err) in bad:
            lines = err.strip().splitlines()
            check(len(lines) == 1 and "conflicts with snapshot" in lines[0] and "ds=2023-12-02" in lines[0]
                  and table in lines[0], "unclear failure of writer %d load %d: %s" % (w, i, err))
        day = [r for r in rows if r["ds"] == "2023-12-02"]
        check(len(day) == 2 and len({r["user_id"] for r in day}) == 1,
              "overlapping overwrites left a mix: %s" % day)
        print("overlapping overwrites: %d committed, %d conflicts" % (len(ok), len(bad)))


# --------------------------------------------------------------- PostgreSQL


def postgres(work):
    bindir = "/usr/lib/postgresql/15/bin"
    cands = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not cands:
        skip("PostgreSQL server not installed (scripts/deps.sh test installs postgresql)")
    bindir = os.path.dirname(cands[-1])
    data = work + "/pg"
    os.mkdir(data)
    pre = []
    if os.geteuid() == 0:  # postgres refuses to run as root
        shutil.chown(work, "postgres")
        shutil.chown(data, "postgres")
        os.chmod(work, 0o755)
        pre = ["runuser", "-u", "postgres", "--"]
    p = subprocess.run(pre + [bindir + "/initdb", "-D", data, "-A", "trust", "-U", "postgres", "--no-sync"],
                       capture_output=True, text=True)
    check(p.returncode == 0, "initdb: %s" % p.stderr)
    for _ in range(3):
        port = free_port()
        proc = subprocess.Popen(pre + [bindir + "/postgres", "-D", data, "-p", str(port), "-k", data,
                                       "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if wait_port(port, proc):
            time.sleep(0.3)
            return proc, port
        stop(proc)
    check(False, "postgres did not start")


def case_postgres(work):
    os.chmod(work, 0o755)
    proc, port = postgres(work)
    try:
        uri = "postgresql://postgres@127.0.0.1:%d/postgres" % port
        sub = work + "/run"
        os.mkdir(sub)
        ctx = Ctx(sub, sub + "/wh", uri)
        exp, _ = scenario(ctx)
        check(ctx.scan("data.events") == exp, "rows with the PostgreSQL catalog differ")
        meta = ctx.meta("data.events")
        p = subprocess.run(["psql", "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", "-At", "-c",
                            "SELECT catalog_name, table_namespace, table_name, metadata_location, "
                            "previous_metadata_location IS NOT NULL FROM iceberg_tables"],
                           capture_output=True, text=True)
        check(p.returncode == 0, "psql: %s" % p.stderr)
        check(p.stdout.strip() == "chronon|data|events|%s|t" % meta, "iceberg_tables row: %s" % p.stdout)
        p = subprocess.run(["psql", "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", "-At", "-c",
                            "SELECT namespace, property_key FROM iceberg_namespace_properties"],
                           capture_output=True, text=True)
        check(p.stdout.strip() == "data|exists", "namespace row: %s" % p.stdout)
        check(icebird(meta) == exp, "icebird with the PostgreSQL catalog")
        # concurrent appends and overlapping overwrites through the shared catalog
        sub2 = work + "/conc"
        os.mkdir(sub2)
        # fewer loads than the SQLite cases: the races are the same, the catalog is what differs
        case_concurrent(sub2, "append", Ctx(sub2, sub2 + "/wh", uri), table="conc.events", n=20)
        sub3 = work + "/overlap"
        os.mkdir(sub3)
        case_concurrent(sub3, "overlap", Ctx(sub3, sub3 + "/wh", uri), table="overlap.events", n=20)
    finally:
        stop(proc)


# ---------------------------------------------------------------- bad input


def expect_fail(p, *needles):
    err = p.stderr.strip()
    check(p.returncode not in (0, None), "expected a failure, got rc=0: %s" % p.stdout)
    check(len(err.splitlines()) == 1, "expected one error line, got: %s" % err)
    for n in needles:
        check(n in err, "error lacks %r: %s" % (n, err))


def case_bad_input(work):
    wh = work + "/wh"
    ctx = Ctx(work, wh, "sqlite:%s/catalog.db" % work)
    write_csv(work + "/a.csv", ["user_id", "ts", "amount"], [(1, T0, 1.0), (2, T0 + DAY, 2.0)])
    ctx.chronon("load", work + "/a.csv", "data.purchases", "--partition-from", "ts")
    n_snaps = len(ctx.snapshots("data.purchases"))
    # unknown table and namespace, with suggestions
    expect_fail(ctx.tool("scan", "data.purchase", expect=None), "data.purchase not found", "did you mean data.purchases?")
    expect_fail(ctx.tool("scan", "dta.purchases", expect=None), "namespace \"dta\" does not exist", "did you mean data?")
    expect_fail(ctx.chronon("gc", "data.purchse", expect=None), "chronon gc:", "did you mean data.purchases?")
    # a file column the table lacks; a type that differs
    write_csv(work + "/b.csv", ["user_id", "ts", "amount", "colour"], [(3, T0, 1.0, "red")])
    expect_fail(ctx.chronon("load", work + "/b.csv", "data.purchases", "--partition-from", "ts", expect=None),
                "column \"colour\" is not in table data.purchases", "user_id, ts, amount, ds")
    write_csv(work + "/c.csv", ["user_id", "ts", "amount"], [("abc", T0, 1.0)])
    expect_fail(ctx.chronon("load", work + "/c.csv", "data.purchases", "--partition-from", "ts", expect=None),
                "column \"user_id\" is string", "int64")
    # names that try to leave the warehouse
    for bad in ("../escape.t", "data/../../x.y", "data.a/b", "..", "data..t", "data.t t"):
        expect_fail(ctx.chronon("load", work + "/a.csv", bad, "--partition-from", "ts", expect=None), "table name")
    check(os.listdir(wh) == ["data.db"], "warehouse holds %s" % os.listdir(wh))
    check(not os.path.exists(work + "/escape.db") and not os.path.exists(work + "/x.db"), "a name escaped the warehouse")
    # partition column problems
    expect_fail(ctx.chronon("load", work + "/a.csv", "data.purchases", expect=None), "has no ds column", "--partition-from")
    expect_fail(ctx.chronon("load", work + "/a.csv", "data.purchases", "--partition-from", "when", expect=None),
                "no column \"when\"", "user_id, ts, amount")
    expect_fail(ctx.chronon("load", work + "/a.csv", "data.purchases", "--ds", "2023-02-30", expect=None), "--ds \"2023-02-30\"")
    expect_fail(ctx.chronon("load", work + "/a.csv", "data.purchases", "--partition-from", "ts", "--mode", "merge", expect=None),
                "--mode \"merge\"")
    write_csv(work + "/d.csv", ["ds", "user_id", "ts", "amount"], [("2023-12-01", 1, T0, 1.0), ("12/02/2023", 2, T0, 1.0)])
    expect_fail(ctx.chronon("load", work + "/d.csv", "data.purchases", expect=None), "\"12/02/2023\" is not a YYYY-MM-DD date")
    expect_fail(ctx.chronon("load", work + "/missing.csv", "data.purchases", "--partition-from", "ts", expect=None), "missing.csv")
    check(len(ctx.snapshots("data.purchases")) == n_snaps, "a failed load committed something")
    # a failed first load does not leave an empty table behind
    expect_fail(ctx.chronon("load", work + "/d.csv", "data.fresh", expect=None), "\"12/02/2023\" is not a YYYY-MM-DD date")
    expect_fail(ctx.tool("scan", "data.fresh", expect=None), "data.fresh not found")
    check(not glob.glob(wh + "/data.db/fresh/metadata/*") and not glob.glob(wh + "/data.db/fresh/data/*/*"),
          "files of the undone table remain: %s" % glob.glob(wh + "/data.db/fresh/*/*"))
    check(len(ctx.scan("data.purchases")) == 2, "rows changed by failed loads")
    # unreachable catalogs
    bad_pg = "postgresql://chronon:hunter2@127.0.0.1:%d/cat?connect_timeout=3" % free_port()
    p = Ctx(work, wh, bad_pg).chronon("load", work + "/a.csv", "data.x", "--partition-from", "ts", expect=None)
    expect_fail(p, "postgresql://chronon:***@127.0.0.1")
    check("hunter2" not in p.stderr, "password printed: %s" % p.stderr)
    expect_fail(Ctx(work, wh, "sqlite:%s/no/dir/c.db" % work).chronon("load", work + "/a.csv", "data.x", "--partition-from", "ts", expect=None),
                "sqlite:%s/no/dir/c.db" % work)
    # wrong S3 credentials: s3rver knows only the access key S3RVER
    proc, port = s3rver(work)
    try:
        s3 = Ctx(work, "s3://chronon/wh", "sqlite:%s/s3cat.db" % work, env=s3_env(port, key="WRONGKEY"))
        p = s3.chronon("load", work + "/a.csv", "data.x", "--partition-from", "ts", expect=None)
        expect_fail(p, "403")
        check("InvalidAccessKeyId" in p.stderr, "S3 error code missing: %s" % p.stderr)
        good = Ctx(work, "s3://chronon/wh", "sqlite:%s/s3cat.db" % work, env=s3_env(port))
        expect_fail(good.tool("scan", "data.x", expect=None), "data.x not found")
    finally:
        stop(proc)


def case_settings_inputs(work):
    env = base_env()

    def run(*args, cwd=None, extra=None, expect=0):
        e = dict(env)
        e.update(extra or {})
        p = subprocess.run([CHRONON] + list(args), env=e, cwd=cwd, capture_output=True, text=True, timeout=120)
        check(p.returncode == expect, "chronon %s: rc=%d %s" % (" ".join(args), p.returncode, p.stderr))
        return p

    for verb, needle in (("load", "--partition-from COL"), ("gc", "--older-than DURATION")):
        out = run(verb, "--help").stdout
        check(out.startswith("usage: chronon %s" % verb) and needle in out, "%s --help: %s" % (verb, out[:200]))
    repo = work + "/repo"
    os.mkdir(repo)
    write_csv(work + "/a.csv", ["user_id", "ts", "amount"], [(1, T0, 1.0), (2, T0 + DAY, 2.0)])
    # default: <root>/warehouse and sqlite:<warehouse>/catalog.db, root = --repo or the cwd
    run("load", work + "/a.csv", "data.a", "--partition-from", "ts", "--repo", repo)
    check(os.path.isfile(repo + "/warehouse/catalog.db"), "default catalog not under <repo>/warehouse")
    check(glob.glob(repo + "/warehouse/data.db/a/data/ds=2023-12-01/*.parquet"), "default warehouse not used")
    run("load", work + "/a.csv", "data.a", "--partition-from", "ts", cwd=repo)
    d = Ctx(work, repo + "/warehouse", "sqlite:%s/warehouse/catalog.db" % repo)
    check(len(d.scan("data.a")) == 4, "second load from the repo's cwd did not reach the same table")
    # environment beats the default, a flag beats the environment
    env_wh, env_cat = work + "/envwh", "sqlite:%s/env.db" % work
    run("load", work + "/a.csv", "b", "--ds", "2023-12-09", "--repo", repo,
        extra={"CHRONON_WAREHOUSE": env_wh, "CHRONON_CATALOG": env_cat})
    e = Ctx(work, env_wh, env_cat)
    rows = e.scan("default.b")
    check([r["ds"] for r in rows] == ["2023-12-09"] * 2, "--ds into default.b: %s" % rows)
    run("load", work + "/a.csv", "c", "--ds", "2023-12-09", "--warehouse", work + "/flagwh", "--catalog", env_cat,
        extra={"CHRONON_WAREHOUSE": env_wh})
    check(glob.glob(work + "/flagwh/default.db/c/data/ds=2023-12-09/*.parquet"), "--warehouse did not beat the environment")
    # Parquet input: one of our own data files (it has ds) into a new table
    src = sorted(glob.glob(repo + "/warehouse/data.db/a/data/ds=2023-12-02/*.parquet"))[0]
    run("load", src, "data.copy", "--repo", repo)
    check(d.scan("data.copy") == [{"user_id": 2, "ts": T0 + DAY, "amount": 2.0, "ds": "2023-12-02"}],
          "Parquet load: %s" % d.scan("data.copy"))
    p = run("load", src, "data.copy", "--repo", repo, "--schema", "user_id:int64", expect=1)
    check("--schema applies to CSV files only" in p.stderr, p.stderr)
    # gc --all visits every table of the catalog
    out = run("gc", "--all", "--older-than", "0s", "--repo", repo).stdout
    check("data.a: removed 0 orphan files" in out and "data.copy: removed 0 orphan files" in out, "gc --all: %s" % out)
    p = run("gc", "--repo", repo, expect=2)
    check("name tables or pass --all" in p.stderr, p.stderr)
    p = run("gc", "--older-than", "5x", "data.a", "--repo", repo, expect=1)
    check("--older-than \"5x\"" in p.stderr, p.stderr)


def live_data_files(manifest_list):
    """Data files a snapshot reads (entries not marked deleted), read with avsc."""
    out = set()
    for m in avsc_read(manifest_list)["records"]:
        for r in avsc_read(m["manifest_path"][7:])["records"]:
            if r["status"] != 2:
                out.add(r["data_file"]["file_path"][7:])
    return out


def case_expire_snapshots(work):
    wh = work + "/wh"
    ctx = Ctx(work, wh, "sqlite:%s/catalog.db" % work)
    exp, rows1 = scenario(ctx)                      # snapshots: append, overwrite, append
    exp3 = exp
    first_files = set(table_files(wh))
    day1 = [(300 + i, T0 + i, 9.0) for i in range(3)]
    write_csv(work + "/d.csv", ["user_id", "ts", "amount"], day1)
    ctx.chronon("load", work + "/d.csv", "data.events", "--partition-from", "ts", "--mode", "overwrite")
    exp = sorted_rows([r for r in exp if r["ds"] != "2023-12-01"] +
                      [{"user_id": u, "ts": t, "amount": a, "ds": ds_of(t), "score": None} for (u, t, a) in day1])
    snaps = ctx.snapshots("data.events")
    check([x["op"] for x in snaps] == ["append", "overwrite", "append", "overwrite"], "ops %s" % snaps)
    check(ctx.scan("data.events") == exp, "rows before expiry")
    data = lambda ds: sorted(f for f in table_files(wh) if "/data/ds=%s/" % ds in f)
    day1_first = sorted(set(data("2023-12-01")) & first_files)
    out = ctx.chronon("table", "expire-snapshots", "data.events", "--older-than", "0", "--retain-last", "2",
                      "--dry-run").stdout
    check("2 of 4 snapshots would expire" in out, "dry run: %s" % out)
    check(len(ctx.snapshots("data.events")) == 4, "the dry run changed the table")
    before = set(table_files(wh))
    # the first load's day-2 files were overwritten by snapshot 2: only snapshot 1 read them
    meta0 = json.load(open(ctx.meta("data.events")[7:]))
    lists = {x["snapshot-id"]: x["manifest-list"][7:] for x in meta0["snapshots"]}
    out = ctx.chronon("table", "expire-snapshots", "data.events", "--older-than", "0", "--retain-last", "2").stdout
    check("expired 2 snapshots (2 kept)" in out, "expire output: %s" % out)
    removed = sorted(l.split(" ", 1)[1][7:] for l in out.splitlines() if l.startswith("removed "))
    gone = sorted(before - set(table_files(wh)))
    check(removed == gone, "reported %s, removed %s" % (removed, gone))
    # data files: exactly those no kept snapshot (3, 4) reads, as avsc reads the manifests
    kept_live = live_data_files(lists[snaps[2]["id"]]) | live_data_files(lists[snaps[3]["id"]])
    want = sorted(f for f in before if f.endswith(".parquet") and f not in kept_live)
    check(want and all("/data/ds=2023-12-02/" in f for f in want), "expected removals %s" % want)
    check(sorted(f for f in gone if f.endswith(".parquet")) == want, "removed data %s, expected %s" % (gone, want))
    check(lists[snaps[0]["id"]] in gone and lists[snaps[1]["id"]] in gone, "expired manifest lists kept")
    check(not any(f.endswith(".metadata.json") for f in gone), "metadata files removed")
    check(ctx.scan("data.events") == exp, "rows changed by the expiry")
    left = ctx.snapshots("data.events")
    check([x["id"] for x in left] == [snaps[2]["id"], snaps[3]["id"]], "kept snapshots %s" % left)
    p = ctx.tool("scan", "data.events", "--snapshot", str(snaps[0]["id"]), expect=None)
    check(p.returncode != 0 and "no snapshot %d" % snaps[0]["id"] in (p.stderr + p.stdout),
          "time travel to an expired snapshot: rc=%d %s" % (p.returncode, p.stderr[-500:]))
    check(ctx.scan("data.events", "--snapshot", str(snaps[2]["id"])) == exp3, "time travel to a kept snapshot")
    # the last overwrite made the first load's day-1 files unreachable once snapshot 3 goes
    out = ctx.chronon("table", "expire-snapshots", "data.events", "--older-than", "0d").stdout
    check("expired 1 snapshots (1 kept)" in out, "second expiry: %s" % out)
    check(not any(os.path.exists(f) for f in day1_first), "day-1 files of the first load kept")
    check(ctx.scan("data.events") == exp and icebird(ctx.meta("data.events")) == exp, "rows after the second expiry")
    out = ctx.chronon("table", "expire-snapshots", "data.events", "--older-than", "0").stdout
    check("expired 0 snapshots (1 kept)" in out, "nothing left to expire: %s" % out)
    out = ctx.chronon("gc", "--older-than", "0s", "data.events").stdout
    check(not [l for l in out.splitlines() if l.startswith("removed ")], "gc found orphans after expiry: %s" % out)
    # a cutoff in the past expires nothing; bad flags
    out = ctx.chronon("table", "expire-snapshots", "data.events", "--older-than", "2001-01-01T00:00:00Z").stdout
    check("expired 0 snapshots" in out, "old cutoff: %s" % out)
    p = ctx.chronon("table", "expire-snapshots", "data.events", "--older-than", "yesterday", expect=2)
    check("--older-than 'yesterday'" in p.stderr, p.stderr)
    p = ctx.chronon("table", "expire-snapshots", "data.events", "--older-than", "1", "--retain-last", "0", expect=2)
    check("--retain-last '0'" in p.stderr, p.stderr)
    p = ctx.chronon("table", "expire-snapshots", "data.nope", "--older-than", "1", expect=2)
    check("data.nope" in p.stderr, p.stderr)


def case_sort_order(work):
    """data files written in the table's declared sort order record its id (manifest
    data_file field 140, sort_order_id), as icebird reads it; a table without a sort
    order records none, and neither does a file whose rows break the order"""
    ctx = Ctx(work, work + "/wh", "sqlite:%s/catalog.db" % work)
    rows = [((i * 37) % 101, T0 + (i % 3) * DAY + i * 1000, i * 0.5) for i in range(60)]
    write_csv(work + "/s.csv", ["user_id", "ts", "amount"], rows)
    ctx.chronon("load", work + "/s.csv", "data.sorted", "--partition-from", "ts", "--sort-by", "user_id,ts")
    meta = ctx.meta("data.sorted")
    oid = json.load(open(meta[7:]))["default-sort-order-id"]
    check(oid > 0, "default-sort-order-id %s after --sort-by" % oid)
    ents = icebird_entries(meta)
    check(len(ents) == 3 and all(e["sort_order_id"] == oid for e in ents),
          "sorted load: entries %s, expected sort_order_id %d on 3 files" % (ents, oid))
    for d in range(3):  # the rows of each file are in that order indeed
        ds = ds_of(T0 + d * DAY)
        got = [(r["user_id"], r["ts"]) for r in
               (json.loads(x) for x in ctx.tool("scan", "data.sorted", "--ds-lo", ds, "--ds-hi", ds).stdout.splitlines()[:-1])]
        check(got == sorted(got) and len(got) == 20, "ds=%s rows not in (user_id, ts) order: %s" % (ds, got[:5]))
    ctx.chronon("load", work + "/s.csv", "data.plain", "--partition-from", "ts")
    ents = icebird_entries(ctx.meta("data.plain"))
    check(len(ents) == 3 and all(e["sort_order_id"] is None for e in ents), "unsorted table: entries %s" % ents)


def main():
    work = tempfile.mkdtemp(prefix="cn_table_e2e_")
    try:
        if CASE == "local_readers":
            case_local_readers(work)
        elif CASE == "s3_readers":
            case_s3_readers(work)
        elif CASE.startswith("crash_"):
            case_crash(work, CASE[6:].replace("_", "-"))
        elif CASE.startswith("concurrent_"):
            case_concurrent(work, CASE[11:])
        elif CASE == "postgres":
            case_postgres(work)
        elif CASE == "settings_inputs":
            case_settings_inputs(work)
        elif CASE == "bad_input":
            case_bad_input(work)
        elif CASE == "expire_snapshots":
            case_expire_snapshots(work)
        elif CASE == "sort_order":
            case_sort_order(work)
        else:
            check(False, "unknown case " + CASE)
        print("ok: " + CASE)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
