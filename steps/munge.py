"""Munge: one key for the whole cluster, so every node trusts every other node's credentials.

The key is made once on the controller (or taken from `munge_key_file` on the deploying machine)
and copied to the other nodes through the deploy's memory only: never a file in the project, the
repository or the logs. munged restarts only when its key changed; configure() returns the
operations that wrote the key, so slurmd can restart with it too (steps/slurm.py).
"""

import base64
from io import BytesIO

from pyinfra import host
from pyinfra.api import deploy
from pyinfra.facts.files import File
from pyinfra.operations import server

from facts.files import Base64File
from model.spec import current
from operations import apt, files
from operations.plan import keep_running, node_fact, restart, skip_for_unreachable, when_known

KEY = "/etc/munge/munge.key"
KEY_OWNER = {"user": "munge", "group": "munge", "mode": "400"}


@deploy("Munge")
def configure() -> list:
    """Munge installed, the cluster's key in place and munged running; returns the key's operations."""
    spec = current()
    node = spec.node(host.name)
    apt.packages(name="Install munge", packages=["munge"])

    if spec.munge_key_file:
        key_ops = [
            files.put(
                name="Install the operator's munge key", src=str(spec.munge_key_file), dest=KEY, **KEY_OWNER
            )
        ]
    elif node.is_controller:
        key_ops = []
        if not host.get_fact(File, path=KEY):
            key_ops.append(
                server.shell(
                    name="Create the cluster's munge key",
                    commands=[f"test -s {KEY} || mungekey --create --keyfile {KEY}"],
                )
            )
        key_ops.append(files.file(name="Protect the munge key", path=KEY, **KEY_OWNER))
    elif skip_for_unreachable("The munge key", [spec.controller.name]):
        key_ops = []
    else:
        key_ops = [
            when_known(
                "Copy the controller's munge key",
                lambda: node_fact(spec.controller.name, Base64File, path=KEY),
                lambda key: files.put(
                    name="Copy the controller's munge key",
                    src=BytesIO(base64.b64decode(key)),
                    dest=KEY,
                    **KEY_OWNER,
                ),
            )
        ]

    keep_running("Run munged", "munge")
    restart("Restart munged for its new key", "munge", list(key_ops), [KEY])
    return key_ops
