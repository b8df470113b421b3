"""Rows of a Hugging Face hub dataset through ``datasets``, with what to record about them.

Used only when no ``--data-dir`` is given. Offline (``HF_HUB_OFFLINE`` or
``HF_DATASETS_OFFLINE`` set), or when the hub cannot be reached, the error
says which local files to put where instead. ``datasets`` is imported here,
on use, never when a plugin registers.
"""

from __future__ import annotations

import os
from typing import Any

from harness.errors import HarnessError

_TRUE = {"1", "true", "yes", "on"}


def is_offline() -> bool:
    """True when the environment forbids the hub."""
    return any(
        os.environ.get(name, "").strip().lower() in _TRUE
        for name in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE")
    )


def hub_rows(
    dataset: str,
    hub_id: str,
    *,
    config: str | None,
    split: str,
    revision: str | None,
    files_hint: str,
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The rows of one split of a hub dataset, and ``{hub_id, config, split, revision}``.

    `files_hint` ends every error: what to put in ``--data-dir`` instead.
    """
    if is_offline():
        raise HarnessError(
            f"dataset {dataset}: no --data-dir was given and the hub is offline "
            f"(HF_HUB_OFFLINE/HF_DATASETS_OFFLINE); {files_hint}"
        )
    try:
        import datasets

        loaded = datasets.load_dataset(hub_id, config, split=split, revision=revision)
    except Exception as exc:  # network, missing config or split: all end the same way
        raise HarnessError(
            f"dataset {dataset}: could not load {hub_id!r} (config {config!r}, split {split!r}) "
            f"from the hub: {type(exc).__name__}: {exc}; {files_hint}"
        ) from None
    rows = [dict(row) for row in loaded]
    source = {
        "hub_id": hub_id,
        "config": config,
        "split": split,
        "revision": revision or "main",
        "resolved_revision": _resolved_revision(hub_id, revision),
    }
    return rows, source


def _resolved_revision(hub_id: str, revision: str | None) -> str:
    """The commit the revision pointed at when it was read ("" when that cannot be asked)."""
    try:
        from huggingface_hub import HfApi

        return str(HfApi().dataset_info(hub_id, revision=revision).sha or "")
    except Exception:
        return ""
