"""Slurm by role: slurmctld on the controller, slurmd on every compute node, the client everywhere.

slurm.conf, gres.conf and cgroup.conf are rendered from templates and identical on every node.
The node lines come from each node's own hardware (SlurmdHardware: `slurmd -C` and hwloc).
Daemons restart only when their configuration (or slurmd's munge key) changed, so a run that
changes nothing restarts nothing.
"""

from __future__ import annotations

from io import StringIO

from pyinfra import host
from pyinfra.api import deploy
from pyinfra.operations import server

from facts.nvidia import NvidiaGpus
from facts.slurm import SlurmdHardware, SlurmVersion
from model.slurm_conf import PATHS, config_context
from model.spec import ClusterSpec, current
from operations import apt, files
from operations.plan import (
    daemon_reload,
    keep_running,
    node_fact,
    restart,
    skip_for_unreachable,
    when_known,
    will_change,
)
from operations.render import render
from steps.munge import KEY as MUNGE_KEY

CTLD_DROP_IN = "/etc/systemd/system/slurmctld.service.d/gpucluster-slurmctld.conf"
CONFIGS = [f"{PATHS.conf_dir}/{name}" for name in ("slurm.conf", "gres.conf", "cgroup.conf")]


@deploy("Slurm")
def configure(munge_key=()):
    """Slurm's packages, configuration and daemons; `munge_key`: the operations that wrote this node's
    munge key in this run (steps/munge.py)."""
    spec = current()
    node = spec.node(host.name)
    packages = ["slurm-client"]
    packages += ["slurmd", "hwloc-nox"] if node.is_compute else []  # hwloc-calc counts the E-cores
    packages += ["slurmctld"] if node.is_controller else []
    apt.packages(name="Install Slurm", packages=packages)

    files.directory(name="Slurm log directory", path=PATHS.log_dir, user="slurm", group="slurm", mode="755")
    if node.is_controller:
        files.directory(
            name="slurmctld state directory", path=PATHS.state_save, user="slurm", group="slurm", mode="755"
        )
    if node.is_compute:
        files.directory(name="slurmd spool directory", path=PATHS.slurmd_spool, user="root", mode="755")

    if skip_for_unreachable("slurm.conf, gres.conf and cgroup.conf", [n.name for n in spec.compute_nodes]):
        configs = []  # they describe every node: written once all can be read
    else:
        configs = when_known(
            "Write slurm.conf, gres.conf and cgroup.conf",
            lambda: _discovered(spec),
            lambda found: _write_configs(spec, *found),
        )

    if node.is_controller:
        unit = files.put(
            name=f"Write {CTLD_DROP_IN}",
            src=StringIO(render("gpucluster-slurmctld.conf.j2", spec=spec)),
            dest=CTLD_DROP_IN,
            mode="644",
        )
        daemon_reload("Read the slurmctld drop-in", "slurmctld", unit)
        restart("Restart slurmctld for its new configuration", "slurmctld", configs, CONFIGS)
        keep_running("Run slurmctld", "slurmctld")
    if node.is_compute:
        configured = restart("Restart slurmd for its new configuration", "slurmd", configs, CONFIGS)
        keep_running("Run slurmd", "slurmd")
        # A node that could not authenticate is DOWN, and slurmctld asks a DOWN node to register only
        # about every 20th ping (ping_nodes.c, MAX_REG_FREQUENCY): minutes. slurmd registers as it starts.
        restart(
            "Restart slurmd to register with the new munge key",
            "slurmd",
            list(munge_key),
            [MUNGE_KEY],
            unless=configured,
        )


def _discovered(spec: ClusterSpec):
    """Every compute node's `slurmd -C` and this node's Slurm release, or None before slurmd exists."""
    hardware = {n.name: node_fact(n.name, SlurmdHardware) for n in spec.compute_nodes}
    version = host.get_fact(SlurmVersion)
    if version is None or None in hardware.values():
        return None
    return hardware, version


def _write_configs(spec: ClusterSpec, hardware, version):
    found_gpus = {n.name: node_fact(n.name, NvidiaGpus) for n in spec.compute_nodes}
    context = config_context(spec, spec.slurm_nodes(hardware, found_gpus), version)
    rendered = {name: render(f"{name}.j2", **context) for name in ("slurm.conf", "gres.conf", "cgroup.conf")}
    _check_slurm_conf(rendered["slurm.conf"])
    return [
        files.put(
            name=f"Write {PATHS.conf_dir}/{name}",
            src=StringIO(text),
            dest=f"{PATHS.conf_dir}/{name}",
            user="root",
            group="root",
            mode="644",
        )
        for name, text in rendered.items()
    ]


def _check_slurm_conf(text: str) -> None:
    """A new slurm.conf is first parsed by Slurm's own reader (scontrol reads SLURM_CONF before
    anything else, and exits on what slurmctld would refuse to start with: an unknown key, a value of
    the wrong type); one it cannot parse never replaces the running one."""
    dest = f"{PATHS.conf_dir}/slurm.conf"
    if not will_change(dest, text):
        return
    candidate = f"{PATHS.conf_dir}/.slurm.conf.new"
    files.put(name="Stage the new slurm.conf", src=StringIO(text), dest=candidate, mode="644")
    refused = (
        f"The new slurm.conf is not one Slurm can read; the running {dest} stays. "
        "Fix: correct slurm_options in group_data/all.py."
    )
    server.shell(
        name="Check that Slurm can parse the new slurm.conf",
        commands=[
            f"if ! out=$(SLURM_CONF={candidate} scontrol --version 2>&1); then rm -f {candidate}; "
            f'echo "$out" | grep -v "^scontrol: fatal" >&2; echo "{refused}" >&2; exit 1; fi; '
            f"rm -f {candidate}"
        ],
    )
