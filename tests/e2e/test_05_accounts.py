"""Accounts on the rig: pinned service IDs, a research user's jobs under their own UID, revocation."""

from __future__ import annotations

import runpy

import paramiko
import pytest
from rig import RIG

NODES = ("node0", "node1", "node2")
RIG_USERS = runpy.run_path("tests/rig/group_data/all.py")["users"]


def login(rig, node: str, user: str, command: str) -> str:
    """Log in over SSH with the user's own key, as the person would, and run a command."""
    client = paramiko.SSHClient()
    client.set_missing_host_key_policy(paramiko.AutoAddPolicy())
    try:
        key = rig.state_dir / f"{user}_ed25519"
        client.connect(
            rig.nodes[node], username=user, key_filename=str(key), look_for_keys=False, allow_agent=False
        )
        _, stdout, stderr = client.exec_command(command, timeout=120)
        status = stdout.channel.recv_exit_status()
        out = stdout.read().decode()
        assert status == 0, (out, stderr.read().decode())
        return out
    finally:
        client.close()


def test_service_accounts_have_the_configured_ids_on_every_node(second_deploy, rig):
    for name, uid in RIG.spec().service_accounts.items():
        for node in NODES:
            assert rig.run(node, f"id -u {name}; id -g {name}").stdout.split() == [str(uid), str(uid)]
    # the daemons run as them, and own their files under those IDs
    assert rig.run("node0", "stat -c %u /etc/munge/munge.key /var/lib/slurm/slurmctld").stdout.split() == [
        str(RIG.spec().service_accounts["munge"]),
        str(RIG.spec().service_accounts["slurm"]),
    ]


def test_a_research_user_runs_a_three_node_job_as_themselves(second_deploy, rig):
    user = RIG_USERS[0]
    out = login(rig, "node0", user["name"], "srun -N3 --ntasks-per-node=1 sh -c 'echo $(hostname) $(id -u)'")
    assert sorted(out.split("\n"))[1:] == [f"{node} {user['uid']}" for node in NODES]
    job = login(
        rig, "node0", user["name"], "cd && sbatch --parsable --wait -N3 /opt/gpucluster/jobs/hello.sbatch"
    )
    owner = rig.run("node0", f"stat -c '%u %U' /home/{user['name']}/hello-{job.strip()}.out").stdout.split()
    assert owner == [str(user["uid"]), user["name"]]


def test_a_conflicting_service_id_is_reported_and_nothing_changes(second_deploy, rig, outputs, tmp_path):
    accounts = {**RIG.spec().service_accounts, "slurm": 1502}
    (tmp_path / "all.py").write_text(f"service_accounts = {accounts!r}\n")
    before = {node: rig.run(node, "getent passwd; getent group").stdout for node in NODES}
    result = rig.deploy("--group-data", str(tmp_path))
    outputs.append(result.output)
    assert result.returncode != 0
    assert "account IDs disagree; nothing was changed" in result.output
    assert "user slurm has UID 1002, expected 1502; fix: stop munge, slurmd and slurmctld" in result.output
    assert {node: rig.run(node, "getent passwd; getent group").stdout for node in NODES} == before


@pytest.mark.release_independent
def test_removing_a_user_from_group_data_removes_their_access_everywhere(
    second_deploy, rig, outputs, tmp_path
):
    user = RIG_USERS[0]
    (tmp_path / "all.py").write_text("users = []\n")
    removed = rig.deploy("--group-data", str(tmp_path))
    outputs.append(removed.output)
    assert removed.returncode == 0, removed.output[-3000:]
    assert sorted(
        removed.changed()[f"Accounts | Revoke {user['name']}'s access (no longer in users)"]
    ) == list(NODES)
    for node in NODES:
        with pytest.raises(paramiko.AuthenticationException):
            login(rig, node, user["name"], "true")
    associations = f"sacctmgr -n -P show assoc user={user['name']} format=account"
    assert rig.run("node0", associations).stdout.split() == []  # Slurm no longer runs their jobs
    again = rig.deploy("--group-data", str(tmp_path))
    assert again.returncode == 0 and again.changed() == {}

    restored = rig.deploy()
    outputs.append(restored.output)
    assert restored.returncode == 0
    assert login(rig, "node1", user["name"], "id -u").strip() == str(user["uid"])
    assert rig.run("node0", associations).stdout.split() == ["research"]
