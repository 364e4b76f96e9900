"""Rig only: stand-in GPU device nodes for machines without a GPU (`fake_gpu_devices = True`).

slurmd refuses a gres.conf whose File= does not exist; these character devices (NVIDIA's major
number, no driver behind them) let it load, and let the cgroup fence be observed: a job given
the GPU opens it and gets ENXIO (no driver), a job without it gets EPERM. Never used on real nodes.
"""

from io import StringIO

from pyinfra.api import deploy
from pyinfra.operations import server

from model.spec import current
from operations import files
from operations.render import render

CONF = "/etc/tmpfiles.d/gpucluster-fake-gpu.conf"


@deploy("Stand-in GPU device nodes (rig only)")
def configure():
    conf = files.put(
        name=f"Declare the device nodes in {CONF}",
        src=StringIO(render("gpucluster-fake-gpu.conf.j2", spec=current())),
        dest=CONF,
        mode="644",
    )
    server.shell(
        name="Create the device nodes", commands=[f"systemd-tmpfiles --create {CONF}"], _if=conf.did_change
    )
