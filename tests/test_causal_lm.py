"""Causal LMs for completion: the stop rule, greedy decoding, prompts, and tiny-code-lm."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from tiny_models import make_tiny_causal_lm

from harness.encoder import EncoderOptions
from harness.errors import HarnessError
from harness.plugins.completion_stopping import expression_end


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Tiny models gain nothing from threads, and on a busy machine OpenMP threads spinning
    while they wait made these tests ~50x slower (measured: 37 s against 0.4 s)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


# --- the stop rule ------------------------------------------------------------------------------

# (generated text, where the expression ends: the expected prediction, or None if still open)
STOP_CASES = [
    ("3\nassert y", "3"),
    ("3)\n", "3"),  # the closing parenthesis of assertEqual(a, 3)
    ("[1, 2]\n    assert", "[1, 2]"),
    ("[1,\n 2,\n 3]\nnext", "[1,\n 2,\n 3]"),  # nested across lines
    ("{'a': (1, [2, 3])}, 'message')", "{'a': (1, [2, 3])}"),
    ("'a, b)', 'message')", "'a, b)'"),  # `,` and `)` inside a string
    ('"# not a comment"  # a comment', '"# not a comment"  '),
    ('"""first\nsecond, )\n"""\n', '"""first\nsecond, )\n"""'),  # newline in triple quotes
    ("'''it''s'''\n", "'''it''s'''"),
    ("f(x)(y)[0]; z = 1", "f(x)(y)[0]"),
    ("'it\\'s', 'msg'", "'it\\'s'"),  # escaped quote
    ("r'a\\'b', 1", "r'a\\'b'"),  # a raw string still cannot end at an escaped quote
    ("b'\\x00\\n')", "b'\\x00\\n'"),
    ("f'{x}, {y}', 2", "f'{x}, {y}'"),
    ('rb"(", 1', 'rb"("'),
    ("1 + \\\n    2\nx", "1 + \\\n    2"),  # a backslash continues the line
    ("[1,  # a ) comment\n 2]\n", "[1,  # a ) comment\n 2]"),  # comment inside brackets
    ("lambda x: x + 1, 'msg'", "lambda x: x + 1"),
    ("\n", ""),
    ("'abc\n", "'abc"),  # unterminated one-line string: ends at the newline
    ("(1,\n", None),
    ("[1, [2, 3]", None),
    ("'abc", None),
    ('"""abc\n', None),
    ("1 + \\", None),
    ("'done'", None),  # may still go on: 'done' + x
    ("", None),
]


@pytest.mark.parametrize(("text", "expected"), STOP_CASES)
def test_expression_end_on_hand_made_cases(text: str, expected: str | None):
    end = expression_end(text)
    assert (None if end is None else text[:end]) == expected


# inside a bracket the prefix opened (``self.assertEqual(x, ``): newlines and comments end nothing
INSIDE_CASES = [
    ('"first "\n    "second", msg)', '"first "\n    "second"'),  # implicit concatenation
    ("3  # why\n)", "3  # why\n"),
    ("3)", "3"),
    ("[1,\n 2]\n", None),
]


@pytest.mark.parametrize(("text", "expected"), INSIDE_CASES)
def test_expression_end_inside_a_bracket_the_prefix_opened(text: str, expected: str | None):
    end = expression_end(text, inside_brackets=True)
    assert (None if end is None else text[:end]) == expected


OPEN_CASES = [
    ("def test():\n    assert f(x) == ", 0),
    ("def test(self):\n    self.assertEqual(f(x), ", 1),
    ("def test(self):\n    self.assertEqual(\n        f(x),\n        ", 1),
    ("def test():\n    assert_allclose(g([1, 2]), ", 1),
    ("def test():\n    assert f(')') == ", 0),  # a bracket in a string
    ("def test():\n    x = (  # a ( comment\n        1)\n    assert x == ", 0),
    ("def other(\n):\n    pass\n\ndef test():\n    assert {'a': [", 2),
    ("x = ((\n", 2),  # no def: scanned from the start
]


@pytest.mark.parametrize(("prefix", "depth"), OPEN_CASES)
def test_open_brackets_of_a_prefix(prefix: str, depth: int):
    from harness.plugins.completion_stopping import expression_stop, open_brackets

    assert open_brackets(prefix) == depth
    continuation = '"a"\n    "b", msg)\n'
    expected = '"a"' if depth == 0 else '"a"\n    "b"'
    assert continuation[: expression_stop(prefix)(continuation)] == expected


