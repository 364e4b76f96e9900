"""slurm.conf from the hardware facts: every core of a hybrid CPU, and what a GPU brings to a job.

The hardware is a Core Ultra 9 285K (8 P-cores + 16 E-cores, no SMT) as Slurm 24.11's `slurmd -C`
and hwloc report it under the rig's stand-in topology (tests/rig/data/core-ultra-9-285k.xml; the
same lines come from tests/e2e/test_02_slurm.py on the Debian 13 rig): slurmd -C says 8 CPUs.
"""

from __future__ import annotations

import pytest
from specs import build

from facts.slurm import SlurmdHardware
from model.slurm_conf import HEALTH_CHECK, config_context
from model.spec import ClusterSpec
from operations.render import render

HYBRID = [  # slurmd -C (Slurm 24.11), then the hwloc line of SlurmdHardware's command
    "NodeName=node1 CPUs=8 Boards=1 SocketsPerBoard=1 CoresPerSocket=8 ThreadsPerCore=1 RealMemory=128530",
    "UpTime=0-01:02:03",
    "hwloc 1 24 24",
]


@pytest.fixture
def spec(key) -> ClusterSpec:
    return build(key)


def slurm_conf(spec: ClusterSpec) -> list[str]:
    hardware = {name: SlurmdHardware().process(HYBRID) for name in ("node0", "node1", "node2")}
    return render("slurm.conf.j2", **config_context(spec, spec.slurm_nodes(hardware), (23, 11))).splitlines()


def test_the_fact_keeps_slurmds_view_and_hwlocs_count():
    assert SlurmdHardware().process(HYBRID) == {
        "CPUs": 8,
        "Boards": 1,
        "SocketsPerBoard": 1,
        "CoresPerSocket": 8,
        "ThreadsPerCore": 1,
        "RealMemory": 128530,
        "hwloc": {"packages": 1, "cores": 24, "pus": 24},
    }
    assert SlurmdHardware().process(HYBRID[:2]) is None  # no hwloc-calc yet: asked again later
    assert SlurmdHardware().process(["hwloc 1 24 24"]) is None


def test_node_lines_describe_all_24_cores_and_slurmd_is_told_to_use_them(spec):
    lines = slurm_conf(spec)
    node1 = next(line for line in lines if line.startswith("NodeName=node1 "))
    assert "CPUs=24 Boards=1 SocketsPerBoard=1 CoresPerSocket=24 ThreadsPerCore=1" in node1
    assert "SlurmdParameters=allow_ecores" in lines


def test_a_gpu_brings_its_share_of_cores_and_memory_and_the_controller_keeps_room(spec):
    lines = slurm_conf(spec)
    memory = {
        line.split()[0]: line.split("RealMemory=")[1].split()[0] for line in lines if "RealMemory=" in line
    }
    assert memory == {
        "NodeName=node0": str(int(128530 * 0.95 * 0.9)),  # 10% kept for slurmctld, slurmdbd, MariaDB, NFS
        "NodeName=node1": str(int(128530 * 0.95)),
        "NodeName=node2": str(int(128530 * 0.95)),
    }
    assert "DefCpuPerGPU=22" in lines  # 24 cores less node0's 2: the share every node can give
    assert f"DefMemPerGPU={int(128530 * 0.95 * 0.9)}" in lines
    assert f"DefMemPerCPU={int(128530 * 0.95 * 0.9) // 24}" in lines


def test_slurm_options_override_a_default_instead_of_repeating_it(key):
    options = {
        "DefCpuPerGPU": 8,
        "SlurmdParameters": "allow_ecores,l3cache_as_socket",
    }
    lines = slurm_conf(build(key, slurm_options=options))
    assert [line for line in lines if line.startswith("DefCpuPerGPU=")] == ["DefCpuPerGPU=8"]
    assert [line for line in lines if line.startswith("SlurmdParameters=")] == [
        "SlurmdParameters=allow_ecores,l3cache_as_socket"
    ]


def test_any_key_the_template_writes_is_replaced_in_place_or_left_out(key):
    options = {
        "returntoservice": 1,
        "MpiDefault": None,
        "PrologFlags": "Contain",
    }
    lines = slurm_conf(build(key, slurm_options=options))
    assert [line for line in lines if line.lower().startswith("returntoservice=")] == ["returntoservice=1"]
    assert not [line for line in lines if line.startswith("MpiDefault=")]
    assert "# MpiDefault: left out (slurm_options)" in lines
    assert lines.count("PrologFlags=Contain") == 1
    keys = [
        line.split("=")[0].lower() for line in lines if "=" in line and not line.startswith(("#", "NodeName"))
    ]
    assert len(keys) == len(set(keys)), "a key written twice"


def test_without_gpus_there_is_no_gpu_default(key):
    lines = slurm_conf(build(key, gpus_per_node=0))
    assert not [line for line in lines if "PerGPU=" in line]
    assert [line for line in lines if line.startswith("DefMemPerCPU=")]


def test_slurm_conf_names_the_health_check_only_when_it_is_on(key):
    lines = slurm_conf(build(key, health_check={"interval_s": 30}))
    assert lines[lines.index(f"HealthCheckProgram={HEALTH_CHECK}") + 1 :][:2] == [
        "HealthCheckInterval=30",
        "HealthCheckNodeState=ANY",
    ]
    off = slurm_conf(build(key, health_check={"enabled": False}))
    assert not [line for line in off if "HealthCheck" in line]
