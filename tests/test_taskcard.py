"""Task cards: the shipped ones are valid; bad ones name the file and field."""

from __future__ import annotations

from pathlib import Path

import pytest

import harness.tasks
from harness.errors import InputError
from harness.taskcard import load_card, load_cards


def test_shipped_t2c_card():
    cards = {c.name: c for c in load_cards(Path(harness.tasks.__file__).parent)}
    t2c = cards["t2c"]
    assert t2c.kind == "retrieval"
    assert t2c.default_dataset == "local"
    assert t2c.main_score == "mrr" and "ndcg@10" in t2c.metrics
    # what a query is comes from the card, not from the task's name
    assert (t2c.queries, t2c.query_role) == ("text", "query")
    assert (cards["c2c"].queries, cards["c2c"].query_role) == ("code", "code")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('name = "x"\n', "missing required field 'kind'"),
        ('name = "x"\nkind = "retrieval"\nfoo = 1\n', "unknown field 'foo'"),
        ('name = "x"\nkind = \n', "cannot read task card"),
        (
            'name="x"\nkind="r"\ndescription="d"\ndefault_dataset="l"\nmetrics="mrr"\n'
            'main_score="mrr"\n',
            "field 'metrics' must be a list of strings",
        ),
        (
            'name="x"\nkind="r"\ndescription="d"\ndefault_dataset="l"\nmetrics=["mrr"]\n'
            'main_score="ndcg@10"\n',
            "main_score 'ndcg@10' is not among metrics",
        ),
        (
            'name="x"\nkind="r"\ndescription="d"\ndefault_dataset="l"\nmetrics=["mrr"]\n'
            'main_score="mrr"\nqueries="sql"\n',
            "queries must be one of text, code, got 'sql'",
        ),
    ],
)
def test_bad_cards(tmp_path: Path, text: str, message: str):
    path = tmp_path / "card.toml"
    path.write_text(text)
    with pytest.raises(InputError) as caught:
        load_card(path)
    assert str(caught.value).startswith(f"{path}: ")
    assert message in str(caught.value)
