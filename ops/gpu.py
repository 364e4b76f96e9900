"""GPUs: which NVIDIA driver and CUDA drive them, what a node has, and what follows from that.

Pure: pydantic models, facts and plain functions, no operations (those are in ops/nvidia.py).

- The compatibility table: GPU model -> architecture, compute capability, oldest driver branch,
  whether the open kernel modules are required, oldest CUDA. The spec checks group_data's
  ``nvidia`` settings against it before any operation is planned.
- Facts: the GPUs nvidia-smi sees, the NVIDIA GPUs on the PCI bus, the nvidia kernel module
  loaded and installed, the packages apt holds. Each is an audit:
  ``pyinfra inventory.py fact ops.gpu.NvidiaGpus``.
- What follows from the facts: whether a node needs a reboot, and its gres.conf device files.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from pyinfra.api import FactBase

Version = tuple[int, int]


def _dotted(version: Sequence[int]) -> str:
    return ".".join(map(str, version))


class GpuModel(BaseModel):
    """One GPU model: what a driver and a CUDA toolkit need to drive it."""

    model_config = ConfigDict(frozen=True)

    name: str  # as nvidia-smi names it
    architecture: str
    compute_capability: Version
    min_driver: int  # the oldest driver branch that knows the GPU
    open_modules: Literal["required", "supported", "unsupported"]
    min_cuda: Version  # the first toolkit that compiles for its compute capability

    def problems(self, branch: int, flavour: str, cuda: Version) -> list[str]:
        """What is wrong with driving this GPU with that driver and CUDA, each with its fix."""
        about = f"an {self.name} ({self.architecture}, compute capability {_dotted(self.compute_capability)})"
        works = f"{self.min_driver} or newer" + (" with the open modules" if self.needs_open else "")
        found = []
        if branch < self.min_driver:
            found.append(
                f"driver_branch {branch} cannot drive {about}; "
                f'fix: use {works}: set nvidia["driver_branch"] in group_data/all.py (580 is the default)'
            )
        if flavour == "proprietary" and self.needs_open:
            found.append(
                f"driver_flavour 'proprietary' cannot drive {about}: it works only with NVIDIA's open "
                f'kernel modules; fix: set nvidia["driver_flavour"] = "open" in group_data/all.py'
            )
        if flavour == "open" and self.open_modules == "unsupported":
            found.append(
                f"driver_flavour 'open' cannot drive {about}: the open kernel modules need Turing or "
                f'newer; fix: set nvidia["driver_flavour"] = "proprietary" in group_data/all.py'
            )
        if cuda < self.min_cuda:
            found.append(
                f"cuda {_dotted(cuda)} cannot build for {about}; fix: use CUDA {_dotted(self.min_cuda)} "
                f'or newer: set nvidia["cuda"] = "{_dotted(self.min_cuda)}" in group_data/all.py'
            )
        return found

    @property
    def needs_open(self) -> bool:
        return self.open_modules == "required"


# GPU model -> what drives it. Sources: NVIDIA driver release notes (the branch that added each GPU),
# NVIDIA's kernel-modules page ("Blackwell ... must use the open-source GPU kernel modules"; open
# modules need Turing or newer) and the CUDA release notes (sm_120 from CUDA 12.8).
COMPATIBILITY: dict[str, GpuModel] = {
    gpu.name: gpu
    for gpu in (
        GpuModel(
            name="NVIDIA GeForce RTX 5090",
            architecture="Blackwell",
            compute_capability=(12, 0),
            min_driver=570,
            open_modules="required",
            min_cuda=(12, 8),
        ),
        GpuModel(
            name="NVIDIA GeForce RTX 5080",
            architecture="Blackwell",
            compute_capability=(12, 0),
            min_driver=570,
            open_modules="required",
            min_cuda=(12, 8),
        ),
        GpuModel(
            name="NVIDIA GeForce RTX 4090",
            architecture="Ada Lovelace",
            compute_capability=(8, 9),
            min_driver=525,  # the first production branch with Ada
            open_modules="supported",
            min_cuda=(11, 8),
        ),
        GpuModel(
            name="NVIDIA GeForce RTX 3090",
            architecture="Ampere",
            compute_capability=(8, 6),
            min_driver=455,
            open_modules="supported",
            min_cuda=(11, 1),
        ),
    )
}

# CUDA minor-version compatibility: the oldest driver branch a toolkit of each major release runs on.
CUDA_MIN_DRIVER = {11: 450, 12: 525, 13: 580}


class NvidiaSettings(BaseModel):
    """group_data's ``nvidia`` dict: the GPU model, driver and CUDA for every node, and node0's desktop."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    enabled: bool = True
    gpu: str = "NVIDIA GeForce RTX 5090"
    driver_branch: int = Field(580, ge=100)
    driver_flavour: Literal["open", "proprietary"] = "open"
    driver_packages: tuple[str, ...] = ()  # empty: chosen from the branch, flavour and OS
    cuda: str = Field("12.8", pattern=r"^\d+\.\d+$")
    reboot: bool = True
    desktop: Literal["none", "gnome-minimal", "cinnamon"] = "none"
    desktop_display_manager: bool = False

    @model_validator(mode="wrap")
    @classmethod
    def _name_the_setting(cls, data: Any, handler):
        """Errors name the key inside the dict (the spec reports them all under ``nvidia``)."""
        try:
            return handler(data)
        except ValidationError as exc:
            lines = []
            for err in exc.errors():
                message = err["msg"].removeprefix("Value error, ")
                where = ".".join(map(str, err["loc"]))
                lines.append(f"{where}: {message}" if where else message)
            raise ValueError("\n  - nvidia: ".join(lines)) from None

    @model_validator(mode="after")
    def _drives_the_gpu(self) -> NvidiaSettings:
        if not self.enabled:
            return self
        gpu = COMPATIBILITY.get(self.gpu)
        if gpu is None:
            raise ValueError(
                f'gpu {self.gpu!r} is not in the compatibility table; fix: set nvidia["gpu"] to one of '
                f"{', '.join(sorted(COMPATIBILITY))} (as nvidia-smi names it), or add it to ops/gpu.py"
            )
        problems = gpu.problems(self.driver_branch, self.driver_flavour, self.cuda_version)
        needed = CUDA_MIN_DRIVER.get(self.cuda_version[0])
        if needed is None:
            problems.append(
                f"cuda {self.cuda} is not a CUDA release this project knows; fix: use one of "
                f"{', '.join(f'{major}.x' for major in sorted(CUDA_MIN_DRIVER))}"
            )
        elif self.driver_branch < needed:
            problems.append(
                f"cuda {self.cuda} needs driver branch {needed} or newer, driver_branch is "
                f'{self.driver_branch}; fix: raise nvidia["driver_branch"] or lower nvidia["cuda"]'
            )
        if problems:
            raise ValueError("\n  - nvidia: ".join(problems))
        return self

    @property
    def cuda_version(self) -> Version:
        major, minor = self.cuda.split(".")
        return int(major), int(minor)

    @property
    def cuda_package(self) -> str:
        """The toolkit alone (never ``cuda`` or ``cuda-drivers``, which pull in a driver)."""
        return "cuda-toolkit-{}-{}".format(*self.cuda_version)

    @property
    def cuda_home(self) -> str:
        return f"/usr/local/cuda-{self.cuda}"


