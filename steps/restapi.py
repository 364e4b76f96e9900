"""slurmrestd on the controller: Slurm's REST API, answering only requests with a valid JWT.

The HS256 key is made on the controller (slurm, 0600, beside slurmctld's state) and never leaves
it. slurmctld and slurmdbd name it in AuthAltParameters and stop without it, so this runs before
steps/accounting.py and steps/slurm.py. slurmrestd runs as its own unprivileged user with
SLURM_JWT=daemon: it holds no key and passes each client's token on to slurmctld, which checks it.
It listens on the controller's cluster address only. Every node gets the auth/jwt plugin, since
the slurm.conf they share names it.
"""

from io import StringIO

from pyinfra import host
from pyinfra.api import deploy
from pyinfra.facts.files import File
from pyinfra.operations import server

from model.slurm_conf import PATHS
from model.spec import current
from operations import apt, files
from operations.accounts import system_user
from operations.plan import daemon_reload, keep_running, restart
from operations.render import render

KEY = f"{PATHS.state_save}/jwt_hs256.key"
USER = "slurmrestd"
DROP_IN = "/etc/systemd/system/slurmrestd.service.d/gpucluster-slurmrestd.conf"


@deploy("Slurm REST API")
def configure():
    spec = current()
    apt.packages(name="Install the auth/jwt plugin", packages=["slurm-wlm-jwt-plugin"])
    if not spec.node(host.name).is_controller:
        return

    apt.packages(name="Install slurmrestd", packages=["slurmrestd"])
    files.directory(
        name="slurmctld state directory", path=PATHS.state_save, user="slurm", group="slurm", mode="755"
    )
    key_ops = []
    if not host.get_fact(File, path=KEY):
        key_ops.append(
            server.shell(
                name="Create the JWT key",
                commands=[
                    f"test -s {KEY} || (umask 077 && dd if=/dev/random of={KEY} bs=32 count=1 status=none)"
                ],
            )
        )
    key_ops.append(files.file(name="Protect the JWT key", path=KEY, user="slurm", group="slurm", mode="600"))

    system_user(USER)
    unit = files.put(
        name=f"Write {DROP_IN}",
        src=StringIO(render("gpucluster-slurmrestd.conf.j2", spec=spec, user=USER)),
        dest=DROP_IN,
        mode="644",
    )
    daemon_reload("Read the slurmrestd drop-in", "slurmrestd", unit)
    restart("Restart slurmrestd for its new settings", "slurmrestd", unit, [DROP_IN])
    keep_running("Run slurmrestd", "slurmrestd")
