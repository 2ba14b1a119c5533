"""The users' guide (Chronon developer guide) walked as written, and bad input on the way.

Each test runs a guide command the way a user types it (compile.py and run.py by path,
the guide's teams.json and GroupBy) or a mistake a user makes, and checks the outcome:
the guide's steps succeed, a mistake gets one line naming the flag/file/value and what
was expected, a non-zero exit, and no output."""

import json
import os
import subprocess
import sys
import textwrap

import pytest

BIN = os.environ.get("CHRONON_BIN")
SRC = os.environ.get("CN_SOURCE_DIR")
assert BIN and SRC, "run under ctest: CHRONON_BIN and CN_SOURCE_DIR must be set"
COMPILE = os.path.join(SRC, "api", "py", "ai", "chronon", "repo", "compile.py")
RUN_PY = os.path.join(SRC, "api", "py", "ai", "chronon", "repo", "run.py")
CONF = "production/group_bys/my_team/user_purchase_features.v1"

# the guide's "2. Setup Team Information", verbatim: no "default" team
GUIDE_TEAMS = {
    "my_team": {
        "description": "My team for GroupBy development",
        "namespace": "default",
        "user": "developer",
        "production": {
            "backfill": {"EXECUTOR_CORES": "2", "DRIVER_MEMORY": "1G", "EXECUTOR_MEMORY": "2G", "PARALLELISM": "4"},
            "upload": {"EXECUTOR_CORES": "2", "EXECUTOR_MEMORY": "2G", "PARALLELISM": "4"},
        },
    }
}

# the guide's "3. Define GroupBy Configuration"
GUIDE_GB = '''
from ai.chronon.api.ttypes import Source, EventSource
from ai.chronon.query import Query, select
from ai.chronon.group_by import GroupBy, Aggregation, Operation, Window, TimeUnit

source = Source(
    events=EventSource(
        table="purchases",
        query=Query(
            selects=select("user_id", "purchase_price", "item_category"),
            time_column="ts"
        )
    )
)
window_sizes = [
    Window(length=1, timeUnit=TimeUnit.DAYS),
    Window(length=7, timeUnit=TimeUnit.DAYS),
    Window(length=30, timeUnit=TimeUnit.DAYS),
]
v1 = GroupBy(
    sources=[source],
    keys=["user_id"],
    aggregations=[
        Aggregation(input_column="purchase_price", operation=Operation.SUM, windows=window_sizes),
        Aggregation(input_column="purchase_price", operation=Operation.COUNT, windows=window_sizes),
        Aggregation(input_column="purchase_price", operation=Operation.AVERAGE, windows=window_sizes),
        Aggregation(input_column="purchase_price", operation=Operation.LAST_K(10)),
    ],
    online=True,
)
'''


def env():
    e = dict(os.environ, CHRONON_BIN=BIN, PYTHONDONTWRITEBYTECODE="1")
    for k in ("CHRONON_ROOT", "CHRONON_REPO_PATH", "CHRONON_WAREHOUSE", "CHRONON_CATALOG", "CHRONON_ONLINE"):
        e.pop(k, None)
    return e


def sh(cwd, *cmd, stdin=""):
    return subprocess.run(list(cmd), cwd=str(cwd), env=env(), input=stdin, capture_output=True, text=True,
                          timeout=300)


def guide_root(tmp_path):
    root = tmp_path / "repo"
    (root / "group_bys" / "my_team").mkdir(parents=True)
    (root / "teams.json").write_text(json.dumps(GUIDE_TEAMS, indent=4))
    (root / "group_bys" / "my_team" / "user_purchase_features.py").write_text(textwrap.dedent(GUIDE_GB))
    return root


def guide_compile(root, stdin=""):
    # "4. Compile Configuration", as the guide writes it (no -y)
    return sh(root, sys.executable, COMPILE, "--conf", "group_bys/my_team/user_purchase_features.py",
              "--force-overwrite", stdin=stdin)


def test_guide_teams_json_without_default_team_compiles(tmp_path):
    root = guide_root(tmp_path)
    p = guide_compile(root, stdin="\n")
    assert p.returncode == 0, p.stdout + p.stderr
    doc = json.loads((root / CONF).read_text())
    assert doc["metaData"]["outputNamespace"] == "default"
    assert doc["metaData"]["team"] == "my_team"
    assert "tableProperties" not in doc["metaData"]
    # the namespace stays required: a team without one, and no default, is one clear error
    teams = {"my_team": {"description": "no namespace"}}
    (root / "teams.json").write_text(json.dumps(teams))
    (root / CONF).unlink()
    p = guide_compile(root, stdin="\n")
    assert p.returncode == 1 and "team my_team has no 'namespace'" in p.stderr, p.stderr
    assert "Traceback" not in p.stderr and not (root / CONF).exists()


