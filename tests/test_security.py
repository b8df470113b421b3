"""Security: no pickle from disk, remote code only when asked, no name escapes its folder.

- every torch.load in the source passes weights_only=True; nothing calls pickle, torch.save,
  or np.load with allow_pickle=True; the artifacts training writes are safetensors and JSON;
- trust_remote_code is False unless `harness run --trust-remote-code`, and the result says which;
- result paths, adapter keys, `harness adapters export` and dataset or language names cannot
  reach outside their directories.
"""

from __future__ import annotations

import json
import re
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.cli import main
from harness.errors import HarnessError
from harness.results import read_result, result_path, safe_name

ROOT = Path(__file__).resolve().parents[1]
SOURCE_FOLDERS = ("harness", "plugins", "tasks", "examples", "leaderboards", "benchmarks")


def source_files() -> list[Path]:
    return sorted(p for folder in SOURCE_FOLDERS for p in (ROOT / folder).rglob("*.py"))


def calls(text: str, name: str) -> list[str]:
    """The argument text of every call of `name` (parentheses balanced, across lines)."""
    found = []
    for match in re.finditer(re.escape(name) + r"\(", text):
        depth, at = 1, match.end()
        while depth and at < len(text):
            depth += {"(": 1, ")": -1}.get(text[at], 0)
            at += 1
        found.append(text[match.end() : at - 1])
    return found


def test_the_scan_finds_the_source_and_sees_multi_line_calls():
    assert len(source_files()) > 50
    assert calls("torch.load(\n  path,\n  weights_only=True)\n", "torch.load") == [
        "\n  path,\n  weights_only=True"
    ]


def test_no_pickle_is_read_from_disk_and_none_is_written():
    problems = []
    for path in source_files():
        text = path.read_text(encoding="utf-8")
        where = path.relative_to(ROOT)
        for arguments in calls(text, "torch.load"):
            if not re.search(r"weights_only\s*=\s*True", arguments):
                problems.append(f"{where}: torch.load without weights_only=True")
        for arguments in calls(text, "np.load") + calls(text, "numpy.load"):
            if re.search(r"allow_pickle\s*=\s*True", arguments):
                problems.append(f"{where}: np.load with allow_pickle=True")
        for forbidden in ("pickle.load", "pickle.loads", "torch.save", "joblib.load", "dill."):
            if re.search(r"(?<![\w.])" + re.escape(forbidden), text):
                problems.append(f"{where}: {forbidden}")
        if re.search(r"^\s*(import|from)\s+(c?pickle|dill|joblib)\b", text, re.MULTILINE):
            problems.append(f"{where}: imports a pickle library")
    assert problems == []


def test_remote_code_is_never_switched_on_in_the_source():
    switched_on = [
        str(path.relative_to(ROOT))
        for path in source_files()
        if re.search(r"trust_remote_code\s*=\s*True", path.read_text(encoding="utf-8"))
    ]
    assert switched_on == []


# --- what training writes ------------------------------------------------------------------------


def test_training_state_round_trips_through_safetensors_bit_for_bit(tmp_path: Path):
    from harness.plugins.adapters.safe_state import load_training_state, save_training_state

    torch.manual_seed(0)
    layer = torch.nn.Linear(4, 3)
    optimizer = torch.optim.AdamW(layer.parameters(), lr=1e-2, betas=(0.8, 0.95))
    for _ in range(3):
        layer(torch.randn(5, 4)).pow(2).sum().backward()
        optimizer.step()
        optimizer.zero_grad()
    path = tmp_path / "state.safetensors"
    save_training_state(path, optimizer.state_dict(), torch.get_rng_state())
    state, rng = load_training_state(path)
    assert torch.equal(rng, torch.get_rng_state())
    assert state["param_groups"] == optimizer.state_dict()["param_groups"]
    # A fresh optimizer given the state takes the very same next step.
    twin = torch.nn.Linear(4, 3)
    twin.load_state_dict(layer.state_dict())
    twin_optimizer = torch.optim.AdamW(twin.parameters(), lr=1e-2, betas=(0.8, 0.95))
    twin_optimizer.load_state_dict(state)
    batch = torch.randn(5, 4)
    for model, opt in ((layer, optimizer), (twin, twin_optimizer)):
        model(batch).pow(2).sum().backward()
        opt.step()
    for mine, theirs in zip(layer.parameters(), twin.parameters(), strict=True):
        assert torch.equal(mine, theirs)
    assert path.read_bytes()[8:9] == b"{"  # a safetensors header, not a zip of pickles


