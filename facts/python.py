"""Facts about Python on a node: what a virtual environment holds."""

from __future__ import annotations

import shlex

from pyinfra.api import FactBase

_VERSIONS = """import importlib.metadata as m, sys
for name in sys.argv[1:]:
    try:
        print(name, m.version(name))
    except m.PackageNotFoundError:
        print(name, "-")"""


class VenvPackages(FactBase):
    """
    Returns the version of each named package that a virtual environment's Python imports (``None``
    where it has none), or ``None`` where there is no such environment: one short Python run, where
    pyinfra's pip facts run ``pip freeze``, which imports pip and lists every package.

    .. code:: python

        {"jupyterlab": "4.4.5", "nvidia-ml-py": None}
    """

    def command(self, venv: str, names: tuple[str, ...]) -> str:
        python = f"{venv}/bin/python"
        listed = " ".join(shlex.quote(name) for name in names)
        return f"test -x {python} && {python} -c {shlex.quote(_VERSIONS)} {listed} || true"

    def process(self, output):
        found = dict(line.split(" ", 1) for line in output if " " in line)
        return {name: None if version == "-" else version for name, version in found.items()} or None
