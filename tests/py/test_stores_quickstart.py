"""The quickstart's upload and fetch through every online store gives the same features as
the embedded LMDB store (issue 10: "the whole quickstart upload+fetch with results equal
to LMDB's").

One warehouse is built from examples/quickstart (load the sample data, backfill the
purchases GroupBy), then each online GroupBy of the example (the guide's
my_team.user_purchase_features.v1 and quickstart purchases/returns/users) is uploaded for
2023-12-07 (and the guide's with its metadata), to LMDB and, through CHRONON_ONLINE, to redis-server,
CongoDB (a MongoDB wire-protocol server) and dynalite (DynamoDB), each started on a free
loopback port by tests/online's helpers. Every user key of the data (101 per GroupBy) is
fetched at two times after the upload (the batch end and 13 hours later) from each store; the JSON must equal LMDB's, key
by key. Before its upload, a fetch from a remote store must fail with "no batch data in
the online store <uri>": the fetches really read the remote store, not the LMDB store of
the same warehouse.

A store whose server program is missing is skipped (a failure with CN_TEST_STRICT=1)."""

import json
import os
import shutil
import subprocess
import sys

import pytest

from engine_util import CHRONON, SRC, Warehouse

sys.path.insert(0, os.path.join(SRC, "tests", "online"))
import kv_mongo_e2e  # noqa: E402
import kv_remote_e2e as remote  # noqa: E402

QS = os.path.join(SRC, "examples", "quickstart")
DS = "2023-12-07"
DAY = 86400000
B = 1701993600000  # end of 2023-12-07 (UTC): the batch end of the upload
TIMES = [B + 1, B + 13 * 3600000 + 17 * 60000]
GROUP_BYS = ["my_team/user_purchase_features.v1", "quickstart/purchases.v1", "quickstart/returns.v1",
             "quickstart/users.v1"]
KEYS = [{"user_id": str(i)} for i in range(101)]


def chronon(w, *args, online=None, extra_env=None, stdin=None, check=True):
    env = w.env()
    if extra_env:
        env.update(extra_env)
    if online:
        env["CHRONON_ONLINE"] = online
    p = subprocess.run([CHRONON, *args], env=env, capture_output=True, text=True, input=stdin, timeout=300,
                       cwd=w.repo)
    if check:
        assert p.returncode == 0, "%s\n%s" % (" ".join(args), p.stderr)
    return p


def upload_all(w, online=None, extra_env=None):
    msgs = []
    for gb in GROUP_BYS:
        conf = "production/group_bys/" + gb
        p = chronon(w, "run", "--repo", w.repo, "--mode", "upload", "--conf", conf, "--ds", DS, online=online,
                    extra_env=extra_env)
        msgs.append(p.stderr)
    # the quickstart's metadata-upload of the guide's GroupBy: its fetch then reads the
    # conf from the store's ZIPLINE_METADATA
    chronon(w, "run", "--repo", w.repo, "--mode", "metadata-upload", "--conf", "production/group_bys/" + GROUP_BYS[0],
            online=online, extra_env=extra_env)
    return msgs


def fetch(w, gb, q, online=None, extra_env=None):
    lines = "".join(json.dumps(k) + "\n" for k in KEYS)
    p = chronon(w, "run", "--repo", w.repo, "--mode", "fetch", "--conf-type", "group_bys", "--name", gb,
                "--ts", str(q), online=online, extra_env=extra_env, stdin=lines)
    out = [json.loads(x) for x in p.stdout.splitlines() if x.strip()]
    assert len(out) == len(KEYS), p.stdout
    return out


def fetch_all(w, online=None, extra_env=None):
    return {(gb, q): fetch(w, gb, q, online, extra_env) for gb in GROUP_BYS for q in TIMES}


@pytest.fixture(scope="module")
def lmdb(tmp_path_factory):
    """The warehouse, uploaded to and fetched from the default LMDB store."""
    root = str(tmp_path_factory.mktemp("stores_qs"))
    repo = os.path.join(root, "repo")
    shutil.copytree(QS, repo, ignore=shutil.ignore_patterns("warehouse", ".*"))
    w = Warehouse(root)
    w.repo = repo
    w.load(os.path.join(repo, "data", "purchases.csv"), "default.purchases")
    for t in ("purchases", "returns", "users", "checkouts"):
        w.load(os.path.join(repo, "data", t + ".csv"), "data." + t)
    p = chronon(w, "run", "--repo", repo, "--mode", "backfill", "--conf",
                "production/group_bys/quickstart/purchases.v1", "--ds", DS)
    assert "wrote 101 rows" in p.stdout + p.stderr
    msgs = upload_all(w)
    assert all("101 keys to" in m and "lmdb:" in m for m in msgs), msgs
    want = fetch_all(w)
    # the reference is not empty: most users have features at every time
    for (gb, q), rows in want.items():
        filled = sum(any(v is not None for v in r.values()) for r in rows)
        assert filled >= 50, (gb, q, filled)
    return w, want


def strict_skip(why):
    if os.environ.get("CN_TEST_STRICT") == "1":
        pytest.fail("strict: " + why)
    pytest.skip(why)


def start_redis(d):
    if not shutil.which("redis-server"):
        strict_skip("redis-server not installed (scripts/deps.sh test)")
    port = remote.free_port()
    srv = remote.Redis(d, port)
    srv.start()
    return srv.stop, "redis://127.0.0.1:%d/0" % port, None


def start_mongodb(d):
    try:
        proc, port = kv_mongo_e2e.start_server()
    except SystemExit as e:
        strict_skip("CongoDB or node not installed (scripts/checkers.sh): %s" % e)

    def stop():
        proc.kill()
        proc.wait()
    return stop, "mongodb://127.0.0.1:%d/quickstart" % port, None


def start_dynamodb(d):
    try:
        remote.dynalite_cli()
    except SystemExit:
        strict_skip("dynalite not installed (scripts/checkers.sh)")
    port = remote.free_port()
    srv = remote.Dynalite(d, port)
    srv.start()
    env = remote.aws_env(port)
    aws = {k: env[k] for k in ("AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION")}
    return srv.stop, "dynamodb://qs_?region=us-east-1", aws


@pytest.mark.parametrize("store", ["redis", "mongodb", "dynamodb"])
def test_quickstart_through_store_equals_lmdb(lmdb, store, tmp_path):
    w, want = lmdb
    stop, uri, aws = globals()["start_" + store](str(tmp_path))
    try:
        # an empty store has no batch data: what follows is read from this store, not LMDB
        p = chronon(w, "run", "--repo", w.repo, "--mode", "fetch", "--name", GROUP_BYS[0], "-k",
                    '{"user_id": "5"}', online=uri, extra_env=aws, check=False)
        assert p.returncode != 0 and "has no batch data in the online store " + uri.split("?")[0] in p.stderr, \
            p.stderr
        msgs = upload_all(w, uri, aws)
        for m in msgs:
            assert "101 keys to" in m and " in " + uri.split("?")[0] in m, m
        got = fetch_all(w, uri, aws)
        for k, rows in want.items():
            for i, (g, e) in enumerate(zip(got[k], rows)):
                assert g == e, "%s at %d, user %d: %s gives %r, lmdb %r" % (k[0], k[1], i, store, g, e)
    finally:
        stop()
