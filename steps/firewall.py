"""The optional host firewall: inbound traffic only from the cluster subnet (and SSH from admins).

Its own nftables table, loaded by its own unit, so it neither replaces nor is replaced by another
ruleset (ufw, Docker). Before it is switched on, the run checks that the address this deploy
connects from may still reach SSH afterwards; if not, it stops, naming the fix, so the firewall
never locks the operator out. Switched off, the unit and its table are removed.

Where ufw is active (this firewall on or off), the cluster network is added to its rules: ufw's
chains drop the cluster's traffic whatever this table accepts.
"""

from __future__ import annotations

from io import StringIO
from ipaddress import IPv4Address

from pyinfra import host
from pyinfra.api import deploy
from pyinfra.api.exceptions import PyinfraError
from pyinfra.operations import server

from facts.system import CommandResult, UfwStatus
from model.spec import ClusterSpec, current
from operations import apt, files
from operations.plan import daemon_reload, keep_running, keep_stopped, restart
from operations.render import render

RULES = "/etc/gpucluster/firewall.nft"
UNIT = "gpucluster-firewall.service"


def admits_ssh_from(spec: ClusterSpec, address: IPv4Address) -> bool:
    """Whether the firewall lets SSH in from this address."""
    return address in spec.network or any(address in net for net in spec.firewall.admin_sources)


@deploy("Host firewall")
def configure():
    spec = current()
    # An active ufw drops what it does not allow, whatever another table accepts (a packet must
    # pass every base chain on its hook): Slurm, srun and NCCL between the nodes would be cut off.
    ufw = host.get_fact(UfwStatus)
    if ufw and ufw["active"] and str(spec.network) not in ufw["allowed_from"]:
        server.shell(
            name=f"Let {spec.network} through the active ufw (it drops the cluster's traffic otherwise)",
            commands=[f"ufw allow from {spec.network} comment 'gpucluster: the cluster network'"],
        )
    if not spec.firewall.enabled:
        keep_stopped("Stop the host firewall", UNIT)
        files.file(name=f"Remove {UNIT}", path=f"/etc/systemd/system/{UNIT}", present=False)
        files.file(name=f"Remove {RULES}", path=RULES, present=False)
        return

    # SSH_CONNECTION is "client port server port" for this deploy's own session (sudo drops it).
    client = host.get_fact(CommandResult, command="echo $SSH_CONNECTION", _sudo=False)["output"].split()
    if client and not admits_ssh_from(spec, IPv4Address(client[0])):
        raise PyinfraError(
            f"{host.name}: this deploy connects from {client[0]}, outside {spec.network} and the "
            "firewall's admin_sources: switching the firewall on would lock it out; nothing was changed. "
            f"Fix: add {client[0]}/32 (or its network) to firewall['admin_sources'] in group_data/all.py"
        )

    apt.packages(name="Install nftables", packages=["nftables"])
    rules = files.put(
        name=f"Write {RULES}",
        src=StringIO(render("firewall.nft.j2", spec=spec, ssh_port=spec.node(host.name).ssh_port)),
        dest=RULES,
        mode="644",
    )
    server.shell(
        name="Check the firewall rules (nft -c)", commands=[f"nft -c -f {RULES}"], _if=rules.did_change
    )
    unit_path = f"/etc/systemd/system/{UNIT}"
    unit = files.put(
        name=f"Write {UNIT}",
        src=StringIO(render("gpucluster-firewall.service.j2", rules=RULES)),
        dest=unit_path,
        mode="644",
    )
    daemon_reload("Read the firewall unit", UNIT, unit)
    restart("Reload the firewall rules", UNIT, [rules, unit], [RULES, unit_path])
    keep_running("Run the host firewall", UNIT)
