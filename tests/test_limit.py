"""``--limit N``: one meaning for every retrieval dataset, and a leaderboard that shows it.

The rule: a limited run scores the first N queries of each partition and ranks each among
the whole corpus, exactly as the full run does. So, for every built-in retrieval dataset
(files written here in its real format, or the generated source tree for ``local``), the
limited run has N examples per partition, the full run's candidate count, and the full
run's per-query scores for those queries; the result records the rule.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from test_compare import write_run

from harness.cli import main
from harness.results import find_results, read_examples, read_result

LIMIT = 2
TOPICS = ["parse a date", "read a file", "sort a list", "sum two numbers", "reverse a string",
          "count the words", "open a socket", "hash a password"]  # fmt: skip


def _code(i: int) -> str:
    return f"def f{i}(value):\n    result = value * {i}\n    return result"


def _jsonl(path: Path, rows: list[dict[str, object]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")


def _csn_row(i: int, language: str) -> dict[str, object]:
    code = _code(i)
    return {
        "repo": "owner/repo", "path": f"m{i}.py", "func_name": f"f{i}", "original_string": code,
        "language": language, "code": code, "code_tokens": code.split(),
        "docstring": TOPICS[i], "docstring_tokens": TOPICS[i].split(),
        "url": f"https://github.com/owner/repo/blob/sha/m{i}.py#L1-L3", "partition": "test",
    }  # fmt: skip


def csn(root: Path) -> list[str]:
    """Two languages; 4 queries each against a codebase of 7 (3 distractors)."""
    for language in ("python", "go"):
        _jsonl(root / language / "test.jsonl", [_csn_row(i, language) for i in range(4)])
        _jsonl(root / language / "codebase.jsonl", [_csn_row(i, language) for i in range(7)])
    return ["--task", "t2c", "--dataset", "csn"]


def csn_pools(root: Path) -> list[str]:
    """CodeSearchNet's original protocol: 6 records, two pools of 3."""
    _jsonl(root / "ruby" / "test.jsonl", [_csn_row(i, "ruby") for i in range(6)])
    return ["--task", "t2c", "--dataset", "csn", "--set", "dataset.protocol=original",
            "--set", "dataset.pool_size=3"]  # fmt: skip


def cosqa(root: Path) -> list[str]:
    """4 web queries against the 7-function codebase (``code_idx_map.txt``)."""
    root.mkdir(parents=True)
    rows = [
        {"idx": f"cosqa-test-{i}", "doc": TOPICS[i], "code": _code(i), "code_tokens": [],
         "docstring_tokens": [], "label": 1, "retrieval_idx": i}
        for i in range(4)
    ]  # fmt: skip
    (root / "cosqa-retrieval-test-4.json").write_text(json.dumps(rows, indent=1))
    (root / "code_idx_map.txt").write_text(json.dumps({_code(i): i for i in range(7)}))
    return ["--task", "t2c", "--dataset", "cosqa"]


def xlcost(root: Path) -> list[str]:
    """Python programs 0-3, each with C++ and Java translations (8 candidates)."""
    rows = [
        {"idx": f"{i}-Python/{i}-{target}", "docstring_tokens": _code(i).split(),
         "code_tokens": f"int f{i} ( ) {{ {target} {i} }}".split()}
        for i in range(4)
        for target in ("C++", "Java")
    ]  # fmt: skip
    _jsonl(root / "Python" / "test.jsonl", rows)
    return ["--task", "c2c", "--dataset", "xlcost"]


