"""Strategies `rag` and `icl`: what they retrieve or show, the prompt budget, token counts,
refusal for retrieval tasks."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.data import CompletionExample, CompletionPartition
from harness.errors import HarnessError
from harness.plugins.rag.chunks import (
    chunk_lines,
    imported_modules,
    indexed_files,
    repository_chunks,
    source_files,
)
from harness.plugins.rag.demonstrations import Demonstrations, conflicts
from harness.plugins.rag.prompt import Piece, TokenCounter, assemble
from harness.plugins.rag.settings import icl_settings, rag_settings
from harness.plugins.rag.strategies import InContext, RetrievalAugmented
from harness.strategy import StrategyContext
from harness.task_kind import EvaluationOptions
from tests.tiny_models import make_tiny_causal_lm

REPOSITORY = {
    "shop/__init__.py": "",
    "shop/pricing.py": (
        '"""Prices, discounts and the winter sale."""\n\n'
        "WINTER_DISCOUNT_PERCENT = 37\n\n\n"
        "def winter_discount(price):\n"
        '    """The price after the winter sale discount."""\n'
        "    return price * (100 - WINTER_DISCOUNT_PERCENT) / 100\n"
    ),
    "shop/colors.py": (
        '"""Colour names and their RGB triples."""\n\n'
        "PALETTE = {'red': (255, 0, 0), 'green': (0, 255, 0), 'blue': (0, 0, 255)}\n\n\n"
        "def parse_hex_colour(text):\n"
        "    return tuple(int(text[i : i + 2], 16) for i in (1, 3, 5))\n"
    ),
    "shop/geometry.py": (
        '"""Areas and perimeters of shapes."""\n\nimport math\n\n\n'
        "def circle_area(radius):\n    return math.pi * radius ** 2\n\n\n"
        "def rectangle_perimeter(width, height):\n    return 2 * (width + height)\n"
    ),
    "shop/text.py": (
        '"""Helpers for strings: slugs and titles."""\n\n\n'
        "def slugify(title):\n    return '-'.join(title.lower().split())\n"
    ),
    "tests/test_pricing.py": (
        "from shop.pricing import WINTER_DISCOUNT_PERCENT, winter_discount\n\n\n"
        "def test_winter_discount_percent():\n"
        "    assert WINTER_DISCOUNT_PERCENT == 37\n\n\n"
        "def test_winter_discount():\n"
        "    assert winter_discount(100) == 63.0\n"
    ),
    "tests/test_colors.py": (
        "from shop.colors import PALETTE, parse_hex_colour\n\n\n"
        "def test_red():\n    assert parse_hex_colour('#ff0000') == (255, 0, 0)\n"
    ),
}


def write_repository(root: Path) -> Path:
    for path, text in REPOSITORY.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(text, encoding="utf-8")
    return root


def example_at(path: str, marker: str, target: str, repo: str = "shop", **kw: Any):
    """The assertion of `path` whose expected value follows `marker`: prefix up to it."""
    text = REPOSITORY[path]
    start = text.index(marker) + len(marker)
    assert text[start : start + len(target)] == target
    line = text[:start].count("\n") + 1
    return CompletionExample(f"{repo}:{path}:{line}", repo, text[:start], target, path, line, **kw)


@pytest.fixture(scope="module")
def repository(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_repository(tmp_path_factory.mktemp("repo") / "shop")


@pytest.fixture(scope="module")
def tiny_lm(tmp_path_factory: pytest.TempPathFactory) -> Any:
    from harness.encoder import EncoderOptions
    from harness.plugins.causal_lm.model import CausalLM

    folder = make_tiny_causal_lm(tmp_path_factory.mktemp("models") / "tiny-lm")
    return CausalLM(str(folder), EncoderOptions(device="cpu"))


def context(tmp_path: Path, **options: Any) -> StrategyContext:
    from harness.plugin_manager import plugins

    card = plugins().tasks.get("rc").load()
    return StrategyContext(task=card, cache_dir=tmp_path, device="cpu", options=options,
                           registries=plugins().registries)  # fmt: skip


# --- what is indexed ---------------------------------------------------------------------


def test_chunks_of_lines_overlap_and_cover_the_file():
    text = "".join(f"line {i}\n" for i in range(1, 11))
    chunks = chunk_lines("m.py", text, 4, 1)
    assert [(c.start, c.end) for c in chunks] == [(1, 4), (4, 7), (7, 10)]
    assert chunks[1].text == "line 4\nline 5\nline 6\nline 7\n"
    assert chunks[0].id == "m.py:1-4"
    # the last chunk may be short; a file shorter than a chunk is one chunk
    assert [(c.start, c.end) for c in chunk_lines("m.py", text, 4, 0)][-1] == (9, 10)
    assert [(c.start, c.end) for c in chunk_lines("m.py", "a\nb\n", 20, 5)] == [(1, 2)]
    assert chunk_lines("m.py", "\n\n\n", 2, 0) == []


def test_test_files_are_indexed_only_on_request(repository: Path):
    plain = source_files(repository, include_tests=False, max_file_bytes=10_000)
    assert plain == ["shop/__init__.py", "shop/colors.py", "shop/geometry.py",
                     "shop/pricing.py", "shop/text.py"]  # fmt: skip
    with_tests = source_files(repository, include_tests=True, max_file_bytes=10_000)
    assert set(with_tests) - set(plain) == {"tests/test_colors.py", "tests/test_pricing.py"}
    assert "shop/pricing.py" not in source_files(
        repository, include_tests=False, max_file_bytes=100
    )


def test_imported_files_come_first():
    source = "import os\nfrom shop.pricing import x\nfrom . import helpers\nfrom ..lib import y\n"
    assert imported_modules(source, "pkg/tests/test_a.py") == {
        "os", "shop.pricing", "shop.pricing.x", "pkg.tests", "pkg.tests.helpers",
        "pkg.lib", "pkg.lib.y",
    }  # fmt: skip
    files = ["a.py", "shop/pricing.py", "shop/text.py", "pkg/tests/helpers.py", "web/types.py"]
    twice = [{"shop.pricing"}, {"site.shop.pricing", "pkg.tests.helpers"}]
    # imported files first, the most specific (imported by fewer test files) first
    assert indexed_files(files, twice) == [
        "pkg/tests/helpers.py", "shop/pricing.py", "a.py", "shop/text.py", "web/types.py"
    ]  # fmt: skip
    # `import types` names types.py at the root, not web/types.py; without a root types.py,
    # a file whose dotted path ends with the whole module name
    assert indexed_files([*files, "types.py"], [{"types"}])[0] == "types.py"
    assert indexed_files(files, [{"types"}])[0] == "web/types.py"


def test_max_chunks_keeps_the_imported_files(repository: Path):
    chunks = repository_chunks(
        repository, ["tests/test_colors.py"], include_tests=False, max_file_bytes=10_000,
        lines=20, overlap=5, max_chunks=1,
    )  # fmt: skip
    assert [c.id for c in chunks] == ["shop/colors.py:1-7"]


# --- retrieval ---------------------------------------------------------------------------


def test_the_retriever_finds_the_chunk_with_the_planted_answer(
    repository: Path, tiny_lm: Any, tmp_path: Path
):
    example = example_at("tests/test_pricing.py", "assert WINTER_DISCOUNT_PERCENT == ", "37")
    partition = CompletionPartition("shop", [example], root=repository)
    options = {"k": 2, "chunk_lines": 4, "chunk_overlap": 1}
    view = RetrievalAugmented(context(tmp_path, **options)).model_for(tiny_lm, partition)
    # 11 chunks of 4 lines; the one that sets the constant the assertion tests comes first
    assert len(view.source.index.chunks) == 11
    prompts, _ = view.prompts([example.prefix], context_tokens=248, max_new_tokens=8)
    assert prompts[0].used[0] == "shop/pricing.py:1-4"
    assert "WINTER_DISCOUNT_PERCENT = 37" in prompts[0].text
    assert prompts[0].text.endswith(example.prefix)  # 124 tokens: the prefix is whole
    assert view.info["one_off"][0]["what"] == "index_build"
    # the second time the index comes from the cache, with the seconds it took to build
    again = RetrievalAugmented(context(tmp_path, **options)).model_for(tiny_lm, partition)
    assert again.info["index"]["cached"] and again.info["one_off"] == view.info["one_off"]


def test_the_examples_own_test_file_is_never_retrieved(
    repository: Path, tiny_lm: Any, tmp_path: Path
):
    example = example_at("tests/test_pricing.py", "assert winter_discount(100) == ", "63.0")
    partition = CompletionPartition("shop", [example], root=repository)
    view = RetrievalAugmented(context(tmp_path, k=8, include_tests=True)).model_for(
        tiny_lm, partition
    )
    ranked = view.source.rank([example.prefix], [[example]])[0]
    ids = [piece.id for piece in ranked]
    assert "tests/test_colors.py:1-5" in ids  # other test files are indexed ...
    assert not any(i.startswith("tests/test_pricing.py") for i in ids)  # ... but not its own


def test_rows_keep_the_retrieved_chunks_and_counts_equal_the_tokenizers(
    repository: Path, tiny_lm: Any, tmp_path: Path
):
    from harness.plugins.completion_eval import Completion

    examples = [
        example_at("tests/test_pricing.py", "assert WINTER_DISCOUNT_PERCENT == ", "37"),
        example_at("tests/test_pricing.py", "assert winter_discount(100) == ", "63.0"),
        example_at("tests/test_colors.py", "assert parse_hex_colour('#ff0000') == ", "(255"),
    ]
    partition = CompletionPartition("shop", examples, root=repository)
    options = {"k": 3, "budget": 120, "chunk_lines": 3, "chunk_overlap": 0}
    view = RetrievalAugmented(context(tmp_path, **options)).model_for(tiny_lm, partition)
    task = {"context_tokens": 200, "max_new_tokens": 4, "batch_size": 2}
    evaluation = Completion().evaluate(view, examples, EvaluationOptions(extra=task))
    rows = evaluation.per_example
    chunks = {c.id: c for c in view.source.index.chunks}

    def tokens(text: str) -> int:  # the tokenizer's own count (this one adds no start token)
        return len(tiny_lm.tokenizer(text, add_special_tokens=False).input_ids)

    for row, prompt in zip(rows, view.last_prompts, strict=True):
        assert row["prompt_tokens"] == prompt.tokens == tokens(prompt.text) <= 200
        assert row["retrieved"] == prompt.used and row["retrieved"]
        assert row["retrieved_tokens"] == sum(tokens(chunks[i].prompt_text()) for i in prompt.used)
        assert row["latency_s"] >= row["context_s"] >= 0
        # the prompt's split: the retrieved code, and the rest (the prefix's share)
        assert row["context_tokens"] == row["retrieved_tokens"] > 0
        assert row["prefix_tokens"] == row["prompt_tokens"] - row["retrieved_tokens"] > 0
    assert evaluation.timings["prompt_tokens_total"] == sum(r["prompt_tokens"] for r in rows)
    assert evaluation.timings["context_tokens_total"] == sum(r["retrieved_tokens"] for r in rows)
    assert evaluation.timings["one_off_s"] == evaluation.timings["index_build_s"] > 0


def test_a_source_free_dataset_is_refused(tiny_lm: Any, tmp_path: Path):
    partition = CompletionPartition("r", [example_at("tests/test_colors.py", "== ", "(255")])
    with pytest.raises(HarnessError, match="without its source tree"):
        RetrievalAugmented(context(tmp_path)).model_for(tiny_lm, partition)


# --- the prompt budget -------------------------------------------------------------------

TEXT = st.text(
    alphabet=st.sampled_from(list("abc xyz_()=,.\n\t'\"0123") + ["é", "→", "😀"]), max_size=300
)


@settings(max_examples=150, deadline=None)
@given(
    prefix=TEXT,
    pieces=st.lists(TEXT, max_size=8),
    limit=st.integers(2, 160),
    budget_share=st.floats(0, 1),
    k=st.integers(1, 6),
)
def test_prompts_never_exceed_the_limit(tiny_lm, prefix, pieces, limit, budget_share, k):
    counter = TokenCounter(tiny_lm)
    budget = max(1, min(limit - 1, int(budget_share * limit)))
    ranked = [Piece(f"p{i}", text + "\n") for i, text in enumerate(pieces)]
    prompt = assemble(prefix, ranked, limit=limit, budget=budget, k=k, counter=counter)
    ids = tiny_lm.tokenizer(prompt.text, add_special_tokens=False).input_ids
    assert prompt.tokens == len(ids) <= limit
    assert len(prompt.used) <= k
    # the pieces used keep their rank order, the best next to the prefix, and the prompt
    # ends with the end of the prefix
    used = [p for p in ranked if p.id in prompt.used]
    assert [p.id for p in used] == prompt.used
    context = "".join(p.text for p in reversed(used))
    assert prompt.text.startswith(context)
    assert prefix.endswith(prompt.text[len(context) :])
    assert prompt.context_tokens <= limit - min(counter.plain(prefix), limit - budget)


def test_the_budget_rule_by_hand(tiny_lm):
    counter = TokenCounter(tiny_lm)
    prefix = "x = 1\n" * 30  # 5 tokens a line with this tokenizer, no merges across lines
    assert counter.plain("x = 1\n") == 5 and counter.plain(prefix) == 150
    assert counter.overhead == 0  # no start token
    pieces = [Piece("a", "y = 2\n" * 3), Piece("b", "y = 2\n" * 10), Piece("c", "y = 2\n")]
    assert [counter.plain(p.text) for p in pieces] == [15, 50, 5]
    # the prefix keeps at least 100 - 30 = 70 tokens, so the context gets at most 30:
    # a (15) fits, b (50) does not and is dropped, c (5) fits; the prefix gets 100 - 20
    prompt = assemble(prefix, pieces, limit=100, budget=30, k=3, counter=counter)
    assert prompt.used == ["a", "c"] and prompt.context_tokens == 20
    assert prompt.text == pieces[2].text + pieces[0].text + "x = 1\n" * 16
    assert prompt.tokens == 100
    # a short prefix (10 tokens) leaves its room to the context: 90 tokens, all three fit
    short = assemble("x = 1\n" * 2, pieces, limit=100, budget=30, k=3, counter=counter)
    assert short.used == ["a", "b", "c"] and short.tokens == 80
    # k caps the pieces; the default budget is half the limit (50: a, then c)
    assert assemble(prefix, pieces, limit=100, budget=None, k=1, counter=counter).used == ["a"]
    assert assemble(prefix, pieces, limit=100, budget=None, k=3, counter=counter).used == [
        "a", "c"
    ]  # fmt: skip
    with pytest.raises(HarnessError, match="budget"):
        assemble(prefix, pieces, limit=30, budget=30, k=3, counter=counter)


# --- in-context demonstrations ------------------------------------------------------------


def test_a_demonstration_never_shows_the_example_or_its_line():
    def at(line: int, target: str = "1", path: str = "tests/test_a.py") -> CompletionExample:
        # a statement of its own per line (an equal one is never shown: test_rc_leaks)
        prefix = f"assert f({line}) == "
        return CompletionExample(f"r:{path}:{line}", "r", prefix, target, path, line)

    example = at(20)
    assert conflicts(example, example, 4)
    assert conflicts(example, at(20, "2"), 4)  # the same assertion line
    assert conflicts(example, at(23), 4)  # shows lines 20-23: the answer's line
    assert not conflicts(example, at(24), 4)  # shows lines 21-24
    assert not conflicts(example, at(19), 4)  # shows 16-19: before the target
    assert conflicts(at(20, "(1,\n 2)"), at(24), 4)  # a two-line target reaches line 21
    assert not conflicts(example, at(23, path="tests/test_b.py"), 4)


def test_icl_demonstrations_in_repo_come_from_the_training_split(tiny_lm, tmp_path):
    def ex(i: int, split: str, text: str) -> CompletionExample:
        return CompletionExample(f"r:t.py:{i}", "r", f"x = {i}\nassert {text} == ", str(i),
                                 "t.py", 10 * i, in_repo_split=split)  # fmt: skip

    train = [ex(1, "train", "colour_of(apple)"), ex(2, "train", "size_of(box)")]
    held = [ex(3, "test", "colour_of(pear)")]
    partition = CompletionPartition("r", held, train)
    strategy = InContext(context(tmp_path, k=1))
    strategy.prepare(tiny_lm, type("D", (), {"protocol": "in"})())
    view = strategy.model_for(tiny_lm, partition)
    prompts, _ = view.prompts([held[0].prefix], context_tokens=200, max_new_tokens=4)
    assert prompts[0].used == ["r:t.py:1"]  # the most similar: colour_of
    assert prompts[0].text.startswith(
        "# example: t.py, line 10\nx = 1\nassert colour_of(apple) == 1"
    )


def test_icl_cross_repo_uses_the_other_examples_of_the_repository():
    examples = [
        CompletionExample(f"r:t.py:{i}", "r", f"v = {i}\nassert f({i}) == ", str(i), "t.py", 30 * i)
        for i in range(1, 5)
    ]
    source = Demonstrations(examples, k=4, query_lines=5, demo_lines=2, select="random", seed=0)
    ranked = source.rank([examples[0].prefix], [[examples[0]]])[0]
    assert sorted(p.id for p in ranked) == ["r:t.py:2", "r:t.py:3", "r:t.py:4"]
    again = Demonstrations(examples, k=4, query_lines=5, demo_lines=2, select="random", seed=0)
    assert [p.id for p in again.rank([examples[0].prefix], [[examples[0]]])[0]] == [
        p.id for p in ranked
    ]


# --- options and refusal -----------------------------------------------------------------


def test_options_are_checked():
    assert rag_settings({"k": "2", "include_tests": "true"}).k == 2
    assert icl_settings({}).select == "similar"
    for options, message in [
        ({"topk": 3}, "unknown option 'topk'"),
        ({"k": 0}, "k must be at least 1"),
        ({"chunk_overlap": 20}, "chunk_overlap must be at least 0 and below"),
        ({"include_tests": "maybe"}, "must be true or false"),
    ]:
        with pytest.raises(HarnessError, match=message):
            rag_settings(options)
    with pytest.raises(HarnessError, match="select must be one of similar, random"):
        icl_settings({"select": "best"})


@pytest.mark.parametrize("strategy", ["rag", "icl"])
@pytest.mark.parametrize("task", ["t2c", "c2c"])
def test_rag_and_icl_are_refused_for_retrieval_tasks(strategy: str, task: str, tmp_path: Path):
    done = subprocess.run(
        [sys.executable, "-m", "harness", "run", "--model", "minilm", "--strategy", strategy,
         "--task", task, "--results", str(tmp_path / "results")],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 2
    # (c2c first says which dataset it falls back to); the error is one line
    assert done.stderr.strip().splitlines()[-1] == (
        f"harness: error: strategy {strategy!r} does not apply to task {task!r} "
        "(a retrieval task; it applies to: completion)"
    )
    assert not (tmp_path / "results").exists()


def test_harness_run_rag_and_icl_end_to_end(
    tiny_lm: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """Through the runner: the rows keep what was put before each prefix, the result its cost."""
    import json

    from harness.cli import main

    write_repository(tmp_path / "shop")
    monkeypatch.chdir(tmp_path)
    common = ["--model", f"hf:{tiny_lm.info['model']}", "--task", "rc", "--data-dir", "shop",
              "--results", "res", "--cache-dir", "cache", "--device", "cpu", "--bootstrap", "50",
              "--set", "dataset.min_per_repo=1", "--set", "task.context_tokens=200",
              "--set", "task.max_new_tokens=4"]  # fmt: skip
    rag = ["--strategy", "rag", "--set", "strategy.chunk_lines=3",
           "--set", "strategy.chunk_overlap=0"]  # fmt: skip
    assert main(["run", *common, *rag]) == 0
    assert main(["run", *common, "--strategy", "icl"]) == 0
    (model_folder,) = (tmp_path / "res" / "rc" / "local").iterdir()  # the model's folder
    # each strategy's folder is labelled with what differs from a plain run (the settings)
    folder = tmp_path / "strategies"
    for found in model_folder.iterdir():
        (folder / found.name.split("@")[0]).parent.mkdir(exist_ok=True)
        (folder / found.name.split("@")[0]).symlink_to(found)
    for strategy, field in (("rag", "retrieved"), ("icl", "demonstrations")):
        result = json.loads((folder / strategy / "shop.json").read_text())
        lines = (folder / strategy / "shop.jsonl").read_text().splitlines()
        rows = [json.loads(line) for line in lines]
        assert len(rows) == 3 and all(field in row and row["prompt_tokens"] <= 200 for row in rows)
        assert result["timings"]["prompt_tokens_total"] == sum(r["prompt_tokens"] for r in rows)
    rag_result = json.loads((folder / "rag" / "shop.json").read_text())
    assert rag_result["timings"]["one_off_s"] == rag_result["timings"]["index_build_s"] > 0
    assert "one_off_s" not in json.loads((folder / "icl" / "shop.json").read_text())["timings"]
