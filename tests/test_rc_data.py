"""Data of task ``rc``: the assertion miner, the git evolution track, splits, cache, loaders.

Expected positions were counted by hand on the sources below (line and
column 1-based, the column in characters); expected splits are recomputed
from the documented hash formulas with hashlib.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sysconfig
from dataclasses import replace
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from harness.cli import main
from harness.data import CompletionDataset, DatasetOptions
from harness.errors import HarnessError, InputError
from harness.plugins.datasets import repopeft
from harness.plugins.datasets.repopeft import load_repopeft
from harness.plugins.local_dataset import completion_loader, loader
from harness.plugins.local_dataset.assertions import find_assertions, is_test_path
from harness.plugins.local_dataset.completion_loader import load_local_completion
from harness.plugins.local_dataset.completion_splits import cross_repo_counts, cross_repo_splits
from harness.plugins.local_dataset.repositories import repositories_in

FORMS = """import unittest

import numpy as np
import numpy.testing as npt
from numpy.testing import assert_allclose, assert_equal


def test_plain():
    assert add(1, 2) == 3
    assert add(1, 2) != 4
    assert 1 < add(1, 2) == 33
    assert add(2, 2) == 44, "message"
    assert add(2, 3) == (
        5,
        6,
    )


class TestMethods(unittest.TestCase):
    def test_family(self):
        self.assertEqual(f(1), "one")
        self.assertEquals(f(2), "two")
        self.assertAlmostEqual(g(1), 0.5, places=3)
        self.assertListEqual(h(), [1, 2])
        self.assertTupleEqual(h(), (1, 2))
        self.assertDictEqual(d(), {"k": 1})
        self.assertSetEqual(s(), {7, 8})
        self.assertSequenceEqual(h(), range(3))
        self.assertCountEqual(h(), [2, 1])
        self.assertMultiLineEqual(t(), "a\\nb")
        self.assertIs(flag(), None)
        self.assertTrue(flag())
        self.assertEqual(first=f(3), second="three")
        with self.subTest(i=1):
            self.assertEqual(f(4), "four")


def test_numpy():
    np.testing.assert_equal(a(), 10)
    npt.assert_array_equal(a(), np.arange(3))
    assert_allclose(a(), 1.25, rtol=1e-6)
    np.testing.assert_almost_equal(a(), 2.5)
    npt.assert_array_almost_equal(a(), [0.1, 0.2])
    assert_equal(*pair())
    check = lambda: assert_equal(a(), 99)
