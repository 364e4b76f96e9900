"""Facts about Slurm on a node: its hardware as slurmd sees it, its release, the nodes' states, and
slurmdbd's database and clusters. Each is an audit: ``pyinfra inventory.py fact facts.slurm.SlurmNodes``.
"""

from __future__ import annotations

from pyinfra.api import FactBase


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


class SlurmDatabaseLogin(FactBase):
    """
    Returns whether slurmdbd's database user logs in to its database with the password kept on
    the node (the password goes to mysql on stdin, never on a command line or in the output).

    .. code:: python

        True
    """

    def command(self, secret: str, database: str) -> str:
        return (
            f"test -s {secret} && command -v mysql >/dev/null && "
            f"printf '[client]\\nuser=slurm\\npassword=%s\\n' \"$(sed -n 's/^StoragePass=//p' {secret})\" "
            f"| mysql --defaults-file=/dev/stdin -N -e 'SELECT 1' {database} 2>/dev/null || true"
        )

    def process(self, output):
        return "".join(output).strip() == "1"


class AccountingClusters(FactBase):
    """
    Returns the clusters slurmdbd knows (``sacctmgr list cluster``), or ``None`` when it cannot be
    asked (no sacctmgr, no slurmdbd, or a slurm.conf without accounting yet).

    .. code:: python

        ["gpucluster"]
    """

    requires_command = "sacctmgr"

    def command(self) -> str:
        return "timeout 30 sacctmgr -n -P list cluster format=cluster 2>/dev/null || echo '(no answer)'"

    def process(self, output):
        names = [line.strip() for line in output if line.strip()]
        return None if "(no answer)" in names else names


class SlurmQos(FactBase):
    """
    Returns every QoS in the accounting database as sacctmgr shows it, or ``None`` when it cannot
    be asked (no sacctmgr or slurmdbd yet, or a slurm.conf without accounting).

    .. code:: python

        {"normal": {"priority": 10, "preempt": ["scavenger"], "preempt_mode": "cluster",
                    "usage_factor": 1.0, "max_tres_per_user": "gres/gpu=2", "max_wall": "",
                    "flags": []}}
    """

    requires_command = "sacctmgr"
    FORMAT = "name,priority,preempt,preemptmode,usagefactor,maxtrespu,maxwall,flags"

    def command(self) -> str:
        return f"timeout 30 sacctmgr -n -P show qos format={self.FORMAT} 2>/dev/null || echo '(no answer)'"

    def process(self, output):
        found = {}
        for line in output:
            if line.strip() == "(no answer)":
                return None
            fields = line.split("|")
            if len(fields) != 8:
                continue
            name, priority, preempt, mode, factor, cap, wall, flags = fields
            found[name] = {
                "priority": int(priority or 0),
                "preempt": sorted(filter(None, preempt.split(","))),
                "preempt_mode": mode.lower(),
                "usage_factor": float(factor or 1),
                "max_tres_per_user": cap,
                "max_wall": wall,
                "flags": sorted(filter(None, flags.split(","))),
            }
        return found


class SlurmAssociations(FactBase):
    """
    Returns each account of the cluster in the accounting database, with its QoS, default QoS
    and the users associated with it, or ``None`` when sacctmgr cannot be asked.

    .. code:: python

        {"research": {"qos": ["interactive", "normal", "scavenger"], "default_qos": "normal",
                      "users": ["ada"]}}
    """

    requires_command = "sacctmgr"

    def command(self, cluster: str) -> str:
        return (
            f"timeout 30 sacctmgr -n -P show assoc cluster={cluster} format=account,user,qos,defaultqos "
            "2>/dev/null || echo '(no answer)'"
        )

    def process(self, output):
        accounts: dict = {}
        for line in output:
            if line.strip() == "(no answer)":
                return None
            fields = line.split("|")
            if len(fields) != 4:
                continue
            account, user, qos, default_qos = fields
            entry = accounts.setdefault(account, {"qos": [], "default_qos": "", "users": []})
            if user:
                entry["users"] = sorted({*entry["users"], user})
            else:
                entry.update(qos=sorted(filter(None, qos.split(","))), default_qos=default_qos)
        return accounts
