"""Where a Python function's docstring is, and the function without it.

One rule for the ``local`` miner (``python_miner``: the code of a pair) and
for CodeSearchNet's ``raw`` text (``csn``: its ``code`` field keeps the
docstring): a docstring that starts below the ``def`` line and shares its
lines with nothing but a comment is removed by dropping its lines; every
other line is kept verbatim.
"""

from __future__ import annotations

import ast
import io
import tokenize
import warnings

_Function = ast.FunctionDef | ast.AsyncFunctionDef


def docstring_lines(node: _Function, lines: list[str]) -> tuple[int, int] | None:
    """The first and last line (1-based) of `node`'s docstring, when the docstring starts
    below the ``def`` line and nothing but a comment shares its lines; None otherwise."""
    doc_node = node.body[0]
    first, last = doc_node.lineno, doc_node.end_lineno or doc_node.lineno
    if not _alone_on_its_lines(doc_node, lines) or first <= node.lineno:
        return None
    return first, last


def strip_docstring(code: str) -> str:
    """One function's source without its docstring, removed as the miner removes it: the
    docstring's lines dropped, every other line kept verbatim.

    For the ``code`` field of CodeSearchNet's Python records, which holds the docstring
    (``code_tokens`` does not). Code that ``ast`` cannot parse (much of CodeSearchNet is
    Python 2) has its docstring found by ``tokenize``, which reads ``print x`` too. Code
    with no docstring, or with one that shares a line with other code, is returned as is.

    >>> print(strip_docstring("def f(x):\\n    '''Add one.\\n\\n    More.'''\\n    return x + 1"))
    def f(x):
        return x + 1
    """
    lines = code.split("\n")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            tree = ast.parse(code)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        span = _tokenized_docstring_lines(code)
    else:
        node = next((n for n in tree.body if isinstance(n, _Function)), None)
        has_doc = node is not None and ast.get_docstring(node, clean=False) is not None
        span = docstring_lines(node, lines) if node is not None and has_doc else None
    if span is None:
        return code
    first, last = span
    return "\n".join(lines[: first - 1] + lines[last:])


def _tokenized_docstring_lines(code: str) -> tuple[int, int] | None:
    """`docstring_lines` by tokens, for code ``ast`` cannot parse: the string statement
    that opens the body of the first ``def``, alone on its lines."""
    depth, seen_def, after_colon, first = 0, False, False, 0
    skipped = (tokenize.NL, tokenize.COMMENT, tokenize.INDENT)
    try:
        for token in tokenize.generate_tokens(io.StringIO(code).readline):
            kind, text = token.type, token.string
            if not seen_def:
                seen_def = kind == tokenize.NAME and text == "def"
            elif not after_colon:
                depth += (text in "([{") - (text in ")]}") if kind == tokenize.OP else 0
                after_colon = kind == tokenize.OP and text == ":" and depth == 0
            elif first == 0:  # the body's first token: a string on a line of its own
                if kind in (*skipped, tokenize.NEWLINE):
                    continue
                if kind != tokenize.STRING or token.line[: token.start[1]].strip():
                    return None
                first = token.start[0]
            elif kind == tokenize.NEWLINE:  # the statement ends: a docstring if only strings
                return first, token.start[0]
            elif kind not in (tokenize.STRING, *skipped):
                return None
    except (tokenize.TokenError, SyntaxError):
        return None
    return None


def _alone_on_its_lines(doc_node: ast.stmt, lines: list[str]) -> bool:
    """True when nothing but whitespace (or a comment) shares the docstring's lines.

    ast column offsets count UTF-8 bytes, hence the encoding.
    """
    end_lineno = doc_node.end_lineno or doc_node.lineno
    if doc_node.end_col_offset is None or end_lineno > len(lines):
        return False
    before = lines[doc_node.lineno - 1].encode()[: doc_node.col_offset]
    after = lines[end_lineno - 1].encode()[doc_node.end_col_offset :].strip()
    return before.strip() == b"" and (after == b"" or after.startswith(b"#"))
