"""Custom facts: read the real state of a node back, for ops, validate.py and the tests.

Each is usable as an audit: `pyinfra inventory.py fact ops.facts.SshHostKey`.
"""

from __future__ import annotations

import json

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


class SlurmdHardware(FactBase):
    """
    Returns this node's hardware as ``slurmd -C`` reports it, with hwloc's count of packages,
    cores and hardware threads (``hwloc-calc``), or ``None`` before slurmd and hwloc are installed.

    ``slurmd -C`` answers before it reads slurm.conf, so from Slurm 23.02 on it leaves Intel
    E-cores out whatever SlurmdParameters says (src/slurmd/common/xcpuinfo.c ``_remove_ecores``):
    on a Core Ultra 9 285K it reports 8 CPUs. hwloc, the library slurmd counts with, sees all 24,
    and so does the running slurmd once slurm.conf has ``SlurmdParameters=allow_ecores``.

    .. code:: python

        {"CPUs": 8, "Boards": 1, "SocketsPerBoard": 1, "CoresPerSocket": 8, "ThreadsPerCore": 1,
         "RealMemory": 128530, "hwloc": {"packages": 1, "cores": 24, "pus": 24}}
    """

    requires_command = "slurmd"

    def command(self) -> str:
        count = "$(hwloc-calc --number-of {} all)"
        return (
            "slurmd -C; command -v hwloc-calc >/dev/null && echo hwloc "
            + " ".join(count.format(kind) for kind in ("package", "core", "pu"))
            + "; true"
        )

    def process(self, output):
        fields = topology = None
        for line in output:
            if line.startswith("NodeName="):
                items = dict(item.split("=", 1) for item in line.split())
                fields = {key: int(value) for key, value in items.items() if value.isdigit()}
            words = line.split()
            if words[:1] == ["hwloc"] and len(words) == 4 and all(w.isdigit() for w in words[1:]):
                topology = dict(zip(("packages", "cores", "pus"), map(int, words[1:]), strict=True))
        if fields is None or topology is None or 0 in topology.values():
            return None
        return {**fields, "hwloc": topology}


class SlurmVersion(FactBase):
    """
    Returns the installed Slurm version as a tuple, or ``None`` when Slurm is not installed.

    .. code:: python

        (23, 11, 4)
    """

    requires_command = "slurmd"

    def command(self) -> str:
        return "slurmd -V"

    def process(self, output):
        words = " ".join(output).split()
        version = words[-1] if words else ""
        parts = version.split("-")[0].split(".")
        return tuple(int(p) for p in parts) if parts and all(p.isdigit() for p in parts) else None


# The states in which Slurm gives a node work; sinfo marks a node that does not answer with "*".
UP_STATES = ("idle", "mixed", "allocated", "completing", "planned")


class SlurmNodes(FactBase):
    """
    Returns each node's state and GRES as ``sinfo`` reports them (the state as printed: a trailing
    ``*`` means not responding), ``{}`` when sinfo does not answer.

    .. code:: python

        {"node1": {"state": "idle", "gres": "gpu:rtx5090:1"}, "node2": {"state": "down*", "gres": "..."}}
    """

    requires_command = "sinfo"

    def default(self):
        return {}

    def command(self) -> str:
        return "sinfo -h -N -o '%N %T %G' 2>/dev/null || true"

    def process(self, output):
        rows = (line.split() for line in output)
        return {r[0]: {"state": r[1], "gres": r[2] if len(r) > 2 else ""} for r in rows if len(r) >= 2}


def in_service(node: dict | None) -> bool:
    """Whether Slurm gives the node work (drained, draining, down and not responding are out)."""
    return bool(node) and node["state"] in UP_STATES


class InterfaceWithAddress(FactBase):
    """
    Returns the name of the network interface that holds an IPv4 address, or ``None``.

    .. code:: python

        "eno1"
    """

    def command(self, ip: str) -> str:
        return f"ip -o -4 addr show | awk '$4 ~ \"^{ip}/\"'"

    def process(self, output):
        names = [line.split()[1].split("@")[0] for line in output if len(line.split()) > 1]
        return names[0] if names else None


class WiredAddress(InterfaceWithAddress):
    """
    Returns the interface that holds an IPv4 address and whether that address is a DHCP lease
    (``ip`` flags it ``dynamic``: it has a lifetime, and without a reservation it can move), or ``None``.

    .. code:: python

        {"interface": "eno1", "dynamic": True}
    """

    def process(self, output):
        interface = super().process(output)
        dynamic = any("dynamic" in line.split() for line in output)
        return {"interface": interface, "dynamic": dynamic} if interface else None


