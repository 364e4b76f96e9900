"""The cluster spec: one validated object built from the inventory and group_data.

Every op reads the cluster from here and nowhere else. It is built and checked once, before any
operation is planned, so bad input stops the run with a message that names the field and the fix
while nothing on any host has changed. Each setting is declared once, as a field made by
setting() (model/setting.py) in one of the parts that mirror group_data/all.py's sections (PARTS);
docs/settings.md lists them all, made from here.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from difflib import get_close_matches
from ipaddress import IPv4Address, IPv4Network
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator, model_validator
from pyinfra.api.connectors import get_all_connectors
from pyinfra.api.exceptions import PyinfraError

from model.gpu import COMPATIBILITY, NvidiaSettings
from model.gpu_node import gres_conf_gpus
from model.setting import setting

Role = Literal["controller", "compute"]
ADMIN_ACCOUNT = "admin"  # the Slurm account of the admin user (steps/sharing.py)


_HOSTNAME = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
_USERNAME = re.compile(r"^[a-z_][a-z0-9_-]{0,31}$")
_CLUSTER_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,39}$")

# Host data that is not a setting of this project, yet belongs there: the inventory's per-node
# cluster_ip, pyinfra's connector data (ssh_user, ssh_key, ...) and its operation arguments
# (_sudo, _sudo_password, ...: every name with a leading underscore).
NODE_DATA = {"cluster_ip"}
PYINFRA_DATA = {
    key for connector in get_all_connectors().values() for key in getattr(connector, "data_meta", {})
}


def unknown_settings(data: Mapping[str, Any]) -> list[str]:
    """One line per name in host data that nothing reads, with the close match when there is one."""
    known = set(GLOBAL_SETTINGS.values()) | NODE_DATA | PYINFRA_DATA
    lines = []
    for name in sorted(set(data) - known):
        if name.startswith("_"):
            continue
        close = get_close_matches(name, sorted(known), n=1, cutoff=0.75)
        hint = f"did you mean {close[0]}? " if close else ""
        lines.append(
            f"{name}: not a setting of this project; {hint}fix: correct or remove it in group_data/all.py "
            "or inventory.py (group_data/all.py lists every setting)"
        )
    return lines


class SpecError(PyinfraError):
    """Bad inventory or group_data: raised before any operation is planned."""


class Node(BaseModel):
    """One machine: its name, wired address and roles."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = setting(
        doc="the node's host name",
        fix="in inventory.py use a lowercase host name: letters, digits and '-', at most 63 characters",
    )
    ip: IPv4Address = setting(
        doc="its wired address", fix="set cluster_ip for the node in inventory.py to its wired IPv4 address"
    )
    roles: frozenset[Role] = setting(
        min_length=1,
        doc="controller, compute, or both",
        fix="list the node in the controller group, the compute group, or both, in inventory.py",
    )
    ssh_address: str
    ssh_port: int = setting(
        22,
        ge=1,
        le=65535,
        doc="the port its sshd listens on",
        fix="set ssh_port for the node in inventory.py to a port between 1 and 65535",
    )

    @field_validator("name")
    @classmethod
    def _valid_hostname(cls, value: str) -> str:
        if not _HOSTNAME.match(value):
            raise ValueError(f"{value!r} is not a valid host name")
        return value

    @property
    def is_controller(self) -> bool:
        return "controller" in self.roles

    @property
    def is_compute(self) -> bool:
        return "compute" in self.roles


class ResearchUser(BaseModel):
    """A person's account: the same name, IDs and SSH keys on every node."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = setting(pattern=_USERNAME.pattern, doc="the login name")
    uid: int = setting(ge=1000, le=59999, doc="the same user ID on every node")
    gid: int | None = setting(None, ge=1000, le=59999, doc="their own group's ID; the uid when not given")
    keys: tuple[str, ...] = setting((), doc="their OpenSSH public keys")
    sudo: bool = setting(False, doc="True: also an administrator (the sudo group)")

    @field_validator("keys")
    @classmethod
    def _public_keys(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for key in value:
            if not key.startswith(("ssh-", "ecdsa-", "sk-")) or len(key.split()) < 2:
                raise ValueError(f"{key[:30]!r}... is not an OpenSSH public key")
        return value

    @property
    def group_id(self) -> int:
        return self.gid or self.uid


class ResearchGroup(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = setting("researchers", pattern=_USERNAME.pattern, doc="the group every research user is in")
    gid: int = setting(2000, ge=1000, le=59999, doc="its ID, the same on every node")


class SharedDir(BaseModel):
    """The directory every node sees the same: exported by the controller over NFS, mounted everywhere."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    enabled: bool = setting(True, doc="False: no shared directory (the rig: its kernel has no NFS)")
    path: str = setting("/shared", pattern=r"^/[A-Za-z0-9._/-]+$", doc="the mount point on every node")
    export: str = setting(
        "/srv/gpucluster/shared", pattern=r"^/[A-Za-z0-9._/-]+$", doc="the exported folder on the controller"
    )
    mount_options: tuple[str, ...] = setting(
        (
            "nfsvers=4.2",
            "hard",
            "noatime",
            "_netdev",
            "nofail",
            "x-systemd.automount",
            "x-systemd.mount-timeout=30",
        ),
        doc=(
            "compute nodes boot without node0 (nofail, automount) and I/O waits for it (hard); nofail and "
            "x-systemd.automount are required"
        ),
    )

    @model_validator(mode="after")
    def _safe_to_boot(self) -> SharedDir:
        missing = {"nofail", "x-systemd.automount"} - set(self.mount_options)
        if missing:
            raise ValueError(
                f"mount_options lacks {', '.join(sorted(missing))}: without them a compute node's boot "
                "waits for (or fails without) the controller; fix: keep both in shared_dir['mount_options']"
            )
        if self.path == self.export:
            raise ValueError("path and export are the same folder; fix: mount the export at another path")
        return self


