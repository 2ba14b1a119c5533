"""Avro interop with avsc, an independent implementation (tests/checkers/avro_check.cjs).

usage: e2e_avsc.py CASE AVRO_TOOL

Files we write are read back by avsc with records, field-id attributes and Iceberg's
metadata keys intact; files avsc writes are read by us; corrupted and truncated files
give one clean error line, never a crash. Codecs null and deflate (avsc has no snappy).
avsc missing prints SKIP and exits 77 (a failure when CN_TEST_STRICT=1).
"""
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile

CASE, TOOL = sys.argv[1], sys.argv[2]
SRC = os.environ.get("CN_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "..", "..", ".."))
DATA = os.path.join(SRC, "tests", "io", "avro", "data")
CHECK = os.path.join(SRC, "tests", "checkers", "avro_check.cjs")
FIXTURES = [("manifest_entry.avsc", "manifest_entries.json"), ("all_types.avsc", "all_types.json")]


def fail(what):
    print("FAIL: " + what)
    sys.exit(1)


def check(cond, what):
    if not cond:
        fail(what)


def run(argv, expect_rc=0):
    p = subprocess.run(argv, capture_output=True, timeout=120)
    if p.returncode == 77:
        if os.environ.get("CN_TEST_STRICT") == "1":
            fail("SKIP not allowed (CN_TEST_STRICT=1): " + p.stdout.decode())
        print(p.stdout.decode().strip())
        sys.exit(77)
    if expect_rc is not None and p.returncode != expect_rc:
        fail("%s: rc=%d (expected %d)\nstdout: %s\nstderr: %s" % (
            " ".join(argv), p.returncode, expect_rc, p.stdout.decode(errors="replace")[:2000],
            p.stderr.decode(errors="replace")[:2000]))
    return p


def node():
    n = shutil.which("node")
    if not n:
        if os.environ.get("CN_TEST_STRICT") == "1":
            fail("SKIP not allowed: node not found")
        print("SKIP: node not found")
        sys.exit(77)
    return n


def expected_records(records_file):
    recs = json.load(open(os.path.join(DATA, records_file)))
    # a record field left out takes its default (null) on write
    if records_file == "all_types.json":
        for r in recs:
            r.setdefault("child", None)
    if records_file == "manifest_entries.json":
        for r in recs:
            r.setdefault("file_sequence_number", None)
    return recs


def ours_to_avsc(work, codec):
    meta_file = os.path.join(DATA, "manifest_meta.json")
    meta = json.load(open(meta_file))
    for schema, records in FIXTURES:
        out = os.path.join(work, schema + "." + codec + ".avro")
        run([TOOL, "write", os.path.join(DATA, schema), os.path.join(DATA, records), out, codec,
             meta_file])
        got = json.loads(run([node(), CHECK, "read", out]).stdout)
        check(got["codec"] == codec, "avsc sees codec %r" % got["codec"])
        check(got["records"] == expected_records(records),
              "%s: avsc read different records:\n%s" % (schema, json.dumps(got["records"])[:3000]))
        text = open(os.path.join(DATA, schema), encoding="utf-8").read()
        check(got["meta"]["avro.schema"] == text, "avro.schema not stored verbatim")
        check(got["schema"] == json.loads(text), "schema with field-ids differs")
        for k, v in meta.items():
            check(got["meta"].get(k) == v, "metadata %s: %r, expected %r" % (k, got["meta"].get(k), v))
        if schema == "manifest_entry.avsc":
            df = [f for f in got["schema"]["fields"] if f["name"] == "data_file"][0]
            check(df["field-id"] == 2, "data_file field-id lost")
            part = [f for f in df["type"]["fields"] if f["name"] == "partition"][0]
            check(part["type"]["fields"][0]["field-id"] == 1000, "partition field-id lost")


def avsc_to_ours(work, codec):
    meta_file = os.path.join(DATA, "manifest_meta.json")
    meta = json.load(open(meta_file))
    for schema, records in FIXTURES:
        out = os.path.join(work, schema + "." + codec + ".avsc.avro")
        run([node(), CHECK, "write", os.path.join(DATA, schema), os.path.join(DATA, records), out,
             codec, meta_file])
        got = json.loads(run([TOOL, "read", out]).stdout)
        check(got["codec"] == codec, "we see codec %r" % got["codec"])
        check(got["records"] == expected_records(records),
              "%s: we read different records:\n%s" % (schema, json.dumps(got["records"])[:3000]))
        for k, v in meta.items():
            check(got["meta"].get(k) == v, "metadata %s: %r, expected %r" % (k, got["meta"].get(k), v))
        check(json.loads(got["meta"]["avro.schema"]) == json.load(open(os.path.join(DATA, schema))),
              "avsc's avro.schema lost attributes")
    # an Iceberg-style read: fields renamed since, matched by field-id
    reader = {"type": "record", "name": "entry", "fields": [
        {"name": "st", "type": "long", "field-id": 0},
        {"name": "snap", "type": ["null", "long"], "field-id": 1},
        {"name": "file", "field-id": 2, "type": {"type": "record", "name": "f", "fields": [
            {"name": "path", "type": "string", "field-id": 100},
            {"name": "rows", "type": "long", "field-id": 103},
            {"name": "part", "field-id": 102, "type": {"type": "record", "name": "p", "fields": [
                {"name": "day", "type": ["null", "string"], "field-id": 1000}]}}]}}]}
    rs = os.path.join(work, "reader.avsc")
    json.dump(reader, open(rs, "w"))
    out = os.path.join(work, "manifest_entry.avsc." + codec + ".avsc.avro")
    got = json.loads(run([TOOL, "read", out, rs, "id"]).stdout)["records"]
    want = [{"st": r["status"], "snap": r["snapshot_id"],
             "file": {"path": r["data_file"]["file_path"], "rows": r["data_file"]["record_count"],
                      "part": {"day": r["data_file"]["partition"]["ds"]}}}
            for r in expected_records("manifest_entries.json")]
    check(got == want, "field-id resolution: %s" % json.dumps(got))


def case_ours_to_avsc_null(work):
    ours_to_avsc(work, "null")


def case_ours_to_avsc_deflate(work):
    ours_to_avsc(work, "deflate")


def case_avsc_to_ours_null(work):
    avsc_to_ours(work, "null")


def case_avsc_to_ours_deflate(work):
    avsc_to_ours(work, "deflate")


def case_corrupt_files_clean_errors(work):
    src = os.path.join(work, "good.avro")
    run([node(), CHECK, "write", os.path.join(DATA, "manifest_entry.avsc"),
         os.path.join(DATA, "manifest_entries.json"), src, "deflate",
         os.path.join(DATA, "manifest_meta.json")])
    good = open(src, "rb").read()
    bad = os.path.join(work, "bad.avro")
    rng = random.Random(int(os.environ.get("CN_TEST_SEED", "42")))
    cases = [good[:n] for n in range(0, len(good), max(1, len(good) // 60))]
    for _ in range(60):
        b = bytearray(good)
        b[rng.randrange(len(b))] ^= 1 << rng.randrange(8)
        cases.append(bytes(b))
    errors = 0
    for data in cases:
        open(bad, "wb").write(data)
        p = run([TOOL, "read", bad], expect_rc=None)
        check(p.returncode in (0, 1), "rc %d (crash?) on a corrupted file: %s" % (
            p.returncode, p.stderr.decode(errors="replace")))
        if p.returncode == 1:
            errors += 1
            msg = p.stderr.decode(errors="replace")
            check(msg.startswith("avro_tool: CHRONON_E") and bad in msg and msg.count("\n") == 1,
                  "unclear error: %r" % msg)
    check(errors >= len(cases) // 2, "only %d of %d corrupted files were refused" % (errors, len(cases)))
    # the avsc checker refuses our truncated file too (it is the same format)
    open(bad, "wb").write(good[:len(good) - 5])
    p = run([TOOL, "read", bad], expect_rc=1)
    check(b"block 1" in p.stderr and b"truncated" in p.stderr, "truncation message: %s" % p.stderr)
    open(bad, "wb").write(b"PAR1" + good[4:])
    p = run([TOOL, "read", bad], expect_rc=1)
    check(b"not an Avro object container file" in p.stderr, "magic message: %s" % p.stderr)


def main():
    fn = globals().get("case_" + CASE)
    check(fn is not None, "unknown case " + CASE)
    check(os.path.exists(TOOL), "avro_tool not built: " + TOOL)
    work = tempfile.mkdtemp(prefix="cn_avro_e2e_")
    try:
        fn(work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print("PASS: " + CASE)


if __name__ == "__main__":
    main()
