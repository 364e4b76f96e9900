"""Values one host needs from another (the controller's keys, every node's hardware).

On a converged cluster the value is read while planning, so the operations that use it are
planned like any other and report no change. On the first run the value does not exist yet (the
package that makes it is installed in this very run), so the same operations are applied when
the run reaches them, from the value read at that moment.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from io import StringIO
from typing import Any, TypeVar

from gevent.event import AsyncResult
from pyinfra import host, logger, state
from pyinfra.api.exceptions import OperationError, PyinfraError
from pyinfra.api.state import StateStage
from pyinfra.facts.files import Sha1File
from pyinfra.facts.systemd import SystemdEnabled, SystemdStatus
from pyinfra.operations import python, systemd

from facts.system import ServiceStarts
from operations import files

T = TypeVar("T")


_PLANNED: dict = {}


def node_fact(name: str, cls, **kwargs):
    """A fact of the named host. While the deploy is planned nothing has changed on any host yet, so
    every host's plan shares one reading (each node's plan reads every node's hardware and keys);
    once operations run, it is read afresh."""
    target = state.inventory.get_host(name)
    if state.current_stage != StateStage.Prepare:
        return target.get_fact(cls, **kwargs)
    key = (id(state), name, cls, tuple(sorted(kwargs.items())))
    if key not in _PLANNED:  # the hosts plan at once: the first to ask reads, the others wait for it
        _PLANNED[key] = reading = AsyncResult()
        try:
            reading.set(target.get_fact(cls, **kwargs))
        except Exception as error:  # the others get the same error, not a wait for ever
            reading.set_exception(error)
    return _PLANNED[key].get()


def will_change(path: str, text: str) -> bool:
    """Whether writing `text` to `path` on this host changes it: files.put reads the same fact (one
    reading), so a check planned before the write costs nothing where nothing changes."""
    return host.get_fact(Sha1File, path=path) != hashlib.sha1(text.encode()).hexdigest()


def keep_running(name: str, service: str):
    """systemd.service(running, enabled) for a service, left out (None) where it already runs and
    is enabled: every unit's state is read once per run, not two facts per service."""
    unit = service if "." in service else f"{service}.service"
    if node_fact(host.name, SystemdStatus).get(unit) and node_fact(host.name, SystemdEnabled).get(unit):
        return None
    return systemd.service(name=name, service=service, running=True, enabled=True)


def keep_stopped(name: str, service: str):
    """systemd.service(stopped, disabled) for a service, left out (None) where it neither runs nor
    is enabled (or is no unit at all), from the same reading as keep_running."""
    unit = service if "." in service else f"{service}.service"
    running, enabled = (node_fact(host.name, fact).get(unit) for fact in (SystemdStatus, SystemdEnabled))
    if not running and not enabled:
        return None
    return systemd.service(name=name, service=service, running=False, enabled=False)


_SERVICES: dict = {}  # (state, host) -> the services named while planning, and their reading


def restart(name: str, service: str, written, paths: list[str], fresh=None, unless=None):
    """systemd.service restarted when any of `written` (operations) changed in this run, or when the
    service has run since before one of `paths` (what it reads as it starts) was last written: a run
    stopped between writing and restarting leaves the files in place for the next run and the
    service on the old ones. Where `fresh` (its package installed in this run) changed, its first
    start read the new files already; where `unless` (another restart of it) changed, it has just
    started on them. Where nothing changed, one command per host reads every such service."""
    unit, this = _named(service, paths)
    changed, new, done = did_change(written), did_change(fresh), did_change(unless)
    return systemd.service(
        name=name,
        service=service,
        restarted=True,
        _if=lambda: (
            not done()
            and (
                (changed() and not new())
                or any(_read(this)["written"].get(p, 0) > _started(this, unit) for p in paths)
            )
        ),
    )


