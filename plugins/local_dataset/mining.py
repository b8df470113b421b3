"""Bounded, deterministic mining of many files, on one or more processes.

Files are read in a seeded order (``splits.mining_order``). A file's pairs
are kept only while its language is still *open* for the file's split: fewer
distinct codes there than the quota plus 10% headroom for deduplication, and
fewer than ``max_files`` files of that language read so far. Both only ever
close, so mining stops early on a large machine, and the result is the one of
reading the files one by one whatever the number of worker processes: a
batch is mined in parallel against the open languages at its start, then
kept or dropped file by file in order.

Distinct pairs are counted as ``splits.dedupe`` will keep them (new code and,
in the language, a new query), though in mining order rather than path order;
the headroom absorbs the difference.

Only files of the requested languages are listed (``languages``, by
suffix). A ``.h`` file is C or C++ by its content (``c_miner.language_of``); a
worker reads it, and parses it only when that language is open.
"""

from __future__ import annotations

import math
import os
import sys
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from dataclasses import dataclass, field
from multiprocessing import get_context

from harness.plugins.local_dataset.languages import (
    ALL_LANGUAGES,
    candidate_languages,
    language_of,
    pairs_of,
)
from harness.plugins.local_dataset.pairs import MIN_QUERY_WORDS, Pair
from harness.plugins.local_dataset.sources import Source
from harness.plugins.local_dataset.splits import code_key, mining_order, query_key, split_of
from harness.progress import progress_bar
from harness.tree import read_regular

HEADROOM = 1.1
FILES_PER_WORKER_BATCH = 64
MIN_FILES_FOR_WORKERS = 256  # below this, starting processes costs more than it saves
MAX_AUTO_WORKERS = 8  # mining stops once the quotas fill: more processes mostly start up
BATCHES_AHEAD = 1  # batches submitted to worker processes before the current one is kept


def worker_count(workers: int) -> int:
    """The mining processes `workers` asks for: itself, or for 0 (the default) one per
    core this process may use, at most `MAX_AUTO_WORKERS`."""
    from harness.hardware import allowed_cores

    return workers if workers > 0 else min(allowed_cores(), MAX_AUTO_WORKERS)


@dataclass(frozen=True)
class FileTask:
    """One file to read: where it is, the ids its pairs get, and its split."""

    root: str
    repo: str
    path: str
    split: str
    max_bytes: int
    min_query_words: int = MIN_QUERY_WORDS

    @property
    def languages(self) -> tuple[str, ...]:
        """The languages the file may turn out to be in."""
        return candidate_languages(self.path)


@dataclass
class MiningReport:
    """What mining read and found (counts are deterministic, seconds are not)."""

    files_listed: int = 0
    files_read: Counter[str] = field(default_factory=Counter)
    pairs_found: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0

    def as_dict(self) -> dict[str, object]:
        return {
            "files_listed": self.files_listed,
            "files_read": dict(sorted(self.files_read.items())),
            "pairs_found": dict(sorted(self.pairs_found.items())),
        }


def mine_file(job: tuple[FileTask, frozenset[str]]) -> tuple[str | None, list[Pair]]:
    """The language of one file and its pairs, parsed only if that language is open.

    (None, []) for a file that is too big or unreadable; a file that does not
    parse gives its language and no pairs.
    """
    task, open_languages = job
    path = os.path.join(task.root, task.path)
    try:
        if os.path.getsize(path) > task.max_bytes:
            return None, []
        source = read_regular(path)  # a FIFO would block the miner forever
        language = language_of(task.path, source)
        if language is None or language not in open_languages:
            return language, []
        found = pairs_of(
            language,
            source,
            repo=task.repo,
            path=task.path,
            min_query_words=task.min_query_words,
        )
        return language, found
    except (OSError, ValueError, RecursionError):
        return None, []