def coir(root: Path) -> list[str]:
    """BEIR layout, two subsets; 4 queries against 7 documents each."""
    for subset in ("apps", "cosqa"):
        folder = root / subset
        _jsonl(folder / "corpus.jsonl", [{"_id": f"d{i}", "text": _code(i)} for i in range(7)])
        _jsonl(folder / "queries.jsonl", [{"_id": f"q{i}", "text": TOPICS[i]} for i in range(4)])
        (folder / "qrels").mkdir()
        qrels = "".join(f"q{i}\td{i}\t1\n" for i in range(4))
        (folder / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\n" + qrels)
    return ["--task", "t2c", "--dataset", "coir"]


SPLIT = ["--set", "dataset.test_fraction=0.5", "--set", "dataset.valid_fraction=0.0"]


def local_t2c(root: Path, tree: Path) -> list[str]:
    return ["--task", "t2c", "--dataset", "local", *SPLIT]


def local_c2c(root: Path, tree: Path) -> list[str]:
    # the tree's C functions are declarations, with no body to make a clone query of
    return ["--task", "c2c", "--dataset", "local", "--languages", "python", *SPLIT]


WRITERS: dict[str, Callable[..., list[str]]] = {
    "csn": csn, "csn-pools": csn_pools, "cosqa": cosqa, "xlcost": xlcost, "coir": coir,
    "local-t2c": local_t2c, "local-c2c": local_c2c,
}  # fmt: skip


def _run(args: list[str], results: Path) -> dict[str, tuple[object, list[dict[str, object]]]]:
    assert main([*args, "--results", str(results)]) == 0
    found = {}
    for path in find_results(results):
        result = read_result(path)
        found[result.partition] = (result, read_examples(path))
    return found


@pytest.mark.parametrize("name", sorted(WRITERS))
def test_limit_cuts_queries_and_keeps_every_candidate(
    name: str, tiny_bert: Path, code_tree: Path, tmp_path: Path
) -> None:
    writer = WRITERS[name]
    if name.startswith("local"):
        data, extra = code_tree, writer(tmp_path, code_tree)
    else:
        data = tmp_path / "data"
        extra = writer(data)
    args = ["run", "--model", f"hf:{tiny_bert}", "--strategy", "none", "--data-dir", str(data),
            "--cache-dir", str(tmp_path / "cache"), "--device", "cpu", "--bootstrap", "20",
            *extra]  # fmt: skip
    full = _run(args, tmp_path / "full")
    limited = _run([*args, "--limit", str(LIMIT)], tmp_path / "limited")
    assert set(limited) == set(full) and full
    for partition, (whole, whole_rows) in full.items():
        part, rows = limited[partition]
        assert whole.n_examples > LIMIT  # the limit cuts something
        assert part.n_examples == len(rows) == LIMIT
        assert part.n_candidates == whole.n_candidates
        # the same candidates, so the same per-query scores as the full run's
        by_id = {row["id"]: row for row in whole_rows}
        for row in rows:
            assert row == pytest.approx(by_id[row["id"]])
        meta = part.config["dataset"]
        assert meta["limit"] == LIMIT and meta["limit_rule"] == "queries"
        assert meta["n_candidates"][partition] == whole.n_candidates


def test_the_leaderboard_marks_limited_cells(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    scores = [1.0, 0.5, 0.25, 1.0, 0.5]
    write_run(tmp_path, {"mrr": scores}, strategy="none")
    write_run(tmp_path, {"mrr": scores[:2]}, strategy="taskwise", config={"limit": 2})
    assert main(["leaderboard", "--task", "t2c", "--results", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    rows = {line.split("|")[2].strip(): line for line in out.splitlines() if "| enc" in line}
    # the limited run's 75.00 (2 queries) is higher, but only the full run's 65.00 competes
    assert rows["taskwise"].rstrip(" |").endswith(" 75.00 ± 25.00 §2")
    assert "**65.00 ±" in rows["none"] and "§" not in rows["none"]
    assert "§N: limited to the first N queries (examples) of each partition" in out
    assert main(["leaderboard", "--task", "t2c", "--results", str(tmp_path), "--format",
                 "json"]) == 0  # fmt: skip
    document = json.loads(capsys.readouterr().out)
    cells = {row["strategy"]: row["cells"]["python"] for row in document["rows"]}
    assert cells["taskwise"]["limit"] == 2 and cells["none"]["limit"] is None
