"""Properties of the metrics and statistics, over inputs hypothesis draws.

- every ranking metric lies in [0, 1] and every rank in [1, N];
- with distinct scores, the order in which candidates are listed changes nothing;
- a constant scorer sits at chance: one relevant among N ranks N (pessimistic ties), MRR 1/N;
- two identical systems are never significantly different (p = 1, interval [0, 0]);
- a bootstrap interval contains the point estimate it is about.
"""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.compare import ExampleScores, compare_scores, correct
from harness.data import RetrievalSplit
from harness.metrics import RANKING_METRICS, query_metrics, ranks_from_scores, relevant_ranks
from harness.plugins.retrieval_eval import Retrieval
from harness.significance import holm, paired_bootstrap_ci, sign_flip_test
from harness.stats import bootstrap_ci, summarize
from harness.task_kind import EvaluationOptions

FAST = settings(max_examples=60, deadline=None)
unit = st.floats(0.0, 1.0, allow_nan=False)
scores_0_1 = st.lists(unit, min_size=1, max_size=40)


@st.composite
def ranking_problem(draw: st.DrawFn) -> tuple[np.ndarray, list[int]]:
    """Scores of N candidates (ties allowed) and a non-empty set of relevant ones."""
    scores = np.array(draw(st.lists(st.integers(0, 6), min_size=1, max_size=30)), dtype=float)
    relevant = draw(st.sets(st.integers(0, len(scores) - 1), min_size=1))
    return scores, sorted(relevant)


@FAST
@given(ranking_problem())
def test_metrics_lie_in_the_unit_interval_and_ranks_in_one_to_n(problem) -> None:
    scores, relevant = problem
    ranks = ranks_from_scores(scores, relevant)
    assert ranks.min() >= 1 and ranks.max() <= len(scores)
    assert len(set(ranks.tolist())) == len(relevant)
    metrics = query_metrics(ranks)
    for name in RANKING_METRICS:
        assert 0.0 <= metrics[name] <= 1.0, (name, metrics)


@FAST
@given(st.integers(2, 30), st.integers(0, 2**32 - 1), st.data())
def test_listing_order_of_candidates_with_distinct_scores_changes_nothing(n, seed, data) -> None:
    rng = np.random.default_rng(seed)
    # Candidate i scores values[i] against the query (1, 0): distinct integers, no near ties.
    values = rng.permutation(n).astype(np.float32)
    corpus = np.stack([values, rng.normal(size=n).astype(np.float32)], axis=1)
    query = np.array([[1.0, 0.0]], dtype=np.float32)
    relevant = sorted(data.draw(st.sets(st.integers(0, n - 1), min_size=1)))
    (before,) = relevant_ranks(query, corpus, [relevant])
    order = rng.permutation(n)  # new position p holds old candidate order[p]
    moved = [int(np.flatnonzero(order == i)[0]) for i in relevant]
    (after,) = relevant_ranks(query, corpus[order], [moved], chunk_size=int(rng.integers(1, n + 1)))
    assert before.tolist() == after.tolist()
    assert query_metrics(before) == query_metrics(after)


@FAST
@given(st.integers(1, 40), st.data())
def test_a_constant_scorer_ranks_its_relevant_documents_last(n, data) -> None:
    relevant = sorted(data.draw(st.sets(st.integers(0, n - 1), min_size=1)))
    corpus = np.ones((n, 3), dtype=np.float32) / np.sqrt(3)  # every candidate scores the same
    (ranks,) = relevant_ranks(corpus[:1], corpus, [relevant])
    k = len(relevant)
    assert ranks.tolist() == list(range(n - k + 1, n + 1))
    if k == 1:
        assert query_metrics(ranks)["mrr"] == 1.0 / n


class ConstantEncoder:
    """Every text gets the same embedding: a scorer that knows nothing."""

    name, dim, info = "constant", 4, {"model": "constant"}

    def encode(self, texts, *, role="code", description=""):
        return np.tile(np.array([0.5, 0.5, 0.5, 0.5], dtype=np.float32), (len(texts), 1))


