"""The cluster spec: valid input builds, every kind of bad input is refused with field and fix."""

from __future__ import annotations

import shlex

import pytest
from specs import ROOT, build, hosts

from model.spec import ClusterSpec, SpecError
from operations.render import render
from steps.ssh import sshd_dropin, trial_command


def test_default_inventory_builds(key):
    spec = build(key)
    assert spec.controller.name == "node0"
    assert [n.name for n in spec.compute_nodes] == ["node0", "node1", "node2"]
    assert spec.node("node1").ssh_address == "10.20.0.11"
    assert spec.deployer_public_key == "ssh-ed25519 AAAAC3Nza deployer@laptop"


def test_real_inventory_and_group_data_load_into_a_valid_spec(key):
    from pyinfra.api import State
    from pyinfra.context import ctx_state
    from pyinfra_cli.inventory import make_inventory

    with ctx_state.use(State()):
        inventory = make_inventory(
            str(ROOT / "inventory.py"), cwd=str(ROOT), override_data={"deployer_ssh_key": key}
        )
    spec = ClusterSpec.from_inventory(inventory)
    assert [(n.name, sorted(n.roles)) for n in spec.nodes] == [
        ("node0", ["compute", "controller"]),
        ("node1", ["compute"]),
        ("node2", ["compute"]),
    ]
    assert all(n.ip in spec.network for n in spec.nodes)
    assert spec.admin_user != "root"


BAD_INPUT = {
    "invalid host name": (
        dict(node={"node1": {"name": "Node_1"}}),
        ["Node_1: host name: 'Node_1' is not a valid host name"],
    ),
    "duplicate host name": (dict(node={"node2": {"name": "node1"}}), ["host name 'node1' is used twice"]),
    "invalid IP": (dict(node={"node1": {"cluster_ip": "10.20.0.300"}}), ["node1: cluster_ip", "IPv4"]),
    "duplicate IP": (
        dict(node={"node2": {"cluster_ip": "10.20.0.11"}}),
        ["cluster_ip 10.20.0.11 is given to node1, node2"],
    ),
    "IP outside the subnet": (
        dict(node={"node2": {"cluster_ip": "10.20.1.12"}}),
        ["node2 cluster_ip 10.20.1.12 is not a host address in cluster_network 10.20.0.0/24"],
    ),
    "network address as node IP": (
        dict(node={"node2": {"cluster_ip": "10.20.0.0"}}),
        ["10.20.0.0 is not a host address"],
    ),
    "no controller": (dict(controllers=()), ["exactly one node must be in the controller group, found 0"]),
    "two controllers": (dict(controllers=("node0", "node1")), ["found 2 (node0, node1)"]),
    "root as SSH user": (dict(ssh_user="root"), ["ssh_user: the deploy must log in as a regular admin user"]),
    "missing cluster_network": (dict(cluster_network=None), ["cluster_network: required setting is missing"]),
    "bad cluster_network": (dict(cluster_network="10.20.0.0/33"), ["cluster_network:"]),
    "missing key pair": (
        dict(deployer_ssh_key="/nonexistent/id_ed25519"),
        ["/nonexistent/id_ed25519 does not"],
    ),
    "invalid cluster name": (
        dict(cluster_name="GPU Cluster"),
        ["cluster_name: 'GPU Cluster' is not a valid"],
    ),
    "setting differs between hosts": (
        dict(node={"node1": {"cluster_name": "other"}}),
        ["cluster_name: differs between hosts", "group_data/all.py"],
    ),
    "bad SSH port": (dict(node={"node1": {"ssh_port": 70000}}), ["node1: ssh_port"]),
    "negative GPU count": (dict(gpus_per_node=-1), ["gpus_per_node"]),
    "misspelt setting": (
        dict(slurm_partiton="gpu"),
        ["slurm_partiton: not a setting of this project; did you mean slurm_partition?"],
    ),
    "unknown setting": (dict(gpu_count=2), ["gpu_count: not a setting of this project; fix:"]),
    "bad research user name": (
        dict(users=[{"name": "ada", "uid": 2001}, {"name": "Bob Smith", "uid": 2002}]),
        ["users entry 2 ('Bob Smith').name: String should match pattern"],
    ),
    "bad clock offset limit": (
        dict(clock_offset_limit_ms=0),
        ["clock_offset_limit_ms: Input should be greater"],
    ),
    "password login through sshd_options": (
        dict(sshd_options={"PasswordAuthentication": "yes"}),
        ["sshd_options: PasswordAuthentication is ssh_password_login's"],
    ),
    "two lines in one sshd option": (
        dict(sshd_options={"MACs": "hmac-sha2-256-etm@openssh.com\nPermitRootLogin yes"}),
        ["sshd_options: MACs: ", "is not a one-line value"],
    ),
    "backup folder not absolute": (
        dict(backup={"path": "backups"}),
        ["backup['path']: String should match pattern"],
    ),
    "backup schedule that is a shell command": (
        dict(backup={"schedule": "daily; rm -rf /"}),
        ["backup['schedule']: String should match pattern"],
    ),
    "torch too old for the RTX 5090": (
        dict(torch_version="2.6.0"),
        ["torch_version: 2.6.0 has no kernels for the NVIDIA GeForce RTX 5090 (sm_120)", "2.7.0 or newer"],
    ),
}


