"""The KV contract suite (test_kv_contract) on the MongoDB backend against CongoDB, a
MongoDB wire-protocol server (tests/checkers/mongo_server.mjs), started here on a free
loopback port and stopped at the end. Each contract case runs in its own process on its
own database (mongodb://127.0.0.1:<port>/cn_<n>), so every case starts from an empty store.

CongoDB answers every query by scanning the whole collection, so three cases whose size
is fixed by the contract (100k keys and tens of thousands of reads) would take hours on
it; here they run with their key counts divided by 100 unless CN_KV_MONGO_ALL=1 (for a real MongoDB
via CN_KV_MONGO_URI).
test_kv_mongo.c runs the same checks (sorted, shuffled and many-chunk loads, the flip
under concurrent reads) at a size CongoDB serves.

Usage: kv_mongo_e2e.py. With CN_KV_MONGO_URI=mongodb://host:port (no database) the suite
runs against that server instead of starting one. Exit 77 (skip) when node or CongoDB
is missing, a failure instead when CN_TEST_STRICT=1."""
import os
import re
import subprocess
import sys
import time

BUILD = os.environ.get("CN_BUILD_DIR", "")
SOURCE = os.environ.get("CN_SOURCE_DIR", "")
CONTRACT = os.path.join(BUILD, "tests", "online", "test_kv_contract")
SERVER = os.path.join(SOURCE, "tests", "checkers", "mongo_server.mjs")
TOO_BIG_FOR_CONGODB = {
    "many_keys_sorted_and_unsorted",
    "atomic_flip_under_concurrent_reads",
    "concurrent_readers_one_writer",
}


def skip(why):
    if os.environ.get("CN_TEST_STRICT") == "1":
        sys.exit(f"FAIL (strict): {why}")
    print(f"SKIP: {why}")
    sys.exit(77)


def contract_cases():
    src = open(os.path.join(SOURCE, "tests", "online", "test_kv_contract.c")).read()
    main = src[src.index("CN_TEST_MAIN("):]
    cases = re.findall(r"cmocka_unit_test\((\w+)\)", main)
    per_backend = set(re.findall(r"^RUN_ON_EACH_BACKEND\((\w+)\)", src, re.M))
    assert cases and per_backend, "no contract cases found"
    return cases, per_backend


def start_server():
    try:
        proc = subprocess.Popen(["node", SERVER, "0", "--lifeline"], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, text=True)
    except FileNotFoundError:
        skip("node is not installed")
    line = proc.stdout.readline().strip()
    if line.startswith("SKIP:"):
        proc.wait()
        skip(line[5:].strip())
    m = re.fullmatch(r"ready (\d+)", line)
    if not m:
        proc.kill()
        sys.exit(f"FAIL: mongo_server.mjs did not start: {line!r}")
    return proc, int(m.group(1))


def main():
    if not os.path.exists(CONTRACT):
        sys.exit(f"FAIL: {CONTRACT} not built")
    cases, per_backend = contract_cases()
    base = os.environ.get("CN_KV_MONGO_URI", "")
    everything = os.environ.get("CN_KV_MONGO_ALL") == "1"
    proc = None
    if not base:
        proc, port = start_server()
        base = f"mongodb://127.0.0.1:{port}"
    failures = []
    try:
        for i, case in enumerate(cases):
            uri = f"{base}/cn_{int(time.time())}_{i}?socketTimeoutMS=60000"
            env = dict(os.environ, CN_KV_TEST_URIS=uri)
            if case in TOO_BIG_FOR_CONGODB and not everything:
                # CongoDB scans every document for each $in element: the bulk cases run with
                # their key counts divided (same assertions, fewer keys)
                env["CN_KV_TEST_DIVISOR"] = "100"
            t0 = time.time()
            r = subprocess.run([CONTRACT, case], env=env, capture_output=True, text=True,
                               timeout=600)
            out = r.stdout + r.stderr
            ran_on_mongo = f"on {uri}" in out
            ok = r.returncode == 0 and (ran_on_mongo or case not in per_backend)
            print(f"kv_mongo.contract: {case}: {'ok' if ok else 'FAILED'} ({time.time() - t0:.1f} s)")
            if not ok:
                failures.append(case)
                print(out)
    finally:
        if proc is not None:
            proc.kill()
            proc.wait()
    if failures:
        sys.exit(f"FAIL: contract cases failed on {base}: {', '.join(failures)}")
    print("kv_mongo.contract: all run cases passed")


if __name__ == "__main__":
    main()
