"""Strategy settings from ``--set strategy.KEY=VALUE``: a preset, overrides, coercion.

A strategy's settings are a frozen dataclass; its presets are instances of
it. `settings_from` takes the preset ``options["preset"]`` names, applies
every other option to it, each converted to the type of the field it
replaces (a string from the command line, a number or a list from TOML), and
refuses an unknown name with the known ones. Shared by ``lora``, ``hypernet``
and ``rag`` so that one option is read the same way by every strategy.

>>> settings_from({"preset": "paper", "r": "32"}, PRESETS, what="LoRA")  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import fields, replace
from typing import Any, TypeVar

from harness.errors import HarnessError

T = TypeVar("T")
_TRUE, _FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")


def coerce(where: str, value: Any, default: Any) -> Any:
    """`value` as the type of `default` (a tuple of names from ``"a,b"``, a bool from
    ``true``/``false``); `where` names the option in the error."""
    kind = type(default)
    if kind is tuple:
        items = value.split(",") if isinstance(value, str) else value
        if not isinstance(items, list | tuple) or not all(isinstance(v, str) for v in items):
            raise HarnessError(f"{where}: expected a comma-separated list of names")
        return tuple(v.strip() for v in items if v.strip())
    if kind is bool:
        if isinstance(value, bool):
            return value
        if str(value).lower() in _TRUE + _FALSE:
            return str(value).lower() in _TRUE
        raise HarnessError(f"{where} must be true or false, not {value!r}")
    if isinstance(value, bool):  # True is an int to Python, not a number to a reader
        raise HarnessError(f"{where}: expected {kind.__name__}, got {value!r}")
    try:
        coerced = kind(value)
    except (TypeError, ValueError):
        raise HarnessError(f"{where}: expected {kind.__name__}, got {value!r}") from None
    if kind is int and isinstance(value, float) and value != coerced:
        raise HarnessError(f"{where}: expected an integer, got {value!r}")
    return coerced


def check_names(options: Iterable[str], known: Iterable[str], owner: str = "") -> None:
    """Refuse an option that is not in `known`, naming the known ones (and `owner`, the
    strategy, when the message would not otherwise say whose option it is)."""
    known = list(known)
    unknown = [name for name in options if name not in known]
    if not unknown:
        return
    if owner:
        raise HarnessError(
            f"strategy {owner}: unknown option {sorted(unknown)[0]!r} (known: {', '.join(known)})"
        )
    names = ", ".join(sorted(known))
    raise HarnessError(f"unknown strategy option {unknown[0]!r} (known: {names})")


def overridden(base: T, options: Mapping[str, Any], reserved: Iterable[str] = ()) -> T:
    """`base` (a dataclass) with `options` applied; `reserved` names are options that are
    no field (``preset``) and are skipped."""
    reserved = set(reserved)
    known = {f.name: getattr(base, f.name) for f in fields(base)}  # type: ignore[arg-type]
    wanted = {k: v for k, v in options.items() if k not in reserved}
    check_names(wanted, [*known, *reserved])
    changes = {k: coerce(f"strategy.{k}", v, known[k]) for k, v in wanted.items()}
    return replace(base, **changes)  # type: ignore[type-var]


def preset(presets: Mapping[str, T], options: Mapping[str, Any], what: str) -> T:
    """The preset ``options["preset"]`` names (default ``quick``)."""
    name = str(options.get("preset", "quick"))
    if name not in presets:
        raise HarnessError(f"unknown {what} preset {name!r} (known: {', '.join(presets)})")
    return presets[name]


def check_positive(settings: Any, names: Iterable[str], where: str = "strategy.{name}") -> None:
    """Refuse a field of `names` that is not above 0 (`where` formats the name)."""
    for name in names:
        if getattr(settings, name) <= 0:
            value = getattr(settings, name)
            raise HarnessError(f"{where.format(name=name)} must be positive, got {value}")


def check_at_least(
    settings: Any, names: Iterable[str], least: int, where: str = "strategy.{name}"
) -> None:
    """Refuse a field of `names` below `least` (None is left to the caller: a default)."""
    for name in names:
        value = getattr(settings, name)
        if value is not None and value < least:
            raise HarnessError(f"{where.format(name=name)} must be at least {least}, got {value}")


def check_choices(
    settings: Any, choices: Mapping[str, Iterable[str]], where: str = "strategy.{name}"
) -> None:
    """Refuse a field whose value is not one of its `choices`."""
    for name, allowed in choices.items():
        value = getattr(settings, name)
        if value not in allowed:
            raise HarnessError(
                f"{where.format(name=name)} must be one of {', '.join(allowed)}, not {value!r}"
            )
