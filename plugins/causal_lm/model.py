"""`CausalLM`: a Hugging Face causal language model that completes prefixes greedily.

Generation is batched greedy decoding written out as a loop over the KV
cache: prompts are sorted by length (longest first), left padded, given an
attention mask and position ids that start at each prompt's first real
token, and extended one argmax token per step. A sequence ends at an end
token, when ``stop(text)`` gives an index (the text is cut there), or at
`max_new_tokens`; the batch stops as soon as every sequence has ended.

Prompts carry no special tokens at their end. A tokenizer that puts a BOS
token in front of every text (Llama's) gets it in front of the truncated
prompt, inside the `context_tokens` budget; Qwen2.5-Coder and GPT-2 add none.
Prompts are also cut so that prompt plus `max_new_tokens` fits the model's
positions (``info["context_tokens"]``).

Precision (``EncoderOptions.dtype``): ``"auto"`` is bfloat16 on CUDA and
float32 on CPU. On CUDA the weights are cast; on CPU they stay float32 and a
reduced precision runs under autocast. Options from ``EncoderOptions.extra``:
``revision`` and ``cache_dir`` (hub ids); remote code runs only with
``EncoderOptions.trust_remote_code``.
"""

from __future__ import annotations

import contextlib
import inspect
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from transformers import AutoModelForCausalLM

from harness.encoder import EncoderOptions
from harness.errors import HarnessError
from harness.plugins.encoders.hf_load import load_with, max_length_limit
from harness.progress import progress_bar

QWEN_CODER_ID = "Qwen/Qwen2.5-Coder-1.5B"
DTYPES: dict[str, torch.dtype] = {
    "float32": torch.float32,
    "bfloat16": torch.bfloat16,
    "float16": torch.float16,
}
# prompt tokens decoded in front of the new ones, so that a tokenizer which drops a
# leading space when decoding from a word start (sentencepiece) keeps it
_DECODE_TAIL = 4

Stop = Callable[[str], "int | None"]


@dataclass(frozen=True)
class Generation:
    """One completion: its text (cut where `stop` said), the prompt's length in tokens,
    the tokens generated (up to and including the one that ended it) and its share of
    its batch's wall time."""

    text: str
    prompt_tokens: int
    new_tokens: int
    seconds: float


def resolve_dtype(spec: str, device: torch.device) -> str:
    """``"auto"`` -> bfloat16 on cuda, float32 elsewhere; a named dtype as is."""
    if spec == "auto":
        return "bfloat16" if device.type == "cuda" else "float32"
    if spec not in DTYPES:
        raise HarnessError(f"unknown dtype {spec!r} (use auto, {', '.join(DTYPES)})")
    return spec


