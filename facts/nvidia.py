"""Facts about NVIDIA hardware and software on a node: the GPUs nvidia-smi sees, the NVIDIA GPUs on
the PCI bus, the nvidia kernel module loaded and installed, the CUDA toolkit, the packages apt
holds, and Secure Boot. Each is an audit: ``pyinfra inventory.py fact facts.nvidia.NvidiaGpus``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from typing import Any

from pyinfra.api import FactBase

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


class NvidiaPowerLimits(FactBase):
    """
    Returns each GPU's power limit in watts as nvidia-smi reports it (``power.limit``: the one in
    force, set by ``nvidia-smi --power-limit`` or the card's default); ``[]`` with no driver.

    .. code:: python

        [{"index": 0, "power_limit_w": 575.0}]
    """

    def command(self) -> str:
        return (
            "command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi --query-gpu=index,power.limit "
            "--format=csv,noheader,nounits 2>/dev/null; true"
        )

    @staticmethod
    def default() -> list:
        return []

    def process(self, output):
        rows = parse_gpu_csv(output, ("index", "power.limit"))
        return [
            {
                "index": r["index"],
                "power_limit_w": None if r["power_limit"] is None else float(r["power_limit"]),
            }
            for r in rows
        ]


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


class CudaToolkit(FactBase):
    """
    Returns the version of the CUDA toolkit at /usr/local/cuda, or ``None``.

    .. code:: python

        "12.8.93"
    """

    def command(self) -> str:
        return "cat /usr/local/cuda/version.json 2>/dev/null || true"

    def process(self, output):
        text = "\n".join(output)
        return json.loads(text).get("cuda", {}).get("version") if text.strip() else None
