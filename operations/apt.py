"""pyinfra's apt operations; apt.packages skipped without reading the package list again where the
host's one reading shows every package installed (operations/reading.py). Any other name here is
pyinfra's own."""

from __future__ import annotations

from pyinfra.operations import apt

from operations.reading import packages_missing, planned, with_given


def packages(*, packages: list[str], _if=None, **kwargs):
    """apt.packages; the reading settles only packages to be present (``name`` or ``name=version``)."""
    if planned() or kwargs.get("present", True) is not True or kwargs.get("latest"):
        return apt.packages(packages=packages, _if=_if, **kwargs)
    return apt.packages(packages=packages, _if=with_given(packages_missing(packages), _if), **kwargs)


def __getattr__(name: str):
    return getattr(apt, name)
