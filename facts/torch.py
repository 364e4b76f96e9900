"""Facts about PyTorch on a node: the release in its virtual environment."""

from __future__ import annotations

from pyinfra.api import FactBase


class TorchVersion(FactBase):
    """
    Returns the PyTorch version in a virtual environment, the CUDA it was built for, and numpy's.

    .. code:: python

        {"torch": "2.9.1+cu128", "cuda": "12.8", "numpy": "2.3.5"}
    """

    def command(self, venv: str) -> str:
        # torch/version.py and the packages' metadata, not `import torch` (over a second per node)
        return (
            f"test -x {venv}/bin/python && {venv}/bin/python -c "
            "'import importlib.metadata as m, importlib.util as u, runpy; "
            'v = runpy.run_path(u.find_spec("torch").submodule_search_locations[0] + "/version.py"); '
            'print(v["__version__"]); print(v["cuda"]); print(m.version("numpy"))\' 2>/dev/null || true'
        )

    def process(self, output):
        lines = [line.strip() for line in output if line.strip()]
        if not lines:
            return None
        lines += [None] * (3 - len(lines))
        return {"torch": lines[0], "cuda": None if lines[1] == "None" else lines[1], "numpy": lines[2]}


def same_release(installed: str, wanted: str) -> bool:
    """2.9.1+cu128 satisfies 2.9.1; a wanted local version (2.13.0+cpu) must match exactly."""
    return installed == wanted if "+" in wanted else installed.split("+")[0] == wanted
