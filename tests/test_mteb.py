"""MTEB interop (issue 19, item 5), checked with mteb itself and offline.

- ``harness export --format mteb``: the files load as mteb's own ``TaskResult``
  and ``ModelMeta``, in the results repository's layout, with harness's numbers.
- ``harness leaderboard --reported <MTEB files>``: an exported store read back gives
  the numbers it was exported from.
- harness.mteb_model: mteb's own evaluation (``mteb.evaluate``) of a harness encoder,
  on a task built here from the same BEIR files a harness run scores, gives harness's
  numbers: two implementations of the metrics over one model and one data set.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import mteb  # the test extra's; harness itself never imports mteb
import pytest

from harness.cli import main
from harness.leaderboard import build
from harness.mteb_model import MTEBEncoder, mteb_model, role_for
from harness.mteb_read import read_mteb_rows
from harness.mteb_tasks import TASKS, harness_metric, metric_key
from harness.results import find_results, read_examples, read_result, write_result
from tests.tiny_models import make_tiny_bert

NAME = "tiny-org/tiny-bert"
CORPUS = {
    "d1": "def add(a, b): return a + b",
    "d2": "def read(path): return open(path).read()",
    "d3": "def plus(x, y): return x + y",
    "d4": "class Stack: def push(self, item): self.items.append(item)",
    "d5": "def sort_list(items): return sorted(items)",
    "d6": "def parse(text): return text.split(',')",
    "d7": "for item in range(10): print(item)",
    "d8": "values = {'key': [1, 2, 3], 'name': None}",
}
QUERIES = {
    "q1": ("add two numbers", ["d1", "d3"]),
    "q2": ("read a file", ["d2"]),
    "q3": ("sort a list of items", ["d5"]),
    "q4": ("push onto a stack", ["d4"]),
    "q5": ("split text on commas", ["d6"]),
    "q6": ("print ten numbers", ["d7"]),
}
METRICS = ("ndcg@10", "mrr@10", "recall@1", "recall@5", "recall@10")


def write_beir(folder: Path) -> Path:
    (folder / "qrels").mkdir(parents=True)
    corpus = [{"_id": d, "text": t} for d, t in CORPUS.items()]
    queries = [{"_id": q, "text": t} for q, (t, _) in QUERIES.items()]
    for name, rows in (("corpus", corpus), ("queries", queries)):
        (folder / f"{name}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    qrels = "".join(f"{q}\t{d}\t1\n" for q, (_, gold) in QUERIES.items() for d in gold)
    (folder / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\n" + qrels)
    return folder


@pytest.fixture(scope="module")
def measured(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A harness run of a tiny BERT on a BEIR folder named after the CoIR subset."""
    root = tmp_path_factory.mktemp("mteb")
    model = make_tiny_bert(root / "tiny-bert")
    data = write_beir(root / "data" / "cosqa")
    store = root / "store"
    args = ["run", "--model", f"hf:{model}", "--strategy", "none", "--task", "t2c"]
    args += ["--dataset", "coir", "--data-dir", str(data), "--results", str(store)]
    args += ["--cache-dir", str(root / "cache"), "--device", "cpu", "--bootstrap", "100"]
    assert main(args) == 0
    return {"root": root, "model": model, "data": data, "store": store}


def export(store: Path, out: Path, *extra: str) -> int:
    return main(["export", "--format", "mteb", str(store), str(out), *extra])


def test_the_export_is_mtebs_own_task_result_and_model_meta(measured, tmp_path):
    from mteb.models.model_meta import ModelMeta

    assert export(measured["store"], tmp_path, "--task-name", "CosQA", "--model-name", NAME) == 0
    folder = tmp_path / "results" / "tiny-org__tiny-bert" / "no_revision_available"
    assert sorted(p.name for p in folder.iterdir()) == ["CosQA.json", "model_meta.json"]
    loaded = mteb.TaskResult.from_disk(folder / "CosQA.json", load_historic_data=False)
    cosqa = mteb.get_task("CosQA")  # its metadata ships with mteb: no network
    loaded.validate_and_filter_scores(task=cosqa)  # raises unless splits and subsets fit
    assert (loaded.task_name, loaded.dataset_revision) == ("CosQA", cosqa.metadata.revision)
    (entry,) = loaded.scores["test"]
    assert entry["hf_subset"] == "default"
    assert entry["languages"] == cosqa.metadata.hf_subsets_to_langscripts["default"]
    (path,) = find_results(measured["store"])
    result = read_result(path)
    assert entry["main_score"] == result.metrics["ndcg@10"].value
    for name in METRICS:
        assert entry[name.replace("@", "_at_")] == result.metrics[name].value
    assert "mrr" not in entry and loaded.mteb_version is None  # no cutoff; mteb ran nothing
    meta = ModelMeta.model_validate_json_resolved((folder / "model_meta.json").read_text())
    assert (meta.name, meta.embed_dim, meta.adapted_from) == (NAME, 32, None)


