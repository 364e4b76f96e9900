"""Phase 1 on the rig: names, /etc/hosts, time, SSH keys and sshd hardening, idempotency.

The tests run in file order: a bad inventory first (against fresh nodes), then the first deploy
(password login), the checks, the no-op second deploy (key login), and the lock-out guard last.
"""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import time
from pathlib import Path

import paramiko
import pytest

NODES = ("node0", "node1", "node2")


def snapshot(rig) -> dict[str, str]:
    """What the deploy would change on each node, read through Docker rather than SSH."""
    probe = (
        "hostname; sha256sum /etc/hosts; ls /etc/ssh/sshd_config.d; "
        "cat /home/labadmin/.ssh/authorized_keys 2>/dev/null | sha256sum; "
        "ls /home/labadmin/.ssh 2>/dev/null; dpkg-query -W -f='${Status}' chrony 2>/dev/null; true"
    )
    return {node: rig.run(node, probe).stdout for node in NODES}


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--data", "cluster_ip=10.77.0.10"], ["cluster_ip 10.77.0.10 is given to node0, node1, node2"]),
        (["--data", "cluster_network=10.78.0.0/24"], ["is not a host address in cluster_network"]),
        (["--data", "deployer_ssh_key=/nonexistent/id_ed25519"], ["deployer_ssh_key", "ssh-keygen"]),
        (["--data", "ssh_password_login=maybe"], ["ssh_password_login", "True or False"]),
    ],
    ids=["duplicate-ip", "wrong-subnet", "missing-key", "bad-switch"],
)
def test_bad_input_stops_before_any_change(rig, outputs, args, expected):
    before = snapshot(rig)
    result = rig.deploy(*args, first_login=True)
    outputs.append(result.output)
    assert result.returncode != 0
    assert "The cluster spec is invalid; nothing was changed on any host" in result.output
    assert "fix:" in result.output
    for text in expected:
        assert text in result.output
    assert snapshot(rig) == before


def test_two_controllers_stop_before_any_change(rig, outputs, tmp_path):
    inventory = tmp_path / "two_controllers.py"
    inventory.write_text(
        f"import sys\nsys.path.insert(0, {str(Path(__file__).resolve().parents[1] / 'rig')!r})\n"
        "from inventory import compute\ncontroller = compute[:2]\n"
    )
    before = snapshot(rig)
    result = rig.deploy("--group-data", "tests/rig/group_data", inventory=str(inventory), first_login=True)
    outputs.append(result.output)
    assert result.returncode != 0
    assert "exactly one node must be in the controller group, found 2 (node0, node1)" in result.output
    assert snapshot(rig) == before


def test_fresh_nodes_look_installed(rig):
    """Guard for the tests below: the rig starts as an installer leaves a machine."""
    for node in NODES:
        assert rig.run(node, "hostname").stdout.strip().startswith("rig-")
        assert "127.0.1.1" in rig.run(node, "cat /etc/hosts").stdout
        assert rig.run(node, "getent hosts node1", check=False).returncode != 0


def test_first_deploy_logs_in_with_password_and_converges(first_deploy):
    assert first_deploy.results["results"]["failed_hosts"] == []
    changed = first_deploy.changed()
    assert sorted(changed["Host name and /etc/hosts | Set the host name"]) == list(NODES)


def test_the_first_deploy_waits_for_a_held_dpkg_lock(first_deploy, rig):
    """node1 held the dpkg locks when the deploy reached apt, as a fresh Ubuntu's unattended-upgrades
    does (conftest.first_deploy): apt-get waited for them, then installed."""
    assert first_deploy.lock_holder["apt_waited_s"] >= 15, first_deploy.lock_holder
    assert "node1" in first_deploy.changed()["Time sync (chrony) | Install chrony"]
    assert rig.run("node1", "systemctl is-active chrony").stdout.strip() == "active"


