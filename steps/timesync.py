"""Time sync with chrony: munge credentials are rejected when node clocks drift apart.

The controller serves time to the cluster subnet (and keeps serving from its own clock when the
internet pools are unreachable); every other node follows the controller first.
"""

from io import StringIO

from pyinfra import host
from pyinfra.api import deploy

from model.spec import current
from operations import apt, files
from operations.plan import keep_running, restart
from operations.render import render

CONF = "/etc/chrony/chrony.conf"


@deploy("Time sync (chrony)")
def configure():
    spec = current()
    node = spec.node(host.name)
    apt.packages(name="Install chrony", packages=["chrony"])
    conf = files.put(
        name="Configure chrony",
        src=StringIO(render("chrony.conf.j2", spec=spec, node=node)),
        dest=CONF,
        mode="644",
    )
    # -x: track time but never set the clock, for nodes whose clock is the host's (containers).
    opts = files.line(
        name="Set chronyd options",
        path="/etc/default/chrony",
        line="^DAEMON_OPTS=.*",
        replace='DAEMON_OPTS="-F 1"' if spec.time_set_clock else 'DAEMON_OPTS="-F 1 -x"',
    )
    keep_running("Run chrony", "chrony")
    restart("Restart chrony for its new configuration", "chrony", [conf, opts], [CONF, "/etc/default/chrony"])
