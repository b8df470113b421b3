"""Hypernetwork pieces (plugins/hypernet): adapters through hooks against PEFT, the network,
the repository reader, training and resuming, the strategies and their controls.

The known-answer benchmark (hypernet-static against the shared LoRA on repositories whose
answer is known) is in test_hypernet_known_answer.py.
"""

from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from harness.errors import HarnessError
from tests.tiny_models import make_tiny_causal_lm


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Tiny models gain nothing from threads; on a busy machine waiting threads spin."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _lm(path: Path):
    from harness.encoder import EncoderOptions
    from harness.plugins.causal_lm.model import CausalLM

    return CausalLM(str(path), EncoderOptions(device="cpu"))


@pytest.fixture(scope="module")
def gpt2(tmp_path_factory: pytest.TempPathFactory):
    return _lm(make_tiny_causal_lm(tmp_path_factory.mktemp("lm") / "gpt2", architecture="gpt2"))


@pytest.fixture(scope="module")
def qwen2(tmp_path_factory: pytest.TempPathFactory):
    return _lm(make_tiny_causal_lm(tmp_path_factory.mktemp("lm") / "qwen2"))


QWEN2_LEAVES = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
LEAVES = {"gpt2": ["c_attn", "c_proj", "c_fc"], "qwen2": QWEN2_LEAVES}


def _random_adapters(targets, n: int, rank: int = 4, seed: int = 0, scaling: float = 2.0):
    import torch

    from harness.plugins.hypernet.functional import Adapters

    generator = torch.Generator().manual_seed(seed)
    factors = {
        t.path: (
            torch.randn(n, rank, t.in_features, generator=generator) * 0.3,
            torch.randn(n, t.out_features, rank, generator=generator) * 0.3,
        )
        for t in targets
    }
    return Adapters(factors, scaling)


def _ids(lm, texts: list[str]):
    import torch

    rows = [lm.tokenizer(t, add_special_tokens=False)["input_ids"] for t in texts]
    assert len({len(r) for r in rows}) == 1, "same length, so no padding is involved"
    return torch.tensor(rows)


# --- target modules -----------------------------------------------------------------------------


def test_gpt2_targets_tell_attention_and_mlp_projections_apart(gpt2):
    from harness.plugins.hypernet.functional import find_targets

    targets = find_targets(gpt2.model, LEAVES["gpt2"])
    kinds = {t.kind: (t.in_features, t.out_features) for t in targets}
    # hidden 32: c_attn makes q, k and v (3 x 32), the MLP is 4 x 32 wide
    assert kinds == {
        "transformer.h.*.attn.c_attn": (32, 96),
        "transformer.h.*.attn.c_proj": (32, 32),
        "transformer.h.*.mlp.c_fc": (32, 128),
        "transformer.h.*.mlp.c_proj": (128, 32),
    }
    assert sorted({t.layer for t in targets}) == [0, 1] and len(targets) == 8
    assert all(t.conv1d for t in targets)


def test_qwen2_targets_are_the_seven_projections(qwen2):
    from harness.plugins.hypernet.functional import find_targets

    targets = find_targets(qwen2.model, LEAVES["qwen2"])
    kinds = {t.kind.rsplit(".", 1)[-1]: (t.in_features, t.out_features) for t in targets}
    # hidden 32, 4 heads of 8, 2 key/value heads (16 wide), MLP 64
    assert kinds == {"q_proj": (32, 32), "k_proj": (32, 16), "v_proj": (32, 16),
                     "o_proj": (32, 32), "gate_proj": (32, 64), "up_proj": (32, 64),
                     "down_proj": (64, 32)}  # fmt: skip
    assert len(targets) == 14 and not any(t.conv1d for t in targets)
    with pytest.raises(HarnessError, match="no linear module named nothing"):
        find_targets(qwen2.model, ["nothing"])


# --- adapters through hooks, and the PEFT export --------------------------------------------------


@pytest.mark.parametrize("arch", ["gpt2", "qwen2"])
def test_hooked_adapter_gives_the_logits_of_the_exported_peft_adapter(arch, request, tmp_path):
    import torch
    from peft import PeftModel

    from harness.plugins.hypernet.functional import AdaptedModel, export_peft, find_targets

    lm = request.getfixturevalue(arch)
    targets = find_targets(lm.model, LEAVES[arch])
    adapter = _random_adapters(targets, n=1, rank=4, scaling=8 / 4)
    ids = _ids(lm, ["def add(a, b):\n    return a + b\n"])
    with torch.no_grad():
        before = lm.model(input_ids=ids).logits
        hooked = AdaptedModel(lm.model, targets, adapter)(input_ids=ids).logits
        after = lm.model(input_ids=ids).logits
    assert not torch.allclose(hooked, before, atol=1e-3)  # the adapter does something
    assert torch.equal(before, after)  # and leaves the frozen model as it was
    assert all(not m._forward_hooks for m in lm.model.modules())

    folder = export_peft(adapter, targets, tmp_path / "adapter", base_model="tiny", alpha=8)
    assert sorted(p.name for p in folder.iterdir()) == [
        "adapter_config.json", "adapter_model.safetensors"
    ]  # fmt: skip
    peft_model = PeftModel.from_pretrained(copy.deepcopy(lm.model), str(folder)).eval()
    with torch.no_grad():
        reference = peft_model(input_ids=ids).logits
    torch.testing.assert_close(hooked, reference, atol=1e-5, rtol=1e-5)


