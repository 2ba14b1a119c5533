"""`chronon table partitions`: the listing (text and --json) from the manifests, the
--has sensor contract (exit 0 present, 1 absent, 2 errors) with the exact command
`chronon airflow export` emits, and that no data file is read."""
import json
import os
import subprocess

import pytest

BIN = os.environ.get("CHRONON_BIN")
SRC = os.environ.get("CN_SOURCE_DIR")
assert BIN and SRC, "run under ctest: CHRONON_BIN and CN_SOURCE_DIR must be set"

ROWS = [("2023-11-30", 1, 10), ("2023-11-30", 2, 20), ("2023-12-01", 1, 5),
        ("2023-12-01", 3, 7), ("2023-12-01", 3, 8), ("2023-12-02", 2, 100)]
MORE = [("2023-12-01", 9, 1), ("2023-12-03", 4, 4)]


def sh(args, cwd, env=None):
    e = dict(os.environ)
    e.pop("CHRONON_WAREHOUSE", None)
    e.pop("CHRONON_CATALOG", None)
    e.update(env or {})
    return subprocess.run([BIN] + args, cwd=cwd, capture_output=True, text=True, timeout=120, env=e)


def write_csv(path, rows):
    path.write_text("ds,user_id,price\n" + "".join(f"{d},{u},{x}\n" for d, u, x in rows))


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    r = tmp_path_factory.mktemp("tablewh")
    write_csv(r / "a.csv", ROWS)
    write_csv(r / "b.csv", MORE)
    for f in ("a.csv", "b.csv"):
        p = sh(["load", str(r / f), "data.purchases"], r)
        assert p.returncode == 0, p.stderr
    p = sh(["load", str(r / "a.csv"), "purchases"], r)  # default namespace
    assert p.returncode == 0, p.stderr
    return r


def listing(root, *extra):
    p = sh(["table", "partitions", "data.purchases", "--json", *extra], root)
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout)


def test_json_listing_counts(root):
    j = listing(root)
    assert j["table"] == "data.purchases"
    assert isinstance(j["snapshot_id"], int)
    got = [(x["ds"], x["files"], x["records"]) for x in j["partitions"]]
    assert got == [("2023-11-30", 1, 2), ("2023-12-01", 2, 4), ("2023-12-02", 1, 1), ("2023-12-03", 1, 1)]
    files = sorted((root / "warehouse/data.db/purchases/data/ds=2023-12-01").glob("*.parquet"))
    assert len(files) == 2
    assert j["partitions"][1]["bytes"] == sum(f.stat().st_size for f in files)


def test_text_listing(root):
    p = sh(["table", "partitions", "data.purchases"], root)
    assert p.returncode == 0, p.stderr
    lines = [l.split() for l in p.stdout.splitlines()]
    assert lines[0] == ["ds", "files", "records", "bytes"]
    assert [l[:3] for l in lines[1:]] == [["2023-11-30", "1", "2"], ["2023-12-01", "2", "4"],
                                          ["2023-12-02", "1", "1"], ["2023-12-03", "1", "1"]]
    assert all(int(l[3]) > 0 for l in lines[1:])


def test_has_exit_codes(root):
    for v in ("2023-12-01", "ds=2023-12-03"):
        p = sh(["table", "partitions", "data.purchases", "--has", v], root)
        assert (p.returncode, p.stdout, p.stderr) == (0, "", "")
    p = sh(["table", "partitions", "data.purchases", "--has", "2023-12-04"], root)
    assert p.returncode == 1
    assert p.stdout == ""
    assert p.stderr.count("\n") == 1
    assert "data.purchases" in p.stderr and "ds=2023-12-04" in p.stderr and "2023-12-03" in p.stderr


def test_snapshot_option(root):
    now = listing(root)["snapshot_id"]
    j = listing(root, "--snapshot", str(now))
    assert j["snapshot_id"] == now
    p = sh(["table", "partitions", "data.purchases", "--snapshot", "12345"], root)
    assert p.returncode == 2 and "no snapshot 12345" in p.stderr


