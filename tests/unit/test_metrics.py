"""Metrics: the GPU exporter (exporters/gpu.py) on NVML answers of an RTX 5090, and the configuration
Prometheus and the node exporter get (steps/metrics.py's templates).

No NVML here (no GPU, no driver), and no NVML answers of a real RTX 5090 were recorded: FakeNvml
answers as pynvml does, with its function and error names, and with the values of the recorded
nvidia-smi line of an RTX 5090 (tests/unit/data/nvidia-smi-rtx5090-570.csv: driver 570.133.07,
32607 MiB, 4492 MiB used) and NVIDIA's figures for the card (575 W limit, no ECC on a GeForce).
The exporter's reading of a real card is checked on the real cluster (README, Metrics).
"""

from __future__ import annotations

import time
from types import SimpleNamespace

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families
from specs import build

from exporters import gpu as exporter
from model.spec import SpecError
from operations.render import render

MIB = 1024 * 1024


class NVMLError(Exception):
    pass


class FakeNvml:
    """pynvml's names, answering for RTX 5090s (index i has minor number i)."""

    NVMLError = NVMLError
    NVMLError_NotSupported = type("NVMLError_NotSupported", (NVMLError,), {})
    NVMLError_LibraryNotFound = type("NVMLError_LibraryNotFound", (NVMLError,), {})
    NVMLError_Timeout = type("NVMLError_Timeout", (NVMLError,), {})
    NVMLError_GpuIsLost = type("NVMLError_GpuIsLost", (NVMLError,), {})
    NVML_TEMPERATURE_GPU, NVML_CLOCK_SM, NVML_CLOCK_MEM = 0, 1, 2
    NVML_VOLATILE_ECC, NVML_MEMORY_ERROR_TYPE_CORRECTED, NVML_MEMORY_ERROR_TYPE_UNCORRECTED = 0, 0, 1
    nvmlEventTypeXidCriticalError = 0x8

    def __init__(self, gpus=1, library=True, ecc=False, xids=()):
        self.gpus, self.library, self.ecc = gpus, library, ecc
        self.xids = list(xids)  # (minor, xid) events, delivered one per wait
        self.lost = False

    def nvmlInit(self):  # noqa: N802 (pynvml's names)
        if not self.library:
            raise self.NVMLError_LibraryNotFound("NVML Shared Library Not Found")

    def nvmlSystemGetDriverVersion(self):  # noqa: N802
        return "570.133.07"

    def nvmlDeviceGetCount(self):  # noqa: N802
        return self.gpus

    def nvmlDeviceGetHandleByIndex(self, index):  # noqa: N802
        if self.lost:
            raise self.NVMLError_GpuIsLost("GPU is lost")
        return SimpleNamespace(minor=index)

    def nvmlDeviceGetMinorNumber(self, handle):  # noqa: N802
        return handle.minor

    def nvmlDeviceGetUUID(self, handle):  # noqa: N802
        return f"GPU-5090000{handle.minor}-0000-0000-0000-000000000000"

    def nvmlDeviceGetName(self, handle):  # noqa: N802
        return "NVIDIA GeForce RTX 5090"

    def nvmlDeviceGetUtilizationRates(self, handle):  # noqa: N802
        return SimpleNamespace(gpu=87, memory=41)

    def nvmlDeviceGetMemoryInfo(self, handle):  # noqa: N802
        return SimpleNamespace(total=32607 * MIB, used=4492 * MIB, free=27620 * MIB)

    def nvmlDeviceGetTemperature(self, handle, sensor):  # noqa: N802
        assert sensor == self.NVML_TEMPERATURE_GPU
        return 64

    def nvmlDeviceGetPowerUsage(self, handle):  # noqa: N802
        return 431250  # milliwatts

    def nvmlDeviceGetEnforcedPowerLimit(self, handle):  # noqa: N802
        return 575000

    def nvmlDeviceGetClockInfo(self, handle, clock):  # noqa: N802
        return {self.NVML_CLOCK_SM: 2617, self.NVML_CLOCK_MEM: 14001}[clock]

    def nvmlDeviceGetTotalEccErrors(self, handle, error_type, counter):  # noqa: N802
        if not self.ecc:
            raise self.NVMLError_NotSupported("Not Supported")
        return 3 if error_type == self.NVML_MEMORY_ERROR_TYPE_CORRECTED else 0

    def nvmlEventSetCreate(self):  # noqa: N802
        return object()

    def nvmlDeviceRegisterEvents(self, handle, types, events):  # noqa: N802
        assert types == self.nvmlEventTypeXidCriticalError

    def nvmlEventSetWait_v2(self, events, timeout_ms):  # noqa: N802
        if self.xids:
            minor, xid = self.xids.pop(0)
            return SimpleNamespace(device=SimpleNamespace(minor=minor), eventData=xid)
        time.sleep(0.01)
        raise self.NVMLError_Timeout("Timeout")


_STARTED: list = []