def test_each_row_of_a_batch_gets_its_own_adapter(gpt2):
    import torch

    from harness.plugins.hypernet.functional import AdaptedModel, find_targets

    targets = find_targets(gpt2.model, LEAVES["gpt2"])
    adapters = _random_adapters(targets, n=2, seed=3)
    ids = _ids(gpt2, ["x = [1, 2]\n", "x = [1, 2]\n"])  # one text, two adapters
    wrapped = AdaptedModel(gpt2.model, targets)
    with torch.no_grad():
        wrapped.adapter = adapters
        together = wrapped(input_ids=ids).logits
        alone = []
        for row in range(2):
            wrapped.adapter = adapters.select(row)
            alone.append(wrapped(input_ids=ids[row : row + 1]).logits[0])
    torch.testing.assert_close(together, torch.stack(alone), atol=1e-5, rtol=1e-5)


def test_generation_goes_through_the_adapter(gpt2):
    from harness.plugins.hypernet.controls import adapted_view
    from harness.plugins.hypernet.functional import find_targets

    targets = find_targets(gpt2.model, LEAVES["gpt2"])
    zero = _random_adapters(targets, n=1)
    zero.factors = {p: (a, b * 0) for p, (a, b) in zero.factors.items()}
    strong = _random_adapters(targets, n=1, seed=5, scaling=20.0)
    prompts = ["assert add(1, 2) == ", "values = {"]
    kwargs = {"max_new_tokens": 6, "context_tokens": 64}
    plain = [g.text for g in gpt2.generate(prompts, **kwargs)]
    with_zero = adapted_view(gpt2, zero, targets, {"x": 1})
    assert with_zero.info == {"x": 1} and with_zero.kind == "causal-lm"
    assert [g.text for g in with_zero.generate(prompts, **kwargs)] == plain
    changed = [g.text for g in adapted_view(gpt2, strong, targets, {}).generate(prompts, **kwargs)]
    assert changed != plain
    assert [g.text for g in gpt2.generate(prompts, **kwargs)] == plain  # the LM is untouched


def test_the_per_example_view_generates_each_prefix_with_its_own_adapter(gpt2):
    from harness.plugins.hypernet.controls import adapted_view, per_example_view
    from harness.plugins.hypernet.functional import find_targets

    targets = find_targets(gpt2.model, LEAVES["gpt2"])
    adapters = _random_adapters(targets, n=3, seed=7, scaling=20.0)
    own = {"a = ": 0, "b = ": 1, "assert x == ": 2, "c = [": 1}
    view = per_example_view(
        gpt2, lambda p: adapters.select(own[p]), adapters.select(0), targets, {}
    )
    kwargs = {"max_new_tokens": 5, "context_tokens": 32}
    together = [g.text for g in view.generate(list(own), **kwargs)]
    expected = [
        adapted_view(gpt2, adapters.select(k), targets, {}).generate([p], **kwargs)[0].text
        for p, k in own.items()
    ]
    assert together == expected
    from harness.plugins.completion_stopping import expression_stop

    rules = [expression_stop(p) for p in own]  # one stop rule per prefix, split by group
    stopped = [g.text for g in view.generate(list(own), stop=rules, **kwargs)]
    assert stopped == [
        adapted_view(gpt2, adapters.select(k), targets, {})
        .generate([p], stop=[rule], **kwargs)[0]
        .text
        for (p, k), rule in zip(own.items(), rules, strict=True)
    ]


def test_the_mean_update_and_the_update_cosines_by_explicit_matrices(gpt2):
    import torch

    from harness.plugins.hypernet.functional import (
        find_targets,
        mean_off_diagonal,
        pairwise_cosines,
        update_cosines,
    )

    targets = find_targets(gpt2.model, LEAVES["gpt2"])
    adapters = _random_adapters(targets, n=3, rank=2, seed=11)
    explicit = {p: torch.einsum("nor,nri->noi", b, a) for p, (a, b) in adapters.factors.items()}
    mean = adapters.mean_update()
    assert mean.count == 1 and mean.rank == 6  # three rank-2 adapters stacked
    for path, (a, b) in mean.factors.items():
        torch.testing.assert_close(b[0] @ a[0], explicit[path].mean(dim=0), atol=1e-5, rtol=1e-5)
    flat = torch.cat([u.reshape(3, -1) for u in explicit.values()], dim=1).numpy()
    normed = flat / np.linalg.norm(flat, axis=1, keepdims=True)
    np.testing.assert_allclose(update_cosines(adapters).numpy(), normed @ normed.T, atol=1e-5)
    factors = adapters.flat().numpy()
    factors /= np.linalg.norm(factors, axis=1, keepdims=True)
    cosines = pairwise_cosines(adapters.flat())
    np.testing.assert_allclose(cosines.numpy(), factors @ factors.T, atol=1e-5)
    by_hand = (factors @ factors.T)[~np.eye(3, dtype=bool)].mean()
    assert mean_off_diagonal(cosines) == pytest.approx(by_hand, abs=1e-6)
    assert mean_off_diagonal(cosines[:1, :1]) is None


