"""The options of the ``local`` dataset for task ``rc`` (``--set dataset.NAME=VALUE``).

- ``context_chars`` (6000): the prefix keeps the last N characters of the
  file before the target (the model truncates again, in tokens); applied when
  loading, so it does not change the cache;
- ``max_target_chars`` (120), ``max_target_lines`` (3): longer targets are
  not examples;
- ``max_files_per_repo`` (200): test files read per repository (a seeded
  choice when it has more); ``max_file_bytes`` (1000000): larger files are
  skipped;
- ``min_per_repo`` (20): a repository with fewer examples is left out;
  ``max_per_repo`` (1500): examples kept per repository (a seeded sample), so
  the standard library does not dominate;
- ``max_commits`` (50), ``max_diff_chars`` (8000): the evolution track of a
  git repository (``git_history``);
- ``cr_val_fraction`` (0.1), ``cr_test_fraction`` (0.2),
  ``ood_test_fraction`` (0.1): shares of repositories (``completion_splits``);
- ``val_fraction`` (0.1), ``test_fraction`` (0.1): in-repo shares of examples;
- ``layout`` (``auto``): how ``--data-dir`` is read (``repositories``);
- ``track_only`` (false): score only the assertions a commit of the
  repository's evolution track introduced (those with a ``commit_index``),
  the ones whose adapter Evo writes from a later state than Static's; the
  training pool is unchanged; applied when loading, so it does not change
  the cache.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

from harness.errors import HarnessError
from harness.plugins.local_dataset.option_checks import checked_numbers
from harness.plugins.local_dataset.repositories import LAYOUTS


@dataclass(frozen=True)
class CompletionSettings:
    """Everything but the repositories that determines the mined examples."""

    seed: int = 0
    context_chars: int = 6000
    max_target_chars: int = 120
    max_target_lines: int = 3
    max_files_per_repo: int = 200
    max_file_bytes: int = 1_000_000
    min_per_repo: int = 20
    max_per_repo: int = 1500
    max_commits: int = 50
    max_diff_chars: int = 8000
    cr_val_fraction: float = 0.1
    cr_test_fraction: float = 0.2
    ood_test_fraction: float = 0.1
    val_fraction: float = 0.1
    test_fraction: float = 0.1
    layout: str = "auto"
    track_only: bool = False

    def determining(self) -> dict[str, Any]:
        """The settings the cache key covers (``context_chars`` and ``track_only`` are
        applied on loading)."""
        values = asdict(self)
        del values["context_chars"], values["track_only"]
        return values

    @property
    def cross_fractions(self) -> dict[str, float]:
        return {
            "cr_val": self.cr_val_fraction,
            "cr_test": self.cr_test_fraction,
            "ood_test": self.ood_test_fraction,
        }


_DEFAULT = CompletionSettings()
# the options that are not numbers, with their defaults (checked by name below)
CHOICES: dict[str, Any] = {"layout": _DEFAULT.layout, "track_only": _DEFAULT.track_only}
# the numeric options and their defaults: every other field but the seed
DEFAULTS: dict[str, int | float] = {
    f.name: getattr(_DEFAULT, f.name)
    for f in fields(CompletionSettings)
    if f.name != "seed" and f.name not in CHOICES
}
OPTIONS = (*DEFAULTS, *CHOICES)
WHAT = "dataset local (task rc)"


def completion_settings(extra: dict[str, Any], seed: int) -> CompletionSettings:
    """The defaults overridden by `extra`; a bad name or value raises a one-line HarnessError."""
    values = checked_numbers(extra, DEFAULTS, OPTIONS, WHAT, fractions=True)
    for name in ("max_target_chars", "max_target_lines"):
        if values[name] < 1:
            raise HarnessError(f"{WHAT}: option {name} must be at least 1")
    if values["cr_val_fraction"] + values["cr_test_fraction"] + values["ood_test_fraction"] >= 1:
        raise HarnessError(
            f"{WHAT}: cr_val_fraction + cr_test_fraction + ood_test_fraction must be below 1"
        )
    if values["val_fraction"] + values["test_fraction"] >= 1:
        raise HarnessError(f"{WHAT}: val_fraction + test_fraction must be below 1")
    layout = extra.get("layout", "auto")
    if layout not in LAYOUTS:
        raise HarnessError(
            f"{WHAT}: option layout must be one of {', '.join(LAYOUTS)}, not {layout!r}"
        )
    track_only = extra.get("track_only", False)
    if not isinstance(track_only, bool):
        raise HarnessError(f"{WHAT}: option track_only must be true or false, not {track_only!r}")
    return CompletionSettings(seed=seed, layout=layout, track_only=track_only, **values)
