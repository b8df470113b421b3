"""``harness data audit`` on hand-made datasets whose defects are known, and the ``data``
group's extension point (a dataset plugin's ``data_commands``)."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from harness.audit import (
    NearRule,
    conflicting,
    duplicate_groups,
    near_duplicates,
    unmarked_twins,
)
from harness.cli import main
from harness.data import RetrievalSplit

NAMES = [f"name{i}" for i in range(30)]
LONG = "def compute(" + ", ".join(NAMES) + "):\n    return name0"
CORPUS = {
    "d1": "def add_numbers(a, b):\n    return a + b",
    "d2": "def add_numbers(a, b):  return a + b",  # d1's twin once whitespace is collapsed
    "d3": LONG,
    "d4": LONG.replace("return name0", "return name1"),  # near d3: one identifier differs
    "d5": "def read_file(path):\n    with open(path) as handle:\n        return handle.read()",
    "d6": "def sort_items(items):\n    return sorted(items)",
}
QUERIES = {
    "q1": "add two numbers",
    "q2": "add   two  numbers",  # q1 once whitespace is collapsed
    "q3": "read file",
    "q4": "compute",
    "q5": "sort the items",
    "q6": "read file",  # a training query identical to the evaluated q3
}
TEST_QRELS = [("q1", "d1"), ("q2", "d1"), ("q3", "d5"), ("q4", "d3")]
TRAIN_QRELS = [("q5", "d6"), ("q6", "d5")]


def write_beir(folder: Path) -> Path:
    """CoIR's (BEIR's) layout: corpus.jsonl, queries.jsonl, qrels/{test,train}.tsv."""
    (folder / "qrels").mkdir(parents=True)
    rows = {
        "corpus": [{"_id": k, "title": "", "text": v} for k, v in CORPUS.items()],
        "queries": [{"_id": k, "text": v} for k, v in QUERIES.items()],
    }
    for name, records in rows.items():
        (folder / f"{name}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    for split, pairs in (("test", TEST_QRELS), ("train", TRAIN_QRELS)):
        lines = "".join(f"{q}\t{d}\t1\n" for q, d in pairs)
        (folder / "qrels" / f"{split}.tsv").write_text("query-id\tcorpus-id\tscore\n" + lines)
    return folder


def audit_json(tmp_path: Path, capsys: pytest.CaptureFixture[str], *extra: str) -> Any:
    data = write_beir(tmp_path / "toy")
    args = ["data", "audit", "--dataset", "coir", "--data-dir", str(data), "--json"]
    assert main([*args, "--cache-dir", str(tmp_path / "cache"), *extra]) == 0
    return json.loads(capsys.readouterr().out)


def test_counts_of_a_hand_made_dataset(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    report = audit_json(tmp_path, capsys, "--model", "none")
    assert (report["dataset"], report["task"], report["split"]) == ("coir", "t2c", "test")
    (found,) = report["partitions"].values()
    assert found["sizes"] == {
        "queries": 4, "candidates": 6, "relevant_pairs": 4, "train_pairs": 2,
    }  # fmt: skip
    assert found["duplicate_queries"]["items"] == 2 and found["duplicate_queries"]["groups"] == 1
    assert found["duplicate_queries"]["examples"][0]["ids"] == ["q1", "q2"]
    assert found["duplicate_queries"]["with_different_golds"] == 0  # both ask for d1
    assert found["duplicate_candidates"]["items"] == 2
    assert found["duplicate_candidates"]["examples"][0]["ids"] == ["d1", "d2"]
    near = found["near_duplicate_candidates"]
    assert (near["pairs"], near["items"], near["groups"]) == (1, 2, 1)
    # d3 has 34 identifier tokens, 32 trigrams; d4 changes the last one: 31 shared of 33
    assert near["examples"][0]["ids"] == ["d3", "d4"]
    assert near["examples"][0]["jaccard"] == pytest.approx(31 / 33, abs=1e-4)
    # q1 and q2 are answered by d1, whose twin d2 is not marked relevant
    twins = found["unmarked_twins"]
    assert (twins["queries"], twins["twins"]) == (2, 2)
    assert twins["examples"][0] == {"query": "q1", "relevant": ["d1"], "unmarked": ["d2"]}
    # q3 is q6's text (a training query), its gold d5 is a training positive, as is d6
    assert found["train_overlap"]["queries"] == 1 and found["train_overlap"]["golds"] == 1
    assert found["train_overlap"]["candidates"] == 2
    assert found["saturation"] is None
    assert report["rules"]["near_duplicates"]["threshold"] == 0.8


def test_saturation_is_the_baseline_model_scored_as_a_run_scores_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    """BM25 by hand: q1 and q2 tie d1 with its unmarked twin d2 (rank 2 by the tie rule),
    q4 ties d3 with d4 (same words and length but ``name0``/``name1``), q3 finds d5 alone:
    MRR (0.5 + 0.5 + 1 + 0.5) / 4."""
    report = audit_json(tmp_path, capsys)
    (found,) = report["partitions"].values()
    assert found["saturation"]["model"] == "bm25" and found["saturation"]["metric"] == "mrr"
    assert found["saturation"]["value"] == pytest.approx(0.625)
    assert found["saturation"]["saturated"] is False


def test_the_table_names_every_partition_and_finding(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    data = write_beir(tmp_path / "toy")
    args = ["data", "audit", "--dataset", "coir", "--data-dir", str(data), "--model", "none"]
    assert main([*args, "--cache-dir", str(tmp_path / "cache")]) == 0
    out = capsys.readouterr().out
    row = next(line for line in out.splitlines() if line.startswith("toy "))
    assert row.split()[:9] == ["toy", "4", "6", "2", "2/1", "2/1", "2/1", "2", "1/1"]
    assert "near-duplicates d3 ~ d4 (Jaccard 0.94)" in out
    assert "query q1: gold d1 has unmarked twin(s) d2" in out


def test_bad_requests_exit_2_in_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    data = str(write_beir(tmp_path / "toy"))
    base = ["data", "audit", "--dataset", "coir", "--data-dir", data, "--model", "none"]
    assert main([*base, "--threshold", "0"]) == 2
    assert main([*base, "--set", "strategy.r=8"]) == 2
    assert main(["data", "audit", "--dataset", "nope"]) == 2
    assert main([*base, "--task", "rc"]) == 2
    assert main([*base, "--languages", "nope"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 5 and all(line.startswith("harness: error: ") for line in err)
    assert "'nope' is not a partition" in err[4]
    assert "--threshold" in err[0] and "strategy.r" in err[1] and "'nope'" in err[2]


def reference_shingles(text: str) -> set[tuple[str, ...]]:
    """Identifier trigrams computed a second way (str.isidentifier over a character scan)."""
    tokens, word = [], ""
    for char in text + " ":
        if (word + char).isidentifier() and not (word == "" and char.isdigit()):
            word += char
        else:
            if word:
                tokens.append(word)
            word = char if char.isidentifier() else ""
    if len(tokens) <= 3:
        return {tuple(tokens)}
    return set(zip(tokens, tokens[1:], tokens[2:], strict=False))


def test_near_duplicates_agree_with_exact_jaccard_over_every_pair():
    """Variants of six base functions: one identifier changed at the end (Jaccard >= 0.9)
    or every third one (far below 0.8); the LSH finds exactly the pairs above 0.8."""
    corpus: dict[str, str] = {}
    for base in range(6):
        names = [f"v{base}_{i}" for i in range(24)]
        corpus[f"b{base}"] = f"def f{base}({', '.join(names)}): return {names[0]}"
        corpus[f"b{base}-end"] = f"def f{base}({', '.join(names)}): return {names[1]}"
        far = [n + "x" if i % 3 == 0 else n for i, n in enumerate(names)]
        corpus[f"b{base}-far"] = f"def f{base}({', '.join(far)}): return {names[0]}"
    sets = {key: reference_shingles(text) for key, text in corpus.items()}
    expected = {
        (a, b)
        for a, b in itertools.combinations(corpus, 2)
        if len(sets[a] & sets[b]) / len(sets[a] | sets[b]) >= 0.8
    }
    assert len(expected) == 6  # each base with its -end variant
    found = near_duplicates(corpus, NearRule(threshold=0.8))
    assert (found["pairs"], found["items"], found["groups"]) == (6, 12, 6)
    shown = {tuple(e["ids"]) for e in found["examples"]}
    assert shown <= expected and len(shown) == 3


def test_identical_queries_with_different_golds_are_counted_by_group():
    qrels = {"a": {"x": 1}, "b": {"y": 1}, "c": {"x": 1}, "d": {"x": 1, "z": 0}, "e": {"x": 1}}
    texts = {"a": "sort", "b": " sort", "c": "sort ", "d": "find", "e": "find"}
    groups = duplicate_groups(texts)
    assert groups == [["a", "b", "c"], ["d", "e"]]
    assert conflicting(groups, qrels) == 1  # a, b, c: x or y; d and e: x (z has grade 0)


def test_a_twin_in_another_pool_is_no_unmarked_twin():
    split = RetrievalSplit(
        queries={"q1": "x", "q2": "y"},
        corpus={"a": "f()", "b": " f()\n", "c": "f()"},
        qrels={"q1": {"a": 1}, "q2": {"b": 1}},
        query_pool={"q1": "p1", "q2": "p2"},
        corpus_pool={"a": "p1", "b": "p2", "c": "p2"},
    )
    found = unmarked_twins(split)
    assert (found["queries"], found["twins"]) == (1, 1)  # q2's b has c; q1's a has none in p1
    assert found["examples"] == [{"query": "q2", "relevant": ["b"], "unmarked": ["c"]}]


# --- the extension point: a dataset plugin adds its own `harness data` subcommand -----------

TOY_PLUGIN = """
from harness.hookspecs import hookimpl

