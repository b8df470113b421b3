"""The shared adapter machinery (plugins/adapters): publishing, the store, checkpoints,
settings. The LoRA and hypernetwork tests use all of it end to end; these pin each piece."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
import torch

from harness.atomic import publishing
from harness.errors import HarnessError
from harness.plugins.adapters.checkpoint import load_checkpoint, save_checkpoint
from harness.plugins.adapters.settings import coerce, overridden, preset
from harness.plugins.adapters.store import ArtifactStore


def test_a_folder_is_replaced_whole_or_not_at_all(tmp_path: Path) -> None:
    final = tmp_path / "index"
    with publishing(final) as folder:
        (folder / "a.txt").write_text("one")
    with pytest.raises(RuntimeError), publishing(final) as folder:
        (folder / "a.txt").write_text("two")
        raise RuntimeError("killed while writing")
    assert (final / "a.txt").read_text() == "one"
    with publishing(final) as folder:
        (folder / "b.txt").write_text("three")
    assert sorted(p.name for p in final.iterdir()) == ["b.txt"]  # nothing of the old one
    assert sorted(p.name for p in tmp_path.iterdir()) == ["index"]  # no temporary left


class Things(ArtifactStore):
    kind = "things"
    meta_file = "thing.json"


def test_the_store_publishes_an_artifact_with_its_meta(tmp_path: Path) -> None:
    store = Things(tmp_path)
    store.workdir("k1").mkdir(parents=True)
    with store.claim("k1"), store.publishing("k1", {"steps": 3}) as folder:
        (folder / "weights.bin").write_bytes(b"w")
    stored = store.cached("k1")
    assert stored is not None and stored.meta == {"steps": 3}
    assert (tmp_path / "things" / "k1" / "weights.bin").read_bytes() == b"w"
    assert not store.workdir("k1").exists()  # the training's work folder goes with it
    assert [s.key for s in store.list()] == ["k1"] and store.find("k").key == "k1"
    assert store.get("k2") is None and store.checkpointed_steps("k2") == 0
    with pytest.raises(HarnessError, match="is not a plain name"):
        store.path("../k1")


def test_a_checkpoint_gives_back_the_optimizer_and_random_state(tmp_path: Path) -> None:
    layer = torch.nn.Linear(3, 2)
    optimizer = torch.optim.AdamW(layer.parameters(), lr=0.1)
    layer(torch.ones(1, 3)).sum().backward()
    optimizer.step()
    rng = torch.get_rng_state()
    written = []
    save_checkpoint(tmp_path / "checkpoint", written.append, optimizer.state_dict(),
                    {"step": 1, "losses": [0.5], "seconds": 2.0})  # fmt: skip
    assert written == [tmp_path / ".checkpoint.tmp"]  # the weights: the caller's to write
    resumed = load_checkpoint(tmp_path / "checkpoint")
    assert resumed is not None
    assert (resumed.step, resumed.losses, resumed.seconds) == (1, [0.5], 2.0)
    assert torch.equal(resumed.rng, rng)
    fresh = torch.optim.AdamW(torch.nn.Linear(3, 2).parameters(), lr=0.1)
    fresh.load_state_dict(resumed.optimizer)
    for before, after in zip(optimizer.state.values(), fresh.state.values(), strict=True):
        assert all(torch.equal(before[k], after[k]) for k in ("exp_avg", "exp_avg_sq", "step"))
    assert load_checkpoint(tmp_path / "none") is None


def test_a_checkpoint_in_the_older_hypernetwork_layout_is_started_over(tmp_path: Path) -> None:
    from safetensors.torch import save_file

    folder = tmp_path / "checkpoint"  # moments as state.<param>.<name>, the rng beside them
    folder.mkdir()
    save_file({"state.0.exp_avg": torch.zeros(2), "torch_rng_state": torch.get_rng_state()},
              str(folder / "optimizer.safetensors"))  # fmt: skip
    (folder / "state.json").write_text('{"step": 4, "losses": [1.0], "seconds": 1.0}')
    assert load_checkpoint(folder) is None


@dataclass(frozen=True)
class Settings:
    r: int = 8
    lr: float = 1e-3
    balanced: bool = True
    targets: tuple[str, ...] = ()


def test_options_override_a_preset_each_as_its_field_type() -> None:
    presets = {"quick": Settings(), "paper": Settings(r=16)}
    base = preset(presets, {"preset": "paper"}, "demo")
    got = overridden(base, {"preset": "paper", "lr": "0.5", "balanced": "off",
                            "targets": "q, v"}, reserved=("preset",))  # fmt: skip
    assert got == Settings(r=16, lr=0.5, balanced=False, targets=("q", "v"))
    with pytest.raises(HarnessError, match=r"unknown strategy option 'rank' \(known: balanced"):
        overridden(base, {"rank": 4})
    with pytest.raises(HarnessError, match="unknown demo preset 'huge'"):
        preset(presets, {"preset": "huge"}, "demo")
    for value, message in [(2.5, "expected an integer"), ("four", "expected int"),
                           (True, "expected int")]:  # fmt: skip
        with pytest.raises(HarnessError, match=message):
            coerce("strategy.r", value, 8)
    with pytest.raises(HarnessError, match="must be true or false"):
        coerce("strategy.balanced", "maybe", True)
