"""Join bootstrapParts (compute.md section 6 "Bootstrap", Chronon's BootstrapInfo and
Join.computeBootstrapTable): precomputed values from tables join onto the left rows on
rowIds / keyColumns plus ds, de-duplicated (first row wins), an earlier part wins over a
later one; a row whose matched parts cover a join part (each feature, or through the
derivations that use it) takes the bootstrap values only, every other row gets
coalesce(bootstrap, computed). Each case checks hand-computed values and the oracle;
bad bootstrap input gets one error naming the table and column."""

import json
import os

import pytest

from engine_util import Warehouse, close, co, norm

DAY = 86400000
D0 = "2024-01-01"
E0 = co.ds_to_epoch(D0)
H = 3600000


def day(i):
    return co.ds_add(D0, i)


def write(path, cols, rows, schema):
    with open(path, "w") as f:
        f.write(",".join(cols) + "\n")
        for r in rows:
            f.write(",".join("" if v is None else str(v) for v in r) + "\n")
    with open(path + ".schema.json", "w") as f:
        json.dump(schema, f)


EV = [(day(0), E0 + 10 * H, "u1", 5), (day(0), E0 + 12 * H, "u1", 7), (day(1), E0 + DAY + 9 * H, "u1", 1),
      (day(0), E0 + 11 * H, "u2", 3)]
LEFT = [(day(1), E0 + DAY + 8 * H, "a", "u1"), (day(1), E0 + DAY + 10 * H, "b", "u1"),
        (day(1), E0 + DAY + 12 * H, "c", "u2"), (day(2), E0 + 2 * DAY + 8 * H, "d", "u1"),
        (day(2), E0 + 2 * DAY + 9 * H, "e", "u2")]
F_SUM, F_CNT = "p_t_gb_v_sum", "p_t_gb_v_count"
# rowIds bootstrap: a fully covered row with a null count, a duplicate (first wins), a
# row id on the wrong day (no match)
BOOT1 = [(day(1), "a", 100, None), (day(1), "b", 200, 20), (day(1), "b", 999, 99), (day(1), "d", 1, 1)]
# keyColumns [user]: only the sum (partial cover)
BOOT2 = [(day(1), "u2", 50), (day(1), "u1", None), (day(2), "u1", 77)]
# a derivation output only
BOOT3 = [(day(1), "c", 9.5), (day(2), "e", None)]

# external part values
BOOT4 = [(day(1), "a", 0.5, 3), (day(2), "e", None, 9)]


def struct(fields):
    return {"kind": 13, "params": [{"name": n, "dataType": {"kind": k}} for n, k in fields]}


def externals(user_kind=7):
    ctx = struct([("user", user_kind), ("score", 6)])
    return [{"source": {"metadata": {"name": "contextual"}, "keySchema": ctx, "valueSchema": ctx}},
            {"source": {"metadata": {"name": "t.svc"}, "keySchema": struct([("user", 7)]),
                        "valueSchema": struct([("rating", 4)])}}]


def gb():
    return {"metaData": {"name": "t.gb", "outputNamespace": "out", "team": "t"}, "keyColumns": ["user"],
            "accuracy": 0,
            "sources": [{"events": {"table": "raw.ev", "query": {
                "selects": {"user": "user", "v": "v"}, "timeColumn": "ts"}}}],
            "aggregations": [{"inputColumn": "v", "operation": 7}, {"inputColumn": "v", "operation": 6}]}


def join(name, boots, derivations=None, row_ids=("uid",)):
    c = {"metaData": {"name": "t." + name, "outputNamespace": "out", "team": "t"},
         "left": {"events": {"table": "raw.left", "query": {
             "selects": {"uid": "uid", "user": "user", "ts": "ts"}, "timeColumn": "ts"}}},
         "joinParts": [{"groupBy": gb(), "prefix": "p"}],
         "bootstrapParts": boots}
    if row_ids:
        c["rowIds"] = list(row_ids)
    if derivations:
        c["derivations"] = derivations
    return c


B1 = {"table": "raw.boot1"}
B2 = {"table": "raw.boot2", "keyColumns": ["user"]}
B3 = {"table": "raw.boot3"}
B4 = {"table": "raw.boot4"}


