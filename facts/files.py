"""Facts about files on a node: public keys, a file's content, a whole tree's types, modes and
digests. Each is an audit: ``pyinfra inventory.py fact facts.files.SshHostKey``.
"""

from __future__ import annotations

import shlex

from pyinfra.api import FactBase

BIG = 2**20  # Tree compares a file over this many bytes by size and modification time


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


class Base64File(FactBase):
    """
    Returns a file's bytes as base64 (read with sudo), or ``None`` when it does not exist.
    For key material: the value stays in the deploy's memory, never in a file or the logs.

    .. code:: python

        "q1w2e3..."
    """

    def command(self, path: str) -> str:
        return f"test -f {path} && base64 -w0 {path} || true"

    def process(self, output):
        return "".join(output).strip() or None


class Tree(FactBase):
    """
    Returns every entry under a directory, the directory itself as ``""``: type (``f``, ``d``,
    ``l``), octal mode and, for a file, its sha256, or for a file over 1 MiB its size and
    modification time (``"size:mtime"``, as rsync compares: hashing a wheelhouse of gigabytes on
    every node at every run would cost more than the rest of the run). ``{}`` when the directory
    does not exist. One command for a whole tree, where files.sync reads one fact per file
    (operations/sync.py).

    .. code:: python

        {"": ("d", "755", None), "train_ddp.py": ("f", "755", "9f86d0..."),
         "torch-2.13.0-cp311-linux_x86_64.whl": ("f", "644", "190012345:1733500000")}
    """

    def default(self):
        return {}

    def command(self, path: str) -> str:
        return (
            f"test -d {path} || exit 0; cd {path} && find . -printf '%y %m %s %T@ %P\\n' "
            f"&& find . -type f -size -{BIG + 1}c -exec sha256sum {{}} +"
        )

    def process(self, output):
        entries, digests = {}, {}
        for line in output:
            first, _, rest = line.partition(" ")
            if len(first) == 64:  # sha256sum: "<digest>  ./<path>"
                digests[rest.lstrip(" ")[2:]] = first
            else:  # find: "<type> <mode> <size> <mtime> <path>"
                mode, size, mtime, path = rest.split(" ", 3)
                entries[path] = (first, mode, f"{size}:{mtime.split('.')[0]}" if first == "f" else None)
        return {path: (kind, mode, digests.get(path, quick)) for path, (kind, mode, quick) in entries.items()}


class PathStates(FactBase):
    """
    Returns, for each path, its type (``f``, ``d``, ``l``; ``-`` when absent), octal mode, owner,
    group and, for the paths in ``digests`` that are files, sha1: one command for every path a
    deploy manages on the node (operations/reading.py), where files.put reads three facts per file.

    .. code:: python

        {"/etc/hosts": {"type": "f", "mode": 0o644, "user": "root", "group": "root", "sha1": "2fd4..."},
         "/etc/gpucluster": {"type": "d", "mode": 0o755, "user": "root", "group": "root", "sha1": None},
         "/etc/old": {"type": "-"}}
    """

    def default(self):
        return {}

    def command(self, paths: tuple[str, ...], digests: tuple[str, ...] = ()) -> str:
        def words(items):
            return " ".join(shlex.quote(item) for item in items)

        return (
            f"for p in {words(paths)}; do t=$(find \"$p\" -maxdepth 0 -printf '%y %m %u %g' 2>/dev/null) "
            '&& echo "$t $p" || echo "- $p"; done; '
            f"for p in {words(digests)}; do "
            'if [ -f "$p" ] && [ ! -L "$p" ]; then echo "sha1 $(sha1sum < "$p" | cut -d" " -f1) $p"; fi; '
            "done; true"
        )

    def process(self, output):
        found, digests = {}, {}
        for line in output:
            first, _, rest = line.partition(" ")
            if first == "-":
                found[rest] = {"type": "-"}
            elif first == "sha1":
                digest, _, path = rest.partition(" ")
                digests[path] = digest
            else:
                mode, user, group, path = rest.split(" ", 3)
                found[path] = {"type": first, "mode": int(mode, 8), "user": user, "group": group}
        for path, entry in found.items():
            if entry["type"] != "-":
                entry["sha1"] = digests.get(path)
        return found
