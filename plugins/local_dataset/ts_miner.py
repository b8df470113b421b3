"""Go, Java, JavaScript, Ruby, PHP and C# functions with doc comments, mined with tree-sitter.

Rules (one pair per function or method that has a body), the same in spirit
as ``c_miner``'s:

- functions (``SPECS``): Go ``func`` declarations and methods; Java and C#
  methods and constructors (C# local functions too); JavaScript function
  and generator declarations, class methods, and ``const f = (...) =>`` /
  ``function`` expressions bound by a one-variable declaration; Ruby ``def``
  and ``def self.x``; PHP functions and methods. Nested ones count too;
- the doc comment is the run of comments right before the function (or
  before what wraps it: ``export``, the declaration of an arrow function,
  the body a Ruby class opens), each on the line after the previous; a
  comment that ends a line of earlier code is not part of it. Only the doc
  style of the language counts, as the tail of that run: ``/** */`` for
  Java, JavaScript and PHP (Javadoc, JSDoc, PHPDoc); ``//`` or ``/* */`` for
  Go (not ``//go:`` directives); ``///`` or ``/** */`` for C#; ``#`` or
  ``=begin`` for Ruby (not ``#!`` or magic comments);
- the query is the comment's first paragraph: markers and leading ``*``
  removed, cut at the first tag line (``@param``, ``@return``, ...), inline
  tags replaced by their text (``{@link Foo}`` -> ``Foo``), HTML/XML tags
  dropped (C#: only the ``<summary>`` when there is one, ``<see cref="X"/>``
  -> ``X``), whitespace-normalised, at least the minimum words; comments
  that name a copyright or licence, start with TODO/FIXME, or look like code
  (``;``, ``{``, ``}``) are not queries;
- the code is the function's text without the comment, dedented by its first
  line's column, at least ``MIN_CODE_LINES`` non-blank lines (one-liners
  such as getters say nothing their doc does not); ``original_string`` keeps
  the comment.

>>> src = b"// Add returns the sum of a and b.\\nfunc Add(a, b int) int {\\n\\treturn a + b\\n}\\n"
>>> found = tree_sitter_pairs(src, Origin(repo="r", path="m.go", language="go"))
>>> [(p.func_name, p.query) for p in found]
[('Add', 'Add returns the sum of a and b.')]
"""

from __future__ import annotations

import html
import importlib
import re
from dataclasses import dataclass
from functools import cache
from typing import Any

from harness.errors import HarnessError
from harness.plugins.local_dataset.c_miner import comment_text, commented_pair, source_text
from harness.plugins.local_dataset.pairs import (
    MIN_QUERY_WORDS,
    Origin,
    Pair,
    first_paragraph,
    is_query,
)

MIN_CODE_LINES = 3

# language -> (module of the PyPI wheel, its function that returns the grammar, the wheel)
GRAMMARS: dict[str, tuple[str, str, str]] = {
    "c": ("tree_sitter_c", "language", "tree-sitter-c"),
    "cpp": ("tree_sitter_cpp", "language", "tree-sitter-cpp"),
    "go": ("tree_sitter_go", "language", "tree-sitter-go"),
    "java": ("tree_sitter_java", "language", "tree-sitter-java"),
    "javascript": ("tree_sitter_javascript", "language", "tree-sitter-javascript"),
    "ruby": ("tree_sitter_ruby", "language", "tree-sitter-ruby"),
    "php": ("tree_sitter_php", "language_php", "tree-sitter-php"),
    "csharp": ("tree_sitter_c_sharp", "language", "tree-sitter-c-sharp"),
}


@dataclass(frozen=True)
class Spec:
    """What a function and its doc comment look like in one language's syntax tree."""

    functions: frozenset[str]
    comments: frozenset[str]
    doc_style: re.Pattern[str]
    wrappers: frozenset[str] = frozenset()
    markup: bool = True  # the doc may hold HTML/XML tags


def _spec(functions: str, comments: str, doc_style: str, **more: Any) -> Spec:
    """A `Spec` from node types separated by spaces and a doc-comment pattern."""
    return Spec(
        frozenset(functions.split()), frozenset(comments.split()), re.compile(doc_style), **more
    )


_JAVADOC = r"^/\*\*(?!/)"
SPECS: dict[str, Spec] = {
    "go": _spec(
        "function_declaration method_declaration",
        "comment",
        r"^(?://(?!go:|line |nolint|\s*\+build)|/\*)",
        markup=False,
    ),
    "java": _spec(
        "method_declaration constructor_declaration", "block_comment line_comment", _JAVADOC
    ),
    "javascript": _spec(
        "function_declaration generator_function_declaration method_definition variable_declarator",
        "comment",
        _JAVADOC,
        wrappers=frozenset({"export_statement"}),
    ),
    "ruby": _spec(
        "method singleton_method",
        "comment",
        r"^(?:#(?!!|\s*(?:frozen_string_literal|-\*-|encoding:|rubocop:))|=begin)",
        markup=False,
    ),
    "php": _spec("function_definition method_declaration", "comment", _JAVADOC),
    "csharp": _spec(
        "method_declaration constructor_declaration local_function_statement",
        "comment",
        r"^(?:///(?!/)|/\*\*(?!/))",
    ),
}

_FUNCTION_VALUES = frozenset(
    {"arrow_function", "function_expression", "function", "generator_function"}
)
_JS_DECLARATIONS = frozenset({"lexical_declaration", "variable_declaration"})
_TAG_LINE = re.compile(r"^[@\\][A-Za-z]+\b")
_INLINE_TAG = re.compile(r"\{@\w+\s*([^}]*)\}")
_XML_REFERENCE = re.compile(r'<\w+\s+(?:cref|name|langword|href)="(?:\w:)?([^"]*)"\s*/?>')
_MARKUP_TAG = re.compile(r"</?[A-Za-z][^<>]*>")
_SUMMARY = re.compile(r"<summary>(.*?)</summary>", re.S)
_NOT_A_DESCRIPTION = re.compile(r"copyright|licen[cs]e|spdx|^(?:todo|fixme|xxx|nolint)\b", re.I)


