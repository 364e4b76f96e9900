"""The NVIDIA driver and the CUDA toolkit, in the versions group_data names (``nvidia``).

The spec has already checked those versions against the GPU (model/gpu.py), so a driver or CUDA
that cannot drive it stops the run before any host is touched.

- On Ubuntu, Canonical's signed prebuilt modules for the running kernel flavour and the driver
  without DKMS: they load under Secure Boot and follow every kernel update. Elsewhere (Debian, other
  flavours) kernel headers and DKMS, which rebuild the module for every new kernel; with Secure
  Boot on, that stops the run before anything is installed, naming the fix.
- nouveau blacklisted; the initramfs is refreshed only when that file changes.
- The driver: on Ubuntu from the Ubuntu archive; on Debian from NVIDIA's repository, held to the
  branch by an apt pin. Every driver package is then held (apt-mark hold),
  so no unattended upgrade replaces the driver under a running job; upgrading is an explicit act.
- nvidia-persistenced enabled, so the driver stays initialised between jobs.
- The CUDA toolkit alone (``cuda-toolkit-X-Y``) from NVIDIA's repository through cuda-keyring;
  never the ``cuda`` or ``cuda-drivers`` metapackages, which would install a second driver.
  CUDA is on PATH for login shells.
- A reboot only when the installed driver is not the one running, one node at a time: each node
  must come back with nvidia-smi answering before the next one goes down; never twice for the
  same driver (a marker names the driver a node was rebooted for).
"""

from __future__ import annotations

import time
from io import StringIO

from pyinfra import host, logger
from pyinfra.api import FunctionCommand, deploy, operation
from pyinfra.api.exceptions import OperationError
from pyinfra.facts.deb import DebPackages
from pyinfra.facts.files import File, FileContents
from pyinfra.facts.server import Arch, KernelVersion, OsRelease
from pyinfra.operations import server, systemd

from facts.nvidia import HeldPackages, NvidiaKernelModule, NvidiaPciGpus, SecureBoot
from model.gpu import NvidiaSettings
from model.gpu_node import MODULE_ID_COMMAND, reboot_reason, rebooted_for_it
from model.nvidia_packages import (
    CUDA_KEYRING,
    Distribution,
    builds_with_dkms,
    distribution,
    driver_packages,
    kernel_flavour,
    kernel_headers,
    packages_to_hold,
    secure_boot_refusal,
)
from model.spec import current
from operations import apt, files
from operations.plan import daemon_reload, did_change, restart, when_known
from operations.render import render
from runbooks.remote import run

BLACKLIST = "/etc/modprobe.d/blacklist-nouveau.conf"
DRIVER_PIN = "/etc/apt/preferences.d/gpucluster-nvidia-driver"
CUDA_PROFILE = "/etc/profile.d/cuda.sh"
GPU_WAIT_S = 300  # after a reboot: how long nvidia-smi may take to answer
REBOOT_MARKER = "/var/lib/gpucluster/nvidia-reboot"  # the driver a node was last rebooted for
SB_STATE = {True: "on", False: "off"}
POWER_UNIT = "gpucluster-gpu-power.service"


@deploy("NVIDIA driver and CUDA")
def configure():
    settings = current().nvidia
    try:
        dist = distribution(host.get_fact(OsRelease), host.get_fact(Arch))
    except ValueError as exc:
        raise OperationError(f"{host.name}: {exc}") from None
    installed = host.get_fact(DebPackages)
    kernel = host.get_fact(KernelVersion)
    packages = driver_packages(dist, settings, kernel_flavour(kernel, installed))
    refusal = secure_boot_refusal(host.get_fact(SecureBoot), packages)
    if refusal:
        raise OperationError(f"{host.name}: {refusal}; nothing was changed")

    if builds_with_dkms(packages):
        apt.packages(
            name="Install kernel headers and DKMS",
            packages=[*kernel_headers(dist, kernel, installed), "dkms"],
        )
    blacklist = files.put(
        name=f"Blacklist nouveau ({BLACKLIST})",
        src=StringIO(render("blacklist-nouveau.conf.j2")),
        dest=BLACKLIST,
        user="root",
        group="root",
        mode="644",
    )
    server.shell(
        name="Refresh the initramfs without nouveau",
        commands=["update-initramfs -u -k all"],
        _if=blacklist.did_change,
    )

    sources = _nvidia_repository(dist, settings, installed)
    apt.update(name="Read NVIDIA's repository", _if=did_change(sources))
    apt.packages(
        name=f"Install the NVIDIA driver {settings.driver_branch}, {settings.driver_flavour} kernel modules "
        f"({', '.join(packages)})",
        packages=list(packages),
    )
    _hold_driver(packages)

    module = host.get_fact(NvidiaKernelModule)
    systemd.service(
        name="Enable nvidia-persistenced",
        service="nvidia-persistenced",
        running=True if module["loaded"] else None,  # with no driver loaded yet it starts at boot
        enabled=True,
    )
    _power_limit(settings.power_limit_w, module)
    apt.packages(
        name=f"Install the CUDA {settings.cuda} toolkit ({settings.cuda_package})",
        packages=[settings.cuda_package],
    )
    files.put(
        name=f"Put CUDA {settings.cuda} on PATH for login shells ({CUDA_PROFILE})",
        src=StringIO(render("cuda.sh.j2", settings=settings)),
        dest=CUDA_PROFILE,
        user="root",
        group="root",
        mode="644",
    )

    if settings.reboot:
        reboot_into_driver(name="Reboot into the installed driver, one node at a time", _serial=True)
    else:
        reason = reboot_reason(host.get_fact(NvidiaPciGpus), module)
        if reason:
            logger.warning(f"{host.name} needs a reboot ({reason}); nvidia reboot is False: reboot it")


