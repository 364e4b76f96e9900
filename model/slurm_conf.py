"""slurm.conf, gres.conf and cgroup.conf as the templates see them: Slurm's paths, the settings
that depend on the Slurm release, and slurm.conf's keys as the project's defaults merged with
group_data's slurm_options (a key set there replaces the default in place; None leaves it out).
"""

from __future__ import annotations

from types import SimpleNamespace

from pyinfra.api.exceptions import OperationError

from model.config_keys import ConfigKeys
from model.spec import ClusterSpec

HEALTH_CHECK = "/usr/local/sbin/gpucluster-healthcheck"  # installed by steps/health.py
PATHS = SimpleNamespace(
    conf_dir="/etc/slurm",
    state_save="/var/lib/slurm/slurmctld",
    slurmd_spool="/var/lib/slurm/slurmd",
    log_dir="/var/log/slurm",
)


# The configuration written here is valid unchanged for Slurm 22.05 (Debian 12), 23.11 (Ubuntu
# 24.04) and 24.11 (Debian 13); the rig tests the first and the last. A setting that has to differ
# between releases goes in release_settings() and nowhere else.
OLDEST = (22, 5)


def release_settings(version: tuple[int, ...]) -> dict:
    """Template settings that depend on the Slurm release (none so far); refuses releases too old."""
    if tuple(version[:2]) < OLDEST:
        raise OperationError(
            f"Slurm {'.'.join(map(str, version))} is older than 22.05, the oldest this project supports; "
            "use Ubuntu 24.04 (23.11), Debian 12 (22.05) or Debian 13 (24.11)"
        )
    return {}


def config_context(spec: ClusterSpec, nodes, version: tuple[int, ...]) -> dict:
    """What the three templates are rendered from (the unit tests render them from it too)."""
    return {
        "spec": spec,
        "nodes": nodes,
        "paths": PATHS,
        **release_settings(version),
        "job_defaults": spec.job_defaults(nodes),
        "conf": ConfigKeys(spec.slurm_options, "slurm_options", "="),
        "health_script": HEALTH_CHECK,
    }
