"""The convergent deploy: `pyinfra inventory.py deploy.py`.

The cluster spec is built and validated first: bad input stops the run before any operation is
planned, so nothing on any host changes. Each step names the steps it needs before it, and why;
a step called before one it needs stops the run while it is planned (operations.plan.Steps).
"""

from pyinfra import host

from model.spec import current
from operations.plan import Steps
from steps import (
    accounting,
    accounts,
    apt,
    backup,
    desktop,
    fake_gpu,
    firewall,
    health,
    hosts,
    jobs,
    metrics,
    munge,
    nfs,
    nvidia,
    pytorch,
    restapi,
    sharing,
    slurm,
    ssh,
    timesync,
    webview,
)

spec = current()
node = spec.node(host.name)
steps = Steps()

steps.run(apt)  # every later apt step waits for the dpkg lock (a fresh install's unattended-upgrades)
steps.run(hosts, apt)
steps.run(accounts, apt)  # fixed IDs, before munge's and slurm's packages would pick their own
steps.run(timesync, apt)
steps.run(ssh)  # password login goes only once key login is proven
steps.run(firewall, apt)  # on or off as group_data says; never from an address it would shut out
# the driver and CUDA; reboots a node only when its driver changed
steps.run(nvidia, apt, when=spec.nvidia.enabled)
munge_key = steps.run(munge, accounts, timesync)  # a credential outlives only a small clock skew
# the shared directory, exported by the controller, mounted everywhere
steps.run(nfs, hosts, when=spec.shared.enabled)
steps.run(fake_gpu, when=spec.fake_gpu_devices and node.is_compute)  # rig only: no GPU here
steps.run(jobs)  # the TaskProlog slurm.conf names
steps.run(health, jobs)  # the HealthCheckProgram slurm.conf names; it reads job.env's wired link
# the JWT key before slurmctld or slurmdbd start: they stop without it
steps.run(restapi, accounts, when=spec.rest_api.enabled)
# slurmdbd must answer before slurmctld's first start with accounting
steps.run(accounting, restapi, when=spec.accounting)
# gres.conf from the GPUs the driver shows (or the stand-ins); slurmd restarts for a new munge key
steps.run(slurm, accounts, munge, nvidia, fake_gpu, jobs, health, restapi, accounting, munge_key=munge_key)
# who may run jobs, and under which QoS: sacctmgr finds slurmdbd through slurm.conf
steps.run(sharing, accounting, slurm, when=spec.sharing.enabled)
steps.run(backup, accounting, slurm)  # the controller's database, state and keys, on a timer
steps.run(webview, restapi, slurm, when=spec.webview.enabled)  # its token comes from slurmctld
steps.run(metrics, apt, jobs)  # Prometheus scrapes the web view's Slurm figures; jobs found the wired link
steps.run(pytorch, apt, when=spec.pytorch)
steps.run(desktop, nvidia, when=node.is_controller)  # the optional desktop, node0 only
