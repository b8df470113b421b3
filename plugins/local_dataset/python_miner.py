"""Python functions and methods with docstrings, mined with ``ast``.

Rules (one pair per function or method, nested ones included):

- the function has a docstring whose first paragraph (text up to the first
  blank line, whitespace-normalised) has at least three words: that paragraph
  is the query;
- the code is the function's source from its ``def`` line (decorators are not
  included) to its last line, dedented by the ``def`` line's indentation, with
  the docstring's lines removed and every other line kept verbatim;
  ``original_string`` is the same text with the docstring kept;
- skipped: a docstring that shares a line with other code (``def f(): "doc"``),
  a body that is only the docstring, ``pass``, ``...`` or ``raise
  NotImplementedError``, code of fewer than ``MIN_CODE_LINES`` non-blank lines
  after the docstring is removed, and dunder methods other than ``__init__``
  and ``__call__`` (their docstrings are mostly boilerplate such as
  "Return repr(self).");
- files that do not parse (Python 2, templates) give no pairs.

Which files are mined at all (tests, size limits) is decided in ``sources``.
Which lines are the docstring is decided in ``datasets.python_docstrings``,
which CodeSearchNet's ``raw`` text uses too (``strip_docstring``).

>>> src = b"def area(w, h):\\n    'Area of a rectangle.'\\n    a = w * h\\n    return a\\n"
>>> [(p.func_name, p.query) for p in python_pairs(src, repo="demo", path="geo.py")]
[('area', 'Area of a rectangle.')]
>>> print(python_pairs(src, repo="demo", path="geo.py")[0].code)
def area(w, h):
    a = w * h
    return a
"""

from __future__ import annotations

import ast
import importlib.util
import warnings
from collections.abc import Iterator

from harness.plugins.datasets.python_docstrings import docstring_lines
from harness.plugins.local_dataset.pairs import (
    MIN_QUERY_WORDS,
    Pair,
    dedent_lines,
    first_paragraph,
    is_query,
)

MIN_CODE_LINES = 3
KEPT_DUNDERS = frozenset({"__init__", "__call__"})

_Function = ast.FunctionDef | ast.AsyncFunctionDef


def python_pairs(
    source: bytes | str, *, repo: str, path: str, min_query_words: int = MIN_QUERY_WORDS
) -> list[Pair]:
    """Every pair of one Python file, in source order; [] when it does not parse."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # invalid escape sequences in old code
            tree = ast.parse(source)
        # decode_source honours the coding cookie and translates newlines like the parser;
        # str.splitlines would also split at form feeds and shift line numbers.
        text = importlib.util.decode_source(source) if isinstance(source, bytes) else source
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return []
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    pairs = []
    for node in _functions(tree):
        pair = _pair_of(node, lines, repo=repo, path=path, min_query_words=min_query_words)
        if pair is not None:
            pairs.append(pair)
    pairs.sort(key=lambda p: p.line)
    return pairs


def _functions(tree: ast.Module) -> Iterator[_Function]:
    """Every function and method, nested ones included.

    Functions are statements, so only statement lists are searched: several
    times faster than ``ast.walk`` over every expression.
    """
    stack: list[ast.AST] = list(tree.body)
    while stack:
        node = stack.pop()
        if isinstance(node, _Function):
            yield node
        for name in ("body", "orelse", "finalbody", "handlers", "cases"):
            children = getattr(node, name, None)
            if isinstance(children, list):
                stack.extend(children)


def _pair_of(
    node: _Function, lines: list[str], *, repo: str, path: str, min_query_words: int
) -> Pair | None:
    name = node.name
    if name.startswith("__") and name.endswith("__") and name not in KEPT_DUNDERS:
        return None
    doc = ast.get_docstring(node, clean=True)
    if not doc:
        return None
    query = first_paragraph(doc)
    if not is_query(query, min_query_words) or _is_trivial(node.body[1:]):
        return None
    span = docstring_lines(node, lines)
    if span is None:
        return None
    first_doc, last_doc = span
    end = node.end_lineno or node.lineno
    indent = len(lines[node.lineno - 1]) - len(lines[node.lineno - 1].lstrip())
    original = dedent_lines(lines[node.lineno - 1 : end], indent)
    code = dedent_lines(lines[node.lineno - 1 : first_doc - 1] + lines[last_doc:end], indent)
    if sum(1 for line in code if line.strip()) < MIN_CODE_LINES:
        return None
    return Pair(
        repo=repo,
        path=path,
        line=node.lineno,
        func_name=name,
        language="python",
        query=query,
        code="\n".join(code).rstrip(),
        original_string="\n".join(original).rstrip(),
    )


def _is_trivial(rest: list[ast.stmt]) -> bool:
    """The body after the docstring does nothing: empty, ``pass``, ``...``, or not implemented."""
    for stmt in rest:
        if isinstance(stmt, ast.Pass):
            continue
        if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant):
            continue  # `...` or a stray string
        if isinstance(stmt, ast.Raise) and _names_not_implemented(stmt.exc):
            continue
        return False
    return True


def _names_not_implemented(exc: ast.expr | None) -> bool:
    target = exc.func if isinstance(exc, ast.Call) else exc
    return isinstance(target, ast.Name) and target.id == "NotImplementedError"
