"""Join split mode (compute.md section 6 "Split mode", docs/joins.md "Modes"):
backfill-left writes <join>_bootstrap, backfill --selected-join-parts fills the part
tables <join>_<fullPrefix>, backfill-final joins them into the output. On random joins
(the generators of test_join_vs_oracle) the split output must equal `--mode backfill`'s
row for row; also partial re-runs, bootstrap parts, and the errors. Prints the seed;
CN_TEST_SEED=<seed> replays one case, CN_TEST_CASES=<n> runs more joins (default 8)."""

import json
import os
import random
import subprocess

from engine_util import CHRONON, Warehouse, case_seeds, co, each_seed, run_cmd
from test_join_vs_oracle import BASE, gen_data, gen_join, load_data


def run(wh, root, conf, mode, *args):
    cmd = [CHRONON, "run", "--mode", mode, "--repo", root, "--conf", conf] + list(args)
    return run_cmd(cmd, wh.env())


def prefixes(conf):
    out = []
    for jp in conf["joinParts"]:
        name = jp["groupBy"]["metaData"]["name"].replace(".", "_")
        out.append((jp["prefix"] + "_" if jp.get("prefix") else "") + name)
    return out


def canon(rows):
    """Rows as comparable text, in a fixed order; the column order is kept in each row."""
    return sorted(json.dumps(list(r.items())) for r in rows)


def make_repo(tmp, seed, n_days):
    rnd = random.Random(seed)
    ev, dim, left = gen_data(rnd, n_days)
    root = os.path.join(str(tmp), "s%d" % seed)
    os.makedirs(os.path.join(root, "production", "joins", "t"))
    wh = Warehouse(root)
    load_data(root, wh, ev, dim, left)
    return rnd, root, wh


def write_conf(root, conf):
    name = conf["metaData"]["name"].split(".", 1)[1]
    with open(os.path.join(root, "production", "joins", "t", name), "w") as f:
        json.dump(conf, f)
    return "production/joins/t/" + name


def split_case(tmp, seed, per_dataset):
    n_days = random.Random(seed).randint(3, 6)
    rnd, root, wh = make_repo(tmp, seed, n_days)
    end = co.ds_add(BASE, n_days - 1)
    compared = 0
    for i in range(per_dataset):
        name = "j_%d_%d" % (seed, i)
        conf = gen_join(rnd, name)
        whole = write_conf(root, conf)
        split = dict(conf, metaData=dict(conf["metaData"], name="t.%s_split" % name))
        sconf = write_conf(root, split)
        start = rnd.choice([None, co.ds_add(BASE, 2)])
        rng = ["--end-ds", end] + (["--start-ds", start] if start else [])
        step = lambda: ["--step-days", str(rnd.randint(1, 3))]  # noqa: E731
        pw = run(wh, root, whole, "backfill", *(rng + step()))
        steps = [("backfill-left", rng + step())]
        parts = prefixes(split)
        rnd.shuffle(parts)
        cut = rnd.randint(1, len(parts))
        for group in (parts[:cut], parts[cut:]):
            if group:
                cached = ["--use-cached-left"] if rnd.random() < 0.5 else []
                steps.append(("backfill", rng + step() + ["--selected-join-parts", ",".join(group)] + cached))
        steps.append(("backfill-final", rng + step()))
        ps = None
        for mode, args in steps:
            ps = run(wh, root, sconf, mode, *args)
            if ps.returncode:
                break
        where = "CN_TEST_SEED=%d join %d (%s)" % (seed, i, " | ".join("%s %s" % (m, " ".join(a)) for m, a in steps))
        if pw.returncode:
            # the whole join fails (e.g. D10 duplicates): some split step must fail too
            assert ps.returncode, "%s: backfill failed (%s) but split mode succeeded" % (where, pw.stderr)
            continue
        assert ps.returncode == 0, "%s: %s" % (where, ps.stderr)
        got, want = wh.rows("out.t_%s_split" % name), wh.rows("out.t_" + name)
        assert len(got) == len(want), "%s: %d rows, backfill %d" % (where, len(got), len(want))
        if not want:
            continue  # the left query kept no row (random wheres): both empty, not counted as compared
        assert list(got[0]) == list(want[0]), "%s: columns %s != %s" % (where, list(got[0]), list(want[0]))
        assert canon(got) == canon(want), where
        # the part tables hold keys, ts (events left), the unprefixed values and ds
        first = prefixes(split)[0]
        prow = wh.rows("out.t_%s_split_%s" % (name, first))
        gb = split["joinParts"][0]["groupBy"]
        if prow:
            cols = list(prow[0])
            nk = len(gb["keyColumns"])
            assert cols[:nk] == gb["keyColumns"] and cols[-1] == "ds", cols
            assert ("ts" in cols) == ("events" in split["left"]), cols
            assert not any(c.startswith(first) for c in cols), cols
        compared += 1
    return compared


