"""The convergent deploy: `pyinfra inventory.py deploy.py`.

The cluster spec is built and validated first: bad input stops the run before any operation is
planned, so nothing on any host changes.
"""

from pyinfra import host

from ops import (
    accounting,
    accounts,
    apt,
    desktop,
    fake_gpu,
    firewall,
    hosts,
    jobs,
    munge,
    nfs,
    nvidia,
    pytorch,
    restapi,
    slurm,
    ssh,
    timesync,
    webview,
)
from ops.spec import current

spec = current()

apt.configure()  # every apt step waits for the dpkg lock (a fresh install's unattended-upgrades)
hosts.configure()
accounts.configure()  # fixed IDs before any package creates munge or slurm
timesync.configure()
ssh.configure()
firewall.configure()  # on or off as group_data says; never from an address it would shut out
if spec.nvidia.enabled:
    nvidia.configure()  # driver and CUDA; reboots a node only when its driver changed
munge_key = munge.configure()
if spec.shared.enabled:
    nfs.configure()  # the shared directory, exported by the controller, mounted everywhere
if spec.fake_gpu_devices and spec.node(host.name).is_compute:
    fake_gpu.configure()  # rig only: no GPU on the build machine
jobs.configure()
if spec.rest_api.enabled:
    restapi.configure()  # the JWT key before slurmctld or slurmdbd start: they stop without it
if spec.accounting:
    accounting.configure()  # slurmdbd must answer before slurmctld's first start with accounting
slurm.configure(munge_key)
if spec.webview.enabled:
    webview.configure()
if spec.pytorch:
    pytorch.configure()
if spec.node(host.name).is_controller:
    desktop.configure()  # the optional desktop, node0 only
