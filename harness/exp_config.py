"""`harness run` options from the command line and from ``--config exp.toml``, merged.

Every option of `harness run` is a key of the TOML file, spelled as its flag
without the dashes (``max-length`` or ``max_length``); ``--set S.K=V`` is the
table ``[set.S]``. The keys come from the `run` parser itself, so an option
added there is a key at once. Values: the command line's defaults, then the
file's, then the flags given on the command line.

Lists (the cells of a matrix):

- ``model``, ``strategy``, ``task``, ``dataset`` take comma lists on the
  command line and arrays in the file; their values are always crossed.
- a plugin's flag declared to sweep (``RunFlag.sweep``: ``--preset``) takes
  a comma list too; in the file any option but those in
  `NOT_SWEPT` may be an array (``seed = [0, 1, 2]``, ``limit = [100, 200]``).
  These are the hyperparameter axes, crossed or zipped (``sweep``).
- ``--set S.K=V``: a value is a list when it holds ``|`` (``bf16|fp32``:
  any values), or when it is a comma list of numbers or booleans
  (``32,64``); anything else is one value, so ``strategy.target_modules=
  query,value`` stays one list for the plugin. In the file a TOML array is
  always a list of values; a list-valued option is a string
  (``"query,value"``) or an array of arrays (``[["query", "value"]]``).

A strategy may register another name for the ``strategy.`` section
(``settings_alias``, harness.extensions).
"""

from __future__ import annotations

import argparse
import difflib
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tomllib

from harness.errors import HarnessError, InputError
from harness.extensions import RunFlag

NAMES = ("model", "strategy", "task", "dataset")
"""Crossed lists of registered names; comma lists on the command line."""
CONTROL = ("config", "sweep", "dry_run", "json")
"""How to run, not what: not part of an experiment's identity."""
NOT_SWEPT = {"results", "cache_dir", "overwrite", "device", "languages", "data_dir",
             "batch_size", "corpus_chunk_size", "set", "seeds", *CONTROL}  # fmt: skip
RESOLVED_KEY = "resolved"
"""What `harness run` records of an experiment it ran; ignored when the file is read."""


@dataclass(frozen=True)
class Sweep:
    """The values one setting takes across the cells of a matrix."""

    values: tuple[Any, ...]


@dataclass
class Spec:
    """A whole experiment: every option with its value or, for lists, its values."""

    options: dict[str, Any]
    """option -> value; NAMES and swept options -> a list of values."""
    settings: dict[str, Any] = field(default_factory=dict)
    """``section.key`` -> a value or a `Sweep`."""
    source: Path | None = None
    flag_settings: dict[str, str] = field(default_factory=dict)
    """A plugin's flag -> the ``--set`` key its value goes to (``preset``: strategy.preset)."""

    @property
    def sweep(self) -> str:
        return str(self.options.get("sweep") or "cross")

    def definition(self) -> dict[str, Any]:
        """What determines the experiment (not how it is run), for its id and its file."""
        options = {k: v for k, v in self.options.items() if k not in CONTROL or k == "sweep"}
        options.pop("overwrite", None)
        sets: dict[str, dict[str, Any]] = {}
        for key, value in sorted(self.settings.items()):
            section, _, name = key.partition(".")
            sets.setdefault(section, {})[name] = (
                list(value.values) if isinstance(value, Sweep) else _one_value(value)
            )
        return {**{k: _plain(v) for k, v in options.items() if v is not None}, "set": sets}


def _plain(value: Any) -> Any:
    return str(value) if isinstance(value, Path) else value


def _one_value(value: Any) -> Any:
    """A single value as the file writes it: a list value inside an array (not a sweep)."""
    return [value] if isinstance(value, list) else value


# --- the options of `harness run` ------------------------------------------------------------