def collector_of(nvml) -> exporter.GpuCollector:
    _STARTED.append(exporter.GpuCollector(nvml))
    return _STARTED[-1]


@pytest.fixture(autouse=True)
def _stop_xid_listeners():
    """Each test's Xid listener threads end with it (a thread left running upsets pyinfra's gevent)."""
    yield
    while _STARTED:
        collector = _STARTED.pop()
        collector.stopping.set()
        if collector.listener:
            collector.listener.join(timeout=5)


def scrape(collector) -> dict:
    registry = CollectorRegistry()
    registry.register(collector)
    text = generate_latest(registry).decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_an_rtx_5090s_readings_in_base_units():
    samples = scrape(collector_of(FakeNvml()))
    gpu = (("gpu", "0"),)
    assert samples == {
        ("gpucluster_gpu_nvml_up", ()): 1,
        (
            "gpucluster_gpu_info",
            (
                ("driver", "570.133.07"),
                ("gpu", "0"),
                ("name", "NVIDIA GeForce RTX 5090"),
                ("uuid", "GPU-50900000-0000-0000-0000-000000000000"),
            ),
        ): 1,
        ("gpucluster_gpu_utilization_ratio", gpu): 0.87,
        ("gpucluster_gpu_memory_utilization_ratio", gpu): 0.41,
        ("gpucluster_gpu_memory_used_bytes", gpu): 4492 * MIB,
        ("gpucluster_gpu_memory_total_bytes", gpu): 32607 * MIB,
        ("gpucluster_gpu_temperature_celsius", gpu): 64,
        ("gpucluster_gpu_power_watts", gpu): 431.25,
        ("gpucluster_gpu_power_limit_watts", gpu): 575,
        ("gpucluster_gpu_sm_clock_hertz", gpu): 2617e6,
        ("gpucluster_gpu_memory_clock_hertz", gpu): 14001e6,
    }  # no ECC series: a GeForce card reports none (NotSupported), and none is sent as zero


def test_ecc_counts_where_the_card_has_ecc_and_one_series_set_per_gpu():
    samples = scrape(collector_of(FakeNvml(gpus=2, ecc=True)))
    assert samples[("gpucluster_gpu_ecc_errors_total", (("gpu", "1"), ("kind", "corrected")))] == 3
    assert samples[("gpucluster_gpu_ecc_errors_total", (("gpu", "0"), ("kind", "uncorrected")))] == 0
    assert {labels for name, labels in samples if name == "gpucluster_gpu_temperature_celsius"} == {
        (("gpu", "0"),),
        (("gpu", "1"),),
    }


def test_no_driver_is_nvml_up_0_and_the_next_scrape_tries_again():
    nvml = FakeNvml(library=False)
    collector = collector_of(nvml)
    assert scrape(collector) == {("gpucluster_gpu_nvml_up", ()): 0}
    nvml.library = True  # the driver is installed and loaded
    assert scrape(collector)[("gpucluster_gpu_nvml_up", ())] == 1


def test_a_gpu_lost_from_the_bus_is_nvml_up_0_not_a_failed_scrape():
    nvml = FakeNvml()
    collector = collector_of(nvml)
    scrape(collector)
    nvml.lost = True
    assert scrape(collector) == {("gpucluster_gpu_nvml_up", ()): 0}


def test_xid_events_are_counted_per_gpu_and_code():
    collector = collector_of(FakeNvml(gpus=2, xids=[(1, 79), (1, 79), (0, 13)]))
    collector.start()
    deadline = time.time() + 5
    while sum(collector.xids.values()) < 3 and time.time() < deadline:
        time.sleep(0.02)
    samples = scrape(collector)
    assert samples[("gpucluster_gpu_xid_errors_total", (("gpu", "1"), ("xid", "79")))] == 2
    assert samples[("gpucluster_gpu_xid_errors_total", (("gpu", "0"), ("xid", "13")))] == 1
    collector.stopping.set()
    collector.listener.join(timeout=5)
    assert not collector.listener.is_alive()


def test_prometheus_scrapes_every_node_by_name(key):
    spec = build(key)
    text = render("prometheus.yml.j2", spec=spec, metrics=spec.metrics, rules="/etc/prometheus/rules.yml")
    for i in range(3):
        assert f'- targets: ["10.20.0.1{i}:9100"]\n        labels: {{node: node{i}}}' in text
        assert f'- targets: ["10.20.0.1{i}:9400"]\n        labels: {{node: node{i}}}' in text
    assert '- targets: ["10.20.0.10:8080"]' in text  # the web view's Slurm figures
    assert "scrape_interval: 15s" in text and "evaluation_interval: 15s" in text
    assert "rule_files: [/etc/prometheus/rules.yml]" in text
    assert "alerting:" not in text  # alerts are off by default
    args = render("prometheus.j2", spec=spec, metrics=spec.metrics)
    assert "--web.listen-address=10.20.0.10:9090 " in args
    assert "--storage.tsdb.retention.time=90d" in args


