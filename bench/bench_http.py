"""HTTP serving throughput: `wrk` against `chronon serve` with single-key Join fetches
(the quickstart training_set: three GroupBys, keys rotating over every user), next to
`redis-benchmark -t get` against a redis-server on the same machine in the same run, the
floor for "one small read over a socket". Prints requests/s, p50 and p99 of both and the
ratios. Goal (issue 8): >= 40k requests/s with p99 < 2 ms.

wrk and the server share the machine's cores, so by default the server is measured twice:
with one worker thread (one core left to wrk, as redis-server, single-threaded, is measured
against redis-benchmark) and with its own default (a worker per CPU, competing with wrk's
two threads for the same cores).

Usage: bench_http.py [--smoke] [--duration S] [--connections N] [--threads T] [--kind join|groupby]
  --smoke   2 s runs (the CTest bench.http.smoke): proves the bench runs, that every wrk
            response was 200 and that the served answer equals `chronon run --mode fetch`.
Paths come from CN_BUILD_DIR and CN_SOURCE_DIR (set by CTest) or CHRONON_BIN."""
import argparse
import json
import os
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

SOURCE = os.environ.get("CN_SOURCE_DIR") or os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
BUILD = os.environ.get("CN_BUILD_DIR") or os.path.join(SOURCE, "build")
CHRONON = os.environ.get("CHRONON_BIN") or os.path.join(BUILD, "chronon")
QS = os.path.join(SOURCE, "examples", "quickstart")
DATA = os.path.join(QS, "data")
SCHEMAS = {
    "purchases": "ts:int64,purchase_id:string,user_id:string,product_id:string,purchase_price:int64,item_category:string",
    "returns": "ts:int64,return_id:string,user_id:string,product_id:string,refund_amt:int64",
    "users": "user_id:string,account_created_ds:string,email_verified:string",
}
END = "2023-12-07"
Q = (19698 + 1) * 86400000 + 3600000  # an hour after the batch end of END's upload
JOIN = "quickstart/training_set.v2"
GROUPBY = "quickstart/purchases.v1"

# wrk script: POSTs one key map per request, rotating over the users. The requests are
# formatted once in init, and there is no response() callback (wrk then hands no reply
# to Lua): on these 2 shared cores wrk's Lua work per request is taken from the server.
# Non-200 replies are still counted, by wrk itself (summary.errors.status).
WRK_LUA = """
local users = {%s}
local path = "%s"
local reqs = {}
local i = 0
init = function(args)
  for k = 1, #users do
    local body = '[{"user_id":"' .. users[k] .. '"}]'
    reqs[k] = wrk.format("POST", path, {["Content-Type"] = "application/json"}, body)
  end
end
request = function()
  i = i + 1
  return reqs[(i %% #reqs) + 1]
end
done = function(summary, latency, requests)
  io.write(string.format("wrk-summary requests=%%d non2xx=%%d p50_us=%%d p99_us=%%d errors=%%d\\n",
    summary.requests, summary.errors.status, latency:percentile(50), latency:percentile(99),
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
"""


