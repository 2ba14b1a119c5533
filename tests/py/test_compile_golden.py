"""Golden compile tests.

Each folder tests/golden/compile/<case>/ is a small chronon root (teams.json and
group_bys/joins/staging_queries Python configs) with case.json naming what to compile,
in order, and expected/ holding the JSON that compile must write under production/.
The expected files were written from the config contract (docs: spec/config.md) and
Chronon's DSL semantics, not produced by our compiler.

Also: compiling examples/quickstart into a temporary copy must reproduce its checked-in
production/ byte for byte.
"""

import json
import os
import shutil

import pytest

from compile_runner import SOURCE_DIR, compare_trees, describe, list_files, run_compile

GOLDEN = os.path.join(SOURCE_DIR, "tests", "golden", "compile")
EXAMPLE = os.path.join(SOURCE_DIR, "examples", "quickstart")
EXAMPLE_CONFS = [
    "group_bys/my_team/user_purchase_features.py",
    "group_bys/quickstart",
    "joins/quickstart",
]

CASES = sorted(d for d in os.listdir(GOLDEN) if os.path.isfile(os.path.join(GOLDEN, d, "case.json")))


def copy_root(src, dst, skip):
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns("__pycache__", *skip))


def compile_all(root, confs):
    for conf in confs:
        proc = run_compile(root, conf)
        assert proc.returncode == 0, f"compile --conf {conf} failed\n{describe(proc)}"


def test_cases_exist():
    assert {"group_bys", "joins", "staging_queries", "guide_user_purchase_features"} <= set(CASES)


@pytest.mark.parametrize("case", CASES)
def test_golden_compile(case, tmp_path):
    src = os.path.join(GOLDEN, case)
    with open(os.path.join(src, "case.json")) as f:
        confs = json.load(f)["compile"]
    root = str(tmp_path / "root")
    copy_root(src, root, ["expected", "case.json"])
    compile_all(root, confs)
    problems = compare_trees(os.path.join(src, "expected"), os.path.join(root, "production"))
    assert not problems, f"case {case}:\n" + "\n".join(problems)


def test_expected_files_are_compile_layout():
    # json.dumps(indent=2) layout, no trailing newline: the expected files themselves
    # must follow the format they assert.
    for case in CASES:
        expected = os.path.join(GOLDEN, case, "expected")
        for name in list_files(expected):
            with open(os.path.join(expected, name), encoding="utf-8") as f:
                text = f.read()
            assert text == json.dumps(json.loads(text), indent=2), f"{case}/expected/{name}"


def test_example_production_is_reproduced(tmp_path):
    root = str(tmp_path / "quickstart")
    copy_root(EXAMPLE, root, ["production", "data", "warehouse"])
    compile_all(root, EXAMPLE_CONFS)
    problems = compare_trees(os.path.join(EXAMPLE, "production"), os.path.join(root, "production"))
    assert not problems, "examples/quickstart/production differs from a fresh compile:\n" + "\n".join(problems)


def test_example_guide_groupby_is_compiled():
    # The users' guide says compile creates this file; it must be checked in.
    path = os.path.join(EXAMPLE, "production", "group_bys", "my_team", "user_purchase_features.v1")
    with open(path, encoding="utf-8") as f:
        conf = json.load(f)
    assert conf["metaData"]["name"] == "my_team.user_purchase_features.v1"
    assert conf["metaData"]["outputNamespace"] == "default"
    assert conf["sources"][0]["events"]["table"] == "purchases"