# Where the driver and CUDA come from, per OS. Ubuntu: the driver from the Ubuntu archive
# (restricted), CUDA from NVIDIA. Debian: both from NVIDIA's repository.
CUDA_REPOSITORY = "https://developer.download.nvidia.com/compute/cuda/repos"
CUDA_KEYRING = "cuda-keyring_1.1-1_all.deb"
CUDA_KEYRING_FILE = "/usr/share/keyrings/cuda-archive-keyring.gpg"
_REPO_DIRS = {("ubuntu", "24.04"): "ubuntu2404", ("debian", "12"): "debian12", ("debian", "13"): "debian13"}
_REPO_ARCHES = {"x86_64": "x86_64"}


class Distribution(BaseModel):
    """The OS of a node, as far as the driver and CUDA packages care."""

    model_config = ConfigDict(frozen=True)

    id: Literal["ubuntu", "debian"]
    version: str
    arch: str

    @property
    def repo_dir(self) -> str:
        """NVIDIA's name for this OS release, e.g. ``ubuntu2404``."""
        return _REPO_DIRS[(self.id, self.version)]

    @property
    def repo_url(self) -> str:
        return f"{CUDA_REPOSITORY}/{self.repo_dir}/{_REPO_ARCHES[self.arch]}/"

    @property
    def repo_line(self) -> str:
        """The apt source cuda-keyring installs (in /etc/apt/sources.list.d/<repo_list>.list)."""
        return f"deb [signed-by={CUDA_KEYRING_FILE}] {self.repo_url} /"

    @property
    def repo_list(self) -> str:
        return f"cuda-{self.repo_dir}-{_REPO_ARCHES[self.arch]}"