def test_hostnames_and_own_address(first_deploy, rig):
    for node, ip in rig.nodes.items():
        assert rig.run(node, "hostname").stdout.strip() == node
        assert rig.run(node, "cat /etc/hostname").stdout.strip() == node
        assert rig.run(node, "hostname --ip-address").stdout.split() == [ip]


def test_every_node_resolves_and_reaches_every_other_through_etc_hosts(first_deploy, rig):
    for node in NODES:
        for other, ip in rig.nodes.items():
            files_only = rig.run(node, f"getent -s files ahostsv4 {other}").stdout.split()
            assert files_only[0] == ip, (node, other, files_only)
            # Docker's DNS does not know these names: the answer can only come from /etc/hosts.
            assert rig.run(node, f"getent -s dns hosts {other}", check=False).returncode != 0
            assert rig.run(node, f"ping -c1 -W2 {other}", check=False).returncode == 0, (node, other)


def test_admin_on_controller_logs_into_every_node_by_key_without_prompt(first_deploy, rig):
    for other in NODES:
        result = rig.run(
            "node0",
            f"su - {rig.admin_user} -c 'ssh -o BatchMode=yes -o PasswordAuthentication=no {other} hostname'",
            check=False,
        )
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == other


def _login(ip: str, user: str, **auth) -> None:
    client = paramiko.SSHClient()
    client.set_missing_host_key_policy(paramiko.AutoAddPolicy())
    try:
        client.connect(ip, username=user, look_for_keys=False, allow_agent=False, timeout=10, **auth)
    finally:
        client.close()


def test_password_login_refused_key_login_accepted(first_deploy, rig):
    for ip in rig.nodes.values():
        with pytest.raises(paramiko.AuthenticationException):
            _login(ip, rig.admin_user, password=rig.password())
        _login(ip, rig.admin_user, key_filename=str(rig.key))


def test_sshd_effective_settings_are_hardened(first_deploy, rig):
    for node in NODES:
        settings = dict(line.split(" ", 1) for line in rig.run(node, "sshd -T").stdout.splitlines())
        assert settings["passwordauthentication"] == "no"
        assert settings["kbdinteractiveauthentication"] == "no"
        assert settings["permitrootlogin"] == "no"


def test_ssh_audit_rates_no_algorithm_of_any_node_a_failure(first_deploy, rig):
    """ssh-audit (PyPI) against each node: no fail (the PQ-less key exchanges paramiko needs stay as
    warnings), no critical recommendation, no known CVE of the OpenSSH release. Without its connection
    rate test: OpenSSH 9.8 and later (Debian 13) penalise the burst (PerSourcePenalties) by refusing
    this machine, and the deploys after it, for minutes."""
    for node, ip in rig.nodes.items():
        report = json.loads(
            subprocess.run(
                [str(Path(sys.executable).with_name("ssh-audit")), "--skip-rate-test", "-j", ip],
                capture_output=True,
                text=True,
            ).stdout
        )
        assert report["banner"]["software"].startswith("OpenSSH_"), node
        failures = [
            (kind, entry["algorithm"], entry["notes"]["fail"])
            for kind in ("kex", "key", "enc", "mac")
            for entry in report[kind]
            if entry["notes"].get("fail")
        ]
        assert failures == [], node
        assert "critical" not in report["recommendations"], (node, report["recommendations"])
        assert report["cves"] == [], node
        assert {entry["algorithm"] for entry in report["key"]} <= {
            "ssh-ed25519",
            "rsa-sha2-512",
            "rsa-sha2-256",
        }


def test_chrony_runs_and_compute_nodes_follow_the_controller(first_deploy, rig):
    controller_ip = rig.nodes["node0"]
    for node in NODES:
        assert rig.run(node, "systemctl is-active chrony").stdout.strip() == "active"
    for node in ("node1", "node2"):
        deadline = time.time() + 60
        while f"^* {controller_ip}" not in rig.run(node, "chronyc -n sources").stdout:
            assert time.time() < deadline, rig.run(node, "chronyc -n sources").stdout
            time.sleep(2)


