#!/usr/bin/env python3
"""Command line front end of the brute-force oracle (see README.md).

  oracle.py groupby --conf F --table ns.t=path [...] (--ds D | --start-ds A --end-ds B)
            [--at-ms T] --out out.jsonl
  oracle.py join    --conf F --table ns.t=path [...] (--ds D | --start-ds A --end-ds B)
            --out out.jsonl

Writes one JSON object per output row, sorted deterministically.  On any error it prints
one message naming the file/field/value, exits 2 and writes nothing.
"""

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import chronon_oracle as co  # noqa: E402


def _pairs(values, flag):
    out = {}
    for v in values or []:
        name, sep, path = v.partition("=")
        if not sep or not name or not path:
            raise co.OracleError("%s %r: expected ns.table=path" % (flag, v))
        out[name] = path
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(prog="oracle.py", description=__doc__.split("\n\n")[0])
    ap.add_argument("kind", choices=["groupby", "join"])
    ap.add_argument("--conf", required=True, help="compiled GroupBy or Join JSON")
    ap.add_argument("--table", action="append", default=[], metavar="NS.T=PATH",
                    help="input table as CSV (header line) or JSON lines; repeatable")
    ap.add_argument("--schema", action="append", default=[], metavar="NS.T=PATH",
                    help="JSON {column: type} for a table (default: PATH.schema.json if present)")
    ap.add_argument("--ds", help="end partition (range start: conf start date, or this day)")
    ap.add_argument("--start-ds", help="first partition to produce")
    ap.add_argument("--end-ds", help="last partition to produce (overrides --ds)")
    ap.add_argument("--at-ms", type=int,
                    help="groupby only: value of every key at this epoch-ms instead of a backfill")
    ap.add_argument("--out", required=True, help="output JSON-lines file")
    args = ap.parse_args(argv)
    tmp = args.out + ".tmp"
    try:
        end = args.end_ds or args.ds
        if end is None and args.at_ms is None:
            raise co.OracleError("one of --ds or --end-ds is required")
        for d in (args.ds, args.start_ds, args.end_ds):
            if d is not None:
                co.ds_to_epoch(d)
        schemas = _pairs(args.schema, "--schema")
        tables = {}
        for name, path in _pairs(args.table, "--table").items():
            tables[name] = co.load_table(name, path, schemas.get(name))
        conf = co._conf_of(args.conf)
        if args.kind == "groupby":
            if args.at_ms is not None:
                rows = co.groupby_values_at(conf, tables, args.at_ms, max_partition=end)
            else:
                rows = co.groupby_backfill(conf, tables, end, args.start_ds)
        else:
            if args.at_ms is not None:
                raise co.OracleError("--at-ms applies to groupby only")
            rows = co.join_backfill(conf, tables, end, args.start_ds)
        with open(tmp, "w", encoding="utf-8") as f:
            for r in rows:
                f.write(json.dumps(co.to_json_value(r), allow_nan=False) + "\n")
        os.replace(tmp, args.out)
    except co.OracleError as e:
        if os.path.exists(tmp):
            os.remove(tmp)
        print("oracle: error: %s" % e, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
