"""The health check slurmd runs (steps/health.py): a sick node drains itself, naming the cause, and
returns once healthy; a node an admin drained stays drained.

Stand-ins, as everywhere on the rig: the GPUs are tests/rig's character devices (no driver, so no
nvidia-smi and no Xid: those paths are tests/unit/test_health.py's, on recorded answers); the full
disk is a small tmpfs mounted over node2's spool for the test (the rig's disk is the build
machine's). slurmctld asks for a check every 15 s on the rig (tests/rig/group_data/all.py).
"""

from __future__ import annotations

import time

import pytest
from test_07_faults import all_idle, job, node_state, submit, wait_for  # noqa: F401 (a fixture)

INTERVAL = 15
FAKE_GPUS = "systemd-tmpfiles --create /etc/tmpfiles.d/gpucluster-fake-gpu.conf"
SPOOL = "/var/lib/slurm/slurmd"


def reason(rig, node: str) -> str:
    return rig.run("node0", f"sinfo -h -n {node} -o %E").stdout.strip()


def drained(rig, node: str) -> bool:
    return node_state(rig, node) in ("drained", "draining")


def test_a_node_whose_gpu_is_gone_drains_itself_naming_it_and_returns_once_it_is_back(second_deploy, rig):
    rig.run("node2", "rm /dev/nvidia0")
    try:
        wait_for(lambda: drained(rig, "node2"), 2 * INTERVAL + 10, "node2 drained by its health check", rig)
        assert reason(rig, "node2") == "gpucluster-health: GPU /dev/nvidia0 is missing"
    finally:
        rig.run("node2", FAKE_GPUS)
    wait_for(lambda: node_state(rig, "node2") == "idle", 2 * INTERVAL + 10, "node2 back in service", rig)
    assert reason(rig, "node2") == "none"


@pytest.mark.release_independent
def test_a_node_an_admin_drained_stays_drained_sick_or_healthy(second_deploy, rig):
    log = rig.run("node1", "wc -l < /var/log/slurm/slurmd.log").stdout.strip()
    rig.run("node0", "scontrol update nodename=node1 state=drain reason='swap the fan'")
    rig.run("node1", "rm /dev/nvidia0")
    try:
        seen = wait_for(
            lambda: (
                "gpucluster-health: GPU /dev/nvidia0 is missing"
                in rig.run("node1", f"tail -n +{int(log) + 1} /var/log/slurm/slurmd.log").stdout
            ),
            2 * INTERVAL + 10,
            "node1's health check to find the GPU gone",
            rig,
        )
        assert seen and reason(rig, "node1") == "swap the fan"
    finally:
        rig.run("node1", FAKE_GPUS)
    assert rig.run("node1", "SLURMD_NODENAME=node1 gpucluster-healthcheck").returncode == 0  # healthy
    time.sleep(INTERVAL + 5)
    assert drained(rig, "node1") and reason(rig, "node1") == "swap the fan"
    rig.run("node0", "scontrol update nodename=node1 state=resume")


@pytest.mark.release_independent
def test_a_full_spool_drains_the_node_and_its_jobs_run_elsewhere_until_there_is_room(second_deploy, rig):
    """Issue 18's disk fault: a node whose spool has no room would fail every job it is sent."""
    rig.run("node2", f"mount -t tmpfs -o size=1100m,mode=755 gpucluster-test {SPOOL}")
    try:
        rig.run("node2", f"fallocate -l 1000m {SPOOL}/filler")
        wait_for(lambda: drained(rig, "node2"), 2 * INTERVAL + 10, "node2 drained by its health check", rig)
        assert reason(rig, "node2") == f"gpucluster-health: {SPOOL} has 100 MB free, needs 1024"

        ids = [submit(rig, '--gres=gpu:1 -o /dev/null --wrap "sleep 3"') for _ in range(3)]
        wait_for(lambda: all(job(rig, i).get("JobState") == "COMPLETED" for i in ids), 90, "the jobs", rig)
        assert {job(rig, i)["NodeList"] for i in ids} <= {"node0", "node1"}
        assert drained(rig, "node2")

        rig.run("node2", f"rm {SPOOL}/filler")
        wait_for(lambda: node_state(rig, "node2") == "idle", 2 * INTERVAL + 10, "node2 back in service", rig)
    finally:
        rig.run("node2", f"umount {SPOOL}", check=False)
        rig.run("node0", "scontrol update nodename=node2 state=resume", check=False)
    assert reason(rig, "node2") == "none"


@pytest.mark.release_independent
def test_the_controller_takes_back_a_node_cut_off_once_its_slurmd_answers_again(second_deploy, rig):
    """A step still running on node2 sends nothing when its link comes back: slurmctld alone asks a
    DOWN node to register only at its 20th ping (up to 200 s here, 33 min with SlurmdTimeout 300);
    node0's health check reaches its slurmd and takes it back within two checks."""
    job_id = submit(rig, '--no-requeue --gres=gpu:1 -w node2 -o /dev/null --wrap "sleep 600"')
    wait_for(lambda: job(rig, job_id).get("JobState") == "RUNNING", 60, "the job to run on node2", rig)
    route = rig.run("node2", "ip route show default").stdout.strip()
    rig.run("node2", "ip link set eth0 down")
    try:
        wait_for(lambda: node_state(rig, "node2").startswith("down"), 120, "node2 to go DOWN", rig)
        assert reason(rig, "node2") == "Not responding"
    finally:
        rig.run("node2", f"ip link set eth0 up && ip route replace {route}")
    wait_for(lambda: node_state(rig, "node2") == "idle", 2 * INTERVAL + 10, "node2 back in service", rig)
    assert job(rig, job_id)["JobState"] == "NODE_FAIL"
    wait_for(  # the step left on node2 is ended once the node is back
        lambda: rig.run("node2", "pgrep -f '[s]leep 600'", check=False).returncode == 1,
        60,
        "the old step",
        rig,
    )
