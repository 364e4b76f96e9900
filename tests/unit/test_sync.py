"""operations/sync.py: the local tree files.sync would make, in the Tree fact's form, and its parser."""

import hashlib
import os
import tarfile

from facts.files import BIG, Tree
from operations.sync import _local, archive_of


def test_the_fact_reads_types_modes_digests_and_a_big_files_size_and_time():
    digest = "ab" * 32
    output = [
        "d 755 4096 1733500000.5 ",
        "f 644 9 1733500000.5 a.py",
        "d 755 4096 1733500000.5 sub",
        "f 600 0 1733500000.5 sub/b.py",
        "f 644 190012345 1733400000.9876 torch.whl",
        f"{digest}  ./sub/b.py",
        f"{'cd' * 32}  ./a.py",
    ]
    assert Tree().process(output) == {
        "": ("d", "755", None),
        "a.py": ("f", "644", "cd" * 32),
        "sub": ("d", "755", None),
        "sub/b.py": ("f", "600", digest),
        "torch.whl": ("f", "644", "190012345:1733400000"),
    }


def test_a_big_file_is_compared_by_size_and_time_as_the_archive_keeps_it(tmp_path):
    big = tmp_path / "torch.whl"
    big.write_bytes(b"x" * (BIG + 1))
    os.utime(big, (1733400000.9, 1733400000.9))
    assert _local(tmp_path, "644", "755", (), ())["torch.whl"] == ("f", "644", f"{BIG + 1}:1733400000")
    with tarfile.open(archive_of(tmp_path, {"torch.whl": ("f", "644", None)})) as tar:
        assert tar.getmember("torch.whl").mtime == 1733400000


def test_a_missing_directory_is_an_empty_tree():
    assert Tree().default() == {}  # pyinfra's value for a fact whose command printed nothing


def test_the_local_tree_takes_the_given_modes_and_leaves_out_the_excluded(tmp_path):
    (tmp_path / "__pycache__").mkdir()
    (tmp_path / "__pycache__" / "m.cpython-311.pyc").write_bytes(b"x")
    (tmp_path / "m.py").write_text("print(1)\n")
    (tmp_path / "m.pyc").write_bytes(b"x")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "n.py").write_text("")
    tree = _local(tmp_path, "644", "755", ("*.pyc",), ("__pycache__",))
    assert tree == {
        "": ("d", "755", None),
        "m.py": ("f", "644", hashlib.sha256(b"print(1)\n").hexdigest()),
        "sub": ("d", "755", None),
        "sub/n.py": ("f", "644", hashlib.sha256(b"").hexdigest()),
    }


def test_only_the_entries_that_differ_travel_with_their_modes(tmp_path):
    (tmp_path / "a.py").write_text("a\n")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.py").write_text("b\n")
    tree = _local(tmp_path, "755", None, (), ())
    differ = {path: tree[path] for path in ("", "sub/b.py")}  # the root's mode and one file
    with tarfile.open(archive_of(tmp_path, differ)) as tar:
        members = {m.name: (m.type, oct(m.mode), m.uname) for m in tar.getmembers()}
        assert tar.extractfile("sub/b.py").read() == b"b\n"
    assert members == {
        ".": (tarfile.DIRTYPE, "0o755", "root"),
        "sub/b.py": (tarfile.REGTYPE, "0o755", "root"),
    }
