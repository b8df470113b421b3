"""The ``csn`` loader: CodeSearchNet records under both protocols, from files the tests write."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from harness.cli import main
from harness.data import DatasetOptions, RetrievalDataset
from harness.errors import HarnessError, InputError
from harness.plugins.datasets.csn import load_csn
from harness.plugins.retrieval_eval import Retrieval
from harness.task_kind import EvaluationOptions


def csn_record(n: int, language: str = "python", partition: str = "test") -> dict[str, Any]:
    code = f"def f{n}(x):\n    return x + {n}"
    return {
        "repo": "owner/repo",
        "path": f"pkg/m{n}.py",
        "func_name": f"f{n}",
        "original_string": f'def f{n}(x):\n    """Add {n}."""\n    return x + {n}',
        "language": language,
        "code": code,
        "code_tokens": ["def", f"f{n}", "(", "x", ")", ":", "return", "x", "+", str(n)],
        "docstring": f"Add {n} to x.",
        "docstring_tokens": ["Add", str(n), "to", "x", "."],
        "url": f"https://github.com/owner/repo/blob/sha/pkg/m{n}.py#L1-L2",
        "partition": partition,
    }


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    text = "".join(json.dumps(row) + "\n" for row in rows)
    if path.suffix == ".gz":
        with gzip.open(path, "wt", encoding="utf-8") as handle:
            handle.write(text)
    else:
        path.write_text(text)
    return path


def load(root: Path, **kwargs: Any) -> RetrievalDataset:
    return load_csn(DatasetOptions(task="t2c", cache_dir=root, data_dir=root, **kwargs))


def test_codebase_protocol_ranks_each_query_against_the_codebase(tmp_path: Path) -> None:
    root = tmp_path / "csn"
    write_jsonl(root / "python" / "test.jsonl", [csn_record(1), csn_record(2)])
    write_jsonl(root / "python" / "codebase.jsonl", [csn_record(n) for n in (1, 2, 3)])
    write_jsonl(root / "python" / "train.jsonl", [csn_record(9, partition="train")])
    dataset = load(root)
    python = dataset.partitions["python"]
    url = csn_record(1)["url"]
    assert python.eval.queries[url] == "Add 1 to x ."  # docstring_tokens joined
    assert python.eval.corpus[url] == "def f1 ( x ) : return x + 1"
    assert len(python.eval.corpus) == 3 and python.eval.qrels[url] == {url: 1}
    assert python.eval.query_pool is None
    assert [(p.query, p.group) for p in python.train] == [("Add 9 to x .", "owner/repo/pkg/m9.py")]
    assert dataset.meta["protocol"] == "codebase" and dataset.meta["text"] == "tokens"
    raw = load(root, extra={"text": "raw"}).partitions["python"].eval
    assert raw.queries[url] == "Add 1 to x." and raw.corpus[url] == csn_record(1)["code"]


def test_original_protocol_pools_of_gold_and_distractors(tmp_path: Path) -> None:
    root = tmp_path / "csn"
    rows = [csn_record(n, "go") for n in range(7)]
    write_jsonl(root / "go" / "final" / "jsonl" / "test" / "go_test_0.jsonl.gz", rows[:4])
    write_jsonl(root / "go" / "final" / "jsonl" / "test" / "go_test_1.jsonl.gz", rows[4:])
    dataset = load(root, extra={"protocol": "original", "pool_size": 3})
    go = dataset.partitions["go"].eval
    # 7 records make two whole pools of 3; the 7th is dropped, as CodeBERT's script does
    assert len(go.queries) == len(go.corpus) == 6
    assert go.query_pool == go.corpus_pool
    assert [go.query_pool[r["url"]] for r in rows[:6]] == ["0", "0", "0", "1", "1", "1"]
    assert dataset.meta["pool_size"] == 3 and dataset.meta["protocol"] == "original"
    with pytest.raises(InputError, match=r"go_test_0\.jsonl\.gz: 7 records make no pool of 10"):
        load(root, extra={"protocol": "original", "pool_size": 10})


def test_pools_rank_each_query_only_among_its_pool(tmp_path: Path) -> None:
    root = tmp_path / "csn"
    rows = [csn_record(n, "ruby") for n in range(4)]
    write_jsonl(root / "ruby" / "test.jsonl", rows)
    split = load(root, extra={"protocol": "original", "pool_size": 2}).partitions["ruby"].eval

    class Encoder:
        # every code scores the same against every query except that code 3 beats all:
        # pooled, only queries 2 and 3 (pool 1) ever see it
        def encode(self, texts: list[str], role: str, **_: object) -> np.ndarray:
            if role == "query":
                return np.ones((len(texts), 1), dtype=np.float32)
            return np.array([[2.0] if "f3" in t else [1.0] for t in texts], dtype=np.float32)

    evaluation = Retrieval().evaluate(Encoder(), split, EvaluationOptions())
    ranks = [row["rank"] for row in evaluation.per_example]
    # pool 0: two tied codes, pessimistic rank 2 each; pool 1: code 3 first
    assert ranks == [2, 2, 2, 1] and evaluation.n_candidates == 2


def test_mined_output_reads_as_csn(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    fixture = Path(__file__).parent / "fixtures" / "local_tree"
    out = tmp_path / "mined"
    args = ["data", "mine", str(fixture), "--out", str(out), "--test-fraction", "0.5"]
    assert main([*args, "--valid-fraction", "0", "--seed", "1"]) == 0
    capsys.readouterr()
    dataset = load(out, languages=["python"])
    python = dataset.partitions["python"].eval
    assert python.queries and set(python.qrels) == set(python.queries)


def test_validation_errors_name_file_and_line(tmp_path: Path) -> None:
    root = tmp_path / "csn"
    test_file = write_jsonl(root / "python" / "test.jsonl", [csn_record(1), csn_record(1)])
    write_jsonl(root / "python" / "codebase.jsonl", [csn_record(1)])
    with pytest.raises(InputError, match=r"test\.jsonl:2: duplicate query id .* \(first at .*:1\)"):
        load(root)
    write_jsonl(test_file, [csn_record(2)])
    with pytest.raises(InputError, match=r"test\.jsonl:1: gold '.*m2\.py.*' of query .* is not in"):
        load(root)
    write_jsonl(test_file, [{**csn_record(1), "docstring_tokens": None}])
    with pytest.raises(InputError, match=r"test\.jsonl:1: field 'docstring_tokens' must be a list"):
        load(root)
    test_file.write_text('{"url": \n')
    with pytest.raises(InputError, match=r"test\.jsonl:1: not JSON"):
        load(root)
    test_file.write_text("[]\n")
    with pytest.raises(InputError, match=r"test\.jsonl:1: not a JSON object"):
        load(root)
    write_jsonl(test_file, [csn_record(1)])
    (root / "python" / "codebase.jsonl").unlink()
    with pytest.raises(InputError, match=r"missing codebase\.jsonl for the codebase protocol"):
        load(root)
    with pytest.raises(InputError, match=r"no language folder has the valid split"):
        load(root, split="valid")
    with pytest.raises(HarnessError, match=r"unknown protocol 'graph'"):
        load(root, extra={"protocol": "graph"})
    with pytest.raises(HarnessError, match=r"pool_size must be a whole number >= 2"):
        load(root, extra={"protocol": "original", "pool_size": 1})


def test_offline_without_files_names_the_layout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    options = DatasetOptions(task="t2c", cache_dir=tmp_path, languages=["go"])
    with pytest.raises(HarnessError, match=r"hub is offline.*<lang>/codebase\.jsonl"):
        load_csn(options)


def test_hub_rows_are_mapped_to_codesearchnet_fields(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import datasets

    from harness.plugins.datasets import hub

    record = csn_record(1)
    row = {
        "func_code_url": record["url"],
        "func_documentation_tokens": record["docstring_tokens"],
        "func_code_tokens": record["code_tokens"],
        "func_documentation_string": record["docstring"],
        "func_code_string": record["code"],
        "repository_name": "owner/repo",
        "func_path_in_repository": "pkg/m1.py",
    }
    asked: list[tuple[object, ...]] = []

    def fake_load(hub_id: str, config: str, split: str, revision: str | None) -> list[dict]:
        asked.append((hub_id, config, split, revision))
        return [row, {**row, "func_code_url": row["func_code_url"] + "x"}]

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("HF_DATASETS_OFFLINE", raising=False)
    monkeypatch.setattr(datasets, "load_dataset", fake_load)
    monkeypatch.setattr(hub, "_resolved_revision", lambda hub_id, revision: "abc123")
    options = DatasetOptions(
        task="t2c",
        cache_dir=tmp_path,
        languages=["python"],
        extra={"protocol": "original", "pool_size": 2, "revision": "v1"},
    )
    dataset = load_csn(options)
    assert asked == [("code-search-net/code_search_net", "python", "test", "v1")]
    assert dataset.partitions["python"].eval.queries[record["url"]] == "Add 1 to x ."
    assert dataset.meta["source"]["python/test"]["resolved_revision"] == "abc123"


def spaced(text: str) -> list[str]:
    return text.split()


# A Python record as CodeSearchNet ships it (proycon/pynlpl, train): `code` is
# `original_string` and keeps the docstring, the `def` line unindented and the body at the
# method's indentation; `code_tokens` leave the docstring out.
SETTEXT = {
    "repo": "proycon/pynlpl",
    "path": "pynlpl/formats/folia.py",
    "func_name": "AbstractElement.settext",
    "original_string": (
        "def settext(self, text, cls='current'):\n"
        '        """Set the text for this element.\n'
        "\n"
        "        Arguments:\n"
        "            text (str): The text\n"
        "            cls (str): The class of the text, defaults to ``current``.\n"
        '        """\n'
        "        self.replace(TextContent, value=text, cls=cls)"
    ),
    "language": "python",
    "code": "",  # = original_string, below
    "code_tokens": spaced(
        "def settext ( self , text , cls = 'current' ) : "
        "self . replace ( TextContent , value = text , cls = cls )"
    ),
    "docstring": (
        "Set the text for this element.\n\n        Arguments:\n            text (str): The text\n"
        "            cls (str): The class of the text, defaults to ``current``."
    ),
    "docstring_tokens": ["Set", "the", "text", "for", "this", "element", "."],
    "url": "https://github.com/proycon/pynlpl/blob/7707f69a/pynlpl/formats/folia.py#L1357-L1364",
    "partition": "train",
}
SETTEXT["code"] = SETTEXT["original_string"]
# Python 2 (`print x`, `except E, e`), which ast cannot parse; a one-line docstring.
LEGACY = {
    **SETTEXT,
    "func_name": "show",
    "original_string": (
        "def show(self, out=None):\n"
        "        '''Print the element, or write it to out.'''\n"
        "        try:\n"
        "            print >>out, self.text  # to a file\n"
        "        except IOError, e:\n"
        "            print e"
    ),
    "code_tokens": spaced(
        "def show ( self , out = None ) : try : print >> out , self . text "
        "except IOError , e : print e"
    ),
    "docstring": "Print the element, or write it to out.",
    "docstring_tokens": ["Print", "the", "element", ",", "or", "write", "it", "to", "out", "."],
    "url": "https://github.com/proycon/pynlpl/blob/7707f69a/pynlpl/formats/folia.py#L1400-L1406",
}
LEGACY["code"] = LEGACY["original_string"]


