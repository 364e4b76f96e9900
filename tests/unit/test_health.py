"""The health check as a node gets it, run here by bash against stand-ins for what a node has.

No GPU and no Slurm here: scontrol, munge, journalctl, df and nvidia-smi are small scripts on PATH
(scontrol answers as slurmctld would and records the updates it is asked for); nvidia-smi prints
the recorded answers in tests/unit/data (an RTX 5090, a driver that cannot drive it, no driver,
listed in test_gpu.py); the Xid lines are in the kernel's format (NVIDIA's Xid catalog). The real
commands run on the rig (tests/e2e/test_14_health.py), which has no driver and no Xid.
"""

from __future__ import annotations

import os
import socket
import subprocess
from pathlib import Path

import pytest
from specs import build

from operations.render import render
from steps.health import PREFIX, script_context

DATA = Path(__file__).parent / "data"
XID_79 = "NVRM: Xid (PCI:0000:01:00): 79, pid='<unknown>', name=<unknown>, GPU has fallen off the bus."
XID_13 = "NVRM: Xid (PCI:0000:01:00): 13, pid=4242, name=python, Graphics SM Warp Exception"


class Node:
    """A node's files and commands in a folder: gres.conf, job.env, the link, and the fake tools."""

    def __init__(self, root: Path, key, controller="node0", **health):
        self.root = root
        self.bin = root / "bin"
        self.bin.mkdir(parents=True)
        self.dev = root / "dev"
        self.dev.mkdir()
        (root / "net" / "eth0").mkdir(parents=True)
        (root / "net" / "eth0" / "operstate").write_text("up\n")
        (root / "job.env").write_text("GLOO_SOCKET_IFNAME=eth0\n")
        (root / "gres.conf").write_text(
            f"NodeName=node1 Name=gpu Type=rtx5090 File={self.dev}/nvidia[0-1]\n"
            f"NodeName=node2 Name=gpu Type=rtx5090 File={self.dev}/nvidia0\n"
        )
        (root / "spool").mkdir()
        (root / "slurm.conf").write_text("SlurmctldPort=6817\nSlurmdPort=6818\n")
        self.state = "IDLE"
        self.reason = ""
        self.free_mb = 50000
        self.kernel_log = ""
        spec = build(key, health_check=health)
        script = render(
            "gpucluster-healthcheck.j2",
            **script_context(
                spec,
                gres_conf=root / "gres.conf",
                job_env=root / "job.env",
                directories=[root / "spool"],
                state_dir=root / "run",
                sys_net=root / "net",
                controller=controller,
                slurm_conf=root / "slurm.conf",
                nvidia_smi_timeout_s=1,
            ),
        )
        self.script = root / "gpucluster-healthcheck"
        self.script.write_text(script)
        self.tool("munge", "echo CRED")
        self.tool("unmunge", "cat >/dev/null")
        self.tool("logger", "true")
        self.tool("df", 'echo Avail; echo " $(cat "$FAKE/free")"')
        self.tool("journalctl", 'cat "$FAKE/kernel-log"; : >"$FAKE/kernel-log"')  # read once: the cursor
        self.tool(
            "scontrol",
            'if [ "$1" = update ]; then echo "$*" >>"$FAKE/updates"; exit 0; fi\n'
            'echo "NodeName=node1 Arch=x86_64 State=$(cat "$FAKE/state") Partitions=gpu '
            'Reason=$(cat "$FAKE/reason")"',
        )

    def tool(self, name: str, body: str) -> None:
        path = self.bin / name
        path.write_text(f"#!/bin/bash\n{body}\n")
        path.chmod(0o755)

    def gpus(self, *names: str) -> None:
        for name in names:  # a FIFO stands in for a character device: present, but not one
            os.mkfifo(self.dev / name)

    def run(self) -> tuple[int, str, list[str]]:
        for name, value in (("state", self.state), ("reason", self.reason), ("free", self.free_mb)):
            (self.root / name).write_text(f"{value}\n")
        (self.root / "kernel-log").write_text(self.kernel_log)
        updates = self.root / "updates"
        updates.unlink(missing_ok=True)
        env = {
            "PATH": f"{self.bin}:/usr/bin:/bin",
            "FAKE": str(self.root),
            "SLURMD_NODENAME": "node1",
            "HOME": str(self.root),
        }
        result = subprocess.run(["bash", self.script], env=env, capture_output=True, text=True, timeout=30)
        self.kernel_log = ""
        calls = updates.read_text().splitlines() if updates.exists() else []
        return result.returncode, result.stdout.strip(), calls


@pytest.fixture
def node(tmp_path, key):
    return Node(tmp_path / "node", key)


def char_devices(node: Node) -> None:
    """The script checks `-c`; the test's GPUs are made character devices by pointing at /dev/null."""
    for name in ("nvidia0", "nvidia1"):
        (node.dev / name).unlink(missing_ok=True)
        (node.dev / name).symlink_to("/dev/null")


def test_a_healthy_node_is_left_alone(node):
    char_devices(node)
    assert node.run() == (0, "", [])


