"""One short GPU run: encoding, ranking and LoRA training throughput against their peers.

    PYTHONPATH=. python3 benchmarks/gpu/run_gpu.py --out DIR          # on a CUDA machine
    PYTHONPATH=. python3 benchmarks/gpu/run_gpu.py --out DIR --smoke  # tiny, on the CPU

Needs torch, transformers, tokenizers, sentence-transformers, peft, numpy and the
repository itself (no model weights, no network): the models are random-initialised
BERTs in the MiniLM-L6 shape (384 wide, 6 layers) and the BERT-base shape (768, 12),
saved by sentence-transformers in its own layout (Transformer, mean Pooling,
Normalize, max_seq_length 256), with a WordPiece tokenizer whose vocabulary this
script writes (the characters, their continuations and the corpus's most frequent
words). The texts are functions of Python's standard library.

Parts, each in its own try/except, results written to ``DIR/results.json`` after
every measurement (a crash in one part loses nothing already measured):

- ``peak``: the bf16 (and fp32) matrix-product rate, 8192^3 on CUDA, measured here.
- ``encoding``: harness's `HFEncoder.encode` against ``SentenceTransformer.encode``,
  same folder, texts, batch size, max length and dtype (bf16: the peer's weights cast
  to bf16; harness's ``--dtype bfloat16``), one warm-up then interleaved rounds;
  tokens/s, the achieved TFLOP/s (`throughput.encoder_flops` over the real tokens) and
  its share of the measured bf16 peak, and the largest difference of the embeddings.
- ``ranking``: harness.ranking.count_at_least (numpy/torch on the CPU: it takes no
  device) on a large problem, against the same counts from one CUDA matrix product per
  query block, which must agree.
- ``training``: harness's LoRA trainer against a transformers Trainer with the same
  loss, batches and optimizer (benchmarks/test_bench_training.py), bf16, tokens/s.
"""

from __future__ import annotations

import argparse
import collections
import importlib.util
import json
import os
import platform
import re
import statistics
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
for _path in (ROOT / "tests", ROOT / "benchmarks", ROOT):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

SHAPES = {
    "minilm-l6": {"hidden_size": 384, "num_hidden_layers": 6, "num_attention_heads": 12,
                  "intermediate_size": 1536},
    "bert-base": {"hidden_size": 768, "num_hidden_layers": 12, "num_attention_heads": 12,
                  "intermediate_size": 3072},
}  # fmt: skip
SMOKE_SHAPES = {"smoke": {"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2,
                          "intermediate_size": 64}}  # fmt: skip
MAX_LENGTH = 256
VOCAB_WORDS = 20000


def harness_plugins() -> None:
    """Make ``harness.plugins`` (the repository's plugins/ folder, which an install maps
    there) importable from a plain checkout on PYTHONPATH."""
    import harness

    if importlib.util.find_spec("harness.plugins") is not None:
        return
    spec = importlib.util.spec_from_file_location(
        "harness.plugins", ROOT / "plugins" / "__init__.py",
        submodule_search_locations=[str(ROOT / "plugins")],
    )  # fmt: skip
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["harness.plugins"] = module
    spec.loader.exec_module(module)
    harness.plugins = module  # type: ignore[attr-defined]


class Results:
    """``results.json`` in the output folder, rewritten whole after every change."""

    def __init__(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.path = folder / "results.json"
        self.data: dict[str, Any] = {}

    def put(self, part: str, key: str, value: Any) -> None:
        self.data.setdefault(part, {})[key] = value
        temporary = self.path.with_suffix(".tmp")
        temporary.write_text(json.dumps(self.data, indent=2, default=str), encoding="utf-8")
        temporary.replace(self.path)
        print(f"[{part}] {key}: {json.dumps(value, default=str)}", flush=True)

    def part(self, name: str, run: Callable[[], None]) -> None:
        started = time.perf_counter()
        try:
            run()
        except Exception as exc:  # one part's failure must not lose the others
            self.put(name, "error", f"{type(exc).__name__}: {exc}")
            self.put(name, "traceback", traceback.format_exc()[-4000:])
        self.put(name, "part_seconds", round(time.perf_counter() - started, 2))


def corpus(n: int) -> list[str]:
    """`n` functions of the standard library (repeated when it has fewer)."""
    import ast
    import inspect
    import textwrap

    names = ("argparse", "textwrap", "json.decoder", "email.message", "inspect", "ast",
             "logging", "configparser", "pathlib", "tarfile", "typing", "zipfile",
             "unittest.case", "urllib.request", "collections", "difflib", "pydoc",
             "shutil", "subprocess", "tempfile", "threading", "http.client", "enum",
             "dataclasses")  # fmt: skip
    texts: list[str] = []
    for name in names:
        try:
            source = inspect.getsource(importlib.import_module(name))
        except (ImportError, OSError, TypeError):
            continue
        lines = source.splitlines(keepends=True)
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.FunctionDef) and node.end_lineno:
                texts.append(textwrap.dedent("".join(lines[node.lineno - 1 : node.end_lineno])))
        if len(texts) >= n:
            break
    assert texts, "no standard-library source found"
    return [texts[i % len(texts)] for i in range(n)]


