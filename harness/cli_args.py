"""Argument types and options that several commands share (`harness.cli`, `harness.cli_results`
and plugins' commands import them from here, so no command module imports another)."""

from __future__ import annotations

import argparse
from pathlib import Path


def positive_int(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not an integer") from None
    if number < 1:
        raise argparse.ArgumentTypeError(f"{value!r} must be at least 1")
    return number


def add_results_option(parser: argparse.ArgumentParser) -> None:
    """`--results DIR`, shared by every command that reads or writes results."""
    parser.add_argument(
        "--results",
        type=Path,
        default=Path("results"),
        metavar="DIR",
        help="result store (default: ./results)",
    )