def test_a_missing_gpu_drains_the_node_naming_it_and_its_return_resumes_it(node):
    char_devices(node)
    (node.dev / "nvidia1").unlink()
    code, out, calls = node.run()
    cause = f"{PREFIX} GPU {node.dev}/nvidia1 is missing"
    assert code == 1 and out == cause
    assert calls == [f"update nodename=node1 state=drain reason={cause}"]

    node.state, node.reason = "IDLE+DRAIN", f"{cause} [root@2026-12-06T21:00:00]"
    assert node.run() == (1, cause, [])  # already drained for this: nothing sent again
    char_devices(node)
    assert node.run() == (0, "", ["update nodename=node1 state=resume"])


def test_a_drain_of_an_admins_is_never_lifted_nor_overwritten(node):
    node.state, node.reason = "IDLE+DRAIN", "new PSU [alice@2026-12-06T21:00:00]"
    assert node.run()[2] == []  # unhealthy (no GPUs): the admin's reason stays
    char_devices(node)
    assert node.run() == (0, "", [])  # healthy: still drained


def test_a_device_node_that_is_not_a_character_device_counts_as_missing(node):
    node.gpus("nvidia0", "nvidia1")
    assert node.run()[1] == f"{PREFIX} GPU {node.dev}/nvidia0 is missing; GPU {node.dev}/nvidia1 is missing"


@pytest.mark.parametrize(
    "recorded, status, cause",
    [
        ("nvidia-smi-rtx5090-570.csv", 0, "the driver lists 1 GPUs, gres.conf 2"),
        ("nvidia-smi-no-devices.txt", 6, "nvidia-smi fails: No devices were found"),
        ("nvidia-smi-no-driver.txt", 9, "nvidia-smi fails: NVIDIA-SMI has failed because it couldn't"),
    ],
)
def test_the_driver_must_list_every_gpu_gres_conf_gives(node, recorded, status, cause):
    char_devices(node)
    node.tool("nvidia-smi", f'cat "{DATA / recorded}"; exit {status}')
    code, out, _ = node.run()
    assert code == 1 and out.startswith(f"{PREFIX} {cause}")


def test_both_gpus_listed_is_healthy(node):
    char_devices(node)
    line = (DATA / "nvidia-smi-rtx5090-570.csv").read_text()
    node.tool("nvidia-smi", f"printf '%s' '{line}{line.replace('0, ', '1, ', 1)}'")
    assert node.run() == (0, "", [])


def test_an_nvidia_smi_that_hangs_is_cut_short(node):
    char_devices(node)
    node.tool("nvidia-smi", "sleep 20")
    assert node.run()[1] == f"{PREFIX} nvidia-smi did not answer within 1 s"


def test_a_serious_xid_drains_until_reboot_and_a_jobs_own_does_not(node):
    char_devices(node)
    node.kernel_log = f"{XID_13}\n"
    assert node.run() == (0, "", [])
    node.kernel_log = f"usb 1-1: new device\n{XID_79}\n"
    code, out, calls = node.run()
    assert code == 1 and out == f"{PREFIX} GPU PCI:0000:01:00 Xid 79"
    node.state, node.reason = "IDLE+DRAIN", out
    assert node.run()[:2] == (1, out)  # no new line in the log: still drained (the GPU needs a reset)
    (node.root / "run" / "xids").unlink()  # what a reboot does to /run
    assert node.run() == (0, "", ["update nodename=node1 state=resume"])


def test_too_little_room_for_the_spool_drains(tmp_path, key):
    node = Node(tmp_path / "n", key, min_free_mb=2048)
    char_devices(node)
    node.free_mb = 2000
    assert node.run()[1] == f"{PREFIX} {node.root}/spool has 2000 MB free, needs 2048"


def test_munge_failing_twice_and_a_link_down_drain_with_both_causes(node):
    char_devices(node)
    node.tool("unmunge", "cat >/dev/null; echo 'unmunge: Error: Invalid credential' >&2; exit 1")
    (node.root / "net" / "eth0" / "operstate").write_text("down\n")
    assert node.run()[1] == f"{PREFIX} munge fails; wired link eth0 is down"


def test_a_node_drained_for_one_cause_gets_the_new_one(node):
    char_devices(node)
    (node.root / "net" / "eth0" / "operstate").write_text("down\n")
    node.state, node.reason = "MIXED+DRAIN", f"{PREFIX} munge fails [root@2026-12-06T21:00:00]"
    assert node.run()[2] == [f"update nodename=node1 state=drain reason={PREFIX} wired link eth0 is down"]


def test_slurmctld_not_answering_changes_nothing(node):
    char_devices(node)
    node.tool("scontrol", "exit 1")
    assert node.run() == (0, "slurmctld does not answer: the node's state is left as it is", [])


def test_on_the_controller_a_node_down_for_not_answering_is_taken_back_once_its_slurmd_answers(tmp_path, key):
    node = Node(tmp_path / "n", key, controller="node1")
    char_devices(node)
    with socket.create_server(("127.0.0.1", 0)) as slurmd:  # node2's slurmd, answering again
        port = slurmd.getsockname()[1]
        (node.root / "slurm.conf").write_text(f"SlurmdPort={port}\n")
        node.tool(
            "sinfo",
            "echo 'node2 127.0.0.1 Not responding'; echo 'node3 127.0.0.1 swap the fan'; "
            "echo 'node4 127.0.0.2 Not responding'",  # node4: nothing listens, still away
        )
        assert node.run() == (0, "", ["update nodename=node2 state=resume"])
