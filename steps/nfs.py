"""The shared directory: the controller exports it over NFS, every node mounts it at one path.

Code, datasets, checkpoints and job output live there, so a job sees the same files on every
node. The mount is an automount with nofail: a compute node boots whether or not the controller is
up, and mounts the directory on first use; hard: I/O to it waits for the controller instead of
failing halfway through a checkpoint. The export reaches the cluster subnet only.
"""

from __future__ import annotations

from io import StringIO

from pyinfra import host
from pyinfra.api import deploy
from pyinfra.facts.files import Directory
from pyinfra.operations import server, systemd

from model.spec import ClusterSpec, current
from operations import apt, files
from operations.plan import daemon_reload, did_change, keep_running
from operations.render import render

EXPORTS = "/etc/exports.d/gpucluster.exports"


def fstab_line(spec: ClusterSpec) -> str:
    """The /etc/fstab entry every node gets for the shared directory."""
    shared = spec.shared
    return f"{spec.controller.name}:{shared.export} {shared.path} nfs {','.join(shared.mount_options)} 0 0"


def unit_name(path: str) -> str:
    """systemd's unit name for a mount point, as `systemd-escape --path` makes it."""
    escaped = "".join(c if c.isalnum() or c in "/_." else f"\\x{ord(c):02x}" for c in path.strip("/"))
    return escaped.replace("/", "-") or "-"


@deploy("Shared directory (NFS)")
def configure():
    spec = current()
    shared = spec.shared
    if spec.node(host.name).is_controller:
        apt.packages(name="Install the NFS server", packages=["nfs-kernel-server"])
        files.directory(
            name=f"Shared directory {shared.export}",
            path=shared.export,
            user="root",
            group=spec.research_group.name,
            mode="2775",  # the research group writes, new files stay in the group
        )
        for user in spec.users:
            files.directory(
                name=f"{user.name}'s shared folder",
                path=f"{shared.export}/{user.name}",
                user=user.name,
                group=user.name,
                mode="755",
            )
        files.directory(name="/etc/exports.d", path="/etc/exports.d", mode="755")
        exports = files.put(
            name=f"Write {EXPORTS}",
            src=StringIO(render("gpucluster.exports.j2", spec=spec, shared=shared)),
            dest=EXPORTS,
            mode="644",
        )
        keep_running("Run the NFS server", "nfs-server")
        server.shell(name="Re-export the shared directory", commands=["exportfs -ra"], _if=exports.did_change)

    apt.packages(name="Install the NFS client", packages=["nfs-common"])
    # Made when absent, otherwise left alone: once mounted it is the export's root (2775,
    # root_squash), where root's chmod is refused over NFS.
    if not host.get_fact(Directory, path=shared.path):
        files.directory(name=f"Mount point {shared.path}", path=shared.path, mode="755")
    fstab = files.line(
        name=f"Mount {shared.path} from {spec.controller.name} (/etc/fstab)",
        path="/etc/fstab",
        line=rf"^[^#[:space:]]+[[:space:]]+{shared.path}[[:space:]]",
        replace=fstab_line(spec),
        extended_regex=True,
    )
    unit = unit_name(shared.path)
    # systemd makes both units from /etc/fstab and holds them stale (NeedDaemonReload) until it reads
    # it again, also where a run stopped before it did: that run's line is picked up by the next one.
    reload = daemon_reload("Read the new /etc/fstab", [f"{unit}.mount", f"{unit}.automount"], fstab)
    systemd.service(
        name=f"Restart the automount of {shared.path}",
        service=f"{unit}.automount",
        restarted=True,
        _if=did_change([fstab, reload]),
    )
    systemd.service(name=f"Automount {shared.path} on first use", service=f"{unit}.automount", running=True)