def test_expression_end_is_stable_as_text_grows():
    """Once an end is found, more generated text never moves it (the stop fires once)."""
    text = "{'k': [1, (2, 3)], \"s\": '#,)'}\n    self.assertEqual(a, b)\n"
    ends = {expression_end(text[:i]) for i in range(len(text) + 1)} - {None}
    assert ends == {text.index("\n")}


# --- decoding -----------------------------------------------------------------------------------

PREFIXES = [
    "def add(a, b):\n    return",
    "x",
    "assert add(1, 2) == ",
    "class Stack:\n    def __init__(self):\n        self.items = []\n    values = {",
    "    self.assertEqual(parse('x, y'), ",
]


def load_through_hf_prefix(folder: Path):
    from harness.plugin_manager import plugins

    entry = plugins().encoders.get(f"hf:{folder}", "causal-lm")
    return entry.load()(entry.argument, EncoderOptions(device="cpu"))


@pytest.fixture(scope="module")
def tiny_lm(tmp_path_factory: pytest.TempPathFactory):
    """A random Qwen2 (rotary positions): what Qwen2.5-Coder and tiny-code-lm are."""
    return load_through_hf_prefix(make_tiny_causal_lm(tmp_path_factory.mktemp("qwen2") / "lm"))


@pytest.fixture(scope="module", params=["qwen2", "gpt2"])
def any_lm(request: pytest.FixtureRequest, tiny_lm, tmp_path_factory: pytest.TempPathFactory):
    """The Qwen2 and a random GPT-2, whose learned absolute positions show wrong position ids."""
    if request.param == "qwen2":
        return tiny_lm
    folder = make_tiny_causal_lm(tmp_path_factory.mktemp("gpt2") / "lm", architecture="gpt2")
    return load_through_hf_prefix(folder)


def reference_greedy(lm, prefix: str, context_tokens: int, steps: int) -> list[int]:
    """Greedy tokens by a second method: the whole sequence through the model each step,
    no cache, no padding, argmax; stops after an end token (not included)."""
    import torch

    ids = list(lm.tokenizer(prefix, add_special_tokens=False)["input_ids"])[-context_tokens:]
    new: list[int] = []
    with torch.no_grad():
        for _ in range(steps):
            logits = lm.model(input_ids=torch.tensor([ids + new])).logits[0, -1]
            token = int(logits.argmax())
            if token == lm.tokenizer.eos_token_id:
                break
            new.append(token)
    return new


def decode(lm, ids: list[int]) -> str:
    return lm.tokenizer.decode(ids, skip_special_tokens=True, clean_up_tokenization_spaces=False)


def test_hf_prefix_gives_a_causal_lm_for_completion_tasks(tiny_lm):
    from harness.plugins.causal_lm.model import CausalLM

    assert isinstance(tiny_lm, CausalLM) and tiny_lm.kind == "causal-lm"
    assert tiny_lm.device.type == "cpu" and not tiny_lm.model.training
    assert tiny_lm.tokenizer.pad_token is not None
    assert tiny_lm.info["dtype"] == "float32"  # "auto" and float32 on CPU
    assert tiny_lm.info["context_tokens"] == 256 and tiny_lm.info["trust_remote_code"] is False
    assert tiny_lm.info["n_parameters"] == sum(p.numel() for p in tiny_lm.model.parameters())


def test_batched_left_padded_greedy_equals_unbatched_greedy_without_cache(any_lm):
    generations = any_lm.generate(PREFIXES, max_new_tokens=10, context_tokens=40, batch_size=3)
    for prefix, generation in zip(PREFIXES, generations, strict=True):
        expected = reference_greedy(any_lm, prefix, 40, 10)
        assert generation.text == decode(any_lm, expected), prefix
        assert generation.new_tokens == min(10, len(expected) + 1)
        assert generation.seconds > 0
    assert len({len(any_lm.prompt_ids(p, 40)) for p in PREFIXES}) >= 4  # lengths differ


