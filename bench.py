"""The benchmark: `pyinfra inventory.py bench.py`, through Slurm, with a report on this machine.

Holds each node's wired link to bench["shape_gbit"] while it runs (tc tbf; the rig sets 2.5 so it
is as bandwidth-bound as the real 2.5GbE cluster), runs runbooks/bench.py from the controller, then
the largest all-reduces again with the links held to half that rate (or half of bench["link_gbit"]
where the links are not shaped): the report says from the two whether the link or the hosts bound
the sweep. It copies the results into bench["results"] here and prints bench.report's tables,
figures and plots; then
`python -m bench.report RESULTS --decide --params 350e6 --step-ms 180 --batch 32` answers for a
given model. Nothing of the cluster's configuration changes.
"""

from functools import partial
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
check_gbit = (settings.shape_gbit or settings.link_gbit) / 2  # the rate of the second sweep


def attempt(part, *args) -> None:
    """A part of runbooks/bench.py, none after one failed."""
    if failed:
        return
    try:
        part(spec, run_dir, *args)
    except OperationError as exc:  # the links are restored before the run reports it
        failed.append(str(exc))


def finish() -> None:
    if failed:
        raise OperationError(failed[0])
    report(results, settings.link_gbit, results, slots=len(spec.compute_nodes) * spec.gpus_per_node)


def hold(gbit: float) -> None:
    server.shell(
        name=f"Hold the wired link to {gbit:g} Gbit/s (tc tbf)",
        commands=[f"tc qdisc replace dev {interface} root tbf rate {gbit:g}gbit burst 1mb latency 50ms"],
    )


server.shell(name="Results folder", commands=[f"mkdir -p {run_dir}"], _sudo=False)
if settings.shape_gbit:
    hold(settings.shape_gbit)
if node.is_controller:
    python.call(
        name="Run the benchmark through Slurm", function=partial(attempt, bench.run, settings.shape_gbit)
    )
hold(check_gbit)
if node.is_controller:
    python.call(
        name="The largest all-reduces at the lower rate",
        function=partial(attempt, bench.rate_check, check_gbit),
    )
server.shell(name="Release the wired link", commands=[f"tc qdisc del dev {interface} root"])
if node.is_controller:
    python.call(name="Collect the results", function=partial(attempt, bench.collect, results))
    python.call(name="Report", function=finish)
