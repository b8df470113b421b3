"""Acceptance on the real CoSQA dev split and codebase, when ``../shared/data/cosqa/`` is there.

The loader must see CoCLR's counts (500 queries, 6,267 candidates), and the
harness's MRR must equal one computed independently from the same
embeddings: a float64 score matrix, each query's gold ranked by counting the
candidates that score at least as high (the pessimistic tie rule, written
out), against the harness's chunked float32 ranking. The model is the tiny
random BERT of ``tiny_models`` (its numbers mean nothing; they only have to
agree).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from harness.data import DatasetOptions
from harness.encoder import EncoderOptions
from harness.metrics import TIE_TOLERANCE
from harness.plugins.datasets.cosqa import load_cosqa
from harness.plugins.encoders.hf_encoder import build_hf
from harness.plugins.retrieval_eval import Retrieval
from harness.task_kind import EvaluationOptions

COSQA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "cosqa"
present = (COSQA / "code_idx_map.txt").is_file() and any(COSQA.glob("cosqa-retrieval-dev-*.json"))
pytestmark = pytest.mark.skipif(not present, reason=f"real CoSQA files not in {COSQA}")


class CentredRecorder:
    """The tiny encoder's embeddings, centred, and a record of what it returned, by role.

    A random BERT's mean-pooled embeddings are nearly parallel, so thousands of
    scores would sit within float32 rounding of each other and ties at the
    tolerance's edge would decide ranks. Subtracting the queries' mean (the
    same vector from both sides) and renormalising spreads the scores; the
    harness and the check below see the same centred embeddings.
    """

    def __init__(self, encoder: object) -> None:
        self.encoder = encoder
        self.seen: dict[str, np.ndarray] = {}
        self.centre: np.ndarray | None = None

    def encode(self, texts: list[str], *, role: str, description: str = "") -> np.ndarray:
        raw = self.encoder.encode(texts, role=role, description=description)  # type: ignore[attr-defined]
        if self.centre is None:
            self.centre = raw.mean(axis=0)
        centred = raw - self.centre
        centred /= np.linalg.norm(centred, axis=1, keepdims=True)
        self.seen[role] = centred.astype(np.float32)
        return self.seen[role]


def test_loader_counts() -> None:
    options = DatasetOptions(task="t2c", cache_dir=COSQA, data_dir=COSQA, split="dev")
    dataset = load_cosqa(options)
    split = dataset.partitions["python"].eval
    assert len(split.queries) == 500
    assert len(split.corpus) == 6267
    assert all(len(relevant) == 1 for relevant in split.qrels.values())


@pytest.mark.slow
def test_harness_mrr_matches_an_independent_computation(tiny_bert: Path) -> None:
    options = DatasetOptions(task="t2c", cache_dir=COSQA, data_dir=COSQA, split="dev")
    split = load_cosqa(options).partitions["python"].eval
    encoder = build_hf(str(tiny_bert), EncoderOptions(device="cpu", batch_size=64))
    recorder = CentredRecorder(encoder)
    evaluation = Retrieval().evaluate(recorder, split, EvaluationOptions())
    harness_mrr = np.mean([row["mrr"] for row in evaluation.per_example])
    assert evaluation.n_candidates == 6267 and len(evaluation.per_example) == 500

    queries = recorder.seen["query"].astype(np.float64)
    corpus = recorder.seen["code"].astype(np.float64)
    scores = queries @ corpus.T
    position = {doc: i for i, doc in enumerate(split.corpus)}
    reciprocal = []
    for row, qid in enumerate(split.queries):
        (gold,) = split.qrels[qid]
        gold_score = scores[row, position[gold]]
        rank = int(np.sum(scores[row] >= gold_score - TIE_TOLERANCE))  # the gold counts itself
        reciprocal.append(1.0 / rank)
    assert harness_mrr == pytest.approx(np.mean(reciprocal), abs=1e-6)
    by_id = {row["id"]: row["mrr"] for row in evaluation.per_example}
    assert [by_id[q] for q in split.queries] == pytest.approx(reciprocal, abs=1e-9)
