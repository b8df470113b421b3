"""examples/evo_repos.py: the folder of repositories of the Evo run, built from test data.

Two fake installed packages stand in for the default set (``default_repositories`` is
patched): ``alpha`` with 4 assertions the rc miner takes, ``beta`` with 2 (counted by hand
in the comments below); a 3-commit git repository stands in for harness.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from harness.data import DatasetOptions
from harness.plugins.local_dataset.completion_loader import load_local_completion, read_commits
from harness.plugins.local_dataset.repositories import walked

ROOT = Path(__file__).resolve().parents[1]

ALPHA_TEST = """\
import unittest

import numpy as np

from alpha import double


def test_double():
    assert double(2) == 4  # 1
    assert double(0) == 0  # 2
    assert double(1)  # no expected value
    assert double(1) != 3  # not ==
    assert 1 < double(1) == 2  # two comparisons
    np.testing.assert_allclose(double(0.5), 1.0)  # 3
    same = double(2) == 4  # not an assertion


class DoubleTest(unittest.TestCase):
    def test_negative(self):
        self.assertEqual(double(-1), -2)  # 4
        self.assertTrue(double(3))  # no expected value
"""
ALPHA = {
    "__init__.py": "from alpha.core import double\n",
    "core.py": "def double(x):\n    return 2 * x\n\n\nassert double(1) == 2  # not a test file\n",
    "tests/test_double.py": ALPHA_TEST,
    "tests/data.json": "[1, 2]\n",  # not Python: not copied
    "build/gen.py": "assert 1 == 1\n",  # build output: neither read nor copied
    ".hidden/test_h.py": "assert 2 == 2\n",  # hidden: neither read nor copied
    "__pycache__/core.cpython-311.pyc": "",
}
ALPHA_COPIED = {"__init__.py", "core.py", "tests/test_double.py"}
BETA = {
    "__init__.py": "def inc(x):\n    return x + 1\n",
    "test_beta.py": "from beta import inc\n\n\ndef test_inc():\n    assert inc(1) == 2  # 1\n"
    "    assert inc(2) == 3  # 2\n    assert inc(0)  # no expected value\n",
}
# the fake harness: one assertion introduced by each of its 3 commits
COMMITS = [
    ("add", "def add(a, b):\n    return a + b\n", "assert add(1, 2) == 3"),
    ("mul", "\n\ndef mul(a, b):\n    return a * b\n", "assert mul(2, 3) == 6"),
    ("sub", "\n\ndef sub(a, b):\n    return a - b\n", "assert sub(5, 3) == 2"),
]


def load_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("evo_repos", ROOT / "examples" / "evo_repos.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def write_tree(root: Path, files: dict[str, str]) -> Path:
    for path, text in files.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(text, encoding="utf-8")
    return root


def git(repo: Path, *args: str) -> str:
    env = {**os.environ, "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull}
    command = ["git", "-c", "user.name=T", "-c", "user.email=t@example.org", "-C", str(repo)]
    done = subprocess.run([*command, *args], check=True, capture_output=True, text=True, env=env)
    return done.stdout


@pytest.fixture
def script(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """The script, its default set replaced by the fake packages alpha and beta."""
    module = load_script()
    site = tmp_path / "site"
    roots = {"alpha": write_tree(site / "alpha", ALPHA), "beta": write_tree(site / "beta", BETA)}
    monkeypatch.setattr(
        module, "default_repositories", lambda: [walked(n, r) for n, r in roots.items()]
    )
    return module


@pytest.fixture
def upstream(tmp_path: Path) -> Path:
    """A git repository of 3 commits, each adding code and one test assertion."""
    repo = tmp_path / "upstream"
    repo.mkdir()
    git(repo, "init", "-q")
    code, tests = "", "from calc import *\n"
    for n, (message, function, assertion) in enumerate(COMMITS):
        code += function
        tests += f"\n\ndef test_{n}():\n    {assertion}\n"
        write_tree(repo, {"calc.py": code, "tests/test_calc.py": tests, "README.md": message})
        git(repo, "add", "-A")
        git(repo, "commit", "-q", "-m", message)
    return repo


def files_under(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}


def test_folder_holds_the_kept_packages_and_a_clone(
    script: ModuleType, upstream: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    assert script.main([str(out), "--harness-repo", str(upstream), "--min-assertions", "3"]) == 0
    # beta's 2 assertions are fewer than 3: left out
    assert sorted(p.name for p in out.iterdir()) == ["alpha", "harness"]
    assert files_under(out / "alpha") == ALPHA_COPIED
    assert (out / "alpha/tests/test_double.py").read_text() == ALPHA_TEST
    clone = out / "harness"
    assert git(clone, "rev-parse", "HEAD") == git(upstream, "rev-parse", "HEAD")
    assert git(clone, "rev-list", "--count", "HEAD").strip() == "3"
    assert git(clone, "status", "--porcelain") == ""
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "alpha: 3 files, 4 assertions (copied)"
    assert lines[1] == "beta: 2 assertions, fewer than 3: left out"
    assert lines[2].startswith("harness: 2 files, 3 assertions, 3 first-parent commits (cloned")


def test_a_package_with_exactly_the_minimum_is_kept(
    script: ModuleType, upstream: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    assert script.main([str(out), "--harness-repo", str(upstream), "--min-assertions", "2"]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["alpha", "beta", "harness"]
    assert files_under(out / "beta") == {"__init__.py", "test_beta.py"}


def test_a_rerun_skips_what_is_there_and_finishes_what_was_cut_short(
    script: ModuleType, upstream: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    argv = [str(out), "--harness-repo", str(upstream), "--min-assertions", "3"]
    assert script.main(argv) == 0
    copied = out / "alpha/core.py"
    inode = copied.stat().st_ino
    (out / "alpha/marker.py").write_text("")
    capsys.readouterr()
    assert script.main(argv) == 0
    assert copied.stat().st_ino == inode and (out / "alpha/marker.py").exists()
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "alpha: 4 files, 4 assertions (already there)"
    assert lines[2].endswith("3 first-parent commits (already there)")
    # an interrupted copy leaves only its hidden temporary folder: the next run redoes it
    subprocess.run(["rm", "-rf", str(out / "alpha")], check=True)
    write_tree(out / ".alpha.tmp", {"core.py": "partial"})
    assert script.main(argv) == 0
    assert files_under(out / "alpha") == ALPHA_COPIED
    assert sorted(p.name for p in out.iterdir()) == ["alpha", "harness"]


def test_the_rc_dataset_reads_the_folder_with_an_evolution_track(
    script: ModuleType, upstream: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    assert script.main([str(out), "--harness-repo", str(upstream), "--min-assertions", "3"]) == 0
    options = DatasetOptions(
        task="rc", cache_dir=tmp_path / "cache", data_dir=out, extra={"min_per_repo": 1}
    )
    dataset = load_local_completion(options)  # split cr_test: one of the two repositories
    folder = Path(dataset.meta["cache_dir"])
    repos = json.loads((folder / "meta.json").read_text())["repos"]
    assert {name: (r["git"], r["kept"], r["commits"]) for name, r in repos.items()} == {
        "alpha": (False, 4, 0),
        "harness": (True, 3, 3),
    }
    track = read_commits(folder)["harness"]
    shas = git(upstream, "rev-list", "--first-parent", "--reverse", "HEAD").split()
    assert [c.sha for c in track] == shas
    assert [len(c.example_ids) for c in track] == [1, 1, 1]
    assert [c.example_ids[0].rsplit(":", 2)[1] for c in track] == ["5", "9", "13"]  # lines


@pytest.mark.parametrize("bad", ["out_is_file", "plain_folder", "subfolder", "no_commits"])
def test_bad_input_is_one_line_and_exit_2(
    script: ModuleType,
    upstream: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    bad: str,
) -> None:
    out, repo = tmp_path / "out", upstream
    if bad == "out_is_file":
        out.write_text("")
    elif bad == "plain_folder":
        repo = write_tree(tmp_path / "plain", {"a.py": ""})
    elif bad == "subfolder":
        repo = upstream / "tests"
    else:
        repo = tmp_path / "empty"
        repo.mkdir()
        git(repo, "init", "-q")
    assert script.main([str(out), "--harness-repo", str(repo)]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and error.startswith("evo_repos: error: ")
    assert out.is_file() if bad == "out_is_file" else not out.exists()


def test_the_default_harness_repository_is_this_checkout() -> None:
    assert load_script().HERE == ROOT
    done = subprocess.run(
        [sys.executable, str(ROOT / "examples/evo_repos.py"), "--help"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert "--harness-repo" in done.stdout and "--min-assertions" in done.stdout