def test_stop_cuts_the_text_and_a_finished_batch_stops_computing(tiny_lm):
    calls = []
    original = tiny_lm.model

    class Counting:
        def __getattr__(self, name):
            return getattr(original, name)

        def __call__(self, *args, **kwargs):
            calls.append(kwargs["input_ids"].shape)
            return original(*args, **kwargs)

    def stop(text: str) -> int | None:
        return 3 if len(text) >= 3 else None

    view = copy.copy(tiny_lm)
    view.model = Counting()
    generations = view.generate(PREFIXES, max_new_tokens=30, context_tokens=40, stop=stop)
    needed = []
    for prefix, generation in zip(PREFIXES, generations, strict=True):
        reference = reference_greedy(tiny_lm, prefix, 40, 30)
        text = decode(tiny_lm, reference)
        assert len(text) >= 3, "the random model should say something"
        assert generation.text == text[:3]
        first = next(n for n in range(1, 31) if len(decode(tiny_lm, reference[:n])) >= 3)
        assert generation.new_tokens == first
        needed.append(first)
    assert len(calls) == max(needed) < 30  # one batch, it ended when its last sequence did


def test_one_stop_rule_per_prefix(tiny_lm):
    def after(k: int):
        return lambda text: k if len(text) >= k else None

    stops = [after(2), None, after(4)]
    generations = tiny_lm.generate(PREFIXES[:3], max_new_tokens=8, context_tokens=40, stop=stops)
    full = [decode(tiny_lm, reference_greedy(tiny_lm, p, 40, 8)) for p in PREFIXES[:3]]
    assert [g.text for g in generations] == [full[0][:2], full[1], full[2][:4]]
    with pytest.raises(HarnessError, match="2 stop rules for 3 prefixes"):
        tiny_lm.generate(PREFIXES[:3], max_new_tokens=2, context_tokens=40, stop=stops[:2])


def test_an_end_token_ends_a_sequence(tiny_lm):
    reference = reference_greedy(tiny_lm, PREFIXES[0], 40, 10)
    position = next(i for i in range(1, len(reference)) if reference[i] not in reference[:i])
    view = copy.copy(tiny_lm)
    view.eos_ids = frozenset({reference[position]})
    [generation] = view.generate(PREFIXES[:1], max_new_tokens=10, context_tokens=40)
    assert generation.text == decode(tiny_lm, reference[:position])
    assert generation.new_tokens == position + 1


def test_prompt_ids_keep_the_end_of_the_prefix_without_special_tokens(tiny_lm):
    prefix = PREFIXES[3]
    full = list(tiny_lm.tokenizer(prefix, add_special_tokens=False)["input_ids"])
    assert len(full) > 8
    assert tiny_lm.prompt_ids(prefix, 8) == full[-8:]
    assert tiny_lm.prompt_ids(prefix, 10_000) == full  # no end token appended
    assert tiny_lm.prompt_ids("", 5) == []
    with pytest.raises(HarnessError, match="context_tokens"):
        tiny_lm.prompt_ids(prefix, 0)


def test_prompt_tokens_is_the_tokenizer_count_after_truncation(tiny_lm):
    long_prefix = "values = [1, 2, 3]\n" * 40
    prefixes = [long_prefix, "x = 1\n"]
    generations = tiny_lm.generate(prefixes, max_new_tokens=2, context_tokens=7)
    counts = [len(tiny_lm.tokenizer(p, add_special_tokens=False)["input_ids"]) for p in prefixes]
    assert [g.prompt_tokens for g in generations] == [min(7, c) for c in counts]
    # the model has 256 positions: prompt + new tokens must fit
    [cut] = tiny_lm.generate([long_prefix], max_new_tokens=16, context_tokens=10_000)
    assert cut.prompt_tokens == 256 - 16


def test_a_tokenizer_that_adds_a_start_token_gets_it_inside_the_budget(tmp_path: Path):
    from tokenizers.processors import TemplateProcessing
    from transformers import AutoTokenizer

    from harness.plugins.causal_lm.model import CausalLM

    folder = make_tiny_causal_lm(tmp_path / "bos")
    tokenizer = AutoTokenizer.from_pretrained(folder)
    tokenizer.add_special_tokens({"bos_token": "<s>"})
    bos = tokenizer.bos_token_id
    tokenizer.backend_tokenizer.post_processor = TemplateProcessing(
        single="<s> $A", special_tokens=[("<s>", bos)]
    )
    tokenizer.save_pretrained(folder)
    lm = CausalLM(str(folder), EncoderOptions(device="cpu"))
    plain = list(lm.tokenizer("assert x == ", add_special_tokens=False)["input_ids"])
    assert lm.info["bos_prepended"] is True
    assert lm.prompt_ids("assert x == ", 4) == [bos, *plain[-3:]]


