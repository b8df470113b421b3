"""`harness leaderboard`: a constructed store against a golden file, marks, formats.

The store: two partitions; `enc-a/langwise` is far better than the others on
python; on go `enc-b/none` differs from the best on three examples only (not
significant: marked †), and `enc-c/none` was scored on other examples (not
tested: ‡). Regenerate the golden file after an intended change with
``HARNESS_UPDATE_GOLDEN=1 python -m pytest tests/test_leaderboard.py``.
"""

from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path

import numpy as np
import pytest
from test_compare import write_run

from harness.cli import main
from harness.leaderboard import REPORTED_FILE, build, read_reported
from harness.significance import holm, sign_flip_test

GOLDEN = Path(__file__).parent / "fixtures" / "leaderboard" / "t2c.md"
REPORTED = """
[[reported]]
paper = "Paper X"
citation = "arXiv 0000.00000"
task = "t2c"
dataset = "csn"
metric = "mrr"
model = "big"
strategy = "langwise"
values = { python = 99.5, java = 70.0 }

[[reported]]
paper = "Paper X"
task = "rc"
dataset = "repopeft"
metric = "exact_match"
model = "lm"
values = { in-repo = 50.0 }
"""


def _store(root: Path) -> dict[str, dict[str, np.ndarray]]:
    rng = np.random.default_rng(0)
    python = 1.0 / rng.integers(1, 10, size=100)
    go = 1.0 / rng.integers(1, 6, size=80)
    better_go = np.where(rng.random(80) < 0.5, np.minimum(1.0, go * 2), go)
    near_go = better_go.copy()
    near_go[[3, 30, 60]] *= 0.5
    scores = {
        ("enc-a", "none"): {"python": python, "go": go},
        ("enc-a", "langwise"): {"python": np.minimum(1.0, python * 3), "go": better_go},
        ("enc-b", "none"): {"python": python * 0.9, "go": near_go},
        ("enc-c", "none"): {"go": go[::-1].copy()},
    }
    for day, ((model, strategy), partitions) in enumerate(scores.items(), 1):
        for partition, values in partitions.items():
            prefix = "h" if model == "enc-c" else partition[0]
            write_run(
                root,
                {"mrr": values, "ndcg@10": values},
                ids=[f"{prefix}{i:03d}" for i in range(len(values))],
                model=model,
                strategy=strategy,
                partition=partition,
                created=f"2026-01-0{day}T12:00:00+00:00",
            )
    return {f"{m}/{s}": p for (m, s), p in scores.items()}


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, dict[str, np.ndarray]]:
    monkeypatch.chdir(tmp_path)  # relative paths, so the printed commands do not vary
    (tmp_path / "reported.toml").write_text(REPORTED)
    return _store(tmp_path / "store")


ARGS = ["leaderboard", "--task", "t2c", "--results", "store", "--reported", "reported.toml"]


def test_markdown_matches_the_golden_file(store, capsys: pytest.CaptureFixture[str]):
    assert main(ARGS) == 0
    out = capsys.readouterr().out
    if os.environ.get("HARNESS_UPDATE_GOLDEN"):
        GOLDEN.parent.mkdir(parents=True, exist_ok=True)
        GOLDEN.write_text(out, encoding="utf-8")
    assert out == GOLDEN.read_text(encoding="utf-8")


def test_the_same_store_renders_the_same_bytes(store, tmp_path: Path):
    for fmt in ("markdown", "csv", "json", "latex"):
        assert main([*ARGS, "--format", fmt, "-o", f"first.{fmt}"]) == 0
        os.utime(tmp_path / "store", (0, 0))  # time passes; nothing read from the clock
        assert main([*ARGS, "--format", fmt, "-o", f"second.{fmt}"]) == 0
        first, second = ((tmp_path / f"{n}.{fmt}").read_bytes() for n in ("first", "second"))
        assert first.replace(b"first", b"second") == second


