"""`chronon serve` end to end on the quickstart data: GroupBys uploaded for the last day,
the server started on a free port, and every answer over HTTP compared with
`chronon run --mode fetch` for the same keys and time. Also the Chronon response shape,
bad requests (4xx with a message, server stays up), /health, /metrics counters, the
port-in-use error and a clean exit 0 on SIGTERM."""

import json
import os
import signal
import socket
import subprocess
import threading
import time
import urllib.error

import pytest

from engine_util import CHRONON, norm
from serve_util import DATA, PURCHASES, Q, quickstart_warehouse, request, start_serve

RETURNS = "ts:int64,return_id:string,user_id:string,product_id:string,refund_amt:int64"
USERS = "user_id:string,account_created_ds:string,email_verified:string"
END = "2023-12-07"
GROUPBYS = {
    "quickstart/purchases.v1": "production/group_bys/quickstart/purchases.v1",
    "my_team/user_purchase_features.v1": "production/group_bys/my_team/user_purchase_features.v1",
    "quickstart/users.v1": "production/group_bys/quickstart/users.v1",
}


def user_ids():
    with open(os.path.join(DATA, "purchases.csv")) as f:
        next(f)
        ids = sorted({line.split(",")[3] for line in f if line.strip()}, key=int)
    return ids


class Server:
    def __init__(self, w, *args):
        self.w = w
        self.p, _, self.base = start_serve(w, *args)
        self.port = int(self.base.rsplit(":", 1)[1])

    def request(self, method, path, body=None, raw=None):
        return request(self.base, method, path, body, raw)

    def post(self, path, body=None, raw=None):
        status, headers, text = self.request("POST", path, body, raw)
        return status, (json.loads(text) if text else None)

    def metrics(self):
        status, _, text = self.request("GET", "/metrics")
        assert status == 200
        out = {}
        for line in text.splitlines():
            if line and not line.startswith("#"):
                name, value = line.rsplit(" ", 1)
                out[name] = float(value)
        return out


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    w = quickstart_warehouse(tmp_path_factory.mktemp("serve"))
    w.load(os.path.join(DATA, "purchases.csv"), "default.purchases", PURCHASES)
    w.load(os.path.join(DATA, "returns.csv"), "data.returns", RETURNS)
    w.load(os.path.join(DATA, "users.csv"), "data.users", USERS)
    for conf in list(GROUPBYS.values()) + ["production/group_bys/quickstart/returns.v1"]:
        for mode in (["--mode", "upload", "--ds", END], ["--mode", "metadata-upload"]):
            run(w, "--conf", conf, *mode)
    return w


@pytest.fixture(scope="module")
def server(env):
    s = Server(env, "--max-body", "65536")
    yield s
    if s.p.poll() is None:
        s.p.send_signal(signal.SIGTERM)
        s.p.communicate(timeout=30)


def run(w, *args, stdin=None, check=True):
    cmd = [CHRONON, "run", "--repo", w.repo] + list(args)
    p = subprocess.run(cmd, env=w.env(), capture_output=True, text=True, input=stdin)
    if check:
        assert p.returncode == 0, "%s\n%s" % (" ".join(cmd), p.stderr)
    return p


def cli_fetch(w, conf_type, name, keys, q):
    lines = "".join(json.dumps(k) + "\n" for k in keys)
    p = run(w, "--mode", "fetch", "--conf-type", conf_type, "--name", name, "--at-millis", str(q), stdin=lines)
    out = [json.loads(x) for x in p.stdout.splitlines() if x.strip()]
    assert len(out) == len(keys), p.stdout
    return out


@pytest.mark.parametrize("name", sorted(GROUPBYS))
def test_groupby_over_http_equals_cli_fetch(env, server, name):
    keys = [{"user_id": u} for u in user_ids()] + [{"user_id": "no_such_user"}]
    want = cli_fetch(env, "group_bys", name, keys, Q)
    status, got = server.post("/v1/features/groupby/%s?ts=%d" % (name, Q), keys)
    assert status == 200, got
    results = got["results"]
    assert len(results) == len(keys)
    n_values = 0
    for k, w, r in zip(keys, want, results):
        assert r["status"] == "Success", r
        assert r["entityKeys"] == k
        assert norm(r["features"]) == norm(w), (k, r["features"], w)
        n_values += sum(v is not None for v in r["features"].values())
    assert n_values > len(keys)  # real values, not only nulls
    assert all(v is None for v in results[-1]["features"].values())
    # Chronon's dotted name and the URL-encoded guide name are the same GroupBy
    dotted = name.replace("/", ".", 1)
    status, again = server.post("/v1/features/groupby/%s?ts=%d" % (dotted, Q), keys[:3])
    assert status == 200 and again["results"] == results[:3]
    status, again = server.post("/v1/features/groupby/%s?ts=%d" % (name.replace("/", "%2F"), Q), keys[:3])
    assert status == 200 and again["results"] == results[:3]


