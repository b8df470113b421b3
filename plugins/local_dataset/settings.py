"""The options of the ``local`` dataset (``--set dataset.NAME=VALUE``), checked.

- ``max_test`` (1000), ``max_valid`` (500), ``max_train`` (4000): pairs kept
  per language and split (a seeded sample when more were mined);
- ``test_fraction`` (0.1), ``valid_fraction`` (0.1): the share of files per
  split, the rest is train;
- ``max_files`` (20000): files read at most per language;
- ``max_file_bytes`` (1000000): larger files are skipped;
- ``min_query_words`` (3): words a query needs at least;
- ``languages``: the languages mined, a list or a comma-separated string;
  by default ``python,c,cpp`` from this machine's sources (their stdlib,
  packages and headers), every language the miners know (``languages.py``)
  from a tree named with ``--data-dir``;
- ``workers`` (0): mining processes (spawned); 0 is one per core this process
  may use (at most 8). The data does not depend on it. On an idle 2-core
  machine two workers mine the first command's data in 12.8 s against 24.2 s
  for one (docs/performance.md).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from harness.data import DatasetOptions
from harness.errors import HarnessError
from harness.options import Option
from harness.plugins.local_dataset.languages import (
    ALL_LANGUAGES,
    DEFAULT_LANGUAGES,
    check_languages,
)
from harness.plugins.local_dataset.option_checks import checked_numbers
from harness.plugins.local_dataset.pairs import MIN_QUERY_WORDS

DEFAULTS: dict[str, int | float] = {
    "max_test": 1000,
    "max_valid": 500,
    "max_train": 4000,
    "test_fraction": 0.1,
    "valid_fraction": 0.1,
    "max_files": 20000,
    "max_file_bytes": 1_000_000,
    "min_query_words": MIN_QUERY_WORDS,
    "workers": 0,
}
OPTIONS = (*DEFAULTS, "languages")


@dataclass(frozen=True)
class Settings:
    """Everything but the sources that determines the data (``workers`` does not)."""

    seed: int
    max_test: int
    max_valid: int
    max_train: int
    test_fraction: float
    valid_fraction: float
    max_files: int
    max_file_bytes: int
    min_query_words: int
    workers: int
    languages: tuple[str, ...] = DEFAULT_LANGUAGES

    def determining(self) -> dict[str, Any]:
        values = asdict(self)
        del values["workers"]
        values["languages"] = list(self.languages)
        return values

    @property
    def quota(self) -> dict[str, int]:
        return {"train": self.max_train, "valid": self.max_valid, "test": self.max_test}

    def mining_args(self) -> dict[str, Any]:
        """The keyword arguments of ``mining.mine``: these settings, the caps as a quota."""
        values = asdict(self)
        for split in self.quota:
            del values[f"max_{split}"]
        return {**values, "quota": self.quota}


def parse_languages(value: object, what: str) -> tuple[str, ...]:
    """A list or a comma-separated string of language names, checked and ordered."""
    if isinstance(value, str):
        names = [name.strip() for name in value.split(",") if name.strip()]
    elif isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
        names = list(value)
    else:
        raise HarnessError(f"{what}: languages must be names separated by commas, not {value!r}")
    return check_languages(names, what)


def settings_from(options: DatasetOptions) -> Settings:
    """The defaults overridden by ``options.extra``; a bad key or value raises HarnessError."""
    values = checked_numbers(options.extra, DEFAULTS, OPTIONS, "dataset local")
    if values["test_fraction"] + values["valid_fraction"] > 1:
        raise HarnessError("dataset local: test_fraction + valid_fraction must be at most 1")
    default_languages = ALL_LANGUAGES if options.data_dir else DEFAULT_LANGUAGES
    languages = options.extra.get("languages", default_languages)
    values["languages"] = parse_languages(languages, "dataset local")
    return Settings(seed=options.seed, **values)


def _declared() -> tuple[Option, ...]:
    from harness.plugins.local_dataset import completion_settings as rc

    mining = [Option(n, d, affects_results=n != "workers") for n, d in DEFAULTS.items()]
    completion = [Option(n, d) for n, d in rc.DEFAULTS.items() if n not in DEFAULTS]
    choices = [Option(n, d) for n, d in rc.CHOICES.items()]
    return (*mining, Option("languages"), *completion, *choices)


# what `--set dataset.*` accepts (harness.options): the pair miner's options (t2c, c2c) and
# the assertion miner's (rc); `workers` changes how fast, never what is mined
DECLARED = _declared()
