"""Custom facts: read the real state of a node back, for ops, validate.py and the tests.

Each is usable as an audit: `pyinfra inventory.py fact ops.facts.SshHostKey`.
"""

from __future__ import annotations

from pyinfra.api import FactBase


class PublicKeyFile(FactBase):
    """
    Returns the single line of an OpenSSH public key file, or ``None`` when it does not exist.

    .. code:: python

        "ssh-ed25519 AAAAC3Nza... labadmin@node0"
    """

    def command(self, path: str) -> str:
        return f"test -f {path} && head -n1 {path} || true"

    def process(self, output):
        line = "\n".join(output).strip()
        return line if line.startswith(("ssh-", "ecdsa-", "sk-")) else None


class SshHostKey(PublicKeyFile):
    """
    Returns the node's ed25519 SSH host public key (``type base64``, comment dropped), or ``None``.

    .. code:: python

        "ssh-ed25519 AAAAC3Nza..."
    """

    def command(self) -> str:
        return super().command("/etc/ssh/ssh_host_ed25519_key.pub")

    def process(self, output):
        line = super().process(output)
        return " ".join(line.split()[:2]) if line else None
