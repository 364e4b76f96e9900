"""pyinfra's files operations; files.put, files.directory and files.file each skipped without
reading a fact where the host's one reading shows the file already as wanted
(operations/reading.py). The arguments and results are pyinfra's; any other name here is
pyinfra's own."""

from __future__ import annotations

import hashlib
from pathlib import Path

from pyinfra.operations import files

from operations.reading import path_differs, planned, with_given


def put(*, src, dest: str, user=None, group=None, mode=None, _if=None, **kwargs):
    """files.put; `src` is a StringIO/BytesIO or a local path."""
    if planned():
        return files.put(src=src, dest=dest, user=user, group=group, mode=mode, _if=_if, **kwargs)
    content = src.getvalue() if hasattr(src, "getvalue") else Path(src).read_bytes()
    if isinstance(content, str):
        content = content.encode()
    differs = path_differs(dest, "f", hashlib.sha1(content).hexdigest(), user, group, mode)
    _if = with_given(differs, _if)
    return files.put(src=src, dest=dest, user=user, group=group, mode=mode, _if=_if, **kwargs)


def directory(*, path: str, user=None, group=None, mode=None, _if=None, **kwargs):
    """files.directory."""
    if planned():
        return files.directory(path=path, user=user, group=group, mode=mode, _if=_if, **kwargs)
    differs = path_differs(path, "d" if kwargs.get("present", True) else "-", None, user, group, mode)
    _if = with_given(differs, _if)
    return files.directory(path=path, user=user, group=group, mode=mode, _if=_if, **kwargs)


def file(*, path: str, present: bool = True, user=None, group=None, mode=None, _if=None, **kwargs):
    """files.file: present with this owner and mode, or absent."""
    if planned():
        return files.file(path=path, present=present, user=user, group=group, mode=mode, _if=_if, **kwargs)
    differs = path_differs(path, "f" if present else "-", None, user, group, mode)
    _if = with_given(differs, _if)
    return files.file(path=path, present=present, user=user, group=group, mode=mode, _if=_if, **kwargs)


def __getattr__(name: str):
    return getattr(files, name)
