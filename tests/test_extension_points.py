"""The core's extension points in isolation: registry snapshots, closed registration keys,
run flags shared alike by two plugins, and a flag's values as typed."""

from __future__ import annotations

import argparse

import pytest

from harness.errors import HarnessError
from harness.extensions import RunFlag
from harness.registry import Registry


def test_restore_drops_what_was_registered_after_the_snapshot():
    registry = Registry("strategy")
    registry.register("kept", "module:Kept", plugin="first")
    saved = registry.snapshot()
    registry.register("added", "module:Added", plugin="tests")
    assert registry.names() == ["added", "kept"]
    registry.restore(saved)
    assert registry.names() == ["kept"]
    registry.register("added", "module:Added", plugin="tests")  # no clash after the restore


def test_an_unknown_registration_key_is_refused_with_the_plugin_name():
    registry = Registry("strategy")
    with pytest.raises(HarnessError, match=r"'toy' from plugin 'typo'.* key 'cost_kind'"):
        registry.register("toy", "module:Toy", plugin="typo", cost_kind=("x",))
    registry.register("toy", "module:Toy", plugin="fine", cost_kinds=("x",), cost_baseline=2)
    assert registry.get("toy").entry.meta == {"cost_kinds": ("x",), "cost_baseline": 2}


def test_two_plugins_may_declare_one_flag_alike_but_not_differently():
    flags = Registry("run flag")
    flags.register("preset", RunFlag("strategy", sweep=True), "first", plugin="a")
    flags.register("preset", RunFlag("strategy", sweep=True), "second", plugin="b")
    assert [(e.name, e.plugin) for e in flags.in_order()] == [("preset", "a")]
    with pytest.raises(HarnessError, match="clashes"):
        flags.register("preset", RunFlag("encoder"), "another meaning", plugin="c")


def test_a_flag_sets_its_option_and_converts_its_values():
    assert RunFlag("strategy").setting("toy-scale") == "strategy.toy_scale"
    assert RunFlag("encoder", option="dim").setting("bow-dim") == "encoder.dim"
    assert RunFlag("strategy").parse("a,b") == "a,b"  # not a sweep: one value, commas kept
    assert RunFlag("strategy", sweep=True).parse("quick, paper") == ["quick", "paper"]
    assert RunFlag("encoder", sweep=True, type=int).parse("8") == 8
    with pytest.raises(argparse.ArgumentTypeError, match="'eight'"):
        RunFlag("encoder", type=int).parse("eight")
