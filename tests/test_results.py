"""The result store: schema, atomic writes, completeness."""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from pathlib import Path

import pytest

from harness.errors import InputError
from harness.results import (
    MetricValue,
    Result,
    completed,
    config_hash,
    examples_path,
    read_examples,
    read_result,
    result_path,
    safe_name,
    write_result,
)


def _result(**changes) -> Result:
    base = dict(
        model="hf:/models/tiny bert",
        strategy="none",
        task="t2c",
        dataset="local",
        partition="python",
        metrics={"mrr": MetricValue(0.5, 0.25, 0.75)},
        main_score="mrr",
        n_examples=2,
        n_candidates=2,
        config={"seed": 0},
        versions={"harness": "0.1.0"},
        git_sha="",
        seed=0,
        device="cpu",
        config_hash=config_hash({"seed": 0}),
    )
    base.update(changes)
    return Result(**base)


def test_paths_are_safe_for_any_model_name(tmp_path: Path):
    path = result_path(
        tmp_path,
        task="t2c",
        dataset="local",
        model="hf:/models/tiny bert",
        strategy="none",
        partition="python",
    )
    assert path == tmp_path / "t2c" / "local" / "hf_models_tiny_bert" / "none" / "python.json"
    assert safe_name("../..") == "_"


def test_round_trip_and_completeness(tmp_path: Path):
    path = tmp_path / "python.json"
    rows = [{"id": "a", "mrr": 1.0}, {"id": "b", "mrr": 0.0}]
    write_result(path, _result(), rows)
    # the JSON names the sha256 of the JSONL written with it (computed here by hand)
    jsonl = "".join(json.dumps(row, sort_keys=True) + "\n" for row in rows)
    stored = replace(_result(), examples_sha256=hashlib.sha256(jsonl.encode()).hexdigest())
    assert read_result(path) == stored
    assert read_examples(path, stored.examples_sha256) == rows
    assert completed(path, config_hash({"seed": 0})) == stored
    assert completed(path, config_hash({"seed": 1})) is None  # another config: redo
    assert not list(tmp_path.glob(".*.tmp"))


def test_a_jsonl_not_written_with_its_json_is_never_trusted(tmp_path: Path):
    """Another run's JSONL of the same length beside the JSON (a run killed between its two
    replacements): the pair is incomplete for a resuming run and refused by readers."""
    path = tmp_path / "python.json"
    write_result(path, _result(), [{"id": "a", "mrr": 1.0}, {"id": "b", "mrr": 1.0}])
    examples_path(path).write_text('{"id": "a", "mrr": 1.0}\n{"id": "b", "mrr": 0.5}\n')
    assert completed(path, config_hash({"seed": 0})) is None
    with pytest.raises(InputError, match="do not belong to the result beside them"):
        read_examples(path, read_result(path).examples_sha256)


def test_a_partition_without_all_its_examples_is_not_complete(tmp_path: Path):
    path = tmp_path / "python.json"
    write_result(path, _result(), [{"id": "a", "mrr": 1.0}, {"id": "b", "mrr": 0.0}])
    examples_path(path).write_text('{"id": "a", "mrr": 1.0}\n')
    assert completed(path, config_hash({"seed": 0})) is None


def test_a_crash_while_writing_leaves_the_old_file(tmp_path: Path, monkeypatch):
    path = tmp_path / "python.json"
    write_result(path, _result(), [{"id": "a"}, {"id": "b"}])
    before = path.read_text()

    def fail(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr("os.replace", fail)
    with pytest.raises(OSError):
        write_result(path, _result(n_examples=3), [{"id": "a"}, {"id": "b"}, {"id": "c"}])
    assert path.read_text() == before
    assert not list(tmp_path.glob(".*.tmp"))


def test_malformed_result_names_the_file_and_line(tmp_path: Path):
    path = tmp_path / "bad.json"
    path.write_text('{\n  "model": "x",\n  oops\n}\n')
    with pytest.raises(InputError, match=r"bad.json:3: not valid JSON"):
        read_result(path)
    path.write_text(json.dumps({"model": "x"}))
    with pytest.raises(InputError, match=r"bad.json: result is missing field"):
        read_result(path)


def test_config_hash_ignores_key_order():
    assert config_hash({"a": 1, "b": [1, 2]}) == config_hash({"b": [1, 2], "a": 1})
    assert config_hash({"a": 1}) != config_hash({"a": 2})