def _power_limit(watts: int | None, module: dict) -> None:
    """Every GPU held to `watts` by a unit that sets it at each boot (nvidia-smi's limit does not
    survive a reboot), applied now where the driver is loaded; None: the unit goes, and the card's
    own limit returns at the next boot."""
    unit = f"/etc/systemd/system/{POWER_UNIT}"
    if watts is None:
        if host.get_fact(File, path=unit):
            systemd.service(name="Stop holding the GPUs' power", service=POWER_UNIT, enabled=False)
            files.file(name=f"Remove {unit}", path=unit, present=False)
            systemd.daemon_reload(name="Forget the GPU power unit")
        return
    written = files.put(
        name=f"Hold each GPU to {watts} W at boot ({unit})",
        src=StringIO(render("gpucluster-gpu-power.service.j2", watts=watts)),
        dest=unit,
        user="root",
        group="root",
        mode="644",
    )
    daemon_reload("Read the GPU power unit", POWER_UNIT, written)
    systemd.service(name="Set the GPUs' power limit at every boot", service=POWER_UNIT, enabled=True)
    if module["loaded"]:  # with no driver loaded yet it first runs at the boot into it
        restart(f"Set the GPUs' power limit to {watts} W now", POWER_UNIT, written, [unit])


def _nvidia_repository(dist: Distribution, settings: NvidiaSettings, installed) -> list:
    """NVIDIA's repository (cuda-keyring: signing key and source) and the pin that picks the driver."""
    ops = []
    if "cuda-keyring" not in installed:
        ops.append(
            apt.deb(
                name=f"Add NVIDIA's repository signing key and source ({CUDA_KEYRING}, {dist.repo_dir})",
                src=dist.repo_url + CUDA_KEYRING,
            )
        )
    ops.append(
        apt.repo(
            name=f"NVIDIA's CUDA repository ({dist.repo_url})",
            src=dist.repo_line,
            filename=dist.repo_list,
        )
    )
    ops.append(
        files.put(
            name=f"Pin the driver to branch {settings.driver_branch} from "
            f"{'the Ubuntu archive' if dist.id == 'ubuntu' else 'NVIDIA'} ({DRIVER_PIN})",
            src=StringIO(render("gpucluster-nvidia-driver.j2", dist=dist, settings=settings)),
            dest=DRIVER_PIN,
            user="root",
            group="root",
            mode="644",
        )
    )
    return ops


def _hold_driver(packages) -> None:
    """apt-mark hold every installed driver package not held yet (none to hold: nothing planned)."""
    name = "Hold the NVIDIA driver packages (apt-mark hold)"
    when_known(
        name,
        lambda: packages_to_hold(host.get_fact(DebPackages), host.get_fact(HeldPackages), packages),
        lambda unheld: (
            server.shell(name=name, commands=[f"apt-mark hold {' '.join(unheld)}"]) if unheld else None
        ),
    )


@operation()
def reboot_into_driver(gpu_wait: int = GPU_WAIT_S):
    """
    Reboot when the installed NVIDIA driver is not the one running, and wait for the GPU to answer.

    Decided from the node's facts, while planning and again when the run reaches it (after the
    driver was installed); see model.gpu_node.reboot_reason. Run it with ``_serial=True``: a node that does
    not come back with a working GPU stops the reboots of the nodes after it.
    """
    module = host.get_fact(NvidiaKernelModule)
    reason = reboot_reason(host.get_fact(NvidiaPciGpus), module)
    if reason is None:
        host.noop("the installed NVIDIA driver is the one running (or there is no NVIDIA GPU)")
        return
    if rebooted_for_it(host.get_fact(FileContents, path=REBOOT_MARKER), module):
        raise OperationError(
            f"{host.name}: {reason}, after a reboot for this very driver; another would not help. "
            f"Secure Boot: {SB_STATE.get(host.get_fact(SecureBoot), 'unknown')} (a DKMS module loads only "
            "once its key is enrolled at the console). Check `dkms status` and `journalctl -k | grep -i "
            f"nvrm`, fix the cause, then `sudo rm {REBOOT_MARKER}` and run the deploy again"
        )
    yield FunctionCommand(_refuse_after_a_failure, (reason,), {})
    yield f"mkdir -p {REBOOT_MARKER.rsplit('/', 1)[0]} && {MODULE_ID_COMMAND} > {REBOOT_MARKER}"
    yield from server.reboot._inner(delay=30, interval=5, reboot_timeout=900)
    yield FunctionCommand(_wait_for_gpu, (gpu_wait,), {})


_not_back: list[str] = []  # nodes whose GPU did not answer after their reboot, in this run


def _refuse_after_a_failure(state, host, reason: str) -> bool:
    if _not_back:
        raise OperationError(
            f"{host.name} needs a reboot ({reason}), but {', '.join(_not_back)} did not come back with a "
            "working GPU; fix that node first, then run the deploy again"
        )
    logger.info(f"{host.print_prefix}rebooting: {reason}")
    return True


def _wait_for_gpu(state, host, timeout: int) -> bool:
    deadline = time.monotonic() + timeout
    while True:
        result = run("nvidia-smi -L", host.name)
        if result["rc"] == 0:
            return True
        if time.monotonic() > deadline:
            _not_back.append(host.name)
            raise OperationError(
                f"{host.name}: nvidia-smi does not answer {timeout}s after the reboot "
                f"({' '.join(result['output'].split())[:300]}); "
                "check `dkms status` and `journalctl -k | grep -i nvrm` there"
            )
        time.sleep(5)
