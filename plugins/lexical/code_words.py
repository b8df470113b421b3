"""Code-aware words for lexical retrieval: identifiers split into their parts, and kept whole.

A text is cut into runs of letters, digits and underscores (anything else separates:
spaces, punctuation, operators, so ``os.path.join`` is three runs). Each run gives

- its parts: split at underscores, at a lower-case letter followed by an upper-case one
  (``getUser`` -> get, user), at the end of a capital run before a capitalised word
  (``HTTPServer`` -> http, server) and between letters and digits (``utf8`` -> utf, 8;
  ``base64Encode`` -> base, 64, encode), in order;
- the whole run, after its parts, when it has more than one part (``read_file`` ->
  read, file, read_file), so an exact identifier match counts beside its words.

Everything is lower-cased. Numbers are kept as words (a digit run is a part). English
stop words (bm25s's list: Lucene's classic 33) are dropped, and the parts are stemmed
with a Snowball stemmer (PyStemmer), as MTEB's and CoIR's BM25 baseline does; the whole
identifier is kept unstemmed, so it only matches itself. Queries and candidates go
through the same function. With ``split_identifiers=False`` a run is one word (stemmed),
as a plain word tokeniser sees it: the baseline the splitting is measured against.

>>> CodeWords(stopwords="none", stemmer="none")("getHTTPResponse(utf8_name)")
['get', 'http', 'response', 'gethttpresponse', 'utf', '8', 'name', 'utf8_name']
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from harness.errors import HarnessError

_RUN = re.compile(r"\w+")


def identifier_parts(run: str) -> list[str]:
    """The parts of one identifier-like run, in order, as typed (not lower-cased).

    >>> identifier_parts("parseXMLFile2D")
    ['parse', 'XML', 'File', '2', 'D']
    """
    parts: list[str] = []
    for piece in run.split("_"):
        start = 0
        for i in range(1, len(piece)):
            if _boundary(piece[i - 1], piece[i], piece[i + 1] if i + 1 < len(piece) else ""):
                parts.append(piece[start:i])
                start = i
        if piece:
            parts.append(piece[start:])
    return parts


def _boundary(before: str, char: str, after: str) -> bool:
    """A part starts at `char` (between `before` and `after`)."""
    if before.isdigit() != char.isdigit():
        return True
    if before.islower() and char.isupper():
        return True
    # the last capital of a run of capitals starts the next word: HTTPServer -> HTTP|Server
    return before.isupper() and char.isupper() and after.islower()


def _stop_words(name: str) -> frozenset[str]:
    if name == "none":
        return frozenset()
    if name == "en":
        from bm25s.stopwords import STOPWORDS_EN

        return frozenset(STOPWORDS_EN)
    raise HarnessError(f"--set encoder.stopwords={name!r}: expected 'en' or 'none'")


def _stemmer(name: str) -> Callable[[list[str]], list[str]] | None:
    if name == "none":
        return None
    import Stemmer

    if name not in Stemmer.algorithms():
        known = ", ".join(["none", *Stemmer.algorithms()])
        raise HarnessError(f"--set encoder.stemmer={name!r}: not a Snowball stemmer ({known})")
    stem: Callable[[list[str]], list[str]] = Stemmer.Stemmer(name).stemWords
    return stem


@dataclass
class CodeWords:
    """The tokeniser: ``CodeWords()(text) -> words``; `stopwords` "en" or "none",
    `stemmer` a Snowball language ("english") or "none"."""

    stopwords: str = "en"
    stemmer: str = "english"
    split_identifiers: bool = True
    _stop: frozenset[str] = field(init=False, repr=False)
    _stem: Callable[[list[str]], list[str]] | None = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._stop = _stop_words(self.stopwords)
        self._stem = _stemmer(self.stemmer)

    def __call__(self, text: str) -> list[str]:
        words: list[str] = []
        for match in _RUN.finditer(text):
            run = match.group()
            split = identifier_parts(run) if self.split_identifiers else [run]
            parts = [p for p in (part.lower() for part in split) if p not in self._stop]
            if self._stem is not None:
                parts = self._stem(parts)
            words.extend(parts)
            whole = run.lower()
            if len(split) > 1 and whole not in self._stop:
                words.append(whole)
        return words

    def many(self, texts: Sequence[str]) -> list[list[str]]:
        return [self(text) for text in texts]
