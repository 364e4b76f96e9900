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


def own_service(what: str, unit: str, text: str, changed: list) -> None:
    """A service of the project's own: its unit written to /etc/systemd/system, systemd told of a new
    unit, the service restarted when the unit or any of `changed` (its program) changed, kept running."""
    written = files.put(
        name=f"Write {unit}", src=StringIO(text), dest=f"/etc/systemd/system/{unit}", mode="644"
    )
    systemd.daemon_reload(name=f"Read {what}'s unit", _if=written.did_change)
    systemd.service(
        name=f"Restart {what} for its new version",
        service=unit,
        restarted=True,
        _if=did_change([*changed, written]),
    )
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