class CausalLM:
    """A causal LM for completion; ``.model`` may be replaced by a wrapped one (peft).

    >>> lm = CausalLM("/path/to/model", EncoderOptions(device="cpu"))  # doctest: +SKIP
    >>> lm.generate(["assert add(1, 2) == "], max_new_tokens=8, context_tokens=512,
    ...             stop=expression_end)[0].text  # doctest: +SKIP
    '3'
    """

    kind = "causal-lm"

    def __init__(
        self,
        reference: str,
        options: EncoderOptions | None = None,
        *,
        name: str | None = None,
        model_id: str | None = None,
        source: str | None = None,
        info: dict[str, Any] | None = None,
    ) -> None:
        from harness.plugins.encoders.hf_load import resolve_device

        options = options or EncoderOptions()
        extra = options.extra
        self.device = resolve_device(options.device)
        self.dtype = resolve_dtype(options.dtype, self.device)
        self.batch_size = max(1, options.batch_size)
        revision = extra.get("revision")
        trust_remote_code = options.trust_remote_code is True
        loaded = load_with(reference, options, AutoModelForCausalLM)
        weights = DTYPES[self.dtype] if self.device.type == "cuda" else torch.float32
        self.model: Any = loaded.model.to(self.device, dtype=weights).eval()
        self.tokenizer: Any = loaded.tokenizer
        pad_token = _ensure_pad_token(self.tokenizer)
        config = loaded.model.config
        self.context_limit = max_length_limit(config, self.tokenizer)
        self.eos_ids = _eos_ids(self.tokenizer, loaded.model)
        self.bos = _bos_prefix(self.tokenizer)
        self.name = name or f"hf:{reference}"
        self.info: dict[str, Any] = {
            "model": model_id or reference,
            "source": source or loaded.source,
            "revision": revision,
            "commit": loaded.commit,
            "model_type": getattr(config, "model_type", None),
            "kind": self.kind,
            "device": str(self.device),
            "dtype": self.dtype,
            "n_parameters": sum(p.numel() for p in loaded.model.parameters()),
            "context_tokens": self.context_limit,
            "trust_remote_code": trust_remote_code,
            "bos_prepended": bool(self.bos),
            **(info or {}),
        }
        if pad_token is not None:
            self.info["pad_token_added"] = pad_token

    def prompt_ids(self, prefix: str, context_tokens: int) -> list[int]:
        """`prefix` as token ids, no special tokens at the end, its last `context_tokens` kept.

        >>> lm.prompt_ids("x = 1\\nassert x == ", 3)  # doctest: +SKIP
        [87, 621, 220]
        """
        if context_tokens < 1:
            raise HarnessError(f"context_tokens must be at least 1, got {context_tokens}")
        ids = list(self.tokenizer(prefix, add_special_tokens=False, verbose=False)["input_ids"])
        keep = context_tokens - len(self.bos)
        return [*self.bos, *(ids[-keep:] if keep > 0 else [])][-context_tokens:]

    def generate(
        self,
        prefixes: Sequence[str],
        *,
        max_new_tokens: int,
        context_tokens: int,
        stop: Stop | Sequence[Stop] | None = None,
        batch_size: int = 8,
        description: str = "generating",
    ) -> list[Generation]:
        """Greedy continuations of `prefixes`, in input order (see the module docstring).

        `stop` is one rule for all, or one per prefix (the completion task kind's
        ``expression_stop(prefix)`` knows whether the prefix left a bracket open).
        """
        if max_new_tokens < 1:
            raise HarnessError(f"max_new_tokens must be at least 1, got {max_new_tokens}")
        stops = _per_prefix(stop, len(prefixes))
        budget = context_tokens
        if self.context_limit:
            budget = min(budget, max(1, self.context_limit - max_new_tokens))
        prompts = [self.prompt_ids(prefix, budget) for prefix in prefixes]
        order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]), reverse=True)
        results: list[Generation | None] = [None] * len(prompts)
        was_training = bool(self.model.training)
        self.model.eval()
        try:
            with (
                torch.inference_mode(),
                progress_bar(description, total=len(prompts), unit="examples") as advance,
            ):
                for start in range(0, len(order), max(1, batch_size)):
                    rows = order[start : start + max(1, batch_size)]
                    began = time.perf_counter()
                    batch = self._generate_batch(
                        [prompts[i] for i in rows], max_new_tokens, [stops[i] for i in rows]
                    )
                    share = (time.perf_counter() - began) / len(rows)
                    for row, (text, new_tokens) in zip(rows, batch, strict=True):
                        results[row] = Generation(text, len(prompts[row]), new_tokens, share)
                    advance(len(rows))
        finally:
            self.model.train(was_training)
        return [result for result in results if result is not None]

    def _generate_batch(
        self, prompts: list[list[int]], max_new_tokens: int, stops: list[Stop | None]
    ) -> list[tuple[str, int]]:
        """(text, new tokens) per prompt: the KV-cache greedy loop on one left-padded batch."""
        width = max(len(p) for p in prompts)
        pad = int(self.tokenizer.pad_token_id)
        input_ids = torch.full((len(prompts), width), pad, dtype=torch.long)
        mask = torch.zeros((len(prompts), width), dtype=torch.long)
        for row, prompt in enumerate(prompts):
            if prompt:
                input_ids[row, width - len(prompt) :] = torch.tensor(prompt, dtype=torch.long)
                mask[row, width - len(prompt) :] = 1
        input_ids, mask = input_ids.to(self.device), mask.to(self.device)
        positions = (mask.cumsum(-1) - 1).clamp(min=0)
        new: list[list[int]] = [[] for _ in prompts]
        texts: list[str | None] = [None] * len(prompts)
        counts = [0] * len(prompts)
        done = [False] * len(prompts)
        extra = {"logits_to_keep": 1} if self._takes("logits_to_keep") else {}
        # transformers 5.x renamed `past_key_values` to `cache` (the old name warns)
        cache_name = "cache" if self._takes("cache") else "past_key_values"
        step_ids, cache = input_ids, None
        for _ in range(max_new_tokens):
            with self._autocast():
                out = self.model(
                    input_ids=step_ids, attention_mask=mask, position_ids=positions,
                    use_cache=True, **{cache_name: cache}, **extra,
                )  # fmt: skip
            cache = getattr(out, cache_name)
            chosen = out.logits[:, -1, :].float().argmax(dim=-1).tolist()
            for row, token in enumerate(chosen):
                if done[row]:
                    continue
                counts[row] += 1
                if token in self.eos_ids:
                    done[row] = True
                    continue
                new[row].append(token)
                stop = stops[row]
                if stop is not None:
                    text = self._continuation(prompts[row], new[row])
                    end = stop(text)
                    if end is not None:
                        texts[row], done[row] = text[:end], True
            if all(done):
                break
            step_ids = torch.tensor(
                [[pad if done[row] else token] for row, token in enumerate(chosen)],
                dtype=torch.long,
                device=self.device,
            )
            mask = torch.cat([mask, mask.new_ones((len(prompts), 1))], dim=1)
            positions = positions[:, -1:] + 1
        return [
            (text if text is not None else self._continuation(prompt, ids), count)
            for text, prompt, ids, count in zip(texts, prompts, new, counts, strict=True)
        ]

    def _continuation(self, prompt: list[int], ids: list[int]) -> str:
        """The text of `ids` as it reads after `prompt`."""
        if not ids:
            return ""
        tail = prompt[-_DECODE_TAIL:]
        head = self._decode(tail) if tail else ""
        full = self._decode([*tail, *ids])
        return full[len(head) :] if full.startswith(head) else self._decode(ids)

    def _decode(self, ids: list[int]) -> str:
        return str(
            self.tokenizer.decode(ids, skip_special_tokens=True, clean_up_tokenization_spaces=False)
        )

    def _takes(self, parameter: str) -> bool:
        """Whether the model's forward takes `parameter`."""
        base = self.model.get_base_model() if hasattr(self.model, "get_base_model") else self.model
        return parameter in inspect.signature(base.forward).parameters

    def _autocast(self) -> contextlib.AbstractContextManager[Any]:
        if self.dtype == "float32" or self.device.type == "cuda":
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=DTYPES[self.dtype])


