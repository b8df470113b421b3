"""Build the inputs of the CI regression suite (leaderboards/ci-baseline.json).

    python leaderboards/ci_suite.py [FOLDER]    # default: .harness-cache/ci

writes FOLDER/tiny-bert (a random 2-layer BERT whose vocabulary holds the
tree's words, seed 0) and FOLDER/code-tree (600 Python modules and 600 C
headers, one documented function each), both from the test helpers, so the
suite needs no download and gives the same numbers on every CPU run. The
model is rebuilt when missing, the tree when it does not hold exactly those
files. The size is what lets the check detect its tolerance: with 80% of the
functions as queries (about 470 a language) it detects a drop of 7 points in
every comparison, under twice its 4-point tolerance (docs/ci-regression.md).
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from conftest import NOUNS, WORDS, write_code_tree  # noqa: E402
from tiny_models import make_tiny_bert  # noqa: E402

N_PYTHON, N_C = 600, 600


def build(folder: Path) -> None:
    model, tree = folder / "tiny-bert", folder / "code-tree"
    if not (model / "config.json").exists():
        make_tiny_bert(model, vocab_words=[*WORDS, *NOUNS, "buffer", "length", "size"], seed=0)
    files = sum(p.is_file() for p in tree.rglob("*")) if tree.exists() else 0
    if files != N_PYTHON + N_C:  # missing, or the smaller tree of an older checkout
        shutil.rmtree(tree, ignore_errors=True)
        write_code_tree(tree, n_python=N_PYTHON, n_c=N_C)


if __name__ == "__main__":
    build(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / ".harness-cache" / "ci")
