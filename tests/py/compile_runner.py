"""Shared helpers for the compile tests: run api/py/ai/chronon/repo/compile.py on a
chronon root and compare the files it writes with expected ones."""

import difflib
import os
import subprocess
import sys

SOURCE_DIR = os.environ.get("CN_SOURCE_DIR") or os.path.dirname(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
API_PY = os.path.join(SOURCE_DIR, "api", "py")
COMPILE_PY = os.path.join(API_PY, "ai", "chronon", "repo", "compile.py")


def run_compile(root, conf, *extra):
    """Compile `conf` (a path relative to `root`) the way the users' guide does, from the
    root folder, answering yes to prompts. Returns the CompletedProcess."""
    env = dict(os.environ)
    env["PYTHONPATH"] = API_PY
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env.pop("CHRONON_ROOT", None)
    cmd = [sys.executable, COMPILE_PY, "--chronon_root", root, "--conf", conf, "-y", *extra]
    return subprocess.run(cmd, cwd=root, env=env, stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=120)


def list_files(folder):
    """Relative paths of all files under folder (sorted); [] when it does not exist."""
    out = []
    for base, dirs, files in os.walk(folder):
        dirs[:] = [d for d in dirs if d != "__pycache__"]
        for f in files:
            out.append(os.path.relpath(os.path.join(base, f), folder))
    return sorted(out)


def read_text(path):
    with open(path, "rb") as f:
        return f.read().decode("utf-8")


def diff_text(expected, actual, name):
    return "".join(difflib.unified_diff(
        expected.splitlines(True), actual.splitlines(True),
        fromfile="expected/" + name, tofile="compiled/" + name))


def compare_trees(expected_dir, actual_dir):
    """Every file in expected_dir must exist in actual_dir with identical bytes, and
    actual_dir must hold no other file. Returns a list of readable problems."""
    problems = []
    expected = list_files(expected_dir)
    actual = list_files(actual_dir)
    for name in sorted(set(expected) - set(actual)):
        problems.append(f"missing output file: {name}")
    for name in sorted(set(actual) - set(expected)):
        problems.append(f"unexpected output file: {name}\n{read_text(os.path.join(actual_dir, name))}")
    for name in sorted(set(expected) & set(actual)):
        want = read_text(os.path.join(expected_dir, name))
        got = read_text(os.path.join(actual_dir, name))
        if want != got:
            problems.append(f"content differs: {name}\n{diff_text(want, got, name)}")
    return problems


def describe(proc):
    return f"exit {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