def build_folder(path: Path, shape: dict[str, int], texts: list[str], seed: int = 0) -> Path:
    """A random BERT of `shape` with a WordPiece tokenizer over `texts`' frequent words,
    saved by sentence-transformers (Transformer, mean Pooling, Normalize)."""
    import torch
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import (
        Normalize,
        Pooling,
        Transformer,
    )
    from tiny_models import tiny_vocabulary
    from transformers import BertConfig, BertModel, BertTokenizerFast

    counts = collections.Counter(w for t in texts for w in re.findall(r"[A-Za-z]\w*", t))
    vocabulary = tiny_vocabulary([w for w, _ in counts.most_common(VOCAB_WORDS)])
    raw = path.parent / f"{path.name}-raw"
    raw.mkdir(parents=True, exist_ok=True)
    (raw / "vocab.txt").write_text("\n".join(vocabulary) + "\n", encoding="utf-8")
    tokenizer = BertTokenizerFast(str(raw / "vocab.txt"), do_lower_case=False,
                                  model_max_length=512)  # fmt: skip
    config = BertConfig(vocab_size=len(vocabulary), max_position_embeddings=512,
                        pad_token_id=0, **shape)  # fmt: skip
    torch.manual_seed(seed)
    BertModel(config).save_pretrained(raw, safe_serialization=True)
    tokenizer.save_pretrained(raw)
    first = Transformer(str(raw), max_seq_length=MAX_LENGTH)
    modules = [first, Pooling(shape["hidden_size"], "mean"), Normalize()]
    SentenceTransformer(modules=modules, device="cpu").save(str(path))
    return path


def timed(device: Any, run: Callable[[], Any]) -> tuple[float, Any]:
    from throughput import synchronize

    synchronize(device)
    started = time.perf_counter()
    value = run()
    synchronize(device)
    return time.perf_counter() - started, value


def part_peak(results: Results, device: Any, smoke: bool, size: int) -> dict[str, float]:
    import torch
    from throughput import matmul_peak

    size = 256 if smoke else size
    peaks = {}
    for name, dtype in (("bfloat16", torch.bfloat16), ("float32", torch.float32)):
        if smoke and name == "bfloat16" and device.type == "cpu":
            continue  # emulated on most CPUs: a smoke run need not wait for it
        peaks[name] = matmul_peak(device, dtype, size)
        results.put("peak", f"{name}_tflops", round(peaks[name] / 1e12, 3))
    results.put("peak", "size", size)
    return peaks


def part_encoding(results: Results, device: Any, workdir: Path, texts: list[str],
                  peaks: dict[str, float], args: argparse.Namespace) -> None:  # fmt: skip
    import torch
    from throughput import encoder_flops

    from harness.encoder import EncoderOptions
    from harness.plugins.encoders.hf_encoder import HFEncoder

    shapes = SMOKE_SHAPES if args.smoke else SHAPES
    dtypes = ["float32"] if args.smoke else ["bfloat16", "float32"]
    peak = peaks.get("bfloat16") or peaks.get("float32") or float("nan")
    for shape_name, shape in shapes.items():
        folder = build_folder(workdir / shape_name, shape, texts)
        tokens = HFEncoder(str(folder), EncoderOptions(device="cpu"))._token_ids(texts)
        lengths = [len(ids) for ids in tokens["input_ids"]]
        flops = encoder_flops(lengths, hidden=shape["hidden_size"],
                              layers=shape["num_hidden_layers"],
                              intermediate=shape["intermediate_size"])  # fmt: skip
        results.put("encoding", f"{shape_name}/texts", {"texts": len(texts),
                    "tokens": sum(lengths), "gflop": flops / 1e9})  # fmt: skip
        for dtype in dtypes:
            for batch in args.batch_sizes:
                if time.perf_counter() - args.started > args.budget_s:
                    results.put("encoding", f"{shape_name}/{dtype}/b{batch}", "skipped: time")
                    continue
                key = f"{shape_name}/{dtype}/b{batch}"
                try:  # one setting's failure (out of memory, say) leaves the others
                    figures = encode_side_by_side(device, str(folder), texts, dtype, batch, args)
                except Exception as exc:
                    results.put("encoding", key, f"error: {type(exc).__name__}: {exc}"[:2000])
                    continue
                finally:
                    if device.type == "cuda":
                        torch.cuda.empty_cache()
                tokens, seconds = sum(lengths), figures.pop("best_s")
                results.put("encoding", key, {
                    **figures,
                    "harness_tokens_per_s": tokens / seconds["harness"],
                    "peer_tokens_per_s": tokens / seconds["peer"],
                    "harness_tflops": flops / seconds["harness"] / 1e12,
                    "peer_tflops": flops / seconds["peer"] / 1e12,
                    "harness_share_of_peak": flops / seconds["harness"] / peak,
                    "peer_share_of_peak": flops / seconds["peer"] / peak,
                    "peak": "bfloat16" if "bfloat16" in peaks else "float32",
                })  # fmt: skip


