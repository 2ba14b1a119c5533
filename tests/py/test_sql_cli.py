"""`chronon sql`: the users' guide step 6 commands over tables loaded with `chronon load`,
output formats, ds pruning seen through --verbose, the interactive prompt on piped stdin,
and one-line errors with a non-zero exit."""
import csv
import io
import json
import os
import subprocess

import pytest

BIN = os.environ.get("CHRONON_BIN")
SRC = os.environ.get("CN_SOURCE_DIR")
assert BIN and SRC, "run under ctest: CHRONON_BIN and CN_SOURCE_DIR must be set"

PURCHASES = [  # ds, user_id, purchase_price
    ("2023-11-30", 1, 10), ("2023-11-30", 2, 20), ("2023-12-01", 1, 5),
    ("2023-12-01", 3, 7), ("2023-12-01", 3, 8), ("2023-12-02", 2, 100),
]
USERS = [("2023-12-01", 1, "a@x"), ("2023-12-01", 2, "b@x"), ("2023-12-01", 3, "c@x")]


def sh(args, cwd, stdin=None):
    return subprocess.run([BIN] + args, cwd=cwd, input=stdin, capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def wh(tmp_path_factory):
    root = tmp_path_factory.mktemp("sqlwh")
    p = root / "purchases.csv"
    p.write_text("ds,user_id,purchase_price\n" + "".join(f"{d},{u},{x}\n" for d, u, x in PURCHASES))
    u = root / "users.csv"
    u.write_text("ds,user_id,email\n" + "".join(f"{d},{i},{e}\n" for d, i, e in USERS))
    for f, t in ((p, "data.purchases"), (u, "data.users"), (p, "my_team_user_purchase_features_v1")):
        r = sh(["load", str(f), t], root)
        assert r.returncode == 0, r.stderr
    return root


def sql(wh, text, *extra):
    return sh(["sql", text, *extra], wh)


def test_guide_step6(wh):
    r = sql(wh, "USE default; SHOW TABLES LIKE '*user_purchase*'", "--format", "csv")
    assert r.returncode == 0, r.stderr
    assert r.stdout == "namespace,tableName,isTemporary\ndefault,my_team_user_purchase_features_v1,false\n"
    r = sql(wh, "SELECT * FROM default.my_team_user_purchase_features_v1 WHERE ds = '2023-12-01' LIMIT 10",
            "--format", "csv")
    assert r.returncode == 0, r.stderr
    rows = list(csv.DictReader(io.StringIO(r.stdout)))
    assert sorted((x["user_id"], x["purchase_price"]) for x in rows) == [("1", "5"), ("3", "7"), ("3", "8")]
    r = sql(wh, "DESCRIBE EXTENDED default.my_team_user_purchase_features_v1")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert any(l.split() == ["Table", "Type", "ICEBERG"] for l in lines), r.stdout
    assert any(l.split()[:2] == ["Provider", "iceberg"] for l in lines)
    assert any(l.split()[:2] == ["purchase_price", "bigint"] for l in lines)
    # spark-sql -e "SHOW TABLES IN data;" and several statements in one -e
    r = sh(["sql", "-e", "SHOW TABLES IN data;"], wh)
    assert r.returncode == 0 and "purchases" in r.stdout and "users" in r.stdout
    r = sh(["sql", "-e", "SHOW TABLES LIKE '*my_team*'; SELECT count(*) AS n FROM my_team_user_purchase_features_v1 "
            "WHERE ds = '2023-12-01'", "--format", "csv"], wh)
    assert r.returncode == 0, r.stderr
    assert r.stdout.endswith("\nn\n3\n")


def test_join_aggregate_json(wh):
    r = sql(wh, "SELECT u.email, sum(p.purchase_price) AS total, avg(p.purchase_price) AS mean "
                "FROM data.purchases p JOIN data.users u ON p.user_id = u.user_id "
                "GROUP BY u.email ORDER BY u.email", "--format", "json")
    assert r.returncode == 0, r.stderr
    got = [json.loads(l) for l in r.stdout.splitlines()]
    want = {}
    for _, uid, price in PURCHASES:
        want.setdefault(uid, []).append(price)
    assert got == [{"email": e, "total": sum(want[i]), "mean": sum(want[i]) / len(want[i])}
                   for _, i, e in USERS]


def test_show_partitions_and_namespaces(wh):
    r = sql(wh, "SHOW PARTITIONS data.purchases; SHOW DATABASES", "--format", "csv")
    assert r.returncode == 0, r.stderr
    assert r.stdout == ("partition\nds=2023-11-30\nds=2023-12-01\nds=2023-12-02\n\n"
                        "namespace\ndata\ndefault\n")


def test_ds_pushdown_is_visible(wh):
    r = sql(wh, "SELECT count(*) FROM data.purchases WHERE ds = '2023-12-01'", "--verbose", "--format", "csv")
    assert r.returncode == 0, r.stderr
    assert r.stdout == "count(*)\n3\n"
    assert "scan data.purchases: ds [2023-12-01, 2023-12-01]: 1 of 3 files, 3 rows" in r.stderr
    r = sql(wh, "SELECT count(*) FROM data.purchases", "--verbose", "--format", "csv")
    assert "3 of 3 files, 6 rows" in r.stderr


def test_functions_from_cli(wh):
    r = sql(wh, "SELECT date_format(ds, 'yyyyMMdd') AS d, concat_ws('-', user_id, purchase_price) AS k, "
                "datediff(ds, '2023-11-01') AS n FROM data.purchases WHERE ds = '2023-12-02'", "--format", "csv")
    assert r.returncode == 0, r.stderr
    assert r.stdout == "d,k,n\n20231202,2-100,31\n"


def test_interactive_piped(wh):
    text = "USE data;\nSELECT count(*) AS n\n  FROM purchases;\nSHOW TABLES\n LIKE 'u*';\nquit\nSELECT 1;\n"
    r = sh(["sql", "--format", "csv"], wh, stdin=text)
    assert r.returncode == 0, r.stderr
    assert r.stdout == "n\n6\n\nnamespace,tableName,isTemporary\ndata,users,false\n"
    # a statement without ';' at end of input still runs; an error makes the exit non-zero
    r = sh(["sql", "--format", "csv"], wh, stdin="SELECT 2 AS two;\nSELECT * FROM data.nope;\nSELECT 3 AS three")
    assert r.returncode == 1
    assert r.stdout == "two\n2\n\nthree\n3\n"
    assert r.stderr.count("\n") == 1 and "data.nope" in r.stderr


@pytest.mark.parametrize("text,needles", [
    ("SELECT * FROM data.purchase", ["data.purchase", "did you mean data.purchases"]),
    ("SELECT * FROM nodb.purchases", ["namespace 'nodb' not found", "data"]),
    ("SHOW TABLES IN nodb", ["namespace 'nodb' not found"]),
    ("SELECT purchase_prise FROM data.purchases", ["column purchase_prise not found", "purchase_price"]),
    ("SELECT *\nFROM data.purchases\nWHERE ds = = 1", ["syntax error at line 3, column 12"]),
    ("DESCRIBE data.usres", ["data.users"]),
])
def test_errors_one_line(wh, text, needles):
    r = sql(wh, text)
    assert r.returncode == 1
    assert r.stderr.startswith("chronon sql: ") and r.stderr.count("\n") == 1, r.stderr
    for n in needles:
        assert n in r.stderr, r.stderr
    assert r.stdout == ""


def test_regex_with_huge_repetition_is_refused(wh):
    # nested bounded repetitions would make glibc's regcomp allocate gigabytes
    r = sql(wh, "SELECT regexp_replace('aaa', '((a{20}){20}){20}', 'x')")
    assert r.returncode == 1
    assert r.stderr.count("\n") == 1 and "repeats too much" in r.stderr and "simplify it" in r.stderr, r.stderr


def test_bad_flags(wh):
    r = sql(wh, "SELECT 1", "--format", "xml")
    assert r.returncode == 2 and "--format" in r.stderr
    r = sh(["sql", "--help"], wh)
    assert r.returncode == 0 and "SHOW TABLES" in r.stdout and "--verbose" in r.stdout
