"""Task ``c2c``: the local clone-retrieval proxy, its transformations, and the XLCoST default."""

from __future__ import annotations

import ast
import json
import shutil
from pathlib import Path

import pytest

from harness.data import DatasetOptions
from harness.plan import _default_dataset
from harness.plugin_manager import plugins
from harness.plugins.local_dataset import loader
from harness.plugins.local_dataset.clone_proxy import python_clone, transform
from harness.plugins.local_dataset.ts_miner import parser

FIXTURE = Path(__file__).parent / "fixtures" / "local_tree"

FUNCTIONS = {
    "c": "int area(int width, int height) {\n    int a = width * height; /* product */\n"
    "    return a;\n}",
    "cpp": "template <typename T>\nT total(const std::vector<T>& items) {\n    T sum{};\n"
    "    for (const auto& item : items) { sum += item; }  // all of them\n    return sum;\n}",
    "go": "func Area(w, h float64) float64 {\n\t// the product\n\ta := w * h\n\treturn a\n}",
    "java": "public int size(List<String> items) {\n    int n = items.size(); // count\n"
    "    return n;\n}",
    "javascript": "function sum(values) {\n  let total = 0; // start\n"
    "  for (const v of values) { total += v; }\n  return total;\n}",
    "ruby": 'def greet(name)\n  # build it\n  message = "hi " + name\n  message\nend',
    "php": "function greet($name) {\n    // build it\n    $message = 'hi ' . $name;\n"
    "    return $message;\n}",
    "csharp": "public int Count(List<int> items) {\n    var n = items.Count; // all\n"
    "    return n;\n}",
}


@pytest.mark.parametrize("language", sorted(FUNCTIONS))
def test_transformed_copies_parse_have_no_comments_and_new_names(language: str) -> None:
    code = FUNCTIONS[language]
    query = transform(code, language)
    assert query is not None and query != code
    assert "//" not in query and "/*" not in query and "#" not in query
    assert "arg_0" in query  # the first parameter
    wrapped = query
    if language in ("java", "csharp"):
        wrapped = "class C {\n" + query + "\n}"
    elif language == "php":
        wrapped = "<?php\n" + query
    assert not parser(language).parse(wrapped.encode()).root_node.has_error, query


def test_renaming_keeps_members_and_types() -> None:
    query = transform(FUNCTIONS["java"], "java")
    # `items.size()`: the method after the dot keeps its name; the parameter is renamed
    assert query == (
        "public int func ( List < String > arg_0 ) {\n"
        "  int arg_1 = arg_0 . size ( ) ;\n"
        "  return arg_1 ;\n"
        "}"
    )


def test_python_clone_renames_bound_names_only_and_drops_docstrings() -> None:
    code = (
        "def scaled(values, factor=2):\n"
        "    # comment\n"
        "    def inner(v):\n"
        '        """Nested docstring."""\n'
        "        return v * factor\n"
        "    return [inner(v) for v in values if isinstance(v, int)]"
    )
    query = python_clone(code)
    # one name, one new name: `v` is both inner's parameter and the loop variable
    assert query == (
        "def func(arg_0, arg_1=2):\n\n"
        "    def arg_2(arg_3):\n"
        "        return arg_3 * arg_1\n"
        "    return [arg_2(arg_3) for arg_3 in arg_0 if isinstance(arg_3, int)]"
    )
    ast.parse(query)  # still Python
    # names already taken are skipped; a parameter that shadows a builtin is renamed
    taken = python_clone("def f(arg_0, object):\n    func = len(object)\n    return func")
    assert taken == "def func_0(arg_1, arg_2):\n    arg_3 = len(arg_2)\n    return arg_3"
    assert python_clone("def broken(:\n    pass") is None


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "local_tree"
    shutil.copytree(FIXTURE, root, ignore=shutil.ignore_patterns("__pycache__"))
    return root


