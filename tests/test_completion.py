"""The completion task kind's metrics, split arrangement and causal-LM training batches."""

from __future__ import annotations

import functools
import random

import pytest

from harness.data import CompletionExample
from harness.errors import HarnessError
from harness.plugins.completion_eval import (
    edit_similarity,
    exact_match,
    generation_settings,
    levenshtein,
    normalise,
)
from harness.plugins.datasets.completion_common import completion_partitions


@pytest.mark.parametrize(
    ("prediction", "target", "expected"),
    [
        ("42", "42", 1.0),
        ("  42\n", "42", 1.0),  # surrounding whitespace
        ("[1,  2,\n 3]", "[1, 2, 3]", 1.0),  # runs of whitespace collapse to one space
        ("[1,2,3]", "[1, 2, 3]", 0.0),  # but are not removed
        ("'a'", '"a"', 0.0),  # quotes are code
        ("1.0", "1.", 0.0),
        ("", "0", 0.0),
        ("", "", 1.0),
    ],
)
def test_exact_match_by_hand(prediction: str, target: str, expected: float):
    assert exact_match(prediction, target) == expected


def test_normalise_by_hand():
    assert normalise("\t(a,\n   b) ") == "(a, b)"


@pytest.mark.parametrize(
    ("prediction", "target", "expected"),
    [
        ("abc", "abc", 1.0),
        ("abd", "abc", 1 - 1 / 3),  # one substitution
        ("ab", "abc", 1 - 1 / 3),  # one insertion
        ("kitten", "sitting", 1 - 3 / 7),  # the textbook distance 3
        ("", "abcd", 0.0),
        ("x  y", "x y", 1.0),  # compared after normalisation
    ],
)
def test_edit_similarity_by_hand(prediction: str, target: str, expected: float):
    assert edit_similarity(prediction, target) == pytest.approx(expected)


def _recursive_distance(a: str, b: str) -> int:
    """The definition of the edit distance, memoised: a second method for `levenshtein`."""

    @functools.cache
    def d(i: int, j: int) -> int:
        if i == 0 or j == 0:
            return i + j
        return min(d(i - 1, j) + 1, d(i, j - 1) + 1, d(i - 1, j - 1) + (a[i - 1] != b[j - 1]))

    return d(len(a), len(b))


def test_levenshtein_equals_the_recursive_definition():
    rng = random.Random(0)
    for _ in range(300):
        a = "".join(rng.choice("ab(), ") for _ in range(rng.randint(0, 9)))
        b = "".join(rng.choice("ab(), ") for _ in range(rng.randint(0, 9)))
        assert levenshtein(a, b) == _recursive_distance(a, b), (a, b)


def test_generation_settings_are_checked():
    assert generation_settings({"max_new_tokens": "12"})["max_new_tokens"] == 12
    assert generation_settings({})["context_tokens"] == 1024
    for bad in (0, -3, "many", 1.5, True):
        with pytest.raises(HarnessError, match="task.batch_size: expected a positive integer"):
            generation_settings({"batch_size": bad})


def _example(repo: str, n: int, cross: str, inner: str) -> CompletionExample:
    return CompletionExample(
        id=f"{repo}:{n}", repo=repo, prefix=f"assert f({n}) == ", target=str(n),
        cross_repo_split=cross, in_repo_split=inner,
    )  # fmt: skip


EXAMPLES = [
    _example("a", 1, "train", "train"),
    _example("a", 2, "train", "test"),
    _example("a", 3, "train", "val"),
    _example("b", 4, "train", "train"),
    _example("b", 5, "train", "train"),  # b has no in-repo test example
    _example("c", 6, "cr_test", "train"),
    _example("c", 7, "cr_test", "test"),
    _example("d", 8, "cr_val", "test"),
    _example("e", 9, "ood_test", "train"),
]


def test_cross_repo_partitions_are_the_unseen_repositories():
    data = completion_partitions("toy", EXAMPLES, "cr_test")
    assert data.protocol == "cross"
    assert sorted(data.partitions) == ["c"]
    assert [e.id for e in data.partitions["c"].eval] == ["c:6", "c:7"]  # all its examples
    assert data.partitions["c"].train == []
    # the training pool: every example of the training repositories, none of the others
    assert sorted(e.id for e in data.train) == ["a:1", "a:2", "a:3", "b:4", "b:5"]
    assert sorted(completion_partitions("toy", EXAMPLES, "ood_test").partitions) == ["e"]


def test_in_repo_partitions_train_and_test_on_one_repository():
    data = completion_partitions("toy", EXAMPLES, "test")
    assert data.protocol == "in"
    # repositories with both in-repo train and test examples
    assert sorted(data.partitions) == ["a", "c"]
    a = data.partitions["a"]
    assert [e.id for e in a.eval] == ["a:2"]
    assert [e.id for e in a.train] == ["a:1"]
    assert [e.id for e in a.valid] == ["a:3"]
    assert sorted(e.id for e in data.train) == ["a:1", "c:6"]
    evaluated = {e.id for p in data.partitions.values() for e in p.eval}
    assert not evaluated & {e.id for e in data.train}


def test_an_unknown_completion_split_is_refused():
    with pytest.raises(HarnessError, match="--split 'dev': a completion task evaluates on one of"):
        completion_partitions("toy", EXAMPLES, "dev")


def test_training_targets_end_where_generation_stops():
    """A newline ends `assert x == 42`; inside `assertEqual(x, ` only a closer ends it."""
    from harness.plugins.adapters.completion_loss import IGNORE, completion_batch
    from harness.plugins.completion_stopping import expression_stop

    class ByChar:  # a tokenizer with one token per character
        pad_token_id = 0

        def __call__(self, text, add_special_tokens=False):
            return {"input_ids": [ord(c) for c in text]}

    class Lm:
        tokenizer = ByChar()

        def prompt_ids(self, prefix, budget):
            return [ord(c) for c in prefix][-budget:]

    examples = [_example("a", 1, "train", "train"),
                CompletionExample(id="b", repo="a", prefix="self.assertEqual(f(2), ",
                                  target="2")]  # fmt: skip
    batch = completion_batch(Lm(), examples, max_length=64)
    for row, example in zip(batch["labels"], examples, strict=True):
        learned = "".join(chr(int(t)) for t in row if t != IGNORE)
        assert learned.startswith(example.target)
        stop = expression_stop(example.prefix)
        assert stop(learned) == len(example.target), learned  # generation stops right there
