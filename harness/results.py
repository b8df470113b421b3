"""The result store: one JSON per (task, dataset, model, strategy, partition)
and beside it a JSONL of per-example scores, the input of every paired test.

Layout: ``<root>/<task>/<dataset>/<model>/<strategy>/<partition>.json`` and
``.jsonl``. Both are written atomically (temporary file, then ``os.replace``);
the JSONL is replaced first and the JSON last, and the JSON names the
sha256 of its JSONL, so a reader trusts a pair only when it was written
together (a run killed between the two replacements leaves a pair that does
not match, which is recomputed, never reported). Two processes writing one
result take turns: each holds an exclusive ``flock`` on
``.<partition>.json.lock`` beside it while it replaces the pair.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from harness import atomic
from harness.errors import InputError

SCHEMA_VERSION = 1


@dataclass
class MetricValue:
    value: float
    ci_low: float
    ci_high: float


@dataclass
class Result:
    """One partition's result. Metric values are in [0, 1]."""

    model: str
    strategy: str
    task: str
    dataset: str
    partition: str
    metrics: dict[str, MetricValue]
    main_score: str
    n_examples: int
    n_candidates: int
    config: dict[str, Any]
    versions: dict[str, str]
    git_sha: str
    seed: int
    device: str
    timings: dict[str, float] = field(default_factory=dict)
    created: str = ""
    config_hash: str = ""
    schema_version: int = SCHEMA_VERSION
    # sha256 of the per-example JSONL written with this JSON: a reader trusts the pair only
    # when they match (a crash or another run between the two replacements cannot pair them)
    examples_sha256: str = ""
    # the metrics per value of the per-example fields the task card names (harness.stats):
    # {field: {value: {"n_examples": N, "metrics": {name: {value, ci_low, ci_high}}}}}
    breakdowns: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, raw: Mapping[str, Any], path: Path | None = None) -> Result:
        known = {f for f in cls.__dataclass_fields__}
        optional = {"timings", "created", "config_hash", "schema_version", "examples_sha256",
                    "breakdowns"}  # fmt: skip
        missing = sorted(known - set(raw) - optional)
        if missing:
            raise InputError(f"result is missing field {missing[0]!r}", path=path)
        data = {k: v for k, v in raw.items() if k in known}
        _check_fields(data, path)
        try:
            data["metrics"] = {k: MetricValue(**v) for k, v in raw["metrics"].items()}
        except (TypeError, AttributeError) as exc:
            raise InputError(f"field 'metrics' is malformed: {exc}", path=path) from None
        return cls(**data)


_TEXT_FIELDS = ("model", "strategy", "task", "dataset", "partition", "main_score")


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _check_fields(data: Mapping[str, Any], path: Path | None) -> None:
    """A stored result is refused unless every field has its type: names are non-empty
    strings, counts whole numbers, metric values finite numbers (a damaged or hand-edited
    file is recomputed by ``run`` and refused by every reader, never trusted)."""
    for name in _TEXT_FIELDS:
        if not isinstance(data.get(name), str) or not data[name]:
            raise InputError(f"field {name!r} must be a non-empty string, not "
                             f"{data.get(name)!r}", path=path)  # fmt: skip
    for name in ("n_examples", "n_candidates", "seed"):
        value = data.get(name)
        if isinstance(value, bool) or not isinstance(value, int) or (name != "seed" and value < 0):
            raise InputError(f"field {name!r} must be a whole number, not {value!r}", path=path)
    for name in ("config", "versions", "metrics", "timings"):
        if name in data and not isinstance(data[name], dict):
            raise InputError(f"field {name!r} must be an object", path=path)
    for metric, cell in data["metrics"].items():
        if not isinstance(cell, dict) or set(cell) != {"value", "ci_low", "ci_high"}:
            raise InputError(f"metric {metric!r} must hold value, ci_low and ci_high", path=path)
        for key, value in cell.items():
            if not _number(value):
                raise InputError(f"metric {metric!r}: {key} is not a finite number: {value!r}",
                                 path=path)  # fmt: skip
    for key, value in (data.get("timings") or {}).items():
        if not _number(value):
            raise InputError(f"timing {key!r} is not a finite number: {value!r}", path=path)
    _check_breakdowns(data.get("breakdowns", {}), path)


def _check_breakdowns(breakdowns: Any, path: Path | None) -> None:
    """Each group of a breakdown holds a whole count and metric cells of finite numbers."""
    if not isinstance(breakdowns, dict):
        raise InputError("field 'breakdowns' must be an object", path=path)
    for name, groups in breakdowns.items():
        if not isinstance(groups, dict):
            raise InputError(f"breakdown {name!r} must be an object", path=path)
        for value, group in groups.items():
            where = f"breakdown {name!r}, group {value!r}"
            count = group.get("n_examples") if isinstance(group, dict) else None
            if isinstance(count, bool) or not isinstance(count, int) or count < 0:
                raise InputError(f"{where}: n_examples must be a whole number", path=path)
            cells = group.get("metrics")
            if not isinstance(cells, dict):
                raise InputError(f"{where}: metrics must be an object", path=path)
            for metric, cell in cells.items():
                ok = isinstance(cell, dict) and set(cell) == {"value", "ci_low", "ci_high"}
                if not ok or not all(_number(v) for v in cell.values()):
                    raise InputError(f"{where}: metric {metric!r} must hold finite value, "
                                     "ci_low and ci_high", path=path)  # fmt: skip