def test_marks_follow_the_paired_tests_against_the_best(store):
    board = build(Path("store"), "t2c")
    rows = {f"{r.model}/{r.strategy}": r for r in board.rows}
    assert board.columns == ["go", "python", "mean"]
    best = rows["enc-a/langwise"]
    assert all(best.cells[c].best for c in board.columns)
    # go: enc-b differs from the best on 3 examples; enc-a/none on many; enc-c not comparable.
    expected = holm(
        [sign_flip_test(store["enc-a/langwise"]["go"], store[k]["go"]) for k in
         ("enc-a/none", "enc-b/none")]
    )  # fmt: skip
    assert rows["enc-a/none"].cells["go"].p_holm == pytest.approx(expected[0])
    assert rows["enc-b/none"].cells["go"].p_holm == pytest.approx(expected[1])
    assert rows["enc-b/none"].cells["go"].same_as_best
    assert not rows["enc-a/none"].cells["go"].same_as_best
    assert rows["enc-c/none"].cells["go"].untested
    assert "python" not in rows["enc-c/none"].cells and "mean" not in rows["enc-c/none"].cells
    # The mean column is the macro average of the partition values.
    a = rows["enc-a/none"]
    assert a.cells["mean"].value == pytest.approx(
        (store["enc-a/none"]["go"].mean() + store["enc-a/none"]["python"].mean()) / 2
    )


def test_reported_rows_are_never_bold_or_marked(store):
    board = build(Path("store"), "t2c", reported=Path("reported.toml"))
    (reported,) = [r for r in board.rows if r.reported]
    assert (reported.model, reported.dataset) == ("big", "csn")
    assert reported.cells["python"].value == pytest.approx(0.995)  # above every measured one
    assert not any(c.best or c.same_as_best or c.untested for c in reported.cells.values())
    assert board.columns == ["go", "python", "mean", "java"]


