"""`chronon serve` on a remote online store that goes away and comes back (issue 10: "store
down at start and mid-run: clear error, server stays up, recovers when the store
returns").

The quickstart purchases GroupBy is uploaded for 2023-12-07 to redis-server (append-only
file, so a restart keeps the data), dynalite (data on disk) or CongoDB (a MongoDB
wire-protocol server holding data in memory: after its restart the test uploads again),
each started on a free loopback port with tests/online's helpers. Then:
  - a URI that can never work (a port that is not a number) still exits 1 at once;
  - down at start: `chronon serve` starts first and listens; /health answers 503 "not
    ready" and a fetch 503, both naming the store and its error; stderr logs each retry
    with the store URI; once the store is started (and uploaded to), serve connects on
    its own and answers 200 with real features;
  - killed mid-run: requests fail promptly with a 5xx whose message names the store,
    while /health still answers 200 (the server stays up); the store is started again on
    the same port and data; the same request answers exactly what it answered before,
    within a few seconds, without restarting serve;
  - hung mid-run (SIGSTOP): a fetch fails with a 5xx within the store's bounded
    timeouts, not a client timeout; after SIGCONT the same answer comes back.
A store whose server program is missing is skipped (a failure with CN_TEST_STRICT=1)."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

from engine_util import CHRONON, SRC
from serve_util import Q, quickstart_warehouse, request, start_serve

sys.path.insert(0, os.path.join(SRC, "tests", "online"))
import kv_mongo_e2e  # noqa: E402
import kv_remote_e2e as remote  # noqa: E402

GB = "production/group_bys/quickstart/purchases.v1"
KEYS = [{"user_id": str(i)} for i in (1, 5, 17, 42, 99)]
ROUTE = "/v1/features/groupby/quickstart/purchases.v1?ts=%d" % Q


def strict_skip(why):
    if os.environ.get("CN_TEST_STRICT") == "1":
        pytest.fail("strict: " + why)
    pytest.skip(why)


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory):
    return quickstart_warehouse(tmp_path_factory.mktemp("stores_serve"))


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
    status, _, text = request(base, "POST", path, body, timeout=60)
    return status, text


def get_body(base, path):
    status, _, text = request(base, "GET", path)
    return status, text


def get(base, path):
    return get_body(base, path)[0]


def upload(w, store):
    for mode in (["--mode", "upload", "--ds", "2023-12-07"], ["--mode", "metadata-upload"]):
        chronon(w, store, "run", "--repo", w.repo, "--conf", GB, *mode)


def wait_ok(base, what, limit=30):
    """POSTs until a 200 (or the limit): (status, body)."""
    end = time.time() + limit
    while True:
        status, body = post(base, ROUTE, KEYS)
        if status == 200 or time.time() > end:
            return status, body
        time.sleep(0.2)


def test_serve_bad_uri_exits(warehouse):
    w = warehouse
    e = w.env()
    e["CHRONON_ONLINE"] = "redis://127.0.0.1:notaport/0"
    t0 = time.time()
    p = subprocess.run([CHRONON, "serve", "--port", "0", "--repo", w.repo], env=e, capture_output=True, text=True,
                       timeout=60)
    assert p.returncode == 1, p.stdout + p.stderr
    assert "notaport" in p.stderr, p.stderr
    assert time.time() - t0 < 10


@pytest.mark.parametrize("kind", ["redis", "dynamodb", "mongodb"])
def test_serve_survives_store_outage(warehouse, kind, tmp_path):
    w = warehouse
    store = Store(kind, str(tmp_path))
    bare = store.uri.split("?")[0]

    # down at start: serve comes up, not ready, and keeps retrying
    server, line, base = start_serve(w, env=env_for(w, store), wait=60)
    try:
        assert "not connected yet" in line, line
        status, body = get_body(base, "/health")
        assert status == 503, (status, body)
        health = json.loads(body)
        assert health["status"] == "not ready", body
        assert bare in health["error"] and "127.0.0.1:%d" % store.port in health["error"], body
        status, body = post(base, ROUTE, KEYS)
        assert status == 503, (status, body)
        assert bare in json.loads(body)["errors"][0], body
        time.sleep(1.0)  # a few retries
        assert server.poll() is None

        store.start()
        upload(w, store)
        status, before = wait_ok(base, "connect")
        assert status == 200, before
        filled = [x for x in json.loads(before)["results"] if any(v is not None for v in x.get("features", {}).values())]
        assert filled, before  # the answer holds real features, not only nulls
        assert get(base, "/health") == 200

        # killed mid-run: a prompt 5xx naming the store, the server stays up
        store.stop()
        t0 = time.time()
        status, body = post(base, ROUTE, KEYS)
        assert status >= 500, (status, body)
        assert bare in body, body
        assert time.time() - t0 < 10, time.time() - t0
        assert get(base, "/health") == 200  # the server stays up

        store.start()
        if not store.keeps_data:
            upload(w, store)
        status, after = wait_ok(base, "restart")
        assert status == 200, after
        assert after == before

        # hung mid-run: bounded by the store's timeouts, then the same answer
        proc = store.srv.proc if store.kind != "mongodb" else store.proc
        proc.send_signal(signal.SIGSTOP)
        try:
            t0 = time.time()
            status, body = post(base, ROUTE, KEYS)
            took = time.time() - t0
        finally:
            proc.send_signal(signal.SIGCONT)
        print("%s: a fetch from the frozen store failed in %.2f s" % (kind, took))
        assert status >= 500, (status, body)
        assert bare in body, body
        assert took < 12, took
        t0 = time.time()
        status, after = wait_ok(base, "resume")
        print("%s: answering again %.2f s after SIGCONT" % (kind, time.time() - t0))
        assert status == 200, after
        assert after == before
        assert server.poll() is None
    finally:
        if server.poll() is None:
            server.send_signal(signal.SIGTERM)
        _, err = server.communicate(timeout=30)
        store.stop()
    # each backoff step was logged with the store, and the connection once
    assert "not reachable; attempt 2 in 250 ms" in err and bare in err, err
    assert "connected on attempt" in err, err
    assert server.returncode == 0, err