def test_guide_compile_runs_without_a_terminal(tmp_path):
    # the guide's command from a script: stdin closed, no -y. The prompt takes its default.
    root = guide_root(tmp_path)
    p = guide_compile(root, stdin="")
    assert p.returncode == 0, p.stdout + p.stderr
    assert "(no answer on standard input: the default)" in p.stdout
    assert (root / CONF).exists()
    p = guide_compile(root, stdin=None)  # again over the existing file, stdin inherited from a pipe
    assert p.returncode == 0, p.stdout + p.stderr


def test_guide_compile_interrupted_at_the_prompt(tmp_path):
    # ^C at the prompt: "Aborted!", exit 1, no traceback, nothing written
    import signal
    root = guide_root(tmp_path)
    p = subprocess.Popen([sys.executable, COMPILE, "--conf", "group_bys/my_team/user_purchase_features.py"],
                         cwd=str(root), env=env(), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True,
                         preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    seen = ""
    while "[Y/n]" not in seen:
        ch = p.stdout.read(1)
        assert ch, "no prompt: " + seen
        seen += ch
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=60)
    assert p.returncode == 1, err
    assert err.strip() == "Aborted!" and "Traceback" not in err
    assert not (root / "production").exists()


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory):
    """The guide's repo, compiled, with the sample purchases loaded as bare 'purchases'."""
    root = guide_root(tmp_path_factory.mktemp("guide"))
    p = guide_compile(root, stdin="\n")
    assert p.returncode == 0, p.stdout + p.stderr
    p = sh(root, BIN, "load", os.path.join(SRC, "examples", "quickstart", "data", "purchases.csv"), "purchases")
    assert p.returncode == 0, p.stderr
    return root


def run_py(root, *args):
    return sh(root, sys.executable, RUN_PY, *args)


def table_days(root):
    p = sh(root, BIN, "sql", "--format", "csv",
           "SELECT DISTINCT ds FROM default.my_team_user_purchase_features_v1 ORDER BY ds")
    return p.stdout.split()[1:] if p.returncode == 0 else []


def test_guide_backfill_with_parallelism_one(warehouse):
    # "Backfill Errors: Out of memory": the guide's command with --ds and --parallelism 1
    p = run_py(warehouse, "--conf", CONF, "--mode", "backfill", "--ds", "2023-12-01", "--parallelism", "1")
    assert p.returncode == 0, p.stderr
    assert "2023-12-01" in table_days(warehouse)
    # a split (N > 1) still needs the range, as in Chronon's run.py
    p = run_py(warehouse, "--conf", CONF, "--mode", "backfill", "--ds", "2023-12-02", "--parallelism", "2")
    assert p.returncode == 2 and "--parallelism 2 needs --start-ds and --end-ds" in p.stderr


@pytest.mark.parametrize("args,needle", [
    (["--start_ds", "2023-12-03"], "unknown option '--start_ds'"),
    (["--ds", "2023-12-03", "--step_days", "1"], "unknown option '--step_days'"),
    (["--ds", "2023-12-03", "2023-12-04"], "unexpected argument '2023-12-04'"),
    (["--ds", "2023-12-03", "--force=yes"], "--force takes no value (got 'yes')"),
    (["--ds", "2023-12-03", "--step-days"], "--step-days needs a value"),
    # bad values of the modes' own options are usage errors too (they exited 1, after the
    # config was read)
    (["--ds", "2023-12-03", "--step-days", "x"], "--step-days: invalid value 'x'"),
    (["--ds", "2023-12-03", "--max-memory", "12Q"], "--max-memory: invalid size '12Q'"),
])
def test_run_unknown_options_refused(warehouse, args, needle):
    # a typo must not run the job over other days (before: --start_ds was dropped and the
    # backfill ran up to today)
    before = table_days(warehouse)
    p = run_py(warehouse, "--conf", CONF, "--mode", "backfill", *args)
    assert p.returncode == 2, p.stderr
    assert needle in p.stderr and p.stderr.count("\n") == 1 and not p.stdout
    assert table_days(warehouse) == before