def test_csv_and_json_hold_every_cell(store, capsys: pytest.CaptureFixture[str]):
    assert main([*ARGS, "--format", "csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert len(rows) == 3 * 3 + 1 + 2  # three full rows, enc-c's go, two reported cells
    best = next(r for r in rows if r["model"] == "enc-a" and r["strategy"] == "langwise")
    assert best["best"] == "1" and best["source"] == "measured"
    assert main([*ARGS, "--format", "json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["header"]["date"] == "2026-01-04"
    assert document["columns"] == ["go", "python", "mean", "java"]


def test_latex_escapes_names_and_marks_cells(store, capsys: pytest.CaptureFixture[str]):
    assert main([*ARGS, "--format", "latex"]) == 0
    out = capsys.readouterr().out
    assert r"\begin{tabular}" in out and r"\textbf{" in out and r"$^\dagger$" in out
    assert out.startswith("% t2c on local: mrr")


def test_other_metric_and_errors(store, capsys: pytest.CaptureFixture[str]):
    assert main(["leaderboard", "--task", "t2c", "--results", "store", "--metric", "ndcg@10"]) == 0
    assert "t2c on local: ndcg@10" in capsys.readouterr().out
    assert main(["leaderboard", "--task", "c2c", "--results", "store"]) == 2
    assert "no results for task 'c2c' (tasks there: t2c)" in capsys.readouterr().err
    assert main(["leaderboard", "--task", "t2c", "--results", "store", "--metric", "map"]) == 2
    assert "has no metric 'map'" in capsys.readouterr().err


def test_several_datasets_need_a_choice(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    write_run(tmp_path, {"mrr": [1.0, 0.5]}, dataset="local")
    write_run(tmp_path, {"mrr": [1.0, 0.5]}, dataset="csn")
    assert main(["leaderboard", "--task", "t2c", "--results", str(tmp_path)]) == 2
    assert "several datasets (csn, local); choose one with --dataset" in capsys.readouterr().err
    assert (
        main(["leaderboard", "--task", "t2c", "--results", str(tmp_path), "--dataset", "csn"]) == 0
    )


def test_the_shipped_reported_numbers_are_the_ones_in_the_design():
    csn = {(r.strategy): r.cells for r in read_reported(REPORTED_FILE, "t2c", "mrr")}
    assert (
        csn["none"]["python"].published == "29.76"
        and csn["langwise"]["python"].published == "55.56"
    )
    assert csn["none"]["go"].published == "49.59" and csn["langwise"]["go"].published == "82.88"
    rc = {r.strategy: r.cells for r in read_reported(REPORTED_FILE, "rc", "exact_match")}
    assert rc["hypernet-static"]["in-repo"].published == "66.2"
    assert rc["hypernet-static"]["cross-repo"].published == "63.8"
    assert rc["hypernet-evo"]["cross-repo"].published == "60.3"
    assert rc["none"]["cross-repo"].published == "45.7"
    assert rc["per-repo LoRA"]["in-repo"].published == "64.0"


def test_regenerate_commands_quote_what_the_user_typed(tmp_path: Path, capsys):
    """Paths with spaces or a newline, and settings with spaces, come back as one word each."""
    import shlex

    root = tmp_path / "my results"
    data_dir = tmp_path / "my data\nfolder"
    given = {"data_dir": str(data_dir), "settings": {"dataset": {"note": "a b"}}}
    write_run(root, {"mrr": [1.0, 0.5]}, model="hf:/models/my model", config=given)
    assert main(["leaderboard", "--task", "t2c", "--results", str(root)]) == 0
    out = capsys.readouterr().out
    command = out[out.index("harness run") : out.index("\n", out.index("--results"))]
    words = shlex.split(command)
    assert words[words.index("--model") + 1] == "hf:/models/my model"
    assert words[words.index("--data-dir") + 1] == str(data_dir)
    assert words[words.index("--results") + 1] == str(root)
    assert words[words.index("--set") + 1] == "dataset.note=a b"


def test_output_to_an_unwritable_place_leaves_nothing(store, tmp_path: Path, capsys):
    (tmp_path / "blocked").write_text("a file")
    assert main([*ARGS, "-o", str(tmp_path / "blocked" / "board.md")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"harness: error: -o {tmp_path / 'blocked' / 'board.md'}: cannot write")
    assert "\n" not in err and (tmp_path / "blocked").read_text() == "a file"
    assert not list(tmp_path.glob("*.tmp")) and not list(tmp_path.glob(".*.tmp"))


@pytest.mark.parametrize(
    ("encoder", "identity", "info", "flag"),
    [
        # made when --max-length defaulted to 512: the length its encoder used is given back
        ({"max_length": 512}, {}, {"max_length": 256}, "--max-length 256"),
        ({"max_length": 512}, {}, {}, None),  # a model that uses no length (bm25)
        ({"max_length": None}, {}, {"max_length": 256}, None),  # the model's own: no flag
        ({"max_length": 64}, {"max_length": 64}, {"max_length": 64}, "--max-length 64"),
    ],
)
def test_the_command_of_a_run_makes_its_length_again(tmp_path, encoder, identity, info, flag):
    from harness.compare import load_runs
    from harness.leaderboard_commands import run_commands

    config = {"encoder": encoder, "identity": identity, "encoder_info": info}
    write_run(tmp_path, {"mrr": [1.0, 0.5]}, config=config)
    (command,) = run_commands(load_runs(tmp_path), tmp_path)
    found = [w for w in command.split(" --") if w.startswith("max-length")]
    assert found == ([flag[2:]] if flag else [])


def test_partition_names_in_a_command_are_quoted_for_the_shell(tmp_path):
    """``cs->java``: unquoted, a shell would read ``>`` as a redirection."""
    import shlex

    from harness.compare import load_runs
    from harness.leaderboard_commands import run_commands

    for partition in ("cs->java", "java->cs"):
        write_run(tmp_path, {"mrr": [1.0, 0.5]}, partition=partition)
    (command,) = run_commands(load_runs(tmp_path), tmp_path)
    words = shlex.split(command)
    assert words[words.index("--languages") + 1] == "cs->java,java->cs"
