"""A repository's adapter: written by the hypernetwork against fine-tuned for it, to the same
exact match.

The known-answer setup of tests/test_hypernet_known_answer.py (64 training repositories,
each with one secret constant among 8, a frozen random 2-layer GPT-2, MiniLM repository
vectors, rank-4 adapters). The hypernetwork is trained once (its cost is one-off and
reported, not part of the ratio). Then, for each of 4 unseen repositories:

- **generation**: read the repository into its vector (MiniLM over its files, nothing
  cached) and run the hypernetwork once; timed by pytest-benchmark, 5 rounds, fresh cache
  each round;
- **fine-tuning**: a per-repository LoRA of the same rank on the repository's 8 examples
  (AdamW, lr 1e-2, the loss on the target tokens as `adapters.completion_loss`), trained until
  its exact match on them reaches the exact match the hypernetwork's adapter has on them
  without having seen any (checked every 5 steps, checks not timed; at most 300 steps). Scoring
  the LoRA on its own training examples favours it: trained on 4 of them, it stays at 50%
  on the other 4 (other assertion forms) for 600 steps.

The ratio fine-tuning / generation is printed and kept in the benchmark's extra info.
Both run on one CPU thread (tiny models gain nothing from more).

    python -m pytest benchmarks/test_bench_hypernet.py -o addopts="" --benchmark-only -s
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path

import pytest

TASK = {"max_new_tokens": 12, "context_tokens": 200, "batch_size": 16}
HYPERNET = {"encoder": "minilm", "r": 4, "alpha": 8, "steps": 200, "batch_size": 32,
            "max_length": 128, "lr": 3e-3, "controls": False}  # fmt: skip
REPOSITORIES, ROUNDS, CHECK_EVERY, MAX_STEPS = 4, 5, 5, 300


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory):
    import torch

    from harness.encoder import EncoderOptions
    from harness.plugin_manager import plugins
    from harness.plugins.causal_lm.model import CausalLM
    from harness.strategy import StrategyContext
    from tests.synthetic_repos import (
        corpus_texts,
        make_synthetic_lm,
        write_synthetic_repositories,
    )

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    base = tmp_path_factory.mktemp("bench")
    dataset = write_synthetic_repositories(base / "repos", n_train=64, n_test=16)
    lm = CausalLM(
        str(make_synthetic_lm(base / "lm", corpus_texts(base / "repos"), init_std=0.1)),
        EncoderOptions(device="cpu"),
    )
    card = plugins().tasks.get("rc").load()
    context = StrategyContext(task=card, cache_dir=base / "cache", options=HYPERNET,
                              model="synthetic-gpt2", task_options=TASK,
                              registries=plugins().registries)  # fmt: skip
    strategy = plugins().strategies.get("hypernet-static").load()(context)
    strategy.config(dataset)
    strategy.prepare(lm, dataset)
    yield {"dataset": dataset, "lm": lm, "strategy": strategy, "base": base}
    torch.set_num_threads(threads)


def _exact_match(view, examples) -> float:
    from harness.plugins.completion_eval import Completion
    from harness.task_kind import EvaluationOptions

    rows = Completion().evaluate(view, examples, EvaluationOptions(extra=TASK)).per_example
    return sum(r["exact_match"] for r in rows) / len(rows)


FORWARD: list[float] = []  # seconds of the network's forward pass alone, per call


def _generate(strategy, root: Path, cache: Path):
    """Read one repository from scratch and write its adapter."""
    import torch

    from harness.plugins.hypernet.repo_encoder import RepositoryReader

    reader = RepositoryReader(strategy.settings.reader(), cache, strategy.reader()._factory,
                              {"encoder": strategy.settings.encoder})  # fmt: skip
    vector = torch.as_tensor(reader.repository_vector(root))[None]
    began = time.perf_counter()
    with torch.no_grad():
        adapter = strategy.network(vector)
    FORWARD.append(time.perf_counter() - began)
    return adapter


def _fine_tune_to(lm, train, held, target: float, rank: int, alpha: int) -> tuple[float, int]:
    """Seconds and steps a fresh LoRA needs to reach `target` exact match on `held`."""
    import copy

    import torch

    from harness.plugins.adapters.completion_loss import completion_batch, target_loss
    from harness.plugins.adapters.targets import causal_targets
    from harness.plugins.lora.config import LoraSettings
    from harness.plugins.lora.trainer import wrap_with_lora

    settings = LoraSettings(r=rank, alpha=alpha, dropout=0.0, seed=0)
    peft_model = wrap_with_lora(lm.model, settings, causal_targets(lm.model))
    optimizer = torch.optim.AdamW([p for p in peft_model.parameters() if p.requires_grad], 1e-2)
    batch = completion_batch(lm, train, 128)
    view = copy.copy(lm)
    view.model = peft_model
    seconds = 0.0
    for step in range(1, MAX_STEPS + 1):
        began = time.perf_counter()
        peft_model.train()
        loss = target_loss(peft_model, batch, lm.device)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        seconds += time.perf_counter() - began
        if step % CHECK_EVERY == 0:
            peft_model.eval()
            if _exact_match(view, held) >= target:
                return seconds, step
    return seconds, MAX_STEPS


def test_generating_an_adapter_against_fine_tuning_one(benchmark, setup):
    from harness.plugins.hypernet.controls import adapted_view

    strategy, lm, dataset = setup["strategy"], setup["lm"], setup["dataset"]
    names = sorted(dataset.partitions)[:REPOSITORIES]
    rounds = iter(range(10_000))

    def fresh_cache():
        return (strategy, dataset.roots[names[0]], setup["base"] / f"bench-{next(rounds)}"), {}

    benchmark.pedantic(_generate, setup=fresh_cache, rounds=ROUNDS, iterations=1)
    generation = []
    rows = []
    for name in names:
        partition = dataset.partitions[name]
        examples = partition.eval
        began = time.perf_counter()
        adapter = _generate(strategy, dataset.roots[name], setup["base"] / f"one-{name}")
        generation.append(time.perf_counter() - began)
        target = _exact_match(adapted_view(lm, adapter, strategy.targets, {}), examples)
        seconds, steps = _fine_tune_to(lm, examples, examples, target, 4, 8)
        rows.append((name, target, generation[-1], seconds, steps))
    per_generation = statistics.median(generation)
    per_lora = statistics.median(r[3] for r in rows)
    ratio = per_lora / per_generation
    benchmark.extra_info.update(
        hypernet_training_s=strategy.training["seconds"], generation_s=per_generation,
        fine_tuning_s=per_lora, ratio=ratio, repositories=rows,
        forward_s=statistics.median(FORWARD),
    )  # fmt: skip
    print(f"\nhypernetwork trained once: {strategy.training['seconds']:.1f} s")
    print("repository  target EM  generate (s)  fine-tune (s)  steps")
    for name, target, gen, lora, steps in rows:
        print(f"{name:<10}  {target:9.2f}  {gen:12.3f}  {lora:13.2f}  {steps:5d}")
    print(f"median: generate {per_generation:.3f} s (of which the hypernetwork's forward pass "
          f"{statistics.median(FORWARD) * 1000:.1f} ms, the rest reading the repository), "
          f"fine-tune {per_lora:.2f} s, fine-tune / generate = {ratio:.1f}x")  # fmt: skip
    assert all(steps < MAX_STEPS for *_, steps in rows), "a LoRA never reached the target"
