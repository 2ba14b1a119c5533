"""Online GroupBys (compute.md section 8): `chronon run --mode upload` of a day, then
`--mode fetch` at times q after it equals the oracle's offline value at q for every key
of the quickstart data, including the middle of a day where TEMPORAL windows slide
(the sawtooth tail). Also metadata-upload and the error cases of the users' guide."""

import json
import os
import shutil
import subprocess

import pytest

from engine_util import BUILD, CHRONON, SRC, Warehouse, close, co, norm

QS = os.path.join(SRC, "examples", "quickstart")
DATA = os.path.join(QS, "data")
PURCHASES = "ts:int64,purchase_id:string,user_id:string,product_id:string,purchase_price:int64,item_category:string"
USERS = "user_id:string,account_created_ds:string,email_verified:string"
DAY = 86400000
END = "2023-12-07"  # last partition of the example data


def epoch_day(ds):
    import datetime
    d = datetime.date.fromisoformat(ds)
    return (d - datetime.date(1970, 1, 1)).days * DAY


B = epoch_day(END) + DAY

# A TEMPORAL GroupBy over the purchases with windows of every hop size (5 min below 12h,
# 1 hour below 12 days, 1 day above) and an int64 key (for key conversion).
WINDOWS = [{"length": 1, "timeUnit": 0}, {"length": 5, "timeUnit": 0}, {"length": 12, "timeUnit": 0},
           {"length": 1, "timeUnit": 1}, {"length": 3, "timeUnit": 1}, {"length": 14, "timeUnit": 1}]
TEMPORAL = {
    "metaData": {"name": "quickstart.purchases_online.v1", "online": 1, "outputNamespace": "default",
                 "team": "quickstart"},
    "sources": [{"events": {"table": "data.purchases", "query": {
        "selects": {"user_id": "CAST(user_id AS BIGINT)", "purchase_price": "purchase_price",
                    "item_category": "item_category"},
        "timeColumn": "ts"}}}],
    "keyColumns": ["user_id"],
    "accuracy": 0,
    "aggregations": [
        {"inputColumn": "purchase_price", "operation": 7, "windows": WINDOWS},          # SUM
        {"inputColumn": "purchase_price", "operation": 6, "windows": WINDOWS},          # COUNT
        {"inputColumn": "purchase_price", "operation": 8, "windows": WINDOWS},          # AVERAGE
        {"inputColumn": "purchase_price", "operation": 13, "argMap": {"k": "3"},        # LAST_K
         "windows": WINDOWS},
        {"inputColumn": "purchase_price", "operation": 0, "windows": WINDOWS[3:]},      # MIN
        {"inputColumn": "purchase_price", "operation": 1, "windows": WINDOWS[:3]},      # MAX
        {"inputColumn": "item_category", "operation": 4, "windows": WINDOWS[2:5]},      # UNIQUE_COUNT
        {"inputColumn": "item_category", "operation": 3},                                # LAST
        {"inputColumn": "purchase_price", "operation": 9, "windows": WINDOWS[4:]},      # VARIANCE
        {"inputColumn": "purchase_price", "operation": 7},                               # SUM unwindowed
    ],
}
TEMPORAL_CONF = "production/group_bys/quickstart/purchases_online.v1"


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    root = tmp_path_factory.mktemp("online")
    repo = os.path.join(str(root), "repo")
    shutil.copytree(os.path.join(QS, "production"), os.path.join(repo, "production"))
    shutil.copy(os.path.join(QS, "teams.json"), repo)
    with open(os.path.join(repo, TEMPORAL_CONF), "w") as f:
        json.dump(TEMPORAL, f)
    w = Warehouse(root)
    w.load(os.path.join(DATA, "purchases.csv"), "data.purchases", PURCHASES)
    w.load(os.path.join(DATA, "purchases.csv"), "default.purchases", PURCHASES)
    w.load(os.path.join(DATA, "users.csv"), "data.users", USERS)
    w.repo = repo
    return w


def run(w, *args, stdin=None, check=True):
    cmd = [CHRONON, "run", "--repo", w.repo] + list(args)
    p = subprocess.run(cmd, env=w.env(), capture_output=True, text=True, input=stdin)
    if check:
        assert p.returncode == 0, "%s\n%s" % (" ".join(cmd), p.stderr)
    return p


def tables():
    t = {n: co.load_table(n, os.path.join(DATA, s + ".csv"))
         for n, s in {"data.purchases": "purchases", "default.purchases": "purchases",
                      "data.users": "users"}.items()}
    t["purchases"] = t["default.purchases"]
    return t