class Desktop(BaseModel):
    """node0's optional desktop (steps/desktop.py)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["none", "gnome-minimal", "cinnamon"] = setting(
        "none", doc='"none", "gnome-minimal" (ubuntu-desktop-minimal) or "cinnamon"'
    )
    display_manager: bool = setting(
        False, doc="True: start it at boot; False: boot to the console, the GPU stays free for jobs"
    )


class UpgradeSettings(BaseModel):
    """How upgrade.py takes each node out of service."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    drain_timeout_s: int = setting(
        3600, ge=0, doc="longest wait for a draining node's jobs; then it stops, the node resumed"
    )
    validate_timeout_s: int = setting(
        600, gt=0, doc="longest wait for slurmd to be back after the upgrade or reboot"
    )
    nvidia: bool = setting(
        False, doc="True: also upgrade the held NVIDIA driver packages, within their branch"
    )


class Backup(BaseModel):
    """The controller's dated backups of what it cannot rebuild (steps/backup.py)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    enabled: bool = setting(
        True,
        doc=(
            "a dump of the accounting database, slurmctld's state and the cluster's keys on a timer, "
            "and before upgrade.py upgrades the controller"
        ),
    )
    schedule: str = setting(
        "daily",
        pattern=r"^[A-Za-z0-9*:,./~ -]+$",
        doc="when the timer takes one: systemd's OnCalendar (daily, 03:00, Sun *-*-* 02:00)",
    )
    keep: int = setting(14, ge=1, le=1000, doc="how many backups are kept, the newest")
    path: str = setting(
        "/var/backups/gpucluster",
        pattern=r"^/[A-Za-z0-9._/-]+$",
        doc="the folder on the controller (root only: 0700, each file 0600)",
    )


class HealthCheck(BaseModel):
    """Slurm's HealthCheckProgram on every compute node (steps/health.py): drains a sick node."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    enabled: bool = setting(
        True,
        doc=(
            "slurmd runs the check at its start and every interval_s; a failing node is drained with "
            "the cause as its reason, and resumed by the check (only a drain of its own) once healthy"
        ),
    )
    interval_s: int = setting(60, ge=5, le=3600, doc="seconds between checks (HealthCheckInterval)")
    min_free_mb: int = setting(
        1024, ge=1, doc="free space below which slurmd's spool or slurmctld's state directory drains the node"
    )
    drain_xids: tuple[int, ...] = setting(
        (46, 48, 62, 63, 64, 74, 79, 92, 94, 95, 119, 120, 140, 154),
        doc=(
            "NVIDIA Xid errors in the kernel log that drain the node: the GPU needs a reset or service "
            "(NVIDIA's Xid catalog); those a job's own bug causes (13, 31, 43, 45) only end that job"
        ),
    )


class Firewall(BaseModel):
    """The optional host firewall: inbound from the cluster subnet, SSH also from admin_sources."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    enabled: bool = setting(False, doc="True: nftables lets in only the cluster subnet (and SSH from below)")
    admin_sources: tuple[IPv4Network, ...] = setting(
        (), doc="networks SSH may also come from (a VPN, an admin desk)"
    )


class RestApi(BaseModel):
    """slurmrestd on the controller, JWT only (steps/restapi.py)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    enabled: bool = setting(True, doc="slurmrestd on the controller's cluster address, JWT only")
    port: int = setting(6820, ge=1024, le=65535, doc="its port")


class WebView(BaseModel):
    """The read-only web view of the cluster on the controller (steps/webview.py)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    enabled: bool = setting(True, doc="http://node0:PORT/ from the cluster network")
    port: int = setting(8080, ge=1024, le=65535, doc="its port")
    allow: tuple[IPv4Network, ...] = setting(
        (), doc="networks beyond cluster_network that may open it (wider: a reverse proxy with a login)"
    )
    refresh_s: int = setting(10, ge=2, doc="how often the page refreshes itself")


class Metrics(BaseModel):
    """Prometheus on the controller, scraping each node's exporters (steps/metrics.py)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    enabled: bool = setting(
        True,
        doc=(
            "Prometheus on the controller; node exporter (CPU, memory, disk, the wired link) on every "
            "node, the GPU exporter (NVML) on every compute node, Slurm's state from the web view"
        ),
    )
    retention: str = setting(
        "90d", pattern=r"^\d+[smhdwy]$", doc="how long Prometheus keeps samples (30d, 26w, 1y)"
    )
    scrape_interval_s: int = setting(15, ge=1, le=300, doc="seconds between scrapes of every exporter")
    prometheus_port: int = setting(
        9090, ge=1024, le=65535, doc="Prometheus's port (its web UI and query API)"
    )
    node_exporter_port: int = setting(9100, ge=1024, le=65535, doc="the node exporter's port")
    gpu_exporter_port: int = setting(9400, ge=1024, le=65535, doc="the GPU exporter's port")
    nvidia_ml_py_version: str = setting(
        "13.580.82",
        pattern=r"^\d+(\.\d+)*$",
        doc="NVIDIA's NVML binding (PyPI nvidia-ml-py) in the GPU exporter's environment",
    )


