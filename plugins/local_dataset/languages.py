"""The languages the miners know, found by file suffix, and the miner of each.

=========== ============================================= ===========================
language    suffixes                                      miner
=========== ============================================= ===========================
python      ``.py``                                       ``python_miner`` (``ast``)
c, cpp      ``.c`` / ``.cc .cpp .cxx .hpp .hh .hxx``;     ``c_miner`` (tree-sitter)
            ``.h`` is C or C++ by its content
go          ``.go``                                       ``ts_miner`` (tree-sitter)
java        ``.java``                                     ``ts_miner``
javascript  ``.js .mjs .cjs .jsx`` (not ``.min.js``)      ``ts_miner``
ruby        ``.rb``                                       ``ts_miner``
php         ``.php``                                      ``ts_miner``
csharp      ``.cs``                                       ``ts_miner``
=========== ============================================= ===========================

Test code is never mined: besides the folders ``sources.SKIPPED_DIRS`` names,
files named like tests in their language (``test_*.py``, ``*_test.go``,
``*Test.java``, ``*.spec.js``, ``*_spec.rb``, ...).

>>> candidate_languages("pkg/util.go"), candidate_languages("include/x.h")
(('go',), ('c', 'cpp'))
>>> is_test_file("server_test.go"), is_test_file("Server.java")
(True, False)
"""

from __future__ import annotations

import re

from harness.plugins.local_dataset.pairs import MIN_QUERY_WORDS, Origin, Pair

ALL_LANGUAGES = ("python", "go", "java", "javascript", "ruby", "php", "c", "cpp", "csharp")
# What `local` mines from the machine by default: the languages whose sources
# every Python installation carries (its stdlib, packages and headers).
DEFAULT_LANGUAGES = ("python", "c", "cpp")

_BY_SUFFIX: dict[str, tuple[str, ...]] = {
    ".py": ("python",),
    ".go": ("go",),
    ".java": ("java",),
    ".js": ("javascript",),
    ".mjs": ("javascript",),
    ".cjs": ("javascript",),
    ".jsx": ("javascript",),
    ".rb": ("ruby",),
    ".php": ("php",),
    ".cs": ("csharp",),
    ".c": ("c",),
    ".h": ("c", "cpp"),
    **{suffix: ("cpp",) for suffix in (".cc", ".cpp", ".cxx", ".hpp", ".hh", ".hxx")},
}
_TEST_FILE = re.compile(
    r"^(?:test_.*\.py|.*_test\.py|conftest\.py|.*_test\.go|.*Tests?\.java"
    r"|.*\.(?:test|spec)\.[cm]?jsx?|.*_(?:spec|test)\.rb|.*Test\.php|.*Tests?\.cs)$"
)


def candidate_languages(path: str) -> tuple[str, ...]:
    """The languages a file may be in, by its suffix alone; () when none is mined."""
    name = path.rsplit("/", 1)[-1].lower()
    if name.endswith(".min.js"):
        return ()
    dot = name.rfind(".")
    return _BY_SUFFIX.get(name[dot:], ()) if dot > 0 else ()


def is_test_file(name: str) -> bool:
    """True for a file named like a test in its language (the name, without folders)."""
    return _TEST_FILE.match(name) is not None


def language_of(path: str, source: bytes) -> str | None:
    """The language of one file: by suffix, and for a ``.h`` header by its content."""
    candidates = candidate_languages(path)
    if len(candidates) <= 1:
        return candidates[0] if candidates else None
    from harness.plugins.local_dataset.c_miner import language_of as c_language

    return c_language(path, source)


def check_languages(languages: list[str] | tuple[str, ...], what: str) -> tuple[str, ...]:
    """`languages` as a tuple in the canonical order; an unknown one raises HarnessError."""
    from harness.errors import HarnessError

    unknown = [language for language in languages if language not in ALL_LANGUAGES]
    if unknown:
        raise HarnessError(
            f"{what}: unknown language {unknown[0]!r} (known: {', '.join(ALL_LANGUAGES)})"
        )
    if not languages:
        raise HarnessError(f"{what}: no languages given")
    return tuple(language for language in ALL_LANGUAGES if language in languages)


def pairs_of(
    language: str,
    source: bytes,
    *,
    repo: str,
    path: str,
    min_query_words: int = MIN_QUERY_WORDS,
) -> list[Pair]:
    """Every pair of one file in `language`, in source order (miners import lazily)."""
    if language == "python":
        from harness.plugins.local_dataset.python_miner import python_pairs

        return python_pairs(source, repo=repo, path=path, min_query_words=min_query_words)
    if language in ("c", "cpp"):
        from harness.plugins.local_dataset.c_miner import c_pairs

        return c_pairs(
            source, repo=repo, path=path, language=language, min_query_words=min_query_words
        )
    from harness.plugins.local_dataset.ts_miner import tree_sitter_pairs

    return tree_sitter_pairs(source, Origin(repo, path, language, min_query_words))