AS_GIVEN = ("data_dir", "settings")
"""Config keys that record what the user typed (to print the command again); what they
determine is in the config already (the data's content key, the strategy's settings)."""


def config_hash(config: Mapping[str, Any]) -> str:
    """A short stable hash of everything that determines a number."""
    effective = {k: v for k, v in config.items() if k not in AS_GIVEN}
    canonical = json.dumps(effective, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def safe_name(name: str) -> str:
    """A file-system-safe form of a user-typed name (``hf:/a/b`` -> ``hf__a_b``).

    Never ``.``, ``..`` or a path: one folder or file name, at most 120 characters
    (a longer name keeps its start and a hash of the whole).
    """
    cleaned = re.sub(r"[^A-Za-z0-9._@+-]+", "_", name).strip("._")
    if len(cleaned) > 120:
        cleaned = f"{cleaned[:100]}-{hashlib.sha256(name.encode()).hexdigest()[:16]}"
    return cleaned or "_"


def result_path(
    root: Path, *, task: str, dataset: str, model: str, strategy: str, partition: str
) -> Path:
    parts = [safe_name(p) for p in (task, dataset, model, strategy)]
    return root.joinpath(*parts, f"{safe_name(partition)}.json")


def examples_path(path: Path) -> Path:
    return path.with_suffix(".jsonl")


@contextlib.contextmanager
def file_lock(lock_file: Path, *, shared: bool = False) -> Iterator[None]:
    """Hold an ``flock`` on `lock_file` (created, with its folder): exclusive, or shared.

    A lock dies with its process, so a run killed while holding it blocks no one.
    """
    import fcntl

    lock_file.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_file, "a") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_SH if shared else fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


@contextlib.contextmanager
def result_lock(path: Path, *, shared: bool = False) -> Iterator[None]:
    """Hold the lock of the result at `path` (exclusive to write, shared to read)."""
    with file_lock(path.parent / f".{path.name}.lock", shared=shared):
        yield


def write_result(path: Path, result: Result, per_example: Iterable[Mapping[str, Any]]) -> None:
    """Write the per-example JSONL, then the JSON that marks the partition complete."""
    lines = "".join(json.dumps(row, sort_keys=True) + "\n" for row in per_example)
    stored = replace(result, examples_sha256=hashlib.sha256(lines.encode("utf-8")).hexdigest())
    text = json.dumps(stored.to_json(), indent=2, sort_keys=True) + "\n"
    with result_lock(path):  # both staged first: a full disk replaces neither
        atomic.replace_together([(examples_path(path), lines), (path, text)])


def read_result(path: Path) -> Result:
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise InputError(f"cannot read result: not UTF-8 at byte {exc.start}", path=path) from None
    except OSError as exc:
        raise InputError(f"cannot read result: {exc.strerror or exc}", path=path) from None
    except json.JSONDecodeError as exc:
        raise InputError(f"not valid JSON: {exc.msg}", path=path, line=exc.lineno) from None
    except RecursionError:
        raise InputError("JSON nested too deeply to be a result", path=path) from None
    if not isinstance(raw, dict):
        raise InputError("a result file must hold a JSON object", path=path)
    return Result.from_json(raw, path)


def read_examples(path: Path, expected_sha256: str | None = None) -> list[dict[str, Any]]:
    """The per-example rows beside a result JSON; with `expected_sha256` (the result's
    ``examples_sha256``), a file that is not the one written with the JSON is refused."""
    jsonl = examples_path(path)
    try:
        data = jsonl.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read per-example scores: {exc.strerror}", path=jsonl) from None
    if expected_sha256 and hashlib.sha256(data).hexdigest() != expected_sha256:
        raise InputError(
            "per-example scores do not belong to the result beside them (sha256 differs from "
            "its examples_sha256): the pair was not written together; rerun to recompute",
            path=jsonl,
        )
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"not UTF-8 at byte {exc.start}", path=jsonl) from None
    rows = []
    for number, line in enumerate(text.splitlines(), 1):
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError as exc:
            raise InputError(f"not valid JSON: {exc.msg}", path=jsonl, line=number) from None
        except RecursionError:
            raise InputError("JSON nested too deeply", path=jsonl, line=number) from None
    return rows


def examples_match(path: Path, result: Result) -> bool:
    """Whether the JSONL beside `path` is the one written with `result` (a result written
    before results named their JSONL's hash is matched by its line count)."""
    try:
        data = examples_path(path).read_bytes()
    except OSError:
        return False
    if result.examples_sha256:
        return hashlib.sha256(data).hexdigest() == result.examples_sha256
    return data.count(b"\n") == result.n_examples


def completed(path: Path, expected_hash: str) -> Result | None:
    """The stored result when it is complete and was made with the same config."""
    if not path.exists() or not examples_path(path).exists():
        return None
    with result_lock(path, shared=True):  # not while another run replaces the pair
        try:
            result = read_result(path)
        except InputError:
            return None
        if result.config_hash != expected_hash:
            return None
        return result if examples_match(path, result) else None


def find_results(root: Path) -> list[Path]:
    """Every result JSON under a store, sorted."""
    return sorted(p for p in root.rglob("*.json") if not p.name.startswith("."))
