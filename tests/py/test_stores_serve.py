"""`chronon serve` on a remote online store that goes away and comes back (issue 10: "store
down at start and mid-run: clear error, server stays up, recovers when the store
returns").

The quickstart purchases GroupBy is uploaded for 2023-12-07 to redis-server (append-only
file, so a restart keeps the data), dynalite (data on disk) or CongoDB (a MongoDB
wire-protocol server holding data in memory: after its restart the test uploads again),
each started on a free loopback port with tests/online's helpers. Then:
  - down at start: `chronon serve` against a store nobody listens on exits 1 with one
    error naming the store, at once (no hang);
  - mid-run: serve answers; the store is killed; requests fail with a 5xx whose message
    names the store, while /health still answers 200 (the server stays up); the store
    is started again on the same port and data; the same request answers exactly what it
    answered before, within a few seconds, without restarting serve.
A store whose server program is missing is skipped (a failure with CN_TEST_STRICT=1)."""

import json
import os
import select
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

from engine_util import CHRONON, SRC, Warehouse

sys.path.insert(0, os.path.join(SRC, "tests", "online"))
import kv_mongo_e2e  # noqa: E402
import kv_remote_e2e as remote  # noqa: E402

QS = os.path.join(SRC, "examples", "quickstart")
DATA = os.path.join(QS, "data")
PURCHASES = "ts:int64,purchase_id:string,user_id:string,product_id:string,purchase_price:int64,item_category:string"
GB = "production/group_bys/quickstart/purchases.v1"
B = (19698 + 1) * 86400000  # the batch end of the upload of 2023-12-07
Q = B + 3600000 * 5 + 17
KEYS = [{"user_id": str(i)} for i in (1, 5, 17, 42, 99)]
ROUTE = "/v1/features/groupby/quickstart/purchases.v1?ts=%d" % Q


def strict_skip(why):
    if os.environ.get("CN_TEST_STRICT") == "1":
        pytest.fail("strict: " + why)
    pytest.skip(why)


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory):
    root = tmp_path_factory.mktemp("stores_serve")
    repo = os.path.join(str(root), "repo")
    shutil.copytree(os.path.join(QS, "production"), os.path.join(repo, "production"))
    shutil.copy(os.path.join(QS, "teams.json"), repo)
    w = Warehouse(root)
    w.load(os.path.join(DATA, "purchases.csv"), "data.purchases", PURCHASES)
    w.repo = repo
    return w


class Store:
    """A store server with start/stop on a fixed port and data that survives a restart."""

    def __init__(self, kind, d):
        self.kind = kind
        self.port = remote.free_port()
        self.env = {}
        self.keeps_data = kind != "mongodb"
        if kind == "mongodb":
            if not shutil.which("node") or not os.path.exists(os.path.join(
                    SRC, "third_party", "npm", "congodb", "congodb", "index.js")):
                strict_skip("CongoDB or node not installed (scripts/checkers.sh)")
            self.srv = None
            # short server selection: the requests made while it is down fail sooner
            self.uri = "mongodb://127.0.0.1:%d/serve?serverSelectionTimeoutMS=1500&connectTimeoutMS=1500" % self.port
        elif kind == "redis":
            if not shutil.which("redis-server"):
                strict_skip("redis-server not installed (scripts/deps.sh test)")
            self.srv = remote.Redis(d, self.port, persist=True)
            self.uri = "redis://127.0.0.1:%d/0" % self.port
        else:
            try:
                remote.dynalite_cli()
            except SystemExit:
                strict_skip("dynalite not installed (scripts/checkers.sh)")
            self.srv = remote.Dynalite(d, self.port)
            self.uri = "dynamodb://srv_?region=us-east-1"
            full = remote.aws_env(self.port)
            self.env = {k: full[k] for k in ("AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
                                             "AWS_REGION")}

    def start(self):
        if self.kind != "mongodb":
            self.srv.start()
            return
        self.proc = subprocess.Popen(["node", kv_mongo_e2e.SERVER, str(self.port), "--lifeline"],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline().strip()
        assert line == "ready %d" % self.port, line

    def stop(self):
        if self.kind != "mongodb":
            self.srv.stop()
        elif self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def env_for(w, store):
    e = w.env()
    e.update(store.env)
    e["CHRONON_ONLINE"] = store.uri
    return e


def chronon(w, store, *args):
    p = subprocess.run([CHRONON, *args], env=env_for(w, store), capture_output=True, text=True, timeout=300,
                       cwd=w.repo)
    assert p.returncode == 0, "%s\n%s" % (" ".join(args), p.stderr)
    return p


def post(base, path, body):
    req = urllib.request.Request(base + path, data=json.dumps(body).encode(), method="POST",
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def get(base, path):
    try:
        with urllib.request.urlopen(base + path, timeout=30) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code


def upload(w, store):
    for mode in (["--mode", "upload", "--ds", "2023-12-07"], ["--mode", "metadata-upload"]):
        chronon(w, store, "run", "--repo", w.repo, "--conf", GB, *mode)


@pytest.mark.parametrize("kind", ["redis", "dynamodb", "mongodb"])
def test_serve_survives_store_outage(warehouse, kind, tmp_path):
    w = warehouse
    store = Store(kind, str(tmp_path))

    # down at start: one clear error naming the store, promptly
    t0 = time.time()
    p = subprocess.run([CHRONON, "serve", "--port", "0", "--repo", w.repo], env=env_for(w, store),
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 1, p.stdout + p.stderr
    assert store.uri in p.stderr, p.stderr
    assert "127.0.0.1:%d" % store.port in p.stderr, p.stderr
    assert time.time() - t0 < 30

    store.start()
    server = None
    try:
        upload(w, store)
        server = subprocess.Popen([CHRONON, "serve", "--port", "0", "--repo", w.repo, "--threads", "2"],
                                  env=env_for(w, store), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        r, _, _ = select.select([server.stdout], [], [], 60)
        line = server.stdout.readline() if r else ""
        assert line.startswith("serve: listening on http://"), line
        base = line.split()[3]
        status, before = post(base, ROUTE, KEYS)
        assert status == 200, before
        filled = [x for x in json.loads(before)["results"] if any(v is not None for v in x.get("features", {}).values())]
        assert filled, before  # the answer holds real features, not only nulls

        store.stop()
        status, body = post(base, ROUTE, KEYS)
        assert status >= 500, (status, body)
        assert store.uri.split("?")[0] in body, body
        assert get(base, "/health") == 200  # the server stays up

        store.start()
        if not store.keeps_data:
            upload(w, store)
        end = time.time() + 30
        while True:
            status, after = post(base, ROUTE, KEYS)
            if status == 200 or time.time() > end:
                break
            time.sleep(0.2)
        assert status == 200, after
        assert after == before
        assert server.poll() is None
    finally:
        if server is not None and server.poll() is None:
            server.send_signal(signal.SIGTERM)
            server.communicate(timeout=30)
        store.stop()
