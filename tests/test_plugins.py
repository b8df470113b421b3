"""Plugin discovery through real entry points of installed (test) distributions."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from types import ModuleType

import pluggy
import pytest

from harness import hookspecs

HOOKS = [name for name in dir(hookspecs) if name.startswith("harness_")]
README = Path(__file__).resolve().parents[1] / "README.md"

GOOD_PLUGIN = """
from harness.extensions import RunFlag
from harness.hookspecs import hookimpl

@hookimpl
def harness_register_encoders(register):
    register("toy-encoder", "toy_plugin.model:ToyEncoder", "an encoder from a third-party plugin")

@hookimpl
def harness_register_strategies(register):
    register("toy-strategy", "toy_plugin.strategy:Toy", "a strategy from a third-party plugin")

@hookimpl
def harness_register_task_kinds(register):
    register("toy-kind", "toy_plugin.kind:Toy", "a task kind from a third-party plugin")

@hookimpl
def harness_register_tasks(register):
    register("toy-task", "toy_plugin.cards:TOY", "a task from a third-party plugin")

@hookimpl
def harness_register_datasets(register):
    register("toy-data", "toy_plugin.data:load", "a dataset from a third-party plugin")

@hookimpl
def harness_register_metrics(register):
    register("toy-metric", "toy-metric", "a metric from a third-party plugin")

@hookimpl
def harness_register_run_flags(register):
    register("toy-flag", RunFlag("strategy"), "a run flag from a third-party plugin")

@hookimpl
def harness_register_commands(cli):
    parser = cli.add_parser("toy-hello", help="say hello from the toy plugin")
    parser.set_defaults(handler=lambda args: print("hello from toy") or 0)
"""

IMPORT_FAILS = "raise ImportError('the toy dependency is missing')\n"

REGISTER_RAISES = """
from harness.hookspecs import hookimpl

@hookimpl
def harness_register_strategies(register):
    register("half-registered", object(), "must not stay registered")
    raise RuntimeError("boom while registering")
"""


def _install(site: Path, dist: str, module: str, source: str) -> None:
    """A minimal installed distribution: a module and a dist-info with an entry point."""
    (site / f"{module}.py").write_text(textwrap.dedent(source))
    info = site / f"{dist}-1.2.3.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.2.3\n")
    (info / "entry_points.txt").write_text(f"[harness]\n{dist} = {module}\n")


@pytest.fixture
def site(tmp_path: Path) -> Path:
    root = tmp_path / "site"
    root.mkdir()
    _install(root, "toy_plugin", "toy_plugin_hooks", GOOD_PLUGIN)
    return root


def _harness(site: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("HARNESS_")}
    environ["PYTHONPATH"] = os.pathsep.join([str(site), environ.get("PYTHONPATH", "")])
    environ.update(env)
    return subprocess.run(
        [sys.executable, "-m", "harness", *args],
        capture_output=True,
        text=True,
        env=environ,
        timeout=120,
    )


def test_third_party_plugin_is_discovered_through_its_entry_point(site: Path):
    listed = _harness(site, "list")
    assert listed.returncode == 0, listed.stderr
    for kind in ("an encoder", "a strategy", "a task kind", "a task", "a dataset", "a metric"):
        assert f"{kind} from a third-party plugin  [toy_plugin]" in listed.stdout
    shown = json.loads(_harness(site, "plugins", "--json").stdout)
    toy = next(p for p in shown if p["name"] == "toy_plugin")
    assert toy["version"] == "1.2.3"
    assert toy["hooks"] == sorted(HOOKS)
    builtin = {p["name"] for p in shown if p["distribution"] == "harness"}
    assert {"retrieval", "strategy-none", "task-cards"} <= builtin


def test_plugin_adds_a_cli_command(site: Path):
    hello = _harness(site, "toy-hello")
    assert hello.returncode == 0, hello.stderr
    assert hello.stdout.strip() == "hello from toy"


def test_broken_plugins_are_reported_by_name_and_skipped(site: Path):
    _install(site, "broken_import", "broken_import_hooks", IMPORT_FAILS)
    _install(site, "broken_register", "broken_register_hooks", REGISTER_RAISES)
    listed = _harness(site, "list")
    assert listed.returncode == 0
    assert "plugin 'broken_import'" in listed.stderr
    assert "the toy dependency is missing" in listed.stderr
    assert "plugin 'broken_register'" in listed.stderr
    assert "boom while registering" in listed.stderr
    assert "toy-encoder" in listed.stdout  # the rest keeps working
    assert "half-registered" not in listed.stdout  # nothing of a failed plugin stays


def test_strict_mode_makes_a_broken_plugin_fatal(site: Path):
    _install(site, "broken_import", "broken_import_hooks", IMPORT_FAILS)
    listed = _harness(site, "list", HARNESS_STRICT_PLUGINS="1")
    assert listed.returncode == 2
    assert "broken_import" in listed.stderr
    assert len(listed.stderr.strip().splitlines()) == 1


def test_load_plugins_allowlist(site: Path):
    listed = _harness(site, "list", HARNESS_LOAD_PLUGINS="toy_plugin,task-cards")
    assert listed.returncode == 0
    assert "toy-encoder" in listed.stdout and "t2c" in listed.stdout
    assert "retrieval  " not in listed.stdout and "none  " not in listed.stdout


def test_registering_every_plugin_imports_no_torch():
    code = (
        "import sys\n"
        "from harness.plugin_manager import load_plugins\n"
        "loaded = load_plugins()\n"
        "assert not [p for p in loaded.plugins if p.error], [p.error for p in loaded.plugins]\n"
        "heavy = ('torch', 'transformers', 'numpy', 'tree_sitter')\n"
        "heavy = [m for m in heavy if m in sys.modules]\n"
        "print(','.join(heavy))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == ""


def test_unknown_task_suggests_the_close_name(site: Path):
    out = _harness(site, "run", "--model", "toy-encoder", "--task", "t2x")
    assert out.returncode == 2
    assert out.stderr.strip().splitlines() == [
        "harness: error: unknown task 't2x'; did you mean 't2c'? (known: c2c, rc, t2c, toy-task)"
    ]


def test_every_hook_is_documented_in_the_readme():
    text = README.read_text()
    for hook in HOOKS:
        assert f"`{hook}(" in text, hook


def test_every_hook_is_exercised_by_the_third_party_plugin_here():
    """The toy plugin, loaded as pluggy loads it, implements every hook spec, and each of
    its registry hooks registers something when called through the hook caller."""
    module = ModuleType("toy_plugin_hooks")
    exec(textwrap.dedent(GOOD_PLUGIN), module.__dict__)
    manager = pluggy.PluginManager("harness")
    manager.add_hookspecs(hookspecs)
    manager.register(module)
    assert sorted(caller.name for caller in manager.get_hookcallers(module) or []) == HOOKS
    for hook in HOOKS:
        if hook == "harness_register_commands":
            continue  # exercised through the CLI: test_plugin_adds_a_cli_command
        registered: list[str] = []
        caller = getattr(manager.hook, hook)
        caller(register=lambda name, *_, into=registered, **__: into.append(name))
        assert registered, hook
