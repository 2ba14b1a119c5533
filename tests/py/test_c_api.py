"""The C API (include/chronon.h, libchronon): examples/c/fetch_example, built against
libchronon.so and libchronon.a, answers the same as `chronon run --mode fetch` on an
uploaded quickstart warehouse (GroupBy and Join), from several threads at once, through
the typed single-key call, and fails cleanly on bad input; the shared library exports
only chronon_* symbols."""

import json
import os
import shutil
import socket
import subprocess

import pytest

from engine_util import BUILD, CHRONON, SRC, Warehouse, close, norm

QS = os.path.join(SRC, "examples", "quickstart")
DATA = os.path.join(QS, "data")
SCHEMAS = {
    "purchases": "ts:int64,purchase_id:string,user_id:string,product_id:string,purchase_price:int64,item_category:string",
    "returns": "ts:int64,return_id:string,user_id:string,product_id:string,refund_amt:int64",
}
Q = 1701993600000 + 3600000  # an hour after the end of 2023-12-07, the last uploaded day
EXAMPLES = [os.path.join(BUILD, "fetch_example"), os.path.join(BUILD, "fetch_example_static")]
KEYS = [{"user_id": "5"}, {"user_id": 7}, {"user_id": "no_such_user"}]


def run(w, *args, stdin=None):
    p = subprocess.run([CHRONON, "run", "--repo", w.repo] + list(args), env=w.env(), capture_output=True, text=True,
                       input=stdin)
    assert p.returncode == 0, p.stderr
    return p


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    for ex in EXAMPLES:
        assert os.path.exists(ex), "%s is built with chronon (src/lib)" % ex
    w = Warehouse(tmp_path_factory.mktemp("capi"))
    w.repo = os.path.join(w.root, "repo")
    shutil.copytree(os.path.join(QS, "production"), os.path.join(w.repo, "production"))
    for stem in ("purchases", "returns"):
        w.load(os.path.join(DATA, stem + ".csv"), "data." + stem, SCHEMAS[stem])
    for gb in ("purchases.v1", "returns.v1"):
        run(w, "--mode", "upload", "--conf", "production/group_bys/quickstart/" + gb, "--ds", "2023-12-07")
    run(w, "--mode", "metadata-upload", "--conf", "production/joins/quickstart/training_set.v2")
    w.uri = "lmdb:" + os.path.join(w.wh, "online")
    return w


def example(w, exe, *args, repo=None):
    return subprocess.run([exe, w.uri, repo or w.repo] + list(args), capture_output=True, text=True)


def cli_fetch(w, conf_type, name, keys):
    lines = "".join(json.dumps(k) + "\n" for k in keys)
    p = run(w, "--mode", "fetch", "--conf-type", conf_type, "--name", name, "--at-millis", str(Q), stdin=lines)
    if len(keys) == 1:
        return [json.loads(p.stdout)]  # one request: one indented object
    return [json.loads(x) for x in p.stdout.splitlines() if x.strip()]


@pytest.mark.parametrize("exe", EXAMPLES, ids=["shared", "static"])
@pytest.mark.parametrize("kind,conf_type,name", [("group_by", "group_bys", "quickstart/purchases.v1"),
                                                 ("join", "joins", "quickstart/training_set.v2")])
def test_fetch_equals_cli(env, exe, kind, conf_type, name):
    p = example(env, exe, kind, name, json.dumps(KEYS), str(Q))
    assert p.returncode == 0, p.stderr
    got = json.loads(p.stdout.splitlines()[0])
    want = cli_fetch(env, conf_type, name, KEYS)
    assert [g["keys"] for g in got] == KEYS
    n_values = 0
    for g, w in zip(got, want):
        vals = g["values"]
        assert sorted(vals) == sorted(w), (vals, w)
        for c in w:
            assert close(norm(vals[c]), norm(w[c])), (g["keys"], c, vals[c], w[c])
            n_values += w[c] is not None
    assert n_values > 0


def test_threads_and_typed_call(env):
    name = "quickstart/purchases.v1"
    want = cli_fetch(env, "group_bys", name, [{"user_id": "5"}])[0]["purchase_price_sum_30d"]
    assert want is not None
    p = example(env, EXAMPLES[0], "group_by", name, json.dumps(KEYS), str(Q), "--threads", "4",
                "--double", "user_id", "5", "purchase_price_sum_30d")
    assert p.returncode == 0, p.stderr
    assert "threads: 4 x 200 fetches agree" in p.stdout
    assert "purchase_price_sum_30d = %.17g" % want in p.stdout or \
        float(p.stdout.split("purchase_price_sum_30d = ")[1].split()[0]) == want
    # a Join feature of a user without data is null; an unknown feature name is an error
    p = example(env, EXAMPLES[0], "join", "quickstart/training_set.v2", "[]", str(Q),
                "--double", "user_id", "no_such_user", "quickstart_purchases_v1_purchase_price_sum_30d")
    assert p.returncode == 0 and "= null" in p.stdout, p.stdout + p.stderr
    p = example(env, EXAMPLES[0], "group_by", name, "[]", str(Q), "--double", "user_id", "5", "nope")
    assert 'no feature "nope"' in p.stderr


