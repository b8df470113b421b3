"""Tiny, random, local Hugging Face models for tests (no download, deterministic).

>>> folder = make_tiny_bert(tmp_path / "tiny-bert")  # doctest: +SKIP
>>> HFEncoder(str(folder), EncoderOptions(device="cpu")).dim  # doctest: +SKIP
32
"""

from __future__ import annotations

import string
from pathlib import Path
from typing import Any

SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
CODE_WORDS = [
    # Python keywords and builtins
    "def", "return", "class", "self", "import", "from", "as", "if", "elif", "else",
    "for", "while", "in", "not", "and", "or", "is", "None", "True", "False", "try",
    "except", "raise", "with", "yield", "lambda", "pass", "print", "len", "range",
    "int", "str", "float", "list", "dict", "set", "tuple", "open", "assert",
    # other languages
    "function", "var", "let", "const", "public", "static", "void", "new", "func",
    "package", "fn", "struct",
    # docstring words
    "the", "a", "an", "of", "to", "and", "add", "sum", "sort", "read", "write",
    "file", "list", "value", "values", "number", "numbers", "string", "name", "path",
    "return", "returns", "given", "two", "first", "last", "item", "items", "key",
    "reverse", "count", "parse", "json", "line", "lines", "data", "result",
]  # fmt: skip


def tiny_vocabulary(extra_words: list[str] | None = None) -> list[str]:
    """A WordPiece vocabulary that can spell any ASCII text.

    Special tokens first (so ``[PAD]`` is id 0), then single characters,
    their ``##`` continuations, and whole words; no duplicates, fixed order.
    """
    characters = string.ascii_letters + string.digits + string.punctuation
    pieces = [*SPECIAL_TOKENS, *characters, *(f"##{c}" for c in characters)]
    pieces += [*CODE_WORDS, *(extra_words or [])]
    return list(dict.fromkeys(pieces))


def make_tiny_bert(
    path: Path,
    *,
    vocab_words: list[str] | None = None,
    seed: int = 0,
    max_position_embeddings: int = 128,
) -> Path:
    """Write a random 2-layer BERT (hidden 32, 2 heads) and its tokenizer into `path`.

    `vocab_words` are added to the built-in vocabulary as whole words; the
    same arguments give the same files. Returns `path`.
    """
    import torch
    from transformers import BertConfig, BertModel, BertTokenizerFast
    from transformers.utils import logging as transformers_logging

    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    vocabulary = tiny_vocabulary(vocab_words)
    vocab_file = path / "vocab.txt"
    vocab_file.write_text("\n".join(vocabulary) + "\n", encoding="utf-8")
    # Positional: the vocabulary file is `vocab_file` in transformers 4 and `vocab` in 5.
    tokenizer = BertTokenizerFast(
        str(vocab_file),
        do_lower_case=False,
        model_max_length=max_position_embeddings,
    )
    config = BertConfig(
        vocab_size=len(vocabulary),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=max_position_embeddings,
        pad_token_id=0,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = BertModel(config)
    bar_was_enabled = transformers_logging.is_progress_bar_enabled()
    transformers_logging.disable_progress_bar()
    try:
        model.save_pretrained(path, safe_serialization=True)
        tokenizer.save_pretrained(path)
    finally:
        if bar_was_enabled:
            transformers_logging.enable_progress_bar()
    return path


def each_alone(path: Path, texts: list[str], pooling: str) -> Any:
    """Each text alone through the raw transformers model in `path` (no batch, no
    padding), pooled by hand (``mean``, ``cls``, ``max`` or ``lasttoken``) and
    L2-normalised: the reference the encoders' batched paths are held to."""
    import numpy as np
    import torch
    from transformers import AutoModel, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModel.from_pretrained(path).eval()
    rows = []
    with torch.no_grad():
        for text in texts:
            inputs = tokenizer(text, return_tensors="pt", truncation=True)
            hidden = model(**inputs).last_hidden_state[0]
            vector = {"mean": hidden.mean(dim=0), "cls": hidden[0],
                      "max": hidden.amax(dim=0), "lasttoken": hidden[-1]}[pooling]  # fmt: skip
            rows.append((vector / vector.norm()).numpy())
    return np.stack(rows)


CODE_SNIPPETS = [
    "def add(a, b):\n    return a + b\n",
    "assert add(1, 2) == 3\n",
    "class Stack:\n    def __init__(self):\n        self.items = []\n",
    "    self.assertEqual(parse('x, y'), ['x', 'y'])  # two names\n",
    'values = {"key": [1, 2, 3], "name": None}\n',
    "for item in range(10):\n    print(item, len(items))\n",
]


def byte_level_bpe(texts: list[str], vocab_size: int) -> Any:
    """A byte-level BPE trained on `texts` (``<|endoftext|>`` its one special token): it
    spells any text, and the same arguments give the same tokenizer."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=["<|endoftext|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    bpe.train_from_iterator(texts, trainer)
    return bpe


def make_tiny_causal_lm(
    path: Path, *, seed: int = 0, vocab_size: int = 320, architecture: str = "qwen2"
) -> Path:
    """Write a random 2-layer causal LM (hidden 32) and a byte-level BPE into `path`.

    `architecture` is ``"qwen2"`` (rotary positions, the projections Qwen2.5-Coder
    has) or ``"gpt2"`` (learned absolute positions: left padding shows there).
    Weights are drawn wide (``initializer_range=0.5``) so that greedy output
    depends on the context instead of repeating one token.

    The tokenizer is trained here on `CODE_SNIPPETS` (``<|endoftext|>`` ends a
    text and pads; no start token), so it spells any text; the same
    arguments give the same files. Load it with ``hf:<path>`` (the causal-LM kind's
    entry). Returns `path`.
    """
    import torch
    from transformers import (
        GPT2Config,
        GPT2LMHeadModel,
        PreTrainedTokenizerFast,
        Qwen2Config,
        Qwen2ForCausalLM,
    )
    from transformers.utils import logging as transformers_logging

    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    bpe = byte_level_bpe(CODE_SNIPPETS * 4, vocab_size)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=bpe, eos_token="<|endoftext|>", pad_token="<|endoftext|>"
    )
    special = {
        "eos_token_id": tokenizer.eos_token_id,
        "pad_token_id": tokenizer.pad_token_id,
        "bos_token_id": None,
        "initializer_range": 0.5,
    }
    config: Any
    if architecture == "qwen2":
        config = Qwen2Config(
            vocab_size=bpe.get_vocab_size(),
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=2,
            num_attention_heads=4,
            num_key_value_heads=2,
            max_position_embeddings=256,
            tie_word_embeddings=True,
            **special,
        )
    elif architecture == "gpt2":
        config = GPT2Config(
            vocab_size=bpe.get_vocab_size(), n_embd=32, n_layer=2, n_head=4, n_positions=256,
            **special,
        )  # fmt: skip
    else:
        raise ValueError(f"architecture {architecture!r}: use qwen2 or gpt2")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = (Qwen2ForCausalLM if architecture == "qwen2" else GPT2LMHeadModel)(config)
    bar_was_enabled = transformers_logging.is_progress_bar_enabled()
    transformers_logging.disable_progress_bar()
    try:
        model.save_pretrained(path)
        tokenizer.save_pretrained(path)
    finally:
        if bar_was_enabled:
            transformers_logging.enable_progress_bar()
    return path
