"""Work the runs of one matrix share in one process.

- a dataset is loaded once for every run that asks for it with equal options;
- a base model is built once for all the runs that use it (same name and
  encoder options), and released after the last of them;
- the base model's embeddings are remembered by (role, text) and reused by
  every run whose strategy scores with the base model unchanged (``none``,
  or any strategy with ``changes_encoder = False``), so a text is encoded
  once for all of them;
- an adapter trained for one run is found by any later run with the same
  key in the strategy's own artifact cache: nothing to do here.

Strategies must not change the base model in place (the built-in ones train
and score copies of it).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

import numpy as np

from harness.encoder import EncoderOptions, Role
from harness.plan import Plan, RunRequest, dataset_options, encoder_options
from harness.runner import Sharing


def model_key(request: RunRequest, resolved: Plan) -> str:
    """Runs with the same key share one base model (and its embeddings)."""
    return _canonical([request.model, asdict(encoder_options(request, resolved))])


def text_key(role: str, text: str) -> bytes:
    return hashlib.blake2b(f"{role}\0{text}".encode(), digest_size=16).digest()


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


class MemoizedEncoder:
    """A base encoder whose embeddings are remembered in `memo`, keyed by (role, text).

    Only texts not seen before (each once) reach the encoder; everything else
    the encoder has (``info``, ``dim``, ...) is the encoder's own.
    """

    def __init__(self, encoder: Any, memo: dict[bytes, np.ndarray]) -> None:
        self.encoder = encoder
        self.memo = memo

    def encode(
        self, texts: Sequence[str], *, role: Role = "code", description: str = "encoding"
    ) -> np.ndarray:
        keys = [text_key(role, text) for text in texts]
        missing: dict[bytes, str] = {}
        for key, text in zip(keys, texts, strict=True):
            if key not in self.memo:
                missing.setdefault(key, text)
        if missing:
            texts_left = list(missing.values())
            vectors = self.encoder.encode(texts_left, role=role, description=description)
            for key, row in zip(missing, np.asarray(vectors, dtype=np.float32), strict=True):
                self.memo[key] = row
        if not keys:
            return np.zeros((0, int(self.encoder.dim)), dtype=np.float32)
        return np.stack([self.memo[key] for key in keys])

    def __getattr__(self, name: str) -> Any:
        return getattr(self.__dict__["encoder"], name)


class SharedWork(Sharing):
    """Datasets, base models and base embeddings shared by the runs of one process."""

    def __init__(self) -> None:
        self.datasets: dict[str, Any] = {}
        self.models: dict[str, Any] = {}
        self.memos: dict[str, dict[bytes, np.ndarray]] = {}
        self._key_of: dict[int, str] = {}

    def dataset(self, request: RunRequest, resolved: Plan) -> Any:
        key = _canonical([resolved.dataset_name, asdict(dataset_options(request, resolved))])
        if key not in self.datasets:
            self.datasets[key] = super().dataset(request, resolved)
        return self.datasets[key]

    def model(self, request: RunRequest, resolved: Plan, options: EncoderOptions) -> Any:
        key = _canonical([request.model, asdict(options)])
        if key not in self.models:
            self.models[key] = super().model(request, resolved, options)
            self._key_of[id(self.models[key])] = key
        return self.models[key]

    def scoring_model(self, adapted: Any, base: Any, strategy: Any) -> Any:
        key = self._key_of.get(id(base))
        if key is None or adapted is not base or getattr(strategy, "changes_encoder", True):
            return adapted
        return MemoizedEncoder(base, self.memos.setdefault(key, {}))

    def release(self, key: str) -> None:
        """Forget a base model and its embeddings (no run left needs them)."""
        model = self.models.pop(key, None)
        if model is not None:
            self._key_of.pop(id(model), None)
        self.memos.pop(key, None)
