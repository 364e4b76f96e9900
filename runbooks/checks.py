"""The checks of validate.py: real jobs through Slurm, each outcome read back through a fact.

Each check returns its evidence (job ids, nodes, timings) or raises CheckFailed with the reason.
They run on the controller, as the admin user, when validate.py's run reaches them.
"""

from __future__ import annotations

import json
import shlex
import time
from dataclasses import dataclass, field

from pyinfra import host, state

from facts.munge import MungeCredential, UnmungeStatus
from facts.slurm import SlurmdHardware, SlurmNodes, in_service
from facts.system import InterfaceWithAddress, WiredAddress
from facts.torch import TorchVersion, same_release
from model.spec import ClusterSpec
from runbooks.remote import run, wait_for
from steps.jobs import JOBS_DIR

# A job that reports where it ran, its GPU environment and what opening each GPU device gave.
PROBE = """
import glob, json, os
r = {"job": os.environ.get("SLURM_JOB_ID"), "host": os.uname().nodename,
     "cvd": os.environ.get("CUDA_VISIBLE_DEVICES"), "devices": {}}
for path in sorted(glob.glob("/dev/nvidia[0-9]*")):
    try:
        os.close(os.open(path, os.O_RDWR)); r["devices"][path] = "opened"
    except OSError as e:
        r["devices"][path] = e.strerror
try:
    import torch
    r["cuda"] = torch.cuda.is_available()
    r["name"] = torch.cuda.get_device_name(0) if r["cuda"] else None
except ImportError:
    r["cuda"] = None
print(json.dumps(r))
"""
DENIED = "Operation not permitted"  # EPERM: the device cgroup refused
NO_DRIVER = "No such device or address"  # ENXIO: allowed, but the rig's stand-in has no driver


class CheckFailed(Exception):
    """A check found the cluster not as it should be; the message says what and where."""


class CheckWarning(Exception):
    """A check found something that works today but may break later; reported, not failed."""


PIN_ADDRESS = (
    "pin it: a static address in the node's netplan file (/etc/netplan/*.yaml: dhcp4: false, "
    "addresses: [<cluster_ip>/<prefix>], routes, nameservers; then `sudo netplan apply`) or a DHCP "
    "reservation for its wired MAC address"
)


@dataclass
class Report:
    lines: list[tuple[str, str, str]] = field(default_factory=list)

    def run(self, title: str, check, *args, needs: tuple[str, ...] = ()) -> None:
        blocked = [name for name, verdict, _ in self.lines if name in needs and verdict != "PASS"]
        if blocked:
            self.lines.append((title, "SKIP", f"needs: {', '.join(blocked)}"))
            return
        start = time.monotonic()
        try:
            evidence = check(*args)
            verdict = "PASS"
        except CheckFailed as exc:
            evidence, verdict = str(exc), "FAIL"
        except CheckWarning as exc:
            evidence, verdict = str(exc), "WARN"
        except Exception as exc:  # noqa: BLE001 - an output that did not parse still ends in its line
            evidence, verdict = f"could not read the outcome ({type(exc).__name__}: {exc})"[:600], "FAIL"
        self.lines.append((title, verdict, f"{evidence} [{time.monotonic() - start:.1f} s]"))

    @property
    def failed(self) -> list[str]:
        return [title for title, verdict, _ in self.lines if verdict not in ("PASS", "WARN")]

    def text(self) -> str:
        width = max(len(title) for title, _, _ in self.lines)
        rows = [f"  {verdict}  {title.ljust(width)}  {evidence}" for title, verdict, evidence in self.lines]
        return "validate.py report\n" + "\n".join(rows)


def _python(spec: ClusterSpec) -> str:
    return f"{spec.torch_venv}/bin/python" if spec.pytorch else "python3"


def _probe(spec: ClusterSpec, srun_args: str) -> list[dict]:
    result = run(f"timeout 180 srun {srun_args} {_python(spec)} -c {shlex.quote(PROBE)}")
    if result["rc"] != 0:
        raise CheckFailed(f"srun {srun_args} failed (rc {result['rc']}): {result['output'][-300:]}")
    return [json.loads(line) for line in result["output"].splitlines() if line.startswith("{")]


