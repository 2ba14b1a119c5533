"""Label joins (`--mode label-join`, Chronon's LabelJoin.scala; docs/joins.md "Label
joins"): for label day L the left days [L-(leftStartOffset-1), L-(leftEndOffset-1)] get one
row per row identifier in <join>_labels with each label part's GroupBy snapshot of day L,
label_ds = L; runs for other label days keep their versions; the _labeled view joins the
output table with the labels. Hand-computed values, the oracle (written from the docs),
run.py, and the bad input of Chronon's rules."""

import json
import os
import subprocess
import sys

import pytest

from engine_util import CHRONON, SRC, Warehouse, co, norm, run_cmd
from test_join_mutations import sanitizer_build
from test_join_split import write_conf
from test_join_vs_oracle import write_csv

D0 = "2024-05-01"
E0 = co.ds_to_epoch(D0)
H = 3600000
DAY = 86400000
SUM, COUNT, LAST = 7, 6, 3


def day(i):
    return co.ds_add(D0, i)


def ev(d, hour, user, v):
    return {"ds": day(d), "ts": E0 + d * DAY + hour * H, "user": user, "v": v}


# left: u1 twice on day 3 (one row identifier without rowIds), u2 on days 3 and 4, u3 on day 4
LEFT = [{"ds": day(d), "ts": E0 + d * DAY + h * H, "uid": uid, "user": u}
        for d, h, uid, u in [(3, 8, "a", "u1"), (3, 9, "b", "u1"), (3, 10, "c", "u2"), (4, 8, "d", "u2"),
                             (4, 9, "e", "u3"), (5, 7, "f", "u1"), (6, 7, "g", "u2"), (2, 7, "z", "u1")]]
# u1: 5 on day 2 (before the window of L=5), 1 on day 3, 2 on day 5, 40 on day 6 (after L=5)
EV = [ev(2, 10, "u1", 5), ev(3, 1, "u1", 1), ev(5, 23, "u1", 2), ev(6, 0, "u1", 40), ev(4, 3, "u2", 7),
      ev(3, 12, "u9", 100)]
# entity snapshots: status per user, per day
ENT = [{"ds": day(d), "user": u, "status": s, "tier": t}
       for d, u, s, t in [(5, "u1", "gold", 3), (5, "u2", "none", 0), (6, "u1", "silver", 2),
                          (6, "u3", "gold", 3)]]


def gb_events(name="t.lbl", window=3, unit=1, aggs=None):
    return {"metaData": {"name": name, "outputNamespace": "out", "team": "t"}, "keyColumns": ["user"],
            "sources": [{"events": {"table": "raw.ev", "query": {"selects": {"user": "user", "v": "v"},
                                                                  "timeColumn": "ts"}}}],
            "aggregations": aggs or [{"inputColumn": "v", "operation": SUM, "argMap": {},
                                      "windows": [{"length": window, "timeUnit": unit}]}]}


def gb_entities(name="t.status"):
    return {"metaData": {"name": name, "outputNamespace": "out", "team": "t"}, "keyColumns": ["user"],
            "sources": [{"entities": {"snapshotTable": "raw.ent", "query": {
                "selects": {"user": "user", "status": "status", "tier": "tier"}}}}]}


def join(name, labels, so, eo, row_ids=None):
    feat = dict(gb_events("t.feat"), aggregations=[{"inputColumn": "v", "operation": COUNT, "argMap": {}}])
    c = {"metaData": {"name": "t." + name, "outputNamespace": "out", "team": "t"},
         "left": {"events": {"table": "raw.left", "query": {
             "selects": {"uid": "uid", "user": "user", "ts": "ts"}, "timeColumn": "ts"}}},
         "joinParts": [{"groupBy": feat}],
         "labelPart": {"labels": labels, "leftStartOffset": so, "leftEndOffset": eo}}
    if row_ids:
        c["rowIds"] = row_ids
    return c


def load_tables(w, csv_dir):
    """raw.left, raw.ev and raw.ent loaded into warehouse w (CSVs under csv_dir); the
    oracle's tables."""
    tables = {}
    for name, rows, cols, schema, load in [
            ("raw.left", LEFT, ["ts", "uid", "user"], {"ts": "long", "uid": "string", "user": "string"},
             "ts:int64,uid:string,user:string"),
            ("raw.ev", EV, ["ts", "user", "v"], {"ts": "long", "user": "string", "v": "long"},
             "ts:int64,user:string,v:int64"),
            ("raw.ent", ENT, ["user", "status", "tier"], {"user": "string", "status": "string", "tier": "long"},
             "user:string,status:string,tier:int64")]:
        path = os.path.join(csv_dir, name + ".csv")
        write_csv(path, rows, cols, schema)
        w.load(path, name, load)
        tables[name] = co.load_table(name, path)
    return tables


