"""The rolling upgrade of upgrade.py: one node out of service at a time, the controller last.

For each node in turn: refuse unless every other node takes work, drain it in Slurm and wait for
its jobs to end (up to drain_timeout_s), upgrade its packages (the held NVIDIA driver only when
asked), reboot it only if the upgrade asks for that, wait until slurmd is back and the node
passes its checks, then resume it. A step that fails leaves the node drained, says why and stops
the upgrades after it, so the cluster never has more than one node out.
"""

from __future__ import annotations

import shlex
import time

from pyinfra import host, logger
from pyinfra.api.exceptions import OperationError
from pyinfra.operations import server

from facts.slurm import SlurmNodes, in_service
from facts.torch import TorchVersion, same_release
from model.spec import ClusterSpec
from runbooks.checks import munge_status
from runbooks.remote import run, wait_for

REASON = "rolling upgrade (upgrade.py)"
# Keep the configuration files this project wrote; never stop for a question.
APT = "DEBIAN_FRONTEND=noninteractive apt-get -q -y -o Dpkg::Options::=--force-confold"
REBOOT_FLAG = "/var/run/reboot-required"  # written by Debian and Ubuntu packages that need one


def order(spec: ClusterSpec) -> list[str]:
    """The nodes in the order they are upgraded: compute nodes first, the controller last."""
    return [n.name for n in spec.nodes if not n.is_controller] + [spec.controller.name]


def _sh(command: str, sudo: bool = True) -> tuple[bool, str]:
    result = run(command, sudo=sudo)
    return result["rc"] == 0, result["output"]


def slurm_nodes() -> dict[str, dict]:
    return host.get_fact(SlurmNodes, _sudo=False)


def _scontrol_state(name: str, new_state: str, reason: str = "") -> None:
    command = f"scontrol update nodename={name} state={new_state}"
    ok, out = _sh(command + (f" reason={shlex.quote(reason)}" if reason else ""))
    if not ok:
        raise OperationError(f"{name}: `{command}` failed: {out[-300:]}")


def upgrade_node(spec: ClusterSpec) -> None:
    """Upgrade the node this runs on, taking it out of service in Slurm only while it is upgraded."""
    name, settings = host.name, spec.upgrade
    node = spec.node(name)
    states = slurm_nodes()
    if not states:
        raise OperationError(f"{name} not upgraded: sinfo does not answer; fix Slurm first (validate.py)")
    out = sorted(f"{n} ({s['state']})" for n, s in states.items() if n != name and not in_service(s))
    if out:
        raise OperationError(
            f"{name} not upgraded: {', '.join(out)} already out of service, and the upgrade takes only one "
            "node out at a time; fix: bring it back (`scontrol update nodename=NODE state=resume` once it "
            "is healthy), then run upgrade.py again"
        )

    if node.is_compute:
        _scontrol_state(name, "drain", REASON)
        logger.info(f"{host.print_prefix}drained; waiting up to {settings.drain_timeout_s} s for its jobs")
        jobs = f"squeue -h -w {name} -o %i"
        if not wait_for(lambda: _sh(jobs, sudo=False) == (True, ""), settings.drain_timeout_s):
            jobs = _sh(jobs, sudo=False)[1].split()
            _scontrol_state(name, "resume")
            raise OperationError(
                f"{name} not upgraded: jobs {', '.join(jobs)} still run after drain_timeout_s "
                f"({settings.drain_timeout_s} s); the node is back in service. Fix: wait for them, or "
                "raise upgrade['drain_timeout_s'] in group_data/all.py, then run upgrade.py again"
            )

    server.shell(name=f"Upgrade {name}'s packages", commands=[f"{APT} update", f"{APT} upgrade"])
    if settings.nvidia:
        server.shell(
            name=f"Upgrade {name}'s held NVIDIA packages within their branch",
            commands=[
                f'held=$(apt-mark showhold); [ -z "$held" ] || {APT} --only-upgrade '
                f"--allow-change-held-packages install $held"
            ],
        )
    if _sh(f"test -e {REBOOT_FLAG}")[0]:
        reason = _sh(f"cat {REBOOT_FLAG}.pkgs", sudo=False)[1].split()
        logger.info(
            f"{host.print_prefix}rebooting: {REBOOT_FLAG} ({', '.join(reason) or 'no package named'})"
        )
        server.reboot(name=f"Reboot {name}", delay=20, interval=5, reboot_timeout=settings.validate_timeout_s)

    deadline = time.monotonic() + settings.validate_timeout_s
    while (problems := check_node(spec, name)) and time.monotonic() < deadline:
        time.sleep(5)
    if problems:
        raise OperationError(
            f"{name} stays drained: {'; '.join(problems)} {settings.validate_timeout_s} s after its upgrade. "
            f"Fix the node, then `scontrol update nodename={name} state=resume` and run upgrade.py again"
        )
    if node.is_compute:
        _scontrol_state(name, "resume")
        if not wait_for(lambda: in_service(slurm_nodes().get(name)), 60):
            raise OperationError(f"{name} did not return to service after `state=resume`: {slurm_nodes()}")
    logger.info(f"{host.print_prefix}upgraded and back in service")


def check_node(spec: ClusterSpec, name: str) -> list[str]:
    """What keeps the node from taking work after its upgrade (nothing: an empty list)."""
    node = spec.node(name)
    problems = []
    daemons = (["slurmctld"] if node.is_controller else []) + (["slurmd"] if node.is_compute else [])
    for daemon in ["munge", *daemons]:
        ok, out = _sh(f"systemctl is-active {daemon}", sudo=False)
        if not ok:
            problems.append(f"{daemon} is {out.strip() or 'not active'}")
    status = munge_status(name, spec.controller.name)
    if not status.startswith("Success"):
        problems.append(f"its munge credential does not decode on {spec.controller.name}: {status}")
    if node.is_compute:
        slurm_state = slurm_nodes().get(name, {}).get("state", "unknown (sinfo does not answer)")
        if slurm_state.endswith("*") or slurm_state.startswith(("down", "fail", "unknown")):
            problems.append(f"Slurm has it {slurm_state}")
    if spec.pytorch:
        torch = (host.get_fact(TorchVersion, venv=spec.torch_venv) or {}).get("torch")
        if not torch or not same_release(torch, spec.torch_version):
            problems.append(f"torch is {torch}, expected {spec.torch_version}")
    return problems