def nodes_up(spec: ClusterSpec) -> str:
    """Every compute node's slurmd runs and Slurm has it up with its GPUs."""
    problems = []
    for node in spec.compute_nodes:
        active = run("systemctl is-active slurmd", node.name)["output"].strip()
        if active != "active":
            problems.append(f"slurmd on {node.name} is {active}")
    seen = host.get_fact(SlurmNodes, _sudo=False)
    for node in spec.compute_nodes:
        entry = seen.get(node.name)
        if not in_service(entry):
            problems.append(f"{node.name} is {entry['state'] if entry else 'missing'} in Slurm")
        elif spec.gpus_per_node and f"gpu:{spec.gpu_type}:" not in entry["gres"]:
            problems.append(f"{node.name} has GRES {entry['gres'] or 'none'}")
    if problems:
        raise CheckFailed("; ".join(problems))
    return ", ".join(f"{name} {e['state']} {e['gres']}" for name, e in sorted(seen.items()))


def dhcp_leases(spec: ClusterSpec) -> list[str]:
    """The nodes whose cluster address is a DHCP lease (it may move), each with the interface."""
    leases = []
    for node in spec.nodes:
        wired = state.inventory.get_host(node.name).get_fact(WiredAddress, ip=str(node.ip))
        if wired and wired["dynamic"]:
            leases.append(f"{node.name} ({node.ip} on {wired['interface']})")
    return leases


def static_addresses(spec: ClusterSpec) -> str:
    """Every cluster address is the node's own, not a DHCP lease that can move away from inventory.py."""
    leases = dhcp_leases(spec)
    if leases:
        raise CheckWarning(f"a DHCP lease, not a static address: {', '.join(leases)}; {PIN_ADDRESS}")
    return f"{', '.join(str(n.ip) for n in spec.nodes)}: static"


def every_core_registered(spec: ClusterSpec) -> str:
    """Slurm schedules every hardware thread hwloc counts on each node, E-cores included."""
    problems, seen = [], []
    for node in spec.compute_nodes:
        hardware = state.inventory.get_host(node.name).get_fact(SlurmdHardware)
        shown = dict(
            f.split("=", 1) for f in run(f"scontrol -o show node {node.name}")["output"].split() if "=" in f
        )
        if not hardware or "CPUTot" not in shown:
            problems.append(f"{node.name}: no hardware or Slurm record to compare")
            continue
        found, scheduled = hardware["hwloc"]["pus"], int(shown["CPUTot"])
        if scheduled != found:
            problems.append(f"{node.name}: Slurm has {scheduled} CPUs, the hardware {found}")
        if "Low socket" in shown.get("Reason", "") or "INVALID" in shown.get("State", ""):
            problems.append(
                f"{node.name}: slurmd sees fewer cores than its node line ({shown.get('Reason')})"
            )
        seen.append(f"{node.name} {scheduled}/{found}")
    if problems:
        raise CheckFailed(
            "; ".join(problems) + "; fix: run deploy.py (it writes the node lines and allow_ecores)"
        )
    return f"CPUs in Slurm / in the hardware: {', '.join(seen)}"


def munge_status(source: str, target: str) -> str:
    """What the target node's munged says of a credential made on the source node (STATUS)."""
    credential = state.inventory.get_host(source).get_fact(MungeCredential)
    if not credential:
        return "no credential made (is munged running?)"
    return state.inventory.get_host(target).get_fact(UnmungeStatus, credential=credential)["STATUS"]


def munge_round_trip(spec: ClusterSpec) -> str:
    """A credential made on every node decodes on every node (all ordered pairs)."""
    pairs = [(source.name, target.name) for source in spec.nodes for target in spec.nodes]
    statuses = {pair: munge_status(*pair) for pair in pairs}
    failures = [
        f"{s} -> {t}: {status}" for (s, t), status in statuses.items() if not status.startswith("Success")
    ]
    if failures:
        raise CheckFailed("; ".join(failures) + "; fix: run deploy.py to restore the cluster's key")
    return f"{len(pairs)}/{len(pairs)} ordered pairs decode"