@pytest.mark.parametrize("case", BAD_INPUT, ids=list(BAD_INPUT))
def test_bad_input_is_refused_with_field_and_fix(key, case):
    kwargs, expected = BAD_INPUT[case]
    with pytest.raises(SpecError) as err:
        build(key, **kwargs)
    message = str(err.value)
    assert message.startswith("The cluster spec is invalid; nothing was changed on any host.")
    assert "fix:" in message
    for text in expected:
        assert text in message


def test_no_compute_node_is_refused(key):
    data = hosts(key, count=1)
    name, _, host_data = data[0]
    with pytest.raises(SpecError, match="no node is in the compute group"):
        ClusterSpec.from_hosts([(name, ["controller"], host_data)])


def test_sixteen_nodes_with_four_gpus_each(key):
    spec = build(key, count=16, gpus_per_node=4)
    assert len(spec.nodes) == 16 and spec.gpus_per_node == 4
    hosts_file = render("hosts.j2", spec=spec)
    lines = [
        line.split() for line in hosts_file.splitlines() if line and not line.startswith(("#", "::", "ff02"))
    ]
    assert lines[0] == ["127.0.0.1", "localhost"]
    assert lines[1:] == [[f"10.20.0.{10 + i}", f"node{i}"] for i in range(16)]
    assert "127.0.1.1" not in hosts_file
    known = render("ssh_known_hosts.j2", nodes=[(n, "ssh-ed25519 AAAA") for n in spec.nodes])
    assert known.count("ssh-ed25519 AAAA") == 16
    assert "node15,10.20.0.25 ssh-ed25519 AAAA" in known


def test_sshd_dropin_follows_the_password_switch(key):
    off, on = sshd_dropin(build(key)), sshd_dropin(build(key, ssh_password_login=True))
    assert "PasswordAuthentication no" in off and "PasswordAuthentication yes" in on
    for text in (off, on):
        assert "PermitRootLogin no" in text and "KbdInteractiveAuthentication no" in text


def test_sshd_dropin_leaves_out_what_ssh_audit_fails(key):
    lines = sshd_dropin(build(key)).splitlines()
    assert [line for line in lines if line.startswith("HostKey ")] == [
        "HostKey /etc/ssh/ssh_host_ed25519_key",
        "HostKey /etc/ssh/ssh_host_rsa_key",
    ]
    options = dict(line.split(" ", 1) for line in lines if line and not line.startswith(("#", "HostKey ")))
    assert options["KexAlgorithms"].startswith("-") and "ecdh-sha2-nistp*" in options["KexAlgorithms"]
    assert {"hmac-sha1*", "umac-64*", "hmac-sha2-256"} <= set(options["MACs"][1:].split(","))
    assert options["HostKeyAlgorithms"] == "-ecdsa-sha2-nistp*,sk-ecdsa-sha2-nistp*"


def test_sshd_options_replace_a_default_in_place_or_are_added(key):
    spec = build(key, sshd_options={"macs": "+hmac-sha2-256", "KexAlgorithms": None, "MaxAuthTries": "3"})
    lines = sshd_dropin(spec).splitlines()
    assert "macs +hmac-sha2-256" in lines and not any(line.startswith("MACs") for line in lines)
    assert "# KexAlgorithms: left out (sshd_options)" in lines
    assert lines[-1] == "MaxAuthTries 3"


def test_the_trial_sshd_gets_every_line_of_the_dropin_first(key):
    dropin = sshd_dropin(build(key, sshd_options={"AllowUsers": "labadmin ada"}))
    command = trial_command(dropin)
    settings = [line for line in dropin.splitlines() if line and not line.startswith("#")]
    for line in settings:
        assert f"-o {shlex.quote(line)}" in command
    assert "-o 'AllowUsers labadmin ada'" in command
    assert command.count("-o ListenAddress=127.0.0.1:40022") == 2  # checked (-t), then run
    assert "RuntimeMaxSec=120" in command


def test_chrony_controller_serves_the_subnet_compute_follows_it(key):
    spec = build(key)
    controller = render("chrony.conf.j2", spec=spec, node=spec.node("node0"))
    compute = render("chrony.conf.j2", spec=spec, node=spec.node("node1"))
    assert "allow 10.20.0.0/24" in controller and "local stratum 10" in controller
    assert "server node0 iburst prefer" in compute and "allow" not in compute
    assert "pool ntp.ubuntu.com" in controller