def test_checkpoints_and_adapters_hold_only_safetensors_and_json(tiny_bert: Path, tmp_path: Path):
    from safetensors import safe_open

    from harness.data import RetrievalDataset, RetrievalPartition, RetrievalSplit, TrainPair
    from harness.encoder import EncoderOptions
    from harness.plugins.encoders.hf_encoder import HFEncoder
    from harness.plugins.lora.config import settings_from
    from harness.plugins.lora.store import AdapterStore
    from harness.plugins.lora.strategies import TaskWise
    from harness.plugins.lora.trainer import train_lora
    from harness.strategy import StrategyContext
    from harness.taskcard import TaskCard

    encoder = HFEncoder(str(tiny_bert), EncoderOptions(device="cpu"))
    pairs = [TrainPair(f"add {i}", f"def f(): return {i}") for i in range(16)]
    options = {"r": 2, "alpha": 4, "batch_size": 8, "max_steps": 2, "checkpoint_every": 1,
               "max_length": 16, "warmup_steps": 0}  # fmt: skip
    train_lora(encoder, pairs, settings_from(options), tmp_path / "work")
    card = TaskCard(name="t2c", kind="retrieval", description="d", default_dataset="x",
                    metrics=("mrr",), main_score="mrr")  # fmt: skip
    split = RetrievalSplit({"q": "add 1"}, {"d": "def f(): return 1"}, {"q": {"d": 1}})
    dataset = RetrievalDataset("toy", {"py": RetrievalPartition("py", split, pairs)})
    context = StrategyContext(task=card, cache_dir=tmp_path / "cache", options=options, model="m")
    TaskWise(context).prepare(encoder, dataset)
    written = [
        p for folder in (tmp_path / "work", AdapterStore(tmp_path / "cache").root)
        for p in folder.rglob("*") if p.is_file() and not p.name.endswith(".lock")
    ]  # fmt: skip
    # weights as safetensors, the rest JSON (and the model card PEFT writes)
    assert {p.suffix for p in written} == {".safetensors", ".json", ".md"}, written
    for path in written:
        if path.suffix == ".safetensors":
            with safe_open(str(path), framework="pt") as handle:
                assert list(handle.keys())


# --- trust_remote_code ----------------------------------------------------------------------------


class SpyEncoder:
    """Records the options it was built with; embeds each text by its length."""

    seen: list[dict[str, Any]] = []

    def __init__(self, options: Any) -> None:
        SpyEncoder.seen.append({**options.extra, "trust_remote_code": options.trust_remote_code})
        self.name, self.dim, self.info = "spy", 2, {"model": "spy"}

    def encode(self, texts: list[str], *, role: str = "code", description: str = "") -> Any:
        rows = np.array([[len(t), 1.0] for t in texts], dtype=np.float32)
        return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def _beir(folder: Path) -> Path:
    (folder / "qrels").mkdir(parents=True)
    docs = [{"_id": "d1", "text": "x"}, {"_id": "d2", "text": "yy yy"}]
    (folder / "corpus.jsonl").write_text("".join(json.dumps(d) + "\n" for d in docs))
    queries = [{"_id": "q1", "text": "a"}, {"_id": "q2", "text": "bbbbb"}]
    (folder / "queries.jsonl").write_text("".join(json.dumps(q) + "\n" for q in queries))
    (folder / "qrels" / "test.tsv").write_text("q1\td1\t1\nq2\td2\t1\n")
    return folder