def encode_side_by_side(device: Any, folder: str, texts: list[str], dtype: str, batch: int,
                        args: argparse.Namespace) -> dict[str, Any]:  # fmt: skip
    """harness's encoder and sentence-transformers on the same folder and texts: one
    warm-up, then `args.rounds` interleaved rounds (peer first)."""
    import numpy as np
    import torch
    from sentence_transformers import SentenceTransformer

    from harness.encoder import EncoderOptions
    from harness.plugins.encoders.hf_encoder import HFEncoder

    ours = HFEncoder(folder, EncoderOptions(device=str(device), batch_size=batch, dtype=dtype))
    peer = SentenceTransformer(folder, device=str(device))
    if dtype == "bfloat16":
        peer.to(torch.bfloat16)
    sides = {
        "peer": lambda chosen: peer.encode(
            chosen, batch_size=batch, convert_to_numpy=True, normalize_embeddings=True,
            show_progress_bar=False),
        "harness": lambda chosen: ours.encode(chosen),
    }  # fmt: skip
    for encode in sides.values():
        encode(texts[: 2 * batch])
    seconds: dict[str, list[float]] = {"peer": [], "harness": []}
    rows: dict[str, np.ndarray] = {}
    for _ in range(args.rounds):
        for side, encode in sides.items():
            elapsed, rows[side] = timed(device, lambda encode=encode: encode(texts))
            seconds[side].append(elapsed)
    ratios = [p / h for p, h in zip(seconds["peer"], seconds["harness"], strict=True)]
    return {
        "seconds": seconds,
        "best_s": {side: min(values) for side, values in seconds.items()},
        "ratio_peer_over_harness": statistics.median(ratios),
        "max_abs_difference": float(np.abs(rows["peer"] - rows["harness"]).max()),
    }


def part_ranking(results: Results, device: Any, args: argparse.Namespace) -> None:
    import numpy as np
    import torch

    from harness.ranking import count_at_least

    n_queries, n_corpus, dim = (64, 512, 32) if args.smoke else (20000, 200000, 384)
    generator = np.random.default_rng(0)
    corpus_rows = generator.standard_normal((n_corpus, dim), dtype=np.float32)
    corpus_rows /= np.linalg.norm(corpus_rows, axis=1, keepdims=True)
    gold = generator.integers(0, n_corpus, n_queries)
    queries = corpus_rows[gold] + 0.8 * generator.standard_normal((n_queries, dim),
                                                                  dtype=np.float32)  # fmt: skip
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    pair_query, pair_doc = np.arange(n_queries), gold
    tolerance = 1e-6

    cpu_s, (_, counts) = timed("cpu", lambda: count_at_least(
        queries, corpus_rows, pair_query, pair_doc, tie_tolerance=tolerance,
        chunk_size=16384, query_chunk_size=1024))  # fmt: skip
    results.put("ranking", "problem", {"queries": n_queries, "corpus": n_corpus, "dim": dim})
    results.put("ranking", "harness_cpu", {"seconds": cpu_s, "threads": torch.get_num_threads(),
                                           "note": "harness.ranking takes no device"})  # fmt: skip

    def on_device() -> np.ndarray:
        q = torch.from_numpy(queries).to(device)
        c = torch.from_numpy(corpus_rows).to(device)
        found = torch.empty(n_queries, dtype=torch.int64, device=device)
        for start in range(0, n_queries, 1024):
            block = q[start : start + 1024] @ c.T
            rows = torch.arange(block.shape[0], device=device)
            threshold = block[rows, torch.from_numpy(gold[start : start + 1024]).to(device)]
            at_least = (block >= (threshold - tolerance).unsqueeze(1)).sum(dim=1)
            found[start : start + 1024] = at_least - 1  # less the gold document itself
        return found.cpu().numpy()

    on_device()  # warm-up
    gpu_s, device_counts = timed(device, on_device)
    results.put("ranking", "torch_fp32_on_device", {
        "seconds": gpu_s, "device": str(device), "speedup_over_harness_cpu": cpu_s / gpu_s,
        "counts_equal": bool(np.array_equal(np.asarray(counts).ravel(), device_counts)),
        "counts_differing": int((np.asarray(counts).ravel() != device_counts).sum()),
    })  # fmt: skip


