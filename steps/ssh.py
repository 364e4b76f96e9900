"""SSH between the nodes and from the deploying machine, and sshd hardening that cannot lock you out.

- The deploying machine's public key is authorized for the admin user on every node.
- The controller gets an ed25519 key pair for the admin user (generated there, never copied off);
  its public key is authorized on every node, and every node's host key is listed in
  /etc/ssh/ssh_known_hosts, so node0 reaches every node by name with no prompt at all.
- Password login is switched off on a node only after a fresh key-only login to that node has
  succeeded in this run; otherwise the run stops there and password login stays on.
"""

from __future__ import annotations

import hashlib
from io import StringIO

import paramiko
from pyinfra import host
from pyinfra.api import deploy
from pyinfra.api.exceptions import OperationError
from pyinfra.facts.files import File, Sha1File
from pyinfra.facts.server import Home
from pyinfra.operations import files, python, server

from facts.files import PublicKeyFile, SshHostKey
from model.spec import ClusterSpec, Node, current
from operations.plan import node_fact, skip_for_unreachable, when_known
from operations.render import render

# Sorts before Ubuntu's 50-cloud-init.conf: for sshd the first value read wins.
HARDENING = "/etc/ssh/sshd_config.d/10-gpucluster.conf"


@deploy("SSH keys and sshd hardening")
def configure():
    spec = current()
    node = spec.node(host.name)
    admin = spec.admin_user

    server.user_authorized_keys(
        name="Authorize the deploying machine's key",
        user=admin,
        public_keys=[spec.deployer_public_key],
        delete_keys=False,
    )
    if not skip_for_unreachable("The controller's admin key", [spec.controller.name]):
        _controller_key(spec, node)
    if not skip_for_unreachable("/etc/ssh/ssh_known_hosts", [n.name for n in spec.nodes]):
        files.put(
            name="List every node's host key in /etc/ssh/ssh_known_hosts",
            src=StringIO(render("ssh_known_hosts.j2", nodes=_host_keys(spec))),
            dest="/etc/ssh/ssh_known_hosts",
            mode="644",
            user="root",
            group="root",
        )
    _harden_sshd(spec, node)


def _controller_key(spec: ClusterSpec, node: Node) -> None:
    """Generate the admin key pair on the controller and authorize its public key everywhere."""
    admin = spec.admin_user
    controller = spec.controller.name
    key = f"{node_fact(controller, Home, user=admin)}/.ssh/id_ed25519"
    if node.is_controller and not host.get_fact(File, path=key):
        server.shell(
            name="Generate the admin key pair on the controller",
            commands=[f"ssh-keygen -q -t ed25519 -N '' -C {admin}@{node.name} -f {key}"],
            _sudo=False,
        )
    when_known(
        "Authorize the controller's admin key",
        lambda: node_fact(controller, PublicKeyFile, path=f"{key}.pub"),
        lambda public_key: server.user_authorized_keys(
            name="Authorize the controller's admin key",
            user=admin,
            public_keys=[public_key],
            delete_keys=False,
        ),
    )


def _host_keys(spec: ClusterSpec) -> list[tuple[Node, str]]:
    """Each node with its ed25519 host key, read from the node itself."""
    keys = []
    for node in spec.nodes:
        key = node_fact(node.name, SshHostKey)
        if not key:
            raise OperationError(f"{node.name} has no /etc/ssh/ssh_host_ed25519_key.pub; run ssh-keygen -A")
        keys.append((node, key))
    return keys


def _harden_sshd(spec: ClusterSpec, node: Node) -> None:
    config = render("10-gpucluster.conf.j2", spec=spec)
    current_sha1 = host.get_fact(Sha1File, path=HARDENING)
    if current_sha1 != hashlib.sha1(config.encode()).hexdigest() and not spec.password_login:
        python.call(
            name="Prove key login before switching password login off",
            function=_prove_key_login,
            node=node,
            user=spec.admin_user,
            key=str(spec.deployer_key),
        )
    dropin = files.put(
        name=f"Harden sshd ({HARDENING})",
        src=StringIO(config),
        dest=HARDENING,
        mode="644",
        user="root",
        group="root",
    )
    server.shell(
        name="Check the sshd configuration (a bad drop-in is set aside, never loaded)",
        commands=[f"sshd -t || {{ mv {HARDENING} {HARDENING}.rejected; exit 1; }}"],
        _if=dropin.did_change,
    )
    server.shell(
        name="Reload sshd",
        commands=["systemctl try-reload-or-restart ssh.service"],
        _if=dropin.did_change,
    )


def _prove_key_login(node: Node, user: str, key: str) -> None:
    """Open a fresh, key-only SSH session to the node; raise if the key is not accepted."""
    client = paramiko.SSHClient()
    # pyinfra's own connection has already checked this host; this session only proves the key.
    client.set_missing_host_key_policy(paramiko.AutoAddPolicy())
    try:
        client.connect(
            node.ssh_address,
            port=node.ssh_port,
            username=user,
            key_filename=key,
            look_for_keys=False,
            allow_agent=False,
            timeout=20,
            auth_timeout=20,
        )
        client.exec_command("true", timeout=20)[1].channel.recv_exit_status()
    except (paramiko.SSHException, OSError) as exc:
        raise OperationError(
            f"{node.name}: key login as {user} with {key} failed ({exc}). Password login stays on. "
            f"Fix: make sure that key is the one this deploy authorizes (deployer_ssh_key), "
            f"then run the deploy again."
        ) from exc
    finally:
        client.close()