def test_an_exported_store_read_back_as_reported_rows_has_its_numbers(measured, tmp_path):
    store = measured["store"]
    assert export(store, tmp_path, "--task-name", "CosQA", "--model-name", NAME) == 0
    (tmp_path / "paths.json").write_text("[]")  # not a task file: a folder scan skips it
    for source in (tmp_path, next((tmp_path / "results").rglob("CosQA.json"))):
        board = build(store, "t2c", metric="ndcg@10", reported=[source])
        (mine,) = [r for r in board.rows if not r.reported]
        (theirs,) = [r for r in board.rows if r.reported]
        assert (theirs.model, theirs.strategy, theirs.dataset) == (NAME, "none", "CosQA")
        assert theirs.cells["cosqa"].value == mine.cells["cosqa"].value
    assert read_mteb_rows(tmp_path, "c2c", "ndcg@10") == []  # CosQA's queries are text
    assert read_mteb_rows(tmp_path, "rc", "exact_match") == []  # not a retrieval task
    # the CLI's repeatable --reported: the TOML file and the MTEB folder together
    text = tmp_path / "board.json"
    args = ["leaderboard", "--task", "t2c", "--results", str(store), "--metric", "mrr@10"]
    args += ["--reported", "--reported", str(tmp_path), "--format", "json", "-o", str(text)]
    assert main(args) == 0
    rows = json.loads(text.read_text())["rows"]
    mine, theirs = (
        next(r for r in rows if r["model"] == m) for m in (f"hf:{measured['model']}", NAME)
    )
    assert theirs["cells"]["cosqa"]["value"] == mine["cells"]["cosqa"]["value"]


def hub_copy(
    measured: dict[str, Path], store: Path, hub_id: str, commit: str, **fields: str
) -> None:
    """The measured result as a run that read `hub_id` at `commit` records it (the hub
    cannot be read here: what a run records is what the export reads)."""
    (path,) = find_results(measured["store"])
    original = read_result(path)
    read = {"hub_id": hub_id, "config": "default", "split": "test", "revision": "main"}
    dataset = {**original.config["dataset"], "source": f"hub:{hub_id}",
               "hub": {"default": {**read, "resolved_revision": commit}}}  # fmt: skip
    copy = replace(original, config={**original.config, "dataset": dataset}, **fields)
    write_result(store / "r.json", copy, read_examples(path, original.examples_sha256))


def test_model_meta_says_whether_the_run_prompted_the_texts(measured, tmp_path):
    (path,) = find_results(measured["store"])
    original = read_result(path)
    recorded = {"with": {"query": "query: ", "document": ""}, "without": {"query": ""}}
    for name, prompts in [*recorded.items(), ("unrecorded", None)]:
        info = {k: v for k, v in original.config["encoder_info"].items() if k != "prompts"}
        info |= {"prompts": prompts} if prompts is not None else {}
        copy = replace(original, config={**original.config, "encoder_info": info})
        write_result(tmp_path / name / "r.json", copy, read_examples(path))
        out = ["--task-name", "CosQA", "--model-name", NAME]
        assert export(tmp_path / name, tmp_path / f"{name}-out", *out) == 0
    uses = {
        name: json.loads(next((tmp_path / f"{name}-out").rglob("model_meta.json")).read_text())[
            "use_instructions"
        ]
        for name in ("with", "without", "unrecorded")
    }
    assert uses == {"with": True, "without": False, "unrecorded": None}


