"""The model cards of the named encoders (plugins/encoders/named.py), as specifications.

Each card is complete and typed, its reported scores carry their sources (and those on a
harness dataset are rows of leaderboards/reported.toml), and what it declares is what
its factory does: for every card a stand-in model is built here in the card's layout
(the sentence-transformers modules written by sentence-transformers itself, or a bare
Hugging Face folder), put in a Hugging Face cache under the card's hub id and revision,
and loaded offline through the registered factory and the real loader. Its settings
(pooling, prompts, max length, revision) must be the card's, and its embeddings must be
sentence-transformers' ``encode_query`` / ``encode_document`` of the same folder with the
card's prompts (within 1e-5).
"""

from __future__ import annotations

import json
import re
import shutil
import typing
from dataclasses import fields, replace
from pathlib import Path

import numpy as np
import pytest
import tomllib

from harness.cli import main
from harness.encoder import EncoderOptions
from harness.errors import HarnessError
from harness.plugins.encoders import hf
from harness.plugins.encoders.cards import FACTS, MAX_PARAMETERS, ModelCard, markdown_table
from harness.plugins.encoders.hf_encoder import DEFAULT_MAX_LENGTH
from harness.plugins.encoders.named import NAMED_MODELS
from harness.registry import Registry
from tests.tiny_models import make_tiny_bert, make_tiny_causal_lm

ROOT = Path(__file__).resolve().parents[1]
LORACODE = ("codebert", "graphcodebert", "unixcoder", "starencoder", "minilm")
TEXTS = [
    "read all lines of a text file",
    "def add(a, b):\n    return a + b\n",
    "sort a list of numbers in reverse order",
]
STAND_IN_POOLING = {"coderankembed": "cls", "codesage-small-v2": "mean"}
"""The pooling a stand-in's folder declares for a card that leaves pooling to the folder."""
POSITIONS = 2048
"""The stand-in BERT's position embeddings: at least every card's max length."""
FOLDER_PROMPTS = {"qwen3-embedding-0.6b"}
"""Cards whose hub folder saves its prompts (config_sentence_transformers.json)."""


# --- the cards themselves ---------------------------------------------------------------


def test_the_loracode_five_and_at_least_six_more_small_encoders_have_cards() -> None:
    assert set(LORACODE) <= set(NAMED_MODELS)
    others = [card for name, card in NAMED_MODELS.items() if name not in LORACODE]
    assert len(others) >= 6
    assert all(c.parameters is None or c.parameters <= MAX_PARAMETERS for c in others)


@pytest.mark.parametrize("name", list(NAMED_MODELS))
def test_every_field_of_a_card_has_its_declared_type(name: str) -> None:
    card = NAMED_MODELS[name]
    hints = typing.get_type_hints(ModelCard)
    for field in fields(ModelCard):
        value = getattr(card, field.name)
        assert _is_a(value, hints[field.name]), f"{name}.{field.name} = {value!r}"
    for score in card.reported:
        assert score.source.strip() and score.benchmark.strip() and score.metric.strip()
        assert 0 < score.value <= 100


@pytest.mark.parametrize("name", list(NAMED_MODELS))
def test_an_unknown_fact_is_none_and_the_notes_say_so(name: str) -> None:
    card = NAMED_MODELS[name]
    for fact in card.missing_facts():
        assert fact in card.notes, f"{name}: {fact} is None but the notes do not name it"
    if card.revision is not None:
        assert re.fullmatch(r"[0-9a-f]{40}", card.revision)


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"revision": "main"}, "40-hex"),
        ({"parameters": MAX_PARAMETERS + 1}, "more than"),
        ({"pooling": "average"}, "pooling"),
        ({"dim": None, "notes": "nothing said"}, "dim is unknown"),
        ({"hub_id": "no-organisation"}, "org/name"),
    ],
)
def test_a_card_with_a_wrong_or_unexplained_fact_is_refused(change: dict, problem: str) -> None:
    with pytest.raises(HarnessError, match=problem) as raised:
        replace(NAMED_MODELS["e5-base-v2"], **change)
    assert "'e5-base-v2'" in str(raised.value) and "\n" not in str(raised.value)


def test_scores_on_a_harness_dataset_are_rows_of_the_reported_leaderboard() -> None:
    rows = tomllib.loads((ROOT / "leaderboards" / "reported.toml").read_text())["reported"]
    on_harness = [(n, s) for n, c in NAMED_MODELS.items() for s in c.reported if s.task]
    assert on_harness  # LoRACode's zero-shot UniXcoder numbers at least
    for name, score in on_harness:
        matching = [
            row["values"][score.partition]
            for row in rows
            if (row["model"], row["task"], row["dataset"], row["metric"], row["strategy"])
            == (name, score.task, score.dataset, score.metric, "none")
            and score.partition in row["values"]
        ]
        assert matching == [score.value], (name, score)


