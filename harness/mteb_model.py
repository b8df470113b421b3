"""A harness encoder handed to ``mteb`` as a model (mteb's ``EncoderProtocol``).

    >>> import mteb  # doctest: +SKIP
    >>> from harness.mteb_model import mteb_model
    >>> name = "sentence-transformers/all-MiniLM-L6-v2"
    >>> model = mteb_model("minilm", name=name)  # doctest: +SKIP
    >>> mteb.evaluate(model, mteb.get_task("CosQA"))  # doctest: +SKIP

mteb calls ``encode(inputs, task_metadata=..., hf_split=..., hf_subset=...,
prompt_type=...)`` with a loader of batches whose ``"text"`` holds the texts. Its
prompt type ``query`` is harness's role ``"query"`` and ``document`` is ``"code"``,
except where a task's queries are code (the code-query tasks of
harness.mteb_tasks: CodeTransOcean, CodeSearchNet-ccr): they are encoded as code
too, as harness encodes code-to-code queries. harness encoders return L2-normalised rows, so the
similarity is their dot product (cosine). mteb is imported only by
``mteb_model_meta`` and never by harness itself: it stays an optional dependency.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from harness.encoder import Encoder, EncoderOptions, Role
from harness.mteb_tasks import TASKS


def role_for(prompt_type: Any, task_name: str | None) -> Role:
    """harness's role of what mteb encodes with `prompt_type` for task `task_name`."""
    kind = getattr(prompt_type, "value", prompt_type)
    if kind == "query":
        known = TASKS.get(task_name or "")
        return "code" if known is not None and known.queries == "code" else "query"
    return "code"  # documents, and texts mteb gives no prompt type


class MTEBEncoder:
    """mteb's encoder protocol over a harness `Encoder`.

    `name` is the model's MTEB name (``organisation/name``), `revision` its revision.
    """

    def __init__(self, encoder: Encoder, *, name: str, revision: str | None = None) -> None:
        self.encoder = encoder
        self.name = name
        self.revision = revision

    def encode(
        self,
        inputs: Iterable[Mapping[str, Any]],
        *,
        task_metadata: Any = None,
        hf_split: str = "",
        hf_subset: str = "",
        prompt_type: Any = None,
        **kwargs: Any,
    ) -> np.ndarray:
        texts = [str(text) for batch in inputs for text in batch["text"]]
        role = role_for(prompt_type, getattr(task_metadata, "name", None))
        return np.asarray(self.encoder.encode(texts, role=role), dtype=np.float32)

    def similarity(self, embeddings1: Any, embeddings2: Any) -> Any:
        return _torch(embeddings1) @ _torch(embeddings2).T

    def similarity_pairwise(self, embeddings1: Any, embeddings2: Any) -> Any:
        return (_torch(embeddings1) * _torch(embeddings2)).sum(dim=-1)

    @property
    def mteb_model_meta(self) -> Any:
        from mteb.models.model_meta import ModelMeta, ScoringFunction

        info = getattr(self.encoder, "info", {}) or {}
        return ModelMeta(
            loader=None,
            name=self.name,
            revision=self.revision or info.get("commit") or info.get("revision"),
            release_date=None,
            languages=None,
            n_parameters=None,
            memory_usage_mb=None,
            max_tokens=info.get("max_length"),
            embed_dim=getattr(self.encoder, "dim", None),
            license=None,
            open_weights=None,
            public_training_code=None,
            public_training_data=None,
            framework=["PyTorch"],
            similarity_fn_name=ScoringFunction.COSINE,
            use_instructions=None,
            training_datasets=None,
        )


def _torch(embeddings: Any) -> Any:
    import torch

    if isinstance(embeddings, torch.Tensor):
        return embeddings.float()
    return torch.from_numpy(np.asarray(embeddings, dtype=np.float32))


def mteb_model(
    model: str,
    *,
    name: str,
    revision: str | None = None,
    options: EncoderOptions | None = None,
) -> MTEBEncoder:
    """A registered harness encoder (`model` as ``harness run --model`` takes it) as an
    mteb model named `name`."""
    from harness.errors import HarnessError
    from harness.plugin_manager import plugins

    found = plugins().registries["encoders"].get(model, "encoder")
    if found.entry.meta.get("kind") == "causal-lm":
        raise HarnessError(f"{model!r} is a causal LM; mteb needs an embedding encoder")
    encoder = found.load()(found.argument, options or EncoderOptions())
    return MTEBEncoder(encoder, name=name, revision=revision)
