"""Directory trees copied to the nodes (job scripts, the benchmark, a wheelhouse).

files.sync reads a fact per file and per directory on every run; here one fact (Tree) reads the
whole remote tree, and files.sync runs only when it differs from the local one.
"""

from __future__ import annotations

import hashlib
import os
from fnmatch import fnmatch
from pathlib import Path

from pyinfra import host
from pyinfra.api.util import get_path_permissions_mode
from pyinfra.operations import files

from facts.files import Tree


def sync(name: str, src: Path, dest: str, mode=None, dir_mode=None, exclude=(), exclude_dir=()):
    """files.sync (delete=True) of `src` to `dest`, left out when every file, its content and every
    mode already match."""
    remote = {
        path: entry
        for path, entry in host.get_fact(Tree, path=dest).items()
        if not _excluded(path, exclude, exclude_dir)
    }
    wanted = _local(Path(src), mode, dir_mode, exclude, exclude_dir)
    # files.sync leaves extra directories in place: only extra files and links count as a difference
    extra = {path for path, entry in remote.items() if path not in wanted and entry[0] != "d"}
    if extra or any(remote.get(path) != entry for path, entry in wanted.items()):
        files.sync(
            name=name,
            src=str(src),
            dest=dest,
            mode=mode,
            dir_mode=dir_mode,
            delete=True,
            exclude=list(exclude) or None,
            exclude_dir=list(exclude_dir) or None,
        )


def _excluded(path: str, exclude, exclude_dir) -> bool:
    parts = path.split("/")
    return any(fnmatch(parts[-1], p) for p in exclude) or any(
        fnmatch("/".join(parts[: i + 1]), p) for i in range(len(parts)) for p in exclude_dir
    )


def _local(src: Path, mode, dir_mode, exclude, exclude_dir) -> dict:
    """The tree files.sync makes of `src`, in Tree's form."""
    tree = {"": ("d", dir_mode or mode or _mode(src), None)}
    for dirpath, dirnames, filenames in os.walk(src):
        here = Path(dirpath).relative_to(src).as_posix()
        here = "" if here == "." else here
        dirnames[:] = [d for d in dirnames if not _excluded(f"{here}/{d}".lstrip("/"), (), exclude_dir)]
        for d in dirnames:
            tree[f"{here}/{d}".lstrip("/")] = ("d", dir_mode or mode or _mode(Path(dirpath, d)), None)
        for f in filenames:
            path = f"{here}/{f}".lstrip("/")
            if not _excluded(path, exclude, ()):
                local = Path(dirpath, f)
                digest = hashlib.sha256(local.read_bytes()).hexdigest()
                tree[path] = ("f", mode or _mode(local), digest)
    return tree


def _mode(path: Path) -> str:
    """The mode files.sync gives a file or directory it was not given one for, as find prints it."""
    return str(get_path_permissions_mode(str(path)))
