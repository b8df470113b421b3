"""Completion splits without leaks (issue 16, point 3).

A fixture repository repeats assertion statements across its two test files.
The statements are recovered here with ``ast`` on the files themselves and the
expected labels from the documented hash formula with hashlib, independently
of the miner's own statement keys.
"""

from __future__ import annotations

import ast
import hashlib
import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from harness.cli import main
from harness.data import CompletionExample, DatasetOptions
from harness.plugins.datasets.repopeft import EXAMPLE_COLUMNS, load_repopeft
from harness.plugins.local_dataset.completion_loader import load_local_completion
from harness.plugins.rag.demonstrations import Demonstrations, conflicts

SPLITS = {"val_fraction": 0.3, "test_fraction": 0.3}


def write_shop(root: Path) -> Path:
    """Two test files; two statements repeat in every test (one in two spellings), and
    each of the others once in each file."""
    for name in ("cart", "price"):
        lines = ["import unittest", "", "", f"class Test{name.title()}(unittest.TestCase):"]
        for i in range(15):
            spacing = " == " if i % 2 else "=="  # equal statements once whitespace is removed
            lines += [
                f"    def test_{name}_{i}(self):",
                f"        thing = make_{name}({i})",
                "        self.assertEqual(thing.total(), 0)",
                f"        assert thing.count(){spacing}0",
                f"        self.assertEqual(thing.item({i}), {i * 3})",
                "",
            ]
        (root / "tests").mkdir(parents=True, exist_ok=True)
        (root / "tests" / f"test_{name}.py").write_text("\n".join(lines) + "\n")
    return root


def statements_by_id(root: Path, repo: str) -> dict[str, str]:
    """Example id (``repo:path:line:column`` of the target) -> the statement, whitespace removed."""
    found = {}
    for path in sorted((root / "tests").glob("*.py")):
        text = path.read_text()
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.Assert):
                expected = node.test.comparators[0]  # type: ignore[attr-defined]
            elif isinstance(node, ast.Expr) and isinstance(node.value, ast.Call):
                expected = node.value.args[1]
            else:
                continue
            key = f"{repo}:tests/{path.name}:{expected.lineno}:{expected.col_offset + 1}"
            found[key] = "".join((ast.get_source_segment(text, node) or "").split())
    return found


def unit(text: str) -> float:
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big") / 2**64


def per_assertion_label(example_id: str, seed: int = 0) -> str:
    h = unit(f"{seed}:in:{example_id}")
    return "test" if h < 0.3 else "val" if h < 0.6 else "train"


def position(example_id: str) -> tuple[str, int, int]:
    _, path, line, column = example_id.rsplit(":", 3)
    return path, int(line), int(column)


def options(cache: Path, data: Path, split: str, **extra: Any) -> DatasetOptions:
    extra = {"min_per_repo": 1, **SPLITS, **extra}
    return DatasetOptions(task="rc", cache_dir=cache, data_dir=data, split=split, extra=extra)


@pytest.fixture
def shop(tmp_path: Path) -> Path:
    return write_shop(tmp_path / "shop")


def test_no_statement_is_in_training_and_evaluated_splits(shop: Path, tmp_path: Path) -> None:
    statement = statements_by_id(shop, "shop")
    # total() and count() 30 times each, item(i) once in each file
    assert len(statement) == 90 and len(set(statement.values())) == 2 + 15
    # the fixture has the leak the old per-assertion rule made
    old_train = {statement[i] for i in statement if per_assertion_label(i) == "train"}
    assert any(statement[i] in old_train for i in statement if per_assertion_label(i) != "train")
    for split in ("test", "val"):
        dataset = load_local_completion(options(tmp_path / "cache", shop, split))
        partition = dataset.partitions["shop"]
        trained = {statement[e.id] for e in partition.train}
        evaluated = {statement[e.id] for e in partition.eval}
        assert trained and evaluated and not trained & evaluated
        if split == "test":  # every example is in one of the three, none is dropped
            assert len(partition.train) + len(partition.eval) + len(partition.valid) == 90
            assert not {statement[e.id] for e in partition.valid} & (trained | evaluated)


