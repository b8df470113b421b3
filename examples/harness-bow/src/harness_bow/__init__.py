"""harness-bow: an example third-party plugin for harness.

It adds an encoder (``bow``: hashed bag of identifier words, no model to
download) and a task kind (``odd-one-out``: of three snippets, which one does
something else?) with its task card, its metric and a small bundled dataset.

Each hook receives ``register`` and calls it. Targets are ``"module:attribute"``
strings, imported only when a run uses them, so loading this plugin costs
nothing: ``harness --help`` stays fast.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from harness.extensions import RunFlag
from harness.hookspecs import hookimpl
from harness.options import Option


@hookimpl
def harness_register_encoders(register: Any) -> None:
    register(
        "bow",
        "harness_bow.encoder:build",
        "hashed bag of identifier words (example plugin; --set encoder.dim=N, default 256)",
        kind="encoder",
        # what --set encoder.* accepts; every option here can change a result
        options=[Option("dim", 256, "hash buckets (the embedding's width)")],
    )


@hookimpl
def harness_register_run_flags(register: Any) -> None:
    # `harness run --bow-dim 512` is `--set encoder.dim=512`; a comma list, one cell each
    flag = RunFlag("encoder", metavar="N", sweep=True, option="dim", type=int)
    register("bow-dim", flag, "bow: hash buckets, the embedding's width (default 256)")


@hookimpl
def harness_register_task_kinds(register: Any) -> None:
    register(
        "odd-one-out",
        "harness_bow.odd_one_out:OddOneOut",
        "three snippets, two alike: is the least similar one the odd one? (example plugin)",
    )


@hookimpl
def harness_register_tasks(register: Any) -> None:
    from harness.taskcard import load_card

    card = load_card(Path(__file__).with_name("odd-one-out.toml"))
    register(card.name, card, card.description, kind=card.kind)


@hookimpl
def harness_register_datasets(register: Any) -> None:
    register(
        "odd-one-out-bundled",
        "harness_bow.odd_one_out:load",
        "24 hand-written odd-one-out triples in Python and JavaScript (example plugin)",
        tasks=["odd-one-out"],
    )


@hookimpl
def harness_register_metrics(register: Any) -> None:
    register(
        "odd_one_out_accuracy",
        "odd_one_out_accuracy",
        "1 when the snippet least similar to the other two is the odd one (ties count 0)",
        higher_is_better=True,
        task_kind="odd-one-out",
    )


def _words(args: Any) -> int:
    from harness_bow.encoder import words

    print(" ".join(words(args.text)))
    return 0


@hookimpl
def harness_register_commands(cli: Any) -> None:
    parser = cli.add_parser("bow-words", help="the words the bow encoder sees in a text")
    parser.add_argument("text")
    parser.set_defaults(handler=_words)