@dataclass
class OptionTable:
    """The `run` parser's options and their defaults (the parser's defaults are None)."""

    parser: argparse.ArgumentParser
    deferred: dict[str, Any]
    flags: dict[str, RunFlag] = field(default_factory=dict)
    """The flags plugins added (harness.extensions.RunFlag), by dest."""
    aliases: dict[str, str] = field(default_factory=dict)
    """Other names of ``--set`` sections (``settings_alias`` of a strategy)."""

    @property
    def lists(self) -> tuple[str, ...]:
        """Options that take a comma list on the command line."""
        return (*NAMES, *(dest for dest, flag in self.flags.items() if flag.sweep))

    def section(self, name: str) -> str:
        return self.aliases.get(name, name)

    @property
    def actions(self) -> dict[str, argparse.Action]:
        """dest -> action, read when asked: an option added later is a key too."""
        return {
            a.dest: a
            for a in self.parser._actions
            if a.dest not in ("help", "option_table") and a.default is not argparse.SUPPRESS
        }

    @property
    def defaults(self) -> dict[str, Any]:
        return {d: self.deferred.get(d, a.default) for d, a in self.actions.items()}


def defer_defaults(
    parser: argparse.ArgumentParser,
    flags: dict[str, RunFlag] | None = None,
    aliases: dict[str, str] | None = None,
) -> None:
    """Record the defaults of `parser`'s options and make them None, so a flag given on the
    command line can be told from one left out (a given flag overrides the config file);
    `flags` are those plugins added, `aliases` other names of ``--set`` sections."""
    deferred = {}
    for action in parser._actions:
        if action.dest != "help" and action.default is not argparse.SUPPRESS:
            deferred[action.dest] = action.default
            action.default = None
    table = OptionTable(parser, deferred, dict(flags or {}), dict(aliases or {}))
    parser.set_defaults(option_table=table)


def settings_aliases() -> dict[str, str]:
    """Other names of ``--set`` sections the loaded strategies register
    (``settings_alias``): alias -> ``strategy``."""
    from harness.plugin_manager import plugins

    aliases = (entry.meta.get("settings_alias") for entry in plugins().strategies)
    return {str(alias): "strategy" for alias in aliases if alias}


def _flag(dest: str) -> str:
    return "--" + dest.replace("_", "-")


def _convert(action: argparse.Action, value: Any, where: str) -> Any:
    """A file's value converted and checked as the command line would convert the flag."""
    if action.nargs == 0:  # store_true
        if not isinstance(value, bool):
            raise HarnessError(f"{where}: expected true or false, got {value!r}")
        return value
    if isinstance(value, list) and action.dest in ("languages", "seeds"):
        value = ",".join(str(v) for v in value)
    if isinstance(value, dict | list) or (isinstance(value, float) and not math.isfinite(value)):
        raise HarnessError(f"{where}: expected one value, got {value!r}")
    if action.type is None and not isinstance(value, str):
        raise HarnessError(f"{where}: expected a string, got {value!r}")
    converted = value
    if callable(action.type):
        try:
            converted = action.type(str(value).lower() if isinstance(value, bool) else str(value))
        except (argparse.ArgumentTypeError, ValueError, TypeError) as exc:
            raise HarnessError(f"{where}: {exc}") from None
    if action.choices is not None and converted not in action.choices:
        choices = ", ".join(map(str, action.choices))
        raise HarnessError(f"{where}: {converted!r} is not one of {choices}")
    return converted


def read_config(path: Path, table: OptionTable) -> tuple[dict[str, Any], dict[str, Any]]:
    """(options, settings) from a TOML file; unknown keys are one-line errors."""
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InputError(f"cannot read the config: {exc.strerror}", path=path) from None
    except UnicodeDecodeError:
        raise InputError("the config is not UTF-8 text", path=path) from None
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"not valid TOML: {exc}", path=path) from None
    return read_options(raw, table, path)


