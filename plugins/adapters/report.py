"""What a training measured: kept in the artifact's meta and in the run's model info."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class TrainReport:
    steps: int
    seconds: float
    examples: int  # examples seen, repeats counted
    trainable: int  # parameters that learned (a LoRA's, a hypernetwork's)
    total: int = 0  # parameters of the adapted model with the adapter (0: not counted)
    repositories: int = 0  # repositories trained on (0: not counted)
    losses: list[float] = field(default_factory=list)
    resumed_from: int = 0  # the checkpoint's step a killed training resumed from

    @property
    def trainable_share(self) -> float:
        return self.trainable / self.total if self.total else 0.0

    def summary(self) -> dict[str, Any]:
        """The JSON record of the training (a strategy adds its own counts to it)."""
        return {
            "steps": self.steps,
            "seconds": round(self.seconds, 2),
            "examples": self.examples,
            "first_loss": self.losses[0] if self.losses else None,
            "last_loss": self.losses[-1] if self.losses else None,
            "resumed_from": self.resumed_from,
            "loss_curve": loss_curve(self.losses),
        }

    def line(self) -> str:
        """One line for the console: steps, time, the loss's first and last value."""
        losses = f"loss {self.losses[0]:.3f} -> {self.losses[-1]:.3f}" if self.losses else ""
        return f"{self.steps} steps in {self.seconds:.0f} s, {losses}"


def loss_curve(losses: list[float], points: int = 200) -> list[list[float]]:
    """``[[step, loss], ...]``: every step's loss, or up to `points` means of consecutive
    steps (each at its last step) when there are more; what the report plots.

    >>> loss_curve([4.0, 2.0, 3.0, 1.0], points=2)
    [[2, 3.0], [4, 2.0]]
    """
    size = max(1, -(-len(losses) // points))
    return [
        [min(start + size, len(losses)), round(sum(chunk) / len(chunk), 5)]
        for start in range(0, len(losses), size)
        if (chunk := losses[start : start + size])
    ]
