"""The rig: systemd containers that stand in for node0, node1, ..., on a subnet of their own: three,
or RIG_NODES of them (the deploy benchmark's six-node rig; the end-to-end tests use three).

One place for the rig's settings (suite, subnet, admin user, key, password) and its life cycle,
used by tests/rig/inventory.py, the tests' fixtures and `make demo`:

    python tests/rig/rig.py up | down
"""

from __future__ import annotations

import json
import os
import runpy
import secrets
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
SETTING_TYPES = (str, int, float, bool, list, dict, tuple, type(None))  # what group_data holds


@dataclass
class Deploy:
    """One pyinfra run: exit code, its JSON results and everything it printed."""

    returncode: int
    results: dict | None
    output: str
    seconds: float

    def changed(self) -> dict[str, list[str]]:
        """Operation name -> hosts where it changed something."""
        ops = self.results["results"]["operations"]
        return {op["name"]: op["success"] for op in ops if op["success"]}


@dataclass(frozen=True)
class Rig:
    suite: str = os.environ.get("RIG_SUITE", "bookworm")  # bookworm: Debian 12, trixie: Debian 13
    subnet_prefix: str = os.environ.get("RIG_SUBNET_PREFIX", "10.77.0")  # not the real 192.168.1.0/24
    project: str = "gpucluster-rig"
    admin_user: str = "labadmin"
    state_dir: Path = HERE / ".state"
    size: int = int(os.environ.get("RIG_NODES", "3"))
    services: tuple[str, ...] = field(init=False)  # rig-a, rig-b, ...
    nodes: dict[str, str] = field(init=False)  # node0 -> its address, ...

    def __post_init__(self):
        if not 2 <= self.size <= 26:
            raise SystemExit(f"RIG_NODES={self.size}: the rig has 2 to 26 nodes; fix: RIG_NODES=3")
        object.__setattr__(self, "services", tuple(f"rig-{chr(97 + i)}" for i in range(self.size)))
        ips = {f"node{i}": f"{self.subnet_prefix}.{10 + i}" for i in range(self.size)}
        object.__setattr__(self, "nodes", ips)

    @property
    def compose_file(self) -> Path:
        """The compose file for this many nodes, rendered from docker-compose.yml.j2."""
        from jinja2 import Template

        path = self.state_dir / f"docker-compose-{self.size}.yml"
        source = (HERE / "docker-compose.yml.j2").read_text()
        services = [(service, 10 + i) for i, service in enumerate(self.services)]
        text = Template(source, trim_blocks=True, lstrip_blocks=True).render(services=services)
        self.state_dir.mkdir(mode=0o700, exist_ok=True)
        if not path.exists() or path.read_text() != text:
            path.write_text(text)
        return path

    @property
    def subnet(self) -> str:
        return f"{self.subnet_prefix}.0/24"

    @property
    def key(self) -> Path:
        """The deploying machine's key pair for the rig (made here, never committed)."""
        return self.state_dir / "id_ed25519"

    @property
    def torch(self) -> str | None:
        """The torch release the rig installs, named as the real group_data names it (no local
        suffix: the installed CPU build reports 2.13.0+cpu, as the cu128 build reports 2.9.1+cu128).
        A wheel exists here only for Python 3.11 (Debian 12); the Debian 13 rig (Python 3.13) runs
        without PyTorch."""
        return "2.13.0" if self.suite == "bookworm" else None

    @property
    def jupyterlab(self) -> str:
        """The project's default JupyterLab release (the rig's group_data keeps it)."""
        from model.spec import TorchPart

        return TorchPart.model_fields["jupyterlab_version"].default

    @property
    def wheelhouse(self) -> Path:
        return self.state_dir / "wheelhouse"

    def user_public_key(self, name: str) -> str:
        """A research user's public key (the pair is made here on first use, never committed)."""
        key = self.state_dir / f"{name}_ed25519"
        if not key.exists():
            self.state_dir.mkdir(mode=0o700, exist_ok=True)
            subprocess.run(
                ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", str(key)], check=True
            )
        return key.with_suffix(".pub").read_text().strip()

    @property
    def known_hosts(self) -> Path:
        return self.state_dir / "known_hosts"

    def container(self, node: str) -> str:
        return f"{self.project}_{self.services[list(self.nodes).index(node)]}_1"

    def password(self) -> str:
        """The admin user's password on every rig node: random, kept in a 0600 file outside git."""
        path = self.state_dir / "password"
        if not path.exists():
            self.state_dir.mkdir(mode=0o700, exist_ok=True)
            path.touch(mode=0o600)
            path.write_text(secrets.token_urlsafe(18))
        return path.read_text().strip()

    def prepare(self) -> None:
        """Make the key pair and the node image, and export what the compose file reads."""
        self.state_dir.mkdir(mode=0o700, exist_ok=True)
        if not self.key.exists():
            subprocess.run(
                ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "rig-deployer", "-f", str(self.key)],
                check=True,
            )
        lab = self.jupyterlab
        if self.torch and not any(self.wheelhouse.glob(f"jupyterlab-{lab}-*.whl")):
            download = [sys.executable, "-m", "pip", "download", "-q", "-d", str(self.wheelhouse)]
            # resolved for the nodes' Python, Debian 12's 3.11.2 (some releases need a later 3.11.x)
            download += ["--only-binary=:all:", "--python-version", "3.11.2"]
            # the CPU build of torch, and the JupyterLab the project installs beside it
            subprocess.run([*download, f"torch=={self.torch}+cpu", "numpy", f"jupyterlab=={lab}"], check=True)
        image = subprocess.run(
            ["bash", str(HERE / "build-image.sh"), self.suite], check=True, capture_output=True, text=True
        ).stdout.split()[-1]
        os.environ.update(RIG_IMAGE=image, RIG_SUBNET_PREFIX=self.subnet_prefix)

    def compose(self, *args: str) -> None:
        cmd = ["docker-compose", "-p", self.project, "-f", str(self.compose_file), *args]
        # `down` needs no image, but the compose file must still parse
        env = {"RIG_IMAGE": "gpucluster-node", **os.environ, "RIG_SUBNET_PREFIX": self.subnet_prefix}
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
        if proc.returncode:
            raise RuntimeError(f"{' '.join(cmd)} failed:\n{proc.stderr}")

    def after_start(self, timeout: float = 90) -> None:
        """Wait for sshd on every node, then give the admin user its password (as an installer does)."""
        deadline = time.time() + timeout
        for node, ip in self.nodes.items():
            while not _ssh_banner(ip):
                if time.time() > deadline:
                    raise TimeoutError(f"rig node {node} ({ip}) did not start sshd")
                time.sleep(1)
            self.run(node, "chpasswd", stdin=f"{self.admin_user}:{self.password()}\n")

    def up(self) -> None:
        self.prepare()
        self.compose("down", "-v", "--remove-orphans")  # a rig of another size goes too
        self.known_hosts.unlink(missing_ok=True)
        self.compose("up", "-d")
        self.after_start()

    def down(self) -> None:
        self.compose("down", "-v", "--remove-orphans")

    def deploy(
        self,
        *args: str,
        inventory: str | None = None,
        first_login: bool = False,
        deploy_file: str = "deploy.py",
        progress: Callable[[str, float], None] | None = None,
    ) -> Deploy:
        """Run deploy.py (or another deploy file) with pyinfra over SSH (first_login: with the password).

        pyinfra prints its JSON results on stdout and its progress on stderr; `progress` is given
        each progress line as it comes, with the seconds since the start."""
        env = {**os.environ, "RIG_FIRST_LOGIN": "1" if first_login else "0", "RIG_NODES": str(self.size)}
        inventory = inventory or str(HERE / "inventory.py")
        cmd = [sys.executable, "-m", "pyinfra", "-y", "--json", inventory, deploy_file, *args]
        start = time.monotonic()
        with tempfile.TemporaryFile("w+") as stdout:
            proc = subprocess.Popen(
                cmd,
                cwd=ROOT,
                env=env,
                stdout=stdout,
                stderr=subprocess.PIPE,
                text=True,
                stdin=subprocess.DEVNULL,
            )
            stderr = []
            for line in proc.stderr:
                stderr.append(line)
                if progress:
                    progress(line.rstrip("\n"), time.monotonic() - start)
            proc.wait()
            stdout.seek(0)
            output = stdout.read()
        seconds = time.monotonic() - start
        try:
            results = json.loads(output)
        except json.JSONDecodeError:
            results = None
        return Deploy(proc.returncode, results, output + "".join(stderr), seconds)

    def spec(self):
        """The spec the deploy builds for the rig: the project's group_data with the rig's over it
        (built here, not through pyinfra's CLI, whose import would monkey-patch this process with gevent)."""
        from model.spec import ClusterSpec

        data = {}
        for path in (ROOT / "group_data" / "all.py", HERE / "group_data" / "all.py"):
            found = runpy.run_path(str(path))
            data |= {k: v for k, v in found.items() if k[0] != "_" and isinstance(v, SETTING_TYPES)}
        data |= {"ssh_user": self.admin_user}
        hosts = [
            (name, ["compute"] + (["controller"] if name == "node0" else []), {**data, "cluster_ip": ip})
            for name, ip in self.nodes.items()
        ]
        return ClusterSpec.from_hosts(hosts)

    def run(self, node: str, command: str, stdin: str | None = None, check: bool = True):
        """Run a shell command as root on a node, through Docker (not through the deploy's SSH)."""
        return subprocess.run(
            ["docker", "exec", "-i", self.container(node), "sh", "-c", command],
            input=stdin,
            capture_output=True,
            text=True,
            check=check,
        )


def _ssh_banner(ip: str) -> bool:
    try:
        with socket.create_connection((ip, 22), timeout=2) as conn:
            return conn.recv(8).startswith(b"SSH-")
    except OSError:
        return False


RIG = Rig()

if __name__ == "__main__":
    {"up": RIG.up, "down": RIG.down}[sys.argv[1]]()
