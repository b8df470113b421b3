"""What a retrieval dataset's partitions hold, and the defects that distort their scores.

For every partition (`harness.data.RetrievalPartition`) the audit counts:

- sizes: evaluated queries, candidates, relevant (query, candidate) pairs, training pairs;
- ``duplicate_queries`` / ``duplicate_candidates``: items that have an identical twin once
  whitespace is collapsed (``items``: how many such items, ``groups``: how many texts they
  share); identical candidates tie, so one of them is a false negative or a coin toss, and
  identical queries with different relevant candidates (``with_different_golds``: groups)
  cannot all find their own first;
- ``near_duplicate_candidates``: pairs of candidates, not identical, whose sets of identifier
  3-grams have a Jaccard similarity of at least `NearRule.threshold`, found with MinHash LSH
  (datasketch) and each pair's exact Jaccard checked before it is counted;
- ``unmarked_twins``: queries whose relevant candidate has an identical twin in what the query
  is ranked against that is not marked relevant (the ranking's tie rule puts it first);
- ``train_overlap``: evaluated queries identical to a training query, evaluated queries whose
  relevant candidate is identical to a training positive, and candidates that are;
- ``saturation`` (given a scorer): the main score of a simple model; above
  `SATURATED` MRR a set cannot separate strong systems.

>>> collapsed("def  f():\\n    return 1")
'def f(): return 1'
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from harness.data import RetrievalDataset, RetrievalPartition, RetrievalSplit

SATURATED = 0.95
"""Above this MRR a simple model leaves no room for a better one to be told apart."""
EXAMPLES = 3
"""Examples kept per finding (ids and the start of each text)."""
IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")

Scorer = Callable[[RetrievalPartition], dict[str, Any]]
"""A partition -> ``{"model", "metric", "value"}``: the saturation check's model, scored."""


@dataclass(frozen=True)
class NearRule:
    """How near-duplicate candidates are found (recorded in the audit)."""

    threshold: float = 0.8
    shingle: int = 3  # identifier tokens per shingle
    num_perm: int = 128
    seed: int = 1
    library: str = "datasketch MinHashLSH at threshold - 0.2; each pair's exact Jaccard checked"


def collapsed(text: str) -> str:
    """`text` with every run of whitespace one space, and none at its ends."""
    return " ".join(text.split())


def duplicate_groups(texts: Mapping[str, str]) -> list[list[str]]:
    """The ids of the texts that share one collapsed text, a list per text, largest first."""
    by_text: dict[str, list[str]] = defaultdict(list)
    for key, text in texts.items():
        by_text[collapsed(text)].append(key)
    groups = [ids for ids in by_text.values() if len(ids) > 1]
    return sorted(groups, key=lambda ids: (-len(ids), ids[0]))


def _short(text: str, width: int = 70) -> str:
    flat = collapsed(text)
    return flat if len(flat) <= width else flat[: width - 3] + "..."


def duplicates(texts: Mapping[str, str]) -> dict[str, Any]:
    """``{items, groups, examples}`` of `texts`' identical twins (whitespace collapsed)."""
    groups = duplicate_groups(texts)
    return {
        "items": sum(len(ids) for ids in groups),
        "groups": len(groups),
        "examples": [{"ids": ids[:5], "text": _short(texts[ids[0]])} for ids in groups[:EXAMPLES]],
    }


def conflicting(groups: list[list[str]], qrels: Mapping[str, Mapping[str, int]]) -> int:
    """How many groups of identical queries do not share one set of relevant candidates:
    a model ranks such twins alike, so at most one of each group can find its own first."""

    def golds(query: str) -> frozenset[str]:
        return frozenset(d for d, grade in qrels.get(query, {}).items() if grade > 0)

    return sum(1 for ids in groups if len({golds(q) for q in ids}) > 1)


def shingles(text: str, size: int) -> set[str]:
    """The runs of `size` consecutive identifier tokens of `text` (all of them if fewer).

    >>> sorted(shingles("def add(a, b): return a + b", 3))
    ['a b return', 'add a b', 'b return a', 'def add a', 'return a b']
    """
    tokens = IDENTIFIER.findall(text)
    if len(tokens) <= size:
        return {" ".join(tokens)} if tokens else set()
    return {" ".join(tokens[i : i + size]) for i in range(len(tokens) - size + 1)}


def jaccard(a: set[str], b: set[str]) -> float:
    return len(a & b) / len(a | b) if a or b else 1.0