def read_options(
    raw: Mapping[str, Any], table: OptionTable, path: Path, within: str = ""
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(options, settings) from the keys of a run (a --config file, a suite entry of a
    baseline: `within` says which), converted and checked as the command line's flags."""
    options: dict[str, Any] = {}
    settings: dict[str, Any] = {}
    spelled: dict[str, str] = {}
    for key, value in raw.items():
        dest = key.replace("-", "_")
        if key == RESOLVED_KEY:
            continue
        if dest in spelled:  # max_length and max-length: which one was meant?
            raise InputError(
                f"{within}keys {spelled[dest]!r} and {key!r} name one option", path=path
            )
        spelled[dest] = key
        if dest == "config" or dest not in table.actions:
            known = sorted(d for d in table.actions if d != "config")
            close = difflib.get_close_matches(dest, known, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise InputError(
                f"{within}unknown key {key!r}{hint} (keys: {', '.join(known)})", path=path
            )
        if dest == "set":
            settings.update(_file_settings(value, path, table, within))
            continue
        action, where = table.actions[dest], f"{path}: {within}key {key!r}"
        if isinstance(value, list) and dest in NAMES:
            if not value or not all(isinstance(v, str) for v in value):
                raise HarnessError(f"{where}: expected a name or a non-empty array of names")
            options[dest] = list(value)
        elif isinstance(value, list) and dest not in NOT_SWEPT:
            if not value:
                raise HarnessError(f"{where}: an empty array gives no cells")
            options[dest] = [_convert(action, v, where) for v in value]
        else:
            options[dest] = _convert(action, value, where)
    return options, settings


def _file_settings(
    value: Any, path: Path, options: OptionTable, within: str = ""
) -> dict[str, Any]:
    if not isinstance(value, dict) or not all(isinstance(v, dict) for v in value.values()):
        raise InputError(
            f"{within}key 'set' must hold tables: [set.strategy], [set.dataset]", path=path
        )
    settings = {}
    for section, table in value.items():
        for name, item in table.items():
            key = f"{options.section(section)}.{name}"
            where = f"{within}set.{section}.{name}"
            if key in settings:  # [set.lora] and [set.strategy] both give it
                raise InputError(f"key {where!r} is given twice (as {key!r})", path=path)
            if isinstance(item, dict):
                raise InputError(f"key {where!r}: expected a value, not a table", path=path)
            if isinstance(item, list):
                if not item:
                    raise InputError(f"key {where!r}: an empty array gives no cells", path=path)
                settings[key] = Sweep(tuple(item)) if len(item) > 1 else item[0]
            else:
                settings[key] = item
    return settings


def cli_setting(raw: Any) -> Any:
    """A ``--set`` value (already JSON-decoded where it could be): a `Sweep` or one value.

    >>> cli_setting("32,64"), cli_setting("query,value"), cli_setting("bf16|fp32")
    (Sweep(values=(32, 64)), 'query,value', Sweep(values=('bf16', 'fp32')))
    """
    if not isinstance(raw, str):
        return raw
    if "|" in raw:
        return Sweep(tuple(_decoded(item) for item in raw.split("|")))
    if "," in raw:
        items = [_decoded(item) for item in raw.split(",")]
        if all(isinstance(item, bool | int | float) for item in items):
            return Sweep(tuple(items))
    return raw


def seed_list(text: str) -> list[int]:
    """``--seeds 0,1,2``: distinct whole numbers, one replicate each.

    >>> seed_list("0, 1,2")
    [0, 1, 2]
    """
    try:
        seeds = [int(item) for item in text.split(",") if item.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected whole numbers, e.g. 0,1,2") from None
    if not seeds or len(set(seeds)) != len(seeds) or min(seeds) < 0:
        raise argparse.ArgumentTypeError(f"{text!r}: expected distinct seeds >= 0, e.g. 0,1,2")
    return seeds


def _decoded(text: str) -> Any:
    try:
        return json.loads(text.strip())
    except json.JSONDecodeError:
        return text.strip()


def spec_from_args(args: argparse.Namespace) -> Spec:
    """The experiment `harness run` was asked for: defaults < --config file < flags given."""
    table: OptionTable = args.option_table
    settings: dict[str, Any] = {}
    source = getattr(args, "config", None)
    file_options: dict[str, Any] = {}
    if source is not None:
        file_options, settings = read_config(Path(source), table)
    given: dict[str, Any] = {}
    for dest, action in table.actions.items():
        value = getattr(args, dest, None)
        late = dest not in table.deferred  # added after defer_defaults: its default is real
        if value is None or dest == "set" or (late and value == action.default):
            continue
        if dest in table.lists and isinstance(value, str):
            items = [v.strip() for v in value.split(",") if v.strip()]
            if not items:
                raise HarnessError(f"{_flag(dest)}: expected a name or a comma list of names")
            value = items
        given[dest] = value
    for section, name, value in getattr(args, "set", None) or []:
        settings[f"{table.section(section)}.{name}"] = cli_setting(value)
    where = Path(source) if source is not None else None
    return spec_from_options({**file_options, **given}, settings, table, where)


def spec_from_options(
    given: dict[str, Any], settings: dict[str, Any], table: OptionTable, source: Path | None
) -> Spec:
    """The experiment of the options given (from flags, a --config file or a suite entry;
    `read_options` converted them), over the `run` parser's defaults."""
    options = {dest: default for dest, default in table.defaults.items() if dest != "set"}
    options.update(given)
    seeds = options.pop("seeds", None)
    if seeds is not None:
        if given.get("seed") is not None:
            raise HarnessError("give --seed or --seeds (seed or seeds in --config), not both")
        options["seed"] = seeds  # a list: one cell (a replicate) per seed
    for required in ("model", "task"):
        if not options.get(required):
            raise HarnessError(
                f"{_flag(required)} is required (on the command line, or as {required!r} in "
                "--config)"
            )
    for key, value in list(options.items()):
        if isinstance(value, list) and len(value) == 1 and key not in NAMES and key != "languages":
            options[key] = value[0]
    flag_settings = {dest: flag.setting(dest) for dest, flag in table.flags.items()}
    return Spec(options, settings, source, flag_settings)


# --- writing TOML (the resolved experiment) ---------------------------------------------------


def dumps_toml(document: dict[str, Any]) -> str:
    """TOML for nested dicts of strings, numbers, booleans and lists; None values are left out.

    >>> print(dumps_toml({"model": ["minilm"], "set": {"strategy": {"r": [8, 16]}}}), end="")
    model = ["minilm"]
    <BLANKLINE>
    [set.strategy]
    r = [8, 16]
    """
    lines: list[str] = []
    _table(document, [], lines)
    return "\n".join(lines).lstrip("\n") + "\n"


def _is_table_array(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, dict) for v in value)


def _table(
    table: dict[str, Any], prefix: list[str], lines: list[str], inline: bool = False
) -> None:
    """Scalars and arrays first, then sub-tables; `inline` writes sub-tables inline (in the
    items of an array of tables)."""
    for key, value in table.items():
        nested = (isinstance(value, dict) and not inline) or _is_table_array(value)
        if value is not None and not nested:
            lines.append(f"{_key(key)} = {_value(value)}")
    for key, value in table.items():
        name = ".".join(_key(k) for k in [*prefix, key])
        if isinstance(value, dict) and not inline:
            if any(not isinstance(v, dict) for v in value.values()) or not value:
                lines += ["", f"[{name}]"]
            _table(value, [*prefix, key], lines)
        elif _is_table_array(value):
            for item in value:
                lines += ["", f"[[{name}]]"]
                _table(item, [*prefix, key], lines, inline=True)


def _key(key: str) -> str:
    bare = key and all(c.isascii() and (c.isalnum() or c in "_-") for c in key)
    return key if bare else _string(key)


def _string(text: str) -> str:
    escaped = []
    for char in text:
        if char in '"\\':
            escaped.append("\\" + char)
        elif ord(char) < 0x20 or ord(char) == 0x7F:
            escaped.append(f"\\u{ord(char):04x}")
        else:
            escaped.append(char)
    return '"' + "".join(escaped) + '"'


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        if math.isnan(value):
            return "nan"
        return repr(value) if math.isfinite(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, str | Path):
        return _string(str(value))
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_value(v) for v in value if v is not None) + "]"
    if isinstance(value, dict):
        items = [f"{_key(k)} = {_value(v)}" for k, v in value.items() if v is not None]
        return "{ " + ", ".join(items) + " }" if items else "{}"
    raise TypeError(f"cannot write {type(value).__name__} as TOML")
