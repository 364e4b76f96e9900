"""The real cluster: the one file to edit for your machines.

Each node is listed with its wired (2.5GbE) address; pyinfra connects to that address, so the
deploying machine needs no DNS entries. node0 is the controller and also computes. Add nodes by
adding lines: nothing else assumes three nodes.
"""

SSH_USER = "labadmin"  # the regular admin account created at install (not root)

NODES = {
    "node0": "192.168.1.10",
    "node1": "192.168.1.11",
    "node2": "192.168.1.12",
}
CONTROLLER = "node0"


def _host(name):
    return name, {"cluster_ip": NODES[name], "ssh_hostname": NODES[name], "ssh_user": SSH_USER}


controller = [_host(CONTROLLER)]
compute = [_host(name) for name in NODES]
