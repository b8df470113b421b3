"""The `local` dataset: pairs mined from tests/fixtures/local_tree, split, cached, loaded.

Expected pairs are read off the fixture by hand (see the comments in its
files); expected splits come from the documented formula, recomputed here with
hashlib.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from harness.data import DatasetOptions, RetrievalDataset
from harness.errors import HarnessError, InputError
from harness.plugins.local_dataset import csn_format, harness_register_datasets, loader, mining
from harness.plugins.local_dataset.c_miner import c_pairs, language_of
from harness.plugins.local_dataset.python_miner import python_pairs
from harness.plugins.local_dataset.sources import is_minable, tree_source

FIXTURE = Path(__file__).parent / "fixtures" / "local_tree"

# After deduplication: text_utils.shout repeats pkg/strings.shout's code (whitespace aside)
# and text_utils.murmur repeats pkg/strings.whisper's query (case and final period aside);
# pkg/ sorts before text_utils.py, so pkg/strings.py keeps both.
EXPECTED = {
    "python": {
        "geometry.py#L6",  # rectangle_area
        "geometry.py#L44",  # Polygon.__init__
        "geometry.py#L55",  # Polygon.corner_count
        "pkg/strings.py#L6",  # shout
        "pkg/strings.py#L12",  # whisper
        "text_utils.py#L16",  # fetch_words
    },
    "c": {"include/vec.h#L18", "include/vec.h#L22", "include/vec.h#L25", "include/vec.h#L28"},
    "cpp": {
        "include/engine.hpp#L7",
        "include/engine.hpp#L12",
        "include/engine.hpp#L18",
        "include/engine.hpp#L27",
    },
}
# Wide test and valid shares so that five files fill all three splits.
FRACTIONS = {"test_fraction": 0.4, "valid_fraction": 0.3}


def expected_split(relative_path: str, seed: int, test: float = 0.4, valid: float = 0.3) -> str:
    digest = hashlib.sha256(f"{seed}:local_tree/{relative_path}".encode()).digest()
    h = int.from_bytes(digest[:8], "big") / 2**64
    return "test" if h < test else "valid" if h < test + valid else "train"


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A copy of the fixture tree plus a Python 2 file that does not parse."""
    root = tmp_path / "local_tree"
    shutil.copytree(FIXTURE, root, ignore=shutil.ignore_patterns("__pycache__"))
    (root / "legacy.py").write_text(
        'def greet(name):\n    """Print a greeting in Python 2."""\n    message = "hi " + name\n'
        "    print message\n"
    )
    return root


def load(tree: Path, cache: Path, **kwargs: object) -> RetrievalDataset:
    extra = {**FRACTIONS, "workers": 1, **kwargs.pop("extra", {})}  # type: ignore[dict-item]
    options = DatasetOptions(
        task="t2c", cache_dir=cache, data_dir=tree, seed=3, extra=extra, **kwargs
    )
    return loader.load_local(options)


def ids(urls: object) -> set[str]:
    return {str(url).removeprefix("local://local_tree/") for url in urls}  # type: ignore[attr-defined]


# ---------------------------------------------------------------- Python miner


def test_python_pairs_of_geometry_keep_documented_non_trivial_functions() -> None:
    pairs = python_pairs((FIXTURE / "geometry.py").read_bytes(), repo="r", path="geometry.py")
    # dropped: circle_area (no docstring), perimeter (2-word docstring), scale (body only
    # raises NotImplementedError), square_area (2 lines of code), __repr__ (dunder)
    assert [(p.func_name, p.line, p.query) for p in pairs] == [
        ("rectangle_area", 6, "Return the area of a rectangle."),
        ("__init__", 44, "Store the corner points of the polygon."),
        ("corner_count", 55, "Count the corners of this polygon."),
    ]


def test_python_docstring_is_removed_and_the_rest_of_the_body_kept_verbatim() -> None:
    pairs = python_pairs((FIXTURE / "text_utils.py").read_bytes(), repo="r", path="t.py")
    fetch = next(p for p in pairs if p.func_name == "fetch_words")
    assert fetch.query == "Read up to `limit` words from an asynchronous source."
    assert fetch.code == (
        "async def fetch_words(source, limit=10):\n"
        "    words = []\n"
        "    async for word in source:\n"
        "        # this comment and the blank line below stay\n"
        "\n"
        "        words.append(word)\n"
        "        if len(words) >= limit:\n"
        "            break\n"
        "    return words"
    )
    assert "second paragraph" in fetch.original_string
    assert "second paragraph" not in fetch.code and '"""' not in fetch.code


