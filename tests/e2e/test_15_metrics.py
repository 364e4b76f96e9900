"""Metrics (steps/metrics.py): Prometheus on node0 scrapes every node's exporters and the web view's
Slurm figures, each series labelled with its node; every exporter listens on the cluster address only.

Stand-in: the rig has no GPU and no driver; its image carries a stand-in NVML
(tests/rig/data/fake-nvml.c) that answers for each stand-in /dev/nvidiaN as an RTX 5090, idle unless
a job writes how busy it is to /run/gpucluster-fake-gpu/nvidiaN. Everything else is real: the GPU
exporter through NVIDIA's pynvml, Prometheus, the node exporters, the web view's Slurm figures and
the per-job join. Queries go to Prometheus's HTTP API from this machine, on the rig's subnet.
"""

from __future__ import annotations

import json
import re
import threading
import time
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from test_07_faults import job, node_state, submit, wait_for
from test_10_rest_web import ARTIFACTS, chromium
from test_14_health import FAKE_GPUS

NODES = {"node0", "node1", "node2"}
INTERVAL = 5  # the rig's scrape interval (tests/rig/group_data/all.py; 15 s by default)
WAIT = 30  # for what takes a scrape or two, with the web view's 5 s cache and a busy 2-core machine


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
        2 * WAIT,
        f"every target up: {want}",
    )
    assert {(j, n) for j, n, _ in found} == want  # and nothing else
    assert api(rig, "status/flags")["storage.tsdb.retention.time"] == "90d"


def test_every_metric_family_has_one_series_per_node(second_deploy, rig):
    wait_for(lambda: len(per_node(rig, "gpucluster_slurm_node_gpus")) == 3, WAIT, "Slurm's figures")
    memory = per_node(rig, "node_memory_MemAvailable_bytes")
    assert set(memory) == NODES and all(v > 0 for v in memory.values())
    assert set(per_node(rig, 'sum by (node) (node_cpu_seconds_total{mode="idle"})')) == NODES
    # the rig's / is Docker's overlay, which the exporter leaves out as it does every virtual file
    # system (the real nodes' / is ext4); its files bound from the build machine's disk stand in
    assert set(per_node(rig, "sum by (node) (node_filesystem_avail_bytes)")) == NODES
    # the wired link alone: one interface per node, the one that holds its cluster address
    wired = api(rig, "query", query="node_network_receive_bytes_total")["result"]
    assert sorted((r["metric"]["node"], r["metric"]["device"]) for r in wired) == [
        (n, "eth0") for n in sorted(NODES)
    ]
    for family in (
        "nvml_up",
        "info",
        "utilization_ratio",
        "memory_used_bytes",
        "temperature_celsius",
        "power_watts",
    ):
        assert set(per_node(rig, f"gpucluster_gpu_{family}")) == NODES, family
    assert per_node(rig, "gpucluster_gpu_nvml_up") == dict.fromkeys(NODES, 1.0)
    assert per_node(rig, "gpucluster_gpu_memory_total_bytes") == dict.fromkeys(NODES, 32607.0 * 2**20)
    assert per_node(rig, "gpucluster_slurm_node_gpus") == dict.fromkeys(NODES, 1.0)

    def states():
        found = api(rig, "query", query="gpucluster_slurm_node_state")["result"]
        return sorted((r["metric"]["node"], r["metric"]["state"]) for r in found)

    # a node the previous test drained and resumed shows IDLE after the next scrape of the web view
    idle = [(n, "IDLE") for n in sorted(NODES)]
    assert wait_for(lambda: states() == idle, WAIT, "every node IDLE in Slurm's figures")


