"""The rolling upgrade (upgrade.py) under load: one node out at a time, no job lost, all back IDLE.

Runs after the fault tests. The rig's packages come from the Debian mirror: whether or not any
has a newer version today, each node is drained, upgraded, checked and resumed in turn. The rig's
containers never ask for a reboot (no package writes /var/run/reboot-required in them).
"""

from __future__ import annotations

import threading

import pytest
from test_07_faults import submit, wait_for

NODES = ("node0", "node1", "node2")
OUT_OF_SERVICE = ("drain", "draining", "drained", "down", "fail")


class SlurmWatch(threading.Thread):
    """Samples every node's Slurm state once a second while the upgrade runs."""

    def __init__(self, rig):
        super().__init__(daemon=True)
        self.rig, self.samples, self.stop = rig, [], threading.Event()

    def run(self):
        while not self.stop.is_set():
            out = self.rig.run("node0", "sinfo -h -N -o '%N %T'", check=False).stdout
            states = dict(line.split()[:2] for line in out.splitlines() if line.strip())
            if states:
                self.samples.append(states)
            self.stop.wait(1)

    def out_of_service(self, states: dict[str, str]) -> list[str]:
        return [n for n, s in states.items() if s.rstrip("*") in OUT_OF_SERVICE or s.endswith("*")]


@pytest.fixture(autouse=True)
def all_idle(second_deploy, rig):
    wait_for(lambda: rig.run("node0", "sinfo -h -N -o %T").stdout.split() == ["idle"] * 3, 120, "idle", rig)


def test_the_upgrade_refuses_a_second_node_out_of_service(rig):
    rig.run("node0", "scontrol update nodename=node2 state=drain reason=maintenance")
    try:
        result = rig.deploy("--limit", "node1", deploy_file="upgrade.py")
        assert result.returncode != 0
        assert "node1 not upgraded: node2 (drained) already out of service" in result.output
        assert rig.run("node0", "sinfo -h -n node1 -o %T").stdout.strip() == "idle"  # never drained
    finally:
        rig.run("node0", "scontrol update nodename=node2 state=resume")


def test_a_rolling_upgrade_keeps_two_nodes_working_and_loses_no_job(rig):
    tasks = 18  # 15 s each, one GPU each: they keep the cluster busy through most of the upgrade
    array = submit(rig, '--array=0-17 --gres=gpu:1 -o /dev/null --wrap "sleep 15"')
    wait_for(
        lambda: "RUNNING" in rig.run("node0", f"squeue -h -j {array} -o %T").stdout, 60, "the array", rig
    )

    def backups() -> int:
        return len(rig.run("node0", "ls -1d /var/backups/gpucluster/*Z 2>/dev/null || true").stdout.split())

    taken = backups()
    watch = SlurmWatch(rig)
    watch.start()
    result = rig.deploy(deploy_file="upgrade.py")
    watch.stop.set()
    watch.join()
    assert result.returncode == 0, result.output[-4000:]
    # The controller's backup came first, before any node was taken out.
    assert backups() == taken + 1
    assert result.output.index("Back up the accounting database") < result.output.index("Rolling upgrade of")

    # At every sample at least two nodes took work, and each node was out in turn: node1, node2, node0.
    worst = max(watch.samples, key=lambda s: len(watch.out_of_service(s)))
    assert len(watch.out_of_service(worst)) <= 1, worst
    order = []
    for states in watch.samples:
        for node in watch.out_of_service(states):
            if node not in order:
                order.append(node)
    assert order == ["node1", "node2", "node0"], order

    wait_for(lambda: not rig.run("node0", f"squeue -h -j {array}").stdout.strip(), 400, "the array", rig)
    ended = rig.run("node0", f"scontrol -o show job {array}").stdout.splitlines()
    states = [dict(f.split("=", 1) for f in line.split() if "=" in f)["JobState"] for line in ended]
    assert states == ["COMPLETED"] * tasks, states
    assert rig.run("node0", "sinfo -h -N -o '%N %T'").stdout.split() == [
        "node0",
        "idle",
        "node1",
        "idle",
        "node2",
        "idle",
    ]