# --- the network --------------------------------------------------------------------------------


def _network(lm, leaves, input_dim: int = 12, **options):
    import torch

    from harness.plugins.hypernet.functional import find_targets
    from harness.plugins.hypernet.network import HyperNetwork, architecture_for

    targets = find_targets(lm.model, leaves)
    torch.manual_seed(0)
    return HyperNetwork(architecture_for(targets, input_dim, 4, 8.0, hidden=16, **options), targets)


def test_a_new_network_writes_adapters_that_leave_the_model_as_it_is(gpt2):
    import torch

    from harness.plugins.hypernet.functional import AdaptedModel

    network = _network(gpt2, LEAVES["gpt2"])
    adapters = network(torch.randn(2, 12))
    assert adapters.count == 2 and adapters.scaling == 2.0
    assert all(torch.count_nonzero(b) == 0 for _, b in adapters.factors.values())  # B = 0
    ids = _ids(gpt2, ["x = 1\n"])
    with torch.no_grad():
        wrapped = AdaptedModel(gpt2.model, network.targets, adapters.select(0).detach())
        assert torch.equal(wrapped(input_ids=ids).logits, gpt2.model(input_ids=ids).logits)


def test_outputs_are_bounded_by_the_learned_scales(gpt2):
    import torch

    network = _network(gpt2, LEAVES["gpt2"])
    with torch.no_grad():
        for head in network.heads_b:
            head.weight.normal_(0, 10.0)  # saturate tanh
        adapters = network(torch.randn(4, 12) * 100)
    for path, (a, b) in adapters.factors.items():
        k = network.kind_index[next(t.kind for t in network.targets if t.path == path)]
        assert a.abs().max() <= network.a_scale[k] + 1e-6
        assert b.abs().max() <= network.b_scale[k] + 1e-6
        assert b.abs().max() > 0.5 * network.b_scale[k]


def test_layer_embeddings_let_layers_differ(gpt2):
    import torch

    for layer_dim, same in ((0, True), (8, False)):
        network = _network(gpt2, LEAVES["gpt2"], layer_dim=layer_dim)
        with torch.no_grad():
            for head in network.heads_b:
                head.weight.normal_()
            adapters = network(torch.randn(1, 12))
        first = adapters.factors["transformer.h.0.mlp.c_fc"]
        second = adapters.factors["transformer.h.1.mlp.c_fc"]
        assert torch.equal(first[0], second[0]) is same
        assert torch.equal(first[1], second[1]) is same


def test_standardised_inputs(gpt2):
    import torch

    network = _network(gpt2, LEAVES["gpt2"], input_dim=3)
    vectors = torch.tensor([[1.0, 2.0, 3.0], [3.0, 2.0, 1.0]])
    network.set_input_statistics(vectors)
    # mean (2, 2, 2); each row is sqrt(2) from it, spread per coordinate sqrt(2) / sqrt(3)
    torch.testing.assert_close(network.input_mean, torch.tensor([2.0, 2.0, 2.0]))
    standard = network.standardise(vectors)
    torch.testing.assert_close(standard[0], torch.tensor([-1.0, 0.0, 1.0]) * (3 / 2) ** 0.5)


# --- the repository reader ----------------------------------------------------------------------


class CountingEncoder:
    """A stand-in embedding model: a text's vector comes from a hash of the text (unit norm);
    it counts what it is asked to embed."""

    dim = 6

    def __init__(self) -> None:
        self.seen: list[str] = []

    @staticmethod
    def vector(text: str) -> np.ndarray:
        import hashlib

        seed = int(hashlib.sha256(text.encode()).hexdigest()[:8], 16)
        v = np.random.default_rng(seed).normal(size=CountingEncoder.dim)
        return (v / np.linalg.norm(v)).astype(np.float32)

    def encode(self, texts, *, role="code", description=""):
        self.seen += list(texts)
        return np.stack([self.vector(t) for t in texts])


def _reader(cache: Path, encoder: CountingEncoder, **settings):
    from harness.plugins.hypernet.repo_encoder import ReaderSettings, RepositoryReader

    return RepositoryReader(
        ReaderSettings(**settings), cache, lambda: encoder, {"encoder": "count"}
    )


def _tree(root: Path, files: dict[str, str]) -> Path:
    for path, text in files.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(text)
    return root