def test_a_peft_wrapped_copy_generates_through_its_own_model(tiny_lm):
    from peft import LoraConfig, get_peft_model

    targets = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
    view = copy.copy(tiny_lm)
    view.model = get_peft_model(copy.deepcopy(tiny_lm.model), LoraConfig(target_modules=targets))
    # a fresh LoRA adds zero (B = 0): the same greedy text as the base
    base = tiny_lm.generate(PREFIXES[:2], max_new_tokens=5, context_tokens=40)
    wrapped = view.generate(PREFIXES[:2], max_new_tokens=5, context_tokens=40)
    assert [g.text for g in wrapped] == [g.text for g in base]
    assert view.model is not tiny_lm.model


@pytest.mark.gpu
def test_on_cuda_auto_precision_is_bfloat16_weights(tmp_path: Path):
    import torch

    from harness.plugins.causal_lm.model import CausalLM

    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    lm = CausalLM(str(make_tiny_causal_lm(tmp_path / "lm")), EncoderOptions(dtype="auto"))
    assert lm.device.type == "cuda" and lm.info["dtype"] == "bfloat16"
    assert next(lm.model.parameters()).dtype == torch.bfloat16
    [generation] = lm.generate(PREFIXES[:1], max_new_tokens=4, context_tokens=16)
    assert 1 <= generation.new_tokens <= 4


def test_an_unreachable_hub_id_is_a_one_line_error():
    from harness.plugins.causal_lm.model import build_hf_causal_lm

    options = EncoderOptions(device="cpu")
    with pytest.raises(HarnessError) as caught:
        build_hf_causal_lm("no-such-org/no-such-model", options)
    assert len(str(caught.value).splitlines()) == 1
    assert "no-such-org/no-such-model" in str(caught.value)


# --- registration -------------------------------------------------------------------------------


def test_registering_imports_no_torch_and_names_the_models():
    code = (
        "import sys\n"
        "from harness.plugin_manager import load_plugins\n"
        "loaded = load_plugins()\n"
        "entries = {e.name: {k: v for k, v in e.meta.items() if k != 'options'}\n"
        "           for e in loaded.encoders}\n"
        "assert entries['qwen-coder'] == {'kind': 'causal-lm', "
        "'hub_id': 'Qwen/Qwen2.5-Coder-1.5B'}, entries\n"
        "assert entries['tiny-code-lm'] == {'kind': 'causal-lm', 'fingerprint': "
        "'harness.plugins.causal_lm.tiny:fingerprint'}, entries\n"
        "print(','.join(m for m in ('torch', 'transformers') if m in sys.modules))\n"
    )
    env = {**os.environ, "HARNESS_LOAD_PLUGINS": "causal-lm,hf-encoders"}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=env
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == ""


# --- tiny-code-lm -------------------------------------------------------------------------------

SOURCE = '''"""Module {i}: small helpers."""


def scale_{i}(values, factor={i}):
    """Multiply every value by the factor."""
    return [value * factor for value in values]


class Counter{i}:
    def __init__(self):
        self.counts = {{}}

    def add(self, key):
        self.counts[key] = self.counts.get(key, 0) + 1
        return self.counts[key]
'''
TEST_FILES = ["tests/test_a.py", "pkg/test_b.py", "pkg/b_test.py", "conftest.py",
              "test/helpers.py"]  # fmt: skip
TINY = ["--steps", "3", "--seq-len", "32", "--batch-size", "2"]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("corpus")
    for i in range(12):
        (root / "pkg").mkdir(exist_ok=True)
        (root / "pkg" / f"mod_{i}.py").write_text(SOURCE.format(i=i))
    for name in TEST_FILES:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text("def test_x():\n    assert ZZZ_TEST_ONLY == 1\n")
    (root / "notes.txt").write_text("not python")
    return root


def test_the_corpus_leaves_test_files_out(corpus: Path):
    from harness.plugins.causal_lm.corpus import corpus_sources, python_files, read_corpus

    files = python_files(corpus_sources([corpus]))
    assert sorted(f.path for f in files) == sorted(f"pkg/mod_{i}.py" for i in range(12))
    read = read_corpus(files, 0, train_chars=10**9, heldout_chars=10**9)
    assert (len(read.train), len(read.heldout)) == (11, 1)  # a tenth, at least one, held out
    assert not any("ZZZ_TEST_ONLY" in text for text in read.train + read.heldout)