def test_split_mode_equals_backfill_on_random_joins(tmp_path):
    per = 4
    seeds = case_seeds(8, per)
    compared = sum(each_seed(seeds, lambda s: split_case(tmp_path, s, per)))
    assert compared >= len(seeds) * per * 0.6, "too few joins compared (%d)" % compared


def simple_conf(name, bootstrap=False):
    gb = {"metaData": {"name": "t.gb", "outputNamespace": "out", "team": "t"}, "keyColumns": ["k1"],
          "accuracy": 0, "sources": [{"events": {"table": "raw.ev", "query": {
              "selects": {"k1": "k1", "v": "v"}, "timeColumn": "ts"}}}],
          "aggregations": [{"inputColumn": "v", "operation": 7, "windows": [{"length": 2, "timeUnit": 1}]}]}
    snap = dict(json.loads(json.dumps(gb)), metaData=dict(gb["metaData"], name="t.gbs"), accuracy=1)
    c = {"metaData": {"name": "t." + name, "outputNamespace": "out", "team": "t"},
         "left": {"events": {"table": "raw.left", "query": {
             "selects": {"uid": "uid", "k1": "k1", "note": "note", "ts": "ts"}, "timeColumn": "ts"}}},
         "joinParts": [{"groupBy": gb, "prefix": "a"}, {"groupBy": snap, "prefix": "b"}]}
    if bootstrap:
        c["rowIds"] = ["uid"]
        c["bootstrapParts"] = [{"table": "raw.boot", "query": {"selects": {
            "uid": "uid", "a_t_gb_v_sum_2d": "v"}}}]
    return c


