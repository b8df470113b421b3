"""Plugin: lexical retrieval models, fitted on the corpus they rank (``bm25``).

Registering imports neither bm25s nor torch: the target and its options are lazy.
"""

from __future__ import annotations

from typing import Any

from harness.hookspecs import hookimpl


@hookimpl
def harness_register_encoders(register: Any) -> None:
    # kind "encoder": the retrieval task kind scores it (harness.encoder.Retriever) and a
    # completion task refuses it; trainable=False: a strategy that trains the model's
    # weights (trains_model) refuses it before any data is read
    register(
        "bm25",
        "harness.plugins.lexical.bm25:build",
        "BM25 (bm25s, Lucene's variant) over code-aware words, fitted on the corpus it ranks",
        kind="encoder",
        trainable=False,
        options="harness.plugins.lexical.bm25:OPTIONS",
        audit_baseline=True,  # harness data audit's saturation check scores it by default
    )
