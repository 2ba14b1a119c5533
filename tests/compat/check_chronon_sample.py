#!/usr/bin/env python3
"""Compiles Chronon's sample repo with our compile.py and diffs the result against the
compiled JSON Chronon checks in.

usage: check_chronon_sample.py <sample-dir> [--keep] [--verbose]

<sample-dir> is Chronon's api/py/test/sample (teams.json, group_bys/, joins/,
staging_queries/, production/).  The sample is copied to a temp dir, production/ is removed,
every group_bys/, joins/ and staging_queries/ .py file is compiled on its own
(`compile.py --conf <file> -y --force-overwrite`, so GroupBys are written even when not
online, and dependent confs are recompiled), then every file of the original production/
is compared with ours as parsed JSON.  Differences limited to the fields Chronon's checked-in
files are known to carry stale (a join's metaData.samplePercent; tableProperties and
outputNamespace of a GroupBy embedded in a join, which depend on compile order) are reported
as "match (stale fields)" when the field is absent from our output.  Exit 0 when every comparable file matches.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
COMPILE = os.path.join(os.path.dirname(os.path.dirname(HERE)), "api", "py", "ai", "chronon", "repo", "compile.py")
FOLDERS = ("staging_queries", "group_bys", "joins")


# Compiled files Chronon checks in without a source config in the sample.
NO_SOURCE = {"staging_queries/sample_team/standalone_staging_query.v1"}

# A GroupBy imported into a second group_bys module is named after whichever module Python's
# garbage collector lists first (utils.get_mod_name_from_gc), so upstream output flips between
# runs: Chronon commit c20865b20 "corrected" these names to the defining module
# (sample_group_by), later recompiles flipped them back.  We always use the defining module.
NAME_ALIASES = [("sample_team_sample_group_by_group_by_require_backfill",
                 "sample_team_sample_group_by_require_backfill")]


def is_stale_path(path):
    """Fields that differ in Chronon's own checked-in files (spec section 10): samplePercent
    left from an older DSL default, and team tableProperties/outputNamespace on embedded
    GroupBys, present only when Chronon's in-process test run had compiled that GroupBy earlier."""
    if len(path) >= 2 and path[-2:] == ("metaData", "samplePercent"):
        return True
    if len(path) >= 3 and path[-3] in ("groupBy", "offlineGroupBy") and path[-2] == "metaData" and \
            path[-1] in ("tableProperties", "outputNamespace"):
        return True
    return False


def is_stale(path, orig, ours):
    """A stale-field difference: the field is absent from our output (the current DSL does not
    set it) and Chronon's value is the old default (samplePercent 100.0) or team metadata."""
    if not is_stale_path(path) or lookup(ours, path) != ABSENT:
        return False
    if path[-1] == "samplePercent":
        return lookup(orig, path) == 100.0
    return True


def is_alias_diff(a, b):
    if not isinstance(a, str) or not isinstance(b, str):
        return False
    for upstream, ours in NAME_ALIASES:
        if a.replace(upstream, ours) == b:
            return True
    return False


def diff_paths(a, b, path=()):
    """Paths (tuples) where two JSON values differ; a dict key missing on one side is a diff
    at that key."""
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for k in list(a) + [k for k in b if k not in a]:
            if k not in a or k not in b:
                out.append(path + (k,))
            else:
                out.extend(diff_paths(a[k], b[k], path + (k,)))
        return out
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return [path]
        out = []
        for i, (x, y) in enumerate(zip(a, b)):
            out.extend(diff_paths(x, y, path + (i,)))
        return out
    if (type(a) != type(b) or a != b) and not is_alias_diff(a, b):
        return [path]
    return []


def fmt(path):
    return ".".join(str(p) for p in path)


ABSENT = "<absent>"


