"""Accounting: MariaDB and slurmdbd on the controller, so finished jobs and their GPUs are kept.

The database password is made on the controller and never leaves it: a shell there writes it into
a file only slurm can read, which slurmdbd.conf includes, and hands it to MariaDB on stdin; the
deploy never reads it and the logs never show it. slurmdbd must answer before slurmctld first
starts with accounting (a fresh slurmctld stops when it cannot read its TRES from slurmdbd), so
this runs before ops/slurm.py, after ops/restapi.py (slurmdbd.conf names the JWT key).
slurmctld registers the cluster when it starts; a later run adds it if it is missing.
"""

from __future__ import annotations

from io import StringIO

from pyinfra import host
from pyinfra.api import FactBase, deploy
from pyinfra.facts.files import File
from pyinfra.operations import apt, files, server, systemd

from ops.render import render
from ops.restapi import KEY as JWT_KEY
from ops.shared import did_change, keep_running
from ops.spec import current

CONF = "/etc/slurm/slurmdbd.conf"
SECRET = "/etc/slurm/slurmdbd-storage.conf"  # StoragePass=..., made on the controller
TUNING = "/etc/mysql/mariadb.conf.d/60-slurmdbd.cnf"
DROP_IN = "/etc/systemd/system/slurmdbd.service.d/gpucluster-slurmdbd.conf"
DATABASE = "slurm_acct_db"
PORT = 6819
OWNER = {"user": "slurm", "group": "slurm", "mode": "600"}

# The password is read from SECRET inside the shell; neither command holds it.
_PASSWORD = f"$(sed -n 's/^StoragePass=//p' {SECRET})"
MAKE_SECRET = (
    f"test -s {SECRET} || (umask 077 && "
    f"printf 'StoragePass=%s\\n' \"$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \\n')\" > {SECRET})"
)
GRANT = f"""mysql <<SQL
CREATE DATABASE IF NOT EXISTS {DATABASE};
CREATE USER IF NOT EXISTS 'slurm'@'localhost';
ALTER USER 'slurm'@'localhost' IDENTIFIED BY '{_PASSWORD}';
GRANT ALL ON {DATABASE}.* TO 'slurm'@'localhost';
SQL"""


class SlurmDatabaseLogin(FactBase):
    """
    Returns whether slurmdbd's database user logs in to its database with the password kept on
    the node (the password goes to mysql on stdin, never on a command line or in the output).

    .. code:: python

        True
    """

    def command(self, secret: str, database: str) -> str:
        return (
            f"test -s {secret} && command -v mysql >/dev/null && "
            f"printf '[client]\\nuser=slurm\\npassword=%s\\n' \"$(sed -n 's/^StoragePass=//p' {secret})\" "
            f"| mysql --defaults-file=/dev/stdin -N -e 'SELECT 1' {database} 2>/dev/null || true"
        )

    def process(self, output):
        return "".join(output).strip() == "1"


class AccountingClusters(FactBase):
    """
    Returns the clusters slurmdbd knows (``sacctmgr list cluster``), or ``None`` when it cannot be
    asked (no sacctmgr, no slurmdbd, or a slurm.conf without accounting yet).

    .. code:: python

        ["gpucluster"]
    """

    requires_command = "sacctmgr"

    def command(self) -> str:
        return "timeout 30 sacctmgr -n -P list cluster format=cluster 2>/dev/null || echo '(no answer)'"

    def process(self, output):
        names = [line.strip() for line in output if line.strip()]
        return None if "(no answer)" in names else names


@deploy("Accounting (slurmdbd)")
def configure():
    spec = current()
    if not spec.node(host.name).is_controller:
        return
    apt.packages(
        name="Install MariaDB and slurmdbd",
        packages=["mariadb-server", "slurmdbd"],
    )

    tuning = files.put(
        name=f"Write {TUNING}", src=StringIO(render("60-slurmdbd.cnf.j2")), dest=TUNING, mode="644"
    )
    systemd.service(
        name="Restart MariaDB for its new settings", service="mariadb", restarted=True, _if=did_change(tuning)
    )
    keep_running("Run MariaDB", "mariadb")

    secret = []
    if not host.get_fact(File, path=SECRET):
        secret.append(
            server.shell(name="Make the database password on the controller", commands=[MAKE_SECRET])
        )
    secret.append(files.file(name="Protect the database password", path=SECRET, **OWNER))
    if not host.get_fact(SlurmDatabaseLogin, secret=SECRET, database=DATABASE):
        secret.append(server.shell(name="Create slurmdbd's database and its user", commands=[GRANT]))

    conf = files.put(
        name=f"Write {CONF}",
        src=StringIO(
            render(
                "slurmdbd.conf.j2", spec=spec, port=PORT, database=DATABASE, secret=SECRET, jwt_key=JWT_KEY
            )
        ),
        dest=CONF,
        **OWNER,
    )
    unit = files.put(
        name=f"Write {DROP_IN}", src=StringIO(render("gpucluster-slurmdbd.conf.j2")), dest=DROP_IN, mode="644"
    )
    systemd.daemon_reload(name="Read the slurmdbd drop-in", _if=unit.did_change)
    started = [
        systemd.service(
            name="Restart slurmdbd for its new configuration",
            service="slurmdbd",
            restarted=True,
            _if=did_change([conf, unit, *secret]),
        ),
        keep_running("Run slurmdbd", "slurmdbd"),
    ]
    server.shell(
        name="Wait for slurmdbd to answer",
        commands=[f"timeout 120 sh -c 'until ss -Hltn \"sport = :{PORT}\" | grep -q .; do sleep 1; done'"],
        _if=did_change(started),
    )

    clusters = host.get_fact(AccountingClusters)
    if clusters is not None and spec.cluster_name not in clusters:
        server.shell(
            name=f"Register the cluster {spec.cluster_name} with slurmdbd",
            commands=[f"sacctmgr -i add cluster {spec.cluster_name}"],
        )