def test_chunks_start_at_lines_overlap_and_are_capped():
    from harness.plugins.hypernet.repo_encoder import ReaderSettings, chunks

    text = "".join(f"line {i}\n" for i in range(6))  # 7 characters a line
    got = chunks(text, ReaderSettings(chunk_chars=14, overlap_chars=7, max_chunks=0))
    assert got[0] == "line 0\nline 1\n" and got[1] == "line 1\nline 2\n"  # one line of overlap
    assert got[-1].endswith("line 5\n") and len(got) == 5
    capped = chunks(text, ReaderSettings(chunk_chars=14, overlap_chars=7, max_chunks=2))
    assert capped == [got[0], got[-1]]  # evenly spaced: the first and the last
    assert chunks("  \n", ReaderSettings()) == []


def test_a_repository_vector_is_the_normalised_mean_and_max_of_its_files(tmp_path):
    from harness.plugins.hypernet.repo_encoder import ReaderSettings, chunks

    root = _tree(tmp_path / "repo", {
        "pkg/a.py": "def a():\n    return 1\n" * 3,
        "pkg/b.py": "B = 2\n",
        "tests/test_a.py": "assert a() == 1\n",  # the assertions being completed: never read
        ".hidden/c.py": "C = 3\n",
        "build/d.py": "D = 4\n",
        "notes.txt": "not python\n",
    })  # fmt: skip
    encoder = CountingEncoder()
    settings = {"chunk_chars": 24, "overlap_chars": 8}
    vector = _reader(tmp_path / "cache", encoder, **settings).repository_vector(root)
    files = []
    for name in ("pkg/a.py", "pkg/b.py"):
        pieces = chunks((root / name).read_text(), ReaderSettings(**settings))
        files.append(np.mean([CountingEncoder.vector(p) for p in pieces], axis=0))
    joined = np.concatenate([np.mean(files, axis=0), np.max(files, axis=0)])
    np.testing.assert_allclose(vector, joined / np.linalg.norm(joined), atol=1e-6)
    assert all("assert" not in t and "C = 3" not in t and "D = 4" not in t for t in encoder.seen)


def test_file_vectors_are_cached_by_content(tmp_path):
    root = _tree(tmp_path / "repo", {"a.py": "A = 1\n", "b.py": "B = 2\n"})
    first = CountingEncoder()
    vector = _reader(tmp_path / "cache", first).repository_vector(root)
    assert sorted(first.seen) == ["A = 1\n", "B = 2\n"]
    again = CountingEncoder()
    reader = _reader(tmp_path / "cache", again)
    np.testing.assert_array_equal(reader.repository_vector(root), vector)
    assert again.seen == [] and reader.embedded_files == 0  # nothing embedded twice
    (root / "b.py").write_text("B = 3\n")
    changed = _reader(tmp_path / "cache", again).repository_vector(root)
    assert again.seen == ["B = 3\n"] and not np.allclose(changed, vector)
    leftovers = [p for p in (tmp_path / "cache").rglob("*") if p.is_file() and p.suffix != ".npy"]
    assert leftovers == []  # written through a temporary name, renamed into place
    other = CountingEncoder()
    _reader(tmp_path / "cache", other, chunk_chars=3).repository_vector(root)
    assert other.seen  # other settings: another cache


def test_large_repositories_are_sampled_stably():
    from harness.plugins.hypernet.repo_encoder import ReaderSettings, choose

    paths = [f"pkg/m{i}.py" for i in range(20)] + ["tests/test_x.py", "pkg/__pycache__/m.py"]
    settings = ReaderSettings(max_files=5)
    picked = choose(paths, settings)
    assert len(picked) == 5 and picked == sorted(picked)
    assert choose(list(reversed(paths)), settings) == picked
    grown = choose([*paths, "pkg/new.py"], settings)
    assert len(set(grown) - set(picked)) <= 1  # a new file displaces at most one pick
    assert "tests/test_x.py" in choose(paths, ReaderSettings(include_tests=True, max_files=0))


def test_a_diff_is_read_file_by_file():
    from harness.plugins.hypernet.repo_encoder import diff_sections

    diff = (
        "diff --git a/x.py b/x.py\n--- a/x.py\n+++ b/x.py\n@@ -1 +1 @@\n-A = 1\n+A = 2\n"
        "diff --git a/y.py b/y.py\nnew file mode 100644\n+B = 1\n"
    )
    sections = diff_sections(diff)
    assert len(sections) == 2 and sections[0].endswith("+A = 2\n") and "+B = 1" in sections[1]
    assert diff_sections("") == [] and diff_sections("+x\n") == ["+x\n"]


def _git(root: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(root), "-c", "user.name=t", "-c", "user.email=t@t", *args],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return done.stdout.strip()