def lookup(doc, path):
    for p in path:
        try:
            doc = doc[p]
        except (KeyError, IndexError, TypeError):
            return ABSENT
    return doc


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("sample_dir")
    ap.add_argument("--keep", action="store_true", help="keep the temp copy and print its path")
    ap.add_argument("--verbose", action="store_true", help="print compile output of failing files")
    args = ap.parse_args()
    sample = os.path.abspath(args.sample_dir)
    if not os.path.isfile(os.path.join(sample, "teams.json")) or not os.path.isdir(os.path.join(sample, "production")):
        print(f"{sample}: not a Chronon sample dir (needs teams.json and production/)", file=sys.stderr)
        return 2

    work = tempfile.mkdtemp(prefix="chronon_sample_check_")
    root = os.path.join(work, "sample")
    shutil.copytree(sample, root, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.rmtree(os.path.join(root, "production"))

    print("== compiling")
    compile_failures = 0
    for folder in FOLDERS:
        for dirpath, dirnames, filenames in sorted(os.walk(os.path.join(root, folder))):
            dirnames.sort()
            for f in sorted(filenames):
                if not f.endswith(".py"):
                    continue
                rel = os.path.relpath(os.path.join(dirpath, f), root)
                proc = subprocess.run([sys.executable, COMPILE, "--chronon_root", root, "--conf", rel, "-y",
                                       "--force-overwrite"], cwd=root, capture_output=True, text=True)
                if proc.returncode == 0:
                    print(f"  ok      {rel}")
                else:
                    compile_failures += 1
                    last = (proc.stderr.strip().splitlines() or ["(no message)"])[-1]
                    print(f"  FAILED  {rel} (exit {proc.returncode}): {last}")
                    if args.verbose:
                        print(proc.stdout + proc.stderr)

    print("== comparing with Chronon's compiled files")
    counts = {"match": 0, "match (stale fields)": 0, "DIFF": 0, "NOT PRODUCED": 0, "no source config": 0}
    orig_prod = os.path.join(sample, "production")
    for dirpath, dirnames, filenames in sorted(os.walk(orig_prod)):
        dirnames.sort()
        for f in sorted(filenames):
            orig_file = os.path.join(dirpath, f)
            rel = os.path.relpath(orig_file, orig_prod)
            ours_file = os.path.join(root, "production", rel)
            if rel in NO_SOURCE:
                counts["no source config"] += 1
                print(f"  no source config      {rel}")
                continue
            if not os.path.exists(ours_file):
                counts["NOT PRODUCED"] += 1
                print(f"  NOT PRODUCED          {rel}")
                continue
            with open(orig_file) as fh:
                orig_text = fh.read()
            with open(ours_file) as fh:
                ours_text = fh.read()
            orig, ours = json.loads(orig_text), json.loads(ours_text)
            paths = diff_paths(orig, ours)
            same_text = orig_text.rstrip("\n") == ours_text
            if not paths:
                counts["match"] += 1
                print(f"  match{' (same text)' if same_text else ' (same JSON)':<17} {rel}")
            elif all(is_stale(p, orig, ours) for p in paths):
                counts["match (stale fields)"] += 1
                print(f"  match (stale fields)  {rel}: {', '.join(sorted(set(fmt(p) for p in paths)))}")
            else:
                counts["DIFF"] += 1
                print(f"  DIFF                  {rel}")
                for p in paths:
                    tag = " (stale)" if is_stale(p, orig, ours) else ""
                    print(f"      {fmt(p)}{tag}: chronon={json.dumps(lookup(orig, p))[:300]} "
                          f"ours={json.dumps(lookup(ours, p))[:300]}")
    total = sum(counts.values())
    print("== summary")
    print(f"  {total} compiled files in Chronon's sample: " + ", ".join(f"{v} {k}" for k, v in counts.items()))
    print(f"  {compile_failures} source files failed to compile (Chronon's sample has deliberately broken configs)")
    if args.keep:
        print(f"  output kept in {root}")
    else:
        shutil.rmtree(work)
    return 0 if counts["DIFF"] == 0 and counts["NOT PRODUCED"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
