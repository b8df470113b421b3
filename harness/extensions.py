"""What a plugin declares besides its factories, typed, so the core never names a plugin.

- `RunFlag`: a flag of ``harness run`` (hook ``harness_register_run_flags``);
  its value is the ``--set`` option of the same name in its section, so
  ``--preset quick`` and ``--set strategy.preset=quick`` are one setting.
- `ModelKind`: what a task kind needs of ``--model`` (registration key
  ``model_kind`` of a task kind); an encoder says which kind it is with ``kind``.
- Strategy registration keys read by the core: ``cost_kinds`` (one-off costs
  a model view's ``info`` may hold under their own key, see harness.cost),
  ``cost_baseline`` (rank as the cost view's default baseline; lowest first)
  and ``settings_alias`` (another name for the ``strategy`` section of
  ``--set`` and ``[set.*]``).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class RunFlag:
    """A ``harness run`` flag a plugin adds.

    >>> RunFlag("strategy", sweep=True).setting("preset")  # --preset quick,paper: two cells
    'strategy.preset'
    >>> RunFlag("encoder", option="dim").setting("bow-dim")
    'encoder.dim'
    """

    section: str = "strategy"
    metavar: str | None = None
    sweep: bool = False
    """A comma list gives one matrix cell per value."""
    option: str | None = None
    """The option of `section` it sets (default: the flag's name, ``-`` as ``_``)."""
    type: Callable[[str], Any] = str
    """Converts one value as typed (``int``); a ValueError is a usage error."""

    def parse(self, text: str) -> Any:
        """The flag's value as typed on the command line (or in a config file): with
        `sweep`, a comma list is a list of values (one matrix cell each).

        >>> RunFlag("encoder", sweep=True, type=int).parse("512,1024")
        [512, 1024]
        """
        items = [item.strip() for item in text.split(",")] if self.sweep else [text]
        try:
            values = [self.type(item) for item in items if item]
        except ValueError as exc:
            raise argparse.ArgumentTypeError(f"{text!r}: {exc}") from None
        if not values:
            raise argparse.ArgumentTypeError("expected a value or a comma list of values")
        return values if len(values) > 1 else values[0]

    def setting(self, name: str) -> str:
        """The ``--set`` key flag `name` sets: ``strategy.preset`` for ``--preset``."""
        return f"{self.section}.{self.option or name.replace('-', '_')}"


@dataclass(frozen=True)
class ModelKind:
    """The kind of model a task kind scores, as an error message names it."""

    name: str  # the ``kind`` an encoder registers with
    label: str  # "a causal LM"
    default_dtype: str = "float32"
    """What ``--dtype auto`` resolves to: ``auto``, the model picks by device; ``native``,
    bfloat16 where the device computes it natively (`harness.hardware.auto_dtype`), else
    float32; or a dtype."""
