"""How the GPUs are shared, as Slurm's accounting database holds it: the QoS every job runs under
and the accounts and user associations that say who may run jobs at all.

The desired state comes from the spec; `changes()` compares it with what sacctmgr reports (the
SlurmQos and SlurmAssociations facts) and returns the sacctmgr commands that close the gap, so a
converged cluster gets none. Only what this project owns is touched: its four QoS, the research
account and the admin account; other accounts and QoS an admin made by hand are left alone.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field

from model.spec import ADMIN_ACCOUNT, ClusterSpec

# What a job runs under when it names none (research users: normal; the admin: admin).
NORMAL, SCAVENGER, INTERACTIVE, ADMIN = "normal", "scavenger", "interactive", "admin"
RESEARCH_QOS = (NORMAL, SCAVENGER, INTERACTIVE)


@dataclass(frozen=True)
class Qos:
    """A QoS as sacctmgr shows it (`show qos format=name,priority,preempt,...`)."""

    priority: int = 0
    preempt: frozenset[str] = frozenset()  # the QoS whose jobs this one's jobs may preempt
    preempt_mode: str = "cluster"  # cluster: slurm.conf's PreemptMode (REQUEUE)
    usage_factor: float = 1.0  # 0: its use does not count in fair share
    max_tres_per_user: str = ""  # e.g. gres/gpu=2
    max_wall_s: int | None = None
    flags: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Account:
    qos: frozenset[str]
    default_qos: str
    users: frozenset[str] = field(default=frozenset())


def desired_qos(spec: ClusterSpec) -> dict[str, Qos]:
    """The four QoS, in the order they must be made (one named in another's Preempt comes first)."""
    sharing = spec.sharing
    cap = f"gres/gpu={sharing.max_gpus_per_user}" if sharing.max_gpus_per_user else ""
    return {
        # soaks idle GPUs; requeued (not killed) when normal work needs the GPU; free in fair share
        SCAVENGER: Qos(priority=0, preempt_mode="requeue", usage_factor=0.0),
        NORMAL: Qos(priority=10, preempt=frozenset({SCAVENGER}), max_tres_per_user=cap),
        # short and first in line; a job over its time limit is refused when submitted (DenyOnLimit)
        INTERACTIVE: Qos(
            priority=100,
            preempt=frozenset({SCAVENGER}),
            max_tres_per_user=f"gres/gpu={sharing.interactive_max_gpus}",
            max_wall_s=slurm_seconds(sharing.interactive_max_time),
            flags=frozenset({"DenyOnLimit"}),
        ),
        # the admin's own jobs (validate.py, bench.py) need every GPU at once: no per-person cap
        ADMIN: Qos(priority=10, preempt=frozenset({SCAVENGER})),
    }


def desired_accounts(spec: ClusterSpec) -> dict[str, Account]:
    return {
        spec.sharing.account: Account(frozenset(RESEARCH_QOS), NORMAL, frozenset(u.name for u in spec.users)),
        ADMIN_ACCOUNT: Account(frozenset({ADMIN, *RESEARCH_QOS}), ADMIN, frozenset({spec.admin_user})),
    }


def qos_changes(spec: ClusterSpec, found: dict[str, Qos]) -> list[str]:
    """sacctmgr commands that make the project's QoS as desired_qos() says."""
    commands = []
    for name, want in desired_qos(spec).items():
        have = found.get(name)
        if have is None:
            commands.append(f"sacctmgr -i add qos {name}")
            have = Qos(priority=0)
        settings = _qos_settings(want, have)
        if settings:
            commands.append(f"sacctmgr -i modify qos where name={name} set {' '.join(settings)}")
    return commands


def _qos_settings(want: Qos, have: Qos) -> list[str]:
    out = []
    if want.priority != have.priority:
        out.append(f"Priority={want.priority}")
    if want.preempt != have.preempt:
        out.append(f"Preempt={','.join(sorted(want.preempt))}" if want.preempt else "Preempt=''")
    if want.preempt_mode != have.preempt_mode:
        out.append(f"PreemptMode={want.preempt_mode}")
    if abs(want.usage_factor - have.usage_factor) > 1e-6:
        out.append(f"UsageFactor={want.usage_factor:g}")
    if want.max_tres_per_user != have.max_tres_per_user:
        out.append(f"MaxTRESPerUser={want.max_tres_per_user or 'gres/gpu=-1'}")
    if want.max_wall_s != have.max_wall_s:
        out.append(f"MaxWall={_minutes(want.max_wall_s)}")
    if want.flags != have.flags:
        out.append(f"Flags={','.join(sorted(want.flags)) or '-1'}")
    return out


def account_changes(spec: ClusterSpec, found: dict[str, Account]) -> list[tuple[str, list[str]]]:
    """(what, sacctmgr commands) for each account and user association that differs; a person no
    longer in users has their jobs cancelled first (sacctmgr refuses to remove an association with
    jobs running)."""
    changes = []
    cluster = spec.cluster_name
    for name, want in desired_accounts(spec).items():
        have = found.get(name)
        qos = f"QOS={','.join(sorted(want.qos))} DefaultQOS={want.default_qos}"
        if have is None:
            description = shlex.quote(f"{cluster} {name}")
            changes.append(
                (
                    f"Make the Slurm account {name}",
                    [
                        f"sacctmgr -i add account {name} Cluster={cluster} "
                        f"Description={description} Organization={cluster} {qos}"
                    ],
                )
            )
            have = Account(want.qos, want.default_qos)
        elif (have.qos, have.default_qos) != (want.qos, want.default_qos):
            changes.append(
                (
                    f"Set the QoS of the Slurm account {name}",
                    [f"sacctmgr -i modify account where name={name} set {qos}"],
                )
            )
        for user in sorted(want.users - have.users):
            changes.append(
                (
                    f"Let {user} run jobs (Slurm account {name})",
                    [f"sacctmgr -i add user {user} Account={name} Cluster={cluster}"],
                )
            )
        if name == ADMIN_ACCOUNT:
            continue  # an admin added there by hand stays
        for user in sorted(have.users - want.users):
            jobs = f"squeue -h -u {user} -A {name}"
            changes.append(
                (
                    f"Remove {user}'s Slurm association (no longer in users)",
                    [
                        f"scancel --user={user} --account={name}",
                        f"timeout 120 sh -c 'while {jobs} | grep -q .; do sleep 1; done'",
                        f"sacctmgr -i delete user where name={user} account={name} cluster={cluster}",
                    ],
                )
            )
    return changes


def found_qos(fact: dict) -> dict[str, Qos]:
    """The SlurmQos fact as Qos records."""
    return {
        name: Qos(
            priority=q["priority"],
            preempt=frozenset(q["preempt"]),
            preempt_mode=q["preempt_mode"],
            usage_factor=q["usage_factor"],
            max_tres_per_user=q["max_tres_per_user"],
            max_wall_s=slurm_seconds(q["max_wall"]) if q["max_wall"] else None,
            flags=frozenset(q["flags"]),
        )
        for name, q in fact.items()
    }


def found_accounts(fact: dict) -> dict[str, Account]:
    """The SlurmAssociations fact as Account records."""
    return {
        name: Account(frozenset(a["qos"]), a["default_qos"], frozenset(a["users"]))
        for name, a in fact.items()
    }


def slurm_seconds(text: str) -> int:
    """Seconds in a Slurm time: minutes, minutes:seconds, hours:minutes:seconds, days-hours,
    days-hours:minutes or days-hours:minutes:seconds (sbatch(1) --time)."""
    days, _, clock = text.rpartition("-")
    parts = [int(p) for p in clock.split(":")]
    if days:
        parts += [0] * (3 - len(parts))
        hours, minutes, seconds = parts
        return ((int(days) * 24 + hours) * 60 + minutes) * 60 + seconds
    if len(parts) == 3:
        return (parts[0] * 60 + parts[1]) * 60 + parts[2]
    return parts[0] * 60 + (parts[1] if len(parts) == 2 else 0)


def _minutes(seconds: int | None) -> str:
    return "-1" if seconds is None else str(max(1, seconds // 60))
