"""apt waits for the dpkg lock instead of failing, and reads fresh package lists once: the first
step of every deploy.

A freshly installed Ubuntu runs unattended-upgrades minutes after its first boot, and it holds
the dpkg lock while it works; every apt step of the deploy would then fail with "Could not get
lock /var/lib/dpkg/lock-frontend". apt's own ``DPkg::Lock::Timeout`` makes every apt-get on the
node (the deploy's, upgrade.py's) wait for the lock instead.

The package lists are refreshed here, when older than an hour, and not again by each apt.packages:
a no-change run reads the cache's age once instead of once per package step.
"""

from io import StringIO

from pyinfra.api import deploy

from operations import apt, files
from operations.render import render

CONF = "/etc/apt/apt.conf.d/50gpucluster-lock-timeout"
CACHE_TIME_S = 3600
LOCK_TIMEOUT_S = 1200  # unattended-upgrades' first run on a fresh install can take many minutes


@deploy("apt")
def configure():
    files.put(
        name=f"Wait up to {LOCK_TIMEOUT_S} s for the dpkg lock ({CONF})",
        src=StringIO(render("50gpucluster-lock-timeout.j2", timeout=LOCK_TIMEOUT_S)),
        dest=CONF,
        user="root",
        group="root",
        mode="644",
    )
    apt.update(name="Refresh the package lists (when older than an hour)", cache_time=CACHE_TIME_S)
