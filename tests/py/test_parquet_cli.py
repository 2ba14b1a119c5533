"""`chronon parquet schema|cat|stats|convert`: output, --help, and bad input. Bad input
(truncated files, bad magic, corrupted footer or page header, an unsupported codec,
malformed CSV) must give one error line naming the file (and the column and row group
where one is known), a non-zero exit, never a crash, and no output file left behind."""
import json
import os
import struct
import subprocess

import pytest

import parquet_checkers as pc

pc.require(hyparquet=False)

CSV = "\n".join([
    "ds,ts,user_id,price,ok,note",
    '2023-11-30,1701374234059,26,177.5,true,"a, b"',
    "2023-11-30,1701351870602,98,,false,",
    '2023-12-01,1701341982988,,37,,"say ""hi"""',
]) + "\n"


@pytest.fixture()
def good(tmp_path):
    csv_path = tmp_path / "p.csv"
    csv_path.write_text(CSV)
    out = tmp_path / "p.parquet"
    pc.chronon("parquet", "convert", csv_path, out, "--codec", "snappy")
    return tmp_path, str(out)


def one_error_line(p, *needles):
    assert p.returncode == 1, f"exit {p.returncode} (a negative code is a crash): {p.stderr}"
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1, f"expected one error line, got: {p.stderr!r}"
    assert lines[0].startswith("chronon parquet: "), lines[0]
    for n in needles:
        assert n in lines[0], f"{n!r} not in {lines[0]!r}"
    return lines[0]


def test_convert_csv_infers_and_cat_prints(good):
    tmp, out = good
    rows = pc.cat(out)
    assert rows == [
        {"ds": "2023-11-30", "ts": 1701374234059, "user_id": 26, "price": 177.5, "ok": True, "note": "a, b"},
        {"ds": "2023-11-30", "ts": 1701351870602, "user_id": 98, "price": None, "ok": False, "note": None},
        {"ds": "2023-12-01", "ts": 1701341982988, "user_id": None, "price": 37, "ok": None, "note": 'say "hi"'},
    ]
    # DuckDB sees the same types: ds string, ts int64 (epoch millis, not a timestamp).
    types = {r["name"]: r["type"] for r in pc.duck(f"SELECT name, type FROM parquet_schema('{out}')")}
    assert types["ds"] == "BYTE_ARRAY" and types["ts"] == "INT64" and types["price"] == "DOUBLE"
    assert types["ok"] == "BOOLEAN"


def test_cat_csv_round_trips(good):
    tmp, out = good
    text = pc.chronon("parquet", "cat", out, "--format", "csv").stdout
    assert text.splitlines()[0] == "ds,ts,user_id,price,ok,note"
    again = tmp / "again.csv"
    again.write_text(text)
    out2 = str(tmp / "again.parquet")
    pc.chronon("parquet", "convert", again, out2)
    assert pc.cat(out2) == pc.cat(out)


def test_cat_limit_and_columns(good):
    tmp, out = good
    assert pc.cat(out, "--limit", "2", "--columns", "note,user_id") == [
        {"note": "a, b", "user_id": 26}, {"note": None, "user_id": 98}]
    p = pc.chronon("parquet", "cat", out, "--columns", "user_id,nope", check=False)
    one_error_line(p, "nope", os.path.basename(out))


def test_schema_and_stats(good):
    tmp, out = good
    s = pc.chronon("parquet", "schema", out).stdout
    assert "rows: 3" in s and "ds: string nullable" in s and "ts: int64 nullable" in s
    assert "price: float64 nullable" in s and "ok: bool nullable" in s
    st = pc.stats(out)
    assert st["rows"] == 3 and len(st["row_groups"]) == 1
    cols = {c["path"]: c for c in st["row_groups"][0]["columns"]}
    assert cols["user_id"]["nulls"] == 1 and cols["user_id"]["min"] == 26 and cols["user_id"]["max"] == 98
    assert cols["ds"]["min"] == "2023-11-30" and cols["ds"]["max"] == "2023-12-01"
    assert cols["price"]["codec"] == "SNAPPY"
    text = pc.chronon("parquet", "stats", out).stdout
    assert "row group 0: rows 3" in text and "SNAPPY" in text