@cache
def parser(language: str) -> Any:
    """A tree-sitter parser for `language` (its PyPI grammar wheel, imported on first use)."""
    from tree_sitter import Language, Parser

    module_name, function, wheel = GRAMMARS[language]
    try:
        module = importlib.import_module(module_name)
    except ImportError:
        raise HarnessError(
            f"mining {language} needs the tree-sitter grammar: pip install {wheel}"
        ) from None
    return Parser(Language(getattr(module, function)()))


def tree_sitter_pairs(source: bytes, origin: Origin) -> list[Pair]:
    """Every pair of one file in its language (a key of ``SPECS``), in source order."""
    spec = SPECS[origin.language]
    tree = parser(origin.language).parse(source)
    pairs: list[Pair] = []
    stack = [tree.root_node]
    while stack:
        node = stack.pop()
        if node.type in spec.functions:
            pair = _pair_of(node, spec, source, origin)
            if pair is not None:
                pairs.append(pair)
        stack.extend(node.named_children)
    pairs.sort(key=lambda p: p.line)
    return pairs


def _pair_of(node: Any, spec: Spec, source: bytes, origin: Origin) -> Pair | None:
    name = node.child_by_field_name("name")
    anchor = _anchor(node, spec)
    if name is None or anchor is None:
        return None
    comments = _doc_comments(anchor, spec)
    if not comments:
        return None
    doc = "\n".join(_comment_words(c.text.decode("utf-8", "replace")) for c in comments)
    xml = origin.language == "csharp"
    query = doc_query(doc, origin.min_query_words, markup=spec.markup, xml=xml)
    if query is None:
        return None
    code = source_text(source, anchor.start_byte, anchor.end_byte, anchor.start_point[1])
    if sum(1 for line in code.split("\n") if line.strip()) < MIN_CODE_LINES:
        return None
    return commented_pair(anchor, name, comments[0], source, query, code, origin)


def _anchor(node: Any, spec: Spec) -> Any | None:
    """The node whose text is the function: itself, or what declares or exports it.

    None when the function has no body (abstract and interface methods), or
    for a JavaScript variable that holds no function or shares its declaration.
    """
    owner, anchor = node, node
    if node.type == "variable_declarator":
        value = node.child_by_field_name("value")
        parent = node.parent
        if value is None or value.type not in _FUNCTION_VALUES or parent is None:
            return None
        if parent.type not in _JS_DECLARATIONS or parent.named_child_count != 1:
            return None
        owner, anchor = value, parent
    if owner.child_by_field_name("body") is None:
        return None
    while anchor.parent is not None and anchor.parent.type in spec.wrappers:
        anchor = anchor.parent
    return anchor


def _doc_comments(anchor: Any, spec: Spec) -> list[Any]:
    """The comments in the doc style that end right above `anchor`."""
    run: list[Any] = []
    current, next_row = anchor, anchor.start_point[0]
    while True:
        previous = current.prev_sibling
        parent = current.parent
        if previous is None:
            # The first statement of a body (a Ruby class's methods): its comments
            # are the siblings of the body itself.
            if parent is None or parent.parent is None or parent.start_byte != current.start_byte:
                break
            current = parent
            continue
        if previous.type not in spec.comments or previous.end_point[0] < next_row - 1:
            break
        run.insert(0, previous)
        current, next_row = previous, previous.start_point[0]
    if run:
        before = current.prev_sibling
        if before is not None and before.end_point[0] == run[0].start_point[0]:
            run.pop(0)  # it ends a line of earlier code: it belongs to that code
    kept: list[Any] = []
    for comment in reversed(run):
        if not spec.doc_style.match(comment.text.decode("utf-8", "replace")):
            break
        kept.insert(0, comment)
    return kept


def _comment_words(raw: str) -> str:
    """The text of one comment, markers removed, lines kept."""
    if raw.startswith("=begin"):
        return "\n".join(raw.split("\n")[1:-1])
    if raw.startswith("#"):
        return raw[1:].strip()
    return comment_text(raw)


def doc_query(
    doc: str, min_words: int = MIN_QUERY_WORDS, *, markup: bool = True, xml: bool = False
) -> str | None:
    """The query a doc comment's text gives, or None when it gives none.

    >>> doc_query("Returns the {@code size} of the list.\\n@return the size")
    'Returns the size of the list.'
    >>> doc = '<summary>\\nParses a <see cref="T:System.String"/> quickly.\\n</summary>'
    >>> doc_query(doc, xml=True)
    'Parses a System.String quickly.'
    """
    if xml:
        summary = _SUMMARY.search(doc)
        doc = summary.group(1) if summary else doc
        doc = _XML_REFERENCE.sub(lambda m: m.group(1), doc)
    kept: list[str] = []
    for line in (line.strip() for line in doc.strip().split("\n")):
        if _TAG_LINE.match(line) or (not line and kept):
            break
        if line:
            kept.append(line)
    query = _INLINE_TAG.sub(lambda m: m.group(1).strip(), first_paragraph("\n".join(kept)))
    if markup:
        query = html.unescape(_MARKUP_TAG.sub("", query))
    query = " ".join(query.split())
    if not is_query(query, min_words) or _NOT_A_DESCRIPTION.search(query):
        return None
    if any(mark in query for mark in ";{}"):
        return None
    return query
