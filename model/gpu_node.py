"""What follows from a node's GPU facts: whether it must reboot into its driver, and the GPUs and
device files gres.conf gives it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence


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
    """Whether this node was already rebooted with the module it has installed now (steps/nvidia.py
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
