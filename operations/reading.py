"""One reading of a host's files and packages, shared by the operations that would each read them.

On a converged cluster every files.put, files.directory and apt.packages reads two or three facts
at run time to find nothing to do: about 150 commands on the controller, one after another, each
through sudo. Here each such operation names its path or packages while the deploy is planned;
the first of them to run on a host reads all of them in one command (and the installed packages
in one more), and an operation whose path or packages the reading shows in place is skipped
(its `_if`). A reading holds only until an operation changes something on that host (a package
install writes files); after a change the next such operation reads again. Anything the reading
cannot settle (a link, a path named only at run time) leaves the operation to read for itself.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from pyinfra import host, state
from pyinfra.facts.deb import DebPackages

from facts.files import PathStates


@dataclass
class _Host:
    paths: set[str] = field(default_factory=set)  # named while planning
    digests: set[str] = field(default_factory=set)  # of those, the files whose content counts
    changes: int = -1  # the host's changed operations when last read
    found: dict = field(default_factory=dict)
    packages: dict | None = None


_HOSTS: dict[tuple[int, str], _Host] = {}


def _this_host() -> _Host:
    return _HOSTS.setdefault((id(state), host.name), _Host())


def _changes() -> int:
    """How many of this host's operations have changed something so far in this run."""
    return sum(
        1
        for data in state.ops.get(host, {}).values()
        if data.operation_meta.is_complete() and data.operation_meta.did_change()
    )


def _current(this: _Host, packages: bool) -> _Host:
    changes = _changes()
    if this.changes != changes:
        this.found = host.get_fact(
            PathStates, paths=tuple(sorted(this.paths)), digests=tuple(sorted(this.digests))
        )
        this.packages, this.changes = None, changes
    if packages and this.packages is None:
        this.packages = host.get_fact(DebPackages)
    return this


def path_differs(
    path: str, kind: str, sha1: str | None = None, user=None, group=None, mode=None
) -> Callable[[], bool]:
    """An `_if=` condition: False where the reading shows `path` as wanted: of `kind` (``f``, ``d``,
    or ``-`` for absent), with this content, owner and mode where they are given."""
    this = _this_host()
    this.paths.add(path)
    if sha1:
        this.digests.add(path)

    def differs() -> bool:
        found = _current(this, packages=False).found.get(path)
        if found is None:
            return True  # not in the reading: named at run time
        if kind == "-" or found["type"] == "-":
            return kind != found["type"]
        wanted = {"type": kind, "sha1": sha1, "user": user, "group": group, "mode": _mode(mode)}
        return any(value is not None and found[key] != value for key, value in wanted.items())

    return differs


def packages_missing(packages: list[str]) -> Callable[[], bool]:
    """An `_if=` condition: False where every package (``name`` or ``name=version``) is installed."""
    this = _this_host()

    def missing() -> bool:
        installed = _current(this, packages=True).packages or {}
        for package in packages:
            name, _, version = package.partition("=")
            if name not in installed or (version and version not in installed[name]):
                return True
        return False

    return missing


def _mode(mode) -> int | None:
    return None if mode is None else int(str(mode), 8)
