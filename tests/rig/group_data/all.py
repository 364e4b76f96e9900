"""Rig-only tunables, loaded after the project's group_data/all.py when deploying to the rig."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from rig import RIG  # noqa: E402

cluster_network = RIG.subnet
deployer_ssh_key = str(RIG.key)
ntp_pools = []  # the rig reaches no NTP servers; node0 serves the others
time_set_clock = False  # the containers share the build machine's clock: never set it
fake_gpu_devices = True  # no GPU here: stand-in /dev/nvidia* nodes so slurmd loads gres.conf
# No GPU and no NVIDIA repository here: the deploy skips the driver (tests/e2e/test_04_plan.py
# plans it with --dry instead). The project's versions are kept, only switched off.
nvidia = {"enabled": False}
pytorch = RIG.torch is not None
torch_version = RIG.torch or "2.13.0"
torch_wheelhouse = str(RIG.wheelhouse) if RIG.torch else None  # collected once by tests/rig/rig.py
# Two research users: the sharing tests (fair share, caps, preemption) need a colleague.
users = [
    {"name": "ada", "uid": 2001, "keys": [RIG.user_public_key("ada")]},
    {"name": "grace", "uid": 2002, "keys": [RIG.user_public_key("grace")]},
]
# At most 2 of the 3 GPUs per person, as a lab of three GPUs would set it.
sharing = {"max_gpus_per_user": 2}
# Slurm notices a dead node after SlurmdTimeout; 30 s instead of 300 keeps the fault tests short.
# Fair share counts running jobs' use every PriorityCalcPeriod (5 min by default: 1 here), and a
# requeued job waits the credential lifetime before it starts again (job_mgr.c: 120 s; 30 here).
slurm_options = {"SlurmdTimeout": 30, "PriorityCalcPeriod": 1, "AuthInfo": "cred_expire=30"}
# A health check every 15 s (60 by default) so that the tests see a node drained and back in
# seconds; the same script and the same drains.
health_check = {"interval_s": 15}
# Prometheus scrapes every 5 s (15 by default) so that the metrics tests see a job's GPU use, a
# lost GPU's alert and every target in seconds; the same exporters, rules and queries.
metrics = {"scrape_interval_s": 5}
# The build machine's kernel has neither the NFS server nor the NFS client: the rig runs without
# the shared directory (tests/e2e/test_04_plan.py plans it with --dry instead).
shared_dir = {"enabled": False}
# bench.py on the rig (`make bench`): small models for its CPUs, each link held to 2.5 Gbit/s as
# on the real cluster.
bench = {"params": [1e6, 2e6, 4e6, 8e6, 16e6, 64e6], "shape_gbit": 2.5}
