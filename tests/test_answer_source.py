"""Where an assertion's answer can be found (issue 20, part 2): the rule by hand, the mined
classes on a repository written here, and the breakdown every rc result gets from them."""

from __future__ import annotations

import json
from functools import partial
from pathlib import Path
from types import SimpleNamespace

import pytest

from harness.cli import main
from harness.data import DatasetOptions
from harness.errors import InputError
from harness.plugin_manager import plugins
from harness.plugins.local_dataset import loader
from harness.plugins.local_dataset.answer_source import Text, atoms, classify
from harness.results import Result, find_results, read_examples, read_result
from harness.stats import breakdowns

SOURCE = Text(
    "THEME = 'glacier'\n\ndef theme():\n    return THEME\n\nRATE = 1.5\n"
    "def lookup(key):\n    return {'a': 11.5}[key]  # the rate table\n"
)


@pytest.mark.parametrize(
    ("target", "before", "expected"),
    [
        # no atom: keywords and builtins need no file
        ("True", "x = f()\nassert x == ", "none"),
        ("len(items) > 0", "", "none"),  # 0 is an atom: nowhere before, nowhere in the source
        ("None", "", "none"),
        # every atom before the target: the prompt shows it
        ("'glacier'", "expected = 'glacier'\nassert value == ", "file"),
        ('"glacier"', "expected = 'glacier'\nassert value == ", "file"),  # either quote
        ("total", "total = 3\nassert f() == ", "file"),
        # some atom only in the non-test source
        ("'glacier'", "assert settings.theme() == ", "repo"),
        ("theme()", "from pkg import settings\nassert x == ", "repo"),
        ("RATE * 2", "assert f(3) == ", "none"),  # 2 is in neither
        ("RATE * 2", "assert f(2) == ", "repo"),  # 2 before it, RATE in the source
        ("RATE", "assert f(2) == ", "repo"),
        ("1.5", "", "repo"),
        ("1.5", "x = 11.52\n", "repo"),  # 11.52 holds no 1.5 token; the source's 1.5 does
        ("'the rate table'", "", "none"),  # a comment is no string literal
        ("lookup('a')", "", "repo"),  # 'a' is a string of the source
        ("'violin'", "", "none"),
    ],
)
def test_the_rule_by_hand(target: str, before: str, expected: str):
    assert classify(atoms(target), Text(before), SOURCE) == expected


def test_atoms_are_identifiers_and_literals_but_not_keywords_or_builtins():
    found = atoms("self.assertIsInstance(obj.attr, ValueError) or b'x' and f'{y}' == 0x1F")
    assert found.words == {"self", "assertIsInstance", "obj", "attr", "0x1F"}
    assert found.strings == {"x"}  # an f-string's value is not known before it runs


def _write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


REPO = {
    "proj/pkg/__init__.py": "",
    "proj/pkg/settings.py": "THEME = 'glacier'\n\n\ndef theme():\n    return THEME\n",
    "proj/tests/test_settings.py": (
        "from pkg import settings\n\n\n"
        "def test_theme():\n    assert settings.theme() == 'glacier'\n\n\n"  # repo
        "def test_local():\n    total = 40 + 2\n    assert total == total\n\n\n"  # file
        "def test_truth():\n    assert bool(1) == True\n\n\n"  # none: no atom
        "def test_unknown():\n    assert settings.theme() != 'violin'\n\n\n"  # no == assert
        "def test_missing():\n    assert settings.THEME.upper() == 'GLACIER'\n"  # none
    ),
}
EXPECTED = {5: "repo", 10: "file", 14: "none", 22: "none"}  # by the target's line


def test_mining_classes_each_example_and_the_loader_records_the_rule(tmp_path: Path):
    root = _write(tmp_path / "tree", REPO) / "proj"
    options = DatasetOptions(task="rc", cache_dir=tmp_path / "cache", data_dir=root,
                             split="cr_test", extra={"min_per_repo": 1})  # fmt: skip
    dataset = loader.load_local(options)
    examples = [e for p in dataset.partitions.values() for e in p.eval] + list(dataset.train)
    assert {e.line: e.answer_source for e in examples} == EXPECTED
    assert "repo: each occurs there or in the repository's non-test source" in str(
        dataset.meta["answer_source"]
    )


class Oracle:
    """A causal LM that answers 'glacier' to every prompt."""

    kind, name, info = "causal-lm", "oracle", {"device": "cpu"}

    def generate(self, prompts, **settings):
        return [SimpleNamespace(text="'glacier'", prompt_tokens=len(p.split()), new_tokens=1,
                                seconds=0.001) for p in prompts]  # fmt: skip


def test_every_rc_result_is_broken_down_by_answer_source(tmp_path: Path, request):
    root = _write(tmp_path / "tree", REPO) / "proj"
    encoders = plugins().encoders
    request.addfinalizer(partial(encoders.restore, encoders.snapshot()))
    encoders.register("oracle", lambda argument, options: Oracle(), kind="causal-lm",
                      plugin="tests")  # fmt: skip
    out = tmp_path / "results"
    code = main(["run", "--model", "oracle", "--task", "rc", "--data-dir", str(root),
                 "--cache-dir", str(tmp_path / "cache"), "--results", str(out),
                 "--set", "dataset.min_per_repo=1", "--bootstrap", "50"])  # fmt: skip
    assert code == 0
    (path,) = find_results(out)
    result = read_result(path)
    rows = read_examples(path, result.examples_sha256)
    assert sorted(row["answer_source"] for row in rows) == sorted(EXPECTED.values())
    groups = result.breakdowns["answer_source"]
    # a second computation from the stored rows: the count and the mean of each class
    for value, group in groups.items():
        mine = [row for row in rows if row["answer_source"] == value]
        assert group["n_examples"] == len(mine) > 0
        mean = sum(row["exact_match"] for row in mine) / len(mine)
        assert group["metrics"]["exact_match"]["value"] == pytest.approx(mean)
    assert sum(g["n_examples"] for g in groups.values()) == result.n_examples
    # the oracle knows the repository's constant, and nothing else
    assert groups["repo"]["metrics"]["exact_match"]["value"] == 1.0
    assert groups["file"]["metrics"]["exact_match"]["value"] == 0.0
    assert result.config["breakdowns"] == ["answer_source"]


