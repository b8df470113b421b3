"""MTEB's code retrieval tasks as facts harness needs to read and write MTEB results.

Each entry is what mteb's own ``TaskMetadata`` says of the task (mteb 2.x, the
tasks of the ``MTEB(Code, v1)`` benchmark): the hub dataset it reads, the dataset
revision, the subsets with their languages (ISO 639-3 and script, programming
languages as ``<name>-Code``), and the split it is scored on; all score
``ndcg_at_10``. harness adds two facts of its own: what a task's queries are
(``text``, or ``code`` for code-to-code retrieval: the ``queries`` of the
harness task card a result must come from) and the partition its subset is
called in a harness store (a single-subset task: the
last part of its hub path, as the ``coir`` loader names a ``CoIR-Retrieval``
subset; a per-language task: the language). tests/test_mteb.py checks the table
against mteb's own metadata, so a change there fails a test rather than a
submission. mteb is not imported here: writing and reading results needs no mteb.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from harness.errors import HarnessError

MAIN_SCORE = "ndcg_at_10"
DEFAULT_SUBSET = "default"
"""The subset name mteb gives a task that has one."""

_CSN = ("python", "javascript", "go", "ruby", "java", "php")


@dataclass(frozen=True)
class MTEBTask:
    name: str
    hub_path: str
    revision: str
    subsets: dict[str, tuple[str, ...]]
    """hf_subset -> its languages, as mteb writes them (``eng-Latn``, ``python-Code``)."""
    queries: str = "text"
    """What the task's queries are, as a harness task card says it (``text`` or ``code``)."""
    split: str = "test"

    def partition(self, subset: str) -> str:
        """The harness partition name of one of the task's subsets."""
        return self.hub_path.rsplit("/", 1)[-1] if subset == DEFAULT_SUBSET else subset

    def subset_of(self, partition: str) -> str | None:
        """The subset a harness partition holds (None: none of this task's)."""
        if list(self.subsets) == [DEFAULT_SUBSET]:
            return DEFAULT_SUBSET
        return partition if partition in self.subsets else None


def _languages(names: tuple[str, ...]) -> dict[str, tuple[str, ...]]:
    return {name: (f"{name}-Code",) for name in names}


_TEXT_PY: dict[str, tuple[str, ...]] = {DEFAULT_SUBSET: ("eng-Latn", "python-Code")}
TASKS = {
    t.name: t
    for t in [
        MTEBTask("AppsRetrieval", "CoIR-Retrieval/apps",
                 "f22508f96b7a36c2415181ed8bb76f76e04ae2d5", _TEXT_PY),
        MTEBTask("CodeEditSearchRetrieval", "cassanof/CodeEditSearch",
                 "4e51c66e0939303f6928472f13ad0848b2a3f4c0",
                 _languages(("python", "javascript", "typescript", "go", "ruby", "java", "php",
                             "c", "c++", "rust", "swift", "scala", "shell")), split="train"),
        MTEBTask("CodeFeedbackMT", "CoIR-Retrieval/codefeedback-mt",
                 "b0f12fa0c0dd67f59c95a5c33d02aeeb4c398c5f", {DEFAULT_SUBSET: ("eng-Latn",)}),
        MTEBTask("CodeFeedbackST", "CoIR-Retrieval/codefeedback-st",
                 "d213819e87aab9010628da8b73ab4eb337c89340", {DEFAULT_SUBSET: ("eng-Latn",)}),
        MTEBTask("CodeSearchNetCCRetrieval", "CoIR-Retrieval/CodeSearchNet-ccr",
                 "6e1effa2c03723c5fde48ee912b5ee08d4f211e8", _languages(_CSN), "code"),
        MTEBTask("CodeSearchNetRetrieval", "mteb/CodeSearchNetRetrieval",
                 "68e8f0731a656fa4bd5b7c81936d95ad48a39bfe", _languages(_CSN)),
        MTEBTask("CodeTransOceanContest", "CoIR-Retrieval/codetrans-contest",
                 "20da4eb20a4b17300c0986ee148c90867a7f2a4d",
                 {DEFAULT_SUBSET: ("python-Code", "c++-Code")}, "code"),
        MTEBTask("CodeTransOceanDL", "CoIR-Retrieval/codetrans-dl",
                 "281562cb8a1265ab5c0824bfa6ddcd9b0a15618f",
                 {DEFAULT_SUBSET: ("python-Code",)}, "code"),
        MTEBTask("CosQA", "CoIR-Retrieval/cosqa",
                 "bc5efb7e9d437246ce393ed19d772e08e4a79535", _TEXT_PY),
        MTEBTask("COIRCodeSearchNetRetrieval", "CoIR-Retrieval/CodeSearchNet",
                 "4adc7bc41202b5c13543c9c886a25f340634dab3", _languages(_CSN)),
        MTEBTask("StackOverflowQA", "mteb/StackOverflowQA",
                 "7b46f5ebd2365278c1bb025986dda2fee893bbf5", {DEFAULT_SUBSET: ("eng-Latn",)}),
        MTEBTask("SyntheticText2SQL", "CoIR-Retrieval/synthetic-text2sql",
                 "686b87296c3a0191b5d9415a00526c62db9fce09",
                 {DEFAULT_SUBSET: ("eng-Latn", "sql-Code")}),
    ]
}  # fmt: skip
BY_HUB_PATH = {t.hub_path.lower(): t for t in TASKS.values()}


