"""PyTorch in one virtual environment, at the same path and the same release on every node.

From the configured wheel index, or offline from a wheelhouse collected once on the deploying
machine and copied to every node (one download instead of one per node).
"""

import shlex

from pyinfra import host
from pyinfra.api import deploy
from pyinfra.operations import server

from facts.torch import TorchVersion, same_release
from model.spec import current
from operations import apt, pip
from operations.sync import sync

WHEELHOUSE = "/opt/gpucluster/wheelhouse"


@deploy("PyTorch")
def configure():
    spec = current()
    apt.packages(name="Install python3-venv", packages=["python3-venv"])
    pip.virtualenv(
        name=f"Create the virtual environment {spec.torch_venv}",
        path=spec.torch_venv,
        python="python3",
        venv=True,
    )
    if spec.torch_wheelhouse:
        sync(f"Copy the wheelhouse to {WHEELHOUSE}", spec.torch_wheelhouse, WHEELHOUSE)
        source = index = f"--no-index --find-links {WHEELHOUSE}"
    else:
        source, index = f"--index-url {spec.torch_index_url}", f"--index-url {spec.python_index_url}"
    # Read with our own fact: pyinfra's pip facts miss local versions such as 2.9.1+cu128.
    installed = host.get_fact(TorchVersion, venv=spec.torch_venv)
    if not installed or not installed["numpy"] or not same_release(installed["torch"], spec.torch_version):
        venv, wanted = spec.torch_venv, spec.torch_version
        check = (
            f"import torch, sys; v = torch.__version__; w = {wanted!r}; "
            "sys.exit(not (v == w if '+' in w else v.split('+')[0] == w))"
        )
        server.shell(
            name=f"Install torch {wanted} and numpy",
            commands=[
                f"{venv}/bin/pip install --quiet {source} torch=={wanted} numpy",
                # pip trusts its metadata; reinstall if the importable torch is still another one
                f"{venv}/bin/python -c {shlex.quote(check)} 2>/dev/null || "
                f"{venv}/bin/pip install --quiet --force-reinstall --no-deps {source} torch=={wanted}",
            ],
        )
    if spec.jupyterlab_version:
        pip.packages(
            name=f"Install JupyterLab {spec.jupyterlab_version}",
            packages=[f"jupyterlab=={spec.jupyterlab_version}"],
            pip=f"{spec.torch_venv}/bin/pip",
            extra_install_args=f"--quiet {index}",
        )