def near_duplicates(corpus: Mapping[str, str], rule: NearRule = NearRule()) -> dict[str, Any]:
    """Pairs of candidates, not identical once whitespace is collapsed, whose identifier
    shingles have a Jaccard similarity of at least ``rule.threshold``: ``{pairs, items,
    groups, examples}`` (``groups``: connected components of the pairs)."""
    from datasketch import MinHash, MinHashLSH

    keys = list(corpus)
    sets = {key: shingles(corpus[key], rule.shingle) for key in keys}
    keys = [key for key in keys if sets[key]]
    hashes = MinHash.bulk(
        ([s.encode() for s in sets[key]] for key in keys), num_perm=rule.num_perm, seed=rule.seed
    )
    # the index is asked for more than the threshold (a lower one, misses weighted 4:1) and
    # every pair it gives is checked exactly: recall matters, a false candidate costs little
    lsh = MinHashLSH(
        threshold=max(0.05, rule.threshold - 0.2), num_perm=rule.num_perm, weights=(0.2, 0.8)
    )
    for key, minhash in zip(keys, hashes, strict=True):
        lsh.insert(key, minhash)
    order = {key: index for index, key in enumerate(keys)}
    pairs: list[tuple[float, str, str]] = []
    for key, minhash in zip(keys, hashes, strict=True):
        for other in lsh.query(minhash):
            if order[other] <= order[key] or collapsed(corpus[key]) == collapsed(corpus[other]):
                continue
            similarity = jaccard(sets[key], sets[other])
            if similarity >= rule.threshold:
                pairs.append((similarity, key, other))
    pairs.sort(key=lambda p: (-p[0], order[p[1]], order[p[2]]))
    components = _components((a, b) for _, a, b in pairs)
    return {
        "pairs": len(pairs),
        "items": sum(len(c) for c in components),
        "groups": len(components),
        "examples": [
            {"ids": [a, b], "jaccard": round(s, 4), "texts": [_short(corpus[a]), _short(corpus[b])]}
            for s, a, b in pairs[:EXAMPLES]
        ],
    }


def _components(edges: Iterable[tuple[str, str]]) -> list[set[str]]:
    """Connected components of an undirected graph given by its edges (union-find)."""
    parent: dict[str, str] = {}

    def root(node: str) -> str:
        parent.setdefault(node, node)
        while parent[node] != node:
            parent[node] = parent[parent[node]]
            node = parent[node]
        return node

    for a, b in edges:
        parent[root(a)] = root(b)
    found: dict[str, set[str]] = defaultdict(set)
    for node in list(parent):
        found[root(node)].add(node)
    return list(found.values())


def unmarked_twins(split: RetrievalSplit) -> dict[str, Any]:
    """Queries with a relevant candidate whose identical twin, among the candidates the query
    is ranked against (its pool, when the split has pools), is not marked relevant."""
    twins_of: dict[str, list[str]] = {}
    for ids in duplicate_groups(split.corpus):
        for key in ids:
            twins_of[key] = ids
    queries = 0
    twins = 0
    examples: list[dict[str, Any]] = []
    for query, relevant in split.qrels.items():
        pool = split.query_pool.get(query) if split.query_pool else None
        found = sorted(
            {
                twin
                for gold, grade in relevant.items()
                if grade > 0
                for twin in twins_of.get(gold, ())
                if twin not in relevant
                and (pool is None or (split.corpus_pool or {}).get(twin) == pool)
            }
        )
        if found:
            queries += 1
            twins += len(found)
            if len(examples) < EXAMPLES:
                golds = sorted(g for g, grade in relevant.items() if grade > 0)
                examples.append({"query": query, "relevant": golds, "unmarked": found[:5]})
    return {"queries": queries, "twins": twins, "examples": examples}


def train_overlap(partition: RetrievalPartition) -> dict[str, Any]:
    """What of the evaluated split is in the training pairs, texts compared collapsed."""
    train = list(partition.train)
    split = partition.eval
    train_queries = {collapsed(pair.query) for pair in train}
    train_positives = {collapsed(pair.positive) for pair in train}
    queries = [q for q, text in split.queries.items() if collapsed(text) in train_queries]
    golds = [
        q
        for q, relevant in split.qrels.items()
        if any(grade > 0 and collapsed(split.corpus[d]) in train_positives
               for d, grade in relevant.items())
    ]  # fmt: skip
    candidates = [d for d, text in split.corpus.items() if collapsed(text) in train_positives]
    return {
        "queries": len(queries),
        "golds": len(golds),
        "candidates": len(candidates),
        "examples": {"queries": queries[:EXAMPLES], "golds": golds[:EXAMPLES]},
    }


