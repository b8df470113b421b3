"""Mining throughput: batches kept in flight on the worker processes against one at a time.

The local dataset's miner (``plugins/local_dataset/mining.py``) on this machine's own
sources (the standard library, the installed packages, the C headers: what the first
command mines), two worker processes, the first command's quotas, rounds interleaved
(benchmarks/sidebyside.py). The peer is the same miner with ``BATCHES_AHEAD = 0``: each
batch is submitted only after the previous one was kept, so a core that finishes its
share of a batch waits for the other. Both must keep the same pairs.

    python -m pytest benchmarks/test_bench_mining.py -o addopts="" --benchmark-only -s
"""

from __future__ import annotations

import pytest
from sidebyside import report, side_by_side, smoke

ROUNDS = 3


def test_batches_in_flight_against_one_at_a_time(benchmark, monkeypatch):
    from pathlib import Path

    from harness.data import DatasetOptions
    from harness.plugins.local_dataset import mining
    from harness.plugins.local_dataset.settings import settings_from
    from harness.plugins.local_dataset.sources import default_sources

    sources = default_sources()
    # the first command's settings, as its loader reads them (two workers, whatever the cores)
    caps = {"max_test": 20, "max_valid": 20, "max_train": 20} if smoke(benchmark) else {}
    chosen = settings_from(DatasetOptions(task="t2c", cache_dir=Path("."),
                                          extra={"workers": 2, **caps}))  # fmt: skip
    settings = chosen.mining_args()
    found: dict[int, list] = {}

    def mined(ahead: int) -> None:
        monkeypatch.setattr(mining, "BATCHES_AHEAD", ahead)
        found[ahead] = mining.mine(sources, **settings)[0]

    record = side_by_side(benchmark, lambda: mined(0), lambda: mined(1),
                          rounds=1 if smoke(benchmark) else ROUNDS)  # fmt: skip
    assert found[0] == found[1] and found[1]
    figures = report(benchmark, "mining", record,
                     peer="the same miner, one batch at a time (BATCHES_AHEAD = 0)",
                     workers=2, pairs=len(found[1]), quota=chosen.quota)  # fmt: skip
    if not smoke(benchmark):
        assert figures["ratio_median"] >= 1.0


if __name__ == "__main__":
    pytest.main([__file__, "-o", "addopts=", "--benchmark-only", "-s"])
