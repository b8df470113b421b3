"""`harness report`: the page of a result store, checked against the stored numbers.

`write_store` makes a small store with the real result writer: a completion task (rc)
with a baseline, a task-wise adapter, a hypernetwork with controls, its adapters' cosine
matrix and a training curve, an Evo track, costs and an answer-class breakdown; and a
retrieval task (t2c) whose systems ran over three seeds. Every number the tests expect is
worked out here from the per-example scores written, not read back from the code.
"""

from __future__ import annotations

import json
import math
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from harness.cli import main
from harness.reportpage.collect import build_reports
from harness.results import MetricValue, Result, result_path, write_result

N = 40
SOURCES = ["file", "repo", "none", "repo"]  # answer_source of example i: SOURCES[i % 4]
MATRIX = [[1.0, 0.25, -0.5], [0.25, 1.0, 0.75], [-0.5, 0.75, 1.0]]
CURVE = [[1, 3.5], [2, 2.75], [4, 1.5]]
STEPS = [i % 3 for i in range(N)]  # commits applied before example i was scored


def rc_scores(strategy: str, partition: str) -> np.ndarray:
    """Exact match per example: none gets every 4th right; taskwise all of `a` and none's
    on `b` (a gain on a, none on b); the hypernetworks every other one."""
    base = np.array([1.0 if i % 4 == 0 else 0.0 for i in range(N)])
    if strategy == "taskwise":
        return np.ones(N) if partition == "a" else base
    if strategy.startswith("hypernet"):
        return np.array([1.0 if i % 2 == 0 else 0.0 for i in range(N)])
    return base


def _cell(values: np.ndarray) -> MetricValue:
    mean = float(values.mean())
    return MetricValue(mean, max(0.0, mean - 0.1), min(1.0, mean + 0.1))


def _write(root: Path, result: Result, folder: str, rows: list[dict[str, Any]]) -> None:
    path = result_path(
        root,
        task=result.task,
        dataset=result.dataset,
        model=result.model,
        strategy=folder,
        partition=result.partition,
    )
    write_result(path, result, rows)


def rc_info(strategy: str, partition: str) -> dict[str, Any]:
    if strategy == "taskwise":
        return {
            "adapter": "t1",
            "adapter_training": {"seconds": 100.0, "loss_curve": CURVE},
            "one_off": [{"what": "adapter_training", "key": "t1", "seconds": 100.0}],
        }
    if not strategy.startswith("hypernet"):
        return {}
    ids = [f"{partition}{i}" for i in range(N)]
    controls: dict[str, Any] = {
        "metric": "exact_match",
        "per_example": {"ids": ids, "shuffled": [0.0] * N, "first_snapshot": [0.0] * N},
        "diversity": {
            "names": ["a", "b", "c"],
            "update_cosines": MATRIX,
            "mean_update_cosine": 1 / 6,
            "n_adapters": 3,
            "collapsed": False,
            "collapse_cosine": 0.99,
        },
    }
    info: dict[str, Any] = {
        "controls": controls,
        "hypernet": {"training": {"seconds": 60.0, "loss_curve": CURVE}},
        "one_off": [{"what": "hypernet_training", "key": strategy, "seconds": 60.0}],
    }
    if strategy == "hypernet-evo":
        info["evolution"] = {"steps": STEPS}
    return info


