"""End-to-end tests of the object store against real S3 servers on loopback.

usage: e2e_s3.py CASE OBJ_TOOL

Each case starts its own server on a free 127.0.0.1 port and stops it at the end:
  s3rver (npm, under third_party/npm) for object I/O: keys with '=' and spaces, ranged
  GET, listing with pagination, multipart upload of a >16 MiB object, delete;
  moto's server (a Python that has moto, e.g. pyenv's) with INITIAL_NO_AUTH_ACTION_COUNT
  so it verifies SigV4: the right secret works, a wrong one gives a clear 403.
A missing server prints SKIP and exits 77 (a failure when CN_TEST_STRICT=1).
"""
import glob
import json
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time

CASE, TOOL = sys.argv[1], sys.argv[2]
SRC = os.environ.get("CN_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "..", "..", ".."))
NPM = os.environ.get("CN_NPM_DIR", os.path.join(SRC, "third_party", "npm"))


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


class Server:
    """A server process started on a free port; stopped (by its pid) on exit."""

    def __init__(self, argv_for_port, env=None, log=None):
        self.proc = None
        for _ in range(3):
            self.port = free_port()
            self.log = open(log, "w") if log else subprocess.DEVNULL
            self.proc = subprocess.Popen(argv_for_port(self.port), env=env, stdout=self.log,
                                         stderr=subprocess.STDOUT)
            if wait_port(self.port, self.proc):
                return
            self.stop()
        check(False, "server did not start: %s" % (argv_for_port(0),))

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if getattr(self, "cleanup", None):
            shutil.rmtree(self.cleanup, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.stop()


def tool(env, *args, expect_rc=0):
    p = subprocess.run([TOOL] + list(args), env=env, capture_output=True, timeout=120)
    if expect_rc is not None and p.returncode != expect_rc:
        print("FAIL: obj_tool %s: rc=%d (expected %d)\nstdout: %s\nstderr: %s" % (
            " ".join(args), p.returncode, expect_rc, p.stdout.decode(errors="replace")[:2000],
            p.stderr.decode(errors="replace")))
        sys.exit(1)
    return p


def base_env(endpoint):
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env["AWS_ENDPOINT_URL"] = endpoint
    env.pop("CN_TEST_OBJ_FAIL", None)
    return env


def s3rver():
    js = os.path.join(NPM, "node_modules", "s3rver", "bin", "s3rver.js")
    node = shutil.which("node")
    if not os.path.exists(js) or not node:
        skip("s3rver not installed (run scripts/checkers.sh): " + js)
    data = tempfile.mkdtemp(prefix="cn_s3rver_")
    # s3rver makes continuation tokens with DES, which node 17+ offers only from
    # OpenSSL's legacy provider
    srv = Server(lambda port: [node, "--openssl-legacy-provider", js, "-d", data, "-a", "127.0.0.1", "-p", str(port),
                               "--configure-bucket", "chronon", "--silent"])
    srv.data = srv.cleanup = data
    return srv


def write(path, data):
    with open(path, "wb") as f:
        f.write(data)


def read(path):
    with open(path, "rb") as f:
        return f.read()


def case_s3rver_roundtrip(work):
    with s3rver() as srv:
        env = base_env("http://127.0.0.1:%d" % srv.port)
        root = "s3://chronon/warehouse"
        key = "ns.db/t/data/ds=2023-12-01/part 0+x.bin"
        payload = bytes(random.Random(7).randrange(256) for _ in range(100000))
        write(work + "/in", payload)
        tool(env, "put", root, key, work + "/in")
        tool(env, "get", root, key, work + "/out")
        check(read(work + "/out") == payload, "GET returned different bytes")
        size = tool(env, "head", root, key).stdout.decode().strip()
        check(size == str(len(payload)), "HEAD size %s, expected %d" % (size, len(payload)))
        tool(env, "range", root, key, "1000", "777", work + "/r")
        check(read(work + "/r") == payload[1000:1777], "ranged GET returned wrong bytes")
        tool(env, "range", root, key, str(len(payload) - 10), "100", work + "/r")
        check(read(work + "/r") == payload[-10:], "ranged GET at the end returned wrong bytes")
        # the object is where another S3 client would look for it
        check(os.path.isdir(os.path.join(srv.data, "chronon")), "bucket dir missing")
        # put_if_absent refuses to replace
        p = tool(env, "put", root, key, work + "/in", "--if-absent", expect_rc=1)
        check(b"CHRONON_EEXISTS" in p.stderr, "put_if_absent: %s" % p.stderr)
        tool(env, "del", root, key)
        p = tool(env, "get", root, key, work + "/out", expect_rc=1)
        check(b"CHRONON_ENOTFOUND" in p.stderr and key.encode() in p.stderr,
              "GET after delete: %s" % p.stderr)


def case_s3rver_list_pagination(work):
    with s3rver() as srv:
        env = base_env("http://127.0.0.1:%d" % srv.port)
        root = "s3://chronon/wh"
        write(work + "/in", b"x" * 3)
        keys = ["t/data/ds=2023-12-%02d/part-%03d.parquet" % (1 + i % 3, i) for i in range(57)]
        for k in keys:
            tool(env, "put", root, k, work + "/in")
        tool(env, "put", root, "t/metadata/v1.json", work + "/in")
        tool(env, "put", root, "u/other", work + "/in")
        out = tool(env, "list", root, "t/data/", "--page=10").stdout.decode().splitlines()
        got = [line.split("\t")[0] for line in out]
        check(got == sorted(keys), "listing with pages of 10: got %d keys %s..." % (
            len(got), got[:3]))
        check(all(line.endswith("\t3") for line in out), "sizes wrong: %s" % out[:3])
        out = tool(env, "list", root, "").stdout.decode().splitlines()
        check(len(out) == 59, "full listing has %d keys, expected 59" % len(out))


def case_s3rver_multipart(work):
    with s3rver() as srv:
        env = base_env("http://127.0.0.1:%d" % srv.port)
        root = "s3://chronon/wh"
        size = 17 * 1024 * 1024 + 12345
        payload = random.Random(11).randbytes(size)
        write(work + "/big", payload)
        tool(env, "put", root, "big/data.parquet", work + "/big", "--part-size=%d" % (5 << 20))
        tool(env, "get", root, "big/data.parquet", work + "/out")
        check(read(work + "/out") == payload, "multipart object differs after GET")
        got = tool(env, "head", root, "big/data.parquet").stdout.decode().strip()
        check(got == str(size), "size after multipart %s, expected %d" % (got, size))
        # the last part boundary reads back exactly
        off = 3 * (5 << 20) - 5
        tool(env, "range", root, "big/data.parquet", str(off), "10", work + "/r")
        check(read(work + "/r") == payload[off:off + 10], "range across parts differs")


def moto_python():
    cands = [os.environ.get("CN_MOTO_PYTHON", ""), shutil.which("python3") or "",
             os.path.expanduser("~/.pyenv/shims/python3")]
    cands += sorted(glob.glob(os.path.expanduser("~/.pyenv/versions/*/bin/python3")))
    for c in cands:
        if c and os.path.exists(c) and subprocess.run(
                [c, "-c", "import moto.server, boto3"], capture_output=True).returncode == 0:
            return c
    skip("no python with moto and boto3 found (set CN_MOTO_PYTHON)")


SETUP = r"""
import boto3, json, sys
url = sys.argv[1]
anon = dict(endpoint_url=url, region_name="us-east-1", aws_access_key_id="x",
            aws_secret_access_key="x")
iam = boto3.client("iam", **anon)
iam.create_user(UserName="chronon")
key = iam.create_access_key(UserName="chronon")["AccessKey"]
iam.put_user_policy(UserName="chronon", PolicyName="all", PolicyDocument=json.dumps(
    {"Version": "2012-10-17",
     "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}))
s3 = boto3.client("s3", endpoint_url=url, region_name="us-east-1",
                  aws_access_key_id=key["AccessKeyId"],
                  aws_secret_access_key=key["SecretAccessKey"])
s3.create_bucket(Bucket="chronon")
print(json.dumps({"id": key["AccessKeyId"], "secret": key["SecretAccessKey"]}))
"""


def moto(work):
    py = moto_python()
    env = dict(os.environ, INITIAL_NO_AUTH_ACTION_COUNT="3")
    srv = Server(lambda port: [py, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                 env=env, log=work + "/moto.log")
    url = "http://127.0.0.1:%d" % srv.port
    p = subprocess.run([py, "-c", SETUP, url], capture_output=True, timeout=120,
                       env={k: v for k, v in os.environ.items() if not k.startswith("AWS_")})
    if p.returncode != 0:
        srv.stop()
        check(False, "moto setup failed: %s" % p.stderr.decode(errors="replace")[-2000:])
    srv.key = json.loads(p.stdout.decode().strip().splitlines()[-1])
    srv.url = url
    return srv


def case_moto_sigv4_right_secret(work):
    with moto(work) as srv:
        env = base_env(srv.url)
        env["AWS_ACCESS_KEY_ID"] = srv.key["id"]
        env["AWS_SECRET_ACCESS_KEY"] = srv.key["secret"]
        # moto verifies keys and prefixes without reserved characters correctly only
        root = "s3://chronon"
        payload = random.Random(3).randbytes(4096)
        write(work + "/in", payload)
        tool(env, "put", root, "wh/t/v1.json", work + "/in")
        tool(env, "get", root, "wh/t/v1.json", work + "/out")
        check(read(work + "/out") == payload, "GET with SigV4 returned different bytes")
        tool(env, "range", root, "wh/t/v1.json", "10", "20", work + "/r")
        check(read(work + "/r") == payload[10:30], "ranged GET with SigV4 wrong")
        for i in range(5):
            tool(env, "put", root, "wh/t/p%d" % i, work + "/in")
        out = tool(env, "list", root, "wh", "--page=2").stdout.decode().splitlines()
        check([l.split("\t")[0] for l in out] == ["wh/t/p%d" % i for i in range(5)] +
              ["wh/t/v1.json"], "signed paginated list: %s" % out)
        # multipart: create, upload parts (signed queries with uploadId) and complete
        big = random.Random(5).randbytes(11 << 20)
        write(work + "/big", big)
        tool(env, "put", root, "wh/big.bin", work + "/big", "--part-size=%d" % (5 << 20))
        tool(env, "get", root, "wh/big.bin", work + "/out")
        check(read(work + "/out") == big, "signed multipart upload differs")
        # If-None-Match: moto honours it, so put_if_absent is atomic here
        p = tool(env, "put", root, "wh/t/v1.json", work + "/in", "--if-absent", expect_rc=1)
        check(b"CHRONON_EEXISTS" in p.stderr, "put_if_absent: %s" % p.stderr)
        tool(env, "del", root, "wh/t/v1.json")
        tool(env, "get", root, "wh/t/v1.json", work + "/out", expect_rc=1)
        # and the server did check: no credentials at all is refused
        anon = base_env(srv.url)
        p = tool(anon, "get", root, "wh/t/p0", work + "/out", expect_rc=1)
        check(b"403" in p.stderr, "anonymous GET was not refused: %s" % p.stderr)


def case_moto_sigv4_wrong_secret(work):
    with moto(work) as srv:
        env = base_env(srv.url)
        env["AWS_ACCESS_KEY_ID"] = srv.key["id"]
        env["AWS_SECRET_ACCESS_KEY"] = srv.key["secret"][:-1] + (
            "A" if srv.key["secret"][-1] != "A" else "B")
        write(work + "/in", b"data")
        p = tool(env, "put", "s3://chronon/wh", "t/v1.json", work + "/in", expect_rc=1)
        msg = p.stderr.decode()
        for want in ["CHRONON_EREMOTE", "PUT", "s3://chronon/wh/t/v1.json", "403",
                     "SignatureDoesNotMatch", "AWS_SECRET_ACCESS_KEY"]:
            check(want in msg, "error message lacks %r: %s" % (want, msg))
        check(msg.count("\n") == 1, "expected one error line: %r" % msg)
        p = tool(env, "list", "s3://chronon", "wh", expect_rc=1)
        check(b"ListObjectsV2" in p.stderr and b"SignatureDoesNotMatch" in p.stderr,
              "list error: %s" % p.stderr)
        # an unknown access key names the other variable
        env["AWS_ACCESS_KEY_ID"] = "AKIANOSUCHKEY0000000"
        p = tool(env, "get", "s3://chronon/wh", "t/v1.json", work + "/out", expect_rc=1)
        check(b"403" in p.stderr and b"AWS_" in p.stderr, "unknown key: %s" % p.stderr)


def case_retry_on_5xx(work):
    """A server that fails twice with 503 then answers: the GET succeeds on the third try;
    one that always fails gives up after 1 + retries attempts with a clear message."""
    import http.server
    import threading

    class Handler(http.server.BaseHTTPRequestHandler):
        hits = []
        fail_first = 2

        def do_GET(self):
            Handler.hits.append(self.path)
            if len(Handler.hits) <= Handler.fail_first:
                body = b"<Error><Code>SlowDown</Code><Message>busy</Message></Error>"
                self.send_response(503)
            else:
                body = b"payload"
                self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *a):
            pass

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    try:
        env = base_env("http://127.0.0.1:%d" % srv.server_address[1])
        tool(env, "get", "s3://chronon/wh", "k", work + "/out", "--backoff-ms=10")
        check(read(work + "/out") == b"payload", "GET after retries returned wrong bytes")
        check(len(Handler.hits) == 3 and all(h == "/chronon/wh/k" for h in Handler.hits),
              "expected 3 attempts at /chronon/wh/k, got %s" % Handler.hits)
        Handler.hits.clear()
        Handler.fail_first = 100
        p = tool(env, "get", "s3://chronon/wh", "k", work + "/out", "--retries=3",
                 "--backoff-ms=10", expect_rc=1)
        check(len(Handler.hits) == 4, "expected 4 attempts, got %d" % len(Handler.hits))
        msg = p.stderr.decode()
        for want in ["after 4 attempts", "HTTP 503", "SlowDown", "s3://chronon/wh/k"]:
            check(want in msg, "message lacks %r: %s" % (want, msg))
    finally:
        srv.shutdown()
        srv.server_close()


def main():
    fn = globals().get("case_" + CASE)
    check(fn is not None, "unknown case " + CASE)
    check(os.path.exists(TOOL), "obj_tool not built: " + TOOL)
    work = tempfile.mkdtemp(prefix="cn_obj_e2e_")
    try:
        fn(work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print("PASS: " + CASE)


if __name__ == "__main__":
    main()
