"""The guide's Phase 2 and 3 checks, as a deploy: `pyinfra inventory.py validate.py`.

Runs real jobs through Slurm from the controller and reads each outcome back through a fact. It
ends with a report, one line per check with its evidence, and fails (exit code 1) on any failure.
It changes nothing on the nodes.
"""

from pyinfra import host, logger
from pyinfra.api.exceptions import OperationError
from pyinfra.operations import python

from model.spec import current
from runbooks import checks

spec = current()


def validate() -> None:
    report = checks.Report()
    report.run("Slurm nodes up", checks.nodes_up, spec)
    report.run("every core registered", checks.every_core_registered, spec)
    report.run("munge round trip", checks.munge_round_trip, spec)
    report.run("wired addresses", checks.static_addresses, spec)
    if spec.pytorch:
        report.run("PyTorch everywhere", checks.torch_everywhere, spec)
    needs = ("Slurm nodes up", "munge round trip")
    report.run("single-node GPU job", checks.single_gpu_job, spec, needs=needs)
    report.run("GPU jobs in parallel", checks.parallel_gpu_jobs, spec, needs=needs)
    report.run("GPU isolation", checks.gpu_isolation, spec, needs=needs)
    report.run("multi-node hello world", checks.hello_world, spec, needs=needs)
    if spec.pytorch:
        report.run("DDP training", checks.ddp_training, spec, needs=(*needs, "PyTorch everywhere"))
    logger.warning(report.text())
    if report.failed:
        raise OperationError(f"validation failed: {', '.join(report.failed)}")


if host.name == spec.controller.name:
    python.call(name="Validate the cluster", function=validate)
