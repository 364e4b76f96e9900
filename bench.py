"""The benchmark: `pyinfra inventory.py bench.py`, through Slurm, with a report on this machine.

Holds each node's wired link to bench["shape_gbit"] while it runs (tc tbf; the rig sets 2.5 so it
is as bandwidth-bound as the real 2.5GbE cluster), runs runbooks/bench.py from the controller, copies
the results into bench["results"] here and prints bench.report's tables, figures and plots; then
`python -m bench.report RESULTS --decide --params 350e6 --step-ms 180 --batch 32` answers for a
given model. Nothing of the cluster's configuration changes.
"""

from pathlib import Path

from pyinfra import host
from pyinfra.api.exceptions import OperationError
from pyinfra.operations import python, server

from bench.report import report
from facts.system import InterfaceWithAddress
from model.spec import current
from runbooks import bench

spec = current()
settings = spec.bench
node = spec.node(host.name)
run_dir = f"/home/{spec.admin_user}/gpucluster-bench/{bench.RUN_ID}"
results = Path(settings.results).resolve()
interface = host.get_fact(InterfaceWithAddress, ip=str(node.ip))
failed: list[str] = []


def run() -> None:
    try:
        bench.run(spec, run_dir, results)
    except OperationError as exc:  # the links are restored before the run reports it
        failed.append(str(exc))


def finish() -> None:
    if failed:
        raise OperationError(failed[0])
    report(results, settings.link_gbit, results, slots=len(spec.compute_nodes) * spec.gpus_per_node)


server.shell(name="Results folder", commands=[f"mkdir -p {run_dir}"], _sudo=False)
if settings.shape_gbit:
    server.shell(
        name=f"Hold the wired link to {settings.shape_gbit:g} Gbit/s (tc tbf)",
        commands=[
            f"tc qdisc replace dev {interface} root tbf rate {settings.shape_gbit:g}gbit "
            "burst 1mb latency 50ms"
        ],
    )
if node.is_controller:
    python.call(name="Run the benchmark through Slurm", function=run)
if settings.shape_gbit:
    server.shell(name="Release the wired link", commands=[f"tc qdisc del dev {interface} root"])
if node.is_controller:
    python.call(name="Report", function=finish)
