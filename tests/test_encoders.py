"""The Hugging Face encoder plugin, specified on a tiny random BERT and the real MiniLM.

Expected embeddings are computed a second way: the raw `AutoModel` run one
text at a time (no padding at all) and pooled by hand.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import huggingface_hub
import numpy as np
import pytest
from tiny_models import each_alone, make_tiny_bert
from transformers import AutoTokenizer, BertConfig, RobertaConfig

from harness.encoder import EncoderOptions
from harness.errors import HarnessError
from harness.plugins.encoders import hf, hf_load
from harness.plugins.encoders.card_encoder import build_minilm
from harness.plugins.encoders.hf_encoder import HFEncoder, build_hf
from harness.plugins.encoders.hf_load import max_length_limit
from harness.plugins.encoders.named import NAMED_MODELS
from harness.registry import Registry

TEXTS = [
    "def add(a, b): return a + b",
    "x",
    "class Parser:\n    def parse(self, line):\n        return json.loads(line)\n" * 3,
    "",
    "return the sum of two numbers",
    "for item in items:\n    count += 1",
    "def read(path):\n    with open(path) as f:\n        return f.read()",
]


def cpu_encoder(path: Path, **options: Any) -> HFEncoder:
    return HFEncoder(str(path), EncoderOptions(**{"device": "cpu", **options}))


def test_tiny_bert_is_deterministic_per_seed_and_spells_any_ascii(tmp_path: Path) -> None:
    first, again, other = (
        make_tiny_bert(tmp_path / name, seed=seed, vocab_words=["frobnicate"])
        for name, seed in [("first", 0), ("again", 0), ("other", 1)]
    )
    weights = [(folder / "model.safetensors").read_bytes() for folder in (first, again, other)]
    assert weights[0] == weights[1] != weights[2]
    tokenizer = AutoTokenizer.from_pretrained(first)
    assert tokenizer.tokenize("frobnicate") == ["frobnicate"]
    tokens = tokenizer.tokenize("def Zip_9(x): return {'k': x ** 2}  # ~ok")
    assert "[UNK]" not in tokens and tokens[0] == "def"


def test_embeddings_are_unit_norm_float32_rows(tiny_bert: Path) -> None:
    embeddings = cpu_encoder(tiny_bert).encode(TEXTS)
    assert embeddings.shape == (len(TEXTS), 32)
    assert embeddings.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(embeddings, axis=1), 1.0, atol=1e-5)


def test_rows_come_back_in_input_order_despite_length_sorting(tiny_bert: Path) -> None:
    encoder = cpu_encoder(tiny_bert, batch_size=2)
    together = encoder.encode(TEXTS)
    alone = np.concatenate([encoder.encode([text]) for text in TEXTS])
    np.testing.assert_allclose(together, alone, atol=1e-5)


def test_mean_pooling_equals_mean_of_unpadded_hidden_states(tiny_bert: Path) -> None:
    # One batch of mixed lengths: padded positions must not count in the mean.
    encoder = cpu_encoder(tiny_bert, batch_size=len(TEXTS))
    assert encoder.info["pooling"] == "mean"
    want = each_alone(tiny_bert, TEXTS, "mean")
    np.testing.assert_allclose(encoder.encode(TEXTS), want, atol=1e-5)


def test_cls_pooling_equals_first_hidden_state(tiny_bert: Path) -> None:
    encoder = cpu_encoder(tiny_bert, pooling="cls")
    assert encoder.info["pooling"] == "cls"
    want = each_alone(tiny_bert, TEXTS, "cls")
    np.testing.assert_allclose(encoder.encode(TEXTS), want, atol=1e-5)


def test_dynamic_padding_matches_padding_to_max_length(tiny_bert: Path) -> None:
    dynamic = cpu_encoder(tiny_bert, max_length=64, batch_size=3)
    padded = cpu_encoder(
        tiny_bert,
        max_length=64,
        batch_size=3,
        extra={"padding": "max_length", "sort_by_length": False},
    )
    assert padded.tokenize(["x"])["input_ids"].shape == (1, 64)
    assert dynamic.tokenize(["x"])["input_ids"].shape == (1, 3)  # [CLS] x [SEP]
    np.testing.assert_allclose(dynamic.encode(TEXTS), padded.encode(TEXTS), atol=1e-5)


def test_max_length_truncates_what_follows(tiny_bert: Path) -> None:
    same_start = ["def add ( a , b ) : return a + b", "def add ( a , b ) : return x - y"]
    short = cpu_encoder(tiny_bert, max_length=8)  # [CLS] + 6 tokens + [SEP]
    assert short.tokenize(same_start)["input_ids"].shape == (2, 8)
    first, second = short.encode(same_start)
    np.testing.assert_allclose(first, second, atol=1e-6)
    first, second = cpu_encoder(tiny_bert, max_length=64).encode(same_start)
    assert float(first @ second) < 1 - 1e-4


def test_max_length_is_clamped_to_the_position_embeddings(tiny_bert: Path) -> None:
    encoder = cpu_encoder(tiny_bert, max_length=10_000)
    assert encoder.info["max_length"] == 128
    assert encoder.encode(["a " * 1000]).shape == (1, 32)


def test_roberta_loses_the_padding_offset_from_its_positions() -> None:
    assert max_length_limit(RobertaConfig(max_position_embeddings=514, pad_token_id=1), None) == 512
    assert (
        max_length_limit(RobertaConfig(max_position_embeddings=1026, pad_token_id=1), None) == 1024
    )
    assert max_length_limit(BertConfig(max_position_embeddings=512), None) == 512


def test_info_records_what_determines_the_embeddings(tiny_bert: Path) -> None:
    info = cpu_encoder(tiny_bert, max_length=64).info
    assert info["model"] == str(tiny_bert)
    assert info["source"] == "local"
    assert (info["pooling"], info["max_length"], info["device"]) == ("mean", 64, "cpu")
    assert (info["dtype"], info["normalize"], info["dim"]) == ("float32", True, 32)


def test_bfloat16_autocast_stays_close_to_float32(tiny_bert: Path) -> None:
    full = cpu_encoder(tiny_bert).encode(TEXTS)
    reduced = cpu_encoder(tiny_bert, dtype="bfloat16").encode(TEXTS)
    assert reduced.dtype == np.float32
    assert np.min(np.sum(full * reduced, axis=1)) > 0.99


def test_encode_runs_in_eval_mode_and_restores_train_mode(tiny_bert: Path) -> None:
    encoder = cpu_encoder(tiny_bert)
    expected = encoder.encode(TEXTS)
    encoder.model.train()  # dropout on; encode must switch it off and back on
    np.testing.assert_allclose(encoder.encode(TEXTS), expected, atol=1e-6)
    assert encoder.model.training


def test_forward_is_differentiable_for_training(tiny_bert: Path) -> None:
    encoder = cpu_encoder(tiny_bert)
    embeddings = encoder.forward(encoder.tokenize(["def add(a, b)", "return a + b"]))
    (embeddings[0] @ embeddings[1]).backward()
    word_embeddings = encoder.model.get_input_embeddings().weight
    assert word_embeddings.grad is not None and word_embeddings.grad.abs().sum() > 0


def test_no_texts_give_an_empty_matrix(tiny_bert: Path) -> None:
    assert cpu_encoder(tiny_bert).encode([]).shape == (0, 32)


@pytest.mark.parametrize(
    ("option", "value"), [("pooling", "median"), ("dtype", "int8"), ("device", "tpu")]
)
def test_unknown_options_are_one_line_errors(tiny_bert: Path, option: str, value: str) -> None:
    with pytest.raises(HarnessError, match=value):
        cpu_encoder(tiny_bert, **{option: value})


def test_hf_prefix_loads_a_local_folder_through_the_registry(tiny_bert: Path) -> None:
    registry = Registry("encoder")
    hf.harness_register_encoders(register=registry.register)
    resolved = registry.get(f"hf:{tiny_bert}")
    assert resolved.argument == str(tiny_bert)
    encoder = resolved.load()(resolved.argument, EncoderOptions(device="cpu"))
    assert encoder.name == f"hf:{tiny_bert}"
    assert encoder.encode(["def add(a, b)"]).shape == (1, 32)


def test_every_registered_target_resolves_to_a_factory() -> None:
    registry = Registry("encoder")
    hf.harness_register_encoders(register=registry.register)
    assert registry.names() == sorted([*NAMED_MODELS, "hf:"])  # one per model card
    assert all(callable(entry.load()) for entry in registry)


def test_a_missing_path_names_the_path(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-model"
    with pytest.raises(HarnessError, match="does not exist") as raised:
        build_hf(str(missing), EncoderOptions(device="cpu"))
    assert str(missing) in str(raised.value)


def test_a_folder_without_config_json_says_so(tmp_path: Path) -> None:
    (tmp_path / "model.safetensors").write_bytes(b"")
    with pytest.raises(HarnessError, match="config.json") as raised:
        build_hf(str(tmp_path), EncoderOptions(device="cpu"))
    assert str(tmp_path) in str(raised.value)


def test_an_uncached_hub_id_offline_says_how_to_use_a_local_copy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    options = EncoderOptions(device="cpu", extra={"cache_dir": str(tmp_path)})  # empty cache
    with pytest.raises(HarnessError) as raised:
        build_hf("harness-tests/not-cached", options)
    message = str(raised.value)
    assert "'harness-tests/not-cached'" in message and "hf:/path" in message
    assert "\n" not in message


def test_an_unreachable_hub_fails_at_once_with_the_same_advice(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Online mode, but the hub is a closed local port: no minute of download retries.
    # (The URL template is what HF_ENDPOINT sets when huggingface_hub is imported.)
    monkeypatch.setattr(hf_load, "hub_offline", lambda: False)
    closed_port = "http://127.0.0.1:9/{repo_id}/resolve/{revision}/{filename}"
    monkeypatch.setattr(huggingface_hub.constants, "HUGGINGFACE_CO_URL_TEMPLATE", closed_port)
    options = EncoderOptions(device="cpu", extra={"cache_dir": str(tmp_path)})
    started = time.monotonic()
    with pytest.raises(HarnessError, match="hf:/path/to/local/copy") as raised:
        build_hf("harness-tests/not-cached", options)
    assert time.monotonic() - started < 10
    assert "'harness-tests/not-cached'" in str(raised.value)


def test_a_hub_id_in_the_local_cache_loads_offline_with_its_commit(
    tiny_bert: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The layout huggingface_hub writes: refs/main names the snapshot folder.
    commit = "0123456789abcdef0123456789abcdef01234567"
    repo = tmp_path / "models--harness-tests--tiny-bert"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(commit)
    snapshot = repo / "snapshots" / commit
    snapshot.mkdir(parents=True)
    for file in tiny_bert.iterdir():
        (snapshot / file.name).write_bytes(file.read_bytes())
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    options = EncoderOptions(device="cpu", extra={"cache_dir": str(tmp_path)})
    encoder = build_hf("harness-tests/tiny-bert", options)
    assert (encoder.info["source"], encoder.info["commit"]) == ("hub", commit)
    np.testing.assert_allclose(
        encoder.encode(TEXTS), cpu_encoder(tiny_bert).encode(TEXTS), atol=1e-6
    )


def test_registering_imports_neither_torch_nor_transformers() -> None:
    script = textwrap.dedent(
        """
        import sys
        import harness.plugins.encoders.hf as hf
        names = []
        hf.harness_register_encoders(register=lambda name, *args, **meta: names.append(name))
        assert "minilm" in names and "hf:" in names, names
        heavy = [m for m in ("torch", "transformers") if m in sys.modules]
        assert not heavy, heavy
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=dict(os.environ)
    )
    assert done.returncode == 0, done.stderr


def test_minilm_loads_offline_and_puts_a_query_nearest_its_code(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    encoder = build_minilm(None, EncoderOptions(device="cpu"))
    assert (encoder.dim, encoder.info["model"]) == (384, "sentence-transformers/all-MiniLM-L6-v2")
    queries = ["add two numbers", "read all lines of a text file", "sort a list in reverse order"]
    code = [
        "def add(a, b):\n    return a + b",
        "def read_lines(path):\n    with open(path) as handle:\n        return handle.readlines()",
        "def sort_descending(items):\n    return sorted(items, reverse=True)",
    ]
    similarity = encoder.encode(queries, role="query") @ encoder.encode(code).T
    assert list(similarity.argmax(axis=1)) == [0, 1, 2]