@pytest.fixture(scope="module")
def wh(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("boot"))
    w = Warehouse(root)
    tables = {}
    for name, cols, rows, schema, load in [
            ("raw.ev", ["ds", "ts", "user", "v"], EV, {"ts": "long", "user": "string", "v": "long"},
             "ts:int64,user:string,v:int64"),
            ("raw.left", ["ds", "ts", "uid", "user"], LEFT, {"ts": "long", "uid": "string", "user": "string"},
             "ts:int64,uid:string,user:string"),
            ("raw.boot1", ["ds", "uid", F_SUM, F_CNT], BOOT1, {"uid": "string", F_SUM: "long", F_CNT: "long"},
             "uid:string,%s:int64,%s:int64" % (F_SUM, F_CNT)),
            ("raw.boot2", ["ds", "user", F_SUM], BOOT2, {"user": "string", F_SUM: "long"},
             "user:string,%s:int64" % F_SUM),
            ("raw.boot3", ["ds", "uid", "avg_v"], BOOT3, {"uid": "string", "avg_v": "double"},
             "uid:string,avg_v:float64"),
            ("raw.boot4", ["ds", "uid", "ext_contextual_score", "ext_t_svc_rating"], BOOT4,
             {"uid": "string", "ext_contextual_score": "double", "ext_t_svc_rating": "long"},
             "uid:string,ext_contextual_score:float64,ext_t_svc_rating:int64"),
            ("raw.bootbad", ["ds", "uid", "zzz"], [(day(1), "a", 1)], {"uid": "string", "zzz": "long"},
             "uid:string,zzz:int64"),
            ("raw.boottype", ["ds", "uid", F_SUM], [(day(1), "a", "x")], {"uid": "string", F_SUM: "string"},
             "uid:string,%s:string" % F_SUM)]:
        path = os.path.join(root, name + ".csv")
        write(path, cols, rows, schema)
        w.load(path, name, load)
        tables[name] = co.load_table(name, path)
    os.makedirs(os.path.join(root, "production", "joins", "t"))
    w.repo = root
    w.tables = tables
    return w


def run(w, name, conf, *extra, check=True):
    with open(os.path.join(w.repo, "production", "joins", "t", name), "w") as f:
        json.dump(conf, f)
    return w.run(w.repo, "production/joins/t/" + name, "--start-ds", day(1), "--end-ds", day(2), *extra,
                 check=check)


def by_uid(rows):
    return {r["uid"]: r for r in rows}


def check_oracle(w, conf, got):
    want = co.join_backfill(conf, w.tables, day(2), day(1))
    assert len(got) == len(want)
    g, o = by_uid(norm(got)), by_uid([norm(co.to_json_value(r)) for r in want])
    for uid in o:
        assert list(g[uid]) == list(o[uid]), (uid, list(g[uid]), list(o[uid]))
        for c in o[uid]:
            assert close(g[uid][c], o[uid][c]), (uid, c, g[uid][c], o[uid][c])


def test_row_id_and_key_bootstraps(wh):
    conf = join("b1", [B1, B2])
    run(wh, "b1", conf)
    got = wh.rows("out.t_b1")
    r = by_uid(got)
    # a: covered by boot1 -> its values only (null count is not computed)
    assert (r["a"][F_SUM], r["a"][F_CNT]) == (100, None)
    # b: duplicate bootstrap rows, the first wins
    assert (r["b"][F_SUM], r["b"][F_CNT]) == (200, 20)
    # c: boot2 gives only the sum: count is computed (u2 had one event)
    assert (r["c"][F_SUM], r["c"][F_CNT]) == (50, 1)
    # d: boot1's row for d is on another day; boot2 (u1, day 2) gives the sum
    assert (r["d"][F_SUM], r["d"][F_CNT]) == (77, 3)
    # e: nothing matched: computed
    assert (r["e"][F_SUM], r["e"][F_CNT]) == (3, 1)
    assert list(got[0]) == ["uid", "user", "ts", F_SUM, F_CNT, "ds"]
    check_oracle(wh, conf, got)


