#!/usr/bin/env python3
"""Chronon's job launcher, as in Chronon: ``run.py --mode backfill --conf production/...``.

In chronon-c every mode runs in the ``chronon`` binary, so this script only finds the binary
and hands it all of its arguments (``chronon run <args>``). Standard library only.

The binary is looked up in this order: $CHRONON_BIN, ``<chronon-c>/build/chronon`` next to
this file's source tree, then ``chronon`` on $PATH.

``--ranks N`` (N > 1) runs the job as N MPI ranks: ``mpirun -np N chronon run <args>``
(docs/scaling.md). $CHRONON_MPIRUN names the launcher (default ``mpirun``) and
$CHRONON_MPIRUN_ARGS adds its options (e.g. ``--hostfile hosts``). For Open MPI, running as
root and more ranks than cores are allowed through its environment variables.
"""
import os
import shlex
import shutil
import sys


def take_ranks(argv):
    """Removes --ranks N / --ranks=N from argv; returns (ranks or None, argv, error)."""
    out, ranks = [], None
    i = 0
    while i < len(argv):
        a = argv[i]
        v = None
        if a == "--ranks":
            if i + 1 >= len(argv):
                return None, argv, "--ranks needs a number of ranks"
            v = argv[i + 1]
            i += 2
        elif a.startswith("--ranks="):
            v = a[len("--ranks="):]
            i += 1
        else:
            out.append(a)
            i += 1
            continue
        if not v.isdigit() or int(v) < 1:
            return None, argv, "--ranks: invalid value '%s' (expected a positive number of ranks)" % v
        ranks = int(v)
    return ranks, out, None


def mpi_command(binary, ranks, argv):
    launcher = os.environ.get("CHRONON_MPIRUN", "mpirun")
    path = shutil.which(launcher)
    if not path:
        return None, "run.py: --ranks %d needs %s (apt-get install openmpi-bin), or set CHRONON_MPIRUN" % (
            ranks, launcher)
    extra = shlex.split(os.environ.get("CHRONON_MPIRUN_ARGS", ""))
    return [path, "-np", str(ranks)] + extra + [binary, "run"] + argv, None


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
    ranks, argv, err = take_ranks(argv)
    if err:
        sys.stderr.write("run.py: %s\n" % err)
        return 2
    cmd = [binary, "run"] + argv
    if ranks and ranks > 1:
        cmd, err = mpi_command(binary, ranks, argv)
        if err:
            sys.stderr.write(err + "\n")
            return 1
        if os.geteuid() == 0:  # Open MPI refuses root unless told
            os.environ.setdefault("OMPI_ALLOW_RUN_AS_ROOT", "1")
            os.environ.setdefault("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1")
        if ranks > (os.cpu_count() or 1):  # Open MPI: more ranks than cores on one host
            os.environ.setdefault("OMPI_MCA_rmaps_base_oversubscribe", "1")
    try:
        os.execv(cmd[0], cmd)
    except OSError as e:
        sys.stderr.write("run.py: cannot run %s: %s\n" % (cmd[0], e))
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
