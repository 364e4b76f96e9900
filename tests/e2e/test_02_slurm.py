"""Munge and Slurm on the rig: GRES, node lines from `slurmd -C`, scheduling, cgroup fencing, restarts.

Stand-in used here: the rig has no GPU, so `fake_gpu_devices` (tests/rig/group_data/all.py) makes
/dev/nvidia0 a character device with NVIDIA's major number and no driver behind it. slurmd loads
gres.conf against it and the device cgroup fences it; opening it where allowed gives ENXIO (no
driver), where denied EPERM. Everything else (munged, slurmctld, slurmd, cgroups) is real.
"""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from rig import RIG

from facts.slurm import SlurmdHardware, SlurmVersion
from runbooks.remote import wait_for

ROOT = Path(__file__).resolve().parents[2]
NODES = ("node0", "node1", "node2")


def as_admin(rig, command: str, node="node0", check=True):
    return rig.run(node, f"su - {rig.admin_user} -c {_quote(command)}", check=check)


def _quote(text: str) -> str:
    return "'" + text.replace("'", "'\"'\"'") + "'"


@pytest.fixture(scope="module")
def cluster(second_deploy, rig):
    """The deployed rig, once every node has registered with slurmctld."""
    expected = {f"{node} idle gpu:{RIG.spec().gpu_type}:1" for node in NODES}

    def registered():
        out = rig.run("node0", "sinfo -N -h -o '%N %T %G'", check=False).stdout
        return set(out.split("\n")) - {""} == expected

    assert wait_for(registered, 90), rig.run(
        "node0", "sinfo -N; tail -20 /var/log/slurm/slurmctld.log"
    ).stdout
    return rig


def test_sinfo_shows_every_node_idle_with_one_gpu(cluster):
    lines = cluster.run("node0", "sinfo -N -h -o '%N %T %G %P'").stdout.split("\n")
    assert sorted(line for line in lines if line) == [
        f"{node} idle gpu:rtx5090:1 {RIG.spec().slurm_partition}*" for node in NODES
    ]


def test_node_lines_agree_with_slurmd_c_and_the_margin(cluster):
    margin = RIG.spec().slurm_memory_margin
    for node in NODES:
        found = dict(f.split("=", 1) for f in cluster.run(node, "slurmd -C").stdout.split("\n")[0].split())
        shown = dict(
            f.split("=", 1)
            for f in cluster.run("node0", f"scontrol -o show node {node}").stdout.split()
            if "=" in f
        )
        assert shown["CPUTot"] == found["CPUs"]
        assert shown["CoresPerSocket"] == found["CoresPerSocket"]
        assert shown["ThreadsPerCore"] == found["ThreadsPerCore"]
        reserve = RIG.spec().slurm_controller_reserve if node == "node0" else 0
        assert int(shown["RealMemory"]) == int(int(found["RealMemory"]) * (1 - margin) * (1 - reserve))
        assert int(shown["RealMemory"]) < int(found["RealMemory"])


def test_configs_are_identical_on_every_node(cluster):
    for name in ("slurm.conf", "gres.conf", "cgroup.conf"):
        sums = {cluster.run(node, f"sha256sum /etc/slurm/{name}").stdout.split()[0] for node in NODES}
        assert len(sums) == 1, name
    gres = cluster.run("node0", "grep -v '^#' /etc/slurm/gres.conf").stdout.split("\n")
    assert [line for line in gres if line] == [
        f"NodeName={node} Name=gpu Type=rtx5090 File=/dev/nvidia0" for node in NODES
    ]


def test_munge_key_is_one_key_owned_and_protected(cluster, outputs):
    sums = {cluster.run(node, "sha256sum /etc/munge/munge.key").stdout.split()[0] for node in NODES}
    assert len(sums) == 1
    for node in NODES:
        assert (
            cluster.run(node, "stat -c '%U:%G %a' /etc/munge/munge.key").stdout.strip() == "munge:munge 400"
        )
    key = cluster.run("node0", "base64 -w0 /etc/munge/munge.key").stdout.strip()
    raw = base64.b64decode(key)
    for output in outputs:
        for secret in (key, key[:24], raw.hex()[:32]):
            assert secret not in output