class Alerts(BaseModel):
    """Prometheus's alert rules, sent by Alertmanager to an e-mail or webhook address (steps/metrics.py)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    enabled: bool = setting(
        False,
        doc=(
            "Alertmanager on the controller sends the alerts (node down, GPU hot, a GPU lost, disk nearly "
            "full) to email_to and/or webhook_url; the rules are in Prometheus either way (its /alerts page)"
        ),
    )
    email_to: str | None = setting(None, pattern=r"^[^@\s]+@[^@\s]+$", doc="who gets the alerts by e-mail")
    email_from: str | None = setting(None, pattern=r"^[^@\s]+@[^@\s]+$", doc="the sender address")
    smarthost: str | None = setting(
        None,
        pattern=r"^[A-Za-z0-9.-]+:\d+$",
        doc="the mail relay, host:port, one that takes mail from the controller without a password",
    )
    webhook_url: str | None = setting(
        None,
        pattern=r"^https?://\S+$",
        doc="a URL that gets each alert as Alertmanager's JSON (a chat bridge)",
    )
    gpu_hot_celsius: int = setting(85, ge=50, le=110, doc="GPU hot: this temperature for 5 minutes")
    disk_free_percent: int = setting(10, ge=1, le=90, doc="disk nearly full: / has less free than this")
    port: int = setting(9093, ge=1024, le=65535, doc="Alertmanager's port")

    @model_validator(mode="after")
    def _somewhere_to_send(self) -> Alerts:
        email = (self.email_to, self.email_from, self.smarthost)
        if any(email) and not all(email):
            raise ValueError("alerts: e-mail needs email_to, email_from and smarthost; fix: set all three")
        if self.enabled and not (all(email) or self.webhook_url):
            raise ValueError(
                "alerts: enabled with nowhere to send them; fix: set email_to (etc.) or webhook_url"
            )
        return self


class Bench(BaseModel):
    """What bench.py measures, and where its results go (on the deploying machine)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    params: tuple[float, ...] = setting(
        (1e6, 4e6, 16e6, 64e6, 150e6, 350e6, 500e6), doc="DDP model sizes (parameters)"
    )
    hooks: tuple[Literal["none", "bf16", "powersgd"], ...] = setting(
        ("none", "bf16", "powersgd"), doc="DDP communication hooks on the multi-node runs"
    )
    batch: int = setting(32, gt=0, doc="samples per GPU and step")
    steps: int = setting(20, gt=0, doc="timed DDP steps per run, over all rounds")
    min_sample_s: float = setting(
        1.0, gt=0, doc="each DDP sample lasts at least this: a few short steps time the scheduler"
    )
    allreduce_min_bytes: int = setting(1024, gt=0, doc="the all-reduce sweep's smallest message")
    allreduce_max_bytes: int = setting(256 * 2**20, gt=0, doc="and its largest")
    allreduce_iters: int = setting(20, gt=0, doc="all-reduces timed per message size, over all rounds")
    rounds: int = setting(
        5, gt=0, doc="samples of every measured time, taken in turns with the others; figures are medians"
    )
    experiments: int = setting(30, gt=0, doc="the array of independent jobs, one GPU each")
    experiment_seconds: float = setting(10, gt=0, doc="how long each of them runs")
    shape_gbit: float | None = setting(
        None, gt=0, doc="hold each node's link to this rate while it runs (tc tbf); None: as wired"
    )
    link_gbit: float = setting(2.5, gt=0, doc="the wired link rate the bandwidth figures compare with")
    job_timeout_s: int = setting(1800, gt=0, doc="longest wait for one benchmark job")
    results: str = setting("bench-results", doc="the results folder, on the deploying machine")


class SlurmNode(BaseModel):
    """A compute node as slurm.conf and gres.conf describe it."""

    model_config = ConfigDict(frozen=True)

    name: str
    addr: IPv4Address
    cpus: int
    boards: int
    sockets_per_board: int
    cores_per_socket: int
    threads_per_core: int
    real_memory: int
    gpus: int
    gpu_files: str  # gres.conf File=, in Slurm's range syntax
    reserved_cpus: int = 0  # kept from GPU jobs' default share (the controller's services)


class ClusterPart(BaseModel):
    """The cluster: its name and wired subnet (the nodes and the admin user are in inventory.py)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    cluster_name: str = setting(
        doc="Slurm's ClusterName, and the name accounting keeps jobs under",
        fix=(
            "set cluster_name in group_data/all.py: lowercase letters, digits, '-' or '_', starting "
            "with a letter, at most 40 characters"
        ),
    )
    network: IPv4Network = setting(
        group_data="cluster_network",
        doc="the wired subnet; every cluster_ip must lie in it, and only it reaches the cluster's daemons",
        fix="set cluster_network in group_data/all.py to the wired subnet, e.g. '192.168.1.0/24'",
    )
    admin_user: str = setting(
        group_data="ssh_user",
        doc="the regular admin account the deploy logs in as and runs sudo from (inventory.py)",
        fix="set SSH_USER in inventory.py to the regular admin account created at install (not root)",
    )

    @field_validator("cluster_name")
    @classmethod
    def _valid_cluster_name(cls, value: str) -> str:
        if not _CLUSTER_NAME.match(value):
            raise ValueError(f"{value!r} is not a valid cluster name")
        return value

    @field_validator("admin_user")
    @classmethod
    def _regular_user(cls, value: str) -> str:
        if value == "root":
            raise ValueError("the deploy must log in as a regular admin user, not root")
        if not _USERNAME.match(value):
            raise ValueError(f"{value!r} is not a valid user name")
        return value


class SshPart(BaseModel):
    """SSH: the deploying machine's key pair, and whether password login stays on."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    deployer_key: Path = setting(
        group_data="deployer_ssh_key",
        doc="the deploying machine's private key; its public key is authorized for the admin user",
        fix=(
            "set deployer_ssh_key in group_data/all.py to your private key; create one with `ssh-keygen"
            " -t ed25519` (the .pub file must sit beside it)"
        ),
    )
    password_login: bool = setting(
        False,
        group_data="ssh_password_login",
        doc="False: password login is switched off once key login is proven; True: leave it on",
        fix="set ssh_password_login in group_data/all.py to True or False",
    )
    sshd_options: dict[str, str | None] = setting(
        {},
        doc=(
            "sshd_config keys as written there, for the hardening drop-in: a key it writes takes this value "
            "in its place (e.g. a wider MACs list for an old client), None leaves it out, any other key is "
            "added; a login is proven with the result before sshd loads it"
        ),
        fix=(
            "set sshd_options in group_data/all.py to a dict of sshd_config Key: value (None leaves a key "
            "out)"
        ),
    )

    @field_validator("deployer_key")
    @classmethod
    def _key_pair_exists(cls, value: Path) -> Path:
        value = value.expanduser()
        for path in (value, value.with_name(value.name + ".pub")):
            if not path.is_file():
                raise ValueError(f"{path} does not exist")
        return value

    @field_validator("sshd_options")
    @classmethod
    def _one_line_options(cls, value: dict[str, str | None]) -> dict[str, str | None]:
        for key, option in value.items():
            if not re.fullmatch(r"[A-Za-z]+", key):
                raise ValueError(f"{key!r} is not an sshd_config keyword")
            if key.lower() == "passwordauthentication":
                raise ValueError("PasswordAuthentication is ssh_password_login's; set that instead")
            if option is not None and ("\n" in option or not option.strip()):
                raise ValueError(f"{key}: {option!r} is not a one-line value")
        return value

    @property
    def deployer_public_key(self) -> str:
        return self.deployer_key.with_name(self.deployer_key.name + ".pub").read_text().strip()


