"""The commands that remake a leaderboard's runs, read back from their stored configs: one
`harness run` per model, strategy and config, with every flag that was not the default
(paths and values quoted for the shell; a plugin's flags given back as flags)."""

from __future__ import annotations

import json
import shlex
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from harness.compare import Run


def _set_flags(config: dict[str, Any]) -> list[str]:
    """``--set`` flags: the settings the run was given, then those a matrix varied."""
    given = {
        f"{scope}.{key}": value
        for scope, values in sorted((config.get("settings") or {}).items())
        for key, value in sorted(values.items())
    }
    varied = (config.get("variant") or {}).get("settings") or {}
    settings = {**given, **{k: v for k, v in varied.items() if "." in k}}
    # a plugin's flags (--preset) are stored as settings of their section: given back as flags
    flags = [
        f"--{name} {shlex.quote(_cli_value(settings.pop(key)))}"
        for name, key in _plugin_flags()
        if key in settings
    ]
    return flags + [
        f"--set {shlex.quote(f'{key}={_cli_value(value)}')}" for key, value in settings.items()
    ]


def _plugin_flags() -> list[tuple[str, str]]:
    """The flags plugins add to `harness run`, in registration order, each with the setting
    it stores: (``toy-scale``, ``strategy.toy_scale``)."""
    from harness.plugin_manager import plugins

    return [(e.name, e.load().setting(e.name)) for e in plugins().run_flags.in_order()]


def _cli_value(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return ",".join(map(_cli_value, value))
    return json.dumps(value)


def run_commands(runs: Sequence[Run], root: Path) -> list[str]:
    """One `harness run` per model, strategy and config, with the partitions it covers."""
    groups: dict[str, list[str]] = {}
    for run in runs:
        r, config = run.result, run.result.config
        encoder = config.get("encoder") or {}
        # what a user typed is quoted for the shell (a path with spaces stays one word)
        words = ["harness run --model", shlex.quote(r.model), "--strategy", r.strategy]
        words += ["--task", r.task, "--dataset", shlex.quote(r.dataset)]
        if config.get("data_dir"):
            words += ["--data-dir", shlex.quote(str(config["data_dir"]))]
        # a split stored apart from the task's own (``local@test``) is always named
        own_split = None if config.get("stored_dataset") else "test"
        # a run made when --max-length defaulted to 512 (not yet the model's own) is given
        # the length its encoder used, so the command makes its numbers again
        length = encoder.get("max_length")
        if length is not None and "max_length" not in (config.get("identity") or {}):
            length = (config.get("encoder_info") or {}).get("max_length")
        optional = [
            ("--split", config.get("split"), own_split),
            ("--limit", config.get("limit"), None),
            ("--seed", config.get("seed"), 0),
            ("--max-length", length, None),
            ("--dtype", encoder.get("dtype"), "float32"),
            ("--pooling", encoder.get("pooling"), None),
            ("--bootstrap", config.get("n_resamples"), 1000),
        ]
        words += [
            f"{flag} {value}" for flag, value, default in optional if value not in (default, None)
        ]
        words += [*_set_flags(config), "--results", shlex.quote(str(root))]
        groups.setdefault(" ".join(words), []).append(r.partition)
    return [
        command.replace(
            " --results", f" --languages {shlex.quote(','.join(sorted(parts)))} --results"
        )
        for command, parts in sorted(groups.items())
    ]
