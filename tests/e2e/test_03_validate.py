"""validate.py, the job scripts and the training network on the rig.

Stand-in: the rig's GPUs are the driverless /dev/nvidia0 device nodes of `fake_gpu_devices`, and
its PyTorch is a CPU build (Gloo instead of NCCL), which exists here only for Debian 12's Python;
on the Debian 13 rig the PyTorch checks are skipped and validate.py runs without them.
"""

from __future__ import annotations

import hashlib
import re
import time
from pathlib import Path

import pytest
from rig import RIG, ROOT

NODES = ("node0", "node1", "node2")
DATA = Path(__file__).parent / "data"
needs_torch = pytest.mark.skipif(RIG.torch is None, reason=f"no CPU build of torch for the {RIG.suite} rig")


def report(output: str) -> dict[str, tuple[str, str]]:
    """validate.py's report: check -> (verdict, evidence)."""
    rows = re.findall(r"^\s+(PASS|FAIL|SKIP)  (.+?)\s{2,}(.*)$", output, re.MULTILINE)
    return {title.strip(): (verdict, evidence) for verdict, title, evidence in rows}


def as_admin(rig, command: str, node="node0", check=True):
    return rig.run(node, f"su - {rig.admin_user} -c '{command}'", check=check)


def wait_idle(rig, timeout=120):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if rig.run("node0", "sinfo -N -h -o %T").stdout.split() == ["idle"] * len(NODES):
            return
        time.sleep(2)
    raise AssertionError(rig.run("node0", "sinfo -N").stdout)


@pytest.fixture(scope="module")
def cluster(second_deploy, rig):
    wait_idle(rig)
    return rig


def test_validate_passes_and_reports_its_evidence(cluster, outputs):
    result = cluster.deploy(deploy_file="validate.py")
    outputs.append(result.output)
    assert result.returncode == 0, result.output[-4000:]
    checks = report(result.output)
    expected = ["Slurm nodes up", "every core registered", "munge round trip", "wired addresses"]
    expected += ["single-node GPU job", "GPU jobs in parallel"]
    expected += ["GPU isolation", "multi-node hello world"]
    expected += ["PyTorch everywhere", "DDP training"] if RIG.torch else []
    assert sorted(checks) == sorted(expected)
    assert all(verdict == "PASS" for verdict, _ in checks.values()), checks
    assert "9/9 ordered pairs decode" in checks["munge round trip"][1]
    cpus = {node: cluster.run(node, "nproc --all").stdout.strip() for node in NODES}
    assert f"node1 {cpus['node1']}/{cpus['node1']}" in checks["every core registered"][1]
    assert checks["wired addresses"][1].startswith(", ".join(cluster.nodes.values()) + ": static")
    assert re.search(
        r"ran together on node0, node1, node2; job \d+ waited \(PENDING, Resources\)",
        checks["GPU jobs in parallel"][1],
    )
    assert "hello from node0, node1, node2" in checks["multi-node hello world"][1]
    assert "every GPU device Operation not permitted" in checks["GPU isolation"][1]
    if RIG.torch:
        assert re.search(
            r"3 ranks on node0, node1, node2 \(gloo, cpu\), each on its wired interface, "
            r"identical parameters, [\d.]+ steps/s",
            checks["DDP training"][1],
        )


def test_validate_names_a_stopped_slurmd(cluster, outputs):
    cluster.run("node2", "systemctl stop slurmd")
    try:
        result = cluster.deploy(deploy_file="validate.py")
        outputs.append(result.output)
        assert result.returncode != 0
        checks = report(result.output)
        assert checks["Slurm nodes up"][0] == "FAIL"
        assert "slurmd on node2 is inactive" in checks["Slurm nodes up"][1]
        assert checks["multi-node hello world"] == ("SKIP", "needs: Slurm nodes up")
    finally:
        cluster.run("node2", "systemctl start slurmd")
    wait_idle(cluster)


