"""Backups on the controller of what it cannot rebuild: the accounting database (one consistent
dump), slurmctld's state (jobs queued and running, the JWT key) and the cluster's keys (munge's,
the database password, the host keys), dated, root only, the newest `keep` kept, never copied off.

gpucluster-backup takes one (a timer runs it; upgrade.py runs it before it upgrades the
controller); gpucluster-restore puts the database and the state back (README: Backups).
"""

from __future__ import annotations

import shlex
from io import StringIO

from pyinfra import host
from pyinfra.api import deploy
from pyinfra.facts.files import File
from pyinfra.operations import server, systemd

from model.slurm_conf import PATHS
from model.spec import current
from operations import files
from operations.plan import daemon_reload, keep_running, restart, will_change
from operations.render import render
from steps.accounting import DATABASE

BACKUP = "/usr/local/sbin/gpucluster-backup"
RESTORE = "/usr/local/sbin/gpucluster-restore"
SERVICE = "gpucluster-backup.service"
TIMER = "gpucluster-backup.timer"
KEYS = ("/etc/munge", "/etc/slurm", "/etc/ssh")  # munge.key; slurmdbd's password; the host keys


def script_context(spec) -> dict:
    """What the backup and restore scripts and their units are rendered from."""
    return {
        "path": spec.backup.path,
        "keep": spec.backup.keep,
        "schedule": spec.backup.schedule,
        "database": DATABASE if spec.accounting else None,
        "state_save": PATHS.state_save,
        "keys": " ".join(folder.lstrip("/") for folder in KEYS),
        "script": BACKUP,
    }


@deploy("Backups")
def configure():
    spec = current()
    if not spec.node(host.name).is_controller:
        return
    settings = spec.backup
    timer = f"/etc/systemd/system/{TIMER}"
    if not settings.enabled:
        if host.get_fact(File, path=timer):
            systemd.service(name="Stop the backup timer", service=TIMER, running=False, enabled=False)
            files.file(name=f"Remove {timer}", path=timer, present=False)
            systemd.daemon_reload(name="Forget the backup timer")
        return
    context = script_context(spec)
    for template, dest in (("gpucluster-backup.j2", BACKUP), ("gpucluster-restore.j2", RESTORE)):
        files.put(name=f"Install {dest}", src=StringIO(render(template, **context)), dest=dest, mode="755")
    timer_text = render(f"{TIMER}.j2", **context)
    if will_change(timer, timer_text):
        server.shell(
            name=f"Check the schedule {settings.schedule!r}",
            commands=[
                f"systemd-analyze calendar {shlex.quote(settings.schedule)} >/dev/null || {{ echo "
                f"\"backup['schedule']: {settings.schedule!r} is not a systemd calendar time; fix: set it in "
                'group_data/all.py to e.g. daily or 03:00" >&2; exit 1; }'
            ],
        )
    units = [
        files.put(name=f"Write {name}", src=StringIO(text), dest=f"/etc/systemd/system/{name}", mode="644")
        for name, text in ((SERVICE, render(f"{SERVICE}.j2", **context)), (TIMER, timer_text))
    ]
    daemon_reload("Read the backup units", [SERVICE, TIMER], units)
    restart("Restart the backup timer", TIMER, units, [timer])
    keep_running(f"Back up on the schedule {settings.schedule!r}", TIMER)