class TorchVersion(FactBase):
    """
    Returns the PyTorch version in a virtual environment, the CUDA it was built for, and numpy's.

    .. code:: python

        {"torch": "2.9.1+cu128", "cuda": "12.8", "numpy": "2.3.5"}
    """

    def command(self, venv: str) -> str:
        return (
            f"test -x {venv}/bin/python && {venv}/bin/python -c "
            "'import torch; print(torch.__version__); print(torch.version.cuda); "
            "import numpy; print(numpy.__version__)' 2>/dev/null || true"
        )

    def process(self, output):
        lines = [line.strip() for line in output if line.strip()]
        if not lines:
            return None
        lines += [None] * (3 - len(lines))
        return {"torch": lines[0], "cuda": None if lines[1] == "None" else lines[1], "numpy": lines[2]}


class CommandResult(FactBase):
    """
    Returns the exit code and the combined output of a command, whatever the exit code.
    validate.py reads the outcome of the jobs it runs through Slurm with it.

    .. code:: python

        {"rc": 0, "output": "node0\nnode1\nnode2"}
    """

    def command(self, command: str) -> str:
        return f'( {command} ) 2>&1; echo "rc=$?"'

    def process(self, output):
        lines = list(output)
        rc = int(lines.pop()[3:]) if lines and lines[-1].startswith("rc=") else -1
        return {"rc": rc, "output": "\n".join(lines)}


class Accounts(FactBase):
    """
    Returns the node's users and groups from ``getent`` (no password hashes).

    .. code:: python

        {"users": {"slurm": {"uid": 1002, "gid": 1002, "home": "/nonexistent",
                             "shell": "/usr/sbin/nologin", "expires": ""}},
         "groups": {"slurm": {"gid": 1002, "members": []}}}
    """

    def command(self) -> str:
        return (
            "getent passwd | sed 's/^/passwd:/'; getent group | sed 's/^/group:/'; "
            'getent shadow | awk -F: \'{print "expires:" $1 ":" $8}\''
        )

    def process(self, output):
        users, groups = {}, {}
        for line in output:
            kind, _, entry = line.partition(":")
            fields = entry.split(":")
            if kind == "passwd" and len(fields) >= 7:
                users[fields[0]] = {
                    "uid": int(fields[2]),
                    "gid": int(fields[3]),
                    "home": fields[5],
                    "shell": fields[6],
                }
            elif kind == "group" and len(fields) >= 4:
                groups[fields[0]] = {"gid": int(fields[2]), "members": [m for m in fields[3].split(",") if m]}
            elif kind == "expires" and fields[0] in users:
                users[fields[0]]["expires"] = fields[1]
        return {"users": users, "groups": groups}


class ClockOffset(FactBase):
    """
    Returns how far this node's clock is from its chrony reference, in seconds (``None`` without chrony).

    .. code:: python

        -0.000012
    """

    requires_command = "chronyc"

    def command(self) -> str:
        return "chronyc -n tracking"

    def process(self, output):
        for line in output:
            if line.startswith("System time"):
                words = line.split(":", 1)[1].split()
                return float(words[0]) * (1 if words[2] == "fast" else -1)
        return None


class CudaToolkit(FactBase):
    """
    Returns the version of the CUDA toolkit at /usr/local/cuda, or ``None``.

    .. code:: python

        "12.8.93"
    """

    def command(self) -> str:
        return "cat /usr/local/cuda/version.json 2>/dev/null || true"

    def process(self, output):
        text = "\n".join(output)
        return json.loads(text).get("cuda", {}).get("version") if text.strip() else None


class UfwStatus(FactBase):
    """
    Returns whether ufw is active and the networks it lets everything in from (``ufw status``),
    or ``None`` where ufw is not installed.

    .. code:: python

        {"active": True, "allowed_from": ["192.168.1.0/24"]}
    """

    requires_command = "ufw"

    def command(self) -> str:
        return "ufw status"

    def process(self, output):
        allowed = [
            w[2] for w in (line.split() for line in output) if w[:2] == ["Anywhere", "ALLOW"] and len(w) > 2
        ]
        return {"active": any(line.strip() == "Status: active" for line in output), "allowed_from": allowed}


class Tree(FactBase):
    """
    Returns every entry under a directory, the directory itself as ``""``: type (``f``, ``d``,
    ``l``), octal mode and, for files, sha256. ``{}`` when the directory does not exist. One
    command for a whole tree, where files.sync reads one fact per file (ops/sync.py).

    .. code:: python

        {"": ("d", "755", None), "train_ddp.py": ("f", "755", "9f86d0...")}
    """

    def default(self):
        return {}

    def command(self, path: str) -> str:
        return (
            f"test -d {path} || exit 0; cd {path} && find . -printf '%y %m %P\\n' "
            "&& find . -type f -exec sha256sum {} +"
        )

    def process(self, output):
        entries, digests = {}, {}
        for line in output:
            first, _, rest = line.partition(" ")
            if len(first) == 64:  # sha256sum: "<digest>  ./<path>"
                digests[rest.lstrip(" ")[2:]] = first
            else:  # find: "<type> <mode> <path>"
                mode, _, path = rest.partition(" ")
                entries[path] = (first, mode)
        return {path: (kind, mode, digests.get(path)) for path, (kind, mode) in entries.items()}