def mine(
    sources: list[Source],
    *,
    seed: int,
    quota: Mapping[str, int],
    valid_fraction: float,
    test_fraction: float,
    max_files: int,
    max_file_bytes: int,
    workers: int = 0,
    languages: Iterable[str] = ALL_LANGUAGES,
    min_query_words: int = MIN_QUERY_WORDS,
) -> tuple[list[Pair], MiningReport]:
    """Pairs of the files of `sources`, read until each (language, split) has its quota.

    `quota` maps a split to the number of distinct pairs wanted per language;
    only files that may be in one of `languages` are read; `workers` processes
    read them (`worker_count`: 0 is one per core).
    """
    started = time.perf_counter()
    wanted = frozenset(languages)
    tasks = _tasks(sources, seed, valid_fraction, test_fraction, max_file_bytes, min_query_words)
    tasks = [task for task in tasks if wanted.intersection(task.languages)]
    report = MiningReport(files_listed=len(tasks))
    target = {split: math.ceil(n * HEADROOM) for split, n in quota.items()}
    distinct: Counter[tuple[str, str]] = Counter()
    seen_code: set[str] = set()
    seen_query: set[tuple[str, str]] = set()
    pairs: list[Pair] = []

    def is_open(language: str, split: str) -> bool:
        full = distinct[(language, split)] >= target.get(split, 0)
        return report.files_read[language] < max_files and not full

    def open_for(task: FileTask) -> frozenset[str]:
        return frozenset(
            lang for lang in task.languages if lang in wanted and is_open(lang, task.split)
        )

    present = {language for task in tasks for language in task.languages} & wanted
    workers = worker_count(workers) if len(tasks) >= MIN_FILES_FOR_WORKERS else 1
    batch_size = FILES_PER_WORKER_BATCH * workers
    batches = [tasks[first : first + batch_size] for first in range(0, len(tasks), batch_size)]
    # with worker processes, the next batch is submitted before this one's files are kept,
    # so no core waits at a batch's end; it was given the languages open before this batch
    # (a superset: languages only close), and its files are still kept or dropped in order
    ahead = BATCHES_AHEAD if workers > 1 else 0
    in_flight: deque[tuple[list[FileTask], list[Job], Callable[[], list]]] = deque()

    def submit(index: int) -> None:
        if index < len(batches):
            jobs = [(task, open_for(task)) for task in batches[index]]
            jobs = [job for job in jobs if job[1]]
            in_flight.append((batches[index], jobs, start(mine_file, jobs)))

    with _executor(workers) as start, progress_bar("mining local pairs", len(tasks)) as advance:
        for index in range(ahead + 1):
            submit(index)
        for index in range(len(batches)):
            considered, jobs, collect = in_flight.popleft()
            for (task, _), (language, found) in zip(jobs, collect(), strict=True):
                if language is None or not is_open(language, task.split):
                    continue  # unreadable, or an earlier file closed it
                report.files_read[language] += 1
                report.pairs_found[language] += len(found)
                for pair in found:
                    code, query = code_key(pair.code), query_key(pair)
                    if code not in seen_code and query not in seen_query:
                        distinct[(language, task.split)] += 1
                    seen_code.add(code)
                    seen_query.add(query)
                pairs += found
            advance(len(considered), pairs=len(pairs))
            if not any(is_open(lang, split) for lang in present for split in target):
                break
            submit(index + ahead + 1)
    report.seconds = time.perf_counter() - started
    return pairs, report


def _tasks(
    sources: list[Source],
    seed: int,
    valid_fraction: float,
    test_fraction: float,
    max_file_bytes: int,
    min_query_words: int,
) -> list[FileTask]:
    by_key: dict[str, FileTask] = {}
    for source in sources:
        for path in source.files:
            key = f"{source.repo}/{path}"
            split = split_of(key, seed, valid_fraction=valid_fraction, test_fraction=test_fraction)
            root, repo = str(source.root), source.repo
            task = FileTask(root, repo, path, split, max_file_bytes, min_query_words)
            by_key.setdefault(key, task)
    return [by_key[key] for key in mining_order(by_key, seed)]


Job = tuple[FileTask, frozenset[str]]
Start = Callable[[Callable[..., object], list], Callable[[], list]]


@contextmanager
def _executor(workers: int) -> Iterator[Start]:
    """``start(fn, items)`` begins ``map(fn, items)`` and returns what collects its results:
    in this process for one worker (computed when collected), else on a pool of spawned
    processes (computed from now on, so several batches can be in flight).

    Spawned, not forked: the caller may already run torch's threads. A pool
    that breaks (e.g. the calling script lacks an ``if __name__ ==
    "__main__":`` guard) is given up and its batches mined here instead.
    """
    if workers <= 1:
        yield lambda fn, items: lambda: list(map(fn, items))
        return
    pool: ProcessPoolExecutor | None = ProcessPoolExecutor(
        max_workers=workers, mp_context=get_context("spawn")
    )

    def give_up() -> None:
        nonlocal pool
        if pool is not None:
            print("warning: mining processes failed; mining in this process", file=sys.stderr)
            pool.shutdown(wait=False, cancel_futures=True)
            pool = None

    def start(fn: Callable[..., object], items: list) -> Callable[[], list]:
        results: Iterator[object] | None = None
        if pool is not None:
            try:
                results = pool.map(fn, items, chunksize=8)
            except BrokenProcessPool:
                give_up()

        def collect() -> list:
            if results is not None:
                try:
                    return list(results)
                except BrokenProcessPool:
                    give_up()
            return list(map(fn, items))

        return collect

    try:
        yield start
    finally:
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
