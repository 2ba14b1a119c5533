"""Runs bench_stores (our KV layer vs each store's own client) against redis-server,
CongoDB (MongoDB wire protocol) and dynalite (DynamoDB), each started here on a free
loopback port the way tests/online starts them, and bench_kv for LMDB.

For each store it prints bench_stores' figures (with each upload's CPU time, the
bench's and the server's, which it reads through CN_BENCH_SERVER_PID) and how busy each
process was: the server's CPU time and the bench's CPU time over the wall time of the
run. A server near
100% of a core while the bench mostly waits is the bottleneck: then the figures say how
fast that test server is, not how fast a real Redis/MongoDB/DynamoDB would be.

DynamoDB is measured on two servers: dynalite (node, the tests' server) and, as a second
opinion when a python with moto is found, moto's server (`--only moto`; not in --smoke),
run with Python's garbage collector off (see do_moto).
On both, the raw client writes each upload into a new table, as ours writes a version's
table, and its replacing upload is a new table and then DeleteTable of the previous one
(see bench_stores.c).

Usage: bench_stores.py [--smoke] [--only redis,mongodb,dynamodb,moto,lmdb] [--keys N]
  --smoke   tiny sizes (the CTest bench.stores.smoke): proves the bench runs and that
            every value read through both paths matched; a missing server is skipped.
  --keys N  N keys for every store run (default: the sizes below). A load's fixed
            commands (version counter, pointer, index) weigh less in a larger upload;
            CongoDB's fetches get slower with it (it scans every document per query).
Paths come from CN_BUILD_DIR and CN_SOURCE_DIR (set by CTest)."""
import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time

BUILD = os.environ.get("CN_BUILD_DIR", "")
SOURCE = os.environ.get("CN_SOURCE_DIR", "")
sys.path.insert(0, os.path.join(SOURCE, "tests", "online"))
import kv_mongo_e2e  # noqa: E402
import kv_remote_e2e as remote  # noqa: E402

# keys, fetches of 1 key[/of 10 keys]: CongoDB scans the whole collection per query,
# dynalite writes a few thousand items/s, so they get fewer keys than Redis. MongoDB: 10k
# keys so that an upload takes many of the server's 10 ms CPU ticks (3k gave 6-8 ticks),
# 240 fetches of 1 key (45 ms each) and 60 of 10 keys (a 10-key $in over 10k documents
# takes CongoDB 0.15-0.25 s). With 60 of 1 key its p99 was the largest of 60, and one
# of node's collections landing on either path moved it from +6% to +90% between runs;
# with 240 it is the third largest. (With 30 fetches the CPU per fetch swung by
# -8..+63%.) DynamoDB: 10000 fetches of 1 key (dynalite answers one in about 0.35 ms):
# node's pauses land on either path, and with 3000 the 1-key p99 swung between -49% and
# +39% from run to run; with 10000, -3%..+4% in two runs.
# Each kind of upload (a new dataset's, the next day's) is measured in rounds of raw,
# ours, raw (bench_stores.c, upload_rounds): MongoDB gets 20, as one 10k-key upload on
# CongoDB costs it 40-60 ms of CPU time plus, in one round out of five or so, a V8 full
# garbage collection of 50-70 ms more, which lands on either path; the others 5 (with 3,
# their wall-time figures moved across the 20% line from run to run).
FULL = {"redis": (200000, 5000), "mongodb": (10000, "240/60"), "dynamodb": (5000, "10000/3000"),
        "moto": (2000, 1000), "lmdb": (2000000, 0)}
ROUNDS = {"redis": 5, "mongodb": 20, "dynamodb": 5, "moto": 5}
SMOKE = {"redis": (5000, 200), "mongodb": (100, 10), "dynamodb": (100, 10)}


MOTO_NO_GC = "import gc, sys; gc.disable(); from moto.server import main; main(sys.argv[1:])"


