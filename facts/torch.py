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
        return (
            f"test -x {venv}/bin/python && {venv}/bin/python -c "
            "'import torch; print(torch.__version__); print(torch.version.cuda); "
            "import numpy; print(numpy.__version__)' 2>/dev/null || true"
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