def cpu_s(pid):
    """utime + stime of a process in seconds (from /proc)."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def sh(argv, env, stdin=None):
    p = subprocess.run(argv, env=env, capture_output=True, text=True, input=stdin)
    if p.returncode != 0:
        raise SystemExit("FAIL: %s\n%s" % (" ".join(argv), p.stderr))
    return p.stdout


def setup(d):
    """A chronon root with the quickstart configs, its data loaded and every GroupBy uploaded."""
    repo = os.path.join(d, "repo")
    shutil.copytree(os.path.join(QS, "production"), os.path.join(repo, "production"))
    shutil.copy(os.path.join(QS, "teams.json"), repo)
    env = dict(os.environ, CHRONON_WAREHOUSE=os.path.join(d, "warehouse"))
    for t, schema in SCHEMAS.items():
        sh([CHRONON, "load", os.path.join(DATA, t + ".csv"), "data." + t, "--schema", schema], env)
    for gb in ("purchases", "returns", "users"):
        conf = "production/group_bys/quickstart/%s.v1" % gb
        sh([CHRONON, "run", "--repo", repo, "--conf", conf, "--mode", "upload", "--ds", END], env)
        sh([CHRONON, "run", "--repo", repo, "--conf", conf, "--mode", "metadata-upload"], env)
    sh([CHRONON, "run", "--repo", repo, "--conf", "production/joins/" + JOIN, "--mode", "metadata-upload"], env)
    with open(os.path.join(DATA, "purchases.csv")) as f:
        next(f)
        users = sorted({line.split(",")[3] for line in f if line.strip()}, key=int)
    return repo, env, users


def start_serve(repo, env, threads):
    argv = [CHRONON, "serve", "--port", "0", "--repo", repo]
    if threads:
        argv += ["--threads", str(threads)]
    p = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    r, _, _ = select.select([p.stdout], [], [], 30)
    line = p.stdout.readline() if r else ""
    if not line.startswith("serve: listening on "):
        p.kill()
        raise SystemExit("FAIL: chronon serve did not start: %s %s" % (line, p.stderr.read()))
    return p, line.split()[3]


def join_fetch_works(repo, env):
    p = subprocess.run([CHRONON, "run", "--repo", repo, "--mode", "fetch", "--conf-type", "joins", "--name", JOIN,
                        "-k", '{"user_id": "5"}', "--at-millis", str(Q)], env=env, capture_output=True, text=True)
    if p.returncode != 0 and "not in this build" in p.stderr:
        return False
    if p.returncode != 0:
        raise SystemExit("FAIL: join fetch: " + p.stderr)
    return True


def cross_check(base, repo, env, kind, name, users):
    """The served features of a few users equal `chronon run --mode fetch` at the same time."""
    keys = [{"user_id": u} for u in users[:10]]
    req = urllib.request.Request("%s/v1/features/%s/%s?ts=%d" % (base, kind, name, Q), data=json.dumps(keys).encode(),
                                 method="POST", headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as r:
        got = json.loads(r.read())["results"]
    conf_type = "joins" if kind == "join" else "group_bys"
    out = sh([CHRONON, "run", "--repo", repo, "--mode", "fetch", "--conf-type", conf_type, "--name", name,
              "--at-millis", str(Q)], env, stdin="".join(json.dumps(k) + "\n" for k in keys))
    want = [json.loads(x) for x in out.splitlines() if x.strip()]
    assert len(got) == len(want) == len(keys), (got, want)
    for g, w in zip(got, want):
        assert g["status"] == "Success" and g["features"] == w, (g, w)
    assert any(v is not None for g in got for v in g["features"].values()), got
    print("cross-check: %d served answers equal chronon run --mode fetch" % len(keys))


def run_wrk(base, kind, name, users, duration, connections, d, server_pid):
    lua = os.path.join(d, "post.lua")
    with open(lua, "w") as f:
        f.write(WRK_LUA % (",".join('"%s"' % u for u in users), "/v1/features/%s/%s" % (kind, name)))
    argv = ["wrk", "-t2", "-c%d" % connections, "-d%ds" % duration, "-s", lua, "--latency", base + "/"]
    cpu0 = cpu_s(server_pid)
    out = subprocess.run(argv, capture_output=True, text=True, timeout=duration + 60).stdout
    cpu = cpu_s(server_pid) - cpu0
    m = re.search(r"wrk-summary requests=(\d+) non2xx=(\d+) p50_us=(\d+) p99_us=(\d+) errors=(\d+)", out)
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if not m or not rps:
        raise SystemExit("FAIL: could not read wrk's output:\n" + out)
    return {"rps": float(rps.group(1)), "requests": int(m.group(1)), "non2xx": int(m.group(2)),
            "p50_ms": int(m.group(3)) / 1000, "p99_ms": int(m.group(4)) / 1000, "errors": int(m.group(5)),
            "cpu_us": 1e6 * cpu / max(int(m.group(1)), 1)}


def run_redis(d, requests, connections):
    port = free_port()
    srv = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                            "--appendonly", "no", "--dir", d], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.05)
        cpu0 = cpu_s(srv.pid)
        out = subprocess.run(["redis-benchmark", "-p", str(port), "-t", "get", "-n", str(requests), "-c",
                              str(connections), "--threads", "2", "--csv"],
                             capture_output=True, text=True, timeout=600).stdout
        cpu = cpu_s(srv.pid) - cpu0
    finally:
        srv.send_signal(signal.SIGTERM)
        srv.wait(timeout=30)
    # "test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms","p95_latency_ms","p99_latency_ms","max..."
    for line in out.splitlines():
        f = [x.strip('"') for x in line.split(",")]
        if f and f[0] == "GET":
            return {"rps": float(f[1]), "p50_ms": float(f[4]), "p99_ms": float(f[6]), "cpu_us": 1e6 * cpu / requests}
    raise SystemExit("FAIL: could not read redis-benchmark's output:\n" + out)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--smoke", action="store_true")
    ap.add_argument("--duration", type=int, default=10)
    ap.add_argument("--connections", type=int, default=50)
    ap.add_argument("--threads", type=int, default=-1,
                    help="chronon serve --threads (0: its own default; default: 1 and then its own)")
    ap.add_argument("--kind", choices=["join", "groupby"], default="join")
    a = ap.parse_args()
    duration = 2 if a.smoke else a.duration
    for tool in ("wrk", "redis-server", "redis-benchmark"):
        if not shutil.which(tool):
            print("SKIP: %s is not installed (scripts/deps.sh test)" % tool)
            sys.exit(77)
    with tempfile.TemporaryDirectory() as d:
        repo, env, users = setup(d)
        if a.kind == "join" and not join_fetch_works(repo, env):
            print("join fetch is not in this build of chronon: measuring GroupBy fetches (%s) instead" % GROUPBY)
            a.kind = "groupby"
        name = JOIN if a.kind == "join" else GROUPBY
        runs = []
        for threads in ([a.threads] if a.threads >= 0 else [1, 0]):
            srv, base = start_serve(repo, env, threads)
            try:
                cross_check(base, repo, env, a.kind, name, users)
                runs.append((threads, run_wrk(base, a.kind, name, users, duration, a.connections, d, srv.pid)))
            finally:
                srv.send_signal(signal.SIGTERM)
                srv.communicate(timeout=60)
            if srv.returncode != 0:
                raise SystemExit("FAIL: chronon serve exited %d on SIGTERM" % srv.returncode)
        r = run_redis(d, max(20000, int(max(w["rps"] for _, w in runs) * duration)), a.connections)
    ncpu = os.cpu_count() or 1
    print("redis-benchmark -t get -c%d (same machine, redis-server single-threaded): %.0f requests/s, p50 %.2f ms, "
          "p99 %.2f ms, server CPU per request %.1f us" % (a.connections, r["rps"], r["p50_ms"], r["p99_ms"], r["cpu_us"]))
    for threads, w in runs:
        label = "--threads %d" % threads if threads else "default threads (%d)" % ncpu
        print("chronon serve %s, single-key %s fetch (%s), wrk -t2 -c%d %ds: %.0f requests/s, p50 %.2f ms, "
              "p99 %.2f ms, %d non-200, %d socket errors" % (label, a.kind, name, a.connections, duration, w["rps"],
                                                            w["p50_ms"], w["p99_ms"], w["non2xx"], w["errors"]))
        print("  ratio chronon/redis: throughput %.2fx, p99 %.2fx"
              % (w["rps"] / r["rps"], w["p99_ms"] / max(r["p99_ms"], 1e-3)))
        # CPU per request is steadier than requests/s on a busy machine: it says what the
        # server would do with the cores to itself
        print("  server CPU per request: %.1f us (%d cores -> at most %.0f requests/s); ratio to redis-server %.1fx"
              % (w["cpu_us"], ncpu, ncpu * 1e6 / max(w["cpu_us"], 1e-3), w["cpu_us"] / max(r["cpu_us"], 1e-3)))
        print("  goal >= 40000 requests/s and p99 < 2 ms: %s"
              % ("met" if w["rps"] >= 40000 and w["p99_ms"] < 2 else "NOT met"))
    with open("/proc/loadavg") as f:
        print("load average during the run: %s (figures above are shared with whatever else ran)" % f.read().split()[0])
    for _, w in runs:
        if w["non2xx"] or w["errors"] or w["requests"] == 0:
            raise SystemExit("FAIL: wrk saw %d non-200 responses and %d socket errors" % (w["non2xx"], w["errors"]))


if __name__ == "__main__":
    main()
