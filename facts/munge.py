"""Facts about munge on a node: a credential it makes, and whether another node's credential decodes
here. Each is an audit: ``pyinfra inventory.py fact facts.munge.MungeCredential``.
"""

from __future__ import annotations

from pyinfra.api import FactBase


class MungeCredential(FactBase):
    """
    Returns a fresh, empty munge credential encoded on this node (``munge -n``), or ``None``.

    .. code:: python

        "MUNGE:AwQFAAD..."
    """

    requires_command = "munge"

    def command(self) -> str:
        return "munge -n 2>/dev/null || true"

    def process(self, output):
        line = "".join(output).strip()
        return line if line.startswith("MUNGE:") else None


class UnmungeStatus(FactBase):
    """
    Returns what this node's munged says of a credential: its STATUS line and the ENCODE_HOST.

    .. code:: python

        {"STATUS": "Success (0)", "ENCODE_HOST": "node1 (192.168.1.11)"}
    """

    requires_command = "unmunge"

    def command(self, credential: str) -> str:
        return f"echo '{credential}' | unmunge 2>&1 || true"

    def process(self, output):
        result = {}
        for line in output:
            key, sep, value = line.partition(":")
            if sep and key.isupper():
                result[key.strip()] = value.strip()
        if "STATUS" not in result:
            result["STATUS"] = " ".join(output).strip() or "no answer from unmunge"
        return result