def test_validate_names_gpu_isolation_when_devices_are_not_constrained(cluster, outputs):
    for node in NODES:
        cluster.run(node, "sed -i 's/^ConstrainDevices=yes/ConstrainDevices=no/' /etc/slurm/cgroup.conf")
        cluster.run(node, "systemctl restart slurmd")
    wait_idle(cluster)
    result = cluster.deploy(deploy_file="validate.py")
    outputs.append(result.output)
    assert result.returncode != 0
    checks = report(result.output)
    assert checks["GPU isolation"][0] == "FAIL"
    assert "opened /dev/nvidia0 (No such device or address)" in checks["GPU isolation"][1]
    assert checks["single-node GPU job"][0] == "PASS"
    # the same deploy also mends drifted copies of the job scripts (operations/sync.py reads each tree once)
    cluster.run("node2", "echo '# edited' >> /opt/gpucluster/jobs/examples/train_ddp.py")
    cluster.run("node0", "touch /opt/gpucluster/jobs/stray.sh")
    cluster.run("node1", "chmod 600 /opt/gpucluster/bench/model.py")
    healed = cluster.deploy()
    assert healed.returncode == 0, healed.output[-3000:]
    assert sorted(healed.changed()["Slurm | Restart slurmd for its new configuration"]) == list(NODES)
    changed = healed.changed()
    assert sorted(
        changed["Job scripts and job environment | Install the job scripts in /opt/gpucluster/jobs"]
    ) == [
        "node0",
        "node2",
    ]
    assert changed[
        "Job scripts and job environment | Install the benchmark's jobs in /opt/gpucluster/bench"
    ] == ["node1"]
    local = hashlib.sha256((ROOT / "jobs/examples/train_ddp.py").read_bytes()).hexdigest()
    assert (
        cluster.run("node2", "sha256sum /opt/gpucluster/jobs/examples/train_ddp.py").stdout.split()[0]
        == local
    )
    assert cluster.run("node0", "test -e /opt/gpucluster/jobs/stray.sh", check=False).returncode == 1
    assert cluster.run("node1", "stat -c %a /opt/gpucluster/bench/model.py").stdout.strip() == "644"
    wait_idle(cluster)


@needs_torch
def test_validate_names_a_node_with_another_torch(cluster, outputs):
    version_file = "/opt/pytorch/lib/python3.11/site-packages/torch/version.py"
    cluster.run("node1", f"sed -i \"s/^__version__ = .*/__version__ = '2.12.0+cpu'/\" {version_file}")
    result = cluster.deploy(deploy_file="validate.py")
    outputs.append(result.output)
    assert result.returncode != 0
    checks = report(result.output)
    assert checks["PyTorch everywhere"][0] == "FAIL"
    assert "node1 has torch 2.12.0+cpu, expected 2.13.0" in checks["PyTorch everywhere"][1]
    assert checks["DDP training"] == ("SKIP", "needs: PyTorch everywhere")
    healed = cluster.deploy()
    assert healed.changed()["PyTorch | Install torch 2.13.0 and numpy"] == ["node1"]
    again = cluster.deploy(deploy_file="validate.py")
    assert again.returncode == 0, again.output[-3000:]


def test_every_task_gets_the_wired_interface_for_nccl_and_gloo(cluster):
    per_task = "\\$(hostname) \\$NCCL_SOCKET_IFNAME \\$GLOO_SOCKET_IFNAME \\$NCCL_IB_DISABLE"
    out = as_admin(cluster, f'srun -N3 --ntasks-per-node=1 sh -c "echo {per_task}"')
    rows = sorted(out.stdout.split("\n"))[1:]
    for row, (node, ip) in zip(rows, cluster.nodes.items(), strict=True):
        iface = cluster.run(node, f"ip -o -4 addr show | awk '$4 ~ \"^{ip}/\" {{print $2}}'").stdout.strip()
        assert iface
        assert row.split() == [node, f"={iface}", iface, "1"]


def copy_to_every_node(rig, source: Path, dest: str) -> None:
    """Put a file at the same path on every node, as a shared directory would (the rig has none)."""
    for node in NODES:
        rig.run(node, f"cat > {dest} && chown {rig.admin_user}: {dest}", stdin=source.read_text())


