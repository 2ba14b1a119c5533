#!/usr/bin/env python3
"""Build the quickstart sample tables from Chronon's original CSVs.

Inputs:  data/original/{purchases,returns,checkouts,users}.csv (Chronon's quickstart
         data, byte-identical copies; see data/original/README.md).
Outputs: data/{purchases,returns,checkouts,users}.csv

What changes, and why:
- purchases gets an `item_category` column (last column, so every original line is a
  byte-identical prefix of its output line). The category is a pure function of
  product_id: CATEGORIES[int(product_id) % 8]. The users' guide's GroupBy selects it.
- Every file is extended with rows for ds 2023-12-01 .. 2023-12-07 so that every command
  of the users' guide (`--ds 2023-12-01`, `--start-ds 2023-12-01 --end-ds 2023-12-07`)
  has input. New event rows have the same columns and value ranges as the originals
  (user_id and product_id 0..100, amounts 0..499, uuid-like ids) and, unlike the
  originals, a `ts` (epoch milliseconds) that falls inside its own `ds` day (UTC).
  users gets one full snapshot partition per new day; a few unverified users become
  verified as the days go by.
- Output files use LF line endings and end with a newline (some originals do not).

The generator uses its own PRNG (splitmix64) with a fixed seed, so the output does not
depend on the Python version. Standard library only.

Usage: gen_data.py [--src DIR] [--out DIR]   (defaults: <example>/data/original, <example>/data)
"""

import argparse
import datetime
import os
import sys

SEED = 20231201
NEW_DAYS = [datetime.date(2023, 12, 1) + datetime.timedelta(days=i) for i in range(7)]
CATEGORIES = ["electronics", "books", "clothing", "home", "toys", "sports", "beauty", "grocery"]
FILES = ["purchases", "returns", "checkouts", "users"]
MS_PER_DAY = 86_400_000
MASK64 = (1 << 64) - 1


class Rng:
    """splitmix64: tiny, well-mixed, and identical on every platform."""

    def __init__(self, seed):
        self.state = seed & MASK64

    def next64(self):
        self.state = (self.state + 0x9E3779B97F4A7C15) & MASK64
        z = self.state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
        return z ^ (z >> 31)

    def below(self, n):
        """Uniform integer in [0, n) (rejection sampling, no modulo bias)."""
        limit = (1 << 64) - ((1 << 64) % n)
        while True:
            v = self.next64()
            if v < limit:
                return v % n

    def between(self, lo, hi):
        """Uniform integer in [lo, hi]."""
        return lo + self.below(hi - lo + 1)

    def uuid(self):
        h = "%016X%016X" % (self.next64(), self.next64())
        return "-".join([h[0:8], h[8:12], h[12:16], h[16:20], h[20:32]])


def item_category(product_id):
    return CATEGORIES[int(product_id) % len(CATEGORIES)]


def day_start_ms(day):
    epoch = datetime.date(1970, 1, 1)
    return (day - epoch).days * MS_PER_DAY


def read_lines(path):
    """Lines of a CSV without their line terminators (the originals use LF only)."""
    with open(path, "rb") as f:
        data = f.read().decode("ascii")
    if "\r" in data:
        raise ValueError(f"{path}: expected LF line endings, found CR")
    lines = data.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return lines


def event_rows(rng, day, count, amount_lo):
    """Rows (ts, id, user_id, product_id, amount) for one day, sorted by ts."""
    base = day_start_ms(day)
    rows = []
    for _ in range(count):
        rows.append((base + rng.below(MS_PER_DAY), rng.uuid(), rng.between(0, 100),
                     rng.between(0, 100), rng.between(amount_lo, 499)))
    rows.sort()
    return rows


def build_purchases(rng, lines):
    header = lines[0]
    if header != "ds,ts,purchase_id,user_id,product_id,purchase_price":
        raise ValueError(f"purchases.csv: unexpected header {header!r}")
    out = [header + ",item_category"]
    for line in lines[1:]:
        product_id = line.split(",")[4]
        out.append(line + "," + item_category(product_id))
    for day in NEW_DAYS:
        for ts, pid, user, product, price in event_rows(rng, day, rng.between(10, 25), 0):
            out.append(f"{day.isoformat()},{ts},{pid},{user},{product},{price},{item_category(product)}")
    return out


def build_events(rng, lines, name, lo, hi):
    header = lines[0]
    if header != "ds,ts,return_id,user_id,product_id,refund_amt":
        raise ValueError(f"{name}.csv: unexpected header {header!r}")
    out = list(lines)
    for day in NEW_DAYS:
        for ts, rid, user, product, amt in event_rows(rng, day, rng.between(lo, hi), 1):
            out.append(f"{day.isoformat()},{ts},{rid},{user},{product},{amt}")
    return out


def build_users(rng, lines):
    header = lines[0]
    if header != "ds,user_id,account_created_ds,email_verified":
        raise ValueError(f"users.csv: unexpected header {header!r}")
    snapshot = [line.split(",") for line in lines[1:]]
    out = list(lines)
    for day in NEW_DAYS:
        for row in snapshot:
            # An unverified user verifies with probability 1/20 per day, and stays verified.
            if row[3] == "0" and rng.below(20) == 0:
                row[3] = "1"
            out.append(",".join([day.isoformat(), row[1], row[2], row[3]]))
    return out


def generate(src, out):
    rng = Rng(SEED)
    originals = {name: read_lines(os.path.join(src, name + ".csv")) for name in FILES}
    tables = {
        "purchases": build_purchases(rng, originals["purchases"]),
        "returns": build_events(rng, originals["returns"], "returns", 5, 25),
        "checkouts": build_events(rng, originals["checkouts"], "checkouts", 60, 100),
        "users": build_users(rng, originals["users"]),
    }
    os.makedirs(out, exist_ok=True)
    for name in FILES:
        path = os.path.join(out, name + ".csv")
        tmp = path + ".tmp"
        with open(tmp, "wb") as f:
            f.write(("\n".join(tables[name]) + "\n").encode("ascii"))
        os.replace(tmp, path)


def main(argv):
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    parser = argparse.ArgumentParser(description="Build the quickstart sample tables.")
    parser.add_argument("--src", default=os.path.join(here, "data", "original"),
                        help="folder with Chronon's original CSVs")
    parser.add_argument("--out", default=os.path.join(here, "data"), help="output folder")
    args = parser.parse_args(argv)
    try:
        generate(args.src, args.out)
    except (OSError, ValueError) as e:
        print(f"gen_data: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
