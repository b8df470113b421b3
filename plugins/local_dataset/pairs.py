"""A mined text-to-code pair and the text rules every miner shares.

The query of a pair is the first paragraph of its docstring or doc comment
(the text up to the first blank line), whitespace-normalised; a query needs at
least ``MIN_QUERY_WORDS`` words that contain a letter, and must not start with
a call signature followed by ``->`` (``aten::abs(Tensor self) -> Tensor``,
``master_open() -> (fd, name)``): that restates the code instead of
describing it.

>>> first_paragraph("Return the sum.\\n\\nArgs:\\n  x: a number")
'Return the sum.'
>>> is_query("Return the sum.")
True
>>> is_query("Sum values")
False
>>> is_query("aten::abs(Tensor self) -> Tensor")
False
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MIN_QUERY_WORDS = 3

_BLANK_LINE = re.compile(r"\n[ \t]*\n")
_SIGNATURE = re.compile(r"^[A-Za-z_][\w:.]*\(.*\)\s*->")
_TOKEN = re.compile(r"\w+|[^\w\s]", re.UNICODE)


@dataclass(frozen=True)
class Pair:
    """One function with its documentation, the documentation removed from `code`.

    `path` is relative to the source root (posix separators); `line` is the
    1-based line of the function's first line of code in that file.
    """

    repo: str
    path: str
    line: int
    func_name: str
    language: str
    query: str
    code: str
    original_string: str

    @property
    def file_key(self) -> str:
        """What the split is decided on: all pairs of one file share it."""
        return f"{self.repo}/{self.path}"

    @property
    def url(self) -> str:
        """A stable unique id, e.g. ``local://stdlib/json/decoder.py#L332``."""
        return f"local://{self.repo}/{self.path}#L{self.line}"


@dataclass(frozen=True)
class Origin:
    """The file a miner reads, as its pairs record it, and the words a query needs."""

    repo: str
    path: str
    language: str
    min_query_words: int = MIN_QUERY_WORDS


def normalise_whitespace(text: str) -> str:
    """Runs of whitespace (newlines included) become one space; ends stripped."""
    return " ".join(text.split())


def first_paragraph(doc: str) -> str:
    """The doc text up to the first blank line, whitespace-normalised."""
    return normalise_whitespace(_BLANK_LINE.split(doc.strip(), maxsplit=1)[0])


def is_query(text: str, min_words: int = MIN_QUERY_WORDS) -> bool:
    """At least `min_words` words that contain a letter, and not a signature."""
    words = [w for w in text.split() if any(c.isalpha() for c in w)]
    return len(words) >= max(1, min_words) and _SIGNATURE.match(text) is None


def tokens(text: str) -> list[str]:
    """Word and punctuation tokens, for the ``*_tokens`` fields of CodeSearchNet records.

    >>> tokens("def f(x): return x+1")
    ['def', 'f', '(', 'x', ')', ':', 'return', 'x', '+', '1']
    """
    return _TOKEN.findall(text)


def dedent_lines(lines: list[str], indent: int) -> list[str]:
    """Remove `indent` leading whitespace characters from each line that has them.

    A line with less leading whitespace (the inside of a multi-line string, a
    line continuation) is kept as it is, so the code stays otherwise verbatim.
    """
    out = []
    for line in lines:
        head = line[:indent]
        out.append(line[indent:] if head.strip() == "" and len(head) == indent else line)
    return out