def test_bootstrapped_derivation(wh):
    ders = [{"name": "*", "expression": "*"}, {"name": "avg_v", "expression": "%s / %s" % (F_SUM, F_CNT)}]
    conf = join("b3", [B1, B3], derivations=ders)
    run(wh, "b3", conf)
    got = wh.rows("out.t_b3")
    r = by_uid(got)
    # a: boot1 covers the part (sum, count): avg of 100 / null
    assert (r["a"][F_SUM], r["a"][F_CNT], r["a"]["avg_v"]) == (100, None, None)
    assert (r["b"][F_SUM], r["b"][F_CNT], r["b"]["avg_v"]) == (200, 20, 10.0)
    # c: the bootstrapped derivation wins; the features are still computed (`*` needs them)
    assert (r["c"][F_SUM], r["c"][F_CNT], r["c"]["avg_v"]) == (3, 1, 9.5)
    # e: a null bootstrapped derivation coalesces into the computed one
    assert (r["e"][F_SUM], r["e"][F_CNT], r["e"]["avg_v"]) == (3, 1, 3.0)
    assert list(got[0]) == ["uid", "user", "ts", F_SUM, F_CNT, "avg_v", "ds"]
    check_oracle(wh, conf, got)


def test_bootstrap_query_range_and_rerun(wh):
    """A part's query bounds its days; changing a part changes the join's semantic hash,
    so the next run recomputes the days already written."""
    b1 = dict(B1, query={"startPartition": day(2)})
    conf = join("b4", [b1, B2])
    run(wh, "b4", conf)
    r = by_uid(wh.rows("out.t_b4"))
    assert (r["a"][F_SUM], r["a"][F_CNT]) == (12, 2)   # boot1 skipped on day 1; boot2's null sum
    check_oracle(wh, conf, wh.rows("out.t_b4"))
    conf = join("b4", [B1, B2])
    run(wh, "b4", conf)
    r = by_uid(wh.rows("out.t_b4"))
    assert (r["a"][F_SUM], r["a"][F_CNT]) == (100, None)


def test_external_parts_offline(wh):
    """onlineExternalParts offline (Chronon's padExternalFields): null unless bootstrapped;
    a contextual value is the left's column of that name, else the bootstrapped one."""
    conf = join("b5", [B4], derivations=None)
    conf["onlineExternalParts"] = externals()
    run(wh, "b5", conf)
    got = wh.rows("out.t_b5")
    assert list(got[0]) == ["uid", "user", "ts", F_SUM, F_CNT, "ext_contextual_user", "ext_contextual_score",
                            "ext_t_svc_rating", "ds"]
    r = by_uid(got)
    assert [r[u]["ext_contextual_user"] for u in "abcde"] == ["u1", "u1", "u2", "u1", "u2"]
    assert [r[u]["ext_contextual_score"] for u in "abcde"] == [0.5, None, None, None, None]
    assert [r[u]["ext_t_svc_rating"] for u in "abcde"] == [3, None, None, None, 9]
    assert (r["a"][F_SUM], r["a"][F_CNT]) == (12, 2)   # ext columns do not cover the part
    check_oracle(wh, conf, got)


def test_external_part_type_mismatch(wh):
    conf = join("b6", [B4])
    conf["onlineExternalParts"] = externals(user_kind=4)
    p = run(wh, "b6", conf, check=False)
    assert p.returncode == 1, p.stderr
    for n in ["onlineExternalParts[0]", "contextual", "field user", "int64", "string"]:
        assert n.lower() in p.stderr.lower(), (n, p.stderr)
    assert not os.path.exists(os.path.join(wh.wh, "out.db", "t_b6", "data"))


@pytest.mark.parametrize("case,boots,row_ids,needles", [
    ("unknown_column", [{"table": "raw.bootbad"}], ("uid",), ["raw.bootbad", "zzz", "does not produce"]),
    ("no_keys", [{"table": "raw.boot1"}], (), ["bad_no_keys", "bootstrapParts[0]", "rowIds"]),
    ("missing_key", [{"table": "raw.boot2", "keyColumns": ["uid"]}], ("uid",),
     ["raw.boot2", "does not contain the key uid"]),
    ("type", [{"table": "raw.boottype"}], ("uid",), ["raw.boottype", F_SUM, "string", "int64"]),
    ("missing_table", [{"table": "raw.nope"}], ("uid",), ["raw.nope", "bootstrapParts[0]"]),
])
def test_bad_bootstrap(wh, case, boots, row_ids, needles):
    name = "bad_" + case
    p = run(wh, name, join(name, boots, row_ids=row_ids), check=False)
    assert p.returncode == 1, p.stderr
    for n in needles:
        assert n.lower() in p.stderr.lower(), (case, n, p.stderr)
    assert p.stderr.count("\n") <= 2, p.stderr
    assert not os.path.exists(os.path.join(wh.wh, "out.db", "t_" + name, "data")), case