def cpu_s(pid):
    """utime + stime of a process in seconds (from /proc)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_bench(argv, server_pid, env=None):
    before = cpu_s(server_pid) if server_pid else 0.0
    self0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    env = dict(env if env is not None else os.environ)
    if server_pid:
        env["CN_BENCH_SERVER_PID"] = str(server_pid)  # per-upload CPU of the server
    t0 = time.time()
    r = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=3600)
    wall = time.time() - t0
    self1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    print(r.stdout, end="")
    if r.returncode != 0:
        print(r.stderr, end="")
        raise SystemExit(f"FAIL: {' '.join(argv)} exited {r.returncode}")
    bench_cpu = (self1.ru_utime + self1.ru_stime) - (self0.ru_utime + self0.ru_stime)
    line = f"  wall {wall:.1f} s; bench process CPU {100 * bench_cpu / wall:.0f}% of a core"
    if server_pid:
        srv = cpu_s(server_pid) - before
        line += f"; server CPU {100 * srv / wall:.0f}% of a core"
        if srv / wall > 0.8:
            line += " (the test server is the bottleneck)"
    print(line)
    return r.stdout


def check(out):
    assert "cross-check: every value read through both paths matched" in out, out
    assert out.count("overhead") >= 3, out


def bench(store, sizes):
    return [os.path.join(BUILD, "bench", "bench_stores"), "--store", store, "",
            str(sizes[store][0]), str(sizes[store][1]), str(ROUNDS[store])]


def do_redis(d, sizes):
    remote.need_redis()
    port = remote.free_port()
    srv = remote.Redis(d, port)
    srv.start()
    try:
        argv = bench("redis", sizes)
        argv[3] = f"redis://127.0.0.1:{port}/0"
        check(run_bench(argv, srv.proc.pid))
    finally:
        srv.stop()


def do_mongodb(d, sizes):
    proc, port = kv_mongo_e2e.start_server()
    try:
        argv = bench("mongodb", sizes)
        argv[3] = f"mongodb://127.0.0.1:{port}/bench?socketTimeoutMS=60000"
        check(run_bench(argv, proc.pid))
    finally:
        proc.kill()
        proc.wait()


def do_dynamodb(d, sizes):
    port = remote.free_port()
    srv = remote.Dynalite(d, port)
    srv.start()
    try:
        argv = bench("dynamodb", sizes)
        argv[3] = "dynamodb://bench_?region=us-east-1"
        check(run_bench(argv, srv.proc.pid, env=remote.aws_env(port)))
    finally:
        srv.stop()


def do_moto(d, sizes):
    py = remote.moto_python()
    port = remote.free_port()
    # moto's server with Python's cyclic garbage collector off: its full collections walk
    # every item stored so far and come at thresholds of allocated objects, so in a
    # fresh server one landed in the same upload each run (our first: +13..+27% server
    # CPU with it, -9..+3% without, at the same requests)
    proc = subprocess.Popen([py, "-c", MOTO_NO_GC, "-H", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        remote.wait_port(port, proc, timeout=30)
        argv = bench("dynamodb", sizes)
        argv[3] = "dynamodb://bench_?region=us-east-1"
        argv[4:7] = [str(x) for x in sizes["moto"]] + [str(ROUNDS["moto"])]
        check(run_bench(argv, proc.pid, env=remote.aws_env(port)))
    finally:
        remote.stop(proc)


def do_lmdb(d, sizes):
    out = run_bench([os.path.join(BUILD, "bench", "bench_kv"), str(sizes["lmdb"][0])], None)
    assert "multi-get 3 keys" in out, out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--smoke", action="store_true")
    ap.add_argument("--only", default="")
    ap.add_argument("--keys", type=int, default=0)
    a = ap.parse_args()
    sizes = SMOKE if a.smoke else FULL
    if a.keys > 0:
        sizes = {k: (a.keys, v[1]) for k, v in sizes.items()}
    if a.smoke:  # two rounds: proves that the rounds run, not their figures
        ROUNDS.update({k: 2 for k in ROUNDS})
    stores = [s for s in (a.only.split(",") if a.only else sizes) if s in sizes]
    ran = 0
    for store in stores:
        print(f"== {store}")
        sys.stdout.flush()
        with tempfile.TemporaryDirectory(prefix="cn-bench-stores.") as d:
            try:
                globals()[f"do_{store}"](d, sizes)
                ran += 1
            except SystemExit as e:
                # a missing server program: the e2e helpers exit 77 (skip)
                if e.code != 77:
                    raise
                print(f"  {store}: skipped (server not installed)")
        sys.stdout.flush()
    if ran == 0:
        sys.exit(77)


if __name__ == "__main__":
    main()