def test_python_methods_are_dedented_and_decorators_left_out() -> None:
    pairs = python_pairs((FIXTURE / "geometry.py").read_bytes(), repo="r", path="geometry.py")
    corner = next(p for p in pairs if p.func_name == "corner_count")
    assert corner.code == "def corner_count(self):\n    count = len(self.points)\n    return count"


def test_python_file_that_does_not_parse_gives_no_pairs() -> None:
    python2 = b'def f():\n    """Say it twice now."""\n    print "x"\n'
    assert python_pairs(python2, repo="r", path="x.py") == []


def test_python_docstring_sharing_a_line_with_code_is_skipped() -> None:
    source = b'def f(x):\n    """Double the value given."""; y = x\n    z = y * 2\n    return z\n'
    assert python_pairs(source, repo="r", path="x.py") == []


# ---------------------------------------------------------------- C/C++ miner


def test_c_doc_comments_of_every_style_become_queries() -> None:
    pairs = c_pairs((FIXTURE / "include/vec.h").read_bytes(), repo="r", path="include/vec.h")
    # dropped: vec_print (2 words), vec_zero (blank line before it), vec_reset (the comment
    # ends the line of vec_count), vec_normalize (TODO), vec_metric (a function pointer)
    scale = "Scale a vector by a scalar factor. The vector itself is not modified."
    assert [(p.func_name, p.line, p.language, p.query) for p in pairs] == [
        ("vec_add", 18, "c", "Add two vectors component by component."),
        ("vec_scale", 22, "c", scale),
        ("vec_dot", 25, "c", "Compute the dot product of two vectors."),
        ("vec_length", 28, "c", "Return the length of the vector v."),
    ]


def test_c_comment_is_removed_from_the_code() -> None:
    pairs = c_pairs((FIXTURE / "include/vec.h").read_bytes(), repo="r", path="include/vec.h")
    length = next(p for p in pairs if p.func_name == "vec_length")
    assert length.code == (
        "static inline double vec_length(vec2 v)\n{\n    return sqrt(vec_dot(v, v));\n}"
    )
    assert length.original_string == "/* Return the length of the vector v. */\n" + length.code
    for pair in pairs:
        assert "/*" not in pair.code and "//" not in pair.code
        assert pair.original_string.endswith(pair.code)


def test_cpp_members_templates_and_export_macros() -> None:
    source = (FIXTURE / "include/engine.hpp").read_bytes()
    pairs = c_pairs(source, repo="r", path="include/engine.hpp")
    # dropped: the deleted copy constructor; `///<` documents gear_, not gear()
    assert [(p.func_name, p.line, p.language, p.query) for p in pairs] == [
        ("start", 7, "cpp", "Start the engine with the given configuration name."),
        ("shift", 12, "cpp", "Shift to the given gear, clamping to the valid range."),
        ("gear", 18, "cpp", "Current gear as reported by the sensor."),
        ("for_each_gear", 27, "cpp", "Apply a function to every gear in turn."),
    ]
    shift = pairs[1]
    assert shift.code == "void shift(int gear) {\n  gear_ = gear < 0 ? 0 : gear;\n}"
    assert pairs[3].code == "template <typename Fn>\nvoid for_each_gear(Fn fn);"


def test_header_language_is_read_from_its_content() -> None:
    assert language_of("a.h", b"int f(void);\n") == "c"
    assert language_of("a.h", b"namespace x {\nint f();\n}\n") == "cpp"
    assert language_of("a.c", b"") == "c"
    assert language_of("a.hpp", b"") == "cpp"
    assert language_of("a.txt", b"") is None


# ---------------------------------------------------------------- sources


def test_test_files_stubs_and_other_suffixes_are_never_mined() -> None:
    source = tree_source(FIXTURE)
    assert source.repo == "local_tree"
    assert source.files == (
        "geometry.py",
        "include/engine.hpp",
        "include/vec.h",
        "pkg/__init__.py",
        "pkg/strings.py",
        "text_utils.py",
    )
    assert not is_minable("lib/conftest.py") and not is_minable("x/testing/util.py")


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_a_git_checkout_contributes_its_tracked_files_only(tree: Path) -> None:
    def git(*args: str) -> None:
        subprocess.run(["git", "-C", str(tree), *args], check=True, capture_output=True)

    git("init", "-q")
    git("add", "geometry.py", "include/vec.h")
    assert tree_source(tree).files == ("geometry.py", "include/vec.h")


