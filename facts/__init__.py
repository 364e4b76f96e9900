"""Facts: the real state of a node read back, one module per thing read (files, the system, munge,
Slurm, NVIDIA, PyTorch). Each is a typed FactBase whose docstring shows the data it returns, tested
from recorded outputs (tests/unit/data/facts/<Fact>/<case>.json), and an audit of its own:
``pyinfra inventory.py fact facts.slurm.SlurmNodes``."""