def build_causal_lm(
    reference: str, options: EncoderOptions, *, name: str | None = None, **kwargs: Any
) -> CausalLM:
    """A `CausalLM` from a hub id or a local folder (the target of ``hf:`` for completion)."""
    if not reference or not reference.strip():
        raise HarnessError("hf: needs a hub id or a path, e.g. hf:Qwen/Qwen2.5-Coder-1.5B")
    return CausalLM(reference, options, name=name, **kwargs)


def build_hf_causal_lm(argument: str | None, options: EncoderOptions) -> CausalLM:
    """``hf:<id-or-path>`` when the task is a completion task."""
    return build_causal_lm(argument or "", options, name=f"hf:{argument}")


def build_qwen_coder(argument: str | None, options: EncoderOptions) -> CausalLM:
    """``qwen-coder``: Qwen/Qwen2.5-Coder-1.5B, Code2LoRA's base model."""
    return build_causal_lm(QWEN_CODER_ID, options, name="qwen-coder")


def _per_prefix(stop: Stop | Sequence[Stop] | None, count: int) -> list[Stop | None]:
    if stop is None or callable(stop):
        return [stop] * count
    stops = list(stop)
    if len(stops) != count:
        raise HarnessError(f"{len(stops)} stop rules for {count} prefixes: give one, or one each")
    return list(stops)


def _ensure_pad_token(tokenizer: Any) -> str | None:
    """A padding token for left padding (the end token when there is none); says which."""
    if tokenizer.pad_token is not None:
        return None
    for candidate in (tokenizer.eos_token, tokenizer.unk_token, tokenizer.bos_token):
        if candidate is not None:
            tokenizer.pad_token = candidate
            return str(candidate)
    raise HarnessError("the tokenizer has no padding token and no end, unknown or start token")


def _eos_ids(tokenizer: Any, model: Any) -> frozenset[int]:
    """Token ids that end a sequence: the tokenizer's, the generation config's, the config's."""
    found: set[int] = set()
    generation = getattr(model, "generation_config", None)
    for value in (
        tokenizer.eos_token_id,
        getattr(generation, "eos_token_id", None),
        getattr(model.config, "eos_token_id", None),
    ):
        if isinstance(value, int):
            found.add(value)
        elif isinstance(value, (list, tuple)):
            found.update(v for v in value if isinstance(v, int))
    return frozenset(found)


def _bos_prefix(tokenizer: Any) -> list[int]:
    """``[bos]`` when the tokenizer puts a start token in front of every text, else ``[]``."""
    bos = tokenizer.bos_token_id
    if bos is None:
        return []
    plain = tokenizer("a", add_special_tokens=False)["input_ids"]
    marked = tokenizer("a")["input_ids"]
    return [bos] if marked[:1] == [bos] and marked[1 : 1 + len(plain)] == plain else []