def test_the_task_is_the_one_whose_hub_dataset_the_run_read(measured, tmp_path, capsys):
    hub_copy(measured, tmp_path / "coir", "CoIR-Retrieval/cosqa", "abc123")
    assert export(tmp_path / "coir", tmp_path / "out", "--model-name", NAME) == 0
    (written,) = (tmp_path / "out").rglob("CosQA.json")
    loaded = mteb.TaskResult.from_disk(written, load_historic_data=False)
    assert (loaded.task_name, loaded.dataset_revision) == ("CosQA", "abc123")  # as read
    # harness's `cosqa` read from the hub is CoIR's split, MTEB's CosQA, in partition python
    hub_copy(measured, tmp_path / "cosqa", "CoIR-Retrieval/cosqa", "abc123",
             dataset="cosqa", partition="python")  # fmt: skip
    assert export(tmp_path / "cosqa", tmp_path / "out3", "--model-name", NAME) == 0
    board = build(tmp_path / "cosqa", "t2c", metric="ndcg@10", reported=[tmp_path / "out3"])
    mine, theirs = sorted(board.rows, key=lambda r: r.reported)
    assert list(theirs.cells) == ["python"]  # the column of the run that read CosQA's data
    assert theirs.cells["python"].value == mine.cells["python"].value
    hub_copy(measured, tmp_path / "csn", "code-search-net/code_search_net", "def456")
    code = export(tmp_path / "csn", tmp_path / "out2", "--model-name", NAME)
    one_line_error(capsys, code, "code-search-net/code_search_net", "not an MTEB task's data")


def test_an_adapted_result_is_exported_under_its_own_name_never_the_models(measured, tmp_path):
    from mteb.models.model_meta import ModelMeta

    store = tmp_path / "store"
    (path,) = find_results(measured["store"])
    original = read_result(path)
    for strategy in ("none", "taskwise"):
        copy = replace(original, strategy=strategy)
        where = store / f"{strategy}.json"
        write_result(where, copy, read_examples(path, original.examples_sha256))
    assert export(store, tmp_path / "out", "--task-name", "CosQA", "--model-name", NAME) == 0
    folders = sorted(p.name for p in (tmp_path / "out" / "results").iterdir())
    assert folders == ["tiny-org__tiny-bert", "tiny-org__tiny-bert+taskwise"]
    meta = json.loads(
        next((tmp_path / "out" / "results" / folders[1]).rglob("model_meta.json")).read_text()
    )
    assert (meta["name"], meta["adapted_from"]) == (f"{NAME}+taskwise", NAME)
    assert meta["training_datasets"] == ["CosQA"]  # trained on the task's data: not zero-shot
    assert ModelMeta.model_validate_json_resolved(json.dumps(meta)).training_datasets == {"CosQA"}
    board = build(store, "t2c", metric="ndcg@10", reported=[tmp_path / "out"])
    shown = sorted((r.model, r.strategy) for r in board.rows if r.reported)
    assert shown == [(NAME, "none"), (NAME, "taskwise")]


def cosqa_task(
    queries: dict[str, str], corpus: dict[str, str], qrels: dict[str, dict[str, int]]
) -> Any:
    """mteb's CosQA task (its metadata, its evaluator) over in-memory data: mteb reads
    nothing from the hub for it."""
    from datasets import Dataset
    from mteb.abstasks.retrieval_dataset_loaders import RetrievalSplitData

    class InMemoryCosQA(type(mteb.get_task("CosQA"))):  # type: ignore[misc]
        def load_data(self, num_proc: int | None = None, **kwargs: Any) -> None:
            split = RetrievalSplitData(
                queries=Dataset.from_list([{"id": q, "text": t} for q, t in queries.items()]),
                corpus=Dataset.from_list([{"id": d, "text": t} for d, t in corpus.items()]),
                relevant_docs=qrels,
                top_ranked=None,
            )
            self.dataset = {"default": {"test": split}}
            self.data_loaded = True

    return InMemoryCosQA()


def assert_mteb_scores_are_harness_numbers(model: Any, task: Any, store: Path) -> None:
    evaluated = mteb.evaluate(model, task, cache=None, show_progress_bar=False)
    (task_result,) = evaluated.task_results
    (scores,) = task_result.scores["test"]
    (path,) = find_results(store)
    result = read_result(path)
    for name in METRICS:  # mteb rounds its scores to 5 decimals
        expected = result.metrics[name].value
        assert scores[name.replace("@", "_at_")] == pytest.approx(expected, abs=5e-6), name