def test_usage_and_missing_table(root):
    p = sh(["table", "partitions", "data.purchase", "--has", "2023-12-01"], root)
    assert p.returncode == 2
    assert "data.purchase" in p.stderr and "purchases" in p.stderr  # names nearby tables
    for args in (["table"], ["table", "frobnicate"], ["table", "partitions"],
                 ["table", "partitions", "data.purchases", "--has"],
                 ["table", "partitions", "data.purchases", "--bogus"],
                 ["table", "partitions", "data.purchases", "--has", "yesterday"],
                 ["table", "partitions", "data.purchases", "--has", "2023-13-01"],
                 ["table", "partitions", "data.purchases", "--has", "ds=2023-12-01/hr=00:00"],
                 ["table", "partitions", "data.purchases", "--has", "dt=2023-12-01"],
                 ["table", "partitions", "bad name!"]):
        p = sh(args, root)
        assert p.returncode == 2, (args, p.stdout, p.stderr)
        assert p.stderr.startswith("chronon table"), (args, p.stderr)
    p = sh(["table", "partitions", "--help"], root)
    assert p.returncode == 0 and "--has DS" in p.stdout


def test_warehouse_flags_and_env(root, tmp_path):
    wh = root / "warehouse"
    p = sh(["table", "partitions", "data.purchases", "--has", "2023-12-02", "--warehouse", str(wh)], tmp_path)
    assert p.returncode == 0, p.stderr
    p = sh(["table", "partitions", "data.purchases", "--has", "2023-12-02", "--repo", str(root)], tmp_path)
    assert p.returncode == 0, p.stderr
    p = sh(["table", "partitions", "data.purchases", "--has", "2023-12-02",
            "--catalog", f"sqlite:{wh}/catalog.db", "--warehouse", str(wh)], tmp_path)
    assert p.returncode == 0, p.stderr
    p = sh(["table", "partitions", "data.purchases", "--has", "2023-12-02"], tmp_path,
           env={"CHRONON_WAREHOUSE": str(wh)})
    assert p.returncode == 0, p.stderr


def test_airflow_sensor_command_runs(root):
    """The sensor line chronon airflow export writes, with Airflow's {{ ds }} filled in."""
    cmd = ["table", "partitions", "purchases", "--has", "{{ ds }}"]
    for ds, code in (("2023-12-02", 0), ("2023-12-03", 1)):
        p = sh([c.replace("{{ ds }}", ds) for c in cmd], root)
        assert p.returncode == code, p.stderr


def test_no_data_file_is_read(tmp_path):
    """Every data file gone: the listing, --has and SHOW PARTITIONS still answer from the
    manifests, while a query that reads the data fails."""
    write_csv(tmp_path / "a.csv", ROWS)
    p = sh(["load", str(tmp_path / "a.csv"), "data.gone"], tmp_path)
    assert p.returncode == 0, p.stderr
    p = sh(["table", "partitions", "data.gone", "--json"], tmp_path)
    assert p.returncode == 0, p.stderr
    before = json.loads(p.stdout)["partitions"]
    files = list((tmp_path / "warehouse").rglob("*.parquet"))
    assert len(files) == 3
    for f in files:
        f.unlink()
    p = sh(["table", "partitions", "data.gone", "--json"], tmp_path)
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["partitions"] == before
    p = sh(["table", "partitions", "data.gone", "--has", "2023-12-02"], tmp_path)
    assert p.returncode == 0, p.stderr
    p = sh(["sql", "SHOW PARTITIONS data.gone", "--format", "csv"], tmp_path)
    assert p.returncode == 0, p.stderr
    assert p.stdout.split() == ["partition", "ds=2023-11-30", "ds=2023-12-01", "ds=2023-12-02"]
    p = sh(["sql", "SELECT count(*) FROM data.gone WHERE price > 0", "--format", "csv"], tmp_path)
    assert p.returncode != 0


