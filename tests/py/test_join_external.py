"""Join backfill of onlineExternalParts whose source has an offlineGroupBy (Chronon's
JoinOps.getRegularAndExternalJoinParts, docs/joins.md "External parts offline"): each becomes
a join part after the regular ones, keyed through the external part's keyMapping, with the
GroupBy's own accuracy, its columns named ext_[<prefix>_]<sanitize(source name)>_<column>;
it is no longer padded with null value fields. Checked by hand on a small join, against the
oracle on random joins (parts of test_join_vs_oracle's generator turned into external
parts), in split mode, and on bad input. CN_TEST_SEED=<seed> replays one random case."""

import copy
import json
import os
import random

from engine_util import CHRONON, Warehouse, case_seeds, co, each_seed, run_cmd
from test_join_mutations import sanitizer_build
from test_join_split import write_conf
from test_join_vs_oracle import BASE, compare_join, gen_data, gen_join, load_data

DAY = 86400000
E0 = co.ds_to_epoch(BASE)
H = 3600000
TEMPORAL, SNAPSHOT = 0, 1   # Accuracy


def day(i):
    return co.ds_add(BASE, i)


def struct(name, fields):
    return {"kind": 13, "name": name, "params": [{"name": n, "dataType": {"kind": k}} for n, k in fields]}


def external(gb, source, key_mapping=None, prefix=None):
    ep = {"source": {"metadata": {"name": source},
                     "keySchema": struct("ext_%s_keys" % source, [(k, 7) for k in gb["keyColumns"]]),
                     "valueSchema": struct("ext_%s_values" % source, [("value", 4)]),
                     "offlineGroupBy": gb}}
    if key_mapping:
        ep["keyMapping"] = key_mapping
    if prefix:
        ep["prefix"] = prefix
    return ep


def gb_sum(name, accuracy, key="k1", table="raw.ev"):
    return {"metaData": {"name": name, "outputNamespace": "out", "team": "t"}, "keyColumns": [key],
            "accuracy": accuracy,
            "sources": [{"events": {"table": table, "query": {
                "selects": {key: "k1", "v": "v"}, "timeColumn": "ts"}}}],
            "aggregations": [{"inputColumn": "v", "operation": 7, "argMap": {},
                              "windows": [{"length": 2, "timeUnit": 1}]}]}


def hand_join(name, externals, parts=None):
    return {"metaData": {"name": "t." + name, "outputNamespace": "out", "team": "t"},
            "left": {"events": {"table": "raw.left", "query": {
                "selects": {"uid": "uid", "k1": "k1", "ts": "ts"}, "timeColumn": "ts"}}},
            "joinParts": parts if parts is not None else [{"groupBy": gb_sum("t.reg", TEMPORAL), "prefix": "r"}],
            "onlineExternalParts": externals}


def repo(tmp, ev, left):
    root = str(tmp)
    os.makedirs(os.path.join(root, "production", "joins", "t"), exist_ok=True)
    wh = Warehouse(root)
    tables, _ = load_data(root, wh, ev, [], left)
    return root, wh, tables


# events of key u1: 5 at day0 10h, 7 at day1 9h, 1 at day1 15h; u2: 3 at day0 11h
EV = [dict(zip(["ds", "ts", "k1", "k2", "v", "x"], r)) for r in [
    (day(0), E0 + 10 * H, "u1", 1, 5, 0.5), (day(0), E0 + 11 * H, "u2", 1, 3, 0.5),
    (day(1), E0 + DAY + 9 * H, "u1", 1, 7, 0.5), (day(1), E0 + DAY + 15 * H, "u1", 1, 1, 0.5)]]
# left: (uid, k1): uid carries the key that the mapped external part reads
LEFT = [dict(zip(["ds", "ts", "uid", "k1", "k2", "note"], r)) for r in [
    (day(1), E0 + DAY + 12 * H, "u2", "u1", 1, "n"), (day(1), E0 + DAY + 16 * H, "u1", "u2", 1, "n"),
    (day(1), E0 + DAY + 8 * H, "zz", "u1", 1, "n")]]


