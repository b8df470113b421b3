"""A result is identified by every value that can change it (issue 16, point 1).

Every option a built-in plugin accepts is declared (harness.options); a changed value of
an option changes the run's identity (its config hash and its folder) unless the plugin
declares that the option cannot change a number, and for those the per-example scores
are shown to stay equal.
"""

from __future__ import annotations

import json
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from test_cli_run import _harness
from test_plugin_experience import EXAMPLE, dist_info, harness

from harness.identity import label, run_identity
from harness.options import options_of
from harness.plan import RunRequest, identity_dtype, plan, resolve_dtype
from harness.plugin_manager import plugins
from harness.results import config_hash, find_results, read_examples, read_result

BUILTIN = "harness.plugins"


def _changed(value: Any) -> Any:
    """A value of the option's kind that differs from its default."""
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return value + 1
    if isinstance(value, float):
        return value * 2 + 0.5
    if isinstance(value, str):
        return value + "x"
    if isinstance(value, tuple | list):
        return ["x"]
    return "x"


def _context(section: str, name: str, entry: Any) -> dict[str, Any]:
    """A run in which `entry` owns the `section` of --set."""
    loaded = plugins()
    causal = entry.meta.get("kind") == "causal-lm"
    completion = causal or (section == "strategy" and entry.load().task_kinds == ("completion",))
    if section == "dataset":
        task = entry.meta["tasks"][0]
        completion = loaded.tasks.get(task).load().kind == "completion"
    else:
        task = "rc" if completion else "t2c"
    model = "tiny-code-lm" if completion else "minilm"
    request = {"model": model, "strategy": "none", "task": task, "dataset": "local"}
    request["dtype"] = "auto"
    request[{"encoder": "model"}.get(section, section)] = name + ("x" if name == "hf:" else "")
    return request


def _declaring_entries() -> list[tuple[str, str, Any]]:
    loaded = plugins()
    found = []
    for section, registry in (
        ("encoder", loaded.encoders),
        ("strategy", loaded.strategies),
        ("dataset", loaded.datasets),
    ):
        for entry in registry:
            module = entry.target.__module__ if isinstance(entry.target, type) else entry.target
            if str(module).startswith(BUILTIN):
                found.append((section, entry.name, entry))
    return found


def test_every_builtin_plugin_declares_its_options():
    entries = _declaring_entries()
    assert {s for s, _, _ in entries} == {"encoder", "strategy", "dataset"}
    assert len(entries) >= 17  # 6 hf encoders, 2 causal LMs, 5 strategies, 6 datasets
    undeclared = [f"{s} {n}" for s, n, e in entries if "options" not in e.meta]
    assert not undeclared
    for kind in plugins().task_kinds:
        if str(kind.target).startswith(BUILTIN):
            assert "options" in kind.meta, kind.name


def _identity_of(request: RunRequest) -> dict[str, Any]:
    """As `harness.runner.prepare` sees it: --dtype auto and native resolved by the device."""
    resolved = plan(request)
    request = replace(request, dtype=resolve_dtype(resolved, request.dtype, request.device))
    return run_identity(request, resolved.declared(), identity_dtype(resolved))


