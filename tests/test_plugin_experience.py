"""The third-party plugin experience: the example package, the documentation, broken plugins.

- examples/harness-bow (an encoder, a task kind with its card, metric and bundled data, a
  command) is found through its entry point and runs through `harness run`; its numbers
  agree with a direct computation; pip installs it (slow);
- docs/plugins.md documents every hook with its arguments and an example, and its
  five-minute plugin works as written; every hook spec has a test;
- a plugin that breaks (fails to import, exits, raises in a hook or in its commands, takes a
  built-in name, points at a target that does not import) is reported by name and the
  others keep working.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import math
import os
import re
import subprocess
import sys
import textwrap
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from harness import hookspecs

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "harness-bow"
DOCS = ROOT / "docs" / "plugins.md"
HOOKS = sorted(name for name in dir(hookspecs) if name.startswith("harness_"))


def dist_info(site: Path, dist: str, entry_points: str, version: str = "0.1.0") -> None:
    """What pip leaves in site-packages for a distribution, reduced to what discovery reads."""
    info = site / f"{dist.replace('-', '_')}-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
    (info / "entry_points.txt").write_text(f"[harness]\n{entry_points}\n")


def harness(path: list[Path], *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("HARNESS_")}
    environ.update(HF_HUB_OFFLINE="1", HARNESS_NO_PROGRESS="1", **env)
    environ["PYTHONPATH"] = os.pathsep.join([*map(str, path), environ.get("PYTHONPATH", "")])
    return subprocess.run(
        [sys.executable, "-m", "harness", *args],
        capture_output=True, text=True, env=environ, timeout=300,
    )  # fmt: skip


@pytest.fixture(scope="module")
def bow(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """The example package made visible as an installed distribution (no pip)."""
    site = tmp_path_factory.mktemp("site")
    dist_info(site, "harness-bow", "bow = harness_bow")
    return [site, EXAMPLE / "src"]


@pytest.fixture
def bow_importable(monkeypatch: pytest.MonkeyPatch):
    """The example package importable in this process, and forgotten afterwards: a later test
    must not find ``harness_bow`` in sys.modules (it would then pass or fail by test order)."""
    monkeypatch.syspath_prepend(str(EXAMPLE / "src"))
    before = set(sys.modules)
    yield
    for name in set(sys.modules) - before:
        if name == "harness_bow" or name.startswith("harness_bow."):
            del sys.modules[name]


# --- the example package --------------------------------------------------------------------


def test_the_example_is_found_listed_and_adds_a_command(bow):
    listed = harness(bow, "list", HARNESS_STRICT_PLUGINS="1")
    assert listed.returncode == 0, listed.stderr
    for name in ("bow", "odd-one-out", "odd-one-out-bundled", "odd_one_out_accuracy"):
        assert re.search(rf"^  {re.escape(name)} .*\[bow\]$", listed.stdout, re.MULTILINE), name
    shown = {p["name"]: p for p in json.loads(harness(bow, "plugins", "--json").stdout)}
    assert shown["bow"]["distribution"] == "harness-bow" and shown["bow"]["version"] == "0.1.0"
    assert set(shown["bow"]["hooks"]) == set(HOOKS) - {"harness_register_strategies"}
    words = harness(bow, "bow-words", "readFile get_HTTPResponse")
    assert words.stdout.strip() == "read file get http response"


def exact_bag(text: str) -> Counter[str]:
    from harness_bow.encoder import words  # the tokenizer is part of the model's definition

    return Counter(words(text))


def cosine(a: Counter[str], b: Counter[str]) -> float:
    dot = sum(a[w] * b[w] for w in a)
    return dot / math.sqrt(sum(v * v for v in a.values()) * sum(v * v for v in b.values()))


def test_the_example_task_scores_what_a_direct_computation_gives(bow, tmp_path, bow_importable):
    results = tmp_path / "results"
    done = harness(bow, "run", "--model", "bow", "--task", "odd-one-out", "--results",
                   str(results), "--set", "encoder.dim=65536", "--json")  # fmt: skip
    assert done.returncode == 0, done.stderr
    summary = {row["partition"]: row for row in json.loads(done.stdout)}
    assert set(summary) == {"javascript", "python"}
    # Second method: exact (unhashed) word counts, cosines written out, the lowest sum picked.
    data = EXAMPLE / "src" / "harness_bow" / "data" / "odd_one_out.jsonl"
    expected: dict[str, dict[str, float]] = {}
    for line in data.read_text().splitlines():
        record = json.loads(line)
        bags = [exact_bag(item) for item in record["items"]]
        to_others = [sum(cosine(bags[i], bags[j]) for j in range(3) if j != i) for i in range(3)]
        picked = int(np.argmin(to_others))
        unique = sorted(to_others)[1] - sorted(to_others)[0] > 1e-6
        expected.setdefault(record["language"], {})[record["id"]] = float(
            unique and picked == record["odd"]
        )
    for language, by_id in expected.items():
        (path,) = results.rglob(f"{language}.json")
        rows = [json.loads(line) for line in path.with_suffix(".jsonl").read_text().splitlines()]
        assert {row["id"]: row["odd_one_out_accuracy"] for row in rows} == by_id
        value = summary[language]["metrics"]["odd_one_out_accuracy"]["value"]
        assert value == pytest.approx(sum(by_id.values()) / len(by_id))
        assert value > 1 / 3  # better than chance, as hand-written triples should be


def test_the_example_encoder_by_hand(bow_importable):
    from harness_bow.encoder import BagOfWords

    def bucket(word: str) -> int:
        return int.from_bytes(hashlib.blake2b(word.encode(), digest_size=8).digest(), "little")

    dim = 1 << 20
    row = BagOfWords(dim).encode(["sortItems(items)"])[0]
    # words: sort, items, items -> counts 1 and 2, normalised by sqrt(5)
    assert row[bucket("sort") % dim] == pytest.approx(1 / math.sqrt(5))
    assert row[bucket("items") % dim] == pytest.approx(2 / math.sqrt(5))
    assert np.count_nonzero(row) == 2
    assert not BagOfWords(8).encode(["+ - *"]).any()  # no words: a zero row, not NaN


def test_bad_example_data_is_one_line_with_file_and_line(bow, tmp_path):
    folder = tmp_path / "data"
    folder.mkdir()
    good = {"id": "a", "language": "python", "items": ["x = 1", "y = 1", "print(z)"], "odd": 2}
    bad = {**good, "id": "b", "odd": 3}
    (folder / "odd_one_out.jsonl").write_text(f"{json.dumps(good)}\n{json.dumps(bad)}\n")
    done = harness(bow, "run", "--model", "bow", "--task", "odd-one-out", "--data-dir",
                   str(folder), "--results", str(tmp_path / "results"))  # fmt: skip
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        f"harness: error: {folder / 'odd_one_out.jsonl'}:2: field 'odd' must be 0, 1 or 2, not 3"
    ]
    assert not (tmp_path / "results").exists()


@pytest.mark.slow
def test_pip_installs_the_example_package_and_harness_runs_it(tmp_path):
    target = tmp_path / "target"
    pip = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
         "--target", str(target), str(EXAMPLE)],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert pip.returncode == 0, pip.stderr
    assert (target / "harness_bow" / "data" / "odd_one_out.jsonl").is_file()
    assert (target / "harness_bow" / "odd-one-out.toml").is_file()
    done = harness([target], "run", "--model", "bow", "--task", "odd-one-out",
                   "--results", str(tmp_path / "results"), "--json",
                   HARNESS_STRICT_PLUGINS="1")  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert {row["n_examples"] for row in json.loads(done.stdout)} == {12}


# --- documentation and meta-tests -----------------------------------------------------------


def sections(text: str) -> dict[str, str]:
    """Markdown '### ' headings and the text under each."""
    parts = re.split(r"^### (.+)$", text, flags=re.MULTILINE)
    return {parts[i].strip(): parts[i + 1] for i in range(1, len(parts), 2)}


@pytest.mark.parametrize("hook", HOOKS)
def test_every_hook_is_documented_with_its_arguments_and_an_example(hook):
    arguments = ", ".join(inspect.signature(getattr(hookspecs, hook)).parameters)
    found = sections(DOCS.read_text())
    heading = f"`{hook}({arguments})`"
    assert heading in found, f"docs/plugins.md needs a '### {heading}' section"
    body = found[heading]
    examples = re.findall(r"```python\n(.*?)```", body, flags=re.DOTALL)
    assert any(f"def {hook}({arguments})" in example for example in examples), hook
    for example in examples:
        compile(example, f"docs/plugins.md ({hook})", "exec")


@pytest.mark.parametrize("hook", HOOKS)
def test_every_hook_spec_has_a_test(hook):
    """A test other than this module's implements the hook in a plugin it loads."""
    others = [p for p in (ROOT / "tests").glob("test_*.py") if p.name != Path(__file__).name]
    assert any(f"def {hook}(" in path.read_text() for path in others), hook