def torch_everywhere(spec: ClusterSpec) -> str:
    """The same PyTorch release in the same venv on every node."""
    found = {
        n.name: state.inventory.get_host(n.name).get_fact(TorchVersion, venv=spec.torch_venv)
        for n in spec.nodes
    }
    wrong = {
        name: (v or {}).get("torch")
        for name, v in found.items()
        if not v or not same_release(v["torch"], spec.torch_version)
    }
    if wrong:
        raise CheckFailed(
            ", ".join(f"{name} has torch {version or 'missing'}" for name, version in wrong.items())
            + f", expected {spec.torch_version}; fix: run deploy.py"
        )
    return f"torch {found[spec.nodes[0].name]['torch']} on {', '.join(found)}"


def single_gpu_job(spec: ClusterSpec) -> str:
    """A one-GPU job gets CUDA_VISIBLE_DEVICES and a usable device."""
    (result,) = _probe(spec, "-N1 -n1 --gres=gpu:1 --job-name=validate-gpu")
    where = f"job {result['job']} on {result['host']}: CUDA_VISIBLE_DEVICES={result['cvd']}"
    if not result["cvd"]:
        raise CheckFailed(f"{where} (not set)")
    if spec.fake_gpu_devices:  # rig: a stand-in device node, allowed by the cgroup but driverless
        if NO_DRIVER not in result["devices"].values():
            raise CheckFailed(f"{where}, the GPU device was not usable: {result['devices']}")
        return f"{where}, stand-in /dev/nvidia0 allowed by the cgroup (ENXIO: no driver)"
    if not result.get("cuda"):
        raise CheckFailed(f"{where}, torch.cuda.is_available() is {result.get('cuda')}")
    return f"{where}, torch sees {result['name']}"


def gpu_isolation(spec: ClusterSpec) -> str:
    """A job without --gres=gpu cannot open any GPU device, on any node."""
    n = len(spec.compute_nodes)
    results = _probe(spec, f"-N{n} --ntasks-per-node=1 --job-name=validate-isolation")
    leaks = [
        f"{r['host']} opened {path} ({outcome})"
        for r in results
        for path, outcome in r["devices"].items()
        if outcome != DENIED
    ]
    if leaks or any(r["cvd"] for r in results):
        raise CheckFailed(
            f"job {results[0]['job']} without --gres=gpu: " + "; ".join(leaks or ["CUDA_VISIBLE_DEVICES set"])
        )
    if not all(r["devices"] for r in results):
        raise CheckFailed(f"job {results[0]['job']}: no /dev/nvidia* device to test on some node")
    hosts = ", ".join(sorted(r["host"] for r in results))
    return f"job {results[0]['job']} on {hosts}: every GPU device {DENIED}"


def _queue(ids: list[str]) -> dict[str, list[str]]:
    out = run(f"squeue -h -j {','.join(ids)} -o '%i %T %N %r'")["output"]
    return {row.split()[0]: row.split()[1:] for row in out.splitlines() if row.strip()}


def parallel_gpu_jobs(spec: ClusterSpec) -> str:
    """One job per GPU runs at once, spread over every node; one more waits for Resources until one ends."""
    slots = len(spec.compute_nodes) * spec.gpus_per_node
    submit = "sbatch --parsable --gres=gpu:1 --job-name=validate-slot -o /dev/null --wrap 'sleep 300'"
    ids = [run(submit)["output"].strip().split(";")[0] for _ in range(slots + 1)]
    try:

        def all_slots_busy():
            queue = _queue(ids)
            # the last reads "Priority" while another still waited when the scheduler looked at
            # it (a node just back); a later scheduling pass gives it its settled reason
            settled = queue.get(ids[-1], [""])[-1] == "Resources"
            return queue if settled and sum(v[0] == "RUNNING" for v in queue.values()) == slots else None

        running = wait_for(all_slots_busy, 150)
        if not running:
            raise CheckFailed(
                f"jobs {','.join(ids)}: not {slots} running, one PENDING (Resources): {_queue(ids)}"
            )
        nodes = sorted(v[1] for v in running.values() if v[0] == "RUNNING")
        expected = sorted(n.name for n in spec.compute_nodes for _ in range(spec.gpus_per_node))
        if nodes != expected:
            raise CheckFailed(f"jobs {','.join(ids)} ran on {nodes}, expected {expected}")
        run(f"scancel {ids[0]}")
        if not wait_for(lambda: _queue([ids[-1]]).get(ids[-1], [""])[0] == "RUNNING", 60):
            raise CheckFailed(f"job {ids[-1]} did not start after job {ids[0]} ended")
    finally:
        run(f"scancel {' '.join(ids)}")
    return (
        f"jobs {','.join(ids[:-1])} ran together on {', '.join(nodes)}; job {ids[-1]} waited "
        f"(PENDING, Resources) and started once job {ids[0]} ended"
    )


