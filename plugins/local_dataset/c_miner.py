"""C and C++ functions with doc comments, mined with tree-sitter.

Rules (one pair per function declaration or definition):

- the function is a ``function_definition``, a ``declaration`` or a class
  member (``field_declaration``) whose declarator is a named function
  (function pointers are not), optionally inside a ``template`` declaration,
  at file level or inside namespaces, ``extern "C"`` blocks, ``#if`` blocks,
  classes and structs; function-like macros are not functions here;
- its doc comment is the run of comments immediately before it (``/** */``,
  ``/*! */``, ``///``, ``//!``, plain ``/* */`` and ``//``), each on the line
  after the previous one, the last on the line before the function or on its
  first line; a comment that ends a line of earlier code is not part of it,
  and neither are member comments such as ``///<``;
- the query is the comment's first paragraph: comment markers and leading
  ``*`` removed, a leading ``@brief``/``\\brief`` dropped, cut at the first
  blank line or Doxygen block command (``@param``, ``\\return``, ...),
  inline ``\\p``/``@c``-style markers dropped, whitespace-normalised, at least
  three words; comments that name a copyright or licence, start with
  TODO/FIXME/XXX/NOLINT, or look like code (contain ``;``, ``{`` or ``}``)
  are not queries;
- the code is the declaration or definition text without the comment,
  dedented by its first line's column; ``original_string`` includes the
  comment;
- skipped: ``= delete`` / ``= default`` members, and declarations that
  tree-sitter could only parse with errors other than lone unknown
  identifiers (unexpanded macros such as ``TORCH_API``); errors inside a
  function body are allowed. Headers are not preprocessed, so declarations
  wrapped in heavier macros (glibc's ``__THROW __nonnull ((1))``) are lost.

Language: ``.c`` is C; ``.cc``, ``.cpp``, ``.cxx``, ``.hpp``, ``.hh``,
``.hxx`` are C++; a ``.h`` file is C++ when it contains C++-only syntax
(``namespace x {``, ``template <``, ``std::``, ``class X``,
``#include <vector>``), otherwise C.
"""

from __future__ import annotations

import importlib
import re
from functools import cache
from typing import Any

from harness.plugins.local_dataset.pairs import (
    MIN_QUERY_WORDS,
    Origin,
    Pair,
    dedent_lines,
    first_paragraph,
    is_query,
)

C_SUFFIXES = (".c",)
CPP_SUFFIXES = (".cc", ".cpp", ".cxx", ".hpp", ".hh", ".hxx")
HEADER_SUFFIXES = (".h",)

_CPP_HINT = re.compile(
    rb"^\s*(?:namespace\s+\w+\s*\{|template\s*<|class\s+\w+|#\s*include\s*<[a-z_]+>)|std::",
    re.M,
)
_CONTAINERS = frozenset(
    {
        "translation_unit",
        "declaration_list",
        "field_declaration_list",
        "preproc_if",
        "preproc_ifdef",
        "preproc_else",
        "preproc_elif",
        "preproc_elifdef",
        "namespace_definition",
        "linkage_specification",
        "class_specifier",
        "struct_specifier",
        "union_specifier",
        "template_declaration",
        "declaration",
        "field_declaration",
        "type_definition",
    }
)
_FUNCTION_NODES = frozenset({"function_definition", "declaration", "field_declaration"})
_WRAPPING_DECLARATORS = frozenset(
    {"pointer_declarator", "reference_declarator", "attributed_declarator"}
)
_NAME_NODES = frozenset(
    {
        "identifier",
        "field_identifier",
        "qualified_identifier",
        "destructor_name",
        "operator_name",
        "template_function",
        "operator_cast",
    }
)
_MEMBER_DOC = re.compile(r"^(?:///<|//!<|/\*\*<|/\*!<)")
_BRIEF = re.compile(r"^[@\\](?:brief|short)\b\s*")
_BLOCK_COMMAND = re.compile(r"^[@\\][A-Za-z]+\b")
_INLINE_COMMAND = re.compile(r"[@\\](?:p|c|a|e|b|em|ref)\s+")
_NOT_A_DESCRIPTION = re.compile(r"copyright|licen[cs]e|spdx|^(?:todo|fixme|xxx|nolint)\b", re.I)
_DELETED = re.compile(r"=\s*(?:delete|default)\s*;\s*$")
_MACRO_NAME = re.compile(r"^[A-Za-z_]\w*$")


def language_of(path: str, source: bytes) -> str | None:
    """``"c"``, ``"cpp"``, or None for a file that is not C or C++ by its suffix."""
    lower = path.lower()
    if lower.endswith(C_SUFFIXES):
        return "c"
    if lower.endswith(CPP_SUFFIXES):
        return "cpp"
    if lower.endswith(HEADER_SUFFIXES):
        return "cpp" if _looks_like_cpp(source) else "c"
    return None


def _looks_like_cpp(source: bytes) -> bool:
    if b"std::" in source:
        return True
    if not any(word in source for word in (b"namespace", b"template", b"class", b"include")):
        return False
    return _CPP_HINT.search(source) is not None


@cache
def _parser(language: str) -> Any:
    # Imported here: registering the plugin must not load tree-sitter.
    from tree_sitter import Language, Parser

    grammar = importlib.import_module("tree_sitter_c" if language == "c" else "tree_sitter_cpp")
    return Parser(Language(grammar.language()))