def run_pretrain(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    from harness.cli import main

    code = main(["pretrain", *args])
    return code, capsys.readouterr().out


def test_pretrain_writes_the_cache_atomically_and_a_second_call_reuses_it(
    corpus: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    args = [*TINY, "--corpus", str(corpus), "--cache-dir", str(tmp_path), "--device", "cpu"]
    code, out = run_pretrain(capsys, *args)
    assert code == 0 and out.startswith("pretrained: tiny-code-lm ")
    root = tmp_path / "models" / "tiny-code-lm"
    [folder] = [p for p in root.iterdir() if not p.name.startswith(".")]
    assert {"config.json", "model.safetensors", "tokenizer.json", "meta.json"} <= {
        p.name for p in folder.iterdir()
    }
    assert not list(root.glob(".*.tmp")) and not list((root / ".work").glob("*/"))
    meta = json.loads((folder / "meta.json").read_text())
    assert meta["key"] == folder.name and meta["steps"] == 3 and meta["seq_len"] == 32
    assert len(meta["loss"]["curve"]) == 3 and meta["loss"]["first"] > meta["loss"]["last"]
    assert meta["heldout"]["perplexity"] > 1 and meta["heldout"]["bits_per_byte"] > 0
    summary = meta["corpus_summary"]
    assert meta["corpus"]["files"] == summary["files_listed"] == 12  # no test file
    # read only as far as 3 steps need (~4.5 characters a token), one file held out
    assert summary["files_heldout"] == 1 and 1 <= summary["files_train"] < 11
    assert summary["tokens_train"] >= 32 + 1
    config = json.loads((folder / "config.json").read_text())
    assert config["model_type"] == "qwen2" and config["max_position_embeddings"] == 32
    written = (folder / "model.safetensors").stat().st_mtime_ns

    code, out = run_pretrain(capsys, *args)
    assert code == 0 and out.startswith("already pretrained: tiny-code-lm " + folder.name)
    assert (folder / "model.safetensors").stat().st_mtime_ns == written
    # a different seed is a different model
    code, out = run_pretrain(capsys, *args, "--seed", "1")
    assert len([p for p in root.iterdir() if not p.name.startswith(".")]) == 2


def test_a_killed_pretraining_resumes_to_the_same_weights(corpus: Path, tmp_path: Path):
    from safetensors.torch import load_file

    from harness.plugins.causal_lm import pretrain as module
    from harness.plugins.causal_lm.tiny_settings import Architecture, PretrainSettings

    small = Architecture(vocab_size=300, hidden_size=32, layers=2, heads=2, kv_heads=1,
                         intermediate_size=64)  # fmt: skip
    settings = PretrainSettings(steps=4, seq_len=32, batch_size=2, checkpoint_every=2,
                                corpus=(str(corpus),), architecture=small)  # fmt: skip
    whole, _ = module.pretrain(settings, tmp_path / "whole")

    original = module.learning_rate

    def killed_at_step_3(s: PretrainSettings, step: int) -> float:
        if step == 3:
            raise KeyboardInterrupt
        return original(s, step)

    module.learning_rate = killed_at_step_3  # type: ignore[assignment]
    try:
        with pytest.raises(KeyboardInterrupt):
            module.pretrain(settings, tmp_path / "killed")
    finally:
        module.learning_rate = original  # type: ignore[assignment]
    resumed, meta = module.pretrain(settings, tmp_path / "killed")
    assert meta["resumed_from"] == 2
    a = load_file(str(whole / "model.safetensors"))
    b = load_file(str(resumed / "model.safetensors"))
    assert a.keys() == b.keys()
    assert all((a[k] == b[k]).all() for k in a)


def test_tiny_code_lm_pretrains_on_first_use_then_loads_from_the_cache(
    corpus: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    from harness.plugins.causal_lm.tiny import build_tiny_code_lm

    extra = {"corpus": str(corpus), "steps": 2, "seq_len": 32, "pretrain_batch_size": 2}
    lm = build_tiny_code_lm(None, EncoderOptions(device="cpu", extra=extra, cache_dir=tmp_path))
    assert "pretraining it first" in capsys.readouterr().err
    assert lm.name == "tiny-code-lm" and lm.kind == "causal-lm"
    assert lm.info["model"] == "tiny-code-lm" and lm.info["pretrained"]["steps"] == 2
    names = {name.rsplit(".", 1)[-1] for name, _ in lm.model.named_modules()}
    assert {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"} <= names
    [generation] = lm.generate(["def f(x):\n    return "], max_new_tokens=3, context_tokens=20)
    assert generation.prompt_tokens <= 20 and 1 <= generation.new_tokens <= 3

    again = build_tiny_code_lm(None, EncoderOptions(device="cpu", extra=extra, cache_dir=tmp_path))
    assert "pretraining" not in capsys.readouterr().err
    assert again.info["pretrained"]["key"] == lm.info["pretrained"]["key"]
    folder = tmp_path / "models" / "tiny-code-lm" / lm.info["pretrained"]["key"]
    pointed = build_tiny_code_lm(None, EncoderOptions(device="cpu", extra={"path": str(folder)}))
    assert pointed.info["pretrained"]["key"] == folder.name


def test_the_fingerprint_names_the_weights_a_run_would_load(corpus: Path, tmp_path: Path):
    """A run's config and every adapter's base options hold the pretrained model's key, so
    weights retrained under the same name (new defaults, another corpus) never reuse a
    stored number or adapter."""
    from harness.plan import RunRequest, model_fingerprint, plan, strategy_context
    from harness.plugins.causal_lm.tiny import build_tiny_code_lm, fingerprint
    from harness.plugins.causal_lm.tiny_settings import PretrainSettings, identity

    # precision pinned: `auto` resolves to bf16 on a CPU with AVX512-BF16, fp32 elsewhere
    extra = {"corpus": str(corpus), "steps": 2, "seq_len": 32, "pretrain_batch_size": 2,
             "pretrain_precision": "fp32"}  # fmt: skip
    options = EncoderOptions(device="cpu", extra=extra, cache_dir=tmp_path)
    settings = PretrainSettings(steps=2, seq_len=32, batch_size=2, corpus=(str(corpus),),
                                precision="fp32")  # fmt: skip
    expected = identity(settings).key  # before pretraining: the key pretraining will write
    assert fingerprint(None, options) == f"tiny-code-lm:{expected}"
    lm = build_tiny_code_lm(None, options)
    assert lm.info["pretrained"]["key"] == expected
    other = EncoderOptions(device="cpu", extra={**extra, "steps": 3}, cache_dir=tmp_path)
    assert fingerprint(None, other) not in ("", fingerprint(None, options))
    folder = tmp_path / "models" / "tiny-code-lm" / expected
    pointed = EncoderOptions(extra={"path": str(folder)})
    assert fingerprint(None, pointed) == f"tiny-code-lm:{expected}"

    request = RunRequest(model="tiny-code-lm", strategy="taskwise", task="rc", device="cpu",
                         cache_dir=tmp_path, settings={"encoder": extra})  # fmt: skip
    resolved = plan(request)
    weights = f"tiny-code-lm:{expected}"
    assert model_fingerprint(request, resolved) == weights
    assert strategy_context(request, resolved).model_options["weights"] == weights
    # an encoder that declares no fingerprint adds nothing
    plain = RunRequest(model="minilm", strategy="none", task="t2c", cache_dir=tmp_path)
    assert model_fingerprint(plain, plan(plain)) is None


def test_precision_auto_is_resolved_by_the_hardware_before_the_key(monkeypatch):
    import harness.hardware
    from harness.errors import HarnessError
    from harness.hardware import resolve_precision
    from harness.plugins.causal_lm.tiny import settings_from_extra
    from harness.plugins.causal_lm.tiny_settings import PRESETS, PretrainSettings

    settings = PretrainSettings(corpus=("/nonexistent",))
    assert settings.precision == "auto" and settings.seq_len >= 1024
    with pytest.raises(ValueError, match="resolve_precision"):
        settings.determining()
    monkeypatch.setattr(harness.hardware, "native_bf16", lambda device="auto": False)
    assert resolve_precision(settings, "cpu").precision == "fp32"
    monkeypatch.setattr(harness.hardware, "native_bf16", lambda device="auto": True)
    assert resolve_precision(settings, "cpu").precision == "bf16"
    # an explicit choice is kept
    assert resolve_precision(PretrainSettings(precision="fp32"), "cuda").precision == "fp32"
    # the two precisions are two models
    fp32 = PretrainSettings(precision="fp32").determining()
    assert fp32 != PretrainSettings(precision="bf16").determining()
    assert settings_from_extra({"preset": "long"}).steps == PRESETS["long"]
    assert settings_from_extra({}).steps == PRESETS["default"] < PRESETS["long"]
    assert settings_from_extra({"preset": "long", "steps": "7"}).steps == 7
    with pytest.raises(HarnessError, match="preset 'huge'"):
        settings_from_extra({"preset": "huge"})
