"""What `rag` indexes: a repository's Python files, in chunks of lines that overlap.

Which files (:func:`source_files`): every ``.py`` file under the repository's
root, hidden and build folders aside, test files aside unless
``include_tests`` (a test path as the ``local`` miner defines it: ``test_*.py``,
``*_test.py``, or under a ``test``/``tests`` folder). By default, then, the
index holds the code under test and no assertion, so no answer is copied from
a test, and retrieval reads what a hypernetwork reads: the repository's
non-test code.

In which order (:func:`indexed_files`), since ``max_chunks`` may cut a large
repository (the standard library): files that the evaluated examples' test
files import come first, the most specific first (imported by the fewest of
those test files: every stdlib test imports ``unittest``, one imports
``json``), then the rest; ties by path. An import names a file when a
dotted tail of the module's name equals the file's dotted path inside the
repository (``numpy.linalg.linalg`` -> ``linalg/linalg.py``, the longest
such tail winning), else the files whose dotted path ends with the whole
module name (``a.b`` -> ``src/a/b.py``); relative imports are resolved from
the test file's folder.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from harness.tree import read_regular_text, regular_files

SKIPPED_FOLDERS = frozenset(
    {"__pycache__", "node_modules", "build", "dist", "venv", "site-packages", "dist-packages"}
)
TEST_FOLDERS = frozenset({"test", "tests"})


def is_test_path(path: str) -> bool:
    """The ``local`` miner's rule: ``test_*.py``, ``*_test.py``, or a file under test(s)/."""
    parts = path.split("/")
    name = parts[-1]
    if name.startswith("test_") or name.endswith("_test.py"):
        return True
    return any(part in TEST_FOLDERS for part in parts[:-1])


@dataclass(frozen=True)
class Chunk:
    """Lines `start`..`end` (1-based, inclusive) of `path`; `id` is ``path:start-end``."""

    id: str
    path: str
    start: int
    end: int
    text: str

    def embedded_text(self) -> str:
        """What the encoder reads: the path, then the lines."""
        return f"{self.path}\n{self.text}"

    def prompt_text(self) -> str:
        """How the chunk stands in a prompt: a comment naming it, then its lines."""
        body = self.text if self.text.endswith("\n") else self.text + "\n"
        return f"# {self.path} (lines {self.start}-{self.end})\n{body}\n"


def source_files(root: Path, *, include_tests: bool, max_file_bytes: int) -> list[str]:
    """Posix paths, relative to `root`, of the Python files to index, sorted."""

    def wanted(path: str) -> bool:
        return path.endswith(".py") and (include_tests or not is_test_path(path))

    found = []
    for path in regular_files(root, keep_dir=_kept_folder, keep_file=wanted):
        try:
            if (root / path).stat().st_size <= max_file_bytes:
                found.append(path)
        except OSError:
            continue
    return found


def _kept_folder(name: str) -> bool:
    return not name.startswith(".") and name not in SKIPPED_FOLDERS


def _dotted(path: str) -> str:
    parts = path[: -len(".py")].split("/")
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def imported_modules(text: str, path: str) -> set[str]:
    """Dotted names the Python source `text` (at `path`) imports; relative ones made absolute
    from its folder, ``from m import n`` giving both ``m`` and ``m.n``. Unparsable: none."""
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError):
        return set()
    folder = path.split("/")[:-1]
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = folder[: len(folder) - (node.level - 1)] if node.level - 1 else folder
                base = ".".join([*up, *([base] if base else [])])
            if base:
                names.add(base)
            names.update(f"{base}.{a.name}" if base else a.name for a in node.names)
    return {n for n in names if n and "*" not in n}


def imported_files(files: Sequence[str], modules: Iterable[str]) -> set[str]:
    """The files of `files` that `modules` name (see the module docstring).

    >>> sorted(imported_files(["types.py", "web/types.py", "src/a/b.py"], ["types", "a.b"]))
    ['src/a/b.py', 'types.py']
    """
    exact: dict[str, list[str]] = {}
    by_tail: dict[str, list[str]] = {}
    for path in files:
        dotted = _dotted(path)
        exact.setdefault(dotted, []).append(path)
        parts = dotted.split(".")
        for i in range(1, len(parts)):
            by_tail.setdefault(".".join(parts[i:]), []).append(path)
    hit: set[str] = set()
    for module in modules:
        parts = module.split(".")
        tails = (".".join(parts[i:]) for i in range(len(parts)))
        found = next((exact[t] for t in tails if t in exact), None) or by_tail.get(module)
        hit.update(found or [])
    return hit


def indexed_files(files: Sequence[str], imports: Iterable[set[str]]) -> list[str]:
    """`files` ordered for indexing: those the test files import first, the most specific
    (imported by the fewest test files) first, then the rest; ties by path.

    >>> indexed_files(["a.py", "pkg/core.py", "pkg/util.py"], [{"lib.pkg.util", "a"}, {"a"}])
    ['pkg/util.py', 'a.py', 'pkg/core.py']
    """
    importers = dict.fromkeys(files, 0)
    for modules in imports:
        for path in imported_files(files, modules):
            importers[path] += 1
    return sorted(files, key=lambda p: (importers[p] == 0, importers[p], p))


def chunk_lines(path: str, text: str, lines: int, overlap: int) -> list[Chunk]:
    """Chunks of `lines` lines, each starting ``lines - overlap`` after the one before;
    blank chunks are left out.

    >>> [c.id for c in chunk_lines("m.py", "".join(f"{i}\\n" for i in range(1, 8)), 4, 1)]
    ['m.py:1-4', 'm.py:4-7']
    """
    rows = text.splitlines(keepends=True)
    step = lines - overlap
    chunks = []
    for start in range(0, max(1, len(rows) - overlap), step):
        body = "".join(rows[start : start + lines])
        if not body.strip():
            continue
        end = min(start + lines, len(rows))
        chunks.append(Chunk(f"{path}:{start + 1}-{end}", path, start + 1, end, body))
    return chunks


def repository_chunks(
    root: Path,
    test_files: Iterable[str],
    *,
    include_tests: bool,
    max_file_bytes: int,
    lines: int,
    overlap: int,
    max_chunks: int,
) -> list[Chunk]:
    """The chunks to index for the repository at `root`, whose examples come from
    `test_files` (paths relative to `root`), at most `max_chunks`."""
    files = source_files(root, include_tests=include_tests, max_file_bytes=max_file_bytes)
    imports = []
    for test_file in sorted(set(test_files)):
        try:
            text = read_regular_text(root / test_file, errors="replace")
        except OSError:
            continue
        imports.append(imported_modules(text, test_file))
    chunks: list[Chunk] = []
    for path in indexed_files(files, imports):
        if len(chunks) >= max_chunks:
            break
        try:
            text = read_regular_text(root / path, errors="replace")
        except OSError:
            continue
        chunks += chunk_lines(path, text, lines, overlap)[: max_chunks - len(chunks)]
    return chunks
