"""The ``local`` dataset: text-to-code pairs mined from source on this machine.

Python functions with docstrings from the standard library and the installed
packages, and C/C++ functions with doc comments from the headers they ship
(and ``/usr/include``), or from a tree the user names (``--data-dir``). See
``loader`` for the options and the cache, ``python_miner`` and ``c_miner``
for what becomes a pair, ``splits`` for the split by file.

Registering imports nothing heavy: the loader is a lazy ``module:attr`` target.
"""

from __future__ import annotations

from typing import Any

from harness.hookspecs import hookimpl

LANGUAGES = ("python", "c", "cpp")


@hookimpl
def harness_register_datasets(register: Any) -> None:
    register(
        "local",
        "harness.plugins.local_dataset.loader:load_local",
        "text-to-code pairs mined from the Python stdlib, installed packages and C/C++ headers "
        "on this machine",
        tasks=["t2c"],
        languages=list(LANGUAGES),
    )
