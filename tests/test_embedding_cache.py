"""The on-disk embedding cache: hits, misses, what invalidates an entry, concurrent
processes, and runs whose results do not change with it."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from harness.embedding_cache import CachedEncoder, EmbeddingCache, encoder_identity, key_of
from harness.encoder import EncoderOptions
from harness.plan import RunRequest
from harness.results import read_examples
from harness.runner import run

TEXTS = [f"def add_{i}(a, b):\n    return a + b * {i}" for i in range(40)]


class CountingEncoder:
    """Deterministic embeddings from the text; counts what it was asked to encode."""

    def __init__(self, name: str = "counting", dim: int = 8) -> None:
        self.name, self.dim = name, dim
        self.info = {"model": name, "pooling": "mean", "max_length": 64, "device": "cpu"}
        self.encoded: list[str] = []

    def fingerprint(self) -> str:
        """Its state: the name and width (an encoder without one is never cached)."""
        return f"{self.name}-{self.dim}"

    def encode(self, texts, *, role="code", description="encoding") -> np.ndarray:
        self.encoded += list(texts)
        return np.stack([embedding_of(t, self.dim) for t in texts]) if texts else (
            np.zeros((0, self.dim), dtype=np.float32)
        )  # fmt: skip


def embedding_of(text: str, dim: int) -> np.ndarray:
    seed = int.from_bytes(text.encode()[:8].ljust(8, b"\0"), "little") ^ len(text)
    row = np.random.default_rng(seed).standard_normal(dim).astype(np.float32)
    return row / np.linalg.norm(row)


def test_a_second_identical_encode_reads_everything_back(tmp_path: Path) -> None:
    encoder = CountingEncoder()
    cached = CachedEncoder(encoder, EmbeddingCache(tmp_path))
    first = cached.encode(TEXTS)
    again = CachedEncoder(encoder, EmbeddingCache(tmp_path)).encode(TEXTS)
    assert len(encoder.encoded) == len(TEXTS)  # the second encoder encoded nothing
    assert np.array_equal(first, again)
    assert cached.stats() == {"embedding_cache_hits": 0.0, "embedding_cache_misses": 40.0,
                              "embedding_cache_hit_rate": 0.0}  # fmt: skip


def test_only_new_texts_are_encoded_and_rows_keep_their_order(tmp_path: Path) -> None:
    encoder = CountingEncoder()
    cached = CachedEncoder(encoder, EmbeddingCache(tmp_path))
    cached.encode(TEXTS[:30])
    mixed = [TEXTS[35], TEXTS[3], TEXTS[31], TEXTS[0]]
    got = cached.encode(mixed)
    assert encoder.encoded[30:] == [TEXTS[35], TEXTS[31]]
    assert np.array_equal(got, np.stack([embedding_of(t, 8) for t in mixed]))
    assert cached.stats()["embedding_cache_hits"] == 2.0
    assert cached.stats()["embedding_cache_hit_rate"] == pytest.approx(2 / 34)


def test_roles_and_encoder_info_are_part_of_the_key(tmp_path: Path) -> None:
    cache = EmbeddingCache(tmp_path)
    encoder = CountingEncoder()
    CachedEncoder(encoder, cache).encode(TEXTS[:5], role="code")
    CachedEncoder(encoder, cache).encode(TEXTS[:5], role="query")
    assert len(encoder.encoded) == 10
    for field, value in [("pooling", "cls"), ("max_length", 128), ("revision", "v2"),
                         ("model", "other")]:  # fmt: skip
        changed = CountingEncoder()
        changed.info = {**encoder.info, field: value}
        CachedEncoder(changed, cache).encode(TEXTS[:5])
        assert len(changed.encoded) == 5, field
    # where it ran and how it was trained do not change what it computes
    moved = CountingEncoder()
    moved.info = {**encoder.info, "device": "cpu:1", "adapter_training": {"seconds": 3.0}}
    CachedEncoder(moved, cache).encode(TEXTS[:5])
    assert moved.encoded == []


def test_weights_and_adapters_are_part_of_the_key(tiny_bert: Path, tmp_path: Path) -> None:
    import torch

    from harness.plugins.encoders.hf_encoder import HFEncoder
    from harness.plugins.lora.config import LoraSettings
    from harness.plugins.lora.trainer import wrap_with_lora

    base = HFEncoder(str(tiny_bert), EncoderOptions(device="cpu", max_length=64))
    identities = {"base": encoder_identity(base, "code")}
    for seed in (0, 1):
        view = HFEncoder(str(tiny_bert), EncoderOptions(device="cpu", max_length=64))
        view.model = wrap_with_lora(base.model, LoraSettings(r=2, seed=seed))
        with torch.no_grad():  # fresh LoRA B matrices are zero: make the adapters differ
            for name, parameter in view.model.named_parameters():
                if "lora_B" in name:
                    parameter.fill_(0.01 * (seed + 1))
        identities[f"adapter {seed}"] = encoder_identity(view, "code")
    tweaked = HFEncoder(str(tiny_bert), EncoderOptions(device="cpu", max_length=64))
    with torch.no_grad():
        next(tweaked.model.parameters())[0, 0] += 1.0  # same folder, other weights
    identities["tweaked"] = encoder_identity(tweaked, "code")
    assert len({key_of(identity) for identity in identities.values()}) == 4
    assert identities["base"]["adapter"] is None
    assert identities["adapter 0"]["adapter"] != identities["adapter 1"]["adapter"]
    same = HFEncoder(str(tiny_bert), EncoderOptions(device="cpu", max_length=64))
    assert key_of(encoder_identity(same, "code")) == key_of(identities["base"])


def test_a_real_encoder_reads_back_bit_identical_embeddings(tiny_bert: Path, tmp_path: Path):
    from harness.plugins.encoders.hf_encoder import HFEncoder

    encoder = HFEncoder(str(tiny_bert), EncoderOptions(device="cpu", max_length=64))
    fresh = encoder.encode(TEXTS)
    cached = CachedEncoder(encoder, EmbeddingCache(tmp_path))
    assert np.array_equal(cached.encode(TEXTS), fresh)  # misses: encoded exactly as without
    assert np.array_equal(cached.encode(TEXTS), fresh)  # hits: read back exactly
    assert cached.stats()["embedding_cache_hit_rate"] == 0.5


def test_a_damaged_segment_is_skipped_and_an_unwritable_cache_only_warns(tmp_path: Path):
    encoder = CountingEncoder()
    cache = EmbeddingCache(tmp_path / "cache")
    CachedEncoder(encoder, cache).encode(TEXTS[:4])
    (segment,) = (tmp_path / "cache").rglob("*.npy")
    segment.write_bytes(segment.read_bytes()[:50])  # truncated
    fresh = CountingEncoder()
    got = CachedEncoder(fresh, EmbeddingCache(tmp_path / "cache")).encode(TEXTS[:4])
    assert len(fresh.encoded) == 4 and np.array_equal(got[0], embedding_of(TEXTS[0], 8))

    blocked = tmp_path / "blocked"
    blocked.write_text("a file where the cache folder would be")
    third = CachedEncoder(CountingEncoder(), EmbeddingCache(blocked))
    assert third.encode(TEXTS[:3]).shape == (3, 8)


WORKER = textwrap.dedent(
    """
    import sys
    import numpy as np
    sys.path.insert(0, {tests!r})
    from test_embedding_cache import TEXTS, CountingEncoder, embedding_of
    from harness.embedding_cache import CachedEncoder, EmbeddingCache

    rng = np.random.default_rng({seed})
    for _ in range(30):
        texts = [TEXTS[i] for i in rng.choice(len(TEXTS), size=12, replace=False)]
        got = CachedEncoder(CountingEncoder(), EmbeddingCache({root!r})).encode(texts)
        expected = np.stack([embedding_of(t, 8) for t in texts])
        assert np.array_equal(got, expected), "a reader saw a torn or foreign row"
    print("ok")
    """
)


def test_two_processes_read_and_write_one_cache_at_once(tmp_path: Path) -> None:
    tests = str(Path(__file__).parent)
    workers = [
        subprocess.Popen([sys.executable, "-c", WORKER.format(tests=tests, seed=seed,
                                                             root=str(tmp_path))],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for seed in (1, 2)
    ]  # fmt: skip
    for worker in workers:
        out, err = worker.communicate(timeout=120)
        assert worker.returncode == 0 and out.strip() == "ok", err
    assert not list(tmp_path.rglob("*.tmp"))
    final = CachedEncoder(CountingEncoder(), EmbeddingCache(tmp_path))
    final.encode(TEXTS)
    assert final.stats()["embedding_cache_hit_rate"] == 1.0  # every text was stored by someone


def _request(tiny_bert: Path, code_tree: Path, tmp_path: Path, **changes) -> RunRequest:
    options = {
        "model": f"hf:{tiny_bert}", "strategy": "none", "task": "t2c", "data_dir": code_tree,
        "results_dir": tmp_path / "results", "cache_dir": tmp_path / "cache", "device": "cpu",
        "max_length": 64,
        "settings": {"dataset": {"test_fraction": 0.5, "valid_fraction": 0.0}},
    }  # fmt: skip
    return RunRequest(**{**options, **changes})


def test_a_second_run_encodes_nothing_and_scores_the_same(tiny_bert, code_tree, tmp_path):
    first = run(_request(tiny_bert, code_tree, tmp_path))
    again = run(_request(tiny_bert, code_tree, tmp_path, results_dir=tmp_path / "again"))
    off = run(_request(tiny_bert, code_tree, tmp_path, overwrite=True, embedding_cache=False,
                       results_dir=tmp_path / "uncached"))  # fmt: skip
    # --overwrite recomputes what it reports: the embeddings too, none read from the cache
    redone = run(_request(tiny_bert, code_tree, tmp_path, overwrite=True))
    for a, b, c, d in zip(first, again, off, redone, strict=True):
        assert a.result.timings["embedding_cache_hit_rate"] == 0.0
        assert b.result.timings["embedding_cache_hit_rate"] == 1.0
        assert b.result.timings["embedding_cache_misses"] == 0.0
        assert "embedding_cache_hits" not in c.result.timings
        assert d.result.timings["embedding_cache_hits"] == 0.0 and not d.reused
        assert read_examples(a.path) == read_examples(b.path) == read_examples(c.path)
        assert read_examples(d.path) == read_examples(a.path)
        assert a.result.metrics == b.result.metrics == c.result.metrics == d.result.metrics
    assert list((tmp_path / "cache" / "embeddings").rglob("identity.json"))


class StatefulEncoder(CountingEncoder):
    """An encoder whose state (a scale) changes its embeddings but not its ``info``."""

    def __init__(self, scale: float, *, declares: bool) -> None:
        super().__init__("stateful")
        self.scale = scale
        if declares:
            self.fingerprint = lambda: f"scale={self.scale}"
        else:
            self.fingerprint = None  # no fingerprint, no torch weights

    def encode(self, texts, *, role="code", description="encoding") -> np.ndarray:
        return super().encode(texts) * self.scale


def test_a_changed_state_with_the_same_info_is_never_served_old_embeddings(tmp_path: Path):
    before = CachedEncoder(StatefulEncoder(1.0, declares=True), EmbeddingCache(tmp_path))
    first = before.encode(TEXTS)
    changed = StatefulEncoder(-1.0, declares=True)
    after = CachedEncoder(changed, EmbeddingCache(tmp_path)).encode(TEXTS)
    assert len(changed.encoded) == len(TEXTS) and np.allclose(after, -first)


def test_an_encoder_without_a_fingerprint_is_not_cached(tmp_path: Path):
    for scale in (1.0, -1.0):
        encoder = StatefulEncoder(scale, declares=False)
        got = CachedEncoder(encoder, EmbeddingCache(tmp_path)).encode(TEXTS)
        assert len(encoder.encoded) == len(TEXTS)  # encoded afresh both times
        assert np.allclose(got[0], scale * embedding_of(TEXTS[0], 8))
    assert not list(tmp_path.rglob("*.npy"))


def test_the_runs_model_options_are_part_of_the_key(tmp_path: Path):
    encoder = CountingEncoder()
    CachedEncoder(encoder, EmbeddingCache(tmp_path), run={"encoder": {"dim": 8}}).encode(TEXTS)
    CachedEncoder(encoder, EmbeddingCache(tmp_path), run={"encoder": {"dim": 9}}).encode(TEXTS)
    assert len(encoder.encoded) == 2 * len(TEXTS)
    CachedEncoder(encoder, EmbeddingCache(tmp_path), run={"encoder": {"dim": 9}}).encode(TEXTS)
    assert len(encoder.encoded) == 2 * len(TEXTS)  # the same options hit


def test_refresh_encodes_everything_and_reads_nothing(tmp_path: Path):
    encoder = CountingEncoder()
    CachedEncoder(encoder, EmbeddingCache(tmp_path)).encode(TEXTS)
    fresh = CachedEncoder(encoder, EmbeddingCache(tmp_path), refresh=True)
    fresh.encode(TEXTS)
    assert len(encoder.encoded) == 2 * len(TEXTS) and fresh.stats()["embedding_cache_hits"] == 0