class TimePart(BaseModel):
    """Time: node0 serves the cluster's time; every node also uses the pools when reachable."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    ntp_pools: tuple[str, ...] = setting(
        ("ntp.ubuntu.com",),
        doc="NTP pools every node uses when reachable",
        fix="set ntp_pools in group_data/all.py to a list of NTP pool host names",
    )
    time_set_clock: bool = setting(
        True,
        doc="False only where the clock is not the node's own (containers)",
        fix="set time_set_clock in group_data/all.py to True or False",
    )
    clock_offset_limit_ms: float = setting(
        50,
        gt=0,
        doc="audit.py fails a node whose clock is further off than this (munge needs close clocks)",
        fix="set clock_offset_limit_ms in group_data/all.py to milliseconds above 0",
    )


class GpuPart(BaseModel):
    """GPUs: how many per node, the type jobs ask for, and the NVIDIA driver and CUDA that drive them."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    gpus_per_node: int = setting(
        1,
        ge=0,
        doc="GPUs per node where the driver does not list them (the rig, a first run)",
        fix="set gpus_per_node in group_data/all.py to a whole number, 0 or more",
    )
    gpu_type: str = setting(
        "rtx5090",
        doc="the GRES type jobs ask for: --gres=gpu:rtx5090:1",
        fix="set gpu_type in group_data/all.py: lowercase letters, digits and '_' only",
    )
    nvidia: NvidiaSettings = setting(
        NvidiaSettings(),
        doc=(
            "the NVIDIA driver and CUDA, checked against the GPU before any host is touched: an RTX 5090 "
            "needs branch 570 or newer with the open modules and CUDA 12.8 or newer; the driver packages "
            "are held (apt-mark hold)"
        ),
        fix=(
            "set nvidia in group_data/all.py to a dict of the keys in docs/settings.md (enabled, gpu, "
            "driver_branch, driver_flavour, driver_packages, cuda, reboot)"
        ),
    )
    fake_gpu_devices: bool = setting(
        False,
        doc="rig only: stand-in /dev/nvidia* nodes so slurmd loads gres.conf without a GPU",
        fix="leave fake_gpu_devices False on real machines (it is a rig-only stand-in)",
    )

    @field_validator("gpu_type")
    @classmethod
    def _valid_gpu_type(cls, value: str) -> str:
        if not re.match(r"^[a-z0-9_]+$", value):
            raise ValueError(f"{value!r} is not a valid GRES type")
        return value


