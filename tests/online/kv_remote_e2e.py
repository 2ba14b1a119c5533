"""End-to-end tests of the remote online-store backends against real servers, each
started here on a free loopback port and stopped at the end:
  redis_contract      the whole KV contract suite (test_kv_contract) on redis-server,
                      through a password and a non-zero database
  redis_down          store down at open: one clear error naming the URI; opens once up
  redis_dies          the server dies under a reader and comes back: errors while it is
                      down, no crash, correct values again after the restart
  dynamodb_contract   the contract suite on dynalite
  dynamodb_dies       dynalite down at open, then dies under a reader and comes back
  dynamodb_cleanup    what a commit deletes: the tables of versions replaced before its
                      load began (the one it replaces stays until the next commit), a
                      crashed load's table, what layout 1 left; a reader on another handle
                      during back-to-back uploads sees each day whole
  dynamodb_lease      a steady reader's multi-gets carry the dataset item at most once
                      per read lease (200 ms): the others read the items alone
  dynamodb_sigv4      moto with signature checks on: the right secret works, a wrong one
                      fails clearly (the signer is right, not merely tolerated)
Usage: kv_remote_e2e.py CASE. A missing server program is a skip (exit 77), or a
failure when CN_TEST_STRICT=1. Paths come from CN_BUILD_DIR and CN_SOURCE_DIR."""
import json
import re
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

BUILD = os.environ.get("CN_BUILD_DIR", "")
SOURCE = os.environ.get("CN_SOURCE_DIR", "")
CONTRACT = os.path.join(BUILD, "tests", "online", "test_kv_contract")
TOOL = os.path.join(BUILD, "tests", "online", "kv_tool")


def skip(why):
    if os.environ.get("CN_TEST_STRICT") == "1":
        sys.exit(f"FAIL (strict): {why}")
    print(f"SKIP: {why}")
    sys.exit(77)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, proc=None, timeout=20.0):
    end = time.time() + timeout
    while time.time() < end:
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"server exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise AssertionError(f"nothing listens on port {port} after {timeout}s")


def stop(proc):
    if proc is not None and proc.poll() is None:
        proc.send_signal(signal.SIGKILL)
        proc.wait()


def tool(uri, *args, env=None, timeout=60):
    r = subprocess.run([TOOL, uri, *args], capture_output=True, text=True, env=env,
                       timeout=timeout)
    return r.returncode, r.stdout + r.stderr


def contract(uri, env=None, timeout=1500):
    e = dict(os.environ if env is None else env)
    e["CN_KV_TEST_URIS"] = uri
    t0 = time.time()
    r = subprocess.run([CONTRACT], env=e, capture_output=True, text=True, timeout=timeout)
    out = r.stdout + r.stderr
    print(out[-3000:])
    print(f"contract on {uri}: {time.time() - t0:.1f}s")
    assert r.returncode == 0, f"contract suite failed on {uri}"
    # it really ran on the remote backend, every case
    assert out.count(f" on {uri}") >= 15, "contract cases did not run on the remote URI"
    assert "[  PASSED  ] 20 test(s)." in out


# ---- redis ------------------------------------------------------------------------------

class Redis:
    def __init__(self, d, port, password=None, persist=False):
        self.d, self.port, self.password, self.persist = d, port, password, persist
        self.proc = None

    def start(self):
        exe = shutil.which("redis-server")
        args = [exe, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", self.d,
                "--save", "", "--logfile", os.path.join(self.d, "log")]
        args += ["--appendonly", "yes", "--appendfsync", "always"] if self.persist else \
                ["--appendonly", "no"]
        if self.password:
            args += ["--requirepass", self.password]
        self.proc = subprocess.Popen(args)
        wait_port(self.port, self.proc)

    def stop(self):
        stop(self.proc)


def need_redis():
    if not shutil.which("redis-server"):
        skip("redis-server not installed (scripts/deps.sh test)")