def test_raw_python_code_leaves_the_docstring_out_of_the_document(tmp_path: Path) -> None:
    root = tmp_path / "csn"
    rows = [{**SETTEXT, "partition": "test"}, {**LEGACY, "partition": "test"}]
    write_jsonl(root / "python" / "test.jsonl", rows)
    write_jsonl(root / "python" / "codebase.jsonl", rows)
    write_jsonl(root / "python" / "train.jsonl", [SETTEXT])
    raw = load(root, extra={"text": "raw"}).partitions["python"]
    # the docstring's lines are dropped, every other line kept as it is (by hand)
    assert raw.eval.corpus[SETTEXT["url"]] == (
        "def settext(self, text, cls='current'):\n"
        "        self.replace(TextContent, value=text, cls=cls)"
    )
    assert raw.eval.corpus[LEGACY["url"]] == (
        "def show(self, out=None):\n"
        "        try:\n"
        "            print >>out, self.text  # to a file\n"
        "        except IOError, e:\n"
        "            print e"
    )
    assert raw.eval.queries[SETTEXT["url"]] == SETTEXT["docstring"]  # the query is untouched
    for url, code in raw.eval.corpus.items():
        assert raw.eval.queries[url].splitlines()[0] not in code
    (pair,) = raw.train  # training pairs are read the same way
    assert pair.positive == raw.eval.corpus[SETTEXT["url"]]
    # tokens: CodeSearchNet's code_tokens already leave the docstring out
    tokens = load(root).partitions["python"].eval
    assert tokens.corpus[SETTEXT["url"]] == " ".join(SETTEXT["code_tokens"])
    assert "Set the text" not in tokens.corpus[SETTEXT["url"]]


def test_raw_code_of_other_languages_is_kept_whole(tmp_path: Path) -> None:
    # CodeSearchNet keeps Go/Java/JavaScript/PHP/Ruby doc comments outside `code`; a string
    # that opens a Ruby or JavaScript body is code there, not a docstring to remove
    root = tmp_path / "csn"
    code = 'function greet(name) {\n    "use strict";\n    return "hi " + name;\n}'
    row = {**csn_record(1, "javascript"), "code": code, "original_string": code}
    write_jsonl(root / "javascript" / "test.jsonl", [row])
    write_jsonl(root / "javascript" / "codebase.jsonl", [row])
    raw = load(root, extra={"text": "raw"}).partitions["javascript"].eval
    assert raw.corpus[row["url"]] == code