def daemon_reload(name: str, services, written):
    """systemctl daemon-reload when `written` (unit files) changed in this run, or systemd still holds
    an older copy of one of `services`' units (a run stopped before it reloaded)."""
    named = [_named(service, []) for service in ([services] if isinstance(services, str) else services)]
    units, this = [unit for unit, _ in named], named[0][1]
    changed = did_change(written)
    return systemd.daemon_reload(
        name=name,
        _if=lambda: (
            changed() or any((_read(this)["units"].get(unit) or {}).get("reload", False) for unit in units)
        ),
    )


def _named(service: str, paths: list[str]) -> tuple[str, dict]:
    unit = service if "." in service else f"{service}.service"
    this = _SERVICES.setdefault((id(state), host.name), {"paths": {}, "found": None})
    this["paths"].setdefault(unit, set()).update(paths)
    return unit, this


def _read(this: dict) -> dict:
    if this["found"] is None:
        units = tuple(sorted(this["paths"]))
        paths = tuple(sorted(set().union(*this["paths"].values())))
        this["found"] = host.get_fact(ServiceStarts, units=units, paths=paths)
    return this["found"]


def _started(this: dict, unit: str) -> float:
    """When the unit became active; not running: infinity (keep_running starts it on what is there)."""
    started = (_read(this)["units"].get(unit) or {}).get("started")
    return float("inf") if started is None else started


def own_service(what: str, unit: str, text: str, changed: list) -> None:
    """A service of the project's own: its unit written to /etc/systemd/system, systemd told of a new
    unit, the service restarted when the unit or any of `changed` (its program) changed, kept running.
    The programs are synced with their checkout's times, so only the unit is compared by time."""
    path = f"/etc/systemd/system/{unit}"
    written = files.put(name=f"Write {unit}", src=StringIO(text), dest=path, mode="644")
    daemon_reload(f"Read {what}'s unit", unit, written)
    restart(f"Restart {what} for its new version", unit, [*changed, written], [path])
    keep_running(f"Run {what}", unit)


def when_known(name: str, read: Callable[[], T | None], apply: Callable[[T], Any]) -> Any:
    """Call apply(value) now if read() has the value, else once the run reaches this point.

    Returns the operation it planned (apply's result, or the deferred call), for `_if=` checks.
    """
    value = read()
    if value is not None:
        return apply(value)

    def later() -> None:
        value = read()
        if value is None:
            raise OperationError(f"{name}: the value is still missing after the steps that make it")
        apply(value)

    return python.call(name=name, function=later)


def did_change(ops) -> Callable[[], bool]:
    """An `_if=` condition: whether any of the operations (one, a list, or a deferred call) changed."""
    ops = [op for op in (ops if isinstance(ops, list) else [ops]) if op is not None]
    return lambda: any(op.did_change() for op in ops)


def unreachable(names) -> list[str]:
    """Those of the named hosts that this run could not connect to (pyinfra has failed them)."""
    return [name for name in names if state.inventory.get_host(name) in state.failed_hosts]


def skip_for_unreachable(what: str, names) -> bool:
    """Warn and return True when a step needs hosts this run cannot reach; it is left for a later run."""
    down = unreachable(names)
    if down:
        logger.warning(f"{host.print_prefix}{what} left as it is: {', '.join(down)} unreachable in this run")
    return bool(down)


class Steps:
    """The deploy's steps in the order deploy.py calls them, each with the steps it needs before it.

    A step called before one it needs stops the run while it is planned, so nothing on any host
    changes; a step whose condition is false still counts as reached (it has nothing to do here).
    """

    def __init__(self):
        self.reached: list = []

    def run(self, step, *needs, when: bool = True, **kwargs):
        """step.configure(**kwargs) where `when` holds; its result, or None."""
        missing = [_name(need) for need in needs if need not in self.reached]
        if missing:
            raise PyinfraError(
                f"deploy.py: the {_name(step)} step needs {', '.join(missing)} before it; "
                "fix: call it after them"
            )
        self.reached.append(step)
        return step.configure(**kwargs) if when else None


def _name(step) -> str:
    return step.__name__.rpartition(".")[2]