class SlurmPart(BaseModel):
    """Slurm: munge's key, the partition, the node lines' margins, slurm.conf's own keys, accounting
    and the REST API."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    munge_key_file: Path | None = setting(
        None,
        doc="None: the controller makes the key; or a file on the deploying machine (never in git)",
        fix=(
            "set munge_key_file in group_data/all.py to None (the controller makes the key) or to a "
            "file of 32 to 1024 random bytes on the deploying machine"
        ),
    )
    slurm_partition: str = setting(
        "gpu",
        pattern=r"^[A-Za-z0-9_-]+$",
        doc="the one partition, holding every compute node",
        fix="set slurm_partition in group_data/all.py: letters, digits, '-' or '_'",
    )
    slurm_memory_margin: float = setting(
        0.05,
        ge=0,
        le=0.5,
        doc="RealMemory is held this fraction below what `slurmd -C` reports",
        fix="set slurm_memory_margin in group_data/all.py to a fraction from 0 to 0.5",
    )
    slurm_controller_reserve: float = setting(
        0.1,
        ge=0,
        le=0.5,
        doc=(
            "the share of the controller's cores (from GPU jobs' default) and memory kept for slurmctld, "
            "slurmdbd, MariaDB and the NFS server"
        ),
        fix="set slurm_controller_reserve in group_data/all.py to a fraction from 0 to 0.5",
    )
    slurm_options: dict[str, str | int | None] = setting(
        {},
        doc=(
            "slurm.conf keys as written there: a key templates/slurm.conf.j2 writes takes this value in its "
            "place, None leaves it out, any other key is added"
        ),
        fix=(
            "set slurm_options in group_data/all.py to a dict of slurm.conf Key: value (None leaves a "
            "key out)"
        ),
    )
    accounting: bool = setting(
        True,
        doc="MariaDB and slurmdbd on the controller: sacct keeps finished jobs and their GPUs",
        fix="set accounting in group_data/all.py to True or False",
    )
    rest_api: RestApi = setting(
        RestApi(),
        doc="slurmrestd on the controller, JWT only (tokens: `scontrol token lifespan=SECONDS`)",
        fix="set rest_api in group_data/all.py to {'enabled': bool, 'port': 1024-65535}",
    )

    @field_validator("munge_key_file")
    @classmethod
    def _usable_munge_key(cls, value: Path | None) -> Path | None:
        if value is None:
            return None
        value = value.expanduser()
        if not value.is_file():
            raise ValueError(f"{value} does not exist")
        if not 32 <= value.stat().st_size <= 1024:
            raise ValueError(f"{value} holds {value.stat().st_size} bytes; munge needs 32 to 1024")
        return value


class TorchPart(BaseModel):
    """PyTorch: one virtual environment at the same path on every node, the same release everywhere."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    pytorch: bool = setting(
        True, doc="False: no PyTorch", fix="set pytorch in group_data/all.py to True or False"
    )
    torch_version: str = setting(
        "2.9.1",
        pattern=r"^\d+\.\d+(\.\d+)?(\+[a-z0-9.]+)?$",
        doc="2.7.0 is the first release with RTX 5090 (sm_120) kernels, from the cu128 index",
        fix="set torch_version in group_data/all.py to 2.7.0 or newer for an RTX 5090",
    )
    torch_index_url: str = setting(
        "https://download.pytorch.org/whl/cu128",
        doc="the wheel index of the CUDA build",
        fix="set torch_index_url in group_data/all.py to the wheel index of your CUDA build",
    )
    torch_venv: str = setting(
        "/opt/pytorch",
        pattern=r"^/[A-Za-z0-9._/-]+$",
        doc="the virtual environment, the same path on every node",
        fix="set torch_venv in group_data/all.py to an absolute path",
    )
    torch_wheelhouse: Path | None = setting(
        None,
        doc=(
            "None: each node downloads from the index; a folder on the deploying machine: install offline "
            "from wheels collected there once, copied to the nodes"
        ),
        fix=(
            "set torch_wheelhouse in group_data/all.py to None, or to a folder of wheels (collect them "
            "with `pip download -d DIR torch==VERSION --index-url URL`, and jupyterlab==VERSION)"
        ),
    )
    jupyterlab_version: str | None = setting(
        "4.6.6",
        pattern=r"^\d+\.\d+(\.\d+)?$",
        doc="JupyterLab in torch_venv, for notebooks inside a job (jobs/jupyter.sbatch); None: none",
        fix="set jupyterlab_version in group_data/all.py to a release such as '4.6.6', or None",
    )
    python_index_url: str = setting(
        "https://pypi.org/simple",
        doc="the package index of everything but torch (JupyterLab) when there is no wheelhouse",
        fix="set python_index_url in group_data/all.py to a PyPI-compatible index",
    )

    @field_validator("torch_wheelhouse")
    @classmethod
    def _wheelhouse_exists(cls, value: Path | None) -> Path | None:
        if value is not None and not value.expanduser().is_dir():
            raise ValueError(f"{value} is not a folder")
        return value.expanduser() if value else None


class AccountsPart(BaseModel):
    """Accounts: the same IDs on every node (Slurm runs tasks as the submitter's numeric UID)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    service_accounts: dict[Literal["munge", "slurm"], int] = setting(
        {"munge": 1001, "slurm": 1002},
        doc="munge's and slurm's IDs, made before their packages would choose their own (the guide's 1002)",
        fix=(
            "set service_accounts in group_data/all.py to {'munge': UID, 'slurm': UID}, IDs free on "
            "every node"
        ),
    )
    research_group: ResearchGroup = setting(
        ResearchGroup(),
        doc="the group every research user is in",
        fix="set research_group in group_data/all.py to {'name': ..., 'gid': ...}",
    )
    users: tuple[ResearchUser, ...] = setting(
        (),
        doc="research users; removing one removes their access on every node (their files stay)",
        fix="fix the users list in group_data/all.py: each {'name', 'uid', 'gid', 'keys', 'sudo'}",
    )

    @model_validator(mode="after")
    def _distinct_accounts(self) -> AccountsPart:
        names = [u.name for u in self.users]
        ids = [u.uid for u in self.users] + list(self.service_accounts.values()) + [self.research_group.gid]
        for name in sorted({n for n in names if names.count(n) > 1}):
            raise ValueError(f"users: {name!r} is listed twice; fix: list every person once")
        for uid in sorted({i for i in ids if ids.count(i) > 1}):
            raise ValueError(
                f"users: ID {uid} is used twice among users, service_accounts and research_group; "
                "fix: give each its own ID"
            )
        if set(self.service_accounts) != {"munge", "slurm"}:
            raise ValueError("service_accounts: needs IDs for both munge and slurm; fix: set both")
        return self


_SLURM_TIME = r"^(\d+-)?\d+(:\d{2}){0,2}$"  # Slurm's [days-]hours[:minutes[:seconds]] or minutes


class Sharing(BaseModel):
    """How the research group shares the GPUs (steps/sharing.py, docs in the README's "Sharing")."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    enabled: bool = setting(
        True,
        doc=(
            "a Slurm account for the research group and an association per person in users; only they "
            "(and the admins) may run jobs; fair share, QoS and preemption as below (needs accounting)"
        ),
    )
    account: str = setting("research", pattern=_USERNAME.pattern, doc="the research group's Slurm account")
    max_gpus_per_user: int | None = setting(
        None, ge=1, doc="QoS normal: the most GPUs one person's jobs hold at once; None: no cap"
    )
    decay_half_life: str = setting(
        "7-0", pattern=_SLURM_TIME, doc="fair share forgets past use with this half-life (days-hours)"
    )
    weight_fairshare: int = setting(10000, ge=0, doc="priority from fair share: less recent use, sooner")
    weight_age: int = setting(1000, ge=0, doc="priority from waiting, full after max_age")
    max_age: str = setting("7-0", pattern=_SLURM_TIME, doc="the wait after which age adds no more priority")
    weight_qos: int = setting(20000, ge=0, doc="priority from the QoS: interactive first, scavenger last")
    weight_jobsize: int = setting(
        1000, ge=0, doc="priority from the nodes a job asks for: a DDP job is not starved by one-GPU jobs"
    )
    interactive_max_time: str = setting(
        "4:00:00", pattern=_SLURM_TIME, doc="QoS interactive: the longest job (longer ones are refused)"
    )
    interactive_max_gpus: int = setting(1, ge=1, doc="QoS interactive: GPUs one person holds in it at once")