@FAST
@given(st.integers(1, 25))
def test_a_constant_encoder_scores_chance_in_the_retrieval_task(n) -> None:
    ids = [f"d{i}" for i in range(n)]
    split = RetrievalSplit(
        queries={f"q{i}": f"query {i}" for i in range(n)},
        corpus={d: f"code {d}" for d in ids},
        qrels={f"q{i}": {ids[i]: 1} for i in range(n)},
    )
    evaluation = Retrieval().evaluate(ConstantEncoder(), split, EvaluationOptions())
    assert {row["mrr"] for row in evaluation.per_example} == {1.0 / n}
    assert {row["rank"] for row in evaluation.per_example} == {float(n)}
    recall = {row["recall@1"] for row in evaluation.per_example}
    assert recall == ({1.0} if n == 1 else {0.0})


per_example = st.lists(unit, min_size=1, max_size=60)


@FAST
@given(per_example, st.integers(0, 2**16))
def test_identical_systems_are_never_significantly_different(values, seed) -> None:
    a = np.array(values)
    assert sign_flip_test(a, a.copy(), n_resamples=500, seed=seed) == 1.0
    assert paired_bootstrap_ci(a, a.copy(), n_resamples=200, seed=seed) == (0.0, 0.0)


@FAST
@given(st.lists(per_example, min_size=1, max_size=4), st.integers(0, 2**16))
def test_identical_systems_through_compare_with_holm(strata, seed) -> None:
    comparisons = []
    for number, values in enumerate(strata):
        ids = [f"e{i}" for i in range(len(values))]
        columns = {"mrr": np.array(values), "ndcg@10": np.array(values[::-1])}
        a = ExampleScores(ids, columns, "A")
        b = ExampleScores(ids[::-1], {k: v[::-1].copy() for k, v in columns.items()}, "B")
        key = ("t2c", "toy", f"part{number}")
        comparisons += compare_scores(a, b, ["mrr", "ndcg@10"], key, n_bootstrap=100,
                                      n_permutations=200, seed=seed)  # fmt: skip
    correct(comparisons)
    for comparison in comparisons:
        assert comparison.difference == 0.0
        assert (comparison.ci_low, comparison.ci_high) == (0.0, 0.0)
        assert comparison.p_value == 1.0 and comparison.p_holm == 1.0
        assert not comparison.significant()


@FAST
@given(st.lists(st.floats(0.0, 1.0), min_size=1, max_size=30))
def test_holm_never_lowers_a_p_value_and_keeps_the_order(p_values) -> None:
    adjusted = holm(p_values)
    assert all(q >= p for p, q in zip(p_values, adjusted, strict=True))
    assert all(0.0 <= q <= 1.0 for q in adjusted)
    order = np.argsort(p_values, kind="stable")
    assert np.all(np.diff(np.array(adjusted)[order]) >= 0)


@FAST
@given(per_example, st.integers(0, 2**16))
def test_a_bootstrap_interval_contains_the_point_estimate(values, seed) -> None:
    a = np.array(values)
    low, high = bootstrap_ci(a, n_resamples=300, seed=seed)
    assert low <= a.mean() + 1e-12 and a.mean() <= high + 1e-12
    assert 0.0 <= low <= high <= 1.0


@FAST
@given(st.lists(st.fixed_dictionaries({"mrr": unit, "ndcg@10": unit}), min_size=1, max_size=40))
def test_summaries_are_in_range_and_contain_their_values(rows) -> None:
    summary = summarize(rows, ["mrr", "ndcg@10"], n_resamples=200)
    for metric in summary.values():
        assert 0.0 <= metric["ci_low"] <= metric["value"] + 1e-12
        assert metric["value"] <= metric["ci_high"] + 1e-12 and metric["ci_high"] <= 1.0