# ---------------------------------------------------------------- loading


def test_splits_are_disjoint_by_file_and_follow_the_seeded_hash(tree: Path, tmp_path: Path) -> None:
    folder = Path(load(tree, tmp_path / "cache").meta["cache_dir"])
    found: dict[tuple[str, str], set[str]] = {}
    for language in EXPECTED:
        for split in ("train", "valid", "test"):
            records = csn_format.read_jsonl(folder / language / f"{split}.jsonl")
            found[(language, split)] = ids(r["url"] for r in records)
            assert {r["partition"] for r in records} <= {split}
    for language, urls in EXPECTED.items():
        for split in ("train", "valid", "test"):
            want = {u for u in urls if expected_split(u.split("#")[0], seed=3) == split}
            assert found[(language, split)] == want, (language, split)
    files_of = {
        split: {u.split("#")[0] for (_, s), urls in found.items() if s == split for u in urls}
        for split in ("train", "valid", "test")
    }
    assert not files_of["train"] & files_of["test"]
    assert not files_of["train"] & files_of["valid"]
    assert not files_of["valid"] & files_of["test"]
    # seed 3 by hand: geometry.py and vec.h test, pkg/strings.py valid, the rest train
    assert found[("python", "test")] == {"geometry.py#L6", "geometry.py#L44", "geometry.py#L55"}


def test_load_builds_partitions_with_eval_train_and_valid(tree: Path, tmp_path: Path) -> None:
    dataset = load(tree, tmp_path / "cache")
    # cpp has no test pairs for seed 3 (engine.hpp is train): no cpp partition
    assert sorted(dataset.partitions) == ["c", "python"]
    python = dataset.partitions["python"]
    assert ids(python.eval.queries) == {"geometry.py#L6", "geometry.py#L44", "geometry.py#L55"}
    assert python.eval.corpus.keys() == python.eval.queries.keys()
    assert all(python.eval.qrels[q] == {q: 1} for q in python.eval.queries)
    url = "local://local_tree/geometry.py#L6"
    assert python.eval.queries[url] == "Return the area of a rectangle."
    assert python.eval.corpus[url].startswith("def rectangle_area(width, height):\n    if width")
    assert [(p.query, p.group) for p in python.train] == [
        ("Read up to `limit` words from an asynchronous source.", "local_tree/text_utils.py")
    ]
    assert python.valid is not None and ids(python.valid.queries) == {
        "pkg/strings.py#L6",
        "pkg/strings.py#L12",
    }
    meta = dataset.meta
    assert meta["seed"] == 3 and meta["miner_version"] == loader.MINER_VERSION
    assert meta["source_roots"] == [str(tree.resolve())]
    assert meta["sizes"]["python"] == {"test": 3, "train": 1, "valid": 2}
    assert meta["cache_key"] == Path(meta["cache_dir"]).name


def test_records_are_codesearchnet_jsonl(tree: Path, tmp_path: Path) -> None:
    folder = Path(load(tree, tmp_path / "cache").meta["cache_dir"])
    lines = (folder / "c" / "test.jsonl").read_text(encoding="utf-8").splitlines()
    records = [json.loads(line) for line in lines]
    assert len(records) == 4
    for record in records:
        assert tuple(record) == csn_format.FIELDS
        assert record["repo"] == "local_tree" and record["path"] == "include/vec.h"
        assert record["language"] == "c" and record["partition"] == "test"
        assert record["url"].startswith("local://local_tree/include/vec.h#L")
        assert record["docstring_tokens"][0] == record["docstring"].split()[0]
        assert record["original_string"].endswith(record["code"])


def test_same_seed_gives_identical_files_and_another_seed_another_cache(
    tree: Path, tmp_path: Path
) -> None:
    first = Path(load(tree, tmp_path / "one").meta["cache_dir"])
    second = Path(load(tree, tmp_path / "two").meta["cache_dir"])
    assert first.name == second.name
    names = sorted(p.relative_to(first) for p in first.rglob("*") if p.is_file())
    assert names == sorted(p.relative_to(second) for p in second.rglob("*") if p.is_file())
    for name in names:
        assert (first / name).read_bytes() == (second / name).read_bytes(), name
    options = DatasetOptions(
        task="t2c", cache_dir=tmp_path / "one", data_dir=tree, seed=2, extra={**FRACTIONS}
    )
    other = loader.load_local(options)
    assert other.meta["cache_key"] != first.name


