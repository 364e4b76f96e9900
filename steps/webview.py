"""The web view on the controller: nodes, queue, running and recent jobs, refreshing by itself.

webview/app.py (with jobstats.py, also the `gpucluster-jobstats` command) is a small
standard-library server (no pip on the node) run by systemd as its own user. It reads slurmrestd
with a short-lived token from `scontrol token` that it renews itself, and sends the browser
rendered HTML and JSON only, never the token. It listens on the controller's cluster address and
answers clients in cluster_network (and webview.allow) only.
Built rather than Slurm-web: its current releases need Slurm 24.05 or newer (Ubuntu 24.04 ships
23.11, Debian 12 22.05), and it brings an agent, a gateway that logs users in against LDAP, and
packages from its vendor's repository; a read-only page for a three-node lab needs none of that.
"""

from io import StringIO
from pathlib import Path

from pyinfra import host
from pyinfra.api import deploy

from model.spec import current
from operations import files
from operations.accounts import system_user
from operations.plan import own_service
from operations.render import render

SOURCE = Path(__file__).resolve().parent.parent / "webview"
APP = "/usr/local/lib/gpucluster/webview.py"
JOBSTATS = "/usr/local/lib/gpucluster/jobstats.py"  # imported by the web view, run by the command
COMMAND = "/usr/local/bin/gpucluster-jobstats"
CHARTS = "/usr/local/lib/gpucluster/charts.py"  # the page's pictures, from Prometheus
USER = "gpucluster-web"
UNIT = "gpucluster-webview.service"
TOKEN_LIFESPAN_S = 600  # renewed after two thirds


@deploy("Web view")
def configure():
    spec = current()
    if not spec.node(host.name).is_controller:
        return
    system_user(USER)
    files.directory(name=f"{Path(APP).parent}", path=str(Path(APP).parent), mode="755")
    app = [
        files.put(name=f"Install {APP}", src=str(SOURCE / "app.py"), dest=APP, mode="644"),
        files.put(name=f"Install {JOBSTATS}", src=str(SOURCE / "jobstats.py"), dest=JOBSTATS, mode="644"),
        files.put(name=f"Install {CHARTS}", src=str(SOURCE / "charts.py"), dest=CHARTS, mode="644"),
    ]
    if spec.metrics.enabled:
        files.put(
            name=f"Install {COMMAND}",
            src=StringIO(render("gpucluster-jobstats.j2", spec=spec, jobstats=JOBSTATS)),
            dest=COMMAND,
            mode="755",
        )
    else:
        files.file(name=f"Remove {COMMAND}", path=COMMAND, present=False)
    allow = [str(spec.network), *(str(net) for net in spec.webview.allow)]
    unit = render(f"{UNIT}.j2", spec=spec, user=USER, app=APP, allow=allow, token_lifespan_s=TOKEN_LIFESPAN_S)
    own_service("the web view", UNIT, unit, app)
