"""Assertion-completion examples from the text of a Python test file (task ``rc``).

An assertion gives an example when it compares against an expected value
written in the source; the expected value is the target, the file up to it
the prefix:

- ``assert <expr> == <expected>``: a comparison with exactly one ``==``;
  the target is its right operand;
- the unittest family, ``self.assertEqual(x, <expected>)`` and
  ``UNITTEST_METHODS``: the second positional argument;
- the numpy.testing family, ``assert_allclose(x, <expected>)`` with or
  without a module prefix (``np.testing.assert_equal``), ``NUMPY_FUNCTIONS``:
  the second positional argument.

An assertion is a statement (at any depth: in functions, classes, ``with``
and loop bodies); a call nested inside another expression is not one.

Positions come from ``ast``: a column offset there counts UTF-8 bytes of its
line, so it is converted to characters before cutting the text. Lines are
split as ``ast.get_source_segment`` splits them (``\\r\\n``, ``\\r`` or ``\\n``),
so ``text[start:end]`` is exactly the segment it returns.

>>> [(a.line, a.column, a.target) for a in find_assertions("assert f(1) == {'a': 2}\\n")]
[(1, 16, "{'a': 2}")]
"""

from __future__ import annotations

import ast
import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass

UNITTEST_METHODS = frozenset(
    {
        "assertEqual",
        "assertEquals",
        "assertAlmostEqual",
        "assertListEqual",
        "assertTupleEqual",
        "assertDictEqual",
        "assertSetEqual",
        "assertSequenceEqual",
        "assertCountEqual",
        "assertMultiLineEqual",
        "assertIs",
    }
)
NUMPY_FUNCTIONS = frozenset(
    {
        "assert_equal",
        "assert_array_equal",
        "assert_allclose",
        "assert_almost_equal",
        "assert_array_almost_equal",
    }
)
TEST_DIRS = frozenset({"test", "tests"})
_LINE_BREAK = re.compile(r"\r\n|\r|\n")


@dataclass(frozen=True)
class Assertion:
    """One assertion's expected value: where it is in the file, and the assertion's key.

    `line` and `column` (both 1-based, the column in characters) are those of
    the target's first character; `start`/`end` are its character offsets in
    the text; `statement` is a digest of the whole assertion's source with its
    whitespace removed (``statement_key``): the evolution track compares
    assertions by it.
    """

    line: int
    column: int
    start: int
    end: int
    target: str
    statement: str


def is_test_path(path: str) -> bool:
    """True for a Python test file: ``test_*.py``, ``*_test.py``, or a ``.py`` under test(s)/.

    >>> [is_test_path(p) for p in ("test_io.py", "pkg/io_test.py", "tests/conftest.py")]
    [True, True, True]
    >>> [is_test_path(p) for p in ("pkg/io.py", "testing/util.py", "tests/data.json")]
    [False, False, False]
    """
    parts = path.split("/")
    name = parts[-1]
    if not name.endswith(".py"):
        return False
    if name.startswith("test_") or name.endswith("_test.py"):
        return True
    return any(part in TEST_DIRS for part in parts[:-1])


def find_assertions(
    text: str, *, max_target_chars: int = 120, max_target_lines: int = 3
) -> list[Assertion] | None:
    """Every assertion of `text` with a target, in source order; None when it does not parse.

    Targets longer than `max_target_chars` or spanning more than
    `max_target_lines` lines are left out, and so are blank ones.
    """
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None
    offsets = _CharOffsets(text)
    found: list[Assertion] = []
    for node in _statements(tree):
        expected = expected_value(node)
        if expected is None or expected.end_lineno is None or expected.end_col_offset is None:
            continue
        if expected.end_lineno - expected.lineno + 1 > max_target_lines:
            continue
        start, end = offsets.span(expected)
        target = text[start:end]
        if not target.strip() or len(target) > max_target_chars:
            continue
        column = start - offsets.line_start(expected.lineno) + 1
        statement = text[slice(*offsets.span(node))]
        found.append(
            Assertion(expected.lineno, column, start, end, target, statement_key(statement))
        )
    return sorted(found, key=lambda assertion: assertion.start)


def expected_value(node: ast.stmt) -> ast.expr | None:
    """The expected-value operand of an assertion statement, None for any other statement."""
    if isinstance(node, ast.Expr):
        return _expected_argument(node.value)
    if isinstance(node, ast.Assert):
        test = node.test
        if isinstance(test, ast.Compare) and len(test.ops) == 1 and isinstance(test.ops[0], ast.Eq):
            return test.comparators[0]
    return None


def _expected_argument(node: ast.expr) -> ast.expr | None:
    if not isinstance(node, ast.Call) or len(node.args) < 2:
        return None
    func = node.func
    name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
    if (isinstance(func, ast.Attribute) and name in UNITTEST_METHODS) or name in NUMPY_FUNCTIONS:
        first, second = node.args[0], node.args[1]
        if not isinstance(first, ast.Starred) and not isinstance(second, ast.Starred):
            return second
    return None


def statement_key(statement: str) -> str:
    """A digest of an assertion's source with its whitespace removed (reformatting aside).

    >>> statement_key("assert f(x,y)  ==\\n  1") == statement_key("assert f(x, y) == 1")
    True
    """
    normalised = "".join(statement.split())
    return hashlib.sha1(normalised.encode("utf-8")).hexdigest()[:16]


def _statements(tree: ast.Module) -> Iterator[ast.stmt]:
    """Every statement, nested ones included, in source order (expressions are not entered)."""
    stack: list[ast.AST] = list(reversed(tree.body))
    while stack:
        node = stack.pop()
        if isinstance(node, ast.stmt):
            yield node
        for name in ("body", "orelse", "finalbody", "handlers", "cases"):
            children = getattr(node, name, None)
            if isinstance(children, list):
                stack.extend(reversed(children))


class _CharOffsets:
    """(line, UTF-8 byte column) -> character offset in the text."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.starts = [0] + [match.end() for match in _LINE_BREAK.finditer(text)]
        self._ascii = text.isascii()

    def line_start(self, line: int) -> int:
        return self.starts[line - 1]

    def span(self, node: ast.stmt | ast.expr) -> tuple[int, int]:
        """The character offsets of a node's first character and of the one after its last."""
        end_line = node.end_lineno or node.lineno
        end_column = node.end_col_offset if node.end_col_offset is not None else node.col_offset
        return self.at(node.lineno, node.col_offset), self.at(end_line, end_column)

    def at(self, line: int, byte_column: int) -> int:
        start = self.starts[line - 1]
        if self._ascii:
            return start + byte_column
        end = self.starts[line] if line < len(self.starts) else len(self.text)
        encoded = self.text[start:end].encode("utf-8")
        return start + len(encoded[:byte_column].decode("utf-8", "replace"))
