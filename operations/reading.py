"""One reading of a host's files and packages, shared by the operations that would each read them.

On a converged cluster every files.put, files.directory and apt.packages reads two or three facts
at run time to find nothing to do: about 150 commands on the controller, one after another, each
through sudo. Here each such operation names its path or packages while the deploy is planned;
the first of them to run on a host reads all of them in one command (and the installed packages
in one more, an authorized_keys file in one more), and an operation whose path or packages the
reading shows in place is skipped (its `_if`). Once an operation has changed something on that
host (a package install writes files), an older reading still says where there is work to do (the
operation then reads for itself, as pyinfra's own), but "nothing to do" is believed only after
reading again. Anything the reading cannot settle (a link, a path named only at run time) leaves
the operation to itself. Where pyinfra shows a plan first (run without -y), it reads every
operation's facts for the plan anyway, and the operations stay pyinfra's own, so that the plan
names each change.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from pyinfra import host, state
from pyinfra.facts.deb import DebPackages
from pyinfra.facts.server import AuthorizedKeys

from facts.files import PathStates


@dataclass
class _Host:
    paths: set[str] = field(default_factory=set)  # named while planning
    digests: set[str] = field(default_factory=set)  # of those, the files whose content counts
    found: dict = field(default_factory=dict)  # the last reading of the paths
    packages: dict = field(default_factory=dict)  # and of the installed packages
    keys: dict[str, list[str]] = field(default_factory=dict)  # authorized_keys file -> its keys
    read_at: dict[str, int] = field(default_factory=dict)  # "paths"/"packages"/a keys file -> changes then


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


def _read(this: _Host, what: str, changes: int) -> None:
    if what == "paths":
        this.found = host.get_fact(
            PathStates, paths=tuple(sorted(this.paths)), digests=tuple(sorted(this.digests))
        )
    elif what == "packages":
        this.packages = host.get_fact(DebPackages) or {}
    else:
        this.keys[what] = host.get_fact(AuthorizedKeys, user="root", path=what)  # user: unused with a path
    this.read_at[what] = changes


def _in_place(this: _Host, what: str, judge: Callable[[], bool]) -> bool:
    """judge() on the reading; a reading older than the host's last change is read again before
    its "in place" is believed."""
    changes = _changes()
    if what not in this.read_at:
        _read(this, what, changes)
    if not judge():
        return False
    if this.read_at[what] != changes:
        _read(this, what, changes)
        return judge()
    return True


def path_differs(
    path: str, kind: str, sha1: str | None = None, user=None, group=None, mode=None
) -> Callable[[], bool]:
    """An `_if=` condition: False where the reading shows `path` as wanted: of `kind` (``f``, ``d``,
    or ``-`` for absent), with this content, owner and mode where they are given."""
    this = _this_host()
    this.paths.add(path)
    if sha1:
        this.digests.add(path)
    wanted = {"type": kind, "sha1": sha1, "user": user, "group": group, "mode": _mode(mode)}

    def as_wanted() -> bool:
        found = this.found.get(path)
        if found is None:
            return False  # not in the reading: named at run time
        if kind == "-" or found["type"] == "-":
            return kind == found["type"]
        return all(value is None or found[key] == value for key, value in wanted.items())

    return lambda: not _in_place(this, "paths", as_wanted)


def packages_missing(packages: list[str]) -> Callable[[], bool]:
    """An `_if=` condition: False where every package (``name`` or ``name=version``) is installed."""
    this = _this_host()

    def installed() -> bool:
        for package in packages:
            name, _, version = package.partition("=")
            if name not in this.packages or (version and version not in this.packages[name]):
                return False
        return True

    return lambda: not _in_place(this, "packages", installed)


def keys_missing(path: str, keys: list[str]) -> Callable[[], bool]:
    """An `_if=` condition: False where the authorized_keys file at `path` lists every one of `keys`
    (read once for the operations that name it)."""
    this = _this_host()
    wanted = {key.strip() for key in keys}
    return lambda: not _in_place(this, path, lambda: wanted <= set(this.keys.get(path, ())))


def planned() -> bool:
    """Whether pyinfra shows a plan before it runs (without -y, and --dry): it then reads every
    operation's facts while planning, and an `_if` would show each change as only "conditional",
    so the operations are left as pyinfra's own."""
    return state.should_check_for_changes()


def with_given(condition: Callable[[], bool], given) -> Callable | list:
    """`_if` for pyinfra: this condition and any the caller gave (one, or a list)."""
    if given is None:
        return condition
    return [condition, *(given if isinstance(given, list) else [given])]


def _mode(mode) -> int | None:
    return None if mode is None else int(str(mode), 8)
