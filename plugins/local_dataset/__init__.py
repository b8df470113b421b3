"""The ``local`` dataset and the ``harness data mine`` command.

Text-to-code pairs mined from source: by default Python functions with
docstrings from the standard library and the installed packages, and C/C++
functions with doc comments from the headers they ship (and
``/usr/include``); from a tree the user names (``--data-dir``), every
language the miners know (``languages``: Python, Go, Java, JavaScript, Ruby,
PHP, C, C++, C#). See ``loader`` for the cache, ``settings`` for the options,
``python_miner``, ``c_miner`` and ``ts_miner`` for what becomes a pair,
``splits`` for the split by file, ``clone_proxy`` for the ``c2c`` proxy, and
``mine_command`` for ``harness data mine``.

Task ``rc``: assertion-completion examples from the test files of git
repositories or source trees, by default of the standard library and every
installed package that ships its tests (``completion_loader``; ``harness
data mine-rc``).

Registering imports nothing heavy: the loader is a lazy ``module:attr``
target, and the commands (``data mine`` and ``data mine-rc``, added to the core's
``harness data`` group through the registration key ``data_commands``) import their
implementation when they run.
"""

from __future__ import annotations

from typing import Any

from harness.hookspecs import hookimpl

# The default partitions (what `harness run --task t2c` mines from this machine).
LANGUAGES = ("python", "c", "cpp")


@hookimpl
def harness_register_datasets(register: Any) -> None:
    register(
        "local",
        "harness.plugins.local_dataset.loader:load_local",
        "pairs mined from the Python stdlib, installed packages and C/C++ headers on this "
        "machine, or from --data-dir (t2c; c2c: a clone-retrieval proxy; rc: test assertions)",
        options="harness.plugins.local_dataset.settings:DECLARED",
        tasks=["t2c", "c2c", "rc"],
        languages=list(LANGUAGES),
        data_commands="harness.plugins.local_dataset.mine_command:add_data_commands",
    )