@pytest.mark.parametrize(
    ("flags", "native"), [({"avx2"}, "float32"), ({"avx512_bf16"}, "bfloat16")]
)
def test_dtype_auto_and_native_resolve_by_the_task_and_the_hardware(
    flags: set[str], native: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An encoder's --dtype auto is float32 on any CPU (bf16 moved MRR beyond what a default
    may); native is bf16 only where the CPU computes it, and only then named in the identity
    (a float32 result keeps the identity it always had). A causal LM keeps auto."""
    from harness import hardware

    monkeypatch.setattr(hardware, "cpu_flags", lambda cpuinfo=None: flags)
    names = {"model": "minilm", "strategy": "none", "task": "t2c", "dataset": "local"}
    float32 = _identity_of(RunRequest(**names, device="cpu", dtype="float32"))
    assert "dtype" not in float32
    assert _identity_of(RunRequest(**names, device="cpu", dtype="auto")) == float32
    on_native = _identity_of(RunRequest(**names, device="cpu", dtype="native"))
    assert on_native.get("dtype", "float32") == native
    assert (on_native == float32) == (native == "float32")
    rc = {"model": "tiny-code-lm", "strategy": "none", "task": "rc", "dataset": "local"}
    assert "dtype" not in _identity_of(RunRequest(**rc, device="cpu", dtype="auto"))


@pytest.mark.parametrize(
    ("section", "name", "entry"),
    _declaring_entries(),
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_changing_an_option_changes_the_identity_unless_declared_neutral(section, name, entry):
    names = _context(section, name, entry)
    # a model that runs its own code is planned only with the flag (the same for both sides)
    trusted = bool(entry.meta.get("remote_code"))
    base = _identity_of(RunRequest(**names, trust_remote_code=trusted))
    options = options_of(entry.meta["options"])
    for option in options:
        changed = {section: {option.name: _changed(option.default)}}
        request = RunRequest(**names, settings=changed, trust_remote_code=trusted)
        identity = _identity_of(request)  # plan() accepts every declared option
        hashed = config_hash({"identity": identity}) != config_hash({"identity": base})
        assert hashed == option.affects_results, (section, name, option.name)
        assert (label(identity) != label(base)) == option.affects_results


def test_task_options_come_from_the_card_and_the_task_kind():
    rc = RunRequest(model="tiny-code-lm", strategy="none", task="rc", dataset="local")
    base = _identity_of(rc)
    tokens = _identity_of(RunRequest(**{**vars(rc), "settings": {"task": {"max_new_tokens": 9}}}))
    batch = _identity_of(RunRequest(**{**vars(rc), "settings": {"task": {"batch_size": 1}}}))
    assert tokens != base and batch == base


@pytest.mark.parametrize(
    ("field", "value"),
    [("seed", 1), ("limit", 5), ("max_length", 64), ("pooling", "cls"), ("n_resamples", 50),
     ("dtype", "bfloat16"), ("trust_remote_code", True), ("data_dir", Path("/tmp/x"))],
)  # fmt: skip
def test_run_options_that_change_numbers_are_in_the_identity(field: str, value: Any):
    names = {"model": "minilm", "strategy": "none", "task": "t2c", "dataset": "local"}
    base = _identity_of(RunRequest(**names, dtype="float32"))
    changed = _identity_of(RunRequest(**{**names, "dtype": "float32", field: value}))
    assert changed != base and label(changed)


def test_unknown_and_misspelt_settings_are_refused():
    from harness.errors import HarnessError

    names = {"model": "minilm", "strategy": "taskwise", "task": "t2c", "dataset": "local"}
    with pytest.raises(HarnessError, match=r"did you mean strategy\.lr\?"):
        plan(RunRequest(**names, settings={"strategy": {"lrr": 1e-3}}))
    with pytest.raises(HarnessError, match="unknown section 'lora2'"):
        plan(RunRequest(**names, settings={"lora2": {"r": 8}}))
    with pytest.raises(HarnessError, match="strategy 'none' has no option 'adapter'"):
        plan(RunRequest(**{**names, "strategy": "none"}, settings={"strategy": {"adapter": "x"}}))


def test_runs_that_differ_in_a_setting_never_share_a_result(tmp_path: Path):
    """The issue's case: bow with dim 8, then dim 4096: the second is computed, not skipped.
    The example plugin is made visible as an installed distribution (as pip leaves it)."""
    site = tmp_path / "site"
    dist_info(site, "harness-bow", "bow = harness_bow")
    bow = partial(harness, [site, EXAMPLE / "src"])
    out = tmp_path / "results"
    common = ["run", "--model", "bow", "--task", "odd-one-out", "--results", str(out)]
    first = bow(*common, "--set", "encoder.dim=8", "--json")
    second = bow(*common, "--set", "encoder.dim=4096", "--json")
    assert first.returncode == 0 and second.returncode == 0, first.stderr + second.stderr
    assert "skipped" not in second.stdout + second.stderr
    folders = {p.parent.name for p in find_results(out)}
    assert folders == {"none@dim_8", "none@dim_4096"}
    by_dim = {read_result(p).config["identity"]["settings"]["encoder"]["dim"]: p
              for p in find_results(out) if p.stem == "python"}  # fmt: skip
    assert by_dim.keys() == {8, 4096}
    # the bow encoder by hand: 4096 buckets keep words apart that 8 buckets merge
    small, large = (read_result(by_dim[d]) for d in (8, 4096))
    assert small.config_hash != large.config_hash
    board = bow("leaderboard", "--task", "odd-one-out", "--results", str(out))
    assert board.returncode == 0, board.stderr
    assert "none dim=8" in board.stdout and "none dim=4096" in board.stdout


def _scores(folder: Path) -> dict[str, dict[str, Any]]:
    rows = {}
    for path in find_results(folder):
        result = read_result(path)
        for row in read_examples(path, result.examples_sha256):
            rows[f"{path.stem}/{row['id']}"] = row
    return rows


def test_options_declared_neutral_do_not_change_the_scores(
    tiny_bert: Path, code_tree: Path, tmp_path: Path
):
    """Batch size, corpus chunks, padding, packing and the length sort: the same per-example scores
    and the same identity (the run lands in the same folder, recomputed with --overwrite)."""
    out = tmp_path / "results"
    common = [
        "run", "--model", f"hf:{tiny_bert}", "--task", "t2c", "--data-dir", str(code_tree),
        "--results", str(out), "--cache-dir", str(tmp_path / "cache"), "--device", "cpu",
        "--set", "dataset.test_fraction=0.5", "--no-embedding-cache",
    ]  # fmt: skip
    assert _harness(*common, cwd=tmp_path).returncode == 0
    base = _scores(out)
    assert len(base) > 10
    variants = [
        ["--batch-size", "3"],
        ["--corpus-chunk-size", "2"],
        ["--set", "encoder.padding=max_length", "--max-length", "512"],
        ["--set", "encoder.sort_by_length=false"],
        ["--set", "encoder.packing=off"],
    ]
    for extra in variants:
        done = _harness(*common, *extra, "--overwrite", cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        again = _scores(out)
        assert again.keys() == base.keys(), extra
        for key, row in base.items():
            for metric, value in row.items():
                if isinstance(value, float):
                    assert np.isclose(again[key][metric], value, atol=1e-9), (extra, key, metric)
                else:
                    assert again[key][metric] == value, (extra, key, metric)


def test_a_declared_neutral_option_really_is_one_in_a_rerun(tiny_bert, code_tree, tmp_path):
    """A neutral option does not make a complete result look incomplete."""
    out = tmp_path / "results"
    common = [
        "run", "--model", f"hf:{tiny_bert}", "--task", "t2c", "--data-dir", str(code_tree),
        "--results", str(out), "--cache-dir", str(tmp_path / "cache"), "--device", "cpu",
    ]  # fmt: skip
    assert _harness(*common, cwd=tmp_path).returncode == 0
    again = _harness(*common, "--batch-size", "4", "--set", "encoder.sort_by_length=false",
                     cwd=tmp_path)  # fmt: skip
    assert again.returncode == 0 and "skipped" in again.stdout + again.stderr
    changed = _harness(*common, "--max-length", "64", cwd=tmp_path)
    assert changed.returncode == 0 and "skipped" not in changed.stdout + changed.stderr
    labels = sorted(json.dumps(read_result(p).config.get("variant", {}).get("label"))
                    for p in find_results(out) if p.stem == "python")  # fmt: skip
    assert len(labels) == 2 and any("max_length=64" in lab for lab in labels)


def test_list_options_shows_each_option_and_whether_it_changes_results(capsys):
    from harness.cli import main

    assert main(["list", "--options"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("  taskwise "))
    block = []
    for line in lines[start + 1 :]:
        if not line.startswith("      "):
            break
        block.append(line.strip())
    assert "r = 16" in block and "preset = 'quick'  the starting point: quick or paper" in block
    assert "checkpoint_every = 10  (does not change results)" in block
    assert sum("does not change results" in line for line in block) == 1


@pytest.mark.parametrize("value", [float("nan"), "nan", "inf", "-Infinity", [1.0, "inf"]])
def test_a_non_finite_setting_is_refused_before_anything_runs(value: Any):
    from harness.errors import HarnessError

    names = {"model": "minilm", "strategy": "taskwise", "task": "t2c", "dataset": "local"}
    with pytest.raises(HarnessError, match=r"--set strategy\.lr: .* is not a finite number"):
        plan(RunRequest(**names, settings={"strategy": {"lr": value}}))