def test_local_c2c_set_is_a_labelled_proxy(tree: Path, tmp_path: Path) -> None:
    extra = {"test_fraction": 0.4, "valid_fraction": 0.3}
    options = DatasetOptions(
        task="c2c",
        cache_dir=tmp_path / "cache",
        data_dir=tree,
        seed=3,
        extra=extra,
        queries="code",
    )
    dataset = loader.load_local(options)
    assert dataset.name == "local"
    assert dataset.meta["protocol"] == "clone-proxy" and "Not XLCoST" in dataset.meta["note"]
    python = dataset.partitions["python"].eval
    # seed 3 puts geometry.py in test (see test_local_dataset): its three pairs qualify
    assert len(python.queries) == 3 and dataset.meta["c2c_sizes"]["python"] == 3
    for qid, query in python.queries.items():
        assert python.qrels[qid] == {qid: 1}
        original = python.corpus[qid]
        assert '"""' in original  # the candidate is the function as written, docstring included
        assert '"""' not in query and query.startswith("def func(")
    cached = Path(dataset.meta["cache_dir"]) / "c2c-v1" / "python" / "test.jsonl"
    rows = [json.loads(line) for line in cached.read_text().splitlines()]
    assert {row["id"] for row in rows} == set(python.queries)


def test_c2c_defaults_to_xlcost_only_when_its_files_are_given(tree: Path, tmp_path: Path) -> None:
    loaded = plugins()
    card = loaded.tasks.get("c2c").load()
    assert card.default_dataset == "xlcost" and card.options["fallback_dataset"] == "local"

    def default_for(data_dir: Path | None) -> str:
        return _default_dataset(card, loaded, data_dir)

    assert default_for(None) == "local"
    assert default_for(tree) == "local"  # a source tree: the proxy of that code
    xlcost = tmp_path / "xlcost"
    (xlcost / "Python").mkdir(parents=True)
    (xlcost / "Python" / "test.jsonl").write_text("")
    assert default_for(xlcost) == "xlcost"
    t2c = loaded.tasks.get("t2c").load()
    assert _default_dataset(t2c, loaded, xlcost) == "local"  # no fallback: the card's default


def test_declarations_have_no_clone_query_and_references_are_renamed() -> None:
    assert transform("int area(int w,\n         int h,\n         int d);", "c") is None
    code = "void add(const Item& item, int n) {\n    total += n;\n    items.push_back(item);\n}"
    query = transform(code, "cpp")
    assert query is not None
    assert query.split("\n")[0] == "void func ( const Item & arg_0 , int arg_1 ) {"
    assert "items . push_back ( arg_0 ) ;" in query


def test_code_queries_are_embedded_as_documents(tree: Path, tmp_path: Path, request) -> None:
    """c2c's card says its queries are code: the encoder gets them in role "code" (its
    document prompt), while t2c's description queries come in role "query"."""
    from functools import partial

    import numpy as np

    from harness.cli import main

    roles: list[tuple[str, str]] = []

    class RoleSpy:
        name, dim, info = "role-spy", 2, {"model": "role-spy"}

        def encode(self, texts, *, role="code", description=""):
            roles.append((description, role))
            rows = np.array([[len(t), 1.0] for t in texts], dtype=np.float32)
            return rows / np.linalg.norm(rows, axis=1, keepdims=True)

    encoders = plugins().encoders
    request.addfinalizer(partial(encoders.restore, encoders.snapshot()))
    encoders.register("role-spy", lambda argument, options: RoleSpy(), plugin="tests")
    for task, query_role in (("c2c", "code"), ("t2c", "query")):
        roles.clear()
        code = main(["run", "--model", "role-spy", "--task", task, "--dataset", "local",
                     "--data-dir", str(tree), "--cache-dir", str(tmp_path / "cache"),
                     "--results", str(tmp_path / "results"), "--bootstrap", "10",
                     "--languages", "python", "--set", "dataset.test_fraction=0.5",
                     "--no-embedding-cache"])  # fmt: skip
        assert code == 0
        assert set(roles) == {("encoding queries", query_role), ("encoding corpus", "code")}