def test_join_over_http_equals_cli_fetch(env, server):
    name = "quickstart/training_set.v2"
    keys = [{"user_id": u} for u in user_ids()[:20]]
    want = cli_fetch(env, "joins", name, keys, Q)
    status, got = server.post("/v1/features/join/%s?ts=%d" % (name, Q), keys)
    assert status == 200, got
    assert [r["entityKeys"] for r in got["results"]] == keys
    for w, r in zip(want, got["results"]):
        assert r["status"] == "Success", r
        assert norm(r["features"]) == norm(w)
    assert any(v is not None for r in got["results"] for v in r["features"].values())


def test_bad_requests_are_4xx_and_server_stays_up(server):
    gb = "/v1/features/groupby/quickstart/purchases.v1"
    status, body = server.post(gb, raw=b'[{"user_id": "5"')
    assert status == 400 and "invalid JSON" in body["errors"][0], body
    status, body = server.post(gb, {"user_id": "5"})
    assert status == 400 and "expected a JSON array of key maps" in body["errors"][0]
    status, body = server.post(gb, [{"user_id": "5"}, "6"])
    assert status == 400 and "element 1 is string" in body["errors"][0]
    status, body = server.post(gb + "?ts=noon", [{"user_id": "5"}])
    assert status == 400 and "ts" in body["errors"][0]
    status, body = server.post("/v1/features/groupby/quickstart/nope.v1", [{"user_id": "5"}])
    assert status == 404 and "quickstart/nope.v1" in body["errors"][0], body
    status, body = server.post("/v1/features/join/quickstart/nope.v1", [{"user_id": "5"}])
    assert status == 404 and "quickstart/nope.v1" in body["errors"][0], body
    status, body = server.post(gb, raw=b"[" + b'{"user_id": "5"},' * 10000 + b"{}]")
    assert status == 413 and "larger than the limit of 65536 bytes" in body["errors"][0]
    status, _, _ = server.request("GET", gb)
    assert status == 405
    status, _, _ = server.request("GET", "/no/such/page")
    assert status == 404
    # a key that fails alone is a Failure result naming the problem; the others still answer
    status, body = server.post(gb + "?ts=%d" % Q, [{"user_id": "5"}, {"userid": "5"}, {"user_id": "6"}])
    assert status == 200, body
    assert [r["status"] for r in body["results"]] == ["Success", "Failure", "Success"]
    assert body["results"][1]["entityKeys"] == {"userid": "5"}
    assert 'missing key column "user_id"' in body["results"][1]["error"]
    status, _, text = server.request("GET", "/health")
    assert status == 200 and json.loads(text)["status"] == "ok"


def test_metrics_count_requests(server):
    before = server.metrics()
    route = 'route="/v1/features/groupby/",method="POST",status="200"'
    for _ in range(5):
        status, _ = server.post("/v1/features/groupby/quickstart/purchases.v1", [{"user_id": "5"}, {"user_id": "6"}])
        assert status == 200
    server.post("/v1/features/groupby/quickstart/purchases.v1", raw=b"nope")
    after = server.metrics()
    key = "chronon_http_requests_total{%s}" % route
    assert after[key] - before.get(key, 0) == 5
    k400 = 'chronon_http_requests_total{route="/v1/features/groupby/",method="POST",status="400"}'
    assert after[k400] - before.get(k400, 0) == 1
    ks = 'chronon_fetch_keys_total{kind="groupby",status="Success"}'
    assert after[ks] - before[ks] == 10
    hist = 'chronon_http_request_duration_seconds_count{route="/v1/features/groupby/"}'
    assert after[hist] - before.get(hist, 0) == 6
    assert "chronon_kv_errors_total" in after
    assert after['chronon_http_request_duration_seconds_bucket{route="/v1/features/groupby/",le="+Inf"}'] == \
        after[hist]


def test_port_in_use_and_bad_store(env, server):
    p = subprocess.run([CHRONON, "serve", "--port", str(server.port), "--repo", env.repo], env=env.env(),
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 1 and "port %d" % server.port in p.stderr, p.stderr
    p = subprocess.run([CHRONON, "serve", "--port", "0", "--online", "lmdb:" + os.path.join(env.root, "nowhere")],
                       env=env.env(), capture_output=True, text=True, timeout=60)
    assert p.returncode == 1 and "nowhere" in p.stderr, p.stderr
    p = subprocess.run([CHRONON, "serve", "--threads", "0"], capture_output=True, text=True, timeout=60)
    assert p.returncode == 2 and "--threads" in p.stderr


def test_sigterm_finishes_and_exits_0(env):
    s = Server(env)
    errors, done = [], []

    def client():
        # keep requests flowing while the signal arrives: each must get a whole answer
        # or a refused connection, never a broken reply
        while not done:
            try:
                st, body = s.post("/v1/features/groupby/quickstart/purchases.v1", [{"user_id": "5"}])
                if st != 200 or body["results"][0]["status"] != "Success":
                    errors.append((st, body))
            except (urllib.error.URLError, ConnectionError, socket.timeout):
                return
            except Exception as e:  # a torn reply
                errors.append(repr(e))
                return

    t = threading.Thread(target=client)
    t.start()
    time.sleep(0.5)
    s.p.send_signal(signal.SIGTERM)
    out, err = s.p.communicate(timeout=30)
    done.append(1)
    t.join(timeout=30)
    assert s.p.returncode == 0, err
    assert "stopping on a signal" in out
    assert not errors, errors[:3]
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", s.port), timeout=2)
