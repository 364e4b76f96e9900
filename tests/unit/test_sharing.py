"""The sacctmgr commands that make the QoS and associations as the spec says, from what sacctmgr
reports: everything on a fresh database, nothing on a converged one, only the difference between."""

from __future__ import annotations

import pytest
from specs import build

from model.sharing import (
    account_changes,
    desired_accounts,
    desired_qos,
    found_accounts,
    found_qos,
    qos_changes,
    slurm_seconds,
)
from model.spec import SpecError

ADA = {"name": "ada", "uid": 2001}
GRACE = {"name": "grace", "uid": 2002}
FRESH_QOS = {  # a new accounting database: sacctmgr -n -P show qos (SlurmQos)
    "normal": {
        "priority": 0,
        "preempt": [],
        "preempt_mode": "cluster",
        "usage_factor": 1.0,
        "max_tres_per_user": "",
        "max_wall": "",
        "flags": [],
    }
}
FRESH_ACCOUNTS = {"root": {"qos": ["normal"], "default_qos": "", "users": ["root"]}}


def converged(spec):
    qos = {
        name: {
            "priority": q.priority,
            "preempt": sorted(q.preempt),
            "preempt_mode": q.preempt_mode,
            "usage_factor": q.usage_factor,
            "max_tres_per_user": q.max_tres_per_user,
            "max_wall": "04:00:00" if q.max_wall_s == 14400 else "",
            "flags": sorted(q.flags),
        }
        for name, q in desired_qos(spec).items()
    }
    accounts = {
        name: {"qos": sorted(a.qos), "default_qos": a.default_qos, "users": sorted(a.users)}
        for name, a in desired_accounts(spec).items()
    }
    return qos, {**FRESH_ACCOUNTS, **accounts}


def test_a_fresh_database_gets_every_qos_account_and_person(key):
    spec = build(key, users=[ADA, GRACE], sharing={"max_gpus_per_user": 2})
    commands = qos_changes(spec, found_qos(FRESH_QOS))
    assert commands == [
        "sacctmgr -i add qos scavenger",
        "sacctmgr -i modify qos where name=scavenger set PreemptMode=requeue UsageFactor=0",
        "sacctmgr -i modify qos where name=normal set Priority=10 Preempt=scavenger "
        "MaxTRESPerUser=gres/gpu=2",
        "sacctmgr -i add qos interactive",
        "sacctmgr -i modify qos where name=interactive set Priority=100 Preempt=scavenger "
        "MaxTRESPerUser=gres/gpu=1 MaxWall=240 Flags=DenyOnLimit",
        "sacctmgr -i add qos admin",
        "sacctmgr -i modify qos where name=admin set Priority=10 Preempt=scavenger",
    ]
    changes = account_changes(spec, found_accounts(FRESH_ACCOUNTS))
    assert [what for what, _ in changes] == [
        "Make the Slurm account research",
        "Let ada run jobs (Slurm account research)",
        "Let grace run jobs (Slurm account research)",
        "Make the Slurm account admin",
        "Let labadmin run jobs (Slurm account admin)",
    ]
    assert changes[0][1] == [
        "sacctmgr -i add account research Cluster=gpucluster Description='gpucluster research' "
        "Organization=gpucluster QOS=interactive,normal,scavenger DefaultQOS=normal"
    ]
    assert changes[4][1] == ["sacctmgr -i add user labadmin Account=admin Cluster=gpucluster"]


def test_a_converged_database_gets_no_command(key):
    spec = build(key, users=[ADA, GRACE], sharing={"max_gpus_per_user": 2})
    qos, accounts = converged(spec)
    assert qos_changes(spec, found_qos(qos)) == []
    assert account_changes(spec, found_accounts(accounts)) == []


def test_only_what_differs_is_changed(key):
    before = build(key, users=[ADA, GRACE], sharing={"max_gpus_per_user": 2})
    qos, accounts = converged(before)
    accounts["admin"]["users"].append("someone-added-by-hand")
    after = build(key, users=[ADA], sharing={"max_gpus_per_user": None, "interactive_max_time": "1-0"})
    assert qos_changes(after, found_qos(qos)) == [
        "sacctmgr -i modify qos where name=normal set MaxTRESPerUser=gres/gpu=-1",
        "sacctmgr -i modify qos where name=interactive set MaxWall=1440",
    ]
    # grace leaves: her jobs are cancelled, then her association removed; the admin account's
    # hand-made member stays
    assert account_changes(after, found_accounts(accounts)) == [
        (
            "Remove grace's Slurm association (no longer in users)",
            [
                "scancel --user=grace --account=research",
                "timeout 120 sh -c 'while squeue -h -u grace -A research | grep -q .; do sleep 1; done'",
                "sacctmgr -i delete user where name=grace account=research cluster=gpucluster",
            ],
        )
    ]


def test_a_qos_changed_by_hand_is_set_back(key):
    spec = build(key)
    qos, _ = converged(spec)
    qos["interactive"].update(preempt=[], flags=[], max_wall="")
    qos["scavenger"]["usage_factor"] = 1.0
    assert qos_changes(spec, found_qos(qos)) == [
        "sacctmgr -i modify qos where name=scavenger set UsageFactor=0",
        "sacctmgr -i modify qos where name=interactive set Preempt=scavenger MaxWall=240 Flags=DenyOnLimit",
    ]


@pytest.mark.parametrize(
    "text, seconds",
    [
        ("30", 1800),
        ("5:30", 330),
        ("04:00:00", 14400),
        ("7-0", 604800),
        ("1-02:03", 93780),
        ("1-00:00:01", 86401),
    ],
)
def test_slurm_times(text, seconds):
    assert slurm_seconds(text) == seconds


def test_sharing_needs_accounting_and_an_account_of_its_own(key):
    with pytest.raises(SpecError, match=r"sharing: associations.*fix: set accounting True"):
        build(key, accounting=False)
    with pytest.raises(SpecError, match=r"sharing: account 'admin' is taken"):
        build(key, sharing={"account": "admin"})
    with pytest.raises(SpecError, match=r"sharing\[.decay_half_life.\]: String should match"):
        build(key, sharing={"decay_half_life": "a week"})
