"""Repository and diff vectors: what the hypernetwork reads.

A repository's source files (``.py`` by default, test files left out: they
hold the assertions being completed) are cut into overlapping character
windows that start at line starts; each window is embedded by a registered
embedding encoder (``minilm`` by default, any name ``harness list`` shows,
e.g. ``hf:Qwen/Qwen3-Embedding-0.6B``), the windows of a file are mean-pooled
into the file's vector, and the repository vector is the L2-normalised
concatenation of the mean and the max of its file vectors. A diff is read the
same way with each file section (``diff --git ...``) as a file.

File vectors are cached on disk under ``<cache>/repo-vectors/<encoder key>/``
by a hash of the file's text, written atomically, so an unchanged file is
never embedded twice (and a new snapshot costs only its changed files).
Large repositories are sampled: at most `max_files` files (chosen by a hash
of their paths, so the choice is stable) and `max_chunks` windows per file
(evenly spaced).
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import subprocess
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from harness import atomic
from harness.tree import read_regular_text, regular_files

SKIPPED = frozenset(
    {"__pycache__", "node_modules", "build", "dist", "venv", "site-packages", "dist-packages"}
)
_DIFF_FILE = re.compile(r"^diff --git ", re.MULTILINE)


@dataclass(frozen=True)
class ReaderSettings:
    """How files are chosen and cut (part of every cache key)."""

    encoder: str = "minilm"
    chunk_chars: int = 1000
    overlap_chars: int = 200
    max_files: int = 64
    max_chunks: int = 4
    extensions: tuple[str, ...] = (".py",)
    include_tests: bool = False
    max_length: int = 256  # tokens per window given to the encoder


def is_test_path(path: str) -> bool:
    from harness.plugins.local_dataset.assertions import is_test_path as python_test_path

    return python_test_path(path)


def source_files(root: Path, settings: ReaderSettings) -> list[str]:
    """The repository's files to read, relative posix paths, sampled to `max_files`."""

    def kept_folder(name: str) -> bool:
        return not name.startswith(".") and name not in SKIPPED

    def wanted(path: str) -> bool:
        return _wanted(path, settings)

    return choose(regular_files(Path(root), keep_dir=kept_folder, keep_file=wanted), settings)


def choose(paths: Iterable[str], settings: ReaderSettings) -> list[str]:
    """The paths a vector reads: the wanted extensions, no test files (unless asked), no
    hidden or build folders; at most `max_files`, picked by a hash of the path."""
    kept = [path for path in paths if _wanted(path, settings)]
    if settings.max_files <= 0 or len(kept) <= settings.max_files:
        return sorted(kept)
    ranked = sorted(kept, key=lambda p: hashlib.sha256(p.encode()).hexdigest())
    return sorted(ranked[: settings.max_files])


def _wanted(path: str, settings: ReaderSettings) -> bool:
    parts = path.split("/")
    if any(p.startswith(".") or p in SKIPPED for p in parts):
        return False
    if not path.endswith(settings.extensions):
        return False
    return settings.include_tests or not is_test_path(path)


