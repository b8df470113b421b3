"""The known-answer benchmark of the hypernetwork strategies (issue: Code2LoRA with controls).

80 generated repositories (64 train, 16 unseen test), each defining one of 8 constants in
its source; every test file asserts that constant, which no prefix shows
(`tests/synthetic_repos.py`). A frozen random GPT-2 (2 layers, 64 wide) cannot know it, and a
shared LoRA trained on the training repositories (Code2LoRA's baseline, `taskwise`) can at
best guess; adapters written by `hypernet-static` from each repository's MiniLM vector can
read it from the source. What must hold, on the unseen repositories:

- hypernet-static beats the shared LoRA on exact match, paired sign-flip test p < 0.05;
- the shuffled-repository control (another repository's adapter) loses that gain, and so
  does the mean adapter (the mean update of the 64 training repositories' adapters);
- the adapters differ between repositories (mean pairwise cosine well below 1, of the
  factors and of the updates), while a hypernetwork trained blind to its input (constant
  input) is flagged collapsed.

About a minute on 2 idle CPU cores (most of it the two trainings); marked slow.
"""

from __future__ import annotations

import time

import numpy as np
import pytest

pytestmark = pytest.mark.slow

TASK_OPTIONS = {"max_new_tokens": 12, "context_tokens": 200, "batch_size": 16}
HYPERNET = {"encoder": "minilm", "r": 4, "alpha": 8, "steps": 200, "batch_size": 32,
            "max_length": 128, "lr": 3e-3, "hidden": 256, "layer_dim": 32}  # fmt: skip
SHARED_LORA = {"r": 4, "alpha": 8, "dropout": 0.0, "lr": 3e-3, "warmup_steps": 10,
               "batch_size": 32, "max_steps": 200, "epochs": 20, "max_length": 128,
               "precision": "fp32"}  # fmt: skip


@pytest.fixture(scope="module")
def known(tmp_path_factory: pytest.TempPathFactory):
    import torch

    from harness.encoder import EncoderOptions
    from harness.plugin_manager import plugins
    from harness.plugins.causal_lm.model import CausalLM
    from harness.plugins.completion_eval import Completion
    from harness.strategy import StrategyContext
    from harness.task_kind import EvaluationOptions
    from tests.synthetic_repos import (
        corpus_texts,
        make_synthetic_lm,
        write_synthetic_repositories,
    )

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a tiny model; on a busy machine waiting threads only spin
    began = time.perf_counter()
    base = tmp_path_factory.mktemp("known")
    dataset = write_synthetic_repositories(base / "repos", n_train=64, n_test=16, per_repo=8)
    lm = CausalLM(
        str(make_synthetic_lm(base / "lm", corpus_texts(base / "repos"), init_std=0.1)),
        EncoderOptions(device="cpu"),
    )
    card = plugins().tasks.get("rc").load()

    def strategy(name: str, options: dict):
        context = StrategyContext(
            task=card, cache_dir=base / "cache", options=options, model="synthetic-gpt2",
            task_options={**card.options, **TASK_OPTIONS}, registries=plugins().registries,
        )  # fmt: skip
        made = plugins().strategies.get(name).load()(context)
        made.config(dataset)
        made.prepare(lm, dataset)
        return made

    def scores(made) -> tuple[dict[str, float], dict[str, dict[str, float]]]:
        own: dict[str, float] = {}
        controls: dict[str, dict[str, float]] = {}
        for partition in dataset.partitions.values():
            view = made.model_for(lm, partition)
            rows = Completion().evaluate(view, partition.eval, EvaluationOptions(
                extra=TASK_OPTIONS)).per_example  # fmt: skip
            own.update({row["id"]: row["exact_match"] for row in rows})
            recorded = view.info.get("controls", {}).get("per_example", {})
            for name, values in recorded.items():
                if name != "ids":
                    controls.setdefault(name, {}).update(zip(recorded["ids"], values, strict=True))
        return own, controls

    static = strategy("hypernet-static", HYPERNET)
    static_em, static_controls = scores(static)
    shared_em, _ = scores(strategy("taskwise", SHARED_LORA))
    blind = strategy("hypernet-static", {**HYPERNET, "condition": "constant", "steps": 30,
                                         "controls": False})  # fmt: skip
    torch.set_num_threads(threads)
    ids = sorted(static_em)
    return {
        "ids": ids,
        "static": np.array([static_em[i] for i in ids]),
        "shared": np.array([shared_em[i] for i in ids]),
        "shuffled": np.array([static_controls["shuffled"][i] for i in ids]),
        "mean_adapter": np.array([static_controls["mean_adapter"][i] for i in ids]),
        "diversity": static.diversity,
        "blind_diversity": blind.diversity,
        "seconds": time.perf_counter() - began,
    }


def test_static_beats_the_shared_lora_on_unseen_repositories(known):
    from harness.significance import sign_flip_test

    static, shared = known["static"], known["shared"]
    p = sign_flip_test(shared, static)
    print(f"\nknown answer, {len(static)} examples of 16 unseen repositories "
          f"({known['seconds']:.0f} s): static {static.mean():.3f}, shared LoRA "
          f"{shared.mean():.3f}, shuffled {known['shuffled'].mean():.3f}, mean adapter "
          f"{known['mean_adapter'].mean():.3f}, p(static vs shared) {p:.1e}, cosine "
          f"{known['diversity']['mean_cosine']:.3f}, of the updates "
          f"{known['diversity']['mean_update_cosine']:.3f} (blind: "
          f"{known['blind_diversity']['mean_cosine']:.4f}, "
          f"{known['blind_diversity']['mean_update_cosine']:.4f})")  # fmt: skip
    assert len(static) == 128
    assert static.mean() >= 0.5  # chance is 1 in 8
    assert shared.mean() <= 0.4  # a shared adapter can only guess
    assert static.mean() > shared.mean() and p < 0.05


def test_the_shuffled_and_mean_adapter_controls_lose_the_gain(known):
    from harness.significance import sign_flip_test

    static, shared = known["static"], known["shared"]
    for control in ("shuffled", "mean_adapter"):
        values = known[control]
        assert sign_flip_test(values, static) < 0.05, control
        # what is left of the gain over the shared LoRA is at most a tenth of it
        assert values.mean() - shared.mean() <= 0.1 * (static.mean() - shared.mean()) + 0.05


def test_diversity_tells_a_conditioned_hypernetwork_from_a_blind_one(known):
    conditioned, blind = known["diversity"], known["blind_diversity"]
    assert conditioned["n_adapters"] == 16
    assert conditioned["mean_cosine"] < 0.95 and conditioned["mean_update_cosine"] < 0.95
    assert conditioned["collapsed"] is False
    assert blind["mean_update_cosine"] >= 0.999 and blind["collapsed"] is True