def c_pairs(
    source: bytes,
    *,
    repo: str,
    path: str,
    language: str | None = None,
    min_query_words: int = MIN_QUERY_WORDS,
) -> list[Pair]:
    """Every pair of one C or C++ file, in source order.

    `language` defaults to ``language_of(path, source)``.
    """
    language = language or language_of(path, source)
    if language is None:
        return []
    tree = _parser(language).parse(source)
    pairs: list[Pair] = []
    _visit(tree.root_node, source, pairs, Origin(repo, path, language, min_query_words))
    pairs.sort(key=lambda p: p.line)
    return pairs


def _visit(node: Any, source: bytes, pairs: list[Pair], origin: Origin) -> None:
    children = node.children
    for index, child in enumerate(children):
        function = _function_in(child)
        if function is not None:
            pair = _pair_of(child, function, children[:index], source, origin)
            if pair is not None:
                pairs.append(pair)
        elif child.type in _CONTAINERS:
            _visit(child, source, pairs, origin)


def _function_in(node: Any) -> Any | None:
    """The name node when `node` declares or defines a named function, else None."""
    if node.type == "template_declaration":
        inner = [c for c in node.named_children if c.type in _FUNCTION_NODES]
        return _function_in(inner[-1]) if inner else None
    if node.type not in _FUNCTION_NODES:
        return None
    declarator = node.child_by_field_name("declarator")
    while declarator is not None and declarator.type in _WRAPPING_DECLARATORS:
        named = [c for c in declarator.named_children if c.type != "type_qualifier"]
        declarator = declarator.child_by_field_name("declarator") or (named[-1] if named else None)
    if declarator is None or declarator.type != "function_declarator":
        return None
    name = declarator.child_by_field_name("declarator")
    return name if name is not None and name.type in _NAME_NODES else None


def _pair_of(node: Any, name: Any, before: list[Any], source: bytes, origin: Origin) -> Pair | None:
    comments = _doc_comments(node, before)
    if not comments:
        return None
    doc = "\n".join(comment_text(c.text.decode("utf-8", "replace")) for c in comments)
    query = _query(doc, origin.min_query_words)
    if query is None or not _parsed_cleanly(node):
        return None
    code = source_text(source, node.start_byte, node.end_byte, node.start_point[1])
    if _DELETED.search(code) or (node.type == "declaration" and not code.endswith(";")):
        return None
    return commented_pair(node, name, comments[0], source, query, code, origin)


def commented_pair(
    node: Any, name: Any, comment: Any, source: bytes, query: str, code: str, origin: Origin
) -> Pair:
    """The pair of the function `node`, named by the node `name`, whose doc comment starts
    at the node `comment`: its ``original_string`` runs from that comment to the function's
    end."""
    start, column = comment.start_byte, comment.start_point[1]
    return Pair(
        repo=origin.repo,
        path=origin.path,
        line=node.start_point[0] + 1,
        func_name=name.text.decode("utf-8", "replace"),
        language=origin.language,
        query=query,
        code=code,
        original_string=source_text(source, start, node.end_byte, column),
    )


def _doc_comments(node: Any, before: list[Any]) -> list[Any]:
    """The run of comments that ends right above `node` (or on its first line)."""
    run: list[Any] = []
    next_row = node.start_point[0]
    index = len(before) - 1
    while index >= 0 and before[index].type == "comment":
        comment = before[index]
        if comment.end_point[0] < next_row - 1:
            break
        run.insert(0, comment)
        next_row = comment.start_point[0]
        index -= 1
    if run and index >= 0 and before[index].end_point[0] == run[0].start_point[0]:
        run.pop(0)  # it ends a line of earlier code: it belongs to that code
    if any(_MEMBER_DOC.match(c.text.decode("utf-8", "replace")) for c in run):
        return []
    return run


def comment_text(raw: str) -> str:
    """The words of one comment, markers and leading ``*`` removed, lines kept."""
    if raw.startswith("/*"):
        body = raw[2:-2] if raw.endswith("*/") and len(raw) >= 4 else raw[2:]
        lines = body.lstrip("*!").split("\n")
        return "\n".join(re.sub(r"^\s*\*+\s?", "", line).rstrip(" *") for line in lines)
    return raw[2:].lstrip("/!").strip()


def _query(doc: str, min_words: int = MIN_QUERY_WORDS) -> str | None:
    lines = [line.strip() for line in doc.strip().split("\n")]
    lines[0] = _BRIEF.sub("", lines[0])
    kept: list[str] = []
    for line in lines:
        if _BLOCK_COMMAND.match(line) or (not line and kept):
            break
        if line:
            kept.append(line)
    query = _INLINE_COMMAND.sub("", first_paragraph("\n".join(kept)))
    if not is_query(query, min_words) or _NOT_A_DESCRIPTION.search(query):
        return None
    if any(mark in query for mark in ";{}"):
        return None
    return query


def _parsed_cleanly(node: Any) -> bool:
    """No parse errors outside the body but lone identifiers (unexpanded export macros)."""
    if not node.has_error:
        return True
    stack = [c for c in node.children if c.type not in ("compound_statement",)]
    while stack:
        current = stack.pop()
        if current.is_missing:
            return False
        if current.type == "ERROR":
            if not _MACRO_NAME.match(current.text.decode("utf-8", "replace").strip()):
                return False
            continue
        if current.has_error and current.type not in ("compound_statement",):
            stack.extend(current.children)
    return True


def source_text(source: bytes, start: int, end: int, column: int) -> str:
    lines = source[start:end].decode("utf-8", "replace").replace("\r\n", "\n").split("\n")
    return "\n".join(lines[:1] + dedent_lines(lines[1:], column)).rstrip()
