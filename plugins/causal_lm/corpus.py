"""The pretraining corpus of `tiny-code-lm`: this machine's Python sources, no test code.

By default the standard library and every installed distribution
(`local_dataset.sources.default_sources`), or the folders given; only
``.py`` files, and never test code: a path with a ``test``/``tests``
(or ``testing``, ``idle_test``) folder, or a file named ``test_*.py``,
``*_test.py`` or ``conftest.py``. The completion task's examples are
assertions mined from test files, so no evaluation file is ever trained on.

Files are put in a seeded order (a hash of seed, repository and path, so the
order of a file does not depend on which other files exist), read up to a
character budget, deduplicated by content, and split by file: the first ones
are held out for perplexity, the rest train.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from harness.plugins.local_dataset.sources import Source, default_sources, tree_source

MAX_FILE_BYTES = 256_000  # larger .py files are mostly generated tables, not code
TEST_FOLDERS = frozenset({"test", "tests", "testing", "idle_test"})


@dataclass(frozen=True)
class CorpusFile:
    repo: str
    root: Path
    path: str  # posix, relative to root


@dataclass
class Corpus:
    """Texts read for training and for held-out perplexity, and how many of what."""

    train: list[str] = field(default_factory=list)
    heldout: list[str] = field(default_factory=list)
    files_listed: int = 0
    files_skipped: int = 0
    duplicates: int = 0

    def describe(self) -> dict[str, int]:
        return {
            "files_listed": self.files_listed,
            "files_train": len(self.train),
            "files_heldout": len(self.heldout),
            "files_skipped": self.files_skipped,
            "duplicates": self.duplicates,
            "chars_train": sum(map(len, self.train)),
            "chars_heldout": sum(map(len, self.heldout)),
        }


def is_test_path(path: str) -> bool:
    """True for test code: a test folder on the path, or a test file name.

    >>> [is_test_path(p) for p in ("json/decoder.py", "pkg/tests/util.py", "conftest.py")]
    [False, True, True]
    >>> [is_test_path(p) for p in ("a/test_io.py", "a/io_test.py", "a/testament.py")]
    [True, True, False]
    """
    parts = path.split("/")
    name = parts[-1]
    return (
        any(part in TEST_FOLDERS for part in parts[:-1])
        or name.startswith("test_")
        or name.endswith("_test.py")
        or name == "conftest.py"
    )


def corpus_sources(folders: Sequence[Path] = ()) -> list[Source]:
    """The sources to read: the given folders, or the default ones (stdlib, packages)."""
    if folders:
        return [tree_source(Path(folder)) for folder in folders]
    return default_sources()


def python_files(sources: Sequence[Source]) -> list[CorpusFile]:
    """The non-test ``.py`` files of `sources`."""
    return [
        CorpusFile(source.repo, source.root, path)
        for source in sources
        for path in source.files
        if path.endswith(".py") and not is_test_path(path)
    ]


def identity(sources: Sequence[Source], files: Sequence[CorpusFile]) -> dict[str, object]:
    """What identifies the corpus in the cache key: each source's name, version, file count."""
    counts: dict[str, int] = {}
    for item in files:
        counts[item.repo] = counts.get(item.repo, 0) + 1
    return {
        "sources": [
            [source.repo, source.version, counts[source.repo]]
            for source in sources
            if counts.get(source.repo)
        ],
        "files": len(files),
    }


def seeded_order(files: Sequence[CorpusFile], seed: int) -> list[CorpusFile]:
    def rank(item: CorpusFile) -> str:
        return hashlib.sha256(f"{seed}\0{item.repo}\0{item.path}".encode()).hexdigest()

    return sorted(files, key=rank)


def read_corpus(
    files: Sequence[CorpusFile], seed: int, *, train_chars: int, heldout_chars: int
) -> Corpus:
    """Read files in seeded order: held-out files first, then training text up to its budget.

    Held out: files until `heldout_chars`, at most a tenth of the files but at
    least one when there are two or more. A small corpus is read whole.
    """
    corpus = Corpus(files_listed=len(files))
    seen: set[str] = set()
    heldout_files = max(1, len(files) // 10) if len(files) > 1 else 0
    train_total = heldout_total = 0
    for item in seeded_order(files, seed):
        if train_total >= train_chars:
            break
        text = _read(item.root / item.path)
        if text is None:
            corpus.files_skipped += 1
            continue
        digest = hashlib.sha256(text.encode()).hexdigest()
        if digest in seen:
            corpus.duplicates += 1
            continue
        seen.add(digest)
        if len(corpus.heldout) < heldout_files and heldout_total < heldout_chars:
            corpus.heldout.append(text)
            heldout_total += len(text)
        else:
            corpus.train.append(text)
            train_total += len(text)
    return corpus


def _read(path: Path) -> str | None:
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            return None
        text = path.read_bytes().decode("utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    return text if text.strip() else None
