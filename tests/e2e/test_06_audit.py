"""audit.py on the rig: a clean cluster passes; a node whose munge key drifted is named, then fixed."""

from __future__ import annotations

import re

import pytest

from runbooks.remote import wait_for

NODES = ("node0", "node1", "node2")


def audit_table(output: str) -> dict[str, list[str]]:
    lines = output[output.index("audit\n") :].splitlines()[1:5]
    return {line.split()[0]: line.split() for line in lines if line.split()[0] in NODES}


def test_audit_passes_on_a_converged_cluster(second_deploy, rig, outputs):
    result = rig.deploy(deploy_file="audit.py")
    outputs.append(result.output)
    assert result.returncode == 0, result.output[-3000:]
    assert "audit: every node agrees" in result.output
    table = audit_table(result.output)
    assert sorted(table) == list(NODES)
    slurm = rig.run("node0", "slurmd -V").stdout.split()[-1]
    assert all(slurm in row for row in table.values())
    key_hash = rig.run("node0", "sha256sum /etc/munge/munge.key").stdout[:12]
    assert all(f"sha256:{key_hash}" in row for row in table.values())


@pytest.mark.release_independent
def test_audit_names_a_node_whose_munge_key_drifted_and_deploy_fixes_it(second_deploy, rig, outputs):
    rig.run("node1", "head -c 1024 /dev/urandom > /etc/munge/munge.key && systemctl restart munge")
    try:
        drift = rig.deploy(deploy_file="audit.py")
        outputs.append(drift.output)
        assert drift.returncode != 0
        assert re.search(
            r"munge key: node1 has sha256:\w{12} \(sha256:\w{12} on node0, node2\)", drift.output
        )
    finally:
        fixed = rig.deploy()
        outputs.append(fixed.output)
    assert fixed.returncode == 0
    assert fixed.changed()["Munge | Copy the controller's munge key"] == ["node1"]
    # slurmctld set node1 DOWN while it could not authenticate, and asks a DOWN node to register only
    # every few minutes: the deploy restarts slurmd, which registers at once
    assert fixed.changed()["Slurm | Restart slurmd to register with the new munge key"] == ["node1"]
    assert wait_for(lambda: rig.run("node0", "sinfo -h -N -o %T").stdout.split() == ["idle"] * 3, 30), (
        rig.run("node0", "sinfo -N").stdout
    )
    clean = rig.deploy(deploy_file="audit.py")
    assert clean.returncode == 0 and "audit: every node agrees" in clean.output
