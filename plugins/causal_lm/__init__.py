"""Plugin: causal language models for repository-level completion, and ``harness pretrain``.

``qwen-coder`` (Qwen/Qwen2.5-Coder-1.5B, Code2LoRA's base), ``tiny-code-lm``
(a 5M-parameter Qwen2 pretrained on this machine's non-test Python sources,
see `tiny`) and ``hf:<id-or-path>`` for tasks that need a causal LM (the
encoders plugin's ``hf:`` is the embedding encoder of the same name). `model`
holds `CausalLM` (batched greedy decoding over the KV cache); the stop rule
for assertion completion is the task kind's (`harness.plugins.completion_stopping`).
Registering imports no torch: targets are lazy strings.
"""

from __future__ import annotations

from typing import Any

from harness.hookspecs import hookimpl
from harness.options import Option

_MODEL = "harness.plugins.causal_lm.model"
_TINY = "harness.plugins.causal_lm.tiny"

# what `--set encoder.*` accepts (harness.options)
HUB_OPTIONS = (
    Option("revision", None, "the hub revision (branch, tag or commit) to load"),
    Option("cache_dir", None, "where the hub download is cached", affects_results=False),
)
TINY_OPTIONS = (
    Option("path", None, "a pretrained copy to load instead of the cached one"),
    Option("preset", None, "pretraining preset: default (~10 min on 2 cores) or long"),
    Option("steps", None, "pretraining steps (default: the preset's)"),
    Option("seq_len", None, "pretraining sequence length"),
    Option("pretrain_batch_size", None, "pretraining batch size"),
    Option("pretrain_seed", None, "pretraining seed"),
    Option("pretrain_precision", None, "pretraining precision: auto, bf16 or fp32"),
    Option("corpus", None, "source folders to pretrain on"),
)


@hookimpl
def harness_register_encoders(register: Any) -> None:
    register(
        "qwen-coder",
        f"{_MODEL}:build_qwen_coder",
        "Qwen/Qwen2.5-Coder-1.5B causal LM (Code2LoRA's base), greedy completion",
        kind="causal-lm",
        hub_id="Qwen/Qwen2.5-Coder-1.5B",
        options=HUB_OPTIONS,
    )
    register(
        "hf:",
        f"{_MODEL}:build_hf_causal_lm",
        "any Hugging Face causal LM by hub id or local path: hf:<id-or-path>",
        kind="causal-lm",
        options=HUB_OPTIONS,
    )
    register(
        "tiny-code-lm",
        f"{_TINY}:build_tiny_code_lm",
        "a 5M-parameter Qwen2 causal LM pretrained here on local non-test Python "
        "(harness pretrain; trained on first use)",
        kind="causal-lm",
        options=TINY_OPTIONS,
        fingerprint=f"{_TINY}:fingerprint",
    )


@hookimpl
def harness_register_commands(cli: Any) -> None:
    from harness.plugins.causal_lm.commands import add_pretrain_command

    add_pretrain_command(cli)