"""
# (line, column, target); not examples: `!=` (10), a chained comparison (11), the 4-line
# tuple (13, over max_target_lines=3), assertTrue (32), keyword arguments (33), a starred
# argument (44), a call inside a lambda (45)
FORMS_EXPECTED = [
    (9, 25, "3"),
    (12, 25, "44"),
    (21, 32, '"one"'),
    (22, 33, '"two"'),
    (23, 38, "0.5"),
    (24, 35, "[1, 2]"),
    (25, 36, "(1, 2)"),
    (26, 35, '{"k": 1}'),
    (27, 34, "{7, 8}"),
    (28, 39, "range(3)"),
    (29, 36, "[2, 1]"),
    (30, 40, '"a\\nb"'),
    (31, 31, "None"),
    (35, 36, '"four"'),
    (39, 34, "10"),
    (40, 33, "np.arange(3)"),
    (41, 26, "1.25"),
    (42, 41, "2.5"),
    (43, 40, "[0.1, 0.2]"),
]


def offset_of(text: str, line: int, column: int) -> int:
    """The character offset of (line, column), counting lines with str.split."""
    return sum(len(row) + 1 for row in text.split("\n")[: line - 1]) + column - 1


# ------------------------------------------------------------------------------ the miner


def test_every_assertion_form_gives_its_target_and_prefix_end() -> None:
    found = find_assertions(FORMS)
    assert found is not None
    assert [(a.line, a.column, a.target) for a in found] == FORMS_EXPECTED
    for assertion in found:
        start = offset_of(FORMS, assertion.line, assertion.column)
        assert (assertion.start, assertion.end) == (start, start + len(assertion.target))
        assert FORMS[assertion.start : assertion.end] == assertion.target


def test_multi_line_targets_up_to_max_target_lines() -> None:
    found = find_assertions(FORMS, max_target_lines=4)
    assert found is not None
    multi = [a for a in found if a.line == 13]
    assert [(a.column, a.target) for a in multi] == [(25, "(\n        5,\n        6,\n    )")]
    assert FORMS[: multi[0].start].endswith("    assert add(2, 3) == ")


def test_long_targets_are_skipped() -> None:
    text = "assert f() == 'abcdefghij'\nassert g() == 'abc'\n"
    found = find_assertions(text, max_target_chars=10)
    assert found is not None and [a.target for a in found] == ["'abc'"]


def test_unicode_before_the_target_counts_characters_not_bytes() -> None:
    text = 'x = "héllo ✓"\r\nassert f("ü✓") == "ñ✓"\r\n'
    found = find_assertions(text)
    assert found is not None
    [assertion] = found
    assert (assertion.line, assertion.column, assertion.target) == (2, 19, '"ñ✓"')
    assert text[: assertion.start] == 'x = "héllo ✓"\r\nassert f("ü✓") == '


def test_a_lone_carriage_return_ends_a_line_as_for_the_parser() -> None:
    found = find_assertions('a = 1\rassert a == "é"\rassert b == 2\n')
    assert found is not None
    assert [(a.line, a.column, a.target) for a in found] == [(2, 13, '"é"'), (3, 13, "2")]


def test_a_file_that_does_not_parse_gives_none() -> None:
    assert find_assertions("print 'python 2'\nassert x == 1\n") is None
    assert find_assertions("assert x == 1\0\n") is None


def test_test_files_are_named_like_tests_or_under_a_test_folder() -> None:
    assert [
        is_test_path(p)
        for p in (
            "test_io.py",
            "pkg/io_test.py",
            "tests/conftest.py",
            "a/test/helpers.py",
            "pkg/io.py",
            "testing/util.py",
            "tests/data.json",
            "pkg/contest.py",
        )
    ] == [True, True, True, True, False, False, False, False]


# ------------------------------------------------------------------------- the git history

CALC = [
    "def add(a, b):\n    return a + b\n",
    "\n\ndef mul(a, b):\n    return a * b\n",
    "\n\ndef sub(a, b):\n    return a - b\n",
]
EXTRA_TEST = (
    "import unittest\n\nfrom calc import add\n\n\nclass TestAdd(unittest.TestCase):\n"
    "    def test_zero(self):\n        self.assertEqual(add(0, 0), 0)\n"
)


def git(repo: Path, *args: str) -> None:
    env = {**os.environ, "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull}
    subprocess.run(
        ["git", "-c", "user.name=T", "-c", "user.email=t@example.org", "-C", str(repo), *args],
        check=True,
        capture_output=True,
        env=env,
    )


def commit(repo: Path, message: str, files: dict[str, str]) -> None:
    for path, text in files.items():
        (repo / path).parent.mkdir(parents=True, exist_ok=True)
        (repo / path).write_text(text, encoding="utf-8")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", message)


def make_git_repo(repo: Path) -> Path:
    """Four commits: code and tests, more code and tests, tests only, a rename and changes."""
    repo.mkdir(parents=True)
    git(repo, "init", "-q")
    test_calc = "from calc import add\n\n\ndef test_add():\n    assert add(1, 2) == 3\n"
    commit(repo, "add", {"calc.py": CALC[0], "tests/test_calc.py": test_calc})
    test_calc = test_calc.replace("import add", "import add, mul")
    test_calc += "\n\ndef test_mul():\n    assert mul(2, 3) == 6\n"
    commit(repo, "mul", {"calc.py": CALC[0] + CALC[1], "tests/test_calc.py": test_calc})
    test_calc = test_calc.replace("assert add(1, 2) == 3", "assert add(1, 2)  ==  3")
    commit(repo, "tests", {"tests/test_calc.py": test_calc, "tests/test_more.py": EXTRA_TEST,
                           "README.md": "calc\n"})  # fmt: skip
    git(repo, "mv", "tests/test_more.py", "tests/test_extra.py")
    test_calc = test_calc.replace("add, mul", "add, mul, sub").replace("(2, 3) == 6", "(2, 4) == 8")
    test_calc += "\n\ndef test_sub():\n    assert sub(5, 3) == 2\n"
    commit(repo, "sub", {"calc.py": "".join(CALC), "tests/test_calc.py": test_calc,
                         "tests/conftest.py": "import sys\n"})  # fmt: skip
    return repo


# The snapshot (HEAD): tests/test_calc.py lines 5, 9, 13; tests/test_extra.py line 8.
ADD, MUL, SUB = (
    "proj:tests/test_calc.py:5:27",
    "proj:tests/test_calc.py:9:25",
    ("proj:tests/test_calc.py:13:25"),
)
ZERO = "proj:tests/test_extra.py:8:37"


@pytest.fixture
def git_repo(tmp_path: Path) -> Path:
    return make_git_repo(tmp_path / "proj")


def rc_options(cache: Path, data_dir: Path | None, split: str = "cr_test", **extra: Any) -> Any:
    """Options for the local dataset of task rc; small fixtures need ``min_per_repo`` 1."""
    extra.setdefault("min_per_repo", 1)
    return DatasetOptions(task="rc", cache_dir=cache, data_dir=data_dir, split=split, extra=extra)


def test_git_history_gives_commits_diffs_and_introduced_assertions(
    git_repo: Path, tmp_path: Path
) -> None:
    dataset = load_local_completion(rc_options(tmp_path / "cache", git_repo, min_per_repo=1))
    partition = dataset.partitions["proj"]  # one repository: it is the cr_test one
    assert partition.root == git_repo.resolve()
    by_id = {e.id: e for e in partition.eval}
    assert {i: by_id[i].commit_index for i in by_id} == {ADD: 0, MUL: 3, SUB: 3, ZERO: 2}
    assert [(by_id[ADD].line, by_id[ADD].target, by_id[ADD].test_file)] == [
        (5, "3", "tests/test_calc.py")
    ]
    commits = partition.commits
    assert [c.index for c in commits] == [0, 1, 2, 3]
    assert [c.example_ids for c in commits] == [(ADD,), (), (ZERO,), (MUL, SUB)]
    shas = subprocess.run(
        ["git", "-C", str(git_repo), "rev-list", "--reverse", "HEAD"],
        capture_output=True, text=True, check=True,
    ).stdout.split()  # fmt: skip
    assert [c.sha for c in commits] == shas
    body = [line for line in commits[1].diff.splitlines() if not line.startswith("index ")]
    assert body == [
        "diff --git a/calc.py b/calc.py",
        "--- a/calc.py",
        "+++ b/calc.py",
        "@@ -1,2 +1,6 @@",
        " def add(a, b):",
        "     return a + b",
        "+",
        "+",
        "+def mul(a, b):",
        "+    return a * b",
    ]
    assert commits[0].diff.startswith("diff --git a/calc.py b/calc.py\nnew file mode")
    assert "+def sub(a, b):" in commits[3].diff
    assert commits[2].diff == ""  # tests and README only
    assert all("tests/" not in c.diff and "README" not in c.diff for c in commits)


def test_max_commits_keeps_the_latest_and_max_diff_chars_cuts(
    git_repo: Path, tmp_path: Path
) -> None:
    full = load_local_completion(rc_options(tmp_path / "a", git_repo, min_per_repo=1))
    cut = load_local_completion(
        rc_options(tmp_path / "b", git_repo, min_per_repo=1, max_commits=2, max_diff_chars=40)
    )
    commits = cut.partitions["proj"].commits
    assert [c.sha for c in commits] == [c.sha for c in full.partitions["proj"].commits[2:]]
    assert [c.example_ids for c in commits] == [(ZERO,), (MUL, SUB)]
    assert commits[1].diff == full.partitions["proj"].commits[3].diff[:40]
    by_id = {e.id: e.commit_index for e in cut.partitions["proj"].eval}
    assert by_id == {ADD: None, MUL: 1, SUB: 1, ZERO: 0}


def test_track_only_scores_the_assertions_the_track_introduced(
    git_repo: Path, tmp_path: Path
) -> None:
    cache = tmp_path / "cache"
    every = load_local_completion(rc_options(cache, git_repo, max_commits=2))
    track = load_local_completion(rc_options(cache, git_repo, max_commits=2, track_only=True))
    # ADD was introduced before the last 2 commits (commit_index None): not scored
    assert {e.id for e in every.partitions["proj"].eval} == {ADD, MUL, SUB, ZERO}
    assert [e.id for e in track.partitions["proj"].eval] == [
        e.id for e in every.partitions["proj"].eval if e.id != ADD
    ]
    assert track.partitions["proj"].commits == every.partitions["proj"].commits
    assert track.meta["track_only"] is True and every.meta["track_only"] is False
    assert track.meta["cache_key"] == every.meta["cache_key"]  # applied on loading
    # the limit counts kept examples: the first one of the track, not ADD
    options = replace(rc_options(cache, git_repo, max_commits=2, track_only=True), limit=1)
    assert [e.id for e in load_local_completion(options).partitions["proj"].eval] == [
        track.partitions["proj"].eval[0].id
    ]


def test_track_only_without_a_history_is_a_one_line_error(tmp_path: Path) -> None:
    data = write_repos(tmp_path / "repos", ["solo"]) / "solo"  # plain files, no git
    with pytest.raises(
        HarnessError,
        match="no repository of the cr_test split has an example "
        "left to evaluate .*track_only: assertions introduced by an evolution",
    ):
        load_local_completion(rc_options(tmp_path / "c", data, track_only=True))


TEST_ADD = "from calc import add\n\n\ndef test_add():\n    assert add(1, 2) == 3\n"
ADD_ONLY = "proj:tests/test_calc.py:5:25"  # the 3 of line 5 of TEST_ADD


def one_commit_repo(repo: Path) -> Path:
    repo.mkdir(parents=True)
    git(repo, "init", "-q")
    commit(repo, "add", {"calc.py": CALC[0], "tests/test_calc.py": TEST_ADD})
    return repo


def damage(repo: Path, how: str) -> None:
    if how == "head":  # HEAD names a branch that does not exist: git reads no history
        (repo / ".git" / "HEAD").write_text("ref: refs/heads/missing\n")
    else:  # the commit object is gone: HEAD and the index read, the history does not
        head = subprocess.run(
            ["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, text=True
        ).stdout.strip()
        (repo / ".git" / "objects" / head[:2] / head[2:]).unlink()


@pytest.mark.parametrize(
    ("how", "error", "read_as_git"),
    [
        ("head", "git rev-parse: fatal: ambiguous argument 'HEAD': unknown revision or path "
                 "not in the working tree.", False),
        ("object", "git rev-list: fatal: bad object HEAD", True),
    ],
)  # fmt: skip
def test_a_history_git_cannot_read_is_recorded_and_warned_about(
    how: str, error: str, read_as_git: bool, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = one_commit_repo(tmp_path / "proj")
    damage(repo, how)
    options = rc_options(tmp_path / "cache", repo)
    warning = (
        f"warning: dataset local (task rc): {repo.resolve()}: git could not read its history, "
        f"so it has no evolution track: {error}"
    )
    for _ in ("mined", "read from the cache"):  # warned both times
        partition = load_local_completion(options).partitions["proj"]
        assert [(e.id, e.commit_index) for e in partition.eval] == [(ADD_ONLY, None)]
        assert partition.commits == []
        err = capsys.readouterr().err.splitlines()
        assert [line for line in err if line.startswith("warning:")] == [warning]
    (meta,) = (tmp_path / "cache" / "local-rc").glob("*/meta.json")
    recorded = json.loads(meta.read_text())["repos"]["proj"]
    assert (recorded["git_error"], recorded["git"]) == (error, read_as_git)


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root: the folder is given to another user")
def test_gits_refusal_of_a_folder_of_another_user_is_its_fatal_line_not_its_hint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = one_commit_repo(tmp_path / "proj")
    os.chown(repo, 12345, 12345)  # git then refuses it ("dubious ownership") for root
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")  # no safe.directory from anywhere
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", os.devnull)
    (found,) = repositories_in(repo)
    assert (found.git, found.files) == (False, ("tests/test_calc.py",))
    assert found.git_error == (
        f"git rev-parse: fatal: detected dubious ownership in repository at '{repo.resolve()}'"
    )


def test_a_damaged_git_folder_inside_another_checkout_is_not_read_as_that_one(
    tmp_path: Path,
) -> None:
    outer = tmp_path / "outer"
    outer.mkdir()
    git(outer, "init", "-q")
    commit(outer, "readme", {"README.md": "outer\n"})
    repo = one_commit_repo(outer / "proj")
    (repo / ".git" / "HEAD").write_text("not a ref\n")  # git no longer takes it for a repo
    (found,) = repositories_in(repo)
    assert (found.name, found.git, found.files) == ("proj", False, ("tests/test_calc.py",))
    assert found.git_error == (
        f"git rev-parse: {repo.resolve()}/.git is no repository to git; it read {outer.resolve()}"
    )


# ---------------------------------------------------------------------------- the splits


def unit(text: str) -> float:
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big") / 2**64


def write_repos(folder: Path, names: list[str], per_file: int = 12) -> Path:
    """Plain trees, one test file each with `per_file` distinct assertions."""
    for name in names:
        lines = [f"def test_{name}():"] + [
            f"    assert {name}_value({i}) == {i * 7 + len(name)}" for i in range(per_file)
        ]
        (folder / name / "tests").mkdir(parents=True)
        (folder / name / "tests" / f"test_{name}.py").write_text("\n".join(lines) + "\n")
    return folder


def test_cross_repo_counts_follow_the_documented_rule() -> None:
    rows = {n: tuple(cross_repo_counts(n).values()) for n in (0, 1, 2, 3, 4, 5, 8, 10, 25, 30)}
    assert rows == {  # (train, cr_val, cr_test, ood_test)
        0: (0, 0, 0, 0),
        1: (0, 0, 1, 0),
        2: (1, 0, 1, 0),
        3: (2, 0, 1, 0),
        4: (3, 0, 1, 0),
        5: (2, 1, 1, 1),
        8: (4, 1, 2, 1),
        10: (6, 1, 2, 1),
        25: (14, 3, 5, 3),
        30: (18, 3, 6, 3),
    }


def test_cross_repo_split_deals_repositories_in_hash_order() -> None:
    names = [f"repo{i}" for i in range(10)]
    order = sorted(names, key=lambda n: (unit(f"7:repo:{n}"), n))
    expected = dict.fromkeys(order, "train")
    expected.update({order[0]: "cr_test", order[1]: "cr_test", order[2]: "cr_val"})
    expected[order[3]] = "ood_test"
    assert cross_repo_splits(names, seed=7) == expected
    assert cross_repo_splits(list(reversed(names)), seed=7) == expected


def test_partitions_for_cross_repo_and_in_repo_splits(tmp_path: Path) -> None:
    names = ["alpha", "beta", "gamma", "delta", "eps"]
    data = write_repos(tmp_path / "repos", names)
    options = {"min_per_repo": 1, "val_fraction": 0.3, "test_fraction": 0.3, "layout": "many"}
    order = sorted(names, key=lambda n: (unit(f"0:repo:{n}"), n))  # 5 repos: 2/1/1/1
    cross = {order[0]: "cr_test", order[1]: "cr_val", order[2]: "ood_test"}
    cr_test = load_local_completion(rc_options(tmp_path / "c", data, "cr_test", **options))
    assert list(cr_test.partitions) == [order[0]]
    assert cr_test.protocol == "cross"
    assert len(cr_test.partitions[order[0]].eval) == 12
    assert sorted({e.repo for e in cr_test.train}) == sorted(set(names) - set(cross))
    assert len(cr_test.train) == 12 * 2
    for split in ("cr_val", "ood_test"):
        other = load_local_completion(rc_options(tmp_path / "c", data, split, **options))
        assert list(other.partitions) == [n for n, s in cross.items() if s == split]

    in_repo = load_local_completion(rc_options(tmp_path / "c", data, "test", **options))
    assert in_repo.protocol == "in"
    for name, partition in in_repo.partitions.items():
        everything = {e.id for e in cr_test.partitions.get(name, partition).eval}
        for example in partition.eval + partition.train + partition.valid:
            h = unit(f"0:in:{example.id}")
            label = "test" if h < 0.3 else "val" if h < 0.6 else "train"
            assert example.in_repo_split == label
            assert example.cross_repo_split == cross.get(name, "train")
        assert {e.in_repo_split for e in partition.eval} == {"test"}
        assert {e.in_repo_split for e in partition.train} == {"train"}
        assert {e.in_repo_split for e in partition.valid} <= {"val"}
        assert len(partition.eval) + len(partition.train) + len(partition.valid) == 12
        if name in cr_test.partitions:
            assert {e.id for e in partition.eval + partition.train + partition.valid} == everything
    assert sorted(in_repo.train, key=lambda e: e.id) == sorted(
        (e for p in in_repo.partitions.values() for e in p.train), key=lambda e: e.id
    )


def test_every_repository_in_exactly_one_cross_repo_split(tmp_path: Path) -> None:
    names = [f"r{i}" for i in range(8)]
    data = write_repos(tmp_path / "repos", names, per_file=3)
    options = {"min_per_repo": 1, "layout": "many"}
    seen: dict[str, str] = {}
    for split in ("cr_val", "cr_test", "ood_test"):
        dataset = load_local_completion(rc_options(tmp_path / "c", data, split, **options))
        for name in dataset.partitions:
            assert name not in seen
            seen[name] = split
    train = {e.repo for e in dataset.train}
    assert not train & set(seen) and train | set(seen) == set(names)
    assert sorted(seen.values()) == ["cr_test", "cr_test", "cr_val", "ood_test"]


def test_per_repo_cap_is_a_seeded_sample_and_limit_takes_its_first(tmp_path: Path) -> None:
    data = write_repos(tmp_path / "repos", ["solo"], per_file=30) / "solo"
    capped = load_local_completion(rc_options(tmp_path / "c", data, max_per_repo=10))
    ids = [e.id for e in capped.partitions["solo"].eval]
    assert len(ids) == 10 == len(set(ids))
    again = load_local_completion(rc_options(tmp_path / "d", data, max_per_repo=10))
    assert [e.id for e in again.partitions["solo"].eval] == ids
    options = rc_options(tmp_path / "c", data, max_per_repo=10)
    options.limit = 4
    assert [e.id for e in load_local_completion(options).partitions["solo"].eval] == ids[:4]


def test_duplicates_and_small_repositories_are_left_out(tmp_path: Path) -> None:
    data = write_repos(tmp_path / "repos", ["aa", "bb"], per_file=5)
    (data / "cc" / "tests").mkdir(parents=True)  # a copy of aa's file: all duplicates
    (data / "cc" / "tests" / "test_aa.py").write_text((data / "aa/tests/test_aa.py").read_text())
    (data / "dd" / "tests").mkdir(parents=True)
    (data / "dd" / "tests" / "test_bad.py").write_text("print 'python 2'\n")
    write_repos(data, ["ee"], per_file=2)
    dataset = load_local_completion(rc_options(tmp_path / "c", data, layout="many", min_per_repo=3))
    meta = json.loads((Path(dataset.meta["cache_dir"]) / "meta.json").read_text())
    repos = meta["repos"]
    assert (repos["cc"]["duplicates"], repos["cc"]["kept"]) == (5, 0)
    assert repos["dd"]["unparsable"] == 1 and repos["dd"]["files_read"] == 0
    assert repos["ee"]["left_out"] == "2 examples, fewer than min_per_repo=3"
    assert {n for n, r in repos.items() if r["cross_repo_split"]} == {"aa", "bb"}


def test_layout_decides_what_a_repository_is(tmp_path: Path, git_repo: Path) -> None:
    write_repos(tmp_path, ["plain"])
    assert [r.name for r in repositories_in(tmp_path)] == ["plain", "proj"]  # a subfolder has .git
    assert [r.name for r in repositories_in(git_repo)] == ["proj"]
    assert [r.git for r in repositories_in(tmp_path)] == [False, True]
    assert [r.name for r in repositories_in(tmp_path / "plain")] == ["plain"]
    assert [r.name for r in repositories_in(tmp_path, "one")] == [tmp_path.name]
    one = repositories_in(tmp_path, "one")[0]
    assert "plain/tests/test_plain.py" in one.files and "proj/tests/test_calc.py" in one.files


# --------------------------------------------------------------------- cache and options


def test_second_load_reads_the_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = write_repos(tmp_path / "repos", ["solo"]) / "solo"
    calls = []
    mine = completion_loader.mine_completion
    monkeypatch.setattr(
        completion_loader, "mine_completion", lambda *a, **k: calls.append(1) or mine(*a, **k)
    )
    first = load_local_completion(rc_options(tmp_path / "c", data))
    second = load_local_completion(rc_options(tmp_path / "c", data))
    assert len(calls) == 1
    assert first.partitions["solo"].eval == second.partitions["solo"].eval
    shorter = load_local_completion(rc_options(tmp_path / "c", data, context_chars=10))
    assert len(calls) == 1  # the prefix is cut when loading
    text = (data / "tests/test_solo.py").read_text()
    for example in shorter.partitions["solo"].eval:
        start = offset_of(text, example.line, int(example.id.rsplit(":", 1)[1]))
        assert example.prefix == text[start - 10 : start]
    load_local_completion(rc_options(tmp_path / "c", data, max_per_repo=5))
    assert len(calls) == 2  # a setting that changes the examples mines again
    folders = list((tmp_path / "c" / "local-rc").iterdir())
    assert len(folders) == 2 and all((f / "meta.json").is_file() for f in folders)
    meta = json.loads((folders[0] / "meta.json").read_text())
    assert set(meta["sizes"]["cross_repo"]) == {"train", "cr_val", "cr_test", "ood_test"}


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"max_per_rep": 3}, "dataset local (task rc): unknown option 'max_per_rep' (known: "),
        ({"max_per_repo": -1}, "option max_per_repo must be a number >= 0, not -1"),
        ({"max_per_repo": "many"}, "option max_per_repo must be a number >= 0, not 'many'"),
        ({"context_chars": 1.5}, "option context_chars must be a whole number, not 1.5"),
        ({"test_fraction": 2}, "option test_fraction must be a fraction in [0, 1]"),
        ({"cr_test_fraction": 0.9}, "cr_val_fraction + cr_test_fraction + ood_test_fraction"),
        ({"layout": "flat"}, "option layout must be one of auto, one, many, not 'flat'"),
        ({"track_only": "yes"}, "option track_only must be true or false, not 'yes'"),
    ],
)
def test_bad_options_are_one_line_errors(tmp_path: Path, extra: dict, message: str) -> None:
    with pytest.raises(HarnessError, match=re.escape(message)):
        load_local_completion(rc_options(tmp_path, tmp_path, **extra))


def test_unknown_split_and_empty_split(tmp_path: Path) -> None:
    data = write_repos(tmp_path / "repos", ["solo"]) / "solo"
    with pytest.raises(HarnessError, match="unknown split 'valid'"):
        load_local_completion(rc_options(tmp_path / "c", data, "valid"))
    with pytest.raises(HarnessError, match="no repository has examples in the ood_test split"):
        load_local_completion(rc_options(tmp_path / "c", data, "ood_test"))


def test_local_dataset_dispatches_task_rc(tmp_path: Path, git_repo: Path) -> None:
    dataset = loader.load_local(rc_options(tmp_path / "c", git_repo, min_per_repo=1))
    assert isinstance(dataset, CompletionDataset) and list(dataset.partitions) == ["proj"]
    assert dataset.meta["eval_split"] == "cr_test"


# ----------------------------------------------------------------------------- repopeft


def write_examples(path: Path, rows: list[dict[str, Any]], **types: Any) -> Path:
    schema = {name: pa.string() for name in repopeft.EXAMPLE_COLUMNS} | {"commit_index": pa.int64()}
    schema.update(types)
    columns = {name: pa.array([r.get(name) for r in rows], kind) for name, kind in schema.items()}
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table(columns), path)
    return path


def example_row(repo: str, cross: str, in_repo: str, n: int, commit: int | None = None) -> dict:
    return {"repo_id": repo, "commit_index": commit, "prefix": f"assert f({n}) == ",
            "target": str(n), "cross_repo_split": cross, "in_repo_split": in_repo,
            "test_file": "tests/test_f.py"}  # fmt: skip


ROWS = [
    example_row("org/a", "cr_test", "train", 1, 0),
    example_row("org/a", "cr_test", "test", 2, 1),
    example_row("org/b", "train", "train", 3, 0),
    example_row("org/b", "train", "test", 4),
    example_row("org/b", "train", "val", 5),
    example_row("org/c", "ood_test", "test", 6),
]


def repopeft_options(data_dir: Path | None, split: str = "cr_test", **kw: Any) -> DatasetOptions:
    return DatasetOptions(task="rc", cache_dir=Path("unused"), data_dir=data_dir, split=split, **kw)


def test_repopeft_reads_examples_and_commits(tmp_path: Path) -> None:
    write_examples(tmp_path / "data" / "examples.parquet", ROWS)
    commits = pa.table({
        "repo_id": ["org/a", "org/a"], "commit_index": [1, 0],
        "repo_state_embedding": [[0.5, 1.0], [0.0, 0.25]], "diff_embedding": [[1.0, 2.0], None],
    })  # fmt: skip
    pq.write_table(commits, tmp_path / "data" / "commits.parquet")
    dataset = load_repopeft(repopeft_options(tmp_path / "data"))
    assert list(dataset.partitions) == ["org/a"]
    evaluated = dataset.partitions["org/a"].eval
    assert [(e.id, e.prefix, e.target, e.commit_index) for e in evaluated] == [
        ("org/a:examples.parquet:1", "assert f(1) == ", "1", 0),
        ("org/a:examples.parquet:2", "assert f(2) == ", "2", 1),
    ]
    assert [e.target for e in dataset.train] == ["3", "4", "5"]
    track = dataset.partitions["org/a"].commits
    assert [(c.index, c.example_ids) for c in track] == [
        (0, ("org/a:examples.parquet:1",)),
        (1, ("org/a:examples.parquet:2",)),
    ]
    assert track[0].repo_state_embedding == (0.0, 0.25) and track[0].diff_embedding is None
    assert track[1].diff_embedding == (1.0, 2.0)
    in_repo = load_repopeft(repopeft_options(tmp_path / "data", "test"))
    assert {n: [e.target for e in p.eval] for n, p in in_repo.partitions.items()} == {
        "org/a": ["2"],
        "org/b": ["4"],
    }
    assert [e.target for e in in_repo.partitions["org/b"].valid] == ["5"]
    ood = load_repopeft(repopeft_options(tmp_path / "data", "ood_test", limit=1))
    assert [e.target for e in ood.partitions["org/c"].eval] == ["6"]


def bad_rows(**change: Any) -> list[dict[str, Any]]:
    rows = [dict(row) for row in ROWS]
    rows[2].update(change)
    return rows


@pytest.mark.parametrize(
    ("write", "message"),
    [
        (
            lambda d: pq.write_table(
                pa.table({"repo_id": ["a"], "prefix": ["x"], "target": ["1"]}), d / "e.parquet"
            ),
            "e.parquet: missing column 'commit_index' (an examples file has: repo_id, "
            "commit_index, prefix, target, cross_repo_split, in_repo_split, test_file)",
        ),
        (
            lambda d: write_examples(
                d / "e.parquet",
                [{**r, "commit_index": "0"} for r in ROWS],
                commit_index=pa.string(),
            ),
            "e.parquet: column 'commit_index' must hold integer, not string",
        ),
        (
            lambda d: write_examples(d / "e.parquet", bad_rows(cross_repo_split="test")),
            "e.parquet: row 3: cross_repo_split 'test' is not one of train, cr_val, cr_test, "
            "ood_test",
        ),
        (
            lambda d: write_examples(d / "e.parquet", bad_rows(in_repo_split="valid")),
            "e.parquet: row 3: in_repo_split 'valid' is not one of train, val, test",
        ),
        (
            lambda d: write_examples(d / "e.parquet", bad_rows(target="  ")),
            "e.parquet: row 3: empty target",
        ),
        (
            lambda d: write_examples(d / "e.parquet", bad_rows(prefix=None)),
            "e.parquet: row 3: prefix is null",
        ),
        (
            lambda d: write_examples(d / "e.parquet", bad_rows(repo_id="org/a")),
            "e.parquet: row 3: repository 'org/a' is in cross_repo_split 'train' here and "
            "'cr_test' at e.parquet row 1",
        ),
        (
            lambda d: (d / "e.parquet").write_text("not parquet"),
            "e.parquet: not a readable parquet file",
        ),
        (
            lambda d: pq.write_table(pa.table({"x": [1]}), d / "e.parquet"),
            "e.parquet: neither an examples file",
        ),
        (lambda d: (d / "notes.txt").write_text("x"), "data: no .parquet file here; "),
        (
            lambda d: pq.write_table(
                pa.table(
                    {
                        "repo_id": ["a"],
                        "commit_index": [0],
                        "repo_state_embedding": [[0.0]],
                        "diff_embedding": [[0.0]],
                    }
                ),
                d / "c.parquet",
            ),  # fmt: skip
            "data: no examples parquet (columns repo_id, commit_index, prefix, target, ",
        ),
    ],
)
def test_repopeft_bad_input_is_one_line_naming_the_file(
    tmp_path: Path, write: Any, message: str
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    write(data)
    with pytest.raises(InputError) as raised:
        load_repopeft(repopeft_options(data))
    text = str(raised.value)
    assert "\n" not in text and raised.value.exit_code == 2
    assert text.startswith(str(data)) and message in text


def test_repopeft_without_data_dir_says_where_to_get_it(tmp_path: Path) -> None:
    with pytest.raises(HarnessError) as raised:
        load_repopeft(repopeft_options(None))
    assert str(raised.value).startswith("dataset repopeft: no --data-dir; RepoPeftBench")
    assert "pass their folder with --data-dir" in str(raised.value)
    with pytest.raises(InputError, match="no such folder"):
        load_repopeft(repopeft_options(tmp_path / "absent"))


def test_mine_rc_writes_what_repopeft_and_local_read_alike(
    git_repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "mined"
    args = ["data", "mine-rc", str(git_repo), "--out", str(out), "--set", "min_per_repo=1"]
    assert main(args) == 0
    assert "proj" in capsys.readouterr().out
    assert main(args) == 2  # the folder holds mined data: --force replaces it
    assert "holds mined data already" in capsys.readouterr().err
    from_parquet = load_repopeft(repopeft_options(out / "examples.parquet"))
    local = load_local_completion(rc_options(tmp_path / "c", git_repo, min_per_repo=1))
    pairs = sorted(
        (e.prefix, e.target, e.commit_index) for e in from_parquet.partitions["proj"].eval
    )
    assert pairs == sorted(
        (e.prefix, e.target, e.commit_index) for e in local.partitions["proj"].eval
    )
    assert main(["data", "mine-rc", str(git_repo), "--out", str(tmp_path / "x"),
                 "--set", "max_per_rep=1"]) == 2  # fmt: skip
    assert "unknown option 'max_per_rep'" in capsys.readouterr().err


@pytest.mark.slow
def test_offline_default_mines_the_stdlib_and_installed_packages(tmp_path: Path) -> None:
    """The machine's own tests: cpython and numpy (a dependency) are repositories."""
    options = rc_options(tmp_path, None, max_files_per_repo=15, min_per_repo=20)
    dataset = load_local_completion(options)
    meta = json.loads((Path(dataset.meta["cache_dir"]) / "meta.json").read_text())
    kept = {name for name, info in meta["repos"].items() if info["cross_repo_split"]}
    assert {"cpython", "numpy"} <= kept
    assert meta["repos"]["cpython"]["root"] == sysconfig.get_paths()["stdlib"]
    assert dataset.partitions and all(len(p.eval) >= 20 for p in dataset.partitions.values())
    for partition in dataset.partitions.values():
        for example in partition.eval[:50]:
            assert example.id.startswith(f"{partition.name}:{example.test_file}:")
            assert is_test_path(example.test_file) and example.target.strip()


def test_track_only_is_a_declared_dataset_option(tmp_path: Path) -> None:
    """`--set dataset.track_only=true` passes the run's option check and is part of the
    result's identity (it changes what is scored)."""
    from harness.plan import RunRequest, plan
    from harness.plugins.local_dataset.settings import DECLARED

    (option,) = [o for o in DECLARED if o.name == "track_only"]
    assert option.default is False and option.affects_results
    request = RunRequest(model="tiny-code-lm", strategy="none", task="rc", cache_dir=tmp_path,
                         settings={"dataset": {"track_only": True}})  # fmt: skip
    plan(request)  # an undeclared key would raise HarnessError here
