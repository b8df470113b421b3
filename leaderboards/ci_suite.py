"""Build the inputs of the CI regression suite (leaderboards/ci-baseline.json).

    python leaderboards/ci_suite.py [FOLDER]    # default: .harness-cache/ci

writes FOLDER/tiny-bert (a random 2-layer BERT whose vocabulary holds the
tree's words, seed 0) and FOLDER/code-tree (200 Python modules and 120 C
headers, one documented function each), both from the test helpers, so the
suite needs no download and gives the same numbers on every CPU run. Both are
rebuilt only when missing.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from conftest import NOUNS, WORDS, write_code_tree  # noqa: E402
from tiny_models import make_tiny_bert  # noqa: E402


def build(folder: Path) -> None:
    model, tree = folder / "tiny-bert", folder / "code-tree"
    if not (model / "config.json").exists():
        make_tiny_bert(model, vocab_words=[*WORDS, *NOUNS, "buffer", "length", "size"], seed=0)
    if not tree.exists():
        write_code_tree(tree, n_python=200, n_c=120)


if __name__ == "__main__":
    build(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / ".harness-cache" / "ci")