def test_a_snapshot_is_read_from_git(tmp_path):
    from harness.plugins.hypernet.repo_encoder import ReaderSettings, git_snapshot

    root = tmp_path / "repo"
    root.mkdir()
    _git(root, "init", "-q")
    _tree(root, {"a.py": "A = 1\n"})
    _git(root, "add", ".")
    _git(root, "commit", "-q", "-m", "one")
    first = _git(root, "rev-parse", "HEAD")
    _tree(root, {"a.py": "A = 2\n", "b.py": "B = 1\n", "tests/test_a.py": "assert A == 2\n"})
    _git(root, "add", ".")
    _git(root, "commit", "-q", "-m", "two")
    second = _git(root, "rev-parse", "HEAD")
    settings = ReaderSettings()
    assert git_snapshot(root, second, settings) == {"a.py": "A = 2\n", "b.py": "B = 1\n"}
    assert git_snapshot(root, f"{second}^", settings) == {"a.py": "A = 1\n"}
    assert git_snapshot(root, f"{first}^", settings) == {}  # before the root commit: empty
    assert git_snapshot(root, "0" * 40, settings) is None
    assert git_snapshot(tmp_path, "HEAD", settings) is None  # not a repository


# --- training -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def small_data(tmp_path_factory: pytest.TempPathFactory):
    from tests.synthetic_repos import write_synthetic_repositories

    return write_synthetic_repositories(
        tmp_path_factory.mktemp("synthetic"), n_train=6, n_test=3, per_repo=2
    )


def _training_setup(gpt2, dataset):
    import torch

    from harness.plugins.hypernet.training import RepositoryInputs

    network = _network(gpt2, LEAVES["gpt2"], input_dim=12)
    generator = torch.Generator().manual_seed(1)
    repos = sorted(dataset.roots)
    inputs = RepositoryInputs({r: torch.randn(12, generator=generator) for r in repos})
    network.set_input_statistics(torch.stack(list(inputs.snapshots.values())))
    examples = list(dataset.train)
    return network, examples, [(e.repo, 0) for e in examples], inputs


def test_a_killed_training_resumes_to_the_same_network(gpt2, small_data, tmp_path):
    import torch

    from harness.plugins.hypernet.settings import HypernetSettings
    from harness.plugins.hypernet.training import train_hypernetwork

    settings = HypernetSettings(steps=6, batch_size=4, max_length=48, checkpoint_every=2,
                                warmup_steps=1, lr=1e-2)  # fmt: skip
    network, examples, conditions, inputs = _training_setup(gpt2, small_data)
    whole = train_hypernetwork(
        gpt2, network, examples, conditions, inputs, settings, tmp_path / "a"
    )
    assert whole.steps == 6 and whole.resumed_from == 0 and len(whole.losses) == 6

    class Killed(Exception):
        pass

    def kill_at_4(step: int) -> None:
        if step == 4:
            raise Killed

    first, *rest = _training_setup(gpt2, small_data)
    with pytest.raises(Killed):
        train_hypernetwork(gpt2, first, *rest, settings, tmp_path / "b", on_step=kill_at_4)
    saved = sorted(p.name for p in (tmp_path / "b" / "checkpoint").iterdir())
    assert saved == ["network.safetensors", "optimizer.safetensors", "state.json"]  # no pickle
    again, *rest = _training_setup(gpt2, small_data)
    resumed = train_hypernetwork(gpt2, again, *rest, settings, tmp_path / "b")
    assert resumed.resumed_from == 4 and resumed.losses == whole.losses
    for name, tensor in network.state_dict().items():
        assert torch.equal(tensor, again.state_dict()[name]), name
    assert all(not p.requires_grad for p in gpt2.model.parameters())  # the LM stays frozen


def test_balanced_batches_draw_repositories_evenly():
    from collections import Counter

    from harness.plugins.hypernet.settings import HypernetSettings
    from harness.plugins.hypernet.training import batch_schedule

    conditions = [("big", 0)] * 90 + [("small", 0)] * 10
    settings = HypernetSettings(steps=50, batch_size=20)
    drawn = Counter(conditions[i][0] for b in batch_schedule(conditions, settings) for i in b)
    assert abs(drawn["big"] - drawn["small"]) < 0.1 * 1000  # 1000 draws, about half each
    unbalanced = HypernetSettings(steps=50, batch_size=20, balanced=False)
    plain = Counter(conditions[i][0] for b in batch_schedule(conditions, unbalanced) for i in b)
    assert plain["big"] == 9 * plain["small"]  # ten full passes over the items
    again = batch_schedule(conditions, settings)
    assert all((a == b).all() for a, b in zip(batch_schedule(conditions, settings), again,
                                              strict=True))  # fmt: skip


def test_evo_inputs_are_the_gru_state_after_the_commits(gpt2):
    import torch

    from harness.plugins.hypernet.training import RepositoryInputs, network_inputs

    network = _network(gpt2, LEAVES["gpt2"], input_dim=12, evo=True, diff_dim=5, state_dim=7)
    generator = torch.Generator().manual_seed(2)
    inputs = RepositoryInputs(
        {"a": torch.randn(12, generator=generator), "b": torch.randn(12, generator=generator)},
        {"a": torch.randn(3, 5, generator=generator)},
    )
    with torch.no_grad():
        rows = network_inputs(network, inputs, [("a", 0), ("a", 2), ("b", 0), ("a", 3)])
        h = network.initial_state(inputs.snapshots["a"][None])
        states = [h]
        for k in range(3):
            h = network.step(h, inputs.diffs["a"][k : k + 1])
            states.append(h)
        torch.testing.assert_close(rows[0], states[0][0])
        torch.testing.assert_close(rows[1], states[2][0])
        torch.testing.assert_close(rows[3], states[3][0])
        torch.testing.assert_close(rows[2], network.initial_state(inputs.snapshots["b"][None])[0])
        constant = network_inputs(network, inputs, [("a", 0), ("b", 0)], constant=True)
    assert not torch.allclose(rows[0], rows[2])
    torch.testing.assert_close(constant[0], constant[1])  # blind to the repository
    with pytest.raises(HarnessError, match="4 commits asked for, 3 known"):
        network_inputs(network, inputs, [("a", 4)])