def test_convert_options_reach_the_file(tmp_path):
    csv_path = tmp_path / "n.csv"
    csv_path.write_text("k,v\n" + "".join(f"{i},{i % 3}\n" for i in range(100)))
    for codec, name in [("zstd", "ZSTD"), ("gzip", "GZIP"), ("none", "UNCOMPRESSED"), ("snappy", "SNAPPY")]:
        out = str(tmp_path / f"n-{codec}.parquet")
        pc.chronon("parquet", "convert", csv_path, out, "--codec", codec, "--row-group-rows", "30",
                   "--schema", "v:int32")
        st = pc.stats(out)
        assert [g["rows"] for g in st["row_groups"]] == [30, 30, 30, 10]
        assert {c["codec"] for g in st["row_groups"] for c in g["columns"]} == {name}
        assert "INT32" in {c["physical"] for g in st["row_groups"] for c in g["columns"]}


@pytest.mark.parametrize("sub", ["schema", "cat", "stats", "convert"])
def test_help(sub):
    p = pc.chronon("parquet", sub, "--help")
    assert p.stdout.startswith(f"usage: chronon parquet {sub}")
    top = pc.chronon("parquet", "--help").stdout
    assert sub in top


def test_usage_errors(good):
    tmp, out = good
    p = pc.chronon("parquet", "cat", out, "--format", "xml", check=False)
    assert p.returncode == 2 and "--format xml" in p.stderr
    p = pc.chronon("parquet", "convert", out, str(tmp / "x.parquet"), "--codec", "lz5", check=False)
    assert p.returncode == 2 and "--codec lz5" in p.stderr
    p = pc.chronon("parquet", "frob", check=False)
    assert p.returncode == 2 and "unknown command 'frob'" in p.stderr


def files_in(d):
    return sorted(os.listdir(d))


@pytest.mark.parametrize("case", [
    ("bad.csv", "a,b\n1,2\n3,oops\n", ["--schema", "b:int64"], ["bad.csv:3:2", 'column "b"', '"oops"', "int64"]),
    ("unclosed.csv", 'a,b\n1,"x\n', [], ["unclosed.csv:2:2", "never closed"]),
    ("ragged.csv", "a,b\n1,2\n3\n", [], ["ragged.csv:3", "1 field", "2 columns"]),
    ("late.csv", "a\n" + "1\n" * 1500 + "x\n", [], ["late.csv:1502:1", 'column "a"', '"x"', "int64"]),
])
def test_bad_csv_leaves_no_output(tmp_path, case):
    name, text, extra, needles = case
    src = tmp_path / name
    src.write_text(text)
    outdir = tmp_path / "out"
    outdir.mkdir()
    p = pc.chronon("parquet", "convert", src, outdir / "o.parquet", *extra, check=False)
    one_error_line(p, *needles)
    assert files_in(outdir) == [], "a failed convert left files behind"


def test_missing_input(tmp_path):
    p = pc.chronon("parquet", "cat", tmp_path / "nope.parquet", check=False)
    one_error_line(p, "nope.parquet")
    p = pc.chronon("parquet", "convert", tmp_path / "nope.csv", tmp_path / "o.parquet", check=False)
    one_error_line(p, "nope.csv")
    assert not (tmp_path / "o.parquet").exists()


# ------------------------------------------------------------ bad Parquet files

def duck_file(tmp_path, name="g.parquet", codec="ZSTD"):
    path = str(tmp_path / name)
    pc.duck(f"COPY (SELECT range AS k, 'v' || (range % 10) AS s, range / 2.0 AS d FROM range(5000)) "
            f"TO '{path}' (FORMAT PARQUET, COMPRESSION {codec}, ROW_GROUP_SIZE 2048)")
    return path


def page_offsets(path):
    return pc.duck(f"SELECT row_group_id, path_in_schema, data_page_offset, dictionary_page_offset, "
                   f"total_compressed_size FROM parquet_metadata('{path}') ORDER BY row_group_id, column_id")


def corrupt(src, dst, fn):
    data = bytearray(open(src, "rb").read())
    data = fn(data)
    open(dst, "wb").write(bytes(data))
    return dst


def check_bad_file(path, tmp_path, *needles):
    base = os.path.basename(path)
    for cmd in (["cat", path], ["stats", path], ["schema", path]):
        p = pc.chronon("parquet", *cmd, check=False)
        if cmd[0] != "cat" and p.returncode == 0:
            continue  # damage past the footer shows only when pages are read
        one_error_line(p, base, *needles)
    outdir = tmp_path / ("out-" + base)
    outdir.mkdir()
    p = pc.chronon("parquet", "convert", path, outdir / "o.parquet", check=False)
    one_error_line(p, base, *needles)
    assert files_in(outdir) == []