@pytest.mark.parametrize("flag", [[], ["--trust-remote-code"]])
def test_remote_code_only_with_the_flag_and_the_result_records_it(tmp_path, request, flag):
    from harness.plugin_manager import plugins

    encoders = plugins().encoders
    request.addfinalizer(partial(encoders.restore, encoders.snapshot()))
    encoders.register("spy", lambda argument, options: SpyEncoder(options), plugin="tests")
    SpyEncoder.seen.clear()
    results = tmp_path / "results"
    code = main(["run", "--model", "spy", "--task", "t2c", "--dataset", "coir",
                 "--data-dir", str(_beir(tmp_path / "beir")), "--results", str(results),
                 "--bootstrap", "10", *flag])  # fmt: skip
    assert code == 0
    wanted = bool(flag)
    # the encoder is built once, with the flag as given (and nothing else of the user's)
    assert SpyEncoder.seen == [{"trust_remote_code": wanted}]
    (path,) = results.rglob("*.json")
    assert read_result(path).config["encoder"]["trust_remote_code"] is wanted


@pytest.mark.parametrize("kind", ["encoder", "causal-lm"])
def test_hf_loading_passes_trust_remote_code_only_when_true(tiny_bert, monkeypatch, kind):
    from harness.encoder import EncoderOptions
    from harness.plugins.encoders import hf_load

    if kind == "encoder":
        from harness.plugins.encoders.hf_encoder import HFEncoder as Model
    else:
        from harness.plugins.causal_lm.model import CausalLM as Model
    seen: list[Any] = []

    class Stop(Exception):
        pass

    def spy(name: str, **kwargs: Any) -> Any:
        seen.append(kwargs.get("trust_remote_code", "absent"))
        raise Stop

    monkeypatch.setattr(hf_load.AutoTokenizer, "from_pretrained", spy)
    for extra, flag in (({}, False), ({"trust_remote_code": True}, False), ({}, True)):
        with pytest.raises(Stop):
            Model(str(tiny_bert), EncoderOptions(device="cpu", extra=extra, trust_remote_code=flag))
    assert seen == [False, False, True]  # only the flag switches it on, never --set's extra


# --- names that could escape their folder -------------------------------------------------------

hostile = st.text(st.characters(codec="utf-8"), max_size=300) | st.sampled_from(
    ["..", ".", "../..", "/etc/passwd", "a/../../b", "~", "", " ", "..\\..", "C:\\x", "\x00"]
)


@settings(max_examples=200, deadline=None)
@given(hostile, hostile, hostile, hostile, hostile)
def test_a_result_path_stays_inside_the_store_whatever_the_names(task, data, model, strat, part):
    root = Path("/store/results")
    path = result_path(root, task=task, dataset=data, model=model, strategy=strat, partition=part)
    relative = path.relative_to(root)
    assert len(relative.parts) == 5
    assert all(
        p not in ("", ".", "..") and "/" not in p and "\x00" not in p for p in relative.parts
    )
    assert all(len(p.encode()) <= 255 for p in relative.parts)
    assert path.suffix == ".json"


def test_safe_names_keep_what_is_readable():
    assert safe_name("hf:/models/tiny bert") == "hf_models_tiny_bert"
    assert safe_name("../../etc") == "etc"
    assert safe_name("..") == "_"
    assert safe_name("owner/repo") == "owner_repo"
    assert safe_name("langwise@r=8") == "langwise@r_8"


@pytest.mark.parametrize("key", ["../x", "a/b", "..", ".", "", "/etc", ".work", "x\x00"])
def test_an_adapter_key_cannot_leave_the_store(tmp_path, key):
    from harness.plugins.lora.store import AdapterStore

    store = AdapterStore(tmp_path / "cache")
    for method in (store.path, store.workdir, store.get):
        with pytest.raises(HarnessError, match="is not a plain name"):
            method(key)


def _stored_adapter(cache: Path, key: str = "abc123") -> Path:
    folder = cache / "adapters" / key
    folder.mkdir(parents=True)
    (folder / "harness_adapter.json").write_text(json.dumps({"key": key}))
    (folder / "adapter_config.json").write_text("{}")
    (folder / "adapter_model.safetensors").write_bytes(b"")
    return folder