def test_munge_round_trip_between_all_nine_ordered_pairs(cluster):
    for source in NODES:
        for target in NODES:
            credential = cluster.run(source, "munge -n").stdout.strip()
            decoded = cluster.run(target, "unmunge", stdin=credential + "\n", check=False).stdout
            assert "STATUS:          Success (0)" in decoded, (source, target, decoded)


def test_validate_checks_munge_and_names_a_node_with_a_wrong_key(cluster, outputs):
    ok = cluster.deploy(deploy_file="validate.py")
    assert ok.returncode == 0, ok.output[-3000:]
    cluster.run("node2", "cp -a /etc/munge/munge.key /root/munge.key.good")
    cluster.run("node2", "head -c 1024 /dev/urandom > /etc/munge/munge.key && systemctl restart munge")
    try:
        bad = cluster.deploy(deploy_file="validate.py")
        outputs.append(bad.output)
        assert bad.returncode != 0
        for pair in ("node0 -> node2", "node1 -> node2", "node2 -> node0", "node2 -> node1"):
            assert f"{pair}: unmunge: Error: Invalid credential" in bad.output
        assert "node0 -> node1" not in bad.output
        healed = cluster.deploy()
        outputs.append(healed.output)
        assert healed.changed()["Munge | Copy the controller's munge key"] == ["node2"]
        assert healed.changed()["Munge | Restart munged for its new key"] == ["node2"]
        assert healed.changed()["Slurm | Restart slurmd to register with the new munge key"] == ["node2"]
    finally:
        cluster.run("node2", "cp -a /root/munge.key.good /etc/munge/munge.key && systemctl restart munge")
    # slurmctld may have set node2 DOWN while it could not authenticate; its restarted slurmd registers
    idle = wait_for(lambda: cluster.run("node0", "sinfo -h -N -o %T").stdout.split() == ["idle"] * 3, 60)
    assert idle, cluster.run("node0", "sinfo -N; sinfo -R; tail -20 /var/log/slurm/slurmctld.log").stdout
    runs = []  # node2's slurmd may need a minute to register again after its munge restarts

    def validated():
        runs.append(cluster.deploy(deploy_file="validate.py"))
        return runs[-1].returncode == 0

    assert wait_for(validated, 240), runs[-1].output[-3000:]


def test_a_munge_key_written_after_slurmd_started_restarts_slurmd_on_the_next_run(cluster, outputs):
    """As a run stopped after it wrote node1's new key and restarted munged, before slurmd."""
    started = "systemctl show -p ActiveEnterTimestampMonotonic --value slurmd"
    cluster.run("node1", "touch /etc/munge/munge.key && systemctl restart munge")
    before = {node: cluster.run(node, started).stdout for node in NODES}
    again = cluster.deploy()
    outputs.append(again.output)
    assert again.returncode == 0, again.output[-3000:]
    assert again.changed() == {"Slurm | Restart slurmd to register with the new munge key": ["node1"]}
    assert [node for node in NODES if cluster.run(node, started).stdout != before[node]] == ["node1"]
    assert cluster.deploy().changed() == {}
    idle = wait_for(lambda: cluster.run("node0", "sinfo -h -N -o %T").stdout.split() == ["idle"] * 3, 60)
    assert idle, cluster.run("node0", "sinfo -N; sinfo -R").stdout


def test_three_gpu_jobs_run_at_once_on_three_nodes_and_a_fourth_waits(cluster):
    ids = [
        as_admin(cluster, "sbatch --parsable --gres=gpu:1 -o /dev/null --wrap 'sleep 300'").stdout.strip()
        for _ in range(4)
    ]
    try:

        def states():
            out = cluster.run("node0", f"squeue -h -j {','.join(ids)} -o '%i %T %N %r'").stdout
            rows = {row.split()[0]: row.split()[1:] for row in out.strip().split("\n") if row}
            # the fourth reads "Priority" while one of the three still waited when it was looked
            # at; a later scheduling pass gives it its settled reason
            settled = rows.get(ids[3], [""])[-1] == "Resources"
            return rows if settled and sum(r[0] == "RUNNING" for r in rows.values()) == 3 else None

        rows = wait_for(states, 150)
        assert rows, cluster.run("node0", f"squeue -j {','.join(ids)} -o '%i %T %N %r'").stdout
        running = [r for r in rows.values() if r[0] == "RUNNING"]
        assert sorted(r[1] for r in running) == list(NODES)
        assert rows[ids[3]] == ["PENDING", "Resources"]
    finally:
        cluster.run("node0", f"scancel {' '.join(ids)}")