def run_batch(rig, command: str, timeout=240) -> tuple[str, str]:
    job = as_admin(rig, f"cd ~ && sbatch --parsable {command}").stdout.strip()
    deadline = time.time() + timeout
    while rig.run("node0", f"squeue -h -j {job}").stdout.strip():
        assert time.time() < deadline, rig.run("node0", "squeue").stdout
        time.sleep(1)
    state = rig.run("node0", f"scontrol -o show job {job}").stdout
    return job, state


@needs_torch
def test_ddp_script_runs_a_tutorial_style_training_script_with_its_own_arguments(cluster):
    home = f"/home/{cluster.admin_user}"
    copy_to_every_node(cluster, DATA / "multinode.py", f"{home}/multinode.py")
    as_admin(cluster, "rm -f ~/snapshot.pt ~/ddp-*.out")
    job, state = run_batch(cluster, "/opt/gpucluster/jobs/ddp.sbatch multinode.py 4 2 --batch_size 64")
    out = as_admin(cluster, f"cat ~/ddp-{job}.out").stdout
    assert "JobState=COMPLETED" in state, (state, out[-3000:])
    for rank in range(3):
        assert f"[GPU{rank}] Epoch 3 | Batchsize: 64 | Steps: 11" in out, out[-2000:]
    assert "Epoch 2 | Training snapshot saved at snapshot.pt" in out

    # The next run resumes from the snapshot; rank 0 wrote it on node0, so hand it to the others.
    snapshot = cluster.run("node0", f"base64 -w0 {home}/snapshot.pt").stdout
    for node in ("node1", "node2"):
        cluster.run(node, f"base64 -d > {home}/snapshot.pt", stdin=snapshot)
    job, state = run_batch(cluster, "/opt/gpucluster/jobs/ddp.sbatch multinode.py 6 2 --batch_size 64")
    out = as_admin(cluster, f"cat ~/ddp-{job}.out").stdout
    assert "JobState=COMPLETED" in state, (state, out[-3000:])
    assert out.count("Resuming training from snapshot at Epoch 2") == 3
    assert "[GPU0] Epoch 1 " not in out and "[GPU2] Epoch 5 " in out


@needs_torch
def test_pytorch_slurm_example_launch_pattern_works(cluster):
    home = f"/home/{cluster.admin_user}"
    copy_to_every_node(cluster, DATA / "sbatch_run.sh", f"{home}/sbatch_run.sh")
    job, state = run_batch(cluster, "sbatch_run.sh /opt/gpucluster/jobs/examples/train_ddp.py --steps 20")
    out = as_admin(cluster, f"cat ~/multinode-example-{job}.out").stdout
    assert "JobState=COMPLETED" in state, (state, out[-3000:])
    assert f"Node IP: {cluster.nodes['node0']}" in out
    ranks = [line for line in out.splitlines() if line.startswith('{"rank"')]
    assert len(ranks) == 3 and all('"identical": true' in r for r in ranks), out[-2000:]


def test_experiment_array_runs_one_gpu_per_task_across_all_nodes(cluster):
    script = f"/home/{cluster.admin_user}/experiment.py"
    code = "import os, time; time.sleep(3); print('task', os.environ['SLURM_ARRAY_TASK_ID'], 'done')\n"
    for node in NODES:
        cluster.run(node, f"cat > {script}", stdin=code)
    as_admin(cluster, "rm -f ~/experiment-*.out")
    job, _ = run_batch(cluster, f"--array=0-5 /opt/gpucluster/jobs/experiments.sbatch {script}")
    outputs = {
        node: as_admin(cluster, "cat ~/experiment-*.out 2>/dev/null", node, check=False).stdout
        for node in NODES
    }
    done = sorted(int(m) for text in outputs.values() for m in re.findall(r"task (\d+) done", text))
    assert done == list(range(6))
    assert all("CUDA_VISIBLE_DEVICES=0" in text for text in outputs.values() if text)
    assert sum(1 for text in outputs.values() if "done" in text) == 3  # every node took tasks
