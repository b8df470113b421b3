"""A faked ``datasets.load_dataset`` that serves exactly the repositories, configs and splits
of one of CoIR's two hub layouts, and raises for anything else, as the hub would."""

from __future__ import annotations

from typing import Any

import pytest

Rows = list[dict[str, Any]]


def queries_corpus_layout(task: str, corpus: Rows, queries: Rows, qrels: dict[str, Rows]) -> dict:
    """CoIR's own: ``<task>-queries-corpus`` (splits corpus, queries; no config) and
    ``<task>-qrels`` (splits train/valid/test; columns query_id, corpus_id, score)."""
    return {
        (f"{task}-queries-corpus", None): {"corpus": corpus, "queries": queries},
        (f"{task}-qrels", None): qrels,
    }


def single_layout(task: str, corpus: Rows, queries: Rows, qrels: dict[str, Rows]) -> dict:
    """One repository, configs corpus (split corpus), queries (split queries), default
    (the qrels: splits train/valid/test; columns query-id, corpus-id, score)."""
    hyphenated = {
        split: [{"query-id": r["query_id"], "corpus-id": r["corpus_id"], "score": r["score"]}
                for r in rows]
        for split, rows in qrels.items()
    }  # fmt: skip
    return {
        (task, "corpus"): {"corpus": corpus},
        (task, "queries"): {"queries": queries},
        (task, "default"): hyphenated,
    }


def serve(monkeypatch: pytest.MonkeyPatch, served: dict) -> list[tuple[Any, ...]]:
    """Patch ``datasets.load_dataset`` to serve `served` alone; returns the calls made (each
    ``(repository, config, split)``), the failed ones too."""
    import datasets

    from harness.plugins.datasets import hub

    asked: list[tuple[Any, ...]] = []

    def load_dataset(path: str, name: str | None = None, *, split: str, revision: Any = None):
        asked.append((path, name, split))
        if (path, name) not in served:
            raise FileNotFoundError(f"Dataset '{path}' (config {name!r}) doesn't exist on the Hub")
        splits = served[(path, name)]
        if split not in splits:
            raise ValueError(f'Unknown split "{split}". Should be one of {list(splits)}.')
        return splits[split]

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("HF_DATASETS_OFFLINE", raising=False)
    monkeypatch.setattr(datasets, "load_dataset", load_dataset)
    monkeypatch.setattr(hub, "_resolved_revision", lambda hub_id, revision: f"sha-of-{hub_id}")
    return asked