def test_external_offline_groupby_hand(tmp_path):
    root, wh, tables = repo(tmp_path, EV, LEFT)
    exts = [external(gb_sum("t.svc_gb", TEMPORAL), "svc.user", {"uid": "k1"}, prefix="acct"),  # TEMPORAL, mapped
            external(gb_sum("t.snap_gb", SNAPSHOT), "snap"),                                 # SNAPSHOT, k1 itself
            {"source": {"metadata": {"name": "online.only"}, "keySchema": struct("k", [("k1", 7)]),
                        "valueSchema": struct("v", [("score", 6)])}}]
    conf = hand_join("h", exts)
    wh.run(root, write_conf(root, conf), "--start-ds", day(1), "--end-ds", day(1))
    got = wh.rows("out.t_h")
    cols = ["uid", "k1", "ts", "r_t_reg_v_sum_2d", "ext_acct_svc_user_v_sum_2d", "ext_snap_v_sum_2d",
            "ext_online_only_score", "ds"]
    assert list(got[0]) == cols
    r = {g["uid"]: g for g in got}
    # row u2 (k1 u1 at day1 12h): regular part on k1=u1 -> 5 + 7; the mapped external part
    # reads key u2 (uid) -> 3; the SNAPSHOT part on k1=u1 at the end of day0 -> 5
    assert [r["u2"][c] for c in cols[3:7]] == [12, 3, 5, None]
    # row u1 (k1 u2 at 16h): regular u2 -> 3; mapped u1 -> 5 + 7 + 1; snapshot u2 -> 3
    assert [r["u1"][c] for c in cols[3:7]] == [3, 13, 3, None]
    # row zz: no events for key zz
    assert [r["zz"][c] for c in cols[3:7]] == [5, None, 5, None]
    compare_join(got, co.join_backfill(conf, tables, day(1), day(1)), where="hand")

    # split mode: the external part has its own part table named by its full prefix
    def run(mode, *args):
        return run_cmd([CHRONON, "run", "--mode", mode, "--repo", root, "--conf", write_conf(root, sc)] +
                       ["--start-ds", day(1), "--end-ds", day(1)] + list(args), wh.env())
    sc = copy.deepcopy(conf)
    sc["metaData"]["name"] = "t.hs"
    for step in [("backfill-left",), ("backfill", "--selected-join-parts",
                                      "r_t_reg,ext_acct_svc_user,ext_snap", "--use-cached-left"),
                 ("backfill-final",)]:
        p = run(*step)
        assert p.returncode == 0, (step, p.stderr)
    assert wh.rows("out.t_hs_ext_acct_svc_user"), "part table of the external part"
    split = wh.rows("out.t_hs")
    assert sorted(json.dumps(list(x.items())) for x in split) == sorted(json.dumps(list(x.items())) for x in got)


def to_external(rnd, conf):
    """Turns some of conf's join parts into external parts with that GroupBy offline (a
    part named by a derivation stays). Returns how many."""
    keep, exts = [], []
    used = json.dumps(conf.get("derivations") or [])
    for i, jp in enumerate(conf["joinParts"]):
        name = jp["groupBy"]["metaData"]["name"]
        if rnd.random() < 0.5 or name.replace(".", "_") in used:
            keep.append(jp)
            continue
        ep = external(jp["groupBy"], rnd.choice(["svc.%d" % i, "svc-%d" % i]), jp.get("keyMapping"),
                      prefix=rnd.choice([None, "e%d" % i]))
        exts.append(ep)
    if not exts:   # at least one: the last part
        jp = keep.pop()
        exts.append(external(jp["groupBy"], "svc.last", jp.get("keyMapping")))
    conf["joinParts"] = keep
    conf["onlineExternalParts"] = exts
    return len(exts)


def random_case(tmp, seed):
    rnd = random.Random(seed)
    n_days = rnd.randint(3, 5)
    ev, dim, left = gen_data(rnd, n_days)
    root = os.path.join(str(tmp), "x%d" % seed)
    os.makedirs(os.path.join(root, "production", "joins", "t"))
    wh = Warehouse(root)
    tables, missing = load_data(root, wh, ev, dim, left)
    end = co.ds_add(BASE, n_days - 1)
    name = "x_%d" % seed
    conf = gen_join(rnd, name)
    to_external(rnd, conf)
    path = write_conf(root, conf)
    if any('"%s"' % t in json.dumps(conf) for t in missing):
        return 0
    try:
        want = co.join_backfill(conf, tables, end)
    except co.OracleError as e:
        p = wh.run(root, path, "--end-ds", end, check=False)
        assert p.returncode != 0, "oracle says %s but the run succeeded" % e
        return 0
    wh.run(root, path, "--end-ds", end)
    got = wh.rows("out.t_" + name)
    assert any(c.startswith("ext_") for c in got[0]) if got else True
    compare_join(got, want, where=name)
    return 1


def test_random_external_parts_match_oracle(tmp_path):
    seeds = case_seeds(5 if sanitizer_build() else 8)
    compared = sum(each_seed(seeds, lambda s: random_case(tmp_path, s)))
    assert compared >= len(seeds) * 0.6, "too few joins compared (%d)" % compared


def test_bad_external_parts(tmp_path):
    root, wh, _ = repo(tmp_path, EV, LEFT)
    cases = [
        # keyMapping onto a column that is no key of the offlineGroupBy
        ("map", hand_join("bad_map", [external(gb_sum("t.svc_gb", TEMPORAL), "svc", {"uid": "user_id"})]),
         ["onlineExternalParts[0]", "svc", "user_id", "no key column", "t.svc_gb"]),
        # the offlineGroupBy's key is not a left column
        ("key", hand_join("bad_key", [external(gb_sum("t.svc_gb", TEMPORAL, key="merchant"), "svc")]),
         ["ext_svc", "merchant", "raw.left"]),
        # a regular part producing the external part's columns
        ("dup", hand_join("bad_dup", [external(gb_sum("t.x", TEMPORAL), "svc")],
                          parts=[{"groupBy": gb_sum("svc", TEMPORAL), "prefix": "ext"}]),
         ["ext_svc_v_sum_2d"]),
    ]
    for case, conf, needles in cases:
        p = wh.run(root, write_conf(root, conf), "--start-ds", day(1), "--end-ds", day(1), check=False)
        assert p.returncode == 1, (case, p.stderr)
        for n in needles:
            assert n.lower() in p.stderr.lower(), (case, n, p.stderr)
        assert not os.path.exists(os.path.join(wh.wh, "out.db", "t_" + conf["metaData"]["name"][2:], "data")), case
