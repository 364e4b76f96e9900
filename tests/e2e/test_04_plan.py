"""The NVIDIA driver, CUDA, the GPUs' power limit, node0's desktop and the NFS shared directory,
tested by their plan.

The rig has no GPU and cannot reach NVIDIA's repository, and the build machine's kernel has no NFS
(neither nfsd nor the client: /proc/filesystems lists no nfs, and a container cannot load modules).
So the deploy runs here with those parts switched on (a temporary ``--group-data`` folder) and
``--dry --json``: pyinfra reads every fact from the real nodes and prints what it would do, and
nothing is applied. The test then checks that the nodes are exactly as before. The exports file
and the fstab line themselves are checked by tests/unit/test_nfs.py.

What "no reboot where none is needed" means here: the rig's nodes are containers. They share the
build machine's kernel, cannot load a kernel module and have no GPU of their own, so no reboot can
make a driver load there; the plan must not contain one (model.gpu_node.reboot_reason, NvidiaPciGpus).

pyinfra is run directly rather than through ``RIG.deploy``: that passes ``-y``, which turns change
detection off, and a plan without it lists no change at all.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from rig import RIG

from model.gpu import NvidiaSettings
from model.nvidia_packages import CUDA_KEYRING, distribution, driver_packages

ROOT = Path(__file__).resolve().parents[2]
NODES = ["node0", "node1", "node2"]
SHARED = {"enabled": True, "path": "/shared", "export": "/srv/gpucluster/shared"}
NVIDIA = {"enabled": True, "power_limit_w": 450}  # the project's versions, three cards held to 450 W
DESKTOP = {"kind": "gnome-minimal"}
SETTINGS = NvidiaSettings(**NVIDIA)
DIST = distribution({"id": "debian", "version_id": {"bookworm": "12", "trixie": "13"}[RIG.suite]}, "x86_64")
MARKER = "/run/gpucluster-dry-run"
# What a real run would change on a node; the dry run must leave all of it as it was.
SNAPSHOT = (
    "dpkg-query -W -f '${Package} ${Version} ${db:Status-Abbrev}\\n' | sha256sum; apt-mark showhold;"
    " systemctl get-default;"
    " ls -A /etc/apt/sources.list.d /etc/apt/preferences.d /etc/modprobe.d /etc/profile.d"
)


def snapshot(rig) -> dict[str, str]:
    return {node: rig.run(node, SNAPSHOT, check=False).stdout for node in NODES}


@pytest.fixture(scope="module")
def dry_run(second_deploy, rig, outputs, tmp_path_factory):
    """The plan of the deploy with the NVIDIA part and a GNOME desktop on, and the nodes before and after."""
    group_data = tmp_path_factory.mktemp("nvidia-on")
    (group_data / "all.py").write_text(
        f"nvidia = {NVIDIA!r}\nshared_dir = {SHARED!r}\ndesktop = {DESKTOP!r}\n"
    )
    # /shared as the mounted export looks (root:researchers 2775) on node0 and node1; absent on node2
    for node in NODES[:2]:
        rig.run(node, f"install -d -o root -g researchers -m 2775 {SHARED['path']}")
    for node in NODES:
        rig.run(node, f"touch {MARKER}")
    before = snapshot(rig)
    inventory = str(ROOT / "tests" / "rig" / "inventory.py")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pyinfra",
            "--dry",
            "--json",
            inventory,
            "deploy.py",
            "--group-data",
            str(group_data),
        ],
        cwd=ROOT,
        env={**os.environ, "RIG_FIRST_LOGIN": "0"},
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
    )
    outputs.append(proc.stdout + proc.stderr)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]
    touched = {
        node: rig.run(node, f"find /etc /usr /var/lib/dpkg -xdev -newer {MARKER} -print").stdout
        for node in NODES
    }
    result = json.loads(proc.stdout)
    assert result["results"] is None  # --dry: nothing ran
    return {"plan": result["plan"], "before": before, "after": snapshot(rig), "touched": touched}


def op(dry_run, *texts: str) -> dict:
    """The one planned operation whose name holds every one of the texts."""
    found = [o for o in dry_run["plan"] if any(all(t in name for t in texts) for name in o["names"])]
    assert len(found) == 1, [o["names"] for o in dry_run["plan"]]
    return found[0]


def test_the_dry_run_changes_nothing_on_any_node(dry_run):
    assert dry_run["after"] == dry_run["before"]
    assert dry_run["touched"] == {node: "" for node in NODES}


def test_the_plan_adds_nvidias_keyring_and_repository(dry_run):
    assert op(dry_run, CUDA_KEYRING, DIST.repo_dir)["hosts_with_change"] == NODES
    assert op(dry_run, "NVIDIA's CUDA repository", DIST.repo_url)["hosts_with_change"] == NODES
    assert op(dry_run, "Read NVIDIA's repository")["hosts_with_conditional_change"] == NODES


def test_the_plan_installs_the_open_driver_of_the_configured_branch(dry_run):
    packages = ", ".join(driver_packages(DIST, SETTINGS))
    install = op(
        dry_run, f"Install the NVIDIA driver {SETTINGS.driver_branch}, open kernel modules ({packages})"
    )
    assert install["hosts_with_change"] == NODES
    assert op(dry_run, f"Pin the driver to branch {SETTINGS.driver_branch}")["hosts_with_change"] == NODES
    assert op(dry_run, "Install kernel headers and DKMS")["hosts_with_change"] == NODES


def test_the_plan_holds_the_driver_packages(dry_run):
    assert op(dry_run, "Hold the NVIDIA driver packages (apt-mark hold)")["hosts_with_change"] == NODES


def test_the_plan_installs_the_configured_toolkit_and_never_a_cuda_metapackage(dry_run):
    toolkit = op(dry_run, f"Install the CUDA {SETTINGS.cuda} toolkit ({SETTINGS.cuda_package})")
    assert toolkit["hosts_with_change"] == NODES
    assert op(dry_run, f"Put CUDA {SETTINGS.cuda} on PATH")["hosts_with_change"] == NODES
    names = [name for o in dry_run["plan"] for name in o["names"]]
    assert not [n for n in names if "cuda-drivers" in n or "(cuda)" in n or "(cuda," in n or ", cuda)" in n]


def test_nouveau_is_blacklisted_and_the_initramfs_refreshed_only_when_that_changes(dry_run):
    assert op(dry_run, "Blacklist nouveau")["hosts_with_change"] == NODES
    refresh = op(dry_run, "Refresh the initramfs")
    assert (refresh["hosts_with_change"], refresh["hosts_with_conditional_change"]) == ([], NODES)


def test_persistenced_is_enabled(dry_run):
    assert op(dry_run, "Enable nvidia-persistenced")["hosts_with_change"] == NODES


def test_every_gpu_is_held_to_the_power_limit_at_each_boot(dry_run):
    assert op(dry_run, "Hold each GPU to 450 W at boot")["hosts_with_change"] == NODES
    assert op(dry_run, "Set the GPUs' power limit at every boot")["hosts_with_change"] == NODES
    # no driver is loaded on the rig: the limit is first set by the boot into the driver, not now
    assert not [o for o in dry_run["plan"] if any("power limit to" in name for name in o["names"])]


def test_no_reboot_is_planned_where_no_reboot_can_help(dry_run):
    reboot = op(dry_run, "Reboot into the installed driver")
    assert (reboot["hosts_with_change"], reboot["hosts_with_conditional_change"]) == ([], [])


def test_the_desktop_is_planned_on_node0_only_with_its_display_manager_off(dry_run):
    assert op(dry_run, "Install the gnome-minimal desktop")["hosts_with_change"] == ["node0"]
    desktop = [o for o in dry_run["plan"] if any(name.startswith("Desktop |") for name in o["names"])]
    assert {h for o in desktop for h in o["hosts_with_change"] + o["hosts_with_conditional_change"]} == {
        "node0"
    }
    assert not [o for o in desktop if any("Run the display manager" in name for name in o["names"])]


def test_node0_alone_serves_the_shared_directory_to_the_subnet(dry_run):
    assert op(dry_run, "Install the NFS server")["hosts_with_change"] == ["node0"]
    assert op(dry_run, f"Shared directory {SHARED['export']}")["hosts_with_change"] == ["node0"]
    assert op(dry_run, "ada's shared folder")["hosts_with_change"] == ["node0"]
    assert op(dry_run, "Write /etc/exports.d/gpucluster.exports")["hosts_with_change"] == ["node0"]
    assert op(dry_run, "Run the NFS server")["hosts_with_change"] == ["node0"]
    reexport = op(dry_run, "Re-export the shared directory")
    assert (reexport["hosts_with_change"], reexport["hosts_with_conditional_change"]) == ([], ["node0"])


def test_every_node_node0_included_mounts_it_on_first_use(dry_run):
    assert op(dry_run, "Install the NFS client")["hosts_with_change"] == NODES
    # made where absent; where the export is mounted its mode is left alone (root may not chmod it)
    assert op(dry_run, "Mount point /shared")["hosts_with_change"] == ["node2"]
    assert op(dry_run, "Mount /shared from node0 (/etc/fstab)")["hosts_with_change"] == NODES
    assert op(dry_run, "Automount /shared on first use")["hosts_with_change"] == NODES
    for name in ("Read the new /etc/fstab", "Restart the automount of /shared"):  # as its line changes
        planned = op(dry_run, name)
        assert (planned["hosts_with_change"], planned["hosts_with_conditional_change"]) == ([], NODES)