def sizes(partition: RetrievalPartition) -> dict[str, int]:
    split = partition.eval
    return {
        "queries": len(split.queries),
        "candidates": len(split.corpus),
        "relevant_pairs": sum(
            1 for relevant in split.qrels.values() for g in relevant.values() if g > 0
        ),
        "train_pairs": len(partition.train),
    }


def audit_partition(
    partition: RetrievalPartition, rule: NearRule = NearRule(), scorer: Scorer | None = None
) -> dict[str, Any]:
    """Every finding of the module's docstring for one partition."""
    split = partition.eval
    different = conflicting(duplicate_groups(split.queries), split.qrels)
    found: dict[str, Any] = {
        "sizes": sizes(partition),
        "duplicate_queries": {**duplicates(split.queries), "with_different_golds": different},
        "duplicate_candidates": duplicates(split.corpus),
        "near_duplicate_candidates": near_duplicates(split.corpus, rule),
        "unmarked_twins": unmarked_twins(split),
        "train_overlap": train_overlap(partition),
        "saturation": None,
    }
    if scorer is not None:
        score = scorer(partition)
        found["saturation"] = {**score, "saturated": score["value"] > SATURATED}
    return found


def audit(
    dataset: RetrievalDataset, rule: NearRule = NearRule(), scorer: Scorer | None = None
) -> dict[str, Any]:
    """The audit of every partition of `dataset`, with the rules it applied."""
    return {
        "dataset": dataset.name,
        "rules": {
            "duplicates": "identical once every run of whitespace is one space",
            "near_duplicates": asdict(rule),
            "saturated_above": SATURATED,
        },
        "partitions": {
            name: audit_partition(partition, rule, scorer)
            for name, partition in dataset.partitions.items()
        },
    }


HEADER = (
    "partition", "queries", "candidates", "train",
    "dup queries\n(items/groups)", "dup candidates\n(items/groups)",
    "near-dup cands\n(items/groups)", "unmarked twins\n(queries)",
    "train∩eval\nqueries/golds", "saturation",
)  # fmt: skip


def table_rows(report: Mapping[str, Any]) -> list[Sequence[Any]]:
    """One row per partition for `HEADER`."""
    rows: list[Sequence[Any]] = []
    for name, found in report["partitions"].items():
        size, overlap, score = found["sizes"], found["train_overlap"], found["saturation"]
        shown = "-"
        if score is not None:
            mark = " SATURATED" if score["saturated"] else ""
            shown = f"{score['model']} {score['metric']} {score['value']:.4f}{mark}"
        rows.append(
            (
                name,
                size["queries"],
                size["candidates"],
                size["train_pairs"],
                _pair(found["duplicate_queries"]),
                _pair(found["duplicate_candidates"]),
                _pair(found["near_duplicate_candidates"]),
                found["unmarked_twins"]["queries"],
                f"{overlap['queries']}/{overlap['golds']}",
                shown,
            )
        )
    return rows


def _pair(finding: Mapping[str, Any]) -> str:
    return f"{finding['items']}/{finding['groups']}"


def render(report: Mapping[str, Any]) -> str:
    """The table, then a few examples of each finding per partition."""
    from tabulate import tabulate

    lines = [tabulate(table_rows(report), headers=HEADER, tablefmt="simple")]
    for name, found in report["partitions"].items():
        near = found["near_duplicate_candidates"]["examples"]
        dups = found["duplicate_candidates"]["examples"]
        twins = found["unmarked_twins"]["examples"]
        different = found["duplicate_queries"]["with_different_golds"]
        if not (near or dups or twins or different):
            continue
        lines.append(f"\n{name}:")
        if different:
            lines.append(f"  {different} group(s) of identical queries with different golds")
        lines += [f"  identical candidates {', '.join(e['ids'])}: {e['text']}" for e in dups]
        lines += [
            f"  near-duplicates {' ~ '.join(e['ids'])} (Jaccard {e['jaccard']:.2f}): "
            f"{e['texts'][0]}" for e in near
        ]  # fmt: skip
        lines += [
            f"  query {e['query']}: gold {', '.join(e['relevant'])} has unmarked twin(s) "
            f"{', '.join(e['unmarked'])}" for e in twins
        ]  # fmt: skip
    return "\n".join(lines)