@pytest.mark.parametrize("conf,needle", [
    ("group_bys/my_team/user_purchase_features.py",
     "--conf group_bys/my_team/user_purchase_features.py: a Python config; run takes its compiled file"),
    ("production/group_bys/my_team", "production/group_bys/my_team is a directory; expected one compiled config file"),
    ("production/group_bys/my_team/", "is a directory; expected one compiled config file"),
])
def test_run_conf_not_a_compiled_file(warehouse, conf, needle):
    # the Python file or the team's folder instead of the compiled file (before: "malformed
    # JSON near '#'" and "conf type 'production' is not one of ...")
    p = run_py(warehouse, "--conf", conf, "--mode", "backfill", "--ds", "2023-12-01")
    assert p.returncode == 2, p.stderr
    assert needle in p.stderr and p.stderr.count("\n") == 1 and not p.stdout


def test_backfill_nothing_to_compute_says_which_days(warehouse):
    # the source ends on 2023-12-07: a range past it computes what has source data, and a
    # second run says nothing is left "with source data" (not that every day is written)
    p = run_py(warehouse, "--conf", CONF, "--mode", "backfill", "--start-ds", "2023-12-01", "--end-ds", "2023-12-31")
    assert p.returncode == 0, p.stderr
    assert table_days(warehouse)[-1] == "2023-12-07"
    p = run_py(warehouse, "--conf", CONF, "--mode", "backfill", "--start-ds", "2023-12-01", "--end-ds", "2023-12-31")
    assert p.returncode == 0, p.stderr
    assert "nothing to compute: every partition up to 2023-12-31 with source data is already written" in p.stderr


def test_sql_drop_table_refused(warehouse):
    # before: exit 0 and nothing said, while the warehouse table stayed
    for q in ("DROP TABLE default.purchases", "USE default; DROP TABLE IF EXISTS Purchases"):
        p = sh(warehouse, BIN, "sql", q)
        assert p.returncode == 1, (q, p.stderr)
        assert p.stderr == ("chronon sql: DROP TABLE default.purchases: warehouse tables are read-only in chronon sql "
                            "(the table is unchanged)\n")
    p = sh(warehouse, BIN, "sql", "--format", "csv", "SELECT count(*) AS n FROM default.purchases")
    assert p.returncode == 0 and int(p.stdout.split()[1]) > 0
    # a session table of the same run still drops
    p = sh(warehouse, BIN, "sql", "--format", "csv", "CREATE TABLE t AS SELECT 1 AS a; DROP TABLE t; SELECT 2 AS b")
    assert p.returncode == 0 and p.stdout.split() == ["b", "2"], p.stderr


def test_load_header_only_csv_creates_no_table(tmp_path):
    # before: the table was created with every column a string ("nothing committed"), and
    # the real data's load was then refused: column "ts" is int64, the table has string
    root = guide_root(tmp_path)
    (root / "h.csv").write_text("ds,ts,user_id,purchase_price,item_category\n")
    p = sh(root, BIN, "load", "h.csv", "purchases")
    assert p.returncode == 0, p.stderr
    assert "has no rows; nothing committed and no table created" in p.stdout
    p = sh(root, BIN, "sql", "--format", "csv", "SHOW TABLES")
    assert "purchases" not in p.stdout
    p = sh(root, BIN, "load", os.path.join(SRC, "examples", "quickstart", "data", "purchases.csv"), "purchases")
    assert p.returncode == 0, p.stderr
    p = sh(root, BIN, "sql", "--format", "csv", "DESCRIBE purchases")
    assert "ts,bigint" in p.stdout, p.stdout
    # into the existing table the header alone is no rows, not a type mismatch (before:
    # column "ts" is string, table default.purchases has it as int64)
    p = sh(root, BIN, "load", "h.csv", "purchases")
    assert p.returncode == 0 and p.stdout == "default.purchases: h.csv has no rows; nothing committed\n", p.stderr
    # with --schema the header-only file makes the empty table it types
    p = sh(root, BIN, "load", "h.csv", "data.empty", "--schema", "ts:int64,user_id:int64,purchase_price:int64")
    assert p.returncode == 0 and "no table created" not in p.stdout, p.stdout + p.stderr
    p = sh(root, BIN, "sql", "--format", "csv", "DESCRIBE data.empty")
    assert p.returncode == 0 and "user_id,bigint" in p.stdout, p.stdout + p.stderr


def test_folder_compile_broken_file_one_line(tmp_path):
    # a broken file in a folder compile is skipped with one line (before: a full traceback);
    # --debug still prints the traceback
    root = guide_root(tmp_path)
    (root / "group_bys" / "my_team" / "broken.py").write_text("import nonexistent_mod\n")
    p = sh(root, sys.executable, COMPILE, "--conf", "group_bys/my_team", "-y")
    assert p.returncode == 0, p.stderr
    assert "Traceback" not in p.stderr
    lines = [x for x in p.stderr.splitlines() if "broken.py" in x or "nonexistent_mod" in x]
    assert len(lines) == 1 and "Failed to extract:" in lines[0], p.stderr
    assert lines[0].endswith("broken.py: ModuleNotFoundError: No module named 'nonexistent_mod'"), lines
    assert (root / CONF).exists()
    p = sh(root, sys.executable, COMPILE, "--conf", "group_bys/my_team", "-y", "--debug")
    assert p.returncode == 0 and "Traceback" in p.stderr


