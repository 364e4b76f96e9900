"""Rolling upgrade: `pyinfra inventory.py upgrade.py`, one node at a time, the controller last.

Each node is drained in Slurm, waits for its jobs, is upgraded (held NVIDIA packages only when
group_data's upgrade["nvidia"] is True), rebooted only if its packages ask for it, checked and
resumed before the next one starts; see runbooks/upgrade.py. Jobs keep running on the other nodes.
"""

from pyinfra import host
from pyinfra.operations import python

from model.spec import current
from runbooks import upgrade

spec = current()

# host.loop gives each node's step its own place in the run: they run one after another.
for name in host.loop(upgrade.order(spec)):
    if host.name == name:
        python.call(name=f"Rolling upgrade of {name}", function=upgrade.upgrade_node, spec=spec)