def test_the_five_minute_plugin_works_as_written(tmp_path, code_tree):
    text = DOCS.read_text()
    five = text[: text.index("## How plugins are found")]
    (module,) = re.findall(r"```python\n(.*?)```", five, flags=re.DOTALL)
    (toml,) = re.findall(r"```toml\n(.*?)```", five, flags=re.DOTALL)
    site = tmp_path / "site"
    site.mkdir()
    (site / "my_plugin.py").write_text(module)
    entry = re.search(r"\[project.entry-points.harness\]\n(.+)\n", toml)
    assert entry is not None
    dist_info(site, "my-harness-plugin", entry.group(1).replace('"', ""))
    listed = harness([site], "list", HARNESS_STRICT_PLUGINS="1")
    assert listed.returncode == 0, listed.stderr
    assert "char-counts" in listed.stdout and "[my-plugin]" in listed.stdout
    done = harness([site], "run", "--model", "char-counts", "--task", "t2c", "--data-dir",
                   str(code_tree), "--results", str(tmp_path / "r"), "--cache-dir",
                   str(tmp_path / "c"), "--languages", "python", "--json")  # fmt: skip
    assert done.returncode == 0, done.stderr
    (row,) = json.loads(done.stdout)
    assert 0.0 < row["metrics"]["mrr"]["value"] <= 1.0


