"""SSH between the nodes and from the deploying machine, and sshd hardening that cannot lock you out.

- The deploying machine's public key is authorized for the admin user on every node.
- The controller gets an ed25519 key pair for the admin user (generated there, never copied off);
  its public key is authorized on every node, and every node's host key is listed in
  /etc/ssh/ssh_known_hosts, so node0 reaches every node by name with no prompt at all.
- sshd's drop-in (password login off, cryptography to ssh-audit's baseline, sshd_options) is loaded
  only after a key-only login to a trial sshd running with it has succeeded in this run, with
  paramiko and with this machine's OpenSSH client; otherwise the run stops there, sshd keeps the
  settings it runs with and password login stays on.
"""

from __future__ import annotations

import logging
import shlex
import shutil
import socket
import subprocess
import tempfile
import threading
from contextlib import contextmanager
from io import StringIO

import paramiko
from pyinfra import host, logger
from pyinfra.api import deploy
from pyinfra.api.exceptions import OperationError
from pyinfra.facts.files import File
from pyinfra.operations import python

from facts.files import PublicKeyFile, SshHostKey
from facts.system import Accounts
from model.config_keys import ConfigKeys
from model.spec import ClusterSpec, Node, current
from operations import files, server
from operations.plan import node_fact, skip_for_unreachable, when_known, will_change
from operations.render import render

# Sorts before Ubuntu's 50-cloud-init.conf: for sshd the first value read wins.
HARDENING = "/etc/ssh/sshd_config.d/10-gpucluster.conf"
# Where new sshd settings are tried before sshd loads them.
TRIAL_UNIT = "gpucluster-sshd-trial"
TRIAL_PORT = 40022
_TRIAL_LOG = "gpucluster.sshd_trial"
logging.getLogger(_TRIAL_LOG).setLevel(logging.CRITICAL)


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
    home = node_fact(controller, Accounts)["users"].get(admin, {}).get("home", f"/home/{admin}")
    key = f"{home}/.ssh/id_ed25519"
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


def sshd_dropin(spec: ClusterSpec) -> str:
    """The hardening drop-in: the project's defaults with sshd_options merged in place."""
    return render("10-gpucluster.conf.j2", spec=spec, conf=ConfigKeys(spec.sshd_options, "sshd_options", " "))


def trial_command(dropin: str) -> str:
    """Shell that checks sshd with the new drop-in's lines put first (for sshd the first value wins)
    and starts it for at most two minutes on 127.0.0.1:TRIAL_PORT, the rest of its configuration the
    node's own; it returns once that sshd listens."""
    options = " ".join(
        f"-o {shlex.quote(line)}" for line in dropin.splitlines() if line.strip() and not line.startswith("#")
    )
    sshd = f"/usr/sbin/sshd {options} -o ListenAddress=127.0.0.1:{TRIAL_PORT} -o PidFile=none"
    return (
        f"systemctl stop {TRIAL_UNIT} 2>/dev/null; systemctl reset-failed {TRIAL_UNIT} 2>/dev/null; "
        f"{sshd} -t && "
        f"systemd-run --quiet --collect --unit={TRIAL_UNIT} -p RuntimeMaxSec=120 {sshd} -D -e && "
        f"for i in $(seq 50); do ss -Hltn 'sport = :{TRIAL_PORT}' | grep -q . && exit 0; sleep 0.2; done; "
        f"journalctl -q -u {TRIAL_UNIT} | tail -5; exit 1"
    )


def _harden_sshd(spec: ClusterSpec, node: Node) -> None:
    dropin = sshd_dropin(spec)
    if will_change(HARDENING, dropin):
        server.shell(
            name=f"Start a trial sshd with the new settings on 127.0.0.1:{TRIAL_PORT}",
            commands=[trial_command(dropin)],
        )
        python.call(
            name="Prove key login to the trial sshd before sshd loads its settings",
            function=_prove_key_login,
            node=node,
            user=spec.admin_user,
            key=str(spec.deployer_key),
            password_login=spec.password_login,
        )
        server.shell(name="Stop the trial sshd", commands=[f"systemctl stop {TRIAL_UNIT}"])
    put = files.put(
        name=f"Harden sshd ({HARDENING})",
        src=StringIO(dropin),
        dest=HARDENING,
        mode="644",
        user="root",
        group="root",
    )
    server.shell(
        name="Check the sshd configuration (a bad drop-in is set aside, never loaded)",
        commands=[f"sshd -t || {{ mv {HARDENING} {HARDENING}.rejected; exit 1; }}"],
        _if=put.did_change,
    )
    server.shell(
        name="Reload sshd",
        commands=["systemctl try-reload-or-restart ssh.service"],
        _if=put.did_change,
    )