@pytest.fixture(scope="module")
def wh(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("label"))
    w = Warehouse(root)
    tables = load_tables(w, root)
    os.makedirs(os.path.join(root, "production", "joins", "t"))
    w.repo, w.tables = root, tables
    return w


def conf_path(w, conf):
    return write_conf(w.repo, conf)


def label(w, conf, ds, check=True):
    p = run_cmd([CHRONON, "run", "--mode", "label-join", "--repo", w.repo, "--conf", conf_path(w, conf),
                 "--ds", ds], w.env())
    if check:
        assert p.returncode == 0, p.stderr
    return p


def canon(rows):
    return sorted(json.dumps(list(norm(co.to_json_value(r)).items())) for r in rows)


def test_aggregation_label(wh):
    conf = join("agg", [{"groupBy": gb_events()}], 3, 3)
    label(wh, conf, day(5))   # left day 3, labels over days 3..5
    got = wh.rows("out.t_agg_labels")
    assert list(got[0]) == ["user", "t_lbl_v_sum_3d", "label_ds", "ds"]
    assert sorted((r["ds"], r["user"], r["t_lbl_v_sum_3d"], r["label_ds"]) for r in got) == [
        (day(3), "u1", 3, day(5)), (day(3), "u2", 7, day(5))]
    assert canon(got) == canon(co.label_join(conf, wh.tables, day(5)))
    label(wh, conf, day(6))   # left day 4: u2 (7 on day 4), u3 (nothing)
    got = wh.rows("out.t_agg_labels")
    want = co.label_join(conf, wh.tables, day(5)) + co.label_join(conf, wh.tables, day(6))
    assert canon(got) == canon(want)
    assert {(r["ds"], r["user"]): r["t_lbl_v_sum_3d"] for r in got if r["ds"] == day(4)} == {
        (day(4), "u2"): 7, (day(4), "u3"): None}


def test_entity_labels_versions_and_view(wh):
    """No-aggregation entity labels over a range of left days (offsets 3..1); a second label
    day keeps the first one's rows; the _labeled view over the output table."""
    conf = join("ent", [{"groupBy": gb_entities(), "prefix": "s"}], 3, 1, row_ids=["uid", "user"])
    wh.run(wh.repo, conf_path(wh, conf), "--start-ds", day(2), "--end-ds", day(6))
    label(wh, conf, day(5))   # left days 3..5
    got = wh.rows("out.t_ent_labels")
    assert list(got[0]) == ["user", "uid", "s_t_status_status", "s_t_status_tier", "label_ds", "ds"]
    r = {x["uid"]: x for x in got}
    assert sorted(r) == ["a", "b", "c", "d", "e", "f"]
    assert (r["a"]["s_t_status_status"], r["a"]["s_t_status_tier"]) == ("gold", 3)
    assert (r["e"]["s_t_status_status"], r["d"]["s_t_status_status"]) == (None, "none")
    label(wh, conf, day(6))   # left days 4..6, snapshot of day 6
    label(wh, conf, day(5))   # a re-run replaces its own version only
    got = wh.rows("out.t_ent_labels")
    want = co.label_join(conf, wh.tables, day(5)) + co.label_join(conf, wh.tables, day(6))
    assert len(got) == 6 + 4
    assert canon(got) == canon(want)
    # the view: feature rows left outer joined on (uid, user, ds), label columns prefixed
    p = run_cmd([CHRONON, "sql", "--format", "json", "--repo", wh.repo,
                 "SELECT * FROM out.t_ent_labeled ORDER BY ds, uid, label_ds"], wh.env())
    assert p.returncode == 0, p.stderr
    rows = [json.loads(x) for x in p.stdout.splitlines() if x.strip()]
    assert list(rows[0]) == ["uid", "user", "ds", "ts", "t_feat_v_count", "label_s_t_status_status",
                             "label_s_t_status_tier", "label_ds"]
    e_rows = [(x["label_ds"], x["label_s_t_status_status"]) for x in rows if x["uid"] == "e"]
    assert e_rows == [(day(5), None), (day(6), "gold")]
    z = [x for x in rows if x["uid"] == "z"]   # day 2: no label version
    assert len(z) == 1 and z[0]["label_ds"] is None
    # _labeled_latest: per ds only its latest label_ds; a ds without labels keeps its rows
    p = run_cmd([CHRONON, "sql", "--format", "json", "--repo", wh.repo,
                 "SELECT * FROM out.t_ent_labeled_latest ORDER BY ds, uid"], wh.env())
    assert p.returncode == 0, p.stderr
    latest = [json.loads(x) for x in p.stdout.splitlines() if x.strip()]
    assert list(latest[0]) == list(rows[0])
    newest = {}
    for x in got:
        newest[x["ds"]] = max(newest.get(x["ds"], ""), x["label_ds"])
    want_latest = [x for x in rows if x["label_ds"] == newest.get(x["ds"]) or x["ds"] not in newest]
    assert sorted(json.dumps(x) for x in latest) == sorted(json.dumps(x) for x in want_latest)
    assert [(x["uid"], x["label_ds"]) for x in latest if x["uid"] in "dez"] == [
        ("z", None), ("d", day(6)), ("e", day(6))]


