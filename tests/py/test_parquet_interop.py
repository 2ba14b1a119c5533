"""Parquet interop, both directions, against two independent implementations.

We write, they read: CSV -> `chronon parquet convert` over every primitive type, with
nulls, an all-null and a never-null column, for each codec x dictionary on/off x page
v1/v2, in several row groups and pages; DuckDB (C library) and hyparquet (JavaScript)
must read exactly the values the CSV holds, and the null counts and min/max in our
statistics must match the data. Nested lists/maps (one level and deeper: maps of lists,
lists of lists, maps of maps, lists of maps) and required columns go through Parquet ->
Parquet conversion.

They write, we read: DuckDB (every codec, Parquet v1 and v2 pages with DELTA and
BYTE_STREAM_SPLIT encodings, dictionaries, several row groups, lists and maps with
nulls) and hyparquet-writer (DATA_PAGE_V2, codecs, explicit encodings, required and
nullable columns, lists); `chronon parquet cat --format json` must print what the
writer's own reader reads back."""
import csv
import math
import os
import random

import pytest

import parquet_checkers as pc

pc.require()

N_ROWS = 2500
RG_ROWS = 1000
CSV_SCHEMA = ("b:bool,i32:int32,i64:int64,f32:float32,f64:float64,d:date,ts:timestamp,"
              "s:string,cat:string,bin:binary,allnull:int64,dense:int64")
COLS = [c.split(":")[0] for c in CSV_SCHEMA.split(",")]
CODEC_NAMES = {"zstd": "ZSTD", "snappy": "SNAPPY", "gzip": "GZIP", "none": "UNCOMPRESSED"}


def make_rows(seed):
    """Rows as CSV text and as the values every reader must return (date as days,
    timestamp as epoch millis, floats as written)."""
    rnd = random.Random(seed)
    texts, values = [], []
    words = ["alpha", "béta", "γάμμα", "with,comma", 'with "quote"', "", " padded ", "line\nbreak"]
    for i in range(N_ROWS):
        t, v = {}, {}

        def put(col, text, val, null_ok=True):
            if null_ok and rnd.random() < 0.05:
                t[col], v[col] = None, None
            else:
                t[col], v[col] = text, val

        b = rnd.random() < 0.5
        put("b", "true" if b else "false", b)
        x = rnd.randint(-2**31, 2**31 - 1)
        put("i32", str(x), x)
        x = rnd.choice([rnd.randint(-2**63, 2**63 - 1), rnd.randint(-1000, 1000), 2**63 - 1, -2**63])
        put("i64", str(x), x)
        f = pc.f32(rnd.uniform(-1e6, 1e6))
        put("f32", repr(f), f)
        f = rnd.choice([rnd.uniform(-1e9, 1e9), rnd.random(), 0.0, -0.5, 1e300])
        put("f64", repr(f), f)
        days = rnd.randint(-1000, 30000)
        put("d", _ds(days), days)
        ms = rnd.randint(0, 2_000_000_000_000)
        put("ts", str(ms), ms)
        w = rnd.choice(words) + str(rnd.randint(0, 3))
        put("s", w, w)
        c = f"cat{rnd.randint(0, 19)}"
        put("cat", c, c)
        bb = "".join(chr(rnd.randint(32, 126)) for _ in range(rnd.randint(1, 12)))
        put("bin", bb, bb)
        t["allnull"], v["allnull"] = None, None
        t["dense"], v["dense"] = str(i * 7), i * 7
        texts.append(t)
        values.append(v)
    return texts, values


def _ds(days):
    import datetime
    return (datetime.date(1970, 1, 1) + datetime.timedelta(days=days)).isoformat()


