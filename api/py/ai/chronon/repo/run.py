#!/usr/bin/env python3
"""Chronon's job launcher, as in Chronon: ``run.py --mode backfill --conf production/...``.

In chronon-c every mode runs in the ``chronon`` binary, so this script only finds the binary
and hands it all of its arguments (``chronon run <args>``). Standard library only.

The binary is looked up in this order: $CHRONON_BIN, ``<chronon-c>/build/chronon`` next to
this file's source tree, then ``chronon`` on $PATH.
"""
import os
import shutil
import sys


def find_binary():
    env = os.environ.get("CHRONON_BIN")
    if env:
        return env
    here = os.path.dirname(os.path.abspath(__file__))
    home = os.path.abspath(os.path.join(here, "..", "..", "..", "..", ".."))
    for candidate in (os.path.join(home, "build", "chronon"), os.path.join(home, "bin", "chronon")):
        if os.access(candidate, os.X_OK):
            return candidate
    return shutil.which("chronon")


def main(argv):
    binary = find_binary()
    if not binary:
        sys.stderr.write(
            "run.py: cannot find the chronon binary: build chronon-c (./scripts/quickstart.sh) "
            "or set CHRONON_BIN\n"
        )
        return 1
    try:
        os.execv(binary, [binary, "run"] + argv)
    except OSError as e:
        sys.stderr.write("run.py: cannot run %s: %s\n" % (binary, e))
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
