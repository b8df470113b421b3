"""What a LoRA strategy would train for a dataset, without training or importing torch.

`planned_adapters` serves ``harness run --dry-run``: each adapter's cache key,
whether the cache already holds it, the steps training it takes (the count
`trainer.batch_schedule` gives) and the steps an interrupted training has
already checkpointed.
"""

from __future__ import annotations

import json
from typing import Any

from harness.plugins.lora.config import LoraSettings
from harness.strategy import PlannedAdapter


def planned_steps(n_items: int, settings: LoraSettings) -> int:
    """Optimizer steps over `n_items` training items; 0 when they fill no batch.

    >>> planned_steps(4000, LoraSettings(batch_size=32, max_steps=60))
    60
    >>> planned_steps(100, LoraSettings(batch_size=32, max_steps=0, epochs=2))
    6
    """
    if n_items < settings.batch_size:
        return 0
    batches = settings.epochs * (n_items // settings.batch_size)
    steps = batches // settings.grad_accum
    return min(steps, settings.max_steps) if settings.max_steps else steps


def _n_items(strategy: Any, dataset: Any, adapter: str) -> int:
    """How many items train `adapter`: balanced taskwise sampling repeats the smaller
    partitions up to the largest one (strategies._balanced)."""
    if getattr(strategy, "kind", "retrieval") == "completion":
        return len(strategy._completion_items(dataset, adapter, check=False))
    sizes = [
        len(part.train)
        for name, part in dataset.partitions.items()
        if strategy.adapter_of(name) == adapter and part.train
    ]
    if strategy.settings.balanced and len(sizes) > 1:
        return max(sizes) * len(sizes)
    return sum(sizes)


def planned_adapters(strategy: Any, dataset: Any) -> list[PlannedAdapter]:
    """One entry per adapter the strategy would use; none when ``--adapter`` gives them."""
    from harness.plugins.lora.store import AdapterStore

    if strategy.adapter_option:
        return []
    config = strategy.config(dataset)
    store = AdapterStore(strategy.context.cache_dir)
    planned = []
    for adapter, key in sorted(config.get("adapter_keys", {}).items()):
        state = store.workdir(key) / "checkpoint" / "state.json"
        done = int(json.loads(state.read_text()).get("step", 0)) if state.exists() else 0
        planned.append(
            PlannedAdapter(
                name=adapter,
                key=key,
                cached=store.get(key) is not None,
                steps=planned_steps(_n_items(strategy, dataset, adapter), strategy.settings),
                steps_done=done,
            )
        )
    return planned