def write_store(root: Path) -> None:
    """The rc and t2c results described in the module's docstring."""
    for strategy in ("none", "taskwise", "hypernet-static", "hypernet-evo"):
        for partition in ("a", "b"):
            scores = rc_scores(strategy, partition)
            ids = [f"{partition}{i}" for i in range(N)]
            rows = [
                {"id": i, "exact_match": float(s), "answer_source": SOURCES[k % 4]}
                for k, (i, s) in enumerate(zip(ids, scores, strict=True))
            ]
            breakdown = {
                value: {
                    "n_examples": int(len(picked)),
                    "metrics": {"exact_match": vars(_cell(picked))},
                }
                for value in sorted(set(SOURCES))
                if len(picked := scores[[SOURCES[k % 4] == value for k in range(N)]])
            }
            seconds = {"none": 2.0, "taskwise": 2.0, "hypernet-static": 1.0}.get(strategy, 1.5)
            result = Result(
                model="lm",
                strategy=strategy,
                task="rc",
                dataset="local",
                partition=partition,
                metrics={"exact_match": _cell(scores)},
                main_score="exact_match",
                n_examples=N,
                n_candidates=0,
                config={
                    "dataset": {"name": "local"},
                    "split": "cr_test",
                    "seed": 0,
                    "n_resamples": 200,
                    "encoder_info": rc_info(strategy, partition),
                },
                versions={"harness": "0.1.0"},
                git_sha="0" * 16,
                seed=0,
                device="cpu",
                timings={"prompt_tokens_total": 400.0, "generate_s": seconds},
                created="2026-01-02T03:04:05+00:00",
                breakdowns={"answer_source": breakdown},
            )
            _write(root, result, strategy, rows)
    for strategy in ("none", "taskwise"):
        for seed in (0, 1, 2):
            rng = np.random.default_rng([seed, strategy == "taskwise"])
            scores = rng.random(N) * 0.5 + (0.4 if strategy == "taskwise" else 0.2)
            rows = [{"id": f"q{i}", "mrr": float(s)} for i, s in enumerate(scores)]
            result = Result(
                model="enc",
                strategy=strategy,
                task="t2c",
                dataset="local",
                partition="python",
                metrics={"mrr": _cell(scores)},
                main_score="mrr",
                n_examples=N,
                n_candidates=100,
                config={
                    "dataset": {"name": "local"},
                    "split": "test",
                    "seed": seed,
                    "n_resamples": 200,
                    "identity": {"seed": seed} if seed else {},
                    "replicate_of": strategy,
                },
                versions={"harness": "0.1.0"},
                git_sha="0" * 16,
                seed=seed,
                device="cpu",
                created="2026-01-02T03:04:05+00:00",
            )
            _write(root, result, strategy if seed == 0 else f"{strategy}@seed_{seed}", rows)


class Tables(HTMLParser):
    """Every table cell of a page: (section id, row label, column, data-v, text, bold)."""

    def __init__(self) -> None:
        super().__init__()
        self.cells: list[dict[str, Any]] = []
        self.section, self.row, self.cell = "", [], None  # type: ignore[var-annotated]
        self.bold, self.table = False, ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "section":
            self.section = found.get("id") or ""
        elif tag == "table":
            self.table = found.get("data-table") or ""
        elif tag == "tr":
            self.row = []
        elif tag == "td":
            self.cell = {
                "section": self.section,
                "table": self.table,
                "column": found.get("data-col"),
                "v": found.get("data-v"),
                "text": "",
                "bold": False,
            }
        elif tag == "strong" and self.cell is not None:
            self.cell["bold"] = True

    def handle_data(self, data: str) -> None:
        if self.cell is not None:
            self.cell["text"] += data

    def handle_endtag(self, tag: str) -> None:
        if tag == "td" and self.cell is not None:
            self.cell["label"] = " ".join(c["text"] for c in self.row[:2])
            self.row.append(self.cell)
            self.cells.append(self.cell)
            self.cell = None


def board_cells(
    html: str, section: str, table: str = "board"
) -> dict[tuple[str, str], dict[str, Any]]:
    """The cells of a section's leaderboard (or of its `table`): (row label, column) -> cell."""
    parser = Tables()
    parser.feed(html)
    return {
        (c["label"], c["column"]): c
        for c in parser.cells
        if c["section"] == section and c["table"] == table and c["column"]
    }


@pytest.fixture
def store(tmp_path: Path) -> Path:
    root = tmp_path / "results"
    write_store(root)
    return root


