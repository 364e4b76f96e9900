"""The convergent deploy: `pyinfra inventory.py deploy.py`.

The cluster spec is built and validated first: bad input stops the run before any operation is
planned, so nothing on any host changes.
"""

from ops import hosts, ssh, timesync
from ops.spec import current

current()

hosts.configure()
timesync.configure()
ssh.configure()