def test_gpu_job_sees_its_gpu_and_a_job_without_one_is_denied(cluster):
    with_gpu = as_admin(
        cluster,
        "srun --gres=gpu:1 -w node1 sh -c 'echo CVD=$CUDA_VISIBLE_DEVICES; cat /dev/nvidia0'",
        check=False,
    )
    assert "CVD=0" in with_gpu.stdout
    assert "No such device or address" in with_gpu.stderr  # allowed by the cgroup; no driver behind it
    without = as_admin(
        cluster, "srun -w node1 sh -c 'echo CVD=$CUDA_VISIBLE_DEVICES; cat /dev/nvidia0'", check=False
    )
    assert "CVD=\n" in without.stdout
    assert "Operation not permitted" in without.stderr  # denied by the device cgroup


def daemon_identity(rig) -> dict[str, str]:
    """PID and start time of slurmctld and every slurmd."""
    probe = "systemctl show -p MainPID -p ExecMainStartTimestamp --value {}"
    result = {"slurmctld": rig.run("node0", probe.format("slurmctld")).stdout}
    result |= {f"slurmd@{node}": rig.run(node, probe.format("slurmd")).stdout for node in NODES}
    assert all(value.split("\n")[0] not in ("", "0") for value in result.values()), result
    return result


def test_tunable_change_applies_and_a_no_change_run_restarts_nothing(cluster, outputs, tmp_path):
    options = {"MessageTimeout": 25}  # the rig's SlurmdTimeout too goes back to the default
    (tmp_path / "all.py").write_text(f"slurm_options = {options!r}\n")
    changed = cluster.deploy("--group-data", str(tmp_path))
    outputs.append(changed.output)
    assert changed.returncode == 0, changed.output[-3000:]
    config = cluster.run("node0", "scontrol show config").stdout
    assert "MessageTimeout          = 25 sec" in config

    before = daemon_identity(cluster)
    again = cluster.deploy("--group-data", str(tmp_path))
    outputs.append(again.output)
    assert again.returncode == 0
    assert again.changed() == {}
    assert again.results["results"]["totals"]["success"] == 0
    assert daemon_identity(cluster) == before

    restored = cluster.deploy()
    outputs.append(restored.output)
    assert restored.returncode == 0
    assert "MessageTimeout          = 10 sec" in cluster.run("node0", "scontrol show config").stdout


def show(rig, kind: str, name: str) -> dict[str, str]:
    out = rig.run("node0", f"scontrol -o show {kind} {name}").stdout
    return dict(field.split("=", 1) for field in out.split() if "=" in field)


def megabytes(size: str) -> float:
    return float(size[:-1]) * {"M": 1, "G": 1024, "T": 1024**2}[size[-1]]


def test_a_gpu_job_that_asks_for_nothing_else_gets_its_gpus_share_of_the_node(cluster):
    """DefCpuPerGPU and DefMemPerGPU: not one core (ConstrainCores) and one CPU's memory, but the
    share of a node's CPUs and memory that every GPU node can give; node0 keeps its reserve."""
    job = as_admin(cluster, "sbatch --parsable --gres=gpu:1 -w node1 -o /dev/null --wrap 'sleep 120'")
    job = job.stdout.strip()
    try:
        running = wait_for(lambda: show(cluster, "job", job).get("JobState") == "RUNNING", 60)
        assert running, show(cluster, "job", job)
        nodes = {node: show(cluster, "node", node) for node in NODES}
        reserve = RIG.spec().slurm_controller_reserve
        cpus = min(
            int(n["CPUTot"]) - (int(int(n["CPUTot"]) * reserve) if name == "node0" else 0)
            for name, n in nodes.items()
        )
        fields = show(cluster, "job", job)
        assert int(fields["NumCPUs"]) == cpus == int(nodes["node1"]["CPUTot"])  # all of node1's 2 here
        tres = dict(item.split("=", 1) for item in fields.get("AllocTRES", fields.get("TRES", "")).split(","))
        memory = min(int(n["RealMemory"]) for n in nodes.values())  # node0's, less its reserve
        assert int(nodes["node0"]["RealMemory"]) < int(nodes["node1"]["RealMemory"])
        assert abs(megabytes(tres["mem"]) - memory) <= memory * 0.01, (tres, memory)
        assert tres["gres/gpu"] == "1"
    finally:
        cluster.run("node0", f"scancel {job}")


