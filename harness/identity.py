"""What identifies a run's results: every value the user gave that can change a number.

`run_identity` collects them from a request: the names, the data source, the split,
``--limit``, ``--seed``, the dtype, the max length, the pooling, the bootstrap size,
``--trust-remote-code`` and every ``--set`` value, minus the options their owning plugin
declares as not affecting results (`harness.options`). The result's config hash covers it
(with what the strategy and dataset resolve), the embedding cache and trained artifacts are
keyed by it, and `label` turns what differs from the defaults into the short folder label
``<strategy>@<label>`` that keeps two such runs apart in the store.

>>> label({"seed": 1, "settings": {"encoder": {"dim": 8}}})
'dim=8,seed=1'
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from harness.options import Option, identity_settings

DEFAULTS: dict[str, Any] = {
    "limit": None,
    "seed": 0,
    "max_length": None,
    "pooling": None,
    "n_resamples": 1000,
    "trust_remote_code": False,
}
"""Run options that are part of the identity, with the values a plain run has."""

SHOWN_AS = {"n_resamples": "bootstrap", "data_dir": "data"}


def data_source(data_dir: Path | None) -> str | None:
    """The --data-dir as identity and label see it: its name and a hash of its full path."""
    if data_dir is None:
        return None
    full = str(Path(data_dir).expanduser().resolve())
    return f"{Path(full).name or 'root'}-{hashlib.sha256(full.encode()).hexdigest()[:6]}"


def run_identity(
    request: Any, owners: Mapping[str, Sequence[Option]], default_dtype: str
) -> dict[str, Any]:
    """Everything in `request` that can change a result, beyond the names in its path."""
    identity: dict[str, Any] = {
        name: getattr(request, name)
        for name, default in DEFAULTS.items()
        if getattr(request, name) != default
    }
    if request.dtype != default_dtype:
        identity["dtype"] = request.dtype
    if request.data_dir is not None:
        identity["data_dir"] = data_source(request.data_dir)
    settings = identity_settings(request.settings, owners)
    if settings:
        identity["settings"] = settings
    return identity


def show(value: Any) -> str:
    """A value as a label shows it: ``8``, ``bf16``, ``query,value``."""
    if isinstance(value, str):
        return value
    if isinstance(value, list | tuple):
        return ",".join(show(v) for v in value)
    return json.dumps(value)


def label_pairs(identity: Mapping[str, Any]) -> dict[str, Any]:
    """The ``key: value`` pairs of `label`. A setting is named alone unless two sections
    share its name (``encoder.dim``)."""
    pairs = {SHOWN_AS.get(k, k): v for k, v in identity.items() if k != "settings"}
    settings = identity.get("settings") or {}
    names = [name for values in settings.values() for name in values]
    for section, values in settings.items():
        for name, value in values.items():
            pairs[name if names.count(name) == 1 and name not in pairs else f"{section}.{name}"] = (
                value
            )
    return pairs


def join_pairs(pairs: Mapping[str, Any]) -> str:
    """``key=value`` pairs in a stable order (a flag that is on shows its name alone)."""
    return ",".join(
        key if value is True else f"{key}={show(value)}" for key, value in sorted(pairs.items())
    )


def label(identity: Mapping[str, Any]) -> str:
    """What tells a run from a plain one, as ``key=value`` pairs in a stable order."""
    return join_pairs(label_pairs(identity))


def distinguishing(identities: Sequence[Mapping[str, Any]]) -> list[str]:
    """For runs shown side by side: each one's label without the pairs that every one of them
    has alike (a leaderboard whose runs all used ``--limit 100`` says so once, in its header;
    a row says only what tells it from the others). A pair some runs lack (they kept the
    default) tells them apart.

    >>> distinguishing([{"limit": 100, "seed": 1}, {"limit": 100}])
    ['seed=1', '']
    """
    pairs = [label_pairs(identity) for identity in identities]
    keys = set().union(*pairs) if pairs else set()
    alike = {
        k for k in keys if all(k in p for p in pairs) and len({show(p[k]) for p in pairs}) == 1
    }
    return [join_pairs({k: v for k, v in p.items() if k not in alike}) for p in pairs]


def replicate_key(identity: Mapping[str, Any], names: Mapping[str, Any]) -> str:
    """Equal for runs that differ only in the seed: the replicates of one experiment."""
    rest = {k: v for k, v in identity.items() if k != "seed"}
    canonical = json.dumps({**names, **rest}, sort_keys=True, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]