def distribution(os_release: Mapping[str, str], arch: str) -> Distribution:
    """The node's OS from /etc/os-release (pyinfra's OsRelease fact) and ``uname -m``; refuses others."""
    key = (os_release.get("id", ""), os_release.get("version_id", ""))
    if key not in _REPO_DIRS or arch not in _REPO_ARCHES:
        supported = ", ".join(f"{i.title()} {v}" for i, v in _REPO_DIRS)
        raise ValueError(
            f"{os_release.get('pretty_name', ' '.join(key))} on {arch} is not supported for the NVIDIA "
            f'driver and CUDA; use {supported} on x86_64, or set nvidia["enabled"] = False'
        )
    return Distribution(id=key[0], version=key[1], arch=arch)


def kernel_flavour(kernel: str, installed: Iterable[str]) -> str:
    """The running kernel's flavour as Canonical's prebuilt-module packages name it:
    ``6.8.0-60-generic`` -> ``generic``; ``generic-hwe-24.04`` when the HWE kernel is the one
    installed (the prebuilt modules then follow it from 6.8 to 6.11 and on)."""
    flavour = kernel.split("-", 2)[-1] if kernel.count("-") >= 2 else "generic"
    hwe = f"linux-image-{flavour}-hwe-24.04"
    return f"{flavour}-hwe-24.04" if hwe in set(installed) else flavour


PREBUILT_FLAVOURS = ("generic", "generic-hwe-24.04", "lowlatency", "lowlatency-hwe-24.04")


def driver_packages(
    dist: Distribution, settings: NvidiaSettings, flavour: str = "generic"
) -> tuple[str, ...]:
    """The packages that install the driver: group_data's list if given, else by OS, branch and flavour.

    On Ubuntu, for a kernel flavour Canonical builds the modules for, its signed prebuilt modules
    (``linux-modules-nvidia-580-open-generic``) and the driver without DKMS: they load under
    Secure Boot with no key to enrol, and follow every kernel update. Otherwise the DKMS driver.
    """
    if settings.driver_packages:
        return settings.driver_packages
    if dist.id == "ubuntu":
        branch = settings.driver_branch
        suffix = "-open" if settings.driver_flavour == "open" else ""
        if flavour in PREBUILT_FLAVOURS:
            return (
                f"linux-modules-nvidia-{branch}{suffix}-{flavour}",
                f"nvidia-headless-no-dkms-{branch}{suffix}",
                f"nvidia-utils-{branch}",
            )
        return (f"nvidia-driver-{branch}{suffix}",)
    # NVIDIA's repository for Debian names packages without the branch; the apt pin chooses it.
    return ("nvidia-open",) if settings.driver_flavour == "open" else ("nvidia-driver", "nvidia-kernel-dkms")


def builds_with_dkms(packages: Iterable[str]) -> bool:
    """Whether these driver packages build their kernel module with DKMS (not Canonical's prebuilt ones)."""
    return not any(p.startswith("linux-modules-nvidia-") for p in packages)


def secure_boot_refusal(secure_boot: bool | None, packages: Iterable[str]) -> str | None:
    """Why a DKMS driver cannot work on this node (Secure Boot on: an unsigned module never loads
    until a key is enrolled at the console), or ``None``."""
    if not secure_boot or not builds_with_dkms(packages):
        return None
    return (
        f"Secure Boot is on and the driver ({', '.join(packages)}) builds its module with DKMS, which does "
        "not load until its key is enrolled at the console. Fix: boot a generic or generic-hwe-24.04 "
        "kernel (Canonical's signed prebuilt modules are used there), or enrol the DKMS key "
        "(`sudo mokutil --import /var/lib/shim-signed/mok/MOK.der`, then Enroll MOK on the next boot) "
        "and set nvidia['driver_packages'] to the packages above, or switch Secure Boot off"
    )


