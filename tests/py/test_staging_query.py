"""StagingQuery backfill (`chronon run --mode backfill` and run.py on staging_queries) against
hand-computed expectations: the worked example of spec/compute.md section 7 (chunks and
rendered macros), holes and the skipped first hole (section 5), step-days, max_date, no
startPartition, createView (a catalog view and its signal partition), and the errors (unresolved
macro, max_date of an empty table, date templates in a createView query)."""
import csv
import datetime
import io
import json
import os
import sqlite3
import subprocess
import sys

import pytest

BIN = os.environ.get("CHRONON_BIN")
SRC = os.environ.get("CN_SOURCE_DIR")
assert BIN and SRC, "run under ctest: CHRONON_BIN and CN_SOURCE_DIR must be set"
RUN_PY = os.path.join(SRC, "api", "py", "ai", "chronon", "repo", "run.py")


def days(a, b):
    d, e = datetime.date.fromisoformat(a), datetime.date.fromisoformat(b)
    while d <= e:
        yield d.isoformat()
        d += datetime.timedelta(days=1)


@pytest.fixture
def repo(tmp_path):
    ev = tmp_path / "events.csv"
    # two users a day; amount = user * 100 + day of month
    ev.write_text("ds,user_id,amount\n" + "".join(
        f"{d},{u},{u * 100 + int(d[8:])}\n" for d in days("2025-01-01", "2025-03-10") for u in (1, 2)))
    r = subprocess.run([BIN, "load", str(ev), "data.events"], cwd=tmp_path, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return tmp_path


def write_conf(repo, name, query, start="2025-01-01", **extra):
    team, rest = name.split(".", 1)
    p = repo / "production" / "staging_queries" / team / rest
    p.parent.mkdir(parents=True, exist_ok=True)
    conf = {"metaData": {"name": name, "outputNamespace": "sq_out", "team": team,
                         "tableProperties": {"owner_team": team}}, "query": query}
    if start:
        conf["startPartition"] = start
    conf.update(extra)
    p.write_text(json.dumps(conf))
    return f"production/staging_queries/{team}/{rest}"


def backfill(repo, conf, *args, via_py=False):
    cmd = ([sys.executable, RUN_PY] if via_py else [BIN, "run"]) + ["--mode", "backfill", "--conf", conf,
                                                                      "--repo", str(repo), *args]
    env = dict(os.environ, CHRONON_BIN=BIN)
    return subprocess.run(cmd, cwd=repo, env=env, capture_output=True, text=True, timeout=300)


def query(repo, text):
    r = subprocess.run([BIN, "sql", text, "--format", "csv"], cwd=repo, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return list(csv.DictReader(io.StringIO(r.stdout)))


SPEC_QUERY = ("SELECT user_id, sum(amount) AS total, '{{ start_date }}' AS cs, '{{end_date}}' AS ce, "
              "'{{ latest_date }}' AS s, ds FROM data.events "
              "WHERE ds BETWEEN '{{ start_date }}' AND '{{end_date}}' AND '2025-03-05'='{{ latest_date }}' "
              "GROUP BY user_id, ds")


@pytest.mark.parametrize("via_py", [False, True])
def test_spec_section7_example(repo, via_py):
    conf = write_conf(repo, "team.spec_example.v1", SPEC_QUERY)
    r = backfill(repo, conf, "--end-ds", "2025-03-05", "--step-days", "31", via_py=via_py)
    assert r.returncode == 0, r.stderr
    assert "chunk 1/3 [2025-01-01, 2025-01-31]: 62 rows, 31 partitions" in r.stderr
    assert "chunk 2/3 [2025-02-01, 2025-03-03]: 62 rows, 31 partitions" in r.stderr
    assert "chunk 3/3 [2025-03-04, 2025-03-05]: 4 rows, 2 partitions" in r.stderr
    rows = query(repo, "SELECT cs, ce, s, count(DISTINCT ds) AS days, min(ds) AS lo, max(ds) AS hi, "
                       "sum(total) AS t FROM sq_out.team_spec_example_v1 GROUP BY cs, ce, s ORDER BY cs")
    want = []
    for lo, hi in (("2025-01-01", "2025-01-31"), ("2025-02-01", "2025-03-03"), ("2025-03-04", "2025-03-05")):
        ds = list(days(lo, hi))
        want.append({"cs": lo, "ce": hi, "s": "2025-03-05", "days": str(len(ds)), "lo": lo, "hi": hi,
                     "t": str(sum(100 + int(d[8:]) + 200 + int(d[8:]) for d in ds))})
    assert rows == want
    props = query(repo, "SHOW TBLPROPERTIES sq_out.team_spec_example_v1")
    assert {"key": "chronon_table_type", "value": "staging_query"} in props


def test_holes_and_first_hole(repo):
    q = ("SELECT user_id, amount, '{{ latest_date }}' AS run, ds FROM data.events "
         "WHERE ds BETWEEN '{{ start_date }}' AND '{{ end_date }}'")
    conf = write_conf(repo, "team.holes.v1", q, start="2025-03-01")
    # output gets 03-02, 03-03 (run 03-03) and 03-06 (run 03-06)
    assert backfill(repo, conf, "--start-ds", "2025-03-02", "--end-ds", "2025-03-03").returncode == 0
    assert backfill(repo, conf, "--start-ds", "2025-03-06", "--end-ds", "2025-03-06").returncode == 0
    # section 5's example: holes [03-04..03-05] and [03-07..03-08]; 03-01 is the skipped first hole
    r = backfill(repo, conf, "--end-ds", "2025-03-08", "--step-days", "1")
    assert r.returncode == 0, r.stderr
    for i, d in enumerate(("2025-03-04", "2025-03-05", "2025-03-07", "2025-03-08")):
        assert f"chunk {i + 1}/4 [{d}, {d}]: 2 rows" in r.stderr
    def runs():
        return {x["ds"]: x["run"] for x in query(repo, "SELECT DISTINCT ds, run FROM sq_out.team_holes_v1")}
    assert runs() == {"2025-03-02": "2025-03-03", "2025-03-03": "2025-03-03", "2025-03-04": "2025-03-08",
                      "2025-03-05": "2025-03-08", "2025-03-06": "2025-03-06", "2025-03-07": "2025-03-08",
                      "2025-03-08": "2025-03-08"}
    r = backfill(repo, conf, "--end-ds", "2025-03-08")
    assert r.returncode == 0 and "nothing to compute" in r.stderr
    r = backfill(repo, conf, "--end-ds", "2025-03-08", "--run-first-hole")
    assert r.returncode == 0 and "chunk 1/1 [2025-03-01, 2025-03-01]: 2 rows" in r.stderr
    assert runs()["2025-03-01"] == "2025-03-08"


def test_max_date_and_no_start_partition(repo):
    q = ("SELECT user_id, max(amount) AS top, '{{ max_date(table=data.events) }}' AS newest, "
         "'{{ start_date }}' AS cs, '{{ latest_date }}' AS latest, ds FROM data.events "
         "WHERE ds = '{{ max_date( table = data.events ) }}' GROUP BY user_id, ds")
    conf = write_conf(repo, "team.latest.v1", q, start=None)
    r = backfill(repo, conf, "--ds", "2025-03-09")
    assert r.returncode == 0, r.stderr
    assert "one run (no startPartition): 2 rows" in r.stderr
    rows = query(repo, "SELECT * FROM sq_out.team_latest_v1 ORDER BY user_id")
    assert rows == [{"user_id": str(u), "top": str(u * 100 + 10), "newest": "2025-03-10", "cs": "null",
                     "latest": "2025-03-09", "ds": "2025-03-10"} for u in (1, 2)]


def test_create_view(repo):
    """createView=true: a catalog view (Iceberg view metadata behind a VIEW row of the JDBC
    catalog) that chronon sql queries by name, replaced by each run, plus the signal row
    (created_at, ds=endDs, table_name) in <ns>.chronon_signal_partitions."""
    q = ("SELECT user_id, max(amount) AS top, ds FROM data.events "
         "WHERE ds >= '2025-03-01' AND ds <= '{{ latest_date }}' GROUP BY user_id, ds")
    conf = write_conf(repo, "team.view.v1", q, createView=True)
    r = backfill(repo, conf, "--end-ds", "2025-03-02")
    assert r.returncode == 0, r.stderr
    assert "view sq_out.team_view_v1 created (3 columns)" in r.stderr
    rows = query(repo, "SELECT ds, count(*) AS n FROM sq_out.team_view_v1 GROUP BY ds ORDER BY ds")
    assert rows == [{"ds": "2025-03-01", "n": "2"}, {"ds": "2025-03-02", "n": "2"}]
    assert {"namespace": "sq_out", "tableName": "team_view_v1", "isTemporary": "false"} in query(
        repo, "SHOW TABLES IN sq_out")
    r = backfill(repo, conf, "--end-ds", "2025-03-04")
    assert r.returncode == 0, r.stderr
    assert len(query(repo, "SELECT * FROM sq_out.team_view_v1")) == 8
    sig = query(repo, "SELECT created_at, ds, table_name FROM sq_out.chronon_signal_partitions ORDER BY ds")
    assert [(x["ds"], x["table_name"]) for x in sig] == [("2025-03-02", "sq_out.team_view_v1"),
                                                         ("2025-03-04", "sq_out.team_view_v1")]
    assert all(x["created_at"].endswith("Z") and "T" in x["created_at"] for x in sig)
    # the catalog row is a VIEW; its metadata file is Iceberg view metadata with two versions
    db = sqlite3.connect(repo / "warehouse" / "catalog.db")
    kind, loc = db.execute("SELECT iceberg_type, metadata_location FROM iceberg_tables "
                           "WHERE table_name = 'team_view_v1'").fetchone()
    db.close()
    assert kind == "VIEW"
    meta = json.loads(open(loc.removeprefix("file://")).read())
    assert meta["format-version"] == 1 and meta["current-version-id"] == 2
    cur = [v for v in meta["versions"] if v["version-id"] == 2][0]
    assert cur["representations"][0]["dialect"] == "spark" and "data.events" in cur["representations"][0]["sql"]
    assert [f["name"] for f in meta["schemas"][-1]["fields"]] == ["user_id", "top", "ds"]


@pytest.mark.parametrize("q,kw,needles", [
    ("SELECT ds FROM data.events WHERE ds = '{{ start_dt }}'", {}, ["unresolved macro", "{{ start_dt }}"]),
    ("SELECT ds FROM data.events WHERE ds = '{{ max_date(table=data.empty) }}'", {}, ["data.empty has no partitions"]),
    ("SELECT user_id FROM data.events WHERE ds = '{{ start_date }}'", {}, ["no ds column"]),
    ("SELECT * FROM data.nope WHERE ds = '{{ start_date }}'", {}, ["data.nope", "not found"]),
    ("SELECT * FROM data.events WHERE ds = '{{ start_date }}'", {"createView": 1}, ["createView", "{{ start_date }}"]),
])
def test_errors(repo, q, kw, needles):
    subprocess.run([BIN, "sql", "SELECT 1"], cwd=repo, check=True, capture_output=True)
    empty = repo / "empty.csv"
    empty.write_text("ds,x\n")
    subprocess.run([BIN, "load", str(empty), "data.empty", "--schema", "ds:string,x:int64"], cwd=repo,
                   capture_output=True)
    conf = write_conf(repo, "team.bad.v1", q, start="2025-03-01", **kw)
    r = backfill(repo, conf, "--end-ds", "2025-03-02")
    assert r.returncode == 1
    last = r.stderr.strip().splitlines()[-1]
    assert last.startswith("chronon run: ")
    for n in needles:
        assert n in last, r.stderr
    tables = query(repo, "SHOW TABLES IN data")
    assert "team_bad_v1" not in {t["tableName"] for t in tables}


def test_step_days_flag_checked(repo):
    conf = write_conf(repo, "team.flags.v1", SPEC_QUERY)
    r = backfill(repo, conf, "--end-ds", "2025-01-02", "--step-days", "0")
    assert r.returncode == 2 and "--step-days: invalid value '0'" in r.stderr
