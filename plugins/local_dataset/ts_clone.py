"""A transformed copy of a function in a tree-sitter language, for the clone proxy.

Three transformations, all on the syntax tree of the function alone:

- **renamed identifiers**: the function's own name becomes ``func`` and every
  name the function binds (parameters, local variables, loop variables,
  caught exceptions; ``BINDERS``) ``arg_0``, ``arg_1``, ... in order of first
  binding (CodeXGLUE AdvTest's scheme), wherever it is used as a plain
  identifier; a name right after ``.``, ``->`` or ``::`` is a member and
  keeps its name. In PHP every ``$variable`` but ``$this`` is renamed.
  String literals are copied as they are, so a name used inside a string
  interpolation keeps its old name there;
- **comments removed**;
- **formatting changed**: the tokens of each line are separated by single
  spaces (the ``' '.join(code_tokens)`` form GraphCodeBERT and UniXcoder
  read), and indentation is halved (tabs count 4). Line breaks are kept,
  so line-sensitive syntax (Go, Ruby, JavaScript) still parses.

>>> print(transform("int add(int a, int b) {\\n    int c = a + b; // sum\\n    return c;\\n}", "c"))
int func ( int arg_0 , int arg_1 ) {
  int arg_2 = arg_0 + arg_1 ;
  return arg_2 ;
}
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from itertools import count
from typing import Any

from harness.plugins.local_dataset.ts_miner import SPECS, parser

_IDENTIFIERS = frozenset({"identifier"})
_RENAMED = frozenset({"identifier", "variable_name"})  # and the function's own name node
_PHP_ATOMIC = frozenset({"variable_name"})
_FUNCTIONS = frozenset(
    {"function_definition", "declaration", "field_declaration"}.union(
        *(spec.functions for spec in SPECS.values())
    )
)
_FUNCTION_DECLARATORS = frozenset(
    {"function_declarator", "pointer_declarator", "reference_declarator"}
)
_NAME_LEAVES = frozenset({"identifier", "field_identifier", "property_identifier", "name"})
_MEMBER_ACCESS = frozenset({b".", b"->", b"::", b"?.", b"&."})
_ATOMIC_WORDS = ("string", "char", "heredoc", "regex")
# node type -> the fields that hold the names it binds
_C_BINDERS: dict[str, tuple[str, ...]] = {
    "parameter_declaration": ("declarator",),
    "optional_parameter_declaration": ("declarator",),
    "init_declarator": ("declarator",),
    "declaration": ("declarator",),
    "for_range_loop": ("declarator",),
}
BINDERS: dict[str, dict[str, tuple[str, ...]]] = {
    "c": _C_BINDERS,
    "cpp": _C_BINDERS,
    "go": {
        "parameter_declaration": ("name",),
        "variadic_parameter_declaration": ("name",),
        "short_var_declaration": ("left",),
        "var_spec": ("name",),
        "const_spec": ("name",),
        "range_clause": ("left",),
    },
    "java": {
        "formal_parameter": ("name",),
        "variable_declarator": ("name",),
        "catch_formal_parameter": ("name",),
        "enhanced_for_statement": ("name",),
        "lambda_expression": ("parameters",),
        "resource": ("name",),
    },
    "csharp": {
        "parameter": ("name",),
        "variable_declarator": ("name",),
        "foreach_statement": ("left",),
        "catch_declaration": ("name",),
        "declaration_expression": ("name",),
    },
    "javascript": {
        "formal_parameters": ("",),
        "variable_declarator": ("name",),
        "arrow_function": ("parameter",),
        "catch_clause": ("parameter",),
        "for_in_statement": ("left",),
    },
    "ruby": {
        "method_parameters": ("",),
        "block_parameters": ("",),
        "lambda_parameters": ("",),
        "assignment": ("left",),
        "operator_assignment": ("left",),
        "for": ("pattern",),
    },
    "php": {},
}
# Nodes whose named children each bind a name (parameter lists, destructuring).
_LISTS = frozenset(
    {
        "expression_list",
        "identifier_list",
        "left_assignment_list",
        "formal_parameters",
        "inferred_parameters",
        "method_parameters",
        "block_parameters",
        "lambda_parameters",
        "array_pattern",
        "rest_pattern",
        "pattern_list",
    }
)
_NAME_FIELDS = ("declarator", "name", "pattern", "left")
# Wrappers that make a lone method parse: a class around it, PHP's opening tag.
_WRAPPERS: dict[str, list[tuple[str, str]]] = {
    "java": [("", ""), ("class _C {\n", "\n}")],
    "csharp": [("", ""), ("class _C {\n", "\n}")],
    "javascript": [("", ""), ("class _C {\n", "\n}")],
    "cpp": [("", ""), ("class _C {\n", "\n};")],
    "php": [("<?php\n", ""), ("<?php\nclass _C {\n", "\n}")],
}


def transform(code: str, language: str) -> str | None:
    """The renamed, comment-free, reformatted copy of one function; None if nothing parses."""
    source, start, end, root = _parse(code, language)
    function = _outermost_function(root, start, end)
    if function is None or not _has_body(function):
        return None
    atomic = _PHP_ATOMIC if language == "php" else frozenset()
    leaves = list(_leaves(function, atomic))
    name = _function_name(function)
    mapping = _renaming(name, _bound_names(function, language, leaves), {x.text for x in leaves})
    lines: list[list[str]] = []
    indents: list[str] = []
    last_row, previous = -1, b""
    for leaf in leaves:
        if "comment" in leaf.type or leaf.is_missing or leaf.start_byte == leaf.end_byte:
            continue
        text = leaf.text
        renamable = leaf.type in _RENAMED or (name is not None and leaf.id == name.id)
        if text in mapping and renamable and previous not in _MEMBER_ACCESS:
            text = mapping[text]
        if leaf.start_point[0] > last_row:
            lines.append([])
            indents.append(_halved_indent(source, leaf.start_byte, leaf.start_point[1]))
        lines[-1].append(text.decode("utf-8", "replace"))
        last_row, previous = leaf.end_point[0], leaf.text
    return "\n".join(
        indent + " ".join(tokens) for indent, tokens in zip(indents, lines, strict=True)
    )


def _parse(code: str, language: str) -> tuple[bytes, int, int, Any]:
    """The parsed code (wrapped when only a wrapper parses cleanly) and its byte range."""
    body = code.encode("utf-8")
    attempts = []
    for prefix, suffix in _WRAPPERS.get(language, [("", "")]):
        source = prefix.encode() + body + suffix.encode()
        tree = parser(language).parse(source)
        start = len(prefix.encode())
        attempts.append((source, start, start + len(body), tree.root_node))
        if not tree.root_node.has_error:
            return attempts[-1]
    return attempts[0]


def _outermost_function(root: Any, start: int, end: int) -> Any | None:
    """The node the code parsed into: going down through the nodes that cover
    [start, end) (a wrapper class, the file), the first level with exactly one
    named node inside the range; None when the code split into several."""
    node = root
    while True:
        inside = [c for c in node.named_children if c.start_byte >= start and c.end_byte <= end]
        if len(inside) == 1 and "comment" not in inside[0].type:
            return inside[0]
        covering = [c for c in node.named_children if c.start_byte <= start and c.end_byte >= end]
        if not covering:
            return node if node.start_byte >= start and node.end_byte <= end else None
        node = covering[0]


def _leaves(node: Any, atomic: frozenset[str] = frozenset()) -> Iterator[Any]:
    """Tokens in source order; string and character literals are one token each."""
    stack = [node]
    while stack:
        current = stack.pop()
        kind = current.type
        if current.child_count == 0 or kind in atomic or any(w in kind for w in _ATOMIC_WORDS):
            yield current
        else:
            stack.extend(reversed(current.children))


def _renaming(name: Any | None, bound: list[bytes], used: set[bytes]) -> dict[bytes, bytes]:
    """Old name -> new name: the function ``func``, the names it binds ``arg_N``."""
    taken = set(used)
    mapping: dict[bytes, bytes] = {}

    def fresh(candidates: Iterator[str]) -> bytes:
        for candidate in candidates:
            encoded = candidate.encode()
            if encoded not in taken:
                taken.add(encoded)
                return encoded
        raise AssertionError("unreachable: candidates are endless")

    if name is not None:
        mapping[name.text] = fresh(itertools.chain(["func"], (f"func_{i}" for i in count())))
    numbers = count()
    for old in bound:
        if old not in mapping and old != b"$this":
            dollar = "$" if old.startswith(b"$") else ""
            mapping[old] = fresh(f"{dollar}arg_{i}" for i in numbers)
    return mapping


def _function_name(function: Any) -> Any | None:
    """The leaf that names the function (the first function node inside), if a plain name."""
    stack = [function]
    while stack:
        node = stack.pop(0)
        if node.type in _FUNCTIONS:
            name = node.child_by_field_name("name")
            declarator = node.child_by_field_name("declarator")
            while name is None and declarator is not None:
                if declarator.type in _NAME_LEAVES:
                    name = declarator
                elif declarator.type in _FUNCTION_DECLARATORS:
                    declarator = declarator.child_by_field_name("declarator")
                else:
                    break
            return name if name is not None and name.type in _NAME_LEAVES else None
        stack.extend(node.named_children)
    return None


def _has_body(function: Any) -> bool:
    """Whether the first function inside `function` has a body (a declaration has none)."""
    stack = [function]
    while stack:
        node = stack.pop(0)
        if node.type in _FUNCTIONS:
            value = node.child_by_field_name("value")
            owner = value if node.type == "variable_declarator" and value is not None else node
            return owner.child_by_field_name("body") is not None
        stack.extend(node.named_children)
    return False


def _bound_names(function: Any, language: str, leaves: list[Any]) -> list[bytes]:
    """The names the function binds, in source order (PHP: every variable)."""
    if language == "php":
        return [leaf.text for leaf in leaves if leaf.type == "variable_name"]
    binders = BINDERS[language]
    stack = [function]
    found: list[Any] = []
    while stack:
        node = stack.pop()
        fields = binders.get(node.type)
        if fields is not None:
            for field in fields:
                targets = node.children_by_field_name(field) if field else [node]
                for target in targets:
                    found.extend(_declared(target, top=not field))
        stack.extend(node.named_children)
    return [leaf.text for leaf in sorted(found, key=lambda n: n.start_byte)]


def _declared(node: Any, *, top: bool = False) -> Iterator[Any]:
    if node.type in _IDENTIFIERS:
        yield node
        return
    if node.type in _LISTS or top:
        for child in node.named_children:
            yield from _declared(child)
        return
    named = [child for field in _NAME_FIELDS for child in node.children_by_field_name(field)]
    if not named and node.type.endswith("declarator"):
        # C++ `T& name`: a reference declarator holds its name without a field
        named = [c for c in node.named_children if c.type != "type_qualifier"]
    for child in named:
        yield from _declared(child)


def _halved_indent(source: bytes, start_byte: int, column: int) -> str:
    line_start = start_byte - column
    lead = source[line_start:start_byte]
    width = sum(4 if ch == 9 else 1 for ch in lead) if not lead.strip() else 0
    return " " * (width // 2)
