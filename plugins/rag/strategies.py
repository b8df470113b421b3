"""Strategies `rag` and `icl`: the base model, unchanged, with context put before each prefix.

`rag` indexes each evaluated repository once (a one-off cost, recorded as
``index_build`` in the view's ``info["one_off"]``) and retrieves chunks at
every request; `icl` shows other assertions of the repository as
demonstrations and has no one-off cost. Both apply to completion tasks
only: a retrieval task has no prompt to add context to.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from harness.data import CompletionExample
from harness.errors import HarnessError
from harness.plugins.rag.demonstrations import Demonstrations, last_lines, pool_for
from harness.plugins.rag.prompt import Piece
from harness.plugins.rag.settings import icl_settings, rag_settings
from harness.plugins.rag.view import AugmentedLM
from harness.progress import console
from harness.strategy import Strategy, StrategyContext


class Retrieval:
    """The `rag` context source: the chunks of one repository's index nearest the query."""

    label = "retrieved"

    def __init__(self, index: Any, encoder: Any, *, k: int, query_lines: int) -> None:
        self.index, self.encoder = index, encoder
        self.k, self.query_lines = k, query_lines

    def rank(
        self, prefixes: Sequence[str], examples: Sequence[Sequence[CompletionExample]]
    ) -> list[list[Piece]]:
        queries = [last_lines(prefix, self.query_lines) for prefix in prefixes]
        vectors = self.encoder.encode(queries, role="query", description="retrieving")
        excluded = [{e.test_file for e in group if e.test_file} for group in examples]
        # a few spares: a chunk that does not fit the budget is skipped
        found = self.index.search(vectors, 4 * self.k, excluded)
        chunks = self.index.chunks
        return [[Piece(chunks[i].id, chunks[i].prompt_text()) for i in row] for row in found]


class AddedContext(Strategy):
    """The base model with context before each prefix; `read_settings` reads the options."""

    task_kinds = ("completion",)
    read_settings: Callable[[dict[str, Any]], Any]

    def __init__(self, context: StrategyContext) -> None:
        super().__init__(context)
        self.settings = type(self).read_settings(context.options)

    def config(self, dataset: Any = None) -> dict[str, Any]:
        return {"name": self.name, "settings": self.settings.identity()}


class RetrievalAugmented(AddedContext):
    """Top-k chunks of the repository's code, retrieved for the prefix, before it."""

    name = "rag"
    read_settings = staticmethod(rag_settings)
    _encoder: Any = None  # built on first use

    def encoder(self) -> Any:
        """The retrieval encoder, built on first use and shared by every partition."""
        if self._encoder is None:
            from harness.encoder import EncoderOptions

            found = self.context.registries["encoders"].get(self.settings.encoder, "encoder")
            if found.entry.meta.get("kind") == "causal-lm":
                raise HarnessError(
                    f"strategy rag: option encoder {self.settings.encoder!r} is a causal LM; "
                    "retrieval needs an embedding encoder (e.g. minilm)"
                )
            options = EncoderOptions(
                device=self.context.device,
                max_length=self.settings.encoder_max_length,
                cache_dir=self.context.cache_dir,
            )
            self._encoder = found.load()(found.argument, options)
        return self._encoder

    def index_for(self, partition: Any) -> Any:
        """The partition's chunk index: from the cache, or built (the one-off cost)."""
        from harness.plugins.rag.chunks import repository_chunks
        from harness.plugins.rag.index import load_or_build

        if partition.root is None:
            raise HarnessError(
                f"strategy rag: repository {partition.name!r} comes without its source tree "
                "(the dataset ships no files to retrieve from); use a dataset mined from "
                "source, e.g. --dataset local"
            )
        s = self.settings
        chunks = repository_chunks(
            partition.root, [e.test_file for e in partition.eval if e.test_file],
            include_tests=s.include_tests, max_file_bytes=s.max_file_bytes,
            lines=s.chunk_lines, overlap=s.chunk_overlap, max_chunks=s.max_chunks,
        )  # fmt: skip
        encoder = self.encoder()
        identity = {"encoder": s.encoder, "encoder_info": dict(getattr(encoder, "info", {})),
                    "chunking": [s.chunk_lines, s.chunk_overlap, s.include_tests]}  # fmt: skip
        index = load_or_build(
            self.context.cache_dir, partition.root, chunks, encoder, identity,
            description=f"indexing {partition.name}",
        )  # fmt: skip
        state = "cached, built in" if index.cached else "built in"
        console().print(
            f"rag index {partition.name}: {len(index.chunks)} chunks of "
            f"{len({c.path for c in index.chunks})} files, {state} {index.build_s:.1f} s"
        )
        return index

    def model_for(self, model: Any, partition: Any) -> Any:
        s = self.settings
        index = self.index_for(partition)
        info = {
            "strategy": "rag",
            "retrieval_encoder": s.encoder,
            "index": {"key": index.key, "chunks": len(index.chunks), "cached": index.cached},
            "one_off": [{"what": "index_build", "key": index.key, "seconds": index.build_s}],
        }
        source = Retrieval(index, self.encoder(), k=s.k, query_lines=s.query_lines)
        return AugmentedLM(model, partition.eval, source, k=s.k, budget=s.budget, info=info)


class InContext(AddedContext):
    """Other assertions of the same repository, with their answers, before the prefix."""

    name = "icl"
    read_settings = staticmethod(icl_settings)
    _protocol = "cross"  # the dataset's, once prepared

    def prepare(self, model: Any, dataset: Any) -> None:
        self._protocol = str(getattr(dataset, "protocol", "cross"))

    def model_for(self, model: Any, partition: Any) -> Any:
        s = self.settings
        pool = pool_for(partition, self._protocol)
        source = Demonstrations(
            pool, k=s.k, query_lines=s.query_lines, demo_lines=s.demo_lines,
            select=s.select, seed=self.context.seed,
        )  # fmt: skip
        info = {
            "strategy": "icl",
            "demonstration_pool": "in-repo train" if self._protocol == "in" else "other examples",
            "pool_size": len(pool),
        }
        return AugmentedLM(model, partition.eval, source, k=s.k, budget=s.budget, info=info)
