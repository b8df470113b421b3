"""The learning curve behind tiny-code-lm's presets (docs/pretraining.md).

Three pretrainings of the default architecture at 4 x 1024 tokens a step, each with its
own cosine schedule: 300, 860 and 2860 steps, what 2 idle CPU cores train in about 10,
30 and 100 minutes in float32 (~1,950 tokens/s measured). The long ones can be trained on
a GPU in float32 (TF32 off), so that they are the models these cores would make:

    # here: the corpus, tokenizers and token streams of this machine, and the keys
    python examples/pretrain_curve.py prepare --cache-dir .curve/cache
    # on the GPU machine (a copy of the tree, with .curve carried):
    python examples/pretrain_curve.py train --cache-dir .curve/cache --out OUT --bring 2860
    # back here: the trained folders go into the cache under their keys, then evaluate
    python examples/pretrain_curve.py install --cache-dir ~/.cache/harness --from OUT

`harness pretrain --preset long` makes the 2860-step model on the CPU itself.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tarfile
from dataclasses import replace
from pathlib import Path

STEPS = (300, 860, 2860)
PLAN = "curve.json"


SMOKE = os.environ.get("CURVE_SMOKE")  # a folder of .py files: a tiny run of the same path


def settings_for(steps: int):  # type: ignore[no-untyped-def]
    from harness.plugins.causal_lm.tiny_settings import PretrainSettings

    settings = replace(PretrainSettings(), steps=steps, precision="fp32")
    if SMOKE:
        settings = replace(settings, seq_len=32, batch_size=2, corpus=(SMOKE,))
    return settings


def prepare(cache_dir: Path) -> None:
    from harness.plugins.causal_lm.pretrain_data import prepare_data
    from harness.plugins.causal_lm.tiny_settings import identity, models_root

    plan = []
    for steps in (2, 3) if SMOKE else STEPS:
        ident = identity(settings_for(steps))
        data = prepare_data(
            settings_for(steps), models_root(cache_dir) / ".work" / ident.key / "data"
        )
        plan.append(
            {
                "steps": steps,
                "key": ident.key,
                "settings_key": ident.settings_key,
                "corpus": ident.corpus,
                "data": data.description,
            }
        )
        print(steps, ident.key, data.description)
    (cache_dir / PLAN).write_text(json.dumps(plan, indent=1) + "\n")


PART_BYTES = 15 * 2**20  # the GPU machine hands back files of at most 16 MiB


def train(cache_dir: Path, device: str, out: Path, only: list[int], bring: list[int]) -> None:
    import torch

    from harness.plugins.causal_lm.pretrain import pretrain
    from harness.plugins.causal_lm.tiny_settings import Identity

    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    out.mkdir(parents=True, exist_ok=True)
    metas = {}
    for item in json.loads((cache_dir / PLAN).read_text()):
        if only and item["steps"] not in only:
            continue
        ident = Identity(item["key"], item["settings_key"], item["corpus"])
        folder, meta = pretrain(settings_for(item["steps"]), cache_dir, device=device, ident=ident)
        metas[item["steps"]] = meta
        (out / "metas.json").write_text(json.dumps(metas, indent=1) + "\n")
        print(item["steps"], meta["heldout"], meta["train_seconds"], flush=True)
        if item["steps"] in bring:
            archive = out / f"model-{item['steps']}.tar"
            with tarfile.open(archive, "w") as tar:
                tar.add(folder, arcname=folder.name)
            _split(archive)


def _split(archive: Path) -> None:
    """`archive` as parts ``<name>.0``, ``<name>.1``, ... of at most PART_BYTES each."""
    with archive.open("rb") as whole:
        index = 0
        while chunk := whole.read(PART_BYTES):
            archive.with_name(f"{archive.name}.{index}").write_bytes(chunk)
            index += 1
    archive.unlink()


def install(cache_dir: Path, source: Path) -> None:
    from harness.plugins.causal_lm.tiny_settings import models_root

    root = models_root(cache_dir)
    root.mkdir(parents=True, exist_ok=True)
    for first in sorted(source.glob("model-*.tar.0")):
        archive = root / ".work" / first.name[: -len(".0")]
        archive.parent.mkdir(parents=True, exist_ok=True)
        parts = sorted(source.glob(first.name[:-1] + "*"), key=lambda p: int(p.suffix[1:]))
        archive.write_bytes(b"".join(part.read_bytes() for part in parts))
        with tarfile.open(archive) as tar:
            names = {n.split("/")[0] for n in tar.getnames()}
            [key] = names
            if (root / key).exists():
                print(f"{key}: already in {root}")
                continue
            tar.extractall(root / ".work" / "installing", filter="data")
        shutil.move(root / ".work" / "installing" / key, root / key)
        archive.unlink()
        print(f"{archive.name} -> {root / key}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=["prepare", "train", "install"])
    parser.add_argument("--cache-dir", type=Path, required=True)
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--out", type=Path, default=Path("curve-out"))
    parser.add_argument("--from", dest="source", type=Path)
    parser.add_argument("--steps", type=int, action="append", default=[], help="train these")
    parser.add_argument("--bring", type=int, action="append", default=[], help="archive these")
    args = parser.parse_args()
    if args.action == "prepare":
        prepare(args.cache_dir)
    elif args.action == "train":
        train(args.cache_dir, args.device, args.out, args.steps, args.bring)
    else:
        install(args.cache_dir, args.source or args.out)


if __name__ == "__main__":
    main()
