"""slurm.conf, gres.conf and cgroup.conf as the templates see them: Slurm's paths, the settings
that depend on the Slurm release, and slurm.conf's keys as the project's defaults merged with
group_data's slurm_options (a key set there replaces the default in place; None leaves it out).
"""

from __future__ import annotations

from types import SimpleNamespace

from pyinfra.api.exceptions import OperationError

from model.spec import ClusterSpec

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
        "conf": Settings(spec.slurm_options),
    }


class Settings:
    """slurm.conf's keys, for the template: `conf(key, default)` writes the key with slurm_options'
    value where it sets one (None: left out), else the default; `conf.rest()` is every option the
    template did not write. So a key appears once, wherever it is set. Slurm's keys are
    case-insensitive, and so is the match."""

    def __init__(self, options: dict):
        self.options = {key.lower(): (key, value) for key, value in options.items()}
        self.written: set[str] = set()

    def __call__(self, key: str, default) -> str:
        self.written.add(key.lower())
        key, value = self.options.get(key.lower(), (key, default))
        return f"# {key}: left out (slurm_options)" if value is None else f"{key}={value}"

    def rest(self) -> list[tuple[str, object]]:
        return [(k, v) for low, (k, v) in self.options.items() if low not in self.written and v is not None]
