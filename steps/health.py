"""The node health check slurm.conf names (HealthCheckProgram), on every compute node.

slurmd runs it at its start and every `health_check.interval_s`: the GPUs gres.conf gives the node
(each device there and, with the driver, each listed by nvidia-smi), Xid errors in the kernel log,
free space for Slurm's spool and state, munge, the wired link. A failing node is drained with the
cause as its reason and resumed by the check once healthy; an admin's drain is never lifted. On the
controller it also takes back a node that was DOWN for not answering once its slurmd answers.
Not the LBNL Node Health Check: no Debian or Ubuntu package, and its GPU check needs a retired tool.
"""

from __future__ import annotations

from io import StringIO

from pyinfra import host
from pyinfra.api import deploy

from model.slurm_conf import HEALTH_CHECK, PATHS
from model.spec import current
from operations import files
from operations.render import render
from steps.jobs import ENV_FILE

PREFIX = "gpucluster-health:"  # every drain reason of the check's own starts with it


def script_context(spec, **paths) -> dict:
    """What the script is rendered from; `paths` replace the nodes' paths (the unit tests' stand-ins)."""
    return {
        "prefix": PREFIX,
        "interval_s": spec.health_check.interval_s,
        "min_free_mb": spec.health_check.min_free_mb,
        "drain_xids": spec.health_check.drain_xids,
        "controller": spec.controller.name,
        "gres_conf": f"{PATHS.conf_dir}/gres.conf",
        "slurm_conf": f"{PATHS.conf_dir}/slurm.conf",
        "job_env": ENV_FILE,
        "directories": [PATHS.slurmd_spool, PATHS.state_save],
        "state_dir": "/run/gpucluster-health",
        "sys_net": "/sys/class/net",
        "nvidia_smi_timeout_s": 10,
        **paths,
    }


@deploy("Health check")
def configure():
    spec = current()
    if not spec.node(host.name).is_compute:
        return
    if not spec.health_check.enabled:
        files.file(name=f"Remove {HEALTH_CHECK}", path=HEALTH_CHECK, present=False)
        return
    files.put(
        name=f"Install {HEALTH_CHECK}",
        src=StringIO(render("gpucluster-healthcheck.j2", **script_context(spec))),
        dest=HEALTH_CHECK,
        mode="755",
    )