def test_second_load_reads_the_cache_without_mining(
    tree: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = load(tree, tmp_path / "cache")

    def no_mining(*args: object, **kwargs: object) -> None:
        raise AssertionError("mined again")

    monkeypatch.setattr(loader, "mine_and_choose", no_mining)
    second = load(tree, tmp_path / "cache")
    assert second.meta == first.meta
    assert second.partitions["python"].eval.queries == first.partitions["python"].eval.queries
    with pytest.raises(AssertionError, match="mined again"):  # other settings: other key
        load(tree, tmp_path / "cache", extra={"max_test": 2})


def test_a_crash_while_writing_leaves_no_cache(
    tree: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken_write(path: Path, records: object) -> int:
        raise OSError("disk full")

    monkeypatch.setattr(csn_format, "write_jsonl", broken_write)
    with pytest.raises(OSError, match="disk full"):
        load(tree, tmp_path / "cache")
    assert list((tmp_path / "cache" / "local").iterdir()) == []
    monkeypatch.undo()
    assert load(tree, tmp_path / "cache").partitions["python"].eval.queries


def test_limit_takes_the_first_queries_and_keeps_the_corpus(tree: Path, tmp_path: Path) -> None:
    full = load(tree, tmp_path / "cache").partitions["python"].eval
    limited = load(tree, tmp_path / "cache", limit=2).partitions["python"].eval
    assert list(limited.queries) == list(full.queries)[:2]
    assert limited.qrels.keys() == limited.queries.keys()
    assert limited.corpus == full.corpus  # every query still ranks among the whole split
    again = load(tree, tmp_path / "cache", limit=2).partitions["python"].eval
    assert list(again.queries) == list(limited.queries)


def test_languages_and_split_choose_partitions(tree: Path, tmp_path: Path) -> None:
    only_c = load(tree, tmp_path / "cache", languages=["c"])
    assert list(only_c.partitions) == ["c"] and len(only_c.partitions["c"].eval) == 4
    on_train = load(tree, tmp_path / "cache", split="train", languages=["cpp"])
    assert ids(on_train.partitions["cpp"].eval.queries) == EXPECTED["cpp"]
    on_valid = load(tree, tmp_path / "cache", split="valid", languages=["python"])
    assert len(on_valid.partitions["python"].eval) == 2
    assert on_valid.partitions["python"].valid is None  # not also offered for tuning


def test_unknown_or_empty_language_and_bad_options_raise(tree: Path, tmp_path: Path) -> None:
    with pytest.raises(HarnessError, match=r"unknown language 'cobol' \(known: python, go"):
        load(tree, tmp_path / "cache", languages=["cobol"])
    with pytest.raises(HarnessError, match=r"'cpp'.*known: python, c; others"):
        load(tree, tmp_path / "cache", languages=["cpp"], extra={"languages": "c,python"})
    with pytest.raises(HarnessError, match=r"no go pairs in the test split"):
        load(tree, tmp_path / "cache", languages=["go"])
    with pytest.raises(HarnessError, match=r"no cpp pairs in the test split"):
        load(tree, tmp_path / "cache", languages=["cpp"])
    with pytest.raises(HarnessError, match=r"unknown option 'max_tset'.*max_test"):
        load(tree, tmp_path / "cache", extra={"max_tset": 5})
    with pytest.raises(HarnessError, match=r"max_test must be a number"):
        load(tree, tmp_path / "cache", extra={"max_test": "many"})
    with pytest.raises(HarnessError, match=r"unknown split 'dev'"):
        load(tree, tmp_path / "cache", split="dev")


def test_sizes_cap_each_split_with_a_seeded_sample(tree: Path, tmp_path: Path) -> None:
    dataset = load(tree, tmp_path / "cache", extra={"max_test": 2, "max_train": 0})
    python = dataset.partitions["python"]
    assert len(python.eval) == 2 and python.train == []
    assert ids(python.eval.queries) < {"geometry.py#L6", "geometry.py#L44", "geometry.py#L55"}


# ---------------------------------------------------------------- mining


def test_mining_reads_nothing_without_quota_and_is_the_same_on_two_processes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sources = [tree_source(FIXTURE)]
    settings = dict(seed=3, valid_fraction=0.3, test_fraction=0.4, max_files=100)
    quota = {"train": 10, "valid": 10, "test": 10}
    none, report = mining.mine(
        sources, quota={"train": 0, "valid": 0, "test": 0}, max_file_bytes=10**6, **settings
    )
    assert none == [] and sum(report.files_read.values()) == 0
    alone, _ = mining.mine(sources, quota=quota, max_file_bytes=10**6, workers=1, **settings)
    monkeypatch.setattr(mining, "MIN_FILES_FOR_WORKERS", 0)
    pooled, _ = mining.mine(sources, quota=quota, max_file_bytes=10**6, workers=2, **settings)
    assert pooled == alone and len(alone) == 16  # every pair of the tree, duplicates included
    small, report = mining.mine(sources, quota=quota, max_file_bytes=100, **settings)
    assert small == [] and report.files_read == {"python": 1}  # only pkg/__init__.py is small


def test_mining_with_batches_in_flight_keeps_what_one_process_keeps(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Languages close part-way (small quotas, many small batches): the batch submitted
    before the previous one was kept must not change which files count or which pairs stay."""
    for index in range(120):
        words = f"compute the checksum number {index} of the given record"
        (tmp_path / f"mod{index:03d}.py").write_text(
            f'def check_{index}(record):\n    """{words.capitalize()}."""\n'
            f"    total = hash(record)\n    return total + {index}\n",
            encoding="utf-8",
        )
    sources = [tree_source(tmp_path)]
    settings = dict(seed=5, valid_fraction=0.2, test_fraction=0.3, max_files=1000)
    quota = {"train": 20, "valid": 6, "test": 9}
    monkeypatch.setattr(mining, "FILES_PER_WORKER_BATCH", 3)
    alone, alone_report = mining.mine(
        sources, quota=quota, max_file_bytes=10**6, workers=1, **settings
    )
    monkeypatch.setattr(mining, "MIN_FILES_FOR_WORKERS", 0)
    pooled, pooled_report = mining.mine(
        sources, quota=quota, max_file_bytes=10**6, workers=2, **settings
    )
    assert pooled == alone
    assert pooled_report.as_dict() == alone_report.as_dict()
    # the quotas closed python before the last file: HEADROOM (10%) above 20 + 6 + 9
    read = alone_report.files_read["python"]
    assert sum(-(-n * 11 // 10) for n in quota.values()) == read < 120
    assert len(alone) == read  # one pair per file read, each distinct


def test_csn_reader_names_the_file_and_line_of_a_bad_record(tmp_path: Path) -> None:
    path = tmp_path / "test.jsonl"
    path.write_text('{"repo": "x"}\n', encoding="utf-8")
    with pytest.raises(InputError, match=r"test.jsonl:1: missing fields path"):
        csn_format.read_jsonl(path)
    path.write_text("\n{not json\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"test.jsonl:2: not JSON"):
        csn_format.read_jsonl(path)


# ---------------------------------------------------------------- registration


def test_registers_local_lazily_without_heavy_imports() -> None:
    calls: list[tuple[tuple[object, ...], dict[str, object]]] = []
    harness_register_datasets(register=lambda *args, **kwargs: calls.append((args, kwargs)))
    (name, target, description), meta = calls[0]
    assert name == "local" and target == "harness.plugins.local_dataset.loader:load_local"
    assert meta == {
        "tasks": ["t2c", "c2c", "rc"],
        "languages": ["python", "c", "cpp"],
        "options": "harness.plugins.local_dataset.settings:DECLARED",
        # its sub-commands of the core's `harness data` (mine, mine-rc), lazily too
        "data_commands": "harness.plugins.local_dataset.mine_command:add_data_commands",
    }
    code = (
        "import sys, harness.plugins.local_dataset\n"
        "heavy = [m for m in ('torch', 'tree_sitter', 'rich') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# ---------------------------------------------------------------- this machine


@pytest.mark.slow
def test_default_sources_give_python_and_c_family_pairs(tmp_path: Path) -> None:
    extra = {"max_test": 50, "max_valid": 10, "max_train": 100}
    options = DatasetOptions(task="t2c", cache_dir=tmp_path, extra=extra)
    dataset = loader.load_local(options)
    assert len(dataset.partitions["python"].eval) == 50
    assert "stdlib" in {source.repo for source in loader.default_sources()}
    assert any(len(dataset.partitions[lang].eval) == 50 for lang in ("c", "cpp"))


@pytest.mark.slow
def test_default_sizes_reach_a_thousand_test_pairs(tmp_path: Path) -> None:
    dataset = loader.load_local(DatasetOptions(task="t2c", cache_dir=tmp_path))
    sizes = dataset.meta["sizes"]
    assert sizes["python"]["test"] == 1000
    assert max(sizes[lang]["test"] for lang in ("c", "cpp") if lang in sizes) == 1000
