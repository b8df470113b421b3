"""The ``codexglue-trans`` loader: line-aligned parallel corpora, one partition per direction.

Fixtures are written in CodeXGLUE's code-to-code-trans layout
(``<split>.java-cs.txt.java`` and ``<split>.java-cs.txt.cs``); every expected
id, qrel, group and rank below is worked out by hand from the lines.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from harness.cli import main
from harness.data import DatasetOptions, RetrievalDataset
from harness.errors import HarnessError
from harness.plugins.datasets.parallel import load_parallel, pair_groups
from harness.plugins.retrieval_eval import Retrieval
from harness.task_kind import EvaluationOptions

# valid: C# lines 2 and 4 are one text up to whitespace, so Java 2 and Java 4 each have
# two identical candidates; Java 1 and 3 one gold each.
VALID_JAVA = [
    "public int size() { return n; }",
    "public void clear() { items.clear(); }",
    "public String name() { return name; }",
    "public void reset() { items.clear(); }",
]
VALID_CS = [
    "public int Size() { return n; }",
    "public void Clear() { items.Clear(); }",
    "public string Name() { return name; }",
    "public void Clear()  {  items.Clear(); }",
]
# train: Java lines 1 and 3 are equal, C# lines 3 and 4 are equal: lines 1, 3, 4 are one group
TRAIN_JAVA = ["int a() { return 1; }", "int b() { return 2; }", "int a() { return 1; }",
              "int c() { return 3; }", "int d() { return 4; }"]  # fmt: skip
TRAIN_CS = ["int A() { return 1; }", "int B() { return 2; }", "int C() { return 3; }",
            "int C() {\treturn 3; }", "int D() { return 4; }"]  # fmt: skip


def write_lines(path: Path, lines: list[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")


def write_corpus(root: Path) -> Path:
    for split, java, cs in (("valid", VALID_JAVA, VALID_CS), ("train", TRAIN_JAVA, TRAIN_CS)):
        write_lines(root / f"{split}.java-cs.txt.java", java)
        write_lines(root / f"{split}.java-cs.txt.cs", cs)
    return root


def load(root: Path, **kwargs: Any) -> RetrievalDataset:
    kwargs.setdefault("split", "valid")
    return load_parallel(DatasetOptions(task="c2c", cache_dir=root, data_dir=root, **kwargs))


def test_two_directions_with_identical_candidates_relevant(tmp_path: Path) -> None:
    dataset = load(write_corpus(tmp_path / "d"))
    assert list(dataset.partitions) == ["cs->java", "java->cs"]
    to_cs = dataset.partitions["java->cs"].eval
    assert to_cs.queries == {f"java:{i}": text for i, text in enumerate(VALID_JAVA, start=1)}
    assert to_cs.corpus == {f"cs:{i}": text for i, text in enumerate(VALID_CS, start=1)}
    assert to_cs.qrels == {
        "java:1": {"cs:1": 1},
        "java:2": {"cs:2": 1, "cs:4": 1},
        "java:3": {"cs:3": 1},
        "java:4": {"cs:2": 1, "cs:4": 1},
    }
    to_java = dataset.partitions["cs->java"].eval
    assert to_java.queries == to_cs.corpus and to_java.corpus == to_cs.queries
    # the Java lines are all different: one gold each
    assert to_java.qrels == {f"cs:{i}": {f"java:{i}": 1} for i in range(1, 5)}
    assert dataset.meta["ties"] == "relevant"
    assert "whitespace collapsed" in dataset.meta["qrels"]
    assert dataset.meta["sizes"] == {"cs->java": [4, 4], "java->cs": [4, 4]}
    assert dataset.meta["eval_split"] == "valid"


def test_ties_gold_keeps_only_the_aligned_line(tmp_path: Path) -> None:
    dataset = load(write_corpus(tmp_path / "d"), extra={"ties": "gold"})
    qrels = dataset.partitions["java->cs"].eval.qrels
    assert qrels == {f"java:{i}": {f"cs:{i}": 1} for i in range(1, 5)}
    assert dataset.meta["ties"] == "gold"


class HandMadeEncoder:
    """Embeddings looked up by text; identical texts get identical embeddings, as any
    deterministic encoder gives them."""

    def __init__(self, table: dict[str, list[float]]) -> None:
        self.table = table

    def encode(self, texts: list[str], **_: object) -> np.ndarray:
        return np.array([self.table[" ".join(t.split())] for t in texts], dtype=np.float32)


def test_a_tie_with_an_identical_candidate_is_no_miss(tmp_path: Path) -> None:
    # Java 2 and Java 4 score the two identical C# lines (2 and 4) equally and highest;
    # Java 1 and 3 find their own line first.
    table = {
        " ".join(t.split()): v
        for t, v in zip(VALID_JAVA + VALID_CS[:3], [
            [1, 0, 0], [0, 1, 0], [0, 0, 1], [0, 0.9, 0.1],
            [1, 0, 0], [0, 1, 0], [0, 0, 1],
        ], strict=True)
    }  # fmt: skip
    ranks = {}
    for ties in ("relevant", "gold"):
        split = load(write_corpus(tmp_path / ties), extra={"ties": ties})
        evaluation = Retrieval().evaluate(
            HandMadeEncoder(table), split.partitions["java->cs"].eval, EvaluationOptions()
        )
        ranks[ties] = {row["id"]: row["mrr"] for row in evaluation.per_example}
    assert ranks["relevant"] == {"java:1": 1.0, "java:2": 1.0, "java:3": 1.0, "java:4": 1.0}
    # gold only: the twin ties the gold and counts ahead of it (ties are ranked pessimistically)
    assert ranks["gold"] == {"java:1": 1.0, "java:2": 0.5, "java:3": 1.0, "java:4": 0.5}


def test_training_pairs_in_both_directions_grouped_by_shared_text(tmp_path: Path) -> None:
    dataset = load(write_corpus(tmp_path / "d"))
    to_cs = [(p.query, p.positive, p.group) for p in dataset.partitions["java->cs"].train]
    # lines 1 and 3 share a Java text, 3 and 4 a C# text: {1, 3, 4} is group 1
    groups = ["java-cs:1", "java-cs:2", "java-cs:1", "java-cs:1", "java-cs:5"]
    assert to_cs == list(zip(TRAIN_JAVA, TRAIN_CS, groups, strict=True))
    to_java = [(p.query, p.positive, p.group) for p in dataset.partitions["cs->java"].train]
    assert to_java == list(zip(TRAIN_CS, TRAIN_JAVA, groups, strict=True))


def test_pair_groups_join_chains_across_both_sides() -> None:
    # 1-2 share a left text, 2-3 a right text, 3-4 a left text: one chain; 5 alone
    left = ["a", "a", "b", "b ", "c"]
    right = ["w", "x", "x", "y", "z"]
    assert pair_groups(left, right) == [1, 1, 1, 1, 5]
    assert pair_groups(["p", "q"], ["r", "s"]) == [1, 2]


def test_evaluating_on_train_has_no_training_pairs(tmp_path: Path) -> None:
    dataset = load(write_corpus(tmp_path / "d"), split="train")
    assert len(dataset.partitions["java->cs"].eval.queries) == 5
    assert list(dataset.partitions["java->cs"].train) == []


@pytest.mark.parametrize("split", ["test", "dev"])
def test_split_names(tmp_path: Path, split: str) -> None:
    root = write_corpus(tmp_path / "d")
    if split == "test":
        with pytest.raises(HarnessError, match=r"no test files \(partitions found: java->cs"):
            load(root, split="test")
    else:  # dev and val are valid's aliases
        assert load(root, split=split).meta["eval_split"] == "valid"


def test_one_direction_by_name(tmp_path: Path) -> None:
    dataset = load(write_corpus(tmp_path / "d"), languages=["cs->java"])
    assert list(dataset.partitions) == ["cs->java"]
    with pytest.raises(HarnessError, match=r"no partition 'java-cs'.*known: java->cs, cs->java"):
        load(tmp_path / "d", languages=["java-cs"])


# --- through the CLI -----------------------------------------------------------------------------


def run_args(tmp_path: Path, data: Path, *args: str) -> list[str]:
    return ["run", "--model", "minilm", "--task", "c2c", "--dataset", "codexglue-trans",
            "--data-dir", str(data), "--split", "valid", "--device", "cpu",
            "--results", str(tmp_path / "results"), "--cache-dir", str(tmp_path / "cache"),
            *args]  # fmt: skip


def test_a_run_stores_both_directions_with_the_rule(tmp_path: Path) -> None:
    data = write_corpus(tmp_path / "d")
    assert main(run_args(tmp_path, data, "--languages", "java->cs,cs->java")) == 0
    stored = sorted((tmp_path / "results").rglob("*.json"))
    # ">" is no file-name character: the store's safe names, distinct for the two directions
    assert [p.name for p in stored] == ["cs-_java.json", "java-_cs.json"]
    assert stored[0].parent.relative_to(tmp_path / "results").parts[:2] == (
        "c2c",
        "codexglue-trans@valid",
    )
    result = json.loads(stored[1].read_text())
    assert result["partition"] == "java->cs" and result["n_examples"] == 4
    assert result["config"]["dataset"]["ties"] == "relevant"
    assert "whitespace collapsed" in result["config"]["dataset"]["qrels"]


def harness_run(args: list[str], capfd: pytest.CaptureFixture[str]) -> tuple[int, str]:
    try:
        code = main(args)
    except SystemExit as exc:
        code = int(exc.code or 0)
    return code, capfd.readouterr().err


BAD_CASES = {
    "unequal-line-counts": (
        {"valid.java-cs.txt.cs": "".join(line + "\n" for line in VALID_CS[:3])},
        "valid.java-cs.txt.java:4: no counterpart: valid.java-cs.txt.cs has only 3 lines",
    ),
    "empty-line-inside": (
        {"valid.java-cs.txt.java": "\n".join(VALID_JAVA[:2] + ["  "] + VALID_JAVA[3:]) + "\n"},
        "valid.java-cs.txt.java:3: empty line",
    ),
    "missing-counterpart": (
        {"valid.java-cs.txt.cs": None},
        "valid.java-cs.txt.cs: missing: the counterpart of valid.java-cs.txt.java",
    ),
    "not-utf8": (
        {"valid.java-cs.txt.cs": b"ok\nalso ok\ncaf\xe9\nend\n"},
        "valid.java-cs.txt.cs:3: not UTF-8: byte 0xe9 at column 4",
    ),
}


@pytest.mark.parametrize("name", list(BAD_CASES))
def test_bad_files_one_line_exit_2_nothing_written(
    tmp_path: Path, capfd: pytest.CaptureFixture[str], name: str
) -> None:
    data = write_corpus(tmp_path / "d")
    files, expected = BAD_CASES[name]
    for file, content in files.items():
        path = data / file
        if content is None:
            path.unlink()
        elif isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)
    code, err = harness_run(run_args(tmp_path, data), capfd)
    assert code == 2, err
    shown = err.strip().splitlines()
    assert len(shown) == 1 and shown[0].startswith("harness: error: "), err
    assert f"{data}/{expected}" in shown[0], shown[0]
    results = tmp_path / "results"
    assert not results.exists() or [p for p in results.rglob("*") if p.is_file()] == []


def test_a_bad_train_file_stops_a_training_strategy(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    data = write_corpus(tmp_path / "d")
    (data / "train.java-cs.txt.cs").write_text("".join(t + "\n" for t in TRAIN_CS[:4]))
    code, err = harness_run(run_args(tmp_path, data, "--strategy", "taskwise"), capfd)
    assert code == 2, err
    assert f"{data}/train.java-cs.txt.java:5: no counterpart" in err.strip().splitlines()[-1]
    results = tmp_path / "results"
    assert not results.exists() or [p for p in results.rglob("*") if p.is_file()] == []


def test_langwise_trains_one_adapter_per_direction(
    tiny_bert: Path, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    data = write_corpus(tmp_path / "d")
    args = run_args(tmp_path, data, "--strategy", "langwise", "--set", "strategy.batch_size=2",
                    "--set", "strategy.max_steps=2", "--set", "strategy.max_length=32",
                    "--set", "strategy.r=4")  # fmt: skip
    args[args.index("minilm")] = f"hf:{tiny_bert}"
    code, err = harness_run(args, capfd)
    assert code == 0, err
    assert "adapter java->cs: 2 steps" in err and "adapter cs->java: 2 steps" in err
    stored = {p.name: json.loads(p.read_text()) for p in (tmp_path / "results").rglob("*.json")}
    keys = {name: result["config"]["strategy"]["adapter_keys"] for name, result in stored.items()}
    assert set(keys) == {"java-_cs.json", "cs-_java.json"}
    assert set(keys["java-_cs.json"]) == {"java->cs", "cs->java"}
    assert keys["java-_cs.json"]["java->cs"] != keys["java-_cs.json"]["cs->java"]
