"""Post-deploy checks: `pyinfra inventory.py validate.py`.

Each check reads the real state of the nodes through a fact and fails the node it concerns with a
readable reason; a healthy cluster passes with no change made.
"""

from pyinfra import host, logger, state
from pyinfra.api.exceptions import OperationError
from pyinfra.operations import python

from ops.facts import MungeCredential, UnmungeStatus
from ops.spec import current

spec = current()

# Munge: a credential made on every node (this one included) must decode here.
failures = []
for other in spec.nodes:
    credential = state.inventory.get_host(other.name).get_fact(MungeCredential)
    if credential is None:
        failures.append(f"{other.name} -> {host.name}: {other.name} made no credential (is munged running?)")
        continue
    status = host.get_fact(UnmungeStatus, credential=credential)["STATUS"]
    if not status.startswith("Success"):
        failures.append(f"{other.name} -> {host.name}: {status}")
if failures:
    python.raise_exception(
        OperationError,
        "munge round trip failed: "
        + "; ".join(failures)
        + ". Fix: run deploy.py to restore the cluster's key",
        name="Munge round trip",
    )
else:
    logger.info(f"{host.print_prefix}munge round trip from {len(spec.nodes)} nodes: ok")
