"""``harness data mine``: a CodeSearchNet-format dataset from a multi-language tree.

The tree is written by the test: one documented function per file, in seven
languages, plus an exact duplicate and a test file that must be skipped.
Expected splits are recomputed from the documented hash.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from harness.cli import main
from harness.plugins.local_dataset.csn_format import FIELDS

TEMPLATES = {
    "go": ("go", "// {Doc}\nfunc {name}(a, b int) int {{\n\tc := a + b * {i}\n\treturn c\n}}\n"),
    "java": (
        "java",
        "class K{i} {{\n  /** {Doc} */\n  int {name}(int a) {{\n    int c = a * {i};\n"
        "    return c;\n  }}\n}}\n",
    ),
    "javascript": (
        "js",
        "/** {Doc} */\nfunction {name}(a) {{\n  const c = a * {i};\n  return c;\n}}\n",
    ),
    "ruby": ("rb", "# {Doc}\ndef {name}(a)\n  c = a * {i}\n  c\nend\n"),
    "php": (
        "php",
        "<?php\n/** {Doc} */\nfunction {name}($a) {{\n  $c = $a * {i};\n  return $c;\n}}\n",
    ),
    "csharp": (
        "cs",
        "class K{i} {{\n  /// {Doc}\n  int {name}(int a) {{\n    var c = a * {i};\n"
        "    return c;\n  }}\n}}\n",
    ),
    "python": ("py", 'def {name}(a):\n    """{Doc}"""\n    c = a * {i}\n    return c\n'),
}
N_FILES = 6  # per language


def write_tree(root: Path) -> Path:
    for language, (suffix, template) in TEMPLATES.items():
        for i in range(N_FILES):
            doc = f"Scale the {language} value number {i} by its factor."
            name = f"scale_{i}"
            text = template.format(Doc=doc, name=name, i=i)
            (root / language).mkdir(parents=True, exist_ok=True)
            (root / language / f"m{i}.{suffix}").write_text(text)
    # an exact copy of python/m0.py under another name: one of the two is dropped
    (root / "python" / "copy.py").write_text((root / "python" / "m0.py").read_text())
    (root / "go" / "m0_test.go").write_text(
        TEMPLATES["go"][1].format(Doc="Test it well now.", name="T", i=9)
    )
    return root


def split_of(key: str, seed: int = 0, test: float = 0.3, valid: float = 0.2) -> str:
    h = int.from_bytes(hashlib.sha256(f"{seed}:{key}".encode()).digest()[:8], "big") / 2**64
    return "test" if h < test else "valid" if h < test + valid else "train"


def mine(tree: Path, out: Path, *extra: str) -> int:
    args = ["data", "mine", str(tree), "--out", str(out), "--test-fraction", "0.3"]
    return main([*args, "--valid-fraction", "0.2", *extra])


def test_every_language_is_mined_split_by_file_and_summarised(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tree = write_tree(tmp_path / "tree")
    out = tmp_path / "out"
    assert mine(tree, out) == 0
    table = capsys.readouterr().out
    meta = json.loads((out / "meta.json").read_text())
    assert sorted(meta["sizes"]) == sorted(TEMPLATES)
    for language in TEMPLATES:
        kept = {}
        for split in ("train", "valid", "test"):
            records = [
                json.loads(line)
                for line in (out / language / f"{split}.jsonl").read_text().splitlines()
            ]
            for record in records:
                assert tuple(record) == FIELDS and record["partition"] == split
                assert record["language"] == language
                assert split_of(f"tree/{record['path']}") == split  # the file decides
                assert record["docstring"].startswith(f"Scale the {language} value")
                assert record["docstring"] not in record["code"]
            kept[split] = len(records)
        assert sum(kept.values()) == N_FILES, language  # one each; test file and copy dropped
        assert meta["sizes"][language] == {s: n for s, n in kept.items()}
        row = next(line for line in table.splitlines() if line.startswith(language))
        # language, files read, pairs found, train, valid, test, kept
        files_read = N_FILES + (1 if language == "python" else 0)
        assert row.split()[1:] == [str(files_read), str(files_read), *map(str, kept.values()), "6"]
        codebase = (out / language / "codebase.jsonl").read_text().splitlines()
        assert len(codebase) == kept["valid"] + kept["test"]
    assert table.splitlines()[-2].split()[-1] == str(N_FILES * len(TEMPLATES))


def test_options_languages_min_words_and_an_existing_out(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tree = write_tree(tmp_path / "tree")
    out = tmp_path / "out"
    assert mine(tree, out, "--languages", "ruby,go") == 0
    assert sorted(json.loads((out / "meta.json").read_text())["sizes"]) == ["go", "ruby"]
    capsys.readouterr()

    def refused(code: int) -> str:
        assert code == 2
        return capsys.readouterr().err

    assert "exists and is not empty; choose another --out" in refused(mine(tree, out))
    assert mine(tree, out, "--force", "--languages", "go", "--min-query-words", "20") == 0
    assert json.loads((out / "meta.json").read_text())["sizes"] == {}  # 10 words < 20
    assert "unknown language 'kotlin'" in refused(
        mine(tree, tmp_path / "o2", "--languages", "kotlin")
    )
    nowhere = ["data", "mine", str(tmp_path / "nowhere"), "--out", str(tmp_path / "o3")]
    assert "not a folder to mine" in refused(main(nowhere))
    no_path = ["data", "mine", "--out", str(tmp_path / "o4")]
    assert "name a PATH to mine, or --default-sources" in refused(main(no_path))
    capsys.readouterr()