def part_training(results: Results, device: Any, workdir: Path, texts: list[str],
                  args: argparse.Namespace) -> None:  # fmt: skip
    import test_bench_training as bench
    from transformers import AutoTokenizer

    steps, batch, max_length = (1, 4, 32) if args.smoke else (args.train_steps, 128, 256)
    pairs = bench.training_pairs(min(steps * batch, 400))
    pairs = [pairs[i % len(pairs)] for i in range(steps * batch)]
    shape = "smoke" if args.smoke else "minilm-l6"
    folder = workdir / shape
    if not folder.exists():
        build_folder(folder, (SMOKE_SHAPES if args.smoke else SHAPES)[shape], texts)
    tokenizer = AutoTokenizer.from_pretrained(str(folder))
    tokens = sum(
        len(ids)
        for pair in pairs
        for ids in tokenizer([pair.query, pair.positive], truncation=True, max_length=max_length)[
            "input_ids"
        ]
    )
    results.put("training", "setup", {"model": shape, "steps": steps, "batch_size": batch,
                                      "max_length": max_length, "tokens": tokens,
                                      "precision": "bf16"})  # fmt: skip
    for round_ in range(args.train_rounds):  # interleaved: peer, harness, peer, ...
        for side, train in (("peer", bench.train_peer), ("harness", bench.train_harness)):
            extra = {"precision": "bf16"} if side == "harness" else {}
            workdir_side = workdir / f"train-{side}-{round_}"
            try:  # one side's failure leaves the other's figures
                seconds = train(steps, batch, max_length, workdir_side, folder=str(folder),
                                device=str(device), pairs=pairs, **extra)  # fmt: skip
            except Exception as exc:
                results.put("training", f"{side}/{round_}",
                            f"error: {type(exc).__name__}: {exc}"[:2000])  # fmt: skip
                continue
            figures = {"seconds": seconds, "tokens_per_s": tokens / seconds}
            results.put("training", f"{side}/{round_}", figures)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--smoke", action="store_true", help="everything tiny, on the CPU")
    parser.add_argument("--texts", type=int, default=8192)
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[256, 1024])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--train-steps", type=int, default=30)
    parser.add_argument("--train-rounds", type=int, default=2)
    parser.add_argument(
        "--budget-s",
        type=float,
        default=170.0,
        help="start no new encoding measurement after this many seconds",
    )
    parser.add_argument("--device", default="cuda", help="a dry run elsewhere: --device cpu")
    parser.add_argument("--peak-size", type=int, default=8192)
    parser.add_argument("--parts", nargs="+", default=["peak", "encoding", "ranking", "training"])
    args = parser.parse_args(argv)
    args.started = time.perf_counter()
    if args.smoke:
        args.texts, args.batch_sizes, args.rounds, args.train_rounds = 24, [8], 1, 1
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HARNESS_NO_PROGRESS", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "true")

    import tempfile

    import torch

    harness_plugins()
    results = Results(args.out)
    device = torch.device("cpu" if args.smoke else args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        results.put("setup", "error", "no CUDA device (use --smoke on a CPU)")
        return 1
    import sentence_transformers
    import transformers

    results.put("setup", "environment", {
        "device": torch.cuda.get_device_name(0) if device.type == "cuda" else platform.processor(),
        "torch": torch.__version__, "transformers": transformers.__version__,
        "sentence_transformers": sentence_transformers.__version__,
        "cpu_threads": torch.get_num_threads(), "smoke": args.smoke,
    })  # fmt: skip
    texts = corpus(args.texts)
    peaks: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="run-gpu-") as scratch:
        workdir = Path(scratch)
        if "peak" in args.parts:
            results.part(
                "peak", lambda: peaks.update(part_peak(results, device, args.smoke, args.peak_size))
            )
        if "encoding" in args.parts:
            results.part("encoding", lambda: part_encoding(results, device, workdir, texts,
                                                           peaks, args))  # fmt: skip
        if "ranking" in args.parts:
            results.part("ranking", lambda: part_ranking(results, device, args))
        if "training" in args.parts:
            results.part("training", lambda: part_training(results, device, workdir, texts, args))
    results.put("setup", "total_seconds", round(time.perf_counter() - args.started, 1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