def test_a_running_job_shows_in_slurms_figures(second_deploy, rig):
    job_id = submit(rig, '--gres=gpu:1 -w node1 -o /dev/null --wrap "sleep 60"')
    try:
        wait_for(
            lambda: per_node(rig, "gpucluster_slurm_node_gpus_allocated").get("node1") == 1.0,
            WAIT,
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


def test_a_finished_jobs_gpu_use_is_joined_and_a_gpu_held_idle_is_marked(second_deploy, rig):
    """Two one-GPU jobs of 30 s: one keeps its (stand-in) GPU 90% busy, the other holds it idle."""
    load = "/run/gpucluster-fake-gpu/nvidia\\$SLURM_JOB_GPUS"
    busy = submit(
        rig, f'--gres=gpu:1 -w node1 -o /dev/null --wrap "echo 90 20000 > {load}; sleep 30; rm {load}"'
    )
    idle = submit(rig, '--gres=gpu:1 -w node2 -o /dev/null --wrap "sleep 30"')
    wait_for(
        lambda: all(job(rig, i).get("JobState") == "COMPLETED" for i in (busy, idle)),
        90,
        "the two jobs",
        rig,
    )
    time.sleep(2 * INTERVAL + 2)  # the readings of their last seconds are scraped

    def jobstats(job_id, node):
        shown = rig.run("node0", f"su - {rig.admin_user} -c 'gpucluster-jobstats {job_id}'", check=False)
        assert shown.returncode == 0, shown.stderr
        (row,) = [line.split()[2:] for line in shown.stdout.splitlines() if line.startswith(f"{node} gpu0")]
        return shown.stdout, row  # util mean, peak, idle share, memory mean, GiB, peak, GiB

    shown, row = jobstats(busy, "node1")
    assert int(row[0].rstrip("%")) >= 80 and row[1:3] == ["90%", "0%"] and row[5] == "19.5", shown
    assert "MARKED" not in shown
    shown, row = jobstats(idle, "node2")
    assert row[:3] == ["0%", "0%", "100%"] and row[5] == "0.0", shown
    assert "MARKED: its GPUs were under 10% busy for 100% of the run." in shown

    def history():
        with urllib.request.urlopen(f"http://{rig.nodes['node0']}:8080/api/state", timeout=10) as response:
            rows = json.loads(response.read())["model"]["history"]
        use = {str(r["id"]): r.get("gpu_use") for r in rows}
        return use if use.get(busy) and use.get(idle) else None

    use = wait_for(history, WAIT, "the web view's history to show both jobs' GPU use")
    assert (use[busy]["marked"], use[idle]["marked"]) == (False, True)


def test_the_web_views_charts_render_in_a_browser(second_deploy, rig):
    """Headless chromium draws the page; the three charts are in its DOM, one line per node where the
    chart is per node. Screenshot: tests/e2e/artifacts/webview-charts-SUITE.png."""
    url = f"http://{rig.nodes['node0']}:8080/"
    dom = chromium(url, ARTIFACTS / f"webview-charts-{rig.suite}.png", height=2400)
    for chart in ("gpu-util", "gpu-temp"):
        drawn = dom.split(f'<svg id="chart-{chart}"')[1].split("</svg>")[0]
        assert {f'data-name="{n}"' for n in NODES} <= set(re.findall(r'data-name="[^"]+"', drawn)), chart
    occupancy = dom.split('<svg id="chart-occupancy"')[1].split("</svg>")[0]
    assert "<polyline" in occupancy or "<circle" in occupancy  # a fresh rig has an hour or two
    assert "charts unavailable" not in dom
    assert (ARTIFACTS / f"webview-charts-{rig.suite}.png").stat().st_size > 10_000


def test_a_lost_gpu_raises_its_alert_and_the_rules_are_loaded(second_deploy, rig):
    """node2's stand-in GPU removed: NVML (the stand-in) answers for none, GpuLost goes pending for
    node2 alone. Alertmanager is off (the default): the rules are evaluated and shown all the same."""

    def rules():
        found = [(r["name"], r["health"]) for g in api(rig, "rules")["groups"] for r in g["rules"]]
        return found if all(health != "unknown" for _, health in found) else None  # not yet evaluated

    assert wait_for(rules, WAIT, "the rules' first evaluation") == [
        (name, "ok") for name in ("NodeDown", "GpuHot", "GpuLost", "DiskNearlyFull")
    ]
    wait_for(lambda: not api(rig, "alerts")["alerts"], WAIT, "no alert on a healthy cluster")
    rig.run("node2", "rm /dev/nvidia0")
    try:
        lost = wait_for(
            lambda: [a for a in api(rig, "alerts")["alerts"] if a["labels"]["alertname"] == "GpuLost"],
            WAIT,
            "the GpuLost alert",
        )
        assert [(a["labels"]["node"], a["state"]) for a in lost] == [("node2", "pending")]
    finally:
        rig.run("node2", FAKE_GPUS)
    wait_for(lambda: not api(rig, "alerts")["alerts"], WAIT, "the alert to end")
    wait_for(lambda: node_state(rig, "node2") == "idle", 60, "node2 back from its health check's drain", rig)


@pytest.mark.release_independent
def test_alertmanager_sends_to_the_webhook_in_group_data_and_goes_when_switched_off(second_deploy, rig):
    """A deploy with alerts on and a webhook on this machine (the rig's gateway): Prometheus finds
    Alertmanager, an alert given to Alertmanager reaches the webhook; the default deploy stops it."""
    received = []

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 (http.server's name)
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    gateway = rig.subnet_prefix + ".1"
    server = ThreadingHTTPServer((gateway, 0), Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    hook = f"http://{gateway}:{server.server_address[1]}/alerts"
    try:
        on = rig.deploy("--data", f'alerts={{"enabled": true, "webhook_url": "{hook}"}}')
        assert on.returncode == 0, on.output[-3000:]
        manager = f"{rig.nodes['node0']}:9093"
        wait_for(
            lambda: (
                [a["url"] for a in api(rig, "alertmanagers")["activeAlertmanagers"]]
                == [f"http://{manager}/api/v2/alerts"]
            ),
            WAIT,
            "Prometheus to find Alertmanager",
        )
        name = f"GpuclusterTest{int(time.time())}"  # new each run: Alertmanager remembers what it sent
        alert = [{"labels": {"alertname": name, "node": "node2"}, "annotations": {"summary": "a test"}}]
        request = urllib.request.Request(
            f"http://{manager}/api/v2/alerts",
            json.dumps(alert).encode(),
            {"Content-Type": "application/json"},
        )
        urllib.request.urlopen(request, timeout=10).close()
        wait_for(lambda: received, 2 * WAIT, "the alert at the webhook")
        assert [a["labels"]["alertname"] for a in received[0]["alerts"]] == [name]
    finally:
        server.shutdown()
        off = rig.deploy()
    assert off.returncode == 0, off.output[-3000:]
    assert any(name.endswith("Stop prometheus-alertmanager") for name in off.changed()), off.changed()
    assert ":9093 " not in rig.run("node0", "ss -Hltn").stdout