class SharingPart(BaseModel):
    """Sharing the GPUs: accounts, fair share, per-person caps, preemptible and interactive QoS."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    sharing: Sharing = setting(
        Sharing(),
        doc=(
            "QoS normal (the default), scavenger (priority 0, uses idle GPUs, requeued when normal work "
            "needs one, not counted in fair share), interactive (first in line, short, few GPUs)"
        ),
        fix="set sharing in group_data/all.py to a dict of the keys in docs/settings.md",
    )


class ServicesPart(BaseModel):
    """Services on node0 beside Slurm: the shared directory, the web view and the optional desktop."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    shared: SharedDir = setting(
        SharedDir(),
        group_data="shared_dir",
        doc="node0 exports `export` over NFS to cluster_network; every node mounts it at `path`",
        fix="set shared_dir in group_data/all.py to a dict of enabled, path, export, mount_options",
    )
    webview: WebView = setting(
        WebView(),
        doc="the read-only web view on the controller (it reads slurmrestd)",
        fix="set webview in group_data/all.py to {'enabled', 'port', 'allow', 'refresh_s'}",
    )
    metrics: Metrics = setting(
        Metrics(),
        doc="metrics kept on the controller, never leaving the cluster network",
        fix=(
            "set metrics in group_data/all.py to a dict of enabled, retention, scrape_interval_s, the ports, "
            "nvidia_ml_py_version"
        ),
    )
    desktop: Desktop = setting(
        Desktop(),
        doc="node0 only; its display manager stays off unless asked: the GPU is needed for jobs",
        fix=(
            "set desktop in group_data/all.py to {'kind': 'none', 'gnome-minimal' or 'cinnamon', "
            "'display_manager': bool}"
        ),
    )


