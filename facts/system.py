"""Facts about the operating system of a node: accounts, addresses, the clock, the firewall, and a
command's result. Each is an audit: ``pyinfra inventory.py fact facts.system.Accounts``.
"""

from __future__ import annotations

from datetime import UTC, datetime

from pyinfra.api import FactBase


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


class ServiceStarts(FactBase):
    """
    Returns when each of the units last became active (seconds since the epoch, ``None`` where it is
    not active), whether systemd holds an older copy of its unit file, and when each of the paths
    was last written (missing ones left out): a service older than its configuration runs an older one.

    .. code:: python

        {
            "units": {"slurmctld.service": {"started": 1796632182.6, "reload": False}},
            "written": {"/etc/slurm/slurm.conf": 1796632180.2},
        }
    """

    def command(self, units: tuple[str, ...], paths: tuple[str, ...]) -> str:
        return (
            "systemctl show --timestamp=us+utc -p Id -p ActiveState -p ActiveEnterTimestamp "
            f"-p NeedDaemonReload {' '.join(units)}; echo '--written'; "
            f"stat -c '%.9Y %n' {' '.join(paths)} 2>/dev/null || true"
        )

    def process(self, output):
        units, written, block = {}, {}, {}
        lines = list(output)
        cut = lines.index("--written") if "--written" in lines else len(lines)
        for line in [*lines[:cut], ""]:
            if "=" in line:
                key, _, value = line.strip().partition("=")
                block[key] = value
            elif block:
                started = None
                if block.get("ActiveState") in ("active", "reloading") and block.get("ActiveEnterTimestamp"):
                    day_time_zone = block["ActiveEnterTimestamp"].split(" ", 1)[1]  # the weekday left out
                    stamp = datetime.strptime(day_time_zone, "%Y-%m-%d %H:%M:%S.%f %Z")
                    started = stamp.replace(tzinfo=UTC).timestamp()
                units[block["Id"]] = {"started": started, "reload": block.get("NeedDaemonReload") == "yes"}
                block = {}
        for line in lines[cut + 1 :]:
            stamp, _, path = line.strip().partition(" ")
            if path:
                written[path] = float(stamp)
        return {"units": units, "written": written}