def kernel_headers(dist: Distribution, kernel: str, installed: Iterable[str]) -> list[str]:
    """Headers for the running kernel, and the metapackage that brings them for every later kernel,
    so DKMS rebuilds the module after a kernel update (no headers: no module after the reboot)."""
    installed = set(installed)
    if dist.id == "ubuntu":
        hwe = f"linux-image-generic-hwe-{dist.version}"
        meta = f"linux-headers-generic-hwe-{dist.version}" if hwe in installed else "linux-headers-generic"
    else:
        meta = "linux-headers-amd64"
    return [f"linux-headers-{kernel}", meta]


# Every package of a driver installation, whatever the OS calls them; never the container toolkit.
_DRIVER_PACKAGE = re.compile(r"nvidia|^libcuda1$|^libnvcuvid|^libnvoptix|^libxnvctrl")
_NOT_DRIVER = re.compile(r"container|docker")


def packages_to_hold(
    installed: Iterable[str], held: Iterable[str], wanted: Iterable[str]
) -> list[str] | None:
    """The installed driver packages not yet held, or ``None`` while the driver is not installed.

    Every piece is held, not only the metapackage: a library upgraded under a loaded module breaks
    NVML ("Failed to initialize NVML: Driver/library version mismatch") until the next reboot.
    With Canonical's prebuilt modules the kernel metapackages are held too: a newer kernel's
    modules need a newer driver release, so kernel and driver move together, in the explicit
    upgrade (see the README), never a kernel alone that boots without its module.
    """
    installed = set(installed)
    if not set(wanted) <= installed:
        return None
    driver = {p for p in installed if _DRIVER_PACKAGE.search(p) and not _NOT_DRIVER.search(p)}
    if not builds_with_dkms(wanted):
        driver |= installed & KERNEL_METAPACKAGES
    return sorted(driver - set(held))


KERNEL_METAPACKAGES = {
    f"linux-{kind}generic{hwe}" for kind in ("", "image-", "headers-") for hwe in ("", "-hwe-24.04")
}


def reboot_reason(pci_gpus: Sequence[Mapping], module: Mapping | None) -> str | None:
    """Why this node must reboot for its driver, or ``None`` when a reboot would change nothing.

    - no NVIDIA GPU on the PCI bus (or a container, see NvidiaPciGpus): ``None``, since no reboot
      can make a driver load without a GPU;
    - no nvidia module installed for the running kernel yet (the driver is being installed), or
      installed but not loaded: reboot;
    - loaded module differs from the installed one (version or open/proprietary): reboot;
    - loaded is the installed one: ``None``, so a converged node is never rebooted.
    """
    if not pci_gpus:
        return None
    loaded = (module or {}).get("loaded")
    installed = (module or {}).get("installed")
    if installed is None:
        return "no nvidia kernel module is installed for the running kernel yet"
    if loaded is None:
        return f"nvidia {installed['version']} is installed but not loaded"
    if (loaded["version"], loaded["open"]) != (installed["version"], installed["open"]):
        return (
            f"the loaded nvidia module ({_flavour(loaded)} {loaded['version']}) is not the installed one "
            f"({_flavour(installed)} {installed['version']})"
        )
    return None


def module_id(module: Mapping | None) -> str:
    """One line naming a kernel module build, as MODULE_ID_COMMAND prints it: ``580.95.05 open``."""
    return f"{module['version']} {_flavour(module)}" if module else "none"


# The same line, printed on the node when it is about to reboot (after this run installed the driver).
MODULE_ID_COMMAND = (
    "{ v=$(modinfo -F version nvidia 2>/dev/null) && l=$(modinfo -F license nvidia) && "
    '{ [ "$l" = "Dual MIT/GPL" ] && echo "$v open" || echo "$v proprietary"; } || echo none; }'
)


def rebooted_for_it(marker: Sequence[str] | None, module: Mapping | None) -> bool:
    """Whether this node was already rebooted with the module it has installed now (ops/nvidia.py
    writes the marker just before it reboots): a second reboot for the same driver would not help."""
    return bool(marker) and marker[0].strip() == module_id((module or {}).get("installed"))


def _flavour(module: Mapping) -> str:
    return "open" if module["open"] else "proprietary"


