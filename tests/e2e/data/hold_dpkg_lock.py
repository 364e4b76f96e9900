"""Hold the dpkg locks as unattended-upgrades does on a fresh install, until apt has waited for them.

Run on a rig node (as root) while the first deploy starts. It takes both locks with fcntl (as apt
and dpkg do), holds them until an `apt-get install` has been waiting for WAIT_S seconds (at most MAX_S), then
prints what it saw as JSON: whether it held the locks and how long apt-get waited.
"""

import fcntl
import json
import subprocess
import time

WAIT_S, MAX_S = 15, 240
locks = [open(path, "a") for path in ("/var/lib/dpkg/lock-frontend", "/var/lib/dpkg/lock")]  # noqa: SIM115
for lock in locks:
    fcntl.lockf(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
start, waiting_since = time.monotonic(), None
while time.monotonic() - start < MAX_S:
    apt = subprocess.run(["pgrep", "-f", "apt-get .*install"], capture_output=True).returncode == 0
    waiting_since = (waiting_since or time.monotonic()) if apt else None
    if waiting_since and time.monotonic() - waiting_since >= WAIT_S:
        break
    time.sleep(0.5)
waited = time.monotonic() - waiting_since if waiting_since else 0
print(json.dumps({"held_s": round(time.monotonic() - start, 1), "apt_waited_s": round(waited, 1)}))
