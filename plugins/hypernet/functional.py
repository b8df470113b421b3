"""Generated LoRA adapters applied to a frozen model functionally, and exported for PEFT.

An adapter is a pair of factors per adapted module, ``A`` (rank x in) and
``B`` (out x rank), each with a leading batch axis: one adapter for every
row of a batch, or a batch axis of 1 shared by all rows. While
`AdaptedModel` runs, a forward hook on each target module adds
``x A^T B^T * alpha / r`` to the module's output (PEFT's LoRA forward), so a
batch can mix repositories and no weight of the base model is copied or
changed; the hooks are removed when the call returns.

>>> targets = find_targets(lm.model, ["c_attn", "c_proj", "c_fc"])  # doctest: +SKIP
>>> wrapped = AdaptedModel(lm.model, targets, scaling=2.0)  # doctest: +SKIP
>>> wrapped.adapter = generated.select(0)  # doctest: +SKIP
>>> wrapped(input_ids=ids).logits  # the base model with that adapter  # doctest: +SKIP
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from harness.errors import HarnessError

_LAYER = re.compile(r"\.(\d+)\.")

Factors = dict[str, tuple[torch.Tensor, torch.Tensor]]  # module path -> (A, B), batched


@dataclass(frozen=True)
class TargetModule:
    """One adapted module: its path, its kind (the path without the layer index), its
    layer and its input and output widths."""

    path: str
    kind: str
    layer: int
    in_features: int
    out_features: int
    conv1d: bool = False  # GPT-2's Conv1D (weight stored in x out): PEFT's fan_in_fan_out


def _widths(module: nn.Module) -> tuple[int, int] | None:
    if isinstance(module, nn.Linear):
        return module.in_features, module.out_features
    weight = getattr(module, "weight", None)
    if type(module).__name__ == "Conv1D" and weight is not None and weight.dim() == 2:
        return int(weight.shape[0]), int(weight.shape[1])  # GPT-2's Conv1D keeps (in, out)
    return None


def find_targets(model: nn.Module, leaf_names: Sequence[str]) -> list[TargetModule]:
    """The linear modules of `model` whose last name is one of `leaf_names`, in model order.

    A module's kind is its path with the layer index taken out (``h.*.attn.c_proj``
    and ``h.*.mlp.c_proj`` are two kinds), so a hypernetwork emits one head per kind.
    """
    wanted = set(leaf_names)
    targets = []
    for path, module in model.named_modules():
        if path.rsplit(".", 1)[-1] not in wanted:
            continue
        widths = _widths(module)
        if widths is None:
            continue
        match = _LAYER.search(f".{path}.")
        layer = int(match.group(1)) if match else 0
        kind = _LAYER.sub(".*.", f".{path}.", count=1).strip(".") if match else path
        conv1d = not isinstance(module, nn.Linear)
        targets.append(TargetModule(path, kind, layer, *widths, conv1d=conv1d))
    if not targets:
        raise HarnessError(f"no linear module named {', '.join(sorted(wanted))} in the model")
    return targets


@dataclass
class Adapters:
    """LoRA factors for the target modules, with a leading batch axis (n adapters)."""

    factors: Factors
    scaling: float  # alpha / r

    @property
    def count(self) -> int:
        return next(iter(self.factors.values()))[0].shape[0]

    @property
    def rank(self) -> int:
        return next(iter(self.factors.values()))[0].shape[1]

    def select(self, index: int | Sequence[int] | torch.Tensor) -> Adapters:
        """The adapters at `index` (an int keeps a batch axis of 1)."""
        if isinstance(index, int):
            index = [index]
        rows = torch.as_tensor(index, dtype=torch.long)
        picked = {
            path: (a[rows.to(a.device)], b[rows.to(b.device)])
            for path, (a, b) in self.factors.items()
        }
        return Adapters(picked, self.scaling)

    def detach(self) -> Adapters:
        return Adapters(
            {p: (a.detach(), b.detach()) for p, (a, b) in self.factors.items()}, self.scaling
        )

    def flat(self) -> torch.Tensor:
        """One row per adapter: every factor flattened and concatenated (float32)."""
        n = self.count
        return torch.cat(
            [t.reshape(n, -1).float() for a, b in self.factors.values() for t in (a, b)], dim=1
        )

    def mean_update(self) -> Adapters:
        """One adapter whose weight update is the mean of the n updates, exactly.

        ``mean_i B_i A_i = [B_1 ... B_n] / n @ [A_1; ...; A_n]``: a LoRA of rank n x r.
        """
        n = self.count
        merged = {
            path: (a.reshape(1, -1, a.shape[-1]), b.permute(1, 0, 2).reshape(1, b.shape[1], -1) / n)
            for path, (a, b) in self.factors.items()
        }
        return Adapters(merged, self.scaling)


def update_cosines(adapters: Adapters) -> torch.Tensor:
    """Pairwise cosine (n x n) of the weight updates ``B_i A_i`` over all modules.

    Computed through rank x rank Gram matrices, ``<B_i A_i, B_j A_j> = sum((B_i^T B_j) *
    (A_i A_j^T))``, so no update is ever materialised. Two zero updates (a new network's,
    whose B is 0) are identical, cosine 1; a zero and a non-zero one have cosine 0.
    """
    n = adapters.count
    inner = torch.zeros(n, n, dtype=torch.float64)
    for a, b in adapters.factors.values():
        a, b = a.double().cpu(), b.double().cpu()
        gram_b = torch.einsum("ior,jos->ijrs", b, b)
        gram_a = torch.einsum("irk,jsk->ijrs", a, a)
        inner += (gram_b * gram_a).sum(dim=(2, 3))
    squares = inner.diagonal()
    norms = squares.clamp(min=1e-30).sqrt()
    cosines = inner / norms[:, None] / norms[None, :]
    zero = squares <= 1e-30
    cosines[zero[:, None] & zero[None, :]] = 1.0
    return cosines.float()


def pairwise_cosines(rows: torch.Tensor) -> torch.Tensor:
    """Cosine similarity of every pair of rows (n x n)."""
    normed = torch.nn.functional.normalize(rows.double(), dim=1)
    return (normed @ normed.T).float()


def mean_off_diagonal(matrix: torch.Tensor) -> float | None:
    """The mean of the entries off the diagonal; None for fewer than two rows."""
    n = matrix.shape[0]
    if n < 2:
        return None
    return float((matrix.sum() - matrix.diagonal().sum()) / (n * (n - 1)))


def _lora_hook(factors: tuple[torch.Tensor, torch.Tensor], scaling: float) -> Any:
    a, b = factors

    def hook(module: nn.Module, inputs: tuple[Any, ...], output: torch.Tensor) -> torch.Tensor:
        x = inputs[0]
        # (batch, tokens, in) @ (n, in, r) @ (n, r, out); n is the batch or 1
        low = torch.matmul(x, a.transpose(-1, -2).to(x.dtype))
        delta = torch.matmul(low, b.transpose(-1, -2).to(low.dtype))
        return output + (delta * scaling).to(output.dtype)

    return hook


@contextmanager
def applied(
    model: nn.Module, targets: Sequence[TargetModule], adapters: Adapters | None
) -> Iterator[None]:
    """Within the block, `model`'s target modules add `adapters`' updates to their outputs."""
    if adapters is None:
        yield
        return
    modules = dict(model.named_modules())
    handles = []
    try:
        for target in targets:
            factors = adapters.factors.get(target.path)
            if factors is not None:
                hook = _lora_hook(factors, adapters.scaling)
                handles.append(modules[target.path].register_forward_hook(hook))
        yield
    finally:
        for handle in handles:
            handle.remove()


class AdaptedModel(nn.Module):
    """A frozen causal LM that runs with `adapter` (or none) applied through hooks.

    It stands where the LM's model stands (``CausalLM.model``): calls, ``generate``
    and attribute reads (``config``, ``device``) reach the base model.
    """

    def __init__(
        self, base: nn.Module, targets: Sequence[TargetModule], adapter: Adapters | None = None
    ) -> None:
        super().__init__()
        self.base = base
        self.targets = list(targets)
        self.adapter = adapter
        # a new Module says it is training; this one says what its base is, so that a caller
        # that puts the mode back (CausalLM.generate) never leaves the shared base training
        self.train(base.training)

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        with applied(self.base, self.targets, self.adapter):
            return self.base(*args, **kwargs)

    def generate(self, *args: Any, **kwargs: Any) -> Any:
        with applied(self.base, self.targets, self.adapter):
            base: Any = self.base
            return base.generate(*args, **kwargs)

    def get_base_model(self) -> nn.Module:
        return self.base

    def __getattr__(self, name: str) -> Any:
        try:
            return super().__getattr__(name)
        except AttributeError:
            return getattr(self.__dict__["_modules"]["base"], name)


def export_peft(
    adapter: Adapters,
    targets: Sequence[TargetModule],
    folder: Path,
    *,
    base_model: str | None,
    alpha: float,
) -> Path:
    """Write adapter 0 of `adapter` as a PEFT LoRA folder (``PeftModel.from_pretrained``).

    ``adapter_config.json`` names the adapted modules by their leaf names (every
    module with such a name is adapted, as `find_targets` chose them);
    ``adapter_model.safetensors`` holds ``base_model.model.<path>.lora_A.weight`` (r x in)
    and ``lora_B.weight`` (out x r).
    """
    from safetensors.torch import save_file

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    weights: dict[str, torch.Tensor] = {}
    for target in targets:
        a, b = adapter.factors[target.path]
        prefix = f"base_model.model.{target.path}"
        weights[f"{prefix}.lora_A.weight"] = a[0].detach().float().cpu().contiguous()
        weights[f"{prefix}.lora_B.weight"] = b[0].detach().float().cpu().contiguous()
    save_file(weights, str(folder / "adapter_model.safetensors"), metadata={"format": "pt"})
    leaves = sorted({t.path.rsplit(".", 1)[-1] for t in targets})
    config = {
        "peft_type": "LORA",
        "task_type": "CAUSAL_LM",
        "base_model_name_or_path": base_model,
        "r": adapter.rank,
        "lora_alpha": alpha,
        "lora_dropout": 0.0,
        "target_modules": leaves,
        "bias": "none",
        "fan_in_fan_out": any(t.conv1d for t in targets),
        "inference_mode": True,
    }
    (folder / "adapter_config.json").write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
    return folder
