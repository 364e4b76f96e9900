"""The one way a run-book (validate, audit, upgrade, bench) runs a command on a node now and reads
its result, and the one way it waits for a condition.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from pyinfra import host, state

from facts.system import CommandResult

T = TypeVar("T")


def run(command: str, node: str | None = None, sudo: bool = False, timeout: int | None = None) -> dict:
    """Run a command on the named node (this host by default) from a run-book (validate, audit,
    upgrade, bench) and read its exit code and output: ``{"rc": 0, "output": "..."}``.

    Read through CommandResult with get_fact, pyinfra's public way to run a command now and wait for
    it with the host's own connection and sudo settings; never shared between plans (node_fact).
    """
    target = state.inventory.get_host(node) if node else host
    command = f"timeout {timeout} {command}" if timeout else command
    return target.get_fact(CommandResult, command=command, _sudo=sudo)


def wait_for(predicate: Callable[[], T], timeout: float, every: float = 1) -> T | None:
    """predicate()'s first true value within timeout seconds, polling every `every` seconds; else None."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = predicate()
        if result:
            return result
        time.sleep(every)
    return None
