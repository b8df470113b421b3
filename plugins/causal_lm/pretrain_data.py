"""Pretraining data for `tiny-code-lm`: the tokenizer and the packed token streams.

Made once per cache key in ``.work/<key>/data/`` (written beside and renamed
into place): the corpus (`corpus`) is read up to ~4.5 characters per
training token, a byte-level BPE (digits split one by one,
``<|endoftext|>`` ends a file and pads, no start token) is trained on the
training files, and both splits are encoded into one ``uint16`` token
stream each, files separated by ``<|endoftext|>``.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from harness.atomic import publishing
from harness.errors import HarnessError
from harness.plugins.causal_lm.tiny_settings import NAME, PretrainSettings
from harness.progress import console

EOS = "<|endoftext|>"
CHARS_PER_TOKEN = 4.5  # generous: the BPE here averages ~3.6 on Python


@dataclass
class TrainingData:
    tokenizer: Any  # PreTrainedTokenizerFast
    train: np.ndarray
    heldout: np.ndarray
    description: dict[str, Any]


def prepare_data(settings: PretrainSettings, folder: Path) -> TrainingData:
    """The tokenizer and the two token streams, made once and kept in `folder`."""
    from transformers import PreTrainedTokenizerFast

    if not (folder / "data.json").is_file():
        _make_data(settings, folder)
    tokenizer = PreTrainedTokenizerFast.from_pretrained(str(folder / "tokenizer"))
    return TrainingData(
        tokenizer,
        np.load(folder / "train.npy", allow_pickle=False),
        np.load(folder / "heldout.npy", allow_pickle=False),
        json.loads((folder / "data.json").read_text()),
    )


def _make_data(settings: PretrainSettings, folder: Path) -> None:
    from harness.plugins.causal_lm.corpus import corpus_sources, python_files, read_corpus

    began = time.perf_counter()
    files = python_files(corpus_sources([Path(f) for f in settings.corpus]))
    corpus = read_corpus(
        files,
        settings.seed,
        train_chars=int(settings.tokens * CHARS_PER_TOKEN),
        heldout_chars=settings.heldout_chars,
    )
    if not corpus.train or not corpus.heldout:
        raise HarnessError(
            f"{NAME}: the corpus has {len(corpus.train)} training and {len(corpus.heldout)} "
            "held-out Python files; it needs at least one of each (two readable files)"
        )
    console().print(f"{NAME}: training a {settings.architecture.vocab_size}-token BPE tokenizer")
    bpe = train_tokenizer(corpus.train, settings.architecture.vocab_size)
    streams = {name: _stream(bpe, texts) for name, texts in
               (("train", corpus.train), ("heldout", corpus.heldout))}  # fmt: skip
    if len(streams["train"]) < settings.seq_len + 1 or len(streams["heldout"]) < 2:
        raise HarnessError(
            f"{NAME}: the corpus gives {len(streams['train'])} training tokens, fewer than one "
            f"sequence of {settings.seq_len} (--seq-len)"
        )
    with publishing(folder) as tmp:
        _fast_tokenizer(bpe).save_pretrained(str(tmp / "tokenizer"))
        for name, stream in streams.items():
            np.save(tmp / f"{name}.npy", stream, allow_pickle=False)
        description = {
            **corpus.describe(),
            "tokens_train": int(len(streams["train"])),
            "tokens_heldout": int(len(streams["heldout"])),
            "seconds": round(time.perf_counter() - began, 1),
        }
        (tmp / "data.json").write_text(json.dumps(description, indent=2) + "\n")


def train_tokenizer(texts: list[str], vocab_size: int) -> Any:
    """A byte-level BPE (a `tokenizers.Tokenizer`) trained on `texts`; spells any text."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Digits(individual_digits=True),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True),
        ]
    )
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=2,
        special_tokens=[EOS],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    bpe.train_from_iterator(texts, trainer)
    return bpe


def _fast_tokenizer(bpe: Any) -> Any:
    from transformers import PreTrainedTokenizerFast

    return PreTrainedTokenizerFast(tokenizer_object=bpe, eos_token=EOS, pad_token=EOS)


def _stream(bpe: Any, texts: list[str]) -> np.ndarray:
    eos = bpe.token_to_id(EOS)
    ids: list[int] = []
    for encoding in bpe.encode_batch(texts, add_special_tokens=False):
        ids += encoding.ids
        ids.append(eos)
    return np.asarray(ids, dtype=np.uint16 if bpe.get_vocab_size() < 2**16 else np.uint32)