def fetch_all(w, name, keys, q):
    """Fetches every key (one JSON object a line on stdin) at q; list of maps."""
    lines = "".join(json.dumps(k) + "\n" for k in keys)
    p = run(w, "--mode", "fetch", "--conf-type", "group_bys", "--name", name, "--at-millis", str(q), stdin=lines)
    out = [json.loads(x) for x in p.stdout.splitlines() if x.strip()]
    assert len(out) == len(keys), p.stdout
    return out


def check_against_oracle(w, conf_path, name, key_col, q, as_str=False):
    conf = co._conf_of(os.path.join(w.repo, conf_path))
    want_rows = co.groupby_values_at(conf, tables(), q, max_partition=END)
    want = {r[key_col]: r for r in want_rows}
    # every key of the source data, also those without a value at q (nulls expected)
    model = co.GroupByModel(conf, tables())
    keys = sorted({model.key_of(r)[0] for s in model.sources for r in model.rows_with_keys(s.rows)
                   if r["ds"] <= END} - {None})
    assert keys
    reqs = [{key_col: str(k) if as_str else k} for k in keys]
    got = fetch_all(w, name, reqs, q)
    cols = None
    n_values = 0
    for k, g in zip(keys, got):
        wr = norm(co.to_json_value(want.get(k, {})))
        if cols is None:
            cols = sorted(g)
        assert sorted(g) == cols
        for c in cols:
            wv = wr.get(c)
            assert close(norm(g[c]), wv), "%s key %r at %d: %s got %r, oracle %r" % (name, k, q, c, g[c], wv)
            n_values += g[c] is not None
    assert n_values > 0
    return len(keys)


def upload(w, conf, ds=END, check=True):
    return run(w, "--mode", "upload", "--conf", conf, "--ds", ds, check=check)


QS_TIMES = [0, 1, 5 * 60000 + 7, 3600000 * 14 + 23 * 60000 + 10000, DAY - 1, DAY + 7 * 3600000 + 59 * 60000,
            2 * DAY - 1]


@pytest.mark.parametrize("dq", QS_TIMES)
def test_temporal_fetch_equals_oracle(env, dq):
    upload(env, TEMPORAL_CONF)
    n = check_against_oracle(env, TEMPORAL_CONF, "quickstart/purchases_online.v1", "user_id", B + dq, as_str=True)
    assert n >= 50


def test_temporal_fetch_before_batch_end_is_null(env):
    upload(env, TEMPORAL_CONF)
    p = run(env, "--mode", "fetch", "--name", "quickstart.purchases_online.v1", "-k", '{"user_id": 1}',
            "--ts", str(B - 1))
    out = json.loads(p.stdout)
    assert out and all(v is None for v in out.values())
    p = run(env, "--mode", "fetch", "--name", "quickstart.purchases_online.v1", "-k", '{"user_id": "1"}',
            "--ts", str(B + 3600000))
    assert json.loads(p.stdout)["purchase_price_sum"] is not None
    assert "warning" not in p.stderr
    # D13: from B+2d on, the 3d and 14d windows may count expired rows: said on stderr
    p = run(env, "--mode", "fetch", "--name", "quickstart.purchases_online.v1", "-k", '{"user_id": "1"}',
            "--ts", str(B + 2 * DAY))
    assert "2 days or more past the uploaded day %s" % END in p.stderr


@pytest.mark.parametrize("conf,name", [
    ("production/group_bys/quickstart/purchases.v1", "quickstart/purchases.v1"),
    ("production/group_bys/my_team/user_purchase_features.v1", "my_team/user_purchase_features.v1"),
    ("production/group_bys/quickstart/users.v1", "quickstart/users.v1"),
])
def test_snapshot_fetch_equals_oracle(env, conf, name):
    p = upload(env, conf)
    assert "keys to" in p.stderr
    for dq in (0, 3600000 * 13 + 1):
        check_against_oracle(env, conf, name, "user_id", B + dq)


def test_string_key_takes_numbers(env):
    """compute.md 8.4: a number sent for a string key is converted to its text."""
    upload(env, "production/group_bys/quickstart/purchases.v1")
    name = "quickstart/purchases.v1"
    outs = [json.loads(run(env, "--mode", "fetch", "--name", name, "-k", k, "--ts", str(B + 1)).stdout)
            for k in ('{"user_id": "5"}', '{"user_id": 5}')]
    assert outs[0] == outs[1] and outs[0]["purchase_price_sum_30d"] is not None
    p = run(env, "--mode", "fetch", "--name", name, "-k", '{"user_id": 5.0}', "--ts", str(B + 1))
    assert all(v is None for v in json.loads(p.stdout).values())  # "5.0" is another key


