"""The quickstart example data: generated deterministically from Chronon's original rows."""

import csv
import datetime
import io
import os
import subprocess
import sys

import pytest

from compile_runner import SOURCE_DIR

EXAMPLE = os.path.join(SOURCE_DIR, "examples", "quickstart")
DATA = os.path.join(EXAMPLE, "data")
ORIGINAL = os.path.join(DATA, "original")
GEN = os.path.join(EXAMPLE, "scripts", "gen_data.py")
FILES = ["purchases", "returns", "checkouts", "users"]
GUIDE_DAYS = ["2023-12-0%d" % d for d in range(1, 8)]
CATEGORIES = ["electronics", "books", "clothing", "home", "toys", "sports", "beauty", "grocery"]


def read_bytes(path):
    with open(path, "rb") as f:
        return f.read()


def rows(path):
    return list(csv.DictReader(io.StringIO(read_bytes(path).decode("ascii"))))


@pytest.fixture(scope="module")
def regenerated(tmp_path_factory):
    out = tmp_path_factory.mktemp("gen")
    proc = subprocess.run([sys.executable, GEN, "--src", ORIGINAL, "--out", str(out)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return str(out)


@pytest.mark.parametrize("name", FILES)
def test_regeneration_matches_committed(regenerated, name):
    committed = read_bytes(os.path.join(DATA, name + ".csv"))
    fresh = read_bytes(os.path.join(regenerated, name + ".csv"))
    assert fresh == committed, f"{name}.csv: gen_data.py output differs from the committed file"


@pytest.mark.parametrize("name", FILES)
def test_original_rows_unchanged(name):
    original = read_bytes(os.path.join(ORIGINAL, name + ".csv")).decode("ascii").split("\n")
    if original[-1] == "":
        original.pop()
    out = read_bytes(os.path.join(DATA, name + ".csv")).decode("ascii").split("\n")
    assert out[-1] == "", f"{name}.csv must end with a newline"
    assert len(out) - 1 > len(original), f"{name}.csv has no added rows"
    for i, line in enumerate(original):
        if name == "purchases":
            # item_category is appended as the last column; the original bytes are a prefix.
            head, _, category = out[i].rpartition(",")
            assert head == line, f"purchases.csv line {i + 1} changed"
            if i == 0:
                assert category == "item_category"
            else:
                assert category == CATEGORIES[int(line.split(",")[4]) % 8], f"line {i + 1}"
        else:
            assert out[i] == line, f"{name}.csv line {i + 1} changed"


def test_originals_are_chronon_quickstart_files():
    # Sizes and row counts of Chronon's quickstart CSVs (see data/original/README.md).
    expected_rows = {"purchases": 500, "returns": 500, "checkouts": 200, "users": 101}
    for name, n in expected_rows.items():
        assert len(rows(os.path.join(ORIGINAL, name + ".csv"))) == n, name
    assert not read_bytes(os.path.join(ORIGINAL, "purchases.csv")).endswith(b"\n")
    assert not read_bytes(os.path.join(ORIGINAL, "users.csv")).endswith(b"\n")


@pytest.mark.parametrize("name", FILES)
def test_every_guide_day_has_rows(name):
    by_ds = {}
    for r in rows(os.path.join(DATA, name + ".csv")):
        by_ds.setdefault(r["ds"], []).append(r)
    for ds in GUIDE_DAYS:
        assert by_ds.get(ds), f"{name}.csv has no rows for ds {ds}"
    if name == "users":
        for ds in GUIDE_DAYS:
            assert sorted(int(r["user_id"]) for r in by_ds[ds]) == list(range(101)), ds


@pytest.mark.parametrize("name", ["purchases", "returns", "checkouts"])
def test_new_event_rows_look_like_the_originals(name):
    amount = {"purchases": "purchase_price"}.get(name, "refund_amt")
    ident = {"purchases": "purchase_id"}.get(name, "return_id")
    new = [r for r in rows(os.path.join(DATA, name + ".csv")) if r["ds"] in GUIDE_DAYS]
    ids = set()
    for r in new:
        day = datetime.date.fromisoformat(r["ds"])
        start = int(datetime.datetime(day.year, day.month, day.day,
                                      tzinfo=datetime.timezone.utc).timestamp() * 1000)
        assert start <= int(r["ts"]) < start + 86_400_000, r
        assert 0 <= int(r["user_id"]) <= 100 and 0 <= int(r["product_id"]) <= 100, r
        assert 0 <= int(r[amount]) <= 499, r
        parts = r[ident].split("-")
        assert [len(p) for p in parts] == [8, 4, 4, 4, 12], r
        assert all(c in "0123456789ABCDEF" for c in "".join(parts)), r
        ids.add(r[ident])
        if name == "purchases":
            assert r["item_category"] == CATEGORIES[int(r["product_id"]) % 8], r
    assert len(ids) == len(new), f"{name}: duplicate ids among new rows"
