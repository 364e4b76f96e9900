"""Metrics: Prometheus on the controller, a node exporter on every node, the GPU exporter on every
compute node; Slurm's own figures come from the web view's /metrics (it already reads slurmrestd
with its token).

Prometheus and the node exporter are the OS's packages. Each one's command line (/etc/default) and
Prometheus's configuration are written before the package is installed, so that the first start
already listens on the cluster address only (apt keeps a configuration file that is already there).
The GPU exporter (exporters/gpu.py) runs from its own virtual environment: NVIDIA's binding
nvidia-ml-py from the package index, prometheus_client from the OS.
"""

from __future__ import annotations

from io import StringIO
from pathlib import Path

from pyinfra import host
from pyinfra.api import deploy
from pyinfra.operations import systemd

from facts.system import InterfaceWithAddress
from model.spec import current
from operations import apt, files, pip
from operations.accounts import system_user
from operations.plan import keep_running, keep_stopped, node_fact, own_service, restart
from operations.reading import packages_missing
from operations.render import render

GPU_EXPORTER_SOURCE = Path(__file__).resolve().parent.parent / "exporters" / "gpu.py"
GPU_EXPORTER = "/usr/local/lib/gpucluster/gpu_exporter.py"
GPU_EXPORTER_VENV = "/opt/gpucluster/gpu-exporter"
GPU_EXPORTER_USER = "gpucluster-gpu"
GPU_EXPORTER_UNIT = "gpucluster-gpu-exporter.service"
NODE_EXPORTER = "prometheus-node-exporter"
ALERTMANAGER = "prometheus-alertmanager"
RULES = "/etc/prometheus/gpucluster-alerts.yml"
UNITS = ("prometheus", NODE_EXPORTER, GPU_EXPORTER_UNIT, ALERTMANAGER)


@deploy("Metrics")
def configure():
    spec = current()
    node = spec.node(host.name)
    if not spec.metrics.enabled:
        for unit in UNITS:
            keep_stopped(f"Stop {unit}", unit)
        return
    _service(
        NODE_EXPORTER,
        {
            f"/etc/default/{NODE_EXPORTER}": render(
                f"{NODE_EXPORTER}.j2",
                metrics=spec.metrics,
                node=node,
                interface=node_fact(host.name, InterfaceWithAddress, ip=str(node.ip)),
            )
        },
    )
    if node.is_compute:
        _gpu_exporter(spec, node)
    if node.is_controller:
        files.directory(name="/etc/prometheus", path="/etc/prometheus", mode="755")
        _service(
            "prometheus",
            {
                "/etc/default/prometheus": render("prometheus.j2", spec=spec, metrics=spec.metrics),
                "/etc/prometheus/prometheus.yml": render(
                    "prometheus.yml.j2", spec=spec, metrics=spec.metrics, rules=RULES
                ),
                RULES: render("gpucluster-alerts.yml.j2", alerts=spec.alerts),
            },
        )
        if spec.alerts.enabled:
            _service(
                ALERTMANAGER,
                {
                    f"/etc/default/{ALERTMANAGER}": render(
                        f"{ALERTMANAGER}.j2", spec=spec, alerts=spec.alerts
                    ),
                    "/etc/prometheus/alertmanager.yml": render("alertmanager.yml.j2", alerts=spec.alerts),
                },
            )
        else:  # where installed: by an earlier run with alerts on, or as another package's Recommends
            missing = packages_missing([ALERTMANAGER])
            systemd.service(
                name=f"Stop {ALERTMANAGER}",
                service=ALERTMANAGER,
                running=False,
                enabled=False,
                _if=lambda: not missing(),
            )


def _service(package: str, configs: dict[str, str]):
    """An OS package whose configuration files are in place before it is installed (its first start
    reads them), restarted when one changes, kept running."""
    written = [
        files.put(name=f"Write {path}", src=StringIO(text), dest=path, mode="644")
        for path, text in configs.items()
    ]
    installed = apt.packages(
        name=f"Install {package}", packages=[package], extra_install_args="--no-install-recommends"
    )
    restart(f"Restart {package} for its new settings", package, written, list(configs), fresh=installed)
    keep_running(f"Run {package}", package)


def _gpu_exporter(spec, node):
    system_user(GPU_EXPORTER_USER)
    apt.packages(
        name="Install python3-venv and prometheus_client",
        packages=["python3-venv", "python3-prometheus-client"],
    )
    pip.virtualenv(
        name=f"Create {GPU_EXPORTER_VENV}",
        path=GPU_EXPORTER_VENV,
        python="python3",
        venv=True,
        site_packages=True,
    )
    binding = pip.packages(
        name=f"Install nvidia-ml-py {spec.metrics.nvidia_ml_py_version}",
        packages=[f"nvidia-ml-py=={spec.metrics.nvidia_ml_py_version}"],
        pip=f"{GPU_EXPORTER_VENV}/bin/pip",
        extra_install_args=f"--quiet --index-url {spec.python_index_url}",
    )
    files.directory(name=f"{Path(GPU_EXPORTER).parent}", path=str(Path(GPU_EXPORTER).parent), mode="755")
    app = files.put(
        name=f"Install {GPU_EXPORTER}", src=str(GPU_EXPORTER_SOURCE), dest=GPU_EXPORTER, mode="644"
    )
    unit = render(
        f"{GPU_EXPORTER_UNIT}.j2",
        metrics=spec.metrics,
        node=node,
        user=GPU_EXPORTER_USER,
        venv=GPU_EXPORTER_VENV,
        app=GPU_EXPORTER,
    )
    own_service("the GPU exporter", GPU_EXPORTER_UNIT, unit, [app, binding])
