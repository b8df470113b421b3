"""Near-duplicate candidates: the audit's MinHash LSH against every pair's exact Jaccard.

The data: the functions of the Python standard library (``ast``, each function's source),
the first 1,500 in file order (200 in the smoke run). The peer compares every pair exactly
(the identifier 3-gram sets of `harness.audit.shingles`, Jaccard >= 0.8, identical texts
left out); harness is `harness.audit.near_duplicates` (datasketch MinHash LSH, each
candidate pair checked exactly). Both must find the same pairs: the LSH's recall is
checked in the same run.

    python -m pytest benchmarks/test_bench_audit.py -o addopts="" --benchmark-only -s
"""

from __future__ import annotations

import ast
import itertools
import sysconfig
from pathlib import Path

from sidebyside import report, side_by_side, smoke

from harness.audit import NearRule, collapsed, near_duplicates, shingles

N_FUNCTIONS, ROUNDS = 1_500, 3


def stdlib_functions(limit: int) -> dict[str, str]:
    """id -> source of the standard library's functions, in file order."""
    root = Path(sysconfig.get_paths()["stdlib"])
    found: dict[str, str] = {}
    for path in sorted(root.glob("*.py")):
        source = path.read_text(encoding="utf-8", errors="replace")
        try:
            tree = ast.parse(source)
        except SyntaxError:
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                text = ast.get_source_segment(source, node)
                if text:
                    found[f"{path.name}#L{node.lineno}"] = text
                if len(found) == limit:
                    return found
    return found


def exhaustive(corpus: dict[str, str], threshold: float) -> set[tuple[str, str]]:
    """Every pair, not identical, whose identifier 3-gram sets have Jaccard >= threshold."""
    sets = {key: shingles(text, 3) for key, text in corpus.items()}
    keys = [key for key in corpus if sets[key]]
    pairs = set()
    for a, b in itertools.combinations(keys, 2):
        if collapsed(corpus[a]) == collapsed(corpus[b]):
            continue
        if len(sets[a] & sets[b]) >= threshold * len(sets[a] | sets[b]):
            pairs.add((a, b))
    return pairs


def test_near_duplicates_against_every_pair(benchmark) -> None:
    corpus = stdlib_functions(200 if smoke(benchmark) else N_FUNCTIONS)
    rule = NearRule()
    found: dict[str, object] = {}

    def peer() -> None:
        found["peer"] = exhaustive(corpus, rule.threshold)

    def ours() -> None:
        found["ours"] = near_duplicates(corpus, rule)

    record = side_by_side(benchmark, peer, ours, rounds=1 if smoke(benchmark) else ROUNDS)
    expected = found["peer"]
    ours_found = found["ours"]
    assert isinstance(expected, set) and isinstance(ours_found, dict)
    assert ours_found["pairs"] == len(expected)
    assert {tuple(example["ids"]) for example in ours_found["examples"]} <= expected
    report(
        benchmark,
        "audit near-duplicates",
        record,
        functions=len(corpus),
        pairs_exhaustive=len(expected),
        pairs_lsh=ours_found["pairs"],
    )
