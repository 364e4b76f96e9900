"""Rolling upgrade: `pyinfra inventory.py upgrade.py`, one node at a time, the controller last.

Each node is drained in Slurm, waits for its jobs, is upgraded (held NVIDIA packages only when
group_data's upgrade["nvidia"] is True), rebooted only if its packages ask for it, checked and
resumed before the next one starts; see runbooks/upgrade.py. Jobs keep running on the other nodes.
The controller takes a backup first (steps/backup.py); where that fails, it is not upgraded.
"""

from pyinfra import host
from pyinfra.operations import python, server

from model.spec import current
from runbooks import upgrade
from steps import backup

spec = current()

# The controller's database and state are upgraded in place: a backup first, or it is not upgraded.
if host.name == spec.controller.name and spec.backup.enabled:
    server.shell(
        name="Back up the accounting database, slurmctld's state and the keys",
        commands=[f"systemctl start {backup.SERVICE}"],
    )

# host.loop gives each node's step its own place in the run: they run one after another.
for name in host.loop(upgrade.order(spec)):
    if host.name == name:
        python.call(name=f"Rolling upgrade of {name}", function=upgrade.upgrade_node, spec=spec)
