"""`harness plot`: one figure per call, from the report's own data (the store of
tests/test_reportpage.py), as SVG, PNG or PDF; a clear error when it cannot draw."""

from __future__ import annotations

import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from harness.cli import main
from tests.test_reportpage import write_store

FAST = ["--permutations", "200"]
MAGIC = {".png": b"\x89PNG\r\n\x1a\n", ".pdf": b"%PDF-"}


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("plot") / "results"
    write_store(root)
    return root


@pytest.mark.parametrize(
    ("kind", "task", "wanted"),
    [
        ("bars", "rc", ["a", "b", "mean", "taskwise"]),
        ("forest", "rc", ["minus none", "hypernet-evo"]),
        ("cost", "rc", ["seconds per request", "requests served"]),
        ("track", "rc", ["commits applied", "hypernet-evo"]),
        ("loss", "rc", ["training loss", "adapter_training t1", "hypernet.training"]),
        ("bars", "t2c", ["seeds=0,1,2"]),
    ],
)
def test_each_kind_draws_its_data_as_svg(
    store: Path, tmp_path: Path, kind: str, task: str, wanted: list[str]
):
    out = tmp_path / f"{kind}.svg"
    assert main(["plot", str(store), "--task", task, "--kind", kind, "-o", str(out), *FAST]) == 0
    root = ET.parse(out).getroot()  # well-formed XML
    assert root.tag.endswith("svg")
    # matplotlib writes text as glyph paths with the string in a comment or as text: both
    # carry the labels' characters; the SVG's own text nodes and comments are searched
    text = out.read_text(encoding="utf-8")
    for label in wanted:
        assert label in text, label


@pytest.mark.parametrize("suffix", [".png", ".pdf"])
def test_png_and_pdf(store: Path, tmp_path: Path, suffix: str):
    out = tmp_path / f"forest{suffix}"
    argv = ["plot", str(store), "--task", "rc", "--kind", "forest", "--column", "a", *FAST]
    assert main([*argv, "-o", str(out)]) == 0
    assert out.read_bytes().startswith(MAGIC[suffix]) and out.stat().st_size > 2000


def test_one_store_one_figure_the_same_bytes(store: Path, tmp_path: Path):
    outs = [tmp_path / f"{i}.svg" for i in range(2)]
    for out in outs:
        argv = ["plot", str(store), "--task", "rc", "--kind", "bars", *FAST]
        assert main([*argv, "-o", str(out)]) == 0
    assert outs[0].read_bytes() == outs[1].read_bytes()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--task", "t2c", "--kind", "track"], "no track data"),
        (["--kind", "bars"], "several tasks have bars data"),
        (["--task", "rc", "--kind", "bars", "--column", "zz"], "--column 'zz': not a column"),
        (["--task", "rc", "--kind", "bars", "-o", "{tmp}/fig.jpg"], "a figure is .svg, .png"),
        (["--task", "rc", "--kind", "bars", "-o", "{tmp}/no/fig.svg"], "no such folder"),
    ],
)
def test_what_cannot_be_drawn_is_one_line_and_exit_2(
    store: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
):
    out = ["-o", str(tmp_path / "fig.svg")] if "-o" not in argv else []
    filled = [a.format(tmp=tmp_path) for a in argv]
    assert main(["plot", str(store), *filled, *out, *FAST]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    assert list(tmp_path.iterdir()) == []  # nothing half-written


def test_without_matplotlib_plot_says_so_and_the_page_still_works(
    store: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
):
    for name in [m for m in sys.modules if m == "matplotlib" or m.startswith("matplotlib.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib -> ImportError
    fig = tmp_path / "fig.svg"
    assert main(["plot", str(store), "--task", "rc", "--kind", "bars", "-o", str(fig)]) == 2
    err = capsys.readouterr().err
    assert "needs matplotlib" in err and "harness[plot]" in err and not fig.exists()
    page = tmp_path / "report.html"
    assert main(["report", str(store), "-o", str(page), "--permutations", "200"]) == 0
    assert "<svg" in page.read_text()