def _prove_key_login(state, host, node: Node, user: str, key: str, password_login: bool) -> bool:
    """Log in with the key alone to the trial sshd, through this deploy's own connection to the node:
    with paramiko (pyinfra's SSH client) and with this machine's OpenSSH client. The trial must show
    the host key this connection already trusts. False (the node stops here, with the reason and the
    fix; no traceback) if either fails. pyinfra passes state and host and takes the return value."""
    client = getattr(host.connector, "client", None)
    if client is None:
        host.log_styled(f"{node.name}: sshd's settings are proven over SSH; use the @ssh connector", fg="red")
        return False
    transport = client.get_transport()
    host_key = transport.get_remote_server_key()
    try:
        with _forward(transport) as port:
            _paramiko_login(port, host_key, user, key)
            if shutil.which("ssh"):
                _openssh_login(port, host_key, user, key)
    except (paramiko.SSHException, OSError, subprocess.SubprocessError) as exc:
        stays = "Password login stays on; sshd" if not password_login else "sshd"
        host.log_styled(
            f"{node.name}: key login as {user} with {key} to sshd with the new settings failed ({exc}). "
            f"{stays} keeps its current settings. Fix: make sure that key is the one this deploy authorizes "
            "(deployer_ssh_key) and that sshd_options leave a key exchange, cipher and MAC your clients "
            "share, then run the deploy again.",
            fg="red",
            log_func=logger.error,
        )
        return False
    return True


@contextmanager
def _forward(transport: paramiko.Transport):
    """A port on this machine's loopback forwarded to the trial sshd, for the life of the block."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(30)

    def serve():
        try:
            while True:
                local, _ = listener.accept()
                remote = transport.open_channel("direct-tcpip", ("127.0.0.1", TRIAL_PORT), ("127.0.0.1", 0))
                threading.Thread(target=_pipe, args=(local, remote), daemon=True).start()
                threading.Thread(target=_pipe, args=(remote, local), daemon=True).start()
        except OSError:
            return

    threading.Thread(target=serve, daemon=True).start()
    try:
        yield listener.getsockname()[1]
    finally:
        listener.close()


def _pipe(source, sink) -> None:
    try:
        while data := source.recv(65536):
            sink.sendall(data)
    except OSError:
        pass
    finally:
        sink.close()


def _paramiko_login(port: int, host_key: paramiko.PKey, user: str, key: str) -> None:
    client = paramiko.SSHClient()
    client.set_log_channel(_TRIAL_LOG)  # the error comes back as an exception, not a logged traceback
    client.get_host_keys().add(f"[127.0.0.1]:{port}", host_key.get_name(), host_key)
    client.set_missing_host_key_policy(paramiko.RejectPolicy())
    try:
        client.connect(
            "127.0.0.1",
            port=port,
            username=user,
            key_filename=key,
            look_for_keys=False,
            allow_agent=False,
            timeout=20,
            auth_timeout=20,
        )
        client.exec_command("true", timeout=20)[1].channel.recv_exit_status()
    finally:
        client.close()


def _openssh_login(port: int, host_key: paramiko.PKey, user: str, key: str) -> None:
    with tempfile.NamedTemporaryFile("w", suffix=".known_hosts") as known:
        known.write(f"[127.0.0.1]:{port} {host_key.get_name()} {host_key.get_base64()}\n")
        known.flush()
        result = subprocess.run(
            [
                "ssh",
                "-F",
                "/dev/null",
                "-p",
                str(port),
                "-i",
                key,
                "-o",
                "IdentitiesOnly=yes",
                "-o",
                "BatchMode=yes",
                "-o",
                "StrictHostKeyChecking=yes",
                "-o",
                f"UserKnownHostsFile={known.name}",
                "-o",
                "ConnectTimeout=20",
                f"{user}@127.0.0.1",
                "true",
            ],
            capture_output=True,
            text=True,
            timeout=60,
            stdin=subprocess.DEVNULL,
        )
    if result.returncode != 0:
        raise subprocess.SubprocessError(f"this machine's OpenSSH client: {result.stderr.strip()}")