def test_truncated_files(tmp_path):
    g = duck_file(tmp_path)
    size = os.path.getsize(g)
    for cut in (0, 3, 7, 12, size // 2, size - 1, size - 5, size - 9):
        bad = corrupt(g, str(tmp_path / f"trunc{cut}.parquet"), lambda d: d[:cut])
        check_bad_file(bad, tmp_path)


def test_bad_magic(tmp_path):
    g = duck_file(tmp_path)
    check_bad_file(corrupt(g, str(tmp_path / "tail.parquet"), lambda d: d[:-4] + b"PARX"), tmp_path, "PAR1")
    check_bad_file(corrupt(g, str(tmp_path / "head.parquet"), lambda d: b"XXXX" + d[4:]), tmp_path, "PAR1")


def test_corrupted_footer(tmp_path):
    g = duck_file(tmp_path)
    data = open(g, "rb").read()
    flen = struct.unpack("<I", data[-8:-4])[0]

    def huge_len(d):
        d[-8:-4] = struct.pack("<I", len(d) * 4)
        return d

    def garble(d):
        start = len(d) - 8 - flen
        for i in range(start, start + flen // 2):
            d[i] = 0xFF
        return d

    check_bad_file(corrupt(g, str(tmp_path / "flen.parquet"), huge_len), tmp_path)
    check_bad_file(corrupt(g, str(tmp_path / "fgarble.parquet"), garble), tmp_path)


def test_corrupted_page_header_names_column_and_row_group(tmp_path):
    g = duck_file(tmp_path)
    offs = page_offsets(g)
    # Damage the page header of column s in row group 1.
    target = next(o for o in offs if o["row_group_id"] == 1 and o["path_in_schema"] == "s")
    start = target["dictionary_page_offset"] or target["data_page_offset"]

    def smash(d):
        d[start:start + 6] = b"\xff\xff\xff\xff\xff\xff"
        return d

    bad = corrupt(g, str(tmp_path / "page.parquet"), smash)
    check_bad_file(bad, tmp_path, '"s"', "row group 1")


def test_corrupted_compressed_page_names_column(tmp_path):
    g = duck_file(tmp_path, codec="SNAPPY")
    offs = page_offsets(g)
    target = next(o for o in offs if o["row_group_id"] == 0 and o["path_in_schema"] == "d")
    start = target["data_page_offset"]
    end = start + target["total_compressed_size"]

    def smash(d):
        # keep the page header (first ~24 bytes), destroy the snappy stream
        for i in range(start + 24, end):
            d[i] = 0xEE
        return d

    bad = corrupt(g, str(tmp_path / "snap.parquet"), smash)
    check_bad_file(bad, tmp_path, '"d"', "row group 0")


@pytest.mark.parametrize("codec", ["LZ4_RAW", "BROTLI"])
def test_unsupported_codec(tmp_path, codec):
    g = duck_file(tmp_path, name=f"{codec}.parquet", codec=codec)
    check_bad_file(g, tmp_path, '"k"', "row group 0", codec)


def test_unsupported_column_type_is_named_not_dropped(tmp_path):
    """A whole-file cat/convert must not silently drop a column the reader cannot
    decode (DECIMAL); asking only for the other columns works."""
    src = str(tmp_path / "dec.parquet")
    pc.duck(f"COPY (SELECT range AS a, (range / 4)::DECIMAL(10, 2) AS price, 'x' AS b FROM range(10)) TO '{src}' (FORMAT PARQUET)")
    one_error_line(pc.chronon("parquet", "cat", src, check=False), "dec.parquet", '"price"', "DECIMAL")
    outdir = tmp_path / "out"
    outdir.mkdir()
    one_error_line(pc.chronon("parquet", "convert", src, outdir / "o.parquet", check=False), '"price"', "DECIMAL")
    assert files_in(outdir) == []
    assert pc.cat(src, "--columns", "a,b", "--limit", "2") == [{"a": 0, "b": "x"}, {"a": 1, "b": "x"}]
    assert 'price: unsupported' in pc.chronon("parquet", "schema", src).stdout