def test_errors(env):
    exe = EXAMPLES[0]
    p = example(env, exe, "group_by", "quickstart/nope.v1", '[{"user_id": "5"}]', str(Q))
    assert p.returncode == 1 and not p.stdout
    assert "quickstart/nope.v1" in p.stderr and "CHRONON_ENOTFOUND" in p.stderr
    p = example(env, exe, "group_by", "quickstart/purchases.v1", '{"user_id": "5"', str(Q))
    assert p.returncode == 1 and "keys_json is not valid JSON" in p.stderr and "CHRONON_EINVAL" in p.stderr
    p = example(env, exe, "group_by", "quickstart/purchases.v1", '[{"user_id": "5"}, 3]', str(Q))
    assert p.returncode == 1 and "keys[1] is not an object" in p.stderr
    # a key map that fails alone does not fail the call
    p = example(env, exe, "group_by", "quickstart/purchases.v1", '[{"userid": "5"}, {"user_id": "5"}]', str(Q))
    assert p.returncode == 0, p.stderr
    got = json.loads(p.stdout)
    assert 'missing key column "user_id"' in got[0]["error"] and "values" in got[1]
    p = subprocess.run([exe, "lmdb:" + os.path.join(env.root, "no_store"), "-", "group_by", "x/y", "[]"],
                       capture_output=True, text=True)
    assert p.returncode == 1 and "does not exist yet" in p.stderr


def test_shared_library_exports_only_chronon_symbols():
    """libchronon.so exports the chronon_* API and, beyond it, only the base functions the
    MongoDB backend module (chronon_mongo.so) calls back into its host for."""
    nm = shutil.which("nm")
    assert nm, "nm (binutils) is installed with the compiler"
    p = subprocess.run([nm, "-D", "--defined-only", os.path.join(BUILD, "libchronon.so")], capture_output=True,
                       text=True)
    assert p.returncode == 0, p.stderr
    syms = [line.split()[-1] for line in p.stdout.splitlines() if line.split()]
    assert "chronon_fetch_json" in syms and "chronon_client_open" in syms
    others = sorted(s for s in syms if not s.startswith("chronon_"))
    module = os.path.join(BUILD, "chronon_mongo.so")
    assert os.path.exists(module), "the MongoDB backend module is built (scripts/deps.sh installs libmongoc-dev)"
    p = subprocess.run([nm, "-D", "--undefined-only", module], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    needed = sorted(line.split()[-1] for line in p.stdout.splitlines() if line.split()[-1].startswith("cn_"))
    assert needed and others == needed
    p = subprocess.run([nm, "--defined-only", os.path.join(BUILD, "libchronon.a")], capture_output=True, text=True)
    assert " T cn_fetcher_open" in p.stdout and " T chronon_fetch_json" in p.stdout


def test_shared_library_loads_the_mongodb_module(env):
    """A program on libchronon.so opens a mongodb:// store: the backend module loads (it
    resolves its base functions in the library) and the open fails only because nothing
    listens on the port."""
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    uri = "mongodb://127.0.0.1:%d/db?serverSelectionTimeoutMS=200" % port
    p = subprocess.run([EXAMPLES[0], uri, "-", "group_by", "x/y", "[]"], capture_output=True, text=True,
                       timeout=60)
    assert p.returncode == 1
    assert "could not be loaded" not in p.stderr and "cannot reach the server" in p.stderr, p.stderr


def test_fetches_during_uploads(env):
    """Uploads of the same day flip the dataset to new versions while threads fetch:
    every answer equals the first (the client reloads the serving info, and a fetch that
    overlaps a flip goes again), none fails."""
    name = "quickstart/purchases.v1"
    p = subprocess.Popen([EXAMPLES[0], env.uri, env.repo, "group_by", name, json.dumps(KEYS), str(Q), "--threads", "3",
                          "--rounds", "4000"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    for _ in range(3):
        run(env, "--mode", "upload", "--conf", "production/group_bys/quickstart/purchases.v1", "--ds", "2023-12-07")
    out, err = p.communicate(timeout=300)
    assert p.returncode == 0, err
    assert "threads: 3 x 4000 fetches agree" in out
