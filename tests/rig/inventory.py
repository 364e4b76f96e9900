"""pyinfra inventory for the running rig: `pyinfra tests/rig/inventory.py deploy.py`.

The rig's settings (addresses, admin user, key and password) come from tests/rig/rig.py, which
`make demo` and the tests use to bring the rig up; tests/rig/group_data/ holds the rig-only tunables.
"""

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from rig import RIG  # noqa: E402

_password = RIG.password()
RIG.known_hosts.touch()
_data = {
    "ssh_user": RIG.admin_user,
    "ssh_key": str(RIG.key),
    "ssh_known_hosts_file": str(RIG.known_hosts),  # new host keys with every new rig
    "_sudo_password": _password,
}
# The first deploy logs in with the password (RIG_FIRST_LOGIN=1); every later one with the key.
if os.environ.get("RIG_FIRST_LOGIN") == "1":
    _data["ssh_password"] = _password

_nodes = [(name, {**_data, "cluster_ip": ip, "ssh_hostname": ip}) for name, ip in RIG.nodes.items()]

controller = [_nodes[0]]
compute = list(_nodes)