def test_a_statement_group_takes_its_first_examples_label(shop: Path, tmp_path: Path) -> None:
    statement = statements_by_id(shop, "shop")
    first: dict[str, str] = {}
    for example_id in sorted(statement, key=position):
        first.setdefault(statement[example_id], example_id)
    expected = {i: per_assertion_label(first[statement[i]]) for i in statement}
    moved = sum(expected[i] != per_assertion_label(i) for i in statement)
    assert moved > 0
    dataset = load_local_completion(options(tmp_path / "cache", shop, "test"))
    partition = dataset.partitions["shop"]
    examples = partition.train + partition.valid + partition.eval
    assert {e.id: e.in_repo_split for e in examples} == expected
    meta = json.loads((Path(dataset.meta["cache_dir"]) / "meta.json").read_text())
    assert meta["repos"]["shop"]["in_repo_moved"] == moved == meta["sizes"]["in_repo_moved"]
    # what reaches each result's config
    assert dataset.meta["in_repo_moved"] == moved
    assert dataset.meta["in_repo_rule"].startswith("by statement group")
    assert dataset.meta["in_repo_shared_statements"] == {"val": 0, "test": 0}


def test_icl_never_shows_the_examples_own_statement(shop: Path, tmp_path: Path) -> None:
    statement = statements_by_id(shop, "shop")
    # cross-repo: the pool is the repository's other evaluated examples, repeats included
    dataset = load_local_completion(options(tmp_path / "cache", shop, "cr_test"))
    pool = dataset.partitions["shop"].eval
    assert len(pool) == 90
    for select in ("similar", "random"):
        source = Demonstrations(pool, k=30, query_lines=3, demo_lines=2, select=select, seed=0)
        ranked = source.rank([e.prefix for e in pool], [[e] for e in pool])
        for example, pieces in zip(pool, ranked, strict=True):
            assert pieces and all(statement[p.id] != statement[example.id] for p in pieces)


def test_without_statement_keys_icl_compares_the_shown_statement() -> None:
    def shown(n: int, prefix: str, target: str) -> CompletionExample:
        return CompletionExample(f"r:{n}", "r", prefix, target, "tests/t.py", 100 * n)

    example = shown(1, "x = make(1)\n    assert x.count() == ", "0")
    assert conflicts(example, shown(2, "y = 2\n  assert x.count()==", "0"), 2)
    assert not conflicts(example, shown(3, "x = make(1)\n    assert x.count() == ", "1"), 2)
    assert not conflicts(example, shown(4, "x = make(1)\n    assert x.total() == ", "0"), 2)


def write_parquet(path: Path, rows: list[tuple[str, str, str, str]]) -> Path:
    table = {name: [] for name in EXAMPLE_COLUMNS}  # type: dict[str, list[Any]]
    for repo, prefix, target, in_repo in rows:
        values = [repo, None, prefix, target, "train", in_repo, "tests/test_f.py"]
        for name, value in zip(EXAMPLE_COLUMNS, values, strict=True):
            table[name].append(value)
    types = {name: pa.string() for name in EXAMPLE_COLUMNS} | {"commit_index": pa.int64()}
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table({n: pa.array(v, types[n]) for n, v in table.items()}), path)
    return path


def test_repopeft_records_the_statements_its_splits_share(tmp_path: Path) -> None:
    rows = [
        ("org/a", "a = 1\nassert f(a) == ", "1", "train"),
        ("org/a", "a = 2\nassert  f(a)==", "1", "test"),  # the training statement again
        ("org/a", "assert f(a) == ", "2", "test"),
        ("org/a", "assert g(a) == ", "1", "val"),
        ("org/b", "assert f(a) == ", "1", "test"),  # another repository's: no leak
        ("org/b", "assert h() == ", "3", "train"),
    ]
    data = write_parquet(tmp_path / "data" / "examples.parquet", rows)
    dataset = load_repopeft(
        DatasetOptions(task="rc", cache_dir=tmp_path, data_dir=data, split="test")
    )
    assert dataset.meta["in_repo_shared_statements"] == {"val": 0, "test": 1}


def test_mine_rc_says_how_many_assertions_moved(
    shop: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "mined"
    args = ["data", "mine-rc", str(shop), "--out", str(out), "--set", "min_per_repo=1"]
    args += ["--set", "val_fraction=0.3", "--set", "test_fraction=0.3"]
    assert main(args) == 0
    moved = json.loads((out / "meta.json").read_text())["sizes"]["in_repo_moved"]
    assert moved > 0
    assert f"{moved} assertions moved to the split of an equal statement" in capsys.readouterr().out
