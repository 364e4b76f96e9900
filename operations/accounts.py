"""A daemon's own account, made only where it is not already as it should be."""

from __future__ import annotations

from pyinfra import host
from pyinfra.operations import server

from facts.system import Accounts
from operations.plan import node_fact

SYSTEM_HOME, SYSTEM_SHELL = "/nonexistent", "/usr/sbin/nologin"


def system_user(name: str, uid: int | None = None) -> None:
    """A daemon's own user and group: no home, no login; with a fixed ID when one is given.

    Left out when the node's accounts (read once per run, node_fact) already hold it as it should
    be: pyinfra's server.group and server.user read three facts each to find that out.
    """
    if in_place(node_fact(host.name, Accounts), name, uid):
        return
    ids = f" ({uid})" if uid else ""
    server.group(name=f"Group {name}{ids}", group=name, gid=uid, system=True)
    server.user(
        name=f"User {name}{ids}",
        user=name,
        uid=uid,
        group=name,
        home=SYSTEM_HOME,
        shell=SYSTEM_SHELL,
        system=True,
        ensure_home=False,
    )


def in_place(found: dict, name: str, uid: int | None) -> bool:
    """Whether a daemon's user and group exist as system_user makes them (with the ID, if given)."""
    group, user = found["groups"].get(name), found["users"].get(name)
    if not group or not user or (uid is not None and not group["gid"] == user["uid"] == uid):
        return False
    return (user["gid"], user["home"], user["shell"]) == (group["gid"], SYSTEM_HOME, SYSTEM_SHELL)
