"""The options a plugin accepts through ``--set SECTION.NAME=VALUE``, declared once.

A plugin lists its options when it registers: ``register(name, target, description,
options=[Option("dim", 256, "buckets")])`` (or ``options="module:ATTRIBUTE"``, a lazy
reference to such a list, imported only when a run uses the plugin). The declaration
decides three things, so they cannot drift apart:

- which keys a run accepts for that plugin's section (``encoder``, ``strategy``,
  ``dataset``, ``task``): any other key is refused with a suggestion;
- which given values are part of a result's identity: every option is, unless it
  is declared ``affects_results=False`` (a batch size, a progress switch, a chunk
  size: settings that change how fast a number is computed, never the number);
- what ``harness list --options`` shows.

>>> [o.name for o in neutral(options_of([Option("r", 16), Option("batch_size", 32,
...     affects_results=False)]))]
['batch_size']
"""

from __future__ import annotations

import difflib
import importlib
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, fields, is_dataclass
from typing import Any

from harness.errors import HarnessError

SECTIONS = ("dataset", "encoder", "strategy", "task")
"""The sections of ``--set``; each belongs to the plugin the run names for it."""


@dataclass(frozen=True)
class Option:
    """One option of a plugin: its name, default, a one-line help, and whether a change
    of its value can change a result (``affects_results``)."""

    name: str
    default: Any = None
    help: str = ""
    affects_results: bool = True


def options_of(declared: Any) -> tuple[Option, ...]:
    """The options an entry's ``options`` meta declares: a sequence of `Option` (or of bare
    names, each an option that affects results), or a ``module:attr`` reference to one."""
    if declared is None:
        return ()
    if isinstance(declared, str):
        module, _, attribute = declared.partition(":")
        declared = getattr(importlib.import_module(module), attribute)
    found = tuple(Option(o) if isinstance(o, str) else o for o in declared)
    for option in found:
        if not isinstance(option, Option):
            raise HarnessError(f"an options declaration holds {option!r}, not an Option")
    return found


def from_dataclass(
    cls: Any, *, neutral_names: Iterable[str] = (), helps: Mapping[str, str] | None = None
) -> tuple[Option, ...]:
    """One Option per field of a settings dataclass (its defaults), `neutral_names` declared
    as not affecting results."""
    if not is_dataclass(cls):
        raise TypeError(f"{cls!r} is not a dataclass")
    quiet, helps = set(neutral_names), dict(helps or {})
    instance = cls() if isinstance(cls, type) else cls
    return tuple(
        Option(f.name, getattr(instance, f.name), helps.get(f.name, ""), f.name not in quiet)
        for f in fields(instance)
    )


def neutral(options: Sequence[Option]) -> tuple[Option, ...]:
    """The options declared not to affect results."""
    return tuple(o for o in options if not o.affects_results)


def check_keys(
    section: str, owner: str, given: Mapping[str, Any], options: Sequence[Option]
) -> None:
    """Refuse a key `owner` does not declare (a plugin that declares no options at all is
    not asked: the caller passes only declared lists, an empty one refusing every key)."""
    known = [o.name for o in options]
    for key in given:
        if key in known:
            continue
        close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
        hint = f"; did you mean {section}.{close[0]}?" if close else ""
        listed = ", ".join(sorted(known)) or "none"
        raise HarnessError(
            f"--set {section}.{key}: {owner} has no option {key!r}{hint} (known: {listed})"
        )


def identity_settings(
    settings: Mapping[str, Mapping[str, Any]], owners: Mapping[str, Sequence[Option]]
) -> dict[str, dict[str, Any]]:
    """The given settings that can change a result: each section's keys minus the options
    its owner declares neutral (an undeclared key stays: it may change anything)."""
    out: dict[str, dict[str, Any]] = {}
    for section, values in settings.items():
        quiet = {o.name for o in neutral(owners.get(section, ()))}
        kept = {k: v for k, v in values.items() if k not in quiet}
        if kept:
            out[section] = kept
    return out


def check_finite(section: str, key: str, value: Any) -> None:
    """Refuse a value that is, or reads as, a non-finite number (``nan``, ``inf``): no
    option of any plugin means such a value, and one that reached training would train,
    cache and list an adapter full of NaN."""
    items = value if isinstance(value, list | tuple) else [value]
    for item in items:
        number = item
        if isinstance(item, str):
            try:
                number = float(item)
            except ValueError:
                continue
        if isinstance(number, float) and not math.isfinite(number):
            raise HarnessError(f"--set {section}.{key}: {item!r} is not a finite number")
