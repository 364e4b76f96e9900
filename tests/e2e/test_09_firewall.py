"""The optional host firewall, switched on and off on the rig.

"Outside the subnet" is a real client outside it: the build machine gets a second address, in a
network the cluster does not know (10.79.0.1/32, on the rig's bridge), and connects from it. The
nodes answer it through their default gateway (the build machine), so without the firewall the
connection succeeds; that is checked first, so a refused connection afterwards is the firewall's.
"""

from __future__ import annotations

import socket
import subprocess

import pytest

# nftables and ufw do not depend on the Slurm release: run on the Debian 12 rig only, to keep the
# whole CI run inside its time limit (see issue 20).
pytestmark = pytest.mark.release_independent
OUTSIDE = "10.79.0.1"
PORTS = {"node0": [22, 6817, 6818, 29500], "node1": [22, 6818]}


def reach(source: str, ip: str, port: int) -> str:
    """'open' (connected), 'refused' (the host answered: nothing listens) or 'filtered' (no answer)."""
    with socket.socket() as sock:
        sock.bind((source, 0))
        sock.settimeout(3)
        try:
            sock.connect((ip, port))
            return "open"
        except ConnectionRefusedError:
            return "refused"
        except TimeoutError:
            return "filtered"


def reach_from_node(rig, node: str, ip: str, port: int) -> str:
    probe = f"timeout 3 bash -c '</dev/tcp/{ip}/{port}' 2>&1; echo rc=$?"
    out = rig.run(node, probe, check=False).stdout
    return "open" if "rc=0" in out else "refused" if "refused" in out else "filtered"


@pytest.fixture(scope="module")
def outside(rig):
    """An address of the build machine outside the cluster subnet, on the rig's bridge."""
    bridge = subprocess.run(
        ["ip", "-o", "-4", "addr", "show", "to", f"{rig.subnet_prefix}.1/32"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()[1]
    subprocess.run(["ip", "addr", "add", f"{OUTSIDE}/32", "dev", bridge], check=True)
    yield OUTSIDE
    subprocess.run(["ip", "addr", "del", f"{OUTSIDE}/32", "dev", bridge], check=False)


@pytest.fixture(scope="module")
def firewall(second_deploy, rig, outside, outputs, tmp_path_factory):
    """Reachability from outside before, then the deploy with the firewall on (twice), then off again."""
    before = {(n, p): reach(outside, rig.nodes[n], p) for n, ports in PORTS.items() for p in ports}
    group_data = tmp_path_factory.mktemp("firewall-on")
    (group_data / "all.py").write_text('firewall = {"enabled": True}\n')
    on = rig.deploy("--group-data", str(group_data))
    outputs.append(on.output)
    again = rig.deploy("--group-data", str(group_data))
    yield {"before": before, "on": on, "again": again}
    off = rig.deploy()
    outputs.append(off.output)
    assert off.returncode == 0, off.output[-3000:]
    assert rig.run("node0", "nft list table inet gpucluster", check=False).returncode != 0
    assert reach(outside, rig.nodes["node0"], 22) == "open"


def test_an_active_ufw_is_given_the_cluster_network_and_jobs_cross_it(second_deploy, rig, outputs):
    """ufw on node2, allowing SSH only, as an admin may have left it: its chains would drop Slurm's
    traffic whatever else accepts it; the deploy adds the cluster network to ufw's rules."""
    rig.run("node2", "DEBIAN_FRONTEND=noninteractive apt-get install -y -q ufw >/dev/null")
    rig.run("node2", "ufw allow 22/tcp >/dev/null && ufw --force enable")
    try:
        assert (
            reach_from_node(rig, "node0", rig.nodes["node2"], 6818) == "filtered"
        )  # ufw drops slurmd's port
        result = rig.deploy()
        outputs.append(result.output)
        assert result.returncode == 0, result.output[-3000:]
        rule = f"Host firewall | Let {rig.subnet} through the active ufw (it drops the cluster's traffic"
        rule += " otherwise)"
        assert result.changed() == {rule: ["node2"]}
        assert reach_from_node(rig, "node0", rig.nodes["node2"], 6818) == "open"
        out = rig.run("node0", f"su - {rig.admin_user} -c 'srun -N3 -t 1 hostname'").stdout.split()
        assert sorted(out) == ["node0", "node1", "node2"]
        assert rig.deploy().changed() == {}
    finally:
        rig.run(
            "node2",
            "ufw --force reset >/dev/null; ufw disable; apt-get purge -y -q ufw >/dev/null",
            check=False,
        )


def test_without_the_firewall_the_outside_client_reaches_the_nodes(firewall):
    assert firewall["before"][("node0", 22)] == "open"
    assert firewall["before"][("node0", 6817)] == "open"
    assert firewall["before"][("node0", 29500)] == "refused"  # nothing listens: the host answers


def test_switching_it_on_converges_and_a_second_run_changes_nothing(firewall):
    assert firewall["on"].returncode == 0, firewall["on"].output[-3000:]
    assert firewall["again"].returncode == 0 and firewall["again"].changed() == {}


def test_from_outside_the_subnet_ssh_slurm_and_ddp_ports_are_closed(firewall, rig, outside):
    found = {(n, p): reach(outside, rig.nodes[n], p) for n, ports in PORTS.items() for p in ports}
    assert found == {key: "filtered" for key in found}


def test_inside_the_subnet_the_nodes_reach_each_other(firewall, rig):
    assert reach_from_node(rig, "node1", rig.nodes["node0"], 22) == "open"
    assert reach_from_node(rig, "node1", rig.nodes["node0"], 6817) == "open"
    assert reach_from_node(rig, "node2", rig.nodes["node1"], 6818) == "open"
    assert reach_from_node(rig, "node1", rig.nodes["node0"], 29500) == "refused"  # reachable, unused
    # The deploying machine (inside the subnet) still logs in, and Slurm still runs jobs across nodes.
    assert reach(f"{rig.subnet_prefix}.1", rig.nodes["node0"], 22) == "open"
    out = rig.run("node0", f"su - {rig.admin_user} -c 'srun -N3 -t 1 hostname'").stdout.split()
    assert sorted(out) == ["node0", "node1", "node2"]
