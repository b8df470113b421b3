"""The plugin manager: entry points of group ``harness`` feed the registries.

Built-in plugins are found through the same entry-point group as third-party
ones. A plugin that fails to import or raises while registering is reported
by name and skipped; ``HARNESS_STRICT_PLUGINS=1`` makes that fatal, and
``HARNESS_LOAD_PLUGINS=a,b`` loads only the named plugins.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import metadata
from types import ModuleType
from typing import Any

import pluggy

from harness import hookspecs
from harness.errors import HarnessError
from harness.registry import Registry

ENTRY_POINT_GROUP = "harness"
REGISTRY_HOOKS = {
    "encoders": "harness_register_encoders",
    "strategies": "harness_register_strategies",
    "task_kinds": "harness_register_task_kinds",
    "tasks": "harness_register_tasks",
    "datasets": "harness_register_datasets",
    "metrics": "harness_register_metrics",
    "run_flags": "harness_register_run_flags",
}


@dataclass
class PluginInfo:
    """What `harness plugins` shows about one plugin."""

    name: str
    module: str
    distribution: str = ""
    version: str = ""
    hooks: list[str] = field(default_factory=list)
    error: str = ""


@dataclass
class Loaded:
    """Registries filled by the loaded plugins, and what was loaded from where."""

    manager: pluggy.PluginManager
    registries: dict[str, Registry]
    plugins: list[PluginInfo]

    def __getattr__(self, kind: str) -> Registry:
        try:
            return self.__dict__["registries"][kind]
        except KeyError:
            raise AttributeError(kind) from None


def _strict() -> bool:
    return os.environ.get("HARNESS_STRICT_PLUGINS", "") not in ("", "0", "false")


def _allowed() -> set[str] | None:
    names = os.environ.get("HARNESS_LOAD_PLUGINS")
    if names is None:
        return None
    return {name.strip() for name in names.split(",") if name.strip()}


def report_failure(name: str, problem: str) -> None:
    """Warn that plugin `name` is skipped; fatal under HARNESS_STRICT_PLUGINS=1."""
    message = f"plugin {name!r} {problem}"
    if _strict():
        raise HarnessError(message)
    print(
        f"warning: {message}; skipped (HARNESS_STRICT_PLUGINS=1 makes this fatal)", file=sys.stderr
    )


def _report(info: PluginInfo, problem: str) -> None:
    info.error = problem
    report_failure(info.name, f"({info.module}) {problem}")


def _entry_points() -> list[metadata.EntryPoint]:
    """Built-in plugins first, then the others, each by name: a third-party plugin that
    takes a built-in name clashes itself (and is skipped), never the built-in."""
    found = metadata.entry_points(group=ENTRY_POINT_GROUP)
    unique = {ep.name: ep for ep in found}

    def order(name: str) -> tuple[bool, str]:
        dist = getattr(unique[name], "dist", None)
        return (getattr(dist, "name", "") != "harness", name)

    return [unique[name] for name in sorted(unique, key=order)]


def hook_of(manager: pluggy.PluginManager, hook_name: str, plugin: object) -> Any:
    """The hook caller of `hook_name` for `plugin`'s implementation alone (pluggy's subset
    caller), so one plugin's hook can fail without the others'."""
    others = [other for other in manager.get_plugins() if other is not plugin]
    return manager.subset_hook_caller(hook_name, remove_plugins=others)


def _fill(
    manager: pluggy.PluginManager,
    info: PluginInfo,
    module: ModuleType,
    registries: dict[str, Registry],
) -> None:
    """Call the plugin's registry hooks; commit its entries only if all of them succeed."""
    pending: list[tuple[Registry, tuple[Any, ...], dict[str, Any]]] = []
    for kind, hook_name in REGISTRY_HOOKS.items():
        registry = registries[kind]

        def register(*args: Any, _registry: Registry = registry, **kwargs: Any) -> None:
            pending.append((_registry, args, kwargs))

        hook_of(manager, hook_name, module)(register=register)
    for registry, args, kwargs in pending:
        registry.register(*args, plugin=info.name, **kwargs)


def load_plugins() -> Loaded:
    """Discover, import and register every plugin of the entry-point group."""
    manager = pluggy.PluginManager(ENTRY_POINT_GROUP)
    manager.add_hookspecs(hookspecs)
    registries = {kind: Registry(kind.rstrip("s").replace("_", " ")) for kind in REGISTRY_HOOKS}
    registries["strategies"].kind = "strategy"
    plugins: list[PluginInfo] = []
    allowed = _allowed()
    for ep in _entry_points():
        if allowed is not None and ep.name not in allowed:
            continue
        dist = getattr(ep, "dist", None)
        info = PluginInfo(
            name=ep.name,
            module=ep.value,
            distribution=dist.name if dist else "",
            version=dist.version if dist else "",
        )
        plugins.append(info)
        try:
            module = ep.load()
        except BaseException as exc:  # a broken plugin must not take the CLI down
            _report(info, f"failed to import: {type(exc).__name__}: {exc}")
            continue
        try:
            manager.register(module, name=ep.name)
            info.hooks = sorted(impl.name for impl in manager.get_hookcallers(module) or [])
            snapshot = {kind: reg.snapshot() for kind, reg in registries.items()}
            try:
                _fill(manager, info, module, registries)
            except BaseException:  # sys.exit or KeyboardInterrupt in a hook too
                for kind, reg in registries.items():
                    reg.restore(snapshot[kind])
                raise
        except HarnessError as exc:
            if _strict():
                raise
            _report(info, f"raised while registering: {exc}")
        except BaseException as exc:
            _report(info, f"raised while registering: {type(exc).__name__}: {exc}")
    return Loaded(manager, registries, plugins)


@lru_cache(maxsize=1)
def plugins() -> Loaded:
    """The loaded plugins of this process (loaded once)."""
    return load_plugins()
