"""Registries: lazy entries, prefix entries, clashes and suggestions."""

from __future__ import annotations

import sys

import pytest

from harness.errors import HarnessError
from harness.registry import Registry


def test_lazy_entry_imports_only_when_loaded(tmp_path, monkeypatch):
    (tmp_path / "lazy_target_module.py").write_text("class Heavy:\n    pass\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    registry = Registry("encoder")
    registry.register("heavy", "lazy_target_module:Heavy", "a lazy target")
    entry = registry.get("heavy").entry
    assert "lazy_target_module" not in sys.modules
    assert entry.load().__name__ == "Heavy"
    assert "lazy_target_module" in sys.modules
    del sys.modules["lazy_target_module"]


def test_prefix_entry_receives_the_rest_of_the_name():
    registry = Registry("encoder")
    registry.register("hf:", "module:factory", "any hub id")
    registry.register("minilm", "module:factory")
    resolved = registry.get("hf:microsoft/codebert-base")
    assert resolved.entry.name == "hf:"
    assert resolved.argument == "microsoft/codebert-base"
    assert registry.get("minilm").argument is None
    with pytest.raises(HarnessError):
        registry.get("hf:")  # a prefix needs an argument


def test_name_clash_names_both_plugins():
    registry = Registry("strategy")
    registry.register("taskwise", "module:factory", plugin="first")
    with pytest.raises(HarnessError, match=r"'taskwise' from plugin 'second' clashes .* 'first'"):
        registry.register("taskwise", "module:factory", plugin="second")


def test_one_name_may_be_one_model_per_kind():
    registry = Registry("encoder")
    registry.register("hf:", "embed:factory", kind="encoder", plugin="encoders")
    registry.register("hf:", "lm:factory", kind="causal-lm", plugin="causal_lm")
    assert registry.get("hf:x", "encoder").entry.target == "embed:factory"
    resolved = registry.get("hf:x", "causal-lm")
    assert (resolved.entry.target, resolved.argument) == ("lm:factory", "x")
    assert registry.get("hf:x").entry.target == "embed:factory"  # no kind asked: the first
    assert registry.names() == ["hf:"] and len(list(registry)) == 2
    with pytest.raises(HarnessError, match="'hf:' from plugin 'third' clashes .* 'causal_lm'"):
        registry.register("hf:", "other:factory", kind="causal-lm", plugin="third")
    with pytest.raises(HarnessError, match="clashes"):  # a kindless twin is a plain clash
        registry.register("hf:", "other:factory", plugin="third")


def test_typo_gets_a_suggestion_and_the_known_names():
    registry = Registry("encoder")
    for name in ("codebert", "graphcodebert", "minilm"):
        registry.register(name, "module:factory")
    with pytest.raises(HarnessError) as caught:
        registry.get("minlm")
    message = str(caught.value)
    assert "did you mean 'minilm'?" in message
    assert "known: codebert, graphcodebert, minilm" in message


def test_unrelated_name_gets_no_suggestion():
    registry = Registry("task")
    registry.register("t2c", "module:factory")
    with pytest.raises(HarnessError) as caught:
        registry.get("summarisation")
    assert "did you mean" not in str(caught.value)


def test_iteration_is_sorted_by_name():
    registry = Registry("task")
    for name in ("c2c", "t2c", "rc"):
        registry.register(name, "module:factory")
    assert [e.name for e in registry] == ["c2c", "rc", "t2c"]
    assert "rc" in registry and "xx" not in registry


@pytest.mark.parametrize("target", [7, None, object(), "not_a_module_path"])
def test_a_target_that_is_not_a_factory_is_refused_at_registration(target):
    registry = Registry("strategy")
    with pytest.raises(HarnessError, match=r"strategy 'odd' from plugin 'p': .* is not a factory"):
        registry.register("odd", target, plugin="p")
    assert "odd" not in registry
