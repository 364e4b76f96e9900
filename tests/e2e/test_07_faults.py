"""Faults on purpose, after the main suite; each test leaves the cluster as it found it.

The rig's SlurmdTimeout is 30 s (tests/rig/group_data/all.py) so a dead node is noticed quickly.
"""

from __future__ import annotations

import base64
import json
import os
import re
import runpy
import signal
import subprocess
import sys
import time

import pytest
from rig import RIG, ROOT

NODES = ("node0", "node1", "node2")


def wait_for(probe, timeout: float, what: str, rig=None):
    deadline = time.time() + timeout
    while time.time() < deadline:
        result = probe()
        if result:
            return result
        time.sleep(2)
    extra = rig.run("node0", "sinfo -N; squeue", check=False).stdout if rig else ""
    raise AssertionError(f"timed out waiting for {what}\n{extra}")


def job(rig, job_id: str) -> dict[str, str]:
    out = rig.run("node0", f"scontrol -o show job {job_id}", check=False).stdout
    return dict(f.split("=", 1) for f in out.split() if "=" in f)


def node_state(rig, node: str) -> str:
    return rig.run("node0", f"sinfo -h -n {node} -o %T", check=False).stdout.strip()


def submit(rig, args: str) -> str:
    cmd = f"su - {rig.admin_user} -c 'sbatch --parsable {args}'"
    return rig.run("node0", cmd).stdout.strip()


@pytest.fixture(autouse=True)
def all_idle(second_deploy, rig):
    """Each fault starts from a healthy cluster (an earlier test may have upset a node for a while)."""
    wait_for(lambda: rig.run("node0", "sinfo -h -N -o %T").stdout.split() == ["idle"] * 3, 120, "idle", rig)


def test_a_dead_node_requeues_its_job_and_returns_to_service_by_itself(second_deploy, rig):
    job_id = submit(rig, '--requeue --gres=gpu:1 -w node2 -o /dev/null --wrap "sleep 20"')
    wait_for(lambda: job(rig, job_id).get("JobState") == "RUNNING", 60, "the job to run on node2", rig)

    subprocess.run(["docker", "kill", rig.container("node2")], check=True, capture_output=True)
    wait_for(lambda: node_state(rig, "node2").startswith("down"), 120, "node2 to go DOWN", rig)
    wait_for(lambda: int(job(rig, job_id).get("Restarts", 0)) >= 1, 60, "the job to be requeued", rig)
    assert job(rig, job_id)["JobState"] in ("PENDING", "REQUEUED")

    subprocess.run(["docker", "start", rig.container("node2")], check=True, capture_output=True)
    wait_for(lambda: node_state(rig, "node2") in ("idle", "allocated", "mixed"), 180, "node2 to return", rig)
    wait_for(
        lambda: job(rig, job_id).get("JobState") == "COMPLETED", 300, "the requeued job to complete", rig
    )
    assert job(rig, job_id)["NodeList"] == "node2"
    wait_for(lambda: node_state(rig, "node2") == "idle", 60, "node2 idle", rig)
    assert rig.run("node0", "sinfo -h -n node2 -o %E").stdout.strip() == "none"


def test_a_controller_restart_loses_no_job(second_deploy, rig):
    ids = [submit(rig, '--gres=gpu:1 -o /dev/null --wrap "sleep 15"') for _ in range(4)]
    wait_for(
        lambda: sum(job(rig, i).get("JobState") == "RUNNING" for i in ids) == 3, 60, "3 running jobs", rig
    )
    assert [job(rig, i)["JobState"] for i in ids].count("PENDING") == 1
    rig.run("node0", "systemctl restart slurmctld")
    wait_for(lambda: rig.run("node0", "scontrol ping", check=False).returncode == 0, 60, "slurmctld")
    assert all(job(rig, i).get("JobState") in ("RUNNING", "PENDING", "COMPLETED") for i in ids)
    wait_for(
        lambda: all(job(rig, i).get("JobState") == "COMPLETED" for i in ids),
        120,
        "every job to complete",
        rig,
    )


def sacct_states(rig, ids: list[str]) -> dict[str, str]:
    out = rig.run("node0", f"sacct -n -X -P -o JobID,State -j {','.join(ids)}", check=False).stdout
    return dict(line.split("|", 1) for line in out.splitlines() if line)