def case_redis_contract(d):
    need_redis()
    port = free_port()
    r = Redis(d, port, password="s3cret:/@x")
    r.start()
    try:
        contract(f"redis://:s3cret%3A%2F%40x@127.0.0.1:{port}/3?prefix={{ns}}:")
        # what the suite wrote went to database 3, under per-case prefixes
        out = subprocess.run(["redis-cli", "-p", str(port), "--no-auth-warning", "-a",
                              "s3cret:/@x", "-n", "3", "dbsize"], capture_output=True,
                             text=True).stdout
        assert int(out.strip()) > 0, out
        # a wrong password is one clear error naming the store, without the password
        rc, out = tool(f"redis://:wrong@127.0.0.1:{port}/3", "open")
        assert rc == 1 and "authentication refused" in out and "redis://:***@127.0.0.1" in out, out
        assert "wrong" not in out, out
    finally:
        r.stop()


def case_redis_down(d):
    need_redis()
    port = free_port()
    uri = f"redis://127.0.0.1:{port}/0"
    t0 = time.time()
    rc, out = tool(uri, "open")
    took = time.time() - t0
    assert rc == 1, out
    assert f"error: {uri}: connect (PING) failed after 3 attempts: cannot connect to " \
           f"127.0.0.1:{port}: Connection refused" in out, out
    assert took < 5, f"a refused connection took {took:.1f}s"
    r = Redis(d, port)
    r.start()
    try:
        rc, out = tool(uri, "open")
        assert rc == 0 and "ok redis" in out, out
    finally:
        r.stop()


