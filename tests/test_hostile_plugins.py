"""A plugin that exits, interrupts or registers garbage is reported by name and skipped;
every other plugin and command keeps working (issue 17)."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_plugins import _harness, _install

HEADER = "from harness.hookspecs import hookimpl\nfrom harness.options import Option\n"
HOSTILE = {
    "exits_adding_commands": (
        "@hookimpl\ndef harness_register_commands(cli):\n    import sys\n    sys.exit(0)\n",
        "SystemExit",
    ),
    "interrupts_registering": (
        "@hookimpl\ndef harness_register_strategies(register):\n"
        "    register('interrupted', 'x:y')\n    raise KeyboardInterrupt\n",
        "KeyboardInterrupt",
    ),
    "interrupts_importing": ("raise KeyboardInterrupt\n", "KeyboardInterrupt"),
    "registers_a_number": (
        "@hookimpl\ndef harness_register_encoders(register):\n    register('seven', 7)\n",
        "7 is not a factory",
    ),
    "declares_bad_options": (
        "@hookimpl\ndef harness_register_encoders(register):\n"
        "    register('badopts', 'x:y', options=[{'name': 'dim'}])\n",
        "not an Option",
    ),
}


@pytest.mark.parametrize("name", HOSTILE)
def test_a_hostile_plugin_is_skipped_and_named(tmp_path: Path, name: str):
    site = tmp_path / "site"
    site.mkdir()
    source, problem = HOSTILE[name]
    _install(site, name, f"{name}_hooks", HEADER + source)
    listed = _harness(site, "list")
    assert listed.returncode == 0, listed.stderr
    assert f"plugin {name!r}" in listed.stderr and problem in listed.stderr
    assert "  minilm " in listed.stdout and "  taskwise " in listed.stdout
    for leftover in ("interrupted", "seven", "badopts"):
        assert f"  {leftover} " not in listed.stdout
    helped = _harness(site, "run", "--help")
    assert helped.returncode == 0 and "--model" in helped.stdout
    strict = _harness(site, "list", HARNESS_STRICT_PLUGINS="1")
    assert strict.returncode == 2 and name in strict.stderr