def add(sub):
    parser = sub.add_parser("toy-stats", help="a data command from a third-party plugin")
    parser.set_defaults(handler=lambda args: print("toy stats") or 0)

@hookimpl
def harness_register_datasets(register):
    register("toy-data", "toy_data:load", "a toy dataset", data_commands="toy_data:add")
"""

RAISING_PLUGIN = """
from harness.hookspecs import hookimpl

def add(sub):
    raise RuntimeError("no data commands today")

@hookimpl
def harness_register_datasets(register):
    register("bad-data", "bad_data:load", "a dataset", data_commands="bad_data:add")
"""


def test_a_plugin_adds_a_data_subcommand_and_a_failing_one_is_skipped(tmp_path: Path):
    site = tmp_path / "site"
    site.mkdir()
    for dist, module, source in (
        ("toy-data", "toy_data", TOY_PLUGIN),
        ("bad-data", "bad_data", RAISING_PLUGIN),
    ):
        (site / f"{module}.py").write_text(textwrap.dedent(source))
        info = site / f"{module}-1.0.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.0\n")
        (info / "entry_points.txt").write_text(f"[harness]\n{dist} = {module}\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("HARNESS_")}
    env["PYTHONPATH"] = os.pathsep.join([str(site), env.get("PYTHONPATH", "")])
    done = subprocess.run(
        [sys.executable, "-m", "harness", "data", "toy-stats"],
        capture_output=True, text=True, env=env, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout == "toy stats\n"
    assert "plugin 'bad-data' raised adding data commands: RuntimeError" in done.stderr
    helped = subprocess.run(
        [sys.executable, "-m", "harness", "data", "--help"],
        capture_output=True, text=True, env=env, timeout=120,
    )  # fmt: skip
    listed = {line.split()[0] for line in helped.stdout.splitlines() if line.startswith("    ")}
    assert {"audit", "mine", "mine-rc", "toy-stats"} <= listed