# --- the command line -------------------------------------------------------------------


@pytest.mark.parametrize("name", ["qwen3-embedding-0.6b", "unixcoder"])
def test_models_show_prints_every_field_and_each_score_with_its_source(
    name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["models", "show", name]) == 0
    out = capsys.readouterr().out
    for field in fields(ModelCard):
        if field.name != "name":
            assert re.search(rf"^  {field.name}[: ]", out, re.M), field.name
    for score in NAMED_MODELS[name].reported:
        assert f"{score.value:g}" in out and score.source in out


def test_an_unknown_model_card_is_one_line_with_a_suggestion_and_exit_2(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["models", "show", "e5-base"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "did you mean 'e5-base-v2'?" in err


def test_harness_list_and_models_show_one_line_per_card(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["models"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines] == list(NAMED_MODELS)
    assert main(["list"]) == 0
    listed = capsys.readouterr().out
    for name, card in NAMED_MODELS.items():
        assert re.search(rf"^  {re.escape(name)}\s+{re.escape(card.hub_id)}, ", listed, re.M)


def test_the_readme_table_is_what_harness_models_markdown_prints(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["models", "--markdown"]) == 0
    printed = capsys.readouterr().out.strip()
    assert printed == markdown_table(NAMED_MODELS)
    readme = (ROOT / "README.md").read_text()
    assert printed in readme
    remote = re.search(r"\*\*Remote code\*\*:(.*?)\n- ", readme, re.S)
    assert remote is not None
    named = set(re.findall(r"`([a-z0-9][a-z0-9.-]*)`", remote.group(1)))
    assert named == {n for n, c in NAMED_MODELS.items() if c.remote_code}


# --- what a card declares is what its factory does ---------------------------------------


@pytest.mark.parametrize("name", [n for n, c in NAMED_MODELS.items() if c.remote_code])
def test_a_card_that_needs_remote_code_refuses_to_load_without_the_flag(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    options = EncoderOptions(device="cpu", extra={"cache_dir": str(tmp_path)})  # empty cache
    with pytest.raises(HarnessError, match="--trust-remote-code") as raised:
        _factory(name)(None, options)
    assert "\n" not in str(raised.value) and NAMED_MODELS[name].hub_id in str(raised.value)


@pytest.mark.parametrize("name", [n for n, c in NAMED_MODELS.items() if c.remote_code])
def test_a_run_of_a_remote_code_card_is_refused_before_any_data_is_read(name: str) -> None:
    """The plan refuses it (the card's registration says remote_code): no mining first."""
    from harness.plan import RunRequest, plan

    with pytest.raises(HarnessError, match="give --trust-remote-code") as raised:
        plan(RunRequest(model=name, strategy="none", task="t2c"))
    assert "\n" not in str(raised.value)
    resolved = plan(RunRequest(model=name, strategy="none", task="t2c", trust_remote_code=True))
    assert resolved.dataset_name == "local"  # planned; nothing was loaded either way


class _BaseModels(dict):  # type: ignore[type-arg]
    """The tiny base models, each built on first use (the decoder trains a tokenizer)."""

    def __init__(self, root: Path) -> None:
        super().__init__()
        self.root = root

    def __missing__(self, kind: str) -> Path:
        if kind == "bert":
            self[kind] = make_tiny_bert(self.root / kind, max_position_embeddings=POSITIONS)
        else:  # rotary positions: a 32k context (Qwen3-Embedding's) costs no weights
            self[kind] = make_tiny_causal_lm(self.root / kind)
            config = json.loads((self[kind] / "config.json").read_text())
            config["max_position_embeddings"] = 32768
            (self[kind] / "config.json").write_text(json.dumps(config))
        return self[kind]


@pytest.fixture(scope="module")
def base_models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return _BaseModels(tmp_path_factory.mktemp("base-models"))


@pytest.mark.parametrize("name", list(NAMED_MODELS))
def test_a_stand_in_loaded_through_the_card_embeds_as_sentence_transformers_does(
    name: str, base_models: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    card = NAMED_MODELS[name]
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    if card.package is None:
        folder, pooling, max_length = _stand_in(card, base_models, tmp_path / "stand-in")
        commit = _into_hub_cache(folder, card, tmp_path / "hub")
    else:  # the folder the package ships is the model itself
        folder = Path(__import__(card.package.replace("-", "_")).get_model_path())
        pooling, max_length, commit = card.pooling, card.max_length, None
    options = EncoderOptions(
        device="cpu",  # no --max-length: the model's own
        trust_remote_code=card.remote_code,
        extra={"cache_dir": str(tmp_path / "hub")},
    )
    encoder = _factory(name)(None, options)

    assert encoder.info["pooling"] == pooling
    assert encoder.info["prompts"] == card.prompts()
    assert encoder.max_length == max_length
    assert (encoder.info["revision"], encoder.info["commit"]) == (card.revision, commit)
    if card.parameters and card.package:  # a real folder: count its weights
        assert sum(p.numel() for p in encoder.model.parameters()) == card.parameters
    reference = _sentence_transformer(folder, card, pooling)
    for role, encode in (("query", reference.encode_query), ("code", reference.encode_document)):
        expected = encode(TEXTS, convert_to_numpy=True)
        expected = expected / np.linalg.norm(expected, axis=1, keepdims=True)
        np.testing.assert_allclose(encoder.encode(TEXTS, role=role), expected, atol=1e-5)


def test_what_the_run_says_explicitly_wins_over_the_card_and_is_recorded(
    base_models: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    card = NAMED_MODELS["e5-base-v2"]
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    folder, _, _ = _stand_in(card, base_models, tmp_path / "stand-in")
    _into_hub_cache(folder, card, tmp_path / "hub")
    other = "f" * 40  # another commit of the same repository, in the cache too
    shutil.copytree(folder, tmp_path / "hub" / "models--intfloat--e5-base-v2" / "snapshots" / other)
    extra = {"cache_dir": str(tmp_path / "hub"), "revision": other, "query_prompt": "find: "}
    options = EncoderOptions(device="cpu", pooling="cls", max_length=16, extra=extra)
    encoder = _factory(card.name)(None, options)
    assert (encoder.info["revision"], encoder.info["commit"]) == (other, other)
    assert (encoder.info["pooling"], encoder.max_length) == ("cls", 16)
    assert encoder.info["prompts"] == {"query": "find: ", "document": "passage: "}


def _stand_in(card: ModelCard, base: dict[str, Path], folder: Path) -> tuple[Path, str, int]:
    """A tiny model in the card's layout; returns it, its pooling and its max length."""
    pooling = card.pooling or STAND_IN_POOLING.get(card.name, "mean")
    kind = "decoder" if pooling == "lasttoken" else "bert"
    if card.layout == "transformers":  # no max_seq_length: the card's, else harness's 512
        shutil.copytree(base[kind], folder)
        return folder, pooling, card.max_length or min(DEFAULT_MAX_LENGTH, POSITIONS)
    max_length = card.max_length or 64
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import (
        Normalize,
        Pooling,
        Transformer,
    )

    transformer = Transformer(str(base[kind]), max_seq_length=max_length)
    modules = [transformer, Pooling(transformer.get_embedding_dimension(), pooling)]
    if card.normalize:
        modules.append(Normalize())
    prompts = card.prompts() if card.name in FOLDER_PROMPTS else None
    SentenceTransformer(modules=modules, prompts=prompts, device="cpu").save(str(folder))
    return folder, pooling, max_length


def _into_hub_cache(folder: Path, card: ModelCard, cache: Path) -> str:
    """`folder` as huggingface_hub caches the card's hub id: at the card's revision, else
    at a commit refs/main names. Returns the snapshot's commit."""
    commit = card.revision or "0123456789abcdef0123456789abcdef01234567"
    repo = cache / f"models--{card.hub_id.replace('/', '--')}"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(commit)
    shutil.copytree(folder, repo / "snapshots" / commit)
    return commit


def _sentence_transformer(folder: Path, card: ModelCard, pooling: str) -> typing.Any:
    """sentence-transformers' own model of `folder`, with the card's prompts."""
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Pooling, Transformer

    if card.layout == "sentence-transformers":
        model = SentenceTransformer(
            str(folder), device="cpu", prompts=card.prompts(), trust_remote_code=card.remote_code
        )
    else:  # a bare folder: pooled as the card says, nothing else
        transformer = Transformer(str(folder))
        modules = [transformer, Pooling(transformer.get_embedding_dimension(), pooling)]
        model = SentenceTransformer(modules=modules, device="cpu", prompts=card.prompts())
    return model


def _factory(name: str) -> typing.Any:
    """The factory registered for `name`, as a run finds it."""
    registry = Registry("encoder")
    hf.harness_register_encoders(register=registry.register)
    return registry.get(name).load()


def _is_a(value: object, hint: object) -> bool:
    origin = typing.get_origin(hint)
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        return any(_is_a(value, arm) for arm in typing.get_args(hint))
    if origin is typing.Literal:
        return value in typing.get_args(hint)
    if origin is tuple:
        return isinstance(value, tuple)
    if hint is type(None):
        return value is None
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, typing.cast(type, hint))


assert set(FACTS) <= {f.name for f in fields(ModelCard)}