def watch_through_restart(uri, start, kill, env=None, n=500, down_s=1.5, total_s=6.0):
    """Runs kv_tool watch for total_s while the server is killed after 1 s and started
    again down_s later; checks the transitions ok -> err -> ok."""
    p = subprocess.Popen([TOOL, uri, "watch", "D", str(n), str(total_s)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    time.sleep(1.0)
    kill()
    time.sleep(down_s)
    start()
    out, err = p.communicate(timeout=total_s + 60)
    print(out, err)
    assert p.returncode == 0, f"watch exited {p.returncode}: {out} {err}"
    lines = out.splitlines()
    states = [l.split(" ")[0] for l in lines]
    assert states[0] == "ok", lines
    assert "err" in states, f"no error seen while the server was down: {lines}"
    assert states[-2] == "ok", f"did not recover after the restart: {lines}"
    return [l for l in lines if l.startswith("err")]


def case_redis_dies(d):
    need_redis()
    port = free_port()
    uri = f"redis://127.0.0.1:{port}/0"
    r = Redis(d, port, persist=True)
    r.start()
    try:
        rc, out = tool(uri, "load", "D", "500")
        assert rc == 0, out
        errs = watch_through_restart(uri, r.start, r.stop)
        assert all(uri in e and "dataset D" in e for e in errs), errs
    finally:
        r.stop()


# ---- dynamodb ----------------------------------------------------------------------------

def dynalite_cli():
    root = os.path.join(SOURCE, "third_party", "npm", "node_modules", "dynalite", "cli.js")
    if not os.path.exists(root) or not shutil.which("node"):
        skip("dynalite not installed (scripts/checkers.sh)")
    return root


class Dynalite:
    def __init__(self, d, port):
        self.d, self.port, self.proc = d, port, None

    def start(self):
        self.proc = subprocess.Popen(
            ["node", dynalite_cli(), "--host", "127.0.0.1", "--port", str(self.port),
             "--path", os.path.join(self.d, "db"), "--createTableMs", "0",
             "--deleteTableMs", "0", "--updateTableMs", "0"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_port(self.port, self.proc)

    def stop(self):
        stop(self.proc)


def aws_env(port, key="AKIDEXAMPLE", secret="wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"):
    e = dict(os.environ)
    e.update({"AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}", "AWS_ACCESS_KEY_ID": key,
              "AWS_SECRET_ACCESS_KEY": secret, "AWS_REGION": "us-east-1"})
    e.pop("AWS_SESSION_TOKEN", None)
    return e


def case_dynamodb_contract(d):
    port = free_port()
    s = Dynalite(d, port)
    s.start()
    env = aws_env(port)
    # dynalite writes ~2,500 items/s: the default run divides the bulk cases' key counts by
    # 20 (same assertions, fewer keys); CN_TEST_SLOW=1 runs them at full size (~7 minutes).
    if os.environ.get("CN_TEST_SLOW") != "1":
        env["CN_KV_TEST_DIVISOR"] = "20"
    try:
        contract("dynamodb://{ns}.?region=us-east-1", env=env)
    finally:
        s.stop()


def case_dynamodb_dies(d):
    port = free_port()
    env = aws_env(port)
    uri = "dynamodb://e2e_?region=us-east-1"
    rc, out = tool(uri, "open", env=env)
    assert rc == 1 and uri in out and f"127.0.0.1:{port}" in out, out
    s = Dynalite(d, port)
    s.start()
    try:
        rc, out = tool(uri, "load", "D", "300", env=env)
        assert rc == 0, out
        errs = watch_through_restart(uri, s.start, s.stop, env=env, n=300)
        assert all(uri in e for e in errs), errs
    finally:
        s.stop()


def case_dynamodb_lease(d):
    port = free_port()
    s = Dynalite(d, port)
    s.start()
    env = aws_env(port)
    uri = "dynamodb://lease_?region=us-east-1"
    try:
        rc, out = tool(uri, "load", "D", "200", env=env)
        assert rc == 0, out
        env["CHRONON_LOG"] = "debug"
        # a multi-get every 20 ms for 2 s: about 100, over 10 leases of 200 ms
        rc, out = tool(uri, "watch", "D", "200", "2", env=env)
        assert rc == 0 and out.startswith("ok"), out
        reads = out.count("dynamodb: BatchGetItem lease_D--")
        carried = out.count("multi-get of dataset D: version")
        print(f"{reads} BatchGetItems, {carried} with the dataset item")
        assert reads >= 50, out[-3000:]
        # once per lease (the open's GetItem confirms the first): 9 or 10 in 2 s; a
        # 100 ms lease gave 17 to 19, no lease every read
        assert carried <= 12, f"{carried} of {reads} multi-gets carried the dataset item"
        assert carried >= 4, f"{carried} of {reads} multi-gets carried the dataset item: the lease never lapsed?"
    finally:
        s.stop()


def ddb_raw(port, op, body):
    """One DynamoDB call straight to dynalite (it checks the signature's form, not its
    value), to look at what the backend left in its tables."""
    req = urllib.request.Request(f"http://127.0.0.1:{port}/", data=json.dumps(body).encode(), headers={
        "Content-Type": "application/x-amz-json-1.0", "X-Amz-Target": f"DynamoDB_20120810.{op}",
        "Authorization": "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20240101/us-east-1/dynamodb/aws4_request, "
                         "SignedHeaders=host, Signature=0",
        "X-Amz-Date": "20240101T000000Z"})
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read())


def scan_all(port, table):
    items, start = [], None
    while True:
        body = {"TableName": table, "ConsistentRead": True}
        if start:
            body["ExclusiveStartKey"] = start
        out = ddb_raw(port, "Scan", body)
        items += out["Items"]
        start = out.get("LastEvaluatedKey")
        if not start:
            return items


def case_dynamodb_cleanup(d):
    """Each version of a dataset is a table of its own (cl_D--<version>) whose items are
    {k: key + 2-byte part, d} with no range key; a commit drops the tables of the
    versions below the one current when its load began (the version it replaces stays
    for readers until the next commit, which drops it with a crashed load's table);
    drop removes them all. A reader on another handle during back-to-back uploads reads
    every day whole, and their old tables are gone after the uploads. A dataset in
    layout 1 is refused with a clear error until a load moves it to layout 2 (its table
    dropped at once). Checked by looking at the tables."""
    import base64
    port = free_port()
    s = Dynalite(d, port)
    s.start()
    env = aws_env(port)
    uri = "dynamodb://cl_?region=us-east-1"
    meta = "cl_chronon_datasets"

    def tables(ds="D"):
        """{version: number of items} over the tables cl_<ds>--<version> (a commit drops
        tables without waiting: one being deleted counts as gone)."""
        out = {}
        stem = "cl_%s--" % ds
        for t in ddb_raw(port, "ListTables", {})["TableNames"]:
            if t.startswith(stem):
                try:
                    if ddb_raw(port, "DescribeTable", {"TableName": t})["Table"]["TableStatus"] != "ACTIVE":
                        continue
                    items = scan_all(port, t)
                except urllib.error.HTTPError as e:
                    if "ResourceNotFoundException" in e.read().decode():
                        continue
                    raise
                for it in items:
                    assert set(it) <= {"k", "d", "n"}, it
                    assert base64.b64decode(it["k"]["B"])[-2:] == b"\0\0", it
                out[int(t[len(stem):])] = len(items)
        return out

    def load(n):
        rc, out = tool(uri, "load", "D", str(n), env=env)
        assert rc == 0, out
        return int(out.split()[-1])

    try:
        v1 = load(300)
        v2 = load(200)
        assert tables() == {v1: 300, v2: 200}, tables()
        # the datasets table holds the dataset's item and the counter, nothing per key
        names = sorted(it["ds"]["S"] for it in scan_all(port, meta))
        assert names == ["\x01next_version", "D"], names
        # a crashed upload leaves its table: the next commit replaces v2 and keeps it (a
        # load begun after v2's, possibly still running), the one after drops it
        rc, out = tool(uri, "crash", "D", "60", env=env)
        assert rc == 3 and "crashing" in out, out
        # (the crash wrote two full batches of 25; 10 were still buffered)
        assert tables() == {v1: 300, v2: 200, v2 + 1: 50}, tables()
        v4 = load(100)
        assert tables() == {v2: 200, v2 + 1: 50, v4: 100}, tables()
        # a key put in place goes into the current version's table
        rc, out = tool(uri, "put", "D", "extra", "e", env=env)
        assert rc == 0, out
        rc, out = tool(uri, "get", "D", "extra", env=env)
        assert rc == 0 and "value e" in out, out
        assert tables()[v4] == 101, tables()
        v5 = load(80)
        assert tables() == {v4: 101, v5: 80}, tables()

        def item():
            return ddb_raw(port, "GetItem", {"TableName": meta, "Key": {"ds": {"S": "D"}},
                                             "ConsistentRead": True})["Item"]
        # the dataset item says what a commit drops (p, the version the last flip
        # replaced; no open load left in o, nothing deferred in x): a commit lists no
        # tables and deletes the one two versions back by name
        it = item()
        assert it["v"] == {"N": str(v5)} and it["p"] == {"N": str(v4)} and "o" not in it and "x" not in it, it
        rc, out = tool(uri, "load", "D", "80", env=dict(env, CHRONON_LOG="debug"))
        assert rc == 0, out
        v6 = int(re.search(r"^loaded 80 version (\d+)$", out, re.M).group(1))
        assert "ListTables" not in out, out
        dropped = [l.split()[4].rstrip(":") for l in out.splitlines() if " DeleteTable " in l]
        assert dropped == ["cl_D--%d" % v4], (dropped, out)
        assert tables() == {v5: 80, v6: 80}, tables()
        # an item written before p existed (v and f alone), and a table it does not name:
        # the next commit lists the tables once and drops every version below the one
        # it replaces
        ddb_raw(port, "PutItem", {"TableName": meta, "Item": {"ds": {"S": "D"}, "v": {"N": str(v6)},
                                                             "f": {"N": "2"}}})
        ddb_raw(port, "CreateTable", {
            "TableName": "cl_D--%d" % (v5 - 1), "BillingMode": "PAY_PER_REQUEST",
            "AttributeDefinitions": [{"AttributeName": "k", "AttributeType": "B"}],
            "KeySchema": [{"AttributeName": "k", "KeyType": "HASH"}]})
        assert tables() == {v5 - 1: 0, v5: 80, v6: 80}, tables()
        rc, out = tool(uri, "load", "D", "80", env=dict(env, CHRONON_LOG="debug"))
        assert rc == 0 and "ListTables" in out, out
        v7 = int(re.search(r"^loaded 80 version (\d+)$", out, re.M).group(1))
        assert tables() == {v6: 80, v7: 80}, tables()
        assert item()["p"] == {"N": str(v6)}, item()
        # a crashed load stays in o until a commit begun after it could no longer flip:
        # the next commit keeps its table, the one after drops it and empties o
        rc, out = tool(uri, "crash", "D", "30", env=env)
        assert rc == 3, out
        crashed = v7 + 1
        assert item()["o"] == {"NS": [str(crashed)]}, item()
        v9 = load(80)
        assert item()["o"] == {"NS": [str(crashed)]} and tables() == {v7: 80, crashed: 25, v9: 80}, \
            (item(), tables())
        v10 = load(80)
        assert "o" not in item() and tables() == {v9: 80, v10: 80}, (item(), tables())
        # interleaved loads: C begins, A begins, C commits, then A. v10 was current when A
        # began (readers may hold a lease on it), so A's commit does not drop it but
        # records it in x; the next commit drops it with C's table
        def begin(name):
            flag = os.path.join(d, name)
            pr = subprocess.Popen([TOOL, uri, "load", "D", "40"], stdout=subprocess.PIPE, text=True,
                                  env=dict(env, CN_KV_TOOL_WAIT=flag))
            assert pr.stdout.readline() == "ready\n"
            return pr, flag

        def commit(pr, flag):
            open(flag, "w").close()
            out, _ = pr.communicate(timeout=60)
            assert pr.returncode == 0, out
            return int(re.search(r"^loaded 40 version (\d+)$", out, re.M).group(1))
        c, a = begin("go_c"), begin("go_a")
        vc = commit(*c)
        assert tables() == {v10: 80, vc: 40, vc + 1: 25}, tables()  # A: one batch of 25 so far
        va = commit(*a)
        assert va == vc + 1 and item()["x"] == {"NS": [str(v10)]} and item()["p"] == {"N": str(vc)}, item()
        assert tables() == {v10: 80, vc: 40, va: 40}, tables()
        v13 = load(80)
        assert "x" not in item() and "o" not in item() and tables() == {va: 40, v13: 80}, (item(), tables())
        # a crashed first load: its item holds o alone, which is no dataset to readers;
        # the first commit keeps that table (its begin saw no version), the second drops it
        rc, out = tool(uri, "crash", "F", "30", env=env)
        assert rc == 3, out
        f_item = ddb_raw(port, "GetItem", {"TableName": meta, "Key": {"ds": {"S": "F"}},
                                           "ConsistentRead": True})["Item"]
        assert set(f_item) == {"ds", "o"} and len(tables("F")) == 1, (f_item, tables("F"))
        crashed_f = int(f_item["o"]["NS"][0])
        rc, out = tool(uri, "get", "F", "k1", env=env)
        assert rc == 1 and "dataset F does not exist" in out, out
        rc, out = tool(uri, "load", "F", "20", env=env)
        f1 = int(out.split()[-1])
        assert rc == 0 and tables("F") == {crashed_f: 25, f1: 20}, (out, tables("F"))
        rc, out = tool(uri, "load", "F", "20", env=env)
        f2 = int(out.split()[-1])
        assert rc == 0 and tables("F") == {f1: 20, f2: 20}, (out, tables("F"))
        names = sorted(it["ds"]["S"] for it in scan_all(port, meta))
        assert names == ["\x01next_version", "D", "F"], names
        rc, out = tool(uri, "drop", "F", env=env)
        assert rc == 0 and tables("F") == {}, (out, tables("F"))
        rc, out = tool(uri, "get", "D", "extra", env=env)
        assert rc == 0 and "(missing)" in out, out
        rc, out = tool(uri, "get", "D", "k79", env=env)
        assert rc == 0 and "value v79" in out, out
        # a reader of its own (another process, with its read lease) during back-to-back
        # uploads of the same keys: every multi-get finds the loaded values (watch exits
        # 2 on a wrong or missing one) and none fails; the tables of all but the last
        # two versions are gone afterwards
        n = 400
        v = load(n)
        w = subprocess.Popen([TOOL, uri, "watch", "D", str(n), "4"], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, env=env)
        vs = [load(n) for _ in range(5)]
        out, err = w.communicate(timeout=120)
        lines = out.splitlines()
        assert w.returncode == 0 and lines[:-1] == ["ok 0"] and lines[-1].startswith("done"), \
            (w.returncode, out, err)
        assert vs == sorted(vs) and vs[0] > v, vs
        assert tables() == {vs[-2]: n, vs[-1]: n}, tables()
        rc, out = tool(uri, "drop", "D", env=env)
        assert rc == 0 and "dropped" in out, out
        assert tables() == {}, tables()
        # a dataset written in layout 1 (table cl_L, range key v, dataset item without f,
        # a key list item)
        ddb_raw(port, "CreateTable", {
            "TableName": "cl_L", "BillingMode": "PAY_PER_REQUEST",
            "AttributeDefinitions": [{"AttributeName": "k", "AttributeType": "B"},
                                     {"AttributeName": "v", "AttributeType": "N"}],
            "KeySchema": [{"AttributeName": "k", "KeyType": "HASH"},
                          {"AttributeName": "v", "KeyType": "RANGE"}]})
        for _ in range(100):
            if ddb_raw(port, "DescribeTable", {"TableName": "cl_L"})["Table"]["TableStatus"] == "ACTIVE":
                break
            time.sleep(0.05)
        ddb_raw(port, "PutItem", {"TableName": "cl_L", "Item": {
            "k": {"B": base64.b64encode(b"k7").decode()}, "v": {"N": str(1 * 1024)},
            "d": {"B": base64.b64encode(b"old").decode()}}})
        ddb_raw(port, "PutItem", {"TableName": meta, "Item": {"ds": {"S": "L"}, "v": {"N": "1"},
                                                             "mc": {"N": "1"}}})
        ddb_raw(port, "PutItem", {"TableName": meta, "Item": {"ds": {"S": "L\x021.0"},
                                                             "m": {"B": "AA=="}}})
        rc, out = tool(uri, "get", "L", "k7", env=env)
        assert rc == 1 and "dataset L was uploaded by an older chronon-c" in out and \
            "table cl_L with range key v" in out and "upload it again" in out, out
        rc, out = tool(uri, "put", "L", "k7", "x", env=env)
        assert rc == 1 and "older chronon-c" in out, out
        load_l = tool(uri, "load", "L", "50", env=env)
        assert load_l[0] == 0, load_l[1]
        rc, out = tool(uri, "get", "L", "k7", env=env)
        assert rc == 0 and "value v7" in out, out
        for _ in range(100):  # the commit drops the table without waiting
            left = ddb_raw(port, "ListTables", {})["TableNames"]
            if "cl_L" not in left:
                break
            time.sleep(0.05)
        assert "cl_L" not in left and len([t for t in left if t.startswith("cl_L--")]) == 1, left
        names = sorted(it["ds"]["S"] for it in scan_all(port, meta))
        assert names == ["\x01next_version", "L"], names
    finally:
        s.stop()


def moto_python():
    cands = [os.environ.get("CN_MOTO_PYTHON", "")] + \
            [p for p in (shutil.which("python3", path=x) for x in os.environ["PATH"].split(":")) if p]
    for p in cands:
        if p and subprocess.run([p, "-c", "import moto.server"], capture_output=True).returncode == 0:
            return p
    skip("no python with moto (set CN_MOTO_PYTHON)")


def iam_call(port, params):
    """An unauthenticated IAM query call (moto allows INITIAL_NO_AUTH_ACTION_COUNT)."""
    body = "&".join(f"{k}={urllib.parse.quote(v, safe='')}" for k, v in params.items())
    req = urllib.request.Request(f"http://127.0.0.1:{port}/", data=body.encode(), headers={
        "Content-Type": "application/x-www-form-urlencoded",
        "Authorization": "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20240101/us-east-1/iam/aws4_request, SignedHeaders=host, Signature=0",
        "X-Amz-Date": "20240101T000000Z"})
    with urllib.request.urlopen(req, timeout=10) as r:
        return r.read().decode()


def case_dynamodb_sigv4(d):
    import urllib.parse  # noqa: F401  (used by iam_call)
    py = moto_python()
    port = free_port()
    env = dict(os.environ, INITIAL_NO_AUTH_ACTION_COUNT="3")
    proc = subprocess.Popen([py, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    try:
        wait_port(port, proc, timeout=30)
        iam_call(port, {"Action": "CreateUser", "UserName": "chronon", "Version": "2010-05-08"})
        out = iam_call(port, {"Action": "CreateAccessKey", "UserName": "chronon",
                              "Version": "2010-05-08"})
        key = re.search(r"<AccessKeyId>([^<]+)</AccessKeyId>", out).group(1)
        secret = re.search(r"<SecretAccessKey>([^<]+)</SecretAccessKey>", out).group(1)
        policy = json.dumps({"Version": "2012-10-17",
                             "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]})
        iam_call(port, {"Action": "PutUserPolicy", "UserName": "chronon", "PolicyName": "all",
                        "PolicyDocument": policy, "Version": "2010-05-08"})
        uri = "dynamodb://sig_?region=us-east-1"
        ok = aws_env(port, key, secret)
        rc, out = tool(uri, "load", "SIGNED", "60", env=ok)
        assert rc == 0 and "loaded 60" in out, out
        rc, out = tool(uri, "get", "SIGNED", "k42", env=ok)
        assert rc == 0 and "value v42" in out, out
        bad = aws_env(port, key, secret[:-1] + ("x" if secret[-1] != "x" else "y"))
        rc, out = tool(uri, "get", "SIGNED", "k42", env=bad)
        print(out)
        assert rc == 1, out
        assert "InvalidSignatureException" in out or "SignatureDoesNotMatch" in out or \
            "UnrecognizedClientException" in out, out
        assert "AWS_SECRET_ACCESS_KEY" in out and "sig_chronon_datasets" in out, out
    finally:
        stop(proc)


def main():
    if len(sys.argv) != 2 or f"case_{sys.argv[1]}" not in globals():
        sys.exit(f"usage: {sys.argv[0]} CASE ({', '.join(k[5:] for k in globals() if k.startswith('case_'))})")
    if not os.path.exists(CONTRACT) or not os.path.exists(TOOL):
        sys.exit("CN_BUILD_DIR does not hold tests/online/test_kv_contract and kv_tool")
    d = tempfile.mkdtemp(prefix="cnkv-e2e.")
    try:
        globals()[f"case_{sys.argv[1]}"](d)
    finally:
        shutil.rmtree(d, ignore_errors=True)
    print("PASS")


if __name__ == "__main__":
    main()