def test_run_py_and_help(wh):
    conf = join("runpy", [{"groupBy": gb_events()}], 3, 3)
    path = conf_path(wh, conf)
    env = dict(wh.env(), CHRONON_BIN=CHRONON)
    p = subprocess.run([sys.executable, os.path.join(SRC, "api", "py", "ai", "chronon", "repo", "run.py"),
                        "--mode", "label-join", "--conf", path, "--repo", wh.repo, "--ds", day(5)],
                       env=env, capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    assert canon(wh.rows("out.t_runpy_labels")) == canon(co.label_join(conf, wh.tables, day(5)))
    h = run_cmd([CHRONON, "run", "--help"], wh.env())
    line = [x for x in h.stdout.splitlines() if x.strip().startswith("label-join")]
    assert line and "not in this build" not in line[0], h.stdout


@pytest.mark.parametrize("case,conf,needles", [
    ("two_aggs", join("bad_two_aggs", [{"groupBy": gb_events(aggs=[
        {"inputColumn": "v", "operation": SUM, "argMap": {}, "windows": [{"length": 3, "timeUnit": 1}]},
        {"inputColumn": "v", "operation": LAST, "argMap": {}, "windows": [{"length": 3, "timeUnit": 1}]}])}], 3, 3),
     ["labelPart.labels", "t.lbl", "single aggregation with one window"]),
    ("hours", join("bad_hours", [{"groupBy": gb_events(window=72, unit=0)}], 3, 3),
     ["labelPart.labels", "t.lbl", "DAYS"]),
    ("offsets", join("bad_offsets", [{"groupBy": gb_events(window=7)}], 3, 3),
     ["labelPart", "leftStartOffset 3", "window length 7"]),
    ("two_windows", join("bad_two_windows", [{"groupBy": gb_events(aggs=[
        {"inputColumn": "v", "operation": SUM, "argMap": {},
         "windows": [{"length": 3, "timeUnit": 1}, {"length": 7, "timeUnit": 1}]}])}], 3, 3),
     ["labelPart.labels", "single aggregation with one window"]),
    ("start_before_end", join("bad_order", [{"groupBy": gb_entities()}], 1, 3),
     ["labelPart", "leftStartOffset 1", ">= leftEndOffset 3"]),
    ("entity_events", join("bad_kind", [{"groupBy": dict(gb_events(), aggregations=None)}], 3, 3),
     ["labelPart.labels[0].groupBy.sources[0]", "without aggregations", "entity"]),
    ("key_not_row_id", join("bad_rid", [{"groupBy": gb_entities()}], 3, 1, row_ids=["uid"]),
     ["labelPart", "key user", "row identifier"]),
])
def test_bad_label_parts(wh, case, conf, needles):
    if conf["labelPart"]["labels"][0]["groupBy"].get("aggregations", 0) is None:
        del conf["labelPart"]["labels"][0]["groupBy"]["aggregations"]
    p = label(wh, conf, day(5), check=False)
    assert p.returncode == 1, (case, p.stderr)
    for n in needles:
        assert n.lower() in p.stderr.lower(), (case, n, p.stderr)
    assert p.stderr.count("\n") <= 2, p.stderr
    assert not os.path.exists(os.path.join(wh.wh, "out.db", conf["metaData"]["name"][2:] + "_labels")), case
    with pytest.raises(co.OracleError):
        co.label_join(conf, wh.tables, day(5))


def test_no_label_part(wh):
    conf = join("bad_none", [], 3, 3)
    del conf["labelPart"]
    p = label(wh, conf, day(5), check=False)
    assert p.returncode == 1 and "has no labelPart" in p.stderr, p.stderr


# --------------------------------------------------------------------------- random joins

def random_label_conf(rnd, name):
    """A join on test_join_vs_oracle's data with random label parts, offsets and rowIds."""
    parts, mapped = [], rnd.random() < 0.5
    if rnd.random() < 0.5:
        w = rnd.randint(1, 3)
        gb = {"metaData": {"name": "t.%s_l" % name, "outputNamespace": "out", "team": "t"}, "keyColumns": ["k1"],
              "sources": [{"events": {"table": "raw.ev", "query": {"selects": {"k1": "k1", "v": "v"},
                                                                    "timeColumn": "ts"}}}],
              "aggregations": [{"inputColumn": "v", "operation": rnd.choice([SUM, COUNT, LAST, 1]), "argMap": {},
                                "windows": [{"length": w, "timeUnit": 1}]}]}
        parts.append({"groupBy": gb})
        so = eo = w
    else:
        for i in range(rnd.randint(1, 2)):
            gb = {"metaData": {"name": "t.%s_d%d" % (name, i), "outputNamespace": "out", "team": "t"},
                  "keyColumns": ["k1"], "sources": [{"entities": {"snapshotTable": "raw.dim", "query": {
                      "selects": {"k1": "k1", "attr": "attr", "score": "score"}}}}]}
            parts.append({"groupBy": gb, "prefix": "p%d" % i})
        so = rnd.randint(1, 3)
        eo = rnd.randint(1, so)
    if mapped:
        parts[-1]["keyMapping"] = {"uid": "k1"}
    conf = {"metaData": {"name": "t." + name, "outputNamespace": "out", "team": "t"},
            "left": {"events": {"table": "raw.left", "query": {
                "selects": {"uid": "uid", "k1": "k1", "k2": "k2", "note": "note", "ts": "ts"}, "timeColumn": "ts"}}},
            "joinParts": [{"groupBy": gb_events("t.%s_f" % name)}],
            "labelPart": {"labels": parts, "leftStartOffset": so, "leftEndOffset": eo}}
    if rnd.random() < 0.4:
        conf["rowIds"] = rnd.choice([["uid", "k1"], ["k2", "k1", "uid"], ["uid", "k1", "note"]])
    for jp in conf["joinParts"]:   # the feature part reads raw.ev's k1 as its key
        jp["groupBy"]["sources"][0]["events"]["query"]["selects"] = {"user": "k1", "v": "v"}
        jp["keyMapping"] = {"k1": "user"}
    return conf


def random_case(tmp, seed):
    import random
    from test_join_vs_oracle import BASE, gen_data, load_data
    rnd = random.Random(seed)
    n_days = rnd.randint(4, 6)
    ev_rows, dim, left = gen_data(rnd, n_days)
    root = os.path.join(str(tmp), "r%d" % seed)
    os.makedirs(os.path.join(root, "production", "joins", "t"))
    w = Warehouse(root)
    tables, missing = load_data(root, w, ev_rows, dim, left)
    w.repo, w.tables = root, tables
    conf = random_label_conf(rnd, "x%d" % seed)
    absent = [t for t in missing if '"%s"' % t in json.dumps(conf)]
    if absent:
        # a table drawn without rows is not loaded: a run that reads it must fail naming it
        # (a label window without left days reads no part and writes nothing)
        p = label(w, conf, co.ds_add(BASE, 1), check=False)
        if p.returncode == 0:
            assert "wrote 0 rows" in p.stderr and not os.path.exists(os.path.join(w.wh, "out.db")), p.stderr
        else:
            assert "%s not found" % absent[0] in p.stderr, (absent, p.stderr)
        return 1
    want = []
    for ds in sorted({co.ds_add(BASE, rnd.randint(1, n_days + 1)) for _ in range(2)}):
        label(w, conf, ds)
        # a later label day replaces only its own version of the left days both cover
        want = [r for r in want if r["label_ds"] != ds] + co.label_join(conf, tables, ds)
    if not want:  # no left day in any label window: the runs must leave no labelled rows
        out = os.path.join(w.wh, "out.db", "t_x%d_labels" % seed)
        assert not os.path.exists(out) or not w.rows("out.t_x%d_labels" % seed), "labelled rows, none expected"
        return 1
    got = w.rows("out.t_x%d_labels" % seed)
    assert list(got[0]) == list(want[0]), (list(got[0]), list(want[0]))
    assert canon(got) == canon(want)
    return 1


def test_random_label_joins_match_oracle(tmp_path):
    from engine_util import case_seeds, each_seed
    seeds = case_seeds(3 if sanitizer_build() else 5)
    compared = sum(each_seed(seeds, lambda s: random_case(tmp_path, s)))
    assert compared >= len(seeds) * 0.6, "too few label joins compared (%d)" % compared


# --------------------------------------------------------------------------- --step-days

def snapshots(w, table):
    from test_load_sorted import metadata
    return metadata(w, table)[1].get("snapshots", [])


def partitions_at(w, table, snap_id):
    p = run_cmd([CHRONON, "table", "partitions", table, "--json", "--snapshot", str(snap_id)], w.env())
    assert p.returncode == 0, p.stderr
    return sorted(x["ds"] if isinstance(x, dict) else x for x in json.loads(p.stdout)["partitions"])


def test_step_days(wh):
    """LabelJoin.compute cuts the left days into steps of --step-days, each computed and
    committed on its own: four left days in steps of 3 are two commits (days 3..5, then
    day 6), with the same rows as one step and as the oracle."""
    whole = join("steps_one", [{"groupBy": gb_entities(), "prefix": "s"}], 4, 1, row_ids=["uid", "user"])
    steps = join("steps_three", [{"groupBy": gb_entities(), "prefix": "s"}], 4, 1, row_ids=["uid", "user"])
    p = label(wh, whole, day(6))
    assert "in 1 of 1 step" in p.stderr, p.stderr
    p = run_cmd([CHRONON, "run", "--mode", "label-join", "--repo", wh.repo, "--conf", conf_path(wh, steps),
                 "--ds", day(6), "--step-days", "3"], wh.env())
    assert p.returncode == 0, p.stderr
    assert "left days %s..%s" % (day(3), day(6)) in p.stderr and "in 2 of 2 steps" in p.stderr, p.stderr
    one, three = wh.rows("out.t_steps_one_labels"), wh.rows("out.t_steps_three_labels")
    assert len(one) == 7 and canon(three) == canon(one)
    assert canon(three) == canon(co.label_join(steps, wh.tables, day(6)))
    assert len(snapshots(wh, "out.t_steps_one_labels")) == 1
    snaps = snapshots(wh, "out.t_steps_three_labels")
    assert len(snaps) == 2
    assert partitions_at(wh, "out.t_steps_three_labels", snaps[0]["snapshot-id"]) == [day(3), day(4), day(5)]
    assert partitions_at(wh, "out.t_steps_three_labels", snaps[1]["snapshot-id"]) == [day(3), day(4), day(5),
                                                                                       day(6)]
    # a step without left rows commits nothing: days 7..8 of label day 8 have no left rows
    p = run_cmd([CHRONON, "run", "--mode", "label-join", "--repo", wh.repo, "--conf", conf_path(wh, steps),
                 "--ds", day(8), "--step-days", "2"], wh.env())
    assert p.returncode == 0 and "in 1 of 2 steps" in p.stderr, p.stderr
    assert len(snapshots(wh, "out.t_steps_three_labels")) == 3


@pytest.mark.parametrize("value", ["0", "-2", "x", "1.5"])
def test_step_days_bad_value(wh, value):
    conf = join("steps_bad", [{"groupBy": gb_entities()}], 3, 1, row_ids=["uid", "user"])
    p = run_cmd([CHRONON, "run", "--mode", "label-join", "--repo", wh.repo, "--conf", conf_path(wh, conf),
                 "--ds", day(5), "--step-days", value], wh.env())
    assert p.returncode == 2, p.stderr  # a usage error, as an unknown option
    assert "--step-days: invalid value '%s'" % value in p.stderr and "positive number" in p.stderr, p.stderr
    assert not os.path.exists(os.path.join(wh.wh, "out.db", "t_steps_bad_labels"))
