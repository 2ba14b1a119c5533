"""Query.mutationTimeColumn and Query.reversalColumn are expressions (Chronon's Query
docs: "an expression that represents mutation time"), also when the Query has no selects:
the mutation table is then read as every column plus the two expressions (docs/joins.md
"Entity parts with mutations"). Example 5.2 through a join with the mutation time in
seconds and the reversal flag as a string column, without and with selects, gives the
example's values; bad expressions are one error naming the table and the Query field."""

import os

from test_join_mutations import (OPS, example_5_2_rows, expect_bad_joins, gb_conf, join_conf, ms, repo, run_join,
                                 write_bool_csv)

X_COLS = ["ts", "w", "stock", "color", "mts_s", "op"]
X_SCHEMA = {"ts": "long", "w": "string", "stock": "long", "color": "string", "mts_s": "long", "op": "string"}
X_LOAD = "ts:int64,w:string,stock:int64,color:string,mts_s:int64,op:string"
QS = ["2025-02-03 05:00:00", "2025-02-03 06:00:00", "2025-02-03 12:00:00", "2025-02-03 18:30:00.001"]
WANT = {QS[0]: (14, 2, 10), QS[1]: (14, 2, 10), QS[2]: (9, 1, 10), QS[3]: (10, 2, 10)}
EXPRS = {"mutationTimeColumn": "mts_s * 1000", "reversalColumn": "op = 'D'"}


def make_case(tmp_path):
    snap, muts = example_5_2_rows()
    left = [{"ds": "2025-02-03", "ts": ms(q), "w": "w1", "tag": q} for q in QS]
    root = str(tmp_path)
    wh, _ = repo(root, snap, muts, left)
    # the same mutations with the time in seconds and the reversal as 'D' / 'U'
    xrows = [dict({k: v for k, v in m.items() if k not in ("mutation_ts", "is_before")},
                  mts_s=m["mutation_ts"] // 1000, op="D" if m["is_before"] else "U") for m in muts]
    assert all(m["mutation_ts"] % 1000 == 0 for m in muts)
    path = os.path.join(root, "raw.muts_x.csv")
    write_bool_csv(path, xrows, X_COLS, X_SCHEMA)
    wh.load(path, "raw.muts_x", X_LOAD)
    return wh, root


def features(wh, table):
    return {r["tag"]: (r["f_t_stock_stock_sum"], r["f_t_stock_stock_count"], r["f_t_stock_stock_max"])
            for r in wh.rows(table)}


def test_expressions_without_and_with_selects(tmp_path):
    wh, root = make_case(tmp_path)
    aggs = [{"inputColumn": "stock", "operation": OPS[o], "argMap": {}} for o in ("SUM", "COUNT", "MAX")]
    for name, selects in (("nosel", False), ("sel", True)):
        gb = gb_conf(aggs, mutation_table="raw.muts_x", selects=selects, query_extra=EXPRS)
        p, table = run_join(wh, root, join_conf(name, gb), "2025-02-03", "2025-02-03")
        assert p.returncode == 0, (name, p.stderr)
        assert features(wh, table) == WANT, name
    # bare names without selects still read the columns as they are
    gb = gb_conf(aggs, selects=False, query_extra={"mutationTimeColumn": "mutation_ts", "reversalColumn": "is_before"})
    p, table = run_join(wh, root, join_conf("plain", gb), "2025-02-03", "2025-02-03")
    assert p.returncode == 0, p.stderr
    assert features(wh, table) == WANT


def test_bad_expressions_without_selects(tmp_path):
    wh, root = make_case(tmp_path)
    aggs = [{"inputColumn": "stock", "operation": 7, "argMap": {}}]

    def gb(**extra):
        return gb_conf(aggs, mutation_table="raw.muts_x", selects=False, query_extra=dict(EXPRS, **extra))

    expect_bad_joins(wh, root, [
        (gb(reversalColumn="gone = 'D'"), ["raw.muts_x", "query.reversalColumn", "gone"]),
        (gb(mutationTimeColumn="mts_s * 1000 +"), ["raw.muts_x", "query.mutationTimeColumn"]),
        (gb(mutationTimeColumn="CAST(mts_s AS STRING)"), ["raw.muts_x", "query.mutationTimeColumn", "expected long"]),
        (gb(reversalColumn="length(op)"), ["raw.muts_x", "query.reversalColumn", "expected boolean"]),
    ], "badx")