def write_csv(path, texts):
    with open(path, "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(COLS)
        for t in texts:
            # An empty unquoted field is null; csv.writer quotes "" for empty strings
            # only with QUOTE_NONNUMERIC-like rules, so write fields by hand.
            f.write(",".join(_csv_field(t[c]) for c in COLS) + "\n")


def _csv_field(x):
    if x is None:
        return ""
    if x == "" or any(ch in x for ch in ',"\n\r') or x != x.strip(" "):
        return '"' + x.replace('"', '""') + '"'
    return x


DUCK_SELECT = ("SELECT b, i32, i64, f32, f64, (d - DATE '1970-01-01') AS d, epoch_ms(ts) AS ts, s, cat, "
               "bin, allnull, dense FROM read_parquet('{}')")


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("pq_interop")
    texts, values = make_rows(20231130)
    path = str(tmp / "in.csv")
    write_csv(path, texts)
    return tmp, path, values


# Encodings of the pages: dictionary, or without one PLAIN or the DELTA family.
ENCODINGS = {
    "dict": ([], {"s": "DICTIONARY"}),
    "plain": (["--no-dictionary"], {"i64": "PLAIN", "s": "PLAIN"}),
    "delta-length": (["--no-dictionary", "--int-encoding", "delta", "--bytes-encoding", "delta-length"],
                     {"i64": "DELTA_BINARY_PACKED", "s": "DELTA_LENGTH_BYTE_ARRAY"}),
    "delta": (["--no-dictionary", "--int-encoding", "delta", "--bytes-encoding", "delta"],
              {"i64": "DELTA_BINARY_PACKED", "s": "DELTA_BYTE_ARRAY", "d": "DELTA_BINARY_PACKED"}),
}


CODECS = ["zstd", "snappy", "gzip", "none"]


# Every codec x encoding pair, each with one page version; the version alternates so each
# encoding and each codec is also read back in both page versions (pairwise coverage: the
# full three-way product doubled the checkers' time without a pair it alone would cover).
@pytest.mark.parametrize("codec,enc,page_version",
                         [(c, e, "12"[(i + j) % 2]) for i, c in enumerate(CODECS) for j, e in enumerate(ENCODINGS)])
def test_we_write_they_read(data, codec, enc, page_version):
    tmp, csv_path, want = data
    out = str(tmp / f"ours-{codec}-{enc}-{page_version}.parquet")
    flags, expect_enc = ENCODINGS[enc]
    dictionary = enc == "dict"
    pc.chronon("parquet", "convert", csv_path, out, "--codec", codec, "--row-group-rows", RG_ROWS,
               "--schema", CSV_SCHEMA, "--page-version", page_version, "--page-bytes", 4096, *flags)

    # Values: ours, DuckDB, hyparquet all equal the CSV's.
    pc.assert_rows_equal(pc.cat(out), want, "chronon parquet cat", float32_cols=["f32"])
    pc.assert_rows_equal(pc.duck(DUCK_SELECT.format(out)), want, "DuckDB", float32_cols=["f32"])
    pc.assert_rows_equal(pc.hyp_read(out), want, "hyparquet", float32_cols=["f32"])

    # Footer as DuckDB sees it: codec, encodings, row groups, null counts, min/max.
    meta = pc.duck(f"SELECT row_group_id, row_group_num_rows, path_in_schema, compression, encodings, "
                   f"stats_null_count, stats_min_value, stats_max_value FROM parquet_metadata('{out}')")
    n_groups = math.ceil(N_ROWS / RG_ROWS)
    assert sorted({m["row_group_id"] for m in meta}) == list(range(n_groups))
    for m in meta:
        g, col = m["row_group_id"], m["path_in_schema"]
        rows = want[g * RG_ROWS:(g + 1) * RG_ROWS]
        assert m["row_group_num_rows"] == len(rows)
        assert m["compression"] == CODEC_NAMES[codec], m
        nulls = sum(1 for r in rows if r[col] is None)
        assert m["stats_null_count"] == nulls, f"{col} row group {g}: null count {m['stats_null_count']}, expected {nulls}"
        if col in ("i32", "i64", "dense"):
            vals = [r[col] for r in rows if r[col] is not None]
            assert int(m["stats_min_value"]) == min(vals), (col, g)
            assert int(m["stats_max_value"]) == max(vals), (col, g)
        if col == "allnull":
            assert m["stats_min_value"] is None and m["stats_max_value"] is None
        if col == "cat":
            has_dict = "DICTIONARY" in m["encodings"]
            assert has_dict == dictionary, f"cat encodings {m['encodings']} with dictionary={dictionary}"
        if col in expect_enc:
            assert expect_enc[col] in m["encodings"], f"{col}: encodings {m['encodings']}, expected {expect_enc[col]}"
            if not dictionary:
                assert "DICTIONARY" not in m["encodings"], m["encodings"]

    # The same footer through hyparquet.
    hm = pc.hyp_meta(out)
    assert hm["num_rows"] == N_ROWS
    assert [rg["num_rows"] for rg in hm["row_groups"]] == [len(want[g * RG_ROWS:(g + 1) * RG_ROWS]) for g in range(n_groups)]
    for g, rg in enumerate(hm["row_groups"]):
        for c in rg["columns"]:
            assert c["codec"] == CODEC_NAMES[codec]
            nulls = sum(1 for r in want[g * RG_ROWS:(g + 1) * RG_ROWS] if r[c["path"]] is None)
            assert c["null_count"] == nulls, (c["path"], g)

    # Our own stats agree with DuckDB's reading of them.
    st = pc.stats(out)
    assert st["rows"] == N_ROWS and len(st["row_groups"]) == n_groups
    for g, rg in enumerate(st["row_groups"]):
        for c in rg["columns"]:
            nulls = sum(1 for r in want[g * RG_ROWS:(g + 1) * RG_ROWS] if r[c["path"]] is None)
            assert c["nulls"] == nulls and c["codec"] == CODEC_NAMES[codec]


def test_projection_and_limit_match_duckdb(data):
    tmp, csv_path, want = data
    out = str(tmp / "proj.parquet")
    pc.chronon("parquet", "convert", csv_path, out, "--schema", CSV_SCHEMA, "--row-group-rows", 700)
    got = pc.cat(out, "--columns", "s,i64", "--limit", 1234)
    assert got == pc.duck(f"SELECT s, i64 FROM read_parquet('{out}') LIMIT 1234")
    assert [list(r) for r in got[:1]] == [["s", "i64"]]


@pytest.fixture(scope="module")
def required_src(tmp_path_factory):
    """A hyparquet-writer file with REQUIRED columns of every physical type, and the
    values DuckDB reads from it."""
    tmp = tmp_path_factory.mktemp("pq_required")
    src = str(tmp / "req.parquet")
    n = 3000
    rnd = random.Random(11)
    pc.hyp_write({"codec": "UNCOMPRESSED", "rowGroupSize": 1000, "columns": [
        {"name": "k", "type": "INT64", "nullable": False, "data": [rnd.randint(-2**63, 2**63 - 1) for _ in range(n)]},
        {"name": "i", "type": "INT32", "nullable": False, "data": [rnd.randint(-2**31, 2**31 - 1) for _ in range(n)]},
        {"name": "f", "type": "FLOAT", "nullable": False, "data": [pc.f32(rnd.uniform(-1e3, 1e3)) for _ in range(n)]},
        {"name": "d", "type": "DOUBLE", "nullable": False, "data": [rnd.uniform(-1e9, 1e9) for _ in range(n)]},
        {"name": "b", "type": "BOOLEAN", "nullable": False, "data": [rnd.random() < 0.3 for _ in range(n)]},
        {"name": "s", "type": "STRING", "nullable": False, "data": [f"s{i % 13}" for i in range(n)]},
        {"name": "bin", "type": "BYTE_ARRAY", "nullable": False, "data": [chr(i % 200 + 32) * (i % 5) for i in range(n)]},
        {"name": "o", "type": "DOUBLE", "nullable": True, "data": [None if i % 9 == 0 else i / 4 for i in range(n)]}]},
        src, str(tmp))
    want = pc.duck(f"SELECT * FROM read_parquet('{src}')")
    assert len(want) == n
    return src, want


@pytest.mark.parametrize("enc", list(ENCODINGS))
@pytest.mark.parametrize("codec", ["zstd", "snappy", "gzip", "none"])
def test_required_columns_keep_repetition(tmp_path, required_src, codec, enc):
    """Our Parquet -> Parquet conversion keeps REQUIRED columns required (with each
    codec and encoding), and DuckDB, hyparquet and we read the original's values."""
    src, want = required_src
    out = str(tmp_path / "ours.parquet")
    pc.chronon("parquet", "convert", src, out, "--codec", codec, "--row-group-rows", 1200, *ENCODINGS[enc][0])
    reps = {r["name"]: r["repetition_type"] for r in pc.duck(f"SELECT name, repetition_type FROM parquet_schema('{out}')")}
    assert all(reps[c] == "REQUIRED" for c in ("k", "i", "f", "d", "b", "s", "bin")), reps
    assert reps["o"] == "OPTIONAL"
    pc.assert_rows_equal(pc.cat(out), want, "chronon on ours", float32_cols=["f"])
    pc.assert_rows_equal(pc.duck(f"SELECT * FROM read_parquet('{out}')"), want, "DuckDB on ours", float32_cols=["f"])
    pc.assert_rows_equal(pc.hyp_read(out), want, "hyparquet on ours", float32_cols=["f"])


NESTED_SQL = """SELECT range AS id,
  CASE WHEN range % 7 = 0 THEN NULL WHEN range % 5 = 0 THEN [] ELSE [range, NULL, range * 2] END AS li,
  CASE WHEN range % 4 = 0 THEN NULL ELSE ['a' || (range % 3), NULL, ''] END AS ls,
  CASE WHEN range % 6 = 0 THEN NULL WHEN range % 11 = 0 THEN MAP {} ELSE
       MAP {'k' || (range % 3): range, 'z': CASE WHEN range % 2 = 0 THEN NULL ELSE range + 1 END} END AS m,
  [range / 2.0] AS lf
FROM range(5000)"""


@pytest.mark.parametrize("codec", ["ZSTD", "SNAPPY", "GZIP", "UNCOMPRESSED"])
def test_nested_lists_maps_both_directions(tmp_path, codec):
    src = str(tmp_path / "duck_nested.parquet")
    pc.duck(f"COPY ({NESTED_SQL}) TO '{src}' (FORMAT PARQUET, COMPRESSION {codec}, ROW_GROUP_SIZE 2048)")
    want = pc.duck(f"SELECT * FROM read_parquet('{src}')")
    assert len(want) == 5000
    pc.assert_rows_equal(pc.cat(src), want, f"chronon reading DuckDB nested {codec}")
    # And back: our writer's nested output read by both checkers.
    ours = str(tmp_path / "ours_nested.parquet")
    pc.chronon("parquet", "convert", src, ours, "--codec", {"UNCOMPRESSED": "none"}.get(codec, codec.lower()),
               "--row-group-rows", 1500)
    pc.assert_rows_equal(pc.duck(f"SELECT * FROM read_parquet('{ours}')"), want, "DuckDB reading our nested")
    pc.assert_rows_equal(pc.hyp_read(ours), want, "hyparquet reading our nested")


# Two and more list/map levels, with nulls and empties at every level: map<string,
# list<long>> (the GroupBy's bucketed LAST_K shape), list<list<string>>, map<string,
# map<string,double>>, list<map<string,long>> and three list levels.
DEEP_SQL = """SELECT
  range AS k,
  (CASE WHEN range % 11 = 0 THEN NULL
        WHEN range % 7 = 0 THEN MAP {}
        ELSE MAP {'b' || (range % 3): CASE WHEN range % 5 = 0 THEN NULL WHEN range % 4 = 0 THEN []
                                          ELSE [range, NULL, range * 2][1:1 + range % 3] END,
                  'z': [range % 10]} END)::MAP(VARCHAR, BIGINT[]) AS ml,
  (CASE WHEN range % 13 = 0 THEN NULL WHEN range % 6 = 0 THEN []
        ELSE [['a' || range, NULL], NULL, [], ['x']][1:1 + range % 4] END)::VARCHAR[][] AS ll,
  (CASE WHEN range % 9 = 0 THEN NULL
        ELSE MAP {'o' || (range % 2): CASE WHEN range % 4 = 0 THEN NULL WHEN range % 5 = 0 THEN MAP {}
                                          ELSE MAP {'i': range / 4.0, 'j': CASE WHEN range % 3 = 0 THEN NULL
                                                                               ELSE range END} END} END
  )::MAP(VARCHAR, MAP(VARCHAR, DOUBLE)) AS mm,
  (CASE WHEN range % 8 = 0 THEN NULL
        ELSE [MAP {'p': range}, NULL, MAP {}][1:1 + range % 3] END)::MAP(VARCHAR, BIGINT)[] AS lm,
  (CASE WHEN range % 10 = 0 THEN NULL
        ELSE [[[range, NULL]], [NULL, []], []][1:1 + range % 3] END)::INTEGER[][][] AS lll
FROM range(2500)"""


@pytest.mark.parametrize("version", ["V1", "V2"])
def test_deep_nesting_both_directions(tmp_path, version):
    src = str(tmp_path / f"duck_deep_{version}.parquet")
    pc.duck(f"COPY ({DEEP_SQL}) TO '{src}' (FORMAT PARQUET, COMPRESSION ZSTD, ROW_GROUP_SIZE 1500, "
            f"PARQUET_VERSION {version})")
    want = pc.duck(f"SELECT * FROM read_parquet('{src}')")
    assert len(want) == 2500
    # the shapes this test exists for: nulls and empties at both levels
    assert any(r["ml"] is not None and any(v is None for v in r["ml"].values()) for r in want)
    assert any(r["ml"] is not None and any(v == [] for v in r["ml"].values()) for r in want)
    assert any(r["ll"] and None in r["ll"] and [] in r["ll"] for r in want)
    assert any(r["mm"] and {} in r["mm"].values() for r in want)
    pc.assert_rows_equal(pc.cat(src), want, f"chronon reading DuckDB deep nesting {version}")
    schema = pc.chronon("parquet", "schema", src).stdout
    assert "ml: map<string,list<int64>>" in schema and "mm: map<string,map<string,float64>>" in schema, schema
    # And back: our writer's output read by both checkers.
    for pv in ("1", "2"):
        ours = str(tmp_path / f"ours_deep_{version}_{pv}.parquet")
        pc.chronon("parquet", "convert", src, ours, "--row-group-rows", 1700, "--page-version", pv)
        pc.assert_rows_equal(pc.duck(f"SELECT * FROM read_parquet('{ours}')"), want,
                             f"DuckDB reading our deep nesting (pages v{pv})")
        pc.assert_rows_equal(pc.hyp_read(ours), want, f"hyparquet reading our deep nesting (pages v{pv})")
        pc.assert_rows_equal(pc.cat(ours), want, f"chronon reading its own deep nesting (pages v{pv})")


FLAT_SQL = """SELECT
  CASE WHEN range % 17 = 0 THEN NULL ELSE range % 3 = 0 END AS b,
  CASE WHEN range % 13 = 0 THEN NULL ELSE (hash(range) % 2000000)::INTEGER - 1000000 END AS i32,
  CASE WHEN range % 11 = 0 THEN NULL ELSE (hash(range) % 9223372036854775807)::BIGINT * (1 - 2 * (range % 2)) END AS i64,
  CASE WHEN range % 19 = 0 THEN NULL ELSE (range / 8.0)::FLOAT END AS f32,
  CASE WHEN range % 23 = 0 THEN NULL ELSE (range * 1.0001 - 2500)::DOUBLE END AS f64,
  CASE WHEN range % 29 = 0 THEN NULL ELSE DATE '2020-02-29' + (range % 1500)::INTEGER END AS d,
  CASE WHEN range % 31 = 0 THEN NULL ELSE TIMESTAMP '2023-11-30 12:00:00' + INTERVAL (range * 1013) MILLISECOND END AS ts,
  CASE WHEN range % 37 = 0 THEN NULL ELSE 'cat' || (range % 40) END AS cat,
  CASE WHEN range % 41 = 0 THEN NULL ELSE md5(range::VARCHAR) || '✓' END AS s,
  CASE WHEN range % 43 = 0 THEN NULL ELSE ('\\x' || lpad(to_hex(range % 256), 2, '0'))::BLOB END AS bin,
  range AS k
FROM range(6000)"""
FLAT_READ = ("SELECT b, i32, i64, f32, f64, (d - DATE '1970-01-01') AS d, epoch_ms(ts) AS ts, cat, s, bin, k "
             "FROM read_parquet('{}')")


@pytest.mark.parametrize("version", ["V1", "V2"])
@pytest.mark.parametrize("codec", ["ZSTD", "SNAPPY", "GZIP", "UNCOMPRESSED"])
def test_duckdb_writes_we_read(tmp_path, codec, version):
    src = str(tmp_path / f"duck-{codec}-{version}.parquet")
    pc.duck(f"COPY ({FLAT_SQL}) TO '{src}' (FORMAT PARQUET, COMPRESSION {codec}, ROW_GROUP_SIZE 2048, "
            f"PARQUET_VERSION {version})")
    meta = pc.duck(f"SELECT row_group_id, encodings FROM parquet_metadata('{src}')")
    assert len({m["row_group_id"] for m in meta}) >= 2, "expected several row groups"
    # The encodings this case exists for are really in the file.
    encodings = {m["encodings"] for m in meta}
    expected = ({"DELTA_BINARY_PACKED", "BYTE_STREAM_SPLIT", "DELTA_LENGTH_BYTE_ARRAY", "RLE_DICTIONARY"}
                if version == "V2" else {"PLAIN", "PLAIN_DICTIONARY"})
    assert expected <= encodings, f"DuckDB {version} wrote encodings {encodings}"
    want = pc.duck(FLAT_READ.format(src))
    assert len(want) == 6000
    pc.assert_rows_equal(pc.cat(src), want, f"chronon reading DuckDB {codec} {version}", float32_cols=["f32"])
    # Null counts and row groups as our stats report them equal DuckDB's footer.
    st = pc.stats(src)
    theirs = pc.duck(f"SELECT row_group_id, path_in_schema, stats_null_count, compression FROM parquet_metadata('{src}')")
    for m in theirs:
        c = next(c for c in st["row_groups"][m["row_group_id"]]["columns"] if c["path"] == m["path_in_schema"])
        assert c["nulls"] == m["stats_null_count"] and c["codec"] == m["compression"], (c, m)


@pytest.mark.parametrize("codec", ["SNAPPY", "GZIP", "UNCOMPRESSED"])
def test_hyparquet_writes_we_read(tmp_path, codec):
    """hyparquet-writer writes DATA_PAGE_V2 pages; default and explicit encodings."""
    n = 2500
    rnd = random.Random(7)
    cols = [
        {"name": "i64", "type": "INT64", "nullable": True,
         "data": [None if i % 10 == 0 else rnd.randint(-2**62, 2**62) for i in range(n)]},
        {"name": "i64_delta", "type": "INT64", "nullable": False, "encoding": "DELTA_BINARY_PACKED",
         "data": [i * 3 - 100 for i in range(n)]},
        {"name": "i32", "type": "INT32", "nullable": True, "data": [None if i % 7 == 0 else i - 1000 for i in range(n)]},
        {"name": "f64", "type": "DOUBLE", "nullable": True, "data": [None if i % 9 == 0 else i / 3 for i in range(n)]},
        {"name": "f64_bss", "type": "DOUBLE", "nullable": False, "encoding": "BYTE_STREAM_SPLIT",
         "data": [i * 0.25 for i in range(n)]},
        {"name": "f32", "type": "FLOAT", "nullable": True, "data": [None if i % 5 == 0 else i / 8 for i in range(n)]},
        {"name": "b", "type": "BOOLEAN", "nullable": True, "data": [None if i % 6 == 0 else i % 3 == 0 for i in range(n)]},
        {"name": "s", "type": "STRING", "nullable": True, "data": [None if i % 8 == 0 else f"v{i % 30}" for i in range(n)]},
        {"name": "s_dlba", "type": "STRING", "nullable": False, "encoding": "DELTA_LENGTH_BYTE_ARRAY",
         "data": [f"len{i}" * (i % 4) for i in range(n)]},
        {"name": "s_dba", "type": "STRING", "nullable": True, "encoding": "DELTA_BYTE_ARRAY",
         "data": [None if i % 11 == 0 else f"prefix/common/{i:06d}" for i in range(n)]},
    ]
    src = str(tmp_path / f"hyp-{codec}.parquet")
    pc.hyp_write({"codec": codec, "rowGroupSize": 1000, "pageSize": 2048, "columns": cols}, src, str(tmp_path))
    want = pc.hyp_read(src)
    assert len(want) == n
    used = {e for rg in pc.hyp_meta(src)["row_groups"] for c in rg["columns"] for e in c["encodings"]}
    assert {"DELTA_BINARY_PACKED", "BYTE_STREAM_SPLIT", "DELTA_LENGTH_BYTE_ARRAY", "DELTA_BYTE_ARRAY"} <= used, used
    got = pc.cat(src)
    pc.assert_rows_equal(got, want, f"chronon reading hyparquet-writer {codec}", float32_cols=["f32"])
    # DuckDB agrees with hyparquet on the same file (both checkers see one truth).
    pc.assert_rows_equal(pc.duck(f"SELECT * FROM read_parquet('{src}')"), want, "DuckDB reading hyparquet-writer",
                         float32_cols=["f32"])


def test_hyparquet_nested_list_we_read(tmp_path):
    schema = [
        {"name": "root", "num_children": 2},
        {"name": "id", "type": "INT32", "repetition_type": "REQUIRED"},
        {"name": "tags", "repetition_type": "OPTIONAL", "converted_type": "LIST", "num_children": 1},
        {"name": "list", "repetition_type": "REPEATED", "num_children": 1},
        {"name": "element", "type": "BYTE_ARRAY", "converted_type": "UTF8", "repetition_type": "OPTIONAL"},
    ]
    n = 1200
    tags = [None if i % 5 == 0 else [] if i % 7 == 0 else [f"t{i % 4}", None, f"u{i}"][: 1 + i % 3] for i in range(n)]
    src = str(tmp_path / "hyp-list.parquet")
    pc.hyp_write({"codec": "SNAPPY", "rowGroupSize": 500, "schema": schema,
                  "columns": [{"name": "id", "data": list(range(n))}, {"name": "tags", "data": tags}]},
                 src, str(tmp_path))
    want = [{"id": i, "tags": t} for i, t in enumerate(tags)]
    pc.assert_rows_equal(pc.hyp_read(src), want, "hyparquet reading its own list")
    pc.assert_rows_equal(pc.cat(src), want, "chronon reading hyparquet-writer list")
