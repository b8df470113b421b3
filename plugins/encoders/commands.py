"""``harness models``: the model cards of the named encoders.

``harness models`` lists them (one line each: name, hub id, parameters, pooling,
prompts), ``harness models show NAME`` prints one in full (every field, and the
retrieval scores its authors report with their sources), ``harness models --markdown``
prints the README's table of what harness does with each model. No torch is imported.
"""

from __future__ import annotations

import argparse
from typing import Any


def add_models_command(cli: Any) -> None:
    parser = cli.add_parser("models", help="the named encoders' model cards")
    parser.add_argument(
        "--markdown", action="store_true", help="a markdown table of every card (the README's)"
    )
    sub = parser.add_subparsers(dest="models_command", metavar="COMMAND")
    show = sub.add_parser("show", help="one model card in full, with its reported scores")
    show.add_argument("name", help="a named encoder, e.g. e5-base-v2")
    parser.set_defaults(handler=run_models)


def run_models(args: argparse.Namespace) -> int:
    from harness.plugins.encoders.cards import card_lines, card_summary, markdown_table
    from harness.plugins.encoders.named import NAMED_MODELS, card_named

    if getattr(args, "models_command", None) == "show":
        print("\n".join(card_lines(card_named(args.name))))
    elif args.markdown:
        print(markdown_table(NAMED_MODELS))
    else:
        width = max(map(len, NAMED_MODELS))
        for name, card in NAMED_MODELS.items():
            print(f"{name:<{width}}  {card_summary(card)}")
    return 0