def test_second_deploy_uses_the_key_and_changes_nothing(second_deploy):
    results = second_deploy.results["results"]
    assert results["failed_hosts"] == []
    assert second_deploy.changed() == {}
    assert results["totals"]["success"] == 0
    assert results["totals"]["no_change"] == results["totals"]["hosts"] > 0
    assert {h for op in results["operations"] for h in op["no_change"]} == set(NODES)


def test_no_secret_in_any_output(second_deploy, rig, outputs):
    private = rig.run("node0", f"cat /home/{rig.admin_user}/.ssh/id_ed25519").stdout
    body = "".join(line for line in private.splitlines() if "PRIVATE KEY" not in line)
    assert len(body) > 100
    secrets = [body, body[:40], rig.password(), base64.b64encode(rig.password().encode()).decode()]
    for output in outputs:
        for secret in secrets:
            assert secret not in output
    perms = rig.run("node0", f"stat -c '%a %U' /home/{rig.admin_user}/.ssh/id_ed25519").stdout.split()
    assert perms == ["600", rig.admin_user]


def test_password_login_stays_on_where_key_login_cannot_be_proven(second_deploy, rig, outputs):
    """node2 refuses key login (its authorized_keys are ignored); the deploy must not lock it."""
    hardening = "/etc/ssh/sshd_config.d/10-gpucluster.conf"
    rig.run("node2", f"rm {hardening}")
    rig.run(
        "node2",
        "printf 'AuthorizedKeysFile /nonexistent\\nPasswordAuthentication yes\\n' "
        "> /etc/ssh/sshd_config.d/05-broken-keys.conf && systemctl reload ssh",
    )
    try:
        result = rig.deploy(first_login=True)
        outputs.append(result.output)
        assert result.returncode != 0
        assert "node2: key login as labadmin" in result.output
        assert "Password login stays on" in result.output
        assert result.results["results"]["failed_hosts"] == ["node2"]
        assert rig.run("node2", f"test -e {hardening}", check=False).returncode != 0
        _login(rig.nodes["node2"], rig.admin_user, password=rig.password())
    finally:
        rig.run("node2", "rm -f /etc/ssh/sshd_config.d/05-broken-keys.conf && systemctl reload ssh")
    healed = rig.deploy()
    outputs.append(healed.output)
    assert healed.returncode == 0, healed.output[-3000:]
    with pytest.raises(paramiko.AuthenticationException):
        _login(rig.nodes["node2"], rig.admin_user, password=rig.password())


@pytest.mark.parametrize(
    "ciphers, refused_by",
    [
        ("chacha20-poly1305@openssh.com", "no acceptable ciphers"),  # paramiko, pyinfra's client, lacks it
        ("aes128-cbc", "this machine's OpenSSH client: Unable to negotiate"),  # off in OpenSSH's defaults
    ],
)
def test_sshd_settings_a_client_cannot_use_are_never_loaded(second_deploy, rig, outputs, ciphers, refused_by):
    """sshd_options that leave no cipher the deploying machine's clients share: the trial login fails
    on every node, which keeps the sshd settings it runs with, and says so without a traceback."""
    hardening = "/etc/ssh/sshd_config.d/10-gpucluster.conf"
    before = {node: rig.run(node, f"sha256sum {hardening}; sshd -T | grep ^ciphers").stdout for node in NODES}
    result = rig.deploy("--data", f"sshd_options={json.dumps({'Ciphers': ciphers})}")
    outputs.append(result.output)
    assert result.returncode != 0
    assert "Traceback" not in result.output
    for node, ip in rig.nodes.items():
        line = next(line for line in result.output.splitlines() if f"[{node}] {node}: key login as" in line)
        assert refused_by in line and "sshd keeps its current settings" in line
        assert rig.run(node, f"sha256sum {hardening}; sshd -T | grep ^ciphers").stdout == before[node]
        _login(ip, rig.admin_user, key_filename=str(rig.key))