def test_mtebs_evaluation_of_the_harness_encoder_gives_harness_numbers(measured):
    """mteb's retrieval evaluator (its own encoding calls, ranking and pytrec_eval
    metrics) on a CosQA task whose data is the BEIR folder the harness run scored."""
    queries = {q: text for q, (text, _) in QUERIES.items()}
    qrels = {q: {d: 1 for d in gold} for q, (_, gold) in QUERIES.items()}
    model = mteb_model(f"hf:{measured['model']}", name=NAME)
    assert_mteb_scores_are_harness_numbers(
        model, cosqa_task(queries, CORPUS, qrels), measured["store"]
    )


SHARED_COSQA = Path(__file__).resolve().parents[2] / "shared" / "data" / "cosqa"


@pytest.mark.slow
@pytest.mark.skipif(not SHARED_COSQA.is_dir(), reason="needs ../shared/data/cosqa (real data)")
def test_on_real_cosqa_dev_mteb_and_harness_agree_for_minilm(tmp_path):
    """The same check on real data and a real model: CoSQA dev (500 queries, the 6,267-
    function codebase), MiniLM. ~15 minutes on 2 shared cores."""
    from harness.data import DatasetOptions
    from harness.plugins.datasets.cosqa import load_cosqa

    args = ["run", "--model", "minilm", "--strategy", "none", "--task", "t2c", "--dataset"]
    args += ["cosqa", "--data-dir", str(SHARED_COSQA), "--split", "dev", "--device", "cpu"]
    assert main([*args, "--results", str(tmp_path / "store"), "--cache-dir", str(tmp_path)]) == 0
    options = DatasetOptions(task="t2c", cache_dir=tmp_path, data_dir=SHARED_COSQA, split="dev")
    split = load_cosqa(options).partitions["python"].eval
    task = cosqa_task(split.queries, split.corpus, split.qrels)
    model = mteb_model("minilm", name="sentence-transformers/all-MiniLM-L6-v2")
    assert_mteb_scores_are_harness_numbers(model, task, tmp_path / "store")


def test_the_adapter_encodes_as_harness_does_in_mtebs_roles(measured):
    from mteb.types import PromptType

    model = mteb_model(f"hf:{measured['model']}", name=NAME)
    texts = ["add two numbers", "def add(a, b): return a + b", "read a file"]
    batches = [{"text": texts[:2]}, {"text": texts[2:]}]
    task = mteb.get_task("CosQA").metadata
    for prompt_type, role in ((PromptType.query, "query"), (PromptType.document, "code")):
        got = model.encode(batches, task_metadata=task, hf_split="test", hf_subset="default",
                           prompt_type=prompt_type)  # fmt: skip
        assert got == pytest.approx(model.encoder.encode(texts, role=role), abs=1e-6)
    code_queries = mteb.get_task("CodeTransOceanDL").metadata.name
    assert role_for(PromptType.query, code_queries) == "code"  # code-to-code: code queries
    assert role_for(PromptType.query, "CosQA") == "query"
    assert role_for(None, "CosQA") == "code"
    assert isinstance(model, MTEBEncoder) and model.mteb_model_meta.name == NAME


def test_the_task_table_is_mtebs_own_metadata():
    for name, known in TASKS.items():
        metadata = mteb.get_task(name).metadata
        assert metadata.dataset["path"] == known.hub_path, name
        assert metadata.revision == known.revision, name
        assert metadata.main_score == "ndcg_at_10", name
        assert metadata.eval_splits == [known.split], name
        expected = {s: list(v) for s, v in known.subsets.items()}
        assert metadata.hf_subsets_to_langscripts == expected, name
    assert {t.metadata.name for t in mteb.get_benchmark("MTEB(Code, v1)").tasks
            if t.metadata.type == "Retrieval"} == set(TASKS)  # fmt: skip


