"""What ``harness data mine`` and ``harness data mine-rc`` share: their parser's first
arguments and the rule that tells apart two trees of one folder name."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")


def mine_parser(sub: Any, name: str, summary: str, doc: str | None, paths: str) -> Any:
    """A ``data`` subcommand reading PATHs and writing ``--out DIR``; its description is the
    second paragraph of the module's docstring `doc`."""
    parser = sub.add_parser(
        name,
        help=summary,
        description=doc.split("\n\n")[1].replace("\n", " ") if doc else None,
    )
    parser.add_argument("paths", nargs="*", type=Path, metavar="PATH", help=paths)
    parser.add_argument("--out", type=Path, required=True, metavar="DIR", help="output folder")
    return parser


def renamed_apart(items: list[T], field: str) -> list[T]:
    """`items` (dataclasses) with their `field` renamed ``name-2``, ``name-3``... where two
    share one, so that two trees of one folder name stay two repositories."""
    seen: dict[str, int] = {}
    unique = []
    for item in items:
        name = getattr(item, field)
        seen[name] = seen.get(name, 0) + 1
        count = seen[name]
        if count > 1:
            item = dataclasses.replace(item, **{field: f"{name}-{count}"})  # type: ignore[type-var]
        unique.append(item)
    return unique
