"""pyinfra's pip operations; pip.virtualenv skipped where the host's one reading shows its activate
script (operations/reading.py), pip.packages where one short Python run in the environment shows
every package at its pinned version (pyinfra's reads `pip freeze`, which imports pip and lists
every package). Any other name here is pyinfra's own."""

from __future__ import annotations

from pathlib import PurePosixPath

from pyinfra import host
from pyinfra.operations import pip as pyinfra_pip

from facts.python import VenvPackages
from operations.reading import path_differs, planned, with_given


def virtualenv(*, path: str, _if=None, **kwargs):
    """pip.virtualenv, to be present."""
    if planned() or kwargs.get("present", True) is not True:
        return pyinfra_pip.virtualenv(path=path, _if=_if, **kwargs)
    _if = with_given(path_differs(f"{path}/bin/activate", "f"), _if)
    return pyinfra_pip.virtualenv(path=path, _if=_if, **kwargs)


def packages(*, packages: list[str], pip: str, _if=None, **kwargs):
    """pip.packages; the reading settles only pinned packages (``name==version``) to be present,
    installed with an environment's own pip (``<venv>/bin/pip``)."""
    pinned = dict(package.split("==", 1) for package in packages if "==" in package)
    settled = len(pinned) == len(packages) and PurePosixPath(pip).name == "pip"
    if planned() or not settled or set(kwargs) & {"present", "latest", "requirements"}:
        return pyinfra_pip.packages(packages=packages, pip=pip, _if=_if, **kwargs)
    venv = str(PurePosixPath(pip).parent.parent)

    def missing() -> bool:
        found = host.get_fact(VenvPackages, venv=venv, names=tuple(pinned)) or {}
        return any(found.get(name) != version for name, version in pinned.items())

    return pyinfra_pip.packages(packages=packages, pip=pip, _if=with_given(missing, _if), **kwargs)


def __getattr__(name: str):
    return getattr(pyinfra_pip, name)