def _batch(script: str, args: str, sbatch_args: str = "", timeout: int = 240) -> tuple[str, str]:
    """Run a batch script to its end; return its job id and its output file's text."""
    out = "/tmp/gpucluster-validate-%j.out"
    submitted = run(f"sbatch --parsable {sbatch_args} -o {out} {JOBS_DIR}/{script} {args}")
    if submitted["rc"] != 0:
        raise CheckFailed(f"sbatch {script} refused: {submitted['output'][-300:]}")
    job = submitted["output"].strip().split(";")[0]

    def finished():
        fields = dict(
            f.split("=", 1) for f in run(f"scontrol -o show job {job}")["output"].split() if "=" in f
        )
        return (
            fields
            if fields.get("JobState") not in ("PENDING", "RUNNING", "CONFIGURING", "COMPLETING")
            else None
        )

    fields = wait_for(finished, timeout)
    if fields is None:
        run(f"scancel {job}")
        raise CheckFailed(f"job {job} ({script}) did not finish within {timeout} s")
    text = run(f"cat {out.replace('%j', job)}", fields.get("BatchHost"))["output"]
    if fields.get("JobState") != "COMPLETED":
        raise CheckFailed(f"job {job} ({script}) ended {fields.get('JobState')}: {_gist(text)}")
    return job, text


def _gist(text: str) -> str:
    """The lines of a failed job's output that say why (its errors), else its end."""
    errors = [line.strip() for line in text.splitlines() if "Error" in line or "error:" in line]
    return " | ".join(errors[-4:])[-900:] if errors else text[-400:]


def hello_world(spec: ClusterSpec) -> str:
    """The multi-node hello world answers from every node."""
    n = len(spec.compute_nodes)
    job, text = _batch("hello.sbatch", "", f"-N{n}")
    hosts = sorted(
        line.split(" on ")[1].split()[0] for line in text.splitlines() if line.startswith("hello from")
    )
    expected = sorted(node.name for node in spec.compute_nodes)
    if hosts != expected:
        raise CheckFailed(f"job {job} answered from {hosts}, expected {expected}")
    return f"job {job}: hello from {', '.join(hosts)}"


def ddp_training(spec: ClusterSpec) -> str:
    """The DDP batch script trains on every node: ranks on distinct hosts, identical parameters."""
    n = len(spec.compute_nodes)
    job, text = _batch("ddp.sbatch", f"{JOBS_DIR}/examples/train_ddp.py --steps 50", f"-N{n}")
    ranks = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
    hosts = sorted(r["host"] for r in ranks)
    if len(ranks) != n * spec.gpus_per_node or len(set(hosts)) != n:
        raise CheckFailed(f"job {job}: ranks on {hosts}, expected {n * spec.gpus_per_node} on {n} nodes")
    if len({r["checksum"] for r in ranks}) != 1 or not all(r["identical"] for r in ranks):
        raise CheckFailed(f"job {job}: parameters differ between ranks: {[r['checksum'] for r in ranks]}")
    wired = {
        n.name: state.inventory.get_host(n.name).get_fact(InterfaceWithAddress, ip=str(n.ip))
        for n in spec.nodes
    }
    astray = [
        f"{r['host']} on {r.get('interface')} (wired: {wired.get(r['host'])})"
        for r in ranks
        if (r.get("interface") or "").lstrip("=") != wired.get(r["host"])
    ]
    if astray:
        raise CheckFailed(f"job {job}: ranks not on their wired interface: {', '.join(astray)}")
    speed = min(r["steps_per_s"] for r in ranks)
    return (
        f"job {job}: {len(ranks)} ranks on {', '.join(hosts)} ({ranks[0]['backend']}, {ranks[0]['device']}), "
        f"each on its wired interface, identical parameters, {speed} steps/s"
    )
