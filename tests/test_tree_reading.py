"""Reading a user's tree (issue 17): regular files only, names that are text, and the
loaders' smaller rules (a qrels header told by its content, XLCoST found by any split).

Every walker of a tree is checked on the same tree: a FIFO that its filter would take
is never listed, and every reader refuses one without blocking (a symlink to a FIFO, as
a git checkout may track, gets past a walk). `never_blocked` fails a test whose reader
blocked, and unblocks it so that the old code fails instead of hanging.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from pathlib import Path

import pytest
from test_bad_input import never_blocked

from harness.errors import InputError
from harness.plugins.datasets import coir, xlcost
from harness.plugins.hypernet import repo_encoder
from harness.plugins.local_dataset import completion_mining, mining, repositories, sources
from harness.plugins.rag import chunks
from harness.tree import NotRegularFile, check_name, open_regular, read_regular_text

CODE = 'def f(x):\n    """Return x plus one, for every x that is given."""\n    return x + 1\n'


# --- harness.tree: what is a regular file ---------------------------------------------------------


def fifo(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    os.mkfifo(path)
    return path


def unix_socket(path: Path) -> Path:
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(path))
    server.close()  # the socket file stays
    return path


SPECIAL = {
    "fifo": (fifo, "not a regular file: a FIFO"),
    "folder": (lambda p: (p.mkdir(), p)[1], "not a regular file: a folder"),
    "char-device": (lambda p: (p.symlink_to("/dev/zero"), p)[1], "a character device"),
    "socket": (unix_socket, ""),  # a socket cannot be opened at all: any OSError
}


@pytest.mark.parametrize("kind", list(SPECIAL))
def test_open_regular_refuses_what_is_not_a_regular_file(tmp_path: Path, kind: str):
    make, message = SPECIAL[kind]
    path = make(tmp_path / "x.py")
    with never_blocked([path] if kind == "fifo" else []), pytest.raises(OSError) as raised:
        open_regular(path)
    assert message in str(raised.value)


def test_a_regular_file_and_a_link_to_one_read_as_path_read_text_reads_them(tmp_path: Path):
    (tmp_path / "a.py").write_bytes(b"x = 1\r\ny = 2\rz = 3\n")
    (tmp_path / "link.py").symlink_to(tmp_path / "a.py")
    for name in ("a.py", "link.py"):
        path = tmp_path / name
        assert (
            read_regular_text(path) == path.read_text(encoding="utf-8") == "x = 1\ny = 2\nz = 3\n"
        )


# --- every walker lists regular files only --------------------------------------------------------


def tree_with_fifos(root: Path) -> Path:
    """Two files each walker takes (a source and a test), and a FIFO beside each."""
    for folder in ("pkg", "tests"):
        (root / folder).mkdir(parents=True)
    (root / "pkg" / "mod.py").write_text(CODE)
    (root / "tests" / "test_mod.py").write_text("def test_f():\n    assert f(1) == 2\n")
    fifo(root / "pkg" / "blocked.py")
    fifo(root / "tests" / "test_blocked.py")
    return root


WALKERS: dict[str, tuple[Callable[[Path], list[str]], list[str]]] = {
    "local t2c sources": (lambda root: list(sources.tree_source(root).files), ["pkg/mod.py"]),
    "local rc repositories": (
        lambda root: list(repositories.walked("r", root).files),
        ["tests/test_mod.py"],
    ),
    "rag chunks": (
        lambda root: chunks.source_files(root, include_tests=True, max_file_bytes=10**6),
        ["pkg/mod.py", "tests/test_mod.py"],
    ),
    "hypernet repository reader": (
        lambda root: repo_encoder.source_files(root, repo_encoder.ReaderSettings()),
        ["pkg/mod.py"],
    ),
}


@pytest.mark.parametrize("walker", list(WALKERS))
def test_a_walk_lists_regular_files_only(tmp_path: Path, walker: str):
    walk, expected = WALKERS[walker]
    root = tree_with_fifos(tmp_path / "tree")
    assert walk(root) == expected


# --- every reader refuses a FIFO without blocking -------------------------------------------------


def read_by_t2c_miner(path: Path) -> object:
    task = mining.FileTask(str(path.parent), "r", path.name, "test", max_bytes=10**6)
    return mining.mine_file((task, frozenset({"python"})))


def read_by_rc_miner(path: Path) -> object:
    report = completion_mining.RepoReport()
    return completion_mining._read(path, 10**6, report), report.unreadable


def read_by_rag(path: Path) -> object:
    return chunks.repository_chunks(
        path.parent,
        [path.name],
        include_tests=True,
        max_file_bytes=10**6,
        lines=10,
        overlap=0,
        max_chunks=8,
    )


READERS: dict[str, tuple[Callable[[Path], object], object]] = {
    "local t2c miner": (read_by_t2c_miner, (None, [])),  # unreadable: no language, no pairs
    "local rc miner": (read_by_rc_miner, (None, 1)),  # counted unreadable
    "rag chunks": (read_by_rag, []),
}


@pytest.mark.parametrize("reader", list(READERS))
def test_a_reader_given_a_link_to_a_fifo_does_not_block(tmp_path: Path, reader: str):
    read, expected = READERS[reader]
    pipe = fifo(tmp_path / "pipe")
    (tmp_path / "tree").mkdir()
    link = tmp_path / "tree" / "test_linked.py"
    link.symlink_to(pipe)
    with never_blocked([pipe]):
        assert read(link) == expected


def test_the_hypernet_reader_refuses_a_link_to_a_fifo(tmp_path: Path):
    pipe = fifo(tmp_path / "pipe")
    with never_blocked([pipe]), pytest.raises(NotRegularFile):
        read_regular_text(pipe, errors="replace")  # what RepositoryReader reads each file with


# --- names that are not UTF-8 ---------------------------------------------------------------------

NAMES = [  # (a folder, a file name), one of them not UTF-8; the byte shown
    (b"pkg", b"caf\xe9", "\\xe9", "0xe9"),
    (b"p\xffkg", b"mod", "\\xff", "0xff"),
]


@pytest.mark.parametrize("walker", list(WALKERS))
@pytest.mark.parametrize(("folder", "name", "shown", "byte"), NAMES, ids=["file", "folder"])
def test_a_name_that_is_not_utf8_is_refused_naming_it(tmp_path, walker, folder, name, shown, byte):
    root = tmp_path / "tree"
    under = os.fsencode(root) + b"/" + folder + b"/"
    Path(os.fsdecode(under)).mkdir(parents=True)
    Path(os.fsdecode(under + name + b".py")).write_text(CODE)  # a source
    Path(os.fsdecode(under + b"test_" + name + b".py")).write_text("def test_f():\n    pass\n")
    with pytest.raises(InputError) as raised:
        WALKERS[walker][0](root)
    message = str(raised.value)
    assert message.startswith(f"{root}/") and shown in message  # printable: \\xNN
    assert message.endswith(f": the name is not UTF-8 (byte {byte}); rename it")


def test_a_name_no_walker_takes_is_not_checked(tmp_path: Path):
    root = tmp_path / "tree"
    (root / "pkg").mkdir(parents=True)
    (root / "pkg" / "mod.py").write_text(CODE)
    Path(os.fsdecode(os.fsencode(root) + b"/notes-\xe9.txt")).write_text("not code\n")
    assert sources.tree_source(root).files == ("pkg/mod.py",)


def test_check_name_shows_the_bad_byte_escaped():
    with pytest.raises(InputError, match=r"^/d/caf\\xe9\.py: the name is not UTF-8 \(byte 0xe9\)"):
        check_name(Path("/d"), os.fsdecode(b"caf\xe9.py"))
    assert check_name(Path("/d"), "café.py") == "café.py"  # UTF-8 beyond ASCII is fine


# --- a CoIR qrels header is told by its content ---------------------------------------------------

QRELS = [
    ("query-id\tcorpus-id\tscore\nq1\td1\t1\n", [(2, "q1", "d1", 1)]),
    ("qid\tdocid\trel\nq1\td1\t1\n", [(2, "q1", "d1", 1)]),  # any words: not a number
    ("\n\nquery-id\tcorpus-id\tscore\nq1\td1\t2\n", [(4, "q1", "d1", 2)]),
    ("q1\td1\t1\nq2\td2\t0\n", [(1, "q1", "d1", 1), (2, "q2", "d2", 0)]),  # no header
    ("q1\td1\t-1\n", [(1, "q1", "d1", -1)]),
]


@pytest.mark.parametrize(("text", "rows"), QRELS, ids=["beir", "other-words", "blank-first",
                                                       "no-header", "negative"])  # fmt: skip
def test_a_qrels_header_is_recognised_by_its_content(tmp_path: Path, text: str, rows):
    (tmp_path / "test.tsv").write_text(text)
    assert coir._qrels(tmp_path / "test.tsv") == rows


@pytest.mark.parametrize("score", ["0.5", "1.0", "nan", "inf", "1e3"])
def test_a_first_row_whose_score_is_a_number_but_no_integer_is_refused(tmp_path, score):
    (tmp_path / "test.tsv").write_text(f"q1\td1\t{score}\nq2\td2\t1\n")
    with pytest.raises(InputError, match=f":1: score '{score}' is not an integer"):
        coir._qrels(tmp_path / "test.tsv")


# --- XLCoST is found by any of its split files ----------------------------------------------------


@pytest.mark.parametrize(
    ("files", "present"),
    [
        (["Python/test.jsonl"], True),
        (["Python/val.jsonl"], True),
        (["C++/train.jsonl"], True),
        (["Python/notes.txt"], False),
        (["python/val.jsonl"], False),  # the release's folder names: "Python", not "python"
        ([], False),
    ],
)
def test_xlcost_is_present_with_any_split_file(tmp_path: Path, files: list[str], present: bool):
    for name in files:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("")
    assert xlcost.is_present(tmp_path) is present
