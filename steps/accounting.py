"""Accounting: MariaDB and slurmdbd on the controller, so finished jobs and their GPUs are kept.

The database password is made on the controller and never leaves it: a shell there writes it into
a file only slurm can read, which slurmdbd.conf includes, and hands it to MariaDB on stdin; the
deploy never reads it and the logs never show it. slurmdbd must answer before slurmctld first
starts with accounting (a fresh slurmctld stops when it cannot read its TRES from slurmdbd), so
this runs before steps/slurm.py, after steps/restapi.py (slurmdbd.conf names the JWT key).
slurmctld registers the cluster when it starts; a later run adds it if it is missing.
"""

from __future__ import annotations

from io import StringIO

from pyinfra import host
from pyinfra.api import deploy
from pyinfra.facts.files import File
from pyinfra.operations import server

from facts.slurm import AccountingClusters, SlurmDatabaseLogin
from model.spec import current
from operations import apt, files
from operations.plan import daemon_reload, did_change, keep_running, node_fact, restart
from operations.render import render
from steps.restapi import KEY as JWT_KEY

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
    restart("Restart MariaDB for its new settings", "mariadb", tuning, [TUNING])
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
    daemon_reload("Read the slurmdbd drop-in", "slurmdbd", unit)
    started = [
        restart(
            "Restart slurmdbd for its new configuration", "slurmdbd", [conf, unit, *secret], [CONF, DROP_IN]
        ),
        keep_running("Run slurmdbd", "slurmdbd"),
    ]
    server.shell(
        name="Wait for slurmdbd to answer",
        commands=[f"timeout 120 sh -c 'until ss -Hltn \"sport = :{PORT}\" | grep -q .; do sleep 1; done'"],
        _if=did_change(started),
    )

    clusters = node_fact(host.name, AccountingClusters)
    if clusters is not None and spec.cluster_name not in clusters:
        server.shell(
            name=f"Register the cluster {spec.cluster_name} with slurmdbd",
            commands=[f"sacctmgr -i add cluster {spec.cluster_name}"],
        )