@pytest.fixture
def page(store: Path, tmp_path: Path) -> str:
    out = tmp_path / "report.html"
    assert main(["report", str(store), "-o", str(out), "--permutations", "2000"]) == 0
    return out.read_text(encoding="utf-8")


def test_the_page_fetches_nothing(page: str):
    assert page.startswith("<!DOCTYPE html>")
    assert "Content-Security-Policy" in page and "default-src 'none'" in page
    lowered = page.lower()
    for fetching in ("<link", " src=", "@import", "url(", "<iframe", "<img"):
        assert fetching not in lowered, fetching
    # the only URL is the SVG namespace, which is a name, never fetched
    assert {u for u in lowered.split('"') if u.startswith("http")} == {"http://www.w3.org/2000/svg"}
    assert page.count("<svg") >= 10 and "<script>" in page


def test_the_table_holds_the_stored_numbers_with_the_leaderboards_marks(page: str, store: Path):
    cells = board_cells(page, "rc-local")
    for path in sorted((store / "rc").rglob("*.json")):
        stored = json.loads(path.read_text())
        metric = stored["metrics"]["exact_match"]
        cell = cells[(f"lm {stored['strategy']}", stored["partition"])]
        assert float(cell["v"]) == metric["value"]
        half = (metric["ci_high"] - metric["ci_low"]) / 2
        assert cell["text"].startswith(f"{100 * metric['value']:.2f} ± {100 * half:.2f}")
    # a: taskwise (40 of 40) is best alone; b: the two hypernetworks tie at 20 of 40
    assert cells[("lm taskwise", "a")]["bold"] and not cells[("lm none", "a")]["bold"]
    assert cells[("lm hypernet-static", "b")]["bold"] and cells[("lm hypernet-evo", "b")]["bold"]
    assert not cells[("lm taskwise", "b")]["bold"]
    # the mean column: the macro average of a and b
    for strategy in ("none", "taskwise"):
        expected = np.mean([rc_scores(strategy, p).mean() for p in "ab"])
        assert float(cells[(f"lm {strategy}", "mean")]["v"]) == pytest.approx(expected)
    # control rows beneath their system: the shuffled control scored 0 everywhere
    shuffled = cells[("lm hypernet-static: shuffled", "a")]
    assert float(shuffled["v"]) == 0.0 and "gain +50.00" in shuffled["text"]


def markdown_cells(capsys: pytest.CaptureFixture[str], argv: list[str]) -> dict[Any, str]:
    """`harness leaderboard ARGV`'s table: (row label, column) -> cell text, bold dropped."""
    capsys.readouterr()
    assert main(["leaderboard", *argv, "--permutations", "2000"]) == 0
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| ")]
    header = [h.strip() for h in lines[0].strip("|").split("|")]
    found = {}
    for line in lines[1:]:
        texts = [t.strip().replace("**", "") for t in line.strip("|").split("|")]
        for column, text in zip(header[2:], texts[2:], strict=True):
            found[(f"{texts[0]} {texts[1]}", column)] = text
    return found


def test_the_cells_read_as_the_markdown_leaderboards(page: str, store: Path, capsys):
    for task in ("rc", "t2c"):
        expected = markdown_cells(capsys, ["--task", task, "--results", str(store)])
        cells = board_cells(page, f"{task}-local")
        assert {k: c["text"] for k, c in cells.items()} == expected
    by = ["--task", "rc", "--results", str(store), "--by", "answer_source"]
    cells = board_cells(page, "rc-local", "by answer_source")
    assert {k: c["text"] for k, c in cells.items()} == markdown_cells(capsys, by)