def test_without_the_web_view_prometheus_has_no_slurm_target(key):
    spec = build(key, webview={"enabled": False})
    assert "job_name: slurm" not in render(
        "prometheus.yml.j2", spec=spec, metrics=spec.metrics, rules="/etc/prometheus/rules.yml"
    )


def test_the_node_exporter_listens_on_the_cluster_address_and_counts_the_wired_link(key):
    spec = build(key)
    node = spec.node("node1")
    args = render("prometheus-node-exporter.j2", metrics=spec.metrics, node=node, interface="enp5s0")
    assert "--web.listen-address=10.20.0.11:9100 --collector.netdev.device-include=^enp5s0$ " in args


def test_the_gpu_exporter_unit_listens_on_the_cluster_address(key):
    spec = build(key)
    unit = render(
        "gpucluster-gpu-exporter.service.j2",
        metrics=spec.metrics,
        node=spec.node("node2"),
        user="gpucluster-gpu",
        venv="/opt/gpucluster/gpu-exporter",
        app="/usr/local/lib/gpucluster/gpu_exporter.py",
    )
    assert "Environment=GPU_EXPORTER_LISTEN=10.20.0.12\n" in unit
    assert (
        "ExecStart=/opt/gpucluster/gpu-exporter/bin/python /usr/local/lib/gpucluster/gpu_exporter.py" in unit
    )


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"metrics": {"gpu_exporter_port": 8080}}, "webview and metrics['gpu_exporter_port'] both use 8080"),
        ({"metrics": {"prometheus_port": 6817}}, "slurmctld and metrics['prometheus_port'] both use 6817"),
        ({"metrics": {"retention": "90 days"}}, "retention"),
        ({"metrics": {"scrape_intervall_s": 5}}, "scrape_intervall_s"),
    ],
)
def test_metrics_settings_that_cannot_work_are_refused(key, settings, message):
    with pytest.raises(SpecError, match=message.replace("[", r"\[").replace("]", r"\]")):
        build(key, **settings)


def test_metrics_off_frees_their_ports(key):
    assert build(key, metrics={"enabled": False, "gpu_exporter_port": 8080}).webview.port == 8080


def test_alert_rules_name_the_settings_thresholds_and_keep_prometheus_templates(key):
    spec = build(key, alerts={"gpu_hot_celsius": 80, "disk_free_percent": 15})
    rules = render("gpucluster-alerts.yml.j2", alerts=spec.alerts)
    assert [line.split(": ")[1] for line in rules.splitlines() if "- alert:" in line] == [
        "NodeDown",
        "GpuHot",
        "GpuLost",
        "DiskNearlyFull",
    ]
    assert "gpucluster_gpu_temperature_celsius > 80\n" in rules
    assert "< 0.15\n" in rules
    assert "{{ $labels.node }} GPU {{ $labels.gpu }} at {{ $value }} °C" in rules  # for Prometheus, not Jinja


def test_alerts_go_to_the_addresses_in_group_data_through_alertmanager_on_the_cluster_address(key):
    alerts = {
        "enabled": True,
        "email_to": "lab@example.org",
        "email_from": "gpucluster@example.org",
        "smarthost": "mail.example.org:25",
        "webhook_url": "http://chat.example.org/hook",
    }
    spec = build(key, alerts=alerts)
    config = render("alertmanager.yml.j2", alerts=spec.alerts)
    for line in (
        'smtp_smarthost: "mail.example.org:25"',
        '- to: "lab@example.org"',
        '- url: "http://chat.example.org/hook"',
    ):
        assert line in config
    args = render("prometheus-alertmanager.j2", spec=spec, alerts=spec.alerts)
    assert "--web.listen-address=10.20.0.10:9093 --cluster.listen-address=" in args
    prometheus = render("prometheus.yml.j2", spec=spec, metrics=spec.metrics, rules="/r.yml")
    assert '- targets: ["10.20.0.10:9093"]' in prometheus
    webhook_only = build(key, alerts={"enabled": True, "webhook_url": "http://chat.example.org/hook"})
    assert "email_configs" not in render("alertmanager.yml.j2", alerts=webhook_only.alerts)


@pytest.mark.parametrize(
    ("alerts", "message"),
    [
        ({"enabled": True}, "nowhere to send them"),
        ({"email_to": "lab@example.org"}, "needs email_to, email_from and smarthost"),
        ({"enabled": True, "webhook_url": "chat.example.org"}, "webhook_url"),
    ],
)
def test_alerts_that_cannot_be_sent_are_refused(key, alerts, message):
    with pytest.raises(SpecError, match=message):
        build(key, alerts=alerts)


def test_alerts_need_metrics(key):
    with pytest.raises(SpecError, match="alerts: they come from Prometheus"):
        build(key, metrics={"enabled": False}, alerts={"enabled": True, "webhook_url": "http://x.example/h"})