def gres_conf_gpus(gpus: Sequence[Mapping] | None, fallback: int) -> tuple[int, str]:
    """The GPU count and gres.conf ``File=`` of a node: from its NvidiaGpus fact when that lists
    GPUs (real hardware, driver loaded), else group_data's ``gpus_per_node`` as /dev/nvidia0..N-1."""
    if gpus:
        minors = [g["minor"] if g.get("minor") is not None else g["index"] for g in gpus]
    else:
        minors = list(range(fallback))
    return len(minors), device_files(minors)


def device_files(minors: Iterable[int]) -> str:
    """NVIDIA device files in Slurm's range syntax: [0] -> /dev/nvidia0, [0, 2, 3] -> /dev/nvidia[0,2-3]."""
    minors = sorted(set(minors))
    if not minors:
        return ""
    if len(minors) == 1:
        return f"/dev/nvidia{minors[0]}"
    runs: list[list[int]] = []
    for minor in minors:
        if runs and minor == runs[-1][-1] + 1:
            runs[-1].append(minor)
        else:
            runs.append([minor])
    parts = [str(run[0]) if len(run) == 1 else f"{run[0]}-{run[-1]}" for run in runs]
    return f"/dev/nvidia[{','.join(parts)}]"


# nvidia-smi --query-gpu fields read by NvidiaGpus, and the key each becomes.
GPU_FIELDS = {
    "index": "index",
    "name": "name",
    "driver_version": "driver_version",
    "memory.total": "memory_mib",
    "compute_cap": "compute_capability",
    "pci.bus_id": "bus_id",
    "persistence_mode": "persistence_mode",
}
_INTEGERS = {"index", "memory.total", "memory.used", "memory.free", "utilization.gpu"}
_MINOR = re.compile(r"/proc/driver/nvidia/gpus/([0-9a-fA-F:.]+)/information:\s*Device Minor:\s*(\d+)")


def parse_gpu_csv(lines: Iterable[str], fields: Sequence[str] = tuple(GPU_FIELDS)) -> list[dict]:
    """Rows of ``nvidia-smi --query-gpu=<fields> --format=csv,noheader,nounits`` as dicts.

    Lines that are not rows (``No devices were found``, ``NVIDIA-SMI has failed ...``) are skipped;
    ``[N/A]`` and ``[Not Supported]`` become ``None``.
    """
    gpus = []
    for line in lines:
        values = [value.strip() for value in line.split(",")]
        if len(values) != len(fields) or ("index" in fields and not values[fields.index("index")].isdigit()):
            continue
        gpu: dict[str, Any] = {}
        for field, value in zip(fields, values, strict=True):
            key = GPU_FIELDS.get(field, field.replace(".", "_"))
            if value.startswith("["):
                gpu[key] = None
            elif field in _INTEGERS:
                gpu[key] = int(value)
            elif field == "persistence_mode":
                gpu[key] = value == "Enabled"
            else:
                gpu[key] = value
        gpus.append(gpu)
    return gpus


def _bus(bus_id: str) -> tuple[int, str]:
    """A PCI address comparable across nvidia-smi (00000000:01:00.0) and /proc (0000:01:00.0)."""
    domain, _, rest = bus_id.lower().partition(":")
    return int(domain, 16), rest


class NvidiaGpus(FactBase):
    """
    Returns the GPUs the loaded NVIDIA driver drives (nvidia-smi), with each one's device minor
    number (/dev/nvidia<minor>); ``[]`` with no driver loaded or no GPU.

    .. code:: python

        [{"index": 0, "name": "NVIDIA GeForce RTX 5090", "driver_version": "580.95.05",
          "memory_mib": 32607, "compute_capability": "12.0", "bus_id": "00000000:01:00.0",
          "persistence_mode": True, "minor": 0}]
    """

    # Guarded in the shell, not with requires_command: this fact is also read while the run
    # executes (gres.conf on a first run), where pyinfra warns about a missing command.
    def command(self) -> str:
        return (
            "command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi --query-gpu="
            + ",".join(GPU_FIELDS)
            + " --format=csv,noheader,nounits 2>/dev/null;"
            " grep -H 'Device Minor' /proc/driver/nvidia/gpus/*/information 2>/dev/null; true"
        )

    @staticmethod
    def default() -> list:
        return []

    def process(self, output):
        minors = {_bus(m.group(1)): int(m.group(2)) for m in map(_MINOR.search, output) if m}
        gpus = parse_gpu_csv(output)
        for gpu in gpus:
            gpu["minor"] = minors.get(_bus(gpu["bus_id"])) if gpu.get("bus_id") else None
        return gpus