def task_named(name: str) -> MTEBTask:
    """The task of an MTEB name (exact, else case-insensitive), or a one-line error."""
    found = TASKS.get(name) or {k.lower(): t for k, t in TASKS.items()}.get(name.lower())
    if found is None:
        raise HarnessError(
            f"{name!r} is not an MTEB code retrieval task harness knows "
            f"(known: {', '.join(sorted(TASKS))})"
        )
    return found


def card_queries(task: str) -> str | None:
    """What the queries of harness task `task` are (its card's ``queries``), or None when
    it is no retrieval task (a completion task, an unknown name)."""
    from harness.errors import HarnessError as NotFound
    from harness.plugin_manager import plugins

    try:
        card = plugins().registries["tasks"].get(task).load()
    except NotFound:
        return None
    if getattr(card, "kind", None) != "retrieval":
        return None
    return str(getattr(card, "queries", "text"))


def metric_key(harness_name: str) -> str | None:
    """MTEB's key of a harness ranking metric (``ndcg@10`` -> ``ndcg_at_10``); None for
    one MTEB does not report (``mrr`` over the full ranking has no cutoff)."""
    name, at, cutoff = harness_name.partition("@")
    if not at or not cutoff.isdigit() or name not in {"ndcg", "mrr", "recall", "precision", "map"}:
        return None
    return f"{name}_at_{cutoff}"


def harness_metric(key: str) -> str | None:
    """harness's name of an MTEB score key (``mrr_at_10`` -> ``mrr@10``), else None."""
    name, at, cutoff = key.rpartition("_at_")
    if not at or not cutoff.isdigit() or metric_key(f"{name}@{cutoff}") != key:
        return None
    return f"{name}@{cutoff}"


def hub_paths(dataset: Mapping[str, Any]) -> list[str]:
    """The hub datasets a run read, as its dataset plugin recorded them."""
    found = []
    source = dataset.get("source")
    if isinstance(source, str) and source.startswith("hub:"):
        found.append(source[4:])
    hub = dataset.get("hub")
    for read in hub.values() if isinstance(hub, dict) else []:
        if isinstance(read, dict) and isinstance(read.get("hub_id"), str):
            found.append(read["hub_id"])
    if isinstance(dataset.get("hub_id"), str):
        found.append(dataset["hub_id"])
    return list(dict.fromkeys(found))
