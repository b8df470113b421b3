"""The tree-sitter miners for Go, Java, JavaScript, Ruby, PHP and C#.

Each test writes one small file in the language's own doc-comment style and
states, read off the source by hand, which functions become pairs, with
which query and which code.
"""

from __future__ import annotations

import pytest

from harness.plugins.local_dataset.languages import (
    candidate_languages,
    is_test_file,
    language_of,
    pairs_of,
)
from harness.plugins.local_dataset.sources import is_minable
from harness.plugins.local_dataset.ts_miner import doc_query


def mined(language: str, source: str, path: str = "src/file") -> list[tuple[str, int, str]]:
    pairs = pairs_of(language, source.encode(), repo="r", path=path)
    for pair in pairs:
        assert pair.language == language
        assert pair.original_string.endswith(pair.code)
    return [(p.func_name, p.line, p.query) for p in pairs]


GO = """package geo

// Area returns the area of a rectangle
// with the given sides.
func Area(w, h float64) float64 {
\ta := w * h
\treturn a
}

// Short is too short to say.
func Short() int { return 1 }

//go:noinline
func Directive(x int) int {
\ty := x
\treturn y
}

// Scale multiplies every side of the shape.
func (s *Shape) Scale(k float64) {
\ts.w *= k
\ts.h *= k
}
"""


def test_go_doc_comments_directives_and_one_liners() -> None:
    # dropped: Short (one line of code), Directive (a //go: directive is no doc)
    assert mined("go", GO) == [
        ("Area", 5, "Area returns the area of a rectangle with the given sides."),
        ("Scale", 20, "Scale multiplies every side of the shape."),
    ]
    area = pairs_of("go", GO.encode(), repo="r", path="geo.go")[0]
    assert area.code == "func Area(w, h float64) float64 {\n\ta := w * h\n\treturn a\n}"
    assert area.original_string.startswith("// Area returns")


JAVA = """package x;

public class Stack {
    /**
     * Pushes an {@code item} onto the top of this stack.
     *
     * <p>Second paragraph.
     * @param item the item
     */
    public void push(Object item) {
        items.add(item);
        size++;
    }

    // A plain comment is no Javadoc here.
    public int size() {
        int n = size;
        return n;
    }

    /** Returns the top item without removing it. */
    public abstract Object peek();

    /** Creates an empty stack of the given capacity. */
    public Stack(int capacity) {
        items = new ArrayList<>(capacity);
        size = 0;
    }
}
"""


def test_java_javadoc_inline_tags_abstract_methods_and_constructors() -> None:
    # dropped: size (a // comment), peek (no body)
    assert mined("java", JAVA) == [
        ("push", 10, "Pushes an item onto the top of this stack."),
        ("Stack", 25, "Creates an empty stack of the given capacity."),
    ]
    push = pairs_of("java", JAVA.encode(), repo="r", path="Stack.java")[0]
    assert push.code == "public void push(Object item) {\n    items.add(item);\n    size++;\n}"


JAVASCRIPT = """/**
 * Adds two numbers and returns the sum.
 * @param {number} a
 */
export function add(a, b) {
  const sum = a + b;
  return sum;
}

/** Multiplies the two numbers given. */
const mul = (a, b) => {
  const product = a * b;
  return product;
};

/** Two variables share this declaration, so neither is documented. */
let p = function () {
  return 1;
}, q = 2;

class Timer {
  /** Starts the timer from zero again. */
  start() {
    this.t = 0;
    return this;
  }
}
"""


def test_javascript_exports_arrow_functions_and_methods() -> None:
    assert mined("javascript", JAVASCRIPT) == [
        ("add", 5, "Adds two numbers and returns the sum."),
        ("mul", 11, "Multiplies the two numbers given."),
        ("start", 23, "Starts the timer from zero again."),
    ]
    add = pairs_of("javascript", JAVASCRIPT.encode(), repo="r", path="m.js")[0]
    assert add.code.startswith("export function add(a, b) {")


RUBY = """# frozen_string_literal: true

# Greets the person with the given name.
# @param name [String]
def greet(name)
  message = "hi " + name
  puts message
end

class Greeter
  # Builds a greeter for the whole team.
  def self.for_team(team)
    members = team.members
    new(members)
  end
end
"""


def test_ruby_comments_yard_tags_and_singleton_methods() -> None:
    assert mined("ruby", RUBY) == [
        ("greet", 5, "Greets the person with the given name."),
        ("for_team", 12, "Builds a greeter for the whole team."),
    ]


PHP = """<?php
/**
 * Formats a price with its currency sign.
 *
 * @param float $amount
 */
function format_price($amount, $sign) {
    $text = number_format($amount, 2);
    return $sign . $text;
}

class Cart {
    /** Counts the items in the cart right now. */
    public function count() {
        $n = count($this->items);
        return $n;
    }
}
"""


def test_php_functions_and_methods_with_phpdoc() -> None:
    assert mined("php", PHP) == [
        ("format_price", 7, "Formats a price with its currency sign."),
        ("count", 14, "Counts the items in the cart right now."),
    ]


CSHARP = """namespace Shop {
    public class Cart {
        /// <summary>
        /// Adds an item of type <see cref="T:Shop.Item"/> to the cart.
        /// </summary>
        /// <param name="item">The item.</param>
        public void Add(Item item) {
            items.Add(item);
            total += item.Price;
        }

        /// Removes every item from the cart at once.
        [Obsolete]
        public void Clear() {
            items.Clear();
            total = 0;
        }
    }
}
"""


def test_csharp_xml_doc_comments_and_attributes() -> None:
    assert mined("csharp", CSHARP) == [
        ("Add", 7, "Adds an item of type Shop.Item to the cart."),
        ("Clear", 13, "Removes every item from the cart at once."),  # its attribute's line
    ]


def test_minimum_query_words_is_an_option() -> None:
    source = "// Rectangle area.\nfunc Area(w, h float64) float64 {\n\ta := w * h\n\treturn a\n}\n"
    assert pairs_of("go", source.encode(), repo="r", path="a.go") == []  # 2 words < 3
    found = pairs_of("go", source.encode(), repo="r", path="a.go", min_query_words=2)
    assert [p.query for p in found] == ["Rectangle area."]


@pytest.mark.parametrize(
    ("doc", "query"),
    [
        ("Copyright 2020 The Authors. All rights reserved.", None),
        ("TODO make this faster than it is", None),
        ("x = compute(y); return x + 1", None),
        ("Returns &lt;b&gt; the <b>bold</b> text as is.", "Returns <b> the bold text as is."),
        ("{@inheritDoc}", None),
    ],
)
def test_doc_comments_that_are_no_description(doc: str, query: str | None) -> None:
    assert doc_query(doc) == query


def test_language_by_extension_and_test_files() -> None:
    assert candidate_languages("a/b/main.go") == ("go",)
    assert candidate_languages("web/app.min.js") == ()
    assert candidate_languages("lib/x.rb") == ("ruby",)
    assert candidate_languages("Cart.cs") == ("csharp",)
    assert candidate_languages("README.md") == ()
    assert language_of("x.h", b"template <typename T> T f();") == "cpp"
    for name in (
        "server_test.go",
        "StackTest.java",
        "cart.spec.js",
        "cart_spec.rb",
        "CartTests.cs",
    ):
        assert is_test_file(name), name
        assert not is_minable(f"src/{name}")
    assert not is_minable("tests/helper.go") and is_minable("src/helper.go")