def test_a_killed_controller_loses_no_job_running_on_the_other_nodes(second_deploy, rig):
    """A crash loses what slurmctld has not yet written to its state files: it writes a change within
    SAVE_MAX_WAIT (5 s, state_save.c). Killed sooner, a job started since is purged on its node when
    slurmctld is back, and one allocated since runs again (seen on the rig); so the kill comes later."""
    ids = [submit(rig, f'--gres=gpu:1 -w {n} -o /dev/null --wrap "sleep 30"') for n in ("node1", "node2")]
    wait_for(lambda: all(job(rig, i).get("JobState") == "RUNNING" for i in ids), 60, "both jobs to run", rig)
    time.sleep(6)

    subprocess.run(["docker", "kill", rig.container("node0")], check=True, capture_output=True)
    for node in ("node1", "node2"):  # the jobs go on without their controller
        assert rig.run(node, "pgrep -f 'sleep 30'", check=False).returncode == 0, node
    subprocess.run(["docker", "start", rig.container("node0")], check=True, capture_output=True)
    wait_for(lambda: rig.run("node0", "scontrol ping", check=False).returncode == 0, 180, "slurmctld back")
    wait_for(
        lambda: all(job(rig, i).get("JobState") == "COMPLETED" for i in ids),
        180,
        "both jobs to complete",
        rig,
    )
    wait_for(lambda: sacct_states(rig, ids) == dict.fromkeys(ids, "COMPLETED"), 120, "the jobs in sacct", rig)
    assert [job(rig, i)["Restarts"] for i in ids] == ["0", "0"]  # each ran once, to its end
    wait_for(lambda: rig.run("node0", "sinfo -h -N -o %T").stdout.split() == ["idle"] * 3, 180, "idle", rig)


def test_jobs_that_end_while_mariadb_is_down_reach_sacct_once_it_is_back(second_deploy, rig):
    mariadb = "mariadb.socket mariadb.service"  # the socket alone would start it again
    rig.run("node0", f"systemctl stop {mariadb}")
    try:
        ids = [submit(rig, f'--gres=gpu:1 -o /dev/null --wrap "echo {i}"') for i in range(3)]
        wait_for(lambda: all(job(rig, i).get("JobState") == "COMPLETED" for i in ids), 60, "the jobs", rig)
        down = rig.run("node0", f"sacct -n -X -j {ids[0]}", check=False)
        assert down.returncode != 0 and "Unable to connect to database" in down.stderr
        assert rig.run("node0", "systemctl is-active slurmdbd slurmctld").stdout.split() == ["active"] * 2
    finally:
        rig.run("node0", f"systemctl start {mariadb}")
    wait_for(lambda: sacct_states(rig, ids) == dict.fromkeys(ids, "COMPLETED"), 180, "the jobs in sacct", rig)


@pytest.mark.skipif(RIG.torch is None, reason=f"no CPU build of torch for the {RIG.suite} rig")
def test_a_node_cut_off_mid_ddp_ends_the_job_which_runs_again_once_the_node_is_back(second_deploy, rig):
    """node2's wired link goes down in the middle of a 3-node DDP job submitted with --requeue: the
    node is DOWN once SlurmdTimeout passes, the job is requeued; with the link back, node2 returns
    and the job runs again on all three nodes, to its end."""
    train = "/opt/gpucluster/jobs/examples/train_ddp.py --steps 400"  # ~15 s of training on the rig
    job_id = submit(rig, f"--requeue -D /home/{rig.admin_user} /opt/gpucluster/jobs/ddp.sbatch {train}")
    wait_for(
        lambda: rig.run("node2", "pgrep -f '[t]rain_ddp.py'", check=False).returncode == 0,
        90,
        "DDP on node2",
        rig,
    )
    time.sleep(5)
    route = rig.run("node2", "ip route show default").stdout.strip()
    rig.run("node2", "ip link set eth0 down")
    try:
        wait_for(lambda: node_state(rig, "node2").startswith("down"), 120, "node2 to go DOWN", rig)
        wait_for(lambda: int(job(rig, job_id).get("Restarts", 0)) == 1, 60, "the job to be requeued", rig)
        wait_for(lambda: job(rig, job_id)["JobState"] == "PENDING", 60, "the job to wait for node2", rig)
    finally:
        rig.run("node2", f"ip link set eth0 up && ip route replace {route}")
    # By its own messages (a rank that failed) or node0's health check (test_14), within two checks.
    wait_for(lambda: node_state(rig, "node2") in ("idle", "mixed", "allocated"), 40, "node2 to return", rig)
    wait_for(lambda: job(rig, job_id).get("JobState") == "COMPLETED", 240, "the job to run again", rig)
    assert job(rig, job_id)["NodeList"] == "node[0-2]" and job(rig, job_id)["Restarts"] == "1"
    out = rig.run("node0", f"cat /home/{rig.admin_user}/ddp-{job_id}.out").stdout
    ranks = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    assert sorted(r["rank"] for r in ranks) == [0, 1, 2] and all(r["identical"] for r in ranks), out
    wait_for(lambda: sacct_states(rig, [job_id]) == {job_id: "COMPLETED"}, 60, "the job in sacct", rig)
    for node in NODES:  # the first run's rank on node2 too is gone
        assert rig.run(node, "pgrep -f '[t]rain_ddp.py'", check=False).returncode == 1, node


