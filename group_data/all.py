"""Every tunable of the cluster. The spec (model/spec.py) validates all of it before a run."""

cluster_name = "gpucluster"
cluster_network = "192.168.1.0/24"  # the wired subnet; every cluster_ip must lie in it

# SSH: the deploying machine's key pair; its public key is authorized for the admin user.
deployer_ssh_key = "~/.ssh/id_ed25519"
# False: password login is switched off once key login is proven. True: leave it on.
ssh_password_login = False

# Time: node0 serves the cluster's time; every node also uses these pools when reachable.
ntp_pools = ["ntp.ubuntu.com"]
time_set_clock = True  # False only where the clock is not the node's own (containers)
clock_offset_limit_ms = 50  # audit.py fails a node whose clock is further off than this

# GPUs: one RTX 5090 per node; the type string is what jobs ask for (--gres=gpu:rtx5090:1).
gpus_per_node = 1
gpu_type = "rtx5090"

# Munge: None makes the key on the controller; or a path on the deploying machine (never in git).
munge_key_file = None

# Slurm: node lines come from each node's hardware (hwloc counts every core, E-cores included);
# RealMemory is held this fraction below what `slurmd -C` reports.
slurm_partition = "gpu"
slurm_memory_margin = 0.05
# A GPU job that asks for no CPUs or memory gets its GPU's share of the node (DefCpuPerGPU,
# DefMemPerGPU). The controller keeps this fraction of its cores and memory for slurmctld,
# slurmdbd, MariaDB and the NFS server: on a 24-core node0, 2 cores and 10% of the memory.
slurm_controller_reserve = 0.1
# slurm.conf settings, as written there: a key the project writes (templates/slurm.conf.j2) takes
# this value instead of its default, None leaves it out, any other key is added.
slurm_options = {
    "SchedulerType": "sched/backfill",
    "SlurmdTimeout": 300,
    "MessageTimeout": 10,
    "KillWait": 30,
    "MinJobAge": 300,
    "MailProg": "/bin/true",  # the nodes send no mail
    # An epilog, even one that does nothing, makes slurmd report each job's end in a message of
    # its own, on which slurmctld schedules at once; without one it waits for its once-a-second
    # pass: ~1 s idle GPU per job, 92.5% slot use for 10 s jobs instead of 98.5% (bench.py measures it).
    "Epilog": "/bin/true",
}

# PyTorch: one virtual environment at the same path on every node, the same release everywhere.
# 2.7.0 is the first release with RTX 5090 (sm_120) kernels, from the cu128 index.
pytorch = True
torch_version = "2.9.1"
torch_index_url = "https://download.pytorch.org/whl/cu128"
torch_venv = "/opt/pytorch"
# None: each node downloads from the index. A folder on the deploying machine: install offline from
# wheels collected there once (pip download -d DIR torch==VERSION --index-url URL), copied to nodes.
torch_wheelhouse = None

# NVIDIA driver and CUDA (steps/nvidia.py), checked against the GPU before any host is touched
# (model/gpu.py). An RTX 5090 (Blackwell, sm_120) needs driver branch 570 or newer with the open
# kernel modules and CUDA 12.8 or newer: the guide's 560 and 12.6 cannot drive it.
nvidia = {
    "enabled": True,  # False: leave the driver and CUDA to someone else (the rig does)
    "gpu": "NVIDIA GeForce RTX 5090",  # as nvidia-smi names it; a row of model/gpu.py's table
    "driver_branch": 580,  # Ubuntu: nvidia-driver-580-open from the Ubuntu archive
    "driver_flavour": "open",  # "open" or "proprietary" kernel modules
    "driver_packages": [],  # empty: chosen from the branch, flavour and OS; or name them here
    "cuda": "12.8",  # the toolkit alone: cuda-toolkit-12-8 from NVIDIA's repository
    "reboot": True,  # reboot a node (one at a time) only when its installed driver is not the loaded one
    # node0 only: "none", "gnome-minimal" (ubuntu-desktop-minimal) or "cinnamon". Its display
    # manager stays off (boot to the console) unless asked: the GPU is needed for jobs.
    "desktop": "none",
    "desktop_display_manager": False,
}
# The driver packages are held (apt-mark hold): upgrading them is explicit, see the README.

# Accounts with the same IDs on every node (Slurm runs tasks as the submitter's numeric UID).
# The original guide pins slurm to 1002; munge and slurm are made with these IDs before their
# packages would choose their own.
service_accounts = {"munge": 1001, "slurm": 1002}
# Research users: removing one from the list removes their access on every node (files stay).
research_group = {"name": "researchers", "gid": 2000}
users = [
    # {"name": "ada", "uid": 2001, "keys": ["ssh-ed25519 AAAA... ada@laptop"], "sudo": False},
]

# The shared directory: node0 exports `export` over NFS to cluster_network; every node (node0 too)
# mounts it at `path`. Job scripts, outputs and checkpoints go there (see jobs/). The mount options
# let compute nodes boot without node0 (nofail, automount) and make I/O wait for it (hard).
shared_dir = {
    "enabled": True,
    "path": "/shared",
    "export": "/srv/gpucluster/shared",
    "mount_options": [
        "nfsvers=4.2",
        "hard",
        "noatime",
        "_netdev",
        "nofail",
        "x-systemd.automount",
        "x-systemd.mount-timeout=30",
    ],
}

# Accounting: MariaDB and slurmdbd on the controller; sacct keeps finished jobs and their GPUs.
# The database password is made on the controller and never leaves it.
accounting = True
# Slurm's REST API (slurmrestd) on the controller's cluster address, taking JWTs only; the key is
# made on the controller. Tokens: `scontrol token lifespan=SECONDS`.
rest_api = {"enabled": True, "port": 6820}
# The web view: http://node0:8080/ from the cluster network (plus the networks in allow).
# Anything wider belongs behind a reverse proxy with a login (see the README).
webview = {"enabled": True, "port": 8080, "allow": [], "refresh_s": 10}

# bench.py: the benchmark (all-reduce sweep, DDP steps on 1 and all nodes, an array of short jobs).
bench = {
    "params": [1e6, 4e6, 16e6, 64e6, 150e6, 350e6, 500e6],  # DDP model sizes (parameters)
    "hooks": ["none", "bf16", "powersgd"],  # DDP communication hooks on the multi-node runs
    "batch": 32,  # samples per GPU and step
    "experiments": 30,  # the array of independent jobs, one GPU each
    "experiment_seconds": 10,
    "shape_gbit": None,  # hold each node's link to this rate while it runs (tc tbf); None: as wired
    "link_gbit": 2.5,  # the link rate the bandwidth figures compare with
    "results": "bench-results",  # on the deploying machine
}

# The optional host firewall (nftables, its own table): inbound traffic only from cluster_network
# (SSH, Slurm, srun, DDP and NCCL/Gloo ports), SSH also from admin_sources, nothing else. A deploy
# that connects from outside both stops before switching it on, rather than lock itself out.
firewall = {"enabled": False, "admin_sources": []}

# upgrade.py: one node at a time, the controller last (see the README's operations section).
upgrade = {
    "drain_timeout_s": 3600,  # longest wait for a draining node's jobs; then it stops, node resumed
    "validate_timeout_s": 600,  # longest wait for slurmd to be back after the upgrade or reboot
    "nvidia": False,  # True: also upgrade the held NVIDIA driver packages, within their branch
}

# Every operation runs with sudo as the admin user (the password is asked for or passed in).
_sudo = True