def test_guide_fetch_and_metadata_upload(env):
    conf = "production/group_bys/my_team/user_purchase_features.v1"
    upload(env, conf)
    p = run(env, "--mode", "metadata-upload", "--conf", conf)
    assert "ZIPLINE_METADATA/group_bys/my_team/user_purchase_features.v1" in p.stderr
    # the guide's command: an unknown user has no data (nulls, and a note on stderr)
    p = run(env, "--mode", "fetch", "--conf-type", "group_bys", "--name", "my_team/user_purchase_features.v1",
            "-k", '{"user_id":"user_1"}')
    out = json.loads(p.stdout)
    assert "purchase_price_sum_7d" in out and all(v is None for v in out.values())
    assert "no data" in p.stderr
    # the conf comes from the metadata store even when the compiled file is gone
    want = co.groupby_values_at(co._conf_of(os.path.join(env.repo, conf)), tables(), B + 1, max_partition=END)
    want = [r for r in want if r["purchase_price_count_7d"]][0]
    moved = os.path.join(env.repo, conf) + ".moved"
    os.rename(os.path.join(env.repo, conf), moved)
    try:
        p = run(env, "--mode", "fetch", "--name", "my_team.user_purchase_features.v1", "-k",
                json.dumps({"user_id": int(want["user_id"])}),
                "--at-millis", str(B + 1))
    finally:
        os.rename(moved, os.path.join(env.repo, conf))
    out = json.loads(p.stdout)
    assert out["purchase_price_count_7d"] == want["purchase_price_count_7d"] >= 1


def test_metadata_upload_of_a_join(env):
    """A Join's compiled JSON lands under ZIPLINE_METADATA joins/<team>/<name>."""
    conf = "production/joins/quickstart/training_set.v2"
    p = run(env, "--mode", "metadata-upload", "--conf", conf)
    assert "ZIPLINE_METADATA/joins/quickstart/training_set.v2" in p.stderr
    tool = os.path.join(BUILD, "tests", "online", "kv_tool")
    assert os.path.exists(tool), "kv_tool is built with the tests (tests/online)"
    g = subprocess.run([tool, "lmdb:" + os.path.join(env.wh, "online"), "get", "ZIPLINE_METADATA",
                        "joins/quickstart/training_set.v2"], capture_output=True, text=True)
    assert g.returncode == 0 and g.stdout.startswith("value "), g.stdout + g.stderr
    with open(os.path.join(env.repo, conf)) as f:
        assert json.loads(g.stdout[len("value "):]) == json.load(f)


def test_upload_replaces_the_day(env):
    """A second upload of an earlier day flips the dataset to that day's values."""
    conf = "production/group_bys/quickstart/purchases.v1"
    upload(env, conf, "2023-12-03")
    q = epoch_day("2023-12-04") + 5
    check_against_oracle(env, conf, "quickstart/purchases.v1", "user_id", q)
    upload(env, conf, END)
    check_against_oracle(env, conf, "quickstart/purchases.v1", "user_id", B + 5)


def test_fetch_errors(env):
    upload(env, TEMPORAL_CONF)
    name = "quickstart/purchases_online.v1"

    def fails(*args, stdin=None):
        p = run(env, "--mode", "fetch", "--name", name, *args, stdin=stdin, check=False)
        assert p.returncode != 0 and not p.stdout, (p.stdout, p.stderr)
        return p.stderr

    e = fails("-k", "{user_id: 1")
    assert "-k/--key-json" in e and "not valid JSON" in e
    e = fails("-k", '{"userid": "1"}')
    assert 'missing key column "user_id"' in e
    e = fails("-k", '{"user_id": "abc"}')
    assert "Invalid key format" in e and '"user_id"' in e and "int64" in e
    e = fails(stdin='{"user_id": 1}\nnot json\n')
    assert "<stdin>:2" in e
    p = run(env, "--mode", "fetch", "--name", "quickstart/purchase_online.v1", "-k", '{"user_id": 1}', check=False)
    assert p.returncode != 0 and "nearby names: quickstart/purchases_online.v1" in p.stderr
    p = run(env, "--mode", "fetch", "--type", "join", "--name", name, "-k", '{"user_id": 1}', check=False)
    assert p.returncode != 0 and "join fetch" in p.stderr


def test_upload_without_data(env):
    p = upload(env, TEMPORAL_CONF, "2024-03-01", check=False)
    assert p.returncode != 0
    assert "no source partition ds=2024-03-01 in data.purchases" in p.stderr and "2023-12-07" in p.stderr
    # the previous upload still answers
    p = run(env, "--mode", "fetch", "--name", "quickstart/purchases_online.v1", "-k", '{"user_id": 1}',
            "--ts", str(B + 1), check=False)
    assert p.returncode == 0 and json.loads(p.stdout)["purchase_price_sum"] is not None