def test_metric_names_map_both_ways():
    assert [metric_key(m) for m in ("ndcg@10", "mrr@10", "recall@5", "mrr", "exact_match")] == [
        "ndcg_at_10", "mrr_at_10", "recall_at_5", None, None
    ]  # fmt: skip
    assert [harness_metric(k) for k in ("ndcg_at_10", "recall_at_1", "main_score", "map")] == [
        "ndcg@10", "recall@1", None, None
    ]  # fmt: skip


def one_line_error(capsys: pytest.CaptureFixture[str], code: int, *words: str) -> None:
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1, err
    assert all(w in err for w in words), err


def test_bad_exports_are_one_line_errors_and_write_nothing(measured, tmp_path, capsys):
    store, out = measured["store"], tmp_path / "out"
    one_line_error(capsys, export(store, out, "--model-name", NAME), "not an MTEB task's data")
    one_line_error(capsys, export(store, out, "--task-name", "CosQA"), "--model-name")
    one_line_error(capsys, export(store, out, "--task-name", "NoSuchTask", "--model-name", NAME),
                   "NoSuchTask", "CosQA")  # fmt: skip
    c2c = ["--task-name", "CodeTransOceanDL", "--model-name", NAME]  # queries that are code
    one_line_error(capsys, export(store, out, *c2c), "queries: text", "has code queries")
    multi = ["--task-name", "CodeSearchNetRetrieval", "--model-name", NAME]
    one_line_error(capsys, export(store, out, *multi), "partition 'cosqa'", "python")
    typo = ["--task-name", "cosqa=CosQA", "--task-name", "csoqa=CosQA", "--model-name", NAME]
    one_line_error(capsys, export(store, out, *typo), "no result of partition 'csoqa'")
    with pytest.raises(SystemExit) as usage:  # argparse's own usage error, in one line
        main(["export", "--format", "beir", str(store), str(out)])
    one_line_error(capsys, int(str(usage.value.code)), "invalid choice: 'beir'")
    limited = tmp_path / "limited"
    (path,) = find_results(store)
    original = read_result(path)
    config = {**original.config, "limit": 3}
    write_result(limited / "r.json", replace(original, config=config), read_examples(path))
    one_line_error(capsys, export(limited, out, "--task-name", "CosQA", "--model-name", NAME),
                   "--limit 3")  # fmt: skip
    mixed = tmp_path / "mixed"  # one model name, two max lengths
    info = {**original.config["encoder_info"], "max_length": 64}
    other = replace(original, partition="apps", config={**original.config, "encoder_info": info})
    write_result(mixed / "a.json", original, read_examples(path))
    write_result(mixed / "b.json", other, read_examples(path))
    names = ["--task-name", "cosqa=CosQA", "--task-name", "apps=AppsRetrieval"]
    one_line_error(capsys, export(mixed, out, *names, "--model-name", NAME), "other settings")
    dev = tmp_path / "dev"
    config = {**original.config, "split": "valid"}
    write_result(dev / "r.json", replace(original, config=config), read_examples(path))
    one_line_error(capsys, export(dev, out, "--task-name", "CosQA", "--model-name", NAME),
                   "split 'valid'", "split 'test'")  # fmt: skip
    assert not out.exists()


def test_a_file_that_is_not_a_task_result_is_refused_in_one_line(measured, tmp_path, capsys):
    args = ["leaderboard", "--task", "t2c", "--results", str(measured["store"])]
    bad = {
        "not-json.json": "{",
        "no-scores.json": json.dumps({"task_name": "CosQA", "dataset_revision": "x"}),
        "no-subset.json": json.dumps(
            {"task_name": "CosQA", "dataset_revision": "x", "scores": {"test": [{"main_score": 1}]}}
        ),
        "percent.json": json.dumps(
            {
                "task_name": "CosQA",
                "dataset_revision": "x",
                "scores": {
                    "test": [
                        {
                            "main_score": 40.0,
                            "mrr_at_10": 40.0,
                            "hf_subset": "default",
                            "languages": [],
                        }
                    ]
                },
            }
        ),  # fmt: skip
    }
    (tmp_path / "empty").mkdir()
    code = main([*args, "--reported", str(tmp_path / "empty")])
    one_line_error(capsys, code, "holds no MTEB result file")
    for name, text in bad.items():
        (tmp_path / name).write_text(text)
        code = main([*args, "--metric", "mrr@10", "--reported", str(tmp_path / name)])
        one_line_error(capsys, code, name)
