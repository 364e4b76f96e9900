"""The backup and restore scripts as the controller gets them, with and without accounting."""

from __future__ import annotations

from specs import build

from operations.render import render
from steps.backup import script_context


def test_the_backup_dumps_the_database_in_one_transaction_and_keeps_the_newest(key):
    spec = build(key, backup={"keep": 5, "path": "/srv/backups"})
    script = render("gpucluster-backup.j2", **script_context(spec))
    assert "mariadb-dump --single-transaction" in script and "slurm_acct_db.sql.gz" in script
    assert "set -euo pipefail" in script and "umask 077" in script
    assert "head -n -5" in script and "mkdir -p -m 700 /srv/backups" in script
    assert 'keys.tar.gz" etc/munge etc/slurm etc/ssh' in script
    restore = render("gpucluster-restore.j2", **script_context(spec))
    assert (
        restore.index("systemctl stop slurmctld")
        < restore.index("| mariadb")
        < restore.index("systemctl start slurmctld")
    )


def test_without_accounting_there_is_no_database_to_dump_or_restore(key):
    spec = build(key, accounting=False, sharing={"enabled": False}, backup={"schedule": "Sun *-*-* 02:00"})
    ctx = script_context(spec)
    for template in ("gpucluster-backup.j2", "gpucluster-restore.j2", "gpucluster-backup.service.j2"):
        text = render(template, **ctx)
        assert "mariadb" not in text and "slurmdbd" not in text.replace("slurmdbd-storage", "")
    assert "OnCalendar=Sun *-*-* 02:00" in render("gpucluster-backup.timer.j2", **ctx)
