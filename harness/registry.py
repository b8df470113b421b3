"""Named registries with lazy entries.

An entry's target is an object or a ``"module:attribute"`` string that is
imported only when the entry is used, so registering a plugin never imports
torch. A name ending in ``:`` is a prefix entry: ``hf:`` matches
``hf:microsoft/codebert-base`` and receives the rest as its argument.
"""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from harness.errors import HarnessError


@dataclass(frozen=True)
class Entry:
    """One registered thing: a name, what it loads, and a one-line description."""

    kind: str
    name: str
    target: Any
    description: str = ""
    plugin: str = ""
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def is_prefix(self) -> bool:
        return self.name.endswith(":")

    @property
    def kind_name(self) -> str:
        """The model kind it declares (``kind=``), "" when none."""
        return str(self.meta.get("kind") or "")

    def load(self) -> Any:
        """The target itself, importing ``module:attribute`` targets on first use."""
        if not isinstance(self.target, str):
            return self.target
        module_name, _, attribute = self.target.partition(":")
        try:
            module = importlib.import_module(module_name)
            return getattr(module, attribute) if attribute else module
        except (ImportError, AttributeError) as exc:  # a broken plugin: say which, in one line
            first = (str(exc).strip().splitlines() or [""])[0]
            raise HarnessError(
                f"{self.kind} {self.name!r} of plugin {self.plugin or '?'!r} cannot be loaded "
                f"from {self.target!r}: {type(exc).__name__}: {first}"
            ) from exc


def _other_kind(registered: Any, new: Any) -> bool:
    """Whether a second registration of a name declares a kind of its own (both do, and
    they differ)."""
    return registered is not None and new is not None and registered != new


@dataclass(frozen=True)
class Resolved:
    """An entry found for a name the user typed, with the prefix argument if any."""

    entry: Entry
    argument: str | None = None

    def load(self) -> Any:
        return self.entry.load()


FACTORY_KINDS = ("encoder", "strategy", "task kind", "dataset")
"""Registries whose entries are built or called by a run: their targets must be factories."""
KNOWN_META: dict[str, frozenset[str]] = {
    kind: frozenset(keys)
    for kind, keys in {
        # read by the runner (kind, options) and shown by `harness list --options`
        "encoder": (
            "kind",
            "options",
            "hub_id",
            "pooling",
            "trainable",
            "remote_code",
            "audit_baseline",
            "fingerprint",
        ),
        # read by the runner, the cost view and the --set parser (harness.extensions)
        "strategy": ("options", "cost_kinds", "cost_baseline", "settings_alias"),
        "task kind": ("options", "model_kind"),
        "task": ("kind",),
        "dataset": ("options", "tasks", "languages", "available", "data_commands"),
        "metric": ("higher_is_better", "task_kind"),
        "run flag": (),
    }.items()
}
"""The registration keys each registry's readers use: another key is a typo, refused when
the plugin registers (the plugin named), not ignored."""
SHARED_KINDS = ("run flag",)
"""Registries where two plugins may declare the same entry alike (``--preset``)."""


class Registry:
    """Entries of one kind (encoders, strategies, ...) keyed by name."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, Entry] = {}

    def register(
        self,
        name: str,
        target: Any,
        description: str = "",
        *,
        plugin: str = "",
        **meta: Any,
    ) -> None:
        if not name or name.strip() != name:
            raise HarnessError(f"{self.kind} name {name!r} is empty or has surrounding spaces")
        if self.kind in FACTORY_KINDS and not (
            callable(target) or (isinstance(target, str) and ":" in target)
        ):
            raise HarnessError(
                f"{self.kind} {name!r} from plugin {plugin or '?'!r}: {target!r} is not a factory "
                "(register a callable, a class or a 'module:attribute' string)"
            )
        unknown = sorted(set(meta) - KNOWN_META.get(self.kind, frozenset(meta)))
        if unknown:
            known = ", ".join(sorted(KNOWN_META[self.kind])) or "none"
            raise HarnessError(
                f"{self.kind} {name!r} from plugin {plugin or '?'!r}: unknown registration "
                f"key {unknown[0]!r} (known: {known})"
            )
        if "options" in meta and not isinstance(meta["options"], str):
            from harness.options import options_of

            try:  # a list of Option (or names), checked now
                options_of(meta["options"])
            except (HarnessError, TypeError) as exc:
                raise HarnessError(
                    f"{self.kind} {name!r} from plugin {plugin or '?'!r}: {exc}"
                ) from None
        shared = self.kind in SHARED_KINDS and name in self._entries
        if shared and self._entries[name].target == target:  # declared alike by two plugins
            return
        key = name
        other = self._entries.get(name)
        if other is not None and _other_kind(other.meta.get("kind"), meta.get("kind")):
            # one name, one model per kind: ``hf:`` is an embedding encoder for a retrieval
            # task and a causal LM for a completion task, each from its own plugin
            key = f"{name}#{meta['kind']}"
        if key in self._entries:
            owner = self._entries[key].plugin or "another plugin"
            raise HarnessError(
                f"{self.kind} {name!r} from plugin {plugin or '?'!r} clashes with the one "
                f"already registered by {owner!r}; rename one of them"
            )
        self._entries[key] = Entry(self.kind, name, target, description, plugin, dict(meta))

    def snapshot(self) -> dict[str, Entry]:
        """The entries as they are now, for `restore` (a failed plugin, a test's entry)."""
        return dict(self._entries)

    def restore(self, snapshot: dict[str, Entry]) -> None:
        """Back to what `snapshot` saw: entries registered since are gone."""
        self._entries = dict(snapshot)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self._find(name) is not None

    def __iter__(self) -> Iterator[Entry]:
        return iter(sorted(self._entries.values(), key=lambda e: (e.name, e.kind_name)))

    def __len__(self) -> int:
        return len(self._entries)

    def in_order(self) -> list[Entry]:
        """The entries in the order they were registered (built-in plugins first)."""
        return list(self._entries.values())

    def names(self) -> list[str]:
        return sorted({e.name for e in self._entries.values()})

    def _find(self, name: str, kind: str | None = None) -> Resolved | None:
        if name in self._entries and not self._entries[name].is_prefix:
            return Resolved(self._pick(name, kind))
        prefix, sep, rest = name.partition(":")
        if sep and rest and f"{prefix}:" in self._entries:
            return Resolved(self._pick(f"{prefix}:", kind), rest)
        return None

    def _pick(self, name: str, kind: str | None) -> Entry:
        """The entry of `name` registered for `kind`, else its first registration."""
        return self._entries.get(f"{name}#{kind}", self._entries[name])

    def get(self, name: str, kind: str | None = None) -> Resolved:
        """The entry for `name` (the one registered for the model `kind` when a name has one
        per kind); an unknown name raises with a suggestion."""
        found = self._find(name, kind)
        if found is not None:
            return found
        known = [e.name + "<id-or-path>" if e.is_prefix else e.name for e in self]
        close = difflib.get_close_matches(name, [e.name for e in self], n=1, cutoff=0.6)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise HarnessError(
            f"unknown {self.kind} {name!r}{hint} (known: {', '.join(known) or 'none'})"
        )
