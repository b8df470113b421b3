"""The options of strategies `rag` and `icl` (``--set strategy.NAME=VALUE``).

Both:

- ``k`` (4): at most this many retrieved chunks or demonstrations;
- ``budget`` (half the prompt limit): the most prompt tokens the added
  context may take away from the prefix (see
  :func:`harness.plugins.rag.prompt.assemble`); it must be below the prompt
  limit (the task's ``context_tokens``, or less for a model with fewer
  positions);
- ``query_lines`` (10): the last N lines of the prefix are the query.

`rag` only:

- ``encoder`` (``minilm``): a registered embedding encoder (any name
  ``harness list`` shows under encoders, ``hf:<path>`` included);
- ``encoder_max_length`` (256): tokens per chunk the encoder reads;
- ``chunk_lines`` (20), ``chunk_overlap`` (5): chunks of N lines, each
  sharing M lines with the one before;
- ``max_chunks`` (1000): chunks indexed per repository, files taken in
  :func:`harness.plugins.rag.chunks.indexed_files` order;
- ``max_file_bytes`` (500000): larger files are not indexed;
- ``include_tests`` (false): index the repository's test files too (the
  evaluated example's own test file is never retrieved from either way).

`icl` only:

- ``demo_lines`` (4): a demonstration shows the last N lines of its prefix
  and its target;
- ``select`` (``similar``): ``similar`` ranks the pool by word overlap with
  the query, ``random`` draws a seeded order per example.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

from harness.errors import HarnessError
from harness.options import from_dataclass
from harness.plugins.adapters.settings import check_at_least, check_choices, check_names, coerce

SELECTIONS = ("similar", "random")


@dataclass(frozen=True)
class RagSettings:
    k: int = 4
    budget: int | None = None  # half the prompt limit
    query_lines: int = 10
    encoder: str = "minilm"
    encoder_max_length: int = 256
    chunk_lines: int = 20
    chunk_overlap: int = 5
    max_chunks: int = 1000
    max_file_bytes: int = 500_000
    include_tests: bool = False

    def identity(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class IclSettings:
    k: int = 4
    budget: int | None = None  # half the prompt limit
    query_lines: int = 10
    demo_lines: int = 4
    select: str = "similar"

    def identity(self) -> dict[str, Any]:
        return asdict(self)


def _settings(strategy: str, cls: Any, options: dict[str, Any]) -> Any:
    defaults = {f.name: f.default for f in fields(cls)}
    check_names(options, defaults, owner=strategy)
    where = f"strategy {strategy}: option {{name}}"
    settings = cls(**{
        name: coerce(where.format(name=name), value, 0 if name == "budget" else defaults[name])
        for name, value in options.items()
    })  # fmt: skip
    check_at_least(settings, ("k", "budget", "query_lines"), 1, where)
    return settings


def rag_settings(options: dict[str, Any]) -> RagSettings:
    """The defaults overridden by `options`; a bad name or value is a one-line HarnessError."""
    settings: RagSettings = _settings("rag", RagSettings, options)
    at_least_one = ("encoder_max_length", "chunk_lines", "max_chunks", "max_file_bytes")
    check_at_least(settings, at_least_one, 1, "strategy rag: option {name}")
    if not 0 <= settings.chunk_overlap < settings.chunk_lines:
        raise HarnessError(
            "strategy rag: option chunk_overlap must be at least 0 and below chunk_lines "
            f"({settings.chunk_lines}), not {settings.chunk_overlap}"
        )
    return settings


def icl_settings(options: dict[str, Any]) -> IclSettings:
    """The defaults overridden by `options`; a bad name or value is a one-line HarnessError."""
    settings: IclSettings = _settings("icl", IclSettings, options)
    where = "strategy icl: option {name}"
    check_at_least(settings, ("demo_lines",), 1, where)
    check_choices(settings, {"select": SELECTIONS}, where)
    return settings


# what `--set strategy.*` accepts for each strategy (harness.options)
RAG_OPTIONS = from_dataclass(RagSettings)
ICL_OPTIONS = from_dataclass(IclSettings)