def _export(capfd, cache: Path, key: str, destination: Path) -> tuple[int, str]:
    try:
        code = main(["adapters", "export", key, str(destination), "--cache-dir", str(cache)])
    except SystemExit as exc:
        code = int(exc.code or 0)
    return code, capfd.readouterr().err


def test_export_takes_keys_not_paths(tmp_path, capfd):
    _stored_adapter(tmp_path / "cache")
    code, err = _export(capfd, tmp_path / "cache", "../adapters/abc123", tmp_path / "out")
    assert code == 2 and "no adapter" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()
    code, _ = _export(capfd, tmp_path / "cache", "abc", tmp_path / "out")
    assert code == 0 and sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "adapter_config.json", "adapter_model.safetensors", "harness_adapter.json"
    ]  # fmt: skip


def test_export_copies_no_link_out_of_the_cache(tmp_path, capfd):
    folder = _stored_adapter(tmp_path / "cache")
    secret = tmp_path / "secret.txt"
    secret.write_text("not for export")
    (folder / "notes.txt").symlink_to(secret)
    code, err = _export(capfd, tmp_path / "cache", "abc123", tmp_path / "out")
    assert code == 2 and "notes.txt: not a regular file" in err
    assert not (tmp_path / "out").exists()


def test_export_refuses_a_file_and_the_cache_itself_as_destination(tmp_path, capfd):
    _stored_adapter(tmp_path / "cache")
    (tmp_path / "file").write_text("x")
    code, err = _export(capfd, tmp_path / "cache", "abc123", tmp_path / "file")
    assert code == 2 and "is not a folder" in err
    inside = tmp_path / "cache" / "adapters" / "copy"
    code, err = _export(capfd, tmp_path / "cache", "abc123", inside)
    assert code == 2 and "inside the adapter cache" in err and not inside.exists()


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--dataset", "../../etc"], "unknown dataset '../../etc'"),
        (["--dataset", "csn", "--languages", "../../x"], "unknown language '../../x'"),
        (["--dataset", "xlcost", "--task", "c2c", "--languages", "../x"], "unknown language"),
        (["--set", "dataset.languages=../../tmp"], "'../../tmp'"),
    ],
)
def test_dataset_and_language_names_cannot_point_at_folders(tmp_path, capfd, flags, message):
    tree = tmp_path / "tree"
    (tree / "python").mkdir(parents=True)
    (tree / "python" / "test.jsonl").write_text("")
    places = ["--results", str(tmp_path / "results"), "--cache-dir", str(tmp_path / "cache")]
    args = ["run", "--model", "minilm", "--task", "t2c", "--data-dir", str(tree), *places]
    for flag, value in zip(flags[::2], flags[1::2], strict=True):
        if flag in args:
            args[args.index(flag) + 1] = value
        else:
            args += [flag, value]
    try:
        code = main(args)
    except SystemExit as exc:
        code = int(exc.code or 0)
    err = capfd.readouterr().err
    assert code == 2 and message in err, err
    assert not (tmp_path / "results").exists()
    escaped = [(base / value).resolve() for base in (tree, tmp_path / "cache") for value in flags]
    assert not [path for path in escaped if path.exists() and tmp_path not in path.parents]


def test_a_model_folder_with_only_pickle_weights_is_one_line_and_never_unpickled(
    tiny_bert: Path, code_tree: Path, tmp_path: Path, capfd
):
    import pickle
    import shutil

    from harness.cli import main

    folder = tmp_path / "pickled"
    shutil.copytree(tiny_bert, folder)
    for weights in folder.glob("*.safetensors"):
        weights.unlink()
    marker = tmp_path / "payload-ran"

    class Payload:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    (folder / "pytorch_model.bin").write_bytes(pickle.dumps(Payload()))
    args = ["run", "--model", f"hf:{folder}", "--task", "t2c", "--results", str(tmp_path / "r"),
            "--cache-dir", str(tmp_path / "c"), "--data-dir", str(code_tree)]  # fmt: skip
    assert main(args) == 2
    err = capfd.readouterr().err.strip().splitlines()[-1]
    assert "has only pickle weights (pytorch_model.bin); harness loads only safetensors" in err
    assert err.startswith("harness: error: model folder") and not marker.exists()
