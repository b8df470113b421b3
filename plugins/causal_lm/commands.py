"""``harness pretrain [tiny-code-lm]``: pretrain the local causal LM once and cache it."""

from __future__ import annotations

import argparse
import json
from dataclasses import replace
from pathlib import Path
from typing import Any


def add_pretrain_command(cli: Any) -> None:
    from harness.cli_args import positive_int
    from harness.plugins.causal_lm.tiny_settings import PRESETS

    parser = cli.add_parser(
        "pretrain",
        help="pretrain tiny-code-lm on this machine's non-test Python (cached; ~10 min on 2 "
        "cores, --preset long ~100 min)",
    )
    parser.add_argument(
        "model", nargs="?", default="tiny-code-lm", choices=["tiny-code-lm"], help="what to train"
    )
    parser.add_argument(
        "--preset",
        choices=sorted(PRESETS),
        default="default",
        help=f"default: {PRESETS['default']} steps (~10 min on 2 idle cores); long: "
        f"{PRESETS['long']} steps (~100 min), the model `--set encoder.preset=long` runs with",
    )
    parser.add_argument("--steps", type=positive_int, help="optimizer steps (default: preset's)")
    parser.add_argument("--seq-len", type=positive_int, help="tokens per sequence (default 1024)")
    parser.add_argument(
        "--precision",
        choices=["auto", "bf16", "fp32"],
        default="auto",
        help="auto: bf16 autocast where the hardware computes bf16 (CUDA, AVX512-BF16, AMX), "
        "else fp32",
    )
    parser.add_argument("--batch-size", type=positive_int, help="sequences per step (default: 4)")
    parser.add_argument("--seed", type=int, help="initialisation, file order, data order")
    parser.add_argument(
        "--corpus",
        type=Path,
        action="append",
        metavar="DIR",
        help="read the Python files of DIR instead of the standard library and installed "
        "packages (repeatable); test files are left out either way",
    )
    parser.add_argument("--device", default="auto", help="auto (cuda when present), cpu, cuda:N")
    parser.add_argument(
        "--cache-dir", type=Path, help="default: $HARNESS_CACHE_DIR or ~/.cache/harness"
    )
    parser.add_argument("--json", action="store_true", help="print the model's meta.json")
    parser.set_defaults(handler=run_pretrain)


def run_pretrain(args: argparse.Namespace) -> int:
    from harness.hardware import resolve_precision
    from harness.plan import default_cache_dir
    from harness.plugins.causal_lm.pretrain import pretrain, summary_line
    from harness.plugins.causal_lm.tiny_settings import (
        identity,
        models_root,
        preset_settings,
        read_meta,
    )
    from harness.plugins.encoders.hf_load import resolve_device

    changes: dict[str, Any] = {
        name: getattr(args, name)
        for name in ("steps", "seq_len", "batch_size", "seed")
        if getattr(args, name) is not None
    }
    if args.corpus:
        changes["corpus"] = tuple(str(folder) for folder in args.corpus)
    device = str(resolve_device(args.device))
    settings = replace(preset_settings(args.preset), precision=args.precision, **changes)
    settings = resolve_precision(settings, device)
    cache_dir = args.cache_dir or default_cache_dir()
    ident = identity(settings)
    cached = read_meta(models_root(cache_dir) / ident.key) is not None
    folder, meta = pretrain(settings, cache_dir, device=device, ident=ident)
    if args.json:
        print(json.dumps(meta, indent=2))
    else:
        print(("already pretrained: " if cached else "pretrained: ") + summary_line(folder, meta))
    return 0
