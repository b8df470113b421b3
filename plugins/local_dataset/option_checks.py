"""The check both miners' ``--set dataset.*`` options go through (``settings`` for the
pairs, ``completion_settings`` for task ``rc``), so a bad value reads alike in both."""

from __future__ import annotations

from typing import Any

from harness.errors import HarnessError


def checked_numbers(
    extra: dict[str, Any],
    defaults: dict[str, int | float],
    known: tuple[str, ...],
    what: str,
    *,
    fractions: bool = False,
) -> dict[str, Any]:
    """`defaults` overridden by `extra`, each value a number >= 0, whole where its default
    is (with `fractions`, at most 1 where its default is a float); a name not in `known`
    or a bad value raises a one-line HarnessError starting with `what`."""
    unknown = sorted(set(extra) - set(known))
    if unknown:
        raise HarnessError(
            f"{what}: unknown option {unknown[0]!r} (known: {', '.join(sorted(known))})"
        )
    values: dict[str, Any] = {}
    for name, default in defaults.items():
        value = extra.get(name, default)
        kind = float if isinstance(default, float) else int
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            raise HarnessError(f"{what}: option {name} must be a number >= 0, not {value!r}")
        if fractions and kind is float and value > 1:
            raise HarnessError(f"{what}: option {name} must be a fraction in [0, 1]")
        if kind is int and value != int(value):
            raise HarnessError(f"{what}: option {name} must be a whole number, not {value}")
        values[name] = kind(value)
    return values
