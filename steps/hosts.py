"""Persistent host names and an /etc/hosts that maps every node's name to its wired address."""

from io import StringIO

from pyinfra import host
from pyinfra.api import deploy

from model.spec import current
from operations import files, server
from operations.render import render


@deploy("Host name and /etc/hosts")
def configure():
    """Name the node and write /etc/hosts.

    A node's own name maps to its wired IP, never to 127.0.1.1, so `hostname --ip-address` (used by
    launchers such as torchrun) returns an address the other nodes can reach.
    """
    spec = current()
    node = spec.node(host.name)
    server.hostname(name="Set the host name", hostname=node.name)
    files.put(
        name="Write /etc/hosts",
        src=StringIO(render("hosts.j2", spec=spec)),
        dest="/etc/hosts",
        mode="644",
        user="root",
        group="root",
    )