class NvidiaPciGpus(FactBase):
    """
    Returns the NVIDIA GPUs (display and 3D controllers) on the PCI bus, driver or not; ``[]`` in a
    container, which shares its host's kernel and can never load a driver for them.

    .. code:: python

        [{"bus_id": "0000:01:00.0", "device": "0x2b85"}]
    """

    def command(self) -> str:
        return (
            "command -v systemd-detect-virt >/dev/null 2>&1 && systemd-detect-virt -q --container && exit 0;"
            " for d in /sys/bus/pci/devices/*; do"
            ' [ "$(cat $d/vendor 2>/dev/null)" = 0x10de ] || continue;'
            ' case "$(cat $d/class 2>/dev/null)" in 0x0300*|0x0302*) echo "${d##*/} $(cat $d/device)";; esac;'
            " done; true"
        )

    @staticmethod
    def default() -> list:
        return []

    def process(self, output):
        return [dict(zip(("bus_id", "device"), line.split(), strict=True)) for line in output if line.strip()]


_VERSION = re.compile(r"^\d+\.\d+(\.\d+)?$")


def parse_kernel_module(lines: Iterable[str]) -> dict:
    """The loaded module from /proc/driver/nvidia/version and the installed one from ``modinfo nvidia``.

    Both outputs may come in one stream: the ``NVRM version:`` line is the loaded module's, the
    ``key: value`` lines whose key has no space are modinfo's.
    """
    loaded = installed = None
    fields: dict[str, str] = {}
    for line in lines:
        if line.startswith("NVRM version:"):
            version = next((word for word in line.split() if _VERSION.match(word)), None)
            if version:
                loaded = {"version": version, "open": "Open Kernel Module" in line}
            continue
        key, sep, value = line.partition(":")
        if sep and key and " " not in key and not key[0].isspace():
            fields.setdefault(key, value.strip())
    if fields.get("version"):
        installed = {
            "version": fields["version"],
            "open": fields.get("license") == "Dual MIT/GPL",  # the proprietary module says "NVIDIA"
            "file": fields.get("filename"),
        }
    return {"loaded": loaded, "installed": installed}


class NvidiaKernelModule(FactBase):
    """
    Returns the nvidia kernel module that is loaded (/proc/driver/nvidia/version) and the one
    installed for the running kernel (``modinfo nvidia``), each ``None`` when absent.

    .. code:: python

        {"loaded": {"version": "580.95.05", "open": True},
         "installed": {"version": "580.95.05", "open": True,
                       "file": "/lib/modules/6.8.0-60-generic/updates/dkms/nvidia.ko.zst"}}
    """

    def command(self) -> str:
        return "cat /proc/driver/nvidia/version 2>/dev/null; modinfo nvidia 2>/dev/null; true"

    @staticmethod
    def default() -> dict:
        return {"loaded": None, "installed": None}

    def process(self, output):
        return parse_kernel_module(output)


class HeldPackages(FactBase):
    """
    Returns the packages apt holds back (``apt-mark showhold``).

    .. code:: python

        ["libnvidia-compute-580", "nvidia-driver-580-open"]
    """

    def command(self) -> str:
        return "apt-mark showhold 2>/dev/null; true"

    @staticmethod
    def default() -> list:
        return []

    def process(self, output):
        return sorted(line.strip() for line in output if line.strip())


class SecureBoot(FactBase):
    """
    Returns whether Secure Boot is on (``mokutil --sb-state``): ``True``, ``False``, or ``None``
    where mokutil is missing or the machine has no EFI variables (a container, a BIOS boot).

    .. code:: python

        True
    """

    def command(self) -> str:
        return "command -v mokutil >/dev/null 2>&1 && mokutil --sb-state 2>&1; true"

    def process(self, output):
        text = " ".join(output)
        if "SecureBoot enabled" in text:
            return True
        return False if "SecureBoot disabled" in text else None
