"""What the data plugins share: the ``local`` loader picks its data by the task card's
kind, a mined folder is published whole, and the completion loaders narrow alike."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from harness.atomic import publishing
from harness.data import CompletionDataset, CompletionExample, DatasetOptions, RetrievalDataset
from harness.errors import HarnessError
from harness.plugin_manager import plugins
from harness.plugins.datasets.completion_common import check_split, partitioned
from harness.plugins.local_dataset import loader

TREE = Path(__file__).parent / "fixtures" / "local_tree"


@pytest.fixture
def renamed_tasks() -> Iterator[None]:
    """The t2c and rc cards registered again under names no code knows."""
    tasks = plugins().tasks
    saved = tasks.snapshot()
    for name, new in (("t2c", "doc-search"), ("rc", "fill-assertions")):
        card = dataclasses.replace(tasks.get(name).load(), name=new)
        tasks.register(new, card, "a renamed card", plugin="tests", kind=card.kind)
    yield
    tasks.restore(saved)


def test_the_local_data_follows_the_task_kind_not_its_name(
    renamed_tasks: None, tmp_path: Path
) -> None:
    fractions = {"test_fraction": 0.5, "valid_fraction": 0.2, "workers": 1}
    pairs = loader.load_local(
        DatasetOptions(task="doc-search", cache_dir=tmp_path, data_dir=TREE, extra=fractions)
    )
    assert isinstance(pairs, RetrievalDataset) and "protocol" not in pairs.meta
    repo = tmp_path / "repos" / "solo" / "tests"
    repo.mkdir(parents=True)
    lines = ["def test_solo():"] + [f"    assert f({i}) == {i * 7}" for i in range(12)]
    (repo / "test_solo.py").write_text("\n".join(lines) + "\n")
    options = DatasetOptions(
        task="fill-assertions",
        cache_dir=tmp_path,
        data_dir=tmp_path / "repos" / "solo",
        split="cr_test",
        extra={"min_per_repo": 1},
    )
    assert isinstance(loader.load_local(options), CompletionDataset)


def publish_folder(folder: Path, fill: Callable[[Path], None]) -> None:
    """A mined dataset's folder, as the loaders publish it (named by a hash, meta.json last)."""
    with publishing(folder, keep="meta.json") as temporary:
        fill(temporary)


def test_a_folder_is_published_whole_or_not_at_all(tmp_path: Path) -> None:
    folder = tmp_path / "data"

    def broken(temporary: Path) -> None:
        (temporary / "part.jsonl").write_text("{}\n")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        publish_folder(folder, broken)
    assert list(tmp_path.iterdir()) == []  # no folder, no temporary left

    folder.mkdir()
    (folder / "half.jsonl").write_text("{}\n")  # a crash's leftover: no meta.json

    def whole(temporary: Path) -> None:
        (temporary / "meta.json").write_text('{"n": 1}\n')

    publish_folder(folder, whole)
    assert sorted(p.name for p in folder.iterdir()) == ["meta.json"]

    def other(temporary: Path) -> None:
        (temporary / "meta.json").write_text('{"n": 2}\n')

    publish_folder(folder, other)  # another process published first: kept as it is
    assert (folder / "meta.json").read_text() == '{"n": 1}\n'


def test_completion_loaders_refuse_an_unknown_split_and_repository() -> None:
    with pytest.raises(HarnessError, match="dataset x: unknown split 'valid'"):
        check_split("valid", "dataset x")
    examples = [
        CompletionExample(f"{repo}:{i}", repo, "assert f() == ", "1", cross_repo_split="cr_test")
        for repo in ("a", "b")
        for i in range(3)
    ]
    kept = partitioned(
        "x", examples, "cr_test", commits={}, meta={}, repos=["b"], limit=2, what="x", where="w"
    )
    assert list(kept.partitions) == ["b"] and len(kept.partitions["b"].eval) == 2
    with pytest.raises(HarnessError, match="'c' is not a repository of the cr_test split"):
        partitioned(
            "x", examples, "cr_test", commits={}, meta={}, repos=["c"], limit=None, what="x",
            where="w",
        )  # fmt: skip
