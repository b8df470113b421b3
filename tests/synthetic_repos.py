"""A benchmark whose answer is known: repositories that each define one secret constant.

Every generated repository picks one of `VALUES` (8 colour names) and defines
it in its source (``<pkg>/settings.py``, among filler modules); each of its
test files holds one assertion that expects it (``assert settings.theme() ==
'amber'``), with the value nowhere in the prefix. A frozen model cannot know
the answer, nor can one shared adapter (it can at best guess: 1 in 8); an
adapter written from the repository's source can. Shuffling adapters between
repositories must lose that gain, and a hypernetwork that ignores its input
must generate one adapter for all (cosine 1).

`make_synthetic_lm` writes the frozen model of the check: a randomly
initialised GPT-2 (2 layers, 64 wide by default) with a byte-level BPE
tokenizer trained on the generated files.

>>> dataset = write_synthetic_repositories(tmp_path, n_train=64, n_test=16)  # doctest: +SKIP
>>> sorted(dataset.partitions)[:2], len(dataset.train)  # doctest: +SKIP
(['repo-064', 'repo-065'], 512)
"""

from __future__ import annotations

import random
from pathlib import Path

from harness.data import CompletionDataset, CompletionExample
from harness.plugins.datasets.completion_common import completion_partitions
from tests.tiny_models import byte_level_bpe

VALUES = ("banana", "castle", "copper", "glacier", "rocket", "thunder", "tiger", "violin")
_WORDS = (
    "alpha", "bravo", "delta", "echo", "gamma", "kilo", "lima", "omega", "sigma", "tango",
    "river", "stone", "cloud", "field", "forest", "harbor", "meadow", "summit", "valley",
)  # fmt: skip
_VERBS = ("load", "parse", "merge", "scale", "split", "count", "render", "encode", "filter")
_NOUNS = ("table", "record", "packet", "header", "token", "matrix", "buffer", "config")
# (imports and helpers, the expression whose expected value is the constant)
_ASSERTIONS = (
    ("from {pkg} import settings\n\n\ndef test_theme():\n", "    assert settings.theme() == "),
    ("from {pkg}.settings import THEME\n\n\ndef test_constant():\n", "    assert THEME == "),
    ("import {pkg}\n\n\ndef test_default():\n", "    assert {pkg}.settings.THEME == "),
    (
        "from {pkg} import settings\n\n\ndef test_palette():\n    first = settings.PALETTE[0]\n",
        "    assert first == ",
    ),
    (
        "import unittest\n\nfrom {pkg} import settings\n\n\nclass ThemeTest(unittest.TestCase):\n"
        "    def test_theme(self):\n",
        "        self.assertEqual(settings.theme(), ",
    ),
    (
        "from {pkg} import settings\n\n\ndef test_lookup():\n    found = settings.lookup()\n",
        "    assert found == ",
    ),
    ("from {pkg}.settings import theme\n\n\ndef test_call():\n", "    assert theme() == "),
    (
        "from {pkg} import settings\n\n\ndef test_upper():\n"
        "    value = settings.THEME.upper().lower()\n",
        "    assert value == ",
    ),
)


def _filler(rng: random.Random, index: int, value: str) -> str:
    verb, noun = rng.choice(_VERBS), rng.choice(_NOUNS)
    word = rng.choice(_WORDS)
    return (
        f'"""Helpers to {verb} a {noun} in the {value} style."""\n\n\n'
        f"def {verb}_{noun}(items, size={rng.randint(2, 64)}):\n"
        f'    """{verb.capitalize()} each {noun} with the {word} rule."""\n'
        f"    return [item * size for item in items][: {index + 1}]\n"
    )


def repository_sources(package: str, value: str, rng: random.Random) -> dict[str, str]:
    """The non-test files of one repository: its settings (the constant) and fillers."""
    files = {
        f"{package}/__init__.py": f'"""The {package} package."""\n\nfrom . import settings\n',
        f"{package}/settings.py": (
            f'"""Settings of {package}: the {value} theme."""\n\n'
            f'THEME = "{value}"\n'
            f'PALETTE = ("{value}", "{value}")\n\n\n'
            f"def theme():\n    return THEME\n\n\n"
            f"def lookup():\n    return PALETTE[0]\n"
        ),
    }
    for i in range(rng.randint(1, 3)):
        files[f"{package}/util_{i}.py"] = _filler(rng, i, value)
    return files


def write_synthetic_repositories(
    root: Path,
    *,
    n_train: int = 64,
    n_test: int = 16,
    per_repo: int = 8,
    seed: int = 0,
    split: str = "cr_test",
) -> CompletionDataset:
    """Write `n_train` + `n_test` repositories under `root`; the cross-repo dataset.

    The test repositories are the partitions of `split`; each repository's
    constant is drawn uniformly from `VALUES`; `per_repo` (at most 8) examples each.
    """
    rng = random.Random(seed)
    root = Path(root)
    examples: list[CompletionExample] = []
    roots: dict[str, Path] = {}
    for i in range(n_train + n_test):
        name = f"repo-{i:03d}"
        package = f"{rng.choice(_WORDS)}_{rng.choice(_NOUNS)}_{i}"
        value = rng.choice(VALUES)
        folder = root / name
        files = repository_sources(package, value, rng)
        for k, (head, expression) in enumerate(_ASSERTIONS[:per_repo]):
            prefix = head.format(pkg=package) + expression.format(pkg=package)
            target = f"'{value}'"
            suffix = ")\n" if expression.rstrip().endswith(",") else "\n"
            files[f"tests/test_{k}.py"] = prefix + target + suffix
            examples.append(
                CompletionExample(
                    id=f"{name}/{k}", repo=name, prefix=prefix, target=target,
                    test_file=f"tests/test_{k}.py", line=prefix.count("\n") + 1,
                    cross_repo_split="train" if i < n_train else split,
                )
            )  # fmt: skip
        for path, text in files.items():
            (folder / path).parent.mkdir(parents=True, exist_ok=True)
            (folder / path).write_text(text, encoding="utf-8")
        roots[name] = folder
    meta = {"synthetic": "hypernet constants", "seed": seed, "values": list(VALUES)}
    return completion_partitions("synthetic", examples, split, roots=roots, meta=meta)


def make_synthetic_lm(
    folder: Path,
    texts: list[str],
    *,
    n_layer: int = 2,
    n_embd: int = 64,
    vocab_size: int = 512,
    positions: int = 256,
    init_std: float = 0.02,
    seed: int = 0,
) -> Path:
    """A random GPT-2 and a byte-level BPE tokenizer trained on `texts`, saved in `folder`."""
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    bpe = byte_level_bpe(texts, vocab_size)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=bpe,
        eos_token="<|endoftext|>",
        bos_token="<|endoftext|>",
        unk_token="<|endoftext|>",
        pad_token="<|endoftext|>",
        model_max_length=positions,
    )
    config = GPT2Config(
        vocab_size=bpe.get_vocab_size(),
        n_positions=positions,
        n_embd=n_embd,
        n_layer=n_layer,
        n_head=4,
        initializer_range=init_std,
        bos_token_id=0,
        eos_token_id=0,
        pad_token_id=0,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = GPT2LMHeadModel(config)
    model.save_pretrained(folder, safe_serialization=True)
    tokenizer.save_pretrained(folder)
    return folder


def corpus_texts(root: Path) -> list[str]:
    """Every file under `root` as text, in path order (the tokenizer's training corpus)."""
    return [p.read_text(encoding="utf-8") for p in sorted(Path(root).rglob("*.py"))]