STANDIN = "HWLOC_XMLFILE=/root/core-ultra-9-285k.xml HWLOC_THISSYSTEM=1"


def slurmd_sees(rig, node: str, allow_ecores: bool = True) -> str:
    """What a slurmd started with the stand-in topology and the deployed configuration counts (its
    debug line). A copy of /etc/slurm points it at no controller, so it never registers."""
    probe = "/root/slurmd-probe"
    edits = "-e 's/^SlurmctldHost=.*/SlurmctldHost=nowhere(127.0.0.1)/'"
    edits += " -e 's/^SlurmctldPort=.*/SlurmctldPort=6899/'"
    edits += "" if allow_ecores else " -e '/^SlurmdParameters=/d'"
    rig.run(node, f"rm -rf {probe} && cp -r /etc/slurm {probe} && sed -i {edits} {probe}/slurm.conf")
    out = rig.run(
        node, f"{STANDIN} timeout 8 slurmd -D -vv -N {node} -f {probe}/slurm.conf 2>&1", check=False
    )
    return next(
        (line.split("CPUs:", 1)[1] for line in out.stdout.splitlines() if "CPUs:" in line), out.stdout[-600:]
    )


def test_a_hybrid_cpu_is_discovered_and_scheduled_with_every_core(cluster):
    """Stand-in: the rig's CPUs are not hybrid, so node2 is given a constructed hwloc topology of a
    Core Ultra 9 285K (tests/rig/data/core-ultra-9-285k.xml: one package, 8 IntelCore + 16 IntelAtom
    cores, no SMT), which hwloc loads in place of the machine's (HWLOC_XMLFILE) for slurmd and hwloc.
    No job runs on those cores: the container has 2 CPUs, so a cpuset of 24 could not be applied."""
    topology = (ROOT / "tests" / "rig" / "data" / "core-ultra-9-285k.xml").read_text()
    cluster.run("node2", "cat > /root/core-ultra-9-285k.xml", stdin=topology)
    version = SlurmVersion().process(cluster.run("node2", "slurmd -V").stdout.splitlines())
    # What node lines were made of before: `slurmd -C` leaves the E-cores out from Slurm 23.02
    slurmd_c = cluster.run("node2", f"{STANDIN} slurmd -C").stdout
    assert ("CPUs=8 " if version >= (23, 2) else "CPUs=24 ") in slurmd_c, slurmd_c
    # What the deploy reads now (the same fact, on the node, with the stand-in): every core
    fact = SlurmdHardware()
    found = fact.process(
        cluster.run("node2", f"{STANDIN} sh -c {_quote(fact.command())}").stdout.splitlines()
    )
    assert found["hwloc"] == {"packages": 1, "cores": 24, "pus": 24}
    (line,) = [n for n in RIG.spec().slurm_nodes({n: found for n in NODES}) if n.name == "node2"]
    assert (line.cpus, line.sockets_per_board, line.cores_per_socket, line.threads_per_core) == (24, 1, 24, 1)
    # The running slurmd agrees: with the deployed slurm.conf it counts all 24; without
    # allow_ecores, Slurm 24.11 would count 8 and a 24-CPU node line would drain the node.
    cluster.run("node2", "systemctl stop slurmd")
    try:
        assert slurmd_sees(cluster, "node2").startswith(
            "24 Boards:1 Sockets:1 CoresPerSocket:24 ThreadsPerCore:1"
        )
        without = slurmd_sees(cluster, "node2", allow_ecores=False)
        assert without.startswith("8 " if version >= (23, 2) else "24 "), without
    finally:
        cluster.run("node2", "rm -f /var/lib/slurm/slurmd/hwloc_topo_*.xml; systemctl start slurmd")
    idle = wait_for(lambda: show(cluster, "node", "node2").get("State") == "IDLE", 120)
    assert idle, show(cluster, "node", "node2")
