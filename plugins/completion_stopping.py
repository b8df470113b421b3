"""Where a generated Python expression ends: the stop rule for assertion completion.

The model continues a prefix that ends right where an expected value begins
(``assert f(x) == `` or ``self.assertEqual(f(x), ``). `expression_end` scans
what it generated, tracking bracket depth and string literals, and returns
the index where the expression ends, or None while it is still open.

String prefixes (``b``, ``r``, ``u``, ``f`` and their pairs) need no special
case: they are letters before the quote, and a backslash skips the next
character in raw strings too (``r'\\''`` is one string). An f-string is
scanned like a plain string, as Python before 3.12 reads it: a replacement
field may not reuse the string's own quote (PEP 701's nesting is not
followed). An unescaped newline in a one-quote string ends the string (it
is a syntax error; the scan recovers instead of waiting for a quote).

`expression_stop(prefix)` is the rule for one prefix: after
``self.assertEqual(x, `` the value sits inside the call's parentheses, where
a line break ends nothing. Checked on the 20,856 assertions task ``rc``
mines here: on each file's true continuation it ends exactly at the target
every time; plain `expression_end` cut 28 multi-line targets (implicitly
concatenated strings inside ``assertEqual(...)``) at their first line break.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable

_DEF_LINE = re.compile(r"^[ \t]*(?:async[ \t]+)?def[ \t]", re.MULTILINE)
_OPENERS = "([{"
_CLOSERS = ")]}"
_NEWLINES = "\r\n"


def expression_end(text: str, *, inside_brackets: bool = False) -> int | None:
    """Index where the expression at the start of `text` ends, or None if it is still open.

    It ends at the first top-level (bracket depth 0, outside strings and
    comments) newline, ``,``, ``;`` or ``#``, or at a closing bracket that
    has no opener (the ``)`` of ``assertEqual(a, b)``). A backslash before a
    newline continues the line. With `inside_brackets` (the prefix left a
    bracket open: ``self.assertEqual(x,``), newlines and comments are inside
    that bracket and end nothing. The caller strips whitespace.

    >>> text = "[1, 2]\\nassert x"
    >>> text[: expression_end(text)]
    '[1, 2]'
    >>> expression_end("3)"), expression_end("'a', 'msg')"), expression_end("(1,\\n")
    (1, 3, None)
    """
    depth = 0
    i, n = 0, len(text)
    while i < n:
        char = text[i]
        if char in "'\"":
            closed = _string_end(text, i)
            if closed is None:
                return None
            i = closed
            continue
        if char == "\\":
            if i + 1 >= n:
                return None  # a line continuation may follow
            i += 3 if text.startswith("\r\n", i + 1) else 2  # the escaped newline is no end
            continue
        if char in _OPENERS:
            depth += 1
        elif char in _CLOSERS:
            if depth == 0:
                return i
            depth -= 1
        elif char == "#":
            if depth == 0 and not inside_brackets:
                return i
            newline = _next_newline(text, i)
            if newline is None:
                return None
            i = newline  # the newline itself is inside brackets: not an end
            continue
        elif depth == 0 and (char in ",;" or (char in _NEWLINES and not inside_brackets)):
            return i
        i += 1
    return None


def open_brackets(prefix: str) -> int:
    """How many brackets the end of `prefix` leaves open (0 after ``assert x == ``, 1 after
    ``self.assertEqual(x, ``), scanned from the last ``def`` line so that a prefix cut
    anywhere on its left is read from a known state.

    >>> open_brackets("def test():\\n    assert f('(') == ")
    0
    >>> open_brackets("def test(self):\\n    self.assertEqual(\\n        f(x), ")
    1
    """
    starts = [match.start() for match in _DEF_LINE.finditer(prefix)]
    i, n, depth = (starts[-1] if starts else 0), len(prefix), 0
    while i < n:
        char = prefix[i]
        if char in "'\"":
            closed = _string_end(prefix, i)
            if closed is None:
                return 0  # the prefix ends inside a string: not an expression start
            i = closed
            continue
        if char == "#":
            i = _next_newline(prefix, i) or n
            continue
        if char in _OPENERS:
            depth += 1
        elif char in _CLOSERS:
            depth = max(0, depth - 1)
        i += 2 if char == "\\" else 1
    return depth


def expression_stop(prefix: str) -> Callable[[str], int | None]:
    """The stop rule for completing `prefix`: `expression_end`, told whether the prefix
    left a bracket open (then only ``,`` or the closing bracket ends the value)."""
    if open_brackets(prefix) > 0:
        return functools.partial(expression_end, inside_brackets=True)
    return expression_end


def _string_end(text: str, start: int) -> int | None:
    """Index just after the string literal whose opening quote is at `start`, or None."""
    quote = text[start]
    triple = text.startswith(quote * 3, start)
    delimiter = quote * 3 if triple else quote
    i, n = start + len(delimiter), len(text)
    while i < n:
        char = text[i]
        if char == "\\":
            i += 2
            continue
        if text.startswith(delimiter, i):
            return i + len(delimiter)
        if not triple and char in _NEWLINES:
            return i  # unterminated one-line string: it ends here, the newline is scanned next
        i += 1
    return None


def _next_newline(text: str, start: int) -> int | None:
    found = [index for index in (text.find("\n", start), text.find("\r", start)) if index >= 0]
    return min(found) if found else None
