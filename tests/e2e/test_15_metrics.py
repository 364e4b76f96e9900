"""Metrics (steps/metrics.py): Prometheus on node0 scrapes every node's exporters and the web view's
Slurm figures, each series labelled with its node; every exporter listens on the cluster address only.

The rig has no GPU driver, so NVML is absent and the GPU exporter answers gpucluster_gpu_nvml_up 0
on every node: its readings of a card are tests/unit/test_metrics.py's, on an RTX 5090's values.
Queries go to Prometheus's HTTP API from this machine, which is on the rig's subnet.
"""

from __future__ import annotations

import json
import urllib.parse
import urllib.request

from test_07_faults import submit, wait_for

NODES = {"node0", "node1", "node2"}
INTERVAL = 15  # the default scrape interval, which the rig keeps


def api(rig, path: str, **params) -> dict:
    url = f"http://{rig.nodes['node0']}:9090/api/v1/{path}?{urllib.parse.urlencode(params)}"
    with urllib.request.urlopen(url, timeout=10) as response:
        answer = json.loads(response.read())
    assert answer["status"] == "success", answer
    return answer["data"]


def per_node(rig, query: str) -> dict[str, float]:
    """The query's result, one value per node; fails if a node has two series."""
    result = api(rig, "query", query=query)["result"]
    nodes = [r["metric"].get("node") for r in result]
    assert len(nodes) == len(set(nodes)), f"{query}: more than one series per node: {result}"
    return {r["metric"]["node"]: float(r["value"][1]) for r in result}


def targets(rig) -> set[tuple[str, str, str]]:
    return {
        (t["labels"]["job"], t["labels"]["node"], t["health"]) for t in api(rig, "targets")["activeTargets"]
    }


def test_prometheus_scrapes_every_exporter_of_every_node(second_deploy, rig):
    want = {("prometheus", "node0"), ("slurm", "node0")}
    want |= {(job, node) for job in ("node", "gpu") for node in NODES}
    found = wait_for(
        lambda: (lambda t: t if {(j, n) for j, n, h in t if h == "up"} == want else None)(targets(rig)),
        3 * INTERVAL,
        f"every target up: {want}",
    )
    assert {(j, n) for j, n, _ in found} == want  # and nothing else
    assert api(rig, "status/flags")["storage.tsdb.retention.time"] == "90d"


def test_every_metric_family_has_one_series_per_node(second_deploy, rig):
    wait_for(lambda: len(per_node(rig, "gpucluster_slurm_node_gpus")) == 3, 3 * INTERVAL, "Slurm's figures")
    memory = per_node(rig, "node_memory_MemAvailable_bytes")
    assert set(memory) == NODES and all(v > 0 for v in memory.values())
    assert set(per_node(rig, 'sum by (node) (node_cpu_seconds_total{mode="idle"})')) == NODES
    assert set(per_node(rig, 'node_filesystem_avail_bytes{mountpoint="/"}')) == NODES
    # the wired link alone: one interface per node, the one that holds its cluster address
    wired = api(rig, "query", query="node_network_receive_bytes_total")["result"]
    assert sorted((r["metric"]["node"], r["metric"]["device"]) for r in wired) == [
        (n, "eth0") for n in sorted(NODES)
    ]
    assert per_node(rig, "gpucluster_gpu_nvml_up") == dict.fromkeys(NODES, 0.0)  # no driver here
    assert per_node(rig, "gpucluster_slurm_node_gpus") == dict.fromkeys(NODES, 1.0)
    states = api(rig, "query", query="gpucluster_slurm_node_state")["result"]
    assert sorted((r["metric"]["node"], r["metric"]["state"]) for r in states) == [
        (n, "IDLE") for n in sorted(NODES)
    ]


def test_a_running_job_shows_in_slurms_figures(second_deploy, rig):
    job_id = submit(rig, '--gres=gpu:1 -w node1 -o /dev/null --wrap "sleep 60"')
    try:
        wait_for(
            lambda: per_node(rig, "gpucluster_slurm_node_gpus_allocated").get("node1") == 1.0,
            3 * INTERVAL,
            "node1's GPU allocated in Prometheus",
        )
        held = api(rig, "query", query="gpucluster_slurm_user_gpus_allocated")["result"]
        assert [(r["metric"]["user"], r["value"][1]) for r in held] == [(rig.admin_user, "1")]
    finally:
        rig.run("node0", f"scancel {job_id}")


def test_exporters_listen_on_the_cluster_address_only(second_deploy, rig):
    ports = {"node0": {9090, 9100, 9400, 8080}, "node1": {9100, 9400}, "node2": {9100, 9400}}
    for node, want in ports.items():
        listening = rig.run(node, "ss -Hltn").stdout.split("\n")
        local = {line.split()[3] for line in listening if line.strip()}
        for port in want:
            assert {a for a in local if a.endswith(f":{port}")} == {f"{rig.nodes[node]}:{port}"}, (
                node,
                local,
            )
        connect = "import socket; socket.create_connection(('127.0.0.1', 9100), 2)"
        refused = rig.run(node, f'python3 -c "{connect}"', check=False)
        assert refused.returncode != 0 and "Connection refused" in refused.stderr
