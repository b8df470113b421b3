"""The hypernetwork: a repository vector in, a LoRA adapter for every target module out.

Text-to-LoRA's shape (Charakorn et al., 2025): a trunk MLP turns the input into
a hidden vector; one linear head per module kind (``*.attn.c_attn``,
``*.self_attn.q_proj``, ...) emits that kind's ``A`` and ``B``. With layer
embeddings (``layer_dim > 0``) the head also sees a learned embedding of the
layer, so each layer gets its own adapter from one head; without them, every
layer of a kind shares one adapter. Outputs are bounded, ``A = s_A tanh(.)``
and ``B = s_B tanh(.)`` with learned scales; the B heads start at zero (LoRA's
``B = 0``), so training starts from the frozen model exactly.

For Code2LoRA's Evo the input is a state: ``h_0 = tanh(W e_snapshot)``, then
one GRU step per commit, ``h_t = GRU(d_t, h_{t-1})`` on the diff's vector.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import nn

from harness.plugins.hypernet.functional import Adapters, TargetModule


@dataclass(frozen=True)
class Architecture:
    """Everything that shapes the network (saved beside its weights)."""

    input_dim: int
    kinds: tuple[tuple[str, int, int], ...]  # (kind, in, out), in model order
    n_layers: int
    rank: int
    alpha: float
    hidden: int = 256
    layer_dim: int = 32
    dropout: float = 0.0
    evo: bool = False
    diff_dim: int = 0
    state_dim: int = 256
    b_scale: float = 0.1

    def as_dict(self) -> dict[str, object]:
        values = asdict(self)
        values["kinds"] = [list(k) for k in self.kinds]
        return values

    @classmethod
    def from_dict(cls, values: dict[str, object]) -> Architecture:
        data: dict[str, Any] = dict(values)
        data["kinds"] = tuple(tuple(k) for k in data["kinds"])
        return cls(**data)


def architecture_for(
    targets: Sequence[TargetModule], input_dim: int, rank: int, alpha: float, **options: object
) -> Architecture:
    kinds: dict[str, tuple[int, int]] = {}
    for target in targets:
        kinds.setdefault(target.kind, (target.in_features, target.out_features))
    layers = max(t.layer for t in targets) + 1
    listed = tuple((kind, i, o) for kind, (i, o) in kinds.items())
    return Architecture(input_dim, listed, layers, rank, alpha, **options)  # type: ignore[arg-type]


class HyperNetwork(nn.Module):
    """``forward(inputs (n, input_dim)) -> Adapters`` with n adapters for `targets`."""

    def __init__(self, architecture: Architecture, targets: Sequence[TargetModule]) -> None:
        super().__init__()
        arch = self.architecture = architecture
        self.targets = list(targets)
        width = arch.state_dim if arch.evo else arch.input_dim
        self.trunk = nn.Sequential(
            nn.LayerNorm(width),
            nn.Linear(width, arch.hidden),
            nn.GELU(),
            nn.Dropout(arch.dropout),
            nn.Linear(arch.hidden, arch.hidden),
            nn.GELU(),
        )
        self.layer_embedding = (
            nn.Embedding(arch.n_layers, arch.layer_dim) if arch.layer_dim > 0 else None
        )
        head_in = arch.hidden + max(arch.layer_dim, 0)
        self.heads_a = nn.ModuleList(nn.Linear(head_in, arch.rank * i) for _, i, _ in arch.kinds)
        heads_b = [nn.Linear(head_in, o * arch.rank) for _, _, o in arch.kinds]
        for head in heads_b:  # B = 0 at the start, as in LoRA: the frozen model exactly
            nn.init.zeros_(head.weight)
            nn.init.zeros_(head.bias)
        self.heads_b = nn.ModuleList(heads_b)
        self.a_scale = nn.Parameter(torch.tensor([1.0 / math.sqrt(i) for _, i, _ in arch.kinds]))
        self.b_scale = nn.Parameter(torch.full((len(arch.kinds),), float(arch.b_scale)))
        self.initial: nn.Linear | None = None
        self.cell: nn.GRUCell | None = None
        if arch.evo:
            self.initial = nn.Linear(arch.input_dim, arch.state_dim)
            self.cell = nn.GRUCell(arch.diff_dim, arch.state_dim)
        self.kind_index = {kind: k for k, (kind, _, _) in enumerate(arch.kinds)}
        # the training repositories' mean vector and spread: inputs are standardised, so the
        # trunk sees what tells repositories apart rather than what they all share
        self.input_mean: torch.Tensor
        self.input_scale: torch.Tensor
        self.register_buffer("input_mean", torch.zeros(arch.input_dim))
        self.register_buffer("input_scale", torch.ones(()))

    def set_input_statistics(self, vectors: torch.Tensor) -> None:
        """Centre and scale inputs by the statistics of `vectors` (n, input_dim)."""
        mean = vectors.float().mean(dim=0)
        spread = (vectors.float() - mean).norm(dim=1).mean().clamp(min=1e-6)
        self.input_mean.copy_(mean)
        self.input_scale.copy_(spread / math.sqrt(vectors.shape[1]))

    def standardise(self, vectors: torch.Tensor) -> torch.Tensor:
        return (vectors - self.input_mean) / self.input_scale

    def initial_state(self, snapshot: torch.Tensor) -> torch.Tensor:
        """Evo: ``h_0`` from the snapshot vectors (n, input_dim)."""
        assert self.initial is not None, "not an Evo network"
        return torch.tanh(self.initial(self.standardise(snapshot)))

    def step(self, state: torch.Tensor, diff: torch.Tensor) -> torch.Tensor:
        """Evo: the state after one commit whose diff vector is `diff` (n, diff_dim)."""
        assert self.cell is not None, "not an Evo network"
        return self.cell(diff, state)

    def forward(self, inputs: torch.Tensor) -> Adapters:
        arch = self.architecture
        n = inputs.shape[0]
        hidden = self.trunk(inputs if arch.evo else self.standardise(inputs))
        layers = arch.n_layers if self.layer_embedding is not None else 1
        expanded = hidden[:, None, :].expand(n, layers, arch.hidden)
        if self.layer_embedding is not None:
            codes = self.layer_embedding.weight[None].expand(n, layers, arch.layer_dim)
            expanded = torch.cat([expanded, codes], dim=-1)
        per_kind = {}
        for k, (kind, width_in, width_out) in enumerate(arch.kinds):
            a = torch.tanh(self.heads_a[k](expanded)) * self.a_scale[k]
            b = torch.tanh(self.heads_b[k](expanded)) * self.b_scale[k]
            a = a.reshape(n, layers, arch.rank, width_in)
            b = b.reshape(n, layers, width_out, arch.rank)
            per_kind[kind] = (a, b)
        factors = {}
        for target in self.targets:
            a, b = per_kind[target.kind]
            layer = target.layer if self.layer_embedding is not None else 0
            factors[target.path] = (a[:, layer], b[:, layer])
        return Adapters(factors, arch.alpha / arch.rank)