@pytest.mark.parametrize("flag", ["--ts", "--at-millis"])
def test_fetch_bad_time_names_the_flag_given(warehouse, flag):
    # before: "--at-millis: invalid value" also when the user typed --ts
    p = run_py(warehouse, "--mode", "fetch", "--conf-type", "group_bys", "--name", "my_team/user_purchase_features.v1",
               flag, "abc", "-k", '{"user_id":"5"}')
    assert p.returncode == 1 and not p.stdout
    assert p.stderr == "chronon run: --at-millis/--ts: invalid value 'abc' (expected epoch milliseconds)\n"


@pytest.mark.parametrize("verb,want", [
    ("schedule", "chronon: unknown command 'schedule' (did you mean 'scheduler'? chronon --help lists the commands)\n"),
    ("frob", "chronon: unknown command 'frob' (chronon --help lists the commands)\n"),
])
def test_unknown_command_one_line(tmp_path, verb, want):
    # before: the message followed by the whole command list on stderr
    p = sh(tmp_path, BIN, verb)
    assert p.returncode == 2 and not p.stdout and p.stderr == want


def test_fetch_by_conf_path(warehouse):
    # Chronon's fetch takes --conf instead of --name (the name is the path's team/name);
    # before: "fetch needs --name"
    p = run_py(warehouse, "--conf", CONF, "--mode", "upload", "--ds", "2023-12-01")
    assert p.returncode == 0, p.stderr
    by_name = run_py(warehouse, "--mode", "fetch", "--conf-type", "group_bys", "--name",
                     "my_team/user_purchase_features.v1", "-k", '{"user_id":"5"}', "--ts", "1701475200001")
    by_conf = run_py(warehouse, "--mode", "fetch", "--conf", CONF, "-k", '{"user_id":"5"}', "--ts", "1701475200001")
    assert by_name.returncode == 0 and by_conf.returncode == 0, by_conf.stderr
    assert json.loads(by_conf.stdout) == json.loads(by_name.stdout)
    assert json.loads(by_conf.stdout)["purchase_price_sum_30d"] is not None
    p = run_py(warehouse, "--mode", "fetch", "-k", '{"user_id":"5"}')
    assert p.returncode == 1 and "fetch needs --name <team>/<name>" in p.stderr and "or --conf" in p.stderr


def test_metadata_upload_of_a_folder(tmp_path):
    # Chronon's metadata-upload takes a folder too (its uploader walks it); before: "conf
    # type 'production' is not one of ..." or "is a directory"
    import shutil
    root = tmp_path / "qs"
    shutil.copytree(os.path.join(SRC, "examples", "quickstart", "production"), root / "production")
    (root / "teams.json").write_text("{}")
    p = run_py(root, "--mode", "metadata-upload", "--conf", "production/group_bys/quickstart/")
    assert p.returncode == 0, p.stderr
    for gb in ("purchases", "returns", "users"):
        assert "-> ZIPLINE_METADATA/group_bys/quickstart/%s.v1 in lmdb:" % gb in p.stderr, p.stderr
    assert "my_team" not in p.stderr
    p = run_py(root, "--mode", "metadata-upload", "--conf", "production/joins")
    assert p.returncode == 0 and p.stderr.count("-> ZIPLINE_METADATA/joins/quickstart/training_set.v") == 2, p.stderr
    # the configs now come from the store: with production/ gone a fetch finds them and
    # stops only at the missing batch data
    shutil.rmtree(root / "production")
    p = run_py(root, "--mode", "fetch", "--name", "quickstart/returns.v1", "-k", '{"user_id":"5"}')
    assert p.returncode == 1 and "has no batch data in the online store" in p.stderr, p.stderr
    # a bad file in the folder uploads nothing
    bad = tmp_path / "bad"
    shutil.copytree(os.path.join(SRC, "examples", "quickstart", "production"), bad / "production")
    (bad / "production" / "group_bys" / "quickstart" / "zz.v1").write_text("{bad")
    p = run_py(bad, "--mode", "metadata-upload", "--conf", "production/group_bys")
    assert p.returncode == 1 and "zz.v1:1:" in p.stderr and "malformed JSON" in p.stderr
    assert p.stderr.count("\n") == 1 and not (bad / "warehouse" / "online").exists()
    # any other mode still takes one file
    p = run_py(bad, "--mode", "upload", "--conf", "production/group_bys/quickstart")
    assert p.returncode == 2 and "is a directory" in p.stderr and "only metadata-upload takes a folder" in p.stderr


