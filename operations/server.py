"""pyinfra's server operations; server.user_authorized_keys skipped without reading a fact where the
host's one reading shows the user's .ssh, authorized_keys and every key already in place
(operations/reading.py), where pyinfra's own reads four facts; server.hostname where the reading
shows /etc/hostname with the name and the running name is it (one fact, where pyinfra's reads
two). Any other name here is pyinfra's own."""

from __future__ import annotations

import hashlib

from pyinfra import host
from pyinfra.facts.server import Hostname
from pyinfra.operations import server

from facts.system import Accounts
from operations.plan import node_fact
from operations.reading import keys_missing, path_differs, planned, with_given


def user_authorized_keys(*, user: str, public_keys: list[str], **kwargs):
    """server.user_authorized_keys with keys given as text, in the user's ~/.ssh."""
    home = node_fact(host.name, Accounts)["users"].get(user, {}).get("home")
    if planned() or not home or kwargs.get("delete_keys") or set(kwargs) & {"group", "_if"}:
        return server.user_authorized_keys(user=user, public_keys=public_keys, **kwargs)
    folder, path = f"{home}/.ssh", f"{home}/.ssh/authorized_keys"
    # as pyinfra's leaves them: the folder and file owned by the user and the group of its name
    differs = [
        path_differs(folder, "d", None, user, user, "700"),
        path_differs(path, "f", None, user, user, "600"),
        keys_missing(path, public_keys),
    ]
    return server.user_authorized_keys(
        user=user, public_keys=public_keys, _if=lambda: any(check() for check in differs), **kwargs
    )


def hostname(*, hostname: str, _if=None, **kwargs):
    """server.hostname, with systemd's /etc/hostname."""
    if planned() or "hostname_file" in kwargs:
        return server.hostname(hostname=hostname, _if=_if, **kwargs)
    written = path_differs("/etc/hostname", "f", hashlib.sha1(f"{hostname}\n".encode()).hexdigest())
    _if = with_given(lambda: written() or host.get_fact(Hostname) != hostname, _if)
    return server.hostname(hostname=hostname, _if=_if, **kwargs)


def __getattr__(name: str):
    return getattr(server, name)
