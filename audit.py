"""Drift audit: `pyinfra inventory.py audit.py`.

Reads from every node its OS and kernel, NVIDIA driver, GPU power limits and CUDA, Slurm version,
slurm.conf and munge key hashes, clock offset and torch version; prints them side by side and fails
(exit code 1) on any difference between nodes, a clock offset above clock_offset_limit_ms or a GPU
not held to nvidia["power_limit_w"]. Changes nothing.
"""

from pyinfra import host, logger
from pyinfra.api.exceptions import OperationError
from pyinfra.operations import python

from model.spec import current
from runbooks import audit, checks

spec = current()


def run_audit() -> None:
    rows = audit.gather(spec)
    logger.warning("audit\n" + audit.table(rows))
    for lease in checks.dhcp_leases(spec):
        logger.warning(f"audit: {lease}: the cluster address is a DHCP lease; {checks.PIN_ADDRESS}")
    power = spec.nvidia.power_limit_w if spec.nvidia.enabled else None
    found = audit.problems(rows, spec.clock_offset_limit_ms / 1000, power)
    if found:
        raise OperationError("drift: " + " | ".join(found) + ". Fix: run deploy.py (or see the README)")
    logger.warning("audit: every node agrees")


if host.name == spec.controller.name:
    python.call(name="Audit the nodes for drift", function=run_audit)