def fingerprint(root: Path, settings: ReaderSettings) -> str:
    """A cheap hash of the files a repository vector reads: paths, sizes, change times."""
    root = Path(root)
    digest = hashlib.sha256(json.dumps(asdict(settings), sort_keys=True).encode())
    for path in source_files(root, settings):
        stat = (root / path).stat()
        digest.update(f"{path}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:20]


def chunks(text: str, settings: ReaderSettings) -> list[str]:
    """Windows of about `chunk_chars` characters, starting at line starts, overlapping by
    about `overlap_chars`; at most `max_chunks` of them, evenly spaced.

    >>> chunks("a\\nb\\nc\\n", ReaderSettings(chunk_chars=4, overlap_chars=2))
    ['a\\nb\\n', 'b\\nc\\n', 'c\\n']
    """
    if not text.strip():
        return []
    starts = [0] + [m.end() for m in re.finditer("\n", text) if m.end() < len(text)]
    windows: list[str] = []
    at = 0
    step = max(1, settings.chunk_chars - settings.overlap_chars)
    while True:
        window = text[at : at + settings.chunk_chars]
        windows.append(window)
        if at + settings.chunk_chars >= len(text):
            break
        following = [s for s in starts if at < s <= at + step]
        at = following[-1] if following else at + step
    if settings.max_chunks > 0 and len(windows) > settings.max_chunks:
        picks = np.linspace(0, len(windows) - 1, settings.max_chunks).round().astype(int)
        windows = [windows[i] for i in sorted(set(picks.tolist()))]
    return windows


def diff_sections(diff: str) -> list[str]:
    """A unified diff cut into one text per file (``diff --git`` headers start them)."""
    starts = [m.start() for m in _DIFF_FILE.finditer(diff)]
    if not starts:
        return [diff] if diff.strip() else []
    bounds = [*starts, len(diff)]
    return [diff[a:b] for a, b in zip(bounds, bounds[1:], strict=False) if diff[a:b].strip()]


def pooled(file_vectors: Sequence[np.ndarray], dim: int) -> np.ndarray:
    """L2-normalised ``[mean ; max]`` of the file vectors; zeros when there are none."""
    if not file_vectors:
        return np.zeros(2 * dim, dtype=np.float32)
    stacked = np.stack(file_vectors).astype(np.float32)
    joined = np.concatenate([stacked.mean(axis=0), stacked.max(axis=0)])
    norm = float(np.linalg.norm(joined))
    return (joined / norm if norm > 0 else joined).astype(np.float32)


class RepositoryReader:
    """Turns source trees, file sets and diffs into vectors with a cached encoder.

    `encoder_factory()` builds the embedding encoder on first need (``encode(texts)
    -> (n, dim)`` rows, L2-normalised), so a run whose vectors are all cached loads
    no model.
    """

    def __init__(
        self,
        settings: ReaderSettings,
        cache_dir: Path,
        encoder_factory: Callable[[], Any],
        encoder_identity: dict[str, Any] | None = None,
    ) -> None:
        self.settings = settings
        identity = {"settings": asdict(settings), **(encoder_identity or {})}
        key = hashlib.sha256(json.dumps(identity, sort_keys=True, default=str).encode())
        self.folder = Path(cache_dir) / "repo-vectors" / key.hexdigest()[:20]
        self._factory = encoder_factory
        self._encoder: Any = None
        self.dim: int | None = None
        self.embedded_files = 0  # files embedded (not found in the cache) by this reader

    @property
    def encoder(self) -> Any:
        if self._encoder is None:
            self._encoder = self._factory()
        return self._encoder

    def release(self) -> None:
        """Drop the encoder (its memory) once every vector is made."""
        self._encoder = None

    def file_vectors(self, texts: Sequence[str]) -> list[np.ndarray | None]:
        """One vector per text (mean of its windows' embeddings); None for an empty text."""
        keys = [hashlib.sha256(t.encode("utf-8", "surrogatepass")).hexdigest() for t in texts]
        out: list[np.ndarray | None] = [self._cached(k) for k in keys]
        pending = [i for i, t in enumerate(texts) if out[i] is None and t.strip()]
        windows: list[str] = []
        owners: list[int] = []
        for i in pending:
            pieces = chunks(texts[i], self.settings)
            windows += pieces
            owners += [i] * len(pieces)
        if windows:
            embedded = np.asarray(
                self.encoder.encode(windows, role="code", description="embedding repositories")
            )
            owner_array = np.asarray(owners)
            for i in pending:
                vector = embedded[owner_array == i].mean(axis=0).astype(np.float32)
                self._store(keys[i], vector)
                out[i] = vector
                self.embedded_files += 1
        for vector in out:
            if vector is not None:
                self.dim = int(vector.shape[0])
        return out

    def repository_vector(self, root: Path) -> np.ndarray:
        """The vector of the source tree at `root` (its files as `source_files` picks them)."""
        return self.repository_vectors({"": Path(root)})[""]

    def repository_vectors(self, roots: dict[str, Path]) -> dict[str, np.ndarray]:
        """`repository_vector` of many trees, their new files embedded in one pass."""
        texts = {
            name: [
                read_regular_text(Path(root) / p, errors="replace")
                for p in source_files(Path(root), self.settings)
            ]
            for name, root in roots.items()
        }
        return self.vectors_of_file_sets(texts)

    def vectors_of_file_sets(self, sets: dict[str, list[str]]) -> dict[str, np.ndarray]:
        """``[mean ; max]`` of each named set of files (texts), embedded in one pass."""
        flat = [text for texts in sets.values() for text in texts]
        vectors = self.file_vectors(flat)
        out: dict[str, np.ndarray] = {}
        at = 0
        for name, texts in sets.items():
            mine = [v for v in vectors[at : at + len(texts)] if v is not None]
            at += len(texts)
            out[name] = pooled(mine, self._dimension())
        return out

    def _dimension(self) -> int:
        if self.dim is None:
            self.dim = int(np.asarray(self.encoder.encode(["x"], role="code")).shape[1])
        return self.dim

    def _path(self, key: str) -> Path:
        return self.folder / key[:2] / f"{key}.npy"

    def _cached(self, key: str) -> np.ndarray | None:
        path = self._path(key)
        if not path.is_file():
            return None
        try:
            return np.load(path, allow_pickle=False)
        except (OSError, ValueError):
            return None  # a damaged entry is recomputed

    def _store(self, key: str, vector: np.ndarray) -> None:
        buffer = io.BytesIO()
        np.save(buffer, vector, allow_pickle=False)
        atomic.write(self._path(key), buffer.getvalue())


def git_snapshot(root: Path, commit: str, settings: ReaderSettings) -> dict[str, str] | None:
    """{path: text} of the files `choose` keeps from the tree at `commit` of the git
    repository at `root`; None when git cannot tell (no repository, unknown commit).
    ``<sha>^`` of a root commit is the empty tree: {}."""

    def git(*args: str) -> bytes | None:
        try:
            done = subprocess.run(["git", "-C", str(root), *args], capture_output=True, timeout=300)
        except (OSError, subprocess.SubprocessError):
            return None
        return done.stdout if done.returncode == 0 else None

    if not (Path(root) / ".git").exists():
        return None
    resolved = git("rev-parse", "--verify", "--quiet", f"{commit}^{{commit}}")
    if resolved is None:
        exists = git("rev-parse", "--verify", "--quiet", f"{commit.rstrip('^')}^{{commit}}")
        return {} if commit.endswith("^") and exists is not None else None
    listing = git("ls-tree", "-r", "-z", resolved.decode().strip())
    if listing is None:
        return None
    blobs: dict[str, str] = {}
    for line in listing.decode("utf-8", "surrogateescape").split("\0"):
        info, _, path = line.partition("\t")
        if line and info.split()[1] == "blob":
            blobs[path] = info.split()[2]
    files: dict[str, str] = {}
    for path in choose(blobs, settings):
        data = git("cat-file", "blob", blobs[path])
        if data is not None:
            files[path] = data.decode("utf-8", "replace")
    return files
