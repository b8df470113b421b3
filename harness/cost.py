"""What a completion strategy costs: paid at every request, and paid once.

Per request, each example's row holds ``prompt_tokens`` and ``latency_s``
(generation, plus the retrieval or selection of context for `rag` and
`icl`); a result's timings hold their totals and means.

Once: artifacts made before the first request, each a :class:`OneOff` with
a kind a strategy declares (``cost_kinds`` of its registration, e.g. a
retrieval index, a trained or a generated adapter) and a key. Equal keys are one artifact,
paid once however many partitions use it: a task-wise adapter is trained
once for all repositories. A cached artifact still reports the seconds it
took to make: the cost is what serving from nothing would pay.

A model view declares its one-off costs in ``info["one_off"]``, a list of
``{"what", "key", "seconds"}``; a kind a loaded strategy declares is read
from ``info[kind]`` too (``{"seconds", "key"}``, the key defaulting to
``info["adapter"]``), as older views and results hold them.

Break-even (docs/cost.md): a strategy S with one-off cost O_S seconds and
latency L_S seconds per request against a baseline B (O_B, L_B) costs
``O_S + n L_S`` for n requests; the two totals are equal at

    n* = (O_S - O_B) / (L_B - L_S)

S's one-off cost is repaid after ``ceil(n*)`` requests when L_S < L_B (0
when O_S <= O_B: S is cheaper from the first request); when L_S >= L_B it
is never repaid (None).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any


def declared_kinds() -> set[str]:
    """The one-off cost kinds the loaded strategies declare (``cost_kinds``)."""
    from harness.plugin_manager import plugins

    return {str(kind) for e in plugins().strategies for kind in e.meta.get("cost_kinds", ())}


@dataclass(frozen=True)
class OneOff:
    """One artifact paid for once: what it is, its identity, the seconds it took."""

    what: str
    key: str
    seconds: float


def _seconds(record: Any) -> float | None:
    if isinstance(record, Mapping):
        record = record.get("seconds")
    if isinstance(record, bool) or not isinstance(record, int | float):
        return None
    return float(record)


def one_off_costs(info: Mapping[str, Any], kinds: Iterable[str] | None = None) -> list[OneOff]:
    """The one-off costs a model view's `info` declares (see the module docstring); `kinds`
    are the keys read besides ``one_off`` (default: those the strategies declare)."""
    named = set(declared_kinds() if kinds is None else kinds)
    found: list[OneOff] = []
    for item in info.get("one_off") or []:
        seconds = _seconds(item)
        if isinstance(item, Mapping) and seconds is not None:
            found.append(OneOff(str(item.get("what", "")), str(item.get("key", "")), seconds))
    declared = {c.what for c in found}
    for what in [key for key in info if key in named]:
        seconds = _seconds(info.get(what))
        if what in declared or seconds is None:
            continue
        record = info.get(what)
        key = record.get("key") if isinstance(record, Mapping) else None
        found.append(OneOff(what, str(key or info.get("adapter", "")), seconds))
    return found


def one_off_timings(costs: Iterable[OneOff]) -> dict[str, float]:
    """Result timings: ``<what>_s`` per kind and ``one_off_s`` in all (keys counted once)."""
    unique = {(c.what, c.key): c for c in costs}
    timings: dict[str, float] = {}
    for cost in unique.values():
        timings[f"{cost.what}_s"] = timings.get(f"{cost.what}_s", 0.0) + cost.seconds
    if unique:
        timings["one_off_s"] = sum(c.seconds for c in unique.values())
    return timings


def total_one_off(costs: Iterable[OneOff]) -> float:
    """Seconds paid once for a set of partitions: each distinct artifact once."""
    return sum(c.seconds for c in {(c.what, c.key): c for c in costs}.values())


def break_even(
    one_off_s: float, latency_s: float, base_one_off_s: float, base_latency_s: float
) -> int | None:
    """Requests after which a strategy's one-off cost is repaid against a baseline's; None
    when it never is (it is not cheaper per request). See the module docstring.

    >>> break_even(100.0, 0.5, 10.0, 2.0)  # (100 - 10) / (2.0 - 0.5) = 60
    60
    >>> break_even(100.0, 2.0, 10.0, 2.0) is None
    True
    """
    saved = base_latency_s - latency_s
    if saved <= 0:
        return None
    return max(0, math.ceil((one_off_s - base_one_off_s) / saved - 1e-9))
