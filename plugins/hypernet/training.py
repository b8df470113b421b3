"""End-to-end training of a hypernetwork through a frozen causal LM, resumable.

Each step draws a batch of training examples (by default repositories
uniformly, then one of each one's examples, so a large repository does not
drown the others), asks the network for each example's adapter from its
repository's input (Static: the snapshot vector; Evo: the GRU state after the
commits that came before the example), and takes the loss on the completion
target tokens (`adapters.completion_loss`) of the frozen LM with those
adapters. Only the network learns.

Checkpoints are safetensors only (no pickle): the network, the optimizer
moments, the torch random state, and a JSON with the step and the losses.
The batch order is drawn up front from the seed, so a training that was
killed resumes from its last checkpoint and ends where an uninterrupted one
ends.

Under torchrun the network trains in DistributedDataParallel: every rank draws
the same batches, takes a contiguous share of each one, and the loss is the
whole batch's mean over target tokens (`adapters.ddp.batch_mean`), so the step is
the single-process step up to rounding; rank 0 writes the checkpoints.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from harness.data import CompletionExample
from harness.errors import HarnessError
from harness.plugins.adapters.checkpoint import load_checkpoint, save_checkpoint
from harness.plugins.adapters.report import TrainReport
from harness.plugins.hypernet.functional import AdaptedModel
from harness.plugins.hypernet.network import HyperNetwork
from harness.plugins.hypernet.settings import HypernetSettings
from harness.progress import progress_bar


@dataclass
class RepositoryInputs:
    """What the network reads per repository: a snapshot vector and, for Evo, the vectors
    of its commits' diffs in order (row k: commit k)."""

    snapshots: dict[str, torch.Tensor]
    diffs: dict[str, torch.Tensor] = field(default_factory=dict)


Condition = tuple[str, int]  # (repository, commits applied: 0 = the snapshot itself)


def network_inputs(
    network: HyperNetwork,
    inputs: RepositoryInputs,
    conditions: Sequence[Condition],
    *,
    constant: bool = False,
) -> torch.Tensor:
    """The rows the network turns into adapters, one per condition (differentiable).

    Static: the repository's snapshot vector. Evo: ``h_0`` from the snapshot, then one
    GRU step per diff, as many as the condition says. `constant` replaces every
    snapshot by zeros and takes no step (zero diffs would still move the state, once per
    commit): the ablation whose adapters cannot depend on the input, commits included.
    """
    device = network.input_mean.device
    snapshots = torch.stack([inputs.snapshots[repo] for repo, _ in conditions]).to(device)
    if constant:
        snapshots = torch.zeros_like(snapshots)
    if not network.architecture.evo:
        return snapshots
    states = network.initial_state(snapshots)
    most = max(steps for _, steps in conditions)
    if most == 0 or constant:  # blind: not even the number of commits may reach the state
        return states
    width = network.architecture.diff_dim
    rows = []
    for repo, steps in conditions:
        diffs = inputs.diffs.get(repo, torch.zeros(0, width))
        if steps > len(diffs):
            raise HarnessError(f"{repo}: {steps} commits asked for, {len(diffs)} known")
        padded = torch.zeros(most, width)
        padded[:steps] = diffs[:steps]
        rows.append(padded)
    sequence = torch.stack(rows).to(device)
    wanted = torch.tensor([steps for _, steps in conditions], device=device)
    for t in range(most):
        stepped = network.step(states, sequence[:, t])
        states = torch.where((wanted > t)[:, None], stepped, states)
    return states


def batch_schedule(conditions: Sequence[Condition], settings: HypernetSettings) -> list[np.ndarray]:
    """Item indices of every step's batch, drawn from the seed.

    Balanced: each row draws a repository uniformly, then one of its items;
    otherwise the items in seeded random order, epoch after epoch.
    """
    if not conditions:
        raise HarnessError("the hypernetwork has no training examples")
    rng = np.random.default_rng(settings.seed)
    if settings.balanced:
        by_repo: dict[str, list[int]] = {}
        for i, (repo, _) in enumerate(conditions):
            by_repo.setdefault(repo, []).append(i)
        groups = [np.asarray(by_repo[r]) for r in sorted(by_repo)]
        batches = []
        for _ in range(settings.steps):
            chosen = rng.integers(0, len(groups), size=settings.batch_size)
            batches.append(np.array([groups[g][rng.integers(0, len(groups[g]))] for g in chosen]))
        return batches
    order = np.concatenate(
        [rng.permutation(len(conditions)) for _ in range(math.ceil(
            settings.steps * settings.batch_size / len(conditions)) + 1)]
    )  # fmt: skip
    size = settings.batch_size
    return [order[s * size : (s + 1) * size] for s in range(settings.steps)]


def _lr_factor(settings: HypernetSettings, step: int) -> float:
    if settings.warmup_steps and step < settings.warmup_steps:
        return (step + 1) / settings.warmup_steps
    return max(0.0, (settings.steps - step) / max(1, settings.steps - settings.warmup_steps))


def autocast_precision(settings: HypernetSettings, device: torch.device) -> str:
    """bf16 on cuda, fp32 elsewhere, unless the settings name one."""
    if settings.precision == "auto":
        return "bf16" if device.type == "cuda" else "fp32"
    return settings.precision


