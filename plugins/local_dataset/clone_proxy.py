"""The ``local`` code-to-code set: a clone-retrieval *proxy* built from mined functions.

Each mined function with at least ``MIN_CODE_LINES`` non-blank lines of code
gives one query and one candidate:

- the **query** is a transformed copy of its code (the doc already removed):
  identifiers renamed (the function ``func``, the names it binds ``arg_0``,
  ``arg_1``, ..., CodeXGLUE AdvTest's scheme), comments and docstrings
  removed, formatting changed. Python goes through ``ast`` (``ast.unparse``
  rewrites the layout and drops comments; nested docstrings are dropped
  too); the other languages through their tree-sitter grammar
  (``ts_clone``: tokens separated by spaces, indentation halved);
- the **candidate** is the function as it is in its file, doc comment or
  docstring included (``original_string``);
- each query has exactly one relevant candidate; the corpus is every
  candidate of the split and language.

This is a type-2 clone search (same program, other names and layout), not a
cross-language one: its numbers are no estimate of XLCoST's and are never
reported under that name (the dataset is ``local``, its meta says
``protocol: clone-proxy``).

The transformed pairs are cached beside the mined files,
``<cache>/c2c-v<CLONE_VERSION>/<language>/<split>.jsonl``, each written
atomically.

>>> print(python_clone("def area(w, h):\\n    # the product\\n    a = w * h\\n    return a"))
def func(arg_0, arg_1):
    arg_2 = arg_0 * arg_1
    return arg_2
"""

from __future__ import annotations

import ast
import itertools
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from harness import atomic
from harness.data import RetrievalSplit
from harness.plugins.local_dataset.csn_format import read_jsonl

CLONE_VERSION = "1"
MIN_CODE_LINES = 3
META = {
    "protocol": "clone-proxy",
    "note": (
        "code-to-code proxy from mined functions: query = the function with identifiers "
        "renamed, comments and docstrings removed and formatting changed; relevant = the "
        "function as written. Not XLCoST; not comparable with XLCoST numbers."
    ),
}


def transform(code: str, language: str) -> str | None:
    """The query of one function's code, or None when it does not parse."""
    if language == "python":
        return python_clone(code)
    from harness.plugins.local_dataset.ts_clone import transform as tree_sitter_clone

    try:
        return tree_sitter_clone(code, language)
    except (ValueError, RecursionError):
        return None


def python_clone(code: str) -> str | None:
    """A Python function renamed, without comments or docstrings, laid out by ``ast.unparse``."""
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError, RecursionError):
        return None
    if len(tree.body) != 1 or not isinstance(tree.body[0], ast.FunctionDef | ast.AsyncFunctionDef):
        return None
    function = tree.body[0]
    _drop_docstrings(function)
    mapping = _python_renaming(function)
    for node in ast.walk(function):
        if isinstance(node, ast.Name) and node.id in mapping:
            node.id = mapping[node.id]
        elif isinstance(node, ast.arg) and node.arg in mapping:
            node.arg = mapping[node.arg]
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name in mapping:
            node.name = mapping[node.name]
    try:
        return ast.unparse(tree)
    except (ValueError, RecursionError):
        return None


def _drop_docstrings(function: ast.AST) -> None:
    for node in ast.walk(function):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            body = node.body
            first = body[0] if body else None
            if (
                isinstance(first, ast.Expr)
                and isinstance(first.value, ast.Constant)
                and isinstance(first.value.value, str)
            ):
                node.body = body[1:] or [ast.Pass()]


def _python_renaming(function: ast.FunctionDef | ast.AsyncFunctionDef) -> dict[str, str]:
    """The function -> ``func``; its parameters and assigned names -> ``arg_N``.

    Names declared ``global`` or ``nonlocal`` keep their names (a builtin that is
    only read is bound nowhere in the function, so it keeps its name too).
    """
    kept: set[str] = set()
    bound: list[tuple[int, int, str]] = []
    for node in ast.walk(function):
        if isinstance(node, ast.Global | ast.Nonlocal):
            kept.update(node.names)
        elif isinstance(node, ast.arg):
            bound.append((node.lineno, node.col_offset, node.arg))
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store | ast.Del):
            bound.append((node.lineno, node.col_offset, node.id))
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node is not function:
            bound.append((node.lineno, node.col_offset, node.name))
    used = {getattr(node, "id", None) or getattr(node, "arg", None) for node in ast.walk(function)}
    names = itertools.chain(["func"], (f"func_{i}" for i in itertools.count()))
    mapping = {function.name: _fresh(names, used)}
    numbers = itertools.count()
    for _, _, name in sorted(bound):
        if name not in mapping and name not in kept:
            mapping[name] = _fresh((f"arg_{i}" for i in numbers), used | set(mapping.values()))
    return mapping


def _fresh(candidates: Iterator[str], used: set[Any]) -> str:
    """The first candidate not in `used` (the candidates never run out)."""
    return next(candidate for candidate in candidates if candidate not in used)


def clone_pairs(records: list[dict[str, Any]]) -> list[dict[str, str]]:
    """The clone pairs of CodeSearchNet records (one language): id, query, code, group."""
    pairs = []
    for record in records:
        code = record["code"]
        if sum(1 for line in code.split("\n") if line.strip()) < MIN_CODE_LINES:
            continue
        query = transform(code, record["language"])
        if not query or " ".join(query.split()) == " ".join(code.split()):
            continue
        pairs.append(
            {
                "id": record["url"],
                "query": query,
                "code": record["original_string"],
                "group": f"{record['repo']}/{record['path']}",
            }
        )
    return pairs


def cached_clone_pairs(folder: Path, language: str, split: str) -> list[dict[str, str]]:
    """The clone pairs of one mined split, from the cache or made and cached now."""
    path = folder / f"c2c-v{CLONE_VERSION}" / language / f"{split}.jsonl"
    if path.is_file():
        with open(path, encoding="utf-8") as handle:
            return [json.loads(line) for line in handle if line.strip()]
    mined = folder / language / f"{split}.jsonl"
    pairs = clone_pairs(read_jsonl(mined)) if mined.is_file() else []
    atomic.write(path, "".join(json.dumps(pair, ensure_ascii=False) + "\n" for pair in pairs))
    return pairs


def clone_split(pairs: list[dict[str, str]]) -> RetrievalSplit:
    """Queries (transformed copies), corpus (the functions as written), one relevant each."""
    return RetrievalSplit(
        queries={p["id"]: p["query"] for p in pairs},
        corpus={p["id"]: p["code"] for p in pairs},
        qrels={p["id"]: {p["id"]: 1} for p in pairs},
    )
