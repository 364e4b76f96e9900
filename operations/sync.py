"""Directory trees copied to the nodes (job scripts, the benchmark, a wheelhouse).

files.sync reads a fact per file and per directory on every run and uploads each file with its own
commands (some 500 for a wheelhouse of a hundred wheels); here one fact (Tree) reads the whole remote
tree, and only the files that differ travel, in one archive unpacked by one command.
"""

from __future__ import annotations

import atexit
import hashlib
import json
import os
import shlex
import tarfile
import tempfile
from fnmatch import fnmatch
from functools import cache
from pathlib import Path

from pyinfra import host
from pyinfra.api.util import get_path_permissions_mode
from pyinfra.operations import files, server

from facts.files import BIG, Tree


def sync(name: str, src: Path, dest: str, mode=None, dir_mode=None, exclude=(), exclude_dir=()):
    """`dest` made to hold `src` as files.sync (delete=True) would: each file with its content and
    mode (`mode`, `dir_mode`, or the local one), no other file; left out where all already match."""
    remote = {
        path: entry
        for path, entry in host.get_fact(Tree, path=dest).items()
        if not _excluded(path, exclude, exclude_dir)
    }
    wanted = _local(Path(src), mode, dir_mode, tuple(exclude), tuple(exclude_dir))
    # files.sync leaves extra directories in place: only extra files and links are removed
    extra = sorted(path for path, entry in remote.items() if path not in wanted and entry[0] != "d")
    differ = {path: entry for path, entry in wanted.items() if remote.get(path) != entry}
    if not (extra or differ):
        return
    commands = [f"mkdir -p {shlex.quote(dest)}"]
    if differ:
        archive = archive_of(Path(src), differ)
        upload = f"{dest.rstrip('/')}.upload.tar"  # beside dest, where only root writes (not /tmp)
        files.put(
            name=f"{name}: upload {len(differ)} changed",
            src=str(archive),
            dest=upload,
            user="root",
            group="root",
            mode="600",
        )
        commands += [f"tar -x --no-same-owner -f {shlex.quote(upload)} -C {shlex.quote(dest)}"]
        commands.append(f"rm -f {shlex.quote(upload)}")
    if extra:
        commands.append(f"cd {shlex.quote(dest)} && rm -f -- {' '.join(shlex.quote(p) for p in extra)}")
    server.shell(name=name, commands=commands)


def archive_of(src: Path, entries: dict) -> Path:
    """A tar of these entries of `src` (its Tree form: "" is `src` itself) with their modes, made
    once per deploy in this machine's temporary folder and removed when the deploy ends."""
    digest = hashlib.sha256(json.dumps([str(src), sorted(entries.items())]).encode()).hexdigest()[:16]
    path = Path(tempfile.gettempdir()) / f"gpucluster-sync-{digest}.tar"
    if not path.exists():
        partial = path.with_suffix(".partial")
        with tarfile.open(partial, "w") as tar:
            for name, (kind, mode, _) in sorted(entries.items()):
                info = tar.gettarinfo(src / name, arcname=name or ".")
                info.mode, info.uid, info.gid, info.uname, info.gname = int(mode, 8), 0, 0, "root", "root"
                info.mtime = int(info.mtime)  # whole seconds, as Tree compares a big file
                if kind == "f":
                    with open(src / name, "rb") as data:
                        tar.addfile(info, data)
                else:
                    tar.addfile(info)
        partial.rename(path)
        atexit.register(path.unlink, missing_ok=True)
    return path


def _excluded(path: str, exclude, exclude_dir) -> bool:
    parts = path.split("/")
    return any(fnmatch(parts[-1], p) for p in exclude) or any(
        fnmatch("/".join(parts[: i + 1]), p) for i in range(len(parts)) for p in exclude_dir
    )


@cache
def _local(src: Path, mode, dir_mode, exclude: tuple, exclude_dir: tuple) -> dict:
    """The tree files.sync makes of `src`, in Tree's form (read once per deploy, not once per node)."""
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
                size = local.stat().st_size
                if size > BIG:  # the archive keeps the modification time: the node's copy has the same
                    content = f"{size}:{int(local.stat().st_mtime)}"
                else:
                    content = hashlib.sha256(local.read_bytes()).hexdigest()
                tree[path] = ("f", mode or _mode(local), content)
    return tree


def _mode(path: Path) -> str:
    """The mode files.sync gives a file or directory it was not given one for, as find prints it."""
    return str(get_path_permissions_mode(str(path)))
