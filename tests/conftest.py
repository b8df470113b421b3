"""Shared fixtures: a tiny random BERT and a generated source tree to mine."""

from __future__ import annotations

import os

# idle OpenMP threads sleep instead of spinning: on a busy machine spinning made the tiny-model
# tests many times slower; set before torch is imported (here and in subprocesses)
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from pathlib import Path  # noqa: E402

import pytest  # noqa: E402
from tiny_models import make_tiny_bert  # noqa: E402

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HARNESS_NO_PROGRESS", "1")

WORDS = [
    "parse",
    "read",
    "write",
    "sort",
    "merge",
    "count",
    "split",
    "join",
    "load",
    "save",
    "render",
    "encode",
    "decode",
    "compress",
    "filter",
    "group",
    "reverse",
    "format",
    "scale",
    "rotate",
    "hash",
]
NOUNS = [
    "file",
    "list",
    "string",
    "number",
    "table",
    "image",
    "matrix",
    "packet",
    "header",
    "token",
    "path",
    "record",
]


@pytest.fixture(scope="session")
def tiny_bert(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random 2-layer BERT with its tokenizer, written locally (no download)."""
    return make_tiny_bert(tmp_path_factory.mktemp("models") / "tiny-bert")


def write_code_tree(root: Path, n_python: int = 40, n_c: int = 24) -> Path:
    """Python modules and C headers, one documented function each, distinct docs."""
    for i in range(n_python):
        verb, noun = WORDS[i % len(WORDS)], NOUNS[i % len(NOUNS)]
        (root / "pkg").mkdir(parents=True, exist_ok=True)
        (root / "pkg" / f"mod_{i:02d}.py").write_text(
            f"def {verb}_{noun}_{i}(value, size):\n"
            f'    """{verb.capitalize()} the {noun} number {i} with the given size."""\n'
            f"    result = value * {i}\n"
            f"    result = result + size\n"
            f"    return result\n"
        )
    for i in range(n_c):
        verb, noun = WORDS[(i * 7) % len(WORDS)], NOUNS[(i * 5) % len(NOUNS)]
        (root / "include").mkdir(parents=True, exist_ok=True)
        (root / "include" / f"api_{i:02d}.h").write_text(
            f"/** {verb.capitalize()} a {noun} buffer of the given length {i}. */\n"
            f"int {verb}_{noun}_{i}(const char *buffer, int length);\n"
        )
    return root


@pytest.fixture(scope="session")
def code_tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_code_tree(tmp_path_factory.mktemp("code_tree"))