# --- plugins that break ---------------------------------------------------------------------

GOOD = """
from harness.hookspecs import hookimpl

@hookimpl
def harness_register_encoders(register):
    register("still-here", "good_hooks:build", "a plugin that works")

@hookimpl
def harness_register_commands(cli):
    parser = cli.add_parser("still-here", help="a command that works")
    parser.set_defaults(handler=lambda args: print("still here") or 0)
"""

BROKEN = {
    "exits-on-import": "import sys\nsys.exit('this plugin needs a GPU')\n",
    "clashes": """
        from harness.hookspecs import hookimpl

        @hookimpl
        def harness_register_encoders(register):
            register("minilm", "nowhere:build", "takes a built-in name")
            register("mine-too", "nowhere:build", "must go with the rest")
    """,
    "commands-raise": """
        from harness.hookspecs import hookimpl

        @hookimpl
        def harness_register_commands(cli):
            raise RuntimeError("no commands today")
    """,
    "lazy-target-missing": """
        from harness.hookspecs import hookimpl

        @hookimpl
        def harness_register_encoders(register):
            register("ghost", "ghost_module_that_is_not_installed:build", "cannot import")
    """,
}


@pytest.fixture
def broken_site(tmp_path: Path) -> Path:
    """One good plugin and one of each way of breaking (entry names sort first: 'aa-...')."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "good_hooks.py").write_text(GOOD)
    dist_info(site, "good-plugin", "good-plugin = good_hooks")
    for name, source in BROKEN.items():
        module = name.replace("-", "_") + "_hooks"
        (site / f"{module}.py").write_text(textwrap.dedent(source))
        dist_info(site, f"aa-{name}", f"aa-{name} = {module}")
    return site


def test_broken_plugins_are_reported_by_name_and_the_rest_works(broken_site):
    listed = harness([broken_site], "list")
    assert listed.returncode == 0, listed.stderr
    warnings = listed.stderr
    assert "plugin 'aa-exits-on-import'" in warnings and "this plugin needs a GPU" in warnings
    assert "plugin 'aa-clashes'" in warnings and "encoder 'minilm'" in warnings
    assert "clashes with the one already registered by 'hf-encoders'" in warnings
    assert "plugin 'aa-commands-raise'" in warnings and "no commands today" in warnings
    # the built-in keeps its name; nothing of the clashing plugin stays; the good one works
    assert re.search(r"^  minilm .*\[hf-encoders\]$", listed.stdout, re.MULTILINE)
    assert "mine-too" not in listed.stdout
    assert "still-here" in listed.stdout and "t2c" in listed.stdout
    command = harness([broken_site], "still-here")
    assert command.returncode == 0 and command.stdout.strip() == "still here"
    shown = {p["name"]: p["error"] for p in json.loads(harness([broken_site], "plugins",
                                                                "--json").stdout)}  # fmt: skip
    assert shown["aa-exits-on-import"] and shown["aa-clashes"] and not shown["good-plugin"]


def test_a_target_that_does_not_import_is_one_line_naming_its_plugin(broken_site, tmp_path):
    done = harness([broken_site], "run", "--model", "ghost", "--task", "t2c",
                   "--results", str(tmp_path / "results"))  # fmt: skip
    assert done.returncode == 2
    error = [line for line in done.stderr.splitlines() if line.startswith("harness: error")]
    assert error == [
        "harness: error: encoder 'ghost' of plugin 'aa-lazy-target-missing' cannot be loaded "
        "from 'ghost_module_that_is_not_installed:build': ModuleNotFoundError: No module named "
        "'ghost_module_that_is_not_installed'"
    ]
    assert not (tmp_path / "results").exists()


def test_strict_mode_stops_at_the_first_broken_plugin_by_name(broken_site):
    listed = harness([broken_site], "list", HARNESS_STRICT_PLUGINS="1")
    assert listed.returncode == 2
    (line,) = listed.stderr.strip().splitlines()
    assert line.startswith("harness: error: ") and "plugin 'aa-clashes'" in line