def test_a_slurm_conf_slurm_cannot_parse_is_never_installed(second_deploy, rig, outputs):
    conf = "/etc/slurm/slurm.conf"
    before = {node: rig.run(node, f"sha256sum {conf}").stdout for node in NODES}
    result = rig.deploy("--data", 'slurm_options={"SlurmctldPortt": 6817}')
    outputs.append(result.output)
    assert result.returncode != 0 and "Traceback" not in result.output
    for node in NODES:
        lines = [line for line in result.output.splitlines() if line.strip().startswith(f"[{node}]")]
        assert any("Parsing error at unrecognized key: SlurmctldPortt" in line for line in lines), node
        assert any(f"the running {conf} stays. Fix: correct slurm_options" in line for line in lines), node
        assert rig.run(node, f"sha256sum {conf}; ls -A /etc/slurm | grep -c new || true").stdout == (
            before[node] + "0\n"
        )
    assert rig.run("node0", "scontrol ping").stdout.count("is UP") == 1


@pytest.mark.release_independent
def test_a_deploy_killed_midway_converges_when_run_again(second_deploy, rig, outputs, tmp_path):
    options = {**runpy.run_path("tests/rig/group_data/all.py")["slurm_options"], "MessageTimeout": 20}
    (tmp_path / "all.py").write_text(f"slurm_options = {options!r}\n")
    cmd = [
        sys.executable,
        "-m",
        "pyinfra",
        "-y",
        "tests/rig/inventory.py",
        "deploy.py",
        "--group-data",
        str(tmp_path),
    ]
    proc = subprocess.Popen(
        cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    # killed the moment node0's slurm.conf holds the new setting: slurmctld has not restarted for it
    written = "until grep -q '^MessageTimeout=20$' /etc/slurm/slurm.conf; do sleep 0.02; done"
    rig.run("node0", f'timeout 300 sh -c "{written}"')
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert "MessageTimeout          = 10 sec" in rig.run("node0", "scontrol show config").stdout
    try:
        again = rig.deploy("--group-data", str(tmp_path))
        outputs.append(again.output)
        assert again.returncode == 0, again.output[-3000:]
        assert "node0" in again.changed()["Slurm | Restart slurmctld for its new configuration"]
        assert "MessageTimeout          = 20 sec" in rig.run("node0", "scontrol show config").stdout
        quiet = rig.deploy("--group-data", str(tmp_path))
        assert quiet.returncode == 0 and quiet.changed() == {}
    finally:
        restored = rig.deploy()
        outputs.append(restored.output)
    assert restored.returncode == 0


@pytest.mark.release_independent
def test_drift_in_what_one_reading_settles_is_found_and_put_back(second_deploy, rig, outputs):
    """The host name, the admin's authorized keys and the pinned Python packages are settled from
    one reading per node, not pyinfra's own facts: changed by hand on node2, each is put back."""
    keys = f"/home/{rig.admin_user}/.ssh/authorized_keys"
    drift = [
        "hostnamectl set-hostname elsewhere",
        f"sed -i '/{rig.admin_user}@node0/d' {keys} && chmod 644 {keys}",  # the controller's key
        "/opt/pytorch/bin/pip uninstall -q -y jupyterlab",
        "/opt/gpucluster/gpu-exporter/bin/pip uninstall -q -y nvidia-ml-py",
    ]
    rig.run("node2", " && ".join(drift))
    healed = rig.deploy()
    outputs.append(healed.output)
    assert healed.returncode == 0, healed.output[-3000:]
    lab, binding = RIG.spec().jupyterlab_version, RIG.spec().metrics.nvidia_ml_py_version
    assert healed.changed() == {
        "Host name and /etc/hosts | Set the host name": ["node2"],
        "SSH keys and sshd hardening | Authorize the deploying machine's key": ["node2"],  # its mode
        "SSH keys and sshd hardening | Authorize the controller's admin key": ["node2"],
        f"PyTorch | Install JupyterLab {lab}": ["node2"],
        f"Metrics | Install nvidia-ml-py {binding}": ["node2"],
        "Metrics | Restart the GPU exporter for its new version": ["node2"],
    }
    versions = "/opt/pytorch/bin/pip show jupyterlab; /opt/gpucluster/gpu-exporter/bin/pip show nvidia-ml-py"
    found = rig.run("node2", f"uname -n; stat -c %a {keys}; grep -c @node0 {keys}; {versions}")
    assert found.stdout.split("\n")[:3] == ["node2", "600", "1"]
    assert f"Version: {lab}" in found.stdout and f"Version: {binding}" in found.stdout
    assert rig.deploy().changed() == {}


@pytest.mark.release_independent
def test_an_unreachable_node_is_named_and_the_others_converge(second_deploy, rig, outputs, tmp_path):
    (tmp_path / "all.py").write_text('ntp_pools = ["ntp.invalid"]\n')
    subprocess.run(["docker", "pause", rig.container("node2")], check=True, capture_output=True)
    try:
        partial = rig.deploy("--group-data", str(tmp_path))
        outputs.append(partial.output)
    finally:
        subprocess.run(["docker", "unpause", rig.container("node2")], check=True, capture_output=True)
    assert partial.returncode != 0
    # pyinfra names the host and why: "Could not connect (...)" or "SSH error (...)" for a silent one
    assert re.search(r"\[node2\] (Could not connect|SSH error) \(.+\)", partial.output)
    assert "slurm.conf, gres.conf and cgroup.conf left as it is: node2 unreachable" in partial.output
    assert [
        rig.run(n, "grep -c 'pool ntp.invalid' /etc/chrony/chrony.conf", check=False).stdout.strip()
        for n in NODES
    ] == [
        "1",
        "1",
        "0",
    ]
    try:
        later = rig.deploy("--group-data", str(tmp_path))
        outputs.append(later.output)
        assert later.returncode == 0, later.output[-3000:]
        assert later.changed()["Time sync (chrony) | Configure chrony"] == ["node2"]
        assert rig.deploy("--group-data", str(tmp_path)).changed() == {}
    finally:
        restored = rig.deploy()
    assert restored.returncode == 0
    wait_for(lambda: node_state(rig, "node2") == "idle", 120, "node2 idle", rig)


def test_secrets_are_protected_on_the_nodes_and_absent_from_the_repository(second_deploy, rig):
    for node in NODES:
        assert rig.run(node, "stat -c '%U:%G %a' /etc/munge/munge.key").stdout.strip() == "munge:munge 400"
        readable = rig.run(
            node,
            "find /etc/munge /etc/ssh /home /root -xdev -type f \\( -name munge.key -o -name 'id_*' "
            "-o -name 'ssh_host_*_key' \\) ! -name '*.pub' -perm /o+r",
        ).stdout
        assert readable == "", (node, readable)
    private = rig.run("node0", f"cat /home/{rig.admin_user}/.ssh/id_ed25519").stdout
    assert rig.run("node0", f"stat -c %a /home/{rig.admin_user}/.ssh/id_ed25519").stdout.strip() == "600"
    key = base64.b64encode(
        base64.b64decode(rig.run("node0", "base64 -w0 /etc/munge/munge.key").stdout)
    ).decode()
    body = "".join(line for line in private.splitlines() if "PRIVATE KEY" not in line)
    for secret in (key[:32], body[:40], rig.password()):
        found = subprocess.run(["git", "grep", "-F", "-l", secret], cwd=ROOT, capture_output=True, text=True)
        assert found.stdout == "", found.stdout