def test_staging_query_holes_and_max_date_use_manifests(tmp_path):
    """A StagingQuery re-run finds its existing output partitions, and max_date its table's
    newest partition, with those tables' data files gone: both come from the manifests."""
    (tmp_path / "ev.csv").write_text("ds,user_id,amount\n" + "".join(
        f"2025-01-0{d},{u},{u * 10 + d}\n" for d in range(1, 5) for u in (1, 2)))
    write_csv(tmp_path / "g.csv", ROWS)
    for f, t in (("ev.csv", "data.events"), ("g.csv", "data.gone")):
        p = sh(["load", str(tmp_path / f), t], tmp_path)
        assert p.returncode == 0, p.stderr
    for f in (tmp_path / "warehouse/data.db/gone").rglob("*.parquet"):
        f.unlink()
    conf = tmp_path / "production/staging_queries/team/sq.v1"
    conf.parent.mkdir(parents=True)
    conf.write_text(json.dumps({
        "metaData": {"name": "team.sq.v1", "outputNamespace": "sq_out", "team": "team"},
        "startPartition": "2025-01-01",
        "query": "SELECT user_id, amount, '{{ max_date(table=data.gone) }}' AS newest, ds FROM data.events "
                 "WHERE ds BETWEEN '{{ start_date }}' AND '{{ end_date }}'"}))
    run = ["run", "--mode", "backfill", "--conf", "production/staging_queries/team/sq.v1", "--repo", str(tmp_path)]
    p = sh(run + ["--end-ds", "2025-01-04"], tmp_path)
    assert p.returncode == 0, p.stderr
    p = sh(["sql", "SELECT DISTINCT newest FROM sq_out.team_sq_v1", "--format", "csv"], tmp_path)
    assert p.returncode == 0 and p.stdout.split() == ["newest", "2023-12-02"], (p.stdout, p.stderr)
    out = list((tmp_path / "warehouse/sq_out.db").rglob("*.parquet"))
    assert out
    for f in out:
        f.unlink()
    p = sh(run + ["--end-ds", "2025-01-04"], tmp_path)
    assert p.returncode == 0 and "nothing to compute" in p.stderr, p.stderr
    p = sh(["table", "partitions", "sq_out.team_sq_v1", "--has", "2025-01-04"], tmp_path)
    assert p.returncode == 0, p.stderr


def test_groupby_rerun_finds_output_partitions_in_manifests(tmp_path):
    """A GroupBy backfill re-run learns its existing output partitions from the output's
    manifests: with the output's data files gone it still has nothing to compute."""
    (tmp_path / "production/group_bys/t").mkdir(parents=True)
    (tmp_path / "production/group_bys/t/gb").write_text(json.dumps({
        "metaData": {"name": "t.gb", "outputNamespace": "out", "team": "t"},
        "sources": [{"events": {"table": "raw.ev", "query": {
            "selects": {"user_id": "user_id", "amount": "amount"}, "timeColumn": "ts"}}}],
        "keyColumns": ["user_id"],
        "aggregations": [{"inputColumn": "amount", "operation": 7, "windows": [{"length": 1, "timeUnit": 1}]}]}))
    (tmp_path / "ev.csv").write_text("ds,ts,user_id,amount\n2024-01-01,1704067200000,u1,5\n"
                                     "2024-01-02,1704153600000,u2,7\n2024-01-03,1704240000000,u1,2\n")
    p = sh(["load", str(tmp_path / "ev.csv"), "raw.ev", "--schema", "ts:int64,user_id:string,amount:int64"],
           tmp_path)
    assert p.returncode == 0, p.stderr
    run = ["run", "--mode", "backfill", "--repo", str(tmp_path), "--conf", "production/group_bys/t/gb",
           "--start-ds", "2024-01-02", "--end-ds", "2024-01-03"]
    p = sh(run, tmp_path)
    assert p.returncode == 0, p.stderr
    p = sh(["table", "partitions", "out.t_gb", "--json"], tmp_path)
    assert p.returncode == 0, p.stderr
    assert [x["ds"] for x in json.loads(p.stdout)["partitions"]] == ["2024-01-02", "2024-01-03"]
    out = list((tmp_path / "warehouse/out.db/t_gb/data").rglob("*.parquet"))
    assert out
    for f in out:
        f.unlink()
    p = sh(run, tmp_path)
    assert p.returncode == 0, p.stderr
    assert "nothing to compute" in p.stderr, p.stderr