# --- settings and registration ------------------------------------------------------------------


def test_settings_presets_and_their_checks():
    from harness.plugins.hypernet.settings import settings_from

    quick = settings_from({})
    assert (quick.r, quick.encoder, quick.condition) == (8, "minilm", "repository")
    paper = settings_from({"preset": "paper", "steps": "10"})
    assert (paper.r, paper.alpha, paper.steps) == (16, 32.0, 10)
    assert paper.encoder == "hf:Qwen/Qwen3-Embedding-0.6B"
    assert settings_from({"target_modules": "q_proj,v_proj"}).target_modules == ("q_proj", "v_proj")
    assert "export_dir" not in quick.identity() and "controls" not in quick.identity()
    for options, message in [
        ({"preset": "huge"}, "unknown hypernet preset 'huge'"),
        ({"rank": 4}, "unknown strategy option 'rank'"),
        ({"condition": "nothing"}, "strategy.condition must be one of repository, constant"),
        ({"steps": 0}, "strategy.steps must be positive"),
        ({"overlap_chars": 1000}, "overlap_chars must be at least 0 and below chunk_chars"),
        ({"r": "four"}, "strategy.r: expected int"),
    ]:
        with pytest.raises(HarnessError, match=message):
            settings_from(options)


def test_registering_the_plugin_imports_no_torch():
    code = (
        "import sys; from harness.plugin_manager import load_plugins; loaded = load_plugins(); "
        "assert 'hypernet-static' in loaded.strategies and 'hypernet-evo' in loaded.strategies; "
        "print('torch' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"


# --- the strategies -----------------------------------------------------------------------------

TASK_OPTIONS = {"max_new_tokens": 4, "context_tokens": 64, "batch_size": 8}


def _strategy(kind: str, tmp_path: Path, tiny_bert: Path, **options):
    from harness.plugin_manager import plugins
    from harness.strategy import StrategyContext

    card = plugins().tasks.get("rc").load()
    settings = {"encoder": f"hf:{tiny_bert}", "steps": 4, "batch_size": 4, "max_length": 48,
                "r": 2, "alpha": 4, "hidden": 16, "layer_dim": 4, "state_dim": 8}  # fmt: skip
    settings.update(options)
    context = StrategyContext(
        task=card, cache_dir=tmp_path / "cache", options=settings, model="tiny-gpt2",
        task_options={**card.options, **TASK_OPTIONS}, registries=plugins().registries,
    )  # fmt: skip
    return plugins().strategies.get(kind).load()(context)


def test_hypernetworks_apply_to_completion_tasks_only():
    from harness.errors import HarnessError as Error
    from harness.plan import RunRequest, plan

    with pytest.raises(Error, match="does not apply to task 't2c'.*applies to: completion"):
        plan(RunRequest(model="minilm", strategy="hypernet-static", task="t2c"))


def test_static_writes_one_adapter_per_repository_and_scores_the_controls(
    gpt2, small_data, tiny_bert, tmp_path
):
    import torch

    from harness.plugins.completion_eval import Completion
    from harness.plugins.hypernet.store import HypernetStore
    from harness.task_kind import EvaluationOptions

    strategy = _strategy("hypernet-static", tmp_path, tiny_bert, export_dir=str(tmp_path / "out"))
    config = strategy.config(small_data)
    assert sorted(config["repositories"]) == sorted(small_data.partitions)
    strategy.prepare(gpt2, small_data)
    stored = HypernetStore(tmp_path / "cache").get(config["hypernet_key"])
    assert stored is not None and stored.meta["training"]["steps"] == 4
    assert stored.meta["identity"]["repositories"].keys() == {e.repo for e in small_data.train}

    for name, partition in sorted(small_data.partitions.items()):
        view = strategy.model_for(gpt2, partition)
        info = view.info
        assert view.kind == "causal-lm" and info["hypernet"]["repository"] == name
        assert info["hypernet_training"]["key"] == config["hypernet_key"]
        assert info["adapter_generation"]["seconds"] >= 0
        controls = info["controls"]
        assert controls["metric"] == "exact_match"
        assert controls["diversity"]["n_adapters"] == 3 and not controls["diversity"]["collapsed"]
        assert controls["shuffled_from"] in small_data.partitions
        assert controls["shuffled_from"] != name
        per_example = controls["per_example"]
        assert per_example["ids"] == [e.id for e in partition.eval]
        for control in ("shuffled", "mean_adapter"):
            assert len(per_example[control]) == len(partition.eval)
            assert controls[control] == pytest.approx(np.mean(per_example[control]))
        evaluation = Completion().evaluate(view, partition.eval, EvaluationOptions(
            extra=TASK_OPTIONS))  # fmt: skip
        assert [row["id"] for row in evaluation.per_example] == per_example["ids"]
        exported = tmp_path / "out" / name / "adapter_config.json"
        assert exported.is_file() and '"r": 2' in exported.read_text()

    again = _strategy("hypernet-static", tmp_path, tiny_bert)
    assert again.config(small_data)["hypernet_key"] == config["hypernet_key"]
    again.prepare(gpt2, small_data)  # loaded from the cache, not trained again
    assert again.training == stored.meta["training"]
    for name in small_data.partitions:
        first, second = strategy.current_adapter(name), again.current_adapter(name)
        for path, (a, b) in first.factors.items():
            a2, b2 = second.factors[path]
            assert torch.equal(a, a2) and torch.equal(b, b2)
    other = _strategy("hypernet-static", tmp_path, tiny_bert, r=4)
    assert other.config(small_data)["hypernet_key"] != config["hypernet_key"]


def test_a_hypernetwork_blind_to_its_input_is_flagged_collapsed(
    gpt2, small_data, tiny_bert, tmp_path
):
    strategy = _strategy("hypernet-static", tmp_path, tiny_bert, condition="constant",
                         controls=False)  # fmt: skip
    strategy.prepare(gpt2, small_data)
    assert strategy.diversity["collapsed"] and strategy.diversity["mean_cosine"] == pytest.approx(1)
    partition = next(iter(small_data.partitions.values()))
    assert "controls" not in strategy.model_for(gpt2, partition).info


def _git_repository(root: Path, name: str, constant: int) -> Path:
    """Three commits: code, then a test of it, then new code and a second test."""
    folder = root / name
    (folder / "tests").mkdir(parents=True)
    _git(folder, "init", "-q")
    steps = [
        {"core.py": f"def value():\n    return {constant}\n"},
        {"tests/test_core.py": "from core import value\n\n\ndef test_value():\n"
                               f"    assert value() == {constant}\n"},
        {"core.py": f"def value():\n    return {constant}\n\n\ndef double():\n"
                    f"    return {2 * constant}\n",
         "tests/test_double.py": "from core import double\n\n\ndef test_double():\n"
                                 f"    assert double() == {2 * constant}\n"},
    ]  # fmt: skip
    for k, files in enumerate(steps):
        _tree(folder, files)
        _git(folder, "add", ".")
        _git(folder, "commit", "-q", "-m", f"step {k}")
    return folder


def test_evo_scores_each_example_with_the_adapter_after_its_commit(gpt2, tiny_bert, tmp_path):
    from harness.data import DatasetOptions
    from harness.plugins.local_dataset.completion_loader import load_local_completion

    for i, name in enumerate(("alpha", "beta", "gamma", "delta", "epsilon")):
        _git_repository(tmp_path / "repos", name, 10 + i)
    dataset = load_local_completion(DatasetOptions(
        task="rc", cache_dir=tmp_path / "cache", data_dir=tmp_path / "repos", split="cr_test",
        extra={"min_per_repo": 1},
    ))  # fmt: skip
    assert dataset.commits and all(len(c) == 3 for c in dataset.commits.values())
    strategy = _strategy("hypernet-evo", tmp_path, tiny_bert)
    strategy.config(dataset)
    strategy.prepare(gpt2, dataset)
    for name, partition in dataset.partitions.items():
        assert strategy.adapters[name].count == 4  # h_0 and the state after each of 3 commits
        view = strategy.model_for(gpt2, partition)
        evolution = view.info["evolution"]
        first_sha = dataset.commits[name][0].sha
        assert evolution["h0_from"] == f"git {first_sha[:12]}^" and evolution["commits"] == 3
        # test_core.py came with commit 1 (two steps), test_double.py with commit 2 (three)
        by_file = {e.test_file: k for e, k in zip(partition.eval, evolution["steps"], strict=True)}
        assert by_file == {"tests/test_core.py": 2, "tests/test_double.py": 3}
        assert {"shuffled", "mean_adapter", "first_snapshot"} <= set(view.info["controls"])
        assert view.info["controls"]["shuffled_from"] in set(dataset.commits) - {name}


def test_harness_run_records_the_controls_and_the_report_pairs_them(tiny_bert, tmp_path, capsys):
    import json

    from harness.cli import main
    from harness.results import read_examples, read_result
    from tests.synthetic_repos import write_synthetic_repositories

    write_synthetic_repositories(tmp_path / "repos", n_train=6, n_test=3, per_repo=3)
    model = make_tiny_causal_lm(tmp_path / "lm")
    settings = {"strategy.encoder": f"hf:{tiny_bert}", "strategy.steps": 3, "strategy.r": 2,
                "strategy.batch_size": 4, "strategy.max_length": 48, "strategy.hidden": 16,
                "dataset.min_per_repo": 1, "dataset.layout": "many",
                "dataset.cr_test_fraction": 0.34, "task.max_new_tokens": 4,
                "task.context_tokens": 64}  # fmt: skip
    flags = [item for key, value in settings.items() for item in ("--set", f"{key}={value}")]
    code = main(["run", "--model", f"hf:{model}", "--strategy", "hypernet-static", "--task", "rc",
                 "--data-dir", str(tmp_path / "repos"), "--results", str(tmp_path / "results"),
                 "--cache-dir", str(tmp_path / "cache"), "--device", "cpu", *flags])  # fmt: skip
    assert code == 0
    found = sorted((tmp_path / "results").rglob("*.json"))
    assert len(found) == 3  # three cr_test repositories of nine
    for path in found:
        result = read_result(path)
        controls = result.config["encoder_info"]["controls"]
        assert controls["per_example"]["ids"] == [r["id"] for r in read_examples(path)]
        key = result.config["strategy"]["hypernet_key"]
        assert result.config["encoder_info"]["hypernet_training"]["key"] == key
    capsys.readouterr()
    assert main(["hypernet", "controls", str(tmp_path / "results"), "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["partition"] for r in rows] == [*(read_result(p).partition for p in found), "(all)"]
    for row in rows:
        assert set(row["tests"]) == {"shuffled", "mean_adapter"}
        for test in row["tests"].values():
            assert test["difference"] == pytest.approx(row["score"] - test["score"])
            assert 0 < test["p_value"] <= 1
    assert main(["hypernet", "controls", str(tmp_path / "results")]) == 0
    table = capsys.readouterr().out
    assert "shuffled" in table and "mean_adapter" in table and "(all)" in table


@pytest.mark.gpu
def test_on_cuda_training_runs_under_bf16_and_the_adapters_generate(small_data, tmp_path):
    import torch

    from harness.encoder import EncoderOptions
    from harness.plugins.causal_lm.model import CausalLM
    from harness.plugins.hypernet.controls import adapted_view
    from harness.plugins.hypernet.settings import HypernetSettings
    from harness.plugins.hypernet.training import autocast_precision, train_hypernetwork

    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    path = make_tiny_causal_lm(tmp_path / "lm", architecture="gpt2")
    lm = CausalLM(str(path), EncoderOptions(dtype="auto"))
    assert next(lm.model.parameters()).dtype == torch.bfloat16
    settings = HypernetSettings(steps=3, batch_size=4, max_length=48)
    assert autocast_precision(settings, lm.device) == "bf16"
    network, examples, conditions, inputs = _training_setup(lm, small_data)
    report = train_hypernetwork(lm, network, examples, conditions, inputs, settings, tmp_path / "w")
    assert all(np.isfinite(report.losses)) and next(network.parameters()).is_cuda
    with torch.no_grad():
        adapter = network(inputs.snapshots[examples[0].repo][None].cuda())
    view = adapted_view(lm, adapter, network.targets, {})
    [generation] = view.generate(["assert x == "], max_new_tokens=4, context_tokens=32)
    assert 1 <= generation.new_tokens <= 4


def test_harness_run_evo_and_the_track_report(tiny_bert, tmp_path, capsys):
    import json

    from harness.cli import main

    for i, name in enumerate(("alpha", "beta", "gamma", "delta", "epsilon")):
        _git_repository(tmp_path / "repos", name, 10 + i)
    model = make_tiny_causal_lm(tmp_path / "lm")
    settings = {"strategy.encoder": f"hf:{tiny_bert}", "strategy.steps": 3, "strategy.r": 2,
                "strategy.batch_size": 4, "strategy.max_length": 48, "strategy.hidden": 16,
                "strategy.state_dim": 8, "dataset.min_per_repo": 1, "task.max_new_tokens": 4,
                "task.context_tokens": 64}  # fmt: skip
    flags = [item for key, value in settings.items() for item in ("--set", f"{key}={value}")]
    code = main(["run", "--model", f"hf:{model}", "--strategy", "hypernet-evo", "--task", "rc",
                 "--data-dir", str(tmp_path / "repos"), "--results", str(tmp_path / "results"),
                 "--cache-dir", str(tmp_path / "cache"), "--device", "cpu", *flags])  # fmt: skip
    assert code == 0
    capsys.readouterr()
    assert main(["hypernet", "track", str(tmp_path / "results"), "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [(r["step"], r["n"]) for r in rows] == [(2, 1), (3, 1)]  # one cr_test repository
    assert all(r["first_snapshot"] is not None for r in rows)
    assert main(["hypernet", "controls", str(tmp_path / "results"), "--json"]) == 0
    [row] = json.loads(capsys.readouterr().out)
    assert set(row["tests"]) == {"shuffled", "mean_adapter", "first_snapshot"}
    assert main(["hypernet", "track", str(tmp_path / "nothing")]) == 2