class Zero(Oracle):
    """A causal LM that answers 0 to every prompt."""

    name = "zero"

    def generate(self, prompts, **settings):
        return [SimpleNamespace(text="0", prompt_tokens=len(p.split()), new_tokens=1,
                                seconds=0.001) for p in prompts]  # fmt: skip


def test_compare_and_the_cost_view_by_answer_source(tmp_path: Path, request, capsys):
    from harness.compare import compare_paths
    from harness.leaderboard import build
    from harness.leaderboard_cost import build_costs, render_costs

    root = _write(tmp_path / "tree", REPO) / "proj"
    encoders = plugins().encoders
    request.addfinalizer(partial(encoders.restore, encoders.snapshot()))
    out = tmp_path / "results"
    for name, model in (("oracle", Oracle), ("zero", Zero)):
        encoders.register(name, lambda argument, options, m=model: m(), kind="causal-lm",
                          plugin="tests")  # fmt: skip
        assert main(["run", "--model", name, "--task", "rc", "--data-dir", str(root),
                     "--cache-dir", str(tmp_path / "cache"), "--results", str(out),
                     "--set", "dataset.min_per_repo=1", "--bootstrap", "50"]) == 0  # fmt: skip
    found, _ = compare_paths(out / "rc" / "local" / "oracle", out / "rc" / "local" / "zero",
                             metrics=["exact_match"], by="answer_source",
                             n_permutations=200)  # fmt: skip
    # by hand: the oracle is right on the one repo example, zero on none; both 0 elsewhere
    shown = {c.partition: (c.n, c.a, c.b) for c in found}
    assert shown == {"answer_source=file": (1, 0.0, 0.0), "answer_source=none": (2, 0.0, 0.0),
                     "answer_source=repo": (1, 1.0, 0.0)}  # fmt: skip
    view = build_costs(out, "rc", baseline="none", n_resamples=50)
    rows = {row.model: row for row in view.rows}
    assert rows["oracle"].by_field["answer_source"] == {
        "file": (0.0, 1),
        "none": (0.0, 2),
        "repo": (1.0, 1),
    }
    assert rows["zero"].context_tokens_per_request == 0.0  # no strategy put context in front
    text = render_costs(view)
    assert "exact_match x100 by answer_source (requests)" in text
    assert "file 0.0 (1), none 0.0 (2), repo 100.0 (1)" in text
    board = build(out, "rc", by="answer_source", n_permutations=200)
    assert board.columns == ["file", "none", "repo"]
    cells = {row.model: row.cells for row in board.rows}
    assert (cells["oracle"]["repo"].value, cells["zero"]["repo"].value) == (1.0, 0.0)
    assert cells["oracle"]["repo"].best and cells["zero"]["file"].value == 0.0
    shown = _cli(capsys, "leaderboard", "--task", "rc", "--results", str(out), "--by",
                 "answer_source", "--permutations", "200")  # fmt: skip
    header = next(line for line in shown.splitlines() if line.startswith("| model"))
    assert [cell.strip() for cell in header.split("|")[3:6]] == ["file", "none", "repo"]
    assert "--by answer_source" in shown
    compared = _cli(capsys, "compare", str(out / "rc" / "local" / "oracle"),
                    str(out / "rc" / "local" / "zero"), "--by", "answer_source",
                    "--metric", "exact_match", "--permutations", "200")  # fmt: skip
    assert "answer_source=repo" in compared


def _cli(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    capsys.readouterr()
    assert main(list(args)) == 0, capsys.readouterr().err
    return capsys.readouterr().out


def test_rows_that_do_not_say_are_unknown_never_guessed():
    rows = [{"em": 1.0, "answer_source": None}, {"em": 0.0, "answer_source": "repo"}]
    found = breakdowns(rows, ["answer_source"], ["em"], n_resamples=20)["answer_source"]
    assert {k: v["n_examples"] for k, v in found.items()} == {"repo": 1, "unknown": 1}


@pytest.mark.parametrize(
    ("breakdown", "message"),
    [
        ([], "field 'breakdowns' must be an object"),
        ({"a": {"x": {"n_examples": -1, "metrics": {}}}}, "n_examples must be a whole number"),
        (
            {
                "a": {
                    "x": {
                        "n_examples": 1,
                        "metrics": {"em": {"value": float("nan"), "ci_low": 0.0, "ci_high": 1.0}},
                    }
                }
            },
            "must hold finite value",
        ),  # fmt: skip
    ],
)
def test_a_damaged_breakdown_is_refused_naming_it(breakdown, message: str):
    raw = {"model": "m", "strategy": "none", "task": "rc", "dataset": "local", "partition": "p",
           "metrics": {}, "main_score": "em", "n_examples": 1, "n_candidates": 0, "config": {},
           "versions": {}, "git_sha": "", "seed": 0, "device": "cpu",
           "breakdowns": breakdown}  # fmt: skip
    json.dumps(raw)
    with pytest.raises(InputError, match=message):
        Result.from_json(raw)