def test_partial_reruns_bootstrap_and_errors(tmp_path):
    rnd, root, wh = make_repo(tmp_path, 11, 5)
    # a bootstrap table keyed on the left's uid: covers part a for the rows it matches
    boot = os.path.join(root, "boot.csv")
    with open(boot, "w") as f:
        f.write("ds,uid,v\n%s,u1,1000\n%s,u2,2000\n" % (co.ds_add(BASE, 2), co.ds_add(BASE, 3)))
    wh.load(boot, "raw.boot", "uid:string,v:int64")
    whole = write_conf(root, simple_conf("w", bootstrap=True))
    sconf = write_conf(root, simple_conf("s", bootstrap=True))
    end, mid = co.ds_add(BASE, 4), co.ds_add(BASE, 2)
    assert run(wh, root, whole, "backfill", "--end-ds", end).returncode == 0

    # unknown part: names it and lists the parts
    p = run(wh, root, sconf, "backfill", "--end-ds", end, "--selected-join-parts", "a_t_gb,zz")
    assert p.returncode == 1 and "no part 'zz'" in p.stderr and "a_t_gb, b_t_gbs" in p.stderr, p.stderr
    assert not os.path.exists(os.path.join(wh.wh, "out.db", "t_s_a_t_gb")), "a refused run wrote a part table"

    # --use-cached-left belongs to --selected-join-parts: alone it is refused, not ignored
    p = run(wh, root, sconf, "backfill", "--end-ds", end, "--use-cached-left")
    assert p.returncode == 1 and "--use-cached-left: only with" in p.stderr, p.stderr

    # final before the parts: names _bootstrap, then the part table and its missing days
    p = run(wh, root, sconf, "backfill-final", "--end-ds", end)
    assert p.returncode == 1 and "out.t_s_bootstrap does not exist" in p.stderr and "backfill-left" in p.stderr, p.stderr
    p = run(wh, root, sconf, "backfill", "--end-ds", end, "--selected-join-parts", "a_t_gb", "--use-cached-left")
    assert p.returncode == 1 and "out.t_s_bootstrap does not exist" in p.stderr and "backfill-left" in p.stderr, p.stderr
    assert run(wh, root, sconf, "backfill-left", "--end-ds", end).returncode == 0
    brows = wh.rows("out.t_s_bootstrap")
    assert list(brows[0]) == ["uid", "k1", "note", "ts", "a_t_gb_v_sum_2d", "ds"], list(brows[0])
    assert sorted((r["uid"], r["ds"]) for r in brows if r["a_t_gb_v_sum_2d"] is not None) == \
        sorted({(r["uid"], r["ds"]) for r in brows if (r["uid"], r["ds"]) in {("u1", mid), ("u2", co.ds_add(BASE, 3))}})
    p = run(wh, root, sconf, "backfill", "--end-ds", mid, "--selected-join-parts", "a_t_gb,b_t_gbs")
    assert p.returncode == 0, p.stderr
    p = run(wh, root, sconf, "backfill-final", "--end-ds", end)
    assert p.returncode == 1 and "out.t_s_a_t_gb lacks 2 days" in p.stderr, p.stderr
    assert co.ds_add(BASE, 3) in p.stderr and end in p.stderr and "--selected-join-parts a_t_gb" in p.stderr, p.stderr
    # nothing half-written
    assert subprocess.run([os.path.join(os.path.dirname(CHRONON), "eng_dump"), wh.wh, wh.cat, "out.t_s"],
                          capture_output=True, text=True).returncode != 0

    # a partial re-run computes only the missing days of each part table
    p = run(wh, root, sconf, "backfill", "--end-ds", end, "--selected-join-parts", "b_t_gbs,a_t_gb", "--verbose",
            "--use-cached-left")
    assert p.returncode == 0, p.stderr
    assert "join chunk %s..%s" % (co.ds_add(BASE, 3), end) in p.stderr, p.stderr
    assert "join chunk %s" % co.ds_add(BASE, 1) not in p.stderr, p.stderr
    p = run(wh, root, sconf, "backfill", "--end-ds", end, "--selected-join-parts", "a_t_gb", "--verbose")
    assert "join chunk" not in p.stderr and "nothing to compute" in p.stderr, p.stderr
    p = run(wh, root, sconf, "backfill", "--end-ds", end, "--selected-join-parts", "a_t_gb", "--verbose", "--force")
    assert "join chunk %s..%s" % (co.ds_add(BASE, 1), end) in p.stderr, p.stderr
    assert run(wh, root, sconf, "backfill-final", "--end-ds", end).returncode == 0
    before = canon(wh.rows("out.t_s"))
    assert before == canon(wh.rows("out.t_w"))

    # a changed part (a filter on its source) must be recomputed before the final step uses it
    c = simple_conf("s", bootstrap=True)
    c["joinParts"][1]["groupBy"]["sources"][0]["events"]["query"]["wheres"] = ["v > 10"]
    write_conf(root, c)
    p = run(wh, root, sconf, "backfill-final", "--end-ds", end, "--force")
    assert p.returncode == 1 and "out.t_s_b_t_gbs was written by another version" in p.stderr, p.stderr
    p = run(wh, root, sconf, "backfill", "--end-ds", end, "--selected-join-parts", "b_t_gbs")
    assert p.returncode == 0, p.stderr
    assert run(wh, root, sconf, "backfill-final", "--end-ds", end).returncode == 0
    cw = simple_conf("w", bootstrap=True)
    cw["joinParts"][1]["groupBy"]["sources"][0]["events"]["query"]["wheres"] = ["v > 10"]
    write_conf(root, cw)
    assert run(wh, root, whole, "backfill", "--end-ds", end).returncode == 0
    got = wh.rows("out.t_s")
    assert canon(got) == canon(wh.rows("out.t_w")) and canon(got) != before
    assert any(r["a_t_gb_v_sum_2d"] == 1000 for r in got)
