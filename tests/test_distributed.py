"""torchrun on CPU (gloo, 2 processes) gives the single-process numbers: sharded encoding,
DDP LoRA training (contrastive and causal-LM), DDP hypernetwork training, and a whole
`harness run` written once by rank 0."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from harness.distributed import batch_shards
from harness.results import read_examples, read_result

WORKER = textwrap.dedent(
    """
    import json, sys
    from pathlib import Path
    import numpy as np, torch
    from harness import distributed
    from harness.data import TrainPair
    from harness.encoder import EncoderOptions
    from harness.plugins.encoders.hf_encoder import HFEncoder
    from harness.plugins.lora.config import LoraSettings
    from harness.plugins.lora.trainer import train_lora
    from peft import get_peft_model_state_dict

    torch.set_num_threads(1)
    model_dir, out = sys.argv[1], Path(sys.argv[2])
    distributed.setup("cpu")
    encoder = HFEncoder(model_dir, EncoderOptions(device="cpu", max_length=48, batch_size=3))
    words = ["sort", "read", "parse", "count", "reverse", "split", "join", "add"]
    texts = [" ".join(words[(i * k) % 8] for k in range(1, 2 + i % 7)) for i in range(23)]
    embeddings = distributed.sharded(encoder).encode(texts)
    pairs = [TrainPair(f"{words[i % 8]} the {words[(3 * i) % 8]} list number {i}",
                       f"def {words[i % 8]}_{i}(values): return sorted(values)[{i}]")
             for i in range(24)]
    settings = LoraSettings(r=4, alpha=8, dropout=0.0, lr=5e-3, warmup_steps=0, batch_size=6,
                            max_steps=4, max_length=32, precision="fp32", checkpoint_every=100)
    model, report = train_lora(encoder, pairs, settings, out / f"work-{distributed.rank()}")
    if distributed.is_main():
        state = {k: v.detach().numpy() for k, v in get_peft_model_state_dict(model).items()}
        np.savez(out / "adapter.npz", **state)
        np.save(out / "embeddings.npy", embeddings)
        (out / "losses.json").write_text(json.dumps(report.losses))
    """
)


COMPLETION_WORKER = textwrap.dedent(
    """
    import json, sys
    from pathlib import Path
    import numpy as np, torch
    from harness import distributed
    from harness.data import CompletionExample
    from harness.encoder import EncoderOptions
    from harness.plugins.causal_lm.model import CausalLM
    from harness.plugins.hypernet.functional import find_targets
    from harness.plugins.hypernet.network import HyperNetwork, architecture_for
    from harness.plugins.hypernet.settings import HypernetSettings
    from harness.plugins.hypernet.training import RepositoryInputs, train_hypernetwork
    from harness.plugins.lora.causal import train_causal_lora
    from harness.plugins.lora.config import LoraSettings
    from peft import get_peft_model_state_dict

    torch.set_num_threads(1)
    model_dir, out = sys.argv[1], Path(sys.argv[2])
    distributed.setup("cpu")
    lm = CausalLM(model_dir, EncoderOptions(device="cpu"))
    repos = ["alpha", "beta", "gamma"]
    examples = [CompletionExample(f"e{i}", repos[i % 3], f"def f():\\n    x = {i}\\n"
                                  f"assert f() == ", str(i * 7 % 50)) for i in range(24)]
    lora = LoraSettings(r=4, alpha=8, dropout=0.0, lr=5e-3, warmup_steps=0, batch_size=6,
                        max_steps=4, max_length=48, precision="fp32", checkpoint_every=100)
    model, report = train_causal_lora(lm, examples, lora, out / f"lora-{distributed.rank()}")
    lora_losses = report.losses
    lora_state = {k: v.detach().numpy() for k, v in get_peft_model_state_dict(model).items()}
    model.unload()  # the LM back as it was, for the hypernetwork

    targets = find_targets(lm.model, ["q_proj", "v_proj"])
    torch.manual_seed(0)
    network = HyperNetwork(architecture_for(targets, 12, 4, 8.0, hidden=16, evo=True,
                                            diff_dim=5, state_dim=7), targets)
    generator = torch.Generator().manual_seed(1)
    inputs = RepositoryInputs({r: torch.randn(12, generator=generator) for r in repos},
                              {r: torch.randn(3, 5, generator=generator) for r in repos})
    network.set_input_statistics(torch.stack(list(inputs.snapshots.values())))
    conditions = [(e.repo, i % 4) for i, e in enumerate(examples)]  # 0-3 commits applied
    settings = HypernetSettings(steps=4, batch_size=6, max_length=48, warmup_steps=0, lr=1e-2,
                                precision="fp32", checkpoint_every=100)
    hyper = train_hypernetwork(lm, network, examples, conditions, inputs, settings,
                               out / f"hyper-{distributed.rank()}")
    if distributed.is_main():
        np.savez(out / "lora.npz", **lora_state)
        np.savez(out / "hypernet.npz",
                 **{k: v.detach().numpy() for k, v in network.state_dict().items()})
        (out / "losses.json").write_text(json.dumps([lora_losses, hyper.losses]))
    """
)


@pytest.fixture(scope="module")
def still_bert(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny BERT without dropout: ranks draw other dropout masks than one process."""
    from tiny_models import make_tiny_bert

    folder = make_tiny_bert(tmp_path_factory.mktemp("models") / "still-bert")
    config = json.loads((folder / "config.json").read_text())
    config.update(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    (folder / "config.json").write_text(json.dumps(config))
    return folder


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _env() -> dict[str, str]:
    return {**os.environ, "HF_HUB_OFFLINE": "1", "HARNESS_NO_PROGRESS": "1",
            "OMP_NUM_THREADS": "1"}  # fmt: skip


def _torchrun(n: int, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    launcher = [sys.executable, "-m", "torch.distributed.run", f"--nproc_per_node={n}",
                "--master_addr=127.0.0.1", f"--master_port={_free_port()}"]  # fmt: skip
    return subprocess.run([*launcher, *args], capture_output=True, text=True, cwd=cwd,
                          env=_env(), timeout=600)  # fmt: skip


def test_batches_are_dealt_whole_to_the_ranks_in_turn() -> None:
    texts = ["a" * n for n in (3, 9, 1, 7, 5, 7, 2)]
    # by length, longest first, ties in input order: 1, 3, 5, 4, 0, 6, 2
    assert batch_shards(texts, 2, 2) == [[1, 3, 0, 6], [5, 4, 2]]
    assert batch_shards(texts, 2, 3) == [[1, 3, 2], [5, 4], [0, 6]]
    assert sorted(sum(batch_shards(texts, 3, 4), [])) == list(range(7))


def _one_process_and_two_ranks(worker: str, model: Path, tmp_path: Path) -> tuple[Path, Path]:
    """Run `worker` (argv: model folder, output folder) alone, then under torchrun with 2
    gloo ranks; the two output folders."""
    script = tmp_path / "worker.py"
    script.write_text(worker)
    one, two = tmp_path / "one", tmp_path / "two"
    one.mkdir(), two.mkdir()
    single = subprocess.run([sys.executable, str(script), str(model), str(one)],
                            capture_output=True, text=True, env=_env(), timeout=600)  # fmt: skip
    assert single.returncode == 0, single.stderr
    double = _torchrun(2, str(script), str(model), str(two), cwd=tmp_path)
    assert double.returncode == 0, double.stderr + double.stdout
    return one, two


@pytest.mark.slow  # three processes that import torch: ~35 s on 2 busy cores
def test_two_gloo_ranks_encode_and_train_like_one_process(still_bert: Path, tmp_path: Path):
    one, two = _one_process_and_two_ranks(WORKER, still_bert, tmp_path)

    # each text is embedded in the very batch one process puts it in
    np.testing.assert_allclose(np.load(two / "embeddings.npy"), np.load(one / "embeddings.npy"),
                               rtol=0, atol=1e-6)  # fmt: skip
    # the same steps: the whole-batch loss, then the same adapter, up to rounding
    losses = [json.loads((out / "losses.json").read_text()) for out in (one, two)]
    np.testing.assert_allclose(losses[1], losses[0], atol=1e-5)
    a, b = np.load(one / "adapter.npz"), np.load(two / "adapter.npz")
    assert sorted(a.files) == sorted(b.files) and len(a.files) == 8  # A and B, 2 layers, q and v
    for name in a.files:
        np.testing.assert_allclose(b[name], a[name], rtol=0, atol=2e-5, err_msg=name)
    embedded = np.abs(np.load(two / "embeddings.npy") - np.load(one / "embeddings.npy")).max()
    print(
        f"\nmax differences, 2 ranks - 1 process: embeddings {embedded:.1e}, losses "
        f"{np.abs(np.subtract(*losses)).max():.1e}, adapter weights "
        f"{max(np.abs(b[n] - a[n]).max() for n in a.files):.1e}"
    )
    assert any(np.abs(a[name]).max() > 1e-3 for name in a.files if "lora_B" in name)  # it trained


@pytest.mark.slow  # two runs of the CLI, one of them under torchrun: ~1 min on 2 busy cores
def test_harness_run_under_torchrun_equals_one_process(still_bert, code_tree, tmp_path):
    common = [
        "run", "--model", f"hf:{still_bert}", "--strategy", "taskwise", "--task", "t2c",
        "--data-dir", str(code_tree), "--device", "cpu", "--max-length", "64",
        "--batch-size", "4", "--set", "dataset.test_fraction=0.5",
        "--set", "dataset.valid_fraction=0.0", "--set", "strategy.batch_size=4",
        "--set", "strategy.max_steps=3", "--set", "strategy.max_length=32",
        "--set", "strategy.r=4", "--set", "strategy.dropout=0.0",
        "--set", "strategy.precision=fp32",
    ]  # fmt: skip
    single = subprocess.run(
        [sys.executable, "-m", "harness", *common, "--results", str(tmp_path / "one"),
         "--cache-dir", str(tmp_path / "cache-one")],
        capture_output=True, text=True, env=_env(), timeout=600, cwd=tmp_path,
    )  # fmt: skip
    assert single.returncode == 0, single.stderr
    double = _torchrun(2, "-m", "harness", *common, "--results", str(tmp_path / "two"),
                       "--cache-dir", str(tmp_path / "cache-two"), cwd=tmp_path)  # fmt: skip
    assert double.returncode == 0, double.stderr + double.stdout
    assert double.stderr.count("adapter task: 3 steps") == 1  # rank 0 reports, rank 1 is quiet

    files = {p.relative_to(tmp_path / "one") for p in (tmp_path / "one").rglob("*")}
    assert files == {p.relative_to(tmp_path / "two") for p in (tmp_path / "two").rglob("*")}
    assert not list((tmp_path / "two").rglob("*.tmp"))  # nothing half-written by a second rank
    for path in sorted((tmp_path / "one").rglob("*.json")):
        twin = tmp_path / "two" / path.relative_to(tmp_path / "one")
        a, b = read_result(path), read_result(twin)
        assert a.n_examples == b.n_examples and a.n_candidates == b.n_candidates
        for name, value in a.metrics.items():
            assert b.metrics[name].value == pytest.approx(value.value, abs=1e-6), name
        for row_a, row_b in zip(read_examples(path), read_examples(twin), strict=True):
            assert row_a["id"] == row_b["id"] and row_a["rank"] == row_b["rank"]
    adapters = list((tmp_path / "cache-two" / "adapters").glob("*/adapter_model.safetensors"))
    assert len(adapters) == 1


@pytest.mark.slow  # three processes that import torch: ~40 s on 2 busy cores
def test_causal_lora_and_hypernetwork_train_under_two_ranks_like_one_process(tmp_path: Path):
    from tiny_models import make_tiny_causal_lm

    model = make_tiny_causal_lm(tmp_path / "lm")  # Qwen2: no dropout
    one, two = _one_process_and_two_ranks(COMPLETION_WORKER, model, tmp_path)
    # each rank's share of a batch, weighted by the whole batch's target tokens: the same
    # losses and the same weights as one process training the whole batch
    losses = [json.loads((out / "losses.json").read_text()) for out in (one, two)]
    for trained in range(2):
        assert len(losses[0][trained]) == 4
        np.testing.assert_allclose(losses[1][trained], losses[0][trained], rtol=0, atol=1e-5)
    for name in ("lora.npz", "hypernet.npz"):
        a, b = np.load(one / name), np.load(two / name)
        assert sorted(a.files) == sorted(b.files) and a.files
        for key in a.files:
            # Adam divides each step by the root of the squared gradient: a gradient near zero
            # whose last bits differ (the ranks' shares summed in another order) can move one
            # weight by a fraction of lr (1e-2 here); so a few elements may differ by ~1e-4,
            # while the weights as a whole agree to float precision
            diff = np.abs(b[key] - a[key])
            assert diff.max() <= 2e-4 and diff.mean() <= 2e-6, f"{name} {key}: {diff.max():.1e}"
    # they trained: the LoRA's B and the losses moved
    lora = np.load(one / "lora.npz")
    assert any(np.abs(lora[k]).max() > 1e-3 for k in lora.files if "lora_B" in k)
    assert losses[0][1][-1] != losses[0][1][0]