def test_replicates_show_their_seeds_spread(page: str, store: Path):
    cells = board_cells(page, "t2c-local")
    for strategy in ("none", "taskwise"):
        values = [
            json.loads(p.read_text())["metrics"]["mrr"]["value"]
            for p in sorted((store / "t2c").rglob(f"{strategy}*/python.json"))
        ]
        cell = cells[(f"enc {strategy} seeds=0,1,2", "python")]
        assert len(values) == 3 and float(cell["v"]) == pytest.approx(np.mean(values))
        assert f"(sd {100 * np.std(values, ddof=1):.2f})" in cell["text"]
    assert "python: mrr x100 by seed" in page


def test_paired_differences_from_the_baseline_are_holm_marked(store: Path):
    (rc, t2c) = build_reports(store, n_permutations=2000)
    found = {(d.strategy, d.column): d for d in rc.differences}
    a = found[("taskwise", "a")]  # 30 examples 0 -> 1, none 1 -> 0
    assert a.difference == pytest.approx(1.0 - 0.25) and a.n_seeds == 1
    assert a.p_value == pytest.approx(1 / 2001) and a.p_holm < 0.05
    b = found[("taskwise", "b")]  # the same scores: no difference at all
    assert b.difference == 0.0 and b.p_value == 1.0 and b.p_holm == 1.0
    mean = found[("taskwise", "mean")]
    assert mean.difference == pytest.approx((0.75 + 0.0) / 2)
    # Holm over the whole family: the smallest p times the family's size
    ps = sorted(d.p_value for d in rc.differences)
    assert min(d.p_holm for d in rc.differences) == pytest.approx(min(1.0, ps[0] * len(ps)))
    # over three seeds in common: the t test over seeds and examples, seed count kept
    assert {d.n_seeds for d in t2c.differences} == {3}


def test_completion_extras_track_heatmap_curves_cost_and_classes(store: Path, page: str):
    (rc, _) = build_reports(store, n_permutations=200)
    track = {t.partition: t for t in rc.tracks}
    scores = rc_scores("hypernet-evo", "a")
    assert track["a"].steps == [0, 1, 2]
    assert track["a"].n == [STEPS.count(k) for k in (0, 1, 2)]
    for k, value in zip(track["a"].steps, track["a"].score, strict=True):
        assert value == pytest.approx(scores[[s == k for s in STEPS]].mean())
    assert track["a"].first_snapshot == [0.0, 0.0, 0.0]
    assert [(h.strategy, h.matrix) for h in rc.heatmaps] == [
        ("hypernet-evo", MATRIX),
        ("hypernet-static", MATRIX),
    ]
    # the heatmap's cells carry their exact values
    assert "a · c: -0.5000" in page and "b · c: 0.7500" in page
    curves = {(c.strategy, c.what): c.points for c in rc.curves}
    assert curves[("taskwise", "adapter_training t1")] == [tuple(p) for p in CURVE]
    assert curves[("hypernet-static", "hypernet.training")] == [tuple(p) for p in CURVE]
    costs = {r.strategy: r for r in rc.costs.rows}  # type: ignore[union-attr]
    # hypernet-static: a one-off 60 s, then 1.0 s per partition of 40 requests, against
    # none's nothing once and 2.0 s a partition: repaid after ceil(60 / (2/40 - 1/40))
    assert costs["hypernet-static"].seconds_per_request == pytest.approx(2 * 1.0 / 80)
    assert costs["hypernet-static"].break_even == math.ceil(60 / (2 * 2.0 / 80 - 2 * 1.0 / 80))
    by_class = rc.by_field["answer_source"]
    assert by_class.columns == ["file", "none", "repo"]
    none_row = next(r for r in by_class.rows if r.strategy == "none")
    # none is right on examples 0, 4, 8...: SOURCES[0] = file, so file 100%, the others 0
    assert none_row.cells["file"].value == 1.0 and none_row.cells["repo"].value == 0.0
    assert "exact_match by answer_source" in page