ADA = {"name": "ada", "uid": 2001, "keys": ["ssh-ed25519 AAAAC3Nza ada@laptop"]}


@pytest.mark.parametrize(
    ("users", "expected"),
    [
        ([ADA, ADA], "'ada' is listed twice"),
        ([{**ADA, "uid": 1002}], "ID 1002 is used twice among users, service_accounts and research_group"),
        ([{**ADA, "keys": ["not a key"]}], "is not an OpenSSH public key"),
        ([{**ADA, "uid": 0}], "users"),
    ],
    ids=["duplicate user", "uid of slurm", "bad key", "root uid"],
)
def test_bad_users_are_refused(key, users, expected):
    with pytest.raises(SpecError) as err:
        build(key, users=users)
    assert expected in str(err.value) and "fix:" in str(err.value)


def test_accounts_created_by_packages_with_other_ids_are_reported_with_the_fix(key):
    from steps.accounts import conflicts

    spec = build(key, users=[ADA])
    found = {  # as Debian's packages leave them: dynamic system IDs, and 2001 already taken
        "users": {
            "slurm": {"uid": 64030, "gid": 64030, "home": "/nonexistent", "expires": ""},
            "munge": {"uid": 1001, "gid": 1001, "home": "/nonexistent", "expires": ""},
            "bob": {"uid": 2001, "gid": 2001, "home": "/home/bob", "expires": ""},
        },
        "groups": {"slurm": {"gid": 64030, "members": []}, "munge": {"gid": 1001, "members": []}},
    }
    problems = conflicts(spec, found)
    assert problems[0].startswith(
        "user slurm has UID 64030, expected 1002; fix: stop munge, slurmd and slurmctld"
    )
    assert "find / -xdev -uid 64030 -exec chown -h slurm {} +" in problems[0]
    assert "group slurm has GID 64030, expected 1002; fix: `groupmod -g 1002 slurm`" in problems
    assert "UID 2001 for ada is taken by bob; fix: choose another in group_data" in problems
    assert len(problems) == 3  # munge already agrees
    assert conflicts(spec, {"users": {}, "groups": {}}) == []


def test_audit_names_the_odd_node_and_a_clock_too_far_off():
    from runbooks.audit import problems

    row = {
        "os": "ubuntu 24.04",
        "kernel": "6.8.0-60-generic",
        "nvidia driver": "580.95.05 open",
        "gpu power": "575 W",
        "cuda": "12.8.93",
    }
    row |= {"slurm": "23.11.4", "slurm.conf": "sha256:aaa", "munge key": "sha256:bbb", "torch": "2.9.1+cu128"}
    rows = {name: {**row, "clock offset": 0.0001} for name in ("node0", "node1", "node2")}
    assert problems(rows, clock_limit_s=0.05) == []
    rows["node2"] = {**rows["node2"], "munge key": "sha256:ccc", "clock offset": -0.2}
    assert problems(rows, clock_limit_s=0.05) == [
        "munge key: node2 has sha256:ccc (sha256:bbb on node0, node1)",
        "clock offset: node2 is -200.0 ms off (limit 50 ms)",
    ]


def test_audit_names_a_gpu_not_held_to_the_power_limit():
    from runbooks.audit import problems

    row = {field: "same" for field in ("os", "kernel", "nvidia driver", "cuda", "slurm", "slurm.conf")}
    row |= {"munge key": "same", "torch": "same", "clock offset": 0.0}
    rows = {name: {**row, "gpu power": "450 W"} for name in ("node0", "node1")}
    rows["node2"] = {**row, "gpu power": "none"}  # no driver: the "nvidia driver" field says so
    assert problems(rows, clock_limit_s=0.05, power_limit_w=450) == [
        "gpu power: node2 has none (450 W on node0, node1)"
    ]
    rows["node2"] = {**row, "gpu power": "575 W"}  # rebooted, the unit did not run
    assert problems(rows, clock_limit_s=0.05, power_limit_w=450) == [
        "gpu power: node2 has 575 W (450 W on node0, node1)",
        "gpu power: node2 has 575 W, nvidia['power_limit_w'] is 450 W",
    ]
    assert problems({n: {**row, "gpu power": "575 W"} for n in rows}, 0.05) == []


def test_pyinfras_own_names_are_not_taken_for_settings(key):
    spec = build(key, _sudo=True, _sudo_password="x", ssh_key="~/.ssh/id", ssh_known_hosts_file="/tmp/k")
    assert spec.controller.name == "node0"


def test_clock_offset_limit_is_read_from_group_data(key):
    assert build(key, clock_offset_limit_ms=7).clock_offset_limit_ms == 7
