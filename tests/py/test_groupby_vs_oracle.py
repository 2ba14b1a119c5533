"""The quickstart GroupBys backfilled by `chronon run` over the example data equal the
brute-force oracle for every ds (compute.md section 5)."""

import os

import pytest

from engine_util import SRC, Warehouse, co, compare

QS = os.path.join(SRC, "examples", "quickstart")
DATA = os.path.join(QS, "data")
# The oracle reads the CSVs with Chronon's quickstart types: ts, *_price and *_amt are
# long, the rest string. Load them the same way.
SCHEMAS = {
    "purchases": "ts:int64,purchase_id:string,user_id:string,product_id:string,purchase_price:int64,item_category:string",
    "returns": "ts:int64,return_id:string,user_id:string,product_id:string,refund_amt:int64",
    "users": "user_id:string,account_created_ds:string,email_verified:string",
}
TABLES = {"data.purchases": "purchases", "default.purchases": "purchases", "data.returns": "returns",
          "data.users": "users"}


@pytest.fixture(scope="module")
def wh(tmp_path_factory):
    w = Warehouse(tmp_path_factory.mktemp("qs"))
    for table, stem in TABLES.items():
        w.load(os.path.join(DATA, stem + ".csv"), table, SCHEMAS[stem])
    return w


def oracle_tables():
    t = {n: co.load_table(n, os.path.join(DATA, s + ".csv")) for n, s in TABLES.items()}
    t["purchases"] = t["default.purchases"]  # the guide's bare table name
    return t


@pytest.mark.parametrize("conf,table", [
    ("production/group_bys/quickstart/purchases.v1", "default.quickstart_purchases_v1"),
    ("production/group_bys/quickstart/returns.v1", "default.quickstart_returns_v1"),
    ("production/group_bys/quickstart/users.v1", "default.quickstart_users_v1"),
    ("production/group_bys/my_team/user_purchase_features.v1", "default.my_team_user_purchase_features_v1"),
])
def test_quickstart_groupby_matches_oracle(wh, conf, table):
    wh.run(QS, conf, "--start-ds", "2023-12-01", "--end-ds", "2023-12-07")
    got = wh.rows(table)
    cj = co._conf_of(os.path.join(QS, conf))
    want = co.groupby_backfill(cj, oracle_tables(), "2023-12-07", "2023-12-01")
    n = compare(got, want, cj["keyColumns"], where=conf)
    assert n > 0
    assert {r["ds"] for r in got} == {"2023-12-0%d" % d for d in range(1, 8)}


def test_guide_backfill_one_day_without_start_date(wh):
    """D28: --ds works on a GroupBy without backfillStartDate."""
    conf = "production/group_bys/my_team/user_purchase_features.v1"
    w2 = Warehouse(wh.root + "/one")
    w2.load(os.path.join(DATA, "purchases.csv"), "default.purchases", SCHEMAS["purchases"])
    w2.run(QS, conf, "--ds", "2023-12-01")
    got = w2.rows("default.my_team_user_purchase_features_v1")
    cj = co._conf_of(os.path.join(QS, conf))
    want = co.groupby_backfill(cj, oracle_tables(), "2023-12-01")
    assert compare(got, want, cj["keyColumns"]) > 0
    assert {r["ds"] for r in got} == {"2023-12-01"}