def test_backfill_counts_partitions_not_batches(tmp_path):
    # a day of more than 65,536 keys is written in several batches: the closing line
    # counted each batch as a partition ("215 partitions" for 59 days)
    root = guide_root(tmp_path)
    p = guide_compile(root, stdin="\n")
    assert p.returncode == 0, p.stdout + p.stderr
    days = ["2023-12-01", "2023-12-02", "2023-12-03", "2023-12-04"]
    keys = 70000
    csv = tmp_path / "purchases.csv"
    with open(csv, "w") as f:
        f.write("ts,ds,purchase_id,user_id,product_id,purchase_price,item_category\n")
        for d, ds in enumerate(days):
            base = 1701388800000 + d * 86400000
            for k in range(keys):
                f.write(f"{base + k},{ds},p{d}_{k},{k},{k % 97},{k % 1000 + 1},toys\n")
    p = sh(root, BIN, "load", str(csv), "purchases")
    assert p.returncode == 0, p.stderr
    # one day (the per-day fold), then three (the range pass)
    p = run_py(root, "--conf", CONF, "--mode", "backfill", "--ds", "2023-12-01")
    assert p.returncode == 0, p.stderr
    assert f"wrote {keys} rows in 1 partition (2023-12-01..2023-12-01)" in p.stderr, p.stderr
    p = run_py(root, "--conf", CONF, "--mode", "backfill", "--start-ds", "2023-12-02", "--end-ds", "2023-12-04")
    assert p.returncode == 0, p.stderr
    assert f"wrote {3 * keys} rows in 3 partitions (2023-12-02..2023-12-04)" in p.stderr, p.stderr
    assert table_days(root) == days


@pytest.mark.parametrize("bad,needle", [
    ("2023/12/02", 'bad.csv: row 3: ds "2023/12/02" is not a YYYY-MM-DD date'),
    ("", "bad.csv: row 3: ds is empty (the partition column needs a YYYY-MM-DD date)"),
])
def test_load_bad_ds_names_file_and_row(tmp_path, bad, needle):
    # the writer's message named the table and a row of the batch counted from 0
    # ("table default.t2: row 2"), not the file; nothing is committed either way
    csv = tmp_path / "bad.csv"
    csv.write_text(f"ds,ts,user_id\n2023-12-01,1,1\n2023-12-01,2,2\n{bad},3,3\n")
    p = sh(tmp_path, BIN, "load", str(csv), "t2")
    assert p.returncode != 0 and needle in p.stderr and p.stderr.count("\n") == 1, p.stderr
    p = sh(tmp_path, BIN, "sql", "SELECT count(*) FROM default.t2")
    assert p.returncode != 0 and "not found" in p.stderr


def tree(path):
    return sorted(os.path.relpath(os.path.join(d, f), str(path)) for d, ds, fs in os.walk(str(path)) for f in ds + fs)


def test_failed_load_leaves_nothing(tmp_path):
    # a bad value far into the file: partitions were opened and written before it is met;
    # they left empty ds= folders (and a new table its own folders) behind
    (tmp_path / "a.csv").write_text("ds,ts,user_id\n2023-12-01,1,1\n2023-12-02,2,2\n")
    assert sh(tmp_path, BIN, "load", "a.csv", "t1").returncode == 0
    rows = ["2023-12-%02d,%d,%d" % (3 + i % 5, i, i) for i in range(200000)]
    (tmp_path / "b.csv").write_text("ds,ts,user_id\n" + "\n".join(rows) + "\n2023-12-09,5,abc\n")
    wh = tmp_path / "warehouse"
    before = [f for f in tree(wh) if not f.startswith("catalog.db")]
    for table in ("t1", "t2"):  # an existing table, a new one
        p = sh(tmp_path, BIN, "load", "b.csv", table)
        assert p.returncode == 1 and 'b.csv:200002:3: column "user_id": value "abc"' in p.stderr, p.stderr
        assert [f for f in tree(wh) if not f.startswith("catalog.db")] == before, table
    p = sh(tmp_path, BIN, "sql", "SELECT count(*) FROM default.t1")
    assert p.returncode == 0 and p.stdout.split()[-1] == "2", p.stdout