def test_every_row_has_its_command_and_config_folded(page: str):
    assert page.count("<details><summary>lm / ") == 4
    assert "harness run --model lm --strategy taskwise --task rc --dataset local" in page
    assert page.count("<details><summary>enc / ") == 6  # three seeds each


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["report", "{store}/nothing", "-o", "{out}"], "no such result file or folder"),
        (["report", "{store}", "--task", "c2c", "-o", "{out}"], "no results for task 'c2c'"),
        (["report", "{store}", "-o", "{tmp}/report.txt"], "name it .html"),
        (["report", "{store}", "--dataset", "cosqa", "-o", "{out}"], "dataset 'cosqa'"),
    ],
)
def test_bad_requests_end_in_one_line_and_write_nothing(
    store: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
):
    out = tmp_path / "report.html"
    filled = [a.format(store=store, out=out, tmp=tmp_path) for a in argv]
    assert main(filled) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    assert not out.exists() and not (tmp_path / "report.txt").exists()


def test_one_task_alone(store: Path, tmp_path: Path):
    out = tmp_path / "t2c.html"
    assert main(["report", str(store), "--task", "t2c", "-o", str(out)]) == 0
    text = out.read_text()
    assert 'id="t2c-local"' in text and 'id="rc-local"' not in text


def test_what_the_built_in_plugins_record_for_the_page():
    """The training summary keeps its loss curve (means of consecutive steps past 200
    points) and the hypernetworks' diversity its whole update-cosine matrix, with names."""
    import torch

    from harness.plugins.adapters.report import TrainReport
    from harness.plugins.hypernet.controls import diversity
    from harness.plugins.hypernet.functional import Adapters

    summary = TrainReport(4, 1.0, 8, 10, losses=[4.0, 2.0, 3.0, 1.0]).summary()
    assert summary["loss_curve"] == [[1, 4.0], [2, 2.0], [3, 3.0], [4, 1.0]]
    long = TrainReport(450, 1.0, 8, 10, losses=[float(i) for i in range(450)]).summary()
    # 450 steps in 200 points: buckets of 3 steps, each at its last step, the 3 means
    assert long["loss_curve"][:2] == [[3, 1.0], [6, 4.0]] and long["loss_curve"][-1] == [450, 448.0]
    assert len(long["loss_curve"]) == 150
    # updates B A: e1 e1^T, 2 e1 e1^T (the same direction) and e2 e2^T (orthogonal)
    e1, e2 = torch.tensor([1.0, 0.0]), torch.tensor([0.0, 1.0])
    a = torch.stack([e1, e1, e2]).reshape(3, 1, 2)  # (n, rank, in)
    b = torch.stack([e1, 2 * e1, e2]).reshape(3, 2, 1)  # (n, out, rank)
    found = diversity(Adapters({"layer": (a, b)}, 1.0), 0.99, ["x", "y", "z"])
    assert found["names"] == ["x", "y", "z"]
    assert found["update_cosines"] == [[1.0, 1.0, 0.0], [1.0, 1.0, 0.0], [0.0, 0.0, 1.0]]
    assert found["mean_update_cosine"] == pytest.approx(1 / 3)


def test_interval_bars_draw_the_stored_percentile_interval_not_value_plus_minus_half():
    """1 right of 273 (the local cr_test's repo answers): the bootstrap interval is
    [0, 1.10] x100, not 0.37 ± 0.55, which would reach below 0."""
    from harness.leaderboard_rows import Cell
    from harness.reportpage.page import _interval_bar

    value, low, high = 1 / 273, 0.0, 3 / 273
    drawn = _interval_bar(
        "lm none", Cell(value, (high - low) / 2, interval=(low, high)), strong=True
    )
    assert (drawn.low, drawn.high) == (pytest.approx(0.0), pytest.approx(100 * 3 / 273))
    # a cell with only a half-width (seeds' mean half) is drawn symmetric, as before
    symmetric = _interval_bar("lm none", Cell(0.5, 0.1), strong=True)
    assert (symmetric.low, symmetric.high) == (pytest.approx(40.0), pytest.approx(60.0))
