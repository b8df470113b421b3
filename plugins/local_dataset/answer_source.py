"""Where the answer to an assertion can be found: each mined example's ``answer_source``.

A small model and a big one gain on different assertions: ``assert x == True``
needs no repository, ``self.assertEqual(settings.theme(), 'glacier')`` does.
Which class an example is in tells a repository-specific adapter from a better
generic model, so every mined example is classed, once, when it is mined.

The rule, exactly:

1. The target's *atoms* are its identifiers, string literals and number
   literals, from Python's tokenizer. Keywords (``True``, ``None``, ``not``)
   and the names of builtins (``len``, ``int``, ``ValueError``) are no atoms:
   they need nothing from any file.
2. An atom *occurs in* a text when, for an identifier or a number, the same
   token text stands in it as a whole word (``\\b``-delimited; an identifier
   inside a string or a comment counts too), and for a string, when the
   literal's value occurs in it verbatim inside quotes of either kind
   (``'glacier'`` matches ``"glacier"``); the empty string matches ``''`` or
   ``""``.
3. The class:

   - ``file``: every atom occurs in the test file before the target (the
     whole text before it, not only the part a prompt keeps);
   - ``repo``: every atom occurs there or in the repository's non-test
     Python source (``.py`` files outside test paths, in the folders the
     miner walks, each up to its ``max_file_bytes``), and at least one only
     in the latter;
   - ``none``: the target has no atom, or some atom occurs in neither.

A dataset that ships no source (RepoPeftBench) leaves the class unknown
(``None``): harness never guesses it.
"""

from __future__ import annotations

import builtins
import io
import keyword
import re
import tokenize
from ast import literal_eval
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from harness.plugins.local_dataset.assertions import is_test_path
from harness.tree import read_regular, regular_files

ANSWER_SOURCES = ("file", "repo", "none")
"""The classes, from what the prompt shows to what no file gives."""
NO_ATOM = frozenset(dir(builtins)) | frozenset(keyword.kwlist) | frozenset(keyword.softkwlist)


@dataclass(frozen=True)
class Atoms:
    """A target's atoms: identifiers and number literals as written, string values."""

    words: frozenset[str] = frozenset()
    strings: frozenset[str] = frozenset()

    def __bool__(self) -> bool:
        return bool(self.words or self.strings)


def atoms(code: str) -> Atoms:
    """The atoms of `code` (rule 1); tokens after a tokenizer error are not read.

    >>> a = atoms("settings.theme(1.5) + 'glacier'")
    >>> sorted(a.words), sorted(a.strings)
    (['1.5', 'settings', 'theme'], ['glacier'])
    >>> atoms("len(x) == True").words
    frozenset({'x'})
    """
    words: set[str] = set()
    strings: set[str] = set()
    try:
        for token in tokenize.generate_tokens(io.StringIO(code).readline):
            named = token.type == tokenize.NAME and token.string not in NO_ATOM
            if named or token.type == tokenize.NUMBER:
                words.add(token.string)
            elif token.type == tokenize.STRING:
                value = _string_value(token.string)
                if value is not None:
                    strings.add(value)
    except (tokenize.TokenError, IndentationError, SyntaxError):
        pass
    return Atoms(frozenset(words), frozenset(strings))


def _string_value(literal: str) -> str | None:
    """The text of a string literal (bytes decoded as Latin-1); None for an f-string."""
    if re.match(r"(?i)[rbu]*f", literal):
        return None
    try:
        value = literal_eval(literal)
    except (ValueError, SyntaxError):
        return None
    return value.decode("latin-1") if isinstance(value, bytes) else str(value)


@dataclass
class Text:
    """A text searched for atoms (rule 2), with the words found in it computed once."""

    text: str
    _words: frozenset[str] | None = field(default=None, repr=False)

    @property
    def words(self) -> frozenset[str]:
        if self._words is None:
            self._words = frozenset(re.findall(r"\w+", self.text))
        return self._words

    def has_word(self, word: str) -> bool:
        if re.fullmatch(r"\w+", word):
            return word in self.words
        # a number such as 1.5 or 1e-3: the same characters, not inside a longer token
        return re.search(rf"(?<![\w.]){re.escape(word)}(?![\w.])", self.text) is not None

    def has_string(self, value: str) -> bool:
        return f"'{value}'" in self.text or f'"{value}"' in self.text


def classify(target: Atoms, before: Text, source: Text) -> str:
    """The class of rule 3, given the text before the target and the non-test source."""
    if not target:
        return "none"
    found: list[tuple[Callable[[Text, str], bool], str]] = [
        *((Text.has_word, word) for word in target.words),
        *((Text.has_string, value) for value in target.strings),
    ]
    if not all(occurs(before, atom) or occurs(source, atom) for occurs, atom in found):
        return "none"
    return "file" if all(occurs(before, atom) for occurs, atom in found) else "repo"


def non_test_source(root: Path, max_file_bytes: int, keep_dir: Callable[[str], bool]) -> Text:
    """The repository's non-test Python source (rule 3), one text, from the folders
    `keep_dir` keeps (those the miner walks for test files); unreadable files skipped."""
    parts: list[str] = []
    for relative in regular_files(root, keep_dir=keep_dir, keep_file=_non_test_python):
        path = root / relative
        try:
            if path.stat().st_size > max_file_bytes:
                continue
            parts.append(read_regular(path).decode("utf-8"))
        except (OSError, UnicodeDecodeError):
            continue
    return Text("\n".join(parts))


def _non_test_python(relative: str) -> bool:
    return relative.endswith(".py") and not is_test_path(relative)
