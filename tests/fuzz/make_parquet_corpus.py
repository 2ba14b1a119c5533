"""Regenerates tests/fuzz/corpus/parquet/: small Parquet files written by DuckDB and
hyparquet-writer (every codec and page kind we read, nested columns, dictionaries) and
corrupted variants of them. ok-* must read cleanly, bad-* must fail with an error
naming the file (see replay_main.c). Needs the checkers (scripts/checkers.sh) and a
build dir with tests/checkers/duckdb_tool:

    /usr/bin/python3 tests/fuzz/make_parquet_corpus.py BUILD_DIR
"""
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile

src = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
out = os.path.join(src, "tests", "fuzz", "corpus", "parquet")
tool = os.path.join(sys.argv[1], "tests", "checkers", "duckdb_tool")


def duck(*sql):
    subprocess.run([tool, *sql], check=True, stdout=subprocess.DEVNULL)


def hyp(spec, path):
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(spec, f)
    subprocess.run(["node", os.path.join(src, "tests", "checkers", "hyparquet_write.mjs"), f.name, path], check=True)
    os.unlink(f.name)


def main():
    os.makedirs(out, exist_ok=True)
    for f in os.listdir(out):
        os.unlink(os.path.join(out, f))
    p = lambda n: os.path.join(out, n)
    flat = ("SELECT range::INT AS i32, range*1000000007 AS i64, range/3.0 AS f64, (range/7)::FLOAT AS f32, "
            "range%2=0 AS b, CASE WHEN range%5=0 THEN NULL ELSE 'v'||(range%4) END AS s, "
            "DATE '2023-11-01'+range::INT AS d, TIMESTAMP '2023-11-01' + INTERVAL (range) MINUTE AS ts FROM range(40)")
    for codec in ("ZSTD", "SNAPPY", "GZIP", "UNCOMPRESSED"):
        duck(f"COPY ({flat}) TO '{p('ok-duckdb-flat-' + codec.lower() + '.parquet')}' (FORMAT PARQUET, COMPRESSION {codec})")
    duck(f"COPY (SELECT [range, NULL, range+1] AS l, MAP {{'k'||range: range}} AS m, "
         f"CASE WHEN range%3=0 THEN NULL ELSE ['x','y'] END AS ls FROM range(12)) "
         f"TO '{p('ok-duckdb-nested.parquet')}' (FORMAT PARQUET, COMPRESSION SNAPPY)")
    duck(f"COPY (SELECT 'cat'||(range%7) AS c, range%3 AS k FROM range(300)) "
         f"TO '{p('ok-duckdb-dict.parquet')}' (FORMAT PARQUET, COMPRESSION UNCOMPRESSED)")
    hyp({"codec": "SNAPPY", "rowGroupSize": 5, "columns": [
        {"name": "a", "type": "INT64", "nullable": True, "data": [1, None, 3, 4, 5, 6, None, 8]},
        {"name": "s", "type": "STRING", "data": ["x", "y", None, "x", "y", "x", "x", "z"]},
        {"name": "f", "type": "DOUBLE", "data": [0.5, 1.5, None, 2.5, 3, 4, 5, 6]}]}, p("ok-hyparquet-v2.parquet"))
    duck(f"COPY (SELECT range AS k FROM range(10)) TO '{p('bad-codec-lz4raw.parquet')}' (FORMAT PARQUET, COMPRESSION LZ4_RAW)")

    good = open(p("ok-duckdb-flat-zstd.parquet"), "rb").read()
    footer_len = struct.unpack("<I", good[-8:-4])[0]
    open(p("bad-empty.parquet"), "wb").write(b"")
    open(p("bad-truncated.parquet"), "wb").write(good[: len(good) // 2])
    open(p("bad-magic.parquet"), "wb").write(good[:-4] + b"PAR2")
    open(p("bad-footer-len.parquet"), "wb").write(good[:-8] + struct.pack("<I", 0x7FFFFFF0) + b"PAR1")
    foot_start = len(good) - 8 - footer_len
    garbled = bytearray(good)
    for i in range(foot_start, foot_start + footer_len, 3):
        garbled[i] ^= 0x5A
    open(p("bad-footer-garbage.parquet"), "wb").write(bytes(garbled))
    # The first column's first page header starts right after the leading magic.
    page = bytearray(good)
    page[4:12] = b"\xff" * 8
    open(p("bad-page-header.parquet"), "wb").write(bytes(page))
    # A page whose compressed bytes are damaged (past the first page header).
    data = bytearray(good)
    for i in range(40, 60):
        data[i] ^= 0xFF
    open(p("bad-page-data.parquet"), "wb").write(bytes(data))
    for f in sorted(os.listdir(out)):
        print(f, os.path.getsize(os.path.join(out, f)))


if __name__ == "__main__":
    main()