def train_hypernetwork(
    lm: Any,
    network: HyperNetwork,
    examples: Sequence[CompletionExample],
    conditions: Sequence[Condition],
    inputs: RepositoryInputs,
    settings: HypernetSettings,
    workdir: Path,
    *,
    description: str = "training hypernetwork",
    on_step: Callable[[int], None] | None = None,
) -> TrainReport:
    """Train `network` (in place) so that its adapters complete `examples` through `lm`."""
    from harness import distributed
    from harness.plugins.adapters import ddp
    from harness.plugins.adapters.completion_loss import completion_batch

    batches = batch_schedule(conditions, settings)
    device = lm.device
    precision = autocast_precision(settings, device)
    for parameter in lm.model.parameters():
        parameter.requires_grad_(False)
    network.to(device)
    wrapped = AdaptedModel(lm.model, network.targets)
    parameters = [p for p in network.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(parameters, lr=settings.lr, weight_decay=settings.weight_decay)
    checkpoint = Path(workdir) / "checkpoint"
    start, seconds = 0, 0.0
    losses: list[float] = []
    torch.manual_seed(settings.seed)  # dropout's masks from the seed (a checkpoint restores them)
    resumed = load_checkpoint(checkpoint)
    if resumed is not None:
        network.load_state_dict(load_file(str(checkpoint / "network.safetensors")))
        optimizer.load_state_dict(resumed.optimizer)
        torch.set_rng_state(resumed.rng)
        start, losses, seconds = resumed.step, resumed.losses, resumed.seconds
    constant = settings.condition == "constant"
    ddp.check_batch(settings.batch_size, description)
    # DDP wraps the whole step's forward: a batch without commits leaves the GRU unused
    step_model = ddp.wrap(_Step(network, wrapped, inputs, constant, device, precision),
                          find_unused_parameters=True)  # fmt: skip
    network.train()
    lm.model.eval()
    began = time.perf_counter() - seconds
    with progress_bar(description, total=len(batches), unit="steps") as advance:
        advance(start)
        for step in range(start, len(batches)):
            rows = batches[step]
            for group in optimizer.param_groups:  # linear warmup, then linear decay to 0
                group["lr"] = settings.lr * _lr_factor(settings, step)
            mine = ddp.my_share(list(rows))  # the whole batch in one process
            batch = completion_batch(lm, [examples[i] for i in mine], settings.max_length)
            total, count = step_model([conditions[i] for i in mine], batch)
            loss = ddp.batch_mean(total, count)
            value = float(loss.detach())
            if not math.isfinite(value):
                raise HarnessError(f"{description}: the loss became {value} at step {step + 1}")
            loss.backward()
            torch.nn.utils.clip_grad_norm_(parameters, settings.clip_norm)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            wrapped.adapter = None
            losses.append(value)
            done = step + 1
            advance(1, loss=f"{losses[-1]:.3f}")
            due = done % settings.checkpoint_every == 0 or done == len(batches)
            if due and distributed.is_main():  # under torchrun rank 0 keeps the checkpoint
                elapsed = time.perf_counter() - began
                progress = {"step": done, "losses": losses, "seconds": elapsed}
                _save_checkpoint(checkpoint, network, optimizer, progress)
            if on_step is not None:
                on_step(done)
    network.eval()
    return TrainReport(
        steps=len(batches),
        seconds=time.perf_counter() - began,
        examples=len(batches) * settings.batch_size,
        trainable=sum(p.numel() for p in parameters),
        repositories=len({repo for repo, _ in conditions}),
        losses=losses,
        resumed_from=start,
    )


class _Step(torch.nn.Module):
    """One training forward: the network's adapters for some examples, then the summed
    target-token loss of the frozen LM with them (a module, so DDP can wrap it)."""

    def __init__(
        self, network: HyperNetwork, wrapped: AdaptedModel, inputs: RepositoryInputs,
        constant: bool, device: torch.device, precision: str,
    ) -> None:  # fmt: skip
        super().__init__()
        self.network = network
        # the frozen LM is not a submodule: DDP would broadcast all of its weights
        object.__setattr__(self, "wrapped", wrapped)
        self.inputs, self.constant = inputs, constant
        self.device, self.precision = device, precision

    def forward(
        self, conditions: Sequence[Condition], batch: dict[str, torch.Tensor]
    ) -> tuple[torch.Tensor, int]:
        from harness.plugins.adapters.completion_loss import target_loss_sum

        wrapped: AdaptedModel = self.__dict__["wrapped"]
        x = network_inputs(self.network, self.inputs, conditions, constant=self.constant)
        wrapped.adapter = self.network(x)
        return target_loss_sum(wrapped, batch, self.device, self.precision)


def _save_checkpoint(
    folder: Path, network: HyperNetwork, optimizer: torch.optim.Optimizer, progress: dict[str, Any]
) -> None:
    weights = state_tensors(network)
    save_checkpoint(folder, lambda to: save_file(weights, str(to / "network.safetensors")),
                    optimizer.state_dict(), progress)  # fmt: skip


def state_tensors(network: HyperNetwork) -> dict[str, torch.Tensor]:
    return {k: v.detach().cpu().contiguous() for k, v in network.state_dict().items()}
