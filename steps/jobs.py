"""What jobs need on every node: the job scripts, and an environment that pins training traffic.

Each node's job environment (/etc/gpucluster/job.env) names the interface that holds its wired
address; Slurm's TaskProlog exports it into every task, so NCCL and Gloo never wander onto Wi-Fi or
a bridge, whatever script a user runs.
"""

from io import StringIO
from pathlib import Path

from pyinfra import host
from pyinfra.api import deploy
from pyinfra.api.exceptions import PyinfraError

from facts.system import InterfaceWithAddress
from model.spec import current
from operations import files
from operations.plan import node_fact
from operations.render import render
from operations.sync import sync

JOBS_DIR = "/opt/gpucluster/jobs"
BENCH_DIR = "/opt/gpucluster/bench"  # bench.py's job payloads (the bench package)
ENV_FILE = "/etc/gpucluster/job.env"
TASK_PROLOG = "/etc/slurm/task_prolog.sh"
REPO_JOBS = Path(__file__).resolve().parent.parent / "jobs"
REPO_BENCH = Path(__file__).resolve().parent.parent / "bench"


@deploy("Job scripts and job environment")
def configure():
    spec = current()
    node = spec.node(host.name)
    interface = node_fact(host.name, InterfaceWithAddress, ip=str(node.ip))
    if interface is None:
        raise PyinfraError(
            f"{node.name}: no network interface holds cluster_ip {node.ip}; nothing was changed. "
            f"Fix: set cluster_ip in inventory.py to the node's wired address."
        )
    files.directory(name="/etc/gpucluster", path="/etc/gpucluster", mode="755")
    files.put(
        name=f"Write {ENV_FILE}",
        src=StringIO(render("job.env.j2", spec=spec, interface=interface, jobs_dir=JOBS_DIR)),
        dest=ENV_FILE,
        mode="644",
    )
    files.put(
        name=f"Write {TASK_PROLOG}",
        src=StringIO(render("task_prolog.sh.j2", env_file=ENV_FILE)),
        dest=TASK_PROLOG,
        mode="755",
    )
    sync(f"Install the job scripts in {JOBS_DIR}", REPO_JOBS, JOBS_DIR, mode="755")
    sync(
        f"Install the benchmark's jobs in {BENCH_DIR}",
        REPO_BENCH,
        BENCH_DIR,
        mode="644",
        dir_mode="755",
        exclude=["*.pyc"],
        exclude_dir=["__pycache__"],
    )
