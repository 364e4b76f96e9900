"""The GPU policy: which NVIDIA driver branch, kernel modules and CUDA drive each GPU model, and
group_data's ``nvidia`` settings, checked against that table before any host is touched.

To support another GPU, add a row to COMPATIBILITY; nothing else needs to know about it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

from model.setting import setting

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
    """group_data's ``nvidia`` dict: the GPU model, driver and CUDA for every node."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    enabled: bool = setting(True, doc="False: leave the driver and CUDA to someone else (the rig does)")
    gpu: str = setting(
        "NVIDIA GeForce RTX 5090", doc="the GPU model as nvidia-smi names it; a row of model/gpu.py's table"
    )
    driver_branch: int = setting(
        580, ge=100, doc="the driver branch (Ubuntu: nvidia-driver-580-open from the Ubuntu archive)"
    )
    driver_flavour: Literal["open", "proprietary"] = setting(
        "open", doc='"open" or "proprietary" kernel modules (Blackwell needs the open ones)'
    )
    driver_packages: tuple[str, ...] = setting(
        (), doc="empty: chosen from the branch, flavour and OS; or name the packages here"
    )
    cuda: str = setting(
        "12.8", pattern=r"^\d+\.\d+$", doc="the toolkit alone: cuda-toolkit-12-8 from NVIDIA's repository"
    )
    reboot: bool = setting(
        True, doc="reboot a node (one at a time) only when its installed driver is not the loaded one"
    )
    power_limit_w: int | None = setting(
        None,
        ge=100,
        le=1000,
        doc=(
            "hold every GPU to this many watts, set with nvidia-smi at each boot (three 575 W cards in one "
            "room); None: the card's own limit"
        ),
    )

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
                if err["type"] == "extra_forbidden" and where.startswith("desktop"):
                    message = (
                        "the desktop is a setting of its own; fix: set desktop = {...} in group_data/all.py"
                    )
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
                f"{', '.join(sorted(COMPATIBILITY))} (as nvidia-smi names it), or add it to model/gpu.py"
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
