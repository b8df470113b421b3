"""LoRA strategies through the CLI: a langwise run, the adapter cache commands."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import torch

from harness.cli import main
from harness.results import read_result

TRAIN = ["--set", "strategy.batch_size=4", "--set", "strategy.max_steps=3",
         "--set", "strategy.max_length=32", "--set", "strategy.r=4"]  # fmt: skip


def _run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HARNESS_NO_PROGRESS": "1"}
    return subprocess.run([sys.executable, "-m", "harness", *args], capture_output=True,
                          text=True, cwd=cwd, env=env, timeout=300)  # fmt: skip


def test_langwise_run_trains_caches_and_exports(tiny_bert: Path, code_tree: Path, tmp_path: Path,
                                                capsys):  # fmt: skip
    common = [
        "run", "--model", f"hf:{tiny_bert}", "--strategy", "langwise", "--task", "t2c",
        "--data-dir", str(code_tree), "--results", str(tmp_path / "results"),
        "--cache-dir", str(tmp_path / "cache"), "--device", "cpu", "--json",
        "--set", "dataset.test_fraction=0.5", "--set", "dataset.valid_fraction=0.0", *TRAIN,
    ]  # fmt: skip
    first = _run(*common, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert "adapter c: 3 steps" in first.stderr and "adapter python: 3 steps" in first.stderr
    assert "trainable" in first.stderr
    result = read_result(next((tmp_path / "results").rglob("python.json")))
    keys = result.config["strategy"]["adapter_keys"]
    assert set(keys) == {"c", "python"}
    assert result.config["encoder_info"]["adapter"] == keys["python"]
    assert result.config["strategy"]["settings"]["r"] == 4

    again = _run(*common, "--overwrite", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert again.stderr.count("not retrained") == 2

    assert main(["adapters", "list", "--cache-dir", str(tmp_path / "cache")]) == 0
    listing = capsys.readouterr().out
    assert keys["python"] in listing and "langwise:python" in listing
    out = tmp_path / "exported"
    assert main(["adapters", "export", keys["python"][:8], str(out),
                 "--cache-dir", str(tmp_path / "cache")]) == 0  # fmt: skip
    config = json.loads((out / "adapter_config.json").read_text())
    assert config["r"] == 4 and sorted(config["target_modules"]) == ["query", "value"]

    from peft import PeftModel
    from transformers import AutoModel

    model = PeftModel.from_pretrained(AutoModel.from_pretrained(tiny_bert), str(out))
    lora = [n for n, _ in model.named_parameters() if "lora_A" in n]
    assert len(lora) == 4  # 2 layers x query, value
    assert all(torch.isfinite(p).all() for p in model.parameters())


def test_export_of_an_unknown_key_is_a_one_line_error(tmp_path: Path, capsys):
    assert main(["adapters", "export", "abc", str(tmp_path / "x"), "--cache-dir",
                 str(tmp_path)]) == 2  # fmt: skip
    assert "no adapter in" in capsys.readouterr().err


def test_lora_strategy_refuses_a_bad_option(tiny_bert: Path, code_tree: Path, tmp_path: Path):
    args = ["run", "--model", f"hf:{tiny_bert}", "--strategy", "taskwise", "--task", "t2c",
            "--data-dir", str(code_tree), "--results", str(tmp_path / "r"),
            "--cache-dir", str(tmp_path / "c"), "--set", "strategy.rank=4"]  # fmt: skip
    out = _run(*args, cwd=tmp_path)
    assert out.returncode == 2
    assert "--set strategy.rank: strategy 'taskwise' has no option 'rank'" in out.stderr
