"""The optional desktop on the controller (node0), the guide's last step: GNOME (minimal) or Cinnamon.

Never on the other nodes. node0's only GPU also runs jobs, and a display manager holds a GPU
context and memory from boot, so it neither starts nor is enabled unless group_data asks
(``desktop["display_manager"] = True``): node0 boots to the console (multi-user.target)
and the desktop is started by hand when wanted (``sudo systemctl start gdm`` or ``lightdm``).
"""

from __future__ import annotations

from pyinfra import host
from pyinfra.api import deploy
from pyinfra.api.exceptions import OperationError
from pyinfra.facts.server import Command, OsRelease
from pyinfra.operations import server, systemd

from model.spec import current
from operations import apt

# (desktop, OS) -> the packages that install it, and its display manager's systemd unit.
DESKTOPS = {
    ("gnome-minimal", "ubuntu"): (["ubuntu-desktop-minimal"], "gdm"),
    ("gnome-minimal", "debian"): (["gnome-core"], "gdm"),
    ("cinnamon", "ubuntu"): (["cinnamon-desktop-environment", "lightdm"], "lightdm"),
    ("cinnamon", "debian"): (["cinnamon-desktop-environment", "lightdm"], "lightdm"),
}


@deploy("Desktop")
def configure():
    spec = current()
    settings = spec.desktop
    if settings.kind == "none" or not spec.node(host.name).is_controller:
        return
    os_id = host.get_fact(OsRelease).get("id")
    if (settings.kind, os_id) not in DESKTOPS:
        raise OperationError(f"{host.name}: no {settings.kind} desktop for {os_id}; use Ubuntu or Debian")
    packages, manager = DESKTOPS[(settings.kind, os_id)]

    apt.packages(
        name=f"Install the {settings.kind} desktop ({', '.join(packages)})",
        packages=packages,
    )
    wanted = settings.display_manager
    target = "graphical.target" if wanted else "multi-user.target"
    if host.get_fact(Command, command="systemctl get-default") != target:
        server.shell(name=f"Boot to {target}", commands=[f"systemctl set-default {target}"])
    systemd.service(
        name=f"Run the display manager ({manager})"
        if wanted
        else f"Keep the display manager off the GPU ({manager} stopped and disabled)",
        service=manager,
        running=wanted,
        enabled=wanted,
    )