class OperationsPart(BaseModel):
    """Operating the cluster: the optional firewall, the rolling upgrade, backups, health checks and the
    benchmark."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    firewall: Firewall = setting(
        Firewall(),
        doc=(
            "inbound only from cluster_network (SSH, Slurm, srun, DDP and NCCL/Gloo), SSH also from "
            "admin_sources; a deploy from outside both stops before switching it on"
        ),
        fix="set firewall in group_data/all.py to {'enabled': bool, 'admin_sources': [networks]}",
    )
    upgrade: UpgradeSettings = setting(
        UpgradeSettings(),
        doc="upgrade.py: one node at a time, the controller last",
        fix="set upgrade in group_data/all.py to a dict of drain_timeout_s, nvidia, validate_timeout_s",
    )
    backup: Backup = setting(
        Backup(),
        doc="backups on the controller, kept there; the README's restore procedure puts them back",
        fix="set backup in group_data/all.py to a dict of enabled, schedule, keep, path",
    )
    health_check: HealthCheck = setting(
        HealthCheck(),
        doc="the GPU, its Xid errors, Slurm's free disk, munge and the wired link, checked by slurmd",
        fix="set health_check in group_data/all.py to a dict of enabled, interval_s, min_free_mb, drain_xids",
    )
    alerts: Alerts = setting(
        Alerts(),
        doc="off by default; Prometheus evaluates the rules whenever metrics are on",
        fix=(
            "set alerts in group_data/all.py to a dict of enabled, email_to, email_from, smarthost, "
            "webhook_url, gpu_hot_celsius, disk_free_percent, port"
        ),
    )
    bench: Bench = setting(
        Bench(),
        doc="bench.py: the all-reduce sweep, DDP steps on 1 and all nodes, an array of short jobs",
        fix="set bench in group_data/all.py to a dict of the keys in docs/settings.md",
    )


# The parts of the spec, in group_data/all.py's and docs/settings.md's order.
PARTS = (
    ClusterPart,
    SshPart,
    TimePart,
    GpuPart,
    SlurmPart,
    TorchPart,
    AccountsPart,
    SharingPart,
    ServicesPart,
    OperationsPart,
)


class ClusterSpec(*PARTS):
    """The whole cluster as the deploy should make it: the parts' settings and the nodes."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    nodes: tuple[Node, ...] = setting(
        min_length=1, doc="the nodes, from inventory.py", fix="edit the node list in inventory.py"
    )

    @model_validator(mode="after")
    def _web_view_has_its_api(self) -> ClusterSpec:
        if self.webview.enabled and not self.rest_api.enabled:
            raise ValueError(
                "webview: it reads slurmrestd; fix: enable rest_api or set webview['enabled'] False"
            )
        ports = {"slurmctld": 6817, "slurmd": 6818, "slurmdbd": 6819, "rest_api": self.rest_api.port}
        ports["webview"] = self.webview.port
        if self.metrics.enabled:
            for name in ("prometheus_port", "node_exporter_port", "gpu_exporter_port"):
                ports[f"metrics['{name}']"] = getattr(self.metrics, name)
        if self.alerts.enabled:
            ports["alerts['port']"] = self.alerts.port
            if not self.metrics.enabled:
                raise ValueError(
                    "alerts: they come from Prometheus; fix: enable metrics or set alerts['enabled'] False"
                )
        for port in sorted({p for p in ports.values() if list(ports.values()).count(p) > 1}):
            clash = " and ".join(name for name, p in ports.items() if p == port)
            raise ValueError(f"ports: {clash} both use {port}; fix: give each its own port")
        return self

    @model_validator(mode="after")
    def _sharing_has_accounting(self) -> ClusterSpec:
        if self.sharing.enabled and not self.accounting:
            raise ValueError(
                "sharing: associations, fair share and QoS live in the accounting database; fix: set "
                "accounting True or sharing['enabled'] False"
            )
        if self.sharing.enabled and self.sharing.account in ("root", ADMIN_ACCOUNT):
            raise ValueError(f"sharing: account {self.sharing.account!r} is taken; fix: choose another name")
        return self

    @model_validator(mode="after")
    def _torch_drives_the_gpu(self) -> ClusterSpec:
        if not self.pytorch:
            return self
        release = tuple(int(p) for p in self.torch_version.split("+")[0].split(".")[:2])
        gpu = COMPATIBILITY.get(self.nvidia.gpu)
        if gpu and gpu.compute_capability >= (12, 0) and release < (2, 7):  # first with sm_120 kernels
            raise ValueError(
                f"torch_version: {self.torch_version} has no kernels for the {gpu.name} (sm_120); "
                "fix: set torch_version to 2.7.0 or newer, from the cu128 index"
            )
        lab = self.jupyterlab_version
        if self.torch_wheelhouse and lab and not any(self.torch_wheelhouse.glob(f"jupyterlab-{lab}-*.whl")):
            raise ValueError(
                f"torch_wheelhouse: {self.torch_wheelhouse} holds no wheel of jupyterlab {lab}; fix: pip "
                f"download -d {self.torch_wheelhouse} jupyterlab=={lab} --index-url {self.python_index_url}"
                ", or set jupyterlab_version None"
            )
        if self.torch_wheelhouse and not any(self.torch_wheelhouse.glob(f"torch-{self.torch_version}*.whl")):
            raise ValueError(
                f"torch_wheelhouse: {self.torch_wheelhouse} holds no wheel of torch {self.torch_version}; "
                f"fix: pip download -d {self.torch_wheelhouse} torch=={self.torch_version} --index-url "
                f"{self.torch_index_url}"
            )
        return self

    @model_validator(mode="after")
    def _consistent_nodes(self) -> ClusterSpec:
        names = [n.name for n in self.nodes]
        ips = [n.ip for n in self.nodes]
        for name in sorted({n for n in names if names.count(n) > 1}):
            raise ValueError(
                f"nodes: host name {name!r} is used twice; fix: give every node its own name in inventory.py"
            )
        for ip in sorted({i for i in ips if ips.count(i) > 1}):
            dup = ", ".join(n.name for n in self.nodes if n.ip == ip)
            raise ValueError(
                f"nodes: cluster_ip {ip} is given to {dup}; "
                "fix: give every node its own address in inventory.py"
            )
        reserved = (self.network.network_address, self.network.broadcast_address)
        for node in self.nodes:
            if node.ip not in self.network or node.ip in reserved:
                raise ValueError(
                    f"nodes: {node.name} cluster_ip {node.ip} is not a host address in cluster_network "
                    f"{self.network}; fix: correct the address in inventory.py or cluster_network in "
                    "group_data/all.py, so that all nodes share one subnet"
                )
        controllers = [n.name for n in self.nodes if n.is_controller]
        if len(controllers) != 1:
            raise ValueError(
                f"nodes: exactly one node must be in the controller group, found {len(controllers)}"
                + (f" ({', '.join(controllers)})" if controllers else "")
                + "; fix: list exactly one node in the controller group in inventory.py"
            )
        if not any(n.is_compute for n in self.nodes):
            raise ValueError(
                "nodes: no node is in the compute group; fix: list nodes in compute in inventory.py"
            )
        return self

    @property
    def controller(self) -> Node:
        return next(n for n in self.nodes if n.is_controller)

    @property
    def compute_nodes(self) -> tuple[Node, ...]:
        return tuple(n for n in self.nodes if n.is_compute)

    def slurm_nodes(
        self, hardware: Mapping[str, Mapping[str, Any]], found_gpus: Mapping[str, Any] | None = None
    ) -> tuple[SlurmNode, ...]:
        """slurm.conf node lines from each compute node's SlurmdHardware fact.

        CPUs, sockets, cores and threads are hwloc's count, E-cores included (``slurmd -C`` leaves
        them out from Slurm 23.02); RealMemory is slurmd's, held back by the margin, and on the
        controller also by slurm_controller_reserve, which keeps that share of its memory (and of
        its cores, from GPU jobs' default) for slurmctld, slurmdbd, MariaDB and the NFS server.
        GPUs come from each node's NvidiaGpus fact where it lists any (real hardware), else from
        gpus_per_node; the type string is always gpu_type.
        """
        nodes = []
        for node in self.compute_nodes:
            found = hardware[node.name]
            topology = found["hwloc"]
            boards = found.get("Boards", 1)
            reserve = self.slurm_controller_reserve if node.is_controller else 0
            gpus, files = gres_conf_gpus((found_gpus or {}).get(node.name), self.gpus_per_node)
            nodes.append(
                SlurmNode(
                    name=node.name,
                    addr=node.ip,
                    cpus=topology["pus"],
                    boards=boards,
                    sockets_per_board=max(topology["packages"] // boards, 1),
                    cores_per_socket=topology["cores"] // topology["packages"],
                    threads_per_core=topology["pus"] // topology["cores"],
                    real_memory=int(found["RealMemory"] * (1 - self.slurm_memory_margin) * (1 - reserve)),
                    gpus=gpus,
                    gpu_files=files,
                    reserved_cpus=int(topology["pus"] * reserve),
                )
            )
        return tuple(nodes)

    def job_defaults(self, nodes: Iterable[SlurmNode]) -> dict[str, int]:
        """What a job that asks for no CPUs or memory gets: memory per CPU, and for each GPU its
        share of the node's CPUs and memory (the smallest share of any GPU node, so it fits on all).

        Without DefCpuPerGPU a GPU job runs its data loaders on one core under ConstrainCores.
        slurm.conf(5) calls DefMemPerGPU and DefMemPerCPU mutually exclusive, yet cons_tres gives a
        GPU job without --mem its GPUs' memory and every other job DefMemPerCPU (job_test.c,
        "memory set via GRES limit", in 22.05, 23.11 and 24.11); both are set.
        """
        nodes = list(nodes)
        defaults = {"DefMemPerCPU": min(n.real_memory // n.cpus for n in nodes)}
        with_gpus = [n for n in nodes if n.gpus]
        if with_gpus:
            defaults["DefCpuPerGPU"] = max(min((n.cpus - n.reserved_cpus) // n.gpus for n in with_gpus), 1)
            defaults["DefMemPerGPU"] = min(n.real_memory // n.gpus for n in with_gpus)
        return defaults

    def node(self, name: str) -> Node:
        return next(n for n in self.nodes if n.name == name)

    @classmethod
    def from_hosts(cls, hosts: Iterable[tuple[str, Iterable[str], Mapping[str, Any]]]) -> ClusterSpec:
        """Build and validate the spec from (name, groups, data) for each inventory host."""
        hosts = list(hosts)
        raw: dict[str, Any] = {}
        problems: list[str] = sorted({line for _, _, data in hosts for line in unknown_settings(data)})
        for field, key in GLOBAL_SETTINGS.items():
            values = {repr(data.get(key)) for _, _, data in hosts if data.get(key) is not None}
            if len(values) > 1:
                problems.append(
                    f"{key}: differs between hosts ({', '.join(sorted(values))}); "
                    f"fix: set it once, in group_data/all.py"
                )
            for _, _, data in hosts:
                if data.get(key) is not None:
                    raw[field] = data.get(key)
                    break
        raw["nodes"] = [
            {
                "name": name,
                "ip": data.get("cluster_ip"),
                "roles": sorted({g for g in groups if g in ("controller", "compute")}),
                "ssh_address": data.get("ssh_hostname") or data.get("cluster_ip") or name,
                "ssh_port": data.get("ssh_port") or 22,
            }
            for name, groups, data in hosts
        ]
        try:
            spec = cls.model_validate(raw)
        except ValidationError as exc:
            problems.extend(_describe(exc, [n["name"] for n in raw["nodes"]], raw.get("users")))
            spec = None
        if problems:
            raise SpecError(
                "The cluster spec is invalid; nothing was changed on any host.\n  - "
                + "\n  - ".join(problems)
            )
        return spec

    @classmethod
    def from_inventory(cls, inventory) -> ClusterSpec:
        """Build the spec from a pyinfra inventory (group_data already merged into host data)."""
        return cls.from_hosts((h.name, h.groups, h.data.dict()) for h in inventory)


_NODE_SETTINGS = {"name": "host name", "ip": "cluster_ip", "roles": "groups", "ssh_port": "ssh_port"}


# The cluster-wide settings (each field's group_data name) and each field's fix, from the fields.
GLOBAL_SETTINGS = {
    name: (field.json_schema_extra or {}).get("group_data", name)
    for name, field in ClusterSpec.model_fields.items()
    if name != "nodes"
}
FIXES = {
    name: field.description
    for model in (ClusterSpec, Node)
    for name, field in model.model_fields.items()
    if field.description
}


def _describe(exc: ValidationError, names: list[str], users: Any = None) -> list[str]:
    """One line per error: where (the node, or the users entry), what, and how to fix it."""
    lines = []
    for err in exc.errors():
        loc = list(err["loc"])
        field = str(loc[0]) if loc else "nodes"
        where = GLOBAL_SETTINGS.get(field, field)
        if field in GLOBAL_SETTINGS and len(loc) == 2 and isinstance(loc[1], str):
            where += f"[{loc[1]!r}]"  # the key of a dict setting
        if loc[:1] == ["nodes"] and len(loc) >= 3:
            field = str(loc[2])
            where = f"{names[loc[1]]}: {_NODE_SETTINGS.get(field, field)}"
        if loc[:1] == ["users"] and len(loc) >= 2 and isinstance(loc[1], int):
            entry = users[loc[1]] if isinstance(users, list | tuple) and loc[1] < len(users) else {}
            name = entry.get("name") if isinstance(entry, Mapping) else None
            where = f"users entry {loc[1] + 1}" + (f" ({name!r})" if name else "")
            where += "".join(f".{part}" for part in loc[2:])
        message = err["msg"].removeprefix("Value error, ")
        if err["type"] == "missing":
            message = "required setting is missing"
        for prefix in (
            "nodes",
            "torch_version",
            "torch_wheelhouse",
            "users",
            "service_accounts",
            "webview",
            "sharing",
        ):
            if message.startswith(f"{prefix}: "):
                where, message = prefix, message.removeprefix(f"{prefix}: ")
        fix = None if "fix:" in message else FIXES.get(field)
        lines.append(f"{where}: {message}" + (f"; fix: {fix}" if fix else ""))
    return lines


_loaded: dict[int, ClusterSpec] = {}


def current() -> ClusterSpec:
    """The spec for the running pyinfra state, built and validated once."""
    from pyinfra import state

    key = id(state.inventory)
    if key not in _loaded:
        _loaded[key] = ClusterSpec.from_inventory(state.inventory)
    return _loaded[key]
