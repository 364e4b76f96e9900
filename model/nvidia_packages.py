"""Where the NVIDIA driver and CUDA come from on each OS, which packages they are, and which
apt must hold: plain functions of a node's facts and the ``nvidia`` settings (steps/nvidia.py
applies them).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Literal

from pydantic import BaseModel, ConfigDict

from model.gpu import NvidiaSettings

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
