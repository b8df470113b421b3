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
"""

from __future__ import annotations

_OPENERS = "([{"
_CLOSERS = ")]}"
_NEWLINES = "\r\n"


def expression_end(text: str) -> int | None:
    """Index where the expression at the start of `text` ends, or None if it is still open.

    It ends at the first top-level (bracket depth 0, outside strings and
    comments) newline, ``,``, ``;`` or ``#``, or at a closing bracket that
    has no opener (the ``)`` of ``assertEqual(a, b)``). A backslash before a
    newline continues the line. The caller strips whitespace.

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
            if depth == 0:
                return i
            newline = _next_newline(text, i)
            if newline is None:
                return None
            i = newline  # the newline itself is inside brackets: not an end
            continue
        elif depth == 0 and (char in _NEWLINES or char in ",;"):
            return i
        i += 1
    return None


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
