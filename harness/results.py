"""The result store: one JSON per (task, dataset, model, strategy, partition)
and beside it a JSONL of per-example scores, the input of every paired test.

Layout: ``<root>/<task>/<dataset>/<model>/<strategy>/<partition>.json`` and
``.jsonl``. Both are written atomically (temporary file, then ``os.replace``);
the JSONL is replaced first and the JSON last, so a JSON on disk means the
partition is complete. Two processes writing one result take turns: each
holds an exclusive ``flock`` on ``.<partition>.json.lock`` beside it while it
replaces the pair, so a JSON is never paired with another run's JSONL.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

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

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, raw: Mapping[str, Any], path: Path | None = None) -> Result:
        known = {f for f in cls.__dataclass_fields__}
        missing = sorted(known - set(raw) - {"timings", "created", "config_hash", "schema_version"})
        if missing:
            raise InputError(f"result is missing field {missing[0]!r}", path=path)
        data = {k: v for k, v in raw.items() if k in known}
        try:
            data["metrics"] = {k: MetricValue(**v) for k, v in raw["metrics"].items()}
        except (TypeError, AttributeError) as exc:
            raise InputError(f"field 'metrics' is malformed: {exc}", path=path) from None
        return cls(**data)


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


def _atomic_write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


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
    text = json.dumps(result.to_json(), indent=2, sort_keys=True) + "\n"
    with result_lock(path):
        _atomic_write(examples_path(path), lines)
        _atomic_write(path, text)


def read_result(path: Path) -> Result:
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read result: {exc}", path=path) from None
    except json.JSONDecodeError as exc:
        raise InputError(f"not valid JSON: {exc.msg}", path=path, line=exc.lineno) from None
    if not isinstance(raw, dict):
        raise InputError("a result file must hold a JSON object", path=path)
    return Result.from_json(raw, path)


def read_examples(path: Path) -> list[dict[str, Any]]:
    """The per-example rows beside a result JSON."""
    rows = []
    jsonl = examples_path(path)
    with jsonl.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise InputError(f"not valid JSON: {exc.msg}", path=jsonl, line=number) from None
    return rows


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
        with examples_path(path).open(encoding="utf-8") as handle:
            n_lines = sum(1 for _ in handle)
    return result if n_lines == result.n_examples else None


def find_results(root: Path) -> list[Path]:
    """Every result JSON under a store, sorted."""
    return sorted(p for p in root.rglob("*.json") if not p.name.startswith("."))
